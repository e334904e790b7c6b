//! Why a client operation failed.

use std::fmt;
use std::time::Duration;

use crate::engine::open::OpenError;
use crate::engine::{CallError, CloseReason, EngineError, ProtocolError};
use crate::error::RemoteError;
use crate::generated::error_codes::ErrorNumber;
use crate::socket::SocketError;
use crate::uri::{Transport, UriError};

/// Why a client operation failed.
#[derive(Debug)]
pub enum ClientError {
    /// The URI is invalid.
    Uri(UriError),
    /// No socket for the URI.
    Socket(SocketError),
    /// This client does not speak the URI's transport.
    UnsupportedTransport(Transport),
    /// The transport failed to connect or broke.
    Io(std::io::Error),
    /// TLS set-up or the handshake failed.
    Tls(String),
    /// Opening the connection failed (authentication, `CONNECT_OPEN`).
    Open(OpenError),
    /// The daemon answered with an error.
    Remote(Box<RemoteError>),
    /// The daemon does not support the procedure: it is older than the
    /// procedure (libvirt's "unknown procedure" `VIR_ERR_RPC` reply), or
    /// its driver lacks it (`VIR_ERR_NO_SUPPORT`).
    Unsupported(Box<RemoteError>),
    /// The call got no answer in time; it was given up.
    Timeout(Duration),
    /// The connection ended before the reply.
    ConnectionLost(CloseReason),
    /// The daemon's reply broke the protocol.
    Protocol(ProtocolError),
    /// The arguments could not be encoded (a bound of the protocol).
    Encode(EngineError),
    /// The reply body does not decode as the procedure's reply.
    Decode(xdrgen::rt::Error),
    /// The procedure does not open a byte stream.
    NotAStream(&'static str),
    /// The connection was closed by this side.
    Closed,
}

impl ClientError {
    /// The daemon's error code, when the daemon answered with an error.
    pub fn code(&self) -> Option<ErrorNumber> {
        match self {
            ClientError::Remote(e) | ClientError::Unsupported(e) => Some(e.code),
            _ => None,
        }
    }

    /// The daemon's error, when it answered with one.
    pub fn remote(&self) -> Option<&RemoteError> {
        match self {
            ClientError::Remote(e) | ClientError::Unsupported(e) => Some(e),
            _ => None,
        }
    }
}

impl From<CallError> for ClientError {
    fn from(e: CallError) -> Self {
        match e {
            CallError::Remote(e) if is_unsupported(&e) => ClientError::Unsupported(Box::new(e)),
            CallError::Remote(e) => ClientError::Remote(Box::new(e)),
            CallError::ConnectionLost(CloseReason::Local) => ClientError::Closed,
            CallError::ConnectionLost(r) => ClientError::ConnectionLost(r),
            CallError::Protocol(p) => ClientError::Protocol(p),
        }
    }
}

/// Whether the daemon's error says it lacks the procedure. A daemon older
/// than a procedure answers `VIR_ERR_RPC` with "unknown procedure: N" (or
/// "Cannot find program" for a program it lacks); libvirt has no code of
/// its own for that, so the message tells it apart from other RPC errors
/// (this misses a daemon running under a locale that translates it).
fn is_unsupported(e: &RemoteError) -> bool {
    e.code == ErrorNumber::ERR_NO_SUPPORT
        || (e.code == ErrorNumber::ERR_RPC
            && e.message.as_deref().is_some_and(|m| {
                m.starts_with("unknown procedure") || m.starts_with("Cannot find program")
            }))
}

impl From<EngineError> for ClientError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Closed(CloseReason::Local) => ClientError::Closed,
            EngineError::Closed(r) => ClientError::ConnectionLost(r),
            EngineError::Decode(e) => ClientError::Decode(e),
            other => ClientError::Encode(other),
        }
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Uri(e) => write!(f, "{e}"),
            ClientError::Socket(e) => write!(f, "{e}"),
            ClientError::UnsupportedTransport(t) => {
                write!(f, "the {t:?} transport is not supported")
            }
            ClientError::Io(e) => write!(f, "{e}"),
            ClientError::Tls(e) => write!(f, "TLS: {e}"),
            ClientError::Open(e) => write!(f, "cannot open the connection: {e}"),
            ClientError::Remote(e) => write!(f, "{e}"),
            ClientError::Unsupported(e) => write!(f, "{e}"),
            ClientError::Timeout(t) => write!(f, "no answer within {t:?}"),
            ClientError::ConnectionLost(r) => write!(f, "{r}"),
            ClientError::Protocol(e) => write!(f, "{e}"),
            ClientError::Encode(e) => write!(f, "{e}"),
            ClientError::Decode(e) => write!(f, "malformed reply: {e}"),
            ClientError::NotAStream(p) => write!(f, "{p} does not open a stream"),
            ClientError::Closed => f.write_str("the connection is closed"),
        }
    }
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClientError::Io(e) => Some(e),
            ClientError::Remote(e) | ClientError::Unsupported(e) => Some(e.as_ref()),
            _ => None,
        }
    }
}

/// Errors go to many waiters; this copies what can be copied.
pub(crate) fn clone_error(e: &ClientError) -> ClientError {
    match e {
        ClientError::Remote(r) => ClientError::Remote(r.clone()),
        ClientError::Unsupported(r) => ClientError::Unsupported(r.clone()),
        ClientError::ConnectionLost(r) => ClientError::ConnectionLost(r.clone()),
        ClientError::Protocol(p) => ClientError::Protocol(p.clone()),
        ClientError::Timeout(t) => ClientError::Timeout(*t),
        ClientError::Io(io) => ClientError::Io(std::io::Error::new(io.kind(), io.to_string())),
        _ => ClientError::Closed,
    }
}
