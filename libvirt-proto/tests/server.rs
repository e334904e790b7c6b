//! The server framework with a fake hypervisor of a few procedures,
//! spoken to by this crate's client and by the real `virsh`: the open
//! handshake, calls answered concurrently, errors (unsupported, a wrong
//! reply, a stream), events pushed to a registered callback, byte
//! streams both ways (with holes on sparse volume transfers, which
//! `virsh vol-download --sparse` / `vol-upload --sparse` keep), and
//! `CONNECT_CLOSE`.
//!
//! The `virsh` parts need `virsh`; without it they say so and pass,
//! unless `LIBVIRT_PROTO_DAEMON_TESTS=1` (`cargo xtask test`).

#![cfg(all(feature = "client", feature = "server"))]

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use libvirt_proto::api::{DomainEventID, DomainEventType};
use libvirt_proto::client::{Client, ClientError, ConnectOptions, DomainEvent};
use libvirt_proto::client_config::ConfigSource;
use libvirt_proto::dispatch::{Call, Message, Reply};
use libvirt_proto::error::RemoteError;
use libvirt_proto::error_codes::ErrorNumber;
use libvirt_proto::remote::{self, program};
use libvirt_proto::server::{
    unsupported, ClientStreamEvent, EventError, HoleError, Peer, Server, ServerOptions,
    ServerStream, Service,
};
use tokio::sync::Notify;

/// libvirt's `VIR_DRV_FEATURE_REMOTE_EVENT_CALLBACK`.
const REMOTE_EVENT_CALLBACK: i32 = 14;

/// A hypervisor of one domain, "fake".
#[derive(Default)]
struct Fake {
    /// `CONNECT_GET_VERSION` answers only once this is notified.
    release_version: Notify,
    /// The clients that opened.
    opened: std::sync::Mutex<Vec<Peer>>,
    /// What uploads brought (holes as zeros).
    uploaded: tokio::sync::Mutex<Option<tokio::sync::oneshot::Sender<Vec<u8>>>>,
    /// How many holes uploads brought.
    upload_holes: Arc<std::sync::atomic::AtomicUsize>,
    /// An upload with flags 7 is read only once this is notified.
    upload_gate: Arc<Notify>,
    /// Notified when the endless download's stream is closed.
    endless_closed: Arc<Notify>,
}

fn fake_domain() -> remote::NonnullDomain {
    remote::NonnullDomain {
        name: "fake".into(),
        uuid: [7; 16].into(),
        id: 1,
    }
}

