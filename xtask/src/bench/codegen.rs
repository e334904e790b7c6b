//! `cargo xtask bench-codegen`: xdrgen's generation time and memory on
//! libvirt's `remote_protocol.x` against the system's C `rpcgen -c` on the
//! same file, and what `xdr_include!` adds to a crate's `cargo check`.
//!
//! The two generators run in turns under `rusage.py`, several rounds; the
//! table gives medians. The macro's cost is measured as a user meets it:
//! `cargo check` of a crate whose only item is `xdr_include!` of the file,
//! against the same crate holding the generated Rust itself (`include!`
//! of `xdrgen generate`'s output), each after touching its source, in
//! turns, with dependencies already built; the difference is the
//! expansion.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use super::usage::{self, Usage};
use super::{median, print_table};

/// The file measured, inside a libvirt release tarball.
const SPEC: &str = "src/remote/remote_protocol.x";

/// Targets of the generation: within this factor of rpcgen's time, and
/// under this peak memory.
const TIME_FACTOR_TARGET: f64 = 3.0;
const RSS_TARGET_MIB: f64 = 40.0;

/// Options of `cargo xtask bench-codegen`.
#[derive(Debug, Clone)]
pub struct Args {
    rounds: usize,
    tarball: Option<PathBuf>,
    macro_rows: bool,
}

impl Args {
    /// Parses the arguments after `bench-codegen`.
    pub fn parse(args: &[String]) -> Result<Args, String> {
        let mut a = Args {
            rounds: 7,
            tarball: None,
            macro_rows: true,
        };
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let mut value = || {
                it.next()
                    .ok_or_else(|| format!("{arg} needs a value"))
                    .cloned()
            };
            match arg.as_str() {
                "--rounds" => a.rounds = super::number(&value()?)?,
                "--from" => a.tarball = Some(PathBuf::from(value()?)),
                "--no-macro" => a.macro_rows = false,
                other => return Err(format!("unknown option `{other}`")),
            }
        }
        if a.rounds == 0 {
            return Err("--rounds must be at least 1".into());
        }
        Ok(a)
    }
}

