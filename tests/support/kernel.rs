//! The test client over Linux kernel sockets: a `TcpStream` to the server's port 1723 and a
//! raw `IPPROTO_GRE` socket, both nonblocking and polled in a bounded loop.
//!
//! A socket belongs to the network namespace it was created in, so a test creates a
//! [`KernelClient`] inside a thread that has entered the client's namespace (see
//! `tests/netns.rs`) and may drive it from any thread afterwards.
//!
//! Receiving on the raw socket gives the IPv4 header too (stripped here); sending lets the
//! kernel build it. Every raw GRE socket in the namespace sees every GRE packet, so packets
//! are demultiplexed by the Call ID in the GRE Key before the client sees them.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddrV4, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration as StdDuration, Instant as StdInstant};

use smoltcp::time::{Duration, Instant};

use super::client::{Client, ClientConfig};
use super::packets;

/// How long one [`KernelClient::run_until`] turn sleeps at most when nothing is due.
const IDLE_POLL: StdDuration = StdDuration::from_millis(20);

fn sockaddr_in(addr: Ipv4Addr, port: u16) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(addr).to_be(),
        },
        sin_zero: [0; 8],
    }
}

/// A TCP connection to `to` from `source` (any when None), waiting at most `limit`.
fn tcp_connect(
    source: Option<Ipv4Addr>,
    to: SocketAddrV4,
    limit: StdDuration,
) -> io::Result<TcpStream> {
    let Some(source) = source else {
        return TcpStream::connect_timeout(&to.into(), limit);
    };
    let fd = unsafe {
        libc::socket(
            libc::AF_INET,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    let local = sockaddr_in(source, 0);
    if unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&local as *const libc::sockaddr_in).cast(),
            len,
        )
    } < 0
    {
        return Err(io::Error::last_os_error());
    }
    let remote = sockaddr_in(*to.ip(), to.port());
    let r = unsafe {
        libc::connect(
            fd.as_raw_fd(),
            (&remote as *const libc::sockaddr_in).cast(),
            len,
        )
    };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINPROGRESS) {
            return Err(e);
        }
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLOUT,
            revents: 0,
        };
        let ms = limit.as_millis().min(i32::MAX as u128) as libc::c_int;
        let n = unsafe { libc::poll(&mut pfd, 1, ms) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        if n == 0 {
            return Err(io::Error::new(ErrorKind::TimedOut, "connect timed out"));
        }
        let mut err: libc::c_int = 0;
        let mut err_len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        unsafe {
            libc::getsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_ERROR,
                (&mut err as *mut libc::c_int).cast(),
                &mut err_len,
            )
        };
        if err != 0 {
            return Err(io::Error::from_raw_os_error(err));
        }
    }
    Ok(TcpStream::from(fd))
}

/// A raw IPv4 socket for protocol 47 (GRE).
pub struct GreSocket(OwnedFd);

