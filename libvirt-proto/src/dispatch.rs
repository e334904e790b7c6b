//! Any frame to a typed value: the program, procedure, message type and
//! status of the header pick the decoder.
//!
//! ```
//! use libvirt_proto::dispatch::{decode, Body, Call};
//! use libvirt_proto::frame::{Frame, Header};
//! use libvirt_proto::remote;
//! use libvirt_proto::virnet::{MessageStatus, MessageType};
//!
//! let args = remote::DomainLookupByNameArgs { name: "demo".into() };
//! let header = Header {
//!     program: remote::program::NUMBER,
//!     version: remote::program::VERSION,
//!     procedure: remote::program::Procedure::DomainLookupByName as i32,
//!     kind: MessageType::Call,
//!     serial: 1,
//!     status: MessageStatus::Ok,
//! };
//! let frame = Frame::with_body(header, &args).unwrap();
//! match decode(&frame).unwrap() {
//!     Body::Call(Call::Remote(remote::program::Call::DomainLookupByName(a))) => {
//!         assert_eq!(a.name, "demo")
//!     }
//!     other => panic!("{other:?}"),
//! }
//! ```

use std::fmt;

use xdrgen::rt;

use crate::error::RemoteError;
use crate::frame::Frame;
use crate::generated::virnet::{MessageError, MessageStatus, MessageType, StreamHole};
use crate::generated::{admin, keepalive, lock, log, lxc, qemu, remote};

/// The typed content of a frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// A call's arguments.
    Call(Call),
    /// A successful reply.
    Reply(Reply),
    /// A one-way message: an event, or a keepalive PING / PONG.
    Message(Message),
    /// A failed call, or a stream the server aborted.
    Error(RemoteError),
    /// Stream data (status CONTINUE).
    StreamData(Vec<u8>),
    /// A hole in a sparse stream.
    StreamHole(StreamHole),
    /// The end of a stream (status OK, no body): the finish handshake.
    StreamEnd,
}

