//! Byte streams: the data of `@readstream` / `@writestream` procedures as
//! `AsyncRead` / `AsyncWrite`, with holes for sparse transfers.
//!
//! A read stream ends when the daemon sends its empty data packet; the
//! engine then finishes it with the daemon. A write stream ends with
//! [`ByteStream::finish`] (or `shutdown()`), which waits for the daemon's
//! confirmation. Dropping an unfinished stream aborts it. See
//! [`ByteStream`] for memory and flow control.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncBufRead, AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::oneshot;
use xdrgen::rt::StreamDirection;

use super::command::{Command, Commands, StreamLink, StreamMsg};
use super::ClientError;
use crate::generated::virnet;

/// The largest data packet sent: libvirt's largest stream payload
/// (`VIR_NET_MESSAGE_LEGACY_PAYLOAD_MAX`, 262,120 bytes).
pub const STREAM_PACKET: usize = virnet::MESSAGE_LEGACY_PAYLOAD_MAX as usize;

/// Bytes a stream's reader may be behind before the connection stops
/// reading (4 MiB).
pub const STREAM_RECV_BUFFER: usize = 4 << 20;

/// Full packets of one stream that may wait to be written out (about
/// 1 MiB).
pub const STREAM_SEND_WINDOW: usize = 4;

/// A piece of a sparse stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chunk {
    /// Bytes.
    Data(Vec<u8>),
    /// This many bytes of zeros, not sent.
    Hole(u64),
}

impl Chunk {
    /// The bytes of the stream it stands for (a hole's included).
    pub(crate) fn stream_len(&self) -> u64 {
        match self {
            Chunk::Data(d) => d.len() as u64,
            Chunk::Hole(n) => *n,
        }
    }
}

type Ack = oneshot::Receiver<Result<(), ClientError>>;

/// A byte stream of a call (see [`Client::call_stream`](super::Client::call_stream)).
///
/// # Memory and flow control
///
/// Receiving, each stream buffers at most [`STREAM_RECV_BUFFER`] bytes
/// that its reader has not taken. When a reader is that far behind, the
/// connection stops reading its transport until the reader catches up, as
/// libvirt's own client reads only as fast as its application does. The
/// daemon then blocks on a full socket instead of this process filling
/// its memory. The price: while one stream's reader stalls, replies,
/// events and other streams on the same connection wait too (calls still
/// go out, and keepalive PINGs keep the daemon from dropping the
/// connection). Use a connection of its own for a transfer whose reader
/// may stall for long. A packet read through `AsyncRead`,
/// `AsyncBufRead`, [`recv_all`](Self::recv_all) or
/// [`recv_file`](Self::recv_file) gives its buffer back to the connection
/// for a later packet (see [`BodyPool`](crate::frame::BodyPool)); a
/// [`Chunk`] from [`recv_chunk`](Self::recv_chunk) is the caller's.
///
/// Sending, writes are gathered into the stream's next packet, which the
/// connection takes when it has room: at once when nothing of the stream
/// waits to be written (so a small write on an idle connection goes out
/// without delay), otherwise once the packet is full, at libvirt's largest
/// stream payload ([`STREAM_PACKET`], 262,120 bytes), with up to
/// [`STREAM_SEND_WINDOW`] packets waiting to be written. Under load every
/// packet is full; a writer faster than the connection waits for room, so
/// memory stays bounded. No flush is needed for data to go out; `flush()`
/// waits until everything written so far is on the transport.
///
/// `ByteStream` is also an `AsyncBufRead`: `tokio::io::copy_buf` from it
/// hands each packet to the writer as it came, without copying it through
/// an 8 KiB buffer as `tokio::io::copy` does.
///
/// For files, [`send_file`](Self::send_file) and
/// [`recv_file`](Self::recv_file) do the file's I/O on a blocking thread,
/// and keep holes as holes on a [sparse](Self::is_sparse) stream.
/// Against `tokio::io::copy_buf` with a `tokio::fs::File` (below), which
/// hands every read and write to a blocking thread of its own, an upload
/// takes about half the CPU time and a download about 10% less.
///
/// ```no_run
/// # async fn demo(
/// #     client: &libvirt_proto::client::Client,
/// #     vol: &libvirt_proto::remote::NonnullStorageVol,
/// # ) -> Result<(), Box<dyn std::error::Error>> {
/// use tokio::io::BufReader;
///
/// // A volume to a file.
/// let mut stream = client.storage_vol_download(vol, 0, 0, 0).await?;
/// let mut file = tokio::fs::File::create("disk.img").await?;
/// tokio::io::copy_buf(&mut stream, &mut file).await?;
///
/// // And back, confirmed by the daemon.
/// let mut stream = client.storage_vol_upload(vol, 0, 0, 0).await?;
/// let file = tokio::fs::File::open("disk.img").await?;
/// tokio::io::copy_buf(&mut BufReader::with_capacity(1 << 20, file), &mut stream).await?;
/// stream.finish().await?;
/// # Ok(()) }
/// ```
pub struct ByteStream {
    serial: u32,
    direction: StreamDirection,
    /// Holes may travel (a sparse volume transfer).
    sparse: bool,
    link: StreamLink,
    commands: Commands,
    /// Unread bytes of the current data packet.
    current: Vec<u8>,
    pos: usize,
    /// Zeros still to read from a hole.
    hole: u64,
    /// The daemon's data has ended.
    eof: bool,
    /// Finished, failed or aborted: nothing to abort on drop.
    done: bool,
    /// Why the data ended, when it did not end cleanly: every later read
    /// gives it again, so a failed transfer never reads as complete.
    failed: Option<ClientError>,
    /// The finish handshake, once started.
    finish_ack: Option<Ack>,
    /// How the finish handshake ended, given again to a later finish or
    /// shutdown.
    finished: Option<Result<(), ClientError>>,
    /// What ended the connection, once it has.
    ended: Arc<OnceLock<ClientError>>,
}

