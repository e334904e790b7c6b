//! Events: registration by kind, routing by callback id, and bounded
//! streams that count what a slow consumer lost.
//!
//! libvirt numbers callbacks per kind (domain callback 1 and network
//! callback 1 are different callbacks), so an event is routed by its
//! [`EventFamily`] and callback id. A subscription is installed by the
//! driver when the registration's reply arrives, before any later event is
//! looked at. libvirtd relays a callback's events as soon as it has its
//! id, which can be before the reply goes out: while a registration of a
//! family is on its way, events of that family that no subscriber claims
//! are held (at most [`MAX_HELD_EVENTS`], and
//! [`EVENT_BUFFER_BYTES`](super::EVENT_BUFFER_BYTES) in all) and handed to the subscriber
//! the reply installs, so none of the new callback's events slips past
//! it.

use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use futures_core::Stream;
use tokio::sync::mpsc;
use xdrgen::rt::{self, RemoteProcedure};

use super::command::{Command, Commands, Filter, Subscriber};
use super::event_family::EventFamily;
use super::{Client, ClientError, EVENT_BUFFER_BYTES};
use crate::dispatch::Message;
use crate::generated::{api, qemu, remote};

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl Subscriber {
    /// A subscriber and its stream; `ended` is the connection's end, which
    /// the stream gives when the end could not be queued.
    fn new(
        filter: Filter,
        buffer: usize,
        commands: &Commands,
        ended: &Arc<OnceLock<ClientError>>,
    ) -> (Subscriber, EventStream) {
        let (tx, rx) = mpsc::channel(buffer.max(1));
        let lost = Arc::new(AtomicU64::new(0));
        let queued = Arc::new(AtomicUsize::new(0));
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        (
            Subscriber {
                id,
                filter,
                tx,
                queued: queued.clone(),
                lost: lost.clone(),
                failed: false,
            },
            EventStream {
                id,
                rx,
                queued,
                lost,
                callback_id: None,
                commands: commands.clone(),
                deregister: None,
                ended: ended.clone(),
                told_end: false,
            },
        )
    }

    /// A subscriber to every event.
    pub(crate) fn all(
        buffer: usize,
        commands: &Commands,
        ended: &Arc<OnceLock<ClientError>>,
    ) -> (Subscriber, EventStream) {
        Self::new(Filter::All, buffer, commands, ended)
    }

    pub(crate) fn wants(&self, family_and_id: Option<(EventFamily, i32)>) -> bool {
        match self.filter {
            Filter::All => true,
            Filter::Family(_) => false,
            Filter::Callback(f, id) => family_and_id == Some((f, id)),
        }
    }
}

/// Unclaimed events held while registrations are on their way (see the
/// module's docs); past it, the oldest go.
pub(crate) const MAX_HELD_EVENTS: usize = 256;

/// Every subscription of a connection.
#[derive(Debug, Default)]
pub(crate) struct Route {
    subscribers: Vec<Subscriber>,
    /// Registrations on their way, per family.
    registering: HashMap<EventFamily, usize>,
    /// Events of those families that no subscriber claimed, oldest
    /// first, with their size on the wire.
    held: VecDeque<(EventFamily, i32, Message, usize)>,
    /// Their sizes, in all.
    held_bytes: usize,
}

impl Route {
    pub(crate) fn add(&mut self, s: Subscriber) {
        self.subscribers.push(s);
    }

    /// A registration for `s` has gone out.
    pub(crate) fn registering(&mut self, s: &Subscriber) {
        if let Filter::Family(f) = s.filter {
            *self.registering.entry(f).or_default() += 1;
        }
    }

    /// A registration has its outcome: `reply`, the reply body (which
    /// starts with the callback id), installs `s` and hands it the events
    /// held for its callback; `None` (an error, or nobody waits) drops it.
    pub(crate) fn registered(&mut self, mut s: Subscriber, reply: Option<&[u8]>) {
        let Filter::Family(f) = s.filter else {
            return;
        };
        if let Some(id) = reply.and_then(callback_id_of) {
            s.filter = Filter::Callback(f, id);
            for (m, len) in self.take_held(|family, callback| (family, callback) == (f, id)) {
                send_to(&s, m, len);
            }
            self.subscribers.push(s);
        }
        let still = self.registering.get_mut(&f).map_or(0, |n| {
            *n = n.saturating_sub(1);
            *n
        });
        if still == 0 {
            self.registering.remove(&f);
            self.take_held(|family, _| family == f);
        }
    }

    /// Takes the held events `pick` selects, in order, and keeps the rest.
    fn take_held(&mut self, pick: impl Fn(EventFamily, i32) -> bool) -> Vec<(Message, usize)> {
        let held = std::mem::take(&mut self.held);
        self.held_bytes = 0;
        let mut picked = Vec::new();
        for (family, callback, m, len) in held {
            if pick(family, callback) {
                picked.push((m, len));
            } else {
                self.hold(family, callback, m, len);
            }
        }
        picked
    }

