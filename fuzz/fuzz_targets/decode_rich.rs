//! Fuzz target `decode_rich`: see `fuzz_targets::decode_rich` (fuzz/targets).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::decode_rich(data));
