//! Transports: how the bytes reach the daemon.
//!
//! - `unix`: a local socket found as libvirt finds it (see
//!   [`crate::socket`]), with file descriptor passing (`unix.rs`).
//! - `tcp`: plain TCP, port 16509 by default.
//! - `tls`: TLS over TCP, port 16514 by default (see `tls.rs`).
//! - `ssh` (also `libssh`, `libssh2`): the system `ssh` running
//!   `virt-ssh-helper` or `nc` on the far side, as libvirt does. The
//!   user, host, `keyfile=` and `known_hosts=` are checked
//!   ([`ConnectUri::check_ssh_args`]) before `ssh` is run: they become its
//!   arguments, and must not turn into options or shell syntax. That
//!   makes no URI safe to take from anyone, though: `command=` runs any
//!   local program, and `known_hosts_verify=ignore` turns host key checks
//!   off, as in libvirt.
//! - `ext`: the program named by `command=`, speaking on its stdin and
//!   stdout.
//!
//! A child process (`ssh`, `ext`) gets one end of a socket pair as its
//! stdin and stdout, as libvirt gives it (`virNetSocketNewConnectCommand`):
//! writes to a socket cannot raise `SIGPIPE` once the child has gone (the
//! socket is written with `MSG_NOSIGNAL`), where writes to a pipe would
//! kill a process that has not ignored the signal.

use std::io::{self, IoSlice};
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Child;

use super::ClientError;
use crate::client_config::RemoteDefaults;
use crate::socket::{admin_socket, unix_socket, Environment, SocketError};
use crate::unix_socket::{poll_append_into, poll_read_into, ReadInto, UnixSocket};
use crate::uri::{ConnectUri, Mode, Proxy, Transport, UriError};

/// libvirt's plain TCP port.
pub const DEFAULT_TCP_PORT: u16 = 16509;
/// libvirt's TLS port.
pub const DEFAULT_TLS_PORT: u16 = 16514;

/// Anything that reads and writes bytes.
pub(crate) trait ByteIo: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> ByteIo for T {}

/// An open transport.
pub(crate) enum Conn {
    /// A Unix socket: descriptors can pass.
    Unix(UnixSocket),
    /// TCP, TLS: bytes only.
    Stream(Box<dyn ByteIo>),
    /// A child process (`ssh`, `ext`) on the other end of a socket pair,
    /// killed when the connection ends. No descriptors pass.
    Command { child: Child, socket: UnixSocket },
}

/// How long a child process has to exit once its socket is shut down
/// before it is killed (ssh cleans up on the end of its input).
const CHILD_EXIT_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// Opens the transport of `uri` (the admin socket when `admin`: local
/// only, as with `virt-admin`).
pub(crate) async fn connect(
    uri: &ConnectUri,
    read_only: bool,
    admin: bool,
    defaults: RemoteDefaults,
) -> Result<Conn, ClientError> {
    if admin && uri.transport != Transport::Unix {
        return Err(SocketError::NotUnix(uri.transport).into());
    }
    match uri.transport {
        Transport::Unix => {
            let env = Environment {
                remote_mode: defaults.mode,
                ..Environment::current(uri)
            };
            let path = if admin {
                admin_socket(uri, &env)
            } else {
                unix_socket(uri, read_only, &env)
            }?;
            let s = UnixSocket::connect(&path)
                .await
                .map_err(|e| ClientError::Connect {
                    address: path.to_string(),
                    source: Arc::new(e),
                })?;
            Ok(Conn::Unix(s))
        }
        Transport::Tcp => {
            let s = tcp(uri, DEFAULT_TCP_PORT).await?;
            Ok(Conn::Stream(Box::new(s)))
        }
        Transport::Tls => {
            let s = tcp(uri, DEFAULT_TLS_PORT).await?;
            Ok(Conn::Stream(Box::new(super::tls::connect(s, uri).await?)))
        }
        Transport::Ext => {
            let Some(command) = &uri.params.command else {
                return Err(UriError::Syntax("the ext transport needs `command=`".into()).into());
            };
            spawn(ext_command(command))
        }
        Transport::Ssh | Transport::Libssh2 | Transport::Libssh => {
            // `parse` checked already, but the fields are public: check
            // what is about to become ssh's argv.
            uri.check_ssh_args()?;
            // libvirt looks for the far side's socket before it picks the
            // proxy, and refuses the direct mode for any transport but a
            // local socket.
            if uri.params.socket.is_none()
                && uri.params.mode.or(defaults.mode) == Some(Mode::Direct)
            {
                return Err(SocketError::DirectNotLocal(uri.transport).into());
            }
            let session = uri.wants_session(crate::socket::effective_uid_is_root());
            spawn(ssh_command(uri, read_only, session, defaults))
        }
    }
}

