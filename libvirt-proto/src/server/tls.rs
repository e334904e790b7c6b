//! The server's TLS (feature `server-tls`), set up as libvirtd sets up its
//! TLS listener (rustls with the *ring* provider, TLS 1.2 and 1.3):
//!
//! - Files: the CA, an optional revocation list, the server certificate
//!   (with any intermediates after it) and its key, found as libvirtd
//!   finds them ([`ServerTls::locate`]) or named. libvirtd's sanity check
//!   comes first (it has a setting to skip it; this has not): each CA
//!   certificate must be in date, a CA by its basic constraints and, when
//!   its key usage is critical, allowed to sign certificates; the server
//!   certificate must chain to the CA, be valid for a TLS server now, be
//!   no CA and, when its key usage is critical, allow digital signatures
//!   and key encipherment; and the key must be its key. Otherwise nothing
//!   is served.
//! - Clients are asked for a certificate. After the handshake, as
//!   libvirtd, the server checks it: it must chain to a CA certificate in
//!   date (webpki alone does not look at a CA's dates; GnuTLS does), not
//!   be revoked, be valid now and allowed for a TLS client; and with an
//!   allowed list ([`ServerTls::with_allowed_dn_list`], libvirtd's
//!   `tls_allowed_dn_list`), its distinguished name, written as GnuTLS
//!   writes it (what `virt-pki-query-dn` prints), must match one of the
//!   patterns (`*` any text, `?` any one character). A client that passes
//!   gets one byte, `1`, and is served; any other is disconnected without
//!   a word, as libvirtd disconnects it (`virsh` then says "Unable to read
//!   TLS confirmation").
//! - Without verification ([`ServerTls::with_client_verification`],
//!   libvirtd's `tls_no_verify_certificate`) every client that completes
//!   the handshake is served (its certificate's name is still given only
//!   when the certificate passes the checks).
//! - Protocol versions and ciphers: TLS 1.2 and 1.3 with *ring*'s suites,
//!   or what a GnuTLS priority string leaves
//!   ([`ServerTls::with_priority`], libvirtd's `tls_priority`).
//! - A handshake not done within [`ServerTls::with_handshake_timeout`]
//!   (10 s by default) ends the connection, so clients that never finish
//!   one cannot hold their places.
//!
//! The checks are webpki's, with libvirtd's on top where they differ: a
//! certificate whose extended key usage is marked and does not include
//! TLS client use is refused (libvirtd only warns when that extension is
//! not critical), and one whose key usage is critical must allow digital
//! signatures and key encipherment (as libvirtd).

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::pki::anchors::DatedAnchors;
use crate::pki::load::{self, LoadError};
use crate::pki::priority::{self, PriorityError};
use crate::pki::sanity::{self, CaRefusal, CertificateProblem};
use crate::pki::{self, dn, PkiFile, PkiFiles, Role};

/// The byte that tells the client it was accepted.
const ACCEPTED: u8 = 1;

/// How long a client has for the handshake by default.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A TLS listener's set-up: the server's identity and how clients are
/// checked. Cheap to clone.
#[derive(Clone)]
pub struct ServerTls {
    identity: Arc<Identity>,
    acceptor: TlsAcceptor,
    /// webpki's check of a client's certificate after the handshake,
    /// against the CA certificates in date.
    anchors: Arc<DatedAnchors<dyn ClientCertVerifier>>,
    /// Whether it is made (libvirtd's `tls_no_verify_certificate = 0`).
    verify_clients: bool,
    allowed_dn: Option<Arc<[String]>>,
    handshake_timeout: Duration,
}

impl fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerTls")
            .field("verify_clients", &self.verify_clients)
            .field("allowed_dn", &self.allowed_dn)
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}

