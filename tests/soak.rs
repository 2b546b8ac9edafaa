//! Soak: `smolpptpd` in network namespaces with the board's maximum of sessions and churn
//! (connect, authenticate, pass traffic, hang up, again) for `SMOLPPTP_SOAK_SECS` seconds
//! (default 60; the release check is 600).
//!
//! Checked: every packet sent inside a live session arrives, byte for byte, both ways; the
//! daemon's file descriptors stay the same and its resident memory stays flat after warm-up
//! (sampled from /proc); every call and control connection the daemon started it also ended
//! (its log lines); afterwards every session slot and pool address is free again (the
//! maximum of sessions comes up at once, on distinct addresses); the daemon never exits and
//! leaves with status 0 on SIGTERM, without a panic in its output.
//!
//! `SMOLPPTP_SOAK_SESSIONS` lowers the number of sessions (default `limits::MAX_SESSIONS`)
//! when the machine cannot drive that many. Needs root (skips otherwise); prints its
//! figures with `--nocapture`.

mod common;
mod support;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, SocketAddrV4, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration as StdDuration, Instant as StdInstant};

use common::netns::{
    skip_reason, write_config, Backend, Lab, LOCAL, PASSWORD, POOL_FIRST, ROUTER, USER,
};
use smolpptp::limits::MAX_SESSIONS;
use smolpptp::rand::{Random, XorShift};
use smoltcp::time::Instant;
use support::client::{Client, ClientConfig, State};
use support::kernel::GreSocket;
use support::packets;

const ROUTER_PORT: u16 = 7000;
const CLIENT_PORT: u16 = 4000;
/// Packets each way per round.
const ROUND: u32 = 8;
/// Most test packets in flight at once over all sessions (keeps socket buffers from
/// overflowing: a loss must mean a bug, not a burst).
const IN_FLIGHT: u32 = 96;
/// Longest any one step of a session may take (connect+negotiate, a round, a hang-up).
const STEP_LIMIT: StdDuration = StdDuration::from_secs(30);
/// Resident memory may grow this much after warm-up.
const RSS_SLACK_KB: u64 = 512;

fn payload_len(seq: u32) -> usize {
    [4, 100, 700, 1300][(seq % 4) as usize]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Connecting,
    /// Up, waiting for room to start a round.
    Idle,
    /// The round's packets are on their way to the router.
    Upstream,
    /// The router's answers are on their way to the client.
    Downstream,
    HangingUp,
}

/// One session slot: a client on its own TCP connection, reconnected after each hang-up.
struct Slot {
    client: Client,
    tcp: Option<TcpStream>,
    tcp_closed: bool,
    pending: Vec<u8>,
    phase: Phase,
    since: StdInstant,
    rounds_left: u32,
    round: u32,
    got: Vec<bool>,
    address: Option<Ipv4Addr>,
}

struct Totals {
    sessions: u64,
    rounds: u64,
    packets_up: u64,
    packets_down: u64,
    bytes_up: u64,
    bytes_down: u64,
}

struct Fleet {
    slots: Vec<Slot>,
    gre: GreSocket,
    udp: UdpSocket,
    epoch: StdInstant,
    rng: XorShift,
    next_call: u32,
    in_flight: u32,
    /// Slots waiting for room to start a round, first come first served.
    waiting: VecDeque<usize>,
    by_address: HashMap<Ipv4Addr, usize>,
    addresses_seen: BTreeSet<Ipv4Addr>,
    totals: Totals,
    buf: Vec<u8>,
    /// Whether slots start over after hanging up.
    churn: bool,
    /// Whether a session that has done its rounds stays up (instead of hanging up).
    hold: bool,
}

impl Fleet {
    fn now(&self) -> Instant {
        Instant::from_micros(self.epoch.elapsed().as_micros() as i64)
    }

    fn new_client(&mut self) -> Client {
        // Call IDs unique over a long stretch, so a late packet of an old call finds nobody.
        self.next_call = self.next_call.wrapping_add(1);
        let mut config = ClientConfig::new(USER, PASSWORD);
        config.call_id = 0x1000 + (self.next_call % 0xE000) as u16;
        Client::new(config, 0x50AC_0000 ^ u64::from(self.next_call))
    }

