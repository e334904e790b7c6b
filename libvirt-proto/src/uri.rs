//! libvirt connection URIs:
//! `driver[+transport]://[user@][host][:port]/path[?param=value&...]`.
//!
//! [`ConnectUri::parse`] accepts libvirt's grammar (`test:///default`,
//! `qemu:///system`, `qemu+ssh://root@host/system?keyfile=/k`,
//! `qemu+tcp://[::1]:16509/system`, `lxc:///`) and percent-decodes
//! parameter values; the parameters the remote driver does not take are a
//! driver's own, kept for the daemon. [`ConnectUri::remote_name`] is the
//! URI the daemon is asked to open (`CONNECT_OPEN`): transport, user, host
//! and the client's own parameters removed, as libvirt's remote driver
//! does.
//!
//! For the ssh transports (`ssh`, `libssh2`, `libssh`) the user, host,
//! `keyfile=` and `known_hosts=` become arguments of the `ssh` command, so
//! [`ConnectUri::check_ssh_args`] (run by `parse`, and again before
//! `ssh` is run) refuses values that could be taken as an option or
//! reach a shell: a user outside `A-Za-z0-9._-+@`, a host that is not a
//! DNS name, IPv4 address or IPv6 literal, anything starting with `-`,
//! blanks, control characters. The error, [`UriError::Unsafe`], names the
//! field and the reason, never the value.
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
//! // A driver's own parameter goes on to the daemon.
//! let u = ConnectUri::parse("qemu+ssh://host/system?keyfile=/k&root=/x%20y").unwrap();
//! assert_eq!(u.remote_name(), "qemu:///system?root=%2Fx%20y");
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

impl Mode {
    /// The mode a `mode=` value (or `remote_mode` setting) names.
    pub fn from_name(name: &str) -> Option<Mode> {
        Some(match name {
            "auto" => Mode::Auto,
            "legacy" => Mode::Legacy,
            "direct" => Mode::Direct,
            _ => return None,
        })
    }

    /// Its name in a URI.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Auto => "auto",
            Mode::Legacy => "legacy",
            Mode::Direct => "direct",
        }
    }
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

impl Proxy {
    /// The proxy a `proxy=` value (or `remote_proxy` setting) names.
    pub fn from_name(name: &str) -> Option<Proxy> {
        Some(match name {
            "auto" => Proxy::Auto,
            "netcat" => Proxy::Netcat,
            "native" => Proxy::Native,
            _ => return None,
        })
    }
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
    /// `mode=` (the client falls back on `libvirt.conf`'s `remote_mode`,
    /// then [`Mode::Auto`]).
    pub mode: Option<Mode>,
    /// `proxy=` (the client falls back on `libvirt.conf`'s `remote_proxy`,
    /// then [`ConnectUri::ssh_proxy`]'s choice).
    pub proxy: Option<Proxy>,
    /// `tls_priority=`: a GnuTLS priority string, read as GnuTLS 3.7 reads
    /// it (a level such as `NORMAL` or `SECURE256`, then `+KEYWORD`,
    /// `-KEYWORD`, `%FLAG`; a keyword GnuTLS refuses is an error) and
    /// applied by the TLS transport to what it speaks: protocol versions
    /// (`VERS-TLS1.2`, `VERS-TLS1.3`, `VERS-ALL`), ciphers (`AES-128-GCM`,
    /// `AES-256-GCM`, `CHACHA20-POLY1305`, `CIPHER-ALL`, with the `AEAD`
    /// MAC), TLS 1.2 key exchanges (`ECDHE-RSA`, `ECDHE-ECDSA`, `KX-ALL`),
    /// groups (`GROUP-X25519`, `GROUP-SECP256R1`, `GROUP-SECP384R1`,
    /// `GROUP-ALL`) and the handshake signatures (`SIGN-*`: the server's
    /// and the client certificate's).
    /// Keywords for what rustls lacks (TLS 1.1, CBC ciphers, FFDHE
    /// groups, flags) change nothing.
    pub tls_priority: Option<String>,
    /// `auth=`: the authentication method to use (`sasl`, `polkit`, or
    /// `sasl.MECH` for one SASL mechanism; as with libvirt, `none` is
    /// not among them).
    pub auth: Option<String>,
    /// `authfile=`: the `auth.conf` to read credentials from.
    pub authfile: Option<String>,
    /// `no_sanity=1`: skip libvirt's sanity check of the `tls` transport's
    /// files before connecting (each CA certificate in date, a CA, allowed
    /// to sign; the client certificate the CA's, in date, for a TLS
    /// client). The server's certificate is verified all the same.
    pub no_sanity: bool,
    /// Every parameter as the URI gives it, in order, name and value
    /// decoded: those the remote driver does not take (a driver's own)
    /// are passed on to the daemon in
    /// [`remote_name`](ConnectUri::remote_name), as libvirt passes them.
    pub query: Vec<(String, String)>,
}

/// The parameters libvirt's remote driver takes itself (compared
/// without case), which it does not pass on to the daemon.
const REMOTE_DRIVER_PARAMS: [&str; 17] = [
    "name",
    "command",
    "socket",
    "auth",
    "sshauth",
    "netcat",
    "keyfile",
    "pkipath",
    "known_hosts",
    "known_hosts_verify",
    "tls_priority",
    "mode",
    "proxy",
    "no_sanity",
    "no_verify",
    "no_tty",
    "authfile",
];

