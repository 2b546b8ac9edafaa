//! Per-user limits, in process (see `tests/common/harness.rs`), simulated time: a second
//! login of the same user replaces the first or is denied (`single-session`), the rate limit
//! holds traffic to the configured rate both ways, the session timeout closes the link and
//! returns the address to the pool, and a per-user `idle` beats the options file's. The
//! server must not allocate in any of it.

mod common;

mod support;

use std::net::Ipv4Addr;

use common::harness::{lab_settings, Net, PASSWORD, POOL_FIRST, USER};
use common::CountingAllocator;
use smolpptp::settings::{Rate, Settings, SingleSession, UserLimit};
use smoltcp::time::Duration;
use support::client::{ClientConfig, State};
use support::packets;

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const FAR: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);

fn bring_up(net: &mut Net) -> usize {
    let i = net.connect(ClientConfig::new(USER, PASSWORD));
    let done = net.run_until(Duration::from_secs(30), |n| {
        n.client(i).is_up() || n.client(i).is_finished()
    });
    assert!(done, "client {i} stuck: {:?}", net.client(i).state());
    i
}

fn live_sessions(net: &Net) -> usize {
    net.server.sessions().filter(|s| s.ended.is_none()).count()
}

/// Settings with a `user-limit` line for the lab's user.
fn with_user_limit(limit: UserLimit) -> Settings {
    let mut s = lab_settings();
    let mut name = heapless::String::new();
    name.push_str(USER).unwrap();
    s.user_limits.users.push((name, limit)).unwrap();
    s
}

#[test]
fn second_login_replaces_the_first() {
    common::big_stack(second_login_replaces_the_first_body);
}

fn second_login_replaces_the_first_body() {
    let mut s = lab_settings();
    s.user_limits.default.single_session = Some(SingleSession::Replace);
    let mut net = Net::new(s);
    let a = bring_up(&mut net);
    assert_eq!(net.client(a).assigned_address(), Some(POOL_FIRST));
    let b = bring_up(&mut net);
    assert_eq!(*net.client(b).state(), State::Up);
    net.run_until(Duration::from_secs(10), |n| n.client(a).is_finished());
    assert!(net.client(a).is_finished(), "{:?}", net.client(a).state());
    assert_eq!(net.server.sessions().count(), 1);
    // The old session's address was free at once, so the new login got it back.
    assert_eq!(net.client(b).assigned_address(), Some(POOL_FIRST));
    let s = net.server.sessions().next().unwrap();
    assert_eq!(s.address, Some(POOL_FIRST));
    assert_eq!(net.server_allocations, 0);
}

#[test]
fn second_login_is_denied_and_the_first_keeps_running() {
    common::big_stack(second_login_is_denied_and_the_first_keeps_running_body);
}

fn second_login_is_denied_and_the_first_keeps_running_body() {
    let mut net = Net::new(with_user_limit(UserLimit {
        single_session: Some(SingleSession::Deny),
        ..UserLimit::default()
    }));
    let a = bring_up(&mut net);
    let b = net.connect(ClientConfig::new(USER, PASSWORD));
    net.run_until(Duration::from_secs(30), |n| n.client(b).is_finished());
    assert!(
        matches!(net.client(b).state(), State::Failed(_) | State::Closed),
        "{:?}",
        net.client(b).state()
    );
    assert_eq!(*net.client(a).state(), State::Up);
    // The denied session goes once its LCP Terminate is answered or given up on.
    net.run_until(Duration::from_secs(10), |n| {
        n.server.sessions().count() == 1
    });
    assert_eq!(net.server.sessions().count(), 1);
    assert!(net.client(a).is_up());
    // The first session still carries traffic.
    let me = net.client(a).assigned_address().unwrap();
    assert!(net.send_to_client(&packets::ipv4_udp(FAR, me, 1, 2, 3, 100)));
    net.run_until(Duration::from_millis(300), |_| false);
    assert!(net.client_mut(a).recv_ip_packet().is_some());
    assert_eq!(net.server_allocations, 0);
}

#[test]
fn without_single_session_both_logins_run() {
    common::big_stack(without_single_session_both_logins_run_body);
}

fn without_single_session_both_logins_run_body() {
    let mut net = Net::new(lab_settings());
    let a = bring_up(&mut net);
    let b = bring_up(&mut net);
    net.run_until(Duration::from_secs(5), |_| false);
    assert!(net.client(a).is_up() && net.client(b).is_up());
    assert_eq!(live_sessions(&net), 2);
}