impl Service for Fake {
    async fn call(&self, peer: &Peer, call: Call) -> Result<Reply, RemoteError> {
        use program::Call as C;
        use program::Reply as R;
        let Call::Remote(remote) = call else {
            return Err(unsupported(&call));
        };
        Ok(Reply::Remote(match remote {
            C::ConnectOpen(_) => {
                self.opened.lock().unwrap().push(peer.clone());
                R::ConnectOpen(())
            }
            // Event callbacks, as libvirt numbers the feature.
            C::ConnectSupportsFeature(f) => {
                R::ConnectSupportsFeature(remote::ConnectSupportsFeatureRet {
                    supported: i32::from(f.feature == REMOTE_EVENT_CALLBACK),
                })
            }
            C::ConnectGetHostname(()) => R::ConnectGetHostname(remote::ConnectGetHostnameRet {
                hostname: "rusty".into(),
            }),
            C::ConnectGetLibVersion(()) => {
                R::ConnectGetLibVersion(remote::ConnectGetLibVersionRet {
                    lib_ver: 11_003_000,
                })
            }
            C::ConnectGetVersion(()) => {
                self.release_version.notified().await;
                R::ConnectGetVersion(remote::ConnectGetVersionRet { hv_ver: 42 })
            }
            // The wrong reply, on purpose.
            C::ConnectGetType(()) => R::ConnectGetHostname(remote::ConnectGetHostnameRet {
                hostname: "wrong".into(),
            }),
            C::ConnectDomainEventCallbackRegisterAny(_) => {
                // The event goes out once the reply has: what the client
                // then gets is the callback's first event.
                let peer = peer.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    let event = remote::DomainEventCallbackLifecycleMsg {
                        callback_id: 7,
                        msg: remote::DomainEventLifecycleMsg {
                            dom: fake_domain(),
                            event: DomainEventType::STARTED.0,
                            detail: 0,
                        },
                    };
                    let message = program::Message::DomainEventCallbackLifecycle(event);
                    let _ = peer.send_event(Message::Remote(message)).await;
                });
                R::ConnectDomainEventCallbackRegisterAny(
                    remote::ConnectDomainEventCallbackRegisterAnyRet { callback_id: 7 },
                )
            }
            C::ConnectDomainEventCallbackDeregisterAny(_) => {
                R::ConnectDomainEventCallbackDeregisterAny(())
            }
            C::ConnectGetSysinfo(_) => panic!("a bug in the service"),
            C::StoragePoolLookupByName(a) if a.name == "pool" => {
                R::StoragePoolLookupByName(remote::StoragePoolLookupByNameRet { pool: pool() })
            }
            C::StoragePoolIsActive(_) => {
                R::StoragePoolIsActive(remote::StoragePoolIsActiveRet { active: 1 })
            }
            C::StorageVolLookupByName(a) => {
                R::StorageVolLookupByName(remote::StorageVolLookupByNameRet {
                    vol: remote::NonnullStorageVol {
                        pool: a.pool.name,
                        key: format!("/pool/{}", a.name.as_str()).into(),
                        name: a.name,
                    },
                })
            }
            C::DomainLookupByName(a) if a.name == "fake" => {
                R::DomainLookupByName(remote::DomainLookupByNameRet { dom: fake_domain() })
            }
            other => return Err(unsupported(&Call::Remote(other))),
        }))
    }

    async fn call_stream(
        &self,
        _peer: &Peer,
        call: Call,
        mut stream: ServerStream,
    ) -> Result<Reply, RemoteError> {
        use program::Call as C;
        use program::Reply as R;
        Ok(Reply::Remote(match call {
            // A read stream: the screen, then its end; the client's
            // finish is answered.
            Call::Remote(C::DomainScreenshot(_)) => {
                tokio::spawn(async move {
                    stream.send(&screen()).await.unwrap();
                    stream.end().await.unwrap();
                    assert_eq!(stream.recv().await, Some(ClientStreamEvent::Finish));
                    stream.finish().await.unwrap();
                });
                R::DomainScreenshot(remote::DomainScreenshotRet {
                    mime: Some("image/x-fake".into()).into(),
                })
            }
            // A write stream: everything until the client's finish.
            Call::Remote(C::StorageVolUpload(a)) => {
                let done = self.uploaded.lock().await.take();
                let gate = (a.flags == 7 || a.flags == 9).then(|| self.upload_gate.clone());
                let refuse = a.flags == 9;
                let holes = self.upload_holes.clone();
                tokio::spawn(async move {
                    if let Some(gate) = gate {
                        gate.notified().await;
                    }
                    if refuse {
                        let e = RemoteError::new(
                            ErrorNumber::ERR_OPERATION_FAILED,
                            libvirt_proto::error_codes::ErrorDomain::STORAGE,
                            "the volume is full",
                        );
                        return stream.abort(e).await.unwrap();
                    }
                    let mut got = Vec::new();
                    while let Some(event) = stream.recv().await {
                        match event {
                            ClientStreamEvent::Data(d) => {
                                got.extend_from_slice(&d);
                                stream.give_back(d);
                            }
                            ClientStreamEvent::Hole(n) => {
                                assert!(stream.is_sparse());
                                let n = usize::try_from(n).unwrap();
                                assert!(n <= 64 << 20, "a hole of {n} bytes");
                                got.resize(got.len() + n, 0);
                                holes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            }
                            ClientStreamEvent::Finish => break,
                            other => panic!("{other:?}"),
                        }
                    }
                    stream.finish().await.unwrap();
                    if let Some(done) = done {
                        let _ = done.send(got);
                    }
                });
                R::StorageVolUpload(())
            }
            // A stream the service drops at once.
            Call::Remote(C::StorageVolDownload(a)) if a.vol.name == "gone" => {
                R::StorageVolDownload(())
            }
            // Data until the stream is closed.
            Call::Remote(C::StorageVolDownload(a)) if a.vol.name == "endless" => {
                let closed = self.endless_closed.clone();
                tokio::spawn(async move {
                    let packet = vec![7; libvirt_proto::server::STREAM_PACKET];
                    while stream.send(&packet).await.is_ok() {}
                    closed.notify_one();
                });
                R::StorageVolDownload(())
            }
            // Data, a run of zeros (a hole if the client asked for a
            // sparse stream), data.
            Call::Remote(C::StorageVolDownload(_)) => {
                tokio::spawn(async move {
                    let (head, zeros, tail) = sparse_volume();
                    stream.send(&head).await.unwrap();
                    if stream.is_sparse() {
                        stream.hole(zeros).await.unwrap();
                    } else {
                        assert_eq!(stream.hole(zeros).await, Err(HoleError::NotSparse));
                        stream.send(&vec![0; zeros as usize]).await.unwrap();
                    }
                    stream.send(&tail).await.unwrap();
                    stream.end().await.unwrap();
                    assert_eq!(stream.recv().await, Some(ClientStreamEvent::Finish));
                    stream.finish().await.unwrap();
                });
                R::StorageVolDownload(())
            }
            other => return Err(unsupported(&other)),
        }))
    }
}

