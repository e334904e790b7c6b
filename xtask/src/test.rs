//! `cargo xtask test`: every test of the workspace, with libvirt's release
//! tarballs located and, when possible, a real libvirt for the tests that
//! start a private `libvirtd`.
//!
//! Before the tests, every program, driver module and plugin the daemon
//! tests use ([`REQUIRED`]) is looked for. When all are there, the tests run
//! with `LIBVIRT_PROTO_DAEMON_TESTS=1`, so a daemon test that cannot start
//! its daemon fails instead of passing without checking anything. When
//! something is missing and this runs as root, `.ci/install-libvirt`
//! installs it first; whatever is still missing is named with the Debian
//! package that provides it. Then the daemon tests are skipped (and say
//! so) when this runs as another user, and it is an error when they are
//! required: as root, or with `LIBVIRT_PROTO_DAEMON_TESTS=1` set.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// The variable the daemon tests' harness reads.
const DAEMON_TESTS: &str = "LIBVIRT_PROTO_DAEMON_TESTS";

/// Something the daemon tests need.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Need {
    /// A program, looked for on `PATH` and in [`EXTRA_DIRS`].
    Program(&'static str),
    /// A module or plugin, by its path under the multiarch library folder
    /// (`/usr/lib/<triplet>/`, also `/usr/lib/` and `/usr/lib64/`); a
    /// versioned name (`libscram.so.2`) also counts.
    Lib(&'static str),
}

use Need::{Lib, Program};

/// What the daemon tests use, each with the Debian package that provides
/// it (libvirt 11's packaging; in Debian's 9.0.0 the storage driver and
/// `virt-admin` are part of `libvirt-daemon` and `libvirt-clients`).
///
/// `.ci/install-libvirt` keeps the same list in bash (its `programs`,
/// `files` and package variables): change both together. A unit test
/// below checks that the script installs every package named here and
/// checks the same programs and files.
const REQUIRED: [(Need, &str); 26] = [
    // libvirt's daemon and clients.
    (Program("libvirtd"), "libvirt-daemon"),
    (Program("virsh"), "libvirt-clients"),
    (Program("virt-admin"), "libvirt-daemon-common"),
    // libvirt's C library as a client of the crate's server (Debian's
    // `/usr/bin/python3` imports it).
    (Lib("python3/dist-packages/libvirt.py"), "python3-libvirt"),
    // `storage:///system` (volume transfers): the storage driver module
    // and the backend of `dir` pools.
    (
        Lib("libvirt/connection-driver/libvirt_driver_storage.so"),
        "libvirt-daemon-driver-storage",
    ),
    (
        Lib("libvirt/storage-backend/libvirt_storage_backend_fs.so"),
        "libvirt-daemon-driver-storage",
    ),
    // ssh transport: a private sshd, its keys, netcat (libvirt's proxy).
    (Program("sshd"), "openssh-server"),
    (Program("ssh"), "openssh-client"),
    (Program("ssh-keygen"), "openssh-client"),
    (Program("nc"), "netcat-openbsd"),
    // tls: test certificates, and GnuTLS's reading of priority strings.
    (Program("openssl"), "openssl"),
    (Program("gnutls-cli"), "gnutls-bin"),
    // SASL: Cyrus's tools and the plugins of the mechanisms tested.
    (Program("saslpasswd2"), "sasl2-bin"),
    (Program("saslpluginviewer"), "sasl2-bin"),
    (Lib("sasl2/libscram.so"), "libsasl2-modules"),
    (Lib("sasl2/libplain.so"), "libsasl2-modules"),
    (Lib("sasl2/libdigestmd5.so"), "libsasl2-modules"),
    (Lib("sasl2/libsasldb.so"), "libsasl2-modules-db"),
    // GSSAPI: Cyrus's plugin and a private MIT Kerberos realm.
    (Lib("sasl2/libgssapiv2.so"), "libsasl2-modules-gssapi-mit"),
    (Program("krb5kdc"), "krb5-kdc"),
    (Program("kdb5_util"), "krb5-kdc"),
    (Program("kadmin.local"), "krb5-admin-server"),
    (Program("kinit"), "krb5-user"),
    // xdrgen against rpcgen: the program and the rpcsvc specs, and
    // libtirpc to build rpcgen's C (`libtirpc.a`: only the -dev package
    // has it).
    (Program("rpcgen"), "rpcsvc-proto"),
    // The C preprocessor rpcgen runs, and `xdrgen --cpp` in its tests.
    (Program("cpp"), "cpp"),
    (Lib("libtirpc.a"), "libtirpc-dev"),
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
/// which the tests find the programs of [`REQUIRED`]) when everything is
/// there or was just installed, `None` when they are to be skipped.
fn daemon_tests(root: &Path) -> Result<Option<OsString>, String> {
    let required = match std::env::var(DAEMON_TESTS).as_deref() {
        Ok("1") => true,
        Err(_) => false,
        Ok(other) => {
            eprintln!("xtask: {DAEMON_TESTS}={other}: the tests that need libvirtd may skip");
            return Ok(None);
        }
    };
    let dirs = search_dirs();
    let libs = lib_dirs();
    let absent = missing(&dirs, &libs);
    if absent.is_empty() {
        eprintln!(
            "xtask: libvirt and the test tools found; the daemon tests run ({DAEMON_TESTS}=1)"
        );
        return std::env::join_paths(&dirs)
            .map(Some)
            .map_err(|e| e.to_string());
    }
    if !is_root() {
        let what = describe(&absent);
        if required {
            return Err(format!(
                "{DAEMON_TESTS}=1 but the daemon tests cannot run: {what}. Install them \
                 (`sudo .ci/install-libvirt` on Debian)."
            ));
        }
        eprintln!(
            "xtask: {what}; not running as root to install them: the tests that need a \
             private libvirtd will be skipped. Install them (`sudo .ci/install-libvirt` on \
             Debian) and run `cargo xtask test` again to run them."
        );
        return Ok(None);
    }
    let script = root.join(".ci/install-libvirt");
    eprintln!(
        "xtask: {}; installing with {}",
        describe(&absent),
        script.display()
    );
    let status = Command::new("bash")
        .arg(&script)
        .status()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    // The library folders again: the install may have created one.
    let still = missing(&dirs, &lib_dirs());
    if !status.success() {
        let what = if still.is_empty() {
            String::new()
        } else {
            format!(": {}", describe(&still))
        };
        return Err(format!(
            "{} failed ({status}); the daemon tests cannot run{what}",
            script.display()
        ));
    }
    if !still.is_empty() {
        return Err(format!(
            "{} succeeded, but the daemon tests cannot run: {}",
            script.display(),
            describe(&still)
        ));
    }
    eprintln!("xtask: libvirt installed; the daemon tests run ({DAEMON_TESTS}=1)");
    std::env::join_paths(&dirs)
        .map(Some)
        .map_err(|e| e.to_string())
}

/// The entries of [`REQUIRED`] not found: programs in `dirs`, modules and
/// plugins in `libs`.
fn missing(dirs: &[PathBuf], libs: &[PathBuf]) -> Vec<(Need, &'static str)> {
    REQUIRED
        .iter()
        .copied()
        .filter(|(need, _)| match need {
            Program(name) => !dirs.iter().any(|d| is_executable(&d.join(name))),
            Lib(rel) => !libs.iter().any(|d| has_lib(d, rel)),
        })
        .collect()
}

/// `not found: program libvirtd (Debian package libvirt-daemon), ...`.
fn describe(missing: &[(Need, &str)]) -> String {
    let items: Vec<String> = missing
        .iter()
        .map(|(need, package)| {
            let what = match need {
                Program(name) => format!("program {name}"),
                Lib(rel) => format!("/usr/lib/*/{rel}"),
            };
            format!("{what} (Debian package {package})")
        })
        .collect();
    format!("not found: {}", items.join(", "))
}

/// The current `PATH`'s folders, with the usual `sbin` folders appended.
fn search_dirs() -> Vec<PathBuf> {
    let current = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&current).collect();
    for extra in EXTRA_DIRS {
        if !dirs.iter().any(|d| d == Path::new(extra)) {
            dirs.push(PathBuf::from(extra));
        }
    }
    dirs
}

/// The folders modules and plugins are looked for in: every
/// `/usr/lib/<triplet>/` (the multiarch folders, whatever the
/// architecture), then `/usr/lib/` and `/usr/lib64/`.
fn lib_dirs() -> Vec<PathBuf> {
    lib_dirs_in(Path::new("/usr"))
}

fn lib_dirs_in(usr: &Path) -> Vec<PathBuf> {
    let lib = usr.join("lib");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&lib)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter(|e| {
            // `x86_64-linux-gnu`, `aarch64-linux-gnu`, ...
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.contains("-linux-") && e.path().is_dir()
        })
        .map(|e| e.path())
        .collect();
    dirs.sort();
    dirs.push(lib);
    dirs.push(usr.join("lib64"));
    dirs
}

