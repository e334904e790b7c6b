//! Finding a libvirt source tree for a tag: `--from`, the cache, or a
//! download (release tarball, else a shallow git clone of the tag).

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use super::spec::Spec;

/// `v11.3.0` → `11.3.0`.
pub fn version_of(tag: &str) -> Result<&str, String> {
    let v = tag.strip_prefix('v').unwrap_or(tag);
    let ok = !v.is_empty()
        && v.split('.')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    if ok {
        Ok(v)
    } else {
        Err(format!(
            "`{tag}` is not a libvirt release tag such as v11.3.0"
        ))
    }
}

/// An unpacked source tree; a temporary one is removed when dropped.
pub struct Tree {
    /// Its root.
    pub root: PathBuf,
    temporary: Option<PathBuf>,
}

impl Drop for Tree {
    fn drop(&mut self) {
        if let Some(t) = &self.temporary {
            let _ = std::fs::remove_dir_all(t);
        }
    }
}

/// The root of an unpacked tree for `tag`.
pub fn tree(spec: &Spec, tag: &str, from: Option<&Path>, cache: &Path) -> Result<Tree, String> {
    let version = version_of(tag)?;
    let cached = cache.join(format!("libvirt-{version}"));
    let kept = |root: PathBuf| Tree {
        root,
        temporary: None,
    };
    if let Some(from) = from {
        if from.is_dir() {
            return check_tree(from).map(kept);
        }
        verify(spec, tag, from)?;
        // A tarball given on the command line is unpacked privately, so
        // several runs at once never share a folder.
        let tmp = std::env::temp_dir().join(format!("xtask-regen-{}", std::process::id()));
        let root = unpack(from, &tmp, version)?;
        return Ok(Tree {
            root,
            temporary: Some(tmp),
        });
    }
    // A tree cached by an older xtask may lack files read since.
    if cached.join("src/remote/remote_protocol.x").is_file()
        && cached.join("tools/virt-admin.c").is_file()
    {
        eprintln!("regen: using cached sources in {}", cached.display());
        return Ok(kept(cached));
    }
    std::fs::create_dir_all(cache)
        .map_err(|e| format!("cannot create {}: {e}", cache.display()))?;
    let tarball = cache.join(format!("libvirt-{version}.tar.xz"));
    let url = spec.download.tarball.replace("{version}", version);
    eprintln!("regen: downloading {url}");
    let status = Command::new("curl")
        .args([
            "--fail",
            "--location",
            "--silent",
            "--show-error",
            "--progress-bar",
            "-o",
        ])
        .arg(&tarball)
        .arg(&url)
        .status();
    match status {
        Ok(s) if s.success() => {
            verify(spec, tag, &tarball)?;
            unpack(&tarball, cache, version).map(kept)
        }
        _ => {
            let _ = std::fs::remove_file(&tarball);
            eprintln!(
                "regen: no tarball; trying a shallow clone of {tag} from {}",
                spec.download.git
            );
            let status = Command::new("git")
                .args(["clone", "--quiet", "--depth", "1", "--branch", tag])
                .arg(&spec.download.git)
                .arg(&cached)
                .status();
            match status {
                Ok(s) if s.success() => check_tree(&cached).map(kept),
                _ => Err(format!(
                    "cannot fetch libvirt {tag}: the download of {url} and the clone of {} failed \
                     (offline?). Pass a tarball or a source tree with --from PATH.",
                    spec.download.git
                )),
            }
        }
    }
}

fn check_tree(root: &Path) -> Result<PathBuf, String> {
    if root.join("src/remote/remote_protocol.x").is_file() {
        Ok(root.to_path_buf())
    } else {
        Err(format!(
            "{} is not a libvirt source tree (no src/remote/remote_protocol.x)",
            root.display()
        ))
    }
}

/// Checks a tarball against the known checksum of its tag, if any.
fn verify(spec: &Spec, tag: &str, tarball: &Path) -> Result<(), String> {
    let bytes =
        std::fs::read(tarball).map_err(|e| format!("cannot read {}: {e}", tarball.display()))?;
    let digest: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    match spec.tags.get(tag) {
        Some(expected) if *expected == digest => Ok(()),
        Some(expected) => Err(format!(
            "checksum mismatch for {}: expected {expected}, got {digest}",
            tarball.display()
        )),
        None => {
            eprintln!("regen: {tag} is not in specs/libvirt.toml; its tarball (sha256 {digest}) is not verified");
            Ok(())
        }
    }
}

/// Unpacks the `.x` files and public headers of a tarball into the cache.
fn unpack(tarball: &Path, cache: &Path, version: &str) -> Result<PathBuf, String> {
    std::fs::create_dir_all(cache)
        .map_err(|e| format!("cannot create {}: {e}", cache.display()))?;
    let tmp = cache.join(format!(".unpack-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| e.to_string())?;
    eprintln!("regen: unpacking {}", tarball.display());
    let status = Command::new("tar")
        .arg("-xJf")
        .arg(tarball)
        .arg("-C")
        .arg(&tmp)
        // The .x files, the public headers and the API documentation.
        .args([
            "--wildcards",
            "*.x",
            "*/include/libvirt/*",
            "*/src/libvirt*.c",
            "*/src/admin/libvirt-admin.c",
            "*/tools/virsh*.c",
            "*/tools/virt-admin.c",
        ])
        .status()
        .map_err(|e| format!("cannot run tar: {e}"))?;
    if !status.success() {
        return Err(format!("tar could not unpack {}", tarball.display()));
    }
    let inner = tmp.join(format!("libvirt-{version}"));
    let root = check_tree(&inner)?;
    let dest = cache.join(format!("libvirt-{version}"));
    let _ = std::fs::remove_dir_all(&dest);
    std::fs::rename(&root, &dest)
        .map_err(|e| format!("cannot move the sources into the cache: {e}"))?;
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(dest)
}
