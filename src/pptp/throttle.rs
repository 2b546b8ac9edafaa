//! Failed-authentication throttle per client address: after [`FAILURES_ALLOWED`] failed
//! logins from one address within [`FAILURE_WINDOW`], its calls are refused for
//! [`FIRST_BLOCK`]; each new block soon after the last one doubles, up to [`MAX_BLOCK`].
//! A password guesser gets a handful of tries a minute instead of thousands.
//!
//! The table is fixed (`limits::SOURCE_TABLE` addresses, no allocation). When it is full, the
//! least recently seen address that is not being refused is forgotten; only if every address
//! is being refused does the oldest of those go.

use core::net::Ipv4Addr;
use smoltcp::time::{Duration, Instant};

use crate::limits::SOURCE_TABLE;

/// Failed authentications from one address tolerated within [`FAILURE_WINDOW`].
pub const FAILURES_ALLOWED: u8 = 3;
/// The window in which failures count towards a block.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// The first refusal period for an address.
pub const FIRST_BLOCK: Duration = Duration::from_secs(30);
/// Refusal periods double up to this; an address quiet this long after its last block
/// starts again at [`FIRST_BLOCK`].
pub const MAX_BLOCK: Duration = Duration::from_secs(600);

#[derive(Clone, Copy, Debug)]
struct Record {
    /// As a word (`u32::from_ne_bytes(octets)`): an `Ipv4Addr` (alignment 1) among the
    /// one-byte fields took unaligned load pairs on MIPS at every compare.
    address: u32,
    last_seen: Instant,
    /// Start of the current counting window and the failures in it.
    window_start: Instant,
    failures: u8,
    /// The current (or last) refusal: its end and its length, for the doubling.
    blocked_until: Option<Instant>,
    last_block: Duration,
}

impl Record {
    fn is_blocked(&self, now: Instant) -> bool {
        self.blocked_until.is_some_and(|until| now < until)
    }

    /// Nothing worth remembering: no recent failure, no block or back-off history in force.
    fn is_stale(&self, now: Instant) -> bool {
        let window_over = now >= self.window_start + FAILURE_WINDOW || self.failures == 0;
        let backoff_over = self
            .blocked_until
            .is_none_or(|until| now >= until + MAX_BLOCK);
        window_over && backoff_over
    }
}

fn word(address: Ipv4Addr) -> u32 {
    u32::from_ne_bytes(address.octets())
}

pub struct AuthThrottle {
    records: [Option<Record>; SOURCE_TABLE],
}

impl Default for AuthThrottle {
    fn default() -> Self {
        Self::new()
    }
}

impl AuthThrottle {
    pub const fn new() -> Self {
        AuthThrottle {
            records: [None; SOURCE_TABLE],
        }
    }

    /// How much longer calls from `address` are refused, if they are.
    pub fn blocked_for(&self, address: Ipv4Addr, now: Instant) -> Option<Duration> {
        let record = self.find(address)?;
        let until = record.blocked_until?;
        (now < until).then(|| until - now)
    }

    /// A failed authentication from `address`. Returns the refusal period if this failure
    /// starts one.
    pub fn record_failure(&mut self, address: Ipv4Addr, now: Instant) -> Option<Duration> {
        let slot = self.slot_for(address, now);
        let record = self.records[slot].get_or_insert(Record {
            address: word(address),
            last_seen: now,
            window_start: now,
            failures: 0,
            blocked_until: None,
            last_block: Duration::ZERO,
        });
        record.last_seen = now;
        if record.is_blocked(now) {
            // A call already running when the block started; the block stands as it is.
            return None;
        }
        if now >= record.window_start + FAILURE_WINDOW {
            record.window_start = now;
            record.failures = 0;
        }
        record.failures = record.failures.saturating_add(1);
        if record.failures < FAILURES_ALLOWED {
            return None;
        }
        let recent_block = record
            .blocked_until
            .is_some_and(|until| now < until + MAX_BLOCK);
        let block = if recent_block {
            (record.last_block * 2).min(MAX_BLOCK)
        } else {
            FIRST_BLOCK
        };
        record.blocked_until = Some(now + block);
        record.last_block = block;
        record.failures = 0;
        record.window_start = now;
        Some(block)
    }

    /// A successful authentication from `address`: its failures so far are forgiven (a
    /// block in force, and the back-off history, stay).
    pub fn record_success(&mut self, address: Ipv4Addr, now: Instant) {
        if let Some(record) = self.find_mut(address) {
            record.failures = 0;
            record.last_seen = now;
        }
    }

    /// Addresses remembered (for tests and status).
    pub fn len(&self) -> usize {
        self.records.iter().flatten().count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn find(&self, address: Ipv4Addr) -> Option<&Record> {
        let address = word(address);
        self.records.iter().flatten().find(|r| r.address == address)
    }

    fn find_mut(&mut self, address: Ipv4Addr) -> Option<&mut Record> {
        self.records
            .iter_mut()
            .flatten()
            .find(|r| r.address == word(address))
    }

    /// The slot holding `address`, or the one to (re)use for it: a free or stale slot, else
    /// the least recently seen unblocked address, else the least recently seen of all.
    // Out of line on ARM and x86 (-24 B armv7, -12 B i586); inlined on MIPS (+48 B there).
    #[cfg_attr(not(target_arch = "mips"), inline(never))]
    fn slot_for(&mut self, address: Ipv4Addr, now: Instant) -> usize {
        // One pass: the address's own slot wins wherever it is; else the first free or
        // stale slot; else the oldest by (blocked, last seen): unblocked addresses first, on
        // a tie the first slot (every slot is then held, so slot 0 starts the search).
        let address = word(address);
        let mut free = None;
        let mut oldest = (0, (true, Instant::from_micros_const(i64::MAX)));
        for (i, r) in self.records.iter().enumerate() {
            match r {
                Some(r) if r.address == address => return i,
                Some(r) if !r.is_stale(now) => {
                    let key = (r.is_blocked(now), r.last_seen);
                    if key < oldest.1 {
                        oldest = (i, key);
                    }
                }
                _ => {
                    free = free.or(Some(i));
                }
            }
        }
        let i = free.unwrap_or(oldest.0);
        if let Some(r) = self.records[i].take() {
            if free.is_none() {
                crate::debug!(
                    "Auth throttle: table full, forgetting {}",
                    Ipv4Addr::from(r.address.to_ne_bytes())
                );
            }
        }
        i
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rand::{Random, XorShift};

    const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 7);
    const B: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 9);

