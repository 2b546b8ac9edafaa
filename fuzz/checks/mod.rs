//! What each fuzz target checks, shared by the libFuzzer binaries (`fuzz/fuzz_targets/`)
//! and by `tests/fuzz_regressions.rs`, which replays the seeds and every crash ever found
//! under plain `cargo test`. Both include this directory with `#[path]`, so the checks
//! cannot drift apart.
//!
//! A check panics (or an `assert!` fails) exactly when the input shows a bug: a parser
//! panicked, a round trip changed a value, a state machine broke one of its invariants.

#![allow(dead_code)]

pub mod conf_files;
pub mod control_connection;
pub mod gre_channel;
pub mod mppe_decrypt;
pub mod server;
pub mod wire_parsers;

/// A target's check: panics on a bug.
pub type Check = fn(&[u8]);

/// Every target: its name (the `fuzz/fuzz_targets/<name>.rs` binary and the
/// `fuzz/seeds/<name>/`, `fuzz/regressions/<name>/` directories) and its check.
pub const TARGETS: &[(&str, Check)] = &[
    ("wire_parsers", wire_parsers::run),
    ("control_connection", control_connection::run),
    ("gre_channel", gre_channel::run),
    ("mppe_decrypt", mppe_decrypt::run),
    ("conf_files", conf_files::run),
    ("server", server::run),
];

/// Seed inputs for every target (name, input): written to `fuzz/seeds/` by the ignored
/// `write_seeds` test, and replayed by the regression test.
pub fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let mut all = Vec::new();
    for (name, seeds) in [
        ("wire_parsers", wire_parsers::seeds()),
        ("control_connection", control_connection::seeds()),
        ("gre_channel", gre_channel::seeds()),
        ("mppe_decrypt", mppe_decrypt::seeds()),
        ("conf_files", conf_files::seeds()),
        ("server", server::seeds()),
    ] {
        all.extend(seeds.into_iter().map(|s| (name, s)));
    }
    all
}

/// Turn on every log level with a logger that formats each message and throws it away, so
/// the `Display`/`Debug` code behind log lines runs on fuzzed values too.
pub fn init_logging() {
    struct Sink;
    impl log::Log for Sink {
        fn enabled(&self, _: &log::Metadata) -> bool {
            true
        }
        fn log(&self, record: &log::Record) {
            use std::io::Write;
            let _ = write!(std::io::sink(), "{} {}", record.level(), record.args());
        }
        fn flush(&self) {}
    }
    static SINK: Sink = Sink;
    if log::set_logger(&SINK).is_ok() {
        log::set_max_level(log::LevelFilter::Trace);
    }
}

/// Reads a fuzz input as a stream of small values; once it runs dry every read gives 0
/// (or empty), so any input is a valid, finite program.
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Input { data }
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    pub fn bool(&mut self) -> bool {
        self.u8() & 1 != 0
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }

    pub fn u32(&mut self) -> u32 {
        u32::from_be_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    /// Up to `n` bytes (fewer at the end of the input).
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (taken, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        taken
    }

    /// A length-prefixed byte string (16-bit length).
    pub fn chunk(&mut self) -> &'a [u8] {
        let n = usize::from(self.u16());
        self.bytes(n)
    }

    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        self.bytes(self.data.len())
    }
}

/// Builds seed inputs in the format [`Input`] reads.
#[derive(Default)]
pub struct Script(pub Vec<u8>);

impl Script {
    pub fn u8(mut self, v: u8) -> Self {
        self.0.push(v);
        self
    }

    pub fn u16(mut self, v: u16) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }

    pub fn u32(mut self, v: u32) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }

    pub fn bytes(mut self, v: &[u8]) -> Self {
        self.0.extend_from_slice(v);
        self
    }

    pub fn chunk(self, v: &[u8]) -> Self {
        self.u16(v.len() as u16).bytes(v)
    }
}
