//! `cargo xtask test`: every test of the workspace, with libvirt's release
//! tarballs located and, when possible, a real libvirt for the tests that
//! start a private `libvirtd`.
//!
//! When `libvirtd`, `virsh` and `virt-admin` are installed, the tests run
//! with `LIBVIRT_PROTO_DAEMON_TESTS=1`, so a daemon test that cannot start
//! its daemon fails instead of passing without checking anything. When
//! they are missing and this runs as root, `.ci/install-libvirt` installs
//! them first; as another user the daemon tests are skipped, and say so.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// The variable the daemon tests' harness reads.
const DAEMON_TESTS: &str = "LIBVIRT_PROTO_DAEMON_TESTS";

/// The programs the daemon tests run: libvirt's, and for the transport and
/// authentication tests an ssh server and client, netcat, openssl (test
/// certificates), Cyrus SASL's password tool and, for GSSAPI, MIT
/// Kerberos's KDC, its database tools and `kinit` (a private realm).
const TOOLS: [&str; 12] = [
    "libvirtd",
    "virsh",
    "virt-admin",
    "sshd",
    "ssh-keygen",
    "nc",
    "openssl",
    "saslpasswd2",
    "krb5kdc",
    "kdb5_util",
    "kadmin.local",
    "kinit",
];

/// Folders searched besides `PATH`: `libvirtd` and the KDC's programs
/// live in `sbin`, which a user's `PATH` often lacks.
const EXTRA_DIRS: [&str; 4] = ["/usr/sbin", "/sbin", "/usr/local/sbin", "/usr/bin"];

/// Runs the workspace's tests, passing `extra` to `cargo test`.
pub fn run(root: &Path, extra: &[String]) -> ExitCode {
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
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .env("LIBVIRT_TARBALLS", &tarballs)
        .args(["test", "--workspace", "--all-features"])
        .args(extra);
    let daemons = match daemon_tests(root) {
        Ok(Some(path)) => {
            cmd.env(DAEMON_TESTS, "1").env("PATH", path);
            true
        }
        Ok(None) => false,
        Err(e) => {
            eprintln!("xtask: {e}");
            return ExitCode::FAILURE;
        }
    };
    match cmd.status() {
        Ok(s) if s.success() => {}
        Ok(_) => return ExitCode::FAILURE,
        Err(e) => {
            eprintln!("xtask: cannot run cargo: {e}");
            return ExitCode::FAILURE;
        }
    }
    if !daemons || !extra.is_empty() {
        return ExitCode::SUCCESS;
    }
    // The daemon tests again, against each older release the client must
    // keep working with.
    for version in OLDER_RELEASES {
        let cache = crate::libvirt_release::target_dir(root);
        if let Err(e) = crate::libvirt_release::provision(&cache, version) {
            eprintln!("xtask: skipping the daemon tests against libvirt {version}: {e}");
            continue;
        }
        let args = ["--libvirt".to_owned(), version.to_owned()];
        if crate::libvirt_release::daemon_tests(root, &args) != ExitCode::SUCCESS {
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

/// Older libvirt releases the daemon tests also run against (unpacked
/// beside the installed one by `cargo xtask daemon-tests --libvirt`):
/// Debian bookworm's own.
const OLDER_RELEASES: [&str; 1] = ["9.0.0"];

/// Whether the daemon tests run for real: `Some(PATH)` (a `PATH` under
/// which the tests find libvirt's programs) when libvirt is there or was
/// just installed, `None` when they are to be skipped.
fn daemon_tests(root: &Path) -> Result<Option<OsString>, String> {
    match std::env::var(DAEMON_TESTS).as_deref() {
        Ok("1") | Err(_) => {}
        Ok(other) => {
            eprintln!("xtask: {DAEMON_TESTS}={other}: the tests that need libvirtd may skip");
            return Ok(None);
        }
    }
    if let Some(path) = tools_path() {
        eprintln!("xtask: libvirtd found; the daemon tests run ({DAEMON_TESTS}=1)");
        return Ok(Some(path));
    }
    if !is_root() {
        eprintln!(
            "xtask: one of {} not found, and not running as root to install them: the \
             tests that need a private libvirtd will be skipped. Install them \
             (`sudo .ci/install-libvirt` on Debian) and run `cargo xtask test` again to \
             run them.",
            TOOLS.join(", ")
        );
        return Ok(None);
    }
    let script = root.join(".ci/install-libvirt");
    eprintln!(
        "xtask: one of {} not found; installing with {}",
        TOOLS.join(", "),
        script.display()
    );
    let status = Command::new("bash")
        .arg(&script)
        .status()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if !status.success() {
        return Err(format!(
            "{} failed ({status}); the daemon tests cannot run",
            script.display()
        ));
    }
    match tools_path() {
        Some(path) => {
            eprintln!("xtask: libvirt installed; the daemon tests run ({DAEMON_TESTS}=1)");
            Ok(Some(path))
        }
        None => Err(format!(
            "{} succeeded but {} are still not all found",
            script.display(),
            TOOLS.join(", ")
        )),
    }
}

/// A `PATH` under which every program of [`TOOLS`] is found: the current
/// one, with the usual `sbin` folders appended when that is what it takes.
fn tools_path() -> Option<OsString> {
    let current = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&current).collect();
    for extra in EXTRA_DIRS {
        if !dirs.iter().any(|d| d == Path::new(extra)) {
            dirs.push(PathBuf::from(extra));
        }
    }
    let all_found = TOOLS
        .iter()
        .all(|tool| dirs.iter().any(|d| is_executable(&d.join(tool))));
    if !all_found {
        return None;
    }
    std::env::join_paths(dirs).ok()
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Whether this process runs as root (the owner of `/proc/self`, else
/// `id -u`).
fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    if let Ok(m) = std::fs::metadata("/proc/self") {
        return m.uid() == 0;
    }
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}
