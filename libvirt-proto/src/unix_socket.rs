//! The Unix socket transport of the client and the server: nonblocking
//! `sendmsg` / `recvmsg` with descriptor passing, watched for writability
//! only while a write waits.
//!
//! Why not `tokio::net::UnixStream`: it asks epoll for both directions for
//! the socket's whole life, and a Unix socket reports write space every
//! time the peer reads (the kernel's `unix_write_space` wakes every
//! writability watcher, not only one that found the buffer full). For a
//! client that sends a call and sleeps until the reply, that is one extra
//! wake-up per call: the daemon pays for waking this thread when it reads
//! the call, and the thread wakes only to find it has nothing to write (a
//! server waiting for the next call would be woken likewise each time its
//! client reads a reply).
//! libvirt's own client polls for `POLLOUT` only while it has bytes to send.
//! Here the socket is registered for reading, and a second registration
//! (on a duplicate of the descriptor, since epoll takes one entry per
//! descriptor) exists only between a write that found the buffer full and
//! the write that next gets through.
//!
//! The read helpers both roles' byte-stream transports share live here too.

use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsFd, OwnedFd};
use std::task::{ready, Context, Poll};

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use crate::frame::MAX_FDS;

/// A connected Unix socket.
#[derive(Debug)]
pub(crate) struct UnixSocket {
    /// The socket, watched for reading.
    read: AsyncFd<OwnedFd>,
    /// A duplicate of it watched for writing, while a write waits for room.
    write: Option<AsyncFd<OwnedFd>>,
}

impl UnixSocket {
    /// Connects to the socket at `path`. A daemon whose queue of
    /// connections waiting to be accepted is full refuses a nonblocking
    /// connect at once (`EAGAIN`), where libvirt's blocking connect waits
    /// for room: so does this one, trying again until the caller's
    /// connect timeout.
    #[cfg(feature = "client")]
    pub(crate) async fn connect(path: &str) -> io::Result<UnixSocket> {
        let mut pause = std::time::Duration::from_millis(1);
        loop {
            match tokio::net::UnixStream::connect(path).await {
                Ok(s) => return UnixSocket::from_std(s.into_std()?),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(std::time::Duration::from_millis(100));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Takes over a connected socket (made nonblocking here).
    pub(crate) fn from_std(s: std::os::unix::net::UnixStream) -> io::Result<UnixSocket> {
        s.set_nonblocking(true)?;
        Ok(UnixSocket {
            read: watch(OwnedFd::from(s), Interest::READABLE)?,
            write: None,
        })
    }

    /// Reads some bytes, and descriptors that came with them.
    pub(crate) fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
        fds: &mut Vec<OwnedFd>,
    ) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = ready!(self.read.poll_read_ready(cx))?;
            let had = fds.len();
            match recv_with_fds(guard.get_inner(), buf, fds) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => guard.clear_ready(),
                // A short read means the socket is drained. Clearing the
                // readiness now saves the next `recvmsg`, which would only
                // find that out. Not so after descriptors: the kernel ends
                // a read at the bytes they came with, whatever follows.
                Ok(n) if n > 0 && n < buf.len() && fds.len() == had => {
                    guard.clear_ready();
                    return Poll::Ready(Ok(n));
                }
                r => return Poll::Ready(r),
            }
        }
    }

    /// Reads into `into`.
    pub(crate) fn poll_read_into(
        &mut self,
        cx: &mut Context<'_>,
        into: ReadInto<'_>,
    ) -> Poll<io::Result<usize>> {
        match into {
            ReadInto::Buffer(buf, fds) => self.poll_read(cx, buf, fds),
            ReadInto::Append(buf) => self.poll_read_append(cx, buf),
        }
    }

    /// Reads some bytes onto the end of `buf`, no more than its spare
    /// capacity. Descriptors that come with them are not taken: the
    /// kernel closes them (callers read so only inside a message, where
    /// none belong).
    fn poll_read_append(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut Vec<u8>,
    ) -> Poll<io::Result<usize>> {
        use rustix::buffer::spare_capacity;
        use rustix::net::{recv, RecvFlags};
        loop {
            let mut guard = ready!(self.read.poll_read_ready(cx))?;
            // Unlike `poll_read`, a short read keeps the readiness: one
            // ended at descriptors closed on the way says nothing of what
            // follows.
            match recv(guard.get_inner(), spare_capacity(buf), RecvFlags::empty()) {
                Err(e) if e == rustix::io::Errno::AGAIN => guard.clear_ready(),
                r => return Poll::Ready(r.map(|(n, _)| n).map_err(io::Error::from)),
            }
        }
    }

    /// Writes some of `bufs`; `fds` go with the first byte.
    pub(crate) fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
        fds: &[OwnedFd],
    ) -> Poll<io::Result<usize>> {
        loop {
            let Some(write) = &self.write else {
                // The usual case: room in the buffer, no registration.
                match send_with_fds(self.read.get_ref(), bufs, fds) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        // Registering reports the socket writable at once
                        // if room appeared since, so no wake-up is lost.
                        let dup = self.read.get_ref().try_clone()?;
                        self.write = Some(watch(dup, Interest::WRITABLE)?);
                        continue;
                    }
                    r => return Poll::Ready(r),
                }
            };
            let mut guard = ready!(write.poll_write_ready(cx))?;
            match send_with_fds(guard.get_inner(), bufs, fds) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => guard.clear_ready(),
                r => {
                    // Through: stop watching until the buffer fills again.
                    self.write = None;
                    return Poll::Ready(r);
                }
            }
        }
    }

    /// Shuts the writing side down: the peer reads end of file.
    pub(crate) fn shutdown(&self) {
        let _ = rustix::net::shutdown(self.read.get_ref(), rustix::net::Shutdown::Write);
    }
}

