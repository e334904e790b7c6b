//! The runtime that generated code calls.
//!
//! Generated types implement [`Encode`] and [`Decode`]. Fields whose wire
//! form is more than their Rust type says (a bound, a fixed length, an
//! optional, a string) are encoded through a [`Codec`]: a zero-sized type
//! such as `VarArray<Str<64>, 16>` that names the wire form, so every
//! distinct form is compiled once and shared by all the fields that use it.
//!
//! A typedef is a newtype over what it stands for, with its own `Encode`
//! and `Decode` through its wire form (see [`typedef!`]), so its bound holds
//! for a value on its own as well as in a field.
//!
//! Decoding never trusts a length: a count is checked against its bound and
//! against the bytes left (each element takes at least
//! [`Decode::MIN_LEN`] bytes) before anything is allocated. Bounds are
//! checked when encoding too, so a value a peer would reject is an error
//! here instead.
//!
//! ```
//! use xdrgen::rt::{self, Codec, Str, VarArray};
//!
//! // string names<2><8>: at most 2 strings of at most 8 bytes.
//! type Names = VarArray<Str<8>, 2>;
//! let names = vec!["ab".to_owned(), "c".to_owned()];
//! let mut buf = Vec::new();
//! Names::encode(&names, &mut rt::Writer::new(&mut buf)).unwrap();
//! assert_eq!(buf, [0, 0, 0, 2, 0, 0, 0, 2, b'a', b'b', 0, 0, 0, 0, 0, 1, b'c', 0, 0, 0]);
//! assert_eq!(Names::len(&names), buf.len());
//! let back = Names::decode(&mut rt::Reader::new(&buf)).unwrap();
//! assert_eq!(back, names);
//! ```

mod codec;
mod error;
mod io;
mod prims;
mod program;
mod record;
mod tables;
mod typedef;

pub use codec::*;
pub use error::{field, Error, ErrorKind};
pub use io::{padded, padding, Reader, Writer, DEFAULT_MAX_DEPTH};
pub use prims::Quadruple;
pub use program::*;
pub use record::{enumeration, record};
pub use tables::{dispatch, procedure_enum, procedures};
pub use typedef::typedef;

/// A value that can be written in XDR.
pub trait Encode {
    /// The encoded size when it is the same for every value.
    const FIXED_LEN: Option<usize> = None;

    /// Appends the encoding to `w`; fails when a bound is broken.
    fn encode(&self, w: &mut Writer<'_>) -> Result<(), Error>;

    /// The exact number of bytes [`Encode::encode`] writes.
    fn encoded_len(&self) -> usize;
}

/// A value that can be read from XDR.
pub trait Decode: Sized {
    /// The fewest bytes any value takes (used to reject impossible lengths
    /// before allocating).
    const MIN_LEN: usize;

    /// Reads one value.
    fn decode(r: &mut Reader<'_>) -> Result<Self, Error>;
}

/// Encodes `value` into a new vector of exactly the right size.
pub fn to_bytes<T: Encode + ?Sized>(value: &T) -> Result<Vec<u8>, Error> {
    let mut buf = Vec::with_capacity(value.encoded_len());
    value.encode(&mut Writer::new(&mut buf))?;
    Ok(buf)
}

/// Decodes one value that must use all of `bytes`.
pub fn from_bytes<T: Decode>(bytes: &[u8]) -> Result<T, Error> {
    let mut r = Reader::new(bytes);
    let v = T::decode(&mut r)?;
    r.finish()?;
    Ok(v)
}

/// Decodes one value of codec `C` that must use all of `bytes`.
pub fn decode_all<C: Codec>(bytes: &[u8]) -> Result<C::Value, Error> {
    let mut r = Reader::new(bytes);
    let v = C::decode(&mut r)?;
    r.finish()?;
    Ok(v)
}

/// Sum of fixed sizes; `None` when any part varies. For generated
/// `FIXED_LEN` constants.
pub const fn sum_fixed(parts: &[Option<usize>]) -> Option<usize> {
    let mut total = 0;
    let mut i = 0;
    while i < parts.len() {
        match parts[i] {
            Some(n) => total += n,
            None => return None,
        }
        i += 1;
    }
    Some(total)
}

/// Decodes with `decode` one nesting level deeper, so a value of a
/// recursive type counts against the reader's depth limit and hostile
/// input cannot exhaust the stack.
#[inline]
pub fn nested<T>(
    r: &mut Reader<'_>,
    decode: impl FnOnce(&mut Reader<'_>) -> Result<T, Error>,
) -> Result<T, Error> {
    r.enter()?;
    let result = decode(r);
    r.leave();
    result
}

/// Fails unless `discriminant` is one of `allowed`: a union variant that
/// keeps its discriminant may only hold one of its arm's labels.
#[inline]
pub fn check_discriminant(w: &Writer<'_>, discriminant: i64, allowed: &[i64]) -> Result<(), Error> {
    if allowed.contains(&discriminant) {
        Ok(())
    } else {
        Err(w.error(ErrorKind::UnknownDiscriminant(discriminant)))
    }
}

/// Fails if `discriminant` is one of `taken`: a union's `default` variant
/// may not hold a value that has an arm of its own.
#[inline]
pub fn check_default_discriminant(
    w: &Writer<'_>,
    discriminant: i64,
    taken: &[i64],
) -> Result<(), Error> {
    if taken.contains(&discriminant) {
        Err(w.error(ErrorKind::UnknownDiscriminant(discriminant)))
    } else {
        Ok(())
    }
}
