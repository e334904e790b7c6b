//! `server_engine`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use libvirt_proto::engine::auth::{SaslServer, SaslServerStep, ServerAuth, ServerAuthOutcome};
use libvirt_proto::engine::layer::SecurityLayer;
use libvirt_proto::engine::{ClientStreamEvent, EngineError, ServerEngine, ServerEvent};
use libvirt_proto::error::RemoteError;
use libvirt_proto::frame::Frame;
use libvirt_proto::remote;
use libvirt_proto::virnet::{MessageStatus, MessageType};
use libvirt_proto::xdr;

use super::{fds, scripted_frame, written_frames, Clear};
use crate::bytes::Bytes;

/// A SASL server whose answers the client's responses decide: the first
/// byte of a response picks continue / done / fail.
struct ScriptedSasl {
    layer: Option<usize>,
    /// Set when the layer is handed over.
    switched: Arc<AtomicBool>,
}

impl ScriptedSasl {
    fn answer(&mut self, response: Option<&[u8]>) -> Result<SaslServerStep, String> {
        let r = response.unwrap_or_default();
        let data = (r.len() > 1).then(|| r[1..].to_vec());
        match r.first().copied().unwrap_or(0) % 3 {
            0 => Ok(SaslServerStep::Continue(data)),
            1 => Ok(SaslServerStep::Done(data)),
            _ => Err("bad response".into()),
        }
    }
}

impl SaslServer for ScriptedSasl {
    fn mechanisms(&self) -> String {
        "SCRAM-SHA-256 PLAIN GSSAPI".into()
    }
    fn start(&mut self, mech: &str, response: Option<&[u8]>) -> Result<SaslServerStep, String> {
        if mech.is_empty() {
            return Err("no mechanism".into());
        }
        self.answer(response)
    }
    fn step(&mut self, response: Option<&[u8]>) -> Result<SaslServerStep, String> {
        self.answer(response)
    }
    fn security_layer(&mut self) -> Option<Box<dyn SecurityLayer>> {
        self.layer.take().map(|max| {
            self.switched.store(true, Ordering::SeqCst);
            Box::new(Clear {
                max_plaintext: max,
                max_packet: 1 << 16,
            }) as Box<dyn SecurityLayer>
        })
    }
}

/// A call procedure for the script: the authentication calls, a few
/// ordinary ones, or any number.
fn procedure(s: &mut Bytes<'_>) -> i32 {
    use remote::program::Procedure as P;
    match s.u8() % 10 {
        0 => P::AuthList as i32,
        1 => P::AuthSaslInit as i32,
        2 => P::AuthSaslStart as i32,
        3 => P::AuthSaslStep as i32,
        4 => P::AuthPolkit as i32,
        5 => P::ConnectOpen as i32,
        6 => P::DomainScreenshot as i32,
        7 => P::StorageVolUpload as i32,
        8 => P::ConnectGetLibVersion as i32,
        _ => i32::from(s.u16()),
    }
}