/// Reads some bytes of any other byte stream (the transports beside the
/// Unix socket, which bring no descriptors) into `buf`.
/// Bytes read at once outside large messages' bodies, which are read in
/// place (the engines' `input_space`): what of such a body comes with its
/// head is copied, so this stays small.
pub(crate) const READ_BUFFER: usize = 16 << 10;

/// Where a read goes.
pub(crate) enum ReadInto<'a> {
    /// A buffer, and the descriptors that come with its bytes.
    Buffer(&'a mut [u8], &'a mut Vec<OwnedFd>),
    /// The end of a vector, within its spare capacity: the rest of a large
    /// message's body read in place (an engine's `input_space`), where no
    /// descriptors belong.
    Append(&'a mut Vec<u8>),
}

impl<'a> ReadInto<'a> {
    /// Into an engine's body space when it has one, else into `buf`.
    pub(crate) fn new(
        space: Option<&'a mut Vec<u8>>,
        buf: &'a mut [u8],
        fds: &'a mut Vec<OwnedFd>,
    ) -> Self {
        match space {
            Some(body) => ReadInto::Append(body),
            None => ReadInto::Buffer(buf, fds),
        }
    }
}

/// Reads some bytes from `r` onto the end of `buf`, within its spare
/// capacity, through a zeroed tail: no unsafe code for the byte-stream
/// transports (TLS, whose own copy costs more than the zeroing).
pub(crate) fn poll_append_into<R: tokio::io::AsyncRead + ?Sized>(
    r: std::pin::Pin<&mut R>,
    cx: &mut Context<'_>,
    buf: &mut Vec<u8>,
) -> Poll<io::Result<usize>> {
    let len = buf.len();
    buf.resize(buf.capacity(), 0);
    let r = poll_read_into(r, cx, &mut buf[len..]);
    let n = match &r {
        Poll::Ready(Ok(n)) => *n,
        _ => 0,
    };
    buf.truncate(len + n);
    r
}

