//! See `fuzz/checks/gre_channel.rs` for what this target checks.
#![no_main]

#[path = "../checks/mod.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::gre_channel::run(data));
