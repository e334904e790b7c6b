//! The async client against a scripted hostile daemon: a byte-level peer
//! on a Unix socket that plays one misbehaviour per test (an
//! authentication downgrade, holes and data that do not fit a stream,
//! oversized, truncated and garbled frames, replies to calls never made,
//! events for callbacks never registered, a keepalive flood (never read,
//! or read only while more comes), calls never answered, stream endings
//! out of turn: a failed finish, an OK nobody asked for, data while the
//! client finishes, a reply that does not decode). Each must end
//! in a typed error, with no panic, no hang and bounded memory, and the
//! connection must stay usable wherever the protocol allows. No test
//! asserts a duration; a generous limit only keeps a bug from hanging the
//! run.

#![cfg(feature = "client")]

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use libvirt_proto::client::{Chunk, Client, ClientError, ConnectOptions};
use libvirt_proto::engine::auth::{AuthError, AuthMethod};
use libvirt_proto::engine::open::OpenError;
use libvirt_proto::engine::{CloseReason, ProtocolError, StreamViolation};
use libvirt_proto::frame::MAX_FDS;
use libvirt_proto::remote::program::procs;
use libvirt_proto::remote::program::Procedure as P;
use libvirt_proto::{keepalive, remote};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinHandle;

/// A limit on how long something may take before the test is declared hung.
const HANG: Duration = Duration::from_secs(20);

const REMOTE: u32 = remote::program::NUMBER;
const KEEPALIVE: u32 = keepalive::program::NUMBER;

// Message types and statuses, as libvirt numbers them.
const CALL: u32 = 0;
const REPLY: u32 = 1;
const MESSAGE: u32 = 2;
const STREAM: u32 = 3;
const STREAM_HOLE: u32 = 6;
const OK: u32 = 0;
const ERROR: u32 = 1;
const CONTINUE: u32 = 2;

/// One message as the daemon reads it.
#[derive(Debug, Clone)]
struct Msg {
    program: u32,
    procedure: i32,
    kind: u32,
    serial: u32,
    status: u32,
    body: Vec<u8>,
}

impl Msg {
    fn is_call(&self, p: P) -> bool {
        self.program == REMOTE && self.kind == CALL && self.procedure == p as i32
    }
}

/// The daemon's end of the connection.
struct Peer {
    s: UnixStream,
}

/// A whole message: length, header words, body.
fn frame(
    program: u32,
    procedure: i32,
    kind: u32,
    serial: u32,
    status: u32,
    body: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(28 + body.len());
    let len = 28 + body.len() as u32;
    for w in [len, program, 1, procedure as u32, kind, serial, status] {
        out.extend_from_slice(&w.to_be_bytes());
    }
    out.extend_from_slice(body);
    out
}

/// The next message from `r`; `None` once the client has closed.
async fn read_msg<R: AsyncRead + Unpin>(r: &mut R) -> Option<Msg> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len).await.ok()?;
    let len = u32::from_be_bytes(len) as usize;
    assert!(
        (28..=32 << 20).contains(&len),
        "the client sent a bad length {len}"
    );
    let mut rest = vec![0u8; len - 4];
    r.read_exact(&mut rest).await.ok()?;
    let w = |i: usize| u32::from_be_bytes(rest[i * 4..i * 4 + 4].try_into().unwrap());
    Some(Msg {
        program: w(0),
        procedure: w(2) as i32,
        kind: w(3),
        serial: w(4),
        status: w(5),
        body: rest[24..].to_vec(),
    })
}

/// `n` keepalive PINGs back to back.
fn ping_flood(n: usize) -> Vec<u8> {
    let ping = frame(
        KEEPALIVE,
        keepalive::program::Procedure::Ping as i32,
        MESSAGE,
        0,
        OK,
        &[],
    );
    ping.repeat(n)
}

fn xdr_u32(v: u32) -> Vec<u8> {
    v.to_be_bytes().to_vec()
}

impl Peer {
    /// The next message; `None` once the client has closed.
    async fn recv(&mut self) -> Option<Msg> {
        read_msg(&mut self.s).await
    }

    /// The next message that is not keepalive's.
    async fn recv_call(&mut self) -> Option<Msg> {
        loop {
            let m = self.recv().await?;
            if m.program != KEEPALIVE {
                return Some(m);
            }
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        // The client may have gone: what it does then is its business.
        let _ = self.s.write_all(bytes).await;
    }

    async fn reply(&mut self, call: &Msg, body: &[u8]) {
        let f = frame(call.program, call.procedure, REPLY, call.serial, OK, body);
        self.send(&f).await;
    }

    /// Plays a well-behaved daemon up to the open connection: no
    /// authentication, keepalive when the client asks.
    async fn open(&mut self) {
        let list = self.recv_call().await.expect("AUTH_LIST");
        assert!(list.is_call(P::AuthList), "{list:?}");
        self.reply(&list, &[0, 0, 0, 1, 0, 0, 0, 0]).await;
        // Without keepalive the client does not ask about it.
        let mut open = self.recv_call().await.expect("CONNECT_OPEN");
        if open.is_call(P::ConnectSupportsFeature) {
            self.reply(&open, &xdr_u32(1)).await;
            open = self.recv_call().await.expect("CONNECT_OPEN");
        }
        assert!(open.is_call(P::ConnectOpen), "{open:?}");
        self.reply(&open, &[]).await;
    }

    /// Takes the next call, which must be of procedure `p`, and answers it
    /// with `body`; returns the call.
    async fn answer(&mut self, p: P, body: &[u8]) -> Msg {
        let call = self.recv_call().await.expect("a call");
        assert!(call.is_call(p), "{call:?}");
        self.reply(&call, body).await;
        call
    }

    /// Answers `CONNECT_GET_LIB_VERSION` with `version`.
    async fn lib_version(&mut self, version: u64) {
        let call = self.recv_call().await.expect("CONNECT_GET_LIB_VERSION");
        assert!(call.is_call(P::ConnectGetLibVersion), "{call:?}");
        self.reply(&call, &version.to_be_bytes()).await;
    }
}

/// A daemon listening on a fresh socket, running `script` for the one
/// client it accepts; returns the URI to connect to.
fn hostile<F, Fut>(script: F) -> (String, JoinHandle<()>)
where
    F: FnOnce(Peer) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "lvp-hostile-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path: PathBuf = dir.join("sock");
    let listener = UnixListener::bind(&path).unwrap();
    let task = tokio::spawn(async move {
        let (s, _) = listener.accept().await.unwrap();
        script(Peer { s }).await;
        let _ = std::fs::remove_dir_all(&dir);
    });
    (
        format!("test+unix:///default?socket={}", path.display()),
        task,
    )
}