struct Running {
    dir: PathBuf,
    fake: Arc<Fake>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    /// Sent to stop accepting.
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Running {
    fn socket(&self) -> PathBuf {
        self.dir.join("sock")
    }

    fn uri(&self) -> String {
        format!("test+unix:///default?socket={}", self.socket().display())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A `Service` shared with the test, to reach its `Notify`.
struct Shared(Arc<Fake>);

impl Service for Shared {
    async fn call(&self, peer: &Peer, call: Call) -> Result<Reply, RemoteError> {
        self.0.call(peer, call).await
    }

    async fn call_stream(
        &self,
        peer: &Peer,
        call: Call,
        stream: ServerStream,
    ) -> Result<Reply, RemoteError> {
        self.0.call_stream(peer, call, stream).await
    }
}

/// What the fake screen shows: a pattern over several packets.
fn screen() -> Vec<u8> {
    (0..(1 << 20) + 17).map(|i: u32| (i % 251) as u8).collect()
}

fn start(name: &str) -> Running {
    start_with(name, ServerOptions::default())
}

fn start_with(name: &str, options: ServerOptions) -> Running {
    let dir = std::env::temp_dir().join(format!("lvp-server-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let listener = tokio::net::UnixListener::bind(dir.join("sock")).unwrap();
    let fake = Arc::new(Fake::default());
    let server = Server::new(Shared(fake.clone()), options);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let shutdown = async {
            let _ = stopped.await;
        };
        server.serve_unix_until(listener, shutdown).await
    });
    Running {
        dir,
        fake,
        task,
        stop: Some(stop),
    }
}

async fn client(server: &Running) -> Client {
    let options = ConnectOptions::default().with_config(ConfigSource::None);
    Client::connect_with(&server.uri(), options).await.unwrap()
}

#[tokio::test]
async fn the_client_opens_calls_and_closes() {
    let server = start("calls");
    let client = client(&server).await;
    assert_eq!(client.connect_get_hostname().await.unwrap(), "rusty");
    assert_eq!(client.connect_get_lib_version().await.unwrap(), 11_003_000);
    let dom = client.domain_lookup_by_name("fake").await.unwrap();
    assert_eq!(dom.id, 1);
    client.close().await;
}

/// A transport that holds what is written until it is flushed, as a TLS
/// stream may hold its records: every reply still reaches the client.
#[tokio::test]
async fn a_transport_that_holds_writes_is_flushed() {
    let dir = std::env::temp_dir().join(format!("lvp-server-held-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let listener = tokio::net::UnixListener::bind(dir.join("sock")).unwrap();
    let fake = Arc::new(Fake::default());
    let server = Server::new(Shared(fake.clone()), ServerOptions::default());
    let task = tokio::spawn(async move {
        let (stream, _) = listener.accept().await?;
        server
            .serve_connection(tokio::io::BufWriter::new(stream))
            .await;
        Ok(())
    });
    let server = Running {
        dir,
        fake,
        task,
        stop: None,
    };
    let answers = async {
        let client = client(&server).await;
        assert_eq!(client.connect_get_hostname().await.unwrap(), "rusty");
        assert_eq!(client.connect_get_lib_version().await.unwrap(), 11_003_000);
    };
    tokio::time::timeout(Duration::from_secs(30), answers)
        .await
        .expect("a reply stayed in the transport's buffer");
}

#[tokio::test]
async fn calls_are_answered_as_they_finish() {
    let server = start("concurrent");
    let client = client(&server).await;
    let slow = tokio::spawn({
        let client = client.clone();
        async move { client.connect_get_version().await }
    });
    // Answered while the slow call waits.
    for _ in 0..3 {
        assert_eq!(client.connect_get_hostname().await.unwrap(), "rusty");
    }
    assert!(!slow.is_finished());
    server.fake.release_version.notify_one();
    assert_eq!(slow.await.unwrap().unwrap(), 42);
}

#[tokio::test]
async fn errors_reach_the_client_and_the_connection_goes_on() {
    let server = start("errors");
    let client = client(&server).await;
    // Not implemented by the service.
    match client.connect_get_capabilities().await {
        Err(ClientError::Unsupported(e)) => assert_eq!(e.code, ErrorNumber::ERR_NO_SUPPORT),
        other => panic!("{other:?}"),
    }
    // The service's reply is for another procedure.
    match client.connect_get_type().await {
        Err(ClientError::Remote(e)) => {
            assert_eq!(e.code, ErrorNumber::ERR_INTERNAL_ERROR);
            assert!(e
                .message
                .as_deref()
                .unwrap()
                .contains("REMOTE_PROC_CONNECT_GET_TYPE"));
        }
        other => panic!("{other:?}"),
    }
    // A stream procedure the service does not implement.
    let dom = client.domain_lookup_by_name("fake").await.unwrap();
    assert!(matches!(
        dom.open_console(None, 0).await,
        Err(ClientError::Unsupported(_))
    ));
    // The service panics: the client is answered, the connection goes on.
    match client.connect_get_sysinfo(0).await {
        Err(ClientError::Remote(e)) => assert_eq!(e.code, ErrorNumber::ERR_INTERNAL_ERROR),
        other => panic!("{other:?}"),
    }
    assert_eq!(client.connect_get_hostname().await.unwrap(), "rusty");
}

#[tokio::test]
async fn clients_past_the_limit_wait_for_a_place() {
    let server = start_with("max-clients", ServerOptions::default().with_max_clients(1));
    let first = client(&server).await;
    let second = tokio::spawn({
        let uri = server.uri();
        async move {
            let options = ConnectOptions::default().with_config(ConfigSource::None);
            Client::connect_with(&uri, options).await
        }
    });
    // Round trips on the first give the second every chance to run; it
    // cannot open while the first is served.
    for _ in 0..20 {
        first.connect_get_hostname().await.unwrap();
    }
    assert!(!second.is_finished());
    first.close().await;
    let second = second.await.unwrap().unwrap();
    assert_eq!(second.connect_get_hostname().await.unwrap(), "rusty");
}

#[tokio::test]
async fn events_reach_a_registered_callback() {
    let server = start("events");
    let client = client(&server).await;
    let mut events = client
        .domain_events(DomainEventID::LIFECYCLE, None)
        .await
        .unwrap();
    assert_eq!(events.callback_id(), Some(7));
    let event = tokio::time::timeout(Duration::from_secs(30), events.next())
        .await
        .expect("no event");
    match event {
        Some(Ok(DomainEvent::Lifecycle { domain, event, .. })) => {
            assert_eq!(domain.name, "fake");
            assert_eq!(event, DomainEventType::STARTED);
        }
        other => panic!("{other:?}"),
    }
}

/// `virsh -c <server> args...` (see [`common::virsh::run_if_present`]).
async fn virsh(server: &Running, args: &[&str]) -> Option<std::process::Output> {
    common::virsh::run_if_present("virsh", &server.uri(), args, &[]).await
}

#[tokio::test]
async fn virsh_talks_to_it() {
    let server = start("virsh");
    let Some(out) = virsh(&server, &["hostname"]).await else {
        return;
    };
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "rusty");

    // What the service does not do, virsh reports as libvirt's error.
    let out = virsh(&server, &["capabilities"]).await.unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("this function is not supported by the connection driver"),
        "{stderr}"
    );

    // An event pushed by the service, as `virsh event` prints it.
    let out = virsh(
        &server,
        &["event", "--event", "lifecycle", "--timeout", "5"],
    )
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("event 'lifecycle' for domain 'fake': Started"),
        "{out:?}"
    );
}

/// A client of raw bytes: this crate's engine makes its calls, and the
/// test decides what it reads and when.
struct RawClient {
    sock: tokio::net::UnixStream,
    engine: libvirt_proto::engine::ClientEngine,
}

impl RawClient {
    async fn connect(server: &Running) -> RawClient {
        let sock = tokio::net::UnixStream::connect(server.socket())
            .await
            .unwrap();
        let engine = libvirt_proto::engine::ClientEngine::new(std::time::Instant::now());
        RawClient { sock, engine }
    }

    /// Queues a call; its serial.
    fn call<P: libvirt_proto::xdr::RemoteProcedure>(&mut self, args: &P::Args) -> u32 {
        self.engine.call::<P>(args).unwrap()
    }

    /// Queues the question whether the keepalive program is supported,
    /// as libvirt's client asks it: the server's pings start.
    fn ask_keepalive(&mut self) {
        use libvirt_proto::engine::FEATURE_PROGRAM_KEEPALIVE;
        self.call::<program::procs::ConnectSupportsFeature>(&remote::ConnectSupportsFeatureArgs {
            feature: FEATURE_PROGRAM_KEEPALIVE,
        });
    }

    /// Writes what is queued.
    async fn send(&mut self) {
        use tokio::io::AsyncWriteExt;
        while let Some(t) = self.engine.poll_transmit() {
            self.sock.write_all(&t.bytes).await.unwrap();
        }
    }
}

/// The fake domain's screenshot.
fn screenshot_args() -> remote::DomainScreenshotArgs {
    remote::DomainScreenshotArgs {
        dom: fake_domain(),
        screen: 0,
        flags: 0,
    }
}

/// A download of the whole volume `name`.
fn download_args(name: &str) -> remote::StorageVolDownloadArgs {
    remote::StorageVolDownloadArgs {
        vol: named_volume(name),
        offset: 0,
        length: 0,
        flags: 0,
    }
}

#[tokio::test]
async fn a_silent_client_is_dropped_by_keepalive() {
    use tokio::io::AsyncReadExt;

    let options = ServerOptions::default().with_keepalive((Duration::from_millis(50), 2));
    let server = start_with("keepalive", options);
    // It asks for keepalive, as libvirt's client does, which starts the
    // server's pings; then it reads them and never answers: the server
    // ends the connection after two of them.
    let mut silent = RawClient::connect(&server).await;
    silent.ask_keepalive();
    silent.send().await;
    let mut seen = Vec::new();
    let read_all = silent.sock.read_to_end(&mut seen);
    tokio::time::timeout(Duration::from_secs(30), read_all)
        .await
        .expect("still open")
        .unwrap();
    // The answer (28 bytes and the flag), then pings: 28-byte frames of
    // the keepalive program.
    assert!(seen.len() >= 32 + 2 * 28, "{} bytes", seen.len());
    assert_eq!(&seen[32 + 4..32 + 8], &0x6b65_6570u32.to_be_bytes());
    // Other clients are served meanwhile and after.
    let client = client(&server).await;
    assert_eq!(client.connect_get_hostname().await.unwrap(), "rusty");
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_by_keepalive() {
    use libvirt_proto::remote::program::procs;

    let options = ServerOptions::default().with_keepalive((Duration::from_millis(50), 2));
    let server = start_with("stalled", options);
    // It asks for keepalive and for an endless download, then reads
    // nothing: the output waiting for it passes the throttle, which stops
    // the server reading its socket, and yet it is dropped.
    let mut stalled = RawClient::connect(&server).await;
    stalled.ask_keepalive();
    stalled.call::<procs::StorageVolDownload>(&download_args("endless"));
    stalled.send().await;
    let closed = server.fake.endless_closed.notified();
    tokio::time::timeout(Duration::from_secs(30), closed)
        .await
        .expect("the stalled client is still served");
    drop(stalled);
    let client = client(&server).await;
    assert_eq!(client.connect_get_hostname().await.unwrap(), "rusty");
}

#[tokio::test]
async fn a_zero_keepalive_interval_drops_no_slow_reader() {
    use libvirt_proto::remote::program::procs;
    use tokio::io::AsyncReadExt;

    // Interval zero: keepalive off, so no client is judged at all.
    let options = ServerOptions::default().with_keepalive((Duration::ZERO, 2));
    let server = start_with("keepalive-off", options);
    let mut slow = RawClient::connect(&server).await;
    slow.ask_keepalive();
    slow.call::<procs::DomainScreenshot>(&screenshot_args());
    slow.send().await;
    // The screen fills the socket while this client waits; then it reads
    // all of it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut got = 0;
    let mut buf = vec![0; 64 << 10];
    while got < screen().len() {
        let read = tokio::time::timeout(Duration::from_secs(30), slow.sock.read(&mut buf));
        match read.await.expect("nothing more came") {
            Ok(0) => panic!("dropped after {got} bytes"),
            Ok(n) => got += n,
            Err(e) => panic!("{e}"),
        }
    }
}

#[tokio::test]
async fn a_client_that_closes_without_reading_is_let_go() {
    use libvirt_proto::remote::program::procs;
    use tokio::io::AsyncReadExt;

    // No keepalive: the close alone bounds how long its answer, behind a
    // screenshot larger than the socket's buffer, may wait to go (5 s).
    let server = start_with(
        "close-unread",
        ServerOptions::default().with_keepalive(None),
    );
    let mut unread = RawClient::connect(&server).await;
    unread.call::<procs::DomainScreenshot>(&screenshot_args());
    unread.send().await;
    // The screen is queued for it meanwhile (more is taken from the
    // service only before the close).
    tokio::time::sleep(Duration::from_millis(300)).await;
    unread.call::<procs::ConnectClose>(&());
    unread.send().await;
    tokio::time::sleep(Duration::from_secs(7)).await;
    // What the socket held when the server let go, then the end.
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), unread.sock.read_to_end(&mut got))
        .await
        .expect("the closing client is still served")
        .unwrap();
    assert!(got.len() < screen().len(), "{} bytes", got.len());
}

fn lifecycle_event(name: String) -> Message {
    let event = remote::DomainEventCallbackLifecycleMsg {
        callback_id: 7,
        msg: remote::DomainEventLifecycleMsg {
            dom: remote::NonnullDomain {
                name: name.into(),
                uuid: [7; 16].into(),
                id: 1,
            },
            event: DomainEventType::STARTED.0,
            detail: 0,
        },
    };
    Message::Remote(program::Message::DomainEventCallbackLifecycle(event))
}

#[tokio::test]
async fn events_too_large_or_for_a_gone_client_are_refused() {
    let server = start("peer");
    let client = client(&server).await;
    let peer = server.fake.opened.lock().unwrap()[0].clone();
    assert!(!peer.is_gone());
    // Larger than a message may be: refused, not sent.
    let huge = lifecycle_event("x".repeat(33 << 20));
    assert_eq!(peer.try_send_event(huge), Err(EventError::TooLarge));
    // A name longer than the protocol's strings may be.
    let long = lifecycle_event("x".repeat((4 << 20) + 1));
    assert_eq!(peer.try_send_event(long), Err(EventError::Invalid));
    assert_eq!(peer.try_send_event(lifecycle_event("fake".into())), Ok(()));
    client.close().await;
    tokio::time::timeout(Duration::from_secs(30), peer.gone())
        .await
        .expect("the peer is not gone");
    assert!(peer.is_gone());
    assert_eq!(
        peer.send_event(lifecycle_event("fake".into())).await,
        Err(EventError::Gone)
    );
}

#[tokio::test]
async fn hostile_clients_end_alone() {
    use libvirt_proto::engine::ClientEngine;
    use libvirt_proto::remote::program::procs;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let server = start("hostile");
    // A length no frame may have: that connection ends, at once.
    let mut liar = tokio::net::UnixStream::connect(server.socket())
        .await
        .unwrap();
    liar.write_all(&u32::MAX.to_be_bytes()).await.unwrap();
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), liar.read_to_end(&mut rest))
        .await
        .expect("still open")
        .unwrap();
    assert!(rest.is_empty(), "{rest:?}");

    // Thousands of calls from a client that never reads its answers: the
    // server stops reading it, and serves others meanwhile.
    let mut flood = tokio::net::UnixStream::connect(server.socket())
        .await
        .unwrap();
    let mut engine = ClientEngine::new(std::time::Instant::now());
    engine.set_max_in_flight(usize::MAX);
    let mut calls = Vec::new();
    for _ in 0..5000 {
        engine.call::<procs::ConnectGetHostname>(&()).unwrap();
    }
    while let Some(t) = engine.poll_transmit() {
        calls.extend_from_slice(&t.bytes);
    }
    // The server takes what it can; the rest waits in the socket.
    let write = tokio::spawn(async move {
        let _ = flood.write_all(&calls).await;
        flood
    });
    let client = client(&server).await;
    for _ in 0..10 {
        assert_eq!(client.connect_get_hostname().await.unwrap(), "rusty");
    }
    write.abort();
}

