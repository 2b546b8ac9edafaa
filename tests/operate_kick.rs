//! `smolpptpd kick` and `status` against the whole server in process: real client sessions
//! through the harness, `Server::kick` ending them with LCP Terminate-Request and then
//! Call-Disconnect-Notify (Admin Shutdown), the status records, and the up/down notices the
//! daemon turns into ip-up/ip-down and wtmp records.

mod common;
mod support;

use std::cell::RefCell;
use std::net::Ipv4Addr;
use std::rc::Rc;

use common::harness::{lab_settings, Direction, Net, CLIENT_HOST, PASSWORD, POOL_FIRST, USER};
use common::{count_allocations, CountingAllocator, Fault};
use smolpptp::linux::control_socket::{LinkState, SessionRecord};
use smolpptp::server::{NoticeKind, Selector};
use smoltcp::time::Duration;
use support::client::{ClientConfig, State};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

fn bring_up(net: &mut Net) -> usize {
    let i = net.connect(ClientConfig::new(USER, PASSWORD));
    let up = net.run_until(Duration::from_secs(30), |n| {
        n.client(i).is_up() || n.client(i).is_finished()
    });
    assert!(up && net.client(i).is_up(), "{:?}", net.client(i).state());
    i
}

/// Result codes of the Call-Disconnect-Notify messages the server sends, read off the wire.
fn watch_disconnects(net: &mut Net) -> Rc<RefCell<Vec<u8>>> {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let log = seen.clone();
    net.fault = Box::new(move |dir: Direction, frame: &[u8]| {
        // IPv4 + TCP from the server: look for PPTP's magic cookie and control type 13.
        if dir == Direction::ToClient && frame.len() > 40 && frame[9] == 6 {
            let tcp = &frame[20..];
            let payload = &tcp[usize::from(tcp[12] >> 4) * 4..];
            for p in 0..payload.len().saturating_sub(11) {
                if payload[p..p + 4] == [0x1A, 0x2B, 0x3C, 0x4D] && payload[p + 4..p + 6] == [0, 13]
                {
                    log.borrow_mut().push(payload[p + 10]);
                }
            }
        }
        Fault::Pass
    });
    seen
}

#[test]
fn kick_ends_sessions_by_user_and_by_address() {
    common::big_stack(|| {
        let mut net = Net::new(lab_settings());
        let a = bring_up(&mut net);
        let b = bring_up(&mut net);
        let b_address = net.client(b).assigned_address().unwrap();

        // Status: both sessions, up, with MPPE-128 stateless, their addresses and user.
        let now = net.now;
        let records: Vec<SessionRecord> = net
            .server
            .sessions()
            .map(|s| SessionRecord::from_session(s, now))
            .collect();
        assert_eq!(records.len(), 2);
        for r in &records {
            assert_eq!(r.user.as_str(), USER);
            assert_eq!(r.client, CLIENT_HOST);
            assert_eq!(r.state, LinkState::Up);
            let mppe = r.mppe.expect("MPPE in use");
            assert_eq!((mppe.bits, mppe.stateless), (128, true));
        }
        let mut addresses: Vec<Ipv4Addr> = records.iter().filter_map(|r| r.address).collect();
        addresses.sort();
        assert_eq!(addresses[0], POOL_FIRST);
        assert!(addresses.contains(&b_address));

        // One Up notice per session, for ip-up and the wtmp login.
        let ups: Vec<_> = std::iter::from_fn(|| net.server.poll_notice()).collect();
        assert_eq!(ups.len(), 2);
        assert!(ups
            .iter()
            .all(|n| n.kind == NoticeKind::Up && n.user.as_str() == USER));

        // Nobody by that name or address: nothing happens.
        let now = net.now;
        assert_eq!(net.server.kick(now, Selector::User("nobody")), 0);
        assert_eq!(net.server.kick(now, Selector::User("")), 0);
        assert_eq!(
            net.server
                .kick(now, Selector::Address(Ipv4Addr::new(203, 0, 113, 9))),
            0
        );

        // Kick b by its tunnel address.
        let disconnects = watch_disconnects(&mut net);
        let server = &mut net.server;
        let (kicked, allocations) =
            count_allocations(|| server.kick(now, Selector::Address(b_address)));
        assert_eq!((kicked, allocations), (1, 0));
        let done = net.run_until(Duration::from_secs(20), |n| n.client(b).is_finished());
        assert!(done, "{:?}", net.client(b).state());
        assert_eq!(*net.client(b).state(), State::Closed);
        assert_eq!(
            net.client(b).disconnect_reason(),
            Some("LCP Terminate-Request: Administrative disconnect"),
            "LCP Terminate-Request first"
        );
        assert_eq!(
            *disconnects.borrow(),
            [3],
            "then Call-Disconnect-Notify with result 3 (Admin Shutdown)"
        );
        assert!(net.client(a).is_up(), "the other session is untouched");
        assert_eq!(net.server.sessions().count(), 1);

        let down = net.server.poll_notice().expect("a Down notice");
        assert_eq!(down.kind, NoticeKind::Down);
        assert_eq!(down.address, b_address);
        assert!(net.server.poll_notice().is_none());

        // Kick a by user name (the client's public address would match too).
        let now = net.now;
        assert_eq!(net.server.kick(now, Selector::User(USER)), 1);
        assert_eq!(
            net.server.kick(now, Selector::User(USER)),
            0,
            "already closing"
        );
        let done = net.run_until(Duration::from_secs(20), |n| n.client(a).is_finished());
        assert!(done && *net.client(a).state() == State::Closed);
        assert_eq!(*disconnects.borrow(), [3, 3]);
        assert_eq!(net.server.sessions().count(), 0);
        assert_eq!(
            net.server.poll_notice().map(|n| n.kind),
            Some(NoticeKind::Down)
        );
        assert_eq!(net.server_allocations, 0, "the server allocated");
    });
}

#[test]
fn a_client_that_never_answers_is_dropped_after_max_terminate() {
    common::big_stack(|| {
        let mut net = Net::new(lab_settings());
        let a = bring_up(&mut net);
        let disconnects = watch_disconnects(&mut net);
        // From now on GRE is lost both ways: the client never sees the Terminate-Request
        // (so it does not clear the call itself) and no Terminate-Ack ever arrives.
        let mut inner = std::mem::replace(&mut net.fault, Box::new(|_, _| Fault::Pass));
        net.fault = Box::new(move |dir, frame| {
            if frame.len() > 20 && frame[9] == 47 {
                return Fault::Drop;
            }
            inner(dir, frame)
        });
        let now = net.now;
        let kicked_at = now;
        assert_eq!(
            net.server.kick(now, Selector::Address(CLIENT_HOST)),
            1,
            "by the client's public address"
        );
        let gone = net.run_until(Duration::from_secs(30), |n| {
            n.server.sessions().count() == 0
        });
        assert!(gone);
        let took = net.now - kicked_at;
        assert!(
            took >= Duration::from_secs(5) && took <= Duration::from_secs(10),
            "Max-Terminate (2 × 3 s): {took}"
        );
        assert_eq!(*disconnects.borrow(), [3]);
        let _ = a;
    });
}