async fn connect(uri: &str) -> Client {
    let options = ConnectOptions::default().with_keepalive(None);
    tokio::time::timeout(HANG, Client::connect_with(uri, options))
        .await
        .expect("hung")
        .unwrap()
}

async fn within<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(HANG, f).await.expect("hung")
}

fn domain() -> remote::NonnullDomain {
    remote::NonnullDomain {
        name: "test".into(),
        uuid: [0; 16].into(),
        id: 1,
    }
}

fn volume() -> remote::NonnullStorageVol {
    remote::NonnullStorageVol {
        pool: "p".into(),
        name: "v".into(),
        key: "/p/v".into(),
    }
}

fn hole(length: i64) -> Vec<u8> {
    let mut b = length.to_be_bytes().to_vec();
    b.extend_from_slice(&xdr_u32(0));
    b
}

/// Waits for the client's abort of stream `serial` (a STREAM packet with
/// status ERROR), skipping anything else on it.
async fn expect_abort(peer: &mut Peer, serial: u32) {
    loop {
        let m = peer.recv_call().await.expect("the stream's abort");
        // (An OK is the client's answer to the end of the data.)
        if m.serial == serial && m.kind == STREAM && m.status != OK {
            assert_eq!(m.status, ERROR, "{m:?}");
            return;
        }
    }
}

/// Waits for the client's end of upload `serial` (a STREAM packet with
/// status OK), skipping its data.
async fn expect_finish(peer: &mut Peer, serial: u32) {
    loop {
        let m = peer.recv_call().await.expect("the stream's end");
        if m.serial == serial && m.status != CONTINUE {
            assert_eq!((m.kind, m.status), (STREAM, OK), "{m:?}");
            return;
        }
    }
}

#[tokio::test]
async fn a_demanded_method_is_not_downgraded_to_none() {
    let (seen_tx, seen_rx) = tokio::sync::oneshot::channel();
    let (uri, daemon) = hostile(|mut peer| async move {
        let list = peer.recv_call().await.unwrap();
        assert!(list.is_call(P::AuthList));
        // Only `none`: an attacker in the path stripping SASL.
        peer.reply(&list, &[0, 0, 0, 1, 0, 0, 0, 0]).await;
        // The client must not go on with the handshake.
        let _ = seen_tx.send(peer.recv_call().await);
    });
    let err = within(Client::connect(&format!("{uri}&auth=sasl")))
        .await
        .unwrap_err();
    match &err {
        ClientError::Open(OpenError::Auth(AuthError::NotOffered { offered, wanted })) => {
            assert_eq!(offered, &[AuthMethod::None]);
            assert_eq!(wanted, &[AuthMethod::Sasl]);
        }
        other => panic!("{other:?}"),
    }
    assert!(
        err.to_string().contains("cannot open the connection"),
        "{err}"
    );
    // The details are the source's.
    let report = libvirt_proto::error::Report::new(&err).to_string();
    assert!(report.contains("[None]"), "{report}");
    within(daemon).await.unwrap();
    assert!(
        seen_rx.await.unwrap().is_none(),
        "the client went on after a downgrade"
    );
}

#[tokio::test]
async fn a_hole_on_a_screenshot_is_refused_and_the_connection_goes_on() {
    let (uri, daemon) = hostile(|mut peer| async move {
        peer.open().await;
        let call = peer.recv_call().await.unwrap();
        assert!(call.is_call(P::DomainScreenshot));
        // remote_domain_screenshot_ret: an optional mime type.
        let mut ret = xdr_u32(1);
        ret.extend_from_slice(&xdr_u32(9));
        ret.extend_from_slice(b"image/png\0\0\0");
        peer.reply(&call, &ret).await;
        // A 2^62-byte hole on a stream that is not sparse.
        let f = frame(
            REMOTE,
            call.procedure,
            STREAM_HOLE,
            call.serial,
            CONTINUE,
            &hole(1 << 62),
        );
        peer.send(&f).await;
        expect_abort(&mut peer, call.serial).await;
        peer.lib_version(11_003_000).await;
    });
    let client = connect(&uri).await;
    let (mime, mut stream) = within(client.domain_screenshot(&domain(), 0, 0))
        .await
        .unwrap();
    assert_eq!(mime.as_deref(), Some("image/png"));
    let err = within(stream.recv_all(64 << 20)).await.unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Protocol(ProtocolError::Stream(StreamViolation::UnexpectedHole))
        ),
        "{err:?}"
    );
    assert_eq!(
        within(client.connect_get_lib_version()).await.unwrap(),
        11_003_000
    );
    within(daemon).await.unwrap();
}

/// A sparse download whose daemon sends `packets` after the reply;
/// returns what `recv_all(limit)` gave and whether the daemon saw the
/// stream aborted.
async fn sparse_download(packets: Vec<Vec<u8>>, limit: usize) -> Result<Vec<u8>, ClientError> {
    let (uri, daemon) = hostile(|mut peer| async move {
        peer.open().await;
        let call = peer.answer(P::StorageVolDownload, &[]).await;
        for (kind, status, body) in packets.iter().map(|p| (p[0] as u32, p[1] as u32, &p[2..])) {
            let f = frame(REMOTE, call.procedure, kind, call.serial, status, body);
            peer.send(&f).await;
        }
        expect_abort(&mut peer, call.serial).await;
        peer.lib_version(42).await;
    });
    let client = connect(&uri).await;
    // Flag 1: VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM.
    let mut stream = within(client.storage_vol_download(&volume(), 0, 0, 1))
        .await
        .unwrap();
    let got = within(stream.recv_all(limit)).await;
    assert_eq!(within(client.connect_get_lib_version()).await.unwrap(), 42);
    within(daemon).await.unwrap();
    got
}

fn packet(kind: u32, status: u32, body: &[u8]) -> Vec<u8> {
    let mut p = vec![kind as u8, status as u8];
    p.extend_from_slice(body);
    p
}

