//! libvirt's error as the daemon sends it, and how the crate's errors fit
//! together.
//!
//! [`RemoteError`] is `virNetMessageError` decoded in full, with the code,
//! domain and level named by the `error_codes` module. It displays the way
//! libvirt's own tools print an error: the daemon's message (which already
//! starts with the description of the code), or the code's name when the
//! message is missing.
//!
//! # The crate's errors
//!
//! Each layer has its own error type and wraps the one below it:
//!
//! - [`FrameError`](crate::frame::FrameError) (bytes that are not a
//!   frame), [`DispatchError`](crate::dispatch::DispatchError) (a frame
//!   without a typed value), [`TypedParamError`](crate::typed_params::TypedParamError),
//!   [`UriError`](crate::uri::UriError), [`SocketError`](crate::socket::SocketError);
//! - the engine's: [`ProtocolError`](crate::engine::ProtocolError) (the
//!   peer broke the protocol), [`CloseReason`](crate::engine::CloseReason)
//!   (why a connection ended), [`EngineError`](crate::engine::EngineError)
//!   (a request that could not be made), [`CallError`](crate::engine::CallError),
//!   [`AuthError`](crate::engine::AuthError), [`OpenError`](crate::engine::open::OpenError),
//!   [`LayerError`](crate::engine::layer::LayerError),
//!   [`StreamViolation`](crate::engine::StreamViolation);
//! - with the `client` feature, `client::ClientError`, which says what
//!   happened to one operation, `client::TlsError` and
//!   `client::auth_conf::AuthConfigError`.
//!
//! # Conventions
//!
//! - Every public error enum is `#[non_exhaustive]`: new ways to fail are
//!   added as new variants in minor versions, so a `match` needs a `_` arm.
//! - An error's `Display` says what went wrong at its own level, in one
//!   line that starts in lower case without a final period; what caused it
//!   is its [`source()`](std::error::Error::source), never repeated in the
//!   message. A variant that only passes another error on is transparent:
//!   its `Display` and `source()` are those of the error it holds, so the
//!   chain has no step that says nothing. `{e}` is therefore a summary,
//!   and the whole story is the chain: [`Report`] prints it on one line
//!   (`cannot open the connection: authentication refused: ...`), as
//!   `anyhow`'s `{:#}` does.
//! - Errors are `Clone`: causes that are not (`std::io::Error`, PEM
//!   errors) are held in an [`Arc`](std::sync::Arc), so one failure can be
//!   handed as it is to everything waiting on a connection (its calls, byte
//!   streams and event streams).
//! - The engine's errors are `PartialEq` so that tests can compare
//!   outcomes; an I/O error in them compares equal to another of the same
//!   kind and message.
//! - A cause shared in an `Arc` or held in a `Box` is the source itself,
//!   not its `Arc` or `Box`: `downcast_ref::<io::Error>()` on a step of the
//!   chain finds an I/O error.
//! - The impls are written by hand, not derived with `thiserror`, the
//!   ecosystem's usual way. `thiserror` is a procedural macro: the crate
//!   would wait for `syn` and `thiserror-impl` to build before its own
//!   93,000 generated lines could start, which on the 2-core reference
//!   machine doubled a clean build of the crate without features (from
//!   about 40 s to 80 s under load; ARCHITECTURE.md, "Build times"), where
//!   today nothing but `xdr-rpcgen` and `bitflags` comes first. And five
//!   of the types would need hand-written impls anyway, for the
//!   `Arc` and `Box` sources above (a derived `source()` returns the `Arc`
//!   itself, which `downcast_ref::<io::Error>()` does not find). Each
//!   impl is a `match` with one arm per variant, next to the enum.

use std::error::Error;
use std::fmt;

use crate::generated::error_codes::{ErrorDomain, ErrorLevel, ErrorNumber};
use crate::generated::virnet::{
    MessageDomain, MessageError, MessageNetwork, MessageNonnullDomain, MessageNonnullNetwork,
    MessageString,
};

