//! How the server's clients authenticate ([`Authentication`], libvirtd's
//! `auth_unix_rw`, `auth_tcp` and `auth_tls`), and SASL PLAIN's server
//! side ([`PlainSasl`]). The exchange itself is the engine's
//! ([`ServerAuth`]): until it succeeds, a client may make the
//! authentication calls only, as with libvirtd.

use std::fmt;
use std::sync::Arc;

use super::Peer;
use crate::engine::auth::{SaslServer, SaslServerStep, ServerAuth};

/// Makes the SASL mechanism server of a connection.
pub type NewSaslServer = dyn Fn(&Peer) -> Box<dyn SaslServer> + Send + Sync;

/// How clients authenticate before their calls reach the service: what
/// `AUTH_LIST` offers them and what answers `AUTH_SASL_*` /
/// `AUTH_POLKIT`. It applies to the remote program, which has those
/// calls; a server of the admin program (which has none) keeps
/// [`Authentication::None`], as libvirtd's admin socket does.
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum Authentication {
    /// Nothing asked: the transport decides (a Unix socket's
    /// permissions, TLS client certificates). The default.
    #[default]
    None,
    /// SASL, each connection's exchange run by the mechanism server this
    /// makes for it (such as [`PlainSasl`]). Its steps run on tokio's
    /// blocking threads, so a slow one (a password hash, a directory
    /// lookup) holds up only its own client, which is read no further
    /// until the step is answered. On a
    /// connection that is not [secure](Peer::is_secure) (plain TCP), the
    /// exchange must end with a security layer, or it fails: libvirtd
    /// asks for one there too, so PLAIN is refused on plain TCP.
    Sasl(Arc<NewSaslServer>),
    /// polkit, as libvirtd on its Unix socket: `AUTH_POLKIT` succeeds when
    /// this says yes for the client (by its [`Peer::credentials`]); root
    /// needs no check, as with libvirtd, and a client of
    /// [`Server::serve_tcp`](super::Server::serve_tcp) or `serve_tls`,
    /// which has no process to ask about, is refused without asking this
    /// (a client of [`Server::serve_connection`](super::Server::serve_connection)
    /// is asked about, without credentials). Run on tokio's blocking
    /// threads, as a SASL step is, so it may ask polkit and wait.
    Polkit(Arc<dyn Fn(&Peer) -> bool + Send + Sync>),
}

impl Authentication {
    /// [`Authentication::Sasl`] with the mechanism server `new` makes for
    /// each connection.
    pub fn sasl(new: impl Fn(&Peer) -> Box<dyn SaslServer> + Send + Sync + 'static) -> Self {
        Authentication::Sasl(Arc::new(new))
    }

    /// [`Authentication::Polkit`] deciding with `check`.
    pub fn polkit(check: impl Fn(&Peer) -> bool + Send + Sync + 'static) -> Self {
        Authentication::Polkit(Arc::new(check))
    }

    /// The engine's side of the exchange for the connection of `peer`.
    pub(super) fn for_peer(&self, peer: &Peer) -> ServerAuth {
        match self {
            Authentication::None => ServerAuth::none(),
            Authentication::Sasl(new) => {
                ServerAuth::sasl(new(peer)).with_security_layer_required(!peer.is_secure())
            }
            // As libvirtd: root on the Unix socket needs no polkit.
            Authentication::Polkit(_) if peer.credentials().is_some_and(|c| c.uid == 0) => {
                ServerAuth::none()
            }
            Authentication::Polkit(check) => {
                let (check, peer) = (check.clone(), peer.clone());
                // As libvirtd: polkit knows clients by their process, which
                // one over the network has none of. (A client of
                // `serve_connection` is the caller's to judge.)
                ServerAuth::polkit(Box::new(move || peer.address().is_none() && check(&peer)))
            }
        }
    }
}

impl fmt::Debug for Authentication {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Authentication::None => "None",
            Authentication::Sasl(_) => "Sasl(..)",
            Authentication::Polkit(_) => "Polkit(..)",
        })
    }
}

/// SASL PLAIN (RFC 4616) on the server side: the client's name and
/// password, checked by a function of yours (on a blocking thread, so a
/// slow password hash holds up only that client). PLAIN carries the password
/// as it is, so offer it on a Unix socket or under TLS only (libvirt's
/// client, and this crate's, use it nowhere else). A client may act only
/// as itself: an authorization identity other than its name is refused.
/// It gives no security layer, so on plain TCP its exchange fails
/// ([`Authentication::Sasl`]).
pub struct PlainSasl<F> {
    verify: F,
    /// Who authenticated.
    user: Option<String>,
}

