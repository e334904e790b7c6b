//! Fuzz target `dispatch_decode`: see `fuzz_targets::dispatch_decode` (fuzz/targets).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::dispatch_decode(data));
