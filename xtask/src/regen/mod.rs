//! `cargo xtask regen --tag vX.Y.Z [--from PATH] [--check] [--out DIR]`:
//! libvirt's `.x` files of a release turned into
//! `libvirt-proto/src/generated/`, as `specs/libvirt.toml` describes: one
//! module per program, and for the remote, qemu, lxc and admin programs a
//! `<program>_client.rs` with a method per procedure (see [`client`]) and
//! a `<program>_server.rs` with the server's trait (see [`server`]), and
//! the remote program's typed events in `remote_events.rs`.

mod api;
mod c_docs;
mod client;
mod error_codes;
mod headers;
mod server;
mod sources;
mod spec;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use xdrgen::codegen::{generate_source, ExternModule, GenOptions};
use xdrgen::ir::{LibvirtProgram, LibvirtPrograms};
use xdrgen::{load, Options, SourceMap};

/// Parsed command-line arguments.
#[derive(Debug, Default)]
pub struct Args {
    /// The libvirt tag, e.g. `v11.3.0`.
    pub tag: String,
    /// A tarball or source tree to read instead of the cache / a download.
    pub from: Option<PathBuf>,
    /// Compare with the committed files instead of writing.
    pub check: bool,
    /// Write here instead of `libvirt-proto/src/generated`.
    pub out: Option<PathBuf>,
}

impl Args {
    /// Parses `--tag`, `--from`, `--check`, `--out`.
    pub fn parse(args: &[String]) -> Result<Args, String> {
        let mut out = Args::default();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut value = |name: &str| it.next().cloned().ok_or(format!("{name} needs a value"));
            match a.as_str() {
                "--tag" => out.tag = value("--tag")?,
                "--from" => out.from = Some(PathBuf::from(value("--from")?)),
                "--out" => out.out = Some(PathBuf::from(value("--out")?)),
                "--check" => out.check = true,
                other => return Err(format!("unknown argument `{other}`")),
            }
        }
        if out.tag.is_empty() {
            return Err("--tag vX.Y.Z is required".into());
        }
        Ok(out)
    }
}

/// Runs the regeneration.
pub fn run(root: &Path, args: &Args) -> Result<(), String> {
    let spec = spec::Spec::load(&root.join("specs/libvirt.toml"))?;
    let tree = sources::tree(
        &spec,
        &args.tag,
        args.from.as_deref(),
        &root.join(".cache/libvirt"),
    )?;
    let files = generate(&spec, &tree.root, &args.tag)?;
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| root.join("libvirt-proto/src/generated"));
    if args.check {
        check(&dir, &files)
    } else {
        write(&dir, &files)
    }
}

