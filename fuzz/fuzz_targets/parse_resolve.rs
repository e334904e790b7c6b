//! Fuzz target `parse_resolve`: see `fuzz_targets::parse_resolve` (fuzz/targets).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::parse_resolve(data));
