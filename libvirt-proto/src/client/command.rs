//! What callers and the driver task hand each other: commands, replies,
//! stream traffic with its flow control, and event subscribers.
//!
//! This module depends on nothing else in `client/` but the error type, so
//! `driver`, `events` and `stream` each build on it without importing one
//! another in a circle.

use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use std::task::{ready, Context, Poll, Waker};

use tokio::sync::{mpsc, oneshot, Notify};
use xdrgen::rt::StreamDirection;

use super::event_family::EventFamily;
use super::ClientError;
use crate::dispatch::Message;
use crate::frame::{BodyPool, FrameBuf};

/// Sends commands to the driver.
pub(crate) type Commands = mpsc::UnboundedSender<Command>;

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
    /// The stream the call opens, and where its traffic goes.
    pub(crate) stream: Option<(StreamDirection, StreamInbox)>,
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
    /// A stream's writer has gathered data for the driver to take.
    StreamKick(u32),
    /// A hole, after the data gathered before it has been taken.
    StreamHole {
        serial: u32,
        length: i64,
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
    /// This side is closing the connection (its closing call follows):
    /// however the connection then ends, that end is [`ClientError::Closed`].
    Closing,
    Close(oneshot::Sender<()>),
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Command::Call(_) => "Call",
            Command::Abandon(_) => "Abandon",
            Command::StreamKick(_) => "StreamKick",
            Command::StreamHole { .. } => "StreamHole",
            Command::StreamFinish { .. } => "StreamFinish",
            Command::StreamAbort(_) => "StreamAbort",
            Command::Subscribe(_) => "Subscribe",
            Command::Unsubscribe { .. } => "Unsubscribe",
            Command::Closing => "Closing",
            Command::Close(_) => "Close",
        })
    }
}

/// What the driver hands a stream.
#[derive(Debug)]
pub(crate) enum StreamMsg {
    Data(Vec<u8>),
    Hole(i64),
    /// The daemon has no more data.
    Eof,
    /// The stream is finished on both sides.
    End,
    Failed(ClientError),
}

impl StreamMsg {
    /// What the message counts against the receive buffer: its bytes, and
    /// a small fixed cost for the others, so that a flood of holes is
    /// bounded too.
    pub(crate) fn cost(&self) -> usize {
        match self {
            StreamMsg::Data(d) => d.len().max(MESSAGE_COST),
            _ => MESSAGE_COST,
        }
    }
}

/// The receive-buffer cost of a message without data.
const MESSAGE_COST: usize = 64;

/// The driver's end of a stream: where received traffic goes, and where
/// the writer's data is taken from.
#[derive(Debug)]
pub(crate) struct StreamInbox {
    tx: mpsc::UnboundedSender<StreamMsg>,
    shared: Arc<StreamShared>,
}

/// The handle's end of a stream.
#[derive(Debug)]
pub(crate) struct StreamLink {
    rx: mpsc::UnboundedReceiver<StreamMsg>,
    shared: Arc<StreamShared>,
}

/// What a stream's handle and the driver share: flow control both ways.
#[derive(Debug)]
struct StreamShared {
    /// Cost of the messages queued and not yet taken by the reader.
    queued: AtomicUsize,
    /// The reader's limit on `queued`.
    limit: usize,
    /// The connection's wake-up for a driver that stopped reading.
    drained: Arc<Notify>,
    /// Set with `failure` when the stream has failed, for a writer that
    /// does not read the messages.
    failed: AtomicBool,
    failure: Mutex<Option<ClientError>>,
    send: Mutex<SendState>,
    /// The connection's buffers for received data, given back once read.
    pool: BodyPool,
}

/// The writing side: data gathered into the next packet, and the packets
/// waiting in the driver's outbox.
#[derive(Debug, Default)]
struct SendState {
    gathered: FrameBuf,
    /// Written packets' allocations, for the next packets: a fresh one
    /// per packet would have the allocator return it to the kernel and
    /// fault it back in, page by page, for every packet.
    spares: Vec<Vec<u8>>,
    in_outbox: usize,
    /// A writer waiting for room, or for everything to be written out.
    writer: Option<Waker>,
}

