//! How a name becomes a URI (`libvirt.conf`'s `uri_default` and
//! `uri_aliases`, `LIBVIRT_DEFAULT_URI`), compared with what `virsh uri`
//! opens under the same file and environment, then used against a
//! private `libvirtd`.
//!
//! `virsh` reads `$XDG_CONFIG_HOME/libvirt/libvirt.conf` unless it runs as
//! root (then `/etc/libvirt/libvirt.conf`, which tests must not touch), so
//! as root it runs as `nobody` through `setpriv`. The URIs it opens are
//! the test driver's, which its library serves in process: no daemon is
//! needed for the comparison. Without `virsh` the tests say so and pass,
//! unless `LIBVIRT_PROTO_DAEMON_TESTS=1`.

#![cfg(feature = "client")]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::Daemon;
use libvirt_proto::client::{Client, ClientError, ConnectOptions};
use libvirt_proto::client_config::{resolve, ConfigEnv, ConfigSource, Program};
use libvirt_proto::conf::Conf;
use libvirt_proto::uri::ConnectUri;

/// A folder `nobody` can read: the configuration and the test driver's
/// node files.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("lvp-conf-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("cfg/libvirt")).unwrap();
        for d in [&dir, &dir.join("cfg"), &dir.join("cfg/libvirt")] {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        for node in ["a", "b"] {
            let path = dir.join(format!("{node}.xml"));
            std::fs::write(&path, "<node/>\n").unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        Scratch(dir)
    }

    /// `test:///` on one of the node files.
    fn node(&self, name: &str) -> String {
        format!("test://{}", self.0.join(format!("{name}.xml")).display())
    }

    fn conf_path(&self) -> PathBuf {
        self.0.join("cfg/libvirt/libvirt.conf")
    }

    fn write_conf(&self, text: Option<&str>) {
        let path = self.conf_path();
        let _ = std::fs::remove_file(&path);
        if let Some(text) = text {
            std::fs::write(&path, text).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

fn have(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The URI `virsh` opens for `name` (`-c` unless empty) with `home` as its
/// home and configuration folder and `default` as `LIBVIRT_DEFAULT_URI`;
/// `None` when it fails.
fn virsh_uri(home: &Path, name: &str, default: Option<&str>) -> Option<String> {
    let mut cmd = if is_root() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "virsh"]);
        c
    } else {
        Command::new("virsh")
    };
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("LC_ALL", "C")
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("cfg"))
        .env("XDG_RUNTIME_DIR", home)
        .env("XDG_CACHE_HOME", home);
    if let Some(d) = default {
        cmd.env("LIBVIRT_DEFAULT_URI", d);
    }
    if !name.is_empty() {
        cmd.args(["-c", name]);
    }
    let out = cmd.arg("uri").output().expect("virsh runs");
    out.status
        .success()
        .then(|| String::from_utf8(out.stdout).unwrap().trim().to_owned())
}

/// The major version of `virsh`.
fn virsh_major() -> u32 {
    let out = Command::new("virsh").arg("--version").output().unwrap();
    let version = String::from_utf8_lossy(&out.stdout);
    version.trim().split('.').next().unwrap().parse().unwrap()
}

/// What this crate does for the same: `Ok(Some(uri))` when the resolved
/// URI parses, `Ok(None)` when it would probe (which these cases never
/// ask for), `Err` on any error.
fn our_uri(conf: &Path, name: &str, default: Option<&str>) -> Result<Option<String>, String> {
    let env = ConfigEnv {
        default_uri: default.map(str::to_owned),
        ..ConfigEnv::default()
    };
    let conf = Conf::read(conf).map_err(|e| e.to_string())?;
    let Some(uri) =
        resolve(name, Program::Remote, &env, conf.as_ref(), true).map_err(|e| e.to_string())?
    else {
        return Ok(None);
    };
    ConnectUri::parse(&uri).map_err(|e| e.to_string())?;
    Ok(Some(uri))
}

