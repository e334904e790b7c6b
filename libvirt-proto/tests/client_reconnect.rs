//! `Reconnecting` against a real, private `libvirtd` serving
//! `test:///default`: the daemon is killed and started again on the same
//! socket; the connection is opened again, a lifecycle subscription is
//! made again and says what happened in between, and calls work on the
//! new connection. Also: giving up after the attempts allowed, and
//! `close`.
//!
//! Needs `libvirtd`; without it the tests say so and pass, unless
//! `LIBVIRT_PROTO_DAEMON_TESTS=1` (`cargo xtask test`).

#![cfg(feature = "client")]

mod common;

use std::future::Future;
use std::time::Duration;

use common::Daemon;
use libvirt_proto::api::{DomainEventID, DomainEventType};
use libvirt_proto::client::{
    Backoff, ClientError, ConnectOptions, ConnectionState, DomainEvent, Events, Reconnecting,
    Resubscribing, Resumed,
};
use libvirt_proto::client_config::ConfigSource;

/// Long enough for anything here; only a hang reaches it.
const HANG: Duration = Duration::from_secs(60);

async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(HANG, f)
        .await
        .unwrap_or_else(|_| panic!("{what}: nothing after {HANG:?}"))
}

fn options() -> ConnectOptions {
    ConnectOptions::default().with_config(ConfigSource::None)
}

fn quick() -> Backoff {
    Backoff::default()
        .with_initial(Duration::from_millis(20))
        .with_max(Duration::from_millis(200))
}

type Lifecycle = Resubscribing<Events<DomainEvent>>;

async fn lifecycle(conn: &Reconnecting) -> Lifecycle {
    conn.resubscribing(|client| async move {
        client.domain_events(DomainEventID::LIFECYCLE, None).await
    })
    .await
    .unwrap()
}

/// The next item that is not an event of another kind than `event`.
async fn lifecycle_event(events: &mut Lifecycle, event: DomainEventType) {
    loop {
        match within("a lifecycle event", events.next()).await {
            Some(Ok(Resumed::Event(DomainEvent::Lifecycle { event: e, .. }))) if e == event => {
                return
            }
            Some(Ok(Resumed::Event(_))) => continue,
            other => panic!("expected a {event:?} event, got {other:?}"),
        }
    }
}

/// Waits until the state is one `want` accepts.
async fn state(conn: &Reconnecting, want: impl Fn(&ConnectionState) -> bool) -> ConnectionState {
    let mut watch = conn.watch();
    within("the state", async {
        loop {
            let s = watch.changed().await.expect("the state watch ended");
            if want(&s) {
                return s;
            }
        }
    })
    .await
}

#[tokio::test]
async fn a_restarted_daemon_is_connected_again_and_subscribed_again() {
    let Some(d) = Daemon::start("reconnect") else {
        return;
    };
    let uri = d.uri();
    let conn = Reconnecting::connect(&uri, options(), quick())
        .await
        .unwrap();
    assert!(matches!(
        conn.state(),
        ConnectionState::Connected { generation: 1 }
    ));
    let first = conn.connected().await.unwrap();
    let mut events = lifecycle(&conn).await;
    let dom = first.domain_lookup_by_name("test").await.unwrap();
    dom.suspend().await.unwrap();
    lifecycle_event(&mut events, DomainEventType::SUSPENDED).await;

    // The daemon dies: the subscription says so, the old connection's
    // calls fail, and attempts fail while nothing listens.
    drop(d);
    match within("the loss", events.next()).await {
        Some(Ok(Resumed::Disconnected(ClientError::ConnectionLost(_)))) => {}
        other => panic!("expected the loss, got {other:?}"),
    }
    assert!(matches!(
        first.connect_get_lib_version().await,
        Err(ClientError::ConnectionLost(_))
    ));
    let failing = state(
        &conn,
        |s| matches!(s, ConnectionState::Reconnecting { attempt, .. } if *attempt >= 2),
    )
    .await;
    let ConnectionState::Reconnecting { cause, .. } = failing else {
        unreachable!()
    };
    assert!(matches!(cause, ClientError::Connect { .. }), "{cause:?}");
    assert!(conn.client().is_none());

    // Back on the same socket: a new connection, subscribed again.
    let Some(_d) = Daemon::start("reconnect") else {
        unreachable!("libvirtd ran a moment ago")
    };
    let second = within("the new connection", conn.connected())
        .await
        .unwrap();
    assert!(matches!(
        conn.state(),
        ConnectionState::Connected { generation: 2 }
    ));
    assert!(second.connect_get_lib_version().await.is_ok());
    match within("the new subscription", events.next()).await {
        Some(Ok(Resumed::Reconnected)) => {}
        other => panic!("expected the new subscription, got {other:?}"),
    }
    // A new daemon: "test" runs again, and its events come through.
    let dom = second.domain_lookup_by_name("test").await.unwrap();
    dom.suspend().await.unwrap();
    lifecycle_event(&mut events, DomainEventType::SUSPENDED).await;

    // Closing ends it all for good.
    conn.close().await;
    assert!(matches!(
        conn.state(),
        ConnectionState::Ended(ClientError::Closed)
    ));
    assert!(second.is_closed());
    assert!(matches!(conn.connected().await, Err(ClientError::Closed)));
    assert!(matches!(
        within("the end", events.next()).await,
        Some(Err(ClientError::Closed))
    ));
    assert!(events.next().await.is_none());
}

