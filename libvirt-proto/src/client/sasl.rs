//! SASL for the client: GSSAPI (Kerberos, with its security layer; see
//! [`gssapi`](super::gssapi)), SCRAM-SHA-256 and PLAIN (from the `rsasl`
//! crate), with credentials from the user's Kerberos tickets, the program
//! ([`Credentials`]) or libvirt's `auth.conf` (see
//! [`auth_conf`](super::auth_conf)).
//!
//! When the daemon asks for SASL, the mechanism is chosen from the list in
//! its `AUTH_SASL_INIT` reply: GSSAPI when offered and the user has a
//! ticket for the daemon (set up on a blocking thread, since Kerberos may
//! ask its KDC), else SCRAM-SHA-256, else PLAIN. The password mechanisms
//! are used only over a transport libvirt counts as secure (a Unix
//! socket, TLS or ssh): like libvirt's client, this one wants a security
//! layer of at least 56 bits elsewhere, so a daemon impersonated on the
//! network never sees a password exchange.
//!
//! Over plain TCP libvirtd offers only mechanisms with a security layer
//! of at least `tcp_min_ssf` (56) bits: GSSAPI with confidentiality, which
//! this client speaks, or the historic DIGEST-MD5, which it does not.
//! With none configured it refuses `AUTH_SASL_INIT` with a bare
//! "authentication failed", before any credential is asked for or sent;
//! over tcp that refusal, and a list with nothing this client speaks, are
//! reported as [`AuthError::Mechanism`] saying so.
//!
//! The URI's `auth=` is honoured as libvirt honours it: `auth=sasl` or
//! `auth=polkit` makes that the only method tried (in place of
//! [`ConnectOptions::auth`]), and `auth=sasl.MECH` also the only mechanism.
//!
//! Credentials are looked for as libvirt looks for them: first in the auth
//! file (`[auth-libvirt-HOST]` or `[auth-libvirt-default]`, then the
//! `[credentials-NAME]` it names; the file is [`ConnectOptions::auth_file`],
//! by default `$LIBVIRT_AUTH_FILE`, the URI's `authfile=`, the user's or
//! the system's `auth.conf`), then from [`ConnectOptions::credentials`]
//! for what the file lacks. libvirtd's SASL authenticates the file's
//! `authname=`; without one, `username=` is used. When both are given and
//! differ, `username=` is the identity to act as (SASL's authzid), as in
//! libvirt.
//!
//! [`ConnectOptions::credentials`]: super::ConnectOptions::credentials
//! [`ConnectOptions::auth`]: super::ConnectOptions::auth
//! [`ConnectOptions::auth_file`]: super::ConnectOptions::auth_file

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rsasl::prelude::{Mechname, MessageSent, SASLClient, SASLConfig, Session, State};

use super::auth_conf::{auth_file_path, readable, AuthConfig, AuthFile, AuthFileEnv};
use super::auth_conf::{AuthFileSource, LIBVIRT_SERVICE};
use super::{ClientError, ConnectOptions};
use crate::engine::auth::{
    AuthError, AuthMethod, ClientAuth, MechanismChoice, MechanismJob, SaslMechanism,
    SaslMechanismChooser,
};
use crate::engine::CallError;
use crate::uri::{ConnectUri, Transport, UriError};

/// A user name and password for SASL.
#[derive(Clone, PartialEq, Eq)]
pub struct SaslCredentials {
    /// The name to authenticate as (SASL's authentication identity;
    /// `authname=` in `auth.conf`).
    pub username: String,
    /// The password.
    pub password: String,
    /// Another identity to act as (SASL's authorization identity);
    /// usually `None`.
    pub authzid: Option<String>,
}

impl SaslCredentials {
    /// `username` and `password`.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        SaslCredentials {
            username: username.into(),
            password: password.into(),
            authzid: None,
        }
    }
}

impl fmt::Debug for SaslCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaslCredentials")
            .field("username", &self.username)
            .field("password", &"<hidden>")
            .field("authzid", &self.authzid)
            .finish()
    }
}

/// What a daemon asks credentials for.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct CredentialRequest<'a> {
    /// The URI being opened, as given.
    pub uri: &'a str,
    /// The daemon's host (`None`: a local socket).
    pub host: Option<&'a str>,
    /// The mechanism that will use them (`SCRAM-SHA-256`, `PLAIN`).
    pub mechanism: &'a str,
    /// A user name already known (from the auth file or the URI's
    /// `user@`), to suggest.
    pub username: Option<&'a str>,
}

/// Gives SASL credentials when a daemon requires them.
///
/// Called from the connection's task while it opens, so it should answer
/// promptly. A closure `Fn(&CredentialRequest) -> Result<Option<SaslCredentials>, String>`
/// is one, and so are fixed [`SaslCredentials`].
pub trait Credentials: Send + Sync {
    /// The credentials for `request`; `Ok(None)`: none to give; `Err`:
    /// give up (the message ends up in the connection's error).
    fn credentials(
        &self,
        request: &CredentialRequest<'_>,
    ) -> Result<Option<SaslCredentials>, String>;
}

