//! DES encryption of one block (FIPS 46-3), all MS-CHAPv2's ChallengeResponse needs: three
//! blocks per login, so speed does not matter. Written from the standard's tables, every
//! permutation by one bit loop: the `des` crate's 64-bit masks and multiplications made the
//! binary 1.9 KB larger on mipsel and 1.3 KB on i586.

/// Initial permutation IP (bit numbers count from 1 at the most significant bit).
const IP: [u8; 64] = [
    58, 50, 42, 34, 26, 18, 10, 2, 60, 52, 44, 36, 28, 20, 12, 4, //
    62, 54, 46, 38, 30, 22, 14, 6, 64, 56, 48, 40, 32, 24, 16, 8, //
    57, 49, 41, 33, 25, 17, 9, 1, 59, 51, 43, 35, 27, 19, 11, 3, //
    61, 53, 45, 37, 29, 21, 13, 5, 63, 55, 47, 39, 31, 23, 15, 7,
];

/// Final permutation, the inverse of IP.
const FP: [u8; 64] = [
    40, 8, 48, 16, 56, 24, 64, 32, 39, 7, 47, 15, 55, 23, 63, 31, //
    38, 6, 46, 14, 54, 22, 62, 30, 37, 5, 45, 13, 53, 21, 61, 29, //
    36, 4, 44, 12, 52, 20, 60, 28, 35, 3, 43, 11, 51, 19, 59, 27, //
    34, 2, 42, 10, 50, 18, 58, 26, 33, 1, 41, 9, 49, 17, 57, 25,
];

/// Expansion E: the 32-bit half block to 48 bits.
const E: [u8; 48] = [
    32, 1, 2, 3, 4, 5, 4, 5, 6, 7, 8, 9, 8, 9, 10, 11, 12, 13, 12, 13, 14, 15, 16, 17, //
    16, 17, 18, 19, 20, 21, 20, 21, 22, 23, 24, 25, 24, 25, 26, 27, 28, 29, 28, 29, 30, 31, 32, 1,
];

/// Permutation P of the S-boxes' 32 output bits.
const P: [u8; 32] = [
    16, 7, 20, 21, 29, 12, 28, 17, 1, 15, 23, 26, 5, 18, 31, 10, //
    2, 8, 24, 14, 32, 27, 3, 9, 19, 13, 30, 6, 22, 11, 4, 25,
];

/// Permuted choice 1: the key's 56 bits without the parity bits.
const PC1: [u8; 56] = [
    57, 49, 41, 33, 25, 17, 9, 1, 58, 50, 42, 34, 26, 18, 10, 2, 59, 51, 43, 35, 27, //
    19, 11, 3, 60, 52, 44, 36, 63, 55, 47, 39, 31, 23, 15, 7, 62, 54, 46, 38, 30, 22, //
    14, 6, 61, 53, 45, 37, 29, 21, 13, 5, 28, 20, 12, 4,
];

/// Permuted choice 2: a round's 48-bit subkey from the 56 rotated key bits.
const PC2: [u8; 48] = [
    14, 17, 11, 24, 1, 5, 3, 28, 15, 6, 21, 10, 23, 19, 12, 4, 26, 8, 16, 7, 27, 20, 13, 2, //
    41, 52, 31, 37, 47, 55, 30, 40, 51, 45, 33, 48, 44, 49, 39, 56, 34, 53, 46, 42, 50, 36, 29, 32,
];

/// Left rotations of the two 28-bit key halves before each round.
const SHIFTS: [u8; 16] = [1, 1, 2, 2, 2, 2, 2, 2, 1, 2, 2, 2, 2, 2, 2, 1];