async fn tcp(uri: &ConnectUri, default_port: u16) -> Result<TcpStream, ClientError> {
    let host = uri.host.as_deref().unwrap_or("localhost");
    let port = uri.port.unwrap_or(default_port);
    let s = TcpStream::connect((host, port))
        .await
        .map_err(|e| ClientError::Connect {
            address: format!("{host}:{port}"),
            source: Arc::new(e),
        })?;
    let _ = s.set_nodelay(true);
    Ok(s)
}

/// What every child (`ssh`, an `ext` command) keeps of our environment,
/// as libvirt's client passes it; the child also gets `LC_ALL=C`.
const CHILD_ENV: &[&str] = &[
    "LD_PRELOAD",
    "LD_LIBRARY_PATH",
    "DYLD_INSERT_LIBRARIES",
    "DYLD_FORCE_FLAT_NAMESPACE",
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "TMPDIR",
];

/// What `ssh` keeps besides: its agents, prompts and Kerberos.
const SSH_ENV: &[&str] = &[
    "XDG_RUNTIME_DIR",
    "KRB5CCNAME",
    "SSH_AUTH_SOCK",
    "SSH_ASKPASS",
    "SSH_ASKPASS_REQUIRE",
    "OPENSSL_CONF",
    "DISPLAY",
    "XAUTHORITY",
];

/// And, when it may prompt on the terminal (no `no_tty`), gpg-agent's.
const SSH_TTY_ENV: &[&str] = &["GPG_TTY", "TERM"];

/// Gives the child only [`CHILD_ENV`] and `extra` of our environment, and
/// `LC_ALL=C`, as libvirt does: nothing else of the caller's (credentials
/// in variables, settings for other programs) reaches a command the URI
/// names.
fn narrow_env(cmd: &mut tokio::process::Command, extra: &[&str]) {
    cmd.env_clear();
    for name in CHILD_ENV.iter().chain(extra) {
        if let Some(value) = std::env::var_os(name) {
            cmd.env(name, value);
        }
    }
    cmd.env("LC_ALL", "C");
}

/// The `ext` transport's `command=`, run without arguments as libvirt
/// runs it.
fn ext_command(command: &str) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(command);
    narrow_env(&mut cmd, &[]);
    cmd
}

fn spawn(mut cmd: tokio::process::Command) -> Result<Conn, ClientError> {
    let program = format!("{:?}", cmd.as_std().get_program());
    let failed = |e: io::Error| ClientError::Spawn {
        program: program.clone(),
        source: Arc::new(e),
    };
    let (ours, theirs) = std::os::unix::net::UnixStream::pair().map_err(failed)?;
    let theirs_out = theirs.try_clone().map_err(failed)?;
    cmd.stdin(Stdio::from(OwnedFd::from(theirs)))
        .stdout(Stdio::from(OwnedFd::from(theirs_out)))
        .kill_on_drop(true);
    let child = cmd.spawn().map_err(failed)?;
    // The child's ends close here with `cmd`: once the child exits, ours
    // reads end of file.
    drop(cmd);
    let socket = UnixSocket::from_std(ours).map_err(failed)?;
    Ok(Conn::Command { child, socket })
}

