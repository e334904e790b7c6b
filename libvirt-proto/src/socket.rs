//! Which Unix socket a local connection uses, decided as libvirt's remote
//! driver does (`remote_sockets.c`), against an injectable view of the
//! filesystem and environment so the decision can be tested.
//!
//! - `socket=` wins.
//! - A session connection (`/session`, or the test driver, when not root)
//!   uses `$XDG_RUNTIME_DIR/libvirt/<daemon>-sock` (without it, GLib's
//!   cache directory: `$XDG_CACHE_HOME/libvirt/...`, else
//!   `$HOME/.cache/libvirt/...`); read-only
//!   makes no difference there.
//! - A system connection uses `/var/run/libvirt/<daemon>-sock`, or
//!   `-sock-ro` when read-only.
//! - `<daemon>` is `libvirt` (libvirtd, the legacy monolithic daemon) or
//!   `virt<driver>d` (a modular daemon such as `virtqemud`). `mode=auto`
//!   picks the modular socket if it exists, else libvirtd's if it exists,
//!   else the modular one (Debian builds with modular daemons by default).
//! - Admin URIs name the daemon as their scheme, as `virt-admin` reads
//!   them: `libvirtd:///system` is `/var/run/libvirt/libvirt-admin-sock`,
//!   `virtqemud:///session` `<runtime dir>/virtqemud-admin-sock`, and
//!   `socket=` wins there too.
//!
//! ```
//! use libvirt_proto::socket::{unix_socket, Environment};
//! use libvirt_proto::uri::ConnectUri;
//!
//! let env = Environment { root: true, existing: vec!["/var/run/libvirt/virtqemud-sock".into()], ..Environment::default() };
//! let uri = ConnectUri::parse("qemu:///system").unwrap();
//! assert_eq!(unix_socket(&uri, false, &env).unwrap(), "/var/run/libvirt/virtqemud-sock");
//! ```

use crate::uri::{ConnectUri, Mode, Transport};

/// The parts of the environment the decision depends on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Environment {
    /// Whether the process runs as root.
    pub root: bool,
    /// `$XDG_RUNTIME_DIR` (unset when empty, as GLib reads it).
    pub runtime_dir: Option<String>,
    /// `$XDG_CACHE_HOME` (unset when empty), where session sockets are
    /// without a runtime directory.
    pub cache_home: Option<String>,
    /// `$HOME`.
    pub home: Option<String>,
    /// Paths that exist (only sockets are asked about).
    pub existing: Vec<String>,
    /// `libvirt.conf`'s `remote_mode`, for URIs without `mode=`.
    pub remote_mode: Option<Mode>,
}

impl Environment {
    /// The real environment, with [`Environment::existing`] filled in for
    /// the sockets this URI could use.
    pub fn current(uri: &ConnectUri) -> Environment {
        let mut env = Environment::variables();
        for read_only in [false, true] {
            for candidate in candidates(uri, read_only, &env) {
                if std::path::Path::new(&candidate).exists() {
                    env.existing.push(candidate);
                }
            }
        }
        env
    }

    /// The real environment, with [`Environment::existing`] filled in for
    /// what [`probe_socket`] looks at.
    pub fn probing(read_only: bool) -> Environment {
        let mut env = Environment::variables();
        env.existing = probe_candidates(read_only, &env)
            .into_iter()
            .flat_map(|(_, sockets)| sockets)
            .filter(|p| std::path::Path::new(p).exists())
            .collect();
        env
    }

    /// The uid and variables, nothing known to exist yet.
    fn variables() -> Environment {
        Environment {
            root: effective_uid_is_root(),
            runtime_dir: non_empty_var("XDG_RUNTIME_DIR"),
            cache_home: non_empty_var("XDG_CACHE_HOME"),
            home: std::env::var("HOME").ok(),
            existing: Vec::new(),
            remote_mode: None,
        }
    }

    fn exists(&self, path: &str) -> bool {
        self.existing.iter().any(|p| p == path)
    }
}

/// An environment variable, unless unset or empty.
fn non_empty_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Whether this process's effective uid is root.
#[cfg(feature = "client")]
pub(crate) fn effective_uid_is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Whether this process's effective uid is root, as `/proc` reports it
/// (without the client's `rustix`, and with no unsafe libc call).
#[cfg(not(feature = "client"))]
pub(crate) fn effective_uid_is_root() -> bool {
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
    /// A session connection without `XDG_RUNTIME_DIR`, `XDG_CACHE_HOME`
    /// or `HOME`.
    NoRuntimeDir,
    /// An admin URI whose scheme names no daemon (`libvirtd` or
    /// `virt...`, such as `virtqemud`).
    NotAnAdminScheme(String),
    /// An admin URI whose path is neither `/system` nor `/session`.
    NotAnAdminPath(String),
    /// No URI was given or configured, and no daemon's socket was found.
    NoDaemonFound,
    /// The direct mode (a modular daemon's socket) asked for over a
    /// transport that does not reach a local socket, without `socket=`.
    DirectNotLocal(Transport),
}

