//! libFuzzer target: [`daned_fuzz::query`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| daned_fuzz::query(data));
