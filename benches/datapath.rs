//! Data-path throughput, in process: packets/s and MB/s (10^6 bytes of IP packet) for
//! encapsulate+encrypt (network → client) and decrypt+decapsulate (client → network), each
//! next to the bare RC4 keystream speed of the `rc4` crate measured on the same run, which
//! is the physical limit of the cipher. Goal (project issue "Speed"): the data path at
//! 1400 bytes reaches at least 50% of bare RC4.
//!
//! Two levels:
//! - link: `Link::send_ip` and `Link::receive` of live sessions (MPPE-128 set up by the
//!   project's test client through a real PPTP/PPP exchange, no sockets);
//! - server: `Server::send_to_client` until the GRE packet leaves on the device, and GRE
//!   packets on the device through `Server::poll` to `Tunnel::deliver`.
//!
//! - table: `SessionTable::by_call_id` / `by_address` (the lookup every GRE packet and every
//!   packet for a client makes) with 64 sessions and with the board's maximum, next to the
//!   linear scan over the slots the table did before it had indexes.
//!
//! Each figure is the median of several timed repetitions after a warm-up; only the
//! measured direction runs inside the timed region (the client's half of the work, making
//! the packets to receive, happens before the clock starts).
//!
//! `cargo bench --bench datapath` (release profile). Options after `--`: `--quick` (fewer
//! repetitions), `--size=N` (one payload size), and filters `link`/`server`/`table`,
//! `stateless`/`stateful`, `single`/`spread` (e.g. `-- --quick --size=1400 link stateless`).

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::time::{Duration as StdDuration, Instant as StdInstant};

use common::harness::{lab_settings, Net, OneUser, CLIENT_HOST, LOCAL, PASSWORD, USER};
use smolpptp::limits;
use smolpptp::ppp::link::LinkEnv;
use smolpptp::pptp::control::{self, ControlConnection, ControlEvent};
use smolpptp::pptp::session::{Session, Tunnel};
use smolpptp::pptp::table::SessionTable;
use smolpptp::rand::XorShift;
use smolpptp::settings::PppSettings;
use smolpptp::settings::{Settings, Stateful};
use smolpptp::wire::gre;
use smoltcp::phy;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{IpProtocol, Ipv4Packet, Ipv4Repr};
use support::client::{Client, ClientConfig};
use support::packets;

const SIZES: [usize; 3] = [64, 512, 1400];

/// The payload sizes to run: all, or the one given as `--size=N` (for profiling).
fn sizes() -> Vec<usize> {
    let chosen: Option<usize> =
        std::env::args().find_map(|a| a.strip_prefix("--size=")?.parse().ok());
    SIZES
        .into_iter()
        .filter(|&s| chosen.is_none_or(|c| c == s))
        .collect()
}
/// A far host on the network side.
const FAR: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
/// Packets per server poll: below the raw GRE socket's packet slots (`GRE_*_PACKETS`).
const POLL_BATCH: usize = 100;

struct Plan {
    warmup: usize,
    reps: usize,
}

/// Packets per timed repetition: enough for tens of milliseconds at every size.
fn packets_per_rep(size: usize) -> usize {
    match size {
        0..=128 => 20_000,
        129..=768 => 12_000,
        _ => 8_000,
    }
}