/// Every output file, by name, in memory.
pub fn generate(
    spec: &spec::Spec,
    tree: &Path,
    tag: &str,
) -> Result<BTreeMap<String, String>, String> {
    let version = sources::version_of(tag)?;
    let command = format!("cargo xtask regen --tag {tag}");
    let read = |rel: &str| {
        std::fs::read_to_string(tree.join(rel))
            .map_err(|e| format!("cannot read {rel} in {}: {e}", tree.display()))
    };

    let mut constants: Vec<(String, i128)> = Vec::new();
    for h in &spec.header_constants {
        let found = headers::constants(&read(&h.header)?);
        for name in &h.names {
            let v = found
                .get(name)
                .ok_or(format!("{} does not define {name}", h.header))?;
            constants.push((name.clone(), i128::from(*v)));
        }
    }

    let (api_headers, flag_params, value_types) = api_inputs(spec, tree, &read)?;
    let mut out = BTreeMap::new();
    let mut typed_flags = 0;
    let mut typed_values = 0;
    let mut untyped_flags = Vec::new();
    let mut done: HashMap<&str, &spec::Module> = HashMap::new();
    let mut client_modules = Vec::new();
    let mut server_modules = Vec::new();
    for m in &spec.module {
        let mut sources = SourceMap::new();
        let mut texts = String::new();
        for f in &m.files {
            let text = read(f)?;
            texts.push_str(&text);
            sources.add(f.clone(), text);
        }
        // Only the header constants these files use become constants here.
        let defines = constants
            .iter()
            .filter(|(n, _)| texts.contains(n.as_str()))
            .cloned()
            .collect();
        let programs = m
            .program
            .iter()
            .map(
                |[program_constant, version_constant, procedure_enum, prefix]| LibvirtProgram {
                    program_constant: program_constant.clone(),
                    version_constant: version_constant.clone(),
                    procedure_enum: procedure_enum.clone(),
                    prefix: prefix.clone(),
                },
            )
            .collect();
        let options = Options {
            defines,
            libvirt_preset: false,
            libvirt_programs: LibvirtPrograms::Only(programs),
        };
        let loaded = load(&sources, &options);
        let Some(ir) = loaded.spec else {
            return Err(format!(
                "libvirt {tag}: module `{}` does not resolve:\n{}",
                m.name,
                sources.render(&loaded.diagnostics.0)
            ));
        };
        let mut extern_modules = Vec::new();
        for e in &m.extern_modules {
            let other = done.get(e.as_str()).ok_or(format!(
                "module `{}` uses `{e}`, which is not generated before it",
                m.name
            ))?;
            extern_modules.push(ExternModule {
                files: other.files.clone(),
                path: format!("super::{}", other.name),
                strip_prefix: other.strip_prefix.clone(),
            });
        }
        let gen = GenOptions {
            strip_prefix: m.strip_prefix.clone(),
            command: Some(command.clone()),
            extern_modules,
            serde_feature: Some("serde".into()),
            ..GenOptions::default()
        };
        let code = generate_source(&ir, &sources, &gen)?;
        // The module's `//!` doc goes after the preamble comment.
        let (preamble, body) = code.split_once("\n\n").unwrap_or(("", &code));
        out.insert(
            format!("{}.rs", m.name),
            format!("{preamble}\n\n//! {}\n\n{body}", m.doc),
        );
        if let Some(target) = client::TARGETS.iter().find(|t| t.module == m.name) {
            let methods = client::generate(target, &ir, &gen, &flag_params, &value_types)?;
            typed_flags += methods.typed_flags;
            typed_values += methods.typed_values;
            untyped_flags.extend(methods.untyped_flags);
            let name = client::file_name(target);
            out.insert(
                format!("{name}.rs"),
                format!(
                    "{}//! {}\n\n{}",
                    xdrgen::codegen::preamble(&sources, &gen),
                    client::module_doc(target),
                    methods.body
                ),
            );
            client_modules.push((name, client::summary(target, methods.methods)));
            if let Some(events) = &methods.events {
                let name = client::events_file_name(target);
                out.insert(
                    format!("{name}.rs"),
                    format!(
                        "{}//! {}\n\n{}",
                        xdrgen::codegen::preamble(&sources, &gen),
                        client::events_module_doc(target),
                        events.body
                    ),
                );
                client_modules.push((name, client::events_summary(target, &events.enums)));
            }
        }
        if let Some(target) = server::TARGETS.iter().find(|t| t.module == m.name) {
            let code = server::generate(target, &ir, &gen)?;
            let name = server::file_name(target);
            out.insert(
                format!("{name}.rs"),
                format!(
                    "{}//! {}\n\n{}",
                    xdrgen::codegen::preamble(&sources, &gen),
                    server::module_doc(target),
                    code.body
                ),
            );
            server_modules.push((name, server::summary(target, code.methods)));
        }
        done.insert(&m.name, m);
    }

    let mut enums = Vec::new();
    for h in &spec.header_enums {
        let text = read(&h.header)?;
        for e in &h.enums {
            let members =
                headers::enumeration(&text, e).ok_or(format!("{} has no enum {e}", h.header))?;
            enums.push((e.clone(), h.header.clone(), members));
        }
    }
    let preamble = format!(
        "// @generated by xdrgen. Do not edit: changes are lost when it is regenerated with\n//     {command}\n\n"
    );
    let (api_module, api_counts) = api::generate(&api_headers, &preamble)?;
    out.insert("api.rs".into(), api_module);
    eprintln!("regen: {typed_values} arguments take a value enum of the C API or a bool");
    eprintln!(
        "regen: {typed_flags} flag arguments typed; {} `flags` arguments left as u32 (as ambiguous in the \
         API documentation: {}):\n  {}",
        untyped_flags.len(),
        flag_params.ambiguous.len(),
        untyped_flags.join("\n  ")
    );
    out.insert(
        "error_codes.rs".into(),
        error_codes::generate(&enums, &command)?,
    );
    out.insert(
        "mod.rs".into(),
        module_index(
            spec,
            &client_modules,
            &server_modules,
            &api_counts,
            version,
            &command,
        ),
    );
    Ok(out)
}

