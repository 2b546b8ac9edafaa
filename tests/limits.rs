//! Limits and timers against a hostile or careless network, in process (see
//! `tests/common/harness.rs`): vanished clients are reaped (LCP echo, PPTP echo keepalive)
//! and their address goes back to the pool, `idle`, `connections`, `max-per-source`, the
//! failed-authentication throttle, `stimeout` on silent and garbage connections, and a SYN
//! flood that only holds the 1723 sockets for the handshake timeout. Simulated time; the
//! server must not allocate in any of it.

mod common;

mod support;

use std::net::Ipv4Addr;

use common::harness::{lab_settings, Net, CLIENT_HOST, PASSWORD, POOL_FIRST, SERVER, USER};
use common::{CountingAllocator, Fault};
use smolpptp::limits;
use smolpptp::pptp::control::{ECHO_INTERVAL, ECHO_TIMEOUT};
use smolpptp::pptp::throttle::FIRST_BLOCK;
use smolpptp::server::HANDSHAKE_TIMEOUT;
use smolpptp::settings::{Settings, DEFAULT_MAX_PER_SOURCE};
use smoltcp::iface::SocketHandle;
use smoltcp::socket::tcp;
use smoltcp::time::Duration;
use smoltcp::wire::{
    IpAddress, IpProtocol, Ipv4Packet, Ipv4Repr, TcpControl, TcpPacket, TcpRepr, TcpSeqNumber,
};
use support::client::{ClientConfig, Failure, State};
use support::packets;

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const SETUP: Duration = Duration::from_secs(30);
/// The client host's second address (smoltcp's interface holds two).
const OTHER_HOST: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 101);

fn bring_up_from(net: &mut Net, config: ClientConfig, source: Ipv4Addr) -> usize {
    let i = net.connect_from(config, source);
    let up = net.run_until(SETUP, |n| n.client(i).is_up() || n.client(i).is_finished());
    assert!(up, "client {i} not up in time: {:?}", net.client(i).state());
    assert_eq!(
        *net.client(i).state(),
        State::Up,
        "client {i}: {:?}",
        net.client(i).failure()
    );
    i
}

fn bring_up(net: &mut Net, config: ClientConfig) -> usize {
    bring_up_from(net, config, CLIENT_HOST)
}

/// One packet each way between client `i` and the network; true if both arrived.
fn ping(net: &mut Net, i: usize) -> bool {
    let me = net.client(i).assigned_address().unwrap();
    let far = Ipv4Addr::new(198, 51, 100, 7);
    net.sink.packets.clear();
    let now = net.now;
    net.client_mut(i)
        .send_ip(now, &packets::ipv4_udp(me, far, 1, 2, 7, 200))
        .unwrap();
    let sent = net.send_to_client(&packets::ipv4_udp(far, me, 2, 1, 8, 200));
    net.run_until(Duration::from_millis(500), |_| false);
    let up = net.sink.packets.len() == 1;
    let mut down = 0;
    while net.client_mut(i).recv_ip_packet().is_some() {
        down += 1;
    }
    sent && up && down == 1
}

/// Drop every frame to or from `host`: the client behind it vanished without a goodbye.
fn cut_off(net: &mut Net, host: Ipv4Addr) {
    let octets = host.octets();
    net.fault = Box::new(move |_, frame: &[u8]| {
        if frame.len() >= 20 && (frame[12..16] == octets || frame[16..20] == octets) {
            Fault::Drop
        } else {
            Fault::Pass
        }
    });
}

fn sessions(net: &Net) -> usize {
    net.server.sessions().count()
}

/// A bare TCP connection to port 1723 from the client host, driven by the harness's client
/// interface but by no PPTP client.
fn raw_connection(net: &mut Net, port: u16) -> SocketHandle {
    let rx = tcp::SocketBuffer::new(Box::leak(vec![0u8; 2048].into_boxed_slice()) as &mut [u8]);
    let tx = tcp::SocketBuffer::new(Box::leak(vec![0u8; 2048].into_boxed_slice()) as &mut [u8]);
    let mut socket = tcp::Socket::new(rx, tx);
    socket
        .connect(
            net.cli_iface.context(),
            (IpAddress::Ipv4(SERVER), 1723),
            (IpAddress::Ipv4(CLIENT_HOST), port),
        )
        .unwrap();
    net.cli_sockets.add(socket)
}

