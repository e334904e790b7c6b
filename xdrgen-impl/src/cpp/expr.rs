//! `#if` expressions: tokens, macro replacement and evaluation.
//!
//! The arithmetic is C's preprocessor arithmetic on `intmax_t` (here
//! `i64`): an unsigned operand (`1u`, a value above `i64::MAX`) makes the
//! operation unsigned, identifiers left after replacement are 0, and
//! `defined NAME` / `defined(NAME)` ask the macro table. Overflow and
//! division by zero are errors rather than wrapped values. Replacement is
//! by tokens, with the names being replaced hidden from themselves so a
//! self-referring macro ends, and bounded in size, nesting and total work
//! so hostile input cannot grow it, overflow the stack or take hours.

use std::collections::HashMap;

use super::Macro;

/// Most tokens one expression may grow to through macro replacement.
const MAX_EXPANDED_TOKENS: usize = 100_000;

/// Deepest nesting of macro replacement (a macro whose body names a macro
/// whose body names ...), far beyond any real header, so that a chain of
/// definitions cannot overflow the stack.
const MAX_EXPANSION_DEPTH: usize = 256;

/// The work macro replacement may do in one preprocessing run, every
/// `#if` and every macro constant together: each replacement counts its
/// body's tokens, each token produced one more. Many expansions each
/// within [`MAX_EXPANDED_TOKENS`] cannot add up to hours.
pub(crate) struct Budget(u64);

impl Budget {
    /// Far beyond what real specifications use (seconds of work at most).
    pub(crate) fn per_run() -> Budget {
        Budget(10_000_000)
    }

    /// Whether nothing is left (later replacements fail at once).
    pub(crate) fn is_spent(&self) -> bool {
        self.0 == 0
    }

    fn spend(&mut self, n: usize) -> Result<(), String> {
        match self.0.checked_sub(n as u64) {
            Some(left) => {
                self.0 = left;
                Ok(())
            }
            None => {
                self.0 = 0;
                Err(
                    "macro replacement in this run did more work than the preprocessor \
                     allows; the macros are too large or nested too much"
                        .to_owned(),
                )
            }
        }
    }
}

/// A preprocessor token of an `#if` line.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Token {
    Number(Num),
    Ident(String),
    Punct(&'static str),
}

/// A value: C's `intmax_t` or `uintmax_t`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Num {
    pub bits: u64,
    pub unsigned: bool,
}

impl Num {
    fn signed(v: i64) -> Num {
        Num {
            bits: v as u64,
            unsigned: false,
        }
    }
    fn truth(b: bool) -> Num {
        Num::signed(i64::from(b))
    }
    fn is_true(self) -> bool {
        self.bits != 0
    }
    /// The value as a wide integer, for constants handed to the resolver.
    pub fn value(self) -> i128 {
        if self.unsigned {
            i128::from(self.bits)
        } else {
            i128::from(self.bits as i64)
        }
    }
}

// Longest first, so `<<` is not read as `<`, `<`.
const PUNCTS: &[&str] = &[
    "<<", ">>", "<=", ">=", "==", "!=", "&&", "||", "(", ")", "!", "~", "*", "/", "%", "+", "-",
    "<", ">", "&", "^", "|", "?", ":", ",",
];

/// Splits an expression into tokens.
pub(crate) fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            out.push(Token::Number(number(&text[start..i])?));
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            out.push(Token::Ident(text[start..i].to_owned()));
        } else if c == b'\'' {
            let (n, len) = char_literal(&text[i..])?;
            out.push(Token::Number(n));
            i += len;
        } else if let Some(p) = PUNCTS.iter().find(|p| text[i..].starts_with(**p)) {
            out.push(Token::Punct(p));
            i += p.len();
        } else {
            let ch = text[i..].chars().next().unwrap_or('?');
            return Err(format!("unexpected `{ch}` in a preprocessor expression"));
        }
    }
    Ok(out)
}

