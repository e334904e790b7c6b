//! `xdr_include!("remote_protocol.x")`, with no options, on a plain copy of
//! libvirt's file in a crate of its own: libvirt's program convention and
//! its C-header constants are recognised without help.

use std::path::Path;
use std::process::Command;

use integration_tests::libvirt_sources::{missing_message, tree, workspace_root};

#[test]
fn xdr_include_compiles_a_plain_copy_of_remote_protocol_x() {
    let Some(root) = tree("11.3.0") else {
        eprintln!("{}", missing_message("11.3.0"));
        return;
    };
    let krate = std::env::temp_dir().join(format!("xdr-include-libvirt-{}", std::process::id()));
    std::fs::create_dir_all(krate.join("src")).unwrap();
    std::fs::copy(
        root.join("src/remote/remote_protocol.x"),
        krate.join("remote_protocol.x"),
    )
    .unwrap();
    let xdrgen: &Path = &workspace_root().join("xdrgen");
    std::fs::write(
        krate.join("Cargo.toml"),
        format!(
            "[package]\nname = \"uses-remote-protocol\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\
             [dependencies]\nxdr-rpcgen = {{ path = {xdrgen:?}, features = [\"macros\"] }}\n[workspace]\n"
        ),
    )
    .unwrap();
    std::fs::write(
        krate.join("src/lib.rs"),
        r#"
xdrgen::xdr_include!("remote_protocol.x");

#[test]
fn the_remote_program_is_there() {
    use xdrgen::rt::RemoteProcedure;
    assert_eq!(remote_program::NUMBER, 0x2000_8086);
    assert_eq!(remote_program::PROCEDURES.len(), 453);
    // VIR_UUID_BUFLEN came from the preset: a 16-byte opaque.
    let d = RemoteNonnullDomain { name: "d".into(), uuid: [0; 16].into(), id: 1 };
    assert_eq!(xdrgen::rt::to_bytes(&d).unwrap().len(), 4 + 4 + 16 + 4);
    type Shot = remote_program::procs::DomainScreenshot;
    assert!(<Shot as RemoteProcedure>::INFO.stream.is_some());
}
"#,
    )
    .unwrap();
    let status = Command::new(env!("CARGO"))
        .args(["test", "--quiet", "--manifest-path"])
        .arg(krate.join("Cargo.toml"))
        .env(
            "CARGO_TARGET_DIR",
            workspace_root().join("target/macro-on-libvirt"),
        )
        .status()
        .unwrap();
    assert!(
        status.success(),
        "the crate using xdr_include!(\"remote_protocol.x\") failed"
    );
    std::fs::remove_dir_all(&krate).unwrap();
}