#[tokio::test]
async fn a_unix_client_is_known_by_its_credentials() {
    use std::os::unix::fs::MetadataExt;

    let server = start("credentials");
    let _client = client(&server).await;
    let peer = server.fake.opened.lock().unwrap()[0].clone();
    let me = std::fs::metadata("/proc/self").unwrap();
    let credentials = peer.credentials().expect("a Unix client has credentials");
    assert_eq!((credentials.uid, credentials.gid), (me.uid(), me.gid()));
    assert_eq!(credentials.pid, Some(std::process::id() as i32));
}

#[tokio::test]
async fn after_shutdown_no_client_is_accepted_and_the_others_go_on() {
    let mut server = start("shutdown");
    let client = client(&server).await;
    server.stop.take().unwrap().send(()).unwrap();
    let task = &mut server.task;
    tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .expect("still accepting")
        .unwrap()
        .unwrap();
    let options = ConnectOptions::default().with_config(ConfigSource::None);
    assert!(matches!(
        Client::connect_with(&server.uri(), options).await,
        Err(ClientError::Connect { .. })
    ));
    assert_eq!(client.connect_get_hostname().await.unwrap(), "rusty");
}

fn pool() -> remote::NonnullStoragePool {
    remote::NonnullStoragePool {
        name: "pool".into(),
        uuid: [9; 16].into(),
    }
}

