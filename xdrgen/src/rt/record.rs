//! The codecs of generated structs and enums.
//!
//! An XDR struct is generated as a plain Rust struct followed by one
//! [`record!`](crate::rt::record) invocation listing each field with its
//! wire form, one per line; an enum as one
//! [`enumeration!`](crate::rt::enumeration) listing its members. The impls
//! are written here, once, so the generated file stays a fraction of the
//! size (and of the time to generate) it would be with every impl spelled
//! out.

/// Implements [`Encode`](crate::rt::Encode) and
/// [`Decode`](crate::rt::Decode) for a struct whose fields travel in the
/// order listed, each through its codec. The header names the struct and
/// its XDR name (errors name the XDR struct and field); `, recursive` marks
/// a struct on a cycle, whose decoding counts against the reader's depth
/// limit.
///
/// ```
/// // struct point { int x; string label<8>; };
/// #[derive(Debug, Clone, PartialEq)]
/// pub struct Point {
///     pub x: i32,
///     pub label: String,
/// }
/// xdrgen::rt::record! {
///     Point = "point";
///     x: xdrgen::rt::Plain<i32> = "x";
///     label: xdrgen::rt::Str<8> = "label";
/// }
///
/// let p = Point { x: -1, label: "ab".into() };
/// let bytes = xdrgen::rt::to_bytes(&p).unwrap();
/// assert_eq!(bytes, b"\xff\xff\xff\xff\0\0\0\x02ab\0\0");
/// assert_eq!(xdrgen::rt::from_bytes::<Point>(&bytes).unwrap(), p);
/// let long = Point { x: 0, label: "123456789".into() };
/// assert!(xdrgen::rt::to_bytes(&long).unwrap_err().to_string().contains("point.label"));
/// ```
#[macro_export]
#[doc(hidden)]
macro_rules! __xdr_record {
    ($name:ident = $xdr:literal $(, $recursive:ident)?; $($field:ident: $codec:ty = $xdr_field:literal;)*) => {
        impl $crate::rt::Encode for $name {
            const FIXED_LEN: ::std::option::Option<usize> =
                $crate::rt::sum_fixed(&[$(<$codec as $crate::rt::Codec>::FIXED_LEN),*]);
            #[allow(unused_variables)]
            fn encode(
                &self,
                w: &mut $crate::rt::Writer<'_>,
            ) -> ::std::result::Result<(), $crate::rt::Error> {
                $(
                    $crate::rt::field(
                        <$codec as $crate::rt::Codec>::encode(&self.$field, w),
                        $xdr,
                        $xdr_field,
                    )?;
                )*
                ::std::result::Result::Ok(())
            }
            fn encoded_len(&self) -> usize {
                0 $(+ <$codec as $crate::rt::Codec>::len(&self.$field))*
            }
        }

        impl $crate::rt::Decode for $name {
            const MIN_LEN: usize = 0 $(+ <$codec as $crate::rt::Codec>::MIN_LEN)*;
            #[allow(unused_variables)]
            fn decode(
                r: &mut $crate::rt::Reader<'_>,
            ) -> ::std::result::Result<Self, $crate::rt::Error> {
                $crate::rt::record!(@guard [$($recursive)?] r, ::std::result::Result::Ok(Self {
                    $(
                        $field: $crate::rt::field(
                            <$codec as $crate::rt::Codec>::decode(r),
                            $xdr,
                            $xdr_field,
                        )?,
                    )*
                }))
            }
        }
    };
    (@guard [] $r:ident, $body:expr) => {
        $body
    };
    (@guard [recursive] $r:ident, $body:expr) => {
        $crate::rt::nested($r, |$r| $body)
    };
}

pub use crate::__xdr_record as record;

/// An XDR enum: the `#[repr(i32)]` Rust enum with one variant per row
/// (`Variant = value,` after its doc comment), `TryFrom<i32>` (the unknown
/// value as the error), and [`Encode`](crate::rt::Encode) /
/// [`Decode`](crate::rt::Decode) as a 4-byte integer, decoding refusing a
/// value no variant has. Attributes before the name (docs, derives) go on
/// the enum.
///
/// ```
/// // enum color { RED = 1, BLUE = -2 };
/// xdrgen::rt::enumeration! {
///     #[derive(Debug, Clone, Copy, PartialEq, Eq)]
///     Color;
///     /// The red one.
///     Red = 1,
///     Blue = -2,
/// }
///
/// assert_eq!(xdrgen::rt::to_bytes(&Color::Blue).unwrap(), b"\xff\xff\xff\xfe");
/// assert_eq!(xdrgen::rt::from_bytes::<Color>(b"\0\0\0\x01").unwrap(), Color::Red);
/// assert!(xdrgen::rt::from_bytes::<Color>(b"\0\0\0\x02").is_err());
/// assert_eq!(Color::try_from(7), Err(7));
/// ```
#[macro_export]
#[doc(hidden)]
macro_rules! __xdr_enumeration {
    ($(#[$attr:meta])* $name:ident; $($(#[$variant_attr:meta])* $variant:ident = $value:literal,)*) => {
        $(#[$attr])*
        #[repr(i32)]
        pub enum $name {
            $($(#[$variant_attr])* $variant = $value,)*
        }

        impl ::std::convert::TryFrom<i32> for $name {
            type Error = i32;
            fn try_from(v: i32) -> ::std::result::Result<Self, i32> {
                match v {
                    $($value => ::std::result::Result::Ok(Self::$variant),)*
                    other => ::std::result::Result::Err(other),
                }
            }
        }

        impl $crate::rt::Encode for $name {
            const FIXED_LEN: ::std::option::Option<usize> = ::std::option::Option::Some(4);
            fn encode(
                &self,
                w: &mut $crate::rt::Writer<'_>,
            ) -> ::std::result::Result<(), $crate::rt::Error> {
                $crate::rt::Encode::encode(&(*self as i32), w)
            }
            fn encoded_len(&self) -> usize {
                4
            }
        }

        impl $crate::rt::Decode for $name {
            const MIN_LEN: usize = 4;
            fn decode(
                r: &mut $crate::rt::Reader<'_>,
            ) -> ::std::result::Result<Self, $crate::rt::Error> {
                let at = r.position();
                let v = <i32 as $crate::rt::Decode>::decode(r)?;
                <Self as ::std::convert::TryFrom<i32>>::try_from(v).map_err(|v| {
                    $crate::rt::Error::new($crate::rt::ErrorKind::UnknownEnumValue(v), at)
                })
            }
        }
    };
}

pub use crate::__xdr_enumeration as enumeration;
