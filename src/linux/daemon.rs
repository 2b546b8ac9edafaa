//! The daemon's poll loop: one `libc::poll` over the TUN, the packet socket (raw backend)
//! and the signalfd, with the timeout from the server's next timer on the monotonic clock.
//! Nothing here allocates: the devices' buffers and the pollfd array exist before the loop.
//!
//! On SIGHUP the caller's reload closure runs (re-read the files, `Server::reload`). On
//! SIGTERM/SIGINT every client is told goodbye (`Server::shutdown`) and the loop keeps
//! running until the sessions are gone or [`SHUTDOWN_GRACE`] passed; the caller then drops
//! the firewall and the devices.
//!
//! [`Operations`] joins the loop when configured: the control socket (`smolpptpd status`,
//! `kick`) is in the same poll set, and every session that comes up or ends is handed to
//! the hook runner (ip-up/ip-down) and written to wtmp, all without allocating.

use super::clock;
use super::control_socket::{self, ControlSocket, ReplyBuffer, Request, SessionRecord};
pub use super::device::Devices;
use super::hooks::{HookEvent, HookRunner};
use super::proxy_arp::ProxyArp;
use super::signals::{Signal, Signals};
use super::tun::{Ingress, Tun};
use super::wtmp::{self, Wtmp};
use crate::limits::MAX_SESSIONS;
use crate::lower;
use crate::rand::Random;
use crate::server::{NoticeKind, Server, SessionNotice};
use crate::settings::Secrets;
use smoltcp::time::{Duration, Instant};
use std::io;
use std::os::fd::AsRawFd;

/// How long goodbyes (Call-Disconnect-Notify, Stop-Control-Connection-Request, LCP
/// Terminate) may take before we exit anyway.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);
/// TUN packets handled per loop turn, so the outside device and signals are never starved.
pub const TUN_BUDGET: usize = 64;

pub use crate::server::Tunnel;

/// Writes decrypted client packets to the TUN.
pub struct TunTunnel<'t>(pub &'t Tun);

impl Tunnel for TunTunnel<'_> {
    fn deliver(&mut self, ip_packet: &[u8]) {
        // A full TUN queue drops the packet, as a congested router would.
        self.0.write_packet(ip_packet);
    }
}

/// What the loop needs from the protocol server: [`Running`] (a `Server` with the secrets
/// and the random source its `poll` takes), or a stand-in in tests. The device is always
/// [`Devices`], not a type parameter: the server's poll path exists once in the binary.
pub trait Service {
    fn poll(&mut self, now: Instant, devices: &mut Devices, tunnel: &mut dyn Tunnel);
    /// Take the packet the device holds, as part of a burst that one `poll` ends.
    fn receive(&mut self, now: Instant, devices: &mut Devices, tunnel: &mut dyn Tunnel) {
        self.poll(now, devices, tunnel)
    }
    fn send_to_client(&mut self, now: Instant, ip_packet: &[u8]) -> bool;
    fn poll_at(&mut self, now: Instant) -> Option<Instant>;
    fn shutdown(&mut self, now: Instant);
    /// True once every session and control connection is gone (after `shutdown`).
    fn is_idle(&mut self, now: Instant) -> bool;
    /// Answer a control-socket request.
    fn answer(&mut self, _now: Instant, _request: Request, reply: &mut ReplyBuffer) {
        reply.error(control_socket::wall_clock());
    }
    /// The next session that came up or ended.
    fn poll_notice(&mut self) -> Option<SessionNotice> {
        None
    }
}

/// The server as the loop runs it.
pub struct Running<'a, S: Secrets, R: Random> {
    pub server: Server<'a>,
    pub secrets: S,
    pub rng: R,
}

