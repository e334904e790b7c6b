//! An async client on tokio (feature `client`): a thin driver over the
//! sans-IO [`ClientEngine`](crate::engine::ClientEngine).
//!
//! One task owns the socket and the engine; callers talk to it through a
//! channel, each call waiting on its own reply, so a slow event consumer
//! never holds up replies. This first version speaks the Unix transport
//! with `none` / `polkit` authentication.
//!
//! ```no_run
//! # async fn demo() -> Result<(), libvirt_proto::client::ClientError> {
//! use libvirt_proto::client::Client;
//! use libvirt_proto::remote::program::procs::ConnectGetLibVersion;
//!
//! let (client, _events) = Client::connect("qemu:///system").await?;
//! let version = client.call::<ConnectGetLibVersion>(&()).await?;
//! println!("libvirt {}", version.lib_ver);
//! client.close().await;
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::{mpsc, oneshot};
use xdrgen::rt::{self, Codec, RemoteProcedure};

use crate::dispatch::Message;
use crate::engine::auth::{AuthMethod, ClientAuth};
use crate::engine::keepalive::{DEFAULT_COUNT, DEFAULT_INTERVAL};
use crate::engine::open::{OpenStatus, Opener, CONNECT_RO};
use crate::engine::{CallError, ClientEngine, EngineError, Event};
use crate::socket::{unix_socket, Environment, SocketError};
use crate::uri::{ConnectUri, Transport, UriError};

/// Why a client operation failed.
#[derive(Debug)]
pub enum ClientError {
    /// The URI is invalid.
    Uri(UriError),
    /// No socket for the URI.
    Socket(SocketError),
    /// This client does not speak the URI's transport yet.
    UnsupportedTransport(Transport),
    /// The transport failed.
    Io(std::io::Error),
    /// Opening the connection failed.
    Open(String),
    /// The call failed (daemon error or lost connection).
    Call(CallError),
    /// The request could not be made or the reply decoded.
    Engine(EngineError),
    /// The connection is gone.
    Closed,
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Uri(e) => write!(f, "{e}"),
            ClientError::Socket(e) => write!(f, "{e}"),
            ClientError::UnsupportedTransport(t) => {
                write!(f, "the {t:?} transport is not supported yet")
            }
            ClientError::Io(e) => write!(f, "{e}"),
            ClientError::Open(e) => write!(f, "cannot open the connection: {e}"),
            ClientError::Call(e) => write!(f, "{e}"),
            ClientError::Engine(e) => write!(f, "{e}"),
            ClientError::Closed => f.write_str("the connection is closed"),
        }
    }
}

impl std::error::Error for ClientError {}

enum Command {
    Call {
        program: u32,
        version: u32,
        procedure: i32,
        body: Vec<u8>,
        reply: oneshot::Sender<Result<Vec<u8>, ClientError>>,
    },
    Close(oneshot::Sender<()>),
}

/// A connection to a libvirt daemon.
#[derive(Debug, Clone)]
pub struct Client {
    commands: mpsc::UnboundedSender<Command>,
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Call { procedure, .. } => write!(f, "Call({procedure})"),
            Command::Close(_) => f.write_str("Close"),
        }
    }
}

