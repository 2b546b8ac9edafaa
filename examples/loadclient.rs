//! Load client: many PPTP sessions from one process against a running `smolpptpd`, for the
//! figures in README "Performance" (driven by `scripts/bench-netns.sh`).
//!
//! It runs the project's own test client (`tests/support/client`, MS-CHAPv2 + MPPE-128 over
//! kernel sockets) `--sessions` times at once: one TCP connection per session, one raw GRE
//! socket for all of them (demultiplexed by the Call ID in the GRE Key; a raw socket per
//! session would make the kernel copy every GRE packet to every session). Run it inside the
//! client network namespace; the UDP sink that counts what comes out of the tunnels is
//! opened in `--router-ns`.
//!
//! 1. Connect: from a cold start, sessions are set up with at most `--in-flight` still
//!    negotiating at a time; the connect rate is sessions up per second until all are up.
//! 2. Traffic: every session sends UDP packets of `--size` bytes (IP packet) through its
//!    tunnel to the sink (client → server: the server decrypts and writes to the TUN), round
//!    robin, for `--warmup` then `--seconds`. Packets in flight are capped (`--window`,
//!    counted against what the sink received) so the figure is what the server carries,
//!    not how fast a queue overflows.
//! 3. One result line: sessions, connect rate, aggregate throughput (Mbit/s of IP packets
//!    delivered), packet loss, server CPU (utime+stime from /proc/PID/stat over the timed
//!    period) as cores busy and per Gbit/s, server RSS (VmRSS) after connecting and at the
//!    end, and its peak (VmHWM).
//!
//! `loadclient --pid=PID --router-ns=NAME [--server=192.0.2.1] [--sessions=N] ...`;
//! `--header` prints the column names first.

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration as StdDuration, Instant as StdInstant};

use smoltcp::time::Instant;
use support::client::{Client, ClientConfig};
use support::kernel::GreSocket;
use support::packets;

/// Where the sink listens: the server's `localip` is the kernel's address on the TUN.
const SINK_PORT: u16 = 7000;
const CLIENT_PORT: u16 = 4000;

struct Options {
    pid: i32,
    router_ns: String,
    server: Ipv4Addr,
    sink: Ipv4Addr,
    sessions: usize,
    in_flight: usize,
    size: usize,
    window: usize,
    warmup: StdDuration,
    seconds: StdDuration,
    setup_limit: StdDuration,
    user: String,
    password: String,
    header: bool,
}

fn options() -> Options {
    let mut o = Options {
        pid: 0,
        router_ns: String::new(),
        server: Ipv4Addr::new(192, 0, 2, 1),
        sink: Ipv4Addr::new(198, 51, 100, 1),
        sessions: 1,
        in_flight: 32,
        size: 1400,
        window: 512,
        warmup: StdDuration::from_secs(1),
        seconds: StdDuration::from_secs(5),
        setup_limit: StdDuration::from_secs(300),
        user: "bench".into(),
        password: "bench-password".into(),
        header: false,
    };
    for arg in std::env::args().skip(1) {
        let (key, value) = arg.split_once('=').unwrap_or((arg.as_str(), ""));
        let number = || -> u64 {
            value
                .parse()
                .unwrap_or_else(|_| panic!("{key}: not a number: {value:?}"))
        };
        let address = || -> Ipv4Addr {
            value
                .parse()
                .unwrap_or_else(|_| panic!("{key}: not an address: {value:?}"))
        };
        match key {
            "--pid" => o.pid = number() as i32,
            "--router-ns" => o.router_ns = value.into(),
            "--server" => o.server = address(),
            "--sink" => o.sink = address(),
            "--sessions" => o.sessions = number() as usize,
            "--in-flight" => o.in_flight = number().max(1) as usize,
            "--size" => o.size = (number() as usize).clamp(32, 1400),
            "--window" => o.window = number().max(1) as usize,
            "--warmup" => o.warmup = StdDuration::from_secs(number()),
            "--seconds" => o.seconds = StdDuration::from_secs(number().max(1)),
            "--setup-limit" => o.setup_limit = StdDuration::from_secs(number()),
            "--user" => o.user = value.into(),
            "--password" => o.password = value.into(),
            "--header" => o.header = true,
            _ => panic!("unknown option {arg}"),
        }
    }
    assert!(o.pid > 0, "--pid=PID of smolpptpd is required");
    assert!(!o.router_ns.is_empty(), "--router-ns=NAME is required");
    assert!(
        (1..=usize::from(u16::MAX)).contains(&o.sessions),
        "--sessions"
    );
    o
}

