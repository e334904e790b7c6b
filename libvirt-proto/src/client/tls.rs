//! The `tls` transport: TLS over TCP with rustls (the *ring* provider),
//! set up as libvirt's remote driver sets it up.
//!
//! - Certificates are found where libvirt looks for them (`pki::locate`):
//!   under `pkipath=` when given, in `$HOME/.pki/libvirt` for a user that
//!   is not root (file by file, falling back to the system folders), and
//!   in `/etc/pki` otherwise. The CA is required (unless `no_verify=1`);
//!   the revocation list `cacrl.pem` and the client certificate and key
//!   are used when present.
//! - Before connecting, libvirt's sanity check (skipped with
//!   `no_sanity=1`): each CA certificate must be in date, a CA by its
//!   basic constraints and, when its key usage is critical, allowed to
//!   sign certificates; the client certificate, when there is one, must
//!   chain to the CA, be valid now and for a TLS client, be no CA and,
//!   when its key usage is critical, allow digital signatures and key
//!   encipherment.
//! - The server certificate must chain to a CA certificate in date (as
//!   GnuTLS: webpki alone does not look at a CA's dates) and name the
//!   host (a DNS name or an IP literal). A certificate without a subjectAltName is
//!   matched on its common name, as GnuTLS does. `no_verify=1` accepts any
//!   certificate (the handshake signatures are still checked).
//! - After the handshake the daemon checks the client (its certificate,
//!   `tls_allowed_dn_list`) and sends one byte, `1`, when it accepts it;
//!   otherwise it closes the connection. Anything but that byte is a
//!   refusal.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ResolvesClientCert, WebPkiServerVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{
    CertificateDer, CertificateRevocationListDer, PrivateKeyDer, ServerName, UnixTime,
};
use rustls::server::WebPkiClientVerifier;
use rustls::sign::CertifiedKey;
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::pki::anchors::DatedAnchors;
use crate::pki::load::{self, LoadError};
use crate::pki::priority::{self, PriorityError};
use crate::pki::sanity::{self, CaRefusal, CertificateProblem};
use crate::pki::{self, der, PkiFile, PkiFiles, Role};
use crate::uri::ConnectUri;

/// The byte libvirtd sends once it has accepted the client.
const ACCEPTED: u8 = 1;

