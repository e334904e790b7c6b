//! Wire framing: every libvirt RPC message is a 4-byte big-endian length
//! (which counts itself), a 24-byte header, and an XDR body.
//!
//! [`FrameDecoder`] accepts bytes in any chunking and yields whole
//! [`Frame`]s; it rejects a length below the header size or above
//! [`MAX_MESSAGE`] as soon as the length is read, before buffering the
//! body. [`Frame::encode`] writes one.
//!
//! ```
//! use libvirt_proto::frame::{Frame, FrameDecoder, Header};
//! use libvirt_proto::virnet::{MessageStatus, MessageType};
//!
//! let header = Header {
//!     program: 0x2000_8086,
//!     version: 1,
//!     procedure: 1,
//!     kind: MessageType::Call,
//!     serial: 7,
//!     status: MessageStatus::Ok,
//! };
//! let bytes = Frame::new(header, vec![0, 0, 0, 0]).encode();
//! let mut decoder = FrameDecoder::new();
//! decoder.push(&bytes[..10]);
//! assert!(decoder.next_frame().unwrap().is_none());
//! decoder.push(&bytes[10..]);
//! let frame = decoder.next_frame().unwrap().unwrap();
//! assert_eq!(frame.header.serial, 7);
//! assert_eq!(frame.body, [0, 0, 0, 0]);
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use xdrgen::rt::{self, Encode};

use crate::generated::virnet::{self, MessageStatus, MessageType};

/// Bytes of the length prefix.
pub const LEN_PREFIX: usize = virnet::MESSAGE_LEN_MAX as usize;
/// Bytes of the header.
pub const HEADER_LEN: usize = virnet::MESSAGE_HEADER_MAX as usize;
/// The largest whole message, length prefix included (32 MiB).
pub const MAX_MESSAGE: usize = virnet::MESSAGE_MAX as usize;
/// The most file descriptors one message may carry.
pub const MAX_FDS: usize = virnet::MESSAGE_NUM_FDS_MAX as usize;

/// The 24-byte message header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// Program number (e.g. `remote::PROGRAM`).
    pub program: u32,
    /// Program version.
    pub version: u32,
    /// Procedure number (signed on the wire, as libvirt declares it).
    pub procedure: i32,
    /// Call, reply, message, stream, ...
    pub kind: MessageType,
    /// Matches replies and stream packets to their call.
    pub serial: u32,
    /// OK, ERROR or CONTINUE.
    pub status: MessageStatus,
}

impl Header {
    /// Whether this message type carries a file-descriptor count after the
    /// header.
    pub fn has_fds(&self) -> bool {
        matches!(
            self.kind,
            MessageType::CallWithFds | MessageType::ReplyWithFds
        )
    }
}

/// One whole message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Its header.
    pub header: Header,
    /// For `*_WITH_FDS` types: how many descriptors travel with it.
    pub num_fds: u32,
    /// The XDR body after the header (and the descriptor count).
    pub body: Vec<u8>,
}

impl Frame {
    /// A frame without descriptors.
    pub fn new(header: Header, body: Vec<u8>) -> Frame {
        Frame {
            header,
            num_fds: 0,
            body,
        }
    }

    /// A frame whose body is `value`, encoded once into an exactly sized
    /// buffer.
    pub fn with_body<T: Encode + ?Sized>(header: Header, value: &T) -> Result<Frame, rt::Error> {
        Ok(Frame::new(header, rt::to_bytes(value)?))
    }

    /// Total encoded size, length prefix included.
    pub fn encoded_len(&self) -> usize {
        LEN_PREFIX + HEADER_LEN + if self.header.has_fds() { 4 } else { 0 } + self.body.len()
    }

    /// The bytes on the wire, or [`FrameError::TooLarge`] above
    /// [`MAX_MESSAGE`] (checked before anything is allocated).
    pub fn try_encode(&self) -> Result<Vec<u8>, FrameError> {
        let len = self.encoded_len();
        check_len(len)?;
        let mut out = Vec::with_capacity(len);
        out.resize(LEN_PREFIX + HEADER_LEN, 0);
        if self.header.has_fds() {
            out.extend_from_slice(&self.num_fds.to_be_bytes());
        }
        out.extend_from_slice(&self.body);
        write_head(&mut out, &self.header)?;
        Ok(out)
    }

    /// The bytes on the wire, for a frame known to be within
    /// [`MAX_MESSAGE`] (tests, recorded traffic); see
    /// [`Frame::try_encode`].
    ///
    /// # Panics
    /// Above [`MAX_MESSAGE`]: the length prefix cannot say it.
    pub fn encode(&self) -> Vec<u8> {
        match self.try_encode() {
            Ok(bytes) => bytes,
            Err(e) => panic!("{e}"),
        }
    }
}

