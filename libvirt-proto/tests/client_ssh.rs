//! The ssh transport end to end: the system `ssh` logs in to a private
//! `sshd` on 127.0.0.1 with a key made for the test and runs `nc` on the
//! private `libvirtd`'s socket, as libvirt's `proxy=netcat` does. Needs
//! `sshd` (package `openssh-server`) and `nc` (`netcat-openbsd`); without
//! them the test says so and passes, unless `cargo xtask test` demands it.

#![cfg(feature = "client")]

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Daemon;
use libvirt_proto::client::{Client, ClientError};
use libvirt_proto::remote::program::procs;

struct Sshd(Child);

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn keygen(path: &Path) {
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .status()
        .unwrap()
        .success();
    assert!(ok, "ssh-keygen");
}

/// A private sshd on `port` that lets the current user in with the key
/// `dir/id`.
fn sshd(dir: &Path, port: u16) -> Sshd {
    keygen(&dir.join("host"));
    keygen(&dir.join("id"));
    std::fs::copy(dir.join("id.pub"), dir.join("authorized_keys")).unwrap();
    std::fs::create_dir_all("/run/sshd").unwrap();
    let conf = dir.join("sshd_config");
    std::fs::write(
        &conf,
        format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {host}\n\
             AuthorizedKeysFile {keys}\nPidFile {pid}\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n\
             StrictModes no\nUsePAM no\n",
            host = dir.join("host").display(),
            keys = dir.join("authorized_keys").display(),
            pid = dir.join("sshd.pid").display(),
        ),
    )
    .unwrap();
    let child = Command::new("/usr/sbin/sshd")
        .arg("-D")
        .arg("-f")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sshd");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "sshd did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Sshd(child)
}

fn have(program: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .output()
        .is_ok_and(|o| o.status.success())
}

fn user() -> String {
    let out = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[tokio::test]
async fn ssh_reaches_the_daemon_through_netcat_on_the_far_side() {
    if !Path::new("/usr/sbin/sshd").exists() || !have("nc") || !have("ssh") {
        assert!(!common::required(), "sshd, ssh or nc missing");
        eprintln!("skipped: needs openssh-server, openssh-client and netcat-openbsd");
        return;
    }
    let Some(d) = Daemon::start("ssh") else {
        return;
    };
    let port = free_port();
    let _sshd = sshd(&d.dir, port);
    let base = format!(
        "test+ssh://{user}@127.0.0.1:{port}/default?keyfile={key}&known_hosts={kh}\
         &known_hosts_verify=ignore&no_tty=1&proxy=netcat&socket={sock}",
        user = user(),
        key = d.dir.join("id").display(),
        kh = d.dir.join("known_hosts").display(),
        sock = d.socket().display(),
    );
    let c = Client::connect(&base).await.unwrap();
    let v = c.call::<procs::ConnectGetLibVersion>(&()).await.unwrap();
    assert!(v.lib_ver > 0);
    let h = c.call::<procs::ConnectGetHostname>(&()).await.unwrap();
    assert_eq!(h.hostname, d.virsh(&["hostname"]).trim());
    c.close().await;

    // A key the server does not know: ssh fails, and the client reports
    // the transport's end rather than hanging.
    keygen(&d.dir.join("stranger"));
    let bad = base.replace(
        &d.dir.join("id").display().to_string(),
        &d.dir.join("stranger").display().to_string(),
    );
    let r = tokio::time::timeout(Duration::from_secs(30), Client::connect(&bad))
        .await
        .expect("hung");
    match r {
        Err(ClientError::Open(_) | ClientError::ConnectionLost(_)) => {}
        other => panic!("{other:?}"),
    }
}
