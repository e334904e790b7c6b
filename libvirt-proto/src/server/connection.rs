//! One client's connection: a task that owns the transport and the
//! [`ServerEngine`], reading while the engine takes input, writing what it
//! queues (never awaiting a whole write, so a client that does not read
//! still has its timers run and its keepalive judged), and running each
//! call of the service as a task of its own, cancelled when the client
//! goes.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, OwnedSemaphorePermit};
use tokio::task::{JoinHandle, JoinSet};

use super::stream::{self, Refused, Room, StreamOut, StreamSlot};
use super::transport::{Io, Outgoing, Transport};
use super::{wrong_reply, Peer, PeerInfo, ServerOptions, Service};
use crate::dispatch::{Call, Message, Reply};
use crate::engine::auth::{AuthBegin, AuthWork, AuthWorkDone, ServerAuth, ServerAuthOutcome};
use crate::engine::{
    is_auth_step, ClientStreamEvent, EngineError, ProtocolError, ServerEngine, ServerEvent,
    FEATURE_PROGRAM_KEEPALIVE, OUTPUT_THROTTLE,
};
use crate::error::RemoteError;
use crate::error_codes::{ErrorDomain, ErrorNumber};
use crate::frame::Header;
use crate::generated::admin;
use crate::generated::remote::{self, program};
use crate::generated::virnet::MessageType;
use crate::unix_socket::{ReadInto, READ_BUFFER};

/// How long the end of a connection may take to write: the answer to
/// `CONNECT_CLOSE` and what was queued before it, then the shutdown.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// The service's calls under way, the header each answers, and the
/// stream a stream call opens once answered.
struct Calls {
    tasks: JoinSet<Result<(Reply, Vec<OwnedFd>), RemoteError>>,
    headers: HashMap<tokio::task::Id, (Header, Option<StreamSlot>)>,
}

/// What becomes of a call at the authentication gate.
enum Gate {
    /// It goes to the service.
    Pass,
    /// The mechanism has to work for it, off the connection's task.
    Work(AuthWork),
    /// Answered (or refused) already.
    Answered,
}

/// What the connection does besides the service's calls.
struct State<'a> {
    engine: ServerEngine,
    options: &'a ServerOptions,
    /// Whether descriptors pass on the transport.
    passes_fds: bool,
    /// `CONNECT_CLOSE` was answered: end once that answer is written.
    closing: bool,
    /// When `CONNECT_CLOSE` was answered: the rest is written within
    /// [`CLOSE_GRACE`].
    closing_since: Option<Instant>,
    /// With keepalive on, how long the client may take none of its
    /// output: interval × (count + 1), as long as keepalive gives it to
    /// answer.
    stall_limit: Option<Duration>,
    /// Open streams, by serial.
    streams: HashMap<u32, StreamSlot>,
    /// Something the client sent on a stream whose queue is full: nothing
    /// more is read or parsed until the service makes room.
    held: Option<(u32, ClientStreamEvent)>,
}

