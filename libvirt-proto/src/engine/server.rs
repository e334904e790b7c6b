//! The server side of a connection: calls handed out typed, with their
//! header so a reply can be addressed; replies, full errors, events and
//! stream traffic sent back; the client's keepalive answered.

use std::collections::{HashMap, VecDeque};
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use xdrgen::rt::{self, Encode, StreamDirection};

use super::layer::SecurityLayer;
use super::wire::{check_body, frame_error, Queued, Role, Wire};
use super::{
    asks_for_holes, hole_length, is_auth_step, CloseReason, EngineError, ProtocolError,
    StreamViolation, Transmit,
};
use crate::dispatch::{self, Body, DispatchError};
use crate::error::RemoteError;
use crate::error_codes::{ErrorDomain, ErrorNumber};
use crate::frame::{Frame, FrameBuf, Header, MAX_FDS};
use crate::generated::keepalive;
use crate::generated::virnet::{MessageError, MessageStatus, MessageType, StreamHole};

/// Calls a client may have unanswered before the engine stops taking its
/// frames: libvirtd's `max_client_requests` default.
pub const DEFAULT_MAX_CLIENT_REQUESTS: usize = 5;

/// Bytes queued for the client (not yet taken with
/// [`ServerEngine::poll_transmit`]) past which the driver is told to stop
/// reading ([`ServerEngine::input_throttled`]): a client that sends calls
/// or PINGs without reading their answers cannot grow the queue by more
/// than the answers to one read.
pub const OUTPUT_THROTTLE: usize = 4 << 20;

/// What the client did on a stream.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientStreamEvent {
    /// Data from the client (write streams).
    Data(Vec<u8>),
    /// A hole of this many bytes.
    Hole(i64),
    /// The client finished (its OK); answer with [`ServerEngine::stream_finish`].
    Finish,
    /// The client aborted; the stream is closed. The engine has already
    /// confirmed it as libvirtd does, with an empty OK, which libvirt's
    /// client waits for.
    Abort,
}

/// Something for the server to act on.
#[derive(Debug)]
pub enum ServerEvent {
    /// A call to answer with [`ServerEngine::reply`] or
    /// [`ServerEngine::reply_error`].
    Call {
        /// Its header (program, version, procedure, serial).
        header: Header,
        /// The typed arguments.
        call: dispatch::Call,
        /// Descriptors passed with it.
        fds: Vec<OwnedFd>,
    },
    /// Stream traffic from the client for the call with this serial.
    Stream {
        /// The stream's serial.
        serial: u32,
        /// What happened.
        event: ClientStreamEvent,
    },
    /// Something wrong the connection survives (the server should answer a
    /// call it cannot decode with an error; the header says which).
    ProtocolError {
        /// The offending frame's header, when it had one.
        header: Option<Header>,
        /// What was wrong.
        error: ProtocolError,
    },
    /// The connection ended.
    Closed(CloseReason),
}

/// A libvirt RPC server connection without I/O.
///
/// Like libvirtd, it takes at most [`ServerEngine::set_max_requests`]
/// calls (by default [`DEFAULT_MAX_CLIENT_REQUESTS`]) before their
/// replies: past that, frames received wait unparsed and
/// [`ServerEngine::input_throttled`] tells the driver to stop reading, until
/// a reply frees a slot.
#[derive(Debug)]
pub struct ServerEngine {
    wire: Wire,
    events: VecDeque<ServerEvent>,
    /// Open streams, by serial.
    streams: HashMap<u32, OpenStream>,
    max_requests: usize,
    /// Calls handed out and not answered yet, by serial.
    unanswered: HashMap<u32, Unanswered>,
    /// Their number.
    outstanding: usize,
    /// A SASL step handed out (its serial), and whether it was answered:
    /// nothing after it is parsed until the server has set the layer or
    /// polls for the next event.
    auth_step: Option<(u32, bool)>,
}

