//! Project automation, run as `cargo xtask <command>`.
//!
//! - `cargo xtask test`: every test of the workspace, with libvirt's release
//!   tarballs located for the tests that read real `.x` files, and libvirt
//!   installed for the tests against a private `libvirtd` (see `test.rs`).
//! - `cargo xtask regen --tag vX.Y.Z`: regenerate `libvirt-proto`'s
//!   protocol modules from a libvirt release (see `specs/libvirt.toml`).
//!
//! - `cargo xtask bench`: this client against libvirt's C library and
//!   `virsh` on one private `libvirtd` (see `bench.rs`).
//! - `cargo xtask release-check`: the published crates packaged together,
//!   and built with the declared minimum Rust (see `release.rs`).
//! - `cargo xtask capture`, `cargo xtask daemon-tests`: recorded sessions,
//!   and the daemon tests against another libvirt release.

mod bench;
mod capture;
mod libvirt_release;
mod regen;
mod release;
mod test;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  test    run every test of the workspace (cargo test --workspace --all-features),
          with LIBVIRT_TARBALLS defaulting to ../shared/libvirt; the tests against a
          private libvirtd run for real (LIBVIRT_PROTO_DAEMON_TESTS=1); every program,
          driver module and SASL plugin they use is checked first, installed with
          .ci/install-libvirt when missing and this runs as root, and otherwise
          named with its Debian package
  regen --tag vX.Y.Z [--from TARBALL|DIR] [--check] [--out DIR]
          generate libvirt-proto/src/generated/ from libvirt's sources for a release
          (--from, else the cache .cache/libvirt, else a download); --check compares
          with the committed files instead of writing
  bench [--seconds S] [--warmup S] [--rounds N] [--tasks N] [--rust-only]
        [--stream-mib N] [--streams-only]
          calls per second of libvirt-proto's client against libvirt's C library
          (python3-libvirt) and the engine alone, then a volume of N MiB (1024;
          0 for none) downloaded and uploaded against virsh, all on one private
          libvirtd (needs libvirt-daemon and its storage driver)
  bench-codegen [--rounds N] [--from TARBALL] [--no-macro]
          xdrgen generate against the system's rpcgen -c on libvirt's remote_protocol.x
          (from the newest tarball in ../shared/libvirt): time and peak memory, in
          turns; then what xdr_include! of the file adds to a crate's cargo check
  capture record virsh / virt-admin sessions with a private libvirtd into
          libvirt-proto/tests/captures/ (needs libvirt-daemon and libvirt-clients)
  daemon-tests [--libvirt X.Y.Z] [-- TEST-ARGS]
          libvirt-proto's tests against a private libvirtd (LIBVIRT_PROTO_DAEMON_TESTS=1),
          with the installed libvirt or, with --libvirt, another release from the apt
          sources unpacked into target/libvirt-X.Y.Z (see xtask/src/libvirt_release.rs)
  release-check [--allow-dirty] [--no-msrv]
          cargo package of every published crate together (each built from its .crate),
          then a check of them with the declared rust-version's toolchain (installed
          with rustup, minimal profile)
  help    this text
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("test") => test::run(&workspace_root(), &args[1..]),
        Some("bench") => {
            let result =
                bench::Args::parse(&args[1..]).and_then(|a| bench::run(&workspace_root(), &a));
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("cargo xtask bench: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Some("bench-codegen") => {
            let result = bench::codegen::Args::parse(&args[1..])
                .and_then(|a| bench::codegen::run(&workspace_root(), &a));
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("cargo xtask bench-codegen: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Some("daemon-tests") => libvirt_release::daemon_tests(&workspace_root(), &args[1..]),
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
        Some("release-check") => {
            let result =
                release::Args::parse(&args[1..]).and_then(|a| release::run(&workspace_root(), &a));
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("cargo xtask release-check: {e}");
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
