//! An in-process network: our server on one smoltcp interface, any number of the project's
//! test clients on another, joined by an in-memory link the test can disturb. No root, no
//! kernel networking.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::Ipv4Addr;

use smolpptp::limits;
use smolpptp::rand::XorShift;
use smolpptp::server::{NetConfig, Server, Storage, Tunnel};
use smolpptp::settings::{AddressRange, AddressRule, Secret, Secrets, Settings};
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet, SocketStorage};
use smoltcp::socket::{raw, tcp};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{
    HardwareAddress, IpAddress, IpCidr, IpProtocol, IpVersion, Ipv4Packet, Ipv4Repr,
};

use super::shared_control::SharedControl;
use super::{count_allocations, transfer, Fault, Frame, PipeDevice};
use crate::support::client::{Client, ClientConfig};

pub const SERVER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
pub const CLIENT_HOST: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);
pub const LOCAL: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);
pub const POOL_FIRST: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 2);
pub const DNS1: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);
pub const DNS2: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 53);
pub const USER: &str = "tomc";
pub const PASSWORD: &str = "labpass-42";

/// The settings of the lab's pptpd: localip 10.9.0.1, remoteip 10.9.0.2-..., two ms-dns.
pub fn lab_settings() -> Settings {
    let mut s = Settings::default();
    s.local
        .ranges
        .push(AddressRange {
            first: LOCAL,
            last: LOCAL,
        })
        .unwrap();
    let last = Ipv4Addr::from(u32::from(POOL_FIRST) + limits::MAX_SESSIONS as u32 + 8);
    s.remote
        .ranges
        .push(AddressRange {
            first: POOL_FIRST,
            last,
        })
        .unwrap();
    s.ppp.dns = [Some(DNS1), Some(DNS2)];
    s.connections = limits::MAX_SESSIONS;
    // Every lab client shares one address; tests of `max-per-source` set it themselves.
    s.max_per_source = 0;
    s
}

/// chap-secrets with one user; fixed capacity, nothing allocated per lookup.
pub struct OneUser {
    pub user: &'static str,
    pub password: &'static str,
    pub lookups: usize,
}

impl Secrets for OneUser {
    fn lookup(&mut self, client: &[u8], _server: &[u8], _peer: Ipv4Addr) -> Option<Secret> {
        self.lookups += 1;
        if client != self.user.as_bytes() {
            return None;
        }
        let mut password = heapless::Vec::new();
        password.extend_from_slice(self.password.as_bytes()).ok()?;
        Some(Secret {
            password,
            address: AddressRule::Pool,
        })
    }
}

/// Where the server delivers decrypted client packets: a fixed ring the test reads.
pub struct Sink {
    pub packets: heapless::Deque<heapless::Vec<u8, 1500>, 128>,
    pub overflow: usize,
}

impl Tunnel for Sink {
    fn deliver(&mut self, ip_packet: &[u8]) {
        let mut v = heapless::Vec::new();
        if v.extend_from_slice(ip_packet).is_err() || self.packets.push_back(v).is_err() {
            self.overflow += 1;
        }
    }
}

/// Which way a frame crosses the link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    ToServer,
    ToClient,
}

/// Decides what the link does with each frame.
pub type FaultFn = Box<dyn FnMut(Direction, &[u8]) -> Fault>;

pub struct Peer {
    pub client: Client,
    pub tcp: SocketHandle,
    /// The shared control connection this client's call is on (`Net::connect_shared`).
    pub shared: Option<usize>,
    /// The client host's address this client connects and sends GRE from.
    pub source: Ipv4Addr,
    connected: bool,
    closed_notified: bool,
}

/// A TCP connection to port 1723 the test writes raw bytes to: the test's own control
/// connection driver, for messages no client would send.
pub struct RawConn {
    pub tcp: SocketHandle,
    /// Bytes from the server not taken yet (see [`Net::raw_messages`]).
    pub rx: Vec<u8>,
    pub connected: bool,
    /// The server closed or reset the connection.
    pub closed: bool,
}

/// Most GRE packets kept for call IDs no client claims.
const UNCLAIMED_GRE: usize = 4096;

