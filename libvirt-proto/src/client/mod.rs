//! An async client on tokio (feature `client`): a driver task over the
//! sans-IO [`ClientEngine`](crate::engine::ClientEngine).
//!
//! One task owns the transport and the engine; callers talk to it through
//! a channel and each call waits on its own reply, so a slow event consumer
//! never holds up replies. [`Client`] is cheap to clone and every clone
//! shares the connection.
//!
//! - Objects: lookups and lists return handles ([`Domain`],
//!   [`StoragePool`], ...) whose methods are the object's procedures
//!   (`dom.get_info()`, `pool.list_all_volumes(flags)`); flag arguments
//!   take the C API's flag sets from [`crate::api`].
//! - Calls: a generated method per procedure on [`Client`]
//!   (`client.domain_get_info(&dom)`), and, as the escape hatch for any
//!   procedure with its wire types, [`Client::call`] typed by the
//!   procedure's marker type. Dropping a call's future, or
//!   [`Client::call_with_timeout`] running out, gives the call up cleanly:
//!   its reply is discarded when it comes.
//! - Events: [`Client::domain_events`] and its siblings register for one
//!   kind and yield typed events ([`DomainEvent::Lifecycle`] with the
//!   domain's handle and the C API's enums, ...); the raw messages come
//!   from [`Client::register_domain_event`] and its siblings, or
//!   [`Client::events`] for every event, as bounded [`EventStream`]s that
//!   count what a slow consumer lost.
//! - Byte streams: [`Client::call_stream`] opens a [`ByteStream`]
//!   (`AsyncRead` + `AsyncWrite`) for screenshots, volume transfers,
//!   consoles and channels.
//! - The admin program: [`AdminClient`].
//! - A connection that opens itself again when it is lost, and event
//!   subscriptions that follow it: [`Reconnecting`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), libvirt_proto::client::ClientError> {
//! use libvirt_proto::api::{ConnectListAllDomainsFlags, DomainState};
//! use libvirt_proto::client::Client;
//! use libvirt_proto::remote::program::procs::ConnectGetLibVersion;
//!
//! let client = Client::connect("qemu:///system").await?;
//! for dom in client.list_all_domains(ConnectListAllDomainsFlags::ACTIVE).await? {
//!     // A `DomainInfo`: the reply with the C API's types.
//!     let info = dom.get_info().await?;
//!     if info.state == DomainState::PAUSED {
//!         println!("{} is paused", dom.name);
//!     }
//! }
//! let dom = client.domain_lookup_by_name("demo").await?;
//! dom.suspend().await?;
//!
//! // Any procedure by its marker type, with the wire types.
//! let version = client.call::<ConnectGetLibVersion>(&()).await?;
//! println!("libvirt {}", version.lib_ver);
//! client.close().await;
//! # Ok(()) }
//! ```

mod admin;
pub mod auth_conf;
mod command;
mod driver;
mod error;
mod event_family;
mod events;
mod file;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
#[cfg(feature = "gssapi")]
mod gssapi;
mod handles;
mod outbox;
mod reconnect;
mod sasl;
mod stream;
mod tls;
mod trace;
mod transport;
mod typed_events;

use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use xdrgen::rt::{self, Codec, RemoteProcedure};

/// The typed results (and events) of the remote program's methods.
pub use crate::generated::remote_client::*;
pub use crate::pki::{CertificateProblem, PkiFile, PriorityError};
pub use admin::AdminClient;
pub use auth_conf::AuthFile;
pub use error::ClientError;
pub use event_family::EventFamily;
pub use events::EventStream;
pub use file::FileTransferError;
pub use handles::{
    Domain, DomainCheckpoint, DomainSnapshot, Interface, Network, NetworkPort, NodeDevice,
    NwFilter, NwFilterBinding, Secret, StoragePool, StorageVol,
};
pub use reconnect::{
    Backoff, ConnectionState, Reconnecting, Resubscribing, Resumed, StateWatch, MIN_BACKOFF_DELAY,
};
pub use sasl::{CredentialRequest, Credentials, SaslCredentials, MAX_SCRAM_ITERATIONS};
pub use stream::{ByteStream, Chunk, STREAM_PACKET, STREAM_RECV_BUFFER, STREAM_SEND_WINDOW};
pub use tls::{ClientCertificate, TlsError};
pub use typed_events::{
    DomainEvent, Event, Events, NetworkEvent, NodeDeviceEvent, QemuMonitorEvent, SecretEvent,
    StoragePoolEvent,
};

