//! MPPE (RFC 3078) with keys from MS-CHAPv2 (RFC 3079 §3): the start keys of each direction,
//! the key changes and the per-packet RC4 encrypter and decrypter.
//!
//! The behaviour where the RFCs are vague follows the Linux `ppp_mppe` module, which every
//! client we meet interoperates with: the first packet carries coherency count 0 and, in
//! stateless mode, is already encrypted after one key change; a stateful sender changes its
//! key on each "flag" packet (count & 0xFF == 0xFF) and after a CCP Reset-Request, and sets
//! FLUSHED on those packets.

use rc4::{KeyInit, Rc4, StreamCipher};

use super::mschapv2::hash_nt_password_hash;
use super::{sha1, wipe};
use crate::wire::mppe::{Header, CCOUNT_MODULUS};

/// "This is the MPPE Master Key" (RFC 3079 §3.4).
const MASTER_MAGIC: &[u8; 27] = b"This is the MPPE Master Key";
/// Client send key = server receive key.
const MAGIC2: &[u8; 84] =
    b"On the client side, this is the send key; on the server side, it is the receive key.";
/// Client receive key = server send key.
const MAGIC3: &[u8; 84] =
    b"On the client side, this is the receive key; on the server side, it is the send key.";
const SHS_PAD1: [u8; 40] = [0x00; 40];
const SHS_PAD2: [u8; 40] = [0xF2; 40];

/// Half of the coherency count space: a count further ahead than this is taken as a late
/// packet from behind (newer Linux "Discard late packet").
const LATE_WINDOW: u16 = CCOUNT_MODULUS / 2;

/// Negotiated session key strength. 40- and 56-bit keys are 8 bytes with the first bytes
/// forced to a fixed salt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyLength {
    Bits40,
    Bits56,
    Bits128,
}

impl KeyLength {
    /// Bytes of key material used by RC4 and by the key derivation.
    pub const fn bytes(self) -> usize {
        match self {
            KeyLength::Bits40 | KeyLength::Bits56 => 8,
            KeyLength::Bits128 => 16,
        }
    }

    /// Lowers the effective strength of a freshly derived key (RFC 3079 §3.3/§3.2).
    fn reduce(self, key: &mut [u8; 16]) {
        match self {
            KeyLength::Bits40 => key[..3].copy_from_slice(&[0xD1, 0x26, 0x9E]),
            KeyLength::Bits56 => key[0] = 0xD1,
            KeyLength::Bits128 => {}
        }
    }
}

/// GetMasterKey: the first 16 bytes of SHA-1(PasswordHashHash || NT-Response || Magic1).
pub fn master_key(password_hash_hash: &[u8; 16], nt_response: &[u8; 24]) -> Key {
    let digest = sha1(&[password_hash_hash, nt_response, MASTER_MAGIC]);
    first_16(&digest.0)
}

/// GetAsymmetricStartKey: the start key of one direction, `key_len` bytes (at most 16; the
/// rest of the array is zero). The server sends with Magic3 and receives with Magic2; the
/// client the other way round.
pub fn asymmetric_start_key(
    master: &[u8; 16],
    key_len: usize,
    is_send: bool,
    is_server: bool,
) -> Key {
    let magic = if is_send == is_server { MAGIC3 } else { MAGIC2 };
    let digest = sha1(&[master, &SHS_PAD1, magic, &SHS_PAD2]);
    let mut key = first_16(&digest.0);
    clear_tail(&mut key.0, key_len);
    key
}

/// GetNewKeyFromSHA: SHA-1(StartKey || SHSpad1 || SessionKey || SHSpad2) over the first
/// `key_len` bytes of each key, truncated to `key_len` (at most 16; the rest is zero).
pub fn get_new_key_from_sha(start_key: &[u8; 16], session_key: &[u8; 16], key_len: usize) -> Key {
    let n = key_len.min(16);
    let digest = sha1(&[&start_key[..n], &SHS_PAD1, &session_key[..n], &SHS_PAD2]);
    let mut key = first_16(&digest.0);
    clear_tail(&mut key.0, n);
    key
}

/// The session key before any key change: GetNewKeyFromSHA(start, start), reduced.
pub fn initial_session_key(start_key: &[u8; 16], len: KeyLength) -> Key {
    let mut key = get_new_key_from_sha(start_key, start_key, len.bytes());
    len.reduce(&mut key.0);
    key
}

