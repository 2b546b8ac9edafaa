//! The bad-input matrix: hostile and broken input on every layer, in process.
//!
//! Every case runs beside a "bystander" session that passes numbered UDP traffic both ways
//! (checked byte for byte) before and after the case, so a case that hurts anyone but the
//! offender fails. Each case also asserts the server's log line for what it did (captured
//! by `common::log_capture` without allocating) and that the offending connection or
//! packet was dropped. The counting allocator checks that the server's `poll` and
//! `send_to_client` allocate nothing throughout.
//!
//! Layers: PPTP control messages (raw bytes on a TCP connection the test drives itself),
//! several calls on one control connection, GRE (frames injected onto the server's link or
//! tampered with in flight), PPP (LCP loops from the test's own PPP peer, CHAP, unknown
//! protocols), MPPE, IPCP addresses and spoofed sources through the tunnel.
//!
//! Debugging: `SMOLPPTP_TEST_LOG=1` prints the server's log lines as they happen.

mod common;
mod support;

use std::cell::{Cell, RefCell};
use std::net::Ipv4Addr;
use std::rc::Rc;

use common::frames::{cp_option, cp_options, cp_packet, gre_packet, ipv4_gre, ppp_frame, GreFrame};
use common::harness::{
    lab_settings, Direction, Net, CLIENT_HOST, PASSWORD, POOL_FIRST, SERVER, USER,
};
use common::log_capture::Capture;
use common::{big_stack, CountingAllocator, Fault};
use smolpptp::rand::Random;
use smolpptp::settings::Settings;
use smolpptp::wire::ppp::protocol;
use smolpptp::wire::pptp::{self, Packet, Repr};
use smoltcp::time::Duration;
use support::client::{ClientConfig, State};
use support::packets;

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const SETUP: Duration = Duration::from_secs(30);
const FAR: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);

// ---------------------------------------------------------------------------------------
// The case fixture: a server, its captured log, and a bystander session.

struct Case {
    net: Net,
    log: Capture,
    bystander: usize,
}

impl Case {
    fn new() -> Case {
        Case::with(lab_settings())
    }

    fn with(settings: Settings) -> Case {
        let log = Capture::start();
        let mut net = Net::new(settings);
        let bystander = bring_up(&mut net, ClientConfig::new(USER, PASSWORD));
        let mut case = Case {
            net,
            log,
            bystander,
        };
        case.bystander_passes("before the case");
        case
    }

    /// The bystander carries 16 packets each way, every one byte for byte.
    fn bystander_passes(&mut self, when: &str) {
        let b = self.bystander;
        assert!(
            self.net.client(b).is_up(),
            "bystander not up {when}: {:?}",
            self.net.client(b).state()
        );
        let (up, down) = exchange(&mut self.net, b, 16, 300);
        assert_eq!((up, down), (16, 16), "bystander traffic {when}");
        assert!(
            self.net.client(b).violations().is_empty(),
            "bystander saw {:?}",
            self.net.client(b).violations()
        );
    }

    /// The bystander still passes traffic, and the server allocated nothing.
    fn finish(mut self) {
        self.net.fault = Box::new(|_, _| Fault::Pass);
        self.bystander_passes("after the case");
        assert_eq!(
            self.net.server_allocations, 0,
            "the server allocated after setup"
        );
    }

    fn run(&mut self, d: Duration) {
        self.net.run_until(d, |_| false);
    }

    fn sessions(&self) -> usize {
        self.net.server.sessions().count()
    }

    /// Our (server) call ID of client `i`'s call: what its GRE packets carry.
    fn server_call_id(&self, i: usize) -> u16 {
        self.net.client(i).peer_call_id().expect("call placed")
    }
}

fn bring_up(net: &mut Net, config: ClientConfig) -> usize {
    let i = net.connect(config);
    let up = net.run_until(SETUP, |n| n.client(i).is_up() || n.client(i).is_finished());
    assert!(up, "client {i} not up in time: {:?}", net.client(i).state());
    assert_eq!(*net.client(i).state(), State::Up, "client {i}");
    i
}

/// `count` numbered UDP packets each way between client `i` and the network on a clean
/// link; (delivered to the network, delivered to the client), each checked byte for byte.
fn exchange(net: &mut Net, i: usize, count: u32, len: usize) -> (u32, u32) {
    let me = net.client(i).assigned_address().unwrap();
    net.sink.packets.clear();
    while net.client_mut(i).recv_ip_packet().is_some() {}
    for seq in 0..count {
        let now = net.now;
        net.client_mut(i)
            .send_ip(now, &packets::ipv4_udp(me, FAR, 4000, 5000, seq, len))
            .unwrap();
        assert!(
            net.send_to_client(&packets::ipv4_udp(FAR, me, 5000, 4000, seq, len)),
            "server refused packet {seq} for {me}"
        );
        if seq % 8 == 7 || seq + 1 == count {
            net.run_until(Duration::from_millis(300), |_| false);
        }
    }
    let mut up = 0;
    while let Some(p) = net.sink.packets.pop_front() {
        let seq = packets::test_sequence(&p).expect("a test packet");
        assert_eq!(
            &p[..],
            &packets::ipv4_udp(me, FAR, 4000, 5000, seq, len)[..]
        );
        up += 1;
    }
    let mut down = 0;
    while let Some(p) = net.client_mut(i).recv_ip_packet() {
        let seq = packets::test_sequence(&p).expect("a test packet");
        assert_eq!(
            &p[..],
            &packets::ipv4_udp(FAR, me, 5000, 4000, seq, len)[..]
        );
        down += 1;
    }
    (up, down)
}