    pub(crate) fn remove(&mut self, id: u64) {
        self.subscribers.retain(|s| s.id != id);
    }

    /// Hands an event (of `len` bytes on the wire) to every subscriber
    /// that wants it; a full buffer drops the event for that subscriber
    /// and counts it. An event of a callback no subscriber has, of a
    /// family being registered, is held.
    pub(crate) fn deliver(&mut self, m: Message, len: usize) {
        let key = EventFamily::of(&m);
        self.subscribers.retain(|s| !s.tx.is_closed());
        let mut claimed = false;
        for s in self.subscribers.iter().filter(|s| s.wants(key)) {
            claimed |= matches!(s.filter, Filter::Callback(..));
            send_to(s, m.clone(), len);
        }
        if let (false, Some((f, id))) = (claimed, key) {
            if self.registering.contains_key(&f) {
                self.hold(f, id, m, len);
            }
        }
    }

    /// Holds an unclaimed event, making room by dropping the oldest: at
    /// most [`MAX_HELD_EVENTS`] and `EVENT_BUFFER_BYTES` are held.
    fn hold(&mut self, f: EventFamily, id: i32, m: Message, len: usize) {
        while !self.held.is_empty()
            && (self.held.len() == MAX_HELD_EVENTS
                || self.held_bytes.saturating_add(len) > EVENT_BUFFER_BYTES)
        {
            if let Some((.., old)) = self.held.pop_front() {
                self.held_bytes -= old;
            }
        }
        self.held_bytes += len;
        self.held.push_back((f, id, m, len));
    }

    /// Ends every stream with the connection's end.
    pub(crate) fn close(&mut self, err: &ClientError) {
        self.registering.clear();
        self.held.clear();
        self.held_bytes = 0;
        for mut s in self.subscribers.drain(..) {
            if !s.failed {
                s.failed = true;
                let _ = s.tx.try_send(Err(err.clone()));
            }
        }
    }
}

/// Queues `m` (`len` bytes on the wire) for `s`; a buffer full by count or
/// by [`EVENT_BUFFER_BYTES`] drops it and counts it. Only this driver adds
/// to `queued`, so the check cannot race with another add.
fn send_to(s: &Subscriber, m: Message, len: usize) {
    let queued = s.queued.load(Ordering::Acquire);
    if queued > 0 && queued.saturating_add(len) > EVENT_BUFFER_BYTES {
        s.lost.fetch_add(1, Ordering::Relaxed);
        return;
    }
    match s.tx.try_send(Ok((m, len))) {
        Ok(()) => {
            s.queued.fetch_add(len, Ordering::AcqRel);
        }
        Err(mpsc::error::TrySendError::Full(_)) => {
            s.lost.fetch_add(1, Ordering::Relaxed);
        }
        Err(mpsc::error::TrySendError::Closed(_)) => {}
    }
}

fn callback_id_of(reply: &[u8]) -> Option<i32> {
    Some(i32::from_be_bytes(reply.get(..4)?.try_into().ok()?))
}

/// A bounded stream of events. It ends (`None`) after the connection does,
/// the last item being the error that ended it. When the consumer falls
/// behind (by [`ConnectOptions::event_buffer`](super::ConnectOptions::event_buffer)
/// events, or by [`EVENT_BUFFER_BYTES`](super::EVENT_BUFFER_BYTES)), new
/// events are dropped and counted by [`EventStream::lost`].
/// Dropping a stream of a registered callback deregisters it.
#[derive(Debug)]
pub struct EventStream {
    id: u64,
    rx: mpsc::Receiver<Result<(Message, usize), ClientError>>,
    /// Bytes of events queued and not yet taken.
    queued: Arc<AtomicUsize>,
    lost: Arc<AtomicU64>,
    callback_id: Option<i32>,
    commands: Commands,
    deregister: Option<(u32, u32, i32, Vec<u8>)>,
    /// What ended the connection, once it has.
    ended: Arc<OnceLock<ClientError>>,
    /// The end's error has been given.
    told_end: bool,
}

impl EventStream {
    /// The next event; `Some(Err(..))` once when the connection ends, then
    /// `None`.
    pub async fn next(&mut self) -> Option<Result<Message, ClientError>> {
        let item = self.rx.recv().await;
        self.with_end(item)
    }

    /// `item`, or at the end of the channel the connection's end when it
    /// has not been given yet: the driver queues it, but not into a full
    /// buffer, nor for a stream that subscribed as the connection ended.
    fn with_end(
        &mut self,
        item: Option<Result<(Message, usize), ClientError>>,
    ) -> Option<Result<Message, ClientError>> {
        match item {
            Some(Err(e)) => {
                self.told_end = true;
                Some(Err(e))
            }
            Some(Ok((m, len))) => {
                self.queued.fetch_sub(len, Ordering::AcqRel);
                Some(Ok(m))
            }
            None if self.told_end => None,
            None => {
                self.told_end = true;
                self.ended.get().cloned().map(Err)
            }
        }
    }

