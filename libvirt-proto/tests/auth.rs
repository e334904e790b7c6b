//! Authentication between a client and a server engine: none, polkit,
//! SASL through pluggable mechanisms (given up front or chosen from the
//! daemon's list), and a clear failure when the wanted method is not
//! offered.

use std::time::Instant;

use std::sync::{Arc, Mutex};

use libvirt_proto::engine::auth::{
    AuthError, AuthMethod, AuthStatus, ClientAuth, MechanismChoice, SaslMechanism,
    SaslMechanismChooser, SaslServer, SaslServerStep, ServerAuth, ServerAuthOutcome,
};
use libvirt_proto::engine::layer::{LayerError, SecurityLayer};
use libvirt_proto::engine::{
    CallError, ClientEngine, CloseReason, Event, ProtocolError, ServerEngine, ServerEvent,
};
use libvirt_proto::error_codes::ErrorNumber;
use libvirt_proto::remote::program::procs;

/// A PLAIN client: `\0user\0password` as the initial response.
struct Plain(&'static str, &'static str);

impl SaslMechanism for Plain {
    fn name(&self) -> &str {
        "PLAIN"
    }
    fn start(&mut self) -> Result<Option<Vec<u8>>, String> {
        Ok(Some(format!("\0{}\0{}", self.0, self.1).into_bytes()))
    }
    fn step(&mut self, _: Option<&[u8]>) -> Result<Option<Vec<u8>>, String> {
        Err("PLAIN has no further steps".into())
    }
}

/// A server checking PLAIN against one account, offering two mechanisms;
/// a second mechanism with a challenge round shows multi-step exchanges.
struct Accounts;

impl SaslServer for Accounts {
    fn mechanisms(&self) -> String {
        "ECHO PLAIN".into()
    }
    fn start(
        &mut self,
        mechanism: &str,
        response: Option<&[u8]>,
    ) -> Result<SaslServerStep, String> {
        match mechanism {
            "PLAIN" if response == Some(b"\0alice\0secret") => Ok(SaslServerStep::Done(None)),
            "PLAIN" => Err("bad credentials".into()),
            "ECHO" => Ok(SaslServerStep::Continue(Some(b"say hello".to_vec()))),
            _ => Err("unknown mechanism".into()),
        }
    }
    fn step(&mut self, response: Option<&[u8]>) -> Result<SaslServerStep, String> {
        if response == Some(b"hello") {
            Ok(SaslServerStep::Done(Some(b"welcome".to_vec())))
        } else {
            Err("wrong answer".into())
        }
    }
}

/// A two-step mechanism: answers the server's challenge.
struct Echo {
    finals: Vec<Vec<u8>>,
}

impl SaslMechanism for Echo {
    fn name(&self) -> &str {
        "ECHO"
    }
    fn start(&mut self) -> Result<Option<Vec<u8>>, String> {
        Ok(None)
    }
    fn step(&mut self, challenge: Option<&[u8]>) -> Result<Option<Vec<u8>>, String> {
        match challenge {
            Some(b"say hello") => Ok(Some(b"hello".to_vec())),
            Some(other) => {
                self.finals.push(other.to_vec());
                Ok(None)
            }
            None => Err("expected a challenge".into()),
        }
    }
}

/// Runs the exchange to its end, the server answering through `auth`, and
/// then makes an ordinary call; returns the auth status and whether that
/// call was served.
fn run(mut client_auth: ClientAuth, mut server_auth: ServerAuth) -> (AuthStatus, bool) {
    let now = Instant::now();
    let mut c = ClientEngine::new(now);
    let mut s = ServerEngine::new(now);
    client_auth.start(&mut c).unwrap();
    let mut status = AuthStatus::InProgress;
    let mut served = false;
    let mut ordinary = None;
    for _ in 0..20 {
        while let Some(t) = c.poll_transmit() {
            s.handle_input(&t.bytes, now);
        }
        while let Some(ServerEvent::Call { header, call, .. }) = s.poll_event() {
            if server_auth.handle_call(&mut s, &header, &call).unwrap() == ServerAuthOutcome::Pass {
                s.reply(&header, &11_003_000u64).unwrap();
            }
        }
        while let Some(t) = s.poll_transmit() {
            c.handle_input(&t.bytes, now);
        }
        while let Some(e) = c.poll_event() {
            if client_auth.owns(&e) {
                status = client_auth.handle(&mut c, e);
                // Mechanism work runs off the I/O path; here at once.
                while let Some(job) = client_auth.take_job() {
                    status = client_auth.finish_job(&mut c, job.run());
                }
                if status != AuthStatus::InProgress {
                    ordinary = Some(c.call::<procs::ConnectGetLibVersion>(&()).unwrap());
                }
            } else if let Event::Reply { serial, result, .. } = e {
                if Some(serial) == ordinary {
                    served = match result {
                        Ok(_) => true,
                        Err(CallError::Remote(e)) => {
                            assert_eq!(e.code, ErrorNumber::ERR_RPC);
                            false
                        }
                        Err(other) => panic!("{other:?}"),
                    };
                    return (status, served);
                }
            }
        }
    }
    (status, served)
}

