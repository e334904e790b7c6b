//! Fuzz target `tls_certs`: see `fuzz_targets::tls_certs` (fuzz/targets).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::tls_certs(data));
