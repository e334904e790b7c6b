//! The resolve pass: from syntax trees to a [`Spec`].
//!
//! [`load`] parses every file of a [`SourceMap`], registers all names in one
//! namespace (so files may use each other's definitions, as libvirt's
//! `qemu_protocol.x` uses `remote_protocol.x`), evaluates constants,
//! resolves types, finds recursion and builds programs. It reports every
//! problem it can find in one run and never panics on any input.

mod model;
pub mod preset;
mod programs;
mod recursion;
mod symbols;
mod types;

use std::collections::HashMap;

pub use crate::syntax::annotations::{
    AclCondition, AclPermission, AclRule, Annotations, Generate, Priority, StreamAnnotation,
    StreamDirection,
};
pub use model::*;
pub(crate) use programs::member_prefix;

use crate::diag::{Diagnostic, Diagnostics, SourceMap};
use crate::syntax::ast::{self, ItemKind};
use crate::syntax::parse_file;
use symbols::{ConstDecl, ConstSource, Symbols, ValueSym};
use types::{doc_text, PendingType, TypeResolver, TypeSource, TypeTable};

/// At most this many diagnostics are kept (in source order); a last one
/// says how many more there were.
pub const MAX_DIAGNOSTICS: usize = 100;

/// Which libvirt-style programs to build.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum LibvirtPrograms {
    /// Find them by libvirt's naming convention (see
    /// [`LibvirtProgram`]): a `X_PROGRAM` constant, a `X_PROTOCOL_VERSION` or
    /// `X_PROGRAM_VERSION` constant and an enum `x_procedure` /
    /// `xProcedure` whose members start with `X_PROC_`.
    #[default]
    Detect,
    /// Exactly these.
    Only(Vec<LibvirtProgram>),
}

/// How to load a specification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// External constants (`--define NAME=VALUE`), in order.
    pub defines: Vec<(String, i128)>,
    /// Whether libvirt's C-header constants ([`preset::LIBVIRT_CONSTANTS`])
    /// may fill in names nothing else defines.
    pub libvirt_preset: bool,
    /// Which libvirt-style programs to build.
    pub libvirt_programs: LibvirtPrograms,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            defines: Vec::new(),
            libvirt_preset: true,
            libvirt_programs: LibvirtPrograms::Detect,
        }
    }
}

/// What [`load`] produced.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The specification, when there were no errors.
    pub spec: Option<Spec>,
    /// Errors and warnings, sorted by location.
    pub diagnostics: Diagnostics,
    /// The parsed files, in the order of the source map.
    pub files: Vec<ast::File>,
}

/// Parses and resolves every file in `sources` as one specification.
pub fn load(sources: &SourceMap, options: &Options) -> Loaded {
    let mut diags = Vec::new();
    let files: Vec<ast::File> = sources
        .files()
        .map(|(id, f)| {
            let (file, d) = parse_file(id, &f.text);
            diags.extend(d);
            file
        })
        .collect();
    let spec = resolve(sources, &files, options, &mut diags);
    let mut diagnostics = Diagnostics(diags);
    diagnostics.sort();
    diagnostics.truncate(MAX_DIAGNOSTICS);
    let spec = if diagnostics.has_errors() {
        None
    } else {
        Some(spec)
    };
    Loaded {
        spec,
        diagnostics,
        files,
    }
}

