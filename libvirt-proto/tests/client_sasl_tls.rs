//! SASL over the network against a real, private `libvirtd` listening on
//! 127.0.0.1 with `auth_tls = "sasl"` and `auth_tcp = "sasl"`: its
//! certificates from `common/pki.rs`, its Cyrus SASL configuration and
//! password database from `common/sasl.rs`.
//!
//! Over tls libvirtd tells Cyrus the channel is secure, so SCRAM-SHA-256
//! and PLAIN are offered and accepted. Over plain tcp it asks for
//! mechanisms with a security layer of at least `tcp_min_ssf` (56) bits
//! and refuses the rest (`remoteDispatchAuthSaslInit` and
//! `remoteSASLFinish` in `src/remote/remote_daemon_dispatch.c`): with
//! only SCRAM-SHA-256 and PLAIN configured it has nothing to offer and
//! refuses `AUTH_SASL_INIT`; with DIGEST-MD5 also configured it offers
//! that alone, which this client does not speak. Either way the client
//! fails at once, before asking for credentials, and says why (GSSAPI,
//! which works there, is tested in `client_gssapi.rs`).
//!
//! Without `libvirtd`, `openssl` or Cyrus SASL's tools the tests say so
//! and pass.

#![cfg(feature = "client")]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::pki::{listening_with_env, Listening, Pki, ServerNames};
use common::sasl::{options, refusal, works, Recorder, SaslConf, PASSWORD, USER};

use libvirt_proto::client::{AuthFile, Client, ClientError, ConnectOptions, Credentials};
use libvirt_proto::client::{CredentialRequest, SaslCredentials};
use libvirt_proto::engine::auth::AuthError;
use libvirt_proto::engine::open::OpenError;
use libvirt_proto::error::Report;
use libvirt_proto::error_codes::ErrorNumber;

/// A daemon requiring SASL on tls and tcp, offering `mechs`.
struct SaslNet {
    // Dropped first: the daemon stops before its files go.
    l: Listening,
    pki: Pki,
    conf: SaslConf,
}

impl SaslNet {
    fn start(name: &str, mechs: &str) -> Option<SaslNet> {
        let conf = SaslConf::new(name, mechs)?;
        let pki = Pki::new(name, ServerNames::San)?;
        let l = listening_with_env(
            name,
            &pki,
            "auth_tls = \"sasl\"\nauth_tcp = \"sasl\"\n",
            &conf.env(),
        )?;
        Some(SaslNet { l, pki, conf })
    }

    /// `test:///default` over tls, by host name, with the client
    /// certificate; `params` are more URI parameters (`&a=b`).
    fn tls_uri(&self, params: &str) -> String {
        format!(
            "test+tls://localhost:{}/default?pkipath={}{params}",
            self.l.tls,
            self.pki.path("client")
        )
    }

    /// `test:///default` over plain tcp.
    fn tcp_uri(&self) -> String {
        format!("test+tcp://127.0.0.1:{}/default", self.l.tcp)
    }
}

/// The failed open of `uri`, which must come at once (no hang).
async fn open_error(uri: &str, options: ConnectOptions) -> ClientError {
    let started = Instant::now();
    let e = tokio::time::timeout(Duration::from_secs(10), Client::connect_with(uri, options))
        .await
        .unwrap_or_else(|_| panic!("{uri}: still opening after 10 s"))
        .err()
        .unwrap_or_else(|| panic!("{uri}: opened"));
    assert!(started.elapsed() < Duration::from_secs(5), "{uri}: slow");
    e
}

