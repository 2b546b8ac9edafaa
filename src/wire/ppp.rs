//! The PPP frame header as it travels inside GRE (RFC 2637 §4, RFC 1661 §6.5/§6.6): an
//! optional `FF 03` Address/Control pair, then a 2-byte protocol field or, with
//! Protocol-Field-Compression, a 1-byte one (protocols below 0x100 have an odd low byte).
//!
//! The receiver accepts every form at any time, whatever was negotiated (pppd and the Linux
//! kernel do the same); the sender compresses only when told to, and never for LCP.

use super::{Error, Result};

/// PPP protocol numbers (RFC 1661 §2, IANA "PPP DLL Protocol Numbers").
pub mod protocol {
    pub const IPV4: u16 = 0x0021;
    pub const VJ_COMP: u16 = 0x002D;
    pub const VJ_UNCOMP: u16 = 0x002F;
    pub const MP: u16 = 0x003D;
    pub const IPV6: u16 = 0x0057;
    /// A compressed or encrypted datagram (RFC 1962): MPPE data.
    pub const COMPRESSED: u16 = 0x00FD;
    pub const IPCP: u16 = 0x8021;
    pub const IPV6CP: u16 = 0x8057;
    pub const CCP: u16 = 0x80FD;
    pub const LCP: u16 = 0xC021;
    pub const PAP: u16 = 0xC023;
    pub const LQR: u16 = 0xC025;
    pub const CBCP: u16 = 0xC029;
    pub const CHAP: u16 = 0xC223;
    pub const EAP: u16 = 0xC227;
}

/// The HDLC All-Stations address and Unnumbered-Information control byte.
pub const ADDRESS_CONTROL: [u8; 2] = [0xFF, 0x03];

/// Split a PPP frame into its protocol number and the offset of its Information field.
///
/// `FF 03` is skipped when present; a first protocol byte with its low bit set is a
/// PFC-compressed one-byte protocol. A two-byte protocol must end in an odd byte
/// (RFC 1661 §2), anything else is `Malformed`.
pub fn parse(frame: &[u8]) -> Result<(u16, usize)> {
    let start = if frame.starts_with(&ADDRESS_CONTROL) {
        2
    } else {
        0
    };
    let first = *frame.get(start).ok_or(Error::Truncated)?;
    if first & 1 == 1 {
        return Ok((u16::from(first), start + 1));
    }
    let second = *frame.get(start + 1).ok_or(Error::Truncated)?;
    if second & 1 == 0 {
        return Err(Error::Malformed);
    }
    Ok((u16::from_be_bytes([first, second]), start + 2))
}

/// Whether a header for `protocol` may be compressed at all: never for LCP (RFC 1661 §5
/// and §6.6 require the full header for LCP codes 1..7; never compressing LCP is simplest).
fn compressible(protocol: u16) -> bool {
    protocol != protocol::LCP
}

/// Length of the header [`emit_header`] writes for `protocol`.
/// `acfc`/`pfc`: the peer accepted our Address-and-Control / Protocol-Field compression.
pub fn header_len(protocol: u16, acfc: bool, pfc: bool) -> usize {
    let compress = compressible(protocol);
    let address = if acfc && compress { 0 } else { 2 };
    let proto = if pfc && compress && protocol < 0x100 {
        1
    } else {
        2
    };
    address + proto
}

