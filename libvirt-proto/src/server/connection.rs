//! One client's connection: a task that owns the transport and the
//! [`ServerEngine`], reading while the engine takes input, writing what it
//! queues (never awaiting a whole write, so a client that does not read
//! holds up nothing else and keepalive still judges it), and handing each
//! call to the service on a task of its own.

use std::sync::Arc;
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use super::{wrong_reply, Peer, ServerOptions, Service};
use crate::dispatch::{Call, Message, Reply};
use crate::engine::{ServerEngine, ServerEvent, FEATURE_PROGRAM_KEEPALIVE, OUTPUT_THROTTLE};
use crate::error::RemoteError;
use crate::error_codes::{ErrorDomain, ErrorNumber};
use crate::frame::Header;
use crate::generated::remote::{self, program};

/// How much one read takes.
const READ_CHUNK: usize = 64 << 10;

/// A service's answer, for the call with this header.
type Answer = (Header, Result<Reply, RemoteError>);

pub(super) async fn run<S, T>(service: Arc<S>, options: &ServerOptions, id: u64, io: T)
where
    S: Service,
    T: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut rd, mut wr) = tokio::io::split(io);
    let mut engine = ServerEngine::new(Instant::now());
    engine.set_max_requests(options.max_requests);
    if let Some((interval, count)) = options.keepalive {
        engine.enable_keepalive(interval, count, Instant::now());
    }
    let (answers_tx, mut answers) = mpsc::unbounded_channel::<Answer>();
    let (events_tx, mut events) = mpsc::channel::<Message>(options.event_queue);
    let peer = Peer {
        id,
        events: events_tx,
    };
    let mut buf = vec![0u8; READ_CHUNK];
    // The frame being written and how much of it has gone.
    let mut out: Option<(Vec<u8>, usize)> = None;
    // `CONNECT_CLOSE` was answered: end once that answer is written.
    let mut closing = false;
    loop {
        while let Some(event) = engine.poll_event() {
            match event {
                ServerEvent::Call { header, call, .. } => {
                    closing |= on_call(&mut engine, &service, &peer, &answers_tx, header, call);
                }
                // Only a stream's opener could have sent these.
                ServerEvent::Stream { serial, .. } => {
                    let _ = engine.stream_error(serial, stream_unsupported());
                }
                ServerEvent::ProtocolError {
                    header: Some(header),
                    error,
                } => {
                    let e =
                        RemoteError::new(ErrorNumber::ERR_RPC, ErrorDomain::RPC, error.to_string());
                    let _ = engine.reply_error(&header, e);
                }
                ServerEvent::ProtocolError { header: None, .. } => {}
                ServerEvent::Closed(_) => return,
            }
        }
        if out.is_none() {
            // Descriptors are not passed: a reply with them is never made.
            out = engine.poll_transmit().map(|t| (t.bytes, 0));
        }
        if closing && out.is_none() {
            let _ = wr.shutdown().await;
            return;
        }
        let reading = !closing && !engine.input_throttled();
        let taking_events = engine.queued_output() < OUTPUT_THROTTLE;
        let deadline = engine.poll_timeout().map(tokio::time::Instant::from_std);
        tokio::select! {
            read = rd.read(&mut buf), if reading => match read {
                Ok(0) => engine.handle_eof(),
                Ok(n) => engine.handle_input(&buf[..n], Instant::now()),
                Err(e) => engine.handle_transport_error(e),
            },
            written = write_some(&mut wr, &out) => match written {
                Ok(n) => {
                    if let Some((bytes, done)) = &mut out {
                        *done += n;
                        if *done == bytes.len() {
                            out = None;
                        }
                    }
                }
                Err(e) => engine.handle_transport_error(e),
            },
            Some((header, answer)) = answers.recv() => {
                let call = (header.program, header.procedure);
                let sent = match answer {
                    Ok(reply) if reply.procedure_number() == call => engine.reply(&header, &reply),
                    Ok(reply) => engine.reply_error(&header, wrong_reply(call, &reply)),
                    Err(e) => engine.reply_error(&header, e),
                };
                if let Err(e) = sent {
                    // Too large for the protocol, say: the client still
                    // gets an answer.
                    let e = RemoteError::new(
                        ErrorNumber::ERR_INTERNAL_ERROR,
                        ErrorDomain::RPC,
                        format!("cannot send the reply: {e}"),
                    );
                    let _ = engine.reply_error(&header, e);
                }
            }
            Some(event) = events.recv(), if taking_events => {
                let (program, version, procedure) = event.header_numbers();
                let _ = engine.send_message(program, version, procedure, &event);
            }
            () = sleep_until(deadline), if deadline.is_some() => {
                engine.handle_timeout(Instant::now());
            }
        }
    }
}

/// Writes some of `out` (never resolves when there is nothing to write).
async fn write_some<W: AsyncWrite + Unpin>(
    wr: &mut W,
    out: &Option<(Vec<u8>, usize)>,
) -> std::io::Result<usize> {
    match out {
        Some((bytes, done)) => match wr.write(&bytes[*done..]).await {
            Ok(0) => Err(std::io::ErrorKind::WriteZero.into()),
            other => other,
        },
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

fn stream_unsupported() -> RemoteError {
    RemoteError::new(
        ErrorNumber::ERR_NO_SUPPORT,
        ErrorDomain::RPC,
        "this server does not support streams",
    )
}

/// Answers what the RPC layer answers itself and hands the rest to the
/// service; whether the call was `CONNECT_CLOSE`.
fn on_call<S: Service>(
    engine: &mut ServerEngine,
    service: &Arc<S>,
    peer: &Peer,
    answers: &mpsc::UnboundedSender<Answer>,
    header: Header,
    call: Call,
) -> bool {
    match call {
        Call::Remote(program::Call::AuthList(())) => {
            let ret = remote::AuthListRet {
                types: vec![remote::AuthType::None],
            };
            let _ = engine.reply(&header, &ret);
            false
        }
        // The keepalive program is this layer's, as it is libvirtd's.
        Call::Remote(program::Call::ConnectSupportsFeature(a))
            if a.feature == FEATURE_PROGRAM_KEEPALIVE =>
        {
            let _ = engine.reply(&header, &remote::ConnectSupportsFeatureRet { supported: 1 });
            false
        }
        Call::Remote(program::Call::ConnectClose(())) => {
            let _ = engine.reply(&header, &());
            true
        }
        call if call.procedure_info().stream.is_some() => {
            let _ = engine.reply_error(&header, stream_unsupported());
            false
        }
        call => {
            let (service, peer, answers) = (service.clone(), peer.clone(), answers.clone());
            tokio::spawn(async move {
                let answer = service.call(&peer, call).await;
                let _ = answers.send((header, answer));
            });
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::unsupported;
    use super::*;

    #[test]
    fn unsupported_names_the_procedure() {
        let call = Call::Remote(program::Call::ConnectGetHostname(()));
        let e = unsupported(&call);
        assert_eq!(e.code, ErrorNumber::ERR_NO_SUPPORT);
        assert!(e
            .message
            .unwrap()
            .contains("REMOTE_PROC_CONNECT_GET_HOSTNAME"));
    }
}
