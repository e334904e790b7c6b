//! The task that owns a connection: it reads and writes the transport,
//! feeds the engine, runs its timers and hands replies, events and stream
//! data to the callers waiting for them.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use xdrgen::rt::StreamDirection;

use super::events::{Route, Subscriber};
use super::stream::StreamMsg;
use super::transport::Conn;
use super::ClientError;
use crate::engine::auth::{AuthError, SaslMechanism};
use crate::engine::open::{OpenStatus, Opener};
use crate::engine::{ClientEngine, CloseReason, Event};
use crate::generated::admin;

/// A successful reply.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) serial: u32,
    pub(crate) body: Vec<u8>,
    pub(crate) fds: Vec<OwnedFd>,
}

/// A call for the driver to make.
pub(crate) struct CallRequest {
    /// Names the call for [`Command::Abandon`].
    pub(crate) tag: u64,
    pub(crate) program: u32,
    pub(crate) version: u32,
    pub(crate) procedure: i32,
    pub(crate) body: Vec<u8>,
    pub(crate) fds: Vec<OwnedFd>,
    /// The stream the call opens, and where its data goes.
    pub(crate) stream: Option<(StreamDirection, mpsc::UnboundedSender<StreamMsg>)>,
    /// An event subscription to install under the callback id the reply
    /// carries, before any later event is routed.
    pub(crate) subscribe: Option<Subscriber>,
    pub(crate) reply: oneshot::Sender<Result<Reply, ClientError>>,
}

/// What callers ask of the driver.
pub(crate) enum Command {
    Call(CallRequest),
    /// The caller of this tag stopped waiting.
    Abandon(u64),
    StreamSend {
        serial: u32,
        data: Vec<u8>,
        done: oneshot::Sender<Result<(), ClientError>>,
    },
    StreamHole {
        serial: u32,
        length: i64,
        done: oneshot::Sender<Result<(), ClientError>>,
    },
    StreamFinish {
        serial: u32,
        done: oneshot::Sender<Result<(), ClientError>>,
    },
    StreamAbort(u32),
    Subscribe(Subscriber),
    /// Drop a subscription, and send its deregistration call if any.
    Unsubscribe {
        id: u64,
        deregister: Option<(u32, u32, i32, Vec<u8>)>,
    },
    Close(oneshot::Sender<()>),
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Command::Call(_) => "Call",
            Command::Abandon(_) => "Abandon",
            Command::StreamSend { .. } => "StreamSend",
            Command::StreamHole { .. } => "StreamHole",
            Command::StreamFinish { .. } => "StreamFinish",
            Command::StreamAbort(_) => "StreamAbort",
            Command::Subscribe(_) => "Subscribe",
            Command::Unsubscribe { .. } => "Unsubscribe",
            Command::Close(_) => "Close",
        })
    }
}

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
) -> Result<mpsc::UnboundedSender<Command>, ClientError> {
    let (commands, rx) = mpsc::unbounded_channel();
    let (opened_tx, opened_rx) = oneshot::channel();
    let mut driver = Driver::new(conn, opened_tx);
    driver.engine.set_max_in_flight(max_in_flight);
    tokio::spawn(driver.run(handshake, rx));
    match opened_rx.await {
        Ok(Ok(())) => Ok(commands),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(ClientError::Closed),
    }
}

struct Waiter {
    tag: u64,
    reply: oneshot::Sender<Result<Reply, ClientError>>,
    subscribe: Option<Subscriber>,
}

struct Driver {
    conn: Conn,
    engine: ClientEngine,
    opened: Option<oneshot::Sender<Result<(), ClientError>>>,
    waiting: HashMap<u32, Waiter>,
    tags: HashMap<u64, u32>,
    streams: HashMap<u32, mpsc::UnboundedSender<StreamMsg>>,
    /// Write streams waiting for the daemon's closing OK.
    finishing: HashMap<u32, oneshot::Sender<Result<(), ClientError>>>,
    route: Route,
}

fn now() -> std::time::Instant {
    Instant::now().into_std()
}

