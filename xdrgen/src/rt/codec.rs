//! Wire forms as zero-sized types.
//!
//! A [`Codec`] names how a value of its [`Codec::Value`] type is written:
//! `Str<64>` is `string<64>` as a `String`, `Opt<Plain<Foo>>` is `Foo *`
//! as an `Option<Foo>`, `VarArray<Plain<u32>, 16>` is `unsigned int<16>`
//! as a `Vec<u32>`. Generated code calls `<C as Codec>::encode` etc. for
//! every field, so the bodies live here, once.

use std::marker::PhantomData;

use super::error::{Error, ErrorKind};
use super::io::{padded, Reader, Writer};
use super::{Decode, Encode};

/// How one wire form is encoded, measured and decoded.
pub trait Codec {
    /// The Rust type holding the value.
    type Value;
    /// The fewest bytes any value takes.
    const MIN_LEN: usize;
    /// The encoded size when it is the same for every value.
    const FIXED_LEN: Option<usize>;
    /// Appends the encoding of `v`.
    fn encode(v: &Self::Value, w: &mut Writer<'_>) -> Result<(), Error>;
    /// The exact encoded size of `v`.
    fn len(v: &Self::Value) -> usize;
    /// Reads one value.
    fn decode(r: &mut Reader<'_>) -> Result<Self::Value, Error>;
    /// Reads one value onto the heap. Fixed-size arrays and opaques build
    /// it there directly, so a spec-sized value never sits on the stack.
    #[inline]
    fn decode_boxed(r: &mut Reader<'_>) -> Result<Box<Self::Value>, Error> {
        Self::decode(r).map(Box::new)
    }
}

/// A type with its own [`Encode`] / [`Decode`] (scalars and generated
/// types).
pub struct Plain<T>(PhantomData<T>);

impl<T: Encode + Decode> Codec for Plain<T> {
    type Value = T;
    const MIN_LEN: usize = T::MIN_LEN;
    const FIXED_LEN: Option<usize> = T::FIXED_LEN;
    #[inline]
    fn encode(v: &T, w: &mut Writer<'_>) -> Result<(), Error> {
        v.encode(w)
    }
    #[inline]
    fn len(v: &T) -> usize {
        v.encoded_len()
    }
    #[inline]
    fn decode(r: &mut Reader<'_>) -> Result<T, Error> {
        T::decode(r)
    }
}

/// `string<MAX>` as a UTF-8 checked `String` (`MAX` = `u32::MAX` for `<>`).
pub struct Str<const MAX: u32>;

impl<const MAX: u32> Codec for Str<MAX> {
    type Value = String;
    const MIN_LEN: usize = 4;
    const FIXED_LEN: Option<usize> = None;
    #[inline]
    fn encode(v: &String, w: &mut Writer<'_>) -> Result<(), Error> {
        w.length(v.len(), MAX)?;
        w.opaque(v.as_bytes());
        Ok(())
    }
    #[inline]
    fn len(v: &String) -> usize {
        4 + padded(v.len())
    }
    #[inline]
    fn decode(r: &mut Reader<'_>) -> Result<String, Error> {
        let len = r.length(MAX, 1)?;
        let at = r.position();
        let bytes = r.opaque(len)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_owned()),
            Err(_) => Err(Error::new(ErrorKind::InvalidUtf8, at)),
        }
    }
}

/// `string<MAX>` as raw bytes (no UTF-8 check), for generators configured
/// to map strings to bytes.
pub struct StrBytes<const MAX: u32>;

/// `opaque<MAX>` as a `Vec<u8>`.
pub struct Opaque<const MAX: u32>;

macro_rules! byte_vector {
    ($($name:ident),*) => {$(
        impl<const MAX: u32> Codec for $name<MAX> {
            type Value = Vec<u8>;
            const MIN_LEN: usize = 4;
            const FIXED_LEN: Option<usize> = None;
            #[inline]
            fn encode(v: &Vec<u8>, w: &mut Writer<'_>) -> Result<(), Error> {
                w.length(v.len(), MAX)?;
                w.opaque(v);
                Ok(())
            }
            #[inline]
            fn len(v: &Vec<u8>) -> usize {
                4 + padded(v.len())
            }
            #[inline]
            fn decode(r: &mut Reader<'_>) -> Result<Vec<u8>, Error> {
                let len = r.length(MAX, 1)?;
                r.opaque(len).map(<[u8]>::to_vec)
            }
        }
    )*};
}

byte_vector!(StrBytes, Opaque);

/// `opaque[N]` as a `[u8; N]`.
pub struct FixedOpaque<const N: usize>;