    fn connect(&mut self, i: usize) {
        let to = SocketAddrV4::new(ROUTER, smolpptp::wire::pptp::PPTP_PORT);
        match TcpStream::connect_timeout(&to.into(), StdDuration::from_millis(300)) {
            Ok(tcp) => {
                tcp.set_nodelay(true).unwrap();
                tcp.set_nonblocking(true).unwrap();
                self.slots[i].tcp = Some(tcp);
            }
            Err(_) => self.slots[i].tcp = None, // tried again next turn
        }
    }

    fn fresh_slot(&mut self) -> Slot {
        let rounds = 1 + self.rng.next_u32() % 4;
        Slot {
            client: self.new_client(),
            tcp: None,
            tcp_closed: false,
            pending: Vec::new(),
            phase: Phase::Connecting,
            since: StdInstant::now(),
            rounds_left: rounds,
            round: 0,
            got: Vec::new(),
            address: None,
        }
    }

    /// Move bytes for every slot once and advance the state machines.
    fn turn(&mut self) {
        let now = self.now();
        for i in 0..self.slots.len() {
            if self.slots[i].tcp.is_none() && !self.slots[i].tcp_closed {
                self.connect(i);
            }
            self.pump_control(i, now);
        }
        self.read_gre(now);
        for i in 0..self.slots.len() {
            self.pump_gre(i, now);
        }
        self.read_router();
        for i in 0..self.slots.len() {
            self.advance(i);
        }
    }

    fn pump_control(&mut self, i: usize, now: Instant) {
        let slot = &mut self.slots[i];
        let Some(tcp) = slot.tcp.as_mut() else { return };
        if !slot.tcp_closed {
            loop {
                match tcp.read(&mut self.buf) {
                    Ok(0) => {
                        slot.tcp_closed = true;
                        slot.client.control_closed(now);
                        break;
                    }
                    Ok(n) => slot.client.handle_control(now, &self.buf[..n]),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(_) => {
                        slot.tcp_closed = true;
                        slot.client.control_closed(now);
                        break;
                    }
                }
            }
        }
        let mut chunk = [0u8; 1024];
        while let Some(n) = slot.client.poll_control(now, &mut chunk) {
            slot.pending.extend_from_slice(&chunk[..n]);
        }
        while !slot.pending.is_empty() && !slot.tcp_closed {
            match tcp.write(&slot.pending) {
                Ok(0) => break,
                Ok(n) => {
                    slot.pending.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    slot.pending.clear();
                    slot.tcp_closed = true;
                    slot.client.control_closed(now);
                }
            }
        }
        if slot.client.control_done() && slot.pending.is_empty() && !slot.tcp_closed {
            let _ = tcp.shutdown(Shutdown::Both);
            slot.tcp_closed = true;
        }
    }

    fn read_gre(&mut self, now: Instant) {
        while let Ok(n) = self.gre.recv(&mut self.buf) {
            let Some(ip) = packets::parse_ipv4(&self.buf[..n]) else {
                continue;
            };
            if ip.protocol != packets::PROTO_GRE || ip.src != ROUTER || ip.payload.len() < 8 {
                continue;
            }
            let key = u16::from_be_bytes([ip.payload[6], ip.payload[7]]);
            if let Some(slot) = self
                .slots
                .iter_mut()
                .find(|s| s.client.our_call_id() == key)
            {
                slot.client.handle_gre(now, ip.payload);
            }
        }
    }

    fn pump_gre(&mut self, i: usize, now: Instant) {
        let mut out = [0u8; 2048];
        while let Some(n) = self.slots[i].client.poll_gre(now, &mut out) {
            self.gre
                .send_to(&out[..n], ROUTER)
                .unwrap_or_else(|e| panic!("GRE send: {e}"));
        }
    }

