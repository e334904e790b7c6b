//! A private Kerberos realm for the tests, and a private `libvirtd` that
//! requires SASL GSSAPI (Kerberos) on plain tcp.
//!
//! [`Kdc::start`] builds the realm [`REALM`] in a temporary folder: MIT
//! Kerberos's `krb5.conf` and `kdc.conf`, a database made with `kdb5_util`
//! and `kadmin.local`, and a `krb5kdc` answering on 127.0.0.1 (udp and
//! tcp) on a free port. The realm has one user, [`USER`], whose key is in
//! a keytab, so `kinit -k -t` gets a ticket-granting ticket without a
//! terminal, and the service principals `libvirt/127.0.0.1` and
//! `libvirt/localhost` (random keys, in the service keytab the daemon
//! reads). The user's credential cache (`FILE:`) holds a ticket-granting
//! ticket once `start` returns; service tickets are left for the client
//! to ask for.
//!
//! Nothing is set in the test process's own environment: the variables
//! (`KRB5_CONFIG`, `KRB5CCNAME`, ...) go to child processes only, through
//! [`Kdc::client_env`] (a client such as `virsh`) and [`Kdc::daemon_env`]
//! (`libvirtd`), so tests with their own realms run side by side.
//!
//! [`Kdc::daemon`] starts a [`Daemon`] listening on tcp 127.0.0.1 with
//! `auth_tcp = "sasl"` and Cyrus SASL configured for GSSAPI only. What it
//! takes for Cyrus and libvirtd, found with `virsh`:
//!
//! - Cyrus's GSSAPI client asks for the host-based service
//!   `libvirt@<host of the URI>`, i.e. `libvirt/127.0.0.1@LIBVIRT.TEST` for
//!   `test+tcp://127.0.0.1:PORT/default`. `dns_canonicalize_hostname` and
//!   `rdns` are off so the name is used as written, and `[domain_realm]`
//!   maps `127.0.0.1` and `localhost` to the realm.
//! - Cyrus's GSSAPI server (libvirtd passes no server name) acquires
//!   credentials for `libvirt@<the machine's own host name>`, which has no
//!   key in the keytab. `ignore_acceptor_hostname = true` in the daemon's
//!   `krb5.conf` makes MIT Kerberos accept any `libvirt/*` principal of
//!   the keytab instead; without it the daemon refuses every client
//!   ("authentication failed").
//! - The daemon finds the service keytab through either `KRB5_KTNAME` or
//!   the `keytab:` option of Cyrus's `libvirt.conf`; both are set. Without
//!   either it looks in `/etc/krb5.keytab` and refuses every client.
//! - On plain tcp libvirtd asks Cyrus for a security layer of at least 56
//!   bits (`tcp_min_ssf`). GSSAPI with confidentiality qualifies: with
//!   the AES keys of this realm Cyrus reports an SSF of 256, and after
//!   authentication every packet is wrapped (`gss_wrap`, SASL's 4-byte
//!   length prefix) in both directions.
//! - The daemon sees the user as `alice` (Cyrus strips the realm), the
//!   name `sasl_allowed_username_list` matches.
//! - Acceptors keep a replay cache; `KRB5RCACHEDIR` puts the daemon's in
//!   this folder rather than `/var/tmp`.
//!
//! To see what goes wrong, `KRB5_TRACE=/dev/stderr` on a client command
//! traces the Kerberos library, `kdc.log` in the folder is the KDC's log,
//! and `log_outputs = "1:file:/tmp/libvirtd.log"` with
//! `log_filters = "1:rpc 1:remote"` in the daemon's `extra` lines logs
//! libvirtd's side (the SASL mechanisms offered and the SSF negotiated).
//!
//! Without MIT Kerberos's tools (packages `krb5-kdc`, `krb5-admin-server`,
//! `krb5-user`) or Cyrus's GSSAPI plugin (`libsasl2-modules-gssapi-mit`)
//! the tests say so and pass, unless the daemon tests are required.

use std::ffi::OsString;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::Daemon;

