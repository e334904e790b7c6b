//! Why a client operation failed.
//!
//! [`ClientError`] follows the crate's conventions (see [`crate::error`]):
//! it is `#[non_exhaustive]` and `Clone`, each variant says one thing that
//! happened, and the cause is its `source()`, not part of its message.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use crate::conf::ConfError;
use crate::engine::open::OpenError;
use crate::engine::{CallError, CloseReason, EngineError, ProtocolError};
use crate::error::RemoteError;
use crate::frame::{FrameError, MAX_FDS, MAX_MESSAGE};
use crate::generated::error_codes::ErrorNumber;
use crate::socket::SocketError;
use crate::uri::UriError;

use super::tls::TlsError;

/// Why a client operation failed.
///
/// It is `Clone`, so the failure that ends a connection reaches every
/// call, byte stream and event stream waiting on it as it is: a daemon
/// that died is [`ConnectionLost`](ClientError::ConnectionLost) with the
/// reason everywhere, and [`Closed`](ClientError::Closed) means only that
/// this side closed the connection.
///
/// ```no_run
/// # async fn demo() {
/// use libvirt_proto::client::{Client, ClientError, TlsError};
/// use libvirt_proto::error::Report;
///
/// match Client::connect("qemu+tls://host.example/system").await {
///     Ok(_client) => {}
///     Err(ClientError::Tls(TlsError::ReadFile { path, .. })) => {
///         eprintln!("install the certificate {}", path.display())
///     }
///     // The whole chain: "cannot open the connection: authentication
///     // refused: ..."
///     Err(e) => eprintln!("{}", Report::new(&e)),
/// }
/// # }
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ClientError {
    /// The configuration file (`libvirt.conf`) cannot be used: read,
    /// parsed, or its `uri_default` or `uri_aliases` understood.
    Config(ConfError),
    /// The URI is invalid.
    Uri(UriError),
    /// No socket for the URI.
    Socket(SocketError),
    /// Connecting to the daemon's socket or address failed (refused, no
    /// such socket, unreachable).
    Connect {
        /// The socket's path, or `host:port`.
        address: String,
        /// Why.
        source: Arc<io::Error>,
    },
    /// The transport's command (`ssh`, or the `ext` transport's
    /// `command=`) could not be started.
    Spawn {
        /// The program.
        program: String,
        /// Why.
        source: Arc<io::Error>,
    },
    /// TLS set-up, the handshake, or the daemon's acceptance of this
    /// client failed.
    Tls(TlsError),
    /// Opening the connection failed (authentication, `CONNECT_OPEN`).
    Open(OpenError),
    /// The daemon answered with an error.
    Remote(Box<RemoteError>),
    /// The daemon does not support the procedure: it is older than the
    /// procedure (libvirt's "unknown procedure" `VIR_ERR_RPC` reply), or
    /// its driver lacks it (`VIR_ERR_NO_SUPPORT`).
    Unsupported(Box<RemoteError>),
    /// The call got no answer in time; it was given up. Also the
    /// connection's opening taking longer than
    /// [`ConnectOptions::connect_timeout`](super::ConnectOptions::connect_timeout).
    Timeout(Duration),
    /// The connection ended, not by this side, before the operation
    /// completed: the peer closed it, stopped answering keepalive, broke
    /// the protocol, or the transport failed (the reason's `source()` is
    /// the protocol or I/O error).
    ConnectionLost(CloseReason),
    /// The daemon's reply broke the protocol, or a stream packet did not
    /// fit its stream (the stream was aborted; the connection goes on).
    Protocol(ProtocolError),
    /// The arguments break a bound of the protocol (a string or array
    /// longer than its `.x` limit); nothing was sent.
    Encode(xdrgen::rt::Error),
    /// The message would be larger than the protocol allows
    /// ([`MAX_MESSAGE`]); nothing was sent.
    MessageTooLarge {
        /// The whole message's size, length prefix included.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// More descriptors than one message may carry ([`MAX_FDS`]); nothing
    /// was sent.
    TooManyFds {
        /// Descriptors given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// The message cannot be framed.
    Frame(FrameError),
    /// The connection has no open stream with this serial: it ended
    /// before the operation reached the connection.
    NoSuchStream(u32),
    /// The reply body does not decode as the procedure's reply.
    Decode(xdrgen::rt::Error),
    /// The procedure does not open a byte stream.
    NotAStream(&'static str),
    /// [`ByteStream::recv_all`](super::ByteStream::recv_all) received
    /// more than its limit; the stream was aborted.
    StreamTooLarge {
        /// The limit.
        limit: usize,
    },
    /// A hole longer than the protocol can say (`i64::MAX` bytes).
    HoleTooLarge(u64),
    /// A hole on a stream that is not sparse: only storage volume
    /// transfers opened with their `SPARSE_STREAM` flag carry holes (see
    /// [`ByteStream::is_sparse`](super::ByteStream::is_sparse)).
    NotSparse,
    /// The byte stream has ended (its data ended, or it was finished or
    /// aborted): nothing more can be sent on it.
    StreamEnded,
    /// The connection was closed by this side ([`Client::close`], or
    /// every handle dropped).
    ///
    /// [`Client::close`]: super::Client::close
    Closed,
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Config(e) => fmt::Display::fmt(e, f),
            ClientError::Uri(e) => fmt::Display::fmt(e, f),
            ClientError::Socket(e) => fmt::Display::fmt(e, f),
            ClientError::Connect { address, .. } => write!(f, "cannot connect to {address}"),
            ClientError::Spawn { program, .. } => write!(f, "cannot run {program}"),
            ClientError::Tls(e) => fmt::Display::fmt(e, f),
            ClientError::Open(_) => f.write_str("cannot open the connection"),
            ClientError::Remote(e) | ClientError::Unsupported(e) => fmt::Display::fmt(e, f),
            ClientError::Timeout(t) => write!(f, "no answer within {t:?}"),
            ClientError::ConnectionLost(r) => fmt::Display::fmt(r, f),
            ClientError::Protocol(e) => fmt::Display::fmt(e, f),
            ClientError::Encode(_) => f.write_str("cannot encode the arguments"),
            ClientError::MessageTooLarge { len, max } => {
                write!(f, "a message of {len} bytes exceeds the limit of {max}")
            }
            ClientError::TooManyFds { count, max } => {
                write!(
                    f,
                    "{count} descriptors exceed the {max} one message may carry"
                )
            }
            ClientError::Frame(_) => f.write_str("cannot frame the message"),
            ClientError::NoSuchStream(s) => write!(f, "no open stream with serial {s}"),
            ClientError::Decode(_) => f.write_str("malformed reply"),
            ClientError::NotAStream(p) => write!(f, "{p} does not open a stream"),
            ClientError::StreamTooLarge { limit } => {
                write!(f, "the stream holds more than {limit} bytes")
            }
            ClientError::HoleTooLarge(n) => write!(f, "a hole of {n} bytes is too long"),
            ClientError::NotSparse => {
                f.write_str("the stream is not sparse: it cannot carry a hole")
            }
            ClientError::StreamEnded => f.write_str("the stream has ended"),
            ClientError::Closed => f.write_str("the connection is closed"),
        }
    }
}

/// An I/O cause is shared in an `Arc`; the source is the `io::Error`
/// itself, not its `Arc` (`downcast_ref::<io::Error>()` finds it).
/// Variants that only pass an error on are transparent (the same
/// `Display`, and that error's source).
impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClientError::Config(e) => e.source(),
            ClientError::Uri(e) => e.source(),
            ClientError::Socket(e) => e.source(),
            ClientError::Connect { source, .. } | ClientError::Spawn { source, .. } => {
                Some(&**source)
            }
            ClientError::Tls(e) => e.source(),
            ClientError::Open(e) => Some(e),
            ClientError::Remote(e) | ClientError::Unsupported(e) => e.source(),
            ClientError::ConnectionLost(r) => r.source(),
            ClientError::Protocol(e) => e.source(),
            ClientError::Encode(e) | ClientError::Decode(e) => Some(e),
            ClientError::Frame(e) => Some(e),
            ClientError::Timeout(_)
            | ClientError::MessageTooLarge { .. }
            | ClientError::TooManyFds { .. }
            | ClientError::NoSuchStream(_)
            | ClientError::NotAStream(_)
            | ClientError::StreamTooLarge { .. }
            | ClientError::HoleTooLarge(_)
            | ClientError::NotSparse
            | ClientError::StreamEnded
            | ClientError::Closed => None,
        }
    }
}

