//! `client_auth_open`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use libvirt_proto::engine::auth::{
    AuthError, AuthJob, AuthJobOutput, AuthMethod, ClientAuth, MechanismChoice, SaslMechanism,
    SaslMechanismChooser,
};
use libvirt_proto::engine::layer::SecurityLayer;
use libvirt_proto::engine::open::{OpenStatus, Opener};
use libvirt_proto::engine::{ClientEngine, Event};
use libvirt_proto::frame::{Frame, Header};
use libvirt_proto::remote::{self, program::Procedure as P};
use libvirt_proto::virnet::{MessageStatus, MessageType};
use libvirt_proto::xdr;

use super::{written_frames, Clear};
use crate::bytes::Bytes;

/// A SASL mechanism that answers from a script of its own.
struct ScriptedMech {
    name: &'static str,
    script: Vec<u8>,
    at: usize,
    layer: bool,
    switched: Arc<AtomicBool>,
}

impl ScriptedMech {
    fn next(&mut self) -> u8 {
        let b = self.script.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        b
    }
    fn answer(&mut self) -> Result<Option<Vec<u8>>, String> {
        match self.next() % 4 {
            0 => Ok(None),
            1 => Ok(Some(Vec::new())),
            2 => Ok(Some(vec![self.next(); 3])),
            _ => Err("mechanism failed".into()),
        }
    }
}

impl SaslMechanism for ScriptedMech {
    fn name(&self) -> &str {
        self.name
    }
    fn start(&mut self) -> Result<Option<Vec<u8>>, String> {
        self.answer()
    }
    fn step(&mut self, _challenge: Option<&[u8]>) -> Result<Option<Vec<u8>>, String> {
        self.answer()
    }
    fn is_complete(&self) -> bool {
        self.script.get(self.at).is_none_or(|b| b & 0x80 == 0)
    }
    fn security_layer(&mut self) -> Option<Box<dyn SecurityLayer>> {
        if !std::mem::take(&mut self.layer) {
            return None;
        }
        self.switched.store(true, Ordering::SeqCst);
        Some(Box::new(Clear {
            max_plaintext: 100,
            max_packet: 1 << 16,
        }))
    }
}

/// Picks the mechanism if the daemon offers it; builds it now or later.
struct Chooser {
    mech: Option<ScriptedMech>,
    deferred: bool,
}

impl SaslMechanismChooser for Chooser {
    fn choose(&mut self, offered: &[&str]) -> Result<Box<dyn SaslMechanism>, AuthError> {
        let m = self
            .mech
            .take()
            .ok_or(AuthError::Mechanism("chosen twice".into()))?;
        if !offered.iter().any(|o| o.eq_ignore_ascii_case(m.name)) {
            return Err(AuthError::Mechanism("not offered".into()));
        }
        Ok(Box::new(m))
    }
    fn choose_deferred(&mut self, offered: &[&str]) -> Result<MechanismChoice, AuthError> {
        let m = self.choose(offered)?;
        Ok(if self.deferred {
            MechanismChoice::Deferred(Box::new(move || Ok(m)))
        } else {
            MechanismChoice::Ready(m)
        })
    }
}

const MECHS: [&str; 4] = ["SCRAM-SHA-256", "PLAIN", "GSSAPI", "scram-sha-256"];

/// A well-formed reply body for `procedure`, the script choosing values.
fn reply_body(s: &mut Bytes<'_>, procedure: i32) -> Vec<u8> {
    let data = |s: &mut Bytes<'_>| s.short().iter().map(|&b| b as i8).collect::<Vec<i8>>();
    let r = match procedure {
        p if p == P::AuthList as i32 => {
            let types = (0..s.u8() % 4)
                .map(|_| match s.u8() % 3 {
                    0 => remote::AuthType::None,
                    1 => remote::AuthType::Sasl,
                    _ => remote::AuthType::Polkit,
                })
                .collect();
            xdr::to_bytes(&remote::AuthListRet { types })
        }
        p if p == P::AuthSaslInit as i32 => {
            let mut list = Vec::new();
            for _ in 0..s.u8() % 4 {
                list.push(MECHS[usize::from(s.u8()) % MECHS.len()]);
            }
            let sep = if s.bool() { "," } else { " " };
            xdr::to_bytes(&remote::AuthSaslInitRet {
                mechlist: list.join(sep).into(),
            })
        }
        p if p == P::AuthSaslStart as i32 || p == P::AuthSaslStep as i32 => {
            xdr::to_bytes(&remote::AuthSaslStartRet {
                complete: i32::from(s.u8() % 2),
                nil: i32::from(s.u8() % 2),
                data: data(s),
            })
        }
        p if p == P::AuthPolkit as i32 => xdr::to_bytes(&remote::AuthPolkitRet {
            complete: i32::from(s.u8() % 2),
        }),
        p if p == P::ConnectSupportsFeature as i32 => {
            xdr::to_bytes(&remote::ConnectSupportsFeatureRet {
                supported: i32::from(s.u8() % 2),
            })
        }
        _ => Ok(Vec::new()),
    };
    r.expect("a reply encodes")
}

