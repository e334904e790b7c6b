//! SASL against a real, private `libvirtd` (`auth_unix_rw = "sasl"`), its
//! Cyrus SASL configured through `SASL_CONF_PATH`: its own `libvirt.conf`
//! (the mechanisms offered) and password database, filled by
//! `saslpasswd2` (package `sasl2-bin`). A Unix socket counts as secure
//! for libvirtd, so SCRAM-SHA-256 and PLAIN, which have no security layer,
//! are accepted there. Without `libvirtd` or `saslpasswd2` the tests say
//! so and pass.

#![cfg(feature = "client")]

mod common;

use std::sync::{Arc, Mutex};

use common::sasl::{options, refusal, works, Recorder, SaslConf, PASSWORD, USER};
use common::Daemon;

use libvirt_proto::client::auth_conf::AuthConfigError;
use libvirt_proto::client::{
    AuthFile, Client, ClientError, ConnectOptions, CredentialRequest, Credentials, SaslCredentials,
};
use libvirt_proto::engine::auth::{AuthError, AuthMethod};
use libvirt_proto::engine::open::OpenError;
use libvirt_proto::error::Report;
use libvirt_proto::error_codes::ErrorNumber;

/// A daemon requiring SASL on its read-write socket, offering `mechs`
/// (Cyrus plugin names), with one account: `USER` / `PASSWORD`.
struct SaslDaemon {
    // Dropped first: the daemon stops before its configuration goes.
    daemon: Daemon,
    /// The SASL configuration folder (and scratch space for the test).
    conf: SaslConf,
}

impl SaslDaemon {
    fn start(name: &str, mechs: &str) -> Option<SaslDaemon> {
        let conf = SaslConf::new(name, mechs)?;
        let daemon = Daemon::start_with_env(name, "auth_unix_rw = \"sasl\"\n", false, &conf.env())?;
        Some(SaslDaemon { daemon, conf })
    }

    fn uri(&self) -> String {
        self.daemon.uri()
    }
}

/// The credentials were asked for a local socket, which has no host.
fn asked_locally(creds: &Recorder) {
    for host in creds.hosts.lock().unwrap().iter() {
        assert_eq!(host, &None, "a local socket has no host");
    }
}

