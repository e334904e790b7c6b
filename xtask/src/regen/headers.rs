//! Constants and enums from libvirt's public C headers.
//!
//! Only the two forms libvirt uses for the values the protocol needs:
//! `# define NAME (expression)` and members of `typedef enum { ... } NAME;`
//! with optional `= expression`. Expressions are integers, names defined
//! earlier, `+ - | <<` and parentheses.

use std::collections::HashMap;

/// One enum member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Its C name.
    pub name: String,
    /// Its value.
    pub value: i64,
    /// The comment after it, without delimiters.
    pub doc: String,
}

/// `(name, value text)` of every `# define NAME value` line, in order.
fn define_lines(text: &str) -> impl Iterator<Item = (&str, &str)> {
    text.lines().filter_map(|line| {
        let rest = line.trim_start().strip_prefix('#')?;
        let rest = rest.trim_start().strip_prefix("define")?;
        let mut parts = rest.trim().splitn(2, char::is_whitespace);
        Some((parts.next()?, parts.next()?))
    })
}

/// `# define NAME expr` lines and enum members of a header, by name.
pub fn constants(text: &str) -> HashMap<String, i64> {
    let mut out = HashMap::new();
    for (name, expr) in define_lines(text) {
        if let Some(v) = eval(strip_comments(expr).trim(), &out) {
            out.insert(name.to_owned(), v);
        }
    }
    for block in enum_blocks(text) {
        for m in members(&block.1, &HashMap::new()).0 {
            out.insert(m.name, m.value);
        }
    }
    out
}

/// The members of `typedef enum { ... } name;`.
pub fn enumeration(text: &str, name: &str) -> Option<Vec<Member>> {
    enum_blocks(text)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, body)| members(&body, &HashMap::new()).0)
}

/// One `typedef enum` of a header, with its documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CEnum {
    /// Its C name (`virDomainState`).
    pub name: String,
    /// The text of its `/** name: ... */` comment, if any.
    pub doc: String,
    /// Its members, `_LAST` sentinels left out.
    pub members: Vec<Member>,
    /// Its `VIR_ENUM_SENTINELS` member (`VIR_DOMAIN_LAST`), if any.
    pub sentinel: Option<String>,
}

/// Every `typedef enum` of a header. Member values may use `known`
/// (constants of headers read before) and earlier members of any enum of
/// this header; a member whose value cannot be evaluated is an error.
pub fn enums(text: &str, known: &HashMap<String, i64>) -> Result<Vec<CEnum>, String> {
    let mut names = known.clone();
    let mut out = Vec::new();
    for (name, body) in enum_blocks(text) {
        let (members, unknown) = members(&body, &names);
        if let Some(bad) = unknown.first() {
            return Err(format!("enum {name}: cannot evaluate the value of {bad}"));
        }
        for m in &members {
            names.insert(m.name.clone(), m.value);
        }
        out.push(CEnum {
            doc: doc_comment(text, &name).unwrap_or_default(),
            sentinel: sentinel(&body),
            name,
            members,
        });
    }
    Ok(out)
}

/// The `..._LAST` member of an enum body.
fn sentinel(body: &str) -> Option<String> {
    body.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .find(|w| w.starts_with("VIR_") && w.ends_with("_LAST"))
        .map(str::to_owned)
}

/// The string tables of `VIR_ENUM_IMPL(name, SENTINEL, N_("a"), ...)` in C
/// source (virsh's names for the API's values), as `(sentinel, strings)`.
pub fn enum_impls(text: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for (at, _) in text.match_indices("VIR_ENUM_IMPL(") {
        let rest = &text[at + "VIR_ENUM_IMPL(".len()..];
        let Some(end) = rest.find(");") else { continue };
        let body = &rest[..end];
        let mut parts = body.splitn(3, ',');
        let (Some(_name), Some(sentinel), Some(values)) =
            (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        // Each value is a string literal, bare or in N_(...).
        let mut strings = Vec::new();
        let mut ok = true;
        for v in values.split(',').map(str::trim).filter(|v| !v.is_empty()) {
            let v = v
                .strip_prefix("N_(")
                .and_then(|v| v.strip_suffix(')'))
                .unwrap_or(v);
            match v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
                Some(s) if !s.contains(['"', '\\']) => strings.push(s.to_owned()),
                _ => ok = false,
            }
        }
        if ok {
            out.push((sentinel.trim().to_owned(), strings));
        }
    }
    out
}

