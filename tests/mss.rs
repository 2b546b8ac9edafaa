//! MSS clamping and the tunnel MTU, in process (see `tests/common/harness.rs`): a TCP SYN
//! through the tunnel has its MSS clamped to the client's MTU less 40 in both directions
//! with a valid checksum; a packet for the client larger than its MTU (its MRU, our `mtu`,
//! MPPE's 4 bytes) is fragmented when DF is clear and answered with ICMP "fragmentation
//! needed" when DF is set; `mss-clamp off` and a fixed value. The server must not allocate.

mod common;

mod support;

use std::net::Ipv4Addr;

use common::harness::{lab_settings, Net, LOCAL, PASSWORD, USER};
use common::CountingAllocator;
use smolpptp::settings::{MssClamp, Settings};
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::time::Duration;
use smoltcp::wire::{
    Icmpv4DstUnreachable, Icmpv4Message, Icmpv4Packet, IpAddress, IpProtocol, Ipv4Packet, Ipv4Repr,
    TcpControl, TcpPacket, TcpRepr, TcpSeqNumber,
};
use support::client::{ClientConfig, State};
use support::packets;

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const FAR: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
/// The client asks for MRU 1200; the server's `mtu` is 1400; MPPE takes 4.
const CLIENT_MRU: u16 = 1200;
const TUNNEL_MTU: u16 = CLIENT_MRU - 4;

fn up(settings: Settings) -> (Net, Ipv4Addr) {
    let mut net = Net::new(settings);
    let mut config = ClientConfig::new(USER, PASSWORD);
    config.mru = Some(CLIENT_MRU);
    let i = net.connect(config);
    let ok = net.run_until(Duration::from_secs(30), |n| {
        n.client(i).is_up() || n.client(i).is_finished()
    });
    assert!(
        ok && *net.client(0).state() == State::Up,
        "{:?}",
        net.client(0).failure()
    );
    let me = net.client(0).assigned_address().unwrap();
    (net, me)
}

/// A TCP SYN (or SYN-ACK) from `src` to `dst` offering `mss`, as a real stack writes it.
fn syn(src: Ipv4Addr, dst: Ipv4Addr, ack: bool, mss: u16) -> Vec<u8> {
    let repr = TcpRepr {
        src_port: 40000,
        dst_port: 443,
        control: TcpControl::Syn,
        seq_number: TcpSeqNumber(1000),
        ack_number: ack.then_some(TcpSeqNumber(5000)),
        window_len: 64240,
        window_scale: Some(7),
        max_seg_size: Some(mss),
        sack_permitted: true,
        sack_ranges: [None; 3],
        timestamp: None,
        payload: &[],
    };
    let ip = Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: IpProtocol::Tcp,
        payload_len: repr.header_len(),
        hop_limit: 64,
    };
    let mut p = vec![0u8; 20 + repr.header_len()];
    let caps = ChecksumCapabilities::default();
    ip.emit(&mut Ipv4Packet::new_unchecked(&mut p[..]), &caps);
    repr.emit(
        &mut TcpPacket::new_unchecked(&mut p[20..]),
        &IpAddress::Ipv4(src),
        &IpAddress::Ipv4(dst),
        &caps,
    );
    p
}

/// The MSS of a SYN, after checking both checksums.
fn mss_of(p: &[u8]) -> Option<u16> {
    let ip = Ipv4Packet::new_checked(p).unwrap();
    assert!(ip.verify_checksum());
    let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
    let (src, dst) = (
        IpAddress::Ipv4(ip.src_addr()),
        IpAddress::Ipv4(ip.dst_addr()),
    );
    assert!(tcp.verify_checksum(&src, &dst), "TCP checksum broken");
    TcpRepr::parse(&tcp, &src, &dst, &ChecksumCapabilities::default())
        .unwrap()
        .max_seg_size
}

/// A SYN up the tunnel and a SYN-ACK down it; the MSS each arrives with.
fn syn_both_ways(net: &mut Net, me: Ipv4Addr) -> (Option<u16>, Option<u16>) {
    net.sink.packets.clear();
    let now = net.now;
    net.client_mut(0)
        .send_ip(now, &syn(me, FAR, false, 1460))
        .unwrap();
    net.run_until(Duration::from_millis(500), |n| !n.sink.packets.is_empty());
    let up = net
        .sink
        .packets
        .pop_front()
        .expect("SYN reached the network");
    assert!(net.send_to_client(&syn(FAR, me, true, 1460)));
    net.run_until(Duration::from_millis(500), |_| false);
    let down = net
        .client_mut(0)
        .recv_ip_packet()
        .expect("SYN-ACK reached the client");
    (mss_of(&up), mss_of(&down))
}

#[test]
fn syn_mss_is_clamped_both_ways_with_valid_checksums() {
    common::big_stack(syn_mss_is_clamped_both_ways_with_valid_checksums_body);
}

fn syn_mss_is_clamped_both_ways_with_valid_checksums_body() {
    let (mut net, me) = up(lab_settings());
    let want = TUNNEL_MTU - 40;
    assert_eq!(syn_both_ways(&mut net, me), (Some(want), Some(want)));
    // A smaller MSS is left alone.
    net.sink.packets.clear();
    let now = net.now;
    net.client_mut(0)
        .send_ip(now, &syn(me, FAR, false, 536))
        .unwrap();
    net.run_until(Duration::from_millis(500), |n| !n.sink.packets.is_empty());
    assert_eq!(mss_of(&net.sink.packets.pop_front().unwrap()), Some(536));
    assert!(
        net.client(0).violations().is_empty(),
        "{:?}",
        net.client(0).violations()
    );
    assert_eq!(net.server_allocations, 0);
}

