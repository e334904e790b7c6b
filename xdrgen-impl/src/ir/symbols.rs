//! The global symbol table and constant evaluation.
//!
//! XDR has one namespace for constants and enum members and one for types.
//! Both are filled from all files before anything is resolved, so a name may
//! be used before (or in another file than) its definition. Constant values
//! are evaluated lazily, following alias chains, with cycle detection and a
//! depth limit so hostile input cannot recurse without bound.

use std::collections::{HashMap, HashSet};

use crate::diag::{Diagnostic, Span};
use crate::ir::model::ConstantOrigin;
use crate::syntax::ast::{self, Value};

/// Longest chain of constant aliases followed before giving up.
const MAX_ALIAS_DEPTH: usize = 256;

/// A value-namespace entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ValueSym {
    /// Index into `Symbols::consts`.
    Const(usize),
    /// Member `1` of enum `0` (indices into `Symbols::enums`).
    Member(usize, usize),
    /// A string constant, defined at this span; it has no numeric value.
    Str(Span),
}

/// A constant from a file or from the caller.
#[derive(Debug)]
pub(crate) struct ConstDecl<'a> {
    pub name: &'a str,
    pub value: ConstSource<'a>,
    pub span: Option<Span>,
    pub doc: Option<String>,
}

/// Where a constant's value comes from.
#[derive(Debug)]
pub(crate) enum ConstSource<'a> {
    File(&'a Value),
    External(i128, ConstantOrigin),
}

/// An enum (named or inline) whose members are in the value namespace.
#[derive(Debug)]
pub(crate) struct EnumDecl<'a> {
    pub body: &'a ast::EnumBody,
}

#[derive(Debug, Clone, Copy)]
enum State {
    InProgress,
    Done(Option<i128>),
}

/// Names and constant values.
#[derive(Debug, Default)]
pub(crate) struct Symbols<'a> {
    pub consts: Vec<ConstDecl<'a>>,
    pub enums: Vec<EnumDecl<'a>>,
    pub values: HashMap<&'a str, ValueSym>,
    /// Definition span of each value name (for "first defined here").
    pub value_spans: HashMap<&'a str, Option<Span>>,
    /// Constants used only when a file refers to them and nothing else
    /// defines the name: macros, then the presets.
    pub presets: HashMap<String, Fallback>,
    /// Those actually used, in first-use order.
    pub used_presets: Vec<(String, Fallback)>,
    /// Their names, so recording a use costs constant time.
    used_preset_names: HashSet<String>,
    /// Macros that define no constant, by name: where, and why.
    pub macros_without_value: HashMap<String, (Option<Span>, String)>,
    const_state: HashMap<usize, State>,
    member_state: HashMap<(usize, usize), State>,
}

impl<'a> Symbols<'a> {
    /// Registers a value name, reporting a duplicate.
    pub fn define_value(
        &mut self,
        name: &'a str,
        sym: ValueSym,
        span: Option<Span>,
        diags: &mut Vec<Diagnostic>,
    ) {
        if let Some(prev) = self.value_spans.get(name) {
            diags.push(duplicate(name, span, *prev));
            return;
        }
        self.values.insert(name, sym);
        self.value_spans.insert(name, span);
    }

    /// The value of a constant, evaluating it (and what it refers to) once.
    pub fn const_value(&mut self, idx: usize, diags: &mut Vec<Diagnostic>) -> Option<i128> {
        self.eval_const(idx, 0, diags)
    }

    /// The value of a `Value`, reporting undefined names.
    pub fn value(&mut self, v: &Value, diags: &mut Vec<Diagnostic>) -> Option<i128> {
        self.eval_value(v, 0, diags)
    }

    /// The value of enum member `m` of enum `e`.
    pub fn member_value(
        &mut self,
        e: usize,
        m: usize,
        diags: &mut Vec<Diagnostic>,
    ) -> Option<i128> {
        self.eval_member(e, m, 0, diags)
    }

    fn eval_value(&mut self, v: &Value, depth: usize, diags: &mut Vec<Diagnostic>) -> Option<i128> {
        match v {
            Value::Literal { value, .. } => Some(*value),
            Value::Name(id) => {
                if depth > MAX_ALIAS_DEPTH {
                    diags.push(Diagnostic::error(
                        id.span,
                        format!("constant chain longer than {MAX_ALIAS_DEPTH} names"),
                    ));
                    return None;
                }
                match self.values.get(id.name.as_str()).copied() {
                    Some(ValueSym::Const(c)) => self.eval_const(c, depth + 1, diags),
                    Some(ValueSym::Member(e, m)) => self.eval_member(e, m, depth + 1, diags),
                    Some(ValueSym::Str(def)) => {
                        diags.push(
                            Diagnostic::error(
                                id.span,
                                format!("`{}` is a string constant, not a number", id.name),
                            )
                            .with_label("a number is needed here")
                            .with_secondary(def, "defined as a string here"),
                        );
                        None
                    }
                    None => self.preset(&id.name).or_else(|| {
                        diags.push(match self.macros_without_value.get(id.name.as_str()) {
                            Some((at, why)) => {
                                let d = Diagnostic::error(
                                    id.span,
                                    format!("macro `{}` has no integer value", id.name),
                                )
                                .with_label("a number is needed here")
                                .with_note(why.clone());
                                match at {
                                    Some(at) => d.with_secondary(*at, "defined here"),
                                    None => d,
                                }
                            }
                            None => Diagnostic::error(
                                id.span,
                                format!("undefined constant `{}`", id.name),
                            )
                            .with_label("not defined in any loaded file")
                            .with_note(
                                "external constants can be supplied with `--define NAME=VALUE`",
                            ),
                        });
                        None
                    }),
                }
            }
        }
    }

