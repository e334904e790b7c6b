//! The client side of a connection: calls with serials, replies and errors
//! routed to their call, events, streams, keepalive.

use std::collections::{HashMap, VecDeque};
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use xdrgen::rt::{self, Codec, RemoteProcedure, StreamDirection};

use super::layer::SecurityLayer;
use super::wire::{check_body, frame_error, Queued, Role, Wire};
use super::{
    asks_for_holes, hole_length, is_auth_step, CallError, CloseReason, EngineError, ProtocolError,
    Transmit,
};
use crate::dispatch::{self, Body, DispatchError};
use crate::error::RemoteError;
use crate::frame::{Frame, FrameBuf, Header, MAX_FDS};
use crate::generated::keepalive;
use crate::generated::virnet::{MessageError, MessageStatus, MessageType, StreamHole};

/// Calls sent before their replies, by default: one fewer than libvirtd's
/// default `max_client_requests` (5). libvirtd counts the message it is
/// reading among those, and with all five taken it stops reading the
/// socket (logging "Client hit max requests limit") until a reply goes
/// out: keepalive answers and stream packets would then wait behind
/// calls that may run for minutes, and the daemon could drop the client
/// for silence. At four, a slot is always free. Later calls are queued
/// here.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 4;

/// Sent calls given up whose late replies are still recognised (see
/// [`ClientEngine::abandon`]).
pub const MAX_ABANDONED: usize = 1024;

/// Streams this side aborted whose late packets are still recognised and
/// dropped (see [`ClientEngine::stream_abort`]).
pub const MAX_ABORTED_STREAMS: usize = 64;

/// What happened on a stream.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// Data from the daemon.
    Data(Vec<u8>),
    /// The daemon has no more data (an empty data packet); the engine
    /// answers with its OK to finish the stream, and [`StreamEvent::End`]
    /// follows.
    Eof,
    /// A hole of this many bytes (sparse streams).
    Hole(i64),
    /// The stream finished cleanly (both sides sent OK).
    End,
    /// The daemon aborted the stream.
    Error(RemoteError),
    /// The daemon sent a packet that does not fit the stream (see
    /// [`StreamViolation`]): the engine aborted the stream; the
    /// connection goes on.
    Violation(StreamViolation),
}

/// A stream packet that does not fit its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamViolation {
    /// A hole on a stream that is not sparse (libvirt's "Unexpected
    /// stream hole"): only storage volume transfers asked for with their
    /// `SPARSE_STREAM` flag have holes.
    UnexpectedHole,
    /// A hole of negative length.
    NegativeHole(i64),
    /// Data or a hole after the end: the daemon's end of data (seen by
    /// the client), or the client's finish (seen by the server).
    AfterEnd,
    /// Data or a hole from the daemon on a stream the client writes.
    OnWriteStream,
    /// The daemon's OK before the client finished the stream: libvirt's
    /// daemon sends it only to answer the client's, and libvirt's client
    /// refuses it too, ending the whole connection ("unexpected async
    /// stream finish confirmation"); here only the stream ends. Taken as
    /// the end, it would cut a download short unnoticed.
    UnaskedEnd,
    /// Data or a hole from the client on a stream only the server writes
    /// (a volume download, a screenshot; consoles and channels carry data
    /// both ways): the server side's counterpart of
    /// [`StreamViolation::OnWriteStream`].
    OnReadStream,
    /// A hole with flags, none of which libvirt defines.
    HoleFlags(u32),
    /// A hole whose body does not decode (seen by the server; a client
    /// ends the connection for any body that does not decode).
    MalformedHole,
}

impl std::fmt::Display for StreamViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StreamViolation::UnexpectedHole => {
                f.write_str("unexpected hole on a stream that is not sparse")
            }
            StreamViolation::NegativeHole(n) => write!(f, "stream hole of negative length {n}"),
            StreamViolation::AfterEnd => f.write_str("stream data after the end of the stream"),
            StreamViolation::OnWriteStream => {
                f.write_str("stream data from the daemon on a write stream")
            }
            StreamViolation::UnaskedEnd => {
                f.write_str("the daemon ended the stream before the client finished it")
            }
            StreamViolation::OnReadStream => {
                f.write_str("stream data from the client on a read stream")
            }
            StreamViolation::HoleFlags(flags) => write!(f, "stream hole with flags {flags:#x}"),
            StreamViolation::MalformedHole => f.write_str("a stream hole that does not decode"),
        }
    }
}