#[test]
fn no_authentication() {
    let (status, served) = run(
        ClientAuth::new(vec![AuthMethod::None], None),
        ServerAuth::none(),
    );
    assert_eq!(status, AuthStatus::Done(AuthMethod::None));
    assert!(served);
}

#[test]
fn polkit_allowed_and_denied() {
    let (status, served) = run(
        ClientAuth::new(vec![AuthMethod::Polkit], None),
        ServerAuth::polkit(Box::new(|| true)),
    );
    assert_eq!(status, AuthStatus::Done(AuthMethod::Polkit));
    assert!(served);
    let (status, served) = run(
        ClientAuth::new(vec![AuthMethod::Polkit], None),
        ServerAuth::polkit(Box::new(|| false)),
    );
    assert!(
        matches!(&status, AuthStatus::Failed(AuthError::Call(e)) if matches!(**e, CallError::Remote(_))),
        "{status:?}"
    );
    assert!(!served, "calls stay refused");
}

#[test]
fn sasl_plain_succeeds_with_the_right_password_only() {
    let (status, served) = run(
        ClientAuth::new(
            vec![AuthMethod::Sasl],
            Some(Box::new(Plain("alice", "secret"))),
        ),
        ServerAuth::sasl(Box::new(Accounts)),
    );
    assert_eq!(status, AuthStatus::Done(AuthMethod::Sasl));
    assert!(served);
    let (status, served) = run(
        ClientAuth::new(
            vec![AuthMethod::Sasl],
            Some(Box::new(Plain("alice", "wrong"))),
        ),
        ServerAuth::sasl(Box::new(Accounts)),
    );
    assert!(
        matches!(status, AuthStatus::Failed(AuthError::Call(_))),
        "{status:?}"
    );
    assert!(!served);
}

#[test]
fn sasl_with_several_steps() {
    let (status, served) = run(
        ClientAuth::new(
            vec![AuthMethod::Sasl],
            Some(Box::new(Echo { finals: vec![] })),
        ),
        ServerAuth::sasl(Box::new(Accounts)),
    );
    assert_eq!(status, AuthStatus::Done(AuthMethod::Sasl));
    assert!(served);
}

#[test]
fn a_wanted_method_that_is_not_offered_fails_clearly() {
    let (status, served) = run(
        ClientAuth::new(vec![AuthMethod::Polkit], None),
        ServerAuth::sasl(Box::new(Accounts)),
    );
    assert_eq!(
        status,
        AuthStatus::Failed(AuthError::NotOffered {
            offered: vec![AuthMethod::Sasl],
            wanted: vec![AuthMethod::Polkit]
        })
    );
    assert!(!served, "the daemon still refuses calls");
}

#[test]
fn a_mechanism_the_daemon_lacks_fails_clearly() {
    struct Scram;
    impl SaslMechanism for Scram {
        fn name(&self) -> &str {
            "SCRAM-SHA-256"
        }
        fn start(&mut self) -> Result<Option<Vec<u8>>, String> {
            Ok(None)
        }
        fn step(&mut self, _: Option<&[u8]>) -> Result<Option<Vec<u8>>, String> {
            Ok(None)
        }
    }
    let (status, _) = run(
        ClientAuth::new(vec![AuthMethod::Sasl], Some(Box::new(Scram))),
        ServerAuth::sasl(Box::new(Accounts)),
    );
    match status {
        AuthStatus::Failed(AuthError::Mechanism(m)) => assert!(m.contains("ECHO PLAIN"), "{m}"),
        other => panic!("{other:?}"),
    }
}

/// Picks from the daemon's list, recording it.
struct Pick {
    seen: Arc<Mutex<Vec<String>>>,
    refuse: bool,
}

impl SaslMechanismChooser for Pick {
    fn choose(&mut self, offered: &[&str]) -> Result<Box<dyn SaslMechanism>, AuthError> {
        *self.seen.lock().unwrap() = offered.iter().map(|m| (*m).to_owned()).collect();
        if self.refuse {
            return Err(AuthError::Mechanism("nothing fits".into()));
        }
        if offered.contains(&"PLAIN") {
            Ok(Box::new(Plain("alice", "secret")))
        } else {
            Ok(Box::new(Echo { finals: vec![] }))
        }
    }
}

