//! How one generated module names what it holds and what it uses.
//!
//! [`ModuleLayout`] is the one place that decides the Rust name of every
//! item [`generate_tokens`](super::generate_tokens) writes for a spec and
//! its [`GenOptions`]: each XDR type's name and the module it lives in (the
//! module's own types, or an [extern module](super::ExternModule)'s, named
//! exactly as that module's own generation named them), each constant's
//! name, each program's module, and each procedure's marker type. The item
//! and program generators read their names from it, and so can generators
//! of code that refers to those items (the client methods of
//! [`client`](super::client)), so that both always agree.
//!
//! Names depend only on the spec, the options and definition order, so the
//! same inputs always give the same names.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use crate::codegen::naming::{self, ModuleNames, Namespace};
use crate::codegen::{ExternModule, GenOptions};
use crate::diag::{FileId, Span};
use crate::ir::{BaseType, NamedKind, Procedure, Program, Spec, TypeDef, Version};

/// The types of `spec` from which a `float` or `double` field can be
/// reached: those with one, then, backwards along every reference (enums
/// aside), those that refer to them; linear in the spec's size.
fn floating(spec: &Spec) -> HashSet<&str> {
    let mut referrers: HashMap<&str, Vec<&str>> = HashMap::new();
    let mut found: Vec<&str> = Vec::new();
    for t in &spec.types {
        for (r, _) in t.references() {
            match &r.base {
                BaseType::Float | BaseType::Double => found.push(&t.name),
                BaseType::Named { name, kind } if *kind != NamedKind::Enum => {
                    referrers.entry(name.as_str()).or_default().push(&t.name);
                }
                _ => {}
            }
        }
    }
    let mut floating: HashSet<&str> = HashSet::new();
    while let Some(name) = found.pop() {
        if floating.insert(name) {
            found.extend(referrers.get(name).into_iter().flatten());
        }
    }
    floating
}

/// The module a generated type lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TypeModule {
    /// The module generated for the spec itself.
    Own,
    /// The extern module at this index of
    /// [`GenOptions::extern_modules`].
    Extern(usize),
}

/// Where a generated type is: its module and its Rust name there.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TypePath {
    /// The module holding it.
    pub module: TypeModule,
    /// Its Rust name in that module (`DomainGetInfoArgs`).
    pub name: String,
}

/// The names of the items [`generate_tokens`](super::generate_tokens)
/// writes for one spec with one set of options, and of the extern types
/// they use.
#[derive(Debug)]
pub struct ModuleLayout<'a> {
    spec: &'a Spec,
    options: &'a GenOptions,
    /// The module's own types and constants.
    names: ModuleNames,
    types: HashMap<&'a str, &'a TypeDef>,
    /// Types generated in an extern module: where, and their name there.
    extern_types: HashMap<&'a str, TypePath>,
    /// Files whose definitions are not generated here.
    extern_files: Vec<FileId>,
    /// The measured size of each named type's value (see `form.rs`),
    /// every type's measured in [`ModuleLayout::new`].
    pub(crate) value_sizes: Mutex<HashMap<String, u64>>,
    /// The types from which a `float` or `double` field can be reached.
    floating: HashSet<&'a str>,
}

impl<'a> ModuleLayout<'a> {
    /// Names everything as [`generate_tokens`](super::generate_tokens)
    /// does for `spec` and `options`: each extern module's types with its
    /// prefix, in definition order, as its own generation named them; then
    /// the module's own types, constants and string constants.
    pub fn new(spec: &'a Spec, options: &'a GenOptions) -> Self {
        let file_id = |name: &str| {
            spec.files
                .iter()
                .position(|f| f == name)
                .map(|i| FileId(i as u32))
        };
        let mut extern_files = Vec::new();
        let mut extern_types = HashMap::new();
        for (i, m) in options.extern_modules.iter().enumerate() {
            let files: Vec<FileId> = m.files.iter().filter_map(|f| file_id(f)).collect();
            // Same prefix, same order, only its files: the names its own
            // generation gave.
            let mut names = ModuleNames::new(m.strip_prefix.as_deref());
            for t in spec.types.iter().filter(|t| files.contains(&t.span.file)) {
                let name = names.declare_type(&t.name);
                extern_types.insert(
                    t.name.as_str(),
                    TypePath {
                        module: TypeModule::Extern(i),
                        name,
                    },
                );
            }
            extern_files.extend(files);
        }
        let mut names = ModuleNames::new(options.strip_prefix.as_deref());
        for t in spec
            .types
            .iter()
            .filter(|t| !extern_files.contains(&t.span.file))
        {
            names.declare_type(&t.name);
        }
        // Named as their own spec's generation would name them; no item.
        for t in &spec.external_types {
            names.declare_type(&t.name);
        }
        for c in &spec.constants {
            names.declare_const(&c.name);
        }
        for c in &spec.string_constants {
            names.declare_const(&c.name);
        }
        let layout = ModuleLayout {
            spec,
            options,
            names,
            types: spec.types.iter().map(|t| (t.name.as_str(), t)).collect(),
            extern_types,
            extern_files,
            value_sizes: Mutex::new(HashMap::new()),
            floating: floating(spec),
        };
        // Once, here: formatting threads then only read finished sizes.
        layout.measure_all();
        layout
    }

