//! `api.rs`: the values of libvirt's C API, from the release's public
//! headers (`include/libvirt/libvirt-*.h`).
//!
//! - Every `typedef enum` that is a set of values becomes a newtype over
//!   its `i32` wire value with an associated constant per member, `name()`
//!   (the C name) and `Display`: a value a newer daemon sends is kept and
//!   printed as its number, never refused.
//! - Every `typedef enum` that is a set of flags becomes a `bitflags` type
//!   over `u32` with unknown bits kept. An enum is a flag set when its name
//!   says so (`...Flags`, `...FlagsValues`, `...FlagValues`), when
//!   libvirt's API documentation (`src/libvirt*.c`) calls an argument a
//!   "bitwise-OR of" it, or when `specs/libvirt.toml` lists it.
//! - Every documented `# define VIR_...` with a string or integer value
//!   (typed-parameter names, limits) becomes a constant.
//!
//! Names drop libvirt's `vir` / `VIR_` prefix; members drop the prefix all
//! members of their enum share, and a lone member the words its enum's
//! name spells ([`member_prefix`]).

use std::collections::{BTreeSet, HashSet};

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};

use super::headers::{CEnum, Define, DefineValue, Member};
use super::spec::Depends;

/// The headers' contents, read in order.
pub struct Headers {
    /// `(path, enums, documented defines)` per header.
    pub files: Vec<(String, Vec<CEnum>, Vec<Define>)>,
    /// Enums the API documentation or the spec file calls flag sets.
    pub flag_sets: BTreeSet<String>,
    /// virsh's and virt-admin's words for values, by the enum's sentinel
    /// (`VIR_DOMAIN_LAST` → "no state", "running", ...), from
    /// `tools/virsh*.c` and `tools/virt-admin.c`.
    pub virsh_names: std::collections::HashMap<String, Vec<String>>,
    /// Values typed by another value (`specs/libvirt.toml`'s `api.depends`).
    pub depends: Vec<Depends>,
}

/// What the module holds, for the module's summary and the tests.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Value enums.
    pub enums: usize,
    /// Flag sets.
    pub flags: usize,
    /// Constants.
    pub constants: usize,
    /// Enums of values typed by another value.
    pub dependent: usize,
}

/// `virDomainState` → `DomainState`.
pub fn rust_type_name(c_name: &str) -> String {
    c_name.strip_prefix("vir").unwrap_or(c_name).to_owned()
}

/// Whether an enum is a flag set: by its name (`...Flags`, `...FlagsValues`,
/// `...FlagValues`) or because `documented` (from the API documentation and
/// the spec file) says so.
pub fn is_flag_set(c_name: &str, documented: &BTreeSet<String>) -> bool {
    ["Flags", "FlagsValues", "FlagValues"]
        .iter()
        .any(|s| c_name.ends_with(s))
        || documented.contains(c_name)
}

/// The enums libvirt's API documentation calls a "bitwise-OR of" (or
/// "binary-OR of", "OR'ed set of", with `enum`, `supported`, `the`,
/// `values from` between) in `text`.
pub fn or_documented(text: &str) -> BTreeSet<String> {
    const FILLER: [&str; 7] = ["of", "enum", "supported", "values", "from", "the", "set"];
    const OR: [&str; 5] = [
        "bitwise-or",
        "binary-or",
        "bitwise or",
        "binary or",
        "or'ed",
    ];
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let lower = line.to_ascii_lowercase();
        for (at, _) in line.match_indices("vir") {
            let name: String = line[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name[3..].starts_with(|c: char| c.is_ascii_uppercase()) {
                continue;
            }
            let mut before = lower[..at].trim_end();
            while let Some(word) = before.rsplit(' ').next().filter(|w| FILLER.contains(w)) {
                before = before[..before.len() - word.len()].trim_end();
            }
            if OR.iter().any(|o| before.ends_with(o)) {
                out.insert(name);
            }
        }
    }
    out
}

