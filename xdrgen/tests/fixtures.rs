//! Data-driven front-end tests.
//!
//! `tests/fixtures/ok/` holds specifications that must load without any
//! diagnostic; each gets a snapshot of its IR as JSON. `tests/fixtures/err/`
//! holds specifications that must produce diagnostics; each gets a snapshot
//! of the rendered diagnostics. A folder is loaded as one specification, its
//! files in name order.
//!
//! `tests/fixtures/large/` holds specifications with fixed-size arrays of
//! hundreds of megabytes: they load cleanly and their generated Rust is
//! snapshotted, but they are not `ok/` fixtures, for which the workspace's
//! round-trip tests would build random values of that size
//! (`tests/large_arrays.rs` compiles and exercises them).
//!
//! Each `ok/` fixture's generated Rust is snapshotted too; `tests/generated.rs`
//! compiles the same specifications through `xdr_include!` (same generator,
//! same options), so no snapshot can hold code that does not build.
//!
//! A fixture may start with option lines:
//! `// define NAME=VALUE` and
//! `// libvirt-program PROGRAM,VERSION,ENUM,PREFIX`.

use std::path::{Path, PathBuf};

use xdrgen::ir::{LibvirtProgram, LibvirtPrograms};
use xdrgen::{load, Loaded, Options, SourceMap};

fn fixtures(dir: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(dir);
    let mut out: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no fixtures in {}", root.display());
    out
}

/// Loads a fixture file or folder with the options its header lines give.
fn load_fixture(path: &Path) -> (SourceMap, Loaded) {
    let files: Vec<PathBuf> = if path.is_dir() {
        let mut f: Vec<PathBuf> = std::fs::read_dir(path)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        f.sort();
        f
    } else {
        vec![path.to_path_buf()]
    };
    let base = path.parent().unwrap();
    let mut sources = SourceMap::new();
    let mut options = Options::default();
    let mut programs = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for line in text.lines() {
            if let Some(d) = line.strip_prefix("// define ") {
                let (n, v) = d.split_once('=').unwrap();
                let v = match v.strip_prefix("0x") {
                    Some(h) => i128::from_str_radix(h, 16).unwrap(),
                    None => v.parse().unwrap(),
                };
                options.defines.push((n.to_owned(), v));
            } else if let Some(p) = line.strip_prefix("// libvirt-program ") {
                let p: Vec<&str> = p.split(',').collect();
                programs.push(LibvirtProgram {
                    program_constant: p[0].into(),
                    version_constant: p[1].into(),
                    procedure_enum: p[2].into(),
                    prefix: p[3].into(),
                });
            }
        }
        let name = f.strip_prefix(base).unwrap().display().to_string();
        sources.add(name, text);
    }
    if !programs.is_empty() {
        options.libvirt_programs = LibvirtPrograms::Only(programs);
    }
    let loaded = load(&sources, &options);
    (sources, loaded)
}

fn snapshot_name(path: &Path) -> String {
    path.file_stem().unwrap().to_string_lossy().into_owned()
}

#[test]
fn ok_fixtures_load_cleanly_and_match_their_ir_snapshots() {
    for path in fixtures("ok") {
        let (sources, loaded) = load_fixture(&path);
        assert!(
            loaded.diagnostics.0.is_empty(),
            "{}:\n{}",
            path.display(),
            sources.render(&loaded.diagnostics.0)
        );
        let spec = loaded.spec.expect("no errors, so a spec");
        let json = serde_json::to_string_pretty(&spec).unwrap();
        insta::assert_snapshot!(format!("ok__{}", snapshot_name(&path)), json);
    }
}

#[test]
fn err_fixtures_report_diagnostics_matching_their_snapshots() {
    for path in fixtures("err") {
        let (sources, loaded) = load_fixture(&path);
        assert!(
            !loaded.diagnostics.0.is_empty(),
            "{} produced no diagnostic",
            path.display()
        );
        // Errors mean no spec; warnings alone still give one.
        assert_eq!(loaded.spec.is_none(), loaded.diagnostics.has_errors());
        let rendered = sources.render(&loaded.diagnostics.0);
        insta::assert_snapshot!(format!("err__{}", snapshot_name(&path)), rendered);
    }
}

#[test]
fn ok_fixtures_generate_rust_matching_their_snapshots() {
    for path in fixtures("ok") {
        let (sources, loaded) = load_fixture(&path);
        let spec = loaded.spec.expect("ok fixtures load");
        let source =
            xdrgen::codegen::generate_source(&spec, &sources, &Default::default()).unwrap();
        // The preamble's hashes depend on line endings of the checkout; the
        // snapshot covers the code.
        let code = source
            .split_once("\n\n")
            .map_or(source.as_str(), |(_, c)| c);
        insta::assert_snapshot!(format!("gen__{}", snapshot_name(&path)), code);
    }
}

#[test]
fn large_fixtures_load_cleanly_and_generate_rust_matching_their_snapshots() {
    for path in fixtures("large") {
        let (sources, loaded) = load_fixture(&path);
        assert!(
            loaded.diagnostics.0.is_empty(),
            "{}:\n{}",
            path.display(),
            sources.render(&loaded.diagnostics.0)
        );
        let spec = loaded.spec.expect("no errors, so a spec");
        let source =
            xdrgen::codegen::generate_source(&spec, &sources, &Default::default()).unwrap();
        let code = source
            .split_once("\n\n")
            .map_or(source.as_str(), |(_, c)| c);
        insta::assert_snapshot!(format!("gen__{}", snapshot_name(&path)), code);
    }
}