/// The server process's CPU time (user + system) and memory, from /proc.
struct ServerProcess {
    pid: i32,
    ticks_per_second: f64,
}

impl ServerProcess {
    fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid))
            .unwrap_or_else(|e| panic!("/proc/{}/stat: {e}", self.pid));
        // Fields after the command name (which may contain spaces) in parentheses:
        // state is field 3, utime 14, stime 15.
        let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let utime: f64 = fields[11].parse().unwrap();
        let stime: f64 = fields[12].parse().unwrap();
        (utime + stime) / self.ticks_per_second
    }

    /// A `VmRSS`-style line of /proc/PID/status, in KiB.
    fn status_kib(&self, key: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid))
            .unwrap_or_else(|e| panic!("/proc/{}/status: {e}", self.pid));
        status
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }
}

/// Our own CPU time, to tell when the client rather than the server is the limit.
fn own_cpu_seconds() -> f64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// One TCP connection per session: more descriptors than the usual soft limit of 1024.
fn raise_file_limit() {
    let mut limit: libc::rlimit = unsafe { std::mem::zeroed() };
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        limit.rlim_cur = limit.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
    }
}

/// A UDP socket bound in another network namespace (a thread enters it to create it).
fn udp_in_namespace(ns: &str, port: u16) -> UdpSocket {
    let path = format!("/run/netns/{ns}");
    let socket = std::thread::scope(|s| {
        s.spawn(|| {
            let file = File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                panic!("setns({path}): {}", std::io::Error::last_os_error());
            }
            UdpSocket::bind((Ipv4Addr::UNSPECIFIED, port))
        })
        .join()
        .unwrap()
    })
    .unwrap_or_else(|e| panic!("bind UDP {port} in {ns}: {e}"));
    socket.set_nonblocking(true).unwrap();
    let size: libc::c_int = 8 << 20;
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    socket
}

/// One session: the sans-IO client and its control connection.
struct Session {
    client: Client,
    tcp: TcpStream,
    /// Control bytes the client produced that TCP did not take yet.
    pending: Vec<u8>,
    closed: bool,
    /// The UDP packet it sends through its tunnel, once it has an address.
    packet: Vec<u8>,
}

struct Load {
    opts: Options,
    epoch: StdInstant,
    gre: GreSocket,
    sessions: Vec<Session>,
    by_call_id: HashMap<u16, usize>,
    buf: Vec<u8>,
    out: Vec<u8>,
    gre_send_errors: u64,
}

impl Load {
    fn now(&self) -> Instant {
        Instant::from_micros(self.epoch.elapsed().as_micros() as i64)
    }

    /// Open session number `i` (its call ID is `i + 1`).
    fn connect(&mut self, i: usize, within: StdDuration) {
        let to = SocketAddrV4::new(self.opts.server, smolpptp::wire::pptp::PPTP_PORT);
        let end = StdInstant::now() + within;
        let tcp = loop {
            match TcpStream::connect_timeout(&to.into(), StdDuration::from_secs(2)) {
                Ok(s) => break s,
                Err(e) if StdInstant::now() >= end => panic!("session {i}: connect {to}: {e}"),
                Err(_) => std::thread::sleep(StdDuration::from_millis(20)),
            }
        };
        tcp.set_nodelay(true).unwrap();
        tcp.set_nonblocking(true).unwrap();
        let mut config = ClientConfig::new(&self.opts.user, &self.opts.password);
        config.call_id = (i + 1) as u16;
        config.call_serial = (i + 1) as u16;
        config.setup_timeout = smoltcp::time::Duration::from_secs(self.opts.setup_limit.as_secs());
        self.by_call_id.insert(config.call_id, self.sessions.len());
        self.sessions.push(Session {
            client: Client::new(config, 0x10AD_0000 ^ i as u64),
            tcp,
            pending: Vec::new(),
            closed: false,
            packet: Vec::new(),
        });
    }

    /// Move everything that is ready between the clients and the sockets; wait up to
    /// `wait` for something to read first.
    fn step(&mut self, wait: StdDuration) {
        let mut fds: Vec<libc::pollfd> = Vec::with_capacity(self.sessions.len() + 1);
        fds.push(libc::pollfd {
            fd: self.gre.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        });
        fds.extend(self.sessions.iter().map(|s| libc::pollfd {
            fd: s.tcp.as_raw_fd(),
            events: if s.closed { 0 } else { libc::POLLIN },
            revents: 0,
        }));
        let ms = wait.as_millis().min(100) as libc::c_int;
        unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };

