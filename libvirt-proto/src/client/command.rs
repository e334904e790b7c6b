//! What callers and the driver task hand each other: commands, replies,
//! stream traffic with its flow control, and event subscribers.
//!
//! This module depends on nothing else in `client/` but the error type, so
//! `driver`, `events` and `stream` each build on it without importing one
//! another in a circle.

use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot, Notify, OwnedSemaphorePermit, Semaphore};
use xdrgen::rt::StreamDirection;

use super::error::clone_error;
use super::event_family::EventFamily;
use super::ClientError;
use crate::dispatch::Message;
use crate::frame::FrameBuf;

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

/// A packet a writer hands the driver, with its place in the writer's
/// window: the permit is released once the packet is written out.
pub(crate) struct Outgoing {
    pub(crate) serial: u32,
    pub(crate) packet: Packet,
    pub(crate) permit: OwnedSemaphorePermit,
}

/// A write stream's packet.
pub(crate) enum Packet {
    Data(FrameBuf),
    Hole(i64),
}

/// What callers ask of the driver.
pub(crate) enum Command {
    Call(CallRequest),
    /// The caller of this tag stopped waiting.
    Abandon(u64),
    StreamSend(Outgoing),
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
    Close(oneshot::Sender<()>),
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Command::Call(_) => "Call",
            Command::Abandon(_) => "Abandon",
            Command::StreamSend(_) => "StreamSend",
            Command::StreamFinish { .. } => "StreamFinish",
            Command::StreamAbort(_) => "StreamAbort",
            Command::Subscribe(_) => "Subscribe",
            Command::Unsubscribe { .. } => "Unsubscribe",
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

/// The driver's end of a stream: where received traffic goes, and how
/// much of it the reader has not taken yet.
#[derive(Debug)]
pub(crate) struct StreamInbox {
    tx: mpsc::UnboundedSender<StreamMsg>,
    flow: Arc<RecvFlow>,
}

/// The reader's end of a stream's traffic.
#[derive(Debug)]
pub(crate) struct StreamOutbox {
    rx: mpsc::UnboundedReceiver<StreamMsg>,
    flow: Arc<RecvFlow>,
}

/// Receive-side flow control of one stream.
#[derive(Debug)]
struct RecvFlow {
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
}

/// A stream's traffic channel with a receive buffer of `limit` bytes;
/// `drained` is the connection's (see [`StreamInbox::is_full`]).
pub(crate) fn stream_channel(limit: usize, drained: Arc<Notify>) -> (StreamInbox, StreamOutbox) {
    let (tx, rx) = mpsc::unbounded_channel();
    let flow = Arc::new(RecvFlow {
        queued: AtomicUsize::new(0),
        limit,
        drained,
        failed: AtomicBool::new(false),
        failure: Mutex::new(None),
    });
    (
        StreamInbox {
            tx,
            flow: flow.clone(),
        },
        StreamOutbox { rx, flow },
    )
}

impl StreamInbox {
    /// Queues `msg` for the reader; false when the reader is gone.
    pub(crate) fn send(&self, msg: StreamMsg) -> bool {
        if let StreamMsg::Failed(e) = &msg {
            if let Ok(mut f) = self.flow.failure.lock() {
                *f = Some(clone_error(e));
            }
            self.flow.failed.store(true, Ordering::Release);
        }
        let cost = msg.cost();
        self.flow.queued.fetch_add(cost, Ordering::AcqRel);
        if self.tx.send(msg).is_err() {
            self.flow.queued.fetch_sub(cost, Ordering::AcqRel);
            return false;
        }
        true
    }

    /// Whether the reader is behind by its whole buffer: the driver then
    /// stops reading the transport until the reader catches up (and
    /// notifies the connection's `drained`).
    pub(crate) fn is_full(&self) -> bool {
        self.flow.queued.load(Ordering::Acquire) >= self.flow.limit
    }
}

impl StreamOutbox {
    /// The next message, taken off the buffer.
    pub(crate) fn poll_recv(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<StreamMsg>> {
        let msg = std::task::ready!(self.rx.poll_recv(cx));
        if let Some(m) = &msg {
            self.taken(m.cost());
        }
        std::task::Poll::Ready(msg)
    }

    /// Why the stream failed, if it has (the daemon's error or the end of
    /// the connection), without taking any message.
    pub(crate) fn failure(&self) -> Option<ClientError> {
        if !self.flow.failed.load(Ordering::Acquire) {
            return None;
        }
        let f = self.flow.failure.lock().ok()?;
        f.as_ref().map(clone_error)
    }

    fn taken(&self, cost: usize) {
        let before = self.flow.queued.fetch_sub(cost, Ordering::AcqRel);
        if before >= self.flow.limit && before - cost < self.flow.limit {
            self.flow.drained.notify_one();
        }
    }
}

/// A write stream's window: how many packets may wait to be written out.
pub(crate) fn send_window(packets: usize) -> Arc<Semaphore> {
    Arc::new(Semaphore::new(packets))
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
    pub(crate) tx: mpsc::Sender<Result<Message, ClientError>>,
    pub(crate) lost: Arc<AtomicU64>,
    /// Set when the stream has ended with an error already.
    pub(crate) failed: bool,
}