macro_rules! programs {
    ($($variant:ident => $module:ident),* $(,)?) => {
        /// A call of any program.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Call { $(
            #[doc = concat!("A call of the `", stringify!($module), "` program.")]
            $variant($module::program::Call),
        )* }

        /// A reply of any program.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Reply { $(
            #[doc = concat!("A reply of the `", stringify!($module), "` program.")]
            $variant($module::program::Reply),
        )* }

        /// A one-way message of any program. Procedures without a message
        /// type of their own (keepalive's PING and PONG) carry their
        /// argument type.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Message { $(
            #[doc = concat!("An event of the `", stringify!($module), "` program.")]
            $variant($module::program::Message),
        )*
            /// A message of a procedure declared as a call (keepalive).
            Keepalive(keepalive::program::Call),
        }

        impl Call {
            fn to_bytes(&self) -> Result<Vec<u8>, rt::Error> {
                match self { $(Call::$variant(c) => rt::to_bytes(c),)* }
            }
        }

        impl Reply {
            fn to_bytes(&self) -> Result<Vec<u8>, rt::Error> {
                match self { $(Reply::$variant(r) => rt::to_bytes(r),)* }
            }

            /// The program and procedure numbers of the call this answers.
            pub fn procedure_number(&self) -> (u32, i32) {
                match self {
                    $(Reply::$variant(r) => (
                        $module::program::NUMBER,
                        r.procedure().info().number as i32,
                    ),)*
                }
            }
        }

        impl rt::Encode for Reply {
            fn encode(&self, w: &mut rt::Writer<'_>) -> Result<(), rt::Error> {
                match self { $(Reply::$variant(r) => r.encode(w),)* }
            }

            fn encoded_len(&self) -> usize {
                match self { $(Reply::$variant(r) => r.encoded_len(),)* }
            }
        }

        impl Call {
            /// What the specification says of this call's procedure
            /// (its name, whether it opens a stream, ...).
            pub fn procedure_info(&self) -> &'static rt::ProcedureInfo {
                match self { $(Call::$variant(c) => c.procedure().info(),)* }
            }

            /// The program and procedure numbers of this call.
            pub fn procedure_number(&self) -> (u32, i32) {
                match self {
                    $(Call::$variant(c) => (
                        $module::program::NUMBER,
                        c.procedure().info().number as i32,
                    ),)*
                }
            }
        }

        impl Message {
            /// The message's procedure as its specification names it
            /// (`REMOTE_PROC_DOMAIN_EVENT_LIFECYCLE`).
            pub fn procedure_name(&self) -> &'static str {
                match self {
                    $(Message::$variant(m) => m.procedure().info().name,)*
                    Message::Keepalive(k) => k.procedure().info().name,
                }
            }

            fn to_bytes(&self) -> Result<Vec<u8>, rt::Error> {
                match self {
                    $(Message::$variant(m) => rt::to_bytes(m),)*
                    Message::Keepalive(k) => rt::to_bytes(k),
                }
            }

            /// The program, its version and the procedure number of this
            /// message's header.
            pub fn header_numbers(&self) -> (u32, u32, i32) {
                match self {
                    $(Message::$variant(m) => (
                        $module::program::NUMBER,
                        $module::program::VERSION,
                        m.procedure().info().number as i32,
                    ),)*
                    Message::Keepalive(k) => (
                        keepalive::program::NUMBER,
                        keepalive::program::VERSION,
                        k.procedure().info().number as i32,
                    ),
                }
            }
        }

        impl rt::Encode for Message {
            fn encode(&self, w: &mut rt::Writer<'_>) -> Result<(), rt::Error> {
                match self {
                    $(Message::$variant(m) => m.encode(w),)*
                    Message::Keepalive(k) => k.encode(w),
                }
            }

            fn encoded_len(&self) -> usize {
                match self {
                    $(Message::$variant(m) => m.encoded_len(),)*
                    Message::Keepalive(k) => k.encoded_len(),
                }
            }
        }

        /// The name of a procedure as its specification writes it
        /// (`REMOTE_PROC_DOMAIN_GET_INFO`), for any program this crate
        /// knows; `None` for an unknown program or procedure.
        ///
        /// ```
        /// use libvirt_proto::{dispatch::procedure_name, keepalive, remote};
        ///
        /// assert_eq!(procedure_name(remote::program::NUMBER, 1), Some("REMOTE_PROC_CONNECT_OPEN"));
        /// assert_eq!(procedure_name(keepalive::program::NUMBER, 1), Some("KEEPALIVE_PROC_PING"));
        /// assert_eq!(procedure_name(remote::program::NUMBER, -1), None);
        /// ```
        pub fn procedure_name(program: u32, procedure: i32) -> Option<&'static str> {
            let procedure = u32::try_from(procedure).ok()?;
            $(
            if program == $module::program::NUMBER {
                return $module::program::Procedure::try_from(procedure).ok().map(|p| p.info().name);
            }
            )*
            if program == keepalive::program::NUMBER {
                return keepalive::program::Procedure::try_from(procedure).ok().map(|p| p.info().name);
            }
            None
        }

        /// Decodes a call, reply or message body of a known program.
        fn decode_program(frame: &Frame) -> Result<Body, DispatchError> {
            let h = &frame.header;
            let body = &frame.body;
            $(
            if h.program == $module::program::NUMBER {
                if h.version != $module::program::VERSION {
                    return Err(DispatchError::UnknownVersion { program: h.program, version: h.version });
                }
                let procedure = u32::try_from(h.procedure)
                    .ok()
                    .and_then(|p| $module::program::Procedure::try_from(p).ok())
                    .ok_or(DispatchError::UnknownProcedure { program: h.program, procedure: h.procedure })?;
                let decoded = match h.kind {
                    MessageType::Call | MessageType::CallWithFds => {
                        $module::program::Call::decode(procedure, body)?.map(|c| Body::Call(Call::$variant(c)))
                    }
                    MessageType::Reply | MessageType::ReplyWithFds => {
                        $module::program::Reply::decode(procedure, body)?.map(|r| Body::Reply(Reply::$variant(r)))
                    }
                    _ => $module::program::Message::decode(procedure, body)?.map(|m| Body::Message(Message::$variant(m))),
                };
                return decoded.ok_or(DispatchError::WrongKind { procedure: h.procedure, kind: h.kind });
            }
            )*
            Err(DispatchError::UnknownProgram(h.program))
        }
    };
}

programs! {
    Remote => remote,
    Qemu => qemu,
    Lxc => lxc,
    Admin => admin,
    Lock => lock,
    Log => log,
}

