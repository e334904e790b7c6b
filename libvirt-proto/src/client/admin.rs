//! The admin program on a daemon's admin socket: its servers, clients,
//! logging and limits, as `virt-admin` sees them.

use xdrgen::rt::RemoteProcedure;

use super::transport;
use super::{driver, Client, ClientError, ConnectOptions};
use crate::client_config::{self, ConfigEnv, Program};
use crate::uri::ConnectUri;

/// A connection to a daemon's admin socket (`libvirtd:///system`,
/// `virtqemud:///session`, ...). Calls take the admin program's marker
/// types (`admin::program::procs::*`).
///
/// ```no_run
/// # async fn demo() -> Result<(), libvirt_proto::client::ClientError> {
/// use libvirt_proto::admin::{self, program::procs};
/// use libvirt_proto::client::AdminClient;
///
/// let admin = AdminClient::connect("libvirtd:///system").await?;
/// let servers = admin
///     .call::<procs::ConnectListServers>(&admin::ConnectListServersArgs {
///         need_results: 16,
///         flags: 0,
///     })
///     .await?;
/// for s in servers.servers {
///     println!("{}", s.name);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct AdminClient {
    inner: Client,
}

impl AdminClient {
    /// Connects to the admin socket of the daemon named by `uri` and opens
    /// the admin program.
    ///
    /// `uri` is read as `virt-admin` reads it (see
    /// [`crate::client_config`]): an alias of `libvirt-admin.conf`'s
    /// `uri_aliases` stands for its URI, and the empty string asks for the
    /// default (`LIBVIRT_ADMIN_DEFAULT_URI`, then `uri_default`, then
    /// libvirtd's `/system` as root or `/session` otherwise), where
    /// `virAdmConnectOpen` asks for a NULL name.
    pub async fn connect(uri: &str) -> Result<AdminClient, ClientError> {
        let options = ConnectOptions::default().with_keepalive(None);
        let timeout = options.connect_timeout;
        let deadline = super::deadline_in(timeout);
        let (name, config) = (uri.to_owned(), options.config.clone());
        let (resolved, parsed) = super::off_runtime(deadline, timeout, move || {
            let env = ConfigEnv::current(Program::Admin);
            let conf = client_config::load(&config, Program::Admin, &env)?;
            let resolved =
                client_config::resolve(&name, Program::Admin, &env, conf.as_ref(), true)?;
            // An admin name always resolves to a URI.
            let parsed = ConnectUri::parse(resolved.as_deref().unwrap_or_default())?;
            Ok((resolved, parsed))
        })
        .await?;
        let open = async {
            let conn = transport::connect(&parsed, false, true, Default::default()).await?;
            driver::start(conn, driver::Handshake::Admin(0), options.max_in_flight).await
        };
        let connection = tokio::time::timeout_at(deadline, open)
            .await
            .map_err(|_| ClientError::Timeout(timeout))??;
        let inner = Client::from_parts(connection, options);
        inner.set_uri(resolved.unwrap_or_default());
        Ok(AdminClient { inner })
    }

    /// The URI this connection opened (see [`Client::uri`]), aliases and
    /// defaults resolved.
    pub fn uri(&self) -> &str {
        self.inner.uri()
    }

    /// Calls admin procedure `P`.
    pub async fn call<P: RemoteProcedure>(&self, args: &P::Args) -> Result<P::Ret, ClientError> {
        self.inner.call::<P>(args).await
    }

    /// Sends `ADMIN_PROC_CONNECT_CLOSE` and ends the connection.
    pub async fn close(&self) {
        self.inner.closing();
        let _ = self
            .inner
            .call::<crate::admin::program::procs::ConnectClose>(&())
            .await;
        self.inner.shutdown().await;
    }
}
