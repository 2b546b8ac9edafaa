//! Enhanced GRE (RFC 2637 §4.1): the PPTP data channel, IP protocol 47, version 1.
//!
//! ```text
//! |C|R|K|S|s|Recur|A| Flags | Ver |  Protocol Type (0x880B)  |
//! |  Key (HW) Payload Length      |  Key (LW) Call ID         |
//! |  Sequence Number (present iff S)                          |
//! |  Acknowledgment Number (present iff A)                    |
//! ```
//!
//! PPTP always sets K; S is set iff the packet carries a payload; an ack-only packet has
//! S=0 and its ack at offset 8, where the sequence number would be.

use super::{Error, Result};

/// GRE Protocol Type of PPP (RFC 2637 §4.1).
pub const PROTOCOL_PPP: u16 = 0x880B;
/// Enhanced GRE is GRE version 1.
pub const VERSION: u8 = 1;
/// Header length without sequence and ack numbers.
pub const BASE_HEADER_LEN: usize = 8;
/// Longest header: sequence and ack present.
pub const MAX_HEADER_LEN: usize = 16;

mod flag {
    // Byte 0.
    pub const CHECKSUM: u8 = 0x80;
    pub const ROUTING: u8 = 0x40;
    pub const KEY: u8 = 0x20;
    pub const SEQUENCE: u8 = 0x10;
    pub const STRICT_ROUTE: u8 = 0x08;
    pub const RECURSION: u8 = 0x07;
    // Byte 1.
    pub const ACK: u8 = 0x80;
    pub const RESERVED: u8 = 0x78;
    pub const VERSION: u8 = 0x07;
}

/// A read/write view of an enhanced GRE packet (starting at the GRE header, after IP).
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wrap without checking; accessors return 0 / empty for fields past the end.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wrap and check that the header (as its flags say) and the `payload_len` bytes after
    /// it fit in the buffer. Bytes after the payload (link padding) are ignored. The PPTP
    /// flag rules are checked by [`Repr::parse`].
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let packet = Packet::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < BASE_HEADER_LEN || len < self.header_len() {
            return Err(Error::Truncated);
        }
        if len - self.header_len() < usize::from(self.payload_len()) {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn byte(&self, index: usize) -> u8 {
        self.buffer.as_ref().get(index).copied().unwrap_or(0)
    }

    fn u16_at(&self, off: usize) -> u16 {
        u16::from_be_bytes([self.byte(off), self.byte(off + 1)])
    }

    fn u32_at(&self, off: usize) -> u32 {
        u32::from_be_bytes([
            self.byte(off),
            self.byte(off + 1),
            self.byte(off + 2),
            self.byte(off + 3),
        ])
    }

    pub fn has_checksum(&self) -> bool {
        self.byte(0) & flag::CHECKSUM != 0
    }

    pub fn has_routing(&self) -> bool {
        self.byte(0) & flag::ROUTING != 0
    }

    pub fn has_key(&self) -> bool {
        self.byte(0) & flag::KEY != 0
    }

    pub fn has_sequence(&self) -> bool {
        self.byte(0) & flag::SEQUENCE != 0
    }

    pub fn has_ack(&self) -> bool {
        self.byte(1) & flag::ACK != 0
    }

    pub fn strict_route(&self) -> bool {
        self.byte(0) & flag::STRICT_ROUTE != 0
    }

    pub fn recursion(&self) -> u8 {
        self.byte(0) & flag::RECURSION
    }

    /// The Flags bits between A and Ver (must be 0).
    pub fn reserved_flags(&self) -> u8 {
        self.byte(1) & flag::RESERVED
    }

    pub fn version(&self) -> u8 {
        self.byte(1) & flag::VERSION
    }

    pub fn protocol(&self) -> u16 {
        self.u16_at(2)
    }

    /// Key high half: the PPP payload length, GRE header excluded.
    pub fn payload_len(&self) -> u16 {
        self.u16_at(4)
    }

    /// Key low half: the receiver's Call ID.
    pub fn call_id(&self) -> u16 {
        self.u16_at(6)
    }

    /// 8, 12 or 16 depending on S and A.
    pub fn header_len(&self) -> usize {
        BASE_HEADER_LEN + 4 * usize::from(self.has_sequence()) + 4 * usize::from(self.has_ack())
    }

    pub fn sequence(&self) -> Option<u32> {
        self.has_sequence().then(|| self.u32_at(8))
    }

    /// The ack, at offset 12 after a sequence number or at offset 8 in an ack-only packet.
    pub fn ack(&self) -> Option<u32> {
        let off = if self.has_sequence() { 12 } else { 8 };
        self.has_ack().then(|| self.u32_at(off))
    }

    /// The `payload_len` bytes after the header (fewer if the buffer is short).
    pub fn payload(&self) -> &[u8] {
        let buf = self.buffer.as_ref();
        let start = self.header_len().min(buf.len());
        let end = start
            .saturating_add(usize::from(self.payload_len()))
            .min(buf.len());
        &buf[start..end]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// The payload for writing or in-place decryption: `payload_len` bytes after the header.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        let len = usize::from(self.payload_len());
        let buf = self.buffer.as_mut();
        let start = start.min(buf.len());
        let end = start.saturating_add(len).min(buf.len());
        &mut buf[start..end]
    }
}

