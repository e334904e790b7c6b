//! The C preprocessor, as rpcgen uses it.
//!
//! rpcgen runs every spec through `cpp` first, so real specs guard parts
//! with `#ifdef RPC_HDR`, choose between definitions with `#if`, and pull
//! in other specs with `#include`. [`preprocess`] does that before parsing,
//! in one of three ways ([`Preprocessor`]):
//!
//! - **Built in** (the default): `#define` / `#undef`, `#if` / `#ifdef` /
//!   `#ifndef` / `#elif` / `#else` / `#endif` with `defined` and C's
//!   integer expressions, `#include "file"` and `<file>`, `#error`,
//!   `#warning`; `#pragma`, `#ident` and `#line` are accepted and ignored.
//!   Directive lines and the lines of sections not taken are blanked in
//!   the text the parser reads ([`SourceFile::parse_text`](crate::diag::SourceFile::parse_text)), byte for
//!   byte, so every span still points into the file as written and
//!   diagnostics keep their `file:line:col`. Macros are not replaced
//!   inside definitions; instead each object-like macro whose body is an
//!   integer expression becomes a constant the spec may use where it uses
//!   the name ([`SourceMap::macro_constants`]), so `#define MAX 255` then
//!   `string s<MAX>;` works and `MAX` is a constant of the output.
//! - **External**: a `cpp` command (by default `cpp -C`, as rpcgen runs
//!   it) for full C preprocessing; its line markers put each line back at
//!   its file and line, so diagnostics still name the right place
//!   (columns follow the preprocessed text).
//! - **Off**: `#` lines are left to the parser, which warns and ignores
//!   them.
//!
//! rpcgen defines one symbol per output it writes (`RPC_HDR` for the
//! header, `RPC_XDR` for the XDR routines, `RPC_SVC`, `RPC_CLNT`,
//! `RPC_TBL`, `RPC_SAMPLE` for its C stubs). xdrgen's output holds what
//! the header and the XDR routines hold (types, constants, codecs), so
//! [`RPCGEN_PREDEFINED`] is `RPC_HDR` and `RPC_XDR`; the others are left
//! undefined. `-D` / `-U` change that.
//!
//! Each file is read once: an `#include` of a file already read (as a
//! root or through another include) adds nothing, as if every file had
//! an include guard, since the specification has one namespace anyway.
//! `#include "f"` looks beside the including file, then in the `-I`
//! directories; `<f>` only in the `-I` directories.

mod expr;
mod external;

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

use crate::diag::{Diagnostic, FileId, SourceMap, Span};

pub use crate::diag::{MacroConstant, MacroWithoutValue};

/// The symbols defined (to 1) before every file, as rpcgen defines them
/// for the header and the XDR routines it writes.
pub const RPCGEN_PREDEFINED: &[&str] = &["RPC_HDR", "RPC_XDR"];

/// Deepest `#include` nesting, as in GCC.
pub const MAX_INCLUDE_DEPTH: usize = 200;

/// Largest file an `#include` may read, in bytes.
pub const MAX_INCLUDE_BYTES: u64 = 64 << 20;

/// Most bytes all `#include`s of one run may read together.
pub const MAX_TOTAL_INCLUDE_BYTES: u64 = 256 << 20;

/// How preprocessor lines are handled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Preprocessor {
    /// xdrgen's own subset (see the module docs).
    #[default]
    Builtin,
    /// Run this command (program and arguments; the `-D`, `-U`, `-I`
    /// options and the file are appended), e.g. `["cpp", "-C"]`.
    External(Vec<String>),
    /// No preprocessing: `#` lines are warned about and ignored.
    Off,
}

impl Preprocessor {
    /// `cpp -C`: the system's preprocessor keeping comments (they become
    /// documentation), as rpcgen runs it.
    pub fn system_cpp() -> Self {
        Preprocessor::External(vec!["cpp".to_owned(), "-C".to_owned()])
    }
}