/// Events from the daemon, bounded; when the consumer falls behind, events
/// are dropped and counted rather than blocking replies.
#[derive(Debug)]
pub struct Events {
    rx: mpsc::Receiver<Message>,
    lost: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Events {
    /// The next event, or `None` once the connection is closed.
    pub async fn next(&mut self) -> Option<Message> {
        self.rx.recv().await
    }

    /// Events dropped so far because this consumer was too slow.
    pub fn lost(&self) -> u64 {
        self.lost.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// How many events wait for a slow consumer before new ones are dropped.
pub const EVENT_BUFFER: usize = 1024;

impl Client {
    /// Connects to the daemon serving `uri` and opens it read-write.
    pub async fn connect(uri: &str) -> Result<(Client, Events), ClientError> {
        Self::connect_with(uri, false).await
    }

    /// Connects and opens read-only (`VIR_CONNECT_RO`).
    pub async fn connect_read_only(uri: &str) -> Result<(Client, Events), ClientError> {
        Self::connect_with(uri, true).await
    }

    async fn connect_with(uri: &str, read_only: bool) -> Result<(Client, Events), ClientError> {
        let parsed = ConnectUri::parse(uri).map_err(ClientError::Uri)?;
        if parsed.transport != Transport::Unix {
            return Err(ClientError::UnsupportedTransport(parsed.transport));
        }
        let path = unix_socket(&parsed, read_only, &Environment::current(&parsed))
            .map_err(ClientError::Socket)?;
        let stream = UnixStream::connect(&path).await.map_err(ClientError::Io)?;
        let opener = Opener::new(
            ClientAuth::new(vec![AuthMethod::None, AuthMethod::Polkit], None),
            Some(parsed.remote_name()),
            if read_only { CONNECT_RO } else { 0 },
            Some((DEFAULT_INTERVAL, DEFAULT_COUNT)),
        );
        let (commands, rx) = mpsc::unbounded_channel();
        let (events_tx, events_rx) = mpsc::channel(EVENT_BUFFER);
        let lost = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (opened_tx, opened_rx) = oneshot::channel();
        tokio::spawn(drive(
            stream,
            opener,
            opened_tx,
            rx,
            events_tx,
            lost.clone(),
        ));
        match opened_rx.await {
            Ok(Ok(())) => Ok((
                Client { commands },
                Events {
                    rx: events_rx,
                    lost,
                },
            )),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(ClientError::Closed),
        }
    }

    /// Calls procedure `P`, typed at compile time.
    pub async fn call<P: RemoteProcedure>(&self, args: &P::Args) -> Result<P::Ret, ClientError> {
        let mut body = Vec::with_capacity(P::ArgsCodec::len(args));
        P::ArgsCodec::encode(args, &mut rt::Writer::new(&mut body))
            .map_err(|e| ClientError::Engine(EngineError::Encode(e)))?;
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Command::Call {
                program: P::PROGRAM,
                version: P::VERSION,
                procedure: P::NUMBER as i32,
                body,
                reply,
            })
            .map_err(|_| ClientError::Closed)?;
        let body = rx.await.map_err(|_| ClientError::Closed)??;
        rt::decode_all::<P::RetCodec>(&body)
            .map_err(|e| ClientError::Engine(EngineError::Decode(e)))
    }

    /// Sends `CONNECT_CLOSE` and ends the connection.
    pub async fn close(&self) {
        let _ = self
            .call::<crate::remote::program::procs::ConnectClose>(&())
            .await;
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Close(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

/// The driver task: socket, engine, timers and callers.
async fn drive(
    mut stream: UnixStream,
    mut opener: Opener,
    opened: oneshot::Sender<Result<(), ClientError>>,
    mut commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::Sender<Message>,
    lost: std::sync::Arc<std::sync::atomic::AtomicU64>,
) {
    let start = tokio::time::Instant::now();
    let clock = |now: tokio::time::Instant| now.into_std();
    let mut engine = ClientEngine::new(clock(start));
    let mut opened = Some(opened);
    let mut waiting: HashMap<u32, oneshot::Sender<Result<Vec<u8>, ClientError>>> = HashMap::new();
    if let Err(e) = opener.start(&mut engine) {
        if let Some(o) = opened.take() {
            let _ = o.send(Err(ClientError::Engine(e)));
        }
        return;
    }
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        // Hand out what happened.
        while let Some(e) = engine.poll_event() {
            if opened.is_some() && opener.owns(&e) {
                match opener.handle(&mut engine, e, clock(tokio::time::Instant::now())) {
                    OpenStatus::InProgress => {}
                    OpenStatus::Open { .. } => {
                        if let Some(o) = opened.take() {
                            let _ = o.send(Ok(()));
                        }
                    }
                    OpenStatus::Failed(err) => {
                        if let Some(o) = opened.take() {
                            let _ = o.send(Err(ClientError::Open(err.to_string())));
                        }
                        return;
                    }
                }
                continue;
            }
            match e {
                Event::Reply { serial, result, .. } => {
                    if let Some(w) = waiting.remove(&serial) {
                        let _ = w.send(result.map_err(ClientError::Call));
                    }
                }
                Event::Message(m) => {
                    if events.try_send(m).is_err() {
                        lost.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
                Event::Closed(_) => {
                    for (_, w) in waiting.drain() {
                        let _ = w.send(Err(ClientError::Closed));
                    }
                    if let Some(o) = opened.take() {
                        let _ = o.send(Err(ClientError::Closed));
                    }
                    return;
                }
                Event::Stream { .. } | Event::ProtocolError(_) => {}
            }
        }
        // Write everything the engine wants sent, including what handling the
        // events above queued.
        while let Some(t) = engine.poll_transmit() {
            if stream.write_all(&t.bytes).await.is_err() {
                engine.handle_eof();
                break;
            }
        }
        if engine.is_closed() {
            return;
        }
        let deadline = engine
            .poll_timeout()
            .map(tokio::time::Instant::from_std)
            .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            read = stream.read(&mut buf) => match read {
                Ok(0) | Err(_) => engine.handle_eof(),
                Ok(n) => engine.handle_input(&buf[..n], clock(tokio::time::Instant::now())),
            },
            cmd = commands.recv() => match cmd {
                Some(Command::Call { program, version, procedure, body, reply }) => {
                    match engine.call_raw(program, version, procedure, body, Vec::new(), None) {
                        Ok(serial) => {
                            waiting.insert(serial, reply);
                        }
                        Err(e) => {
                            let _ = reply.send(Err(ClientError::Engine(e)));
                        }
                    }
                }
                Some(Command::Close(done)) => {
                    engine.close();
                    let _ = stream.shutdown().await;
                    let _ = done.send(());
                }
                None => {
                    engine.close();
                }
            },
            _ = tokio::time::sleep_until(deadline) => engine.handle_timeout(clock(tokio::time::Instant::now())),
        }
    }
}