#[tokio::test]
async fn it_gives_up_after_the_attempts_allowed() {
    let Some(d) = Daemon::start("reconnect-give-up") else {
        return;
    };
    let conn = Reconnecting::connect(&d.uri(), options(), quick().with_attempts(3))
        .await
        .unwrap();
    let mut events = lifecycle(&conn).await;
    drop(d);
    let ended = state(&conn, |s| matches!(s, ConnectionState::Ended(_))).await;
    let ConnectionState::Ended(cause) = ended else {
        unreachable!()
    };
    // Why the last attempt failed: nothing listens on the socket.
    assert!(matches!(cause, ClientError::Connect { .. }), "{cause:?}");
    assert!(matches!(
        conn.connected().await,
        Err(ClientError::Connect { .. })
    ));
    // The subscription: the loss, then the end with the same cause.
    let loss = within("the loss", events.next()).await;
    assert!(
        matches!(loss, Some(Ok(Resumed::Disconnected(_)))),
        "{loss:?}"
    );
    assert!(matches!(
        within("the end", events.next()).await,
        Some(Err(ClientError::Connect { .. }))
    ));
    assert!(events.next().await.is_none());
}

#[tokio::test]
async fn closing_a_connection_it_handed_out_ends_it() {
    let Some(d) = Daemon::start("reconnect-client-close") else {
        return;
    };
    let conn = Reconnecting::connect(&d.uri(), options(), quick())
        .await
        .unwrap();
    conn.connected().await.unwrap().close().await;
    let ended = state(&conn, |s| matches!(s, ConnectionState::Ended(_))).await;
    assert!(matches!(ended, ConnectionState::Ended(ClientError::Closed)));
    // The daemon is still there; nothing was opened again.
    assert!(conn.client().is_none());
}

#[tokio::test]
async fn the_first_failure_is_returned_as_it_is() {
    let dir = std::env::temp_dir().join(format!("lvp-reconnect-none-{}", std::process::id()));
    let uri = format!(
        "test+unix:///default?socket={}",
        dir.join("no-such-sock").display()
    );
    let err = Reconnecting::connect(&uri, options(), quick())
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Connect { .. }), "{err:?}");
}

#[tokio::test]
async fn a_refused_subscription_is_returned() {
    let Some(d) = Daemon::start("reconnect-refused") else {
        return;
    };
    let conn = Reconnecting::connect(&d.uri(), options(), quick())
        .await
        .unwrap();
    // No such kind of domain event.
    let refused = conn
        .resubscribing(
            |client| async move { client.domain_events(DomainEventID(i32::MAX), None).await },
        )
        .await
        .unwrap_err();
    assert!(matches!(refused, ClientError::Remote(_)), "{refused:?}");
    // The connection goes on.
    assert!(conn
        .connected()
        .await
        .unwrap()
        .connect_get_lib_version()
        .await
        .is_ok());
}
