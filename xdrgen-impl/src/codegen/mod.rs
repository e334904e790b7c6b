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
mod modules;
pub mod naming;
mod programs;
mod rows;
pub mod server;
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
    pub layout: &'a ModuleLayout<'a>,
    pub rt: TokenStream,
    /// Written before every type name; `super::super::` while generating
    /// procedure markers, which live two modules below the types.
    pub type_prefix: RefCell<TokenStream>,
    /// The names of the programs generated here.
    pub programs: &'a [ProgramNames<'a>],
}

/// What every generator of one output shares, computed once (naming a
/// large spec is a good part of generating it) and read by every
/// formatting thread.
struct Names<'a> {
    layout: ModuleLayout<'a>,
    programs: Vec<ProgramNames<'a>>,
}

impl<'a> Names<'a> {
    fn new(spec: &'a Spec, options: &'a GenOptions) -> Self {
        let layout = ModuleLayout::new(spec, options);
        let programs = layout.programs();
        Names { layout, programs }
    }
}

impl<'a> Generator<'a> {
    fn new(names: &'a Names<'a>, options: &'a GenOptions) -> Self {
        let rt = options
            .runtime_path
            .parse()
            .unwrap_or_else(|_| quote!(::xdrgen::rt));
        Generator {
            options,
            layout: &names.layout,
            rt,
            type_prefix: RefCell::new(TokenStream::new()),
            programs: &names.programs,
        }
    }

    /// The output in order, as pieces: each constant, each type with its
    /// impls, then the programs, opened and closed around their parts.
    fn pieces(&self) -> Vec<Piece> {
        let spec = self.layout.spec();
        let consts = (0..spec.constants.len())
            .filter(|&i| !self.is_extern(spec.constants[i].span))
            .map(|i| Piece::Job(Job::Constant(i)));
        let strings = (0..spec.string_constants.len())
            .filter(|&i| !self.is_extern(Some(spec.string_constants[i].span)))
            .map(|i| Piece::Job(Job::StringConstant(i)));
        let types = (0..spec.types.len())
            .filter(|&i| !self.is_extern(Some(spec.types[i].span)))
            .map(|i| Piece::Job(Job::Type(i)));
        consts
            .chain(strings)
            .chain(types)
            .chain(self.program_pieces())
            .collect()
    }