/// Opens a connection ([`Opener`] over [`ClientAuth`], with none, polkit
/// or a scripted SASL mechanism, given up front or chosen from the
/// daemon's list, built at once or by a job, with or without a security
/// layer) against a daemon whose replies the script writes: well-formed
/// replies with scripted values, errors, raw bytes, EOF, timers; the
/// blocking jobs run (or are lost) when the script says.
///
/// Checks: the handshake has at most one call in flight; once it has
/// ended (open or failed) it owns no event and makes no call; `Open {
/// keepalive: true }` only with keepalive running; the client's output
/// is valid framing (through the layer once there is one); at EOF an
/// unfinished handshake fails.
pub fn client_auth_open(data: &[u8]) {
    let mut s = Bytes::new(data);
    let mut now = Instant::now();
    let mut c = ClientEngine::new(now);
    let switched = Arc::new(AtomicBool::new(false));

    let cfg = s.u8();
    let all = [AuthMethod::Sasl, AuthMethod::Polkit, AuthMethod::None];
    let wanted: Vec<AuthMethod> = (0..3)
        .filter(|i| cfg & (1 << i) != 0)
        .map(|i| all[(i + usize::from(cfg >> 6)) % 3])
        .collect();
    let mech = ScriptedMech {
        name: MECHS[usize::from(s.u8()) % MECHS.len()],
        script: s.short().to_vec(),
        at: 0,
        layer: cfg & 8 != 0,
        switched: switched.clone(),
    };
    let auth = match cfg & 0x30 {
        0x00 => ClientAuth::new(wanted, Some(Box::new(mech))),
        0x10 => ClientAuth::new(wanted, None),
        f => ClientAuth::with_chooser(
            wanted,
            Box::new(Chooser {
                mech: Some(mech),
                deferred: f == 0x30,
            }),
        ),
    };
    let keepalive = s.bool().then_some((Duration::from_secs(5), 3));
    let name = s.bool().then(|| "qemu:///system".to_owned());
    let mut opener = Opener::new(auth, name, 0, keepalive);
    opener.start(&mut c).expect("a new engine takes a call");

    let mut status = OpenStatus::InProgress;
    let mut job: Option<AuthJob> = None;
    // The last call written, and whether the client wrote through the
    // layer yet.
    let mut last_call: Option<Header> = None;
    let mut steps = 0;
    loop {
        // What the client wrote.
        let ended = status != OpenStatus::InProgress;
        while let Some(t) = c.poll_transmit() {
            for f in written_frames(t.bytes, switched.load(Ordering::SeqCst)) {
                if f.header.kind == MessageType::Call {
                    assert!(!ended, "a call after the handshake ended: {:?}", f.header);
                    last_call = Some(f.header);
                }
            }
        }
        assert!(
            c.pending_calls() <= 1,
            "more than one handshake call in flight"
        );
        if s.is_empty() || steps >= 200 {
            break;
        }
        steps += 1;
        let mut input = Vec::new();
        match s.u8() % 10 {
            0..=3 => {
                if let Some(h) = last_call {
                    let body = if s.u8() < 0xf0 {
                        reply_body(&mut s, h.procedure)
                    } else {
                        s.short().to_vec()
                    };
                    let reply = Header {
                        kind: MessageType::Reply,
                        status: MessageStatus::Ok,
                        ..h
                    };
                    input = Frame::new(reply, body).encode();
                }
            }
            4 => {
                if let Some(h) = last_call {
                    let reply = Header {
                        kind: MessageType::Reply,
                        status: MessageStatus::Error,
                        ..h
                    };
                    input = Frame::new(reply, vec![0; 44]).encode();
                }
            }
            5 => input = s.long().to_vec(),
            6 => c.handle_eof(),
            7 => {
                now += Duration::from_millis(u64::from(s.u16()) * 10);
                c.handle_timeout(now);
            }
            8 => {
                if let Some(j) = job.take() {
                    let out = j.run();
                    let st = opener.finish_job(&mut c, out);
                    status = advance(status, st);
                }
            }
            _ => {
                if let Some(_j) = job.take() {
                    let st = opener.finish_job(&mut c, AuthJobOutput::lost("lost"));
                    status = advance(status, st);
                }
            }
        }
        if !input.is_empty() {
            if switched.load(Ordering::SeqCst) {
                let mut l = (input.len() as u32).to_be_bytes().to_vec();
                l.extend_from_slice(&input);
                input = l;
            }
            c.handle_input(&input, now);
        }
        while let Some(e) = c.poll_event() {
            if opener.owns(&e) {
                assert_eq!(status, OpenStatus::InProgress, "owns {e:?} after the end");
                let st = opener.handle(&mut c, e, now);
                status = advance(status, st);
            } else if let Event::Reply { serial, .. } = e {
                assert!(
                    status != OpenStatus::InProgress,
                    "a reply to {serial} the handshake in progress does not own"
                );
            }
        }
        if let Some(j) = opener.take_job() {
            assert!(job.is_none(), "a second job while one is pending");
            assert_eq!(status, OpenStatus::InProgress, "a job after the end");
            job = Some(j);
        }
        if let OpenStatus::Open { keepalive: true } = status {
            assert!(
                c.poll_timeout().is_some() || c.is_closed(),
                "keepalive not running"
            );
        }
    }
    c.handle_eof();
    while let Some(e) = c.poll_event() {
        if opener.owns(&e) {
            let st = opener.handle(&mut c, e, now);
            status = advance(status, st);
        }
    }
    // With the connection gone, a handshake still in progress waits for
    // nothing but its job.
    assert!(
        job.is_some() || status != OpenStatus::InProgress,
        "the handshake neither ended nor waits for its job at EOF"
    );
}

/// The handshake's status after `new`; a finished one stays finished.
fn advance(old: OpenStatus, new: OpenStatus) -> OpenStatus {
    match (&old, &new) {
        (OpenStatus::InProgress, _) => new,
        (_, OpenStatus::InProgress) => old,
        _ => panic!("the handshake ended twice: {old:?}, then {new:?}"),
    }
}
