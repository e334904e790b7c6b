//! Fuzz target: decode arbitrary bytes into a generated type with every
//! shape (nested unions, optionals, recursion, bounded arrays, strings).
//!
//! Checks that decoding never panics and never allocates more than the
//! input justifies (run with `-malloc_limit_mb`), and that whatever decodes
//! re-encodes to exactly the bytes it came from, with an exact
//! `encoded_len`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xdrgen::rt::{self, Encode};

mod rich {
    xdrgen::xdr_include!("rich.x");
}

fuzz_target!(|data: &[u8]| {
    if let Ok(node) = rt::from_bytes::<rich::Node>(data) {
        let again = rt::to_bytes(&node).expect("a decoded value encodes");
        assert_eq!(again, data, "re-encoding differs");
        assert_eq!(node.encoded_len(), data.len());
    }
});