/// Serves one client; `unauthenticated` is its place among the clients
/// not yet authenticated, given back once it has.
pub(super) async fn run<S: Service>(
    service: Arc<S>,
    options: &ServerOptions,
    info: PeerInfo,
    mut transport: Transport,
    mut unauthenticated: Option<OwnedSemaphorePermit>,
) {
    let mut state = State {
        engine: ServerEngine::new(Instant::now()),
        options,
        passes_fds: transport.passes_fds(),
        closing: false,
        closing_since: None,
        stall_limit: None,
        streams: HashMap::new(),
        held: None,
    };
    state.engine.set_max_requests(options.max_requests);
    let mut calls = Calls {
        tasks: JoinSet::new(),
        headers: HashMap::new(),
    };
    let (events_tx, mut events) = mpsc::channel::<Message>(options.event_queue.max(1));
    let peer = Peer {
        info,
        events: events_tx,
        identity: Default::default(),
    };
    let mut auth = options.auth.for_peer(&peer);
    if auth.is_authenticated() {
        drop(unauthenticated.take());
    }
    let mut buf = vec![0u8; READ_BUFFER];
    // Descriptors read, for the engine.
    let mut fds = Vec::new();
    // The message being written.
    let mut out: Option<Outgoing> = None;
    // When the client last took output, or output last became pending.
    let mut taken_at = Instant::now();
    // Where the next look at the streams' queues starts, so that each
    // gets its turn.
    let mut turn = 0usize;
    // Reading and writing take turns when both can go on, so that a
    // client that takes output as fast as it comes is still read (its
    // aborts, its keepalive answers), and one that sends without pause
    // still gets its replies.
    let mut read_first = false;
    // An authentication call whose mechanism is at work on a blocking
    // thread (a password check, a polkit question): no more calls are
    // taken from the client until it is answered. Reading goes on, so
    // that a client that hangs up meanwhile is let go at once (bytes
    // after a SASL step end the connection; calls after a polkit check
    // wait, up to the `max_requests` throttle).
    let mut auth_work: Option<(Header, JoinHandle<AuthWorkDone>)> = None;
    loop {
        if (state.held.is_some() || auth_work.is_some()) && state.engine.is_closed() {
            // What is held can wait no more, nor can the calls, nor the
            // answer the mechanism is working out.
            return;
        }
        while state.held.is_none() && auth_work.is_none() {
            let Some(event) = state.engine.poll_event() else {
                break;
            };
            match event {
                ServerEvent::Call { header, call, fds } => {
                    match state.authenticate(&mut auth, &header, &call) {
                        Gate::Pass => state.on_call(&service, &peer, &mut calls, header, call, fds),
                        // Not for a client being let go (a second polkit
                        // call right behind a denied one, say).
                        Gate::Work(_) if state.closing => {}
                        Gate::Work(work) => {
                            let job = tokio::task::spawn_blocking(move || work.run());
                            auth_work = Some((header, job));
                        }
                        Gate::Answered => {}
                    }
                    if auth.is_authenticated() {
                        // Its place among the unauthenticated goes back.
                        drop(unauthenticated.take());
                    }
                }
                ServerEvent::Stream { serial, event } => state.deliver(serial, event),
                // A call that does not decode is answered, as libvirtd
                // does; anything else out of place is dropped, as libvirtd
                // drops it (a reply to a serial the client does not wait
                // for would end its connection).
                ServerEvent::ProtocolError {
                    header: Some(header),
                    error,
                } if matches!(header.kind, MessageType::Call | MessageType::CallWithFds) => {
                    let e =
                        RemoteError::new(ErrorNumber::ERR_RPC, ErrorDomain::RPC, error.to_string());
                    let _ = state.engine.reply_error(&header, e);
                }
                // A packet that did not fit its stream: the engine has
                // ended the stream, and the service learns it from the
                // end of its queue.
                ServerEvent::ProtocolError {
                    header: Some(header),
                    error: ProtocolError::Stream(_),
                } => state.remove_stream(header.serial),
                ServerEvent::ProtocolError { .. } => {}
                // Dropping `calls` cancels the calls under way.
                ServerEvent::Closed(_) => return,
            }
        }
        if out.is_none() {
            out = state.engine.poll_transmit().map(Outgoing::new);
            if out.is_some() {
                taken_at = Instant::now();
                // Taking output may have let held-back calls through.
                continue;
            }
        }
        if state.closing && out.is_none() {
            let since = state.closing_since.unwrap_or_else(Instant::now);
            let end = tokio::time::Instant::from_std(since + CLOSE_GRACE);
            let _ = tokio::time::timeout_at(end, transport.shutdown()).await;
            return;
        }
        // While a SASL step is worked out the engine takes no bytes (any
        // would end the connection: the client waits for the answer), so
        // reading then only notices a client that hangs up.
        let sasl_step_at_work = auth_work
            .as_ref()
            .is_some_and(|(h, _)| is_auth_step(h.program, h.procedure));
        let reading = !state.closing
            && state.held.is_none()
            && (sasl_step_at_work || !state.engine.input_throttled());
        // Keepalive does not judge a silence this side causes, output past
        // the throttle included; a client that takes none of its output
        // (so cannot be reading the pings) is judged by `stalled_at`.
        state.engine.set_input_paused(!reading, Instant::now());
        let stalled_at = state
            .stall_limit
            .filter(|_| out.is_some())
            .and_then(|limit| taken_at.checked_add(limit));
        let close_at = state.closing_since.map(|t| t + CLOSE_GRACE);
        let room = !state.closing && state.engine.queued_output() < OUTPUT_THROTTLE;
        let taking_events = !state.closing && room;
        let held_room = state
            .held
            .as_ref()
            .and_then(|(serial, event)| Some(state.streams.get(serial)?.room_for(event)));
        let deadline = [state.engine.poll_timeout(), stalled_at, close_at]
            .into_iter()
            .flatten()
            .min()
            .map(tokio::time::Instant::from_std);
        tokio::select! {
            io = std::future::poll_fn(|cx| {
                let into = ReadInto::new(state.engine.input_space(), &mut buf, &mut fds);
                transport.poll_io(cx, out.as_ref(), reading, read_first, into)
            }) => {
                read_first = matches!(io, Io::Wrote(_));
                match io {
                    Io::Read(Ok(0), _) => {
                        fds.clear();
                        state.engine.handle_eof();
                    }
                    Io::Read(Ok(n), into_body) => {
                        if !fds.is_empty() {
                            state.engine.handle_fds(std::mem::take(&mut fds));
                        }
                        if into_body {
                            state.engine.handle_input_appended(n, Instant::now());
                        } else {
                            state.engine.handle_input(&buf[..n], Instant::now());
                        }
                    }
                    Io::Read(Err(e), _) => state.engine.handle_transport_error(e),
                    Io::Wrote(written) => {
                        record_write(&mut out, &mut taken_at, &mut state.engine, written);
                    }
                }
            }
            Some(done) = calls.tasks.join_next_with_id() => {
                let (call, answer) = match done {
                    Ok((id, answer)) => (calls.headers.remove(&id), answer),
                    Err(e) => (calls.headers.remove(&e.id()), Err(panicked())),
                };
                if let Some((header, stream)) = call {
                    if state.answer(&header, answer) {
                        if let Some(slot) = stream {
                            state.streams.insert(header.serial, slot);
                        }
                    }
                }
            }
            done = async { (&mut auth_work.as_mut().expect("guarded").1).await },
                if auth_work.is_some() =>
            {
                let header = auth_work.take().map(|(h, _)| h).expect("guarded");
                state.auth_done(&mut auth, &peer, &header, done.ok());
                if auth.is_authenticated() {
                    drop(unauthenticated.take());
                }
            }
            room = wait_for_room(held_room), if state.held.is_some() => {
                if let Some((serial, event)) = state.held.take() {
                    match room {
                        Ok(room) => room.send(event),
                        Err(()) => state.reader_gone(serial),
                    }
                }
            }
            (serial, item) = next_out(&mut state.streams, &mut turn), if room => {
                state.stream_out(serial, item);
            }
            Some(event) = events.recv(), if taking_events => {
                let (program, version, procedure) = event.header_numbers();
                let _ = state.engine.send_message(program, version, procedure, &event);
            }
            () = sleep_until(deadline), if deadline.is_some() => {
                let now = Instant::now();
                // A client that stopped reading, or one that asked to
                // close and does not take the answer: dropped, with its
                // calls. (The timer may have won over a write that was
                // ready, after a long pause of this task: one try first.)
                if close_at.is_some_and(|t| now >= t) {
                    return;
                }
                if stalled_at.is_some_and(|t| now >= t) {
                    match out.as_ref().and_then(|o| transport.write_now(o)) {
                        Some(Ok(n)) if n > 0 => {
                            record_write(&mut out, &mut taken_at, &mut state.engine, Ok(n));
                            continue;
                        }
                        _ => return,
                    }
                }
                state.engine.handle_timeout(now);
            }
            // Nothing can happen any more (not reachable: a connection not
            // read has calls under way or output to write).
            else => return,
        }
    }
}