impl<const N: usize> Codec for FixedOpaque<N> {
    type Value = [u8; N];
    const MIN_LEN: usize = padded(N);
    const FIXED_LEN: Option<usize> = Some(padded(N));
    #[inline]
    fn encode(v: &[u8; N], w: &mut Writer<'_>) -> Result<(), Error> {
        w.opaque(v);
        Ok(())
    }
    #[inline]
    fn len(_: &[u8; N]) -> usize {
        padded(N)
    }
    /// The input is checked first; the bytes are then copied once, into
    /// the value returned (by value, as the type is `[u8; N]`: large `N`
    /// belongs behind a [`Boxed`], which uses [`Codec::decode_boxed`]).
    #[inline]
    fn decode(r: &mut Reader<'_>) -> Result<[u8; N], Error> {
        let bytes = r.opaque(N)?;
        <[u8; N]>::try_from(bytes).map_err(|_| length_mismatch(r, bytes.len(), N))
    }
    fn decode_boxed(r: &mut Reader<'_>) -> Result<Box<[u8; N]>, Error> {
        let bytes = r.opaque(N)?;
        let heap: Box<[u8]> = bytes.into();
        heap.try_into()
            .map_err(|_| length_mismatch(r, bytes.len(), N))
    }
}

/// A fixed-size value that did not get its `expected` length (cannot
/// happen once the input was checked; an error rather than a panic).
#[cold]
fn length_mismatch(r: &Reader<'_>, len: usize, expected: usize) -> Error {
    r.error(ErrorKind::LengthMismatch { len, expected })
}

/// `T *` as an `Option`.
pub struct Opt<C>(PhantomData<C>);

impl<C: Codec> Codec for Opt<C> {
    type Value = Option<C::Value>;
    const MIN_LEN: usize = 4;
    const FIXED_LEN: Option<usize> = None;
    #[inline]
    fn encode(v: &Option<C::Value>, w: &mut Writer<'_>) -> Result<(), Error> {
        match v {
            None => {
                w.u32(0);
                Ok(())
            }
            Some(x) => {
                w.u32(1);
                C::encode(x, w)
            }
        }
    }
    #[inline]
    fn len(v: &Option<C::Value>) -> usize {
        4 + v.as_ref().map_or(0, C::len)
    }
    #[inline]
    fn decode(r: &mut Reader<'_>) -> Result<Option<C::Value>, Error> {
        if bool::decode(r)? {
            C::decode(r).map(Some)
        } else {
            Ok(None)
        }
    }
}

/// A value kept behind a `Box` (the element of [`OptBox`]).
pub struct Boxed<C>(PhantomData<C>);

impl<C: Codec> Codec for Boxed<C> {
    type Value = Box<C::Value>;
    const MIN_LEN: usize = C::MIN_LEN;
    const FIXED_LEN: Option<usize> = C::FIXED_LEN;
    #[inline]
    fn encode(v: &Box<C::Value>, w: &mut Writer<'_>) -> Result<(), Error> {
        C::encode(v, w)
    }
    #[inline]
    fn len(v: &Box<C::Value>) -> usize {
        C::len(v)
    }
    #[inline]
    fn decode(r: &mut Reader<'_>) -> Result<Box<C::Value>, Error> {
        C::decode_boxed(r)
    }
}

/// `T *` as an `Option<Box<T>>`, for types that refer to themselves.
pub type OptBox<C> = Opt<Boxed<C>>;

/// `T<MAX>` as a `Vec` (`MAX` = `u32::MAX` for `<>`).
pub struct VarArray<C, const MAX: u32>(PhantomData<C>);

impl<C: Codec, const MAX: u32> Codec for VarArray<C, MAX> {
    type Value = Vec<C::Value>;
    const MIN_LEN: usize = 4;
    const FIXED_LEN: Option<usize> = None;
    #[inline]
    fn encode(v: &Vec<C::Value>, w: &mut Writer<'_>) -> Result<(), Error> {
        w.length(v.len(), MAX)?;
        encode_elements::<C>(v, w)
    }
    #[inline]
    fn len(v: &Vec<C::Value>) -> usize {
        4 + elements_len::<C>(v)
    }
    fn decode(r: &mut Reader<'_>) -> Result<Vec<C::Value>, Error> {
        let len = r.length(MAX, C::MIN_LEN.max(1))?;
        let mut out = Vec::with_capacity(len);
        for i in 0..len {
            out.push(C::decode(r).map_err(|e| e.at_index(i))?);
        }
        Ok(out)
    }
}

/// `T[N]` as a `[T; N]`.
pub struct FixedArray<C, const N: usize>(PhantomData<C>);

