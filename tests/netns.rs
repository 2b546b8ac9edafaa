//! `smolpptpd` for real, in network namespaces: the project's own test client connects over
//! kernel sockets through each backend, carries traffic both ways and disconnects; SIGTERM
//! ends sessions in order and leaves nothing behind; a wrong password is refused without
//! hurting the daemon; a request arriving while the daemon is busy sending is answered at
//! once; bad configuration files give the documented errors.
//!
//! The namespace tests need root (CI runs as root, so there they run); elsewhere they print
//! why and pass. The configuration tests run anywhere. Every wait is bounded.
//!
//! Debugging: `SMOLPPTP_TEST_LOG=1` prints the daemon's output (always printed when a test
//! fails), `SMOLPPTP_CLIENT_TRACE=1` every packet the client sends and receives; with
//! `--nocapture` the session tests print how long each step took.

mod common;
mod support;

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::netns::{
    skip_reason, write_config, Backend, Lab, Netns, TempDir, CLIENT_VETH, DAEMON, DNS1, DNS2,
    LINK_PREFIX, LOCAL, NFT_TABLE, PASSWORD, POOL_FIRST, ROUTER, TUN, USER,
};
use smolpptp::limits::MAX_SESSIONS;
use support::client::{ClientConfig, Failure, State};
use support::kernel::KernelClient;
use support::packets;

/// Control connection + PPP negotiation.
const SETUP: Duration = Duration::from_secs(20);
/// Orderly hang-up (LCP Terminate, Call-Clear, Stop-Control-Connection).
const TEARDOWN: Duration = Duration::from_secs(15);
/// Packets in flight through the tunnel.
const DELIVERY: Duration = Duration::from_secs(5);
/// An answer that needs no retransmission (the client's PPP restart timer is 3 s).
const PROMPT: Duration = Duration::from_millis(2500);
/// SIGTERM to exit (the daemon's shutdown grace is 3 s).
const EXIT: Duration = Duration::from_secs(6);

/// The router's UDP port the test traffic goes to, and the client's.
const ROUTER_PORT: u16 = 7000;
const CLIENT_PORT: u16 = 4000;

/// Prints how long each step of a test took (visible with `--nocapture`).
struct Steps {
    tag: &'static str,
    last: Instant,
}

impl Steps {
    fn new(tag: &'static str) -> Steps {
        Steps {
            tag,
            last: Instant::now(),
        }
    }

    fn step(&mut self, what: &str) {
        eprintln!("[{}] {what}: {:?}", self.tag, self.last.elapsed());
        self.last = Instant::now();
    }
}

/// Build a lab, or say why not and return None (the test then passes).
fn lab(tag: &str) -> Option<Lab> {
    if let Some(why) = skip_reason() {
        eprintln!("skipping {tag}: {why}");
        return None;
    }
    Some(Lab::new(tag))
}

fn bring_up(lab: &mut Lab, config: ClientConfig, call_id: u16) -> KernelClient {
    let mut c = lab.connect(config, call_id);
    c.run_until(SETUP, |c| c.client.is_up() || c.client.is_finished());
    assert_eq!(
        *c.client.state(),
        State::Up,
        "client {call_id:#06x} not up; violations {:?}",
        c.client.violations()
    );
    c
}

/// What every session through the lab must get: the first pool address (when no other
/// session holds it), the server's tunnel address, both DNS servers, stateless MPPE-128.
fn assert_lab_session(c: &KernelClient, address: Ipv4Addr) {
    assert_eq!(c.client.assigned_address(), Some(address));
    assert_eq!(c.client.server_address(), Some(LOCAL));
    assert_eq!(c.client.dns(), [Some(DNS1), Some(DNS2)]);
    let mppe = c.client.mppe().expect("MPPE negotiated");
    assert!(mppe.stateless, "{mppe:?}");
    assert_ne!(
        mppe.bits & smolpptp::wire::mppe::bits::S,
        0,
        "128-bit: {mppe:?}"
    );
}