impl From<ConfError> for ClientError {
    fn from(e: ConfError) -> Self {
        ClientError::Config(e)
    }
}

impl From<UriError> for ClientError {
    fn from(e: UriError) -> Self {
        ClientError::Uri(e)
    }
}

impl From<SocketError> for ClientError {
    fn from(e: SocketError) -> Self {
        ClientError::Socket(e)
    }
}

impl From<TlsError> for ClientError {
    fn from(e: TlsError) -> Self {
        ClientError::Tls(e)
    }
}

impl ClientError {
    /// The daemon's error code, when the daemon answered with an error.
    pub fn code(&self) -> Option<ErrorNumber> {
        self.remote().map(|e| e.code)
    }

    /// The daemon's error, when it answered with one.
    pub fn remote(&self) -> Option<&RemoteError> {
        match self {
            ClientError::Remote(e) | ClientError::Unsupported(e) => Some(e),
            _ => None,
        }
    }

    /// The end of the connection: [`Closed`](ClientError::Closed) when
    /// this side ended it, [`ConnectionLost`](ClientError::ConnectionLost)
    /// otherwise.
    pub(crate) fn ended(reason: CloseReason) -> ClientError {
        match reason {
            CloseReason::Local => ClientError::Closed,
            r => ClientError::ConnectionLost(r),
        }
    }
}