#[tokio::test]
async fn holes_that_do_not_fit_a_sparse_stream_end_it_with_a_typed_error() {
    // An absurd hole: more than the caller's limit, refused before any
    // allocation.
    let err = sparse_download(vec![packet(STREAM_HOLE, CONTINUE, &hole(1 << 62))], 1 << 20)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::StreamTooLarge { limit } if limit == 1 << 20),
        "{err:?}"
    );
    // A negative hole.
    let err = sparse_download(vec![packet(STREAM_HOLE, CONTINUE, &hole(-5))], 1 << 20)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Protocol(ProtocolError::Stream(StreamViolation::NegativeHole(-5)))
        ),
        "{err:?}"
    );
    // Flags, of which libvirt defines none (its client refuses them too).
    let mut flagged = 4096i64.to_be_bytes().to_vec();
    flagged.extend_from_slice(&xdr_u32(3));
    let err = sparse_download(vec![packet(STREAM_HOLE, CONTINUE, &flagged)], 1 << 20)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Protocol(ProtocolError::Stream(StreamViolation::HoleFlags(3)))
        ),
        "{err:?}"
    );
    // Data and a small hole within the limit, then data after the end of
    // the data, before the daemon's OK: the transfer is not complete.
    let err = sparse_download(
        vec![
            packet(STREAM, CONTINUE, b"abc"),
            packet(STREAM_HOLE, CONTINUE, &hole(5)),
            packet(STREAM, CONTINUE, b"de"),
            packet(STREAM, CONTINUE, &[]),
            packet(STREAM, CONTINUE, b"after the end"),
        ],
        1 << 20,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Protocol(ProtocolError::Stream(StreamViolation::AfterEnd))
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_oversized_frame_ends_the_connection_without_allocating_it() {
    let (uri, daemon) = hostile(|mut peer| async move {
        peer.open().await;
        let call = peer.recv_call().await.unwrap();
        // A length of 2 GiB, then a valid-looking header.
        let mut f = frame(REMOTE, call.procedure, REPLY, call.serial, OK, &[]);
        f[..4].copy_from_slice(&0x7fff_ffffu32.to_be_bytes());
        peer.send(&f).await;
        let _ = peer.recv().await;
    });
    let client = connect(&uri).await;
    let err = within(client.connect_get_lib_version()).await.unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::ConnectionLost(CloseReason::Protocol(ProtocolError::Frame(_)))
        ),
        "{err:?}"
    );
    within(daemon).await.unwrap();
}

#[tokio::test]
async fn a_truncated_frame_then_the_end_fails_the_call() {
    let (uri, daemon) = hostile(|mut peer| async move {
        peer.open().await;
        let call = peer.recv_call().await.unwrap();
        let f = frame(REMOTE, call.procedure, REPLY, call.serial, OK, &[0; 8]);
        peer.send(&f[..f.len() - 3]).await;
        // Dropping the peer closes the socket mid-frame.
    });
    let client = connect(&uri).await;
    let err = within(client.connect_get_lib_version()).await.unwrap_err();
    assert!(matches!(err, ClientError::ConnectionLost(_)), "{err:?}");
    within(daemon).await.unwrap();
}

#[tokio::test]
async fn replies_to_nothing_and_garbage_bodies_leave_the_connection_usable() {
    let (uri, daemon) = hostile(|mut peer| async move {
        peer.open().await;
        let call = peer.recv_call().await.unwrap();
        // A reply to a serial never used, then a body that does not
        // decode.
        let stray = frame(
            REMOTE,
            call.procedure,
            REPLY,
            0xdead,
            OK,
            &7u64.to_be_bytes(),
        );
        peer.send(&stray).await;
        peer.reply(&call, &[1, 2, 3]).await;
        peer.lib_version(7).await;
    });
    let client = connect(&uri).await;
    let err = within(client.connect_get_lib_version()).await.unwrap_err();
    assert!(matches!(err, ClientError::Decode(_)), "{err:?}");
    assert_eq!(within(client.connect_get_lib_version()).await.unwrap(), 7);
    within(daemon).await.unwrap();
}

#[tokio::test]
async fn an_unknown_message_type_ends_the_connection_with_a_typed_error() {
    let (uri, daemon) = hostile(|mut peer| async move {
        peer.open().await;
        let call = peer.recv_call().await.unwrap();
        let odd = frame(REMOTE, call.procedure, 77, call.serial, OK, &[1, 2, 3, 4]);
        peer.send(&odd).await;
        let _ = peer.recv().await;
    });
    let client = connect(&uri).await;
    let err = within(client.connect_get_lib_version()).await.unwrap_err();
    assert!(
        matches!(err, ClientError::ConnectionLost(CloseReason::Protocol(_))),
        "{err:?}"
    );
    within(daemon).await.unwrap();
}

#[tokio::test]
async fn events_for_callbacks_never_registered_are_dropped() {
    let (uri, daemon) = hostile(|mut peer| async move {
        peer.open().await;
        // Once the client is subscribed (its call comes after), a
        // lifecycle event for callback 999 and one that does not decode.
        let call = peer.recv_call().await.unwrap();
        let mut body = xdr_u32(999);
        body.extend_from_slice(&xdr_u32(4));
        body.extend_from_slice(b"test");
        body.extend_from_slice(&[0; 16]);
        body.extend_from_slice(&xdr_u32(1));
        body.extend_from_slice(&xdr_u32(0));
        body.extend_from_slice(&xdr_u32(0));
        let p = P::DomainEventCallbackLifecycle as i32;
        peer.send(&frame(REMOTE, p, MESSAGE, 0, OK, &body)).await;
        peer.send(&frame(REMOTE, p, MESSAGE, 0, OK, &[0xff; 5]))
            .await;
        peer.reply(&call, &5u64.to_be_bytes()).await;
        peer.lib_version(6).await;
    });
    let client = connect(&uri).await;
    let mut events = client.events();
    assert_eq!(within(client.connect_get_lib_version()).await.unwrap(), 5);
    // The one that decodes reaches a subscriber to everything, and no
    // registration's stream.
    let first = within(events.next()).await.unwrap().unwrap();
    assert!(format!("{first:?}").contains("999"), "{first:?}");
    assert_eq!(within(client.connect_get_lib_version()).await.unwrap(), 6);
    within(daemon).await.unwrap();
}

