//! A libvirt RPC server on tokio (feature `server`): a task per
//! connection over the sans-IO
//! [`ServerEngine`](crate::engine::ServerEngine), answering calls with a
//! [`Service`] of your own. For a daemon that speaks libvirt's protocol,
//! or a fake `libvirtd` that tests a management program, `virsh` or the
//! C library without a hypervisor.
//!
//! A [`Service`] gets each call as the typed [`Call`] of any program; the
//! typed services instead have one method per procedure, each defaulting
//! to libvirt's "not supported": [`RemoteService`], [`QemuService`] and
//! [`LxcService`] served by [`Typed`], [`AdminService`] by [`TypedAdmin`].
//!
//! The server does what libvirtd's RPC layer does around the calls:
//! authentication ([`ServerOptions::auth`]: by default none, a server on
//! a Unix socket relying on the socket's permissions as libvirtd does
//! with `auth_unix_rw = "none"`; or SASL with a mechanism of yours such
//! as [`PlainSasl`], or polkit decided from the client's credentials;
//! calls before success are refused); keepalive (the client's pings answered, and
//! once the client asks whether the keepalive program is supported, the
//! server's own pings per [`ServerOptions::keepalive`], as libvirtd
//! does); the limit on unanswered calls per client (libvirtd's
//! `max_client_requests`: past it the connection is not read) and on
//! clients ([`ServerOptions::max_clients`]); `CONNECT_CLOSE`; and
//! libvirt's error for a call it cannot decode. Everything else,
//! `CONNECT_OPEN` and the other features included (a service that
//! registers event callbacks says yes to
//! `VIR_DRV_FEATURE_REMOTE_EVENT_CALLBACK`, 14, or clients fall back to
//! the older registrations; one that passes file descriptors says yes to
//! `VIR_DRV_FEATURE_FD_PASSING`, 8, which libvirt's client asks before it
//! calls a procedure that passes them), is the service's. Each call runs as a task
//! of its own, so a slow call holds up the client's others only once
//! `max_requests` are unanswered; a panic in one is answered with
//! `VIR_ERR_INTERNAL_ERROR`, and the calls still running when the client
//! goes are cancelled. Events go out through [`Peer::send_event`].
//!
//! Memory per client is bounded: one read's worth of input (64 KiB) and
//! the frame being assembled, at most `max_requests` calls and as many
//! streams (more are refused), [`STREAM_QUEUE`] packets each way per
//! stream and at most [`STREAM_BUFFER`] bytes of the client's data (a
//! full queue from the client stops the reading until the service takes
//! some, which holds up the client's other calls and streams on that
//! connection too, so a service must not wait for one stream's data
//! before it reads another stream of the same client),
//! and output past [`OUTPUT_THROTTLE`] stops the reading and parsing of
//! calls and the taking of events and stream packets until the client
//! reads.
//!
//! Byte streams (screenshots, volume transfers) go through
//! [`Service::call_stream`] and a [`ServerStream`], bounded both ways,
//! with holes on sparse volume transfers.
//!
//! Clients come over a Unix socket ([`Server::serve_unix`]), TCP
//! ([`Server::serve_tcp`]), TLS (`Server::serve_tls`, feature
//! `server-tls`: libvirtd's certificate files and checks, see
//! `ServerTls`) or any `AsyncRead + AsyncWrite` ([`Server::serve_connection`]).
//!
//! File descriptors pass with the calls and replies of the procedures
//! that take or give them (`DOMAIN_CREATE_XML_WITH_FILES`,
//! `DOMAIN_OPEN_GRAPHICS_FD`, ...) on a Unix socket: see
//! [`Service::call_fds`]; the typed services' methods of those procedures
//! take and return them.
//!
//! [`OUTPUT_THROTTLE`]: crate::engine::OUTPUT_THROTTLE
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

mod auth;
mod connection;
mod stream;
#[cfg(feature = "server-tls")]
mod tls;
mod transport;
mod typed;

use transport::Transport;