/// A stream opened by a reply.
#[derive(Debug, Clone, Copy)]
struct OpenStream {
    /// Its call's header.
    header: Header,
    /// Whether holes may travel (a sparse volume transfer).
    holes: bool,
    /// Whether the client may send data on it: on a write stream, and on
    /// a console or channel, which carry data both ways.
    client_writes: bool,
    /// The client has finished (its OK) and waits for the server's.
    finishing: bool,
}

/// A call not answered yet: how many with its serial (a client may reuse
/// one), and whether one asks for a sparse stream.
#[derive(Debug, Default)]
struct Unanswered {
    count: usize,
    sparse: bool,
}

impl ServerEngine {
    /// A connection that has received nothing yet.
    pub fn new(now: Instant) -> Self {
        ServerEngine {
            wire: Wire::new(now),
            events: VecDeque::new(),
            streams: HashMap::new(),
            max_requests: DEFAULT_MAX_CLIENT_REQUESTS,
            unanswered: HashMap::new(),
            outstanding: 0,
            auth_step: None,
        }
    }

    /// Sets how many calls may be unanswered at once (libvirtd's
    /// `max_client_requests`, at least 1). A call the engine could not
    /// decode (a [`ServerEvent::ProtocolError`] with a call's header)
    /// counts too, until [`ServerEngine::reply_error`] answers it. Stream
    /// packets do not count (libvirtd counts them until it has processed
    /// them; here the driver consumes them).
    pub fn set_max_requests(&mut self, n: usize) {
        self.max_requests = n.max(1);
        self.wire_parse();
    }

    /// Calls handed out and not answered yet.
    pub fn outstanding_calls(&self) -> usize {
        self.outstanding
    }

    /// Whether the driver should stop reading the transport for now, as
    /// libvirtd does. That is while
    /// - [`ServerEngine::set_max_requests`] calls are unanswered: the
    ///   engine takes no more frames (bytes passed in anyway wait
    ///   unparsed); answering one resumes at once, and its reply may be
    ///   followed by more events;
    /// - more than [`OUTPUT_THROTTLE`] bytes wait to be sent
    ///   ([`ServerEngine::queued_output`]); frames already received wait
    ///   too, and taking the output ([`ServerEngine::poll_transmit`])
    ///   hands them out and resumes, so a driver polls for events after
    ///   it;
    /// - a SASL step (`AUTH_SASL_START`, `AUTH_SASL_STEP`) is not yet
    ///   answered, or answered and the server has not yet set the layer
    ///   or polled for the next event: what the client sends after it may
    ///   belong to the layer. A client sends nothing before it has the
    ///   answer, so bytes passed in meanwhile end the connection
    ///   ([`LayerError::EarlyData`]).
    ///
    /// In the first and last case the client's keepalive PINGs wait too;
    /// libvirtd warns that this may end a client for silence, and a driver
    /// that wants to avoid that pauses the keepalive
    /// ([`ServerEngine::set_input_paused`]) while
    /// [`ServerEngine::outstanding_calls`] is at the limit. Not for queued
    /// output: a client that does not read is the client's doing, and
    /// keepalive should judge it.
    ///
    /// [`LayerError::EarlyData`]: super::layer::LayerError::EarlyData
    pub fn input_throttled(&self) -> bool {
        self.outstanding >= self.max_requests
            || self.wire.queued_output() > OUTPUT_THROTTLE
            || self.wire.auth_hold()
    }

    /// Bytes queued for the client and not yet taken with
    /// [`ServerEngine::poll_transmit`]. A server producing stream data or
    /// events for a slow client waits while this is high.
    pub fn queued_output(&self) -> usize {
        self.wire.queued_output()
    }

    /// Whether the unanswered call with `serial` asked for a sparse
    /// stream (a volume transfer with its `SPARSE_STREAM` flag), so that
    /// holes may travel on the stream its reply opens.
    pub fn call_is_sparse(&self, serial: u32) -> bool {
        self.unanswered.get(&serial).is_some_and(|u| u.sparse)
    }