/// The fields of an enhanced GRE header that PPTP uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// The receiver's Call ID (the peer's, when we send).
    pub call_id: u16,
    /// Present iff the packet carries a payload.
    pub sequence: Option<u32>,
    /// Highest sequence number received in order by the sender.
    pub ack: Option<u32>,
    pub payload_len: u16,
}

impl Repr {
    /// Check a packet the way pptpd and Linux do (C=0 R=0 K=1 s=0, recursion 0, reserved
    /// flags 0, version 1, protocol 0x880B, payload within the buffer) and read its fields.
    /// A packet with neither sequence nor ack, or a payload without a sequence number,
    /// carries nothing usable and is `Malformed`.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&T>) -> Result<Repr> {
        packet.check_len()?;
        if packet.version() != VERSION || packet.protocol() != PROTOCOL_PPP {
            return Err(Error::Unsupported);
        }
        if packet.has_checksum()
            || packet.has_routing()
            || !packet.has_key()
            || packet.strict_route()
            || packet.recursion() != 0
            || packet.reserved_flags() != 0
        {
            return Err(Error::Malformed);
        }
        let repr = Repr {
            call_id: packet.call_id(),
            sequence: packet.sequence(),
            ack: packet.ack(),
            payload_len: packet.payload_len(),
        };
        match (repr.sequence, repr.ack) {
            (None, None) => Err(Error::Malformed),
            (None, Some(_)) if repr.payload_len != 0 => Err(Error::Malformed),
            _ => Ok(repr),
        }
    }

    pub fn header_len(&self) -> usize {
        BASE_HEADER_LEN
            + 4 * usize::from(self.sequence.is_some())
            + 4 * usize::from(self.ack.is_some())
    }

    /// Header plus payload.
    pub fn buffer_len(&self) -> usize {
        self.header_len() + usize::from(self.payload_len)
    }

    /// Write the header (not the payload) at the start of the packet's buffer, which must
    /// hold at least [`Self::header_len`] bytes (a shorter one is left partly unwritten,
    /// never a panic).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(&self, packet: &mut Packet<&mut T>) {
        let mut header = [0u8; MAX_HEADER_LEN];
        header[0] = flag::KEY
            | if self.sequence.is_some() {
                flag::SEQUENCE
            } else {
                0
            };
        header[1] = VERSION | if self.ack.is_some() { flag::ACK } else { 0 };
        header[2..4].copy_from_slice(&PROTOCOL_PPP.to_be_bytes());
        header[4..6].copy_from_slice(&self.payload_len.to_be_bytes());
        header[6..8].copy_from_slice(&self.call_id.to_be_bytes());
        let mut off = BASE_HEADER_LEN;
        for value in [self.sequence, self.ack].into_iter().flatten() {
            header[off..off + 4].copy_from_slice(&value.to_be_bytes());
            off += 4;
        }
        let buf = packet.buffer.as_mut();
        let n = off.min(buf.len());
        buf[..n].copy_from_slice(&header[..n]);
    }

    /// Emit the header into the front of `buf`; returns the header length or
    /// `Err(Exhausted)` when `buf` cannot hold header and payload.
    pub fn emit_header_into(&self, buf: &mut [u8]) -> Result<usize> {
        if buf.len() < self.buffer_len() {
            return Err(Error::Exhausted);
        }
        self.emit(&mut Packet::new_unchecked(buf));
        Ok(self.header_len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rand::{Random, XorShift};

    // The three constructed examples of protocol.md §1.6 (call ID 0x1234, payload 28).
    const DATA_ACK: [u8; 16] = [
        0x30, 0x81, 0x88, 0x0B, 0x00, 0x1C, 0x12, 0x34, 0, 0, 0, 5, 0, 0, 0, 3,
    ];
    const DATA: [u8; 12] = [0x30, 0x01, 0x88, 0x0B, 0x00, 0x1C, 0x12, 0x34, 0, 0, 0, 5];
    const ACK_ONLY: [u8; 12] = [0x20, 0x81, 0x88, 0x0B, 0x00, 0x00, 0x12, 0x34, 0, 0, 0, 7];

    fn with_payload(header: &[u8]) -> ([u8; 64], usize) {
        let mut buf = [0u8; 64];
        buf[..header.len()].copy_from_slice(header);
        for (i, b) in buf[header.len()..header.len() + 28].iter_mut().enumerate() {
            *b = i as u8;
        }
        (buf, header.len() + 28)
    }

    fn parse(bytes: &[u8]) -> Result<Repr> {
        Repr::parse(&Packet::new_checked(bytes)?)
    }

    fn check_example(header: &[u8], repr: Repr) {
        let (buf, len) = if repr.payload_len > 0 {
            with_payload(header)
        } else {
            let mut b = [0u8; 64];
            b[..header.len()].copy_from_slice(header);
            (b, header.len())
        };
        assert_eq!(parse(&buf[..len]), Ok(repr));
        assert_eq!(repr.header_len(), header.len());
        assert_eq!(repr.buffer_len(), len);
        let mut out = [0xEEu8; 64];
        assert_eq!(repr.emit_header_into(&mut out[..len]), Ok(header.len()));
        assert_eq!(&out[..header.len()], header);
        let packet = Packet::new_checked(&buf[..len]).unwrap();
        assert_eq!(packet.payload(), &buf[header.len()..len]);
    }

    #[test]
    fn data_with_piggybacked_ack() {
        check_example(
            &DATA_ACK,
            Repr {
                call_id: 0x1234,
                sequence: Some(5),
                ack: Some(3),
                payload_len: 28,
            },
        );
    }

    #[test]
    fn data_without_ack() {
        check_example(
            &DATA,
            Repr {
                call_id: 0x1234,
                sequence: Some(5),
                ack: None,
                payload_len: 28,
            },
        );
    }

    #[test]
    fn ack_only_has_ack_at_offset_8() {
        check_example(
            &ACK_ONLY,
            Repr {
                call_id: 0x1234,
                sequence: None,
                ack: Some(7),
                payload_len: 0,
            },
        );
    }

    #[test]
    fn trailing_padding_is_ignored() {
        let (buf, len) = with_payload(&DATA);
        let packet = Packet::new_checked(&buf[..len + 6]).unwrap();
        assert_eq!(packet.payload().len(), 28);
        assert_eq!(Repr::parse(&packet).unwrap().payload_len, 28);
    }

    #[test]
    fn payload_mut_allows_in_place_changes() {
        let (mut buf, len) = with_payload(&DATA_ACK);
        let mut packet = Packet::new_checked(&mut buf[..len]).unwrap();
        packet.payload_mut().fill(0x55);
        assert_eq!(packet.payload_mut().len(), 28);
        assert!(buf[16..len].iter().all(|&b| b == 0x55));
        assert_eq!(&buf[..16], &DATA_ACK);
    }

    #[test]
    fn rejects_what_pptpd_and_linux_reject() {
        let (good, len) = with_payload(&DATA_ACK);
        assert!(parse(&good[..len]).is_ok());
        let mutate = |at: usize, value: u8| {
            let mut b = good;
            b[at] = value;
            parse(&b[..len])
        };
        assert_eq!(mutate(0, 0x30 | 0x80), Err(Error::Malformed)); // C
        assert_eq!(mutate(0, 0x30 | 0x40), Err(Error::Malformed)); // R
        assert_eq!(mutate(0, 0x10), Err(Error::Malformed)); // no K
        assert_eq!(mutate(0, 0x30 | 0x08), Err(Error::Malformed)); // s
        assert_eq!(mutate(0, 0x30 | 0x01), Err(Error::Malformed)); // recursion
        assert_eq!(mutate(1, 0x81 | 0x08), Err(Error::Malformed)); // reserved flags
        assert_eq!(mutate(1, 0x80), Err(Error::Unsupported)); // version 0 (plain GRE)
        assert_eq!(mutate(3, 0x0C), Err(Error::Unsupported)); // protocol
        assert_eq!(mutate(5, 29), Err(Error::Truncated)); // payload longer than the buffer
        assert_eq!(parse(&good[..15]), Err(Error::Truncated)); // ack cut off
        assert_eq!(parse(&good[..7]), Err(Error::Truncated));

        // Neither sequence nor ack.
        let mut b = ACK_ONLY;
        b[1] = 0x01;
        assert_eq!(parse(&b[..8]), Err(Error::Malformed));
        // Payload without sequence number.
        let (b, len) = with_payload(&[0x20, 0x81, 0x88, 0x0B, 0x00, 0x1C, 0x12, 0x34, 0, 0, 0, 7]);
        assert_eq!(parse(&b[..len]), Err(Error::Malformed));
    }

    #[test]
    fn data_with_empty_payload_parses() {
        let b = [0x30, 0x01, 0x88, 0x0B, 0, 0, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF];
        assert_eq!(
            parse(&b),
            Ok(Repr {
                call_id: 1,
                sequence: Some(0xFFFF_FFFF),
                ack: None,
                payload_len: 0
            })
        );
    }

    #[test]
    fn emit_into_short_buffer() {
        let repr = Repr {
            call_id: 1,
            sequence: Some(1),
            ack: Some(1),
            payload_len: 10,
        };
        let mut buf = [0u8; 25];
        assert_eq!(repr.emit_header_into(&mut buf), Err(Error::Exhausted));
        repr.emit(&mut Packet::new_unchecked(&mut buf[..3]));
        assert_eq!(&buf[..3], &[0x30, 0x81, 0x88]);
    }

    #[test]
    fn random_and_mutated_input_never_panics() {
        let mut rng = XorShift(0x47_5245);
        let mut buf = [0u8; 80];
        let mut parsed = 0;
        for i in 0..50_000u32 {
            let len = (rng.next_u32() as usize) % buf.len();
            rng.fill_bytes(&mut buf[..len]);
            if i & 1 == 0 && len >= 2 {
                // Mostly-valid flags so the deeper checks run too.
                buf[0] = [0x30, 0x20, 0x10, 0x31][(rng.next_u32() % 4) as usize];
                buf[1] = [0x81, 0x01, 0x89][(rng.next_u32() % 3) as usize];
                if len >= 6 {
                    buf[2] = 0x88;
                    buf[3] = 0x0B;
                    buf[4] = 0;
                    buf[5] = (rng.next_u32() % 80) as u8;
                }
            }
            let bytes = &buf[..len];
            let packet = Packet::new_unchecked(bytes);
            let _ = (
                packet.sequence(),
                packet.ack(),
                packet.payload(),
                packet.header_len(),
            );
            if let Ok(repr) = Repr::parse(&packet) {
                parsed += 1;
                assert!(repr.buffer_len() <= len);
                let mut out = [0u8; 80];
                let hl = repr
                    .emit_header_into(&mut out[..repr.buffer_len()])
                    .unwrap();
                out[hl..repr.buffer_len()].copy_from_slice(packet.payload());
                assert_eq!(parse(&out[..repr.buffer_len()]), Ok(repr));
            }
            let mut copy = [0u8; 80];
            copy[..len].copy_from_slice(bytes);
            let mut packet = Packet::new_unchecked(&mut copy[..len]);
            let _ = packet.payload_mut();
        }
        assert!(
            parsed > 100,
            "the generator should produce valid packets too"
        );
    }
}
