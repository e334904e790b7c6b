//! The procedure tables of a generated program version, written from one
//! row per procedure.
//!
//! A version's module holds [`procedure_enum!`](crate::rt::procedure_enum)
//! (the `Procedure` enum), the static `PROCEDURES` table built with
//! [`ProcedureInfo`](crate::rt::ProcedureInfo)'s `const` constructors,
//! [`procedures!`](crate::rt::procedures) in its `procs` module (one marker
//! type per procedure) and [`dispatch!`](crate::rt::dispatch) for the
//! `Call`, `Reply` and `Message` enums. The generator writes the rows; the
//! items and impls are written here, once.
//!
//! Names the macros use without taking them as input (`Procedure`,
//! `PROCEDURES`, `procs`) are the generated module's own, resolved where
//! the macro is invoked.

/// The `Procedure` enum of a version: one variant per row
/// (`Variant = number @ index "C_NAME",`, in table order), with `ALL`,
/// `info()` (the row of `PROCEDURES` at `index`) and `TryFrom<u32>`.
#[macro_export]
#[doc(hidden)]
macro_rules! __xdr_procedure_enum {
    ($count:literal; $($variant:ident = $number:literal @ $index:literal $name:literal,)*) => {
        /// The procedures, by number.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u32)]
        pub enum Procedure {
            $(
                #[doc = ::std::concat!("`", $name, "`")]
                $variant = $number,
            )*
        }

        impl Procedure {
            /// Every procedure, in table order.
            pub const ALL: [Procedure; $count] = [$(Self::$variant,)*];

            /// This procedure's row of [`PROCEDURES`].
            pub fn info(self) -> &'static $crate::rt::ProcedureInfo {
                match self {
                    $(Self::$variant => &PROCEDURES[$index],)*
                }
            }
        }

        impl ::std::convert::TryFrom<u32> for Procedure {
            type Error = u32;
            fn try_from(n: u32) -> ::std::result::Result<Self, u32> {
                match n {
                    $($number => ::std::result::Result::Ok(Self::$variant),)*
                    other => ::std::result::Result::Err(other),
                }
            }
        }
    };
}

/// One marker type per procedure, implementing
/// [`RemoteProcedure`](crate::rt::RemoteProcedure). The header gives the
/// program and version numbers; each row is
/// `Marker = number @ index "C_NAME": Args => Ret;`, after the procedure's
/// doc comment, where `Args` and `Ret` may be followed by `as Codec` when
/// their wire form is not the type's own (`Plain<T>`).
#[macro_export]
#[doc(hidden)]
macro_rules! __xdr_procedures {
    (
        $program:literal, $version:literal;
        $(
            $(#[$attr:meta])*
            $marker:ident = $number:literal @ $index:literal $name:literal:
                $args:ty $(as $args_codec:ty)? => $ret:ty $(as $ret_codec:ty)?;
        )*
    ) => {
        $(
            #[doc = ::std::concat!(
                "Procedure `", $name, "` (", ::std::stringify!($number), ")."
            )]
            $(#[$attr])*
            #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
            pub struct $marker;

            impl $crate::rt::RemoteProcedure for $marker {
                const PROGRAM: u32 = $program;
                const VERSION: u32 = $version;
                const NUMBER: u32 = $number;
                const INFO: &'static $crate::rt::ProcedureInfo = &super::PROCEDURES[$index];
                type Args = $args;
                type ArgsCodec = $crate::rt::procedures!(@codec $args $(as $args_codec)?);
                type Ret = $ret;
                type RetCodec = $crate::rt::procedures!(@codec $ret $(as $ret_codec)?);
            }
        )*
    };
    (@codec $t:ty) => { $crate::rt::Plain<$t> };
    (@codec $t:ty as $codec:ty) => { $codec };
}

