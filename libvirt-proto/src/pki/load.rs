//! Reading a TLS end's files. Their paths may come from a URI
//! (`pkipath=`) or a configuration, so only regular files of at most
//! [`MAX_PKI_FILE_SIZE`] bytes are read, and every failure names the file.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};

use super::{PkiFile, MAX_PKI_FILE_SIZE};
use crate::local_file::read_regular;

/// Why a file could not be used; each end's error type has a variant
/// for each.
#[derive(Debug)]
pub(crate) enum LoadError {
    /// Missing, not a regular file, or too large.
    Read {
        file: PkiFile,
        path: PathBuf,
        source: Arc<io::Error>,
    },
    /// Not PEM of what it should hold.
    Pem {
        file: PkiFile,
        path: PathBuf,
        source: Arc<pem::Error>,
    },
    /// No certificate or key in it.
    Empty { file: PkiFile, path: PathBuf },
    /// A private key encrypted with a passphrase, which libvirt does not
    /// read either.
    EncryptedKey { file: PkiFile, path: PathBuf },
}

fn read(path: &Path, file: PkiFile) -> Result<Vec<u8>, LoadError> {
    read_regular(path, MAX_PKI_FILE_SIZE).map_err(|e| LoadError::Read {
        file,
        path: path.to_owned(),
        source: Arc::new(e.into_io(MAX_PKI_FILE_SIZE)),
    })
}

fn bad_pem(path: &Path, file: PkiFile) -> impl Fn(pem::Error) -> LoadError + '_ {
    move |e| match e {
        pem::Error::NoItemsFound => LoadError::Empty {
            file,
            path: path.to_owned(),
        },
        e => LoadError::Pem {
            file,
            path: path.to_owned(),
            source: Arc::new(e),
        },
    }
}

/// The certificates of a file, at least one.
pub(crate) fn certificates(
    path: &Path,
    file: PkiFile,
) -> Result<Vec<CertificateDer<'static>>, LoadError> {
    let pem = read(path, file)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(bad_pem(path, file))?;
    if certs.is_empty() {
        return Err(LoadError::Empty {
            file,
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

/// The revocation lists of a file (none is no error: GnuTLS accepts an
/// empty file too).
pub(crate) fn revocation_lists(
    path: &Path,
) -> Result<Vec<CertificateRevocationListDer<'static>>, LoadError> {
    let file = PkiFile::RevocationList;
    let pem = read(path, file)?;
    CertificateRevocationListDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(bad_pem(path, file))
}

/// The private key of a file.
pub(crate) fn private_key(path: &Path, file: PkiFile) -> Result<PrivateKeyDer<'static>, LoadError> {
    let pem = read(path, file)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| {
        // PKCS #8's encrypted form (a section the PEM reader passes
        // over) or OpenSSL's older one (headers it cannot decode).
        let has = |marker: &[u8]| pem.windows(marker.len()).any(|w| w == marker);
        if has(b"-----BEGIN ENCRYPTED PRIVATE KEY-----") || has(b"Proc-Type: 4,ENCRYPTED") {
            LoadError::EncryptedKey {
                file,
                path: path.to_owned(),
            }
        } else {
            bad_pem(path, file)(e)
        }
    })
}