/// One packet from client `i` to the network; whether the network got it.
fn one_packet_through(net: &mut Net, i: usize, seq: u32) -> bool {
    let me = net.client(i).assigned_address().unwrap();
    net.sink.packets.clear();
    let now = net.now;
    net.client_mut(i)
        .send_ip(now, &packets::ipv4_udp(me, FAR, 4000, 5000, seq, 120))
        .unwrap();
    net.run_until(Duration::from_millis(300), |_| false);
    let got = net.sink.packets.len();
    net.sink.packets.clear();
    got > 0
}

// ---------------------------------------------------------------------------------------
// PPTP control messages on a connection the test drives byte by byte.

fn emit(repr: &Repr) -> Vec<u8> {
    let mut buf = [0u8; pptp::MAX_MESSAGE_LEN];
    let len = repr.emit_into(&mut buf).unwrap();
    buf[..len].to_vec()
}

fn sccrq() -> Vec<u8> {
    emit(&Repr::StartControlConnectionRequest {
        protocol_version: pptp::PROTOCOL_VERSION,
        framing_capabilities: 3,
        bearer_capabilities: 3,
        maximum_channels: 0,
        firmware_revision: 1,
        host_name: b"hostile",
        vendor: b"tests",
    })
}

fn ocrq(call_id: u16) -> Vec<u8> {
    emit(&Repr::OutgoingCallRequest {
        call_id,
        call_serial: 7,
        minimum_bps: 300,
        maximum_bps: 100_000_000,
        bearer_type: 3,
        framing_type: 3,
        recv_window: 64,
        processing_delay: 0,
        phone_number: b"",
        subaddress: b"",
    })
}

/// (message type, result code) of a reply that has one.
fn type_and_result(message: &[u8]) -> (u16, Option<u8>) {
    let repr = Packet::new_checked(message)
        .and_then(|p| Repr::parse(&p))
        .expect("the server sends well-formed messages");
    let result = match repr {
        Repr::StartControlConnectionReply { result_code, .. }
        | Repr::OutgoingCallReply { result_code, .. }
        | Repr::CallDisconnectNotify { result_code, .. }
        | Repr::StopControlConnectionReply { result_code, .. }
        | Repr::EchoReply { result_code, .. } => Some(result_code),
        _ => None,
    };
    (u16::from_be_bytes([message[8], message[9]]), result)
}

/// Wait for the next message on raw connection `r`.
fn next_message(net: &mut Net, r: usize) -> Vec<u8> {
    let mut got = None;
    net.run_until(Duration::from_secs(2), |n| {
        if !n.raws[r].rx.is_empty() {
            got = n.raw_messages(r).into_iter().next();
        }
        got.is_some()
    });
    got.unwrap_or_else(|| panic!("no reply on raw connection {r}"))
}

/// A raw connection that has done Start-Control-Connection.
fn established_raw(net: &mut Net) -> usize {
    let r = net.connect_raw();
    net.run_until(Duration::from_millis(200), |n| n.raws[r].connected);
    net.raw_send(r, &sccrq());
    let reply = next_message(net, r);
    assert_eq!(type_and_result(&reply), (2, Some(1)), "SCCRP Successful");
    r
}

/// Send `bytes` on an established connection and expect the server to drop it.
fn control_case_closes(bytes: &[u8], log_line: &str) {
    let mut c = Case::new();
    let mark = c.log.mark();
    let r = established_raw(&mut c.net);
    c.net.raw_send(r, bytes);
    let closed = c
        .net
        .run_until(Duration::from_secs(2), |n| n.raws[r].closed);
    assert!(closed, "the server kept the connection after {bytes:02x?}");
    c.log.expect(mark, log_line);
    c.log.expect(mark, "control connection finished");
    assert_eq!(c.sessions(), 1, "only the bystander's session");
    c.finish();
}

#[test]
fn control_truncated_message_closes_the_connection() {
    // An Echo-Request whose Length says 12 (header only): shorter than the type needs.
    big_stack(|| {
        let mut m = emit(&Repr::EchoRequest { identifier: 9 });
        m.truncate(12);
        m[0..2].copy_from_slice(&12u16.to_be_bytes());
        control_case_closes(&m, "bad control message");
    });
}

#[test]
fn control_oversized_length_closes_the_connection() {
    // Length 4000 > the 220 bytes of the longest message: nothing to frame.
    big_stack(|| {
        let mut m = sccrq();
        m[0..2].copy_from_slice(&4000u16.to_be_bytes());
        control_case_closes(&m, "bad control message");
    });
}

#[test]
fn control_wrong_length_for_the_type_closes_the_connection() {
    // An Echo-Request (16 bytes) sent as 20 bytes with a matching Length field.
    big_stack(|| {
        let mut m = emit(&Repr::EchoRequest { identifier: 9 });
        m.extend_from_slice(&[0; 4]);
        m[0..2].copy_from_slice(&20u16.to_be_bytes());
        control_case_closes(&m, "bad control message");
    });
}

#[test]
fn control_wrong_magic_cookie_closes_the_connection() {
    big_stack(|| {
        let mut m = emit(&Repr::EchoRequest { identifier: 9 });
        m[4..8].copy_from_slice(&0x1A2B_3C4Eu32.to_be_bytes());
        control_case_closes(&m, "bad control message");
    });
}

#[test]
fn control_unknown_message_type_closes_the_connection() {
    big_stack(|| {
        // Control Message Type 99 with an Echo-Request's body.
        let mut m = emit(&Repr::EchoRequest { identifier: 9 });
        m[8..10].copy_from_slice(&99u16.to_be_bytes());
        control_case_closes(&m, "bad control message");
    });
    big_stack(|| {
        // PPTP Message Type 2 (management), never defined.
        let mut m = emit(&Repr::EchoRequest { identifier: 9 });
        m[2..4].copy_from_slice(&2u16.to_be_bytes());
        control_case_closes(&m, "bad control message");
    });
}