impl State<'_> {
    /// Ends the connection once what is queued is written (within
    /// [`CLOSE_GRACE`]), reading nothing more.
    fn close(&mut self) {
        self.closing = true;
        self.closing_since = Some(Instant::now());
    }

    /// Answers the authentication calls and refuses the others until the
    /// client has authenticated, as libvirtd does: whether `call` goes
    /// on, or what the mechanism has to do for it.
    fn authenticate(&mut self, auth: &mut ServerAuth, header: &Header, call: &Call) -> Gate {
        match auth.begin(&mut self.engine, header, call) {
            Ok(AuthBegin::Done(ServerAuthOutcome::Pass)) => Gate::Pass,
            Ok(AuthBegin::Work(work)) => Gate::Work(work),
            // A failed exchange is over: the client goes once it has the
            // refusal, as libvirt's client would go.
            Ok(AuthBegin::Done(ServerAuthOutcome::Failed)) => {
                self.close();
                Gate::Answered
            }
            Ok(AuthBegin::Done(_)) | Err(_) => Gate::Answered,
        }
    }

    /// Answers the call the mechanism worked for (`None` if the mechanism
    /// panicked: the exchange fails).
    fn auth_done(
        &mut self,
        auth: &mut ServerAuth,
        peer: &Peer,
        header: &Header,
        done: Option<AuthWorkDone>,
    ) {
        let Some(done) = done else {
            let e = RemoteError::new(
                ErrorNumber::ERR_AUTH_FAILED,
                ErrorDomain::AUTH,
                "authentication failed: the mechanism failed",
            );
            let _ = self.engine.reply_error(header, e);
            return self.close();
        };
        let outcome = auth.finish(&mut self.engine, done);
        if matches!(outcome, Ok(ServerAuthOutcome::Failed)) {
            self.close();
        }
        if auth.is_authenticated() {
            if let Some(name) = auth.identity() {
                let _ = peer.identity.set(name);
            }
        }
    }

    /// Answers what the RPC layer answers itself and hands the rest to
    /// the service.
    fn on_call<S: Service>(
        &mut self,
        service: &Arc<S>,
        peer: &Peer,
        calls: &mut Calls,
        header: Header,
        call: Call,
        fds: Vec<OwnedFd>,
    ) {
        let engine = &mut self.engine;
        match call {
            // The keepalive program is this layer's; a client that asks
            // for it answers pings, so the server's start then, as
            // libvirtd's do.
            Call::Remote(program::Call::ConnectSupportsFeature(a))
                if a.feature == FEATURE_PROGRAM_KEEPALIVE =>
            {
                let ret = remote::ConnectSupportsFeatureRet { supported: 1 };
                let _ = engine.reply(&header, &ret);
                if let Some((interval, count)) = self.options.keepalive {
                    engine.enable_keepalive(interval, count, Instant::now());
                    // A zero interval is keepalive off, as for the engine.
                    self.stall_limit = Some(interval.saturating_mul(count.saturating_add(1)))
                        .filter(|_| !interval.is_zero());
                }
            }
            // The admin program's close is the same, as in libvirt's
            // admin server.
            Call::Remote(program::Call::ConnectClose(()))
            | Call::Admin(admin::program::Call::ConnectClose(())) => {
                let _ = engine.reply(&header, &());
                self.close();
            }
            call if call.procedure_info().stream.is_some() => {
                // Each stream may hold its queues: as many as calls.
                let opening = calls.headers.values().filter(|(_, s)| s.is_some()).count();
                if self.streams.len() + opening >= self.options.max_requests.max(1) {
                    let e = stream_error("too many streams open on this connection");
                    let _ = engine.reply_error(&header, e);
                    return;
                }
                let (service, peer) = (service.clone(), peer.clone());
                let sparse = engine.call_is_sparse(header.serial);
                let (stream, slot) = stream::pair(sparse, engine.body_pool().clone());
                let task = calls.tasks.spawn(async move {
                    let reply = service.call_stream(&peer, call, stream).await?;
                    Ok((reply, Vec::new()))
                });
                calls.headers.insert(task.id(), (header, Some(slot)));
            }
            call => {
                let (service, peer) = (service.clone(), peer.clone());
                let task = calls
                    .tasks
                    .spawn(async move { service.call_fds(&peer, call, fds).await });
                calls.headers.insert(task.id(), (header, None));
            }
        }
    }

    /// Sends the service's answer to the call with `header`; whether it
    /// was a reply (which opens a stream procedure's stream).
    fn answer(
        &mut self,
        header: &Header,
        answer: Result<(Reply, Vec<OwnedFd>), RemoteError>,
    ) -> bool {
        let call = (header.program, header.procedure);
        let sent = match answer {
            Ok((_, fds)) if !fds.is_empty() && !self.passes_fds => {
                let e = RemoteError::new(
                    ErrorNumber::ERR_OPERATION_UNSUPPORTED,
                    ErrorDomain::RPC,
                    "sending file descriptors is not supported on this connection \
                     (only on a Unix socket)",
                );
                self.engine.reply_error(header, e).map(|()| false)
            }
            Ok((reply, fds)) if reply.procedure_number() == call => self
                .engine
                .reply_with_fds(header, &reply, fds)
                .map(|()| true),
            Ok((reply, _)) => self
                .engine
                .reply_error(header, wrong_reply(call, &reply))
                .map(|()| false),
            Err(e) => self.engine.reply_error(header, e).map(|()| false),
        };
        sent.unwrap_or_else(|e| {
            // Too large for the protocol, say: the client still gets an
            // answer.
            let e = RemoteError::new(
                ErrorNumber::ERR_INTERNAL_ERROR,
                ErrorDomain::RPC,
                format!("cannot send the reply: {e}"),
            );
            let _ = self.engine.reply_error(header, e);
            false
        })
    }

    /// Hands what the client did on stream `serial` to the service.
    fn deliver(&mut self, serial: u32, event: ClientStreamEvent) {
        let Some(slot) = self.streams.get(&serial) else {
            return;
        };
        if event == ClientStreamEvent::Abort {
            // The engine has closed the stream; the service learns it
            // from this, or from the end of its queue.
            slot.try_deliver_abort();
            self.remove_stream(serial);
            return;
        }
        let finishing = event == ClientStreamEvent::Finish;
        let Some(slot) = self.streams.get_mut(&serial) else {
            return;
        };
        slot.client_finished |= finishing;
        match slot.try_deliver(event) {
            Ok(()) => {}
            Err(Refused::Full(event)) => self.held = Some((serial, event)),
            Err(Refused::Gone) => self.reader_gone(serial),
        }
    }

    /// Forgets stream `serial`, and what was held for it.
    fn remove_stream(&mut self, serial: u32) {
        self.streams.remove(&serial);
        if self.held.as_ref().is_some_and(|(s, _)| *s == serial) {
            self.held = None;
        }
    }

    /// The service no longer reads stream `serial`: what it said last (an
    /// abort, as it let go) goes out, else the client is told.
    fn reader_gone(&mut self, serial: u32) {
        while let Some(item) = self
            .streams
            .get_mut(&serial)
            .and_then(|s| s.out.try_recv().ok())
        {
            self.stream_out(serial, Some(item));
        }
        if self.streams.contains_key(&serial) {
            self.remove_stream(serial);
            let e = stream_error("the server stopped reading this stream");
            let _ = self.engine.stream_error(serial, e);
        }
    }

    /// What the service did on stream `serial` (`None`: it dropped it).
    fn stream_out(&mut self, serial: u32, item: Option<StreamOut>) {
        let done = match item {
            Some(StreamOut::Data(data)) => self.engine.stream_send_buf(serial, data).is_err(),
            Some(StreamOut::Hole(length)) => match self.engine.stream_hole(serial, length) {
                Ok(()) => false,
                // Not reached (the service's end checks it first); the
                // client still learns that the stream ended.
                Err(EngineError::NotSparse(_)) => {
                    let e = stream_error("the server sent a hole on a stream that is not sparse");
                    let _ = self.engine.stream_error(serial, e);
                    true
                }
                Err(_) => true,
            },
            Some(StreamOut::End) => self.engine.stream_send(serial, &[]).is_err(),
            // libvirt's finish answers the client's; before it, the
            // stream can only end with an error.
            Some(StreamOut::Finish)
                if !self.streams.get(&serial).is_some_and(|s| s.client_finished) =>
            {
                let e = stream_error("the server ended the stream before the client finished");
                let _ = self.engine.stream_error(serial, e);
                true
            }
            Some(StreamOut::Finish) => {
                let _ = self.engine.stream_finish(serial);
                true
            }
            Some(StreamOut::Abort(e)) => {
                let _ = self.engine.stream_error(serial, e);
                true
            }
            None => {
                let e = stream_error("the server dropped this stream");
                let _ = self.engine.stream_error(serial, e);
                true
            }
        };
        // An error: the client aborted it meanwhile, or the connection
        // is ending.
        if done {
            self.remove_stream(serial);
        }
    }
}