/// One figure: the data path and, measured in alternation with it, bare RC4.
struct Figure {
    /// Median packets per second of the data path.
    pps: f64,
    /// Median MB/s of bare RC4 over buffers of the same size.
    rc4_mbps: f64,
    /// Median over the repetitions of (data path bytes/s) / (bare RC4 bytes/s).
    ratio: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Run `rep` (returns time, packets) after a warm-up, each repetition right before a bare
/// RC4 run over the same number of `size`-byte buffers, so that both see the same machine
/// load (the figures are taken on shared, busy machines) and the ratio stays meaningful.
fn measure(plan: &Plan, size: usize, mut rep: impl FnMut() -> (StdDuration, usize)) -> Figure {
    use rc4::{KeyInit, Rc4, StreamCipher};
    let mut rc4 = Rc4::new_from_slice(&[0x5A; 16]).unwrap();
    let mut buf = vec![0u8; size];
    let mut bare = |n: usize| {
        let start = StdInstant::now();
        for _ in 0..n {
            rc4.apply_keystream(std::hint::black_box(&mut buf));
        }
        n as f64 / start.elapsed().as_secs_f64().max(1e-9)
    };
    for _ in 0..plan.warmup {
        let (_, n) = rep();
        bare(n);
    }
    let (mut pps, mut rc4_pps, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..plan.reps {
        let (t, n) = rep();
        let p = n as f64 / t.as_secs_f64().max(1e-9);
        let r = bare(n);
        pps.push(p);
        rc4_pps.push(r);
        ratio.push(p / r);
    }
    Figure {
        pps: median(pps),
        rc4_mbps: median(rc4_pps) * size as f64 / 1e6,
        ratio: median(ratio),
    }
}

/// Counts what the server delivers to the network.
#[derive(Default)]
struct CountingTunnel {
    packets: usize,
    bytes: usize,
}

impl Tunnel for CountingTunnel {
    fn deliver(&mut self, ip_packet: &[u8]) {
        self.packets += 1;
        self.bytes += std::hint::black_box(ip_packet).len();
    }
}

fn settings(stateless: bool) -> Settings {
    let mut s = lab_settings();
    // Room for a 1400-byte IP packet plus MPPE's 4 bytes in the client's frames.
    s.ppp.mru = 1500;
    s.ppp.mtu = 1500;
    if !stateless {
        s.ppp.mppe.stateful = Stateful::Allow;
    }
    s
}

fn client_config(stateless: bool) -> ClientConfig {
    let mut c = ClientConfig::new(USER, PASSWORD);
    c.stateless = stateless;
    c.mru = Some(1500);
    c
}

/// One session without sockets: the test client and a `Session` joined by direct calls.
struct LinkPair {
    session: Session,
    client: Client,
    address: Ipv4Addr,
}

fn gre_parts(packet: &mut [u8]) -> Option<(gre::Repr, &mut [u8])> {
    let repr = gre::Repr::parse(&gre::Packet::new_checked(&*packet).ok()?).ok()?;
    let start = repr.header_len();
    let end = start + usize::from(repr.payload_len);
    Some((repr, packet.get_mut(start..end)?))
}

/// Bring one session up: PPTP control (SCCRQ, OCRQ), then LCP, MS-CHAPv2, CCP, IPCP.
fn link_pair(
    index: u16,
    settings: &Settings,
    secrets: &mut OneUser,
    rng: &mut XorShift,
) -> LinkPair {
    let mut config = client_config(settings.ppp.mppe.stateful == Stateful::Refuse);
    config.call_id = 0x4000 + index;
    let mut client = Client::new(config, 0xC11E_0000 + u64::from(index));
    let mut control = ControlConnection::new(Instant::ZERO, Duration::from_secs(10));
    let address = Ipv4Addr::from(u32::from(common::harness::POOL_FIRST) + u32::from(index));
    let call_id = 0x100 + index;
    let mut session: Option<Session> = None;
    let mut tunnel = CountingTunnel::default();
    let mut now = Instant::from_millis(1000);
    let (mut buf, mut reply) = ([0u8; 2048], [0u8; 256]);
    for _ in 0..10_000 {
        while let Some(n) = client.poll_control(now, &mut buf) {
            let out = control.handle(now, &buf[..n], &mut reply);
            if out.reply_len > 0 {
                client.handle_control(now, out.reply(&reply));
            }
            if let Some(ControlEvent::OutgoingCall(call)) = out.event {
                let len = control::accept_call(call_id, &call, &mut reply).unwrap();
                client.handle_control(now, &reply[..len]);
                let mut s = Session::new(
                    now,
                    0,
                    CLIENT_HOST,
                    call_id,
                    call.peer_call_id,
                    &settings.ppp,
                    LOCAL,
                );
                let mut env = LinkEnv {
                    secrets: &mut *secrets,
                    rng: &mut *rng,
                    peer: CLIENT_HOST,
                    ipv6_ids: &[],
                };
                s.link.open(now, &mut env);
                session = Some(s);
            }
        }
        if let Some(s) = session.as_mut() {
            let mut env = LinkEnv {
                secrets: &mut *secrets,
                rng: &mut *rng,
                peer: CLIENT_HOST,
                ipv6_ids: &[],
            };
            if s.poll_at().is_some_and(|t| t <= now) {
                s.handle_timeout(now, &mut env, &mut tunnel);
            }
            while let Some(e) = s.poll_event() {
                if let smolpptp::ppp::link::LinkEvent::Authenticated { .. } = e {
                    s.address = Some(address);
                    s.link.set_peer_address(address);
                }
            }
            while let Some(n) = s.poll_gre(now, &mut buf) {
                client.handle_gre(now, &buf[..n]);
            }
            while let Some(n) = client.poll_gre(now, &mut buf) {
                if let Some((repr, payload)) = gre_parts(&mut buf[..n]) {
                    s.receive_gre(now, &repr, payload, &mut env, &mut tunnel);
                }
            }
            if client.is_up() && s.link.is_running() {
                return LinkPair {
                    session: session.unwrap(),
                    client,
                    address,
                };
            }
        }
        now += Duration::from_millis(5);
    }
    panic!("link {index} did not come up: {:?}", client.state());
}

/// The PPP frames (GRE payloads) a client sends for `count` IP packets of `size` bytes.
fn client_frames(pair: &mut LinkPair, size: usize, count: usize) -> Vec<Vec<u8>> {
    let ip = packets::ipv4_udp(pair.address, FAR, 4000, 5000, 0, size - 28);
    let now = Instant::from_millis(1_000_000);
    let mut buf = [0u8; 2048];
    let mut frames = Vec::with_capacity(count);
    for _ in 0..count {
        pair.client.send_ip(now, &ip).unwrap();
        let n = pair.client.poll_gre(now, &mut buf).unwrap();
        let (_, payload) = gre_parts(&mut buf[..n]).unwrap();
        frames.push(payload.to_vec());
    }
    frames
}

struct Row {
    level: &'static str,
    mode: &'static str,
    sessions: usize,
    direction: &'static str,
    size: usize,
    figure: Figure,
}

fn link_level(plan: &Plan, stateless: bool, sessions: usize, rows: &mut Vec<Row>) {
    let settings = settings(stateless);
    let mut secrets = OneUser {
        user: USER,
        password: PASSWORD,
        lookups: 0,
    };
    let mut rng = XorShift(0x5EED);
    let mut pairs: Vec<LinkPair> = (0..sessions)
        .map(|i| link_pair(i as u16, &settings, &mut secrets, &mut rng))
        .collect();
    let mode = if stateless { "stateless" } else { "stateful" };
    let now = Instant::from_millis(1_000_000);
    for size in sizes() {
        let n = packets_per_rep(size);
        let ips: Vec<Vec<u8>> = pairs
            .iter()
            .map(|p| packets::ipv4_udp(FAR, p.address, 5000, 4000, 0, size - 28))
            .collect();
        let mut out = [0u8; 2048];
        let figure = measure(plan, size, || {
            let start = StdInstant::now();
            for i in 0..n {
                let k = i % sessions;
                let len = pairs[k].session.link.send_ip(&ips[k], &mut out).unwrap();
                std::hint::black_box(&out[..len]);
            }
            (start.elapsed(), n)
        });
        rows.push(Row {
            level: "link",
            mode,
            sessions,
            direction: "encrypt",
            size,
            figure,
        });

        let figure = measure(plan, size, || {
            let per = n / sessions;
            // Round-robin over the sessions: (session, frame), in sending order per session.
            let mut per_session: Vec<_> = pairs
                .iter_mut()
                .map(|p| client_frames(p, size, per).into_iter())
                .collect();
            let mut frames: Vec<(usize, Vec<u8>)> = Vec::with_capacity(per * sessions);
            for _ in 0..per {
                for (k, f) in per_session.iter_mut().enumerate() {
                    frames.push((k, f.next().unwrap()));
                }
            }
            let start = StdInstant::now();
            for (k, frame) in &mut frames {
                let mut env = LinkEnv {
                    secrets: &mut secrets,
                    rng: &mut rng,
                    peer: CLIENT_HOST,
                    ipv6_ids: &[],
                };
                let ip = pairs[*k].session.link.receive(now, frame, &mut env);
                assert_eq!(ip.map(|ip| ip.len()), Some(size), "decrypt failed");
            }
            (start.elapsed(), per * sessions)
        });
        rows.push(Row {
            level: "link",
            mode,
            sessions,
            direction: "decrypt",
            size,
            figure,
        });
    }
}

fn server_net(stateless: bool, sessions: usize) -> (Net, Vec<Ipv4Addr>) {
    let mut net = Net::new(settings(stateless));
    for _ in 0..sessions {
        net.connect(client_config(stateless));
    }
    let up = net.run_until(Duration::from_secs(120), |n| {
        (0..sessions).all(|i| n.client(i).is_up())
    });
    assert!(up, "sessions not up");
    let addresses = (0..sessions)
        .map(|i| net.client(i).assigned_address().unwrap())
        .collect();
    (net, addresses)
}

/// One IPv4 + GRE packet from the client host to the server, as the device hands it over.
fn wire_frame(gre_bytes: &[u8]) -> Vec<u8> {
    let mut frame = vec![0u8; 20 + gre_bytes.len()];
    let repr = Ipv4Repr {
        src_addr: CLIENT_HOST,
        dst_addr: common::harness::SERVER,
        next_header: IpProtocol::from(47u8),
        payload_len: gre_bytes.len(),
        hop_limit: 64,
    };
    repr.emit(
        &mut Ipv4Packet::new_unchecked(&mut frame[..]),
        &smoltcp::phy::ChecksumCapabilities::default(),
    );
    frame[20..].copy_from_slice(gre_bytes);
    frame
}

/// The server's device while timing: received packets are handed over without a copy and
/// sent ones land in one reused buffer, so the figures are the server's own work (the
/// in-memory pipe of the tests zero-fills and copies every frame, a cost no real device has).
struct BenchDevice {
    rx: VecDeque<Vec<u8>>,
    tx: Box<[u8; 2048]>,
    sent: usize,
}

struct BenchRx(Vec<u8>);
struct BenchTx<'a>(&'a mut [u8; 2048], &'a mut usize);

impl phy::RxToken for BenchRx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for BenchTx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        *self.1 += 1;
        f(&mut self.0[..len.min(2048)])
    }
}