impl<F> PlainSasl<F>
where
    F: Fn(&str, &str) -> bool + Send + 'static,
{
    /// PLAIN accepting a name and password when `verify(name, password)`
    /// says yes.
    pub fn new(verify: F) -> Self {
        PlainSasl { verify, user: None }
    }

    fn check(&mut self, message: &[u8]) -> Result<SaslServerStep, String> {
        let fields: Vec<&[u8]> = message.split(|b| *b == 0).collect();
        let [authz, name, password] = fields.as_slice() else {
            return Err("a PLAIN message is three fields".into());
        };
        // RFC 4616: a name and a password are never empty. (Their length
        // is bounded by the message's, at most `AUTH_SASL_DATA_MAX`.)
        if name.is_empty() || password.is_empty() {
            return Err("a PLAIN name and password are not empty".into());
        }
        let text = |b: &[u8]| String::from_utf8(b.to_vec()).map_err(|_| "not UTF-8".to_owned());
        let (authz, name, password) = (text(authz)?, text(name)?, text(password)?);
        if !authz.is_empty() && authz != name {
            return Err(format!("{name} may not act as {authz}"));
        }
        if !(self.verify)(&name, &password) {
            return Err("wrong name or password".into());
        }
        self.user = Some(name);
        Ok(SaslServerStep::Done(None))
    }
}

impl<F> SaslServer for PlainSasl<F>
where
    F: Fn(&str, &str) -> bool + Send + 'static,
{
    fn mechanisms(&self) -> String {
        "PLAIN".into()
    }

    fn start(
        &mut self,
        mechanism: &str,
        response: Option<&[u8]>,
    ) -> Result<SaslServerStep, String> {
        if mechanism != "PLAIN" {
            return Err(format!("mechanism {mechanism} is not offered"));
        }
        match response {
            Some(message) => self.check(message),
            // No initial response: an empty challenge asks for it.
            None => Ok(SaslServerStep::Continue(Some(Vec::new()))),
        }
    }

    fn step(&mut self, response: Option<&[u8]>) -> Result<SaslServerStep, String> {
        self.check(response.unwrap_or_default())
    }

    fn identity(&self) -> Option<String> {
        self.user.clone()
    }
}

impl<F> fmt::Debug for PlainSasl<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlainSasl")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain() -> PlainSasl<impl Fn(&str, &str) -> bool + Send + 'static> {
        PlainSasl::new(|name: &str, password: &str| name == "alice" && password == "secret")
    }

    #[test]
    fn plain_takes_the_right_name_and_password_only() {
        let mut p = plain();
        assert_eq!(
            p.start("PLAIN", Some(b"\0alice\0secret")),
            Ok(SaslServerStep::Done(None))
        );
        assert_eq!(p.identity().as_deref(), Some("alice"));
        // Acting as oneself by name is the same.
        assert!(plain()
            .start("PLAIN", Some(b"alice\0alice\0secret"))
            .is_ok());

        let refused = |m: &[u8]| plain().start("PLAIN", Some(m)).unwrap_err();
        assert!(refused(b"\0alice\0wrong").contains("wrong name or password"));
        assert!(refused(b"\0bob\0secret").contains("wrong name or password"));
        assert!(refused(b"root\0alice\0secret").contains("may not act as root"));
        assert!(refused(b"\0alice").contains("three fields"));
        assert!(refused(b"\0alice\0secret\0more").contains("three fields"));
        assert!(refused(b"\0\0secret").contains("not empty"));
        assert!(refused(b"\0alice\0").contains("not empty"));
        assert!(refused(b"\0al\xffce\0secret").contains("UTF-8"));
        let mut p = plain();
        assert!(p.start("PLAIN", Some(b"\0alice\0wrong")).is_err());
        assert_eq!(p.identity(), None);
        assert!(plain()
            .start("SCRAM-SHA-256", Some(b"n,,n=alice,r=x"))
            .is_err());
    }

    #[test]
    fn plain_without_an_initial_response_asks_for_it() {
        let mut p = plain();
        assert_eq!(
            p.start("PLAIN", None),
            Ok(SaslServerStep::Continue(Some(Vec::new())))
        );
        assert_eq!(
            p.step(Some(b"\0alice\0secret")),
            Ok(SaslServerStep::Done(None))
        );
    }
}
