//! A connection that opens itself again when it is lost: [`Reconnecting`]
//! watches its [`Client`] and, when the connection ends by anything but
//! a close (the daemon restarted, keepalive gave up on a frozen daemon,
//! the transport failed), opens it again with growing, jittered delays
//! ([`Backoff`]), to the same URI: the one the first connection resolved
//! (an alias or default is not looked up again). A connection that found
//! its daemon by probing resolves its empty name again on each attempt
//! (a default set since then wins, else probing), and every attempt reads
//! `libvirt.conf`'s `remote_mode` and `remote_proxy` again.
//!
//! What was in flight on the lost connection is not replayed: its calls
//! fail with [`ClientError::ConnectionLost`], as they would without this
//! type, because only the caller knows whether a call may run twice. A
//! caller asks [`Reconnecting::connected`] for the connection of the
//! moment and tries again when it decides to. Event subscriptions made
//! through [`Reconnecting::resubscribing`] are made again on the newest
//! connection when the stream is next polled, and say so
//! ([`Resumed::Reconnected`]): events of the time between are lost, as
//! they are for libvirt's own clients.
//!
//! A frozen daemon is noticed by keepalive (on by default): with
//! [`ConnectOptions::with_keepalive(None)`](ConnectOptions::with_keepalive)
//! only a transport error or the daemon's end of the connection is.

use std::collections::hash_map::RandomState;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use tokio::sync::watch;

use super::{Client, ClientError, ConnectOptions};

/// How long [`Reconnecting`] waits before each attempt to open the
/// connection again: [`initial`](Backoff::with_initial) before the first,
/// doubling up to [`max`](Backoff::with_max), each delay drawn between
/// half and all of it so that clients that lost the same daemon do not
/// come back all at once. Delays are at least [`MIN_BACKOFF_DELAY`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    attempts: Option<u32>,
}

impl Default for Backoff {
    /// 500 ms first, at most 30 s, and no limit on the attempts.
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(30),
            attempts: None,
        }
    }
}

/// The shortest delay [`Backoff`] takes: shorter ones would turn a daemon
/// that is gone into a loop that does nothing else.
pub const MIN_BACKOFF_DELAY: Duration = Duration::from_millis(10);

impl Backoff {
    /// The delay before the first attempt (at least [`MIN_BACKOFF_DELAY`]).
    pub fn with_initial(mut self, initial: Duration) -> Self {
        self.initial = initial.max(MIN_BACKOFF_DELAY);
        self
    }

    /// The longest delay (at least [`MIN_BACKOFF_DELAY`]).
    pub fn with_max(mut self, max: Duration) -> Self {
        self.max = max.max(MIN_BACKOFF_DELAY);
        self
    }

    /// How many attempts in a row may fail to open the connection before
    /// [`Reconnecting`] gives up (`None`: never); each loss of the
    /// connection gets at least one attempt, unless this is 0. A
    /// connection lost again
    /// before it stayed open for the longest delay does not start the
    /// delays again, so a daemon that accepts and dies at once is not
    /// hammered.
    pub fn with_attempts(mut self, attempts: impl Into<Option<u32>>) -> Self {
        self.attempts = attempts.into();
        self
    }

    /// The delay before attempt `attempt` (from 1).
    fn delay(&self, attempt: u32) -> Duration {
        let doubled = self
            .initial
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(31));
        let full = doubled.min(self.max);
        let half = full / 2;
        let mut h = RandomState::new().build_hasher();
        h.write_u32(attempt);
        let nanos = u64::try_from((full - half).as_nanos()).unwrap_or(u64::MAX);
        (half + Duration::from_nanos(h.finish() % nanos.saturating_add(1))).max(MIN_BACKOFF_DELAY)
    }
}

/// The count of attempts to open the connection again: the delays' level
/// and the opens that failed in a row.
#[derive(Debug, Default)]
struct Tries {
    /// The attempt under way, from 1: it sets the delay.
    attempt: u32,
    /// Opens that failed since the last one that did not.
    failed: u32,
}

impl Tries {
    /// The connection was lost after it stayed open for `up`: one that
    /// stayed up for the longest delay starts the delays again.
    fn lost(&mut self, up: Duration, backoff: &Backoff) {
        if up >= backoff.max {
            self.attempt = 0;
        }
    }