    /// Test packets at the router: check each against what its session sent.
    fn read_router(&mut self) {
        loop {
            let (n, from) = match self.udp.recv_from(&mut self.buf) {
                Ok(x) => x,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => panic!("router UDP: {e}"),
            };
            let SocketAddr::V4(from) = from else {
                panic!("{from}")
            };
            let i = *self.by_address.get(from.ip()).unwrap_or_else(|| {
                panic!(
                    "router got a packet from {from} ({n} bytes, {:02x?}), no session has it; \
                         churn {} hold {}, slots holding it: {:?}",
                    &self.buf[..n.min(8)],
                    self.churn,
                    self.hold,
                    self.slots
                        .iter()
                        .map(|s| (s.address, s.phase, s.round, s.rounds_left))
                        .filter(|s| s.0 == Some(*from.ip()))
                        .collect::<Vec<_>>()
                )
            });
            let slot = &mut self.slots[i];
            assert_eq!(
                slot.phase,
                Phase::Upstream,
                "slot {i}: packet from {from} outside a round"
            );
            let data = &self.buf[..n];
            let seq = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
            let k = seq.wrapping_sub(slot.round * ROUND) as usize;
            assert!(
                k < ROUND as usize && !slot.got[k],
                "slot {i}: unexpected or duplicate packet {seq}"
            );
            assert_eq!(
                data,
                &packets::test_payload(seq, payload_len(seq))[..],
                "slot {i}: packet {seq} changed"
            );
            slot.got[k] = true;
            self.in_flight -= 1;
            self.totals.packets_up += 1;
            self.totals.bytes_up += n as u64;
        }
    }

