//! `xdr_include!("file.x")`: XDR specifications turned into Rust at compile
//! time.
//!
//! This crate is the thin procedural-macro front end of
//! [`xdrgen`](https://docs.rs/xdrgen): it reads the `.x` file relative to the
//! calling crate's manifest, runs xdrgen's parser, resolver and code
//! generator, and reports a bad specification as a compile error carrying
//! the `file:line:col` diagnostic. The macro itself arrives with xdrgen's
//! code generator; until then this crate exports nothing.
