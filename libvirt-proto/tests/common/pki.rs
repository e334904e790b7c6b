//! Certificates for the tls tests, made by `openssl`: a CA, a server
//! certificate for `localhost` (and `127.0.0.1`), a client certificate,
//! a second, unrelated CA, and the client folders `pkipath=` points at;
//! and a daemon listening on tcp and tls with them.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::Daemon;

/// `time` as `openssl ca` takes dates: `YYYYMMDDHHMMSSZ`, in UTC.
pub fn utc(time: std::time::SystemTime) -> String {
    let secs = time
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let out = Command::new("date")
        .args(["-u", "-d", &format!("@{secs}"), "+%Y%m%d%H%M%SZ"])
        .output()
        .expect("run date");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A folder of generated certificates, removed when dropped.
pub struct Pki {
    pub dir: PathBuf,
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// How the server certificate names its host.
#[derive(Clone, Copy, PartialEq)]
pub enum ServerNames {
    /// subjectAltName `DNS:localhost, IP:127.0.0.1`.
    San,
    /// `CN=localhost` only, as libvirt's older certtool templates made them.
    CommonNameOnly,
}

/// Runs `openssl args...` in `dir`; panics with its error output.
pub fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Pki {
    /// `None` (the test passes) when `openssl` is missing.
    pub fn new(name: &str, names: ServerNames) -> Option<Pki> {
        if Command::new("openssl").arg("version").output().is_err() {
            assert!(
                !super::required(),
                "openssl not found but LIBVIRT_PROTO_DAEMON_TESTS=1"
            );
            eprintln!("skipped: openssl not found");
            return None;
        }
        let dir = std::env::temp_dir().join(format!("lvp-pki-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for sub in [
            "ca",
            "ca2",
            "client",
            "wrong-ca",
            "wrong-ca-no-verify",
            "no-cert",
        ] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        let pki = Pki { dir };
        let d = &pki.dir;
        pki.make_ca("ca", "lvp test CA");
        pki.make_ca("ca2", "unrelated CA");

        let server_ext = match names {
            ServerNames::San => "subjectAltName = DNS:localhost, IP:127.0.0.1\n",
            ServerNames::CommonNameOnly => "",
        };
        std::fs::write(
            d.join("server.ext"),
            format!(
                "basicConstraints = critical, CA:FALSE\n\
                 keyUsage = digitalSignature, keyEncipherment\n\
                 extendedKeyUsage = serverAuth\n{server_ext}"
            ),
        )
        .unwrap();
        std::fs::write(
            d.join("client.ext"),
            "basicConstraints = critical, CA:FALSE\n\
             keyUsage = digitalSignature, keyEncipherment\n\
             extendedKeyUsage = clientAuth\n",
        )
        .unwrap();
        // The server's key is RSA, the client's ECDSA: both kinds of
        // signature get exercised.
        pki.make_leaf(
            "serverkey.pem",
            "servercert.pem",
            &["-newkey", "rsa:2048"],
            "/O=lvp/CN=localhost",
            "server.ext",
        );
        pki.make_leaf(
            "client/clientkey.pem",
            "client/clientcert.pem",
            &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
            "/O=lvp/CN=client",
            "client.ext",
        );

        // The client's folders: the right CA, the wrong one (twice, the
        // second used with no_verify), and the right CA without a client
        // certificate.
        let copy = |from: &str, to: &str| std::fs::copy(d.join(from), d.join(to)).unwrap();
        copy("ca/cacert.pem", "client/cacert.pem");
        for sub in ["wrong-ca", "wrong-ca-no-verify"] {
            copy("ca2/cacert.pem", &format!("{sub}/cacert.pem"));
            copy("client/clientcert.pem", &format!("{sub}/clientcert.pem"));
            copy("client/clientkey.pem", &format!("{sub}/clientkey.pem"));
        }
        copy("ca/cacert.pem", "no-cert/cacert.pem");
        Some(pki)
    }

    fn make_ca(&self, sub: &str, cn: &str) {
        openssl(
            &self.dir.join(sub),
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "cakey.pem",
                "-out",
                "cacert.pem",
                "-days",
                "2",
                "-subj",
                &format!("/O=lvp/CN={cn}"),
                "-addext",
                "basicConstraints = critical, CA:TRUE",
                "-addext",
                "keyUsage = critical, keyCertSign, cRLSign",
            ],
        );
    }

    /// A CA in folder `sub`, self-signed with `openssl ca` to be valid
    /// from `start` to `end` (`YYYYMMDDHHMMSSZ`, see [`utc`]).
    pub fn make_dated_ca(&self, sub: &str, cn: &str, start: &str, end: &str) {
        let dir = self.dir.join(sub);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("index.txt"), "").unwrap();
        std::fs::write(dir.join("serial"), "01\n").unwrap();
        std::fs::write(
            dir.join("ca.cnf"),
            "[ca]\ndefault_ca = dated\n[dated]\ndatabase = index.txt\nnew_certs_dir = .\n\
             serial = serial\ndefault_md = sha256\npolicy = any\n[any]\n\
             organizationName = optional\ncommonName = supplied\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("ca.ext"),
            "basicConstraints = critical, CA:TRUE\nkeyUsage = critical, keyCertSign, cRLSign\n",
        )
        .unwrap();
        let subj = format!("/O=lvp/CN={cn}");
        openssl(
            &dir,
            &[
                "req",
                "-new",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "cakey.pem",
                "-out",
                "ca.csr",
                "-subj",
                &subj,
            ],
        );
        openssl(
            &dir,
            &[
                "ca",
                "-selfsign",
                "-batch",
                "-notext",
                "-preserveDN",
                "-config",
                "ca.cnf",
                "-keyfile",
                "cakey.pem",
                "-in",
                "ca.csr",
                "-startdate",
                start,
                "-enddate",
                end,
                "-extfile",
                "ca.ext",
                "-out",
                "cacert.pem",
            ],
        );
    }

    fn make_leaf(&self, key: &str, cert: &str, newkey: &[&str], subj: &str, ext: &str) {
        self.make_leaf_by("ca", key, cert, newkey, subj, ext);
    }

    /// A certificate for `subj` (`+` joins the attributes of one relative
    /// name), issued by the CA of folder `ca`, with the extensions of the
    /// file `ext` (`server.ext`, `client.ext`).
    pub fn make_leaf_by(
        &self,
        ca: &str,
        key: &str,
        cert: &str,
        newkey: &[&str],
        subj: &str,
        ext: &str,
    ) {
        let csr = format!("{cert}.csr");
        let mut args = vec!["req", "-new", "-nodes", "-multivalue-rdn"];
        args.extend_from_slice(newkey);
        args.extend_from_slice(&["-keyout", key, "-out", &csr, "-subj", subj]);
        openssl(&self.dir, &args);
        let (ca_cert, ca_key) = (format!("{ca}/cacert.pem"), format!("{ca}/cakey.pem"));
        openssl(
            &self.dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                &ca_cert,
                "-CAkey",
                &ca_key,
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                ext,
                "-out",
                cert,
            ],
        );
    }

    /// A client folder `sub` trusting the CA, with a new client
    /// certificate for `subj` issued by the CA of folder `ca` (`"ca"`, or
    /// `"ca2"` for one the server does not trust); returns its path.
    pub fn client_folder(&self, sub: &str, subj: &str, ca: &str) -> String {
        self.client_folder_with(sub, subj, ca, "client.ext")
    }

    /// As [`Pki::client_folder`], the certificate's extensions from the
    /// file `ext` of the folder.
    pub fn client_folder_with(&self, sub: &str, subj: &str, ca: &str, ext: &str) -> String {
        std::fs::create_dir_all(self.dir.join(sub)).unwrap();
        self.make_leaf_by(
            ca,
            &format!("{sub}/clientkey.pem"),
            &format!("{sub}/clientcert.pem"),
            &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
            subj,
            ext,
        );
        let cacert = self.dir.join("ca/cacert.pem");
        std::fs::copy(cacert, self.dir.join(sub).join("cacert.pem")).unwrap();
        self.path(sub)
    }

    /// Revokes the certificate at `cert` (relative to the folder) and
    /// writes the CA's revocation list, `cacrl.pem` in the folder, listing
    /// every certificate revoked so far; returns the list's path.
    pub fn revoke(&self, cert: &str) -> PathBuf {
        let d = &self.dir;
        if !d.join("index.txt").exists() {
            std::fs::write(d.join("index.txt"), "").unwrap();
            std::fs::write(d.join("crlnumber"), "01\n").unwrap();
            std::fs::write(
                d.join("ca.cnf"),
                "[ca]\ndefault_ca = lvp\n[lvp]\ndatabase = index.txt\n\
                 crlnumber = crlnumber\ndefault_md = sha256\ndefault_crl_days = 2\n",
            )
            .unwrap();
        }
        let ca = ["-keyfile", "ca/cakey.pem", "-cert", "ca/cacert.pem"];
        let mut revoke = vec!["ca", "-config", "ca.cnf", "-revoke", cert];
        revoke.extend_from_slice(&ca);
        openssl(d, &revoke);
        let mut crl = vec!["ca", "-config", "ca.cnf", "-gencrl", "-out", "cacrl.pem"];
        crl.extend_from_slice(&ca);
        openssl(d, &crl);
        d.join("cacrl.pem")
    }

    /// A client folder whose `cacrl.pem` revokes the server certificate
    /// (`openssl ca -revoke`, then `-gencrl`); returns its path.
    pub fn revoke_server(&self) -> String {
        let d = &self.dir;
        self.revoke("servercert.pem");
        let sub = d.join("revoked");
        std::fs::create_dir_all(&sub).unwrap();
        for f in ["cacert.pem", "clientcert.pem", "clientkey.pem"] {
            std::fs::copy(d.join("client").join(f), sub.join(f)).unwrap();
        }
        std::fs::copy(d.join("cacrl.pem"), sub.join("cacrl.pem")).unwrap();
        self.path("revoked")
    }

    /// A client folder, for `pkipath=`.
    pub fn path(&self, sub: &str) -> String {
        self.dir.join(sub).display().to_string()
    }
}

