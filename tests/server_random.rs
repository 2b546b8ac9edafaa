//! Property test of the whole server state machine: while a real session is up, feed the
//! server thousands of random and mutated packets (GRE for the live call and for unknown
//! calls, PPP frames of every protocol, PPTP control messages on a second connection). The
//! server must not panic, must not allocate, and the good session must still carry traffic
//! afterwards.

mod common;
mod support;

use std::net::Ipv4Addr;

use common::harness::{lab_settings, Direction, Net, CLIENT_HOST, PASSWORD, SERVER, USER};
use common::{CountingAllocator, Fault};
use smolpptp::rand::{Random, XorShift};
use smoltcp::time::Duration;
use smoltcp::wire::{IpProtocol, Ipv4Packet, Ipv4Repr};
use support::client::ClientConfig;
use support::packets;

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Wrap `payload` in an IPv4 header from the client host to the server.
fn ipv4(protocol: u8, payload: &[u8]) -> common::Frame {
    let repr = Ipv4Repr {
        src_addr: CLIENT_HOST,
        dst_addr: SERVER,
        next_header: IpProtocol::from(protocol),
        payload_len: payload.len(),
        hop_limit: 64,
    };
    let mut frame = common::Frame::new();
    frame.resize(20 + payload.len(), 0).unwrap();
    repr.emit(
        &mut Ipv4Packet::new_unchecked(&mut frame[..]),
        &smoltcp::phy::ChecksumCapabilities::default(),
    );
    frame[20..].copy_from_slice(payload);
    frame
}

/// Flip, insert or cut bytes of `sample`, keeping the IPv4 header valid so the packet
/// reaches the GRE socket.
fn mutate(rng: &mut XorShift, sample: &[u8]) -> common::Frame {
    let mut gre: heapless::Vec<u8, 1480> = heapless::Vec::new();
    let body = sample.get(20..).unwrap_or(&[]);
    let _ = gre.extend_from_slice(&body[..body.len().min(1480)]);
    match rng.next_u32() % 4 {
        0 => {
            // Flip a few bytes anywhere.
            for _ in 0..1 + rng.next_u32() % 4 {
                if !gre.is_empty() {
                    let at = rng.next_u32() as usize % gre.len();
                    gre[at] ^= 1 << (rng.next_u32() % 8);
                }
            }
        }
        1 => {
            // Cut it short.
            let keep = rng.next_u32() as usize % (gre.len() + 1);
            gre.truncate(keep);
        }
        2 => {
            // Random payload behind a plausible GRE header (random call ID, flags).
            let len = (rng.next_u32() % 200) as usize;
            gre.truncate(16.min(gre.len()));
            let mut junk = [0u8; 200];
            rng.fill_bytes(&mut junk[..len]);
            let _ = gre.extend_from_slice(&junk[..len]);
            if gre.len() >= 8 && rng.next_u32().is_multiple_of(2) {
                let id = rng.next_u32() as u16;
                gre[6..8].copy_from_slice(&id.to_be_bytes());
            }
        }
        _ => {
            // Totally random bytes.
            let len = (rng.next_u32() % 64) as usize;
            gre.clear();
            let mut junk = [0u8; 64];
            rng.fill_bytes(&mut junk[..len]);
            let _ = gre.extend_from_slice(&junk[..len]);
        }
    }
    ipv4(47, &gre)
}

#[test]
fn random_and_mutated_packets_never_break_the_server() {
    common::big_stack(body);
}

fn body() {
    let mut net = Net::new(lab_settings());
    // Two sessions: A is the target of the storm, B must not notice it.
    let a = net.connect(ClientConfig::new(USER, PASSWORD));
    let b = net.connect(ClientConfig::new(USER, PASSWORD));
    assert!(
        net.run_until(Duration::from_secs(30), |n| n.client(a).is_up()
            && n.client(b).is_up())
    );
    let a_call = net.client(a).peer_call_id().unwrap();

    // Record the GRE packets A sends while passing traffic: the seeds for mutation.
    let samples = std::rc::Rc::new(std::cell::RefCell::new(Vec::<Vec<u8>>::new()));
    let seen = samples.clone();
    net.fault = Box::new(move |dir: Direction, frame: &[u8]| {
        if dir == Direction::ToServer
            && frame.len() > 28
            && frame[9] == 47
            && frame[26..28] == a_call.to_be_bytes()
        {
            seen.borrow_mut().push(frame.to_vec());
        }
        Fault::Pass
    });
    let far = Ipv4Addr::new(198, 51, 100, 9);
    let me_a = net.client(a).assigned_address().unwrap();
    for seq in 0..20 {
        let p = packets::ipv4_udp(me_a, far, 1, 2, seq, 200);
        let now = net.now;
        net.client_mut(a).send_ip(now, &p).unwrap();
    }
    net.run_until(Duration::from_millis(300), |_| false);
    net.fault = Box::new(|_, _| Fault::Pass);
    let samples = samples.borrow().clone();
    assert!(samples.len() > 10, "recorded {} samples", samples.len());

    let mut rng = XorShift(0xF022_u64);
    for round in 0..4000u32 {
        let sample = &samples[rng.next_u32() as usize % samples.len()];
        let frame = mutate(&mut rng, sample);
        net.srv_dev.rx.push_back(frame).unwrap();
        if round.is_multiple_of(16) {
            net.step();
            net.now += Duration::from_millis(5);
        }
    }
    net.run_until(Duration::from_secs(2), |_| false);
    // The storm reached A's call: its GRE stream saw duplicates, gaps or garbage.
    let stats = net
        .server
        .sessions()
        .find(|s| s.call_id == a_call)
        .map(|s| *s.gre.stats());
    if let Some(stats) = stats {
        assert!(
            stats.duplicates + stats.lost + stats.reordered > 100,
            "the storm missed A: {stats:?}"
        );
    }

    // B is still up and still carries traffic both ways, byte for byte.
    assert!(net.client(b).is_up(), "{:?}", net.client(b).state());
    let me_b = net.client(b).assigned_address().unwrap();
    net.sink.packets.clear();
    for seq in 100..110 {
        let p = packets::ipv4_udp(me_b, far, 1, 2, seq, 300);
        let now = net.now;
        net.client_mut(b).send_ip(now, &p).unwrap();
        assert!(net.send_to_client(&packets::ipv4_udp(far, me_b, 2, 1, seq, 300)));
    }
    net.run_until(Duration::from_millis(500), |_| false);
    let up: Vec<_> = net
        .sink
        .packets
        .iter()
        .filter(|p| packets::parse_ipv4(p).is_some_and(|v| v.src == me_b))
        .cloned()
        .collect();
    assert_eq!(up.len(), 10, "traffic from B after the storm");
    for (k, p) in up.iter().enumerate() {
        assert_eq!(
            &p[..],
            &packets::ipv4_udp(me_b, far, 1, 2, 100 + k as u32, 300)[..]
        );
    }
    let mut down = 0;
    while let Some(p) = net.client_mut(b).recv_ip_packet() {
        assert_eq!(p, packets::ipv4_udp(far, me_b, 2, 1, 100 + down, 300));
        down += 1;
    }
    assert_eq!(down, 10, "traffic to B after the storm");

    // And a new client still gets in.
    let c = net.connect(ClientConfig::new(USER, PASSWORD));
    assert!(
        net.run_until(Duration::from_secs(30), |n| n.client(c).is_up()),
        "{:?}",
        net.client(c).state()
    );
    assert_eq!(net.server_allocations, 0, "the server allocated");
}
