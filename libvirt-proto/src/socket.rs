//! Which Unix socket a local connection uses, decided as libvirt's remote
//! driver does (`remote_sockets.c`), against an injectable view of the
//! filesystem and environment so the decision can be tested.
//!
//! - `socket=` wins.
//! - A session connection (`/session`, or the test driver, when not root)
//!   uses `$XDG_RUNTIME_DIR/libvirt/<daemon>-sock` (or
//!   `$HOME/.cache/libvirt/...` without `XDG_RUNTIME_DIR`); read-only
//!   makes no difference there.
//! - A system connection uses `/var/run/libvirt/<daemon>-sock`, or
//!   `-sock-ro` when read-only.
//! - `<daemon>` is `libvirt` (libvirtd, the legacy monolithic daemon) or
//!   `virt<driver>d` (a modular daemon such as `virtqemud`). `mode=auto`
//!   picks the modular socket if it exists, else libvirtd's if it exists,
//!   else the modular one (Debian builds with modular daemons by default).
//! - Admin sockets are `<daemon>-admin-sock`.
//!
//! ```
//! use libvirt_proto::socket::{unix_socket, Environment};
//! use libvirt_proto::uri::ConnectUri;
//!
//! let env = Environment { root: true, runtime_dir: None, home: None, existing: vec!["/var/run/libvirt/virtqemud-sock".into()] };
//! let uri = ConnectUri::parse("qemu:///system").unwrap();
//! assert_eq!(unix_socket(&uri, false, &env).unwrap(), "/var/run/libvirt/virtqemud-sock");
//! ```

use crate::uri::{ConnectUri, Mode, Transport};

/// The parts of the environment the decision depends on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Environment {
    /// Whether the process runs as root.
    pub root: bool,
    /// `$XDG_RUNTIME_DIR`.
    pub runtime_dir: Option<String>,
    /// `$HOME`.
    pub home: Option<String>,
    /// Paths that exist (only sockets are asked about).
    pub existing: Vec<String>,
}

impl Environment {
    /// The real environment, with [`Environment::existing`] filled in for
    /// the sockets this URI could use.
    pub fn current(uri: &ConnectUri) -> Environment {
        let mut env = Environment {
            // The effective uid, as /proc reports it (no unsafe libc call).
            root: effective_uid_is_root(),
            runtime_dir: std::env::var("XDG_RUNTIME_DIR").ok(),
            home: std::env::var("HOME").ok(),
            existing: Vec::new(),
        };
        for read_only in [false, true] {
            for admin in [false, true] {
                for candidate in candidates(uri, read_only, admin, &env) {
                    if std::path::Path::new(&candidate).exists() {
                        env.existing.push(candidate);
                    }
                }
            }
        }
        env
    }

    fn exists(&self, path: &str) -> bool {
        self.existing.iter().any(|p| p == path)
    }
}

fn effective_uid_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// Why no socket could be chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SocketError {
    /// The URI does not use a Unix socket.
    NotUnix(Transport),
    /// A session connection without `XDG_RUNTIME_DIR` or `HOME`.
    NoRuntimeDir,
}

impl std::fmt::Display for SocketError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SocketError::NotUnix(t) => write!(f, "the {t:?} transport does not use a local socket"),
            SocketError::NoRuntimeDir => f.write_str("neither XDG_RUNTIME_DIR nor HOME is set"),
        }
    }
}

impl std::error::Error for SocketError {}

fn socket_dir_and_suffix(
    uri: &ConnectUri,
    read_only: bool,
    admin: bool,
    env: &Environment,
) -> Option<(String, &'static str)> {
    if uri.wants_session(env.root) {
        let dir = match (&env.runtime_dir, &env.home) {
            (Some(r), _) => format!("{r}/libvirt"),
            (None, Some(h)) => format!("{h}/.cache/libvirt"),
            (None, None) => return None,
        };
        Some((dir, if admin { "admin-sock" } else { "sock" }))
    } else {
        let suffix = match (admin, read_only) {
            (true, _) => "admin-sock",
            (false, true) => "sock-ro",
            (false, false) => "sock",
        };
        Some(("/var/run/libvirt".to_owned(), suffix))
    }
}

/// The modular (direct) and legacy socket paths, in that order.
fn candidates(uri: &ConnectUri, read_only: bool, admin: bool, env: &Environment) -> Vec<String> {
    let Some((dir, suffix)) = socket_dir_and_suffix(uri, read_only, admin, env) else {
        return Vec::new();
    };
    vec![
        format!("{dir}/virt{}d-{suffix}", uri.driver),
        format!("{dir}/libvirt-{suffix}"),
    ]
}