use std::future::Future;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use crate::dispatch::{Call, Message, Reply};
pub use crate::engine::ClientStreamEvent;
use crate::engine::DEFAULT_MAX_CLIENT_REQUESTS;
use crate::error::RemoteError;
use crate::error_codes::{ErrorDomain, ErrorNumber};
use crate::frame::{HEADER_LEN, MAX_MESSAGE};
pub use stream::{
    HoleError, ServerStream, StreamClosed, STREAM_BUFFER, STREAM_PACKET, STREAM_QUEUE,
};
pub use typed::{AdminService, LxcService, QemuService, RemoteService, Typed, TypedAdmin};

pub use crate::engine::auth::{SaslServer, SaslServerStep};
#[cfg(feature = "server-tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "server-tls")))]
pub use crate::pki::{CertificateProblem, PkiFile, PriorityError};
pub use auth::{Authentication, NewSaslServer, PlainSasl};
#[cfg(feature = "server-tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "server-tls")))]
pub use tls::{ServerTls, ServerTlsError, DEFAULT_HANDSHAKE_TIMEOUT};

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

    /// Answers `call`, which came with the file descriptors `fds`, as
    /// [`Service::call`] does, with the descriptors to pass back with the
    /// reply: for the procedures that pass descriptors, which the `.x`
    /// files do not mark (`DOMAIN_CREATE_XML_WITH_FILES`,
    /// `DOMAIN_CREATE_WITH_FILES`, `DOMAIN_FD_ASSOCIATE` and
    /// `DOMAIN_OPEN_GRAPHICS` take them, `DOMAIN_OPEN_GRAPHICS_FD` and
    /// `LXC_DOMAIN_OPEN_NAMESPACE` give them,
    /// `QEMU_DOMAIN_MONITOR_COMMAND_WITH_FILES` both; libvirt's client
    /// calls them only once `CONNECT_SUPPORTS_FEATURE` has said yes to
    /// `VIR_DRV_FEATURE_FD_PASSING`, 8). Every call but a
    /// stream procedure's comes here; without this method, the
    /// descriptors are closed and [`Service::call`] answers (libvirtd
    /// too closes those of a procedure that takes none). A service that
    /// wraps another forwards this method as well as `call`, or the
    /// descriptors both ways are lost.
    ///
    /// Descriptors pass only on a Unix socket: elsewhere a call brings
    /// none, and a reply with some is not sent (the client gets
    /// `VIR_ERR_OPERATION_UNSUPPORTED` instead, and the descriptors are
    /// closed). At most [`MAX_FDS`](crate::frame::MAX_FDS) go with one
    /// reply; more answer the call with an error.
    fn call_fds(
        &self,
        peer: &Peer,
        call: Call,
        fds: Vec<OwnedFd>,
    ) -> impl Future<Output = Result<(Reply, Vec<OwnedFd>), RemoteError>> + Send {
        drop(fds);
        async move { Ok((self.call(peer, call).await?, Vec::new())) }
    }

    /// Answers `call` of a procedure that opens a byte stream
    /// (`@readstream` / `@writestream`, such as `DOMAIN_SCREENSHOT` or
    /// `STORAGE_VOL_UPLOAD`) as [`Service::call`] does, and moves its data
    /// with `stream` once the reply is out (or hands `stream` to a task
    /// that does). An error answers the call and the stream never opens.
    /// Without this method, such calls get [`unsupported`].
    fn call_stream(
        &self,
        peer: &Peer,
        call: Call,
        stream: ServerStream,
    ) -> impl Future<Output = Result<Reply, RemoteError>> + Send {
        let _ = (peer, stream);
        let refused = unsupported(&call);
        async move { Err(refused) }
    }
}

/// libvirt's answer to a procedure a server does not implement: what
/// libvirtd's drivers say, `VIR_ERR_NO_SUPPORT`, naming the procedure.
pub fn unsupported(call: &Call) -> RemoteError {
    let (program, procedure) = call.procedure_number();
    unsupported_procedure(program, procedure)
}

