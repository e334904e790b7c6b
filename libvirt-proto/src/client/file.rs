//! Streams to and from files: [`ByteStream::send_file`] and
//! [`ByteStream::recv_file`] do the file's I/O on a blocking thread with
//! `std::fs`, overlapped with the connection's, so a volume upload or
//! download takes one call and less CPU than through `tokio::fs`. On a
//! sparse stream, holes stay holes both ways: skipped when writing where
//! the file then reads as zeros (else written as zeros), found with
//! `SEEK_DATA` / `SEEK_HOLE` when reading.
//!
//! Why not `tokio::fs::File` underneath: it hands every read and write to
//! a blocking thread of its own and reads into a heap buffer, which is
//! only 16-byte aligned, and on some x86 CPUs the kernel copies a file's
//! pages into a buffer that does not start on a cache line several times
//! slower. Here the reads go into cache-aligned buffers that rotate
//! between the reading thread and the stream, and received packets move
//! to the writing thread without a copy.

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::sync::Arc;

use tokio::sync::mpsc;

use super::stream::ZEROS;
use super::{ByteStream, Chunk, ClientError};
use crate::frame::BodyPool;

/// Bytes read from a file at once.
const READ_CHUNK: usize = 1 << 20;

/// Read buffers in rotation: one being read into, one being sent, one
/// ready.
const READ_BUFFERS: usize = 3;

/// Received packets waiting for the writing thread (each at most a
/// [`STREAM_PACKET`](super::STREAM_PACKET)).
const WRITE_QUEUE: usize = 8;

/// A read buffer's alignment: a cache line.
const CACHE_LINE: usize = 64;

/// Why [`ByteStream::send_file`] or [`ByteStream::recv_file`] stopped.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum FileTransferError {
    /// The stream failed: the daemon's error, or the connection's end.
    Stream(ClientError),
    /// Reading or writing the file failed.
    File(Arc<io::Error>),
}

impl fmt::Display for FileTransferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileTransferError::Stream(_) => f.write_str("the stream failed"),
            FileTransferError::File(_) => f.write_str("the file's I/O failed"),
        }
    }
}

impl std::error::Error for FileTransferError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FileTransferError::Stream(e) => Some(e),
            FileTransferError::File(e) => Some(&**e),
        }
    }
}

/// [`READ_CHUNK`] bytes that start on a cache line.
struct AlignedBuf {
    area: Vec<u8>,
    start: usize,
}

impl AlignedBuf {
    fn new() -> AlignedBuf {
        let area = vec![0; READ_CHUNK + CACHE_LINE];
        // At most CACHE_LINE - 1 (and never past the spare bytes).
        let start = area.as_ptr().align_offset(CACHE_LINE).min(CACHE_LINE);
        AlignedBuf { area, start }
    }

    fn bytes(&self) -> &[u8] {
        &self.area[self.start..self.start + READ_CHUNK]
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.area[self.start..self.start + READ_CHUNK]
    }
}

impl ByteStream {
    /// Sends what `file` holds from its current position to its end, and
    /// returns the number of bytes the stream covered (holes included). The file is read on a blocking thread while earlier
    /// bytes go out.
    ///
    /// On a [sparse](Self::is_sparse) stream the file's holes go as holes,
    /// found as `virsh vol-upload --sparse` finds them (`SEEK_DATA` and
    /// `SEEK_HOLE`, on Linux), so a sparse image sends only its data and
    /// stays sparse on the daemon's side. Otherwise, or where the file
    /// cannot tell (a pipe), every byte is sent as data.
    ///
    /// Call [`finish`](Self::finish) afterwards for the daemon to confirm
    /// the upload. When reading the file fails, the stream is aborted (a
    /// later `finish` fails too), so a partial upload is never finished;
    /// the error is [`FileTransferError::File`].
    ///
    /// ```no_run
    /// # async fn demo(
    /// #     client: &libvirt_proto::client::Client,
    /// #     vol: &libvirt_proto::remote::NonnullStorageVol,
    /// # ) -> Result<(), Box<dyn std::error::Error>> {
    /// use libvirt_proto::api::StorageVolUploadFlags;
    ///
    /// let sparse = StorageVolUploadFlags::SPARSE_STREAM.bits();
    /// let mut stream = client.storage_vol_upload(vol, 0, 0, sparse).await?;
    /// stream.send_file(std::fs::File::open("disk.img")?).await?;
    /// stream.finish().await?;
    /// # Ok(()) }
    /// ```
    pub async fn send_file(&mut self, file: File) -> Result<u64, FileTransferError> {
        let (reader, empty_tx, mut full_rx) = FileReader::new(file, READ_BUFFERS, READ_BUFFERS);
        let sparse = self.is_sparse();
        let reader = tokio::task::spawn_blocking(move || reader.run(sparse));
        let mut sent = 0u64;
        loop {
            let piece = match full_rx.recv().await {
                // The reader is done: at the end of the file, unless it
                // panicked.
                None => {
                    return match reader.await {
                        Ok(()) => Ok(sent),
                        Err(e) => Err(self.file_failed(thread_failed("reader", e))),
                    };
                }
                // Without its channels the reader stops after its current
                // read; nothing waits for it.
                Some(Err(e)) => return Err(self.file_failed(e)),
                Some(Ok(piece)) => piece,
            };
            let n = match piece {
                Piece::Data(buf, n) => {
                    let result = self.send(&buf.bytes()[..n]).await;
                    // The reader may have gone already (at the end).
                    let _ = empty_tx.send(buf);
                    result.map(|()| n as u64)
                }
                Piece::Hole(n) => self.send_hole(n).await.map(|()| n),
            };
            sent = sent.saturating_add(n.map_err(FileTransferError::Stream)?);
        }
    }