#[test]
fn control_garbage_on_port_1723_closes_the_connection() {
    big_stack(|| {
        let mut c = Case::new();
        let mark = c.log.mark();
        let r = c.net.connect_raw();
        c.net
            .run_until(Duration::from_millis(200), |n| n.raws[r].connected);
        let mut rng = smolpptp::rand::XorShift(0xBAD_1723);
        let garbage: Vec<u8> = (0..300).map(|_| rng.next_u32() as u8).collect();
        c.net.raw_send(r, &garbage);
        assert!(c
            .net
            .run_until(Duration::from_secs(2), |n| n.raws[r].closed));
        c.log.expect(mark, "bad control message");
        c.finish();
    });
}

/// A connection that sends nothing (or an unfinished message) is dropped after `stimeout`.
fn control_idle_case(first_bytes: &[u8]) {
    let mut settings = lab_settings();
    settings.stimeout = 10;
    let mut c = Case::with(settings);
    let mark = c.log.mark();
    let r = c.net.connect_raw();
    c.net
        .run_until(Duration::from_millis(200), |n| n.raws[r].connected);
    let opened = c.net.now;
    c.net.raw_send(r, first_bytes);
    // The bystander keeps working meanwhile.
    c.run(Duration::from_secs(5));
    assert!(!c.net.raws[r].closed, "closed before stimeout");
    c.bystander_passes("while the idle connection waits");
    assert!(c
        .net
        .run_until(Duration::from_secs(10), |n| n.raws[r].closed));
    let after = (c.net.now - opened).secs();
    assert!(
        (9..=11).contains(&after),
        "closed after {after} s, stimeout is 10"
    );
    c.log.expect(mark, "dropped slow initial connection");
    assert!(
        c.net.raw_messages(r).is_empty(),
        "no reply to an unfinished message"
    );
    c.finish();
}

#[test]
fn control_idle_connection_is_dropped_after_stimeout() {
    big_stack(|| control_idle_case(b""));
}

#[test]
fn control_unfinished_message_is_dropped_after_stimeout() {
    // The first 100 bytes of a 156-byte Start-Control-Connection-Request.
    big_stack(|| control_idle_case(&sccrq()[..100]));
}

#[test]
fn control_outgoing_call_before_start_is_refused_and_the_connection_stays() {
    big_stack(|| {
        let mut c = Case::new();
        let mark = c.log.mark();
        let r = c.net.connect_raw();
        c.net
            .run_until(Duration::from_millis(200), |n| n.raws[r].connected);
        c.net.raw_send(r, &ocrq(0x7001));
        let reply = next_message(&mut c.net, r);
        assert_eq!(type_and_result(&reply), (8, Some(2)), "OCRP General Error");
        assert_eq!(reply[17], 1, "error code 1, Not-Connected");
        c.log.expect(
            mark,
            "Outgoing-Call-Request before Start-Control-Connection",
        );
        assert_eq!(c.sessions(), 1, "no call placed");
        // The connection is still usable.
        c.net.raw_send(r, &sccrq());
        assert_eq!(type_and_result(&next_message(&mut c.net, r)), (2, Some(1)));
        c.net.raw_send(r, &ocrq(0x7001));
        assert_eq!(type_and_result(&next_message(&mut c.net, r)), (8, Some(1)));
        assert_eq!(c.sessions(), 2);
        c.net.raw_close(r);
        assert!(c
            .net
            .run_until(Duration::from_secs(2), |c| c.server.sessions().count() == 1));
        c.finish();
    });
}

#[test]
fn control_second_start_request_gets_result_3_and_the_connection_stays() {
    big_stack(|| {
        let mut c = Case::new();
        let mark = c.log.mark();
        let r = established_raw(&mut c.net);
        c.net.raw_send(r, &sccrq());
        let reply = next_message(&mut c.net, r);
        assert_eq!(
            type_and_result(&reply),
            (2, Some(3)),
            "SCCRP Already-Exists"
        );
        c.log
            .expect(mark, "second Start-Control-Connection-Request");
        assert!(!c.net.raws[r].closed);
        c.net.raw_send(r, &ocrq(0x7002));
        assert_eq!(type_and_result(&next_message(&mut c.net, r)), (8, Some(1)));
        c.finish();
    });
}

#[test]
fn control_call_id_reused_on_one_connection_is_refused() {
    // A second Outgoing-Call-Request with the Call ID of a live call on the same
    // connection would make the two calls indistinguishable (Call-Clear-Request names
    // the call by that ID): refused, the first call untouched.
    big_stack(|| {
        let mut c = Case::new();
        let mark = c.log.mark();
        let r = established_raw(&mut c.net);
        c.net.raw_send(r, &ocrq(0x7003));
        assert_eq!(type_and_result(&next_message(&mut c.net, r)), (8, Some(1)));
        c.net.raw_send(r, &ocrq(0x7003));
        let (ty, result) = type_and_result(&next_message(&mut c.net, r));
        assert_eq!(ty, 8);
        assert_ne!(result, Some(1), "the duplicate call was connected");
        c.log.expect(mark, "already in use");
        assert_eq!(c.sessions(), 2, "the bystander's and the first call");
        c.finish();
    });
}

// ---------------------------------------------------------------------------------------
// Several calls on one control connection (pptp-linux).

