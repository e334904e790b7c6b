//! Fuzz target `typed_params`: see `fuzz_targets::typed_params` (fuzz/targets).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::typed_params(data));
