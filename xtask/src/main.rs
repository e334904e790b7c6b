//! Project automation, run as `cargo xtask <command>`.
//!
//! - `cargo xtask test`: every test of the workspace, with libvirt's release
//!   tarballs located for the tests that read real `.x` files.
//! - `cargo xtask regen --tag vX.Y.Z`: regenerate `libvirt-proto`'s
//!   protocol modules from a libvirt release (see `specs/libvirt.toml`).
//!
//! More commands (regeneration of `libvirt-proto`, runs against real
//! daemons, benchmarks) join as the project grows.

mod capture;
mod regen;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  test    run every test of the workspace (cargo test --workspace --all-features),
          with LIBVIRT_TARBALLS defaulting to ../shared/libvirt
  regen --tag vX.Y.Z [--from TARBALL|DIR] [--check] [--out DIR]
          generate libvirt-proto/src/generated/ from libvirt's sources for a release
          (--from, else the cache .cache/libvirt, else a download); --check compares
          with the committed files instead of writing
  capture record virsh / virt-admin sessions with a private libvirtd into
          libvirt-proto/tests/captures/ (needs libvirt-daemon and libvirt-clients)
  help    this text
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("test") => test(&args[1..]),
        Some("capture") => match capture::run(&workspace_root()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("cargo xtask capture: {e}");
                ExitCode::FAILURE
            }
        },
        Some("regen") => {
            let result =
                regen::Args::parse(&args[1..]).and_then(|a| regen::run(&workspace_root(), &a));
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("cargo xtask regen: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        None | Some("help" | "--help" | "-h") => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        Some(other) => {
            eprintln!("cargo xtask: unknown command `{other}`\n\n{USAGE}");
            ExitCode::FAILURE
        }
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Runs the workspace's tests, passing extra arguments to `cargo test`.
fn test(extra: &[String]) -> ExitCode {
    let root = workspace_root();
    let tarballs = std::env::var_os("LIBVIRT_TARBALLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../shared/libvirt"));
    let found: Vec<String> = std::fs::read_dir(&tarballs)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("libvirt-") && n.ends_with(".tar.xz"))
                .collect()
        })
        .unwrap_or_default();
    if found.is_empty() {
        eprintln!(
            "xtask: no libvirt-*.tar.xz in {}; tests that read libvirt's sources will be \
             skipped (set LIBVIRT_TARBALLS to a folder holding them)",
            tarballs.display()
        );
    } else {
        eprintln!(
            "xtask: libvirt tarballs in {}: {}",
            tarballs.display(),
            found.join(", ")
        );
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(&root)
        .env("LIBVIRT_TARBALLS", &tarballs)
        .args(["test", "--workspace", "--all-features"])
        .args(extra)
        .status();
    match status {
        Ok(s) if s.success() => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("xtask: cannot run cargo: {e}");
            ExitCode::FAILURE
        }
    }
}
