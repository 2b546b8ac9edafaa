//! See `fuzz/checks/mppe_decrypt.rs` for what this target checks.
#![no_main]

#[path = "../checks/mod.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::mppe_decrypt::run(data));
