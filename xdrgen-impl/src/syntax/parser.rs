//! The `.x` grammar, written with nom over a located input.
//!
//! Grammar: RFC 4506 section 6.3 and RFC 5531 section 12.1, plus the rpcgen
//! extensions libvirt uses (`char`, `short`, `long`, bare `unsigned`, enum
//! members without a value, `%` and `#` lines, `//` comments) and rpcgen's
//! own: string constants, `%` lines inside definitions, and procedure
//! arguments with `*`, `<N>` and names, several per procedure (`-N`).
//!
//! Each top-level definition is parsed on its own; after a syntax error the
//! parser skips to the end of that definition and goes on, so one run
//! reports every independent error. Nesting of inline types is limited so
//! hostile input cannot exhaust the stack.

use std::fmt;

use nom::branch::alt;
use nom::combinator::{cut, opt};
use nom::error::{ErrorKind, ParseError};
use nom::{IResult, Input as _, Parser};
use nom_locate::LocatedSpan;

use crate::diag::{Diagnostic, FileId, Span};
use crate::syntax::annotations;
use crate::syntax::ast::*;
use crate::syntax::trivia;

/// Deepest nesting of inline `struct`/`union`/`enum` bodies accepted.
pub const MAX_NESTING: u32 = 64;

/// What every parser function can see: the file and its comments.
#[derive(Debug)]
pub(crate) struct Ctx {
    file: FileId,
    text: String,
    comments: Vec<Comment>,
}

type In<'a> = LocatedSpan<&'a str, &'a Ctx>;
type PResult<'a, T> = IResult<In<'a>, T, PError>;

/// A syntax error: where, and what would have been accepted there.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PError {
    offset: usize,
    /// What would have been accepted; kept without allocating for the
    /// common single expectation, since failed alternatives are frequent.
    expected: Option<Expected>,
    more_expected: Vec<Expected>,
    /// A complete message that replaces "expected ...".
    message: Option<String>,
}

impl PError {
    fn expected(i: &In<'_>, what: Expected) -> Self {
        PError {
            offset: i.location_offset(),
            expected: Some(what),
            more_expected: Vec::new(),
            message: None,
        }
    }

    fn message(offset: usize, message: impl Into<String>) -> Self {
        PError {
            offset,
            expected: None,
            more_expected: Vec::new(),
            message: Some(message.into()),
        }
    }

    fn into_diagnostic(mut self, ctx: &Ctx) -> Diagnostic {
        // Point at the offending token, not at the blanks before it.
        if let Some(rest) = ctx.text.get(self.offset..) {
            self.offset += trivia::skip(rest).unwrap_or(0);
        }
        let found = describe_token(&ctx.text, self.offset);
        let len = if found == "end of file" {
            0
        } else {
            token_len(&ctx.text[self.offset..])
        };
        let span = Span::new(ctx.file, self.offset, self.offset + len);
        match self.message {
            Some(m) => Diagnostic::error(span, m),
            None => {
                let expected: Vec<String> = self
                    .expected
                    .iter()
                    .chain(&self.more_expected)
                    .map(Expected::to_string)
                    .collect();
                let list = match expected.as_slice() {
                    [] => "something else".to_owned(),
                    [one] => one.clone(),
                    many => format!("one of {}", many.join(", ")),
                };
                Diagnostic::error(span, format!("expected {list}, found {found}"))
                    .with_label(format!("expected {list}"))
            }
        }
    }
}

/// One thing the parser would have accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expected {
    /// A keyword or punctuation, shown in backticks.
    Token(&'static str),
    /// A description such as "an identifier".
    What(&'static str),
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expected::Token(t) => write!(f, "`{t}`"),
            Expected::What(w) => f.write_str(w),
        }
    }
}

impl<'a> ParseError<In<'a>> for PError {
    fn from_error_kind(input: In<'a>, _kind: ErrorKind) -> Self {
        PError {
            offset: input.location_offset(),
            expected: None,
            more_expected: Vec::new(),
            message: None,
        }
    }

    fn append(_input: In<'a>, _kind: ErrorKind, other: Self) -> Self {
        other
    }

    /// Keeps the error that got furthest; merges the expectations of ties.
    fn or(mut self, other: Self) -> Self {
        use std::cmp::Ordering::*;
        match self.offset.cmp(&other.offset) {
            Less => other,
            Greater => self,
            Equal => {
                if self.message.is_some() {
                    return self;
                }
                if other.message.is_some() {
                    return other;
                }
                for e in other.expected.into_iter().chain(other.more_expected) {
                    if self.expected.is_none() {
                        self.expected = Some(e);
                    } else if self.expected != Some(e) && !self.more_expected.contains(&e) {
                        self.more_expected.push(e);
                    }
                }
                self
            }
        }
    }
}

