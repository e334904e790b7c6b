//! A byte stream of a call, on the server's side: [`ServerStream`], given
//! to [`Service::call_stream`](super::Service::call_stream), and what the
//! connection keeps of it.
//!
//! Both directions are bounded: what the service sends waits in a queue
//! of [`STREAM_QUEUE`] packets (and is taken only while the client's
//! output is under [`OUTPUT_THROTTLE`](crate::engine::OUTPUT_THROTTLE)),
//! and what the client sends waits in one of [`STREAM_QUEUE`] packets and
//! [`STREAM_BUFFER`] bytes, past which the connection stops reading until
//! the service takes some. A service that [gives back](ServerStream::give_back)
//! the buffers of the data it has used lets the connection receive later
//! packets into them (see [`BodyPool`]).

use std::sync::Arc;

use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore, TryAcquireError};

use crate::engine::ClientStreamEvent;
use crate::error::RemoteError;
use crate::frame::{BodyPool, FrameBuf};
use crate::generated::virnet;

/// The largest packet of data sent: libvirt's.
pub const STREAM_PACKET: usize = virnet::MESSAGE_LEGACY_PAYLOAD_MAX as usize;

/// Packets waiting in each direction of a stream.
pub const STREAM_QUEUE: usize = 8;

/// Bytes of the client's data waiting for the service on one stream
/// (2 MiB). A client's packet may be larger (up to libvirt's 32 MiB
/// message, as `virStreamSend` with a large buffer makes): it waits until
/// the queue is empty, so one such packet at most is queued, and one more
/// is held by the connection.
pub const STREAM_BUFFER: usize = STREAM_QUEUE * STREAM_PACKET;

/// What the service does on the stream.
#[derive(Debug)]
pub(super) enum StreamOut {
    /// Written with room for the message's head: sent without a copy.
    Data(FrameBuf),
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
    inbound: mpsc::Receiver<Inbound>,
    sparse: bool,
    /// The connection's spare buffers for received bodies.
    pool: BodyPool,
}

/// What the client did, with the share of [`STREAM_BUFFER`] its data
/// takes until the service receives it.
#[derive(Debug)]
pub(super) struct Inbound {
    event: ClientStreamEvent,
    _bytes: Option<OwnedSemaphorePermit>,
}

/// The connection's end of a stream.
#[derive(Debug)]
pub(super) struct StreamSlot {
    pub(super) out: mpsc::Receiver<StreamOut>,
    inbound: mpsc::Sender<Inbound>,
    /// [`STREAM_BUFFER`], less what waits in `inbound`.
    room: Arc<Semaphore>,
    /// The client has finished: the service's finish may answer it.
    pub(super) client_finished: bool,
}

/// Why the client's packet was not queued.
#[derive(Debug)]
pub(super) enum Refused {
    /// No room yet: the packet, to hold until [`StreamSlot::room_for`].
    Full(ClientStreamEvent),
    /// The service no longer reads the stream.
    Gone,
}

/// Room made for one packet on a stream's queue: [`Room::send`] queues it.
#[derive(Debug)]
pub(super) struct Room {
    place: mpsc::OwnedPermit<Inbound>,
    bytes: OwnedSemaphorePermit,
}

impl Room {
    /// Queues `event`, which the room was made for.
    pub(super) fn send(self, event: ClientStreamEvent) {
        let bytes = Some(self.bytes);
        self.place.send(Inbound {
            event,
            _bytes: bytes,
        });
    }
}

/// The share of [`STREAM_BUFFER`] a packet takes (all of it, for one
/// larger than the buffer).
fn cost(event: &ClientStreamEvent) -> u32 {
    let n = match event {
        ClientStreamEvent::Data(d) => d.len().min(STREAM_BUFFER),
        _ => 0,
    };
    // At most STREAM_BUFFER, which fits.
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl StreamSlot {
    /// Queues `event` for the service if there is room for it now.
    pub(super) fn try_deliver(&self, event: ClientStreamEvent) -> Result<(), Refused> {
        let bytes = match self.room.clone().try_acquire_many_owned(cost(&event)) {
            Ok(bytes) => bytes,
            Err(TryAcquireError::NoPermits) => return Err(Refused::Full(event)),
            Err(TryAcquireError::Closed) => return Err(Refused::Gone),
        };
        match self.inbound.clone().try_reserve_owned() {
            Ok(place) => {
                Room { place, bytes }.send(event);
                Ok(())
            }
            Err(mpsc::error::TrySendError::Full(_)) => Err(Refused::Full(event)),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(Refused::Gone),
        }
    }

    /// Queues the client's abort if there is a place for it, whatever the
    /// bytes waiting (the service learns of the abort from the end of
    /// the queue anyway).
    pub(super) fn try_deliver_abort(&self) {
        let _ = self.inbound.try_send(Inbound {
            event: ClientStreamEvent::Abort,
            _bytes: None,
        });
    }

    /// Waits for room for `event` (not borrowing the slot, so that the
    /// connection goes on meanwhile); `Err` once the service no longer
    /// reads the stream.
    pub(super) fn room_for(
        &self,
        event: &ClientStreamEvent,
    ) -> impl std::future::Future<Output = Result<Room, ()>> + Send + 'static {
        let (inbound, room, cost) = (self.inbound.clone(), self.room.clone(), cost(event));
        async move {
            let place = inbound.reserve_owned().await.map_err(|_| ())?;
            let bytes = room.acquire_many_owned(cost).await.map_err(|_| ())?;
            Ok(Room { place, bytes })
        }
    }
}