fn payload_len(seq: u32) -> usize {
    [4, 100, 1000, 1300][seq as usize % 4]
}

/// `count` numbered UDP packets from the client's tunnel address to a socket on the
/// router's tunnel address, then the socket answers each one back to the client. Both
/// directions compared byte for byte.
fn exchange(c: &mut KernelClient, udp: &UdpSocket, count: u32) {
    let me = c.client.assigned_address().unwrap();
    // Client → router.
    for seq in 0..count {
        let p = packets::ipv4_udp(me, LOCAL, CLIENT_PORT, ROUTER_PORT, seq, payload_len(seq));
        let now = c.now();
        c.client.send_ip(now, &p).expect("send through the tunnel");
    }
    let mut got = vec![false; count as usize];
    let mut buf = vec![0u8; 2048];
    let mut unexpected = Vec::new();
    let all = c.run_until(DELIVERY, |_| {
        while let Ok((n, from)) = udp.recv_from(&mut buf) {
            let data = &buf[..n];
            let seq = data
                .get(..4)
                .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]));
            match seq {
                Some(seq)
                    if seq < count
                        && from == SocketAddr::V4(SocketAddrV4::new(me, CLIENT_PORT))
                        && data == packets::test_payload(seq, payload_len(seq)) =>
                {
                    got[seq as usize] = true
                }
                _ => unexpected.push(format!(
                    "{n} bytes from {from}: {:02x?}",
                    &data[..n.min(16)]
                )),
            }
        }
        got.iter().all(|&g| g)
    });
    assert!(unexpected.is_empty(), "router received {unexpected:?}");
    let missing: Vec<usize> = (0..got.len()).filter(|&i| !got[i]).collect();
    assert!(all, "router missed packets {missing:?} of {count}");

    // Router → client: the kernel routes the pool into the daemon's TUN.
    for seq in 0..count {
        udp.send_to(
            &packets::test_payload(seq, payload_len(seq)),
            (me, CLIENT_PORT),
        )
        .expect("send from the router");
    }
    let mut got = vec![false; count as usize];
    let mut unexpected = Vec::new();
    let all = c.run_until(DELIVERY, |c| {
        while let Some(p) = c.client.recv_ip_packet() {
            match check_reply(&p, me, count) {
                Some(seq) => got[seq as usize] = true,
                None => unexpected.push(format!("{:02x?}", &p[..p.len().min(48)])),
            }
        }
        got.iter().all(|&g| g)
    });
    assert!(unexpected.is_empty(), "client received {unexpected:?}");
    let missing: Vec<usize> = (0..got.len()).filter(|&i| !got[i]).collect();
    assert!(all, "client missed packets {missing:?} of {count}");
}

/// The sequence number of a reply the router's socket sent to the client, if the packet is
/// exactly that reply: IPv4 from LOCAL to `me`, and UDP header and payload byte for byte
/// what an independent encoder builds (so the UDP checksum is right too).
fn check_reply(p: &[u8], me: Ipv4Addr, count: u32) -> Option<u32> {
    let ip = packets::parse_ipv4(p)?;
    if ip.src != LOCAL || ip.dst != me || ip.protocol != packets::PROTO_UDP {
        return None;
    }
    let seq = packets::test_sequence(p)?;
    if seq >= count {
        return None;
    }
    let want = packets::ipv4_udp(LOCAL, me, ROUTER_PORT, CLIENT_PORT, seq, payload_len(seq));
    (ip.payload == packets::parse_ipv4(&want)?.payload).then_some(seq)
}

fn hang_up(c: &mut KernelClient) {
    let started = Instant::now();
    let now = c.now();
    c.client.hang_up(now);
    let done = c.run_until(TEARDOWN, |c| c.client.is_finished() && c.tcp_end.is_some());
    let took = started.elapsed();
    assert!(
        done,
        "hang-up not finished in {TEARDOWN:?}: {:?}, TCP {:?}",
        c.client.state(),
        c.tcp_end
    );
    assert_eq!(*c.client.state(), State::Closed, "{:?}", c.client.failure());
    assert_eq!(c.gre_send_errors, 0, "{:?}", c.last_gre_send_error);
    // Nothing is lost on a veth pair: only a server sitting on the Terminate-Request makes
    // the client resend it after its 3 s restart timer.
    assert!(
        took < PROMPT,
        "hang-up took {took:?}: the daemon answered the LCP Terminate-Request only after the \
         client resent it"
    );
}

