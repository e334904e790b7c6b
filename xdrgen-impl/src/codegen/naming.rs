//! Every Rust name the generator emits comes from here.
//!
//! XDR names are converted with heck (types and variants UpperCamelCase,
//! fields snake_case, constants SHOUTY_SNAKE_CASE), a caller-given prefix is
//! stripped (`remote_domain_get_info_args` → `DomainGetInfoArgs`), Rust
//! keywords are escaped, and names that would shadow the prelude (`String`,
//! `Vec`, `Option`, ...) or collide with each other keep their prefix or get
//! a numeric suffix. Assignment is deterministic: it depends only on the
//! order names are requested in.

use std::collections::{HashMap, HashSet};

use heck::{ToShoutySnakeCase, ToSnakeCase, ToUpperCamelCase};

/// Words Rust reserves; identifiers equal to one are written `r#word`, or
/// `word_` for the few that cannot be raw.
const KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate",
    "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl",
    "in", "let", "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref",
    "return", "self", "Self", "static", "struct", "super", "trait", "true", "try", "type",
    "typeof", "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

/// Keywords that cannot be raw identifiers.
const NOT_RAW: &[&str] = &["crate", "self", "Self", "super", "_"];

/// Type names that would shadow the prelude or the generated code's own
/// helper names.
const RESERVED_TYPES: &[&str] = &[
    "Box",
    "Clone",
    "Copy",
    "Default",
    "Err",
    "Error",
    "Into",
    "Iterator",
    "None",
    "Ok",
    "Option",
    "Procedure",
    "Result",
    "Self",
    "Some",
    "String",
    "ToString",
    "Vec",
];

/// Escapes a Rust keyword so the name can be used as an identifier.
pub fn escape(name: &str) -> String {
    if NOT_RAW.contains(&name) {
        format!("{name}_")
    } else if KEYWORDS.contains(&name) {
        format!("r#{name}")
    } else {
        name.to_owned()
    }
}

/// Makes a name usable as an identifier: non-alphanumeric characters become
/// `_`, and a leading digit gets a `_` before it.
fn identifier_safe(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// `prefix_rest`, `prefixRest` or `PREFIX_REST` → `rest`, when `name` has
/// the prefix and a name starting with a letter is left. The prefix is
/// matched ignoring case and underscores, so the camel-case prefix
/// `virLockSpaceProtocol` also strips `VIR_LOCK_SPACE_PROTOCOL_PROGRAM`.
pub fn strip_prefix<'a>(name: &'a str, prefix: &str) -> Option<&'a str> {
    let mut wanted = prefix.chars().filter(|c| *c != '_').peekable();
    wanted.peek()?;
    let mut end = None;
    for (i, c) in name.char_indices() {
        if c == '_' {
            continue;
        }
        match wanted.next() {
            Some(w) if w.eq_ignore_ascii_case(&c) => {
                if wanted.peek().is_none() {
                    end = Some(i + c.len_utf8());
                    break;
                }
            }
            _ => return None,
        }
    }
    let rest = &name[end?..];
    // The prefix must end at a word boundary: `_`, or a case change into
    // an upper-case letter (`remoteFoo`), not inside a word (`remotely`).
    let boundary = rest.starts_with('_') || rest.starts_with(|c: char| c.is_ascii_uppercase());
    let rest = rest.strip_prefix('_').unwrap_or(rest);
    (boundary && rest.starts_with(|c: char| c.is_ascii_alphabetic())).then_some(rest)
}

/// The UpperCamelCase form of an XDR name.
pub fn upper_camel(name: &str) -> String {
    identifier_safe(&name.to_upper_camel_case())
}

/// The snake_case form of an XDR name, escaped.
pub fn snake(name: &str) -> String {
    escape(&identifier_safe(&name.to_snake_case()))
}

/// A method name: `prefix` and the snake_case form of an XDR name,
/// escaped as a whole (`qemu_type`, while `TYPE` alone is `r#type`).
///
/// # Errors
/// When `prefix` makes it no identifier (`"a-"`).
pub fn method_name(prefix: &str, name: &str) -> Result<String, String> {
    let out = escape(&format!(
        "{prefix}{}",
        identifier_safe(&name.to_snake_case())
    ));
    if syn::parse_str::<syn::Ident>(&out).is_err() {
        return Err(format!("`{out}` is not a method name (prefix `{prefix}`)"));
    }
    Ok(out)
}

/// The SHOUTY_SNAKE_CASE form of an XDR name.
pub fn shouty(name: &str) -> String {
    identifier_safe(&name.to_shouty_snake_case())
}

/// Hands out unique names in one namespace.
#[derive(Debug, Default)]
pub struct Namespace {
    taken: HashSet<String>,
    /// Per base name, the numeric suffix to try next: every smaller one is
    /// taken, so many clashes on one name cost linear time.
    next_suffix: HashMap<String, u64>,
}

