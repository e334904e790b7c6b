//! The `.x` language: syntax tree, comments, annotations and the parser.
//!
//! [`parse_file`] turns one file's text into an [`ast::File`] plus syntax
//! diagnostics. Resolution (names, constants, types) happens in
//! [`crate::ir`].

pub mod annotations;
pub mod ast;
mod parser;
mod trivia;

pub(crate) use parser::radix_digits;
pub use parser::{parse_file, MAX_NESTING};
