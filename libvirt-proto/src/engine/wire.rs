//! The wire half both engines share, so a fix to it lands once: bytes in
//! (through the SASL security layer once there is one, except those that
//! carry descriptors) and frames out, received descriptors, keepalive
//! (timer, PING/PONG), the transmit queue and the end of the connection.
//!
//! [`ClientEngine`](super::ClientEngine) and
//! [`ServerEngine`](super::ServerEngine) each own a [`Wire`] and implement
//! [`Role`] for what only they know: what a frame means, and what the end
//! of the connection fails. [`Role`]'s provided methods run the wire
//! through them.

use std::collections::VecDeque;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use super::keepalive::{Keepalive, KeepaliveAction};
use super::layer::{LayerCodec, LayerError, SecurityLayer};
use super::{CloseReason, EngineError, ProtocolError, Transmit};
use crate::frame::{
    BodyPool, Frame, FrameDecoder, FrameError, Header, HEADER_LEN, LEN_PREFIX, MAX_FDS, MAX_MESSAGE,
};
use crate::generated::keepalive::program::{Procedure, NUMBER, VERSION};
use crate::generated::virnet::{MessageStatus, MessageType};

/// What happens to frames already queued when the security layer is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Queued {
    /// They go out as they are: the server switches after queuing the
    /// reply that completes authentication, which the client reads in clear.
    Clear,
    /// They go through the layer: the client switches on reading that
    /// reply, and all it has not written yet (a PONG, say) the daemon
    /// reads through the layer.
    ThroughLayer,
}

/// What came out of the decoder.
enum Next {
    /// A frame for the role.
    Frame(Frame),
    /// A PING (answered) or PONG.
    Keepalive,
    /// Nothing whole yet.
    None,
}

/// One connection's framing, descriptors, keepalive, layer and queue.
#[derive(Debug)]
pub(crate) struct Wire {
    decoder: FrameDecoder,
    out: VecDeque<Transmit>,
    /// Descriptors received, taken by the messages that announce them.
    fds: FdQueue,
    keepalive: Keepalive,
    /// The SASL security layer, once authentication has set one up.
    layer: Option<LayerCodec>,
    /// Frames queued before the layer was set, still sent as they are.
    plain_ahead: usize,
    /// Parsing waits after an authentication step (see [`Role::wire_hold`]).
    auth_hold: bool,
    /// Bytes of the frames in `out`, before any layer.
    out_bytes: usize,
    closed: Option<CloseReason>,
    /// When the last bytes arrived: frames held back (see
    /// [`Role::accepting`]) arrived then.
    last_input: Instant,
}

impl Wire {
    pub(crate) fn new(now: Instant) -> Self {
        Wire {
            decoder: FrameDecoder::new(),
            out: VecDeque::new(),
            fds: FdQueue::default(),
            keepalive: Keepalive::new(now),
            layer: None,
            plain_ahead: 0,
            auth_hold: false,
            out_bytes: 0,
            closed: None,
            last_input: now,
        }
    }

    pub(crate) fn enable_keepalive(&mut self, interval: Duration, count: u32, now: Instant) {
        self.keepalive.enable(interval, count, now);
    }

    /// See [`Keepalive::set_paused`].
    pub(crate) fn set_input_paused(&mut self, paused: bool, now: Instant) {
        self.keepalive.set_paused(paused, now);
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        // No timer runs while an authentication step holds parsing (see
        // `wire_timeout`): a deadline then would only be past at once.
        if self.closed.is_some() || self.auth_hold {
            return None;
        }
        self.keepalive.deadline()
    }

    /// Descriptors received with the bytes the next input brings.
    pub(crate) fn handle_fds(&mut self, fds: Vec<OwnedFd>) -> Result<(), CloseReason> {
        if self.closed.is_some() {
            return Ok(());
        }
        self.fds.receive(fds)
    }

    /// The `n` descriptors the frame being handled announces, if that
    /// many came with its first bytes.
    pub(crate) fn take_fds(&mut self, n: u32) -> Result<Vec<OwnedFd>, ProtocolError> {
        self.fds.take(n)
    }

    /// Received bytes not yet parsed into frames.
    pub(crate) fn buffered(&self) -> usize {
        self.decoder.buffered()
    }

    pub(crate) fn has_security_layer(&self) -> bool {
        self.layer.is_some()
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.is_some()
    }

    /// Whether anything may still be queued.
    pub(crate) fn ensure_open(&self) -> Result<(), EngineError> {
        match &self.closed {
            Some(r) => Err(EngineError::Closed(r.clone())),
            None => Ok(()),
        }
    }

    /// Queues one frame.
    pub(crate) fn send(&mut self, t: Transmit) {
        self.out_bytes += t.bytes.len();
        self.out.push_back(t);
    }