/// The realm of every test KDC.
pub const REALM: &str = "LIBVIRT.TEST";
/// The user, whose ticket-granting ticket is in [`Kdc::ccache`].
pub const USER: &str = "alice";
/// The SASL service name libvirt uses, the first part of the service
/// principals.
pub const SERVICE: &str = "libvirt";
/// The hosts with a service principal (`libvirt/<host>`) in the service
/// keytab, i.e. the hosts a client may name in its URI.
pub const SERVICE_HOSTS: [&str; 2] = ["127.0.0.1", "localhost"];

/// The KDC database's master password (`kdb5_util create -P`), stashed in
/// the folder so that `krb5kdc` starts without asking for it.
const MASTER_PASSWORD: &str = "libvirt-proto test master key";

/// MIT Kerberos's programs needed to build and serve a realm.
const TOOLS: [&str; 4] = ["krb5kdc", "kdb5_util", "kadmin.local", "kinit"];

/// Where the administrative programs live when `PATH` lacks them (a
/// user's `PATH` often has no `sbin`).
const SBIN_DIRS: [&str; 3] = ["/usr/sbin", "/sbin", "/usr/local/sbin"];

/// How long the KDC and the daemon get to start.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A private KDC for [`REALM`] and its folder; the KDC is killed and the
/// folder removed when dropped (drop a [`Daemon`] using its keytab first).
pub struct Kdc {
    child: Child,
    /// The folder holding the configuration, database, keytabs, credential
    /// cache and logs; also scratch space for the test.
    pub dir: PathBuf,
    port: u16,
}