use crate::client_config::{self, ConfigEnv, ConfigSource, Program, RemoteDefaults};
use crate::engine::auth::AuthMethod;
use crate::engine::keepalive::{DEFAULT_COUNT, DEFAULT_INTERVAL};
use crate::engine::open::{Opener, CONNECT_RO};
use crate::socket::{probe_socket, Environment};
use crate::uri::ConnectUri;
use command::{CallRequest, Command, Commands, Reply, StreamInbox, Subscriber};
use driver::Connection;

/// How many events wait for a slow consumer before new ones are dropped.
pub const EVENT_BUFFER: usize = 1024;

/// How many bytes of events (as they came on the wire) wait for a slow
/// consumer before new ones are dropped, whatever [`EVENT_BUFFER`] allows:
/// one event may be megabytes. An event larger than this still gets
/// through to a consumer that has taken everything before it.
pub const EVENT_BUFFER_BYTES: usize = 16 << 20;

/// How a connection is made: [`Default`], then the `with_*` setters.
///
/// The struct is `#[non_exhaustive]`, so options can be added without
/// breaking anyone: outside this crate it is built from
/// [`ConnectOptions::default()`] (or [`ConnectOptions::read_only()`]) and
/// the setters, never with a struct literal. The fields stay public to be
/// read (and set, on a value one has).
///
/// ```
/// use std::time::Duration;
/// use libvirt_proto::client::ConnectOptions;
///
/// let options = ConnectOptions::default()
///     .with_read_only(true)
///     .with_call_timeout(Duration::from_secs(10))
///     .with_keepalive(None);
/// assert!(options.read_only);
/// assert_eq!(options.call_timeout, Some(Duration::from_secs(10)));
/// assert_eq!(options.keepalive, None);
/// # async fn demo(options: ConnectOptions) -> Result<(), libvirt_proto::client::ClientError> {
/// let client = libvirt_proto::client::Client::connect_with("qemu:///system", options).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConnectOptions {
    /// Open read-only (`VIR_CONNECT_RO`, and the `-ro` socket).
    pub read_only: bool,
    /// Keepalive (interval, count); `None` turns it off. libvirt's default
    /// is 5 s and 5 missed answers.
    pub keepalive: Option<(Duration, u32)>,
    /// The timeout of every call made with [`Client::call`]; `None` (the
    /// default, as in libvirt) waits as long as the connection lives.
    pub call_timeout: Option<Duration>,
    /// How long to wait for the transport and the opening handshake.
    pub connect_timeout: Duration,
    /// Events buffered per [`EventStream`] before new ones are dropped
    /// (and at most [`EVENT_BUFFER_BYTES`] of them).
    pub event_buffer: usize,
    /// Calls sent before their replies come; later calls wait in the
    /// client. The default, [`DEFAULT_MAX_IN_FLIGHT`] (4), is one fewer
    /// than libvirtd's `max_client_requests` (5), so the daemon always has
    /// room to read keepalive and stream messages; raise it together with
    /// the daemon's setting.
    ///
    /// [`DEFAULT_MAX_IN_FLIGHT`]: crate::engine::DEFAULT_MAX_IN_FLIGHT
    pub max_in_flight: usize,
    /// Authentication methods accepted, in order of preference (the URI's
    /// `auth=` replaces them). SASL with SCRAM-SHA-256, or PLAIN over a
    /// secure transport, needs credentials: from `auth_file` or
    /// `credentials`; GSSAPI (the `gssapi` feature) uses the user's
    /// Kerberos tickets instead.
    pub auth: Vec<AuthMethod>,
    /// Gives SASL credentials for what the auth file lacks.
    pub credentials: Option<Arc<dyn Credentials>>,
    /// The auth file read for SASL credentials: libvirt's by default.
    pub auth_file: AuthFile,
    /// The configuration file with `uri_default` and `uri_aliases`:
    /// libvirt's for this user by default (see [`crate::client_config`]).
    pub config: ConfigSource,
    /// Whether a name is looked up in `uri_aliases` (libvirt's
    /// `VIR_CONNECT_NO_ALIASES` turns this off).
    pub aliases: bool,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            read_only: false,
            keepalive: Some((DEFAULT_INTERVAL, DEFAULT_COUNT)),
            call_timeout: None,
            connect_timeout: Duration::from_secs(30),
            event_buffer: EVENT_BUFFER,
            max_in_flight: crate::engine::DEFAULT_MAX_IN_FLIGHT,
            auth: vec![AuthMethod::None, AuthMethod::Polkit, AuthMethod::Sasl],
            credentials: None,
            auth_file: AuthFile::Search,
            config: ConfigSource::User,
            aliases: true,
        }
    }
}

