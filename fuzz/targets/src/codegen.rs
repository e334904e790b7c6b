//! `codegen`.

use xdrgen::codegen::{generate_source, GenOptions};

/// Loads an arbitrary `.x` file (the input, lossily UTF-8) and, when it
/// resolves, generates Rust from it.
///
/// Checks: generation never panics, and its output parses as a Rust file
/// (`syn::parse_file`), with and without `strip_prefix` and
/// `strings_as_bytes`.
pub fn codegen(data: &[u8]) {
    let text = String::from_utf8_lossy(data).into_owned();
    let mut sources = xdrgen::SourceMap::new();
    sources.add("fuzz.x", text);
    let loaded = xdrgen::load(&sources, &xdrgen::Options::default());
    let Some(spec) = loaded.spec else {
        return;
    };
    for (strip, bytes) in [(None, false), (Some("fuzz"), true)] {
        let options = GenOptions {
            strip_prefix: strip.map(str::to_owned),
            strings_as_bytes: bytes,
            ..GenOptions::default()
        };
        let out = generate_source(&spec, &sources, &options).unwrap_or_else(|e| panic!("{e}"));
        if let Err(e) = syn::parse_file(&out) {
            panic!("generated code does not parse: {e}\n{out}");
        }
    }
}
