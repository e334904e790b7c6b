//! The task that owns a connection: it reads and writes the transport,
//! feeds the engine, runs its timers and hands replies, events and stream
//! data to the callers waiting for them.

use std::collections::HashMap;
use std::future::poll_fn;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, Notify};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::command::{Command, Commands, PacketToken, Reply, StreamInbox, StreamMsg, Subscriber};
use super::events::Route;
use super::outbox::Outbox;
use super::stream::{STREAM_PACKET, STREAM_SEND_WINDOW};
use super::trace;
use super::transport::Conn;
use super::ClientError;
use crate::engine::auth::AuthJobOutput;
use crate::engine::open::{OpenStatus, Opener};
use crate::engine::{ClientEngine, EngineError, Event};
use crate::frame::BodyPool;
use crate::generated::admin;
use crate::unix_socket::{ReadInto, READ_BUFFER};

/// Bytes waiting to be written, stream packets aside, above which the
/// transport is not read (4 MiB: calls and PONGs, never uploads, fill it).
const OUTBOX_READ_LIMIT: usize = 4 << 20;

/// How the connection is opened.
pub(crate) enum Handshake {
    /// The remote program: auth, keepalive, `CONNECT_OPEN`.
    Remote(Opener),
    /// The admin program: `ADMIN_PROC_CONNECT_OPEN` with these flags.
    Admin(u32),
}

/// Starts the driver on an open transport and waits for the handshake.
pub(crate) async fn start(
    conn: Conn,
    handshake: Handshake,
    max_in_flight: usize,
) -> Result<Connection, ClientError> {
    let (commands, rx) = mpsc::unbounded_channel();
    let (opened_tx, opened_rx) = oneshot::channel();
    let drained = Arc::new(Notify::new());
    let ended = Arc::new(OnceLock::new());
    let mut driver = Driver::new(conn, opened_tx, drained.clone(), ended.clone());
    driver.engine.set_max_in_flight(max_in_flight);
    let pool = driver.engine.body_pool().clone();
    tokio::spawn(driver.run(handshake, rx));
    match opened_rx.await {
        Ok(Ok(())) => Ok(Connection {
            commands,
            drained,
            ended,
            pool,
        }),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(ClientError::Closed),
    }
}

/// The callers' side of a running driver.
#[derive(Debug, Clone)]
pub(crate) struct Connection {
    pub(crate) commands: Commands,
    /// Woken by a stream reader that drained its full buffer, so a driver
    /// that stopped reading reads again.
    pub(crate) drained: Arc<Notify>,
    /// What ended the connection, set by the driver before it stops, for
    /// the requests that come after.
    pub(crate) ended: Arc<OnceLock<ClientError>>,
    /// The engine's buffers for received stream data, which streams give
    /// back once their readers have the bytes.
    pub(crate) pool: BodyPool,
}

struct Waiter {
    tag: u64,
    reply: oneshot::Sender<Result<Reply, ClientError>>,
    subscribe: Option<Subscriber>,
}

struct Driver {
    conn: Conn,
    engine: ClientEngine,
    /// What the engine has to send, written as the transport takes it.
    outbox: Outbox,
    opened: Option<oneshot::Sender<Result<(), ClientError>>>,
    waiting: HashMap<u32, Waiter>,
    streams: HashMap<u32, StreamInbox>,
    /// See [`Connection::drained`].
    drained: Arc<Notify>,
    /// Reading is stopped because a stream's reader is a whole buffer
    /// behind.
    paused: bool,
    /// Write streams waiting for the daemon's closing OK.
    finishing: HashMap<u32, oneshot::Sender<Result<(), ClientError>>>,
    route: Route,
    /// See [`Connection::ended`].
    ended: Arc<OnceLock<ClientError>>,
    /// This side is closing: the daemon's closing the socket after
    /// `CONNECT_CLOSE` is not a lost connection.
    closing: bool,
}

fn now() -> std::time::Instant {
    Instant::now().into_std()
}

impl Driver {
    fn new(
        conn: Conn,
        opened: oneshot::Sender<Result<(), ClientError>>,
        drained: Arc<Notify>,
        ended: Arc<OnceLock<ClientError>>,
    ) -> Driver {
        Driver {
            conn,
            engine: ClientEngine::new(now()),
            outbox: Outbox::default(),
            opened: Some(opened),
            waiting: HashMap::new(),
            streams: HashMap::new(),
            drained,
            paused: false,
            finishing: HashMap::new(),
            route: Route::default(),
            ended,
            closing: false,
        }
    }

