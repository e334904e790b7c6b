//! Cyrus SASL for a private daemon: a folder for `SASL_CONF_PATH` with its
//! own `libvirt.conf` (the mechanisms offered) and password database,
//! filled by `saslpasswd2` (package `sasl2-bin`) with one account, [`USER`]
//! / [`PASSWORD`]; and what the SASL tests share on the client's side.

use std::ffi::OsStr;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Mutex;

use libvirt_proto::client::{
    AuthFile, Client, ClientError, ConnectOptions, CredentialRequest, Credentials, SaslCredentials,
};
use libvirt_proto::engine::auth::AuthError;
use libvirt_proto::engine::open::OpenError;
use libvirt_proto::engine::CallError;
use libvirt_proto::error::RemoteError;
use libvirt_proto::remote;
use libvirt_proto::remote::program::procs;

/// The account in every test database.
pub const USER: &str = "alice";
/// Its password.
pub const PASSWORD: &str = "correct horse";

/// Whether `saslpasswd2` and `saslpluginviewer` (sasl2-bin) are here and
/// Cyrus has server plugins for every one of `mechs`.
pub fn sasl_ready(mechs: &str) -> Result<(), String> {
    if Command::new("saslpasswd2").arg("-v").output().is_err() {
        return Err("saslpasswd2 not found".into());
    }
    let out = Command::new("saslpluginviewer")
        .arg("-s")
        .output()
        .map_err(|e| format!("saslpluginviewer: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let installed: Vec<&str> = text
        .lines()
        .nth(1)
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    match mechs
        .split_whitespace()
        .find(|m| !installed.iter().any(|i| i.eq_ignore_ascii_case(m)))
    {
        Some(m) => Err(format!("no Cyrus SASL server plugin for {m}")),
        None => Ok(()),
    }
}

/// A SASL configuration folder offering `mechs` (Cyrus plugin names) with
/// one account, removed when dropped. It is also scratch space for the
/// test (auth files).
pub struct SaslConf {
    pub dir: PathBuf,
}

impl Drop for SaslConf {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl SaslConf {
    /// `None` (the test passes) when Cyrus SASL's tools or one of the
    /// plugins are missing, unless the daemon tests are required.
    pub fn new(name: &str, mechs: &str) -> Option<SaslConf> {
        if let Err(why) = sasl_ready(mechs) {
            // `cargo xtask test` installs Cyrus SASL's tools with libvirt
            // before it requires the daemon tests.
            assert!(!super::required(), "{why}");
            eprintln!(
                "skipped: {why} (.ci/install-libvirt installs sasl2-bin and libsasl2-modules)"
            );
            return None;
        }
        let dir = std::env::temp_dir().join(format!("lvp-sasl-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let conf = SaslConf { dir };
        let db = conf.dir.join("passwd.db");
        // Cyrus reads `<service>.conf` from SASL_CONF_PATH; the service is
        // `libvirt`.
        std::fs::write(
            conf.dir.join("libvirt.conf"),
            format!("mech_list: {mechs}\nsasldb_path: {}\n", db.display()),
        )
        .unwrap();
        let mut child = Command::new("saslpasswd2")
            .args(["-a", "libvirt", "-c", "-p", "-f"])
            .arg(&db)
            .arg(USER)
            .stdin(Stdio::piped())
            .spawn()
            .expect("saslpasswd2");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(PASSWORD.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success(), "saslpasswd2 failed");
        Some(conf)
    }

    /// The daemon's environment for this configuration.
    pub fn env(&self) -> [(&'static str, &OsStr); 1] {
        [("SASL_CONF_PATH", self.dir.as_os_str())]
    }
}

/// Credentials given by the program, recording the mechanism asked for
/// and the host it was asked for.
#[derive(Default)]
pub struct Recorder {
    pub password: String,
    pub asked: Mutex<Vec<String>>,
    pub hosts: Mutex<Vec<Option<String>>>,
}

impl Recorder {
    /// Gives [`USER`] and `password`.
    pub fn new(password: &str) -> Recorder {
        Recorder {
            password: password.into(),
            ..Recorder::default()
        }
    }

    /// The mechanisms asked for so far.
    pub fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }
}

impl Credentials for Recorder {
    fn credentials(
        &self,
        request: &CredentialRequest<'_>,
    ) -> Result<Option<SaslCredentials>, String> {
        self.asked
            .lock()
            .unwrap()
            .push(request.mechanism.to_owned());
        self.hosts
            .lock()
            .unwrap()
            .push(request.host.map(str::to_owned));
        Ok(Some(SaslCredentials::new(USER, self.password.clone())))
    }
}

/// Options with these credentials and never the machine's own auth.conf.
pub fn options(credentials: Option<std::sync::Arc<dyn Credentials>>) -> ConnectOptions {
    let options = ConnectOptions::default().with_auth_file(AuthFile::Disabled);
    match credentials {
        Some(c) => options.with_credentials(c),
        None => options,
    }
}

/// Proves the connection is open and usable: the library version and the
/// `test` domain.
pub async fn works(client: &Client) {
    let v = client
        .call::<procs::ConnectGetLibVersion>(&())
        .await
        .unwrap();
    assert!(v.lib_ver >= 1_000_000);
    let all = client
        .call::<procs::ConnectListAllDomains>(&remote::ConnectListAllDomainsArgs {
            need_results: 1,
            flags: 0,
        })
        .await
        .unwrap();
    assert!(all.domains.iter().any(|d| d.name == "test"));
}

/// The daemon's refusal inside a failed open.
pub fn refusal(e: &ClientError) -> &RemoteError {
    match e {
        ClientError::Open(OpenError::Auth(AuthError::Call(c))) => match &**c {
            CallError::Remote(r) => r,
            other => panic!("not a refusal: {other:?}"),
        },
        other => panic!("not an authentication refusal: {other:?}"),
    }
}
