//! `crypto::mppe::Decrypter` two ways (the first byte picks):
//!
//! * raw: arbitrary key, mode and a stream of arbitrary headers and data. Must not panic,
//!   and a packet it refuses must be left untouched (the caller drops it).
//! * against the `Encrypter`: the input decides which packets the network loses (in order,
//!   as GRE delivers them) and when the sender flushes. Every packet the decrypter accepts
//!   must decrypt to exactly what was sent; in stateless mode every packet within the late
//!   window must be accepted; in stateful mode every FLUSHED packet must resynchronise, and
//!   a `NeedReset` is answered with a flush, as the peer's CCP would.

use super::{Input, Script};
use smolpptp::crypto::mppe::{DecryptError, Decrypter, Encrypter, KeyLength};
use smolpptp::wire::mppe::Header;

/// Fewer consecutive losses than half the coherency count space: beyond that a count is
/// ambiguous by design (RFC 3078), not a bug.
const MAX_GAP: usize = 2000;

pub fn run(data: &[u8]) {
    super::init_logging();
    let mut input = Input::new(data);
    let against_encrypter = input.bool();
    let len = match input.u8() % 3 {
        0 => KeyLength::Bits40,
        1 => KeyLength::Bits56,
        _ => KeyLength::Bits128,
    };
    let stateless = input.bool();
    let mut key = [0u8; 16];
    let bytes = input.bytes(16);
    key[..bytes.len()].copy_from_slice(bytes);
    if against_encrypter {
        differential(&mut input, &key, len, stateless);
    } else {
        raw(&mut input, &key, len, stateless);
    }
}

fn raw(input: &mut Input, key: &[u8; 16], len: KeyLength, stateless: bool) {
    let mut decrypter = Decrypter::new(key, len, stateless);
    while !input.is_empty() {
        let Ok(header) = Header::parse(input.bytes(2)) else {
            return;
        };
        let size = usize::from(input.u16() % 1600);
        let mut data = input.bytes(size).to_vec();
        let original = data.clone();
        match decrypter.decrypt(header, &mut data) {
            Ok(()) => assert_eq!(decrypter.coherency_count(), header.coherency_count),
            Err(_) => assert_eq!(data, original, "a refused packet was modified"),
        }
        let _ = format!("{decrypter:?}");
    }
}

fn differential(input: &mut Input, key: &[u8; 16], len: KeyLength, stateless: bool) {
    let mut encrypter = Encrypter::new(key, len, stateless);
    let mut decrypter = Decrypter::new(key, len, stateless);
    // Packets lost since the last one the decrypter saw.
    let mut gap = 0usize;
    // Stateful: a loss was detected and no FLUSHED packet has arrived since.
    let mut resyncing = false;
    let mut sent = 0u32;

    while !input.is_empty() {
        let op = input.u8();
        let mut to_lose = match op % 4 {
            0 => 0,
            1 => 1,
            2 => usize::from(input.u8()),
            _ => {
                encrypter.flush();
                0
            }
        };
        let size = 2 + usize::from(input.u8());
        loop {
            sent = sent.wrapping_add(1);
            let plain: Vec<u8> = (0..size)
                .map(|i| (i as u32).wrapping_mul(31).wrapping_add(sent) as u8)
                .collect();
            let mut packet = plain.clone();
            let header = encrypter.encrypt(&mut packet);
            assert!(header.encrypted && !header.compressed_c);
            assert!(
                header.flushed || !stateless,
                "stateless packet without FLUSHED"
            );
            // Stateful FLUSHED packets carry a key change nobody can replay: never lose them.
            let losable = stateless || !header.flushed;
            if to_lose > 0 && losable && gap < MAX_GAP {
                to_lose -= 1;
                gap += 1;
                continue;
            }
            let result = decrypter.decrypt(header, &mut packet);
            if result.is_ok() {
                assert_eq!(
                    packet, plain,
                    "accepted packet decrypted wrong ({header:?})"
                );
            }
            if stateless {
                assert_eq!(
                    result,
                    Ok(()),
                    "stateless packet after {gap} losses refused"
                );
            } else {
                if header.flushed || (gap == 0 && !resyncing) {
                    assert_eq!(result, Ok(()), "stateful packet refused ({header:?})");
                }
                match result {
                    Ok(()) => resyncing = false,
                    Err(DecryptError::NeedReset) => {
                        assert!(gap > 0 && !resyncing);
                        resyncing = true;
                        encrypter.flush();
                    }
                    Err(DecryptError::AwaitingFlush) => assert!(resyncing),
                    Err(e) => panic!("unexpected {e:?} for {header:?}"),
                }
            }
            gap = 0;
            break;
        }
    }
}

pub fn seeds() -> Vec<Vec<u8>> {
    let key = [0x5Au8; 16];
    let mut seeds = Vec::new();
    for stateless in [true, false] {
        let mut s = Script::default()
            .u8(1)
            .u8(2)
            .u8(stateless as u8)
            .bytes(&key);
        for op in [0u8, 0, 1, 0, 2, 0, 3, 0, 0, 1, 1, 0] {
            s = s.u8(op);
            if op == 2 {
                s = s.u8(40);
            }
            s = s.u8(60);
        }
        seeds.push(s.0);
    }
    // Raw: a FLUSHED encrypted packet with count 0, then a late one.
    seeds.push(
        Script::default()
            .u8(0)
            .u8(2)
            .u8(1)
            .bytes(&key)
            .bytes(&[0x90, 0x00])
            .chunk(&[1, 2, 3, 4])
            .bytes(&[0x90, 0x00])
            .chunk(&[1, 2, 3, 4])
            .0,
    );
    seeds
}
