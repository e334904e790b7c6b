//! The engine behind [xdrgen](https://docs.rs/xdrgen): the `.x` parser, the
//! resolver and its IR, diagnostics, and the Rust code generator.
//!
//! It is a crate of its own so that both `xdrgen` (library and CLI) and the
//! `xdr_include!` proc-macro can use it without a dependency cycle. Use it
//! through `xdrgen` with the `codegen` feature; its API is re-exported
//! there.

pub mod codegen;
pub mod cpp;
pub mod diag;
pub mod input;
pub mod ir;
pub mod syntax;

pub use diag::{Diagnostic, Diagnostics, FileId, MacroConstant, Severity, SourceMap, Span};
pub use ir::{load, Loaded, Options};
