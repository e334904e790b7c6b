//! `cargo xtask daemon-tests [--libvirt X.Y.Z]`: the tests against a
//! private `libvirtd`, run against the installed libvirt or against
//! another release of it, side by side with the installed one.
//!
//! A release is taken from the machine's own apt sources (for example
//! Debian bookworm's 9.0.0 next to 11.x from bookworm-backports):
//! `libvirt0`, `libvirt-daemon` and `libvirt-clients` of that version, its
//! `libvirt-daemon-driver-storage` when the release has one, and the
//! libraries they need that the machine lacks (`libyajl2` for 9.0.0), are
//! fetched with `apt-get download` and unpacked with `dpkg -x` into
//! `target/libvirt-X.Y.Z/root`; nothing is installed. The other
//! `libvirt-daemon-driver-*` packages (QEMU, LXC, ...) are left out: the
//! tests use the test driver built into the daemon, and the storage driver
//! with its `dir` backend (`storage:///system`, volume transfers). Debian's
//! 9.0.0 ships the storage driver and its backends inside `libvirt-daemon`
//! (with the network, nodedev, secret, interface and nwfilter drivers), so
//! nothing more is fetched for it; newer packaging (11.x in
//! bookworm-backports) splits them into `libvirt-daemon-driver-storage`
//! (the driver and its `dir` / `fs` backend, fetched) and
//! `libvirt-daemon-driver-storage-*` (disk, LVM, iSCSI, ...: not fetched).
//! The unpacked tree must hold the storage driver and its `fs` backend,
//! and the libraries they load must resolve. Wrapper scripts
//! `libvirtd`, `virsh` and `virt-admin` in `target/libvirt-X.Y.Z/bin` run
//! the unpacked programs with:
//!
//! - `LD_LIBRARY_PATH`: the unpacked `libvirt.so`, `libvirt-admin.so`, ...
//!   (the programs would otherwise load the installed, newer libraries);
//! - `LIBVIRT_DRIVER_DIR`: the unpacked connection-driver modules (network,
//!   storage, nodedev, ...; the installed release's modules do not load
//!   into another release). As root they keep state in `/run/libvirt` and
//!   `/var/lib/libvirt`: the tests' harness runs each daemon in a mount
//!   namespace with its own empty copies of those folders;
//! - `LIBVIRT_STORAGE_BACKEND_DIR`, `LIBVIRT_STORAGE_FILE_DIR`,
//!   `LIBVIRT_LOCK_MANAGER_PLUGIN_DIR`: the unpacked plugin folders;
//! - `VIRTD_PATH`: the wrappers' folder, where the remote driver looks for
//!   a daemon to start for a session URI.
//!
//! The unpacked programs still read `/etc/libvirt/libvirt.conf`,
//! `libvirt-admin.conf` and the XML schemas under `/usr/share/libvirt` of
//! the installed release: libvirt has no override for those. The daemon
//! tests give the daemon its own configuration file.
//!
//! The download needs the apt lists to carry the release (`apt-get update`
//! is run once when it is missing and this runs as root); once
//! `target/libvirt-X.Y.Z` is complete, nothing is downloaded again.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// The packages that make up a release's daemon and clients.
const PACKAGES: [&str; 3] = ["libvirt0", "libvirt-daemon", "libvirt-clients"];

/// Packages fetched too when the release has them at its version: the
/// storage driver and its `dir` / `fs` backend, a package of its own in
/// newer packaging (11.x), inside `libvirt-daemon` in 9.0.0.
const IF_SPLIT: [&str; 1] = ["libvirt-daemon-driver-storage"];

/// Modules the daemon tests load, under the unpacked library folder: the
/// storage driver and the backend of `dir` pools.
const MODULES: [&str; 2] = [
    "libvirt/connection-driver/libvirt_driver_storage.so",
    "libvirt/storage-backend/libvirt_storage_backend_fs.so",
];

/// Dependencies deliberately left out: the driver modules (see the module
/// documentation; those of [`IF_SPLIT`] are fetched before this is asked)
/// and the packages of the release itself.
fn left_out(name: &str) -> bool {
    name.starts_with("libvirt-daemon-driver-") || PACKAGES.contains(&name)
}

/// The daemon test binaries of `libvirt-proto`: the test files that use
/// the private-daemon harness (`mod common;`).
fn daemon_test_names(tests_dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(tests_dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e
                .file_name()
                .to_string_lossy()
                .strip_suffix(".rs")?
                .to_owned();
            let text = std::fs::read_to_string(e.path()).ok()?;
            text.lines()
                .any(|l| l.trim() == "mod common;")
                .then_some(name)
        })
        .collect();
    names.sort();
    names
}