/// Whether the remote driver takes parameter `name` itself.
fn remote_driver_takes(name: &str) -> bool {
    REMOTE_DRIVER_PARAMS
        .iter()
        .any(|p| p.eq_ignore_ascii_case(name))
}

impl Params {
    /// The parameters the remote driver does not take, a driver's own,
    /// which go on to the daemon (a misspelt parameter of the remote
    /// driver among them, as with libvirt).
    pub fn passed_on(&self) -> impl Iterator<Item = &(String, String)> {
        self.passed_on_unmasking(false)
    }

    /// [`Params::passed_on`]; with `unmask`, `mode=` and `socket=` too,
    /// where they are (for `virt-ssh-helper`).
    fn passed_on_unmasking(&self, unmask: bool) -> impl Iterator<Item = &(String, String)> {
        let helpers = |k: &str| k.eq_ignore_ascii_case("mode") || k.eq_ignore_ascii_case("socket");
        self.query
            .iter()
            .filter(move |(k, _)| !remote_driver_takes(k) || (unmask && helpers(k)))
    }
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
    /// The path, e.g. `/system` (may be empty or `/`), percent-decoded.
    pub path: String,
    /// The parameters.
    pub params: Params,
    /// `#fragment`, percent-decoded: no driver uses one, but libvirt
    /// passes it on to the daemon, and so does
    /// [`remote_name`](ConnectUri::remote_name).
    pub fragment: Option<String>,
}

/// Why a URI is not usable.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UriError {
    /// Not of the form `driver[+transport]://...`; what is wrong.
    Syntax(String),
    /// The transport after `+` is not known.
    UnknownTransport(String),
    /// `+unix` with a host: a local socket cannot reach it (libvirt
    /// refuses this too).
    UnixWithHost(String),
    /// A parameter with a value it cannot take.
    BadValue {
        /// The parameter.
        name: String,
        /// Its value.
        value: String,
    },
    /// A value that becomes an argument of `ssh` and could change its
    /// meaning (see [`ConnectUri::check_ssh_args`]). The value itself is
    /// not kept: it may hold control characters meant for a terminal.
    Unsafe {
        /// `user`, `host`, `keyfile` or `known_hosts`.
        field: &'static str,
        /// What is wrong with it.
        reason: UnsafeReason,
    },
}

impl fmt::Display for UriError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UriError::Syntax(m) => write!(f, "invalid libvirt URI: {m}"),
            UriError::UnknownTransport(t) => write!(f, "unknown transport `{t}`"),
            UriError::UnixWithHost(h) => {
                write!(f, "a unix socket cannot reach the remote host `{h}`")
            }
            UriError::BadValue { name, value } => {
                write!(f, "invalid value `{value}` for URI parameter `{name}`")
            }
            UriError::Unsafe { field, reason } => {
                write!(f, "refusing ssh {field} that {reason}")
            }
        }
    }
}

impl std::error::Error for UriError {}

/// Why [`UriError::Unsafe`] refused a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UnsafeReason {
    /// Empty (`qemu+ssh://@host/`, `qemu+ssh://[]/`).
    Empty,
    /// Starts with `-`: `ssh` would read it as an option.
    LeadingDash,
    /// Holds a blank (space, tab, newline, ...).
    Whitespace,
    /// Holds a control character.
    ControlCharacter,
    /// Holds a character outside the allowed set (shell or ssh meta
    /// characters such as `;`, `$`, `'`, non-ASCII letters).
    Character(char),
    /// A host with `:`, `%` or brackets that is not an IPv6 literal.
    NotAnAddress,
}

impl fmt::Display for UnsafeReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnsafeReason::Empty => f.write_str("is empty"),
            UnsafeReason::LeadingDash => f.write_str("starts with `-`"),
            UnsafeReason::Whitespace => f.write_str("contains whitespace"),
            UnsafeReason::ControlCharacter => f.write_str("contains a control character"),
            // escape_default: printable ASCII as is, anything else as
            // `\u{..}`, so the message cannot carry terminal controls.
            UnsafeReason::Character(c) => write!(f, "contains `{}`", c.escape_default()),
            UnsafeReason::NotAnAddress => f.write_str("is not a host name or IP address"),
        }
    }
}

/// What libxml2 leaves as it is in a path (`xmlSaveUri`): RFC 2396's
/// unreserved characters and `/;@&=+$,`.
const PATH_KEEP: &[u8] = b"-_.!~*'()/;@&=+$,";

/// What libxml2 leaves as it is in a fragment: RFC 2396's unreserved and
/// reserved characters.
const FRAGMENT_KEEP: &[u8] = b"-_.!~*'();/?:@&=+$,[]";

/// `s` with every byte but ASCII letters, digits and `keep` as `%XX`.
fn escape(s: &str, keep: &[u8]) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || keep.contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Escapes all but unreserved characters as `%XX`, for a value in a query
/// that [`percent_decode`] gives back: what libvirt writes
/// (`virURIFormatParams`, through GLib's `g_string_append_uri_escaped`).
fn percent_encode(s: &str) -> String {
    escape(s, b"-._~")
}

