//! A sans-IO libvirt RPC connection: bytes (and file descriptors) in,
//! frames and typed events out, time passed in. No sockets, no threads, no
//! async runtime: a driver reads and writes the transport and calls in.
//! [`ClientEngine`] is the client's side, [`ServerEngine`] the daemon's;
//! [`auth`] runs authentication on top of either. Both share one wire
//! half: framing, descriptors, keepalive, the security layer, the
//! transmit queue.
//!
//! [`open::Opener`] opens a connection the way libvirt's own client does:
//! authenticate ([`auth::ClientAuth`]), ask `CONNECT_SUPPORTS_FEATURE` for
//! [`FEATURE_PROGRAM_KEEPALIVE`] and, if supported, start keepalive, then
//! `CONNECT_OPEN` with the URI and flags ([`open::CONNECT_RO`] for
//! read-only). Call `CONNECT_CLOSE` before dropping the transport.
//!
//! ```
//! use std::time::Instant;
//! use libvirt_proto::engine::{ClientEngine, Event};
//! use libvirt_proto::remote::program::procs::ConnectGetLibVersion;
//!
//! let now = Instant::now();
//! let mut client = ClientEngine::new(now);
//! let serial = client.call::<ConnectGetLibVersion>(&()).unwrap();
//! let out = client.poll_transmit().unwrap(); // write out.bytes to the socket
//! assert_eq!(out.bytes.len(), 28);
//!
//! // ... bytes read from the socket go back in:
//! # let reply = libvirt_proto::engine::test_support::reply_to(&out.bytes, &11_003_000u64.to_be_bytes());
//! client.handle_input(&reply, now);
//! match client.poll_event() {
//!     Some(Event::Reply { serial: s, result: Ok(body), .. }) => {
//!         assert_eq!(s, serial);
//!         let v = client.decode_reply::<ConnectGetLibVersion>(&body).unwrap();
//!         assert_eq!(v.lib_ver, 11_003_000);
//!     }
//!     other => panic!("{other:?}"),
//! }
//! ```

pub mod auth;
mod client;
pub mod keepalive;
pub mod layer;
pub mod open;
mod server;
#[doc(hidden)]
pub mod test_support;
mod wire;

use std::fmt;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::Arc;

pub use auth::AuthError;
pub use client::{
    ClientEngine, Event, StreamEvent, StreamViolation, DEFAULT_MAX_IN_FLIGHT, MAX_ABANDONED,
};
pub use server::{
    ClientStreamEvent, ServerEngine, ServerEvent, DEFAULT_MAX_CLIENT_REQUESTS, OUTPUT_THROTTLE,
};

use crate::dispatch::DispatchError;
use crate::error::RemoteError;
use crate::frame::{Frame, FrameError, Header};

/// libvirt's `VIR_DRV_FEATURE_PROGRAM_KEEPALIVE`, for
/// `CONNECT_SUPPORTS_FEATURE`: whether the daemon speaks the keepalive
/// program.
pub const FEATURE_PROGRAM_KEEPALIVE: i32 = 10;

/// Whether a call asks for a sparse stream: storage volume download and
/// upload with their `SPARSE_STREAM` flag (bit 0 of `flags`, the last
/// word of both procedures' arguments). libvirt refuses holes on any
/// other stream, in its client and its daemon; so do both engines.
pub(crate) fn asks_for_holes(program: u32, procedure: i32, body: &[u8]) -> bool {
    use crate::generated::remote::program::Procedure as P;
    const SPARSE_STREAM: u32 = 1;
    let sparse_capable = [P::StorageVolDownload as i32, P::StorageVolUpload as i32];
    program == crate::generated::remote::program::NUMBER
        && sparse_capable.contains(&procedure)
        && body
            .last_chunk::<4>()
            .is_some_and(|w| u32::from_be_bytes(*w) & SPARSE_STREAM != 0)
}

/// A received hole's length, unless the hole breaks libvirt's rules
/// (`virNetClientStreamSetHole`): a negative length, or flags, of which
/// libvirt defines none. Whether holes may come at all is the stream's.
pub(crate) fn hole_length(
    hole: &crate::generated::virnet::StreamHole,
) -> Result<i64, StreamViolation> {
    if hole.length < 0 {
        return Err(StreamViolation::NegativeHole(hole.length));
    }
    if hole.flags != 0 {
        return Err(StreamViolation::HoleFlags(hole.flags));
    }
    Ok(hole.length)
}

