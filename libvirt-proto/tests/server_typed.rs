//! The typed services (`RemoteService`, `QemuService`, `LxcService`,
//! `AdminService` served by `Typed` / `TypedAdmin`): a method per
//! procedure, spoken to by this crate's client and by the real `virsh` and
//! `virt-admin`. Calls of the remote and qemu programs reach their
//! methods, a stream procedure's method gets its stream, the methods not
//! written answer libvirt's "not supported" naming the procedure, and the
//! server still answers the procedures it runs itself.
//!
//! The `virsh` / `virt-admin` parts need those programs; without them
//! they say so and pass, unless `LIBVIRT_PROTO_DAEMON_TESTS=1` (`cargo
//! xtask test`).

#![cfg(all(feature = "client", feature = "server"))]

mod common;

use std::path::PathBuf;
use std::process::Output;

use libvirt_proto::client::{AdminClient, Client, ClientError, ConnectOptions};
use libvirt_proto::client_config::ConfigSource;
use libvirt_proto::error::RemoteError;
use libvirt_proto::error_codes::{ErrorDomain, ErrorNumber};
use libvirt_proto::remote::program::procs;
use libvirt_proto::server::{
    AdminService, ClientStreamEvent, LxcService, Peer, QemuService, RemoteService, Server,
    ServerOptions, ServerStream, Service, Typed, TypedAdmin,
};
use libvirt_proto::{admin, qemu, remote};

/// A hypervisor of one domain, `typed`.
struct Daemon;

fn domain() -> remote::NonnullDomain {
    remote::NonnullDomain {
        name: "typed".into(),
        uuid: [7; 16].into(),
        id: 3,
    }
}

fn no_domain(name: &str) -> RemoteError {
    RemoteError::new(
        ErrorNumber::ERR_NO_DOMAIN,
        ErrorDomain::DOM,
        format!("Domain not found: no domain with matching name '{name}'"),
    )
}

/// What the screen shows: more than one stream packet.
fn screen() -> Vec<u8> {
    (0..300_000u32).map(|i| (i % 253) as u8).collect()
}

impl RemoteService for Daemon {
    async fn connect_open(&self, _: &Peer, _: remote::ConnectOpenArgs) -> Result<(), RemoteError> {
        Ok(())
    }

    async fn connect_get_hostname(
        &self,
        _: &Peer,
    ) -> Result<remote::ConnectGetHostnameRet, RemoteError> {
        Ok(remote::ConnectGetHostnameRet {
            hostname: "typed-host".into(),
        })
    }

    async fn domain_lookup_by_name(
        &self,
        _: &Peer,
        args: remote::DomainLookupByNameArgs,
    ) -> Result<remote::DomainLookupByNameRet, RemoteError> {
        if args.name != "typed" {
            return Err(no_domain(&args.name));
        }
        Ok(remote::DomainLookupByNameRet { dom: domain() })
    }

    async fn domain_get_info(
        &self,
        _: &Peer,
        args: remote::DomainGetInfoArgs,
    ) -> Result<remote::DomainGetInfoRet, RemoteError> {
        assert_eq!(args.dom.name, "typed");
        Ok(remote::DomainGetInfoRet {
            state: 1,
            max_mem: 2048,
            memory: 1024,
            nr_virt_cpu: 2,
            cpu_time: 5_000_000_000,
        })
    }

    async fn domain_screenshot(
        &self,
        _: &Peer,
        args: remote::DomainScreenshotArgs,
        mut stream: ServerStream,
    ) -> Result<remote::DomainScreenshotRet, RemoteError> {
        assert_eq!(args.dom.name, "typed");
        // The data goes out once the reply has.
        tokio::spawn(async move {
            stream.send(&screen()).await.unwrap();
            stream.end().await.unwrap();
            assert_eq!(stream.recv().await, Some(ClientStreamEvent::Finish));
            stream.finish().await.unwrap();
        });
        Ok(remote::DomainScreenshotRet {
            mime: Some("image/x-typed".into()).into(),
        })
    }
}

impl QemuService for Daemon {
    async fn qemu_domain_monitor_command(
        &self,
        _: &Peer,
        args: qemu::DomainMonitorCommandArgs,
    ) -> Result<qemu::DomainMonitorCommandRet, RemoteError> {
        Ok(qemu::DomainMonitorCommandRet {
            result: format!("{} ran {}", args.dom.name, args.cmd.0).into(),
        })
    }
}

impl LxcService for Daemon {}

/// An admin socket of one server, `typed-server`.
struct Admin;

