//! libvirt connection URIs:
//! `driver[+transport]://[user@][host][:port]/path[?param=value&...]`.
//!
//! [`ConnectUri::parse`] accepts libvirt's grammar (`test:///default`,
//! `qemu:///system`, `qemu+ssh://root@host/system?keyfile=/k`,
//! `qemu+tcp://[::1]:16509/system`, `lxc:///`), percent-decodes parameter
//! values, and rejects a parameter the remote driver does not know, naming
//! it. [`ConnectUri::remote_name`] is the URI the daemon is asked to open
//! (`CONNECT_OPEN`): transport, user, host and the client's own parameters
//! removed, as libvirt's remote driver does.
//!
//! ```
//! use libvirt_proto::uri::{ConnectUri, Transport};
//!
//! let u = ConnectUri::parse("qemu+ssh://root@host.example:2222/system?keyfile=/k").unwrap();
//! assert_eq!(u.driver, "qemu");
//! assert_eq!(u.transport, Transport::Ssh);
//! assert_eq!((u.user.as_deref(), u.host.as_deref(), u.port), (Some("root"), Some("host.example"), Some(2222)));
//! assert_eq!(u.params.keyfile.as_deref(), Some("/k"));
//! assert_eq!(u.remote_name(), "qemu:///system");
//! assert!(ConnectUri::parse("qemu:///system?frobnicate=1").is_err());
//! ```

use std::fmt;

/// How the client reaches the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// A local Unix socket (the default without a host).
    Unix,
    /// TLS over TCP (the default with a host).
    Tls,
    /// Plain TCP.
    Tcp,
    /// The system `ssh` command.
    Ssh,
    /// libssh2 (handled as `ssh` by this client).
    Libssh2,
    /// libssh (handled as `ssh` by this client).
    Libssh,
    /// A command given with `command=`, talking on its stdin / stdout.
    Ext,
}

/// `mode=`: which daemon a local connection uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Mode {
    /// The modular daemon if its socket exists, else libvirtd's.
    #[default]
    Auto,
    /// libvirtd's socket.
    Legacy,
    /// The modular daemon's socket (`virtqemud-sock`, ...).
    Direct,
}

/// `known_hosts_verify=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KnownHostsVerify {
    /// Refuse unknown hosts.
    Normal,
    /// Accept and remember unknown hosts.
    Auto,
    /// Do not check.
    Ignore,
}

/// `proxy=`: how ssh reaches the daemon on the far side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Proxy {
    /// `virt-ssh-helper` if present, else `nc`.
    Auto,
    /// `nc`.
    Netcat,
    /// `virt-ssh-helper`.
    Native,
}

/// The remote driver's URI parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    /// `name=`: the URI to open on the daemon side.
    pub name: Option<String>,
    /// `command=`: the program of the `ext` transport, or the ssh binary.
    pub command: Option<String>,
    /// `socket=`: the Unix socket path.
    pub socket: Option<String>,
    /// `netcat=`: the `nc` binary on the far side.
    pub netcat: Option<String>,
    /// `keyfile=`: the ssh key.
    pub keyfile: Option<String>,
    /// `no_verify=1`: do not verify the server's certificate.
    pub no_verify: bool,
    /// `no_tty=1`: do not let ssh ask for a password.
    pub no_tty: bool,
    /// `pkipath=`: the folder of the TLS certificates.
    pub pkipath: Option<String>,
    /// `known_hosts=`: the ssh known-hosts file.
    pub known_hosts: Option<String>,
    /// `known_hosts_verify=`.
    pub known_hosts_verify: Option<KnownHostsVerify>,
    /// `sshauth=`: ssh authentication methods, comma separated.
    pub sshauth: Option<String>,
    /// `mode=`.
    pub mode: Mode,
    /// `proxy=`.
    pub proxy: Option<Proxy>,
    /// `tls_priority=`: GnuTLS priority string (kept for compatibility).
    pub tls_priority: Option<String>,
    /// `auth=`: the authentication method to use (`sasl`, `polkit`,
    /// `none`, or `sasl.MECH` for one SASL mechanism).
    pub auth: Option<String>,
    /// `authfile=`: the `auth.conf` to read credentials from.
    pub authfile: Option<String>,
    /// `no_sanity=1`: skip ssh's sanity checks (kept for compatibility).
    pub no_sanity: bool,
}