/// [`unsupported`] by the numbers of the program and procedure (as the
/// call's header carries them): what the typed services' methods answer
/// unless implemented.
pub fn unsupported_procedure(program: u32, procedure: i32) -> RemoteError {
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
    /// Calls a client may have unanswered (at least 1); past that its
    /// connection is not read until one is answered (libvirtd's
    /// `max_client_requests`).
    pub max_requests: usize,
    /// Clients served at once (at least 1); more wait to be accepted
    /// (libvirtd's `max_clients`).
    pub max_clients: usize,
    /// Clients of a listener that have not authenticated yet (at least 1;
    /// a TLS client counts from its handshake on); while that many wait, no
    /// more are accepted, so clients that never authenticate cannot take
    /// every place (libvirtd's `max_anonymous_clients`). Without
    /// [`ServerOptions::auth`], clients are authenticated from the start
    /// and none counts.
    pub max_anonymous_clients: usize,
    /// Pings a silent client every interval and drops it after this many
    /// unanswered pings (libvirtd's `keepalive_interval` and
    /// `keepalive_count`), once the client has asked whether the
    /// keepalive program is supported; `None` only answers the client's
    /// pings. With it on, a client that takes none of the output waiting
    /// for it for interval × (count + 1) (it cannot be reading the pings)
    /// is dropped too; without it, such a client is kept until it reads
    /// or goes.
    pub keepalive: Option<(Duration, u32)>,
    /// Events waiting for one client (at least 1) before
    /// [`Peer::send_event`] waits for room; events also wait while the
    /// client's output is past [`OUTPUT_THROTTLE`](crate::engine::OUTPUT_THROTTLE).
    pub event_queue: usize,
    /// How clients authenticate (libvirtd's `auth_unix_rw`, `auth_tcp`,
    /// `auth_tls`); until they have, only the authentication calls are
    /// answered, the others refused with libvirtd's `VIR_ERR_RPC`
    /// "authentication required", and an exchange that fails ends the
    /// connection.
    pub auth: Authentication,
}

impl Default for ServerOptions {
    /// libvirtd's defaults: 5 requests per client, 5000 clients (20 not
    /// yet authenticated),
    /// keepalive every 5 s with 5 missed; 64 events; no authentication
    /// (the socket's permissions decide).
    fn default() -> Self {
        ServerOptions {
            max_requests: DEFAULT_MAX_CLIENT_REQUESTS,
            max_clients: 5000,
            max_anonymous_clients: 20,
            keepalive: Some((Duration::from_secs(5), 5)),
            event_queue: 64,
            auth: Authentication::None,
        }
    }
}

impl ServerOptions {
    /// See [`ServerOptions::max_requests`].
    pub fn with_max_requests(mut self, n: usize) -> Self {
        self.max_requests = n;
        self
    }

    /// See [`ServerOptions::max_clients`].
    pub fn with_max_clients(mut self, n: usize) -> Self {
        self.max_clients = n;
        self
    }

    /// See [`ServerOptions::max_anonymous_clients`].
    pub fn with_max_anonymous_clients(mut self, n: usize) -> Self {
        self.max_anonymous_clients = n;
        self
    }

    /// See [`ServerOptions::keepalive`].
    pub fn with_keepalive(mut self, keepalive: impl Into<Option<(Duration, u32)>>) -> Self {
        self.keepalive = keepalive.into();
        self
    }

    /// See [`ServerOptions::event_queue`].
    pub fn with_event_queue(mut self, events: usize) -> Self {
        self.event_queue = events;
        self
    }

    /// See [`ServerOptions::auth`].
    pub fn with_auth(mut self, auth: Authentication) -> Self {
        self.auth = auth;
        self
    }
}

/// The client a call came from: cheap to clone and keep, to send it
/// events later.
#[derive(Debug, Clone)]
pub struct Peer {
    info: PeerInfo,
    events: mpsc::Sender<Message>,
    /// The name the client authenticated as, once it has.
    identity: Arc<OnceLock<String>>,
}

/// Why an event was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventError {
    /// The client's connection has ended.
    Gone,
    /// [`ServerOptions::event_queue`] events wait already
    /// ([`Peer::try_send_event`]).
    Full,
    /// The event is larger than a message may be
    /// ([`MAX_MESSAGE`]).
    TooLarge,
    /// The event breaks a bound of the protocol (a string or array longer
    /// than its `.x` limit).
    Invalid,
}

impl std::fmt::Display for EventError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            EventError::Gone => "the client's connection has ended",
            EventError::Full => "the client's event queue is full",
            EventError::TooLarge => "the event is larger than a message may be",
            EventError::Invalid => "the event breaks a bound of the protocol",
        })
    }
}