/// One key change (RFC 3078 §7.3, as Linux `mppe_rekey` does it): the interim key from SHA-1
/// is encrypted with RC4 under itself, then reduced.
pub fn change_key(start_key: &[u8; 16], session_key: &[u8; 16], len: KeyLength) -> Key {
    let n = len.bytes();
    let mut key = get_new_key_from_sha(start_key, session_key, n);
    let mut rc4 = rc4_with(&key.0[..n]);
    rc4.apply_keystream(&mut key.0[..n]);
    len.reduce(&mut key.0);
    key
}

/// A 16-byte key, word-aligned: returned or kept as a bare `[u8; 16]` (alignment 1), it was
/// written and copied with unaligned load/store pairs on MIPS.
#[derive(Clone, Copy)]
#[repr(align(4))]
pub struct Key(pub [u8; 16]);

/// The MPPE start keys of one link, one per direction, 16 bytes (40/56-bit use the first 8,
/// which are exactly the shorter start keys).
#[derive(Clone, PartialEq, Eq)]
#[repr(align(4))]
pub struct StartKeys {
    /// Start key for what this side sends.
    pub send: [u8; 16],
    /// Start key for what this side receives.
    pub recv: [u8; 16],
}

impl StartKeys {
    /// Keys for the authenticator, from the user's password hash and the NT-Response of the
    /// first successful authentication.
    pub fn server(password_hash: &[u8; 16], nt_response: &[u8; 24]) -> StartKeys {
        Self::derive(password_hash, nt_response, true)
    }

    /// Keys for the peer (the client); its `send` is the server's `recv` and vice versa.
    pub fn client(password_hash: &[u8; 16], nt_response: &[u8; 24]) -> StartKeys {
        Self::derive(password_hash, nt_response, false)
    }

    fn derive(password_hash: &[u8; 16], nt_response: &[u8; 24], is_server: bool) -> StartKeys {
        let mut hash_hash = hash_nt_password_hash(password_hash);
        let mut master = master_key(&hash_hash, nt_response);
        let keys = StartKeys {
            send: asymmetric_start_key(&master.0, 16, true, is_server).0,
            recv: asymmetric_start_key(&master.0, 16, false, is_server).0,
        };
        wipe(&mut hash_hash);
        wipe(&mut master.0);
        keys
    }
}

impl core::fmt::Debug for StartKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        f.write_str("StartKeys { .. }")
    }
}

impl Drop for StartKeys {
    fn drop(&mut self) {
        wipe(&mut self.send);
        wipe(&mut self.recv);
    }
}

/// Why a received MPPE packet was not decrypted. Every case means: drop the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecryptError {
    /// The D bit is clear: the peer sent plain data inside MPPE.
    NotEncrypted,
    /// The A bit is clear where it is required (every stateless packet, every stateful flag
    /// packet).
    NotFlushed,
    /// A duplicate or a packet from behind (`(ccount - last) mod 4096` is 0 or above 2048);
    /// dropping it keeps the key chain in step.
    Late,
    /// Stateful: a packet was lost. Send a CCP Reset-Request; the decrypter now discards
    /// everything until a packet with the A bit.
    NeedReset,
    /// Stateful: still discarding after a loss, waiting for a packet with the A bit.
    AwaitingFlush,
    /// Stateless: the plaintext is not what the peer sends (see
    /// [`Decrypter::decrypt_checked`]), so the packet is forged or corrupt; the key chain did
    /// not move.
    Implausible,
}

/// The key chain of one direction: the start key and the current session key.
///
/// Word-aligned with the keys first: with the one-byte `len` laid out in front, every copy and
/// access of the keys took unaligned load/store pairs on MIPS.
#[derive(Clone)]
#[repr(C, align(4))]
struct KeyChain {
    start: Key,
    session: Key,
    len: KeyLength,
}

impl KeyChain {
    fn new(start_key: &[u8; 16], len: KeyLength) -> KeyChain {
        let mut start = Key(*start_key);
        clear_tail(&mut start.0, len.bytes());
        KeyChain {
            session: initial_session_key(&start.0, len),
            start,
            len,
        }
    }

    fn change(&mut self) {
        self.session = change_key(&self.start.0, &self.session.0, self.len);
    }

    /// A fresh RC4 state on the current session key.
    fn cipher(&self) -> Rc4 {
        rc4_with(&self.session.0[..self.len.bytes()])
    }
}

impl Drop for KeyChain {
    fn drop(&mut self) {
        wipe(&mut self.start.0);
        wipe(&mut self.session.0);
    }
}

/// Encrypts what we send on one link.
pub struct Encrypter {
    keys: KeyChain,
    rc4: Rc4,
    stateless: bool,
    /// Count of the last packet sent; starts at 4095 so the first packet carries 0.
    ccount: u16,
    flush_pending: bool,
}

