//! The sans-IO engines: `client_engine`, `server_engine`, `sasl_layer`,
//! `client_auth_open`.

use std::collections::HashMap;
use std::fs::File;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use libvirt_proto::engine::layer::SecurityLayer;
use libvirt_proto::engine::{ClientEngine, Event};
use libvirt_proto::frame::{Frame, FrameDecoder, Header};
use libvirt_proto::virnet::{MessageStatus, MessageType};
use libvirt_proto::{keepalive, remote};
use xdrgen::rt::StreamDirection;

use crate::bytes::Bytes;

mod auth_open;
mod server;

pub use auth_open::client_auth_open;
pub use server::server_engine;

/// At most this many descriptors are opened per run.
const MAX_FDS_PER_RUN: usize = 40;

/// `n` descriptors (of `/dev/null`), within the run's budget.
pub(crate) fn fds(n: usize, opened: &mut usize) -> Vec<OwnedFd> {
    let n = n.min(MAX_FDS_PER_RUN - *opened);
    *opened += n;
    (0..n)
        .filter_map(|_| File::open("/dev/null").ok().map(OwnedFd::from))
        .collect()
}

pub(crate) fn kind(b: u8) -> MessageType {
    match b % 7 {
        0 => MessageType::Call,
        1 => MessageType::Reply,
        2 => MessageType::Message,
        3 => MessageType::Stream,
        4 => MessageType::CallWithFds,
        5 => MessageType::ReplyWithFds,
        _ => MessageType::StreamHole,
    }
}

pub(crate) fn status(b: u8) -> MessageStatus {
    match b % 3 {
        0 => MessageStatus::Ok,
        1 => MessageStatus::Error,
        _ => MessageStatus::Continue,
    }
}

/// A frame the script describes: `kind`, `status`, a procedure, a body
/// (and for `*_WITH_FDS` a descriptor count), addressed to `serial`.
pub(crate) fn scripted_frame(s: &mut Bytes<'_>, program: u32, serial: u32) -> Vec<u8> {
    let k = kind(s.u8());
    let st = status(s.u8());
    let procedure = i32::from(s.u16());
    let program = if s.u8() == 0xff {
        keepalive::program::NUMBER
    } else {
        program
    };
    let mut f = Frame::new(
        Header {
            program,
            version: 1,
            procedure,
            kind: k,
            serial,
            status: st,
        },
        s.long().to_vec(),
    );
    if f.header.has_fds() {
        f.num_fds = u32::from(s.u8() % 4);
    }
    f.encode()
}

/// The frames in `bytes`, which must be valid framing.
pub(crate) fn parse_frames(bytes: &[u8]) -> Vec<Frame> {
    let mut d = FrameDecoder::new();
    d.push(bytes);
    let mut out = Vec::new();
    while let Some(f) = d.next_frame().expect("the engine writes valid frames") {
        out.push(f);
    }
    assert_eq!(d.buffered(), 0, "the engine wrote part of a frame");
    out
}

/// The frames of one transmit an engine wrote: in clear (a whole
/// length-prefixed message), or, once `layered`, through the layer.
pub(crate) fn written_frames(bytes: Vec<u8>, layered: bool) -> Vec<Frame> {
    let clear = bytes.len() >= 4
        && u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize == bytes.len();
    if clear {
        return parse_frames(&bytes);
    }
    assert!(layered, "layered output without a layer");
    parse_frames(&unlayer(&bytes))
}

/// A security layer that passes bytes through unchanged (each packet is
/// its plaintext), refusing a packet that starts with `0xde 0xad`.
pub(crate) struct Clear {
    pub(crate) max_plaintext: usize,
    pub(crate) max_packet: usize,
}

impl SecurityLayer for Clear {
    fn max_plaintext(&self) -> usize {
        self.max_plaintext
    }
    fn max_packet(&self) -> usize {
        self.max_packet
    }
    fn encode(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, String> {
        assert!(
            plaintext.len() <= self.max_plaintext.max(1),
            "more plaintext than max_plaintext"
        );
        Ok(plaintext.to_vec())
    }
    fn decode(&mut self, packet: &[u8]) -> Result<Vec<u8>, String> {
        if packet.starts_with(&[0xde, 0xad]) {
            return Err("refused".into());
        }
        Ok(packet.to_vec())
    }
}

/// The plaintext of `Clear`'s packets.
pub(crate) fn unlayer(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let n = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        out.extend_from_slice(&bytes[at + 4..at + 4 + n]);
        at += 4 + n;
    }
    out
}

/// What became of each call.
#[derive(Default)]
struct Calls {
    /// Serial → (abandoned, outcomes so far).
    calls: HashMap<u32, (bool, u32)>,
    /// In order of creation.
    serials: Vec<u32>,
    closed: u32,
}

