//! What both TLS ends share (features `client` and `server-tls`): where
//! libvirt looks for its certificate files, reading them ([`load`]),
//! libvirt's checks beyond webpki's ([`sanity`]), CA certificates with
//! their dates ([`anchors`]), GnuTLS priority strings ([`priority`]), and
//! just enough DER to read what those need ([`der`]) and to write a
//! certificate's distinguished name as GnuTLS does (`dn`).

pub(crate) mod anchors;
pub(crate) mod der;
#[cfg(feature = "server-tls")]
pub(crate) mod dn;
pub(crate) mod load;
pub(crate) mod priority;
pub(crate) mod sanity;

pub use priority::PriorityError;
pub use sanity::CertificateProblem;

use std::fmt;
use std::path::{Path, PathBuf};

/// libvirt's system folder of CA certificates and revocation lists.
const SYSTEM_CA_DIR: &str = "/etc/pki/CA";
/// libvirt's system folder of certificates.
const SYSTEM_CERT_DIR: &str = "/etc/pki/libvirt";
/// libvirt's system folder of private keys.
const SYSTEM_KEY_DIR: &str = "/etc/pki/libvirt/private";

/// The largest certificate, key or revocation list file read, in bytes:
/// a CA bundle of every public CA is a few hundred KiB.
pub(crate) const MAX_PKI_FILE_SIZE: u64 = 4 << 20;

/// One of the files of a TLS client or server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PkiFile {
    /// The CA certificate(s) the server must chain to (`cacert.pem`).
    CaCertificate,
    /// The CA's revocation list (`cacrl.pem`).
    RevocationList,
    /// The client certificate (`clientcert.pem`).
    ClientCertificate,
    /// The client's private key (`clientkey.pem`).
    ClientKey,
    /// The server certificate (`servercert.pem`).
    ServerCertificate,
    /// The server's private key (`serverkey.pem`).
    ServerKey,
}

impl fmt::Display for PkiFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PkiFile::CaCertificate => "CA certificate",
            PkiFile::RevocationList => "CA revocation list",
            PkiFile::ClientCertificate => "client certificate",
            PkiFile::ClientKey => "client key",
            PkiFile::ServerCertificate => "server certificate",
            PkiFile::ServerKey => "server key",
        })
    }
}

/// Which end's certificate and key are looked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// `clientcert.pem` and `clientkey.pem`.
    #[cfg_attr(not(feature = "client"), allow(dead_code))]
    Client,
    /// `servercert.pem` and `serverkey.pem`.
    #[cfg_attr(not(feature = "server-tls"), allow(dead_code))]
    Server,
}

impl Role {
    fn file_names(self) -> (&'static str, &'static str) {
        match self {
            Role::Client => ("clientcert.pem", "clientkey.pem"),
            Role::Server => ("servercert.pem", "serverkey.pem"),
        }
    }
}

/// The files of one TLS end, as libvirt locates them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PkiFiles {
    /// The CA certificate(s) the peer must chain to.
    pub cacert: PathBuf,
    /// The CA's revocation list, used when it exists.
    pub cacrl: PathBuf,
    /// This end's certificate.
    pub cert: PathBuf,
    /// This end's private key.
    pub key: PathBuf,
}

impl PkiFiles {
    /// `cacert.pem`, `cacrl.pem` and the role's certificate and key in
    /// `dir`.
    pub(crate) fn in_dir(role: Role, dir: &Path) -> PkiFiles {
        let (cert, key) = role.file_names();
        PkiFiles {
            cacert: dir.join("cacert.pem"),
            cacrl: dir.join("cacrl.pem"),
            cert: dir.join(cert),
            key: dir.join(key),
        }
    }

    /// The system folders: `/etc/pki/CA/cacert.pem`,
    /// `/etc/pki/CA/cacrl.pem`, `/etc/pki/libvirt/<role>cert.pem`,
    /// `/etc/pki/libvirt/private/<role>key.pem`.
    pub(crate) fn system(role: Role) -> PkiFiles {
        let (cert, key) = role.file_names();
        PkiFiles {
            cacert: Path::new(SYSTEM_CA_DIR).join("cacert.pem"),
            cacrl: Path::new(SYSTEM_CA_DIR).join("cacrl.pem"),
            cert: Path::new(SYSTEM_CERT_DIR).join(cert),
            key: Path::new(SYSTEM_KEY_DIR).join(key),
        }
    }
}