/// Why a frame has no typed value.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum DispatchError {
    /// No generated program has this number.
    UnknownProgram(u32),
    /// The program exists in another version.
    UnknownVersion {
        /// Program number.
        program: u32,
        /// The version in the header.
        version: u32,
    },
    /// The program has no procedure with this number (a newer daemon?).
    UnknownProcedure {
        /// Program number.
        program: u32,
        /// Procedure number.
        procedure: i32,
    },
    /// The procedure exists but never travels in this message type (e.g. an
    /// event sent as a call).
    WrongKind {
        /// Procedure number.
        procedure: i32,
        /// The message type in the header.
        kind: MessageType,
    },
    /// The status does not fit the message type.
    UnexpectedStatus {
        /// The message type.
        kind: MessageType,
        /// The status.
        status: MessageStatus,
    },
    /// The body does not decode.
    Decode(rt::Error),
}

impl fmt::Display for DispatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DispatchError::UnknownProgram(p) => write!(f, "unknown program {p:#x}"),
            DispatchError::UnknownVersion { program, version } => {
                write!(f, "unknown version {version} of program {program:#x}")
            }
            DispatchError::UnknownProcedure { program, procedure } => {
                write!(f, "unknown procedure {procedure} of program {program:#x}")
            }
            DispatchError::WrongKind { procedure, kind } => {
                write!(f, "procedure {procedure} is never sent as {kind:?}")
            }
            DispatchError::UnexpectedStatus { kind, status } => {
                write!(f, "status {status:?} is not valid for a {kind:?} message")
            }
            DispatchError::Decode(_) => f.write_str("malformed body"),
        }
    }
}

impl std::error::Error for DispatchError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DispatchError::Decode(e) => Some(e),
            _ => None,
        }
    }
}

impl From<rt::Error> for DispatchError {
    fn from(e: rt::Error) -> Self {
        DispatchError::Decode(e)
    }
}

impl Body {
    /// The frame body that carries this value (the inverse of [`decode`]
    /// for the body; the header is the caller's).
    pub fn encode_body(&self) -> Result<Vec<u8>, rt::Error> {
        match self {
            Body::Call(c) => c.to_bytes(),
            Body::Reply(r) => r.to_bytes(),
            Body::Message(m) => m.to_bytes(),
            Body::Error(e) => rt::to_bytes(&MessageError::from(e.clone())),
            Body::StreamData(d) => Ok(d.clone()),
            Body::StreamHole(h) => rt::to_bytes(h),
            Body::StreamEnd => Ok(Vec::new()),
        }
    }
}