#[test]
fn several_calls_on_one_control_connection() {
    big_stack(|| {
        let mut c = Case::new();
        let mark = c.log.mark();
        let configs = (0..3).map(|_| ClientConfig::new(USER, PASSWORD)).collect();
        let calls = c.net.connect_shared(configs);
        let up = c.net.run_until(SETUP, |n| {
            calls
                .iter()
                .all(|&i| n.client(i).is_up() || n.client(i).is_finished())
        });
        assert!(up);
        for &i in &calls {
            assert_eq!(*c.net.client(i).state(), State::Up, "call {i}");
        }
        // One TCP connection, three sessions on it, distinct addresses.
        let lines = c.log.matching(mark, "control connection started");
        assert_eq!(lines.len(), 1, "{lines:?}");
        let conns: Vec<usize> = c
            .net
            .server
            .sessions()
            .filter(|s| s.peer_call_id != c.net.client(c.bystander).our_call_id())
            .map(|s| s.conn)
            .collect();
        assert_eq!(conns.len(), 3);
        assert!(conns.iter().all(|&k| k == conns[0]), "{conns:?}");
        let mut addrs: Vec<_> = calls
            .iter()
            .map(|&i| c.net.client(i).assigned_address().unwrap())
            .collect();
        addrs.sort();
        addrs.dedup();
        assert_eq!(addrs.len(), 3);
        for &i in &calls {
            assert_eq!(exchange(&mut c.net, i, 12, 500), (12, 12), "call {i}");
        }
        // Clear the middle call: the others stay up on the same connection.
        let now = c.net.now;
        c.net.client_mut(calls[1]).hang_up(now);
        let done = c.net.run_until(Duration::from_secs(20), |n| {
            n.client(calls[1]).is_finished()
        });
        assert!(done);
        assert_eq!(*c.net.client(calls[1]).state(), State::Closed);
        c.log.expect(mark, "Received CALL CLEAR request");
        assert_eq!(c.sessions(), 3, "bystander + two calls left");
        assert_eq!(
            c.net.shared[0].kept_back.len(),
            3,
            "two extra SCCRQs and the cleared call's StopCCRQ kept off the wire: {:?}",
            c.net.shared[0].kept_back
        );
        assert!(c
            .log
            .matching(mark, "control connection finished")
            .is_empty());
        for &i in [calls[0], calls[2]].iter() {
            assert!(c.net.client(i).is_up());
            assert_eq!(exchange(&mut c.net, i, 12, 500), (12, 12), "call {i} after");
        }
        // A new call on the same connection is not possible with this driver, but the
        // remaining two clear one after the other and the connection ends last.
        for &i in [calls[0], calls[2]].iter() {
            let now = c.net.now;
            c.net.client_mut(i).hang_up(now);
            assert!(c
                .net
                .run_until(Duration::from_secs(20), |n| n.client(i).is_finished()));
            assert_eq!(*c.net.client(i).state(), State::Closed);
        }
        assert!(c
            .net
            .run_until(Duration::from_secs(5), |n| n.server.sessions().count() == 1));
        for &i in &calls {
            assert!(
                c.net.client(i).violations().is_empty(),
                "{:?}",
                c.net.client(i).violations()
            );
        }
        c.finish();
    });
}

// ---------------------------------------------------------------------------------------
// GRE.

/// Record every GRE data frame the victim's call sends to the server.
fn record_victim_frames(net: &mut Net, server_call_id: u16) -> Rc<RefCell<Vec<GreFrame>>> {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let keep = seen.clone();
    net.fault = Box::new(move |dir, frame| {
        if dir == Direction::ToServer {
            if let Some(g) = GreFrame::parse(frame) {
                if g.call_id == server_call_id && g.sequence.is_some() {
                    keep.borrow_mut().push(g);
                }
            }
        }
        Fault::Pass
    });
    seen
}

#[test]
fn gre_unknown_call_id_is_dropped() {
    big_stack(|| {
        let mut c = Case::new();
        let mark = c.log.mark();
        let unused = c.server_call_id(c.bystander).wrapping_add(0x1234);
        let frame = ipv4_gre(
            CLIENT_HOST,
            SERVER,
            &gre_packet(
                unused,
                Some(1),
                None,
                &ppp_frame(protocol::LCP, &cp_packet(1, 1, b"")),
            ),
        );
        c.net.inject(frame);
        c.run(Duration::from_millis(100));
        c.log.expect(
            mark,
            &format!("GRE: unknown call id {unused} from {CLIENT_HOST}"),
        );
        c.finish();
    });
}

#[test]
fn gre_from_the_wrong_source_address_is_dropped() {
    big_stack(|| {
        let mut c = Case::new();
        let mark = c.log.mark();
        let call = c.server_call_id(c.bystander);
        let intruder = Ipv4Addr::new(192, 0, 2, 66);
        // Far ahead in the bystander's sequence space: had it been taken, the bystander's
        // own packets would look old afterwards.
        for k in 0..4 {
            let frame = ipv4_gre(
                intruder,
                SERVER,
                &gre_packet(
                    call,
                    Some(0x4000_0000 + k),
                    Some(0),
                    &ppp_frame(protocol::LCP, &cp_packet(5, 1, b"")),
                ),
            );
            c.net.inject(frame);
        }
        c.run(Duration::from_millis(100));
        let line = c
            .log
            .expect(mark, &format!("GRE: call id {call} from {intruder}"));
        assert!(line.contains(&format!("expected {CLIENT_HOST}")), "{line}");
        assert!(c.log.matching(mark, "terminated by peer").is_empty());
        c.finish();
    });
}