        // GRE from the server, to the session whose call ID is in the key.
        loop {
            let n = match self.gre.recv(&mut self.buf) {
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            let Some(ip) = packets::parse_ipv4(&self.buf[..n]) else {
                continue;
            };
            if ip.protocol != packets::PROTO_GRE
                || ip.src != self.opts.server
                || ip.payload.len() < 8
            {
                continue;
            }
            let key = u16::from_be_bytes([ip.payload[6], ip.payload[7]]);
            if let Some(&i) = self.by_call_id.get(&key) {
                let now = Instant::from_micros(self.epoch.elapsed().as_micros() as i64);
                self.sessions[i].client.handle_gre(now, ip.payload);
            }
        }
        let now = self.now();
        for (i, s) in self.sessions.iter_mut().enumerate() {
            if fds[i + 1].revents != 0 {
                read_control(s, now, &mut self.buf);
            }
            write_control(s, now);
            while let Some(n) = s.client.poll_gre(now, &mut self.out) {
                if self.gre.send_to(&self.out[..n], self.opts.server).is_err() {
                    self.gre_send_errors += 1;
                }
            }
        }
    }
}

fn read_control(s: &mut Session, now: Instant, buf: &mut [u8]) {
    while !s.closed {
        match s.tcp.read(buf) {
            Ok(0) => {
                s.closed = true;
                s.client.control_closed(now);
            }
            Ok(n) => s.client.handle_control(now, &buf[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => {
                s.closed = true;
                s.client.control_closed(now);
            }
        }
    }
}

fn write_control(s: &mut Session, now: Instant) {
    let mut chunk = [0u8; 1024];
    while let Some(n) = s.client.poll_control(now, &mut chunk) {
        s.pending.extend_from_slice(&chunk[..n]);
    }
    while !s.pending.is_empty() && !s.closed {
        match s.tcp.write(&s.pending) {
            Ok(0) => break,
            Ok(n) => {
                s.pending.drain(..n);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => {
                s.pending.clear();
                s.closed = true;
            }
        }
    }
}

fn main() {
    let opts = options();
    raise_file_limit();
    let server = ServerProcess {
        pid: opts.pid,
        ticks_per_second: unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64,
    };
    if opts.header {
        println!(
            "{:>8} {:>9} {:>10} {:>7} {:>10} {:>12} {:>9} {:>9} {:>9} {:>10}",
            "sessions",
            "conn/s",
            "Mbit/s",
            "loss",
            "srv cores",
            "cores/Gbit/s",
            "RSS up",
            "RSS end",
            "RSS peak",
            "client cpu"
        );
    }
    let sink = udp_in_namespace(&opts.router_ns, SINK_PORT);
    let gre = GreSocket::open().expect("raw GRE socket (run as root in the client namespace)");
    let sessions = opts.sessions;
    let mut load = Load {
        epoch: StdInstant::now(),
        gre,
        sessions: Vec::with_capacity(sessions),
        by_call_id: HashMap::new(),
        buf: vec![0; 65536],
        out: vec![0; 2048],
        gre_send_errors: 0,
        opts,
    };

    // 1. Connect from cold, at most `in_flight` sessions negotiating at a time.
    let start = StdInstant::now();
    let limit = start + load.opts.setup_limit;
    loop {
        let negotiating = load
            .sessions
            .iter()
            .filter(|s| !s.client.is_up() && !s.client.is_finished())
            .count();
        let mut room = load.opts.in_flight.saturating_sub(negotiating);
        while room > 0 && load.sessions.len() < sessions {
            let i = load.sessions.len();
            // The first one may find the daemon still starting.
            let within = if i == 0 {
                StdDuration::from_secs(10)
            } else {
                StdDuration::from_secs(5)
            };
            load.connect(i, within);
            room -= 1;
        }
        load.step(StdDuration::from_millis(1));
        let up = load.sessions.iter().filter(|s| s.client.is_up()).count();
        if up == sessions {
            break;
        }
        if let Some(failed) = load.sessions.iter().find(|s| s.client.is_finished()) {
            panic!(
                "session {:#06x} failed: {:?} ({:?}); {up} up",
                failed.client.our_call_id(),
                failed.client.failure(),
                failed.client.disconnect_reason()
            );
        }
        if StdInstant::now() >= limit {
            panic!(
                "{up} of {sessions} sessions up after {:?}",
                load.opts.setup_limit
            );
        }
    }
    let connect_time = start.elapsed().as_secs_f64();
    let rss_up = server.status_kib("VmRSS");
    // The MPPE header and inner protocol field (4 bytes) must fit the server's MRU too.
    let size = load
        .opts
        .size
        .min(usize::from(load.sessions[0].client.server_mru()).saturating_sub(4));
    if size != load.opts.size {
        eprintln!("(packets of {size} bytes: the server's MRU is smaller than --size)");
    }
    for s in load.sessions.iter_mut() {
        let me = s.client.assigned_address().expect("address");
        s.packet = packets::ipv4_udp(me, load.opts.sink, CLIENT_PORT, SINK_PORT, 0, size - 28);
    }

    // 2. Traffic, round robin over the sessions, window-limited against the sink.
    let mut sent: u64 = 0;
    let mut received: u64 = 0;
    let mut received_bytes: u64 = 0;
    let mut written_off: u64 = 0;
    let mut next = 0usize;
    let mut last_progress = StdInstant::now();
    let mut sink_buf = vec![0u8; 2048];
    let traffic_start = StdInstant::now();
    let measure_start = traffic_start + load.opts.warmup;
    let end = measure_start + load.opts.seconds;
    let mut measuring = false;
    let (mut cpu0, mut own0, mut sent0, mut received0, mut bytes0) = (0.0, 0.0, 0, 0, 0);
    loop {
        let now_std = StdInstant::now();
        if !measuring && now_std >= measure_start {
            measuring = true;
            cpu0 = server.cpu_seconds();
            own0 = own_cpu_seconds();
            (sent0, received0, bytes0) = (sent, received, received_bytes);
        }
        if now_std >= end {
            break;
        }
        // After a quiet spell the packets still outstanding are taken as lost, so the
        // window opens again.
        if now_std.duration_since(last_progress) > StdDuration::from_millis(50) {
            written_off = sent.saturating_sub(received);
            last_progress = now_std;
        }
        let now = load.now();
        let outstanding = sent.saturating_sub(received + written_off);
        let burst = (load.opts.window as u64)
            .saturating_sub(outstanding)
            .min(64);
        for _ in 0..burst {
            let s = &mut load.sessions[next];
            next = (next + 1) % sessions;
            if s.client.send_ip(now, &s.packet).is_ok() {
                while let Some(n) = s.client.poll_gre(now, &mut load.out) {
                    if load.gre.send_to(&load.out[..n], load.opts.server).is_err() {
                        load.gre_send_errors += 1;
                    }
                }
                sent += 1;
            }
        }
        while let Ok(n) = sink.recv(&mut sink_buf) {
            received += 1;
            written_off = written_off.saturating_sub(1);
            received_bytes += (n + 28) as u64;
            last_progress = StdInstant::now();
        }
        load.step(StdDuration::ZERO);
    }
    let wall = load.opts.seconds.as_secs_f64();
    let cpu = server.cpu_seconds() - cpu0;
    let own = own_cpu_seconds() - own0;
    let delivered = received_bytes - bytes0;
    let packets_sent = sent - sent0;
    let packets_received = received - received0;
    let mbps = delivered as f64 * 8.0 / wall / 1e6;
    let cores = cpu / wall;
    let loss = 1.0 - (packets_received as f64 / packets_sent.max(1) as f64).min(1.0);
    let still_up = load.sessions.iter().filter(|s| s.client.is_up()).count();
    assert_eq!(still_up, sessions, "sessions dropped during the traffic");
    println!(
        "{:>8} {:>9.0} {:>10.1} {:>6.1}% {:>10.2} {:>12.2} {:>7.1}Mi {:>7.1}Mi {:>7.1}Mi {:>10.2}",
        sessions,
        sessions as f64 / connect_time,
        mbps,
        100.0 * loss,
        cores,
        if mbps > 0.0 {
            cores / (mbps / 1000.0)
        } else {
            0.0
        },
        rss_up as f64 / 1024.0,
        server.status_kib("VmRSS") as f64 / 1024.0,
        server.status_kib("VmHWM") as f64 / 1024.0,
        own / wall,
    );
    if load.gre_send_errors > 0 {
        eprintln!("(GRE send errors: {})", load.gre_send_errors);
    }
}
