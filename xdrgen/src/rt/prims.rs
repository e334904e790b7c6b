//! Encode / Decode for Rust's primitive types as XDR's scalar types.
//!
//! `char`, `unsigned char`, `short` and `unsigned short` are `i8`, `u8`,
//! `i16`, `u16` in Rust but take 4 bytes on the wire, like rpcgen's
//! `xdr_char` and friends; decoding rejects a 32-bit value outside the
//! type's range.

use super::error::{Error, ErrorKind};
use super::io::{Reader, Writer};
use super::{Decode, Encode};

macro_rules! four_byte {
    ($($t:ty => $wire:ty),* $(,)?) => {$(
        impl Encode for $t {
            const FIXED_LEN: Option<usize> = Some(4);
            #[inline]
            fn encode(&self, w: &mut Writer<'_>) -> Result<(), Error> {
                w.word(<$wire>::from(*self).to_be_bytes());
                Ok(())
            }
            #[inline]
            fn encoded_len(&self) -> usize {
                4
            }
        }
        impl Decode for $t {
            const MIN_LEN: usize = 4;
            #[inline]
            fn decode(r: &mut Reader<'_>) -> Result<Self, Error> {
                let at = r.position();
                let v = <$wire>::from_be_bytes(r.word()?);
                <$t>::try_from(v).map_err(|_| Error::new(ErrorKind::OutOfRange(i64::from(v)), at))
            }
        }
    )*};
}

four_byte!(i32 => i32, u32 => u32, i16 => i32, u16 => u32, i8 => i32, u8 => u32);

macro_rules! eight_byte {
    ($($t:ty),*) => {$(
        impl Encode for $t {
            const FIXED_LEN: Option<usize> = Some(8);
            #[inline]
            fn encode(&self, w: &mut Writer<'_>) -> Result<(), Error> {
                let b = self.to_be_bytes();
                w.word([b[0], b[1], b[2], b[3]]);
                w.word([b[4], b[5], b[6], b[7]]);
                Ok(())
            }
            #[inline]
            fn encoded_len(&self) -> usize {
                8
            }
        }
        impl Decode for $t {
            const MIN_LEN: usize = 8;
            #[inline]
            fn decode(r: &mut Reader<'_>) -> Result<Self, Error> {
                let b = r.take(8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                Ok(<$t>::from_be_bytes(a))
            }
        }
    )*};
}

eight_byte!(i64, u64, f64);

impl Encode for f32 {
    const FIXED_LEN: Option<usize> = Some(4);
    #[inline]
    fn encode(&self, w: &mut Writer<'_>) -> Result<(), Error> {
        w.word(self.to_be_bytes());
        Ok(())
    }
    #[inline]
    fn encoded_len(&self) -> usize {
        4
    }
}

impl Decode for f32 {
    const MIN_LEN: usize = 4;
    #[inline]
    fn decode(r: &mut Reader<'_>) -> Result<Self, Error> {
        r.word().map(f32::from_be_bytes)
    }
}

impl Encode for bool {
    const FIXED_LEN: Option<usize> = Some(4);
    #[inline]
    fn encode(&self, w: &mut Writer<'_>) -> Result<(), Error> {
        w.u32(u32::from(*self));
        Ok(())
    }
    #[inline]
    fn encoded_len(&self) -> usize {
        4
    }
}

impl Decode for bool {
    const MIN_LEN: usize = 4;
    #[inline]
    fn decode(r: &mut Reader<'_>) -> Result<Self, Error> {
        let at = r.position();
        match r.u32()? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(Error::new(ErrorKind::InvalidBool(v), at)),
        }
    }
}

/// An IEEE 754 quadruple-precision value, kept as its 16 big-endian bytes
/// (Rust has no `f128` on stable).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Quadruple(pub [u8; 16]);

impl Encode for Quadruple {
    const FIXED_LEN: Option<usize> = Some(16);
    #[inline]
    fn encode(&self, w: &mut Writer<'_>) -> Result<(), Error> {
        w.opaque(&self.0);
        Ok(())
    }
    #[inline]
    fn encoded_len(&self) -> usize {
        16
    }
}

impl Decode for Quadruple {
    const MIN_LEN: usize = 16;
    #[inline]
    fn decode(r: &mut Reader<'_>) -> Result<Self, Error> {
        let mut a = [0u8; 16];
        a.copy_from_slice(r.take(16)?);
        Ok(Quadruple(a))
    }
}

impl<T: Encode> Encode for Box<T> {
    const FIXED_LEN: Option<usize> = T::FIXED_LEN;
    #[inline]
    fn encode(&self, w: &mut Writer<'_>) -> Result<(), Error> {
        (**self).encode(w)
    }
    #[inline]
    fn encoded_len(&self) -> usize {
        (**self).encoded_len()
    }
}

impl<T: Decode> Decode for Box<T> {
    const MIN_LEN: usize = T::MIN_LEN;
    #[inline]
    fn decode(r: &mut Reader<'_>) -> Result<Self, Error> {
        T::decode(r).map(Box::new)
    }
}