impl Encrypter {
    pub fn new(start_key: &[u8; 16], len: KeyLength, stateless: bool) -> Encrypter {
        let keys = KeyChain::new(start_key, len);
        Encrypter {
            rc4: keys.cipher(),
            keys,
            stateless,
            ccount: CCOUNT_MODULUS - 1,
            flush_pending: false,
        }
    }

    /// Encrypts `data` (the inner PPP protocol field, two bytes, then the payload) in place
    /// and returns the MPPE header to put in front of it.
    pub fn encrypt(&mut self, data: &mut [u8]) -> Header {
        self.ccount = (self.ccount + 1) % CCOUNT_MODULUS;
        let flag_packet = self.ccount & 0xFF == 0xFF;
        let flushed = self.stateless || flag_packet || self.flush_pending;
        if flushed {
            self.keys.change();
            self.rc4 = self.keys.cipher();
            self.flush_pending = false;
        }
        self.rc4.apply_keystream(data);
        Header {
            flushed,
            compressed_b: false,
            compressed_c: false,
            encrypted: true,
            coherency_count: self.ccount,
        }
    }

    /// The peer sent a CCP Reset-Request: change the key and set FLUSHED on the next packet.
    /// (Stateless mode does that on every packet anyway.)
    pub fn flush(&mut self) {
        self.flush_pending = true;
    }

    /// Coherency count of the last packet encrypted.
    pub fn coherency_count(&self) -> u16 {
        self.ccount
    }
}

impl core::fmt::Debug for Encrypter {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        f.debug_struct("Encrypter")
            .field("len", &self.keys.len)
            .field("stateless", &self.stateless)
            .field("ccount", &self.ccount)
            .finish_non_exhaustive()
    }
}

/// Decrypts what we receive on one link.
pub struct Decrypter {
    keys: KeyChain,
    rc4: Rc4,
    stateless: bool,
    /// Count of the last packet accepted (stateful and discarding: the count expected next).
    ccount: u16,
    discarding: bool,
}

impl Decrypter {
    pub fn new(start_key: &[u8; 16], len: KeyLength, stateless: bool) -> Decrypter {
        let keys = KeyChain::new(start_key, len);
        Decrypter {
            rc4: keys.cipher(),
            keys,
            stateless,
            ccount: CCOUNT_MODULUS - 1,
            discarding: false,
        }
    }

    /// Decrypts `data` (everything after the MPPE header) in place. The result starts with
    /// the inner protocol field, which the peer may have PFC-compressed to one odd byte.
    /// On error the packet must be dropped; `data` is then unchanged, except after
    /// [`DecryptError::Implausible`].
    pub fn decrypt(&mut self, header: Header, data: &mut [u8]) -> Result<(), DecryptError> {
        self.decrypt_checked(header, data, |_| true)
    }

    /// [`decrypt`](Self::decrypt), where in stateless mode the key chain only moves to the
    /// packet's count if `plausible` accepts the plaintext. The MPPE header is not
    /// authenticated: without this, one forged packet claiming a count far ahead moved the
    /// chain there, and every real packet after it was "late" until the peer caught up.
    /// Refusing is safe, because in stateless mode a dropped packet is a lost one and costs
    /// the next packet nothing. A forged packet still costs the key changes it claims, as in
    /// Linux. Stateful mode has one continuous keystream and is not checked.
    pub fn decrypt_checked(
        &mut self,
        header: Header,
        data: &mut [u8],
        plausible: impl FnOnce(&[u8]) -> bool,
    ) -> Result<(), DecryptError> {
        if !header.encrypted {
            return Err(DecryptError::NotEncrypted);
        }
        let ccount = header.coherency_count % CCOUNT_MODULUS;
        if self.stateless {
            return self.decrypt_stateless(header.flushed, ccount, data, plausible);
        }
        self.sync_stateful(header.flushed, ccount)?;
        self.rc4.apply_keystream(data);
        Ok(())
    }

    /// Stateless (RFC 3078 §8.1): one key change per count elapsed, so lost packets cost
    /// nothing; late and duplicate packets are dropped before touching the key chain.
    fn decrypt_stateless(
        &mut self,
        flushed: bool,
        ccount: u16,
        data: &mut [u8],
        plausible: impl FnOnce(&[u8]) -> bool,
    ) -> Result<(), DecryptError> {
        if !flushed {
            return Err(DecryptError::NotFlushed);
        }
        let ahead = ccount.wrapping_sub(self.ccount) % CCOUNT_MODULUS;
        if ahead == 0 || ahead > LATE_WINDOW {
            return Err(DecryptError::Late);
        }
        let mut keys = self.keys.clone();
        for _ in 0..ahead {
            keys.change();
        }
        keys.cipher().apply_keystream(data);
        if !plausible(data) {
            return Err(DecryptError::Implausible);
        }
        self.keys = keys;
        self.ccount = ccount;
        Ok(())
    }