#[tokio::test]
async fn a_keepalive_flood_from_a_peer_that_does_not_read_is_bounded() {
    const PINGS: usize = 2_000_000;
    // Built before the peer starts, so the peer only writes.
    let flood = ping_flood(PINGS);
    let written = std::sync::Arc::new(AtomicUsize::new(0));
    let tally = written.clone();
    let (uri, daemon) = hostile(|mut peer| async move {
        peer.open().await;
        // 53 MiB of PINGs, written without ever reading the PONGs, counting
        // what the socket takes. What the client has not read stays in the
        // kernel's socket buffers, a few hundred KiB.
        for chunk in flood.chunks(64 << 10) {
            match tokio::time::timeout(HANG, peer.s.write_all(chunk)).await {
                Ok(Ok(())) => tally.fetch_add(chunk.len(), Ordering::Relaxed),
                _ => break,
            };
        }
    });
    let options = ConnectOptions::default().with_keepalive((Duration::from_millis(500), 2));
    let client = within(Client::connect_with(&uri, options)).await.unwrap();
    // The client stops reading while its PONGs cannot go out, so the
    // flood stays in the socket; with nothing read, keepalive gives up
    // on the peer.
    let err = within(client.connect_get_lib_version()).await.unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::ConnectionLost(CloseReason::KeepaliveTimeout)
        ),
        "{err:?}"
    );
    // The client took in at most its 4 MiB of unwritten PONGs' worth of
    // PINGs and a read buffer: a process-wide RSS would also count the
    // other tests running beside this one.
    within(daemon).await.unwrap();
    let taken = written.load(Ordering::Relaxed);
    assert!(taken < 16 << 20, "the client took in {taken} bytes");
}

#[tokio::test]
async fn reading_goes_on_once_a_backlog_of_pongs_is_written() {
    // More PONGs than the 4 MiB of unwritten bytes beyond which the
    // client stops reading.
    const PINGS: usize = 300_000;
    let (uri, daemon) = hostile(|mut peer| async move {
        peer.open().await;
        let flood = ping_flood(PINGS);
        let (mut rd, mut wr) = peer.s.split();
        // Every PONG and the call are read while the PINGs go out; the
        // client gets through the last PINGs only if it reads again once
        // its PONGs are written.
        let (_, call) = tokio::join!(wr.write_all(&flood), async {
            let (mut pongs, mut call) = (0, None);
            while pongs < PINGS || call.is_none() {
                let m = read_msg(&mut rd).await.expect("the client went away");
                if m.program == KEEPALIVE {
                    pongs += 1;
                } else {
                    call = Some(m);
                }
            }
            call.unwrap()
        });
        assert!(call.is_call(P::ConnectGetLibVersion), "{call:?}");
        peer.reply(&call, &7u64.to_be_bytes()).await;
    });
    let client = connect(&uri).await;
    assert_eq!(within(client.connect_get_lib_version()).await.unwrap(), 7);
    within(daemon).await.unwrap();
}

#[tokio::test]
async fn calls_never_answered_do_not_hold_later_calls_back() {
    let (uri, daemon) = hostile(|mut peer| async move {
        peer.open().await;
        // Swallow calls until the fifth and later ones, which are answered.
        for _ in 0..6 {
            let _ = peer.recv_call().await.unwrap();
        }
        peer.lib_version(3).await;
    });
    let client = connect(&uri).await;
    for _ in 0..6 {
        let err = within(
            client.call_with_timeout::<remote::program::procs::ConnectGetLibVersion>(
                &(),
                Duration::from_millis(50),
            ),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, ClientError::Timeout(_)), "{err:?}");
    }
    assert_eq!(within(client.connect_get_lib_version()).await.unwrap(), 3);
    within(daemon).await.unwrap();
}

#[tokio::test]
async fn a_registration_given_up_after_the_daemon_registered_is_deregistered() {
    let (registered_tx, registered_rx) = tokio::sync::oneshot::channel();
    let (uri, daemon) = hostile(|mut peer| async move {
        peer.open().await;
        let call = peer.recv_call().await.unwrap();
        assert!(call.is_call(P::ConnectDomainEventCallbackRegisterAny));
        // The caller gives up; only then the daemon answers.
        registered_rx.await.unwrap();
        peer.reply(&call, &xdr_u32(7)).await;
        let dereg = peer.recv_call().await.expect("a deregistration");
        assert!(
            dereg.is_call(P::ConnectDomainEventCallbackDeregisterAny),
            "{dereg:?}"
        );
        assert_eq!(dereg.body, xdr_u32(7));
        peer.reply(&dereg, &[]).await;
    });
    let client = connect(&uri).await;
    let c = client.clone();
    let registering = tokio::spawn(async move { c.register_domain_event(0, None).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    registering.abort();
    assert!(registering.await.unwrap_err().is_cancelled());
    registered_tx.send(()).unwrap();
    within(daemon).await.unwrap();
}

#[tokio::test]
async fn a_dropped_stream_is_aborted() {
    let (uri, daemon) = hostile(|mut peer| async move {
        peer.open().await;
        let call = peer.answer(P::StorageVolDownload, &[]).await;
        expect_abort(&mut peer, call.serial).await;
        peer.lib_version(1).await;
    });
    let client = connect(&uri).await;
    let stream = within(client.storage_vol_download(&volume(), 0, 0, 0))
        .await
        .unwrap();
    drop(stream);
    assert_eq!(within(client.connect_get_lib_version()).await.unwrap(), 1);
    within(daemon).await.unwrap();
}

#[tokio::test]
async fn a_reply_announcing_descriptors_that_never_came_fails_its_call() {
    const REPLY_WITH_FDS: u32 = 5;
    let (uri, daemon) = hostile(|mut peer| async move {
        peer.open().await;
        let call = peer.recv_call().await.unwrap();
        // Two descriptors announced, and the two bytes they would come
        // with sent without them.
        let mut body = xdr_u32(2);
        body.extend_from_slice(&11u64.to_be_bytes());
        let mut f = frame(
            REMOTE,
            call.procedure,
            REPLY_WITH_FDS,
            call.serial,
            OK,
            &body,
        );
        f.extend_from_slice(&[0, 0]);
        peer.send(&f).await;
        peer.lib_version(12).await;
    });
    let client = connect(&uri).await;
    let err = within(client.connect_get_lib_version()).await.unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Protocol(ProtocolError::MissingFds { expected: 2, .. })
        ),
        "{err:?}"
    );
    assert_eq!(within(client.connect_get_lib_version()).await.unwrap(), 12);
    within(daemon).await.unwrap();
}