/// The typed value of any frame of any program libvirt speaks.
pub fn decode(frame: &Frame) -> Result<Body, DispatchError> {
    let h = &frame.header;
    let unexpected = || DispatchError::UnexpectedStatus {
        kind: h.kind,
        status: h.status,
    };
    match (h.kind, h.status) {
        (MessageType::Reply | MessageType::ReplyWithFds, MessageStatus::Error)
        | (MessageType::Stream, MessageStatus::Error) => {
            let e: MessageError = rt::from_bytes(&frame.body)?;
            Ok(Body::Error(e.into()))
        }
        (MessageType::Stream, MessageStatus::Continue) => Ok(Body::StreamData(frame.body.clone())),
        (MessageType::Stream, MessageStatus::Ok) => {
            rt::from_bytes::<()>(&frame.body)?;
            Ok(Body::StreamEnd)
        }
        (MessageType::StreamHole, MessageStatus::Continue) => {
            Ok(Body::StreamHole(rt::from_bytes(&frame.body)?))
        }
        (MessageType::StreamHole, _) => Err(unexpected()),
        (_, MessageStatus::Ok) if h.program == keepalive::program::NUMBER => {
            let procedure = u32::try_from(h.procedure)
                .ok()
                .and_then(|p| keepalive::program::Procedure::try_from(p).ok())
                .ok_or(DispatchError::UnknownProcedure {
                    program: h.program,
                    procedure: h.procedure,
                })?;
            let call = keepalive::program::Call::decode(procedure, &frame.body)?.ok_or(
                DispatchError::WrongKind {
                    procedure: h.procedure,
                    kind: h.kind,
                },
            )?;
            Ok(Body::Message(Message::Keepalive(call)))
        }
        (_, MessageStatus::Ok) => decode_program(frame),
        _ => Err(unexpected()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{Frame, Header};

    fn frame(
        program: u32,
        procedure: i32,
        kind: MessageType,
        status: MessageStatus,
        body: Vec<u8>,
    ) -> Frame {
        Frame::new(
            Header {
                program,
                version: 1,
                procedure,
                kind,
                serial: 1,
                status,
            },
            body,
        )
    }

    const REMOTE: u32 = remote::program::NUMBER;

    #[test]
    fn unknown_programs_and_procedures_are_typed_errors() {
        let f = frame(0x1234, 1, MessageType::Call, MessageStatus::Ok, vec![]);
        assert_eq!(decode(&f), Err(DispatchError::UnknownProgram(0x1234)));
        let f = frame(
            REMOTE,
            100_000,
            MessageType::Call,
            MessageStatus::Ok,
            vec![],
        );
        assert_eq!(
            decode(&f),
            Err(DispatchError::UnknownProcedure {
                program: REMOTE,
                procedure: 100_000
            })
        );
        let f = frame(REMOTE, -1, MessageType::Call, MessageStatus::Ok, vec![]);
        assert!(matches!(
            decode(&f),
            Err(DispatchError::UnknownProcedure { .. })
        ));
        let mut f = frame(REMOTE, 1, MessageType::Call, MessageStatus::Ok, vec![]);
        f.header.version = 2;
        assert_eq!(
            decode(&f),
            Err(DispatchError::UnknownVersion {
                program: REMOTE,
                version: 2
            })
        );
    }

    #[test]
    fn an_event_sent_as_a_call_or_a_bad_status_is_refused() {
        let lifecycle = remote::program::Procedure::DomainEventLifecycle as i32;
        let f = frame(
            REMOTE,
            lifecycle,
            MessageType::Call,
            MessageStatus::Ok,
            vec![],
        );
        assert!(matches!(decode(&f), Err(DispatchError::WrongKind { .. })));
        let f = frame(
            REMOTE,
            1,
            MessageType::Call,
            MessageStatus::Continue,
            vec![],
        );
        assert!(matches!(
            decode(&f),
            Err(DispatchError::UnexpectedStatus { .. })
        ));
        let f = frame(
            REMOTE,
            1,
            MessageType::StreamHole,
            MessageStatus::Ok,
            vec![],
        );
        assert!(matches!(
            decode(&f),
            Err(DispatchError::UnexpectedStatus { .. })
        ));
    }

    #[test]
    fn malformed_bodies_are_decode_errors() {
        // CONNECT_GET_LIB_VERSION's reply is one hyper; three bytes are not.
        let p = remote::program::Procedure::ConnectGetLibVersion as i32;
        let f = frame(
            REMOTE,
            p,
            MessageType::Reply,
            MessageStatus::Ok,
            vec![0, 0, 1],
        );
        assert!(matches!(decode(&f), Err(DispatchError::Decode(_))));
        // Trailing bytes after a complete body are refused too.
        let f = frame(
            REMOTE,
            p,
            MessageType::Reply,
            MessageStatus::Ok,
            vec![0; 12],
        );
        assert!(matches!(decode(&f), Err(DispatchError::Decode(_))));
        let f = frame(
            REMOTE,
            p,
            MessageType::Reply,
            MessageStatus::Ok,
            11_003_000u64.to_be_bytes().to_vec(),
        );
        assert_eq!(
            decode(&f),
            Ok(Body::Reply(Reply::Remote(
                remote::program::Reply::ConnectGetLibVersion(remote::ConnectGetLibVersionRet {
                    lib_ver: 11_003_000
                })
            )))
        );
    }

    #[test]
    fn keepalive_ping_and_pong_are_messages() {
        let ping = keepalive::program::Procedure::Ping as i32;
        let f = frame(
            keepalive::program::NUMBER,
            ping,
            MessageType::Message,
            MessageStatus::Ok,
            vec![],
        );
        assert_eq!(
            decode(&f),
            Ok(Body::Message(Message::Keepalive(
                keepalive::program::Call::Ping(())
            )))
        );
    }

    #[test]
    fn stream_frames_decode_by_status() {
        let p = remote::program::Procedure::DomainScreenshot as i32;
        let f = frame(
            REMOTE,
            p,
            MessageType::Stream,
            MessageStatus::Continue,
            vec![1, 2, 3],
        );
        assert_eq!(decode(&f), Ok(Body::StreamData(vec![1, 2, 3])));
        let f = frame(REMOTE, p, MessageType::Stream, MessageStatus::Ok, vec![]);
        assert_eq!(decode(&f), Ok(Body::StreamEnd));
        let hole = StreamHole {
            length: 4096,
            flags: 0,
        };
        let f = frame(
            REMOTE,
            p,
            MessageType::StreamHole,
            MessageStatus::Continue,
            rt::to_bytes(&hole).unwrap(),
        );
        assert_eq!(decode(&f), Ok(Body::StreamHole(hole)));
    }
}