/// A whole outgoing message of `len` bytes fits the protocol.
fn check_len(len: usize) -> Result<u32, FrameError> {
    u32::try_from(len)
        .ok()
        .filter(|&l| l as usize <= MAX_MESSAGE)
        .ok_or(FrameError::TooLarge(len))
}

/// Writes the length prefix (the whole of `message`) and `header` into
/// the first [`LEN_PREFIX`] + [`HEADER_LEN`] bytes of `message`: the one
/// place the wire layout of a message's head is written.
fn write_head(message: &mut [u8], h: &Header) -> Result<(), FrameError> {
    let len = check_len(message.len())?;
    let words = [
        len,
        h.program,
        h.version,
        h.procedure as u32,
        h.kind as i32 as u32,
        h.serial,
        h.status as i32 as u32,
    ];
    for (i, w) in words.into_iter().enumerate() {
        message[i * 4..i * 4 + 4].copy_from_slice(&w.to_be_bytes());
    }
    Ok(())
}

/// A message body written in place: the buffer keeps room for the length
/// prefix and the header in front, so a payload (stream data, mostly) goes
/// on the wire without being copied again.
///
/// ```
/// use libvirt_proto::frame::{FrameBuf, FrameDecoder, Header};
/// use libvirt_proto::virnet::{MessageStatus, MessageType};
///
/// let mut buf = FrameBuf::with_capacity(5);
/// buf.extend_from_slice(b"hello");
/// # let header = Header { program: 1, version: 1, procedure: 1,
/// #     kind: MessageType::Stream, serial: 3, status: MessageStatus::Continue };
/// let bytes = buf.finish(&header).unwrap();
/// let mut decoder = FrameDecoder::new();
/// decoder.push(&bytes);
/// assert_eq!(decoder.next_frame().unwrap().unwrap().body, b"hello");
/// ```
#[derive(Debug, Clone)]
pub struct FrameBuf {
    buf: Vec<u8>,
}

impl Default for FrameBuf {
    fn default() -> Self {
        Self::with_capacity(0)
    }
}

impl FrameBuf {
    /// An empty body with room for `body` bytes.
    pub fn with_capacity(body: usize) -> Self {
        let mut buf = Vec::with_capacity(LEN_PREFIX + HEADER_LEN + body);
        buf.resize(LEN_PREFIX + HEADER_LEN, 0);
        FrameBuf { buf }
    }

    /// A body holding a copy of `body`, with room for nothing more.
    pub fn copy_of(body: &[u8]) -> Self {
        let mut buf = Self::with_capacity(body.len());
        buf.extend_from_slice(body);
        buf
    }

    /// An empty body in `buf`'s allocation (an earlier message's bytes,
    /// say), so a writer that sends message after message allocates once.
    pub fn reuse(mut buf: Vec<u8>) -> Self {
        buf.clear();
        buf.resize(LEN_PREFIX + HEADER_LEN, 0);
        FrameBuf { buf }
    }

    /// Bytes of body so far.
    pub fn len(&self) -> usize {
        self.buf.len() - LEN_PREFIX - HEADER_LEN
    }

    /// Whether the body is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of body the buffer holds without growing.
    pub fn capacity(&self) -> usize {
        self.buf.capacity() - LEN_PREFIX - HEADER_LEN
    }

    /// The body so far.
    pub fn body(&self) -> &[u8] {
        &self.buf[LEN_PREFIX + HEADER_LEN..]
    }

    /// Appends body bytes.
    pub fn extend_from_slice(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The whole message with `header` (a type without a descriptor
    /// count), or [`FrameError::TooLarge`] above [`MAX_MESSAGE`].
    pub fn finish(mut self, header: &Header) -> Result<Vec<u8>, FrameError> {
        if header.has_fds() {
            return Err(FrameError::BadFdCount(0));
        }
        write_head(&mut self.buf, header)?;
        Ok(self.buf)
    }
}

/// Why bytes are not a valid frame.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameError {
    /// The length prefix is smaller than a header.
    TooShort(u32),
    /// The length prefix is above [`MAX_MESSAGE`].
    TooLong(u32),
    /// The header's message type is unknown.
    UnknownType(u32),
    /// The header's status is unknown.
    UnknownStatus(u32),
    /// A `*_WITH_FDS` message announces more than [`MAX_FDS`] descriptors,
    /// or has no room for the count.
    BadFdCount(u32),
    /// A message to send would be this many bytes, above [`MAX_MESSAGE`].
    TooLarge(usize),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::TooShort(n) => write!(f, "message length {n} is shorter than a header"),
            FrameError::TooLong(n) => {
                write!(f, "message length {n} exceeds the limit of {MAX_MESSAGE}")
            }
            FrameError::UnknownType(t) => write!(f, "unknown message type {t}"),
            FrameError::UnknownStatus(s) => write!(f, "unknown message status {s}"),
            FrameError::BadFdCount(n) => write!(f, "invalid file descriptor count {n}"),
            FrameError::TooLarge(n) => {
                write!(
                    f,
                    "a message of {n} bytes exceeds the limit of {MAX_MESSAGE}"
                )
            }
        }
    }
}

