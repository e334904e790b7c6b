//! What libvirt's API documentation says about values: which arguments,
//! results and event fields are one of the C enums, and which results are
//! yes/no answers. Read from the `/** virName: ... */` blocks of
//! `src/libvirt*.c` (functions) and of the public headers (event
//! callbacks), and from the headers' structs and prototypes
//! (`virDomainGetInfo(..., virDomainInfoPtr info)` fills a
//! `virDomainInfo` whose `state` is "one of virDomainState").

use std::collections::{HashMap, HashSet};

use super::api::function_key;
use super::headers::Member;

/// One `/** virName: ... */` block.
#[derive(Debug)]
pub struct DocBlock {
    /// `virDomainGetInfo`.
    pub name: String,
    /// `@param: text`, continuation lines joined.
    pub params: Vec<(String, String)>,
    /// The rest of the text, lines joined with spaces.
    pub body: String,
}

/// The `/** virName: ... */` blocks of `text`.
pub fn doc_blocks(text: &str) -> Vec<DocBlock> {
    let mut out = Vec::new();
    for (at, _) in text.match_indices("/**\n * vir") {
        let block = &text[at + 4..];
        let Some(end) = block.find("*/") else {
            continue;
        };
        let mut lines = block[..end].lines().map(|l| {
            let l = l.trim();
            l.strip_prefix('*').map_or(l, str::trim)
        });
        let Some(name) = lines.next().and_then(|l| l.strip_suffix(':')) else {
            continue;
        };
        if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let mut params: Vec<(String, String)> = Vec::new();
        let mut body = String::new();
        let mut open = false;
        for l in lines {
            if let Some((p, doc)) = l.strip_prefix('@').and_then(|r| r.split_once(':')) {
                params.push((p.trim().to_owned(), doc.trim().to_owned()));
                open = true;
            } else if l.is_empty() {
                open = false;
            } else if let Some(last) = params.last_mut().filter(|_| open) {
                last.1.push(' ');
                last.1.push_str(l);
            } else {
                body.push_str(l);
                body.push(' ');
            }
        }
        out.push(DocBlock {
            name: name.to_owned(),
            params,
            body,
        });
    }
    out
}