impl std::error::Error for EventError {}

impl Peer {
    /// This connection's number, unique within the process.
    pub fn id(&self) -> u64 {
        self.info.id
    }

    /// The client's user, group and process, for a client of
    /// [`Server::serve_unix`]; `None` for the others.
    pub fn credentials(&self) -> Option<Credentials> {
        self.info.credentials
    }

    /// The client's address, for a client of [`Server::serve_tcp`] or
    /// `Server::serve_tls`.
    pub fn address(&self) -> Option<std::net::SocketAddr> {
        self.info.address
    }

    /// Whether the transport keeps the traffic from others, as libvirtd
    /// judges it: a client of [`Server::serve_unix`] or `Server::serve_tls`
    /// is, one of [`Server::serve_tcp`] is not, and one of
    /// [`Server::serve_connection`] is taken to be (the stream is the
    /// caller's to judge).
    pub fn is_secure(&self) -> bool {
        self.info.secure
    }

    /// The distinguished name of the certificate a client of
    /// `Server::serve_tls` presented, as `virt-pki-query-dn` prints it
    /// (`C=GB,O=Example,CN=client`): what libvirtd knows the client by.
    /// Given only for a certificate that passed every check (also when
    /// the server does not require them); `None` without TLS, without a
    /// certificate, or for one that did not pass.
    pub fn certificate_dn(&self) -> Option<&str> {
        self.info.certificate_dn.as_deref()
    }

    /// The name the client authenticated as with SASL
    /// ([`Authentication::Sasl`], [`SaslServer::identity`]); `None` before
    /// that, and without SASL.
    pub fn identity(&self) -> Option<&str> {
        self.identity.get().map(String::as_str)
    }

    /// Sends an event to this client, waiting while
    /// [`ServerOptions::event_queue`] events wait for it (a client that
    /// does not read holds this up until keepalive drops it: a service
    /// that sends to many clients in turn may prefer
    /// [`Peer::try_send_event`]). An event still queued when the
    /// connection ends is lost.
    pub async fn send_event(&self, event: Message) -> Result<(), EventError> {
        check_event(&event)?;
        self.events.send(event).await.map_err(|_| EventError::Gone)
    }

    /// Sends an event if there is room for it now.
    pub fn try_send_event(&self, event: Message) -> Result<(), EventError> {
        check_event(&event)?;
        self.events.try_send(event).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => EventError::Full,
            mpsc::error::TrySendError::Closed(_) => EventError::Gone,
        })
    }

    /// Whether the client's connection has ended.
    pub fn is_gone(&self) -> bool {
        self.events.is_closed()
    }

    /// Waits until the client's connection has ended: when to forget
    /// what was registered for it (libvirtd drops a client's event
    /// callbacks then).
    pub async fn gone(&self) {
        self.events.closed().await;
    }
}

