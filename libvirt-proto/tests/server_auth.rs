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

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::time::{Duration, Instant};

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
        Running::start_with(name, ServerOptions::default().with_auth(auth), true)
    }

    /// With `credentials` false, clients are served through
    /// `serve_connection`, which knows nothing of them (so not that one is
    /// root, who needs no polkit).
    fn start_with(name: &str, options: ServerOptions, credentials: bool) -> Running {
        let dir = std::env::temp_dir().join(format!("lvp-auth-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let listener = tokio::net::UnixListener::bind(dir.join("sock")).unwrap();
        let server = Server::new(Typed(WhoAmI), options);
        let task = if credentials {
            tokio::spawn(async move { server.serve_unix(listener).await })
        } else {
            tokio::spawn(async move {
                loop {
                    let (stream, _) = listener.accept().await?;
                    let server = server.clone();
                    tokio::spawn(async move { server.serve_connection(stream).await });
                }
            })
        };
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

/// A client of raw frames: this crate's engine makes the calls, and the
/// test reads the answers as they come.
struct Raw {
    sock: Box<dyn Stream>,
    engine: ClientEngine,
}

/// A connection to the server.
trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Stream for T {}

/// A call's answer, by serial.
type Answer = (u32, Result<Vec<u8>, CallError>);

impl Raw {
    async fn connect(server: &Running) -> Raw {
        let sock = tokio::net::UnixStream::connect(server.dir.join("sock"))
            .await
            .unwrap();
        Raw::over(sock)
    }

    fn over(sock: impl Stream + 'static) -> Raw {
        Raw {
            sock: Box::new(sock),
            engine: ClientEngine::new(Instant::now()),
        }
    }

    /// Sends the calls queued and waits for `n` answers; `None` when the
    /// server closes the connection first.
    async fn answers(&mut self, n: usize) -> Option<Vec<Answer>> {
        let mut answers = Vec::new();
        let mut buf = vec![0u8; 4096];
        while answers.len() < n {
            // Calls past the engine's window go as answers come.
            while let Some(t) = self.engine.poll_transmit() {
                self.sock.write_all(&t.bytes).await.unwrap();
            }
            let read = self.sock.read(&mut buf).await.unwrap();
            if read == 0 {
                return None;
            }
            self.engine.handle_input(&buf[..read], Instant::now());
            while let Some(event) = self.engine.poll_event() {
                if let Event::Reply { serial, result, .. } = event {
                    answers.push((serial, result));
                }
            }
        }
        Some(answers)
    }

    /// Whether the server closes the connection (what comes before is
    /// read and dropped).
    async fn closed(&mut self) -> bool {
        let mut buf = vec![0u8; 4096];
        loop {
            match self.sock.read(&mut buf).await {
                Ok(0) | Err(_) => return true,
                Ok(_) => {}
            }
        }
    }
}

fn refused_with(result: &Result<Vec<u8>, CallError>) -> &RemoteError {
    match result {
        Err(CallError::Remote(e)) => e,
        other => panic!("not refused: {other:?}"),
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

/// PLAIN whose check of bob's password waits until the test lets it go
/// (on a test's one thread, a check run by the connection's task would
/// stop everything), or refuses after 20 s; alice's answers at once.
/// The receiver learns when bob's check starts.
fn slow_for_bob() -> (
    Authentication,
    std::sync::mpsc::Receiver<()>,
    std::sync::mpsc::Sender<()>,
) {
    let (started_tx, started_rx) = std::sync::mpsc::channel::<()>();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let gate = Arc::new(std::sync::Mutex::new((started_tx, release_rx)));
    let auth = Authentication::sasl(move |_: &Peer| {
        let gate = gate.clone();
        Box::new(PlainSasl::new(move |name: &str, password: &str| {
            if name == "bob" {
                let gate = gate.lock().unwrap();
                gate.0.send(()).unwrap();
                if gate.1.recv_timeout(Duration::from_secs(20)).is_err() {
                    return false;
                }
            }
            password == PASSWORD
        }))
    });
    (auth, started_rx, release_tx)
}

/// Bob connecting, in a task of its own, once his check has started.
async fn bob_waiting(
    uri: &str,
    started: std::sync::mpsc::Receiver<()>,
) -> tokio::task::JoinHandle<String> {
    let uri = uri.to_owned();
    let bob = tokio::spawn(async move {
        let bob = Client::connect_with(&uri, options(Some(credentials("bob", PASSWORD))))
            .await
            .unwrap();
        bob.connect_get_hostname().await.unwrap()
    });
    tokio::task::spawn_blocking(move || started.recv_timeout(Duration::from_secs(20)))
        .await
        .unwrap()
        .expect("bob's check started");
    bob
}

#[tokio::test]
async fn a_slow_password_check_holds_up_only_its_own_client() {
    let (auth, started, release) = slow_for_bob();
    let server = Running::start("slow-check", auth);
    let bob = bob_waiting(&server.uri(), started).await;
    // While bob's check runs, alice authenticates and is served.
    let alice = Client::connect_with(&server.uri(), options(Some(credentials(USER, PASSWORD))))
        .await
        .unwrap();
    assert_eq!(alice.connect_get_hostname().await.unwrap(), USER);
    release.send(()).unwrap();
    assert_eq!(bob.await.unwrap(), "bob");
}

#[tokio::test]
async fn a_client_that_hangs_up_during_its_check_gives_its_place_back() {
    let (auth, started, release) = slow_for_bob();
    let limited = ServerOptions::default()
        .with_auth(auth)
        .with_max_anonymous_clients(1);
    let server = Running::start_with("hang-up", limited, true);
    let bob = bob_waiting(&server.uri(), started).await;
    // Bob goes while his check still runs: the only place is free again.
    bob.abort();
    let _ = bob.await;
    let alice = Client::connect_with(
        &server.uri(),
        options(Some(credentials(USER, PASSWORD))).with_connect_timeout(Duration::from_secs(10)),
    )
    .await
    .unwrap();
    assert_eq!(alice.connect_get_hostname().await.unwrap(), USER);
    release.send(()).unwrap();
}

#[tokio::test]
async fn a_check_that_panics_fails_the_exchange() {
    let auth = Authentication::sasl(|_: &Peer| {
        Box::new(PlainSasl::new(|_: &str, _: &str| -> bool {
            panic!("the password database is gone")
        }))
    });
    let server = Running::start("panicking-check", auth);
    let e = Client::connect_with(&server.uri(), options(Some(credentials(USER, PASSWORD))))
        .await
        .unwrap_err();
    let r = refusal(&e);
    assert_eq!(r.code, ErrorNumber::ERR_AUTH_FAILED, "{e:?}");
    assert_eq!(
        r.message.as_deref(),
        Some("authentication failed: the mechanism failed")
    );
    // The server goes on.
    assert!(!server.task.is_finished());
}

#[tokio::test]
async fn calls_before_authentication_are_refused() {
    use libvirt_proto::engine::FEATURE_PROGRAM_KEEPALIVE;
    use libvirt_proto::qemu;

    let server = Running::start("gate", plain());
    let mut raw = Raw::connect(&server).await;
    let e = &mut raw.engine;
    let auth_list = e.call::<program::procs::AuthList>(&()).unwrap();
    // The remote program, the keepalive feature, the close, and another
    // program: none reaches the service or the server's own handling.
    e.call::<program::procs::ConnectGetHostname>(&()).unwrap();
    let keepalive = remote::ConnectSupportsFeatureArgs {
        feature: FEATURE_PROGRAM_KEEPALIVE,
    };
    e.call::<program::procs::ConnectSupportsFeature>(&keepalive)
        .unwrap();
    e.call::<program::procs::ConnectClose>(&()).unwrap();
    let monitor = qemu::DomainMonitorCommandArgs {
        dom: remote::NonnullDomain {
            name: "d".into(),
            uuid: [0; 16].into(),
            id: 1,
        },
        cmd: "{}".into(),
        flags: 0,
    };
    e.call::<qemu::program::procs::DomainMonitorCommand>(&monitor)
        .unwrap();
    let answers = raw.answers(5).await.expect("the connection stays open");
    // AUTH_LIST says SASL; every other call is refused as libvirtd
    // refuses it.
    let (serial, listed) = &answers[0];
    assert_eq!(*serial, auth_list);
    let listed = raw
        .engine
        .decode_reply::<program::procs::AuthList>(listed.as_ref().unwrap())
        .unwrap();
    assert_eq!(listed.types, vec![remote::AuthType::Sasl]);
    for (_, result) in &answers[1..] {
        let e = refused_with(result);
        assert_eq!(e.code, ErrorNumber::ERR_RPC, "{e:?}");
        assert_eq!(e.message.as_deref(), Some("authentication required"));
    }

    // A start before the mechanisms are listed fails the exchange, and
    // the connection ends after the refusal.
    let start = remote::AuthSaslStartArgs {
        mech: "PLAIN".into(),
        nil: 0,
        data: plain_message(PASSWORD),
    };
    raw.engine
        .call::<program::procs::AuthSaslStart>(&start)
        .unwrap();
    let answers = raw.answers(1).await.unwrap();
    assert_eq!(
        refused_with(&answers[0].1).code,
        ErrorNumber::ERR_AUTH_FAILED
    );
    assert!(raw.closed().await);
}

/// PLAIN's message for `USER` with `password`, as the wire carries it.
fn plain_message(password: &str) -> Vec<i8> {
    format!("\0{USER}\0{password}")
        .bytes()
        .map(|b| b as i8)
        .collect()
}

#[tokio::test]
async fn a_failed_exchange_ends_the_connection() {
    let server = Running::start("one-try", plain());
    let mut raw = Raw::connect(&server).await;
    raw.engine
        .call::<program::procs::AuthSaslInit>(&())
        .unwrap();
    let wrong = remote::AuthSaslStartArgs {
        mech: "PLAIN".into(),
        nil: 0,
        data: plain_message("guess"),
    };
    raw.engine
        .call::<program::procs::AuthSaslStart>(&wrong)
        .unwrap();
    // A second guess, sent at once: never answered.
    raw.engine
        .call::<program::procs::AuthSaslStart>(&wrong)
        .unwrap();
    let answers = raw.answers(2).await.unwrap();
    assert!(answers[0].1.is_ok());
    let e = refused_with(&answers[1].1);
    assert_eq!(e.code, ErrorNumber::ERR_AUTH_FAILED);
    assert!(
        e.message
            .as_deref()
            .unwrap_or_default()
            .contains("wrong name or password"),
        "{e:?}"
    );
    assert!(raw.closed().await);
}

/// A client of raw frames to a server of `auth` on plain TCP.
async fn over_tcp(auth: Authentication) -> (Raw, tokio::task::JoinHandle<std::io::Result<()>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = Server::new(Typed(WhoAmI), ServerOptions::default().with_auth(auth));
    let task = tokio::spawn(async move { server.serve_tcp(listener).await });
    let sock = tokio::net::TcpStream::connect(address).await.unwrap();
    (Raw::over(sock), task)
}

#[tokio::test]
async fn plain_tcp_takes_no_exchange_without_a_security_layer_and_no_polkit() {
    // The right password, but PLAIN gives no security layer, which
    // libvirtd requires on plain TCP (libvirt's client does not even
    // try; this one neither, so the frames are sent by hand).
    let (mut raw, task) = over_tcp(plain()).await;
    raw.engine
        .call::<program::procs::AuthSaslInit>(&())
        .unwrap();
    let right = remote::AuthSaslStartArgs {
        mech: "PLAIN".into(),
        nil: 0,
        data: plain_message(PASSWORD),
    };
    raw.engine
        .call::<program::procs::AuthSaslStart>(&right)
        .unwrap();
    let answers = raw.answers(2).await.unwrap();
    assert!(answers[0].1.is_ok());
    let e = refused_with(&answers[1].1);
    assert_eq!(e.code, ErrorNumber::ERR_AUTH_FAILED);
    assert!(
        e.message
            .as_deref()
            .unwrap_or_default()
            .contains("no security layer"),
        "{e:?}"
    );
    assert!(raw.closed().await);
    task.abort();

    // polkit knows clients by their process: one on TCP has none, and is
    // refused without the check being asked.
    let (mut raw, task) = over_tcp(Authentication::polkit(|_: &Peer| {
        panic!("polkit asked about a TCP client")
    }))
    .await;
    raw.engine.call::<program::procs::AuthPolkit>(&()).unwrap();
    let answers = raw.answers(1).await.unwrap();
    assert_eq!(
        refused_with(&answers[0].1).code,
        ErrorNumber::ERR_AUTH_FAILED
    );
    task.abort();
}

#[tokio::test]
async fn clients_not_yet_authenticated_are_limited() {
    let limited = ServerOptions::default()
        .with_auth(plain())
        .with_max_anonymous_clients(1);
    let server = Running::start_with("anonymous", limited, true);
    // One client that never authenticates holds the only place.
    let mut idle = Raw::connect(&server).await;
    idle.engine.call::<program::procs::AuthList>(&()).unwrap();
    idle.answers(1).await.unwrap();
    let quick = || {
        options(Some(credentials(USER, PASSWORD)))
            .with_connect_timeout(std::time::Duration::from_millis(500))
    };
    match Client::connect_with(&server.uri(), quick()).await {
        Err(libvirt_proto::client::ClientError::Timeout(_)) => {}
        other => panic!("accepted while the place is taken: {other:?}"),
    }
    // Once it goes, the next is served; an authenticated client gives its
    // place back, so another one gets in too.
    drop(idle);
    let first = Client::connect_with(&server.uri(), options(Some(credentials(USER, PASSWORD))))
        .await
        .unwrap();
    assert_eq!(first.connect_get_hostname().await.unwrap(), USER);
    let second = Client::connect_with(&server.uri(), quick()).await.unwrap();
    assert_eq!(second.connect_get_hostname().await.unwrap(), USER);
}

#[tokio::test]
async fn polkit_decides_by_the_clients_credentials() {
    let polkit = || ConnectOptions::default().with_auth([AuthMethod::Polkit]);
    // The check decides for a client the server knows nothing of (served
    // by `serve_connection`).
    let unknown = |name, yes: bool| {
        let check = Authentication::polkit(move |peer: &Peer| {
            assert!(peer.credentials().is_none());
            yes
        });
        Running::start_with(name, ServerOptions::default().with_auth(check), false)
    };
    let server = unknown("polkit-yes", true);
    let client = Client::connect_with(&server.uri(), polkit()).await.unwrap();
    assert_eq!(client.connect_get_hostname().await.unwrap(), "anonymous");
    client.close().await;
    let server = unknown("polkit-no", false);
    let e = Client::connect_with(&server.uri(), polkit())
        .await
        .unwrap_err();
    assert_eq!(refusal(&e).code, ErrorNumber::ERR_AUTH_FAILED, "{e:?}");

    // On the Unix socket, by the client's user; root needs no polkit, as
    // with libvirtd, so a check that says no lets it in.
    let me = my_uid();
    let server = Running::start(
        "polkit-uid",
        Authentication::polkit(move |peer: &Peer| peer.credentials().is_some_and(|c| c.uid == me)),
    );
    let client = Client::connect_with(&server.uri(), ConnectOptions::default())
        .await
        .unwrap();
    assert_eq!(client.connect_get_hostname().await.unwrap(), "anonymous");
    let server = Running::start("polkit-root", Authentication::polkit(|_: &Peer| false));
    let root = Client::connect_with(&server.uri(), ConnectOptions::default()).await;
    assert_eq!(root.is_ok(), me == 0, "{root:?}");
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

/// `virsh -c <uri> args...` with `auth_file` as its `LIBVIRT_AUTH_FILE`
/// (see [`common::virsh::run_if_present`]).
async fn virsh(uri: String, auth_file: &Path, args: &[&str]) -> Option<Output> {
    let auth_file = auth_file.to_str().expect("a UTF-8 path");
    common::virsh::run_if_present("virsh", &uri, args, &[("LIBVIRT_AUTH_FILE", auth_file)]).await
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
    if let Err(why) = common::sasl::sasl_ready("plain") {
        assert!(
            !common::required(),
            "{why} but LIBVIRT_PROTO_DAEMON_TESTS=1"
        );
        eprintln!("skipped: {why}");
        return;
    }
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
    assert!(
        stderr.contains("authentication failed: wrong name or password"),
        "{stderr}"
    );
}

#[tokio::test]
async fn virsh_authenticates_with_polkit() {
    // Served without credentials, so that polkit is asked even for root.
    let options = ServerOptions::default().with_auth(Authentication::polkit(|_: &Peer| true));
    let server = Running::start_with("polkit-virsh", options, false);
    let none = server.dir.join("no-auth.conf");
    let Some(out) = virsh(server.uri(), &none, &["hostname"]).await else {
        return;
    };
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "anonymous");

    let options = ServerOptions::default().with_auth(Authentication::polkit(|_: &Peer| false));
    let server = Running::start_with("polkit-virsh-no", options, false);
    let out = virsh(server.uri(), &none, &["hostname"]).await.unwrap();
    assert!(!out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("polkit denied"), "{stderr}");
}