/// A C function's name as a key: lowercase letters and digits only, without
/// `vir` (`virDomainGetXMLDesc` → `domaingetxmldesc`), so that a
/// procedure's name (`DOMAIN_GET_XML_DESC`) finds it.
pub fn function_key(name: &str) -> String {
    name.strip_prefix("vir")
        .unwrap_or(name)
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The flag-set arguments libvirt's API documentation gives: for each
/// function (by [`function_key`]), each `@param` documented as an OR of
/// exactly one flag set, with that set's C name.
#[derive(Debug, Default)]
pub struct FlagParams {
    /// Function key → parameter → flag set.
    pub typed: std::collections::HashMap<String, std::collections::HashMap<String, String>>,
    /// `function(param): sets` where the text names several flag sets.
    pub ambiguous: Vec<String>,
    /// `(function key, param)` documented as not used yet (pass 0).
    pub unused: HashSet<(String, String)>,
    /// Every documented function, by key.
    pub documented: HashSet<String>,
}

impl FlagParams {
    /// Reads the `/** virName: @param: text */` blocks of `text`.
    pub fn read(&mut self, text: &str, flag_sets: &BTreeSet<String>) {
        for block in super::c_docs::doc_blocks(text) {
            let name = &block.name;
            self.documented.insert(function_key(name));
            for (param, doc) in block.params {
                let lower = doc.to_ascii_lowercase();
                if ["not used", "unused", "pass 0"]
                    .iter()
                    .any(|w| lower.contains(w))
                {
                    self.unused.insert((function_key(name), param));
                    continue;
                }
                // Documented as an OR: every flag set the text names.
                if or_documented(&doc).is_empty() {
                    continue;
                }
                let mut sets: Vec<String> = doc
                    .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .filter(|w| flag_sets.contains(*w))
                    .map(str::to_owned)
                    .collect();
                sets.dedup();
                match sets.as_slice() {
                    [] => {}
                    [one] => {
                        self.typed
                            .entry(function_key(name))
                            .or_default()
                            .insert(param, one.clone());
                    }
                    many => self
                        .ambiguous
                        .push(format!("{name}({param}): {}", many.join(", "))),
                }
            }
        }
    }
}

/// How many leading bytes of each member's name its constant drops: the
/// longest `_`-ended prefix all members share, followed in each by a
/// letter (so no constant starts with a digit). An enum of one member
/// shares everything with itself, so there the prefix is the member's
/// leading words that spell the start of the enum's own name
/// (`virStorageVolUploadFlags`: `VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM`
/// becomes `SPARSE_STREAM`, not `STREAM`).
fn member_prefix(c_name: &str, members: &[Member]) -> usize {
    match members {
        [] => 0,
        [only] => prefix_of_one(c_name, &only.name),
        [first, ..] => {
            let mut best = 0;
            for (i, _) in first.name.match_indices('_') {
                let p = &first.name[..=i];
                if members.iter().all(|m| {
                    m.name.starts_with(p)
                        && m.name[p.len()..].starts_with(|c: char| c.is_ascii_alphabetic())
                }) {
                    best = i + 1;
                } else {
                    break;
                }
            }
            best
        }
    }
}

/// The leading `_`-ended words of `member` that the enum's own name
/// spells, in order, each starting where a word of `c_name` starts (words
/// of the name may be skipped: `virDomainSetTimeFlags` spells
/// `VIR_DOMAIN_TIME_`; a member word may end inside a name word or span
/// two: `PARAM` in `Parameter`, `PMSUSPENDED` in `PMSuspended`). At least
/// one word is left, and it starts with a letter.
fn prefix_of_one(c_name: &str, member: &str) -> usize {
    let stem = c_name.strip_prefix("vir").unwrap_or(c_name);
    let shouty = format!("VIR_{}", xdrgen::codegen::naming::shouty(stem));
    let mut key = String::new();
    let mut starts = Vec::new();
    for word in shouty.split('_').filter(|w| !w.is_empty()) {
        starts.push(key.len());
        key.push_str(&word.to_ascii_lowercase());
    }
    let mut cursor = 0;
    let mut best = 0;
    for (i, _) in member.match_indices('_') {
        let word = member[best..i].to_ascii_lowercase();
        let found = starts
            .iter()
            .find(|&&p| p >= cursor && key[p..].starts_with(&word));
        let Some(&p) = found else {
            break;
        };
        if !member[i + 1..].starts_with(|c: char| c.is_ascii_alphabetic()) {
            break;
        }
        cursor = p + word.len();
        best = i + 1;
    }
    best
}

/// Each member's Rust constant name: the member without the enum's prefix
/// ([`member_prefix`]), or its whole C name where two would collide.
fn member_names(c_name: &str, members: &[Member]) -> Vec<String> {
    let strip = member_prefix(c_name, members);
    let mut seen = HashSet::new();
    members
        .iter()
        .map(|m| {
            let short = m.name[strip..].to_owned();
            if seen.insert(short.clone()) {
                short
            } else {
                m.name.clone()
            }
        })
        .collect()
}

/// Header text as rustdoc Markdown: characters Markdown or HTML would
/// read (`<disk>`, `[0]`, `*`, backticks) are escaped.
pub fn doc_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '`' | '*' | '<' | '>' | '[' | ']' | '#') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `#[doc]` attributes for a block of text, one per line. Indentation is
/// dropped: four spaces would make a line a Rust code block (a doctest).
fn doc_attrs(text: &str) -> TokenStream {
    let lines = text.lines().map(|l| {
        let l = format!(" {}", doc_text(l.trim()));
        quote!(#[doc = #l])
    });
    quote!(#(#lines)*)
}

/// A type's docs: the header's text, then where it comes from.
fn type_doc(doc: &str, origin: &str) -> TokenStream {
    if doc.is_empty() {
        quote!(#[doc = #origin])
    } else {
        let text = doc_attrs(doc);
        quote!(#text #[doc = ""] #[doc = #origin])
    }
}

fn member_doc(m: &Member) -> String {
    if m.doc.is_empty() {
        format!(" `{}`", m.name)
    } else {
        format!(" `{}`: {}", m.name, doc_text(&m.doc))
    }
}

/// A value enum: a newtype over `i32` with named constants, and with
/// `virsh_name()` when virsh has a word for each value.
pub fn value_enum(
    c_name: &str,
    header: &str,
    doc: &str,
    members: &[Member],
    virsh: Option<&[String]>,
) -> TokenStream {
    let ty = format_ident!("{}", rust_type_name(c_name));
    let doc = type_doc(
        doc,
        &format!(" libvirt's `{c_name}` (`{header}`); values this release does not know are kept."),
    );
    let consts = members
        .iter()
        .zip(member_names(c_name, members))
        .map(|(m, name)| {
            let id = format_ident!("{}", name);
            let v = Literal::i32_unsuffixed(m.value as i32);
            let d = member_doc(m);
            quote! {
                #[doc = #d]
                pub const #id: Self = Self(#v);
            }
        });
    // The first member with a value names it.
    let mut named = HashSet::new();
    let arms = members.iter().filter(|m| named.insert(m.value)).map(|m| {
        let v = Literal::i32_unsuffixed(m.value as i32);
        let n = &m.name;
        quote!(#v => ::std::option::Option::Some(#n),)
    });
    let virsh_fn = virsh.map(|words| {
        let arms = words.iter().enumerate().map(|(i, w)| {
            let v = Literal::i32_unsuffixed(i as i32);
            quote!(#v => ::std::option::Option::Some(#w),)
        });
        quote! {
            /// The word `virsh` (or `virt-admin`, for the admin API's
            /// values) prints for the value (its untranslated English),
            /// as libvirt's `tools/` of this release spells it.
            pub fn virsh_name(self) -> ::std::option::Option<&'static str> {
                match self.0 {
                    #(#arms)*
                    _ => ::std::option::Option::None,
                }
            }
        }
    });
    quote! {
        #doc
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        #[cfg_attr(feature = "serde", derive(::serde::Serialize, ::serde::Deserialize))]
        pub struct #ty(pub i32);

        impl #ty {
            #(#consts)*

            /// The C name of the value, if this release knows it.
            pub fn name(self) -> ::std::option::Option<&'static str> {
                match self.0 {
                    #(#arms)*
                    _ => ::std::option::Option::None,
                }
            }

            #virsh_fn
        }

        impl ::std::fmt::Display for #ty {
            /// The C name, or the number for a value this release does not know.
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                match self.name() {
                    ::std::option::Option::Some(n) => f.write_str(n),
                    ::std::option::Option::None => ::std::write!(f, "{}", self.0),
                }
            }
        }

        impl ::std::convert::From<i32> for #ty {
            fn from(v: i32) -> Self {
                Self(v)
            }
        }

        impl ::std::convert::From<#ty> for i32 {
            fn from(v: #ty) -> i32 {
                v.0
            }
        }
    }
}

