//! The impls of a generated typedef newtype.
//!
//! Every XDR typedef is generated as `pub struct Name(pub Inner);` followed
//! by one [`typedef!`](crate::rt::typedef) line naming its wire form, so the
//! generated file stays short and the impls are written here, once.

/// Implements, for the newtype `$name($inner)` encoded as codec `$codec`:
/// [`Encode`](crate::rt::Encode) and [`Decode`](crate::rt::Decode) through
/// the codec (so the typedef's bounds hold for a value on its own),
/// `Deref` / `DerefMut` to the inner value, `From` both ways and
/// `into_inner()`. With the trailing `string`, for a newtype over `String`:
/// also `From<&str>`, comparison with `str` and `Display`.
///
/// ```
/// // typedef string name<4>;
/// #[derive(Debug, Clone, PartialEq, Eq, Hash)]
/// pub struct Name(pub String);
/// xdrgen::rt::typedef!(Name, String, xdrgen::rt::Str<4>, string);
///
/// let n = Name::from("abcd");
/// assert_eq!(n.len(), 4);
/// assert!(n == "abcd");
/// assert_eq!(xdrgen::rt::to_bytes(&n).unwrap(), b"\0\0\0\x04abcd");
/// assert!(xdrgen::rt::to_bytes(&Name::from("abcde")).is_err());
/// ```
#[macro_export]
#[doc(hidden)]
macro_rules! __xdr_typedef {
    ($name:ident, $inner:ty, $codec:ty) => {
        impl $crate::rt::Encode for $name {
            const FIXED_LEN: ::std::option::Option<usize> =
                <$codec as $crate::rt::Codec>::FIXED_LEN;
            #[inline]
            fn encode(
                &self,
                w: &mut $crate::rt::Writer<'_>,
            ) -> ::std::result::Result<(), $crate::rt::Error> {
                <$codec as $crate::rt::Codec>::encode(&self.0, w)
            }
            #[inline]
            fn encoded_len(&self) -> usize {
                <$codec as $crate::rt::Codec>::len(&self.0)
            }
        }

        impl $crate::rt::Decode for $name {
            const MIN_LEN: usize = <$codec as $crate::rt::Codec>::MIN_LEN;
            #[inline]
            fn decode(
                r: &mut $crate::rt::Reader<'_>,
            ) -> ::std::result::Result<Self, $crate::rt::Error> {
                <$codec as $crate::rt::Codec>::decode(r).map($name)
            }
        }

        impl ::std::ops::Deref for $name {
            type Target = $inner;
            #[inline]
            fn deref(&self) -> &$inner {
                &self.0
            }
        }

        impl ::std::ops::DerefMut for $name {
            #[inline]
            fn deref_mut(&mut self) -> &mut $inner {
                &mut self.0
            }
        }

        impl ::std::convert::From<$inner> for $name {
            #[inline]
            fn from(v: $inner) -> Self {
                $name(v)
            }
        }

        impl ::std::convert::From<$name> for $inner {
            #[inline]
            fn from(v: $name) -> Self {
                v.0
            }
        }

        impl $name {
            /// The value this typedef wraps.
            #[inline]
            pub fn into_inner(self) -> $inner {
                self.0
            }
        }
    };
    ($name:ident, $inner:ty, $codec:ty, string) => {
        $crate::rt::typedef!($name, $inner, $codec);

        impl ::std::convert::From<&str> for $name {
            #[inline]
            fn from(v: &str) -> Self {
                $name(::std::borrow::ToOwned::to_owned(v))
            }
        }

        impl ::std::cmp::PartialEq<str> for $name {
            #[inline]
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl ::std::cmp::PartialEq<&str> for $name {
            #[inline]
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                ::std::fmt::Display::fmt(&self.0, f)
            }
        }
    };
}

pub use crate::__xdr_typedef as typedef;