impl ConnectOptions {
    /// The defaults, read-only.
    pub fn read_only() -> Self {
        Self::default().with_read_only(true)
    }

    /// Opens read-only, or not ([`ConnectOptions::read_only`]).
    #[must_use]
    pub fn with_read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// Keepalive every `interval`, the peer declared dead after `count`
    /// missed answers: `Some((interval, count))`; `None` turns it off.
    #[must_use]
    pub fn with_keepalive(mut self, keepalive: impl Into<Option<(Duration, u32)>>) -> Self {
        self.keepalive = keepalive.into();
        self
    }

    /// The timeout of every call made with [`Client::call`] (a
    /// `Duration`), or `None` for none.
    #[must_use]
    pub fn with_call_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.call_timeout = timeout.into();
        self
    }

    /// How long the transport and the opening handshake may take.
    #[must_use]
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Events buffered per [`EventStream`] before new ones are dropped.
    #[must_use]
    pub fn with_event_buffer(mut self, events: usize) -> Self {
        self.event_buffer = events;
        self
    }

    /// Calls sent before their replies come (see
    /// [`ConnectOptions::max_in_flight`]).
    #[must_use]
    pub fn with_max_in_flight(mut self, calls: usize) -> Self {
        self.max_in_flight = calls;
        self
    }

    /// The authentication methods accepted, in order of preference.
    #[must_use]
    pub fn with_auth(mut self, methods: impl IntoIterator<Item = AuthMethod>) -> Self {
        self.auth = methods.into_iter().collect();
        self
    }

    /// Where SASL credentials the auth file lacks come from.
    #[must_use]
    pub fn with_credentials(mut self, credentials: Arc<dyn Credentials>) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// The auth file read for SASL credentials.
    #[must_use]
    pub fn with_auth_file(mut self, auth_file: AuthFile) -> Self {
        self.auth_file = auth_file;
        self
    }

    /// Sets [`config`](Self::config).
    pub fn with_config(mut self, config: ConfigSource) -> Self {
        self.config = config;
        self
    }

    /// Sets [`aliases`](Self::aliases).
    pub fn with_aliases(mut self, aliases: bool) -> Self {
        self.aliases = aliases;
        self
    }
}