impl fmt::Debug for dyn Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<credentials callback>")
    }
}

impl Credentials for SaslCredentials {
    fn credentials(&self, _: &CredentialRequest<'_>) -> Result<Option<SaslCredentials>, String> {
        Ok(Some(self.clone()))
    }
}

impl<F> Credentials for F
where
    F: Fn(&CredentialRequest<'_>) -> Result<Option<SaslCredentials>, String> + Send + Sync,
{
    fn credentials(
        &self,
        request: &CredentialRequest<'_>,
    ) -> Result<Option<SaslCredentials>, String> {
        self(request)
    }
}

/// The Kerberos mechanism's name (see [`super::gssapi`], with the
/// `gssapi` feature).
const GSSAPI: &str = "GSSAPI";

/// The password mechanisms this client speaks, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mechanism {
    ScramSha256,
    Plain,
}

impl Mechanism {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
            Mechanism::Plain => "PLAIN",
        }
    }
}

/// Whether libvirt counts `transport` as a secure channel (its remote
/// driver's `is_secure`): a Unix socket, TLS, ssh; not plain TCP nor an
/// arbitrary command.
pub(crate) fn is_secure(transport: Transport) -> bool {
    match transport {
        Transport::Unix
        | Transport::Tls
        | Transport::Ssh
        | Transport::Libssh2
        | Transport::Libssh => true,
        Transport::Tcp | Transport::Ext => false,
    }
}

/// Why a mechanism without a security layer is refused on an insecure
/// transport (libvirt's client asks for at least 56 bits there, so a
/// daemon impersonated on the network never sees a password exchange).
const NO_LAYER: &str = "has no security layer, which libvirt requires over an insecure transport \
     (use a Unix socket, tls or ssh, or GSSAPI)";

/// The best password mechanism among `offered` (names compared without
/// case): SCRAM-SHA-256, else PLAIN, either only when the channel is
/// `secure`; only `only` when given (the URI's `auth=sasl.MECH`).
pub(crate) fn choose_mechanism(
    offered: &[&str],
    secure: bool,
    only: Option<&str>,
) -> Result<Mechanism, String> {
    let has = |m: Mechanism| offered.iter().any(|o| o.eq_ignore_ascii_case(m.name()));
    if let Some(only) = only {
        let Some(m) = [Mechanism::ScramSha256, Mechanism::Plain]
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(only))
        else {
            return Err(format!(
                "auth=sasl.{only}: this client speaks GSSAPI, SCRAM-SHA-256 and PLAIN"
            ));
        };
        if !has(m) {
            return Err(format!(
                "{only} is not offered by the daemon (it offers {})",
                offered.join(" ")
            ));
        }
        if m == Mechanism::Plain && !secure {
            return Err(
                "PLAIN would send the password in clear over an insecure transport \
                 (use a Unix socket, tls or ssh)"
                    .into(),
            );
        }
        if !secure {
            return Err(format!("{} {NO_LAYER}", m.name()));
        }
        return Ok(m);
    }
    if has(Mechanism::ScramSha256) {
        if secure {
            return Ok(Mechanism::ScramSha256);
        }
        return Err(format!(
            "the daemon offers {} but SCRAM-SHA-256 {NO_LAYER}",
            offered.join(" ")
        ));
    }
    if has(Mechanism::Plain) {
        if secure {
            return Ok(Mechanism::Plain);
        }
        return Err(format!(
            "the daemon offers {} but PLAIN would send the password in clear over an insecure \
             transport (use a Unix socket, tls or ssh)",
            offered.join(" ")
        ));
    }
    Err(format!(
        "the daemon offers {}; this client speaks GSSAPI, SCRAM-SHA-256, and PLAIN over a secure \
         transport",
        if offered.is_empty() {
            "no mechanism".to_owned()
        } else {
            offered.join(" ")
        }
    ))
}

/// The most PBKDF2 iterations a daemon may ask SCRAM for: 250 times the
/// 4096 of Cyrus SASL's default and RFC 7677's example, above any setting
/// seen in practice, and under a second of key derivation on a blocking
/// thread. A daemon asking for more (which could keep a CPU busy for
/// minutes before failing) is refused before any derivation.
pub const MAX_SCRAM_ITERATIONS: u32 = 1_000_000;

/// The iteration count of a SCRAM server-first message
/// (`r=...,s=...,i=4096`), refused above [`MAX_SCRAM_ITERATIONS`]. A
/// message without a readable count is left to the mechanism to reject.
fn check_scram_iterations(server_first: &[u8]) -> Result<(), String> {
    let Ok(text) = std::str::from_utf8(server_first) else {
        return Ok(());
    };
    let Some(count) = text.split(',').find_map(|a| a.strip_prefix("i=")) else {
        return Ok(());
    };
    let too_many = || {
        format!(
            "the daemon asks for {count:.20} SCRAM iterations, more than the \
             {MAX_SCRAM_ITERATIONS} this client allows"
        )
    };
    match count.parse::<u64>() {
        Ok(n) if n > u64::from(MAX_SCRAM_ITERATIONS) => Err(too_many()),
        Err(_) if !count.is_empty() && count.bytes().all(|b| b.is_ascii_digit()) => Err(too_many()),
        _ => Ok(()),
    }
}