/// Result of parsing one file: the tree (with whatever could be parsed) and
/// the syntax errors.
pub fn parse_file(file: FileId, text: &str) -> (File, Vec<Diagnostic>) {
    let ctx = Ctx {
        file,
        text: text.to_owned(),
        comments: trivia::scan_comments(file, text),
    };
    let mut diags = Vec::new();
    let mut items = Vec::new();
    let mut input = In::new_extra(ctx.text.as_str(), &ctx);
    let mut last_error_line = None;
    // Built at the first error: where each line starts.
    let mut lines: Option<Vec<usize>> = None;
    // Errors past the cap are counted, not kept.
    let mut unreported = 0usize;
    loop {
        let trivia_start = input.location_offset();
        let rest = match ws_top(input) {
            Ok((rest, ())) => rest,
            Err(e) => {
                diags.push(error_of(e).into_diagnostic(&ctx));
                break;
            }
        };
        if rest.fragment().is_empty() {
            break;
        }
        let start = rest.location_offset();
        match item(rest, trivia_start, &mut diags) {
            Ok((after, it)) => {
                items.push(it);
                input = after;
            }
            Err(e) => {
                let err = error_of(e);
                let resume = recover(&ctx.text, start, err.offset);
                // Junk that fails at its first token, on the line of the
                // previous error, is the same mistake again; reporting each
                // piece would repeat the whole line once per piece.
                let line = line_of(
                    lines.get_or_insert_with(|| line_starts(&ctx.text)),
                    err.offset,
                );
                let cascade = err.offset == start && last_error_line == Some(line);
                last_error_line = Some(line);
                if !cascade {
                    if diags.len() < crate::ir::MAX_DIAGNOSTICS {
                        diags.push(err.into_diagnostic(&ctx));
                    } else {
                        unreported += 1;
                    }
                }
                input = rest.take_from(resume - start);
            }
        }
    }
    if unreported > 0 {
        diags.push(Diagnostic::error(
            Span::new(file, text.len(), text.len()),
            format!("{unreported} more syntax errors in this file"),
        ));
    }
    let comments = ctx.comments;
    (
        File {
            file,
            items,
            comments,
        },
        diags,
    )
}

/// The 0-based line of a byte offset.
fn line_of(line_starts: &[usize], offset: usize) -> usize {
    line_starts.partition_point(|&start| start <= offset) - 1
}

/// The byte offset of each line's start (the first is 0).
fn line_starts(text: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .collect()
}

fn error_of(e: nom::Err<PError>) -> PError {
    match e {
        nom::Err::Error(e) | nom::Err::Failure(e) => e,
        nom::Err::Incomplete(_) => PError::message(0, "unexpected end of input"),
    }
}

/// Where to resume after an error at `error` in the item starting at
/// `start`: after the next `;` outside braces, or at the next line that
/// starts a definition, or at the end. Always past `start`.
fn recover(text: &str, start: usize, error: usize) -> usize {
    let bytes = text.as_bytes();
    let mut depth: i64 = 0;
    let mut pos = start;
    while pos < bytes.len() {
        if pos >= error && pos > start && bytes[pos - 1] == b'\n' {
            let line = &text[pos..];
            if [
                "const ", "typedef ", "struct ", "enum ", "union ", "program ", "%", "#",
            ]
            .iter()
            .any(|k| line.starts_with(k))
            {
                return pos;
            }
        }
        if let Ok(n) = trivia::skip(&text[pos..]) {
            if n > 0 {
                pos += n;
                continue;
            }
        } else {
            return bytes.len();
        }
        match bytes[pos] {
            b'{' => depth += 1,
            b'}' => depth -= 1,
            b';' if depth <= 0 && pos >= error => return pos + 1,
            _ => {}
        }
        pos += text[pos..].chars().next().map_or(1, char::len_utf8);
    }
    bytes.len()
}

// ---------------------------------------------------------------- tokens --

const KEYWORDS: &[&str] = &[
    "bool",
    "case",
    "char",
    "const",
    "default",
    "double",
    "enum",
    "float",
    "hyper",
    "int",
    "long",
    "opaque",
    "program",
    "quadruple",
    "short",
    "string",
    "struct",
    "switch",
    "typedef",
    "union",
    "unsigned",
    "version",
    "void",
];

