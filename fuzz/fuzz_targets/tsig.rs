//! libFuzzer target: [`daned_fuzz::tsig`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| daned_fuzz::tsig(data));