impl std::fmt::Display for SocketError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SocketError::NotUnix(t) => write!(f, "the {t:?} transport does not use a local socket"),
            SocketError::NoRuntimeDir => {
                f.write_str("none of XDG_RUNTIME_DIR, XDG_CACHE_HOME and HOME is set")
            }
            SocketError::NotAnAdminScheme(s) => write!(
                f,
                "`{s}` names no daemon for its admin socket (libvirtd, virtqemud, ...)"
            ),
            SocketError::NotAnAdminPath(p) => {
                write!(f, "admin URI path `{p}` is neither /system nor /session")
            }
            SocketError::DirectNotLocal(t) => {
                write!(f, "cannot use direct socket mode for the {t:?} transport")
            }
            SocketError::NoDaemonFound => f.write_str(
                "no URI was given or configured, and no daemon socket was found to probe",
            ),
        }
    }
}

impl std::error::Error for SocketError {}

/// Where a session's sockets are: libvirt's user runtime directory,
/// GLib's `g_get_user_runtime_dir` (falling back to the cache directory)
/// with `libvirt` added.
fn session_dir(env: &Environment) -> Option<String> {
    match (&env.runtime_dir, &env.cache_home, &env.home) {
        (Some(r), _, _) => Some(format!("{r}/libvirt")),
        (None, Some(c), _) => Some(format!("{c}/libvirt")),
        (None, None, Some(h)) => Some(format!("{h}/.cache/libvirt")),
        (None, None, None) => None,
    }
}

fn socket_dir_and_suffix(
    uri: &ConnectUri,
    read_only: bool,
    env: &Environment,
) -> Option<(String, &'static str)> {
    if uri.wants_session(env.root) {
        Some((session_dir(env)?, "sock"))
    } else {
        let suffix = if read_only { "sock-ro" } else { "sock" };
        Some(("/var/run/libvirt".to_owned(), suffix))
    }
}

/// The modular (direct) and legacy socket paths, in that order.
fn candidates(uri: &ConnectUri, read_only: bool, env: &Environment) -> Vec<String> {
    let Some((dir, suffix)) = socket_dir_and_suffix(uri, read_only, env) else {
        return Vec::new();
    };
    vec![
        format!("{dir}/virt{}d-{suffix}", uri.driver),
        format!("{dir}/libvirt-{suffix}"),
    ]
}

/// The socket of a connection to `uri` (`read_only` for `-ro` sockets).
pub fn unix_socket(
    uri: &ConnectUri,
    read_only: bool,
    env: &Environment,
) -> Result<String, SocketError> {
    if let Some(s) = explicit_socket(uri)? {
        return Ok(s);
    }
    let c = candidates(uri, read_only, env);
    let [direct, legacy] = c.as_slice() else {
        return Err(SocketError::NoRuntimeDir);
    };
    Ok(
        match uri.params.mode.or(env.remote_mode).unwrap_or_default() {
            Mode::Direct => direct.clone(),
            Mode::Legacy => legacy.clone(),
            Mode::Auto if env.exists(direct) => direct.clone(),
            Mode::Auto if env.exists(legacy) => legacy.clone(),
            Mode::Auto => direct.clone(),
        },
    )
}

/// Drivers whose daemon a system connection without a URI looks for, in
/// libvirt's order (that of the daemons' driver loading, as Debian builds
/// them).
const SYSTEM_PROBE: [&str; 4] = ["xen", "qemu", "lxc", "vbox"];
/// The same for a session connection.
const SESSION_PROBE: [&str; 2] = ["qemu", "vbox"];
/// Where a session probe looks for the daemons' programs.
const DAEMON_DIR: &str = "/usr/sbin";

/// Per probed driver, the paths that tell it is there (its socket; for a
/// session also its program, which libvirt would start), then the legacy
/// daemon's socket with an empty driver; `None` without a session folder.
fn probe_candidates(read_only: bool, env: &Environment) -> Vec<(&'static str, Vec<String>)> {
    let (dir, suffix, drivers) = if env.root {
        let suffix = if read_only { "sock-ro" } else { "sock" };
        ("/var/run/libvirt".to_owned(), suffix, &SYSTEM_PROBE[..])
    } else {
        match session_dir(env) {
            Some(dir) => (dir, "sock", &SESSION_PROBE[..]),
            None => return Vec::new(),
        }
    };
    let mut out: Vec<(&str, Vec<String>)> = drivers
        .iter()
        .map(|d| (*d, vec![format!("{dir}/virt{d}d-{suffix}")]))
        .collect();
    if !env.root {
        for (d, paths) in &mut out {
            paths.push(format!("{DAEMON_DIR}/virt{d}d"));
        }
    }
    out.push(("", vec![format!("{dir}/libvirt-{suffix}")]));
    out
}

