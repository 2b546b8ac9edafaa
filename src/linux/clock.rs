//! The daemon's clock: CLOCK_MONOTONIC, because smoltcp's `Instant::now()` reads the wall
//! clock (`SystemTime`), which NTP and the admin can move under running timers.

use smoltcp::time::Instant;

/// Monotonic time since an unspecified start (boot), as a smoltcp `Instant`.
pub fn now() -> Instant {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // CLOCK_MONOTONIC cannot fail with a valid pointer; keep zero if it somehow does.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    // time_t and c_long are 32 bits on 32-bit musl: widen first.
    #[allow(clippy::useless_conversion)]
    let micros = i64::from(ts.tv_sec)
        .saturating_mul(1_000_000)
        .saturating_add(i64::from(ts.tv_nsec) / 1_000);
    Instant::from_micros(micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_and_advancing() {
        let a = now();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let b = now();
        assert!(b > a);
        let elapsed = (b - a).total_millis();
        assert!((19..2000).contains(&elapsed), "elapsed {elapsed} ms");
        assert!(a.total_micros() > 0);
    }
}
