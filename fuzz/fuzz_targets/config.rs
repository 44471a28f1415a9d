//! libFuzzer target: [`daned_fuzz::config`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| daned_fuzz::config(data));