impl<C: Codec, const N: usize> Codec for FixedArray<C, N> {
    type Value = [C::Value; N];
    const MIN_LEN: usize = C::MIN_LEN.saturating_mul(N);
    const FIXED_LEN: Option<usize> = match C::FIXED_LEN {
        Some(n) => Some(n * N),
        None => None,
    };
    #[inline]
    fn encode(v: &[C::Value; N], w: &mut Writer<'_>) -> Result<(), Error> {
        encode_elements::<C>(v, w)
    }
    #[inline]
    fn len(v: &[C::Value; N]) -> usize {
        elements_len::<C>(v)
    }
    fn decode(r: &mut Reader<'_>) -> Result<[C::Value; N], Error> {
        let out = decode_elements::<C>(r, N)?;
        // The vector has exactly N elements, so the conversion cannot fail.
        out.try_into()
            .map_err(|v: Vec<_>| length_mismatch(r, v.len(), N))
    }
    fn decode_boxed(r: &mut Reader<'_>) -> Result<Box<[C::Value; N]>, Error> {
        let out = decode_elements::<C>(r, N)?.into_boxed_slice();
        out.try_into()
            .map_err(|v: Box<[_]>| length_mismatch(r, v.len(), N))
    }
}

/// `n` elements into a vector, after checking the input can hold them.
fn decode_elements<C: Codec>(r: &mut Reader<'_>, n: usize) -> Result<Vec<C::Value>, Error> {
    let needed = C::MIN_LEN.saturating_mul(n);
    if needed > r.remaining() {
        return Err(r.error(ErrorKind::UnexpectedEnd {
            needed,
            remaining: r.remaining(),
        }));
    }
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        out.push(C::decode(r).map_err(|e| e.at_index(i))?);
    }
    Ok(out)
}

#[inline]
fn encode_elements<C: Codec>(v: &[C::Value], w: &mut Writer<'_>) -> Result<(), Error> {
    for (i, x) in v.iter().enumerate() {
        C::encode(x, w).map_err(|e| e.at_index(i))?;
    }
    Ok(())
}

#[inline]
fn elements_len<C: Codec>(v: &[C::Value]) -> usize {
    match C::FIXED_LEN {
        Some(n) => n * v.len(),
        None => v.iter().map(C::len).sum(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BIG: usize = 8 << 20;

    /// Runs `f` on a thread whose stack is far smaller than the values.
    fn on_small_stack(f: impl FnOnce() + Send + 'static) {
        std::thread::Builder::new()
            .stack_size(256 << 10)
            .spawn(f)
            .unwrap()
            .join()
            .unwrap();
    }

    #[test]
    fn large_fixed_opaques_decode_on_the_heap() {
        let input: Vec<u8> = (0..BIG).map(|i| i as u8).collect();
        on_small_stack(move || {
            let mut r = Reader::new(&input);
            let v = <Boxed<FixedOpaque<BIG>>>::decode(&mut r).unwrap();
            assert_eq!(v[..], input[..]);
            assert_eq!(r.remaining(), 0);
            // Too short: refused before anything is built.
            let mut r = Reader::new(&input[..BIG - 1]);
            let e = <Boxed<FixedOpaque<BIG>>>::decode(&mut r).unwrap_err();
            assert!(matches!(e.kind(), ErrorKind::UnexpectedEnd { .. }), "{e}");
        });
    }

    #[test]
    fn large_fixed_arrays_decode_on_the_heap() {
        const N: usize = BIG / 4;
        let input: Vec<u8> = (0..N as u32).flat_map(u32::to_be_bytes).collect();
        on_small_stack(move || {
            let mut r = Reader::new(&input);
            let v = <Boxed<FixedArray<Plain<u32>, N>>>::decode(&mut r).unwrap();
            assert!(v.iter().enumerate().all(|(i, &x)| x == i as u32));
            let mut r = Reader::new(&input[..4]);
            let e = <Boxed<FixedArray<Plain<u32>, N>>>::decode(&mut r).unwrap_err();
            assert!(matches!(e.kind(), ErrorKind::UnexpectedEnd { .. }), "{e}");
        });
    }

    #[test]
    fn fixed_opaques_by_value_check_length_and_padding() {
        let mut r = Reader::new(&[1, 2, 3, 0, 9]);
        assert_eq!(<FixedOpaque<3>>::decode(&mut r).unwrap(), [1, 2, 3]);
        assert_eq!(r.remaining(), 1);
        let mut r = Reader::new(&[1, 2, 3, 4]);
        let e = <FixedOpaque<3>>::decode(&mut r).unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::NonZeroPadding), "{e}");
        let mut r = Reader::new(&[1, 2]);
        let e = <FixedOpaque<3>>::decode(&mut r).unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::UnexpectedEnd { .. }), "{e}");
        let mut r = Reader::new(&[0; 16]);
        assert_eq!(*<Boxed<FixedOpaque<16>>>::decode(&mut r).unwrap(), [0; 16]);
    }
}
