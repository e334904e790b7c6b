//! Internals the fuzz targets (`fuzz/targets`) reach, behind the
//! `fuzzing` feature: the ssh command line of a URI and the TLS
//! certificate helpers. Not an API; may change at any time.

use std::ffi::OsString;
use std::path::Path;

use crate::uri::ConnectUri;

/// The program and arguments of the `ssh` command for `uri`
/// (`transport::ssh_command`; `session` for a session URI of a user who
/// is not root).
pub fn ssh_argv(uri: &ConnectUri, read_only: bool, session: bool) -> (OsString, Vec<OsString>) {
    let cmd = super::transport::ssh_command(uri, read_only, session, Default::default());
    let std = cmd.as_std();
    (
        std.get_program().to_owned(),
        std.get_args().map(|a| a.to_owned()).collect(),
    )
}

/// The common names of a DER certificate without subjectAltName, as the
/// TLS verifier's common-name fallback reads them.
pub fn tls_subject_common_names(cert: &[u8]) -> Option<Vec<Vec<u8>>> {
    super::tls::fuzzing::subject_common_names(cert)
}

/// Whether the verifier's common-name fallback accepts the DER `cert`
/// for `host` (`None`: `host` is not a server name).
pub fn tls_common_name_matches(cert: &[u8], host: &str) -> Option<bool> {
    super::tls::fuzzing::common_name_matches(cert, host)
}

/// The DER certificate's subject as GnuTLS writes it (what the server's
/// `tls_allowed_dn_list` check matches); `None` when it cannot be read or
/// written.
pub fn tls_distinguished_name(cert: &[u8]) -> Option<String> {
    crate::pki::dn::distinguished_name(cert)
}

/// Whether a certificate name `pattern` matches `host`.
pub fn tls_hostname_matches(pattern: &[u8], host: &str) -> bool {
    super::tls::fuzzing::hostname_matches(pattern, host)
}

/// Reads `cacert.pem`, `cacrl.pem`, `clientcert.pem` and `clientkey.pem`
/// of `pkipath` and builds the TLS client configuration; whether a client
/// identity was found.
pub fn tls_load(pkipath: &Path, no_verify: bool) -> Result<bool, super::TlsError> {
    super::tls::fuzzing::load(pkipath, no_verify)
}

/// Reads a GnuTLS priority string as `tls_priority=` is read and makes
/// the TLS provider it leaves.
pub fn tls_priority(priority: &str) -> Result<(), super::PriorityError> {
    crate::pki::priority::provider(Some(priority)).map(|_| ())
}