/// The socket of a connection without a URI, as libvirt's remote driver
/// probes for one (`remoteGetUNIXSocket` without a driver): the socket
/// of the first modular daemon found running (for a session, also the
/// first installed), else libvirtd's when it is there. The daemon is then
/// asked to pick its driver.
pub fn probe_socket(read_only: bool, env: &Environment) -> Result<String, SocketError> {
    let candidates = probe_candidates(read_only, env);
    let Some((_, legacy)) = candidates.last() else {
        return Err(SocketError::NoRuntimeDir);
    };
    let legacy = &legacy[0];
    let by_socket = candidates
        .iter()
        .find(|(d, p)| !d.is_empty() && env.exists(&p[0]));
    let by_program = || {
        candidates
            .iter()
            .find(|(d, p)| !d.is_empty() && p.get(1).is_some_and(|p| env.exists(p)))
    };
    let guess = by_socket.or_else(by_program);
    match (env.remote_mode.unwrap_or_default(), guess) {
        (Mode::Legacy, _) => Ok(legacy.clone()),
        (Mode::Direct, Some((_, paths))) => Ok(paths[0].clone()),
        (Mode::Direct, None) => Err(SocketError::NoDaemonFound),
        (Mode::Auto, guess) => Ok(match guess {
            Some((_, paths)) if env.exists(&paths[0]) => paths[0].clone(),
            _ if env.exists(legacy) => legacy.clone(),
            // Installed, not running: the modular daemon's socket (libvirt
            // would start a session daemon there).
            Some((_, paths)) => paths[0].clone(),
            None => return Err(SocketError::NoDaemonFound),
        }),
    }
}

/// What every local socket lookup starts with: only the `unix` transport
/// has one, and a `socket=` parameter names it outright.
fn explicit_socket(uri: &ConnectUri) -> Result<Option<String>, SocketError> {
    if uri.transport != Transport::Unix {
        return Err(SocketError::NotUnix(uri.transport));
    }
    Ok(uri.params.socket.clone())
}