#[tokio::test]
async fn a_reset_connection_ends_streams_events_and_later_calls_with_its_cause() {
    let (uri, daemon) = hostile(|mut peer| async move {
        peer.open().await;
        let call = peer.answer(P::StorageVolDownload, &[]).await;
        let data = frame(
            REMOTE,
            call.procedure,
            STREAM,
            call.serial,
            CONTINUE,
            b"some",
        );
        peer.send(&data).await;
        // The client's next call arrives and is never read: a socket
        // closed with unread data resets the connection.
        peer.s.readable().await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    });
    let client = connect(&uri).await;
    let mut events = client.events();
    let mut stream = within(client.storage_vol_download(&volume(), 0, 0, 0))
        .await
        .unwrap();
    assert_eq!(
        within(stream.recv_chunk()).await.unwrap(),
        Some(Chunk::Data(b"some".to_vec()))
    );
    let call = within(client.connect_get_lib_version()).await.unwrap_err();
    within(daemon).await.unwrap();
    let reason = reset(&call);
    // The same cause everywhere, never `Closed`: the stream (reading and
    // writing), the event stream, later calls and event streams.
    let read = within(stream.recv_chunk()).await.unwrap_err();
    assert_eq!(reset(&read), reason);
    let write = within(stream.send(b"more")).await.unwrap_err();
    assert_eq!(reset(&write), reason);
    match within(events.next()).await {
        Some(Err(e)) => assert_eq!(reset(&e), reason),
        other => panic!("{other:?}"),
    }
    assert!(within(events.next()).await.is_none());
    let later = within(client.connect_get_lib_version()).await.unwrap_err();
    assert_eq!(reset(&later), reason);
    match within(client.events().next()).await {
        Some(Err(e)) => assert_eq!(reset(&e), reason),
        other => panic!("{other:?}"),
    }
    // The chain: the reason, then the I/O error itself.
    assert_eq!(call.to_string(), "the transport failed");
    let io = std::error::Error::source(&call)
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .expect("the I/O error is the source");
    assert_eq!(io.kind(), std::io::ErrorKind::ConnectionReset);
    assert_eq!(
        libvirt_proto::error::Report::new(&call).to_string(),
        format!("the transport failed: {io}")
    );
}

/// The reason of an error that is the connection's reset.
fn reset(e: &ClientError) -> CloseReason {
    match e {
        ClientError::ConnectionLost(r @ CloseReason::Transport(io))
            if io.kind() == std::io::ErrorKind::ConnectionReset =>
        {
            r.clone()
        }
        other => panic!("not a reset connection: {other:?}"),
    }
}

#[tokio::test]
async fn after_close_everything_says_closed() {
    let (uri, daemon) = hostile(|mut peer| async move {
        peer.open().await;
        let call = peer.recv_call().await.unwrap();
        assert!(call.is_call(P::ConnectClose), "{call:?}");
        peer.reply(&call, &[]).await;
        // As libvirtd: the daemon closes its end at once, and the
        // client's end of file is no lost connection.
    });
    let client = connect(&uri).await;
    let mut events = client.events();
    within(client.close()).await;
    assert!(matches!(
        within(events.next()).await,
        Some(Err(ClientError::Closed))
    ));
    assert!(matches!(
        within(client.connect_get_lib_version()).await,
        Err(ClientError::Closed)
    ));
    assert!(matches!(
        within(client.events().next()).await,
        Some(Err(ClientError::Closed))
    ));
    within(daemon).await.unwrap();
}

#[tokio::test]
async fn too_many_descriptors_are_refused_before_anything_is_sent() {
    let (uri, daemon) = hostile(|mut peer| async move {
        peer.open().await;
        // The refused call never reaches the daemon: the next one does.
        peer.lib_version(7).await;
    });
    let client = connect(&uri).await;
    let fds: Vec<std::os::fd::OwnedFd> = (0..=MAX_FDS)
        .map(|_| std::fs::File::open("/dev/null").unwrap().into())
        .collect();
    let err = within(client.call_fds::<procs::ConnectGetLibVersion>(&(), fds))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::TooManyFds { count, max } if count == MAX_FDS + 1 && max == MAX_FDS),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "{} descriptors exceed the {MAX_FDS} one message may carry",
            MAX_FDS + 1
        )
    );
    assert_eq!(within(client.connect_get_lib_version()).await.unwrap(), 7);
    within(daemon).await.unwrap();
}

#[tokio::test]
async fn a_read_stream_at_its_end_takes_no_writes() {
    let (uri, daemon) = hostile(|mut peer| async move {
        peer.open().await;
        let call = peer.answer(P::StorageVolDownload, &[]).await;
        // libvirt's end of data, then its OK to the client's.
        let end = frame(REMOTE, call.procedure, STREAM, call.serial, CONTINUE, &[]);
        peer.send(&end).await;
        let ok = peer.recv_call().await.unwrap();
        assert_eq!((ok.serial, ok.kind, ok.status), (call.serial, STREAM, OK));
        let ok = frame(REMOTE, call.procedure, STREAM, call.serial, OK, &[]);
        peer.send(&ok).await;
        peer.lib_version(3).await;
    });
    let client = connect(&uri).await;
    let mut stream = within(client.storage_vol_download(&volume(), 0, 0, 0))
        .await
        .unwrap();
    assert_eq!(within(stream.recv_chunk()).await.unwrap(), None);
    let err = within(stream.send(b"late")).await.unwrap_err();
    assert!(matches!(err, ClientError::StreamEnded), "{err:?}");
    assert_eq!(within(client.connect_get_lib_version()).await.unwrap(), 3);
    within(daemon).await.unwrap();
}

/// A `remote_error` body: `code` and `message`, from the storage driver.
fn error_body(code: u32, message: &str) -> Vec<u8> {
    let mut b = xdr_u32(code);
    b.extend_from_slice(&xdr_u32(18)); // VIR_FROM_STORAGE
    b.extend_from_slice(&xdr_u32(1));
    b.extend_from_slice(&xdr_u32(message.len() as u32));
    b.extend_from_slice(message.as_bytes());
    b.resize(b.len() + (4 - message.len() % 4) % 4, 0);
    b.extend_from_slice(&xdr_u32(2)); // VIR_ERR_ERROR
                                      // No domain, str1..3, int1, int2, no network.
    for _ in 0..7 {
        b.extend_from_slice(&xdr_u32(0));
    }
    b
}