/// Preprocessor settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CppOptions {
    /// Which preprocessor.
    pub preprocessor: Preprocessor,
    /// Where `#include` looks (after the including file's folder for
    /// `"file"`), in order.
    pub include_dirs: Vec<PathBuf>,
    /// Macros defined before the first line, after [`RPCGEN_PREDEFINED`]
    /// (`-D NAME=BODY`; a bare `-D NAME` is `("NAME", "1")`).
    pub defines: Vec<(String, String)>,
    /// Macros removed before the first line (`-U NAME`), after the defines.
    pub undefines: Vec<String>,
    /// What relative file names and include directories are relative to
    /// (empty: the current directory). `xdr_include!` sets the calling
    /// crate's folder, so diagnostics keep the short names.
    pub base_dir: PathBuf,
}

/// Where included files come from.
pub trait FileSystem {
    /// The text of the file at `path`; `ErrorKind::NotFound` when there is
    /// none, so the next include directory is tried.
    fn read(&self, path: &Path) -> io::Result<String>;
}

/// The real file system, reading regular files of at most
/// [`MAX_INCLUDE_BYTES`].
#[derive(Debug, Clone, Copy, Default)]
pub struct OsFileSystem;

impl FileSystem for OsFileSystem {
    fn read(&self, path: &Path) -> io::Result<String> {
        read_bounded(path, MAX_INCLUDE_BYTES)
    }
}

/// Reads a regular file of at most `max` bytes as text ([`decode_text`]).
/// Anything else (a FIFO, a device, a directory, a larger file) is an
/// error rather than a hang or an unbounded read.
pub fn read_bounded(path: &Path, max: u64) -> io::Result<String> {
    use std::io::Read;
    let not_regular = || io::Error::new(io::ErrorKind::InvalidInput, "not a regular file");
    // Looked at before it is opened: opening a FIFO waits for a writer,
    // opening a device may act.
    if !std::fs::metadata(path)?.is_file() {
        return Err(not_regular());
    }
    let mut open = std::fs::OpenOptions::new();
    open.read(true);
    // And opened without waiting, should a FIFO have been swapped in since
    // (reads of a regular file ignore the flag).
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut open, libc::O_NONBLOCK);
    let file = open.open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(not_regular());
    }
    if meta.len() > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {max} bytes"),
        ));
    }
    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {max} bytes"),
        ));
    }
    Ok(decode_text(bytes))
}

/// A spec's bytes as text: UTF-8 without a leading byte-order mark, or,
/// when they are not UTF-8, Latin-1, as the comments of older specs often
/// are. rpcgen reads bytes, and XDR's identifiers are ASCII either way, so
/// only comments (which become documentation) depend on the guess.
pub fn decode_text(mut bytes: Vec<u8>) -> String {
    if bytes.starts_with(b"\xEF\xBB\xBF") {
        bytes.drain(..3);
    }
    match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => e.into_bytes().into_iter().map(char::from).collect(),
    }
}

/// What preprocessing reported besides the texts it left in the map.
#[derive(Debug, Clone, Default)]
pub struct CppOutput {
    /// Errors and warnings (bad directives, missing includes, `#error`).
    pub diagnostics: Vec<Diagnostic>,
    /// Every file read through `#include` (joined to
    /// [`CppOptions::base_dir`]), in order, for rebuild tracking.
    pub dependencies: Vec<PathBuf>,
}

/// A macro definition.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Macro {
    /// The parameters of a function-like macro.
    pub params: Option<Vec<String>>,
    pub body: String,
    /// The name in its `#define`; `None` for predefined and `-D` macros.
    pub span: Option<Span>,
}

/// Preprocesses every file of `sources` (in order, as roots), adding the
/// files they include and the constants their macros define.
pub fn preprocess(sources: &mut SourceMap, options: &CppOptions, fs: &dyn FileSystem) -> CppOutput {
    let mut out = CppOutput::default();
    match &options.preprocessor {
        Preprocessor::Off => {}
        Preprocessor::External(command) => external::run(sources, command, options, &mut out),
        Preprocessor::Builtin => {
            let roots: Vec<FileId> = sources.files().map(|(id, _)| id).collect();
            let mut cpp = Builtin {
                sources,
                fs,
                options,
                macros: initial_macros(options),
                read: HashMap::new(),
                included_bytes: 0,
                budget: expr::Budget::per_run(),
                out: &mut out,
            };
            for &id in &roots {
                let key = path_key(&options.base_dir.join(&cpp.sources.file(id).name));
                cpp.read.insert(key, id);
            }
            for id in roots {
                cpp.file(id, 0);
            }
            let Evaluated {
                constants,
                without_value,
                cut_short,
            } = macro_constants(&cpp.macros, &mut cpp.budget);
            if let Some(at) = cut_short {
                let message = "macro replacement did more work than the preprocessor allows: \
                               from this macro on (by name), macros are not constants";
                out.diagnostics.push(match at {
                    Some(span) => Diagnostic::warning(span, message),
                    None => Diagnostic::error_without_location(message),
                });
            }
            for c in constants {
                sources.add_macro_constant(c);
            }
            for m in without_value {
                sources.add_macro_without_value(m);
            }
        }
    }
    out
}

