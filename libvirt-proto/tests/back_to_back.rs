//! A client engine and a server engine wired back to back: every frame one
//! writes, the other reads (descriptors travel alongside, as over a Unix
//! socket).

use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use libvirt_proto::dispatch::{Call, Message};
use libvirt_proto::engine::{
    CallError, ClientEngine, ClientStreamEvent, Event, ServerEngine, ServerEvent, StreamEvent,
};
use libvirt_proto::error::RemoteError;
use libvirt_proto::error_codes::{ErrorDomain, ErrorNumber};
use libvirt_proto::frame::FrameBuf;
use libvirt_proto::remote;
use libvirt_proto::remote::program::{self, procs};

/// Moves everything queued on either side to the other, until quiet.
fn pump(c: &mut ClientEngine, s: &mut ServerEngine, now: Instant) {
    loop {
        let mut moved = false;
        while let Some(t) = c.poll_transmit() {
            s.handle_fds(t.fds);
            s.handle_input(&t.bytes, now);
            moved = true;
        }
        while let Some(t) = s.poll_transmit() {
            c.handle_fds(t.fds);
            c.handle_input(&t.bytes, now);
            moved = true;
        }
        if !moved {
            return;
        }
    }
}

fn domain() -> remote::NonnullDomain {
    remote::NonnullDomain {
        name: "test".into(),
        uuid: [7; 16].into(),
        id: 1,
    }
}

fn volume() -> remote::NonnullStorageVol {
    remote::NonnullStorageVol {
        pool: "p".into(),
        name: "v".into(),
        key: "k".into(),
    }
}

