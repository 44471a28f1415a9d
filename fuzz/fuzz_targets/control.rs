//! libFuzzer target: [`daned_fuzz::control`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| daned_fuzz::control(data));
