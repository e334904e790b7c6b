//! The bytes the driver has to write, written as the transport takes
//! them: never awaited whole, so reads, commands and timers go on while
//! the peer is slow to read (or frozen).
//!
//! Consecutive messages go out in one vectored write. A message with
//! descriptors ends a write, and its descriptors follow it as libvirt
//! sends them: each with a one-byte write of its own (see
//! [`Transmit`]).
//! A stream packet carries its writer's token, dropped once the packet has
//! been written out in full.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::os::fd::OwnedFd;
use std::task::{Context, Poll};

use super::command::PacketToken;
use super::transport::Conn;
use crate::engine::Transmit;

/// Most messages gathered into one write.
const MAX_SLICES: usize = 32;

struct Entry {
    bytes: Vec<u8>,
    /// One with each of the last `fds.len()` bytes.
    fds: Vec<OwnedFd>,
    /// Released when the entry is written out, and given the entry's
    /// bytes for the stream's next packet.
    token: Option<PacketToken>,
}

/// Messages waiting to be written, in order.
#[derive(Default)]
pub(crate) struct Outbox {
    queue: VecDeque<Entry>,
    /// Bytes of the front entry already written.
    offset: usize,
    /// Written since the transport was last flushed.
    unflushed: bool,
    /// Bytes queued and not yet written.
    queued: usize,
    /// Of those, stream packets' (entries with a token), which their
    /// streams' send windows bound.
    windowed: usize,
}

impl Outbox {
    /// Queues a message, holding `token` until it is written.
    pub(crate) fn push(&mut self, t: Transmit, token: Option<PacketToken>) {
        self.queued += t.bytes.len();
        if token.is_some() {
            self.windowed += t.bytes.len();
        }
        self.queue.push_back(Entry {
            bytes: t.bytes,
            fds: t.fds,
            token,
        });
    }

    /// Bytes queued and not yet written, but for stream packets: what
    /// reading may add to (a PONG for every PING), which the driver bounds.
    /// Stream packets are bounded by their streams' send windows already,
    /// and counting them would let a few uploads stop all reading.
    pub(crate) fn queued_outside_windows(&self) -> usize {
        self.queued - self.windowed
    }

    /// Whether everything has been written and flushed.
    #[cfg(test)]
    pub(crate) fn is_idle(&self) -> bool {
        self.queue.is_empty() && !self.unflushed
    }