fn initial_macros(options: &CppOptions) -> HashMap<String, Macro> {
    let mut macros = HashMap::new();
    let predefined = RPCGEN_PREDEFINED.iter().map(|n| (*n, "1"));
    let given = options
        .defines
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_str()));
    for (name, body) in predefined.chain(given) {
        macros.insert(
            name.to_owned(),
            Macro {
                params: None,
                body: body.to_owned(),
                span: None,
            },
        );
    }
    for name in &options.undefines {
        macros.remove(name);
    }
    macros
}

/// Object-like macros whose body is an integer expression, as constants,
/// by name (in that order, so that which ones a spent `budget` leaves out
/// does not vary from run to run); and, if the budget ran out, where the
/// first macro it left out was defined (`None` inside: on the command line).
/// The macros' constants, the others with the reason, and where the work
/// budget ran out (the macro whose evaluation spent it), if it did.
struct Evaluated {
    constants: Vec<MacroConstant>,
    without_value: Vec<MacroWithoutValue>,
    cut_short: Option<Option<Span>>,
}

fn macro_constants(macros: &HashMap<String, Macro>, budget: &mut expr::Budget) -> Evaluated {
    let mut out = Evaluated {
        constants: Vec::new(),
        without_value: Vec::new(),
        cut_short: None,
    };
    let mut names: Vec<&String> = macros.keys().collect();
    names.sort();
    for name in names {
        let m = &macros[name];
        let value = if m.params.is_some() {
            Err("it takes arguments".to_owned())
        } else {
            let not_integer = |e| format!("its value is not an integer: {e}");
            match expr::tokenize(&m.body) {
                Ok(tokens) if tokens.is_empty() => Err("it is defined as nothing".to_owned()),
                Ok(tokens) => expr::evaluate(&tokens, macros, budget)
                    .map(|v| v.value())
                    .map_err(not_integer),
                Err(e) => Err(not_integer(e)),
            }
        };
        match value {
            Ok(value) => out.constants.push(MacroConstant {
                name: name.clone(),
                value,
                span: m.span,
            }),
            Err(why) => {
                if budget.is_spent() && out.cut_short.is_none() {
                    out.cut_short = Some(m.span);
                }
                out.without_value.push(MacroWithoutValue {
                    name: name.clone(),
                    why,
                    span: m.span,
                });
            }
        }
    }
    out
}

/// Integer constants of the `%#define NAME VALUE` lines a spec passes
/// through to rpcgen's C header (nlm_prot.x defines `LM_MAXSTRLEN` so,
/// then uses it as a bound). `lines` are pass-through lines without their
/// `%`, each with the span of the whole line.
pub(crate) fn passthrough_defines(lines: &[(&str, Span)]) -> Vec<MacroConstant> {
    let mut macros = HashMap::new();
    for (text, span) in lines {
        let Some(rest) = text.trim_start().strip_prefix('#') else {
            continue;
        };
        let Some(rest) = rest.trim_start().strip_prefix("define") else {
            continue;
        };
        let Some((name, body)) = identifier(rest) else {
            continue;
        };
        if body.starts_with('(') || !rest.starts_with([' ', '\t']) {
            continue;
        }
        let (body, _) = directive_text(body);
        let at = span.start as usize + 1 + text.find(name).unwrap_or(0);
        macros.insert(
            name.to_owned(),
            Macro {
                params: None,
                body: body.trim().to_owned(),
                span: Some(Span::new(span.file, at, at + name.len())),
            },
        );
    }
    macro_constants(&macros, &mut expr::Budget::per_run()).constants
}