    async fn run(mut self, handshake: Handshake, mut commands: mpsc::UnboundedReceiver<Command>) {
        let mut opener = None;
        let mut admin_open = None;
        let started = match handshake {
            Handshake::Remote(mut o) => {
                let r = o.start(&mut self.engine);
                opener = Some(o);
                r.map_err(ClientError::from)
            }
            Handshake::Admin(flags) => self
                .engine
                .call::<admin::program::procs::ConnectOpen>(&admin::ConnectOpenArgs { flags })
                .map(|s| admin_open = Some(s))
                .map_err(ClientError::from),
        };
        if let Err(e) = started {
            self.open_failed(e);
            return;
        }
        let mut buf = vec![0u8; READ_BUFFER];
        let mut received_fds = Vec::new();
        // Without keepalive the engine has no timer: sleep "forever".
        let never = Instant::now() + Duration::from_secs(365 * 86400);
        let timer = tokio::time::sleep_until(never);
        tokio::pin!(timer);
        // Authentication work (building a SASL mechanism, which may ask a
        // KDC or read a credentials file, or a step, which may derive
        // keys) runs on a blocking thread, so the connection's I/O goes on
        // meanwhile.
        let mut auth_job: Option<JoinHandle<AuthJobOutput>> = None;
        let drained = self.drained.clone();
        loop {
            while let Some(e) = self.engine.poll_event() {
                if self.opened.is_some() {
                    if let Some(o) = opener.as_mut().filter(|o| o.owns(&e)) {
                        match o.handle(&mut self.engine, e, now()) {
                            OpenStatus::InProgress => {
                                if let Some(job) = o.take_job() {
                                    auth_job = Some(tokio::task::spawn_blocking(|| job.run()));
                                }
                            }
                            OpenStatus::Open { .. } => self.open_done(),
                            OpenStatus::Failed(err) => {
                                return self.open_failed(ClientError::Open(err))
                            }
                        }
                        continue;
                    }
                    if let (Some(s), Event::Reply { serial, result, .. }) = (admin_open, &e) {
                        if *serial == s {
                            match result {
                                Ok(_) => self.open_done(),
                                Err(err) => return self.open_failed(err.clone().into()),
                            }
                            continue;
                        }
                    }
                }
                if self.handle_event(e) {
                    return;
                }
            }
            self.take_transmits(None);
            if self.engine.is_closed() {
                // Drain the closing events (every pending call's outcome).
                while let Some(e) = self.engine.poll_event() {
                    self.handle_event(e);
                }
                self.fail_all(ClientError::Closed);
                return;
            }
            self.update_pause();
            // The timer only moves earlier here; when it fires early the
            // engine does nothing and it is set again. Activity pushes the
            // keepalive deadline later with every frame, and moving the
            // timer that often would cost more than the odd early wake.
            let deadline = self
                .engine
                .poll_timeout()
                .map(Instant::from_std)
                .unwrap_or(never);
            if deadline < timer.deadline() {
                timer.as_mut().reset(deadline);
            }
            // Nor is anything read while more than OUTBOX_READ_LIMIT bytes
            // (stream packets aside, which their windows bound) wait to be
            // written: what is read may make more to write (a PONG for
            // every PING), and a peer that does not read must not make
            // this side's memory grow. Unlike a reader's pause, this one is
            // the peer's doing, so keepalive still judges it.
            let reading = !self.paused && self.outbox.queued_outside_windows() <= OUTBOX_READ_LIMIT;
            // A write matters to this loop when it frees room in a
            // stream's send window or may let reading start again;
            // otherwise (calls only) it is nothing to wake up for.
            let report_writes = !reading || !self.streams.is_empty();
            tokio::select! {
                io = poll_fn(|cx| {
                    let io = Io { reading, report_writes };
                    let into = ReadInto::new(self.engine.input_space(), &mut buf, &mut received_fds);
                    io.poll(&mut self.conn, &mut self.outbox, into, cx)
                }) => match io {
                    // Packets went out: writers may have more for us.
                    Done::Wrote => self.take_stream_packets(None),
                    Done::Read { n, wrote, into_body } => {
                        if !received_fds.is_empty() {
                            self.engine.handle_fds(std::mem::take(&mut received_fds));
                        }
                        if into_body {
                            self.engine.handle_input_appended(n, now());
                        } else {
                            self.engine.handle_input(&buf[..n], now());
                        }
                        if wrote && report_writes {
                            self.take_stream_packets(None);
                        }
                    }
                    Done::Eof => self.engine.handle_eof(),
                    Done::Failed(e) => self.engine.handle_transport_error(e),
                },
                cmd = commands.recv() => match cmd {
                    Some(c) => {
                        self.command(c).await;
                        // Take what else is waiting, so one write carries
                        // many calls.
                        while let Ok(c) = commands.try_recv() {
                            self.command(c).await;
                        }
                    }
                    None => self.engine.close(),
                },
                () = &mut timer => {
                    self.engine.handle_timeout(now());
                    let next = self.engine.poll_timeout().map(Instant::from_std).unwrap_or(never);
                    timer.as_mut().reset(next);
                }
                () = drained.notified(), if self.paused => {}
                done = async {
                    match auth_job.as_mut() {
                        Some(job) => job.await,
                        None => std::future::pending().await,
                    }
                }, if auth_job.is_some() => {
                    auth_job = None;
                    let output = done.unwrap_or_else(|e| {
                        AuthJobOutput::lost(format!("the SASL mechanism failed: {e}"))
                    });
                    if let Some(o) = opener.as_mut() {
                        match o.finish_job(&mut self.engine, output) {
                            OpenStatus::InProgress => {
                                if let Some(job) = o.take_job() {
                                    auth_job = Some(tokio::task::spawn_blocking(|| job.run()));
                                }
                            }
                            OpenStatus::Open { .. } => {}
                            OpenStatus::Failed(err) => {
                                return self.open_failed(ClientError::Open(err))
                            }
                        }
                    }
                }
            }
        }
    }