/// A parsed connection URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectUri {
    /// The hypervisor driver: `qemu`, `test`, `lxc`, ...
    pub driver: String,
    /// The transport.
    pub transport: Transport,
    /// `user@`.
    pub user: Option<String>,
    /// The host (without brackets for IPv6).
    pub host: Option<String>,
    /// `:port`.
    pub port: Option<u16>,
    /// The path, e.g. `/system` (may be empty or `/`).
    pub path: String,
    /// The parameters.
    pub params: Params,
}

/// Why a URI is not usable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UriError {
    /// Not of the form `driver[+transport]://...`.
    Syntax(String),
    /// The transport after `+` is not known.
    UnknownTransport(String),
    /// A parameter the remote driver does not know.
    UnknownParameter(String),
    /// A parameter with a value it cannot take.
    BadValue {
        /// The parameter.
        name: String,
        /// Its value.
        value: String,
    },
}

impl fmt::Display for UriError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UriError::Syntax(m) => write!(f, "invalid libvirt URI: {m}"),
            UriError::UnknownTransport(t) => write!(f, "unknown transport `{t}`"),
            UriError::UnknownParameter(p) => write!(f, "unknown URI parameter `{p}`"),
            UriError::BadValue { name, value } => {
                write!(f, "invalid value `{value}` for URI parameter `{name}`")
            }
        }
    }
}

impl std::error::Error for UriError {}

fn percent_decode(s: &str) -> Result<String, UriError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = s
                    .get(i + 1..i + 3)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| UriError::Syntax(format!("bad percent escape in `{s}`")))?;
                out.push(hex);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| UriError::Syntax(format!("`{s}` is not UTF-8 once decoded")))
}

fn flag(name: &str, value: &str) -> Result<bool, UriError> {
    match value {
        "0" => Ok(false),
        "1" => Ok(true),
        _ => Err(UriError::BadValue {
            name: name.into(),
            value: value.into(),
        }),
    }
}