    /// The next attempt's number, or `None` if no more are allowed.
    fn next(&mut self, backoff: &Backoff) -> Option<u32> {
        if backoff.attempts.is_some_and(|n| self.failed >= n) {
            return None;
        }
        self.attempt = self.attempt.saturating_add(1);
        Some(self.attempt)
    }

    /// The attempt failed to open the connection.
    fn failed(&mut self) {
        self.failed = self.failed.saturating_add(1);
    }

    /// The attempt opened the connection.
    fn opened(&mut self) {
        self.failed = 0;
    }
}

/// Where a [`Reconnecting`] connection stands.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ConnectionState {
    /// Open; `generation` counts the connections opened, from 1.
    Connected {
        /// Which connection this is.
        generation: u64,
    },
    /// Lost, and being opened again.
    Reconnecting {
        /// The attempt under way (from 1).
        attempt: u32,
        /// What ended the connection, or why the last attempt failed
        /// (refused credentials included: they are tried again too).
        cause: ClientError,
    },
    /// Over for good: [`ClientError::Closed`] after
    /// [`Reconnecting::close`] (or [`Client::close`] on a connection it
    /// handed out), otherwise why the last attempt failed when
    /// [`Backoff::with_attempts`] ran out or the URI cannot work
    /// ([`ClientError::Uri`]).
    Ended(ClientError),
}

/// What the supervising task publishes.
#[derive(Debug, Clone)]
struct Link {
    /// The open connection, while [`ConnectionState::Connected`].
    client: Option<Client>,
    state: ConnectionState,
}

/// A connection to one URI that is opened again whenever it is lost;
/// cheap to clone, every clone sharing it. It ends when
/// [`close`](Reconnecting::close) is called or when the last clone and the
/// last [`Resubscribing`] stream are dropped, which also closes the
/// connection handed out last.
///
/// ```no_run
/// # async fn demo() -> Result<(), libvirt_proto::client::ClientError> {
/// use libvirt_proto::api::DomainEventID;
/// use libvirt_proto::client::{Backoff, ConnectOptions, Reconnecting, Resumed};
///
/// let conn =
///     Reconnecting::connect("qemu:///system", ConnectOptions::default(), Backoff::default())
///         .await?;
/// // Lifecycle events, on whichever connection is open.
/// let mut events = conn
///     .resubscribing(|client| async move {
///         client.domain_events(DomainEventID::LIFECYCLE, None).await
///     })
///     .await?;
/// while let Some(item) = events.next().await {
///     match item? {
///         Resumed::Event(event) => println!("{event:?}"),
///         Resumed::Disconnected(why) => eprintln!("connection lost: {why}"),
///         // Events of the time between were missed: look again.
///         Resumed::Reconnected => {
///             let client = conn.connected().await?;
///             println!("{} domains", client.connect_num_of_domains().await?);
///         }
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Reconnecting {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    link: watch::Receiver<Link>,
    /// Dropped (or sent) to stop the supervising task.
    stop: watch::Sender<bool>,
}

/// How long closing waits for the daemon's answer to `CONNECT_CLOSE`
/// before it ends the connection without it.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

impl Reconnecting {
    /// Opens `uri` (read as [`Client::connect_with`] reads it) and keeps
    /// it open. The first connection's failure is returned as it is, not
    /// retried: a wrong URI or refused credentials show at once.
    pub async fn connect(
        uri: &str,
        options: ConnectOptions,
        backoff: Backoff,
    ) -> Result<Reconnecting, ClientError> {
        let client = Client::connect_with(uri, options.clone()).await?;
        let (link_tx, link) = watch::channel(Link {
            client: Some(client.clone()),
            state: ConnectionState::Connected { generation: 1 },
        });
        let (stop, stop_rx) = watch::channel(false);
        tokio::spawn(supervise(
            Supervisor {
                uri: client.reopen_name().to_owned(),
                // The name is resolved: an alias is not looked up again.
                options: options.with_aliases(false),
                backoff,
                link: link_tx,
                stop: stop_rx,
            },
            client,
        ));
        Ok(Reconnecting {
            inner: Arc::new(Inner { link, stop }),
        })
    }

    /// Where the connection stands now.
    pub fn state(&self) -> ConnectionState {
        let link = self.inner.link.borrow();
        match &link.state {
            ConnectionState::Ended(_) => link.state.clone(),
            // The supervising task is gone without a word: its runtime
            // shut down.
            _ if self.inner.link.has_changed().is_err() => {
                ConnectionState::Ended(ClientError::Closed)
            }
            state => state.clone(),
        }
    }