fn tcp_state(net: &Net, handle: SocketHandle) -> tcp::State {
    net.cli_sockets.get::<tcp::Socket>(handle).state()
}

/// The server has closed (FIN) or reset this connection.
fn closed_by_server(net: &Net, handle: SocketHandle) -> bool {
    let socket = net.cli_sockets.get::<tcp::Socket>(handle);
    !socket.may_recv() && socket.state() != tcp::State::SynSent
}

#[test]
fn vanished_client_is_reaped_by_lcp_echo_and_its_address_reused() {
    common::big_stack(vanished_client_is_reaped_by_lcp_echo_and_its_address_reused_body);
}

fn vanished_client_is_reaped_by_lcp_echo_and_its_address_reused_body() {
    let mut settings = lab_settings();
    settings.ppp.lcp_echo_interval = 5;
    settings.ppp.lcp_echo_failure = 3;
    let mut net = Net::new(settings);
    let gone = bring_up_from(&mut net, ClientConfig::new(USER, PASSWORD), OTHER_HOST);
    assert_eq!(net.client(gone).assigned_address(), Some(POOL_FIRST));
    // Echoes are answered while the client is there.
    net.run_until(Duration::from_secs(30), |_| false);
    assert_eq!(sessions(&net), 1, "a live client is not reaped");

    cut_off(&mut net, OTHER_HOST);
    let start = net.now;
    assert!(net.run_until(Duration::from_secs(60), |n| sessions(n) == 0));
    let took = net.now - start;
    // 3 unanswered echoes 5 s apart, then LCP's Terminate-Requests: well before the PPTP
    // keepalive or TCP would notice.
    assert!(
        took >= Duration::from_secs(15) && took < ECHO_INTERVAL,
        "reaped after {took}"
    );

    // The address is free again: the next client gets it.
    let next = bring_up(&mut net, ClientConfig::new(USER, PASSWORD));
    assert_eq!(net.client(next).assigned_address(), Some(POOL_FIRST));
    assert!(ping(&mut net, next));
    assert_eq!(net.server_allocations, 0);
}

#[test]
fn client_that_stops_answering_pptp_echo_is_reaped() {
    common::big_stack(client_that_stops_answering_pptp_echo_is_reaped_body);
}

fn client_that_stops_answering_pptp_echo_is_reaped_body() {
    let mut net = Net::new(lab_settings()); // no LCP echo
    let mut config = ClientConfig::new(USER, PASSWORD);
    config.answer_control_echo = false;
    let i = bring_up(&mut net, config);
    let start = net.now;
    // TCP stays up (the client's stack still ACKs); only the PPTP keepalive can tell.
    assert!(net.run_until(Duration::from_secs(300), |n| sessions(n) == 0));
    let took = net.now - start;
    let expected = ECHO_INTERVAL + ECHO_TIMEOUT;
    assert!(
        took + Duration::from_secs(2) >= expected && took <= expected + Duration::from_secs(2),
        "reaped after {took}, expected about {expected}"
    );
    assert!(net.client(i).counters().control_echo_requests_rx >= 1);
    assert!(net.run_until(Duration::from_secs(10), |n| closed_by_server(
        n,
        n.peers[i].tcp
    )));

    let next = bring_up(&mut net, ClientConfig::new(USER, PASSWORD));
    assert_eq!(net.client(next).assigned_address(), Some(POOL_FIRST));
    assert_eq!(net.server_allocations, 0);
}

#[test]
fn idle_link_is_closed_and_traffic_keeps_it_open() {
    common::big_stack(idle_link_is_closed_and_traffic_keeps_it_open_body);
}

