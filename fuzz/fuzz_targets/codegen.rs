//! Fuzz target `codegen`: see `fuzz_targets::codegen` (fuzz/targets).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::codegen(data));
