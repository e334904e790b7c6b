//! SASL GSSAPI (Kerberos) over plain tcp against a real, private
//! `libvirtd` (`auth_tcp = "sasl"`, Cyrus's `mech_list: gssapi`) and a
//! private KDC (`common/krb.rs`). libvirtd accepts SASL on plain tcp only
//! with a security layer of at least 56 bits, so every call after
//! authentication travels encrypted through the GSSAPI layer; `virsh`,
//! with the same ticket, is the reference.
//!
//! The Kerberos library reads its configuration and ticket cache from
//! the environment of the process, so this binary holds one test, which
//! sets them before anything reads them. Without MIT Kerberos, Cyrus's
//! GSSAPI plugin or `libvirtd` it says so and passes.

#![cfg(feature = "gssapi")]

mod common;

use std::process::Command;

use common::krb::Kdc;
use common::sasl::{options, works};

use libvirt_proto::client::{Client, ClientError};
use libvirt_proto::engine::auth::AuthError;
use libvirt_proto::engine::open::OpenError;

/// `virsh -c uri args...` with the client's Kerberos environment; its
/// standard output.
fn virsh(kdc: &Kdc, uri: &str, args: &[&str]) -> String {
    let out = Command::new("virsh")
        .args(["-c", uri])
        .args(args)
        .envs(kdc.client_env())
        .output()
        .expect("virsh");
    assert!(
        out.status.success(),
        "virsh {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn gssapi_authenticates_and_encrypts_over_plain_tcp() {
    let Some(kdc) = Kdc::start("gssapi") else {
        return;
    };
    // SASL on the Unix socket too, which libvirt counts as secure.
    let Some((daemon, uri)) = kdc.daemon("gssapi", "auth_unix_rw = \"sasl\"\n") else {
        return;
    };
    // Before the runtime starts any thread, and before the Kerberos
    // library is loaded.
    for (k, v) in kdc.client_env() {
        std::env::set_var(k, v);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = Client::connect_with(&uri, options(None)).await.unwrap();
        works(&client).await;
        assert_eq!(
            client.connect_get_hostname().await.unwrap(),
            virsh(&kdc, &uri, &["hostname"]).trim()
        );

        // Larger than one security layer packet (64 KiB) both ways: a
        // domain whose description is 300 KB, defined and read back.
        let test = client.domain_lookup_by_name("test").await.unwrap();
        let base = client.domain_get_xml_desc(&test, 2).await.unwrap();
        let description: String = (0..300_000u32)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        let mut xml = base.replacen("<name>test</name>", "<name>big</name>", 1);
        if let (Some(a), Some(b)) = (xml.find("<uuid>"), xml.find("</uuid>")) {
            xml.replace_range(a..b + "</uuid>".len(), "");
        }
        let xml = xml.replacen(
            "</name>",
            &format!("</name>\n  <description>{description}</description>"),
            1,
        );
        let big = client.domain_define_xml(&xml).await.unwrap();
        let back = client.domain_get_xml_desc(&big, 0).await.unwrap();
        assert!(back.contains(&description));
        // virsh reads the same back through its own (Cyrus) layer.
        assert!(virsh(&kdc, &uri, &["dumpxml", "big"]).contains(&description));
        client.domain_undefine(&big).await.unwrap();
        client.close().await;

        // On the Unix socket, a secure channel, no layer is needed: the
        // client takes none when the daemon offers that.
        let client = Client::connect_with(&daemon.uri(), options(None))
            .await
            .unwrap();
        works(&client).await;
        assert_eq!(
            client.connect_get_hostname().await.unwrap(),
            virsh(&kdc, &daemon.uri(), &["hostname"]).trim()
        );
        client.close().await;

        // auth=sasl.gssapi names the mechanism.
        let named = format!("{uri}?auth=sasl.gssapi");
        let client = Client::connect_with(&named, options(None)).await.unwrap();
        works(&client).await;
        client.close().await;

        // Without a ticket there is nothing to fall back to on plain tcp:
        // the error says what Kerberos said.
        std::env::set_var("KRB5CCNAME", kdc.dir.join("no-such-cache"));
        match Client::connect_with(&uri, options(None)).await {
            Err(ClientError::Open(OpenError::Auth(AuthError::Mechanism(m)))) => {
                assert!(
                    m.starts_with("GSSAPI: a Kerberos context with libvirt@127.0.0.1"),
                    "{m}"
                );
            }
            Err(other) => panic!("{other:?}"),
            Ok(_) => panic!("connected without a ticket"),
        }
    });
    drop(daemon);
}
