//! The client's data path under pressure, against a real private
//! `libvirtd`: a stalled stream reader keeps memory flat while the daemon
//! has far more to send, and a daemon frozen with SIGSTOP during a large
//! upload, during a download whose reader is slow, or during a burst of
//! calls is declared dead by keepalive, ending every pending call, stream
//! and event subscription with that cause. No test asserts a duration;
//! generous limits only keep a bug from hanging the run.

#![cfg(feature = "client")]

mod common;

use std::time::Duration;

use common::storage::{storage_uri, volume};
use common::Daemon;
use libvirt_proto::client::{ByteStream, Client, ClientError, ConnectOptions, STREAM_RECV_BUFFER};
use libvirt_proto::engine::CloseReason;
use libvirt_proto::remote;
use libvirt_proto::remote::program::procs;
use tokio::io::AsyncReadExt;

/// A limit on how long something may take before the test is declared hung.
const HANG: Duration = Duration::from_secs(60);

const MIB: u64 = 1 << 20;

/// Held shared by every test here and alone by the one that measures this
/// process's memory, so the others' buffers never count against it.
static MEMORY: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// This process's resident memory, in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib * 1024
}

/// Keepalive that gives up on a silent daemon after 1 s × (2 + 1).
fn quick_keepalive() -> ConnectOptions {
    ConnectOptions::default().with_keepalive((Duration::from_secs(1), 2))
}

/// A daemon, a client of its storage driver with [`quick_keepalive`], and a
/// 1 GiB volume.
async fn storage_with_quick_keepalive(
    name: &str,
) -> Option<(Daemon, Client, remote::NonnullStorageVol)> {
    let d = Daemon::start(name)?;
    let c = Client::connect_with(&storage_uri(&d), quick_keepalive())
        .await
        .unwrap();
    let vol = volume(&c, &d, 1024 * MIB).await;
    Some((d, c, vol))
}

async fn download(c: &Client, vol: &remote::NonnullStorageVol) -> ByteStream {
    c.call_stream::<procs::StorageVolDownload>(&remote::StorageVolDownloadArgs {
        vol: vol.clone(),
        offset: 0,
        length: 0,
        flags: 0,
    })
    .await
    .unwrap()
    .1
}

fn is_keepalive_timeout(e: &ClientError) -> bool {
    matches!(
        e,
        ClientError::ConnectionLost(CloseReason::KeepaliveTimeout)
    )
}

/// The `ClientError` inside an I/O error from `AsyncRead` / `AsyncWrite`.
fn client_error(e: &std::io::Error) -> &ClientError {
    e.get_ref()
        .and_then(|e| e.downcast_ref::<ClientError>())
        .unwrap_or_else(|| panic!("not a client error: {e:?}"))
}

#[tokio::test]
async fn a_stalled_reader_keeps_memory_flat_and_the_connection_alive() {
    let _alone = MEMORY.write().await;
    let Some(d) = Daemon::start("stall") else {
        return;
    };
    // Keepalive would drop a daemon silent for 2 s; the reader stalls
    // longer than that, and the connection must survive it.
    let options = ConnectOptions::default().with_keepalive((Duration::from_secs(1), 1));
    let c = Client::connect_with(&storage_uri(&d), options)
        .await
        .unwrap();
    const SIZE: u64 = 256 * MIB;
    let vol = volume(&c, &d, SIZE).await;
    let mut down = download(&c, &vol).await;
    let mut buf = vec![0u8; 64 * 1024];
    down.read_exact(&mut buf).await.unwrap();
    let before = rss();
    // Stalled: the daemon has 256 MiB to send and could send it all in
    // this time.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let grown = rss().saturating_sub(before);
    assert!(
        grown < 8 * STREAM_RECV_BUFFER as u64,
        "memory grew by {grown} bytes while the reader stalled"
    );
    // A call made meanwhile completes once the reader goes on.
    let call = tokio::spawn({
        let c = c.clone();
        async move { c.call::<procs::ConnectGetLibVersion>(&()).await }
    });
    let mut total = buf.len() as u64;
    let mut peak = 0;
    let rest = async {
        loop {
            let n = down.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            assert!(buf[..n].iter().all(|&b| b == 0));
            total += n as u64;
            if total % (16 * MIB) < n as u64 {
                peak = peak.max(rss().saturating_sub(before));
            }
        }
    };
    tokio::time::timeout(HANG, rest).await.expect("hung");
    assert_eq!(total, SIZE);
    assert!(
        peak < 8 * STREAM_RECV_BUFFER as u64,
        "memory grew by {peak} bytes during the download"
    );
    let v = tokio::time::timeout(HANG, call)
        .await
        .expect("hung")
        .unwrap()
        .unwrap();
    assert!(v.lib_ver > 0);
}