/// What a connection named `name` opens (see [`Client::connect`]): the
/// URI (empty when probing), parsed, and `libvirt.conf`'s defaults for
/// what it leaves out.
fn target(
    name: &str,
    options: &ConnectOptions,
) -> Result<(String, ConnectUri, RemoteDefaults), ClientError> {
    let env = ConfigEnv::current(Program::Remote);
    let conf = client_config::load(&options.config, Program::Remote, &env)?;
    let conf = conf.as_ref();
    match client_config::resolve(name, Program::Remote, &env, conf, options.aliases)? {
        Some(uri) => {
            let parsed = ConnectUri::parse(&uri)?;
            let defaults = RemoteDefaults::read(conf, &parsed)?;
            Ok((uri, parsed, defaults))
        }
        None => {
            // The mode decides which socket is probed, which the URI then
            // names.
            let defaults = RemoteDefaults::read(conf, &ConnectUri::probing(String::new()))?;
            let env = Environment {
                remote_mode: defaults.mode,
                ..Environment::probing(options.read_only)
            };
            let parsed = ConnectUri::probing(probe_socket(options.read_only, &env)?);
            Ok((String::new(), parsed, defaults))
        }
    }
}

/// `timeout` from now; for a timeout too long to add, a time that never
/// comes.
fn deadline_in(timeout: Duration) -> tokio::time::Instant {
    let now = tokio::time::Instant::now();
    now.checked_add(timeout)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 86400))
}

/// Runs `f` (which reads configuration files or looks at sockets) on a
/// blocking thread, given up at `deadline`: a file system that hangs
/// (a home directory on a dead NFS server) stalls neither the runtime nor
/// the connecting past its timeout. (The thread stays blocked until the
/// file system answers: the runtime's blocking pool is what bounds them.)
async fn off_runtime<T: Send + 'static>(
    deadline: tokio::time::Instant,
    timeout: Duration,
    f: impl FnOnce() -> Result<T, ClientError> + Send + 'static,
) -> Result<T, ClientError> {
    match tokio::time::timeout_at(deadline, tokio::task::spawn_blocking(f)).await {
        Ok(Ok(done)) => done,
        Ok(Err(e)) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // Cancelled: the runtime is shutting down.
        Ok(Err(_)) | Err(_) => Err(ClientError::Timeout(timeout)),
    }
}

/// A connection to a libvirt daemon.
#[derive(Debug, Clone)]
pub struct Client {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    commands: Commands,
    /// See [`Connection::drained`].
    drained: Arc<tokio::sync::Notify>,
    /// See [`Connection::ended`].
    ended: Arc<OnceLock<ClientError>>,
    /// See [`Connection::pool`].
    pool: crate::frame::BodyPool,
    next_tag: AtomicU64,
    options: ConnectOptions,
    /// See [`Client::uri`]; set once the connection is open.
    uri: OnceLock<String>,
    /// What opens this connection's daemon again: the URI once resolved,
    /// empty when the local daemon was probed for.
    reopen: OnceLock<String>,
}

impl Client {
    /// Connects to the daemon serving `uri` and opens it read-write.
    ///
    /// `uri` is read as libvirt's `virConnectOpen` reads its name (see
    /// [`crate::client_config`]): an alias of `libvirt.conf`'s
    /// `uri_aliases` stands for its URI, and the empty string asks for the
    /// default (`LIBVIRT_DEFAULT_URI`, then `uri_default`), or without one
    /// for the first local daemon found, which then picks its driver.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), libvirt_proto::client::ClientError> {
    /// use libvirt_proto::client::Client;
    ///
    /// // What `virsh` without `-c` opens.
    /// let client = Client::connect("").await?;
    /// println!("connected to {}", client.connect_get_uri().await?);
    /// # Ok(()) }
    /// ```
    pub async fn connect(uri: &str) -> Result<Client, ClientError> {
        Self::connect_with(uri, ConnectOptions::default()).await
    }

    /// Connects and opens read-only (`VIR_CONNECT_RO`).
    pub async fn connect_read_only(uri: &str) -> Result<Client, ClientError> {
        Self::connect_with(uri, ConnectOptions::read_only()).await
    }