    /// The states as they change, starting from the present one.
    pub fn watch(&self) -> StateWatch {
        let mut rx = self.inner.link.clone();
        rx.mark_changed();
        StateWatch { rx }
    }

    /// The open connection, if there is one now. See
    /// [`connected`](Self::connected) for what it is and is not.
    pub fn client(&self) -> Option<Client> {
        let link = self.inner.link.borrow();
        link.client.clone().filter(|c| !c.is_closed())
    }

    /// The open connection, waiting for one while it is being opened
    /// again; the error that ended it for good once it has
    /// ([`ConnectionState::Ended`]).
    ///
    /// The [`Client`] is that one connection: when it is lost, its calls
    /// fail and a new one is to be asked for. Closing it
    /// ([`Client::close`]) ends the `Reconnecting` for good, for every
    /// clone; it is also closed once every `Reconnecting` handle is gone.
    pub async fn connected(&self) -> Result<Client, ClientError> {
        self.connected_after(0).await.map(|(client, _)| client)
    }

    /// The open connection of a generation after `seen`, and its
    /// generation.
    async fn connected_after(&self, seen: u64) -> Result<(Client, u64), ClientError> {
        let mut rx = self.inner.link.clone();
        loop {
            {
                let link = rx.borrow_and_update();
                match (&link.state, &link.client) {
                    (ConnectionState::Ended(e), _) => return Err(e.clone()),
                    (ConnectionState::Connected { generation }, Some(client))
                        if *generation > seen && !client.is_closed() =>
                    {
                        return Ok((client.clone(), *generation));
                    }
                    _ => {}
                }
            }
            // Gone without `Ended`: its runtime shut down.
            if rx.changed().await.is_err() {
                return Err(ClientError::Closed);
            }
        }
    }

    /// Events of a subscription that `subscribe` makes on the connection
    /// (for example `|client| async move { client.domain_events(id,
    /// None).await }`), and makes again on each new one. The first is made
    /// before this returns (waiting for a connection while there is none)
    /// and its refusal returned: events after that are not missed. See
    /// [`Resumed`] for what the stream gives.
    pub async fn resubscribing<F, Fut, S, T>(
        &self,
        subscribe: F,
    ) -> Result<Resubscribing<S>, ClientError>
    where
        F: Fn(Client) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<S, ClientError>> + Send + 'static,
        S: Stream<Item = Result<T, ClientError>> + Unpin + Send + 'static,
    {
        let subscribe: Subscribe<S> = Arc::new(move |client| Box::pin(subscribe(client)));
        let (stream, generation) = subscription(self.clone(), subscribe.clone(), 0).await?;
        Ok(Resubscribing {
            conn: self.clone(),
            subscribe,
            generation,
            state: SubState::Live(stream),
        })
    }

    /// Ends the connection for good and stops opening it again: the open
    /// connection is closed (with `CONNECT_CLOSE`, given up after a few
    /// seconds without an answer), and every clone then gets
    /// [`ClientError::Closed`], or the error that had ended it already.
    pub async fn close(&self) {
        let _ = self.inner.stop.send(true);
        // The supervising task ends once the connection is closed, and
        // with it the watch's sender.
        let mut rx = self.inner.link.clone();
        while rx.changed().await.is_ok() {}
    }
}

/// The states of a [`Reconnecting`] connection as they change.
#[derive(Debug)]
pub struct StateWatch {
    rx: watch::Receiver<Link>,
}

impl StateWatch {
    /// The state once it has changed since the last call (the first call
    /// gives the present one at once). States that follow one another
    /// faster than they are asked for are seen only as the last of them.
    /// `None` once the connection has ended for good and that was given.
    pub async fn changed(&mut self) -> Option<ConnectionState> {
        self.rx.changed().await.ok()?;
        Some(self.rx.borrow_and_update().state.clone())
    }
}

/// What the supervising task needs.
struct Supervisor {
    /// What [`Client::reopen_name`] gave.
    uri: String,
    options: ConnectOptions,
    backoff: Backoff,
    link: watch::Sender<Link>,
    stop: watch::Receiver<bool>,
}

impl Supervisor {
    fn publish(&self, client: Option<Client>, state: ConnectionState) {
        self.link.send_replace(Link { client, state });
    }

    /// Resolves when the connection is to end for good: `close`, or every
    /// handle dropped.
    async fn stopped(&mut self) {
        let _ = self.stop.wait_for(|stop| *stop).await;
    }