impl Drop for Kdc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The path of `program`, searched in `PATH` and then in the `sbin`
/// folders.
fn find_tool(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(SBIN_DIRS.iter().map(PathBuf::from))
        .map(|d| d.join(program))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// `program`, which [`Kdc::start`] has found.
fn tool(program: &str) -> Command {
    Command::new(find_tool(program).unwrap_or_else(|| panic!("{program} not found")))
}

/// Runs `cmd` to completion, panicking with its output when it fails.
fn check(cmd: &mut Command, what: &str) -> Output {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A port of 127.0.0.1 free for both tcp and udp a moment ago.
fn free_port() -> u16 {
    for _ in 0..100 {
        let tcp = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = tcp.local_addr().unwrap().port();
        if UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return port;
        }
    }
    panic!("no port of 127.0.0.1 free for both tcp and udp");
}

impl Kdc {
    /// A KDC for [`REALM`] serving on 127.0.0.1, with [`USER`]'s
    /// ticket-granting ticket in [`Kdc::ccache`]. `None` (the test passes)
    /// when MIT Kerberos's tools are missing, unless the daemon tests are
    /// required. `name` makes the folder, `lvp-kdc-<name>-<pid>` in the
    /// temporary folder, unique among the tests.
    pub fn start(name: &str) -> Option<Kdc> {
        if let Some(missing) = TOOLS.iter().find(|t| find_tool(t).is_none()) {
            // `cargo xtask test` installs MIT Kerberos with libvirt before
            // it requires the daemon tests.
            assert!(
                !super::required(),
                "{missing} not found but LIBVIRT_PROTO_DAEMON_TESTS=1"
            );
            eprintln!(
                "skipped: {missing} not found; `cargo xtask test` installs it (krb5-kdc, \
                 krb5-admin-server, krb5-user through .ci/install-libvirt) and runs these tests"
            );
            return None;
        }
        let dir = std::env::temp_dir().join(format!("lvp-kdc-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sasl")).unwrap();
        std::fs::create_dir_all(dir.join("rcache")).unwrap();
        // A port free a moment ago may be taken before the KDC binds it;
        // the KDC then exits, and another port is tried.
        let mut last = None;
        for attempt in 0..5 {
            let port = free_port();
            write_conf(&dir, port);
            if attempt == 0 {
                create_realm(&dir);
            }
            match spawn_kdc(&dir, port) {
                Ok(child) => {
                    let kdc = Kdc { child, dir, port };
                    kdc.kinit();
                    return Some(kdc);
                }
                Err(status) => last = status,
            }
        }
        let log = std::fs::read_to_string(dir.join("kdc.log")).unwrap_or_default();
        let _ = std::fs::remove_dir_all(&dir);
        panic!("krb5kdc exited at start five times with other ports (last: {last:?}):\n{log}");
    }

    /// Gets [`USER`]'s ticket-granting ticket into [`Kdc::ccache`] again
    /// with its keytab (e.g. after a test removed the cache).
    pub fn kinit(&self) {
        let out = tool("kinit")
            .arg("-k")
            .arg("-t")
            .arg(self.user_keytab())
            .arg("-c")
            .arg(self.ccache())
            .arg(self.principal())
            .env("KRB5_CONFIG", self.krb5_conf())
            .stdin(Stdio::null())
            .output()
            .expect("kinit");
        assert!(
            out.status.success(),
            "kinit failed: {}\nKDC log:\n{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(self.dir.join("kdc.log")).unwrap_or_default()
        );
    }

    /// Gets a service ticket for `libvirt/<host>` into [`Kdc::ccache`]
    /// (`kvno`), for a client that only uses tickets already in its
    /// cache. `host` is one of [`SERVICE_HOSTS`].
    pub fn fetch_service_ticket(&self, host: &str) {
        check(
            tool("kvno")
                .arg("-c")
                .arg(self.ccache())
                .arg(self.service_principal(host))
                .env("KRB5_CONFIG", self.krb5_conf()),
            "kvno",
        );
    }

    /// The `krb5.conf` of clients and of the daemon (`KRB5_CONFIG`).
    pub fn krb5_conf(&self) -> PathBuf {
        self.dir.join("krb5.conf")
    }

    /// The KDC's own configuration (`KRB5_KDC_PROFILE`).
    pub fn kdc_conf(&self) -> PathBuf {
        self.dir.join("kdc.conf")
    }

    /// The user's credential cache file; it holds a ticket-granting
    /// ticket for [`Kdc::principal`].
    pub fn ccache_path(&self) -> PathBuf {
        self.dir.join("alice.ccache")
    }

    /// The user's credential cache as a cache name (`FILE:<path>`), the
    /// form of `KRB5CCNAME`.
    pub fn ccache(&self) -> String {
        format!("FILE:{}", self.ccache_path().display())
    }

    /// The user's keytab.
    pub fn user_keytab(&self) -> PathBuf {
        self.dir.join("alice.keytab")
    }

    /// The keytab with the keys of every service principal (one per host
    /// of [`SERVICE_HOSTS`]), the daemon's.
    pub fn service_keytab(&self) -> PathBuf {
        self.dir.join("libvirt.keytab")
    }

    /// The Cyrus SASL configuration folder of the daemon (`SASL_CONF_PATH`),
    /// whose `libvirt.conf` offers GSSAPI only.
    pub fn sasl_conf_dir(&self) -> PathBuf {
        self.dir.join("sasl")
    }

    /// The user principal, `alice@LIBVIRT.TEST`.
    pub fn principal(&self) -> String {
        format!("{USER}@{REALM}")
    }

    /// The service principal for `host`, `libvirt/<host>@LIBVIRT.TEST`.
    pub fn service_principal(&self, host: &str) -> String {
        format!("{SERVICE}/{host}@{REALM}")
    }

    /// The realm, [`REALM`].
    pub fn realm(&self) -> &'static str {
        REALM
    }

    /// Where the KDC answers, on udp and tcp.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// The KDC's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What a client process (e.g. `virsh`) needs in its environment: the
    /// realm's `krb5.conf` and the user's credential cache.
    pub fn client_env(&self) -> Vec<(&'static str, OsString)> {
        vec![
            ("KRB5_CONFIG", self.krb5_conf().into()),
            ("KRB5CCNAME", self.ccache().into()),
        ]
    }

    /// What `libvirtd` needs in its environment: the realm's `krb5.conf`,
    /// the service keytab, a replay cache folder of its own and Cyrus
    /// SASL's configuration folder offering GSSAPI only.
    pub fn daemon_env(&self) -> Vec<(&'static str, OsString)> {
        vec![
            ("KRB5_CONFIG", self.krb5_conf().into()),
            (
                "KRB5_KTNAME",
                format!("FILE:{}", self.service_keytab().display()).into(),
            ),
            ("KRB5RCACHEDIR", self.dir.join("rcache").into()),
            ("SASL_CONF_PATH", self.sasl_conf_dir().into()),
        ]
    }

    /// A daemon requiring SASL on tcp (`auth_tcp = "sasl"`) with this
    /// realm's service keytab and GSSAPI as its only mechanism, listening
    /// on a free port of 127.0.0.1, and the URI of `test:///default`
    /// through it, `test+tcp://127.0.0.1:PORT/default`. `extra` are more
    /// lines of `libvirtd.conf` (each ending in a newline), which win
    /// over these settings. `None` (the test passes) when libvirtd or
    /// Cyrus's GSSAPI plugin is missing, unless the daemon tests are
    /// required.
    ///
    /// `name` names the daemon's folder as for [`Daemon::start`]
    /// (`lvp-<name>-<pid>`, removed first): it must not be `kdc-<name of
    /// a running Kdc>`. Drop the daemon before the `Kdc` (declare it
    /// after).
    pub fn daemon(&self, name: &str, extra: &str) -> Option<(Daemon, String)> {
        if let Err(why) = super::sasl::sasl_ready("gssapi") {
            assert!(!super::required(), "{why}");
            eprintln!(
                "skipped: {why}; `cargo xtask test` installs it (libsasl2-modules-gssapi-mit \
                 through .ci/install-libvirt) and runs these tests"
            );
            return None;
        }
        let env = self.daemon_env();
        let env: Vec<(&str, &std::ffi::OsStr)> =
            env.iter().map(|(k, v)| (*k, v.as_os_str())).collect();
        // As for `pki::listening`: a port free a moment ago may be taken
        // before libvirtd binds it; libvirtd then exits, and another port
        // is tried.
        let mut last = None;
        for _ in 0..5 {
            let port = super::pki::free_port();
            // libvirtd takes the first of repeated settings: `extra` first.
            let conf = format!(
                "{extra}auth_tcp = \"sasl\"\nlisten_tcp = 1\nlisten_addr = \"127.0.0.1\"\n\
                 tcp_port = \"{port}\"\n"
            );
            let mut daemon = Daemon::start_with_env(name, &conf, true, &env)?;
            // The Unix socket comes first; wait for the tcp one too.
            let deadline = Instant::now() + START_TIMEOUT;
            loop {
                if TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() {
                    return Some((daemon, format!("test+tcp://127.0.0.1:{port}/default")));
                }
                if let Some(status) = daemon.exited() {
                    last = Some(status);
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "libvirtd does not listen on {port}"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
            // Gone before its folder is reused.
            drop(daemon);
        }
        panic!(
            "libvirtd exited before listening on tcp, five times with other ports (last: {last:?})"
        );
    }
}

/// Starts `krb5kdc` on `port` and waits until it listens; its exit status
/// when it ends first (`None`: it did not listen in time and was killed).
fn spawn_kdc(dir: &Path, port: u16) -> Result<Child, Option<std::process::ExitStatus>> {
    let stderr = std::fs::File::create(dir.join("kdc.stderr")).unwrap();
    let mut child = tool("krb5kdc")
        // In the foreground, a child of the test.
        .args(["-n", "-r", REALM])
        .env("KRB5_CONFIG", dir.join("krb5.conf"))
        .env("KRB5_KDC_PROFILE", dir.join("kdc.conf"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("krb5kdc");
    let deadline = Instant::now() + START_TIMEOUT;
    // The KDC binds its udp and tcp sockets together before serving.
    while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(Some(status));
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(None);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(child)
}

/// Writes `krb5.conf` and `kdc.conf` for a KDC on `port`, and Cyrus's
/// `libvirt.conf`.
fn write_conf(dir: &Path, port: u16) {
    // `ignore_acceptor_hostname` is for the daemon (see the module's
    // documentation); the other settings keep DNS and the machine's own
    // names out of it. The keys are AES with SHA-1 (RFC 3962), MIT's
    // default, named so that a newer release does not change them.
    let krb5 = format!(
        "[libdefaults]\n\
         \tdefault_realm = {REALM}\n\
         \tdns_lookup_kdc = false\n\
         \tdns_lookup_realm = false\n\
         \trdns = false\n\
         \tdns_canonicalize_hostname = false\n\
         \tignore_acceptor_hostname = true\n\
         \tticket_lifetime = 1h\n\
         \trenew_lifetime = 0\n\
         \tforwardable = false\n\
         \tproxiable = false\n\
         \tpermitted_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96\n\
         \n\
         [realms]\n\
         \t{REALM} = {{\n\
         \t\tkdc = 127.0.0.1:{port}\n\
         \t}}\n\
         \n\
         [domain_realm]\n\
         \t127.0.0.1 = {REALM}\n\
         \tlocalhost = {REALM}\n"
    );
    std::fs::write(dir.join("krb5.conf"), krb5).unwrap();
    let d = dir.display();
    let kdc = format!(
        "[kdcdefaults]\n\
         \tkdc_ports = 127.0.0.1:{port}\n\
         \tkdc_tcp_ports = 127.0.0.1:{port}\n\
         \n\
         [realms]\n\
         \t{REALM} = {{\n\
         \t\tdatabase_name = {d}/principal\n\
         \t\tkey_stash_file = {d}/stash\n\
         \t\tacl_file = {d}/kadm5.acl\n\
         \t\tmax_life = 1h\n\
         \t\tmax_renewable_life = 0\n\
         \t\tsupported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal\n\
         \t}}\n\
         \n\
         [logging]\n\
         \tkdc = FILE:{d}/kdc.log\n\
         \tadmin_server = FILE:{d}/kadmin.log\n\
         \tdefault = FILE:{d}/kdc.log\n"
    );
    std::fs::write(dir.join("kdc.conf"), kdc).unwrap();
    // Cyrus reads `<service>.conf` from SASL_CONF_PATH; the service is
    // `libvirt`.
    std::fs::write(
        dir.join("sasl/libvirt.conf"),
        format!(
            "mech_list: gssapi\nkeytab: {}\n",
            dir.join("libvirt.keytab").display()
        ),
    )
    .unwrap();
}

/// Creates the database of [`REALM`] with [`USER`] and the service
/// principals, and their keytabs.
fn create_realm(dir: &Path) {
    let env = [
        ("KRB5_CONFIG", dir.join("krb5.conf")),
        ("KRB5_KDC_PROFILE", dir.join("kdc.conf")),
    ];
    check(
        tool("kdb5_util")
            .args(["create", "-s", "-r", REALM, "-P", MASTER_PASSWORD])
            .envs(env.clone()),
        "kdb5_util create",
    );
    let service: Vec<String> = SERVICE_HOSTS
        .iter()
        .map(|h| format!("{SERVICE}/{h}"))
        .collect();
    let mut queries = vec![format!("addprinc -randkey {USER}")];
    queries.extend(service.iter().map(|p| format!("addprinc -randkey {p}")));
    queries.push(format!(
        "ktadd -k {} {USER}",
        dir.join("alice.keytab").display()
    ));
    queries.push(format!(
        "ktadd -k {} {}",
        dir.join("libvirt.keytab").display(),
        service.join(" ")
    ));
    for q in &queries {
        // kadmin.local exits with 0 when a query fails; the keytabs
        // (and `kinit`) show whether they all worked.
        check(
            tool("kadmin.local")
                .args(["-r", REALM, "-q", q])
                .envs(env.clone()),
            &format!("kadmin.local -q {q:?}"),
        );
    }
    for keytab in ["alice.keytab", "libvirt.keytab"] {
        let len = std::fs::metadata(dir.join(keytab)).map_or(0, |m| m.len());
        assert!(len > 0, "kadmin.local did not write {keytab}");
    }
}