    /// Moves what the engine wants sent to the outbox; `token` goes with
    /// the last message (the stream packet just queued).
    fn take_transmits(&mut self, token: Option<PacketToken>) {
        take_transmits(&mut self.engine, &mut self.outbox, token);
    }

    /// Takes the packets writers have ready (of stream `only`, or of every
    /// stream) into the outbox. A stream the engine no longer has is
    /// failed; its writer learns why on its next write.
    fn take_stream_packets(&mut self, only: Option<u32>) {
        let mut failed = None;
        let mut take = |serial: u32, inbox: &StreamInbox| {
            while let Some((data, token)) = inbox.take_packet(STREAM_PACKET, STREAM_SEND_WINDOW) {
                match self.engine.stream_send_buf(serial, data) {
                    Ok(()) => {}
                    // The engine has just ended the stream (the daemon
                    // aborted or finished it, in input not yet turned
                    // into events): its event, next, gives the writer the
                    // cause, which the want of a stream would hide.
                    Err(EngineError::NoSuchStream(_)) => return,
                    Err(e) => {
                        inbox.send(StreamMsg::Failed(e.into()));
                        failed = Some(serial);
                        return;
                    }
                }
                take_transmits(&mut self.engine, &mut self.outbox, Some(token));
            }
        };
        match only {
            Some(serial) => {
                if let Some(inbox) = self.streams.get(&serial) {
                    take(serial, inbox);
                }
            }
            None => self.streams.iter().for_each(|(&s, inbox)| take(s, inbox)),
        }
        if let Some(serial) = failed {
            self.streams.remove(&serial);
        }
    }

    /// Stops reading while a stream's reader is a whole buffer behind,
    /// and reads again once every reader has caught up by half. The
    /// keepalive does not count a silence the driver causes by not
    /// reading.
    fn update_pause(&mut self) {
        let paused = if self.paused {
            !self.streams.values().all(StreamInbox::has_room)
        } else {
            self.streams.values().any(StreamInbox::is_full)
        };
        if paused != self.paused {
            self.paused = paused;
            self.engine.set_input_paused(paused, now());
        }
    }

    fn open_done(&mut self) {
        if let Some(o) = self.opened.take() {
            let _ = o.send(Ok(()));
        }
    }

    fn open_failed(&mut self, e: ClientError) {
        if let Some(o) = self.opened.take() {
            let _ = o.send(Err(e));
        }
    }