impl From<CallError> for ClientError {
    fn from(e: CallError) -> Self {
        match e {
            CallError::Remote(e) if is_unsupported(&e) => ClientError::Unsupported(Box::new(e)),
            CallError::Remote(e) => ClientError::Remote(Box::new(e)),
            CallError::ConnectionLost(r) => ClientError::ended(r),
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
            EngineError::Closed(r) => ClientError::ended(r),
            EngineError::Encode(e) => ClientError::Encode(e),
            EngineError::NoSuchStream(s) => ClientError::NoSuchStream(s),
            EngineError::NotSparse(_) => ClientError::NotSparse,
            EngineError::Decode(e) => ClientError::Decode(e),
            EngineError::TooManyFds(count) => ClientError::TooManyFds {
                count,
                max: MAX_FDS,
            },
            EngineError::Frame(FrameError::TooLarge(len)) => ClientError::MessageTooLarge {
                len,
                max: MAX_MESSAGE,
            },
            EngineError::Frame(e) => ClientError::Frame(e),
            EngineError::FrameTooLarge { len, max } => ClientError::MessageTooLarge { len, max },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;
    use crate::error::Report;
    use crate::generated::error_codes::ErrorDomain;

    fn assert_clone_send_sync<T: Clone + Send + Sync + 'static>() {}

    /// The causes of `e`, nearest first.
    fn causes<'a>(
        e: &'a (dyn std::error::Error + 'static),
    ) -> Vec<&'a (dyn std::error::Error + 'static)> {
        let mut out = Vec::new();
        let mut next = e.source();
        while let Some(cause) = next {
            out.push(cause);
            next = cause.source();
        }
        out
    }

    #[test]
    fn the_error_is_clone_send_and_sync() {
        assert_clone_send_sync::<ClientError>();
        assert_clone_send_sync::<TlsError>();
    }

    #[test]
    fn engine_errors_keep_what_happened() {
        assert!(matches!(
            ClientError::from(EngineError::NotSparse(3)),
            ClientError::NotSparse
        ));
        assert!(matches!(
            ClientError::from(EngineError::TooManyFds(40)),
            ClientError::TooManyFds {
                count: 40,
                max: MAX_FDS
            }
        ));
        assert!(matches!(
            ClientError::from(EngineError::NoSuchStream(7)),
            ClientError::NoSuchStream(7)
        ));
        assert!(matches!(
            ClientError::from(EngineError::Frame(FrameError::TooLarge(MAX_MESSAGE + 1))),
            ClientError::MessageTooLarge { len, max: MAX_MESSAGE } if len == MAX_MESSAGE + 1
        ));
        assert!(matches!(
            ClientError::from(EngineError::Closed(CloseReason::Local)),
            ClientError::Closed
        ));
        assert!(matches!(
            ClientError::from(EngineError::Closed(CloseReason::KeepaliveTimeout)),
            ClientError::ConnectionLost(CloseReason::KeepaliveTimeout)
        ));
    }

    #[test]
    fn causes_are_sources_not_repeated_in_the_message() {
        // A transport error ending the connection: the I/O error is the
        // source of the reason, which the variant passes on.
        let io = io::Error::new(io::ErrorKind::ConnectionReset, "reset by peer");
        let e = ClientError::ConnectionLost(CloseReason::Transport(Arc::new(io)));
        assert_eq!(e.to_string(), "the transport failed");
        let source = e.source().expect("the I/O error");
        assert_eq!(source.to_string(), "reset by peer");
        assert_eq!(
            source.downcast_ref::<io::Error>().map(io::Error::kind),
            Some(io::ErrorKind::ConnectionReset)
        );
        assert_eq!(
            Report::new(&e).to_string(),
            "the transport failed: reset by peer"
        );

        // A refused open: context, then the daemon's own message.
        let refusal = RemoteError::new(
            ErrorNumber::ERR_AUTH_FAILED,
            ErrorDomain::RPC,
            "authentication failed: no such user",
        );
        let e = ClientError::Open(OpenError::Auth(crate::engine::AuthError::Call(Box::new(
            CallError::Remote(refusal.clone()),
        ))));
        assert_eq!(e.to_string(), "cannot open the connection");
        let chain: Vec<String> = causes(&e).iter().map(ToString::to_string).collect();
        assert_eq!(
            chain,
            [
                "authentication refused",
                "authentication failed: no such user"
            ]
        );
        // The steps are the crate's error types, found by downcasting.
        assert!(causes(&e)[0].downcast_ref::<OpenError>().is_some());
        let call = causes(&e)
            .into_iter()
            .find_map(|e| e.downcast_ref::<CallError>());
        assert_eq!(call, Some(&CallError::Remote(refusal.clone())));

        // A reply that does not decode: the XDR error is the source.
        let xdr = xdrgen::rt::Error::new(xdrgen::rt::ErrorKind::InvalidBool(7), 4);
        let e = ClientError::Decode(xdr.clone());
        assert_eq!(e.to_string(), "malformed reply");
        assert_eq!(e.source().unwrap().to_string(), xdr.to_string());

        // A daemon error is the error itself, without a source.
        let e = ClientError::Remote(Box::new(refusal));
        assert_eq!(e.to_string(), "authentication failed: no such user");
        assert!(e.source().is_none());
        assert_eq!(e.code(), Some(ErrorNumber::ERR_AUTH_FAILED));
    }
}