/// A dispatch enum: one variant per procedure listed, holding the
/// procedure's `Args` (for `Call` and `Message`) or `Ret` (for `Reply`),
/// with `procedure()`, `decode(procedure, body)` and `Encode`. The header is
/// `Name: Args / ArgsCodec` (or `Ret / RetCodec`) after the enum's doc
/// comment; two headers (`Call` then `Reply`) make both enums from the one
/// list. With `, callback_id` in the header, the enum also gets
/// `callback_id()`, returning the field named after a variant's `.` (for
/// messages that carry libvirt's `callbackID` first).
#[macro_export]
#[doc(hidden)]
macro_rules! __xdr_dispatch {
    (
        $(#[$call_attr:meta])*
        $call:ident: $args:ident / $args_codec:ident;
        $(#[$reply_attr:meta])*
        $reply:ident: $ret:ident / $ret_codec:ident;
        $($variant:ident,)*
    ) => {
        $crate::rt::dispatch!($(#[$call_attr])* $call: $args / $args_codec; $($variant,)*);
        $crate::rt::dispatch!($(#[$reply_attr])* $reply: $ret / $ret_codec; $($variant,)*);
    };
    (
        $(#[$attr:meta])*
        $name:ident: $value:ident / $codec:ident $(, $callback_id:ident)?;
        $($variant:ident $(.$id_field:ident)?,)*
    ) => {
        $(#[$attr])*
        #[derive(Debug, Clone, PartialEq)]
        pub enum $name {
            $($variant(<procs::$variant as $crate::rt::RemoteProcedure>::$value),)*
        }

        impl $name {
            /// The procedure this value belongs to.
            pub fn procedure(&self) -> Procedure {
                match *self {
                    $(Self::$variant(_) => Procedure::$variant,)*
                }
            }

            /// Decodes the body of a frame for `procedure`; `None` when
            /// the procedure has no such body (e.g. a message number
            /// given to `Call`). The body must be used up exactly.
            #[allow(unreachable_patterns, unused_variables)]
            pub fn decode(
                procedure: Procedure,
                body: &[u8],
            ) -> ::std::result::Result<::std::option::Option<Self>, $crate::rt::Error> {
                match procedure {
                    $(
                        Procedure::$variant => $crate::rt::decode_all::<
                            <procs::$variant as $crate::rt::RemoteProcedure>::$codec,
                        >(body)
                        .map(|x| ::std::option::Option::Some(Self::$variant(x))),
                    )*
                    _ => ::std::result::Result::Ok(::std::option::Option::None),
                }
            }
        }

        $crate::rt::dispatch!(@callback_id [$($callback_id)?] $name; $($variant $(.$id_field)?,)*);

        impl $crate::rt::Encode for $name {
            #[allow(unused_variables)]
            fn encode(
                &self,
                w: &mut $crate::rt::Writer<'_>,
            ) -> ::std::result::Result<(), $crate::rt::Error> {
                match *self {
                    $(
                        Self::$variant(ref x) => <
                            <procs::$variant as $crate::rt::RemoteProcedure>::$codec
                            as $crate::rt::Codec
                        >::encode(x, w),
                    )*
                }
            }
            fn encoded_len(&self) -> usize {
                match *self {
                    $(
                        Self::$variant(ref x) => <
                            <procs::$variant as $crate::rt::RemoteProcedure>::$codec
                            as $crate::rt::Codec
                        >::len(x),
                    )*
                }
            }
        }
    };
    (@callback_id [] $($rest:tt)*) => {};
    (@callback_id [$callback_id:ident] $name:ident; $($variant:ident $(.$id_field:ident)?,)*) => {
        impl $name {
            /// The callback id of an event sent to a registered callback
            /// (libvirt's `callbackID`), so a client can route it.
            #[allow(unreachable_patterns)]
            pub fn $callback_id(&self) -> ::std::option::Option<i32> {
                match *self {
                    $($(Self::$variant(ref m) => ::std::option::Option::Some(m.$id_field),)?)*
                    _ => ::std::option::Option::None,
                }
            }
        }
    };
}

pub use crate::__xdr_dispatch as dispatch;
pub use crate::__xdr_procedure_enum as procedure_enum;
pub use crate::__xdr_procedures as procedures;
