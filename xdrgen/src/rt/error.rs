//! Encoding and decoding errors: what went wrong, at which byte, in which
//! field.

use std::fmt;

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input ended before the value did.
    UnexpectedEnd {
        /// Bytes the value needed.
        needed: usize,
        /// Bytes that were left.
        remaining: usize,
    },
    /// A variable-length item is longer than its declared bound.
    BoundExceeded {
        /// Its length (elements, or bytes for strings and opaque data).
        len: usize,
        /// The bound.
        max: u32,
    },
    /// A fixed-length item has the wrong length (encoding only).
    LengthMismatch {
        /// Its length.
        len: usize,
        /// The declared length.
        expected: usize,
    },
    /// A `bool` that is neither 0 nor 1.
    InvalidBool(u32),
    /// A value the enum does not declare.
    UnknownEnumValue(i32),
    /// A union discriminant with no arm (and no `default`), or a kept
    /// discriminant that does not belong to the arm it is stored in.
    UnknownDiscriminant(i64),
    /// A `char` or `short` whose 32-bit encoding is out of its range.
    OutOfRange(i64),
    /// A padding byte that is not zero.
    NonZeroPadding,
    /// A `string` that is not UTF-8.
    InvalidUtf8,
    /// Bytes left after a complete value ([`from_bytes`](super::from_bytes)).
    TrailingBytes(usize),
    /// Values of a recursive type nested deeper than the reader allows.
    TooDeep(u32),
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::UnexpectedEnd { needed, remaining } => {
                write!(
                    f,
                    "unexpected end of input: needed {needed} bytes, {remaining} left"
                )
            }
            ErrorKind::BoundExceeded { len, max } => {
                write!(f, "length {len} exceeds the bound of {max}")
            }
            ErrorKind::LengthMismatch { len, expected } => {
                write!(f, "length {len} differs from the fixed length {expected}")
            }
            ErrorKind::InvalidBool(v) => write!(f, "invalid bool value {v}"),
            ErrorKind::UnknownEnumValue(v) => write!(f, "unknown enum value {v}"),
            ErrorKind::UnknownDiscriminant(v) => write!(f, "unknown union discriminant {v}"),
            ErrorKind::OutOfRange(v) => write!(f, "value {v} is out of the type's range"),
            ErrorKind::NonZeroPadding => f.write_str("non-zero padding"),
            ErrorKind::InvalidUtf8 => f.write_str("string is not valid UTF-8"),
            ErrorKind::TrailingBytes(n) => write!(f, "{n} trailing bytes after the value"),
            ErrorKind::TooDeep(max) => write!(f, "recursive value nested deeper than {max} levels"),
        }
    }
}

/// One step of the path to the failing value.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Field {
        ty: &'static str,
        field: &'static str,
    },
    Index(usize),
}

/// An encoding or decoding error.
///
/// Boxed so that `Result<T, Error>` stays one pointer wide on the hot path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(Box<ErrorInner>);

#[derive(Debug, Clone, PartialEq, Eq)]
struct ErrorInner {
    kind: ErrorKind,
    offset: usize,
    /// Innermost step first (steps are added as the error travels out).
    path: Vec<Step>,
}

impl Error {
    /// An error at byte `offset`.
    #[cold]
    pub fn new(kind: ErrorKind, offset: usize) -> Self {
        Error(Box::new(ErrorInner {
            kind,
            offset,
            path: Vec::new(),
        }))
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.0.kind
    }

    /// The byte offset in the input (decoding) or output (encoding) where it
    /// went wrong.
    pub fn offset(&self) -> usize {
        self.0.offset
    }

    /// The path to the failing value, e.g.
    /// `remote_domain_get_info_ret.memory` or `list.items[3].name`; empty
    /// when the failing value is the top-level one.
    pub fn path(&self) -> String {
        let mut out = String::new();
        for step in self.0.path.iter().rev() {
            match step {
                Step::Field { ty, field } => {
                    if out.is_empty() {
                        out.push_str(ty);
                    }
                    out.push('.');
                    out.push_str(field);
                }
                Step::Index(i) => {
                    out.push_str(&format!("[{i}]"));
                }
            }
        }
        out
    }

    /// Records that the error happened in `field` of type `ty`.
    #[cold]
    pub fn in_field(mut self, ty: &'static str, field: &'static str) -> Self {
        self.0.path.push(Step::Field { ty, field });
        self
    }

    /// Records that the error happened in element `index` of an array.
    #[cold]
    pub fn at_index(mut self, index: usize) -> Self {
        self.0.path.push(Step::Index(index));
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path();
        if path.is_empty() {
            write!(f, "{} at byte {}", self.0.kind, self.0.offset)
        } else {
            write!(f, "{path}: {} at byte {}", self.0.kind, self.0.offset)
        }
    }
}

impl std::error::Error for Error {}

/// Adds a field step to the error of `result`. Generated code calls this
/// for every field, so a failure says where it happened.
#[inline]
pub fn field<T>(
    result: Result<T, Error>,
    ty: &'static str,
    field: &'static str,
) -> Result<T, Error> {
    match result {
        Ok(v) => Ok(v),
        Err(e) => Err(e.in_field(ty, field)),
    }
}