/// The MSS a SYN arrives with each way under `clamp`, in a lab of its own.
fn clamped_with(clamp: MssClamp) -> (Option<u16>, Option<u16>) {
    let mut settings = lab_settings();
    settings.mss_clamp = clamp;
    let (mut net, me) = up(settings);
    let result = syn_both_ways(&mut net, me);
    assert_eq!(net.server_allocations, 0);
    result
}

#[test]
fn mss_clamp_off_and_fixed() {
    common::big_stack(mss_clamp_off_and_fixed_body);
}

fn mss_clamp_off_and_fixed_body() {
    assert_eq!(clamped_with(MssClamp::Off), (Some(1460), Some(1460)));
    assert_eq!(
        clamped_with(MssClamp::Fixed(1000)),
        (Some(1000), Some(1000))
    );
    // A fixed value above what the tunnel carries is lowered to it.
    let want = TUNNEL_MTU - 40;
    assert_eq!(
        clamped_with(MssClamp::Fixed(1400)),
        (Some(want), Some(want))
    );
}

fn udp(src: Ipv4Addr, dst: Ipv4Addr, len: usize, dont_fragment: bool) -> Vec<u8> {
    let mut p = packets::ipv4_udp(src, dst, 5000, 6000, 9, len - 28);
    if dont_fragment {
        p[6] = 0x40;
        Ipv4Packet::new_unchecked(&mut p[..]).fill_checksum();
    }
    p
}

#[test]
fn oversize_with_df_gets_icmp_fragmentation_needed() {
    common::big_stack(oversize_with_df_gets_icmp_fragmentation_needed_body);
}

fn oversize_with_df_gets_icmp_fragmentation_needed_body() {
    let (mut net, me) = up(lab_settings());
    net.sink.packets.clear();
    let big = udp(FAR, me, 1400, true);
    assert!(
        !net.send_to_client(&big),
        "a packet over the MTU with DF is not sent"
    );
    net.run_until(Duration::from_millis(200), |n| !n.sink.packets.is_empty());
    let icmp = net
        .sink
        .packets
        .pop_front()
        .expect("ICMP went to the network");
    let ip = Ipv4Packet::new_checked(&icmp[..]).unwrap();
    assert!(ip.verify_checksum());
    assert_eq!((ip.src_addr(), ip.dst_addr()), (LOCAL, FAR));
    let msg = Icmpv4Packet::new_checked(ip.payload()).unwrap();
    assert!(msg.verify_checksum());
    assert_eq!(msg.msg_type(), Icmpv4Message::DstUnreachable);
    assert_eq!(msg.msg_code(), u8::from(Icmpv4DstUnreachable::FragRequired));
    assert_eq!(
        &ip.payload()[6..8],
        &TUNNEL_MTU.to_be_bytes(),
        "next-hop MTU"
    );
    assert_eq!(msg.data(), &big[..28], "quotes the header and 8 bytes");
    assert!(net.client_mut(0).recv_ip_packet().is_none());
    // Exactly the MTU passes.
    assert!(net.send_to_client(&udp(FAR, me, usize::from(TUNNEL_MTU), true)));
    net.run_until(Duration::from_millis(200), |_| false);
    let got = net.client_mut(0).recv_ip_packet().unwrap();
    assert_eq!(got.len(), usize::from(TUNNEL_MTU));
    assert_eq!(net.server.sessions().next().unwrap().counters.too_big, 1);
    assert_eq!(net.server_allocations, 0);
}

#[test]
fn oversize_without_df_is_fragmented_to_the_mtu() {
    common::big_stack(oversize_without_df_is_fragmented_to_the_mtu_body);
}

fn oversize_without_df_is_fragmented_to_the_mtu_body() {
    let (mut net, me) = up(lab_settings());
    let big = udp(FAR, me, 1480, false);
    assert!(net.send_to_client(&big));
    net.run_until(Duration::from_millis(200), |_| false);
    let mut pieces = Vec::new();
    while let Some(p) = net.client_mut(0).recv_ip_packet() {
        pieces.push(p);
    }
    assert_eq!(pieces.len(), 2);
    let mut whole = vec![0u8; big.len() - 20];
    for p in &pieces {
        assert!(p.len() <= usize::from(TUNNEL_MTU), "{} > MTU", p.len());
        let ip = Ipv4Packet::new_checked(&p[..]).unwrap();
        assert!(ip.verify_checksum());
        let at = usize::from(ip.frag_offset());
        whole[at..at + ip.payload().len()].copy_from_slice(ip.payload());
    }
    assert_eq!(&whole[..], &big[20..], "fragments reassemble to the packet");
    let s = net.server.sessions().next().unwrap();
    assert_eq!((s.counters.fragmented, s.counters.packets_out), (1, 2));
    assert!(
        net.client(0).violations().is_empty(),
        "{:?}",
        net.client(0).violations()
    );
    assert_eq!(net.server_allocations, 0);
}
