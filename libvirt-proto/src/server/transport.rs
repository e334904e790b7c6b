//! What a connection reads and writes through: a Unix socket, which
//! passes file descriptors, or any other byte stream (TCP, TLS, a stream
//! of the caller's), which does not. One poll serves both directions, so
//! that the connection's loop can wait on reading and writing at once
//! without splitting the transport.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite};

use crate::engine::Transmit;
use crate::unix_socket::{poll_append_into, poll_read_into, ReadInto, UnixSocket};

/// A byte stream of any kind.
pub(super) trait ByteIo: AsyncRead + AsyncWrite + Send {}

impl<T: AsyncRead + AsyncWrite + Send> ByteIo for T {}

/// A client's transport.
pub(super) enum Transport {
    /// A Unix socket: descriptors pass both ways.
    Unix(UnixSocket),
    /// Anything else; `unflushed` is set while bytes written may still
    /// sit in its buffer (a TLS stream's records, say).
    Bytes {
        io: Pin<Box<dyn ByteIo>>,
        unflushed: bool,
    },
}

/// A message being written, and how much of it has gone.
pub(super) struct Outgoing {
    message: Transmit,
    done: usize,
}

impl Outgoing {
    pub(super) fn new(message: Transmit) -> Outgoing {
        Outgoing { message, done: 0 }
    }

    /// Records `n` bytes written; whether the message has gone in full.
    pub(super) fn advance(&mut self, n: usize) -> bool {
        self.done += n;
        self.done >= self.message.bytes.len()
    }
}

/// What a poll of the transport brought.
pub(super) enum Io {
    /// Bytes read (0: end of file), descriptors with them; into the
    /// engine's body space when `true` (see [`ReadInto::Append`]).
    Read(io::Result<usize>, bool),
    /// Bytes of the outgoing message written.
    Wrote(io::Result<usize>),
}

impl Transport {
    /// A Unix socket's (made nonblocking here).
    pub(super) fn unix(s: tokio::net::UnixStream) -> io::Result<Transport> {
        Ok(Transport::Unix(UnixSocket::from_std(s.into_std()?)?))
    }

    /// Any byte stream's.
    pub(super) fn bytes(io: impl ByteIo + 'static) -> Transport {
        Transport::Bytes {
            io: Box::pin(io),
            unflushed: false,
        }
    }

    /// Whether descriptors pass.
    pub(super) fn passes_fds(&self) -> bool {
        matches!(self, Transport::Unix(_))
    }

    /// Writes some of `out`, if any (else finishes a flush), and reads
    /// into `into` if `reading`: the first of the two to get somewhere,
    /// trying the read first if `read_first`.
    pub(super) fn poll_io(
        &mut self,
        cx: &mut Context<'_>,
        out: Option<&Outgoing>,
        reading: bool,
        read_first: bool,
        into: ReadInto<'_>,
    ) -> Poll<Io> {
        let into_body = matches!(into, ReadInto::Append(_));
        let mut into = reading.then_some(into);
        if read_first {
            if let Some(into) = into.take() {
                if let Poll::Ready(r) = self.poll_read(cx, into) {
                    return Poll::Ready(Io::Read(r, into_body));
                }
            }
        }
        match out {
            Some(out) => {
                if let Poll::Ready(r) = self.poll_write(cx, out) {
                    return Poll::Ready(Io::Wrote(r));
                }
            }
            None => {
                if let Poll::Ready(Err(e)) = self.poll_flush(cx) {
                    return Poll::Ready(Io::Wrote(Err(e)));
                }
            }
        }
        if let Some(into) = into {
            if let Poll::Ready(r) = self.poll_read(cx, into) {
                return Poll::Ready(Io::Read(r, into_body));
            }
        }
        Poll::Pending
    }

