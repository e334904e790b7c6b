//! Fuzz target `server_engine`: see `fuzz_targets::server_engine` (fuzz/targets).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::server_engine(data));