/// Most packages fetched besides [`PACKAGES`] before giving up.
const MAX_EXTRA: usize = 32;

/// The programs wrapped: name, path inside the unpacked tree.
const PROGRAMS: [(&str, &str); 3] = [
    ("libvirtd", "usr/sbin/libvirtd"),
    ("virsh", "usr/bin/virsh"),
    ("virt-admin", "usr/bin/virt-admin"),
];

/// A libvirt release unpacked next to the installed one.
#[derive(Debug)]
pub struct Release {
    /// The upstream version, `9.0.0`.
    pub version: String,
    /// The Debian version of its packages, `9.0.0-4+deb12u2`.
    pub debian_version: String,
    /// Its cache folder, `target/libvirt-9.0.0`.
    pub dir: PathBuf,
    /// The folder of the wrapper scripts, to put first on `PATH`.
    pub bin: PathBuf,
}

/// `cargo xtask daemon-tests [--libvirt X.Y.Z] [-- ARGS]`.
pub fn daemon_tests(root: &Path, args: &[String]) -> ExitCode {
    let mut version = None;
    let mut harness: &[String] = &[];
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--libvirt" => match args.get(i + 1) {
                Some(v) => {
                    version = Some(v.clone());
                    i += 1;
                }
                None => {
                    eprintln!("cargo xtask daemon-tests: --libvirt needs a version, e.g. 9.0.0");
                    return ExitCode::FAILURE;
                }
            },
            "--" => {
                harness = &args[i + 1..];
                break;
            }
            other => {
                eprintln!(
                    "cargo xtask daemon-tests: unknown argument `{other}` \
                     (usage: daemon-tests [--libvirt X.Y.Z] [-- TEST-ARGS])"
                );
                return ExitCode::FAILURE;
            }
        }
        i += 1;
    }

    let mut path = std::env::var_os("PATH").unwrap_or_default();
    if let Some(version) = &version {
        let release = match provision(&target_dir(root), version) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("cargo xtask daemon-tests: libvirt {version}: {e}");
                return ExitCode::FAILURE;
            }
        };
        eprintln!(
            "xtask: libvirt {} (Debian {}) from {}",
            release.version,
            release.debian_version,
            release.dir.display()
        );
        let mut dirs = vec![release.bin.clone()];
        dirs.extend(std::env::split_paths(&path));
        path = match std::env::join_paths(dirs) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("cargo xtask daemon-tests: {e}");
                return ExitCode::FAILURE;
            }
        };
    }

    let tests_dir = root.join("libvirt-proto/tests");
    let tests = daemon_test_names(&tests_dir);
    if tests.is_empty() {
        eprintln!(
            "cargo xtask daemon-tests: no test using the daemon harness in {}",
            tests_dir.display()
        );
        return ExitCode::FAILURE;
    }
    eprintln!(
        "xtask: daemon tests {} against {}",
        tests.join(", "),
        tool_version(&path, "libvirtd").unwrap_or_else(|e| e)
    );

    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .env("PATH", &path)
        .env("LIBVIRT_PROTO_DAEMON_TESTS", "1")
        .args([
            "test",
            "-p",
            "libvirt-proto",
            "--features",
            "client gssapi server server-tls",
            "--no-fail-fast",
        ]);
    for t in &tests {
        cmd.args(["--test", t]);
    }
    if !harness.is_empty() {
        cmd.arg("--").args(harness);
    }
    match cmd.status() {
        Ok(s) if s.success() => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("cargo xtask daemon-tests: cannot run cargo: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Cargo's target folder: `CARGO_TARGET_DIR`, else `target` in the
/// workspace.
pub fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) if !d.is_empty() => root.join(d),
        _ => root.join("target"),
    }
}

