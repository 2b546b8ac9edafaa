//! See `fuzz/checks/wire_parsers.rs` for what this target checks.
#![no_main]

#[path = "../checks/mod.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::wire_parsers::run(data));
