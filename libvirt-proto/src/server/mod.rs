//! A libvirt RPC server on tokio (feature `server`): a task per
//! connection over the sans-IO
//! [`ServerEngine`](crate::engine::ServerEngine), answering calls with a
//! [`Service`] of your own. For a daemon that speaks libvirt's protocol,
//! or a fake `libvirtd` that tests a management program, `virsh` or the
//! C library without a hypervisor.
//!
//! The server does what libvirtd's RPC layer does around the calls:
//! authentication (`AUTH_LIST` says `none`; a server on a Unix socket
//! relies on the socket's permissions, as libvirtd does with
//! `auth_unix_rw = "none"`), keepalive (the client's pings answered, and
//! with [`ServerOptions::keepalive`] the server's own), the limit on
//! unanswered calls per client (libvirtd's `max_client_requests`: past it
//! the connection is not read), `CONNECT_CLOSE`, `CONNECT_SUPPORTS_FEATURE`
//! for the keepalive program, and calls the service cannot decode
//! answered with libvirt's error. Everything else, `CONNECT_OPEN` and the
//! other features included (a service that registers event callbacks
//! says yes to `VIR_DRV_FEATURE_REMOTE_EVENT_CALLBACK`, 14, or clients
//! fall back to the older registrations), is the service's: each call runs as a task
//! of its own, so a slow call holds up no other, and its reply goes back
//! as soon as it is ready. Events go out through [`Peer::send_event`].
//!
//! Not yet: byte streams (a call that would open one is answered with
//! `VIR_ERR_NO_SUPPORT`), descriptor passing, SASL and TLS (the
//! connection is whatever `AsyncRead + AsyncWrite` it is handed, so a
//! TLS stream can be served as it is).
//!
//! ```no_run
//! use libvirt_proto::dispatch::{Call, Reply};
//! use libvirt_proto::error::RemoteError;
//! use libvirt_proto::remote::{self, program};
//! use libvirt_proto::server::{unsupported, Peer, Server, ServerOptions, Service};
//!
//! struct Hostname;
//!
//! impl Service for Hostname {
//!     async fn call(&self, _peer: &Peer, call: Call) -> Result<Reply, RemoteError> {
//!         Ok(Reply::Remote(match call {
//!             Call::Remote(program::Call::ConnectOpen(_)) => program::Reply::ConnectOpen(()),
//!             Call::Remote(program::Call::ConnectGetHostname(())) => {
//!                 program::Reply::ConnectGetHostname(remote::ConnectGetHostnameRet {
//!                     hostname: "fake".into(),
//!                 })
//!             }
//!             other => return Err(unsupported(&other)),
//!         }))
//!     }
//! }
//!
//! # async fn demo() -> std::io::Result<()> {
//! // `virsh -c test+unix:///default?socket=/tmp/fake-sock hostname` prints "fake".
//! let listener = tokio::net::UnixListener::bind("/tmp/fake-sock")?;
//! Server::new(Hostname, ServerOptions::default()).serve_unix(listener).await
//! # }
//! ```

mod connection;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;

use crate::dispatch::{Call, Message, Reply};
use crate::engine::DEFAULT_MAX_CLIENT_REQUESTS;
use crate::error::RemoteError;
use crate::error_codes::{ErrorDomain, ErrorNumber};

/// What answers the calls: one value for the whole server, shared by
/// every connection.
pub trait Service: Send + Sync + 'static {
    /// Answers `call` from `peer`: a reply of the call's own procedure (a
    /// reply of another one is refused and the client gets
    /// `VIR_ERR_INTERNAL_ERROR`), or the error the client is to get.
    fn call(
        &self,
        peer: &Peer,
        call: Call,
    ) -> impl Future<Output = Result<Reply, RemoteError>> + Send;
}

/// libvirt's answer to a procedure a server does not implement: what
/// libvirtd's drivers say, `VIR_ERR_NO_SUPPORT`, naming the procedure.
pub fn unsupported(call: &Call) -> RemoteError {
    let (program, procedure) = call.procedure_number();
    let name = crate::dispatch::procedure_name(program, procedure).unwrap_or("this procedure");
    RemoteError::new(
        ErrorNumber::ERR_NO_SUPPORT,
        ErrorDomain::RPC,
        format!("this function is not supported by the connection driver: {name}"),
    )
}