impl phy::Device for BenchDevice {
    type RxToken<'a> = BenchRx;
    type TxToken<'a> = BenchTx<'a>;

    fn receive(&mut self, _: Instant) -> Option<(BenchRx, BenchTx<'_>)> {
        let packet = self.rx.pop_front()?;
        Some((BenchRx(packet), BenchTx(&mut self.tx, &mut self.sent)))
    }

    fn transmit(&mut self, _: Instant) -> Option<BenchTx<'_>> {
        Some(BenchTx(&mut self.tx, &mut self.sent))
    }

    fn capabilities(&self) -> phy::DeviceCapabilities {
        let mut caps = phy::DeviceCapabilities::default();
        caps.medium = phy::Medium::Ip;
        caps.max_transmission_unit = common::PIPE_MTU;
        caps
    }
}

fn server_level(plan: &Plan, stateless: bool, sessions: usize, rows: &mut Vec<Row>) {
    let (mut net, addresses) = server_net(stateless, sessions);
    let mode = if stateless { "stateless" } else { "stateful" };
    let now = net.now;
    for size in sizes() {
        let n = packets_per_rep(size) / POLL_BATCH * POLL_BATCH;
        let ips: Vec<Vec<u8>> = addresses
            .iter()
            .map(|&a| packets::ipv4_udp(FAR, a, 5000, 4000, 0, size - 28))
            .collect();
        let mut tunnel = CountingTunnel::default();
        let mut device = BenchDevice {
            rx: VecDeque::with_capacity(POLL_BATCH),
            tx: Box::new([0; 2048]),
            sent: 0,
        };
        let figure = measure(plan, size, || {
            let mut elapsed = StdDuration::ZERO;
            for batch in 0..n / POLL_BATCH {
                device.sent = 0;
                let start = StdInstant::now();
                for i in 0..POLL_BATCH {
                    let k = (batch * POLL_BATCH + i) % sessions;
                    assert!(net.server.send_to_client(now, &ips[k]));
                }
                net.server.poll(
                    now,
                    &mut device,
                    &mut tunnel,
                    &mut net.secrets,
                    &mut net.rng,
                );
                elapsed += start.elapsed();
                assert!(device.sent >= POLL_BATCH, "GRE packets on the device");
            }
            (elapsed, n)
        });
        rows.push(Row {
            level: "server",
            mode,
            sessions,
            direction: "encrypt",
            size,
            figure,
        });

        let figure = measure(plan, size, || {
            let mut elapsed = StdDuration::ZERO;
            let mut buf = [0u8; 2048];
            for batch in 0..n / POLL_BATCH {
                for i in 0..POLL_BATCH {
                    let k = (batch * POLL_BATCH + i) % sessions;
                    let ip = packets::ipv4_udp(addresses[k], FAR, 4000, 5000, 0, size - 28);
                    let client = net.client_mut(k);
                    client.send_ip(now, &ip).unwrap();
                    let len = client.poll_gre(now, &mut buf).unwrap();
                    device.rx.push_back(wire_frame(&buf[..len]));
                }
                tunnel.packets = 0;
                let start = StdInstant::now();
                net.server.poll(
                    now,
                    &mut device,
                    &mut tunnel,
                    &mut net.secrets,
                    &mut net.rng,
                );
                elapsed += start.elapsed();
                assert_eq!(tunnel.packets, POLL_BATCH, "packets delivered");
            }
            (elapsed, n)
        });
        rows.push(Row {
            level: "server",
            mode,
            sessions,
            direction: "decrypt",
            size,
            figure,
        });
    }
}