impl std::fmt::Debug for ByteStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ByteStream")
            .field("serial", &self.serial)
            .field("direction", &self.direction)
            .field("sparse", &self.sparse)
            .field("eof", &self.eof)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

/// The `std::io` form of a stream's error, for `AsyncRead` and
/// `AsyncWrite`: the [`ClientError`] itself is inside
/// (`get_ref()`, `into_inner()` and `downcast()` find it).
fn io_error(e: ClientError) -> io::Error {
    let kind = match e {
        ClientError::Closed | ClientError::ConnectionLost(_) | ClientError::StreamEnded => {
            io::ErrorKind::BrokenPipe
        }
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, e)
}

impl ByteStream {
    pub(crate) fn new(
        serial: u32,
        direction: StreamDirection,
        sparse: bool,
        link: StreamLink,
        commands: Commands,
        ended: Arc<OnceLock<ClientError>>,
    ) -> Self {
        ByteStream {
            serial,
            direction,
            sparse,
            link,
            commands,
            current: Vec::new(),
            pos: 0,
            hole: 0,
            eof: false,
            done: false,
            failed: None,
            finish_ack: None,
            finished: None,
            ended,
        }
    }

    /// Why the connection's driver no longer serves this stream: the
    /// stream's own failure, else what ended the connection.
    fn gone(&self) -> ClientError {
        self.link
            .failure()
            .or_else(|| self.ended.get().cloned())
            .unwrap_or(ClientError::Closed)
    }

    /// Where the buffers of data read go back to (see [`BodyPool`]).
    ///
    /// [`BodyPool`]: crate::frame::BodyPool
    pub(super) fn body_pool(&self) -> &crate::frame::BodyPool {
        self.link.pool()
    }

    /// The procedure's declared direction.
    pub fn direction(&self) -> StreamDirection {
        self.direction
    }

    /// Whether holes may travel on this stream: a storage volume download
    /// or upload opened with its `SPARSE_STREAM` flag
    /// ([`StorageVolDownloadFlags::SPARSE_STREAM`] /
    /// [`StorageVolUploadFlags::SPARSE_STREAM`]). Only then does
    /// [`send_hole`](Self::send_hole) work and
    /// [`send_file`](Self::send_file) send a file's holes as holes.
    ///
    /// [`StorageVolDownloadFlags::SPARSE_STREAM`]: crate::api::StorageVolDownloadFlags::SPARSE_STREAM
    /// [`StorageVolUploadFlags::SPARSE_STREAM`]: crate::api::StorageVolUploadFlags::SPARSE_STREAM
    pub fn is_sparse(&self) -> bool {
        self.sparse
    }

    /// The next piece of data or hole; `None` at the end of the data, once
    /// the daemon has confirmed the transfer (its answer to the client's
    /// OK, as `virStreamFinish` waits for it). A stream that failed (the
    /// daemon's error, also in that answer, or the connection's end) gives
    /// that error, and again on every later read.
    pub async fn recv_chunk(&mut self) -> Result<Option<Chunk>, ClientError> {
        std::future::poll_fn(|cx| self.poll_chunk(cx)).await
    }