/// The value of a documented `# define`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DefineValue {
    /// A string literal (typed-parameter and field names).
    Str(String),
    /// An integer expression.
    Int(i64),
}

/// A `# define VIR_NAME value` with its documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Define {
    /// Its C name.
    pub name: String,
    /// Its value.
    pub value: DefineValue,
    /// The text of its `/** NAME: ... */` comment.
    pub doc: String,
}

/// The `# define VIR_...` constants of a header that have a `/** NAME: */`
/// comment, a string literal or integer expression as value (macros with
/// arguments, casts and aliases of enum members are not constants here),
/// in order.
pub fn documented_defines(
    text: &str,
    known: &HashMap<String, i64>,
    enum_members: &std::collections::HashSet<String>,
) -> Vec<Define> {
    let mut out = Vec::new();
    for (name, expr) in define_lines(text) {
        if !name.starts_with("VIR_") || name.contains('(') {
            continue;
        }
        let Some(doc) = doc_comment(text, name) else {
            continue;
        };
        let expr = strip_comments(expr);
        let expr = expr.trim();
        let value = if let Some(lit) = expr.strip_prefix('"').and_then(|e| e.strip_suffix('"')) {
            if lit.contains(['"', '\\']) {
                continue;
            }
            DefineValue::Str(lit.to_owned())
        } else if enum_members.contains(expr) {
            continue;
        } else if let Some(v) = eval(expr, known) {
            DefineValue::Int(v)
        } else {
            continue;
        };
        out.push(Define {
            name: name.to_owned(),
            value,
            doc,
        });
    }
    out
}

/// The body of the `/** NAME: ... */` comment documenting `name`, with the
/// leading ` * ` of each line removed and the `NAME:` line left out.
fn doc_comment(text: &str, name: &str) -> Option<String> {
    let marker = format!("/**\n * {name}:");
    let start = text.find(&marker)? + marker.len();
    let end = start + text[start..].find("*/")?;
    let lines: Vec<&str> = text[start..end]
        .lines()
        .map(|l| {
            let l = l.trim();
            l.strip_prefix('*')
                .map_or(l, |r| r.strip_prefix(' ').unwrap_or(r))
        })
        .collect();
    // The rest of the `NAME:` line starts the text.
    Some(lines.join("\n").trim().to_owned())
}

/// `(name, body)` of every `typedef enum { body } name;`.
fn enum_blocks(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("typedef enum") {
        let after = &rest[start..];
        let (Some(open), Some(close)) = (after.find('{'), after.find('}')) else {
            break;
        };
        if close < open {
            rest = &after[close + 1..];
            continue;
        }
        let body = after[open + 1..close].to_owned();
        let tail = &after[close + 1..];
        let name: String = tail
            .trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        out.push((name, body));
        rest = tail;
    }
    out
}