fn volume() -> remote::NonnullStorageVol {
    named_volume("vol")
}

fn named_volume(name: &str) -> remote::NonnullStorageVol {
    remote::NonnullStorageVol {
        pool: "pool".into(),
        name: name.into(),
        key: format!("/pool/{name}").into(),
    }
}

/// What a volume download sends: data, a run of zeros, data.
fn sparse_volume() -> (Vec<u8>, u64, Vec<u8>) {
    let head = (0..300_000).map(|i: u32| (i % 241) as u8 | 1).collect();
    let tail = (0..70_000).map(|i: u32| (i % 239) as u8 | 1).collect();
    (head, 3 << 20, tail)
}

/// The whole volume, its zeros written out.
fn sparse_volume_bytes() -> Vec<u8> {
    let (mut bytes, zeros, tail) = sparse_volume();
    bytes.resize(bytes.len() + zeros as usize, 0);
    bytes.extend_from_slice(&tail);
    bytes
}

#[tokio::test]
async fn streams_carry_data_both_ways() {
    let server = start("streams");
    let client = client(&server).await;
    streams_both_ways(&server, &client).await;
}

/// The same over TCP, where both ends read through a byte stream rather
/// than a Unix socket (a different path into large messages' bodies).
#[tokio::test]
async fn streams_carry_data_both_ways_over_tcp() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let fake = Arc::new(Fake::default());
    let server = Server::new(Shared(fake.clone()), ServerOptions::default());
    let task = tokio::spawn(async move { server.serve_tcp(listener).await });
    let server = Running {
        dir: std::env::temp_dir().join(format!("lvp-server-tcp-{}", std::process::id())),
        fake,
        task,
        stop: None,
    };
    let options = ConnectOptions::default().with_config(ConfigSource::None);
    let uri = format!("test+tcp://127.0.0.1:{port}/default");
    let client = Client::connect_with(&uri, options).await.unwrap();
    streams_both_ways(&server, &client).await;
}