/// The S-boxes as the standard prints them: 4 rows (outer input bits) of 16 columns (inner
/// four bits).
#[rustfmt::skip]
const S_BOXES: [[u8; 64]; 8] = [
    [14, 4, 13, 1, 2, 15, 11, 8, 3, 10, 6, 12, 5, 9, 0, 7,
     0, 15, 7, 4, 14, 2, 13, 1, 10, 6, 12, 11, 9, 5, 3, 8,
     4, 1, 14, 8, 13, 6, 2, 11, 15, 12, 9, 7, 3, 10, 5, 0,
     15, 12, 8, 2, 4, 9, 1, 7, 5, 11, 3, 14, 10, 0, 6, 13],
    [15, 1, 8, 14, 6, 11, 3, 4, 9, 7, 2, 13, 12, 0, 5, 10,
     3, 13, 4, 7, 15, 2, 8, 14, 12, 0, 1, 10, 6, 9, 11, 5,
     0, 14, 7, 11, 10, 4, 13, 1, 5, 8, 12, 6, 9, 3, 2, 15,
     13, 8, 10, 1, 3, 15, 4, 2, 11, 6, 7, 12, 0, 5, 14, 9],
    [10, 0, 9, 14, 6, 3, 15, 5, 1, 13, 12, 7, 11, 4, 2, 8,
     13, 7, 0, 9, 3, 4, 6, 10, 2, 8, 5, 14, 12, 11, 15, 1,
     13, 6, 4, 9, 8, 15, 3, 0, 11, 1, 2, 12, 5, 10, 14, 7,
     1, 10, 13, 0, 6, 9, 8, 7, 4, 15, 14, 3, 11, 5, 2, 12],
    [7, 13, 14, 3, 0, 6, 9, 10, 1, 2, 8, 5, 11, 12, 4, 15,
     13, 8, 11, 5, 6, 15, 0, 3, 4, 7, 2, 12, 1, 10, 14, 9,
     10, 6, 9, 0, 12, 11, 7, 13, 15, 1, 3, 14, 5, 2, 8, 4,
     3, 15, 0, 6, 10, 1, 13, 8, 9, 4, 5, 11, 12, 7, 2, 14],
    [2, 12, 4, 1, 7, 10, 11, 6, 8, 5, 3, 15, 13, 0, 14, 9,
     14, 11, 2, 12, 4, 7, 13, 1, 5, 0, 15, 10, 3, 9, 8, 6,
     4, 2, 1, 11, 10, 13, 7, 8, 15, 9, 12, 5, 6, 3, 0, 14,
     11, 8, 12, 7, 1, 14, 2, 13, 6, 15, 0, 9, 10, 4, 5, 3],
    [12, 1, 10, 15, 9, 2, 6, 8, 0, 13, 3, 4, 14, 7, 5, 11,
     10, 15, 4, 2, 7, 12, 9, 5, 6, 1, 13, 14, 0, 11, 3, 8,
     9, 14, 15, 5, 2, 8, 12, 3, 7, 0, 4, 10, 1, 13, 11, 6,
     4, 3, 2, 12, 9, 5, 15, 10, 11, 14, 1, 7, 6, 0, 8, 13],
    [4, 11, 2, 14, 15, 0, 8, 13, 3, 12, 9, 7, 5, 10, 6, 1,
     13, 0, 11, 7, 4, 9, 1, 10, 14, 3, 5, 12, 2, 15, 8, 6,
     1, 4, 11, 13, 12, 3, 7, 14, 10, 15, 6, 8, 0, 5, 9, 2,
     6, 11, 13, 8, 1, 4, 10, 7, 9, 5, 0, 15, 14, 2, 3, 12],
    [13, 2, 8, 4, 6, 15, 11, 1, 10, 9, 3, 14, 5, 0, 12, 7,
     1, 15, 13, 8, 10, 3, 7, 4, 12, 5, 6, 11, 0, 14, 9, 2,
     7, 11, 4, 1, 9, 12, 14, 2, 0, 6, 10, 13, 15, 3, 5, 8,
     2, 1, 14, 7, 4, 10, 8, 13, 15, 12, 9, 0, 3, 5, 6, 11],
];

