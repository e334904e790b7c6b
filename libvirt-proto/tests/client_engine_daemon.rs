//! What libvirt's test driver cannot show: console and channel streams in
//! both directions, and QEMU monitor events. The daemon here is a small
//! one built on this crate's `ServerEngine`, on a real Unix socket: it
//! answers the opening handshake, echoes console input back in upper case
//! after a banner of its own, and sends monitor events right behind the
//! reply that registers for them.

#![cfg(feature = "client")]

use std::time::{Duration, Instant};

use libvirt_proto::client::Client;
use libvirt_proto::dispatch::Call;
use libvirt_proto::dispatch::Message;
use libvirt_proto::engine::{ClientStreamEvent, ServerEngine, ServerEvent};
use libvirt_proto::qemu;
use libvirt_proto::remote::{self, program};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

const BANNER: &[u8] = b"login: ";

/// What the fake daemon saw happen to the console stream.
#[derive(Debug, Default, PartialEq)]
struct Seen {
    finished: bool,
    aborted: bool,
    deregistered: Option<i32>,
}

/// The callback id the fake daemon gives a monitor event registration.
const CALLBACK: i32 = 7;

fn monitor_event(callback_id: i32, event: &str) -> qemu::DomainMonitorEventMsg {
    qemu::DomainMonitorEventMsg {
        callback_id,
        dom: vm(),
        event: event.into(),
        seconds: 1,
        micros: 2,
        details: remote::RemoteString(Some("{}".into())),
    }
}

async fn serve(mut sock: UnixStream) -> Seen {
    let mut engine = ServerEngine::new(Instant::now());
    let mut seen = Seen::default();
    let mut buf = vec![0u8; 65536];
    loop {
        while let Some(e) = engine.poll_event() {
            match e {
                ServerEvent::Call { header, call, .. } => match call {
                    Call::Remote(program::Call::AuthList(())) => {
                        let ret = remote::AuthListRet {
                            types: vec![remote::AuthType::None],
                        };
                        engine.reply(&header, &ret).unwrap();
                    }
                    Call::Remote(program::Call::ConnectSupportsFeature(_)) => {
                        let ret = remote::ConnectSupportsFeatureRet { supported: 0 };
                        engine.reply(&header, &ret).unwrap();
                    }
                    Call::Remote(program::Call::ConnectOpen(_))
                    | Call::Remote(program::Call::ConnectClose(())) => {
                        engine.reply(&header, &()).unwrap();
                    }
                    Call::Remote(program::Call::DomainOpenConsole(a)) => {
                        assert_eq!(a.dom.name, "vm");
                        assert_eq!(a.dev_name.as_deref().map(|s| s.as_str()), Some("serial0"));
                        engine.reply(&header, &()).unwrap();
                        engine.stream_send(header.serial, BANNER).unwrap();
                    }
                    Call::Remote(program::Call::DomainOpenChannel(a)) => {
                        assert_eq!(
                            a.name.as_deref().map(|s| s.as_str()),
                            Some("org.qemu.guest_agent.0")
                        );
                        engine.reply(&header, &()).unwrap();
                    }
                    Call::Qemu(qemu::program::Call::ConnectDomainMonitorEventRegister(a)) => {
                        assert_eq!(a.event.as_deref().map(|s| s.as_str()), Some("STOP"));
                        let ret = qemu::ConnectDomainMonitorEventRegisterRet {
                            callback_id: CALLBACK,
                        };
                        engine.reply(&header, &ret).unwrap();
                        // Right behind the reply, in the same write: an
                        // event of another callback, then one of this one.
                        for (id, name) in [(CALLBACK + 1, "RESUME"), (CALLBACK, "STOP")] {
                            engine
                                .send_message(
                                    qemu::program::NUMBER,
                                    qemu::program::VERSION,
                                    qemu::program::Procedure::DomainMonitorEvent as i32,
                                    &monitor_event(id, name),
                                )
                                .unwrap();
                        }
                    }
                    Call::Qemu(qemu::program::Call::ConnectDomainMonitorEventDeregister(a)) => {
                        seen.deregistered = Some(a.callback_id);
                        engine.reply(&header, &()).unwrap();
                    }
                    other => panic!("unexpected call {other:?}"),
                },
                ServerEvent::Stream { serial, event } => match event {
                    ClientStreamEvent::Data(d) => {
                        engine.stream_send(serial, &d.to_ascii_uppercase()).unwrap();
                    }
                    ClientStreamEvent::Finish => {
                        seen.finished = true;
                        engine.stream_finish(serial).unwrap();
                    }
                    ClientStreamEvent::Abort => seen.aborted = true,
                    ClientStreamEvent::Hole(_) => panic!("no holes on a console"),
                },
                ServerEvent::ProtocolError { error, .. } => panic!("{error}"),
                ServerEvent::Closed(_) => return seen,
            }
        }
        while let Some(t) = engine.poll_transmit() {
            if sock.write_all(&t.bytes).await.is_err() {
                return seen;
            }
        }
        match sock.read(&mut buf).await {
            Ok(0) | Err(_) => engine.handle_eof(),
            Ok(n) => engine.handle_input(&buf[..n], Instant::now()),
        }
    }
}

