//! The `raw` backend's outside device (rust.md §2 option A): an AF_PACKET socket on the
//! Ethernet WAN/LAN interface, sharing the host's IP and MAC address, as a smoltcp `Device`
//! (Medium::Ethernet) with preallocated buffers.
//!
//! A classic BPF filter runs in the kernel so the process only wakes for ARP, TCP port 1723
//! and IP protocol 47 (GRE) addressed to our IP, not for every frame the router forwards.
//! Frames the host itself sends are skipped (PACKET_IGNORE_OUTGOING, and `sll_pkttype` for
//! kernels before 4.20). The kernel must be kept from answering the same packets (its RST
//! and ICMP); that is the firewall's input drop (`firewall.rs`). Client IP traffic still goes
//! through a TUN in this backend.

use super::device::{RxToken, Sink, TxToken};
use super::interface::{Control, IfName};
use super::neighbours::{Neighbours, HINT_LEN};
use crate::limits::DEVICE_MTU;
use core::cell::Cell;
use core::net::Ipv4Addr;
use smoltcp::phy::{Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Ethernet header (no VLAN tag: the kernel strips tags into metadata on receive).
pub const ETHERNET_HEADER_LEN: usize = 14;
/// Largest frame we read or write.
pub const MAX_FRAME: usize = DEVICE_MTU + ETHERNET_HEADER_LEN;
/// Frames handed to smoltcp per `Server::poll` so a flood cannot starve the TUN and the
/// signals; the rest wait for the next loop turn (the fd stays readable).
pub const RECEIVE_BUDGET: u16 = 64;

/// RFC 2637 §2: the PPTP control connection port.
const PPTP_PORT: u32 = 1723;

/// Where to listen.
#[derive(Clone, Copy, Debug)]
pub struct PacketConfig<'a> {
    /// The Ethernet interface clients reach us on, e.g. `eth0` or `br-lan`.
    pub interface: &'a str,
    /// Our IPv4 address there; None reads the interface's primary address.
    pub address: Option<Ipv4Addr>,
    /// Its prefix length; None reads the interface's netmask.
    pub prefix_len: Option<u8>,
}

// Classic BPF opcodes (linux/bpf_common.h).
const LD_H_ABS: u16 = 0x28;
const LD_W_ABS: u16 = 0x20;
const LD_B_ABS: u16 = 0x30;
const LD_H_IND: u16 = 0x48;
const LDX_B_MSH: u16 = 0xb1;
const JEQ_K: u16 = 0x15;
const JSET_K: u16 = 0x45;
const RET_K: u16 = 0x06;

