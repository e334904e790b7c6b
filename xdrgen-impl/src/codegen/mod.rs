//! Rust code generation from a resolved [`Spec`].
//!
//! [`generate_tokens`] builds the items (constants, types with their
//! `Encode` / `Decode` impls, procedure tables); [`generate_source`] formats
//! them with prettyplease behind a preamble naming the inputs and their
//! SHA-256. Output is deterministic: it follows the IR's order and nothing
//! else.
//!
//! Generated code names the runtime by absolute path (`::xdrgen::rt` by
//! default), so it compiles in any crate that depends on `xdrgen`.
//!
//! Every name the items have or refer to comes from one [`ModuleLayout`]
//! (type paths, constants, program modules, procedure markers) and every
//! field's Rust type from its [`Form`]; [`client`] generates async client
//! methods for a spec's program from the same layout, so the methods and
//! the items they call agree by construction.

pub mod client;
pub mod form;
mod items;
pub mod layout;
pub mod naming;
mod programs;
mod wire;

use std::cell::RefCell;

use proc_macro2::{Ident, Span, TokenStream};
use quote::quote;
use sha2::{Digest, Sha256};

use crate::diag::SourceMap;
use crate::ir::{Spec, TypeDef};
pub use form::{Form, Named, Primitive, Spelling, MAX_INLINE_ARRAY_BYTES};
pub use layout::{ModuleLayout, ProcedureName, ProgramNames, TypeModule, TypePath, VersionNames};

/// How to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenOptions {
    /// A prefix stripped from type and constant names where the result is
    /// still a good name (`remote` turns `remote_domain_get_info_args` into
    /// `DomainGetInfoArgs` and `REMOTE_STRING_MAX` into `STRING_MAX`).
    pub strip_prefix: Option<String>,
    /// Map `string<N>` to `Vec<u8>` instead of UTF-8 checked `String`.
    pub strings_as_bytes: bool,
    /// The cargo feature of the generated code's crate that turns on serde
    /// derives (`None`, the default: never derive serde, so the code
    /// compiles without warnings in a crate that has no such feature).
    pub serde_feature: Option<String>,
    /// The path of the runtime module.
    pub runtime_path: String,
    /// The command that regenerates the output, for the preamble.
    pub command: Option<String>,
    /// Input files whose definitions live in other generated modules: they
    /// are not generated here, and references to their types use the
    /// module's path.
    pub extern_modules: Vec<ExternModule>,
}

/// Definitions that another generated module holds (see
/// [`GenOptions::extern_modules`]); e.g. `qemu_protocol.x` uses types of
/// `remote_protocol.x` generated as module `super::remote`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternModule {
    /// Source file names (as given to the [`SourceMap`]) it was generated from.
    pub files: Vec<String>,
    /// The Rust path of that module, e.g. `super::remote`.
    pub path: String,
    /// The `strip_prefix` it was generated with, so names agree.
    pub strip_prefix: Option<String>,
}

impl Default for GenOptions {
    fn default() -> Self {
        GenOptions {
            strip_prefix: None,
            strings_as_bytes: false,
            serde_feature: None,
            runtime_path: "::xdrgen::rt".to_owned(),
            command: None,
            extern_modules: Vec::new(),
        }
    }
}

/// State shared by the item generators.
pub(crate) struct Generator<'a> {
    pub options: &'a GenOptions,
    /// Every name the generated items have or refer to.
    pub layout: ModuleLayout<'a>,
    pub rt: TokenStream,
    /// Written before every type name; `super::super::` while generating
    /// procedure markers, which live two modules below the types.
    pub type_prefix: RefCell<TokenStream>,
}

impl<'a> Generator<'a> {
    fn new(spec: &'a Spec, options: &'a GenOptions) -> Self {
        let rt = options
            .runtime_path
            .parse()
            .unwrap_or_else(|_| quote!(::xdrgen::rt));
        Generator {
            options,
            layout: ModuleLayout::new(spec, options),
            rt,
            type_prefix: RefCell::new(TokenStream::new()),
        }
    }

    /// Whether a definition at `span` belongs to an extern module.
    pub(crate) fn is_extern(&self, span: Option<crate::diag::Span>) -> bool {
        span.is_some_and(|s| self.layout.is_extern(s))
    }

    pub(crate) fn type_by_name(&self, name: &str) -> Option<&'a TypeDef> {
        self.layout.type_def(name)
    }

    pub(crate) fn serde_attr(&self) -> TokenStream {
        match &self.options.serde_feature {
            Some(f) => {
                quote!(#[cfg_attr(feature = #f, derive(::serde::Serialize, ::serde::Deserialize))])
            }
            None => quote!(),
        }
    }
}

/// The generated items, unformatted.
pub fn generate_tokens(spec: &Spec, options: &GenOptions) -> TokenStream {
    generate_parts(spec, options).into_iter().collect()
}

