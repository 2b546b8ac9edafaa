//! MS-CHAPv2 (RFC 2759 §8): the NT password hash, the 24-byte NT-Response the peer sends and
//! the authenticator response ("S=...") the server answers with.

use md4::{Digest, Md4};

/// "Magic server to client signing constant" (RFC 2759 §8.7).
const MAGIC1: &[u8; 39] = b"Magic server to client signing constant";
/// "Pad to make it do more than one iteration" (RFC 2759 §8.7).
const MAGIC2: &[u8; 41] = b"Pad to make it do more than one iteration";

/// NtPasswordHash: MD4 of the password in UTF-16LE, without a terminating NUL.
///
/// `password` is UTF-8 (chap-secrets files are); characters outside the BMP become surrogate
/// pairs, as Windows encodes them. Bytes that are not valid UTF-8 are taken as Latin-1 and
/// zero-extended, which is what pppd does with every byte.
pub fn nt_password_hash(password: &[u8]) -> [u8; 16] {
    let mut md4 = Md4::new();
    // Stream the UTF-16LE form through a small stack buffer instead of allocating it.
    let mut buf = [0u8; 64];
    let mut used = 0;
    let mut push = |unit: u16, md4: &mut Md4| {
        if used == buf.len() {
            md4.update(&buf[..]);
            used = 0;
        }
        buf[used..used + 2].copy_from_slice(&unit.to_le_bytes());
        used += 2;
    };
    for chunk in password.utf8_chunks() {
        for c in chunk.valid().chars() {
            let mut units = [0u16; 2];
            for &unit in c.encode_utf16(&mut units).iter() {
                push(unit, &mut md4);
            }
        }
        for &byte in chunk.invalid() {
            push(u16::from(byte), &mut md4);
        }
    }
    md4.update(&buf[..used]);
    let hash = md4.finalize().into();
    super::wipe(&mut buf);
    hash
}

/// HashNtPasswordHash: MD4 of the 16-byte password hash.
pub fn hash_nt_password_hash(password_hash: &[u8; 16]) -> [u8; 16] {
    Md4::digest(password_hash).into()
}

/// The user name that goes into ChallengeHash: the part after the last `\`, so that a
/// `DOMAIN\user` login hashes as `user` (RFC 2759 §8.2; pppd uses `strrchr`).
pub fn strip_domain(user_name: &[u8]) -> &[u8] {
    match user_name.iter().rposition(|&b| b == b'\\') {
        Some(i) => &user_name[i + 1..],
        None => user_name,
    }
}

/// ChallengeHash: the first 8 bytes of SHA-1(PeerChallenge || AuthenticatorChallenge ||
/// UserName without its domain).
pub fn challenge_hash(
    peer_challenge: &[u8; 16],
    auth_challenge: &[u8; 16],
    user_name: &[u8],
) -> [u8; 8] {
    let digest = super::sha1(&[peer_challenge, auth_challenge, strip_domain(user_name)]);
    let mut challenge = [0u8; 8];
    challenge.copy_from_slice(&digest.0[..8]);
    challenge
}

/// Spreads 56 key bits over 8 bytes (7 bits each, in bits 7..1) and sets odd parity in bit
/// 0, as DES keys are written (RFC 2759 §8.6 DesEncrypt; pppd MakeKey).
pub fn expand_des_key(key7: &[u8; 7]) -> [u8; 8] {
    let mut bits = [0u8; 8];
    bits[1..].copy_from_slice(key7);
    // The 56 bits at the top, taken seven at a time by constant shifts.
    let mut bits = u64::from_be_bytes(bits) << 8;
    let mut key = [0u8; 8];
    for byte in key.iter_mut() {
        let shifted = (bits >> 56) as u8 & 0xFE;
        bits <<= 7;
        // Odd parity: the low bit makes the count of ones odd.
        *byte = shifted | u8::from(shifted.count_ones().is_multiple_of(2));
    }
    key
}

fn des_encrypt(key7: &[u8; 7], clear: &[u8; 8]) -> [u8; 8] {
    super::des::encrypt_block(&expand_des_key(key7), clear)
}

/// ChallengeResponse: the 8-byte challenge DES-encrypted under the three 7-byte thirds of
/// the password hash padded with five zero bytes.
pub fn challenge_response(challenge: &[u8; 8], password_hash: &[u8; 16]) -> [u8; 24] {
    let mut z = [0u8; 21];
    z[..16].copy_from_slice(password_hash);
    let mut response = [0u8; 24];
    for (third, out) in response.chunks_exact_mut(8).enumerate() {
        let mut key7 = [0u8; 7];
        key7.copy_from_slice(&z[7 * third..7 * third + 7]);
        out.copy_from_slice(&des_encrypt(&key7, challenge));
        super::wipe(&mut key7);
    }
    super::wipe(&mut z);
    response
}

