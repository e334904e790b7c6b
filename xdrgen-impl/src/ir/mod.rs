//! The resolve pass: from syntax trees to a [`Spec`].
//!
//! [`load`] parses every file of a [`SourceMap`], registers all names in one
//! namespace (so files may use each other's definitions, as libvirt's
//! `qemu_protocol.x` uses `remote_protocol.x`), evaluates constants,
//! resolves types, finds recursion and builds programs. It reports every
//! problem it can find in one run and never panics on any input.

mod model;
pub mod preset;
mod procedure_types;
mod programs;
mod recursion;
mod rpcgen_preset;
mod symbols;
mod types;

use std::collections::HashMap;

pub use crate::syntax::annotations::{
    AclCondition, AclPermission, AclRule, Annotations, Generate, Priority, StreamAnnotation,
    StreamDirection,
};
pub use model::*;

use crate::diag::{Diagnostic, Diagnostics, SourceMap, Span};
use crate::syntax::ast::{self, ItemKind};
use crate::syntax::parse_file;
use symbols::{ConstDecl, ConstSource, Fallback, Symbols, ValueSym};
use types::{doc_text, PendingType, TypeResolver, TypeSource, TypeTable};

/// At most this many diagnostics are kept (in source order); a last one
/// says how many more there were.
pub const MAX_DIAGNOSTICS: usize = 100;

pub use types::MAX_FIXED_LENGTH;

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

/// Whether the rpcgen preset ([`preset::RPCGEN_TYPES`]) fills in the C
/// type names (`u_int`, `uint32_t`, `netobj`, ...) a spec uses without
/// defining. Separate from [`Options`] so that adding it changed no
/// existing caller; [`load`] uses [`RpcgenPreset::Auto`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RpcgenPreset {
    /// On, except for libvirt-style specs (libvirt programs given in
    /// [`Options::libvirt_programs`], or found by their names).
    #[default]
    Auto,
    /// Always on.
    On,
    /// Off.
    Off,
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

/// Parses and resolves every file in `sources` as one specification, with
/// the rpcgen preset left to [`RpcgenPreset::Auto`].
pub fn load(sources: &SourceMap, options: &Options) -> Loaded {
    load_with(sources, options, RpcgenPreset::Auto)
}

/// [`load`] with the rpcgen preset chosen.
pub fn load_with(sources: &SourceMap, options: &Options, rpcgen: RpcgenPreset) -> Loaded {
    load_preprocessed(sources, options, rpcgen, Vec::new())
}