impl AdminService for Admin {
    async fn connect_open(&self, _: &Peer, _: admin::ConnectOpenArgs) -> Result<(), RemoteError> {
        Ok(())
    }

    async fn connect_get_lib_version(
        &self,
        _: &Peer,
    ) -> Result<admin::ConnectGetLibVersionRet, RemoteError> {
        Ok(admin::ConnectGetLibVersionRet { lib_ver: 7_008_009 })
    }

    async fn connect_list_servers(
        &self,
        _: &Peer,
        _: admin::ConnectListServersArgs,
    ) -> Result<admin::ConnectListServersRet, RemoteError> {
        Ok(admin::ConnectListServersRet {
            servers: vec![admin::NonnullServer {
                name: "typed-server".into(),
            }],
            ret: 1,
        })
    }
}

/// A server on a socket of its own folder, stopped when dropped.
struct Running {
    dir: PathBuf,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    fn start<S: Service>(name: &str, service: S) -> Running {
        let dir = std::env::temp_dir().join(format!("lvp-typed-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let listener = tokio::net::UnixListener::bind(dir.join("sock")).unwrap();
        let server = Server::new(service, ServerOptions::default());
        let task = tokio::spawn(async move { server.serve_unix(listener).await });
        Running { dir, task }
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("sock")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn message(e: &RemoteError) -> &str {
    e.message.as_deref().unwrap_or_default()
}

fn uri(server: &Running) -> String {
    format!("test+unix:///default?socket={}", server.socket().display())
}

fn admin_uri(server: &Running) -> String {
    format!("libvirtd:///system?socket={}", server.socket().display())
}

async fn client(server: &Running) -> Client {
    let options = ConnectOptions::default().with_config(ConfigSource::None);
    Client::connect_with(&uri(server), options).await.unwrap()
}

#[tokio::test]
async fn typed_methods_answer_the_client() {
    let server = Running::start("client", Typed(Daemon));
    let client = client(&server).await;
    assert_eq!(client.connect_get_hostname().await.unwrap(), "typed-host");
    let dom = client.domain_lookup_by_name("typed").await.unwrap();
    assert_eq!(dom.id, 3);
    let info = client.domain_get_info(&dom).await.unwrap();
    assert_eq!(
        (info.max_mem, info.memory, info.nr_virt_cpu),
        (2048, 1024, 2)
    );

    // A method's error reaches the client as it is.
    match client.domain_lookup_by_name("other").await {
        Err(ClientError::Remote(e)) => {
            assert_eq!(e.code, ErrorNumber::ERR_NO_DOMAIN);
            assert!(message(&e).contains("'other'"), "{e:?}");
        }
        other => panic!("{other:?}"),
    }

    // A method not written: libvirt's "not supported", naming it.
    match client.connect_get_capabilities().await {
        Err(ClientError::Unsupported(e)) => {
            assert_eq!(e.code, ErrorNumber::ERR_NO_SUPPORT);
            assert!(
                message(&e).contains("REMOTE_PROC_CONNECT_GET_CAPABILITIES"),
                "{e:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    // A procedure passing descriptors (which the server does not pass)
    // has no method: refused the same way.
    match client.lxc_domain_open_namespace(&dom, 0).await {
        Err(ClientError::Unsupported(e)) => {
            assert!(
                message(&e).contains("LXC_PROC_DOMAIN_OPEN_NAMESPACE"),
                "{e:?}"
            )
        }
        other => panic!("{other:?}"),
    }

    // The qemu program's call reaches `QemuService`.
    let out = client
        .qemu_domain_monitor_command(&dom, "query-status", 0)
        .await
        .unwrap();
    assert_eq!(out, "typed ran query-status");

    // A stream procedure's method moves the data.
    let (mime, mut stream) = client.domain_screenshot(&dom, 0, 0).await.unwrap();
    assert_eq!(mime.as_deref(), Some("image/x-typed"));
    let mut got = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut got)
        .await
        .unwrap();
    stream.finish().await.unwrap();
    assert_eq!(got, screen());

    // The connection's own procedures stay the server's: the keepalive
    // feature (`Daemon` has no `connect_supports_feature`) and
    // `CONNECT_CLOSE` (no method at all).
    let keepalive = remote::ConnectSupportsFeatureArgs {
        feature: libvirt_proto::engine::FEATURE_PROGRAM_KEEPALIVE,
    };
    let supported = client
        .call::<procs::ConnectSupportsFeature>(&keepalive)
        .await
        .unwrap();
    assert_eq!(supported.supported, 1);
    client.call::<procs::ConnectClose>(&()).await.unwrap();
}

#[tokio::test]
async fn typed_admin_methods_answer_the_admin_client() {
    let server = Running::start("admin-client", TypedAdmin(Admin));
    let admin = AdminClient::connect(&admin_uri(&server)).await.unwrap();
    assert_eq!(admin.connect_get_lib_version().await.unwrap(), 7_008_009);
    let servers = admin.connect_list_servers(1, 0).await.unwrap();
    assert_eq!(servers.ret, 1);
    assert_eq!(servers.servers[0].name, "typed-server");
    match admin.connect_lookup_server("typed-server", 0).await {
        Err(ClientError::Unsupported(e)) => {
            assert!(
                message(&e).contains("ADMIN_PROC_CONNECT_LOOKUP_SERVER"),
                "{e:?}"
            )
        }
        other => panic!("{other:?}"),
    }
    // The close is the server's, as on libvirt's admin server.
    admin
        .call::<admin::program::procs::ConnectClose>(&())
        .await
        .unwrap();
}

/// `program -c <uri> args...` (see [`common::virsh::run_if_present`]).
async fn run(program: &str, uri: String, args: &[&str]) -> Option<Output> {
    common::virsh::run_if_present(program, &uri, args, &[]).await
}

fn stdout(out: &Output) -> String {
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[tokio::test]
async fn virsh_talks_to_a_typed_service() {
    let server = Running::start("virsh", Typed(Daemon));
    let Some(out) = run("virsh", uri(&server), &["hostname"]).await else {
        return;
    };
    assert_eq!(stdout(&out), "typed-host");

    let out = run(
        "virsh",
        uri(&server),
        &[
            "qemu-monitor-command",
            "typed",
            r#"{"execute":"query-status"}"#,
        ],
    )
    .await
    .unwrap();
    assert_eq!(stdout(&out), r#"typed ran {"execute":"query-status"}"#);

    let file = server.dir.join("screen.bin");
    let out = run(
        "virsh",
        uri(&server),
        &["screenshot", "typed", "--file", file.to_str().unwrap()],
    )
    .await
    .unwrap();
    stdout(&out);
    assert_eq!(std::fs::read(&file).unwrap(), screen());

    let out = run("virsh", uri(&server), &["capabilities"]).await.unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "this function is not supported by the connection driver: \
             REMOTE_PROC_CONNECT_GET_CAPABILITIES"
        ),
        "{stderr}"
    );
}

#[tokio::test]
async fn virt_admin_talks_to_a_typed_admin_service() {
    let server = Running::start("virt-admin", TypedAdmin(Admin));
    let Some(out) = run("virt-admin", admin_uri(&server), &["srv-list"]).await else {
        return;
    };
    let text = stdout(&out);
    assert!(text.contains("typed-server"), "{text}");
    let out = run("virt-admin", admin_uri(&server), &["version"])
        .await
        .unwrap();
    // The daemon's version is what `connect_get_lib_version` says.
    assert!(stdout(&out).contains("7.8.9"), "{out:?}");
}

/// Remembers the names clients ask to open.
#[derive(Clone, Default)]
struct Opened(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl RemoteService for Opened {
    async fn connect_open(
        &self,
        _: &Peer,
        args: remote::ConnectOpenArgs,
    ) -> Result<(), RemoteError> {
        let name = args.name.0.map(|n| n.0).unwrap_or_default();
        self.0.lock().unwrap().push(name);
        Ok(())
    }

    async fn connect_get_hostname(
        &self,
        _: &Peer,
    ) -> Result<remote::ConnectGetHostnameRet, RemoteError> {
        Ok(remote::ConnectGetHostnameRet {
            hostname: "opened".into(),
        })
    }
}
impl QemuService for Opened {}
impl LxcService for Opened {}

#[tokio::test]
async fn the_name_opened_is_the_one_virsh_opens() {
    let opened = Opened::default();
    let server = Running::start("opened", Typed(opened.clone()));
    // A driver's own parameters and a fragment go on to the daemon.
    let uri = format!(
        "test+unix:///default?socket={}&frob=a%2Fb%20c&Other=1#frag",
        server.socket().display()
    );
    let options = ConnectOptions::default().with_config(ConfigSource::None);
    let client = Client::connect_with(&uri, options).await.unwrap();
    client.close().await;
    let ours = opened.0.lock().unwrap().clone();
    assert_eq!(ours, ["test:///default?frob=a%2Fb%20c&Other=1#frag"]);
    let Some(out) = run("virsh", uri, &["hostname"]).await else {
        return;
    };
    assert_eq!(stdout(&out), "opened");
    let all = opened.0.lock().unwrap().clone();
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(all[1], all[0], "virsh opened another name");
}