/// Where libvirt finds a TLS end's files
/// (`virNetTLSContextLocateCredentials`):
///
/// - `pkipath` given: [`PkiFiles::in_dir`] there, whether the files exist
///   or not;
/// - not root, with a home folder: the same names in `HOME/.pki/libvirt`,
///   each of the CA and the revocation list that does not exist there, and
///   the certificate and key unless both exist there, taken from the
///   system folders instead;
/// - otherwise [`PkiFiles::system`].
pub(crate) fn locate(
    role: Role,
    pkipath: Option<&Path>,
    is_root: bool,
    home: Option<&Path>,
    exists: &dyn Fn(&Path) -> bool,
) -> PkiFiles {
    if let Some(dir) = pkipath {
        return PkiFiles::in_dir(role, dir);
    }
    let system = PkiFiles::system(role);
    let (false, Some(home)) = (is_root, home) else {
        return system;
    };
    let user = PkiFiles::in_dir(role, &home.join(".pki/libvirt"));
    let pick = |u: PathBuf, s: PathBuf| if exists(&u) { u } else { s };
    let identity = exists(&user.cert) && exists(&user.key);
    PkiFiles {
        cacert: pick(user.cacert, system.cacert),
        cacrl: pick(user.cacrl, system.cacrl),
        cert: if identity { user.cert } else { system.cert },
        key: if identity { user.key } else { system.key },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn located(
        role: Role,
        pkipath: Option<&str>,
        root: bool,
        home: Option<&str>,
        existing: &[&str],
    ) -> PkiFiles {
        let set: HashSet<PathBuf> = existing.iter().map(PathBuf::from).collect();
        locate(
            role,
            pkipath.map(Path::new),
            root,
            home.map(Path::new),
            &|p| set.contains(p),
        )
    }

    fn client(pkipath: Option<&str>, root: bool, home: Option<&str>, e: &[&str]) -> PkiFiles {
        located(Role::Client, pkipath, root, home, e)
    }

    fn files(cacert: &str, cacrl: &str, cert: &str, key: &str) -> PkiFiles {
        PkiFiles {
            cacert: cacert.into(),
            cacrl: cacrl.into(),
            cert: cert.into(),
            key: key.into(),
        }
    }

    const SYSTEM: [&str; 4] = [
        "/etc/pki/CA/cacert.pem",
        "/etc/pki/CA/cacrl.pem",
        "/etc/pki/libvirt/clientcert.pem",
        "/etc/pki/libvirt/private/clientkey.pem",
    ];

    #[test]
    fn pkipath_is_used_whatever_exists() {
        let want = files(
            "/p/cacert.pem",
            "/p/cacrl.pem",
            "/p/clientcert.pem",
            "/p/clientkey.pem",
        );
        assert_eq!(client(Some("/p"), true, Some("/root"), &[]), want);
        assert_eq!(client(Some("/p"), false, Some("/home/a"), &[]), want);
    }

    #[test]
    fn root_uses_the_system_folders() {
        let user = [
            "/root/.pki/libvirt/cacert.pem",
            "/root/.pki/libvirt/clientcert.pem",
            "/root/.pki/libvirt/clientkey.pem",
        ];
        let [a, b, c, d] = SYSTEM;
        assert_eq!(client(None, true, Some("/root"), &user), files(a, b, c, d));
    }

    #[test]
    fn a_user_takes_what_exists_in_the_home_folder() {
        let all = [
            "/home/a/.pki/libvirt/cacert.pem",
            "/home/a/.pki/libvirt/cacrl.pem",
            "/home/a/.pki/libvirt/clientcert.pem",
            "/home/a/.pki/libvirt/clientkey.pem",
        ];
        let [a, b, c, d] = all;
        assert_eq!(
            client(None, false, Some("/home/a"), &all),
            files(a, b, c, d)
        );
    }

    #[test]
    fn a_user_falls_back_file_by_file_and_the_identity_as_a_pair() {
        let [sa, sb, sc, sd] = SYSTEM;
        // Only the CA at home: CA from home, the rest from the system.
        assert_eq!(
            client(
                None,
                false,
                Some("/home/a"),
                &["/home/a/.pki/libvirt/cacert.pem"]
            ),
            files("/home/a/.pki/libvirt/cacert.pem", sb, sc, sd)
        );
        // A certificate without its key at home: both from the system.
        assert_eq!(
            client(
                None,
                false,
                Some("/home/a"),
                &[
                    "/home/a/.pki/libvirt/cacrl.pem",
                    "/home/a/.pki/libvirt/clientcert.pem"
                ]
            ),
            files(sa, "/home/a/.pki/libvirt/cacrl.pem", sc, sd)
        );
        // Nothing at home.
        assert_eq!(
            client(None, false, Some("/home/a"), &[]),
            files(sa, sb, sc, sd)
        );
        // No home folder at all.
        assert_eq!(client(None, false, None, &[]), files(sa, sb, sc, sd));
    }

    #[test]
    fn a_server_looks_for_its_own_certificate_and_key() {
        assert_eq!(
            located(Role::Server, None, true, Some("/root"), &[]),
            files(
                "/etc/pki/CA/cacert.pem",
                "/etc/pki/CA/cacrl.pem",
                "/etc/pki/libvirt/servercert.pem",
                "/etc/pki/libvirt/private/serverkey.pem"
            )
        );
        let home = [
            "/home/a/.pki/libvirt/servercert.pem",
            "/home/a/.pki/libvirt/serverkey.pem",
        ];
        assert_eq!(
            located(Role::Server, None, false, Some("/home/a"), &home),
            files(
                "/etc/pki/CA/cacert.pem",
                "/etc/pki/CA/cacrl.pem",
                home[0],
                home[1]
            )
        );
    }
}