    /// `header`'s call is answered: its slot is free.
    fn answered(&mut self, header: &Header) {
        let Some(u) = self.unanswered.get_mut(&header.serial) else {
            return;
        };
        if let Some((serial, answered)) = &mut self.auth_step {
            *answered |= *serial == header.serial;
        }
        u.count -= 1;
        if u.count == 0 {
            self.unanswered.remove(&header.serial);
        }
        self.outstanding -= 1;
        self.wire_parse();
    }

    /// A call is handed out (or refused as undecodable): it waits for its
    /// answer. `sparse`: it asks for a sparse stream.
    fn unanswered_call(&mut self, header: &Header, sparse: bool) {
        let u = self.unanswered.entry(header.serial).or_default();
        u.count += 1;
        u.sparse |= sparse;
        self.outstanding += 1;
    }

    /// Pings a silent client every `interval` and drops it after `count`
    /// unanswered pings (libvirtd's `keepalive_interval` / `keepalive_count`).
    pub fn enable_keepalive(&mut self, interval: Duration, count: u32, now: Instant) {
        self.wire.enable_keepalive(interval, count, now);
    }

    /// Tells the engine whether the driver reads the transport, so that
    /// keepalive does not judge a silence the driver caused; see
    /// [`Keepalive::set_paused`].
    ///
    /// [`Keepalive::set_paused`]: super::keepalive::Keepalive::set_paused
    pub fn set_input_paused(&mut self, paused: bool, now: Instant) {
        self.wire.set_input_paused(paused, now);
    }