/// Members of an enum body, with implicit values counted on and the
/// `VIR_ENUM_SENTINELS` `_LAST` member left out; values may name `outer`
/// constants. Also the names of members whose value cannot be evaluated.
fn members(body: &str, outer: &HashMap<String, i64>) -> (Vec<Member>, Vec<String>) {
    // A comment on a member's line is that member's; a comment on a line
    // of its own is the next member's.
    let mut items: Vec<(String, String)> = Vec::new();
    let mut pending = String::new();
    let mut pending_doc = String::new();
    let mut above = String::new();
    let mut new_line = true;
    let mut newlines_since_comment = 0;
    // A comment's words, without the `*` starting its lines.
    let append = |doc: &mut String, text: &str| {
        let words: Vec<&str> = text
            .lines()
            .map(|l| l.trim().trim_start_matches('*'))
            .flat_map(str::split_whitespace)
            .collect();
        if words.is_empty() {
            return;
        }
        if !doc.is_empty() {
            doc.push(' ');
        }
        doc.push_str(&words.join(" "));
    };
    let mut chars = body.char_indices().peekable();
    let mut in_directive = false;
    while let Some((i, c)) = chars.next() {
        if c == '/' && body[i..].starts_with("/*") {
            let end = body[i..].find("*/").map_or(body.len(), |e| i + e + 2);
            let comment = body[i + 2..end.saturating_sub(2).max(i + 2)].trim();
            if !pending.trim().is_empty() {
                append(&mut pending_doc, comment);
            } else if let Some(last) = items.last_mut().filter(|_| !new_line) {
                append(&mut last.1, comment);
            } else {
                // Comments apart from the member by a blank line are not
                // its documentation.
                if newlines_since_comment > 1 {
                    above.clear();
                }
                append(&mut above, comment);
            }
            newlines_since_comment = 0;
            while chars.peek().is_some_and(|&(j, _)| j < end) {
                chars.next();
            }
            continue;
        }
        if c == '#' {
            in_directive = true;
        }
        if c == '\n' {
            in_directive = false;
            new_line = true;
            newlines_since_comment += 1;
        }
        if in_directive {
            continue;
        }
        if c == ',' {
            let mut doc = std::mem::take(&mut above);
            if !pending_doc.is_empty() {
                append(&mut doc, &std::mem::take(&mut pending_doc));
            }
            items.push((std::mem::take(&mut pending), doc));
            new_line = false;
        } else {
            // A member starts: comments above it and a blank line apart
            // are not its.
            if pending.trim().is_empty() && !c.is_whitespace() && newlines_since_comment > 1 {
                above.clear();
            }
            pending.push(c);
        }
    }
    if !pending.trim().is_empty() {
        let mut doc = above;
        if !pending_doc.is_empty() {
            append(&mut doc, &pending_doc);
        }
        items.push((pending, doc));
    }
    let mut known: HashMap<String, i64> = outer.clone();
    let mut next = 0i64;
    let mut out = Vec::new();
    let mut unknown = Vec::new();
    for (item, doc) in items {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let (name, value) = match item.split_once('=') {
            Some((n, e)) => (n.trim(), eval(e.trim(), &known)),
            None => (item, Some(next)),
        };
        if name.ends_with("_LAST") {
            continue;
        }
        let Some(value) = value else {
            unknown.push(name.to_owned());
            continue;
        };
        known.insert(name.to_owned(), value);
        next = value + 1;
        out.push(Member {
            name: name.to_owned(),
            value,
            doc,
        });
    }
    (out, unknown)
}

fn strip_comments(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("/*") {
        out.push_str(&rest[..i]);
        rest = rest[i..].find("*/").map_or("", |e| &rest[i + e + 2..]);
    }
    out.push_str(rest);
    out
}

/// Evaluates a small C integer expression.
pub fn eval(expr: &str, names: &HashMap<String, i64>) -> Option<i64> {
    let tokens = tokenize(expr)?;
    let mut p = Parser {
        tokens,
        pos: 0,
        names,
    };
    let v = p.or()?;
    (p.pos == p.tokens.len()).then_some(v)
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(i64),
    Name(String),
    Op(&'static str),
}

fn tokenize(s: &str) -> Option<Vec<Tok>> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i] as char;
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() {
            let start = i;
            while i < b.len() && (b[i] as char).is_ascii_alphanumeric() {
                i += 1;
            }
            let lit = s[start..i].trim_end_matches(['U', 'u', 'L', 'l']);
            let v = match lit.strip_prefix("0x").or_else(|| lit.strip_prefix("0X")) {
                Some(h) => i64::from_str_radix(h, 16).ok()?,
                None => lit.parse().ok()?,
            };
            out.push(Tok::Num(v));
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < b.len() && ((b[i] as char).is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            out.push(Tok::Name(s[start..i].to_owned()));
        } else if s[i..].starts_with("<<") {
            out.push(Tok::Op("<<"));
            i += 2;
        } else {
            let op = match c {
                '+' => "+",
                '-' => "-",
                '|' => "|",
                '(' => "(",
                ')' => ")",
                _ => return None,
            };
            out.push(Tok::Op(op));
            i += 1;
        }
    }
    Some(out)
}

