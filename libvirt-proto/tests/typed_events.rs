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

use common::virsh::{domain_event_words, next_event, renamed, Watcher, WAIT};
use common::Daemon;

use libvirt_proto::api::{
    ConnectDomainQemuMonitorEventRegisterFlags, DomainEventDefinedDetailType, DomainEventDetail,
    DomainEventID, DomainEventStartedDetailType, DomainEventStoppedDetailType, DomainEventType,
    DomainEventUndefinedDetailType, DomainMetadataType, DomainModificationImpact, DomainXMLFlags,
    StoragePoolEventID,
};
use libvirt_proto::client::{
    Client, Domain, DomainEvent, Event, EventFamily, Events, NetworkEvent, NodeDeviceEvent,
    QemuMonitorEvent, SecretEvent, StoragePoolEvent,
};
use libvirt_proto::dispatch::Message;
use libvirt_proto::{qemu, remote};

/// The next lifecycle event of the domain named `name`.
async fn lifecycle(
    events: &mut Events<DomainEvent>,
    name: &str,
) -> (Domain, DomainEventType, DomainEventDetail) {
    next_event(events, "lifecycle event", |e| {
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
    let test = client.domain_lookup_by_name("test").await.unwrap();
    let t = &test;
    watcher
        .wait_ready("virsh event", || async move {
            t.suspend().await.unwrap();
            t.resume().await.unwrap();
        })
        .await;

    // A domain of its own, from the test domain's XML without its uuid.
    let name = "typed-dom";
    let xml = test.get_xml_desc(DomainXMLFlags::INACTIVE).await.unwrap();
    let dom = client
        .domain_define_xml(&renamed(&xml, "test", name))
        .await
        .unwrap();
    let mut seen = Vec::new();
    let (domain, event, detail) = lifecycle(&mut events, name).await;
    assert_eq!(domain, dom);
    assert_eq!(event, DomainEventType::DEFINED);
    assert_eq!(
        detail,
        DomainEventDetail::Defined(DomainEventDefinedDetailType::ADDED)
    );
    seen.push((event, detail));

    dom.create().await.unwrap();
    let (_, event, detail) = lifecycle(&mut events, name).await;
    assert_eq!(event, DomainEventType::STARTED);
    assert_eq!(
        detail,
        DomainEventDetail::Started(DomainEventStartedDetailType::BOOTED)
    );
    seen.push((event, detail));

    dom.destroy().await.unwrap();
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

    dom.undefine().await.unwrap();
    let (_, event, detail) = lifecycle(&mut events, name).await;
    assert_eq!(event, DomainEventType::UNDEFINED);
    assert_eq!(
        detail,
        DomainEventDetail::Undefined(DomainEventUndefinedDetailType::REMOVED)
    );
    seen.push((event, detail));

    // Each detail is typed by its event (`domain_event_words` checks), and
    // virsh says the same words.
    let ours: Vec<String> = seen
        .iter()
        .map(|&(event, detail)| domain_event_words(event, detail))
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
    let test = client.domain_lookup_by_name("test").await.unwrap();

    // Metadata changes of "test" alone.
    let mut metadata = client
        .domain_events(DomainEventID::METADATA_CHANGE, Some(&test))
        .await
        .unwrap();
    let uri = "http://example.org/typed-events";
    test.set_metadata(
        DomainMetadataType::ELEMENT,
        Some("<n/>"),
        Some("n"),
        Some(uri),
        DomainModificationImpact::LIVE,
    )
    .await
    .unwrap();
    let (domain, kind, nsuri) = next_event(&mut metadata, "metadata change", |e| match e {
        DomainEvent::MetadataChange {
            domain,
            r#type,
            nsuri,
        } => Some((domain, r#type, nsuri)),
        _ => None,
    })
    .await;
    assert_eq!(domain, test);
    assert_eq!(kind, DomainMetadataType::ELEMENT);
    assert_eq!(nsuri.as_deref(), Some(uri));

    // QEMU monitor events are the qemu driver's: the test driver refuses
    // the registration, and says so.
    let refused = client
        .qemu_monitor_events(
            Some(&test),
            Some("SHUTDOWN"),
            ConnectDomainQemuMonitorEventRegisterFlags::empty(),
        )
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("not supported"), "{refused}");

    // A storage pool's refresh: a generic callback's event.
    let pool = client
        .storage_pool_lookup_by_name("default-pool")
        .await
        .unwrap();
    let mut pools = client
        .storage_pool_events(StoragePoolEventID::REFRESH, None)
        .await
        .unwrap();
    pool.refresh(0).await.unwrap();
    let refreshed = next_event(&mut pools, "pool refresh", |e| {
        assert_eq!(e.event_id(), StoragePoolEventID::REFRESH);
        match e {
            StoragePoolEvent::Refresh { storage_pool } => Some(storage_pool),
            _ => None,
        }
    })
    .await;
    assert_eq!(refreshed, pool);

    // The typed stream gives its raw messages back.
    let mut raw = pools.into_raw();
    pool.refresh(0).await.unwrap();
    let m = tokio::time::timeout(WAIT, raw.next())
        .await
        .expect("a refresh")
        .expect("the connection is open")
        .expect("no error");
    let Message::Remote(remote::program::Message::StoragePoolEventRefresh(r)) = m else {
        panic!("{m:?}")
    };
    assert_eq!(Some(r.callback_id), raw.callback_id());
    assert_eq!(&r.pool, pool.wire());
    client.close().await;
}

/// A message of each of the remote and qemu programs' message procedures,
/// decoded from zeros (empty strings and lists, absent optionals, numbers
/// 0).
fn zero_messages() -> Vec<Message> {
    let zeros = |decode: &dyn Fn(&[u8]) -> Option<Message>| {
        (0..1024).step_by(4).find_map(|len| decode(&vec![0; len]))
    };
    let remote = remote::program::Procedure::ALL.iter().filter_map(|&p| {
        zeros(&|b| {
            remote::program::Message::decode(p, b)
                .ok()
                .flatten()
                .map(Message::Remote)
        })
    });
    let qemu = qemu::program::Procedure::ALL.iter().filter_map(|&p| {
        zeros(&|b| {
            qemu::program::Message::decode(p, b)
                .ok()
                .flatten()
                .map(Message::Qemu)
        })
    });
    remote.chain(qemu).collect()
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
            EventFamily::QemuMonitor => QemuMonitorEvent::from_message(&client, m).is_ok(),
        };
        assert!(typed, "{family:?} has no variant for {name}");
    }
    // 28 domain events, 2 of each other family, 1 QEMU monitor event.
    assert_eq!(routed, 37);
    assert_eq!(DomainEvent::FAMILY, EventFamily::Domain);
    client.close().await;
}