    fn advance(&mut self, i: usize) {
        let now = self.now();
        let elapsed = self.slots[i].since.elapsed();
        let slot = &self.slots[i];
        if elapsed > STEP_LIMIT {
            panic!(
                "slot {i} stuck in {:?} for {elapsed:?}: client {:?}, violations {:?}",
                slot.phase,
                slot.client.state(),
                slot.client.violations()
            );
        }
        match slot.phase {
            Phase::Connecting => {
                match slot.client.state() {
                    State::Up => {}
                    State::Connecting | State::Authenticating | State::Negotiating => return,
                    other => panic!("slot {i}: session failed to come up: {other:?}"),
                }
                let address = slot.client.assigned_address().unwrap();
                if let Some(&other) = self.by_address.get(&address) {
                    panic!(
                        "slot {i} got {address}, which slot {other} holds ({:?}, client {:?})",
                        self.slots[other].phase,
                        self.slots[other].client.state()
                    );
                }
                self.by_address.insert(address, i);
                self.addresses_seen.insert(address);
                self.totals.sessions += 1;
                let slot = &mut self.slots[i];
                slot.address = Some(address);
                slot.phase = Phase::Idle;
                slot.since = StdInstant::now();
            }
            Phase::Idle => {
                assert!(
                    slot.client.is_up(),
                    "slot {i} went down: {:?}",
                    slot.client.state()
                );
                if slot.rounds_left == 0 {
                    if self.hold {
                        return;
                    }
                    // The server frees the address on our Call-Clear-Request, before the
                    // hang-up is over here: from now on another session may get it.
                    if let Some(a) = self.slots[i].address.take() {
                        self.by_address.remove(&a);
                    }
                    let slot = &mut self.slots[i];
                    slot.client.hang_up(now);
                    slot.phase = Phase::HangingUp;
                    slot.since = StdInstant::now();
                    return;
                }
                if !self.waiting.contains(&i) {
                    self.waiting.push_back(i);
                }
                if self.waiting.front() != Some(&i) || self.in_flight + ROUND > IN_FLIGHT {
                    return;
                }
                self.waiting.pop_front();
                self.in_flight += ROUND;
                let slot = &mut self.slots[i];
                let me = slot.address.unwrap();
                slot.got = vec![false; ROUND as usize];
                for k in 0..ROUND {
                    let seq = slot.round * ROUND + k;
                    let p = packets::ipv4_udp(
                        me,
                        LOCAL,
                        CLIENT_PORT,
                        ROUTER_PORT,
                        seq,
                        payload_len(seq),
                    );
                    slot.client
                        .send_ip(now, &p)
                        .expect("send through the tunnel");
                }
                slot.phase = Phase::Upstream;
                slot.since = StdInstant::now();
            }
            Phase::Upstream => {
                if !slot.got.iter().all(|&g| g) {
                    return;
                }
                let me = slot.address.unwrap();
                for k in 0..ROUND {
                    let seq = slot.round * ROUND + k;
                    self.udp
                        .send_to(
                            &packets::test_payload(seq, payload_len(seq)),
                            (me, CLIENT_PORT),
                        )
                        .expect("router send");
                }
                self.in_flight += ROUND;
                let slot = &mut self.slots[i];
                slot.got = vec![false; ROUND as usize];
                slot.phase = Phase::Downstream;
                slot.since = StdInstant::now();
            }
            Phase::Downstream => {
                let me = slot.address.unwrap();
                let slot = &mut self.slots[i];
                while let Some(p) = slot.client.recv_ip_packet() {
                    let seq = packets::test_sequence(&p)
                        .unwrap_or_else(|| panic!("slot {i}: not a test packet {p:02x?}"));
                    let want = packets::ipv4_udp(
                        LOCAL,
                        me,
                        ROUTER_PORT,
                        CLIENT_PORT,
                        seq,
                        payload_len(seq),
                    );
                    let k = seq.wrapping_sub(slot.round * ROUND) as usize;
                    assert!(
                        k < ROUND as usize && !slot.got[k],
                        "slot {i}: unexpected packet {seq}"
                    );
                    assert_eq!(
                        packets::parse_ipv4(&p).unwrap().payload,
                        packets::parse_ipv4(&want).unwrap().payload,
                        "slot {i}: packet {seq} changed"
                    );
                    slot.got[k] = true;
                    self.in_flight -= 1;
                    self.totals.packets_down += 1;
                    self.totals.bytes_down += p.len() as u64 - 20;
                }
                if slot.got.iter().all(|&g| g) {
                    slot.round += 1;
                    slot.rounds_left -= 1;
                    slot.phase = Phase::Idle;
                    slot.since = StdInstant::now();
                    self.totals.rounds += 1;
                }
            }
            Phase::HangingUp => {
                if !(slot.client.is_finished() && slot.tcp_closed) {
                    return;
                }
                assert_eq!(
                    *slot.client.state(),
                    State::Closed,
                    "slot {i}: hang-up {:?}",
                    slot.client.failure()
                );
                assert!(
                    slot.client.violations().is_empty(),
                    "slot {i}: {:?}",
                    slot.client.violations()
                );
                if let Some(a) = self.slots[i].address.take() {
                    self.by_address.remove(&a);
                }
                if self.churn {
                    self.slots[i] = self.fresh_slot();
                } else {
                    self.slots[i].phase = Phase::HangingUp;
                    self.slots[i].since = StdInstant::now() + StdDuration::from_secs(3600);
                }
            }
        }
    }

    fn all_idle_or_done(&self) -> bool {
        self.slots.iter().all(|s| matches!(s.phase, Phase::Idle))
    }