const fn op(code: u16, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// The filter: ARP, or IPv4 to `address` that is GRE or TCP to port 1723 (non-first
/// fragments of TCP to us pass too, so reassembly can finish).
pub fn filter_program(address: Ipv4Addr) -> [libc::sock_filter; 15] {
    const ACCEPT: u8 = 13;
    const DROP: u8 = 14;
    // Jump offsets count from the next instruction.
    [
        op(LD_H_ABS, 0, 0, 12),                       // 0: EtherType
        op(JEQ_K, ACCEPT - 2, 0, 0x0806),             // 1: ARP
        op(JEQ_K, 0, DROP - 3, 0x0800),               // 2: IPv4 or drop
        op(LD_W_ABS, 0, 0, 30),                       // 3: destination address
        op(JEQ_K, 0, DROP - 5, u32::from(address)),   // 4
        op(LD_B_ABS, 0, 0, 23),                       // 5: protocol
        op(JEQ_K, ACCEPT - 7, 0, 47),                 // 6: GRE
        op(JEQ_K, 0, DROP - 8, 6),                    // 7: TCP or drop
        op(LD_H_ABS, 0, 0, 20),                       // 8: flags + fragment offset
        op(JSET_K, ACCEPT - 10, 0, 0x1fff),           // 9: not the first fragment
        op(LDX_B_MSH, 0, 0, 14),                      // 10: X = IP header length
        op(LD_H_IND, 0, 0, 14 + 2),                   // 11: TCP destination port
        op(JEQ_K, ACCEPT - 13, DROP - 13, PPTP_PORT), // 12
        op(RET_K, 0, 0, 0x0004_0000),                 // 13: ACCEPT whole frame
        op(RET_K, 0, 0, 0),                           // 14: DROP
    ]
}

/// The smoltcp `Device` over an AF_PACKET socket bound to one interface.
pub struct PacketDevice {
    fd: OwnedFd,
    name: IfName,
    mac: [u8; 6],
    address: Ipv4Addr,
    prefix_len: u8,
    mtu: usize,
    budget: u16,
    rx: [u8; MAX_FRAME],
    rx_len: usize,
    /// `rx` holds a frame not handed to smoltcp yet (a hint went first).
    held: bool,
    tx: [u8; MAX_FRAME],
    neighbours: Neighbours,
    hint: [u8; HINT_LEN],
    /// The address of the last ARP request smoltcp sent (set by the `TxToken`).
    wanted: Cell<Option<u32>>,
}

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

impl PacketDevice {
    /// [`Self::open_in`] into a fresh slot (the tests' way; the daemon opens in place).
    pub fn open(config: &PacketConfig) -> io::Result<PacketDevice> {
        let mut slot = None;
        Self::open_in(&mut slot, config)?;
        slot.ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))
    }

    /// Open the socket and put the device in `slot`, which is left as it was on an error.
    /// Written in place (the caller's slot is on the heap) rather than returned: the device
    /// is kilobytes of buffers, and a returned one is built in a stack frame and copied.
    /// Out of line on ARM only (-64 B armv7; inlined, `devices` addresses its large frame with
    /// longer instructions); on x86 that costs 140 B.
    #[cfg_attr(target_arch = "arm", inline(never))]
    pub fn open_in<'s>(
        slot: &'s mut Option<PacketDevice>,
        config: &PacketConfig,
    ) -> io::Result<&'s mut PacketDevice> {
        let name = IfName::new(config.interface)?;
        let ctl = Control::open()?;
        let index = ctl.index(&name)?;
        let mac = ctl.mac(&name)?;
        let address = match config.address {
            Some(a) => a,
            None => ctl.address(&name)?,
        };
        let prefix_len = match config.prefix_len {
            Some(p) => p,
            None => ctl.prefix_len(&name)?,
        };
        let mtu = usize::from(ctl.mtu(&name)?).min(DEVICE_MTU) + ETHERNET_HEADER_LEN;

        // Protocol 0 receives nothing until bind: the filter is in place before any frame.
        let fd = check(super::sys::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        ))?;
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let mut program = filter_program(address);
        let fprog = libc::sock_fprog {
            len: program.len() as libc::c_ushort,
            filter: program.as_mut_ptr(),
        };
        setsockopt(&fd, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &fprog)?;
        // Since Linux 4.20; older kernels are covered by the sll_pkttype check.
        let _ = setsockopt(&fd, libc::SOL_PACKET, libc::PACKET_IGNORE_OUTGOING, &1i32);

        let mut sll: libc::sockaddr_ll = unsafe { core::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as libc::c_ushort;
        sll.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
        sll.sll_ifindex = index as libc::c_int;
        check(unsafe {
            super::sys::bind(
                fd.as_raw_fd(),
                (&sll as *const libc::sockaddr_ll).cast(),
                core::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        })?;
        Ok(slot.insert(PacketDevice {
            fd,
            name,
            mac,
            address,
            prefix_len,
            mtu,
            budget: RECEIVE_BUDGET,
            rx: [0; MAX_FRAME],
            rx_len: 0,
            held: false,
            tx: [0; MAX_FRAME],
            neighbours: Neighbours::new(mac, address, prefix_len),
            hint: [0; HINT_LEN],
            wanted: Cell::new(None),
        }))
    }

    pub fn name(&self) -> &IfName {
        &self.name
    }
    /// The interface's MAC: smoltcp's hardware address.
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }
    /// The IPv4 address the filter passes: smoltcp's address.
    pub fn address(&self) -> Ipv4Addr {
        self.address
    }
    /// The prefix length of that address on the interface.
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// Whether `receive` has something for smoltcp without reading the socket: the loop
    /// must not sleep on the fd then.
    pub fn has_pending(&mut self) -> bool {
        if let Some(address) = self.wanted.take() {
            self.neighbours.want(address);
        }
        self.held || self.neighbours.has_wanted()
    }

    /// Allow another `RECEIVE_BUDGET` frames; the loop calls this once per turn.
    pub fn refill_budget(&mut self) {
        self.budget = RECEIVE_BUDGET;
    }

    /// Next incoming frame into `rx`; skips frames the host sent and oversized frames.
    fn read_frame(&mut self) -> Option<usize> {
        loop {
            let mut from: libc::sockaddr_ll = unsafe { core::mem::zeroed() };
            let mut from_len = core::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
            let n = unsafe {
                super::sys::recvfrom(
                    self.fd.as_raw_fd(),
                    self.rx.as_mut_ptr().cast(),
                    self.rx.len(),
                    libc::MSG_TRUNC,
                    (&mut from as *mut libc::sockaddr_ll).cast(),
                    &mut from_len,
                )
            };
            if n <= 0 {
                return None;
            }
            let n = n as usize;
            if from.sll_pkttype == libc::PACKET_OUTGOING || n > self.rx.len() {
                continue;
            }
            return Some(n);
        }
    }

    pub(super) fn send_frame(fd: RawFd, frame: &[u8]) {
        // A full queue drops the frame; TCP and the peers' PPP retransmit.
        super::sys::send(fd, frame, libc::MSG_DONTWAIT);
    }
}