    /// Hands an engine event to whoever waits for it; true when the
    /// connection is over.
    fn handle_event(&mut self, e: Event) -> bool {
        match e {
            Event::Reply {
                serial,
                result,
                fds,
                ..
            } => {
                let Some(w) = self.waiting.remove(&serial) else {
                    return false;
                };
                trace::reply(serial, &result);
                match result {
                    Ok(body) => {
                        if let Some(sub) = w.subscribe {
                            // Installed before any later event is routed.
                            self.route.registered(sub, Some(&body));
                        }
                        let taken = w.reply.send(Ok(Reply { serial, body, fds })).is_ok();
                        if !taken && self.streams.remove(&serial).is_some() {
                            // The caller gave up as the reply came: nobody
                            // will use the stream the call opened.
                            let _ = self.engine.stream_abort(serial);
                        }
                    }
                    Err(err) => {
                        self.streams.remove(&serial);
                        if let Some(sub) = w.subscribe {
                            self.route.registered(sub, None);
                        }
                        let _ = w.reply.send(Err(err.into()));
                    }
                }
            }
            Event::Message { message, wire_len } => {
                trace::message(&message, wire_len);
                self.route.deliver(message, wire_len)
            }
            Event::Stream { serial, event } => {
                use crate::engine::StreamEvent;
                trace::stream(serial, &event);
                match event {
                    StreamEvent::End => {
                        if let Some(done) = self.finishing.remove(&serial) {
                            let _ = done.send(Ok(()));
                        }
                        if let Some(tx) = self.streams.remove(&serial) {
                            tx.send(StreamMsg::End);
                        }
                    }
                    StreamEvent::Error(err) => {
                        let err = ClientError::from(crate::engine::CallError::Remote(err));
                        if let Some(done) = self.finishing.remove(&serial) {
                            let _ = done.send(Err(err.clone()));
                        }
                        if let Some(tx) = self.streams.remove(&serial) {
                            tx.send(StreamMsg::Failed(err));
                        }
                    }
                    StreamEvent::Violation(v) => {
                        // The engine aborted it; a finish waiting for the
                        // daemon's answer, and the reader, learn why.
                        let err = ClientError::Protocol(crate::engine::ProtocolError::Stream(v));
                        if let Some(done) = self.finishing.remove(&serial) {
                            let _ = done.send(Err(err.clone()));
                        }
                        if let Some(tx) = self.streams.remove(&serial) {
                            tx.send(StreamMsg::Failed(err));
                        }
                    }
                    StreamEvent::Data(d) => self.send_to_stream(serial, StreamMsg::Data(d)),
                    StreamEvent::Hole(n) => self.send_to_stream(serial, StreamMsg::Hole(n)),
                    StreamEvent::Eof => self.send_to_stream(serial, StreamMsg::Eof),
                }
            }
            Event::ProtocolError(_) => {}
            Event::Closed(reason) => {
                let err = if self.closing {
                    ClientError::Closed
                } else {
                    ClientError::ended(reason)
                };
                trace::ended(&err);
                self.fail_all(err);
                return true;
            }
        }
        false
    }

    fn send_to_stream(&mut self, serial: u32, msg: StreamMsg) {
        let gone = match self.streams.get(&serial) {
            Some(tx) => !tx.send(msg),
            None => false,
        };
        if gone {
            // The reader dropped its handle without aborting.
            self.streams.remove(&serial);
            let _ = self.engine.stream_abort(serial);
        }
    }

    /// Ends everything with `err`: pending calls, streams, subscriptions,
    /// and the requests still to come. The first end is the one kept.
    fn fail_all(&mut self, err: ClientError) {
        let _ = self.ended.set(err.clone());
        for (_, w) in self.waiting.drain() {
            let _ = w.reply.send(Err(err.clone()));
        }
        for (_, done) in self.finishing.drain() {
            let _ = done.send(Err(err.clone()));
        }
        for (_, tx) in self.streams.drain() {
            tx.send(StreamMsg::Failed(err.clone()));
        }
        self.route.close(&err);
        if let Some(o) = self.opened.take() {
            let _ = o.send(Err(err));
        }
    }