    /// Stateful (RFC 3078 §8.2): one continuous keystream, so any gap needs a resync through
    /// a FLUSHED packet.
    fn sync_stateful(&mut self, flushed: bool, ccount: u16) -> Result<(), DecryptError> {
        if ccount & 0xFF == 0xFF && !flushed {
            return Err(DecryptError::NotFlushed);
        }
        let expected = (self.ccount + 1) % CCOUNT_MODULUS;
        if !self.discarding {
            let ahead = ccount.wrapping_sub(self.ccount) % CCOUNT_MODULUS;
            if ahead == 0 || ahead > LATE_WINDOW {
                return Err(DecryptError::Late);
            }
            if ccount != expected {
                self.discarding = true;
                self.ccount = expected;
                if !flushed {
                    return Err(DecryptError::NeedReset);
                }
                // A FLUSHED packet right after the gap resynchronises on its own.
            }
        }
        if self.discarding {
            if !flushed {
                return Err(DecryptError::AwaitingFlush);
            }
            // The sender changed its key on every flag packet we missed: one per 256-block
            // boundary between the count we expected and this one.
            while ccount & !0xFF != self.ccount & !0xFF {
                self.keys.change();
                self.ccount = (self.ccount + 0x100) % CCOUNT_MODULUS;
            }
            self.discarding = false;
        }
        self.ccount = ccount;
        if flushed {
            self.keys.change();
            self.rc4 = self.keys.cipher();
        }
        Ok(())
    }

    /// Coherency count of the last packet accepted.
    pub fn coherency_count(&self) -> u16 {
        self.ccount
    }
}

impl core::fmt::Debug for Decrypter {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        f.debug_struct("Decrypter")
            .field("len", &self.keys.len)
            .field("stateless", &self.stateless)
            .field("ccount", &self.ccount)
            .field("discarding", &self.discarding)
            .finish_non_exhaustive()
    }
}

fn rc4_with(key: &[u8]) -> Rc4 {
    // Keys here are 8 or 16 bytes; RC4 takes 1..=256.
    Rc4::new_from_slice(key).expect("MPPE keys are 8 or 16 bytes")
}

fn first_16(digest: &[u8]) -> Key {
    let mut key = Key([0u8; 16]);
    key.0.copy_from_slice(&digest[..16]);
    key
}

