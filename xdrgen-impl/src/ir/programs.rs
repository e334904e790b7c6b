//! Programs and procedures, in both conventions.
//!
//! RFC 5531 `program` blocks are resolved directly. libvirt writes a program
//! as a program-number constant, a version constant and an enum of
//! procedures; each procedure's types are found by name from the member's
//! name (`REMOTE_PROC_DOMAIN_GET_INFO` with prefix `remote` gives
//! `remote_domain_get_info_args` / `_ret` / `_msg`; a camel-case prefix such
//! as `virLockSpaceProtocol` gives `virLockSpaceProtocolDomainGetInfoArgs`).
//! A procedure with a `_msg` type is a one-way message (an event).

use std::collections::HashMap;

use crate::diag::{Diagnostic, Span};
use crate::ir::model::*;
use crate::ir::procedure_types::{argument_struct, Role};
use crate::syntax::ast;

/// Resolves a procedure argument or result type written in a `program`
/// block, evaluating bounds with the [`EvalValue`] given. Supplied by the
/// caller, which owns the type tables.
pub(crate) type ResolveType<'r> =
    dyn FnMut(&ast::ProcedureType, Role, &mut EvalValue<'_>) -> Option<TypeRef> + 'r;
/// Evaluates a value, reporting problems.
pub(crate) type EvalValue<'r> = dyn FnMut(&ast::Value) -> Option<i128> + 'r;

/// Resolves an RFC 5531 program block; the structs made of several
/// arguments go to `argument_structs`.
pub(crate) fn rfc5531(
    def: &ast::ProgramDef,
    doc: Option<String>,
    span: Span,
    resolve_type: &mut ResolveType<'_>,
    eval: &mut EvalValue<'_>,
    argument_structs: &mut Vec<TypeDef>,
    diags: &mut Vec<Diagnostic>,
) -> Option<Program> {
    let number_u32 =
        |eval: &mut EvalValue<'_>, v: &ast::Value, what: &str, diags: &mut Vec<Diagnostic>| {
            let n = eval(v)?;
            u32::try_from(n).ok().or_else(|| {
                diags.push(Diagnostic::error(
                    v.span(),
                    format!("{what} number {n} is not an unsigned 32-bit value"),
                ));
                None
            })
        };
    let number = number_u32(eval, &def.number, "program", diags);
    let mut versions = Vec::new();
    let mut version_numbers: HashMap<u32, Span> = HashMap::new();
    for v in &def.versions {
        let vnum = number_u32(eval, &v.number, "version", diags);
        if let Some(n) = vnum {
            if let Some(prev) = version_numbers.insert(n, v.name.span) {
                diags.push(
                    Diagnostic::error(v.name.span, format!("version number {n} is used twice"))
                        .with_secondary(prev, "first used here"),
                );
            }
        }
        let mut procedures = Vec::new();
        let mut proc_numbers: HashMap<u32, Span> = HashMap::new();
        for p in &v.procedures {
            let pnum = number_u32(eval, &p.number, "procedure", diags);
            if let Some(n) = pnum {
                if let Some(prev) = proc_numbers.insert(n, p.name.span) {
                    diags.push(
                        Diagnostic::error(
                            p.name.span,
                            format!("procedure number {n} is used twice"),
                        )
                        .with_secondary(prev, "first used here"),
                    );
                }
            }
            let role = if p.args.len() > 1 {
                Role::OneOfSeveral
            } else {
                Role::OnlyArgument
            };
            let args: Vec<Option<TypeRef>> = p
                .args
                .iter()
                .map(|a| resolve_type(a, role, &mut *eval))
                .collect();
            let result = p
                .result
                .as_ref()
                .map(|r| resolve_type(r, Role::Result, &mut *eval));
            if args.iter().any(Option::is_none) || matches!(result, Some(None)) {
                continue;
            }
            let args: Vec<TypeRef> = args.into_iter().flatten().collect();
            let argument_struct = match (args.len(), vnum) {
                (0 | 1, _) | (_, None) => None,
                (_, Some(v)) => {
                    let Some(s) = argument_struct(p, v, &args, diags) else {
                        continue;
                    };
                    let name = s.name.clone();
                    argument_structs.push(s);
                    Some(name)
                }
            };
            let Some(number) = pnum else { continue };
            procedures.push(Procedure {
                name: p.name.name.clone(),
                number,
                kind: ProcedureKind::Call,
                args,
                argument_struct,
                result: result.flatten(),
                message: None,
                annotations: Default::default(),
                span: p.name.span,
                doc: crate::ir::types::doc_text(&p.doc),
            });
        }
        if let Some(number) = vnum {
            versions.push(Version {
                name: v.name.name.clone(),
                number,
                procedures,
                span: v.name.span,
            });
        }
    }
    Some(Program {
        name: def.name.name.clone(),
        number: number?,
        versions,
        convention: Convention::Rfc5531,
        span,
        doc,
    })
}

