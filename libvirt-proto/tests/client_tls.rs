//! The tcp and tls transports against a real, private `libvirtd` listening
//! on 127.0.0.1, with certificates made by `openssl` for each test: a CA,
//! a server certificate for `localhost` and `127.0.0.1`, a client
//! certificate, and a second, unrelated CA. Without `libvirtd` (or
//! `openssl`) the tests say so and pass.

#![cfg(feature = "client")]

mod common;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::Daemon;

use libvirt_proto::client::{Client, ClientError};
use libvirt_proto::remote;
use libvirt_proto::remote::program::procs;

/// A folder of generated certificates, removed when dropped.
struct Pki {
    dir: PathBuf,
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// How the server certificate names its host.
#[derive(Clone, Copy, PartialEq)]
enum ServerNames {
    /// subjectAltName `DNS:localhost, IP:127.0.0.1`.
    San,
    /// `CN=localhost` only, as libvirt's older certtool templates made them.
    CommonNameOnly,
}

fn openssl(dir: &Path, args: &[&str]) {
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
    fn new(name: &str, names: ServerNames) -> Option<Pki> {
        if Command::new("openssl").arg("version").output().is_err() {
            assert!(
                !common::required(),
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

    fn make_leaf(&self, key: &str, cert: &str, newkey: &[&str], subj: &str, ext: &str) {
        let csr = format!("{cert}.csr");
        let mut args = vec!["req", "-new", "-nodes"];
        args.extend_from_slice(newkey);
        args.extend_from_slice(&["-keyout", key, "-out", &csr, "-subj", subj]);
        openssl(&self.dir, &args);
        openssl(
            &self.dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca/cacert.pem",
                "-CAkey",
                "ca/cakey.pem",
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

    /// A client folder whose `cacrl.pem` revokes the server certificate
    /// (`openssl ca -revoke`, then `-gencrl`); returns its path.
    fn revoke_server(&self) -> String {
        let d = &self.dir;
        std::fs::write(d.join("index.txt"), "").unwrap();
        std::fs::write(d.join("crlnumber"), "01\n").unwrap();
        std::fs::write(
            d.join("ca.cnf"),
            "[ca]\ndefault_ca = lvp\n[lvp]\ndatabase = index.txt\n\
             crlnumber = crlnumber\ndefault_md = sha256\ndefault_crl_days = 2\n",
        )
        .unwrap();
        let ca = ["-keyfile", "ca/cakey.pem", "-cert", "ca/cacert.pem"];
        let mut revoke = vec!["ca", "-config", "ca.cnf", "-revoke", "servercert.pem"];
        revoke.extend_from_slice(&ca);
        openssl(d, &revoke);
        let mut crl = vec!["ca", "-config", "ca.cnf", "-gencrl", "-out", "cacrl.pem"];
        crl.extend_from_slice(&ca);
        openssl(d, &crl);
        let sub = d.join("revoked");
        std::fs::create_dir_all(&sub).unwrap();
        for f in ["cacert.pem", "clientcert.pem", "clientkey.pem"] {
            std::fs::copy(d.join("client").join(f), sub.join(f)).unwrap();
        }
        std::fs::copy(d.join("cacrl.pem"), sub.join("cacrl.pem")).unwrap();
        self.path("revoked")
    }

    /// A client folder, for `pkipath=`.
    fn path(&self, sub: &str) -> String {
        self.dir.join(sub).display().to_string()
    }
}

/// A free port on 127.0.0.1.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A daemon listening on tcp and tls, on 127.0.0.1, with the server
/// certificate of `pki`; `extra` adds configuration lines.
struct Listening {
    daemon: Daemon,
    tcp: u16,
    tls: u16,
}

fn listening(name: &str, pki: &Pki, extra: &str) -> Option<Listening> {
    let tcp = free_port();
    let tls = free_port();
    let d = &pki.dir;
    let conf = format!(
        "listen_tls = 1\nlisten_tcp = 1\nlisten_addr = \"127.0.0.1\"\n\
         tcp_port = \"{tcp}\"\ntls_port = \"{tls}\"\n\
         auth_tcp = \"none\"\nauth_tls = \"none\"\n\
         key_file = \"{}\"\ncert_file = \"{}\"\nca_file = \"{}\"\n{extra}",
        d.join("serverkey.pem").display(),
        d.join("servercert.pem").display(),
        d.join("ca/cacert.pem").display(),
    );
    let daemon = Daemon::start_with(name, &conf, true)?;
    // The Unix socket comes first; wait for the network ones too.
    let deadline = Instant::now() + Duration::from_secs(20);
    for port in [tcp, tls] {
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "libvirtd does not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    Some(Listening { daemon, tcp, tls })
}

/// The library version and the `test` domain, over `uri`.
async fn works(uri: &str) {
    let client = Client::connect(uri)
        .await
        .unwrap_or_else(|e| panic!("{uri}: {e}"));
    let v = client
        .call::<procs::ConnectGetLibVersion>(&())
        .await
        .unwrap();
    assert!(v.lib_ver >= 1_000_000, "{}", v.lib_ver);
    let all = client
        .call::<procs::ConnectListAllDomains>(&remote::ConnectListAllDomainsArgs {
            need_results: 1,
            flags: 0,
        })
        .await
        .unwrap();
    assert!(all.domains.iter().any(|d| d.name == "test"), "{uri}");
    client.close().await;
}

/// The TLS error of connecting to `uri`.
async fn tls_error(uri: &str) -> String {
    match Client::connect(uri).await {
        Err(ClientError::Tls(msg)) => {
            eprintln!("{uri}: {msg}");
            msg
        }
        Err(other) => panic!("{uri}: not a TLS error: {other:?}"),
        Ok(_) => panic!("{uri}: connected"),
    }
}

#[tokio::test]
async fn tcp_reaches_the_daemon() {
    let Some(pki) = Pki::new("tcp", ServerNames::San) else {
        return;
    };
    let Some(l) = listening("tcp", &pki, "") else {
        return;
    };
    works(&format!("test+tcp://127.0.0.1:{}/default", l.tcp)).await;
    drop(l.daemon);
}

#[tokio::test]
async fn tls_with_a_client_certificate_by_name_and_by_address() {
    let Some(pki) = Pki::new("tls", ServerNames::San) else {
        return;
    };
    let Some(l) = listening("tls", &pki, "") else {
        return;
    };
    let dir = pki.path("client");
    works(&format!(
        "test+tls://localhost:{}/default?pkipath={dir}",
        l.tls
    ))
    .await;
    works(&format!(
        "test+tls://127.0.0.1:{}/default?pkipath={dir}",
        l.tls
    ))
    .await;
}

#[tokio::test]
async fn tls_1_2_only_daemon() {
    let Some(pki) = Pki::new("tls12", ServerNames::San) else {
        return;
    };
    let Some(l) = listening("tls12", &pki, "tls_priority = \"NORMAL:-VERS-TLS1.3\"\n") else {
        return;
    };
    works(&format!(
        "test+tls://localhost:{}/default?pkipath={}",
        l.tls,
        pki.path("client")
    ))
    .await;
}

#[tokio::test]
async fn tls_refuses_a_server_of_another_ca_unless_told_not_to_verify() {
    let Some(pki) = Pki::new("wrongca", ServerNames::San) else {
        return;
    };
    let Some(l) = listening("wrongca", &pki, "") else {
        return;
    };
    let msg = tls_error(&format!(
        "test+tls://localhost:{}/default?pkipath={}",
        l.tls,
        pki.path("wrong-ca")
    ))
    .await;
    assert!(msg.contains("not signed by the CA"), "{msg}");
    assert!(msg.contains("wrong-ca/cacert.pem"), "{msg}");

    works(&format!(
        "test+tls://localhost:{}/default?pkipath={}&no_verify=1",
        l.tls,
        pki.path("wrong-ca-no-verify")
    ))
    .await;
}

#[tokio::test]
async fn a_revoked_server_certificate_is_refused() {
    let Some(pki) = Pki::new("revoked", ServerNames::San) else {
        return;
    };
    let Some(l) = listening("revoked", &pki, "") else {
        return;
    };
    let revoked = pki.revoke_server();
    let msg = tls_error(&format!(
        "test+tls://localhost:{}/default?pkipath={revoked}",
        l.tls
    ))
    .await;
    assert!(msg.contains("revoked"), "{msg}");
    assert!(msg.contains("cacrl.pem"), "{msg}");
}

#[tokio::test]
async fn the_daemon_refusing_the_client_is_reported() {
    let Some(pki) = Pki::new("refused", ServerNames::San) else {
        return;
    };
    let Some(l) = listening(
        "refused",
        &pki,
        "tls_allowed_dn_list = [\"O=nobody,CN=nobody\"]\n",
    ) else {
        return;
    };
    // The handshake succeeds, then the daemon checks the client's name
    // against tls_allowed_dn_list and closes instead of sending its byte.
    let msg = tls_error(&format!(
        "test+tls://localhost:{}/default?pkipath={}",
        l.tls,
        pki.path("client")
    ))
    .await;
    assert!(msg.contains("refused this client"), "{msg}");
    assert!(msg.contains("client/clientcert.pem"), "{msg}");
}

#[tokio::test]
async fn a_client_without_a_certificate_is_refused() {
    let Some(pki) = Pki::new("nocert", ServerNames::San) else {
        return;
    };
    let Some(l) = listening("nocert", &pki, "") else {
        return;
    };
    let msg = tls_error(&format!(
        "test+tls://localhost:{}/default?pkipath={}",
        l.tls,
        pki.path("no-cert")
    ))
    .await;
    assert!(msg.contains("refused this client"), "{msg}");
    assert!(msg.contains("no client certificate was sent"), "{msg}");
}

#[tokio::test]
async fn a_common_name_only_certificate_names_its_host() {
    let Some(pki) = Pki::new("cn", ServerNames::CommonNameOnly) else {
        return;
    };
    let Some(l) = listening("cn", &pki, "") else {
        return;
    };
    let dir = pki.path("client");
    works(&format!(
        "test+tls://localhost:{}/default?pkipath={dir}",
        l.tls
    ))
    .await;
    // Addresses match through subjectAltName only.
    let msg = tls_error(&format!(
        "test+tls://127.0.0.1:{}/default?pkipath={dir}",
        l.tls
    ))
    .await;
    assert!(msg.contains("not valid for '127.0.0.1'"), "{msg}");
}

#[tokio::test]
async fn missing_or_broken_files_are_named() {
    let Some(pki) = Pki::new("files", ServerNames::San) else {
        return;
    };
    // No daemon needed: the files are read once the TCP connection is up,
    // before any TLS byte is sent.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let empty = pki.path("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let msg = tls_error(&format!(
        "test+tls://localhost:{port}/default?pkipath={empty}"
    ))
    .await;
    assert!(msg.contains("cannot read the CA certificate"), "{msg}");
    assert!(msg.contains("empty/cacert.pem"), "{msg}");

    let broken = pki.dir.join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::copy(pki.dir.join("ca/cacert.pem"), broken.join("cacert.pem")).unwrap();
    std::fs::copy(
        pki.dir.join("client/clientcert.pem"),
        broken.join("clientcert.pem"),
    )
    .unwrap();
    std::fs::write(broken.join("clientkey.pem"), "not a key\n").unwrap();
    let msg = tls_error(&format!(
        "test+tls://localhost:{port}/default?pkipath={}",
        broken.display()
    ))
    .await;
    assert!(msg.contains("no private key in"), "{msg}");
    assert!(msg.contains("broken/clientkey.pem"), "{msg}");
    drop(listener);
}