/// Skips blanks, comments and, inside definitions, `%` lines: rpcgen
/// passes those to its C output wherever a line may start, so they are
/// never XDR. Between definitions [`ws_top`] keeps them as items.
fn ws(i: In<'_>) -> PResult<'_, ()> {
    match trivia::skip_with_passthrough(&i.extra.text, i.location_offset()) {
        Ok(n) => Ok((i.take_from(n), ())),
        Err(at) => Err(nom::Err::Failure(PError::message(
            i.location_offset() + at,
            "unterminated comment",
        ))),
    }
}

/// Skips blanks and comments between top-level definitions.
fn ws_top(i: In<'_>) -> PResult<'_, ()> {
    match trivia::skip(i.fragment()) {
        Ok(n) => Ok((i.take_from(n), ())),
        Err(at) => Err(nom::Err::Failure(PError::message(
            i.location_offset() + at,
            "unterminated comment",
        ))),
    }
}

fn span_between(a: &In<'_>, b: &In<'_>) -> Span {
    Span::new(a.extra.file, a.location_offset(), b.location_offset())
}

/// C's integer prefixes, as rpcgen and cpp read them: `0x`/`0X` is hex,
/// a leading `0` octal; the radix and the digits after the prefix.
pub(crate) fn radix_digits(digits: &str) -> (u32, &str) {
    if let Some(h) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        (16, h)
    } else if digits.len() > 1 && digits.starts_with('0') {
        (8, &digits[1..])
    } else {
        (10, digits)
    }
}

fn word_len(s: &str) -> usize {
    s.bytes()
        .position(|b| !(b.is_ascii_alphanumeric() || b == b'_'))
        .unwrap_or(s.len())
}

fn token_len(s: &str) -> usize {
    if let Some(number) = s
        .strip_prefix('-')
        .filter(|n| n.starts_with(|c: char| c.is_ascii_digit()))
    {
        return 1 + word_len(number);
    }
    match word_len(s) {
        0 => s.chars().next().map_or(0, char::len_utf8),
        n => n,
    }
}

fn describe_token(text: &str, offset: usize) -> String {
    let rest = text.get(offset..).unwrap_or_default();
    if rest.is_empty() {
        return "end of file".to_owned();
    }
    let tok = &rest[..token_len(rest)];
    if KEYWORDS.contains(&tok) {
        format!("keyword `{tok}`")
    } else {
        format!("`{tok}`")
    }
}

/// A punctuation token.
fn sym(s: &'static str) -> impl Fn(In<'_>) -> PResult<'_, Span> {
    move |i| {
        let (i, ()) = ws(i)?;
        if i.fragment().starts_with(s) {
            let rest = i.take_from(s.len());
            Ok((rest, span_between(&i, &rest)))
        } else {
            Err(nom::Err::Error(PError::expected(&i, Expected::Token(s))))
        }
    }
}

/// A keyword (not followed by more identifier characters).
fn kw(word: &'static str) -> impl Fn(In<'_>) -> PResult<'_, Span> {
    move |i| {
        let (i, ()) = ws(i)?;
        let n = word_len(i.fragment());
        if &i.fragment()[..n] == word {
            let rest = i.take_from(n);
            Ok((rest, span_between(&i, &rest)))
        } else {
            Err(nom::Err::Error(PError::expected(&i, Expected::Token(word))))
        }
    }
}

/// An identifier that is not a keyword.
fn ident(i: In<'_>) -> PResult<'_, Ident> {
    let (i, ()) = ws(i)?;
    let s = i.fragment();
    let n = word_len(s);
    let starts_ok = s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_');
    if n == 0 || !starts_ok || KEYWORDS.contains(&&s[..n]) {
        return Err(nom::Err::Error(PError::expected(
            &i,
            Expected::What("an identifier"),
        )));
    }
    let rest = i.take_from(n);
    Ok((
        rest,
        Ident {
            name: s[..n].to_owned(),
            span: span_between(&i, &rest),
        },
    ))
}

/// An integer literal: decimal, `0x` hex or `0` octal, optionally negative.
fn literal(i: In<'_>) -> PResult<'_, Value> {
    let (i, ()) = ws(i)?;
    let s = *i.fragment();
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s),
    };
    if !body.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(nom::Err::Error(PError::expected(
            &i,
            Expected::What("a number"),
        )));
    }
    let n = word_len(body);
    let digits = &body[..n];
    let len = n + usize::from(neg);
    let bad = |what: &str| {
        nom::Err::Failure(PError::message(
            i.location_offset(),
            format!("invalid integer literal `{}`: {what}", &s[..len]),
        ))
    };
    let (radix, ds) = radix_digits(digits);
    if ds.is_empty() {
        return Err(bad("no digits"));
    }
    let magnitude = u128::from_str_radix(ds, radix).map_err(|_| {
        if ds.chars().all(|c| c.is_digit(radix)) {
            bad("out of the 64-bit range")
        } else {
            bad("not a valid number")
        }
    })?;
    let value = if neg {
        -(i128::try_from(magnitude).map_err(|_| bad("out of the 64-bit range"))?)
    } else {
        i128::try_from(magnitude).map_err(|_| bad("out of the 64-bit range"))?
    };
    if value < i128::from(i64::MIN) || value > i128::from(u64::MAX) {
        return Err(bad("out of the 64-bit range"));
    }
    let rest = i.take_from(len);
    let span = span_between(&i, &rest);
    Ok((rest, Value::Literal { value, span }))
}