/// Runs the comparison and prints the tables.
pub fn run(root: &Path, args: &Args) -> Result<(), String> {
    let tarball = match &args.tarball {
        Some(t) => t.clone(),
        None => newest_tarball(root)?,
    };
    let dir = std::env::temp_dir().join(format!("xtask-bench-codegen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let result = measure_all(root, args, &tarball, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn measure_all(root: &Path, args: &Args, tarball: &Path, dir: &Path) -> Result<(), String> {
    let spec = extract(tarball, dir)?;
    eprintln!("xtask bench-codegen: building xdrgen (release)");
    cargo(
        root,
        &[
            "build",
            "--release",
            "-q",
            "-p",
            "xdr-rpcgen",
            "--features",
            "cli",
        ],
    )?;
    let xdrgen = root.join("target/release/xdrgen");
    let rust_out = dir.join("remote.rs");
    let c_out = dir.join("remote.c");

    let mut ours: Vec<Usage> = Vec::new();
    let mut theirs: Vec<Usage> = Vec::new();
    for round in 0..=args.rounds {
        // Round 0 warms the page cache and is not counted.
        let xdrgen_run = || {
            let mut cmd = usage::command(root, &xdrgen);
            cmd.arg("generate").arg(&spec).arg("-o").arg(&rust_out);
            usage::measure(cmd, "xdrgen generate")
        };
        let rpcgen_run = || {
            let _ = std::fs::remove_file(&c_out);
            let mut cmd = usage::command(root, "rpcgen");
            cmd.arg("-c")
                .arg(&spec)
                .arg("-o")
                .arg(&c_out)
                .current_dir(dir);
            usage::measure(cmd, "rpcgen -c")
        };
        let (a, b) = if round % 2 == 0 {
            let a = xdrgen_run()?;
            (a, rpcgen_run()?)
        } else {
            let b = rpcgen_run()?;
            (xdrgen_run()?, b)
        };
        if round > 0 {
            ours.push(a);
            theirs.push(b);
        }
    }
    let rust_bytes = std::fs::metadata(&rust_out).map_or(0, |m| m.len());
    let c_bytes = std::fs::metadata(&c_out).map_or(0, |m| m.len());

    let m = |v: &[Usage], f: fn(&Usage) -> f64| median(&v.iter().map(f).collect::<Vec<_>>());
    let (ours_wall, theirs_wall) = (m(&ours, |u| u.wall), m(&theirs, |u| u.wall));
    let ours_rss = m(&ours, |u| u.rss_mib);
    println!(
        "\nremote_protocol.x of {}, {} rounds (medians):\n",
        tarball.display(),
        args.rounds
    );
    let factor = ours_wall / theirs_wall;
    let verdict = |met: bool| if met { "met" } else { "**missed**" };
    print_table(
        &[
            vec![
                "".into(),
                "wall".into(),
                "CPU".into(),
                "peak memory".into(),
                "output".into(),
            ],
            vec![
                "xdrgen generate".into(),
                format!("{:.3} s", ours_wall),
                format!("{:.3} s", m(&ours, |u| u.cpu)),
                format!("{:.0} MiB", ours_rss),
                format!("{} KB of Rust", rust_bytes / 1000),
            ],
            vec![
                "rpcgen -c".into(),
                format!("{:.3} s", theirs_wall),
                format!("{:.3} s", m(&theirs, |u| u.cpu)),
                format!("{:.0} MiB", m(&theirs, |u| u.rss_mib)),
                format!("{} KB of C", c_bytes / 1000),
            ],
        ],
        &[0],
    );
    println!(
        "\nxdrgen / rpcgen time: {factor:.1}x (target ≤ {TIME_FACTOR_TARGET}x: {}); \
         xdrgen peak {ours_rss:.0} MiB (target < {RSS_TARGET_MIB} MiB: {})",
        verdict(factor <= TIME_FACTOR_TARGET),
        verdict(ours_rss < RSS_TARGET_MIB)
    );
    if args.macro_rows {
        macro_rows(root, args, &spec, &rust_out, dir)?;
    }
    Ok(())
}

/// `cargo check` of a crate with `xdr_include!` against one with the
/// generated file, in turns.
fn macro_rows(
    root: &Path,
    args: &Args,
    spec: &Path,
    generated: &Path,
    dir: &Path,
) -> Result<(), String> {
    let target = root.join("target/bench-codegen");
    let with_macro = scratch_crate(
        root,
        dir,
        "with-macro",
        &format!("xdrgen::xdr_include!({:?});\n", spec.display().to_string()),
        true,
    )?;
    let with_file = scratch_crate(
        root,
        dir,
        "with-file",
        &format!("include!({:?});\n", generated.display().to_string()),
        false,
    )?;
    let check = |krate: &Path| -> Result<f64, String> {
        // Touching the source makes cargo check this crate again, and only it.
        let lib = krate.join("src/lib.rs");
        let text = std::fs::read(&lib).map_err(|e| e.to_string())?;
        std::fs::write(&lib, text).map_err(|e| e.to_string())?;
        let start = Instant::now();
        let status = Command::new(env!("CARGO"))
            .args(["check", "-q", "--manifest-path"])
            .arg(krate.join("Cargo.toml"))
            .env("CARGO_TARGET_DIR", &target)
            .status()
            .map_err(|e| e.to_string())?;
        if !status.success() {
            return Err(format!("cargo check of {} failed", krate.display()));
        }
        Ok(start.elapsed().as_secs_f64())
    };
    eprintln!("xtask bench-codegen: building the macro crates' dependencies");
    check(&with_macro)?;
    check(&with_file)?;
    let mut macro_times = Vec::new();
    let mut file_times = Vec::new();
    for round in 0..args.rounds {
        if round % 2 == 0 {
            macro_times.push(check(&with_macro)?);
            file_times.push(check(&with_file)?);
        } else {
            file_times.push(check(&with_file)?);
            macro_times.push(check(&with_macro)?);
        }
    }
    let (a, b) = (median(&macro_times), median(&file_times));
    println!("\n`cargo check` of a crate holding remote_protocol.x's Rust (medians):\n");
    print_table(
        &[
            vec!["".into(), "wall".into()],
            vec![
                "xdr_include!(\"remote_protocol.x\")".into(),
                format!("{a:.2} s"),
            ],
            vec!["include!(the generated file)".into(), format!("{b:.2} s")],
            vec!["the macro's expansion".into(), format!("{:.2} s", a - b)],
        ],
        &[0],
    );
    Ok(())
}

/// A crate in `dir/name` depending on xdr-rpcgen (with `macros` when
/// `macros`), its `src/lib.rs` being `lib`.
fn scratch_crate(
    root: &Path,
    dir: &Path,
    name: &str,
    lib: &str,
    macros: bool,
) -> Result<PathBuf, String> {
    let krate = dir.join(name);
    std::fs::create_dir_all(krate.join("src")).map_err(|e| e.to_string())?;
    let features = if macros {
        ", features = [\"macros\"]"
    } else {
        ""
    };
    let manifest = format!(
        "[package]\nname = \"{name}\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\
         [dependencies]\nxdr-rpcgen = {{ path = {:?}{features} }}\n[workspace]\n",
        root.join("xdrgen").display().to_string()
    );
    std::fs::write(krate.join("Cargo.toml"), manifest).map_err(|e| e.to_string())?;
    std::fs::write(
        krate.join("src/lib.rs"),
        format!("#![allow(warnings)]\n{lib}"),
    )
    .map_err(|e| e.to_string())?;
    Ok(krate)
}

fn cargo(root: &Path, args: &[&str]) -> Result<(), String> {
    let status = Command::new(env!("CARGO"))
        .args(args)
        .current_dir(root)
        .status()
        .map_err(|e| e.to_string())?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("cargo {} failed", args.join(" ")))
    }
}