#[test]
fn names_resolve_as_virsh_resolves_them() {
    if !have("virsh") || (is_root() && !have("setpriv")) {
        assert!(
            !common::required(),
            "virsh or setpriv not found but LIBVIRT_PROTO_DAEMON_TESTS=1"
        );
        eprintln!("skipped: virsh (or, as root, setpriv) not found");
        return;
    }
    let s = Scratch::new("virsh");
    let (a, b) = (s.node("a"), s.node("b"));
    let aliases = format!("uri_aliases = [\n  \"one={a}\",\n  'two={b}',\n]\n");
    let cases: Vec<(String, &str, Option<&str>, Option<String>)> = vec![
        // (libvirt.conf, name, LIBVIRT_DEFAULT_URI, what opens)
        (
            format!("uri_default = \"{a}\"\n"),
            "",
            None,
            Some(a.clone()),
        ),
        (
            format!("uri_default = \"{a}\"\n"),
            "",
            Some(""),
            Some(a.clone()),
        ),
        (
            format!("uri_default = \"{a}\"\n"),
            "",
            Some(&b),
            Some(b.clone()),
        ),
        (
            format!("uri_default = \"{a}\"\n"),
            &b,
            None,
            Some(b.clone()),
        ),
        (aliases.clone(), "two", None, Some(b.clone())),
        (aliases.clone(), "one", None, Some(a.clone())),
        // The default is looked up as an alias too.
        (aliases.clone(), "", Some("two"), Some(b.clone())),
        (
            format!("{aliases}uri_default = 'one'"),
            "",
            None,
            Some(a.clone()),
        ),
        // Whole names, case-sensitively.
        (aliases.clone(), "ONE", None, None),
        (aliases.clone(), "on", None, None),
        (aliases.clone(), &a, None, Some(a.clone())),
        // The first of two entries for one alias, the first of two settings.
        (
            format!("uri_aliases = ['x={a}', 'x={b}']"),
            "x",
            None,
            Some(a.clone()),
        ),
        (
            format!("uri_default = '{b}'\nuri_default = '{a}'\n"),
            "",
            None,
            Some(b.clone()),
        ),
        // Malformed entries fail the lookup once reached.
        (
            format!("uri_aliases = ['bad!={b}', 'x={a}']"),
            "x",
            None,
            None,
        ),
        (
            format!("uri_aliases = ['x={a}', 'bad!={b}']"),
            "x",
            None,
            Some(a.clone()),
        ),
        (
            format!("uri_aliases = ['noequals', 'x={a}']"),
            "x",
            None,
            None,
        ),
        (
            format!("uri_aliases = ['x={a}']"),
            &b,
            None,
            Some(b.clone()),
        ),
        (format!("uri_aliases = ['bad!={b}']"), &b, None, None),
        // Types.
        (format!("uri_aliases = 'x={a}'"), "x", None, None),
        (format!("uri_aliases = ['x={a}', 1]"), "x", None, None),
        ("uri_default = 1".into(), &b, None, Some(b.clone())),
        ("uri_default = 1".into(), "", None, None),
        (
            format!("uri_aliases = []\nuri_default = '{a}'"),
            "",
            None,
            Some(a.clone()),
        ),
        // Syntax: quotes, separators, comments, blank lines, CR LF.
        (
            format!("# c\n\n  x = 5 ; uri_default = \"\"\"{a}\"\"\" # why\r\n\r\nz = -1\n"),
            "",
            None,
            Some(a.clone()),
        ),
        (
            format!("uri_default = '{a}' uri_aliases = []"),
            &b,
            None,
            None,
        ),
        (format!("uri_default = '{a}\n'"), &b, None, None),
        (
            format!("uri_aliases = [\n# no comments in lists\n'x={a}']"),
            &b,
            None,
            None,
        ),
        ("\n\n".into(), &b, None, None),
        (String::new(), &b, None, Some(b.clone())),
        ("uri_default = 99999999999999999999".into(), &b, None, None),
    ];
    for (i, (text, name, default, want)) in cases.iter().enumerate() {
        s.write_conf(Some(text));
        let virsh = virsh_uri(&s.0, name, *default);
        // Where virsh fails, this crate must fail too, not probe.
        let ours = our_uri(&s.conf_path(), name, *default).unwrap_or_else(|e| {
            assert!(want.is_none(), "case {i}: {e}");
            None
        });
        assert!(
            want.is_none() || ours.is_some(),
            "case {i}: this crate would probe"
        );
        // libvirt 9.0.0 wraps a number too large for 64 bits where 11.3.0
        // refuses the file; this crate refuses it as 11.3.0 does.
        let wrapped = Some(b.clone());
        let virsh_want = if text.contains("99999999999999999999") && virsh_major() < 11 {
            &wrapped
        } else {
            want
        };
        assert_eq!(
            (&virsh, &ours),
            (virsh_want, want),
            "case {i}: virsh and this crate disagree with the expectation \
             for {name:?} (default {default:?}) under:\n{text}"
        );
    }
}

