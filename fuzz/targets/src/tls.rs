//! `tls_certs`.

use std::path::PathBuf;
use std::sync::OnceLock;

use libvirt_proto::client::fuzzing::{
    tls_common_name_matches, tls_distinguished_name, tls_hostname_matches, tls_load,
    tls_subject_common_names,
};

use crate::bytes::Bytes;

/// The TLS certificate helpers of the client.
///
/// Input: a mode byte, then
/// - mode 0 (even): a DER certificate. Its common names (read when it
///   has no subjectAltName) are checked: a DNS name that is its only
///   common name is accepted by the common-name fallback, in any case,
///   and none is when it has several; `hostname_matches` agrees with the
///   fallback for a single name. Its distinguished name, when written,
///   holds no NUL and names each plain common name.
/// - mode 1 (odd): a `pkipath` folder's files, each a two-byte length
///   (0xffff: absent) then its bytes: `cacert.pem`, `cacrl.pem`,
///   `clientcert.pem`, `clientkey.pem`; then a `no_verify` byte. The
///   files are read and the rustls configuration built: no panic.
pub fn tls_certs(data: &[u8]) {
    let mut s = Bytes::new(data);
    if s.u8() % 2 == 0 {
        der(s.rest());
    } else {
        pem(&mut s);
    }
}

fn der(cert: &[u8]) {
    let dn = tls_distinguished_name(cert);
    if let Some(dn) = &dn {
        assert!(!dn.contains('\0'), "a NUL in {dn:?}");
    }
    let Some(names) = tls_subject_common_names(cert) else {
        assert_eq!(tls_common_name_matches(cert, "host.example"), Some(false));
        return;
    };
    // As GnuTLS: the fallback holds only for a single common name.
    let single = names.len() == 1;
    for cn in names {
        let Ok(cn) = std::str::from_utf8(&cn) else {
            continue;
        };
        if let Some(dn) = &dn {
            if !cn.is_empty() && cn.chars().all(|c| c.is_ascii_alphanumeric() || c == '.') {
                // As text when a UTF8String or PrintableString; an
                // IA5String, which GnuTLS does not read for a common
                // name, as the hex of its DER.
                let hex: String = cn.bytes().map(|b| format!("{b:02x}")).collect();
                let ia5 = format!("CN=#16{:02x}{hex}", cn.len());
                assert!(
                    dn.contains(&format!("CN={cn}")) || dn.contains(&ia5),
                    "{cn:?} not in {dn:?}"
                );
            }
        }
        let Some(found) = tls_common_name_matches(cert, cn) else {
            continue;
        };
        let exact = tls_hostname_matches(cn.as_bytes(), cn);
        if cn.parse::<std::net::IpAddr>().is_err() {
            assert_eq!(found, exact && single, "common name {cn:?}");
            assert_eq!(
                tls_common_name_matches(cert, &cn.to_ascii_uppercase()),
                Some(found),
                "{cn:?} in capitals"
            );
        } else {
            assert!(
                !found,
                "an IP address {cn:?} matched through the common name"
            );
        }
        if !cn.starts_with("*.") && !cn.trim_end_matches('.').is_empty() {
            assert!(exact, "{cn:?} does not match itself");
        }
    }
}

/// A folder of this process's own for the files.
fn folder() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("fuzz-tls-certs-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("a temporary folder");
        d
    })
}

fn pem(s: &mut Bytes<'_>) {
    let dir = folder();
    for name in ["cacert.pem", "cacrl.pem", "clientcert.pem", "clientkey.pem"] {
        let path = dir.join(name);
        let n = s.u16();
        if n == 0xffff {
            let _ = std::fs::remove_file(&path);
        } else {
            let n = usize::from(n);
            std::fs::write(&path, s.take(n)).expect("a temporary file");
        }
    }
    let no_verify = s.bool();
    let _ = tls_load(dir, no_verify);
}
