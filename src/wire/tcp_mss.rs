//! TCP MSS clamping for packets crossing the tunnel: lower the Maximum Segment Size option
//! of SYN and SYN-ACK segments so that neither end sends TCP segments larger than the
//! tunnel carries (the usual cure for "some sites hang behind the VPN", where path MTU
//! discovery is broken by a firewall eating ICMP). The same thing as iptables'
//! `TCPMSS --clamp-mss-to-pmtu`, done in place on an IPv4 packet.
//!
//! The TCP checksum is fixed incrementally (RFC 1624), so the payload is never summed again.
//! Anything that is not a well-formed, first-fragment IPv4 TCP SYN is left untouched.

/// IPv4 header (20) + TCP header (20) without options: what the MSS excludes from the MTU.
pub const IPV4_TCP_HEADERS: u16 = 40;

const PROTOCOL_TCP: u8 = 6;
const TCP_FLAG_SYN: u8 = 0x02;
const OPTION_END: u8 = 0;
const OPTION_NOP: u8 = 1;
const OPTION_MSS: u8 = 2;

/// Lower every MSS option of an IPv4 TCP SYN (or SYN-ACK) in `ip` to `max_mss`, fixing the
/// TCP checksum. Returns true if the packet changed. Packets that are not TCP SYNs, non-first
/// fragments and malformed packets are left as they are.
pub fn clamp_mss(ip: &mut [u8], max_mss: u16) -> bool {
    let Some((tcp_start, tcp_end)) = tcp_segment(ip) else {
        return false;
    };
    let Some(tcp) = ip.get_mut(tcp_start..tcp_end) else {
        return false;
    };
    if tcp.len() < 20 || tcp[13] & TCP_FLAG_SYN == 0 {
        return false;
    }
    let header_len = usize::from(tcp[12] >> 4) * 4;
    if header_len < 20 || header_len > tcp.len() {
        return false;
    }
    let mut changed = false;
    let mut i = 20;
    while i < header_len {
        match tcp[i] {
            OPTION_END => break,
            OPTION_NOP => i += 1,
            kind => {
                let Some(&len) = tcp.get(i + 1) else { break };
                let len = usize::from(len);
                if len < 2 || i + len > header_len {
                    break;
                }
                if kind == OPTION_MSS && len == 4 {
                    let old = u16::from_be_bytes([tcp[i + 2], tcp[i + 3]]);
                    if old > max_mss {
                        tcp[i + 2..i + 4].copy_from_slice(&max_mss.to_be_bytes());
                        // The checksum sums 16-bit words from the start of the TCP header:
                        // a value at an odd offset straddles two words, which in one's
                        // complement arithmetic is the same as the byte-swapped value.
                        let (old, new) = if i.is_multiple_of(2) {
                            (old, max_mss)
                        } else {
                            (old.swap_bytes(), max_mss.swap_bytes())
                        };
                        let sum = u16::from_be_bytes([tcp[16], tcp[17]]);
                        let sum = update_checksum(sum, old, new);
                        tcp[16..18].copy_from_slice(&sum.to_be_bytes());
                        changed = true;
                    }
                }
                i += len;
            }
        }
    }
    changed
}

/// Whether `ip` is an IPv4 TCP segment with SYN set that [`clamp_mss`] would look at (to
/// copy only those packets when the original may not be written).
pub fn is_syn(ip: &[u8]) -> bool {
    tcp_segment(ip).is_some_and(|(start, end)| {
        end.checked_sub(start).is_some_and(|len| len >= 20) && ip[start + 13] & TCP_FLAG_SYN != 0
    })
}

/// The byte range of the TCP segment in `ip`, if it is a well-formed IPv4 TCP packet that
/// starts the datagram (fragment offset 0).
fn tcp_segment(ip: &[u8]) -> Option<(usize, usize)> {
    let first = *ip.first()?;
    if first >> 4 != 4 || ip.len() < 20 {
        return None;
    }
    let header_len = usize::from(first & 0x0F) * 4;
    let total_len = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    if header_len < 20 || total_len < header_len || total_len > ip.len() {
        return None;
    }
    let fragment_offset = u16::from_be_bytes([ip[6], ip[7]]) & 0x1FFF;
    if ip[9] != PROTOCOL_TCP || fragment_offset != 0 {
        return None;
    }
    Some((header_len, total_len))
}

/// RFC 1624 eqn. 3: the Internet checksum `sum` after a 16-bit word changed from `old` to
/// `new`: HC' = ~(~HC + ~m + m').
pub fn update_checksum(sum: u16, old: u16, new: u16) -> u16 {
    !ones_complement_add(ones_complement_add(!sum, !old), new)
}