/// The resolved constants and types by name, for detecting libvirt
/// programs and resolving each (built once, so many programs cost linear
/// time).
pub(crate) struct Definitions<'a> {
    /// In order, as defined.
    constant_list: &'a [Constant],
    type_list: &'a [TypeDef],
    constants: HashMap<&'a str, &'a Constant>,
    types: HashMap<&'a str, &'a TypeDef>,
    /// By [`type_key`]; of types sharing a key, the last.
    by_key: HashMap<String, &'a TypeDef>,
}

impl<'a> Definitions<'a> {
    pub(crate) fn new(constants: &'a [Constant], types: &'a [TypeDef]) -> Self {
        // A name defined twice (an error reported already) means its first
        // definition, as a search from the start would find.
        let mut defs = Definitions {
            constant_list: constants,
            type_list: types,
            constants: HashMap::new(),
            types: HashMap::new(),
            by_key: types.iter().map(|t| (type_key(&t.name), t)).collect(),
        };
        for c in constants {
            defs.constants.entry(c.name.as_str()).or_insert(c);
        }
        for t in types {
            defs.types.entry(t.name.as_str()).or_insert(t);
        }
        defs
    }
}

/// Resolves a libvirt-style program from already resolved constants and
/// types. Problems with the names themselves are reported without a
/// location (they come from options), or at the enum when detected there.
pub(crate) fn libvirt(
    names: &LibvirtProgram,
    defs: &Definitions<'_>,
    diags: &mut Vec<Diagnostic>,
) -> Option<Program> {
    let constant = |name: &str, diags: &mut Vec<Diagnostic>| {
        let c = defs.constants.get(name).copied();
        if c.is_none() {
            diags.push(Diagnostic::error_without_location(format!(
                "libvirt program: constant `{name}` is not defined"
            )));
        }
        let c = c?;
        match u32::try_from(c.value) {
            Ok(v) => Some((v, c.span)),
            Err(_) => {
                let d = format!(
                    "libvirt program: `{name}` = {} is not an unsigned 32-bit value",
                    c.value
                );
                diags.push(match c.span {
                    Some(s) => Diagnostic::error(s, d),
                    None => Diagnostic::error_without_location(d),
                });
                None
            }
        }
    };
    let program = constant(&names.program_constant, diags);
    let version = constant(&names.version_constant, diags);
    let Some(&enum_def) = defs.types.get(names.procedure_enum.as_str()) else {
        diags.push(Diagnostic::error_without_location(format!(
            "libvirt program `{}`: procedure enum `{}` is not defined",
            names.program_constant, names.procedure_enum
        )));
        return None;
    };
    let TypeKind::Enum(procs) = &enum_def.kind else {
        diags.push(Diagnostic::error(
            enum_def.span,
            format!(
                "libvirt program `{}`: `{}` is not an enum",
                names.program_constant, names.procedure_enum
            ),
        ));
        return None;
    };
    let (number, span) = program?;
    let (version_number, version_span) = version?;
    let member_prefix = member_prefix(&names.program_constant);
    let mut procedures = Vec::new();
    for m in &procs.members {
        let Some(stem) = m.name.strip_prefix(&member_prefix) else {
            diags.push(
                Diagnostic::error(
                    m.span,
                    format!(
                        "procedure `{}` does not start with `{member_prefix}`",
                        m.name
                    ),
                )
                .with_label("cannot derive its argument and reply type names"),
            );
            continue;
        };
        let find = |suffix: &str| {
            defs.by_key
                .get(&type_key(&procedure_type_name(&names.prefix, stem, suffix)))
                .map(|t| {
                    TypeRef::scalar(BaseType::Named {
                        name: t.name.clone(),
                        kind: named_kind(&t.kind),
                    })
                })
        };
        let (args, result, message) = (find("args"), find("ret"), find("msg"));
        let kind = if message.is_some() {
            if args.is_some() || result.is_some() {
                diags.push(Diagnostic::warning(
                    m.span,
                    format!("procedure `{}` has a message type and argument or reply types; treated as a message", m.name),
                ));
            }
            ProcedureKind::Message
        } else {
            ProcedureKind::Call
        };
        let Ok(number) = u32::try_from(m.value) else {
            diags.push(Diagnostic::error(
                m.span,
                format!("procedure number {} is negative", m.value),
            ));
            continue;
        };
        let (args, result) = if kind == ProcedureKind::Message {
            (Vec::new(), None)
        } else {
            (args.into_iter().collect(), result)
        };
        procedures.push(Procedure {
            name: m.name.clone(),
            number,
            kind,
            args,
            argument_struct: None,
            result,
            message,
            annotations: m.annotations.clone(),
            span: m.span,
            doc: m.doc.clone(),
        });
    }
    let span = span.unwrap_or(enum_def.span);
    Some(Program {
        name: names.program_constant.clone(),
        number,
        versions: vec![Version {
            name: names.version_constant.clone(),
            number: version_number,
            procedures,
            span: version_span.unwrap_or(span),
        }],
        convention: Convention::Libvirt(names.clone()),
        span,
        doc: defs
            .constants
            .get(names.program_constant.as_str())
            .and_then(|c| c.doc.clone()),
    })
}

