//! The bodies of the cargo-fuzz targets of `fuzz/`, one plain function per
//! target taking the fuzzer's bytes. The cargo-fuzz binaries
//! (`fuzz/fuzz_targets/*.rs`) call them; `tests/replay.rs` runs each over
//! `fuzz/seeds/<target>/` and `fuzz/regressions/<target>/` under the
//! ordinary `cargo test`, without nightly or libFuzzer.
//!
//! A target panics when an invariant breaks; every other outcome (an
//! error from the code under test included) is a pass.

mod bytes;
mod codegen;
mod engines;
mod frames;
mod text;
mod tls;
mod typed_params;
mod xdr;

pub use codegen::codegen;
pub use engines::{client_auth_open, client_engine, sasl_layer, server_engine};
pub use frames::{dispatch_decode, frame_decoder};
pub use text::{auth_conf, libvirt_conf, uri};
pub use tls::tls_certs;
pub use typed_params::typed_params;
pub use xdr::{decode_rich, parse_resolve};

/// A target's body.
pub type Target = fn(&[u8]);

/// Every target, by the name of its cargo-fuzz binary and of its folders
/// under `fuzz/seeds/` and `fuzz/regressions/`.
pub const TARGETS: &[(&str, Target)] = &[
    ("parse_resolve", parse_resolve),
    ("decode_rich", decode_rich),
    ("codegen", codegen),
    ("frame_decoder", frame_decoder),
    ("dispatch_decode", dispatch_decode),
    ("client_engine", client_engine),
    ("server_engine", server_engine),
    ("sasl_layer", sasl_layer),
    ("client_auth_open", client_auth_open),
    ("uri", uri),
    ("auth_conf", auth_conf),
    ("libvirt_conf", libvirt_conf),
    ("tls_certs", tls_certs),
    ("typed_params", typed_params),
];