/// Write the PPP header for `protocol` at the start of `buf`; returns its length.
pub fn emit_header(buf: &mut [u8], protocol: u16, acfc: bool, pfc: bool) -> Result<usize> {
    let len = header_len(protocol, acfc, pfc);
    let out = buf.get_mut(..len).ok_or(Error::Exhausted)?;
    let compress = compressible(protocol);
    let mut at = 0;
    if !(acfc && compress) {
        out[..2].copy_from_slice(&ADDRESS_CONTROL);
        at = 2;
    }
    let be = protocol.to_be_bytes();
    if pfc && compress && protocol < 0x100 {
        out[at] = be[1];
    } else {
        out[at..at + 2].copy_from_slice(&be);
    }
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rand::{Random, XorShift};

    #[test]
    fn parses_every_header_form() {
        assert_eq!(parse(&[0xFF, 0x03, 0xC0, 0x21, 1]), Ok((protocol::LCP, 4)));
        assert_eq!(parse(&[0xC0, 0x21, 1]), Ok((protocol::LCP, 2)));
        assert_eq!(
            parse(&[0xFF, 0x03, 0x00, 0x21, 0x45]),
            Ok((protocol::IPV4, 4))
        );
        assert_eq!(parse(&[0xFF, 0x03, 0x21, 0x45]), Ok((protocol::IPV4, 3)));
        assert_eq!(parse(&[0x21, 0x45]), Ok((protocol::IPV4, 1)));
        assert_eq!(parse(&[0xFD, 0x90, 0x00]), Ok((protocol::COMPRESSED, 1)));
        assert_eq!(parse(&[0x00, 0xFD]), Ok((protocol::COMPRESSED, 2)));
    }

    #[test]
    fn rejects_short_and_even_protocols() {
        assert_eq!(parse(&[]), Err(Error::Truncated));
        assert_eq!(parse(&[0xFF, 0x03]), Err(Error::Truncated));
        assert_eq!(parse(&[0xFF, 0x03, 0x00]), Err(Error::Truncated));
        assert_eq!(parse(&[0x00, 0x20]), Err(Error::Malformed));
        // FF alone is an odd one-byte protocol, not an address field.
        assert_eq!(parse(&[0xFF]), Ok((0xFF, 1)));
    }

    #[test]
    fn emits_full_and_compressed_headers() {
        let mut buf = [0u8; 4];
        assert_eq!(emit_header(&mut buf, protocol::IPV4, false, false), Ok(4));
        assert_eq!(buf, [0xFF, 0x03, 0x00, 0x21]);
        assert_eq!(emit_header(&mut buf, protocol::IPV4, true, false), Ok(2));
        assert_eq!(buf[..2], [0x00, 0x21]);
        assert_eq!(
            emit_header(&mut buf, protocol::COMPRESSED, false, true),
            Ok(3)
        );
        assert_eq!(buf[..3], [0xFF, 0x03, 0xFD]);
        assert_eq!(emit_header(&mut buf, protocol::IPV4, true, true), Ok(1));
        assert_eq!(buf[..1], [0x21]);
        // High protocols keep two bytes even with PFC.
        assert_eq!(emit_header(&mut buf, protocol::IPCP, true, true), Ok(2));
        assert_eq!(buf[..2], [0x80, 0x21]);
    }

    #[test]
    fn never_compresses_lcp() {
        let mut buf = [0u8; 4];
        assert_eq!(header_len(protocol::LCP, true, true), 4);
        assert_eq!(emit_header(&mut buf, protocol::LCP, true, true), Ok(4));
        assert_eq!(buf, [0xFF, 0x03, 0xC0, 0x21]);
    }

    #[test]
    fn emit_reports_small_buffers() {
        let mut buf = [0u8; 3];
        assert_eq!(
            emit_header(&mut buf, protocol::IPV4, false, false),
            Err(Error::Exhausted)
        );
    }

    #[test]
    fn round_trips_every_form() {
        let mut buf = [0u8; 8];
        for &p in &[
            protocol::IPV4,
            protocol::COMPRESSED,
            protocol::CCP,
            protocol::LCP,
        ] {
            for acfc in [false, true] {
                for pfc in [false, true] {
                    let n = emit_header(&mut buf, p, acfc, pfc).unwrap();
                    assert_eq!(parse(&buf[..n + 1]), Ok((p, n)));
                }
            }
        }
    }

    #[test]
    fn random_input_never_panics() {
        let mut rng = XorShift(0x5eed_0001);
        let mut buf = [0u8; 8];
        for _ in 0..20_000 {
            let len = (rng.next_u32() % 9) as usize;
            rng.fill_bytes(&mut buf[..len]);
            if let Ok((_, offset)) = parse(&buf[..len]) {
                assert!(offset <= len);
            }
        }
    }
}
