//! MPPE on the wire (RFC 3078): the 2-byte header in front of every encrypted PPP packet
//! (protocol 0x00FD) and the bits of the CCP option 18 that negotiates it.

use super::{Error, Result};

/// The header before the encrypted data: A B C D flags and a 12-bit coherency count.
pub const HEADER_LEN: usize = 2;
/// CCP option type 18, "Microsoft PPC" (MPPE/MPPC).
pub const OPTION_TYPE: u8 = 18;
/// Length of the option value (the four supported-bits octets).
pub const OPTION_VALUE_LEN: usize = 4;
/// Coherency counts live in 12 bits and wrap from 4095 to 0.
pub const CCOUNT_MODULUS: u16 = 4096;

const FLAG_A: u8 = 0x80;
const FLAG_B: u8 = 0x40;
const FLAG_C: u8 = 0x20;
const FLAG_D: u8 = 0x10;

/// Bits of the CCP option 18 value, read as a big-endian u32 (RFC 3078 §2; pppd `mppe.h`).
pub mod bits {
    /// Stateless mode: a key change on every packet.
    pub const H: u32 = 0x0100_0000;
    /// 56-bit keys.
    pub const M: u32 = 0x80;
    /// 128-bit keys.
    pub const S: u32 = 0x40;
    /// 40-bit keys.
    pub const L: u32 = 0x20;
    /// Obsolete; "SHOULD NOT be accepted".
    pub const D: u32 = 0x10;
    /// MPPC compression (RFC 2118).
    pub const C: u32 = 0x01;
    /// Every bit RFC 3078 defines; anything else is reserved and must be zero.
    pub const ALL: u32 = H | M | S | L | D | C;
}

/// Reads the option 18 value (without type and length) as bits; it must be 4 bytes.
pub fn parse_option(value: &[u8]) -> Result<u32> {
    let value: [u8; OPTION_VALUE_LEN] = value.try_into().map_err(|_| Error::Malformed)?;
    Ok(u32::from_be_bytes(value))
}

/// The option 18 value for `bits`.
pub fn emit_option(bits: u32) -> [u8; OPTION_VALUE_LEN] {
    bits.to_be_bytes()
}

/// The MPPE header of one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// A: the sender re-initialised its RC4 state before this packet.
    pub flushed: bool,
    /// B: MPPC history reset (compression only).
    pub compressed_b: bool,
    /// C: the packet is MPPC-compressed.
    pub compressed_c: bool,
    /// D: the packet is encrypted.
    pub encrypted: bool,
    /// 12 bits; bigger values are masked on emit.
    pub coherency_count: u16,
}

impl Header {
    /// Parses the first two bytes of `buf` (the MPPE payload after the PPP protocol field).
    pub fn parse(buf: &[u8]) -> Result<Header> {
        let [flags, low, ..] = *buf else {
            return Err(Error::Truncated);
        };
        Ok(Header {
            flushed: flags & FLAG_A != 0,
            compressed_b: flags & FLAG_B != 0,
            compressed_c: flags & FLAG_C != 0,
            encrypted: flags & FLAG_D != 0,
            coherency_count: u16::from_be_bytes([flags & 0x0F, low]),
        })
    }

    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let [high, low] = (self.coherency_count % CCOUNT_MODULUS).to_be_bytes();
        let mut flags = high;
        for (set, bit) in [
            (self.flushed, FLAG_A),
            (self.compressed_b, FLAG_B),
            (self.compressed_c, FLAG_C),
            (self.encrypted, FLAG_D),
        ] {
            if set {
                flags |= bit;
            }
        }
        [flags, low]
    }

    /// Writes the header into the first two bytes of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        let out = buf.get_mut(..HEADER_LEN).ok_or(Error::Exhausted)?;
        out.copy_from_slice(&self.to_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rand::{Random, XorShift};

    #[test]
    fn stateless_headers() {
        let h = Header {
            flushed: true,
            compressed_b: false,
            compressed_c: false,
            encrypted: true,
            coherency_count: 0,
        };
        assert_eq!(h.to_bytes(), [0x90, 0x00]);
        let h = Header {
            coherency_count: 4095,
            ..h
        };
        assert_eq!(h.to_bytes(), [0x9F, 0xFF]);
        assert_eq!(Header::parse(&[0x9F, 0xFF, 0x12]).unwrap(), h);
        let h = Header {
            coherency_count: 4096 + 1,
            ..h
        };
        assert_eq!(h.to_bytes(), [0x90, 0x01]);
    }

    #[test]
    fn every_flag() {
        let h = Header::parse(&[0xF1, 0x23]).unwrap();
        assert_eq!(
            h,
            Header {
                flushed: true,
                compressed_b: true,
                compressed_c: true,
                encrypted: true,
                coherency_count: 0x123
            }
        );
        let h = Header::parse(&[0x10, 0x05]).unwrap();
        assert!(h.encrypted && !h.flushed && !h.compressed_b && !h.compressed_c);
        let mut buf = [0u8; 2];
        h.emit(&mut buf).unwrap();
        assert_eq!(buf, [0x10, 0x05]);
    }

    #[test]
    fn short_buffers() {
        assert_eq!(Header::parse(&[]), Err(Error::Truncated));
        assert_eq!(Header::parse(&[0x90]), Err(Error::Truncated));
        let h = Header::parse(&[0x90, 0]).unwrap();
        assert_eq!(h.emit(&mut [0u8; 1]), Err(Error::Exhausted));
    }

    #[test]
    fn option_bits() {
        // Windows' offer +H -M +S +L -D -C, and stateless 128-bit.
        let offer = parse_option(&[0x01, 0x00, 0x00, 0x60]).unwrap();
        assert_eq!(offer, bits::H | bits::S | bits::L);
        assert_eq!(emit_option(bits::H | bits::S), [0x01, 0x00, 0x00, 0x40]);
        assert_eq!(emit_option(bits::H | bits::L), [0x01, 0x00, 0x00, 0x20]);
        assert_eq!(parse_option(&[1, 0, 0]), Err(Error::Malformed));
        assert_eq!(parse_option(&[1, 0, 0, 0, 0]), Err(Error::Malformed));
        assert_eq!(
            parse_option(&[0x02, 0, 0, 0]).unwrap() & !bits::ALL,
            0x0200_0000
        );
    }

    #[test]
    fn random_bytes_never_panic_and_round_trip() {
        let mut rng = XorShift(0x6d70_7065);
        for len in 0..4 {
            for _ in 0..2000 {
                let mut buf = [0u8; 4];
                rng.fill_bytes(&mut buf);
                if let Ok(h) = Header::parse(&buf[..len]) {
                    assert_eq!(h.to_bytes(), [buf[0], buf[1]]);
                }
                let _ = parse_option(&buf[..len]);
            }
        }
    }
}