    /// Writes what the transport takes now: `Ready(Ok(n))` with the bytes
    /// written (0 when there was nothing to write), `Pending` when the
    /// transport takes nothing (the waker is registered).
    pub(crate) fn poll_write(
        &mut self,
        conn: &mut Conn,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<usize>> {
        let mut total = 0;
        while let Some(front) = self.queue.front() {
            let plain = front.bytes.len() - front.fds.len();
            let r = if self.offset >= plain {
                // A descriptor with its byte.
                let i = self.offset - plain;
                conn.poll_write(
                    cx,
                    &[IoSlice::new(&front.bytes[self.offset..=self.offset])],
                    &front.fds[i..=i],
                )
            } else {
                let mut slices = [IoSlice::new(&[]); MAX_SLICES];
                let mut n = 0;
                for (i, e) in self.queue.iter().enumerate().take(MAX_SLICES) {
                    let skip = if i == 0 { self.offset } else { 0 };
                    slices[n] = IoSlice::new(&e.bytes[skip..e.bytes.len() - e.fds.len()]);
                    n += 1;
                    if !e.fds.is_empty() {
                        break;
                    }
                }
                conn.poll_write(cx, &slices[..n], &[])
            };
            match r {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                Poll::Ready(Ok(n)) => {
                    total += n;
                    self.unflushed = true;
                    self.advance(n);
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending if total > 0 => return Poll::Ready(Ok(total)),
                Poll::Pending => return Poll::Pending,
            }
        }
        if self.unflushed {
            match conn.poll_flush(cx) {
                Poll::Ready(Ok(())) => self.unflushed = false,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending if total > 0 => return Poll::Ready(Ok(total)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(total))
    }

    /// Drops the first `n` written bytes from the queue.
    fn advance(&mut self, mut n: usize) {
        self.queued -= n;
        while n > 0 {
            let Some(front) = self.queue.front() else {
                return;
            };
            let rest = front.bytes.len() - self.offset;
            if front.token.is_some() {
                self.windowed -= n.min(rest);
            }
            if n < rest {
                self.offset += n;
                return;
            }
            n -= rest;
            self.offset = 0;
            if let Some(Entry {
                bytes,
                token: Some(token),
                ..
            }) = self.queue.pop_front()
            {
                token.recycle(bytes);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::command::{stream_channel, StreamLink};
    use tokio::io::AsyncReadExt;

    fn transmit(bytes: &[u8]) -> Transmit {
        Transmit {
            bytes: bytes.to_vec(),
            fds: Vec::new(),
        }
    }

    #[tokio::test]
    async fn writes_in_order_as_the_peer_reads_and_then_drops_the_token() {
        // A pipe of 64 bytes: most writes are partial.
        let (a, mut b) = tokio::io::duplex(64);
        let mut conn = Conn::Stream(Box::new(a));
        let (inbox, link) = stream_channel(1024, Default::default(), Default::default());
        let mut out = Outbox::default();
        let big: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        out.push(transmit(b"head"), None);
        let gathered = std::future::poll_fn(|cx| link.poll_gather(cx, b"x", 16)).await;
        assert_eq!(gathered, (1, true));
        let (_, token) = inbox.take_packet(16, 4).unwrap();
        out.push(transmit(&big), Some(token));
        out.push(transmit(b"tail"), None);
        let waker = std::task::Waker::noop();
        let written = |link: &StreamLink| {
            link.poll_sent(&mut Context::from_waker(waker), true)
                .is_ready()
        };
        // The stream packet is the stream's window's business.
        assert_eq!(out.queued_outside_windows(), 8);
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            b.read_to_end(&mut got).await.unwrap();
            got
        });
        let mut total = 0;
        while !out.is_idle() {
            assert!(!written(&link), "the token is held until written");
            total += std::future::poll_fn(|cx| out.poll_write(&mut conn, cx))
                .await
                .unwrap();
        }
        assert_eq!(total, 1008);
        assert_eq!(out.queued_outside_windows(), 0);
        assert!(written(&link));
        drop(conn);
        let got = reader.await.unwrap();
        assert_eq!(got, [b"head".as_slice(), &big, b"tail"].concat());
    }

    #[tokio::test]
    async fn a_written_packet_carries_the_next_one() {
        use crate::frame::Header;
        use crate::generated::virnet::{MessageStatus, MessageType};
        const FULL: usize = 64 * 1024;
        let (a, mut b) = tokio::io::duplex(4 * FULL);
        let mut conn = Conn::Stream(Box::new(a));
        let (inbox, link) = stream_channel(1024, Default::default(), Default::default());
        let header = Header {
            program: 1,
            version: 1,
            procedure: 1,
            kind: MessageType::Stream,
            serial: 1,
            status: MessageStatus::Continue,
        };
        let packet = || async {
            std::future::poll_fn(|cx| link.poll_gather(cx, &[7; FULL], FULL)).await;
            let (body, token) = inbox.take_packet(FULL, 4).unwrap();
            let bytes = body.finish(&header).unwrap();
            (bytes, token)
        };
        let (first, token) = packet().await;
        let first_at = first.as_ptr();
        let mut out = Outbox::default();
        let first = Transmit {
            bytes: first,
            fds: Vec::new(),
        };
        out.push(first, Some(token));
        while !out.is_idle() {
            std::future::poll_fn(|cx| out.poll_write(&mut conn, cx))
                .await
                .unwrap();
        }
        let mut sink = vec![0; FULL + 28];
        b.read_exact(&mut sink).await.unwrap();
        // Were the first packet's bytes freed, this would likely take
        // their place; the stream must have kept them instead.
        let elsewhere = vec![1u8; FULL + 28];
        let (second, _token) = packet().await;
        assert_eq!(second.as_ptr(), first_at);
        assert_ne!(elsewhere.as_ptr(), first_at);
    }

    #[tokio::test]
    async fn a_full_transport_is_pending_not_blocking() {
        let (a, _b) = tokio::io::duplex(16);
        let mut conn = Conn::Stream(Box::new(a));
        let mut out = Outbox::default();
        out.push(transmit(&[7; 100]), None);
        let first = std::future::poll_fn(|cx| out.poll_write(&mut conn, cx))
            .await
            .unwrap();
        assert_eq!(first, 16);
        // Nobody reads: the next poll must not complete.
        let mut cx = Context::from_waker(std::task::Waker::noop());
        assert!(out.poll_write(&mut conn, &mut cx).is_pending());
        assert!(!out.is_idle());
    }
}
