//! The TUN device: the kernel side of every IP packet the daemon exchanges.
//!
//! In the `tun` backend one TUN carries two kinds of traffic (rust.md §2 option C):
//! PPTP control and GRE that the firewall DNATs to smoltcp's own address, and the clients'
//! traffic that the kernel routes to the `remoteip` pool. [`TunDevice::read`] reads one packet
//! into the device's receive buffer and sorts it by destination: packets for smoltcp stay
//! in the buffer until smoltcp's next `receive()` takes them (no copy), the rest are handed
//! back as a slice for `Server::send_to_client`. Decrypted client packets are written to
//! the same fd through [`Tun::write_packet`]. In the `raw` backend the TUN only carries
//! client traffic and [`TunDevice::new`] gets no smoltcp address.
//!
//! Routes: each `remoteip` range is routed as the fewest CIDR blocks that cover exactly that
//! range (`interface::for_each_prefix`), not one covering prefix, so a pool such as
//! 192.168.0.20-30 never steals the router's neighbours at .16-.19. The kernel deletes them
//! together with a TUN we created; on a persistent TUN we attached to they are deleted on drop.

use super::device::{RxToken, Sink, TxToken};
use super::interface::{for_each_prefix, Control, IfName};
use crate::limits::DEVICE_MTU;
use crate::settings::AddressList;
use core::net::Ipv4Addr;
use smoltcp::phy::{Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

/// The TUN's name unless the configuration gives one (`interface` in the tun backend).
pub const DEFAULT_NAME: &str = "smolpptp0";
/// smoltcp's address behind the TUN in the `tun` backend unless `address` says otherwise.
/// Link-local, so it can be no routed network's address; it is a /32 peer and never leaves
/// the host (the firewall NATs it away).
pub const DEFAULT_SMOLTCP_ADDRESS: Ipv4Addr = Ipv4Addr::new(169, 254, 23, 1);

/// How to set up the TUN interface.
#[derive(Clone, Debug)]
pub struct TunConfig<'a> {
    /// Interface name, e.g. `smolpptp0` (a `%d` template is allowed).
    pub name: &'a str,
    /// The kernel's address on the TUN. Use `localip`: the clients then reach the router
    /// itself (DNS, web UI) at the address IPCP told them.
    pub address: Ipv4Addr,
    /// Point-to-point peer: smoltcp's address in the `tun` backend. Without a peer the
    /// interface gets `address/prefix_len`.
    pub peer: Option<Ipv4Addr>,
    pub prefix_len: u8,
    /// At most `limits::DEVICE_MTU`.
    pub mtu: u16,
    /// The client pool (`remoteip`), routed into the TUN.
    pub routes: &'a AddressList,
}

/// An open, configured TUN interface. Dropping it removes what we set up.
pub struct Tun {
    fd: OwnedFd,
    name: IfName,
    /// False when we attached to a persistent interface someone else made.
    created: bool,
    /// The pool routes we added; a RefCell so a reload can change them while the loop's
    /// device holds `&Tun`.
    routes: core::cell::RefCell<AddressList>,
}