/// A mechanism run by `rsasl`.
struct RsaslMechanism {
    name: &'static str,
    session: Session,
    finished: bool,
    /// SCRAM, whose first challenge names an iteration count to check.
    scram_first: bool,
}

impl RsaslMechanism {
    fn new(mechanism: Mechanism, creds: SaslCredentials) -> Result<Self, String> {
        let authzid = creds.authzid.filter(|a| !a.is_empty());
        let config = SASLConfig::with_credentials(authzid, creds.username, creds.password)
            .map_err(|e| format!("{}: {e}", mechanism.name()))?;
        let name = Mechname::parse(mechanism.name().as_bytes())
            .map_err(|e| format!("{}: {e}", mechanism.name()))?;
        let session = SASLClient::new(config)
            .start_suggested(&[name])
            .map_err(|e| format!("{}: {e}", mechanism.name()))?;
        Ok(RsaslMechanism {
            name: mechanism.name(),
            session,
            finished: false,
            scram_first: mechanism == Mechanism::ScramSha256,
        })
    }

    fn run(&mut self, input: Option<&[u8]>) -> Result<Option<Vec<u8>>, String> {
        if let (true, Some(challenge)) = (self.scram_first, input) {
            self.scram_first = false;
            check_scram_iterations(challenge).map_err(|e| format!("{}: {e}", self.name))?;
        }
        let mut out = Vec::new();
        let state = self
            .session
            .step(input, &mut out)
            .map_err(|e| format!("{}: {e}", self.name))?;
        Ok(match state {
            State::Running => Some(out),
            State::Finished(sent) => {
                self.finished = true;
                (sent == MessageSent::Yes).then_some(out)
            }
        })
    }
}

impl SaslMechanism for RsaslMechanism {
    fn name(&self) -> &str {
        self.name
    }

    fn start(&mut self) -> Result<Option<Vec<u8>>, String> {
        if self.session.are_we_first() {
            self.run(None)
        } else {
            Ok(None)
        }
    }

    fn step(&mut self, challenge: Option<&[u8]>) -> Result<Option<Vec<u8>>, String> {
        if self.finished {
            // Done already (PLAIN after its one message): nothing more is
            // expected, but an empty final message is harmless.
            return match challenge {
                None | Some([]) => Ok(None),
                Some(_) => Err(format!(
                    "{}: the daemon sent data after the exchange was complete",
                    self.name
                )),
            };
        }
        self.run(challenge)
    }

    fn is_complete(&self) -> bool {
        self.finished
    }
}

/// Where credentials come from, for one connection.
#[derive(Clone)]
struct CredentialSources {
    uri: String,
    host: Option<String>,
    uri_user: Option<String>,
    callback: Option<Arc<dyn Credentials>>,
    auth_file: AuthFile,
    /// The URI's `authfile=`.
    uri_authfile: Option<PathBuf>,
    env: AuthFileEnv,
}

impl CredentialSources {
    /// The credentials for `mechanism`: the auth file's, completed by the
    /// callback; a clear error when there are none.
    fn get(&self, mechanism: Mechanism) -> Result<SaslCredentials, AuthError> {
        let host = self.host.as_deref();
        let (file, source) = match &self.auth_file {
            AuthFile::Disabled => (None, None),
            AuthFile::Path(p) => (Some(p.clone()), Some(AuthFileSource::Explicit)),
            AuthFile::Search => match auth_file_path(
                &self.env,
                self.uri_authfile.as_deref().map(Path::new),
                &readable,
            ) {
                Some((p, s)) => (Some(p), Some(s)),
                None => (None, None),
            },
        };
        let mut from_file = FileCredentials::default();
        if let Some(path) = &file {
            let config = AuthConfig::load(path).map_err(AuthError::AuthFile)?;
            from_file = FileCredentials::lookup(&config, host).map_err(AuthError::AuthFile)?;
        }
        if let Some(c) = from_file.complete() {
            return Ok(c);
        }
        if let Some(callback) = &self.callback {
            let hint = from_file.login().or(self.uri_user.as_deref());
            let request = CredentialRequest {
                uri: &self.uri,
                host,
                mechanism: mechanism.name(),
                username: hint,
            };
            match callback.credentials(&request) {
                Ok(Some(c)) => return Ok(from_file.completed_by(c)),
                Ok(None) => {}
                Err(e) => return Err(AuthError::CredentialsCallback(e)),
            }
        }
        let host = host.unwrap_or("localhost");
        let file_note = match (&file, source) {
            (Some(p), _) if from_file.found => format!(
                "{} lacks the {} for it",
                p.display(),
                if from_file.login().is_none() {
                    "authname"
                } else {
                    "password"
                }
            ),
            (Some(p), _) => format!(
                "{} has neither [auth-{LIBVIRT_SERVICE}-{host}] nor [auth-{LIBVIRT_SERVICE}-default]",
                p.display()
            ),
            (None, _) if self.auth_file == AuthFile::Disabled => "no auth file is read".into(),
            (None, _) => "no auth file was found ($LIBVIRT_AUTH_FILE, authfile=, \
                          $XDG_CONFIG_HOME/libvirt/auth.conf, /etc/libvirt/auth.conf)"
                .into(),
        };
        Err(AuthError::NoCredentials(format!(
            "the daemon requires SASL authentication ({}) but no credentials are available for \
             {host}: {file_note}, and ConnectOptions::credentials gave none",
            mechanism.name()
        )))
    }
}