fn assert_no_violations(c: &KernelClient) {
    assert!(
        c.client.violations().is_empty(),
        "server protocol violations: {:?}",
        c.client.violations()
    );
}

/// Connect, check the session, traffic both ways, hang up; then the daemon must have let
/// the session go: a second client gets the same first address again.
fn session_through(backend: Backend, tag: &'static str) {
    let Some(mut lab) = lab(tag) else { return };
    let mut t = Steps::new(tag);
    let conf = write_config(&lab.dir, backend, "", "");
    lab.start_daemon(&conf);

    let mut c = bring_up(&mut lab, ClientConfig::new(USER, PASSWORD), 0x5101);
    t.step("daemon started, client up");
    assert_lab_session(&c, POOL_FIRST);
    let udp = lab.router_udp(LOCAL, ROUTER_PORT);
    exchange(&mut c, &udp, 24);
    t.step("24 packets each way");
    assert_eq!(c.client.counters().ip_rx_unencrypted, 0);
    assert_eq!(c.client.counters().mppe_rx_errors, 0);
    hang_up(&mut c);
    t.step("hung up");
    assert_no_violations(&c);
    drop(c);

    lab.assert_daemon_running("after the first session");
    let mut again = bring_up(&mut lab, ClientConfig::new(USER, PASSWORD), 0x5102);
    t.step("second client up");
    assert_lab_session(&again, POOL_FIRST);
    exchange(&mut again, &udp, 4);
    t.step("4 packets each way");
    hang_up(&mut again);
    t.step("second client done");
    assert_no_violations(&again);
    lab.assert_daemon_running("after the second session");
    let log = lab.daemon().log();
    assert!(!log.contains("panicked"), "{log}");
}

#[test]
fn tun_backend_session_carries_traffic_both_ways_and_hangs_up() {
    session_through(Backend::Tun, "tun");
}

#[test]
fn raw_backend_session_carries_traffic_both_ways_and_hangs_up() {
    session_through(Backend::Raw, "raw");
}