    /// Reads everything up to the end, holes as zeros, refusing more than
    /// `limit` bytes in all (a screenshot, a small file: never a disk
    /// image, whose size the daemon decides). Past the limit the stream
    /// is aborted and the error is [`ClientError::StreamTooLarge`].
    pub async fn recv_all(&mut self, limit: usize) -> Result<Vec<u8>, ClientError> {
        let mut out = Vec::new();
        while let Some(c) = self.recv_chunk().await? {
            let total = (out.len() as u64).saturating_add(c.stream_len());
            if total > limit as u64 {
                let e = ClientError::StreamTooLarge { limit };
                self.abort_with(e.clone());
                return Err(e);
            }
            match c {
                Chunk::Data(d) => {
                    out.extend_from_slice(&d);
                    self.link.pool().give_back(d);
                }
                // Within `limit`, so within memory's reach.
                Chunk::Hole(_) => out.resize(total as usize, 0),
            }
        }
        Ok(out)
    }

    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Chunk>, ClientError>> {
        if self.pos < self.current.len() {
            let rest = match std::mem::take(&mut self.pos) {
                0 => std::mem::take(&mut self.current),
                pos => {
                    let rest = self.current[pos..].to_vec();
                    self.link
                        .pool()
                        .give_back(std::mem::take(&mut self.current));
                    rest
                }
            };
            return Poll::Ready(Ok(Some(Chunk::Data(rest))));
        }
        if self.hole > 0 {
            let n = std::mem::take(&mut self.hole);
            return Poll::Ready(Ok(Some(Chunk::Hole(n))));
        }
        loop {
            if self.eof {
                return Poll::Ready(match &self.failed {
                    Some(e) => Err(e.clone()),
                    None => Ok(None),
                });
            }
            let msg = ready!(self.link.poll_recv(cx));
            match msg {
                Some(StreamMsg::Data(d)) if d.is_empty() => continue,
                Some(StreamMsg::Data(d)) => return Poll::Ready(Ok(Some(Chunk::Data(d)))),
                Some(StreamMsg::Hole(n)) if n <= 0 => continue,
                Some(StreamMsg::Hole(n)) => return Poll::Ready(Ok(Some(Chunk::Hole(n as u64)))),
                // The end of the data: the engine has answered with its
                // OK (nothing is left to abort), and the transfer is
                // complete once the daemon confirms with its own, which
                // could instead be an error (libvirtd's `virStreamFinish`
                // failing).
                Some(StreamMsg::Eof) => self.done = true,
                Some(StreamMsg::End) => self.end(),
                Some(StreamMsg::Failed(e)) => self.fail(e),
                None => self.fail(self.gone()),
            }
        }
    }

    fn end(&mut self) {
        self.eof = true;
        self.done = true;
    }

    /// The data ends with `e`, which the next read returns.
    fn fail(&mut self, e: ClientError) {
        self.end();
        self.failed = Some(e);
    }

    /// Sends `data`; returns once it is gathered for the connection (see
    /// [`ByteStream`] for packets and flow control).
    pub async fn send(&mut self, mut data: &[u8]) -> Result<(), ClientError> {
        while !data.is_empty() {
            let n = std::future::poll_fn(|cx| self.poll_send(cx, data)).await?;
            data = &data[n..];
        }
        Ok(())
    }

    /// Sends a hole of `length` bytes (sparse uploads), after the data
    /// written before it. A stream that is not [sparse](Self::is_sparse)
    /// gives [`ClientError::NotSparse`] and stays as it was.
    pub async fn send_hole(&mut self, length: u64) -> Result<(), ClientError> {
        if !self.sparse {
            return Err(ClientError::NotSparse);
        }
        let length = i64::try_from(length).map_err(|_| ClientError::HoleTooLarge(length))?;
        std::future::poll_fn(|cx| self.poll_sent(cx, false)).await?;
        self.command(Command::StreamHole {
            serial: self.serial,
            length,
        })
    }

    /// Waits until everything sent so far has been written to the
    /// transport.
    pub async fn flush_all(&mut self) -> Result<(), ClientError> {
        std::future::poll_fn(|cx| self.poll_sent(cx, true)).await
    }