/// Why a TLS listener could not be set up: one of its files unreadable or
/// malformed, a certificate libvirtd's sanity check refuses, or a key
/// that is not the certificate's.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ServerTlsError {
    /// A file could not be read (missing, not a regular file, larger than
    /// 4 MiB).
    ReadFile {
        /// Which file.
        file: PkiFile,
        /// Where it was looked for.
        path: PathBuf,
        /// Why it was not read.
        source: Arc<io::Error>,
    },
    /// A file is not PEM of what it should hold.
    InvalidPem {
        /// Which file.
        file: PkiFile,
        /// Where it is.
        path: PathBuf,
        /// What is wrong with it.
        source: Arc<rustls::pki_types::pem::Error>,
    },
    /// A file holds no certificate or key.
    EmptyFile {
        /// Which file.
        file: PkiFile,
        /// Where it is.
        path: PathBuf,
    },
    /// The key is encrypted with a passphrase (libvirtd cannot read such
    /// a key either).
    EncryptedKey {
        /// Which file.
        file: PkiFile,
        /// Where it is.
        path: PathBuf,
    },
    /// A CA certificate could not be parsed.
    InvalidCaCertificate {
        /// The CA file.
        path: PathBuf,
        /// Why.
        source: rustls::Error,
    },
    /// The CA and revocation list could not make a verifier (a list that
    /// does not parse, say).
    InvalidRevocationList {
        /// The revocation list.
        path: PathBuf,
        /// Why.
        source: rustls::server::VerifierBuilderError,
    },
    /// A CA certificate fails libvirtd's sanity check: out of date, not
    /// a CA, or not allowed to sign certificates.
    CaCertificateRefused {
        /// The CA file.
        path: PathBuf,
        /// Which certificate of the file, from 0.
        index: usize,
        /// What is wrong with it.
        problem: CertificateProblem,
    },
    /// The server certificate fails libvirtd's sanity check: it does not
    /// chain to the CA, is not valid now, is not for a TLS server, or its
    /// key usage does not allow what TLS needs.
    ServerCertificateRefused {
        /// The server certificate.
        certificate: PathBuf,
        /// The CA file.
        ca: PathBuf,
        /// Why.
        source: rustls::Error,
    },
    /// The priority string ([`ServerTls::with_priority`]) is not one
    /// GnuTLS would take, or leaves nothing this crate speaks.
    Priority {
        /// The priority string.
        priority: String,
        /// What is wrong with it.
        error: PriorityError,
    },
    /// The server certificate and key do not go together, or rustls
    /// refused them.
    InvalidCertificate {
        /// The server certificate.
        certificate: PathBuf,
        /// Its key.
        key: PathBuf,
        /// Why.
        source: rustls::Error,
    },
}

impl fmt::Display for ServerTlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerTlsError::ReadFile { file, path, .. } => {
                write!(f, "cannot read the {file} {}", path.display())
            }
            ServerTlsError::InvalidPem { file, path, .. } => {
                write!(f, "the {file} {} is not valid PEM", path.display())
            }
            ServerTlsError::EmptyFile { file, path } => {
                write!(f, "the {file} {} holds nothing", path.display())
            }
            ServerTlsError::EncryptedKey { file, path } => write!(
                f,
                "the {file} {} is encrypted with a passphrase",
                path.display()
            ),
            ServerTlsError::CaCertificateRefused {
                path,
                index,
                problem,
            } => write!(
                f,
                "CA certificate {index} of {} is refused: {problem}",
                path.display()
            ),
            ServerTlsError::InvalidCaCertificate { path, .. } => {
                write!(f, "the CA certificate {} is not usable", path.display())
            }
            ServerTlsError::InvalidRevocationList { path, .. } => {
                write!(f, "the CA revocation list {} is not usable", path.display())
            }
            ServerTlsError::ServerCertificateRefused {
                certificate, ca, ..
            } => write!(
                f,
                "the server certificate {} is not a valid server certificate from the CA {}",
                certificate.display(),
                ca.display()
            ),
            ServerTlsError::Priority { priority, error } => {
                write!(f, "tls_priority '{priority}': {error}")
            }
            ServerTlsError::InvalidCertificate {
                certificate, key, ..
            } => write!(
                f,
                "the server certificate {} and key {} cannot be used together",
                certificate.display(),
                key.display()
            ),
        }
    }
}

impl std::error::Error for ServerTlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ServerTlsError::ReadFile { source, .. } => Some(&**source),
            ServerTlsError::InvalidPem { source, .. } => Some(&**source),
            ServerTlsError::InvalidCaCertificate { source, .. }
            | ServerTlsError::ServerCertificateRefused { source, .. }
            | ServerTlsError::InvalidCertificate { source, .. } => Some(source),
            ServerTlsError::InvalidRevocationList { source, .. } => Some(source),
            ServerTlsError::CaCertificateRefused { problem, .. } => Some(problem),
            ServerTlsError::Priority { error, .. } => Some(error),
            ServerTlsError::EmptyFile { .. } | ServerTlsError::EncryptedKey { .. } => None,
        }
    }
}

