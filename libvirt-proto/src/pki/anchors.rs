//! The CA certificates a peer's chain must end at, with their dates.
//!
//! webpki's trust anchors have no dates, while GnuTLS (and so libvirt)
//! refuses a chain whose CA has expired or is not valid yet. So each
//! verification uses a verifier made from the CA certificates in date at
//! that moment, made again only when that set changes.

use std::sync::{Arc, Mutex};

use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::{CertificateError, RootCertStore};

use super::sanity::{self, CertificateProblem};

/// A verifier `V` that trusts the CA certificates in date.
pub(crate) struct DatedAnchors<V: ?Sized> {
    cas: Vec<CertificateDer<'static>>,
    /// Makes a webpki verifier trusting the roots given; `None` when it
    /// cannot (no roots).
    #[allow(clippy::type_complexity)]
    build: Box<dyn Fn(Arc<RootCertStore>) -> Option<Arc<V>> + Send + Sync>,
    /// Which CAs the current verifier trusts, and it.
    current: Mutex<(Vec<bool>, Option<Arc<V>>)>,
}

impl<V: ?Sized> DatedAnchors<V> {
    /// Verifiers over `cas` (each already accepted by a
    /// [`RootCertStore`]), made by `build`.
    pub(crate) fn new(
        cas: Vec<CertificateDer<'static>>,
        build: impl Fn(Arc<RootCertStore>) -> Option<Arc<V>> + Send + Sync + 'static,
    ) -> Self {
        DatedAnchors {
            cas,
            build: Box::new(build),
            current: Mutex::new((Vec::new(), None)),
        }
    }

    fn store(&self, in_date: &[bool]) -> Arc<RootCertStore> {
        let mut roots = RootCertStore::empty();
        for (ca, _) in self.cas.iter().zip(in_date).filter(|(_, &ok)| ok) {
            // Each was added to a store once already.
            let _ = roots.add(ca.clone());
        }
        Arc::new(roots)
    }

    /// Runs `verify` with the verifier of the CAs in date at `now`. A
    /// chain refused for want of its issuer that a CA out of date would
    /// have issued is refused for that CA's dates.
    pub(crate) fn verify<T>(
        &self,
        now: UnixTime,
        verify: impl Fn(&V) -> Result<T, rustls::Error>,
    ) -> Result<T, rustls::Error> {
        let dates: Vec<Result<(), CertificateProblem>> = self
            .cas
            .iter()
            .map(|ca| sanity::check_dates(ca.as_ref(), now))
            .collect();
        let in_date: Vec<bool> = dates.iter().map(Result::is_ok).collect();
        let verifier = {
            let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
            if current.0 != in_date || current.1.is_none() {
                *current = (in_date.clone(), (self.build)(self.store(&in_date)));
            }
            current.1.clone()
        };
        let refused = match verifier.as_deref().map(&verify) {
            Some(Ok(verified)) => return Ok(verified),
            Some(Err(e)) => e,
            None => rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer),
        };
        let unknown_issuer = matches!(
            refused,
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)
        );
        if !unknown_issuer || in_date.iter().all(|&ok| ok) {
            return Err(refused);
        }
        // Which CA out of date would have vouched for it, if any.
        for (ca, date) in self.cas.iter().zip(&dates) {
            let Err(problem) = date else { continue };
            let mut one = RootCertStore::empty();
            if one.add(ca.clone()).is_err() {
                continue;
            }
            if (self.build)(Arc::new(one)).is_some_and(|v| verify(&v).is_ok()) {
                return Err(sanity::as_rustls(ca_problem(*problem)));
            }
        }
        Err(refused)
    }
}

/// A CA's date problem, said of the CA.
fn ca_problem(problem: CertificateProblem) -> CertificateProblem {
    match problem {
        CertificateProblem::Expired => CertificateProblem::CaExpired,
        CertificateProblem::NotYetValid => CertificateProblem::CaNotYetValid,
        other => other,
    }
}