/// Why a TLS connection could not be made: its set-up (the files
/// libvirt's client reads, found as [`PkiFile`] says), the handshake
/// (the server's certificate refused, or the handshake itself failed), or
/// the daemon's acceptance of this client afterwards.
///
/// `peer` is the server's address (`host:port`), or the URI's host when
/// the address is unknown.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum TlsError {
    /// The URI's `tls_priority=` is not a priority string GnuTLS would
    /// take, or leaves nothing this client speaks (see
    /// [`Params::tls_priority`](crate::uri::Params::tls_priority)).
    Priority {
        /// The priority string.
        priority: String,
        /// What is wrong with it.
        error: PriorityError,
    },
    /// A file cannot be read; a missing file is a source of kind
    /// [`io::ErrorKind::NotFound`]. The CA is required unless the URI has
    /// `no_verify=1`; the others are read when they exist.
    ReadFile {
        /// Which file.
        file: PkiFile,
        /// Where it was looked for.
        path: PathBuf,
        /// Why it cannot be read.
        source: Arc<io::Error>,
    },
    /// A file is not valid PEM.
    InvalidPem {
        /// Which file.
        file: PkiFile,
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: Arc<rustls::pki_types::pem::Error>,
    },
    /// A file holds nothing of what it should: no certificate in the CA or
    /// client certificate file, no private key in the key file.
    EmptyFile {
        /// Which file.
        file: PkiFile,
        /// The file.
        path: PathBuf,
    },
    /// The key is encrypted with a passphrase (libvirt's client cannot
    /// read such a key either).
    EncryptedKey {
        /// Which file.
        file: PkiFile,
        /// The file.
        path: PathBuf,
    },
    /// A CA certificate fails libvirt's sanity check: out of date, not a
    /// CA, or not allowed to sign certificates (`no_sanity=1` skips the
    /// check).
    CaCertificateRefused {
        /// The CA file.
        path: PathBuf,
        /// Which certificate of the file, from 0.
        index: usize,
        /// What is wrong with it.
        problem: CertificateProblem,
    },
    /// The client certificate fails libvirt's sanity check: it does not
    /// chain to the CA, is not valid now, is not for a TLS client, or its
    /// key usage does not allow what TLS needs (`no_sanity=1` skips the
    /// check).
    ClientCertificateRefused {
        /// The client certificate file.
        certificate: PathBuf,
        /// The CA file.
        ca: PathBuf,
        /// Why.
        source: rustls::Error,
    },
    /// A certificate of the CA file cannot be a trust anchor.
    InvalidCaCertificate {
        /// The CA file.
        path: PathBuf,
        /// Why.
        source: rustls::Error,
    },
    /// The CA and the revocation list do not make a certificate verifier.
    InvalidRevocationList {
        /// The CA file.
        ca: PathBuf,
        /// The revocation list.
        crl: PathBuf,
        /// Why.
        source: rustls::client::VerifierBuilderError,
    },
    /// The client certificate and key cannot be used together.
    InvalidClientCertificate {
        /// The client certificate file.
        certificate: PathBuf,
        /// The key file.
        key: PathBuf,
        /// Why.
        source: rustls::Error,
    },
    /// The URI's host cannot be a TLS server name.
    InvalidServerName {
        /// The host.
        host: String,
    },
    /// rustls refused the configuration.
    Config(rustls::Error),
    /// The server's certificate does not chain to the CA (unknown issuer
    /// or bad signature).
    UnknownIssuer {
        /// The server.
        peer: String,
        /// The CA file.
        ca: PathBuf,
        /// rustls' verdict.
        source: rustls::Error,
    },
    /// The server's certificate does not name the host of the URI (in its
    /// subjectAltName, or its common name when it has none).
    NameMismatch {
        /// The server.
        peer: String,
        /// The host it should name.
        host: String,
        /// rustls' verdict.
        source: rustls::Error,
    },
    /// The revocation list revokes the server's certificate.
    Revoked {
        /// The server.
        peer: String,
        /// The revocation list.
        crl: PathBuf,
        /// rustls' verdict.
        source: rustls::Error,
    },
    /// The server's certificate was refused for another reason (expired,
    /// not valid yet, unsupported, ...): the source says which.
    CertificateRefused {
        /// The server.
        peer: String,
        /// rustls' verdict.
        source: rustls::Error,
    },
    /// The handshake failed otherwise: an alert from the server (which
    /// may have refused this client's certificate), no protocol version
    /// or cipher suite in common, a malformed message.
    Handshake {
        /// The server.
        peer: String,
        /// rustls' error.
        source: rustls::Error,
    },
    /// The connection broke during the handshake.
    HandshakeIo {
        /// The server.
        peer: String,
        /// The transport's error.
        source: Arc<io::Error>,
    },
    /// After the handshake the daemon did not accept this client (its
    /// certificate, or its address: libvirtd's `tls_allowed_dn_list`,
    /// `tls_no_verify_certificate`): it answered something else than its
    /// accept byte, or closed the connection.
    ClientRefused {
        /// The server.
        peer: String,
        /// The byte it answered instead of 1; `None` when it closed the
        /// connection (or reading its answer failed: the source).
        answer: Option<u8>,
        /// The client certificate file.
        certificate: PathBuf,
        /// The client key file.
        key: PathBuf,
        /// What became of the client certificate in the handshake.
        client_certificate: ClientCertificate,
        /// Why reading the answer failed, if it did.
        source: Option<Arc<io::Error>>,
    },
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::ReadFile { file, path, .. } => {
                write!(f, "cannot read the {file} {}", path.display())
            }
            TlsError::InvalidPem { file, path, .. } => {
                write!(f, "invalid {file} {}", path.display())
            }
            TlsError::EmptyFile {
                file: PkiFile::ClientKey,
                path,
            } => write!(
                f,
                "no private key in {} (an unencrypted PKCS#8, PKCS#1 or SEC1 PEM key is needed)",
                path.display()
            ),
            TlsError::EmptyFile {
                file: PkiFile::CaCertificate,
                path,
            } => write!(f, "no certificate in the CA file {}", path.display()),
            TlsError::EmptyFile { file, path } => {
                write!(f, "no certificate in the {file} file {}", path.display())
            }
            TlsError::EncryptedKey { file, path } => write!(
                f,
                "the {file} {} is encrypted with a passphrase",
                path.display()
            ),
            TlsError::CaCertificateRefused {
                path,
                index,
                problem,
            } => write!(
                f,
                "CA certificate {index} of {} is refused: {problem} (no_sanity=1 skips this check)",
                path.display()
            ),
            TlsError::ClientCertificateRefused {
                certificate, ca, ..
            } => write!(
                f,
                "the client certificate {} is not a valid client certificate from the CA {} \
                 (no_sanity=1 skips this check)",
                certificate.display(),
                ca.display()
            ),
            TlsError::InvalidCaCertificate { path, .. } => {
                write!(f, "unusable CA certificate in {}", path.display())
            }
            TlsError::InvalidRevocationList { ca, crl, .. } => write!(
                f,
                "cannot use the CA {} and revocation list {}",
                ca.display(),
                crl.display()
            ),
            TlsError::InvalidClientCertificate {
                certificate, key, ..
            } => write!(
                f,
                "unusable client certificate {} with key {}",
                certificate.display(),
                key.display()
            ),
            TlsError::InvalidServerName { host } => {
                write!(f, "'{host}' is not a valid TLS server name")
            }
            TlsError::Config(_) => f.write_str("cannot configure TLS"),
            TlsError::Priority { priority, error } => {
                write!(f, "tls_priority '{priority}': {error}")
            }
            TlsError::UnknownIssuer { peer, ca, .. } => write!(
                f,
                "TLS handshake with {peer} failed: the server certificate is not signed by the \
                 CA in {}",
                ca.display()
            ),
            TlsError::NameMismatch { peer, host, .. } => write!(
                f,
                "TLS handshake with {peer} failed: the server certificate is not valid for \
                 '{host}'"
            ),
            TlsError::Revoked { peer, crl, .. } => write!(
                f,
                "TLS handshake with {peer} failed: the server certificate is revoked by {}",
                crl.display()
            ),
            TlsError::CertificateRefused { peer, .. } => write!(
                f,
                "TLS handshake with {peer} failed: the server certificate was refused"
            ),
            TlsError::Handshake { peer, .. } => write!(f, "TLS handshake with {peer} failed"),
            TlsError::HandshakeIo { peer, .. } => {
                write!(f, "TLS handshake with {peer} failed: the connection broke")
            }
            TlsError::ClientRefused {
                peer,
                answer,
                certificate,
                key,
                client_certificate,
                ..
            } => {
                write!(
                    f,
                    "the server {peer} refused this client after the handshake ("
                )?;
                match answer {
                    Some(b) => write!(f, "it answered {b} instead of {ACCEPTED}")?,
                    None => f.write_str("it closed the connection")?,
                }
                f.write_str("): it did not accept the client certificate or address (")?;
                let certificate = certificate.display();
                match client_certificate {
                    ClientCertificate::Sent => {
                        write!(f, "the client certificate {certificate})")
                    }
                    ClientCertificate::NotRequested => write!(
                        f,
                        "the client certificate {certificate} was not sent: the server did \
                         not ask for one)"
                    ),
                    ClientCertificate::NoSignatureScheme => write!(
                        f,
                        "the client certificate {certificate} was not sent: the server asked \
                         for no signature scheme its key makes and tls_priority allows)"
                    ),
                    ClientCertificate::NotFound => write!(
                        f,
                        "no client certificate was sent: {certificate} and {} not both found)",
                        key.display()
                    ),
                }
            }
        }
    }
}

