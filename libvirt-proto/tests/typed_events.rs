//! Typed events against a real, private `libvirtd` serving
//! `test:///default`: lifecycle events as `DomainEvent::Lifecycle` with
//! the C API's enums, in the words `virsh event --loop` prints for them;
//! other kinds (metadata change, storage pool refresh) and a registration
//! for one domain; the raw messages still at hand; and a typed variant for
//! every message the client routes to a family's callbacks.
//!
//! Needs `libvirtd` and `virsh`; without them the tests say so and pass,
//! unless `LIBVIRT_PROTO_DAEMON_TESTS=1` (`cargo xtask test`).

#![cfg(feature = "client")]

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::Daemon;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;

use libvirt_proto::api::{
    DomainEventDefinedDetailType, DomainEventDetail, DomainEventID, DomainEventStartedDetailType,
    DomainEventStoppedDetailType, DomainEventType, DomainEventUndefinedDetailType,
    StoragePoolEventID,
};
use libvirt_proto::client::{
    Client, Domain, DomainEvent, Event, EventFamily, Events, NetworkEvent, NodeDeviceEvent,
    SecretEvent, StoragePoolEvent,
};
use libvirt_proto::dispatch::Message;
use libvirt_proto::remote;
use libvirt_proto::remote::program::procs;

/// How long an event or a line of virsh may take.
const WAIT: Duration = Duration::from_secs(15);

/// `virsh -c <uri> event --loop ...`, its lines as they come.
struct Watcher {
    _child: tokio::process::Child,
    lines: mpsc::UnboundedReceiver<String>,
}