    /// Whether a `float` or `double` field can be reached from the type
    /// `name` (then `Eq` and `Hash` cannot be derived for it).
    pub(crate) fn reaches_floating_point(&self, name: &str) -> bool {
        self.floating.contains(name)
    }

    /// The spec.
    pub fn spec(&self) -> &'a Spec {
        self.spec
    }

    /// The options.
    pub fn options(&self) -> &'a GenOptions {
        self.options
    }

    /// The extern module a [`TypeModule::Extern`] refers to.
    pub fn extern_module(&self, index: usize) -> Option<&'a ExternModule> {
        self.options.extern_modules.get(index)
    }

    /// Whether a definition at `span` belongs to an extern module (and is
    /// therefore not generated here).
    pub fn is_extern(&self, span: Span) -> bool {
        self.extern_files.contains(&span.file)
    }

    /// The type named `name` in the spec.
    pub fn type_def(&self, name: &str) -> Option<&'a TypeDef> {
        self.types.get(name).copied()
    }

    /// Where the Rust type generated for the XDR type `name` is, whether
    /// this module or an extern module generates it; `None` for a name the
    /// spec does not define.
    pub fn type_path(&self, name: &str) -> Option<TypePath> {
        if let Some(p) = self.extern_types.get(name) {
            return Some(p.clone());
        }
        self.names.type_name(name).map(|rust| TypePath {
            module: TypeModule::Own,
            name: rust.to_owned(),
        })
    }

    /// The Rust name of a constant or string constant of this module.
    pub fn const_name(&self, name: &str) -> Option<&str> {
        self.names.const_name(name)
    }

    /// The spec's one program of its own, which has one version: what
    /// code for one program (`what`: "client methods") is generated for.
    ///
    /// # Errors
    /// When the spec has no program or several, or the program has
    /// several versions.
    pub fn single_version_program(&self, what: &str) -> Result<ProgramNames<'a>, String> {
        let mut programs = self.programs();
        if programs.len() != 1 {
            return Err(format!(
                "{what} are generated for one program; the spec has {}",
                programs.len()
            ));
        }
        let program = programs.remove(0);
        if program.versions.len() != 1 {
            return Err(format!(
                "program {} has several versions; {what} expect one",
                program.program.name
            ));
        }
        Ok(program)
    }

    /// One version of one of the spec's programs of its own: `program` by
    /// its name in the spec (empty: the spec's only program) and `version`
    /// by number (`None`: the program's only version), for code
    /// generated per program version (`what`: "service traits").
    ///
    /// # Errors
    /// When the spec has no program, or several and `program` names none
    /// of them; when the program has several versions and `version` is
    /// `None`, or names none of them. The message lists the choices.
    pub fn program_version(
        &self,
        what: &str,
        program: &str,
        version: Option<u32>,
    ) -> Result<(ProgramNames<'a>, VersionNames<'a>), String> {
        let programs = self.programs();
        let names = |ps: &[ProgramNames<'_>]| {
            ps.iter()
                .map(|p| p.program.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let chosen = match (program, programs.as_slice()) {
            (_, []) => return Err(format!("{what} need a program; the spec has none")),
            ("", [one]) => one.clone(),
            ("", _) => {
                return Err(format!(
                    "the spec has several programs ({}); name the one {what} are for",
                    names(&programs)
                ))
            }
            (name, all) => match all.iter().find(|p| p.program.name == name) {
                Some(p) => p.clone(),
                None => {
                    return Err(format!(
                        "the spec has no program `{name}` (it has {})",
                        names(all)
                    ))
                }
            },
        };
        let numbers = || {
            chosen
                .versions
                .iter()
                .map(|v| v.version.number.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let v = match (version, chosen.versions.as_slice()) {
            (None, [one]) => one.clone(),
            (None, _) => {
                return Err(format!(
                    "program {} has several versions ({}); name the one {what} are for",
                    chosen.program.name,
                    numbers()
                ))
            }
            (Some(n), all) => match all.iter().find(|v| v.version.number == n) {
                Some(v) => v.clone(),
                None => {
                    return Err(format!(
                        "program {} has no version {n} (it has {})",
                        chosen.program.name,
                        numbers()
                    ))
                }
            },
        };
        Ok((chosen, v))
    }

    /// The names of this module's programs (those of extern modules left
    /// out), in definition order.
    pub fn programs(&self) -> Vec<ProgramNames<'a>> {
        let mut modules = Namespace::default();
        self.spec
            .programs
            .iter()
            .filter(|p| !self.is_extern(p.span))
            .map(|p| {
                let stripped = self
                    .options
                    .strip_prefix
                    .as_deref()
                    .and_then(|pre| naming::strip_prefix(&p.name, pre))
                    .unwrap_or(&p.name);
                let module = modules.claim(&[naming::snake(stripped)]);
                let member_prefix = p.member_prefix();
                let mut version_modules = Namespace::default();
                let several = p.versions.len() > 1;
                let versions = p
                    .versions
                    .iter()
                    .map(|v| VersionNames {
                        version: v,
                        module: several.then(|| version_modules.claim(&[naming::snake(&v.name)])),
                        procedures: procedure_names(v, member_prefix.as_deref()),
                    })
                    .collect();
                ProgramNames {
                    program: p,
                    module,
                    member_prefix,
                    versions,
                }
            })
            .collect()
    }
}

/// The names of one program's generated items.
#[derive(Debug, Clone)]
pub struct ProgramNames<'a> {
    /// The program.
    pub program: &'a Program,
    /// The module holding its tables (`program` for libvirt's
    /// `REMOTE_PROGRAM` with the prefix `remote`).
    pub module: String,
    /// What its procedures' names start with under libvirt's convention
    /// ([`Program::member_prefix`]).
    pub member_prefix: Option<String>,
    /// Its versions, in definition order.
    pub versions: Vec<VersionNames<'a>>,
}

/// The names of one program version's generated items.
#[derive(Debug, Clone)]
pub struct VersionNames<'a> {
    /// The version.
    pub version: &'a Version,
    /// Its module inside the program's module when the program has several
    /// versions; `None` when the program's module holds its tables itself.
    pub module: Option<String>,
    /// Its procedures with their marker types (in the tables' module
    /// `procs`), in definition order; a later procedure repeating a number
    /// is left out, as the tables leave it out.
    pub procedures: Vec<ProcedureName<'a>>,
}