    /// Connects with explicit options.
    pub async fn connect_with(uri: &str, options: ConnectOptions) -> Result<Client, ClientError> {
        let timeout = options.connect_timeout;
        let deadline = deadline_in(timeout);
        let (name, opts) = (uri.to_owned(), options.clone());
        let (uri, parsed, defaults) =
            off_runtime(deadline, timeout, move || target(&name, &opts)).await?;
        trace::passed_on(&parsed);
        let uri = uri.as_str();
        let opener = Opener::new(
            sasl::client_auth(uri, &parsed, &options)?,
            Some(parsed.remote_name()),
            if options.read_only { CONNECT_RO } else { 0 },
            options.keepalive,
        );
        let open = async {
            let conn = transport::connect(&parsed, options.read_only, false, defaults).await?;
            driver::start(
                conn,
                driver::Handshake::Remote(opener),
                options.max_in_flight,
            )
            .await
        };
        let opened = tokio::time::timeout_at(deadline, open)
            .await
            .unwrap_or(Err(ClientError::Timeout(timeout)));
        trace::opened(uri, parsed.transport, opened.as_ref().map(|_| ()));
        let client = Client::from_parts(opened?, options);
        let _ = client.shared.reopen.set(uri.to_owned());
        // Without a URI of its own, the connection's is the daemon's
        // answer, as libvirt's remote driver asks for it: part of opening,
        // within its time.
        let uri = if uri.is_empty() {
            tokio::time::timeout_at(deadline, client.connect_get_uri())
                .await
                .unwrap_or(Err(ClientError::Timeout(timeout)))?
        } else {
            uri.to_owned()
        };
        client.set_uri(uri);
        Ok(client)
    }

    /// The URI this connection opened, as libvirt's `virConnectGetURI`
    /// gives it: the one asked for, once aliases and defaults are
    /// resolved (`Client::connect("hail")` gives what `hail` stands for);
    /// when nothing named one (a probed local daemon), the daemon's own
    /// answer to `CONNECT_GET_URI`. The generated
    /// [`connect_get_uri`](Client::connect_get_uri) always asks the daemon,
    /// which names its driver alone (`test:///default` for
    /// `test+unix:///default?socket=...`).
    pub fn uri(&self) -> &str {
        self.shared.uri.get().map_or("", String::as_str)
    }

    pub(crate) fn set_uri(&self, uri: String) {
        let _ = self.shared.uri.set(uri);
    }

    /// The name that opens this connection's daemon again: its URI with
    /// aliases and defaults resolved, or empty to probe again.
    pub(crate) fn reopen_name(&self) -> &str {
        self.shared.reopen.get().map_or("", String::as_str)
    }

    fn from_parts(connection: Connection, options: ConnectOptions) -> Client {
        Client {
            shared: Arc::new(Shared {
                commands: connection.commands,
                drained: connection.drained,
                ended: connection.ended,
                pool: connection.pool,
                next_tag: AtomicU64::new(1),
                options,
                uri: OnceLock::new(),
                reopen: OnceLock::new(),
            }),
        }
    }

    /// Calls procedure `P`, typed at compile time, with the connection's
    /// call timeout (none by default).
    pub async fn call<P: RemoteProcedure>(&self, args: &P::Args) -> Result<P::Ret, ClientError> {
        match self.shared.options.call_timeout {
            Some(t) => self.call_with_timeout::<P>(args, t).await,
            None => self.call_fds::<P>(args, Vec::new()).await.map(|(r, _)| r),
        }
    }

    /// Calls procedure `P`, giving up after `timeout` with
    /// [`ClientError::Timeout`]; the late reply is then discarded.
    pub async fn call_with_timeout<P: RemoteProcedure>(
        &self,
        args: &P::Args,
        timeout: Duration,
    ) -> Result<P::Ret, ClientError> {
        tokio::time::timeout(timeout, self.call_fds::<P>(args, Vec::new()))
            .await
            .map_err(|_| ClientError::Timeout(timeout))?
            .map(|(r, _)| r)
    }