impl<S: Secrets, R: Random> Service for Running<'_, S, R> {
    fn poll(&mut self, now: Instant, devices: &mut Devices, tunnel: &mut dyn Tunnel) {
        self.server
            .poll(now, devices, tunnel, &mut self.secrets, &mut self.rng);
    }
    fn receive(&mut self, now: Instant, devices: &mut Devices, tunnel: &mut dyn Tunnel) {
        self.server
            .receive(now, devices, tunnel, &mut self.secrets, &mut self.rng);
    }
    fn send_to_client(&mut self, now: Instant, ip_packet: &[u8]) -> bool {
        self.server.send_to_client(now, ip_packet)
    }
    fn poll_at(&mut self, now: Instant) -> Option<Instant> {
        self.server.poll_at(now)
    }
    fn shutdown(&mut self, now: Instant) {
        self.server.shutdown(now)
    }
    fn is_idle(&mut self, now: Instant) -> bool {
        self.server.is_shut_down(now)
    }
    fn answer(&mut self, now: Instant, request: Request, reply: &mut ReplyBuffer) {
        let wall = control_socket::wall_clock();
        match request {
            Request::Status => reply.status(
                wall,
                self.server
                    .sessions()
                    .map(|s| SessionRecord::from_session(s, now)),
            ),
            Request::Kick(selector) => reply.kicked(wall, self.server.kick(now, selector)),
        }
    }
    fn poll_notice(&mut self) -> Option<SessionNotice> {
        self.server.poll_notice()
    }
}

/// The operator's side of the daemon; each part is optional.
#[derive(Default)]
pub struct Operations {
    pub control: Option<ControlSocket>,
    pub hooks: Option<HookRunner>,
    pub wtmp: Option<Wtmp>,
    /// pppd's `proxyarp`.
    pub proxy_arp: Option<ProxyArp>,
    /// Sessions ip-up was run (and wtmp login written) for: only those get the ip-down.
    up: heapless::Vec<u16, MAX_SESSIONS>,
}

impl Operations {
    pub fn new(
        control: Option<ControlSocket>,
        hooks: Option<HookRunner>,
        wtmp: Option<Wtmp>,
        proxy_arp: Option<ProxyArp>,
    ) -> Self {
        Operations {
            control,
            hooks,
            wtmp,
            proxy_arp,
            up: heapless::Vec::new(),
        }
    }

    /// A session came up or ended: wtmp record and ip-up/ip-down, like pppd at IPCP up and
    /// down.
    #[cfg_attr(not(target_arch = "mips"), inline(never))]
    pub fn account(&mut self, notice: &SessionNotice) {
        match notice.kind {
            NoticeKind::Up => {
                if self.up.push(notice.call_id).is_err() {
                    return;
                }
            }
            NoticeKind::Down => match self.up.iter().position(|&id| id == notice.call_id) {
                Some(i) => {
                    self.up.swap_remove(i);
                }
                None => return,
            },
        }
        let up = notice.kind == NoticeKind::Up;
        if let Some(p) = self.proxy_arp.as_mut() {
            proxy_arp(p, up, notice);
        }
        let name = wtmp::session_name(notice.call_id);
        if let Some(w) = self.wtmp.as_mut() {
            let written = if up {
                w.login(&name, &notice.user, notice.peer, notice.address)
            } else {
                w.logout(&name)
            };
            if let Err(e) = written {
                crate::warn!("wtmp: {}", crate::linux::ErrorText(e));
            }
        }
        if let Some(hooks) = self.hooks.as_mut() {
            hooks.request(&HookEvent {
                up,
                call_id: notice.call_id,
                user: notice.user.clone(),
                local: notice.local,
                remote: notice.address,
                peer: notice.peer,
                connect_secs: notice.connect_time.secs(),
                bytes_sent: notice.counters.bytes_out,
                bytes_received: notice.counters.bytes_in,
            });
        }
    }
}

/// Publish or withdraw the client's address on its LAN, with pppd's log lines.
#[cfg_attr(not(target_arch = "mips"), inline(never))]
fn proxy_arp(p: &mut ProxyArp, up: bool, notice: &SessionNotice) {
    let client = notice.address;
    // One warning site for both failures ("removing: " names the second).
    let (what, e) = if !up {
        match p.remove(notice.call_id) {
            Ok(()) => return,
            Err(e) => ("removing: ", e),
        }
    } else {
        match p.add(notice.call_id, client) {
            Ok(Some(lan)) => return crate::info!("found interface {lan} for proxy arp"),
            Ok(None) => {
                return crate::warn!(
                    "Cannot determine ethernet address for proxy ARP: no LAN subnet holds {client}"
                )
            }
            Err(e) => ("", e),
        }
    };
    crate::warn!(
        "proxy ARP for {client}: {what}{}",
        crate::linux::ErrorText(e)
    );
}

/// Why the loop returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// SIGTERM/SIGINT, after the goodbyes.
    Terminated(i32),
}