    /// Ends it all: `Ended(Closed)` first, so that nobody is handed the
    /// connection while it closes.
    async fn close(&self, client: Option<Client>) {
        self.publish(None, ConnectionState::Ended(ClientError::Closed));
        if let Some(client) = client {
            if tokio::time::timeout(CLOSE_GRACE, client.close())
                .await
                .is_err()
            {
                client.shutdown().await;
            }
        }
    }
}

/// Whether opening again cannot help, or is not wanted: a `Client`
/// handed out was closed.
fn is_permanent(e: &ClientError) -> bool {
    matches!(e, ClientError::Uri(_) | ClientError::Closed)
}

/// Watches `client` and opens the connection again when it is lost.
async fn supervise(mut sup: Supervisor, mut client: Client) {
    let mut generation = 1;
    let mut tries = Tries::default();
    loop {
        let opened_at = tokio::time::Instant::now();
        let mut cause = tokio::select! {
            biased;
            () = sup.stopped() => return sup.close(Some(client)).await,
            why = client.closed() => why,
        };
        drop(client);
        tries.lost(opened_at.elapsed(), &sup.backoff);
        client = loop {
            let next = tries.next(&sup.backoff).filter(|_| !is_permanent(&cause));
            let Some(attempt) = next else {
                sup.publish(None, ConnectionState::Ended(cause));
                return;
            };
            super::trace::reconnecting(&sup.uri, attempt, &cause);
            sup.publish(
                None,
                ConnectionState::Reconnecting {
                    attempt,
                    cause: cause.clone(),
                },
            );
            let (uri, options) = (sup.uri.clone(), sup.options.clone());
            let delay = sup.backoff.delay(attempt);
            let open = async move {
                tokio::time::sleep(delay).await;
                Client::connect_with(&uri, options).await
            };
            let opened = tokio::select! {
                biased;
                () = sup.stopped() => return sup.close(None).await,
                opened = open => opened,
            };
            match opened {
                Ok(client) => {
                    tries.opened();
                    break client;
                }
                Err(e) => {
                    tries.failed();
                    cause = e;
                }
            }
        };
        generation += 1;
        sup.publish(
            Some(client.clone()),
            ConnectionState::Connected { generation },
        );
    }
}

/// What [`Resubscribing`] gives.
#[derive(Debug)]
pub enum Resumed<T> {
    /// An event.
    Event(T),
    /// The connection was lost: events from now until
    /// [`Resumed::Reconnected`] are missed.
    Disconnected(ClientError),
    /// Subscribed again on a new connection. What the missed events
    /// would have said is for the caller to look up.
    Reconnected,
}

type Subscription<S> = Pin<Box<dyn Future<Output = Result<(S, u64), ClientError>> + Send>>;
type Subscribe<S> = Arc<
    dyn Fn(Client) -> Pin<Box<dyn Future<Output = Result<S, ClientError>> + Send>> + Send + Sync,
>;

/// A subscription that [`Reconnecting`] makes again on each connection
/// (from [`Reconnecting::resubscribing`]). It ends after the connection
/// does for good, the last item being why; a subscription the daemon
/// refuses ends it the same way, with the daemon's error (one that got no
/// answer in time is tried again). A subscription's stream that ends
/// while its connection is open ends this one too. Dropping the
/// future of [`next`](Self::next) loses nothing (it is cancel-safe): a
/// subscription under way is kept by the stream.
pub struct Resubscribing<S> {
    conn: Reconnecting,
    subscribe: Subscribe<S>,
    /// The generation of the connection subscribed on.
    generation: u64,
    state: SubState<S>,
}

enum SubState<S> {
    Subscribing(Subscription<S>),
    Live(S),
    Done,
}

impl<S> std::fmt::Debug for Resubscribing<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resubscribing")
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

/// Subscribes on the first connection of a generation after `seen`.
async fn subscription<S>(
    conn: Reconnecting,
    subscribe: Subscribe<S>,
    mut seen: u64,
) -> Result<(S, u64), ClientError> {
    loop {
        let (client, generation) = conn.connected_after(seen).await?;
        match subscribe(client).await {
            Ok(stream) => return Ok((stream, generation)),
            // Lost again before the subscription was made.
            Err(ClientError::ConnectionLost(_)) => seen = generation,
            // No answer in time: again, on whichever connection is open.
            Err(ClientError::Timeout(_)) => seen = generation - 1,
            Err(e) => return Err(e),
        }
    }
}