    /// Bytes of the frames queued and not yet handed to the driver.
    pub(crate) fn queued_output(&self) -> usize {
        self.out_bytes
    }

    /// Whether parsing waits for the role to act on an authentication step.
    pub(crate) fn auth_hold(&self) -> bool {
        self.auth_hold
    }

    /// Drops everything not yet sent (the client sends nothing once closed).
    pub(crate) fn discard_output(&mut self) {
        self.out.clear();
        self.out_bytes = 0;
    }

    /// Bytes received, through the layer if there is one; those that
    /// carry the descriptors of a message come outside it, right after
    /// the packet that ends the message.
    fn receive(&mut self, data: &[u8]) -> Result<(), LayerError> {
        let Wire {
            layer: Some(layer),
            decoder,
            ..
        } = self
        else {
            self.decoder.push(data);
            self.arrived(data.len());
            return Ok(());
        };
        layer.push(data);
        let mut plain = 0;
        // (On an error the connection ends, its descriptors with it.)
        while let Some(bytes) = layer.next(decoder.descriptor_bytes_due())? {
            decoder.push(&bytes);
            plain += bytes.len();
        }
        // Descriptors came with the whole read, whatever it held.
        self.arrived(plain);
        Ok(())
    }

    /// Where the transport may read the next bytes without a copy: the
    /// rest of a large message's body (see [`FrameDecoder::body_space`]),
    /// while bytes come in clear and parsing goes on.
    pub(crate) fn input_space(&mut self) -> Option<&mut Vec<u8>> {
        if self.layer.is_some() || self.closed.is_some() || self.auth_hold {
            return None;
        }
        self.decoder.body_space()
    }

    /// Where the decoder takes large bodies from.
    pub(crate) fn body_pool(&self) -> &BodyPool {
        self.decoder.body_pool()
    }

    /// `n` bytes went to the decoder, the last of them with the
    /// descriptors received since the last bytes.
    fn arrived(&mut self, n: usize) {
        self.fds.arrived(n);
        // Descriptors come with the bytes after a whole message: those
        // whose bytes end inside one can never be claimed. Closed now, not
        // once the message is whole, which a stalled peer may never send.
        if self.decoder.is_mid_frame() {
            self.fds.drop_ending_at(self.fds.received);
        }
    }

    /// The next frame: for the role, or keepalive's PING and PONG, which
    /// are handled here.
    fn next_frame(&mut self, now: Instant) -> Result<Next, CloseReason> {
        // After the previous frame was handled, before the next.
        self.fds.drop_unclaimable();
        let Some(frame) = self
            .decoder
            .next_frame()
            .map_err(|e| CloseReason::Protocol(ProtocolError::Frame(e)))?
        else {
            return Ok(Next::None);
        };
        self.fds.frame_parsed(frame.encoded_len(), frame.num_fds);
        // Any frame shows the peer is alive.
        self.keepalive.activity(now);
        let h = frame.header;
        if h.program != NUMBER || h.kind != MessageType::Message {
            return Ok(Next::Frame(frame));
        }
        match Procedure::try_from(h.procedure as u32) {
            Ok(Procedure::Ping) => self.send_keepalive(Procedure::Pong),
            Ok(Procedure::Pong) => {}
            // Which the roles judge differently.
            Err(_) => return Ok(Next::Frame(frame)),
        }
        Ok(Next::Keepalive)
    }

    fn send_keepalive(&mut self, procedure: Procedure) {
        let header = Header {
            program: NUMBER,
            version: VERSION,
            procedure: procedure as i32,
            kind: MessageType::Message,
            serial: 0,
            status: MessageStatus::Ok,
        };
        self.send(Transmit::frame(header, Vec::new()));
    }

    /// The next frame to write, through the layer unless it was queued
    /// before the layer came.
    fn pop_transmit(&mut self) -> Option<Result<Transmit, LayerError>> {
        let mut t = self.out.pop_front()?;
        self.out_bytes -= t.bytes.len();
        if self.plain_ahead > 0 {
            self.plain_ahead -= 1;
            return Some(Ok(t));
        }
        if let Some(layer) = self.layer.as_mut() {
            // The bytes that carry descriptors go beside the layer, as
            // libvirt sends them.
            match layer.encode(&t.bytes[..t.descriptor_bytes()]) {
                Ok(mut bytes) => {
                    bytes.resize(bytes.len() + t.fds.len(), 0);
                    t.bytes = bytes;
                }
                Err(e) => return Some(Err(e)),
            }
        }
        Some(Ok(t))
    }
}

