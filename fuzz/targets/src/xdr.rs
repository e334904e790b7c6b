//! `parse_resolve` and `decode_rich`, xdrgen's front end and generated
//! decoders.

use xdrgen::rt::{self, Encode};

mod rich {
    #![allow(missing_docs, dead_code)]
    xdrgen::xdr_include!("../rich.x");
}

/// Files `#include` finds while fuzzing: the input itself again under
/// another name, and a small guarded spec.
struct Includes(String);

impl xdrgen::cpp::FileSystem for Includes {
    fn read(&self, path: &std::path::Path) -> std::io::Result<String> {
        match path.to_str() {
            Some("again.x") => Ok(self.0.clone()),
            Some("guarded.x") => Ok("#ifndef G\n#define G 2\ntypedef int g<G>;\n#endif\n".into()),
            _ => Err(std::io::ErrorKind::NotFound.into()),
        }
    }
}

/// Preprocesses (the built-in preprocessor, with `#include` of the input
/// itself), parses and resolves an arbitrary `.x` file (the input, lossily
/// UTF-8), then renders the diagnostics: none of it panics, overflows the
/// stack, hangs or blows up in memory, and the text the parser reads is
/// the file's length.
pub fn parse_resolve(data: &[u8]) {
    let text = String::from_utf8_lossy(data).into_owned();
    let mut sources = xdrgen::SourceMap::new();
    let root = sources.add("fuzz.x", text.clone());
    let cpp = xdrgen::cpp::preprocess(
        &mut sources,
        &xdrgen::cpp::CppOptions::default(),
        &Includes(text),
    );
    let f = sources.file(root);
    assert_eq!(f.parse_text().len(), f.text.len(), "offsets moved");
    let loaded = xdrgen::ir::load_preprocessed(
        &sources,
        &xdrgen::Options::default(),
        xdrgen::ir::RpcgenPreset::Auto,
        cpp.diagnostics,
    );
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