#[test]
fn calls_replies_errors_and_events() {
    let now = Instant::now();
    let (mut c, mut s) = (ClientEngine::new(now), ServerEngine::new(now));
    let ok = c
        .call::<procs::DomainGetInfo>(&remote::DomainGetInfoArgs { dom: domain() })
        .unwrap();
    let bad = c
        .call::<procs::DomainLookupByName>(&remote::DomainLookupByNameArgs { name: "x".into() })
        .unwrap();
    pump(&mut c, &mut s, now);
    while let Some(e) = s.poll_event() {
        let ServerEvent::Call { header, call, .. } = e else {
            panic!("{e:?}")
        };
        match call {
            Call::Remote(program::Call::DomainGetInfo(a)) => {
                assert_eq!(a.dom, domain());
                let ret = remote::DomainGetInfoRet {
                    state: 1,
                    max_mem: 8192,
                    memory: 4096,
                    nr_virt_cpu: 2,
                    cpu_time: 99,
                };
                s.reply(&header, &ret).unwrap();
            }
            Call::Remote(program::Call::DomainLookupByName(_)) => {
                let err = RemoteError::new(
                    ErrorNumber::ERR_NO_DOMAIN,
                    ErrorDomain::TEST,
                    "Domain not found",
                );
                s.reply_error(&header, err).unwrap();
            }
            other => panic!("{other:?}"),
        }
    }
    let msg = remote::DomainEventLifecycleMsg {
        dom: domain(),
        event: 4,
        detail: 0,
    };
    s.send_message(
        program::NUMBER,
        program::VERSION,
        program::Procedure::DomainEventLifecycle as i32,
        &msg,
    )
    .unwrap();
    pump(&mut c, &mut s, now);
    let mut seen = 0;
    while let Some(e) = c.poll_event() {
        match e {
            Event::Reply {
                serial,
                result: Ok(body),
                ..
            } if serial == ok => {
                let info = c.decode_reply::<procs::DomainGetInfo>(&body).unwrap();
                assert_eq!((info.nr_virt_cpu, info.cpu_time), (2, 99));
                seen += 1;
            }
            Event::Reply {
                serial,
                result: Err(CallError::Remote(e)),
                ..
            } if serial == bad => {
                assert_eq!(e.code, ErrorNumber::ERR_NO_DOMAIN);
                seen += 1;
            }
            Event::Message {
                message: Message::Remote(program::Message::DomainEventLifecycle(m)),
                ..
            } => {
                assert_eq!(m, msg);
                seen += 1;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(seen, 3);
}

#[test]
fn a_read_stream_end_to_end() {
    let now = Instant::now();
    let (mut c, mut s) = (ClientEngine::new(now), ServerEngine::new(now));
    let args = remote::DomainScreenshotArgs {
        dom: domain(),
        screen: 0,
        flags: 0,
    };
    let serial = c.call::<procs::DomainScreenshot>(&args).unwrap();
    pump(&mut c, &mut s, now);
    let Some(ServerEvent::Call { header, .. }) = s.poll_event() else {
        panic!()
    };
    s.reply(
        &header,
        &remote::DomainScreenshotRet {
            mime: remote::RemoteString(Some("image/png".into())),
        },
    )
    .unwrap();
    s.stream_send(serial, b"image bytes").unwrap();
    // Written in place, with room for the head.
    let mut packet = FrameBuf::with_capacity(5);
    packet.extend_from_slice(b", more");
    s.stream_send_buf(serial, packet).unwrap();
    s.stream_send(serial, b"").unwrap(); // end of data
    pump(&mut c, &mut s, now);
    // The client's automatic OK reached the server.
    assert!(matches!(
        s.poll_event(),
        Some(ServerEvent::Stream {
            event: ClientStreamEvent::Finish,
            ..
        })
    ));
    s.stream_finish(serial).unwrap();
    pump(&mut c, &mut s, now);
    let got: Vec<StreamEvent> = std::iter::from_fn(|| c.poll_event())
        .filter_map(|e| match e {
            Event::Stream { event, .. } => Some(event),
            _ => None,
        })
        .collect();
    assert_eq!(
        got,
        [
            StreamEvent::Data(b"image bytes".to_vec()),
            StreamEvent::Data(b", more".to_vec()),
            StreamEvent::Eof,
            StreamEvent::End
        ]
    );
}

#[test]
fn an_abort_is_confirmed_as_libvirtd_does_and_late_data_is_dropped_quietly() {
    let now = Instant::now();
    let (mut c, mut s) = (ClientEngine::new(now), ServerEngine::new(now));
    let args = remote::DomainScreenshotArgs {
        dom: domain(),
        screen: 0,
        flags: 0,
    };
    let serial = c.call::<procs::DomainScreenshot>(&args).unwrap();
    pump(&mut c, &mut s, now);
    let Some(ServerEvent::Call { header, .. }) = s.poll_event() else {
        panic!()
    };
    let ret = remote::DomainScreenshotRet {
        mime: remote::RemoteString(None),
    };
    s.reply(&header, &ret).unwrap();
    pump(&mut c, &mut s, now);
    assert!(matches!(c.poll_event(), Some(Event::Reply { .. })));
    // The server has data on its way as the client aborts.
    s.stream_send(serial, b"in flight").unwrap();
    c.stream_abort(serial).unwrap();
    let abort = c.poll_transmit().unwrap();
    s.handle_input(&abort.bytes, now);
    assert!(matches!(
        s.poll_event(),
        Some(ServerEvent::Stream {
            event: ClientStreamEvent::Abort,
            ..
        })
    ));
    // libvirtd's empty OK, which libvirt's client waits for, went out
    // after the data, and the stream is closed.
    let mut out = Vec::new();
    while let Some(t) = s.poll_transmit() {
        out.extend_from_slice(&t.bytes);
    }
    let mut frames = libvirt_proto::frame::FrameDecoder::new();
    frames.push(&out);
    let last = std::iter::from_fn(|| frames.next_frame().unwrap())
        .last()
        .unwrap();
    assert_eq!(
        (last.header.kind, last.header.status, last.header.serial),
        (
            libvirt_proto::virnet::MessageType::Stream,
            libvirt_proto::virnet::MessageStatus::Ok,
            serial
        )
    );
    assert!(last.body.is_empty());
    assert!(s.stream_send(serial, b"more").is_err());
    // The client drops both without an event, as libvirt's client does.
    c.handle_input(&out, now);
    assert!(c.poll_event().is_none());
}

#[test]
fn a_write_stream_end_to_end_with_holes() {
    let now = Instant::now();
    let (mut c, mut s) = (ClientEngine::new(now), ServerEngine::new(now));
    let args = remote::StorageVolUploadArgs {
        vol: volume(),
        offset: 0,
        length: 0,
        flags: 1, // SPARSE_STREAM: holes may travel
    };
    let serial = c.call::<procs::StorageVolUpload>(&args).unwrap();
    pump(&mut c, &mut s, now);
    let Some(ServerEvent::Call { header, .. }) = s.poll_event() else {
        panic!()
    };
    s.reply(&header, &()).unwrap();
    pump(&mut c, &mut s, now);
    c.stream_send(serial, b"data").unwrap();
    c.stream_hole(serial, 1 << 20).unwrap();
    c.stream_finish(serial).unwrap();
    pump(&mut c, &mut s, now);
    let got: Vec<ClientStreamEvent> = std::iter::from_fn(|| s.poll_event())
        .map(|e| match e {
            ServerEvent::Stream { event, .. } => event,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        got,
        [
            ClientStreamEvent::Data(b"data".to_vec()),
            ClientStreamEvent::Hole(1 << 20),
            ClientStreamEvent::Finish
        ]
    );
    s.stream_finish(serial).unwrap();
    pump(&mut c, &mut s, now);
    assert!(std::iter::from_fn(|| c.poll_event()).any(|e| matches!(
        e,
        Event::Stream {
            event: StreamEvent::End,
            ..
        }
    )));
}

#[test]
fn a_packet_of_another_procedure_is_not_the_streams() {
    use libvirt_proto::engine::ProtocolError;
    use libvirt_proto::frame::{Frame, Header};
    use libvirt_proto::virnet::{MessageStatus, MessageType};

    let now = Instant::now();
    let (mut c, mut s) = (ClientEngine::new(now), ServerEngine::new(now));
    let args = remote::StorageVolUploadArgs {
        vol: volume(),
        offset: 0,
        length: 0,
        flags: 0,
    };
    let serial = c.call::<procs::StorageVolUpload>(&args).unwrap();
    pump(&mut c, &mut s, now);
    let Some(ServerEvent::Call { header, .. }) = s.poll_event() else {
        panic!()
    };
    s.reply(&header, &()).unwrap();
    // Data with the stream's serial but another procedure's number.
    let stray = Header {
        procedure: program::Procedure::StorageVolDownload as i32,
        kind: MessageType::Stream,
        status: MessageStatus::Continue,
        ..header
    };
    let bytes = Frame::new(stray, b"stray".to_vec()).try_encode().unwrap();
    s.handle_input(&bytes, now);
    match s.poll_event() {
        Some(ServerEvent::ProtocolError {
            error: ProtocolError::UnknownSerial(n),
            ..
        }) => assert_eq!(n, serial),
        other => panic!("{other:?}"),
    }
    // The stream itself goes on.
    c.stream_send(serial, b"data").unwrap();
    pump(&mut c, &mut s, now);
    assert!(matches!(
        s.poll_event(),
        Some(ServerEvent::Stream {
            event: ClientStreamEvent::Data(d),
            ..
        }) if d == b"data"
    ));
}

#[test]
fn holes_travel_only_on_sparse_streams_as_with_libvirtd() {
    use libvirt_proto::engine::{EngineError, ProtocolError, StreamViolation};
    use libvirt_proto::frame::{Frame, Header};
    use libvirt_proto::virnet::{MessageStatus, MessageType, StreamHole};
    let now = Instant::now();
    let (mut c, mut s) = (ClientEngine::new(now), ServerEngine::new(now));
    let open = |c: &mut ClientEngine, s: &mut ServerEngine, upload: bool| {
        let serial = if upload {
            let args = remote::StorageVolUploadArgs {
                vol: volume(),
                offset: 0,
                length: 0,
                flags: 0,
            };
            c.call::<procs::StorageVolUpload>(&args).unwrap()
        } else {
            let args = remote::StorageVolDownloadArgs {
                vol: volume(),
                offset: 0,
                length: 0,
                flags: 0,
            };
            c.call::<procs::StorageVolDownload>(&args).unwrap()
        };
        pump(c, s, now);
        let Some(ServerEvent::Call { header, .. }) = s.poll_event() else {
            panic!()
        };
        s.reply(&header, &()).unwrap();
        pump(c, s, now);
        while c.poll_event().is_some() {}
        (serial, header)
    };

    // The server cannot send a hole on a plain download.
    let (serial, _) = open(&mut c, &mut s, false);
    assert_eq!(
        s.stream_hole(serial, 4096),
        Err(EngineError::NotSparse(serial))
    );
    s.stream_send(serial, b"ok").unwrap();

    // A client that sends one anyway on a plain upload gets the stream
    // ended with libvirtd's error; the server hears of it.
    let (serial, call) = open(&mut c, &mut s, true);
    let hole = Header {
        kind: MessageType::StreamHole,
        status: MessageStatus::Continue,
        ..call
    };
    let body = libvirt_proto::xdr::to_bytes(&StreamHole {
        length: 4096,
        flags: 0,
    })
    .unwrap();
    s.handle_input(&Frame::new(hole, body).try_encode().unwrap(), now);
    assert!(matches!(
        s.poll_event(),
        Some(ServerEvent::ProtocolError {
            error: ProtocolError::Stream(StreamViolation::UnexpectedHole),
            ..
        })
    ));
    pump(&mut c, &mut s, now);
    let ended = std::iter::from_fn(|| c.poll_event()).find_map(|e| match e {
        Event::Stream {
            serial: got,
            event: StreamEvent::Error(e),
        } if got == serial => Some(e),
        _ => None,
    });
    let e = ended.expect("the upload ended with an error");
    assert_eq!(e.message.as_deref(), Some("Unexpected stream hole"));
    assert!(s.stream_finish(serial).is_err(), "the stream is closed");
}

#[test]
fn packets_that_do_not_fit_their_stream_end_it_on_the_server() {
    use libvirt_proto::engine::{ProtocolError, StreamViolation};
    use libvirt_proto::frame::{Frame, Header};
    use libvirt_proto::virnet::{MessageStatus, MessageType, StreamHole};
    let now = Instant::now();
    let mut s = ServerEngine::new(now);
    let mut serial = 0;
    // A stream opened by the client's call, as the server sees it.
    let mut open = |s: &mut ServerEngine, upload: bool, flags: u32| -> Header {
        serial += 1;
        let (procedure, body) = if upload {
            let args = remote::StorageVolUploadArgs {
                vol: volume(),
                offset: 0,
                length: 0,
                flags,
            };
            (
                program::Procedure::StorageVolUpload,
                libvirt_proto::xdr::to_bytes(&args).unwrap(),
            )
        } else {
            let args = remote::StorageVolDownloadArgs {
                vol: volume(),
                offset: 0,
                length: 0,
                flags,
            };
            (
                program::Procedure::StorageVolDownload,
                libvirt_proto::xdr::to_bytes(&args).unwrap(),
            )
        };
        let call = Header {
            program: program::NUMBER,
            version: program::VERSION,
            procedure: procedure as i32,
            kind: MessageType::Call,
            serial,
            status: MessageStatus::Ok,
        };
        s.handle_input(&Frame::new(call, body).try_encode().unwrap(), now);
        let Some(ServerEvent::Call { header, .. }) = s.poll_event() else {
            panic!()
        };
        s.reply(&header, &()).unwrap();
        while s.poll_transmit().is_some() {}
        header
    };
    let packet = |call: Header, kind: MessageType, status: MessageStatus, body: Vec<u8>| {
        let h = Header {
            kind,
            status,
            ..call
        };
        Frame::new(h, body).try_encode().unwrap()
    };
    let hole = |call: Header, length: i64, flags: u32| {
        let body = libvirt_proto::xdr::to_bytes(&StreamHole { length, flags }).unwrap();
        packet(call, MessageType::StreamHole, MessageStatus::Continue, body)
    };
    let refused = |s: &mut ServerEngine, call: Header, bytes: Vec<u8>| {
        s.handle_input(&bytes, now);
        let v = match s.poll_event() {
            Some(ServerEvent::ProtocolError {
                error: ProtocolError::Stream(v),
                ..
            }) => v,
            other => panic!("{other:?}"),
        };
        assert!(
            s.stream_finish(call.serial).is_err(),
            "the stream was ended"
        );
        let sent = s.poll_transmit().expect("the error to the client");
        let mut d = libvirt_proto::frame::FrameDecoder::new();
        d.push(&sent.bytes);
        let f = d.next_frame().unwrap().unwrap();
        assert_eq!(
            (f.header.serial, f.header.status),
            (call.serial, MessageStatus::Error)
        );
        v
    };

    const SPARSE: u32 = 1;
    let up = open(&mut s, true, SPARSE);
    assert_eq!(
        refused(&mut s, up, hole(up, -1, 0)),
        StreamViolation::NegativeHole(-1)
    );
    let up = open(&mut s, true, SPARSE);
    assert_eq!(
        refused(&mut s, up, hole(up, 4096, 2)),
        StreamViolation::HoleFlags(2)
    );
    let up = open(&mut s, true, SPARSE);
    let short = packet(
        up,
        MessageType::StreamHole,
        MessageStatus::Continue,
        vec![0; 5],
    );
    assert_eq!(refused(&mut s, up, short), StreamViolation::MalformedHole);
    let down = open(&mut s, false, 0);
    let data = packet(
        down,
        MessageType::Stream,
        MessageStatus::Continue,
        b"x".to_vec(),
    );
    assert_eq!(refused(&mut s, down, data), StreamViolation::OnReadStream);
    let up = open(&mut s, true, 0);
    s.handle_input(
        &packet(up, MessageType::Stream, MessageStatus::Ok, Vec::new()),
        now,
    );
    assert!(matches!(
        s.poll_event(),
        Some(ServerEvent::Stream {
            event: ClientStreamEvent::Finish,
            ..
        })
    ));
    let late = packet(
        up,
        MessageType::Stream,
        MessageStatus::Continue,
        b"x".to_vec(),
    );
    assert_eq!(refused(&mut s, up, late), StreamViolation::AfterEnd);
    // A hole that is fine still travels.
    let up = open(&mut s, true, SPARSE);
    s.handle_input(&hole(up, 4096, 0), now);
    assert!(matches!(
        s.poll_event(),
        Some(ServerEvent::Stream {
            event: ClientStreamEvent::Hole(4096),
            ..
        })
    ));
}

#[test]
fn descriptors_travel_with_their_messages() {
    let now = Instant::now();
    let (mut c, mut s) = (ClientEngine::new(now), ServerEngine::new(now));
    let file = std::fs::File::open("/dev/null").unwrap();
    let fd: OwnedFd = file.into();
    let raw = fd.as_raw_fd();
    let args = remote::DomainOpenGraphicsArgs {
        dom: domain(),
        idx: 0,
        flags: 0,
    };
    c.call_with_fds::<procs::DomainOpenGraphics>(&args, vec![fd])
        .unwrap();
    pump(&mut c, &mut s, now);
    match s.poll_event() {
        Some(ServerEvent::Call { header, fds, .. }) => {
            assert_eq!(header.kind, libvirt_proto::virnet::MessageType::CallWithFds);
            assert_eq!(fds.len(), 1);
            assert_eq!(
                fds[0].as_raw_fd(),
                raw,
                "the same descriptor (no real socket here)"
            );
            let reply_fd: OwnedFd = std::fs::File::open("/dev/null").unwrap().into();
            s.reply_with_fds(&header, &(), vec![reply_fd]).unwrap();
        }
        other => panic!("{other:?}"),
    }
    pump(&mut c, &mut s, now);
    match c.poll_event() {
        Some(Event::Reply {
            result: Ok(_), fds, ..
        }) => assert_eq!(fds.len(), 1),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_server_answers_keepalive() {
    let t0 = Instant::now();
    let (mut c, mut s) = (ClientEngine::new(t0), ServerEngine::new(t0));
    c.enable_keepalive(Duration::from_secs(5), 2, t0);
    for i in 1..=10u32 {
        let now = t0 + Duration::from_secs(5 * u64::from(i));
        c.handle_timeout(now);
        pump(&mut c, &mut s, now);
    }
    assert!(!c.is_closed(), "PONGs keep the connection alive");
    // Without answers the client gives up.
    let later = t0 + Duration::from_secs(500);
    for i in 0..4u32 {
        c.handle_timeout(later + Duration::from_secs(5 * u64::from(i)));
        while c.poll_transmit().is_some() {}
    }
    assert!(c.is_closed());
}

#[test]
fn the_server_pings_an_idle_client_and_drops_a_dead_one() {
    let t0 = Instant::now();
    let s5 = Duration::from_secs(5);
    let (mut c, mut s) = (ClientEngine::new(t0), ServerEngine::new(t0));
    s.enable_keepalive(s5, 2, t0);
    // A live client answers every PING.
    for i in 1..=6u32 {
        let now = t0 + s5 * i;
        s.handle_timeout(now);
        pump(&mut c, &mut s, now);
    }
    assert!(s.poll_event().is_none(), "still connected");
    // A silent one is dropped one interval after the second PING.
    let later = t0 + s5 * 100;
    let mut closed = false;
    for i in 0..4u32 {
        s.handle_timeout(later + s5 * i);
        while s.poll_transmit().is_some() {}
        while let Some(e) = s.poll_event() {
            closed |= matches!(
                e,
                ServerEvent::Closed(libvirt_proto::engine::CloseReason::KeepaliveTimeout)
            );
        }
    }
    assert!(closed);
}

#[test]
fn random_bytes_never_panic_the_server() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut rand = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let now = Instant::now();
    for _ in 0..2000 {
        let mut s = ServerEngine::new(now);
        // Sometimes a valid header with a random body, sometimes noise.
        let mut bytes: Vec<u8> = (0..rand(64)).map(|_| rand(256) as u8).collect();
        if rand(2) == 0 {
            let len = (28 + bytes.len()) as u32;
            let mut frame = len.to_be_bytes().to_vec();
            for w in [
                0x2000_8086u32,
                1,
                rand(500) as u32,
                rand(7) as u32,
                rand(9) as u32,
                rand(3) as u32,
            ] {
                frame.extend(w.to_be_bytes());
            }
            frame.extend(bytes);
            bytes = frame;
        }
        s.handle_input(&bytes, now);
        while s.poll_event().is_some() {}
    }
}

#[test]
fn several_streams_at_once_stay_apart() {
    let now = Instant::now();
    let (mut c, mut s) = (ClientEngine::new(now), ServerEngine::new(now));
    let args = remote::DomainScreenshotArgs {
        dom: domain(),
        screen: 0,
        flags: 0,
    };
    let a = c.call::<procs::DomainScreenshot>(&args).unwrap();
    let b = c.call::<procs::DomainScreenshot>(&args).unwrap();
    pump(&mut c, &mut s, now);
    while let Some(ServerEvent::Call { header, .. }) = s.poll_event() {
        s.reply(
            &header,
            &remote::DomainScreenshotRet {
                mime: remote::RemoteString(None),
            },
        )
        .unwrap();
    }
    // Interleaved chunks, b's stream ending first.
    s.stream_send(a, b"a1").unwrap();
    s.stream_send(b, b"b1").unwrap();
    s.stream_send(b, b"").unwrap();
    s.stream_send(a, b"a2").unwrap();
    pump(&mut c, &mut s, now);
    s.stream_finish(b).unwrap();
    s.stream_send(a, b"").unwrap();
    pump(&mut c, &mut s, now);
    s.stream_finish(a).unwrap();
    pump(&mut c, &mut s, now);
    let mut data = std::collections::HashMap::<u32, Vec<u8>>::new();
    let mut ended = Vec::new();
    while let Some(e) = c.poll_event() {
        match e {
            Event::Stream {
                serial,
                event: StreamEvent::Data(d),
            } => data.entry(serial).or_default().extend(d),
            Event::Stream {
                serial,
                event: StreamEvent::End,
            } => ended.push(serial),
            _ => {}
        }
    }
    assert_eq!(data[&a], b"a1a2");
    assert_eq!(data[&b], b"b1");
    assert_eq!(ended, [b, a]);
}
