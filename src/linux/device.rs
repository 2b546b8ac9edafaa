//! The daemon's one smoltcp `Device`, whichever the backend: [`Devices`] hands smoltcp the
//! AF_PACKET socket in the `raw` backend and the TUN in the `tun` backend.
//!
//! One concrete type, so smoltcp's `Interface` (poll_egress, dispatch_ip, ...) and the
//! server's poll path are compiled once instead of once per backend: several KiB of a
//! router's binary. Both backends' devices hand out the same [`RxToken`] and [`TxToken`],
//! so forwarding to them costs one branch and no copy. The medium (Ip for the TUN,
//! Ethernet for the packet socket) is picked at run time: smoltcp reads the capabilities
//! once in `Interface::new` and branches on the stored medium from then on.

use super::neighbours::arp_request_target;
use super::packet::PacketDevice;
use super::tun::{Tun, TunDevice};
use core::cell::Cell;
use smoltcp::phy::{self, Device, DeviceCapabilities};
use smoltcp::time::Instant;
use std::os::fd::RawFd;

/// The devices of one backend.
pub struct Devices<'t> {
    /// Client traffic; in the `tun` backend also PPTP (its smoltcp address is set).
    pub tun: TunDevice<'t>,
    /// The `raw` backend's outside device. When present it is smoltcp's device, and the TUN
    /// must have no smoltcp address (it then never holds a packet for smoltcp).
    pub packet: Option<PacketDevice>,
}

/// A received packet or frame, in its device's receive buffer.
pub struct RxToken<'a>(pub(super) &'a [u8]);

impl phy::RxToken for RxToken<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.0)
    }
}

/// Where a [`TxToken`]'s buffer goes once smoltcp filled it.
#[derive(Clone, Copy)]
pub(super) enum Sink<'a> {
    Tun(&'a Tun),
    /// The packet socket, and where to note the address of an ARP request smoltcp sends.
    Packet(RawFd, &'a Cell<Option<u32>>),
}

/// The device's transmit buffer and where it goes.
pub struct TxToken<'a> {
    pub(super) buf: &'a mut [u8],
    pub(super) sink: Sink<'a>,
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let len = len.min(self.buf.len());
        // `f` once, outside the branch: it is smoltcp's whole packet emitter.
        let r = f(&mut self.buf[..len]);
        self.sink.send(&self.buf[..len]);
        r
    }
}

impl Sink<'_> {
    /// Out of line: smoltcp consumes transmit tokens in several places, and each would get
    /// its own copy of both backends' sending.
    #[inline(never)]
    fn send(self, packet: &[u8]) {
        match self {
            Sink::Tun(tun) => {
                tun.write_packet(packet);
            }
            Sink::Packet(fd, wanted) => {
                if let Some(address) = arp_request_target(packet) {
                    wanted.set(Some(address));
                }
                PacketDevice::send_frame(fd, packet)
            }
        }
    }
}