struct Parser<'a> {
    tokens: Vec<Tok>,
    pos: usize,
    names: &'a HashMap<String, i64>,
}

impl Parser<'_> {
    fn eat(&mut self, op: &'static str) -> bool {
        if self.tokens.get(self.pos) == Some(&Tok::Op(op)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn or(&mut self) -> Option<i64> {
        let mut v = self.shift()?;
        while self.eat("|") {
            v |= self.shift()?;
        }
        Some(v)
    }

    fn shift(&mut self) -> Option<i64> {
        let mut v = self.sum()?;
        while self.eat("<<") {
            v = v.checked_shl(u32::try_from(self.sum()?).ok()?)?;
        }
        Some(v)
    }

    fn sum(&mut self) -> Option<i64> {
        let mut v = self.atom()?;
        loop {
            if self.eat("+") {
                v = v.checked_add(self.atom()?)?;
            } else if self.eat("-") {
                v = v.checked_sub(self.atom()?)?;
            } else {
                return Some(v);
            }
        }
    }

    fn atom(&mut self) -> Option<i64> {
        if self.eat("(") {
            let v = self.or()?;
            return self.eat(")").then_some(v);
        }
        if self.eat("-") {
            return self.atom().map(|v| -v);
        }
        let t = self.tokens.get(self.pos)?.clone();
        self.pos += 1;
        match t {
            Tok::Num(n) => Some(n),
            Tok::Name(n) => self.names.get(&n).copied(),
            Tok::Op(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_defines_and_enums() {
        let h =
            "# define VIR_UUID_BUFLEN (16)\n#define VIR_SECURITY_LABEL_BUFLEN (4096 + 1) /* x */\n\
                 typedef enum {\n    A = 1, /* first */\n    B,     /* second\n  line */\n\
                 # ifdef VIR_ENUM_SENTINELS\n    X_LAST\n# endif\n} thing;\n";
        let c = constants(h);
        assert_eq!(c["VIR_UUID_BUFLEN"], 16);
        assert_eq!(c["VIR_SECURITY_LABEL_BUFLEN"], 4097);
        let m = enumeration(h, "thing").unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(
            (m[1].name.as_str(), m[1].value, m[1].doc.as_str()),
            ("B", 2, "second line")
        );
        assert_eq!(m[0].doc, "first");
        // A comment on a line of its own documents the member below it.
        let h =
            "typedef enum {\n    /* the first */\n    A = 1,\n\n    /*\n     * the\n     * second\n     */\n\
                 B = 2,\n    /* reserved */\n\n    C = 4 /* the third */\n} above;\n";
        let m = enumeration(h, "above").unwrap();
        let docs: Vec<&str> = m.iter().map(|m| m.doc.as_str()).collect();
        assert_eq!(docs, ["the first", "the second", "the third"]);
    }

    #[test]
    fn reads_virsh_enum_tables() {
        let c = "VIR_ENUM_IMPL(virshDomainState,\n              VIR_DOMAIN_LAST,\n\
                 N_(\"no state\"),\n N_(\"running\"),\n);\n\
                 VIR_ENUM_IMPL(virshOdd, VIR_X_LAST, N_(\"a, b\"));\n";
        assert_eq!(
            enum_impls(c),
            [(
                "VIR_DOMAIN_LAST".to_owned(),
                vec!["no state".to_owned(), "running".to_owned()]
            )]
        );
    }

    #[test]
    fn evaluates_expressions() {
        let names = HashMap::from([("A".to_owned(), 4)]);
        assert_eq!(eval("(1 << 3) | A", &names), Some(12));
        assert_eq!(eval("256 + 1", &names), Some(257));
        assert_eq!(eval("-1", &names), Some(-1));
        assert_eq!(eval("B", &names), None);
        assert_eq!(eval("1 +", &names), None);
    }
}
