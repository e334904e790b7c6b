//! One storage volume transfer through the async client, for `cargo xtask
//! bench` (which times it, with its CPU time and peak memory, against
//! `virsh vol-download` / `vol-upload` on the same daemon).
//!
//! ```text
//! cargo bench -p libvirt-proto --features client --bench stream_rate -- \
//!     URI POOL VOLUME download|upload|download-std|upload-std FILE
//! ```
//!
//! The volume's bytes go to or come from FILE (a `tokio::fs::File`)
//! through a [`ByteStream`] and `tokio::io::copy_buf`, on a current-thread
//! runtime: a download writes each packet to the file as it came (the
//! stream is an `AsyncBufRead`); an upload reads the file through a 1 MiB
//! `BufReader` (plain `tokio::io::copy` would move 8 KiB at a time, each a
//! blocking file operation of its own). Prints the bytes moved.
//!
//! The `-std` modes do the file's I/O as virsh does instead: with
//! `std::fs` on the runtime's thread, reading into a buffer that starts on
//! a cache line. `tokio::fs::File` hands every read and write to a
//! blocking thread and reads into a heap buffer, which is only 16-byte
//! aligned (on some x86 CPUs the kernel copies a file's pages into such a
//! buffer several times slower). These modes show the stream's own cost
//! without `tokio::fs`'s.

use std::process::ExitCode;

use libvirt_proto::client::{ByteStream, Client, ClientError};
use libvirt_proto::remote;
use libvirt_proto::remote::program::procs;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// The file's buffer.
const FILE_BUFFER: usize = 1 << 20;

/// The `upload-std` buffer's alignment: a cache line.
const CACHE_LINE: usize = 64;

async fn open(
    client: &Client,
    pool: &str,
    volume: &str,
    upload: bool,
) -> Result<ByteStream, ClientError> {
    let pool = client
        .call::<procs::StoragePoolLookupByName>(&remote::StoragePoolLookupByNameArgs {
            name: pool.into(),
        })
        .await?
        .pool;
    let vol = client
        .call::<procs::StorageVolLookupByName>(&remote::StorageVolLookupByNameArgs {
            pool,
            name: volume.into(),
        })
        .await?
        .vol;
    let stream = if upload {
        let args = remote::StorageVolUploadArgs {
            vol,
            offset: 0,
            length: 0,
            flags: 0,
        };
        client
            .call_stream::<procs::StorageVolUpload>(&args)
            .await?
            .1
    } else {
        let args = remote::StorageVolDownloadArgs {
            vol,
            offset: 0,
            length: 0,
            flags: 0,
        };
        client
            .call_stream::<procs::StorageVolDownload>(&args)
            .await?
            .1
    };
    Ok(stream)
}

/// An error and its causes, on one line.
fn report(e: impl std::error::Error + 'static) -> String {
    libvirt_proto::error::Report::new(&e).to_string()
}

/// How the file is read or written.
#[derive(Clone, Copy, PartialEq)]
enum FileIo {
    /// `tokio::fs::File` and `tokio::io::copy_buf`.
    Tokio,
    /// `std::fs::File` on the runtime's thread, as virsh does its file I/O
    /// on its own main thread; reads go into a cache-aligned buffer.
    Std,
}

async fn transfer(args: &[String]) -> Result<u64, String> {
    let [uri, pool, volume, mode, file] = args else {
        return Err(format!("usage: stream_rate URI POOL VOLUME {MODES} FILE"));
    };
    let (upload, io) = match mode.as_str() {
        "upload" => (true, FileIo::Tokio),
        "download" => (false, FileIo::Tokio),
        "upload-std" => (true, FileIo::Std),
        "download-std" => (false, FileIo::Std),
        other => return Err(format!("unknown mode `{other}`, not one of {MODES}")),
    };
    let file = std::path::Path::new(file);
    let client = Client::connect(uri).await.map_err(report)?;
    let mut stream = open(&client, pool, volume, upload).await.map_err(report)?;
    let moved = match (upload, io) {
        (true, FileIo::Tokio) => {
            let f = tokio::fs::File::open(file).await.map_err(report)?;
            let mut f = BufReader::with_capacity(FILE_BUFFER, f);
            tokio::io::copy_buf(&mut f, &mut stream)
                .await
                .map_err(report)?
        }
        (false, FileIo::Tokio) => {
            let mut f = tokio::fs::File::create(file).await.map_err(report)?;
            let n = tokio::io::copy_buf(&mut stream, &mut f)
                .await
                .map_err(report)?;
            f.shutdown().await.map_err(report)?;
            n
        }
        (true, FileIo::Std) => upload_std(file, &mut stream).await?,
        (false, FileIo::Std) => download_std(file, &mut stream).await?,
    };
    if upload {
        stream.finish().await.map_err(report)?;
    }
    client.close().await;
    Ok(moved)
}

const MODES: &str = "download|upload|download-std|upload-std";

/// Sends `file`, read with `std::fs` into a cache-aligned buffer (a file
/// in memory, as the benchmark's is, never blocks the runtime for long).
async fn upload_std(file: &std::path::Path, stream: &mut ByteStream) -> Result<u64, String> {
    use std::io::Read;
    let mut f = std::fs::File::open(file).map_err(report)?;
    let mut area = vec![0u8; FILE_BUFFER + CACHE_LINE];
    let start = area.as_ptr().align_offset(CACHE_LINE).min(CACHE_LINE);
    let buf = &mut area[start..start + FILE_BUFFER];
    let mut moved = 0;
    loop {
        let n = f.read(buf).map_err(report)?;
        if n == 0 {
            return Ok(moved);
        }
        stream.write_all(&buf[..n]).await.map_err(report)?;
        moved += n as u64;
    }
}

/// Writes what `stream` brings to `file` with `std::fs`, each packet as it
/// came.
async fn download_std(file: &std::path::Path, stream: &mut ByteStream) -> Result<u64, String> {
    use std::io::Write;
    let mut f = std::fs::File::create(file).map_err(report)?;
    let mut moved = 0;
    loop {
        let chunk = stream.fill_buf().await.map_err(report)?;
        if chunk.is_empty() {
            return Ok(moved);
        }
        f.write_all(chunk).map_err(report)?;
        let n = chunk.len();
        stream.consume(n);
        moved += n as u64;
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match rt.block_on(transfer(&args)) {
        Ok(n) => {
            println!("{n}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("stream_rate: {e}");
            ExitCode::FAILURE
        }
    }
}
