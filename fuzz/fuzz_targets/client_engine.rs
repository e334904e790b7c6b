//! Fuzz target `client_engine`: see `fuzz_targets::client_engine` (fuzz/targets).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::client_engine(data));