    /// Runs timers (keepalive) at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.wire_timeout(now);
    }

    /// When [`ServerEngine::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.wire.poll_timeout()
    }

    /// Descriptors received from the transport (before the bytes they came
    /// with are passed to [`ServerEngine::handle_input`]). Only a call
    /// starting within those bytes takes them; those no call takes are
    /// closed. More than [`MAX_FDS`] at once end the connection
    /// ([`ProtocolError::TooManyFds`]).
    pub fn handle_fds(&mut self, fds: Vec<OwnedFd>) {
        self.wire_fds(fds);
    }

    /// Puts the connection under `layer` as libvirtd does when SASL
    /// authentication completes: what is queued already (the reply that
    /// completes it) goes out as is, everything after through the layer;
    /// every byte received from now on comes out of it.
    /// Bytes already received but not yet parsed at that point end the
    /// connection ([`LayerError::EarlyData`]): a client sends nothing
    /// before it has read the final reply.
    ///
    /// [`LayerError::EarlyData`]: super::layer::LayerError::EarlyData
    pub fn set_security_layer(&mut self, layer: Box<dyn SecurityLayer>) {
        self.auth_step = None;
        self.wire_set_layer(layer, Queued::Clear);
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
    /// [`ServerEngine::handle_input_appended`]; `None` when the next
    /// bytes go through [`ServerEngine::handle_input`]. The async
    /// server reads stream data this way; see
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

    /// `n` bytes were appended to [`ServerEngine::input_space`].
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

    /// The next bytes to write: one frame, or with a security layer the
    /// packets carrying it.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        let t = self.wire_transmit();
        if t.is_some() {
            // Frames held back while the output was too large go on.
            self.wire_parse();
        }
        t
    }

    /// Whether the connection has ended.
    pub fn is_closed(&self) -> bool {
        self.wire.is_closed()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        if let Some((_, true)) = self.auth_step {
            // The step was answered without a security layer.
            self.auth_step = None;
            self.wire_release();
        }
        self.events.pop_front()
    }

    fn push(
        &mut self,
        header: Header,
        body: Vec<u8>,
        fds: Vec<OwnedFd>,
    ) -> Result<(), EngineError> {
        self.wire.ensure_open()?;
        if fds.len() > MAX_FDS {
            return Err(EngineError::TooManyFds(fds.len()));
        }
        let mut frame = Frame::new(header, body);
        frame.num_fds = fds.len() as u32;
        let bytes = frame.try_encode().map_err(frame_error)?;
        self.wire.send(Transmit::with_fds(bytes, fds));
        Ok(())
    }

    /// Answers the call with `header` successfully. A call of a stream
    /// procedure opens its stream.
    pub fn reply<T: Encode + ?Sized>(
        &mut self,
        header: &Header,
        ret: &T,
    ) -> Result<(), EngineError> {
        self.reply_with_fds(header, ret, Vec::new())
    }

    /// Answers with descriptors (`REPLY_WITH_FDS`).
    pub fn reply_with_fds<T: Encode + ?Sized>(
        &mut self,
        header: &Header,
        ret: &T,
        fds: Vec<OwnedFd>,
    ) -> Result<(), EngineError> {
        let body = encode_body(ret, !fds.is_empty())?;
        let kind = if fds.is_empty() {
            MessageType::Reply
        } else {
            MessageType::ReplyWithFds
        };
        let reply = Header {
            kind,
            status: MessageStatus::Ok,
            ..*header
        };
        self.push(reply, body, fds)?;
        if let Some(direction) = stream_direction(header) {
            let holes = self
                .unanswered
                .get(&header.serial)
                .is_some_and(|u| u.sparse);
            self.streams.insert(
                header.serial,
                OpenStream {
                    header: *header,
                    holes,
                    client_writes: direction == StreamDirection::Write || both_ways(header),
                    finishing: false,
                },
            );
        }
        self.answered(header);
        Ok(())
    }

    /// Answers the call with `header` with an error.
    pub fn reply_error(&mut self, header: &Header, error: RemoteError) -> Result<(), EngineError> {
        let body = encode_body(&MessageError::from(error), false)?;
        let reply = Header {
            kind: MessageType::Reply,
            status: MessageStatus::Error,
            ..*header
        };
        self.push(reply, body, Vec::new())?;
        self.answered(header);
        Ok(())
    }

    /// Sends a one-way message (an event).
    pub fn send_message<T: Encode + ?Sized>(
        &mut self,
        program: u32,
        version: u32,
        procedure: i32,
        body: &T,
    ) -> Result<(), EngineError> {
        let body = encode_body(body, false)?;
        let header = Header {
            program,
            version,
            procedure,
            kind: MessageType::Message,
            serial: 0,
            status: MessageStatus::Ok,
        };
        self.push(header, body, Vec::new())
    }

    fn stream_header(&self, serial: u32) -> Result<Header, EngineError> {
        self.open_stream(serial).map(|s| s.header)
    }

    fn open_stream(&self, serial: u32) -> Result<OpenStream, EngineError> {
        self.streams
            .get(&serial)
            .copied()
            .ok_or(EngineError::NoSuchStream(serial))
    }

    /// Sends stream data (read streams). An empty slice is libvirt's end of
    /// data; the client then finishes.
    pub fn stream_send(&mut self, serial: u32, data: &[u8]) -> Result<(), EngineError> {
        check_body(data.len(), false)?;
        self.stream_send_buf(serial, FrameBuf::copy_of(data))
    }

    /// Sends stream data written in place: the buffer becomes the message
    /// without another copy (see [`stream_send`](Self::stream_send)).
    pub fn stream_send_buf(&mut self, serial: u32, data: FrameBuf) -> Result<(), EngineError> {
        let h = self.stream_header(serial)?;
        self.wire.ensure_open()?;
        let header = Header {
            kind: MessageType::Stream,
            status: MessageStatus::Continue,
            ..h
        };
        let bytes = data.finish(&header).map_err(frame_error)?;
        self.wire.send(Transmit {
            bytes,
            fds: Vec::new(),
        });
        Ok(())
    }

    /// Sends a hole on a sparse stream (a volume download asked for with
    /// its `SPARSE_STREAM` flag); another stream gives
    /// [`EngineError::NotSparse`].
    pub fn stream_hole(&mut self, serial: u32, length: i64) -> Result<(), EngineError> {
        let OpenStream {
            header: h, holes, ..
        } = self.open_stream(serial)?;
        if !holes {
            return Err(EngineError::NotSparse(serial));
        }
        let body = encode_body(&StreamHole { length, flags: 0 }, false)?;
        let header = Header {
            kind: MessageType::StreamHole,
            status: MessageStatus::Continue,
            ..h
        };
        self.push(header, body, Vec::new())
    }

    /// Answers the client's finish with OK; the stream is closed.
    pub fn stream_finish(&mut self, serial: u32) -> Result<(), EngineError> {
        let h = self.stream_header(serial)?;
        let header = Header {
            kind: MessageType::Stream,
            status: MessageStatus::Ok,
            ..h
        };
        self.streams.remove(&serial);
        self.push(header, Vec::new(), Vec::new())
    }

    /// Aborts a stream with an error.
    pub fn stream_error(&mut self, serial: u32, error: RemoteError) -> Result<(), EngineError> {
        let h = self.stream_header(serial)?;
        let body = encode_body(&MessageError::from(error), false)?;
        let header = Header {
            kind: MessageType::Stream,
            status: MessageStatus::Error,
            ..h
        };
        self.streams.remove(&serial);
        self.push(header, body, Vec::new())
    }

    /// A packet that does not fit its stream (a hole where none may
    /// travel, data on a stream the server writes or after the client's
    /// finish, a malformed hole): the stream ends with an error to the
    /// client, libvirtd's "Unexpected stream hole" for a hole, and the
    /// server learns of it from a protocol error. (libvirtd ends the whole
    /// connection for a hole it did not expect; here only the stream ends,
    /// as the client engine ends it.)
    fn refuse_packet(&mut self, h: Header, violation: StreamViolation) {
        let message = match violation {
            StreamViolation::UnexpectedHole => "Unexpected stream hole".to_owned(),
            v => v.to_string(),
        };
        let error = RemoteError::new(ErrorNumber::ERR_RPC, ErrorDomain::STREAMS, message);
        // The stream is open (checked), so only a closed connection can
        // refuse the error, and then there is nobody to tell.
        let _ = self.stream_error(h.serial, error);
        self.events.push_back(ServerEvent::ProtocolError {
            header: Some(h),
            error: ProtocolError::Stream(violation),
        });
    }
}