    fn at(secs: u64) -> Instant {
        Instant::from_secs(1000 + secs as i64)
    }

    #[test]
    fn three_failures_in_a_minute_block_for_thirty_seconds() {
        let mut t = AuthThrottle::new();
        assert_eq!(t.record_failure(A, at(0)), None);
        assert_eq!(t.record_failure(A, at(20)), None);
        assert_eq!(t.blocked_for(A, at(21)), None);
        assert_eq!(t.record_failure(A, at(40)), Some(FIRST_BLOCK));
        assert_eq!(t.blocked_for(A, at(41)), Some(Duration::from_secs(29)));
        assert_eq!(t.blocked_for(B, at(41)), None, "other addresses unaffected");
        assert_eq!(t.blocked_for(A, at(70)), None, "expired");
    }

    #[test]
    fn failures_spread_over_more_than_a_minute_do_not_block() {
        let mut t = AuthThrottle::new();
        for i in 0..10 {
            assert_eq!(t.record_failure(A, at(i * 31)), None, "failure {i}");
        }
    }

    #[test]
    fn blocks_double_up_to_ten_minutes_then_reset_after_quiet() {
        let mut t = AuthThrottle::new();
        let mut now = 0;
        let mut blocks = Vec::new();
        for _ in 0..7 {
            t.record_failure(A, at(now));
            t.record_failure(A, at(now));
            let block = t.record_failure(A, at(now)).unwrap();
            blocks.push(block.secs());
            now += block.secs();
        }
        assert_eq!(blocks, [30, 60, 120, 240, 480, 600, 600]);
        // Ten quiet minutes after the last block: back to the first period.
        now += MAX_BLOCK.secs();
        t.record_failure(A, at(now));
        t.record_failure(A, at(now));
        assert_eq!(t.record_failure(A, at(now)), Some(FIRST_BLOCK));
    }

    #[test]
    fn failures_during_a_block_do_not_extend_it() {
        let mut t = AuthThrottle::new();
        for _ in 0..3 {
            t.record_failure(A, at(0));
        }
        for _ in 0..10 {
            assert_eq!(t.record_failure(A, at(5)), None);
        }
        assert_eq!(t.blocked_for(A, at(5)), Some(Duration::from_secs(25)));
    }

    #[test]
    fn success_forgives_earlier_failures() {
        let mut t = AuthThrottle::new();
        t.record_failure(A, at(0));
        t.record_failure(A, at(1));
        t.record_success(A, at(2));
        assert_eq!(t.record_failure(A, at(3)), None);
        assert_eq!(t.record_failure(A, at(4)), None);
        assert_eq!(t.record_failure(A, at(5)), Some(FIRST_BLOCK));
    }

    #[test]
    fn full_table_keeps_blocked_addresses_and_forgets_the_oldest_other() {
        let mut t = AuthThrottle::new();
        for _ in 0..3 {
            t.record_failure(A, at(0));
        }
        // Fill the rest with addresses that have one recent failure each.
        for i in 0..SOURCE_TABLE as u32 + 5 {
            let addr = Ipv4Addr::from(0x0A00_0000 + i);
            t.record_failure(addr, at(1 + u64::from(i) / 100));
        }
        assert_eq!(t.len(), SOURCE_TABLE);
        assert!(
            t.blocked_for(A, at(2)).is_some(),
            "the blocked address stays"
        );
    }

    #[test]
    fn stale_records_are_reused_first() {
        let mut t = AuthThrottle::new();
        for i in 0..SOURCE_TABLE as u32 {
            t.record_failure(Ipv4Addr::from(0x0A00_0000 + i), at(0));
        }
        // Long after: every record is stale, so a new address never evicts a live one.
        t.record_failure(B, at(3600));
        assert_eq!(t.len(), SOURCE_TABLE);
        assert!(t.find(B).is_some());
    }

    #[test]
    fn random_sequences_never_panic() {
        let mut rng = XorShift(0x7B0771E);
        let mut t = AuthThrottle::new();
        let mut now = 0u64;
        for _ in 0..20_000 {
            now += u64::from(rng.next_u32() % 50);
            let addr = Ipv4Addr::from(0x0A00_0000 + rng.next_u32() % 200);
            match rng.next_u32() % 3 {
                0 => {
                    t.record_failure(addr, at(now));
                }
                1 => t.record_success(addr, at(now)),
                _ => {
                    if let Some(d) = t.blocked_for(addr, at(now)) {
                        assert!(d <= MAX_BLOCK);
                    }
                }
            }
            assert!(t.len() <= SOURCE_TABLE);
        }
    }
}