    /// Writes what the stream brings into `file` from its current
    /// position, up to the end of the data, and returns the number of
    /// bytes the stream carried (holes included). Packets are written on
    /// a blocking thread as they arrive, without being copied.
    ///
    /// Holes (a sparse download) are skipped, not written, where the file
    /// then reads as zeros: in a regular file, past the length it had
    /// when the transfer began (a hole at the end extends the file to its
    /// full length), so in a new or empty file a hole takes no space.
    /// Over the file's old bytes, into a block device or a pipe, and into
    /// a file opened for appending, holes are written as zeros.
    ///
    /// When writing the file fails, the stream is aborted (the daemon
    /// stops sending) and the error is [`FileTransferError::File`].
    /// The bytes are written, not synced: to sync them, keep a clone of
    /// the file (`file.try_clone()`) and call `sync_all` on it afterwards.
    ///
    /// ```no_run
    /// # async fn demo(
    /// #     client: &libvirt_proto::client::Client,
    /// #     vol: &libvirt_proto::remote::NonnullStorageVol,
    /// # ) -> Result<(), Box<dyn std::error::Error>> {
    /// let mut stream = client.storage_vol_download(vol, 0, 0, 0).await?;
    /// stream.recv_file(std::fs::File::create("disk.img")?).await?;
    /// # Ok(()) }
    /// ```
    pub async fn recv_file(&mut self, file: File) -> Result<u64, FileTransferError> {
        let (tx, rx) = mpsc::channel(WRITE_QUEUE);
        let pool = self.body_pool().clone();
        let writer = tokio::task::spawn_blocking(move || write_file(file, rx, &pool));
        let mut received = 0u64;
        let mut failed = None;
        loop {
            match self.recv_chunk().await {
                Ok(None) => {
                    // Closed only when the writer has failed.
                    let _ = tx.send(ToFile::End).await;
                    break;
                }
                Ok(Some(chunk)) => {
                    let n = chunk.stream_len();
                    // Closed only when the writer has failed.
                    if tx.send(ToFile::Chunk(chunk)).await.is_err() {
                        break;
                    }
                    received = received.saturating_add(n);
                }
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        drop(tx);
        let written = writer
            .await
            .unwrap_or_else(|e| Err(thread_failed("writer", e)));
        match (written, failed) {
            (Err(e), _) => Err(self.file_failed(e)),
            (Ok(()), Some(e)) => Err(FileTransferError::Stream(e)),
            (Ok(()), None) => Ok(received),
        }
    }
}

impl ByteStream {
    /// Aborts the transfer for the file's error `e` (the daemon stops,
    /// and the stream's later reads and finish fail).
    fn file_failed(&mut self, e: io::Error) -> FileTransferError {
        self.abort_with(ClientError::StreamEnded);
        FileTransferError::File(Arc::new(e))
    }
}

/// The file's reading or writing thread panicked (or was cancelled).
fn thread_failed(role: &str, e: tokio::task::JoinError) -> io::Error {
    io::Error::other(format!("the file's {role} failed: {e}"))
}

/// What the reading thread hands the stream.
enum Piece {
    /// The buffer's first bytes.
    Data(AlignedBuf, usize),
    /// A hole of this many bytes.
    Hole(u64),
}

/// Why the reading thread stopped early.
enum Stop {
    /// The stream's side has gone (it failed): nobody waits for more.
    Gone,
    /// The file's I/O failed.
    Failed(io::Error),
}

impl From<io::Error> for Stop {
    fn from(e: io::Error) -> Self {
        Stop::Failed(e)
    }
}

/// The reading thread of [`ByteStream::send_file`]: fills the buffers
/// `empty` brings and passes them on through `full`, with the holes
/// between them, until the end of the file, an error, or the stream's
/// side going away.
struct FileReader {
    file: File,
    empty: std::sync::mpsc::Receiver<AlignedBuf>,
    /// A buffer taken but not filled (the file had ended).
    spare: Option<AlignedBuf>,
    full: mpsc::Sender<io::Result<Piece>>,
}

impl FileReader {
    /// A reader of `file` with `buffers` buffers in rotation, and the
    /// ends the stream's side keeps: where used buffers go back, and
    /// where up to `queue` pieces wait.
    fn new(
        file: File,
        buffers: usize,
        queue: usize,
    ) -> (
        FileReader,
        std::sync::mpsc::Sender<AlignedBuf>,
        mpsc::Receiver<io::Result<Piece>>,
    ) {
        let (empty_tx, empty) = std::sync::mpsc::channel();
        for _ in 0..buffers {
            let _ = empty_tx.send(AlignedBuf::new());
        }
        let (full, full_rx) = mpsc::channel(queue);
        let reader = FileReader {
            file,
            empty,
            spare: None,
            full,
        };
        (reader, empty_tx, full_rx)
    }

    /// Reads the whole file, finding its holes when `sparse`.
    fn run(mut self, sparse: bool) {
        let end = if sparse {
            self.send_sections()
        } else {
            self.send_rest()
        };
        if let Err(Stop::Failed(e)) = end {
            let _ = self.full.blocking_send(Err(e));
        }
    }

    fn pass(&self, piece: Piece) -> Result<(), Stop> {
        self.full.blocking_send(Ok(piece)).map_err(|_| Stop::Gone)
    }

    /// Passes on the data and holes from the file's position to its end.
    fn send_sections(&mut self) -> Result<(), Stop> {
        let mut pos = match self.file.stream_position() {
            Ok(pos) => pos,
            // A pipe or a socket: data only.
            Err(e) if e.kind() == io::ErrorKind::NotSeekable => return self.send_rest(),
            Err(e) => return Err(e.into()),
        };
        loop {
            match next_section(&self.file, pos)? {
                Section::Data(len) => {
                    self.file.seek(SeekFrom::Start(pos))?;
                    let n = self.send_data(len)?;
                    // None of the bytes the file said: it shrank meanwhile
                    // (a short read is looked at again from where it ended).
                    if n == 0 {
                        return Ok(());
                    }
                    pos += n;
                }
                Section::Hole(len) => {
                    self.pass(Piece::Hole(len))?;
                    pos += len;
                }
                Section::End => return Ok(()),
                Section::Unknown => {
                    self.file.seek(SeekFrom::Start(pos))?;
                    return self.send_rest();
                }
            }
        }
    }

    /// Passes on everything from the file's position as data.
    fn send_rest(&mut self) -> Result<(), Stop> {
        self.send_data(u64::MAX).map(drop)
    }

    /// Passes on up to `limit` bytes read from the file's position, in
    /// full buffers but for the last; returns how many it read (fewer
    /// when the file ended first).
    fn send_data(&mut self, limit: u64) -> Result<u64, Stop> {
        let mut read = 0u64;
        while read < limit {
            let mut buf = match self.spare.take() {
                Some(buf) => buf,
                None => self.empty.recv().map_err(|_| Stop::Gone)?,
            };
            let want = usize::try_from(limit - read).map_or(READ_CHUNK, |l| l.min(READ_CHUNK));
            let n = read_full(&mut self.file, &mut buf.bytes_mut()[..want])?;
            if n == 0 {
                self.spare = Some(buf);
                break;
            }
            self.pass(Piece::Data(buf, n))?;
            read += n as u64;
            if n < want {
                break;
            }
        }
        Ok(read)
    }
}

/// The part of a file that starts at an offset.
// Outside Linux only `Unknown` is made.
#[cfg_attr(not(any(target_os = "linux", target_os = "android")), allow(dead_code))]
enum Section {
    /// This many bytes of data.
    Data(u64),
    /// A hole of this many bytes.
    Hole(u64),
    /// The offset is at or past the end.
    End,
    /// The file cannot say where its holes are: read it all as data.
    Unknown,
}

/// Where `file`'s data and holes are at `pos`, from `SEEK_DATA` and
/// `SEEK_HOLE`. Moves the file's position.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn next_section(file: &File, pos: u64) -> io::Result<Section> {
    use rustix::fs::{seek, SeekFrom};
    use rustix::io::Errno;
    match seek(file, SeekFrom::Data(pos)) {
        Ok(data) if data > pos => Ok(Section::Hole(data - pos)),
        Ok(_) => match seek(file, SeekFrom::Hole(pos)) {
            Ok(hole) if hole > pos => Ok(Section::Data(hole - pos)),
            Ok(_) => Ok(Section::Unknown),
            // Truncated since the data was found.
            Err(Errno::NXIO) => Ok(Section::End),
            Err(e) => Err(e.into()),
        },
        // No data from `pos` on: the rest is one hole, if anything.
        Err(Errno::NXIO) => {
            let len = file.metadata()?.len();
            Ok(if len > pos {
                Section::Hole(len - pos)
            } else {
                Section::End
            })
        }
        // A pipe, or a file system that cannot tell.
        Err(Errno::INVAL | Errno::SPIPE | Errno::OPNOTSUPP) => Ok(Section::Unknown),
        Err(e) => Err(e.into()),
    }
}

/// Elsewhere a file is read as data.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn next_section(_: &File, _: u64) -> io::Result<Section> {
    Ok(Section::Unknown)
}

