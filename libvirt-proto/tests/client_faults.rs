//! The async client when things go wrong, against a real private
//! `libvirtd`: a daemon frozen with SIGSTOP (timeouts, dropped calls,
//! keepalive), a daemon killed mid-call, and slow event consumers. No test
//! asserts a duration; generous time limits only keep a bug from hanging
//! the run.

#![cfg(feature = "client")]

mod common;

use std::time::Duration;

use common::Daemon;
use libvirt_proto::client::{Client, ClientError, ConnectOptions};
use libvirt_proto::dispatch::Message;
use libvirt_proto::engine::CloseReason;
use libvirt_proto::remote;
use libvirt_proto::remote::program::procs;

/// A limit on how long something may take before the test is declared hung.
const HANG: Duration = Duration::from_secs(30);

async fn test_domain(c: &Client) -> remote::NonnullDomain {
    c.call::<procs::DomainLookupByName>(&remote::DomainLookupByNameArgs {
        name: "test".into(),
    })
    .await
    .unwrap()
    .dom
}

#[tokio::test]
async fn timed_out_and_dropped_calls_leave_the_connection_healthy() {
    let Some(d) = Daemon::start("timeouts") else {
        return;
    };
    let client = Client::connect(&d.uri()).await.unwrap();
    let want = client
        .call::<procs::ConnectGetHostname>(&())
        .await
        .unwrap()
        .hostname;
    d.signal("STOP");
    // A call that cannot be answered times out...
    let err = client
        .call_with_timeout::<procs::ConnectGetLibVersion>(&(), Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Timeout(_)), "{err:?}");
    // ... and one whose caller goes away is given up.
    let c = client.clone();
    let dropped = tokio::spawn(async move { c.call::<procs::ConnectGetLibVersion>(&()).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    dropped.abort();
    assert!(dropped.await.unwrap_err().is_cancelled());
    // A connection-wide timeout applies to plain calls.
    let uri = d.uri();
    let strict = Client::connect_with(
        &uri,
        ConnectOptions::default().with_call_timeout(Duration::from_millis(200)),
    );
    // (The daemon is frozen: connecting itself cannot finish.)
    assert!(tokio::time::timeout(Duration::from_millis(300), strict)
        .await
        .is_err());
    d.signal("CONT");
    // The late replies are dropped; later calls get their own answers.
    for _ in 0..20 {
        let h = tokio::time::timeout(HANG, client.call::<procs::ConnectGetHostname>(&()))
            .await
            .expect("hung")
            .unwrap();
        assert_eq!(h.hostname, want);
    }
    let strict = Client::connect_with(
        &d.uri(),
        ConnectOptions::default().with_call_timeout(Duration::from_millis(200)),
    )
    .await
    .unwrap();
    d.signal("STOP");
    let err = strict
        .call::<procs::ConnectGetLibVersion>(&())
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Timeout(_)), "{err:?}");
    d.signal("CONT");
}