/// GenerateNTResponse, from the password hash (which is all a server needs to store).
pub fn generate_nt_response(
    auth_challenge: &[u8; 16],
    peer_challenge: &[u8; 16],
    user_name: &[u8],
    password_hash: &[u8; 16],
) -> [u8; 24] {
    let challenge = challenge_hash(peer_challenge, auth_challenge, user_name);
    challenge_response(&challenge, password_hash)
}

/// GenerateAuthenticatorResponse: `S=` followed by 40 upper-case hex digits (Windows rejects
/// lower case).
pub fn generate_authenticator_response(
    password_hash: &[u8; 16],
    nt_response: &[u8; 24],
    peer_challenge: &[u8; 16],
    auth_challenge: &[u8; 16],
    user_name: &[u8],
) -> [u8; 42] {
    let password_hash_hash = hash_nt_password_hash(password_hash);
    let digest = super::sha1(&[&password_hash_hash, nt_response, MAGIC1]);
    let challenge = challenge_hash(peer_challenge, auth_challenge, user_name);
    let digest = super::sha1(&[&digest.0, &challenge, MAGIC2]);
    let mut out = [0u8; 42];
    out[0] = b'S';
    out[1] = b'=';
    hex_upper(&digest.0, &mut out[2..]);
    out
}

/// Writes `bytes` as upper-case hex into `out` (which must hold twice as many bytes; extra
/// input is ignored).
pub fn hex_upper(bytes: &[u8], out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    for (byte, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0x0F)];
    }
}