/// The admin socket of the daemon `uri` names (`libvirtd:///system`,
/// `virtqemud:///session`, or any with `socket=`), as `virt-admin` finds
/// it (`libvirt-admin.c`).
pub fn admin_socket(uri: &ConnectUri, env: &Environment) -> Result<String, SocketError> {
    if let Some(s) = explicit_socket(uri)? {
        return Ok(s);
    }
    let base = match uri.driver.as_str() {
        "libvirtd" => "libvirt-admin-sock".to_owned(),
        daemon if daemon.starts_with("virt") => format!("{daemon}-admin-sock"),
        other => return Err(SocketError::NotAnAdminScheme(other.to_owned())),
    };
    let dir = match uri.path.as_str() {
        "/system" => "/var/run/libvirt".to_owned(),
        "/session" => session_dir(env).ok_or(SocketError::NoRuntimeDir)?,
        other => return Err(SocketError::NotAnAdminPath(other.to_owned())),
    };
    Ok(format!("{dir}/{base}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(root: bool, existing: &[&str]) -> Environment {
        Environment {
            root,
            runtime_dir: Some("/run/user/1000".into()),
            cache_home: None,
            home: Some("/home/u".into()),
            existing: existing.iter().map(|s| (*s).to_owned()).collect(),
            remote_mode: None,
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
    fn probing_without_a_uri() {
        let probe = |e: &Environment, ro| probe_socket(ro, e);
        // System: the first modular daemon in libvirt's order.
        let both = env(
            true,
            &[
                "/var/run/libvirt/virtlxcd-sock",
                "/var/run/libvirt/virtqemud-sock",
                "/var/run/libvirt/virtqemud-sock-ro",
                "/var/run/libvirt/libvirt-sock",
            ],
        );
        assert_eq!(
            probe(&both, false).unwrap(),
            "/var/run/libvirt/virtqemud-sock"
        );
        assert_eq!(
            probe(&both, true).unwrap(),
            "/var/run/libvirt/virtqemud-sock-ro"
        );
        let legacy = env(true, &["/var/run/libvirt/libvirt-sock-ro"]);
        assert_eq!(
            probe(&legacy, true).unwrap(),
            "/var/run/libvirt/libvirt-sock-ro"
        );
        assert_eq!(probe(&legacy, false), Err(SocketError::NoDaemonFound));
        // A system probe does not look at installed programs.
        assert_eq!(
            probe(&env(true, &["/usr/sbin/virtqemud"]), false),
            Err(SocketError::NoDaemonFound)
        );
        // Session: sockets in the runtime folder, then installed daemons.
        let session = env(false, &["/run/user/1000/libvirt/virtvboxd-sock"]);
        assert_eq!(
            probe(&session, true).unwrap(),
            "/run/user/1000/libvirt/virtvboxd-sock"
        );
        let installed = env(
            false,
            &["/usr/sbin/virtqemud", "/run/user/1000/libvirt/libvirt-sock"],
        );
        assert_eq!(
            probe(&installed, false).unwrap(),
            "/run/user/1000/libvirt/libvirt-sock"
        );
        let installed = env(false, &["/usr/sbin/virtqemud"]);
        assert_eq!(
            probe(&installed, false).unwrap(),
            "/run/user/1000/libvirt/virtqemud-sock"
        );
        assert_eq!(
            probe(&env(false, &[]), false),
            Err(SocketError::NoDaemonFound)
        );
        let nowhere = Environment::default();
        assert_eq!(probe(&nowhere, false), Err(SocketError::NoRuntimeDir));
    }

    #[test]
    fn libvirt_conf_sets_the_mode_a_uri_leaves_out() {
        let both = Environment {
            remote_mode: Some(Mode::Legacy),
            ..env(
                true,
                &[
                    "/var/run/libvirt/virtqemud-sock",
                    "/var/run/libvirt/libvirt-sock",
                ],
            )
        };
        assert_eq!(
            sock("qemu:///system", false, &both),
            "/var/run/libvirt/libvirt-sock"
        );
        assert_eq!(
            sock("qemu:///system?mode=auto", false, &both),
            "/var/run/libvirt/virtqemud-sock"
        );
        assert_eq!(
            probe_socket(false, &both).unwrap(),
            "/var/run/libvirt/libvirt-sock"
        );
        let direct = Environment {
            remote_mode: Some(Mode::Direct),
            ..both.clone()
        };
        assert_eq!(
            probe_socket(false, &direct).unwrap(),
            "/var/run/libvirt/virtqemud-sock"
        );
        let nothing = Environment {
            remote_mode: Some(Mode::Direct),
            ..env(true, &["/var/run/libvirt/libvirt-sock"])
        };
        assert_eq!(
            probe_socket(false, &nothing),
            Err(SocketError::NoDaemonFound)
        );
        let legacy = Environment {
            remote_mode: Some(Mode::Legacy),
            ..env(true, &[])
        };
        assert_eq!(
            probe_socket(true, &legacy).unwrap(),
            "/var/run/libvirt/libvirt-sock-ro"
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
        // GLib's cache directory, when set, before HOME's.
        let e = Environment {
            runtime_dir: None,
            cache_home: Some("/c".into()),
            ..env(false, &["/c/libvirt/libvirt-sock"])
        };
        assert_eq!(
            sock("qemu:///session", false, &e),
            "/c/libvirt/libvirt-sock"
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
        // The daemon is the scheme, as virt-admin reads it, whichever
        // sockets exist.
        let e = env(true, &["/var/run/libvirt/libvirt-admin-sock"]);
        let admin = |uri: &str, e: &Environment| admin_socket(&ConnectUri::parse(uri).unwrap(), e);
        assert_eq!(
            admin("libvirtd:///system", &e).unwrap(),
            "/var/run/libvirt/libvirt-admin-sock"
        );
        assert_eq!(
            admin("virtqemud:///system", &e).unwrap(),
            "/var/run/libvirt/virtqemud-admin-sock"
        );
        let user = Environment {
            runtime_dir: Some("/run/user/1000".into()),
            ..Environment::default()
        };
        assert_eq!(
            admin("virtnetworkd:///session", &user).unwrap(),
            "/run/user/1000/libvirt/virtnetworkd-admin-sock"
        );
        assert_eq!(
            admin("libvirtd:///system?socket=/tmp/a", &e).unwrap(),
            "/tmp/a"
        );
        assert_eq!(
            admin("qemu:///system", &e),
            Err(SocketError::NotAnAdminScheme("qemu".into()))
        );
        assert_eq!(
            admin("libvirtd:///default", &e),
            Err(SocketError::NotAnAdminPath("/default".into()))
        );
        let tcp = ConnectUri::parse("qemu+tcp://h/system").unwrap();
        assert_eq!(
            unix_socket(&tcp, false, &e),
            Err(SocketError::NotUnix(Transport::Tcp))
        );
    }
}
