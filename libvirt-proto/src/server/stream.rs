//! A byte stream of a call, on the server's side: [`ServerStream`], given
//! to [`Service::call_stream`](super::Service::call_stream), and what the
//! connection keeps of it.
//!
//! Both directions are bounded: what the service sends waits in a queue
//! of [`STREAM_QUEUE`] packets (and is taken only while the client's
//! output is under [`OUTPUT_THROTTLE`](crate::engine::OUTPUT_THROTTLE)),
//! and what the client sends waits in one of [`STREAM_QUEUE`] packets,
//! past which the connection stops reading until the service takes some.

use tokio::sync::mpsc;

use crate::engine::ClientStreamEvent;
use crate::error::RemoteError;
use crate::generated::virnet;

/// The largest packet of data sent: libvirt's.
pub const STREAM_PACKET: usize = virnet::MESSAGE_LEGACY_PAYLOAD_MAX as usize;

/// Packets waiting in each direction of a stream.
pub const STREAM_QUEUE: usize = 8;

/// What the service does on the stream.
#[derive(Debug)]
pub(super) enum StreamOut {
    Data(Vec<u8>),
    /// No more data (read streams): the client finishes next.
    End,
    /// The answer to the client's finish: the stream is over.
    Finish,
    Abort(RemoteError),
}

/// The stream's end is gone: the client's connection ended, or the
/// stream was finished or aborted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamClosed;

impl std::fmt::Display for StreamClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the stream is closed")
    }
}

impl std::error::Error for StreamClosed {}

/// The byte stream a call opens (`@readstream` procedures send, such as
/// `DOMAIN_SCREENSHOT` and `STORAGE_VOL_DOWNLOAD`; `@writestream` ones
/// receive, such as `STORAGE_VOL_UPLOAD`). Nothing goes out before the
/// call's reply, so a service may start sending before it answers (from
/// a task of its own: the queue is short).
///
/// libvirt's order: for a read stream, [`send`](Self::send) the data,
/// then [`end`](Self::end); the client then finishes, which
/// [`recv`](Self::recv) gives as [`ClientStreamEvent::Finish`], and
/// [`finish`](Self::finish) answers it. For a write stream,
/// [`recv`](Self::recv) the data until the client's `Finish`, then
/// [`finish`](Self::finish). Either side may abort instead
/// ([`abort`](Self::abort); the client's is [`ClientStreamEvent::Abort`]).
/// A stream dropped before it is finished or aborted is aborted with an
/// error.
#[derive(Debug)]
pub struct ServerStream {
    out: mpsc::Sender<StreamOut>,
    inbound: mpsc::Receiver<ClientStreamEvent>,
}

/// The connection's end of a stream.
#[derive(Debug)]
pub(super) struct StreamSlot {
    pub(super) out: mpsc::Receiver<StreamOut>,
    pub(super) inbound: mpsc::Sender<ClientStreamEvent>,
    /// The client has finished: the service's finish may answer it.
    pub(super) client_finished: bool,
}

/// A stream and the connection's end of it.
pub(super) fn pair() -> (ServerStream, StreamSlot) {
    let (out_tx, out_rx) = mpsc::channel(STREAM_QUEUE);
    let (in_tx, in_rx) = mpsc::channel(STREAM_QUEUE);
    (
        ServerStream {
            out: out_tx,
            inbound: in_rx,
        },
        StreamSlot {
            out: out_rx,
            inbound: in_tx,
            client_finished: false,
        },
    )
}

impl ServerStream {
    /// Sends `data`, in packets of at most [`STREAM_PACKET`] bytes,
    /// waiting while [`STREAM_QUEUE`] packets wait to be written. Empty
    /// data sends nothing (the end of data is [`end`](Self::end)).
    pub async fn send(&mut self, data: &[u8]) -> Result<(), StreamClosed> {
        for packet in data.chunks(STREAM_PACKET) {
            self.put(StreamOut::Data(packet.to_vec())).await?;
        }
        Ok(())
    }

    /// Says there is no more data (a read stream): the client finishes
    /// next.
    pub async fn end(&mut self) -> Result<(), StreamClosed> {
        self.put(StreamOut::End).await
    }

    /// Answers the client's finish: the stream is over.
    pub async fn finish(self) -> Result<(), StreamClosed> {
        self.out
            .send(StreamOut::Finish)
            .await
            .map_err(|_| StreamClosed)
    }

    /// Ends the stream with `error`, which the client gets.
    pub async fn abort(self, error: RemoteError) -> Result<(), StreamClosed> {
        self.out
            .send(StreamOut::Abort(error))
            .await
            .map_err(|_| StreamClosed)
    }

    /// What the client did next: data and its finish on a write stream,
    /// its finish after [`end`](Self::end) on a read stream, or its
    /// abort; `None` once the stream or the connection is over.
    pub async fn recv(&mut self) -> Option<ClientStreamEvent> {
        self.inbound.recv().await
    }

    async fn put(&mut self, item: StreamOut) -> Result<(), StreamClosed> {
        self.out.send(item).await.map_err(|_| StreamClosed)
    }
}
