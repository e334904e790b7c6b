//! Generated encoders and decoders against an independent oracle.
//!
//! For every struct, union and enum of every `ok/` fixture and of libvirt's
//! `remote_protocol.x`, [`random_xdr`] writes random valid encodings from
//! the IR alone (RFC 4506 rules, no generated code), and the generated type
//! (compiled by `build.rs`) must:
//!
//! - decode each, re-encode it to the same bytes with an exact
//!   `encoded_len`, and decode that to an equal value;
//! - reject every strict prefix (every one for short encodings, a sample
//!   for long ones);
//! - reject every corruption the oracle knows to be invalid (undeclared
//!   enum values, bools of 2, non-zero padding, lengths beyond their bound,
//!   invalid UTF-8, narrow integers out of range, discriminants with no arm);
//! - never panic on random byte flips, and when a flipped input still
//!   decodes, re-encode it to exactly those bytes.

use integration_tests::codec_check::{hex, DecodeAny, Decoded, FullCheck, Report};
use integration_tests::fixture_specs::{all_specs, load_files, rpcsvc_sources};
use integration_tests::random_xdr::{codec_types, Limits, Oracle, Rng};
use xdrgen::ir::{Spec, TypeKind};

mod fixtures {
    include!(concat!(env!("OUT_DIR"), "/fixtures.rs"));
}

mod rpcsvc {
    include!(concat!(env!("OUT_DIR"), "/rpcsvc.rs"));
}

#[cfg(has_libvirt_remote)]
mod libvirt_remote {
    include!(concat!(env!("OUT_DIR"), "/spec_libvirt_remote.rs"));
}

/// How hard to test one specification.
struct Effort {
    encodings: u64,
    /// Encodings up to this long have every prefix checked; longer ones a
    /// sample of this many.
    all_prefixes_up_to: usize,
    flips: usize,
    limits: Limits,
}

/// Totals over one specification.
#[derive(Default)]
struct Totals {
    types: usize,
    encodings: usize,
    bytes: usize,
    largest: usize,
    /// Union arms (with reachable `default`s), each covered.
    arms: usize,
    report: Report,
}