/// Quotes `s` for the far side's shell.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The `ssh` command line of an ssh URI: the system `ssh` (or `command=`)
/// running, on the far side, `virt-ssh-helper` with the URI to open
/// (`proxy=native`), `nc` on the daemon's socket (`proxy=netcat`), or the
/// helper when it exists and `nc` otherwise (`proxy=auto`); which one when
/// the URI does not say is [`ConnectUri::ssh_proxy`]'s choice (`session`
/// for a session URI).
///
/// The URI must have passed [`ConnectUri::check_ssh_args`] (`connect`
/// checks it): only then are the user and host plain words.
pub(crate) fn ssh_command(
    uri: &ConnectUri,
    read_only: bool,
    session: bool,
    defaults: RemoteDefaults,
) -> tokio::process::Command {
    let p = &uri.params;
    let mut cmd = tokio::process::Command::new(p.command.as_deref().unwrap_or("ssh"));
    if p.no_tty {
        narrow_env(&mut cmd, SSH_ENV);
    } else {
        narrow_env(&mut cmd, &[SSH_ENV, SSH_TTY_ENV].concat());
    }
    if let Some(port) = uri.port {
        cmd.arg("-p").arg(port.to_string());
    }
    if let Some(user) = &uri.user {
        cmd.arg("-l").arg(user);
    }
    // ssh expands `%` tokens in both paths: `%%` is a `%`.
    if let Some(key) = &p.keyfile {
        cmd.arg("-i").arg(key.replace('%', "%%"));
    }
    if let Some(kh) = &p.known_hosts {
        // ssh splits an option's value at blanks and reads quotes in it:
        // quoted, blanks, `'` and `#` are themselves (`check_ssh_args`
        // refused `"` and backslashes).
        let kh = kh.replace('%', "%%");
        cmd.arg("-o").arg(format!("UserKnownHostsFile=\"{kh}\""));
    }
    match p.known_hosts_verify {
        Some(crate::uri::KnownHostsVerify::Ignore) => {
            cmd.arg("-o").arg("StrictHostKeyChecking=no");
        }
        Some(crate::uri::KnownHostsVerify::Auto) => {
            cmd.arg("-o").arg("StrictHostKeyChecking=accept-new");
        }
        Some(crate::uri::KnownHostsVerify::Normal) => {
            cmd.arg("-o").arg("StrictHostKeyChecking=yes");
        }
        None => {}
    }
    if p.no_tty {
        cmd.arg("-o").arg("BatchMode=yes");
    }
    cmd.arg("-T").arg("-e").arg("none");
    cmd.arg("--")
        .arg(uri.host.as_deref().unwrap_or("localhost"));

    let socket = p.socket.clone().unwrap_or_else(|| {
        // The far side's system socket (the far side is assumed to run a
        // system daemon, as libvirt assumes): libvirtd's, since which
        // daemons run there cannot be seen from here (`connect` refuses
        // the direct mode without `socket=`, as libvirt does).
        let name = if read_only {
            "libvirt-sock-ro"
        } else {
            "libvirt-sock"
        };
        format!("/var/run/libvirt/{name}")
    });
    let netcat = format!(
        "{} -U {}",
        shell_quote(p.netcat.as_deref().unwrap_or("nc")),
        shell_quote(&socket)
    );
    let helper = format!(
        "virt-ssh-helper{} {}",
        if read_only { " -r" } else { "" },
        shell_quote(&uri.helper_uri())
    );
    let remote = match uri.ssh_proxy(session, defaults.proxy) {
        Proxy::Native => helper,
        Proxy::Netcat => netcat,
        Proxy::Auto => format!(
            "sh -c {}",
            shell_quote(&format!(
                "if command -v virt-ssh-helper >/dev/null 2>&1; then exec {helper}; else exec {netcat}; fi"
            ))
        ),
    };
    cmd.arg(remote);
    cmd
}