/// An integer literal with C's prefixes and suffixes.
fn number(s: &str) -> Result<Num, String> {
    let bad = || format!("`{s}` is not an integer");
    let digits_end = s
        .trim_end_matches(['u', 'U', 'l', 'L'])
        .len()
        .max(1.min(s.len()));
    let (digits, suffix) = s.split_at(digits_end);
    let unsigned_suffix = suffix.contains(['u', 'U']);
    let (radix, body) = crate::syntax::radix_digits(digits);
    let v = u64::from_str_radix(body, radix).map_err(|_| bad())?;
    Ok(Num {
        bits: v,
        unsigned: unsigned_suffix || v > i64::MAX as u64,
    })
}

/// `'a'` or a simple escape like `'\n'`, `'\0'`, `'\x41'`; returns the
/// value and the literal's length in bytes.
fn char_literal(s: &str) -> Result<(Num, usize), String> {
    let bad = || "malformed character constant".to_owned();
    let rest = &s[1..];
    let end = rest.find('\'').ok_or_else(bad)?;
    let body = match rest.strip_prefix("\\'") {
        Some(after) => &rest[..after.find('\'').ok_or_else(bad)? + 2],
        None => &rest[..end],
    };
    let value = match body.strip_prefix('\\') {
        None => {
            let mut chars = body.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) if c.is_ascii() => c as i64,
                _ => return Err(bad()),
            }
        }
        Some(e) => match e {
            "n" => 10,
            "t" => 9,
            "r" => 13,
            "\\" => 92,
            "'" => 39,
            "\"" => 34,
            "a" => 7,
            "b" => 8,
            "f" => 12,
            "v" => 11,
            _ if e.starts_with('x') => i64::from_str_radix(&e[1..], 16).map_err(|_| bad())?,
            _ => i64::from_str_radix(e, 8).map_err(|_| bad())?,
        },
    };
    Ok((Num::signed(value), body.len() + 2))
}

/// Replaces macros in `tokens` and evaluates the result. `defined` is
/// answered before replacement, as C requires.
pub(crate) fn evaluate(
    tokens: &[Token],
    macros: &HashMap<String, Macro>,
    budget: &mut Budget,
) -> Result<Num, String> {
    let mut expanded = Vec::new();
    expand(tokens, macros, &mut Vec::new(), &mut expanded, budget)?;
    let mut p = Eval {
        tokens: &expanded,
        at: 0,
    };
    let v = p.conditional(true)?;
    match p.tokens.get(p.at) {
        None => Ok(v),
        Some(t) => Err(format!(
            "unexpected {} in a preprocessor expression",
            show(t)
        )),
    }
}

fn expand(
    tokens: &[Token],
    macros: &HashMap<String, Macro>,
    hidden: &mut Vec<String>,
    out: &mut Vec<Token>,
    budget: &mut Budget,
) -> Result<(), String> {
    let mut i = 0;
    while i < tokens.len() {
        match &tokens[i] {
            Token::Ident(d) if d == "defined" => {
                let (name, used) = match (tokens.get(i + 1), tokens.get(i + 2), tokens.get(i + 3)) {
                    (Some(Token::Ident(n)), _, _) => (n, 2),
                    (Some(Token::Punct("(")), Some(Token::Ident(n)), Some(Token::Punct(")"))) => {
                        (n, 4)
                    }
                    _ => return Err("`defined` needs a macro name".to_owned()),
                };
                out.push(Token::Number(Num::truth(macros.contains_key(name))));
                i += used;
                continue;
            }
            Token::Ident(name) if !hidden.contains(name) => {
                if let Some(m) = macros.get(name) {
                    if m.params.is_some() {
                        return Err(format!(
                            "function-like macro `{name}` in `#if` is not supported by the \
                             built-in preprocessor"
                        ));
                    }
                    if hidden.len() >= MAX_EXPANSION_DEPTH {
                        return Err(format!(
                            "macro replacement nests deeper than {MAX_EXPANSION_DEPTH} \
                             macros (at `{name}`)"
                        ));
                    }
                    let body = tokenize(&m.body)?;
                    budget.spend(body.len() + 1)?;
                    hidden.push(name.clone());
                    let r = expand(&body, macros, hidden, out, budget);
                    hidden.pop();
                    r?;
                    i += 1;
                    continue;
                }
                out.push(tokens[i].clone());
            }
            t => out.push(t.clone()),
        }
        budget.spend(1)?;
        if out.len() > MAX_EXPANDED_TOKENS {
            return Err(format!(
                "macro replacement grows past {MAX_EXPANDED_TOKENS} tokens"
            ));
        }
        i += 1;
    }
    Ok(())
}