/// Whether `event` can go on the wire: refused here, with a reason,
/// rather than dropped by the connection.
fn check_event(event: &Message) -> Result<(), EventError> {
    use xdrgen::rt::Encode;
    if event.encoded_len() > MAX_MESSAGE - HEADER_LEN - 4 {
        return Err(EventError::TooLarge);
    }
    // Bounds are checked by encoding; events are small and rare enough
    // for the connection to encode them again.
    xdrgen::rt::to_bytes(event).map_err(|_| EventError::Invalid)?;
    Ok(())
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

/// How long accepting pauses after the system refused a connection for
/// want of resources (descriptors, memory).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

impl<S: Service> Server<S> {
    /// A server answering with `service`.
    pub fn new(service: S, options: ServerOptions) -> Self {
        Server {
            service: Arc::new(service),
            options,
        }
    }

    /// Accepts clients on `listener`, each on a task of its own, at most
    /// [`ServerOptions::max_clients`] at once, of which at most
    /// [`ServerOptions::max_anonymous_clients`] not yet authenticated. A refusal for want of
    /// resources (no descriptor left, a connection aborted before it was
    /// taken) pauses accepting briefly; any other error of `accept` ends
    /// this and is returned, while the clients already served go on.
    pub async fn serve_unix(&self, listener: tokio::net::UnixListener) -> std::io::Result<()> {
        self.serve_unix_until(listener, std::future::pending())
            .await
    }

    /// As [`Server::serve_unix`], until `shutdown` resolves: then no more
    /// clients are accepted (the listener is closed) and this returns
    /// `Ok`, while the clients already served go on until they end.
    pub async fn serve_unix_until(
        &self,
        listener: tokio::net::UnixListener,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        self.listen(Listener::Unix(listener), shutdown).await
    }

    /// As [`Server::serve_unix`], over plain TCP (libvirtd's `listen_tcp`,
    /// port 16509), each client's address in [`Peer::address`]. Nothing
    /// protects the traffic: libvirtd requires SASL there
    /// (`auth_tcp = "sasl"`) with a security layer, so a SASL exchange
    /// that ends without one fails here too ([`Authentication::Sasl`];
    /// PLAIN has none). Without authentication, keep it to trusted
    /// networks or use [`Server::serve_tls`](Server) (feature
    /// `server-tls`).
    pub async fn serve_tcp(&self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        self.serve_tcp_until(listener, std::future::pending()).await
    }

    /// As [`Server::serve_tcp`], until `shutdown` resolves (see
    /// [`Server::serve_unix_until`]).
    pub async fn serve_tcp_until(
        &self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        self.listen(Listener::Tcp(listener), shutdown).await
    }

    /// As [`Server::serve_tcp`], over TLS (libvirtd's `listen_tls`, port
    /// 16514): each client completes a handshake and passes the checks
    /// [`ServerTls`] describes before it is served (until then, when
    /// [`ServerOptions::auth`] asks for authentication, it holds one of
    /// the [`ServerOptions::max_anonymous_clients`] places), and
    /// its certificate's name is in [`Peer::certificate_dn`].
    ///
    /// ```no_run
    /// # use libvirt_proto::server::{Server, ServerOptions, ServerTls, Service};
    /// # async fn demo(service: impl Service) -> Result<(), Box<dyn std::error::Error>> {
    /// // cacert.pem, servercert.pem and serverkey.pem, as libvirtd's pkipath.
    /// let tls = ServerTls::from_dir("/etc/fake-daemon/pki")?
    ///     .with_allowed_dn_list(["O=Example,CN=*"]);
    /// let listener = tokio::net::TcpListener::bind("0.0.0.0:16514").await?;
    /// Server::new(service, ServerOptions::default())
    ///     .serve_tls(listener, tls)
    ///     .await?;
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "server-tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "server-tls")))]
    pub async fn serve_tls(
        &self,
        listener: tokio::net::TcpListener,
        tls: ServerTls,
    ) -> std::io::Result<()> {
        self.serve_tls_until(listener, tls, std::future::pending())
            .await
    }

    /// As [`Server::serve_tls`], until `shutdown` resolves (see
    /// [`Server::serve_unix_until`]).
    #[cfg(feature = "server-tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "server-tls")))]
    pub async fn serve_tls_until(
        &self,
        listener: tokio::net::TcpListener,
        tls: ServerTls,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        self.listen(Listener::Tls(listener, tls), shutdown).await
    }

    async fn listen(
        &self,
        listener: Listener,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        tokio::select! {
            biased;
            () = shutdown => Ok(()),
            end = self.accept_loop(&listener) => end,
        }
    }

    async fn accept_loop(&self, listener: &Listener) -> std::io::Result<()> {
        let slots = Arc::new(Semaphore::new(self.options.max_clients.max(1)));
        let anonymous = Arc::new(Semaphore::new(self.options.max_anonymous_clients.max(1)));
        loop {
            // Never closed, so never an error.
            let Ok(slot) = slots.clone().acquire_owned().await else {
                return Ok(());
            };
            // As libvirtd, clients count as not yet authenticated only when
            // there is something to authenticate: without, a TLS client's
            // handshake holds a client's place only.
            let unauthenticated = match self.options.auth {
                Authentication::None => None,
                _ => match anonymous.clone().acquire_owned().await {
                    Ok(permit) => Some(permit),
                    Err(_) => return Ok(()),
                },
            };
            let accepted = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) if is_transient(&e) => {
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let server = self.clone();
            let mut info = PeerInfo::next();
            match accepted {
                Accepted::Unix(stream) => {
                    info.credentials = stream.peer_cred().ok().map(|c| Credentials {
                        uid: c.uid(),
                        gid: c.gid(),
                        pid: c.pid(),
                    });
                    info.secure = true;
                    tokio::spawn(async move {
                        // Only when the reactor cannot take the socket.
                        if let Ok(transport) = Transport::unix(stream) {
                            server.serve(transport, info, unauthenticated).await;
                        }
                        drop(slot);
                    });
                }
                Accepted::Tcp(stream, address) => {
                    // Replies are written whole: nothing gains from waiting.
                    let _ = stream.set_nodelay(true);
                    info.address = Some(address);
                    #[cfg(feature = "server-tls")]
                    if let Listener::Tls(_, tls) = listener {
                        let tls = tls.clone();
                        tokio::spawn(async move {
                            if let Some((stream, dn)) = tls.accept(stream).await {
                                info.certificate_dn = dn.map(Arc::from);
                                info.secure = true;
                                let transport = Transport::bytes(stream);
                                server.serve(transport, info, unauthenticated).await;
                            }
                            drop(slot);
                        });
                        continue;
                    }
                    tokio::spawn(async move {
                        let transport = Transport::bytes(stream);
                        server.serve(transport, info, unauthenticated).await;
                        drop(slot);
                    });
                }
            }
        }
    }

    /// Serves one client on `io` until its connection ends (its
    /// [`Peer::credentials`] and [`Peer::address`] are unknown; it counts
    /// as [secure](Peer::is_secure)). File descriptors do not pass on it,
    /// whatever it is: serve a Unix socket with [`Server::serve_unix`] for
    /// them.
    pub async fn serve_connection<T>(&self, io: T)
    where
        T: AsyncRead + AsyncWrite + Send + 'static,
    {
        let info = PeerInfo {
            secure: true,
            ..PeerInfo::next()
        };
        self.serve(Transport::bytes(io), info, None).await;
    }

    /// Serves a client; `unauthenticated` is its place among those not yet
    /// authenticated, given back once it has.
    async fn serve(
        &self,
        transport: Transport,
        info: PeerInfo,
        unauthenticated: Option<OwnedSemaphorePermit>,
    ) {
        let service = self.service.clone();
        connection::run(service, &self.options, info, transport, unauthenticated).await;
    }
}

/// A socket clients connect to.
enum Listener {
    Unix(tokio::net::UnixListener),
    Tcp(tokio::net::TcpListener),
    #[cfg(feature = "server-tls")]
    Tls(tokio::net::TcpListener, ServerTls),
}

/// A client's connection, as accepted.
enum Accepted {
    Unix(tokio::net::UnixStream),
    Tcp(tokio::net::TcpStream, std::net::SocketAddr),
}

impl Listener {
    async fn accept(&self) -> std::io::Result<Accepted> {
        match self {
            Listener::Unix(l) => l.accept().await.map(|(s, _)| Accepted::Unix(s)),
            Listener::Tcp(l) => l.accept().await.map(|(s, a)| Accepted::Tcp(s, a)),
            #[cfg(feature = "server-tls")]
            Listener::Tls(l, _) => l.accept().await.map(|(s, a)| Accepted::Tcp(s, a)),
        }
    }
}

/// Who is at the other end of a Unix socket, as the kernel says
/// (`SO_PEERCRED`): what libvirtd's access checks start from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credentials {
    /// The client's user.
    pub uid: u32,
    /// The client's group.
    pub gid: u32,
    /// The client's process, where the system says.
    pub pid: Option<i32>,
}

/// What a connection knows of its client before any call.
#[derive(Debug, Clone, Default)]
struct PeerInfo {
    id: u64,
    credentials: Option<Credentials>,
    address: Option<std::net::SocketAddr>,
    certificate_dn: Option<Arc<str>>,
    /// Whether the transport protects the traffic.
    secure: bool,
}

impl PeerInfo {
    /// A new connection's, numbered.
    fn next() -> PeerInfo {
        PeerInfo {
            id: NEXT_PEER.fetch_add(1, Ordering::Relaxed),
            ..PeerInfo::default()
        }
    }
}

/// Whether `accept` failed for want of resources that may come back.
fn is_transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        e.kind(),
        ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::OutOfMemory
    ) || matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
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