/// An enum of the values typed by another value: one variant per member
/// of `d.of` holding that member's dependent enum (`Started(
/// DomainEventStartedDetailType)`), and `Other` for a deciding value this
/// release does not know.
fn dependent(
    d: &Depends,
    enums: &[&CEnum],
    virsh_names: &std::collections::HashMap<String, Vec<String>>,
) -> Result<TokenStream, String> {
    let of = enums
        .iter()
        .find(|e| e.name == d.of)
        .ok_or(format!("api.depends: no enum `{}` in the headers", d.of))?;
    let of_ty = format_ident!("{}", rust_type_name(&of.name));
    let ty = format_ident!("{}", d.name);
    let mut variants = Vec::new();
    let mut with_virsh = 0;
    let mut seen = HashSet::new();
    for (m, constant) in of.members.iter().zip(member_names(&of.name, &of.members)) {
        if !seen.insert(m.value) {
            continue;
        }
        // The member's last words, compared without case or `_`.
        let word: String = constant
            .chars()
            .filter(|c| *c != '_')
            .map(|c| c.to_ascii_lowercase())
            .collect();
        let Some(e) = enums.iter().find(|e| {
            e.name
                .strip_prefix(&d.stem)
                .and_then(|r| r.strip_suffix(&d.suffix))
                .is_some_and(|mid| mid.to_ascii_lowercase() == word)
        }) else {
            return Err(format!(
                "api.depends: no enum {}<{}>{} for {}",
                d.stem, m.name, d.suffix, of.name
            ));
        };
        let mid = &e.name[d.stem.len()..e.name.len() - d.suffix.len()];
        let has_virsh = e
            .sentinel
            .as_ref()
            .is_some_and(|s| virsh_names.contains_key(s));
        with_virsh += usize::from(has_virsh);
        variants.push((
            format_ident!("{}", xdrgen::codegen::naming::upper_camel(mid)),
            format_ident!("{}", rust_type_name(&e.name)),
            format_ident!("{}", constant),
            m.name.clone(),
        ));
    }
    let decls = variants.iter().map(|(v, t, constant, c)| {
        let doc = format!(" Of [`{of_ty}::{constant}`] (`{c}`).");
        quote!(#[doc = #doc] #v(#t),)
    });
    let from = variants
        .iter()
        .map(|(v, t, k, _)| quote!(#of_ty::#k => Self::#v(#t(value)),));
    let value = variants
        .iter()
        .map(|(v, _, _, _)| quote!(Self::#v(d) => d.0,));
    let of_arms = variants
        .iter()
        .map(|(v, _, k, _)| quote!(Self::#v(_) => #of_ty::#k,));
    let name = variants
        .iter()
        .map(|(v, _, _, _)| quote!(Self::#v(d) => d.name(),));
    let virsh_fn = (with_virsh == variants.len()).then(|| {
        let arms = variants
            .iter()
            .map(|(v, _, _, _)| quote!(Self::#v(d) => d.virsh_name(),));
        quote! {
            /// The word `virsh` prints for the value.
            pub fn virsh_name(self) -> ::std::option::Option<&'static str> {
                match self {
                    #(#arms)*
                    Self::Other(..) => ::std::option::Option::None,
                }
            }
        }
    });
    let doc = format!(
        " A value whose C type depends on a [`{of_ty}`]: each variant holds the enum \
         libvirt documents for that value (`{}<value>{}`).",
        d.stem, d.suffix
    );
    Ok(quote! {
        #[doc = #doc]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[cfg_attr(feature = "serde", derive(::serde::Serialize, ::serde::Deserialize))]
        #[non_exhaustive]
        pub enum #ty {
            #(#decls)*
            /// Of a value this release does not know: both numbers, kept.
            Other(#of_ty, i32),
        }

        impl #ty {
            /// Types `value` by what `of` says it is.
            pub fn new(of: #of_ty, value: i32) -> Self {
                match of {
                    #(#from)*
                    _ => Self::Other(of, value),
                }
            }

            /// The value that decides the type.
            pub fn of(self) -> #of_ty {
                match self {
                    #(#of_arms)*
                    Self::Other(of, _) => of,
                }
            }

            /// The number on the wire.
            pub fn value(self) -> i32 {
                match self {
                    #(#value)*
                    Self::Other(_, v) => v,
                }
            }

            /// The C name of the value, if this release knows it.
            pub fn name(self) -> ::std::option::Option<&'static str> {
                match self {
                    #(#name)*
                    Self::Other(..) => ::std::option::Option::None,
                }
            }

            #virsh_fn
        }

        impl ::std::fmt::Display for #ty {
            /// The C name, or the number for a value this release does not know.
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                match self.name() {
                    ::std::option::Option::Some(n) => f.write_str(n),
                    ::std::option::Option::None => ::std::write!(f, "{}", self.value()),
                }
            }
        }
    })
}

/// A flag set: a `bitflags` type over `u32` that keeps unknown bits.
fn flag_set(c_name: &str, header: &str, doc: &str, members: &[Member]) -> TokenStream {
    let ty = format_ident!("{}", rust_type_name(c_name));
    let doc = type_doc(
        doc,
        &format!(
            " libvirt's `{c_name}` (`{header}`), a set of flags; bits this release does not know \
             are kept."
        ),
    );
    let consts = members
        .iter()
        .zip(member_names(c_name, members))
        .map(|(m, name)| {
            let id = format_ident!("{}", name);
            let v = Literal::u32_unsuffixed(m.value as u32);
            let d = member_doc(m);
            quote! {
                #[doc = #d]
                const #id = #v;
            }
        });
    let names = members.iter().map(|m| {
        let v = Literal::u32_unsuffixed(m.value as u32);
        let n = &m.name;
        quote!((#v, #n))
    });
    quote! {
        ::bitflags::bitflags! {
            #doc
            #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
            pub struct #ty: u32 {
                #(#consts)*
                /// Any other bit, as sent or given.
                const _ = !0;
            }
        }

        impl #ty {
            /// The C names of the flags, by value.
            pub const C_NAMES: &'static [(u32, &'static str)] = &[#(#names),*];
        }

        impl ::std::fmt::Display for #ty {
            /// The C names of the set flags joined with ` | ` (bits this
            /// release does not know in hexadecimal), or `0`.
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                write_flags(f, self.bits(), Self::C_NAMES)
            }
        }

        impl ::std::convert::From<u32> for #ty {
            fn from(v: u32) -> Self {
                Self::from_bits_retain(v)
            }
        }

        impl ::std::convert::From<#ty> for u32 {
            fn from(v: #ty) -> u32 {
                v.bits()
            }
        }
    }
}