impl GreSocket {
    /// Needs CAP_NET_RAW in the current thread's network namespace.
    pub fn open() -> io::Result<GreSocket> {
        let fd = unsafe {
            libc::socket(
                libc::AF_INET,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                libc::IPPROTO_GRE,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(GreSocket(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Send from `source` and receive only what is addressed to it.
    pub fn bind(&self, source: Ipv4Addr) -> io::Result<()> {
        let addr = sockaddr_in(source, 0);
        let r = unsafe {
            libc::bind(
                self.0.as_raw_fd(),
                (&addr as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Send one GRE packet (header and payload) to `to`; the kernel adds the IPv4 header.
    pub fn send_to(&self, packet: &[u8], to: Ipv4Addr) -> io::Result<()> {
        let addr = sockaddr_in(to, 0);
        let n = unsafe {
            libc::sendto(
                self.0.as_raw_fd(),
                packet.as_ptr().cast(),
                packet.len(),
                0,
                (&addr as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Make the kernel's receive buffer `bytes` large (SO_RCVBUFFORCE, root may exceed
    /// `rmem_max`): one socket that takes every call's GRE must not drop a burst.
    pub fn set_recv_buffer(&self, bytes: usize) -> io::Result<()> {
        let value = bytes.min(i32::MAX as usize) as libc::c_int;
        let r = unsafe {
            libc::setsockopt(
                self.0.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                (&value as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// One IPv4 packet (with its header) into `buf`; `WouldBlock` when none is waiting.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        let n = unsafe { libc::recv(self.0.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }
}

impl AsRawFd for GreSocket {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.0.as_raw_fd()
    }
}

/// How the TCP side of the control connection ended, if it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TcpEnd {
    /// The server closed it (read returned 0).
    ClosedByServer,
    /// We closed it after the client was done.
    ClosedByUs,
    /// Reset or another error.
    Error(String),
}

/// The project's test client connected through kernel sockets.
pub struct KernelClient {
    pub client: Client,
    pub server: Ipv4Addr,
    tcp: TcpStream,
    gre: GreSocket,
    /// Control bytes the client produced that TCP did not take yet.
    pending: Vec<u8>,
    pub tcp_end: Option<TcpEnd>,
    /// GRE packets from the server for other calls (other clients in the namespace).
    pub gre_other_calls: u64,
    /// Raw-socket packets that were not IPv4/GRE from the server.
    pub gre_ignored: u64,
    /// GRE packets the kernel refused to send, and the last reason.
    pub gre_send_errors: u64,
    pub last_gre_send_error: Option<String>,
    epoch: StdInstant,
    buf: Vec<u8>,
}

impl KernelClient {
    /// Connect to `server`:1723, retrying refused or timed-out attempts until `within`
    /// has passed (the server may still be starting), and open the GRE socket. Call this in
    /// the client's network namespace.
    pub fn connect(
        server: Ipv4Addr,
        config: ClientConfig,
        seed: u64,
        within: StdDuration,
    ) -> io::Result<KernelClient> {
        Self::connect_from(
            None,
            server,
            config,
            seed,
            within,
            StdDuration::from_secs(1),
        )
    }

    /// [`connect`](Self::connect) from `source` (one of the namespace's addresses) when
    /// given, so several clients in one namespace look like several hosts to the server;
    /// each TCP attempt waits up to `attempt` for the handshake (the kernel's own SYN
    /// retransmissions included), like a real client's connect().
    pub fn connect_from(
        source: Option<Ipv4Addr>,
        server: Ipv4Addr,
        config: ClientConfig,
        seed: u64,
        within: StdDuration,
        attempt: StdDuration,
    ) -> io::Result<KernelClient> {
        let to = SocketAddrV4::new(server, smolpptp::wire::pptp::PPTP_PORT);
        let end = StdInstant::now() + within;
        let tcp = loop {
            match tcp_connect(source, to, attempt) {
                Ok(s) => break s,
                Err(e) if StdInstant::now() >= end => {
                    return Err(io::Error::new(
                        e.kind(),
                        format!("no PPTP server at {to} within {within:?}: {e}"),
                    ))
                }
                Err(_) => std::thread::sleep(StdDuration::from_millis(50)),
            }
        };
        tcp.set_nodelay(true)?;
        tcp.set_nonblocking(true)?;
        let gre = GreSocket::open()?;
        if let Some(source) = source {
            gre.bind(source)?;
        }
        Ok(KernelClient {
            client: Client::new(config, seed),
            server,
            tcp,
            gre,
            pending: Vec::new(),
            tcp_end: None,
            gre_other_calls: 0,
            gre_ignored: 0,
            gre_send_errors: 0,
            last_gre_send_error: None,
            epoch: StdInstant::now(),
            buf: vec![0; 65536],
        })
    }

    /// The client's clock: milliseconds since this client was created.
    pub fn now(&self) -> Instant {
        Instant::from_micros(self.epoch.elapsed().as_micros() as i64)
    }

    /// Move everything that is ready between the client and its sockets, once.
    pub fn step(&mut self) {
        self.read_control();
        self.read_gre();
        let now = self.now();
        self.write_control(now);
        self.write_gre(now);
    }

    fn read_control(&mut self) {
        while self.tcp_end.is_none() {
            match self.tcp.read(&mut self.buf) {
                Ok(0) => {
                    self.tcp_end = Some(TcpEnd::ClosedByServer);
                    let now = self.now();
                    self.client.control_closed(now);
                }
                Ok(n) => {
                    let now = self.now();
                    self.client.handle_control(now, &self.buf[..n]);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    self.tcp_end = Some(TcpEnd::Error(e.to_string()));
                    let now = self.now();
                    self.client.control_closed(now);
                }
            }
        }
    }

    fn read_gre(&mut self) {
        loop {
            let n = match self.gre.recv(&mut self.buf) {
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => return,
            };
            let packet = &self.buf[..n];
            let Some(ip) = packets::parse_ipv4(packet) else {
                self.gre_ignored += 1;
                continue;
            };
            if ip.protocol != packets::PROTO_GRE || ip.src != self.server || ip.payload.len() < 8 {
                self.gre_ignored += 1;
                continue;
            }
            let key = u16::from_be_bytes([ip.payload[6], ip.payload[7]]);
            if key != self.client.our_call_id() {
                self.gre_other_calls += 1;
                continue;
            }
            let now = self.now();
            self.client.handle_gre(now, ip.payload);
        }
    }

    fn write_control(&mut self, now: Instant) {
        if matches!(self.tcp_end, Some(TcpEnd::Error(_))) {
            return;
        }
        let mut chunk = [0u8; 1024];
        while let Some(n) = self.client.poll_control(now, &mut chunk) {
            self.pending.extend_from_slice(&chunk[..n]);
        }
        while !self.pending.is_empty() {
            match self.tcp.write(&self.pending) {
                Ok(0) => break,
                Ok(n) => {
                    self.pending.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    self.tcp_end.get_or_insert(TcpEnd::Error(e.to_string()));
                    self.pending.clear();
                    return;
                }
            }
        }
        if self.client.control_done() && self.pending.is_empty() && self.tcp_end.is_none() {
            let _ = self.tcp.shutdown(Shutdown::Both);
            self.tcp_end = Some(TcpEnd::ClosedByUs);
        }
    }

    fn write_gre(&mut self, now: Instant) {
        let mut out = [0u8; 2048];
        while let Some(n) = self.client.poll_gre(now, &mut out) {
            // A full socket buffer drops the packet, as a congested link would.
            if let Err(e) = self.gre.send_to(&out[..n], self.server) {
                self.gre_send_errors += 1;
                self.last_gre_send_error = Some(e.to_string());
            }
        }
    }

    /// Step until `done` holds (true) or `limit` of real time passes (false), sleeping in
    /// `poll(2)` on both sockets in between.
    pub fn run_until(
        &mut self,
        limit: StdDuration,
        mut done: impl FnMut(&mut KernelClient) -> bool,
    ) -> bool {
        let end = StdInstant::now() + limit;
        loop {
            self.step();
            if done(self) {
                return true;
            }
            let left = end.saturating_duration_since(StdInstant::now());
            if left.is_zero() {
                return false;
            }
            self.wait(left.min(IDLE_POLL));
        }
    }

    /// Run for `period` whatever happens (answering keepalives, acking, ...).
    pub fn run_for(&mut self, period: StdDuration) {
        self.run_until(period, |_| false);
    }

    /// Sleep until a socket is readable, the client has a timer due, or `at_most` passed.
    fn wait(&mut self, at_most: StdDuration) {
        let mut timeout = at_most;
        if let Some(at) = self.client.poll_at() {
            let due: Duration = at - self.now().min(at);
            timeout = timeout.min(StdDuration::from_micros(due.total_micros()));
        }
        let mut fds = [
            libc::pollfd {
                fd: self.tcp.as_raw_fd(),
                events: if self.tcp_end.is_none() {
                    libc::POLLIN
                } else {
                    0
                },
                revents: 0,
            },
            libc::pollfd {
                fd: self.gre.0.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        let ms = timeout.as_millis().clamp(1, 1000) as libc::c_int;
        unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
    }
}