/// 512 kbit/s = 64 000 bytes/s each way; 1000-byte packets offered every 2 ms (500 kB/s)
/// for 10 s: about 640 000 bytes plus one burst (a quarter second) get through.
const RATE_BPS: u32 = 512_000;
const OFFER_SECS: u64 = 10;

fn expected_bytes() -> u64 {
    u64::from(RATE_BPS / 8) * OFFER_SECS + u64::from(RATE_BPS / 8) / 4
}

#[test]
fn rate_limit_holds_both_directions_to_the_rate() {
    common::big_stack(rate_limit_holds_both_directions_to_the_rate_body);
}

fn rate_limit_holds_both_directions_to_the_rate_body() {
    let mut net = Net::new(with_user_limit(UserLimit {
        rate: Some(Rate {
            down_bps: RATE_BPS,
            up_bps: RATE_BPS,
        }),
        ..UserLimit::default()
    }));
    let i = bring_up(&mut net);
    let me = net.client(i).assigned_address().unwrap();
    let (mut down, mut up) = (0u64, 0u64);
    let end = net.now + Duration::from_secs(OFFER_SECS);
    let mut seq = 0;
    while net.now < end {
        seq += 1;
        let packet = packets::ipv4_udp(FAR, me, 1, 2, seq, 1000 - 28);
        net.send_to_client(&packet);
        let now = net.now;
        let packet = packets::ipv4_udp(me, FAR, 2, 1, seq, 1000 - 28);
        net.client_mut(i).send_ip(now, &packet).unwrap();
        net.step();
        while let Some(p) = net.client_mut(i).recv_ip_packet() {
            down += p.len() as u64;
        }
        while let Some(p) = net.sink.packets.pop_front() {
            up += p.len() as u64;
        }
        net.now += Duration::from_millis(2);
    }
    let want = expected_bytes();
    for (dir, got) in [("down", down), ("up", up)] {
        assert!(
            got.abs_diff(want) <= want / 20,
            "{dir}: {got} bytes in {OFFER_SECS} s, expected about {want}"
        );
    }
    let s = net.server.sessions().next().unwrap();
    assert!(s.counters.rate_dropped > 0);
    assert!(net.client(i).is_up());
    assert_eq!(net.server_allocations, 0);
}

#[test]
fn session_timeout_closes_the_link_and_frees_the_address() {
    common::big_stack(session_timeout_closes_the_link_and_frees_the_address_body);
}

fn session_timeout_closes_the_link_and_frees_the_address_body() {
    let mut s = lab_settings();
    s.user_limits.default.session_timeout = Some(60);
    // Keep the link busy with LCP echoes: a timeout is not an idle close.
    s.ppp.lcp_echo_interval = 10;
    s.ppp.lcp_echo_failure = 3;
    let mut net = Net::new(s);
    let started = net.now;
    let i = bring_up(&mut net);
    assert!(!net.run_until(Duration::from_secs(50), |n| n.client(i).is_finished()));
    let closed = net.run_until(Duration::from_secs(20), |n| n.client(i).is_finished());
    assert!(closed, "still {:?} after 70 s", net.client(i).state());
    let lasted = net.now - started;
    assert!(
        lasted >= Duration::from_secs(60) && lasted < Duration::from_secs(65),
        "closed after {lasted}"
    );
    net.run_until(Duration::from_secs(10), |n| {
        n.server.sessions().count() == 0
    });
    assert_eq!(net.server.sessions().count(), 0);
    // The address is back in the pool.
    let next = bring_up(&mut net);
    assert_eq!(net.client(next).assigned_address(), Some(POOL_FIRST));
    assert_eq!(net.server_allocations, 0);
}

#[test]
fn per_user_idle_overrides_the_options_file() {
    common::big_stack(per_user_idle_overrides_the_options_file_body);
}

fn per_user_idle_overrides_the_options_file_body() {
    let mut s = with_user_limit(UserLimit {
        idle: Some(30),
        ..UserLimit::default()
    });
    s.ppp.idle = 0;
    let mut net = Net::new(s);
    let i = bring_up(&mut net);
    let up_at = net.now;
    let closed = net.run_until(Duration::from_secs(60), |n| n.client(i).is_finished());
    assert!(closed, "idle=30 did not close the link");
    let lasted = net.now - up_at;
    assert!(
        lasted >= Duration::from_secs(29) && lasted < Duration::from_secs(35),
        "{lasted}"
    );
    assert_eq!(net.server_allocations, 0);
}