fn vm() -> remote::NonnullDomain {
    remote::NonnullDomain {
        name: "vm".into(),
        uuid: [1; 16].into(),
        id: 1,
    }
}

/// A listening fake daemon and the URI that reaches it.
fn daemon(name: &str) -> (UnixListener, String, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("lvp-console-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("sock");
    let listener = UnixListener::bind(&path).unwrap();
    let uri = format!("test+unix:///default?socket={}", path.display());
    (listener, uri, dir)
}

async fn read_exactly(s: &mut (impl AsyncReadExt + Unpin), n: usize) -> Vec<u8> {
    let mut out = vec![0u8; n];
    tokio::time::timeout(Duration::from_secs(30), s.read_exact(&mut out))
        .await
        .expect("hung")
        .unwrap();
    out
}

#[tokio::test]
async fn a_console_reads_and_writes_on_one_stream() {
    let (listener, uri, dir) = daemon("rw");
    let server = tokio::spawn(async move { serve(listener.accept().await.unwrap().0).await });
    let client = Client::connect(&uri).await.unwrap();
    let mut console = client
        .domain_open_console(&vm(), Some("serial0"), 0)
        .await
        .unwrap();
    // Output the guest wrote before we typed.
    assert_eq!(read_exactly(&mut console, BANNER.len()).await, BANNER);
    // Input goes out, its echo comes back, more than once.
    for line in [&b"root\n"[..], b"uname -a\n", &[b'x'; 300_000]] {
        console.write_all(line).await.unwrap();
        console.flush().await.unwrap();
        let echo = read_exactly(&mut console, line.len()).await;
        assert!(
            echo == line.to_ascii_uppercase(),
            "echo of {} bytes",
            line.len()
        );
    }
    // A clean finish is confirmed by the daemon.
    console.shutdown().await.unwrap();
    drop(console);
    client.close().await;
    let seen = server.await.unwrap();
    assert_eq!(
        seen,
        Seen {
            finished: true,
            aborted: false,
            deregistered: None,
        }
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn dropping_a_console_aborts_it() {
    let (listener, uri, dir) = daemon("abort");
    let server = tokio::spawn(async move { serve(listener.accept().await.unwrap().0).await });
    let client = Client::connect(&uri).await.unwrap();
    let mut console = client
        .domain_open_console(&vm(), Some("serial0"), 0)
        .await
        .unwrap();
    assert_eq!(read_exactly(&mut console, BANNER.len()).await, BANNER);
    drop(console);
    // The abort reaches the daemon before the close that follows it.
    client.close().await;
    let seen = server.await.unwrap();
    assert_eq!(
        seen,
        Seen {
            finished: false,
            aborted: true,
            deregistered: None,
        }
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_channel_carries_requests_and_answers() {
    let (listener, uri, dir) = daemon("channel");
    let server = tokio::spawn(async move { serve(listener.accept().await.unwrap().0).await });
    let client = Client::connect(&uri).await.unwrap();
    let mut agent = client
        .domain_open_channel(&vm(), Some("org.qemu.guest_agent.0"), 0)
        .await
        .unwrap();
    let request = br#"{"execute":"guest-ping"}"#;
    agent.write_all(request).await.unwrap();
    assert_eq!(
        read_exactly(&mut agent, request.len()).await,
        request.to_ascii_uppercase()
    );
    agent.shutdown().await.unwrap();
    drop(agent);
    client.close().await;
    assert!(server.await.unwrap().finished);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn qemu_monitor_events_reach_their_registration_only() {
    let (listener, uri, dir) = daemon("monitor");
    let server = tokio::spawn(async move { serve(listener.accept().await.unwrap().0).await });
    let client = Client::connect(&uri).await.unwrap();
    let mut all = client.events();
    let mut stop = client
        .register_qemu_monitor_event(Some(vm()), Some("STOP".into()), 0)
        .await
        .unwrap();
    assert_eq!(stop.callback_id(), Some(CALLBACK));
    let got = tokio::time::timeout(Duration::from_secs(30), stop.next())
        .await
        .expect("hung")
        .unwrap()
        .unwrap();
    match got {
        Message::Qemu(qemu::program::Message::DomainMonitorEvent(e)) => {
            assert_eq!((e.callback_id, e.event.as_str()), (CALLBACK, "STOP"));
            assert_eq!(e.dom.name, "vm");
        }
        other => panic!("{other:?}"),
    }
    // The catch-all stream saw both.
    for want in [CALLBACK + 1, CALLBACK] {
        match all.next().await.unwrap().unwrap() {
            Message::Qemu(qemu::program::Message::DomainMonitorEvent(e)) => {
                assert_eq!(e.callback_id, want)
            }
            other => panic!("{other:?}"),
        }
    }
    // Dropping the stream deregisters the callback.
    drop(stop);
    client.close().await;
    assert_eq!(server.await.unwrap().deregistered, Some(CALLBACK));
    let _ = std::fs::remove_dir_all(dir);
}