/// A [`ServerEngine`] behind [`ServerAuth`] (none, polkit or a scripted
/// SASL server with an optional security layer), fed raw bytes, calls
/// and stream packets the script describes, descriptors, timers and EOF;
/// the server answers every call that passes authentication and streams
/// as the client drives them.
///
/// Checks: what the server writes is valid framing (in clear, then
/// through the layer once SASL sets one up); a call only passes once the
/// client is authenticated; every call handed out is answered by exactly
/// one reply with its serial; the connection ends with one `Closed`.
pub fn server_engine(data: &[u8]) {
    let mut s = Bytes::new(data);
    let mut now = Instant::now();
    let mut server = ServerEngine::new(now);
    let switched = Arc::new(AtomicBool::new(false));
    let mut auth = match s.u8() % 4 {
        0 => ServerAuth::none(),
        1 => {
            let allow = s.bool();
            ServerAuth::polkit(Box::new(move || allow))
        }
        b => ServerAuth::sasl(Box::new(ScriptedSasl {
            layer: (b == 3).then(|| usize::from(s.u8()) + 1),
            switched: switched.clone(),
        })),
    };
    let mut opened = 0;
    // Serial → calls handed out, and replies written.
    let mut calls: HashMap<u32, (u32, u32)> = HashMap::new();
    let mut closed = 0;
    let mut steps = 0;
    let mut streams: Vec<u32> = Vec::new();
    while !s.is_empty() && steps < 2000 {
        steps += 1;
        let mut input = Vec::new();
        match s.u8() % 8 {
            0..=2 => {
                // A call.
                let serial = u32::from(s.u8());
                let p = procedure(&mut s);
                let mut f = Frame::new(
                    libvirt_proto::frame::Header {
                        program: remote::program::NUMBER,
                        version: 1,
                        procedure: p,
                        kind: MessageType::Call,
                        serial,
                        status: MessageStatus::Ok,
                    },
                    s.short().to_vec(),
                );
                if s.u8() == 1 {
                    f.header.kind = MessageType::CallWithFds;
                    f.num_fds = 1;
                }
                input = f.encode();
            }
            3 => {
                // Stream traffic, or anything else, for a known serial.
                let serial = match streams.len() {
                    0 => u32::from(s.u8()),
                    n => streams[usize::from(s.u8()) % n],
                };
                input = scripted_frame(&mut s, remote::program::NUMBER, serial);
            }
            4 => input = s.long().to_vec(),
            5 => server.handle_fds(fds(usize::from(s.u8() % 3), &mut opened)),
            6 => {
                match s.u8() % 3 {
                    0 => server.enable_keepalive(
                        Duration::from_millis(u64::from(s.u8()) * 50 + 1),
                        u32::from(s.u8() % 4),
                        now,
                    ),
                    1 => server.set_input_paused(s.bool(), now),
                    _ => {}
                }
                now += Duration::from_millis(u64::from(s.u16()) * 10);
                server.handle_timeout(now);
            }
            _ => {
                // The server's side of a stream.
                if let Some(&serial) = streams.get(usize::from(s.u8()) % streams.len().max(1)) {
                    let _ = match s.u8() % 4 {
                        0 => server.stream_send(serial, s.short()),
                        1 => server.stream_hole(serial, i64::from(s.u16())),
                        2 => server.stream_finish(serial),
                        _ => server.stream_error(serial, error()),
                    };
                }
            }
        }
        if !input.is_empty() {
            if switched.load(Ordering::SeqCst) {
                let mut l = (input.len() as u32).to_be_bytes().to_vec();
                l.extend_from_slice(&input);
                input = l;
            }
            server.handle_input(&input, now);
        }
        while let Some(e) = server.poll_event() {
            assert_eq!(closed, 0, "an event after Closed: {e:?}");
            match e {
                ServerEvent::Call { header, call, .. } => {
                    assert!(matches!(
                        header.kind,
                        MessageType::Call | MessageType::CallWithFds
                    ));
                    let before = auth.is_authenticated();
                    match auth.handle_call(&mut server, &header, &call) {
                        Ok(ServerAuthOutcome::Pass) => {
                            assert!(before, "a call passed before authentication");
                            let is_stream = u32::try_from(header.procedure)
                                .ok()
                                .and_then(|p| remote::program::Procedure::try_from(p).ok())
                                .is_some_and(|p| p.info().stream.is_some());
                            let r = if s.bool() {
                                server.reply_error(&header, error())
                            } else if header.procedure
                                == remote::program::Procedure::DomainScreenshot as i32
                            {
                                let ret = remote::DomainScreenshotRet {
                                    mime: remote::RemoteString(Some("image/png".into())),
                                };
                                server.reply(&header, &ret)
                            } else {
                                server.reply(&header, &())
                            };
                            match r {
                                Ok(()) => {
                                    calls.entry(header.serial).or_default().0 += 1;
                                    if is_stream {
                                        streams.push(header.serial);
                                    }
                                }
                                Err(e) => assert!(matches!(e, EngineError::Closed(_)), "{e}"),
                            }
                        }
                        Ok(_) => calls.entry(header.serial).or_default().0 += 1,
                        Err(e) => assert!(matches!(e, EngineError::Closed(_)), "{e}"),
                    }
                }
                ServerEvent::Stream { serial, event } => {
                    assert!(streams.contains(&serial), "stream event for {serial}");
                    if event == ClientStreamEvent::Finish {
                        let _ = server.stream_finish(serial);
                    }
                }
                ServerEvent::ProtocolError { .. } => {}
                ServerEvent::Closed(_) => closed += 1,
            }
        }
        // The written frames: in clear until the layer is set, then
        // through it.
        while let Some(t) = server.poll_transmit() {
            for f in written_frames(t.bytes, switched.load(Ordering::SeqCst)) {
                if f.header.kind == MessageType::Reply {
                    calls.entry(f.header.serial).or_default().1 += 1;
                }
            }
        }
    }
    server.handle_eof();
    while let Some(e) = server.poll_event() {
        if let ServerEvent::Closed(_) = e {
            closed += 1;
        } else {
            assert_eq!(closed, 0, "an event after Closed: {e:?}");
        }
    }
    assert_eq!(closed, 1, "not exactly one Closed");
    for (serial, (handed, replied)) in calls {
        assert_eq!(
            handed, replied,
            "serial {serial}: {handed} calls, {replied} replies"
        );
    }
}

fn error() -> RemoteError {
    let e: libvirt_proto::virnet::MessageError =
        xdr::from_bytes(&[0; 4 * 11]).expect("an all-zero error decodes");
    e.into()
}
