//! The byte reader and writer that encoders and decoders work on.

use super::error::{Error, ErrorKind};

/// How deeply values of recursive types may nest by default (see
/// [`Reader::with_max_depth`]).
pub const DEFAULT_MAX_DEPTH: u32 = 1000;

/// Reads XDR items from a byte slice, tracking the offset for errors.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    depth: u32,
    max_depth: u32,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader {
            buf,
            pos: 0,
            depth: 0,
            max_depth: DEFAULT_MAX_DEPTH,
        }
    }

    /// A reader that accepts values of recursive types (such as linked
    /// lists) nested up to `max_depth` deep. Each level uses stack, so the
    /// limit protects the decoding thread from hostile input.
    pub fn with_max_depth(buf: &'a [u8], max_depth: u32) -> Self {
        Reader {
            max_depth,
            ..Reader::new(buf)
        }
    }

    /// Enters one level of a recursive type; fails beyond the depth limit.
    #[inline]
    pub fn enter(&mut self) -> Result<(), Error> {
        if self.depth >= self.max_depth {
            return Err(self.error(ErrorKind::TooDeep(self.max_depth)));
        }
        self.depth += 1;
        Ok(())
    }

    /// Leaves a level entered with [`Reader::enter`].
    #[inline]
    pub fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The bytes not read yet.
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// An error of `kind` at the current position.
    #[cold]
    pub fn error(&self, kind: ErrorKind) -> Error {
        Error::new(kind, self.pos)
    }

    /// Takes the next `n` bytes.
    #[inline]
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        if n > self.remaining() {
            return Err(self.error(ErrorKind::UnexpectedEnd {
                needed: n,
                remaining: self.remaining(),
            }));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// Takes 4 bytes.
    #[inline]
    pub fn word(&mut self) -> Result<[u8; 4], Error> {
        match self.buf.get(self.pos..self.pos + 4) {
            Some(&[a, b, c, d]) => {
                self.pos += 4;
                Ok([a, b, c, d])
            }
            _ => Err(self.error(ErrorKind::UnexpectedEnd {
                needed: 4,
                remaining: self.remaining(),
            })),
        }
    }

    /// Reads a big-endian `u32`.
    #[inline]
    pub fn u32(&mut self) -> Result<u32, Error> {
        self.word().map(u32::from_be_bytes)
    }

    /// Reads `len` bytes of opaque data and the zero padding after them.
    #[inline]
    pub fn opaque(&mut self, len: usize) -> Result<&'a [u8], Error> {
        let pad = padding(len);
        let total = len.saturating_add(pad);
        if total > self.remaining() {
            return Err(self.error(ErrorKind::UnexpectedEnd {
                needed: total,
                remaining: self.remaining(),
            }));
        }
        let data = &self.buf[self.pos..self.pos + len];
        let padding_bytes = &self.buf[self.pos + len..self.pos + total];
        if padding_bytes.iter().any(|&b| b != 0) {
            return Err(Error::new(ErrorKind::NonZeroPadding, self.pos + len));
        }
        self.pos += total;
        Ok(data)
    }

    /// Reads a length prefix and checks it against `max` and against what
    /// the input can hold when each element takes at least `min_elem`
    /// bytes, before anything is allocated.
    #[inline]
    pub fn length(&mut self, max: u32, min_elem: usize) -> Result<usize, Error> {
        let at = self.pos;
        let len = self.u32()?;
        if len > max {
            return Err(Error::new(
                ErrorKind::BoundExceeded {
                    len: len as usize,
                    max,
                },
                at,
            ));
        }
        let len = len as usize;
        let needed = len.saturating_mul(min_elem);
        if needed > self.remaining() {
            return Err(self.error(ErrorKind::UnexpectedEnd {
                needed,
                remaining: self.remaining(),
            }));
        }
        Ok(len)
    }

    /// Fails unless every byte was read.
    pub fn finish(&self) -> Result<(), Error> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(self.error(ErrorKind::TrailingBytes(n))),
        }
    }
}

/// Appends XDR items to a byte vector, tracking the offset for errors.
#[derive(Debug)]
pub struct Writer<'a> {
    buf: &'a mut Vec<u8>,
    start: usize,
}

impl<'a> Writer<'a> {
    /// A writer appending to `buf`; offsets in errors count from the
    /// current end of `buf`.
    pub fn new(buf: &'a mut Vec<u8>) -> Self {
        let start = buf.len();
        Writer { buf, start }
    }

    /// Bytes written so far by this writer.
    pub fn position(&self) -> usize {
        self.buf.len() - self.start
    }

    /// An error of `kind` at the current position.
    #[cold]
    pub fn error(&self, kind: ErrorKind) -> Error {
        Error::new(kind, self.position())
    }

    /// Appends 4 bytes.
    #[inline]
    pub fn word(&mut self, w: [u8; 4]) {
        self.buf.extend_from_slice(&w);
    }

    /// Appends a big-endian `u32`.
    #[inline]
    pub fn u32(&mut self, v: u32) {
        self.word(v.to_be_bytes());
    }

    /// Appends raw bytes and zero padding to a multiple of 4.
    #[inline]
    pub fn opaque(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
        self.buf.extend_from_slice(&[0; 3][..padding(data.len())]);
    }

    /// Appends a length prefix after checking it against `max`.
    #[inline]
    pub fn length(&mut self, len: usize, max: u32) -> Result<(), Error> {
        match u32::try_from(len) {
            Ok(l) if l <= max => {
                self.u32(l);
                Ok(())
            }
            _ => Err(self.error(ErrorKind::BoundExceeded { len, max })),
        }
    }
}

/// Padding after `len` bytes of opaque data.
#[inline]
pub const fn padding(len: usize) -> usize {
    (4 - len % 4) % 4
}

/// `len` bytes of opaque data with their padding.
#[inline]
pub const fn padded(len: usize) -> usize {
    len + padding(len)
}
