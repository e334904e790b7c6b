//! The tcp and tls transports against a real, private `libvirtd` listening
//! on 127.0.0.1, with certificates made by `openssl` for each test (`common/pki.rs`): a CA,
//! a server certificate for `localhost` and `127.0.0.1`, a client
//! certificate, and a second, unrelated CA. Without `libvirtd` (or
//! `openssl`) the tests say so and pass.

#![cfg(feature = "client")]

mod common;

use std::error::Error as _;
use std::net::TcpListener;
use std::path::Path;

use common::pki::{listening, Listening, Pki, ServerNames};

use libvirt_proto::client::{
    Client, ClientCertificate, ClientError, PkiFile, PriorityError, TlsError,
};
use libvirt_proto::error::Report;
use libvirt_proto::remote;
use libvirt_proto::remote::program::procs;

/// The test driver over tls to `l`, with the certificates of `pkipath`.
fn tls_uri(l: &Listening, pkipath: &str) -> String {
    format!("test+tls://localhost:{}/default?pkipath={pkipath}", l.tls)
}

/// The library version and the `test` domain, over `uri`.
async fn works(uri: &str) {
    let client = Client::connect(uri)
        .await
        .unwrap_or_else(|e| panic!("{uri}: {e}"));
    let v = client
        .call::<procs::ConnectGetLibVersion>(&())
        .await
        .unwrap();
    assert!(v.lib_ver >= 1_000_000, "{}", v.lib_ver);
    let all = client
        .call::<procs::ConnectListAllDomains>(&remote::ConnectListAllDomainsArgs {
            need_results: 1,
            flags: 0,
        })
        .await
        .unwrap();
    assert!(all.domains.iter().any(|d| d.name == "test"), "{uri}");
    client.close().await;
}

/// The TLS error of connecting to `uri`, and its whole chain of causes
/// on one line.
async fn tls_error(uri: &str) -> (TlsError, String) {
    match Client::connect(uri).await {
        Err(ClientError::Tls(e)) => {
            let report = Report::new(&e).to_string();
            eprintln!("{uri}: {report}");
            (e, report)
        }
        Err(other) => panic!("{uri}: not a TLS error: {other:?}"),
        Ok(_) => panic!("{uri}: connected"),
    }
}

/// The certificate verdict rustls gave, the source of a refused
/// handshake.
fn verdict(e: &TlsError) -> rustls::CertificateError {
    match e.source().and_then(|s| s.downcast_ref::<rustls::Error>()) {
        Some(rustls::Error::InvalidCertificate(c)) => c.clone(),
        other => panic!("not a certificate verdict under {e:?}: {other:?}"),
    }
}

#[tokio::test]
async fn tcp_reaches_the_daemon() {
    let Some(pki) = Pki::new("tcp", ServerNames::San) else {
        return;
    };
    let Some(l) = listening("tcp", &pki, "") else {
        return;
    };
    works(&format!("test+tcp://127.0.0.1:{}/default", l.tcp)).await;
    drop(l.daemon);
}

#[tokio::test]
async fn tls_with_a_client_certificate_by_name_and_by_address() {
    let Some(pki) = Pki::new("tls", ServerNames::San) else {
        return;
    };
    let Some(l) = listening("tls", &pki, "") else {
        return;
    };
    let dir = pki.path("client");
    works(&tls_uri(&l, &dir)).await;
    works(&format!(
        "test+tls://127.0.0.1:{}/default?pkipath={dir}",
        l.tls
    ))
    .await;
}