#[tokio::test]
async fn a_download_the_daemon_fails_to_finish_is_not_complete() {
    // Two downloads, read by `recv_all` and by `recv_file`: all their data
    // and its end come, then libvirtd's `virStreamFinish` fails and its
    // answer to the client's OK is an error.
    let (uri, daemon) = hostile(|mut peer| async move {
        peer.open().await;
        for _ in 0..2 {
            let call = peer.answer(P::StorageVolDownload, &[]).await;
            for body in [&b"all the data"[..], &[]] {
                let f = frame(REMOTE, call.procedure, STREAM, call.serial, CONTINUE, body);
                peer.send(&f).await;
            }
            let ok = peer.recv_call().await.unwrap();
            assert_eq!((ok.serial, ok.kind, ok.status), (call.serial, STREAM, OK));
            let f = frame(
                REMOTE,
                call.procedure,
                STREAM,
                call.serial,
                ERROR,
                &error_body(38, "I/O helper failed"),
            );
            peer.send(&f).await;
        }
        peer.lib_version(5).await;
    });
    let client = connect(&uri).await;
    let failed = |e: &ClientError| {
        e.remote()
            .and_then(|r| r.message.clone())
            .is_some_and(|m| m == "I/O helper failed")
    };
    let mut stream = within(client.storage_vol_download(&volume(), 0, 0, 0))
        .await
        .unwrap();
    let err = within(stream.recv_all(1 << 20)).await.unwrap_err();
    assert!(failed(&err), "{err:?}");
    // And again on a later read.
    let err = within(stream.recv_chunk()).await.unwrap_err();
    assert!(failed(&err), "{err:?}");
    let mut stream = within(client.storage_vol_download(&volume(), 0, 0, 0))
        .await
        .unwrap();
    let file = tempfile_for("failed-finish");
    let err = within(stream.recv_file(file)).await.unwrap_err();
    assert!(
        matches!(&err, libvirt_proto::client::FileTransferError::Stream(e) if failed(e)),
        "{err:?}"
    );
    assert_eq!(within(client.connect_get_lib_version()).await.unwrap(), 5);
    within(daemon).await.unwrap();
}

/// A new file in the temporary folder, removed again at once.
fn tempfile_for(tag: &str) -> std::fs::File {
    let path = std::env::temp_dir().join(format!("lvp-hostile-{tag}-{}", std::process::id()));
    let f = std::fs::File::create(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    f
}

#[tokio::test]
async fn an_ok_the_client_did_not_ask_for_ends_a_stream_with_a_typed_error() {
    // On a download, the daemon's OK without its end of data first; on an
    // upload, its OK before the client finished. libvirt's client refuses
    // both; taken as the end, the first would cut the data short.
    let (uri, daemon) = hostile(|mut peer| async move {
        peer.open().await;
        for expected in [P::StorageVolDownload, P::StorageVolUpload] {
            let call = peer.recv_call().await.unwrap();
            assert!(call.is_call(expected), "{call:?}");
            peer.reply(&call, &[]).await;
            if expected == P::StorageVolDownload {
                let f = frame(
                    REMOTE,
                    call.procedure,
                    STREAM,
                    call.serial,
                    CONTINUE,
                    b"part",
                );
                peer.send(&f).await;
            }
            let ok = frame(REMOTE, call.procedure, STREAM, call.serial, OK, &[]);
            peer.send(&ok).await;
            expect_abort(&mut peer, call.serial).await;
        }
        peer.lib_version(6).await;
    });
    let client = connect(&uri).await;
    let unasked = |e: &ClientError| {
        matches!(
            e,
            ClientError::Protocol(ProtocolError::Stream(StreamViolation::UnaskedEnd))
        )
    };
    let mut stream = within(client.storage_vol_download(&volume(), 0, 0, 0))
        .await
        .unwrap();
    let err = within(stream.recv_all(1 << 20)).await.unwrap_err();
    assert!(unasked(&err), "{err:?}");
    // The upload's writer learns it, however much it sends.
    let mut stream = within(client.storage_vol_upload(&volume(), 0, 0, 0))
        .await
        .unwrap();
    let err = within(async {
        loop {
            if let Err(e) = stream.send(&[7; 1 << 20]).await {
                return e;
            }
        }
    })
    .await;
    assert!(unasked(&err), "{err:?}");
    let err = within(stream.finish()).await.unwrap_err();
    assert!(unasked(&err), "{err:?}");
    assert_eq!(within(client.connect_get_lib_version()).await.unwrap(), 6);
    within(daemon).await.unwrap();
}

#[tokio::test]
async fn a_finish_answered_by_a_broken_stream_ends_with_its_violation() {
    // The client finishes an upload; before its OK, the daemon sends data
    // on it. The finish must end with the violation, not wait forever.
    let (uri, daemon) = hostile(|mut peer| async move {
        peer.open().await;
        let call = peer.answer(P::StorageVolUpload, &[]).await;
        expect_finish(&mut peer, call.serial).await;
        let f = frame(
            REMOTE,
            call.procedure,
            STREAM,
            call.serial,
            CONTINUE,
            b"late",
        );
        peer.send(&f).await;
        expect_abort(&mut peer, call.serial).await;
        peer.lib_version(8).await;
    });
    let client = connect(&uri).await;
    let mut stream = within(client.storage_vol_upload(&volume(), 0, 0, 0))
        .await
        .unwrap();
    within(stream.send(b"some data")).await.unwrap();
    let err = within(stream.finish()).await.unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Protocol(ProtocolError::Stream(StreamViolation::AfterEnd))
        ),
        "{err:?}"
    );
    assert_eq!(within(client.connect_get_lib_version()).await.unwrap(), 8);
    within(daemon).await.unwrap();
}

#[tokio::test]
async fn a_stream_whose_reply_does_not_decode_is_aborted() {
    let (uri, daemon) = hostile(|mut peer| async move {
        peer.open().await;
        let call = peer.recv_call().await.unwrap();
        assert!(call.is_call(P::DomainScreenshot));
        // remote_domain_screenshot_ret cut short: a mime type announced,
        // then nothing.
        peer.reply(&call, &xdr_u32(1)).await;
        expect_abort(&mut peer, call.serial).await;
        peer.lib_version(9).await;
    });
    let client = connect(&uri).await;
    let err = within(client.domain_screenshot(&domain(), 0, 0))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Decode(_)), "{err:?}");
    assert_eq!(within(client.connect_get_lib_version()).await.unwrap(), 9);
    within(daemon).await.unwrap();
}

#[tokio::test]
async fn a_stream_whose_caller_gave_up_as_the_reply_came_is_aborted() {
    let (uri, daemon) = hostile(|mut peer| async move {
        peer.open().await;
        let call = peer.answer(P::StorageVolUpload, &[]).await;
        peer.lib_version(10).await;
        expect_abort(&mut peer, call.serial).await;
        peer.lib_version(11).await;
    });
    let client = connect(&uri).await;
    let vol = volume();
    let mut upload = Box::pin(client.storage_vol_upload(&vol, 0, 0, 0));
    // One poll sends the call.
    std::future::poll_fn(|cx| {
        assert!(std::future::Future::poll(upload.as_mut(), cx).is_pending());
        std::task::Poll::Ready(())
    })
    .await;
    // Replies are handled in order: once a later call's has come, the
    // upload's is waiting for a caller that now gives up.
    assert_eq!(within(client.connect_get_lib_version()).await.unwrap(), 10);
    drop(upload);
    assert_eq!(within(client.connect_get_lib_version()).await.unwrap(), 11);
    within(daemon).await.unwrap();
}