pub struct Net {
    pub server: Server<'static>,
    pub srv_dev: Box<PipeDevice>,
    pub cli_dev: Box<PipeDevice>,
    pub cli_iface: Interface,
    pub cli_sockets: SocketSet<'static>,
    pub cli_gre: SocketHandle,
    pub peers: Vec<Peer>,
    pub shared: Vec<SharedControl>,
    pub raws: Vec<RawConn>,
    /// GRE packets from the server (GRE header on) for call IDs no client has: the test's
    /// own PPP peer reads them here.
    pub unclaimed_gre: VecDeque<Vec<u8>>,
    pub sink: Box<Sink>,
    pub secrets: OneUser,
    pub rng: XorShift,
    pub now: Instant,
    /// Allocations made inside the server's own calls (poll, send_to_client) since setup.
    pub server_allocations: usize,
    pub fault: FaultFn,
    scratch: Vec<u8>,
}

fn leak<T>(v: Vec<T>) -> &'static mut [T] {
    Box::leak(v.into_boxed_slice())
}

/// Server storage sized from `limits`, allocated once.
pub fn server_storage() -> Storage<'static> {
    let conns = limits::MAX_CONTROL_CONNECTIONS;
    Storage {
        sockets: leak((0..conns + 1).map(|_| SocketStorage::EMPTY).collect()),
        tcp_rx: leak(vec![0; conns * limits::TCP_RX_BUFFER]),
        tcp_tx: leak(vec![0; conns * limits::TCP_TX_BUFFER]),
        gre_rx_meta: leak(vec![raw::PacketMetadata::EMPTY; limits::GRE_RX_PACKETS]),
        gre_rx: leak(vec![0; limits::GRE_RX_BUFFER]),
        gre_tx_meta: leak(vec![raw::PacketMetadata::EMPTY; limits::GRE_TX_PACKETS]),
        gre_tx: leak(vec![0; limits::GRE_TX_BUFFER]),
        sessions: leak((0..limits::MAX_SESSIONS).map(|_| None).collect()),
    }
}

/// Server log lines on stderr when SMOLPPTP_TEST_LOG is set (off by default: the counting
/// allocator would see stderr's first-use allocations).
struct StderrLog;

impl log::Log for StderrLog {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, record: &log::Record) {
        eprintln!("server {:5} {}", record.level(), record.args());
    }
    fn flush(&self) {}
}

static LOGGER: StderrLog = StderrLog;

