//! Fuzz target `frame_decoder`: see `fuzz_targets::frame_decoder` (fuzz/targets).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::frame_decoder(data));