/// What the auth file says for a host.
#[derive(Debug, Default)]
struct FileCredentials {
    /// Whether the file has an entry for the host.
    found: bool,
    authname: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

impl FileCredentials {
    fn lookup(
        config: &AuthConfig,
        host: Option<&str>,
    ) -> Result<FileCredentials, super::auth_conf::AuthConfigError> {
        let Some(group) = config.credentials_group(LIBVIRT_SERVICE, host)? else {
            return Ok(FileCredentials::default());
        };
        Ok(FileCredentials {
            found: true,
            authname: config.string(&group, "authname")?,
            username: config.string(&group, "username")?,
            password: config.string(&group, "password")?,
        })
    }

    /// The name to authenticate as: `authname`, else `username`.
    fn login(&self) -> Option<&str> {
        self.authname.as_deref().or(self.username.as_deref())
    }

    /// The identity to act as, when `username` differs from `authname`.
    fn authzid(&self) -> Option<String> {
        match (&self.authname, &self.username) {
            (Some(a), Some(u)) if a != u => Some(u.clone()),
            _ => None,
        }
    }

    fn complete(&self) -> Option<SaslCredentials> {
        Some(SaslCredentials {
            username: self.login()?.to_owned(),
            password: self.password.clone()?,
            authzid: self.authzid(),
        })
    }

    /// The callback's answer, the file's values taking precedence (as in
    /// libvirt, the callback is asked only for what the file lacks).
    fn completed_by(&self, c: SaslCredentials) -> SaslCredentials {
        SaslCredentials {
            username: self.login().map(str::to_owned).unwrap_or(c.username),
            password: self.password.clone().unwrap_or(c.password),
            authzid: self.authzid().or(c.authzid),
        }
    }
}

/// Why SASL cannot work over plain tcp against libvirtd.
const TCP_NOTE: &str = "over plain tcp libvirtd offers only mechanisms with a security layer \
     (tcp_min_ssf, at least 56 bits): use GSSAPI (Kerberos, with libvirt-proto's `gssapi` \
     feature), or connect with tls or ssh";

/// Chooses the mechanism from the daemon's list and builds it with the
/// connection's credentials.
#[derive(Clone)]
struct Chooser {
    secure: bool,
    /// The host the service principal is named after (`libvirt@HOST`).
    #[cfg_attr(not(feature = "gssapi"), allow(dead_code))]
    host: String,
    /// Plain tcp, where libvirtd wants a security layer.
    tcp: bool,
    /// The URI's `auth=sasl.MECH`.
    only: Option<String>,
    sources: CredentialSources,
}

impl SaslMechanismChooser for Chooser {
    /// A password mechanism (SCRAM-SHA-256, PLAIN); GSSAPI comes through
    /// [`SaslMechanismChooser::choose_deferred`].
    fn choose(&mut self, offered: &[&str]) -> Result<Box<dyn SaslMechanism>, AuthError> {
        self.password_mechanism(offered, None)
    }

    /// GSSAPI first when offered: it needs no password, and it is the one
    /// mechanism that works over plain tcp; else a password mechanism.
    /// Either is built in a job, off the connection's I/O: Kerberos may
    /// ask its KDC for a ticket, credentials come from a file or a
    /// callback that may block.
    fn choose_deferred(&mut self, offered: &[&str]) -> Result<MechanismChoice, AuthError> {
        let gssapi = self.gssapi_job(offered)?;
        let mut chooser = self.clone();
        let offered: Vec<String> = offered.iter().map(|&m| m.to_owned()).collect();
        Ok(MechanismChoice::Deferred(Box::new(move || {
            let offered: Vec<&str> = offered.iter().map(String::as_str).collect();
            match gssapi {
                Some(job) => job().or_else(|e| chooser.after_gssapi(&offered, e)),
                None => chooser.password_mechanism(&offered, None),
            }
        })))
    }

    /// The job falls back by itself (see [`Chooser::after_gssapi`]): its
    /// error is final.
    fn deferred_failed(
        &mut self,
        _offered: &[&str],
        error: AuthError,
    ) -> Result<Box<dyn SaslMechanism>, AuthError> {
        Err(error)
    }