impl Driver {
    fn new(conn: Conn, opened: oneshot::Sender<Result<(), ClientError>>) -> Driver {
        Driver {
            conn,
            engine: ClientEngine::new(now()),
            opened: Some(opened),
            waiting: HashMap::new(),
            tags: HashMap::new(),
            streams: HashMap::new(),
            finishing: HashMap::new(),
            route: Route::default(),
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
        let mut buf = vec![0u8; 256 * 1024];
        let mut received_fds = Vec::new();
        // Without keepalive the engine has no timer: sleep "forever".
        let never = Instant::now() + Duration::from_secs(365 * 86400);
        let timer = tokio::time::sleep_until(never);
        tokio::pin!(timer);
        // A SASL mechanism being built on a blocking thread (Kerberos may
        // ask its KDC), so the connection's I/O goes on meanwhile.
        let mut building: Option<JoinHandle<Result<Box<dyn SaslMechanism>, AuthError>>> = None;
        loop {
            while let Some(e) = self.engine.poll_event() {
                if self.opened.is_some() {
                    if let Some(o) = opener.as_mut().filter(|o| o.owns(&e)) {
                        match o.handle(&mut self.engine, e, now()) {
                            OpenStatus::InProgress => {
                                if let Some(job) = o.take_mechanism_job() {
                                    building = Some(tokio::task::spawn_blocking(job));
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
            if self.flush().await.is_err() {
                self.engine.handle_eof();
            }
            if self.engine.is_closed() {
                // Drain the closing events (every pending call's outcome).
                while let Some(e) = self.engine.poll_event() {
                    self.handle_event(e);
                }
                self.fail_all(ClientError::Closed);
                return;
            }
            let deadline = self
                .engine
                .poll_timeout()
                .map(Instant::from_std)
                .unwrap_or(never);
            if timer.deadline() != deadline {
                timer.as_mut().reset(deadline);
            }
            tokio::select! {
                read = self.conn.read(&mut buf, &mut received_fds) => match read {
                    Ok(0) | Err(_) => self.engine.handle_eof(),
                    Ok(n) => {
                        if !received_fds.is_empty() {
                            self.engine.handle_fds(std::mem::take(&mut received_fds));
                        }
                        self.engine.handle_input(&buf[..n], now());
                    }
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
                _ = &mut timer => self.engine.handle_timeout(now()),
                built = async {
                    match building.as_mut() {
                        Some(job) => job.await,
                        None => std::future::pending().await,
                    }
                }, if building.is_some() => {
                    building = None;
                    let built = built.unwrap_or_else(|e| {
                        Err(AuthError::Sasl(format!("building the SASL mechanism: {e}")))
                    });
                    if let Some(o) = opener.as_mut() {
                        match o.provide_mechanism(&mut self.engine, built) {
                            OpenStatus::InProgress | OpenStatus::Open { .. } => {}
                            OpenStatus::Failed(err) => {
                                return self.open_failed(ClientError::Open(err))
                            }
                        }
                    }
                }
            }
        }
    }

    /// Writes everything the engine wants sent: frames without
    /// descriptors in one write, each frame with descriptors on its own.
    async fn flush(&mut self) -> std::io::Result<()> {
        let mut batch = Vec::new();
        while let Some(t) = self.engine.poll_transmit() {
            if t.fds.is_empty() {
                batch.extend_from_slice(&t.bytes);
                continue;
            }
            if !batch.is_empty() {
                self.conn.write_all(&batch, Vec::new()).await?;
                batch.clear();
            }
            self.conn.write_all(&t.bytes, t.fds).await?;
        }
        if !batch.is_empty() {
            self.conn.write_all(&batch, Vec::new()).await?;
        }
        Ok(())
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
                self.tags.remove(&w.tag);
                match result {
                    Ok(body) => {
                        if let Some(sub) = w.subscribe {
                            // Installed before any later event is routed.
                            self.route.install(sub, &body);
                        }
                        let _ = w.reply.send(Ok(Reply { serial, body, fds }));
                    }
                    Err(err) => {
                        self.streams.remove(&serial);
                        let _ = w.reply.send(Err(err.into()));
                    }
                }
            }
            Event::Message(m) => self.route.deliver(m),
            Event::Stream { serial, event } => {
                use crate::engine::StreamEvent;
                match event {
                    StreamEvent::End => {
                        if let Some(done) = self.finishing.remove(&serial) {
                            let _ = done.send(Ok(()));
                        }
                        if let Some(tx) = self.streams.remove(&serial) {
                            let _ = tx.send(StreamMsg::End);
                        }
                    }
                    StreamEvent::Error(err) => {
                        let err = ClientError::from(crate::engine::CallError::Remote(err));
                        if let Some(done) = self.finishing.remove(&serial) {
                            let _ = done.send(Err(clone_error(&err)));
                        }
                        if let Some(tx) = self.streams.remove(&serial) {
                            let _ = tx.send(StreamMsg::Failed(err));
                        }
                    }
                    StreamEvent::Data(d) => self.send_to_stream(serial, StreamMsg::Data(d)),
                    StreamEvent::Hole(n) => self.send_to_stream(serial, StreamMsg::Hole(n)),
                    StreamEvent::Eof => self.send_to_stream(serial, StreamMsg::Eof),
                }
            }
            Event::ProtocolError(_) => {}
            Event::Closed(reason) => {
                let err = match reason {
                    CloseReason::Local => ClientError::Closed,
                    r => ClientError::ConnectionLost(r),
                };
                self.fail_all(err);
                return true;
            }
        }
        false
    }

    fn send_to_stream(&mut self, serial: u32, msg: StreamMsg) {
        let gone = match self.streams.get(&serial) {
            Some(tx) => tx.send(msg).is_err(),
            None => false,
        };
        if gone {
            // The reader dropped its handle without aborting.
            self.streams.remove(&serial);
            let _ = self.engine.stream_abort(serial);
        }
    }

    /// Ends everything with `err`: pending calls, streams, subscriptions.
    fn fail_all(&mut self, err: ClientError) {
        for (_, w) in self.waiting.drain() {
            let _ = w.reply.send(Err(clone_error(&err)));
        }
        for (_, done) in self.finishing.drain() {
            let _ = done.send(Err(clone_error(&err)));
        }
        for (_, tx) in self.streams.drain() {
            let _ = tx.send(StreamMsg::Failed(clone_error(&err)));
        }
        self.route.close(&err);
        self.tags.clear();
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
                        if let Some((_, tx)) = req.stream {
                            self.streams.insert(serial, tx);
                        }
                        self.tags.insert(req.tag, serial);
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
                if let Some(serial) = self.tags.remove(&tag) {
                    self.waiting.remove(&serial);
                    self.streams.remove(&serial);
                    self.engine.abandon(serial);
                }
            }
            Command::StreamSend { serial, data, done } => {
                let r = self.engine.stream_send(serial, &data);
                let _ = done.send(r.map_err(ClientError::from));
            }
            Command::StreamHole {
                serial,
                length,
                done,
            } => {
                let r = self.engine.stream_hole(serial, length);
                let _ = done.send(r.map_err(ClientError::from));
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
                        self.engine.abandon(serial);
                    }
                }
            }
            Command::Close(done) => {
                self.engine.close();
                self.conn.shutdown().await;
                let _ = done.send(());
            }
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