/// The `<prefix>*.c` files of `dir`, sorted.
fn c_files(dir: &Path, prefix: &str) -> Result<Vec<PathBuf>, String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix) && n.ends_with(".c"))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// The C API's headers, and the flag sets and flag arguments its
/// documentation (`src/libvirt*.c`) names.
fn api_inputs(
    spec: &spec::Spec,
    tree: &Path,
    read: &dyn Fn(&str) -> Result<String, String>,
) -> Result<(api::Headers, api::FlagParams, c_docs::ValueTypes), String> {
    let mut flag_sets: std::collections::BTreeSet<String> =
        spec.api.flag_sets.iter().cloned().collect();
    let mut docs = c_files(&tree.join("src"), "libvirt")?;
    // The admin API's documentation lives with the admin daemon.
    let admin = tree.join("src/admin/libvirt-admin.c");
    if admin.exists() {
        docs.push(admin);
    }
    if docs.is_empty() {
        return Err(format!(
            "no API documentation (src/libvirt*.c) in {}",
            tree.display()
        ));
    }
    let mut doc_texts = Vec::new();
    for path in &docs {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        flag_sets.extend(api::or_documented(&text));
        doc_texts.push(text);
    }
    let mut known = HashMap::new();
    let mut files = Vec::new();
    let mut header_texts = Vec::new();
    for header in &spec.api.headers {
        let text = read(header)?;
        header_texts.push(text.clone());
        known.extend(headers::constants(&text));
        let enums = headers::enums(&text, &known).map_err(|e| format!("{header}: {e}"))?;
        let members: std::collections::HashSet<String> = enums
            .iter()
            .flat_map(|e| e.members.iter().map(|m| m.name.clone()))
            .collect();
        let defines = headers::documented_defines(&text, &known, &members);
        files.push((header.clone(), enums, defines));
    }
    // Arguments take the flag sets `api.rs` generates, nothing else the
    // documentation names (a misspelt or removed type).
    let generated: std::collections::BTreeSet<String> = files
        .iter()
        .flat_map(|(_, enums, _)| enums)
        .filter(|e| api::is_flag_set(&e.name, &flag_sets))
        .map(|e| e.name.clone())
        .collect();
    let mut params = api::FlagParams::default();
    for text in &doc_texts {
        params.read(text, &generated);
    }
    // Values, results and event fields documented as one of an enum.
    let typed: std::collections::HashSet<String> = files
        .iter()
        .flat_map(|(_, enums, _)| enums)
        .filter(|e| !e.members.is_empty())
        .map(|e| e.name.clone())
        .collect();
    let patterns: Vec<(String, String)> = spec
        .api
        .depends
        .iter()
        .map(|d| (format!("{}*{}", d.stem, d.suffix), d.name.clone()))
        .collect();
    let mut value_types = c_docs::ValueTypes {
        flag_sets: generated.iter().cloned().collect(),
        depends: spec
            .api
            .depends
            .iter()
            .map(|d| (d.name.clone(), d.of.clone()))
            .collect(),
        ..Default::default()
    };
    for text in &doc_texts {
        value_types.read_functions(text, &typed, &patterns);
    }
    let structs = c_docs::header_structs(&header_texts, &typed);
    for text in &header_texts {
        value_types.read_header(text, &typed, &patterns, &structs);
    }
    for o in &spec.api.values {
        if !typed.contains(&o.c_enum) && o.c_enum != c_docs::BOOL {
            return Err(format!(
                "specs: api.values types {}'s `{}` as {}, which is neither a value enum nor `bool`",
                o.function, o.param, o.c_enum
            ));
        }
        value_types.set(&o.function, &o.param, &o.c_enum);
    }
    value_types.read_event_ids(
        files
            .iter()
            .flat_map(|(_, enums, _)| enums)
            .flat_map(|e| &e.members),
    );
    // The words virsh and virt-admin print for the values, from their
    // VIR_ENUM_IMPL tables.
    let mut virsh_names = HashMap::new();
    let tools = tree.join("tools");
    for path in c_files(&tools, "virsh")?
        .into_iter()
        .chain(c_files(&tools, "virt-admin")?)
    {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        virsh_names.extend(headers::enum_impls(&text));
    }
    Ok((
        api::Headers {
            files,
            flag_sets,
            virsh_names,
            depends: spec.api.depends.clone(),
        },
        params,
        value_types,
    ))
}