fn named_kind(k: &TypeKind) -> NamedKind {
    match k {
        TypeKind::Alias(_) => NamedKind::Alias,
        TypeKind::Enum(_) => NamedKind::Enum,
        TypeKind::Struct(_) => NamedKind::Struct,
        TypeKind::Union(_) => NamedKind::Union,
    }
}

/// `REMOTE_PROGRAM` → `REMOTE_PROC_`.
pub(crate) fn member_prefix(program_constant: &str) -> String {
    let stem = program_constant
        .strip_suffix("_PROGRAM")
        .unwrap_or(program_constant);
    format!("{stem}_PROC_")
}

/// The type name libvirt's convention gives a procedure's `suffix`
/// (`args`, `ret` or `msg`) type.
pub(crate) fn procedure_type_name(prefix: &str, stem: &str, suffix: &str) -> String {
    if prefix.chars().any(|c| c.is_ascii_uppercase()) {
        let camel: String = stem
            .split('_')
            .map(|w| {
                let mut cs = w.chars();
                cs.next()
                    .map(|c| c.to_ascii_uppercase().to_string() + &cs.as_str().to_ascii_lowercase())
                    .unwrap_or_default()
            })
            .collect();
        let mut s = suffix.to_owned();
        s[..1].make_ascii_uppercase();
        format!("{prefix}{camel}{s}")
    } else {
        format!("{prefix}_{}_{suffix}", stem.to_ascii_lowercase())
    }
}

/// Camel-case names differ from the procedure name in word breaks
/// (`CREATE_LOCKSPACE` vs `CreateLockSpace`), so names are matched
/// case-insensitively and, for names without underscores, ignoring them.
fn type_key(name: &str) -> String {
    name.to_ascii_lowercase()
}

/// Finds libvirt-style programs: a `X_PROGRAM` constant, a
/// `X_PROTOCOL_VERSION` or `X_PROGRAM_VERSION` constant, and an enum named
/// `*_procedure` / `*Procedure` whose members all start with `X_PROC_`.
pub(crate) fn detect_libvirt(defs: &Definitions<'_>) -> Vec<LibvirtProgram> {
    let enums = procedure_enums(defs.type_list);
    let mut out = Vec::new();
    for c in defs.constant_list {
        let Some(stem) = c.name.strip_suffix("_PROGRAM") else {
            continue;
        };
        let Some(version) = [
            format!("{stem}_PROTOCOL_VERSION"),
            format!("{stem}_PROGRAM_VERSION"),
        ]
        .into_iter()
        .find(|v| defs.constants.contains_key(v.as_str())) else {
            continue;
        };
        if let Some((procedure_enum, prefix)) = enums.get(member_prefix(&c.name).as_str()) {
            out.push(LibvirtProgram {
                program_constant: c.name.clone(),
                version_constant: version,
                procedure_enum: procedure_enum.clone(),
                prefix: prefix.clone(),
            });
        }
    }
    out
}

/// The enums that can list a libvirt program's procedures (named
/// `*_procedure` or `*Procedure`), by each `X_PROC_` prefix all their
/// members start with, with the prefix of their name; the first such enum
/// for a prefix. Found in one pass over the members, so detection costs
/// linear time.
fn procedure_enums(types: &[TypeDef]) -> HashMap<&str, (String, String)> {
    let mut found = HashMap::new();
    for t in types {
        let TypeKind::Enum(e) = &t.kind else {
            continue;
        };
        let Some(prefix) = t
            .name
            .strip_suffix("_procedure")
            .or_else(|| t.name.strip_suffix("Procedure"))
        else {
            continue;
        };
        let Some((first, rest)) = e.members.split_first() else {
            continue;
        };
        // The longest prefix every member shares; each `_PROC_` in it
        // ends a prefix the members start with.
        let mut shared = first.name.len();
        for m in rest {
            shared = first.name.as_bytes()[..shared]
                .iter()
                .zip(m.name.as_bytes())
                .take_while(|(a, b)| a == b)
                .count();
        }
        // (Identifiers are ASCII, so the byte count ends a character.)
        let shared = first.name.get(..shared).unwrap_or_default();
        for (i, marker) in shared.match_indices("_PROC_") {
            found
                .entry(&shared[..i + marker.len()])
                .or_insert_with(|| (t.name.clone(), prefix.to_owned()));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_follow_both_styles() {
        assert_eq!(
            procedure_type_name("remote", "DOMAIN_GET_INFO", "args"),
            "remote_domain_get_info_args"
        );
        assert_eq!(
            procedure_type_name("virLockSpaceProtocol", "ACQUIRE_RESOURCE", "args"),
            "virLockSpaceProtocolAcquireResourceArgs"
        );
        assert_eq!(
            member_prefix("VIR_LXC_MONITOR_PROGRAM"),
            "VIR_LXC_MONITOR_PROC_"
        );
    }
}