#[tokio::test]
async fn scram_sha_256_over_tls() {
    let Some(d) = SaslNet::start("scram-tls", "scram-sha-256 plain") else {
        return;
    };
    // Credentials from the program: SCRAM-SHA-256 is chosen, asked for
    // the URI's host.
    let creds = Arc::new(Recorder::new(PASSWORD));
    let client = Client::connect_with(&d.tls_uri(""), options(Some(creds.clone())))
        .await
        .unwrap();
    works(&client).await;
    client.close().await;
    assert_eq!(creds.asked(), ["SCRAM-SHA-256"]);
    assert_eq!(*creds.hosts.lock().unwrap(), [Some("localhost".to_owned())]);

    // Credentials from an auth file, in the group of the URI's host.
    let file = d.conf.dir.join("auth.conf");
    std::fs::write(
        &file,
        format!(
            "[credentials-net]\nauthname={USER}\npassword={}\n\n\
             [auth-libvirt-localhost]\ncredentials=net\n",
            PASSWORD.replace(' ', "\\s")
        ),
    )
    .unwrap();
    let client = Client::connect_with(
        &d.tls_uri(""),
        ConnectOptions::default().with_auth_file(AuthFile::Path(file.clone())),
    )
    .await
    .unwrap();
    works(&client).await;
    client.close().await;
    // Another host name has no group there: the open fails before any
    // credential is sent, naming the group looked for.
    let by_address = format!(
        "test+tls://127.0.0.1:{}/default?pkipath={}",
        d.l.tls,
        d.pki.path("client")
    );
    let e = open_error(
        &by_address,
        ConnectOptions::default().with_auth_file(AuthFile::Path(file)),
    )
    .await;
    assert!(
        matches!(&e, ClientError::Open(OpenError::Auth(AuthError::NoCredentials(m)))
            if m.contains("[auth-libvirt-127.0.0.1]") && m.contains("no credentials")),
        "{e}"
    );
}

#[tokio::test]
async fn plain_over_tls() {
    let Some(d) = SaslNet::start("plain-tls", "scram-sha-256 plain") else {
        return;
    };
    // Asked for by the URI although SCRAM-SHA-256 is offered too.
    let creds = Arc::new(Recorder::new(PASSWORD));
    let client = Client::connect_with(&d.tls_uri("&auth=sasl.plain"), options(Some(creds.clone())))
        .await
        .unwrap();
    works(&client).await;
    client.close().await;
    assert_eq!(creds.asked(), ["PLAIN"]);
}

#[tokio::test]
async fn plain_when_the_daemon_offers_only_plain_over_tls() {
    let Some(d) = SaslNet::start("plainonly-tls", "plain") else {
        return;
    };
    // tls is secure: PLAIN is chosen without being asked for.
    let creds = Arc::new(Recorder::new(PASSWORD));
    let client = Client::connect_with(&d.tls_uri(""), options(Some(creds.clone())))
        .await
        .unwrap();
    works(&client).await;
    client.close().await;
    assert_eq!(creds.asked(), ["PLAIN"]);
    // A wrong password is the daemon's refusal.
    let creds: Arc<dyn Credentials> = Arc::new(SaslCredentials::new(USER, "wrong"));
    let e = open_error(&d.tls_uri(""), options(Some(creds))).await;
    assert_eq!(refusal(&e).code, ErrorNumber::ERR_AUTH_FAILED, "{e}");
}

#[tokio::test]
async fn a_wrong_password_over_tls_is_refused_by_the_daemon() {
    let Some(d) = SaslNet::start("wrong-tls", "scram-sha-256 plain") else {
        return;
    };
    for (params, user, password) in [
        ("", USER, "wrong"),
        ("", "mallory", PASSWORD),
        ("&auth=sasl.plain", USER, "wrong"),
    ] {
        let creds: Arc<dyn Credentials> = Arc::new(SaslCredentials::new(user, password));
        let e = open_error(&d.tls_uri(params), options(Some(creds))).await;
        let r = refusal(&e);
        assert_eq!(r.code, ErrorNumber::ERR_AUTH_FAILED, "{params} {user}: {e}");
        assert_eq!(
            Report::new(&e).to_string(),
            "cannot open the connection: authentication refused: \
             authentication failed: authentication failed",
            "{params} {user}"
        );
    }
    // The daemon still serves the right password afterwards.
    let creds: Arc<dyn Credentials> = Arc::new(SaslCredentials::new(USER, PASSWORD));
    let client = Client::connect_with(&d.tls_uri(""), options(Some(creds)))
        .await
        .unwrap();
    works(&client).await;
    client.close().await;
}

