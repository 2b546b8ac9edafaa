//! A `log` backend for tests that keeps the server's log lines in a fixed ring, so a test
//! can assert that a line was logged.
//!
//! The server logs from inside `poll`, where the harness counts allocations: a line is
//! formatted into a fixed buffer and copied into a static ring under a mutex, so logging
//! allocates nothing. Lines are tagged with the capturing thread ([`Capture::start`]), so
//! tests running in parallel threads see only their own server's lines.
//!
//! `SMOLPPTP_TEST_LOG=1` also prints every line on stderr (which may allocate: tests that
//! count allocations can then fail).
#![allow(dead_code)]

use std::cell::Cell;
use std::fmt::Write;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Mutex, Once};

/// Lines kept (all threads together), and bytes per line (longer lines are cut).
const LINES: usize = 8192;
const LINE_LEN: usize = 192;

struct Ring {
    text: [[u8; LINE_LEN]; LINES],
    len: [u8; LINES],
    tag: [u32; LINES],
    /// Sequence number of each line, to find the lines after a mark.
    seq: [u64; LINES],
    next_seq: u64,
}

static RING: Mutex<Ring> = Mutex::new(Ring {
    text: [[0; LINE_LEN]; LINES],
    len: [0; LINES],
    tag: [0; LINES],
    seq: [0; LINES],
    next_seq: 0,
});

static NEXT_TAG: AtomicU32 = AtomicU32::new(1);
static ECHO: AtomicBool = AtomicBool::new(false);
static INSTALL: Once = Once::new();

thread_local! {
    static TAG: Cell<u32> = const { Cell::new(0) };
}

/// Writes into a fixed buffer, dropping what does not fit.
struct Fixed<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl Write for Fixed<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let room = self.buf.len() - self.len;
        let mut n = s.len().min(room);
        while !s.is_char_boundary(n) {
            n -= 1;
        }
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

struct CaptureLog;

impl log::Log for CaptureLog {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }

    fn log(&self, record: &log::Record) {
        let tag = TAG.try_with(|t| t.get()).unwrap_or(0);
        let mut line = [0u8; LINE_LEN];
        let mut w = Fixed {
            buf: &mut line,
            len: 0,
        };
        let _ = write!(w, "{:5} {}", record.level(), record.args());
        let len = w.len;
        if ECHO.load(Ordering::Relaxed) {
            eprintln!("server[{tag}] {}", String::from_utf8_lossy(&line[..len]));
        }
        let mut ring = RING.lock().unwrap_or_else(|e| e.into_inner());
        let seq = ring.next_seq;
        let i = (seq % LINES as u64) as usize;
        ring.text[i] = line;
        ring.len[i] = len as u8;
        ring.tag[i] = tag;
        ring.seq[i] = seq;
        ring.next_seq = seq + 1;
    }

    fn flush(&self) {}
}

static LOGGER: CaptureLog = CaptureLog;

/// Make the capturing logger the process's logger (at Trace level). Call before
/// `Net::new`, whose own stderr logger then stays out.
pub fn install() {
    INSTALL.call_once(|| {
        ECHO.store(
            std::env::var_os("SMOLPPTP_TEST_LOG").is_some(),
            Ordering::Relaxed,
        );
        let _ = log::set_logger(&LOGGER);
        log::set_max_level(log::LevelFilter::Trace);
    });
}

/// The log lines of the server(s) driven by the current thread.
pub struct Capture {
    tag: u32,
}

/// A point in the log: lines logged after it.
#[derive(Clone, Copy, Debug)]
pub struct Mark(u64);

impl Capture {
    /// Capture what is logged on this thread from now on.
    pub fn start() -> Capture {
        install();
        let tag = NEXT_TAG.fetch_add(1, Ordering::Relaxed);
        TAG.with(|t| t.set(tag));
        Capture { tag }
    }

    pub fn mark(&self) -> Mark {
        Mark(RING.lock().unwrap_or_else(|e| e.into_inner()).next_seq)
    }

    /// This thread's lines since `mark`, oldest first (those still in the ring).
    pub fn since(&self, mark: Mark) -> Vec<String> {
        let ring = RING.lock().unwrap_or_else(|e| e.into_inner());
        let first = mark.0.max(ring.next_seq.saturating_sub(LINES as u64));
        (first..ring.next_seq)
            .map(|seq| (seq % LINES as u64) as usize)
            .filter(|&i| ring.tag[i] == self.tag)
            .map(|i| String::from_utf8_lossy(&ring.text[i][..ring.len[i] as usize]).into_owned())
            .collect()
    }

    /// Lines since `mark` containing `needle`.
    pub fn matching(&self, mark: Mark, needle: &str) -> Vec<String> {
        self.since(mark)
            .into_iter()
            .filter(|l| l.contains(needle))
            .collect()
    }

    /// Panic (showing the lines) unless a line since `mark` contains `needle`; that line.
    pub fn expect(&self, mark: Mark, needle: &str) -> String {
        let lines = self.since(mark);
        match lines.iter().find(|l| l.contains(needle)) {
            Some(l) => l.clone(),
            None => panic!(
                "no server log line containing {needle:?}; lines since the mark:\n  {}",
                lines.join("\n  ")
            ),
        }
    }

    /// Panic unless some line since `mark` contains one of `needles`.
    pub fn expect_any(&self, mark: Mark, needles: &[&str]) -> String {
        let lines = self.since(mark);
        match lines
            .iter()
            .find(|l| needles.iter().any(|needle| l.contains(needle)))
        {
            Some(l) => l.clone(),
            None => panic!(
                "no server log line containing any of {needles:?}; lines since the mark:\n  {}",
                lines.join("\n  ")
            ),
        }
    }
}