/// The key a file is known by: its canonical path when it exists.
fn path_key(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// One open `#if` group.
struct Cond {
    /// Whether the lines around the group are kept.
    outer: bool,
    /// Whether a branch has been taken already.
    taken: bool,
    /// Whether the current branch is kept.
    active: bool,
    seen_else: bool,
    span: Span,
}

struct Builtin<'a> {
    sources: &'a mut SourceMap,
    fs: &'a dyn FileSystem,
    options: &'a CppOptions,
    macros: HashMap<String, Macro>,
    /// Files read so far, by [`path_key`].
    read: HashMap<PathBuf, FileId>,
    /// Bytes read through `#include` so far.
    included_bytes: u64,
    /// What macro replacement may still do.
    budget: expr::Budget,
    out: &'a mut CppOutput,
}

impl Builtin<'_> {
    fn file(&mut self, id: FileId, depth: usize) {
        let text = self.sources.file(id).text.clone();
        let mut parse_text = String::with_capacity(text.len());
        let mut conds: Vec<Cond> = Vec::new();
        let mut in_comment = false;
        let mut lines = LineIter::new(&text);
        while let Some((start, line)) = lines.next() {
            let active = conds.last().is_none_or(|c| c.active);
            let directive = !in_comment && line.trim_start_matches([' ', '\t']).starts_with('#');
            if !directive {
                scan_comments(line, &mut in_comment);
                if active {
                    parse_text.push_str(line);
                } else {
                    blank(&mut parse_text, line);
                }
                continue;
            }
            // A directive, with its `\`-continued lines.
            let mut end = start + line.len();
            blank(&mut parse_text, line);
            while text[..end].trim_end_matches(['\n', '\r']).ends_with('\\') {
                let Some((_, more)) = lines.next() else { break };
                blank(&mut parse_text, more);
                end += more.len();
            }
            let raw = &text[start..end];
            let (mut logical, mut open_comment) = directive_text(raw);
            // A comment open at the line's end is one space, as in C: the
            // directive goes on after it, on the line where it closes.
            while open_comment {
                let Some((_, more)) = lines.next() else { break };
                blank(&mut parse_text, more);
                if let Some(c) = more.find("*/") {
                    let (after, open) = directive_text(&more[c + 2..]);
                    logical.push_str(&after);
                    open_comment = open;
                }
            }
            let hash = start + (raw.len() - raw.trim_start_matches([' ', '\t']).len());
            let span = Span::new(id, hash, start + raw.trim_end().len());
            self.directive(&logical, span, active, &mut conds, id, depth);
        }
        for c in conds {
            self.out.diagnostics.push(
                Diagnostic::error(c.span, "unterminated conditional")
                    .with_label("this has no `#endif` in the same file"),
            );
        }
        self.sources.set_parse_text(id, parse_text);
    }

    fn directive(
        &mut self,
        logical: &str,
        span: Span,
        active: bool,
        conds: &mut Vec<Cond>,
        file: FileId,
        depth: usize,
    ) {
        let body = logical.trim_start()[1..].trim_start();
        let name_len = body
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(body.len());
        let (name, rest) = body.split_at(name_len);
        let rest = rest.trim();
        match name {
            "if" | "ifdef" | "ifndef" => {
                let taken = active && self.condition(name, rest, span);
                conds.push(Cond {
                    outer: active,
                    taken,
                    active: taken,
                    seen_else: false,
                    span,
                });
            }
            "elif" | "else" | "endif" => {
                let Some(c) = conds.last_mut() else {
                    self.error(span, format!("`#{name}` without `#if`"));
                    return;
                };
                match name {
                    "endif" => {
                        conds.pop();
                    }
                    _ if c.seen_else => {
                        let prev = c.span;
                        let d = Diagnostic::error(span, format!("`#{name}` after `#else`"))
                            .with_secondary(prev, "the `#else` is here");
                        c.active = false;
                        self.out.diagnostics.push(d);
                    }
                    "else" => {
                        c.active = c.outer && !c.taken;
                        c.taken = true;
                        c.seen_else = true;
                        c.span = span;
                    }
                    _ => {
                        let (outer, taken) = (c.outer, c.taken);
                        let now = outer && !taken && self.condition("if", rest, span);
                        let c = conds.last_mut().expect("checked above");
                        c.active = now;
                        c.taken |= now;
                    }
                }
            }
            _ if !active => {}
            "define" => self.define(rest, span),
            "undef" => match identifier(rest) {
                Some((n, "")) => {
                    self.macros.remove(n);
                }
                _ => self.error(span, "`#undef` needs one macro name"),
            },
            "include" => self.include(rest, span, file, depth),
            "error" => self.error(span, format!("#error {rest}")),
            "warning" => self
                .out
                .diagnostics
                .push(Diagnostic::warning(span, format!("#warning {rest}"))),
            // The null directive, line control and compiler hints.
            "" | "line" | "pragma" | "ident" | "sccs" => {}
            _ if name.starts_with(|c: char| c.is_ascii_digit()) => {}
            _ => self.out.diagnostics.push(
                Diagnostic::error(span, format!("unknown preprocessor directive `#{name}`"))
                    .with_note(
                        "the built-in preprocessor knows #define, #undef, #if, #ifdef, #ifndef, \
                         #elif, #else, #endif, #include, #error, #warning; \
                         `--cpp` runs the system's C preprocessor instead",
                    ),
            ),
        }
    }

    /// Evaluates `#if EXPR`, `#ifdef NAME` or `#ifndef NAME`.
    fn condition(&mut self, kind: &str, rest: &str, span: Span) -> bool {
        if kind != "if" {
            return match identifier(rest) {
                Some((n, "")) => self.macros.contains_key(n) == (kind == "ifdef"),
                _ => {
                    self.error(span, format!("`#{kind}` needs one macro name"));
                    false
                }
            };
        }
        if rest.is_empty() {
            self.error(span, "`#if` with no expression");
            return false;
        }
        match expr::tokenize(rest).and_then(|t| expr::evaluate(&t, &self.macros, &mut self.budget))
        {
            Ok(v) => v.value() != 0,
            Err(e) => {
                self.error(span, e);
                false
            }
        }
    }

    fn define(&mut self, rest: &str, span: Span) {
        let Some((name, after)) = identifier(rest) else {
            self.error(span, "`#define` needs a macro name");
            return;
        };
        if name == "defined" {
            self.error(span, "`defined` cannot be a macro name");
            return;
        }
        let (params, body) = match after.strip_prefix('(') {
            // `NAME(` with no space: a function-like macro.
            Some(p) => {
                let Some(close) = p.find(')') else {
                    self.error(span, "missing `)` in the macro's parameter list");
                    return;
                };
                let params = p[..close]
                    .split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect();
                (Some(params), p[close + 1..].trim())
            }
            None => (None, after.trim()),
        };
        let written = self.sources.snippet(span);
        let keyword_end = written.find("define").map_or(0, |i| i + "define".len());
        let offset = span.start as usize
            + written[keyword_end..]
                .find(name)
                .map_or(0, |i| keyword_end + i);
        let name_span = Span::new(span.file, offset, offset + name.len());
        let m = Macro {
            params,
            body: body.to_owned(),
            span: Some(name_span),
        };
        if let Some(prev) = self.macros.get(name) {
            if prev.params != m.params || prev.body != m.body {
                let mut d = Diagnostic::warning(name_span, format!("`{name}` redefined"));
                if let Some(p) = prev.span {
                    d = d.with_secondary(p, "previously defined here");
                }
                self.out.diagnostics.push(d);
            }
        }
        self.macros.insert(name.to_owned(), m);
    }

    fn include(&mut self, rest: &str, span: Span, from: FileId, depth: usize) {
        let (target, local) = match (rest.chars().next(), rest.get(1..)) {
            (Some('"'), Some(r)) if r.contains('"') => (&r[..r.find('"').unwrap_or(0)], true),
            (Some('<'), Some(r)) if r.contains('>') => (&r[..r.find('>').unwrap_or(0)], false),
            _ => {
                self.error(span, "`#include` expects \"FILE\" or <FILE>");
                return;
            }
        };
        if depth + 1 >= MAX_INCLUDE_DEPTH {
            self.error(
                span,
                format!("#include nested more than {MAX_INCLUDE_DEPTH} levels"),
            );
            return;
        }
        let mut candidates = Vec::new();
        if local {
            let here = Path::new(&self.sources.file(from).name);
            let dir = here.parent().unwrap_or(Path::new(""));
            candidates.push(dir.join(target));
        }
        candidates.extend(self.options.include_dirs.iter().map(|d| d.join(target)));
        for name in &candidates {
            let path = self.options.base_dir.join(name);
            let key = path_key(&path);
            if self.read.contains_key(&key) {
                return;
            }
            match self.fs.read(&path) {
                Ok(text) => {
                    self.included_bytes += text.len() as u64;
                    if self.included_bytes > MAX_TOTAL_INCLUDE_BYTES {
                        self.error(
                            span,
                            format!(
                                "the included files come to more than \
                                 {MAX_TOTAL_INCLUDE_BYTES} bytes"
                            ),
                        );
                        return;
                    }
                    let id = self.sources.add(name.display().to_string(), text);
                    self.read.insert(key, id);
                    self.out.dependencies.push(path);
                    self.file(id, depth + 1);
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    self.error(span, format!("cannot read `{}`: {e}", path.display()));
                    return;
                }
            }
        }
        let searched: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
        self.out.diagnostics.push(
            Diagnostic::error(span, format!("cannot find `{target}`")).with_note(
                if searched.is_empty() {
                    "no include directory is set (`-I DIR`)".to_owned()
                } else {
                    format!("looked for {}", searched.join(", "))
                },
            ),
        );
    }

    fn error(&mut self, span: Span, message: impl Into<String>) {
        self.out.diagnostics.push(Diagnostic::error(span, message));
    }
}

