//! The server's authentication (`ServerOptions::auth`): SASL with the
//! crate's `PlainSasl`, and polkit decided from the client's credentials,
//! spoken to by this crate's client and by the real `virsh`; calls before
//! authentication are refused, as libvirtd refuses them.
//!
//! The `virsh` parts need `virsh` and Cyrus SASL's PLAIN plugin; without
//! them they say so and pass, unless `LIBVIRT_PROTO_DAEMON_TESTS=1`
//! (`cargo xtask test`).

#![cfg(all(feature = "client", feature = "server"))]

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Instant;

use common::sasl::{options, refusal};
use libvirt_proto::client::{Client, ConnectOptions, Credentials, SaslCredentials};
use libvirt_proto::engine::auth::AuthMethod;
use libvirt_proto::engine::{CallError, ClientEngine, Event};
use libvirt_proto::error::RemoteError;
use libvirt_proto::error_codes::ErrorNumber;
use libvirt_proto::remote::{self, program};
use libvirt_proto::server::{
    Authentication, LxcService, Peer, PlainSasl, QemuService, RemoteService, Server, ServerOptions,
    Typed,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const USER: &str = "alice";
const PASSWORD: &str = "s3cret pass";

/// Tells each client who it authenticated as.
struct WhoAmI;

impl RemoteService for WhoAmI {
    async fn connect_open(&self, _: &Peer, _: remote::ConnectOpenArgs) -> Result<(), RemoteError> {
        Ok(())
    }

    async fn connect_get_hostname(
        &self,
        peer: &Peer,
    ) -> Result<remote::ConnectGetHostnameRet, RemoteError> {
        Ok(remote::ConnectGetHostnameRet {
            hostname: peer.identity().unwrap_or("anonymous").into(),
        })
    }
}
impl QemuService for WhoAmI {}
impl LxcService for WhoAmI {}

fn plain() -> Authentication {
    Authentication::sasl(|_: &Peer| {
        Box::new(PlainSasl::new(|name: &str, password: &str| {
            name == USER && password == PASSWORD
        }))
    })
}

/// A server on a socket of its own folder, stopped when dropped.
struct Running {
    dir: PathBuf,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    fn start(name: &str, auth: Authentication) -> Running {
        let dir = std::env::temp_dir().join(format!("lvp-auth-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let listener = tokio::net::UnixListener::bind(dir.join("sock")).unwrap();
        let server = Server::new(Typed(WhoAmI), ServerOptions::default().with_auth(auth));
        let task = tokio::spawn(async move { server.serve_unix(listener).await });
        Running { dir, task }
    }

    fn uri(&self) -> String {
        format!(
            "test+unix:///default?socket={}",
            self.dir.join("sock").display()
        )
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn credentials(user: &str, password: &str) -> Arc<dyn Credentials> {
    Arc::new(SaslCredentials::new(user, password))
}

#[tokio::test]
async fn sasl_plain_lets_the_right_account_in_only() {
    let server = Running::start("plain-client", plain());
    let client = Client::connect_with(&server.uri(), options(Some(credentials(USER, PASSWORD))))
        .await
        .unwrap();
    // The service knows who it serves.
    assert_eq!(client.connect_get_hostname().await.unwrap(), USER);
    client.close().await;

    for (user, password) in [(USER, "wrong"), ("mallory", PASSWORD)] {
        let e = Client::connect_with(&server.uri(), options(Some(credentials(user, password))))
            .await
            .unwrap_err();
        let r = refusal(&e);
        assert_eq!(r.code, ErrorNumber::ERR_AUTH_FAILED, "{e:?}");
        assert!(
            r.message
                .as_deref()
                .unwrap_or_default()
                .contains("wrong name or password"),
            "{r:?}"
        );
    }

    // A client that will not do SASL is refused by its own policy.
    let none = ConnectOptions::default().with_auth([AuthMethod::None]);
    assert!(Client::connect_with(&server.uri(), none).await.is_err());
}

#[tokio::test]
async fn calls_before_authentication_are_refused() {
    let server = Running::start("gate", plain());
    let mut sock = tokio::net::UnixStream::connect(server.dir.join("sock"))
        .await
        .unwrap();
    let mut engine = ClientEngine::new(Instant::now());
    let auth_list = engine.call::<program::procs::AuthList>(&()).unwrap();
    let hostname = engine
        .call::<program::procs::ConnectGetHostname>(&())
        .unwrap();
    while let Some(t) = engine.poll_transmit() {
        sock.write_all(&t.bytes).await.unwrap();
    }
    let mut answers = Vec::new();
    let mut buf = vec![0u8; 4096];
    while answers.len() < 2 {
        let n = sock.read(&mut buf).await.unwrap();
        assert!(n > 0, "the server closed the connection");
        engine.handle_input(&buf[..n], Instant::now());
        while let Some(event) = engine.poll_event() {
            if let Event::Reply { serial, result, .. } = event {
                answers.push((serial, result));
            }
        }
    }
    // AUTH_LIST says SASL; the other call is refused.
    let (serial, listed) = &answers[0];
    assert_eq!(*serial, auth_list);
    let listed = engine
        .decode_reply::<program::procs::AuthList>(listed.as_ref().unwrap())
        .unwrap();
    assert_eq!(listed.types, vec![remote::AuthType::Sasl]);
    let (serial, refused) = &answers[1];
    assert_eq!(*serial, hostname);
    match refused {
        Err(CallError::Remote(e)) => {
            assert_eq!(e.code, ErrorNumber::ERR_AUTH_FAILED);
            assert_eq!(e.message.as_deref(), Some("authentication required"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn polkit_decides_by_the_clients_credentials() {
    let me = my_uid();
    let server = Running::start(
        "polkit",
        Authentication::polkit(move |peer: &Peer| peer.credentials().is_some_and(|c| c.uid == me)),
    );
    let polkit = || ConnectOptions::default().with_auth([AuthMethod::Polkit]);
    let client = Client::connect_with(&server.uri(), polkit()).await.unwrap();
    assert_eq!(client.connect_get_hostname().await.unwrap(), "anonymous");
    client.close().await;

    let server = Running::start("polkit-no", Authentication::polkit(|_: &Peer| false));
    let e = Client::connect_with(&server.uri(), polkit())
        .await
        .unwrap_err();
    assert_eq!(refusal(&e).code, ErrorNumber::ERR_AUTH_FAILED, "{e:?}");
}

/// This process's user: the owner of what it creates.
fn my_uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    let probe = std::env::temp_dir().join(format!("lvp-auth-uid-{}", std::process::id()));
    std::fs::write(&probe, b"").unwrap();
    let uid = std::fs::metadata(&probe).unwrap().uid();
    std::fs::remove_file(&probe).unwrap();
    uid
}

/// `virsh -c <uri> args...` with `auth_file` as its `LIBVIRT_AUTH_FILE`,
/// on a blocking thread; `None` when virsh or Cyrus's PLAIN plugin is
/// missing (and the daemon tests are not required).
async fn virsh(uri: String, auth_file: &PathBuf, args: &[&str]) -> Option<Output> {
    if let Err(why) = common::sasl::sasl_ready("plain") {
        assert!(
            !common::required(),
            "{why} but LIBVIRT_PROTO_DAEMON_TESTS=1"
        );
        eprintln!("skipped: {why}");
        return None;
    }
    if Command::new("virsh").arg("--version").output().is_err() {
        assert!(
            !common::required(),
            "virsh not found but LIBVIRT_PROTO_DAEMON_TESTS=1"
        );
        eprintln!("skipped: virsh not found");
        return None;
    }
    let mut cmd = Command::new("virsh");
    cmd.arg("-c")
        .arg(uri)
        .args(args)
        .env("LC_ALL", "C")
        .env("LIBVIRT_AUTH_FILE", auth_file);
    Some(
        tokio::task::spawn_blocking(move || cmd.output())
            .await
            .unwrap()
            .unwrap(),
    )
}

#[tokio::test]
async fn virsh_authenticates_with_sasl_plain() {
    let server = Running::start("plain-virsh", plain());
    let auth_file = server.dir.join("auth.conf");
    let write = |password: &str| {
        std::fs::write(
            &auth_file,
            format!(
                "[credentials-t]\nauthname={USER}\npassword={password}\n\n\
                 [auth-libvirt-localhost]\ncredentials=t\n"
            ),
        )
        .unwrap()
    };
    write(&PASSWORD.replace(' ', "\\s"));
    let Some(out) = virsh(server.uri(), &auth_file, &["hostname"]).await else {
        return;
    };
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), USER);

    write("wrong");
    let out = virsh(server.uri(), &auth_file, &["hostname"])
        .await
        .unwrap();
    assert!(!out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("authentication failed"), "{stderr}");
}

#[tokio::test]
async fn virsh_authenticates_with_polkit() {
    let server = Running::start("polkit-virsh", Authentication::polkit(|_: &Peer| true));
    let none = server.dir.join("no-auth.conf");
    let Some(out) = virsh(server.uri(), &none, &["hostname"]).await else {
        return;
    };
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "anonymous");

    let server = Running::start("polkit-virsh-no", Authentication::polkit(|_: &Peer| false));
    let out = virsh(server.uri(), &none, &["hostname"]).await.unwrap();
    assert!(!out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("polkit denied"), "{stderr}");
}
