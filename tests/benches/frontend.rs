//! Parse + resolve of libvirt's `remote_protocol.x` (11.3.0).
//!
//! Run with `cargo bench -p integration-tests --bench frontend`. Needs the
//! libvirt 11.3.0 tarball (see `integration_tests::libvirt_sources`).

use integration_tests::libvirt_sources::{missing_message, tree};
use xdrgen::{load, syntax, FileId, Options, SourceMap};

fn main() {
    divan::main();
}

fn remote_protocol() -> Option<String> {
    let Some(root) = tree("11.3.0") else {
        eprintln!("{}", missing_message("11.3.0"));
        return None;
    };
    Some(std::fs::read_to_string(root.join("src/remote/remote_protocol.x")).unwrap())
}

/// Parsing alone: text to syntax tree.
#[divan::bench]
fn parse_remote_protocol(bencher: divan::Bencher<'_, '_>) {
    let Some(text) = remote_protocol() else {
        return;
    };
    bencher.bench(|| syntax::parse_file(FileId(0), divan::black_box(&text)));
}

/// The whole front end: parse, resolve, find the programs.
#[divan::bench]
fn parse_and_resolve_remote_protocol(bencher: divan::Bencher<'_, '_>) {
    let Some(text) = remote_protocol() else {
        return;
    };
    let mut sources = SourceMap::new();
    sources.add("remote_protocol.x", text);
    let options = Options::default();
    bencher.bench(|| {
        let loaded = load(divan::black_box(&sources), &options);
        assert!(loaded.spec.is_some());
        loaded
    });
}