/// Runs the checks on every codec type of `spec`; `dispatch` runs a check
/// on the generated type of an XDR type name.
fn check_spec(
    label: &str,
    spec: &Spec,
    effort: &Effort,
    dispatch: &dyn Fn(&str, FullCheck<'_>) -> Option<Report>,
) -> Totals {
    let oracle = Oracle::with_limits(spec, effort.limits.clone());
    let mut totals = Totals::default();
    let mut failures = Vec::new();
    for t in codec_types(spec) {
        totals.types += 1;
        let mut type_failures = 0;
        let mut arms_seen = std::collections::BTreeSet::new();
        for i in 0..effort.encodings {
            let seed = fnv(&t.name) ^ i.wrapping_mul(0x9E37_79B9);
            let enc = oracle
                .encode(&t.name, seed)
                .expect("a type of the spec has an encoding");
            let len = enc.bytes.len();
            arms_seen.extend(enc.arm);
            let mut rng = Rng::new(seed ^ 0xF11F);
            let prefixes: Vec<usize> = if len <= effort.all_prefixes_up_to {
                (0..len).collect()
            } else {
                let mut p: Vec<usize> = (0..effort.all_prefixes_up_to)
                    .map(|_| rng.below(len as u64) as usize)
                    .collect();
                p.extend([0, 1, 4, len - 4, len - 1]);
                p
            };
            let flips: Vec<(usize, u8)> = if len == 0 {
                Vec::new()
            } else {
                (0..effort.flips)
                    .map(|_| {
                        let at = rng.below(len as u64) as usize;
                        // Mostly low bits, where small lengths, flags and
                        // enum values live.
                        let mask = if rng.chance(1, 2) {
                            1 << rng.below(3)
                        } else {
                            1 + rng.below(255) as u8
                        };
                        (at, mask)
                    })
                    .collect()
            };
            let check = FullCheck {
                encoding: &enc,
                prefixes: &prefixes,
                flips: &flips,
            };
            let Some(report) = dispatch(&t.name, check) else {
                failures.push(format!("{label}: no generated type for `{}`", t.name));
                break;
            };
            totals.encodings += 1;
            totals.bytes += len;
            totals.largest = totals.largest.max(len);
            totals.report.corruptions += report.corruptions;
            totals.report.prefixes += report.prefixes;
            totals.report.flips += report.flips;
            totals.report.flips_accepted += report.flips_accepted;
            for f in report.failures {
                type_failures += 1;
                if type_failures <= 3 {
                    failures.push(format!("{label}: `{}` (seed {seed}): {f}", t.name));
                }
            }
        }
        if let Some(arms) = oracle.union_arms(&t.name) {
            totals.arms += arms.len();
            let arms: std::collections::BTreeSet<usize> = arms.into_iter().collect();
            if arms_seen != arms {
                failures.push(format!(
                    "{label}: `{}`: the encodings cover arms {arms_seen:?} of {arms:?}; \
                     raise the encoding count",
                    t.name
                ));
            }
        }
    }
    eprintln!(
        "{label}: {} types ({} union arms), {} encodings ({} bytes, largest {}), \
         {} corruptions, {} prefixes and {} flips ({} still decoded) checked",
        totals.types,
        totals.arms,
        totals.encodings,
        totals.bytes,
        totals.largest,
        totals.report.corruptions,
        totals.report.prefixes,
        totals.report.flips,
        totals.report.flips_accepted
    );
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
    totals
}

/// A stable hash of a type name, to vary seeds between types.
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn load_fixture(name: &str) -> Spec {
    let src = all_specs()
        .into_iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no fixture {name}"));
    load_files(&src.files).unwrap().1
}

#[test]
fn every_fixture_type_round_trips_against_the_oracle() {
    let effort = Effort {
        encodings: 50,
        all_prefixes_up_to: 256,
        flips: 16,
        limits: Limits::default(),
    };
    let specs = all_specs();
    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        fixtures::SPECS,
        "build.rs saw other fixtures: rebuild"
    );
    let mut types = 0;
    let mut typedefs = 0;
    for src in &specs {
        let (_, spec) = load_files(&src.files).unwrap();
        let name = src.name.as_str();
        let expected: Vec<&str> = codec_types(&spec).iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            fixtures::types(name),
            expected,
            "{name}: build.rs saw other types"
        );
        let t = check_spec(name, &spec, &effort, &|ty, c| {
            fixtures::dispatch(name, ty, c)
        });
        assert_eq!(t.encodings, t.types * 50);
        types += t.types;
        typedefs += spec
            .types
            .iter()
            .filter(|t| matches!(t.kind, TypeKind::Alias(_)))
            .count();
    }
    assert!(types >= 25, "only {types} fixture types tested");
    // Typedefs are checked on their own, as the newtypes they generate.
    assert!(typedefs >= 30, "only {typedefs} fixture typedefs tested");
}

/// The rpcsvc specs (rpcsvc-proto's and libtirpc-dev's), whose C
/// `rpcgen_interop.rs` compares with the same oracle.
#[test]
fn every_rpcsvc_type_round_trips_against_the_oracle() {
    let sources = rpcsvc_sources();
    if sources.is_empty() {
        eprintln!("skipped: no rpcsvc specs (apt-get install rpcsvc-proto libtirpc-dev)");
        return;
    }
    let effort = Effort {
        encodings: 24,
        all_prefixes_up_to: 96,
        flips: 8,
        limits: Limits {
            budget: 4 * 1024,
            ..Limits::default()
        },
    };
    let mut types = 0;
    let mut specs = 0;
    for name in rpcsvc::SPECS {
        let src = sources
            .iter()
            .find(|s| s.name == *name)
            .unwrap_or_else(|| panic!("build.rs saw {name}, which is gone: rebuild"));
        let (_, spec) = load_files(&src.files).unwrap();
        let expected: Vec<&str> = codec_types(&spec).iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            rpcsvc::types(name),
            expected,
            "{name}: build.rs saw other types"
        );
        let t = check_spec(name, &spec, &effort, &|ty, c| rpcsvc::dispatch(name, ty, c));
        types += t.types;
        specs += 1;
    }
    println!("rpcsvc round trip: {specs} specs, {types} types");
    // All but nis_callback.x, whose types come from another spec.
    assert!(
        specs + 1 >= sources.len(),
        "only {specs} of {} specs",
        sources.len()
    );
}

