//! Loading fixtures as specs, and comparing generated text, for the tests
//! of the generators that work on a loaded spec (`client.rs`, `server.rs`).

use std::path::Path;

use xdrgen::codegen::{ExternModule, GenOptions};
use xdrgen::ir::{LibvirtProgram, LibvirtPrograms, Spec};
use xdrgen::{load, Options, SourceMap};

/// Loads fixture files (paths under `tests/fixtures/`, each named by its
/// file name) as one spec; `program` names the libvirt program among
/// them (`remote`: `REMOTE_PROGRAM`, `REMOTE_PROTOCOL_VERSION`,
/// `remote_procedure`), if there is one.
pub fn load_spec(files: &[&str], program: Option<&str>) -> Spec {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut sources = SourceMap::new();
    for f in files {
        let text = std::fs::read_to_string(dir.join(f)).unwrap();
        let name = Path::new(f).file_name().unwrap().to_string_lossy();
        sources.add(name.into_owned(), text);
    }
    let libvirt_programs = match program {
        Some(program) => {
            let upper = program.to_uppercase();
            LibvirtPrograms::Only(vec![LibvirtProgram {
                program_constant: format!("{upper}_PROGRAM"),
                version_constant: format!("{upper}_PROTOCOL_VERSION"),
                procedure_enum: format!("{program}_procedure"),
                prefix: program.to_owned(),
            }])
        }
        None => LibvirtPrograms::default(),
    };
    let options = Options {
        libvirt_programs,
        ..Options::default()
    };
    let loaded = load(&sources, &options);
    loaded
        .spec
        .unwrap_or_else(|| panic!("{}", sources.render(&loaded.diagnostics.0)))
}

/// `client/qemu.x`, a libvirt-style program using `client/remote.x`'s
/// types, and its options: `remote.x` an extern module at
/// `super::remote`.
pub fn qemu_fixture() -> (Spec, GenOptions) {
    let spec = load_spec(&["client/remote.x", "client/qemu.x"], Some("qemu"));
    let options = GenOptions {
        strip_prefix: Some("qemu".into()),
        extern_modules: vec![ExternModule {
            files: vec!["remote.x".into()],
            path: "super::remote".into(),
            strip_prefix: Some("remote".into()),
        }],
        ..GenOptions::default()
    };
    (spec, options)
}

/// The text with all whitespace runs made one space.
pub fn squeeze(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