    /// Events dropped so far because this consumer was too slow.
    pub fn lost(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }

    /// The daemon's callback id of a registered callback.
    pub fn callback_id(&self) -> Option<i32> {
        self.callback_id
    }
}

impl Stream for EventStream {
    type Item = Result<Message, ClientError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let item = std::task::ready!(self.rx.poll_recv(cx));
        Poll::Ready(self.with_end(item))
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Unsubscribe {
            id: self.id,
            deregister: self.deregister.take(),
        });
    }
}

/// Domain events registered through `CONNECT_DOMAIN_EVENT_CALLBACK_*`.
impl Client {
    /// Registers for domain events of kind `event_id`
    /// (e.g. [`api::DomainEventID::LIFECYCLE`]), of one domain or of all
    /// (`None`).
    pub async fn register_domain_event(
        &self,
        event_id: impl Into<api::DomainEventID>,
        dom: Option<remote::NonnullDomain>,
    ) -> Result<EventStream, ClientError> {
        self.register::<
            remote::program::procs::ConnectDomainEventCallbackRegisterAny,
            remote::program::procs::ConnectDomainEventCallbackDeregisterAny,
        >(
            EventFamily::Domain,
            &remote::ConnectDomainEventCallbackRegisterAnyArgs {
                event_id: event_id.into().0,
                dom: remote::Domain(dom),
            },
            |callback_id| remote::ConnectDomainEventCallbackDeregisterAnyArgs { callback_id },
        )
        .await
    }

    /// Registers for network events of kind `event_id`
    /// ([`api::NetworkEventID`]).
    pub async fn register_network_event(
        &self,
        event_id: impl Into<api::NetworkEventID>,
        net: Option<remote::NonnullNetwork>,
    ) -> Result<EventStream, ClientError> {
        self.register::<
            remote::program::procs::ConnectNetworkEventRegisterAny,
            remote::program::procs::ConnectNetworkEventDeregisterAny,
        >(
            EventFamily::Network,
            &remote::ConnectNetworkEventRegisterAnyArgs {
                event_id: event_id.into().0,
                net: remote::Network(net),
            },
            |callback_id| remote::ConnectNetworkEventDeregisterAnyArgs { callback_id },
        )
        .await
    }

    /// Registers for storage pool events of kind `event_id`
    /// ([`api::StoragePoolEventID`]).
    pub async fn register_storage_pool_event(
        &self,
        event_id: impl Into<api::StoragePoolEventID>,
        pool: Option<remote::NonnullStoragePool>,
    ) -> Result<EventStream, ClientError> {
        self.register::<
            remote::program::procs::ConnectStoragePoolEventRegisterAny,
            remote::program::procs::ConnectStoragePoolEventDeregisterAny,
        >(
            EventFamily::StoragePool,
            &remote::ConnectStoragePoolEventRegisterAnyArgs {
                event_id: event_id.into().0,
                pool: remote::StoragePool(pool),
            },
            |callback_id| remote::ConnectStoragePoolEventDeregisterAnyArgs { callback_id },
        )
        .await
    }

    /// Registers for node device events of kind `event_id`
    /// ([`api::NodeDeviceEventID`]).
    pub async fn register_node_device_event(
        &self,
        event_id: impl Into<api::NodeDeviceEventID>,
        dev: Option<remote::NonnullNodeDevice>,
    ) -> Result<EventStream, ClientError> {
        self.register::<
            remote::program::procs::ConnectNodeDeviceEventRegisterAny,
            remote::program::procs::ConnectNodeDeviceEventDeregisterAny,
        >(
            EventFamily::NodeDevice,
            &remote::ConnectNodeDeviceEventRegisterAnyArgs {
                event_id: event_id.into().0,
                dev: remote::NodeDevice(dev),
            },
            |callback_id| remote::ConnectNodeDeviceEventDeregisterAnyArgs { callback_id },
        )
        .await
    }

    /// Registers for secret events of kind `event_id`
    /// ([`api::SecretEventID`]).
    pub async fn register_secret_event(
        &self,
        event_id: impl Into<api::SecretEventID>,
        secret: Option<remote::NonnullSecret>,
    ) -> Result<EventStream, ClientError> {
        self.register::<
            remote::program::procs::ConnectSecretEventRegisterAny,
            remote::program::procs::ConnectSecretEventDeregisterAny,
        >(
            EventFamily::Secret,
            &remote::ConnectSecretEventRegisterAnyArgs {
                event_id: event_id.into().0,
                secret: remote::Secret(secret),
            },
            |callback_id| remote::ConnectSecretEventDeregisterAnyArgs { callback_id },
        )
        .await
    }