    /// The output of one job.
    fn job(&self, job: Job) -> Vec<Chunk> {
        let spec = self.layout.spec();
        match job {
            Job::Constant(i) => vec![Chunk::Items(self.constant(&spec.constants[i]))],
            Job::StringConstant(i) => {
                vec![Chunk::Items(
                    self.string_constant(&spec.string_constants[i]),
                )]
            }
            Job::Type(i) => self.type_def(&spec.types[i]),
            Job::Program(p) => self.program_job(p),
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

/// A piece of the output. Jobs are generated and formatted on their own,
/// so no syntax tree of the whole file exists at once and pieces can be
/// formatted on several threads; `Open` and `Close` nest the jobs between
/// them in a module.
pub(crate) enum Piece {
    /// Items.
    Job(Job),
    /// A module's attributes and `pub mod name`, without its body.
    Open(TokenStream),
    /// The end of the innermost open module.
    Close,
}

/// Part of a job's output: items formatted by prettyplease, or a table
/// laid out a row per line (see [`rows`]).
pub(crate) enum Chunk {
    Items(TokenStream),
    Rows(rows::Rows),
}

impl Chunk {
    fn tokens(self) -> TokenStream {
        match self {
            Chunk::Items(t) => t,
            Chunk::Rows(r) => r.tokens(),
        }
    }

    fn text(self, depth: usize) -> Result<String, String> {
        match self {
            Chunk::Items(t) => format_at(t, depth),
            Chunk::Rows(r) => Ok(r.text(depth)),
        }
    }
}

/// What a [`Piece::Job`] generates: indices into the spec's lists, or a
/// program piece.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Job {
    Constant(usize),
    StringConstant(usize),
    Type(usize),
    Program(programs::ProgramJob),
}

/// The generated items, unformatted.
pub fn generate_tokens(spec: &Spec, options: &GenOptions) -> TokenStream {
    let names = Names::new(spec, options);
    let g = Generator::new(&names, options);
    // Modules being filled: their heads and the items so far.
    let mut stack: Vec<(TokenStream, TokenStream)> = vec![(TokenStream::new(), TokenStream::new())];
    for piece in g.pieces() {
        match piece {
            Piece::Job(job) => {
                if let Some((_, body)) = stack.last_mut() {
                    body.extend(g.job(job).into_iter().map(Chunk::tokens));
                }
            }
            Piece::Open(head) => stack.push((head, TokenStream::new())),
            Piece::Close => {
                if stack.len() > 1 {
                    let (head, body) = stack.pop().unwrap_or_default();
                    if let Some((_, outer)) = stack.last_mut() {
                        outer.extend(quote!(#head { #body }));
                    }
                }
            }
        }
    }
    stack.pop().map(|(_, body)| body).unwrap_or_default()
}

/// Most threads formatting at once.
const MAX_THREADS: usize = 8;

/// The generated items as formatted Rust source, with a preamble.
///
/// Pieces are formatted on up to `MAX_THREADS` (8) threads (each with its
/// own generator), taking the next piece as they finish one: items with
/// prettyplease, inside as many modules as they are deep so their lines
/// break as in the whole file, and tables a row per line.
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
    // The layout of the pieces: each one's module depth and, for a module
    // head, its text; computed once here.
    let names = Names::new(spec, options);
    let outline = Generator::new(&names, options).pieces();
    let mut depths = Vec::with_capacity(outline.len());
    let mut depth = 0usize;
    for piece in &outline {
        match piece {
            Piece::Close => {
                depth = depth.saturating_sub(1);
                depths.push(depth);
            }
            _ => depths.push(depth),
        }
        if matches!(piece, Piece::Open(_)) {
            depth += 1;
        }
    }
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_THREADS);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let (next, depths, names) = (&next, &depths, &names);
                scope.spawn(move || -> Result<Vec<(usize, String)>, String> {
                    let g = Generator::new(names, options);
                    let pieces = g.pieces();
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(piece) = pieces.get(i) else {
                            return Ok(done);
                        };
                        let text = match piece {
                            Piece::Job(job) => g
                                .job(*job)
                                .into_iter()
                                .map(|c| c.text(depths[i]))
                                .collect::<Result<String, String>>()?,
                            Piece::Open(head) => {
                                let text = format_at(quote!(#head {}), depths[i])?;
                                let open = text.trim_end().strip_suffix("{}").unwrap_or(&text);
                                format!("{open}{{\n")
                            }
                            Piece::Close => format!("{}}}\n", "    ".repeat(depths[i])),
                        };
                        done.push((i, text));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|_| Err("a formatting thread panicked".into()))
            })
            .collect::<Vec<_>>()
    });
    let mut texts: Vec<String> = vec![String::new(); outline.len()];
    for r in results {
        for (i, text) in r? {
            texts[i] = text;
        }
    }
    for text in texts {
        out.push_str(&text);
    }
    Ok(out)
}

/// `items` formatted as they are inside `depth` modules: wrapped in that
/// many, formatted, unwrapped, so the line breaks are those of the whole
/// file.
fn format_at(items: TokenStream, depth: usize) -> Result<String, String> {
    let mut wrapped = items;
    for _ in 0..depth {
        wrapped = quote!(mod m { #wrapped });
    }
    let file: syn::File =
        syn::parse2(wrapped).map_err(|e| format!("xdrgen produced invalid Rust (a bug): {e}"))?;
    let text = prettyplease::unparse(&file);
    if depth == 0 {
        return Ok(text);
    }
    let lines: Vec<&str> = text.lines().collect();
    let inner = lines
        .get(depth..lines.len().saturating_sub(depth))
        .unwrap_or_default();
    let mut out = String::with_capacity(text.len());
    for line in inner {
        out.push_str(line);
        out.push('\n');
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
    let lines = doc_lines(doc);
    quote!(#(#[doc = #lines])*)
}

/// A doc comment's lines as rustdoc reads them, each with its leading
/// space. A carriage return left inside a line (not part of a CRLF) ends
/// the line too: in a `///` comment it is an error ("bare CR not allowed").
pub(crate) fn doc_lines(doc: Option<&str>) -> Vec<String> {
    let Some(doc) = doc else { return Vec::new() };
    doc.lines()
        .flat_map(|l| l.split('\r'))
        .map(|l| format!(" {}", escape_tags(l)))
        .collect()
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
