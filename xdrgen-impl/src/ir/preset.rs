//! libvirt's external constants.
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