    /// Sleep until a socket is readable or a client timer is due (at most 10 ms).
    fn wait(&self) {
        let mut fds: Vec<libc::pollfd> = self
            .slots
            .iter()
            .filter_map(|s| s.tcp.as_ref().filter(|_| !s.tcp_closed))
            .map(|t| libc::pollfd {
                fd: t.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        for fd in [self.gre.as_raw_fd(), self.udp.as_raw_fd()] {
            fds.push(libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            });
        }
        let now = self.now();
        let mut ms = 10i64;
        for s in &self.slots {
            if let Some(at) = s.client.poll_at() {
                ms = ms.min((at - now.min(at)).total_millis() as i64);
            }
        }
        unsafe {
            libc::poll(
                fds.as_mut_ptr(),
                fds.len() as libc::nfds_t,
                ms.max(1) as libc::c_int,
            )
        };
    }
}

/// (VmRSS in kB, open file descriptors) of `pid`.
fn daemon_resources(pid: libc::pid_t) -> (u64, usize) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count();
    (rss, fds)
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn soak_maximum_sessions_with_churn() {
    if let Some(why) = skip_reason() {
        eprintln!("skipping the soak: {why}");
        return;
    }
    let secs = env_number("SMOLPPTP_SOAK_SECS", 60);
    let sessions =
        (env_number("SMOLPPTP_SOAK_SESSIONS", MAX_SESSIONS as u64) as usize).min(MAX_SESSIONS);
    let mut lab = Lab::new("soak");
    let last = Ipv4Addr::from(u32::from(POOL_FIRST) + sessions as u32 - 1);
    let conf = write_config(
        &lab.dir,
        Backend::Tun,
        &format!(
            "connections {sessions}\nmax-per-source 0\nremoteip {POOL_FIRST}-{}\n",
            last.octets()[3]
        ),
        "",
    );
    lab.start_daemon(&conf);
    let pid = lab.daemon().pid();
    // Wait until it listens, then take the baseline.
    let probe = std::time::Instant::now();
    loop {
        lab.assert_daemon_running("while starting");
        let ok = lab.client.enter(|| {
            TcpStream::connect_timeout(
                &SocketAddrV4::new(ROUTER, smolpptp::wire::pptp::PPTP_PORT).into(),
                StdDuration::from_millis(300),
            )
            .is_ok()
        });
        if ok {
            break;
        }
        assert!(
            probe.elapsed() < StdDuration::from_secs(10),
            "daemon not listening"
        );
        std::thread::sleep(StdDuration::from_millis(50));
    }
    std::thread::sleep(StdDuration::from_millis(200));
    let (rss0, fds0) = daemon_resources(pid);
    let udp = lab.router_udp(LOCAL, ROUTER_PORT);
    set_socket_buffers(&udp);

    let client_ns = &lab.client;
    let (totals, samples, seen, finale) = client_ns.enter(|| {
        let gre = GreSocket::open().unwrap();
        gre.set_recv_buffer(8 << 20).unwrap();
        let mut fleet = Fleet {
            slots: Vec::new(),
            gre,
            udp,
            epoch: StdInstant::now(),
            rng: XorShift(0x50AC),
            next_call: 0,
            in_flight: 0,
            waiting: VecDeque::new(),
            by_address: HashMap::new(),
            addresses_seen: BTreeSet::new(),
            totals: Totals {
                sessions: 0,
                rounds: 0,
                packets_up: 0,
                packets_down: 0,
                bytes_up: 0,
                bytes_down: 0,
            },
            buf: vec![0; 65536],
            churn: true,
            hold: false,
        };
        for _ in 0..sessions {
            let s = fleet.fresh_slot();
            fleet.slots.push(s);
        }
        let start = StdInstant::now();
        let end = start + StdDuration::from_secs(secs);
        let mut samples = Vec::new();
        let mut next_sample = start;
        while StdInstant::now() < end {
            fleet.turn();
            if StdInstant::now() >= next_sample {
                let (rss, fds) = daemon_resources(pid);
                let live = fleet
                    .slots
                    .iter()
                    .filter(|s| s.phase != Phase::Connecting)
                    .count();
                samples.push((
                    start.elapsed().as_secs(),
                    rss,
                    fds,
                    live,
                    fleet.totals.sessions,
                ));
                next_sample += StdDuration::from_secs((secs / 20).max(5));
            }
            fleet.wait();
        }
        // Wind down: finish rounds, hang everyone up, no new sessions.
        fleet.churn = false;
        for s in fleet.slots.iter_mut() {
            s.rounds_left = s.rounds_left.min(1);
        }
        let wind = StdInstant::now();
        while !fleet.slots.iter().all(|s| s.since > StdInstant::now()) {
            fleet.turn();
            fleet.wait();
            assert!(wind.elapsed() < STEP_LIMIT * 3, "wind-down stuck");
        }
        let seen = fleet.addresses_seen.clone();
        // Finale: the maximum at once again, one round each: nothing leaked.
        fleet.hold = true;
        fleet.by_address.clear();
        for i in 0..sessions {
            fleet.slots[i] = fleet.fresh_slot();
            fleet.slots[i].rounds_left = 1;
        }
        let t = StdInstant::now();
        while !fleet.all_idle_or_done() || fleet.slots.iter().any(|s| s.rounds_left > 0) {
            fleet.turn();
            fleet.wait();
            assert!(t.elapsed() < STEP_LIMIT * 2, "finale stuck");
        }
        let finale: BTreeSet<Ipv4Addr> = fleet.slots.iter().map(|s| s.address.unwrap()).collect();
        for s in fleet.slots.iter_mut() {
            let now = Instant::from_micros(fleet.epoch.elapsed().as_micros() as i64);
            s.client.hang_up(now);
            s.phase = Phase::HangingUp;
            s.since = StdInstant::now();
        }
        while !fleet.slots.iter().all(|s| s.since > StdInstant::now()) {
            fleet.turn();
            fleet.wait();
        }
        (fleet.totals, samples, seen, finale)
    });
    lab.assert_daemon_running("after the soak");
    std::thread::sleep(StdDuration::from_millis(500));
    let (rss_end, fds_end) = daemon_resources(pid);

    eprintln!(
        "soak: {secs} s, {sessions} sessions at once, {} sessions in all ({} rounds), \
         {} packets / {} bytes up, {} packets / {} bytes down, {} addresses used",
        totals.sessions,
        totals.rounds,
        totals.packets_up,
        totals.bytes_up,
        totals.packets_down,
        totals.bytes_down,
        seen.len()
    );
    eprintln!("soak: daemon at start: VmRSS {rss0} kB, {fds0} fds");
    for (t, rss, fds, live, total) in &samples {
        eprintln!(
            "soak: t={t:4} s VmRSS {rss} kB, {fds} fds, {live} live sessions, {total} so far"
        );
    }
    eprintln!("soak: daemon at end: VmRSS {rss_end} kB, {fds_end} fds");

    // Addresses: the pool and only the pool, reused; the finale needed every one of them.
    assert_eq!(
        finale.len(),
        sessions,
        "the maximum at once on distinct addresses"
    );
    assert!(
        seen.len() <= sessions,
        "{} addresses for a pool of {sessions}",
        seen.len()
    );
    assert!(totals.sessions > sessions as u64, "there was churn");
    // File descriptors: none per session.
    for (t, _, fds, _, _) in &samples {
        assert_eq!(*fds, fds0, "daemon fds at t={t} s");
    }
    assert_eq!(fds_end, fds0, "daemon fds at the end");
    // Memory: flat after warm-up (the first quarter).
    let warm = samples
        .iter()
        .find(|s| s.0 >= secs / 4)
        .map(|s| s.1)
        .unwrap_or(rss_end);
    let peak = samples.iter().map(|s| s.1).chain([rss_end]).max().unwrap();
    assert!(
        peak <= warm + RSS_SLACK_KB,
        "VmRSS grew from {warm} kB (after warm-up) to {peak} kB"
    );

    // SIGTERM: exit 0, and the log tells the same story.
    lab.daemon().signal(libc::SIGTERM);
    let status = lab
        .daemon()
        .wait_exit(StdDuration::from_secs(6))
        .expect("exit after SIGTERM");
    assert!(status.success(), "{status}");
    let log = lab.daemon().log();
    assert!(!log.contains("panicked"), "the daemon panicked");
    let count = |s: &str| log.matches(s).count() as u64;
    let calls = count("CTRL: Starting call");
    assert_eq!(calls, totals.sessions, "calls placed");
    assert_eq!(count("ended ("), calls, "every call ended");
    assert_eq!(
        count("control connection started"),
        count("control connection finished"),
        "every control connection finished"
    );
}

fn set_socket_buffers(udp: &UdpSocket) {
    let value: libc::c_int = 8 << 20;
    for opt in [libc::SO_RCVBUFFORCE, libc::SO_SNDBUFFORCE] {
        unsafe {
            libc::setsockopt(
                udp.as_raw_fd(),
                libc::SOL_SOCKET,
                opt,
                (&value as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
    }
}
