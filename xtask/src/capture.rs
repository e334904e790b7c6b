//! `cargo xtask capture`: records real traffic between libvirt's own
//! clients (`virsh`, `virt-admin`) and a private `libvirtd` serving
//! `test:///default`, as golden test data for `libvirt-proto`.
//!
//! A small proxy sits between the client and the daemon's socket and
//! writes every frame it forwards, one per line: `>` for client to server,
//! `<` for server to client, then the frame's bytes in hex. The recordings
//! go to `libvirt-proto/tests/captures/`.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use libvirt_proto::frame::FrameDecoder;

/// Frames in the order the proxy saw them, with their direction.
type Recording = Arc<Mutex<Vec<(char, Vec<u8>)>>>;

/// A private daemon, killed when dropped.
pub struct Daemon {
    child: Child,
    /// Its socket folder.
    pub run: PathBuf,
    dir: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Daemon {
    /// Starts `libvirtd` with a configuration and sockets of its own.
    pub fn start(dir: &Path) -> Result<Daemon, String> {
        let run = dir.join("run");
        std::fs::create_dir_all(&run).map_err(|e| e.to_string())?;
        let conf = dir.join("libvirtd.conf");
        std::fs::write(
            &conf,
            format!(
                "unix_sock_dir = \"{}\"\nauth_unix_ro = \"none\"\nauth_unix_rw = \"none\"\n\
                 unix_sock_rw_perms = \"0700\"\nlisten_tls = 0\nlisten_tcp = 0\n",
                run.display()
            ),
        )
        .map_err(|e| e.to_string())?;
        let child = Command::new("libvirtd")
            .arg("-f")
            .arg(&conf)
            .arg("-p")
            .arg(dir.join("libvirtd.pid"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start libvirtd (install libvirt-daemon): {e}"))?;
        let daemon = Daemon {
            child,
            run: run.clone(),
            dir: dir.to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !(run.join("libvirt-sock").exists() && run.join("libvirt-admin-sock").exists()) {
            if Instant::now() > deadline {
                return Err("libvirtd did not create its sockets within 20 s".into());
            }
            thread::sleep(Duration::from_millis(50));
        }
        Ok(daemon)
    }
}

/// Forwards one connection from `listener` to `target`, recording frames.
fn proxy(listener: UnixListener, target: PathBuf, rec: Recording) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let Ok((client, _)) = listener.accept() else {
            return;
        };
        let Ok(server) = UnixStream::connect(&target) else {
            return;
        };
        let pump = |mut from: UnixStream, mut to: UnixStream, dir: char, rec: Recording| {
            thread::spawn(move || {
                let mut decoder = FrameDecoder::new();
                let mut buf = vec![0u8; 65536];
                loop {
                    let n = match from.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    // Record before forwarding: the peer cannot answer bytes
                    // it has not received, so the recording is in causal order.
                    decoder.push(&buf[..n]);
                    while let Ok(Some(frame)) = decoder.next_frame() {
                        if let Ok(mut r) = rec.lock() {
                            r.push((dir, frame.encode()));
                        }
                    }
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = to.shutdown(std::net::Shutdown::Write);
            })
        };
        let (c2, s2) = match (client.try_clone(), server.try_clone()) {
            (Ok(c), Ok(s)) => (c, s),
            _ => return,
        };
        let a = pump(client, server, '>', rec.clone());
        let b = pump(s2, c2, '<', rec);
        let _ = a.join();
        let _ = b.join();
    })
}

/// One recorded session.
struct Scenario {
    name: &'static str,
    about: &'static str,
    admin: bool,
    /// Arguments after the tool and its `-c URI`.
    args: &'static [&'static str],
    /// Commands run on the real socket meanwhile (to cause events).
    background: &'static [&'static [&'static str]],
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "list_all",
        about: "virsh list --all",
        admin: false,
        args: &["list", "--all"],
        background: &[],
    },
    Scenario {
        name: "dominfo",
        about: "virsh dominfo test",
        admin: false,
        args: &["dominfo", "test"],
        background: &[],
    },
    Scenario {
        name: "dumpxml",
        about: "virsh dumpxml test",
        admin: false,
        args: &["dumpxml", "test"],
        background: &[],
    },
    Scenario {
        name: "screenshot",
        about: "virsh screenshot test (a read stream)",
        admin: false,
        args: &["screenshot", "test", "--file", "/dev/null"],
        background: &[],
    },
    Scenario {
        name: "events",
        about: "virsh event --all --loop while another client suspends and resumes the domain",
        admin: false,
        args: &["event", "--all", "--loop", "--timeout", "4"],
        background: &[&["suspend", "test"], &["resume", "test"]],
    },
    Scenario {
        name: "unknown_domain",
        about: "virsh dominfo of a domain that does not exist (error 42)",
        admin: false,
        args: &["dominfo", "no-such-domain"],
        background: &[],
    },
    Scenario {
        name: "admin_srv_list",
        about: "virt-admin srv-list on the admin socket",
        admin: true,
        args: &["srv-list"],
        background: &[],
    },
];

/// Records every scenario into `out`.
pub fn run(root: &Path) -> Result<(), String> {
    let out = root.join("libvirt-proto/tests/captures");
    std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    let dir = std::env::temp_dir().join(format!("xtask-capture-{}", std::process::id()));
    let daemon = Daemon::start(&dir)?;
    for s in SCENARIOS {
        let rec: Recording = Arc::new(Mutex::new(Vec::new()));
        let sock = dir.join(format!("proxy-{}.sock", s.name));
        let listener = UnixListener::bind(&sock).map_err(|e| e.to_string())?;
        let (target, tool, uri) = if s.admin {
            (
                daemon.run.join("libvirt-admin-sock"),
                "virt-admin",
                format!("libvirtd:///system?socket={}", sock.display()),
            )
        } else {
            (
                daemon.run.join("libvirt-sock"),
                "virsh",
                format!("test+unix:///default?socket={}", sock.display()),
            )
        };
        let handle = proxy(listener, target, rec.clone());
        let mut client = Command::new(tool)
            .arg("-c")
            .arg(&uri)
            .args(s.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run {tool}: {e}"))?;
        if !s.background.is_empty() {
            thread::sleep(Duration::from_millis(1500));
            let direct = format!(
                "test+unix:///default?socket={}",
                daemon.run.join("libvirt-sock").display()
            );
            for cmd in s.background {
                let _ = Command::new("virsh")
                    .arg("-c")
                    .arg(&direct)
                    .args(*cmd)
                    .stdout(Stdio::null())
                    .status();
            }
        }
        let _ = client.wait();
        let _ = handle.join();
        let frames = rec.lock().map_err(|_| "recording lock poisoned")?.clone();
        let mut text = format!(
            "# {}\n# Recorded by `cargo xtask capture` from {} against libvirtd ({}) serving test:///default.\n\
             # One frame per line: `>` client to server, `<` server to client, then the bytes in hex.\n",
            s.about,
            tool,
            libvirtd_version()
        );
        for (d, bytes) in &frames {
            text.push(*d);
            text.push(' ');
            for b in bytes {
                text.push_str(&format!("{b:02x}"));
            }
            text.push('\n');
        }
        std::fs::write(out.join(format!("{}.cap", s.name)), text).map_err(|e| e.to_string())?;
        eprintln!("capture: {} ({} frames)", s.name, frames.len());
    }
    drop(daemon);
    Ok(())
}

fn libvirtd_version() -> String {
    Command::new("libvirtd")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|| "unknown version".into())
}