pub(crate) fn poll_read_into<R: tokio::io::AsyncRead + ?Sized>(
    r: std::pin::Pin<&mut R>,
    cx: &mut Context<'_>,
    buf: &mut [u8],
) -> Poll<io::Result<usize>> {
    let mut rb = tokio::io::ReadBuf::new(buf);
    ready!(r.poll_read(cx, &mut rb))?;
    Poll::Ready(Ok(rb.filled().len()))
}

/// Registers `fd` with the runtime's reactor for `interest`.
#[allow(unsafe_code)]
fn watch(fd: OwnedFd, interest: Interest) -> io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: the `AsyncFd` owns `fd` and lends it out only by shared
    // reference (`get_ref`, `get_inner`), so the descriptor stays open and
    // the same until the `AsyncFd` is dropped.
    Ok(unsafe { AsyncFd::register_with_interest(fd, interest) }?)
}

/// Room for the most descriptors one message carries.
const CMSG_SPACE: usize = rustix::cmsg_space!(ScmRights(MAX_FDS));

fn send_with_fds(s: &OwnedFd, bufs: &[IoSlice<'_>], fds: &[OwnedFd]) -> io::Result<usize> {
    use rustix::net::{sendmsg, SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
    if fds.is_empty() {
        let mut none = SendAncillaryBuffer::default();
        return Ok(sendmsg(s, bufs, &mut none, SendFlags::NOSIGNAL)?);
    }
    let borrowed: Vec<_> = fds.iter().map(|f| f.as_fd()).collect();
    let mut space = [std::mem::MaybeUninit::uninit(); CMSG_SPACE];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !control.push(SendAncillaryMessage::ScmRights(&borrowed)) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "too many descriptors",
        ));
    }
    Ok(sendmsg(s, bufs, &mut control, SendFlags::NOSIGNAL)?)
}