    /// Calls procedure `P` passing file descriptors (`CALL_WITH_FDS`, Unix
    /// transport only); returns the reply and the descriptors that came
    /// with it.
    pub async fn call_fds<P: RemoteProcedure>(
        &self,
        args: &P::Args,
        fds: Vec<OwnedFd>,
    ) -> Result<(P::Ret, Vec<OwnedFd>), ClientError> {
        let reply = self.request::<P>(args, fds, None, None).await?;
        let ret = rt::decode_all::<P::RetCodec>(&reply.body).map_err(ClientError::Decode)?;
        Ok((ret, reply.fds))
    }

    /// Calls a procedure that opens a byte stream (`@readstream` /
    /// `@writestream`: screenshot, volume upload and download, console,
    /// channel): the reply, and the stream.
    pub async fn call_stream<P: RemoteProcedure>(
        &self,
        args: &P::Args,
    ) -> Result<(P::Ret, ByteStream), ClientError> {
        let Some(info) = P::INFO.stream else {
            return Err(ClientError::NotAStream(P::INFO.name));
        };
        let (inbox, link) = command::stream_channel(
            STREAM_RECV_BUFFER,
            self.shared.drained.clone(),
            self.shared.pool.clone(),
        );
        let body = encode_args::<P>(args)?;
        let sparse = crate::engine::asks_for_holes(P::PROGRAM, P::NUMBER as i32, &body);
        let reply = self
            .request_raw(
                P::PROGRAM,
                P::VERSION,
                P::NUMBER as i32,
                body,
                Vec::new(),
                Some((info.direction, inbox)),
                None,
            )
            .await?;
        let stream = ByteStream::new(
            reply.serial,
            info.direction,
            sparse,
            link,
            self.shared.commands.clone(),
            self.shared.ended.clone(),
        );
        // A reply that does not decode drops the stream, which aborts it.
        let ret = rt::decode_all::<P::RetCodec>(&reply.body).map_err(ClientError::Decode)?;
        Ok((ret, stream))
    }

    /// Every event this connection receives, including those of callbacks
    /// registered through [`Client::call`].
    /// Once the connection has ended the stream gives why, then ends.
    pub fn events(&self) -> EventStream {
        let (sub, stream) = Subscriber::all(
            self.shared.options.event_buffer,
            &self.shared.commands,
            &self.shared.ended,
        );
        if let Err(mpsc::error::SendError(Command::Subscribe(sub))) =
            self.shared.commands.send(Command::Subscribe(sub))
        {
            let _ = sub.tx.try_send(Err(self.end_error()));
        }
        stream
    }

    /// Why the connection is over, for a request the driver can no longer
    /// take: what ended it ([`ClientError::ConnectionLost`] with the
    /// reason, or [`ClientError::Closed`]).
    fn end_error(&self) -> ClientError {
        self.shared
            .ended
            .get()
            .cloned()
            .unwrap_or(ClientError::Closed)
    }