impl std::error::Error for FrameError {}

fn word(b: &[u8], i: usize) -> u32 {
    u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

/// Parses a header from its 24 bytes.
pub fn parse_header(b: &[u8; HEADER_LEN]) -> Result<Header, FrameError> {
    let kind_raw = word(b, 12);
    let status_raw = word(b, 20);
    let kind = i32::try_from(kind_raw)
        .ok()
        .and_then(|k| MessageType::try_from(k).ok())
        .ok_or(FrameError::UnknownType(kind_raw))?;
    let status = i32::try_from(status_raw)
        .ok()
        .and_then(|s| MessageStatus::try_from(s).ok())
        .ok_or(FrameError::UnknownStatus(status_raw))?;
    Ok(Header {
        program: word(b, 0),
        version: word(b, 4),
        procedure: word(b, 8) as i32,
        kind,
        serial: word(b, 16),
        status,
    })
}

/// Turns a byte stream into frames.
///
/// A frame that arrives whole is copied once, from the caller's bytes into
/// its body. A large one arriving in pieces (stream data, mostly) has its
/// body filled in place as the pieces come, so its bytes are copied once
/// too; only the start of a small frame waits in a buffer of its own.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    /// Whole frames decoded and not yet returned.
    done: VecDeque<Frame>,
    /// Their size on the wire.
    done_bytes: usize,
    /// The start of the next frame while it is small, or its head is not
    /// complete yet.
    partial: Vec<u8>,
    /// A large frame whose body is being received in place.
    large: Option<LargeFrame>,
    /// A whole `*_WITH_FDS` frame waiting for the bytes its descriptors
    /// come with (one each, after the message, as libvirt sends them):
    /// how many are still to come.
    awaiting_fds: Option<(Frame, usize)>,
    /// The framing error that ends the stream, after the frames before it.
    error: Option<FrameError>,
    /// Where large bodies come from.
    pool: BodyPool,
}

/// A frame at least this large (body) is received in place.
const LARGE_BODY: usize = 16 * 1024;

const _: () = assert!(BodyPool::MAX_CAPACITY >= virnet::MESSAGE_LEGACY_PAYLOAD_MAX as usize);

/// A large frame's body grows with what arrives from this capacity: a
/// length alone commits no more memory than this.
const LARGE_INITIAL: usize = 1 << 20;

/// Spare buffers for the bodies of large frames, shared by a
/// [`FrameDecoder`] and whatever consumes its frames' bodies.
///
/// A body given back once its bytes are used receives a later large
/// frame of its size, so a steady flow of them (stream data, whose
/// packets but the last are all of one size) cycles through a few
/// buffers instead of asking the allocator, and through it the kernel,
/// for fresh memory every time: a freshly mapped 256 KiB buffer costs 64
/// page faults, each zeroing its page, and unmapping it again flushes
/// the TLB of every CPU running the process's threads. Only a buffer of the
/// body's exact size is taken, since a body is read in place up to its
/// buffer's capacity (see [`FrameDecoder::body_space`]).
///
/// Clones share the buffers. At most [`BodyPool::BUFFERS`] wait, the
/// most recently given back, each holding at most
/// [`BodyPool::MAX_CAPACITY`] bytes (1 MiB in all); a body larger or
/// smaller than that is freed.
///
/// ```
/// use libvirt_proto::frame::{FrameDecoder, Frame};
/// # use libvirt_proto::frame::Header;
/// # use libvirt_proto::virnet::{MessageStatus, MessageType};
/// # let header = Header { program: 0x2000_8086, version: 1, procedure: 209,
/// #     kind: MessageType::Stream, serial: 7, status: MessageStatus::Continue };
/// let mut decoder = FrameDecoder::new();
/// let packet = Frame::new(header, vec![7; 200_000]).encode();
/// for _ in 0..3 {
///     decoder.push(&packet[..1000]);
///     decoder.push(&packet[1000..]);
///     let frame = decoder.next_frame()?.expect("whole");
///     // ... the data is used ...
///     decoder.body_pool().give_back(frame.body);
/// }
/// assert_eq!(decoder.body_pool().spare(), 1);
/// # Ok::<(), libvirt_proto::frame::FrameError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct BodyPool(Arc<Mutex<Vec<Vec<u8>>>>);

