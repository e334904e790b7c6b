//! Limits the engines keep against what a peer sends (descriptors, calls
//! ahead of their replies) and what the caller asks to send (message
//! size).

use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::time::Instant;

use libvirt_proto::engine::{
    ClientEngine, CloseReason, EngineError, Event, ProtocolError, ServerEngine, ServerEvent,
    DEFAULT_MAX_CLIENT_REQUESTS,
};
use libvirt_proto::error::RemoteError;
use libvirt_proto::error_codes::{ErrorDomain, ErrorNumber};
use libvirt_proto::frame::{
    Frame, FrameError, Header, HEADER_LEN, LEN_PREFIX, MAX_FDS, MAX_MESSAGE,
};
use libvirt_proto::remote::program::{procs, Procedure, NUMBER, VERSION};
use libvirt_proto::virnet::{MessageStatus, MessageType};
use libvirt_proto::{remote, xdr};

/// A descriptor to hand to an engine, and a way to see it closed: the
/// other end of a socket pair reads end of file once every copy is gone.
struct Probe(UnixStream);

fn probe() -> (OwnedFd, Probe) {
    let (a, b) = UnixStream::pair().unwrap();
    b.set_nonblocking(true).unwrap();
    (a.into(), Probe(b))
}

fn probes(n: usize) -> (Vec<OwnedFd>, Vec<Probe>) {
    (0..n).map(|_| probe()).unzip()
}

impl Probe {
    fn closed(&mut self) -> bool {
        match self.0.read(&mut [0u8; 1]) {
            Ok(0) => true,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => false,
            other => panic!("{other:?}"),
        }
    }
}

fn all_closed(p: &mut [Probe]) -> bool {
    p.iter_mut().all(Probe::closed)
}

fn none_closed(p: &mut [Probe]) -> bool {
    !p.iter_mut().any(Probe::closed)
}

/// A `CONNECT_GET_LIB_VERSION` call (no arguments) announcing `fds`
/// descriptors.
fn call(serial: u32, fds: u32) -> Vec<u8> {
    let kind = if fds > 0 {
        MessageType::CallWithFds
    } else {
        MessageType::Call
    };
    let mut f = Frame::new(
        Header {
            program: NUMBER,
            version: VERSION,
            procedure: Procedure::ConnectGetLibVersion as i32,
            kind,
            serial,
            status: MessageStatus::Ok,
        },
        Vec::new(),
    );
    f.num_fds = fds;
    // As libvirt sends it: the message, then a byte for each descriptor.
    let mut bytes = f.encode();
    bytes.resize(bytes.len() + fds as usize, 0);
    bytes
}

fn events(s: &mut ServerEngine) -> Vec<ServerEvent> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

/// The serial and descriptor count of each call event.
fn calls(s: &mut ServerEngine) -> Vec<(u32, usize)> {
    events(s)
        .into_iter()
        .map(|e| match e {
            ServerEvent::Call { header, fds, .. } => (header.serial, fds.len()),
            other => panic!("{other:?}"),
        })
        .collect()
}

