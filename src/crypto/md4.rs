//! MD4 (RFC 1320), for MS-CHAPv2's password hashes: a few blocks per login, so speed does not
//! matter. Its 48 steps run as one loop over the RFC's tables: the `md4` crate, with its
//! unrolled rounds and generic buffering, made the binary 0.9 KB larger on mipsel, 0.6 KB on
//! i586.

/// Which word of the block each of the 48 steps adds (RFC 1320 §3.4, rounds 1 to 3).
const WORD: [u8; 48] = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, //
    0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15, //
    0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15,
];

/// The rotation of each step, by round and position in a group of four.
const SHIFT: [[u32; 4]; 3] = [[3, 7, 11, 19], [3, 5, 9, 13], [3, 9, 11, 15]];

/// The constant each round adds.
const ROUND_CONSTANT: [u32; 3] = [0, 0x5A82_7999, 0x6ED9_EBA1];

/// An MD4 computation fed whole 64-byte blocks, then the short tail.
pub struct Md4 {
    state: [u32; 4],
    /// Bytes hashed so far.
    len: u64,
}

impl Md4 {
    pub fn new() -> Md4 {
        Md4 {
            state: [0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476],
            len: 0,
        }
    }

    /// The next 64 bytes of the message.
    pub fn block(&mut self, block: &[u8; 64]) {
        compress(&mut self.state, block);
        self.len += 64;
    }

    /// The message's last bytes (any length; whole blocks in it are hashed as such) and the
    /// padding: the digest.
    pub fn finish(mut self, mut tail: &[u8]) -> [u8; 16] {
        while let Some((block, rest)) = tail.split_first_chunk::<64>() {
            self.block(block);
            tail = rest;
        }
        let bits = (self.len + tail.len() as u64) * 8;
        let mut last = [0u8; 64];
        last[..tail.len()].copy_from_slice(tail);
        last[tail.len()] = 0x80;
        if tail.len() >= 56 {
            compress(&mut self.state, &last);
            last = [0; 64];
        }
        last[56..].copy_from_slice(&bits.to_le_bytes());
        compress(&mut self.state, &last);
        super::wipe(&mut last);
        let mut digest = [0u8; 16];
        digest.copy_from_slice(self.state.map(u32::to_le_bytes).as_flattened());
        digest
    }
}

impl Default for Md4 {
    fn default() -> Md4 {
        Md4::new()
    }
}

/// MD4 of `data`.
pub fn digest(data: &[u8]) -> [u8; 16] {
    Md4::new().finish(data)
}

fn compress(state: &mut [u32; 4], block: &[u8; 64]) {
    let [mut a, mut b, mut c, mut d] = *state;
    for (step, &word) in WORD.iter().enumerate() {
        let round = step / 16;
        let mix = match round {
            0 => (b & c) | (!b & d),
            1 => (b & c) | (b & d) | (c & d),
            _ => b ^ c ^ d,
        };
        // `% 64` only tells the compiler the four bytes are in the block (`word` < 16).
        let at = 4 * usize::from(word) % 64;
        let x = u32::from_le_bytes([block[at], block[at + 1], block[at + 2], block[at + 3]]);
        let t = a
            .wrapping_add(mix)
            .wrapping_add(x)
            .wrapping_add(ROUND_CONSTANT[round])
            .rotate_left(SHIFT[round][step % 4]);
        // The next step updates d with (t, b, c) as its a, b, c: rotate the names.
        (a, b, c, d) = (d, t, b, c);
    }
    state[0] = state[0].wrapping_add(a);
    state[1] = state[1].wrapping_add(b);
    state[2] = state[2].wrapping_add(c);
    state[3] = state[3].wrapping_add(d);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1320_test_suite() {
        let cases: [(&[u8], [u8; 16]); 4] = [
            (
                b"",
                *b"\x31\xd6\xcf\xe0\xd1\x6a\xe9\x31\xb7\x3c\x59\xd7\xe0\xc0\x89\xc0",
            ),
            (
                b"abc",
                *b"\xa4\x48\x01\x7a\xaf\x21\xd8\x52\x5f\xc1\x0a\xe8\x7a\xa6\x72\x9d",
            ),
            (
                b"message digest",
                *b"\xd9\x13\x0a\x81\x64\x54\x9f\xe8\x18\x87\x48\x06\xe1\xc7\x01\x4b",
            ),
            (
                b"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
                *b"\xe3\x3b\x4d\xdc\x9c\x38\xf2\x19\x9c\x3e\x7b\x16\x4f\xcc\x05\x36",
            ),
        ];
        for (message, want) in cases {
            assert_eq!(digest(message), want);
        }
    }

    #[test]
    fn same_as_the_md4_crate_at_every_length_around_the_blocks() {
        use md4::Digest;
        let data: [u8; 200] = core::array::from_fn(|i| (i * 37 + 11) as u8);
        for len in 0..data.len() {
            let want: [u8; 16] = md4::Md4::digest(&data[..len]).into();
            assert_eq!(digest(&data[..len]), want, "length {len}");
            // Fed as whole blocks first, as nt_password_hash does.
            let mut streamed = Md4::new();
            let blocks = len / 64;
            for block in data[..blocks * 64].chunks_exact(64) {
                streamed.block(block.try_into().unwrap());
            }
            assert_eq!(
                streamed.finish(&data[blocks * 64..len]),
                want,
                "length {len}"
            );
        }
    }
}
