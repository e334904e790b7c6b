//! File descriptors through the server: the typed methods of the
//! procedures that pass them get the client's and give their own, over a
//! Unix socket, to this crate's client, to `virsh --pass-fds` and to
//! libvirt's C library (through python3-libvirt). Descriptors that came
//! with a call that takes none are closed; a reply with descriptors on a
//! transport that cannot pass them, or with more than a message carries,
//! answers the call with an error and the connection goes on.
//!
//! The `virsh` and Python parts need those programs; without them they
//! say so and pass, unless `LIBVIRT_PROTO_DAEMON_TESTS=1` (`cargo xtask
//! test`).

#![cfg(all(feature = "client", feature = "server"))]

mod common;

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::FileExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use libvirt_proto::client::{Client, ClientError, ConnectOptions};
use libvirt_proto::client_config::ConfigSource;
use libvirt_proto::error::RemoteError;
use libvirt_proto::error_codes::ErrorNumber;
use libvirt_proto::frame::MAX_FDS;
use libvirt_proto::remote::program::procs;
use libvirt_proto::server::{
    LxcService, Peer, QemuService, RemoteService, Server, ServerOptions, Typed,
};
use libvirt_proto::{lxc, qemu, remote};

/// A hypervisor of one inactive domain, `files`, that notes what each
/// descriptor-taking procedure read from the descriptors it got.
#[derive(Clone, Default)]
struct Files {
    seen: Arc<Mutex<Vec<Seen>>>,
    /// What `connect_get_version` waits for.
    release: Arc<tokio::sync::Notify>,
}

