//! Fuzz target `sasl_layer`: see `fuzz_targets::sasl_layer` (fuzz/targets).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::sasl_layer(data));