/// `tool --version` as found on `path`, trimmed.
fn tool_version(path: &OsString, tool: &str) -> Result<String, String> {
    let out = Command::new(tool)
        .arg("--version")
        .env("PATH", path)
        .output()
        .map_err(|e| format!("{tool} not found ({e})"))?;
    if !out.status.success() {
        return Err(format!(
            "`{tool} --version` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Makes libvirt `version` runnable from `<cache>/libvirt-<version>`:
/// reuses what is there, downloads and unpacks what is missing, and
/// (re)writes the wrapper scripts.
pub fn provision(cache: &Path, version: &str) -> Result<Release, String> {
    if version.is_empty()
        || !version
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(format!(
            "`{version}` is not a libvirt version (X.Y.Z, e.g. 9.0.0)"
        ));
    }
    let dir = cache.join(format!("libvirt-{version}"));
    let debs = dir.join("debs");
    let unpacked = dir.join("root");
    let stamp = debs.join("debian-version");

    if !stamp.is_file() {
        download(&dir, version)?;
    }
    let debian_version = std::fs::read_to_string(&stamp)
        .map_err(|e| format!("cannot read {}: {e}", stamp.display()))?
        .trim()
        .to_owned();

    if !unpacked.join(PROGRAMS[0].1).is_file() {
        unpack(&debs, &dir)?;
    }
    let lib = library_dir(&unpacked)?;
    let missing: Vec<&str> = MODULES
        .iter()
        .copied()
        .filter(|m| !lib.join(m).is_file())
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "the packages in {} hold no {} (the storage driver: in libvirt-daemon in 9.0.0, \
             in libvirt-daemon-driver-storage in 11.x); remove {} to download again",
            debs.display(),
            missing.join(", "),
            dir.display()
        ));
    }
    check_libraries(&unpacked, &lib)?;

    let drivers = lib.join("libvirt/connection-driver");
    if !drivers.is_dir() {
        return Err(format!("no driver modules in {}", drivers.display()));
    }
    let bin = dir.join("bin");
    write_wrappers(&bin, &unpacked, &lib, &drivers, version, &debian_version)?;

    let release = Release {
        version: version.to_owned(),
        debian_version,
        dir,
        bin,
    };
    let path = std::env::join_paths([&release.bin]).map_err(|e| e.to_string())?;
    for (name, _) in PROGRAMS {
        let printed = tool_version(&path, name)?;
        if printed.split_whitespace().last() != Some(version) {
            return Err(format!(
                "{} prints `{printed}`, not version {version}",
                release.bin.join(name).display()
            ));
        }
    }
    Ok(release)
}

/// Fetches the release's packages into `dir/debs` (complete or absent).
fn download(dir: &Path, version: &str) -> Result<(), String> {
    if !has_program("apt-get") || !has_program("dpkg") {
        return Err(format!(
            "{} is empty and this machine has no apt-get / dpkg to fetch libvirt's Debian \
             packages with",
            dir.display()
        ));
    }
    let debian_version = match find_version(version)? {
        Some(v) => v,
        None if is_root() => {
            eprintln!("xtask: libvirt-daemon {version} not in the apt lists; apt-get update");
            run(Command::new("apt-get").args(["update", "-qq"]))?;
            find_version(version)?.ok_or_else(|| not_available(version, ""))?
        }
        None => {
            return Err(not_available(
                version,
                " (as root, this runs `apt-get update` itself)",
            ))
        }
    };

    // The release's packages (with its storage driver package if it has
    // one), then whatever they need that is not installed, and what that
    // needs in turn.
    let mut fetch: BTreeMap<String, String> = PACKAGES
        .iter()
        .map(|p| (p.to_string(), debian_version.clone()))
        .collect();
    for p in IF_SPLIT {
        if output(Command::new("apt-cache").args(["show", &format!("{p}={debian_version}")]))
            .is_ok_and(|o| !o.trim().is_empty())
        {
            fetch.insert(p.to_owned(), debian_version.clone());
        }
    }
    let mut todo: Vec<(String, String)> = fetch.clone().into_iter().collect();
    while let Some((name, ver)) = todo.pop() {
        for group in depends(&name, &ver)? {
            if group
                .iter()
                .any(|d| left_out(&d.name) || fetch.contains_key(&d.name))
            {
                continue;
            }
            if satisfied(&group)? {
                continue;
            }
            let first = &group[0];
            let candidate = candidate(&first.name)?.ok_or_else(|| {
                format!(
                    "{name} {ver} needs {}, which is neither installed nor in the apt lists",
                    first.name
                )
            })?;
            if let Some((op, want)) = &first.version {
                if !compare(&candidate, op, want)? {
                    return Err(format!(
                        "{name} {ver} needs {} ({op} {want}); apt offers {candidate}",
                        first.name
                    ));
                }
            }
            if fetch.len() >= PACKAGES.len() + IF_SPLIT.len() + MAX_EXTRA {
                return Err(format!(
                    "more than {MAX_EXTRA} packages besides libvirt's own would be needed; \
                     install libvirt {version}'s dependencies instead"
                ));
            }
            fetch.insert(first.name.clone(), candidate.clone());
            todo.push((first.name.clone(), candidate));
        }
    }

    let partial = dir.join("debs.partial");
    let _ = std::fs::remove_dir_all(&partial);
    mkdir(&partial)?;
    let specs: Vec<String> = fetch.iter().map(|(n, v)| format!("{n}={v}")).collect();
    eprintln!("xtask: apt-get download {}", specs.join(" "));
    let mut cmd = Command::new("apt-get");
    cmd.current_dir(&partial).arg("download").arg("-qq");
    if is_root() {
        // apt's `_apt` user could not write into a folder of root's.
        cmd.args(["-o", "APT::Sandbox::User=root"]);
    }
    run(cmd.args(&specs)).map_err(|e| {
        if is_root() {
            e
        } else {
            format!("{e} (running as root may help)")
        }
    })?;
    std::fs::write(
        partial.join("debian-version"),
        format!("{debian_version}\n"),
    )
    .map_err(|e| format!("cannot write in {}: {e}", partial.display()))?;
    let debs = dir.join("debs");
    let _ = std::fs::remove_dir_all(&debs);
    std::fs::rename(&partial, &debs)
        .map_err(|e| format!("cannot rename {}: {e}", partial.display()))
}

