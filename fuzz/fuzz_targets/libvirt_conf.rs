//! Fuzz target `libvirt_conf`: see `fuzz_targets::libvirt_conf` (fuzz/targets).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::libvirt_conf(data));
