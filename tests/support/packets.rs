//! Test traffic: IPv4/UDP and IPv4/ICMP packets that carry a sequence number, so a test can
//! send a numbered stream through the tunnel and compare what arrives byte for byte; plus the
//! IPv4 wrapping/unwrapping a raw GRE socket needs.
//!
//! Written from RFC 791/768/792 directly (not with smoltcp) so the packets are an
//! independent check of whatever the server forwards.

use std::net::Ipv4Addr;

pub const PROTO_ICMP: u8 = 1;
pub const PROTO_UDP: u8 = 17;
pub const PROTO_GRE: u8 = 47;
pub const IPV4_HEADER_LEN: usize = 20;
const UDP_HEADER_LEN: usize = 8;
const ICMP_HEADER_LEN: usize = 8;
/// Bytes at the start of every test payload: the big-endian sequence number.
const SEQUENCE_LEN: usize = 4;

/// RFC 1071 Internet checksum of `data` folded into `initial` (a partial one's-complement
/// sum, e.g. of a pseudo header).
pub fn checksum_with(initial: u32, data: &[u8]) -> u16 {
    let mut sum = initial;
    let mut chunks = data.chunks_exact(2);
    for pair in &mut chunks {
        sum = sum.wrapping_add(u32::from(u16::from_be_bytes([pair[0], pair[1]])));
    }
    if let [last] = chunks.remainder() {
        sum = sum.wrapping_add(u32::from(*last) << 8);
    }
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}

pub fn checksum(data: &[u8]) -> u16 {
    checksum_with(0, data)
}

/// A 20-byte IPv4 header (no options, DF clear, TTL 64) followed by `payload`.
pub fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, id: u16, payload: &[u8]) -> Vec<u8> {
    let total = IPV4_HEADER_LEN + payload.len();
    assert!(total <= 0xFFFF, "IPv4 packet too long");
    let mut p = Vec::with_capacity(total);
    p.extend_from_slice(&[0x45, 0x00]);
    p.extend_from_slice(&(total as u16).to_be_bytes());
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&[0x00, 0x00, 64, protocol, 0, 0]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    let sum = checksum(&p[..IPV4_HEADER_LEN]);
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// The payload every test packet carries: the sequence number, then `len - 4` bytes that are
/// a function of the sequence number (so a corrupted or mixed-up packet is detectable).
pub fn test_payload(sequence: u32, len: usize) -> Vec<u8> {
    let len = len.max(SEQUENCE_LEN);
    let mut payload = sequence.to_be_bytes().to_vec();
    payload.extend(
        (SEQUENCE_LEN..len).map(|i| (i as u32).wrapping_mul(31).wrapping_add(sequence) as u8),
    );
    payload
}

/// IPv4/UDP packet whose payload is [`test_payload`]`(sequence, payload_len)`; the UDP
/// checksum is filled in.
pub fn ipv4_udp(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    src_port: u16,
    dst_port: u16,
    sequence: u32,
    payload_len: usize,
) -> Vec<u8> {
    let data = test_payload(sequence, payload_len);
    let udp_len = UDP_HEADER_LEN + data.len();
    let mut udp = Vec::with_capacity(udp_len);
    udp.extend_from_slice(&src_port.to_be_bytes());
    udp.extend_from_slice(&dst_port.to_be_bytes());
    udp.extend_from_slice(&(udp_len as u16).to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(&data);
    let mut cks = checksum_with(udp_pseudo_header_sum(src, dst, udp_len as u16), &udp);
    if cks == 0 {
        cks = 0xFFFF; // RFC 768: a computed zero is sent as all ones
    }
    udp[6..8].copy_from_slice(&cks.to_be_bytes());
    ipv4(src, dst, PROTO_UDP, sequence as u16, &udp)
}

fn udp_pseudo_header_sum(src: Ipv4Addr, dst: Ipv4Addr, udp_len: u16) -> u32 {
    let mut pseudo = Vec::with_capacity(12);
    pseudo.extend_from_slice(&src.octets());
    pseudo.extend_from_slice(&dst.octets());
    pseudo.extend_from_slice(&[0, PROTO_UDP]);
    pseudo.extend_from_slice(&udp_len.to_be_bytes());
    pseudo
        .chunks_exact(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum()
}

/// IPv4/ICMP Echo Request (type 8) with identifier `ident`, ICMP sequence `sequence as u16`
/// and [`test_payload`]`(sequence, payload_len)`.
pub fn ipv4_icmp_echo(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ident: u16,
    sequence: u32,
    payload_len: usize,
) -> Vec<u8> {
    let data = test_payload(sequence, payload_len);
    let mut icmp = Vec::with_capacity(ICMP_HEADER_LEN + data.len());
    icmp.extend_from_slice(&[8, 0, 0, 0]);
    icmp.extend_from_slice(&ident.to_be_bytes());
    icmp.extend_from_slice(&(sequence as u16).to_be_bytes());
    icmp.extend_from_slice(&data);
    let cks = checksum(&icmp);
    icmp[2..4].copy_from_slice(&cks.to_be_bytes());
    ipv4(src, dst, PROTO_ICMP, sequence as u16, &icmp)
}

/// The fields of an IPv4 packet a test looks at. `payload` stops at the Total Length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4View<'a> {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub payload: &'a [u8],
}

/// Parse an IPv4 header (version 4, IHL ≥ 5, total length within the buffer, header checksum
/// correct). A raw `IPPROTO_GRE` socket hands over packets with this header in front.
pub fn parse_ipv4(packet: &[u8]) -> Option<Ipv4View<'_>> {
    if packet.len() < IPV4_HEADER_LEN || packet[0] >> 4 != 4 {
        return None;
    }
    let header_len = usize::from(packet[0] & 0x0F) * 4;
    let total = usize::from(u16::from_be_bytes([packet[2], packet[3]]));
    if header_len < IPV4_HEADER_LEN || total < header_len || total > packet.len() {
        return None;
    }
    if checksum(&packet[..header_len]) != 0 {
        return None;
    }
    Some(Ipv4View {
        src: Ipv4Addr::new(packet[12], packet[13], packet[14], packet[15]),
        dst: Ipv4Addr::new(packet[16], packet[17], packet[18], packet[19]),
        protocol: packet[9],
        payload: &packet[header_len..total],
    })
}

/// The GRE packet inside an IPv4/GRE packet, or `None` if it is not one.
pub fn strip_ipv4_gre(packet: &[u8]) -> Option<&[u8]> {
    parse_ipv4(packet)
        .filter(|v| v.protocol == PROTO_GRE)
        .map(|v| v.payload)
}

/// The test sequence number carried by a packet built by [`ipv4_udp`] or [`ipv4_icmp_echo`]
/// (also works for an ICMP Echo Reply, whose payload is echoed).
pub fn test_sequence(packet: &[u8]) -> Option<u32> {
    let ip = parse_ipv4(packet)?;
    let header = match ip.protocol {
        PROTO_UDP => UDP_HEADER_LEN,
        PROTO_ICMP => ICMP_HEADER_LEN,
        _ => return None,
    };
    let seq = ip.payload.get(header..header + SEQUENCE_LEN)?;
    Some(u32::from_be_bytes([seq[0], seq[1], seq[2], seq[3]]))
}
