//! Fuzz target `auth_conf`: see `fuzz_targets::auth_conf` (fuzz/targets).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::auth_conf(data));