impl Calls {
    fn event(&mut self, e: &Event) {
        assert_eq!(self.closed, 0, "an event after Closed: {e:?}");
        match e {
            Event::Reply { serial, .. } => {
                let c = self
                    .calls
                    .get_mut(serial)
                    .unwrap_or_else(|| panic!("a reply for serial {serial}, never called"));
                assert!(!c.0, "a reply for abandoned call {serial}: {e:?}");
                c.1 += 1;
                assert_eq!(c.1, 1, "a second outcome for call {serial}: {e:?}");
            }
            Event::Closed(_) => self.closed += 1,
            _ => {}
        }
    }
}

/// Drives a [`ClientEngine`] with a script of calls, input (raw bytes and
/// frames addressed to its calls), descriptors, timers, stream operations
/// and abandonments. Checks that what it writes is valid framing, that
/// no call gets two outcomes or one after being abandoned, and that once
/// the connection ends (locally, by EOF, by the peer's fault or
/// keepalive) every call not abandoned has had exactly one outcome,
/// followed by one `Closed`.
pub fn client_engine(data: &[u8]) {
    let mut s = Bytes::new(data);
    let t0 = Instant::now();
    let mut now = t0;
    let mut c = ClientEngine::new(now);
    let mut calls = Calls::default();
    let mut opened = 0;
    let mut layered = false;
    let mut out = Vec::new();
    let mut steps = 0;
    while !s.is_empty() && steps < 2000 {
        steps += 1;
        match s.u8() % 16 {
            0 | 1 => {
                let procedure = match s.u8() % 4 {
                    0 => remote::program::Procedure::ConnectGetLibVersion as i32,
                    1 => remote::program::Procedure::DomainScreenshot as i32,
                    2 => remote::program::Procedure::StorageVolUpload as i32,
                    _ => i32::from(s.u16()),
                };
                let stream = match s.u8() % 3 {
                    0 => None,
                    1 => Some(StreamDirection::Read),
                    _ => Some(StreamDirection::Write),
                };
                let n = usize::from(s.u8() % 3);
                let f = fds(n, &mut opened);
                let body = s.short().to_vec();
                match c.call_raw(remote::program::NUMBER, 1, procedure, body, f, stream) {
                    Ok(serial) => {
                        assert!(!c.is_closed());
                        assert!(
                            calls.calls.insert(serial, (false, 0)).is_none(),
                            "serial {serial} given twice"
                        );
                        calls.serials.push(serial);
                    }
                    Err(_) => assert!(c.is_closed(), "a call refused on an open connection"),
                }
            }
            2..=4 => {
                // A frame for one of the calls (or serial 0 / unknown).
                let pick = usize::from(s.u8());
                let serial = match calls.serials.len() {
                    0 => 0,
                    n if pick < 200 => calls.serials[pick % n],
                    _ => pick as u32,
                };
                let bytes = scripted_frame(&mut s, remote::program::NUMBER, serial);
                if layered {
                    let mut l = Vec::new();
                    l.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
                    l.extend_from_slice(&bytes);
                    c.handle_input(&l, now);
                } else {
                    c.handle_input(&bytes, now);
                }
            }
            5 => {
                let raw = s.long();
                c.handle_input(raw, now);
            }
            6 => {
                let n = usize::from(s.u8() % 4);
                c.handle_fds(fds(n, &mut opened));
            }
            7 => {
                now += Duration::from_millis(u64::from(s.u16()) * 10);
                c.handle_timeout(now);
                if let Some(t) = c.poll_timeout() {
                    assert!(
                        t + Duration::from_secs(3600) > now,
                        "deadline far in the past"
                    );
                }
            }
            8 => {
                let interval = Duration::from_millis(u64::from(s.u8()) * 50 + 1);
                c.enable_keepalive(interval, u32::from(s.u8() % 6), now);
            }
            9 => {
                let pick = usize::from(s.u8());
                if let Some(&serial) = calls.serials.get(pick % calls.serials.len().max(1)) {
                    if c.abandon(serial) {
                        let call = calls.calls.get_mut(&serial).unwrap();
                        assert_eq!(call.1, 0, "abandoned after its outcome");
                        call.0 = true;
                    }
                }
            }
            10 => {
                let pick = usize::from(s.u8());
                let serial = calls
                    .serials
                    .get(pick % calls.serials.len().max(1))
                    .copied()
                    .unwrap_or(0);
                let _ = match s.u8() % 4 {
                    0 => c.stream_send(serial, s.short()),
                    1 => c.stream_hole(serial, i64::from(s.u32() as i32)),
                    2 => c.stream_finish(serial),
                    _ => c.stream_abort(serial),
                };
            }
            11 => c.set_max_in_flight(usize::from(s.u8() % 6)),
            12 => c.set_input_paused(s.bool(), now),
            13 => {
                if !layered && s.u8() == 0x5a {
                    let max = usize::from(s.u8()) + 1;
                    c.set_security_layer(Box::new(Clear {
                        max_plaintext: max,
                        max_packet: 1 << 20,
                    }));
                    layered = true;
                }
            }
            14 => {
                let _ = c.decode_reply::<remote::program::procs::AuthList>(s.short());
            }
            _ => {
                while let Some(t) = c.poll_transmit() {
                    out.push(t);
                }
            }
        }
        while let Some(e) = c.poll_event() {
            calls.event(&e);
        }
        if c.is_closed() {
            assert_eq!(calls.closed, 1, "closed without a Closed event");
        }
    }
    match s.u8() % 2 {
        0 => c.close(),
        _ => c.handle_eof(),
    }
    while let Some(e) = c.poll_event() {
        calls.event(&e);
    }
    assert_eq!(calls.closed, 1, "not exactly one Closed");
    for (serial, (abandoned, n)) in &calls.calls {
        let want = u32::from(!abandoned);
        assert_eq!(
            *n, want,
            "call {serial} (abandoned: {abandoned}) had {n} outcomes"
        );
    }
    assert!(c.poll_transmit().is_none(), "output after close");
    assert!(c.poll_timeout().is_none(), "a timer after close");
    // What was written before is valid framing, once out of the layer.
    if !layered {
        let bytes: Vec<u8> = out.iter().flat_map(|t| t.bytes.iter().copied()).collect();
        parse_frames(&bytes);
    }
}

