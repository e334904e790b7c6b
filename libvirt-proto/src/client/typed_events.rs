//! Typed events: a registered callback's messages as one enum per family
//! ([`DomainEvent`], [`NetworkEvent`], [`StoragePoolEvent`],
//! [`NodeDeviceEvent`], [`SecretEvent`], [`QemuMonitorEvent`]), with object handles, typed
//! parameters and the C API's enums in place of wire identities and
//! numbers, and the registrations yielding them
//! ([`Client::domain_events`] and its siblings).
//!
//! The enums and their conversions are generated from libvirt's `.x` files
//! and C API documentation (`src/generated/remote_events.rs`,
//! `qemu_events.rs`): one variant
//! per event message sent to registered callbacks, named after it
//! (`REMOTE_PROC_DOMAIN_EVENT_CALLBACK_LIFECYCLE` is
//! [`DomainEvent::Lifecycle`]). The legacy messages without a callback id
//! (`REMOTE_PROC_DOMAIN_EVENT_LIFECYCLE`, for `virConnectDomainEventRegister`)
//! have no variant: [`Client::events`] sees them as they come. Every
//! typed stream can go back to its raw messages ([`Events::into_raw`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), libvirt_proto::client::ClientError> {
//! use libvirt_proto::api::{DomainEventDetail, DomainEventID, DomainEventType};
//! use libvirt_proto::client::{Client, DomainEvent};
//!
//! let client = Client::connect("qemu:///system").await?;
//! let mut events = client.domain_events(DomainEventID::LIFECYCLE, None).await?;
//! while let Some(event) = events.next().await {
//!     if let DomainEvent::Lifecycle { domain, event, detail } = event? {
//!         println!("{}: {event} ({})", domain.name, detail.virsh_name().unwrap_or("?"));
//!         if let (DomainEventType::STOPPED, DomainEventDetail::Stopped(why)) = (event, detail) {
//!             println!("stopped: {why}");
//!         }
//!     }
//! }
//! # Ok(()) }
//! ```

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

use super::{
    Client, ClientError, Domain, EventFamily, EventStream, Network, NodeDevice, Secret, StoragePool,
};
use crate::dispatch::Message;
use crate::generated::api;

pub use crate::generated::qemu_events::QemuMonitorEvent;
pub use crate::generated::remote_events::{
    DomainEvent, NetworkEvent, NodeDeviceEvent, SecretEvent, StoragePoolEvent,
};

/// An event family's typed events (implemented by the generated enums).
pub trait Event: Sized {
    /// The family whose callbacks send these events.
    const FAMILY: EventFamily;

    /// The typed event of a message of the family; the message back when
    /// it is not one (another family's, or a legacy callback-less event),
    /// to try another family with, as [`Client::events`] delivers them
    /// all.
    // Handed back as it came: boxing it would cost every try an allocation.
    #[allow(clippy::result_large_err)]
    fn from_message(client: &Client, message: Message) -> Result<Self, Message>;
}

/// A registered callback's events, typed as `E`. Like the [`EventStream`]
/// it wraps, it ends (`None`) after the connection does, the last item
/// being the error that ended it, and dropping it deregisters the callback.
#[derive(Debug)]
pub struct Events<E> {
    raw: EventStream,
    client: Client,
    _event: std::marker::PhantomData<fn() -> E>,
}

impl<E: Event> Events<E> {
    /// Types the events of `raw`, a stream registered for `E`'s family on
    /// `client`.
    pub fn new(client: &Client, raw: EventStream) -> Self {
        Events {
            raw,
            client: client.clone(),
            _event: std::marker::PhantomData,
        }
    }

    /// The next event; `Some(Err(..))` once when the connection ends, then
    /// `None`.
    pub async fn next(&mut self) -> Option<Result<E, ClientError>> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    /// Events dropped so far because this consumer was too slow.
    pub fn lost(&self) -> u64 {
        self.raw.lost()
    }

    /// The daemon's callback id.
    pub fn callback_id(&self) -> Option<i32> {
        self.raw.callback_id()
    }

    /// The untyped stream, for the messages as they came.
    pub fn into_raw(self) -> EventStream {
        self.raw
    }
}

