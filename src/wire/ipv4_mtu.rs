//! An IPv4 packet larger than the tunnel carries, handled the way a router handles it
//! (RFC 791 §3.2, RFC 1191, RFC 1812 §4.2.2.7 / §5.2.6): split it into fragments when its
//! Don't-Fragment bit is clear, otherwise answer the sender with ICMP Destination
//! Unreachable "fragmentation needed" carrying the MTU it must use. Both work one packet at
//! a time into caller buffers.

use core::net::Ipv4Addr;

use smoltcp::wire::{Icmpv4Packet, Ipv4Packet};

/// ICMP Destination Unreachable (type 3) / Fragmentation needed and DF set (code 4).
const ICMP_DEST_UNREACHABLE: u8 = 3;
const ICMP_FRAG_NEEDED: u8 = 4;
const PROTOCOL_ICMP: u8 = 1;
const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const OFFSET_MASK: u16 = 0x1FFF;
/// What an ICMP error quotes beyond the IP header (RFC 792).
const QUOTED_DATA: usize = 8;
/// Largest ICMP "fragmentation needed" [`frag_needed`] writes: IP header, ICMP header, the
/// quoted IP header (up to 60 bytes with options) and 8 bytes of its data.
pub const FRAG_NEEDED_MAX_LEN: usize = 20 + 8 + 60 + QUOTED_DATA;
/// Smallest MTU every IPv4 link must carry (RFC 791): 60-byte header + 8 bytes of data.
pub const MIN_MTU: usize = 68;

/// The checked header fields of an IPv4 packet: (header length, total length, flags and
/// fragment offset).
fn header(ip: &[u8]) -> Option<(usize, usize, u16)> {
    let packet = Ipv4Packet::new_checked(ip).ok()?;
    if packet.version() != 4 {
        return None;
    }
    let flags_offset = u16::from_be_bytes([ip[6], ip[7]]);
    Some((
        usize::from(packet.header_len()),
        usize::from(packet.total_len()),
        flags_offset,
    ))
}

/// Whether `ip` has its Don't-Fragment bit set (false for anything that is not IPv4).
pub fn dont_fragment(ip: &[u8]) -> bool {
    header(ip).is_some_and(|(_, _, flags)| flags & FLAG_DF != 0)
}