    fn init_refused(&mut self, refusal: CallError) -> AuthError {
        init_refused(self.tcp, refusal)
    }
}

impl Chooser {
    /// Kerberos could not start (no ticket, no library): a password
    /// mechanism when one may be used, else Kerberos' reason.
    fn after_gssapi(
        &mut self,
        offered: &[&str],
        error: AuthError,
    ) -> Result<Box<dyn SaslMechanism>, AuthError> {
        let named = self.only.is_some();
        if named || !self.secure {
            return Err(error);
        }
        self.password_mechanism(offered, Some(error))
    }

    /// SCRAM-SHA-256 or PLAIN with the connection's credentials; when
    /// none may be used, the reason (after GSSAPI's, if it failed first).
    fn password_mechanism(
        &mut self,
        offered: &[&str],
        gssapi_failure: Option<AuthError>,
    ) -> Result<Box<dyn SaslMechanism>, AuthError> {
        let mechanism =
            choose_mechanism(offered, self.secure, self.only.as_deref()).map_err(|e| {
                if let Some(AuthError::Mechanism(g)) = &gssapi_failure {
                    return AuthError::Mechanism(format!("{g}; {e}"));
                }
                let spoken = [Mechanism::ScramSha256, Mechanism::Plain]
                    .iter()
                    .any(|m| offered.iter().any(|o| o.eq_ignore_ascii_case(m.name())));
                AuthError::Mechanism(if self.tcp && !spoken {
                    format!("{e}; {TCP_NOTE}")
                } else {
                    e
                })
            })?;
        let creds = self.sources.get(mechanism)?;
        Ok(Box::new(
            RsaslMechanism::new(mechanism, creds).map_err(AuthError::Sasl)?,
        ))
    }

    /// The job building GSSAPI when the daemon offers it and the URI does
    /// not name another mechanism; an error when the URI names GSSAPI and
    /// it cannot be had.
    fn gssapi_job(&self, offered: &[&str]) -> Result<Option<MechanismJob>, AuthError> {
        let named = self.only.as_deref();
        let only_gssapi = named.is_some_and(|m| m.eq_ignore_ascii_case(GSSAPI));
        let is_offered = offered.iter().any(|o| o.eq_ignore_ascii_case(GSSAPI));
        if only_gssapi && !is_offered {
            return Err(AuthError::Mechanism(format!(
                "{GSSAPI} is not offered by the daemon (it offers {})",
                offered.join(" ")
            )));
        }
        if !is_offered || (named.is_some() && !only_gssapi) {
            return Ok(None);
        }
        self.gssapi_builder().map(Some)
    }

    #[cfg(feature = "gssapi")]
    fn gssapi_builder(&self) -> Result<MechanismJob, AuthError> {
        let (host, need_confidentiality) = (self.host.clone(), !self.secure);
        Ok(Box::new(move || {
            super::gssapi::Gssapi::new(&host, need_confidentiality)
                .map(|m| Box::new(m) as Box<dyn SaslMechanism>)
                .map_err(AuthError::Mechanism)
        }))
    }

