//! `cargo xtask regen` against real libvirt releases.
//!
//! - The committed `libvirt-proto/src/generated/` is exactly what v11.3.0
//!   generates (the freshness check).
//! - v9.0.0 also generates, and the result compiles as a crate: the
//!   generator works per tag, not just for the committed one; its client
//!   methods and service traits compile inside libvirt-proto with the
//!   `client` and `server` features.
//!
//! Both need the release tarballs (`LIBVIRT_TARBALLS`, default
//! `../shared/libvirt`); without them the tests say so and pass.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn tarball(version: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("LIBVIRT_TARBALLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/libvirt"));
    let t = dir.join(format!("libvirt-{version}.tar.xz"));
    if t.is_file() {
        Some(t)
    } else {
        eprintln!(
            "skipped: {} not found; set LIBVIRT_TARBALLS to a folder holding libvirt release \
             tarballs (CI provides ../shared/libvirt)",
            t.display()
        );
        None
    }
}

fn xtask(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .output()
        .expect("run xtask")
}

#[test]
fn committed_output_is_current_for_v11_3_0() {
    let Some(t) = tarball("11.3.0") else { return };
    let o = xtask(&[
        "regen",
        "--tag",
        "v11.3.0",
        "--from",
        t.to_str().unwrap(),
        "--check",
    ]);
    assert!(
        o.status.success(),
        "libvirt-proto/src/generated is stale:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn check_reports_a_stale_file() {
    let Some(t) = tarball("11.3.0") else { return };
    let dir = std::env::temp_dir().join(format!("regen-stale-{}", std::process::id()));
    let o = xtask(&[
        "regen",
        "--tag",
        "v11.3.0",
        "--from",
        t.to_str().unwrap(),
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let remote = dir.join("remote.rs");
    let text = std::fs::read_to_string(&remote).unwrap();
    std::fs::write(
        &remote,
        text.replacen("pub const STRING_MAX", "pub const STRING_MAXX", 1),
    )
    .unwrap();
    let o = xtask(&[
        "regen",
        "--tag",
        "v11.3.0",
        "--from",
        t.to_str().unwrap(),
        "--out",
        dir.to_str().unwrap(),
        "--check",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("remote.rs: differs from line"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn v9_0_0_generates_code_that_compiles() {
    let Some(t) = tarball("9.0.0") else { return };
    let krate = std::env::temp_dir().join(format!("libvirt-proto-v9-{}", std::process::id()));
    let generated = krate.join("src/generated");
    let o = xtask(&[
        "regen",
        "--tag",
        "v9.0.0",
        "--from",
        t.to_str().unwrap(),
        "--out",
        generated.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mod_rs = std::fs::read_to_string(generated.join("mod.rs")).unwrap();
    assert!(mod_rs.contains("LIBVIRT_VERSION: &str = \"9.0.0\""));
    std::fs::write(
        krate.join("Cargo.toml"),
        format!(
            "[package]\nname = \"libvirt-proto-v9\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\
             [dependencies]\nxdr-rpcgen = {{ path = {:?} }}\nbitflags = \"2.4\"\n[workspace]\n",
            root().join("xdrgen")
        ),
    )
    .unwrap();
    std::fs::write(
        krate.join("src/lib.rs"),
        "#[allow(clippy::all)]\npub mod generated;\n\
         #[test]\nfn v9_remote_has_its_procedures() {\n\
         assert_eq!(generated::LIBVIRT_VERSION, \"9.0.0\");\n\
         assert!(generated::remote::program::PROCEDURES.len() > 400);\n}\n",
    )
    .unwrap();
    // Share the workspace's target folder so dependencies are built once.
    let status = Command::new(env!("CARGO"))
        .arg("test")
        .arg("--quiet")
        .arg("--manifest-path")
        .arg(krate.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", root().join("target/regen-v9"))
        .status()
        .unwrap();
    assert!(
        status.success(),
        "the crate generated from v9.0.0 does not build or pass"
    );
    std::fs::remove_dir_all(&krate).unwrap();
}

#[test]
fn a_bad_tag_or_source_is_a_clear_error() {
    let o = xtask(&["regen", "--tag", "latest"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a libvirt release tag"));
    let o = xtask(&["regen", "--tag", "v1.0.0", "--from", "/nonexistent/tree"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("/nonexistent/tree"), "{err}");
}

/// The client methods and service traits of v9.0.0 compile against the
/// hand-written client and server: a throw-away workspace holds
/// libvirt-proto with its `generated/` from v9.0.0 and everything else
/// linked to this tree.
#[test]
fn v9_0_0_client_methods_and_service_traits_compile() {
    use std::os::unix::fs::symlink;

    let Some(t) = tarball("9.0.0") else { return };
    let root = root();
    let ws = std::env::temp_dir().join(format!("libvirt-proto-v9-client-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&ws);
    let krate = ws.join("libvirt-proto");
    std::fs::create_dir_all(krate.join("src")).unwrap();

    // The workspace manifest, with libvirt-proto as its only member.
    let manifest: String = std::fs::read_to_string(root.join("Cargo.toml"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("default-members"))
        .map(|l| {
            if l.starts_with("members") {
                "members = [\"libvirt-proto\"]\n".to_owned()
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(ws.join("Cargo.toml"), manifest).unwrap();
    std::fs::copy(root.join("Cargo.lock"), ws.join("Cargo.lock")).unwrap();
    for c in ["xdrgen", "xdrgen-impl", "xdrgen-macros"] {
        symlink(root.join(c), ws.join(c)).unwrap();
    }
    let link_all_but = |from: &Path, to: &Path, except: &str| {
        for e in std::fs::read_dir(from).unwrap().flatten() {
            let name = e.file_name();
            if name != except && name != "Cargo.toml" {
                symlink(e.path(), to.join(&name)).unwrap();
            }
        }
    };
    let proto = root.join("libvirt-proto");
    std::fs::copy(proto.join("Cargo.toml"), krate.join("Cargo.toml")).unwrap();
    link_all_but(&proto, &krate, "src");
    link_all_but(&proto.join("src"), &krate.join("src"), "generated");

    let generated = krate.join("src/generated");
    let o = xtask(&[
        "regen",
        "--tag",
        "v9.0.0",
        "--from",
        t.to_str().unwrap(),
        "--out",
        generated.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(generated.join("remote_client.rs").is_file());
    assert!(generated.join("remote_server.rs").is_file());
    let status = Command::new(env!("CARGO"))
        .current_dir(&ws)
        .args([
            "check",
            "--quiet",
            "-p",
            "libvirt-proto",
            "--lib",
            "--features",
            "client,server",
        ])
        .env("CARGO_TARGET_DIR", root.join("target/regen-v9"))
        .status()
        .unwrap();
    assert!(
        status.success(),
        "libvirt-proto with the client and server does not build from v9.0.0"
    );
    std::fs::remove_dir_all(&ws).unwrap();
}