/// I/O and PEM errors are shared in an `Arc`; the source is the error
/// itself, not its `Arc` (`downcast_ref::<io::Error>()` finds it).
impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TlsError::ReadFile { source, .. } | TlsError::HandshakeIo { source, .. } => {
                Some(&**source)
            }
            TlsError::ClientRefused { source, .. } => source
                .as_deref()
                .map(|e| e as &(dyn std::error::Error + 'static)),
            TlsError::InvalidPem { source, .. } => Some(&**source),
            TlsError::InvalidCaCertificate { source, .. }
            | TlsError::InvalidClientCertificate { source, .. }
            | TlsError::ClientCertificateRefused { source, .. }
            | TlsError::UnknownIssuer { source, .. }
            | TlsError::NameMismatch { source, .. }
            | TlsError::Revoked { source, .. }
            | TlsError::CertificateRefused { source, .. }
            | TlsError::Handshake { source, .. } => Some(source),
            TlsError::Config(source) => Some(source),
            TlsError::InvalidRevocationList { source, .. } => Some(source),
            TlsError::CaCertificateRefused { problem, .. } => Some(problem),
            TlsError::Priority { error, .. } => Some(error),
            TlsError::EmptyFile { .. }
            | TlsError::EncryptedKey { .. }
            | TlsError::InvalidServerName { .. } => None,
        }
    }
}

impl From<LoadError> for TlsError {
    fn from(e: LoadError) -> Self {
        match e {
            LoadError::Read { file, path, source } => TlsError::ReadFile { file, path, source },
            LoadError::Pem { file, path, source } => TlsError::InvalidPem { file, path, source },
            LoadError::Empty { file, path } => TlsError::EmptyFile { file, path },
            LoadError::EncryptedKey { file, path } => TlsError::EncryptedKey { file, path },
        }
    }
}