#[cfg(has_libvirt_remote)]
#[test]
fn every_libvirt_remote_type_round_trips_against_the_oracle() {
    use integration_tests::fixture_specs::{LIBVIRT_REMOTE, LIBVIRT_VERSION};
    use integration_tests::libvirt_sources::{missing_message, tree};

    let Some(root) = tree(LIBVIRT_VERSION) else {
        // Built with the tarball, run without it.
        eprintln!("{}", missing_message(LIBVIRT_VERSION));
        return;
    };
    let (_, spec) = load_files(&[root.join(LIBVIRT_REMOTE)]).unwrap();
    let effort = Effort {
        encodings: 50,
        all_prefixes_up_to: 96,
        flips: 8,
        limits: Limits {
            budget: 4 * 1024,
            ..Limits::default()
        },
    };
    let t = check_spec("libvirt remote", &spec, &effort, &|ty, c| {
        libvirt_remote::dispatch(ty, c)
    });
    assert!(t.types > 600, "only {} remote types", t.types);
    for typedef in [
        "remote_nonnull_string",
        "remote_string",
        "remote_uuid",
        "remote_domain",
    ] {
        assert!(
            libvirt_remote::TYPES.contains(&typedef),
            "{typedef} not tested"
        );
    }
    assert_eq!(
        libvirt_remote::TYPES.len(),
        t.types,
        "build.rs and the test disagree on the types"
    );
}

#[cfg(not(has_libvirt_remote))]
#[test]
fn every_libvirt_remote_type_round_trips_against_the_oracle() {
    use integration_tests::fixture_specs::LIBVIRT_VERSION;
    use integration_tests::libvirt_sources::missing_message;
    eprintln!("{}", missing_message(LIBVIRT_VERSION));
}

/// Decodes `bytes` as fixture `spec`'s type `ty`.
fn decode(spec: &str, ty: &str, bytes: &[u8]) -> Decoded {
    fixtures::dispatch(spec, ty, DecodeAny(bytes))
        .unwrap_or_else(|| panic!("{spec} has no type {ty}"))
}

fn rejected_with(spec: &str, ty: &str, bytes: &[u8], needle: &str) {
    match decode(spec, ty, bytes) {
        Decoded::Rejected(e) => assert!(
            e.contains(needle),
            "{spec}::{ty} {}: error `{e}` does not mention `{needle}`",
            hex(bytes)
        ),
        other => panic!("{spec}::{ty} {} not rejected: {other:?}", hex(bytes)),
    }
}

fn accepted(spec: &str, ty: &str, bytes: &[u8]) {
    assert_eq!(
        fixtures::dispatch(spec, ty, integration_tests::codec_check::Roundtrip(bytes)),
        Some(Ok(())),
        "{spec}::{ty} {}",
        hex(bytes)
    );
}

#[test]
fn undeclared_enum_values_are_rejected() {
    // kind: KIND_A = 1, KIND_B = 3, KIND_C = 4, KIND_D = -2, KIND_E = 10.
    for v in [1i32, 3, 4, -2, 10] {
        accepted("enums_unions", "kind", &v.to_be_bytes());
    }
    for v in [0i32, 2, 5, -1, 11, i32::MAX, i32::MIN] {
        rejected_with("enums_unions", "kind", &v.to_be_bytes(), "enum value");
    }
    // As a union discriminant with a `default` arm: still not a member.
    rejected_with("enums_unions", "on_enum", &7i32.to_be_bytes(), "enum value");
    // The same union takes a member without a label through `default`.
    accepted(
        "enums_unions",
        "on_enum",
        &[0, 0, 0, 10, 0, 0, 0, 2, b'h', b'i', 0, 0],
    );
}