/// Compares two byte strings in time that depends only on their lengths, so a forged
/// NT-Response learns nothing from how long the check took.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    core::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER: &[u8] = b"User";
    const PASSWORD: &[u8] = b"clientPass";
    const AUTH_CHALLENGE: [u8; 16] = [
        0x5B, 0x5D, 0x7C, 0x7D, 0x7B, 0x3F, 0x2F, 0x3E, 0x3C, 0x2C, 0x60, 0x21, 0x32, 0x26, 0x26,
        0x28,
    ];
    const PEER_CHALLENGE: [u8; 16] = [
        0x21, 0x40, 0x23, 0x24, 0x25, 0x5E, 0x26, 0x2A, 0x28, 0x29, 0x5F, 0x2B, 0x3A, 0x33, 0x7C,
        0x7E,
    ];
    const PASSWORD_HASH: [u8; 16] = [
        0x44, 0xEB, 0xBA, 0x8D, 0x53, 0x12, 0xB8, 0xD6, 0x11, 0x47, 0x44, 0x11, 0xF5, 0x69, 0x89,
        0xAE,
    ];
    const NT_RESPONSE: [u8; 24] = [
        0x82, 0x30, 0x9E, 0xCD, 0x8D, 0x70, 0x8B, 0x5E, 0xA0, 0x8F, 0xAA, 0x39, 0x81, 0xCD, 0x83,
        0x54, 0x42, 0x33, 0x11, 0x4A, 0x3D, 0x85, 0xD6, 0xDF,
    ];

    /// MD4 over an explicit UTF-16LE buffer, to check the streaming encoder against.
    fn md4_of_units(units: &[u16]) -> [u8; 16] {
        let mut md4 = Md4::new();
        for u in units {
            md4.update(u.to_le_bytes());
        }
        md4.finalize().into()
    }

    #[test]
    fn rfc2759_9_2_intermediate_values() {
        assert_eq!(nt_password_hash(PASSWORD), PASSWORD_HASH);
        assert_eq!(
            challenge_hash(&PEER_CHALLENGE, &AUTH_CHALLENGE, USER),
            [0xD0, 0x2E, 0x43, 0x86, 0xBC, 0xE9, 0x12, 0x26]
        );
        assert_eq!(
            generate_nt_response(&AUTH_CHALLENGE, &PEER_CHALLENGE, USER, &PASSWORD_HASH),
            NT_RESPONSE
        );
        assert_eq!(
            hash_nt_password_hash(&PASSWORD_HASH),
            [
                0x41, 0xC0, 0x0C, 0x58, 0x4B, 0xD2, 0xD9, 0x1C, 0x40, 0x17, 0xA2, 0xA1, 0x2F, 0xA5,
                0x9F, 0x3F
            ]
        );
        let auth = generate_authenticator_response(
            &PASSWORD_HASH,
            &NT_RESPONSE,
            &PEER_CHALLENGE,
            &AUTH_CHALLENGE,
            USER,
        );
        assert_eq!(&auth, b"S=407A5589115FD0D6209F510FE9C04566932CDA56");
    }

    #[test]
    fn domain_prefix_is_not_hashed() {
        let plain = challenge_hash(&PEER_CHALLENGE, &AUTH_CHALLENGE, USER);
        assert_eq!(
            challenge_hash(&PEER_CHALLENGE, &AUTH_CHALLENGE, b"CORP\\User"),
            plain
        );
        assert_eq!(
            challenge_hash(&PEER_CHALLENGE, &AUTH_CHALLENGE, b"A\\B\\User"),
            plain
        );
        assert_ne!(
            challenge_hash(&PEER_CHALLENGE, &AUTH_CHALLENGE, b"user"),
            plain
        );
        assert_eq!(strip_domain(b"DOM\\"), b"");
        assert_eq!(strip_domain(b""), b"");
    }

    #[test]
    fn rfc2759_9_3_des_key_expansion() {
        let hash = nt_password_hash(b"MyPw");
        assert_eq!(
            hash,
            [
                0xFC, 0x15, 0x6A, 0xF7, 0xED, 0xCD, 0x6C, 0x0E, 0xDD, 0xE3, 0x33, 0x7D, 0x42, 0x7F,
                0x4E, 0xAC
            ]
        );
        assert_eq!(
            expand_des_key(&[0xFC, 0x15, 0x6A, 0xF7, 0xED, 0xCD, 0x6C]),
            [0xFD, 0x0B, 0x5B, 0x5E, 0x7F, 0x6E, 0x34, 0xD9]
        );
        assert_eq!(
            expand_des_key(&[0x0E, 0xDD, 0xE3, 0x33, 0x7D, 0x42, 0x7F]),
            [0x0E, 0x6E, 0x79, 0x67, 0x37, 0xEA, 0x08, 0xFE]
        );
    }

    #[test]
    fn rfc2433_b2_challenge_response() {
        let challenge = [0x10, 0x2D, 0xB5, 0xDF, 0x08, 0x5D, 0x30, 0x41];
        assert_eq!(
            challenge_response(&challenge, &nt_password_hash(b"MyPw")),
            [
                0x4E, 0x9D, 0x3C, 0x8F, 0x9C, 0xFD, 0x38, 0x5D, 0x5B, 0xF4, 0xD3, 0x24, 0x67, 0x91,
                0x95, 0x6C, 0xA4, 0xC3, 0x51, 0xAB, 0x40, 0x9A, 0x3D, 0x61
            ]
        );
    }

    #[test]
    fn pppd_des_self_test() {
        // pppd crypto.c: DES-ECB with key 00 01 .. 07 over Magic2 of RFC 3079, first block.
        let key = [0, 1, 2, 3, 4, 5, 6, 7];
        let block = crate::crypto::des::encrypt_block(&key, b"On the c");
        assert_eq!(block, [0x45, 0xDB, 0x80, 0x45, 0x16, 0xD0, 0x6D, 0x60]);
    }

    #[test]
    fn md4_known_answers() {
        assert_eq!(
            nt_password_hash(b""),
            [
                0x31, 0xD6, 0xCF, 0xE0, 0xD1, 0x6A, 0xE9, 0x31, 0xB7, 0x3C, 0x59, 0xD7, 0xE0, 0xC0,
                0x89, 0xC0
            ]
        );
    }

    #[test]
    fn non_ascii_passwords_are_real_utf16() {
        // "pässwörd€" has BMP characters above Latin-1 (€ = U+20AC).
        let pw = "pässwörd€";
        let units: [u16; 9] = {
            let mut u = [0u16; 9];
            for (d, s) in u.iter_mut().zip(pw.encode_utf16()) {
                *d = s;
            }
            u
        };
        assert_eq!(nt_password_hash(pw.as_bytes()), md4_of_units(&units));
        // U+1F511 (key emoji) is a surrogate pair D83D DD11.
        assert_eq!(
            nt_password_hash("a\u{1F511}b".as_bytes()),
            md4_of_units(&[0x61, 0xD83D, 0xDD11, 0x62])
        );
        // Invalid UTF-8 falls back to Latin-1 like pppd: 0xE9 is é.
        assert_eq!(
            nt_password_hash(b"caf\xE9"),
            nt_password_hash("café".as_bytes())
        );
    }

    #[test]
    fn long_password_crosses_the_stream_buffer() {
        let pw = [b'x'; 100];
        let units = [u16::from(b'x'); 100];
        assert_eq!(nt_password_hash(&pw), md4_of_units(&units));
        let units = [u16::from(b'x'); 32];
        assert_eq!(nt_password_hash(&pw[..32]), md4_of_units(&units));
    }

    #[test]
    fn constant_time_compare() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(ct_eq(b"", b""));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
        assert!(!ct_eq(&NT_RESPONSE, &[0; 24]));
    }

    #[test]
    fn hex_is_upper_case() {
        let mut out = [0u8; 6];
        hex_upper(&[0x0A, 0xBC, 0xF0], &mut out);
        assert_eq!(&out, b"0ABCF0");
    }
}