fn recv_with_fds(s: &OwnedFd, buf: &mut [u8], fds: &mut Vec<OwnedFd>) -> io::Result<usize> {
    use rustix::net::{recvmsg, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags};
    let mut space = [std::mem::MaybeUninit::uninit(); CMSG_SPACE];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let got = recvmsg(
        s,
        &mut [IoSliceMut::new(buf)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )?;
    let mut received = Vec::new();
    for m in control.drain() {
        if let RecvAncillaryMessage::ScmRights(r) = m {
            received.extend(r);
        }
    }
    if got.flags.contains(ReturnFlags::CTRUNC) {
        // The kernel closed what did not fit: a message would be missing
        // descriptors, so the connection cannot go on (ours are dropped).
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "more file descriptors arrived at once than one message carries ({MAX_FDS}); \
                 the rest were discarded"
            ),
        ));
    }
    fds.append(&mut received);
    Ok(got.bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;

    /// A file of its own, already unlinked.
    fn tempfile_for(tag: &str) -> std::fs::File {
        let dir = crate::local_file::TempDir::new(tag);
        let path = dir.path().join("file");
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .unwrap();
        std::fs::remove_file(&path).unwrap();
        f
    }

    fn pair() -> (UnixSocket, UnixStream) {
        let (a, b) = UnixStream::pair().unwrap();
        (UnixSocket::from_std(a).unwrap(), b)
    }

    /// Writes `data` (with `fds`) as one `poll_write` does; what went out.
    async fn send(s: &mut UnixSocket, data: &[u8], fds: &[OwnedFd]) -> usize {
        std::future::poll_fn(|cx| s.poll_write(cx, &[IoSlice::new(data)], fds))
            .await
            .unwrap()
    }

    /// Reads as one `poll_read` does: the bytes and the descriptors.
    async fn receive(s: &mut UnixSocket) -> (Vec<u8>, Vec<OwnedFd>) {
        let mut buf = [0u8; 16];
        let mut fds = Vec::new();
        let n = std::future::poll_fn(|cx| s.poll_read(cx, &mut buf, &mut fds))
            .await
            .unwrap();
        (buf[..n].to_vec(), fds)
    }

    #[cfg(feature = "client")]
    #[tokio::test]
    async fn a_full_listen_queue_makes_connect_wait_not_fail() {
        use rustix::net::{AddressFamily, SocketAddrUnix, SocketType};
        let dir = crate::local_file::TempDir::new("backlog");
        let path = dir.path().join("sock");
        // A listener with the shortest queue, so that filling it takes a
        // connection or two, not a thousand descriptors.
        let fd = rustix::net::socket(AddressFamily::UNIX, SocketType::STREAM, None).unwrap();
        rustix::net::bind(&fd, &SocketAddrUnix::new(&path).unwrap()).unwrap();
        rustix::net::listen(&fd, 0).unwrap();
        let listener = std::os::unix::net::UnixListener::from(fd);
        listener.set_nonblocking(true).unwrap();
        let listener = tokio::net::UnixListener::from_std(listener).unwrap();
        let mut queued = Vec::new();
        loop {
            match tokio::net::UnixStream::connect(&path).await {
                Ok(s) => queued.push(s),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
            assert!(queued.len() < 100, "the queue never filled");
        }
        let p = path.to_str().unwrap().to_owned();
        let mut connect = Box::pin(async move { UnixSocket::connect(&p).await });
        std::future::poll_fn(|cx| {
            let first = std::future::Future::poll(connect.as_mut(), cx);
            assert!(first.is_pending(), "refused at once");
            Poll::Ready(())
        })
        .await;
        // Room again: the connect gets through.
        let _accepted = listener.accept().await.unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(30), connect)
            .await
            .expect("it never got through")
            .unwrap();
    }

    /// The epoll event masks this process holds for descriptor `fd`, from
    /// `/proc/self/fdinfo` of every epoll descriptor (the reactor keeps a
    /// duplicate of its own, so one watch may show twice).
    fn watched(fd: i32) -> Vec<u32> {
        let mut masks = Vec::new();
        for entry in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
            let Ok(link) = std::fs::read_link(entry.path()) else {
                continue;
            };
            if link.to_string_lossy() != "anon_inode:[eventpoll]" {
                continue;
            }
            let info_path = format!("/proc/self/fdinfo/{}", entry.file_name().to_string_lossy());
            let Ok(info) = std::fs::read_to_string(info_path) else {
                continue;
            };
            for line in info.lines() {
                let mut words = line.split_whitespace();
                if words.next() == Some("tfd:") && words.next() == Some(&fd.to_string()) {
                    if let (Some("events:"), Some(mask)) = (words.next(), words.next()) {
                        masks.push(u32::from_str_radix(mask, 16).unwrap());
                    }
                }
            }
        }
        masks
    }

    const EPOLLIN: u32 = 0x1;
    const EPOLLOUT: u32 = 0x4;

    #[tokio::test]
    async fn an_idle_socket_is_watched_for_reading_only() {
        let (mut a, mut b) = pair();
        assert_eq!(send(&mut a, b"call", &[]).await, 4);
        let masks = watched(a.read.get_ref().as_raw_fd());
        assert!(!masks.is_empty());
        assert!(
            masks.iter().all(|m| m & (EPOLLIN | EPOLLOUT) == EPOLLIN),
            "{masks:x?}"
        );
        assert!(a.write.is_none());
        // The peer reads the call and answers; the reply arrives.
        use std::io::{Read, Write};
        let mut got = [0u8; 4];
        b.read_exact(&mut got).unwrap();
        b.write_all(b"reply").unwrap();
        assert_eq!(receive(&mut a).await.0, b"reply");
    }

    #[tokio::test]
    async fn a_write_into_a_full_buffer_waits_for_room_then_stops_watching() {
        use std::io::Read;
        let (mut a, mut b) = pair();
        let chunk = vec![7u8; 64 * 1024];
        // Fill the buffer until a write has to wait.
        let mut written = 0usize;
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        loop {
            match a.poll_write(&mut cx, &[IoSlice::new(&chunk)], &[]) {
                Poll::Ready(Ok(n)) => written += n,
                Poll::Ready(Err(e)) => panic!("{e}"),
                Poll::Pending => break,
            }
        }
        let dup = a.write.as_ref().expect("watching while a write waits");
        let masks = watched(dup.get_ref().as_raw_fd());
        assert!(!masks.is_empty());
        assert!(
            masks.iter().all(|m| m & (EPOLLIN | EPOLLOUT) == EPOLLOUT),
            "{masks:x?}"
        );
        // The peer drains everything in a thread; the waiting write goes
        // through and the watch ends.
        let reader = std::thread::spawn(move || {
            let mut total = 0usize;
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match b.read(&mut buf).unwrap() {
                    0 => return total,
                    n => total += n,
                }
            }
        });
        let n = std::future::poll_fn(|cx| a.poll_write(cx, &[IoSlice::new(&chunk)], &[]))
            .await
            .unwrap();
        written += n;
        assert!(a.write.is_none(), "no watch once the write got through");
        a.shutdown();
        assert_eq!(reader.join().unwrap(), written, "every byte arrived");
    }

    #[tokio::test]
    async fn descriptors_pass_with_the_first_byte() {
        use std::io::{Read, Seek, Write};
        let (a, b) = UnixStream::pair().unwrap();
        let (mut a, mut b) = (
            UnixSocket::from_std(a).unwrap(),
            UnixSocket::from_std(b).unwrap(),
        );
        let mut file = tempfile_for("unix-socket-fd");
        file.write_all(b"passed").unwrap();
        let fds = [OwnedFd::from(file)];
        assert_eq!(send(&mut a, b"frame", &fds).await, 5);
        let (bytes, mut fds) = receive(&mut b).await;
        assert_eq!(bytes, b"frame");
        assert_eq!(fds.len(), 1);
        // The received descriptor is the same open file.
        let mut got = std::fs::File::from(fds.pop().unwrap());
        got.rewind().unwrap();
        let mut text = String::new();
        got.read_to_string(&mut text).unwrap();
        assert_eq!(text, "passed");
    }

    #[tokio::test]
    async fn what_follows_a_descriptor_is_read_without_a_new_wake_up() {
        // libvirtd sends each descriptor with a byte of its own after the
        // message; the next message may already be queued behind it.
        let (a, b) = UnixStream::pair().unwrap();
        let (mut a, mut b) = (
            UnixSocket::from_std(a).unwrap(),
            UnixSocket::from_std(b).unwrap(),
        );
        let fds = [OwnedFd::from(std::fs::File::open("/dev/null").unwrap())];
        assert_eq!(send(&mut a, b"\0", &fds).await, 1);
        assert_eq!(send(&mut a, b"next", &[]).await, 4);
        let (bytes, fds) = receive(&mut b).await;
        assert_eq!((bytes.as_slice(), fds.len()), (&b"\0"[..], 1));
        let next = tokio::time::timeout(std::time::Duration::from_secs(20), receive(&mut b))
            .await
            .expect("the queued bytes are read");
        assert_eq!(next.0, b"next");
    }

    #[tokio::test]
    async fn more_descriptors_than_a_message_carries_fail_the_read() {
        use rustix::net::{sendmsg, SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
        let (a, b) = UnixStream::pair().unwrap();
        let sent: Vec<OwnedFd> = (0..MAX_FDS + 8)
            .map(|_| OwnedFd::from(std::fs::File::open("/dev/null").unwrap()))
            .collect();
        let borrowed: Vec<_> = sent.iter().map(|f| f.as_fd()).collect();
        let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(64))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        assert!(control.push(SendAncillaryMessage::ScmRights(&borrowed)));
        sendmsg(&a, &[IoSlice::new(b"x")], &mut control, SendFlags::NOSIGNAL).unwrap();
        let mut b = UnixSocket::from_std(b).unwrap();
        let mut fds = Vec::new();
        let e = std::future::poll_fn(|cx| b.poll_read(cx, &mut [0u8; 16], &mut fds))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
        assert!(fds.is_empty(), "none kept from a truncated set");
    }
}