fn clear_tail(key: &mut [u8; 16], len: usize) {
    if let Some(tail) = key.get_mut(len..) {
        tail.fill(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::mschapv2::nt_password_hash;
    use crate::rand::{Random, XorShift};

    const NT_RESPONSE: [u8; 24] = [
        0x82, 0x30, 0x9E, 0xCD, 0x8D, 0x70, 0x8B, 0x5E, 0xA0, 0x8F, 0xAA, 0x39, 0x81, 0xCD, 0x83,
        0x54, 0x42, 0x33, 0x11, 0x4A, 0x3D, 0x85, 0xD6, 0xDF,
    ];
    const MASTER: [u8; 16] = [
        0xFD, 0xEC, 0xE3, 0x71, 0x7A, 0x8C, 0x83, 0x8C, 0xB3, 0x88, 0xE5, 0x27, 0xAE, 0x3C, 0xDD,
        0x31,
    ];
    const SERVER_SEND_START: [u8; 16] = [
        0x8B, 0x7C, 0xDC, 0x14, 0x9B, 0x99, 0x3A, 0x1B, 0xA1, 0x18, 0xCB, 0x15, 0x3F, 0x56, 0xDC,
        0xCB,
    ];
    const SERVER_RECV_START: [u8; 16] = [
        0xD5, 0xF0, 0xE9, 0x52, 0x1E, 0x3E, 0xA9, 0x58, 0x96, 0x45, 0xE8, 0x60, 0x51, 0xC8, 0x22,
        0x26,
    ];
    const TEST_MESSAGE: &[u8; 12] = b"test message";

    fn hex(s: &str) -> heapless::Vec<u8, 64> {
        let digits: heapless::Vec<u8, 128> =
            s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        digits
            .chunks(2)
            .map(|p| u8::from_str_radix(core::str::from_utf8(p).unwrap(), 16).unwrap())
            .collect()
    }

    fn key16(s: &str) -> [u8; 16] {
        let mut k = [0u8; 16];
        let v = hex(s);
        k[..v.len()].copy_from_slice(&v);
        k
    }

    fn rc4(key: &[u8], data: &[u8]) -> heapless::Vec<u8, 64> {
        let mut out: heapless::Vec<u8, 64> = heapless::Vec::from_slice(data).unwrap();
        rc4_with(key).apply_keystream(&mut out);
        out
    }

    #[test]
    fn rfc3079_master_and_start_keys() {
        let hash_hash = hash_nt_password_hash(&nt_password_hash(b"clientPass"));
        assert_eq!(master_key(&hash_hash, &NT_RESPONSE).0, MASTER);
        assert_eq!(
            asymmetric_start_key(&MASTER, 16, true, true).0,
            SERVER_SEND_START
        );
        assert_eq!(
            asymmetric_start_key(&MASTER, 16, false, true).0,
            SERVER_RECV_START
        );
        // The client's directions are the server's swapped.
        assert_eq!(
            asymmetric_start_key(&MASTER, 16, false, false).0,
            SERVER_SEND_START
        );
        assert_eq!(
            asymmetric_start_key(&MASTER, 16, true, false).0,
            SERVER_RECV_START
        );
        assert_eq!(
            asymmetric_start_key(&MASTER, 8, true, true).0,
            key16("8B 7C DC 14 9B 99 3A 1B")
        );
    }

    #[test]
    fn rfc3079_3_5_1_forty_bit() {
        let start = asymmetric_start_key(&MASTER, 8, true, true).0;
        let session = initial_session_key(&start, KeyLength::Bits40).0;
        assert_eq!(session, key16("D1 26 9E C4 9F A6 2E 3E"));
        assert_eq!(
            rc4(&session[..8], TEST_MESSAGE),
            hex("92 91 37 91 7E 58 03 D6 68 D7 58 98")
        );
    }

    #[test]
    fn rfc3079_3_5_2_fifty_six_bit_with_erratum() {
        let start = asymmetric_start_key(&MASTER, 8, true, true).0;
        let session = initial_session_key(&start, KeyLength::Bits56).0;
        assert_eq!(session, key16("D1 5C 00 C4 9F A6 2E 3E"));
        // The RFC prints a last octet of 58; B8 is the correct value (protocol.md §4.7).
        assert_eq!(
            rc4(&session[..8], TEST_MESSAGE),
            hex("3F 10 68 33 FA 44 8D A8 42 BC 57 B8")
        );
    }

    #[test]
    fn rfc3079_3_5_3_one_twenty_eight_bit() {
        let session = initial_session_key(&SERVER_SEND_START, KeyLength::Bits128).0;
        assert_eq!(
            session,
            key16("40 5C B2 24 7A 79 56 E6 E2 11 00 7A E2 7B 22 D4")
        );
        assert_eq!(
            rc4(&session, TEST_MESSAGE),
            hex("81 84 83 17 DF 68 84 62 72 FB 5A BE")
        );
    }

    #[test]
    fn start_keys_for_both_sides() {
        let hash = nt_password_hash(b"clientPass");
        let server = StartKeys::server(&hash, &NT_RESPONSE);
        let client = StartKeys::client(&hash, &NT_RESPONSE);
        assert_eq!(server.send, SERVER_SEND_START);
        assert_eq!(server.recv, SERVER_RECV_START);
        assert_eq!(client.send, server.recv);
        assert_eq!(client.recv, server.send);
        assert_eq!(format!("{server:?}"), "StartKeys { .. }");
    }

    /// K0..K3 of a key chain (protocol.md §4.8).
    fn chain(start: &[u8; 16], len: KeyLength) -> [[u8; 16]; 4] {
        let mut k = [initial_session_key(start, len).0; 4];
        for i in 1..4 {
            k[i] = change_key(start, &k[i - 1], len).0;
        }
        k
    }

    const PLAIN: &[u8] = b"\x00\x21test message";

    /// Encrypts two packets and checks headers and ciphertexts for ccount 0 and 1.
    fn check_packets(start: &[u8; 16], len: KeyLength, ct0: &str, ct1: &str) {
        let mut enc = Encrypter::new(start, len, true);
        let mut dec = Decrypter::new(start, len, true);
        for (i, ct) in [ct0, ct1].into_iter().enumerate() {
            let mut data = [0u8; 14];
            data.copy_from_slice(PLAIN);
            let header = enc.encrypt(&mut data);
            assert_eq!(header.to_bytes(), [0x90, i as u8]);
            assert_eq!(&data[..], &hex(ct)[..]);
            dec.decrypt(header, &mut data).unwrap();
            assert_eq!(&data[..], PLAIN);
        }
    }

    #[test]
    fn derived_128_bit_server_to_client() {
        let k = chain(&SERVER_SEND_START, KeyLength::Bits128);
        assert_eq!(
            k[0],
            key16("40 5C B2 24 7A 79 56 E6 E2 11 00 7A E2 7B 22 D4")
        );
        assert_eq!(
            k[1],
            key16("72 6F 10 50 0E 2B 54 13 5B 1B 74 D7 68 2F 04 71")
        );
        assert_eq!(
            k[2],
            key16("28 05 BC 78 69 BE C8 25 57 3A 78 03 E9 5A 3A CD")
        );
        assert_eq!(
            k[3],
            key16("58 12 8C 36 CA BD 54 96 81 39 FD 94 B5 88 3D 4A")
        );
        check_packets(
            &SERVER_SEND_START,
            KeyLength::Bits128,
            "70 58 22 4E 93 1B 78 D7 B6 15 FA 44 18 31",
            "35 3C 95 4C D5 45 CE 31 27 AE 68 F6 EA F7",
        );
    }

    #[test]
    fn derived_128_bit_client_to_server() {
        let k = chain(&SERVER_RECV_START, KeyLength::Bits128);
        assert_eq!(
            k[0],
            key16("49 D1 1D 0F 0C C6 BE FB A2 A9 B4 B6 88 F9 1E EE")
        );
        assert_eq!(
            k[1],
            key16("0E 09 C1 08 10 1D FD DE F6 C0 E2 F2 D9 5D 0B AD")
        );
        assert_eq!(
            k[2],
            key16("03 27 34 39 AC 5F 94 C9 7F 13 D9 13 3D F4 DF C5")
        );
        assert_eq!(
            k[3],
            key16("14 64 89 FC DB CD DF ED 41 08 5F B0 E7 DB 01 66")
        );
        check_packets(
            &SERVER_RECV_START,
            KeyLength::Bits128,
            "3F 79 A9 FD 05 90 D2 48 2F 52 F5 0E EE 55",
            "FB 2E 73 58 75 11 6F CE 85 7F B1 B0 79 A8",
        );
    }

    #[test]
    fn derived_40_bit_both_directions() {
        // Full 16-byte start keys: only the first 8 bytes may matter.
        let k = chain(&SERVER_SEND_START, KeyLength::Bits40);
        assert_eq!(k[0], key16("D1 26 9E C4 9F A6 2E 3E"));
        assert_eq!(k[1], key16("D1 26 9E CE 4D 98 D1 81"));
        assert_eq!(k[2], key16("D1 26 9E DE EF BD 8A FF"));
        let k = chain(&key16("8B 7C DC 14 9B 99 3A 1B"), KeyLength::Bits40);
        assert_eq!(k[3], key16("D1 26 9E B1 A7 FC B2 15"));
        check_packets(
            &SERVER_SEND_START,
            KeyLength::Bits40,
            "9E DC A5 03 E7 9A 60 E2 52 2D AE 24 33 ED",
            "F2 03 2A 09 3E 8D B1 97 DE 2D 4C 92 68 50",
        );
        let k = chain(&SERVER_RECV_START, KeyLength::Bits40);
        assert_eq!(k[0], key16("D1 26 9E D2 AE 99 90 38"));
        assert_eq!(k[1], key16("D1 26 9E 77 2B 55 7E C1"));
        assert_eq!(k[2], key16("D1 26 9E D3 6D 62 87 C8"));
        assert_eq!(k[3], key16("D1 26 9E 66 8C 5D D8 44"));
        check_packets(
            &SERVER_RECV_START,
            KeyLength::Bits40,
            "B2 43 93 F5 6C 04 29 AD F4 5C E8 98 F3 A8",
            "74 3F DA 1A BB 91 57 AD 8A DB 54 DB 76 16",
        );
    }

    #[test]
    fn fifty_six_bit_receive_key() {
        assert_eq!(
            initial_session_key(&SERVER_RECV_START, KeyLength::Bits56).0,
            key16("D1 6A 9B D2 AE 99 90 38")
        );
    }

    /// A packet in flight: header and ciphertext of a known plaintext.
    struct Sent {
        header: Header,
        len: usize,
        data: [u8; 64],
        plain: [u8; 64],
    }

    fn send(enc: &mut Encrypter, rng: &mut XorShift) -> Sent {
        let mut plain = [0u8; 64];
        rng.fill_bytes(&mut plain);
        plain[0] = 0x00;
        plain[1] = 0x21;
        let len = 2 + (rng.next_u32() % 62) as usize;
        let mut data = plain;
        let header = enc.encrypt(&mut data[..len]);
        Sent {
            header,
            len,
            data,
            plain,
        }
    }

    fn receive(dec: &mut Decrypter, p: &Sent) -> Result<(), DecryptError> {
        let mut data = p.data;
        let r = dec.decrypt(p.header, &mut data[..p.len]);
        if r.is_ok() {
            assert_eq!(
                data[..p.len],
                p.plain[..p.len],
                "ccount {}",
                p.header.coherency_count
            );
        } else {
            assert_eq!(data[..p.len], p.data[..p.len], "unchanged on error");
        }
        r
    }

    #[test]
    fn stateless_round_trip_with_loss_reordering_and_duplicates() {
        let mut rng = XorShift(7);
        let mut enc = Encrypter::new(&SERVER_SEND_START, KeyLength::Bits128, true);
        let mut dec = Decrypter::new(&SERVER_SEND_START, KeyLength::Bits128, true);
        let mut held: Option<Sent> = None;
        let (mut delivered, mut late) = (0, 0);
        for i in 0..5000u32 {
            let p = send(&mut enc, &mut rng);
            assert!(p.header.flushed && p.header.encrypted);
            assert_eq!(u32::from(p.header.coherency_count), i % 4096);
            match i % 97 {
                // Lost: stateless mode catches up with several key changes.
                5..=7 => continue,
                // Held back and delivered after the next one: dropped as late, no desync.
                20 => {
                    held = Some(p);
                    continue;
                }
                // Delivered twice: the copy is dropped.
                40 => {
                    receive(&mut dec, &p).unwrap();
                    assert_eq!(receive(&mut dec, &p), Err(DecryptError::Late));
                    delivered += 1;
                    late += 1;
                    continue;
                }
                _ => {}
            }
            receive(&mut dec, &p).unwrap();
            delivered += 1;
            if let Some(old) = held.take() {
                assert_eq!(receive(&mut dec, &old), Err(DecryptError::Late));
                late += 1;
            }
        }
        assert!(delivered > 4700 && late >= 100);
        assert_eq!(dec.coherency_count(), 4999 % 4096);
    }

    /// A forged packet (the header is not authenticated) claiming a count far ahead: with
    /// the check refusing its plaintext the chain stays, and the peer's next real packet
    /// decrypts. Had the chain moved (no check), every real packet would be "late" for
    /// about 1000 counts.
    #[test]
    fn stateless_forged_packet_does_not_move_the_key_chain() {
        let is_ip = |plain: &[u8]| plain[..2] == [0x00, 0x21];
        for checked in [true, false] {
            let mut rng = XorShift(11);
            let mut enc = Encrypter::new(&SERVER_SEND_START, KeyLength::Bits128, true);
            let mut dec = Decrypter::new(&SERVER_SEND_START, KeyLength::Bits128, true);
            for _ in 0..3 {
                let p = send(&mut enc, &mut rng);
                assert_eq!(receive(&mut dec, &p), Ok(()));
            }
            let mut forged = [0u8; 40];
            rng.fill_bytes(&mut forged);
            let header = Header {
                flushed: true,
                compressed_b: false,
                compressed_c: false,
                encrypted: true,
                coherency_count: (dec.coherency_count() + 1000) % CCOUNT_MODULUS,
            };
            let r = dec.decrypt_checked(header, &mut forged, |p| !checked || is_ip(p));
            let next = send(&mut enc, &mut rng);
            if checked {
                assert_eq!(r, Err(DecryptError::Implausible));
                assert_eq!(dec.coherency_count(), 2);
                assert_eq!(receive(&mut dec, &next), Ok(()));
            } else {
                assert_eq!(r, Ok(()));
                assert_eq!(receive(&mut dec, &next), Err(DecryptError::Late));
            }
        }
    }

    #[test]
    fn stateless_rejects_unflagged_packets() {
        let mut enc = Encrypter::new(&SERVER_SEND_START, KeyLength::Bits128, true);
        let mut dec = Decrypter::new(&SERVER_SEND_START, KeyLength::Bits128, true);
        let mut data = *b"\x00\x21abc";
        let header = enc.encrypt(&mut data);
        let plain = Header {
            encrypted: false,
            ..header
        };
        assert_eq!(
            dec.decrypt(plain, &mut data),
            Err(DecryptError::NotEncrypted)
        );
        let unflushed = Header {
            flushed: false,
            ..header
        };
        assert_eq!(
            dec.decrypt(unflushed, &mut data),
            Err(DecryptError::NotFlushed)
        );
        // Neither touched the key chain.
        dec.decrypt(header, &mut data).unwrap();
        assert_eq!(&data, b"\x00\x21abc");
        // A packet 2049 ahead looks like one from behind.
        let far = Header {
            coherency_count: 2049,
            ..header
        };
        assert_eq!(dec.decrypt(far, &mut data), Err(DecryptError::Late));
    }

    #[test]
    fn stateful_round_trip_with_loss_and_reset() {
        let mut rng = XorShift(11);
        let mut enc = Encrypter::new(&SERVER_RECV_START, KeyLength::Bits40, false);
        let mut dec = Decrypter::new(&SERVER_RECV_START, KeyLength::Bits40, false);
        let mut resets = 0;
        let mut awaiting = false;
        for i in 0..5000u32 {
            let p = send(&mut enc, &mut rng);
            let ccount = p.header.coherency_count;
            assert_eq!(u32::from(ccount), i % 4096);
            // Key changes only on flag packets and after a reset; the first packet uses K0.
            if !awaiting {
                assert_eq!(p.header.flushed, ccount & 0xFF == 0xFF, "ccount {ccount}");
            }
            // Lose a plain packet, and (separately) a flag packet and the one after it.
            if i == 1000 || i == 2302 || i == 2303 {
                continue;
            }
            match receive(&mut dec, &p) {
                Ok(()) => awaiting = false,
                Err(DecryptError::NeedReset) => {
                    assert!(!awaiting);
                    // The Reset-Request reaches the sender two packets later.
                    resets += 1;
                    awaiting = true;
                }
                Err(DecryptError::AwaitingFlush) => {
                    assert!(awaiting);
                    if i == 1003 || i == 2306 {
                        enc.flush();
                    }
                }
                Err(e) => panic!("{e:?} at {i}"),
            }
        }
        assert_eq!(resets, 2);
        assert!(!awaiting);
    }

    #[test]
    fn stateful_flushed_packet_after_gap_resyncs_without_reset() {
        let mut rng = XorShift(3);
        let mut enc = Encrypter::new(&SERVER_SEND_START, KeyLength::Bits128, false);
        let mut dec = Decrypter::new(&SERVER_SEND_START, KeyLength::Bits128, false);
        for i in 0..600u32 {
            let p = send(&mut enc, &mut rng);
            // Lose 250..=255 (255 is a flag packet); resync on the next flag packet, 511.
            if (250..=255).contains(&i) {
                continue;
            }
            let r = receive(&mut dec, &p);
            match i {
                256 => assert_eq!(r, Err(DecryptError::NeedReset)),
                257..=510 => assert_eq!(r, Err(DecryptError::AwaitingFlush)),
                _ => r.unwrap(),
            }
        }
        // A duplicate in stateful mode is dropped without a reset.
        let p = send(&mut enc, &mut rng);
        receive(&mut dec, &p).unwrap();
        assert_eq!(receive(&mut dec, &p), Err(DecryptError::Late));
        let p = send(&mut enc, &mut rng);
        receive(&mut dec, &p).unwrap();

        // A gap that ends on a flag packet resynchronises on that packet.
        let mut enc = Encrypter::new(&SERVER_SEND_START, KeyLength::Bits128, false);
        let mut dec = Decrypter::new(&SERVER_SEND_START, KeyLength::Bits128, false);
        for i in 0..300u32 {
            let p = send(&mut enc, &mut rng);
            if (100..255).contains(&i) {
                continue;
            }
            receive(&mut dec, &p).unwrap();
        }
    }

    #[test]
    fn stateful_flag_packet_needs_flushed_bit() {
        let mut dec = Decrypter::new(&SERVER_SEND_START, KeyLength::Bits128, false);
        let header = Header {
            flushed: false,
            compressed_b: false,
            compressed_c: false,
            encrypted: true,
            coherency_count: 0xFF,
        };
        assert_eq!(
            dec.decrypt(header, &mut [0; 4]),
            Err(DecryptError::NotFlushed)
        );
    }

    #[test]
    fn random_headers_never_panic() {
        let mut rng = XorShift(99);
        for stateless in [true, false] {
            let mut dec = Decrypter::new(&SERVER_SEND_START, KeyLength::Bits56, stateless);
            for _ in 0..100 {
                let mut buf = [0u8; 8];
                rng.fill_bytes(&mut buf);
                let header = Header::parse(&buf).unwrap();
                let header = Header {
                    coherency_count: u16::from_be_bytes([buf[2], buf[3]]),
                    ..header
                };
                let _ = dec.decrypt(header, &mut buf[4..]);
            }
        }
    }
}
