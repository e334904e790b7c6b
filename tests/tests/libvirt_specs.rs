//! Every `.x` file of real libvirt releases parses and resolves cleanly, and
//! the IR of `remote_protocol.x` says what libvirt's own generator knows.

use integration_tests::libvirt_sources::{missing_message, tree, PROTOCOL_FILES};
use xdrgen::ir::{
    AclRule, BaseType, Generate, NamedKind, ProcedureKind, Program, Spec, StreamDirection,
};
use xdrgen::{load, Options, SourceMap};

/// Loads `files` (relative to the tree) as one specification and requires
/// no errors and no warnings.
fn load_clean(root: &std::path::Path, files: &[&str]) -> Spec {
    let mut sources = SourceMap::new();
    for f in files {
        let text = std::fs::read_to_string(root.join(f)).unwrap();
        sources.add(*f, text);
    }
    let loaded = load(&sources, &Options::default());
    assert!(
        loaded.diagnostics.0.is_empty(),
        "{files:?}:\n{}",
        sources.render(&loaded.diagnostics.0)
    );
    loaded.spec.unwrap()
}

/// The files a protocol file needs loaded before it.
fn with_dependencies(file: &'static str) -> Vec<&'static str> {
    match file {
        "src/remote/qemu_protocol.x" | "src/remote/lxc_protocol.x" => {
            vec!["src/remote/remote_protocol.x", file]
        }
        _ => vec![file],
    }
}

fn program<'a>(spec: &'a Spec, name: &str) -> &'a Program {
    spec.program(name)
        .unwrap_or_else(|| panic!("program {name} not found"))
}

fn every_file_resolves(version: &str) {
    let Some(root) = tree(version) else {
        eprintln!("{}", missing_message(version));
        return;
    };
    let expected_programs = [
        ("src/rpc/virnetprotocol.x", None),
        ("src/rpc/virkeepaliveprotocol.x", Some("KEEPALIVE_PROGRAM")),
        ("src/remote/remote_protocol.x", Some("REMOTE_PROGRAM")),
        ("src/remote/qemu_protocol.x", Some("QEMU_PROGRAM")),
        ("src/remote/lxc_protocol.x", Some("LXC_PROGRAM")),
        ("src/admin/admin_protocol.x", Some("ADMIN_PROGRAM")),
        (
            "src/locking/lock_protocol.x",
            Some("VIR_LOCK_SPACE_PROTOCOL_PROGRAM"),
        ),
        (
            "src/logging/log_protocol.x",
            Some("VIR_LOG_MANAGER_PROTOCOL_PROGRAM"),
        ),
        (
            "src/lxc/lxc_monitor_protocol.x",
            Some("VIR_LXC_MONITOR_PROGRAM"),
        ),
    ];
    assert_eq!(expected_programs.len(), PROTOCOL_FILES.len());
    for (file, program_name) in expected_programs {
        let spec = load_clean(&root, &with_dependencies(file));
        match program_name {
            None => assert!(spec.programs.is_empty(), "{file}"),
            Some(name) => {
                let p = program(&spec, name);
                assert_eq!(p.versions.len(), 1);
                assert!(!p.versions[0].procedures.is_empty(), "{file}");
            }
        }
    }
}

#[test]
fn libvirt_11_3_0_every_protocol_file_resolves() {
    every_file_resolves("11.3.0");
}

#[test]
fn libvirt_9_0_0_every_protocol_file_resolves() {
    every_file_resolves("9.0.0");
}

#[test]
fn libvirt_11_3_0_remote_program_has_every_procedure_with_annotations() {
    let Some(root) = tree("11.3.0") else {
        eprintln!("{}", missing_message("11.3.0"));
        return;
    };
    let spec = load_clean(&root, &["src/remote/remote_protocol.x"]);
    let remote = program(&spec, "REMOTE_PROGRAM");
    assert_eq!(remote.number, 0x2000_8086);
    let v = &remote.versions[0];
    assert_eq!(v.number, 1);
    assert_eq!(v.procedures.len(), 453);
    let events: Vec<_> = v
        .procedures
        .iter()
        .filter(|p| p.kind == ProcedureKind::Message)
        .collect();
    assert_eq!(events.len(), 53);
    for e in &events {
        assert!(
            e.message.is_some() && e.args.is_empty() && e.result.is_none(),
            "{}",
            e.name
        );
    }
    // Numbers are 1..=453 without gaps.
    let mut numbers: Vec<u32> = v.procedures.iter().map(|p| p.number).collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=453).collect::<Vec<_>>());
    // Every procedure says what to generate and what access it needs.
    for p in &v.procedures {
        assert!(
            p.annotations.generate.is_some(),
            "{} has no @generate",
            p.name
        );
        assert!(!p.annotations.acl.is_empty(), "{} has no @acl", p.name);
        assert!(p.annotations.unknown.is_empty(), "{}", p.name);
    }

    let by_name = |n: &str| v.procedures.iter().find(|p| p.name == n).unwrap();
    let screenshot = by_name("REMOTE_PROC_DOMAIN_SCREENSHOT");
    assert_eq!(screenshot.number, 211);
    assert_eq!(screenshot.annotations.generate, Some(Generate::Both));
    assert_eq!(
        screenshot
            .annotations
            .stream
            .map(|s| (s.direction, s.param)),
        Some((StreamDirection::Read, 1))
    );
    let download = by_name("REMOTE_PROC_STORAGE_VOL_DOWNLOAD");
    assert_eq!(
        download.annotations.sparse_flag.as_deref(),
        Some("VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM")
    );
    assert_eq!(
        download.annotations.stream.map(|s| s.direction),
        Some(StreamDirection::Read)
    );
    let upload = by_name("REMOTE_PROC_STORAGE_VOL_UPLOAD");
    assert_eq!(
        upload.annotations.stream.map(|s| s.direction),
        Some(StreamDirection::Write)
    );
    let open = by_name("REMOTE_PROC_CONNECT_OPEN");
    assert_eq!(open.annotations.generate, Some(Generate::None));
    assert_eq!(
        open.args[0].base,
        BaseType::Named {
            name: "remote_connect_open_args".into(),
            kind: NamedKind::Struct
        }
    );
    assert!(open.result.is_none(), "CONNECT_OPEN has no _ret struct");
    let close = by_name("REMOTE_PROC_CONNECT_CLOSE");
    assert_eq!(close.annotations.acl, vec![AclRule::None]);
    let lifecycle = by_name("REMOTE_PROC_DOMAIN_EVENT_LIFECYCLE");
    assert_eq!(lifecycle.kind, ProcedureKind::Message);

    let streams = v
        .procedures
        .iter()
        .filter(|p| p.annotations.stream.is_some())
        .count();
    let in_source = std::fs::read_to_string(root.join("src/remote/remote_protocol.x"))
        .unwrap()
        .lines()
        .filter(|l| {
            l.trim_start().starts_with("* @readstream:")
                || l.trim_start().starts_with("* @writestream:")
        })
        .count();
    assert_eq!(streams, in_source);
}