/// Milliseconds for poll(2) until `at`, rounded up so we never wake just before a timer;
/// -1 (forever) for None.
// One division where `div_ceil` makes two calls on 32-bit targets (see below).
#[allow(clippy::manual_div_ceil)]
pub fn poll_timeout(now: Instant, at: Option<Instant>) -> libc::c_int {
    match at {
        None => -1,
        Some(at) if at <= now => 0,
        Some(at) => {
            let micros = (at - now).total_micros();
            // Rounded up with one 64-bit division; the difference of two `Instant`s is far
            // below `u64::MAX - 999`.
            ((micros + 999) / 1000).min(i32::MAX as u64) as libc::c_int
        }
    }
}

/// Run until SIGTERM/SIGINT and the goodbyes are done.
pub fn run<S: Service>(
    service: &mut S,
    devices: &mut Devices,
    signals: &mut Signals,
    reload: &mut dyn FnMut(&mut S),
    ops: &mut Operations,
) -> io::Result<Exit> {
    let tun_ref = devices.tun.tun();
    let mut tunnel = TunTunnel(tun_ref);
    let pollfd = |fd| libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    const DEVICE_FDS: usize = 3;
    let mut fds = [pollfd(-1); DEVICE_FDS + 1 + control_socket::PENDING];
    fds[0] = pollfd(signals.as_raw_fd());
    fds[1] = pollfd(tun_ref.as_raw_fd());
    fds[2] = pollfd(devices.packet.as_ref().map_or(-1, |p| p.as_raw_fd()));
    let mut terminating: Option<(i32, Instant)> = None;

    loop {
        let now = clock::now();
        while let Some(signal) = signals.read() {
            match signal {
                Signal::Reload if terminating.is_none() => {
                    crate::info!("Hangup (SIGHUP): reloading configuration");
                    reload(service);
                }
                Signal::Reload => {}
                Signal::Terminate(signo) => {
                    if terminating.is_none() {
                        crate::info!("Terminating on signal {signo}");
                        service.shutdown(now);
                        terminating = Some((signo, now + SHUTDOWN_GRACE));
                    }
                }
            }
        }

        // Before the server's poll, so what a kick queued goes out in this turn.
        if let Some(control) = ops.control.as_mut() {
            control.service(now, &mut |request, reply| {
                service.answer(now, request, reply)
            });
        }

        for _ in 0..TUN_BUDGET {
            match devices.tun.read() {
                None => break,
                Some(Ingress::Forward(packet)) => {
                    service.send_to_client(now, packet);
                }
                // smoltcp takes it from the device's buffer now; answers, timers and
                // sending wait for the one `poll` after the burst.
                Some(Ingress::Local) => service.receive(now, devices, &mut tunnel),
            }
        }
        if let Some(packet) = devices.packet.as_mut() {
            packet.refill_budget();
        }
        service.poll(now, devices, &mut tunnel);

        while let Some(notice) = service.poll_notice() {
            ops.account(&notice);
        }

        let mut wake = service.poll_at(now);
        if let Some(control) = ops.control.as_ref() {
            lower(&mut wake, control.poll_at());
            for (slot, fd) in fds[DEVICE_FDS..].iter_mut().zip(control.poll_fds()) {
                slot.fd = fd;
            }
        }
        if let Some((signo, deadline)) = terminating {
            if service.is_idle(now) || now >= deadline {
                return Ok(Exit::Terminated(signo));
            }
            lower(&mut wake, Some(deadline));
        }
        // A neighbour hint waiting in the packet device is not on any fd.
        if devices.packet.as_mut().is_some_and(|p| p.has_pending()) {
            wake = Some(now);
        }
        let timeout = poll_timeout(now, wake);
        for f in fds.iter_mut() {
            f.revents = 0;
        }
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
        if n < 0 {
            let err = io::Error::last_os_error();
            // EINTR is what `kind()` calls Interrupted, without its table of every errno.
            if err.raw_os_error() != Some(libc::EINTR) {
                return Err(err);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linux::testns::run as in_netns;
    use crate::linux::tun::{TunConfig, TunDevice};
    use crate::settings::{AddressList, AddressRange};
    use core::net::Ipv4Addr;
    use smoltcp::phy::{Device, RxToken};
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    /// Counts allocations made by the current thread, so other tests running in parallel
    /// do not disturb the count.
    struct Counting;
    thread_local! { static ALLOCATIONS: Cell<u64> = const { Cell::new(0) }; }
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
            unsafe { System.alloc(layout) }
        }
        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
            unsafe { System.alloc_zeroed(layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, size: usize) -> *mut u8 {
            let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
            unsafe { System.realloc(ptr, layout, size) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            unsafe { System.dealloc(ptr, layout) }
        }
    }
    #[global_allocator]
    static GLOBAL: Counting = Counting;
    fn allocations() -> u64 {
        ALLOCATIONS.with(|c| c.get())
    }

    #[test]
    fn timeouts_round_up() {
        let now = Instant::from_millis(1000);
        assert_eq!(poll_timeout(now, None), -1);
        assert_eq!(poll_timeout(now, Some(Instant::from_millis(900))), 0);
        assert_eq!(poll_timeout(now, Some(now)), 0);
        assert_eq!(poll_timeout(now, Some(Instant::from_micros(1_000_001))), 1);
        assert_eq!(poll_timeout(now, Some(Instant::from_millis(1250))), 250);
        assert_eq!(
            poll_timeout(now, Some(Instant::from_secs(1i64 << 40))),
            i32::MAX
        );
    }

    /// A stand-in for `server::Server` that records what the loop does.
    #[derive(Default)]
    struct Fake {
        local_packets: u32,
        forwarded: u32,
        echo_replies: u32,
        reloads: u32,
        shut_down: bool,
        polls_after_shutdown: u32,
        ping: [u8; 28],
        answered: u32,
        notices: heapless::Deque<SessionNotice, 4>,
    }

    fn notice(kind: NoticeKind) -> SessionNotice {
        let mut user = heapless::String::new();
        user.push_str("tomc").unwrap();
        SessionNotice {
            kind,
            call_id: 77,
            user,
            peer: Ipv4Addr::new(192, 0, 2, 100),
            address: Ipv4Addr::new(10, 99, 1, 21),
            local: Ipv4Addr::new(10, 99, 0, 1),
            connect_time: Duration::from_secs(90),
            counters: Default::default(),
        }
    }

    impl Service for Fake {
        fn poll(&mut self, now: Instant, devices: &mut Devices, tunnel: &mut dyn Tunnel) {
            while let Some((rx, _tx)) = devices.receive(now) {
                let ours = rx.consume(|b| b.ends_with(b"to smoltcp"));
                if ours {
                    self.local_packets += 1;
                    // As if a client pinged the router through its tunnel.
                    tunnel.deliver(&self.ping);
                }
            }
            if self.shut_down {
                self.polls_after_shutdown += 1;
            }
        }
        fn send_to_client(&mut self, _: Instant, p: &[u8]) -> bool {
            self.forwarded += 1;
            if p.len() >= 21 && p[9] == 1 && p[20] == 0 {
                self.echo_replies += 1;
            }
            true
        }
        fn poll_at(&mut self, now: Instant) -> Option<Instant> {
            Some(now + Duration::from_millis(20))
        }
        fn shutdown(&mut self, _: Instant) {
            self.shut_down = true;
        }
        fn is_idle(&mut self, _: Instant) -> bool {
            self.polls_after_shutdown >= 3
        }
        fn answer(&mut self, _: Instant, request: Request, reply: &mut ReplyBuffer) {
            self.answered += 1;
            let n = notice(NoticeKind::Up);
            match request {
                Request::Status => reply.status(
                    control_socket::wall_clock(),
                    core::iter::once(SessionRecord {
                        call_id: n.call_id,
                        peer_call_id: 1,
                        client: n.peer,
                        address: Some(n.address),
                        state: control_socket::LinkState::Up,
                        mppe: None,
                        user: n.user,
                        connected: n.connect_time,
                        counters: n.counters,
                    }),
                ),
                Request::Kick(_) => reply.kicked(0, 1),
            }
        }
        fn poll_notice(&mut self) -> Option<SessionNotice> {
            self.notices.pop_front()
        }
    }

    fn checksum(data: &[u8]) -> u16 {
        let mut sum = 0u32;
        for c in data.chunks(2) {
            sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
        }
        while sum > 0xFFFF {
            sum = (sum & 0xFFFF) + (sum >> 16);
        }
        !(sum as u16)
    }

    fn ping(src: [u8; 4], dst: [u8; 4]) -> [u8; 28] {
        let mut p = [0u8; 28];
        p[..12].copy_from_slice(&[0x45, 0, 0, 28, 0, 1, 0, 0, 64, 1, 0, 0]);
        p[12..16].copy_from_slice(&src);
        p[16..20].copy_from_slice(&dst);
        p[20..].copy_from_slice(&[8, 0, 0, 0, 0, 7, 0, 1]);
        let c = checksum(&p[..20]).to_be_bytes();
        p[10..12].copy_from_slice(&c);
        let c = checksum(&p[20..]).to_be_bytes();
        p[22..24].copy_from_slice(&c);
        p
    }

    #[test]
    fn loop_routes_packets_reloads_and_exits_without_allocating() {
        in_netns("daemon loop", || {
            let mut pool = AddressList::default();
            pool.ranges
                .push(AddressRange {
                    first: Ipv4Addr::new(10, 99, 1, 20),
                    last: Ipv4Addr::new(10, 99, 1, 30),
                })
                .unwrap();
            let tun = Tun::open(&TunConfig {
                name: "smolpptp0",
                address: Ipv4Addr::new(10, 99, 0, 1),
                peer: Some(Ipv4Addr::new(10, 99, 0, 2)),
                prefix_len: 32,
                mtu: 1500,
                routes: &pool,
            })
            .unwrap();
            let mut devices = Devices {
                tun: TunDevice::new(&tun, Some(Ipv4Addr::new(10, 99, 0, 2))),
                packet: None,
            };
            let mut signals = Signals::install().unwrap();
            let mut fake = Fake {
                ping: ping([10, 99, 1, 21], [10, 99, 0, 1]),
                ..Fake::default()
            };
            fake.notices.push_back(notice(NoticeKind::Up)).unwrap();
            // A session that never came up: no ip-down, no logout.
            let mut never = notice(NoticeKind::Down);
            never.call_id = 78;
            fake.notices.push_back(never).unwrap();
            fake.notices.push_back(notice(NoticeKind::Down)).unwrap();
            let tid = unsafe { libc::syscall(libc::SYS_gettid) } as libc::pid_t;

            // The operator's side: control socket, wtmp file, hook runner with an ip-up.
            let dir = std::env::temp_dir().join(format!("smolpptp-daemon-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let socket = dir.join("ctl.sock");
            let wtmp_path = dir.join("wtmp");
            std::fs::write(&wtmp_path, b"").unwrap();
            let ip_up = dir.join("ip-up");
            std::fs::write(
                &ip_up,
                format!("#!/bin/sh\necho \"$5 $PEERNAME\" >> {}/up\n", dir.display()),
            )
            .unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&ip_up, std::fs::Permissions::from_mode(0o755)).unwrap();
            let mut hooks_config = crate::linux::hooks::HookConfig::etc_ppp("smolpptp0");
            hooks_config.ip_pre_up = dir.join("none");
            hooks_config.ip_up = ip_up;
            hooks_config.ip_down = dir.join("none");
            // A LAN whose subnet holds the client's address, for proxyarp.
            crate::linux::testns::sh(
                "ip link add lanA type veth peer name lanB && ip addr add 10.99.1.1/24 dev lanA \
                 && ip link set lanA up && ip link set lanB up",
            );
            let mut ops = Operations::new(
                Some(ControlSocket::bind(&socket).unwrap()),
                Some(HookRunner::spawn(hooks_config).unwrap()),
                Some(Wtmp::open(&wtmp_path).unwrap()),
                Some(ProxyArp::new().unwrap()),
            );
            let client_socket = socket.clone();

            // The kernel side, from a thread in the same namespace.
            let helper = std::thread::spawn(move || {
                let pause = || std::thread::sleep(std::time::Duration::from_millis(100));
                let kill = |sig: libc::c_int| unsafe {
                    libc::syscall(libc::SYS_tgkill, libc::getpid(), tid, sig);
                };
                let udp = std::net::UdpSocket::bind("10.99.0.1:0").unwrap();
                pause();
                udp.send_to(b"to a client", "10.99.1.22:9").unwrap();
                udp.send_to(b"to smoltcp", "10.99.0.2:1723").unwrap();
                pause();
                let status = control_socket::query(&client_socket, Request::Status).unwrap();
                let kick = control_socket::query(
                    &client_socket,
                    Request::Kick(crate::server::Selector::User("tomc")),
                )
                .unwrap();
                kill(libc::SIGHUP);
                pause();
                kill(libc::SIGTERM);
                (status, kick)
            });

            // The counter itself works.
            let before = allocations();
            drop(std::hint::black_box(vec![0u8; 8]));
            assert!(allocations() > before);

            let before = allocations();
            let exit = run(
                &mut fake,
                &mut devices,
                &mut signals,
                &mut |f: &mut Fake| f.reloads += 1,
                &mut ops,
            )
            .unwrap();
            let allocated = allocations() - before;
            let (status, kick) = helper.join().unwrap();
            assert_eq!(status.sessions.len(), 1);
            assert_eq!(status.sessions[0].user.as_str(), "tomc");
            assert_eq!(kick.count, 1);
            assert_eq!(fake.answered, 2);
            ops.hooks
                .as_mut()
                .unwrap()
                .finish(std::time::Duration::from_secs(5));
            assert_eq!(
                std::fs::read_to_string(dir.join("up")).unwrap(),
                "10.99.1.21 tomc\n"
            );
            let records = std::fs::read(&wtmp_path).unwrap();
            assert_eq!(
                records.len(),
                2 * wtmp::RECORD_LEN,
                "login and logout of call 77 only"
            );
            let login = wtmp::Record::parse(&records).unwrap();
            assert_eq!((login.line, login.user), (&b"pptp77"[..], &b"tomc"[..]));
            // Published at ip-up, withdrawn at ip-down.
            assert_eq!(ops.proxy_arp.as_ref().map(ProxyArp::published), Some(1));
            assert_eq!(crate::linux::testns::sh("ip neigh show proxy").trim(), "");
            drop(ops);
            assert!(!socket.exists());
            let _ = std::fs::remove_dir_all(&dir);

            assert_eq!(exit, Exit::Terminated(libc::SIGTERM));
            assert_eq!(fake.local_packets, 1);
            assert_eq!(
                fake.echo_replies, 1,
                "the kernel answered the delivered ping"
            );
            assert_eq!(fake.forwarded, 2, "one UDP packet, one echo reply");
            assert_eq!(fake.reloads, 1);
            assert!(fake.shut_down && fake.polls_after_shutdown >= 3);
            assert_eq!(allocated, 0, "the loop allocated");
        });
    }

    #[test]
    fn shutdown_gives_up_after_the_grace_period() {
        in_netns("daemon shutdown timeout", || {
            let pool = AddressList::default();
            let tun = Tun::open(&TunConfig {
                name: "smolpptp0",
                address: Ipv4Addr::new(10, 99, 0, 1),
                peer: Some(Ipv4Addr::new(10, 99, 0, 2)),
                prefix_len: 32,
                mtu: 1500,
                routes: &pool,
            })
            .unwrap();
            let mut devices = Devices {
                tun: TunDevice::new(&tun, Some(Ipv4Addr::new(10, 99, 0, 2))),
                packet: None,
            };
            let mut signals = Signals::install().unwrap();
            struct NeverIdle(Fake);
            impl Service for NeverIdle {
                fn poll(&mut self, n: Instant, d: &mut Devices, t: &mut dyn Tunnel) {
                    self.0.poll(n, d, t)
                }
                fn send_to_client(&mut self, n: Instant, p: &[u8]) -> bool {
                    self.0.send_to_client(n, p)
                }
                fn poll_at(&mut self, _: Instant) -> Option<Instant> {
                    None
                }
                fn shutdown(&mut self, n: Instant) {
                    self.0.shutdown(n)
                }
                fn is_idle(&mut self, _: Instant) -> bool {
                    false
                }
            }
            let mut s = NeverIdle(Fake::default());
            unsafe {
                let tid = libc::syscall(libc::SYS_gettid) as libc::pid_t;
                libc::syscall(libc::SYS_tgkill, libc::getpid(), tid, libc::SIGINT);
            }
            let start = std::time::Instant::now();
            let exit = run(
                &mut s,
                &mut devices,
                &mut signals,
                &mut |_| {},
                &mut Operations::default(),
            )
            .unwrap();
            let took = start.elapsed();
            assert_eq!(exit, Exit::Terminated(libc::SIGINT));
            assert!(took >= std::time::Duration::from_millis(2990), "{took:?}");
            assert!(took < std::time::Duration::from_millis(3500), "{took:?}");
            // Only a few wake-ups: the loop sleeps until the deadline, it does not spin.
            assert!(
                s.0.polls_after_shutdown < 10,
                "{}",
                s.0.polls_after_shutdown
            );
        });
    }
}