#[tokio::test]
async fn tls_1_2_only_daemon() {
    let Some(pki) = Pki::new("tls12", ServerNames::San) else {
        return;
    };
    let Some(l) = listening("tls12", &pki, "tls_priority = \"NORMAL:-VERS-TLS1.3\"\n") else {
        return;
    };
    let uri = tls_uri(&l, &pki.path("client"));
    works(&uri).await;
    // The client's own tls_priority: its versions are applied, so TLS 1.3
    // alone finds no common version with this daemon.
    works(&format!("{uri}&tls_priority=NORMAL:-VERS-TLS1.3")).await;
    let (e, _) = tls_error(&format!(
        "{uri}&tls_priority=NORMAL:-VERS-ALL:%2BVERS-TLS1.3"
    ))
    .await;
    // Offered no suite it speaks, GnuTLS hangs up without an alert.
    assert!(
        matches!(e, TlsError::Handshake { .. } | TlsError::HandshakeIo { .. }),
        "{e:?}"
    );
    let (e, _) = tls_error(&format!("{uri}&tls_priority=NONE:%2BVERS-TLS1.1")).await;
    assert!(
        matches!(
            e,
            TlsError::Priority {
                error: PriorityError::NoProtocolVersion,
                ..
            }
        ),
        "{e:?}"
    );
    // A keyword GnuTLS does not know: refused, as libvirt's client would.
    let (e, _) = tls_error(&format!("{uri}&tls_priority=NORMAL:-VERS-TLS1.4")).await;
    assert!(
        matches!(&e, TlsError::Priority { error: PriorityError::Syntax { element }, .. } if element == "-VERS-TLS1.4"),
        "{e:?}"
    );
}

#[tokio::test]
async fn tls_priority_ciphers_meet_the_daemons() {
    let Some(pki) = Pki::new("onecipher", ServerNames::San) else {
        return;
    };
    let daemon = "tls_priority = \"NORMAL:-CIPHER-ALL:+AES-256-GCM\"\n";
    let Some(l) = listening("onecipher", &pki, daemon) else {
        return;
    };
    let uri = tls_uri(&l, &pki.path("client"));
    works(&uri).await;
    // The client's cipher keywords are applied: without the daemon's one
    // cipher there is no suite in common; another removed leaves it.
    works(&format!("{uri}&tls_priority=NORMAL:-AES-128-GCM")).await;
    let (e, _) = tls_error(&format!("{uri}&tls_priority=NORMAL:-AES-256-GCM")).await;
    assert!(
        matches!(e, TlsError::Handshake { .. } | TlsError::HandshakeIo { .. }),
        "{e:?}"
    );
    // So are its groups and TLS 1.2 key exchanges, over TLS 1.2 too.
    works(&format!(
        "{uri}&tls_priority=NORMAL:-VERS-TLS1.3:-GROUP-ALL:%2BGROUP-SECP384R1"
    ))
    .await;
    // Nothing left to offer: refused before connecting.
    let (e, _) = tls_error(&format!("{uri}&tls_priority=NORMAL:-CIPHER-ALL")).await;
    assert!(
        matches!(
            e,
            TlsError::Priority {
                error: PriorityError::NoCipherSuite,
                ..
            }
        ),
        "{e:?}"
    );
    // Levels mean what they mean to GnuTLS: SECURE256 keeps AES-256-GCM
    // (the daemon's one cipher) but not the one signature the client's
    // P-256 key makes, so its certificate is not sent and the daemon
    // refuses it; with that signature added it is served. SUITEB192 has
    // only ECDSA key exchanges, which this daemon's RSA certificate
    // cannot do.
    let (e, _) = tls_error(&format!("{uri}&tls_priority=SECURE256")).await;
    assert!(
        matches!(
            e,
            TlsError::ClientRefused {
                client_certificate: ClientCertificate::NoSignatureScheme,
                ..
            }
        ),
        "{e:?}"
    );
    works(&format!(
        "{uri}&tls_priority=SECURE256:%2BSIGN-ECDSA-SECP256R1-SHA256"
    ))
    .await;
    let (e, _) = tls_error(&format!("{uri}&tls_priority=SUITEB192")).await;
    assert!(
        matches!(e, TlsError::Handshake { .. } | TlsError::HandshakeIo { .. }),
        "{e:?}"
    );
}