fn ones_complement_add(a: u16, b: u16) -> u16 {
    let s = u32::from(a) + u32::from(b);
    ((s & 0xFFFF) + (s >> 16)) as u16
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rand::{Random, XorShift};
    use core::net::Ipv4Addr;
    use smoltcp::phy::ChecksumCapabilities;
    use smoltcp::wire::{
        IpAddress, IpProtocol, Ipv4Packet, Ipv4Repr, TcpControl, TcpPacket, TcpRepr, TcpSeqNumber,
    };

    const SRC: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
    const DST: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);

    /// An IPv4 TCP segment with the given raw TCP options (padded to 4 bytes), `ip_options`
    /// in the IP header, valid checksums.
    fn segment(
        flags: u8,
        options: &[u8],
        ip_options: &[u8],
        payload: &[u8],
    ) -> heapless::Vec<u8, 256> {
        let mut opts: heapless::Vec<u8, 40> = heapless::Vec::from_slice(options).unwrap();
        while !opts.len().is_multiple_of(4) {
            opts.push(OPTION_END).unwrap();
        }
        let ip_header = 20 + ip_options.len();
        let tcp_len = 20 + opts.len() + payload.len();
        let mut p: heapless::Vec<u8, 256> = heapless::Vec::new();
        p.resize(ip_header + tcp_len, 0).unwrap();
        p[0] = 0x40 | (ip_header / 4) as u8;
        p[2..4].copy_from_slice(&((ip_header + tcp_len) as u16).to_be_bytes());
        p[8] = 64;
        p[9] = PROTOCOL_TCP;
        p[12..16].copy_from_slice(&SRC.octets());
        p[16..20].copy_from_slice(&DST.octets());
        p[20..ip_header].copy_from_slice(ip_options);
        let t = &mut p[ip_header..];
        t[0..2].copy_from_slice(&40000u16.to_be_bytes());
        t[2..4].copy_from_slice(&443u16.to_be_bytes());
        t[4..8].copy_from_slice(&0x1234_5678u32.to_be_bytes());
        t[12] = (((20 + opts.len()) / 4) as u8) << 4;
        t[13] = flags;
        t[14..16].copy_from_slice(&65535u16.to_be_bytes());
        t[20..20 + opts.len()].copy_from_slice(&opts);
        t[20 + opts.len()..].copy_from_slice(payload);
        let mut ip = Ipv4Packet::new_unchecked(&mut p[..]);
        ip.fill_checksum();
        let mut tcp = TcpPacket::new_unchecked(&mut p[ip_header..]);
        tcp.fill_checksum(&IpAddress::Ipv4(SRC), &IpAddress::Ipv4(DST));
        p
    }

    fn tcp_checksum_ok(p: &[u8]) -> bool {
        let ip = Ipv4Packet::new_checked(p).unwrap();
        let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
        tcp.verify_checksum(&IpAddress::Ipv4(SRC), &IpAddress::Ipv4(DST))
    }

    fn mss_of(p: &[u8]) -> Option<u16> {
        let ip = Ipv4Packet::new_checked(p).unwrap();
        let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
        TcpRepr::parse(
            &tcp,
            &IpAddress::Ipv4(SRC),
            &IpAddress::Ipv4(DST),
            &ChecksumCapabilities::ignored(),
        )
        .unwrap()
        .max_seg_size
    }

    const SYN: u8 = 0x02;
    const SYN_ACK: u8 = 0x12;
    const ACK: u8 = 0x10;

    #[test]
    fn syn_from_smoltcp_is_clamped_with_a_valid_checksum() {
        // A SYN as a real stack builds it (smoltcp: MSS, window scale, SACK permitted).
        let repr = TcpRepr {
            src_port: 40000,
            dst_port: 80,
            control: TcpControl::Syn,
            seq_number: TcpSeqNumber(7),
            ack_number: None,
            window_len: 64240,
            window_scale: Some(7),
            max_seg_size: Some(1460),
            sack_permitted: true,
            sack_ranges: [None; 3],
            timestamp: None,
            payload: &[],
        };
        let ip_repr = Ipv4Repr {
            src_addr: SRC,
            dst_addr: DST,
            next_header: IpProtocol::Tcp,
            payload_len: repr.header_len(),
            hop_limit: 64,
        };
        let mut p = [0u8; 80];
        let len = 20 + repr.header_len();
        let caps = ChecksumCapabilities::default();
        ip_repr.emit(&mut Ipv4Packet::new_unchecked(&mut p[..]), &caps);
        repr.emit(
            &mut TcpPacket::new_unchecked(&mut p[20..len]),
            &IpAddress::Ipv4(SRC),
            &IpAddress::Ipv4(DST),
            &caps,
        );
        assert!(is_syn(&p[..len]));
        assert!(clamp_mss(&mut p[..len], 1360));
        assert_eq!(mss_of(&p[..len]), Some(1360));
        assert!(tcp_checksum_ok(&p[..len]));
        // Already small enough: nothing to do.
        assert!(!clamp_mss(&mut p[..len], 1400));
        assert_eq!(mss_of(&p[..len]), Some(1360));
    }

    #[test]
    fn syn_ack_and_odd_offsets() {
        // MSS after one NOP: its value sits at an odd offset of the TCP header.
        for (options, flags) in [
            (&[2, 4, 0x05, 0xB4][..], SYN_ACK),
            (&[1, 2, 4, 0x05, 0xB4, 1, 1, 1][..], SYN),
            (&[1, 1, 1, 2, 4, 0xFF, 0xFF][..], SYN),
            (&[3, 3, 7, 2, 4, 0x05, 0xB4][..], SYN_ACK),
        ] {
            let mut p = segment(flags, options, &[], &[]);
            assert!(clamp_mss(&mut p, 1360), "{options:?}");
            assert_eq!(mss_of(&p), Some(1360), "{options:?}");
            assert!(tcp_checksum_ok(&p), "{options:?}");
        }
    }

    #[test]
    fn ip_options_and_payload() {
        // Record-route IP option (7 bytes + EOL): the TCP header starts at 28.
        let ip_options = [7, 7, 4, 0, 0, 0, 0, 0];
        let mut p = segment(SYN, &[2, 4, 0x23, 0x28], &ip_options, b"fast open data");
        assert!(clamp_mss(&mut p, 536));
        assert_eq!(mss_of(&p), Some(536));
        assert!(tcp_checksum_ok(&p));
    }

    #[test]
    fn what_is_left_alone() {
        let mss = [2, 4, 0x05, 0xB4];
        // Not a SYN.
        let mut p = segment(ACK, &mss, &[], &[]);
        assert!(!is_syn(&p));
        let before = p.clone();
        assert!(!clamp_mss(&mut p, 1000));
        assert_eq!(p, before);
        // A non-first fragment (offset 8 x 8 bytes): its "TCP header" is payload.
        let mut p = segment(SYN, &mss, &[], &[]);
        p[6..8].copy_from_slice(&8u16.to_be_bytes());
        let before = p.clone();
        assert!(!clamp_mss(&mut p, 1000));
        assert_eq!(p, before);
        // The first fragment (MF set, offset 0) is clamped.
        let mut p = segment(SYN, &mss, &[], &[]);
        p[6] = 0x20;
        assert!(clamp_mss(&mut p, 1000));
        // UDP.
        let mut p = segment(SYN, &mss, &[], &[]);
        p[9] = 17;
        assert!(!clamp_mss(&mut p, 1000));
        // An MSS option with the wrong length, an option running past the header, no MSS.
        for options in [
            &[2, 3, 5, 0xB4][..],
            &[1, 1, 8, 9, 0, 0, 0, 0][..],
            &[4, 2][..],
        ] {
            let mut p = segment(SYN, options, &[], &[]);
            let before = p.clone();
            assert!(!clamp_mss(&mut p, 1000), "{options:?}");
            assert_eq!(p, before);
        }
        // Options after End-of-list are not looked at.
        let mut p = segment(SYN, &[0, 0, 0, 0, 2, 4, 5, 0xB4], &[], &[]);
        assert!(!clamp_mss(&mut p, 1000));
        // IPv6, an empty buffer, a truncated packet.
        let mut p = segment(SYN, &mss, &[], &[]);
        p[0] = 0x65;
        assert!(!clamp_mss(&mut p, 1000));
        assert!(!clamp_mss(&mut [], 1000));
        let mut p = segment(SYN, &mss, &[], &[]);
        let n = p.len();
        assert!(!clamp_mss(&mut p[..n - 1], 1000));
    }

    #[test]
    fn rfc1624_example() {
        // RFC 1624 §5: HC = 0xDD2F, m 0x5555 -> 0x3285 gives HC' = 0x0000.
        assert_eq!(update_checksum(0xDD2F, 0x5555, 0x3285), 0x0000);
    }

    #[test]
    fn random_and_mutated_packets_never_panic_and_keep_checksums() {
        let mut rng = XorShift(0x5EED_7C9F);
        let base = segment(SYN, &[1, 2, 4, 0x05, 0xB4, 1, 3, 3, 7], &[], b"xyz");
        for round in 0..20_000 {
            let mut p = base.clone();
            let flips = 1 + rng.next_u32() as usize % 4;
            for _ in 0..flips {
                let i = rng.next_u32() as usize % p.len();
                p[i] = rng.next_u32() as u8;
            }
            let cut = if round % 3 == 0 {
                rng.next_u32() as usize % (p.len() + 1)
            } else {
                p.len()
            };
            let valid_before = Ipv4Packet::new_checked(&p[..cut]).is_ok_and(|ip| {
                ip.src_addr() == SRC
                    && ip.dst_addr() == DST
                    && TcpPacket::new_checked(ip.payload()).is_ok_and(|t| {
                        t.verify_checksum(&IpAddress::Ipv4(SRC), &IpAddress::Ipv4(DST))
                    })
            });
            let max = (rng.next_u32() % 2000) as u16;
            let _ = is_syn(&p[..cut]);
            clamp_mss(&mut p[..cut], max);
            if valid_before {
                assert!(tcp_checksum_ok(&p[..cut]), "round {round}");
            }
        }
        let mut junk = [0u8; 80];
        for _ in 0..20_000 {
            rng.fill_bytes(&mut junk);
            junk[0] = 0x45;
            let n = rng.next_u32() as usize % junk.len();
            clamp_mss(&mut junk[..n], 1360);
        }
    }
}