#[tokio::test]
async fn a_deregistration_waits_for_a_free_slot_instead_of_being_lost() {
    let (held_tx, held_rx) = tokio::sync::oneshot::channel();
    let (dropped_tx, dropped_rx) = tokio::sync::oneshot::channel();
    let (uri, daemon) = hostile(|mut peer| async move {
        peer.open().await;
        peer.answer(P::ConnectDomainEventCallbackRegisterAny, &xdr_u32(7))
            .await;
        // Four calls held: every slot of the client's in-flight limit.
        let mut held = Vec::new();
        for _ in 0..4 {
            held.push(peer.recv_call().await.unwrap());
        }
        held_tx.send(()).unwrap();
        dropped_rx.await.unwrap();
        for call in &held {
            peer.reply(call, &8u64.to_be_bytes()).await;
        }
        let dereg = peer.recv_call().await.expect("a deregistration");
        assert!(
            dereg.is_call(P::ConnectDomainEventCallbackDeregisterAny),
            "{dereg:?}"
        );
        assert_eq!(dereg.body, xdr_u32(7));
        peer.reply(&dereg, &[]).await;
        peer.lib_version(9).await;
    });
    let client = connect(&uri).await;
    let events = within(client.register_domain_event(0, None)).await.unwrap();
    let calls: Vec<_> = (0..4)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move { c.connect_get_lib_version().await })
        })
        .collect();
    held_rx.await.unwrap();
    // Its deregistration queues behind the four held calls.
    drop(events);
    // The driver takes commands in order: once a call it refuses at once
    // has its answer, it has handled the drop, with every slot still
    // taken.
    let fds: Vec<std::os::fd::OwnedFd> = (0..=MAX_FDS)
        .map(|_| std::fs::File::open("/dev/null").unwrap().into())
        .collect();
    let refused = within(client.call_fds::<procs::ConnectGetLibVersion>(&(), fds)).await;
    assert!(matches!(refused, Err(ClientError::TooManyFds { .. })));
    dropped_tx.send(()).unwrap();
    for call in calls {
        assert_eq!(within(call).await.unwrap().unwrap(), 8);
    }
    assert_eq!(within(client.connect_get_lib_version()).await.unwrap(), 9);
    within(daemon).await.unwrap();
}

#[tokio::test]
async fn uploads_through_a_slow_reader_keep_reading_and_stay_alive() {
    // Five uploads fill five send windows, more than the client lets
    // calls and PONGs queue before it stops reading. Uploads must not
    // stop it: the daemon takes its time but answers every PING, so
    // keepalive must never give up on it.
    const UPLOADS: usize = 5;
    let (uri, daemon) = hostile(|mut peer| async move {
        peer.open().await;
        let mut finished = 0;
        while finished < UPLOADS {
            let m = peer.recv().await.expect("the uploads");
            if m.program == KEEPALIVE {
                if m.procedure == keepalive::program::Procedure::Ping as i32 {
                    let pong = keepalive::program::Procedure::Pong as i32;
                    peer.send(&frame(KEEPALIVE, pong, MESSAGE, 0, OK, &[]))
                        .await;
                }
            } else if m.is_call(P::StorageVolUpload) {
                peer.reply(&m, &[]).await;
            } else if (m.kind, m.status) == (STREAM, OK) {
                let ok = frame(REMOTE, m.procedure, STREAM, m.serial, OK, &[]);
                peer.send(&ok).await;
                finished += 1;
            } else {
                assert_eq!((m.kind, m.status), (STREAM, CONTINUE), "{m:?}");
                // About 6 MB/s.
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
        }
        peer.lib_version(12).await;
    });
    let options = ConnectOptions::default().with_keepalive((Duration::from_secs(1), 3));
    let client = within(Client::connect_with(&uri, options)).await.unwrap();
    let uploads: Vec<_> = (0..UPLOADS)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move {
                let mut stream = c.storage_vol_upload(&volume(), 0, 0, 0).await?;
                stream.send(&vec![1; 8 << 20]).await?;
                stream.finish().await
            })
        })
        .collect();
    for upload in uploads {
        within(upload).await.unwrap().unwrap();
    }
    assert_eq!(within(client.connect_get_lib_version()).await.unwrap(), 12);
    within(daemon).await.unwrap();
}

/// A domain lifecycle event of kind `event` for callback `id`
/// (`remote_domain_event_callback_lifecycle_msg`).
fn lifecycle_event(id: u32, event: u32) -> Vec<u8> {
    let mut body = xdr_u32(id);
    body.extend_from_slice(&xdr_u32(4));
    body.extend_from_slice(b"test");
    body.extend_from_slice(&[0; 16]);
    body.extend_from_slice(&xdr_u32(1));
    body.extend_from_slice(&xdr_u32(event));
    body.extend_from_slice(&xdr_u32(0));
    frame(
        REMOTE,
        P::DomainEventCallbackLifecycle as i32,
        MESSAGE,
        0,
        OK,
        &body,
    )
}

#[tokio::test]
async fn a_full_event_stream_still_ends_with_the_connections_end() {
    let (uri, daemon) = hostile(|mut peer| async move {
        peer.open().await;
        peer.answer(P::ConnectDomainEventCallbackRegisterAny, &xdr_u32(7))
            .await;
        // Two events into a buffer of one, then the daemon is gone.
        peer.send(&lifecycle_event(7, 0)).await;
        peer.send(&lifecycle_event(7, 0)).await;
    });
    let options = ConnectOptions::default()
        .with_keepalive(None)
        .with_event_buffer(1);
    let client = within(Client::connect_with(&uri, options)).await.unwrap();
    let mut events = within(client.register_domain_event(0, None)).await.unwrap();
    within(daemon).await.unwrap();
    // The connection's end is seen by a call first.
    assert!(within(client.connect_get_lib_version()).await.is_err());
    assert!(within(events.next()).await.unwrap().is_ok());
    assert_eq!(events.lost(), 1);
    // No room was left for the end: it comes all the same, once.
    let end = within(events.next()).await.unwrap().unwrap_err();
    assert!(matches!(end, ClientError::ConnectionLost(_)), "{end:?}");
    assert!(within(events.next()).await.is_none());
}