/// Whether a call is a SASL authentication step (`AUTH_SASL_START` or
/// `AUTH_SASL_STEP`): the one whose answer may put the connection under a
/// security layer, so nothing after it can be read before that is known.
pub(crate) fn is_auth_step(program: u32, procedure: i32) -> bool {
    use crate::generated::remote::program::Procedure as P;
    program == crate::generated::remote::program::NUMBER
        && [P::AuthSaslStart as i32, P::AuthSaslStep as i32].contains(&procedure)
}

/// Bytes to write to the transport, with the descriptors to pass alongside
/// (for `*_WITH_FDS` messages, over a Unix socket).
///
/// libvirt passes a message's descriptors after the message, each with a
/// one-byte message of its own (`virSocketSendFD`): `bytes` ends with one
/// zero byte per descriptor, and the writer sends the last `fds.len()`
/// bytes one at a time, each with its descriptor
/// ([`Transmit::descriptor_bytes`]). The receiving engines expect the same.
/// Under a SASL security layer the frame's part is the layer's packets and
/// the descriptor bytes stay outside them, as in libvirt.
#[derive(Debug)]
pub struct Transmit {
    /// One whole frame (or the packets carrying it), then a zero byte per
    /// descriptor.
    pub bytes: Vec<u8>,
    /// Descriptors, one with each of the last `fds.len()` bytes.
    pub fds: Vec<OwnedFd>,
}

impl Transmit {
    /// A frame without descriptors.
    pub(crate) fn frame(header: Header, body: Vec<u8>) -> Transmit {
        Transmit {
            bytes: Frame::new(header, body).encode(),
            fds: Vec::new(),
        }
    }

    /// An encoded frame and the descriptors that follow it.
    pub(crate) fn with_fds(mut bytes: Vec<u8>, fds: Vec<OwnedFd>) -> Transmit {
        bytes.resize(bytes.len() + fds.len(), 0);
        Transmit { bytes, fds }
    }

    /// Where the bytes that carry the descriptors start: each of
    /// `bytes[descriptor_bytes()..]` goes in a write of its own with the
    /// matching descriptor.
    pub fn descriptor_bytes(&self) -> usize {
        self.bytes.len() - self.fds.len()
    }
}

/// Something the peer did wrong.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The byte stream is not valid framing; the connection cannot go on.
    Frame(FrameError),
    /// A frame that does not decode or is not expected here.
    Dispatch(DispatchError),
    /// A reply or stream packet for a serial nobody is waiting for.
    UnknownSerial(u32),
    /// Fewer descriptors arrived than a `*_WITH_FDS` message announced.
    MissingFds {
        /// Announced.
        expected: u32,
        /// Received so far.
        received: usize,
    },
    /// The SASL security layer could not decode what arrived (or encode
    /// what was to be sent).
    SecurityLayer(layer::LayerError),
    /// A stream packet that does not fit its stream; the stream was
    /// aborted, the connection goes on.
    Stream(StreamViolation),
    /// More descriptors arrived at once than one message may carry.
    TooManyFds {
        /// Received.
        received: usize,
        /// The most one message carries ([`MAX_FDS`](crate::frame::MAX_FDS)).
        max: usize,
    },
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::Frame(_) => f.write_str("invalid framing"),
            ProtocolError::Dispatch(e) => fmt::Display::fmt(e, f),
            ProtocolError::UnknownSerial(s) => write!(f, "message for unknown serial {s}"),
            ProtocolError::MissingFds { expected, received } => {
                write!(
                    f,
                    "message announces {expected} descriptors, {received} received"
                )
            }
            ProtocolError::SecurityLayer(e) => fmt::Display::fmt(e, f),
            ProtocolError::Stream(v) => fmt::Display::fmt(v, f),
            ProtocolError::TooManyFds { received, max } => {
                write!(
                    f,
                    "{received} descriptors at once, above one message's {max}"
                )
            }
        }
    }
}

impl std::error::Error for ProtocolError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ProtocolError::Frame(e) => Some(e),
            ProtocolError::Dispatch(e) => e.source(),
            ProtocolError::SecurityLayer(e) => e.source(),
            ProtocolError::Stream(e) => e.source(),
            ProtocolError::UnknownSerial(_)
            | ProtocolError::MissingFds { .. }
            | ProtocolError::TooManyFds { .. } => None,
        }
    }
}