/// How the server treats its clients.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerOptions {
    /// Calls a client may have unanswered; past that its connection is
    /// not read until one is answered (libvirtd's `max_client_requests`).
    pub max_requests: usize,
    /// Pings a silent client every interval and drops it after this many
    /// unanswered pings (libvirtd's `keepalive_interval` and
    /// `keepalive_count`); `None` only answers the client's pings.
    pub keepalive: Option<(Duration, u32)>,
    /// Events waiting for one client's connection before
    /// [`Peer::send_event`] waits for room.
    pub event_queue: usize,
}

impl Default for ServerOptions {
    /// libvirtd's defaults: 5 requests, keepalive every 5 s, 5 missed.
    fn default() -> Self {
        ServerOptions {
            max_requests: DEFAULT_MAX_CLIENT_REQUESTS,
            keepalive: Some((Duration::from_secs(5), 5)),
            event_queue: 64,
        }
    }
}

impl ServerOptions {
    /// See [`ServerOptions::max_requests`].
    pub fn with_max_requests(mut self, n: usize) -> Self {
        self.max_requests = n.max(1);
        self
    }

    /// See [`ServerOptions::keepalive`].
    pub fn with_keepalive(mut self, keepalive: impl Into<Option<(Duration, u32)>>) -> Self {
        self.keepalive = keepalive.into();
        self
    }

    /// See [`ServerOptions::event_queue`].
    pub fn with_event_queue(mut self, events: usize) -> Self {
        self.event_queue = events.max(1);
        self
    }
}

/// The client a call came from: cheap to clone and keep, to send it
/// events later.
#[derive(Debug, Clone)]
pub struct Peer {
    id: u64,
    events: mpsc::Sender<Message>,
}

/// The client's connection has ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerGone;

impl std::fmt::Display for PeerGone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the client's connection has ended")
    }
}

impl std::error::Error for PeerGone {}

impl Peer {
    /// This connection's number, unique within the process.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Sends an event to this client, waiting while
    /// [`ServerOptions::event_queue`] events wait to be written.
    pub async fn send_event(&self, event: Message) -> Result<(), PeerGone> {
        self.events.send(event).await.map_err(|_| PeerGone)
    }

    /// Whether the client's connection has ended.
    pub fn is_gone(&self) -> bool {
        self.events.is_closed()
    }
}

/// A server: a [`Service`] and the options its connections run with.
#[derive(Debug)]
pub struct Server<S> {
    service: Arc<S>,
    options: ServerOptions,
}

impl<S> Clone for Server<S> {
    fn clone(&self) -> Self {
        Server {
            service: self.service.clone(),
            options: self.options.clone(),
        }
    }
}

static NEXT_PEER: AtomicU64 = AtomicU64::new(1);

impl<S: Service> Server<S> {
    /// A server answering with `service`.
    pub fn new(service: S, options: ServerOptions) -> Self {
        Server {
            service: Arc::new(service),
            options,
        }
    }

    /// Accepts clients on `listener`, each on a task of its own, until
    /// accepting fails.
    pub async fn serve_unix(&self, listener: tokio::net::UnixListener) -> std::io::Result<()> {
        loop {
            let (stream, _) = listener.accept().await?;
            let server = self.clone();
            tokio::spawn(async move { server.serve_connection(stream).await });
        }
    }

    /// Serves one client on `io` until its connection ends.
    pub async fn serve_connection<T>(&self, io: T)
    where
        T: AsyncRead + AsyncWrite + Send + 'static,
    {
        let id = NEXT_PEER.fetch_add(1, Ordering::Relaxed);
        connection::run(self.service.clone(), &self.options, id, io).await;
    }
}

/// Why a reply cannot go to its call.
fn wrong_reply(call: (u32, i32), reply: &Reply) -> RemoteError {
    let name = |(p, n): (u32, i32)| crate::dispatch::procedure_name(p, n).unwrap_or("?");
    RemoteError::new(
        ErrorNumber::ERR_INTERNAL_ERROR,
        ErrorDomain::RPC,
        format!(
            "the server answered {} with a reply of {}",
            name(call),
            name(reply.procedure_number())
        ),
    )
}