    /// Finishes a write stream and waits for the daemon to confirm it.
    pub async fn finish(mut self) -> Result<(), ClientError> {
        std::future::poll_fn(|cx| self.poll_finish(cx)).await
    }

    /// Aborts the stream; the daemon drops what it has not processed.
    pub fn abort(mut self) {
        self.abort_now();
    }

    /// Aborts the stream unless it has ended, or its finish has been sent
    /// (an abort after the OK would only make the daemon's answer to it
    /// go astray).
    fn abort_now(&mut self) {
        if !self.done && self.finish_ack.is_none() {
            let _ = self.commands.send(Command::StreamAbort(self.serial));
        }
        self.done = true;
    }

    /// Aborts the stream and drops what was received but not read: every
    /// later read gives `e`.
    pub(super) fn abort_with(&mut self, e: ClientError) {
        self.abort_now();
        self.current.clear();
        self.pos = 0;
        self.hole = 0;
        self.fail(e);
    }

    /// Why the stream can take no more: the daemon's error or the
    /// connection's end, as the driver reported it, or its own end.
    fn check_failed(&mut self) -> Result<(), ClientError> {
        if let Some(e) = self.link.failure() {
            self.done = true;
            return Err(e);
        }
        if self.done {
            return Err(ClientError::StreamEnded);
        }
        Ok(())
    }

    fn command(&mut self, c: Command) -> Result<(), ClientError> {
        if self.commands.send(c).is_err() {
            self.check_failed()?;
            return Err(self.gone());
        }
        Ok(())
    }

    /// Gathers some of `data` for the connection.
    fn poll_send(&mut self, cx: &mut Context<'_>, data: &[u8]) -> Poll<Result<usize, ClientError>> {
        self.check_failed()?;
        let (n, kick) = ready!(self.link.poll_gather(cx, data, STREAM_PACKET));
        if n == 0 && !data.is_empty() {
            // The stream failed while the packet was full.
            self.check_failed()?;
        }
        if kick {
            self.command(Command::StreamKick(self.serial))?;
        }
        Poll::Ready(Ok(n))
    }

    /// Ready once the connection has taken everything gathered (and with
    /// `written`, written it out).
    fn poll_sent(&mut self, cx: &mut Context<'_>, written: bool) -> Poll<Result<(), ClientError>> {
        self.check_failed()?;
        ready!(self.link.poll_sent(cx, written));
        Poll::Ready(self.check_failed())
    }

    fn poll_finish(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ClientError>> {
        if let Some(r) = &self.finished {
            return Poll::Ready(r.clone());
        }
        if self.finish_ack.is_none() {
            if self.done {
                // Ended already: cleanly, or with the failure it had.
                let failure = self.failed.clone().or_else(|| self.link.failure());
                return Poll::Ready(failure.map_or(Ok(()), Err));
            }
            ready!(self.poll_sent(cx, false))?;
            let (done, ack) = oneshot::channel();
            self.command(Command::StreamFinish {
                serial: self.serial,
                done,
            })?;
            self.finish_ack = Some(ack);
        }
        let ack = self.finish_ack.as_mut().expect("set above");
        let r = match ready!(Pin::new(ack).poll(cx)) {
            // The stream failed before the finish reached it: its cause.
            Ok(Err(ClientError::NoSuchStream(s))) => {
                Err(self.link.failure().unwrap_or(ClientError::NoSuchStream(s)))
            }
            Ok(r) => r,
            Err(_) => Err(self.gone()),
        };
        self.done = true;
        self.finished = Some(r.clone());
        Poll::Ready(r)
    }
}

/// Zeros handed out for holes by [`AsyncBufRead`].
pub(super) static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];

impl ByteStream {
    /// Makes sure unread bytes (or a hole) are at hand; false at the end.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<bool>> {
        if self.pos < self.current.len() || self.hole > 0 {
            return Poll::Ready(Ok(true));
        }
        match ready!(self.poll_chunk(cx)) {
            Ok(Some(Chunk::Data(d))) => {
                // The packet read is done with: its buffer receives another.
                let read = std::mem::replace(&mut self.current, d);
                self.link.pool().give_back(read);
                self.pos = 0;
            }
            Ok(Some(Chunk::Hole(n))) => self.hole = n,
            Ok(None) => return Poll::Ready(Ok(false)),
            Err(e) => return Poll::Ready(Err(io_error(e))),
        }
        Poll::Ready(Ok(true))
    }
}