#[tokio::test]
async fn a_daemon_frozen_during_an_upload_is_declared_dead() {
    let _shared = MEMORY.read().await;
    let Some((d, c, vol)) = storage_with_quick_keepalive("frozen-upload").await else {
        return;
    };
    let mut events = c.register_storage_pool_event(0, None).await.unwrap();
    let ((), mut up) = c
        .call_stream::<procs::StorageVolUpload>(&remote::StorageVolUploadArgs {
            vol,
            offset: 0,
            length: 0,
            flags: 0,
        })
        .await
        .unwrap();
    let writer = tokio::spawn(async move {
        let chunk = vec![0x5au8; 64 * 1024];
        loop {
            if let Err(e) = up.send(&chunk).await {
                return e;
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(250)).await;
    d.signal("STOP");
    let call = c.call::<procs::ConnectGetLibVersion>(&());
    let (written, called) = tokio::time::timeout(HANG, async { tokio::join!(writer, call) })
        .await
        .expect("a frozen daemon was never declared dead");
    let event = tokio::time::timeout(HANG, events.next())
        .await
        .expect("hung");
    d.signal("CONT");
    let written = written.unwrap();
    assert!(is_keepalive_timeout(&written), "{written:?}");
    assert!(is_keepalive_timeout(&called.unwrap_err()));
    match event {
        Some(Err(e)) => assert!(is_keepalive_timeout(&e), "{e:?}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_daemon_frozen_during_a_slow_download_is_declared_dead() {
    let _shared = MEMORY.read().await;
    let Some((d, c, vol)) = storage_with_quick_keepalive("frozen-download").await else {
        return;
    };
    let mut down = download(&c, &vol).await;
    // A slow reader: 64 KiB every 5 ms, far slower than the daemon.
    let reader = tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match down.read(&mut buf).await {
                Ok(0) => return None,
                Ok(_) => tokio::time::sleep(Duration::from_millis(5)).await,
                Err(e) => return Some(e),
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(250)).await;
    d.signal("STOP");
    let r = tokio::time::timeout(HANG, reader)
        .await
        .expect("a frozen daemon was never declared dead")
        .unwrap();
    let call = c.call::<procs::ConnectGetLibVersion>(&()).await;
    d.signal("CONT");
    let e = r.expect("the download cannot have finished");
    assert!(is_keepalive_timeout(client_error(&e)), "{e:?}");
    assert!(matches!(
        call,
        Err(ClientError::ConnectionLost(CloseReason::KeepaliveTimeout) | ClientError::Closed)
    ));
}

#[tokio::test]
async fn a_daemon_frozen_during_a_burst_of_calls_is_declared_dead() {
    let _shared = MEMORY.read().await;
    let Some(d) = Daemon::start("frozen-burst") else {
        return;
    };
    let c = Client::connect_with(&d.uri(), quick_keepalive())
        .await
        .unwrap();
    let mut events = c.register_domain_event(0, None).await.unwrap();
    let calls: Vec<_> = (0..64)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move {
                loop {
                    c.call::<procs::ConnectGetLibVersion>(&()).await?;
                }
                #[allow(unreachable_code)]
                Ok::<(), ClientError>(())
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(250)).await;
    d.signal("STOP");
    let ended = tokio::time::timeout(HANG, async {
        let mut out = Vec::new();
        for t in calls {
            out.push(t.await.unwrap());
        }
        out
    })
    .await
    .expect("a frozen daemon was never declared dead");
    let event = tokio::time::timeout(HANG, events.next())
        .await
        .expect("hung");
    d.signal("CONT");
    for r in ended {
        let e = r.unwrap_err();
        assert!(is_keepalive_timeout(&e), "{e:?}");
    }
    match event {
        Some(Err(e)) => assert!(is_keepalive_timeout(&e), "{e:?}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_daemon_killed_during_a_download_ends_it_with_the_cause() {
    let _shared = MEMORY.read().await;
    let Some((d, c, vol)) = storage_with_quick_keepalive("killed-download").await else {
        return;
    };
    let mut events = c.events();
    let mut down = download(&c, &vol).await;
    let mut buf = vec![0u8; 64 * 1024];
    down.read_exact(&mut buf).await.unwrap();
    d.signal("KILL");
    // The reader learns why: the daemon's end (its end of file, or a
    // reset when it died with data unread), never `Closed`.
    let e = tokio::time::timeout(HANG, async {
        loop {
            match down.read(&mut buf).await {
                Ok(0) => panic!("the download cannot have finished"),
                Ok(_) => {}
                Err(e) => return e,
            }
        }
    })
    .await
    .expect("hung");
    assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
    let reason = died(client_error(&e));
    // The same cause for the event stream and for the calls made after.
    match tokio::time::timeout(HANG, events.next())
        .await
        .expect("hung")
    {
        Some(Err(e)) => assert_eq!(died(&e), reason),
        other => panic!("{other:?}"),
    }
    let call = c
        .call::<procs::ConnectGetLibVersion>(&())
        .await
        .unwrap_err();
    assert_eq!(died(&call), reason);
    // Reading on gives the same error: a broken download never reads as
    // complete.
    let again = down.recv_chunk().await.unwrap_err();
    assert_eq!(died(&again), reason);
}

/// The reason of a connection lost to the daemon's death.
fn died(e: &ClientError) -> CloseReason {
    match e {
        ClientError::ConnectionLost(r @ CloseReason::PeerClosed) => r.clone(),
        ClientError::ConnectionLost(r @ CloseReason::Transport(io))
            if io.kind() == std::io::ErrorKind::ConnectionReset =>
        {
            r.clone()
        }
        other => panic!("not the daemon's death: {other:?}"),
    }
}
