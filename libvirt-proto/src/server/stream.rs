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
    /// A hole of this many bytes (sparse streams).
    Hole(i64),
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

/// Why [`ServerStream::hole`] sent nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HoleError {
    /// The call did not ask for a sparse stream: holes may not travel.
    NotSparse,
    /// Longer than libvirt's hole length (a signed 64-bit count) holds.
    TooLarge(u64),
    /// The stream's end is gone (see [`StreamClosed`]).
    Closed,
}

impl std::fmt::Display for HoleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HoleError::NotSparse => f.write_str("the stream is not sparse: holes may not travel"),
            HoleError::TooLarge(n) => write!(f, "a hole of {n} bytes is too large"),
            HoleError::Closed => std::fmt::Display::fmt(&StreamClosed, f),
        }
    }
}

impl std::error::Error for HoleError {}

impl From<StreamClosed> for HoleError {
    fn from(_: StreamClosed) -> Self {
        HoleError::Closed
    }
}

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
///
/// A volume transfer asked for with its `SPARSE_STREAM` flag is
/// [sparse](Self::is_sparse): a download may send [holes](Self::hole)
/// for runs of zeros, and an upload brings the client's as
/// [`ClientStreamEvent::Hole`].
#[derive(Debug)]
pub struct ServerStream {
    out: mpsc::Sender<StreamOut>,
    inbound: mpsc::Receiver<ClientStreamEvent>,
    sparse: bool,
}

/// The connection's end of a stream.
#[derive(Debug)]
pub(super) struct StreamSlot {
    pub(super) out: mpsc::Receiver<StreamOut>,
    pub(super) inbound: mpsc::Sender<ClientStreamEvent>,
    /// The client has finished: the service's finish may answer it.
    pub(super) client_finished: bool,
}

/// A stream and the connection's end of it; `sparse`: holes may travel.
pub(super) fn pair(sparse: bool) -> (ServerStream, StreamSlot) {
    let (out_tx, out_rx) = mpsc::channel(STREAM_QUEUE);
    let (in_tx, in_rx) = mpsc::channel(STREAM_QUEUE);
    (
        ServerStream {
            out: out_tx,
            inbound: in_rx,
            sparse,
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

    /// Whether holes may travel: the call asked for a sparse stream.
    pub fn is_sparse(&self) -> bool {
        self.sparse
    }

    /// Sends a hole of `length` bytes, after the data sent before it: a
    /// run of zeros the client skips instead of receiving (on a sparse
    /// download). A stream that is not [sparse](Self::is_sparse) gives
    /// [`HoleError::NotSparse`] and stays as it was.
    pub async fn hole(&mut self, length: u64) -> Result<(), HoleError> {
        if !self.sparse {
            return Err(HoleError::NotSparse);
        }
        let length = i64::try_from(length).map_err(|_| HoleError::TooLarge(length))?;
        Ok(self.put(StreamOut::Hole(length)).await?)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn holes_only_where_they_may_travel() {
        let (mut plain, _slot) = pair(false);
        assert_eq!(plain.hole(1).await, Err(HoleError::NotSparse));

        let (mut sparse, mut slot) = pair(true);
        assert_eq!(
            sparse.hole(u64::MAX).await,
            Err(HoleError::TooLarge(u64::MAX))
        );
        sparse.hole(4096).await.unwrap();
        assert!(matches!(slot.out.try_recv(), Ok(StreamOut::Hole(4096))));
        assert!(
            slot.out.try_recv().is_err(),
            "a refused hole queues nothing"
        );
        drop(slot);
        assert_eq!(sparse.hole(1).await, Err(HoleError::Closed));
    }
}