    fn preset(&mut self, name: &str) -> Option<i128> {
        let f = self.presets.get(name)?.clone();
        let v = f.value;
        if !self.used_preset_names.contains(name) {
            self.used_preset_names.insert(name.to_owned());
            self.used_presets.push((name.to_owned(), f));
        }
        Some(v)
    }

    fn eval_const(
        &mut self,
        idx: usize,
        depth: usize,
        diags: &mut Vec<Diagnostic>,
    ) -> Option<i128> {
        match self.const_state.get(&idx) {
            Some(State::Done(v)) => return *v,
            Some(State::InProgress) => {
                let c = &self.consts[idx];
                if let Some(span) = c.span {
                    diags.push(Diagnostic::error(
                        span,
                        format!("constant `{}` is defined in terms of itself", c.name),
                    ));
                }
                self.const_state.insert(idx, State::Done(None));
                return None;
            }
            None => {}
        }
        self.const_state.insert(idx, State::InProgress);
        let v = match &self.consts[idx].value {
            ConstSource::External(v, _) => Some(*v),
            ConstSource::File(value) => self.eval_value(value, depth, diags),
        };
        // A cycle may already have recorded a failure; keep it.
        if let Some(State::Done(None)) = self.const_state.get(&idx) {
            return None;
        }
        self.const_state.insert(idx, State::Done(v));
        v
    }

    fn eval_member(
        &mut self,
        e: usize,
        m: usize,
        depth: usize,
        diags: &mut Vec<Diagnostic>,
    ) -> Option<i128> {
        match self.member_state.get(&(e, m)) {
            Some(State::Done(v)) => return *v,
            Some(State::InProgress) => {
                let member = &self.enums[e].body.members[m];
                diags.push(Diagnostic::error(
                    member.name.span,
                    format!(
                        "enum member `{}` is defined in terms of itself",
                        member.name.name
                    ),
                ));
                self.member_state.insert((e, m), State::Done(None));
                return None;
            }
            None => {}
        }
        self.member_state.insert((e, m), State::InProgress);
        let body = self.enums[e].body;
        let v = if let Some(value) = &body.members[m].value {
            self.eval_value(value, depth, diags)
        } else {
            // An implicit value counts up from the nearest member before it
            // whose value is written or already known; the members between
            // are filled in on the way, so a long enum costs linear time.
            let base = (0..m).rev().find(|&k| {
                body.members[k].value.is_some()
                    || matches!(self.member_state.get(&(e, k)), Some(State::Done(_)))
            });
            let mut v = match base {
                Some(k) => self.eval_member(e, k, depth + 1, diags),
                None => Some(-1),
            };
            for k in base.map_or(0, |k| k + 1)..m {
                v = v.map(|x| x + 1);
                self.member_state.insert((e, k), State::Done(v));
            }
            v.map(|x| x + 1)
        };
        if let Some(State::Done(None)) = self.member_state.get(&(e, m)) {
            return None;
        }
        self.member_state.insert((e, m), State::Done(v));
        v
    }
}

/// A constant that fills in a name no file defines.
#[derive(Debug, Clone)]
pub struct Fallback {
    pub value: i128,
    pub origin: ConstantOrigin,
    /// Where it is defined (a macro's `#define`), if in a file.
    pub span: Option<Span>,
}

/// The "already defined" diagnostic.
pub(crate) fn duplicate(name: &str, span: Option<Span>, prev: Option<Span>) -> Diagnostic {
    if let (None, Some(p)) = (span, prev) {
        return Diagnostic::error(
            p,
            format!("`{name}` is defined in a file and also by an option"),
        )
        .with_label("defined here")
        .with_note(format!("remove `--define {name}=...` or this definition"));
    }
    let mut d = match span {
        Some(s) => Diagnostic::error(s, format!("`{name}` is defined more than once"))
            .with_label("redefined here"),
        None => Diagnostic::error_without_location(format!(
            "`{name}` is defined both by an option and in a file"
        )),
    };
    match prev {
        Some(p) => d = d.with_secondary(p, "first defined here"),
        None => d = d.with_note(format!("`{name}` is also supplied as an external constant")),
    }
    d
}
