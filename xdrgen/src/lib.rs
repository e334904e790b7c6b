//! XDR specifications (`.x` files) to Rust.
//!
//! `xdrgen` reads XDR specifications (RFC 4506 data types, RFC 5531
//! `program` blocks, and the rpcgen extensions libvirt uses) and produces a
//! resolved, serialisable intermediate representation with exact source
//! locations and readable diagnostics.
//!
//! The package is published as `xdr-rpcgen` (the name `xdrgen` on
//! crates.io belongs to an older, unrelated crate); the library keeps the
//! name `xdrgen`, which is what code and generated code write:
//!
//! ```toml
//! [dependencies]
//! xdr-rpcgen = { version = "0.1", features = ["macros"] }
//! ```
//!
//! Features: [`rt`], the runtime generated code uses, is always there; the
//! front end and code generator are behind `codegen`, `xdr_include!` behind
//! `macros`, the `xdrgen` command-line tool behind `cli`, and serde derives
//! on the runtime's types behind `serde`.
//!
//! ```
//! # #[cfg(feature = "codegen")] {
//! use xdrgen::{load, Options, SourceMap};
//!
//! let mut sources = SourceMap::new();
//! sources.add(
//!     "ping.x",
//!     "const PING_MAX = 16;\n\
//!      struct ping { opaque payload<PING_MAX>; };\n\
//!      program PING_PROG { version PING_V1 { ping ECHO(ping) = 1; } = 1; } = 0x20000001;\n",
//! );
//! let loaded = load(&sources, &Options::default());
//! assert!(!loaded.diagnostics.has_errors(), "{}", sources.render(&loaded.diagnostics.0));
//! let spec = loaded.spec.unwrap();
//! assert_eq!(spec.constant("PING_MAX").unwrap().value, 16);
//! assert_eq!(spec.programs[0].versions[0].procedures[0].name, "ECHO");
//! # }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod rt;

#[cfg(feature = "codegen")]
#[cfg_attr(docsrs, doc(cfg(feature = "codegen")))]
pub use xdr_rpcgen_impl::{codegen, cpp, diag, input, ir, syntax};
#[cfg(feature = "codegen")]
#[cfg_attr(docsrs, doc(cfg(feature = "codegen")))]
pub use xdr_rpcgen_impl::{
    load, Diagnostic, Diagnostics, FileId, Loaded, Options, Severity, SourceMap, Span,
};

/// `xdr_include!("file.x")`: a specification compiled into Rust at build time.
#[cfg(feature = "macros")]
#[cfg_attr(docsrs, doc(cfg(feature = "macros")))]
pub use xdr_rpcgen_macros::xdr_include;