#[tokio::test]
async fn scram_sha_256_with_the_right_password() {
    let Some(d) = SaslDaemon::start("scram", "scram-sha-256 plain") else {
        return;
    };
    // Without SASL among the accepted methods the daemon's demand shows.
    let e = Client::connect_with(
        &d.uri(),
        options(None).with_auth(vec![AuthMethod::None, AuthMethod::Polkit]),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            &e,
            ClientError::Open(OpenError::Auth(AuthError::NotOffered { offered, .. }))
                if offered == &[AuthMethod::Sasl]
        ),
        "{e:?}"
    );
    // Both are offered: SCRAM-SHA-256 is chosen.
    let creds = Arc::new(Recorder {
        password: PASSWORD.into(),
        ..Recorder::default()
    });
    let client = Client::connect_with(&d.uri(), options(Some(creds.clone())))
        .await
        .unwrap();
    works(&client).await;
    client.close().await;
    assert_eq!(*creds.asked.lock().unwrap(), ["SCRAM-SHA-256"]);
    // The URI may ask for one mechanism (`auth=sasl.MECH`, as libvirt).
    let client = Client::connect_with(
        &format!("{}&auth=sasl.plain", d.uri()),
        options(Some(creds.clone())),
    )
    .await
    .unwrap();
    works(&client).await;
    client.close().await;
    assert_eq!(*creds.asked.lock().unwrap(), ["SCRAM-SHA-256", "PLAIN"]);
    asked_locally(&creds);
    creds.asked.lock().unwrap().clear();
    // ... or a method: `auth=polkit` is not what this daemon wants.
    let e = Client::connect_with(
        &format!("{}&auth=polkit", d.uri()),
        options(Some(creds.clone())),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            &e,
            ClientError::Open(OpenError::Auth(AuthError::NotOffered { .. }))
        ),
        "{e:?}"
    );
    // The read-only socket needs no authentication: no credentials asked.
    let ro_uri = format!(
        "test+unix:///default?socket={}",
        d.daemon.dir.join("run/libvirt-sock-ro").display()
    );
    let ro = Client::connect_with(&ro_uri, options(Some(creds.clone())).with_read_only(true))
        .await
        .unwrap();
    ro.close().await;
    assert!(creds.asked.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_wrong_password_is_refused_by_the_daemon() {
    let Some(d) = SaslDaemon::start("wrong", "scram-sha-256") else {
        return;
    };
    for (user, password) in [(USER, "wrong"), ("mallory", PASSWORD)] {
        let creds: Arc<dyn Credentials> = Arc::new(SaslCredentials::new(user, password));
        let e = Client::connect_with(&d.uri(), options(Some(creds)))
            .await
            .unwrap_err();
        let r = refusal(&e);
        assert_eq!(r.code, ErrorNumber::ERR_AUTH_FAILED, "{e}");
        assert!(
            Report::new(&e)
                .to_string()
                .contains("authentication failed"),
            "{user}: {e}"
        );
    }
    // The daemon still serves the right password afterwards.
    let creds: Arc<dyn Credentials> = Arc::new(SaslCredentials::new(USER, PASSWORD));
    let client = Client::connect_with(&d.uri(), options(Some(creds)))
        .await
        .unwrap();
    works(&client).await;
    client.close().await;
}

#[tokio::test]
async fn credentials_from_an_auth_conf_file() {
    let Some(d) = SaslDaemon::start("authconf", "scram-sha-256") else {
        return;
    };
    // libvirt's layout: the host's group names a set of credentials. A
    // local socket is `localhost`.
    let file = d.conf.dir.join("auth.conf");
    std::fs::write(
        &file,
        format!(
            "# test credentials\n[credentials-test]\nauthname={USER}\npassword={}\n\n\
             [auth-libvirt-localhost]\ncredentials=test\n",
            PASSWORD.replace(' ', "\\s")
        ),
    )
    .unwrap();
    let client = Client::connect_with(
        &d.uri(),
        ConnectOptions::default().with_auth_file(AuthFile::Path(file.clone())),
    )
    .await
    .unwrap();
    works(&client).await;
    client.close().await;

    // The default group; the password missing from the file comes from
    // the program, which is told the name from the file.
    std::fs::write(
        &file,
        format!("[auth-libvirt-default]\ncredentials=x\n[credentials-x]\nusername={USER}\n"),
    )
    .unwrap();
    let told = Arc::new(Mutex::new(None));
    let seen = told.clone();
    let callback = move |r: &CredentialRequest<'_>| {
        *seen.lock().unwrap() = r.username.map(str::to_owned);
        Ok(Some(SaslCredentials::new("not-used", PASSWORD)))
    };
    let client = Client::connect_with(
        &d.uri(),
        ConnectOptions::default()
            .with_auth_file(AuthFile::Path(file.clone()))
            .with_credentials(Arc::new(callback)),
    )
    .await
    .unwrap();
    works(&client).await;
    client.close().await;
    assert_eq!(told.lock().unwrap().as_deref(), Some(USER));

    // A wrong password in the file is the daemon's refusal.
    std::fs::write(
        &file,
        format!("[auth-libvirt-localhost]\ncredentials=t\n[credentials-t]\nauthname={USER}\npassword=nope\n"),
    )
    .unwrap();
    let e = Client::connect_with(
        &d.uri(),
        ConnectOptions::default().with_auth_file(AuthFile::Path(file.clone())),
    )
    .await
    .unwrap_err();
    assert_eq!(refusal(&e).code, ErrorNumber::ERR_AUTH_FAILED);

    // The URI's `authfile=` when the program lets libvirt's search run
    // (unless this process has LIBVIRT_AUTH_FILE, which comes first).
    if std::env::var_os("LIBVIRT_AUTH_FILE").is_none() {
        let named = d.conf.dir.join("named.conf");
        std::fs::write(
            &named,
            format!(
                "[auth-libvirt-default]\ncredentials=n\n[credentials-n]\nauthname={USER}\n\
                 password={PASSWORD}\n"
            ),
        )
        .unwrap();
        let client = Client::connect_with(
            &format!("{}&authfile={}", d.uri(), named.display()),
            ConnectOptions::default().with_auth_file(AuthFile::Search),
        )
        .await
        .unwrap();
        works(&client).await;
        client.close().await;
    }

    // A broken file is a clear error, before anything is sent.
    std::fs::write(&file, "[auth-libvirt-localhost]\ncredentials=gone\n").unwrap();
    let e = Client::connect_with(
        &d.uri(),
        ConnectOptions::default().with_auth_file(AuthFile::Path(file.clone())),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&e, ClientError::Open(OpenError::Auth(AuthError::AuthFile(
            AuthConfigError::Lookup { message, .. }
        ))) if message.contains("missing group 'credentials-gone'")),
        "{e:?}"
    );
    let report = Report::new(&e).to_string();
    assert!(
        report.starts_with("cannot open the connection: cannot read the SASL credentials: ")
            && report.ends_with(
                "auth.conf: missing group 'credentials-gone' referenced from group \
                 'auth-libvirt-localhost'"
            ),
        "{report}"
    );
    // So is a file that does not exist: its path, and the I/O error as the
    // source.
    let absent = d.conf.dir.join("absent.conf");
    let e = Client::connect_with(
        &d.uri(),
        ConnectOptions::default().with_auth_file(AuthFile::Path(absent.clone())),
    )
    .await
    .unwrap_err();
    match &e {
        ClientError::Open(OpenError::Auth(AuthError::AuthFile(AuthConfigError::Read {
            path,
            source,
        }))) => {
            assert_eq!(path, &absent);
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("{other:?}"),
    }
    assert!(Report::new(&e).to_string().contains("absent.conf"), "{e}");
}

