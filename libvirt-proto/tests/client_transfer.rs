//! Byte streams and command transports against a real private `libvirtd`:
//! sparse volume upload and download through the daemon's storage driver
//! (checked against `virsh vol-download`), volumes to and from files
//! (`send_file`, `recv_file`, sparse files), holes refused on a stream
//! that is not sparse, and the `ext` transport.

#![cfg(feature = "client")]

mod common;

use std::process::Command;

use common::storage::{storage_uri, volume};
use common::Daemon;
use libvirt_proto::client::{Chunk, Client, ClientError, FileTransferError};
use libvirt_proto::remote;
use libvirt_proto::remote::program::procs;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM` / `..._DOWNLOAD_SPARSE_STREAM`.
const SPARSE: u32 = 1;

#[tokio::test]
async fn sparse_volume_upload_and_download_agree_with_virsh() {
    let Some(d) = Daemon::start("volumes") else {
        return;
    };
    let c = Client::connect(&storage_uri(&d)).await.unwrap();
    const MIB: usize = 1 << 20;
    let vol = volume(&c, &d, 4 * MIB as u64).await;

    // Upload: 1 MiB of data, a 2 MiB hole, then 1 MiB of data, through
    // both the chunk API and AsyncWrite.
    let head: Vec<u8> = (0..MIB).map(|i| (i * 7 % 251) as u8).collect();
    let tail: Vec<u8> = (0..MIB).map(|i| (i * 13 % 241) as u8 | 1).collect();
    let ((), mut up) = c
        .call_stream::<procs::StorageVolUpload>(&remote::StorageVolUploadArgs {
            vol: vol.clone(),
            offset: 0,
            length: 0,
            flags: SPARSE,
        })
        .await
        .unwrap();
    up.send(&head).await.unwrap();
    up.send_hole(2 * MIB as u64).await.unwrap();
    up.write_all(&tail).await.unwrap();
    up.shutdown().await.unwrap();
    drop(up);

    let mut want = head.clone();
    want.resize(3 * MIB, 0);
    want.extend_from_slice(&tail);

    // virsh reads back what was uploaded.
    let file = d.dir.join("download");
    let out = Command::new("virsh")
        .args([
            "-c",
            &storage_uri(&d),
            "vol-download",
            "--pool",
            "lvp",
            "v.img",
        ])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        std::fs::read(&file).unwrap() == want,
        "virsh sees the upload"
    );

    // A sparse download shows the hole as a hole.
    let ((), mut down) = c
        .call_stream::<procs::StorageVolDownload>(&remote::StorageVolDownloadArgs {
            vol: vol.clone(),
            offset: 0,
            length: 0,
            flags: SPARSE,
        })
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut hole = 0;
    while let Some(chunk) = down.recv_chunk().await.unwrap() {
        match chunk {
            Chunk::Data(b) => got.extend_from_slice(&b),
            Chunk::Hole(n) => {
                hole += n;
                got.resize(got.len() + n as usize, 0);
            }
        }
    }
    assert!(got == want, "sparse download matches");
    assert!(
        hole >= MIB as u64,
        "the hole travels as a hole ({hole} bytes)"
    );

    // A plain download through AsyncRead, with an offset and length.
    let ((), mut down) = c
        .call_stream::<procs::StorageVolDownload>(&remote::StorageVolDownloadArgs {
            vol,
            offset: (MIB / 2) as u64,
            length: (3 * MIB) as u64,
            flags: 0,
        })
        .await
        .unwrap();
    let mut plain = Vec::new();
    down.read_to_end(&mut plain).await.unwrap();
    assert!(plain == want[MIB / 2..MIB / 2 + 3 * MIB], "ranged download");
    // The connection is still in order after the streams.
    c.call::<procs::ConnectGetLibVersion>(&()).await.unwrap();
}

#[tokio::test]
async fn volumes_go_to_and_come_from_files() {
    use std::os::unix::fs::MetadataExt;
    let Some(d) = Daemon::start("files") else {
        return;
    };
    let c = Client::connect(&storage_uri(&d)).await.unwrap();
    const MIB: usize = 1 << 20;
    let vol = volume(&c, &d, (5 * MIB) as u64).await;
    let data: Vec<u8> = (0..3 * MIB).map(|i| (i * 31 % 253) as u8).collect();

    // A sparse volume (data, a 2 MiB hole, data, a 1 MiB hole at the end)
    // comes back as a sparse file.
    let mut up = c.storage_vol_upload(&vol, 0, 0, SPARSE).await.unwrap();
    up.send(&data[..MIB]).await.unwrap();
    up.send_hole(2 * MIB as u64).await.unwrap();
    up.send(&data[MIB..2 * MIB]).await.unwrap();
    up.send_hole(MIB as u64).await.unwrap();
    up.finish().await.unwrap();
    let mut want = data[..MIB].to_vec();
    want.resize(3 * MIB, 0);
    want.extend_from_slice(&data[MIB..2 * MIB]);
    want.resize(5 * MIB, 0);
    let sparse = d.dir.join("sparse.bin");
    let mut down = c.storage_vol_download(&vol, 0, 0, SPARSE).await.unwrap();
    let file = std::fs::File::create(&sparse).unwrap();
    assert_eq!(down.recv_file(file).await.unwrap(), (5 * MIB) as u64);
    assert!(
        std::fs::read(&sparse).unwrap() == want,
        "the sparse volume came back"
    );
    let allocated = std::fs::metadata(&sparse).unwrap().blocks() * 512;
    assert!(
        allocated < (4 * MIB) as u64,
        "the holes stayed holes ({allocated} bytes allocated)"
    );

    // A file that is not a whole number of the reader's 1 MiB reads goes
    // up and comes back.
    let size = 2 * MIB + MIB / 2 + 3;
    let source = d.dir.join("source.bin");
    std::fs::write(&source, &data[..size]).unwrap();
    let mut up = c.storage_vol_upload(&vol, 0, 0, 0).await.unwrap();
    let file = std::fs::File::open(&source).unwrap();
    assert_eq!(up.send_file(file).await.unwrap(), size as u64);
    up.finish().await.unwrap();
    let back = d.dir.join("back.bin");
    let mut down = c
        .storage_vol_download(&vol, 0, size as u64, 0)
        .await
        .unwrap();
    let file = std::fs::File::create(&back).unwrap();
    assert_eq!(down.recv_file(file).await.unwrap(), size as u64);
    assert!(
        std::fs::read(&back).unwrap() == data[..size],
        "the file came back"
    );
}

#[tokio::test]
async fn a_sparse_file_goes_up_as_holes_and_stays_sparse() {
    use std::io::{Seek, SeekFrom, Write};
    use std::os::unix::fs::MetadataExt;
    let Some(d) = Daemon::start("sparse-file") else {
        return;
    };
    let c = Client::connect(&storage_uri(&d)).await.unwrap();
    const MIB: usize = 1 << 20;
    let vol = volume(&c, &d, (8 * MIB) as u64).await;

    // 1 MiB of data, a hole, 100 KiB of data at 5 MiB, a hole to 8 MiB.
    let source = d.dir.join("sparse-source.bin");
    let mut f = std::fs::File::create(&source).unwrap();
    let data: Vec<u8> = (0..MIB).map(|i| (i * 7 % 251) as u8 | 1).collect();
    f.write_all(&data).unwrap();
    f.seek(SeekFrom::Start(5 * MIB as u64)).unwrap();
    f.write_all(&data[..100 << 10]).unwrap();
    f.set_len(8 * MIB as u64).unwrap();
    drop(f);
    let want = std::fs::read(&source).unwrap();

    let mut up = c.storage_vol_upload(&vol, 0, 0, SPARSE).await.unwrap();
    assert!(up.is_sparse());
    let file = std::fs::File::open(&source).unwrap();
    assert_eq!(up.send_file(file).await.unwrap(), (8 * MIB) as u64);
    up.finish().await.unwrap();

    // Only the data was written: the volume's file stayed sparse.
    let on_disk = std::fs::metadata(d.dir.join("pool/v.img")).unwrap();
    assert_eq!(on_disk.len(), (8 * MIB) as u64);
    let allocated = on_disk.blocks() * 512;
    assert!(
        allocated < (2 * MIB) as u64,
        "the holes went as holes ({allocated} bytes allocated)"
    );
    let mut down = c.storage_vol_download(&vol, 0, 0, SPARSE).await.unwrap();
    let mut back = Vec::new();
    down.read_to_end(&mut back).await.unwrap();
    assert!(back == want, "the sparse file came back");
}

#[tokio::test]
async fn a_hole_on_a_stream_that_is_not_sparse_is_refused_and_the_stream_goes_on() {
    let Some(d) = Daemon::start("not-sparse") else {
        return;
    };
    let c = Client::connect(&storage_uri(&d)).await.unwrap();
    let vol = volume(&c, &d, 4096).await;
    let mut up = c.storage_vol_upload(&vol, 0, 0, 0).await.unwrap();
    assert!(!up.is_sparse());
    assert!(matches!(
        up.send_hole(100).await,
        Err(libvirt_proto::client::ClientError::NotSparse)
    ));
    up.send(b"after").await.unwrap();
    up.finish().await.unwrap();
    let mut down = c.storage_vol_download(&vol, 0, 5, 0).await.unwrap();
    assert_eq!(down.recv_all(5).await.unwrap(), b"after");
}

#[tokio::test]
async fn a_file_that_fails_ends_its_transfer_and_the_connection_goes_on() {
    let Some(d) = Daemon::start("file-errors") else {
        return;
    };
    let c = Client::connect(&storage_uri(&d)).await.unwrap();
    let vol = volume(&c, &d, 4 << 20).await;
    let path = d.dir.join("file.bin");
    std::fs::write(&path, b"x").unwrap();

    // A file opened for reading only cannot take the download.
    let mut down = c.storage_vol_download(&vol, 0, 0, 0).await.unwrap();
    let read_only = std::fs::File::open(&path).unwrap();
    match down.recv_file(read_only).await {
        Err(FileTransferError::File(e)) => assert_eq!(e.raw_os_error(), Some(EBADF), "{e}"),
        other => panic!("{other:?}"),
    }

    // A file opened for writing only cannot be uploaded.
    let mut up = c.storage_vol_upload(&vol, 0, 0, 0).await.unwrap();
    let write_only = std::fs::File::options().append(true).open(&path).unwrap();
    match up.send_file(write_only).await {
        Err(FileTransferError::File(e)) => assert_eq!(e.raw_os_error(), Some(EBADF), "{e}"),
        other => panic!("{other:?}"),
    }
    // The upload was aborted with it: it cannot be finished.
    let finished = up.finish().await;
    assert!(
        matches!(finished, Err(ClientError::StreamEnded)),
        "{finished:?}"
    );

    // Both streams ended, and the connection serves the next transfer.
    let mut down = c.storage_vol_download(&vol, 0, 4096, 0).await.unwrap();
    assert_eq!(down.recv_all(4096).await.unwrap().len(), 4096);
}

/// Linux's `EBADF`: a descriptor not open for the operation.
const EBADF: i32 = 9;

#[tokio::test]
async fn an_aborted_upload_fails_on_the_daemon_and_the_connection_goes_on() {
    let Some(d) = Daemon::start("abort") else {
        return;
    };
    let c = Client::connect(&storage_uri(&d)).await.unwrap();
    let vol = volume(&c, &d, 1 << 20).await;
    let ((), mut up) = c
        .call_stream::<procs::StorageVolUpload>(&remote::StorageVolUploadArgs {
            vol: vol.clone(),
            offset: 0,
            length: 0,
            flags: 0,
        })
        .await
        .unwrap();
    up.send(&[1u8; 4096]).await.unwrap();
    up.abort();
    // Another transfer on the same connection works.
    let ((), mut down) = c
        .call_stream::<procs::StorageVolDownload>(&remote::StorageVolDownloadArgs {
            vol,
            offset: 0,
            length: 4096,
            flags: 0,
        })
        .await
        .unwrap();
    assert_eq!(down.recv_all(4096).await.unwrap().len(), 4096);
}

#[tokio::test]
async fn the_ext_transport_talks_through_a_command() {
    let Some(d) = Daemon::start("ext") else {
        return;
    };
    // libvirt runs `command=` without arguments: a script relays to the
    // daemon's socket.
    let script = d.dir.join("relay.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\nexec nc -U {}\n", d.socket().display()),
    )
    .unwrap();
    let mut perms = std::fs::metadata(&script).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&script, perms).unwrap();
    let uri = format!("test+ext:///default?command={}", script.display());
    let c = Client::connect(&uri).await.unwrap();
    let all = c
        .call::<procs::ConnectListAllDomains>(&remote::ConnectListAllDomainsArgs {
            need_results: 1,
            flags: 0,
        })
        .await
        .unwrap();
    assert_eq!(all.domains[0].name, "test");
    let hostname = c.call::<procs::ConnectGetHostname>(&()).await.unwrap();
    assert_eq!(hostname.hostname, d.virsh(&["hostname"]).trim());
    c.close().await;
}