/// Runs the TLS handshake over `tcp` for `uri` and waits for the daemon to
/// accept the client.
pub(crate) async fn connect(
    tcp: TcpStream,
    uri: &ConnectUri,
) -> Result<TlsStream<TcpStream>, TlsError> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let files = pki::locate(
        Role::Client,
        uri.params.pkipath.as_deref().map(Path::new),
        crate::socket::effective_uid_is_root(),
        home.as_deref(),
        &|p| p.exists(),
    );
    let no_verify = uri.params.no_verify;
    let sanity_check = !uri.params.no_sanity;
    let priority = uri.params.tls_priority.as_deref();
    let (versions, provider) =
        priority::provider(priority).map_err(|error| TlsError::Priority {
            priority: priority.unwrap_or_default().to_owned(),
            error,
        })?;
    // File I/O, off the runtime: the connect timeout stays in force.
    let cacert = files.cacert.clone();
    let loaded = tokio::task::spawn_blocking(move || {
        Credentials::load(&files, no_verify, sanity_check).map(|creds| (creds, files))
    })
    .await;
    let (creds, files) = match loaded {
        Ok(loaded) => loaded?,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // Cancelled: the runtime is shutting down.
        Err(e) => {
            return Err(TlsError::ReadFile {
                file: PkiFile::CaCertificate,
                path: cacert,
                source: Arc::new(io::Error::other(format!(
                    "reading the TLS files was cancelled: {e}"
                ))),
            })
        }
    };

    let host = uri.host.as_deref().unwrap_or("localhost");
    let server_name =
        ServerName::try_from(host.to_owned()).map_err(|_| TlsError::InvalidServerName {
            host: host.to_owned(),
        })?;
    let (config, own) = client_config(creds, &files, no_verify, &versions, provider)?;
    let peer = tcp
        .peer_addr()
        .map_or_else(|_| host.to_owned(), |a| a.to_string());

    let mut stream = TlsConnector::from(Arc::new(config))
        .connect(server_name, tcp)
        .await
        .map_err(|e| handshake_error(e, &peer, host, &files))?;

    // The daemon now checks our certificate and address, and sends one
    // byte if it accepts them; otherwise it closes the connection.
    let mut status = [0u8; 1];
    let client_certificate = own.map_or(ClientCertificate::NotFound, |own| own.outcome());
    let (answer, source) = match stream.read(&mut status).await {
        Ok(1) if status[0] == ACCEPTED => return Ok(stream),
        Ok(1) => (Some(status[0]), None),
        Ok(_) => (None, None),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => (None, None),
        Err(e) => (None, Some(Arc::new(e))),
    };
    Err(TlsError::ClientRefused {
        peer,
        answer,
        certificate: files.cert,
        key: files.key,
        client_certificate,
        source,
    })
}

/// The CA, revocation lists and client identity, read from their files.
struct Credentials {
    cas: Vec<CertificateDer<'static>>,
    /// `cas` as trust anchors.
    roots: RootCertStore,
    crls: Vec<CertificateRevocationListDer<'static>>,
    identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
}

impl Credentials {
    /// Reads the files libvirt would read: the CA must exist (unless the
    /// server is not verified), the revocation list and the client
    /// certificate and key are optional, and whatever exists must parse
    /// and, with `sanity_check`, pass libvirt's sanity check.
    fn load(
        files: &PkiFiles,
        no_verify: bool,
        sanity_check: bool,
    ) -> Result<Credentials, TlsError> {
        let now = UnixTime::now();
        let mut cas = Vec::new();
        if !no_verify || files.cacert.exists() {
            match load::certificates(&files.cacert, PkiFile::CaCertificate) {
                Ok(found) => cas = found,
                Err(LoadError::Empty { .. }) if no_verify => {}
                Err(e) => return Err(e.into()),
            }
        }
        let path = files.cacert.clone();
        let roots =
            sanity::trust_anchors(&cas, sanity_check, now).map_err(|refusal| match refusal {
                CaRefusal::Refused { index, problem } => TlsError::CaCertificateRefused {
                    path,
                    index,
                    problem,
                },
                CaRefusal::Invalid(source) => TlsError::InvalidCaCertificate { path, source },
            })?;

        let crls = if !no_verify && files.cacrl.exists() {
            load::revocation_lists(&files.cacrl)?
        } else {
            Vec::new()
        };

        let identity = if files.cert.exists() && files.key.exists() {
            let chain = load::certificates(&files.cert, PkiFile::ClientCertificate)?;
            let key = load::private_key(&files.key, PkiFile::ClientKey)?;
            if sanity_check {
                check_client_certificate(&chain, roots.clone(), now).map_err(|source| {
                    TlsError::ClientCertificateRefused {
                        certificate: files.cert.clone(),
                        ca: files.cacert.clone(),
                        source,
                    }
                })?;
            }
            Some((chain, key))
        } else {
            None
        };

        Ok(Credentials {
            cas,
            roots,
            crls,
            identity,
        })
    }
}