impl ConnectUri {
    /// Parses a URI.
    pub fn parse(uri: &str) -> Result<ConnectUri, UriError> {
        let (scheme, rest) = uri
            .split_once("://")
            .ok_or_else(|| UriError::Syntax(format!("`{uri}` has no `://`")))?;
        let (driver, transport) = match scheme.split_once('+') {
            Some((d, t)) => (d, Some(t)),
            None => (scheme, None),
        };
        if driver.is_empty()
            || !driver
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(UriError::Syntax(format!("`{scheme}` is not a driver name")));
        }
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q)),
            None => (rest, None),
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let (user, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(percent_decode(u)?), h),
            None => (None, authority),
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| UriError::Syntax(format!("unclosed `[` in `{uri}`")))?;
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p),
                None if after.is_empty() => None,
                None => return Err(UriError::Syntax(format!("junk after `]` in `{uri}`"))),
            };
            (Some(h.to_owned()), port)
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (Some(h.to_owned()).filter(|h| !h.is_empty()), Some(p)),
                None => (Some(hostport.to_owned()).filter(|h| !h.is_empty()), None),
            }
        };
        let port = port
            .map(|p| {
                p.parse::<u16>()
                    .map_err(|_| UriError::Syntax(format!("`{p}` is not a port")))
            })
            .transpose()?;
        let transport = match transport {
            None if host.is_some() => Transport::Tls,
            None => Transport::Unix,
            Some("unix") => Transport::Unix,
            Some("tls") => Transport::Tls,
            Some("tcp") => Transport::Tcp,
            Some("ssh") => Transport::Ssh,
            Some("libssh2") => Transport::Libssh2,
            Some("libssh") => Transport::Libssh,
            Some("ext") => Transport::Ext,
            Some(other) => return Err(UriError::UnknownTransport(other.into())),
        };
        let mut params = Params::default();
        for pair in query
            .into_iter()
            .flat_map(|q| q.split('&'))
            .filter(|p| !p.is_empty())
        {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let name = percent_decode(k)?;
            let value = percent_decode(v)?;
            let bad = || UriError::BadValue {
                name: name.clone(),
                value: value.clone(),
            };
            // libvirt compares parameter names without case.
            match name.to_ascii_lowercase().as_str() {
                "name" => params.name = Some(value),
                "auth" => params.auth = Some(value),
                "authfile" => params.authfile = Some(value),
                "no_sanity" => params.no_sanity = flag(&name, &value)?,
                "command" => params.command = Some(value),
                "socket" => params.socket = Some(value),
                "netcat" => params.netcat = Some(value),
                "keyfile" => params.keyfile = Some(value),
                "pkipath" => params.pkipath = Some(value),
                "known_hosts" => params.known_hosts = Some(value),
                "sshauth" => params.sshauth = Some(value),
                "tls_priority" => params.tls_priority = Some(value),
                "no_verify" => params.no_verify = flag(&name, &value)?,
                "no_tty" => params.no_tty = flag(&name, &value)?,
                "known_hosts_verify" => {
                    params.known_hosts_verify = Some(match value.as_str() {
                        "normal" => KnownHostsVerify::Normal,
                        "auto" => KnownHostsVerify::Auto,
                        "ignore" => KnownHostsVerify::Ignore,
                        _ => return Err(bad()),
                    })
                }
                "mode" => {
                    params.mode = match value.as_str() {
                        "auto" => Mode::Auto,
                        "legacy" => Mode::Legacy,
                        "direct" => Mode::Direct,
                        _ => return Err(bad()),
                    }
                }
                "proxy" => {
                    params.proxy = Some(match value.as_str() {
                        "auto" => Proxy::Auto,
                        "netcat" => Proxy::Netcat,
                        "native" => Proxy::Native,
                        _ => return Err(bad()),
                    })
                }
                _ => return Err(UriError::UnknownParameter(name)),
            }
        }
        if transport == Transport::Ext && params.command.is_none() {
            return Err(UriError::Syntax(
                "the ext transport needs `command=`".into(),
            ));
        }
        Ok(ConnectUri {
            driver: driver.to_owned(),
            transport,
            user,
            host,
            port,
            path: path.to_owned(),
            params,
        })
    }

    /// The URI the daemon is asked to open: `name=` if given, else the
    /// driver and path alone (`qemu:///system`).
    pub fn remote_name(&self) -> String {
        match &self.params.name {
            Some(n) => n.clone(),
            None => format!(
                "{}://{}",
                self.driver,
                if self.path.is_empty() {
                    "/"
                } else {
                    &self.path
                }
            ),
        }
    }

    /// Whether this asks for a per-user session daemon (`/session`, or the
    /// test driver with a transport, when not root), as libvirt decides.
    pub fn wants_session(&self, euid_is_root: bool) -> bool {
        !euid_is_root && (self.path == "/session" || self.driver == "test")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_local_uris() {
        for (s, driver, path) in [
            ("test:///default", "test", "/default"),
            ("qemu:///system", "qemu", "/system"),
            ("qemu:///session", "qemu", "/session"),
            ("lxc:///", "lxc", "/"),
        ] {
            let u = ConnectUri::parse(s).unwrap();
            assert_eq!((u.driver.as_str(), u.path.as_str()), (driver, path), "{s}");
            assert_eq!(u.transport, Transport::Unix);
            assert_eq!(u.host, None);
            assert_eq!(u.remote_name(), s);
        }
    }

    #[test]
    fn parses_remote_uris_with_ipv6_and_ports() {
        let u = ConnectUri::parse("qemu+tcp://[::1]:16509/system").unwrap();
        assert_eq!((u.host.as_deref(), u.port), (Some("::1"), Some(16509)));
        assert_eq!(u.transport, Transport::Tcp);
        let u =
            ConnectUri::parse("qemu://host.example/system?no_verify=1&pkipath=/etc/pki").unwrap();
        assert_eq!(
            u.transport,
            Transport::Tls,
            "a host without transport means TLS"
        );
        assert!(u.params.no_verify);
        assert_eq!(u.params.pkipath.as_deref(), Some("/etc/pki"));
        let u = ConnectUri::parse(
            "qemu+ssh://alice@[fe80::1]/system?known_hosts_verify=ignore&proxy=native",
        )
        .unwrap();
        assert_eq!(
            (u.user.as_deref(), u.host.as_deref(), u.port),
            (Some("alice"), Some("fe80::1"), None)
        );
        assert_eq!(u.params.known_hosts_verify, Some(KnownHostsVerify::Ignore));
        assert_eq!(u.params.proxy, Some(Proxy::Native));
    }

    #[test]
    fn decodes_values_and_honours_name() {
        let u =
            ConnectUri::parse("test+unix:///default?socket=/tmp/a%20b/sock&mode=direct").unwrap();
        assert_eq!(u.params.socket.as_deref(), Some("/tmp/a b/sock"));
        assert_eq!(u.params.mode, Mode::Direct);
        assert_eq!(u.remote_name(), "test:///default");
        let u = ConnectUri::parse("qemu+ssh://h/system?name=qemu%3A%2F%2F%2Fsession").unwrap();
        assert_eq!(u.remote_name(), "qemu:///session");
        let u = ConnectUri::parse("qemu+ext:///system?command=/usr/bin/helper").unwrap();
        assert_eq!(u.transport, Transport::Ext);
        // Names without case; the authentication parameters.
        let u = ConnectUri::parse(
            "qemu+tcp://h/system?No_Verify=1&auth=sasl.scram-sha-256&authfile=/a.conf&no_sanity=1",
        )
        .unwrap();
        assert!(u.params.no_verify && u.params.no_sanity);
        assert_eq!(u.params.auth.as_deref(), Some("sasl.scram-sha-256"));
        assert_eq!(u.params.authfile.as_deref(), Some("/a.conf"));
    }

    #[test]
    fn errors_name_what_is_wrong() {
        assert_eq!(
            ConnectUri::parse("qemu:///system?frobnicate=1"),
            Err(UriError::UnknownParameter("frobnicate".into()))
        );
        assert_eq!(
            ConnectUri::parse("qemu+carrier-pigeon:///system"),
            Err(UriError::UnknownTransport("carrier-pigeon".into()))
        );
        assert!(matches!(
            ConnectUri::parse("qemu:///system?mode=fast"),
            Err(UriError::BadValue { .. })
        ));
        assert!(matches!(
            ConnectUri::parse("qemu:///system?no_verify=yes"),
            Err(UriError::BadValue { .. })
        ));
        assert!(matches!(
            ConnectUri::parse("qemu+ext:///system"),
            Err(UriError::Syntax(_))
        ));
        assert!(matches!(
            ConnectUri::parse("qemu"),
            Err(UriError::Syntax(_))
        ));
        assert!(matches!(
            ConnectUri::parse("qemu+tcp://h:99999/"),
            Err(UriError::Syntax(_))
        ));
        assert!(matches!(
            ConnectUri::parse("qemu:///x?socket=%zz"),
            Err(UriError::Syntax(_))
        ));
    }

    #[test]
    fn session_is_chosen_like_libvirt() {
        let u = ConnectUri::parse("qemu:///session").unwrap();
        assert!(u.wants_session(false));
        assert!(!u.wants_session(true));
        assert!(!ConnectUri::parse("qemu:///system")
            .unwrap()
            .wants_session(false));
    }
}