#[tokio::test]
async fn sasl_over_plain_tcp_is_refused_for_want_of_a_security_layer() {
    let Some(d) = SaslNet::start("scram-tcp", "scram-sha-256 plain") else {
        return;
    };
    // libvirtd finds no mechanism meeting tcp_min_ssf and refuses
    // AUTH_SASL_INIT ("authentication failed"): the client says why, and
    // never asks for credentials.
    for params in ["", "?auth=sasl.scram-sha-256", "?auth=sasl.plain"] {
        let creds = Arc::new(Recorder::new(PASSWORD));
        let uri = format!("{}{params}", d.tcp_uri());
        let e = open_error(&uri, options(Some(creds.clone()))).await;
        match &e {
            ClientError::Open(OpenError::Auth(AuthError::Mechanism(m))) => assert_eq!(
                m,
                "the daemon refused to start SASL over plain tcp \
                 (authentication failed: authentication failed): over plain tcp libvirtd \
                 offers only mechanisms with a security layer (tcp_min_ssf, at least 56 \
                 bits): use GSSAPI (Kerberos, with libvirt-proto's `gssapi` feature), or \
                 connect with tls or ssh",
                "{uri}"
            ),
            other => panic!("{uri}: {other:?}"),
        }
        assert!(
            Report::new(&e)
                .to_string()
                .starts_with("cannot open the connection: SASL mechanism: the daemon refused"),
            "{e}"
        );
        assert!(creds.asked().is_empty(), "{uri}: {:?}", creds.asked());
    }
    // The same daemon over tls.
    let creds = Arc::new(Recorder::new(PASSWORD));
    let client = Client::connect_with(&d.tls_uri(""), options(Some(creds.clone())))
        .await
        .unwrap();
    works(&client).await;
    client.close().await;
    assert_eq!(creds.asked(), ["SCRAM-SHA-256"]);
}

#[tokio::test]
async fn over_plain_tcp_only_a_mechanism_with_a_security_layer_is_offered() {
    let Some(d) = SaslNet::start("digest-tcp", "scram-sha-256 plain digest-md5") else {
        return;
    };
    // Over tcp DIGEST-MD5 alone is offered (its security layer meets
    // tcp_min_ssf); this client does not speak it.
    let creds = Arc::new(Recorder::new(PASSWORD));
    let e = open_error(&d.tcp_uri(), options(Some(creds.clone()))).await;
    match &e {
        ClientError::Open(OpenError::Auth(AuthError::Mechanism(m))) => {
            assert!(m.starts_with("the daemon offers DIGEST-MD5; "), "{m}");
            assert!(m.contains("use GSSAPI (Kerberos"), "{m}");
            assert!(m.ends_with("connect with tls or ssh"), "{m}");
        }
        other => panic!("{other:?}"),
    }
    // Asking for SCRAM-SHA-256 says it is not among them, and why.
    let e = open_error(
        &format!("{}?auth=sasl.scram-sha-256", d.tcp_uri()),
        options(Some(creds.clone())),
    )
    .await;
    assert_eq!(
        Report::new(&e).to_string(),
        "cannot open the connection: SASL mechanism: scram-sha-256 is not offered by the \
         daemon (it offers DIGEST-MD5); over plain tcp libvirtd offers only mechanisms with a \
         security layer (tcp_min_ssf, at least 56 bits): use GSSAPI (Kerberos, with \
         libvirt-proto's `gssapi` feature), or connect with tls or ssh"
    );
    assert!(creds.asked().is_empty(), "{:?}", creds.asked());

    // Over tls all three are offered and SCRAM-SHA-256 is chosen.
    let seen = Arc::new(std::sync::Mutex::new(None));
    let seen2 = seen.clone();
    let callback = move |r: &CredentialRequest<'_>| {
        *seen2.lock().unwrap() = Some(r.mechanism.to_owned());
        Ok(Some(SaslCredentials::new(USER, PASSWORD)))
    };
    let client = Client::connect_with(&d.tls_uri(""), options(Some(Arc::new(callback))))
        .await
        .unwrap();
    works(&client).await;
    client.close().await;
    assert_eq!(seen.lock().unwrap().as_deref(), Some("SCRAM-SHA-256"));
}