/// One lookup figure: nanoseconds per lookup, indexed and by scanning.
struct LookupRow {
    sessions: usize,
    key: &'static str,
    indexed_ns: f64,
    scan_ns: f64,
}

/// `SessionTable` lookups of every live session in a shuffled order, through the indexes
/// and by the linear scan over the slots (what `by_call_id`/`by_address` did before).
fn table_level(plan: &Plan, sessions: usize, rows: &mut Vec<LookupRow>) {
    let mut storage: Vec<Option<Session>> = (0..limits::MAX_SESSIONS).map(|_| None).collect();
    let mut table = SessionTable::new(&mut storage, 1);
    let ppp = PppSettings::default();
    let base = u32::from(Ipv4Addr::new(10, 64, 0, 2));
    let mut keys = Vec::new();
    for slot in 0..sessions {
        let id = table.allocate_call_id();
        let session = Session::new(Instant::ZERO, slot, CLIENT_HOST, id, id, &ppp, LOCAL);
        table.insert(slot, session);
        let address = Ipv4Addr::from(base + slot as u32);
        table.set_address(slot, Some(address));
        keys.push((id, address));
    }
    // Shuffled, so neither method benefits from walking the slots in order.
    let mut rng = XorShift(0x7AB1E);
    for i in (1..keys.len()).rev() {
        let j = (smolpptp::rand::Random::next_u32(&mut rng) as usize) % (i + 1);
        keys.swap(i, j);
    }
    let rounds = (200_000 / sessions).max(1);
    let time = |f: &dyn Fn() -> usize| {
        let mut best = f64::MAX;
        for rep in 0..plan.warmup + plan.reps {
            let start = StdInstant::now();
            let mut found = 0;
            for _ in 0..rounds {
                found += f();
            }
            let ns = start.elapsed().as_nanos() as f64 / (rounds * sessions) as f64;
            assert_eq!(found, rounds * sessions, "every session found");
            if rep >= plan.warmup {
                best = best.min(ns);
            }
        }
        best
    };
    let table = &table;
    let keys = &keys;
    let scan_id = |id: u16| table.iter().position(|s| s.call_id == id);
    let scan_address = |a: Ipv4Addr| table.iter().position(|s| s.address == Some(a));
    rows.push(LookupRow {
        sessions,
        key: "call ID",
        indexed_ns: time(&|| {
            keys.iter()
                .filter(|k| std::hint::black_box(table.by_call_id(k.0)).is_some())
                .count()
        }),
        scan_ns: time(&|| {
            keys.iter()
                .filter(|k| std::hint::black_box(scan_id(k.0)).is_some())
                .count()
        }),
    });
    rows.push(LookupRow {
        sessions,
        key: "address",
        indexed_ns: time(&|| {
            keys.iter()
                .filter(|k| std::hint::black_box(table.by_address(k.1)).is_some())
                .count()
        }),
        scan_ns: time(&|| {
            keys.iter()
                .filter(|k| std::hint::black_box(scan_address(k.1)).is_some())
                .count()
        }),
    });
}