impl Namespace {
    /// A namespace where `reserved` are already taken.
    pub fn with_reserved(reserved: &[&str]) -> Self {
        Namespace {
            taken: reserved.iter().map(|s| (*s).to_owned()).collect(),
            next_suffix: HashMap::new(),
        }
    }

    /// The first of `candidates` not yet taken, or the last one with the
    /// smallest numeric suffix that makes it unique.
    pub fn claim(&mut self, candidates: &[String]) -> String {
        for c in candidates {
            if !self.taken.contains(c) {
                self.taken.insert(c.clone());
                return c.clone();
            }
        }
        let base = candidates.last().map_or("_", String::as_str);
        let next = self.next_suffix.entry(base.to_owned()).or_insert(2);
        loop {
            let c = format!("{base}{next}");
            *next += 1;
            if self.taken.insert(c.clone()) {
                return c;
            }
        }
    }
}

/// Rust names for the top-level items of one generated module.
#[derive(Debug)]
pub struct ModuleNames {
    prefix: Option<String>,
    types: Namespace,
    consts: Namespace,
    type_names: HashMap<String, String>,
    const_names: HashMap<String, String>,
}

impl ModuleNames {
    /// Names for a module whose XDR names may carry `prefix` to strip.
    pub fn new(prefix: Option<&str>) -> Self {
        ModuleNames {
            prefix: prefix.map(str::to_owned),
            types: Namespace::with_reserved(RESERVED_TYPES),
            consts: Namespace::default(),
            type_names: HashMap::new(),
            const_names: HashMap::new(),
        }
    }

    fn candidates(&self, name: &str, convert: fn(&str) -> String) -> Vec<String> {
        let mut c = Vec::new();
        if let Some(rest) = self.prefix.as_deref().and_then(|p| strip_prefix(name, p)) {
            c.push(convert(rest));
        }
        c.push(convert(name));
        c
    }

    /// Registers a type name (call in a fixed order) and returns its Rust name.
    pub fn declare_type(&mut self, name: &str) -> String {
        let candidates = self.candidates(name, upper_camel);
        let rust = self.types.claim(&candidates);
        self.type_names.insert(name.to_owned(), rust.clone());
        rust
    }

    /// Registers a constant name and returns its Rust name.
    pub fn declare_const(&mut self, name: &str) -> String {
        let candidates = self.candidates(name, shouty);
        let rust = self.consts.claim(&candidates);
        self.const_names.insert(name.to_owned(), rust.clone());
        rust
    }

    /// The Rust name of a declared type.
    pub fn type_name(&self, name: &str) -> Option<&str> {
        self.type_names.get(name).map(String::as_str)
    }

    /// The Rust name of a declared constant.
    pub fn const_name(&self, name: &str) -> Option<&str> {
        self.const_names.get(name).map(String::as_str)
    }
}

/// Rust variant names for enum members: the longest prefix of whole
/// `_`-separated words shared by all members is dropped (as long as every
/// name still starts with a letter), then UpperCamelCase, made unique.
pub fn variant_names(members: &[&str]) -> Vec<String> {
    let common = common_word_prefix(members);
    let mut ns = Namespace::with_reserved(&["Self"]);
    members
        .iter()
        .map(|m| {
            let short = &m[common..];
            ns.claim(&[upper_camel(short), upper_camel(m)])
        })
        .collect()
}

/// Byte length of the longest `_`-terminated prefix shared by all names,
/// such that each remainder starts with a letter.
pub fn common_word_prefix(names: &[&str]) -> usize {
    let Some(first) = names.first() else { return 0 };
    let mut best = 0;
    for (i, _) in first.match_indices('_') {
        let prefix = &first[..=i];
        let all = names.iter().all(|n| {
            n.starts_with(prefix)
                && n[prefix.len()..].starts_with(|c: char| c.is_ascii_alphabetic())
        });
        if !all {
            break;
        }
        best = i + 1;
    }
    best
}

/// Field names of one struct: snake_case, escaped, unique.
pub fn field_names(fields: &[&str]) -> Vec<String> {
    let mut ns = Namespace::default();
    fields.iter().map(|f| ns.claim(&[snake(f)])).collect()
}