impl std::error::Error for StreamViolation {}

/// Something for the driver to act on.
#[derive(Debug)]
pub enum Event {
    /// The outcome of a call: the reply body (decode it with
    /// [`ClientEngine::decode_reply`]) or the error.
    Reply {
        /// The call's serial.
        serial: u32,
        /// The call's procedure.
        procedure: i32,
        /// The reply body, or why there is none.
        result: Result<Vec<u8>, CallError>,
        /// Descriptors that came with a `REPLY_WITH_FDS`.
        fds: Vec<OwnedFd>,
    },
    /// A one-way message: an event, typed (keepalive is handled inside).
    Message {
        /// The event.
        message: dispatch::Message,
        /// Its body's size on the wire, in bytes: what holding it costs,
        /// about.
        wire_len: usize,
    },
    /// Stream traffic for the call with this serial.
    Stream {
        /// The stream's serial (its call's).
        serial: u32,
        /// What happened.
        event: StreamEvent,
    },
    /// The peer sent something wrong that the connection survives (an
    /// unknown procedure from a newer daemon, a reply nobody waits for).
    ProtocolError(ProtocolError),
    /// The connection ended; every pending call has had its outcome.
    Closed(CloseReason),
}

#[derive(Debug)]
struct Pending {
    procedure: i32,
    /// Nobody waits for its reply (see [`ClientEngine::detach`]): once
    /// sent it is abandoned at once.
    detached: bool,
    /// A SASL step: parsing waits after its reply until the client has
    /// acted on it (set the layer or sent its next call).
    auth_step: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StreamState {
    /// Open; data may flow.
    Open(StreamDirection),
    /// We sent our OK (to finish a write stream, or to answer the end of
    /// a read stream's data) and wait for the daemon's.
    Finishing,
}

#[derive(Debug)]
struct StreamInfo {
    program: u32,
    version: u32,
    procedure: i32,
    state: StreamState,
    /// Holes may come (a sparse transfer was asked for).
    holes: bool,
}

/// A libvirt RPC client connection without I/O.
#[derive(Debug)]
pub struct ClientEngine {
    wire: Wire,
    next_serial: u32,
    max_in_flight: usize,
    in_flight: HashMap<u32, Pending>,
    /// Sent calls whose callers gave up, oldest first: their replies are
    /// dropped when they come. At most [`MAX_ABANDONED`].
    abandoned: VecDeque<u32>,
    waiting: VecDeque<(u32, Pending, Transmit)>,
    streams: HashMap<u32, StreamInfo>,
    /// Streams aborted here, oldest first, until the daemon's answer to
    /// the abort: what it sent before that is dropped, not an error. At
    /// most [`MAX_ABORTED_STREAMS`].
    aborted_streams: VecDeque<u32>,
    events: VecDeque<Event>,
}

impl ClientEngine {
    /// A connection that has not sent anything yet.
    pub fn new(now: Instant) -> Self {
        ClientEngine {
            wire: Wire::new(now),
            next_serial: 1,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            in_flight: HashMap::new(),
            abandoned: VecDeque::new(),
            waiting: VecDeque::new(),
            streams: HashMap::new(),
            aborted_streams: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// Sets how many calls may wait for their reply at once (the daemon's
    /// `max_client_requests`); later calls are held back until one ends.
    pub fn set_max_in_flight(&mut self, n: usize) {
        self.max_in_flight = n.max(1);
        self.release_waiting();
    }

    /// Starts keepalive (after the daemon said it supports it, with
    /// `CONNECT_SUPPORTS_FEATURE`).
    pub fn enable_keepalive(&mut self, interval: Duration, count: u32, now: Instant) {
        self.wire.enable_keepalive(interval, count, now);
    }

    /// Tells the engine whether the driver reads the transport. A driver
    /// that stops reading (a stream consumer is behind) says so, and the
    /// keepalive then keeps pinging without ever declaring the peer dead
    /// for a silence the driver caused; see [`Keepalive::set_paused`].
    ///
    /// [`Keepalive::set_paused`]: super::keepalive::Keepalive::set_paused
    pub fn set_input_paused(&mut self, paused: bool, now: Instant) {
        self.wire.set_input_paused(paused, now);
    }

    /// Calls in flight plus calls held back.
    pub fn pending_calls(&self) -> usize {
        self.in_flight.len() + self.waiting.len()
    }

    /// Bytes received and not yet turned into events, plus stream data
    /// waiting in the event queue: a driver stops reading above its limit.
    pub fn buffered(&self) -> usize {
        self.wire.buffered()
            + self
                .events
                .iter()
                .map(|e| match e {
                    Event::Stream {
                        event: StreamEvent::Data(d),
                        ..
                    } => d.len(),
                    _ => 0,
                })
                .sum::<usize>()
    }

    /// Queues a call of procedure `P`; returns its serial.
    pub fn call<P: RemoteProcedure>(&mut self, args: &P::Args) -> Result<u32, EngineError> {
        self.call_with_fds::<P>(args, Vec::new())
    }

    /// Queues a call that passes file descriptors (`CALL_WITH_FDS`).
    pub fn call_with_fds<P: RemoteProcedure>(
        &mut self,
        args: &P::Args,
        fds: Vec<OwnedFd>,
    ) -> Result<u32, EngineError> {
        let len = P::ArgsCodec::len(args);
        check_body(len, !fds.is_empty())?;
        let mut body = Vec::with_capacity(len);
        P::ArgsCodec::encode(args, &mut rt::Writer::new(&mut body)).map_err(EngineError::Encode)?;
        let stream = P::INFO.stream.map(|s| s.direction);
        self.call_raw(P::PROGRAM, P::VERSION, P::NUMBER as i32, body, fds, stream)
    }

    /// Queues a call given as raw parts (any program, any procedure).
    pub fn call_raw(
        &mut self,
        program: u32,
        version: u32,
        procedure: i32,
        body: Vec<u8>,
        fds: Vec<OwnedFd>,
        stream: Option<StreamDirection>,
    ) -> Result<u32, EngineError> {
        self.wire.ensure_open()?;
        if fds.len() > MAX_FDS {
            return Err(EngineError::TooManyFds(fds.len()));
        }
        let serial = self.next_serial;
        let kind = if fds.is_empty() {
            MessageType::Call
        } else {
            MessageType::CallWithFds
        };
        let mut frame = Frame::new(
            Header {
                program,
                version,
                procedure,
                kind,
                serial,
                status: MessageStatus::Ok,
            },
            body,
        );
        frame.num_fds = fds.len() as u32;
        // Before any state changes: a call too large leaves none.
        let bytes = frame.try_encode().map_err(frame_error)?;
        self.next_serial = self.next_serial.wrapping_add(1).max(1);
        if let Some(direction) = stream {
            let holes = asks_for_holes(program, procedure, &frame.body);
            self.streams.insert(
                serial,
                StreamInfo {
                    program,
                    version,
                    procedure,
                    state: StreamState::Open(direction),
                    holes,
                },
            );
        }
        let t = Transmit::with_fds(bytes, fds);
        let pending = Pending {
            procedure,
            detached: false,
            auth_step: is_auth_step(program, procedure),
        };
        if self.in_flight.len() < self.max_in_flight {
            self.in_flight.insert(serial, pending);
            self.wire.send(t);
        } else {
            self.waiting.push_back((serial, pending, t));
        }
        // The client acted on the last authentication step without a
        // security layer: what the daemon sent after it is read in clear.
        self.wire_release();
        Ok(serial)
    }

    /// Gives up on the call `serial`: if it still waits behind the in-flight
    /// limit it is never sent; if it was sent, its reply is dropped when it
    /// comes (and a stream it opens is aborted). Returns whether the call was
    /// pending.
    ///
    /// A sent call given up frees its in-flight slot at once, so a daemon
    /// that never answers some calls cannot hold every later one back.
    /// The daemon may still be working on it; if so its own limit
    /// (`max_client_requests`) applies, as it does to libvirt's client,
    /// which keeps no limit of its own. The serials of the last
    /// [`MAX_ABANDONED`] such calls are remembered to drop their replies;
    /// a reply to an older one is an [`Event::ProtocolError`].
    pub fn abandon(&mut self, serial: u32) -> bool {
        if let Some(i) = self.waiting.iter().position(|(s, ..)| *s == serial) {
            self.waiting.remove(i);
            self.streams.remove(&serial);
            return true;
        }
        if self.in_flight.remove(&serial).is_none() {
            return false;
        }
        self.remember_abandoned(serial);
        self.release_waiting();
        true
    }

    /// Stops waiting for the call `serial` but, unlike
    /// [`abandon`](Self::abandon), still sends it if it waits behind the
    /// in-flight limit (an event deregistration nobody waits for): it goes
    /// out in its turn, holds no in-flight slot, and its reply is dropped.
    /// Returns whether the call was pending.
    pub fn detach(&mut self, serial: u32) -> bool {
        if let Some((_, pending, _)) = self.waiting.iter_mut().find(|(s, ..)| *s == serial) {
            pending.detached = true;
            return true;
        }
        self.abandon(serial)
    }

    /// Remembers a sent call given up, to drop its reply, forgetting the
    /// oldest past [`MAX_ABANDONED`].
    fn remember_abandoned(&mut self, serial: u32) {
        if self.abandoned.len() == MAX_ABANDONED {
            if let Some(old) = self.abandoned.pop_front() {
                self.streams.remove(&old);
            }
        }
        self.abandoned.push_back(serial);
    }

    /// Decodes a reply body of procedure `P`.
    pub fn decode_reply<P: RemoteProcedure>(&self, body: &[u8]) -> Result<P::Ret, EngineError> {
        rt::decode_all::<P::RetCodec>(body).map_err(EngineError::Decode)
    }

    /// Sends data on a write stream.
    pub fn stream_send(&mut self, serial: u32, data: &[u8]) -> Result<(), EngineError> {
        check_body(data.len(), false)?;
        self.stream_send_buf(serial, FrameBuf::copy_of(data))
    }

    /// Sends data on a write stream, written in place: the buffer becomes
    /// the message without another copy.
    pub fn stream_send_buf(&mut self, serial: u32, data: FrameBuf) -> Result<(), EngineError> {
        self.stream_packet_buf(serial, MessageType::Stream, MessageStatus::Continue, data)
    }

    /// Sends a hole of `length` bytes on a sparse write stream; a stream
    /// that is not sparse gives [`EngineError::NotSparse`].
    pub fn stream_hole(&mut self, serial: u32, length: i64) -> Result<(), EngineError> {
        if self.streams.get(&serial).is_some_and(|s| !s.holes) {
            return Err(EngineError::NotSparse(serial));
        }
        let body = rt::to_bytes(&StreamHole { length, flags: 0 }).map_err(EngineError::Encode)?;
        self.stream_packet(
            serial,
            MessageType::StreamHole,
            MessageStatus::Continue,
            body,
        )
    }

    /// Finishes a write stream: sends OK and waits for the daemon's OK
    /// ([`StreamEvent::End`]).
    pub fn stream_finish(&mut self, serial: u32) -> Result<(), EngineError> {
        self.stream_packet(serial, MessageType::Stream, MessageStatus::Ok, Vec::new())?;
        if let Some(s) = self.streams.get_mut(&serial) {
            s.state = StreamState::Finishing;
        }
        Ok(())
    }

    /// Aborts a stream; no further events come for it (what the daemon
    /// sent before it learned of the abort, and its answer, are dropped).
    pub fn stream_abort(&mut self, serial: u32) -> Result<(), EngineError> {
        self.stream_packet(
            serial,
            MessageType::Stream,
            MessageStatus::Error,
            Vec::new(),
        )?;
        self.streams.remove(&serial);
        if self.aborted_streams.len() == MAX_ABORTED_STREAMS {
            self.aborted_streams.pop_front();
        }
        self.aborted_streams.push_back(serial);
        Ok(())
    }

    fn stream_packet(
        &mut self,
        serial: u32,
        kind: MessageType,
        status: MessageStatus,
        body: Vec<u8>,
    ) -> Result<(), EngineError> {
        self.stream_packet_buf(serial, kind, status, FrameBuf::copy_of(&body))
    }

    fn stream_packet_buf(
        &mut self,
        serial: u32,
        kind: MessageType,
        status: MessageStatus,
        body: FrameBuf,
    ) -> Result<(), EngineError> {
        self.wire.ensure_open()?;
        let s = self
            .streams
            .get(&serial)
            .ok_or(EngineError::NoSuchStream(serial))?;
        let header = Header {
            program: s.program,
            version: s.version,
            procedure: s.procedure,
            kind,
            serial,
            status,
        };
        let bytes = body.finish(&header).map_err(frame_error)?;
        self.wire.send(Transmit {
            bytes,
            fds: Vec::new(),
        });
        Ok(())
    }

    /// Descriptors received from the transport (before the bytes they came
    /// with are passed to [`ClientEngine::handle_input`]). Only a reply
    /// starting within those bytes takes them; those no reply takes are
    /// closed. More than [`MAX_FDS`] at once end the connection
    /// ([`ProtocolError::TooManyFds`]).
    pub fn handle_fds(&mut self, fds: Vec<OwnedFd>) {
        self.wire_fds(fds);
    }

    /// From now on, every byte sent goes through `layer` and every byte
    /// received comes out of it: authentication calls this when its
    /// mechanism has negotiated a security layer (see [`layer`]).
    ///
    /// Bytes received after the final authentication reply end the
    /// connection ([`LayerError::EarlyData`]): the daemon sends nothing
    /// between that reply and the client's next call, and whether such
    /// bytes would be in clear or under the layer cannot be known. (After
    /// a reply to `AUTH_SASL_START` or `AUTH_SASL_STEP`, what came with it
    /// is not parsed until the client sets the layer or sends its next
    /// call, and bytes received meanwhile end the connection.)
    ///
    /// [`layer`]: super::layer
    /// [`LayerError::EarlyData`]: super::layer::LayerError::EarlyData
    pub fn set_security_layer(&mut self, layer: Box<dyn SecurityLayer>) {
        self.wire_set_layer(layer, Queued::ThroughLayer);
    }

    /// Whether a security layer carries the connection.
    pub fn has_security_layer(&self) -> bool {
        self.wire.has_security_layer()
    }

    /// Bytes received from the transport, in any chunking.
    pub fn handle_input(&mut self, data: &[u8], now: Instant) {
        self.wire_input(data, now);
    }

    /// Where the transport may read its next bytes without a copy: the
    /// rest of a large message's body, stream data mostly, while bytes
    /// come in clear. Bytes appended within the vector's spare capacity
    /// (never more than the body lacks, so no descriptor-carrying byte
    /// can be among them) are then handed over with
    /// [`ClientEngine::handle_input_appended`]; `None` when the next
    /// bytes go through [`ClientEngine::handle_input`]. The async
    /// client reads stream data this way; see
    /// [`FrameDecoder::body_space`](crate::frame::FrameDecoder::body_space)
    /// for the loop.
    pub fn input_space(&mut self) -> Option<&mut Vec<u8>> {
        self.wire.input_space()
    }

    /// The buffers large message bodies are received into: a body given
    /// back once its bytes are used is reused for a later one (see
    /// [`BodyPool`](crate::frame::BodyPool)).
    pub fn body_pool(&self) -> &crate::frame::BodyPool {
        self.wire.body_pool()
    }

    /// `n` bytes were appended to [`ClientEngine::input_space`].
    pub fn handle_input_appended(&mut self, n: usize, now: Instant) {
        self.wire_input_appended(n, now);
    }

    /// The transport reached end of file.
    pub fn handle_eof(&mut self) {
        self.close_with(CloseReason::PeerClosed);
    }

    /// Reading or writing the transport failed: the connection ends with
    /// [`CloseReason::Transport`], which keeps `error` as its cause.
    pub fn handle_transport_error(&mut self, error: std::io::Error) {
        self.close_with(CloseReason::Transport(std::sync::Arc::new(error)));
    }

    /// Ends the connection locally: pending calls fail, nothing more is sent.
    pub fn close(&mut self) {
        self.close_with(CloseReason::Local);
    }

    /// Runs timers (keepalive) at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.wire_timeout(now);
    }

    /// When [`ClientEngine::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.wire.poll_timeout()
    }