impl From<LoadError> for ServerTlsError {
    fn from(e: LoadError) -> Self {
        match e {
            LoadError::Read { file, path, source } => {
                ServerTlsError::ReadFile { file, path, source }
            }
            LoadError::Pem { file, path, source } => {
                ServerTlsError::InvalidPem { file, path, source }
            }
            LoadError::Empty { file, path } => ServerTlsError::EmptyFile { file, path },
            LoadError::EncryptedKey { file, path } => ServerTlsError::EncryptedKey { file, path },
        }
    }
}

impl ServerTls {
    /// The files where libvirtd looks for them without a `pkipath`:
    /// for root, `/etc/pki/CA/cacert.pem` (and `cacrl.pem` when it
    /// exists), `/etc/pki/libvirt/servercert.pem` and
    /// `/etc/pki/libvirt/private/serverkey.pem`; for another user, the
    /// same names in `$HOME/.pki/libvirt` where they exist (the
    /// certificate and key as a pair), the system's otherwise. Reads the
    /// files: call it before serving, or off the runtime.
    pub fn locate() -> Result<ServerTls, ServerTlsError> {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let files = pki::locate(
            Role::Server,
            None,
            crate::socket::effective_uid_is_root(),
            home.as_deref(),
            &|p| p.exists(),
        );
        ServerTls::load(&files)
    }