/// A procedure, and what the files it got held.
type Seen = (&'static str, Vec<String>);

impl Files {
    fn note(&self, procedure: &'static str, fds: Vec<OwnedFd>) -> Vec<String> {
        let texts = read_all(fds);
        self.seen.lock().unwrap().push((procedure, texts.clone()));
        texts
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn domain(name: &str) -> remote::NonnullDomain {
    remote::NonnullDomain {
        name: name.into(),
        uuid: [9; 16].into(),
        id: -1,
    }
}

/// What each file holds, from its start.
fn read_all(fds: Vec<OwnedFd>) -> Vec<String> {
    fds.into_iter()
        .map(|fd| {
            let file = std::fs::File::from(fd);
            let mut buf = vec![0u8; 4096];
            let n = file.read_at(&mut buf, 0).unwrap();
            String::from_utf8_lossy(&buf[..n]).trim().to_owned()
        })
        .collect()
}

/// One end of a socket pair whose other end has written `text` and gone.
fn socket_saying(text: &str) -> OwnedFd {
    let (ours, theirs) = UnixStream::pair().unwrap();
    (&ours).write_all(text.as_bytes()).unwrap();
    OwnedFd::from(theirs)
}

/// All a descriptor's socket says until its end.
fn said(fd: OwnedFd) -> String {
    let mut s = UnixStream::from(fd);
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text
}

impl RemoteService for Files {
    async fn connect_open(&self, _: &Peer, _: remote::ConnectOpenArgs) -> Result<(), RemoteError> {
        Ok(())
    }

    async fn connect_get_hostname(
        &self,
        _: &Peer,
    ) -> Result<remote::ConnectGetHostnameRet, RemoteError> {
        Ok(remote::ConnectGetHostnameRet {
            hostname: "files-host".into(),
        })
    }

    /// Answers once the test says so.
    async fn connect_get_version(
        &self,
        _: &Peer,
    ) -> Result<remote::ConnectGetVersionRet, RemoteError> {
        self.release.notified().await;
        Ok(remote::ConnectGetVersionRet { hv_ver: 1 })
    }

    /// Descriptors pass (`VIR_DRV_FEATURE_FD_PASSING`), nothing else.
    async fn connect_supports_feature(
        &self,
        _: &Peer,
        args: remote::ConnectSupportsFeatureArgs,
    ) -> Result<remote::ConnectSupportsFeatureRet, RemoteError> {
        Ok(remote::ConnectSupportsFeatureRet {
            supported: i32::from(args.feature == 8),
        })
    }

    async fn domain_lookup_by_name(
        &self,
        _: &Peer,
        args: remote::DomainLookupByNameArgs,
    ) -> Result<remote::DomainLookupByNameRet, RemoteError> {
        Ok(remote::DomainLookupByNameRet {
            dom: domain(&args.name.0),
        })
    }

    /// The new domain is named after what the first file holds.
    async fn domain_create_xml_with_files(
        &self,
        _: &Peer,
        _: remote::DomainCreateXmlWithFilesArgs,
        fds: Vec<OwnedFd>,
    ) -> Result<remote::DomainCreateXmlWithFilesRet, RemoteError> {
        let texts = self.note("create-xml", fds);
        Ok(remote::DomainCreateXmlWithFilesRet {
            dom: domain(texts.first().map_or("none", String::as_str)),
        })
    }

    async fn domain_create_with_files(
        &self,
        _: &Peer,
        args: remote::DomainCreateWithFilesArgs,
        fds: Vec<OwnedFd>,
    ) -> Result<remote::DomainCreateWithFilesRet, RemoteError> {
        self.note("create", fds);
        Ok(remote::DomainCreateWithFilesRet { dom: args.dom })
    }

    async fn domain_fd_associate(
        &self,
        _: &Peer,
        args: remote::DomainFdAssociateArgs,
        fds: Vec<OwnedFd>,
    ) -> Result<(), RemoteError> {
        assert_eq!(args.name.0, "group");
        self.note("associate", fds);
        Ok(())
    }

    /// A socket whose other end says which display it is.
    async fn domain_open_graphics_fd(
        &self,
        _: &Peer,
        args: remote::DomainOpenGraphicsFdArgs,
    ) -> Result<((), Vec<OwnedFd>), RemoteError> {
        Ok(((), vec![socket_saying(&format!("display {}", args.idx))]))
    }
}

impl QemuService for Files {
    /// Answers with the command and what the files hold, and gives a
    /// socket that says "monitor".
    async fn qemu_domain_monitor_command_with_files(
        &self,
        _: &Peer,
        args: qemu::DomainMonitorCommandWithFilesArgs,
        fds: Vec<OwnedFd>,
    ) -> Result<(qemu::DomainMonitorCommandWithFilesRet, Vec<OwnedFd>), RemoteError> {
        let texts = self.note("monitor", fds);
        let ret = qemu::DomainMonitorCommandWithFilesRet {
            result: remote::NonnullString(format!("{}: {}", args.cmd.0, texts.join(","))),
        };
        Ok((ret, vec![socket_saying("monitor")]))
    }
}

impl LxcService for Files {
    /// Three namespaces; with flags 1, one more than a message carries.
    async fn lxc_domain_open_namespace(
        &self,
        _: &Peer,
        args: lxc::DomainOpenNamespaceArgs,
    ) -> Result<((), Vec<OwnedFd>), RemoteError> {
        let n = if args.flags == 1 { MAX_FDS + 1 } else { 3 };
        let fds = (0..n)
            .map(|_| OwnedFd::from(std::fs::File::open("/dev/null").unwrap()))
            .collect();
        Ok(((), fds))
    }
}

/// A server on a socket of its own folder, stopped when dropped.
struct Running {
    dir: PathBuf,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    fn start(name: &str, files: &Files) -> Running {
        let dir = std::env::temp_dir().join(format!("lvp-fds-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let listener = tokio::net::UnixListener::bind(dir.join("sock")).unwrap();
        let server = Server::new(Typed(files.clone()), ServerOptions::default());
        let task = tokio::spawn(async move { server.serve_unix(listener).await });
        Running { dir, task }
    }

    fn uri(&self) -> String {
        format!(
            "test+unix:///default?socket={}",
            self.dir.join("sock").display()
        )
    }

    /// A file in the server's folder holding `text`.
    fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn client(uri: &str) -> Client {
    let options = ConnectOptions::default().with_config(ConfigSource::None);
    Client::connect_with(uri, options).await.unwrap()
}

fn open(path: &Path) -> OwnedFd {
    OwnedFd::from(std::fs::File::open(path).unwrap())
}

fn remote_error(e: ClientError) -> RemoteError {
    match e {
        ClientError::Remote(e) => *e,
        other => panic!("not the server's error: {other}"),
    }
}

#[tokio::test]
async fn descriptors_pass_both_ways_with_the_client() {
    let files = Files::default();
    let server = Running::start("client", &files);
    let client = client(&server.uri()).await;

    // Taken with a call.
    let kernel = server.file("kernel", "vmlinuz");
    let initrd = server.file("initrd", "initrd.img");
    let dom = client
        .domain_create_xml_with_files("<domain/>", 0, vec![open(&kernel), open(&initrd)])
        .await
        .unwrap();
    assert_eq!(dom.name, "vmlinuz");
    let files_dom = domain("files");
    client
        .domain_create_with_files(&files_dom, 0, vec![open(&initrd)])
        .await
        .unwrap();
    client
        .domain_fd_associate(&files_dom, "group", 0, vec![open(&kernel)])
        .await
        .unwrap();
    assert_eq!(
        files.seen(),
        [
            (
                "create-xml",
                vec!["vmlinuz".to_owned(), "initrd.img".to_owned()]
            ),
            ("create", vec!["initrd.img".to_owned()]),
            ("associate", vec!["vmlinuz".to_owned()]),
        ]
    );

    // Given with a reply.
    let fds = client
        .domain_open_graphics_fd(&files_dom, 2, 0)
        .await
        .unwrap();
    assert_eq!(fds.len(), 1);
    let fd = fds.into_iter().next().unwrap();
    let text = tokio::task::spawn_blocking(move || said(fd)).await.unwrap();
    assert_eq!(text, "display 2");
    let fds = client
        .lxc_domain_open_namespace(&files_dom, 0)
        .await
        .unwrap();
    assert_eq!(fds.len(), 3);

    // Both.
    let (result, fds) = client
        .qemu_domain_monitor_command_with_files(&files_dom, "getfd", 0, vec![open(&kernel)])
        .await
        .unwrap();
    assert_eq!(result, "getfd: vmlinuz");
    let fd = fds.into_iter().next().unwrap();
    let text = tokio::task::spawn_blocking(move || said(fd)).await.unwrap();
    assert_eq!(text, "monitor");
}

#[tokio::test]
async fn descriptors_of_a_call_that_takes_none_are_closed() {
    let files = Files::default();
    let server = Running::start("closed", &files);
    let client = client(&server.uri()).await;
    let (ours, theirs) = UnixStream::pair().unwrap();
    let (ret, fds) = client
        .call_fds::<procs::ConnectGetHostname>(&(), vec![OwnedFd::from(theirs)])
        .await
        .unwrap();
    assert_eq!(ret.hostname.0, "files-host");
    assert!(fds.is_empty());
    // The client sent its copy and closed it; the server's copy is closed
    // too, so the other end reads the end of the stream (no leak).
    let text = tokio::task::spawn_blocking(move || said(OwnedFd::from(ours)))
        .await
        .unwrap();
    assert_eq!(text, "");
    // Closed when the call comes, not when it is answered.
    let (ours, theirs) = UnixStream::pair().unwrap();
    let waiting = {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .call_fds::<procs::ConnectGetVersion>(&(), vec![OwnedFd::from(theirs)])
                .await
        })
    };
    let text = tokio::task::spawn_blocking(move || said(OwnedFd::from(ours)))
        .await
        .unwrap();
    assert_eq!(text, "");
    assert!(!waiting.is_finished());
    files.release.notify_one();
    let (ret, _) = waiting.await.unwrap().unwrap();
    assert_eq!(ret.hv_ver, 1);
    assert!(files.seen().is_empty());
}

#[tokio::test]
async fn a_reply_with_too_many_descriptors_is_an_error_and_the_connection_goes_on() {
    let files = Files::default();
    let server = Running::start("many", &files);
    let client = client(&server.uri()).await;
    let e = remote_error(
        client
            .lxc_domain_open_namespace(&domain("files"), 1)
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, ErrorNumber::ERR_INTERNAL_ERROR);
    assert!(
        e.message
            .as_deref()
            .unwrap_or_default()
            .contains("cannot send the reply"),
        "{e:?}"
    );
    assert_eq!(client.connect_get_hostname().await.unwrap(), "files-host");
}

#[tokio::test]
async fn descriptors_do_not_pass_over_tcp() {
    let files = Files::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = Server::new(Typed(files.clone()), ServerOptions::default());
    let task = tokio::spawn(async move { server.serve_tcp(listener).await });
    let client = client(&format!("test+tcp://127.0.0.1:{port}/default")).await;
    let e = remote_error(
        client
            .domain_open_graphics_fd(&domain("files"), 0, 0)
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, ErrorNumber::ERR_OPERATION_UNSUPPORTED);
    assert!(
        e.message
            .as_deref()
            .unwrap_or_default()
            .contains("only on a Unix socket"),
        "{e:?}"
    );
    // The connection goes on.
    assert_eq!(client.connect_get_hostname().await.unwrap(), "files-host");
    task.abort();
}

/// `virsh -c <uri> args...` with descriptor 3 reading `file`; `None` when
/// `virsh` is missing (a failure when the daemon tests are required).
async fn virsh_with_fd(uri: &str, args: &[&str], file: &Path) -> Option<Output> {
    let out = common::virsh::run_if_present("virsh", uri, &["hostname"], &[]).await;
    out.as_ref()?;
    let script = r#"uri=$1; file=$2; shift 2; exec virsh -c "$uri" "$@" 3<"$file""#;
    let out = tokio::process::Command::new("sh")
        .args(["-c", script, "sh", uri])
        .arg(file)
        .args(args)
        .env("LC_ALL", "C")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "virsh {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(out)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[tokio::test]
async fn virsh_passes_descriptors() {
    let files = Files::default();
    let server = Running::start("virsh", &files);
    let uri = server.uri();
    let xml = server.file("dom.xml", "<domain/>");
    let disk = server.file("disk", "disk-image");
    let Some(out) = virsh_with_fd(
        &uri,
        &["create", "--pass-fds", "3", &xml.display().to_string()],
        &disk,
    )
    .await
    else {
        return;
    };
    // Named after what the passed file holds.
    assert!(
        stdout(&out).starts_with("Domain 'disk-image' created from"),
        "{}",
        stdout(&out)
    );
    let out = virsh_with_fd(&uri, &["start", "--pass-fds", "3", "files"], &disk)
        .await
        .unwrap();
    assert_eq!(stdout(&out), "Domain 'files' started");
    virsh_with_fd(&uri, &["dom-fd-associate", "files", "group", "3"], &disk)
        .await
        .unwrap();
    let out = virsh_with_fd(
        &uri,
        &["qemu-monitor-command", "--pass-fds", "3", "files", "getfd"],
        &disk,
    )
    .await
    .unwrap();
    // virsh wraps a command that is not JSON into QMP's form (with
    // `"arguments":{}` since libvirt 9.x, without before).
    let text = stdout(&out);
    assert!(
        text.starts_with(r#"{"execute":"getfd""#) && text.ends_with("}: disk-image"),
        "{text}"
    );
    let one = || vec!["disk-image".to_owned()];
    assert_eq!(
        files.seen(),
        [
            ("create-xml", one()),
            ("create", one()),
            ("associate", one()),
            ("monitor", one()),
        ]
    );
}

/// The Python with the `libvirt` module (a `python3` on `PATH` may be
/// another).
const PYTHON: &str = "/usr/bin/python3";

#[tokio::test]
async fn libvirts_c_library_takes_descriptors_from_replies() {
    let have = std::process::Command::new(PYTHON)
        .args(["-c", "import libvirt, libvirt_lxc"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !have {
        assert!(
            !common::required(),
            "{PYTHON} cannot import libvirt (python3-libvirt) but LIBVIRT_PROTO_DAEMON_TESTS=1"
        );
        eprintln!("skipped: {PYTHON} cannot import libvirt (python3-libvirt)");
        return;
    }
    let files = Files::default();
    let server = Running::start("python", &files);
    let script = "\
import os, sys, libvirt, libvirt_lxc
conn = libvirt.open(sys.argv[1])
dom = conn.lookupByName('files')
fd = dom.openGraphicsFD(1, 0)
print(os.read(fd, 100).decode())
print(len(libvirt_lxc.lxcOpenNamespace(dom, 0)))
";
    let out = tokio::process::Command::new(PYTHON)
        .args(["-c", script, &server.uri()])
        .env("LC_ALL", "C")
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout(&out), "display 1\n3");
}