fn choose(
    uri: &ConnectUri,
    read_only: bool,
    admin: bool,
    env: &Environment,
) -> Result<String, SocketError> {
    if uri.transport != Transport::Unix {
        return Err(SocketError::NotUnix(uri.transport));
    }
    if let Some(s) = &uri.params.socket {
        return Ok(s.clone());
    }
    let c = candidates(uri, read_only, admin, env);
    let [direct, legacy] = c.as_slice() else {
        return Err(SocketError::NoRuntimeDir);
    };
    Ok(match uri.params.mode {
        Mode::Direct => direct.clone(),
        Mode::Legacy => legacy.clone(),
        Mode::Auto if env.exists(direct) => direct.clone(),
        Mode::Auto if env.exists(legacy) => legacy.clone(),
        Mode::Auto => direct.clone(),
    })
}

/// The socket of a connection to `uri` (`read_only` for `-ro` sockets).
pub fn unix_socket(
    uri: &ConnectUri,
    read_only: bool,
    env: &Environment,
) -> Result<String, SocketError> {
    choose(uri, read_only, false, env)
}

/// The admin socket of the daemon serving `uri`.
pub fn admin_socket(uri: &ConnectUri, env: &Environment) -> Result<String, SocketError> {
    choose(uri, false, true, env)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(root: bool, existing: &[&str]) -> Environment {
        Environment {
            root,
            runtime_dir: Some("/run/user/1000".into()),
            home: Some("/home/u".into()),
            existing: existing.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    fn sock(uri: &str, ro: bool, e: &Environment) -> String {
        unix_socket(&ConnectUri::parse(uri).unwrap(), ro, e).unwrap()
    }

    #[test]
    fn system_sockets_prefer_the_modular_daemon_when_present() {
        let modular = env(true, &["/var/run/libvirt/virtqemud-sock"]);
        assert_eq!(
            sock("qemu:///system", false, &modular),
            "/var/run/libvirt/virtqemud-sock"
        );
        let legacy = env(
            true,
            &[
                "/var/run/libvirt/libvirt-sock",
                "/var/run/libvirt/libvirt-sock-ro",
            ],
        );
        assert_eq!(
            sock("qemu:///system", false, &legacy),
            "/var/run/libvirt/libvirt-sock"
        );
        assert_eq!(
            sock("qemu:///system", true, &legacy),
            "/var/run/libvirt/libvirt-sock-ro"
        );
        // Nothing there yet: the modular daemon (socket activation).
        assert_eq!(
            sock("qemu:///system", false, &env(true, &[])),
            "/var/run/libvirt/virtqemud-sock"
        );
        // Other drivers have daemons of their own.
        assert_eq!(
            sock("network:///system", true, &env(true, &[])),
            "/var/run/libvirt/virtnetworkd-sock-ro"
        );
    }

    #[test]
    fn mode_forces_a_daemon() {
        let both = env(
            true,
            &[
                "/var/run/libvirt/virtqemud-sock",
                "/var/run/libvirt/libvirt-sock",
            ],
        );
        assert_eq!(
            sock("qemu:///system?mode=legacy", false, &both),
            "/var/run/libvirt/libvirt-sock"
        );
        assert_eq!(
            sock("qemu:///system?mode=direct", false, &both),
            "/var/run/libvirt/virtqemud-sock"
        );
    }

    #[test]
    fn session_sockets_live_in_the_runtime_dir() {
        let e = env(false, &[]);
        assert_eq!(
            sock("qemu:///session", false, &e),
            "/run/user/1000/libvirt/virtqemud-sock"
        );
        assert_eq!(
            sock("qemu:///session", true, &e),
            "/run/user/1000/libvirt/virtqemud-sock",
            "no -ro"
        );
        let e = Environment {
            runtime_dir: None,
            ..env(false, &["/home/u/.cache/libvirt/libvirt-sock"])
        };
        assert_eq!(
            sock("qemu:///session", false, &e),
            "/home/u/.cache/libvirt/libvirt-sock"
        );
        let nothing = Environment {
            runtime_dir: None,
            home: None,
            ..env(false, &[])
        };
        assert_eq!(
            unix_socket(
                &ConnectUri::parse("qemu:///session").unwrap(),
                false,
                &nothing
            ),
            Err(SocketError::NoRuntimeDir)
        );
    }

    #[test]
    fn socket_parameter_and_admin_sockets() {
        let e = env(true, &[]);
        assert_eq!(
            sock("test+unix:///default?socket=/tmp/s", false, &e),
            "/tmp/s"
        );
        let uri = ConnectUri::parse("qemu:///system?mode=legacy").unwrap();
        assert_eq!(
            admin_socket(&uri, &e).unwrap(),
            "/var/run/libvirt/libvirt-admin-sock"
        );
        let uri = ConnectUri::parse("qemu:///system").unwrap();
        assert_eq!(
            admin_socket(&uri, &e).unwrap(),
            "/var/run/libvirt/virtqemud-admin-sock"
        );
        let tcp = ConnectUri::parse("qemu+tcp://h/system").unwrap();
        assert_eq!(
            unix_socket(&tcp, false, &e),
            Err(SocketError::NotUnix(Transport::Tcp))
        );
    }
}