    /// `cacert.pem`, `cacrl.pem` (when it exists), `servercert.pem` and
    /// `serverkey.pem` in `dir`: libvirt's names, as in a client's
    /// `pkipath`.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<ServerTls, ServerTlsError> {
        ServerTls::load(&PkiFiles::in_dir(Role::Server, dir.as_ref()))
    }

    /// These files (libvirtd's `ca_file`, `crl_file`, `cert_file` and
    /// `key_file`).
    pub fn from_files(
        cacert: impl AsRef<Path>,
        cacrl: Option<&Path>,
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<ServerTls, ServerTlsError> {
        let files = PkiFiles {
            cacert: cacert.as_ref().to_owned(),
            cacrl: cacrl.map(Path::to_owned).unwrap_or_default(),
            cert: cert.as_ref().to_owned(),
            key: key.as_ref().to_owned(),
        };
        ServerTls::load(&files)
    }

    /// Whether clients' certificates are checked (the default; libvirtd's
    /// `tls_no_verify_certificate = 0`). Without, every client that
    /// completes the handshake is served, with or without a certificate;
    /// the checks and the allowed list then only decide whether
    /// [`Peer::certificate_dn`](super::Peer::certificate_dn) names it.
    pub fn with_client_verification(mut self, verify: bool) -> Self {
        self.verify_clients = verify;
        self
    }

    /// Serves only clients whose certificate's distinguished name matches
    /// one of `patterns` (libvirtd's `tls_allowed_dn_list`; `*` matches
    /// any text, `?` any one character), such as `"O=Example,CN=*"`. An
    /// empty list lets no client in, as libvirtd's. The name is the one
    /// `virt-pki-query-dn` prints; [`Peer::certificate_dn`](super::Peer::certificate_dn)
    /// gives it to the service.
    pub fn with_allowed_dn_list<I>(mut self, patterns: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.allowed_dn = Some(patterns.into_iter().map(Into::into).collect());
        self
    }

    /// Restricts the protocol versions, ciphers, key exchanges, groups and
    /// signature schemes (the client's and the server's own) to what the
    /// GnuTLS priority string
    /// `priority` leaves (libvirtd's `tls_priority`, such as
    /// `"NORMAL:-VERS-TLS1.3"`), among what rustls speaks: it is read as a
    /// client URI's `tls_priority=`
    /// ([`Params::tls_priority`](crate::uri::Params::tls_priority)). A
    /// string GnuTLS would refuse, or one that leaves nothing usable, is
    /// [`ServerTlsError::Priority`].
    pub fn with_priority(mut self, priority: &str) -> Result<Self, ServerTlsError> {
        self.acceptor = self.identity.acceptor(Some(priority))?;
        Ok(self)
    }

    /// How long a client has to complete the handshake
    /// ([`DEFAULT_HANDSHAKE_TIMEOUT`] unless set; `Duration::ZERO`, which
    /// would refuse every client, is taken as that default).
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = if timeout.is_zero() {
            DEFAULT_HANDSHAKE_TIMEOUT
        } else {
            timeout
        };
        self
    }

    fn load(files: &PkiFiles) -> Result<ServerTls, ServerTlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let cas = load::certificates(&files.cacert, PkiFile::CaCertificate)?;
        let now = UnixTime::now();
        let path = files.cacert.clone();
        let roots = sanity::trust_anchors(&cas, true, now).map_err(|refusal| match refusal {
            CaRefusal::Refused { index, problem } => ServerTlsError::CaCertificateRefused {
                path,
                index,
                problem,
            },
            CaRefusal::Invalid(source) => ServerTlsError::InvalidCaCertificate { path, source },
        })?;
        let roots = Arc::new(roots);
        let crls = if !files.cacrl.as_os_str().is_empty() && files.cacrl.exists() {
            load::revocation_lists(&files.cacrl)?
        } else {
            Vec::new()
        };
        let chain = load::certificates(&files.cert, PkiFile::ServerCertificate)?;
        let key = load::private_key(&files.key, PkiFile::ServerKey)?;
        check_server_certificate(&chain, &roots, &provider, files)?;

        let build = {
            let provider = provider.clone();
            move |roots: Arc<RootCertStore>| {
                let mut builder =
                    WebPkiClientVerifier::builder_with_provider(roots, provider.clone());
                if !crls.is_empty() {
                    // As GnuTLS: a certificate is refused when a list
                    // revokes it, not when no list speaks of it.
                    builder = builder
                        .with_crls(crls.clone())
                        .allow_unknown_revocation_status();
                }
                builder.build()
            }
        };
        // Built once here so that a list that does not parse is an error
        // now, not a refusal of every client later.
        build(roots.clone()).map_err(|source| ServerTlsError::InvalidRevocationList {
            path: files.cacrl.clone(),
            source,
        })?;
        let anchors = Arc::new(DatedAnchors::new(cas, move |roots| build(roots).ok()));
        let identity = Arc::new(Identity {
            chain,
            key,
            hints: roots.subjects(),
            files: files.clone(),
        });
        Ok(ServerTls {
            acceptor: identity.acceptor(None)?,
            identity,
            anchors,
            verify_clients: true,
            allowed_dn: None,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        })
    }

    /// Runs the handshake with a client and checks it; the TLS stream
    /// (with the client told it was accepted) and its certificate's
    /// distinguished name, or `None` when the client is turned away.
    pub(super) async fn accept(
        &self,
        tcp: TcpStream,
    ) -> Option<(TlsStream<TcpStream>, Option<String>)> {
        let admitted = async {
            let mut stream = self.acceptor.accept(tcp).await.ok()?;
            let dn = self.admit(stream.get_ref().1.peer_certificates())?;
            stream.write_all(&[ACCEPTED]).await.ok()?;
            stream.flush().await.ok()?;
            Some((stream, dn))
        };
        tokio::time::timeout(self.handshake_timeout, admitted)
            .await
            .ok()
            .flatten()
    }

    /// Whether a client is let in after the handshake: `Some` with its
    /// certificate's name when the certificate passed every check, `None`
    /// for a client refused.
    fn admit(&self, certs: Option<&[CertificateDer<'static>]>) -> Option<Option<String>> {
        let checked = self.check(certs);
        if self.verify_clients {
            checked.map(Some)
        } else {
            Some(checked)
        }
    }

    /// libvirtd's checks of a client's certificate: its name when it
    /// passes them all.
    fn check(&self, certs: Option<&[CertificateDer<'static>]>) -> Option<String> {
        let (cert, intermediates) = certs?.split_first()?;
        let now = UnixTime::now();
        self.anchors
            .verify(now, |v| v.verify_client_cert(cert, intermediates, now))
            .ok()?;
        sanity::check_end_entity(cert).ok()?;
        // A name GnuTLS cannot write either: libvirtd refuses it.
        let name = dn::distinguished_name(cert)?;
        match &self.allowed_dn {
            Some(patterns) if !patterns.iter().any(|p| pattern_matches(p, &name)) => None,
            _ => Some(name),
        }
    }
}

/// What the server presents and how it asks for a client certificate:
/// enough to make its rustls configuration again with other versions and
/// ciphers.
struct Identity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    /// The CA's name, sent with the request for a client certificate.
    hints: Vec<DistinguishedName>,
    files: PkiFiles,
}

