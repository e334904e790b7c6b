//! The `tracing` feature: what a connection to a private `libvirtd`
//! reports, seen by a subscriber that records every event of the client's
//! target. Without `libvirtd` the test says so and passes.

#![cfg(feature = "tracing")]

mod common;

use std::fmt::Write;
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

use common::Daemon;
use libvirt_proto::client::Client;
use libvirt_proto::remote;
use libvirt_proto::remote::program::procs;

/// Each event as `LEVEL message field=value ...`.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<String>>>);

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, " {value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        let _ = write!(self.0, " {}={value}", field.name());
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target() == "libvirt_proto::client"
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields(event.metadata().level().to_string());
        event.record(&mut fields);
        self.0.lock().unwrap().push(fields.0);
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

impl Recorder {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

fn has(events: &[String], parts: &[&str]) -> bool {
    events.iter().any(|e| parts.iter().all(|p| e.contains(p)))
}

// The driver runs on this test's single thread, where the subscriber is
// the default.
#[tokio::test(flavor = "current_thread")]
async fn a_connection_reports_its_calls_replies_and_end() {
    let Some(d) = Daemon::start("tracing") else {
        return;
    };
    let recorder = Recorder::default();
    let _guard = tracing::subscriber::set_default(recorder.clone());

    let client = Client::connect(&d.uri()).await.unwrap();
    let events = recorder.take();
    assert!(
        has(&events, &["DEBUG", "connection opened", "transport=Unix"]),
        "{events:#?}"
    );

    client
        .call::<procs::ConnectGetLibVersion>(&())
        .await
        .unwrap();
    let e = client
        .call::<procs::DomainLookupByName>(&remote::DomainLookupByNameArgs {
            name: "no-such-domain".into(),
        })
        .await
        .unwrap_err();
    let events = recorder.take();
    let serial_of = |name: &str| {
        let line = events
            .iter()
            .find(|e| e.contains(name))
            .unwrap_or_else(|| panic!("no call of {name}: {events:#?}"));
        let at = line.find("serial=").unwrap() + "serial=".len();
        line[at..].split_whitespace().next().unwrap().to_owned()
    };
    let ok = serial_of("REMOTE_PROC_CONNECT_GET_LIB_VERSION");
    let failed = serial_of("REMOTE_PROC_DOMAIN_LOOKUP_BY_NAME");
    assert!(
        has(&events, &["reply", &format!("serial={ok} "), "ok=true"]),
        "{events:#?}"
    );
    assert!(
        has(
            &events,
            &[
                "reply",
                &format!("serial={failed} "),
                "ok=false",
                &format!("error={e}")
            ]
        ),
        "{e}: {events:#?}"
    );
    // Arguments are not reported.
    assert!(
        !events
            .iter()
            .any(|e| e.contains("no-such-domain") && !e.contains("ok=false")),
        "{events:#?}"
    );

    // A daemon that goes away ends the connection, with the reason.
    drop(d);
    let gone = client.call::<procs::ConnectGetLibVersion>(&()).await;
    assert!(gone.is_err());
    let events = recorder.take();
    assert!(
        has(&events, &["INFO", "connection ended", "reason="]),
        "{events:#?}"
    );

    // A connection that cannot open says why; a parameter the remote
    // driver does not take (here misspelt) is named, not its value.
    assert!(
        Client::connect("test+unix:///default?socket=/nonexistent/sock&pkipth=/secret")
            .await
            .is_err()
    );
    let events = recorder.take();
    assert!(
        has(
            &events,
            &["DEBUG", "connection not opened", "/nonexistent/sock"]
        ),
        "not reported: {events:#?}"
    );
    assert!(
        has(
            &events,
            &[
                "DEBUG",
                "URI parameter passed on to the daemon",
                "parameter=\"pkipth\""
            ]
        ) || has(
            &events,
            &[
                "DEBUG",
                "URI parameter passed on to the daemon",
                "parameter=pkipth"
            ]
        ),
        "not reported: {events:#?}"
    );
    assert!(
        !events
            .iter()
            .any(|e| e.contains("/secret") && e.contains("passed on")),
        "{events:#?}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn reconnecting_reports_each_attempt() {
    use libvirt_proto::client::{Backoff, ConnectOptions, ConnectionState, Reconnecting};
    use libvirt_proto::client_config::ConfigSource;
    use std::time::Duration;

    let Some(d) = Daemon::start("tracing-reconnect") else {
        return;
    };
    let recorder = Recorder::default();
    let _guard = tracing::subscriber::set_default(recorder.clone());
    let backoff = Backoff::default()
        .with_initial(Duration::from_millis(10))
        .with_attempts(2);
    let options = ConnectOptions::default().with_config(ConfigSource::None);
    let conn = Reconnecting::connect(&d.uri(), options, backoff)
        .await
        .unwrap();
    drop(d);
    let mut watch = conn.watch();
    while !matches!(
        watch.changed().await,
        Some(ConnectionState::Ended(_)) | None
    ) {}
    let events = recorder.take();
    for attempt in ["attempt=1", "attempt=2"] {
        assert!(
            has(&events, &["INFO", "reconnecting", attempt, "cause="]),
            "{events:#?}"
        );
    }
    assert!(!has(&events, &["reconnecting", "attempt=3"]), "{events:#?}");
}
