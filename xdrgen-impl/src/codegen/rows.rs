//! Tables the generator lays out itself: one row per line.
//!
//! Most of a large spec's output is regular: a struct's fields with their
//! codecs, a program's procedures. Those parts are invocations of the
//! runtime's macros (`record!`, `procedures!`, `dispatch!`, ...) or static
//! tables, written as [`Rows`]: a head, then one row per field or
//! procedure. Rows go to `xdr_include!` as tokens like everything else,
//! but for a file they are printed here, a row per line, instead of
//! through syn and prettyplease: prettyplease lays the inside of a macro
//! invocation out as running text, and formatting is where most of the
//! generation time goes.

use std::fmt::Write as _;

use proc_macro2::{Delimiter, Spacing, TokenStream, TokenTree};
use quote::quote;

/// A head followed by rows inside a delimiter: `path! { rows }` or
/// `pub static NAME: T = [rows];`.
pub(crate) struct Rows {
    /// Doc comment lines above the head (each with its leading space).
    pub docs: Vec<String>,
    /// What comes before the opening delimiter.
    pub head: TokenStream,
    /// `{}` for a macro invocation, `[]` for an array.
    pub delimiter: Delimiter,
    pub rows: Vec<Row>,
    /// Whether a `;` follows the closing delimiter.
    pub semicolon: bool,
}

/// One line of a table, after its doc comment.
pub(crate) struct Row {
    /// Doc comment lines (each with its leading space).
    pub docs: Vec<String>,
    pub tokens: TokenStream,
}

impl Row {
    pub fn new(tokens: TokenStream) -> Row {
        Row {
            docs: Vec::new(),
            tokens,
        }
    }
}

impl Rows {
    /// A macro invocation `path! { rows }`.
    pub fn invocation(path: TokenStream, rows: Vec<Row>) -> Rows {
        Rows {
            docs: Vec::new(),
            head: quote!(#path!),
            delimiter: Delimiter::Brace,
            rows,
            semicolon: false,
        }
    }

    /// The tokens, as `xdr_include!` hands them to the compiler.
    pub fn tokens(self) -> TokenStream {
        let mut body = TokenStream::new();
        for row in self.rows {
            body.extend(doc_tokens(&row.docs));
            body.extend(row.tokens);
        }
        let group = proc_macro2::Group::new(self.delimiter, body);
        let mut out = doc_tokens(&self.docs);
        out.extend(self.head);
        out.extend([TokenTree::Group(group)]);
        if self.semicolon {
            out.extend(quote!(;));
        }
        out
    }

    /// The text, indented for `depth` enclosing modules.
    pub fn text(self, depth: usize) -> String {
        let indent = "    ".repeat(depth);
        let mut out = String::new();
        for line in &self.docs {
            let _ = writeln!(out, "{indent}///{}", line.trim_end());
        }
        out.push_str(&indent);
        print_tokens(&mut out, self.head);
        let (open, close) = match self.delimiter {
            Delimiter::Bracket => ("[", "]"),
            Delimiter::Parenthesis => ("(", ")"),
            _ => ("{", "}"),
        };
        out.push(' ');
        out.push_str(open);
        out.push('\n');
        for row in self.rows {
            for line in &row.docs {
                let _ = writeln!(out, "{indent}    ///{}", line.trim_end());
            }
            out.push_str(&indent);
            out.push_str("    ");
            print_tokens(&mut out, row.tokens);
            out.push('\n');
        }
        out.push_str(&indent);
        out.push_str(close);
        if self.semicolon {
            out.push(';');
        }
        out.push('\n');
        out
    }
}

fn doc_tokens(lines: &[String]) -> TokenStream {
    lines.iter().map(|l| quote!(#[doc = #l])).collect()
}

/// Appends `tokens` as one line of Rust: spaces between words, after
/// commas and colons, around `=`, `=>`, `+`, `|`, `@` and `/`, none inside
/// paths, generics or calls. The result reads back as the same tokens.
fn print_tokens(out: &mut String, tokens: TokenStream) {
    let mut p = Printer {
        out,
        prev: Prev::Start,
        op: String::new(),
    };
    p.stream(tokens);
    p.flush_op();
}

/// What was printed last, as far as the next token's spacing goes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Prev {
    /// The start of the line or of a delimited group.
    Start,
    /// An identifier or literal.
    Word,
    /// A keyword after which anything is spaced (`as`, `mut`, ...).
    Keyword,
    /// A closing delimiter.
    Close,
    /// An operator followed by a space (`,`, `=`, `=>`, `:`, ...).
    SpaceAfter,
    /// An operator the next token sticks to (`::`, `&`, `<`, `.`, ...).
    NoSpaceAfter,
    /// The `>` closing generics: a word after it is spaced, nothing else.
    GenericClose,
}

struct Printer<'a> {
    out: &'a mut String,
    prev: Prev,
    /// Punctuation joined to what follows, not yet printed.
    op: String,
}

impl Printer<'_> {
    fn stream(&mut self, tokens: TokenStream) {
        for tt in tokens {
            match tt {
                TokenTree::Punct(p) => {
                    self.op.push(p.as_char());
                    if p.spacing() == Spacing::Alone {
                        self.flush_op();
                    }
                }
                TokenTree::Ident(i) => {
                    self.flush_op();
                    self.space_before_word();
                    let start = self.out.len();
                    let _ = write!(self.out, "{i}");
                    self.prev = if is_keyword(&self.out[start..]) {
                        Prev::Keyword
                    } else {
                        Prev::Word
                    };
                }
                TokenTree::Literal(l) => {
                    self.flush_op();
                    self.space_before_word();
                    let _ = write!(self.out, "{l}");
                    self.prev = Prev::Word;
                }
                TokenTree::Group(g) => {
                    self.flush_op();
                    self.group(g.delimiter(), g.stream());
                }
            }
        }
    }