/// Reads until `buf` is full or the file ends, so every packet but the
/// last is full.
fn read_full(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match file.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// What the stream hands the file's writer.
enum ToFile {
    Chunk(Chunk),
    /// The stream's data is complete: a hole at its end goes in too.
    End,
}

/// Writes the chunks `rx` brings to `file`: data at the position, holes
/// skipped where skipping leaves zeros, else written as zeros (see
/// [`Holes`]). A hole last of all is written only once the stream says
/// its data is complete, not when it fails. Written data's buffers go
/// back to `pool`.
fn write_file(mut file: File, mut rx: mpsc::Receiver<ToFile>, pool: &BodyPool) -> io::Result<()> {
    let holes = Holes::for_file(&file)?;
    let mut hole = 0u64;
    while let Some(next) = rx.blocking_recv() {
        match next {
            ToFile::Chunk(Chunk::Data(d)) => {
                if hole > 0 {
                    holes.fill(&mut file, hole, false)?;
                    hole = 0;
                }
                file.write_all(&d)?;
                pool.give_back(d);
            }
            ToFile::Chunk(Chunk::Hole(n)) => hole = hole.checked_add(n).ok_or_else(too_far)?,
            ToFile::End => {
                if hole > 0 {
                    holes.fill(&mut file, hole, true)?;
                }
                return Ok(());
            }
        }
    }
    Ok(())
}

fn too_far() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "holes past the largest offset")
}