impl<E: Event> Stream for Events<E> {
    type Item = Result<E, ClientError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            return match Pin::new(&mut this.raw).poll_next(cx) {
                Poll::Ready(Some(Ok(m))) => match E::from_message(&this.client, m) {
                    Ok(e) => Poll::Ready(Some(Ok(e))),
                    // The stream is filtered by family: another message
                    // cannot come; were one to, it is not this stream's.
                    Err(_) => continue,
                },
                Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            };
        }
    }
}

/// Typed registrations: the `register_*_event` methods' streams as
/// [`Events`] of their family's enum.
impl Client {
    /// Registers for domain events of kind `event_id`
    /// (e.g. [`api::DomainEventID::LIFECYCLE`]), of one domain or of all
    /// (`None`), as [`DomainEvent`]s.
    pub async fn domain_events(
        &self,
        event_id: impl Into<api::DomainEventID>,
        dom: Option<&Domain>,
    ) -> Result<Events<DomainEvent>, ClientError> {
        let raw = self
            .register_domain_event(event_id, dom.map(|d| d.wire().clone()))
            .await?;
        Ok(Events::new(self, raw))
    }

    /// Registers for network events of kind `event_id`
    /// ([`api::NetworkEventID`]), of one network or of all, as
    /// [`NetworkEvent`]s.
    pub async fn network_events(
        &self,
        event_id: impl Into<api::NetworkEventID>,
        net: Option<&Network>,
    ) -> Result<Events<NetworkEvent>, ClientError> {
        let raw = self
            .register_network_event(event_id, net.map(|n| n.wire().clone()))
            .await?;
        Ok(Events::new(self, raw))
    }

    /// Registers for storage pool events of kind `event_id`
    /// ([`api::StoragePoolEventID`]), of one pool or of all, as
    /// [`StoragePoolEvent`]s.
    pub async fn storage_pool_events(
        &self,
        event_id: impl Into<api::StoragePoolEventID>,
        pool: Option<&StoragePool>,
    ) -> Result<Events<StoragePoolEvent>, ClientError> {
        let raw = self
            .register_storage_pool_event(event_id, pool.map(|p| p.wire().clone()))
            .await?;
        Ok(Events::new(self, raw))
    }

    /// Registers for node device events of kind `event_id`
    /// ([`api::NodeDeviceEventID`]), of one device or of all, as
    /// [`NodeDeviceEvent`]s.
    pub async fn node_device_events(
        &self,
        event_id: impl Into<api::NodeDeviceEventID>,
        dev: Option<&NodeDevice>,
    ) -> Result<Events<NodeDeviceEvent>, ClientError> {
        let raw = self
            .register_node_device_event(event_id, dev.map(|d| d.wire().clone()))
            .await?;
        Ok(Events::new(self, raw))
    }

    /// Registers for secret events of kind `event_id`
    /// ([`api::SecretEventID`]), of one secret or of all, as
    /// [`SecretEvent`]s.
    pub async fn secret_events(
        &self,
        event_id: impl Into<api::SecretEventID>,
        secret: Option<&Secret>,
    ) -> Result<Events<SecretEvent>, ClientError> {
        let raw = self
            .register_secret_event(event_id, secret.map(|s| s.wire().clone()))
            .await?;
        Ok(Events::new(self, raw))
    }

    /// Registers for the QEMU monitor events named `event` (all when
    /// `None`; with [`ConnectDomainQemuMonitorEventRegisterFlags::REGEX`]
    /// a regular expression) of one domain or of all, as
    /// [`QemuMonitorEvent`]s. Only the qemu driver sends them.
    ///
    /// [`ConnectDomainQemuMonitorEventRegisterFlags::REGEX`]: api::ConnectDomainQemuMonitorEventRegisterFlags::REGEX
    pub async fn qemu_monitor_events(
        &self,
        dom: Option<&Domain>,
        event: Option<&str>,
        flags: impl Into<api::ConnectDomainQemuMonitorEventRegisterFlags>,
    ) -> Result<Events<QemuMonitorEvent>, ClientError> {
        let raw = self
            .register_qemu_monitor_event(
                dom.map(|d| d.wire().clone()),
                event.map(str::to_owned),
                flags,
            )
            .await?;
        Ok(Events::new(self, raw))
    }
}