impl Tun {
    /// Create (or attach to) the TUN, configure address, peer, MTU, bring it up and add
    /// the pool routes.
    pub fn open(config: &TunConfig) -> io::Result<Tun> {
        let wanted = IfName::new(config.name)?;
        let ctl = Control::open()?;
        let created = !ctl.exists(&wanted);
        let path = b"/dev/net/tun\0";
        let fd = unsafe {
            super::sys::open(
                path.as_ptr().cast(),
                libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
                0,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let mut req = wanted.ifreq();
        req.ifr_ifru.ifru_flags = (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short;
        super::interface::ioctl(
            fd.as_raw_fd(),
            libc::TUNSETIFF as libc::c_ulong,
            (&mut req as *mut libc::ifreq).cast(),
        )?;
        let name = IfName::from_c(&req.ifr_name);
        let tun = Tun {
            fd,
            name,
            created,
            routes: Default::default(),
        };
        // The TUN carries IPv4 only unless `enable_ipv6` says otherwise: no IPv6
        // link-local chatter to read and drop.
        let _ = set_ipv6_conf(&tun.name, "disable_ipv6", b"1");
        ctl.set_address(&tun.name, config.address)?;
        // A point-to-point address (a peer) is a /32; one call site for both cases.
        let prefix_len = if config.peer.is_some() {
            32
        } else {
            config.prefix_len
        };
        ctl.set_netmask(&tun.name, prefix_len)?;
        if let Some(peer) = config.peer {
            ctl.set_peer(&tun.name, peer)?;
        }
        ctl.set_mtu(&tun.name, config.mtu.min(DEVICE_MTU as u16))?;
        ctl.set_up(&tun.name, true)?;
        tun.set_routes(&ctl, config.routes)?;
        Ok(tun)
    }

    pub fn name(&self) -> &IfName {
        &self.name
    }

    /// IPv6 inside the tunnel (`+ipv6`): turn IPv6 on for the TUN with exactly one address,
    /// fe80::`id`/64, the link-local address IPv6CP announces to every client (no
    /// kernel-generated one beside it). The kernel then routes fe80::/64 on this interface,
    /// so `ping fe80::<client id>%smolpptp0` reaches a client.
    pub fn enable_ipv6(&self, id: [u8; 8]) -> io::Result<()> {
        // addr_gen_mode 1: no automatic link-local address (not present on old kernels).
        let _ = set_ipv6_conf(&self.name, "addr_gen_mode", b"1");
        set_ipv6_conf(&self.name, "disable_ipv6", b"0")?;
        let index = Control::open()?.index(&self.name)?;
        let sock = super::sys::socket(libc::AF_INET6, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if sock < 0 {
            return Err(io::Error::last_os_error());
        }
        let sock = unsafe { OwnedFd::from_raw_fd(sock) };
        let mut address = [0u8; 16];
        address[..2].copy_from_slice(&[0xFE, 0x80]);
        address[8..].copy_from_slice(&id);
        let mut req = libc::in6_ifreq {
            ifr6_addr: libc::in6_addr { s6_addr: address },
            ifr6_prefixlen: 64,
            ifr6_ifindex: index as libc::c_int,
        };
        let ret = super::interface::ioctl(
            sock.as_raw_fd(),
            libc::SIOCSIFADDR,
            (&mut req as *mut libc::in6_ifreq).cast(),
        );
        match ret {
            // Already there (a persistent TUN we attached to again).
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
            r => r,
        }
    }

    /// Replace the pool routes (after a reload changed `remoteip`).
    pub fn set_routes(&self, ctl: &Control, routes: &AddressList) -> io::Result<()> {
        if *self.routes.borrow() == *routes {
            return Ok(());
        }
        self.delete_routes(ctl);
        let result = self.walk_routes(ctl, routes, true);
        *self.routes.borrow_mut() = routes.clone();
        result
    }

    fn delete_routes(&self, ctl: &Control) {
        let mut routes = self.routes.borrow_mut();
        let _ = self.walk_routes(ctl, &routes, false);
        *routes = AddressList::default();
    }

    /// Add `routes` (stopping at the first error, which it returns) or delete them (past
    /// any error): one walk over the prefixes for both.
    fn walk_routes(&self, ctl: &Control, routes: &AddressList, add: bool) -> io::Result<()> {
        let mut result = Ok(());
        for r in &routes.ranges {
            for_each_prefix(r.first, r.last, |net, len| {
                // One call site for both: `result` only records an add's error.
                if result.is_ok() {
                    let r = ctl.route(add, &self.name, net, len);
                    if add {
                        result = r;
                    }
                }
            });
        }
        result
    }

    /// Write one IP packet to the kernel. A full queue or a vanished interface drops the
    /// packet, as a router would: TCP retransmits, the loop never blocks.
    pub fn write_packet(&self, packet: &[u8]) -> bool {
        let n = unsafe { libc::write(self.fd.as_raw_fd(), packet.as_ptr().cast(), packet.len()) };
        n == packet.len() as isize
    }

    fn read_packet(&self, buf: &mut [u8]) -> Option<usize> {
        let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        (n > 0).then_some(n as usize)
    }
}

/// Write `value` to /proc/sys/net/ipv6/conf/`name`/`key`.
fn set_ipv6_conf(name: &IfName, key: &str, value: &[u8]) -> io::Result<()> {
    super::file::write(
        Path::new(&format!("/proc/sys/net/ipv6/conf/{name}/{key}")),
        value,
    )
}

impl AsRawFd for Tun {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl Drop for Tun {
    fn drop(&mut self) {
        // A TUN we created vanishes with its fd, routes and all. A persistent one stays:
        // leave it down and without our routes.
        if !self.created {
            if let Ok(ctl) = Control::open() {
                self.delete_routes(&ctl);
                let _ = ctl.set_up(&self.name, false);
            }
        }
    }
}

/// What [`TunDevice::read`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Ingress<'a> {
    /// For smoltcp's own address: kept for the next `Device::receive`; run `Server::poll`.
    Local,
    /// For someone else (a client in the pool): pass to `Server::send_to_client`.
    Forward(&'a [u8]),
}

/// The smoltcp `Device` (Medium::Ip) over a [`Tun`], with preallocated buffers.
pub struct TunDevice<'t> {
    tun: &'t Tun,
    /// smoltcp's address in the `tun` backend; None in the `raw` backend.
    local: Option<Ipv4Addr>,
    rx: [u8; DEVICE_MTU],
    rx_len: usize,
    rx_pending: bool,
    tx: [u8; DEVICE_MTU],
}

/// Non-IPv4 packets (the kernel sometimes sends some) skipped per `read` before giving up.
const MAX_SKIPPED: usize = 16;

impl<'t> TunDevice<'t> {
    pub fn new(tun: &'t Tun, local: Option<Ipv4Addr>) -> TunDevice<'t> {
        TunDevice {
            tun,
            local,
            rx: [0; DEVICE_MTU],
            rx_len: 0,
            rx_pending: false,
            tx: [0; DEVICE_MTU],
        }
    }

    pub fn tun(&self) -> &'t Tun {
        self.tun
    }

    /// Smoltcp's address changed (reload).
    pub fn set_local(&mut self, local: Option<Ipv4Addr>) {
        self.local = local;
    }

    /// Read one packet from the kernel and sort it by destination; None when nothing is
    /// waiting. Call only when no `Local` packet is pending (run `Server::poll` first),
    /// otherwise this returns `Some(Local)` again without reading.
    pub fn read(&mut self) -> Option<Ingress<'_>> {
        if self.rx_pending {
            return Some(Ingress::Local);
        }
        for _ in 0..MAX_SKIPPED {
            let n = self.tun.read_packet(&mut self.rx)?;
            // IPv6 (only there with `+ipv6`) is always for a client: smoltcp runs IPv4.
            if n >= 40 && self.rx[0] >> 4 == 6 {
                return Some(Ingress::Forward(&self.rx[..n]));
            }
            let Some(dst) = ipv4_destination(&self.rx[..n]) else {
                continue;
            };
            if Some(dst) == self.local {
                self.rx_len = n;
                self.rx_pending = true;
                return Some(Ingress::Local);
            }
            return Some(Ingress::Forward(&self.rx[..n]));
        }
        None
    }

    /// Hand smoltcp a packet as if read from the kernel (tests; the `raw` backend's replies
    /// never need it). False when it does not fit or one is already pending.
    pub fn inject(&mut self, packet: &[u8]) -> bool {
        if self.rx_pending || packet.len() > self.rx.len() {
            return false;
        }
        self.rx[..packet.len()].copy_from_slice(packet);
        self.rx_len = packet.len();
        self.rx_pending = true;
        true
    }

    pub fn has_pending(&self) -> bool {
        self.rx_pending
    }
}

/// The destination of an IPv4 packet; None for anything else or a truncated header.
pub fn ipv4_destination(packet: &[u8]) -> Option<Ipv4Addr> {
    if packet.len() < 20 || packet[0] >> 4 != 4 {
        return None;
    }
    Some(Ipv4Addr::new(
        packet[16], packet[17], packet[18], packet[19],
    ))
}

impl Device for TunDevice<'_> {
    type RxToken<'a>
        = RxToken<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = TxToken<'a>
    where
        Self: 'a;

    fn receive(&mut self, _: Instant) -> Option<(RxToken<'_>, TxToken<'_>)> {
        if !self.rx_pending {
            return None;
        }
        self.rx_pending = false;
        Some((
            RxToken(&self.rx[..self.rx_len]),
            TxToken {
                buf: &mut self.tx,
                sink: Sink::Tun(self.tun),
            },
        ))
    }

    fn transmit(&mut self, _: Instant) -> Option<TxToken<'_>> {
        Some(TxToken {
            buf: &mut self.tx,
            sink: Sink::Tun(self.tun),
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = DEVICE_MTU;
        caps
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linux::testns::{run, sh};
    use crate::settings::AddressRange;
    use std::time::{Duration, Instant as StdInstant};

    fn pool() -> AddressList {
        let mut l = AddressList::default();
        let r = |a: &str, b: &str| AddressRange {
            first: a.parse().unwrap(),
            last: b.parse().unwrap(),
        };
        l.ranges.push(r("10.99.1.20", "10.99.1.30")).unwrap();
        l.ranges.push(r("10.99.2.7", "10.99.2.7")).unwrap();
        l
    }

    fn open(name: &str) -> Tun {
        let routes = pool();
        Tun::open(&TunConfig {
            name,
            address: "10.99.0.1".parse().unwrap(),
            peer: Some("10.99.0.2".parse().unwrap()),
            prefix_len: 32,
            mtu: 1400,
            routes: &routes,
        })
        .expect("open tun")
    }

    /// Wait up to a second for the next packet.
    fn next(dev: &mut TunDevice) -> Option<(bool, Vec<u8>)> {
        let start = StdInstant::now();
        while start.elapsed() < Duration::from_secs(1) {
            match dev.read() {
                Some(Ingress::Local) => return Some((true, dev.rx[..dev.rx_len].to_vec())),
                Some(Ingress::Forward(p)) => return Some((false, p.to_vec())),
                None => std::thread::sleep(Duration::from_millis(5)),
            }
        }
        None
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

    /// An ICMP echo request from `src` to `dst`.
    fn echo_request(src: [u8; 4], dst: [u8; 4]) -> Vec<u8> {
        let mut p = vec![
            0x45, 0, 0, 28, 0x12, 0x34, 0, 0, 64, 1, 0, 0, // ver..proto, checksum
        ];
        p.extend_from_slice(&src);
        p.extend_from_slice(&dst);
        p.extend_from_slice(&[8, 0, 0, 0, 0xAB, 0xCD, 0, 1]);
        let c = checksum(&p[..20]).to_be_bytes();
        p[10..12].copy_from_slice(&c);
        let c = checksum(&p[20..]).to_be_bytes();
        p[22..24].copy_from_slice(&c);
        p
    }

    #[test]
    fn configures_address_mtu_and_exact_pool_routes() {
        run("tun configuration", || {
            let tun = open("smolpptp0");
            assert_eq!(tun.name().as_str(), "smolpptp0");
            let addr = sh("ip -4 addr show dev smolpptp0");
            assert!(addr.contains("inet 10.99.0.1 peer 10.99.0.2/32"), "{addr}");
            assert!(addr.contains("mtu 1400"), "{addr}");
            assert!(addr.contains(",UP,"), "{addr}");
            let routes = sh("ip -4 route show dev smolpptp0");
            for want in [
                "10.99.1.20/30",
                "10.99.1.24/30",
                "10.99.1.28/31",
                "10.99.1.30 ",
                "10.99.2.7 ",
            ] {
                assert!(routes.contains(want), "missing {want} in\n{routes}");
            }
            assert!(!routes.contains("10.99.1.16"), "{routes}");

            // A reload moves the pool.
            let mut moved = AddressList::default();
            moved
                .ranges
                .push(AddressRange {
                    first: "10.99.3.0".parse().unwrap(),
                    last: "10.99.3.255".parse().unwrap(),
                })
                .unwrap();
            tun.set_routes(&Control::open().unwrap(), &moved).unwrap();
            let routes = sh("ip -4 route show dev smolpptp0");
            assert!(routes.contains("10.99.3.0/24"), "{routes}");
            assert!(
                !routes.contains("10.99.1.") && !routes.contains("10.99.2.7"),
                "{routes}"
            );
            drop(tun);
            // We created it, so it is gone with the fd.
            assert!(!sh("ip link").contains("smolpptp0"));
        });
    }

    #[test]
    fn persistent_tun_is_left_down_without_our_routes() {
        run("persistent tun", || {
            sh("ip tuntap add dev smolp1 mode tun");
            let tun = open("smolp1");
            assert!(sh("ip -4 route show dev smolp1").contains("10.99.2.7"));
            drop(tun);
            assert!(sh("ip link show smolp1").contains("smolp1"));
            assert!(!sh("ip -4 route show dev smolp1").contains("10.99.2.7"));
        });
    }

    #[test]
    fn sorts_packets_by_destination_and_writes_back() {
        run("tun traffic", || {
            let tun = open("smolpptp0");
            let mut dev = TunDevice::new(&tun, Some("10.99.0.2".parse().unwrap()));
            let udp = std::net::UdpSocket::bind("10.99.0.1:0").unwrap();

            // Routed to the pool: handed back for the server.
            udp.send_to(b"to a client", "10.99.1.25:9").unwrap();
            let (local, p) = next(&mut dev).expect("pool packet");
            assert!(!local);
            assert_eq!(ipv4_destination(&p), Some("10.99.1.25".parse().unwrap()));
            assert!(p.ends_with(b"to a client"));

            // For smoltcp's own address: kept for receive(), exactly once.
            udp.send_to(b"to smoltcp", "10.99.0.2:1723").unwrap();
            let (local, p) = next(&mut dev).expect("local packet");
            assert!(local && p.ends_with(b"to smoltcp"));
            assert_eq!(dev.read(), Some(Ingress::Local), "still pending");
            let (rx, _tx) = dev.receive(Instant::ZERO).expect("pending packet");
            smoltcp::phy::RxToken::consume(rx, |b| assert!(b.ends_with(b"to smoltcp")));
            assert!(dev.receive(Instant::ZERO).is_none());

            // A client's decrypted ping to the router: the kernel answers into the TUN.
            assert!(tun.write_packet(&echo_request([10, 99, 1, 21], [10, 99, 0, 1])));
            let (local, p) = next(&mut dev).expect("echo reply");
            assert!(!local);
            assert_eq!(p[9], 1, "ICMP");
            assert_eq!(p[20], 0, "echo reply");
            assert_eq!(&p[12..16], &[10, 99, 0, 1]);
            assert_eq!(&p[16..20], &[10, 99, 1, 21]);
            assert!(dev.read().is_none());
        });
    }

    #[test]
    fn ipv6_link_local_address_and_traffic() {
        run("tun ipv6", || {
            let tun = open("smolpptp0");
            let mut dev = TunDevice::new(&tun, Some("10.99.0.2".parse().unwrap()));
            assert!(
                !sh("ip -6 addr show dev smolpptp0").contains("fe80"),
                "off by default"
            );
            tun.enable_ipv6([0x12, 0x34, 0, 0, 0, 0, 0, 1]).unwrap();
            let addr = sh("ip -6 addr show dev smolpptp0");
            assert!(addr.contains("inet6 fe80::1234:0:0:1/64"), "{addr}");
            assert_eq!(addr.matches("inet6").count(), 1, "{addr}");
            // To a client's link-local address: handed back for the server.
            let udp = std::net::UdpSocket::bind("[::]:0").unwrap();
            let index = Control::open().unwrap().index(tun.name()).unwrap();
            let to = std::net::SocketAddrV6::new("fe80::aa:1".parse().unwrap(), 9, 0, index);
            // Duplicate address detection may hold the first send back briefly.
            let start = StdInstant::now();
            let packet = loop {
                let _ = udp.send_to(b"to a v6 client", to);
                if let Some((local, p)) = next(&mut dev) {
                    if p[0] >> 4 == 6 && p.ends_with(b"to a v6 client") {
                        assert!(!local);
                        break p;
                    }
                }
                assert!(start.elapsed() < Duration::from_secs(5), "no IPv6 packet");
            };
            assert_eq!(
                &packet[24..40],
                &"fe80::aa:1".parse::<std::net::Ipv6Addr>().unwrap().octets()
            );
            assert_eq!(&packet[8..16], &[0xFE, 0x80, 0, 0, 0, 0, 0, 0]);
            assert_eq!(&packet[16..24], &[0x12, 0x34, 0, 0, 0, 0, 0, 1]);
        });
    }

    #[test]
    fn smoltcp_accepts_a_kernel_tcp_connection_through_the_device() {
        use smoltcp::iface::{Config, Interface, SocketSet, SocketStorage};
        use smoltcp::socket::tcp;
        use smoltcp::wire::{HardwareAddress, IpCidr};
        run("smoltcp over tun", || {
            let tun = open("smolpptp0");
            let mut dev = TunDevice::new(&tun, Some("10.99.0.2".parse().unwrap()));
            let now = crate::linux::clock::now;
            let mut iface = Interface::new(Config::new(HardwareAddress::Ip), &mut dev, now());
            iface.update_ip_addrs(|a| {
                a.push(IpCidr::new("10.99.0.2".parse().unwrap(), 32))
                    .unwrap()
            });
            iface
                .routes_mut()
                .add_default_ipv4_route("10.99.0.1".parse().unwrap())
                .unwrap();
            let (mut rx, mut tx) = ([0u8; 512], [0u8; 512]);
            let mut sock = tcp::Socket::new(
                tcp::SocketBuffer::new(&mut rx[..]),
                tcp::SocketBuffer::new(&mut tx[..]),
            );
            sock.listen(1723).unwrap();
            let mut storage = [SocketStorage::EMPTY];
            let mut sockets = SocketSet::new(&mut storage[..]);
            let h = sockets.add(sock);

            // The kernel side connects from a child process, which inherits this thread's
            // namespace (as threads spawned from here would, too).
            let mut child = std::process::Command::new("bash")
                .arg("-c")
                .arg("exec 3<>/dev/tcp/10.99.0.2/1723; echo hello >&3; sleep 0.3")
                .spawn()
                .expect("bash");
            let start = StdInstant::now();
            let mut got = Vec::new();
            while start.elapsed() < Duration::from_secs(3) && !got.ends_with(b"hello\n") {
                while let Some(i) = dev.read() {
                    if i == Ingress::Local {
                        iface.poll(now(), &mut dev, &mut sockets);
                    }
                }
                iface.poll(now(), &mut dev, &mut sockets);
                let s = sockets.get_mut::<tcp::Socket>(h);
                if s.can_recv() {
                    s.recv(|b| {
                        got.extend_from_slice(b);
                        (b.len(), ())
                    })
                    .unwrap();
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            let _ = child.wait();
            assert_eq!(got, b"hello\n");
        });
    }
}