/// [`load_with`] for files a preprocessor has been through
/// ([`crate::cpp::preprocess`]), keeping its diagnostics with the rest.
pub fn load_preprocessed(
    sources: &SourceMap,
    options: &Options,
    rpcgen: RpcgenPreset,
    preprocessor_diagnostics: Vec<Diagnostic>,
) -> Loaded {
    let mut diags = preprocessor_diagnostics;
    let files: Vec<ast::File> = sources
        .files()
        .map(|(id, f)| {
            let (file, d) = parse_file(id, f.parse_text());
            diags.extend(d);
            file
        })
        .collect();
    let spec = resolve(sources, &files, options, rpcgen, &mut diags);
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
    rpcgen: RpcgenPreset,
    diags: &mut Vec<Diagnostic>,
) -> Spec {
    let rpcgen = rpcgen_preset::applies(rpcgen, files, &options.libvirt_programs);
    let (preset_types, external_types) = if rpcgen {
        rpcgen_preset::undefined(files)
    } else {
        (Vec::new(), Vec::new())
    };
    let mut symbols = Symbols::default();
    let mut table = TypeTable::default();
    let mut passthrough = Vec::new();
    let mut passthrough_lines = Vec::new();
    let mut program_defs = Vec::new();
    let mut string_constants = Vec::new();

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
                synthetic: None,
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
                ItemKind::StringConst { name, value } => {
                    symbols.define_value(
                        &name.name,
                        ValueSym::Str(name.span),
                        Some(name.span),
                        diags,
                    );
                    string_constants.push(StringConstant {
                        name: name.name.clone(),
                        value: value.value.clone(),
                        span: name.span,
                        doc: doc.clone(),
                    });
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
                ItemKind::Passthrough(text) => {
                    passthrough.push(text.clone());
                    passthrough_lines.push((text.as_str(), item.span));
                }
                ItemKind::Directive(_) => {}
            }
        }
    }

    // After the files' own definitions, which win.
    for decl in &preset_types {
        let ast::DeclarationKind::Named { name, .. } = &decl.kind else {
            continue;
        };
        let p = PendingType {
            name: name.name.clone(),
            span: name.span,
            doc: Some(format!(
                "`{}`: a C type of rpcgen's headers (the rpcgen preset).",
                name.name
            )),
            inline: false,
            source: TypeSource::Alias(decl),
            enum_index: None,
            synthetic: Some(Synthetic::RpcgenPreset),
        };
        table.define(p, &mut symbols, diags);
    }

    // What is still undefined is left to the surrounding code, as rpcgen
    // leaves it to C; a constant of that name is a mistake, reported later.
    let mut externals = Vec::new();
    for id in &external_types {
        if symbols.values.contains_key(id.name.as_str()) {
            continue;
        }
        diags.push(
            Diagnostic::warning(
                id.span,
                format!("`{}` is not defined in these files", id.name),
            )
            .with_label("used here")
            .with_note(format!(
                "as rpcgen's C expects `xdr_{}` from elsewhere, the generated code expects \
                     a type of this name (in Rust's naming) with Encode and Decode in scope, \
                     e.g. from the code generated for the spec that defines it",
                id.name
            )),
        );
        externals.push(ExternalType {
            name: id.name.clone(),
            span: id.span,
        });
        let p = PendingType {
            name: id.name.clone(),
            span: id.span,
            doc: None,
            inline: false,
            source: TypeSource::External,
            enum_index: None,
            synthetic: None,
        };
        table.define(p, &mut symbols, diags);
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
    // Later sources win: a macro of the spec's own over a preset.
    let preset = |&(n, v): &(&str, i128)| {
        let f = Fallback {
            value: v,
            origin: ConstantOrigin::Preset,
            span: None,
        };
        (n.to_owned(), f)
    };
    if options.libvirt_preset {
        symbols
            .presets
            .extend(preset::LIBVIRT_CONSTANTS.iter().map(preset));
    }
    if rpcgen {
        symbols
            .presets
            .extend(preset::RPCGEN_CONSTANTS.iter().map(preset));
    }
    symbols.macros_without_value = sources
        .macros_without_value()
        .iter()
        .map(|m| (m.name.clone(), (m.span, m.why.clone())))
        .collect();
    let passthrough_defines = crate::cpp::passthrough_defines(&passthrough_lines);
    for m in passthrough_defines.iter().chain(sources.macro_constants()) {
        let f = Fallback {
            value: m.value,
            origin: ConstantOrigin::Macro,
            span: m.span,
        };
        symbols.presets.insert(m.name.clone(), f);
    }

    let mut types = TypeResolver {
        symbols: &mut symbols,
        table: &table,
        diags: &mut *diags,
        enum_values: HashMap::new(),
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
    let mut argument_structs = Vec::new();
    for (def, doc, span) in program_defs {
        let mut type_errors = Vec::new();
        let mut value_errors = Vec::new();
        let program = {
            let mut resolve = |t: &ast::ProcedureType, role, eval: &mut programs::EvalValue<'_>| {
                procedure_types::resolve(t, role, &type_kinds, eval, &mut type_errors)
            };
            let mut eval = |v: &ast::Value| symbols.value(v, &mut value_errors);
            programs::rfc5531(
                def,
                doc,
                span,
                &mut resolve,
                &mut eval,
                &mut argument_structs,
                diags,
            )
        };
        diags.extend(type_errors);
        diags.extend(value_errors);
        programs.extend(program);
    }
    let mut type_spans: HashMap<String, Span> =
        types.iter().map(|t| (t.name.clone(), t.span)).collect();
    for s in argument_structs {
        if let Some(&prev) = type_spans.get(&s.name) {
            diags.push(
                Diagnostic::error(
                    s.span,
                    format!(
                        "the struct of this procedure's arguments, `{}`, is already defined",
                        s.name
                    ),
                )
                .with_secondary(prev, "defined here")
                .with_note("rpcgen -N declares it under this name too"),
            );
            continue;
        }
        type_spans.insert(s.name.clone(), s.span);
        types.push(s);
    }

    // Preset constants the files used (by bounds, enum values or case
    // labels) become part of the specification.
    for (name, f) in std::mem::take(&mut symbols.used_presets) {
        constants.push(Constant {
            name,
            value: f.value,
            origin: f.origin,
            span: f.span,
            doc: None,
        });
    }

    let defs = programs::Definitions::new(&constants, &types);
    let libvirt = match &options.libvirt_programs {
        LibvirtPrograms::Detect => programs::detect_libvirt(&defs),
        LibvirtPrograms::Only(list) => list.clone(),
    };
    for names in &libvirt {
        programs.extend(programs::libvirt(names, &defs, diags));
    }
    check_program_numbers(&programs, diags);

    Spec {
        files: sources.files().map(|(_, f)| f.name.clone()).collect(),
        constants,
        string_constants,
        types,
        programs,
        passthrough,
        external_types: externals,
    }
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
    use crate::diag::{MacroConstant, Span};

    fn load_text(text: &str) -> Loaded {
        let mut sources = SourceMap::new();
        sources.add("t.x", text);
        load(&sources, &Options::default())
    }

    /// The messages of what loading reported, in order.
    fn messages(loaded: &Loaded) -> Vec<&str> {
        loaded
            .diagnostics
            .0
            .iter()
            .map(|d| d.message.as_str())
            .collect()
    }

    #[test]
    fn an_undefined_constant_in_an_enum_a_union_checks_first_is_reported() {
        // The union's case labels are checked against the enum before the
        // enum itself is built.
        let loaded = load_text(
            "union u switch (e d) { case 2: int a; };\n\
             enum e { A = 0, B = NO_SUCH, C = 2 };",
        );
        let found = messages(&loaded);
        assert!(found.contains(&"undefined constant `NO_SUCH`"), "{found:?}");
        assert!(loaded.spec.is_none());
    }

    #[test]
    fn rpcgen_specs_leave_undefined_types_to_the_surrounding_code() {
        let text = "typedef nis_object *obj_p;\n\
                    struct s { obj_p o; struct other_t x; };\n\
                    program P { version V { void F(nis_error) = 1; } = 1; } = 7;";
        let loaded = load_text(text);
        let names = messages(&loaded);
        assert_eq!(
            names,
            [
                "`nis_object` is not defined in these files",
                "`other_t` is not defined in these files",
                "`nis_error` is not defined in these files",
            ]
        );
        let spec = loaded.spec.expect("warnings only");
        let external: Vec<&str> = spec
            .external_types
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        assert_eq!(external, ["nis_object", "other_t", "nis_error"]);
        assert_eq!(spec.types.len(), 2, "no definition is made up for them");
        let arg = &spec.programs[0].versions[0].procedures[0].args[0];
        assert_eq!(
            arg.base,
            BaseType::Named {
                name: "nis_error".into(),
                kind: NamedKind::External
            }
        );
    }

    #[test]
    fn without_the_rpcgen_preset_an_undefined_type_is_an_error() {
        let mut sources = SourceMap::new();
        sources.add(
            "t.x",
            "struct s { nis_object o; };\nconst C = 1;\nstruct t { C c; };",
        );
        let loaded = load_with(&sources, &Options::default(), RpcgenPreset::Off);
        assert!(loaded.spec.is_none());
        assert_eq!(loaded.diagnostics.error_count(), 2);
        // With the preset, a constant's name used as a type stays an error.
        let loaded = load_with(&sources, &Options::default(), RpcgenPreset::On);
        let errors: Vec<&str> = loaded
            .diagnostics
            .0
            .iter()
            .filter(|d| d.is_error())
            .map(|d| d.message.as_str())
            .collect();
        assert_eq!(errors, ["undefined type `C`"]);
    }

    #[test]
    fn macro_constants_fill_in_names_nothing_else_defines() {
        let mut sources = SourceMap::new();
        let id = sources.add(
            "t.x",
            "const OWN = 3;\n%#define PASSED 5\nstruct s { int a[OWN]; int b<MACRO>; int c<PASSED>; };",
        );
        let span = |start, end| Some(Span::new(id, start, end));
        for (name, value) in [("OWN", 99), ("MACRO", 7), ("UNUSED", 1)] {
            sources.add_macro_constant(MacroConstant {
                name: name.into(),
                value,
                span: span(0, 1),
            });
        }
        let spec = load(&sources, &Options::default()).spec.unwrap();
        let constants: Vec<(&str, i128, &ConstantOrigin)> = spec
            .constants
            .iter()
            .map(|c| (c.name.as_str(), c.value, &c.origin))
            .collect();
        assert_eq!(
            constants,
            [
                ("OWN", 3, &ConstantOrigin::Literal),
                ("MACRO", 7, &ConstantOrigin::Macro),
                ("PASSED", 5, &ConstantOrigin::Macro),
            ]
        );
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

    fn load_rpcgen(text: &str, options: &Options, mode: RpcgenPreset) -> Loaded {
        let mut sources = SourceMap::new();
        sources.add("t.x", text);
        load_with(&sources, options, mode)
    }

    fn alias_of(spec: &Spec, name: &str) -> TypeRef {
        match &spec.type_def(name).unwrap().kind {
            TypeKind::Alias(t) => t.clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rpcgen_preset_fills_in_only_used_undefined_names() {
        let spec = load_text("struct s { u_int a; netobj n; u_int b; };")
            .spec
            .unwrap();
        let preset: Vec<&str> = spec
            .types
            .iter()
            .filter(|t| t.synthetic == Some(Synthetic::RpcgenPreset))
            .map(|t| t.name.as_str())
            .collect();
        assert_eq!(preset, ["u_int", "netobj"]);
        assert_eq!(
            alias_of(&spec, "u_int"),
            TypeRef::scalar(BaseType::UnsignedInt)
        );
        assert_eq!(
            alias_of(&spec, "netobj"),
            TypeRef {
                base: BaseType::Opaque,
                shape: Shape::Variable(Some(1024))
            }
        );
        // Spanned at the first use.
        let u = spec.type_def("u_int").unwrap();
        assert_eq!((u.span.start, u.span.end), (11, 16));
    }

    #[test]
    fn a_specs_own_definition_wins_over_the_rpcgen_preset() {
        let spec = load_text("typedef hyper u_int; struct s { u_int a; };")
            .spec
            .unwrap();
        assert_eq!(alias_of(&spec, "u_int"), TypeRef::scalar(BaseType::Hyper));
        assert_eq!(spec.type_def("u_int").unwrap().synthetic, None);
        let spec = load_text("const MAXNETNAMELEN = 7; typedef string n<MAXNETNAMELEN>;")
            .spec
            .unwrap();
        assert_eq!(spec.constant("MAXNETNAMELEN").unwrap().value, 7);
    }

    #[test]
    fn rpcgen_preset_is_off_for_libvirt_style_specs_unless_switched_on() {
        let libvirt = "const X_PROGRAM = 1; const X_PROTOCOL_VERSION = 1;\n\
                       enum x_procedure { X_PROC_A = 1 };\n\
                       struct x_a_args { u_int n; };";
        let off = load_rpcgen(libvirt, &Options::default(), RpcgenPreset::Auto);
        assert!(off.spec.is_none());
        assert!(off.diagnostics.0[0]
            .message
            .contains("undefined type `u_int`"));
        let on = load_rpcgen(libvirt, &Options::default(), RpcgenPreset::On);
        assert!(on.spec.is_some(), "{:?}", on.diagnostics);
        let plain = "struct s { uint32_t n; };";
        assert!(load_rpcgen(plain, &Options::default(), RpcgenPreset::Off)
            .spec
            .is_none());
        let given = Options {
            libvirt_programs: LibvirtPrograms::Only(vec![LibvirtProgram {
                program_constant: "P".into(),
                version_constant: "V".into(),
                procedure_enum: "e".into(),
                prefix: "p".into(),
            }]),
            ..Options::default()
        };
        let l = load_rpcgen(plain, &given, RpcgenPreset::Auto);
        assert!(l
            .diagnostics
            .0
            .iter()
            .any(|d| d.message.contains("undefined type `uint32_t`")));
    }

    #[test]
    fn string_constants_are_kept_apart_from_numbers() {
        let spec = load_text("const HEX = \"d4a0\"; const N = 2;")
            .spec
            .unwrap();
        assert_eq!(spec.string_constants.len(), 1);
        assert_eq!(spec.string_constants[0].value, "d4a0");
        assert_eq!(spec.constants.len(), 1);
        let dup = load_text("const A = \"x\"; const A = 1;");
        assert!(dup.diagnostics.0[0]
            .message
            .contains("defined more than once"));
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

    #[test]
    fn syntax_errors_past_the_cap_are_counted_not_kept() {
        // One error per line, 50,000 lines: kept up to the cap, then one
        // diagnostic counting the others.
        let text = "struct ; ;\n".repeat(50_000);
        let (_, diags) = crate::syntax::parse_file(crate::diag::FileId(0), &text);
        assert_eq!(diags.len(), MAX_DIAGNOSTICS + 1, "{:?}", diags.last());
        let last = diags.last().unwrap();
        assert!(
            last.message.ends_with("more syntax errors in this file"),
            "{}",
            last.message
        );
        let more: usize = last.message.split(' ').next().unwrap().parse().unwrap();
        assert!(more > 10_000, "{more}");
    }

    #[test]
    fn fixed_lengths_have_a_cap() {
        let at_cap = format!("typedef opaque fits[{MAX_FIXED_LENGTH}];");
        assert!(load_text(&at_cap).spec.is_some());
        for text in [
            format!("typedef opaque huge[{}];", MAX_FIXED_LENGTH + 1),
            "struct s { int a[4000000000]; };".to_owned(),
            "program P { version V { void F(opaque[4000000000]) = 1; } = 1; } = 1;".to_owned(),
        ] {
            let loaded = load_text(&text);
            assert!(loaded.spec.is_none(), "{text}");
            let m = &loaded.diagnostics.0[0].message;
            assert!(
                m.contains("more than xdrgen's limit of 268435456"),
                "{text}: {m}"
            );
        }
        // A variable length's maximum is only a bound: no cap.
        assert!(load_text("typedef opaque big<4000000000>;").spec.is_some());
    }
    #[test]
    fn a_constant_with_a_members_value_is_a_case_label_of_that_enum() {
        // rpcgen takes any constant; xdrgen takes one whose value is a
        // member's, and still refuses another enum's member.
        let ok = load_text(
            "enum e { A = 1, B = 2 };\nconst TWO = 2;\n\
             union u switch (e d) { case A: int a; case TWO: int b; };",
        );
        assert!(ok.spec.is_some(), "{:?}", ok.diagnostics.0);
        for (label, message) in [
            ("THREE", "`THREE` is not a member of enum `e`"),
            ("X", "`X` is not a member of enum `e`"),
        ] {
            let loaded = load_text(&format!(
                "enum e {{ A = 1, B = 2 }};\nenum f {{ X = 1 }};\nconst THREE = 3;\n\
                 union u switch (e d) {{ case {label}: int a; }};"
            ));
            assert_eq!(messages(&loaded), [message]);
        }
    }

    #[test]
    fn libvirt_programs_are_found_by_each_proc_prefix_of_their_enum() {
        // `A_PROC_B_PROGRAM`'s procedures start with `A_PROC_B_PROC_`,
        // which holds the shorter `A_PROC_` too: both programs find it.
        let loaded = load_text(
            "const A_PROGRAM = 1;\nconst A_PROTOCOL_VERSION = 1;\n\
             const A_PROC_B_PROGRAM = 2;\nconst A_PROC_B_PROGRAM_VERSION = 1;\n\
             const C_PROGRAM = 3;\nconst C_PROTOCOL_VERSION = 1;\n\
             enum x_procedure { A_PROC_B_PROC_ONE = 1, A_PROC_B_PROC_TWO = 2 };",
        );
        let spec = loaded.spec.expect("loads");
        let found: Vec<(&str, usize)> = spec
            .programs
            .iter()
            .map(|p| (p.name.as_str(), p.versions[0].procedures.len()))
            .collect();
        assert_eq!(found, [("A_PROGRAM", 2), ("A_PROC_B_PROGRAM", 2)]);
    }
}