/// A free port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until `daemon` listens on every one of `ports` of 127.0.0.1;
/// `false` when it exits first.
fn wait_for_ports(daemon: &mut Daemon, ports: &[u16]) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    for &port in ports {
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if daemon.exited().is_some() {
                return false;
            }
            assert!(
                Instant::now() < deadline,
                "libvirtd does not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    true
}

/// A daemon listening on tcp and tls, on 127.0.0.1, with the server
/// certificate of a [`Pki`].
pub struct Listening {
    pub daemon: Daemon,
    pub tcp: u16,
    pub tls: u16,
}

/// A daemon listening on tcp and tls with the server certificate of
/// `pki`, no authentication on either unless `extra` (more configuration
/// lines) sets `auth_tcp` / `auth_tls`.
pub fn listening(name: &str, pki: &Pki, extra: &str) -> Option<Listening> {
    listening_with_env(name, pki, extra, &[])
}

/// As [`listening`], with `env` added to the daemon's environment (e.g.
/// `SASL_CONF_PATH`).
pub fn listening_with_env(
    name: &str,
    pki: &Pki,
    extra: &str,
    env: &[(&str, &std::ffi::OsStr)],
) -> Option<Listening> {
    // A port free a moment ago may be taken before libvirtd binds it (as
    // the local end of some connection); libvirtd then exits, and another
    // pair is tried.
    let mut last = None;
    for _ in 0..5 {
        let tcp = free_port();
        let tls = free_port();
        if tcp == tls {
            continue;
        }
        let conf = listening_conf(pki, tcp, tls, extra);
        let mut daemon = Daemon::start_with_env(name, &conf, true, env)?;
        // The Unix socket comes first; wait for the network ones too.
        if wait_for_ports(&mut daemon, &[tcp, tls]) {
            return Some(Listening { daemon, tcp, tls });
        }
        last = daemon.exited();
        // Gone before its folder is reused.
        drop(daemon);
    }
    panic!(
        "libvirtd exited before listening on tcp and tls, five times with other ports \
         (last: {last:?})"
    );
}

/// The configuration of [`listening_with_env`].
fn listening_conf(pki: &Pki, tcp: u16, tls: u16, extra: &str) -> String {
    let d = &pki.dir;
    // libvirtd takes the first of repeated settings: `extra` first, and
    // the defaults only for what it leaves out.
    let mut conf = format!(
        "{extra}listen_tls = 1\nlisten_tcp = 1\nlisten_addr = \"127.0.0.1\"\n\
         tcp_port = \"{tcp}\"\ntls_port = \"{tls}\"\n\
         key_file = \"{}\"\ncert_file = \"{}\"\nca_file = \"{}\"\n",
        d.join("serverkey.pem").display(),
        d.join("servercert.pem").display(),
        d.join("ca/cacert.pem").display(),
    );
    for auth in ["auth_tcp", "auth_tls"] {
        if !extra.contains(auth) {
            conf.push_str(&format!("{auth} = \"none\"\n"));
        }
    }
    conf
}