fn not_available(version: &str, hint: &str) -> String {
    let policy = Command::new("apt-cache")
        .args(["policy", "libvirt-daemon"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    format!(
        "no libvirt-daemon {version} in the apt sources; add the Debian suite that carries it \
         (9.0.0 is bookworm's) and run `apt-get update`{hint}.\n\
         `apt-cache policy libvirt-daemon`:\n{}",
        policy.trim_end()
    )
}

/// Unpacks every `.deb` of `debs` into `dir/root` (complete or absent).
fn unpack(debs: &Path, dir: &Path) -> Result<(), String> {
    let partial = dir.join("root.partial");
    let _ = std::fs::remove_dir_all(&partial);
    mkdir(&partial)?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(debs)
        .map_err(|e| format!("cannot read {}: {e}", debs.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "deb"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!(
            "no .deb in {}; remove the folder to download again",
            debs.display()
        ));
    }
    for f in &files {
        run(Command::new("dpkg").arg("-x").arg(f).arg(&partial))?;
    }
    let root = dir.join("root");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::rename(&partial, &root)
        .map_err(|e| format!("cannot rename {}: {e}", partial.display()))?;
    for (_, program) in PROGRAMS {
        if !root.join(program).is_file() {
            return Err(format!(
                "the packages in {} hold no {program}",
                debs.display()
            ));
        }
    }
    Ok(())
}

/// The folder of the unpacked `libvirt.so.0` (`usr/lib/<multiarch>`).
fn library_dir(root: &Path) -> Result<PathBuf, String> {
    let usr_lib = root.join("usr/lib");
    if usr_lib.join("libvirt.so.0").exists() {
        return Ok(usr_lib);
    }
    std::fs::read_dir(&usr_lib)
        .map_err(|e| format!("cannot read {}: {e}", usr_lib.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|d| d.join("libvirt.so.0").exists())
        .ok_or_else(|| format!("no libvirt.so.0 under {}", usr_lib.display()))
}

/// Every library the unpacked programs and [`MODULES`] need resolves
/// (`ldd`).
fn check_libraries(root: &Path, lib: &Path) -> Result<(), String> {
    let mut missing = BTreeSet::new();
    let files = PROGRAMS
        .iter()
        .map(|(_, p)| (root.join(p), *p))
        .chain(MODULES.iter().map(|m| (lib.join(m), *m)));
    for (path, program) in files {
        let out = Command::new("ldd")
            .arg(&path)
            .env("LD_LIBRARY_PATH", lib)
            .output()
            .map_err(|e| format!("cannot run ldd: {e}"))?;
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if line.contains("not found") {
                missing.insert(format!("{} ({program})", line.trim()));
            }
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "libraries missing: {}; install them, or add their packages to {}",
            missing.into_iter().collect::<Vec<_>>().join(", "),
            root.with_file_name("debs").display()
        ))
    }
}

fn write_wrappers(
    bin: &Path,
    root: &Path,
    lib: &Path,
    drivers: &Path,
    version: &str,
    debian_version: &str,
) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    mkdir(bin)?;
    for (name, program) in PROGRAMS {
        let text = format!(
            "#!/bin/bash\n\
             # libvirt {version} (Debian {debian_version}) unpacked next to the installed\n\
             # release by `cargo xtask daemon-tests` (xtask/src/libvirt_release.rs).\n\
             lib={lib}\n\
             export LD_LIBRARY_PATH=\"$lib${{LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}}\"\n\
             export LIBVIRT_DRIVER_DIR={drivers}\n\
             export LIBVIRT_STORAGE_BACKEND_DIR=\"$lib/libvirt/storage-backend\"\n\
             export LIBVIRT_STORAGE_FILE_DIR=\"$lib/libvirt/storage-file\"\n\
             export LIBVIRT_LOCK_MANAGER_PLUGIN_DIR=\"$lib/libvirt/lock-driver\"\n\
             export VIRTD_PATH={bin}\n\
             exec -a {name} {program} \"$@\"\n",
            lib = quote(lib)?,
            drivers = quote(drivers)?,
            bin = quote(bin)?,
            program = quote(&root.join(program))?,
        );
        let path = bin.join(name);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            std::fs::write(&path, &text)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| format!("cannot make {} executable: {e}", path.display()))?;
    }
    Ok(())
}

