//! Randomness comes from the caller: the core never reads a device or a clock.
//! The daemon fills it from the kernel (`getrandom`); tests use a seeded generator.

/// A source of unpredictable bytes (challenges, magic numbers, call IDs).
pub trait Random {
    fn fill_bytes(&mut self, buf: &mut [u8]);

    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_be_bytes(b)
    }
}

/// xorshift64*: deterministic, for tests and fuzzing only. Not for production challenges.
pub struct XorShift(pub u64);

impl XorShift {
    /// One step: the new state, times the output multiplier.
    fn step(&mut self) -> u64 {
        let mut x = self.0 | 1;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

impl Random for XorShift {
    fn fill_bytes(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.step().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }

    /// What the default gives (the first four bytes of one step, read big-endian), from the
    /// low half of the product alone: a 32-bit multiply on 32-bit boards, and no copy.
    fn next_u32(&mut self) -> u32 {
        (self.step() as u32).swap_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The trait's own `next_u32`, through `fill_bytes`.
    struct Default4(XorShift);

    impl Random for Default4 {
        fn fill_bytes(&mut self, buf: &mut [u8]) {
            self.0.fill_bytes(buf)
        }
    }

    #[test]
    fn next_u32_is_the_default_one() {
        for seed in [0, 1, 7, 0x1234, u64::MAX, 0xC0FF_EE00_1234] {
            let (mut a, mut b) = (XorShift(seed), Default4(XorShift(seed)));
            for _ in 0..10_000 {
                assert_eq!(a.next_u32(), b.next_u32());
            }
            assert_eq!(a.0, b.0 .0);
        }
    }
}
