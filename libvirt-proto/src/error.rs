//! libvirt's error, as the daemon sends it in a reply with status ERROR.
//!
//! [`RemoteError`] is `virNetMessageError` decoded in full, with the code,
//! domain and level named by the `error_codes` module. It displays the way
//! libvirt's own tools print an error: the daemon's message (which already
//! starts with the description of the code), or the code's name when the
//! message is missing.

use std::fmt;

use crate::generated::error_codes::{ErrorDomain, ErrorLevel, ErrorNumber};
use crate::generated::virnet::{MessageError, MessageNonnullDomain, MessageNonnullNetwork};

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
            message: e.message,
            level: ErrorLevel(e.level),
            dom: e.dom,
            str1: e.str1,
            str2: e.str2,
            str3: e.str3,
            int1: e.int1,
            int2: e.int2,
            net: e.net,
        }
    }
}

impl From<RemoteError> for MessageError {
    fn from(e: RemoteError) -> Self {
        MessageError {
            code: e.code.0,
            domain: e.domain.0,
            message: e.message,
            level: e.level.0,
            dom: e.dom,
            str1: e.str1,
            str2: e.str2,
            str3: e.str3,
            int1: e.int1,
            int2: e.int2,
            net: e.net,
        }
    }
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

impl std::error::Error for RemoteError {}

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
}