impl Device for Devices<'_> {
    type RxToken<'a>
        = RxToken<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = TxToken<'a>
    where
        Self: 'a;

    // Out of line on ARM and x86, which makes `Server::ingress` and `poll_egress` smaller
    // (-100 B on armv7, -192 B on i586); not on MIPS, where it grows them (+64 B on mipsel).
    #[cfg_attr(not(target_arch = "mips"), inline(never))]
    fn receive(&mut self, now: Instant) -> Option<(RxToken<'_>, TxToken<'_>)> {
        match self.packet.as_mut() {
            Some(packet) => packet.receive(now),
            None => self.tun.receive(now),
        }
    }

    #[cfg_attr(not(target_arch = "mips"), inline(never))]
    fn transmit(&mut self, now: Instant) -> Option<TxToken<'_>> {
        match self.packet.as_mut() {
            Some(packet) => packet.transmit(now),
            None => self.tun.transmit(now),
        }
    }

    fn capabilities(&self) -> DeviceCapabilities {
        match self.packet.as_ref() {
            Some(packet) => packet.capabilities(),
            None => self.tun.capabilities(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::DEVICE_MTU;
    use crate::linux::packet::{PacketConfig, ETHERNET_HEADER_LEN};
    use crate::linux::testns::{run, sh};
    use crate::linux::tun::{Ingress, TunConfig};
    use crate::settings::AddressList;
    use core::net::Ipv4Addr;
    use smoltcp::phy::{Medium, RxToken as _, TxToken as _};
    use std::time::{Duration, Instant as StdInstant};

    /// UDP from smoltcp's address 10.99.0.2:4000 to the kernel's 10.99.0.1, without a UDP
    /// checksum (optional in IPv4).
    fn udp_to_kernel(port: u16, payload: &[u8]) -> Vec<u8> {
        let total = (28 + payload.len()) as u16;
        let mut p = vec![0x45, 0];
        p.extend_from_slice(&total.to_be_bytes());
        p.extend_from_slice(&[0, 1, 0, 0, 64, 17, 0, 0, 10, 99, 0, 2, 10, 99, 0, 1]);
        let mut sum: u32 = p
            .chunks(2)
            .map(|c| u32::from(c[0]) << 8 | u32::from(c[1]))
            .sum();
        while sum > 0xFFFF {
            sum = (sum & 0xFFFF) + (sum >> 16);
        }
        p[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
        p.extend_from_slice(&4000u16.to_be_bytes());
        p.extend_from_slice(&port.to_be_bytes());
        p.extend_from_slice(&(total - 20).to_be_bytes());
        p.extend_from_slice(&[0, 0]);
        p.extend_from_slice(payload);
        p
    }

    /// An ARP request from `from` (MAC 02::0`from`) for 10.98.0.`target`.
    fn arp(from: u8, target: u8) -> Vec<u8> {
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&[0x02, 0, 0, 0, 0, from, 0x08, 0x06]);
        f.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
        f.extend_from_slice(&[0x02, 0, 0, 0, 0, from, 10, 98, 0, from]);
        f.extend_from_slice(&[0; 6]);
        f.extend_from_slice(&[10, 98, 0, target]);
        f
    }

    /// Whether `device` receives `want` within 5 s (a loaded CI machine can stall a veth
    /// frame for most of a second).
    fn receives<D: Device>(device: &mut D, want: &[u8]) -> bool {
        let start = StdInstant::now();
        while start.elapsed() < Duration::from_secs(5) {
            while let Some((rx, _tx)) = device.receive(Instant::ZERO) {
                if rx.consume(|b| b == want) {
                    return true;
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    #[test]
    fn tun_backend_uses_the_tun_raw_backend_the_packet_socket() {
        run("daemon device", || {
            let tun = Tun::open(&TunConfig {
                name: "smolpptp0",
                address: Ipv4Addr::new(10, 99, 0, 1),
                peer: Some(Ipv4Addr::new(10, 99, 0, 2)),
                prefix_len: 32,
                mtu: 1500,
                routes: &AddressList::default(),
            })
            .unwrap();
            let udp = std::net::UdpSocket::bind("10.99.0.1:0").unwrap();
            udp.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let port = udp.local_addr().unwrap().port();

            // tun backend: Medium::Ip, packets both ways through the TUN.
            let mut devices = Devices {
                tun: TunDevice::new(&tun, Some(Ipv4Addr::new(10, 99, 0, 2))),
                packet: None,
            };
            let caps = devices.capabilities();
            assert_eq!(caps.medium, Medium::Ip);
            assert_eq!(caps.max_transmission_unit, DEVICE_MTU);
            let p = udp_to_kernel(port, b"from smoltcp");
            let tx = devices.transmit(Instant::ZERO).unwrap();
            tx.consume(p.len(), |b| b.copy_from_slice(&p));
            let mut buf = [0u8; 64];
            let (n, from) = udp.recv_from(&mut buf).unwrap();
            assert_eq!(&buf[..n], b"from smoltcp");
            assert_eq!(from, "10.99.0.2:4000".parse().unwrap());

            udp.send_to(b"to smoltcp", "10.99.0.2:1723").unwrap();
            let start = StdInstant::now();
            while !matches!(devices.tun.read(), Some(Ingress::Local)) {
                assert!(start.elapsed() < Duration::from_secs(1), "no packet");
                std::thread::sleep(Duration::from_millis(10));
            }
            let (rx, _tx) = devices.receive(Instant::ZERO).expect("the TUN's packet");
            assert!(rx.consume(|b| b.ends_with(b"to smoltcp")));
            assert!(devices.receive(Instant::ZERO).is_none());

            // raw backend: Medium::Ethernet, frames both ways on the packet socket; a packet
            // waiting in the TUN is not smoltcp's.
            sh("ip link add smA address 02:00:00:00:00:01 type veth peer name smB address 02:00:00:00:00:02");
            sh("ip addr add 10.98.0.1/24 dev smA && ip link set smA up && ip link set smB up");
            let packet = PacketDevice::open(&PacketConfig {
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
            let mut devices = Devices {
                tun: TunDevice::new(&tun, None),
                packet: Some(packet),
            };
            let caps = devices.capabilities();
            assert_eq!(caps.medium, Medium::Ethernet);
            assert_eq!(
                caps.max_transmission_unit,
                1500.min(DEVICE_MTU) + ETHERNET_HEADER_LEN
            );
            assert!(devices.tun.inject(&p));
            assert!(devices.receive(Instant::ZERO).is_none());

            let f = arp(2, 1);
            let tx = peer.transmit(Instant::ZERO).unwrap();
            tx.consume(f.len(), |b| b.copy_from_slice(&f));
            assert!(receives(&mut devices, &f), "frame from smB");
            let f = arp(1, 2);
            let tx = devices.transmit(Instant::ZERO).unwrap();
            tx.consume(f.len(), |b| b.copy_from_slice(&f));
            assert!(receives(&mut peer, &f), "frame to smB");
        });
    }
}