/// Feeds SASL security-layer packets (the layer passes bytes through) to
/// a [`ClientEngine`] in the chunks the input chooses, and checks the
/// result against an engine without a layer fed the packets' plaintext:
/// the same events, and a packet longer than the layer's maximum, or one
/// the mechanism refuses, ends the connection with a security-layer
/// error.
///
/// Input: `max` (the layer's largest packet: `max * 7`), a chunk size
/// byte (`c + 1`), then the packets.
pub fn sasl_layer(data: &[u8]) {
    let mut s = Bytes::new(data);
    let max = usize::from(s.u8()) * 7;
    let chunk = usize::from(s.u8()) + 1;
    let wire = s.rest();
    let now = Instant::now();

    // The packets by hand. The bytes that carry a message's descriptors
    // come after its last packet outside the layer, as libvirt sends them:
    // a decoder of the plaintext so far says when.
    let mut plain = Vec::new();
    let mut frames = FrameDecoder::new();
    let mut bad = false;
    let mut at = 0;
    loop {
        let due = frames.descriptor_bytes_due();
        if due > 0 {
            let clear = &wire[at..(at + due).min(wire.len())];
            if clear.is_empty() {
                break;
            }
            plain.extend_from_slice(clear);
            frames.push(clear);
            at += clear.len();
            continue;
        }
        let Some(p) = wire.get(at..at + 4) else {
            break;
        };
        let n = u32::from_be_bytes(p.try_into().unwrap()) as usize;
        if n > max {
            bad = true;
            break;
        }
        let Some(packet) = wire.get(at + 4..at + 4 + n) else {
            break;
        };
        if packet.starts_with(&[0xde, 0xad]) {
            bad = true;
            break;
        }
        plain.extend_from_slice(packet);
        frames.push(packet);
        at += 4 + n;
    }

    let mut layered = ClientEngine::new(now);
    layered.set_security_layer(Box::new(Clear {
        max_plaintext: 64,
        max_packet: max,
    }));
    assert!(layered.has_security_layer());
    for piece in wire.chunks(chunk) {
        layered.handle_input(piece, now);
    }
    let mut clear = ClientEngine::new(now);
    clear.handle_input(&plain, now);

    let events = |c: &mut ClientEngine| {
        let mut v = Vec::new();
        while let Some(e) = c.poll_event() {
            v.push(format!("{e:?}"));
        }
        v
    };
    let got = events(&mut layered);
    let want = events(&mut clear);
    let layer_closed = got
        .last()
        .is_some_and(|e| e.starts_with("Closed(Protocol(SecurityLayer("));
    if bad && layer_closed {
        // The plaintext of packets that came in the same chunk as the bad
        // one is dropped with it: what arrived is a prefix of the rest.
        assert!(layered.is_closed());
        let before = &got[..got.len() - 1];
        let want: Vec<_> = want.iter().filter(|e| !e.starts_with("Closed(")).collect();
        assert!(before.len() <= want.len(), "{before:?} / {want:?}");
        for (g, w) in before.iter().zip(want) {
            assert_eq!(g, w);
        }
    } else {
        // Either all packets were good, or the plaintext ended the
        // connection before the bad packet was read.
        assert!(!layer_closed, "a security-layer error without a bad packet");
        assert!(
            !bad || got.last().is_some_and(|e| e.starts_with("Closed(")),
            "a bad packet did not end the connection: {got:?}"
        );
        assert_eq!(got, want, "the layer changed what the engine saw");
    }
}