/// Clients on the router's own segment that already know its MAC (it is their gateway, or
/// the daemon restarted and they all redial) send no ARP request, so the raw backend learns
/// none of their addresses from ARP. Seven of them dial at once from seven addresses of one
/// host that has ARPed for the router once (the lab's eighth and last session): all must
/// come up about as fast as one client,
/// not one a second behind smoltcp's ARP rate limit (nor never, behind a GRE packet queued
/// for an unresolved neighbour).
fn burst_of_clients_from_one_segment(backend: Backend, tag: &'static str) {
    const CLIENTS: u8 = 7;
    let Some(mut lab) = lab(tag) else { return };
    let conf = write_config(&lab.dir, backend, "", "");
    lab.start_daemon(&conf);
    let sources: Vec<Ipv4Addr> = (0..CLIENTS)
        .map(|i| Ipv4Addr::new(192, 0, 2, 20 + i))
        .collect();
    for &s in &sources {
        add_client_address(&lab, s);
    }
    // One ordinary session first: the client host has ARPed for the router, from its
    // primary address only.
    let first = bring_up(&mut lab, ClientConfig::new(USER, PASSWORD), 0x5A00);
    let client_ns = &lab.client;
    let started = Instant::now();
    let results: Vec<(Ipv4Addr, Result<Duration, String>)> = std::thread::scope(|s| {
        let threads: Vec<_> = sources
            .iter()
            .enumerate()
            .map(|(i, &source)| {
                s.spawn(move || {
                    let connected = dial_from(client_ns, source, 0x5A01 + i as u16);
                    let result = match connected {
                        Ok(mut c) => {
                            c.run_until(SETUP, |c| c.client.is_up() || c.client.is_finished());
                            if c.client.is_up() {
                                Ok(started.elapsed())
                            } else {
                                Err(format!("{:?}", c.client.state()))
                            }
                        }
                        Err(e) => Err(e),
                    };
                    (source, result)
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    drop(first);
    lab.assert_daemon_running("after the burst");
    let slowest = results
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok().copied())
        .max()
        .unwrap_or_default();
    eprintln!("[{tag}] {CLIENTS} clients dialling at once: the last was up after {slowest:?}");
    let failed: Vec<_> = results.iter().filter(|(_, r)| r.is_err()).collect();
    assert!(failed.is_empty(), "not up within {SETUP:?}: {failed:?}");
    // One ARP request a second would put the last client 6 s behind the first.
    assert!(
        slowest < Duration::from_secs(4),
        "the last of {CLIENTS} clients took {slowest:?}: {results:?}"
    );
}

/// A test client in `client_ns` dialling from `source` (an address of that namespace).
fn dial_from(client_ns: &Netns, source: Ipv4Addr, call_id: u16) -> Result<KernelClient, String> {
    let config = ClientConfig {
        call_id,
        ..ClientConfig::new(USER, PASSWORD)
    };
    let seed = 0xB0B0_0000 ^ u64::from(call_id);
    client_ns
        .enter(|| KernelClient::connect_from(Some(source), ROUTER, config, seed, SETUP, SETUP))
        .map_err(|e| e.to_string())
}

/// Add `address` to the client end of the lab's link.
fn add_client_address(lab: &Lab, address: Ipv4Addr) {
    let cidr = format!("{address}/{LINK_PREFIX}");
    lab.client
        .ip(&["addr", "add", &cidr, "dev", CLIENT_VETH])
        .unwrap();
}

#[test]
fn tun_backend_brings_up_a_burst_of_clients_from_one_segment() {
    burst_of_clients_from_one_segment(Backend::Tun, "tunmany");
}

#[test]
fn raw_backend_brings_up_a_burst_of_clients_from_one_segment() {
    burst_of_clients_from_one_segment(Backend::Raw, "rawmany");
}

/// A client on the router's segment that goes silent and then leaves it (a laptop shut)
/// must not hold up anybody else. smoltcp keeps a packet it cannot resolve at the head of
/// the GRE queue and retries it; so once the silent client's neighbour entry expired (60 s),
/// traffic routed to its tunnel address stopped the GRE of every session. Now the daemon
/// tells smoltcp the MAC it last saw that client at, and the packet goes out (to nobody).
#[test]
fn raw_backend_keeps_serving_when_a_client_leaves_the_segment() {
    let Some(mut lab) = lab("rawgone") else {
        return;
    };
    let conf = write_config(&lab.dir, Backend::Raw, "", "");
    lab.start_daemon(&conf);
    let (stays, leaves) = (Ipv4Addr::new(192, 0, 2, 30), Ipv4Addr::new(192, 0, 2, 31));
    add_client_address(&lab, stays);
    add_client_address(&lab, leaves);
    let mut a = dial_from(&lab.client, stays, 0x5B01).unwrap();
    a.run_until(SETUP, |c| c.client.is_up() || c.client.is_finished());
    let mut b = dial_from(&lab.client, leaves, 0x5B02).unwrap();
    b.run_until(SETUP, |c| c.client.is_up() || c.client.is_finished());
    assert!(a.client.is_up() && b.client.is_up());
    let udp = lab.router_udp(LOCAL, ROUTER_PORT);
    exchange(&mut a, &udp, 4);
    exchange(&mut b, &udp, 4);

    // b leaves: no more frames from it, and nobody answers ARP for its address.
    let cidr = format!("{leaves}/{LINK_PREFIX}");
    lab.client
        .ip(&["addr", "del", &cidr, "dev", CLIENT_VETH])
        .unwrap();
    let b_tunnel = b.client.assigned_address().unwrap();
    // Past smoltcp's 60 s neighbour lifetime, with a's traffic flowing all along.
    let until = Instant::now() + Duration::from_secs(63);
    while Instant::now() < until {
        exchange(&mut a, &udp, 1);
        a.run_for(Duration::from_secs(2));
    }
    // Traffic for b now needs its (expired) neighbour entry; a's must still flow.
    for seq in 0..4u32 {
        udp.send_to(&packets::test_payload(seq, 100), (b_tunnel, CLIENT_PORT))
            .expect("send to the departed client");
    }
    a.run_for(Duration::from_millis(200));
    exchange(&mut a, &udp, 8);
    lab.assert_daemon_running("after a client left the segment");
    hang_up(&mut a);
    assert_no_violations(&a);
    drop(b);
}

/// pppd's `proxyarp` (Debian's pptpd-options has it): with `remoteip` inside a LAN subnet of
/// the router, a host on that LAN reaches the client, because the router answers ARP for
/// the client's address while the session is up; the entry goes when the session ends.
fn lan_host_reaches_a_client_by_proxy_arp(backend: Backend, tag: &'static str) {
    const LAN_HOST: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 50);
    const LAN_PORT: u16 = 7100;
    let Some(mut lab) = lab(tag) else { return };
    // The LAN: a third namespace on 198.51.100.0/24, the subnet the pool is in.
    let lan = Netns::create(format!("{}-lan", lab.client.name)).unwrap();
    let (router_end, lan_end) = ("vl0", "vh0");
    common::netns::run(
        "ip",
        &[
            "link",
            "add",
            router_end,
            "netns",
            &lab.router.name,
            "type",
            "veth",
            "peer",
            "name",
            lan_end,
            "netns",
            &lan.name,
        ],
    )
    .unwrap();
    lab.router
        .ip(&["addr", "add", "198.51.100.254/24", "dev", router_end])
        .unwrap();
    lan.ip(&["addr", "add", &format!("{LAN_HOST}/24"), "dev", lan_end])
        .unwrap();
    lab.router.ip(&["link", "set", router_end, "up"]).unwrap();
    lan.ip(&["link", "set", lan_end, "up"]).unwrap();
    let conf = write_config(&lab.dir, backend, "", "proxyarp\n");
    let conf_arg = conf.display().to_string();
    let check = lab.router.exec_output(DAEMON, &["check", "-c", &conf_arg]);
    let said = text(&check.stdout);
    assert!(
        said.contains(&format!(
            "ok: proxyarp: the router answers ARP for client addresses on {router_end}\n"
        )),
        "{said}"
    );
    lab.start_daemon(&conf);
    let mut c = bring_up(&mut lab, ClientConfig::new(USER, PASSWORD), 0x5C01);
    let me = c.client.assigned_address().unwrap();
    let proxies = lab.router.ip(&["-4", "neigh", "show", "proxy"]).unwrap();
    assert!(
        proxies.contains(&format!("{me} dev {router_end} proxy")),
        "{proxies}"
    );

    // LAN host → client: its ARP for the client's address is answered by the router.
    let socket = lan.enter(|| UdpSocket::bind((LAN_HOST, LAN_PORT))).unwrap();
    socket.set_nonblocking(true).unwrap();
    socket
        .send_to(&packets::test_payload(1, 64), (me, CLIENT_PORT))
        .unwrap();
    let arrived = c.run_until(DELIVERY, |c| {
        while let Some(p) = c.client.recv_ip_packet() {
            if packets::parse_ipv4(&p).is_some_and(|ip| ip.src == LAN_HOST)
                && packets::test_sequence(&p) == Some(1)
            {
                return true;
            }
        }
        false
    });
    assert!(arrived, "nothing from the LAN host reached the client");
    // Client → LAN host, back through the router.
    let p = packets::ipv4_udp(me, LAN_HOST, CLIENT_PORT, LAN_PORT, 2, 64);
    let now = c.now();
    c.client.send_ip(now, &p).unwrap();
    let mut buf = [0u8; 256];
    let answered = c.run_until(DELIVERY, |_| {
        matches!(socket.recv_from(&mut buf), Ok((n, from))
            if from == SocketAddr::V4(SocketAddrV4::new(me, CLIENT_PORT))
                && buf[..n] == packets::test_payload(2, 64)[..])
    });
    assert!(answered, "the LAN host got nothing from the client");

    hang_up(&mut c);
    let proxies = lab.router.ip(&["-4", "neigh", "show", "proxy"]).unwrap();
    assert!(!proxies.contains(&me.to_string()), "left behind: {proxies}");
    assert_no_violations(&c);
    let log = lab.daemon().log();
    assert!(
        log.contains(&format!("found interface {router_end} for proxy arp")),
        "{log}"
    );
}

#[test]
fn tun_backend_proxy_arp_lets_the_lan_reach_a_client() {
    lan_host_reaches_a_client_by_proxy_arp(Backend::Tun, "tunparp");
}

#[test]
fn raw_backend_proxy_arp_lets_the_lan_reach_a_client() {
    lan_host_reaches_a_client_by_proxy_arp(Backend::Raw, "rawparp");
}

/// A request that reaches the daemon while it is busy sending to the same client must be
/// answered at once, not when some later packet happens to wake the daemon up.
///
/// Each round the router sends a burst to the client, and as soon as the first packet of
/// it arrives the client sends an LCP Echo-Request and then nothing else: its GRE acks are
/// held back (`ack_delay` 30 s) so no later packet can rescue a request the daemon left
/// unread. The Echo-Reply must come within a second.
fn request_during_a_burst_is_answered_at_once(backend: Backend, tag: &'static str) {
    const ROUNDS: u32 = 40;
    const BURST: u32 = 8;
    let Some(mut lab) = lab(tag) else { return };
    let conf = write_config(&lab.dir, backend, "", "");
    lab.start_daemon(&conf);
    let mut config = ClientConfig::new(USER, PASSWORD);
    config.ack_delay = smoltcp::time::Duration::from_secs(30);
    let mut c = bring_up(&mut lab, config, 0x5401);
    let me = c.client.assigned_address().unwrap();
    let udp = lab.router_udp(LOCAL, ROUTER_PORT);
    let mut slow = Vec::new();
    let mut longest = Duration::ZERO;
    for round in 0..ROUNDS {
        let (rx, replies) = (
            c.client.counters().ip_rx,
            c.client.counters().lcp_echo_replies_rx,
        );
        for seq in 0..BURST {
            udp.send_to(&packets::test_payload(seq, 1300), (me, CLIENT_PORT))
                .expect("send from the router");
        }
        let arrived = c.run_until(DELIVERY, |c| c.client.counters().ip_rx > rx);
        assert!(arrived, "round {round}: no packet of the burst arrived");
        let now = c.now();
        assert!(c.client.send_lcp_echo_request(now, &round.to_be_bytes()));
        let asked = Instant::now();
        let answered = c.run_until(Duration::from_secs(1), |c| {
            c.client.counters().lcp_echo_replies_rx > replies
        });
        if !answered {
            slow.push(round);
        }
        longest = longest.max(asked.elapsed());
        let all = u64::from(BURST) * u64::from(round + 1);
        c.run_until(DELIVERY, |c| c.client.counters().ip_rx >= all);
        assert_eq!(c.client.counters().ip_rx, all, "round {round}: burst lost");
    }
    eprintln!("[{tag}] slowest Echo-Reply of {ROUNDS}: {longest:?}");
    assert!(
        slow.is_empty(),
        "no Echo-Reply within 1 s in rounds {slow:?} of {ROUNDS}: the daemon left the \
         Echo-Request unread until another packet arrived"
    );
    hang_up(&mut c);
    assert_no_violations(&c);
}

#[test]
fn tun_backend_answers_a_request_that_arrives_during_a_burst() {
    request_during_a_burst_is_answered_at_once(Backend::Tun, "tunburst");
}

#[test]
fn raw_backend_answers_a_request_that_arrives_during_a_burst() {
    request_during_a_burst_is_answered_at_once(Backend::Raw, "rawburst");
}

#[test]
fn sigterm_ends_the_session_in_order_and_cleans_up() {
    let Some(mut lab) = lab("term") else { return };
    let conf = write_config(&lab.dir, Backend::Tun, "", "");
    lab.start_daemon(&conf);
    let mut c = bring_up(&mut lab, ClientConfig::new(USER, PASSWORD), 0x5201);
    assert!(
        lab.router_nft_tables().contains(NFT_TABLE),
        "no nft table {NFT_TABLE} while running: {}",
        lab.router_nft_tables()
    );
    assert!(lab.router_has_link(TUN), "no {TUN} while running");

    let asked = Instant::now();
    lab.daemon().signal(libc::SIGTERM);
    let finished = c.run_until(EXIT, |c| c.client.is_finished() && c.tcp_end.is_some());
    let status = lab.daemon().wait_exit(EXIT.saturating_sub(asked.elapsed()));
    let took = asked.elapsed();

    assert!(
        finished,
        "client not finished after SIGTERM: {:?}, TCP {:?}",
        c.client.state(),
        c.tcp_end
    );
    let counters = *c.client.counters();
    assert!(
        counters.call_disconnect_notify_rx >= 1 || counters.stop_control_requests_rx >= 1,
        "no Call-Disconnect-Notify or Stop-Control-Connection-Request from the server; \
         client ended {:?} ({:?})",
        c.client.state(),
        c.client.disconnect_reason()
    );
    assert_eq!(*c.client.state(), State::Closed, "{:?}", c.client.failure());
    assert_no_violations(&c);

    let status = status.unwrap_or_else(|| panic!("smolpptpd still running {took:?} after SIGTERM"));
    assert!(
        status.success(),
        "smolpptpd exit status after SIGTERM: {status}"
    );
    let tables = lab.router_nft_tables();
    assert!(
        !tables.contains(NFT_TABLE),
        "nft table {NFT_TABLE} left behind: {tables}"
    );
    assert!(!lab.router_has_link(TUN), "{TUN} left behind");
    let forward = lab
        .router
        .exec("cat", &["/proc/sys/net/ipv4/ip_forward"])
        .unwrap();
    assert_eq!(forward.trim(), "0", "net.ipv4.ip_forward not restored");
    eprintln!(
        "SIGTERM: client saw {} CDN, {} StopCCRQ ({:?}); daemon exited in {took:?}",
        counters.call_disconnect_notify_rx,
        counters.stop_control_requests_rx,
        c.client.disconnect_reason()
    );
}

#[test]
fn wrong_password_gets_691_and_the_daemon_keeps_serving() {
    let Some(mut lab) = lab("pass") else { return };
    let conf = write_config(&lab.dir, Backend::Tun, "", "");
    lab.start_daemon(&conf);

    let mut bad = lab.connect(ClientConfig::new(USER, "not-the-password"), 0x5301);
    bad.run_until(SETUP, |c| c.client.is_finished() && c.tcp_end.is_some());
    match bad.client.failure() {
        Some(Failure::AuthFailed { error, message }) => {
            assert_eq!(*error, Some(691), "{message}");
            assert!(message.contains("E=691"), "{message}");
        }
        other => panic!(
            "wrong password: expected MS-CHAPv2 Failure E=691, got {other:?} (state {:?})",
            bad.client.state()
        ),
    }
    assert_eq!(bad.client.assigned_address(), None);
    assert_eq!(bad.client.counters().ip_rx, 0);
    drop(bad);

    lab.assert_daemon_running("after a failed login");
    let mut good = bring_up(&mut lab, ClientConfig::new(USER, PASSWORD), 0x5302);
    assert_lab_session(&good, POOL_FIRST);
    hang_up(&mut good);
    assert_no_violations(&good);
    lab.assert_daemon_running("after the good session");
}

// ---- configuration errors: no root needed ----

/// Run `smolpptpd ARGS` to completion, at most 10 s. As root, inside a throwaway network
/// namespace: a configuration wrongly accepted must not set up a TUN and firewall on the
/// host.
fn smolpptpd(args: &[&str]) -> Output {
    let scratch = if skip_reason().is_none() {
        Some(Netns::create(format!("spt{}-cfg-{}", std::process::id(), unique())).unwrap())
    } else {
        None
    };
    let mut cmd = match &scratch {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", &ns.name, DAEMON]);
            c
        }
        None => Command::new(DAEMON),
    };
    let mut child = cmd
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run smolpptpd");
    let end = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() >= end {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "smolpptpd {args:?} still running after 10 s; stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn unique() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn unknown_option_in_the_options_file_names_file_and_line() {
    let dir = TempDir::new(&format!("badopt-{}", unique()));
    let conf = write_config(&dir, Backend::Tun, "", "frobnicate-the-link\n");
    let options = dir.path("options.pptpd");
    let line = std::fs::read_to_string(&options)
        .unwrap()
        .lines()
        .position(|l| l == "frobnicate-the-link")
        .unwrap()
        + 1;
    let out = smolpptpd(&["--fg", "-c", conf.to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "accepted; stderr: {stderr}");
    let located = format!("{}:{line}:", options.display());
    assert!(stderr.contains(&located), "want {located:?} in: {stderr}");
    assert!(stderr.contains("frobnicate-the-link"), "{stderr}");

    // `check` reports the same error and fails.
    let out = smolpptpd(&["check", "-c", conf.to_str().unwrap()]);
    assert!(!out.status.success());
    let stdout = text(&out.stdout);
    assert!(stdout.contains(&located), "check: {stdout}");
}

#[test]
fn connections_above_the_build_maximum_names_both_numbers() {
    let dir = TempDir::new(&format!("badconn-{}", unique()));
    let too_many = MAX_SESSIONS * 4 + 3;
    let conf = write_config(&dir, Backend::Tun, &format!("connections {too_many}\n"), "");
    let out = smolpptpd(&["--fg", "-c", conf.to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "accepted; stderr: {stderr}");
    let located = format!("{}:1:", conf.display());
    assert!(stderr.contains(&located), "want {located:?} in: {stderr}");
    assert!(stderr.contains(&too_many.to_string()), "{stderr}");
    assert!(stderr.contains(&MAX_SESSIONS.to_string()), "{stderr}");
}

/// Can this process open /dev/net/tun (what `check` looks at first)?
fn tun_device_opens() -> bool {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun")
        .is_ok()
}

#[test]
fn check_accepts_good_files() {
    let dir = TempDir::new(&format!("check-{}", unique()));
    // firewall off: `check` then needs neither nft nor root; forwarding on: the daemon sets
    // ip_forward itself, so its current value is fine; `wan` an interface every host has.
    let conf = write_config(&dir, Backend::Tun, "firewall off\nwan lo\n", "");
    let out = Command::new(DAEMON)
        .args(["check", "-c", conf.to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    if tun_device_opens() {
        assert!(
            out.status.success(),
            "check failed:\n{stdout}{}",
            text(&out.stderr)
        );
        assert!(!stdout.contains("error:"), "{stdout}");
    } else {
        // Only the TUN driver may be missing on this machine.
        let errors: Vec<&str> = stdout.lines().filter(|l| l.starts_with("error:")).collect();
        assert!(
            errors.len() == 1 && errors[0].contains("/dev/net/tun"),
            "{stdout}"
        );
    }
    assert!(
        stdout.contains("table ip smolpptp"),
        "rules printed: {stdout}"
    );

    // The raw backend's files, checked where its interface exists.
    if let Some(lab) = lab("check") {
        let conf = write_config(&lab.dir, Backend::Raw, "", "");
        let out = lab
            .router
            .exec_output(DAEMON, &["check", "-c", conf.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "check (raw) failed:\n{}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
    }
}