/// The answer to a call whose service task panicked.
fn panicked() -> RemoteError {
    RemoteError::new(
        ErrorNumber::ERR_INTERNAL_ERROR,
        ErrorDomain::RPC,
        "the server failed while answering this call",
    )
}

/// Records what a write of `out` did: `taken_at` moves on when the client
/// took bytes, and the message is done once all of it has gone.
fn record_write(
    out: &mut Option<Outgoing>,
    taken_at: &mut Instant,
    engine: &mut ServerEngine,
    written: std::io::Result<usize>,
) {
    match written {
        Ok(n) => {
            if n > 0 {
                *taken_at = Instant::now();
            }
            if out.as_mut().is_some_and(|o| o.advance(n)) {
                *out = None;
            }
        }
        Err(e) => {
            *out = None;
            engine.handle_transport_error(e);
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

fn stream_error(message: &str) -> RemoteError {
    RemoteError::new(ErrorNumber::ERR_RPC, ErrorDomain::STREAMS, message)
}

/// The room being made for a held packet (never ready without one).
async fn wait_for_room(
    room: Option<impl std::future::Future<Output = Result<Room, ()>>>,
) -> Result<Room, ()> {
    match room {
        Some(room) => room.await,
        None => std::future::pending().await,
    }
}

/// The next thing a service did on one of the open streams, and which;
/// the look starts at a stream further on each time (`turn`), so that a
/// busy stream does not hold up the others.
async fn next_out(
    streams: &mut HashMap<u32, StreamSlot>,
    turn: &mut usize,
) -> (u32, Option<StreamOut>) {
    std::future::poll_fn(|cx| {
        let n = streams.len().max(1);
        let start = *turn % n;
        let (late, early): (Vec<_>, Vec<_>) = streams
            .iter_mut()
            .enumerate()
            .partition(|(i, _)| *i >= start);
        for (_, (serial, slot)) in late.into_iter().chain(early) {
            if let Poll::Ready(item) = slot.out.poll_recv(cx) {
                *turn = turn.wrapping_add(1);
                return Poll::Ready((*serial, item));
            }
        }
        Poll::Pending
    })
    .await
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