fn value(i: In<'_>) -> PResult<'_, Value> {
    alt((literal, |i| ident(i).map(|(r, id)| (r, Value::Name(id))))).parse(i)
}

// -------------------------------------------------------------- comments --

fn leading_docs(i: &In<'_>, trivia_start: usize) -> Vec<Comment> {
    let ctx = i.extra;
    trivia::leading(&ctx.text, &ctx.comments, trivia_start, i.location_offset())
}

/// The input after blanks, and where the blanks started.
fn at_token(i: In<'_>) -> PResult<'_, usize> {
    let start = i.location_offset();
    let (i, ()) = ws(i)?;
    Ok((i, start))
}

// --------------------------------------------------------------- items --

fn item<'a>(i: In<'a>, trivia_start: usize, diags: &mut Vec<Diagnostic>) -> PResult<'a, Item> {
    let doc = leading_docs(&i, trivia_start);
    let s = *i.fragment();
    if s.starts_with('%') || s.starts_with('#') {
        let n = trivia::logical_line_end(s.as_bytes(), 0);
        let rest = i.take_from(n);
        let span = span_between(&i, &rest);
        let line = s[..n].trim_end_matches('\r');
        let kind = if let Some(p) = line.strip_prefix('%') {
            let joined = p.replace("\\\r\n", "").replace("\\\n", "");
            ItemKind::Passthrough(joined)
        } else {
            diags.push(
                Diagnostic::warning(span, "preprocessor line ignored")
                    .with_note("the file was not preprocessed (`--no-cpp`, or loaded without `cpp::preprocess`)"),
            );
            ItemKind::Directive(line.to_owned())
        };
        return Ok((rest, Item { kind, span, doc }));
    }
    let (rest, kind) = alt((
        const_def,
        typedef_def,
        |i| enum_def(i, diags),
        struct_def,
        union_def,
        program_def,
    ))
    .parse(i)
    .map_err(|e| {
        e.map(|mut err| {
            if err.offset == i.location_offset() && err.message.is_none() {
                err.expected = Some(Expected::What(
                    "a definition (`const`, `typedef`, `enum`, `struct`, `union` or `program`)",
                ));
                err.more_expected.clear();
            }
            err
        })
    })?;
    let span = span_between(&i, &rest);
    Ok((rest, Item { kind, span, doc }))
}