/// The kind of a domain lifecycle event.
fn lifecycle_kind(m: &libvirt_proto::dispatch::Message) -> i32 {
    match m {
        libvirt_proto::dispatch::Message::Remote(
            remote::program::Message::DomainEventCallbackLifecycle(e),
        ) => e.msg.event,
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn events_sent_before_the_registration_reply_reach_the_new_stream() {
    // libvirtd relays a callback's events once it has the id, which can be
    // before the reply carrying that id goes out.
    let (uri, daemon) = hostile(|mut peer| async move {
        peer.open().await;
        let call = peer.recv_call().await.unwrap();
        assert!(call.is_call(P::ConnectDomainEventCallbackRegisterAny));
        peer.send(&lifecycle_event(7, 1)).await;
        // Another callback's, which nobody registers.
        peer.send(&lifecycle_event(8, 9)).await;
        peer.reply(&call, &xdr_u32(7)).await;
        peer.send(&lifecycle_event(7, 2)).await;
        peer.lib_version(4).await;
    });
    let client = connect(&uri).await;
    let mut events = within(client.register_domain_event(0, None)).await.unwrap();
    let first = within(events.next()).await.unwrap().unwrap();
    assert_eq!(lifecycle_kind(&first), 1);
    let second = within(events.next()).await.unwrap().unwrap();
    assert_eq!(lifecycle_kind(&second), 2);
    assert_eq!(events.lost(), 0);
    assert_eq!(within(client.connect_get_lib_version()).await.unwrap(), 4);
    within(daemon).await.unwrap();
}

#[tokio::test]
async fn an_unread_event_stream_holds_a_bounded_number_of_bytes() {
    // Events of about 4 MiB each (a domain name near libvirt's string
    // limit): a stream nobody reads keeps at most EVENT_BUFFER_BYTES of
    // them, however many its count allows.
    const NAME: usize = (4 << 20) - 4;
    const SENT: usize = 8;
    let (uri, daemon) = hostile(|mut peer| async move {
        peer.open().await;
        peer.answer(P::ConnectDomainEventCallbackRegisterAny, &xdr_u32(7))
            .await;
        let mut body = xdr_u32(7);
        body.extend_from_slice(&xdr_u32(NAME as u32));
        body.resize(body.len() + NAME, b'n');
        body.extend_from_slice(&[0; 16]);
        body.extend_from_slice(&xdr_u32(1));
        body.extend_from_slice(&xdr_u32(0));
        body.extend_from_slice(&xdr_u32(0));
        let p = P::DomainEventCallbackLifecycle as i32;
        for _ in 0..SENT {
            peer.send(&frame(REMOTE, p, MESSAGE, 0, OK, &body)).await;
        }
        peer.lib_version(3).await;
    });
    let client = connect(&uri).await;
    let mut events = within(client.register_domain_event(0, None)).await.unwrap();
    // Handled after every event.
    assert_eq!(within(client.connect_get_lib_version()).await.unwrap(), 3);
    let kept = libvirt_proto::client::EVENT_BUFFER_BYTES / (NAME + 36);
    assert!(kept < SENT);
    assert_eq!(events.lost(), (SENT - kept) as u64);
    for _ in 0..kept {
        within(events.next()).await.unwrap().unwrap();
    }
    within(daemon).await.unwrap();
}

#[tokio::test]
async fn after_refusing_a_stream_over_its_limit_reads_keep_saying_why() {
    let (uri, daemon) = hostile(|mut peer| async move {
        peer.open().await;
        let call = peer.answer(P::StorageVolDownload, &[]).await;
        for _ in 0..3 {
            let f = frame(
                REMOTE,
                call.procedure,
                STREAM,
                call.serial,
                CONTINUE,
                &[1; 100],
            );
            peer.send(&f).await;
        }
        expect_abort(&mut peer, call.serial).await;
        peer.lib_version(2).await;
    });
    let client = connect(&uri).await;
    let mut stream = within(client.storage_vol_download(&volume(), 0, 0, 0))
        .await
        .unwrap();
    let err = within(stream.recv_all(150)).await.unwrap_err();
    assert!(
        matches!(err, ClientError::StreamTooLarge { limit: 150 }),
        "{err:?}"
    );
    // Not the data left over, nor `Closed` while the connection is up.
    for _ in 0..2 {
        let again = within(stream.recv_chunk()).await.unwrap_err();
        assert!(
            matches!(again, ClientError::StreamTooLarge { limit: 150 }),
            "{again:?}"
        );
    }
    assert_eq!(within(client.connect_get_lib_version()).await.unwrap(), 2);
    within(daemon).await.unwrap();
}

#[tokio::test]
async fn a_finish_given_up_sends_no_abort_after_its_ok() {
    let (uri, daemon) = hostile(|mut peer| async move {
        peer.open().await;
        let call = peer.answer(P::StorageVolUpload, &[]).await;
        // The client's OK; the daemon answers it only after the client has
        // given up waiting, and the client's next call comes.
        let next = loop {
            let m = peer.recv_call().await.unwrap();
            if m.serial == call.serial {
                // The data, then the OK; never an abort.
                assert_eq!(m.kind, STREAM, "{m:?}");
                assert_ne!(m.status, ERROR, "an abort after the OK: {m:?}");
                continue;
            }
            break m;
        };
        assert!(
            next.is_call(P::ConnectGetLibVersion),
            "an abort came first: {next:?}"
        );
        let ok = frame(REMOTE, call.procedure, STREAM, call.serial, OK, &[]);
        peer.send(&ok).await;
        peer.reply(&next, &3u64.to_be_bytes()).await;
        peer.lib_version(4).await;
    });
    let client = connect(&uri).await;
    let mut stream = within(client.storage_vol_upload(&volume(), 0, 0, 0))
        .await
        .unwrap();
    within(stream.send(b"data")).await.unwrap();
    // Given up before the daemon's OK (which never comes before the next
    // call): the stream is dropped with its finish sent.
    let gave_up = tokio::time::timeout(Duration::from_millis(100), stream.finish()).await;
    assert!(gave_up.is_err(), "the daemon had not answered");
    assert_eq!(within(client.connect_get_lib_version()).await.unwrap(), 3);
    assert_eq!(within(client.connect_get_lib_version()).await.unwrap(), 4);
    within(daemon).await.unwrap();
}
