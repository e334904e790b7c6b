//! A private `libvirtd` for the tests: its own configuration, socket
//! folder and pid file in a temporary folder, serving the built-in
//! `test:///default` driver, and `virsh` / `virt-admin` run against it.
//!
//! Without `libvirtd` the tests say so and pass, unless
//! `LIBVIRT_PROTO_DAEMON_TESTS=1` (set by `cargo xtask test`) demands a
//! daemon.
//!
//! `pki` makes certificates for the tls transport, `sasl` a Cyrus SASL
//! configuration, `virsh` runs the tools as the comparisons with the
//! client's answers do (with the `client` feature); every test binary
//! compiles all of this, using what it needs.

#![allow(dead_code)]

pub mod krb;
pub mod pki;
pub mod sasl;
pub mod storage;
#[cfg(feature = "client")]
pub mod virsh;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Daemons running as root keep driver state in `/run/libvirt` and
/// `/var/lib/libvirt` whatever their configuration says. As root, each
/// private daemon gets its own empty copies of those folders in a mount
/// namespace (`unshare`), so it neither sees nor touches a system daemon's
/// state and daemons run side by side. Without that isolation the tests of
/// one binary take turns.
static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The folders a root daemon writes outside its configuration.
const STATE_DIRS: [&str; 3] = ["/run/libvirt", "/var/lib/libvirt", "/var/cache/libvirt"];

/// A private daemon, killed when dropped.
pub struct Daemon {
    child: Child,
    pub dir: PathBuf,
    _turn: Option<std::sync::MutexGuard<'static, ()>>,
}

/// Whether daemons can be isolated in a mount namespace.
fn can_isolate() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
        && STATE_DIRS.iter().all(|d| std::path::Path::new(d).is_dir())
        && Command::new("unshare")
            .args(["--mount", "--propagation", "private", "true"])
            .status()
            .is_ok_and(|s| s.success())
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether the environment demands the daemon tests run.
pub fn required() -> bool {
    std::env::var_os("LIBVIRT_PROTO_DAEMON_TESTS").is_some_and(|v| v == "1")
}

impl Daemon {
    /// A daemon listening on its Unix sockets only.
    pub fn start(name: &str) -> Option<Daemon> {
        Self::start_with(name, "", false)
    }

    /// A daemon with `extra` lines of `libvirtd.conf`; `listen` passes
    /// `--listen` (needed for `listen_tcp` / `listen_tls`).
    pub fn start_with(name: &str, extra: &str, listen: bool) -> Option<Daemon> {
        Self::start_with_env(name, extra, listen, &[])
    }

    /// As [`Daemon::start_with`], with `env` added to the daemon's
    /// environment (e.g. `SASL_CONF_PATH`). `extra` may set `auth_unix_ro`
    /// and `auth_unix_rw` (otherwise `none`).
    pub fn start_with_env(
        name: &str,
        extra: &str,
        listen: bool,
        env: &[(&str, &std::ffi::OsStr)],
    ) -> Option<Daemon> {
        if Command::new("libvirtd").arg("--version").output().is_err() {
            assert!(
                !required(),
                "libvirtd not found but LIBVIRT_PROTO_DAEMON_TESTS=1"
            );
            eprintln!(
                "skipped: libvirtd not found; `cargo xtask test` installs it and runs these tests"
            );
            return None;
        }
        let dir = std::env::temp_dir().join(format!("lvp-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let run = dir.join("run");
        std::fs::create_dir_all(&run).unwrap();
        let conf = dir.join("libvirtd.conf");
        let mut text = format!(
            "unix_sock_dir = \"{}\"\nunix_sock_rw_perms = \"0700\"\n",
            run.display()
        );
        // libvirtd takes the first of repeated settings: defaults only for
        // what `extra` leaves out.
        for auth in ["auth_unix_ro", "auth_unix_rw"] {
            if !extra.contains(auth) {
                text.push_str(&format!("{auth} = \"none\"\n"));
            }
        }
        if !extra.contains("listen_tls") {
            text.push_str("listen_tls = 0\n");
        }
        if !extra.contains("listen_tcp") {
            text.push_str("listen_tcp = 0\n");
        }
        text.push_str(extra);
        std::fs::write(&conf, text).unwrap();
        let isolated = can_isolate();
        let turn = (!isolated).then(|| TURN.lock().unwrap_or_else(|e| e.into_inner()));
        let mut cmd = if isolated {
            let mut c = Command::new("unshare");
            c.args(["--mount", "--propagation", "private", "--", "sh", "-c"])
                .arg(format!(
                    "for d in {}; do mount -t tmpfs tmpfs $d || exit 1; done; exec libvirtd \"$@\"",
                    STATE_DIRS.join(" ")
                ))
                .arg("libvirtd");
            c
        } else {
            Command::new("libvirtd")
        };
        cmd.arg("-f").arg(&conf).arg("-p").arg(dir.join("pid"));
        if listen {
            cmd.arg("--listen");
        }
        cmd.envs(env.iter().copied());
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let mut daemon = Daemon {
            child,
            dir,
            _turn: turn,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        // Ready when it accepts a connection: the socket file appears when
        // the daemon binds it, a moment before it listens.
        while std::os::unix::net::UnixStream::connect(daemon.socket()).is_err() {
            if let Ok(Some(status)) = daemon.child.try_wait() {
                panic!("libvirtd exited at start: {status}");
            }
            assert!(Instant::now() < deadline, "libvirtd did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(daemon)
    }

    /// The read-write socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.join("run/libvirt-sock")
    }

    /// The admin socket.
    pub fn admin_socket(&self) -> PathBuf {
        self.dir.join("run/libvirt-admin-sock")
    }

    /// `test:///default` through this daemon.
    pub fn uri(&self) -> String {
        format!("test+unix:///default?socket={}", self.socket().display())
    }

    /// The admin program of this daemon.
    pub fn admin_uri(&self) -> String {
        format!(
            "libvirtd:///system?socket={}",
            self.admin_socket().display()
        )
    }

    /// The daemon's exit status once it has ended (e.g. it could not
    /// bind a port), `None` while it runs.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends the daemon a signal (`STOP`, `CONT`, `KILL`).
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig}");
    }

    /// Runs `virsh -c <uri> args...` and returns its standard output.
    pub fn virsh(&self, args: &[&str]) -> String {
        run("virsh", &["-c", &self.uri()], args)
    }

    /// Runs `virt-admin -c <admin uri> args...`.
    pub fn virt_admin(&self, args: &[&str]) -> String {
        run("virt-admin", &["-c", &self.admin_uri()], args)
    }
}

fn run(program: &str, first: &[&str], args: &[&str]) -> String {
    let out = Command::new(program)
        .args(first)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}
