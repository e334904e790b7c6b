//! The async client against a real, private `libvirtd` serving
//! `test:///default` (needs the `libvirt-daemon` package; see
//! `.ci/install-libvirt`). Without `libvirtd` the tests say so and pass.

#![cfg(feature = "client")]

mod common;

use std::process::Command;
use std::time::Duration;

use common::Daemon;

use libvirt_proto::client::{Client, ClientError};
use libvirt_proto::dispatch::Message;
use libvirt_proto::remote;
use libvirt_proto::remote::program::procs;

#[tokio::test]
async fn calls_replies_and_errors_against_libvirtd() {
    let Some(d) = Daemon::start("calls") else {
        return;
    };
    let client = Client::connect(&d.uri()).await.unwrap();
    let v = client
        .call::<procs::ConnectGetLibVersion>(&())
        .await
        .unwrap();
    let printed = String::from_utf8(
        Command::new("libvirtd")
            .arg("--version")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let want: Vec<u64> = printed
        .split_whitespace()
        .last()
        .unwrap()
        .split('.')
        .map(|p| p.parse().unwrap())
        .collect();
    assert_eq!(v.lib_ver, want[0] * 1_000_000 + want[1] * 1000 + want[2]);

    let all = client
        .call::<procs::ConnectListAllDomains>(&remote::ConnectListAllDomainsArgs {
            need_results: 1,
            flags: 0,
        })
        .await
        .unwrap();
    assert!(all.domains.iter().any(|d| d.name == "test"));

    let err = client
        .call::<procs::DomainLookupByName>(&remote::DomainLookupByNameArgs {
            name: "nope".into(),
        })
        .await
        .unwrap_err();
    match err {
        ClientError::Remote(e) => assert_eq!(e.code.0, 42),
        other => panic!("{other:?}"),
    }
    client.close().await;
    assert!(matches!(
        client.call::<procs::ConnectGetLibVersion>(&()).await,
        Err(ClientError::Closed)
    ));
}

#[tokio::test]
async fn a_read_only_connection_refuses_writes() {
    let Some(d) = Daemon::start("ro") else { return };
    let client = Client::connect_read_only(&d.uri()).await.unwrap();
    let dom = client
        .call::<procs::DomainLookupByName>(&remote::DomainLookupByNameArgs {
            name: "test".into(),
        })
        .await
        .unwrap()
        .dom;
    let err = client
        .call::<procs::DomainSuspend>(&remote::DomainSuspendArgs { dom })
        .await
        .unwrap_err();
    match err {
        // VIR_ERR_OPERATION_DENIED
        ClientError::Remote(e) => {
            assert_eq!(e.code.name(), Some("VIR_ERR_OPERATION_DENIED"))
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn lifecycle_events_arrive() {
    let Some(d) = Daemon::start("events") else {
        return;
    };
    let client = Client::connect(&d.uri()).await.unwrap();
    let mut events = client.events();
    let reg = client
        .call::<procs::ConnectDomainEventCallbackRegisterAny>(
            &remote::ConnectDomainEventCallbackRegisterAnyArgs {
                event_id: 0, // VIR_DOMAIN_EVENT_ID_LIFECYCLE
                dom: remote::Domain(None),
            },
        )
        .await
        .unwrap();
    let dom = client
        .call::<procs::DomainLookupByName>(&remote::DomainLookupByNameArgs {
            name: "test".into(),
        })
        .await
        .unwrap()
        .dom;
    client
        .call::<procs::DomainSuspend>(&remote::DomainSuspendArgs { dom: dom.clone() })
        .await
        .unwrap();
    client
        .call::<procs::DomainResume>(&remote::DomainResumeArgs { dom })
        .await
        .unwrap();
    let mut kinds = Vec::new();
    while kinds.len() < 2 {
        let m = tokio::time::timeout(Duration::from_secs(10), events.next())
            .await
            .expect("events within 10 s")
            .expect("the connection is open")
            .expect("no error");
        if let Message::Remote(remote::program::Message::DomainEventCallbackLifecycle(e)) = &m {
            assert_eq!(e.callback_id, reg.callback_id, "routed to our callback");
            kinds.push(e.msg.event);
        }
    }
    // VIR_DOMAIN_EVENT_SUSPENDED (3), then RESUMED (4).
    assert_eq!(kinds, [3, 4]);
    assert_eq!(events.lost(), 0);
}

#[tokio::test]
async fn a_burst_of_concurrent_calls_gets_every_reply() {
    // The daemon's warnings go to a file of the test's.
    let log = std::env::temp_dir().join(format!("lvp-burst-{}.log", std::process::id()));
    let _ = std::fs::remove_file(&log);
    let conf = format!("log_outputs = \"3:file:{}\"\n", log.display());
    let Some(d) = Daemon::start_with("burst", &conf, false) else {
        return;
    };
    let client = Client::connect(&d.uri()).await.unwrap();
    let mut tasks = Vec::new();
    for t in 0..16 {
        let c = client.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0;
            for i in 0..64 {
                // Alternate calls whose replies differ, so a mix-up shows.
                if (t + i) % 2 == 0 {
                    let v = c.call::<procs::ConnectGetLibVersion>(&()).await.unwrap();
                    assert!(v.lib_ver > 0);
                } else {
                    let h = c.call::<procs::ConnectGetHostname>(&()).await.unwrap();
                    assert!(!h.hostname.is_empty());
                }
                n += 1;
            }
            n
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    assert_eq!(total, 16 * 64);
    // The client never filled the daemon's request slots, so the daemon
    // never stopped reading the socket (it warns when it does).
    client.close().await;
    drop(d);
    let warnings = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    assert!(!warnings.contains("max requests limit"), "{warnings}");
}

/// A procedure number no libvirt has: what a client sees calling a
/// procedure newer than the daemon.
struct FromTheFuture;

impl libvirt_proto::xdr::RemoteProcedure for FromTheFuture {
    const PROGRAM: u32 = remote::program::NUMBER;
    const VERSION: u32 = remote::program::VERSION;
    const NUMBER: u32 = 9999;
    const INFO: &'static libvirt_proto::xdr::ProcedureInfo =
        <procs::ConnectGetLibVersion as libvirt_proto::xdr::RemoteProcedure>::INFO;
    type Args = ();
    type ArgsCodec = libvirt_proto::xdr::Plain<()>;
    type Ret = ();
    type RetCodec = libvirt_proto::xdr::Plain<()>;
}

#[tokio::test]
async fn a_procedure_the_daemon_does_not_know_is_unsupported() {
    let Some(d) = Daemon::start("unknown-proc") else {
        return;
    };
    let client = Client::connect(&d.uri()).await.unwrap();
    match client.call::<FromTheFuture>(&()).await {
        Err(ClientError::Unsupported(e)) => {
            assert_eq!(e.code.name(), Some("VIR_ERR_RPC"));
            assert!(e.to_string().contains("9999"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    // The connection goes on.
    client
        .call::<procs::ConnectGetLibVersion>(&())
        .await
        .unwrap();
}

#[tokio::test]
async fn node_device_events_arrive_and_unsupported_kinds_say_so() {
    let Some(d) = Daemon::start("nodedev") else {
        return;
    };
    let client = Client::connect(&d.uri()).await.unwrap();
    // VIR_NODE_DEVICE_EVENT_ID_LIFECYCLE, every device.
    let mut events = client.register_node_device_event(0, None).await.unwrap();
    // A virtual HBA on the test driver's fibre-channel host.
    let xml = "<device><parent>scsi_host1</parent><capability type='scsi_host'>\
               <capability type='fc_host'><wwnn>2000000012341234</wwnn>\
               <wwpn>1000000012341234</wwpn></capability></capability></device>";
    let dev = client.node_device_create_xml(xml, 0).await.unwrap();
    client.node_device_destroy(&dev.name).await.unwrap();
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let m = tokio::time::timeout(Duration::from_secs(30), events.next())
            .await
            .expect("events within 30 s")
            .expect("the connection is open")
            .expect("no error");
        match m {
            Message::Remote(remote::program::Message::NodeDeviceEventLifecycle(e)) => {
                assert_eq!(Some(e.callback_id), events.callback_id());
                seen.push((e.dev.name, e.event));
            }
            other => panic!("{other:?}"),
        }
    }
    // VIR_NODE_DEVICE_EVENT_CREATED (0), then DELETED (1).
    assert_eq!(seen, [(dev.name.clone(), 0), (dev.name.clone(), 1)]);
    // The test driver has no secrets: registering for their events is
    // refused as unsupported.
    match client.register_secret_event(0, None).await {
        Err(ClientError::Unsupported(e)) => assert_eq!(e.code.name(), Some("VIR_ERR_NO_SUPPORT")),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn descriptors_reach_libvirtd_as_it_expects_them() {
    // libvirtd takes a call's descriptors after the message, each with a
    // byte of its own; a client that sends them otherwise leaves the daemon
    // waiting for them (and a byte it never sends would break the framing).
    let Some(d) = Daemon::start("fds") else {
        return;
    };
    let client = Client::connect(&d.uri()).await.unwrap();
    let files: Vec<std::os::fd::OwnedFd> = (0..3)
        .map(|_| std::fs::File::open("/dev/null").unwrap().into())
        .collect();
    let xml = "<domain type='test'><name>with-files</name><memory>1024</memory>\
               <os><type>hvm</type></os></domain>";
    let dom = tokio::time::timeout(
        Duration::from_secs(30),
        client.domain_create_xml_with_files(xml, 0, files),
    )
    .await
    .expect("libvirtd is still waiting for the descriptors")
    .unwrap();
    assert_eq!(dom.name, "with-files");
    // The stream is still in step: the next call gets its own answer.
    let found = client.domain_lookup_by_name("with-files").await.unwrap();
    assert_eq!(found.uuid, dom.uuid);
    client.domain_destroy(&dom).await.unwrap();
}