#[test]
fn bools_other_than_zero_and_one_are_rejected() {
    // on_unsigned: case 4294967295: bool flag.
    accepted(
        "enums_unions",
        "on_unsigned",
        &[0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 1],
    );
    rejected_with(
        "enums_unions",
        "on_unsigned",
        &[0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 2],
        "bool",
    );
    // on_bool: the discriminant itself.
    accepted("enums_unions", "on_bool", &[0, 0, 0, 0]);
    rejected_with("enums_unions", "on_bool", &[0, 0, 0, 2], "bool");
    // An optional's flag is a bool too (list_node *next).
    accepted("recursive", "list_node", &[0, 0, 0, 5, 0, 0, 0, 0]);
    rejected_with("recursive", "list_node", &[0, 0, 0, 5, 0, 0, 0, 2], "bool");
}

#[test]
fn non_zero_padding_is_rejected() {
    // rfc4506 file: filename "ab", kind TEXT, owner "", data "".
    let mut file = vec![0, 0, 0, 2, b'a', b'b', 0, 0];
    file.extend([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    accepted("rfc4506_section7", "file", &file);
    for at in [6, 7] {
        let mut bad = file.clone();
        bad[at] = 1;
        rejected_with("rfc4506_section7", "file", &bad, "padding");
    }
    // on_int: case 0x10: opaque blob<8>, one byte and three of padding.
    accepted(
        "enums_unions",
        "on_int",
        &[0, 0, 0, 0x10, 0, 0, 0, 1, 0xAB, 0, 0, 0],
    );
    rejected_with(
        "enums_unions",
        "on_int",
        &[0, 0, 0, 0x10, 0, 0, 0, 1, 0xAB, 0, 0x80, 0],
        "padding",
    );
}

#[test]
fn the_oracle_finds_invalid_values_of_every_kind() {
    // The corruptions the round-trip test applies cover every kind the
    // oracle knows, somewhere in the fixtures.
    let mut kinds = std::collections::BTreeSet::new();
    for src in all_specs() {
        let (_, spec) = load_files(&src.files).unwrap();
        let oracle = Oracle::new(&spec);
        for t in codec_types(&spec) {
            for seed in 0..20 {
                for c in oracle.encode(&t.name, seed).unwrap().corruptions {
                    let kind = [
                        "not a member",
                        "not in",
                        "bool",
                        "padding",
                        "beyond the bound",
                        "UTF-8",
                        "out of range",
                        "has no arm",
                        "optional flag",
                    ]
                    .into_iter()
                    .find(|k| c.what.contains(k))
                    .unwrap_or_else(|| panic!("unclassified corruption {}", c.what));
                    kinds.insert(kind);
                }
            }
        }
    }
    assert_eq!(kinds.len(), 9, "{kinds:?}");
}

#[test]
fn the_oracle_is_deterministic_and_varied() {
    let spec = load_fixture("types");
    let oracle = Oracle::new(&spec);
    let a = oracle.encode("shapes", 1).unwrap();
    assert_eq!(a, oracle.encode("shapes", 1).unwrap());
    let distinct: std::collections::HashSet<Vec<u8>> = (0..50)
        .map(|s| oracle.encode("shapes", s).unwrap().bytes)
        .collect();
    assert!(distinct.len() > 45);
    assert!(oracle.encode("no_such_type", 1).is_none());
}

#[test]
fn deeply_nested_recursive_values_are_rejected_not_a_stack_overflow() {
    // `expr` nests through `expr args<>`: each level is case 2 with one
    // element. Far past the reader's depth limit, and far past what the
    // stack would survive without it.
    let mut bytes = Vec::new();
    for _ in 0..100_000 {
        bytes.extend([0, 0, 0, 2, 0, 0, 0, 1]);
    }
    bytes.extend([0, 0, 0, 0, 0, 0, 0, 0]);
    rejected_with("oracle_extras", "expr", &bytes, "nested deeper than");
}
