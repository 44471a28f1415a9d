//! libFuzzer target: [`daned_fuzz::certificate`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| daned_fuzz::certificate(data));
