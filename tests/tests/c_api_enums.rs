//! libvirt-proto's `api` module holds every enum of libvirt's public
//! headers: each `typedef enum { ... } virName;` of `include/libvirt/` (but
//! `virterror.h`, which is `error_codes`) is a `pub struct Name` there, with
//! each member's C name, and its documented string constants are constants.
//! The headers are scanned here independently of the generator.

use integration_tests::libvirt_sources::{missing_message, tree, workspace_root};

/// `(enum name, member names)` of every `typedef enum` in `text`.
fn typedef_enums(text: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for (at, _) in text.match_indices("typedef enum") {
        let rest = &text[at..];
        let (Some(open), Some(close)) = (rest.find('{'), rest.find('}')) else {
            continue;
        };
        let name: String = rest[close + 1..]
            .trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let members = without_comments(&rest[open + 1..close])
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| w.starts_with("VIR_") && !w.ends_with("_LAST"))
            .filter(|w| *w != "VIR_ENUM_SENTINELS")
            .map(str::to_owned)
            .collect();
        out.push((name, members));
    }
    out
}

/// `text` without its `/* ... */` comments and preprocessor lines.
fn without_comments(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("/*") {
        out.push_str(&rest[..i]);
        rest = rest[i..].find("*/").map_or("", |e| &rest[i + e + 2..]);
    }
    out.push_str(rest);
    out.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_header_enum_and_member_is_generated() {
    let Some(root) = tree("11.3.0") else {
        eprintln!("{}", missing_message("11.3.0"));
        return;
    };
    let api = std::fs::read_to_string(workspace_root().join("libvirt-proto/src/generated/api.rs"))
        .unwrap();
    let dir = root.join("include/libvirt");
    let mut enums = 0;
    let mut members = 0;
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("libvirt-") && (n.ends_with(".h") || n.ends_with(".h.in")))
        .collect();
    names.sort();
    for file in names {
        let text = std::fs::read_to_string(dir.join(&file)).unwrap();
        for (name, member_names) in typedef_enums(&text) {
            let rust = name.strip_prefix("vir").unwrap();
            assert!(
                api.contains(&format!("pub struct {rust}("))
                    || api.contains(&format!("struct {rust} : u32")),
                "{file}: {name} is not generated"
            );
            enums += 1;
            for m in member_names {
                // Values of members that alias an earlier one (`= VIR_X`)
                // are words of the body too; every name must be known.
                assert!(
                    api.contains(&format!("`{m}`")),
                    "{file}: {name}: {m} has no constant"
                );
                members += 1;
            }
        }
    }
    // libvirt 11.3.0's public headers hold 175 enums with 845 members.
    assert!(enums > 170, "only {enums} enums found: the scan is broken");
    assert!(
        members > 800,
        "only {members} members found: the scan is broken"
    );
}

/// The client methods take a flag set wherever libvirt's API documentation
/// gives exactly one for the argument (`cargo xtask regen` lists the
/// others with the reason: unused, several sets, no public function).
#[test]
fn flag_arguments_are_typed() {
    let dir = workspace_root().join("libvirt-proto/src/generated");
    let mut typed = 0;
    for file in [
        "remote_client.rs",
        "qemu_client.rs",
        "lxc_client.rs",
        "admin_client.rs",
    ] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        // Each typed argument of a client method is converted once when the
        // argument struct is built (handle methods forward it unconverted).
        typed += text.matches(".into().bits()").count();
    }
    // libvirt 11.3.0: 136 of 274 `flags` arguments; 101 of the others are
    // documented as not used yet, 15 as several sets, 22 belong to
    // procedures without a public function (migration steps, ...).
    assert_eq!(typed, 136);
}

/// Numbers the API documents as one of an enum are typed: arguments take
/// the enum, yes/no answers are `bool`, replies holding an enum or a C
/// string are typed results, and libvirt's "ask for the count, then the
/// values" getters are one method.
#[test]
fn values_and_results_are_typed() {
    let text = std::fs::read_to_string(
        workspace_root().join("libvirt-proto/src/generated/remote_client.rs"),
    )
    .unwrap();
    // Converted once where the argument struct is built.
    let typed_args = text.matches(".into().0").count();
    // Arguments documented as 0 or 1 take a `bool`.
    let bool_args = text.matches(": i32::from(").count();
    // Each answer is converted once, in the client's method.
    let yes_no = text
        .lines()
        .filter(|l| l.contains(".map(|r| r.") && l.ends_with(" != 0)"))
        .count();
    let results: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("pub struct "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let counted =
        text.matches("let nparams = 0;").count() + text.matches("let maxerrors = 0;").count();
    let counted_elsewhere = text.matches("let count_args = ").count();
    // libvirt 11.3.0: e.g. `virNetworkUpdate`'s command and section,
    // `virDomainGetMetadata`'s type.
    assert_eq!(typed_args, 15);
    // The `autostart` of the five set-autostart calls ("whether ... should
    // be automatically started") and `virDomainSetVcpu`'s and
    // `virDomainSetGuestVcpus`'s `state` ("0 to disable/1 to enable").
    assert_eq!(bool_args, 7);
    // virDomainIsActive, virDomainGetAutostart, ... (every "Returns 1 if
    // ..., 0 if ..." and "Provides a boolean value" of the docs, and
    // `virStoragePoolGetAutostart` from specs/libvirt.toml).
    assert_eq!(yes_no, 20);
    for expected in [
        "DomainInfo",
        "NodeInfo",
        "StoragePoolInfo",
        "DomainStateInfo",
        // `char model<N>` and `int enforcing; /* 1 if ... */`, from
        // structs of libvirt-host.h filled by functions of other headers.
        "SecurityModel",
        "SecurityLabel",
    ] {
        assert!(results.contains(&expected), "{expected} not in {results:?}");
    }
    // Memory, blkio, NUMA, interface, block I/O tuning, block stats, node
    // memory, SEV and network port parameters; node CPU and memory
    // statistics, domain CPU statistics and disk errors.
    assert_eq!(counted, 13);
    // Scheduler parameters (with and without flags), counted by
    // virDomainGetSchedulerType.
    assert_eq!(counted_elsewhere, 2);
}