#[tokio::test]
async fn tls_refuses_a_server_of_another_ca_unless_told_not_to_verify() {
    let Some(pki) = Pki::new("wrongca", ServerNames::San) else {
        return;
    };
    let Some(l) = listening("wrongca", &pki, "") else {
        return;
    };
    // The folder's client certificate is not the folder's CA's: libvirt's
    // sanity check refuses it before connecting, as libvirt's client does.
    let (e, msg) = tls_error(&tls_uri(&l, &pki.path("wrong-ca"))).await;
    assert!(
        matches!(e, TlsError::ClientCertificateRefused { .. }),
        "{e:?}"
    );
    assert!(msg.contains("no_sanity=1"), "{msg}");
    let (e, msg) = tls_error(&format!(
        "{}&no_sanity=1",
        tls_uri(&l, &pki.path("wrong-ca"))
    ))
    .await;
    match &e {
        TlsError::UnknownIssuer { ca, .. } => {
            assert_eq!(ca, &Path::new(&pki.path("wrong-ca")).join("cacert.pem"))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(verdict(&e), rustls::CertificateError::UnknownIssuer);
    assert!(msg.contains("not signed by the CA"), "{msg}");
    assert!(msg.contains("wrong-ca/cacert.pem"), "{msg}");

    works(&format!(
        "test+tls://localhost:{}/default?pkipath={}&no_verify=1&no_sanity=1",
        l.tls,
        pki.path("wrong-ca-no-verify")
    ))
    .await;
}

#[tokio::test]
async fn a_revoked_server_certificate_is_refused() {
    let Some(pki) = Pki::new("revoked", ServerNames::San) else {
        return;
    };
    let Some(l) = listening("revoked", &pki, "") else {
        return;
    };
    let revoked = pki.revoke_server();
    let (e, msg) = tls_error(&tls_uri(&l, &revoked)).await;
    match &e {
        TlsError::Revoked { crl, .. } => {
            assert_eq!(crl, &Path::new(&revoked).join("cacrl.pem"))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(verdict(&e), rustls::CertificateError::Revoked);
    assert!(msg.contains("revoked"), "{msg}");
    assert!(msg.contains("cacrl.pem"), "{msg}");
}

#[tokio::test]
async fn the_daemon_refusing_the_client_is_reported() {
    let Some(pki) = Pki::new("refused", ServerNames::San) else {
        return;
    };
    let Some(l) = listening(
        "refused",
        &pki,
        "tls_allowed_dn_list = [\"O=nobody,CN=nobody\"]\n",
    ) else {
        return;
    };
    // The handshake succeeds, then the daemon checks the client's name
    // against tls_allowed_dn_list and closes instead of sending its byte.
    let (e, msg) = tls_error(&tls_uri(&l, &pki.path("client"))).await;
    match &e {
        TlsError::ClientRefused {
            client_certificate: ClientCertificate::Sent,
            answer: None,
            certificate,
            ..
        } => assert_eq!(
            certificate,
            &Path::new(&pki.path("client")).join("clientcert.pem")
        ),
        other => panic!("{other:?}"),
    }
    assert!(msg.contains("refused this client"), "{msg}");
    assert!(msg.contains("client/clientcert.pem"), "{msg}");
}

#[tokio::test]
async fn a_client_without_a_certificate_is_refused() {
    let Some(pki) = Pki::new("nocert", ServerNames::San) else {
        return;
    };
    let Some(l) = listening("nocert", &pki, "") else {
        return;
    };
    let (e, msg) = tls_error(&tls_uri(&l, &pki.path("no-cert"))).await;
    assert!(
        matches!(
            e,
            TlsError::ClientRefused {
                client_certificate: ClientCertificate::NotFound,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(msg.contains("refused this client"), "{msg}");
    assert!(msg.contains("no client certificate was sent"), "{msg}");
}

#[tokio::test]
async fn a_common_name_only_certificate_names_its_host() {
    let Some(pki) = Pki::new("cn", ServerNames::CommonNameOnly) else {
        return;
    };
    let Some(l) = listening("cn", &pki, "") else {
        return;
    };
    let dir = pki.path("client");
    works(&tls_uri(&l, &dir)).await;
    // Addresses match through subjectAltName only.
    let (e, msg) = tls_error(&format!(
        "test+tls://127.0.0.1:{}/default?pkipath={dir}",
        l.tls
    ))
    .await;
    match &e {
        TlsError::NameMismatch { host, .. } => assert_eq!(host, "127.0.0.1"),
        other => panic!("{other:?}"),
    }
    assert!(msg.contains("not valid for '127.0.0.1'"), "{msg}");
}

#[tokio::test]
async fn missing_or_broken_files_are_named() {
    let Some(pki) = Pki::new("files", ServerNames::San) else {
        return;
    };
    // No daemon needed: the files are read once the TCP connection is up,
    // before any TLS byte is sent.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let empty = pki.path("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let (e, msg) = tls_error(&format!(
        "test+tls://localhost:{port}/default?pkipath={empty}"
    ))
    .await;
    // A missing CA: the file and its path, the I/O error as the source.
    match &e {
        TlsError::ReadFile {
            file: PkiFile::CaCertificate,
            path,
            source,
        } => {
            assert_eq!(path, &Path::new(&empty).join("cacert.pem"));
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("{other:?}"),
    }
    let io = e.source().and_then(|s| s.downcast_ref::<std::io::Error>());
    assert_eq!(
        io.map(std::io::Error::kind),
        Some(std::io::ErrorKind::NotFound)
    );
    assert!(!e.to_string().contains("No such file"), "not repeated: {e}");
    assert!(msg.contains("cannot read the CA certificate"), "{msg}");
    assert!(msg.contains("No such file"), "{msg}");
    assert!(msg.contains("empty/cacert.pem"), "{msg}");

    let broken = pki.dir.join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::copy(pki.dir.join("ca/cacert.pem"), broken.join("cacert.pem")).unwrap();
    std::fs::copy(
        pki.dir.join("client/clientcert.pem"),
        broken.join("clientcert.pem"),
    )
    .unwrap();
    std::fs::write(broken.join("clientkey.pem"), "not a key\n").unwrap();
    let (e, msg) = tls_error(&format!(
        "test+tls://localhost:{port}/default?pkipath={}",
        broken.display()
    ))
    .await;
    match &e {
        TlsError::EmptyFile {
            file: PkiFile::ClientKey,
            path,
        } => assert_eq!(path, &broken.join("clientkey.pem")),
        other => panic!("{other:?}"),
    }
    assert!(msg.contains("no private key in"), "{msg}");
    assert!(msg.contains("broken/clientkey.pem"), "{msg}");
    drop(listener);
}

#[tokio::test]
async fn a_missing_ca_is_a_typed_error_with_its_path() {
    // Nothing but a listening port: the CA is looked for once the TCP
    // connection is up, before any TLS byte is sent.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = std::env::temp_dir().join(format!("lvp-tls-no-ca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let uri = format!(
        "test+tls://localhost:{port}/default?pkipath={}",
        dir.display()
    );
    let e = Client::connect(&uri).await.unwrap_err();
    let _ = std::fs::remove_dir_all(&dir);
    match &e {
        ClientError::Tls(TlsError::ReadFile {
            file: PkiFile::CaCertificate,
            path,
            source,
        }) => {
            assert_eq!(path, &dir.join("cacert.pem"));
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("{other:?}"),
    }
    // The variant is transparent: the TLS error's message, then its
    // source, the I/O error itself.
    let ca = dir.join("cacert.pem");
    assert_eq!(
        e.to_string(),
        format!("cannot read the CA certificate {}", ca.display())
    );
    let io = e
        .source()
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .expect("the I/O error is the source");
    assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
    assert_eq!(
        Report::new(&e).to_string(),
        format!("cannot read the CA certificate {}: {io}", ca.display())
    );
    // Errors are Clone: a copy says the same.
    assert_eq!(e.clone().to_string(), e.to_string());
    drop(listener);
}
