//! `cargo xtask release-check`: what a release needs, checked before one.
//!
//! - The published crates (every workspace member without `publish =
//!   false`) are packaged together with `cargo package`, which builds each
//!   package from its `.crate` file: a file missing from an `include` list or
//!   a dependency known only by path fails here, not on crates.io.
//!   Interdependent unpublished crates resolve against each other through
//!   cargo's temporary local registry; what earlier runs unpacked from it
//!   is removed first, since cargo would reuse it for the same version.
//! - The declared minimum Rust (`workspace.package.rust-version`) builds
//!   them: that toolchain is installed with rustup (minimal profile) and
//!   checks every published crate with all features, from the lock file.
//!   clippy's `msrv` lints read the same `rust-version`.

use std::path::Path;
use std::process::Command;

/// Options of `release-check`.
#[derive(Debug, Default)]
pub struct Args {
    /// Package a working tree with uncommitted changes too.
    allow_dirty: bool,
    /// Skip the minimum-Rust check (no rustup, or offline).
    no_msrv: bool,
}

impl Args {
    /// Parses the arguments after `release-check`.
    pub fn parse(args: &[String]) -> Result<Args, String> {
        let mut parsed = Args::default();
        for a in args {
            match a.as_str() {
                "--allow-dirty" => parsed.allow_dirty = true,
                "--no-msrv" => parsed.no_msrv = true,
                other => return Err(format!("unknown argument `{other}`")),
            }
        }
        Ok(parsed)
    }
}

/// The workspace's published crates and its declared minimum Rust.
#[derive(Debug, PartialEq)]
struct Release {
    crates: Vec<String>,
    rust_version: String,
}

/// Runs the checks.
pub fn run(root: &Path, args: &Args) -> Result<(), String> {
    let release = read_release(root)?;
    println!(
        "release-check: {} (rust-version {})",
        release.crates.join(", "),
        release.rust_version
    );
    forget_unpacked_packages(&release.crates)?;
    // The verification builds go to a folder of their own, emptied first:
    // in a shared one, cargo would keep the build of an earlier run's
    // package of the same version, for the same reason.
    let target = root.join("target/release-check");
    match std::fs::remove_dir_all(&target) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(format!("cannot clear {}: {e}", target.display()))
        }
        _ => {}
    }
    let mut package = cargo(root);
    package
        .args(["package", "--locked", "--target-dir"])
        .arg(&target);
    if args.allow_dirty {
        package.arg("--allow-dirty");
    }
    for c in &release.crates {
        package.args(["-p", c]);
    }
    run_command(&mut package)?;
    if args.no_msrv {
        return Ok(());
    }
    let toolchain = &release.rust_version;
    run_command(Command::new("rustup").args([
        "toolchain",
        "install",
        toolchain,
        "--profile",
        "minimal",
    ]))
    .map_err(|e| format!("{e} (the minimum-Rust check needs rustup; --no-msrv skips it)"))?;
    let mut check = Command::new("rustup");
    check
        .current_dir(root)
        .args([
            "run",
            toolchain,
            "cargo",
            "check",
            "--locked",
            "--all-features",
        ])
        // Its own folder: another compiler's artefacts would evict the
        // main build's.
        .env("CARGO_TARGET_DIR", root.join("target/msrv"));
    for c in &release.crates {
        check.args(["-p", c]);
    }
    run_command(&mut check)
}