#[test]
fn a_chooser_builds_the_mechanism_from_the_offered_list() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (status, served) = run(
        ClientAuth::with_chooser(
            vec![AuthMethod::None, AuthMethod::Sasl],
            Box::new(Pick {
                seen: seen.clone(),
                refuse: false,
            }),
        ),
        ServerAuth::sasl(Box::new(Accounts)),
    );
    assert_eq!(status, AuthStatus::Done(AuthMethod::Sasl));
    assert!(served);
    assert_eq!(*seen.lock().unwrap(), ["ECHO", "PLAIN"]);
}

#[test]
fn a_chooser_that_finds_nothing_ends_authentication() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (status, served) = run(
        ClientAuth::with_chooser(
            vec![AuthMethod::Sasl],
            Box::new(Pick {
                seen: seen.clone(),
                refuse: true,
            }),
        ),
        ServerAuth::sasl(Box::new(Accounts)),
    );
    assert_eq!(
        status,
        AuthStatus::Failed(AuthError::Mechanism("nothing fits".into()))
    );
    assert!(!served, "the daemon still refuses calls");
}

#[test]
fn a_chooser_is_not_consulted_when_sasl_is_not_needed() {
    let seen = Arc::new(Mutex::new(vec!["untouched".to_owned()]));
    let (status, served) = run(
        ClientAuth::with_chooser(
            vec![AuthMethod::None, AuthMethod::Polkit, AuthMethod::Sasl],
            Box::new(Pick {
                seen: seen.clone(),
                refuse: true,
            }),
        ),
        ServerAuth::polkit(Box::new(|| true)),
    );
    assert_eq!(status, AuthStatus::Done(AuthMethod::Polkit));
    assert!(served);
    assert_eq!(*seen.lock().unwrap(), ["untouched"]);
}

/// A mechanism that authenticates the server: complete only once it has
/// seen the server's proof.
struct Mutual {
    verified: bool,
}

impl SaslMechanism for Mutual {
    fn name(&self) -> &str {
        "MUTUAL"
    }
    fn start(&mut self) -> Result<Option<Vec<u8>>, String> {
        Ok(Some(b"hello".to_vec()))
    }
    fn step(&mut self, challenge: Option<&[u8]>) -> Result<Option<Vec<u8>>, String> {
        match challenge {
            Some(b"proof") => {
                self.verified = true;
                Ok(None)
            }
            _ => Err("bad server proof".into()),
        }
    }
    fn is_complete(&self) -> bool {
        self.verified
    }
}

/// A server that ends the exchange at once, with `last` as its final data.
struct Hasty {
    last: Option<&'static [u8]>,
}

impl SaslServer for Hasty {
    fn mechanisms(&self) -> String {
        "MUTUAL".into()
    }
    fn start(&mut self, _: &str, _: Option<&[u8]>) -> Result<SaslServerStep, String> {
        Ok(SaslServerStep::Done(self.last.map(<[u8]>::to_vec)))
    }
    fn step(&mut self, _: Option<&[u8]>) -> Result<SaslServerStep, String> {
        Err("no steps".into())
    }
}

#[test]
fn a_daemon_must_prove_itself_to_a_mutual_mechanism() {
    // With its proof: done.
    let (status, _) = run(
        ClientAuth::new(
            vec![AuthMethod::Sasl],
            Some(Box::new(Mutual { verified: false })),
        ),
        ServerAuth::sasl(Box::new(Hasty {
            last: Some(b"proof"),
        })),
    );
    assert_eq!(status, AuthStatus::Done(AuthMethod::Sasl));
    // Claiming success without it: not believed.
    let (status, _) = run(
        ClientAuth::new(
            vec![AuthMethod::Sasl],
            Some(Box::new(Mutual { verified: false })),
        ),
        ServerAuth::sasl(Box::new(Hasty { last: None })),
    );
    match status {
        AuthStatus::Failed(AuthError::Sasl(m)) => {
            assert!(m.contains("before it was complete"), "{m}")
        }
        other => panic!("{other:?}"),
    }
    // A wrong proof: the mechanism's own error.
    let (status, _) = run(
        ClientAuth::new(
            vec![AuthMethod::Sasl],
            Some(Box::new(Mutual { verified: false })),
        ),
        ServerAuth::sasl(Box::new(Hasty {
            last: Some(b"forged"),
        })),
    );
    assert_eq!(
        status,
        AuthStatus::Failed(AuthError::Sasl("bad server proof".into()))
    );
}