/// Whether `dir/rel` exists, or a versioned `rel.N...` beside it.
fn has_lib(dir: &Path, rel: &str) -> bool {
    let path = dir.join(rel);
    if path.exists() {
        return true;
    }
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return false;
    };
    let prefix = format!("{}.", name.to_string_lossy());
    std::fs::read_dir(parent).is_ok_and(|d| {
        d.filter_map(|e| e.ok())
            .any(|e| e.file_name().to_string_lossy().starts_with(&prefix))
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// The words of the shell variable `name="..."` (possibly over several
    /// lines) in `script`.
    fn shell_words(script: &str, name: &str) -> Vec<String> {
        let start = format!("\n{name}=\"");
        let at = script
            .find(&start)
            .unwrap_or_else(|| panic!("no {name}=\"...\" in .ci/install-libvirt"));
        let rest = &script[at + start.len()..];
        let end = rest.find('"').expect("unterminated string");
        rest[..end].split_whitespace().map(str::to_owned).collect()
    }

    fn install_script() -> String {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.ci/install-libvirt");
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn the_install_script_installs_every_package_named_here() {
        let script = install_script();
        let installed: BTreeSet<String> = ["tool_packages", "libvirt_packages"]
            .iter()
            .flat_map(|v| shell_words(&script, v))
            .collect();
        for (need, package) in REQUIRED {
            assert!(
                installed.contains(package),
                "{need:?} comes from {package}, which .ci/install-libvirt does not install \
                 (it installs {installed:?})"
            );
        }
    }

    #[test]
    fn the_install_script_checks_the_same_programs_and_files() {
        let script = install_script();
        let programs: BTreeSet<String> = shell_words(&script, "programs").into_iter().collect();
        let files: BTreeSet<String> = shell_words(&script, "files").into_iter().collect();
        let mut want_programs = BTreeSet::new();
        let mut want_files = BTreeSet::new();
        for (need, _) in REQUIRED {
            match need {
                Program(p) => want_programs.insert(p.to_owned()),
                Lib(f) => want_files.insert(f.to_owned()),
            };
        }
        assert_eq!(
            programs, want_programs,
            "programs=\"...\" of .ci/install-libvirt"
        );
        assert_eq!(files, want_files, "files=\"...\" of .ci/install-libvirt");
    }

    #[test]
    fn modules_are_found_under_any_multiarch_folder() {
        let usr = std::env::temp_dir().join(format!("xtask-libdirs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&usr);
        let arch = usr.join("lib/aarch64-linux-gnu");
        std::fs::create_dir_all(arch.join("libvirt/connection-driver")).unwrap();
        std::fs::create_dir_all(arch.join("sasl2")).unwrap();
        std::fs::create_dir_all(usr.join("lib/python3")).unwrap();
        std::fs::write(
            arch.join("libvirt/connection-driver/libvirt_driver_storage.so"),
            "",
        )
        .unwrap();
        std::fs::write(arch.join("sasl2/libscram.so.2"), "").unwrap();

        let libs = lib_dirs_in(&usr);
        assert_eq!(libs[0], arch);
        assert!(!libs.contains(&usr.join("lib/python3")));
        let missing = missing(&[], &libs);
        let missing_libs: Vec<&str> = missing
            .iter()
            .filter_map(|(n, _)| match n {
                Lib(rel) => Some(*rel),
                Program(_) => None,
            })
            .collect();
        assert!(!missing_libs.contains(&"libvirt/connection-driver/libvirt_driver_storage.so"));
        assert!(
            !missing_libs.contains(&"sasl2/libscram.so"),
            "a versioned name counts"
        );
        assert!(missing_libs.contains(&"sasl2/libgssapiv2.so"));
        let text = describe(&missing);
        assert!(
            text.contains(
                "/usr/lib/*/sasl2/libgssapiv2.so (Debian package libsasl2-modules-gssapi-mit)"
            ),
            "{text}"
        );
        assert!(
            text.contains("program libvirtd (Debian package libvirt-daemon)"),
            "{text}"
        );
        std::fs::remove_dir_all(&usr).unwrap();
    }
}