#[tokio::test]
async fn a_killed_daemon_fails_pending_calls_and_ends_event_streams() {
    let Some(d) = Daemon::start("killed") else {
        return;
    };
    let client = Client::connect(&d.uri()).await.unwrap();
    let closed = tokio::spawn({
        let c = client.clone();
        async move { c.closed().await }
    });
    let mut lifecycle = client.register_domain_event(0, None).await.unwrap();
    let mut all = client.events();
    d.signal("STOP");
    let pending: Vec<_> = (0..8)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move { c.call::<procs::ConnectGetLibVersion>(&()).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    d.signal("KILL");
    // The daemon's end: the kernel reports the calls it never read as a
    // reset connection (a clean end of file otherwise). Whichever it is,
    // every waiter gets that same cause, never `Closed`.
    let mut reasons = Vec::new();
    for p in pending {
        let r = tokio::time::timeout(HANG, p).await.expect("hung").unwrap();
        reasons.push(died(r.unwrap_err()));
    }
    for stream in [&mut lifecycle, &mut all] {
        match tokio::time::timeout(HANG, stream.next())
            .await
            .expect("hung")
        {
            Some(Err(e)) => reasons.push(died(e)),
            other => panic!("{other:?}"),
        }
        assert!(stream.next().await.is_none());
    }
    // Later calls fail at once, with the same cause.
    let r = tokio::time::timeout(HANG, client.call::<procs::ConnectGetLibVersion>(&()))
        .await
        .expect("hung");
    reasons.push(died(r.unwrap_err()));
    // So does an event stream asked for afterwards.
    match tokio::time::timeout(HANG, client.events().next())
        .await
        .expect("hung")
    {
        Some(Err(e)) => reasons.push(died(e)),
        other => panic!("{other:?}"),
    }
    // Whoever waited for the end learns the same cause, and so does a
    // late asker, at once.
    let end = tokio::time::timeout(HANG, closed)
        .await
        .expect("hung")
        .unwrap();
    reasons.push(died(end));
    let late = tokio::time::timeout(HANG, client.closed())
        .await
        .expect("hung");
    reasons.push(died(late));
    assert!(reasons.windows(2).all(|w| w[0] == w[1]), "{reasons:?}");
}

/// The reason of a connection lost to a daemon's death: its end of file,
/// or a reset connection (the I/O error, as the source).
fn died(e: ClientError) -> CloseReason {
    match e {
        ClientError::ConnectionLost(r @ CloseReason::PeerClosed) => r,
        ClientError::ConnectionLost(CloseReason::Transport(io))
            if io.kind() == std::io::ErrorKind::ConnectionReset =>
        {
            let e = ClientError::ConnectionLost(CloseReason::Transport(io.clone()));
            let source = std::error::Error::source(&e)
                .and_then(|s| s.downcast_ref::<std::io::Error>())
                .expect("the I/O error is the source");
            assert_eq!(source.kind(), std::io::ErrorKind::ConnectionReset);
            CloseReason::Transport(io)
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn keepalive_detects_a_frozen_daemon() {
    let Some(d) = Daemon::start("keepalive") else {
        return;
    };
    let client = Client::connect_with(
        &d.uri(),
        ConnectOptions::default().with_keepalive((Duration::from_secs(1), 2)),
    )
    .await
    .unwrap();
    // Idle with a live daemon: keepalive keeps the connection up.
    tokio::time::sleep(Duration::from_secs(4)).await;
    client
        .call::<procs::ConnectGetLibVersion>(&())
        .await
        .unwrap();
    d.signal("STOP");
    // Nothing pending: the end alone tells.
    let r = tokio::time::timeout(HANG, client.closed())
        .await
        .expect("keepalive never fired");
    d.signal("CONT");
    match r {
        ClientError::ConnectionLost(CloseReason::KeepaliveTimeout) => {}
        other => panic!("{other:?}"),
    }
    match client.call::<procs::ConnectGetLibVersion>(&()).await {
        Err(ClientError::ConnectionLost(CloseReason::KeepaliveTimeout)) => {}
        other => panic!("{other:?}"),
    }
    // Closed by this side, the end says so.
    let client = Client::connect(&d.uri()).await.unwrap();
    let closed = tokio::spawn({
        let c = client.clone();
        async move { c.closed().await }
    });
    client.close().await;
    let end = tokio::time::timeout(HANG, closed)
        .await
        .expect("hung")
        .unwrap();
    assert!(matches!(end, ClientError::Closed), "{end:?}");
}

/// Suspends and resumes the test domain `times` times.
async fn toggle(c: &Client, dom: &remote::NonnullDomain, times: usize) {
    for _ in 0..times {
        c.call::<procs::DomainSuspend>(&remote::DomainSuspendArgs { dom: dom.clone() })
            .await
            .unwrap();
        c.call::<procs::DomainResume>(&remote::DomainResumeArgs { dom: dom.clone() })
            .await
            .unwrap();
    }
}

fn lifecycle_of(m: &Message) -> Option<(i32, i32)> {
    match m {
        Message::Remote(remote::program::Message::DomainEventCallbackLifecycle(e)) => {
            Some((e.callback_id, e.msg.event))
        }
        _ => None,
    }
}

#[tokio::test]
async fn events_go_to_their_own_registration_and_loss_is_counted() {
    let Some(d) = Daemon::start("routing") else {
        return;
    };
    let client = Client::connect(&d.uri()).await.unwrap();
    let dom = test_domain(&client).await;
    let mut a = client.register_domain_event(0, None).await.unwrap();
    let b = client
        .register_domain_event(0, Some(dom.clone()))
        .await
        .unwrap();
    let mut net = client.register_network_event(0, None).await.unwrap();
    let mut all = client.events();
    assert_ne!(a.callback_id(), b.callback_id());

    toggle(&client, &dom, 1).await;
    let mut got = Vec::new();
    while got.len() < 2 {
        let m = tokio::time::timeout(HANG, a.next()).await.expect("hung");
        got.push(lifecycle_of(&m.unwrap().unwrap()).expect("a lifecycle event"));
    }
    let id = a.callback_id().unwrap();
    assert_eq!(got, [(id, 3), (id, 4)], "suspended, resumed");

    // Network events reach the network registration only.
    let netname = "default".to_string();
    let n = client
        .call::<procs::NetworkLookupByName>(&remote::NetworkLookupByNameArgs {
            name: netname.clone().into(),
        })
        .await
        .unwrap()
        .net;
    client
        .call::<procs::NetworkDestroy>(&remote::NetworkDestroyArgs { net: n.clone() })
        .await
        .unwrap();
    let m = tokio::time::timeout(HANG, net.next())
        .await
        .expect("hung")
        .unwrap()
        .unwrap();
    match m {
        Message::Remote(remote::program::Message::NetworkEventLifecycle(e)) => {
            assert_eq!(e.callback_id, net.callback_id().unwrap());
            assert_eq!(e.net.name.0, netname);
        }
        other => panic!("{other:?}"),
    }

    // The catch-all stream saw both domain callbacks' events; after `b`
    // is dropped (and so deregistered), a transition comes once.
    let mut seen = Vec::new();
    while seen.len() < 4 {
        let m = tokio::time::timeout(HANG, all.next())
            .await
            .expect("hung")
            .unwrap()
            .unwrap();
        if let Some(x) = lifecycle_of(&m) {
            seen.push(x);
        }
    }
    assert_eq!(seen.iter().filter(|(c, _)| *c == id).count(), 2);
    let b_id = b.callback_id().unwrap();
    drop(b);
    // The drop deregisters without waiting, and libvirtd runs a client's
    // calls on parallel workers, so the next suspend could still reach
    // `b`. Deregistering again, whatever the answer ("not registered"
    // once the drop's call is through), leaves it gone before the toggle.
    let _ = client
        .call::<procs::ConnectDomainEventCallbackDeregisterAny>(
            &remote::ConnectDomainEventCallbackDeregisterAnyArgs { callback_id: b_id },
        )
        .await;
    toggle(&client, &dom, 1).await;
    let mut after = Vec::new();
    while after.len() < 2 {
        let m = tokio::time::timeout(HANG, a.next()).await.expect("hung");
        after.push(lifecycle_of(&m.unwrap().unwrap()).unwrap());
    }
    // Let any stray event of the dropped callback arrive, then look.
    client
        .call::<procs::ConnectGetLibVersion>(&())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut others = 0;
    while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_millis(50), all.next()).await {
        if let Some((c, _)) = lifecycle_of(&m) {
            assert_eq!(c, id, "only the live callback's events");
            others += 1;
        }
    }
    assert_eq!(others, 2);
    assert_eq!(a.lost(), 0);

    // A consumer that never reads loses events beyond its buffer, counted.
    let slow_client =
        Client::connect_with(&d.uri(), ConnectOptions::default().with_event_buffer(1))
            .await
            .unwrap();
    let mut slow = slow_client.register_domain_event(0, None).await.unwrap();
    toggle(&client, &dom, 3).await;
    let deadline = tokio::time::Instant::now() + HANG;
    while slow.lost() < 5 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "lost {}",
            slow.lost()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(slow.lost(), 5, "six events, room for one");
    let first = slow.next().await.unwrap().unwrap();
    assert_eq!(lifecycle_of(&first).map(|(_, e)| e), Some(3));
    // Replies were never held up by the full buffer.
    slow_client
        .call::<procs::ConnectGetLibVersion>(&())
        .await
        .unwrap();
}
