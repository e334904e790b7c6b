//! One storage volume transfer through the async client, for `cargo xtask
//! bench` (which times it, with its CPU time and peak memory, against
//! `virsh vol-download` / `vol-upload` on the same daemon).
//!
//! ```text
//! cargo bench -p libvirt-proto --features client --bench stream_rate -- \
//!     URI POOL VOLUME download|upload|download-file|upload-file FILE
//! ```
//!
//! The volume's bytes go to or come from FILE (a `tokio::fs::File`)
//! through a [`ByteStream`] and `tokio::io::copy_buf`, on a current-thread
//! runtime: a download writes each packet to the file as it came (the
//! stream is an `AsyncBufRead`); an upload reads the file through a 1 MiB
//! `BufReader` (plain `tokio::io::copy` would move 8 KiB at a time, each a
//! blocking file operation of its own). Prints the bytes moved.
//!
//! The `-file` modes use [`ByteStream::send_file`] and
//! [`ByteStream::recv_file`] instead, which do the file's I/O with
//! `std::fs` on a blocking thread, reading into cache-aligned buffers.

use std::process::ExitCode;

use libvirt_proto::client::{ByteStream, Client, ClientError};
use libvirt_proto::remote;
use libvirt_proto::remote::program::procs;
use tokio::io::{AsyncWriteExt, BufReader};

/// The file's buffer.
const FILE_BUFFER: usize = 1 << 20;

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
#[derive(Clone, Copy)]
enum FileIo {
    /// `tokio::fs::File` and `tokio::io::copy_buf`.
    Tokio,
    /// `ByteStream::send_file` / `recv_file`.
    Helpers,
}

async fn transfer(args: &[String]) -> Result<u64, String> {
    let [uri, pool, volume, mode, file] = args else {
        return Err(format!("usage: stream_rate URI POOL VOLUME {MODES} FILE"));
    };
    let (upload, io) = match mode.as_str() {
        "upload" => (true, FileIo::Tokio),
        "download" => (false, FileIo::Tokio),
        "upload-file" => (true, FileIo::Helpers),
        "download-file" => (false, FileIo::Helpers),
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
        (true, FileIo::Helpers) => {
            let f = std::fs::File::open(file).map_err(report)?;
            stream.send_file(f).await.map_err(report)?
        }
        (false, FileIo::Helpers) => {
            let f = std::fs::File::create(file).map_err(report)?;
            stream.recv_file(f).await.map_err(report)?
        }
    };
    if upload {
        stream.finish().await.map_err(report)?;
    }
    client.close().await;
    Ok(moved)
}

const MODES: &str = "download|upload|download-file|upload-file";

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