/// The C type names in `text` (`virDomainState`, `virDomain*Reason`).
fn type_names(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for (at, _) in text.match_indices("vir") {
        let len = text[at..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '*'))
            .unwrap_or(text.len() - at);
        let name = text[at..at + len].trim_end_matches('*');
        if name[3..].starts_with(|c: char| c.is_ascii_uppercase()) && !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

/// Values documented as one of a C enum, and yes/no results.
#[derive(Debug, Default)]
pub struct ValueTypes {
    /// Function key ([`function_key`]) → parameter or result field → the
    /// C enum (or the Rust name of an `api.depends` enum).
    pub values: HashMap<String, HashMap<String, String>>,
    /// Event key (`domaineventwatchdog`, from
    /// `virConnectDomainEventWatchdogCallback`) → parameter → C enum.
    pub events: HashMap<String, HashMap<String, String>>,
    /// Event key → the callback's documentation.
    pub callbacks: HashMap<String, DocBlock>,
    /// Event id (`VIR_DOMAIN_EVENT_ID_REBOOT`) → the callback its events
    /// go to (`virConnectDomainEventGenericCallback`), as the id's comment
    /// names it.
    pub event_ids: HashMap<String, String>,
    /// Functions whose result says yes (1) or no (0).
    pub bool_results: HashSet<String>,
    /// Function key → the C struct it fills (`virDomainInfo`).
    pub result_structs: HashMap<String, String>,
    /// The flag sets among the C enums named.
    pub flag_sets: HashSet<String>,
    /// `api.depends` enums: Rust name → the C enum deciding the type.
    pub depends: HashMap<String, String>,
}

impl ValueTypes {
    /// `known`: the value enums generated, by C name; `patterns`: the
    /// `api.depends` enums as (`virDomain*Reason`, Rust name).
    pub fn read_functions(
        &mut self,
        text: &str,
        known: &HashSet<String>,
        patterns: &[(String, String)],
    ) {
        for b in doc_blocks(text) {
            let key = function_key(&b.name);
            if says_yes_or_no(&b.body) {
                self.bool_results.insert(key.clone());
            }
            for (param, doc) in &b.params {
                if let Some(t) = one_type(doc, known, patterns) {
                    self.values
                        .entry(key.clone())
                        .or_default()
                        .insert(param.clone(), t);
                }
            }
        }
    }

    /// Reads a header: event callbacks' parameters, and the enum-typed
    /// fields of the structs its functions fill; `structs` are the structs
    /// of every header ([`header_structs`]), as a function of one header
    /// may fill a struct of another.
    pub fn read_header(
        &mut self,
        text: &str,
        known: &HashSet<String>,
        patterns: &[(String, String)],
        structs: &Structs,
    ) {
        for b in doc_blocks(text) {
            let Some(key) = callback_key(&b.name) else {
                continue;
            };
            for (param, doc) in &b.params {
                if let Some(t) = one_type(doc, known, patterns) {
                    self.events
                        .entry(key.clone())
                        .or_default()
                        .insert(param.clone(), t);
                }
            }
            self.callbacks.insert(key, b);
        }
        for (function, params) in prototypes(text) {
            for p in params {
                // `virTypedParameterPtr *params`: an array given back, not
                // a struct filled.
                if p.contains('*') {
                    continue;
                }
                let Some(s) = p
                    .split_whitespace()
                    .find_map(|w| w.strip_suffix("Ptr"))
                    .and_then(|t| structs.get(t))
                else {
                    continue;
                };
                let name = p.split_whitespace().find_map(|w| w.strip_suffix("Ptr"));
                if let Some(name) = name {
                    self.result_structs
                        .entry(function_key(&function))
                        .or_insert_with(|| name.to_owned());
                }
                let entry = self.values.entry(function_key(&function)).or_default();
                for (field, t) in s {
                    entry.entry(field.clone()).or_insert_with(|| t.clone());
                }
            }
        }
    }
}

impl ValueTypes {
    /// Types `param` of `function` (a function or an event callback) as
    /// `c_enum`, whatever its documentation says.
    pub fn set(&mut self, function: &str, param: &str, c_enum: &str) {
        let table = match callback_key(function) {
            Some(key) => self.events.entry(key),
            None => self.values.entry(function_key(function)),
        };
        table
            .or_default()
            .insert(param.to_owned(), c_enum.to_owned());
    }

    /// How a value documented as `c_type` is typed, `documented` being
    /// what the same function (or callback) documents about its other
    /// values, by name (for the value deciding a dependent one's type).
    pub fn value_type(
        &self,
        c_type: &str,
        documented: &HashMap<String, String>,
    ) -> Option<xdrgen::codegen::client::ValueType> {
        use xdrgen::codegen::client::ValueType;
        if c_type == BOOL {
            return Some(ValueType::Bool);
        }
        if let Some(of) = self.depends.get(c_type) {
            let sibling = documented.iter().find(|(_, t)| *t == of)?.0;
            return Some(ValueType::Dependent {
                ty: c_type.to_owned(),
                of: sibling.clone(),
            });
        }
        let rust = super::api::rust_type_name(c_type);
        Some(if self.flag_sets.contains(c_type) {
            ValueType::Flags(rust)
        } else {
            ValueType::Enum(rust)
        })
    }
}

impl ValueTypes {
    /// Reads which callback each event id's events go to, from the ids'
    /// comments (`VIR_DOMAIN_EVENT_ID_REBOOT = 1, /*
    /// virConnectDomainEventGenericCallback (Since: 0.8.0) */`).
    pub fn read_event_ids<'a>(&mut self, members: impl IntoIterator<Item = &'a Member>) {
        for m in members {
            if !m.name.contains("_EVENT_ID_") {
                continue;
            }
            let callback = m
                .doc
                .split(|c: char| !c.is_ascii_alphanumeric())
                .find(|w| w.starts_with("virConnect") && w.ends_with("Callback"));
            if let Some(callback) = callback {
                self.event_ids.insert(m.name.clone(), callback.to_owned());
            }
        }
    }
}

