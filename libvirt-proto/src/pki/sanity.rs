//! libvirt's checks of certificates beyond webpki's: the sanity check of
//! an end's own files before it uses them (each CA certificate in date, a
//! CA by its basic constraints, allowed to sign certificates; an end's
//! certificate no CA and allowed digital signatures and key encipherment
//! when its key usage is critical), and the dates of the CA a peer's
//! chain ends at, which webpki's trust anchors do not carry.

use std::fmt;

use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::RootCertStore;

use super::der;

/// What libvirt's checks found wrong with a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CertificateProblem {
    /// Its DER could not be read.
    Unreadable,
    /// It has expired.
    Expired,
    /// It is not valid yet.
    NotYetValid,
    /// The CA certificate its chain ends at has expired.
    CaExpired,
    /// The CA certificate its chain ends at is not valid yet.
    CaNotYetValid,
    /// A CA certificate whose basic constraints do not make it a CA.
    NotACa,
    /// A server or client certificate whose basic constraints make it a
    /// CA.
    IsACa,
    /// A CA certificate whose critical key usage does not allow signing
    /// certificates.
    NoCertificateSigning,
    /// A server or client certificate whose critical key usage does not
    /// allow digital signatures.
    NoDigitalSignature,
    /// A server or client certificate whose critical key usage does not
    /// allow key encipherment.
    NoKeyEncipherment,
}

impl fmt::Display for CertificateProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CertificateProblem::Unreadable => "the certificate cannot be read",
            CertificateProblem::Expired => "the certificate has expired",
            CertificateProblem::NotYetValid => "the certificate is not yet valid",
            CertificateProblem::CaExpired => "the CA certificate that issued it has expired",
            CertificateProblem::CaNotYetValid => {
                "the CA certificate that issued it is not yet valid"
            }
            CertificateProblem::NotACa => "the certificate's basic constraints do not show a CA",
            CertificateProblem::IsACa => "the certificate's basic constraints show a CA",
            CertificateProblem::NoCertificateSigning => {
                "the certificate's usage does not permit certificate signing"
            }
            CertificateProblem::NoDigitalSignature => {
                "the certificate's usage does not permit digital signature"
            }
            CertificateProblem::NoKeyEncipherment => {
                "the certificate's usage does not permit key encipherment"
            }
        })
    }
}

impl std::error::Error for CertificateProblem {}

/// Whether `cert` is within its dates at `now`.
pub(crate) fn check_dates(cert: &[u8], now: UnixTime) -> Result<(), CertificateProblem> {
    let (not_before, not_after) = der::validity(cert).ok_or(CertificateProblem::Unreadable)?;
    let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    if now > not_after {
        Err(CertificateProblem::Expired)
    } else if now < not_before {
        Err(CertificateProblem::NotYetValid)
    } else {
        Ok(())
    }
}

/// libvirt's sanity check of one CA certificate.
pub(crate) fn check_ca(cert: &[u8], now: UnixTime) -> Result<(), CertificateProblem> {
    check_dates(cert, now)?;
    match der::basic_constraints_ca(cert).ok_or(CertificateProblem::Unreadable)? {
        Some(true) => {}
        _ => return Err(CertificateProblem::NotACa),
    }
    // A key usage that is not critical and leaves signing out only gets a
    // warning from libvirt.
    match der::key_usage(cert).ok_or(CertificateProblem::Unreadable)? {
        Some(usage) if usage.critical && !usage.key_cert_sign => {
            Err(CertificateProblem::NoCertificateSigning)
        }
        _ => Ok(()),
    }
}

/// libvirt's checks of a server or client certificate that webpki does
/// not make: no CA, and a critical key usage that allows digital
/// signatures and key encipherment.
pub(crate) fn check_end_entity(cert: &[u8]) -> Result<(), CertificateProblem> {
    if der::basic_constraints_ca(cert).ok_or(CertificateProblem::Unreadable)? == Some(true) {
        return Err(CertificateProblem::IsACa);
    }
    match der::key_usage(cert).ok_or(CertificateProblem::Unreadable)? {
        Some(usage) if usage.critical && !usage.digital_signature => {
            Err(CertificateProblem::NoDigitalSignature)
        }
        Some(usage) if usage.critical && !usage.key_encipherment => {
            Err(CertificateProblem::NoKeyEncipherment)
        }
        _ => Ok(()),
    }
}

/// `problem` as a rustls certificate error, for the verifiers.
pub(crate) fn as_rustls(problem: CertificateProblem) -> rustls::Error {
    rustls::Error::InvalidCertificate(rustls::CertificateError::Other(rustls::OtherError(
        std::sync::Arc::new(problem),
    )))
}

/// Why a CA certificate was not taken as a trust anchor.
pub(crate) enum CaRefusal {
    /// The certificate at `index` fails libvirt's sanity check.
    Refused {
        index: usize,
        problem: CertificateProblem,
    },
    /// rustls cannot take it.
    Invalid(rustls::Error),
}

/// The CA certificates `cas` as trust anchors, each first put through
/// [`check_ca`] when `sanity_check`.
pub(crate) fn trust_anchors(
    cas: &[CertificateDer<'static>],
    sanity_check: bool,
    now: UnixTime,
) -> Result<RootCertStore, CaRefusal> {
    let mut roots = RootCertStore::empty();
    for (index, ca) in cas.iter().enumerate() {
        if sanity_check {
            check_ca(ca.as_ref(), now).map_err(|problem| CaRefusal::Refused { index, problem })?;
        }
        roots.add(ca.clone()).map_err(CaRefusal::Invalid)?;
    }
    Ok(roots)
}
