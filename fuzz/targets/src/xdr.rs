//! `parse_resolve` and `decode_rich`, xdrgen's front end and generated
//! decoders.

use xdrgen::rt::{self, Encode};

mod rich {
    #![allow(missing_docs, dead_code)]
    xdrgen::xdr_include!("../rich.x");
}

/// Parses and resolves an arbitrary `.x` file (the input, lossily
/// UTF-8), then renders the diagnostics: neither panics, overflows the
/// stack, hangs or blows up in memory.
pub fn parse_resolve(data: &[u8]) {
    let text = String::from_utf8_lossy(data).into_owned();
    let mut sources = xdrgen::SourceMap::new();
    sources.add("fuzz.x", text);
    let loaded = xdrgen::load(&sources, &xdrgen::Options::default());
    let _ = sources.render(&loaded.diagnostics.0);
}

/// Decodes arbitrary bytes as `node` of `fuzz/rich.x` (every XDR shape,
/// recursion included): whatever decodes re-encodes to the same bytes
/// with an exact `encoded_len`.
pub fn decode_rich(data: &[u8]) {
    if let Ok(node) = rt::from_bytes::<rich::Node>(data) {
        let again = rt::to_bytes(&node).expect("a decoded value encodes");
        assert_eq!(again, data, "re-encoding differs");
        assert_eq!(node.encoded_len(), data.len());
    }
}
