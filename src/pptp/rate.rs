//! A per-session rate limit for one direction: a token bucket that drops packets over the
//! rate (a policer, like accel-ppp's `police` shaper or `tc ... police`). Fixed state, no
//! queue: TCP backs off on the drops.

use smoltcp::time::{Duration, Instant};

/// Tokens are kept in byte-microseconds so that refills every few microseconds lose
/// nothing to rounding.
const MICROS: u64 = 1_000_000;
/// The bucket holds this long at the full rate, and at least [`MIN_BURST`] bytes, so that
/// a few back-to-back full-size packets pass even at a low rate.
const BURST_TIME: Duration = Duration::from_millis(250);
const MIN_BURST: u64 = 3 * 1500;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenBucket {
    bytes_per_sec: u64,
    /// Capacity and content, in byte-microseconds.
    capacity: u64,
    tokens: u64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket for `bits_per_sec` (at least 8 bit/s).
    // Out of line: the session's limits build two (its 64-bit divisions once, not twice).
    #[inline(never)]
    pub fn new(now: Instant, bits_per_sec: u32) -> Self {
        let bytes_per_sec = (u64::from(bits_per_sec) / 8).max(1);
        let burst = (bytes_per_sec * BURST_TIME.total_micros() / MICROS).max(MIN_BURST);
        let capacity = burst.saturating_mul(MICROS);
        TokenBucket {
            bytes_per_sec,
            capacity,
            tokens: capacity,
            last: now,
        }
    }

    /// Whether a packet of `len` bytes may pass at `now` (taking its tokens if so).
    pub fn allow(&mut self, now: Instant, len: usize) -> bool {
        if now > self.last {
            let elapsed = (now - self.last).total_micros();
            let refill = elapsed.saturating_mul(self.bytes_per_sec);
            self.tokens = self.tokens.saturating_add(refill).min(self.capacity);
            self.last = now;
        }
        let cost = (len as u64).saturating_mul(MICROS);
        if cost <= self.tokens {
            self.tokens -= cost;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Offer `len`-byte packets every `gap` for `secs`; the bytes let through.
    fn offer(bucket: &mut TokenBucket, len: usize, gap: Duration, secs: u64) -> u64 {
        let mut now = Instant::ZERO;
        let mut passed = 0;
        while now < Instant::from_secs(secs as i64) {
            if bucket.allow(now, len) {
                passed += len as u64;
            }
            now += gap;
        }
        passed
    }

    #[test]
    fn over_rate_traffic_is_cut_to_the_rate_plus_one_burst() {
        // 512 kbit/s = 64000 B/s, offered 1000-byte packets at 2 ms (500 kB/s) for 10 s.
        let mut b = TokenBucket::new(Instant::ZERO, 512_000);
        let passed = offer(&mut b, 1000, Duration::from_millis(2), 10);
        let expected = 64_000 * 10 + 16_000;
        assert!(
            passed.abs_diff(expected) <= 2_000,
            "{passed} bytes passed, expected about {expected}"
        );
    }

    #[test]
    fn under_rate_traffic_is_untouched() {
        let mut b = TokenBucket::new(Instant::ZERO, 1_000_000);
        // 100 kB/s offered, 125 kB/s allowed.
        assert_eq!(
            offer(&mut b, 1000, Duration::from_millis(10), 10),
            1_000_000
        );
    }

    #[test]
    fn tiny_rates_and_huge_packets_do_not_overflow() {
        let mut b = TokenBucket::new(Instant::ZERO, 0);
        // The minimum burst still lets a few packets through, then about 1 B/s.
        assert!(b.allow(Instant::ZERO, 1500));
        assert!(!b.allow(Instant::ZERO, usize::MAX));
        let mut b = TokenBucket::new(Instant::ZERO, u32::MAX);
        assert!(b.allow(Instant::from_secs(1_000_000_000), 65535));
        // Time going backwards takes nothing and gives nothing.
        assert!(b.allow(Instant::ZERO, 1));
    }
}