/// A download, an upload and a stream the service dropped.
async fn streams_both_ways(server: &Running, client: &Client) {
    use libvirt_proto::remote::program::procs;

    // Download: the screen, whole, in order.
    let dom = client.domain_lookup_by_name("fake").await.unwrap();
    let (mime, mut stream) = dom.screenshot(0, 0).await.unwrap();
    assert_eq!(mime.as_deref(), Some("image/x-fake"));
    assert_eq!(stream.recv_all(4 << 20).await.unwrap(), screen());

    // Upload: 3 MiB and a bit, as the service received it.
    let (tx, rx) = tokio::sync::oneshot::channel();
    *server.fake.uploaded.lock().await = Some(tx);
    let args = remote::StorageVolUploadArgs {
        vol: volume(),
        offset: 0,
        length: 0,
        flags: 0,
    };
    let ((), mut stream) = client
        .call_stream::<procs::StorageVolUpload>(&args)
        .await
        .unwrap();
    let data: Vec<u8> = (0..(3 << 20) + 5).map(|i: u32| (i % 253) as u8).collect();
    stream.send(&data).await.unwrap();
    // As `AsyncWrite` ends it; once more, and the finish, say the same.
    use tokio::io::AsyncWriteExt;
    stream.shutdown().await.unwrap();
    stream.shutdown().await.unwrap();
    stream.finish().await.unwrap();
    assert_eq!(rx.await.unwrap(), data);

    // A stream the service dropped: the client is told.
    let args = download_args("gone");
    let ((), mut stream) = client
        .call_stream::<procs::StorageVolDownload>(&args)
        .await
        .unwrap();
    match stream.recv_all(1 << 20).await {
        Err(ClientError::Remote(e)) => {
            assert!(e.message.unwrap().contains("dropped"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(client.connect_get_hostname().await.unwrap(), "rusty");
}

#[tokio::test]
async fn sparse_streams_carry_holes_both_ways() {
    use libvirt_proto::client::Chunk;
    use libvirt_proto::remote::program::procs;
    use std::sync::atomic::Ordering;

    let server = start("sparse-streams");
    let client = client(&server).await;
    let download = |flags| remote::StorageVolDownloadArgs {
        flags,
        ..download_args("vol")
    };
    // Sparse: the zeros come as one hole, between the data.
    let ((), mut stream) = client
        .call_stream::<procs::StorageVolDownload>(&download(1))
        .await
        .unwrap();
    assert!(stream.is_sparse());
    let (head, zeros, tail) = sparse_volume();
    let (mut data, mut holes) = (Vec::new(), Vec::new());
    while let Some(chunk) = stream.recv_chunk().await.unwrap() {
        match chunk {
            Chunk::Data(d) => data.extend_from_slice(&d),
            Chunk::Hole(n) => {
                assert_eq!(data.len(), head.len(), "the hole comes after the head");
                holes.push(n);
            }
        }
    }
    assert_eq!(holes, [zeros]);
    assert_eq!(data, [head.clone(), tail.clone()].concat());

    // Not sparse: the service may not send a hole, and sends the zeros.
    let ((), mut stream) = client
        .call_stream::<procs::StorageVolDownload>(&download(0))
        .await
        .unwrap();
    assert!(!stream.is_sparse());
    assert_eq!(
        stream.recv_all(8 << 20).await.unwrap(),
        sparse_volume_bytes()
    );

    // A sparse upload: the service gets the client's hole.
    let (tx, rx) = tokio::sync::oneshot::channel();
    *server.fake.uploaded.lock().await = Some(tx);
    let args = remote::StorageVolUploadArgs {
        vol: volume(),
        offset: 0,
        length: 0,
        flags: 1,
    };
    let ((), mut stream) = client
        .call_stream::<procs::StorageVolUpload>(&args)
        .await
        .unwrap();
    stream.send(&head).await.unwrap();
    stream.send_hole(zeros).await.unwrap();
    stream.send(&tail).await.unwrap();
    stream.finish().await.unwrap();
    assert_eq!(rx.await.unwrap(), sparse_volume_bytes());
    assert_eq!(server.fake.upload_holes.load(Ordering::Relaxed), 1);
    assert_eq!(client.connect_get_hostname().await.unwrap(), "rusty");
}

#[tokio::test]
async fn virsh_moves_sparse_volumes() {
    use std::io::{Seek, SeekFrom, Write};
    use std::os::unix::fs::MetadataExt;
    use std::sync::atomic::Ordering;

    let server = start("virsh-sparse");
    let file = server.dir.join("vol.img");
    let path = file.to_str().unwrap();
    let Some(out) = virsh(
        &server,
        &["vol-download", "--pool", "pool", "vol", path, "--sparse"],
    )
    .await
    else {
        return;
    };
    assert!(out.status.success(), "{out:?}");
    let expected = sparse_volume_bytes();
    assert_eq!(std::fs::read(&file).unwrap(), expected);
    // virsh skipped the hole rather than writing it.
    let meta = std::fs::metadata(&file).unwrap();
    assert!(meta.blocks() * 512 < meta.len(), "{meta:?}");

    // Up again from a sparse file: virsh finds the hole, the service gets
    // it as one.
    let (head, zeros, tail) = sparse_volume();
    let file = server.dir.join("up.img");
    let mut f = std::fs::File::create(&file).unwrap();
    f.write_all(&head).unwrap();
    f.seek(SeekFrom::Current(zeros as i64)).unwrap();
    f.write_all(&tail).unwrap();
    drop(f);
    let (tx, rx) = tokio::sync::oneshot::channel();
    *server.fake.uploaded.lock().await = Some(tx);
    let out = virsh(
        &server,
        &[
            "vol-upload",
            "--pool",
            "pool",
            "vol",
            file.to_str().unwrap(),
            "--sparse",
        ],
    )
    .await
    .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(rx.await.unwrap(), expected);
    assert!(server.fake.upload_holes.load(Ordering::Relaxed) >= 1);
}

#[tokio::test]
async fn virsh_takes_a_screenshot() {
    let server = start("virsh-screenshot");
    let file = server.dir.join("screen.bin");
    let Some(out) = virsh(
        &server,
        &["screenshot", "fake", "--file", file.to_str().unwrap()],
    )
    .await
    else {
        return;
    };
    assert!(out.status.success(), "{out:?}");
    assert_eq!(std::fs::read(&file).unwrap(), screen());
}

#[tokio::test]
async fn an_upload_the_service_does_not_read_is_held_in_bounded_memory() {
    use libvirt_proto::remote::program::procs;

    let server = start("stream-backpressure");
    let client = client(&server).await;
    let (tx, rx) = tokio::sync::oneshot::channel();
    *server.fake.uploaded.lock().await = Some(tx);
    let args = remote::StorageVolUploadArgs {
        vol: volume(),
        offset: 0,
        length: 0,
        flags: 7,
    };
    let ((), mut stream) = client
        .call_stream::<procs::StorageVolUpload>(&args)
        .await
        .unwrap();
    // Far more than the server buffers: its queue of 8 packets (2 MiB),
    // one held packet and the sockets' buffers.
    let data: Vec<u8> = (0..8 << 20).map(|i: u32| (i % 249) as u8).collect();
    let sent = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sending = tokio::spawn({
        let (data, sent) = (data.clone(), sent.clone());
        async move {
            stream.send(&data).await.unwrap();
            sent.store(true, std::sync::atomic::Ordering::SeqCst);
            stream.finish().await.unwrap();
        }
    });
    // Another client meanwhile: the server goes on. The upload stays
    // unfinished however long it is given (a second is plenty for a
    // server that buffered it all), which no speed can change.
    let other = self::client(&server).await;
    for _ in 0..20 {
        assert_eq!(other.connect_get_hostname().await.unwrap(), "rusty");
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!sent.load(std::sync::atomic::Ordering::SeqCst));
    server.fake.upload_gate.notify_one();
    tokio::time::timeout(Duration::from_secs(60), sending)
        .await
        .expect("the upload never finished")
        .unwrap();
    assert_eq!(rx.await.unwrap(), data);
}

#[tokio::test]
async fn large_upload_packets_are_bounded_in_bytes() {
    use libvirt_proto::frame::{Frame, Header};
    use libvirt_proto::remote::program::procs;
    use libvirt_proto::server::STREAM_BUFFER;
    use libvirt_proto::virnet::{MessageStatus, MessageType};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let server = start("stream-bytes");
    // An upload the service does not read (flags 7), in packets of 4 MiB,
    // as libvirt's client sends a large buffer given to virStreamSend.
    let mut uploader = RawClient::connect(&server).await;
    let serial = uploader.call::<procs::StorageVolUpload>(&remote::StorageVolUploadArgs {
        vol: volume(),
        offset: 0,
        length: 0,
        flags: 7,
    });
    uploader.send().await;
    let mut raw = uploader.sock;
    let mut reply = [0; 28];
    raw.read_exact(&mut reply).await.unwrap();
    let header = Header {
        program: program::NUMBER,
        version: program::VERSION,
        procedure: program::Procedure::StorageVolUpload as i32,
        kind: MessageType::Stream,
        serial,
        status: MessageStatus::Continue,
    };
    let packet = Frame::new(header, vec![5; 4 << 20]).try_encode().unwrap();
    // The server takes packets until its queue's bytes are used up; then
    // the socket fills and a write waits (a second is plenty for a server
    // that takes them, which no speed can change).
    let mut taken = 0;
    for _ in 0..16 {
        let write = raw.write_all(&packet);
        if tokio::time::timeout(Duration::from_secs(1), write)
            .await
            .is_err()
        {
            break;
        }
        taken += 1;
    }
    // One packet queued (it takes all of STREAM_BUFFER), one held by the
    // connection, and the socket's buffer: by packets alone, the queue
    // would have taken eight.
    assert!(packet.len() > STREAM_BUFFER);
    assert!(taken <= 3, "{taken} packets of 4 MiB taken");
    // The connection is read no more, but the server is.
    let other = client(&server).await;
    assert_eq!(other.connect_get_hostname().await.unwrap(), "rusty");
}

#[tokio::test]
async fn a_service_that_aborts_an_unread_upload_frees_the_connection() {
    use libvirt_proto::remote::program::procs;

    let server = start("stream-abort");
    let client = client(&server).await;
    let args = remote::StorageVolUploadArgs {
        vol: volume(),
        offset: 0,
        length: 0,
        flags: 9,
    };
    let ((), mut stream) = client
        .call_stream::<procs::StorageVolUpload>(&args)
        .await
        .unwrap();
    let data = vec![7u8; 8 << 20];
    let sending = tokio::spawn(async move {
        let sent = stream.send(&data).await;
        match sent {
            Ok(()) => stream.finish().await,
            Err(e) => Err(e),
        }
    });
    // The upload fills the server's queue (a second is ample for that,
    // and no speed makes it too much), then the service refuses it.
    let other = self::client(&server).await;
    for _ in 0..20 {
        other.connect_get_hostname().await.unwrap();
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    server.fake.upload_gate.notify_one();
    let refused = tokio::time::timeout(Duration::from_secs(60), sending)
        .await
        .expect("the upload never ended")
        .unwrap();
    // The writer gets the service's refusal.
    match refused {
        Err(ClientError::Remote(e)) => {
            assert_eq!(e.message.as_deref(), Some("the volume is full"))
        }
        other => panic!("{other:?}"),
    }
    // The connection reads again.
    let hostname = tokio::time::timeout(Duration::from_secs(60), client.connect_get_hostname())
        .await
        .expect("the connection no longer answers");
    assert_eq!(hostname.unwrap(), "rusty");
}