#[tokio::test]
async fn aliases_and_defaults_open_the_daemon() {
    let Some(d) = Daemon::start("config") else {
        return;
    };
    let s = Scratch::new("daemon");
    s.write_conf(Some(&format!(
        "uri_aliases = ['private={}']\nuri_default = 'private'\n",
        d.uri()
    )));
    let options = ConnectOptions::default().with_config(ConfigSource::File(s.conf_path()));
    // The empty name takes LIBVIRT_DEFAULT_URI first, when it is set.
    let names: &[&str] = if std::env::var_os("LIBVIRT_DEFAULT_URI").is_some_and(|v| !v.is_empty()) {
        eprintln!("LIBVIRT_DEFAULT_URI is set: the empty name is not tried");
        &["private"]
    } else {
        &["private", ""]
    };
    for name in names {
        let client = Client::connect_with(name, options.clone()).await.unwrap();
        assert_eq!(client.connect_get_uri().await.unwrap(), "test:///default");
        assert_eq!(client.uri(), d.uri());
        client.close().await;
    }
    // Without aliases the name is no URI.
    let e = Client::connect_with("private", options.clone().with_aliases(false))
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::Uri(_)), "{e:?}");
    // A broken file stops every connection, as in libvirt.
    s.write_conf(Some("uri_aliases = ['bad!=x']\n"));
    let e = Client::connect_with(&d.uri(), options.clone())
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::Config(_)), "{e:?}");
    assert!(e.to_string().contains("bad!=x"), "{e}");
    // ... unless aliases are off or no file is read.
    for options in [
        options.clone().with_aliases(false),
        options.clone().with_config(ConfigSource::None),
    ] {
        let client = Client::connect_with(&d.uri(), options).await.unwrap();
        client.close().await;
    }
}

/// Set in the copy of this test binary that
/// `the_default_uri_variables_are_read` runs, to the daemon's socket.
const CHILD: &str = "LVP_DEFAULT_URI_CHILD";

#[tokio::test]
async fn the_default_uri_variables_are_read() {
    if let Some(socket) = std::env::var_os(CHILD) {
        // The copy: the empty names take the variables the parent set.
        let socket = PathBuf::from(socket);
        let options = ConnectOptions::default().with_config(ConfigSource::None);
        let client = Client::connect_with("", options).await.unwrap();
        assert_eq!(client.connect_get_uri().await.unwrap(), "test:///default");
        assert_eq!(client.uri(), std::env::var("LIBVIRT_DEFAULT_URI").unwrap());
        client.close().await;
        let admin = libvirt_proto::client::AdminClient::connect("")
            .await
            .unwrap();
        assert_eq!(
            admin.uri(),
            std::env::var("LIBVIRT_ADMIN_DEFAULT_URI").unwrap()
        );
        admin.close().await;
        assert!(socket.exists());
        return;
    }
    let Some(d) = Daemon::start("default-uri") else {
        return;
    };
    // The variables are the process's own: set them in a copy of this
    // test binary rather than here, where other tests run alongside.
    let status = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "the_default_uri_variables_are_read",
            "--test-threads=1",
        ])
        .env(CHILD, d.socket())
        .env("LIBVIRT_DEFAULT_URI", d.uri())
        .env("LIBVIRT_ADMIN_DEFAULT_URI", d.admin_uri())
        .status()
        .unwrap();
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn the_remote_driver_lets_the_daemon_pick_as_virsh_does() {
    // The daemon picks what its own default names: without one it finds
    // no hypervisor driver here, and both clients fail alike.
    let default = std::ffi::OsStr::new("test:///default");
    let Some(d) = Daemon::start_with_env(
        "remote-driver",
        "",
        false,
        &[("LIBVIRT_DEFAULT_URI", default)],
    ) else {
        return;
    };
    if !have("virsh") {
        assert!(
            !common::required(),
            "virsh not found but LIBVIRT_PROTO_DAEMON_TESTS=1"
        );
        return;
    }
    let uri = format!("remote+unix:///?socket={}", d.socket().display());
    let virsh_says = |args: &[&str]| {
        let out = Command::new("virsh")
            .args(["-c", &uri])
            .args(args)
            .env("LC_ALL", "C")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let options = ConnectOptions::default().with_config(ConfigSource::None);
    let client = Client::connect_with(&uri, options).await.unwrap();
    assert_eq!(client.connect_get_uri().await.unwrap(), "test:///default");
    // The connection's URI is the one asked for, as `virsh uri` says.
    assert_eq!(client.uri(), virsh_says(&["uri"]).trim());
    let ours: Vec<String> = client
        .list_all_domains(libvirt_proto::api::ConnectListAllDomainsFlags::default())
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.name.to_string())
        .collect();
    let theirs: Vec<String> = virsh_says(&["list", "--all", "--name"])
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    assert_eq!(
        (ours, theirs),
        (vec!["test".to_owned()], vec!["test".to_owned()])
    );
}