fn resolve(
    sources: &SourceMap,
    files: &[ast::File],
    options: &Options,
    diags: &mut Vec<Diagnostic>,
) -> Spec {
    let mut symbols = Symbols::default();
    let mut table = TypeTable::default();
    let mut passthrough = Vec::new();
    let mut program_defs = Vec::new();

    for file in files {
        for item in &file.items {
            let doc = doc_text(&item.doc);
            let named = |name: &ast::Ident, source| PendingType {
                name: name.name.clone(),
                span: name.span,
                doc: doc.clone(),
                inline: false,
                source,
                enum_index: None,
            };
            match &item.kind {
                ItemKind::Const { name, value } => {
                    let idx = symbols.consts.len();
                    symbols.consts.push(ConstDecl {
                        name: &name.name,
                        value: ConstSource::File(value),
                        span: Some(name.span),
                        doc: doc.clone(),
                    });
                    symbols.define_value(&name.name, ValueSym::Const(idx), Some(name.span), diags);
                }
                ItemKind::Typedef(decl) => match &decl.kind {
                    // `typedef struct foo foo;` is a C idiom (libvirt's older
                    // files use it); the struct already is the type `foo`.
                    ast::DeclarationKind::Named {
                        ty:
                            ast::TypeSpec {
                                kind:
                                    ast::TypeSpecKind::Named {
                                        keyword: Some(_),
                                        name: target,
                                    },
                                ..
                            },
                        name,
                        shape: ast::Shape::Scalar,
                    } if target.name == name.name => {}
                    ast::DeclarationKind::Named { name, .. } => {
                        let p = named(name, TypeSource::Alias(decl));
                        table.define(p, &mut symbols, diags);
                    }
                    ast::DeclarationKind::Void => diags.push(
                        Diagnostic::error(decl.span, "`typedef void` declares nothing")
                            .with_label("needs a type and a name"),
                    ),
                },
                ItemKind::Enum { name, body } => {
                    let p = named(name, TypeSource::Enum(body));
                    table.define(p, &mut symbols, diags);
                }
                ItemKind::Struct { name, body } => {
                    let p = named(name, TypeSource::Struct(body));
                    table.define(p, &mut symbols, diags);
                }
                ItemKind::Union { name, body } => {
                    let p = named(name, TypeSource::Union(body));
                    table.define(p, &mut symbols, diags);
                }
                ItemKind::Program(def) => program_defs.push((def, doc, def.name.span)),
                ItemKind::Passthrough(text) => passthrough.push(text.clone()),
                ItemKind::Directive(_) => {}
            }
        }
    }

    for (name, value) in &options.defines {
        let idx = symbols.consts.len();
        symbols.consts.push(ConstDecl {
            name,
            value: ConstSource::External(*value, ConstantOrigin::Defined),
            span: None,
            doc: None,
        });
        symbols.define_value(name, ValueSym::Const(idx), None, diags);
    }
    if options.libvirt_preset {
        symbols.presets = preset::LIBVIRT_CONSTANTS
            .iter()
            .map(|&(n, v)| (n.to_owned(), v))
            .collect();
    }

    let mut types = TypeResolver {
        symbols: &mut symbols,
        table: &table,
        diags: &mut *diags,
    }
    .resolve_all();
    recursion::analyse(&mut types, diags);

    let mut constants = Vec::new();
    for idx in 0..symbols.consts.len() {
        let value = symbols.const_value(idx, diags);
        let c = &symbols.consts[idx];
        let Some(value) = value else { continue };
        let origin = match &c.value {
            ConstSource::File(ast::Value::Literal { .. }) => ConstantOrigin::Literal,
            ConstSource::File(ast::Value::Name(id)) => ConstantOrigin::Alias(id.name.clone()),
            ConstSource::External(_, o) => o.clone(),
        };
        constants.push(Constant {
            name: c.name.to_owned(),
            value,
            origin,
            span: c.span,
            doc: c.doc.clone(),
        });
    }

    let mut programs = Vec::new();
    let type_kinds: HashMap<&str, NamedKind> = table
        .pending
        .iter()
        .map(|p| (p.name.as_str(), p.source.kind()))
        .collect();
    for (def, doc, span) in program_defs {
        let mut type_errors = Vec::new();
        let mut value_errors = Vec::new();
        let program = {
            let mut resolve = |t: &ast::TypeSpec| program_type(t, &type_kinds, &mut type_errors);
            let mut eval = |v: &ast::Value| symbols.value(v, &mut value_errors);
            programs::rfc5531(def, doc, span, &mut resolve, &mut eval, diags)
        };
        diags.extend(type_errors);
        diags.extend(value_errors);
        programs.extend(program);
    }

    // Preset constants the files used (by bounds, enum values or case
    // labels) become part of the specification.
    for (name, value) in std::mem::take(&mut symbols.used_presets) {
        constants.push(Constant {
            name,
            value,
            origin: ConstantOrigin::Preset,
            span: None,
            doc: None,
        });
    }

    let libvirt = match &options.libvirt_programs {
        LibvirtPrograms::Detect => programs::detect_libvirt(&constants, &types),
        LibvirtPrograms::Only(list) => list.clone(),
    };
    for names in &libvirt {
        programs.extend(programs::libvirt(names, &constants, &types, diags));
    }
    check_program_numbers(&programs, diags);

    Spec {
        files: sources.files().map(|(_, f)| f.name.clone()).collect(),
        constants,
        types,
        programs,
        passthrough,
    }
}