fn idle_link_is_closed_and_traffic_keeps_it_open_body() {
    let mut settings = lab_settings();
    settings.ppp.idle = 30;
    let mut net = Net::new(settings);
    let i = bring_up(&mut net, ClientConfig::new(USER, PASSWORD));
    net.run_until(Duration::from_secs(20), |_| false);
    let last_traffic = net.now;
    assert!(ping(&mut net, i), "traffic at 20 s");
    net.run_until(Duration::from_secs(20), |_| false);
    assert_eq!(sessions(&net), 1, "20 s after traffic the link is still up");
    assert!(
        net.run_until(Duration::from_secs(30), |n| sessions(n) == 0),
        "{:?}",
        net.client(i).state()
    );
    let idle = net.now - last_traffic;
    assert!(
        idle >= Duration::from_secs(30) && idle <= Duration::from_secs(32),
        "closed after {idle} idle"
    );
    assert!(
        net.client(i)
            .disconnect_reason()
            .unwrap_or_default()
            .contains("inactive"),
        "{:?}",
        net.client(i).disconnect_reason()
    );
    let next = bring_up(&mut net, ClientConfig::new(USER, PASSWORD));
    assert_eq!(net.client(next).assigned_address(), Some(POOL_FIRST));
    assert_eq!(net.server_allocations, 0);
}

#[test]
fn calls_beyond_connections_are_refused() {
    common::big_stack(calls_beyond_connections_are_refused_body);
}

fn calls_beyond_connections_are_refused_body() {
    let mut settings = lab_settings();
    settings.connections = 2;
    let mut net = Net::new(settings);
    let a = bring_up(&mut net, ClientConfig::new(USER, PASSWORD));
    let b = bring_up(&mut net, ClientConfig::new(USER, PASSWORD));
    let c = net.connect(ClientConfig::new(USER, PASSWORD));
    assert!(net.run_until(SETUP, |n| n.client(c).is_finished()));
    match net.client(c).failure() {
        Some(Failure::CallRejected { result, error }) => {
            assert_eq!((*result, *error), (2, 4), "General error / No-Resource")
        }
        other => panic!("expected Outgoing-Call-Reply refusal, got {other:?}"),
    }
    assert!(ping(&mut net, a) && ping(&mut net, b));
    assert_eq!(net.server_allocations, 0);
}

#[test]
fn control_connections_per_source_are_limited() {
    common::big_stack(control_connections_per_source_are_limited_body);
}

fn control_connections_per_source_are_limited_body() {
    assert_eq!(Settings::default().max_per_source, DEFAULT_MAX_PER_SOURCE);
    let mut settings = lab_settings();
    settings.max_per_source = 2;
    let mut net = Net::new(settings);
    let a = bring_up(&mut net, ClientConfig::new(USER, PASSWORD));
    let b = bring_up(&mut net, ClientConfig::new(USER, PASSWORD));

    // The third from the same address is reset as soon as its connection is accepted.
    let c = net.connect(ClientConfig::new(USER, PASSWORD));
    net.run_until(Duration::from_secs(10), |_| false);
    assert!(!net.client(c).is_up());
    assert_eq!(tcp_state(&net, net.peers[c].tcp), tcp::State::Closed);
    assert_eq!(sessions(&net), 2);

    // Another address is not affected.
    let d = bring_up_from(&mut net, ClientConfig::new(USER, PASSWORD), OTHER_HOST);
    assert!(ping(&mut net, a) && ping(&mut net, b) && ping(&mut net, d));

    // When one from the first address hangs up, that address may connect again.
    let now = net.now;
    net.client_mut(a).hang_up(now);
    assert!(net.run_until(Duration::from_secs(20), |n| n.client(a).is_finished()));
    net.run_until(Duration::from_secs(2), |_| false);
    let e = bring_up(&mut net, ClientConfig::new(USER, PASSWORD));
    assert!(ping(&mut net, e));
    assert_eq!(net.server_allocations, 0);
}

/// A client from `source` with a wrong password, run until it has failed.
fn fail_login(net: &mut Net, source: Ipv4Addr) {
    let i = net.connect_from(ClientConfig::new(USER, "guess"), source);
    assert!(net.run_until(SETUP, |n| n.client(i).is_finished()));
    assert!(
        matches!(net.client(i).failure(), Some(Failure::AuthFailed { .. })),
        "{:?}",
        net.client(i).failure()
    );
    net.run_until(Duration::from_secs(1), |_| false);
}