/// `p` as a single-quoted shell word.
fn quote(p: &Path) -> Result<String, String> {
    let s = p
        .to_str()
        .ok_or_else(|| format!("{} is not UTF-8", p.display()))?;
    Ok(format!("'{}'", s.replace('\'', r"'\''")))
}

/// One alternative of a `Depends` entry.
#[derive(Debug, PartialEq)]
struct Dep {
    name: String,
    /// Relation and version, `(">=", "2.34")`.
    version: Option<(String, String)>,
}

/// The upstream part of a Debian version: no epoch, no revision.
fn upstream(debian_version: &str) -> &str {
    let v = debian_version
        .split_once(':')
        .map_or(debian_version, |(_, v)| v);
    v.rsplit_once('-').map_or(v, |(u, _)| u)
}

/// The newest Debian version of `libvirt-daemon` apt knows whose upstream
/// version is `version`, if that version of all of [`PACKAGES`] is there.
fn find_version(version: &str) -> Result<Option<String>, String> {
    let out =
        output(Command::new("apt-cache").args(["show", "libvirt-daemon"])).unwrap_or_default();
    let mut best: Option<String> = None;
    for stanza in stanzas(&out) {
        let Some(v) = stanza.get("Version") else {
            continue;
        };
        if upstream(v) != version {
            continue;
        }
        if best.as_ref().map_or(Ok(true), |b| compare(v, "gt", b))? {
            best = Some(v.clone());
        }
    }
    let Some(best) = best else { return Ok(None) };
    for p in PACKAGES {
        output(Command::new("apt-cache").args(["show", &format!("{p}={best}")]))
            .map_err(|_| format!("apt knows libvirt-daemon {best} but not {p} {best}"))?;
    }
    Ok(Some(best))
}

/// `apt-cache show`'s stanzas as field maps (continuation lines dropped).
fn stanzas(text: &str) -> Vec<BTreeMap<String, String>> {
    let mut all = Vec::new();
    let mut cur = BTreeMap::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !cur.is_empty() {
                all.push(std::mem::take(&mut cur));
            }
        } else if !line.starts_with([' ', '\t']) {
            if let Some((k, v)) = line.split_once(':') {
                cur.insert(k.to_owned(), v.trim().to_owned());
            }
        }
    }
    if !cur.is_empty() {
        all.push(cur);
    }
    all
}

/// `Pre-Depends` and `Depends` of one package version, as groups of
/// alternatives.
fn depends(name: &str, version: &str) -> Result<Vec<Vec<Dep>>, String> {
    let out = output(Command::new("apt-cache").args(["show", &format!("{name}={version}")]))?;
    let stanza = stanzas(&out)
        .into_iter()
        .next()
        .ok_or_else(|| format!("apt-cache shows nothing for {name}={version}"))?;
    let mut groups = Vec::new();
    for field in ["Pre-Depends", "Depends"] {
        if let Some(list) = stanza.get(field) {
            groups.extend(parse_depends(list));
        }
    }
    Ok(groups)
}