/// The generated items in parts, in order: each constant, each type with
/// its impls, the programs. Formatting part by part keeps one part's
/// syntax tree in memory at a time, not the whole file's.
fn generate_parts(spec: &Spec, options: &GenOptions) -> Vec<TokenStream> {
    let g = Generator::new(spec, options);
    let consts = spec
        .constants
        .iter()
        .filter(|c| !g.is_extern(c.span))
        .map(|c| g.constant(c));
    let strings = spec
        .string_constants
        .iter()
        .filter(|c| !g.is_extern(Some(c.span)))
        .map(|c| g.string_constant(c));
    let types = spec
        .types
        .iter()
        .filter(|t| !g.is_extern(Some(t.span)))
        .map(|t| g.type_def(t));
    consts
        .chain(strings)
        .chain(types)
        .chain(std::iter::once(g.programs()))
        .collect()
}

/// The generated items as formatted Rust source, with a preamble.
///
/// # Errors
/// Only if the generated tokens do not parse as Rust, which would be a bug
/// in the generator; the message says so.
pub fn generate_source(
    spec: &Spec,
    sources: &SourceMap,
    options: &GenOptions,
) -> Result<String, String> {
    let mut out = preamble(sources, options);
    for part in generate_parts(spec, options) {
        let file: syn::File =
            syn::parse2(part).map_err(|e| format!("xdrgen produced invalid Rust (a bug): {e}"))?;
        out.push_str(&prettyplease::unparse(&file));
    }
    Ok(out)
}

/// The comment at the top of generated files.
pub fn preamble(sources: &SourceMap, options: &GenOptions) -> String {
    let mut out = String::from("// @generated by xdrgen ");
    out.push_str(env!("CARGO_PKG_VERSION"));
    out.push_str(". Do not edit: changes are lost when it is regenerated");
    match &options.command {
        Some(c) => {
            out.push_str(" with\n//     ");
            out.push_str(c);
            out.push('\n');
        }
        None => out.push_str(".\n"),
    }
    out.push_str("//\n// Inputs (SHA-256):\n");
    for (_, f) in sources.files() {
        let digest = Sha256::digest(f.text.as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        out.push_str(&format!("//     {hex}  {}\n", f.name));
    }
    out.push('\n');
    out
}

/// `#[doc = "..."]` lines for a doc comment.
pub(crate) fn doc_attrs(doc: Option<&str>) -> TokenStream {
    let Some(doc) = doc else { return quote!() };
    // A carriage return left inside a line (not part of a CRLF) ends the
    // line too: in a `///` comment it is an error ("bare CR not allowed").
    let lines = doc.lines().flat_map(|l| l.split('\r')).map(|l| {
        let l = format!(" {}", escape_tags(l));
        quote!(#[doc = #l])
    });
    quote!(#(#lines)*)
}

/// A spec's comments are plain text, while rustdoc reads Markdown: a `<`
/// that starts what looks like an HTML tag (`<empty>`, `</b>`) is escaped
/// so the text shows as written.
fn escape_tags(line: &str) -> std::borrow::Cow<'_, str> {
    let starts_tag = |rest: &str| {
        rest.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '/')
    };
    if !line
        .match_indices('<')
        .any(|(i, _)| starts_tag(&line[i + 1..]))
    {
        return line.into();
    }
    let mut out = String::with_capacity(line.len() + 4);
    for (i, c) in line.char_indices() {
        if c == '<' && starts_tag(&line[i + 1..]) {
            out.push('\\');
        }
        out.push(c);
    }
    out.into()
}

/// An identifier, raw when written `r#name`.
pub(crate) fn ident(name: &str) -> Ident {
    match name.strip_prefix("r#") {
        Some(raw) => Ident::new_raw(raw, Span::call_site()),
        None => Ident::new(name, Span::call_site()),
    }
}

#[cfg(test)]
mod tests {
    use super::{doc_attrs, escape_tags};

    #[test]
    fn a_bare_carriage_return_in_a_comment_ends_its_doc_line() {
        let attrs = doc_attrs(Some("one\rtwo\r\nthree"));
        let file: syn::File = syn::parse2(quote::quote!(#attrs struct S;)).unwrap();
        let text = prettyplease::unparse(&file);
        // A `///` line with a CR inside would not parse.
        syn::parse_file(&text).unwrap_or_else(|e| panic!("{e}: {text:?}"));
        assert_eq!(text.matches("///").count(), 3, "{text:?}");
    }

    #[test]
    fn tag_like_text_in_comments_is_escaped_for_rustdoc() {
        assert_eq!(
            escape_tags("client message: <empty>"),
            r"client message: \<empty>"
        );
        assert_eq!(escape_tags("a </b> c"), r"a \</b> c");
        // Comparisons and arrows stay as written.
        assert_eq!(
            escape_tags("x < 3, a <= b, <- here"),
            "x < 3, a <= b, <- here"
        );
        assert!(matches!(
            escape_tags("no tags"),
            std::borrow::Cow::Borrowed(_)
        ));
    }
}
