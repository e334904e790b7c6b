//! Typed services: a trait per program with one method per procedure
//! ([`RemoteService`], [`QemuService`], [`LxcService`], [`AdminService`],
//! generated with the protocol), and the [`Service`]s that serve them
//! ([`Typed`], [`TypedAdmin`]). A method takes the procedure's argument
//! struct and returns its reply struct (with the file descriptors of the
//! procedures that pass some); the methods a server does not
//! implement answer as libvirt's drivers do for a function they lack
//! ([`unsupported_procedure`]).

use std::os::fd::OwnedFd;

use crate::dispatch::{Call, Reply};
use crate::error::RemoteError;
use crate::generated::{admin_server, lxc_server, qemu_server, remote_server};
use crate::server::{unsupported, Peer, ServerStream, Service};

pub use crate::generated::admin_server::AdminService;
pub use crate::generated::lxc_server::LxcService;
pub use crate::generated::qemu_server::QemuService;
pub use crate::generated::remote_server::RemoteService;

#[cfg(doc)]
use crate::server::unsupported_procedure;

/// A [`Service`] answering each call of the remote, qemu and lxc programs
/// (what libvirtd serves on its sockets) with the method of its
/// procedure in `S`; calls of other programs get [`unsupported`]. A
/// server that answers no qemu or lxc call implements those traits
/// empty: `impl QemuService for MyDaemon {}`.
///
/// ```no_run
/// use libvirt_proto::error::RemoteError;
/// use libvirt_proto::remote;
/// use libvirt_proto::server::{
///     LxcService, Peer, QemuService, RemoteService, Server, ServerOptions, Typed,
/// };
///
/// struct Hostname;
///
/// impl RemoteService for Hostname {
///     async fn connect_open(
///         &self,
///         _peer: &Peer,
///         _args: remote::ConnectOpenArgs,
///     ) -> Result<(), RemoteError> {
///         Ok(())
///     }
///
///     async fn connect_get_hostname(
///         &self,
///         _peer: &Peer,
///     ) -> Result<remote::ConnectGetHostnameRet, RemoteError> {
///         Ok(remote::ConnectGetHostnameRet { hostname: "fake".into() })
///     }
/// }
/// impl QemuService for Hostname {}
/// impl LxcService for Hostname {}
///
/// # async fn demo() -> std::io::Result<()> {
/// // `virsh -c test+unix:///default?socket=/tmp/fake-sock hostname` prints "fake".
/// let listener = tokio::net::UnixListener::bind("/tmp/fake-sock")?;
/// Server::new(Typed(Hostname), ServerOptions::default()).serve_unix(listener).await
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct Typed<S>(pub S);

impl<S: RemoteService + QemuService + LxcService> Service for Typed<S> {
    /// [`Service::call_fds`] without descriptors; those of the reply are
    /// closed.
    async fn call(&self, peer: &Peer, call: Call) -> Result<Reply, RemoteError> {
        let (reply, _) = route(&self.0, peer, call, None, Vec::new()).await?;
        Ok(reply)
    }

    async fn call_fds(
        &self,
        peer: &Peer,
        call: Call,
        fds: Vec<OwnedFd>,
    ) -> Result<(Reply, Vec<OwnedFd>), RemoteError> {
        route(&self.0, peer, call, None, fds).await
    }

    async fn call_stream(
        &self,
        peer: &Peer,
        call: Call,
        stream: ServerStream,
    ) -> Result<Reply, RemoteError> {
        let (reply, _) = route(&self.0, peer, call, Some(stream), Vec::new()).await?;
        Ok(reply)
    }
}

/// Answers `call` with the method of its procedure.
async fn route<S: RemoteService + QemuService + LxcService>(
    service: &S,
    peer: &Peer,
    call: Call,
    stream: Option<ServerStream>,
    fds: Vec<OwnedFd>,
) -> Result<(Reply, Vec<OwnedFd>), RemoteError> {
    let (reply, fds) = match call {
        Call::Remote(c) => {
            let (r, fds) = remote_server::dispatch(service, peer, c, stream, fds).await?;
            (Reply::Remote(r), fds)
        }
        Call::Qemu(c) => {
            let (r, fds) = qemu_server::dispatch(service, peer, c, stream, fds).await?;
            (Reply::Qemu(r), fds)
        }
        Call::Lxc(c) => {
            let (r, fds) = lxc_server::dispatch(service, peer, c, stream, fds).await?;
            (Reply::Lxc(r), fds)
        }
        other => return Err(unsupported(&other)),
    };
    Ok((reply, fds))
}

/// A [`Service`] answering each call of the admin program (what a
/// daemon's admin socket serves, to `virt-admin`) with the method of its
/// procedure in `S`; calls of other programs get [`unsupported`].
#[derive(Debug, Clone, Default)]
pub struct TypedAdmin<S>(pub S);

impl<S: AdminService> Service for TypedAdmin<S> {
    async fn call(&self, peer: &Peer, call: Call) -> Result<Reply, RemoteError> {
        match call {
            Call::Admin(c) => {
                let (reply, _) = admin_server::dispatch(&self.0, peer, c, None, Vec::new()).await?;
                Ok(Reply::Admin(reply))
            }
            other => Err(unsupported(&other)),
        }
    }
}