/// libvirt's sanity check of the client's own certificate: issued by the
/// CA (when there is one), valid now, for a TLS client, no CA, with a
/// usage that allows TLS.
fn check_client_certificate(
    chain: &[CertificateDer<'static>],
    roots: RootCertStore,
    now: UnixTime,
) -> Result<(), rustls::Error> {
    let (end, intermediates) = chain
        .split_first()
        .ok_or(rustls::Error::NoCertificatesPresented)?;
    if roots.is_empty() {
        // No CA to check it against (`no_verify=1`): its dates at least.
        sanity::check_dates(end.as_ref(), now).map_err(sanity::as_rustls)?;
    } else {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| rustls::Error::General(e.to_string()))?
            .verify_client_cert(end, intermediates, now)?;
    }
    sanity::check_end_entity(end.as_ref()).map_err(sanity::as_rustls)
}

/// The rustls configuration: `versions` (of TLS 1.2 and 1.3) with
/// `provider` (*ring*, its suites, groups and signature schemes as `tls_priority=` leaves
/// them), our verifier, and the client certificate when there is one
/// (returned too, to tell whether it was sent).
fn client_config(
    creds: Credentials,
    files: &PkiFiles,
    no_verify: bool,
    versions: &[&'static rustls::SupportedProtocolVersion],
    provider: Arc<rustls::crypto::CryptoProvider>,
) -> Result<(rustls::ClientConfig, Option<Arc<OwnCertificate>>), TlsError> {
    let algorithms = provider.signature_verification_algorithms;
    let webpki = if no_verify {
        None
    } else {
        let roots = creds.roots;
        let crls = creds.crls;
        let provider = provider.clone();
        let build = move |roots: Arc<RootCertStore>| {
            let mut builder = WebPkiServerVerifier::builder_with_provider(roots, provider.clone());
            if !crls.is_empty() {
                // As GnuTLS: a certificate is refused when a list revokes
                // it, not when no list speaks of it.
                builder = builder
                    .with_crls(crls.clone())
                    .allow_unknown_revocation_status();
            }
            builder.build()
        };
        // Built once here so that a list that does not parse is an error
        // of its own, not a refused server.
        build(Arc::new(roots)).map_err(|source| TlsError::InvalidRevocationList {
            ca: files.cacert.clone(),
            crl: files.cacrl.clone(),
            source,
        })?;
        Some(DatedAnchors::new(creds.cas, move |roots| build(roots).ok()))
    };
    let verifier = Arc::new(LibvirtVerifier { webpki, algorithms });
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map_err(TlsError::Config)?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    match creds.identity {
        Some((chain, key)) => {
            let certified = CertifiedKey::from_der(chain, key, builder.crypto_provider()).map_err(
                |source| TlsError::InvalidClientCertificate {
                    certificate: files.cert.clone(),
                    key: files.key.clone(),
                    source,
                },
            )?;
            // It signs only with what `tls_priority=` leaves.
            let key = priority::restrict_signing(certified.key.clone(), builder.crypto_provider());
            let own = Arc::new(OwnCertificate {
                certified: Arc::new(CertifiedKey::new(certified.cert, key)),
                asked: AtomicBool::new(false),
                signed: AtomicBool::new(false),
            });
            Ok((builder.with_client_cert_resolver(own.clone()), Some(own)))
        }
        None => Ok((builder.with_no_client_auth(), None)),
    }
}

/// What became of the client certificate in a handshake
/// ([`TlsError::ClientRefused`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientCertificate {
    /// It was sent.
    Sent,
    /// The certificate and its key were not both found.
    NotFound,
    /// The server did not ask for one.
    NotRequested,
    /// The server asked for none of the signature schemes its key makes
    /// and the URI's `tls_priority=` allows (the server's own priority
    /// string may leave few), so none was sent.
    NoSignatureScheme,
}

/// The client certificate, given whenever the server asks, remembering
/// whether it was asked for and sent: rustls sends none when the server's
/// signature schemes include none the key makes.
#[derive(Debug)]
struct OwnCertificate {
    certified: Arc<CertifiedKey>,
    /// The server asked for a certificate.
    asked: AtomicBool,
    /// ... with a signature scheme the key makes.
    signed: AtomicBool,
}

impl OwnCertificate {
    /// What became of the certificate in the handshake.
    fn outcome(&self) -> ClientCertificate {
        match (
            self.asked.load(Ordering::Relaxed),
            self.signed.load(Ordering::Relaxed),
        ) {
            (false, _) => ClientCertificate::NotRequested,
            (true, false) => ClientCertificate::NoSignatureScheme,
            (true, true) => ClientCertificate::Sent,
        }
    }
}

