//! Fuzz target `uri`: see `fuzz_targets::uri` (fuzz/targets).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::uri(data));