impl AsyncRead for ByteStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if !ready!(this.poll_fill(cx))? {
            return Poll::Ready(Ok(()));
        }
        if this.hole > 0 {
            let n = (buf.remaining() as u64).min(this.hole) as usize;
            buf.initialize_unfilled_to(n).fill(0);
            buf.advance(n);
            this.hole -= n as u64;
        } else {
            let n = buf.remaining().min(this.current.len() - this.pos);
            buf.put_slice(&this.current[this.pos..this.pos + n]);
            this.pos += n;
        }
        Poll::Ready(Ok(()))
    }
}

/// Whole packets without a copy: `tokio::io::copy_buf` from a stream
/// writes each packet as it came.
impl AsyncBufRead for ByteStream {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let this = self.get_mut();
        if !ready!(this.poll_fill(cx))? {
            return Poll::Ready(Ok(&[]));
        }
        if this.hole > 0 {
            let n = this.hole.min(ZEROS.len() as u64) as usize;
            return Poll::Ready(Ok(&ZEROS[..n]));
        }
        Poll::Ready(Ok(&this.current[this.pos..]))
    }

    fn consume(self: Pin<&mut Self>, amount: usize) {
        let this = self.get_mut();
        if this.hole > 0 {
            this.hole -= (amount as u64).min(this.hole);
        } else {
            this.pos = (this.pos + amount).min(this.current.len());
        }
    }
}

impl AsyncWrite for ByteStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        self.poll_send(cx, data).map_err(io_error)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_sent(cx, true).map_err(io_error)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_finish(cx).map_err(io_error)
    }
}

impl Drop for ByteStream {
    fn drop(&mut self) {
        self.abort_now();
        self.link
            .pool()
            .give_back(std::mem::take(&mut self.current));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::command::{stream_channel, StreamInbox};
    use crate::frame::{BodyPool, Frame, FrameDecoder, Header};
    use crate::generated::virnet::{MessageStatus, MessageType};
    use tokio::io::AsyncBufReadExt;

    /// A download's handle and the driver's end of it, data buffers going
    /// back to `pool`.
    fn download(pool: &BodyPool) -> (ByteStream, StreamInbox) {
        let (inbox, link) = stream_channel(STREAM_RECV_BUFFER, Default::default(), pool.clone());
        let (commands, _) = tokio::sync::mpsc::unbounded_channel();
        let stream = ByteStream::new(
            1,
            StreamDirection::Read,
            false,
            link,
            commands,
            Default::default(),
        );
        (stream, inbox)
    }

    /// Stream data as the daemon sends it: full packets of one size.
    fn packet(seed: u8) -> Vec<u8> {
        let header = Header {
            program: 0x2000_8086,
            version: 1,
            procedure: 209,
            kind: MessageType::Stream,
            serial: 1,
            status: MessageStatus::Continue,
        };
        let body = (0..STREAM_PACKET).map(|i| (i as u8) ^ seed).collect();
        Frame::new(header, body).encode()
    }

    #[tokio::test]
    async fn packets_read_give_their_buffers_back_for_the_next() {
        let mut decoder = FrameDecoder::new();
        let pool = decoder.body_pool().clone();
        let (mut stream, inbox) = download(&pool);
        let mut buffers = std::collections::HashSet::new();
        let mut expected = Vec::new();
        let mut read = Vec::new();
        for seed in 0..8 {
            let wire = packet(seed);
            expected.extend_from_slice(&wire[28..]);
            decoder.push(&wire);
            let body = decoder.next_frame().unwrap().unwrap().body;
            buffers.insert(body.as_ptr());
            assert!(inbox.send(StreamMsg::Data(body)));
            // The reader takes the packet whole; asking for the next
            // gives the one before back.
            let got = stream.fill_buf().await.unwrap();
            read.extend_from_slice(got);
            let n = got.len();
            stream.consume(n);
        }
        assert!(inbox.send(StreamMsg::Eof));
        assert!(inbox.send(StreamMsg::End));
        let mut rest = Vec::new();
        tokio::io::copy_buf(&mut stream, &mut rest).await.unwrap();
        assert!(rest.is_empty());
        assert!(read == expected, "the bytes are those sent");
        // Two buffers took turns: the one being read, and the one the
        // packet before gave back.
        assert_eq!(buffers.len(), 2, "{buffers:?}");
        assert_eq!(pool.spare(), 1);
        drop(stream);
        assert_eq!(pool.spare(), 2, "the last packet's buffer too");
    }
}
