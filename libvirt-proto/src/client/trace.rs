//! What the client reports through [`tracing`](https://docs.rs/tracing)
//! with the `tracing` feature, under the target `libvirt_proto::client`.
//! Without the feature nothing here does anything, and what would be
//! reported is not computed.
//!
//! | level | when | fields |
//! | --- | --- | --- |
//! | `DEBUG` | a URI parameter goes on to the daemon (one the remote driver does not take: a driver's own, or a misspelling) | `parameter` (the name only) |
//! | `DEBUG` | a connection is open | `uri` (empty when probing), `transport` |
//! | `DEBUG` | a connection could not be opened | `uri`, `error` |
//! | `DEBUG` | a call is made (sent, or held back beyond `max_in_flight`) | `serial`, `procedure` |
//! | `DEBUG` | its reply came | `serial`, `ok`, `error` on failure |
//! | `DEBUG` | its caller gave it up | `serial` |
//! | `TRACE` | an event message came | `procedure`, `bytes` |
//! | `TRACE` | stream data or a hole came | `serial`, `bytes` or `hole` |
//! | `DEBUG` | a stream reached its end, finished or failed | `serial`, `error` on failure |
//! | `INFO` | the connection ended | `reason` |
//! | `INFO` | a lost connection is being opened again ([`Reconnecting`](super::Reconnecting)) | `uri`, `attempt`, `cause` |
//!
//! Procedures are named as their specification writes them
//! (`REMOTE_PROC_DOMAIN_GET_INFO`, [`crate::dispatch::procedure_name`]);
//! errors are printed whole, causes included ([`crate::error::Report`]).
//! Arguments and replies are never reported: they may hold secrets.

use crate::dispatch::Message;
use crate::engine::{CallError, StreamEvent};
#[cfg(feature = "tracing")]
use crate::error::Report;

use super::ClientError;

/// A `tracing` event of the client at `$level` (`DEBUG`, ...), with
/// `tracing::event!`'s fields and message; `()` without the feature.
#[cfg(feature = "tracing")]
macro_rules! event {
    ($level:ident, $($arg:tt)+) => {
        ::tracing::event!(
            target: "libvirt_proto::client",
            ::tracing::Level::$level,
            $($arg)+
        )
    };
}

#[cfg(not(feature = "tracing"))]
macro_rules! event {
    ($level:ident, $($arg:tt)+) => {
        ()
    };
}

pub(crate) use event;

/// A connection was opened to `uri` (or not).
pub(crate) fn opened(
    uri: &str,
    transport: crate::uri::Transport,
    result: Result<(), &ClientError>,
) {
    #[cfg(feature = "tracing")]
    match result {
        Ok(()) => event!(DEBUG, uri, transport = ?transport, "connection opened"),
        Err(e) => event!(DEBUG, uri, error = %Report::new(e), "connection not opened"),
    }
    #[cfg(not(feature = "tracing"))]
    let _ = (uri, transport, result);
}

/// The parameters of `uri` that go on to the daemon, by name (a value
/// may be a secret).
pub(crate) fn passed_on(uri: &crate::uri::ConnectUri) {
    for (name, _) in uri.params.passed_on() {
        event!(
            DEBUG,
            parameter = name.as_str(),
            "URI parameter passed on to the daemon"
        );
        #[cfg(not(feature = "tracing"))]
        let _ = name;
    }
}

/// A call went out.
pub(crate) fn call(serial: u32, program: u32, procedure: i32) {
    event!(
        DEBUG,
        serial,
        procedure = crate::dispatch::procedure_name(program, procedure),
        "call"
    );
    #[cfg(not(feature = "tracing"))]
    let _ = (serial, program, procedure);
}

/// The reply to call `serial` came.
pub(crate) fn reply<T>(serial: u32, result: &Result<T, CallError>) {
    #[cfg(feature = "tracing")]
    match result {
        Ok(_) => event!(DEBUG, serial, ok = true, "reply"),
        Err(e) => event!(DEBUG, serial, ok = false, error = %Report::new(e), "reply"),
    }
    #[cfg(not(feature = "tracing"))]
    let _ = (serial, result);
}

/// An event message came.
pub(crate) fn message(message: &Message, wire_len: usize) {
    event!(
        TRACE,
        procedure = message.procedure_name(),
        bytes = wire_len,
        "event message"
    );
    #[cfg(not(feature = "tracing"))]
    let _ = (message, wire_len);
}

/// Something happened to stream `serial`.
pub(crate) fn stream(serial: u32, event: &StreamEvent) {
    #[cfg(feature = "tracing")]
    match event {
        StreamEvent::Data(d) => event!(TRACE, serial, bytes = d.len(), "stream data"),
        StreamEvent::Hole(n) => event!(TRACE, serial, hole = n, "stream hole"),
        StreamEvent::Eof => event!(DEBUG, serial, "stream at its end"),
        StreamEvent::End => event!(DEBUG, serial, "stream finished"),
        StreamEvent::Error(e) => event!(DEBUG, serial, error = %Report::new(e), "stream failed"),
        StreamEvent::Violation(v) => {
            event!(DEBUG, serial, error = %Report::new(v), "stream aborted")
        }
    }
    #[cfg(not(feature = "tracing"))]
    let _ = (serial, event);
}

/// The connection ended with `err`.
pub(crate) fn ended(err: &ClientError) {
    event!(INFO, reason = %Report::new(err), "connection ended");
    #[cfg(not(feature = "tracing"))]
    let _ = err;
}

/// Attempt `attempt` at opening `uri` again, after `cause`.
pub(crate) fn reconnecting(uri: &str, attempt: u32, cause: &ClientError) {
    event!(INFO, uri, attempt, cause = %Report::new(cause), "reconnecting");
    #[cfg(not(feature = "tracing"))]
    let _ = (uri, attempt, cause);
}