/// A daemon that lists SASL but refuses `AUTH_SASL_INIT`, as libvirtd
/// does over plain tcp when no mechanism has the security layer it
/// requires; returns where the client's authentication ends.
fn run_refusing_sasl_init(mut client_auth: ClientAuth) -> AuthStatus {
    use libvirt_proto::dispatch::Call;
    use libvirt_proto::error::RemoteError;
    use libvirt_proto::error_codes::ErrorDomain;
    use libvirt_proto::remote::{self, program::Call as C, AuthType};

    let now = Instant::now();
    let mut c = ClientEngine::new(now);
    let mut s = ServerEngine::new(now);
    client_auth.start(&mut c).unwrap();
    for _ in 0..10 {
        while let Some(t) = c.poll_transmit() {
            s.handle_input(&t.bytes, now);
        }
        while let Some(ServerEvent::Call { header, call, .. }) = s.poll_event() {
            match call {
                Call::Remote(C::AuthList(())) => s
                    .reply(
                        &header,
                        &remote::AuthListRet {
                            types: vec![AuthType::Sasl],
                        },
                    )
                    .unwrap(),
                Call::Remote(C::AuthSaslInit(())) => s
                    .reply_error(
                        &header,
                        RemoteError::new(
                            ErrorNumber::ERR_AUTH_FAILED,
                            ErrorDomain::AUTH,
                            "authentication failed",
                        ),
                    )
                    .unwrap(),
                other => panic!("unexpected call {other:?}"),
            }
        }
        while let Some(t) = s.poll_transmit() {
            c.handle_input(&t.bytes, now);
        }
        while let Some(e) = c.poll_event() {
            assert!(client_auth.owns(&e), "{e:?}");
            let mut status = client_auth.handle(&mut c, e);
            while let Some(job) = client_auth.take_job() {
                status = client_auth.finish_job(&mut c, job.run());
            }
            if status != AuthStatus::InProgress {
                return status;
            }
        }
    }
    panic!("authentication did not end");
}

/// Explains a refused `AUTH_SASL_INIT` its own way.
struct Explains;

impl SaslMechanismChooser for Explains {
    fn choose(&mut self, _: &[&str]) -> Result<Box<dyn SaslMechanism>, AuthError> {
        panic!("no list was offered");
    }
    fn init_refused(&mut self, refusal: CallError) -> AuthError {
        AuthError::Mechanism(format!("explained: {refusal}"))
    }
}

