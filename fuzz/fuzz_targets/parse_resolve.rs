//! Fuzz target: parse and resolve an arbitrary `.x` file, then render the
//! diagnostics.
//!
//! Checks that `xdrgen::load` (parser, resolver, libvirt program detection,
//! annotation parsing) and `SourceMap::render` never panic, overflow the
//! stack, run away in time or memory, on any input. Bytes that are not UTF-8
//! are replaced with U+FFFD (`String::from_utf8_lossy`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data).into_owned();
    let mut sources = xdrgen::SourceMap::new();
    sources.add("fuzz.x", text);
    let loaded = xdrgen::load(&sources, &xdrgen::Options::default());
    let _ = sources.render(&loaded.diagnostics.0);
});