/// The `name=value` sections of a query, split as libvirt's
/// `virURIParseParams` splits them: at `&`, or at `;` once no `&` is left,
/// leaving out empty sections and those with no name (`=value`).
fn query_sections(query: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(query);
    std::iter::from_fn(move || loop {
        let r = rest?;
        let end = r.find('&').or_else(|| r.find(';'));
        let (section, tail) = match end {
            Some(i) => (&r[..i], Some(&r[i + 1..])),
            None => (r, None),
        };
        rest = tail;
        if !section.is_empty() && !section.starts_with('=') {
            return Some(section);
        }
    })
}

/// Decodes `%XX` escapes, and nothing else: `+` is itself, in the query
/// too, as libxml2's `xmlURIUnescapeString` (which libvirt uses) leaves it.
fn percent_decode(s: &str) -> Result<String, UriError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                // Two hex digits: from_str_radix alone would take `+1`.
                let hex = s
                    .get(i + 1..i + 3)
                    .filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()))
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| UriError::Syntax(format!("bad percent escape in `{s}`")))?;
                out.push(hex);
                i += 3;
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

impl Transport {
    /// Whether the transport runs the system `ssh` (`ssh`, `libssh2`,
    /// `libssh`).
    pub fn runs_ssh(self) -> bool {
        matches!(
            self,
            Transport::Ssh | Transport::Libssh2 | Transport::Libssh
        )
    }
}

/// The checks every ssh argument shares: not empty, no leading `-` (ssh
/// would take it as an option), then each character, blanks and control
/// characters named as such, anything else outside `allowed` by itself.
fn check_chars(s: &str, allowed: impl Fn(char) -> bool) -> Result<(), UnsafeReason> {
    if s.is_empty() {
        return Err(UnsafeReason::Empty);
    }
    if s.starts_with('-') {
        return Err(UnsafeReason::LeadingDash);
    }
    for c in s.chars() {
        if c.is_whitespace() {
            return Err(UnsafeReason::Whitespace);
        }
        if c.is_control() {
            return Err(UnsafeReason::ControlCharacter);
        }
        if !allowed(c) {
            return Err(UnsafeReason::Character(c));
        }
    }
    Ok(())
}

// An allow-list rather than a list of meta characters: whatever ssh or a
// far-side shell (`%r` in a ProxyCommand, `Match exec`) might make of a
// character, these have no meaning to either.
fn check_ssh_user(user: &str) -> Result<(), UnsafeReason> {
    check_chars(user, |c| {
        c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+' | '@')
    })
}

fn check_ssh_host(host: &str) -> Result<(), UnsafeReason> {
    // `%` is allowed only as an IPv6 zone (`fe80::1%eth0`), needed to
    // reach a link-local address. It is safe: the host is one argv
    // element after `--`, ssh does not expand `%` tokens inside it, and
    // a `%` substituted into a ProxyCommand (`%h`) means nothing to the
    // shell; the zone itself is held to the DNS characters.
    check_chars(host, |c| {
        c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '%' | '[' | ']')
    })?;
    if !host.contains([':', '%', '[', ']']) {
        return Ok(());
    }
    let inner = match host.strip_prefix('[') {
        Some(h) => h.strip_suffix(']').ok_or(UnsafeReason::NotAnAddress)?,
        None => host,
    };
    let (addr, zone) = match inner.split_once('%') {
        Some((a, z)) => (a, Some(z)),
        None => (inner, None),
    };
    let zone_ok = match zone {
        None => true,
        Some(z) => {
            !z.is_empty()
                && z.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        }
    };
    if addr.parse::<std::net::Ipv6Addr>().is_ok() && zone_ok {
        Ok(())
    } else {
        Err(UnsafeReason::NotAnAddress)
    }
}

// Paths may hold almost any printable character (they are never seen by
// a shell); a leading `-` or control characters are still refused as
// they are never meant, and so is what ssh itself would rewrite
// (`in_option`: the path is the value of an `-o` option).
fn check_ssh_path(path: &str, in_option: bool) -> Result<(), UnsafeReason> {
    check_never_an_option(path)?;
    // ssh expands `${VAR}` in both paths (its `%` tokens are escaped when
    // the command is built), and reads quotes and backslashes in an `-o`
    // value: such a path would not name the file it says.
    if path.contains("${") {
        return Err(UnsafeReason::Character('$'));
    }
    if in_option {
        if let Some(c) = path.chars().find(|&c| matches!(c, '"' | '\\')) {
            return Err(UnsafeReason::Character(c));
        }
    }
    Ok(())
}

/// What every path or word handed to ssh or the far side's command
/// must be (any printable character is itself there): not empty, not an
/// option, no control characters.
fn check_never_an_option(word: &str) -> Result<(), UnsafeReason> {
    if word.is_empty() {
        return Err(UnsafeReason::Empty);
    }
    if word.starts_with('-') {
        return Err(UnsafeReason::LeadingDash);
    }
    if word.chars().any(char::is_control) {
        return Err(UnsafeReason::ControlCharacter);
    }
    Ok(())
}