fn run() {
    let quick = std::env::args().any(|a| a == "--quick");
    let plan = if quick {
        Plan { warmup: 1, reps: 3 }
    } else {
        Plan { warmup: 2, reps: 9 }
    };
    // Filters: `link`, `server`, `stateless`, `stateful`, `single`, `spread`.
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wanted = |group: &[&str], what: &str| {
        !filters.iter().any(|f| group.contains(&f.as_str())) || filters.iter().any(|f| f == what)
    };
    let levels = ["link", "server", "table"];
    let modes = ["stateless", "stateful"];
    let spreads = ["single", "spread"];

    let mut lookups = Vec::new();
    if wanted(&levels, "table") {
        let mut counts = vec![64.min(limits::MAX_SESSIONS), limits::MAX_SESSIONS];
        counts.dedup();
        for sessions in counts {
            table_level(&plan, sessions, &mut lookups);
        }
    }
    let mut rows = Vec::new();
    for stateless in [true, false] {
        if !(wanted(&levels, "link") || wanted(&levels, "server")) {
            break;
        }
        if !wanted(&modes, modes[usize::from(!stateless)]) {
            continue;
        }
        for (spread, sessions) in [(spreads[0], 1), (spreads[1], limits::MAX_SESSIONS)] {
            if !wanted(&spreads, spread) {
                continue;
            }
            if wanted(&levels, "link") {
                link_level(&plan, stateless, sessions, &mut rows);
            }
            if wanted(&levels, "server") {
                server_level(&plan, stateless, sessions, &mut rows);
            }
        }
    }

    println!(
        "smolpptp data path, MPPE-128 ({}; board {}, {} repetitions, median)",
        if cfg!(debug_assertions) {
            "debug build"
        } else {
            "optimised build"
        },
        limits::BOARD,
        plan.reps
    );
    println!(
        "session slot: {} bytes (Session), table of {}",
        std::mem::size_of::<Option<Session>>(),
        limits::MAX_SESSIONS
    );
    if !lookups.is_empty() {
        println!();
        println!("session lookup (ns per lookup, best repetition; scan = the old linear search)");
        println!(
            "{:>8} {:<8} {:>9} {:>9}",
            "sessions", "key", "indexed", "scan"
        );
        for r in &lookups {
            println!(
                "{:>8} {:<8} {:>9.1} {:>9.1}",
                r.sessions, r.key, r.indexed_ns, r.scan_ns
            );
        }
    }
    if rows.is_empty() {
        return;
    }
    println!();
    println!("bare RC4 = the rc4 crate's keystream over buffers of the same size, timed");
    println!("in alternation with each repetition; ratio = median of per-repetition ratios.");
    println!();
    println!(
        "{:<7} {:<9} {:>8} {:<8} {:>6} {:>10} {:>9} {:>11} {:>7}",
        "level", "mode", "sessions", "dir", "bytes", "packets/s", "MB/s", "RC4 MB/s", "vs RC4"
    );
    for r in &rows {
        let f = &r.figure;
        println!(
            "{:<7} {:<9} {:>8} {:<8} {:>6} {:>10.0} {:>9.1} {:>11.1} {:>6.0}%",
            r.level,
            r.mode,
            r.sessions,
            r.direction,
            r.size,
            f.pps,
            f.pps * r.size as f64 / 1e6,
            f.rc4_mbps,
            100.0 * f.ratio
        );
    }
}

fn main() {
    // The fixed-capacity test plumbing is large; give it room as the tests do.
    common::big_stack(run);
}