impl ResolvesClientCert for OwnCertificate {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        let signs = self.certified.key.choose_scheme(sigschemes).is_some();
        self.asked.store(true, Ordering::Relaxed);
        self.signed.store(signs, Ordering::Relaxed);
        Some(self.certified.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// The handshake's failure, named: the certificate verdicts libvirt's
/// users meet (unknown CA, wrong name, revoked) have variants of their own.
fn handshake_error(e: io::Error, peer: &str, host: &str, files: &PkiFiles) -> TlsError {
    let peer = peer.to_owned();
    let tls = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .cloned();
    let Some(source) = tls else {
        return TlsError::HandshakeIo {
            peer,
            source: Arc::new(e),
        };
    };
    let rustls::Error::InvalidCertificate(c) = &source else {
        return TlsError::Handshake { peer, source };
    };
    match c {
        CertificateError::UnknownIssuer | CertificateError::BadSignature => {
            TlsError::UnknownIssuer {
                peer,
                ca: files.cacert.clone(),
                source,
            }
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            TlsError::NameMismatch {
                peer,
                host: host.to_owned(),
                source,
            }
        }
        CertificateError::Revoked => TlsError::Revoked {
            peer,
            crl: files.cacrl.clone(),
            source,
        },
        _ => TlsError::CertificateRefused { peer, source },
    }
}

/// Verifies the server as libvirt does: webpki's chain, validity and name
/// checks, with GnuTLS's common-name fallback for certificates that have
/// no subjectAltName; or nothing but the handshake signatures when
/// `no_verify=1` (`webpki` is `None`).
struct LibvirtVerifier {
    webpki: Option<DatedAnchors<WebPkiServerVerifier>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl fmt::Debug for LibvirtVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LibvirtVerifier")
            .field("verify", &self.webpki.is_some())
            .finish()
    }
}

impl ServerCertVerifier for LibvirtVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(webpki) = &self.webpki else {
            return Ok(ServerCertVerified::assertion());
        };
        let verified = webpki.verify(now, |v| {
            v.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        });
        match verified {
            // webpki checks the chain, validity and revocation before the
            // name, so a name mismatch means everything else passed.
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if common_name_matches(end_entity, server_name) => {
                Ok(ServerCertVerified::assertion())
            }
            other => other,
        }
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

/// Whether a certificate without a subjectAltName extension has a common
/// name matching the DNS name `server_name` (ASCII case-insensitively,
/// `*.` matching one leftmost label) and is its only one, the GnuTLS
/// fallback libvirt's
/// server certificates made from a `cn`-only template rely on. IP
/// addresses are matched through subjectAltName only.
fn common_name_matches(cert: &CertificateDer<'_>, server_name: &ServerName<'_>) -> bool {
    let ServerName::DnsName(name) = server_name else {
        return false;
    };
    let Some(subject) = der::subject_without_san(cert.as_ref()) else {
        return false;
    };
    // Only a single common name, as GnuTLS requires (RFC 6125, 1.8): with
    // two, which one names the server is anybody's guess.
    let mut names = der::common_names(subject);
    match (names.next(), names.next()) {
        (Some(cn), None) => hostname_matches(cn, name.as_ref()),
        _ => false,
    }
}

fn hostname_matches(pattern: &[u8], host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host).as_bytes();
    let pattern = pattern.strip_suffix(b".").unwrap_or(pattern);
    if let Some(rest) = pattern.strip_prefix(b"*.") {
        // The wildcard stands for exactly one non-empty label, and the
        // rest must have at least two labels.
        let Some(dot) = host.iter().position(|&b| b == b'.') else {
            return false;
        };
        return dot > 0 && rest.contains(&b'.') && host[dot + 1..].eq_ignore_ascii_case(rest);
    }
    !pattern.is_empty() && pattern.eq_ignore_ascii_case(host)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::MAX_PKI_FILE_SIZE;
    use rustls::pki_types::pem::PemObject;

    fn files(cacert: &str, cacrl: &str, cert: &str, key: &str) -> PkiFiles {
        PkiFiles {
            cacert: cacert.into(),
            cacrl: cacrl.into(),
            cert: cert.into(),
            key: key.into(),
        }
    }

    #[test]
    fn common_name_wildcards_and_case() {
        assert!(hostname_matches(b"Host.Example.org", "host.example.org"));
        assert!(hostname_matches(b"host.example.org.", "host.example.org"));
        assert!(hostname_matches(b"*.example.org", "a.example.org"));
        assert!(!hostname_matches(b"*.example.org", "a.b.example.org"));
        assert!(!hostname_matches(b"*.example.org", "example.org"));
        assert!(!hostname_matches(b"*.org", "example.org"));
        assert!(!hostname_matches(b"other.example.org", "host.example.org"));
        assert!(!hostname_matches(b"", "host"));
    }

