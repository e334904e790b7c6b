//! Byte streams: the data of `@readstream` / `@writestream` procedures as
//! `AsyncRead` / `AsyncWrite`, with holes for sparse transfers.
//!
//! A read stream ends when the daemon sends its empty data packet; the
//! engine then finishes it with the daemon. A write stream ends with
//! [`ByteStream::finish`] (or `shutdown()`), which waits for the daemon's
//! confirmation. Dropping an unfinished stream aborts it.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{mpsc, oneshot};
use xdrgen::rt::StreamDirection;

use super::driver::Command;
use super::ClientError;

/// The largest data packet sent at once.
pub const MAX_CHUNK: usize = 256 * 1024;

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

/// A piece of a sparse stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chunk {
    /// Bytes.
    Data(Vec<u8>),
    /// This many bytes of zeros, not sent.
    Hole(u64),
}

type Ack = oneshot::Receiver<Result<(), ClientError>>;

/// A byte stream of a call (see [`Client::call_stream`](super::Client::call_stream)).
#[derive(Debug)]
pub struct ByteStream {
    serial: u32,
    direction: StreamDirection,
    rx: mpsc::UnboundedReceiver<StreamMsg>,
    commands: mpsc::UnboundedSender<Command>,
    /// Unread bytes of the current data packet.
    current: Vec<u8>,
    pos: usize,
    /// Zeros still to read from a hole.
    hole: u64,
    /// The daemon's data has ended.
    eof: bool,
    /// Finished, failed or aborted: nothing to abort on drop.
    done: bool,
    /// The last write, until the driver has queued it.
    write_ack: Option<Ack>,
    /// The finish handshake, once started.
    finish_ack: Option<Ack>,
}

fn io_error(e: ClientError) -> io::Error {
    let kind = match e {
        ClientError::Closed | ClientError::ConnectionLost(_) => io::ErrorKind::BrokenPipe,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, e)
}

fn closed() -> ClientError {
    ClientError::Closed
}

impl ByteStream {
    pub(crate) fn new(
        serial: u32,
        direction: StreamDirection,
        rx: mpsc::UnboundedReceiver<StreamMsg>,
        commands: mpsc::UnboundedSender<Command>,
    ) -> Self {
        ByteStream {
            serial,
            direction,
            rx,
            commands,
            current: Vec::new(),
            pos: 0,
            hole: 0,
            eof: false,
            done: false,
            write_ack: None,
            finish_ack: None,
        }
    }

    /// The procedure's declared direction.
    pub fn direction(&self) -> StreamDirection {
        self.direction
    }

    /// The next piece of data or hole; `None` at the end of the data.
    pub async fn recv_chunk(&mut self) -> Result<Option<Chunk>, ClientError> {
        std::future::poll_fn(|cx| self.poll_chunk(cx)).await
    }

    /// Reads everything up to the end, holes as zeros.
    pub async fn recv_all(&mut self) -> Result<Vec<u8>, ClientError> {
        let mut out = Vec::new();
        while let Some(c) = self.recv_chunk().await? {
            match c {
                Chunk::Data(d) => out.extend_from_slice(&d),
                Chunk::Hole(n) => {
                    let n = usize::try_from(n).map_err(|_| {
                        ClientError::Io(io::Error::new(
                            io::ErrorKind::OutOfMemory,
                            "hole larger than memory",
                        ))
                    })?;
                    out.resize(out.len() + n, 0);
                }
            }
        }
        Ok(out)
    }

    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Chunk>, ClientError>> {
        if self.pos < self.current.len() {
            let rest = self.current.split_off(self.pos);
            self.current.clear();
            self.pos = 0;
            return Poll::Ready(Ok(Some(Chunk::Data(rest))));
        }
        if self.hole > 0 {
            let n = std::mem::take(&mut self.hole);
            return Poll::Ready(Ok(Some(Chunk::Hole(n))));
        }
        loop {
            if self.eof {
                return Poll::Ready(Ok(None));
            }
            match ready!(self.rx.poll_recv(cx)) {
                Some(StreamMsg::Data(d)) if d.is_empty() => continue,
                Some(StreamMsg::Data(d)) => return Poll::Ready(Ok(Some(Chunk::Data(d)))),
                Some(StreamMsg::Hole(n)) if n <= 0 => continue,
                Some(StreamMsg::Hole(n)) => return Poll::Ready(Ok(Some(Chunk::Hole(n as u64)))),
                Some(StreamMsg::Eof) => {
                    // The engine finishes the stream with the daemon.
                    self.eof = true;
                    self.done = true;
                }
                Some(StreamMsg::End) => {
                    self.eof = true;
                    self.done = true;
                }
                Some(StreamMsg::Failed(e)) => {
                    self.eof = true;
                    self.done = true;
                    return Poll::Ready(Err(e));
                }
                None => {
                    self.eof = true;
                    self.done = true;
                    return Poll::Ready(Err(closed()));
                }
            }
        }
    }