    /// Sends a request and waits for its reply; dropping the future gives
    /// the call up.
    async fn request<P: RemoteProcedure>(
        &self,
        args: &P::Args,
        fds: Vec<OwnedFd>,
        stream: Option<(rt::StreamDirection, StreamInbox)>,
        subscribe: Option<Subscriber>,
    ) -> Result<Reply, ClientError> {
        let body = encode_args::<P>(args)?;
        self.request_raw(
            P::PROGRAM,
            P::VERSION,
            P::NUMBER as i32,
            body,
            fds,
            stream,
            subscribe,
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn request_raw(
        &self,
        program: u32,
        version: u32,
        procedure: i32,
        body: Vec<u8>,
        fds: Vec<OwnedFd>,
        stream: Option<(rt::StreamDirection, StreamInbox)>,
        subscribe: Option<Subscriber>,
    ) -> Result<Reply, ClientError> {
        let tag = self.shared.next_tag.fetch_add(1, Ordering::Relaxed);
        let opens_stream = stream.is_some();
        let (reply, rx) = oneshot::channel();
        self.shared
            .commands
            .send(Command::Call(CallRequest {
                tag,
                program,
                version,
                procedure,
                body,
                fds,
                stream,
                subscribe,
                reply,
            }))
            .map_err(|_| self.end_error())?;
        let mut pending = PendingReply {
            tag,
            rx,
            opens_stream,
            commands: &self.shared.commands,
            taken: false,
        };
        let out = (&mut pending.rx).await.map_err(|_| self.end_error())?;
        pending.taken = true;
        out
    }

    /// Sends `CONNECT_CLOSE` and ends the connection; every clone of this
    /// client then fails with [`ClientError::Closed`], and its streams and
    /// event streams end with it.
    pub async fn close(&self) {
        self.closing();
        let _ = self
            .call::<crate::remote::program::procs::ConnectClose>(&())
            .await;
        self.shutdown().await;
    }

    /// Tells the driver that this side is ending the connection, before
    /// the closing call: the daemon then closes its end, which is no loss.
    fn closing(&self) {
        let _ = self.shared.commands.send(Command::Closing);
    }

    /// Ends the connection without the closing call.
    pub(crate) async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self.shared.commands.send(Command::Close(tx)).is_ok() {
            let _ = rx.await;
        }
    }

    /// Whether the connection has ended.
    pub fn is_closed(&self) -> bool {
        self.shared.commands.is_closed()
    }

    /// Waits until the connection ends and says why, at once when it has
    /// ended already: what libvirt's close callback
    /// (`virConnectRegisterCloseCallback`) reports, for a program that
    /// reconnects. [`ClientError::ConnectionLost`] names the cause (the
    /// daemon's end, keepalive, a protocol error, the transport's error);
    /// [`ClientError::Closed`] means this side closed it.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), libvirt_proto::client::ClientError> {
    /// use libvirt_proto::client::Client;
    ///
    /// loop {
    ///     let client = Client::connect("qemu:///system").await?;
    ///     // ... hand `client` (a clone) to the tasks that use it ...
    ///     let why = client.closed().await;
    ///     eprintln!("connection lost ({why}), reconnecting");
    ///     tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    /// }
    /// # }
    /// ```
    pub async fn closed(&self) -> ClientError {
        self.shared.commands.closed().await;
        self.end_error()
    }
}

/// A call's arguments on the wire.
fn encode_args<P: RemoteProcedure>(args: &P::Args) -> Result<Vec<u8>, ClientError> {
    let mut body = Vec::with_capacity(P::ArgsCodec::len(args));
    P::ArgsCodec::encode(args, &mut rt::Writer::new(&mut body)).map_err(ClientError::Encode)?;
    Ok(body)
}

/// A call's reply to come. Dropped untaken (its future was), it tells
/// the driver to forget the call; if the reply had already come, a stream
/// it opened has nobody to use it and is aborted.
struct PendingReply<'a> {
    tag: u64,
    rx: oneshot::Receiver<Result<Reply, ClientError>>,
    opens_stream: bool,
    commands: &'a Commands,
    taken: bool,
}

impl Drop for PendingReply<'_> {
    fn drop(&mut self) {
        if self.taken {
            return;
        }
        // Closed first, the reply is either here now or never delivered
        // (the driver then sees the send fail and aborts the stream).
        self.rx.close();
        let command = match self.rx.try_recv() {
            Ok(Ok(reply)) if self.opens_stream => Command::StreamAbort(reply.serial),
            Ok(_) => return,
            Err(_) => Command::Abandon(self.tag),
        };
        let _ = self.commands.send(command);
    }
}

/// A temporary file for tests, open for reading and writing, already
/// unlinked so nothing is left behind.
#[cfg(test)]
pub(crate) fn scratch_file(tag: &str) -> std::fs::File {
    let path = std::env::temp_dir().join(format!("lvp-{tag}-{}", std::process::id()));
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn any_connect_timeout_gives_a_deadline() {
        let now = tokio::time::Instant::now();
        assert!(deadline_in(Duration::MAX) > now + Duration::from_secs(86400));
        let soon = deadline_in(Duration::from_secs(1));
        assert!(soon >= now + Duration::from_secs(1));
    }
}
