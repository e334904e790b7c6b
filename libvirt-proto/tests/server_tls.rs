//! The server's TLS and TCP listeners (`Server::serve_tls`,
//! `Server::serve_tcp`), spoken to by this crate's client and by the real
//! `virsh`, with certificates `openssl` makes: a client the CA vouches for
//! is served and known by its certificate's name, written as
//! `virt-pki-query-dn` writes it; every client libvirtd's checks would
//! refuse is disconnected after the handshake, as libvirtd disconnects
//! it (this crate's client and `virsh` report it as they report
//! libvirtd's refusal); a handshake never finished is dropped;
//! a server certificate the CA did not issue, a key that is not its key,
//! or CA certificates libvirtd's sanity check refuses are refused before
//! anything is served; a CA certificate that goes out of date while the
//! server runs vouches for no client from then on (nor, for this crate's
//! client, for the server); and SASL PLAIN, refused on plain TCP, is
//! taken over TLS.
//!
//! Without `openssl` the tests say so and pass, and without `virsh` or
//! `virt-pki-query-dn` the parts that need them, unless
//! `LIBVIRT_PROTO_DAEMON_TESTS=1` (`cargo xtask test`).

#![cfg(all(feature = "client", feature = "server-tls"))]

mod common;

use std::path::Path;
use std::time::{Duration, SystemTime};

use common::pki::{openssl, utc, Pki, ServerNames};
use libvirt_proto::client::{Client, ClientCertificate, ClientError, ConnectOptions, TlsError};
use libvirt_proto::client_config::ConfigSource;
use libvirt_proto::error::RemoteError;
use libvirt_proto::remote;
use libvirt_proto::server::{
    Authentication, CertificateProblem, LxcService, Peer, PkiFile, PlainSasl, PriorityError,
    QemuService, RemoteService, Server, ServerOptions, ServerTls, ServerTlsError, Typed,
};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

/// Answers `hostname` with what the server knows of the client: its
/// certificate's name and its address.
struct WhoAmI;

impl RemoteService for WhoAmI {
    async fn connect_open(&self, _: &Peer, _: remote::ConnectOpenArgs) -> Result<(), RemoteError> {
        Ok(())
    }

    async fn connect_get_hostname(
        &self,
        peer: &Peer,
    ) -> Result<remote::ConnectGetHostnameRet, RemoteError> {
        let address = peer.address().map_or("-".into(), |a| a.ip().to_string());
        Ok(remote::ConnectGetHostnameRet {
            hostname: format!("{}|{address}", peer.certificate_dn().unwrap_or("-")).into(),
        })
    }
}

impl QemuService for WhoAmI {}
impl LxcService for WhoAmI {}