#[test]
fn gre_with_bad_header_flags_is_dropped() {
    big_stack(|| {
        let mut c = Case::new();
        let mark = c.log.mark();
        let call = c.server_call_id(c.bystander);
        let good = gre_packet(
            call,
            Some(0x100),
            None,
            &ppp_frame(protocol::LCP, &cp_packet(5, 1, b"")),
        );
        type Edit = fn(&mut Vec<u8>);
        let edits: [(&str, Edit); 9] = [
            ("checksum present", |g| g[0] |= 0x80),
            ("routing present", |g| g[0] |= 0x40),
            ("no key", |g| g[0] &= !0x20),
            ("strict source route", |g| g[0] |= 0x08),
            ("recursion 3", |g| g[0] |= 0x03),
            ("reserved flags", |g| g[1] |= 0x40),
            ("version 0", |g| g[1] &= !0x07),
            ("protocol IPv4", |g| {
                g[2..4].copy_from_slice(&0x0800u16.to_be_bytes())
            }),
            ("payload length past the end", |g| {
                let n = u16::from_be_bytes([g[4], g[5]]) + 50;
                g[4..6].copy_from_slice(&n.to_be_bytes());
            }),
        ];
        for (what, edit) in edits {
            let mut g = good.clone();
            edit(&mut g);
            c.net.inject(ipv4_gre(CLIENT_HOST, SERVER, &g));
            c.run(Duration::from_millis(20));
            let n = c.log.matching(mark, "GRE: malformed packet from").len();
            assert!(n >= 1, "{what}: no log line");
        }
        assert_eq!(
            c.log.matching(mark, "GRE: malformed packet from").len(),
            edits.len()
        );
        c.finish();
    });
}

#[test]
fn gre_duplicate_and_very_old_sequence_numbers_are_dropped() {
    big_stack(|| {
        let mut c = Case::new();
        let v = bring_up(&mut c.net, ClientConfig::new(USER, PASSWORD));
        let call = c.server_call_id(v);
        let frames = record_victim_frames(&mut c.net, call);
        assert_eq!(exchange(&mut c.net, v, 20, 200), (20, 20));
        let frames = frames.borrow().clone();
        c.net.fault = Box::new(|_, _| Fault::Pass);
        assert!(frames.len() >= 20);
        let mark = c.log.mark();
        c.net.sink.packets.clear();
        // The last one again (duplicate), the first one (old), and a forged one a
        // quarter of the sequence space behind.
        let last = frames.last().unwrap().clone();
        let mut ancient = last.clone();
        ancient.sequence = Some(last.sequence.unwrap().wrapping_sub(0x4000_0000));
        for f in [&last, &frames[0], &ancient] {
            c.net.inject(f.build());
        }
        c.run(Duration::from_millis(400));
        assert!(
            c.net.sink.packets.is_empty(),
            "a replayed packet was delivered"
        );
        assert_eq!(
            c.log
                .matching(mark, "GRE: discarding duplicate or old packet")
                .len(),
            3,
            "{:?}",
            c.log.since(mark)
        );
        assert_eq!(exchange(&mut c.net, v, 10, 200), (10, 10), "victim after");
        c.finish();
    });
}

#[test]
fn gre_ack_only_packets_change_nothing() {
    big_stack(|| {
        let mut c = Case::new();
        let v = bring_up(&mut c.net, ClientConfig::new(USER, PASSWORD));
        let call = c.server_call_id(v);
        let mark = c.log.mark();
        // Acks for packets the server never sent, behind and ahead, and a plain one.
        for ack in [0xDEAD_0000u32, 0x7FFF_FFFF, 0] {
            c.net.inject(ipv4_gre(
                CLIENT_HOST,
                SERVER,
                &gre_packet(call, None, Some(ack), &[]),
            ));
        }
        c.run(Duration::from_millis(200));
        let lines = c.log.since(mark);
        assert!(
            lines
                .iter()
                .all(|l| !l.starts_with("WARN") && !l.starts_with("ERROR")),
            "{lines:?}"
        );
        assert_eq!(exchange(&mut c.net, v, 10, 200), (10, 10), "victim after");
        c.finish();
    });
}

// ---------------------------------------------------------------------------------------
// PPP, from a client with a working session.

#[test]
fn ppp_unknown_protocols_get_protocol_reject() {
    big_stack(|| {
        let mut c = Case::new();
        let v = bring_up(&mut c.net, ClientConfig::new(USER, PASSWORD));
        let mark = c.log.mark();
        for proto in [0x0281u16, protocol::IPV6, 0x8057] {
            c.net
                .client_mut(v)
                .send_ppp_frame(&ppp_frame(proto, b"not for you"));
        }
        c.run(Duration::from_millis(300));
        for proto in ["0x0281", "0x0057", "0x8057"] {
            c.log.expect(
                mark,
                &format!("Protocol-Reject for unsupported protocol {proto}"),
            );
        }
        assert_eq!(c.net.client(v).counters().protocol_rejects_rx, 3);
        assert_eq!(exchange(&mut c.net, v, 10, 200), (10, 10), "victim after");
        c.finish();
    });
}

/// Bring up a victim whose first CHAP Response is rewritten by `tamper` on the way; the
/// server must ignore it (log `line`) and take the retransmitted, correct one.
fn chap_case(tamper: fn(&mut Vec<u8>), line: &str) {
    let mut c = Case::new();
    let mark = c.log.mark();
    let done = Rc::new(Cell::new(false));
    let flag = done.clone();
    c.net.fault = Box::new(move |dir, frame| {
        if dir != Direction::ToServer || flag.get() {
            return Fault::Pass;
        }
        let Some(mut g) = GreFrame::parse(frame) else {
            return Fault::Pass;
        };
        if g.ppp().map(|p| p.0) != Some(protocol::CHAP) || g.info().first() != Some(&2) {
            return Fault::Pass;
        }
        flag.set(true);
        let mut info = g.info().to_vec();
        tamper(&mut info);
        g.set_info(&info);
        Fault::Replace(Box::new(g.build()))
    });
    let v = bring_up(&mut c.net, ClientConfig::new(USER, PASSWORD));
    assert!(done.get(), "no CHAP Response seen");
    c.log.expect(mark, line);
    assert_eq!(
        c.log.matching(mark, "authentication failed").len(),
        0,
        "a mangled Response is not a wrong password"
    );
    assert_eq!(exchange(&mut c.net, v, 10, 200), (10, 10), "victim after");
    c.finish();
}