impl Conn {
    /// Reads some bytes into `into` (with the descriptors that came with
    /// them, into a buffer over a Unix socket).
    pub(crate) fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        into: ReadInto<'_>,
    ) -> Poll<io::Result<usize>> {
        match (self, into) {
            (Conn::Unix(s), into) => s.poll_read_into(cx, into),
            (Conn::Stream(s), ReadInto::Buffer(buf, _)) => poll_read_into(Pin::new(s), cx, buf),
            (Conn::Stream(s), ReadInto::Append(buf)) => poll_append_into(Pin::new(s), cx, buf),
            (Conn::Command { socket, .. }, ReadInto::Buffer(buf, _)) => {
                // Nothing passes descriptors through a child; any that
                // came are closed here.
                let mut none = Vec::new();
                socket.poll_read(cx, buf, &mut none)
            }
            (Conn::Command { socket, .. }, into) => socket.poll_read_into(cx, into),
        }
    }

    /// Writes some of `bufs`; `fds` go with the first byte (Unix socket
    /// only).
    pub(crate) fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
        fds: &[OwnedFd],
    ) -> Poll<io::Result<usize>> {
        match self {
            Conn::Unix(s) => s.poll_write(cx, bufs, fds),
            _ if !fds.is_empty() => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "file descriptors pass only over a Unix socket",
            ))),
            Conn::Stream(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Conn::Command { socket, .. } => socket.poll_write(cx, bufs, &[]),
        }
    }

    /// Pushes out what a layer (TLS) buffers.
    pub(crate) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Conn::Unix(_) | Conn::Command { .. } => Poll::Ready(Ok(())),
            Conn::Stream(s) => Pin::new(s).poll_flush(cx),
        }
    }

    /// Ends the transport.
    pub(crate) async fn shutdown(&mut self) {
        match self {
            Conn::Unix(s) => s.shutdown(),
            Conn::Stream(s) => {
                let _ = s.shutdown().await;
            }
            Conn::Command { child, socket } => {
                socket.shutdown();
                if tokio::time::timeout(CHILD_EXIT_GRACE, child.wait())
                    .await
                    .is_err()
                {
                    let _ = child.start_kill();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Run in a process of its own (this test binary again) whose
    /// `SIGPIPE` is at its default, as in a C host: writing to a child
    /// that has closed its input must give an error, not kill it.
    #[test]
    fn writing_to_a_child_that_is_gone_does_not_raise_sigpipe() {
        const PROBE: &str = "LVP_SIGPIPE_PROBE";
        if std::env::var_os(PROBE).is_some() {
            #[allow(unsafe_code)]
            // SAFETY: setting a signal's disposition to its default; no
            // handler runs Rust code.
            unsafe {
                libc::signal(libc::SIGPIPE, libc::SIG_DFL);
            }
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let mut cmd = tokio::process::Command::new("sh");
                cmd.args(["-c", "exec <&- >&-; sleep 10"]);
                let mut conn = spawn(cmd).unwrap();
                let mut buf = [0u8; 16];
                let mut fds = Vec::new();
                let n = std::future::poll_fn(|cx| {
                    conn.poll_read(cx, ReadInto::Buffer(&mut buf, &mut fds))
                })
                .await
                .unwrap();
                assert_eq!(n, 0, "the child closed its end");
                let wrote =
                    std::future::poll_fn(|cx| conn.poll_write(cx, &[IoSlice::new(b"call")], &[]))
                        .await;
                assert!(wrote.is_err(), "{wrote:?}");
            });
            return;
        }
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "client::transport::tests::writing_to_a_child_that_is_gone_does_not_raise_sigpipe",
                "--test-threads=1",
            ])
            .env(PROBE, "1")
            .status()
            .unwrap();
        assert!(status.success(), "{status:?}");
    }

    /// The environment a child gets: `LC_ALL=C` and the variables libvirt
    /// passes, nothing else of ours.
    #[tokio::test]
    async fn children_get_only_the_environment_libvirt_passes() {
        let passed = |name: &str| {
            name == "LC_ALL" || [CHILD_ENV, SSH_ENV, SSH_TTY_ENV].concat().contains(&name)
        };
        // Cargo gives a test its own variables (CARGO_*), which must not
        // reach the child.
        assert!(std::env::vars_os().any(|(k, _)| !passed(&k.to_string_lossy())));
        let mut conn = spawn(ext_command("env")).unwrap();
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        let mut fds = Vec::new();
        loop {
            let n =
                std::future::poll_fn(|cx| conn.poll_read(cx, ReadInto::Buffer(&mut buf, &mut fds)))
                    .await
                    .unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        let out = String::from_utf8(out).unwrap();
        let names: Vec<&str> = out
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, _)| k)
            .collect();
        assert!(out.lines().any(|l| l == "LC_ALL=C"), "{out}");
        assert!(
            names.iter().all(|n| passed(n) && !SSH_ENV.contains(n)),
            "{out}"
        );
        if std::env::var_os("PATH").is_some() {
            assert!(names.contains(&"PATH"), "{out}");
        }
        // ssh's command line is built the same way, with its own extras.
        let cmd = ssh_command(
            &ConnectUri::parse("qemu+ssh://h/system").unwrap(),
            false,
            false,
            RemoteDefaults::default(),
        );
        let set: Vec<String> = cmd
            .as_std()
            .get_envs()
            .map(|(k, _)| k.to_string_lossy().into_owned())
            .collect();
        assert!(set.iter().all(|n| passed(n)), "{set:?}");
        assert!(set.iter().any(|n| n == "LC_ALL"), "{set:?}");
    }

    fn argv(uri: &str, ro: bool) -> Vec<String> {
        let cmd = ssh_command(
            &ConnectUri::parse(uri).unwrap(),
            ro,
            false,
            RemoteDefaults::default(),
        );
        let std = cmd.as_std();
        std::iter::once(std.get_program())
            .chain(std.get_args())
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    /// The command run on the far side for `uri` (`session`: a session
    /// URI of a user who is not root).
    fn far_side(uri: &str, session: bool) -> String {
        far_side_with(uri, session, RemoteDefaults::default())
    }

    /// [`far_side`] with `libvirt.conf`'s `remote_mode` and `remote_proxy`.
    fn far_side_with(uri: &str, session: bool, defaults: RemoteDefaults) -> String {
        let cmd = ssh_command(&ConnectUri::parse(uri).unwrap(), false, session, defaults);
        cmd.as_std()
            .get_args()
            .last()
            .unwrap()
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn the_far_side_proxy_is_chosen_as_libvirt_chooses_it() {
        // An explicit socket: nc on it (the helper takes no socket).
        assert_eq!(
            far_side("qemu+ssh://h/system?socket=/run/alt.sock", false),
            "'nc' -U '/run/alt.sock'"
        );
        // A session: the helper alone; nc would reach the system daemon.
        assert_eq!(
            far_side("qemu+ssh://u@h/session", true),
            "virt-ssh-helper 'qemu:///session'"
        );
        // netcat= asks for nc.
        assert_eq!(
            far_side("qemu+ssh://h/system?netcat=/bin/nc", false),
            "'/bin/nc' -U '/var/run/libvirt/libvirt-sock'"
        );
        // Asked for, the helper is told the mode and socket to use.
        assert_eq!(
            far_side(
                "qemu+ssh://h/system?proxy=native&mode=direct&socket=/run/a%20b",
                false
            ),
            "virt-ssh-helper 'qemu:///system?mode=direct&socket=%2Frun%2Fa%20b'"
        );
        // Otherwise the helper where it exists, nc where not.
        assert!(far_side("qemu+ssh://h/system", false).starts_with("sh -c "));
        // An explicit mode=auto reaches the helper too, as libvirt keeps
        // what the URI said.
        assert_eq!(
            far_side("qemu+ssh://h/system?proxy=native&mode=auto", false),
            "virt-ssh-helper 'qemu:///system?mode=auto'"
        );
    }

    #[tokio::test]
    async fn ssh_refuses_the_direct_mode_without_a_socket() {
        let conf = |mode| RemoteDefaults { mode, proxy: None };
        for (uri, defaults) in [
            ("qemu+ssh://h/system?mode=direct", conf(None)),
            ("qemu+ssh://h/system?proxy=native", conf(Some(Mode::Direct))),
        ] {
            let u = ConnectUri::parse(uri).unwrap();
            assert!(
                matches!(
                    connect(&u, false, false, defaults).await,
                    Err(ClientError::Socket(SocketError::DirectNotLocal(
                        Transport::Ssh
                    )))
                ),
                "{uri}"
            );
        }
    }

    #[test]
    fn the_far_side_follows_libvirt_conf() {
        let conf = |mode, proxy| RemoteDefaults { mode, proxy };
        assert_eq!(
            far_side_with(
                "qemu+ssh://h/system",
                false,
                conf(Some(Mode::Legacy), Some(Proxy::Netcat))
            ),
            "'nc' -U '/var/run/libvirt/libvirt-sock'"
        );
        // The URI wins over the file.
        assert_eq!(
            far_side_with(
                "qemu+ssh://h/system?mode=legacy&proxy=native",
                false,
                conf(Some(Mode::Direct), Some(Proxy::Netcat))
            ),
            "virt-ssh-helper 'qemu:///system?mode=legacy'"
        );
        // The file's mode is not passed to the helper (libvirt passes the
        // URI's parameters only).
        assert_eq!(
            far_side_with(
                "qemu+ssh://h/system",
                false,
                conf(Some(Mode::Direct), Some(Proxy::Native))
            ),
            "virt-ssh-helper 'qemu:///system'"
        );
    }

    #[test]
    fn paths_reach_ssh_as_they_are_meant() {
        // ssh expands `%` tokens, and splits an option's value at blanks.
        let a = argv(
            "qemu+ssh://h/system?keyfile=/keys/50%25%20off&known_hosts=/o'brien%20dir/k%25h&proxy=native",
            false,
        );
        let at = |flag: &str| a[a.iter().position(|x| x == flag).unwrap() + 1].clone();
        assert_eq!(at("-i"), "/keys/50%% off");
        assert_eq!(at("-o"), "UserKnownHostsFile=\"/o'brien dir/k%%h\"");
    }

    #[test]
    fn ssh_runs_the_helper_with_the_uri_to_open() {
        let a = argv(
            "qemu+ssh://alice@host.example:2222/system?keyfile=/k&proxy=native&no_tty=1",
            false,
        );
        assert_eq!(
            a,
            [
                "ssh",
                "-p",
                "2222",
                "-l",
                "alice",
                "-i",
                "/k",
                "-o",
                "BatchMode=yes",
                "-T",
                "-e",
                "none",
                "--",
                "host.example",
                "virt-ssh-helper 'qemu:///system'"
            ]
        );
    }

    #[test]
    fn ssh_argv_of_ordinary_users_and_hosts_is_unchanged() {
        let a = argv(
            "qemu+ssh://user.name@[2001:db8::1]/system?known_hosts=/kh&known_hosts_verify=normal&proxy=native",
            true,
        );
        assert_eq!(
            a,
            [
                "ssh",
                "-l",
                "user.name",
                "-o",
                "UserKnownHostsFile=\"/kh\"",
                "-o",
                "StrictHostKeyChecking=yes",
                "-T",
                "-e",
                "none",
                "--",
                "2001:db8::1",
                "virt-ssh-helper -r 'qemu:///system'"
            ]
        );
        for (uri, user, host) in [
            ("qemu+ssh://root@192.0.2.1/system", "root", "192.0.2.1"),
            (
                "qemu+libssh2://root@host-1.example.com/system",
                "root",
                "host-1.example.com",
            ),
        ] {
            let a = argv(uri, false);
            assert_eq!(&a[..3], ["ssh", "-l", user], "{uri}");
            let dashes = a.iter().position(|x| x == "--").unwrap();
            assert_eq!(a[dashes + 1], host, "{uri}");
        }
    }

    #[tokio::test]
    async fn ssh_is_not_run_for_an_unsafe_uri() {
        use crate::uri::{UnsafeReason, UriError};
        // A program that does not exist: had the check not come first,
        // the error would be the failure to run it.
        let good = ConnectUri::parse("qemu+ssh://h/system?command=/nonexistent/ssh").unwrap();
        type Spoil = fn(&mut ConnectUri);
        let cases: [(&str, Spoil, UnsafeReason); 4] = [
            (
                "user",
                |u| u.user = Some("-oProxyCommand=sh -c id".into()),
                UnsafeReason::LeadingDash,
            ),
            (
                "user",
                |u| u.user = Some("a\nb".into()),
                UnsafeReason::Whitespace,
            ),
            (
                "host",
                |u| u.host = Some("h;id".into()),
                UnsafeReason::Character(';'),
            ),
            (
                "keyfile",
                |u| u.params.keyfile = Some("-oProxyCommand=id".into()),
                UnsafeReason::LeadingDash,
            ),
        ];
        for (field, spoil, reason) in cases {
            let mut u = good.clone();
            spoil(&mut u);
            match connect(&u, false, false, RemoteDefaults::default()).await {
                Err(ClientError::Uri(e)) => {
                    assert_eq!(e, UriError::Unsafe { field, reason }, "{u:?}")
                }
                Err(e) => panic!("{u:?}: {e}"),
                Ok(_) => panic!("{u:?}: connected"),
            }
        }
        // The same URI unspoilt gets as far as running the command.
        assert!(matches!(
            connect(&good, false, false, RemoteDefaults::default()).await,
            Err(ClientError::Spawn { .. })
        ));
    }

    #[test]
    fn ssh_netcat_uses_the_socket_and_read_only_socket() {
        let a = argv("qemu+ssh://h/system?proxy=netcat&netcat=/bin/nc", true);
        assert_eq!(
            a.last().unwrap(),
            "'/bin/nc' -U '/var/run/libvirt/libvirt-sock-ro'"
        );
        let a = argv("qemu+ssh://h/system?proxy=netcat&socket=/tmp/s'x", false);
        assert_eq!(a.last().unwrap(), r"'nc' -U '/tmp/s'\''x'");
    }

    #[test]
    fn ssh_auto_falls_back_from_the_helper_to_netcat() {
        let a = argv("qemu+ssh://h/system", true);
        let remote = a.last().unwrap();
        assert!(remote.starts_with("sh -c "), "{remote}");
        assert!(remote.contains("virt-ssh-helper -r"), "{remote}");
        assert!(remote.contains("nc"), "{remote}");
        assert!(remote.contains("libvirt-sock-ro"), "{remote}");
    }

    #[tokio::test]
    async fn transports_without_descriptor_passing_refuse_descriptors() {
        // Refused rather than dropped: a call passing a descriptor must
        // not reach the daemon without it.
        let (x, _y) = tokio::io::duplex(64);
        let mut s = Conn::Stream(Box::new(x));
        let fds = [OwnedFd::from(std::fs::File::open("/dev/null").unwrap())];
        let e = std::future::poll_fn(|cx| s.poll_write(cx, &[IoSlice::new(b"frame")], &fds))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::Unsupported);
    }
}