    async fn command(&mut self, c: Command) {
        match c {
            Command::Call(req) => {
                let direction = req.stream.as_ref().map(|(d, _)| *d);
                match self.engine.call_raw(
                    req.program,
                    req.version,
                    req.procedure,
                    req.body,
                    req.fds,
                    direction,
                ) {
                    Ok(serial) => {
                        trace::call(serial, req.program, req.procedure);
                        if let Some((_, tx)) = req.stream {
                            self.streams.insert(serial, tx);
                        }
                        if let Some(sub) = &req.subscribe {
                            self.route.registering(sub);
                        }
                        self.waiting.insert(
                            serial,
                            Waiter {
                                tag: req.tag,
                                reply: req.reply,
                                subscribe: req.subscribe,
                            },
                        );
                    }
                    Err(e) => {
                        let _ = req.reply.send(Err(e.into()));
                    }
                }
            }
            Command::Abandon(tag) => {
                // Rare: a scan of the pending calls beats keeping a second
                // map up to date for every call.
                let serial = self
                    .waiting
                    .iter()
                    .find(|(_, w)| w.tag == tag)
                    .map(|(s, _)| *s);
                if let Some(serial) = serial {
                    trace::event!(DEBUG, serial, "call given up");
                    if let Some(sub) = self.waiting.remove(&serial).and_then(|w| w.subscribe) {
                        self.route.registered(sub, None);
                    }
                    self.streams.remove(&serial);
                    self.engine.abandon(serial);
                }
            }
            Command::StreamKick(serial) => self.take_stream_packets(Some(serial)),
            Command::StreamHole { serial, length } => {
                match self.engine.stream_hole(serial, length) {
                    Ok(()) => self.take_transmits(None),
                    Err(e) => {
                        if let Some(tx) = self.streams.remove(&serial) {
                            tx.send(StreamMsg::Failed(e.into()));
                        }
                    }
                }
            }
            Command::StreamFinish { serial, done } => match self.engine.stream_finish(serial) {
                Ok(()) => {
                    self.finishing.insert(serial, done);
                }
                Err(e) => {
                    let _ = done.send(Err(e.into()));
                }
            },
            Command::StreamAbort(serial) => {
                self.streams.remove(&serial);
                let _ = self.engine.stream_abort(serial);
            }
            Command::Subscribe(sub) => self.route.add(sub),
            Command::Unsubscribe { id, deregister } => {
                self.route.remove(id);
                if let Some((program, version, procedure, body)) = deregister {
                    if let Ok(serial) =
                        self.engine
                            .call_raw(program, version, procedure, body, Vec::new(), None)
                    {
                        // Sent once the in-flight limit allows (abandoned,
                        // it would never go out), without holding a slot:
                        // its answer matters to no one.
                        self.engine.detach(serial);
                    }
                }
            }
            Command::Closing => self.closing = true,
            Command::Close(done) => {
                self.engine.close();
                // A frozen peer must not hold the caller up.
                let _ = tokio::time::timeout(SHUTDOWN_TIMEOUT, self.conn.shutdown()).await;
                let _ = done.send(());
            }
        }
    }
}

/// Moves what `engine` wants sent to `outbox`; `token` goes with the last
/// message.
fn take_transmits(engine: &mut ClientEngine, outbox: &mut Outbox, mut token: Option<PacketToken>) {
    let mut next = engine.poll_transmit();
    while let Some(t) = next {
        next = engine.poll_transmit();
        let last = if next.is_none() { token.take() } else { None };
        outbox.push(t, last);
    }
}

/// How long ending the transport may take (a TLS close on a frozen peer).
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(2);

/// What the transport did.
enum Done {
    /// Some queued bytes went out.
    Wrote,
    /// `n` bytes came in, into the engine's body space when `into_body`
    /// (and, with `wrote`, some queued bytes went out first, which matters
    /// as [`Done::Wrote`] does).
    Read {
        n: usize,
        wrote: bool,
        into_body: bool,
    },
    /// End of file.
    Eof,
    /// Reading or writing failed: the connection ends with this cause.
    Failed(std::io::Error),
}

/// One turn of the transport: write what it takes, then read.
struct Io {
    /// Read, unless the driver holds reading back.
    reading: bool,
    /// Report writes that made progress (otherwise they go on quietly
    /// until the outbox is empty or the transport is full).
    report_writes: bool,
}

impl Io {
    /// Ready as soon as a read, or a reported write, made progress.
    fn poll(
        self,
        conn: &mut Conn,
        outbox: &mut Outbox,
        into: ReadInto<'_>,
        cx: &mut Context<'_>,
    ) -> Poll<Done> {
        let wrote = match outbox.poll_write(conn, cx) {
            Poll::Ready(Err(e)) => return Poll::Ready(Done::Failed(e)),
            Poll::Ready(Ok(n)) => n > 0,
            Poll::Pending => false,
        };
        if self.reading {
            let into_body = matches!(into, ReadInto::Append(_));
            match conn.poll_read(cx, into) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Done::Eof),
                // TLS without its close_notify: the peer's end all the same
                // (a daemon that exits or dies never sends one).
                Poll::Ready(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return Poll::Ready(Done::Eof)
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Done::Failed(e)),
                Poll::Ready(Ok(n)) => {
                    return Poll::Ready(Done::Read {
                        n,
                        wrote,
                        into_body,
                    })
                }
                Poll::Pending => {}
            }
        }
        if wrote && self.report_writes {
            Poll::Ready(Done::Wrote)
        } else {
            Poll::Pending
        }
    }
}
