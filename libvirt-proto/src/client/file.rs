//! Streams to and from files: [`ByteStream::send_file`] and
//! [`ByteStream::recv_file`] do the file's I/O on a blocking thread with
//! `std::fs`, overlapped with the connection's, so a volume upload or
//! download takes one call and less CPU than through `tokio::fs`.
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

use super::{ByteStream, Chunk, ClientError};

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
    /// returns the number of bytes sent. The file is read on a blocking
    /// thread while earlier bytes go out. Every byte is sent as data (a
    /// sparse upload sends its holes with [`send_hole`](Self::send_hole)).
    ///
    /// Call [`finish`](Self::finish) afterwards for the daemon to confirm
    /// the upload. After an error the stream is left as it is: drop it or
    /// call [`abort`](Self::abort), so a partial upload is never finished.
    ///
    /// ```no_run
    /// # async fn demo(
    /// #     client: &libvirt_proto::client::Client,
    /// #     vol: &libvirt_proto::remote::NonnullStorageVol,
    /// # ) -> Result<(), Box<dyn std::error::Error>> {
    /// let mut stream = client.storage_vol_upload(vol, 0, 0, 0).await?;
    /// stream.send_file(std::fs::File::open("disk.img")?).await?;
    /// stream.finish().await?;
    /// # Ok(()) }
    /// ```
    pub async fn send_file(&mut self, file: File) -> Result<u64, FileTransferError> {
        let (full_tx, mut full_rx) = mpsc::channel(READ_BUFFERS);
        let (empty_tx, empty_rx) = std::sync::mpsc::channel();
        for _ in 0..READ_BUFFERS {
            let _ = empty_tx.send(AlignedBuf::new());
        }
        let reader = tokio::task::spawn_blocking(move || read_file(file, empty_rx, full_tx));
        let mut sent = 0u64;
        loop {
            match full_rx.recv().await {
                // The reader is done: at the end of the file, unless it
                // panicked.
                None => {
                    return match reader.await {
                        Ok(()) => Ok(sent),
                        Err(e) => Err(FileTransferError::File(Arc::new(io::Error::other(
                            format!("the file's reader failed: {e}"),
                        )))),
                    };
                }
                // Without its channels the reader stops after its current
                // read; nothing waits for it.
                Some(Err(e)) => return Err(FileTransferError::File(Arc::new(e))),
                Some(Ok((buf, n))) => {
                    if let Err(e) = self.send(&buf.bytes()[..n]).await {
                        return Err(FileTransferError::Stream(e));
                    }
                    sent += n as u64;
                    // The reader may have gone already (at the end).
                    let _ = empty_tx.send(buf);
                }
            }
        }
    }

    /// Writes what the stream brings into `file` from its current
    /// position, up to the end of the data, and returns the number of
    /// bytes the stream carried (holes included). Packets are written on
    /// a blocking thread as they arrive, without being copied.
    ///
    /// Holes (a sparse download) are skipped, not written, and a hole at
    /// the end extends the file to its full length, so give it a new or
    /// empty file: there a hole reads as zeros and takes no space.
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
        let writer = tokio::task::spawn_blocking(move || write_file(file, rx));
        let mut received = 0u64;
        let mut failed = None;
        loop {
            match self.recv_chunk().await {
                Ok(None) => break,
                Ok(Some(chunk)) => {
                    let n = chunk.stream_len();
                    // Closed only when the writer has failed.
                    if tx.send(chunk).await.is_err() {
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
            .unwrap_or_else(|e| Err(io::Error::other(format!("the file's writer failed: {e}"))));
        match (written, failed) {
            (Err(e), _) => {
                self.abort_now();
                Err(FileTransferError::File(Arc::new(e)))
            }
            (Ok(()), Some(e)) => Err(FileTransferError::Stream(e)),
            (Ok(()), None) => Ok(received),
        }
    }
}

/// Fills the buffers `empty` brings from `file` and passes them on, until
/// the end of the file, an error, or the stream's side going away.
fn read_file(
    mut file: File,
    empty: std::sync::mpsc::Receiver<AlignedBuf>,
    full: mpsc::Sender<io::Result<(AlignedBuf, usize)>>,
) {
    while let Ok(mut buf) = empty.recv() {
        match read_full(&mut file, buf.bytes_mut()) {
            Ok(0) => return,
            Ok(n) => {
                if full.blocking_send(Ok((buf, n))).is_err() {
                    return;
                }
            }
            Err(e) => {
                let _ = full.blocking_send(Err(e));
                return;
            }
        }
    }
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

/// Writes the chunks `rx` brings to `file`: data at the position, holes
/// skipped; a hole at the end sets the file's length.
fn write_file(mut file: File, mut rx: mpsc::Receiver<Chunk>) -> io::Result<()> {
    let too_far = || io::Error::new(io::ErrorKind::InvalidData, "holes past the largest offset");
    let mut hole = 0u64;
    while let Some(chunk) = rx.blocking_recv() {
        match chunk {
            Chunk::Data(d) => {
                if hole > 0 {
                    let skip = i64::try_from(hole).map_err(|_| too_far())?;
                    file.seek(SeekFrom::Current(skip))?;
                    hole = 0;
                }
                file.write_all(&d)?;
            }
            Chunk::Hole(n) => hole = hole.checked_add(n).ok_or_else(too_far)?,
        }
    }
    if hole > 0 {
        let end = file
            .stream_position()?
            .checked_add(hole)
            .ok_or_else(too_far)?;
        if file.metadata()?.len() < end {
            file.set_len(end)?;
        }
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
        let (tx, rx) = mpsc::channel(chunks.len().max(1));
        for c in chunks {
            tx.try_send(c).unwrap();
        }
        drop(tx);
        write_file(file, rx)
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
    fn holes_beyond_any_offset_are_a_typed_error() {
        let f = crate::client::scratch_file("far");
        let chunks = vec![Chunk::Hole(u64::MAX), Chunk::Hole(1)];
        let err = write_chunks(f, chunks).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
    }

    #[test]
    fn a_file_is_read_in_full_buffers_that_start_on_a_cache_line() {
        let mut f = crate::client::scratch_file("read");
        let data: Vec<u8> = (0..READ_CHUNK * 2 + 5).map(|i| (i % 251) as u8).collect();
        f.write_all(&data).unwrap();
        f.seek(SeekFrom::Start(0)).unwrap();
        let (empty_tx, empty_rx) = std::sync::mpsc::channel();
        for _ in 0..READ_BUFFERS {
            empty_tx.send(AlignedBuf::new()).unwrap();
        }
        drop(empty_tx);
        let (full_tx, mut full_rx) = mpsc::channel(READ_BUFFERS);
        read_file(f, empty_rx, full_tx);
        let mut got = Vec::new();
        let mut sizes = Vec::new();
        while let Ok(r) = full_rx.try_recv() {
            let (buf, n) = r.unwrap();
            assert_eq!(buf.bytes().as_ptr() as usize % CACHE_LINE, 0);
            got.extend_from_slice(&buf.bytes()[..n]);
            sizes.push(n);
        }
        assert_eq!(sizes, [READ_CHUNK, READ_CHUNK, 5]);
        assert!(got == data);
    }
}