    fn space_before_word(&mut self) {
        if matches!(
            self.prev,
            Prev::Word | Prev::Keyword | Prev::Close | Prev::SpaceAfter | Prev::GenericClose
        ) {
            self.out.push(' ');
        }
    }

    /// Prints the pending operator, spaced by what it is.
    fn flush_op(&mut self) {
        if self.op.is_empty() {
            return;
        }
        let op = std::mem::take(&mut self.op);
        let after_spacer = matches!(self.prev, Prev::Keyword | Prev::SpaceAfter);
        let (space_before, next) = match op.as_str() {
            "," | ";" | ":" => (false, Prev::SpaceAfter),
            "=" | "=>" | "->" | "+" | "|" | "@" | "/" => {
                (self.prev != Prev::Start, Prev::SpaceAfter)
            }
            ">" | ">>" => (false, Prev::GenericClose),
            _ => (after_spacer, Prev::NoSpaceAfter),
        };
        if space_before {
            self.out.push(' ');
        }
        self.out.push_str(&op);
        self.prev = next;
    }

    fn group(&mut self, delimiter: Delimiter, inner: TokenStream) {
        let (open, close) = match delimiter {
            Delimiter::Parenthesis => ("(", ")"),
            Delimiter::Bracket => ("[", "]"),
            Delimiter::Brace => ("{", "}"),
            Delimiter::None => ("", ""),
        };
        let space = match delimiter {
            Delimiter::Brace => self.prev != Prev::Start,
            _ => matches!(self.prev, Prev::Keyword | Prev::SpaceAfter),
        };
        if space {
            self.out.push(' ');
        }
        self.out.push_str(open);
        let padded = delimiter == Delimiter::Brace && !inner.is_empty();
        if padded {
            self.out.push(' ');
        }
        self.prev = Prev::Start;
        self.stream(inner);
        self.flush_op();
        if padded {
            self.out.push(' ');
        }
        self.out.push_str(close);
        self.prev = Prev::Close;
    }
}

fn is_keyword(word: &str) -> bool {
    matches!(
        word,
        "as" | "const"
            | "dyn"
            | "else"
            | "fn"
            | "for"
            | "if"
            | "impl"
            | "in"
            | "let"
            | "match"
            | "mut"
            | "pub"
            | "ref"
            | "return"
            | "static"
            | "struct"
            | "type"
            | "where"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(tokens: TokenStream) -> String {
        let mut out = String::new();
        print_tokens(&mut out, tokens);
        out
    }

    #[test]
    fn rows_print_as_rust_is_written() {
        assert_eq!(
            line(quote!(state: ::xdrgen::rt::Plain<u8> = "state";)),
            r#"state: ::xdrgen::rt::Plain<u8> = "state";"#
        );
        assert_eq!(
            line(
                quote!(A = 1 @ 0: super::super::A as ::x::Opt<::x::Plain<()>> => () as (u8, [u8; 4]);)
            ),
            "A = 1 @ 0: super::super::A as ::x::Opt<::x::Plain<()>> => () as (u8, [u8; 4]);"
        );
        assert_eq!(
            line(quote!(P::new(1, "N", K::Call)
                .acl(&[R::check("a", "b")])
                .stream(D::Read, 1),)),
            r#"P::new(1, "N", K::Call).acl(&[R::check("a", "b")]).stream(D::Read, 1),"#
        );
        assert_eq!(
            line(quote!(pub static T: [I; 2] = )),
            "pub static T: [I; 2] ="
        );
        assert_eq!(line(quote!(x::Y!)), "x::Y!");
        assert_eq!(
            line(quote!(F {
                negated: true,
                flags: &[]
            })),
            "F { negated: true, flags: &[] }"
        );
        assert_eq!(
            line(quote!(Message: Args / ArgsCodec, callback_id;)),
            "Message: Args / ArgsCodec, callback_id;"
        );
        assert_eq!(line(quote!(V.callback_id,)), "V.callback_id,");
    }

    #[test]
    fn printed_rows_read_back_as_the_same_tokens() {
        let samples = [
            quote!(a: ::r::VarArray<::r::Str<8>, 16> = "a"; b: ::r::Boxed<::r::FixedOpaque<65536>> = "b";),
            quote!(X = 1 @ 0 "N": (super::A, ::std::vec::Vec<u8>) as (::r::Plain<super::A>, ::r::Opaque<4>) => u32;),
            quote!(&'static str as &'static [&'static str]),
            quote!(r#type: ::r::Plain<i32> = "type";),
        ];
        for tokens in samples {
            let text = line(tokens.clone());
            let back: TokenStream = text.parse().unwrap();
            assert_eq!(flat(back), flat(tokens), "{text}");
        }
    }

    /// The tokens, without the spacing of punctuation (`<` before `::` is
    /// joined when read back, standing alone when quoted; Rust reads both
    /// the same).
    fn flat(tokens: TokenStream) -> Vec<String> {
        let mut out = Vec::new();
        for tt in tokens {
            match tt {
                TokenTree::Group(g) => {
                    out.push(format!("{:?}(", g.delimiter()));
                    out.extend(flat(g.stream()));
                    out.push(")".to_owned());
                }
                other => out.push(other.to_string()),
            }
        }
        out
    }
}