/// Write into `out` the ICMP "fragmentation needed" a router sends from `from` to the
/// source of `original`, telling it to use `mtu`. None when no ICMP error may be sent about
/// it (RFC 1812 §4.3.2.7): a malformed packet, a non-first fragment, an ICMP error message,
/// or a source that is not a unicast host; or when `out` is too small.
pub fn frag_needed(original: &[u8], from: Ipv4Addr, mtu: u16, out: &mut [u8]) -> Option<usize> {
    let (header_len, total_len, flags) = header(original)?;
    if flags & OFFSET_MASK != 0 {
        return None;
    }
    let source = Ipv4Addr::new(original[12], original[13], original[14], original[15]);
    if source.is_unspecified()
        || source.is_broadcast()
        || source.is_multicast()
        || source.is_loopback()
    {
        return None;
    }
    if original[9] == PROTOCOL_ICMP {
        // Only queries (echo, timestamp, ...) may be answered with an error.
        let ty = *original.get(header_len)?;
        if !matches!(ty, 0 | 8 | 13 | 14 | 15 | 16 | 17 | 18) {
            return None;
        }
    }
    let quoted = total_len.min(header_len + QUOTED_DATA);
    let len = 20 + 8 + quoted;
    let out = out.get_mut(..len)?;
    out.fill(0);
    out[0] = 0x45;
    out[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    out[8] = 64;
    out[9] = PROTOCOL_ICMP;
    out[12..16].copy_from_slice(&from.octets());
    out[16..20].copy_from_slice(&source.octets());
    out[20] = ICMP_DEST_UNREACHABLE;
    out[21] = ICMP_FRAG_NEEDED;
    out[26..28].copy_from_slice(&mtu.to_be_bytes());
    out[28..].copy_from_slice(&original[..quoted]);
    Icmpv4Packet::new_unchecked(&mut out[20..]).fill_checksum();
    Ipv4Packet::new_unchecked(&mut out[..]).fill_checksum();
    Some(len)
}

/// One fragment of `packet` (DF clear), no longer than `mtu`, carrying its payload from
/// byte `start` on (0 for the first fragment), written into `out`. Returns the fragment's
/// length and where the next fragment starts (None after the last). Call it from 0 until it
/// says None. None for a packet with DF set, a malformed packet, an `mtu` below
/// [`MIN_MTU`], a `start` that is not one this function returned, or a short `out`.
pub fn fragment(
    packet: &[u8],
    mtu: usize,
    start: usize,
    out: &mut [u8],
) -> Option<(usize, Option<usize>)> {
    let (header_len, total_len, flags) = header(packet)?;
    let payload = packet.get(header_len..total_len)?;
    if flags & FLAG_DF != 0 || mtu < MIN_MTU || !start.is_multiple_of(8) || start >= payload.len() {
        return None;
    }
    // The first fragment keeps every option; the others only those with the copy flag.
    let out_header = if start == 0 {
        let h = out.get_mut(..header_len)?;
        h.copy_from_slice(&packet[..header_len]);
        header_len
    } else {
        copy_header_for_later_fragment(&packet[..header_len], out)?
    };
    let room = mtu.checked_sub(out_header)? & !7;
    let rest = &payload[start..];
    let (take, last) = if rest.len() <= mtu - out_header {
        (rest.len(), true)
    } else {
        (room, false)
    };
    if take == 0 {
        return None;
    }
    let offset = (flags & OFFSET_MASK).checked_add(u16::try_from(start / 8).ok()?)?;
    if offset > OFFSET_MASK {
        return None;
    }
    let more = !last || flags & FLAG_MF != 0;
    let len = out_header + take;
    let out = out.get_mut(..len)?;
    out[out_header..].copy_from_slice(&rest[..take]);
    out[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    let flags_offset = offset | if more { FLAG_MF } else { 0 };
    out[6..8].copy_from_slice(&flags_offset.to_be_bytes());
    Ipv4Packet::new_unchecked(&mut out[..]).fill_checksum();
    Some((len, (!last).then_some(start + take)))
}

/// The header of a non-first fragment: the fixed 20 bytes and the options whose copy flag
/// is set (RFC 791), padded with End-of-list. Returns its length.
fn copy_header_for_later_fragment(header: &[u8], out: &mut [u8]) -> Option<usize> {
    let fixed = out.get_mut(..20)?;
    fixed.copy_from_slice(&header[..20]);
    let mut len = 20;
    let mut i = 20;
    while i < header.len() {
        let kind = header[i];
        if kind == 0 {
            break;
        }
        if kind == 1 {
            i += 1;
            continue;
        }
        let Some(&opt_len) = header.get(i + 1) else {
            break;
        };
        let opt_len = usize::from(opt_len);
        if opt_len < 2 || i + opt_len > header.len() {
            break;
        }
        if kind & 0x80 != 0 {
            out.get_mut(len..len + opt_len)?
                .copy_from_slice(&header[i..i + opt_len]);
            len += opt_len;
        }
        i += opt_len;
    }
    while !len.is_multiple_of(4) {
        *out.get_mut(len)? = 0;
        len += 1;
    }
    *out.first_mut()? = 0x40 | (len / 4) as u8;
    Some(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rand::{Random, XorShift};
    use smoltcp::wire::{Icmpv4DstUnreachable, Icmpv4Message};

    const SRC: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
    const DST: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
    const ROUTER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

    fn packet(len: usize, flags: u16, options: &[u8], protocol: u8) -> heapless::Vec<u8, 2048> {
        let header = 20 + options.len();
        let mut p: heapless::Vec<u8, 2048> = heapless::Vec::new();
        p.resize(len, 0).unwrap();
        p[0] = 0x40 | (header / 4) as u8;
        p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        p[4..6].copy_from_slice(&0xBEEFu16.to_be_bytes());
        p[6..8].copy_from_slice(&flags.to_be_bytes());
        p[8] = 60;
        p[9] = protocol;
        p[12..16].copy_from_slice(&SRC.octets());
        p[16..20].copy_from_slice(&DST.octets());
        p[20..header].copy_from_slice(options);
        for (i, b) in p[header..].iter_mut().enumerate() {
            *b = i as u8;
        }
        Ipv4Packet::new_unchecked(&mut p[..]).fill_checksum();
        p
    }

    #[test]
    fn frag_needed_quotes_the_header_and_names_the_mtu() {
        let original = packet(1500, FLAG_DF, &[], 17);
        let mut out = [0u8; FRAG_NEEDED_MAX_LEN];
        let len = frag_needed(&original, ROUTER, 1396, &mut out).unwrap();
        assert_eq!(len, 20 + 8 + 28);
        let ip = Ipv4Packet::new_checked(&out[..len]).unwrap();
        assert!(ip.verify_checksum());
        assert_eq!((ip.src_addr(), ip.dst_addr()), (ROUTER, SRC));
        let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
        assert!(icmp.verify_checksum());
        assert_eq!(icmp.msg_type(), Icmpv4Message::DstUnreachable);
        assert_eq!(
            icmp.msg_code(),
            u8::from(Icmpv4DstUnreachable::FragRequired)
        );
        assert_eq!(&ip.payload()[6..8], &1396u16.to_be_bytes());
        assert_eq!(icmp.data(), &original[..28]);
    }

    #[test]
    fn no_frag_needed_about_errors_fragments_or_non_hosts() {
        let mut out = [0u8; FRAG_NEEDED_MAX_LEN];
        // An ICMP echo request is answered; an ICMP error is not.
        let mut echo = packet(1500, FLAG_DF, &[], PROTOCOL_ICMP);
        echo[20] = 8;
        assert!(frag_needed(&echo, ROUTER, 1400, &mut out).is_some());
        let mut error = packet(1500, FLAG_DF, &[], PROTOCOL_ICMP);
        error[20] = 3;
        assert!(frag_needed(&error, ROUTER, 1400, &mut out).is_none());
        // A non-first fragment.
        let frag = packet(1500, FLAG_DF | 100, &[], 17);
        assert!(frag_needed(&frag, ROUTER, 1400, &mut out).is_none());
        // From a broadcast, multicast or unspecified source.
        for src in [[255, 255, 255, 255], [224, 0, 0, 1], [0, 0, 0, 0]] {
            let mut p = packet(1500, FLAG_DF, &[], 17);
            p[12..16].copy_from_slice(&src);
            Ipv4Packet::new_unchecked(&mut p[..]).fill_checksum();
            assert!(frag_needed(&p, ROUTER, 1400, &mut out).is_none(), "{src:?}");
        }
        // Too small a buffer, garbage.
        let p = packet(1500, FLAG_DF, &[], 17);
        assert!(frag_needed(&p, ROUTER, 1400, &mut out[..40]).is_none());
        assert!(frag_needed(&[0x45, 0, 0], ROUTER, 1400, &mut out).is_none());
    }

    /// Fragments of `p` for `mtu`, reassembled, must give back the payload; each must fit.
    fn split_and_check(p: &[u8], mtu: usize) -> usize {
        let header_len = usize::from(p[0] & 0x0F) * 4;
        let mut reassembled = [0u8; 2048];
        let mut highest = 0;
        let mut start = Some(0);
        let mut count = 0;
        let mut out = [0u8; 2048];
        while let Some(at) = start {
            let (len, next) = fragment(p, mtu, at, &mut out).unwrap();
            count += 1;
            assert!(len <= mtu, "fragment {count} is {len} > {mtu}");
            let f = Ipv4Packet::new_checked(&out[..len]).unwrap();
            assert!(f.verify_checksum());
            assert_eq!(f.ident(), 0xBEEF);
            assert_eq!((f.src_addr(), f.dst_addr()), (SRC, DST));
            assert_eq!(f.more_frags(), next.is_some());
            let offset = usize::from(f.frag_offset());
            let data = f.payload();
            reassembled[offset..offset + data.len()].copy_from_slice(data);
            highest = offset + data.len();
            start = next;
        }
        assert_eq!(&reassembled[..highest], &p[header_len..]);
        count
    }

    #[test]
    fn fragments_fit_and_reassemble() {
        let p = packet(1500, 0, &[], 17);
        assert_eq!(split_and_check(&p, 1396), 2);
        assert_eq!(split_and_check(&p, 576), 3);
        assert_eq!(split_and_check(&p, 68), 31); // 1480 bytes, 48 a piece
                                                 // A packet that fits comes out whole.
        assert_eq!(split_and_check(&p, 1500), 1);
        // DF set: refused.
        let df = packet(1500, FLAG_DF, &[], 17);
        assert!(fragment(&df, 1396, 0, &mut [0u8; 2048]).is_none());
    }

    #[test]
    fn only_copied_options_go_into_later_fragments() {
        // Security (130, copied, 11 bytes) + NOP + record route (7, not copied, 7 bytes)
        // + EOL: 20-byte options.
        let mut options = [0u8; 20];
        options[0] = 130;
        options[1] = 11;
        options[11] = 1;
        options[12..19].copy_from_slice(&[7, 7, 4, 0, 0, 0, 0]);
        let p = packet(1000, 0, &options, 17);
        let mut out = [0u8; 2048];
        let (len, next) = fragment(&p, 500, 0, &mut out).unwrap();
        assert_eq!(
            &out[20..40],
            &options[..],
            "first fragment keeps all options"
        );
        assert!(len <= 500);
        let (len, _) = fragment(&p, 500, next.unwrap(), &mut out).unwrap();
        let f = Ipv4Packet::new_checked(&out[..len]).unwrap();
        assert_eq!(f.header_len(), 32);
        assert_eq!(&out[20..31], &options[..11]);
        assert_eq!(&out[31..32], &[0]);
        assert!(f.verify_checksum());
        split_and_check(&p, 500);
    }

    #[test]
    fn a_fragment_split_again_keeps_its_offset_and_more_flag() {
        // The middle fragment of something bigger: offset 100 (x8), MF set.
        let p = packet(1000, FLAG_MF | 100, &[], 17);
        let mut out = [0u8; 2048];
        let mut start = Some(0);
        let mut last_mf = false;
        let mut first_offset = None;
        while let Some(at) = start {
            let (len, next) = fragment(&p, 400, at, &mut out).unwrap();
            let f = Ipv4Packet::new_checked(&out[..len]).unwrap();
            first_offset.get_or_insert(f.frag_offset());
            last_mf = f.more_frags();
            start = next;
        }
        assert_eq!(first_offset, Some(800));
        assert!(last_mf, "the last piece of a middle fragment still has MF");
    }

    #[test]
    fn random_packets_never_panic() {
        let mut rng = XorShift(0xF7A6);
        let mut out = [0u8; 2048];
        let base = packet(700, 0, &[130, 3, 0, 1, 7, 3, 0, 0], 17);
        for _ in 0..20_000 {
            let mut p = base.clone();
            for _ in 0..1 + rng.next_u32() % 4 {
                let i = rng.next_u32() as usize % 28;
                p[i] = rng.next_u32() as u8;
            }
            let cut = rng.next_u32() as usize % (p.len() + 1);
            let mtu = rng.next_u32() as usize % 800;
            let start = (rng.next_u32() as usize % 800) & !7;
            let _ = fragment(&p[..cut], mtu, start, &mut out);
            let small = rng.next_u32() as usize % 100;
            let _ = fragment(&p[..cut], mtu, start, &mut out[..small]);
            let _ = frag_needed(&p[..cut], ROUTER, mtu as u16, &mut out[..small]);
            let _ = frag_needed(&p[..cut], ROUTER, mtu as u16, &mut out);
            let _ = dont_fragment(&p[..cut]);
        }
    }
}
