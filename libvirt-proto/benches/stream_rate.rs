//! One storage volume transfer through the async client, for `cargo xtask
//! bench` (which times it, with its CPU time and peak memory, against
//! `virsh vol-download` / `vol-upload` on the same daemon).
//!
//! ```text
//! cargo bench -p libvirt-proto --features client --bench stream_rate -- \
//!     URI POOL VOLUME download|upload FILE
//! ```
//!
//! The volume's bytes go to or come from FILE (a `tokio::fs::File`)
//! through a [`ByteStream`] and `tokio::io::copy_buf`, on a current-thread
//! runtime: a download writes each packet to the file as it came (the
//! stream is an `AsyncBufRead`); an upload reads the file through a 1 MiB
//! `BufReader` (plain `tokio::io::copy` would move 8 KiB at a time, each a
//! blocking file operation of its own). Prints the bytes moved.

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

async fn transfer(args: &[String]) -> Result<u64, String> {
    let [uri, pool, volume, direction, file] = args else {
        return Err("usage: stream_rate URI POOL VOLUME download|upload FILE".into());
    };
    let upload = match direction.as_str() {
        "upload" => true,
        "download" => false,
        other => return Err(format!("unknown direction `{other}`")),
    };
    let client = Client::connect(uri).await.map_err(report)?;
    let mut stream = open(&client, pool, volume, upload).await.map_err(report)?;
    let moved = if upload {
        let f = tokio::fs::File::open(file).await.map_err(report)?;
        let mut f = BufReader::with_capacity(FILE_BUFFER, f);
        let n = tokio::io::copy_buf(&mut f, &mut stream)
            .await
            .map_err(report)?;
        stream.finish().await.map_err(report)?;
        n
    } else {
        let mut f = tokio::fs::File::create(file).await.map_err(report)?;
        let n = tokio::io::copy_buf(&mut stream, &mut f)
            .await
            .map_err(report)?;
        f.shutdown().await.map_err(report)?;
        n
    };
    client.close().await;
    Ok(moved)
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
