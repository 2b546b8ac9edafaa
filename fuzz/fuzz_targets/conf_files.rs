//! See `fuzz/checks/conf_files.rs` for what this target checks.
#![no_main]

#[path = "../checks/mod.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::conf_files::run(data));