    /// Sends `data` (in packets of at most 256 KiB, libvirt's limit).
    pub async fn send(&mut self, data: &[u8]) -> Result<(), ClientError> {
        for piece in data.chunks(MAX_CHUNK) {
            let (done, ack) = oneshot::channel();
            self.command(Command::StreamSend {
                serial: self.serial,
                data: piece.to_vec(),
                done,
            })?;
            ack.await.map_err(|_| closed())??;
        }
        Ok(())
    }

    /// Sends a hole of `length` bytes (sparse uploads).
    pub async fn send_hole(&mut self, length: u64) -> Result<(), ClientError> {
        let length = i64::try_from(length).map_err(|_| {
            ClientError::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                "hole too large",
            ))
        })?;
        let (done, ack) = oneshot::channel();
        self.command(Command::StreamHole {
            serial: self.serial,
            length,
            done,
        })?;
        ack.await.map_err(|_| closed())?
    }

    /// Finishes a write stream and waits for the daemon to confirm it.
    pub async fn finish(mut self) -> Result<(), ClientError> {
        std::future::poll_fn(|cx| self.poll_finish(cx)).await
    }

    /// Aborts the stream; the daemon drops what it has not processed.
    pub fn abort(mut self) {
        self.abort_now();
    }

    fn abort_now(&mut self) {
        if !self.done {
            self.done = true;
            let _ = self.commands.send(Command::StreamAbort(self.serial));
        }
    }

    fn command(&self, c: Command) -> Result<(), ClientError> {
        if self.done {
            return Err(closed());
        }
        self.commands.send(c).map_err(|_| closed())
    }

    fn poll_write_ack(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ClientError>> {
        if let Some(ack) = self.write_ack.as_mut() {
            let r = ready!(Pin::new(ack).poll(cx));
            self.write_ack = None;
            r.map_err(|_| closed())??;
        }
        Poll::Ready(Ok(()))
    }

    fn poll_finish(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ClientError>> {
        ready!(self.poll_write_ack(cx))?;
        if self.finish_ack.is_none() {
            if self.done {
                return Poll::Ready(Ok(()));
            }
            let (done, ack) = oneshot::channel();
            self.command(Command::StreamFinish {
                serial: self.serial,
                done,
            })?;
            self.finish_ack = Some(ack);
        }
        let ack = self.finish_ack.as_mut().expect("set above");
        let r = ready!(Pin::new(ack).poll(cx));
        self.done = true;
        Poll::Ready(r.map_err(|_| closed())?)
    }
}

impl AsyncRead for ByteStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.pos >= this.current.len() && this.hole == 0 {
            match ready!(this.poll_chunk(cx)) {
                Ok(Some(Chunk::Data(d))) => {
                    this.current = d;
                    this.pos = 0;
                }
                Ok(Some(Chunk::Hole(n))) => this.hole = n,
                Ok(None) => return Poll::Ready(Ok(())),
                Err(e) => return Poll::Ready(Err(io_error(e))),
            }
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

impl AsyncWrite for ByteStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        // One packet at a time: memory stays bounded however fast the
        // writer is.
        ready!(this.poll_write_ack(cx)).map_err(io_error)?;
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let n = data.len().min(MAX_CHUNK);
        let (done, ack) = oneshot::channel();
        this.command(Command::StreamSend {
            serial: this.serial,
            data: data[..n].to_vec(),
            done,
        })
        .map_err(io_error)?;
        this.write_ack = Some(ack);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_write_ack(cx).map_err(io_error)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_finish(cx).map_err(io_error)
    }
}

impl Drop for ByteStream {
    fn drop(&mut self) {
        self.abort_now();
    }
}