    /// Without the `gssapi` feature, GSSAPI is not spoken: the password
    /// mechanisms are tried (the daemon may offer them too).
    #[cfg(not(feature = "gssapi"))]
    fn gssapi_builder(&self) -> Result<MechanismJob, AuthError> {
        let reason = format!("{GSSAPI} needs libvirt-proto's `gssapi` feature");
        Ok(Box::new(move || Err(AuthError::Mechanism(reason))))
    }
}

/// The daemon's refusal of `AUTH_SASL_INIT`: over plain tcp, libvirtd
/// found no mechanism with the security layer it requires (its own
/// message says only "authentication failed"); elsewhere, the refusal as
/// is.
fn init_refused(tcp: bool, refusal: CallError) -> AuthError {
    match refusal {
        CallError::Remote(r) if tcp => AuthError::Mechanism(format!(
            "the daemon refused to start SASL over plain tcp ({}): {TCP_NOTE}",
            r.message.as_deref().unwrap_or("no message")
        )),
        other => AuthError::Call(Box::new(other)),
    }
}

/// The methods a URI's `auth=` asks for (libvirt's `remoteAuthenticate`):
/// `sasl`, `sasl.MECH` (with the mechanism) or `polkit`, without case.
pub(crate) fn uri_auth(auth: &str) -> Option<(AuthMethod, Option<String>)> {
    if auth.eq_ignore_ascii_case("sasl") {
        return Some((AuthMethod::Sasl, None));
    }
    if auth.eq_ignore_ascii_case("polkit") {
        return Some((AuthMethod::Polkit, None));
    }
    match auth.get(..5) {
        Some(p) if p.eq_ignore_ascii_case("sasl.") && auth.len() > 5 => {
            Some((AuthMethod::Sasl, Some(auth[5..].to_owned())))
        }
        _ => None,
    }
}

/// The authentication of a connection to `uri` with `options`: SASL
/// through [`Chooser`] when it is among the accepted methods; the URI's
/// `auth=` narrows them to one.
pub(crate) fn client_auth(
    uri: &str,
    parsed: &ConnectUri,
    options: &ConnectOptions,
) -> Result<ClientAuth, ClientError> {
    let (wanted, only) = match parsed.params.auth.as_deref() {
        None => (options.auth.clone(), None),
        Some(a) => {
            let Some((method, only)) = uri_auth(a) else {
                return Err(ClientError::Uri(UriError::BadValue {
                    name: "auth".into(),
                    value: a.into(),
                }));
            };
            (vec![method], only)
        }
    };
    if !wanted.contains(&AuthMethod::Sasl) {
        return Ok(ClientAuth::new(wanted, None));
    }
    let chooser = Chooser {
        secure: is_secure(parsed.transport),
        // libvirt names the service after the URI's host, "localhost"
        // for local sockets.
        host: parsed
            .host
            .clone()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".into()),
        tcp: parsed.transport == Transport::Tcp,
        only,
        sources: CredentialSources {
            uri: uri.to_owned(),
            host: parsed.host.clone(),
            uri_user: parsed.user.clone(),
            callback: options.credentials.clone(),
            auth_file: options.auth_file.clone(),
            uri_authfile: parsed.params.authfile.as_ref().map(PathBuf::from),
            env: AuthFileEnv::current(),
        },
    };
    Ok(ClientAuth::with_chooser(wanted, Box::new(chooser)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scram(server_first_tail: &str) -> Result<Option<Vec<u8>>, String> {
        let creds = SaslCredentials {
            username: "alice".into(),
            password: "secret".into(),
            authzid: None,
        };
        let mut m = RsaslMechanism::new(Mechanism::ScramSha256, creds).unwrap();
        let first = String::from_utf8(m.start().unwrap().unwrap()).unwrap();
        let nonce = first.split(",r=").nth(1).unwrap();
        let server_first = format!("r={nonce}daemon,s=c2FsdHNhbHQ=,{server_first_tail}");
        m.step(Some(server_first.as_bytes()))
    }

    #[test]
    fn a_daemon_asking_for_too_many_scram_iterations_is_refused() {
        // An ordinary count goes on to the client's proof.
        let proof = scram("i=4096").unwrap().unwrap();
        assert!(proof.starts_with(b"c=biws,r="), "{proof:?}");
        for count in ["1000001", "4294967296", "99999999999999999999999999"] {
            let e = scram(&format!("i={count}")).unwrap_err();
            assert!(e.contains("SCRAM iterations, more than the 1000000"), "{e}");
        }
        assert!(check_scram_iterations(b"r=x,s=y,i=1000000").is_ok());
    }

    #[test]
    fn scram_is_preferred_and_both_need_a_secure_channel() {
        let scram = Ok(Mechanism::ScramSha256);
        let e = choose_mechanism(&["PLAIN", "SCRAM-SHA-256"], false, None).unwrap_err();
        assert!(
            e.starts_with(
                "the daemon offers PLAIN SCRAM-SHA-256 but SCRAM-SHA-256 has no security layer"
            ),
            "{e}"
        );
        assert_eq!(
            choose_mechanism(&["plain", "scram-sha-256"], true, None),
            scram
        );
        assert_eq!(
            choose_mechanism(&["GSSAPI", "PLAIN"], true, None),
            Ok(Mechanism::Plain)
        );
        let e = choose_mechanism(&["GSSAPI", "PLAIN"], false, None).unwrap_err();
        assert!(e.contains("in clear"), "{e}");
        let e = choose_mechanism(&["GSSAPI", "DIGEST-MD5"], true, None).unwrap_err();
        assert!(e.contains("GSSAPI DIGEST-MD5"), "{e}");
        let e = choose_mechanism(&[], true, None).unwrap_err();
        assert!(e.contains("no mechanism"), "{e}");
    }

    #[test]
    fn the_uri_may_name_the_mechanism() {
        let both = ["SCRAM-SHA-256", "PLAIN"];
        assert_eq!(
            choose_mechanism(&both, true, Some("plain")),
            Ok(Mechanism::Plain)
        );
        assert_eq!(
            choose_mechanism(&both, true, Some("SCRAM-SHA-256")),
            Ok(Mechanism::ScramSha256)
        );
        let e = choose_mechanism(&both, false, Some("PLAIN")).unwrap_err();
        assert!(e.contains("in clear"), "{e}");
        let e = choose_mechanism(&both, false, Some("scram-sha-256")).unwrap_err();
        assert_eq!(e, format!("SCRAM-SHA-256 {NO_LAYER}"));
        let e = choose_mechanism(&["PLAIN"], true, Some("scram-sha-256")).unwrap_err();
        assert!(e.contains("not offered"), "{e}");
        let e = choose_mechanism(&both, true, Some("GSSAPI")).unwrap_err();
        assert!(e.contains("auth=sasl.GSSAPI"), "{e}");
    }

    #[test]
    fn the_uris_auth_parameter() {
        assert_eq!(uri_auth("sasl"), Some((AuthMethod::Sasl, None)));
        assert_eq!(uri_auth("SASL"), Some((AuthMethod::Sasl, None)));
        assert_eq!(
            uri_auth("sasl.scram-sha-256"),
            Some((AuthMethod::Sasl, Some("scram-sha-256".into())))
        );
        assert_eq!(uri_auth("polkit"), Some((AuthMethod::Polkit, None)));
        assert_eq!(uri_auth("sasl."), None);
        assert_eq!(uri_auth("none"), None);
        assert_eq!(uri_auth("ssh"), None);
        assert_eq!(uri_auth("sasl\u{e9}"), None);
    }

    #[test]
    fn secure_transports_are_libvirts() {
        assert!(is_secure(Transport::Unix));
        assert!(is_secure(Transport::Tls));
        assert!(is_secure(Transport::Ssh));
        assert!(!is_secure(Transport::Tcp));
        assert!(!is_secure(Transport::Ext));
    }

    fn chooser(transport: Transport) -> Chooser {
        Chooser {
            secure: is_secure(transport),
            host: "localhost".into(),
            tcp: transport == Transport::Tcp,
            only: None,
            sources: sources(None, Some(Arc::new(SaslCredentials::new("a", "p")))),
        }
    }

    fn choice(c: &mut Chooser, offered: &[&str]) -> Result<&'static str, AuthError> {
        c.choose(offered).map(|m| match m.name() {
            "GSSAPI" => "GSSAPI",
            "PLAIN" => "PLAIN",
            _ => "SCRAM-SHA-256",
        })
    }

    #[test]
    fn over_tcp_the_missing_security_layer_is_explained() {
        use crate::error::RemoteError;
        use crate::generated::error_codes::{ErrorDomain, ErrorNumber};
        // libvirtd's refusal of AUTH_SASL_INIT when no mechanism meets
        // tcp_min_ssf.
        let refusal = || {
            CallError::Remote(RemoteError::new(
                ErrorNumber::ERR_AUTH_FAILED,
                ErrorDomain::AUTH,
                "authentication failed: authentication failed",
            ))
        };
        match init_refused(true, refusal()) {
            AuthError::Mechanism(m) => {
                assert!(
                    m.starts_with(
                        "the daemon refused to start SASL over plain tcp \
                         (authentication failed: authentication failed): over plain tcp"
                    ),
                    "{m}"
                );
                assert!(m.ends_with("connect with tls or ssh"), "{m}");
            }
            other => panic!("{other:?}"),
        }
        // Elsewhere the refusal stays the daemon's.
        assert_eq!(
            init_refused(false, refusal()),
            AuthError::Call(Box::new(refusal()))
        );
        // Through the chooser, as the engine calls it.
        let mut tcp = chooser(Transport::Tcp);
        assert!(matches!(
            tcp.init_refused(refusal()),
            AuthError::Mechanism(m) if m.contains("security layer")
        ));
        let mut tls = chooser(Transport::Tls);
        assert!(matches!(tls.init_refused(refusal()), AuthError::Call(_)));

        // A list of mechanisms with a security layer only (libvirtd over
        // tcp with DIGEST-MD5 configured): the note is added on tcp.
        match choice(&mut tcp, &["DIGEST-MD5"]) {
            Err(AuthError::Mechanism(m)) => {
                assert!(m.starts_with("the daemon offers DIGEST-MD5;"), "{m}");
                assert!(m.ends_with(TCP_NOTE), "{m}");
            }
            other => panic!("{other:?}"),
        }
        match choice(&mut tls, &["DIGEST-MD5"]) {
            Err(AuthError::Mechanism(m)) => assert!(!m.contains("tcp"), "{m}"),
            other => panic!("{other:?}"),
        }
        // PLAIN alone over tcp has its own reason; SCRAM, which a daemon
        // other than libvirtd might offer there, is refused too: no
        // password exchange without a security layer on an insecure
        // transport, as in libvirt.
        match choice(&mut tcp, &["PLAIN"]) {
            Err(AuthError::Mechanism(m)) => {
                assert!(m.contains("in clear") && !m.contains("tcp_min_ssf"), "{m}")
            }
            other => panic!("{other:?}"),
        }
        match choice(&mut tcp, &["SCRAM-SHA-256"]) {
            Err(AuthError::Mechanism(m)) => assert!(m.ends_with(NO_LAYER), "{m}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(choice(&mut tls, &["PLAIN"]).unwrap(), "PLAIN");
    }

    #[test]
    fn plain_sends_one_message() {
        let mut m =
            RsaslMechanism::new(Mechanism::Plain, SaslCredentials::new("alice", "pw")).unwrap();
        assert_eq!(m.start().unwrap().as_deref(), Some(&b"\0alice\0pw"[..]));
        assert!(m.is_complete());
        // An empty final message from the daemon is fine; data is not.
        assert_eq!(m.step(Some(b"")).unwrap(), None);
        assert!(m.step(Some(b"more")).is_err());
    }

    #[test]
    fn scram_is_incomplete_until_the_server_is_verified() {
        let mut m =
            RsaslMechanism::new(Mechanism::ScramSha256, SaslCredentials::new("alice", "pw"))
                .unwrap();
        let first = m.start().unwrap().unwrap();
        assert!(first.starts_with(b"n,,n=alice,r="), "{first:?}");
        assert!(!m.is_complete());
        // A server-first message with a nonce that does not extend ours
        // is refused.
        assert!(m.step(Some(b"r=other,s=c2FsdA==,i=4096")).is_err());
    }

    fn sources(text: Option<&str>, callback: Option<Arc<dyn Credentials>>) -> CredentialSources {
        let auth_file = match text {
            Some(t) => {
                static NEXT: std::sync::atomic::AtomicUsize =
                    std::sync::atomic::AtomicUsize::new(0);
                let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let path =
                    std::env::temp_dir().join(format!("lvp-sasl-unit-{}-{n}", std::process::id()));
                std::fs::write(&path, t).unwrap();
                AuthFile::Path(path)
            }
            None => AuthFile::Disabled,
        };
        CredentialSources {
            uri: "test+unix:///default".into(),
            host: None,
            uri_user: None,
            callback,
            auth_file,
            uri_authfile: None,
            env: AuthFileEnv::default(),
        }
    }

    fn cleanup(s: &CredentialSources) {
        if let AuthFile::Path(p) = &s.auth_file {
            let _ = std::fs::remove_file(p);
        }
    }

    #[test]
    fn credentials_from_the_file_then_the_callback() {
        // All from the file (authname preferred, username the authzid).
        let s = sources(
            Some("[auth-libvirt-localhost]\ncredentials=x\n[credentials-x]\nauthname=a\nusername=u\npassword=p\n"),
            None,
        );
        let c = s.get(Mechanism::ScramSha256).unwrap();
        cleanup(&s);
        assert_eq!(
            (
                c.username.as_str(),
                c.password.as_str(),
                c.authzid.as_deref()
            ),
            ("a", "p", Some("u"))
        );
        // The file gives the name; the callback the password, told the name.
        let cb: Arc<dyn Credentials> = Arc::new(|r: &CredentialRequest<'_>| {
            assert_eq!(r.username, Some("fred"));
            assert_eq!(r.mechanism, "SCRAM-SHA-256");
            Ok(Some(SaslCredentials::new("ignored", "secret")))
        });
        let s = sources(
            Some("[auth-libvirt-default]\ncredentials=x\n[credentials-x]\nusername=fred\n"),
            Some(cb),
        );
        let c = s.get(Mechanism::ScramSha256).unwrap();
        cleanup(&s);
        assert_eq!(
            (c.username.as_str(), c.password.as_str()),
            ("fred", "secret")
        );
        // Only the callback.
        let s = sources(None, Some(Arc::new(SaslCredentials::new("bob", "pw"))));
        assert_eq!(s.get(Mechanism::Plain).unwrap().username, "bob");
        // The callback gives up.
        let s = sources(
            None,
            Some(Arc::new(
                |_: &CredentialRequest<'_>| Err("cancelled".into()),
            )),
        );
        let e = s.get(Mechanism::Plain).unwrap_err().to_string();
        assert!(e.contains("cancelled"), "{e}");
    }

    #[test]
    fn no_credentials_is_a_clear_error() {
        let s = sources(None, None);
        let e = s.get(Mechanism::ScramSha256).unwrap_err().to_string();
        assert!(e.contains("requires SASL authentication"), "{e}");
        assert!(e.contains("no credentials"), "{e}");
        let s = sources(
            Some("[auth-libvirt-elsewhere]\ncredentials=x\n[credentials-x]\n"),
            None,
        );
        let e = s.get(Mechanism::ScramSha256).unwrap_err().to_string();
        cleanup(&s);
        assert!(e.contains("[auth-libvirt-localhost]"), "{e}");
        let s = sources(None, Some(Arc::new(|_: &CredentialRequest<'_>| Ok(None))));
        let e = s.get(Mechanism::ScramSha256).unwrap_err().to_string();
        assert!(e.contains("no credentials"), "{e}");
        // A broken file is reported as such: the file's error is the
        // source.
        let s = sources(Some("password=before-any-group\n"), None);
        let err = s.get(Mechanism::ScramSha256).unwrap_err();
        cleanup(&s);
        assert!(
            matches!(
                &err,
                AuthError::AuthFile(crate::client::auth_conf::AuthConfigError::Syntax {
                    line: 1,
                    ..
                })
            ),
            "{err:?}"
        );
        let e = crate::error::Report::new(&err).to_string();
        assert!(e.starts_with("cannot read the SASL credentials: "), "{e}");
        assert!(e.contains("before any `[group]`"), "{e}");
        assert!(
            !e.contains("before-any-group"),
            "the line is not echoed: {e}"
        );
    }
}
