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

impl Random for XorShift {
    fn fill_bytes(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let mut x = self.0 | 1;
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            self.0 = x;
            let v = x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}