    /// One try at writing some of `out` without waiting: `None` when the
    /// transport takes nothing now.
    pub(super) fn write_now(&mut self, out: &Outgoing) -> Option<io::Result<usize>> {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        match self.poll_write(&mut cx, out) {
            Poll::Ready(r) => Some(r),
            Poll::Pending => None,
        }
    }

    /// Shuts the writing side down, after what is buffered.
    pub(super) async fn shutdown(&mut self) {
        match self {
            Transport::Unix(s) => s.shutdown(),
            Transport::Bytes { io, .. } => {
                let _ = std::future::poll_fn(|cx| io.as_mut().poll_shutdown(cx)).await;
            }
        }
    }

    /// Writes the frame's bytes, then each descriptor with the byte that
    /// carries it, as libvirt sends them (a write of its own each).
    fn poll_write(&mut self, cx: &mut Context<'_>, out: &Outgoing) -> Poll<io::Result<usize>> {
        let Outgoing { message, done } = out;
        let plain = message.descriptor_bytes();
        let r = match self {
            Transport::Unix(s) if *done >= plain => {
                let i = done - plain;
                s.poll_write(
                    cx,
                    &[IoSlice::new(&message.bytes[*done..=*done])],
                    &message.fds[i..=i],
                )
            }
            Transport::Unix(s) => {
                s.poll_write(cx, &[IoSlice::new(&message.bytes[*done..plain])], &[])
            }
            // Not reached: the connection sends no descriptors here.
            Transport::Bytes { .. } if !message.fds.is_empty() => {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "file descriptors cannot pass on this connection",
                )))
            }
            Transport::Bytes { io, unflushed } => {
                let r = io.as_mut().poll_write(cx, &message.bytes[*done..]);
                *unflushed |= matches!(r, Poll::Ready(Ok(_)));
                r
            }
        };
        match r {
            Poll::Ready(Ok(0)) => Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
            r => r,
        }
    }

    /// Flushes what the transport may hold back; ready at once when
    /// nothing is held.
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Transport::Bytes {
                io,
                unflushed: unflushed @ true,
            } => {
                let r = std::task::ready!(io.as_mut().poll_flush(cx));
                *unflushed = false;
                Poll::Ready(r)
            }
            _ => Poll::Ready(Ok(())),
        }
    }

    fn poll_read(&mut self, cx: &mut Context<'_>, into: ReadInto<'_>) -> Poll<io::Result<usize>> {
        match (self, into) {
            (Transport::Unix(s), into) => s.poll_read_into(cx, into),
            (Transport::Bytes { io, .. }, ReadInto::Buffer(buf, _)) => {
                poll_read_into(io.as_mut(), cx, buf)
            }
            (Transport::Bytes { io, .. }, ReadInto::Append(buf)) => {
                poll_append_into(io.as_mut(), cx, buf)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn when_both_can_go_on_the_one_asked_to_goes_first() {
        let (ours, mut theirs) = tokio::io::duplex(1024);
        let mut t = Transport::bytes(ours);
        let out = Outgoing::new(Transmit {
            bytes: b"reply".to_vec(),
            fds: Vec::new(),
        });
        let (mut buf, mut fds) = ([0u8; 16], Vec::new());
        let mut cx = Context::from_waker(std::task::Waker::noop());
        for read_first in [true, false, true] {
            theirs.write_all(b"call").await.unwrap();
            let io = t.poll_io(
                &mut cx,
                Some(&out),
                true,
                read_first,
                ReadInto::Buffer(&mut buf, &mut fds),
            );
            match io {
                Poll::Ready(Io::Read(Ok(4), false)) => assert!(read_first),
                Poll::Ready(Io::Wrote(Ok(5))) => {
                    assert!(!read_first);
                    // What was not read is read next.
                    let io = t.poll_io(
                        &mut cx,
                        None,
                        true,
                        false,
                        ReadInto::Buffer(&mut buf, &mut fds),
                    );
                    assert!(matches!(io, Poll::Ready(Io::Read(Ok(4), false))));
                }
                _ => panic!("neither went"),
            }
        }
    }
}