    /// `openssl req -x509 -subj /O=lvp/CN=host.example` (no SAN), and the
    /// same with `subjectAltName=DNS:other.example`.
    const NO_SAN: &str = "-----BEGIN CERTIFICATE-----
MIIBejCCASGgAwIBAgIUQ89SwWNqBQ1il0QhUz4uJAZUwAMwCgYIKoZIzj0EAwIw
JTEMMAoGA1UECgwDbHZwMRUwEwYDVQQDDAxob3N0LmV4YW1wbGUwHhcNMjYxMTIx
MjM0MDEwWhcNMzYxMTE4MjM0MDEwWjAlMQwwCgYDVQQKDANsdnAxFTATBgNVBAMM
DGhvc3QuZXhhbXBsZTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABPkJx180bW0x
1HhC809FvpC08Vo2hqOJMoCSCXFb6PxgOHLhvsQVjOa1c22mJ5G6V9Q/RguN5svV
lZOHSguAV06jLzAtMAwGA1UdEwEB/wQCMAAwHQYDVR0OBBYEFE+eyQAQAp5GC6RD
sjaPnfC8WfrvMAoGCCqGSM49BAMCA0cAMEQCIEU882N4GYa7gpbKVaetnapHEiLK
/mg0gbp6DA5NHo2pAiBf0PB/adL5CEj2ZEYMlh3svqh5vkAw/AhTCKhA739d5Q==
-----END CERTIFICATE-----";

    const WITH_SAN: &str = "-----BEGIN CERTIFICATE-----
MIIBljCCATugAwIBAgIUCZwgAQO3x0ppVQ73mdSbfuk4qhEwCgYIKoZIzj0EAwIw
JTEMMAoGA1UECgwDbHZwMRUwEwYDVQQDDAxob3N0LmV4YW1wbGUwHhcNMjYxMTIx
MjM0MDEwWhcNMzYxMTE4MjM0MDEwWjAlMQwwCgYDVQQKDANsdnAxFTATBgNVBAMM
DGhvc3QuZXhhbXBsZTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABPkJx180bW0x
1HhC809FvpC08Vo2hqOJMoCSCXFb6PxgOHLhvsQVjOa1c22mJ5G6V9Q/RguN5svV
lZOHSguAV06jSTBHMAwGA1UdEwEB/wQCMAAwGAYDVR0RBBEwD4INb3RoZXIuZXhh
bXBsZTAdBgNVHQ4EFgQUT57JABACnkYLpEOyNo+d8LxZ+u8wCgYIKoZIzj0EAwID
SQAwRgIhALw3s8WVNAbiNfDsi5yWiQrAbgkGYCztumVY9xZTMII6AiEAlLRN2t7Z
4B1XziHLdjWFMYEtxORtcIwIv846Ujx29P8=
-----END CERTIFICATE-----";

    /// No subjectAltName and two common names: `other.example`, then
    /// `host.example`.
    const TWO_CNS: &str = "-----BEGIN CERTIFICATE-----
MIIBzzCCAXWgAwIBAgIUbGah/P/NK1lfhsZDdMhABYOo9x0wCgYIKoZIzj0EAwIw
PTEMMAoGA1UECgwDbHZwMRYwFAYDVQQDDA1vdGhlci5leGFtcGxlMRUwEwYDVQQD
DAxob3N0LmV4YW1wbGUwHhcNMjYxMjAxMDQ1NzUzWhcNMzYxMTI4MDQ1NzUzWjA9
MQwwCgYDVQQKDANsdnAxFjAUBgNVBAMMDW90aGVyLmV4YW1wbGUxFTATBgNVBAMM
DGhvc3QuZXhhbXBsZTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABF1/xivOV3SZ
ygUi87At9dbpUcHIyVODWB16pNR8QZXojTmic6hPBV1mTyg6wi05yeVf6LUvbVs+
k0aK81Cff2ijUzBRMB0GA1UdDgQWBBRr4NRQ7Ld3f+EZE+dteYvjx9Z/BDAfBgNV
HSMEGDAWgBRr4NRQ7Ld3f+EZE+dteYvjx9Z/BDAPBgNVHRMBAf8EBTADAQH/MAoG
CCqGSM49BAMCA0gAMEUCIGZrAGA/3Ns/5ESPyUHIa+5BMX/OkdZmAMX1HGJJv2Eg
AiEA50a1dliGn81S3q1Lmys5q1UdY783aUX1zw8bf7sQHF4=
-----END CERTIFICATE-----";

