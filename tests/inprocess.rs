//! The whole server in process: the project's own PPTP client (written against `wire` and
//! `crypto`, not the server's internals) talks to `Server` through smoltcp TCP and raw
//! sockets over an in-memory link. No root needed.
//!
//! A counting global allocator checks that once the server is set up, nothing it does in
//! `poll` or `send_to_client` allocates, across every scenario here.

mod common;

mod support;

use std::cell::RefCell;
use std::net::Ipv4Addr;
use std::rc::Rc;

use common::harness::{
    lab_settings, Direction, Net, DNS1, DNS2, LOCAL, PASSWORD, POOL_FIRST, USER,
};
use common::{CountingAllocator, Fault};
use smolpptp::limits;
use smolpptp::settings::Stateful;
use smoltcp::time::Duration;
use support::client::{ClientConfig, Failure, State};
use support::packets;

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const SETUP: Duration = Duration::from_secs(30);

fn bring_up(net: &mut Net, config: ClientConfig) -> usize {
    let i = net.connect(config);
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

/// Send `count` numbered UDP packets each way between client `i` and the network, with the
/// link dropping and reordering data packets, and check every delivered packet byte for byte
/// and in order. Returns (delivered to the network, delivered to the client).
fn exchange(net: &mut Net, i: usize, count: u32, len: usize) -> (u32, u32) {
    let me = net.client(i).assigned_address().unwrap();
    let far = Ipv4Addr::new(198, 51, 100, 7);
    net.sink.packets.clear();
    let (mut up_seen, mut down_seen) = (0u32, 0u32);
    let (mut next_up, mut next_down) = (0u32, 0u32);
    for seq in 0..count {
        let up = packets::ipv4_udp(me, far, 4000, 5000, seq, len);
        let now = net.now;
        net.client_mut(i).send_ip(now, &up).unwrap();
        let down = packets::ipv4_udp(far, me, 5000, 4000, seq, len);
        assert!(
            net.send_to_client(&down),
            "server refused packet {seq} for {me}"
        );
        // Let both directions drain before the next pair, a few packets at a time.
        if seq % 8 == 7 || seq + 1 == count {
            net.run_until(Duration::from_millis(400), |_| false);
        }
        while let Some(p) = net.sink.packets.pop_front() {
            let got = packets::test_sequence(&p).expect("delivered packet has a sequence");
            assert!(
                got >= next_up,
                "packet {got} delivered after {next_up}: out of order"
            );
            assert_eq!(
                &p[..],
                &packets::ipv4_udp(me, far, 4000, 5000, got, len)[..],
                "packet {got} to the network"
            );
            next_up = got + 1;
            up_seen += 1;
        }
        while let Some(p) = net.client_mut(i).recv_ip_packet() {
            let got = packets::test_sequence(&p).expect("delivered packet has a sequence");
            assert!(
                got >= next_down,
                "packet {got} delivered after {next_down}: out of order"
            );
            assert_eq!(
                &p[..],
                &packets::ipv4_udp(far, me, 5000, 4000, got, len)[..],
                "packet {got} to the client"
            );
            next_down = got + 1;
            down_seen += 1;
        }
    }
    (up_seen, down_seen)
}

/// What the lossy link did to GRE data packets, per direction.
#[derive(Default, Debug)]
struct Faults {
    dropped: [u32; 2],
    held: [u32; 2],
}

/// Drop every 50th GRE data packet and hold back (reorder) every 37th, both directions.
fn lossy_link(net: &mut Net) -> Rc<RefCell<Faults>> {
    let faults = Rc::new(RefCell::new(Faults::default()));
    let seen = faults.clone();
    let mut n = 0u32;
    net.fault = Box::new(move |dir: Direction, frame: &[u8]| {
        // IPv4, protocol 47, GRE with the S bit: a data packet.
        if frame.len() > 28 && frame[9] == 47 && frame[20] & 0x10 != 0 {
            n += 1;
            let d = (dir == Direction::ToClient) as usize;
            if n.is_multiple_of(50) {
                seen.borrow_mut().dropped[d] += 1;
                return Fault::Drop;
            }
            if n.is_multiple_of(37) {
                seen.borrow_mut().held[d] += 1;
                return Fault::Hold;
            }
        }
        Fault::Pass
    });
    faults
}

fn hang_up(net: &mut Net, i: usize) {
    let now = net.now;
    net.client_mut(i).hang_up(now);
    let done = net.run_until(Duration::from_secs(20), |n| n.client(i).is_finished());
    assert!(done, "hang-up did not finish: {:?}", net.client(i).state());
    assert_eq!(
        *net.client(i).state(),
        State::Closed,
        "{:?}",
        net.client(i).failure()
    );
}

fn full_session(stateless: bool) {
    let mut settings = lab_settings();
    if !stateless {
        settings.ppp.mppe.stateful = Stateful::Allow;
    }
    let mut net = Net::new(settings);
    let mut config = ClientConfig::new(USER, PASSWORD);
    config.stateless = stateless;
    let i = bring_up(&mut net, config);

    let client = net.client(i);
    assert_eq!(
        client.assigned_address(),
        Some(POOL_FIRST),
        "first remoteip address"
    );
    assert_eq!(client.server_address(), Some(LOCAL));
    assert_eq!(client.dns(), [Some(DNS1), Some(DNS2)]);
    let mppe = client.mppe().expect("MPPE is on");
    assert_eq!(mppe.stateless, stateless);
    assert_eq!(mppe.bits & 0x40, 0x40, "128-bit keys");
    assert!(client.auth_success_message().is_some());

    // Clean link first, then a lossy one that also reorders.
    let (up, down) = exchange(&mut net, i, 500, 1300);
    assert_eq!((up, down), (500, 500), "nothing lost on a clean link");
    let faults = lossy_link(&mut net);
    let (up, down) = exchange(&mut net, i, 600, 512);
    let f = faults.borrow();
    assert!(
        f.dropped[0] > 5 && f.held[0] > 5 && f.dropped[1] > 5 && f.held[1] > 5,
        "{f:?}"
    );
    if stateless {
        // The server puts reordered packets back in order, so only dropped ones are
        // missing. The client, like the Linux kernel, drops a late packet instead.
        assert_eq!(up, 600 - f.dropped[0], "to the network, {f:?}");
        // (A held packet that ends a burst still arrives in order.)
        let most = 600 - f.dropped[1];
        assert!(
            (most - f.held[1]..=most).contains(&down),
            "{down} to the client, {f:?}"
        );
    } else {
        // Stateful MPPE discards until the sender flushes after a CCP Reset-Request.
        assert!(
            up > 450 && down > 400,
            "delivered {up} up, {down} down of 600, {f:?}"
        );
    }
    drop(f);
    net.fault = Box::new(|_, _| Fault::Pass);
    let (up, down) = exchange(&mut net, i, 50, 64);
    assert_eq!(
        (up, down),
        (50, 50),
        "session still healthy after loss and reordering"
    );
    assert!(
        net.client(i).violations().is_empty(),
        "{:?}",
        net.client(i).violations()
    );

    hang_up(&mut net, i);
    assert!(net.run_until(Duration::from_secs(5), |n| n.server.sessions().count() == 0));
    assert_eq!(
        net.server_allocations, 0,
        "the server allocated after setup"
    );
}

#[test]
fn full_session_mppe128_stateless() {
    common::big_stack(full_session_mppe128_stateless_body);
}

fn full_session_mppe128_stateless_body() {
    full_session(true);
}

#[test]
fn full_session_mppe128_stateful() {
    common::big_stack(full_session_mppe128_stateful_body);
}

fn full_session_mppe128_stateful_body() {
    full_session(false);
}

#[test]
fn wrong_password_is_refused_and_the_call_torn_down() {
    common::big_stack(wrong_password_is_refused_and_the_call_torn_down_body);
}

fn wrong_password_is_refused_and_the_call_torn_down_body() {
    let mut net = Net::new(lab_settings());
    let i = net.connect(ClientConfig::new(USER, "not-the-password"));
    assert!(net.run_until(SETUP, |n| n.client(i).is_finished()));
    match net.client(i).failure() {
        Some(Failure::AuthFailed { error, message }) => {
            assert_eq!(*error, Some(691), "{message}");
        }
        other => panic!("expected an MS-CHAPv2 failure, got {other:?}"),
    }
    let msg = net.client(i).auth_failure_message().unwrap().to_string();
    assert!(msg.starts_with("E=691 R=0 C="), "{msg}");
    assert!(msg.contains(" V=3 M="), "{msg}");
    assert!(
        net.run_until(Duration::from_secs(10), |n| n.server.sessions().count()
            == 0)
    );
    assert_eq!(net.server_allocations, 0);
}

#[test]
fn client_refusing_required_mppe_is_terminated() {
    common::big_stack(client_refusing_required_mppe_is_terminated_body);
}

fn client_refusing_required_mppe_is_terminated_body() {
    let mut net = Net::new(lab_settings());
    let mut config = ClientConfig::new(USER, PASSWORD);
    config.refuse_mppe = true;
    config.require_mppe_128 = false;
    let i = net.connect(config);
    assert!(net.run_until(SETUP, |n| n.client(i).is_finished()));
    assert_ne!(*net.client(i).state(), State::Up);
    let reason = net
        .client(i)
        .disconnect_reason()
        .unwrap_or_default()
        .to_string();
    assert!(
        reason.contains("MPPE"),
        "the termination names MPPE: {reason:?} {:?}",
        net.client(i).failure()
    );
    assert_eq!(net.client(i).counters().ip_rx, 0);
    assert!(
        net.run_until(Duration::from_secs(10), |n| n.server.sessions().count()
            == 0)
    );
    assert_eq!(net.server_allocations, 0);
}

#[test]
fn call_beyond_the_session_maximum_is_refused_and_others_keep_running() {
    common::big_stack(call_beyond_the_session_maximum_is_refused_and_others_keep_running_body);
}

fn call_beyond_the_session_maximum_is_refused_and_others_keep_running_body() {
    let mut net = Net::new(lab_settings());
    let mut up = Vec::new();
    for _ in 0..limits::MAX_SESSIONS {
        let i = net.connect(ClientConfig::new(USER, PASSWORD));
        up.push(i);
    }
    net.run_until(Duration::from_secs(60), |n| {
        up.iter()
            .all(|&i| n.client(i).is_up() || n.client(i).is_finished())
    });
    for &i in &up {
        assert!(
            net.client(i).is_up(),
            "client {i}: {:?}",
            net.client(i).state()
        );
    }
    let extra = net.connect(ClientConfig::new(USER, PASSWORD));
    assert!(net.run_until(SETUP, |n| n.client(extra).is_finished()));
    match net.client(extra).failure() {
        Some(Failure::CallRejected { result, error }) => {
            assert_eq!((*result, *error), (2, 4), "No-Resource")
        }
        other => panic!("expected Outgoing-Call-Reply refusal, got {other:?}"),
    }
    // Every address is distinct and every session still carries traffic.
    let mut addresses: Vec<_> = up
        .iter()
        .map(|&i| net.client(i).assigned_address().unwrap())
        .collect();
    addresses.sort();
    addresses.dedup();
    assert_eq!(addresses.len(), limits::MAX_SESSIONS);
    for &i in &up {
        assert_eq!(exchange(&mut net, i, 8, 100), (8, 8), "client {i}");
    }
    assert_eq!(net.server_allocations, 0);
}

#[test]
fn packets_with_a_foreign_source_are_not_forwarded() {
    common::big_stack(packets_with_a_foreign_source_are_not_forwarded_body);
}

fn packets_with_a_foreign_source_are_not_forwarded_body() {
    let mut net = Net::new(lab_settings());
    let i = bring_up(&mut net, ClientConfig::new(USER, PASSWORD));
    let me = net.client(i).assigned_address().unwrap();
    let far = Ipv4Addr::new(198, 51, 100, 7);
    let spoof = Ipv4Addr::new(10, 9, 0, 200);
    net.sink.packets.clear();
    for seq in 0..10 {
        let now = net.now;
        net.client_mut(i)
            .send_ip(now, &packets::ipv4_udp(spoof, far, 1, 2, seq, 100))
            .unwrap();
        net.client_mut(i)
            .send_ip(now, &packets::ipv4_udp(me, far, 1, 2, seq, 100))
            .unwrap();
    }
    net.run_until(Duration::from_millis(500), |_| false);
    let sources: Vec<_> = net
        .sink
        .packets
        .iter()
        .map(|p| packets::parse_ipv4(p).unwrap().src)
        .collect();
    assert_eq!(sources, vec![me; 10], "only the client's own packets pass");
    let spoofed = net.server.sessions().next().unwrap().counters.spoofed;
    assert_eq!(spoofed, 10);
    assert_eq!(net.server_allocations, 0);
}

#[test]
fn shutdown_says_goodbye_at_every_layer() {
    common::big_stack(shutdown_says_goodbye_at_every_layer_body);
}

fn shutdown_says_goodbye_at_every_layer_body() {
    let mut net = Net::new(lab_settings());
    let a = bring_up(&mut net, ClientConfig::new(USER, PASSWORD));
    let b = bring_up(&mut net, ClientConfig::new(USER, PASSWORD));
    let now = net.now;
    net.server.shutdown(now);
    assert!(
        net.run_until(Duration::from_secs(10), |n| n.client(a).is_finished()
            && n.client(b).is_finished())
    );
    for i in [a, b] {
        let reason = net
            .client(i)
            .disconnect_reason()
            .unwrap_or_default()
            .to_string();
        assert!(
            reason.contains("Server shutdown"),
            "client {i} was told: {reason:?}"
        );
        assert_eq!(*net.client(i).state(), State::Closed);
    }
    // Every control connection closes well before the grace period would end it.
    assert!(net.run_until(Duration::from_secs(2), |n| {
        let now = n.now;
        n.server.is_shut_down(now)
    }));
    assert_eq!(net.server_allocations, 0);
}

#[test]
fn a_call_that_never_finishes_negotiating_is_closed() {
    common::big_stack(a_call_that_never_finishes_negotiating_is_closed_body);
}

fn a_call_that_never_finishes_negotiating_is_closed_body() {
    let mut net = Net::new(lab_settings());
    // The client keeps sending IPCP Configure-Requests (for five minutes), and the link
    // loses every one of them: LCP, authentication and CCP finish, and the server's own IPCP
    // request is acked, but the client's never arrives, so IPCP never opens.
    net.fault = Box::new(|dir: Direction, frame: &[u8]| {
        if dir == Direction::ToServer && frame.len() > 32 && frame[9] == 47 {
            let gre =
                8 + 4 * usize::from(frame[20] & 0x10 != 0) + 4 * usize::from(frame[21] & 0x80 != 0);
            // IPCP Configure-Request (code 1); its Acks of ours still pass.
            if frame.get(20 + gre..25 + gre) == Some(&[0xFF, 0x03, 0x80, 0x21, 1][..]) {
                return Fault::Drop;
            }
        }
        Fault::Pass
    });
    let mut config = ClientConfig::new(USER, PASSWORD);
    config.max_configure = 100;
    config.setup_timeout = Duration::from_secs(600);
    let i = net.connect(config);
    let start = net.now;
    assert!(
        net.run_until(Duration::from_secs(120), |n| n.server.sessions().count()
            == 0
            && n.now > start + Duration::from_secs(5))
    );
    let took = net.now - start;
    assert!(
        took >= Duration::from_secs(60) && took < Duration::from_secs(70),
        "closed after {took}"
    );
    assert!(!net.client(i).is_up());
    assert_eq!(net.server_allocations, 0);
}