fn const_def(i: In<'_>) -> PResult<'_, ItemKind> {
    let (i, _) = kw("const")(i)?;
    let (i, (name, _)) = cut((ident, sym("="))).parse(i)?;
    match string_lit(i) {
        Ok((i, value)) => {
            let (i, _) = cut(sym(";")).parse(i)?;
            return Ok((i, ItemKind::StringConst { name, value }));
        }
        Err(nom::Err::Error(_)) => {}
        Err(e) => return Err(e),
    }
    let (i, (value, _)) = cut((value, sym(";"))).parse(i)?;
    Ok((i, ItemKind::Const { name, value }))
}

/// rpcgen's string literal: everything up to the next `"` on the same
/// line. rpcgen copies it into C unchanged, where a backslash would start
/// an escape; xdrgen refuses backslashes rather than guess at C's rules.
fn string_lit(i: In<'_>) -> PResult<'_, StringLit> {
    let (i, ()) = ws(i)?;
    let s = *i.fragment();
    let Some(body) = s.strip_prefix('"') else {
        return Err(nom::Err::Error(PError::expected(
            &i,
            Expected::What("a string"),
        )));
    };
    let line = &body[..body.find('\n').unwrap_or(body.len())];
    let Some(end) = line.find('"') else {
        return Err(nom::Err::Failure(PError::message(
            i.location_offset(),
            "unterminated string constant: it must end with `\"` on the same line",
        )));
    };
    let value = &line[..end];
    if let Some(b) = value.find('\\') {
        return Err(nom::Err::Failure(PError::message(
            i.location_offset() + 1 + b,
            "escape sequences are not supported in string constants",
        )));
    }
    let rest = i.take_from(end + 2);
    let span = span_between(&i, &rest);
    Ok((
        rest,
        StringLit {
            value: value.to_owned(),
            span,
        },
    ))
}

fn typedef_def(i: In<'_>) -> PResult<'_, ItemKind> {
    let (i, _) = kw("typedef")(i)?;
    let (i, decl) = cut(|i| declaration(i, 0)).parse(i)?;
    let (i, _) = cut(sym(";")).parse(i)?;
    Ok((i, ItemKind::Typedef(decl)))
}

fn enum_def<'a>(i: In<'a>, diags: &mut Vec<Diagnostic>) -> PResult<'a, ItemKind> {
    let (i, _) = kw("enum")(i)?;
    let (i, name) = cut(ident).parse(i)?;
    let (i, body) = cut(|i| enum_body(i, Some(&mut *diags))).parse(i)?;
    let (i, _) = cut(sym(";")).parse(i)?;
    Ok((i, ItemKind::Enum { name, body }))
}

fn struct_def(i: In<'_>) -> PResult<'_, ItemKind> {
    let (i, _) = kw("struct")(i)?;
    let (i, name) = cut(ident).parse(i)?;
    let (i, body) = cut(|i| struct_body(i, 0)).parse(i)?;
    let (i, _) = cut(sym(";")).parse(i)?;
    Ok((i, ItemKind::Struct { name, body }))
}

fn union_def(i: In<'_>) -> PResult<'_, ItemKind> {
    let (i, _) = kw("union")(i)?;
    let (i, name) = cut(ident).parse(i)?;
    let (i, body) = cut(|i| union_body(i, 0)).parse(i)?;
    let (i, _) = cut(sym(";")).parse(i)?;
    Ok((i, ItemKind::Union { name, body }))
}

// ---------------------------------------------------------------- bodies --

/// `{ A [= v], ... }`. Annotations are parsed when `diags` is given (named
/// enums); inline enums have no procedure annotations.
fn enum_body<'a>(i: In<'a>, mut diags: Option<&mut Vec<Diagnostic>>) -> PResult<'a, EnumBody> {
    let (mut i, open) = sym("{")(i)?;
    if let Ok((_, close)) = sym("}")(i) {
        return Err(nom::Err::Failure(PError::message(
            close.start as usize,
            "an enum needs at least one member",
        )));
    }
    let mut members = Vec::new();
    loop {
        let (j, trivia_start) = at_token(i)?;
        // A trailing comma before `}` is accepted.
        if !members.is_empty() {
            if let Ok((k, close)) = sym("}")(j) {
                let span = open.to(close);
                return Ok((k, EnumBody { members, span }));
            }
        }
        let doc = leading_docs(&j, trivia_start);
        let (j, name) = cut(ident).parse(j)?;
        let (j, value) = opt(|i| {
            let (i, _) = sym("=")(i)?;
            cut(value).parse(i)
        })
        .parse(j)?;
        let annotations = match (&mut diags, doc.iter().rev().find(|c| c.is_doc())) {
            (Some(d), Some(c)) => annotations::parse(c, d),
            _ => Default::default(),
        };
        members.push(EnumMember {
            name,
            value,
            doc,
            annotations,
        });
        if let Ok((k, close)) = sym("}")(j) {
            let span = open.to(close);
            return Ok((k, EnumBody { members, span }));
        }
        let (j, _) = cut(alt((sym(","), sym("}")))).parse(j)?;
        i = j;
    }
}

fn struct_body(i: In<'_>, depth: u32) -> PResult<'_, StructBody> {
    let (i, open) = sym("{")(i)?;
    let mut fields = Vec::new();
    let mut i = i;
    loop {
        if let Ok((j, close)) = sym("}")(i) {
            return Ok((
                j,
                StructBody {
                    fields,
                    span: open.to(close),
                },
            ));
        }
        let (j, field) = cut(|i| field(i, depth)).parse(i)?;
        fields.push(field);
        i = j;
    }
}

/// A declaration followed by `;`, with its leading comments.
fn field(i: In<'_>, depth: u32) -> PResult<'_, Field> {
    let (i, trivia_start) = at_token(i)?;
    let doc = leading_docs(&i, trivia_start);
    let (i, decl) = declaration(i, depth)?;
    let (i, _) = cut(sym(";")).parse(i)?;
    Ok((i, Field { decl, doc }))
}

fn union_body(i: In<'_>, depth: u32) -> PResult<'_, UnionBody> {
    let (i, switch) = kw("switch")(i)?;
    let (i, (_, discriminant, _, _)) =
        cut((sym("("), |i| declaration(i, depth), sym(")"), sym("{"))).parse(i)?;
    let mut arms = Vec::new();
    let mut default = None;
    let mut i = i;
    loop {
        let (j, trivia_start) = at_token(i)?;
        if let Ok((k, close)) = sym("}")(j) {
            if arms.is_empty() && default.is_none() {
                return Err(nom::Err::Failure(PError::message(
                    close.start as usize,
                    "a union needs at least one `case` or `default` arm",
                )));
            }
            return Ok((
                k,
                UnionBody {
                    discriminant,
                    arms,
                    default,
                    span: switch.to(close),
                },
            ));
        }
        let doc = leading_docs(&j, trivia_start);
        if let Ok((k, dspan)) = kw("default")(j) {
            if default.is_some() {
                return Err(nom::Err::Failure(PError::message(
                    dspan.start as usize,
                    "a union has at most one `default` arm",
                )));
            }
            let (k, _) = cut(sym(":")).parse(k)?;
            let (k, mut f) = cut(|i| field(i, depth)).parse(k)?;
            f.doc.splice(0..0, doc);
            default = Some(Box::new(f));
            i = k;
            continue;
        }
        let mut cases = Vec::new();
        let mut k = j;
        while let Ok((l, _)) = kw("case")(k) {
            let (l, (v, _)) = cut((value, sym(":"))).parse(l)?;
            cases.push(v);
            k = l;
        }
        if cases.is_empty() {
            return Err(nom::Err::Failure(PError::expected(
                &j,
                Expected::What("`case`, `default` or `}`"),
            )));
        }
        let (k, mut f) = cut(|i| field(i, depth)).parse(k)?;
        f.doc.splice(0..0, doc);
        arms.push(UnionArm { cases, field: f });
        i = k;
    }
}

// ----------------------------------------------------------- declarations --

fn declaration(i: In<'_>, depth: u32) -> PResult<'_, Declaration> {
    let (i, ()) = ws(i)?;
    if let Ok((rest, span)) = kw("void")(i) {
        return Ok((
            rest,
            Declaration {
                kind: DeclarationKind::Void,
                span,
            },
        ));
    }
    let start = i;
    let (i, ty) = type_spec(i, depth)?;
    let (i, star) = opt(sym("*")).parse(i)?;
    let (i, name) = cut(ident).parse(i)?;
    let (i, shape) = if star.is_some() {
        (i, Shape::Optional)
    } else if let Ok((i, _)) = sym("[")(i) {
        let (i, (v, _)) = cut((value, sym("]"))).parse(i)?;
        (i, Shape::Fixed(v))
    } else if let Ok((i, _)) = sym("<")(i) {
        let (i, (v, _)) = cut((opt(value), sym(">"))).parse(i)?;
        (i, Shape::Variable(v))
    } else {
        (i, Shape::Scalar)
    };
    let span = span_between(&start, &i);
    Ok((
        i,
        Declaration {
            kind: DeclarationKind::Named { ty, name, shape },
            span,
        },
    ))
}

fn type_spec(i: In<'_>, depth: u32) -> PResult<'_, TypeSpec> {
    let (i, ()) = ws(i)?;
    let start = i;
    let (i, kind) = if let Ok((i, _)) = kw("unsigned")(i) {
        let (i, next) = opt(alt((
            kw("int"),
            kw("hyper"),
            kw("char"),
            kw("short"),
            kw("long"),
        )))
        .parse(i)?;
        let kind = match next.map(|s| &start.extra.text[s.range()]) {
            None | Some("int") => TypeSpecKind::UnsignedInt,
            Some("hyper") => TypeSpecKind::UnsignedHyper,
            Some("char") => TypeSpecKind::UnsignedChar,
            Some("short") => TypeSpecKind::UnsignedShort,
            _ => TypeSpecKind::UnsignedLong,
        };
        (i, kind)
    } else if let Ok((i, _)) = kw("enum")(i) {
        if i.fragment().trim_start().starts_with('{') {
            let (i, ()) = nested(i, depth)?;
            let (i, body) = cut(|i| enum_body(i, None)).parse(i)?;
            (i, TypeSpecKind::InlineEnum(body))
        } else {
            named(i, Keyword::Enum)?
        }
    } else if let Ok((i, _)) = kw("struct")(i) {
        if i.fragment().trim_start().starts_with('{') {
            let (i, ()) = nested(i, depth)?;
            let (i, body) = cut(|i| struct_body(i, depth + 1)).parse(i)?;
            (i, TypeSpecKind::InlineStruct(body))
        } else {
            named(i, Keyword::Struct)?
        }
    } else if let Ok((i, _)) = kw("union")(i) {
        if i.fragment().trim_start().starts_with("switch") {
            let (i, ()) = nested(i, depth)?;
            let (i, body) = cut(|i| union_body(i, depth + 1)).parse(i)?;
            (i, TypeSpecKind::InlineUnion(Box::new(body)))
        } else {
            named(i, Keyword::Union)?
        }
    } else {
        let n = word_len(i.fragment());
        let simple = match &i.fragment()[..n] {
            "int" => Some(TypeSpecKind::Int),
            "hyper" => Some(TypeSpecKind::Hyper),
            "long" => Some(TypeSpecKind::Long),
            "char" => Some(TypeSpecKind::Char),
            "short" => Some(TypeSpecKind::Short),
            "float" => Some(TypeSpecKind::Float),
            "double" => Some(TypeSpecKind::Double),
            "quadruple" => Some(TypeSpecKind::Quadruple),
            "bool" => Some(TypeSpecKind::Bool),
            "string" => Some(TypeSpecKind::String),
            "opaque" => Some(TypeSpecKind::Opaque),
            _ => None,
        };
        match simple {
            Some(k) => (i.take_from(n), k),
            None => {
                let (i, name) = ident(i).map_err(|_| {
                    nom::Err::Error(PError::expected(&start, Expected::What("a type")))
                })?;
                (
                    i,
                    TypeSpecKind::Named {
                        keyword: None,
                        name,
                    },
                )
            }
        }
    };
    let span = span_between(&start, &i);
    Ok((i, TypeSpec { kind, span }))
}

/// Fails when another inline body would nest deeper than [`MAX_NESTING`].
fn nested(i: In<'_>, depth: u32) -> PResult<'_, ()> {
    if depth >= MAX_NESTING {
        Err(nom::Err::Failure(PError::message(
            i.location_offset(),
            format!("inline types nested deeper than {MAX_NESTING} levels"),
        )))
    } else {
        Ok((i, ()))
    }
}

fn named(i: In<'_>, keyword: Keyword) -> PResult<'_, TypeSpecKind> {
    let (i, name) = cut(ident).parse(i)?;
    Ok((
        i,
        TypeSpecKind::Named {
            keyword: Some(keyword),
            name,
        },
    ))
}

// -------------------------------------------------------------- programs --

fn program_def(i: In<'_>) -> PResult<'_, ItemKind> {
    let (i, _) = kw("program")(i)?;
    let (i, (name, _)) = cut((ident, sym("{"))).parse(i)?;
    let mut versions = Vec::new();
    let mut i = i;
    loop {
        if let Ok((j, _)) = sym("}")(i) {
            if versions.is_empty() {
                return Err(nom::Err::Failure(PError::expected(
                    &i,
                    Expected::Token("version"),
                )));
            }
            let (j, (_, number, _)) = cut((sym("="), value, sym(";"))).parse(j)?;
            return Ok((
                j,
                ItemKind::Program(ProgramDef {
                    name,
                    versions,
                    number,
                }),
            ));
        }
        let (j, v) = cut(version_def).parse(i)?;
        versions.push(v);
        i = j;
    }
}

fn version_def(i: In<'_>) -> PResult<'_, VersionDef> {
    let (i, trivia_start) = at_token(i)?;
    let doc = leading_docs(&i, trivia_start);
    let start = i;
    let (i, _) = kw("version")(i)?;
    let (i, (name, _)) = cut((ident, sym("{"))).parse(i)?;
    let mut procedures = Vec::new();
    let mut i = i;
    loop {
        if let Ok((j, _)) = sym("}")(i) {
            if procedures.is_empty() {
                return Err(nom::Err::Failure(PError::expected(
                    &i,
                    Expected::What("a procedure"),
                )));
            }
            let (j, (_, number, _)) = cut((sym("="), value, sym(";"))).parse(j)?;
            let span = span_between(&start, &j);
            return Ok((
                j,
                VersionDef {
                    name,
                    procedures,
                    number,
                    span,
                    doc,
                },
            ));
        }
        let (j, p) = cut(procedure_def).parse(i)?;
        procedures.push(p);
        i = j;
    }
}

fn procedure_def(i: In<'_>) -> PResult<'_, ProcedureDef> {
    let (i, trivia_start) = at_token(i)?;
    let doc = leading_docs(&i, trivia_start);
    let start = i;
    let (i, result) = void_or_type(i, false)?;
    let (i, (name, _)) = cut((ident, sym("("))).parse(i)?;
    let (mut i, first) = cut(|i| void_or_type(i, true)).parse(i)?;
    let mut args: Vec<ProcedureType> = first.into_iter().collect();
    while let Ok((j, _)) = sym(",")(i) {
        let (j, t) = cut(|i| procedure_type(i, true)).parse(j)?;
        args.push(t);
        i = j;
    }
    let (i, (_, _, number, _)) = cut((sym(")"), sym("="), value, sym(";"))).parse(i)?;
    let span = span_between(&start, &i);
    Ok((
        i,
        ProcedureDef {
            name,
            result,
            args,
            number,
            span,
            doc,
        },
    ))
}

fn void_or_type(i: In<'_>, argument: bool) -> PResult<'_, Option<ProcedureType>> {
    if let Ok((i, _)) = kw("void")(i) {
        return Ok((i, None));
    }
    let (i, t) = procedure_type(i, argument)?;
    Ok((i, Some(t)))
}

/// A type with an optional `*`, `<N>` or `[N]`; an argument may also have a
/// name, which rpcgen writes before or after the `*` (`pt *p`,
/// `string s<8>`); after `<N>` is accepted too.
fn procedure_type(i: In<'_>, argument: bool) -> PResult<'_, ProcedureType> {
    let (i, ()) = ws(i)?;
    let start = i;
    let (i, ty) = type_spec(i, 0)?;
    let mut name = None;
    let mut i = i;
    if argument {
        if let Ok((j, n)) = ident(i) {
            name = Some(n);
            i = j;
        }
    }
    let (i, shape) = if let Ok((i, _)) = sym("*")(i) {
        (i, Shape::Optional)
    } else if let Ok((i, _)) = sym("[")(i) {
        let (i, (v, _)) = cut((value, sym("]"))).parse(i)?;
        (i, Shape::Fixed(v))
    } else if let Ok((i, _)) = sym("<")(i) {
        let (i, (v, _)) = cut((opt(value), sym(">"))).parse(i)?;
        (i, Shape::Variable(v))
    } else {
        (i, Shape::Scalar)
    };
    let mut i = i;
    if argument && name.is_none() {
        if let Ok((j, n)) = ident(i) {
            name = Some(n);
            i = j;
        }
    }
    let span = span_between(&start, &i);
    Ok((
        i,
        ProcedureType {
            ty,
            shape,
            name,
            span,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> Vec<String> {
        let (_, d) = parse_file(FileId(0), text);
        d.into_iter().map(|d| d.message).collect()
    }

    fn nested_structs(levels: usize) -> String {
        let mut s = String::from("struct outer { ");
        for _ in 0..levels {
            s.push_str("struct { ");
        }
        s.push_str("int x; ");
        for _ in 0..levels {
            s.push_str("} f; ");
        }
        s.push_str("};");
        s
    }

    #[test]
    fn nesting_up_to_the_limit_is_accepted() {
        assert_eq!(
            errors(&nested_structs(MAX_NESTING as usize)),
            Vec::<String>::new()
        );
    }

    #[test]
    fn nesting_beyond_the_limit_is_an_error_not_a_stack_overflow() {
        let e = errors(&nested_structs(100_000));
        assert_eq!(e.len(), 1);
        assert!(e[0].contains("nested deeper"), "{e:?}");
    }

    #[test]
    fn every_truncation_of_a_valid_file_is_handled() {
        let text = "const A = 0x10; /* c */ typedef string s<A>;\n\
                    enum e { X = 1, Y }; union u switch (e d) { case X: int a; default: void; };\n\
                    struct t { s name; u *next; hyper h[2]; };\n\
                    program P { version V { t GET(s, int) = 1; } = 1; } = 0x20000000;\n%pass\n\
                    const H = \"a b\";\nstruct r {\n%x\n int a; };\n\
                    program Q { version W { string<4> F(string s<8>, int *p) = 1; } = 1; } = 2;\n";
        for end in 0..=text.len() {
            let _ = parse_file(FileId(0), &text[..end]);
        }
    }

    #[test]
    fn recovery_reports_independent_errors_and_keeps_good_items() {
        let (file, d) = parse_file(
            FileId(0),
            "const A 1;\nconst B = 2;\nstruct { };\nconst C = 3;\n",
        );
        assert_eq!(d.len(), 2);
        let names: Vec<_> = file
            .items
            .iter()
            .filter_map(|i| match &i.kind {
                ItemKind::Const { name, .. } => Some(name.name.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(names, ["B", "C"]);
    }

    #[test]
    fn unbalanced_braces_do_not_swallow_later_definitions() {
        let e = errors("struct a { int x;\nconst B = ;\nconst C = 1;\n");
        assert_eq!(e.len(), 2, "{e:?}");
    }

    #[test]
    fn repeated_junk_on_one_line_is_reported_once() {
        // Found by fuzzing: one error per `;` made rendering quadratic.
        assert_eq!(errors(&";".repeat(4000)).len(), 1);
        assert_eq!(errors(&"x;".repeat(2000)).len(), 1);
        // Distinct mistakes on one line are still each reported.
        assert_eq!(errors("const A 1; const B = ;").len(), 2);
    }

    #[test]
    fn percent_and_hash_lines_are_kept() {
        let (file, d) = parse_file(FileId(0), "%#include <x.h>\n#define X 1\nconst A = 1;\n");
        assert!(matches!(&file.items[0].kind, ItemKind::Passthrough(t) if t == "#include <x.h>"));
        assert!(matches!(&file.items[1].kind, ItemKind::Directive(t) if t == "#define X 1"));
        assert_eq!(d.len(), 1);
        assert!(!d[0].is_error());
    }

    #[test]
    fn percent_lines_inside_bodies_are_skipped() {
        let (file, d) = parse_file(
            FileId(0),
            "struct s {\n%#define X\n int a;\n  % y\n};\n\
             program P { version V {\n%z\n void F(void) = 1;\n } = 1; } = 1;\n%top\n",
        );
        assert!(d.is_empty(), "{d:?}");
        let ItemKind::Struct { body, .. } = &file.items[0].kind else {
            panic!()
        };
        assert_eq!(body.fields.len(), 1);
        assert!(matches!(&file.items[2].kind, ItemKind::Passthrough(t) if t == "top"));
        // Not at a line start, `%` is still an error.
        assert_eq!(errors("struct s { int a; % b\n};").len(), 1);
    }

    #[test]
    fn string_constants_and_their_errors() {
        let (file, d) = parse_file(FileId(0), "const H = \"ab c\";");
        assert!(d.is_empty());
        assert!(
            matches!(&file.items[0].kind, ItemKind::StringConst { value, .. } if value.value == "ab c")
        );
        assert!(errors("const H = \"a\\n\";")[0].contains("escape"));
        assert!(errors("const H = \"ab\n\";")[0].contains("unterminated"));
    }

    #[test]
    fn procedure_arguments_take_shapes_and_names() {
        let (file, d) = parse_file(
            FileId(0),
            "program P { version V { string<16> F(string s<8>, int *p, pt, opaque<>) = 1; } = 1; } = 1;",
        );
        assert!(d.is_empty(), "{d:?}");
        let ItemKind::Program(p) = &file.items[0].kind else {
            panic!()
        };
        let f = &p.versions[0].procedures[0];
        let names: Vec<Option<&str>> = f
            .args
            .iter()
            .map(|a| a.name.as_ref().map(|n| n.name.as_str()))
            .collect();
        assert_eq!(names, [Some("s"), Some("p"), None, None]);
        assert!(matches!(f.args[1].shape, Shape::Optional));
        assert!(matches!(
            f.result.as_ref().unwrap().shape,
            Shape::Variable(Some(_))
        ));
    }

    #[test]
    fn non_ascii_input_does_not_break_positions() {
        let e = errors("const é = 1;\nconst B = ü;\n");
        assert_eq!(e.len(), 2, "{e:?}");
    }
}