/// The key of an event callback's documentation
/// (`virConnectDomainEventWatchdogCallback` → `domaineventwatchdog`), or
/// `None` when `name` is not a callback's.
pub fn callback_key(name: &str) -> Option<String> {
    name.strip_prefix("virConnect")
        .and_then(|n| n.strip_suffix("Callback"))
        .map(function_key)
}

/// "Returns 1 if running, 0 if inactive, -1 on error", "Returns 0 if no
/// image is present, 1 if an image is present", "Provides a boolean value".
fn says_yes_or_no(body: &str) -> bool {
    if body.contains("Provides a boolean value") {
        return true;
    }
    body.split("Returns ").skip(1).any(|s| {
        let s = s.split('.').next().unwrap_or(s);
        (s.starts_with("1 if") && s.contains(" 0 if"))
            || (s.starts_with("0 if") && s.contains(" 1 if"))
    })
}

/// The type of values documented as 0 or 1, in place of a C enum's name.
pub const BOOL: &str = "bool";

/// "whether the domain should be automatically started 0 or 1", "0 to
/// disable/1 to enable cpus", "1 if security policy is being enforced".
fn says_bool(doc: &str) -> bool {
    let doc = doc.trim().to_ascii_lowercase();
    doc.starts_with("whether")
        || doc.starts_with("1 if")
        || doc.contains("0 or 1")
        || (doc.contains("0 to disable") && doc.contains("1 to enable"))
}

/// The one type a parameter's text names, if it names exactly one known
/// ([`BOOL`] for a value documented as 0 or 1).
fn one_type(doc: &str, known: &HashSet<String>, patterns: &[(String, String)]) -> Option<String> {
    if says_bool(doc) {
        return Some(BOOL.to_owned());
    }
    let mut found: Vec<String> = Vec::new();
    for name in type_names(doc) {
        let t = if known.contains(name) {
            name.to_owned()
        } else if let Some((_, rust)) = patterns.iter().find(|(p, _)| p == name) {
            // `virDomainEvent*DetailType` in the text.
            rust.clone()
        } else {
            continue;
        };
        if !found.contains(&t) {
            found.push(t);
        }
    }
    match found.as_slice() {
        [one] => Some(one.clone()),
        _ => None,
    }
}

/// The public structs, by name (`virDomainInfo`), with their fields whose
/// comments name a C enum.
pub type Structs = HashMap<String, Vec<(String, String)>>;

/// The structs of all `headers`, with their fields whose comments name one
/// of the enums `known`.
pub fn header_structs<'a>(
    headers: impl IntoIterator<Item = &'a String>,
    known: &HashSet<String>,
) -> Structs {
    headers
        .into_iter()
        .flat_map(|text| struct_fields(text, known))
        .collect()
}