impl Net {
    pub fn new(settings: Settings) -> Net {
        if std::env::var_os("SMOLPPTP_TEST_LOG").is_some() {
            let _ = log::set_logger(&LOGGER);
            log::set_max_level(log::LevelFilter::Trace);
        }
        let mut srv_dev = PipeDevice::new();
        let mut cli_dev = PipeDevice::new();
        let mut rng = XorShift(0x5EED_1234_ABCD);
        let now = Instant::from_millis(1_000);
        let net = NetConfig {
            hardware: HardwareAddress::Ip,
            address: SERVER,
            prefix_len: 24,
            gateway: None,
        };
        let server = Server::new(
            settings,
            net,
            server_storage(),
            &mut *srv_dev,
            now,
            &mut rng,
        );

        let mut config = Config::new(HardwareAddress::Ip);
        config.random_seed = 42;
        let mut cli_iface = Interface::new(config, &mut *cli_dev, now);
        cli_iface.update_ip_addrs(|a| {
            a.push(IpCidr::new(IpAddress::Ipv4(CLIENT_HOST), 24))
                .unwrap();
        });
        let storage: &'static mut [SocketStorage<'static>] = leak(
            (0..limits::MAX_CONTROL_CONNECTIONS + 8)
                .map(|_| SocketStorage::EMPTY)
                .collect(),
        );
        let mut cli_sockets = SocketSet::new(storage);
        let gre = raw::Socket::new(
            Some(IpVersion::Ipv4),
            Some(IpProtocol::from(47u8)),
            raw::PacketBuffer::new(
                leak(vec![raw::PacketMetadata::EMPTY; 512]),
                leak(vec![0u8; 512 * 1600]),
            ),
            raw::PacketBuffer::new(
                leak(vec![raw::PacketMetadata::EMPTY; 512]),
                leak(vec![0u8; 512 * 1600]),
            ),
        );
        let cli_gre = cli_sockets.add(gre);
        Net {
            server,
            srv_dev,
            cli_dev,
            cli_iface,
            cli_sockets,
            cli_gre,
            peers: Vec::new(),
            shared: Vec::new(),
            raws: Vec::new(),
            unclaimed_gre: VecDeque::new(),
            sink: Box::new(Sink {
                packets: heapless::Deque::new(),
                overflow: 0,
            }),
            secrets: OneUser {
                user: USER,
                password: PASSWORD,
                lookups: 0,
            },
            rng,
            now,
            server_allocations: 0,
            fault: Box::new(|_, _| Fault::Pass),
            scratch: vec![0; 4096],
        }
    }

    /// Start a client: a TCP connection to port 1723 from a fresh local port.
    pub fn connect(&mut self, config: ClientConfig) -> usize {
        self.connect_from(config, CLIENT_HOST)
    }

    /// Start a client from another address of the client host (smoltcp's default interface
    /// holds two addresses: `CLIENT_HOST` and one more).
    pub fn connect_from(&mut self, mut config: ClientConfig, source: Ipv4Addr) -> usize {
        let has_source = self
            .cli_iface
            .ip_addrs()
            .iter()
            .any(|a| a.address() == IpAddress::Ipv4(source));
        if !has_source {
            self.cli_iface.update_ip_addrs(|a| {
                a.push(IpCidr::new(IpAddress::Ipv4(source), 24))
                    .expect("the client interface holds two addresses");
            });
        }
        let index = self.peers.len();
        config.call_id = 0x4000 + index as u16;
        let rx = tcp::SocketBuffer::new(leak(vec![0u8; 4096]));
        let tx = tcp::SocketBuffer::new(leak(vec![0u8; 4096]));
        let mut socket = tcp::Socket::new(rx, tx);
        socket.set_nagle_enabled(false);
        socket
            .connect(
                self.cli_iface.context(),
                (IpAddress::Ipv4(SERVER), 1723),
                (IpAddress::Ipv4(source), 20_000 + index as u16),
            )
            .unwrap();
        let tcp = self.cli_sockets.add(socket);
        let client = Client::new(config, 0xC11E_0000 + index as u64);
        self.peers.push(Peer {
            client,
            tcp,
            shared: None,
            source,
            connected: false,
            closed_notified: false,
        });
        index
    }

    fn tcp_to_server(&mut self, local_port: u16) -> SocketHandle {
        let rx = tcp::SocketBuffer::new(leak(vec![0u8; 8192]));
        let tx = tcp::SocketBuffer::new(leak(vec![0u8; 8192]));
        let mut socket = tcp::Socket::new(rx, tx);
        socket.set_nagle_enabled(false);
        socket
            .connect(
                self.cli_iface.context(),
                (IpAddress::Ipv4(SERVER), 1723),
                local_port,
            )
            .unwrap();
        self.cli_sockets.add(socket)
    }

    /// Start one client per config, all calls on one control connection (see
    /// [`SharedControl`]). Returns the clients' indexes.
    pub fn connect_shared(&mut self, configs: Vec<ClientConfig>) -> Vec<usize> {
        let m = self.shared.len();
        let tcp = self.tcp_to_server(40_000 + m as u16);
        let mut members = Vec::new();
        for mut config in configs {
            let index = self.peers.len();
            config.call_id = 0x4000 + index as u16;
            let client = Client::new(config, 0xC11E_0000 + index as u64);
            self.peers.push(Peer {
                client,
                tcp,
                shared: Some(m),
                source: CLIENT_HOST,
                connected: false,
                closed_notified: false,
            });
            members.push(index);
        }
        self.shared.push(SharedControl::new(tcp, members.clone()));
        members
    }

    /// Open a raw control connection (nothing is sent on it until the test does).
    pub fn connect_raw(&mut self) -> usize {
        let i = self.raws.len();
        let tcp = self.tcp_to_server(30_000 + i as u16);
        self.raws.push(RawConn {
            tcp,
            rx: Vec::new(),
            connected: false,
            closed: false,
        });
        i
    }

    /// Queue bytes on raw connection `i` (they leave with the next step).
    pub fn raw_send(&mut self, i: usize, bytes: &[u8]) {
        let socket = self.cli_sockets.get_mut::<tcp::Socket>(self.raws[i].tcp);
        let n = socket.send_slice(bytes).unwrap_or(0);
        assert_eq!(n, bytes.len(), "raw connection {i}: send buffer full");
    }

    /// Whole PPTP messages received on raw connection `i` so far (taken).
    pub fn raw_messages(&mut self, i: usize) -> Vec<Vec<u8>> {
        let rx = &mut self.raws[i].rx;
        let mut out = Vec::new();
        while let Ok(Some(len)) = smolpptp::wire::pptp::frame_len(rx) {
            if len > rx.len() {
                break;
            }
            out.push(rx.drain(..len).collect());
        }
        out
    }

    /// Close raw connection `i` (FIN).
    pub fn raw_close(&mut self, i: usize) {
        self.cli_sockets
            .get_mut::<tcp::Socket>(self.raws[i].tcp)
            .close();
    }

    /// Put a frame straight onto the server's receive queue, as if it came off the wire.
    pub fn inject(&mut self, frame: Frame) {
        assert!(
            self.srv_dev.rx.push_back(frame).is_ok(),
            "test link overflow: raise PIPE_DEPTH"
        );
    }

    pub fn client(&self, i: usize) -> &Client {
        &self.peers[i].client
    }

    pub fn client_mut(&mut self, i: usize) -> &mut Client {
        &mut self.peers[i].client
    }

    /// One turn of everything: clients, client stack, link, server, link.
    pub fn step(&mut self) {
        let now = self.now;
        self.drive_clients(now);
        self.cli_iface
            .poll(now, &mut *self.cli_dev, &mut self.cli_sockets);
        let fault = &mut self.fault;
        transfer(&mut self.cli_dev, &mut self.srv_dev, &mut |f| {
            fault(Direction::ToServer, f)
        });
        let (server, dev, sink, secrets, rng) = (
            &mut self.server,
            &mut *self.srv_dev,
            &mut *self.sink,
            &mut self.secrets,
            &mut self.rng,
        );
        let (_, n) = count_allocations(|| server.poll(now, dev, sink, secrets, rng));
        self.server_allocations += n;
        transfer(&mut self.srv_dev, &mut self.cli_dev, &mut |f| {
            fault(Direction::ToClient, f)
        });
        self.cli_iface
            .poll(now, &mut *self.cli_dev, &mut self.cli_sockets);
        self.drive_clients(now);
    }

    /// Move bytes and packets between every client and its sockets.
    fn drive_clients(&mut self, now: Instant) {
        // GRE from the server, demultiplexed by the call ID in the GRE key.
        loop {
            let socket = self.cli_sockets.get_mut::<raw::Socket>(self.cli_gre);
            let Ok(n) = socket.recv_slice(&mut self.scratch) else {
                break;
            };
            let Ok(ip) = Ipv4Packet::new_checked(&self.scratch[..n]) else {
                continue;
            };
            let gre = ip.payload();
            if gre.len() < 8 {
                continue;
            }
            let call_id = u16::from_be_bytes([gre[6], gre[7]]);
            if let Some(peer) = self
                .peers
                .iter_mut()
                .find(|p| p.client.our_call_id() == call_id)
            {
                peer.client.handle_gre(now, gre);
            } else {
                if self.unclaimed_gre.len() >= UNCLAIMED_GRE {
                    self.unclaimed_gre.pop_front();
                }
                self.unclaimed_gre.push_back(gre.to_vec());
            }
        }
        for raw in &mut self.raws {
            let socket = self.cli_sockets.get_mut::<tcp::Socket>(raw.tcp);
            if socket.may_send() || socket.may_recv() {
                raw.connected = true;
            }
            while socket.can_recv() {
                let mut buf = [0u8; 2048];
                match socket.recv_slice(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => raw.rx.extend_from_slice(&buf[..n]),
                }
            }
            if raw.connected && !socket.may_recv() {
                raw.closed = true;
            }
        }
        for m in 0..self.shared.len() {
            let socket = self.cli_sockets.get_mut::<tcp::Socket>(self.shared[m].tcp);
            self.shared[m].drive(now, socket, &mut self.peers);
        }
        for i in 0..self.peers.len() {
            let peer = &mut self.peers[i];
            if peer.shared.is_some() {
                self.send_client_gre(i);
                continue;
            }
            let socket = self.cli_sockets.get_mut::<tcp::Socket>(peer.tcp);
            if socket.may_send() {
                peer.connected = true;
            }
            if socket.can_recv() {
                let mut buf = [0u8; 2048];
                if let Ok(n) = socket.recv_slice(&mut buf) {
                    peer.client.handle_control(now, &buf[..n]);
                }
            }
            if peer.connected
                && !socket.may_recv()
                && !peer.closed_notified
                && socket.recv_queue() == 0
            {
                peer.closed_notified = true;
                peer.client.control_closed(now);
                socket.close();
            }
            if peer.connected && socket.may_send() {
                let mut buf = [0u8; 2048];
                while socket.send_capacity() - socket.send_queue() >= 220 {
                    let Some(n) = peer.client.poll_control(now, &mut buf) else {
                        break;
                    };
                    socket.send_slice(&buf[..n]).unwrap();
                }
                if peer.client.control_done() && socket.send_queue() == 0 {
                    socket.close();
                }
            }
            self.send_client_gre(i);
        }
    }

    /// GRE packets client `i` wants to send, onto the client host's raw socket.
    fn send_client_gre(&mut self, i: usize) {
        let peer = &mut self.peers[i];
        let now = self.now;
        {
            let mut buf = [0u8; 2048];
            while let Some(n) = peer.client.poll_gre(now, &mut buf[20..]) {
                let repr = Ipv4Repr {
                    src_addr: peer.source,
                    dst_addr: SERVER,
                    next_header: IpProtocol::from(47u8),
                    payload_len: n,
                    hop_limit: 64,
                };
                let mut ip = Ipv4Packet::new_unchecked(&mut buf[..20 + n]);
                repr.emit(&mut ip, &smoltcp::phy::ChecksumCapabilities::default());
                let raw = self.cli_sockets.get_mut::<raw::Socket>(self.cli_gre);
                if raw.send_slice(&buf[..20 + n]).is_err() {
                    break;
                }
            }
        }
    }

    /// Next moment something is due (bounded so a quiet network still moves time on).
    fn next_deadline(&mut self) -> Instant {
        let mut at = self.now + Duration::from_millis(50);
        if let Some(t) = self.server.poll_at(self.now) {
            at = at.min(t);
        }
        if let Some(t) = self.cli_iface.poll_at(self.now, &self.cli_sockets) {
            at = at.min(t);
        }
        for p in &self.peers {
            if let Some(t) = p.client.poll_at() {
                at = at.min(t);
            }
        }
        at.max(self.now + Duration::from_millis(1))
    }

    /// Step until `done` holds or `limit` of simulated time passes; returns whether it held.
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&mut Net) -> bool) -> bool {
        let end = self.now + limit;
        while self.now < end {
            self.step();
            if done(self) {
                return true;
            }
            let busy = !self.srv_dev.rx.is_empty() || !self.cli_dev.rx.is_empty();
            self.now = if busy {
                self.now + Duration::from_millis(1)
            } else {
                self.next_deadline()
            };
        }
        false
    }

    /// The server's own call, counted like `step` counts `poll`.
    pub fn send_to_client(&mut self, packet: &[u8]) -> bool {
        let now = self.now;
        let server = &mut self.server;
        let (ok, n) = count_allocations(|| server.send_to_client(now, packet));
        self.server_allocations += n;
        ok
    }
}