/// Lines with their start offsets, each with its line ending.
struct LineIter<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> LineIter<'a> {
    fn new(text: &'a str) -> Self {
        LineIter { text, at: 0 }
    }
}

impl<'a> Iterator for LineIter<'a> {
    type Item = (usize, &'a str);
    fn next(&mut self) -> Option<(usize, &'a str)> {
        if self.at >= self.text.len() {
            return None;
        }
        let start = self.at;
        let end = self.text[start..]
            .find('\n')
            .map_or(self.text.len(), |i| start + i + 1);
        self.at = end;
        Some((start, &self.text[start..end]))
    }
}

/// Appends `line` with every byte but line endings turned into a space,
/// so offsets in the result match the original.
fn blank(out: &mut String, line: &str) {
    out.extend(line.bytes().map(|b| {
        if b == b'\n' || b == b'\r' {
            b as char
        } else {
            ' '
        }
    }));
}

/// Follows C's comment state through one line: `/* */` (possibly left
/// open), `//`, and string and character literals that end at the line's
/// end at the latest.
fn scan_comments(line: &str, in_comment: &mut bool) {
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if *in_comment {
            match line[i..].find("*/") {
                Some(j) => {
                    *in_comment = false;
                    i += j + 2;
                }
                None => return,
            }
            continue;
        }
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'*') => {
                *in_comment = true;
                i += 2;
            }
            b'/' if b.get(i + 1) == Some(&b'/') => return,
            q @ (b'"' | b'\'') => {
                i += 1;
                while i < b.len() && b[i] != q && b[i] != b'\n' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
}

/// A directive's text with continuations joined and comments removed, and
/// whether a `/*` on it is still open at its end.
fn directive_text(raw: &str) -> (String, bool) {
    let joined = raw.replace("\\\r\n", "").replace("\\\n", "");
    let mut out = String::with_capacity(joined.len());
    // One pass: `kept` is where the text not yet copied starts.
    let b = joined.as_bytes();
    let (mut i, mut kept) = (0, 0);
    while i + 1 < b.len() {
        match (b[i], b[i + 1]) {
            (b'/', b'*') => {
                out.push_str(&joined[kept..i]);
                out.push(' ');
                match joined[i + 2..].find("*/") {
                    Some(e) => {
                        i += 2 + e + 2;
                        kept = i;
                    }
                    None => return (out, true),
                }
            }
            (b'/', b'/') => {
                out.push_str(&joined[kept..i]);
                return (out, false);
            }
            _ => i += 1,
        }
    }
    out.push_str(&joined[kept..]);
    (out, false)
}

/// The identifier at the start of `s` and what follows it.
fn identifier(s: &str) -> Option<(&str, &str)> {
    let s = s.trim_start();
    let first = s.chars().next()?;
    if !(first.is_ascii_alphabetic() || first == '_') {
        return None;
    }
    let len = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    Some((&s[..len], s[len..].trim_end()))
}

#[cfg(test)]
mod tests;