/// An error reported by the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteError {
    /// What went wrong (`VIR_ERR_*`).
    pub code: ErrorNumber,
    /// Which part of libvirt reported it (`VIR_FROM_*`).
    pub domain: ErrorDomain,
    /// The message, usually "description: details".
    pub message: Option<String>,
    /// Warning or error.
    pub level: ErrorLevel,
    /// The domain concerned, if any.
    pub dom: Option<MessageNonnullDomain>,
    /// Extra information; its meaning depends on the code.
    pub str1: Option<String>,
    /// Extra information.
    pub str2: Option<String>,
    /// Extra information.
    pub str3: Option<String>,
    /// Extra information.
    pub int1: i32,
    /// Extra information.
    pub int2: i32,
    /// The network concerned, if any.
    pub net: Option<MessageNonnullNetwork>,
}

impl From<MessageError> for RemoteError {
    fn from(e: MessageError) -> Self {
        RemoteError {
            code: ErrorNumber(e.code),
            domain: ErrorDomain(e.domain),
            message: plain(e.message),
            level: ErrorLevel(e.level),
            dom: e.dom.0,
            str1: plain(e.str1),
            str2: plain(e.str2),
            str3: plain(e.str3),
            int1: e.int1,
            int2: e.int2,
            net: e.net.0,
        }
    }
}

impl From<RemoteError> for MessageError {
    fn from(e: RemoteError) -> Self {
        MessageError {
            code: e.code.0,
            domain: e.domain.0,
            message: wire(e.message),
            level: e.level.0,
            dom: MessageDomain(e.dom),
            str1: wire(e.str1),
            str2: wire(e.str2),
            str3: wire(e.str3),
            int1: e.int1,
            int2: e.int2,
            net: MessageNetwork(e.net),
        }
    }
}

/// An optional string of the wire as a plain `Option<String>`.
fn plain(s: MessageString) -> Option<String> {
    s.0.map(String::from)
}

/// A plain optional string as the wire's typedef.
fn wire(s: Option<String>) -> MessageString {
    MessageString(s.map(Into::into))
}

impl RemoteError {
    /// An error with a code, domain and message, for a server to send.
    pub fn new(code: ErrorNumber, domain: ErrorDomain, message: impl Into<String>) -> Self {
        RemoteError {
            code,
            domain,
            message: Some(message.into()),
            level: ErrorLevel::ERROR,
            dom: None,
            str1: None,
            str2: None,
            str3: None,
            int1: -1,
            int2: -1,
            net: None,
        }
    }
}

impl fmt::Display for RemoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.message {
            Some(m) => f.write_str(m),
            None => match self.code.name() {
                Some(name) => write!(f, "libvirt error {name}"),
                None => write!(f, "libvirt error code {}", self.code.0),
            },
        }
    }
}

// A leaf: the daemon's error has no cause on this side.
impl std::error::Error for RemoteError {}

/// An error and its chain of causes on one line, each after a `: `
/// (`outer: cause: its cause`), the way `anyhow` shows an error with
/// `{:#}`; what `std::error::Report` will do once it is stable.
///
/// ```
/// use libvirt_proto::error::Report;
/// use libvirt_proto::frame::FrameError;
/// use libvirt_proto::engine::{CloseReason, ProtocolError};
///
/// let e = CloseReason::Protocol(ProtocolError::Frame(FrameError::UnknownType(9)));
/// assert_eq!(e.to_string(), "the peer broke the protocol");
/// assert_eq!(
///     Report::new(&e).to_string(),
///     "the peer broke the protocol: invalid framing: unknown message type 9"
/// );
/// ```
#[derive(Clone, Copy)]
pub struct Report<'a>(&'a (dyn Error + 'static));

impl<'a> Report<'a> {
    /// The chain of `error`.
    pub fn new(error: &'a (dyn Error + 'static)) -> Self {
        Report(error)
    }
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut next = self.0.source();
        while let Some(cause) = next {
            write!(f, ": {cause}")?;
            next = cause.source();
        }
        Ok(())
    }
}