    /// The next bytes to write: one frame, or with a security layer the
    /// packets carrying it.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.wire_transmit()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Whether the connection has ended.
    pub fn is_closed(&self) -> bool {
        self.wire.is_closed()
    }

    /// A reply to no call in flight: dropped if its call was abandoned
    /// (descriptors closed, a stream it opened aborted), else a protocol
    /// error.
    fn drop_abandoned_reply(&mut self, frame: &Frame) {
        let h = frame.header;
        let Some(i) = self.abandoned.iter().position(|&s| s == h.serial) else {
            return self.protocol_error(ProtocolError::UnknownSerial(h.serial));
        };
        self.abandoned.remove(i);
        // Unclaimed descriptors are closed here.
        drop(self.wire.take_fds(frame.num_fds));
        if h.status == MessageStatus::Ok && self.streams.contains_key(&h.serial) {
            let _ = self.stream_abort(h.serial);
        }
        self.streams.remove(&h.serial);
    }

    fn protocol_error(&mut self, e: ProtocolError) {
        self.events.push_back(Event::ProtocolError(e));
    }

    fn handle_reply(&mut self, frame: Frame) {
        let h = frame.header;
        let Some(pending) = self.in_flight.remove(&h.serial) else {
            return self.drop_abandoned_reply(&frame);
        };
        let (result, fds) = match self.wire.take_fds(frame.num_fds) {
            Ok(fds) => {
                let result = match h.status {
                    MessageStatus::Ok => Ok(frame.body),
                    MessageStatus::Error => match rt::from_bytes::<MessageError>(&frame.body) {
                        Ok(e) => Err(CallError::Remote(e.into())),
                        Err(e) => Err(CallError::Protocol(ProtocolError::Dispatch(
                            DispatchError::Decode(e),
                        ))),
                    },
                    MessageStatus::Continue => Err(CallError::Protocol(ProtocolError::Dispatch(
                        DispatchError::UnexpectedStatus {
                            kind: h.kind,
                            status: h.status,
                        },
                    ))),
                };
                (result, fds)
            }
            Err(e) => (Err(CallError::Protocol(e)), Vec::new()),
        };
        if result.is_err() {
            // A failed call never opens its stream.
            self.streams.remove(&h.serial);
        }
        self.events.push_back(Event::Reply {
            serial: h.serial,
            procedure: pending.procedure,
            result,
            fds,
        });
        if pending.auth_step {
            self.wire_hold();
        }
        self.release_waiting();
    }