impl Watcher {
    fn spawn(d: &Daemon, args: &[&str]) -> Watcher {
        let mut child = tokio::process::Command::new("virsh")
            .arg("-c")
            .arg(d.uri())
            .args(args)
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("virsh starts");
        let stdout = child.stdout.take().expect("piped");
        let (tx, lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Watcher {
            _child: child,
            lines,
        }
    }

    async fn line(&mut self, within: Duration) -> Option<String> {
        tokio::time::timeout(within, self.lines.recv())
            .await
            .ok()
            .flatten()
    }

    /// What virsh printed after `marker` on the next `n` lines naming it:
    /// "event 'lifecycle' for domain 'x': Started Booted" gives "Started
    /// Booted".
    async fn said(&mut self, marker: &str, n: usize) -> Vec<String> {
        let mut out = Vec::new();
        while out.len() < n {
            let line = self
                .line(WAIT)
                .await
                .unwrap_or_else(|| panic!("virsh printed {out:?}, then nothing about {marker}"));
            if let Some((_, rest)) = line.split_once(marker) {
                out.push(rest.trim_start_matches(':').trim().to_owned());
            }
        }
        out
    }
}

/// The next event on `events` that `pick` takes.
async fn next<E: Event + std::fmt::Debug, T>(
    events: &mut Events<E>,
    what: &str,
    pick: impl Fn(E) -> Option<T>,
) -> T {
    loop {
        let e = tokio::time::timeout(WAIT, events.next())
            .await
            .unwrap_or_else(|_| panic!("no {what} within {WAIT:?}"))
            .expect("the connection is open")
            .expect("no error");
        if let Some(t) = pick(e) {
            return t;
        }
    }
}

/// The next lifecycle event of the domain named `name`.
async fn lifecycle(
    events: &mut Events<DomainEvent>,
    name: &str,
) -> (Domain, DomainEventType, DomainEventDetail) {
    next(events, "lifecycle event", |e| {
        assert_eq!(e.event_id(), DomainEventID::LIFECYCLE);
        match e {
            DomainEvent::Lifecycle {
                domain,
                event,
                detail,
            } if domain.name == name => Some((domain, event, detail)),
            _ => None,
        }
    })
    .await
}

async fn lookup(client: &Client, name: &str) -> Domain {
    let wire = client
        .call::<procs::DomainLookupByName>(&remote::DomainLookupByNameArgs { name: name.into() })
        .await
        .unwrap()
        .dom;
    Domain::from_wire(client.clone(), wire)
}

#[tokio::test]
async fn lifecycle_events_are_typed_and_worded_as_virsh_prints_them() {
    let Some(d) = Daemon::start("typed-lifecycle") else {
        return;
    };
    let client = Client::connect(&d.uri()).await.unwrap();
    let mut events = client
        .domain_events(DomainEventID::LIFECYCLE, None)
        .await
        .unwrap();
    assert!(events.callback_id().is_some());

    // virsh listens too; it is ready once it reports a suspend of "test".
    let mut watcher = Watcher::spawn(&d, &["event", "--event", "lifecycle", "--loop"]);
    let test = lookup(&client, "test").await;
    let mut ready = false;
    for _ in 0..50 {
        client
            .call::<procs::DomainSuspend>(&remote::DomainSuspendArgs {
                dom: test.wire().clone(),
            })
            .await
            .unwrap();
        client
            .call::<procs::DomainResume>(&remote::DomainResumeArgs {
                dom: test.wire().clone(),
            })
            .await
            .unwrap();
        if watcher.line(Duration::from_millis(300)).await.is_some() {
            ready = true;
            break;
        }
    }
    assert!(ready, "virsh event printed nothing");

    // A domain of its own, from the test domain's XML without its uuid.
    let name = "typed-dom";
    let xml = client
        .call::<procs::DomainGetXmlDesc>(&remote::DomainGetXmlDescArgs {
            dom: test.wire().clone(),
            flags: 2, // VIR_DOMAIN_XML_INACTIVE
        })
        .await
        .unwrap()
        .xml;
    let mut xml = xml.replacen("<name>test</name>", &format!("<name>{name}</name>"), 1);
    if let (Some(a), Some(b)) = (xml.find("<uuid>"), xml.find("</uuid>")) {
        xml.replace_range(a..b + "</uuid>".len(), "");
    }
    let dom = client
        .call::<procs::DomainDefineXml>(&remote::DomainDefineXmlArgs { xml })
        .await
        .unwrap()
        .dom;
    let mut seen = Vec::new();
    let (domain, event, detail) = lifecycle(&mut events, name).await;
    assert_eq!(domain.wire(), &dom);
    assert_eq!(event, DomainEventType::DEFINED);
    assert_eq!(
        detail,
        DomainEventDetail::Defined(DomainEventDefinedDetailType::ADDED)
    );
    seen.push((event, detail));

    client
        .call::<procs::DomainCreate>(&remote::DomainCreateArgs { dom: dom.clone() })
        .await
        .unwrap();
    let (_, event, detail) = lifecycle(&mut events, name).await;
    assert_eq!(event, DomainEventType::STARTED);
    assert_eq!(
        detail,
        DomainEventDetail::Started(DomainEventStartedDetailType::BOOTED)
    );
    seen.push((event, detail));

    client
        .call::<procs::DomainDestroy>(&remote::DomainDestroyArgs { dom: dom.clone() })
        .await
        .unwrap();
    let (_, event, detail) = lifecycle(&mut events, name).await;
    assert_eq!(event, DomainEventType::STOPPED);
    assert!(
        matches!(
            detail,
            DomainEventDetail::Stopped(DomainEventStoppedDetailType::DESTROYED)
        ),
        "{detail:?}"
    );
    seen.push((event, detail));

    client
        .call::<procs::DomainUndefine>(&remote::DomainUndefineArgs { dom })
        .await
        .unwrap();
    let (_, event, detail) = lifecycle(&mut events, name).await;
    assert_eq!(event, DomainEventType::UNDEFINED);
    assert_eq!(
        detail,
        DomainEventDetail::Undefined(DomainEventUndefinedDetailType::REMOVED)
    );
    seen.push((event, detail));

    // Each detail is typed by its event, and virsh says the same words.
    for (event, detail) in &seen {
        assert_eq!(detail.of(), *event);
    }
    let ours: Vec<String> = seen
        .iter()
        .map(|(event, detail)| {
            format!(
                "{} {}",
                event.virsh_name().expect("virsh names the event"),
                detail.virsh_name().expect("virsh names the detail")
            )
        })
        .collect();
    let printed = watcher
        .said(&format!("for domain '{name}'"), seen.len())
        .await;
    assert_eq!(ours, printed);
    assert_eq!(events.lost(), 0);
    client.close().await;
}

#[tokio::test]
async fn other_kinds_one_domain_and_the_raw_messages() {
    let Some(d) = Daemon::start("typed-kinds") else {
        return;
    };
    let client = Client::connect(&d.uri()).await.unwrap();
    let test = lookup(&client, "test").await;

    // Metadata changes of "test" alone.
    let mut metadata = client
        .domain_events(DomainEventID::METADATA_CHANGE, Some(&test))
        .await
        .unwrap();
    let uri = "http://example.org/typed-events";
    client
        .call::<procs::DomainSetMetadata>(&remote::DomainSetMetadataArgs {
            dom: test.wire().clone(),
            r#type: 2, // VIR_DOMAIN_METADATA_ELEMENT
            metadata: Some("<n/>".into()),
            key: Some("n".into()),
            uri: Some(uri.into()),
            flags: 1, // VIR_DOMAIN_AFFECT_LIVE
        })
        .await
        .unwrap();
    let (domain, nsuri) = next(&mut metadata, "metadata change", |e| match e {
        DomainEvent::MetadataChange { domain, nsuri, .. } => Some((domain, nsuri)),
        _ => None,
    })
    .await;
    assert_eq!(domain, test);
    assert_eq!(nsuri.as_deref(), Some(uri));

    // A storage pool's refresh: a generic callback's event.
    let pool = client
        .call::<procs::StoragePoolLookupByName>(&remote::StoragePoolLookupByNameArgs {
            name: "default-pool".into(),
        })
        .await
        .unwrap()
        .pool;
    let mut pools = client
        .storage_pool_events(StoragePoolEventID::REFRESH, None)
        .await
        .unwrap();
    client
        .call::<procs::StoragePoolRefresh>(&remote::StoragePoolRefreshArgs {
            pool: pool.clone(),
            flags: 0,
        })
        .await
        .unwrap();
    let refreshed = next(&mut pools, "pool refresh", |e| {
        assert_eq!(e.event_id(), StoragePoolEventID::REFRESH);
        match e {
            StoragePoolEvent::Refresh { storage_pool } => Some(storage_pool),
            _ => None,
        }
    })
    .await;
    assert_eq!(refreshed.wire(), &pool);

    // The typed stream gives its raw messages back.
    let mut raw = pools.into_raw();
    client
        .call::<procs::StoragePoolRefresh>(&remote::StoragePoolRefreshArgs {
            pool: pool.clone(),
            flags: 0,
        })
        .await
        .unwrap();
    let m = tokio::time::timeout(WAIT, raw.next())
        .await
        .expect("a refresh")
        .expect("the connection is open")
        .expect("no error");
    let Message::Remote(remote::program::Message::StoragePoolEventRefresh(r)) = m else {
        panic!("{m:?}")
    };
    assert_eq!(Some(r.callback_id), raw.callback_id());
    assert_eq!(r.pool, pool);
    client.close().await;
}

/// A message of each of the remote program's message procedures, decoded
/// from zeros (empty strings and lists, absent optionals, numbers 0).
fn zero_messages() -> Vec<Message> {
    remote::program::Procedure::ALL
        .iter()
        .filter_map(|&p| {
            (0..1024).step_by(4).find_map(|len| {
                remote::program::Message::decode(p, &vec![0; len])
                    .ok()
                    .flatten()
                    .map(Message::Remote)
            })
        })
        .collect()
}

#[tokio::test]
async fn every_routed_message_has_a_typed_variant() {
    let Some(d) = Daemon::start("typed-coverage") else {
        return;
    };
    let client = Client::connect(&d.uri()).await.unwrap();
    let messages = zero_messages();
    let mut routed = 0;
    for m in messages {
        let Some((family, _)) = EventFamily::of(&m) else {
            // Not a family's (the legacy callback-less events): no family
            // takes it.
            assert!(DomainEvent::from_message(&client, m.clone()).is_err());
            continue;
        };
        routed += 1;
        let name = format!("{m:?}");
        let typed = match family {
            EventFamily::Domain => DomainEvent::from_message(&client, m).is_ok(),
            EventFamily::Network => NetworkEvent::from_message(&client, m).is_ok(),
            EventFamily::StoragePool => StoragePoolEvent::from_message(&client, m).is_ok(),
            EventFamily::NodeDevice => NodeDeviceEvent::from_message(&client, m).is_ok(),
            EventFamily::Secret => SecretEvent::from_message(&client, m).is_ok(),
            _ => true,
        };
        assert!(typed, "{family:?} has no variant for {name}");
    }
    // 28 domain events, 2 of each other family.
    assert_eq!(routed, 36);
    assert_eq!(DomainEvent::FAMILY, EventFamily::Domain);
    client.close().await;
}