/// Received descriptors in batches, each with the stream bytes (plaintext
/// offsets) of the read that brought it. libvirt sends a message's
/// descriptors after it, each with a one-byte message of its own, and a
/// read ends with the byte that carries descriptors; so a frame announcing
/// `n` descriptors claims the batches whose last byte is one of the `n`
/// bytes after it. Batches no frame can claim any more are closed.
#[derive(Debug, Default)]
struct FdQueue {
    batches: VecDeque<FdBatch>,
    /// Bytes received so far.
    received: u64,
    /// Where the next frame out of the decoder starts.
    next_frame: u64,
    /// Where the bytes carrying the current frame's descriptors start.
    current_fds: u64,
}

#[derive(Debug)]
struct FdBatch {
    /// One past the last byte that came with them; `None` until bytes
    /// come.
    end: Option<u64>,
    fds: Vec<OwnedFd>,
}

impl FdQueue {
    /// One read's descriptors. No more than one message's worth may wait
    /// to be claimed.
    fn receive(&mut self, fds: Vec<OwnedFd>) -> Result<(), CloseReason> {
        if fds.is_empty() {
            return Ok(());
        }
        let open = self.batches.back().is_some_and(|b| b.end.is_none());
        if !open {
            self.batches.push_back(FdBatch {
                end: None,
                fds: Vec::new(),
            });
        }
        if let Some(batch) = self.batches.back_mut() {
            batch.fds.extend(fds);
        }
        let waiting: usize = self.batches.iter().map(|b| b.fds.len()).sum();
        if waiting > MAX_FDS {
            self.clear();
            return Err(CloseReason::Protocol(ProtocolError::TooManyFds {
                received: waiting,
                max: MAX_FDS,
            }));
        }
        Ok(())
    }

    /// `n` bytes arrived, the last of them with the open batch.
    fn arrived(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        let end = self.received + n as u64;
        if let Some(b) = self.batches.back_mut().filter(|b| b.end.is_none()) {
            b.end = Some(end);
        }
        self.received = end;
    }

    /// A frame of `len` bytes, followed by `num_fds` descriptor bytes, came
    /// out of the decoder.
    fn frame_parsed(&mut self, len: usize, num_fds: u32) {
        self.current_fds = self.next_frame + len as u64;
        self.next_frame = self.current_fds + u64::from(num_fds);
    }

    /// Closes what no frame can claim any more: batches whose bytes end
    /// before the next frame's descriptor bytes could start.
    fn drop_unclaimable(&mut self) {
        let next = self.next_frame;
        self.batches.retain(|b| b.end.is_none_or(|end| end > next));
    }

    /// Closes the batch whose bytes end at `end`.
    fn drop_ending_at(&mut self, end: u64) {
        self.batches.retain(|b| b.end != Some(end));
    }

    /// The current frame's `n` descriptors: those that came with the `n`
    /// bytes after it. More than announced are closed.
    fn take(&mut self, n: u32) -> Result<Vec<OwnedFd>, ProtocolError> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let (from, to) = (self.current_fds, self.current_fds + u64::from(n));
        let mut fds = Vec::new();
        self.batches.retain_mut(|b| match b.end {
            Some(end) if end > from && end <= to => {
                fds.append(&mut b.fds);
                false
            }
            _ => true,
        });
        if fds.len() < n as usize {
            return Err(ProtocolError::MissingFds {
                expected: n,
                received: fds.len(),
            });
        }
        fds.truncate(n as usize);
        Ok(fds)
    }

    fn clear(&mut self) {
        self.batches.clear();
    }
}

/// Refuses a message whose body of `body` bytes would take it above
/// [`MAX_MESSAGE`], before the body is built.
pub(crate) fn check_body(body: usize, with_fds: bool) -> Result<(), EngineError> {
    let head = LEN_PREFIX + HEADER_LEN + if with_fds { 4 } else { 0 };
    match head.saturating_add(body) {
        len if len > MAX_MESSAGE => Err(EngineError::FrameTooLarge {
            len,
            max: MAX_MESSAGE,
        }),
        _ => Ok(()),
    }
}

/// An outgoing frame's error as the caller sees it.
pub(crate) fn frame_error(e: FrameError) -> EngineError {
    match e {
        FrameError::TooLarge(len) => EngineError::FrameTooLarge {
            len,
            max: MAX_MESSAGE,
        },
        e => EngineError::Frame(e),
    }
}

fn layer_failed(e: LayerError) -> CloseReason {
    CloseReason::Protocol(ProtocolError::SecurityLayer(e))
}

/// A connection's role on top of its [`Wire`]; the provided methods are
/// the engines' wire entry points.
pub(crate) trait Role {
    fn wire(&mut self) -> &mut Wire;

    /// A frame received (other than keepalive's PING and PONG).
    fn handle_frame(&mut self, frame: Frame);

    /// The connection has just ended (called once): settle what waits on
    /// it and tell the driver.
    fn on_close(&mut self, reason: CloseReason);

