//! libFuzzer target: [`daned_fuzz::keys`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| daned_fuzz::keys(data));