/// `struct _virX { ... };` → field → C enum its comment names ("one of
/// virDomainState", "virStoragePoolState flags", a comment line above).
fn struct_fields(text: &str, known: &HashSet<String>) -> Structs {
    let mut out = HashMap::new();
    for (at, _) in text.match_indices("struct _vir") {
        let rest = &text[at + "struct _".len()..];
        let Some((name, body)) = rest.split_once('{') else {
            continue;
        };
        let name = name.trim();
        let Some(body) = body.split("};").next() else {
            continue;
        };
        // (field, what its comments say); a comment above a field is its.
        let mut fields: Vec<(String, String)> = Vec::new();
        let mut above = String::new();
        // Inside a comment: one that trails a field (`true`) or stands above.
        let mut open: Option<bool> = None;
        for line in body.lines() {
            let line = line.trim();
            if let Some(trailing) = open {
                let (text, closed) = match line.split_once("*/") {
                    Some((t, _)) => (t, true),
                    None => (line, false),
                };
                match fields.last_mut().filter(|_| trailing) {
                    Some(f) => f.1.push_str(text),
                    None => above.push_str(text),
                }
                if closed {
                    open = None;
                }
                continue;
            }
            let (code, comment) = match line.split_once("/*") {
                Some((c, rest)) => (c.trim(), Some(rest)),
                None => (line, None),
            };
            let comment_text = comment.map(|c| c.split("*/").next().unwrap_or(c));
            if comment.is_some_and(|c| !c.contains("*/")) {
                open = Some(!code.is_empty());
            }
            if code.is_empty() {
                above.push_str(comment_text.unwrap_or_default());
                continue;
            }
            let field = code
                .trim_end_matches(';')
                .split_whitespace()
                .last()
                .unwrap_or_default()
                .split('[')
                .next()
                .unwrap_or_default()
                .to_owned();
            let said = format!("{above} {}", comment_text.unwrap_or_default());
            above.clear();
            fields.push((field, said));
        }
        let fields: Vec<(String, String)> = fields
            .into_iter()
            .filter_map(|(field, said)| {
                if says_bool(&said) {
                    return Some((field, BOOL.to_owned()));
                }
                let types: Vec<&str> = type_names(&said)
                    .into_iter()
                    .filter(|t| known.contains(*t))
                    .collect();
                match types.as_slice() {
                    [one] => Some((field, (*one).to_owned())),
                    _ => None,
                }
            })
            .collect();
        out.insert(name.to_owned(), fields);
    }
    out
}