/// How a received hole goes into the file. Skipped (a seek, or the
/// file's length set for one at the end) only where the file then reads
/// as zeros: in a regular file, past the length it had when the transfer
/// began. Written as zeros over the file's old bytes, into a device or a
/// pipe, and into a file opened for appending (where a seek moves no
/// write), as `virsh vol-download --sparse` writes them into a block
/// device.
struct Holes {
    /// Holes below this offset are written as zeros.
    zeros_below: u64,
}

impl Holes {
    fn for_file(file: &File) -> io::Result<Holes> {
        let meta = file.metadata()?;
        let appending = rustix::fs::fcntl_getfl(file)
            .is_ok_and(|flags| flags.contains(rustix::fs::OFlags::APPEND));
        let zeros_below = if meta.is_file() && !appending {
            meta.len()
        } else {
            u64::MAX
        };
        Ok(Holes { zeros_below })
    }

    /// Puts a hole of `len` bytes at the file's position; `last`: nothing
    /// follows it.
    fn fill(&self, file: &mut File, len: u64, last: bool) -> io::Result<()> {
        if self.zeros_below == u64::MAX {
            return write_zeros(file, len);
        }
        let pos = file.stream_position()?;
        let zeros = len.min(self.zeros_below.saturating_sub(pos));
        write_zeros(file, zeros)?;
        let skip = len - zeros;
        if skip == 0 {
            return Ok(());
        }
        if last {
            let end = (pos + zeros).checked_add(skip).ok_or_else(too_far)?;
            if file.metadata()?.len() < end {
                file.set_len(end)?;
            }
        } else {
            let skip = i64::try_from(skip).map_err(|_| too_far())?;
            file.seek(SeekFrom::Current(skip))?;
        }
        Ok(())
    }
}