/// A procedure argument or result type in a `program` block.
fn program_type(
    t: &ast::TypeSpec,
    kinds: &HashMap<&str, NamedKind>,
    diags: &mut Vec<Diagnostic>,
) -> Option<BaseType> {
    use ast::TypeSpecKind as K;
    Some(match &t.kind {
        K::Int | K::Long => BaseType::Int,
        K::UnsignedInt | K::UnsignedLong => BaseType::UnsignedInt,
        K::Hyper => BaseType::Hyper,
        K::UnsignedHyper => BaseType::UnsignedHyper,
        K::Char => BaseType::Char,
        K::UnsignedChar => BaseType::UnsignedChar,
        K::Short => BaseType::Short,
        K::UnsignedShort => BaseType::UnsignedShort,
        K::Float => BaseType::Float,
        K::Double => BaseType::Double,
        K::Quadruple => BaseType::Quadruple,
        K::Bool => BaseType::Bool,
        K::Named { name, .. } => match kinds.get(name.name.as_str()) {
            Some(&kind) => BaseType::Named {
                name: name.name.clone(),
                kind,
            },
            None => {
                diags.push(
                    Diagnostic::error(name.span, format!("undefined type `{}`", name.name))
                        .with_label("not defined in any loaded file"),
                );
                return None;
            }
        },
        K::String | K::Opaque | K::InlineEnum(_) | K::InlineStruct(_) | K::InlineUnion(_) => {
            diags.push(
                Diagnostic::error(
                    t.span,
                    "procedure arguments and results must be named or scalar types",
                )
                .with_note("declare a typedef for it and use the typedef's name"),
            );
            return None;
        }
    })
}

fn check_program_numbers(programs: &[Program], diags: &mut Vec<Diagnostic>) {
    let mut seen: HashMap<u32, &Program> = HashMap::new();
    for p in programs {
        if let Some(prev) = seen.insert(p.number, p) {
            diags.push(
                Diagnostic::error(
                    p.span,
                    format!(
                        "program number {:#x} is used by `{}` and `{}`",
                        p.number, prev.name, p.name
                    ),
                )
                .with_secondary(prev.span, "first used here"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str) -> Loaded {
        let mut sources = SourceMap::new();
        sources.add("t.x", text);
        load(&sources, &Options::default())
    }

    #[test]
    fn long_enums_with_implicit_values_count_up() {
        let members: Vec<String> = (0..20_000).map(|i| format!("M{i}")).collect();
        let text = format!("enum big {{ {} }};", members.join(", "));
        let spec = load_text(&text).spec.unwrap();
        let TypeKind::Enum(e) = &spec.types[0].kind else {
            panic!()
        };
        assert_eq!(e.members.len(), 20_000);
        assert!(e
            .members
            .iter()
            .enumerate()
            .all(|(i, m)| m.value == i as i32));
    }

    #[test]
    fn implicit_values_continue_from_explicit_ones() {
        let spec = load_text("enum e { A, B = 10, C, D = -5, E };")
            .spec
            .unwrap();
        let TypeKind::Enum(e) = &spec.types[0].kind else {
            panic!()
        };
        let values: Vec<i32> = e.members.iter().map(|m| m.value).collect();
        assert_eq!(values, [0, 10, 11, -5, -4]);
    }

    #[test]
    fn diagnostics_are_capped() {
        let text: String = (0..300)
            .map(|i| format!("const C{i} = UNDEFINED{i};\n"))
            .collect();
        let loaded = load_text(&text);
        assert_eq!(loaded.diagnostics.0.len(), MAX_DIAGNOSTICS + 1);
        let last = loaded.diagnostics.0.last().unwrap();
        assert_eq!(last.message, "200 more diagnostics not shown");
        assert!(last.is_error());
    }
}