impl BodyPool {
    /// The most buffers kept.
    pub const BUFFERS: usize = 4;
    /// The largest buffer kept: a stream data message's body
    /// ([`virnet::MESSAGE_LEGACY_PAYLOAD_MAX`] bytes) fits.
    pub const MAX_CAPACITY: usize = 256 * 1024;

    /// An empty pool.
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps `body` for a later large frame of its capacity, in place of
    /// the buffer given back longest ago if the pool is full.
    pub fn give_back(&self, mut body: Vec<u8>) {
        if !(LARGE_BODY..=Self::MAX_CAPACITY).contains(&body.capacity()) {
            return;
        }
        body.clear();
        let mut spare = self.lock();
        let oldest = (spare.len() == Self::BUFFERS).then(|| spare.remove(0));
        spare.push(body);
        drop(spare);
        drop(oldest);
    }

    /// How many buffers wait to be used.
    pub fn spare(&self) -> usize {
        self.lock().len()
    }

    /// A buffer of exactly `capacity` bytes holding a copy of `bytes`
    /// (which fit).
    fn filled(&self, capacity: usize, bytes: &[u8]) -> Vec<u8> {
        let mut buf = self.take(capacity);
        buf.extend_from_slice(bytes);
        buf
    }

    /// An empty buffer of exactly `capacity` bytes.
    fn take(&self, capacity: usize) -> Vec<u8> {
        let mut spare = self.lock();
        let found = spare.iter().rposition(|b| b.capacity() == capacity);
        let reused = found.map(|i| spare.remove(i));
        drop(spare);
        reused.unwrap_or_else(|| Vec::with_capacity(capacity))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Vec<u8>>> {
        // A panic elsewhere leaves nothing half-done in a list of buffers.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Debug)]
struct LargeFrame {
    header: Header,
    num_fds: u32,
    /// The head's size on the wire (length, header, descriptor count).
    head_len: usize,
    body: Vec<u8>,
    body_len: usize,
}

/// What the start of a frame says.
enum Scan {
    /// Not enough bytes to decide.
    NeedMore,
    /// The whole frame, this many bytes, is there.
    Whole(usize),
    /// The head of a large frame is there, not its whole body.
    Head(LargeFrame),
}

/// Looks at the bytes starting a frame, checking the length before
/// anything is buffered.
fn scan(bytes: &[u8], pool: &BodyPool) -> Result<Scan, FrameError> {
    if bytes.len() < LEN_PREFIX {
        return Ok(Scan::NeedMore);
    }
    let len = word(bytes, 0);
    if (len as usize) < LEN_PREFIX + HEADER_LEN {
        return Err(FrameError::TooShort(len));
    }
    if len as usize > MAX_MESSAGE {
        return Err(FrameError::TooLong(len));
    }
    let len = len as usize;
    if bytes.len() >= len {
        return Ok(Scan::Whole(len));
    }
    if bytes.len() < LEN_PREFIX + HEADER_LEN + 4 || len < LEN_PREFIX + HEADER_LEN + LARGE_BODY {
        return Ok(Scan::NeedMore);
    }
    let (header, num_fds, head_len) = parse_head(bytes, len)?;
    let body_len = len - head_len;
    if body_len < LARGE_BODY {
        return Ok(Scan::NeedMore);
    }
    Ok(Scan::Head(LargeFrame {
        header,
        num_fds,
        head_len,
        body: pool.filled(body_len.min(LARGE_INITIAL), &bytes[head_len..]),
        body_len,
    }))
}

/// The header, descriptor count and head size of a frame of `len` bytes
/// whose first bytes (at least the header and four more, or all `len`)
/// are `bytes`.
fn parse_head(bytes: &[u8], len: usize) -> Result<(Header, u32, usize), FrameError> {
    let mut head = [0u8; HEADER_LEN];
    head.copy_from_slice(&bytes[LEN_PREFIX..LEN_PREFIX + HEADER_LEN]);
    let header = parse_header(&head)?;
    let mut head_len = LEN_PREFIX + HEADER_LEN;
    let mut num_fds = 0;
    if header.has_fds() {
        if len < head_len + 4 {
            return Err(FrameError::BadFdCount(0));
        }
        num_fds = word(bytes, head_len);
        if num_fds as usize > MAX_FDS {
            return Err(FrameError::BadFdCount(num_fds));
        }
        head_len += 4;
    }
    Ok((header, num_fds, head_len))
}

/// The frame that is all of `bytes`.
fn whole_frame(bytes: &[u8], pool: &BodyPool) -> Result<Frame, FrameError> {
    let (header, num_fds, head_len) = parse_head(bytes, bytes.len())?;
    let data = &bytes[head_len..];
    let body = if data.len() >= LARGE_BODY {
        pool.filled(data.len(), data)
    } else {
        data.to_vec()
    };
    Ok(Frame {
        header,
        num_fds,
        body,
    })
}

impl FrameDecoder {
    /// An empty decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds received bytes.
    pub fn push(&mut self, mut data: &[u8]) {
        self.body_appended();
        while !data.is_empty() && self.error.is_none() {
            if let Some((frame, missing)) = self.awaiting_fds.take() {
                // Their value does not matter (libvirt sends zeros).
                let n = missing.min(data.len());
                data = &data[n..];
                if missing == n {
                    self.done_bytes += frame.encoded_len() + frame.num_fds as usize;
                    self.done.push_back(frame);
                } else {
                    self.awaiting_fds = Some((frame, missing - n));
                }
                continue;
            }
            if let Some(large) = self.large.as_mut() {
                let n = (large.body_len - large.body.len()).min(data.len());
                large.body.extend_from_slice(&data[..n]);
                data = &data[n..];
                self.body_appended();
                continue;
            }
            let from_partial = !self.partial.is_empty();
            let bytes = if from_partial {
                // Only as much as the next decision needs: the length, the
                // head, then the rest of the frame.
                let have = self.partial.len();
                let need = if have < LEN_PREFIX {
                    LEN_PREFIX - have
                } else {
                    let len = word(&self.partial, 0) as usize;
                    let head = (LEN_PREFIX + HEADER_LEN + 4).min(len);
                    if have < head {
                        head - have
                    } else {
                        len.saturating_sub(have)
                    }
                };
                let n = need.min(data.len());
                self.partial.extend_from_slice(&data[..n]);
                data = &data[n..];
                &self.partial[..]
            } else {
                data
            };
            let scanned = scan(bytes, &self.pool).and_then(|s| match s {
                Scan::Whole(len) => {
                    whole_frame(&bytes[..len], &self.pool).map(|f| (Some(f), len, None))
                }
                Scan::Head(l) => Ok((None, bytes.len(), Some(l))),
                Scan::NeedMore => Ok((None, 0, None)),
            });
            match scanned {
                Err(e) => self.error = Some(e),
                Ok((frame, used, large)) => {
                    if let Some(f) = frame {
                        self.finish(f);
                    }
                    self.large = large;
                    if from_partial {
                        if used > 0 {
                            self.partial.clear();
                        }
                    } else if used > 0 {
                        data = &data[used..];
                    } else {
                        self.partial.extend_from_slice(data);
                        data = &[];
                    }
                }
            }
        }
    }

    /// The body of the large frame under way, for a transport to read the
    /// rest of it straight into, saving [`FrameDecoder::push`]'s copy:
    /// bytes appended within its spare capacity, which never exceeds what
    /// the body lacks, count once [`FrameDecoder::body_appended`] is
    /// called. `None` when no large body is under way (the next bytes go
    /// to `push`).
    ///
    /// ```
    /// use libvirt_proto::frame::FrameDecoder;
    /// # fn read_more(_: &mut [u8]) -> usize { 0 }
    /// # fn read_onto(_: &mut Vec<u8>) -> usize { 0 }
    /// let mut decoder = FrameDecoder::new();
    /// let mut buf = [0u8; 16 * 1024];
    /// loop {
    ///     let n = match decoder.body_space() {
    ///         Some(body) => {
    ///             // At most `body.capacity() - body.len()` bytes.
    ///             let n = read_onto(body);
    ///             decoder.body_appended();
    ///             n
    ///         }
    ///         None => {
    ///             let n = read_more(&mut buf);
    ///             decoder.push(&buf[..n]);
    ///             n
    ///         }
    ///     };
    ///     # if n == 0 { break; }
    ///     while let Some(frame) = decoder.next_frame()? {
    ///         // ...
    ///         # drop(frame);
    ///     }
    /// }
    /// # Ok::<(), libvirt_proto::frame::FrameError>(())
    /// ```
    pub fn body_space(&mut self) -> Option<&mut Vec<u8>> {
        // A body filled without `body_appended` is settled first.
        self.body_appended();
        if self.error.is_some() || self.awaiting_fds.is_some() {
            return None;
        }
        let large = self.large.as_mut()?;
        let missing = large.body_len - large.body.len();
        let body = &mut large.body;
        if body.capacity() == body.len() {
            // Growing by doubling as in `push`: memory follows what came.
            body.reserve_exact(missing.min(body.len().max(LARGE_BODY)));
        }
        (body.capacity() - body.len() <= missing).then_some(body)
    }

    /// Bytes were appended to [`FrameDecoder::body_space`]: the frame ends
    /// if its body is whole (bytes appended past it, beyond the space
    /// given, count as [`push`](FrameDecoder::push)ed after it).
    pub fn body_appended(&mut self) {
        let Some(mut l) = self.large.take_if(|l| l.body.len() >= l.body_len) else {
            return;
        };
        let beyond = l.body.split_off(l.body_len);
        self.finish(Frame {
            header: l.header,
            num_fds: l.num_fds,
            body: l.body,
        });
        if !beyond.is_empty() {
            self.push(&beyond);
        }
    }

    fn finish(&mut self, frame: Frame) {
        if frame.num_fds > 0 {
            let n = frame.num_fds as usize;
            self.awaiting_fds = Some((frame, n));
            return;
        }
        self.done_bytes += frame.encoded_len();
        self.done.push_back(frame);
    }

    /// Whether the bytes so far end inside a frame (its length, head or
    /// body), not at the end of one or among the descriptor bytes after
    /// one.
    pub(crate) fn is_mid_frame(&self) -> bool {
        !self.partial.is_empty() || self.large.is_some()
    }

    /// How many of the bytes that carry the descriptors of the last whole
    /// frame are still to come (they follow it, one per descriptor). Under
    /// a SASL security layer these come outside the layer's packets, as
    /// libvirt sends them: a transport decoding the layer passes this many
    /// bytes on as they are before it decodes the next packet.
    pub fn descriptor_bytes_due(&self) -> usize {
        self.awaiting_fds.as_ref().map_or(0, |(_, n)| *n)
    }

    /// The buffers large bodies are taken from: give a body back to it
    /// once its bytes are used (a clone of the pool can go wherever the
    /// frames go).
    pub fn body_pool(&self) -> &BodyPool {
        &self.pool
    }

    /// Bytes received but not yet returned as frames.
    pub fn buffered(&self) -> usize {
        self.done_bytes
            + self.partial.len()
            + self.large.as_ref().map_or(0, |l| l.head_len + l.body.len())
            + self
                .awaiting_fds
                .as_ref()
                .map_or(0, |(f, _)| f.encoded_len())
    }

    /// The next whole frame, if one has arrived. After an error the
    /// stream cannot be resynchronised: the connection must be closed.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        if let Some(f) = self.done.pop_front() {
            self.done_bytes -= f.encoded_len() + f.num_fds as usize;
            return Ok(Some(f));
        }
        match &self.error {
            Some(e) => Err(e.clone()),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(kind: MessageType) -> Header {
        Header {
            program: 0x2000_8086,
            version: 1,
            procedure: 16,
            kind,
            serial: 3,
            status: MessageStatus::Ok,
        }
    }

    #[test]
    fn encodes_the_documented_layout() {
        let b = Frame::new(header(MessageType::Reply), vec![9, 9, 9, 9]).encode();
        assert_eq!(
            b,
            [
                0, 0, 0, 32, 0x20, 0, 0x80, 0x86, 0, 0, 0, 1, 0, 0, 0, 16, 0, 0, 0, 1, 0, 0, 0, 3,
                0, 0, 0, 0, 9, 9, 9, 9
            ]
        );
    }

    #[test]
    fn outgoing_messages_above_the_limit_are_refused() {
        let most = MAX_MESSAGE - LEN_PREFIX - HEADER_LEN;
        let mut f = Frame::new(header(MessageType::Call), vec![0; most]);
        assert_eq!(f.try_encode().unwrap().len(), MAX_MESSAGE);
        f.body.push(0);
        assert_eq!(f.try_encode(), Err(FrameError::TooLarge(MAX_MESSAGE + 1)));
        let mut buf = FrameBuf::with_capacity(most + 1);
        buf.extend_from_slice(&f.body);
        assert_eq!(
            buf.finish(&header(MessageType::Stream)),
            Err(FrameError::TooLarge(MAX_MESSAGE + 1))
        );
    }

    /// A frame as it travels: the message, then a byte per descriptor.
    fn on_wire(f: &Frame) -> Vec<u8> {
        let mut b = f.encode();
        b.resize(b.len() + f.num_fds as usize, 0);
        b
    }

    #[test]
    fn splits_at_every_byte_boundary() {
        let a = Frame::new(header(MessageType::Call), vec![1, 2, 3, 4]);
        let mut b = Frame::new(header(MessageType::CallWithFds), vec![]);
        b.num_fds = 2;
        let c = Frame::new(header(MessageType::Stream), vec![7; 100]);
        let stream: Vec<u8> = [on_wire(&a), on_wire(&b), on_wire(&c)].concat();
        for split in 0..=stream.len() {
            let mut d = FrameDecoder::new();
            let mut got = Vec::new();
            for chunk in [&stream[..split], &stream[split..]] {
                d.push(chunk);
                while let Some(f) = d.next_frame().unwrap() {
                    got.push(f);
                }
            }
            assert_eq!(got, [a.clone(), b.clone(), c.clone()], "split at {split}");
            assert_eq!(d.buffered(), 0);
        }
        // The frame with descriptors waits for the bytes they come with.
        let mut d = FrameDecoder::new();
        d.push(&on_wire(&b)[..b.encoded_len() + 1]);
        assert_eq!(d.next_frame(), Ok(None));
        d.push(&[0]);
        assert_eq!(d.next_frame(), Ok(Some(b.clone())));
        // One byte at a time.
        let mut d = FrameDecoder::new();
        let mut n = 0;
        for byte in &stream {
            d.push(std::slice::from_ref(byte));
            while d.next_frame().unwrap().is_some() {
                n += 1;
            }
        }
        assert_eq!(n, 3);
    }

    /// A stream packet of `n` bytes of a pattern `seed` picks.
    fn big(n: usize, seed: u8) -> Frame {
        let body = (0..n).map(|i| (i as u8).wrapping_mul(seed)).collect();
        Frame::new(header(MessageType::Stream), body)
    }

    /// A large reply with `num_fds` descriptors.
    fn large_with_fds(num_fds: u32) -> Frame {
        let mut f = big(LARGE_BODY + 8, 3);
        f.header.kind = MessageType::ReplyWithFds;
        f.num_fds = num_fds;
        f
    }

    #[test]
    fn large_frames_fill_in_place_at_any_split() {
        let small = Frame::new(header(MessageType::Call), vec![1, 2, 3, 4]);
        let with_fds = large_with_fds(1);
        let frames = [
            small.clone(),
            big(100_000, 7),
            big(LARGE_BODY, 5),
            with_fds,
            small,
        ];
        let stream: Vec<u8> = frames.iter().flat_map(on_wire).collect();
        let step = 997;
        for a in (0..stream.len()).step_by(step) {
            for b in [a + 1, a + 31, a + 40_000, stream.len()] {
                let b = b.min(stream.len());
                let mut d = FrameDecoder::new();
                let mut got = Vec::new();
                for piece in [&stream[..a], &stream[a..b], &stream[b..]] {
                    d.push(piece);
                    assert!(d.buffered() <= stream.len());
                    while let Some(f) = d.next_frame().unwrap() {
                        got.push(f);
                    }
                }
                assert!(got == frames, "split at {a} and {b}");
                assert_eq!(d.buffered(), 0);
            }
        }
    }

    #[test]
    fn bodies_read_in_place_end_where_their_frames_do() {
        let with_fds = large_with_fds(2);
        let small = Frame::new(header(MessageType::Call), vec![1, 2, 3, 4]);
        let frames = [
            big(262_120, 7),
            small.clone(),
            big(3 << 20, 5),
            with_fds,
            big(LARGE_BODY, 9),
            small,
        ];
        let stream: Vec<u8> = frames.iter().flat_map(on_wire).collect();
        // A transport reading at most `read` bytes at a time, into the
        // body when there is one under way, else through `push`.
        for read in [1, 29, 4096, 16 << 10, 300_000] {
            let mut d = FrameDecoder::new();
            let (mut at, mut got, mut in_place) = (0, Vec::new(), 0);
            while at < stream.len() {
                let lacks = d.large.as_ref().map(|l| l.body_len - l.body.len());
                let n = match d.body_space() {
                    Some(body) => {
                        let room = body.capacity() - body.len();
                        assert!(room > 0 && Some(room) <= lacks, "{room} for {lacks:?}");
                        // Memory follows what came: past the first
                        // allocation, at most double.
                        assert!(body.capacity() <= (2 * body.len()).max(LARGE_INITIAL));
                        let n = room.min(read).min(stream.len() - at);
                        let cap = body.capacity();
                        body.extend_from_slice(&stream[at..at + n]);
                        assert_eq!(body.capacity(), cap);
                        d.body_appended();
                        in_place += n;
                        n
                    }
                    None => {
                        let n = read.min(stream.len() - at);
                        d.push(&stream[at..at + n]);
                        n
                    }
                };
                at += n;
                while let Some(f) = d.next_frame().unwrap() {
                    got.push(f);
                }
            }
            assert!(got == frames, "reads of {read}");
            assert_eq!(d.buffered(), 0);
            // Most of the large bodies came in place.
            assert!(
                in_place > stream.len() / 2,
                "{in_place} with reads of {read}"
            );
        }
    }

    /// Receives `frame` as a transport reading in place would: its first
    /// bytes pushed, the rest appended to the body's space.
    fn receive_in_place(d: &mut FrameDecoder, frame: &Frame) -> Frame {
        let wire = on_wire(frame);
        d.push(&wire[..100]);
        let body = d.body_space().expect("a large body under way");
        assert_eq!(body.capacity() - body.len(), wire.len() - 100);
        body.extend_from_slice(&wire[100..]);
        d.body_appended();
        d.next_frame().unwrap().expect("whole")
    }

    #[test]
    fn bodies_given_back_receive_later_frames_of_their_size() {
        let mut d = FrameDecoder::new();
        let pool = d.body_pool().clone();
        let packets: Vec<Frame> = (1..=5).map(|seed| big(262_120, seed)).collect();
        let first = receive_in_place(&mut d, &packets[0]);
        let buffer = first.body.as_ptr();
        assert!(first == packets[0]);
        pool.give_back(first.body);
        for p in &packets[1..] {
            // The same buffer each time, holding only the new packet.
            let got = receive_in_place(&mut d, p);
            assert_eq!(got.body.as_ptr(), buffer);
            assert!(got == *p);
            pool.give_back(got.body);
        }
        // A body of another size gets a buffer of its own, read in place
        // all the same; a whole frame pushed at once takes a spare too.
        let other = receive_in_place(&mut d, &big(100_000, 9));
        assert_ne!(other.body.as_ptr(), buffer);
        assert_eq!(pool.spare(), 1);
        d.push(&on_wire(&packets[4]));
        let whole = d.next_frame().unwrap().unwrap();
        assert_eq!(whole.body.as_ptr(), buffer);
        assert!(whole == packets[4]);
        assert_eq!(pool.spare(), 0);
    }

    #[test]
    fn the_pool_keeps_the_last_few_buffers_of_a_packets_size() {
        let pool = BodyPool::new();
        pool.give_back(Vec::with_capacity(LARGE_BODY - 1));
        pool.give_back(Vec::with_capacity(BodyPool::MAX_CAPACITY + 1));
        assert_eq!(pool.spare(), 0, "too small or too large to keep");
        let buffers: Vec<Vec<u8>> = (0..BodyPool::BUFFERS + 2)
            .map(|i| Vec::with_capacity(LARGE_BODY + i))
            .collect();
        let kept: Vec<*const u8> = buffers[2..].iter().map(|b| b.as_ptr()).collect();
        for b in buffers {
            pool.give_back(b);
        }
        assert_eq!(pool.spare(), BodyPool::BUFFERS);
        // The oldest went; the others are taken by size, emptied.
        for (i, ptr) in kept.iter().enumerate() {
            let b = pool.take(LARGE_BODY + 2 + i);
            assert_eq!((b.as_ptr(), b.len()), (*ptr, 0));
        }
        assert_eq!(pool.take(LARGE_BODY).capacity(), LARGE_BODY);
        assert_eq!(pool.spare(), 0);
    }

    #[test]
    fn a_large_length_alone_commits_little_memory() {
        let mut d = FrameDecoder::new();
        let mut head = Frame::new(header(MessageType::Stream), Vec::new()).encode();
        head[..4].copy_from_slice(&(MAX_MESSAGE as u32).to_be_bytes());
        head.extend_from_slice(&[0; 8]);
        d.push(&head);
        assert_eq!(d.next_frame(), Ok(None));
        let l = d.large.as_ref().expect("received in place");
        assert!(l.body.capacity() <= LARGE_INITIAL);
        assert_eq!(d.buffered(), head.len());
    }

    #[test]
    fn rejects_bad_lengths_before_buffering_the_body() {
        let mut d = FrameDecoder::new();
        d.push(&27u32.to_be_bytes());
        assert_eq!(d.next_frame(), Err(FrameError::TooShort(27)));
        let mut d = FrameDecoder::new();
        d.push(&(MAX_MESSAGE as u32 + 1).to_be_bytes());
        assert_eq!(
            d.next_frame(),
            Err(FrameError::TooLong(MAX_MESSAGE as u32 + 1))
        );
        // The largest allowed length is only waited for.
        let mut d = FrameDecoder::new();
        d.push(&(MAX_MESSAGE as u32).to_be_bytes());
        assert_eq!(d.next_frame(), Ok(None));
    }

    #[test]
    fn rejects_unknown_types_statuses_and_fd_counts() {
        let mut bytes = Frame::new(header(MessageType::Call), vec![]).encode();
        bytes[19] = 9;
        let mut d = FrameDecoder::new();
        d.push(&bytes);
        assert_eq!(d.next_frame(), Err(FrameError::UnknownType(9)));
        let mut bytes = Frame::new(header(MessageType::Call), vec![]).encode();
        bytes[27] = 5;
        let mut d = FrameDecoder::new();
        d.push(&bytes);
        assert_eq!(d.next_frame(), Err(FrameError::UnknownStatus(5)));
        let mut f = Frame::new(header(MessageType::ReplyWithFds), vec![]);
        f.num_fds = 33;
        let mut d = FrameDecoder::new();
        d.push(&f.encode());
        assert_eq!(d.next_frame(), Err(FrameError::BadFdCount(33)));
    }
}
