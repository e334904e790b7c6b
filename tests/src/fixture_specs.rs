//! The specifications the round-trip tests cover: the project's `ok/`
//! fixtures, this crate's own `xdr/*.x` (base types and shapes the fixtures
//! only declare as typedefs) and libvirt's `remote_protocol.x`, loaded the same way at build
//! time (`build.rs` includes this file) and at test time.
//!
//! An `ok/` fixture is a `.x` file or a folder of them (one specification,
//! files in name order). A fixture may start with option lines
//! `// define NAME=VALUE` and
//! `// libvirt-program PROGRAM,VERSION,ENUM,PREFIX`, as in
//! `xdrgen/tests/fixtures.rs`.

use std::path::{Path, PathBuf};

use xdrgen::cpp::CppOptions;
use xdrgen::input::load_paths;
use xdrgen::ir::{LibvirtProgram, LibvirtPrograms, RpcgenPreset, Spec};
use xdrgen::{Options, SourceMap};

/// The libvirt release whose `remote_protocol.x` is tested.
pub const LIBVIRT_VERSION: &str = "11.3.0";

/// `remote_protocol.x` inside a libvirt tree.
pub const LIBVIRT_REMOTE: &str = "src/remote/remote_protocol.x";

/// The folder of fixtures that must load cleanly.
pub fn ok_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../xdrgen/tests/fixtures/ok")
}

/// This crate's own specifications.
pub fn local_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("xdr")
}

/// One specification to test: a Rust-friendly name and its files in order.
#[derive(Debug, Clone)]
pub struct SpecSource {
    /// A name usable as a Rust module name (`rfc4506_section7`, `multi`).
    pub name: String,
    /// The files, loaded in this order as one specification.
    pub files: Vec<PathBuf>,
}

/// Every `ok/` fixture, sorted by name.
///
/// # Panics
/// When the fixture folder cannot be read.
pub fn ok_fixtures() -> Vec<SpecSource> {
    specs_in(&ok_dir())
}

/// Every specification the round-trip tests generate code for, except
/// libvirt's: the `ok/` fixtures, then this crate's `xdr/` files.
pub fn all_specs() -> Vec<SpecSource> {
    let mut all = ok_fixtures();
    all.extend(specs_in(&local_dir()));
    all
}

/// The rpcsvc specifications a Debian machine installs (rpcsvc-proto's
/// `/usr/include/rpcsvc/*.x`, libtirpc-dev's `/usr/include/tirpc/rpcsvc/*.x`),
/// sorted by path; none when they are not installed.
pub fn rpcsvc_specs() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = ["/usr/include/rpcsvc", "/usr/include/tirpc/rpcsvc"]
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "x"))
        .collect();
    out.sort();
    out
}

/// The rpcsvc specifications as [`SpecSource`]s named `rpcsvc_<stem>`.
pub fn rpcsvc_sources() -> Vec<SpecSource> {
    rpcsvc_specs()
        .into_iter()
        .map(|p| SpecSource {
            name: format!(
                "rpcsvc_{}",
                p.file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or("spec")
                    .replace(['-', '.'], "_")
            ),
            files: vec![p],
        })
        .collect()
}

/// The `.x` files and folders of `.x` files in `dir`, sorted by name.
fn specs_in(dir: &Path) -> Vec<SpecSource> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("read a fixture entry").path())
        .collect();
    entries.sort();
    let mut out = Vec::new();
    for path in entries {
        let files = if path.is_dir() {
            let mut f: Vec<PathBuf> = std::fs::read_dir(&path)
                .expect("read a fixture folder")
                .map(|e| e.expect("read a fixture file").path())
                .filter(|p| p.extension().is_some_and(|e| e == "x"))
                .collect();
            f.sort();
            f
        } else if path.extension().is_some_and(|e| e == "x") {
            vec![path.clone()]
        } else {
            continue;
        };
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("fixture names are UTF-8");
        out.push(SpecSource {
            name: module_name(stem),
            files,
        });
    }
    out
}

/// `stem` as a Rust module name.
pub fn module_name(stem: &str) -> String {
    let mut s: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert_str(0, "spec_");
    }
    s
}

/// The options a fixture's header lines ask for.
fn fixture_options(texts: &[String]) -> Options {
    let mut options = Options::default();
    let mut programs = Vec::new();
    for text in texts {
        for line in text.lines() {
            if let Some(d) = line.strip_prefix("// define ") {
                let (n, v) = d.split_once('=').expect("`// define NAME=VALUE`");
                let v = v.trim();
                let v = match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
                    Some(h) => i128::from_str_radix(h, 16).expect("hex define"),
                    None => v.parse().expect("decimal define"),
                };
                options.defines.push((n.trim().to_owned(), v));
            } else if let Some(p) = line.strip_prefix("// libvirt-program ") {
                let p: Vec<&str> = p.split(',').map(str::trim).collect();
                assert_eq!(p.len(), 4, "`// libvirt-program P,V,ENUM,PREFIX`");
                programs.push(LibvirtProgram {
                    program_constant: p[0].into(),
                    version_constant: p[1].into(),
                    procedure_enum: p[2].into(),
                    prefix: p[3].into(),
                });
            }
        }
    }
    if !programs.is_empty() {
        options.libvirt_programs = LibvirtPrograms::Only(programs);
    }
    options
}

/// Loads `files` as one specification with the options their header lines
/// give (none for libvirt's files).
///
/// # Errors
/// The rendered diagnostics when the specification does not load.
pub fn load_files(files: &[PathBuf]) -> Result<(SourceMap, Spec), String> {
    let mut texts = Vec::new();
    for f in files {
        texts.push(std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?);
    }
    let options = fixture_options(&texts);
    // Named by file name in diagnostics, read (and preprocessed, as the
    // CLI does) in their folder.
    let base_dir = files
        .first()
        .and_then(|f| f.parent())
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let names: Vec<PathBuf> = if files.iter().all(|f| f.parent() == Some(&base_dir)) {
        files
            .iter()
            .map(|f| f.file_name().map_or_else(|| f.clone(), PathBuf::from))
            .collect()
    } else {
        files.iter().map(|f| base_dir.join(f)).collect()
    };
    let cpp = CppOptions {
        base_dir,
        ..CppOptions::default()
    };
    let files =
        load_paths(&names, &options, RpcgenPreset::Auto, &cpp).map_err(|e| e.to_string())?;
    match files.loaded.spec {
        Some(spec) => Ok((files.sources, spec)),
        None => Err(files.sources.render(&files.loaded.diagnostics.0)),
    }
}
