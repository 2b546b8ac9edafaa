//! IPv6 inside the tunnel (IPv6CP, RFC 5072), in process: the project's test client against
//! the whole server over the in-memory network of `common::harness`.
//!
//! Off (the default): the client's IPv6CP gets LCP Protocol-Reject and IPv4 carries on.
//! On: IPv6CP opens with an Interface-Identifier per client, unique across sessions
//! (duplicates, zero and the server's own are Nak'd), and link-local IPv6 passes both ways,
//! MPPE-encrypted, byte for byte; a client cannot send from an address not its own. Nothing
//! the server does allocates.

mod common;

mod support;

use std::cell::RefCell;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::rc::Rc;

use common::harness::{lab_settings, Direction, Net, PASSWORD, USER};
use common::{CountingAllocator, Fault};
use smolpptp::settings::Settings;
use smoltcp::time::Duration;
use support::client::{ClientConfig, State};
use support::packets;

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const SETUP: Duration = Duration::from_secs(30);
/// Bytes every test payload carries, so a clear copy on the wire would be found.
const MARKER: &[u8; 16] = b"IPv6-in-PPTP-tst";

fn ipv6_settings() -> Settings {
    let mut settings = lab_settings();
    settings.ppp.ipv6.enabled = true;
    settings
}

fn link_local(id: [u8; 8]) -> Ipv6Addr {
    let mut octets = [0u8; 16];
    octets[..2].copy_from_slice(&[0xFE, 0x80]);
    octets[8..].copy_from_slice(&id);
    Ipv6Addr::from(octets)
}