#[test]
fn a_refused_sasl_init_goes_through_the_chooser() {
    // The default: the daemon's refusal as is.
    let seen = Arc::new(Mutex::new(vec!["untouched".to_owned()]));
    let status = run_refusing_sasl_init(ClientAuth::with_chooser(
        vec![AuthMethod::Sasl],
        Box::new(Pick {
            seen: seen.clone(),
            refuse: false,
        }),
    ));
    match &status {
        AuthStatus::Failed(AuthError::Call(e)) => match &**e {
            CallError::Remote(r) => assert_eq!(r.code, ErrorNumber::ERR_AUTH_FAILED),
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
    assert_eq!(*seen.lock().unwrap(), ["untouched"]);
    // A chooser that knows more about the connection says so.
    let status = run_refusing_sasl_init(ClientAuth::with_chooser(
        vec![AuthMethod::Sasl],
        Box::new(Explains),
    ));
    match &status {
        AuthStatus::Failed(AuthError::Mechanism(m)) => {
            assert!(
                m.starts_with("explained: ") && m.contains("authentication failed"),
                "{m}"
            )
        }
        other => panic!("{other:?}"),
    }
    // A mechanism given up front has no chooser: the refusal as is.
    let status = run_refusing_sasl_init(ClientAuth::new(
        vec![AuthMethod::Sasl],
        Some(Box::new(Plain("alice", "secret"))),
    ));
    assert!(
        matches!(&status, AuthStatus::Failed(AuthError::Call(_))),
        "{status:?}"
    );
}

/// A toy security layer: bytes XORed with a key, a checksum byte after
/// them; packets of at most `max` plaintext bytes.
struct Xor {
    key: u8,
    max: usize,
    packets: Arc<Mutex<usize>>,
}

impl SecurityLayer for Xor {
    fn max_plaintext(&self) -> usize {
        self.max
    }
    fn max_packet(&self) -> usize {
        self.max + 1
    }
    fn encode(&mut self, plain: &[u8]) -> Result<Vec<u8>, String> {
        *self.packets.lock().unwrap() += 1;
        let mut out: Vec<u8> = plain.iter().map(|b| b ^ self.key).collect();
        out.push(plain.iter().fold(0u8, |a, b| a.wrapping_add(*b)));
        Ok(out)
    }
    fn decode(&mut self, packet: &[u8]) -> Result<Vec<u8>, String> {
        let (sum, body) = packet.split_last().ok_or("empty packet")?;
        let plain: Vec<u8> = body.iter().map(|b| b ^ self.key).collect();
        if plain.iter().fold(0u8, |a, b| a.wrapping_add(*b)) != *sum {
            return Err("checksum mismatch".into());
        }
        Ok(plain)
    }
}

fn xor(packets: &Arc<Mutex<usize>>) -> Box<dyn SecurityLayer> {
    Box::new(Xor {
        key: 0xa5,
        max: 16,
        packets: packets.clone(),
    })
}

/// A one-step mechanism that negotiates the [`Xor`] layer.
struct Layered {
    packets: Arc<Mutex<usize>>,
}

impl SaslMechanism for Layered {
    fn name(&self) -> &str {
        "LAYERED"
    }
    fn start(&mut self) -> Result<Option<Vec<u8>>, String> {
        Ok(Some(b"hi".to_vec()))
    }
    fn step(&mut self, _: Option<&[u8]>) -> Result<Option<Vec<u8>>, String> {
        Ok(None)
    }
    fn security_layer(&mut self) -> Option<Box<dyn SecurityLayer>> {
        Some(xor(&self.packets))
    }
}

struct LayeredServer {
    packets: Arc<Mutex<usize>>,
}

impl SaslServer for LayeredServer {
    fn mechanisms(&self) -> String {
        "LAYERED".into()
    }
    fn start(&mut self, _: &str, _: Option<&[u8]>) -> Result<SaslServerStep, String> {
        // The final reply carries data: it must still go out in clear.
        Ok(SaslServerStep::Done(Some(b"welcome".to_vec())))
    }
    fn step(&mut self, _: Option<&[u8]>) -> Result<SaslServerStep, String> {
        Err("no steps".into())
    }
    fn security_layer(&mut self) -> Option<Box<dyn SecurityLayer>> {
        Some(xor(&self.packets))
    }
}

#[test]
fn a_negotiated_security_layer_carries_everything_after_authentication() {
    let client_packets = Arc::new(Mutex::new(0));
    let server_packets = Arc::new(Mutex::new(0));
    let (status, served) = run(
        ClientAuth::new(
            vec![AuthMethod::Sasl],
            Some(Box::new(Layered {
                packets: client_packets.clone(),
            })),
        ),
        ServerAuth::sasl(Box::new(LayeredServer {
            packets: server_packets.clone(),
        })),
    );
    assert_eq!(status, AuthStatus::Done(AuthMethod::Sasl));
    assert!(served);
    // The call after authentication (a 28-byte header, no body) went out
    // in 16-byte pieces, and so did its reply (with an 8-byte body): the
    // two sides switched at the same point in the byte stream.
    assert_eq!(*client_packets.lock().unwrap(), 2);
    assert_eq!(*server_packets.lock().unwrap(), 3);
}

#[test]
fn a_corrupted_layer_packet_ends_the_connection() {
    let now = Instant::now();
    let mut c = ClientEngine::new(now);
    let packets = Arc::new(Mutex::new(0));
    c.set_security_layer(xor(&packets));
    assert!(c.has_security_layer());
    let serial = c.call::<procs::ConnectGetLibVersion>(&()).unwrap();
    let sent = c.poll_transmit().unwrap().bytes;
    // 4 + 16 + 1, then 4 + 12 + 1 bytes.
    assert_eq!(sent.len(), 38);
    assert_eq!(&sent[..4], &17u32.to_be_bytes());
    // A packet whose checksum is wrong.
    c.handle_input(&[0, 0, 0, 3, 1, 2, 3], now);
    let mut saw = Vec::new();
    while let Some(e) = c.poll_event() {
        saw.push(e);
    }
    assert!(
        matches!(&saw[0], Event::Reply { serial: s, result: Err(CallError::ConnectionLost(_)), .. } if *s == serial),
        "{saw:?}"
    );
    assert!(
        matches!(&saw[1], Event::Closed(CloseReason::Protocol(ProtocolError::SecurityLayer(LayerError::Mechanism(m)))) if m == "checksum mismatch"),
        "{saw:?}"
    );
    // An announced packet beyond what was negotiated is refused at once.
    let mut c = ClientEngine::new(now);
    c.set_security_layer(xor(&packets));
    c.handle_input(&[0, 0, 1, 0], now);
    assert!(matches!(
        c.poll_event(),
        Some(Event::Closed(CloseReason::Protocol(
            ProtocolError::SecurityLayer(LayerError::PacketTooLong {
                length: 256,
                max: 17
            })
        )))
    ));
}

#[test]
fn bytes_received_before_the_layer_takes_over_end_the_connection() {
    let now = Instant::now();
    let mut c = ClientEngine::new(now);
    // Half a frame, received in clear before the switch.
    c.handle_input(&[0, 0, 0, 28, 0x20], now);
    c.set_security_layer(xor(&Arc::new(Mutex::new(0))));
    assert!(!c.has_security_layer());
    assert!(matches!(
        c.poll_event(),
        Some(Event::Closed(CloseReason::Protocol(
            ProtocolError::SecurityLayer(LayerError::EarlyData { bytes: 5 })
        )))
    ));
}

/// A mechanism that always has something to say.
struct Chatty;

impl SaslMechanism for Chatty {
    fn name(&self) -> &str {
        "LAYERED"
    }
    fn start(&mut self) -> Result<Option<Vec<u8>>, String> {
        Ok(Some(b"hi".to_vec()))
    }
    fn step(&mut self, _: Option<&[u8]>) -> Result<Option<Vec<u8>>, String> {
        Ok(Some(b"and another thing".to_vec()))
    }
}

#[test]
fn a_daemon_that_ends_the_exchange_while_the_client_has_more_to_say_is_refused() {
    // The server's final reply carries data ("welcome") that the client
    // mechanism answers: that answer would never be read.
    let (status, _) = run(
        ClientAuth::new(vec![AuthMethod::Sasl], Some(Box::new(Chatty))),
        ServerAuth::sasl(Box::new(LayeredServer {
            packets: Arc::new(Mutex::new(0)),
        })),
    );
    match status {
        AuthStatus::Failed(AuthError::Sasl(m)) => {
            assert!(m.contains("while the client had more to say"), "{m}")
        }
        other => panic!("{other:?}"),
    }
}

/// Builds its mechanism in a job, as a chooser does when building may
/// block (Kerberos); the job fails when `job_fails`, and the chooser then
/// falls back to PLAIN.
struct Deferring {
    job_fails: bool,
    fallbacks: Arc<Mutex<Vec<String>>>,
}

impl SaslMechanismChooser for Deferring {
    fn choose(&mut self, _: &[&str]) -> Result<Box<dyn SaslMechanism>, AuthError> {
        unreachable!("choose_deferred is used")
    }
    fn choose_deferred(&mut self, _: &[&str]) -> Result<MechanismChoice, AuthError> {
        let fails = self.job_fails;
        Ok(MechanismChoice::Deferred(Box::new(move || {
            if fails {
                Err(AuthError::Mechanism("no ticket".into()))
            } else {
                Ok(Box::new(Echo { finals: vec![] }) as Box<dyn SaslMechanism>)
            }
        })))
    }
    fn deferred_failed(
        &mut self,
        offered: &[&str],
        error: AuthError,
    ) -> Result<Box<dyn SaslMechanism>, AuthError> {
        self.fallbacks
            .lock()
            .unwrap()
            .push(format!("{error} / {}", offered.join(" ")));
        Ok(Box::new(Plain("alice", "secret")))
    }
}

#[test]
fn a_mechanism_built_by_a_job_continues_the_exchange() {
    for job_fails in [false, true] {
        let fallbacks = Arc::new(Mutex::new(Vec::new()));
        let mut auth = ClientAuth::with_chooser(
            vec![AuthMethod::Sasl],
            Box::new(Deferring {
                job_fails,
                fallbacks: fallbacks.clone(),
            }),
        );
        // Nothing to take before the daemon has listed its mechanisms.
        assert!(auth.take_job().is_none());
        let (status, served) = run(auth, ServerAuth::sasl(Box::new(Accounts)));
        assert_eq!(status, AuthStatus::Done(AuthMethod::Sasl), "{job_fails}");
        assert!(served);
        let expected: Vec<String> = if job_fails {
            vec!["SASL mechanism: no ticket / ECHO PLAIN".into()]
        } else {
            vec![]
        };
        assert_eq!(*fallbacks.lock().unwrap(), expected);
    }
}

/// The status after the daemon answers `AUTH_LIST` with `types`.
fn answer_auth_list(wanted: Vec<AuthMethod>, types: Vec<i32>) -> AuthStatus {
    let now = Instant::now();
    let mut c = ClientEngine::new(now);
    let mut auth = ClientAuth::new(wanted, None);
    auth.start(&mut c).unwrap();
    let call = c.poll_transmit().unwrap().bytes;
    // The call's header turned into a reply (type 1, status 0), then
    // remote_auth_list_ret: a variable array of enum values, written by
    // hand so that values this client does not know can be sent.
    let mut reply = call[..28].to_vec();
    reply[16..20].copy_from_slice(&1u32.to_be_bytes());
    reply[24..28].copy_from_slice(&0u32.to_be_bytes());
    reply.extend_from_slice(&(types.len() as u32).to_be_bytes());
    for t in types {
        reply.extend_from_slice(&t.to_be_bytes());
    }
    let len = reply.len() as u32;
    reply[..4].copy_from_slice(&len.to_be_bytes());
    c.handle_input(&reply, now);
    let e = c.poll_event().unwrap();
    assert!(auth.owns(&e));
    auth.handle(&mut c, e)
}

#[test]
fn a_demanded_method_is_never_downgraded_to_none() {
    // A daemon (or anyone in the path) offering only `none` to a client
    // that demands SASL.
    let status = answer_auth_list(vec![AuthMethod::Sasl], vec![0]);
    let AuthStatus::Failed(e) = status else {
        panic!("{status:?}")
    };
    assert_eq!(
        e,
        AuthError::NotOffered {
            offered: vec![AuthMethod::None],
            wanted: vec![AuthMethod::Sasl]
        }
    );
    assert_eq!(
        e.to_string(),
        "authentication failed: the daemon offers [None], but only [Sasl] may be used"
    );
    // An empty list is "nothing to do" only when `none` is acceptable.
    let status = answer_auth_list(vec![AuthMethod::Sasl], vec![]);
    assert!(
        matches!(&status, AuthStatus::Failed(e) if e.to_string().contains("offers no authentication method")),
        "{status:?}"
    );
    assert_eq!(
        answer_auth_list(vec![AuthMethod::None, AuthMethod::Sasl], vec![]),
        AuthStatus::Done(AuthMethod::None)
    );
    // `none` on offer and acceptable: nothing to do.
    assert_eq!(
        answer_auth_list(vec![AuthMethod::None, AuthMethod::Sasl], vec![1, 0]),
        AuthStatus::Done(AuthMethod::None)
    );
    // A method value this client does not know is not `none`.
    assert!(matches!(
        answer_auth_list(vec![AuthMethod::Polkit], vec![7]),
        AuthStatus::Failed(_)
    ));
}

#[test]
fn mechanism_steps_wait_for_their_job() {
    let now = Instant::now();
    let mut c = ClientEngine::new(now);
    let mut s = ServerEngine::new(now);
    let mut client_auth = ClientAuth::new(
        vec![AuthMethod::Sasl],
        Some(Box::new(Echo { finals: vec![] })),
    );
    let mut server_auth = ServerAuth::sasl(Box::new(Accounts));
    client_auth.start(&mut c).unwrap();
    let mut jobs = 0;
    let mut status = AuthStatus::InProgress;
    while status == AuthStatus::InProgress {
        let mut sent = false;
        while let Some(t) = c.poll_transmit() {
            sent = true;
            s.handle_input(&t.bytes, now);
        }
        assert!(sent, "the exchange stalled");
        while let Some(ServerEvent::Call { header, call, .. }) = s.poll_event() {
            server_auth.handle_call(&mut s, &header, &call).unwrap();
        }
        while let Some(t) = s.poll_transmit() {
            c.handle_input(&t.bytes, now);
        }
        while let Some(e) = c.poll_event() {
            status = client_auth.handle(&mut c, e);
            if let Some(job) = client_auth.take_job() {
                // Until the job's output comes back, nothing is sent.
                assert!(c.poll_transmit().is_none());
                jobs += 1;
                status = client_auth.finish_job(&mut c, job.run());
            }
        }
    }
    assert_eq!(status, AuthStatus::Done(AuthMethod::Sasl));
    // ECHO's start, its answer to the challenge, and the final message.
    assert_eq!(jobs, 3);
}

#[test]
fn a_lost_job_fails_authentication() {
    use libvirt_proto::engine::auth::AuthJobOutput;
    let now = Instant::now();
    let mut c = ClientEngine::new(now);
    let mut s = ServerEngine::new(now);
    let mut client_auth = ClientAuth::new(
        vec![AuthMethod::Sasl],
        Some(Box::new(Plain("alice", "secret"))),
    );
    let mut server_auth = ServerAuth::sasl(Box::new(Accounts));
    client_auth.start(&mut c).unwrap();
    loop {
        while let Some(t) = c.poll_transmit() {
            s.handle_input(&t.bytes, now);
        }
        while let Some(ServerEvent::Call { header, call, .. }) = s.poll_event() {
            server_auth.handle_call(&mut s, &header, &call).unwrap();
        }
        while let Some(t) = s.poll_transmit() {
            c.handle_input(&t.bytes, now);
        }
        let e = c.poll_event().unwrap();
        assert_eq!(client_auth.handle(&mut c, e), AuthStatus::InProgress);
        if client_auth.take_job().is_some() {
            let status = client_auth.finish_job(&mut c, AuthJobOutput::lost("thread gone"));
            assert_eq!(
                status,
                AuthStatus::Failed(AuthError::Sasl("thread gone".into()))
            );
            return;
        }
    }
}

#[test]
fn the_server_refuses_a_second_authentication() {
    use libvirt_proto::dispatch::Call;
    use libvirt_proto::remote::{self, AuthType};
    let now = Instant::now();
    let mut s = ServerEngine::new(now);
    let mut c = ClientEngine::new(now);
    let mut server_auth = ServerAuth::sasl(Box::new(Accounts));
    // Calls of a client that skips or repeats steps, with what the server
    // must answer: (call, accepted).
    let plain = remote::AuthSaslStartArgs {
        mech: "PLAIN".into(),
        nil: 0,
        data: b"\0alice\0secret".iter().map(|&b| b as i8).collect(),
    };
    let step = remote::AuthSaslStepArgs {
        nil: 0,
        data: b"hello".iter().map(|&b| b as i8).collect(),
    };
    type MakeCall<'a> = Box<dyn Fn(&mut ClientEngine) -> u32 + 'a>;
    let script: Vec<(MakeCall<'_>, bool)> = vec![
        // A step before any start.
        (
            Box::new(|c| c.call::<procs::AuthSaslStep>(&step).unwrap()),
            false,
        ),
        // A start before the mechanisms were listed.
        (
            Box::new(|c| c.call::<procs::AuthSaslStart>(&plain).unwrap()),
            false,
        ),
        (
            Box::new(|c| c.call::<procs::AuthSaslInit>(&()).unwrap()),
            true,
        ),
        (
            Box::new(|c| c.call::<procs::AuthSaslStart>(&plain).unwrap()),
            true,
        ),
        // Authenticated: starting over is refused, and the list says none.
        (
            Box::new(|c| c.call::<procs::AuthSaslInit>(&()).unwrap()),
            false,
        ),
        (
            Box::new(|c| c.call::<procs::AuthSaslStart>(&plain).unwrap()),
            false,
        ),
        (
            Box::new(|c| c.call::<procs::AuthPolkit>(&()).unwrap()),
            false,
        ),
        (Box::new(|c| c.call::<procs::AuthList>(&()).unwrap()), true),
    ];
    for (i, (make, accepted)) in script.iter().enumerate() {
        let serial = make(&mut c);
        while let Some(t) = c.poll_transmit() {
            s.handle_input(&t.bytes, now);
        }
        while let Some(ServerEvent::Call { header, call, .. }) = s.poll_event() {
            assert!(matches!(call, Call::Remote(_)));
            let outcome = server_auth.handle_call(&mut s, &header, &call).unwrap();
            // Answered, or refused as a failed exchange: never let through.
            assert!(
                matches!(
                    outcome,
                    ServerAuthOutcome::Answered | ServerAuthOutcome::Failed
                ),
                "step {i}: {outcome:?}"
            );
            assert_eq!(
                outcome == ServerAuthOutcome::Failed,
                !*accepted && !server_auth.is_authenticated(),
                "step {i}"
            );
        }
        while let Some(t) = s.poll_transmit() {
            c.handle_input(&t.bytes, now);
        }
        let Some(Event::Reply {
            serial: got,
            result,
            ..
        }) = c.poll_event()
        else {
            panic!("no reply to step {i}")
        };
        assert_eq!(got, serial);
        assert_eq!(result.is_ok(), *accepted, "step {i}: {result:?}");
        if i == script.len() - 1 {
            let list = c.decode_reply::<procs::AuthList>(&result.unwrap()).unwrap();
            assert_eq!(list.types, vec![AuthType::None]);
        }
    }
    assert!(server_auth.is_authenticated());
}

#[test]
fn an_authentication_call_while_the_mechanism_works_fails_the_exchange() {
    use libvirt_proto::engine::auth::AuthBegin;
    let now = Instant::now();
    let (mut c, mut s) = (ClientEngine::new(now), ServerEngine::new(now));
    // A polkit check that would say yes, and two calls for it at once.
    let mut auth = ServerAuth::polkit(Box::new(|| true));
    let first = c.call::<procs::AuthPolkit>(&()).unwrap();
    let second = c.call::<procs::AuthPolkit>(&()).unwrap();
    while let Some(t) = c.poll_transmit() {
        s.handle_input(&t.bytes, now);
    }
    let mut calls = std::iter::from_fn(|| match s.poll_event() {
        Some(ServerEvent::Call { header, call, .. }) => Some((header, call)),
        _ => None,
    })
    .collect::<Vec<_>>()
    .into_iter();
    let (h1, call1) = calls.next().unwrap();
    let Ok(AuthBegin::Work(work)) = auth.begin(&mut s, &h1, &call1) else {
        panic!("the check is work")
    };
    let (h2, call2) = calls.next().unwrap();
    assert!(matches!(
        auth.begin(&mut s, &h2, &call2),
        Ok(AuthBegin::Done(ServerAuthOutcome::Failed))
    ));
    // The check said yes, but the exchange is over.
    assert_eq!(
        auth.finish(&mut s, work.run()).unwrap(),
        ServerAuthOutcome::Failed
    );
    assert!(!auth.is_authenticated());
    while let Some(t) = s.poll_transmit() {
        c.handle_input(&t.bytes, now);
    }
    let mut refused = Vec::new();
    while let Some(e) = c.poll_event() {
        if let Event::Reply {
            serial,
            result: Err(CallError::Remote(e)),
            ..
        } = e
        {
            assert_eq!(e.code, ErrorNumber::ERR_AUTH_FAILED);
            refused.push(serial);
        }
    }
    refused.sort();
    assert_eq!(refused, [first, second]);
}