/// A server answering with [`WhoAmI`] on a port of 127.0.0.1, over TLS
/// when `tls` is given; stopped when dropped.
struct Listening {
    port: u16,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Listening {
    async fn start(tls: Option<ServerTls>) -> Listening {
        Listening::start_with(tls, ServerOptions::default()).await
    }

    async fn start_with(tls: Option<ServerTls>, options: ServerOptions) -> Listening {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = Server::new(Typed(WhoAmI), options);
        let task = tokio::spawn(async move {
            match tls {
                Some(tls) => server.serve_tls(listener, tls).await,
                None => server.serve_tcp(listener).await,
            }
        });
        Listening { port, task }
    }

    fn tls_uri(&self, pkipath: &str) -> String {
        format!(
            "test+tls://localhost:{}/default?pkipath={pkipath}",
            self.port
        )
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The server's files of `pki`, as in a libvirtd `pkipath`.
fn server_dir(pki: &Pki) -> std::path::PathBuf {
    let dir = pki.dir.join("server");
    std::fs::create_dir_all(&dir).unwrap();
    for (from, to) in [
        ("ca/cacert.pem", "cacert.pem"),
        ("servercert.pem", "servercert.pem"),
        ("serverkey.pem", "serverkey.pem"),
    ] {
        std::fs::copy(pki.dir.join(from), dir.join(to)).unwrap();
    }
    dir
}

async fn connect(uri: &str) -> Result<Client, ClientError> {
    let options = ConnectOptions::default().with_config(ConfigSource::None);
    Client::connect_with(uri, options).await
}

/// What the server answers `hostname` with, over `uri`.
async fn who_am_i(uri: &str) -> String {
    let client = connect(uri).await.unwrap_or_else(|e| panic!("{uri}: {e}"));
    let name = client.connect_get_hostname().await.unwrap();
    client.close().await;
    name
}

/// Whether connecting over `uri` ends with the server refusing the
/// client after the handshake; and whether the client sent a certificate.
async fn refused(uri: &str) -> bool {
    refused_with(uri).await == ClientCertificate::Sent
}

/// That connecting over `uri` ends with the server refusing the client
/// after the handshake; what became of the client's certificate.
async fn refused_with(uri: &str) -> ClientCertificate {
    match connect(uri).await {
        Err(ClientError::Tls(TlsError::ClientRefused {
            answer: None,
            client_certificate,
            ..
        })) => client_certificate,
        Err(other) => panic!("{uri}: not a refusal: {other:?}"),
        Ok(_) => panic!("{uri}: served"),
    }
}

/// What `virt-pki-query-dn` says the certificate at `cert` is named;
/// `None` when it is missing.
async fn query_dn(cert: &Path) -> Option<String> {
    let program = "virt-pki-query-dn";
    let out = match tokio::process::Command::new(program)
        .arg(cert)
        .output()
        .await
    {
        Ok(out) => out,
        Err(e) => {
            assert!(!common::required(), "cannot run {program}: {e}");
            eprintln!("skipped: {program} not found");
            return None;
        }
    };
    assert!(out.status.success(), "{out:?}");
    Some(String::from_utf8(out.stdout).unwrap().trim_end().to_owned())
}

#[tokio::test]
async fn a_client_the_ca_vouches_for_is_served_and_known_by_its_certificate() {
    let Some(pki) = Pki::new("srv-served", ServerNames::San) else {
        return;
    };
    let tls = ServerTls::from_dir(server_dir(&pki)).unwrap();
    let server = Listening::start(Some(tls)).await;
    let seen = who_am_i(&server.tls_uri(&pki.path("client"))).await;
    assert_eq!(seen, "O=lvp,CN=client|127.0.0.1");

    // A name with every escape, several attributes in one relative name,
    // and the attributes GnuTLS has names for: written as libvirt's own
    // tool writes it.
    let subject = "/C=GB/ST=Lon don/L=A\\,B/O=x\\+y\"z\\\\w<>;=q/OU=one+OU=two\
                   /CN=#client /emailAddress=a@b.example/DC=example/UID=jo\
                   /serialNumber=42/title=T/street=S/postalCode=PC/SN=Sur/GN=Giv";
    let dir = pki.client_folder("odd-name", subject, "ca");
    let seen = who_am_i(&server.tls_uri(&dir)).await;
    let (dn, _) = seen.split_once('|').unwrap();
    assert!(
        dn.starts_with("C=GB,ST=Lon don,L=A\\,B,O=x\\+y\\\"z"),
        "{dn}"
    );
    if let Some(expected) = query_dn(&Path::new(&dir).join("clientcert.pem")).await {
        assert_eq!(dn, expected);
    }
}

#[tokio::test]
async fn clients_libvirtds_checks_refuse_are_disconnected() {
    let Some(pki) = Pki::new("srv-refused", ServerNames::San) else {
        return;
    };
    let tls = ServerTls::from_dir(server_dir(&pki)).unwrap();
    let server = Listening::start(Some(tls.clone())).await;
    // No certificate.
    assert!(!refused(&server.tls_uri(&pki.path("no-cert"))).await);
    // One from a CA the server does not trust; one for TLS servers
    // only; one whose critical key usage leaves out key encipherment.
    // libvirt's client refuses to send each (its sanity check, as this
    // crate's client), and libvirtd refuses each when it is sent anyway.
    let stranger = pki.client_folder("stranger", "/O=lvp/CN=stranger", "ca2");
    let mut folders = vec![stranger];
    for (name, ext) in [
        ("server-only", "extendedKeyUsage = serverAuth\n"),
        ("sign-only", "keyUsage = critical, digitalSignature\n"),
    ] {
        let file = format!("{name}.ext");
        std::fs::write(pki.dir.join(&file), ext).unwrap();
        let subj = format!("/O=lvp/CN={name}");
        folders.push(pki.client_folder_with(name, &subj, "ca", &file));
    }
    for dir in folders {
        let uri = server.tls_uri(&dir);
        match connect(&uri).await {
            Err(ClientError::Tls(TlsError::ClientCertificateRefused { .. })) => {}
            other => panic!("{dir}: {:?}", other.map(|_| ())),
        }
        assert!(refused(&format!("{uri}&no_sanity=1")).await, "{dir}");
    }
    // Key usage not marked critical: let in, as libvirtd lets it in.
    std::fs::write(pki.dir.join("lax.ext"), "keyUsage = digitalSignature\n").unwrap();
    let lax = pki.client_folder_with("lax", "/O=lvp/CN=lax", "ca", "lax.ext");
    assert_eq!(
        who_am_i(&server.tls_uri(&lax)).await,
        "O=lvp,CN=lax|127.0.0.1"
    );
    // The trusted client is still served.
    who_am_i(&server.tls_uri(&pki.path("client"))).await;

    // Not on the allowed list; then on it through a pattern.
    let listed = Listening::start(Some(
        tls.clone()
            .with_allowed_dn_list(["O=lvp,CN=someone", "O=other,*"]),
    ))
    .await;
    assert!(refused(&listed.tls_uri(&pki.path("client"))).await);
    let listed = Listening::start(Some(tls.with_allowed_dn_list(["O=lvp,CN=cli?n*"]))).await;
    assert_eq!(
        who_am_i(&listed.tls_uri(&pki.path("client"))).await,
        "O=lvp,CN=client|127.0.0.1"
    );

    // Revoked by the CA's list.
    let crl = pki.revoke("client/clientcert.pem");
    let dir = server_dir(&pki);
    let tls = ServerTls::from_files(
        dir.join("cacert.pem"),
        Some(&crl),
        dir.join("servercert.pem"),
        dir.join("serverkey.pem"),
    )
    .unwrap();
    let revoking = Listening::start(Some(tls)).await;
    assert!(refused(&revoking.tls_uri(&pki.path("client"))).await);
    let other = pki.client_folder("not-revoked", "/O=lvp/CN=other", "ca");
    assert_eq!(
        who_am_i(&revoking.tls_uri(&other)).await,
        "O=lvp,CN=other|127.0.0.1"
    );
}

#[tokio::test]
async fn without_verification_every_client_is_served_and_only_checked_ones_named() {
    let Some(pki) = Pki::new("srv-no-verify", ServerNames::San) else {
        return;
    };
    let tls = ServerTls::from_dir(server_dir(&pki))
        .unwrap()
        .with_client_verification(false);
    let server = Listening::start(Some(tls.clone())).await;
    assert_eq!(
        who_am_i(&server.tls_uri(&pki.path("no-cert"))).await,
        "-|127.0.0.1"
    );
    // A name nobody vouches for is not given to the service.
    let stranger = pki.client_folder("stranger", "/O=lvp/CN=stranger", "ca2");
    let uri = format!("{}&no_sanity=1", server.tls_uri(&stranger));
    assert_eq!(who_am_i(&uri).await, "-|127.0.0.1");
    assert_eq!(
        who_am_i(&server.tls_uri(&pki.path("client"))).await,
        "O=lvp,CN=client|127.0.0.1"
    );
    // Nor one off the allowed list.
    let listed = Listening::start(Some(tls.with_allowed_dn_list(["nobody"]))).await;
    assert_eq!(
        who_am_i(&listed.tls_uri(&pki.path("client"))).await,
        "-|127.0.0.1"
    );
}

#[tokio::test]
async fn a_handshake_never_finished_is_dropped() {
    let Some(pki) = Pki::new("srv-silent", ServerNames::San) else {
        return;
    };
    let tls = ServerTls::from_dir(server_dir(&pki))
        .unwrap()
        .with_handshake_timeout(Duration::from_millis(200));
    let server = Listening::start(Some(tls)).await;
    let mut silent = tokio::net::TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(30), silent.read(&mut buf))
        .await
        .expect("the server keeps a silent client");
    assert_eq!(read.unwrap(), 0, "the server wrote to a silent client");

    // Without authentication to wait for, handshakes in progress are not
    // clients waiting to authenticate: a few silent ones do not stop the
    // server accepting others.
    let tls = ServerTls::from_dir(server_dir(&pki))
        .unwrap()
        .with_handshake_timeout(Duration::from_secs(120));
    let options = ServerOptions::default().with_max_anonymous_clients(1);
    let server = Listening::start_with(Some(tls), options).await;
    let mut silent = Vec::new();
    for _ in 0..3 {
        silent.push(
            tokio::net::TcpStream::connect(("127.0.0.1", server.port))
                .await
                .unwrap(),
        );
    }
    let uri = server.tls_uri(&pki.path("client"));
    let seen = tokio::time::timeout(Duration::from_secs(30), who_am_i(&uri))
        .await
        .expect("silent handshakes keep the client out");
    assert_eq!(seen, "O=lvp,CN=client|127.0.0.1");
}

#[tokio::test]
async fn a_server_certificate_must_be_the_cas_and_match_its_key() {
    let Some(pki) = Pki::new("srv-setup", ServerNames::San) else {
        return;
    };
    let d = &pki.dir;
    match ServerTls::from_files(
        d.join("ca2/cacert.pem"),
        None,
        d.join("servercert.pem"),
        d.join("serverkey.pem"),
    ) {
        Err(ServerTlsError::ServerCertificateRefused { .. }) => {}
        other => panic!("{other:?}"),
    }
    match ServerTls::from_files(
        d.join("ca/cacert.pem"),
        None,
        d.join("servercert.pem"),
        d.join("client/clientkey.pem"),
    ) {
        Err(ServerTlsError::InvalidCertificate { .. }) => {}
        other => panic!("{other:?}"),
    }
    // A client certificate is not for a server.
    match ServerTls::from_files(
        d.join("ca/cacert.pem"),
        None,
        d.join("client/clientcert.pem"),
        d.join("client/clientkey.pem"),
    ) {
        Err(ServerTlsError::ServerCertificateRefused { .. }) => {}
        other => panic!("{other:?}"),
    }
    match ServerTls::from_files(
        d.join("ca/cacert.pem"),
        None,
        d.join("servercert.pem"),
        d.join("missing.pem"),
    ) {
        Err(ServerTlsError::ReadFile {
            file: PkiFile::ServerKey,
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn ca_certificates_are_checked_at_start() {
    let Some(pki) = Pki::new("srv-ca-start", ServerNames::San) else {
        return;
    };
    let d = &pki.dir;
    pki.make_dated_ca("old", "old CA", "20200101000000Z", "20210101000000Z");
    pki.make_dated_ca("future", "future CA", "20990101000000Z", "20991231000000Z");
    let load = |ca: &str, key: &str| {
        ServerTls::from_files(d.join(ca), None, d.join("servercert.pem"), d.join(key))
    };
    for (ca, expected) in [
        ("old/cacert.pem", CertificateProblem::Expired),
        ("future/cacert.pem", CertificateProblem::NotYetValid),
        // A certificate that is no CA.
        ("servercert.pem", CertificateProblem::NotACa),
    ] {
        match load(ca, "serverkey.pem") {
            Err(ServerTlsError::CaCertificateRefused {
                index: 0, problem, ..
            }) if problem == expected => {}
            other => panic!("{ca}: {other:?}"),
        }
    }
    // A CA file with a good CA first: the second is checked too.
    let both = [
        std::fs::read(d.join("ca/cacert.pem")).unwrap(),
        std::fs::read(d.join("old/cacert.pem")).unwrap(),
    ]
    .concat();
    std::fs::write(d.join("both.pem"), both).unwrap();
    match load("both.pem", "serverkey.pem") {
        Err(e @ ServerTlsError::CaCertificateRefused { index: 1, .. }) => {
            assert!(e.to_string().contains("has expired"), "{e}")
        }
        other => panic!("{other:?}"),
    }
    // A key under a passphrase.
    openssl(
        d,
        &[
            "pkey",
            "-in",
            "serverkey.pem",
            "-aes256",
            "-passout",
            "pass:x",
            "-out",
            "encrypted.pem",
        ],
    );
    match load("ca/cacert.pem", "encrypted.pem") {
        Err(ServerTlsError::EncryptedKey {
            file: PkiFile::ServerKey,
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
}

/// Whether `e` is this crate's client refusing the server for the dates
/// of its CA.
fn refused_for_the_cas_dates(e: &ClientError) -> bool {
    let ClientError::Tls(TlsError::CertificateRefused {
        source: rustls::Error::InvalidCertificate(rustls::CertificateError::Other(other)),
        ..
    }) = e
    else {
        return false;
    };
    other.0.downcast_ref::<CertificateProblem>() == Some(&CertificateProblem::CaExpired)
}

#[tokio::test]
async fn a_ca_out_of_date_vouches_for_nobody() {
    let Some(pki) = Pki::new("srv-ca-expiring", ServerNames::San) else {
        return;
    };
    let d = &pki.dir;
    // A CA that expires while the server runs; its certificates outlive
    // it (webpki alone would take them).
    let end = SystemTime::now() + Duration::from_secs(30);
    let start = SystemTime::now() - Duration::from_secs(3600);
    pki.make_dated_ca("soon", "soon CA", &utc(start), &utc(end));
    let rsa = ["-newkey", "rsa:2048"];
    pki.make_leaf_by(
        "soon",
        "soon/serverkey.pem",
        "soon/servercert.pem",
        &rsa,
        "/O=lvp/CN=localhost",
        "server.ext",
    );
    std::fs::create_dir_all(d.join("soon-client")).unwrap();
    pki.make_leaf_by(
        "soon",
        "soon-client/clientkey.pem",
        "soon-client/clientcert.pem",
        &rsa,
        "/O=lvp/CN=soon client",
        "client.ext",
    );
    std::fs::copy(d.join("soon/cacert.pem"), d.join("soon-client/cacert.pem")).unwrap();
    let tls = ServerTls::from_files(
        d.join("soon/cacert.pem"),
        None,
        d.join("soon/servercert.pem"),
        d.join("soon/serverkey.pem"),
    )
    .unwrap();
    let server = Listening::start(Some(tls)).await;
    let uri = server.tls_uri(&pki.path("soon-client"));
    assert_eq!(who_am_i(&uri).await, "O=lvp,CN=soon client|127.0.0.1");

    let left = end.duration_since(SystemTime::now()).unwrap_or_default();
    tokio::time::sleep(left + Duration::from_secs(2)).await;
    // libvirt's sanity check refuses the CA before connecting...
    match connect(&uri).await {
        Err(ClientError::Tls(TlsError::CaCertificateRefused {
            index: 0,
            problem: CertificateProblem::Expired,
            ..
        })) => {}
        other => panic!("{:?}", other.map(|_| ())),
    }
    // ...without it, the server's certificate is refused for its CA's
    // dates...
    match connect(&format!("{uri}&no_sanity=1")).await {
        Err(e) if refused_for_the_cas_dates(&e) => {}
        other => panic!("{:?}", other.map(|_| ())),
    }
    // ...and a client that checks nothing is turned away by the server,
    // for the same reason.
    assert!(refused(&format!("{uri}&no_sanity=1&no_verify=1")).await);
}

#[tokio::test]
async fn sasl_plain_is_taken_over_tls() {
    let Some(pki) = Pki::new("srv-tls-plain", ServerNames::San) else {
        return;
    };
    let plain = Authentication::sasl(|_: &Peer| {
        Box::new(PlainSasl::new(|name: &str, password: &str| {
            name == "alice" && password == "pw"
        }))
    });
    let tls = ServerTls::from_dir(server_dir(&pki)).unwrap();
    let server = Listening::start_with(Some(tls), ServerOptions::default().with_auth(plain)).await;
    let credentials = libvirt_proto::client::SaslCredentials::new("alice", "pw");
    let options = common::sasl::options(Some(std::sync::Arc::new(credentials)))
        .with_config(ConfigSource::None);
    let uri = server.tls_uri(&pki.path("client"));
    let client = Client::connect_with(&uri, options).await.unwrap();
    assert_eq!(
        client.connect_get_hostname().await.unwrap(),
        "O=lvp,CN=client|127.0.0.1"
    );
    client.close().await;
}

#[tokio::test]
async fn a_priority_string_limits_what_the_server_speaks() {
    let Some(pki) = Pki::new("srv-priority", ServerNames::San) else {
        return;
    };
    let tls = ServerTls::from_dir(server_dir(&pki)).unwrap();
    for (priority, refused) in [
        ("NONE", PriorityError::NoProtocolVersion),
        ("NORMAL:-CIPHER-ALL", PriorityError::NoCipherSuite),
        (
            "NORMAL:-SIGN-ALL:+SIGN-RSA-SHA1",
            PriorityError::NoSignatureScheme,
        ),
        (
            "NORMAL:+VERS-TLS1.2:+AES-256-GCM:NONE",
            PriorityError::Syntax {
                element: "NONE".into(),
            },
        ),
    ] {
        match tls.clone().with_priority(priority) {
            Err(ServerTlsError::Priority { error, .. }) => assert_eq!(error, refused, "{priority}"),
            other => panic!("{priority}: {other:?}"),
        }
    }
    let only = tls
        .with_priority("NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM")
        .unwrap();
    let server = Listening::start(Some(only)).await;
    let uri = server.tls_uri(&pki.path("client"));
    assert_eq!(who_am_i(&uri).await, "O=lvp,CN=client|127.0.0.1");
    // A client that will not speak TLS 1.2, or AES-256-GCM, finds nothing
    // in common. (`NORMAL:-VERS-TLS1.2` would leave the client TLS 1.0
    // and 1.1 only: GnuTLS drops TLS 1.3 then, and so does this.)
    for priority in [
        "NORMAL:-VERS-ALL:%2BVERS-TLS1.3",
        "NORMAL:-CIPHER-ALL:%2BAES-128-GCM",
    ] {
        let uri = format!("{uri}&tls_priority={priority}");
        match connect(&uri).await {
            Err(ClientError::Tls(TlsError::Handshake { .. })) => {}
            other => panic!("{priority}: {:?}", other.map(|_| ())),
        }
    }
    // Signature schemes: with RSA's alone the server asks for none the
    // client's ECDSA key makes, so the client sends no certificate and is
    // refused as one without.
    let rsa_only = ServerTls::from_dir(server_dir(&pki))
        .unwrap()
        .with_priority("NORMAL:-SIGN-ALL:+SIGN-RSA-PSS-RSAE-SHA256:+SIGN-RSA-SHA256")
        .unwrap();
    let server = Listening::start(Some(rsa_only)).await;
    let uri = server.tls_uri(&pki.path("client"));
    assert_eq!(
        refused_with(&uri).await,
        ClientCertificate::NoSignatureScheme
    );
    let e = connect(&uri).await.err().unwrap();
    assert!(
        e.to_string()
            .contains("asked for no signature scheme its key makes"),
        "{e}"
    );
}

#[tokio::test]
async fn signature_keywords_limit_what_each_end_signs_with() {
    let Some(pki) = Pki::new("srv-sign", ServerNames::San) else {
        return;
    };
    let client = pki.path("client");
    // The server's RSA key: a client that takes only RSA-PSS signatures
    // is served by a server left free, not by one whose string leaves it
    // PKCS #1 signatures only (TLS 1.2, where those are allowed).
    let pss_only = "NORMAL:-SIGN-RSA-SHA256:-SIGN-RSA-SHA384:-SIGN-RSA-SHA512";
    let free = Listening::start(Some(ServerTls::from_dir(server_dir(&pki)).unwrap())).await;
    let uri = format!("{}&tls_priority={pss_only}", free.tls_uri(&client));
    assert_eq!(who_am_i(&uri).await, "O=lvp,CN=client|127.0.0.1");
    let pkcs1 = ServerTls::from_dir(server_dir(&pki))
        .unwrap()
        .with_priority(
            "NORMAL:-VERS-TLS1.3:-SIGN-RSA-PSS-RSAE-SHA256:-SIGN-RSA-PSS-RSAE-SHA384:\
             -SIGN-RSA-PSS-RSAE-SHA512",
        )
        .unwrap();
    let limited = Listening::start(Some(pkcs1)).await;
    assert_eq!(
        who_am_i(&limited.tls_uri(&client)).await,
        "O=lvp,CN=client|127.0.0.1"
    );
    let uri = format!("{}&tls_priority={pss_only}", limited.tls_uri(&client));
    match connect(&uri).await {
        Err(ClientError::Tls(TlsError::Handshake { .. } | TlsError::HandshakeIo { .. })) => {}
        other => panic!("{:?}", other.map(|_| ())),
    }
    // The client's ECDSA P-256 key: with its one scheme removed from the
    // client's string, it sends no certificate, and says why.
    let uri = format!(
        "{}&tls_priority=NORMAL:-SIGN-ECDSA-SHA256:-SIGN-ECDSA-SECP256R1-SHA256",
        free.tls_uri(&client)
    );
    assert_eq!(
        refused_with(&uri).await,
        ClientCertificate::NoSignatureScheme
    );
}

#[tokio::test]
async fn plain_tcp_serves_and_names_the_address() {
    let server = Listening::start(None).await;
    let uri = format!("test+tcp://127.0.0.1:{}/default", server.port);
    assert_eq!(who_am_i(&uri).await, "-|127.0.0.1");
}

#[tokio::test]
async fn virsh_connects_over_tls_and_hears_a_refusal() {
    let Some(pki) = Pki::new("srv-virsh", ServerNames::San) else {
        return;
    };
    let tls = ServerTls::from_dir(server_dir(&pki)).unwrap();
    let server = Listening::start(Some(tls)).await;
    let uri = server.tls_uri(&pki.path("client"));
    let Some(out) = common::virsh::run_if_present("virsh", &uri, &["hostname"], &[]).await else {
        return;
    };
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "O=lvp,CN=client|127.0.0.1"
    );

    let uri = server.tls_uri(&pki.path("no-cert"));
    let out = common::virsh::run_if_present("virsh", &uri, &["hostname"], &[])
        .await
        .unwrap();
    assert!(!out.status.success());
    // What virsh says when libvirtd refuses it: the connection closed
    // where the acceptance byte should have come.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Unable to read TLS confirmation: Input/output error"),
        "{stderr}"
    );
}
