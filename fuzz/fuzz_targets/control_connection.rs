//! See `fuzz/checks/control_connection.rs` for what this target checks.
#![no_main]

#[path = "../checks/mod.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::control_connection::run(data));