    /// Ends the connection unless it has ended already.
    fn close_with(&mut self, reason: CloseReason) {
        let wire = self.wire();
        if wire.closed.is_none() {
            wire.closed = Some(reason.clone());
            wire.fds.clear();
            self.on_close(reason);
        }
    }

    /// Descriptors received from the transport, before the bytes they
    /// came with; too many end the connection.
    fn wire_fds(&mut self, fds: Vec<OwnedFd>) {
        if let Err(reason) = self.wire().handle_fds(fds) {
            self.close_with(reason);
        }
    }

    /// Bytes received from the transport, in any chunking.
    fn wire_input(&mut self, data: &[u8], now: Instant) {
        let wire = self.wire();
        if wire.closed.is_some() {
            return;
        }
        if wire.auth_hold && !data.is_empty() {
            let bytes = wire.decoder.buffered() + data.len();
            return self.close_with(layer_failed(LayerError::EarlyData { bytes }));
        }
        if let Err(e) = wire.receive(data) {
            return self.close_with(layer_failed(e));
        }
        self.wire().last_input = now;
        self.wire_parse();
    }

    /// `n` bytes were appended to [`Wire::input_space`].
    fn wire_input_appended(&mut self, n: usize, now: Instant) {
        let wire = self.wire();
        wire.decoder.body_appended();
        wire.arrived(n);
        wire.last_input = now;
        self.wire_parse();
    }

    /// Whether the role takes another frame now; frames it does not take
    /// wait, whole, in the decoder until [`Role::wire_parse`] runs again.
    fn accepting(&self) -> bool {
        true
    }

    /// Stops parsing after the frame being handled, an authentication
    /// step (see [`is_auth_step`]), until the role has acted on it with
    /// [`Role::wire_set_layer`] or [`Role::wire_release`]. Whether what
    /// follows the step is in clear or under a security layer is not
    /// known before, so frames already received wait unparsed (and end
    /// the connection if a layer comes), and bytes received meanwhile end
    /// it ([`LayerError::EarlyData`]): the peer has nothing to say until
    /// then.
    ///
    /// [`is_auth_step`]: super::is_auth_step
    fn wire_hold(&mut self) {
        self.wire().auth_hold = true;
    }

    /// Parsing goes on after an authentication step that set up no layer.
    fn wire_release(&mut self) {
        if std::mem::take(&mut self.wire().auth_hold) {
            self.wire_parse();
        }
    }

    /// Hands the role the frames received, while it takes them.
    fn wire_parse(&mut self) {
        let now = self.wire().last_input;
        while self.accepting() && !self.wire().auth_hold && !self.wire().is_closed() {
            match self.wire().next_frame(now) {
                Ok(Next::Frame(frame)) => self.handle_frame(frame),
                // A PONG queued: the role may take no more now.
                Ok(Next::Keepalive) => {}
                Ok(Next::None) => break,
                Err(reason) => {
                    self.close_with(reason);
                    break;
                }
            }
        }
    }

    /// Runs the keepalive timer at `now`.
    fn wire_timeout(&mut self, now: Instant) {
        let wire = self.wire();
        // Nor while parsing waits after an authentication step: a PING
        // then would end the connection (the peer has nothing to say),
        // and the peer's answers wait unparsed.
        if wire.closed.is_some() || wire.auth_hold {
            return;
        }
        match wire.keepalive.poll(now) {
            KeepaliveAction::Idle => {}
            KeepaliveAction::Ping => wire.send_keepalive(Procedure::Ping),
            KeepaliveAction::Dead => self.close_with(CloseReason::KeepaliveTimeout),
        }
    }

    /// Puts the connection under `layer`: every byte received from now on
    /// comes out of it, and every frame sent goes through it except those
    /// `queued` says not. Bytes received but not yet parsed end the
    /// connection ([`LayerError::EarlyData`]): the peer sends nothing
    /// between the final authentication reply and the switch, so which
    /// side of it they belong to cannot be known.
    fn wire_set_layer(&mut self, layer: Box<dyn SecurityLayer>, queued: Queued) {
        let wire = self.wire();
        let early = wire.decoder.buffered();
        if early > 0 {
            return self.close_with(layer_failed(LayerError::EarlyData { bytes: early }));
        }
        wire.layer = Some(LayerCodec::new(layer));
        wire.plain_ahead = match queued {
            Queued::Clear => wire.out.len(),
            Queued::ThroughLayer => 0,
        };
        // Nothing was received after the step, so nothing waits.
        wire.auth_hold = false;
    }