fn module_index(
    spec: &spec::Spec,
    clients: &[(String, String)],
    servers: &[(String, String)],
    api: &api::Counts,
    version: &str,
    command: &str,
) -> String {
    let mut s = format!(
        "// @generated by xdrgen from libvirt {version}. Do not edit: changes are lost when it is \
         regenerated with\n//     {command}\n\n"
    );
    s.push_str(&format!(
        "/// The libvirt release these modules were generated from.\npub const LIBVIRT_VERSION: &str = \"{version}\";\n\n"
    ));
    for m in &spec.module {
        s.push_str(&format!(
            "#[doc = \"{}\"]\n#[allow(missing_docs)]\npub mod {};\n",
            m.doc.replace('"', "\\\""),
            m.name
        ));
    }
    s.push_str("/// Named codes of libvirt's `virErrorNumber`, `virErrorDomain` and `virErrorLevel`.\npub mod error_codes;\n");
    s.push_str(&format!(
        "/// The C API's {} enums, {} flag sets and {} constants (and {} enums of values typed by another), from libvirt's public headers.\npub mod api;\n",
        api.enums, api.flags, api.constants, api.dependent
    ));
    for (name, summary) in clients {
        s.push_str(&format!(
            "/// {summary}\n#[cfg(feature = \"client\")]\npub(crate) mod {name};\n"
        ));
    }
    for (name, summary) in servers {
        s.push_str(&format!(
            "/// {summary}\n#[cfg(feature = \"server\")]\npub(crate) mod {name};\n"
        ));
    }
    s
}

fn write(dir: &Path, files: &BTreeMap<String, String>) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    for (name, text) in files {
        std::fs::write(dir.join(name), text).map_err(|e| format!("cannot write {name}: {e}"))?;
    }
    // Files a previous tag generated and this one does not.
    for entry in std::fs::read_dir(dir).map_err(|e| e.to_string())?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".rs") && !files.contains_key(&name) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    eprintln!("regen: wrote {} files to {}", files.len(), dir.display());
    Ok(())
}

/// Fails with a summary when the committed files differ.
fn check(dir: &Path, files: &BTreeMap<String, String>) -> Result<(), String> {
    let mut problems = Vec::new();
    for (name, text) in files {
        match std::fs::read_to_string(dir.join(name)) {
            Err(_) => problems.push(format!("{name}: missing")),
            Ok(old) if old != *text => {
                let line = old
                    .lines()
                    .zip(text.lines())
                    .position(|(a, b)| a != b)
                    .unwrap_or_else(|| old.lines().count().min(text.lines().count()));
                let (a, b) = (old.lines().count(), text.lines().count());
                problems.push(format!(
                    "{name}: differs from line {} ({a} lines committed, {b} generated)",
                    line + 1
                ));
            }
            Ok(_) => {}
        }
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".rs") && !files.contains_key(&name) {
                problems.push(format!("{name}: committed but no longer generated"));
            }
        }
    }
    if problems.is_empty() {
        eprintln!("regen: {} is up to date", dir.display());
        Ok(())
    } else {
        Err(format!(
            "{} is stale; run `cargo xtask regen --tag <tag>`:\n  {}",
            dir.display(),
            problems.join("\n  ")
        ))
    }
}