    fn handle_stream(&mut self, frame: Frame) {
        let h = frame.header;
        let Some((state, holes)) = self.streams.get(&h.serial).map(|s| (s.state, s.holes)) else {
            return self.drop_aborted_stream_packet(&h);
        };
        let reading = state == StreamState::Open(StreamDirection::Read);
        if h.kind == MessageType::Stream
            && h.status == MessageStatus::Continue
            && !frame.body.is_empty()
            && reading
        {
            // Data, the bulk of a transfer: handed on without a copy.
            return self.events.push_back(Event::Stream {
                serial: h.serial,
                event: StreamEvent::Data(frame.body),
            });
        }
        let event = match dispatch::decode(&frame) {
            Ok(Body::StreamData(d))
                if d.is_empty() && state == StreamState::Open(StreamDirection::Read) =>
            {
                // libvirt's end of data: finish with our OK; the daemon's
                // OK then closes the stream.
                let header = Header {
                    status: MessageStatus::Ok,
                    ..h
                };
                self.wire.send(Transmit::frame(header, Vec::new()));
                if let Some(s) = self.streams.get_mut(&h.serial) {
                    s.state = StreamState::Finishing;
                }
                StreamEvent::Eof
            }
            // An empty packet after the end changes nothing.
            Ok(Body::StreamData(d))
                if !reading && d.is_empty() && state == StreamState::Finishing =>
            {
                return
            }
            Ok(Body::StreamData(_) | Body::StreamHole(_)) if !reading => {
                let v = if state == StreamState::Finishing {
                    StreamViolation::AfterEnd
                } else {
                    StreamViolation::OnWriteStream
                };
                self.stream_violation(h.serial, v)
            }
            Ok(Body::StreamData(d)) => StreamEvent::Data(d),
            Ok(Body::StreamHole(_)) if !holes => {
                self.stream_violation(h.serial, StreamViolation::UnexpectedHole)
            }
            Ok(Body::StreamHole(hole)) => match hole_length(&hole) {
                Ok(length) => StreamEvent::Hole(length),
                Err(v) => self.stream_violation(h.serial, v),
            },
            Ok(Body::Error(e)) => {
                self.streams.remove(&h.serial);
                StreamEvent::Error(e)
            }
            Ok(Body::StreamEnd) if state == StreamState::Finishing => {
                // The daemon's OK, the answer to ours.
                self.streams.remove(&h.serial);
                StreamEvent::End
            }
            Ok(Body::StreamEnd) => self.stream_violation(h.serial, StreamViolation::UnaskedEnd),
            Ok(_) => return,
            Err(e) => return self.protocol_error(ProtocolError::Dispatch(e)),
        };
        self.events.push_back(Event::Stream {
            serial: h.serial,
            event,
        });
    }