    /// The next bytes to write: one frame, or with a security layer the
    /// packets carrying it.
    fn wire_transmit(&mut self) -> Option<Transmit> {
        match self.wire().pop_transmit()? {
            Ok(t) => Some(t),
            Err(e) => {
                self.close_with(layer_failed(e));
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::layer::tests::xor;
    use super::super::{ClientEngine, ServerEngine, ServerEvent, OUTPUT_THROTTLE};
    use super::*;

    fn parse(bytes: &[u8]) -> Frame {
        let mut d = FrameDecoder::new();
        d.push(bytes);
        d.next_frame().unwrap().unwrap()
    }

    fn header(program: u32, procedure: i32, kind: MessageType) -> Header {
        Header {
            program,
            version: 1,
            procedure,
            kind,
            serial: 0,
            status: MessageStatus::Ok,
        }
    }

    fn ping() -> Vec<u8> {
        Frame::new(
            header(NUMBER, Procedure::Ping as i32, MessageType::Message),
            Vec::new(),
        )
        .encode()
    }

    /// A frame that went through [`xor`]'s layer, back in clear.
    fn unlayer(bytes: &[u8]) -> Frame {
        parse(&LayerCodec::new(xor(16)).decode(bytes).unwrap())
    }

    #[test]
    fn frames_queued_before_the_servers_switch_go_out_in_clear() {
        let now = Instant::now();
        let mut s = ServerEngine::new(now);
        // The reply completing authentication, queued before the switch.
        let call = header(0x2000_8086, 66, MessageType::Call);
        s.reply(&call, &7u32).unwrap();
        s.set_security_layer(xor(16));
        s.send_message(0x2000_8086, 1, 107, &()).unwrap();
        let reply = s.poll_transmit().unwrap().bytes;
        assert_eq!(parse(&reply).header.kind, MessageType::Reply);
        let after = s.poll_transmit().unwrap().bytes;
        assert_ne!(after.len(), 28, "layered, not a bare header");
        assert_eq!(unlayer(&after).header.procedure, 107);
    }

    #[test]
    fn a_pong_queued_before_the_clients_switch_goes_through_the_layer() {
        let now = Instant::now();
        let mut c = ClientEngine::new(now);
        // The daemon's PING arrived just before its final auth reply: the
        // daemon has switched by the time it reads the PONG.
        c.handle_input(&ping(), now);
        c.set_security_layer(xor(16));
        let pong = unlayer(&c.poll_transmit().unwrap().bytes);
        assert_eq!(pong.header.procedure, Procedure::Pong as i32);
    }

    #[test]
    fn the_server_refuses_bytes_received_before_its_switch() {
        let now = Instant::now();
        let mut s = ServerEngine::new(now);
        s.handle_input(&[0, 0, 0, 28], now);
        s.set_security_layer(xor(16));
        assert!(matches!(
            s.poll_event(),
            Some(ServerEvent::Closed(CloseReason::Protocol(
                ProtocolError::SecurityLayer(LayerError::EarlyData { bytes: 4 })
            )))
        ));
        assert_eq!(s.poll_timeout(), None);
    }

    #[test]
    fn a_server_that_stops_reading_keeps_a_silent_client() {
        let t0 = Instant::now();
        let s5 = Duration::from_secs(5);
        let mut s = ServerEngine::new(t0);
        s.enable_keepalive(s5, 1, t0);
        s.set_input_paused(true, t0);
        for i in 1..=10 {
            s.handle_timeout(t0 + s5 * i);
            let ping = parse(&s.poll_transmit().unwrap().bytes);
            assert_eq!(ping.header.procedure, Procedure::Ping as i32);
        }
        assert!(s.poll_event().is_none(), "never judged while paused");
        // Reading again: silence counts from here, one PING, then dead.
        let resumed = t0 + s5 * 10;
        s.set_input_paused(false, resumed);
        s.handle_timeout(resumed + s5);
        assert!(s.poll_event().is_none());
        s.handle_timeout(resumed + s5 * 2);
        assert!(matches!(
            s.poll_event(),
            Some(ServerEvent::Closed(CloseReason::KeepaliveTimeout))
        ));
    }

    #[test]
    fn the_server_answers_a_ping_and_closes_on_bad_framing() {
        let now = Instant::now();
        let mut s = ServerEngine::new(now);
        s.handle_input(&ping(), now);
        let pong = parse(&s.poll_transmit().unwrap().bytes);
        assert_eq!(pong.header.procedure, Procedure::Pong as i32);
        assert!(s.poll_event().is_none(), "keepalive is handled inside");
        // A length below the header's.
        s.handle_input(&[0, 0, 0, 4], now);
        assert!(matches!(
            s.poll_event(),
            Some(ServerEvent::Closed(CloseReason::Protocol(
                ProtocolError::Frame(_)
            )))
        ));
        // Nothing more is read.
        s.handle_input(&ping(), now);
        assert!(s.poll_transmit().is_none());
    }

    /// Frames as the peer sends them for the SASL hold tests.
    mod sasl {
        use super::*;
        use crate::generated::remote::{self, program::Procedure as P};
        use xdrgen::rt;

        pub(super) fn frame(
            procedure: P,
            kind: MessageType,
            serial: u32,
            body: Vec<u8>,
        ) -> Vec<u8> {
            let h = Header {
                program: remote::program::NUMBER,
                version: remote::program::VERSION,
                procedure: procedure as i32,
                kind,
                serial,
                status: MessageStatus::Ok,
            };
            Frame::new(h, body).encode()
        }

        pub(super) fn step_call(serial: u32) -> Vec<u8> {
            let args = remote::AuthSaslStepArgs {
                nil: 0,
                data: vec![1, 2],
            };
            frame(
                P::AuthSaslStep,
                MessageType::Call,
                serial,
                rt::to_bytes(&args).unwrap(),
            )
        }

        pub(super) fn final_step_ret() -> remote::AuthSaslStepRet {
            remote::AuthSaslStepRet {
                complete: 1,
                nil: 0,
                data: Vec::new(),
            }
        }

        pub(super) fn lib_version_call(serial: u32) -> Vec<u8> {
            frame(
                P::ConnectGetLibVersion,
                MessageType::Call,
                serial,
                Vec::new(),
            )
        }
    }

    fn early_data(e: Option<ServerEvent>) -> usize {
        match e {
            Some(ServerEvent::Closed(CloseReason::Protocol(ProtocolError::SecurityLayer(
                LayerError::EarlyData { bytes },
            )))) => bytes,
            other => panic!("{other:?}"),
        }
    }

    fn call_serial(e: Option<ServerEvent>) -> (u32, Header) {
        match e {
            Some(ServerEvent::Call { header, .. }) => (header.serial, header),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_call_read_with_the_final_sasl_step_is_never_taken_in_clear() {
        let now = Instant::now();
        let mut s = ServerEngine::new(now);
        // What a man in the middle would do: append a call in clear to the
        // step that turns the layer on.
        let injected = sasl::lib_version_call(2);
        s.handle_input(&[sasl::step_call(1), injected.clone()].concat(), now);
        let (serial, step) = call_serial(s.poll_event());
        assert_eq!(serial, 1);
        assert!(s.poll_event().is_none(), "nothing after the step is parsed");
        assert!(s.input_throttled());
        s.reply(&step, &sasl::final_step_ret()).unwrap();
        assert!(s.input_throttled(), "still held until the layer is known");
        s.set_security_layer(xor(16));
        assert_eq!(early_data(s.poll_event()), injected.len());
    }

    #[test]
    fn no_timer_is_due_while_a_sasl_step_holds_parsing() {
        let now = Instant::now();
        let mut s = ServerEngine::new(now);
        s.enable_keepalive(Duration::from_millis(10), 2, now);
        assert!(s.poll_timeout().is_some());
        s.handle_input(&sasl::step_call(1), now);
        let (_, step) = call_serial(s.poll_event());
        // The timer does not run now, so no deadline is given: one in the
        // past would wake a driver at once, again and again.
        assert_eq!(s.poll_timeout(), None);
        s.handle_timeout(now + Duration::from_secs(1));
        assert_eq!(s.poll_timeout(), None);
        s.reply(&step, &sasl::final_step_ret()).unwrap();
        assert!(s.poll_event().is_none());
        assert!(s.poll_timeout().is_some());
    }

    #[test]
    fn after_a_sasl_step_without_a_layer_the_next_call_is_read() {
        let now = Instant::now();
        let mut s = ServerEngine::new(now);
        s.handle_input(
            &[sasl::step_call(1), sasl::lib_version_call(2)].concat(),
            now,
        );
        let (_, step) = call_serial(s.poll_event());
        s.reply(&step, &sasl::final_step_ret()).unwrap();
        assert_eq!(call_serial(s.poll_event()).0, 2);
        assert!(!s.input_throttled());
    }

    #[test]
    fn bytes_sent_before_a_sasl_step_is_answered_end_the_connection() {
        let now = Instant::now();
        let mut s = ServerEngine::new(now);
        s.handle_input(&sasl::step_call(1), now);
        assert_eq!(call_serial(s.poll_event()).0, 1);
        s.handle_input(&[0, 0, 0], now);
        assert_eq!(early_data(s.poll_event()), 3);
    }

    #[test]
    fn keepalive_waits_while_parsing_waits_after_a_sasl_step() {
        let t0 = Instant::now();
        let s5 = Duration::from_secs(5);
        let mut s = ServerEngine::new(t0);
        s.enable_keepalive(s5, 1, t0);
        s.handle_input(&sasl::step_call(1), t0);
        let (_, step) = call_serial(s.poll_event());
        // The client's PONG would arrive while nothing may: no PING, and
        // no judging a client that has nothing to say.
        s.handle_timeout(t0 + s5 * 4);
        assert!(s.poll_transmit().is_none());
        assert!(s.poll_event().is_none());
        s.reply(&step, &sasl::final_step_ret()).unwrap();
        assert!(s.poll_event().is_none());
        let sent: Vec<_> = std::iter::from_fn(|| s.poll_transmit()).collect();
        assert_eq!(sent.len(), 1, "the reply only");
    }

    /// A client engine that sent a SASL step, its serial, and the daemon's
    /// final reply to it (not handed in yet).
    fn client_after_final_sasl_step(now: Instant) -> (ClientEngine, u32, Vec<u8>) {
        use crate::generated::remote::program::{procs, Procedure as P};
        let mut c = ClientEngine::new(now);
        let args = crate::generated::remote::AuthSaslStepArgs {
            nil: 0,
            data: Vec::new(),
        };
        let serial = c.call::<procs::AuthSaslStep>(&args).unwrap();
        assert!(c.poll_transmit().is_some());
        let reply = sasl::frame(
            P::AuthSaslStep,
            MessageType::Reply,
            serial,
            xdrgen::rt::to_bytes(&sasl::final_step_ret()).unwrap(),
        );
        (c, serial, reply)
    }

    #[test]
    fn a_message_read_with_the_final_sasl_reply_is_never_taken_in_clear() {
        let now = Instant::now();
        let (mut c, serial, reply) = client_after_final_sasl_step(now);
        // A PING in clear after it: answered, it would show the injection
        // worked.
        c.handle_input(&[reply, ping()].concat(), now);
        assert!(
            matches!(c.poll_event(), Some(super::super::Event::Reply { serial: s, .. }) if s == serial)
        );
        assert!(c.poll_transmit().is_none(), "the PING is not parsed");
        c.set_security_layer(xor(16));
        let mut closed = None;
        while let Some(e) = c.poll_event() {
            if let super::super::Event::Closed(r) = e {
                closed = Some(r);
            }
        }
        assert!(
            matches!(
                closed,
                Some(CloseReason::Protocol(ProtocolError::SecurityLayer(
                    LayerError::EarlyData { bytes: 28 }
                )))
            ),
            "{closed:?}"
        );
        assert!(c.poll_transmit().is_none(), "no PONG");
    }

    #[test]
    fn after_a_sasl_reply_without_a_layer_the_next_call_resumes_reading() {
        let now = Instant::now();
        let (mut c, _, reply) = client_after_final_sasl_step(now);
        c.handle_input(&[reply, ping()].concat(), now);
        assert!(c.poll_event().is_some());
        assert!(c.poll_transmit().is_none());
        c.call::<crate::generated::remote::program::procs::ConnectGetLibVersion>(&())
            .unwrap();
        let sent: Vec<_> = std::iter::from_fn(|| c.poll_transmit())
            .map(|t| parse(&t.bytes).header.program)
            .collect();
        assert_eq!(
            sent,
            [crate::generated::remote::program::NUMBER, NUMBER],
            "the call, then the PONG"
        );
    }

    #[test]
    fn a_client_that_does_not_read_its_answers_is_not_read_either() {
        let now = Instant::now();
        let mut s = ServerEngine::new(now);
        // A driver reading 64 KiB at a time while it may, PINGs coming,
        // each answered by a PONG the client never reads.
        let chunk: Vec<u8> = (0..(64 << 10) / 28).flat_map(|_| ping()).collect();
        let mut reads = 0;
        while !s.input_throttled() {
            s.handle_input(&chunk, now);
            reads += 1;
            assert!(reads < 1000, "never throttled");
        }
        let queued = s.queued_output();
        assert!(
            queued > OUTPUT_THROTTLE && queued <= OUTPUT_THROTTLE + chunk.len(),
            "{queued}"
        );
        // Taking the answers lets reading resume.
        while s.poll_transmit().is_some() {}
        assert_eq!(s.queued_output(), 0);
        assert!(!s.input_throttled());
    }

    #[test]
    fn calls_after_a_large_reply_wait_until_it_is_taken() {
        let now = Instant::now();
        let mut s = ServerEngine::new(now);
        // One at a time, so that the others wait unparsed behind the first.
        s.set_max_requests(1);
        let input: Vec<u8> = (1..=3).flat_map(sasl::lib_version_call).collect();
        s.handle_input(&input, now);
        let (_, first) = call_serial(s.poll_event());
        assert!(s.poll_event().is_none());
        let big = crate::generated::remote::ConnectGetCapabilitiesRet {
            capabilities: crate::generated::remote::NonnullString("x".repeat(OUTPUT_THROTTLE)),
        };
        s.reply(&first, &big).unwrap();
        assert!(s.input_throttled(), "stop reading until the reply is taken");
        // The calls that came with the first wait with it: answering them
        // too would queue a read's worth of replies for a client that may
        // not read.
        assert!(s.poll_event().is_none());
        // Taking the reply hands them out without more input: a driver
        // that writes, then waits to read, does not wait for nothing.
        assert!(s.poll_transmit().is_some());
        let (serial, second) = call_serial(s.poll_event());
        assert_eq!(serial, 2);
        s.reply(&second, &()).unwrap();
        let (serial, third) = call_serial(s.poll_event());
        assert_eq!(serial, 3);
        s.reply(&third, &()).unwrap();
        while s.poll_transmit().is_some() {}
        assert!(!s.input_throttled());
    }

    /// A descriptor to pass, and the socket whose other end it is (which
    /// reads end of file once every copy of it is closed).
    fn descriptor() -> (OwnedFd, std::os::unix::net::UnixStream) {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        (a.into(), b)
    }

    #[test]
    fn descriptor_bytes_pass_beside_the_security_layer_as_libvirt_sends_them() {
        use super::super::Event;
        use crate::generated::remote::{self, program::procs};
        let now = Instant::now();
        let (mut c, mut s) = (ClientEngine::new(now), ServerEngine::new(now));
        c.set_security_layer(xor(16));
        s.set_security_layer(xor(16));
        let args = remote::DomainOpenGraphicsFdArgs {
            dom: remote::NonnullDomain {
                name: "vm".into(),
                uuid: [7; 16].into(),
                id: 1,
            },
            idx: 0,
            flags: 0,
        };
        let (sent, _peers): (Vec<_>, Vec<_>) = (0..2).map(|_| descriptor()).unzip();
        let call = c
            .call_with_fds::<procs::DomainOpenGraphicsFd>(&args, sent)
            .unwrap();
        let t = c.poll_transmit().unwrap();
        // The layer's packets (the call in 16-byte pieces), then a zero
        // byte per descriptor outside them.
        let at = t.descriptor_bytes();
        assert_eq!((&t.bytes[at..], t.fds.len()), (&[0u8, 0][..], 2));
        let mut plain = LayerCodec::new(xor(16)).decode(&t.bytes[..at]).unwrap();
        plain.extend_from_slice(&t.bytes[at..]);
        let frame = parse(&plain);
        assert_eq!(
            (frame.header.kind, frame.num_fds),
            (MessageType::CallWithFds, 2)
        );
        // Received in small pieces, then each descriptor with its byte.
        for piece in t.bytes[..at].chunks(5) {
            s.handle_input(piece, now);
        }
        for fd in t.fds {
            s.handle_fds(vec![fd]);
            s.handle_input(&[0], now);
        }
        let header = match s.poll_event() {
            Some(ServerEvent::Call { header, fds, .. }) => {
                assert_eq!((header.serial, fds.len()), (call, 2));
                header
            }
            other => panic!("{other:?}"),
        };

        // The reply passes one back; a reply after it is read through the
        // layer again.
        let version = c.call::<procs::ConnectGetLibVersion>(&()).unwrap();
        let t = c.poll_transmit().unwrap();
        s.handle_input(&t.bytes, now);
        let second = match s.poll_event() {
            Some(ServerEvent::Call { header, .. }) => header,
            other => panic!("{other:?}"),
        };
        let (fd, mut peer) = descriptor();
        s.reply_with_fds(&header, &(), vec![fd]).unwrap();
        s.reply(
            &second,
            &remote::ConnectGetLibVersionRet {
                lib_ver: 11_003_000,
            },
        )
        .unwrap();
        let (first, then) = (s.poll_transmit().unwrap(), s.poll_transmit().unwrap());
        assert_eq!(first.bytes.last(), Some(&0));
        // The kernel may hand the descriptor over with the packets before
        // its byte; what follows comes in a read of its own.
        c.handle_fds(first.fds);
        c.handle_input(&first.bytes, now);
        c.handle_input(&then.bytes, now);
        match c.poll_event() {
            Some(Event::Reply {
                serial,
                result: Ok(_),
                fds,
                ..
            }) => {
                assert_eq!((serial, fds.len()), (call, 1));
                // The descriptor the server passed, still open.
                drop(fds);
                use std::io::Read;
                assert_eq!(peer.read(&mut [0u8; 1]).unwrap(), 0);
            }
            other => panic!("{other:?}"),
        }
        match c.poll_event() {
            Some(Event::Reply { serial, result, .. }) => {
                assert_eq!(serial, version);
                let ret = c
                    .decode_reply::<procs::ConnectGetLibVersion>(&result.unwrap())
                    .unwrap();
                assert_eq!(ret.lib_ver, 11_003_000);
            }
            other => panic!("{other:?}"),
        }
        assert!(!c.is_closed() && !s.is_closed());
    }
}