fn closed_for_too_many(e: Option<ServerEvent>, n: usize) {
    match e {
        Some(ServerEvent::Closed(CloseReason::Protocol(ProtocolError::TooManyFds {
            received,
            max,
        }))) => {
            assert_eq!((received, max), (n, MAX_FDS));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn more_descriptors_at_once_than_a_message_carries_end_the_connection() {
    let now = Instant::now();
    let mut s = ServerEngine::new(now);
    let (fds, mut p) = probes(MAX_FDS + 1);
    s.handle_fds(fds);
    closed_for_too_many(s.poll_event(), MAX_FDS + 1);
    assert!(all_closed(&mut p));
    // Nothing more is taken or read.
    let (fd, mut late) = probe();
    s.handle_fds(vec![fd]);
    assert!(late.closed());
    s.handle_input(&call(1, 0), now);
    assert!(s.poll_event().is_none());
}

#[test]
fn descriptors_in_two_reads_before_any_byte_count_together() {
    let now = Instant::now();
    let mut s = ServerEngine::new(now);
    let (fds, mut p) = probes(MAX_FDS);
    s.handle_fds(fds);
    assert!(s.poll_event().is_none(), "one message's worth is fine");
    let (fd, mut q) = probe();
    s.handle_fds(vec![fd]);
    closed_for_too_many(s.poll_event(), MAX_FDS + 1);
    assert!(all_closed(&mut p) && q.closed());
}

#[test]
fn the_client_fails_its_calls_on_too_many_descriptors() {
    let now = Instant::now();
    let mut c = ClientEngine::new(now);
    let serial = c.call::<procs::ConnectGetLibVersion>(&()).unwrap();
    let (fds, mut p) = probes(40);
    c.handle_fds(fds);
    let got: Vec<Event> = std::iter::from_fn(|| c.poll_event()).collect();
    assert!(
        matches!(&got[..], [Event::Reply { serial: s, result: Err(_), .. }, Event::Closed(CloseReason::Protocol(ProtocolError::TooManyFds { received: 40, .. }))] if *s == serial),
        "{got:?}"
    );
    assert!(all_closed(&mut p));
}

#[test]
fn a_message_announcing_more_than_the_limit_ends_the_connection() {
    let now = Instant::now();
    let mut s = ServerEngine::new(now);
    let (fds, mut p) = probes(MAX_FDS);
    s.handle_fds(fds);
    s.handle_input(&call(1, MAX_FDS as u32 + 1), now);
    assert!(matches!(
        s.poll_event(),
        Some(ServerEvent::Closed(CloseReason::Protocol(
            ProtocolError::Frame(FrameError::BadFdCount(33))
        )))
    ));
    assert!(all_closed(&mut p));
}

#[test]
fn a_call_takes_the_descriptors_that_come_after_it() {
    let now = Instant::now();
    let mut s = ServerEngine::new(now);
    // A call without descriptors, then one with two, in one read ending
    // with the bytes that carried them.
    let (fds, mut p) = probes(2);
    s.handle_fds(fds);
    s.handle_input(&[call(1, 0), call(2, 2)].concat(), now);
    let got = events(&mut s);
    assert_eq!(got.len(), 2);
    let ServerEvent::Call { fds, .. } = &got[1] else {
        panic!("{got:?}")
    };
    assert_eq!(fds.len(), 2);
    assert!(none_closed(&mut p), "handed over, not closed");
    drop(got);
    assert!(all_closed(&mut p));
}

#[test]
fn a_call_split_across_reads_takes_its_descriptors() {
    let now = Instant::now();
    let mut s = ServerEngine::new(now);
    let bytes = [call(1, 0), call(2, 2)].concat();
    let end = bytes.len();
    // The message in pieces, then each descriptor with its own byte, as
    // libvirt's virSocketSendFD sends them and a read returns them.
    s.handle_input(&bytes[..end - 20], now);
    s.handle_input(&bytes[end - 20..end - 2], now);
    assert_eq!(
        calls(&mut s),
        [(1, 0)],
        "the second waits for its descriptors"
    );
    for i in [2, 1] {
        let (fd, _p) = probe();
        s.handle_fds(vec![fd]);
        s.handle_input(&bytes[end - i..end - i + 1], now);
    }
    assert_eq!(calls(&mut s), [(2, 2)]);
}

#[test]
fn descriptors_that_end_inside_a_message_are_closed_at_once() {
    let now = Instant::now();
    let mut s = ServerEngine::new(now);
    let bytes = call(1, 2);
    // Descriptors with the first bytes of a message that announces two: a
    // peer that stops there keeps none of them open.
    let (fds, mut p) = probes(2);
    s.handle_fds(fds);
    s.handle_input(&bytes[..10], now);
    assert!(all_closed(&mut p));
    assert!(s.poll_event().is_none());
    // The message completed with its descriptor bytes but no descriptors
    // is answered as missing them.
    s.handle_input(&bytes[10..], now);
    assert!(
        matches!(
            s.poll_event(),
            Some(ServerEvent::ProtocolError {
                error: ProtocolError::MissingFds {
                    expected: 2,
                    received: 0
                },
                ..
            })
        ),
        "a call without its descriptors"
    );
}

#[test]
fn descriptors_no_message_claims_are_closed() {
    let now = Instant::now();
    let mut s = ServerEngine::new(now);
    // With a call announcing none.
    let (fds, mut p) = probes(3);
    s.handle_fds(fds);
    s.handle_input(&call(1, 0), now);
    assert_eq!(calls(&mut s), [(1, 0)]);
    assert!(all_closed(&mut p));
    // Inside a call, not with the byte after it: not its own.
    let (fd, mut q) = probe();
    let bytes = call(2, 1);
    s.handle_input(&bytes[..10], now);
    s.handle_fds(vec![fd]);
    s.handle_input(&bytes[10..20], now);
    s.handle_input(&bytes[20..], now);
    match events(&mut s).as_slice() {
        [ServerEvent::ProtocolError {
            header: Some(h),
            error:
                ProtocolError::MissingFds {
                    expected: 1,
                    received: 0,
                },
        }] => assert_eq!(h.serial, 2),
        other => panic!("{other:?}"),
    }
    assert!(q.closed(), "no frame can claim them");
    // More than the call announces: the rest are closed with it.
    let (mut fds, mut p) = probes(3);
    let (kept, _k) = probe();
    fds.insert(0, kept);
    s.handle_fds(fds);
    s.handle_input(&call(3, 1), now);
    s.handle_input(&call(4, 0), now);
    assert_eq!(calls(&mut s), [(3, 1), (4, 0)]);
    assert!(all_closed(&mut p));
    // Waiting for bytes when the connection ends.
    let (fds, mut p) = probes(2);
    s.handle_fds(fds);
    assert!(none_closed(&mut p));
    s.handle_eof();
    assert!(all_closed(&mut p));
}

fn too_large(r: Result<impl std::fmt::Debug, EngineError>, len: usize) {
    match r {
        Err(EngineError::FrameTooLarge { len: l, max }) => {
            assert_eq!((l, max), (len, MAX_MESSAGE));
        }
        other => panic!("{other:?}"),
    }
}

/// The whole message of a call with a body of `body` bytes.
const fn call_len(body: usize) -> usize {
    LEN_PREFIX + HEADER_LEN + body
}

#[test]
fn a_call_above_the_message_limit_is_refused_and_the_engine_goes_on() {
    let now = Instant::now();
    let mut c = ClientEngine::new(now);
    let most = MAX_MESSAGE - call_len(0);
    let lib_version = Procedure::ConnectGetLibVersion as i32;
    let raw = |c: &mut ClientEngine, n: usize| {
        c.call_raw(NUMBER, VERSION, lib_version, vec![0; n], Vec::new(), None)
    };
    too_large(raw(&mut c, most + 1), MAX_MESSAGE + 1);
    // Typed arguments are measured before they are encoded.
    let xml = "x".repeat(33 << 20);
    too_large(
        c.call::<procs::DomainDefineXml>(&remote::DomainDefineXmlArgs { xml: xml.into() }),
        call_len(4 + (33 << 20)),
    );
    assert!(c.poll_transmit().is_none(), "nothing queued");
    assert_eq!(c.pending_calls(), 0);
    // The next call is made as if none had been tried.
    assert_eq!(raw(&mut c, most), Ok(1));
    assert_eq!(c.poll_transmit().unwrap().bytes.len(), MAX_MESSAGE);
    assert_eq!(c.call::<procs::ConnectGetLibVersion>(&()), Ok(2));
}

#[test]
fn stream_packets_above_the_limit_are_refused() {
    let now = Instant::now();
    let mut c = ClientEngine::new(now);
    let serial = c
        .call_raw(
            NUMBER,
            VERSION,
            Procedure::DomainOpenConsole as i32,
            Vec::new(),
            Vec::new(),
            Some(libvirt_proto::xdr::StreamDirection::Write),
        )
        .unwrap();
    c.poll_transmit().unwrap();
    let most = MAX_MESSAGE - call_len(0);
    too_large(c.stream_send(serial, &vec![0; most + 1]), MAX_MESSAGE + 1);
    assert!(c.poll_transmit().is_none());
    c.stream_send(serial, b"still open").unwrap();
    assert!(c.poll_transmit().is_some());

    // The server's too.
    let mut s = ServerEngine::new(now);
    s.handle_input(&call(1, 0), now);
    let Some(ServerEvent::Call { mut header, .. }) = s.poll_event() else {
        panic!()
    };
    header.procedure = Procedure::DomainOpenConsole as i32;
    s.reply(&header, &()).unwrap();
    s.poll_transmit().unwrap();
    too_large(s.stream_send(1, &vec![0; most + 1]), MAX_MESSAGE + 1);
    assert!(s.poll_transmit().is_none());
    s.stream_send(1, b"still open").unwrap();
    assert!(s.poll_transmit().is_some());
}

#[test]
fn a_reply_above_the_message_limit_is_refused_and_the_call_can_still_be_answered() {
    let now = Instant::now();
    let mut s = ServerEngine::new(now);
    s.handle_input(&call(1, 0), now);
    let Some(ServerEvent::Call { header, .. }) = s.poll_event() else {
        panic!()
    };
    // Nine names at the string limit: each within its bound, together
    // above the message's.
    let name = "n".repeat(remote::STRING_MAX as usize);
    let domains = vec![
        remote::NonnullDomain {
            name: name.into(),
            uuid: [0; 16].into(),
            id: 1,
        };
        9
    ];
    let ret = remote::ConnectListAllDomainsRet { domains, ret: 9 };
    let len = call_len(xdr::Encode::encoded_len(&ret));
    assert!(len > MAX_MESSAGE);
    too_large(s.reply(&header, &ret), len);
    assert!(s.poll_transmit().is_none());
    s.reply_error(
        &header,
        RemoteError::new(ErrorNumber::ERR_RPC, ErrorDomain::RPC, "reply too large"),
    )
    .unwrap();
    assert!(s.poll_transmit().is_some());
}

fn serials(s: &mut ServerEngine) -> Vec<u32> {
    calls(s).into_iter().map(|(serial, _)| serial).collect()
}

fn header_of(serial: u32) -> Header {
    let mut d = libvirt_proto::frame::FrameDecoder::new();
    d.push(&call(serial, 0));
    d.next_frame().unwrap().unwrap().header
}

fn answer(s: &mut ServerEngine, serial: u32) {
    s.reply(&header_of(serial), &11_003_000u64).unwrap();
}

#[test]
fn a_client_with_max_requests_unanswered_is_not_read_until_a_reply() {
    let now = Instant::now();
    let mut s = ServerEngine::new(now);
    assert_eq!(DEFAULT_MAX_CLIENT_REQUESTS, 5);
    let input: Vec<u8> = (1..=8).flat_map(|n| call(n, 0)).collect();
    s.handle_input(&input, now);
    assert_eq!(serials(&mut s), [1, 2, 3, 4, 5]);
    assert!(s.input_throttled());
    assert_eq!(s.outstanding_calls(), 5);
    // Each answer lets one more in, at once.
    answer(&mut s, 1);
    assert_eq!(serials(&mut s), [6]);
    assert!(s.input_throttled());
    s.reply_error(
        &header_of(2),
        RemoteError::new(ErrorNumber::ERR_RPC, ErrorDomain::RPC, "no"),
    )
    .unwrap();
    assert_eq!(serials(&mut s), [7]);
    answer(&mut s, 3);
    assert_eq!(serials(&mut s), [8]);
    answer(&mut s, 4);
    assert!(s.poll_event().is_none());
    assert!(!s.input_throttled());
    assert_eq!(s.outstanding_calls(), 4);
    // Answering what was never asked frees nothing.
    answer(&mut s, 99);
    assert_eq!(s.outstanding_calls(), 4);
    assert_eq!(
        std::iter::from_fn(|| s.poll_transmit()).count(),
        5,
        "the replies"
    );
}

#[test]
fn held_frames_wait_whole_keepalive_and_descriptors_included() {
    let now = Instant::now();
    let mut s = ServerEngine::new(now);
    s.set_max_requests(1);
    let ping = Frame::new(
        Header {
            program: libvirt_proto::keepalive::program::NUMBER,
            version: libvirt_proto::keepalive::program::VERSION,
            procedure: libvirt_proto::keepalive::program::Procedure::Ping as i32,
            kind: MessageType::Message,
            serial: 0,
            status: MessageStatus::Ok,
        },
        Vec::new(),
    )
    .encode();
    let (fd, mut p) = probe();
    s.handle_fds(vec![fd]);
    s.handle_input(&[call(1, 0), ping, call(2, 1)].concat(), now);
    assert_eq!(serials(&mut s), [1]);
    assert!(s.input_throttled());
    assert!(s.poll_transmit().is_none(), "the PING waits too");
    assert!(!p.closed(), "kept for the call it came with");
    answer(&mut s, 1);
    assert_eq!(calls(&mut s), [(2, 1)]);
    assert!(p.closed(), "handed over with its call, then dropped");
    let sent = std::iter::from_fn(|| s.poll_transmit()).count();
    assert_eq!(sent, 2, "the reply and the PONG");
    // A higher limit takes what waits.
    s.handle_input(&[call(3, 0), call(4, 0)].concat(), now);
    assert!(s.poll_event().is_none());
    s.set_max_requests(3);
    assert_eq!(serials(&mut s), [3, 4]);
}

#[test]
fn a_call_that_does_not_decode_holds_its_slot_until_refused() {
    let now = Instant::now();
    let mut s = ServerEngine::new(now);
    s.set_max_requests(1);
    let mut bad = call(1, 0);
    bad[4..8].copy_from_slice(&0x1234_5678u32.to_be_bytes());
    s.handle_input(&[bad, call(2, 0)].concat(), now);
    let h = match s.poll_event() {
        Some(ServerEvent::ProtocolError {
            header: Some(h), ..
        }) => h,
        other => panic!("{other:?}"),
    };
    assert!(s.poll_event().is_none());
    s.reply_error(
        &h,
        RemoteError::new(ErrorNumber::ERR_RPC, ErrorDomain::RPC, "unknown program"),
    )
    .unwrap();
    assert_eq!(serials(&mut s), [2]);
}