    /// A packet for no open stream: dropped if its stream was aborted
    /// here and the daemon has not answered the abort yet (data already
    /// on its way, then libvirtd's confirming OK), as libvirt's client
    /// drops it; otherwise a protocol error.
    fn drop_aborted_stream_packet(&mut self, h: &Header) {
        let Some(i) = self.aborted_streams.iter().position(|&s| s == h.serial) else {
            return self.protocol_error(ProtocolError::UnknownSerial(h.serial));
        };
        if h.status != MessageStatus::Continue {
            // The daemon's last word on it.
            self.aborted_streams.remove(i);
        }
    }

    /// Aborts a stream the daemon broke, as the daemon would learn from
    /// libvirt's client, and says why.
    fn stream_violation(&mut self, serial: u32, v: StreamViolation) -> StreamEvent {
        // The abort is best effort: a closed connection has no stream.
        let _ = self.stream_abort(serial);
        self.streams.remove(&serial);
        StreamEvent::Violation(v)
    }

    fn release_waiting(&mut self) {
        while self.in_flight.len() < self.max_in_flight {
            let Some((serial, pending, t)) = self.waiting.pop_front() else {
                break;
            };
            if pending.detached {
                self.remember_abandoned(serial);
            } else {
                self.in_flight.insert(serial, pending);
            }
            self.wire.send(t);
        }
    }
}

impl Role for ClientEngine {
    fn wire(&mut self) -> &mut Wire {
        &mut self.wire
    }