#[test]
fn chap_response_with_the_wrong_identifier_is_ignored() {
    big_stack(|| chap_case(|r| r[1] = r[1].wrapping_add(1), "ignoring Response id"));
}

#[test]
fn chap_response_with_the_wrong_value_size_is_ignored() {
    // Value-Size 48 instead of 49 (lengths kept consistent).
    big_stack(|| {
        chap_case(
            |r| {
                r[4] = 48;
                r.remove(5 + 48);
                let len = r.len() as u16;
                r[2..4].copy_from_slice(&len.to_be_bytes());
            },
            "ignoring Response with value size 48",
        )
    });
}

#[test]
fn chap_response_with_a_length_past_the_packet_is_ignored() {
    big_stack(|| {
        chap_case(
            |r| {
                let len = r.len() as u16 + 10;
                r[2..4].copy_from_slice(&len.to_be_bytes());
            },
            "MS-CHAP-V2: dropping",
        )
    });
}

// ---------------------------------------------------------------------------------------
// PPP negotiation loops, from the test's own PPP peer on a raw call.

/// A call placed by hand: the test speaks PPP on it frame by frame.
struct RawCall {
    conn: usize,
    our_call_id: u16,
    server_call_id: u16,
    seq: u32,
}

impl RawCall {
    fn place(net: &mut Net, our_call_id: u16) -> RawCall {
        let conn = established_raw(net);
        net.raw_send(conn, &ocrq(our_call_id));
        let reply = next_message(net, conn);
        assert_eq!(type_and_result(&reply), (8, Some(1)));
        let server_call_id = u16::from_be_bytes([reply[12], reply[13]]);
        RawCall {
            conn,
            our_call_id,
            server_call_id,
            seq: 0,
        }
    }

    fn send(&mut self, net: &mut Net, protocol: u16, packet: &[u8]) {
        let gre = gre_packet(
            self.server_call_id,
            Some(self.seq),
            None,
            &ppp_frame(protocol, packet),
        );
        self.seq += 1;
        net.inject(ipv4_gre(CLIENT_HOST, SERVER, &gre));
    }

    /// Control packets the server sent on this call: (protocol, code, id, data).
    fn received(&self, net: &mut Net) -> Vec<(u16, u8, u8, Vec<u8>)> {
        let mut out = Vec::new();
        let mut rest = std::collections::VecDeque::new();
        while let Some(gre) = net.unclaimed_gre.pop_front() {
            let Ok(view) = smolpptp::wire::gre::Packet::new_checked(&gre[..]) else {
                continue;
            };
            let Ok(repr) = smolpptp::wire::gre::Repr::parse(&view) else {
                continue;
            };
            if repr.call_id != self.our_call_id {
                rest.push_back(gre);
                continue;
            }
            let payload = view.payload();
            if let Ok((proto, off)) = smolpptp::wire::ppp::parse(payload) {
                let p = &payload[off..];
                if p.len() >= 4 {
                    out.push((proto, p[0], p[1], p[4..].to_vec()));
                }
            }
        }
        net.unclaimed_gre = rest;
        out
    }

    /// Run for `d`, answering every server LCP Configure-Request with `answer`; every
    /// LCP packet the server sent, in order.
    fn converse(
        &mut self,
        net: &mut Net,
        d: Duration,
        mut answer: impl FnMut(u8, &[u8]) -> Option<Vec<u8>>,
    ) -> Vec<(u8, u8, Vec<u8>)> {
        let end = net.now + d;
        let mut seen = Vec::new();
        while net.now < end {
            net.run_until(Duration::from_millis(50), |_| false);
            for (proto, code, id, data) in self.received(net) {
                if proto != protocol::LCP {
                    continue;
                }
                if code == 1 {
                    if let Some(reply) = answer(id, &data) {
                        self.send(net, protocol::LCP, &reply);
                    }
                }
                seen.push((code, id, data));
            }
        }
        seen
    }
}

const LCP_AUTH: u8 = 3;
const LCP_MAGIC: u8 = 5;

#[test]
fn lcp_peer_naking_our_authentication_forever_is_cut_off() {
    big_stack(|| {
        let mut c = Case::new();
        let mark = c.log.mark();
        let mut call = RawCall::place(&mut c.net, 0x7100);
        call.send(&mut c.net, protocol::LCP, &cp_packet(1, 1, b""));
        // "Authenticate with PAP instead", to every request.
        let seen = call.converse(&mut c.net, Duration::from_secs(20), |id, data| {
            let naks: Vec<u8> = cp_options(data)
                .iter()
                .filter(|(ty, _)| *ty == LCP_AUTH)
                .flat_map(|_| cp_option(LCP_AUTH, &0xC023u16.to_be_bytes()))
                .collect();
            Some(if naks.is_empty() {
                cp_packet(2, id, data)
            } else {
                cp_packet(3, id, &naks)
            })
        });
        let requests = seen.iter().filter(|s| s.0 == 1).count();
        assert!(requests <= 6, "{requests} Configure-Requests");
        c.log
            .expect(mark, "peer refused to authenticate with MS-CHAPv2");
        assert!(seen.iter().any(|s| s.0 == 5), "LCP Terminate-Request");
        assert!(
            c.net
                .run_until(Duration::from_secs(10), |n| n.server.sessions().count()
                    == 1),
            "the call is gone"
        );
        c.finish();
    });
}

