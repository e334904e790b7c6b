//! Names that `.x` files take from C headers: libvirt's constants and
//! rpcgen's C types.
//!
//! # libvirt
//!
//! libvirt's `.x` files use a few constants that are defined in libvirt's
//! public C headers, not in the files. Their values are part of libvirt's
//! stable ABI, so xdrgen knows them as a preset: a name from this table is
//! used only when no loaded file and no explicit definition
//! (`--define NAME=VALUE`) supplies it, and only the names a file actually
//! uses end up in the [`Spec`](crate::ir::Spec).
//!
//! | name | value | header |
//! | --- | --- | --- |
//! | `VIR_UUID_BUFLEN` | 16 | `libvirt-host.h` |
//! | `VIR_SECURITY_MODEL_BUFLEN` | 257 | `libvirt-host.h` |
//! | `VIR_SECURITY_LABEL_BUFLEN` | 4097 | `libvirt-host.h` |
//! | `VIR_SECURITY_DOI_BUFLEN` | 257 | `libvirt-host.h` |
//! | `VIR_TYPED_PARAM_INT` ... `VIR_TYPED_PARAM_STRING` | 1 ... 7 | `libvirt-common.h` |
//!
//! # rpcgen
//!
//! rpcgen copies type names it does not know into C, so specs written for
//! it use the C types of `<rpc/types.h>`, `<rpc/xdr.h>` and `<rpc/auth.h>`
//! (`u_int`, `uint32_t`, `netobj`, ...) without defining them. The rpcgen
//! preset ([`RPCGEN_TYPES`], [`RPCGEN_CONSTANTS`]) maps each to the XDR
//! type its `xdr_*` routine puts on the wire. Like the libvirt preset, a
//! name is used only when no loaded file defines it (a spec's own
//! definition wins), and only the names a file uses become part of the
//! [`Spec`](crate::ir::Spec): types as typedefs marked
//! [`Synthetic::RpcgenPreset`](crate::ir::Synthetic::RpcgenPreset),
//! spanned at their first use. It applies to specs that are not
//! libvirt-style unless switched ([`RpcgenPreset`](crate::ir::RpcgenPreset)).
//!
//! | names | XDR | C routine |
//! | --- | --- | --- |
//! | `bool_t` | `bool` | `xdr_bool` |
//! | `enum_t`, `int32_t` | `int` | `xdr_enum`, `xdr_int32_t` |
//! | `u_int`, `u_long`, `uint32_t`, `u_int32_t` | `unsigned int` | `xdr_u_long` etc. put 32 bits |
//! | `int64_t`, `quad_t` | `hyper` | `xdr_int64_t`, `xdr_quad_t` |
//! | `uint64_t`, `u_int64_t`, `u_quad_t` | `unsigned hyper` | |
//! | `int16_t` / `u_short`, `uint16_t`, `u_int16_t` | `short` / `unsigned short` | 4 bytes |
//! | `int8_t` / `u_char`, `uint8_t`, `u_int8_t` | `char` / `unsigned char` | 4 bytes |
//! | `netobj` | `opaque<1024>` | `xdr_netobj` (`MAX_NETOBJ_SZ`) |
//! | `des_block` | `opaque[8]` | `xdr_des_block` |
//!
//! | constant | value | header |
//! | --- | --- | --- |
//! | `MAX_NETOBJ_SZ` | 1024 | `rpc/xdr.h` |
//! | `MAXNETNAMELEN` | 255 | `rpc/auth.h` |

/// The libvirt preset, as `(name, value)` pairs.
pub const LIBVIRT_CONSTANTS: &[(&str, i128)] = &[
    ("VIR_UUID_BUFLEN", 16),
    ("VIR_SECURITY_MODEL_BUFLEN", 257),
    ("VIR_SECURITY_LABEL_BUFLEN", 4097),
    ("VIR_SECURITY_DOI_BUFLEN", 257),
    ("VIR_TYPED_PARAM_INT", 1),
    ("VIR_TYPED_PARAM_UINT", 2),
    ("VIR_TYPED_PARAM_LLONG", 3),
    ("VIR_TYPED_PARAM_ULLONG", 4),
    ("VIR_TYPED_PARAM_DOUBLE", 5),
    ("VIR_TYPED_PARAM_BOOLEAN", 6),
    ("VIR_TYPED_PARAM_STRING", 7),
];

/// The XDR form of an rpcgen preset type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RpcgenForm {
    /// `int`
    Int,
    /// `unsigned int`
    UnsignedInt,
    /// `hyper`
    Hyper,
    /// `unsigned hyper`
    UnsignedHyper,
    /// `short` (4 bytes on the wire)
    Short,
    /// `unsigned short` (4 bytes on the wire)
    UnsignedShort,
    /// `char` (4 bytes on the wire)
    Char,
    /// `unsigned char` (4 bytes on the wire)
    UnsignedChar,
    /// `bool`
    Bool,
    /// `opaque<N>`
    VarOpaque(u32),
    /// `opaque[N]`
    FixedOpaque(u32),
}

/// The rpcgen preset's types, as `(name, XDR form)` pairs.
pub const RPCGEN_TYPES: &[(&str, RpcgenForm)] = &[
    ("bool_t", RpcgenForm::Bool),
    ("enum_t", RpcgenForm::Int),
    ("int32_t", RpcgenForm::Int),
    ("u_int", RpcgenForm::UnsignedInt),
    ("u_long", RpcgenForm::UnsignedInt),
    ("uint32_t", RpcgenForm::UnsignedInt),
    ("u_int32_t", RpcgenForm::UnsignedInt),
    ("int64_t", RpcgenForm::Hyper),
    ("quad_t", RpcgenForm::Hyper),
    ("uint64_t", RpcgenForm::UnsignedHyper),
    ("u_int64_t", RpcgenForm::UnsignedHyper),
    ("u_quad_t", RpcgenForm::UnsignedHyper),
    ("int16_t", RpcgenForm::Short),
    ("u_short", RpcgenForm::UnsignedShort),
    ("uint16_t", RpcgenForm::UnsignedShort),
    ("u_int16_t", RpcgenForm::UnsignedShort),
    ("int8_t", RpcgenForm::Char),
    ("u_char", RpcgenForm::UnsignedChar),
    ("uint8_t", RpcgenForm::UnsignedChar),
    ("u_int8_t", RpcgenForm::UnsignedChar),
    ("netobj", RpcgenForm::VarOpaque(1024)),
    ("des_block", RpcgenForm::FixedOpaque(8)),
];

/// The rpcgen preset's constants, as `(name, value)` pairs.
pub const RPCGEN_CONSTANTS: &[(&str, i128)] = &[("MAX_NETOBJ_SZ", 1024), ("MAXNETNAMELEN", 255)];