/// The newest `libvirt-*.tar.xz` in `$LIBVIRT_TARBALLS` (default
/// `../shared/libvirt`).
fn newest_tarball(root: &Path) -> Result<PathBuf, String> {
    let dir = std::env::var_os("LIBVIRT_TARBALLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../shared/libvirt"));
    let mut found: Vec<(Vec<u32>, PathBuf)> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let version = name.strip_prefix("libvirt-")?.strip_suffix(".tar.xz")?;
            let parts = version
                .split('.')
                .map(str::parse)
                .collect::<Result<Vec<u32>, _>>()
                .ok()?;
            Some((parts, e.path()))
        })
        .collect();
    found.sort();
    found
        .pop()
        .map(|(_, p)| p)
        .ok_or_else(|| format!("no libvirt-*.tar.xz in {} (use --from)", dir.display()))
}

/// `remote_protocol.x` unpacked from the tarball into `dir`.
fn extract(tarball: &Path, dir: &Path) -> Result<PathBuf, String> {
    let stem = tarball
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_suffix(".tar.xz"))
        .ok_or_else(|| format!("{} is not a .tar.xz", tarball.display()))?;
    let member = format!("{stem}/{SPEC}");
    let out = Command::new("tar")
        .arg("-xJOf")
        .arg(tarball)
        .arg(&member)
        .output()
        .map_err(|e| format!("tar: {e}"))?;
    if !out.status.success() {
        return Err(format!("cannot read {member} from {}", tarball.display()));
    }
    let spec = dir.join("remote_protocol.x");
    std::fs::write(&spec, out.stdout).map_err(|e| e.to_string())?;
    Ok(spec)
}