    fn handle_frame(&mut self, frame: Frame) {
        let h = frame.header;
        match h.kind {
            MessageType::Reply | MessageType::ReplyWithFds => self.handle_reply(frame),
            MessageType::Stream | MessageType::StreamHole => self.handle_stream(frame),
            MessageType::Message => {
                // The wire answered PING and PONG; anything else of
                // keepalive's is reported.
                if h.program == keepalive::program::NUMBER {
                    return self.protocol_error(ProtocolError::Dispatch(
                        DispatchError::UnknownProcedure {
                            program: h.program,
                            procedure: h.procedure,
                        },
                    ));
                }
                match dispatch::decode(&frame) {
                    Ok(Body::Message(message)) => self.events.push_back(Event::Message {
                        message,
                        wire_len: frame.body.len(),
                    }),
                    Ok(_) => {
                        self.protocol_error(ProtocolError::Dispatch(DispatchError::WrongKind {
                            procedure: h.procedure,
                            kind: h.kind,
                        }))
                    }
                    Err(e) => self.protocol_error(ProtocolError::Dispatch(e)),
                }
            }
            MessageType::Call | MessageType::CallWithFds => {
                self.protocol_error(ProtocolError::Dispatch(DispatchError::WrongKind {
                    procedure: h.procedure,
                    kind: h.kind,
                }))
            }
        }
    }

    fn on_close(&mut self, reason: CloseReason) {
        let mut serials: Vec<(u32, i32)> = self
            .in_flight
            .drain()
            .chain(self.waiting.drain(..).map(|(s, p, _)| (s, p)))
            .map(|(s, p)| (s, p.procedure))
            .collect();
        serials.sort_unstable();
        for (serial, procedure) in serials {
            self.events.push_back(Event::Reply {
                serial,
                procedure,
                result: Err(CallError::ConnectionLost(reason.clone())),
                fds: Vec::new(),
            });
        }
        self.streams.clear();
        self.abandoned.clear();
        self.aborted_streams.clear();
        self.wire.discard_output();
        self.events.push_back(Event::Closed(reason));
    }
}
