//! Fuzz target `client_auth_open`: see `fuzz_targets::client_auth_open` (fuzz/targets).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::client_auth_open(data));
