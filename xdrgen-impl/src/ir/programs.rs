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

/// Resolves a libvirt-style program from already resolved constants and
/// types. Problems with the names themselves are reported without a
/// location (they come from options), or at the enum when detected there.
pub(crate) fn libvirt(
    names: &LibvirtProgram,
    constants: &[Constant],
    types: &[TypeDef],
    diags: &mut Vec<Diagnostic>,
) -> Option<Program> {
    let constant = |name: &str, diags: &mut Vec<Diagnostic>| {
        let c = constants.iter().find(|c| c.name == name);
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
    let Some(enum_def) = types.iter().find(|t| t.name == names.procedure_enum) else {
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
    let by_key: HashMap<String, &TypeDef> = types.iter().map(|t| (type_key(&t.name), t)).collect();
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
            by_key
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
        doc: constants
            .iter()
            .find(|c| c.name == names.program_constant)
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
pub(crate) fn detect_libvirt(constants: &[Constant], types: &[TypeDef]) -> Vec<LibvirtProgram> {
    let mut out = Vec::new();
    for c in constants {
        let Some(stem) = c.name.strip_suffix("_PROGRAM") else {
            continue;
        };
        let Some(version) = [
            format!("{stem}_PROTOCOL_VERSION"),
            format!("{stem}_PROGRAM_VERSION"),
        ]
        .into_iter()
        .find(|v| constants.iter().any(|c| &c.name == v)) else {
            continue;
        };
        let member_prefix = member_prefix(&c.name);
        let found = types.iter().find_map(|t| {
            let TypeKind::Enum(e) = &t.kind else {
                return None;
            };
            let prefix = t
                .name
                .strip_suffix("_procedure")
                .or_else(|| t.name.strip_suffix("Procedure"))?;
            let all = !e.members.is_empty()
                && e.members.iter().all(|m| m.name.starts_with(&member_prefix));
            all.then(|| (t.name.clone(), prefix.to_owned()))
        });
        if let Some((procedure_enum, prefix)) = found {
            out.push(LibvirtProgram {
                program_constant: c.name.clone(),
                version_constant: version,
                procedure_enum,
                prefix,
            });
        }
    }
    out
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