impl Role for ServerEngine {
    fn wire(&mut self) -> &mut Wire {
        &mut self.wire
    }

    fn handle_frame(&mut self, frame: Frame) {
        let h = frame.header;
        // An unknown keepalive procedure is ignored, as libvirtd does.
        if h.program == keepalive::program::NUMBER && h.kind == MessageType::Message {
            return;
        }
        match h.kind {
            MessageType::Call | MessageType::CallWithFds => {
                // Every call waits for an answer, a malformed one too.
                self.unanswered_call(&h, asks_for_holes(h.program, h.procedure, &frame.body));
                if is_auth_step(h.program, h.procedure) {
                    self.auth_step = Some((h.serial, false));
                    self.wire_hold();
                }
                let fds = match self.wire.take_fds(frame.num_fds) {
                    Ok(fds) => fds,
                    Err(error) => {
                        return self.events.push_back(ServerEvent::ProtocolError {
                            header: Some(h),
                            error,
                        })
                    }
                };
                let event = match dispatch::decode(&frame) {
                    Ok(Body::Call(call)) => ServerEvent::Call {
                        header: h,
                        call,
                        fds,
                    },
                    Ok(_) => ServerEvent::ProtocolError {
                        header: Some(h),
                        error: ProtocolError::Dispatch(DispatchError::WrongKind {
                            procedure: h.procedure,
                            kind: h.kind,
                        }),
                    },
                    Err(e) => ServerEvent::ProtocolError {
                        header: Some(h),
                        error: ProtocolError::Dispatch(e),
                    },
                };
                self.events.push_back(event);
            }
            MessageType::Stream | MessageType::StreamHole => {
                // A stream is its call's serial and procedure, as libvirtd
                // matches it: a packet naming another procedure is not
                // this stream's.
                let stream = self
                    .streams
                    .get(&h.serial)
                    .filter(|s| (s.header.program, s.header.procedure) == (h.program, h.procedure));
                let Some(&stream) = stream else {
                    return self.events.push_back(ServerEvent::ProtocolError {
                        header: Some(h),
                        error: ProtocolError::UnknownSerial(h.serial),
                    });
                };
                let carries_data = h.kind == MessageType::StreamHole
                    || (h.kind == MessageType::Stream && h.status == MessageStatus::Continue);
                if carries_data {
                    let violation = if !stream.client_writes {
                        Some(StreamViolation::OnReadStream)
                    } else if stream.finishing {
                        Some(StreamViolation::AfterEnd)
                    } else if h.kind == MessageType::StreamHole && !stream.holes {
                        Some(StreamViolation::UnexpectedHole)
                    } else {
                        None
                    };
                    if let Some(v) = violation {
                        return self.refuse_packet(h, v);
                    }
                }
                let event = match (h.kind, h.status) {
                    (MessageType::Stream, MessageStatus::Continue) => {
                        ClientStreamEvent::Data(frame.body)
                    }
                    (MessageType::Stream, MessageStatus::Ok) => {
                        if let Some(s) = self.streams.get_mut(&h.serial) {
                            s.finishing = true;
                        }
                        ClientStreamEvent::Finish
                    }
                    (MessageType::Stream, MessageStatus::Error) => {
                        self.streams.remove(&h.serial);
                        let confirm = Header {
                            status: MessageStatus::Ok,
                            ..h
                        };
                        // Only a closed connection refuses it.
                        let _ = self.push(confirm, Vec::new(), Vec::new());
                        ClientStreamEvent::Abort
                    }
                    _ => match rt::from_bytes::<StreamHole>(&frame.body) {
                        Ok(hole) => match hole_length(&hole) {
                            Ok(length) => ClientStreamEvent::Hole(length),
                            Err(v) => return self.refuse_packet(h, v),
                        },
                        Err(_) => return self.refuse_packet(h, StreamViolation::MalformedHole),
                    },
                };
                self.events.push_back(ServerEvent::Stream {
                    serial: h.serial,
                    event,
                });
            }
            _ => self.events.push_back(ServerEvent::ProtocolError {
                header: Some(h),
                error: ProtocolError::Dispatch(DispatchError::WrongKind {
                    procedure: h.procedure,
                    kind: h.kind,
                }),
            }),
        }
    }