/// Set in the copy of this test binary that
/// `a_probed_connection_takes_the_daemons_uri` runs.
const PROBE_CHILD: &str = "LVP_PROBE_CHILD";

#[tokio::test]
async fn a_probed_connection_takes_the_daemons_uri() {
    if std::env::var_os(PROBE_CHILD).is_some() {
        // The copy: no name, no default, no configuration; the only local
        // socket is libvirtd's, at the place libvirt looks for it.
        let options = ConnectOptions::default().with_config(ConfigSource::None);
        let client = Client::connect_with("", options).await.unwrap();
        assert_eq!(client.uri(), "test:///default");
        assert_eq!(client.connect_get_uri().await.unwrap(), client.uri());
        client.close().await;
        return;
    }
    let default = std::ffi::OsStr::new("test:///default");
    let Some(d) = Daemon::start_with_env("probe", "", false, &[("LIBVIRT_DEFAULT_URI", default)])
    else {
        return;
    };
    let exe = std::env::current_exe().unwrap();
    let args = [
        "--exact",
        "a_probed_connection_takes_the_daemons_uri",
        "--test-threads=1",
    ];
    let scratch = Scratch::new("probe");
    let mut child = if is_root() {
        // Root probes /run/libvirt: give the copy a private one.
        if !Path::new("/run/libvirt").is_dir()
            || !Command::new("unshare")
                .args(["--mount", "--propagation", "private", "true"])
                .status()
                .is_ok_and(|s| s.success())
        {
            assert!(
                !common::required(),
                "unshare --mount failed but LIBVIRT_PROTO_DAEMON_TESTS=1"
            );
            return;
        }
        let mut c = Command::new("unshare");
        c.args(["--mount", "--propagation", "private", "--", "sh", "-c"])
            .arg(
                "mount -t tmpfs tmpfs /run/libvirt && ln -s \"$0\" /run/libvirt/libvirt-sock \
                 && exec \"$@\"",
            )
            .arg(d.socket())
            .arg(&exe)
            .args(args);
        c
    } else {
        // A session probes $XDG_RUNTIME_DIR/libvirt.
        let run = scratch.0.join("libvirt");
        std::fs::create_dir_all(&run).unwrap();
        std::os::unix::fs::symlink(d.socket(), run.join("libvirt-sock")).unwrap();
        let mut c = Command::new(&exe);
        c.args(args).env("XDG_RUNTIME_DIR", &scratch.0);
        c
    };
    let status = child
        .env(PROBE_CHILD, "1")
        .env_remove("LIBVIRT_DEFAULT_URI")
        .status()
        .unwrap();
    assert!(status.success(), "{status:?}");
}
