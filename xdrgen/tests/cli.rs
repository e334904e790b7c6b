//! The `xdrgen` binary: exit codes, output and error messages.

use std::path::Path;
use std::process::{Command, Output};

fn xdrgen(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xdrgen"))
        .args(args)
        .output()
        .expect("run xdrgen")
}

fn fixture(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path)
        .display()
        .to_string()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn check_succeeds_silently_on_a_clean_spec() {
    let o = xdrgen(&["check", &fixture("ok/rfc4506_section7.x")]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(o.stderr.is_empty());
}

#[test]
fn check_fails_with_located_diagnostics() {
    let o = xdrgen(&["check", &fixture("err/duplicates.x")]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains("duplicates.x:2:7"), "{e}");
    assert!(e.contains("`DUP` is defined more than once"), "{e}");
    assert!(e.contains("3 error(s), 0 warning(s)"), "{e}");
}

#[test]
fn defines_supply_external_constants() {
    let file = fixture("ok/defines.x");
    let o = xdrgen(&["check", &file]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "BUFLEN is undefined without --define"
    );
    let o = xdrgen(&["check", "--define", "BUFLEN=32", "-D", "WIDTH=0x10", &file]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn ir_json_is_the_resolved_spec() {
    let o = xdrgen(&["ir", "--json", &fixture("ok/libvirt_style.x")]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let program = &json["programs"][0];
    assert_eq!(program["name"], "DEMO_PROGRAM");
    assert_eq!(program["number"], 0x44454d4f);
    let procs = program["versions"][0]["procedures"].as_array().unwrap();
    assert_eq!(procs.len(), 4);
    assert_eq!(procs[3]["kind"], "message");
}

#[test]
fn explicit_libvirt_program_replaces_detection() {
    let o = xdrgen(&[
        "ir",
        "--json",
        "--libvirt-program",
        "DEMO_PROGRAM,DEMO_PROTOCOL_VERSION,demo_procedure,demo",
        &fixture("ok/libvirt_style.x"),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = xdrgen(&[
        "ir",
        "--libvirt-program",
        "NOPE_PROGRAM,NOPE_VERSION,nope_procedure,nope",
        &fixture("ok/libvirt_style.x"),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("constant `NOPE_PROGRAM` is not defined"));
}

#[test]
fn unreadable_file_is_named() {
    let o = xdrgen(&["check", "/nonexistent/dir/spec.x"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("cannot read `/nonexistent/dir/spec.x`"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn ir_summary_counts_procedures_and_messages() {
    let o = xdrgen(&["ir", &fixture("ok/libvirt_style.x")]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("4 procedures, 1 messages"), "{out}");
}