fn setsockopt<T>(fd: &OwnedFd, level: i32, name: i32, value: &T) -> io::Result<()> {
    check(unsafe {
        super::sys::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            core::mem::size_of::<T>() as libc::socklen_t,
        )
    })
    .map(|_| ())
}

impl AsRawFd for PacketDevice {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl Device for PacketDevice {
    type RxToken<'a>
        = RxToken<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = TxToken<'a>
    where
        Self: 'a;

    fn receive(&mut self, now: Instant) -> Option<(RxToken<'_>, TxToken<'_>)> {
        // A neighbour smoltcp just asked for goes first (`neighbours.rs`).
        if let Some(address) = self.wanted.take() {
            self.neighbours.want(address);
        }
        let mut hint = self.neighbours.take_wanted(now);
        if hint.is_none() && !self.held {
            if self.budget == 0 {
                return None;
            }
            self.rx_len = self.read_frame()?;
            self.budget -= 1;
            // A sender smoltcp does not know yet goes before its frame.
            hint = self.neighbours.received(&self.rx[..self.rx_len], now);
            self.held = hint.is_some();
        } else if hint.is_none() {
            self.held = false;
        }
        let frame = match hint {
            Some(neighbour) => {
                self.neighbours.hint(neighbour, &mut self.hint);
                &self.hint[..]
            }
            None => &self.rx[..self.rx_len],
        };
        Some((
            RxToken(frame),
            TxToken {
                buf: &mut self.tx,
                sink: Sink::Packet(self.fd.as_raw_fd(), &self.wanted),
            },
        ))
    }