/// Function prototypes `... virName(params);`: name → parameter texts.
fn prototypes(text: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for (at, _) in text.match_indices(" vir") {
        let rest = &text[at + 1..];
        let Some(open) = rest.find('(') else {
            continue;
        };
        let name = rest[..open].trim_end();
        if !name.chars().all(|c| c.is_ascii_alphanumeric()) {
            continue;
        }
        let Some(close) = rest[open..].find(')') else {
            continue;
        };
        if !rest[open + close + 1..].trim_start().starts_with(';') {
            continue;
        }
        let params = rest[open + 1..open + close]
            .split(',')
            .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        out.push((name.to_owned(), params));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> HashSet<String> {
        [
            "virDomainState",
            "virDomainEventWatchdogAction",
            "virStoragePoolState",
        ]
        .into_iter()
        .map(str::to_owned)
        .collect()
    }

    fn patterns() -> Vec<(String, String)> {
        vec![(
            "virDomain*Reason".to_owned(),
            "DomainStateReason".to_owned(),
        )]
    }

    #[test]
    fn functions_give_typed_parameters_and_yes_no_results() {
        let text = "/**\n * virDomainGetState:\n * @domain: a domain object\n \
                    * @state: returned state of the domain (one of virDomainState)\n \
                    * @reason: returned reason which led to @state (one of virDomain*Reason\n \
                    * corresponding to the current state); it is allowed to be NULL\n *\n \
                    * Extract domain state.\n */\n\
                    /**\n * virDomainIsActive:\n * @dom: pointer to the domain object\n *\n \
                    * Determine if the domain is currently running\n *\n \
                    * Returns 1 if running, 0 if inactive, -1 on error\n */\n\
                    /**\n * virDomainCreate:\n * @domain: a domain\n *\n \
                    * Returns 0 if the domain was started, -1 on error.\n */\n";
        let mut v = ValueTypes::default();
        v.read_functions(text, &known(), &patterns());
        let state = &v.values["domaingetstate"];
        assert_eq!(state["state"], "virDomainState");
        assert_eq!(state["reason"], "DomainStateReason");
        assert!(v.bool_results.contains("domainisactive"));
        assert!(!v.bool_results.contains("domaincreate"));
    }

    #[test]
    fn headers_give_struct_fields_and_event_parameters() {
        // The struct in one header, the function filling it in another.
        let host = "struct _virStoragePoolInfo {\n    int state;                     \
                    /* virStoragePoolState flags */\n    unsigned long long capacity; /* bytes */\n};\n"
            .to_owned();
        let text = "int virStoragePoolGetInfo(virStoragePoolPtr pool,\n                          \
                    virStoragePoolInfoPtr info);\n\
                    /**\n * virConnectDomainEventWatchdogCallback:\n * @conn: connection object\n \
                    * @action: action that is to be taken due to watchdog firing (virDomainEventWatchdogAction)\n \
                    */\n"
            .to_owned();
        let structs = header_structs([&host, &text], &known());
        let mut v = ValueTypes::default();
        v.read_header(&text, &known(), &patterns(), &structs);
        assert_eq!(
            v.values["storagepoolgetinfo"]["state"],
            "virStoragePoolState"
        );
        assert!(!v.values["storagepoolgetinfo"].contains_key("capacity"));
        assert_eq!(
            v.events["domaineventwatchdog"]["action"],
            "virDomainEventWatchdogAction"
        );
    }

    #[test]
    fn a_comment_over_several_lines_belongs_to_its_field() {
        let known: HashSet<String> = ["virDomainControlState", "virDomainControlErrorReason"]
            .into_iter()
            .map(str::to_owned)
            .collect();
        let text = "struct _virDomainControlInfo {\n\
                    unsigned int state;     /* control state, one of virDomainControlState */\n\
                    unsigned int details;   /* state details, currently 0 except for ERROR\n\
                    state (one of virDomainControlErrorReason) */\n\
                    unsigned long long stateTime; /* for how long (in msec) control interface\n\
                    has been in current state */\n\
                    /* One of virDomainControlState */\n\
                    int again;\n\
                    };\n";
        let fields = &struct_fields(text, &known)["virDomainControlInfo"];
        assert_eq!(
            fields,
            &[
                ("state".to_owned(), "virDomainControlState".to_owned()),
                (
                    "details".to_owned(),
                    "virDomainControlErrorReason".to_owned()
                ),
                ("again".to_owned(), "virDomainControlState".to_owned()),
            ]
        );
    }

    #[test]
    fn event_ids_name_their_callbacks_whose_docs_are_kept() {
        let member = |name: &str, doc: &str| Member {
            name: name.to_owned(),
            value: 0,
            doc: doc.to_owned(),
        };
        let mut v = ValueTypes::default();
        v.read_event_ids(&[
            member(
                "VIR_DOMAIN_EVENT_ID_REBOOT",
                "virConnectDomainEventGenericCallback (Since: 0.8.0)",
            ),
            member(
                "VIR_DOMAIN_EVENT_ID_LAST",
                "NB: this enum value will increase",
            ),
            member("VIR_DOMAIN_RUNNING", "virConnectDomainEventCallback"),
        ]);
        assert_eq!(
            v.event_ids,
            HashMap::from([(
                "VIR_DOMAIN_EVENT_ID_REBOOT".to_owned(),
                "virConnectDomainEventGenericCallback".to_owned()
            )])
        );
        let text = "/**\n * virConnectDomainEventCallback:\n * @dom: The domain on which the event occurred\n \
                    * @event: The specific virDomainEventType which occurred\n */\n";
        let known: HashSet<String> = HashSet::from(["virDomainEventType".to_owned()]);
        v.read_header(text, &known, &[], &Structs::new());
        assert_eq!(v.events["domainevent"]["event"], "virDomainEventType");
        let block = &v.callbacks["domainevent"];
        assert_eq!(block.name, "virConnectDomainEventCallback");
        assert_eq!(
            block.params[0],
            (
                "dom".to_owned(),
                "The domain on which the event occurred".to_owned()
            )
        );
    }
}