/// The Rust names of a struct's fields, in order ([`field_names`]).
pub fn struct_field_names(s: &crate::ir::Struct) -> Vec<String> {
    let fields: Vec<&str> = s.fields.iter().map(|f| f.name.as_str()).collect();
    field_names(&fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_names_are_escaped_with_their_prefix() {
        assert_eq!(
            method_name("", "DOMAIN_GET_INFO").unwrap(),
            "domain_get_info"
        );
        assert_eq!(method_name("", "TYPE").unwrap(), "r#type");
        assert_eq!(method_name("qemu_", "TYPE").unwrap(), "qemu_type");
        assert_eq!(method_name("", "SELF").unwrap(), "self_");
        assert_eq!(method_name("", "2ND").unwrap(), "_2nd");
        assert!(method_name("a-", "X")
            .unwrap_err()
            .contains("not a method name"));
    }

    #[test]
    fn converts_case() {
        assert_eq!(
            upper_camel("remote_domain_get_info_args"),
            "RemoteDomainGetInfoArgs"
        );
        assert_eq!(upper_camel("virNetMessageHeader"), "VirNetMessageHeader");
        assert_eq!(snake("callbackID"), "callback_id");
        assert_eq!(snake("nparams"), "nparams");
        assert_eq!(shouty("REMOTE_STRING_MAX"), "REMOTE_STRING_MAX");
        assert_eq!(shouty("maxNameLen"), "MAX_NAME_LEN");
    }

    #[test]
    fn escapes_keywords() {
        assert_eq!(snake("type"), "r#type");
        assert_eq!(snake("match"), "r#match");
        assert_eq!(snake("self"), "self_");
        assert_eq!(snake("super"), "super_");
        assert_eq!(snake("crate"), "crate_");
        assert_eq!(snake("async"), "r#async");
        assert_eq!(snake("flags"), "flags");
    }

    #[test]
    fn makes_odd_names_identifiers() {
        assert_eq!(upper_camel("2d_point"), "_2dPoint");
        // `_` alone is not a usable field name.
        assert_eq!(snake("_"), "__");
    }

    #[test]
    fn strips_prefixes_in_both_styles() {
        assert_eq!(
            strip_prefix("remote_domain_get_info_args", "remote"),
            Some("domain_get_info_args")
        );
        assert_eq!(
            strip_prefix("REMOTE_STRING_MAX", "remote"),
            Some("STRING_MAX")
        );
        assert_eq!(
            strip_prefix("virLockSpaceProtocolNewArgs", "virLockSpaceProtocol"),
            Some("NewArgs")
        );
        assert_eq!(strip_prefix("remote", "remote"), None);
        assert_eq!(strip_prefix("remote_2x", "remote"), None);
        assert_eq!(strip_prefix("other_thing", "remote"), None);
        assert_eq!(strip_prefix("remotely", "remote"), None);
        assert_eq!(
            strip_prefix("VIR_LOCK_SPACE_PROTOCOL_PROGRAM", "virLockSpaceProtocol"),
            Some("PROGRAM")
        );
        assert_eq!(
            strip_prefix("VIR_NET_MESSAGE_MAX", "virNet"),
            Some("MESSAGE_MAX")
        );
    }

    #[test]
    fn stripped_names_avoid_the_prelude_and_collisions() {
        let mut n = ModuleNames::new(Some("remote"));
        assert_eq!(
            n.declare_type("remote_domain_get_info_args"),
            "DomainGetInfoArgs"
        );
        // `remote_string` would become `String` and shadow the prelude.
        assert_eq!(n.declare_type("remote_string"), "RemoteString");
        // Two XDR names that meet on one Rust name.
        assert_eq!(n.declare_type("remote_node"), "Node");
        assert_eq!(n.declare_type("node"), "Node2");
        assert_eq!(n.type_name("remote_node"), Some("Node"));
        assert_eq!(n.declare_const("REMOTE_STRING_MAX"), "STRING_MAX");
    }

    #[test]
    fn variants_drop_the_shared_words() {
        assert_eq!(
            variant_names(&["REMOTE_AUTH_NONE", "REMOTE_AUTH_SASL", "REMOTE_AUTH_POLKIT"]),
            ["None", "Sasl", "Polkit"]
        );
        assert_eq!(
            variant_names(&["VIR_NET_OK", "VIR_NET_ERROR"]),
            ["Ok", "Error"]
        );
        // A remainder starting with a digit keeps more of the name.
        assert_eq!(variant_names(&["MODE_1", "MODE_2"]), ["Mode1", "Mode2"]);
        // One member: its last word.
        assert_eq!(variant_names(&["VIR_LOG_TRUNCATE"]), ["Truncate"]);
        // Different words in camel case that convert to the same name.
        assert_eq!(variant_names(&["A_B", "A_b"]), ["B", "AB"]);
    }

    #[test]
    fn field_names_are_unique() {
        assert_eq!(
            field_names(&["fooBar", "foo_bar", "type"]),
            ["foo_bar", "foo_bar2", "r#type"]
        );
    }

    #[test]
    fn clashing_names_get_the_smallest_free_suffix() {
        let mut ns = Namespace::default();
        let a = || vec!["a".to_owned()];
        assert_eq!(ns.claim(&a()), "a");
        assert_eq!(ns.claim(&a()), "a2");
        assert_eq!(ns.claim(&["a4".to_owned()]), "a4");
        assert_eq!(ns.claim(&a()), "a3");
        assert_eq!(ns.claim(&a()), "a5");
        let many: Vec<String> = (0..10_000).map(|_| ns.claim(&a())).collect();
        assert_eq!(many.last().map(String::as_str), Some("a10005"));
    }
}