fn show(t: &Token) -> String {
    match t {
        Token::Number(n) => format!("`{}`", n.value()),
        Token::Ident(s) => format!("`{s}`"),
        Token::Punct(p) => format!("`{p}`"),
    }
}

/// Precedence climbing over C's binary operators.
struct Eval<'a> {
    tokens: &'a [Token],
    at: usize,
}

const BINARY: &[(&str, u8)] = &[
    ("||", 1),
    ("&&", 2),
    ("|", 3),
    ("^", 4),
    ("&", 5),
    ("==", 6),
    ("!=", 6),
    ("<", 7),
    (">", 7),
    ("<=", 7),
    (">=", 7),
    ("<<", 8),
    (">>", 8),
    ("+", 9),
    ("-", 9),
    ("*", 10),
    ("/", 10),
    ("%", 10),
];

/// Deepest nesting of parentheses and unary operators.
const MAX_DEPTH: usize = 256;

impl Eval<'_> {
    fn peek_punct(&self) -> Option<&'static str> {
        match self.tokens.get(self.at) {
            Some(Token::Punct(p)) => Some(p),
            _ => None,
        }
    }

    fn expect(&mut self, p: &str) -> Result<(), String> {
        if self.peek_punct() == Some(p) {
            self.at += 1;
            Ok(())
        } else {
            Err(match self.tokens.get(self.at) {
                Some(t) => format!("expected `{p}`, found {}", show(t)),
                None => format!("expected `{p}` at the end of the expression"),
            })
        }
    }

    /// `a ? b : c`; `live` is false inside a branch that is not taken, where
    /// errors like division by zero do not count (as in C).
    fn conditional(&mut self, live: bool) -> Result<Num, String> {
        self.conditional_at(live, 0)
    }

    fn conditional_at(&mut self, live: bool, depth: usize) -> Result<Num, String> {
        if depth > MAX_DEPTH {
            return Err("preprocessor expression nested too deeply".to_owned());
        }
        let c = self.binary(1, live, depth)?;
        if self.peek_punct() != Some("?") {
            return Ok(c);
        }
        self.at += 1;
        let a = self.conditional_at(live && c.is_true(), depth + 1)?;
        self.expect(":")?;
        let b = self.conditional_at(live && !c.is_true(), depth + 1)?;
        let v = if c.is_true() { a } else { b };
        Ok(Num {
            bits: v.bits,
            unsigned: a.unsigned || b.unsigned,
        })
    }

    fn binary(&mut self, min: u8, live: bool, depth: usize) -> Result<Num, String> {
        let mut lhs = self.unary(live, depth)?;
        while let Some(op) = self.peek_punct() {
            let Some(&(_, prec)) = BINARY.iter().find(|(o, _)| *o == op) else {
                break;
            };
            if prec < min {
                break;
            }
            self.at += 1;
            // Short-circuit: the right side of `0 && x` / `1 || x` is not live.
            let rhs_live = match op {
                "&&" => live && lhs.is_true(),
                "||" => live && !lhs.is_true(),
                _ => live,
            };
            // Left-associative: the right side binds only tighter operators.
            let rhs = self.binary(prec + 1, rhs_live, depth)?;
            lhs = apply(op, lhs, rhs, rhs_live)?;
        }
        Ok(lhs)
    }

    fn unary(&mut self, live: bool, depth: usize) -> Result<Num, String> {
        if depth > MAX_DEPTH {
            return Err("preprocessor expression nested too deeply".to_owned());
        }
        let Some(t) = self.tokens.get(self.at) else {
            return Err("the expression ends where a value was expected".to_owned());
        };
        self.at += 1;
        match t {
            Token::Number(n) => Ok(*n),
            // What is left after replacement names no macro: 0, as in C.
            Token::Ident(_) => Ok(Num::signed(0)),
            Token::Punct("(") => {
                let v = self.conditional_at(live, depth + 1)?;
                self.expect(")")?;
                Ok(v)
            }
            Token::Punct("!") => Ok(Num::truth(!self.unary(live, depth + 1)?.is_true())),
            Token::Punct("~") => {
                let v = self.unary(live, depth + 1)?;
                Ok(Num {
                    bits: !v.bits,
                    unsigned: v.unsigned,
                })
            }
            Token::Punct("+") => self.unary(live, depth + 1),
            Token::Punct("-") => {
                let v = self.unary(live, depth + 1)?;
                if v.unsigned {
                    Ok(Num {
                        bits: v.bits.wrapping_neg(),
                        unsigned: true,
                    })
                } else {
                    match (v.bits as i64).checked_neg() {
                        Some(n) => Ok(Num::signed(n)),
                        None if !live => Ok(v),
                        None => Err("integer overflow in a preprocessor expression".to_owned()),
                    }
                }
            }
            t => Err(format!(
                "unexpected {} in a preprocessor expression",
                show(t)
            )),
        }
    }
}