#[test]
fn lcp_peer_naking_our_magic_number_forever_is_bounded() {
    big_stack(|| {
        let mut c = Case::new();
        let mark = c.log.mark();
        let mut call = RawCall::place(&mut c.net, 0x7101);
        call.send(&mut c.net, protocol::LCP, &cp_packet(1, 1, b""));
        let seen = call.converse(&mut c.net, Duration::from_secs(30), |id, data| {
            let naks: Vec<u8> = cp_options(data)
                .iter()
                .filter(|(ty, v)| *ty == LCP_MAGIC && v.len() == 4)
                .flat_map(|(_, v)| {
                    let m = u32::from_be_bytes([v[0], v[1], v[2], v[3]]).wrapping_add(1);
                    cp_option(LCP_MAGIC, &m.to_be_bytes())
                })
                .collect();
            Some(if naks.is_empty() {
                cp_packet(2, id, data)
            } else {
                cp_packet(3, id, &naks)
            })
        });
        let requests = seen.iter().filter(|s| s.0 == 1).count();
        assert!(
            requests <= 12,
            "{requests} Configure-Requests in 30 s: an endless Nak loop"
        );
        c.log.expect(mark, "Configure-Nak");
        c.net.raw_close(call.conn);
        assert!(c
            .net
            .run_until(Duration::from_secs(5), |n| n.server.sessions().count() == 1));
        c.finish();
    });
}

#[test]
fn lcp_peer_ignoring_our_naks_gets_rejects_after_max_failure() {
    big_stack(|| {
        let mut c = Case::new();
        let mark = c.log.mark();
        let mut call = RawCall::place(&mut c.net, 0x7102);
        // An MRU below the minimum, asked for again and again whatever we say.
        let request = cp_option(1, &100u16.to_be_bytes());
        let mut replies = Vec::new();
        for id in 1..=8u8 {
            call.send(&mut c.net, protocol::LCP, &cp_packet(1, id, &request));
            c.run(Duration::from_millis(100));
            for (proto, code, rid, _) in call.received(&mut c.net) {
                if proto == protocol::LCP && rid == id && (2..=4).contains(&code) {
                    replies.push(code);
                }
            }
        }
        assert_eq!(
            replies,
            [3, 3, 3, 3, 3, 4, 4, 4],
            "Nak ×5 (Max-Failure), then Reject"
        );
        c.log.expect(mark, "Max-Failure");
        c.net.raw_close(call.conn);
        assert!(c
            .net
            .run_until(Duration::from_secs(5), |n| n.server.sessions().count() == 1));
        c.finish();
    });
}

// ---------------------------------------------------------------------------------------
// MPPE: the victim's next data packet is tampered with in flight.

/// Arm a one-shot rewrite of the victim's next MPPE data packet to the server.
fn tamper_next_mppe(
    net: &mut Net,
    server_call_id: u16,
    mut tamper: impl FnMut(&mut Vec<u8>) + 'static,
) -> Rc<Cell<bool>> {
    let done = Rc::new(Cell::new(false));
    let flag = done.clone();
    net.fault = Box::new(move |dir, frame| {
        if dir != Direction::ToServer || flag.get() {
            return Fault::Pass;
        }
        let Some(mut g) = GreFrame::parse(frame) else {
            return Fault::Pass;
        };
        if g.call_id != server_call_id || g.ppp().map(|p| p.0) != Some(protocol::COMPRESSED) {
            return Fault::Pass;
        }
        flag.set(true);
        let mut info = g.info().to_vec();
        tamper(&mut info);
        g.set_info(&info);
        Fault::Replace(Box::new(g.build()))
    });
    done
}

fn ccount(info: &[u8]) -> u16 {
    u16::from_be_bytes([info[0], info[1]]) & 0x0FFF
}

fn set_ccount(info: &mut [u8], count: u16) {
    let flags = info[0] & 0xF0;
    let v = (count & 0x0FFF).to_be_bytes();
    info[0] = flags | v[0];
    info[1] = v[1];
}

/// The victim's next packet is rewritten by `tamper`: it must not reach the network, the
/// log names `lines` (any of), and the victim's later traffic passes (at most
/// `later_losses` of 10 lost to a key schedule the forgery moved on).
fn mppe_case(tamper: impl FnMut(&mut Vec<u8>) + 'static, lines: &[&str], later_losses: u32) {
    let mut c = Case::new();
    let v = bring_up(&mut c.net, ClientConfig::new(USER, PASSWORD));
    assert_eq!(exchange(&mut c.net, v, 10, 200), (10, 10));
    let mark = c.log.mark();
    let call = c.server_call_id(v);
    let done = tamper_next_mppe(&mut c.net, call, tamper);
    assert!(
        !one_packet_through(&mut c.net, v, 999),
        "the tampered packet was delivered"
    );
    assert!(done.get());
    c.net.fault = Box::new(|_, _| Fault::Pass);
    c.log.expect_any(mark, lines);
    let (up, down) = exchange(&mut c.net, v, 10, 200);
    assert_eq!(down, 10, "to the victim");
    assert!(up + later_losses >= 10, "victim recovered: {up} of 10");
    assert_eq!(c.sessions(), 2, "the victim's session stays");
    c.finish();
}