/// A client with the right password from `source`: true if it came up (it then hangs up),
/// false if its call was refused with Do-Not-Accept (the throttle).
fn try_login(net: &mut Net, source: Ipv4Addr) -> bool {
    let i = net.connect_from(ClientConfig::new(USER, PASSWORD), source);
    assert!(net.run_until(SETUP, |n| n.client(i).is_up() || n.client(i).is_finished()));
    if net.client(i).is_up() {
        let now = net.now;
        net.client_mut(i).hang_up(now);
        assert!(net.run_until(Duration::from_secs(20), |n| n.client(i).is_finished()));
        return true;
    }
    match net.client(i).failure() {
        Some(Failure::CallRejected { result, .. }) => assert_eq!(*result, 7, "Do-Not-Accept"),
        other => panic!("expected a refused call, got {other:?}"),
    }
    false
}

#[test]
fn failed_logins_throttle_the_source_with_back_off() {
    common::big_stack(failed_logins_throttle_the_source_with_back_off_body);
}

fn failed_logins_throttle_the_source_with_back_off_body() {
    let mut net = Net::new(lab_settings());
    for _ in 0..3 {
        fail_login(&mut net, CLIENT_HOST);
    }
    let blocked_at = net.now;
    assert!(
        !try_login(&mut net, CLIENT_HOST),
        "refused even with the right password"
    );
    assert!(
        try_login(&mut net, OTHER_HOST),
        "other addresses are not throttled"
    );

    // The block expires after 30 s.
    let until = blocked_at + FIRST_BLOCK;
    net.run_until(until - net.now + Duration::from_secs(1), |_| false);
    assert!(
        try_login(&mut net, CLIENT_HOST),
        "allowed again after {FIRST_BLOCK}"
    );

    // Three more failures soon after: the next block is twice as long.
    for _ in 0..3 {
        fail_login(&mut net, CLIENT_HOST);
    }
    let blocked_at = net.now;
    net.run_until(Duration::from_secs(35), |_| false);
    assert!(
        !try_login(&mut net, CLIENT_HOST),
        "still refused after 35 s"
    );
    let until = blocked_at + FIRST_BLOCK * 2;
    net.run_until(until - net.now + Duration::from_secs(1), |_| false);
    assert!(try_login(&mut net, CLIENT_HOST), "allowed again after 60 s");
    assert_eq!(net.server_allocations, 0);
}

#[test]
fn auth_throttle_off_lets_every_attempt_through() {
    common::big_stack(auth_throttle_off_lets_every_attempt_through_body);
}

fn auth_throttle_off_lets_every_attempt_through_body() {
    let mut settings = lab_settings();
    settings.auth_throttle = false;
    let mut net = Net::new(settings);
    for _ in 0..5 {
        fail_login(&mut net, CLIENT_HOST);
    }
    assert!(try_login(&mut net, CLIENT_HOST));
    assert_eq!(net.server_allocations, 0);
}

#[test]
fn silent_and_garbage_connections_time_out_while_a_session_keeps_running() {
    common::big_stack(silent_and_garbage_connections_time_out_while_a_session_keeps_running_body);
}