fn constant(d: &Define) -> TokenStream {
    let id = format_ident!("{}", d.name.strip_prefix("VIR_").unwrap_or(&d.name));
    let doc = doc_attrs(&d.doc);
    let origin = format!(" `{}`", d.name);
    let (ty, v) = match &d.value {
        DefineValue::Str(s) => (quote!(&str), quote!(#s)),
        DefineValue::Int(n) => {
            let lit = Literal::i64_unsuffixed(*n);
            (quote!(i64), quote!(#lit))
        }
    };
    quote! {
        #[doc = #origin]
        #[doc = ""]
        #doc
        pub const #id: #ty = #v;
    }
}

/// The formatted module and what it holds.
pub fn generate(headers: &Headers, preamble: &str) -> Result<(String, Counts), String> {
    let mut counts = Counts::default();
    let mut items = Vec::new();
    for (header, enums, defines) in &headers.files {
        for e in enums {
            if e.members.is_empty() {
                continue;
            }
            if is_flag_set(&e.name, &headers.flag_sets) {
                counts.flags += 1;
                items.push(flag_set(&e.name, header, &e.doc, &e.members));
            } else {
                counts.enums += 1;
                let virsh = e
                    .sentinel
                    .as_ref()
                    .and_then(|s| headers.virsh_names.get(s))
                    .map(Vec::as_slice);
                items.push(value_enum(&e.name, header, &e.doc, &e.members, virsh));
            }
        }
        counts.constants += defines.len();
        items.extend(defines.iter().map(constant));
    }
    let all: Vec<&CEnum> = headers.files.iter().flat_map(|(_, e, _)| e).collect();
    for d in &headers.depends {
        items.push(dependent(d, &all, &headers.virsh_names)?);
        counts.dependent += 1;
    }
    let tokens = quote! {
        #(#items)*

        /// `Display` of a flag set: each known single bit by its C name
        /// (zero-valued and multi-bit names are not printed), then the
        /// unknown bits in hexadecimal.
        fn write_flags(
            f: &mut ::std::fmt::Formatter<'_>,
            bits: u32,
            names: &[(u32, &str)],
        ) -> ::std::fmt::Result {
            if bits == 0 {
                return f.write_str("0");
            }
            let mut rest = bits;
            let mut first = true;
            for &(v, n) in names {
                if v.is_power_of_two() && rest & v != 0 {
                    if !first {
                        f.write_str(" | ")?;
                    }
                    f.write_str(n)?;
                    first = false;
                    rest &= !v;
                }
            }
            if rest != 0 {
                if !first {
                    f.write_str(" | ")?;
                }
                ::std::write!(f, "{rest:#x}")?;
            }
            ::std::result::Result::Ok(())
        }
    };
    let file: syn::File =
        syn::parse2(tokens).map_err(|e| format!("api: invalid Rust (a bug): {e}"))?;
    Ok((
        format!("{preamble}{}", prettyplease::unparse(&file)),
        counts,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn or_documented_reads_libvirts_phrasings() {
        let text = " * @flags: bitwise-OR of virDomainXMLFlags\n\
                    * @stats: stats to return, binary-OR of enum virDomainStatsTypes\n\
                    * @flags: bitwise-OR of supported virDomainCoreDumpFlags\n\
                    * @flags: extra flags; not used yet, so callers should always pass 0\n\
                    * @state: one of virDomainState\n";
        let found = or_documented(text);
        assert_eq!(
            found.into_iter().collect::<Vec<_>>(),
            [
                "virDomainCoreDumpFlags",
                "virDomainStatsTypes",
                "virDomainXMLFlags"
            ]
        );
    }

    #[test]
    fn flag_params_come_from_function_docs() {
        let text = "/**\n * virDomainGetXMLDesc:\n * @domain: a domain object\n\
                    * @flags: bitwise-OR of\n *   virDomainXMLFlags\n *\n * Returns XML.\n */\n\
                    /**\n * virDomainSetMemoryFlags:\n * @flags: bitwise-OR of\n\
                    * virDomainMemoryModFlags and virDomainModificationImpact\n */\n";
        let sets: BTreeSet<String> = [
            "virDomainXMLFlags",
            "virDomainMemoryModFlags",
            "virDomainModificationImpact",
        ]
        .map(String::from)
        .into();
        let mut p = FlagParams::default();
        p.read(text, &sets);
        assert_eq!(p.typed["domaingetxmldesc"]["flags"], "virDomainXMLFlags");
        assert_eq!(
            p.ambiguous,
            ["virDomainSetMemoryFlags(flags): virDomainMemoryModFlags, virDomainModificationImpact"]
        );
        assert_eq!(
            function_key("virDomainGetXMLDesc"),
            function_key("DOMAIN_GET_XML_DESC")
        );
    }

    #[test]
    fn doc_text_escapes_markdown_and_html() {
        assert_eq!(
            doc_text("<disk> [0] *x* a_b `c`"),
            "\\<disk\\> \\[0\\] \\*x\\* a_b \\`c\\`"
        );
    }

    #[test]
    fn member_names_drop_the_shared_prefix_unless_two_collide() {
        let m = |n: &str| Member {
            name: n.into(),
            value: 0,
            doc: String::new(),
        };
        let names = member_names(
            "virDomainState",
            &[m("VIR_DOMAIN_NOSTATE"), m("VIR_DOMAIN_RUNNING")],
        );
        assert_eq!(names, ["NOSTATE", "RUNNING"]);
        // A digit after the prefix keeps it one word shorter.
        let names = member_names("virX", &[m("VIR_X_1A"), m("VIR_X_B")]);
        assert_eq!(names, ["X_1A", "X_B"]);
        // One member keeps the words after its enum's name.
        let one = |c_name, member| member_names(c_name, &[m(member)]);
        let names = one(
            "virStorageVolUploadFlags",
            "VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM",
        );
        assert_eq!(names, ["SPARSE_STREAM"]);
        let names = one(
            "virDomainSaveImageXMLFlags",
            "VIR_DOMAIN_SAVE_IMAGE_XML_SECURE",
        );
        assert_eq!(names, ["SECURE"]);
        let names = one(
            "virDomainPMSuspendedReason",
            "VIR_DOMAIN_PMSUSPENDED_UNKNOWN",
        );
        assert_eq!(names, ["UNKNOWN"]);
        let names = one("virTypedParameterFlags", "VIR_TYPED_PARAM_STRING_OKAY");
        assert_eq!(names, ["STRING_OKAY"]);
        // Words of the enum's name may be skipped.
        let names = one(
            "virDomainBlockJobSetSpeedFlags",
            "VIR_DOMAIN_BLOCK_JOB_SPEED_BANDWIDTH_BYTES",
        );
        assert_eq!(names, ["BANDWIDTH_BYTES"]);
        let names = one("virDomainSetTimeFlags", "VIR_DOMAIN_TIME_SYNC");
        assert_eq!(names, ["SYNC"]);
        // A word of the member that is not in the name ends the prefix.
        let names = one("virDomainFooFlags", "VIR_DOMAIN_BAR_BAZ");
        assert_eq!(names, ["BAR_BAZ"]);
        // The last word stays, and no name starts with a digit.
        let names = one("virNodeGetCPUStatsAllCPUs", "VIR_NODE_CPU_STATS_ALL_CPUS");
        assert_eq!(names, ["CPUS"]);
        let names = one("virFooFlags", "VIR_FOO_2D");
        assert_eq!(names, ["FOO_2D"]);
    }
}