/// Removes what earlier runs unpacked of these crates from cargo's
/// temporary local registries (`$CARGO_HOME/registry/src/-<hash>/`).
/// Cargo takes a registry's crate of a given version as immutable, so
/// without this a later `cargo package` of the same version verifies
/// against the sources an earlier run unpacked there, not the new ones.
fn forget_unpacked_packages(crates: &[String]) -> Result<(), String> {
    let home = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")));
    let Some(src) = home.map(|h| h.join("registry/src")) else {
        return Ok(());
    };
    let Ok(registries) = std::fs::read_dir(&src) else {
        return Ok(());
    };
    for registry in registries.flatten() {
        // The local overlays are named `-<hash>`; crates.io's are not.
        if !registry.file_name().to_string_lossy().starts_with('-') {
            continue;
        }
        let Ok(unpacked) = std::fs::read_dir(registry.path()) else {
            continue;
        };
        for dir in unpacked.flatten() {
            let name = dir.file_name().to_string_lossy().into_owned();
            let ours = crates.iter().any(|c| {
                name.strip_prefix(c.as_str())
                    .and_then(|rest| rest.strip_prefix('-'))
                    .is_some_and(|v| v.starts_with(|ch: char| ch.is_ascii_digit()))
            });
            if ours {
                std::fs::remove_dir_all(dir.path())
                    .map_err(|e| format!("cannot remove {}: {e}", dir.path().display()))?;
            }
        }
    }
    Ok(())
}

fn cargo(root: &Path) -> Command {
    let mut c = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    c.current_dir(root);
    c
}

fn run_command(cmd: &mut Command) -> Result<(), String> {
    let shown = format!("{cmd:?}");
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run {shown}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{shown} failed ({status})"))
    }
}

/// Reads the published members and the minimum Rust from the manifests.
fn read_release(root: &Path) -> Result<Release, String> {
    let read = |path: &Path| -> Result<toml::Table, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        text.parse::<toml::Table>()
            .map_err(|e| format!("{}: {e}", path.display()))
    };
    let workspace = read(&root.join("Cargo.toml"))?;
    let ws = workspace
        .get("workspace")
        .and_then(toml::Value::as_table)
        .ok_or("Cargo.toml has no [workspace]")?;
    let rust_version = ws
        .get("package")
        .and_then(|p| p.get("rust-version"))
        .and_then(toml::Value::as_str)
        .ok_or("Cargo.toml has no workspace.package.rust-version")?
        .to_owned();
    let members = ws
        .get("members")
        .and_then(toml::Value::as_array)
        .ok_or("Cargo.toml has no workspace.members")?;
    let mut crates = Vec::new();
    for member in members {
        let dir = member
            .as_str()
            .ok_or("workspace.members holds a non-string")?;
        let manifest = read(&root.join(dir).join("Cargo.toml"))?;
        let package = manifest
            .get("package")
            .and_then(toml::Value::as_table)
            .ok_or_else(|| format!("{dir}/Cargo.toml has no [package]"))?;
        if is_published(package) {
            let name = package
                .get("name")
                .and_then(toml::Value::as_str)
                .ok_or_else(|| format!("{dir}/Cargo.toml has no package.name"))?;
            crates.push(name.to_owned());
        }
    }
    Ok(Release {
        crates,
        rust_version,
    })
}

/// `publish` absent or `true`, or a registry list naming crates.io.
fn is_published(package: &toml::Table) -> bool {
    match package.get("publish") {
        None => true,
        Some(toml::Value::Boolean(b)) => *b,
        Some(toml::Value::Array(registries)) => {
            registries.iter().any(|r| r.as_str() == Some("crates-io"))
        }
        Some(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_published_set_is_the_four_library_crates() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let release = read_release(root).unwrap();
        assert_eq!(
            release.crates,
            [
                "xdr-rpcgen",
                "xdr-rpcgen-impl",
                "xdr-rpcgen-macros",
                "libvirt-proto"
            ]
        );
        assert!(release.rust_version.starts_with("1."));
    }

    #[test]
    fn publish_false_or_another_registry_is_not_published() {
        let table = |s: &str| s.parse::<toml::Table>().unwrap();
        assert!(is_published(&table("name = \"a\"")));
        assert!(is_published(&table("publish = true")));
        assert!(!is_published(&table("publish = false")));
        assert!(!is_published(&table("publish = [\"internal\"]")));
        assert!(is_published(&table("publish = [\"crates-io\"]")));
    }
}