/// A stream and the connection's end of it; `sparse`: holes may travel;
/// `pool`: where the connection's decoder takes the buffers of large
/// bodies.
pub(super) fn pair(sparse: bool, pool: BodyPool) -> (ServerStream, StreamSlot) {
    let (out_tx, out_rx) = mpsc::channel(STREAM_QUEUE);
    let (in_tx, in_rx) = mpsc::channel(STREAM_QUEUE);
    (
        ServerStream {
            out: out_tx,
            inbound: in_rx,
            sparse,
            pool,
        },
        StreamSlot {
            out: out_rx,
            inbound: in_tx,
            room: Arc::new(Semaphore::new(STREAM_BUFFER)),
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
            self.put(StreamOut::Data(FrameBuf::copy_of(packet))).await?;
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
        // The packet's bytes leave the queue's account here.
        self.inbound.recv().await.map(|i| i.event)
    }

    /// Hands back the buffer of the client's data
    /// ([`ClientStreamEvent::Data`]) once its bytes are used: the
    /// connection receives a later packet of its size into it instead of
    /// fresh memory, so a long upload cycles through a few buffers (see
    /// [`BodyPool`]). Optional; a buffer not handed back is simply freed.
    ///
    /// ```
    /// use libvirt_proto::engine::ClientStreamEvent;
    /// use libvirt_proto::server::ServerStream;
    ///
    /// /// An upload's bytes, once the client has finished it.
    /// async fn upload(mut stream: ServerStream) -> Option<Vec<u8>> {
    ///     let mut volume = Vec::new();
    ///     while let Some(event) = stream.recv().await {
    ///         match event {
    ///             ClientStreamEvent::Data(data) => {
    ///                 volume.extend_from_slice(&data);
    ///                 stream.give_back(data);
    ///             }
    ///             ClientStreamEvent::Finish => {
    ///                 stream.finish().await.ok()?;
    ///                 return Some(volume);
    ///             }
    ///             // The client's abort (holes come only on sparse uploads).
    ///             _ => break,
    ///         }
    ///     }
    ///     None
    /// }
    /// ```
    pub fn give_back(&self, buffer: Vec<u8>) {
        self.pool.give_back(buffer);
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
        let (mut plain, _slot) = pair(false, BodyPool::new());
        assert_eq!(plain.hole(1).await, Err(HoleError::NotSparse));

        let (mut sparse, mut slot) = pair(true, BodyPool::new());
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

    #[tokio::test]
    async fn data_given_back_receives_a_later_packet() {
        use crate::frame::{Frame, FrameDecoder, Header};
        use crate::virnet::{MessageStatus, MessageType};
        let header = Header {
            program: 0x2000_8086,
            version: 1,
            procedure: 208,
            kind: MessageType::Stream,
            serial: 3,
            status: MessageStatus::Continue,
        };
        let packet = Frame::new(header, vec![5; STREAM_PACKET]).encode();
        let mut decoder = FrameDecoder::new();
        let pool = decoder.body_pool().clone();
        let (mut stream, slot) = pair(false, pool.clone());
        let mut receive = || {
            decoder.push(&packet);
            let frame = decoder.next_frame().unwrap().expect("a whole packet");
            slot.try_deliver(ClientStreamEvent::Data(frame.body))
                .unwrap();
        };
        receive();
        let Some(ClientStreamEvent::Data(first)) = stream.recv().await else {
            panic!("the data");
        };
        let at = first.as_ptr();
        stream.give_back(first);
        assert_eq!(pool.spare(), 1);
        // Memory the allocator would hand out next, had the buffer been
        // freed.
        let _elsewhere = Vec::<u8>::with_capacity(STREAM_PACKET);
        receive();
        assert_eq!(pool.spare(), 0);
        let Some(ClientStreamEvent::Data(second)) = stream.recv().await else {
            panic!("the data");
        };
        assert_eq!(second.as_ptr(), at, "received into the buffer given back");
        assert_eq!(second, vec![5; STREAM_PACKET]);
    }

    #[tokio::test]
    async fn the_clients_data_is_bounded_in_bytes() {
        let (mut stream, slot) = pair(false, BodyPool::new());
        let data = |n| ClientStreamEvent::Data(vec![1; n]);
        // Larger than the buffer: taken when the queue is empty, and then
        // nothing more is.
        slot.try_deliver(data(STREAM_BUFFER + 1)).unwrap();
        assert!(matches!(slot.try_deliver(data(1)), Err(Refused::Full(_))));
        // Receiving it gives its room back.
        let room = slot.room_for(&data(STREAM_PACKET));
        assert!(
            matches!(stream.recv().await, Some(ClientStreamEvent::Data(d)) if d.len() == STREAM_BUFFER + 1)
        );
        room.await.unwrap().send(data(STREAM_PACKET));
        for _ in 1..STREAM_QUEUE {
            slot.try_deliver(data(STREAM_PACKET)).unwrap();
        }
        // Bytes and places used up; what does not count as bytes still
        // needs a place.
        assert!(matches!(
            slot.try_deliver(ClientStreamEvent::Finish),
            Err(Refused::Full(_))
        ));
        drop(stream);
        assert!(matches!(slot.try_deliver(data(1)), Err(Refused::Gone)));
    }
}