impl ConnectUri {
    /// Parses a URI.
    pub fn parse(uri: &str) -> Result<ConnectUri, UriError> {
        // A fragment is no part of the path or query, as libxml2's
        // parser (libvirt's) sets it apart; libvirt uses none but passes
        // it on.
        let (uri, fragment) = match uri.split_once('#') {
            Some((uri, f)) => (uri, Some(percent_decode(f)?)),
            None => (uri, None),
        };
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
            Some("unix") => match &host {
                Some(h) => return Err(UriError::UnixWithHost(h.clone())),
                None => Transport::Unix,
            },
            Some("tls") => Transport::Tls,
            Some("tcp") => Transport::Tcp,
            Some("ssh") => Transport::Ssh,
            Some("libssh2") => Transport::Libssh2,
            Some("libssh") => Transport::Libssh,
            Some("ext") => Transport::Ext,
            Some(other) => return Err(UriError::UnknownTransport(other.into())),
        };
        let mut params = Params::default();
        for pair in query.into_iter().flat_map(query_sections) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let name = percent_decode(k)?;
            let value = percent_decode(v)?;
            params.query.push((name.clone(), value.clone()));
            let bad = || UriError::BadValue {
                name: name.clone(),
                value: value.clone(),
            };
            // libvirt compares parameter names without case.
            match name.to_ascii_lowercase().as_str() {
                "name" => params.name = Some(value),
                "auth" => params.auth = Some(value),
                // Accepted in any case, but libvirt's auth.conf lookup
                // (`virAuthGetConfigFilePathURI`) takes only the first
                // `authfile`, spelled so.
                "authfile" if name == "authfile" && params.authfile.is_none() => {
                    params.authfile = Some(value);
                }
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
                    params.mode = Some(Mode::from_name(&value).ok_or_else(bad)?);
                }
                "proxy" => {
                    params.proxy = Some(Proxy::from_name(&value).ok_or_else(bad)?);
                }
                // A driver's own, for the daemon (libvirt's remote driver
                // passes on what it does not take): in `query`.
                _ => {}
            }
        }
        if transport == Transport::Ext && params.command.is_none() {
            return Err(UriError::Syntax(
                "the ext transport needs `command=`".into(),
            ));
        }
        let uri = ConnectUri {
            driver: driver.to_owned(),
            transport,
            user,
            host,
            port,
            // As libxml2 reads it (libvirt's parser).
            path: percent_decode(path)?,
            params,
            fragment,
        };
        // Refused here already so the caller learns early; the transport
        // checks again since the fields are public and may have changed.
        if uri.transport.runs_ssh() {
            uri.check_ssh_args()?;
        }
        Ok(uri)
    }

    /// Checks the values that become arguments of the `ssh` command: the
    /// user (`-l`), the host (after `--`), `keyfile=` (`-i`) and
    /// `known_hosts=` (`-o UserKnownHostsFile=`).
    ///
    /// - The user, when given: ASCII letters, digits and `.`, `_`, `-`,
    ///   `+`, `@` (POSIX portable user names, plus `+` and `@` for
    ///   directory-service names such as `alice@corp.example`), not
    ///   starting with `-`.
    /// - The host, when given: a DNS name or IPv4 address (ASCII letters,
    ///   digits, `.`, `-`, `_`), or an IPv6 literal, bracketed or not,
    ///   optionally with a `%zone` of letters, digits, `.`, `-`, `_`; not
    ///   starting with `-`.
    /// - `keyfile=` and `known_hosts=`: not empty, not starting with `-`,
    ///   no control characters, no `${` (ssh would expand it), and for
    ///   `known_hosts=` no `"` or `\` (ssh reads them in an option's
    ///   value, which is passed quoted); any other path is allowed,
    ///   blanks, `'` and `%` included.
    /// - `socket=` and `netcat=`, which become words of the far side's
    ///   command (quoted for its shell): not empty, not starting with `-`
    ///   (`nc` would take it as an option), no control characters.
    pub fn check_ssh_args(&self) -> Result<(), UriError> {
        let refuse = |field| move |reason| UriError::Unsafe { field, reason };
        if let Some(user) = &self.user {
            check_ssh_user(user).map_err(refuse("user"))?;
        }
        if let Some(host) = &self.host {
            check_ssh_host(host).map_err(refuse("host"))?;
        }
        if let Some(key) = &self.params.keyfile {
            check_ssh_path(key, false).map_err(refuse("keyfile"))?;
        }
        if let Some(kh) = &self.params.known_hosts {
            check_ssh_path(kh, true).map_err(refuse("known_hosts"))?;
        }
        if let Some(socket) = &self.params.socket {
            check_never_an_option(socket).map_err(refuse("socket"))?;
        }
        if let Some(netcat) = &self.params.netcat {
            check_never_an_option(netcat).map_err(refuse("netcat"))?;
        }
        Ok(())
    }

    /// The URI the daemon is asked to open: `name=` if given, else the
    /// driver and path (`qemu:///system`) with the parameters the remote
    /// driver does not take and the fragment, written as libvirt's remote
    /// driver writes them (`remoteConnectFormatURI`: the path and fragment
    /// escaped as libxml2 escapes them, parameter names as they are and
    /// values escaped as GLib escapes them); for the `remote` driver
    /// (`remote:///`, `remote+ssh://host/`) none, the empty name with
    /// which the daemon picks its driver itself.
    pub fn remote_name(&self) -> String {
        self.format_name(false)
    }

    /// [`remote_name`](Self::remote_name); with `unmask`, `mode=` and
    /// `socket=` stay among the parameters where they are.
    fn format_name(&self, unmask: bool) -> String {
        match &self.params.name {
            Some(n) => return n.clone(),
            None if self.driver == "remote" => return String::new(),
            None => {}
        }
        // No host, so libxml2 writes `//` and then the path, if any.
        let mut name = format!("{}://{}", self.driver, escape(&self.path, PATH_KEEP));
        let passed = self.params.passed_on_unmasking(unmask);
        for (i, (k, v)) in passed.enumerate() {
            name.push(if i == 0 { '?' } else { '&' });
            name.push_str(k);
            name.push('=');
            name.push_str(&percent_encode(v));
        }
        if let Some(f) = &self.fragment {
            name.push('#');
            name.push_str(&escape(f, FRAGMENT_KEEP));
        }
        name
    }

    /// A connection without a URI: the `remote` driver on the local
    /// socket `socket` (see [`crate::socket::probe_socket`]), asking the
    /// daemon to pick its driver.
    pub fn probing(socket: String) -> ConnectUri {
        ConnectUri {
            driver: "remote".to_owned(),
            transport: Transport::Unix,
            user: None,
            host: None,
            port: None,
            path: String::new(),
            params: Params {
                socket: Some(socket),
                ..Params::default()
            },
            fragment: None,
        }
    }

    /// The far side's proxy of an ssh URI, as libvirt picks it: `proxy=`
    /// when given, else `configured` (`libvirt.conf`'s `remote_proxy`);
    /// else `nc` for an explicit `socket=` (the helper takes
    /// none), the helper alone for a `session` (see
    /// [`wants_session`](Self::wants_session): only the far side knows
    /// where its session socket is), and otherwise the helper where it
    /// exists, `nc` where not. `netcat=` with that last choice means `nc`.
    pub fn ssh_proxy(&self, session: bool, configured: Option<Proxy>) -> Proxy {
        let p = &self.params;
        let proxy = p.proxy.or(configured).unwrap_or(if p.socket.is_some() {
            Proxy::Netcat
        } else if session {
            Proxy::Native
        } else {
            Proxy::Auto
        });
        if proxy == Proxy::Auto && p.netcat.is_some() {
            Proxy::Netcat
        } else {
            proxy
        }
    }

    /// The URI `virt-ssh-helper` opens on the far side: the
    /// [`remote_name`](Self::remote_name) with `mode=` and `socket=` kept
    /// where the URI has them, for the helper to find the daemon's
    /// socket, as libvirt passes them.
    pub fn helper_uri(&self) -> String {
        self.format_name(true)
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
    fn a_percent_escape_is_two_hex_digits() {
        for bad in ["%+1x", "%-1", "% 1", "%1", "%g0"] {
            let uri = format!("qemu+ssh://h/system?socket={bad}");
            assert!(
                matches!(ConnectUri::parse(&uri), Err(UriError::Syntax(_))),
                "{bad}"
            );
        }
        let u = ConnectUri::parse("qemu+ssh://h/system?socket=%2Fa%2f").unwrap();
        assert_eq!(u.params.socket.as_deref(), Some("/a/"));
    }

    #[test]
    fn query_sections_split_as_libvirt_splits_them() {
        let split = |q| query_sections(q).collect::<Vec<_>>();
        assert_eq!(split("a=1&b=2"), ["a=1", "b=2"]);
        // `;` separates only once no `&` is left.
        assert_eq!(split("a=1;b=2"), ["a=1", "b=2"]);
        assert_eq!(split("a=1&b=2;c=3"), ["a=1", "b=2", "c=3"]);
        assert_eq!(split("a=1;b=2&c=3"), ["a=1;b=2", "c=3"]);
        // Empty sections and nameless values are left out.
        assert_eq!(split("&&a&=x;;b="), ["a", "b="]);
        assert!(split("").is_empty());
        let u = ConnectUri::parse("qemu+ssh://h/system?mode=direct;no_tty=1").unwrap();
        assert_eq!((u.params.mode, u.params.no_tty), (Some(Mode::Direct), true));
        let u = ConnectUri::parse("qemu+ssh://h/system?socket=/a;b&mode=legacy").unwrap();
        assert_eq!(u.params.socket.as_deref(), Some("/a;b"));
    }

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
        assert_eq!(u.params.mode, Some(Mode::Direct));
        assert_eq!(u.remote_name(), "test:///default");
        // A local socket reaches no host.
        assert_eq!(
            ConnectUri::parse("qemu+unix://h/system").unwrap_err(),
            UriError::UnixWithHost("h".into())
        );
        // `+` is itself, as libvirt reads it (libxml2 decodes `%XX` only).
        let u = ConnectUri::parse("qemu+ssh://h/system?keyfile=/k/id+prod&name=lxc%2Bunix:///")
            .unwrap();
        assert_eq!(u.params.keyfile.as_deref(), Some("/k/id+prod"));
        assert_eq!(u.remote_name(), "lxc+unix:///");
        let u = ConnectUri::parse("qemu+ssh://h/system?name=qemu%3A%2F%2F%2Fsession").unwrap();
        assert_eq!(u.remote_name(), "qemu:///session");
        // The remote driver lets the daemon pick, as libvirt's does.
        for uri in [
            "remote:///",
            "remote+ssh://h/system?mode=direct",
            "remote+tcp://h/",
        ] {
            let u = ConnectUri::parse(uri).unwrap();
            assert_eq!(
                (u.remote_name(), u.helper_uri()),
                (String::new(), String::new()),
                "{uri}"
            );
        }
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
        // The auth.conf is libvirt's: the first `authfile`, spelled so.
        let first = ConnectUri::parse("qemu+tcp://h/system?authfile=/a&authfile=/b").unwrap();
        assert_eq!(first.params.authfile.as_deref(), Some("/a"));
        let cased = ConnectUri::parse("qemu+tcp://h/system?AuthFile=/x.conf").unwrap();
        assert_eq!(cased.params.authfile, None);
        // A fragment is not the query's, nor the path's.
        let u = ConnectUri::parse("qemu:///system?socket=/run/a#b").unwrap();
        assert_eq!(u.params.socket.as_deref(), Some("/run/a"));
        assert_eq!(
            ConnectUri::parse("qemu:///system#x").unwrap().path,
            "/system"
        );
    }

    #[test]
    fn a_drivers_own_parameters_and_the_fragment_go_to_the_daemon() {
        // As libvirt's remote driver: what it does not take, in order,
        // the name as written and the value escaped; then the fragment.
        let u = ConnectUri::parse(
            "qemu+ssh://h/system?keyfile=/k&Frob=1&mode=direct&x=a%2Fb%20c&socket=/s#frag",
        )
        .unwrap();
        assert_eq!(u.params.query.len(), 5);
        assert_eq!(u.params.query[1], ("Frob".into(), "1".into()));
        assert_eq!(u.fragment.as_deref(), Some("frag"));
        assert_eq!(u.remote_name(), "qemu:///system?Frob=1&x=a%2Fb%20c#frag");
        // The helper's URI keeps `mode` and `socket` too, where they are.
        assert_eq!(
            u.helper_uri(),
            "qemu:///system?Frob=1&mode=direct&x=a%2Fb%20c&socket=%2Fs#frag"
        );
        // Path and fragment decoded, written as libxml2 writes them; no
        // path, no `/`.
        let u = ConnectUri::parse("qemu+ssh://h/sys%74em:x?a&b=#%41%2F%20%c3%a9").unwrap();
        assert_eq!(u.path, "/system:x");
        assert_eq!(u.fragment.as_deref(), Some("A/ é"));
        assert_eq!(u.remote_name(), "qemu:///system%3Ax?a=&b=#A/%20%C3%A9");
        assert_eq!(
            ConnectUri::parse("qemu+ssh://h").unwrap().remote_name(),
            "qemu://"
        );
        assert_eq!(
            ConnectUri::parse("qemu+ssh://h?x=1#f")
                .unwrap()
                .remote_name(),
            "qemu://?x=1#f"
        );
        assert!(ConnectUri::parse("qemu:///system#%zz").is_err());
        // `name=` is the name whatever else there is; the remote driver
        // lets the daemon pick.
        let u = ConnectUri::parse("qemu:///system?frob=1&name=test:///default#f").unwrap();
        assert_eq!(u.remote_name(), "test:///default");
        let u = ConnectUri::parse("remote:///?frob=1").unwrap();
        assert_eq!(u.remote_name(), "");
    }

    #[test]
    fn errors_name_what_is_wrong() {
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

    /// The `(field, reason)` `parse` refuses `uri` for.
    fn refused(uri: &str) -> (&'static str, UnsafeReason) {
        match ConnectUri::parse(uri) {
            Err(UriError::Unsafe { field, reason }) => (field, reason),
            other => panic!("{uri:?}: {other:?}"),
        }
    }

    /// What `check_ssh_args` says of an ssh URI whose host is set to
    /// `host` after parsing (most meta characters cannot be written in
    /// the host part of a URI at all).
    fn host_check(host: &str) -> Result<(), UriError> {
        let mut u = ConnectUri::parse("qemu+ssh://h/system").unwrap();
        u.host = Some(host.into());
        u.check_ssh_args()
    }

    const META: &str = ";&|$`'\"\\<>(){}*?!#~[]=,^/:%";

    #[test]
    fn far_side_words_are_never_options() {
        for (uri, field, reason) in [
            (
                "qemu+ssh://h/system?socket=-e/bin/sh",
                "socket",
                UnsafeReason::LeadingDash,
            ),
            (
                "qemu+ssh://h/system?netcat=-c",
                "netcat",
                UnsafeReason::LeadingDash,
            ),
            (
                "qemu+ssh://h/system?socket=/a%0Ab",
                "socket",
                UnsafeReason::ControlCharacter,
            ),
            ("qemu+ssh://h/system?netcat=", "netcat", UnsafeReason::Empty),
        ] {
            assert_eq!(refused(uri), (field, reason), "{uri}");
        }
        // Printable paths with blanks and quotes pass: they are quoted.
        let u = ConnectUri::parse("qemu+ssh://h/system?socket=/run/my%20dir/it's").unwrap();
        assert_eq!(u.params.socket.as_deref(), Some("/run/my dir/it's"));
        // Local transports never hand them to a shell.
        assert!(ConnectUri::parse("qemu:///system?socket=-odd").is_ok());
    }

    #[test]
    fn ordinary_ssh_users_and_hosts_pass() {
        for (uri, user, host) in [
            ("qemu+ssh://root@h/system", Some("root"), "h"),
            ("qemu+ssh://user.name@h/system", Some("user.name"), "h"),
            ("qemu+ssh://svc_1-a@h/system", Some("svc_1-a"), "h"),
            (
                "qemu+ssh://alice%40corp.example@h/system",
                Some("alice@corp.example"),
                "h",
            ),
            // `+` in the user part is itself, not a blank.
            ("qemu+ssh://a+b@h/system", Some("a+b"), "h"),
            (
                "qemu+ssh://host-1.example.com/system",
                None,
                "host-1.example.com",
            ),
            (
                "qemu+ssh://host.example.com./system",
                None,
                "host.example.com.",
            ),
            ("qemu+ssh://my_alias/system", None, "my_alias"),
            ("qemu+ssh://192.0.2.1:22/system", None, "192.0.2.1"),
            ("qemu+ssh://[2001:db8::1]/system", None, "2001:db8::1"),
            (
                "qemu+ssh://[::ffff:192.0.2.1]/system",
                None,
                "::ffff:192.0.2.1",
            ),
            ("qemu+ssh://[fe80::1%eth0]/system", None, "fe80::1%eth0"),
            ("qemu+libssh2://root@h/system", Some("root"), "h"),
            ("qemu+libssh://root@h/system", Some("root"), "h"),
        ] {
            let u = ConnectUri::parse(uri).unwrap_or_else(|e| panic!("{uri}: {e}"));
            assert_eq!((u.user.as_deref(), u.host.as_deref()), (user, Some(host)));
        }
        // A bracketed literal set directly is an IPv6 literal too.
        assert_eq!(host_check("[2001:db8::1]"), Ok(()));
        // Paths may hold blanks and other printable characters.
        let u =
            ConnectUri::parse("qemu+ssh://h/system?keyfile=/my%20keys/id%3Bx&known_hosts=/k%24h")
                .unwrap();
        assert_eq!(u.params.keyfile.as_deref(), Some("/my keys/id;x"));
        // No host, no user: nothing to check.
        assert!(ConnectUri::parse("qemu+ssh:///system").is_ok());
    }

    #[test]
    fn other_transports_are_not_held_to_ssh_rules() {
        let u = ConnectUri::parse("qemu+tcp://a%20b@h/system").unwrap();
        assert_eq!(u.user.as_deref(), Some("a b"));
        assert!(ConnectUri::parse("qemu+tls://-h/system").is_ok());
    }

    #[test]
    fn ssh_user_with_a_leading_dash_is_refused() {
        assert_eq!(
            refused("qemu+ssh://-oProxyCommand=x@h/system"),
            ("user", UnsafeReason::LeadingDash)
        );
        assert_eq!(
            refused("qemu+ssh://-@h/system"),
            ("user", UnsafeReason::LeadingDash)
        );
    }

    #[test]
    fn empty_ssh_user_is_refused() {
        assert_eq!(
            refused("qemu+ssh://@h/system"),
            ("user", UnsafeReason::Empty)
        );
    }

    #[test]
    fn ssh_user_with_a_space_is_refused() {
        assert_eq!(
            refused("qemu+ssh://a%20b@h/system"),
            ("user", UnsafeReason::Whitespace)
        );
        // Other blanks too (no-break space).
        assert_eq!(
            refused("qemu+ssh://a%C2%A0b@h/system"),
            ("user", UnsafeReason::Whitespace)
        );
    }

    #[test]
    fn ssh_user_with_a_tab_is_refused() {
        assert_eq!(
            refused("qemu+ssh://a%09b@h/system"),
            ("user", UnsafeReason::Whitespace)
        );
    }

    #[test]
    fn ssh_user_with_a_newline_is_refused() {
        assert_eq!(
            refused("qemu+ssh://a%0Ab@h/system"),
            ("user", UnsafeReason::Whitespace)
        );
        assert_eq!(
            refused("qemu+ssh://a%0Db@h/system"),
            ("user", UnsafeReason::Whitespace)
        );
    }

    #[test]
    fn ssh_user_with_a_control_character_is_refused() {
        for esc in ["%00", "%1B", "%07", "%7F", "%C2%9B"] {
            let uri = format!("qemu+ssh://a{esc}b@h/system");
            assert_eq!(
                refused(&uri),
                ("user", UnsafeReason::ControlCharacter),
                "{uri}"
            );
        }
    }

    #[test]
    fn ssh_user_with_a_meta_character_is_refused() {
        for c in META.chars() {
            let uri = format!("qemu+ssh://a%{:02X}b@h/system", c as u32);
            assert_eq!(refused(&uri), ("user", UnsafeReason::Character(c)), "{uri}");
        }
    }

    #[test]
    fn ssh_user_outside_ascii_is_refused() {
        assert_eq!(
            refused("qemu+ssh://%C3%A9@h/system"),
            ("user", UnsafeReason::Character('é'))
        );
        // A bidi override is not echoed as itself.
        let e = ConnectUri::parse("qemu+ssh://a%E2%80%AEb@h/system").unwrap_err();
        assert_eq!(
            e,
            UriError::Unsafe {
                field: "user",
                reason: UnsafeReason::Character('\u{202e}')
            }
        );
        assert_eq!(e.to_string(), r"refusing ssh user that contains `\u{202e}`");
    }

    #[test]
    fn ssh_host_with_a_leading_dash_is_refused() {
        assert_eq!(
            refused("qemu+ssh://-oProxyCommand=x/system"),
            ("host", UnsafeReason::LeadingDash)
        );
        assert_eq!(
            refused("qemu+ssh://root@-oProxyCommand=x/system"),
            ("host", UnsafeReason::LeadingDash)
        );
    }

    #[test]
    fn empty_ssh_host_is_refused() {
        assert_eq!(
            refused("qemu+ssh://[]/system"),
            ("host", UnsafeReason::Empty)
        );
        assert_eq!(
            host_check(""),
            Err(UriError::Unsafe {
                field: "host",
                reason: UnsafeReason::Empty
            })
        );
    }

    #[test]
    fn ssh_host_with_a_space_tab_or_newline_is_refused() {
        for h in ["a b", "a\tb", "a\nb", "a\rb", "[fe80::1%eth 0]"] {
            assert_eq!(
                host_check(h),
                Err(UriError::Unsafe {
                    field: "host",
                    reason: UnsafeReason::Whitespace
                }),
                "{h:?}"
            );
        }
        assert_eq!(
            refused("qemu+ssh://a b/system"),
            ("host", UnsafeReason::Whitespace)
        );
    }

    #[test]
    fn ssh_host_with_a_control_character_is_refused() {
        for h in ["a\0b", "a\x1b[2Jb", "a\x7fb"] {
            assert_eq!(
                host_check(h),
                Err(UriError::Unsafe {
                    field: "host",
                    reason: UnsafeReason::ControlCharacter
                }),
                "{h:?}"
            );
        }
        assert_eq!(
            refused("qemu+ssh://a\x1bb/system"),
            ("host", UnsafeReason::ControlCharacter)
        );
    }

    #[test]
    fn ssh_host_with_a_meta_character_is_refused() {
        for c in META.chars() {
            let h = format!("a{c}b");
            let want = match c {
                // Allowed only in an IPv6 literal, which `a:b` is not.
                ':' | '%' | '[' | ']' => UnsafeReason::NotAnAddress,
                _ => UnsafeReason::Character(c),
            };
            assert_eq!(
                host_check(&h),
                Err(UriError::Unsafe {
                    field: "host",
                    reason: want
                }),
                "{h:?}"
            );
        }
        assert_eq!(
            refused("qemu+ssh://a;b/system"),
            ("host", UnsafeReason::Character(';'))
        );
        assert_eq!(
            refused("qemu+ssh://a$(id)b/system"),
            ("host", UnsafeReason::Character('$'))
        );
        assert_eq!(
            refused("qemu+ssh://h%C3%A9/system"),
            ("host", UnsafeReason::NotAnAddress),
            "the host is not percent-decoded: `%` outside an IPv6 literal"
        );
    }

    #[test]
    fn ssh_host_that_is_not_an_address_is_refused() {
        for h in [
            "fe80::zz",
            "[::1",
            "::1]",
            "[a]",
            "fe80::1%",
            "%eth0",
            "a%b",
            "fe80::1%eth0%1",
            "[fe80::1]%eth0",
        ] {
            assert_eq!(
                host_check(h),
                Err(UriError::Unsafe {
                    field: "host",
                    reason: UnsafeReason::NotAnAddress
                }),
                "{h:?}"
            );
        }
        // An unbracketed literal in the URI itself loses its last group
        // to the port, and what is left is not an address.
        assert_eq!(
            refused("qemu+ssh://fe80::1/system"),
            ("host", UnsafeReason::NotAnAddress)
        );
        assert_eq!(
            host_check("fe80::1%eth0;id"),
            Err(UriError::Unsafe {
                field: "host",
                reason: UnsafeReason::Character(';')
            })
        );
    }

    #[test]
    fn ssh_key_and_known_hosts_paths_are_checked() {
        assert_eq!(
            refused("qemu+ssh://h/system?keyfile=-oProxyCommand%3Dx"),
            ("keyfile", UnsafeReason::LeadingDash)
        );
        assert_eq!(
            refused("qemu+ssh://h/system?keyfile=/k%0A-oX"),
            ("keyfile", UnsafeReason::ControlCharacter)
        );
        assert_eq!(
            refused("qemu+ssh://h/system?keyfile="),
            ("keyfile", UnsafeReason::Empty)
        );
        assert_eq!(
            refused("qemu+ssh://h/system?known_hosts=-x"),
            ("known_hosts", UnsafeReason::LeadingDash)
        );
        assert_eq!(
            refused("qemu+ssh://h/system?known_hosts=/k%1Bh"),
            ("known_hosts", UnsafeReason::ControlCharacter)
        );
        assert_eq!(
            refused("qemu+ssh://h/system?known_hosts="),
            ("known_hosts", UnsafeReason::Empty)
        );
        // What ssh would rewrite.
        assert_eq!(
            refused("qemu+ssh://h/system?keyfile=/k/$%7BHOME%7D"),
            ("keyfile", UnsafeReason::Character('$'))
        );
        assert_eq!(
            refused("qemu+ssh://h/system?known_hosts=/k%22h"),
            ("known_hosts", UnsafeReason::Character('"'))
        );
    }

    #[test]
    fn unsafe_errors_name_the_field_not_the_value() {
        let e = ConnectUri::parse("qemu+ssh://a%1B%5D0%3Bx%07@h/system").unwrap_err();
        let shown = e.to_string();
        assert_eq!(shown, "refusing ssh user that contains a control character");
        assert_eq!(
            UriError::Unsafe {
                field: "host",
                reason: UnsafeReason::LeadingDash
            }
            .to_string(),
            "refusing ssh host that starts with `-`"
        );
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
