//! A directory storage pool with a raw volume on a private daemon, for the
//! stream tests.

use libvirt_proto::client::Client;
use libvirt_proto::remote;
use libvirt_proto::remote::program::procs;

use super::Daemon;

/// The daemon's storage driver.
pub fn storage_uri(d: &Daemon) -> String {
    format!("storage+unix:///system?socket={}", d.socket().display())
}

/// A directory pool in the daemon's folder with one raw volume `v.img`
/// of `size` bytes, none of them allocated.
pub async fn volume(c: &Client, d: &Daemon, size: u64) -> remote::NonnullStorageVol {
    let target = d.dir.join("pool");
    std::fs::create_dir_all(&target).unwrap();
    let pool = c
        .call::<procs::StoragePoolCreateXml>(&remote::StoragePoolCreateXmlArgs {
            xml: format!(
                "<pool type='dir'><name>lvp</name><target><path>{}</path></target></pool>",
                target.display()
            )
            .into(),
            flags: 0,
        })
        .await
        .unwrap()
        .pool;
    c.call::<procs::StorageVolCreateXml>(&remote::StorageVolCreateXmlArgs {
        pool,
        xml: format!(
            "<volume><name>v.img</name><capacity>{size}</capacity><allocation>0</allocation>\
             <target><format type='raw'/></target></volume>"
        )
        .into(),
        flags: 0,
    })
    .await
    .unwrap()
    .vol
}
