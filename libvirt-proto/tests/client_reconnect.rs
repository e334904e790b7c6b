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
use libvirt_proto::engine::CloseReason;

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
    let Some(mut d) = Daemon::start("reconnect") else {
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
    let mut client = conn.connected().await.unwrap();
    let mut events = lifecycle(&conn).await;
    assert!(events.current().unwrap().callback_id().is_some());
    let dom = client.domain_lookup_by_name("test").await.unwrap();
    dom.suspend().await.unwrap();
    lifecycle_event(&mut events, DomainEventType::SUSPENDED).await;

    for generation in [2, 3] {
        // The daemon dies: the subscription says so, the old
        // connection's calls fail, and attempts fail while nothing
        // listens.
        drop(d);
        match within("the loss", events.next()).await {
            Some(Ok(Resumed::Disconnected(ClientError::ConnectionLost(_)))) => {}
            other => panic!("expected the loss, got {other:?}"),
        }
        assert!(events.current().is_none());
        assert!(matches!(
            client.connect_get_lib_version().await,
            Err(ClientError::ConnectionLost(_))
        ));
        // An attempt failed: nothing listens on the socket.
        state(&conn, |s| {
            matches!(
                s,
                ConnectionState::Reconnecting {
                    cause: ClientError::Connect { .. },
                    ..
                }
            )
        })
        .await;
        assert!(conn.client().is_none());

        // Back on the same socket: a new connection, subscribed again.
        d = Daemon::start("reconnect").expect("libvirtd ran a moment ago");
        client = within("the new connection", conn.connected())
            .await
            .unwrap();
        assert!(
            matches!(conn.state(), ConnectionState::Connected { generation: g } if g == generation),
            "{:?}",
            conn.state()
        );
        assert!(client.connect_get_lib_version().await.is_ok());
        match within("the new subscription", events.next()).await {
            Some(Ok(Resumed::Reconnected)) => {}
            other => panic!("expected the new subscription, got {other:?}"),
        }
        // A new daemon: "test" runs again, and its events come through.
        let dom = client.domain_lookup_by_name("test").await.unwrap();
        dom.suspend().await.unwrap();
        lifecycle_event(&mut events, DomainEventType::SUSPENDED).await;
    }

    // Closing ends it all for good, and returns once the connection is
    // closed.
    conn.close().await;
    assert!(matches!(
        conn.state(),
        ConnectionState::Ended(ClientError::Closed)
    ));
    assert!(client.is_closed());
    assert!(matches!(conn.connected().await, Err(ClientError::Closed)));
    assert!(matches!(
        within("the end", events.next()).await,
        Some(Err(ClientError::Closed))
    ));
    assert!(events.next().await.is_none());
}

#[tokio::test]
async fn closing_while_reconnecting_stops_it() {
    let Some(d) = Daemon::start("reconnect-close") else {
        return;
    };
    let conn = Reconnecting::connect(&d.uri(), options(), quick())
        .await
        .unwrap();
    let mut events = lifecycle(&conn).await;
    drop(d);
    state(&conn, |s| matches!(s, ConnectionState::Reconnecting { .. })).await;
    within("close", conn.close()).await;
    assert!(matches!(
        conn.state(),
        ConnectionState::Ended(ClientError::Closed)
    ));
    assert!(matches!(
        within("the loss", events.next()).await,
        Some(Ok(Resumed::Disconnected(_)))
    ));
    assert!(matches!(
        within("the end", events.next()).await,
        Some(Err(ClientError::Closed))
    ));
}

#[tokio::test]
async fn the_last_handle_gone_closes_the_connection() {
    let Some(d) = Daemon::start("reconnect-drop") else {
        return;
    };
    let conn = Reconnecting::connect(&d.uri(), options(), quick())
        .await
        .unwrap();
    let client = conn.connected().await.unwrap();
    drop(conn);
    assert!(matches!(
        within("the close", client.closed()).await,
        ClientError::Closed
    ));
}

#[tokio::test]
async fn a_frozen_daemon_is_given_up_by_keepalive_and_found_again() {
    let Some(d) = Daemon::start("reconnect-frozen") else {
        return;
    };
    // Quick keepalive and opening, so that the test does not wait on
    // libvirt's defaults.
    let options = options()
        .with_keepalive((Duration::from_millis(200), 2))
        .with_connect_timeout(Duration::from_millis(500));
    let conn = Reconnecting::connect(&d.uri(), options, quick())
        .await
        .unwrap();
    let mut events = lifecycle(&conn).await;
    d.signal("STOP");
    match within("the loss", events.next()).await {
        Some(Ok(Resumed::Disconnected(ClientError::ConnectionLost(
            CloseReason::KeepaliveTimeout,
        )))) => {}
        other => {
            d.signal("CONT");
            panic!("expected keepalive to give up, got {other:?}")
        }
    }
    // The frozen daemon's socket takes the connection and says nothing.
    state(&conn, |s| {
        matches!(
            s,
            ConnectionState::Reconnecting {
                cause: ClientError::Timeout(_),
                ..
            }
        )
    })
    .await;
    d.signal("CONT");
    let client = within("the new connection", conn.connected())
        .await
        .unwrap();
    assert!(client.connect_get_lib_version().await.is_ok());
    assert!(matches!(
        within("the new subscription", events.next()).await,
        Some(Ok(Resumed::Reconnected))
    ));
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
    let Some(_d) = Daemon::start("reconnect-client-close") else {
        return;
    };
    let conn = Reconnecting::connect(&_d.uri(), options(), quick())
        .await
        .unwrap();
    let mut watch = conn.watch();
    assert!(matches!(
        watch.changed().await,
        Some(ConnectionState::Connected { generation: 1 })
    ));
    conn.connected().await.unwrap().close().await;
    // Straight to the end, with the daemon still there: no attempt.
    let next = within("the end", watch.changed()).await;
    assert!(
        matches!(next, Some(ConnectionState::Ended(ClientError::Closed))),
        "{next:?}"
    );
    assert!(within("the watch's end", watch.changed()).await.is_none());
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

#[tokio::test]
async fn an_alias_is_looked_up_once() {
    let Some(d) = Daemon::start("reconnect-alias") else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("lvp-reconnect-alias-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("libvirt.conf");
    std::fs::write(&conf, format!("uri_aliases = [ \"here={}\" ]\n", d.uri())).unwrap();
    let options = ConnectOptions::default().with_config(ConfigSource::File(conf.clone()));
    let conn = Reconnecting::connect("here", options, quick().with_attempts(50))
        .await
        .unwrap();
    // The alias now names another daemon; the connection still goes back
    // to the one it opened.
    std::fs::write(
        &conf,
        "uri_aliases = [ \"here=test+unix:///default?socket=/nonexistent/sock\" ]\n",
    )
    .unwrap();
    drop(d);
    state(&conn, |s| matches!(s, ConnectionState::Reconnecting { .. })).await;
    let _d = Daemon::start("reconnect-alias").expect("libvirtd ran a moment ago");
    let client = within("the new connection", conn.connected()).await;
    let _ = std::fs::remove_dir_all(&dir);
    assert!(client.unwrap().connect_get_lib_version().await.is_ok());
    assert!(matches!(
        conn.state(),
        ConnectionState::Connected { generation: 2 }
    ));
}