impl SendState {
    fn wake_writer(&mut self) {
        if let Some(w) = self.writer.take() {
            w.wake();
        }
    }
}

/// A stream's traffic channel with a receive buffer of `limit` bytes;
/// `drained` is the connection's (see [`StreamInbox::is_full`]), and so is
/// `pool`, where the data's buffers go back once read.
pub(crate) fn stream_channel(
    limit: usize,
    drained: Arc<Notify>,
    pool: BodyPool,
) -> (StreamInbox, StreamLink) {
    let (tx, rx) = mpsc::unbounded_channel();
    let shared = Arc::new(StreamShared {
        queued: AtomicUsize::new(0),
        limit,
        drained,
        failed: AtomicBool::new(false),
        failure: Mutex::new(None),
        send: Mutex::new(SendState::default()),
        pool,
    });
    (
        StreamInbox {
            tx,
            shared: shared.clone(),
        },
        StreamLink { rx, shared },
    )
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Nothing panics while holding these locks; a poisoned one is usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Written packets' allocations a stream keeps for its next ones: as
/// many as a send window holds, since one write may finish them all.
const MAX_SPARES: usize = 4;

/// Held by a stream packet in the driver's outbox; dropped once the packet
/// is written out (or the connection ends), which lets its writer go on.
pub(crate) struct PacketToken(Arc<StreamShared>);

impl PacketToken {
    /// Hands the written packet's bytes back for the stream's next
    /// packets; up to [`MAX_SPARES`] are kept.
    pub(crate) fn recycle(&self, bytes: Vec<u8>) {
        let mut s = lock(&self.0.send);
        if s.spares.len() < MAX_SPARES {
            s.spares.push(bytes);
        }
    }
}

impl Drop for PacketToken {
    fn drop(&mut self) {
        let mut s = lock(&self.0.send);
        s.in_outbox -= 1;
        s.wake_writer();
    }
}

impl StreamInbox {
    /// Queues `msg` for the reader; false when the reader is gone.
    pub(crate) fn send(&self, msg: StreamMsg) -> bool {
        if let StreamMsg::Failed(e) = &msg {
            *lock(&self.shared.failure) = Some(e.clone());
            self.shared.failed.store(true, Ordering::Release);
            lock(&self.shared.send).wake_writer();
        }
        let cost = msg.cost();
        self.shared.queued.fetch_add(cost, Ordering::AcqRel);
        if self.tx.send(msg).is_err() {
            self.shared.queued.fetch_sub(cost, Ordering::AcqRel);
            return false;
        }
        true
    }

    /// Whether the reader is behind by its whole buffer: the driver then
    /// stops reading the transport until the reader has caught up by half
    /// of it ([`StreamInbox::has_room`], and notifies the connection's
    /// `drained`), so that reading resumes in large steps.
    pub(crate) fn is_full(&self) -> bool {
        self.shared.queued.load(Ordering::Acquire) >= self.shared.limit
    }

    /// Whether the reader is less than half its buffer behind.
    pub(crate) fn has_room(&self) -> bool {
        self.shared.queued.load(Ordering::Acquire) < self.shared.limit / 2
    }

    /// The writer's next packet, when one is due: a full one (of `full`
    /// bytes) while fewer than `window` packets wait in the outbox, or
    /// whatever was gathered once the outbox holds none of this stream's.
    /// Under load packets are therefore full, while on an idle connection
    /// a small write goes out at once.
    pub(crate) fn take_packet(
        &self,
        full: usize,
        window: usize,
    ) -> Option<(FrameBuf, PacketToken)> {
        let mut s = lock(&self.shared.send);
        let due = (s.gathered.len() >= full && s.in_outbox < window)
            || (!s.gathered.is_empty() && s.in_outbox == 0);
        if !due {
            return None;
        }
        let packet = std::mem::take(&mut s.gathered);
        s.in_outbox += 1;
        s.wake_writer();
        Some((packet, PacketToken(self.shared.clone())))
    }
}

impl StreamLink {
    /// The next message, taken off the receive buffer.
    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<StreamMsg>> {
        let msg = ready!(self.rx.poll_recv(cx));
        if let Some(m) = &msg {
            let cost = m.cost();
            let before = self.shared.queued.fetch_sub(cost, Ordering::AcqRel);
            let low = self.shared.limit / 2;
            if before >= low && before - cost < low {
                self.shared.drained.notify_one();
            }
        }
        Poll::Ready(msg)
    }

    /// Where received data's buffers go once read, for the connection to
    /// receive more data into.
    pub(crate) fn pool(&self) -> &BodyPool {
        &self.shared.pool
    }

    /// Why the stream failed, if it has (the daemon's error or the end of
    /// the connection), without taking any message.
    pub(crate) fn failure(&self) -> Option<ClientError> {
        if !self.shared.failed.load(Ordering::Acquire) {
            return None;
        }
        lock(&self.shared.failure).clone()
    }

    /// Gathers some of `data` into the next packet of at most `full`
    /// bytes: `Ready((n, kick))` with the bytes taken and whether the
    /// driver must be told there is data (the packet was empty), `Pending`
    /// while the packet is full and the driver has not taken it, and
    /// `Ready((0, false))` if the stream has failed meanwhile.
    pub(crate) fn poll_gather(
        &self,
        cx: &mut Context<'_>,
        data: &[u8],
        full: usize,
    ) -> Poll<(usize, bool)> {
        let mut s = lock(&self.shared.send);
        if s.gathered.len() >= full {
            // Checked under the lock the driver takes to wake the writer
            // after it set the flag, so that neither misses the other.
            if self.shared.failed.load(Ordering::Acquire) {
                return Poll::Ready((0, false));
            }
            s.writer = Some(cx.waker().clone());
            return Poll::Pending;
        }
        if s.gathered.capacity() < full {
            let mut bigger = s
                .spares
                .pop()
                .map(FrameBuf::reuse)
                .filter(|b| b.capacity() >= full)
                .unwrap_or_else(|| FrameBuf::with_capacity(full));
            bigger.extend_from_slice(s.gathered.body());
            s.gathered = bigger;
        }
        let kick = s.gathered.is_empty();
        let n = data.len().min(full - s.gathered.len());
        s.gathered.extend_from_slice(&data[..n]);
        Poll::Ready((n, kick))
    }

    /// Ready once the driver has taken everything gathered (so a hole or
    /// the finish queued now goes after it); with `written`, once every
    /// packet has also been written out; at once if the stream failed.
    pub(crate) fn poll_sent(&self, cx: &mut Context<'_>, written: bool) -> Poll<()> {
        let mut s = lock(&self.shared.send);
        let failed = self.shared.failed.load(Ordering::Acquire);
        if failed || (s.gathered.is_empty() && (!written || s.in_outbox == 0)) {
            return Poll::Ready(());
        }
        s.writer = Some(cx.waker().clone());
        Poll::Pending
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Filter {
    All,
    /// Set once the registration's reply gives the id.
    Family(EventFamily),
    Callback(EventFamily, i32),
}

/// The driver's side of an [`EventStream`](super::EventStream).
#[derive(Debug)]
pub(crate) struct Subscriber {
    pub(crate) id: u64,
    pub(crate) filter: Filter,
    /// Events with their size on the wire, or the connection's end.
    pub(crate) tx: mpsc::Sender<Result<(Message, usize), ClientError>>,
    /// Bytes of events queued and not yet taken (see
    /// [`EVENT_BUFFER_BYTES`](super::EVENT_BUFFER_BYTES)).
    pub(crate) queued: Arc<AtomicUsize>,
    pub(crate) lost: Arc<AtomicU64>,
    /// Set when the stream has ended with an error already.
    pub(crate) failed: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gather(link: &StreamLink, data: &[u8], full: usize) -> Poll<(usize, bool)> {
        link.poll_gather(&mut Context::from_waker(Waker::noop()), data, full)
    }

    #[test]
    fn packets_are_full_under_load_and_immediate_when_idle() {
        let (inbox, link) = stream_channel(1024, Default::default(), Default::default());
        // Idle: the first bytes are due at once, and the driver is kicked.
        assert_eq!(gather(&link, b"abc", 8), Poll::Ready((3, true)));
        let (p1, t1) = inbox.take_packet(8, 2).unwrap();
        assert_eq!(p1.body(), b"abc");
        // One packet in the outbox: a partial one waits...
        assert_eq!(gather(&link, b"defg", 8), Poll::Ready((4, true)));
        assert!(inbox.take_packet(8, 2).is_none());
        // ...until full; a full one goes while the window has room.
        assert_eq!(gather(&link, b"hijklm", 8), Poll::Ready((4, false)));
        assert!(
            gather(&link, b"lm", 8).is_pending(),
            "full: the writer waits"
        );
        let (p2, t2) = inbox.take_packet(8, 2).unwrap();
        assert_eq!(p2.body(), b"defghijk");
        // Window full (2): a full packet waits for one to be written.
        assert_eq!(gather(&link, b"lmnopqrs", 8), Poll::Ready((8, true)));
        assert!(inbox.take_packet(8, 2).is_none());
        drop(t1);
        assert_eq!(inbox.take_packet(8, 2).unwrap().0.body(), b"lmnopqrs");
        drop(t2);
    }

    #[test]
    fn the_reader_buffer_fills_and_drains_with_a_notification() {
        let drained = Arc::new(Notify::new());
        let (inbox, mut link) = stream_channel(200, drained.clone(), Default::default());
        assert!(inbox.send(StreamMsg::Data(vec![0; 150])));
        assert!(!inbox.is_full());
        assert!(inbox.send(StreamMsg::Hole(5)));
        assert!(inbox.is_full(), "150 bytes and a hole's fixed cost");
        let mut cx = Context::from_waker(Waker::noop());
        assert!(matches!(
            link.poll_recv(&mut cx),
            Poll::Ready(Some(StreamMsg::Data(_)))
        ));
        assert!(!inbox.is_full());
        // The driver, waiting to read again, is woken.
        let notified = drained.notified();
        tokio::pin!(notified);
        assert!(notified.as_mut().enable(), "the drain left a permit");
    }

    #[test]
    fn a_writer_waiting_on_a_full_packet_sees_a_failure() {
        let (inbox, link) = stream_channel(1024, Default::default(), Default::default());
        assert_eq!(gather(&link, b"abcd", 4), Poll::Ready((4, true)));
        assert!(gather(&link, b"e", 4).is_pending());
        // Failed while the packet is full and never taken: the writer is
        // not left waiting for a packet to go.
        inbox.send(StreamMsg::Failed(ClientError::Closed));
        assert_eq!(gather(&link, b"e", 4), Poll::Ready((0, false)));
        let mut cx = Context::from_waker(Waker::noop());
        assert_eq!(link.poll_sent(&mut cx, true), Poll::Ready(()));
    }

    #[test]
    fn a_failure_reaches_a_writer_without_taking_messages() {
        let (inbox, mut link) = stream_channel(1024, Default::default(), Default::default());
        inbox.send(StreamMsg::Data(vec![1]));
        assert!(link.failure().is_none());
        inbox.send(StreamMsg::Failed(ClientError::Closed));
        assert!(matches!(link.failure(), Some(ClientError::Closed)));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(matches!(
            link.poll_recv(&mut cx),
            Poll::Ready(Some(StreamMsg::Data(_)))
        ));
    }
}