impl Identity {
    /// An acceptor with what `priority` (a GnuTLS priority string) leaves.
    fn acceptor(&self, priority: Option<&str>) -> Result<TlsAcceptor, ServerTlsError> {
        let (versions, provider) =
            priority::provider(priority).map_err(|error| ServerTlsError::Priority {
                priority: priority.unwrap_or_default().to_owned(),
                error,
            })?;
        // The client's handshake signature checked with the schemes the
        // priority string leaves.
        let request = Arc::new(RequestCertificate {
            hints: self.hints.clone(),
            algorithms: provider.signature_verification_algorithms,
        });
        let invalid = |source| ServerTlsError::InvalidCertificate {
            certificate: self.files.cert.clone(),
            key: self.files.key.clone(),
            source,
        };
        // The server's own signature too, with what the string leaves.
        let certified = CertifiedKey::from_der(self.chain.clone(), self.key.clone_key(), &provider)
            .map_err(invalid)?;
        let key = priority::restrict_signing(certified.key.clone(), &provider);
        let certified = CertifiedKey::new(certified.cert, key);
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&versions)
            .map_err(invalid)?
            .with_client_cert_verifier(request)
            .with_cert_resolver(Arc::new(SingleCertAndKey::from(certified)));
        // No TLS 1.3 session tickets: libvirt's clients never resume, and
        // GnuTLS's, reading the acceptance byte, takes a ticket arriving
        // first for a failure ("Unable to read TLS confirmation").
        config.send_tls13_tickets = 0;
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}

/// libvirtd's sanity check of its own certificate: issued by the CA,
/// valid now, for a TLS server, no CA, with a usage that allows TLS.
fn check_server_certificate(
    chain: &[CertificateDer<'static>],
    roots: &RootCertStore,
    provider: &rustls::crypto::CryptoProvider,
    files: &PkiFiles,
) -> Result<(), ServerTlsError> {
    let refused = |source| ServerTlsError::ServerCertificateRefused {
        certificate: files.cert.clone(),
        ca: files.cacert.clone(),
        source,
    };
    let (end, intermediates) = chain
        .split_first()
        .ok_or_else(|| ServerTlsError::EmptyFile {
            file: PkiFile::ServerCertificate,
            path: files.cert.clone(),
        })?;
    let parsed = rustls::server::ParsedCertificate::try_from(end).map_err(refused)?;
    rustls::client::verify_server_cert_signed_by_trust_anchor(
        &parsed,
        roots,
        intermediates,
        UnixTime::now(),
        provider.signature_verification_algorithms.all,
    )
    .map_err(refused)?;
    sanity::check_end_entity(end.as_ref()).map_err(|problem| refused(sanity::as_rustls(problem)))
}

/// What the handshake does with a client's certificate, as GnuTLS with
/// `GNUTLS_CERT_REQUEST`: ask for one (naming the CA), check that the
/// client holds its key, and leave the rest to the check after the
/// handshake, so that a refused client learns it as from libvirtd (the
/// connection closing instead of the `1`).
#[derive(Debug)]
struct RequestCertificate {
    hints: Vec<DistinguishedName>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for RequestCertificate {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// GLib's `g_pattern_match_simple`, which libvirtd matches the allowed
/// list with: `*` matches any text (none included), `?` any one
/// character, everything else itself.
fn pattern_matches(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    // Where the last `*` was, and the text position it has taken up to.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == '?' || c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                // Let the last `*` take one more character.
                Some((sp, st)) => {
                    star = Some((sp, st + 1));
                    pi = sp + 1;
                    ti = st + 1;
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_as_glib_does() {
        let dn = "C=GB,O=Example,CN=client.example.com";
        for (pattern, matches) in [
            ("C=GB,O=Example,CN=client.example.com", true),
            ("C=GB,O=Example,CN=*", true),
            ("*", true),
            ("*CN=client*", true),
            ("C=GB,O=Example,CN=client.example.co?", true),
            ("C=GB,O=Example,CN=client.example.co", false),
            ("C=GB,O=Example,CN=?", false),
            ("C=GB,O=Other,CN=*", false),
            ("", false),
            ("**.com", true),
            ("*.org", false),
        ] {
            assert_eq!(pattern_matches(pattern, dn), matches, "{pattern}");
        }
        assert!(pattern_matches("", ""));
        assert!(pattern_matches("*", ""));
        assert!(!pattern_matches("?", ""));
        // `?` is one character, not one byte.
        assert!(pattern_matches("O=Zo?", "O=Zoë"));
        assert!(!pattern_matches("O=Zo??", "O=Zoë"));
    }

    #[test]
    fn missing_files_are_named() {
        let dir = crate::local_file::TempDir::new("server-tls");
        match ServerTls::from_dir(dir.path()) {
            Err(ServerTlsError::ReadFile {
                file: PkiFile::CaCertificate,
                path,
                ..
            }) => assert_eq!(path, dir.path().join("cacert.pem")),
            other => panic!("{other:?}"),
        }
    }
}