/// An IPv6/UDP packet (RFC 8200, RFC 768; checksum left zero: nothing here checks it)
/// carrying `MARKER`, `seq` and a pattern.
fn ipv6_udp(src: Ipv6Addr, dst: Ipv6Addr, seq: u32, len: usize) -> Vec<u8> {
    let mut payload = MARKER.to_vec();
    payload.extend_from_slice(&seq.to_be_bytes());
    payload.extend((0..len).map(|i| (i as u32).wrapping_mul(31).wrapping_add(seq) as u8));
    let udp_len = 8 + payload.len();
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&(udp_len as u16).to_be_bytes());
    p.extend_from_slice(&[packets::PROTO_UDP, 64]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(&[0x1F, 0x90, 0x1F, 0x91]);
    p.extend_from_slice(&(udp_len as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(&payload);
    p
}

fn config(request_ipv6: bool, id: Option<[u8; 8]>) -> ClientConfig {
    let mut config = ClientConfig::new(USER, PASSWORD);
    config.request_ipv6 = request_ipv6;
    config.ipv6_interface_id = id;
    config
}

/// Connect a client and run until IPv4 is up and IPv6CP has settled (open or rejected).
fn bring_up(net: &mut Net, config: ClientConfig, want_ipv6: bool) -> usize {
    let i = net.connect(config);
    let settled = |n: &mut Net| {
        let c = n.client(i);
        c.is_finished() || (c.is_up() && (c.ipv6_up() || !want_ipv6 || c.ipv6_rejected()))
    };
    assert!(net.run_until(SETUP, settled), "client {i} not up in time");
    assert_eq!(
        *net.client(i).state(),
        State::Up,
        "client {i}: {:?}",
        net.client(i).failure()
    );
    // A little longer, so a late Protocol-Reject or renegotiation would show.
    net.run_until(Duration::from_secs(1), |_| false);
    i
}

/// One IPv6 packet each way between client `i` and the network; both arrive unchanged.
fn ipv6_round_trip(net: &mut Net, i: usize, seq: u32) {
    let me = link_local(net.client(i).ipv6_interface_id().expect("IPv6CP open"));
    let server = link_local(net.client(i).ipv6_server_interface_id().unwrap());
    let up = ipv6_udp(me, server, seq, 200);
    let now = net.now;
    net.sink.packets.clear();
    net.client_mut(i).send_ip(now, &up).unwrap();
    let down = ipv6_udp(server, me, seq + 1, 700);
    assert!(net.send_to_client(&down), "server refused IPv6 for {me}");
    net.run_until(Duration::from_millis(500), |_| false);
    let delivered: Vec<_> = net.sink.packets.iter().map(|p| p.to_vec()).collect();
    assert_eq!(delivered, vec![up], "client {i} to the network");
    assert_eq!(
        net.client_mut(i).recv_ip_packet(),
        Some(down),
        "network to client {i}"
    );
    assert_eq!(net.client_mut(i).recv_ip_packet(), None);
}

/// IPv4 still works: one packet each way.
fn ipv4_round_trip(net: &mut Net, i: usize) {
    let me = net.client(i).assigned_address().unwrap();
    let far = Ipv4Addr::new(198, 51, 100, 7);
    let up = packets::ipv4_udp(me, far, 4000, 5000, 1, 300);
    let down = packets::ipv4_udp(far, me, 5000, 4000, 2, 300);
    net.sink.packets.clear();
    let now = net.now;
    net.client_mut(i).send_ip(now, &up).unwrap();
    assert!(net.send_to_client(&down));
    net.run_until(Duration::from_millis(500), |_| false);
    assert_eq!(net.sink.packets.pop_front().map(|p| p.to_vec()), Some(up));
    assert_eq!(net.client_mut(i).recv_ip_packet(), Some(down));
}

/// Watch GRE data frames both ways: the PPP protocol of each, and whether `MARKER` shows.
fn watch_wire(net: &mut Net) -> Rc<RefCell<(Vec<u16>, usize)>> {
    let seen = Rc::new(RefCell::new((Vec::new(), 0usize)));
    let record = seen.clone();
    net.fault = Box::new(move |_: Direction, frame: &[u8]| {
        if frame.len() > 28 && frame[9] == packets::PROTO_GRE {
            let gre = &frame[20..];
            let header =
                8 + 4 * usize::from(gre[0] & 0x10 != 0) + 4 * usize::from(gre[1] & 0x80 != 0);
            if let Some(ppp) = gre.get(header..header + 4) {
                if ppp[..2] == [0xFF, 0x03] {
                    record
                        .borrow_mut()
                        .0
                        .push(u16::from_be_bytes([ppp[2], ppp[3]]));
                }
            }
            if frame.windows(MARKER.len()).any(|w| w == MARKER) {
                record.borrow_mut().1 += 1;
            }
        }
        Fault::Pass
    });
    seen
}

fn assert_clean(net: &Net) {
    for p in &net.peers {
        assert!(
            p.client.violations().is_empty(),
            "{:?}",
            p.client.violations()
        );
    }
    assert_eq!(net.server_allocations, 0, "the server allocated");
}

fn off_by_default_body() {
    let mut net = Net::new(lab_settings());
    assert!(!net.server.settings().ppp.ipv6.enabled);
    assert_eq!(net.server.ipv6_local_id(), None);
    let i = bring_up(&mut net, config(true, None), true);
    let client = net.client(i);
    assert!(client.ipv6_rejected(), "IPv6CP must be Protocol-Rejected");
    assert!(!client.ipv6_up());
    assert!(client.counters().protocol_rejects_rx >= 1);
    ipv4_round_trip(&mut net, i);
    // IPv6 from the network finds nobody.
    let id = [0x12, 0, 0, 0, 0, 0, 0, 1];
    let down = ipv6_udp(link_local([2; 8]), link_local(id), 1, 50);
    assert!(!net.send_to_client(&down));
    assert_clean(&net);
}

#[test]
fn ipv6_off_by_default_ipv6cp_is_protocol_rejected_and_ipv4_works() {
    common::big_stack(off_by_default_body);
}

fn both_ways_body() {
    let mut net = Net::new(ipv6_settings());
    let server_id = net
        .server
        .ipv6_local_id()
        .expect("a random identifier chosen");
    assert_ne!(server_id, [0; 8]);
    let wire = watch_wire(&mut net);
    let a = bring_up(&mut net, config(true, None), true);
    let b = bring_up(&mut net, config(true, None), true);
    // A client without IPv6 rejects the server's IPv6CP and keeps IPv4.
    let c = bring_up(&mut net, config(false, None), false);
    let (id_a, id_b) = (
        net.client(a).ipv6_interface_id().unwrap(),
        net.client(b).ipv6_interface_id().unwrap(),
    );
    assert_ne!(id_a, id_b);
    for i in [a, b] {
        assert!(net.client(i).mppe().is_some(), "MPPE is on");
        assert_eq!(net.client(i).ipv6_server_interface_id(), Some(server_id));
    }
    for seq in [10, 20, 30] {
        ipv6_round_trip(&mut net, a, seq);
        ipv6_round_trip(&mut net, b, seq + 100);
    }
    ipv4_round_trip(&mut net, a);
    ipv4_round_trip(&mut net, c);
    assert!(!net.client(c).ipv6_up());
    let (protocols, clear_markers) = wire.borrow().clone();
    assert!(
        protocols.contains(&0x00FD),
        "data went MPPE-compressed/encrypted"
    );
    assert!(
        !protocols.contains(&0x0057) && !protocols.contains(&0x0021),
        "clear IP on the wire: {protocols:04x?}"
    );
    assert_eq!(clear_markers, 0, "a payload was visible on the wire");
    // Nobody holds a made-up identifier; global destinations are not routed.
    let down = ipv6_udp(link_local(server_id), link_local([0x42; 8]), 1, 50);
    assert!(!net.send_to_client(&down));
    let mut global = link_local(id_a).octets();
    global[..2].copy_from_slice(&[0x20, 0x01]);
    let down = ipv6_udp(link_local(server_id), Ipv6Addr::from(global), 1, 50);
    assert!(!net.send_to_client(&down));
    // A client that hangs up releases its identifier.
    let now = net.now;
    net.client_mut(b).hang_up(now);
    assert!(net.run_until(Duration::from_secs(20), |n| n.client(b).is_finished()));
    let down = ipv6_udp(link_local(server_id), link_local(id_b), 1, 50);
    assert!(!net.send_to_client(&down));
    assert_clean(&net);
}

#[test]
fn ipv6_passes_both_ways_encrypted_with_distinct_identifiers() {
    common::big_stack(both_ways_body);
}

fn duplicates_body() {
    const SERVER_ID: [u8; 8] = [0, 0, 0, 0, 0, 0, 0, 1];
    const REMOTE_ID: [u8; 8] = [0, 0, 0, 0, 0, 0, 0, 2];
    const CHOSEN: [u8; 8] = [0x36, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77];
    let mut settings = ipv6_settings();
    settings.ppp.ipv6.local_id = Some(SERVER_ID);
    settings.ppp.ipv6.remote_id = Some(REMOTE_ID);
    let mut net = Net::new(settings);
    assert_eq!(net.server.ipv6_local_id(), Some(SERVER_ID));
    let first = bring_up(&mut net, config(true, Some(CHOSEN)), true);
    assert_eq!(net.client(first).ipv6_interface_id(), Some(CHOSEN));
    // The same identifier again: Nak'd with the configured remote identifier.
    let second = bring_up(&mut net, config(true, Some(CHOSEN)), true);
    assert_eq!(net.client(second).ipv6_interface_id(), Some(REMOTE_ID));
    // Zero ("suggest one"): the remote identifier is taken now, so a random one.
    let third = bring_up(&mut net, config(true, Some([0; 8])), true);
    // The server's own identifier: Nak'd too.
    let fourth = bring_up(&mut net, config(true, Some(SERVER_ID)), true);
    let ids: Vec<[u8; 8]> = [first, second, third, fourth]
        .iter()
        .map(|&i| net.client(i).ipv6_interface_id().unwrap())
        .collect();
    for (n, id) in ids.iter().enumerate() {
        assert_ne!(*id, [0; 8]);
        assert_ne!(*id, SERVER_ID);
        assert!(!ids[..n].contains(id), "identifier {id:02x?} given twice");
    }
    for (n, i) in [first, second, third, fourth].into_iter().enumerate() {
        ipv6_round_trip(&mut net, i, n as u32);
    }
    assert_clean(&net);
}

#[test]
fn duplicate_zero_and_server_identifiers_are_naked() {
    common::big_stack(duplicates_body);
}

fn spoofing_body() {
    let mut net = Net::new(ipv6_settings());
    let i = bring_up(&mut net, config(true, None), true);
    let me = net.client(i).ipv6_interface_id().unwrap();
    let server = link_local(net.client(i).ipv6_server_interface_id().unwrap());
    let mut global = link_local(me).octets();
    global[..2].copy_from_slice(&[0x20, 0x01]);
    let forged = [
        link_local([0x77; 8]),
        Ipv6Addr::from(global),
        Ipv6Addr::UNSPECIFIED,
    ];
    net.sink.packets.clear();
    for (n, src) in forged.into_iter().enumerate() {
        let now = net.now;
        let packet = ipv6_udp(src, server, n as u32, 64);
        net.client_mut(i).send_ip(now, &packet).unwrap();
    }
    // A truncated IPv6 header from the right client is dropped too.
    let now = net.now;
    net.client_mut(i)
        .send_ip(now, &ipv6_udp(link_local(me), server, 9, 64)[..30])
        .unwrap();
    net.run_until(Duration::from_millis(500), |_| false);
    assert!(net.sink.packets.is_empty(), "a forged packet was delivered");
    let spoofed: u64 = net.server.sessions().map(|s| s.counters.spoofed).sum();
    assert_eq!(spoofed, 4);
    ipv6_round_trip(&mut net, i, 1);
    assert_clean(&net);
}

#[test]
fn ipv6_from_another_address_is_dropped() {
    common::big_stack(spoofing_body);
}

fn windows_like_body() {
    let mut net = Net::new(ipv6_settings());
    // Windows sends IPCP and IPv6CP before CCP is up (Terminate-Ack until it is), PFC/ACFC.
    let mut windows = config(true, None).windows_like();
    windows.request_ipv6 = true;
    let i = bring_up(&mut net, windows, true);
    assert!(net.client(i).ipv6_up());
    ipv6_round_trip(&mut net, i, 7);
    ipv4_round_trip(&mut net, i);
    assert_clean(&net);
}

#[test]
fn windows_like_client_gets_ipv6_after_ccp() {
    common::big_stack(windows_like_body);
}