    /// Registers for QEMU monitor events named `event` (all when `None`)
    /// of one domain or all; `flags` are
    /// [`api::ConnectDomainQemuMonitorEventRegisterFlags`].
    pub async fn register_qemu_monitor_event(
        &self,
        dom: Option<remote::NonnullDomain>,
        event: Option<String>,
        flags: impl Into<api::ConnectDomainQemuMonitorEventRegisterFlags>,
    ) -> Result<EventStream, ClientError> {
        let flags = flags.into().bits();
        self.register::<
            qemu::program::procs::ConnectDomainMonitorEventRegister,
            qemu::program::procs::ConnectDomainMonitorEventDeregister,
        >(
            EventFamily::QemuMonitor,
            &qemu::ConnectDomainMonitorEventRegisterArgs {
                dom: remote::Domain(dom),
                event: remote::RemoteString(event.map(Into::into)),
                flags,
            },
            |callback_id| qemu::ConnectDomainMonitorEventDeregisterArgs { callback_id },
        )
        .await
    }

    /// Registers with `R`, to be deregistered with `D`. The registration
    /// runs to its end in a task of its own: when the caller stops waiting
    /// after the daemon has registered the callback, the stream nobody
    /// receives is dropped, which deregisters it.
    async fn register<R, D>(
        &self,
        family: EventFamily,
        args: &R::Args,
        deregister: impl FnOnce(i32) -> D::Args + Send + 'static,
    ) -> Result<EventStream, ClientError>
    where
        R: RemoteProcedure + 'static,
        D: RemoteProcedure + 'static,
    {
        let mut body = Vec::with_capacity(<R::ArgsCodec as rt::Codec>::len(args));
        <R::ArgsCodec as rt::Codec>::encode(args, &mut rt::Writer::new(&mut body))
            .map_err(ClientError::Encode)?;
        let client = self.clone();
        let registration = tokio::spawn(async move {
            let (sub, mut stream) = Subscriber::new(
                Filter::Family(family),
                client.shared.options.event_buffer,
                &client.shared.commands,
                &client.shared.ended,
            );
            let reply = client
                .request_raw(
                    R::PROGRAM,
                    R::VERSION,
                    R::NUMBER as i32,
                    body,
                    Vec::new(),
                    None,
                    Some(sub),
                )
                .await?;
            let id = <rt::Plain<i32> as rt::Codec>::decode(&mut rt::Reader::new(&reply.body))
                .map_err(ClientError::Decode)?;
            stream.callback_id = Some(id);
            let args = deregister(id);
            let mut body = Vec::with_capacity(<D::ArgsCodec as rt::Codec>::len(&args));
            <D::ArgsCodec as rt::Codec>::encode(&args, &mut rt::Writer::new(&mut body))
                .map_err(ClientError::Encode)?;
            stream.deregister = Some((D::PROGRAM, D::VERSION, D::NUMBER as i32, body));
            Ok(stream)
        });
        match registration.await {
            Ok(r) => r,
            // A panic is not an error of the connection's.
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // Cancelled: the runtime is shutting down.
            Err(_) => Err(ClientError::Closed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lifecycle(callback_id: i32) -> Message {
        Message::Remote(remote::program::Message::DomainEventCallbackLifecycle(
            remote::DomainEventCallbackLifecycleMsg {
                callback_id,
                msg: remote::DomainEventLifecycleMsg {
                    dom: remote::NonnullDomain {
                        name: "vm".into(),
                        uuid: [0; 16].into(),
                        id: 1,
                    },
                    event: 0,
                    detail: 0,
                },
            },
        ))
    }

    #[test]
    fn events_held_for_a_registration_are_bounded_in_bytes() {
        let (commands, _) = mpsc::unbounded_channel();
        let ended = Arc::new(OnceLock::new());
        let (sub, mut stream) =
            Subscriber::new(Filter::Family(EventFamily::Domain), 64, &commands, &ended);
        let mut route = Route::default();
        route.registering(&sub);
        // Events said to be 5 MiB each on the wire: three fit in
        // EVENT_BUFFER_BYTES, so the oldest of four goes.
        let big = 5 << 20;
        for _ in 0..4 {
            route.deliver(lifecycle(9), big);
        }
        assert_eq!(route.held.len(), 3);
        assert!(route.held_bytes <= EVENT_BUFFER_BYTES);
        // Handed to the callback's subscriber once the reply names it.
        route.registered(sub, Some(&9i32.to_be_bytes()));
        assert!(route.held.is_empty() && route.held_bytes == 0);
        for _ in 0..3 {
            assert!(stream.rx.try_recv().is_ok());
        }
        assert!(stream.rx.try_recv().is_err());
    }
}