    /// Whether another frame may be parsed: a slot is free, and the
    /// answers already queued are not past [`OUTPUT_THROTTLE`] (else a
    /// client that does not read could have a whole read's worth of calls
    /// answered into memory).
    fn accepting(&self) -> bool {
        self.outstanding < self.max_requests && self.wire.queued_output() <= OUTPUT_THROTTLE
    }

    fn on_close(&mut self, reason: CloseReason) {
        self.streams.clear();
        self.unanswered.clear();
        self.outstanding = 0;
        self.events.push_back(ServerEvent::Closed(reason));
    }
}

/// `value` encoded, unless it would make a message above the limit.
fn encode_body<T: Encode + ?Sized>(value: &T, with_fds: bool) -> Result<Vec<u8>, EngineError> {
    check_body(value.encoded_len(), with_fds)?;
    rt::to_bytes(value).map_err(EngineError::Encode)
}

/// Whether the call opens a console or a channel: libvirt annotates them
/// `@readstream`, yet they carry data both ways.
fn both_ways(h: &Header) -> bool {
    use crate::generated::remote::program::{Procedure as P, NUMBER};
    h.program == NUMBER
        && [P::DomainOpenConsole as i32, P::DomainOpenChannel as i32].contains(&h.procedure)
}

/// The direction of the stream the call opens, if its procedure has
/// `@readstream` or `@writestream`.
fn stream_direction(h: &Header) -> Option<StreamDirection> {
    use crate::generated::{admin, lxc, qemu, remote};
    let p = u32::try_from(h.procedure).ok()?;
    macro_rules! lookup {
        ($($m:ident),*) => {$(
            if h.program == $m::program::NUMBER {
                return $m::program::Procedure::try_from(p)
                    .ok()
                    .and_then(|p| p.info().stream)
                    .map(|s| s.direction);
            }
        )*};
    }
    lookup!(remote, qemu, lxc, admin);
    None
}