    fn cert(pem: &str) -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
    }

    fn dns(name: &str) -> ServerName<'static> {
        ServerName::try_from(name.to_owned()).unwrap()
    }

    #[test]
    fn common_name_fallback_only_without_san() {
        let no_san = cert(NO_SAN);
        assert!(common_name_matches(&no_san, &dns("host.example")));
        assert!(common_name_matches(&no_san, &dns("HOST.example")));
        assert!(!common_name_matches(&no_san, &dns("lvp")));
        assert!(!common_name_matches(&no_san, &dns("other.example")));
        assert!(!common_name_matches(&no_san, &dns("127.0.0.1")));
        let with_san = cert(WITH_SAN);
        assert!(!common_name_matches(&with_san, &dns("host.example")));
        // Two common names: neither is taken, as GnuTLS takes neither.
        let two = cert(TWO_CNS);
        assert!(!common_name_matches(&two, &dns("host.example")));
        assert!(!common_name_matches(&two, &dns("other.example")));
    }

    #[test]
    fn a_ca_file_that_is_a_device_or_too_large_is_refused_unread() {
        let dir = crate::local_file::TempDir::new("pki");
        let cacert = dir.path().join("cacert.pem");
        let files = files(
            cacert.to_str().unwrap(),
            "/nonexistent/cacrl.pem",
            "/nonexistent/clientcert.pem",
            "/nonexistent/clientkey.pem",
        );
        let refused = |files: &PkiFiles| match Credentials::load(files, false, true) {
            Err(TlsError::ReadFile {
                file: PkiFile::CaCertificate,
                source,
                ..
            }) => source.kind(),
            Err(e) => panic!("{e:?}"),
            Ok(_) => panic!("read"),
        };
        // Endless: never read.
        std::os::unix::fs::symlink("/dev/zero", &cacert).unwrap();
        assert_eq!(refused(&files), io::ErrorKind::InvalidInput);
        // Larger than any certificate bundle (sparse: no space taken).
        std::fs::remove_file(&cacert).unwrap();
        let big = std::fs::File::create(&cacert).unwrap();
        big.set_len(MAX_PKI_FILE_SIZE + 1).unwrap();
        assert_eq!(refused(&files), io::ErrorKind::FileTooLarge);
    }

    #[test]
    fn truncated_or_garbage_certificates_never_match() {
        let der = cert(NO_SAN).as_ref().to_vec();
        for n in 0..der.len() {
            let c = CertificateDer::from(der[..n].to_vec());
            assert!(!common_name_matches(&c, &dns("host.example")));
        }
        for b in [0x00u8, 0x30, 0x80, 0xff] {
            let c = CertificateDer::from(vec![0x30, 0x84, b, b, b, b, 0x30]);
            assert!(!common_name_matches(&c, &dns("host.example")));
        }
    }
}

/// Entry points for the fuzz targets (feature `fuzzing`); not an API.
#[cfg(feature = "fuzzing")]
pub(crate) mod fuzzing {
    use super::*;

    /// The common names of a certificate without subjectAltName, as
    /// `common_name_matches` reads them; `None` when it has one or the
    /// DER is not walkable.
    pub(crate) fn subject_common_names(cert: &[u8]) -> Option<Vec<Vec<u8>>> {
        der::subject_without_san(cert).map(|s| der::common_names(s).map(<[u8]>::to_vec).collect())
    }

    /// `common_name_matches` for a DNS or IP `host`; `None` when `host`
    /// is not a server name.
    pub(crate) fn common_name_matches(cert: &[u8], host: &str) -> Option<bool> {
        let name = ServerName::try_from(host.to_owned()).ok()?;
        Some(super::common_name_matches(
            &CertificateDer::from(cert.to_vec()),
            &name,
        ))
    }

    /// `hostname_matches`.
    pub(crate) fn hostname_matches(pattern: &[u8], host: &str) -> bool {
        super::hostname_matches(pattern, host)
    }

    /// Reads the files of `pkipath` as [`connect`] does and builds the
    /// rustls configuration; whether a client identity was found.
    pub(crate) fn load(pkipath: &Path, no_verify: bool) -> Result<bool, TlsError> {
        let files = PkiFiles::in_dir(Role::Client, pkipath);
        let creds = Credentials::load(&files, no_verify, true)?;
        let identity = creds.identity.is_some();
        client_config(
            creds,
            &files,
            no_verify,
            rustls::ALL_VERSIONS,
            Arc::new(rustls::crypto::ring::default_provider()),
        )?;
        Ok(identity)
    }
}