#[tokio::test]
async fn no_credentials_at_all_says_so() {
    let Some(d) = SaslDaemon::start("nocreds", "scram-sha-256") else {
        return;
    };
    let e = Client::connect_with(&d.uri(), options(None))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &e,
            ClientError::Open(OpenError::Auth(AuthError::NoCredentials(_)))
        ),
        "{e:?}"
    );
    let text = Report::new(&e).to_string();
    assert!(
        text.contains("requires SASL authentication") && text.contains("no credentials"),
        "{text}"
    );
}

#[tokio::test]
async fn plain_when_only_plain_is_offered() {
    let Some(d) = SaslDaemon::start("plain", "plain") else {
        return;
    };
    let creds = Arc::new(Recorder {
        password: PASSWORD.into(),
        ..Recorder::default()
    });
    let client = Client::connect_with(&d.uri(), options(Some(creds.clone())))
        .await
        .unwrap();
    works(&client).await;
    client.close().await;
    assert_eq!(*creds.asked.lock().unwrap(), ["PLAIN"]);
    asked_locally(&creds);
    let creds: Arc<dyn Credentials> = Arc::new(SaslCredentials::new(USER, "wrong"));
    let e = Client::connect_with(&d.uri(), options(Some(creds)))
        .await
        .unwrap_err();
    assert_eq!(refusal(&e).code, ErrorNumber::ERR_AUTH_FAILED);
}

#[tokio::test]
async fn a_mechanism_this_client_lacks_is_a_clear_error() {
    let Some(d) = SaslDaemon::start("digest", "digest-md5") else {
        return;
    };
    let creds: Arc<dyn Credentials> = Arc::new(SaslCredentials::new(USER, PASSWORD));
    let e = Client::connect_with(&d.uri(), options(Some(creds)))
        .await
        .unwrap_err();
    match &e {
        ClientError::Open(OpenError::Auth(AuthError::Mechanism(m))) => {
            assert!(m.contains("DIGEST-MD5"), "{m}")
        }
        other => panic!("{other:?}"),
    }
}
