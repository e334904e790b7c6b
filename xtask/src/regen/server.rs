//! What libvirt-proto's server is, for xdrgen's service trait generator
//! ([`xdrgen::codegen::server`]): which programs get a trait, its name and
//! method prefix (the client's, so a procedure's method has one name on
//! both sides), the types the methods take, and the procedures that get no
//! method (those the server answers itself), and the procedures that pass
//! file descriptors ([`super::client::FDS`], as on the client). The
//! generator writes `<module>_server.rs` next to the module of the
//! program; this file only configures it.

use xdrgen::codegen::server::{self, ServerCode, ServerConfig};
use xdrgen::codegen::GenOptions;
use xdrgen::ir::Spec as Ir;

/// The service trait generated for one program module.
#[derive(Debug)]
pub struct Target {
    /// The generated module holding the program (`remote`, `qemu`, ...).
    pub module: &'static str,
    /// The trait's name.
    pub trait_name: &'static str,
    /// Written before every method name (`qemu_`), as on the client.
    pub method_prefix: &'static str,
    /// Procedures (without the member prefix) the server answers itself.
    pub skip: &'static [&'static str],
    /// Procedure name prefixes (after the member prefix) skipped likewise.
    pub skip_prefixes: &'static [&'static str],
}

/// Every program a libvirt daemon serves; keepalive is the connection's
/// own, the lock and log managers are other daemons.
pub const TARGETS: &[Target] = &[
    Target {
        module: "remote",
        trait_name: "RemoteService",
        method_prefix: "",
        // The server lists its authentication and closes the connection.
        skip: &["CONNECT_CLOSE"],
        skip_prefixes: &["AUTH_"],
    },
    Target {
        module: "qemu",
        trait_name: "QemuService",
        method_prefix: "qemu_",
        skip: &[],
        skip_prefixes: &[],
    },
    Target {
        module: "lxc",
        trait_name: "LxcService",
        method_prefix: "lxc_",
        skip: &[],
        skip_prefixes: &[],
    },
    Target {
        module: "admin",
        trait_name: "AdminService",
        method_prefix: "",
        skip: &["CONNECT_CLOSE"],
        skip_prefixes: &[],
    },
];

/// The generated module's name for a target (`remote_server`).
pub fn file_name(t: &Target) -> String {
    format!("{}_server", t.module)
}

/// The generated module's `//!` line.
pub fn module_doc(t: &Target) -> String {
    format!(
        "[`{}`](crate::server::{}), a method per callable procedure of the {} program, \
         and its `dispatch` (feature `server`).",
        t.trait_name, t.trait_name, t.module
    )
}

/// A line saying what a generated module holds.
pub fn summary(t: &Target, methods: usize) -> String {
    let s = if methods == 1 { "" } else { "s" };
    format!(
        "The {} program: `{}`, {methods} method{s}.",
        t.module, t.trait_name
    )
}

/// The trait of `target`'s program, as formatted Rust (after the caller's
/// preamble).
pub fn generate(target: &Target, ir: &Ir, options: &GenOptions) -> Result<ServerCode, String> {
    let owned = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let config = ServerConfig {
        program: String::new(),
        version: None,
        types_module: format!("super::{}", target.module),
        trait_name: target.trait_name.into(),
        supertraits: "Send + Sync + 'static".into(),
        method_prefix: target.method_prefix.into(),
        peer: "crate::server::Peer".into(),
        error: "crate::error::RemoteError".into(),
        unsupported: "crate::server::unsupported_procedure".into(),
        stream: "crate::server::ServerStream".into(),
        fd: "std::os::fd::OwnedFd".into(),
        fds: super::client::FDS
            .iter()
            .map(|(name, send, receive)| {
                let fds = server::Fds {
                    send: *send,
                    receive: *receive,
                };
                ((*name).to_owned(), fds)
            })
            .collect(),
        skip: owned(target.skip),
        skip_prefixes: owned(target.skip_prefixes),
    };
    server::generate(ir, options, &config)
}