fn write_zeros(file: &mut File, mut len: u64) -> io::Result<()> {
    while len > 0 {
        let n = len.min(ZEROS.len() as u64) as usize;
        file.write_all(&ZEROS[..n])?;
        len -= n as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `file` holds, read through a clone of it.
    fn contents(file: &File) -> Vec<u8> {
        let mut f = file.try_clone().unwrap();
        f.seek(SeekFrom::Start(0)).unwrap();
        let mut out = Vec::new();
        f.read_to_end(&mut out).unwrap();
        out
    }

    fn write_chunks(file: File, chunks: Vec<Chunk>) -> io::Result<()> {
        write_to_file(file, chunks, true)
    }

    /// `chunks` through the writer; `complete`: the stream's end follows.
    fn write_to_file(file: File, chunks: Vec<Chunk>, complete: bool) -> io::Result<()> {
        let (tx, rx) = mpsc::channel(chunks.len() + 1);
        for c in chunks {
            tx.try_send(ToFile::Chunk(c)).unwrap();
        }
        if complete {
            tx.try_send(ToFile::End).unwrap();
        }
        drop(tx);
        write_file(file, rx, &BodyPool::new())
    }

    #[test]
    fn written_data_gives_its_buffers_back() {
        let f = crate::client::scratch_file("pool");
        let check = f.try_clone().unwrap();
        let pool = BodyPool::new();
        let (tx, rx) = mpsc::channel(4);
        let packets: Vec<Vec<u8>> = (0..3u8).map(|i| vec![i; 64 << 10]).collect();
        for p in packets.iter().cloned() {
            tx.try_send(ToFile::Chunk(Chunk::Data(p))).unwrap();
        }
        tx.try_send(ToFile::End).unwrap();
        write_file(f, rx, &pool).unwrap();
        assert_eq!(contents(&check), packets.concat());
        assert_eq!(pool.spare(), 3);
    }

    #[test]
    fn a_trailing_hole_of_a_failed_stream_is_not_written() {
        let f = crate::client::scratch_file("failed");
        let check = f.try_clone().unwrap();
        let chunks = vec![Chunk::Data(b"ab".to_vec()), Chunk::Hole(1 << 40)];
        write_to_file(f, chunks, false).unwrap();
        assert_eq!(contents(&check), b"ab");
    }

    #[test]
    fn holes_are_skipped_and_a_trailing_hole_sets_the_length() {
        let f = crate::client::scratch_file("holes");
        let check = f.try_clone().unwrap();
        let chunks = vec![
            Chunk::Data(b"head".to_vec()),
            Chunk::Hole(3),
            Chunk::Hole(2),
            Chunk::Data(b"mid".to_vec()),
            Chunk::Hole(1 << 20),
        ];
        write_chunks(f, chunks).unwrap();
        let got = contents(&check);
        let mut want = b"head\0\0\0\0\0mid".to_vec();
        want.resize(want.len() + (1 << 20), 0);
        assert!(got == want, "{} bytes", got.len());
    }

    #[test]
    fn holes_over_old_bytes_are_written_as_zeros() {
        let mut f = crate::client::scratch_file("old-bytes");
        f.write_all(&[b'x'; 20]).unwrap();
        f.seek(SeekFrom::Start(0)).unwrap();
        let check = f.try_clone().unwrap();
        let chunks = vec![
            Chunk::Data(b"ab".to_vec()),
            Chunk::Hole(5),
            Chunk::Data(b"cd".to_vec()),
            Chunk::Hole(15),
        ];
        write_chunks(f, chunks).unwrap();
        // The old bytes under the holes are gone; past them the last hole
        // extends the file.
        let mut want = b"ab\0\0\0\0\0cd".to_vec();
        want.resize(24, 0);
        assert_eq!(contents(&check), want);
    }

    #[test]
    fn holes_are_written_as_zeros_when_appending_or_into_a_pipe() {
        let mut f = crate::client::scratch_file("append");
        f.write_all(b"old").unwrap();
        let check = f.try_clone().unwrap();
        let path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&f));
        let appending = std::fs::OpenOptions::new().append(true).open(path).unwrap();
        let chunks = || {
            vec![
                Chunk::Data(b"a".to_vec()),
                Chunk::Hole(3),
                Chunk::Data(b"b".to_vec()),
                Chunk::Hole(70_000),
            ]
        };
        write_chunks(appending, chunks()).unwrap();
        let mut want = b"a\0\0\0b".to_vec();
        want.resize(want.len() + 70_000, 0);
        assert_eq!(contents(&check), [b"old".as_slice(), &want].concat());

        let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            b.read_to_end(&mut got).unwrap();
            got
        });
        write_chunks(File::from(std::os::fd::OwnedFd::from(a)), chunks()).unwrap();
        assert_eq!(reader.join().unwrap(), want);
    }

    #[test]
    fn holes_beyond_any_offset_are_a_typed_error() {
        let f = crate::client::scratch_file("far");
        let chunks = vec![Chunk::Hole(u64::MAX), Chunk::Hole(1)];
        let err = write_chunks(f, chunks).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
    }

    /// What a [`FileReader`] passes on for `file`: the data's bytes
    /// (each buffer checked to start on a cache line) or a hole's length.
    fn read_pieces(file: File, sparse: bool) -> Vec<Result<Vec<u8>, u64>> {
        // Buffers for every data piece the tests' files give, and room
        // for their holes too; a reader that needs more stops (`Gone`)
        // and its test fails, instead of waiting forever.
        let (reader, empty_tx, mut full_rx) = FileReader::new(file, 16, 1024);
        drop(empty_tx);
        reader.run(sparse);
        let mut out = Vec::new();
        while let Ok(piece) = full_rx.try_recv() {
            out.push(match piece.unwrap() {
                Piece::Data(buf, n) => {
                    assert_eq!(buf.bytes().as_ptr() as usize % CACHE_LINE, 0);
                    Ok(buf.bytes()[..n].to_vec())
                }
                Piece::Hole(n) => Err(n),
            });
        }
        out
    }

    /// The bytes `pieces` stand for, holes as zeros.
    fn flatten(pieces: &[Result<Vec<u8>, u64>]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in pieces {
            match p {
                Ok(d) => out.extend_from_slice(d),
                Err(n) => out.resize(out.len() + *n as usize, 0),
            }
        }
        out
    }

    #[test]
    fn a_file_is_read_in_full_buffers_that_start_on_a_cache_line() {
        let mut f = crate::client::scratch_file("read");
        let data: Vec<u8> = (0..READ_CHUNK * 2 + 5).map(|i| (i % 251) as u8).collect();
        f.write_all(&data).unwrap();
        f.seek(SeekFrom::Start(0)).unwrap();
        let pieces = read_pieces(f, false);
        let sizes: Vec<_> = pieces.iter().map(|p| p.as_ref().unwrap().len()).collect();
        assert_eq!(sizes, [READ_CHUNK, READ_CHUNK, 5]);
        assert!(flatten(&pieces) == data);
    }

    #[test]
    fn a_sparse_read_passes_holes_from_the_files_position() {
        const MIB: usize = 1 << 20;
        let mut f = crate::client::scratch_file("sparse");
        f.write_all(&[7; 5000]).unwrap();
        f.seek(SeekFrom::Start(3 * MIB as u64)).unwrap();
        f.write_all(&[9; 10]).unwrap();
        f.set_len(6 * MIB as u64).unwrap();
        let mut want = vec![0u8; 6 * MIB];
        want[..5000].fill(7);
        want[3 * MIB..3 * MIB + 10].fill(9);
        // From byte 1000 on, as `send_file` reads from the position.
        f.seek(SeekFrom::Start(1000)).unwrap();
        let pieces = read_pieces(f, true);
        assert!(flatten(&pieces) == want[1000..]);
        let holes: u64 = pieces.iter().filter_map(|p| p.as_ref().err()).sum();
        // File systems round data to their blocks; the rest is holes. (The
        // temporary directory's file system must report holes, as tmpfs,
        // ext4, xfs and btrfs do.)
        assert!(holes >= 5 * MIB as u64, "{holes} bytes of holes");
        assert!(matches!(pieces.last(), Some(Err(_))), "ends in a hole");
        assert!(pieces
            .iter()
            .all(|p| p.as_ref().map_or_else(|n| *n > 0, |d| !d.is_empty())));
    }

    #[test]
    fn what_cannot_seek_is_read_as_data_when_sparse() {
        let (mut a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        a.write_all(&[5; 3000]).unwrap();
        drop(a);
        let pieces = read_pieces(File::from(std::os::fd::OwnedFd::from(b)), true);
        assert_eq!(pieces, [Ok(vec![5; 3000])]);
    }
}