impl VersionNames<'_> {
    /// The path of the module of procedure markers, from the module the
    /// types are generated in (`program::procs`, `prog::v1::procs`).
    pub fn procs_path(&self, program: &ProgramNames<'_>) -> String {
        match &self.module {
            Some(v) => format!("{}::{v}::procs", program.module),
            None => format!("{}::procs", program.module),
        }
    }
}

/// A procedure and the name of its marker type.
#[derive(Debug, Clone)]
pub struct ProcedureName<'a> {
    /// The procedure.
    pub procedure: &'a Procedure,
    /// Its name without the program's member prefix
    /// (`DOMAIN_GET_INFO` for `REMOTE_PROC_DOMAIN_GET_INFO`); the whole
    /// name when there is none.
    pub short: &'a str,
    /// Its marker type's name (`DomainGetInfo`), unique in the version.
    pub marker: String,
}

/// Marker names for a version's procedures: UpperCamelCase of the name
/// without the member prefix, else of the whole name, made unique.
fn procedure_names<'a>(v: &'a Version, member_prefix: Option<&str>) -> Vec<ProcedureName<'a>> {
    // Later duplicates of a number were reported by the resolver.
    let mut seen = std::collections::HashSet::new();
    let mut ns = Namespace::with_reserved(&["Self"]);
    v.procedures
        .iter()
        .filter(|pr| seen.insert(pr.number))
        .map(|pr| {
            let short = member_prefix
                .and_then(|m| pr.name.strip_prefix(m))
                .unwrap_or(&pr.name);
            let marker = ns.claim(&[naming::upper_camel(short), naming::upper_camel(&pr.name)]);
            ProcedureName {
                procedure: pr,
                short,
                marker,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{ModuleLayout, TypeModule, TypePath};
    use crate::codegen::{ExternModule, GenOptions};
    use crate::ir::{Spec, StreamDirection};
    use crate::{load, Options, SourceMap};

    fn spec(files: &[(&str, &str)]) -> Spec {
        let mut sources = SourceMap::new();
        for (name, text) in files {
            sources.add(*name, *text);
        }
        let loaded = load(&sources, &Options::default());
        loaded
            .spec
            .unwrap_or_else(|| panic!("{}", sources.render(&loaded.diagnostics.0)))
    }

    const BASE: &str = "
        typedef string base_name<16>;
        struct base_thing { base_name name; };
        struct thing { int x; };";

    #[test]
    fn extern_types_keep_the_names_their_own_module_gave() {
        let alone = spec(&[("base.x", BASE)]);
        let base_options = GenOptions {
            strip_prefix: Some("base".into()),
            ..GenOptions::default()
        };
        let base = ModuleLayout::new(&alone, &base_options);
        // `thing` and `base_thing` meet on `Thing`: the first one wins.
        assert_eq!(base.type_path("base_thing").unwrap().name, "Thing");
        assert_eq!(base.type_path("thing").unwrap().name, "Thing2");

        let both = spec(&[
            ("base.x", BASE),
            ("user.x", "struct user_thing { base_thing t; thing u; };"),
        ]);
        let options = GenOptions {
            strip_prefix: Some("user".into()),
            extern_modules: vec![ExternModule {
                files: vec!["base.x".into()],
                path: "super::base".into(),
                strip_prefix: Some("base".into()),
            }],
            ..GenOptions::default()
        };
        let user = ModuleLayout::new(&both, &options);
        for name in ["base_name", "base_thing", "thing"] {
            assert_eq!(
                user.type_path(name).unwrap(),
                TypePath {
                    module: TypeModule::Extern(0),
                    name: base.type_path(name).unwrap().name,
                },
                "{name}"
            );
        }
        // The module's own `user_thing` is `Thing`: its namespace is its own.
        assert_eq!(
            user.type_path("user_thing").unwrap(),
            TypePath {
                module: TypeModule::Own,
                name: "Thing".into(),
            }
        );
        assert_eq!(user.extern_module(0).unwrap().path, "super::base");
        assert!(user.type_path("missing").is_none());
    }

    #[test]
    fn procedures_are_named_by_their_program() {
        let s = spec(&[(
            "remote.x",
            "const REMOTE_PROGRAM = 0x20008086;
             const REMOTE_PROTOCOL_VERSION = 1;
             struct remote_domain_get_info_ret { int state; };
             enum remote_procedure {
                 REMOTE_PROC_DOMAIN_GET_INFO = 1,
                 /**
                  * @readstream: 1
                  */
                 REMOTE_PROC_SELF = 2,
                 REMOTE_PROC_AGAIN = 2
             };",
        )]);
        let options = GenOptions {
            strip_prefix: Some("remote".into()),
            ..GenOptions::default()
        };
        let layout = ModuleLayout::new(&s, &options);
        let programs = layout.programs();
        let [p] = programs.as_slice() else {
            panic!("{programs:?}")
        };
        assert_eq!(p.module, "program");
        assert_eq!(p.member_prefix.as_deref(), Some("REMOTE_PROC_"));
        let [v] = p.versions.as_slice() else {
            panic!("{:?}", p.versions)
        };
        assert_eq!(v.module, None);
        assert_eq!(v.procs_path(p), "program::procs");
        let names: Vec<(&str, &str)> = v
            .procedures
            .iter()
            .map(|n| (n.short, n.marker.as_str()))
            .collect();
        // `Self` is taken; a repeated number is left out, as in the tables.
        assert_eq!(
            names,
            [
                ("DOMAIN_GET_INFO", "DomainGetInfo"),
                ("SELF", "RemoteProcSelf")
            ]
        );
        assert_eq!(
            v.procedures[1]
                .procedure
                .annotations
                .stream
                .unwrap()
                .direction,
            StreamDirection::Read
        );
    }

    #[test]
    fn versions_of_an_rfc5531_program_get_modules() {
        let s = spec(&[(
            "p.x",
            "program PROG { version V_ONE { void NULLPROC(void) = 0; } = 1;
                            version V_TWO { int GET(int) = 1; } = 2; } = 0x20000001;",
        )]);
        let options = GenOptions::default();
        let layout = ModuleLayout::new(&s, &options);
        let programs = layout.programs();
        let p = &programs[0];
        assert_eq!(p.module, "prog");
        assert_eq!(p.member_prefix, None);
        let modules: Vec<Option<&str>> = p.versions.iter().map(|v| v.module.as_deref()).collect();
        assert_eq!(modules, [Some("v_one"), Some("v_two")]);
        assert_eq!(p.versions[1].procs_path(p), "prog::v_two::procs");
        assert_eq!(p.versions[1].procedures[0].marker, "Get");
    }
}
