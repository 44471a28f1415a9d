//! libFuzzer target: [`daned_fuzz::zonefile`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| daned_fuzz::zonefile(data));