/// The S-boxes indexed by the 6 input bits as they come (row = outer bits, column = inner
/// ones), two 4-bit outputs per byte: 256 bytes instead of 512, built at compile time.
const S_PACKED: [[u8; 32]; 8] = {
    let mut packed = [[0u8; 32]; 8];
    let mut i = 0;
    while i < 8 {
        let mut input = 0;
        while input < 64 {
            let row = (input & 0x20) >> 4 | (input & 1);
            let column = (input >> 1) & 0xF;
            let value = S_BOXES[i][row * 16 + column];
            packed[i][input / 2] |= value << (4 * (input % 2));
            input += 1;
        }
        i += 1;
    }
    packed
};

/// The bits of the `width`-bit `input` that `table` picks, in its order (the result has
/// `table.len()` bits).
fn permute(input: u64, width: u32, table: &[u8]) -> u64 {
    table.iter().fold(0, |out, &bit| {
        (out << 1) | ((input >> (width - u32::from(bit))) & 1)
    })
}

/// The round function f: expand the half block, mix in the subkey, S-boxes, P. The halves
/// and the key halves are `u32`: 64-bit shifts and rotations are several instructions each on
/// 32-bit boards.
fn f(half: u32, subkey: u64) -> u32 {
    let mut x = permute(u64::from(half), 32, &E) ^ subkey;
    let mut s = 0u32;
    // S8 takes the low six bits: walk the boxes from the last, shifting by constant amounts.
    for (i, sbox) in S_PACKED.iter().enumerate().rev() {
        let input = (x & 0x3F) as usize;
        x >>= 6;
        s |= u32::from((sbox[input / 2] >> (4 * (input % 2))) & 0xF) << (4 * (7 - i));
    }
    permute(u64::from(s), 32, &P) as u32
}

/// Encrypt one 8-byte block under an 8-byte key (whose parity bits are ignored).
pub fn encrypt_block(key: &[u8; 8], block: &[u8; 8]) -> [u8; 8] {
    let key = permute(u64::from_be_bytes(*key), 64, &PC1);
    let (mut c, mut d) = ((key >> 28) as u32, key as u32 & 0x0FFF_FFFF);
    let b = permute(u64::from_be_bytes(*block), 64, &IP);
    let (mut l, mut r) = ((b >> 32) as u32, b as u32);
    for &shift in &SHIFTS {
        let shift = u32::from(shift);
        c = ((c << shift) | (c >> (28 - shift))) & 0x0FFF_FFFF;
        d = ((d << shift) | (d >> (28 - shift))) & 0x0FFF_FFFF;
        let subkey = permute((u64::from(c) << 28) | u64::from(d), 56, &PC2);
        (l, r) = (r, l ^ f(r, subkey));
    }
    permute((u64::from(r) << 32) | u64::from(l), 64, &FP).to_be_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fips_known_answers() {
        // The worked example of many DES texts (key 133457799BBCDFF1).
        assert_eq!(
            encrypt_block(
                &0x1334_5779_9BBC_DFF1u64.to_be_bytes(),
                &0x0123_4567_89AB_CDEFu64.to_be_bytes()
            ),
            0x85E8_1354_0F0A_B405u64.to_be_bytes()
        );
        // NBS SP 500-20 variable plaintext test, first entry: key 0101..01.
        assert_eq!(
            encrypt_block(
                &0x0101_0101_0101_0101u64.to_be_bytes(),
                &0x8000_0000_0000_0000u64.to_be_bytes()
            ),
            0x95F8_A5E5_DD31_D900u64.to_be_bytes()
        );
    }

    #[test]
    fn same_as_the_des_crate() {
        use des::cipher::{BlockCipherEncrypt, KeyInit};
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..20_000 {
            let key = next().to_be_bytes();
            let block = next().to_be_bytes();
            let mut want = block.into();
            des::Des::new_from_slice(&key)
                .unwrap()
                .encrypt_block(&mut want);
            let want: [u8; 8] = want.into();
            assert_eq!(encrypt_block(&key, &block), want);
        }
    }
}