fn apply(op: &str, a: Num, b: Num, live: bool) -> Result<Num, String> {
    let overflow = || "integer overflow in a preprocessor expression".to_owned();
    let unsigned = a.unsigned || b.unsigned;
    let logical = |v: bool| Ok(Num::truth(v));
    match op {
        "&&" => return logical(a.is_true() && b.is_true()),
        "||" => return logical(a.is_true() || b.is_true()),
        "==" => return logical(a.bits == b.bits),
        "!=" => return logical(a.bits != b.bits),
        "<" | ">" | "<=" | ">=" => {
            let ord = if unsigned {
                a.bits.cmp(&b.bits)
            } else {
                (a.bits as i64).cmp(&(b.bits as i64))
            };
            return logical(match op {
                "<" => ord.is_lt(),
                ">" => ord.is_gt(),
                "<=" => ord.is_le(),
                _ => ord.is_ge(),
            });
        }
        _ => {}
    }
    if (op == "/" || op == "%") && b.bits == 0 {
        return if live {
            Err("division by zero in a preprocessor expression".to_owned())
        } else {
            Ok(Num::signed(0))
        };
    }
    let bits = if unsigned {
        let (x, y) = (a.bits, b.bits);
        match op {
            "+" => x.wrapping_add(y),
            "-" => x.wrapping_sub(y),
            "*" => x.wrapping_mul(y),
            "/" => x / y,
            "%" => x % y,
            "<<" => x.checked_shl(u32::try_from(y).unwrap_or(64)).unwrap_or(0),
            ">>" => x.checked_shr(u32::try_from(y).unwrap_or(64)).unwrap_or(0),
            "&" => x & y,
            "^" => x ^ y,
            _ => x | y,
        }
    } else {
        let (x, y) = (a.bits as i64, b.bits as i64);
        let shift = |y: i64| u32::try_from(y).ok().filter(|s| *s < 64);
        let r = match op {
            "+" => x.checked_add(y),
            "-" => x.checked_sub(y),
            "*" => x.checked_mul(y),
            "/" => x.checked_div(y),
            "%" => x.checked_rem(y),
            "<<" => shift(y).and_then(|s| x.checked_shl(s)),
            ">>" => shift(y).map(|s| x >> s),
            "&" => Some(x & y),
            "^" => Some(x ^ y),
            _ => Some(x | y),
        };
        match r {
            Some(v) => v as u64,
            None if !live => 0,
            None => return Err(overflow()),
        }
    };
    Ok(Num { bits, unsigned })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval_with(text: &str, defs: &[(&str, &str)]) -> Result<i128, String> {
        let macros = defs
            .iter()
            .map(|(n, b)| {
                (
                    (*n).to_owned(),
                    Macro {
                        params: None,
                        body: (*b).to_owned(),
                        span: None,
                    },
                )
            })
            .collect();
        evaluate(&tokenize(text)?, &macros, &mut Budget::per_run()).map(Num::value)
    }

    fn eval(text: &str) -> i128 {
        eval_with(text, &[]).unwrap()
    }

    #[test]
    fn c_precedence_and_associativity() {
        assert_eq!(eval("1 + 2 * 3"), 7);
        assert_eq!(eval("10 - 4 - 3"), 3);
        assert_eq!(eval("1 << 2 + 1"), 8);
        // `|` binds loosest, then `^`, then `&`: 1 | (2 ^ (3 & 6)) = 1 | 0.
        assert_eq!(eval("1 | 2 ^ 3 & 6"), 1);
        assert_eq!(eval("2 > 1 == 1"), 1);
        assert_eq!(eval("0 || 1 && 0"), 0);
        assert_eq!(eval("1 ? 2 : 3 ? 4 : 5"), 2);
        assert_eq!(eval("0 ? 2 : 0 ? 4 : 5"), 5);
        assert_eq!(eval("-(3) * ~0"), 3);
        assert_eq!(eval("!0 + !7"), 1);
    }

    #[test]
    fn literals() {
        assert_eq!(eval("0x1F + 010 + 7UL"), 31 + 8 + 7);
        assert_eq!(eval("'A' + '\\n' + '\\0'"), 65 + 10);
        assert_eq!(eval("-1 < 0u"), 0, "-1 compares as unsigned against 0u");
        assert_eq!(eval("0xFFFFFFFFFFFFFFFF"), i128::from(u64::MAX));
    }

    #[test]
    fn macros_defined_and_unknown_names() {
        let defs = [
            ("RPC_HDR", "1"),
            ("SUM", "A + B"),
            ("A", "2"),
            ("SELF", "SELF + 1"),
        ];
        assert_eq!(eval_with("RPC_HDR", &defs), Ok(1));
        assert_eq!(
            eval_with("defined(RPC_HDR) && !defined RPC_SVC", &defs),
            Ok(1)
        );
        assert_eq!(
            eval_with("SUM * 3", &defs),
            // `A + B * 3` with B undefined (0): 2, not (2 + 0) * 3.
            Ok(2),
            "token replacement, not values"
        );
        assert_eq!(eval_with("UNDEFINED_NAME", &defs), Ok(0));
        assert_eq!(
            eval_with("SELF", &defs),
            Ok(1),
            "a macro is hidden inside itself"
        );
    }

    #[test]
    fn errors_are_reported_not_wrapped() {
        assert!(eval_with("1 / 0", &[])
            .unwrap_err()
            .contains("division by zero"));
        assert!(eval_with("0x7FFFFFFFFFFFFFFF + 1", &[])
            .unwrap_err()
            .contains("overflow"));
        assert_eq!(eval_with("0 && 1 / 0", &[]), Ok(0), "not evaluated");
        assert_eq!(eval_with("1 || 1 / 0", &[]), Ok(1));
        assert!(eval_with("(1", &[]).is_err());
        assert!(eval_with("1 +", &[]).is_err());
        assert!(eval_with("1 2", &[]).is_err());
        assert!(eval_with("defined", &[]).is_err());
        assert!(eval_with("\"s\"", &[]).is_err());
        assert!(eval_with("0x", &[]).is_err());
    }

    #[test]
    fn hostile_inputs_end() {
        let deep = format!("{}1{}", "(".repeat(100_000), ")".repeat(100_000));
        assert!(eval_with(&deep, &[]).is_err());
        let unary = format!("{}1", "-".repeat(100_000));
        assert!(eval_with(&unary, &[]).is_err());
        // Each level doubles: replacement is capped long before memory is.
        let mut defs = vec![("M0".to_owned(), "1".to_owned())];
        for i in 1..64 {
            defs.push((format!("M{i}"), format!("M{} + M{}", i - 1, i - 1)));
        }
        let refs: Vec<(&str, &str)> = defs.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        assert!(eval_with("M63", &refs).unwrap_err().contains("tokens"));
    }
}