fn silent_and_garbage_connections_time_out_while_a_session_keeps_running_body() {
    let mut settings = lab_settings();
    settings.stimeout = 5;
    let mut net = Net::new(settings);
    let good = bring_up(&mut net, ClientConfig::new(USER, PASSWORD));

    let silent = raw_connection(&mut net, 31_000);
    let partial = raw_connection(&mut net, 31_001);
    let junk = raw_connection(&mut net, 31_002);
    assert!(net.run_until(Duration::from_secs(2), |n| {
        [silent, partial, junk]
            .iter()
            .all(|&h| tcp_state(n, h) == tcp::State::Established)
    }));
    let start = net.now;
    // Less than a PPTP header: the server waits for the rest, until stimeout.
    net.cli_sockets
        .get_mut::<tcp::Socket>(partial)
        .send_slice(b"\x00\x9c\x00\x01\x1a")
        .unwrap();
    // Not PPTP at all: closed at once.
    net.cli_sockets
        .get_mut::<tcp::Socket>(junk)
        .send_slice(b"GET / HTTP/1.0\r\n\r\n")
        .unwrap();
    assert!(net.run_until(Duration::from_secs(2), |n| closed_by_server(n, junk)));
    assert!(!closed_by_server(&net, silent) && !closed_by_server(&net, partial));

    assert!(net.run_until(Duration::from_secs(10), |n| {
        closed_by_server(n, silent) && closed_by_server(n, partial)
    }));
    let took = net.now - start;
    assert!(
        took >= Duration::from_secs(4) && took <= Duration::from_secs(6),
        "closed after {took}, stimeout 5 s"
    );
    assert!(
        ping(&mut net, good),
        "the good session still passes traffic"
    );
    assert_eq!(sessions(&net), 1);
    assert_eq!(net.server_allocations, 0);
}

/// A TCP SYN to port 1723 from `src:port`, written straight onto the server's link.
fn inject_syn(net: &mut Net, src: Ipv4Addr, port: u16) {
    let tcp = TcpRepr {
        src_port: port,
        dst_port: 1723,
        control: TcpControl::Syn,
        seq_number: TcpSeqNumber(0x1000 + i32::from(port)),
        ack_number: None,
        window_len: 1024,
        window_scale: None,
        max_seg_size: Some(1400),
        sack_permitted: false,
        sack_ranges: [None; 3],
        timestamp: None,
        payload: &[],
    };
    let ip = Ipv4Repr {
        src_addr: src,
        dst_addr: SERVER,
        next_header: IpProtocol::Tcp,
        payload_len: tcp.buffer_len(),
        hop_limit: 64,
    };
    let mut frame = common::Frame::new();
    frame.resize(ip.buffer_len() + tcp.buffer_len(), 0).unwrap();
    let caps = smoltcp::phy::ChecksumCapabilities::default();
    let mut packet = Ipv4Packet::new_unchecked(&mut frame[..]);
    ip.emit(&mut packet, &caps);
    let mut segment = TcpPacket::new_unchecked(packet.payload_mut());
    tcp.emit(
        &mut segment,
        &IpAddress::Ipv4(src),
        &IpAddress::Ipv4(SERVER),
        &caps,
    );
    net.srv_dev.rx.push_back(frame).unwrap();
}

#[test]
fn syn_flood_holds_the_sockets_only_for_the_handshake_timeout() {
    common::big_stack(syn_flood_holds_the_sockets_only_for_the_handshake_timeout_body);
}

fn syn_flood_holds_the_sockets_only_for_the_handshake_timeout_body() {
    let mut net = Net::new(lab_settings());
    let good = bring_up(&mut net, ClientConfig::new(USER, PASSWORD));

    // Spoofed SYNs: the SYN-ACKs go nowhere, so every free socket sits in SYN-RECEIVED.
    let spoofed = Ipv4Addr::new(203, 0, 113, 9);
    for port in 0..limits::MAX_CONTROL_CONNECTIONS as u16 {
        inject_syn(&mut net, spoofed, 40_000 + port);
    }
    let flooded_at = net.now;
    net.run_until(Duration::from_millis(200), |_| false);

    // Nothing left for a real client now...
    let refused = raw_connection(&mut net, 32_000);
    net.run_until(Duration::from_secs(1), |_| false);
    assert_ne!(tcp_state(&net, refused), tcp::State::Established);
    assert!(ping(&mut net, good), "the running session is unaffected");

    // ...but the half-open connections are dropped after the handshake timeout.
    let wait = flooded_at + HANDSHAKE_TIMEOUT + Duration::from_secs(1);
    net.run_until(wait - net.now, |_| false);
    let late = bring_up(&mut net, ClientConfig::new(USER, PASSWORD));
    assert!(ping(&mut net, late) && ping(&mut net, good));
    assert_eq!(net.server_allocations, 0);
}