impl fmt::Debug for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Whether two I/O errors say the same: the same kind and message (the
/// engine's errors are `PartialEq`; `std::io::Error` is not).
pub(crate) fn same_io_error(a: &std::io::Error, b: &std::io::Error) -> bool {
    a.kind() == b.kind() && a.to_string() == b.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_like_libvirt_and_names_codes() {
        let e = RemoteError::new(
            ErrorNumber::ERR_NO_DOMAIN,
            ErrorDomain::QEMU,
            "Domain not found: no domain with matching name 'x'",
        );
        assert_eq!(
            e.to_string(),
            "Domain not found: no domain with matching name 'x'"
        );
        assert_eq!(e.code.0, 42);
        assert_eq!(e.code.name(), Some("VIR_ERR_NO_DOMAIN"));
        assert_eq!(e.domain.name(), Some("VIR_FROM_QEMU"));
        let bare = RemoteError {
            message: None,
            ..e.clone()
        };
        assert_eq!(bare.to_string(), "libvirt error VIR_ERR_NO_DOMAIN");
        let unknown = RemoteError {
            code: ErrorNumber(100_000),
            ..bare
        };
        assert_eq!(unknown.to_string(), "libvirt error code 100000");
        // Round trip through the wire type.
        let wire: MessageError = e.clone().into();
        assert_eq!(RemoteError::from(wire), e);
    }

    /// Each step of a chain, by `Display`.
    fn steps(e: &(dyn Error + 'static)) -> Vec<String> {
        let mut out = vec![e.to_string()];
        let mut next = e.source();
        while let Some(cause) = next {
            out.push(cause.to_string());
            next = cause.source();
        }
        out
    }

    #[test]
    fn chains_name_each_step_once() {
        use crate::dispatch::DispatchError;
        use crate::engine::{CallError, CloseReason, EngineError, ProtocolError};
        use crate::frame::FrameError;

        let xdr = xdrgen::rt::Error::new(xdrgen::rt::ErrorKind::InvalidBool(2), 8);
        // Transparent variants add no step; context variants add one, and
        // their cause follows as the source.
        let e = CallError::Protocol(ProtocolError::Dispatch(DispatchError::Decode(xdr.clone())));
        assert_eq!(steps(&e), ["malformed body".to_owned(), xdr.to_string()]);
        let source = e.source().unwrap();
        assert_eq!(source.downcast_ref::<xdrgen::rt::Error>(), Some(&xdr));

        let e = EngineError::Closed(CloseReason::Protocol(ProtocolError::Frame(
            FrameError::UnknownType(9),
        )));
        assert_eq!(
            steps(&e),
            [
                "the peer broke the protocol",
                "invalid framing",
                "unknown message type 9"
            ]
        );
        assert_eq!(
            Report::new(&e).to_string(),
            "the peer broke the protocol: invalid framing: unknown message type 9"
        );

        // The I/O error is the source itself, not its Arc.
        let io = std::io::Error::new(std::io::ErrorKind::BrokenPipe, "pipe");
        let e = CloseReason::Transport(std::sync::Arc::new(io));
        let source = e.source().unwrap();
        assert_eq!(
            source.downcast_ref::<std::io::Error>().map(|e| e.kind()),
            Some(std::io::ErrorKind::BrokenPipe)
        );
        // And compares by kind and message.
        let again = CloseReason::Transport(std::sync::Arc::new(std::io::Error::new(
            std::io::ErrorKind::BrokenPipe,
            "pipe",
        )));
        assert_eq!(e, again);

        // Leaves have no source.
        assert!(EngineError::TooManyFds(40).source().is_none());
        assert!(FrameError::TooLong(1 << 30).source().is_none());
    }
}