/// Why the connection ended. As an error it is what ended it: the peer's
/// protocol error or the transport's I/O error is its
/// [`source()`](std::error::Error::source).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum CloseReason {
    /// [`ClientEngine::close`] was called.
    Local,
    /// The transport reported end of file.
    PeerClosed,
    /// The peer stopped answering keepalive PINGs.
    KeepaliveTimeout,
    /// The peer broke the protocol beyond repair.
    Protocol(ProtocolError),
    /// Reading or writing the transport failed (a reset connection, a
    /// broken TLS record, ...): what the driver passed to
    /// [`ClientEngine::handle_transport_error`].
    Transport(Arc<io::Error>),
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CloseReason::Local => "connection closed",
            CloseReason::PeerClosed => "connection closed by the peer",
            CloseReason::KeepaliveTimeout => "the peer stopped answering keepalive",
            CloseReason::Protocol(_) => "the peer broke the protocol",
            CloseReason::Transport(_) => "the transport failed",
        })
    }
}

/// The I/O error is shared in an `Arc`; the source is the `io::Error`
/// itself, not its `Arc` (`downcast_ref::<io::Error>()` finds it).
impl std::error::Error for CloseReason {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CloseReason::Protocol(e) => Some(e),
            CloseReason::Transport(e) => Some(&**e),
            CloseReason::Local | CloseReason::PeerClosed | CloseReason::KeepaliveTimeout => None,
        }
    }
}

/// I/O errors compare by kind and message.
impl PartialEq for CloseReason {
    fn eq(&self, other: &Self) -> bool {
        use CloseReason::*;
        match (self, other) {
            (Local, Local) | (PeerClosed, PeerClosed) | (KeepaliveTimeout, KeepaliveTimeout) => {
                true
            }
            (Protocol(a), Protocol(b)) => a == b,
            (Transport(a), Transport(b)) => crate::error::same_io_error(a, b),
            _ => false,
        }
    }
}

/// Why a request could not be made.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum EngineError {
    /// The connection has ended.
    Closed(CloseReason),
    /// The arguments break a bound of the protocol.
    Encode(xdrgen::rt::Error),
    /// No open stream has this serial.
    NoSuchStream(u32),
    /// A hole on a stream that is not sparse: only storage volume
    /// transfers opened with their `SPARSE_STREAM` flag carry holes, and
    /// the daemon refuses one anywhere else.
    NotSparse(u32),
    /// The reply body does not decode as the procedure's reply.
    Decode(xdrgen::rt::Error),
    /// More descriptors than one message may carry.
    TooManyFds(usize),
    /// The message cannot be framed.
    Frame(FrameError),
    /// The message would be `len` bytes, above the protocol's `max`
    /// ([`MAX_MESSAGE`](crate::frame::MAX_MESSAGE)); nothing was queued.
    FrameTooLarge {
        /// The whole message's size, length prefix included.
        len: usize,
        /// The limit.
        max: usize,
    },
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineError::Closed(r) => fmt::Display::fmt(r, f),
            EngineError::Encode(_) => f.write_str("cannot encode the arguments"),
            EngineError::NoSuchStream(s) => write!(f, "no open stream with serial {s}"),
            EngineError::NotSparse(s) => {
                write!(f, "stream {s} is not sparse: it cannot carry a hole")
            }
            EngineError::Decode(_) => f.write_str("malformed reply"),
            EngineError::TooManyFds(n) => {
                write!(f, "{n} descriptors exceed the limit of one message")
            }
            EngineError::Frame(e) => fmt::Display::fmt(e, f),
            EngineError::FrameTooLarge { len, max } => {
                write!(f, "a message of {len} bytes exceeds the limit of {max}")
            }
        }
    }
}

impl std::error::Error for EngineError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            EngineError::Closed(r) => r.source(),
            EngineError::Encode(e) | EngineError::Decode(e) => Some(e),
            EngineError::Frame(e) => e.source(),
            EngineError::NoSuchStream(_)
            | EngineError::NotSparse(_)
            | EngineError::TooManyFds(_)
            | EngineError::FrameTooLarge { .. } => None,
        }
    }
}

/// A failed call: the daemon's error or the end of the connection.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum CallError {
    /// The daemon answered with an error.
    Remote(RemoteError),
    /// The connection ended before the reply.
    ConnectionLost(CloseReason),
    /// The reply was malformed.
    Protocol(ProtocolError),
}

/// Every variant is transparent: the error it holds says what failed.
impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Remote(e) => fmt::Display::fmt(e, f),
            CallError::ConnectionLost(r) => fmt::Display::fmt(r, f),
            CallError::Protocol(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl std::error::Error for CallError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CallError::Remote(e) => e.source(),
            CallError::ConnectionLost(r) => r.source(),
            CallError::Protocol(e) => e.source(),
        }
    }
}
