//! libvirt release tarballs as test input.
//!
//! The tarballs are never committed. Tests look for
//! `libvirt-X.Y.Z.tar.xz` in the folder named by `LIBVIRT_TARBALLS`, or by
//! default in `../shared/libvirt` beside the workspace, and unpack the `.x`
//! files and public headers once into `target/libvirt-sources/X.Y.Z/`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The `.x` files of a libvirt tree, relative to its root.
pub const PROTOCOL_FILES: &[&str] = &[
    "src/rpc/virnetprotocol.x",
    "src/rpc/virkeepaliveprotocol.x",
    "src/remote/remote_protocol.x",
    "src/remote/qemu_protocol.x",
    "src/remote/lxc_protocol.x",
    "src/admin/admin_protocol.x",
    "src/locking/lock_protocol.x",
    "src/logging/log_protocol.x",
    "src/lxc/lxc_monitor_protocol.x",
];

/// The workspace's root folder.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the workspace")
        .to_path_buf()
}

/// The folder holding the release tarballs.
pub fn tarball_dir() -> PathBuf {
    match std::env::var_os("LIBVIRT_TARBALLS") {
        Some(d) => PathBuf::from(d),
        None => workspace_root().join("../shared/libvirt"),
    }
}

/// Why a libvirt version's sources are unavailable, in words a test prints
/// before it skips.
pub fn missing_message(version: &str) -> String {
    format!(
        "skipped: libvirt-{version}.tar.xz not found in {}; set LIBVIRT_TARBALLS to a folder \
         holding libvirt release tarballs (CI provides ../shared/libvirt)",
        tarball_dir().display()
    )
}

/// The unpacked source tree of libvirt `version` (e.g. `"11.3.0"`), or
/// `None` when its tarball is not available.
///
/// # Panics
/// When the tarball exists but cannot be unpacked.
pub fn tree(version: &str) -> Option<PathBuf> {
    let tarball = tarball_dir().join(format!("libvirt-{version}.tar.xz"));
    if !tarball.is_file() {
        return None;
    }
    let cache = workspace_root().join("target/libvirt-sources");
    let root = cache.join(version);
    let unpacked = root.join(format!("libvirt-{version}"));
    if unpacked.join(PROTOCOL_FILES[2]).is_file() {
        return Some(unpacked);
    }
    // Unpack beside the final place, then rename, so tests running in
    // parallel never see a half-written tree.
    static UNPACKS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = UNPACKS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = cache.join(format!("{version}.tmp.{}.{n}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("create the unpack folder");
    let status = Command::new("tar")
        .arg("-xJf")
        .arg(&tarball)
        .arg("-C")
        .arg(&tmp)
        .args(["--wildcards", "*.x", "*/include/libvirt/*"])
        .status()
        .expect("run tar");
    assert!(
        status.success(),
        "tar failed to unpack {}",
        tarball.display()
    );
    if std::fs::rename(&tmp, &root).is_err() {
        // Another test won the race; use its tree.
        let _ = std::fs::remove_dir_all(&tmp);
    }
    Some(unpacked)
}