#[test]
fn mppe_coherency_count_going_back_is_dropped() {
    big_stack(|| {
        mppe_case(
            |i| {
                let n = ccount(i);
                set_ccount(i, n.wrapping_sub(1))
            },
            &["MPPE: dropping packet (Late)"],
            0,
        )
    });
}

#[test]
fn mppe_coherency_count_jumping_ahead_is_dropped() {
    // The key schedule moves on 3 steps: the next three real packets are late for it
    // (Linux does the same: without integrity, RC4 cannot tell a forgery first).
    big_stack(|| {
        mppe_case(
            |i| {
                let n = ccount(i);
                set_ccount(i, n.wrapping_add(3))
            },
            &[
                "MPPE: dropping inner protocol",
                "not sent from its own address",
                "MPPE: dropping packet",
            ],
            3,
        )
    });
}

#[test]
fn mppe_stateless_packet_without_the_flushed_bit_is_dropped() {
    big_stack(|| {
        mppe_case(
            |i| i[0] &= !0x80,
            &["MPPE: dropping packet (NotFlushed)"],
            0,
        )
    });
}

#[test]
fn mppe_packet_without_the_encrypted_bit_is_dropped() {
    big_stack(|| {
        mppe_case(
            |i| i[0] &= !0x10,
            &["MPPE: dropping packet (NotEncrypted)"],
            0,
        )
    });
}

#[test]
fn mppe_replayed_packet_is_dropped() {
    // A packet the server already decrypted, sent again under a fresh GRE sequence number.
    big_stack(|| {
        let mut c = Case::new();
        let v = bring_up(&mut c.net, ClientConfig::new(USER, PASSWORD));
        let call = c.server_call_id(v);
        let frames = record_victim_frames(&mut c.net, call);
        assert_eq!(exchange(&mut c.net, v, 10, 200), (10, 10));
        let old = frames
            .borrow()
            .iter()
            .rev()
            .find(|g| g.ppp().map(|p| p.0) == Some(protocol::COMPRESSED))
            .cloned()
            .expect("an MPPE packet");
        let mark = c.log.mark();
        let old_info = old.info().to_vec();
        let done = tamper_next_mppe(&mut c.net, call, move |i| *i = old_info.clone());
        assert!(
            !one_packet_through(&mut c.net, v, 999),
            "the replay was delivered"
        );
        assert!(done.get());
        c.net.fault = Box::new(|_, _| Fault::Pass);
        c.log.expect(mark, "MPPE: dropping packet (Late)");
        assert_eq!(exchange(&mut c.net, v, 10, 200), (10, 10), "victim after");
        c.finish();
    });
}

// ---------------------------------------------------------------------------------------
// IPCP addresses and spoofing through the tunnel.

#[test]
fn ipcp_request_for_an_address_outside_the_pool_gets_a_pool_address() {
    big_stack(|| {
        let mut c = Case::new();
        let mark = c.log.mark();
        let mut config = ClientConfig::new(USER, PASSWORD);
        config.request_address = Ipv4Addr::new(10, 99, 0, 7);
        let v = bring_up(&mut c.net, config);
        let got = c.net.client(v).assigned_address().unwrap();
        let second = Ipv4Addr::from(u32::from(POOL_FIRST) + 1);
        assert_eq!(got, second, "the next pool address, not the one asked for");
        c.log.expect(mark, &format!("remote IP address {second}"));
        c.log.expect(mark, "IPCP: peer asked for 10.99.0.7");
        assert_eq!(exchange(&mut c.net, v, 10, 200), (10, 10));
        c.finish();
    });
}

#[test]
fn ipcp_request_for_another_sessions_address_gets_its_own() {
    big_stack(|| {
        let mut c = Case::new();
        let mark = c.log.mark();
        let taken = c.net.client(c.bystander).assigned_address().unwrap();
        let mut config = ClientConfig::new(USER, PASSWORD);
        config.request_address = taken;
        let v = bring_up(&mut c.net, config);
        let got = c.net.client(v).assigned_address().unwrap();
        assert_ne!(got, taken);
        c.log.expect(mark, &format!("IPCP: peer asked for {taken}"));
        assert_eq!(exchange(&mut c.net, v, 10, 200), (10, 10));
        // Packets for the bystander's address still go to the bystander (checked by
        // `finish`), none to the victim.
        c.finish();
    });
}

#[test]
fn packets_from_a_tunnel_with_a_foreign_source_are_dropped() {
    big_stack(|| {
        let mut c = Case::new();
        let v = bring_up(&mut c.net, ClientConfig::new(USER, PASSWORD));
        let mark = c.log.mark();
        let bystander_address = c.net.client(c.bystander).assigned_address().unwrap();
        c.net.sink.packets.clear();
        for (seq, src) in [
            bystander_address,
            Ipv4Addr::new(10, 9, 0, 200),
            Ipv4Addr::new(8, 8, 8, 8),
        ]
        .into_iter()
        .enumerate()
        {
            let now = c.net.now;
            c.net
                .client_mut(v)
                .send_ip(now, &packets::ipv4_udp(src, FAR, 1, 2, seq as u32, 100))
                .unwrap();
        }
        c.run(Duration::from_millis(300));
        assert!(
            c.net.sink.packets.is_empty(),
            "a spoofed packet got through"
        );
        c.log.expect(mark, "not sent from its own address");
        let spoofed = c
            .net
            .server
            .sessions()
            .find(|s| s.peer_call_id == c.net.client(v).our_call_id())
            .unwrap()
            .counters
            .spoofed;
        assert_eq!(spoofed, 3);
        assert_eq!(exchange(&mut c.net, v, 10, 200), (10, 10), "victim after");
        c.finish();
    });
}