impl<S, T> Resubscribing<S>
where
    S: Stream<Item = Result<T, ClientError>> + Unpin + Send + 'static,
{
    /// The next item; `None` after the connection has ended for good.
    pub async fn next(&mut self) -> Option<Result<Resumed<T>, ClientError>> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    /// The subscription on the present connection, while there is one
    /// (for its [`EventStream::lost`](super::EventStream::lost) count or
    /// callback id).
    pub fn current(&self) -> Option<&S> {
        match &self.state {
            SubState::Live(stream) => Some(stream),
            _ => None,
        }
    }
}

impl<S, T> Stream for Resubscribing<S>
where
    S: Stream<Item = Result<T, ClientError>> + Unpin + Send + 'static,
{
    type Item = Result<Resumed<T>, ClientError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            match &mut this.state {
                SubState::Done => return Poll::Ready(None),
                SubState::Subscribing(subscribing) => {
                    match std::task::ready!(subscribing.as_mut().poll(cx)) {
                        Ok((stream, generation)) => {
                            this.generation = generation;
                            this.state = SubState::Live(stream);
                            return Poll::Ready(Some(Ok(Resumed::Reconnected)));
                        }
                        Err(e) => {
                            this.state = SubState::Done;
                            return Poll::Ready(Some(Err(e)));
                        }
                    }
                }
                SubState::Live(stream) => {
                    let lost = match std::task::ready!(Pin::new(stream).poll_next(cx)) {
                        Some(Ok(event)) => return Poll::Ready(Some(Ok(Resumed::Event(event)))),
                        Some(Err(e @ ClientError::ConnectionLost(_))) => Some(e),
                        // Closed for good: subscribing again says why.
                        Some(Err(ClientError::Closed)) => None,
                        Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                        // An event stream gives its connection's end
                        // before it ends: this one ended of its own.
                        None => {
                            this.state = SubState::Done;
                            return Poll::Ready(None);
                        }
                    };
                    let again =
                        subscription(this.conn.clone(), this.subscribe.clone(), this.generation);
                    this.state = SubState::Subscribing(Box::pin(again));
                    if let Some(e) = lost {
                        return Poll::Ready(Some(Ok(Resumed::Disconnected(e))));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_max_between_half_and_all() {
        let b = Backoff::default()
            .with_initial(Duration::from_millis(100))
            .with_max(Duration::from_secs(1));
        for (attempt, full) in [
            (1, 100),
            (2, 200),
            (3, 400),
            (4, 800),
            (5, 1000),
            (40, 1000),
        ] {
            let full = Duration::from_millis(full);
            for _ in 0..50 {
                let d = b.delay(attempt);
                assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
            }
        }
        // Not one fixed value: the delays are spread.
        let seen: std::collections::HashSet<_> = (0..50).map(|_| b.delay(3)).collect();
        assert!(seen.len() > 1);
        // Never nothing: a gone daemon is not a busy loop.
        let zero = Backoff::default()
            .with_initial(Duration::ZERO)
            .with_max(Duration::ZERO);
        assert!(zero.delay(7) >= MIN_BACKOFF_DELAY);
        assert!(zero.delay(1) >= MIN_BACKOFF_DELAY);
    }

    #[test]
    fn each_loss_gets_an_attempt_and_failures_in_a_row_end_it() {
        let b = Backoff::default()
            .with_initial(Duration::from_millis(100))
            .with_max(Duration::from_secs(1))
            .with_attempts(2);
        let mut t = Tries::default();
        t.lost(Duration::from_secs(60), &b);
        assert_eq!(t.next(&b), Some(1));
        t.failed();
        assert_eq!(t.next(&b), Some(2));
        t.opened();
        // Lost again at once: the delays go on growing, and the loss
        // still gets its attempts.
        t.lost(Duration::from_millis(5), &b);
        assert_eq!(t.next(&b), Some(3));
        t.failed();
        assert_eq!(t.next(&b), Some(4));
        t.failed();
        assert_eq!(t.next(&b), None);
        // Up for the longest delay: the delays start again.
        let mut t = Tries::default();
        t.next(&b);
        t.opened();
        t.lost(Duration::from_secs(1), &b);
        assert_eq!(t.next(&b), Some(1));
        // No attempts allowed: none made.
        let none = b.with_attempts(0);
        assert_eq!(Tries::default().next(&none), None);
    }
}
