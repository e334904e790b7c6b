//! Runs every fuzz target over its committed inputs: `fuzz/seeds/<target>/`
//! (small real inputs the fuzzer starts from) and
//! `fuzz/regressions/<target>/` (inputs that once crashed, hung or broke
//! an invariant). A regression that comes back fails here, under the
//! ordinary `cargo test`.

use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fuzz_targets::TARGETS;

/// `fuzz/`.
fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("fuzz/targets is in fuzz/")
        .to_owned()
}

/// The files of `fuzz/<kind>/<target>/`, sorted.
fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = fuzz_dir().join(kind).join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("a readable folder").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Runs `target` over its seeds and regressions; fails naming every
/// input that panics.
fn replay(target: &str) {
    let body = TARGETS
        .iter()
        .find(|(n, _)| *n == target)
        .unwrap_or_else(|| panic!("no target {target}"))
        .1;
    let seeds = inputs("seeds", target);
    assert!(!seeds.is_empty(), "fuzz/seeds/{target}/ is empty");
    let mut failed = Vec::new();
    for path in seeds.iter().chain(&inputs("regressions", target)) {
        let data = std::fs::read(path).expect("a readable input");
        let start = Instant::now();
        if panic::catch_unwind(AssertUnwindSafe(|| body(&data))).is_err() {
            failed.push(path.display().to_string());
        }
        let took = start.elapsed();
        if took > Duration::from_secs(2) {
            eprintln!("{}: {took:?}", path.display());
        }
    }
    assert!(failed.is_empty(), "{target} fails on: {failed:#?}");
}

macro_rules! replay_tests {
    ($($name:ident),* $(,)?) => {
        $(#[test]
        fn $name() {
            replay(stringify!($name));
        })*

        /// Every target has a test here, a cargo-fuzz binary and seeds.
        #[test]
        fn every_target_is_replayed_and_fuzzable() {
            let tested = [$(stringify!($name)),*];
            for (name, _) in TARGETS {
                assert!(tested.contains(name), "{name} has no replay test");
                let bin = fuzz_dir().join("fuzz_targets").join(format!("{name}.rs"));
                assert!(bin.is_file(), "no {}", bin.display());
            }
            assert_eq!(tested.len(), TARGETS.len());
            let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
            let bins = manifest.matches("[[bin]]").count();
            assert_eq!(bins, TARGETS.len(), "fuzz/Cargo.toml's [[bin]]s");
        }
    };
}

replay_tests!(
    parse_resolve,
    decode_rich,
    codegen,
    frame_decoder,
    dispatch_decode,
    client_engine,
    server_engine,
    sasl_layer,
    client_auth_open,
    uri,
    auth_conf,
    libvirt_conf,
    tls_certs,
    typed_params,
);