fn parse_depends(list: &str) -> Vec<Vec<Dep>> {
    list.split(',')
        .map(|group| {
            group
                .split('|')
                .filter_map(|alt| {
                    let alt = alt.trim();
                    let (name, rest) = alt.split_once('(').unwrap_or((alt, ""));
                    let name = name.trim().split(':').next().unwrap_or("").to_owned();
                    if name.is_empty() {
                        return None;
                    }
                    let version = rest
                        .trim_end_matches(')')
                        .split_once(' ')
                        .and_then(|(op, v)| {
                            let (op, v) = (op.trim(), v.trim());
                            (!op.is_empty() && !v.is_empty()).then(|| (op.to_owned(), v.to_owned()))
                        });
                    Some(Dep { name, version })
                })
                .collect::<Vec<_>>()
        })
        .filter(|g| !g.is_empty())
        .collect()
}

/// Whether an installed package satisfies one alternative of `group`.
fn satisfied(group: &[Dep]) -> Result<bool, String> {
    for d in group {
        let out = Command::new("dpkg-query")
            .args(["-W", "-f", "${db:Status-Abbrev}\t${Version}\n", &d.name])
            .output()
            .map_err(|e| format!("cannot run dpkg-query: {e}"))?;
        let text = String::from_utf8_lossy(&out.stdout);
        for line in text.lines() {
            let Some((status, installed)) = line.split_once('\t') else {
                continue;
            };
            if !status.starts_with("ii") {
                continue;
            }
            match &d.version {
                None => return Ok(true),
                Some((op, want)) => {
                    if compare(installed, op, want)? {
                        return Ok(true);
                    }
                }
            }
        }
    }
    Ok(false)
}

/// apt's candidate version of `name`.
fn candidate(name: &str) -> Result<Option<String>, String> {
    let out = output(Command::new("apt-cache").args(["policy", name]))?;
    Ok(out
        .lines()
        .find_map(|l| l.trim().strip_prefix("Candidate:"))
        .map(str::trim)
        .filter(|v| !v.is_empty() && *v != "(none)")
        .map(str::to_owned))
}

/// `dpkg --compare-versions a op b`.
fn compare(a: &str, op: &str, b: &str) -> Result<bool, String> {
    let status = Command::new("dpkg")
        .args(["--compare-versions", a, op, b])
        .status()
        .map_err(|e| format!("cannot run dpkg: {e}"))?;
    Ok(status.success())
}

fn has_program(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
}

/// Whether this process runs as root (owner of `/proc/self`, else `id -u`).
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

fn mkdir(p: &Path) -> Result<(), String> {
    std::fs::create_dir_all(p).map_err(|e| format!("cannot create {}: {e}", p.display()))
}

/// Runs `cmd`, an error with its standard error unless it succeeds.
fn run(cmd: &mut Command) -> Result<(), String> {
    output(cmd).map(drop)
}

/// Runs `cmd` and returns its standard output if it succeeds.
fn output(cmd: &mut Command) -> Result<String, String> {
    let shown = format!(
        "{} {}",
        cmd.get_program().to_string_lossy(),
        cmd.get_args()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run `{shown}`: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`{shown}` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_versions() {
        assert_eq!(upstream("9.0.0-4+deb12u2"), "9.0.0");
        assert_eq!(upstream("11.3.0-2~bpo12+1"), "11.3.0");
        assert_eq!(upstream("1:2.3-1-2"), "2.3-1");
        assert_eq!(upstream("9.0.0"), "9.0.0");
    }

    #[test]
    fn depends_lists() {
        let g = parse_depends(
            "libvirt0 (= 9.0.0-4+deb12u2), libc6 (>= 2.34), sensible-utils, a:any | b (<< 2)",
        );
        assert_eq!(g.len(), 4);
        assert_eq!(
            g[0],
            [Dep {
                name: "libvirt0".into(),
                version: Some(("=".into(), "9.0.0-4+deb12u2".into()))
            }]
        );
        assert_eq!(g[2][0].version, None);
        assert_eq!(g[3][0].name, "a");
        assert_eq!(g[3][1].version, Some(("<<".into(), "2".into())));
    }

    #[test]
    fn stanzas_split_on_blank_lines() {
        let s =
            stanzas("Package: a\nVersion: 1\nDescription: x\n more\n\nPackage: b\nVersion: 2\n");
        assert_eq!(s.len(), 2);
        assert_eq!(s[1]["Version"], "2");
    }

    #[test]
    fn shell_quoting() {
        assert_eq!(quote(Path::new("/a b/it's")).unwrap(), r"'/a b/it'\''s'");
    }
}