    fn transmit(&mut self, _: Instant) -> Option<TxToken<'_>> {
        Some(TxToken {
            buf: &mut self.tx,
            sink: Sink::Packet(self.fd.as_raw_fd(), &self.wanted),
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = self.mtu;
        caps
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linux::testns::{run, sh};
    use smoltcp::phy::{RxToken, TxToken};
    use std::time::{Duration, Instant as StdInstant};

    const OUR_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0xA];

    /// An Ethernet + IPv4 frame to `dst` with `protocol`, payload starting with `l4`.
    fn frame(dst: [u8; 4], protocol: u8, frag: u16, l4: &[u8]) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&OUR_MAC);
        f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0xB]);
        f.extend_from_slice(&[0x08, 0x00]);
        let total = (20 + l4.len()) as u16;
        f.extend_from_slice(&[0x45, 0]);
        f.extend_from_slice(&total.to_be_bytes());
        f.extend_from_slice(&[0, 1]);
        f.extend_from_slice(&frag.to_be_bytes());
        f.extend_from_slice(&[64, protocol, 0, 0, 10, 98, 0, 2]);
        f.extend_from_slice(&dst);
        f.extend_from_slice(l4);
        f
    }

    fn tcp_to(port: u16) -> Vec<u8> {
        let mut t = vec![0x30, 0x39];
        t.extend_from_slice(&port.to_be_bytes());
        t.extend_from_slice(&[0; 16]);
        t
    }

    fn arp() -> Vec<u8> {
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0xB, 0x08, 0x06]);
        f.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
        f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0xB, 10, 98, 0, 2]);
        f.extend_from_slice(&[0; 6]);
        f.extend_from_slice(&[10, 98, 0, 1]);
        f
    }

    fn collect(dev: &mut PacketDevice) -> Vec<Vec<u8>> {
        let mut got = Vec::new();
        let start = StdInstant::now();
        while start.elapsed() < Duration::from_millis(300) {
            dev.refill_budget();
            while let Some((rx, _)) = dev.receive(Instant::ZERO) {
                rx.consume(|b| got.push(b.to_vec()));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        got
    }

    #[test]
    fn filter_passes_only_arp_pptp_and_gre_to_us() {
        run("AF_PACKET filter", || {
            sh("ip link add smA address 02:00:00:00:00:0a type veth peer name smB address 02:00:00:00:00:0b");
            sh("ip addr add 10.98.0.1/24 dev smA && ip link set smA up && ip link set smB up");
            std::thread::sleep(Duration::from_millis(100));
            let mut dev = PacketDevice::open(&PacketConfig {
                interface: "smA",
                address: None,
                prefix_len: None,
            })
            .expect("packet socket");
            assert_eq!(dev.address(), Ipv4Addr::new(10, 98, 0, 1), "read via ioctl");
            assert_eq!(dev.mac(), OUR_MAC);
            assert_eq!(dev.capabilities().max_transmission_unit, 1514);
            let mut peer = PacketDevice::open(&PacketConfig {
                interface: "smB",
                address: Some(Ipv4Addr::new(10, 98, 0, 2)),
                prefix_len: Some(24),
            })
            .unwrap();
            let _ = collect(&mut dev); // IPv6 DAD and the like from bringing links up

            let us = [10, 98, 0, 1];
            let wanted = [
                frame(us, 6, 0x4000, &tcp_to(1723)),
                frame(us, 47, 0, &[0x30, 0x81, 0x88, 0x0b]),
                frame(us, 6, 0x0010, &[0; 8]), // a later TCP fragment
                arp(),
            ];
            let unwanted = [
                frame(us, 6, 0, &tcp_to(80)),
                frame(us, 17, 0, &tcp_to(1723)),
                frame([10, 98, 0, 7], 6, 0, &tcp_to(1723)),
                frame([10, 98, 0, 7], 47, 0, &[0; 4]),
            ];
            for f in unwanted.iter().chain(wanted.iter()) {
                let tx = peer.transmit(Instant::ZERO).unwrap();
                tx.consume(f.len(), |b| b.copy_from_slice(f));
            }
            // Before the first frame from 10.98.0.2, smoltcp is told where that is: a
            // synthetic ARP reply from it to us (neighbours.rs).
            let mut hint = OUR_MAC.to_vec();
            hint.extend_from_slice(&[0x02, 0, 0, 0, 0, 0xB, 0x08, 0x06]);
            hint.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 2]);
            hint.extend_from_slice(&[0x02, 0, 0, 0, 0, 0xB, 10, 98, 0, 2]);
            hint.extend_from_slice(&OUR_MAC);
            hint.extend_from_slice(&[10, 98, 0, 1]);
            let got = collect(&mut dev);
            assert_eq!(got.len(), 1 + wanted.len(), "{got:02x?}");
            assert_eq!(got[0], hint);
            for (g, w) in got[1..].iter().zip(wanted.iter()) {
                assert_eq!(&g[..w.len()], &w[..]);
            }

            // Our own transmissions are not read back.
            let f = frame([10, 98, 0, 2], 47, 0, &[0; 4]);
            let tx = dev.transmit(Instant::ZERO).unwrap();
            tx.consume(f.len(), |b| b.copy_from_slice(&f));
            assert!(collect(&mut dev).is_empty());
            // ...but they reach the other end.
            assert!(!collect(&mut peer).is_empty());
        });
    }

    /// smoltcp's ARP request for a sender the device has seen is answered from its table on
    /// the next receive, before anything from the wire and without waiting for the fd.
    #[test]
    fn an_arp_request_for_a_known_sender_is_answered_at_once() {
        run("neighbour hints", || {
            sh("ip link add smA address 02:00:00:00:00:0a type veth peer name smB address 02:00:00:00:00:0b");
            sh("ip addr add 10.98.0.1/24 dev smA && ip link set smA up && ip link set smB up");
            let mut dev = PacketDevice::open(&PacketConfig {
                interface: "smA",
                address: None,
                prefix_len: None,
            })
            .unwrap();
            let mut peer = PacketDevice::open(&PacketConfig {
                interface: "smB",
                address: Some(Ipv4Addr::new(10, 98, 0, 2)),
                prefix_len: Some(24),
            })
            .unwrap();
            let _ = collect(&mut dev);
            let f = frame([10, 98, 0, 1], 47, 0, &[0x30, 0x81, 0x88, 0x0b]);
            let tx = peer.transmit(Instant::ZERO).unwrap();
            tx.consume(f.len(), |b| b.copy_from_slice(&f));
            let got = collect(&mut dev);
            assert_eq!(got.len(), 2, "hint and frame: {got:02x?}");
            let hint = got[0].clone();
            assert!(!dev.has_pending());

            // smoltcp asks for 10.98.0.2, then for an address nobody sent from.
            let mut request = vec![0xff; 6];
            request.extend_from_slice(&[0x02, 0, 0, 0, 0, 0xA, 0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1]);
            request.extend_from_slice(&[0x02, 0, 0, 0, 0, 0xA, 10, 98, 0, 1]);
            request.extend_from_slice(&[0; 6]);
            request.extend_from_slice(&[10, 98, 0, 2]);
            let tx = dev.transmit(Instant::from_secs(1)).unwrap();
            tx.consume(request.len(), |b| b.copy_from_slice(&request));
            assert!(dev.has_pending());
            let (rx, _) = dev.receive(Instant::from_secs(1)).expect("the hint");
            assert!(rx.consume(|b| b == hint));
            assert!(!dev.has_pending());
            assert!(dev.receive(Instant::from_secs(1)).is_none());

            request[41] = 9;
            let tx = dev.transmit(Instant::from_secs(2)).unwrap();
            tx.consume(request.len(), |b| b.copy_from_slice(&request));
            assert!(!dev.has_pending());
            assert!(dev.receive(Instant::from_secs(2)).is_none());
            // The requests went out on the wire as smoltcp wrote them.
            let sent = collect(&mut peer);
            assert!(sent.iter().any(|f| f[..] == request[..]), "{sent:02x?}");
        });
    }

    #[test]
    fn receive_budget_bounds_one_poll() {
        run("AF_PACKET budget", || {
            sh("ip link add smA type veth peer name smB && ip addr add 10.98.0.1/24 dev smA");
            sh("ip link set smA up && ip link set smB up");
            let mut dev = PacketDevice::open(&PacketConfig {
                interface: "smA",
                address: None,
                prefix_len: None,
            })
            .unwrap();
            let mut peer = PacketDevice::open(&PacketConfig {
                interface: "smB",
                address: Some(Ipv4Addr::new(10, 98, 0, 2)),
                prefix_len: Some(24),
            })
            .unwrap();
            let f = arp();
            for _ in 0..(RECEIVE_BUDGET + 10) {
                let tx = peer.transmit(Instant::ZERO).unwrap();
                tx.consume(f.len(), |b| b.copy_from_slice(&f));
            }
            std::thread::sleep(Duration::from_millis(50));
            let mut n = 0;
            while dev.receive(Instant::ZERO).is_some() {
                n += 1;
            }
            assert_eq!(n, RECEIVE_BUDGET);
            dev.refill_budget();
            assert!(dev.receive(Instant::ZERO).is_some());
        });
    }

    #[test]
    fn program_jumps_stay_inside() {
        let p = filter_program(Ipv4Addr::new(192, 0, 2, 1));
        for (i, ins) in p.iter().enumerate() {
            if ins.code & 0x07 == 0x05 {
                assert!(i + 1 + (ins.jt as usize) < p.len());
                assert!(i + 1 + (ins.jf as usize) < p.len());
            }
        }
        assert_eq!(p[4].k, 0xC000_0201);
        assert_eq!(p[12].k, 1723);
    }

    /// rust.md §2 option A with our own code: smoltcp shares the router's address and MAC on
    /// the veth through this device, the firewall keeps the kernel from answering, and a
    /// client in another namespace gets a TCP echo on 1723 and a GRE reflection.
    #[test]
    fn raw_backend_end_to_end_beside_the_kernel() {
        use crate::linux::firewall::{self, Firewall, FirewallConfig, Mode};
        use crate::linux::testns::{run_client_against, ClientNs, Reflector};
        use crate::settings::AddressList;
        use smoltcp::iface::{Config, Interface};
        use smoltcp::wire::{EthernetAddress, HardwareAddress, IpCidr};
        use std::process::Command;
        if !firewall::nft_available() || Command::new("ethtool").arg("--version").output().is_err()
        {
            eprintln!("skipping: needs nft and ethtool");
            return;
        }
        run("option A end to end", || {
            // veth hands over CHECKSUM_PARTIAL frames; a real NIC's are complete.
            let client = ClientNs::new(
                "smolcla",
                "ip netns exec {ns} ethtool -K cl0 tx off >/dev/null",
            );
            let mut dev = PacketDevice::open(&PacketConfig {
                interface: "rt0",
                address: None,
                prefix_len: None,
            })
            .unwrap();
            let pool = AddressList::default();
            let _fw = Firewall::install(&FirewallConfig {
                mode: Mode::Raw {
                    address: dev.address(),
                },
                tun: "smolpptp0",
                wan: Some("rt0"),
                public_address: None,
                listen: None,
                pool: &pool,
                forwarding: false,
            })
            .unwrap();

            let now = crate::linux::clock::now;
            let hw = HardwareAddress::Ethernet(EthernetAddress(dev.mac()));
            let mut iface = Interface::new(Config::new(hw), &mut dev, now());
            let ours = dev.address();
            iface.update_ip_addrs(|a| a.push(IpCidr::new(ours.into(), 24)).unwrap());
            let mut reflector = Reflector::new();
            run_client_against(&client.0, || {
                dev.refill_budget();
                iface.poll(now(), &mut dev, &mut reflector.sockets);
                reflector.serve();
                iface.poll(now(), &mut dev, &mut reflector.sockets);
            });
            // The kernel stayed silent: no RST for 1723, no protocol-unreachable for GRE.
            let stats = sh("nstat -az TcpOutRsts IcmpOutDestUnreachs");
            for line in stats
                .lines()
                .filter(|l| l.starts_with("Tcp") || l.starts_with("Icmp"))
            {
                let count: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
                assert_eq!(count, 0, "{line}");
            }
        });
    }
}
