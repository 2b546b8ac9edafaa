//! pppd's `proxyarp`: while a session is up, the router answers ARP for the client's tunnel
//! address on the LAN whose subnet holds it, so LAN hosts reach a client whose `remoteip`
//! lies inside their subnet (Debian's pptpd-options sets it; the usual "VPN into the home
//! LAN" set-up needs it).
//!
//! Done the way pppd does it (`sys-linux.c` `sifproxyarp`/`get_ether_addr`): find the up,
//! broadcast-capable, ARP-speaking interface whose IPv4 subnet contains the client address,
//! and add a published permanent ARP entry (SIOCSARP, ATF_PUBL) with that interface's MAC;
//! the kernel answers from then on. Removed when the session ends and at exit. No
//! allocation: the interface list is read into a fixed buffer.

use super::interface::{prefix_mask, sockaddr, sockaddr_ipv4, Control, IfName};
use crate::limits::MAX_SESSIONS;
use core::net::Ipv4Addr;
use std::io;

/// ARP entry flags (<linux/if_arp.h>).
const ATF_COM: libc::c_int = 0x02;
const ATF_PERM: libc::c_int = 0x04;
const ATF_PUBL: libc::c_int = 0x08;

/// Interfaces (address labels) looked at: a router has a handful.
const MAX_INTERFACES: usize = 64;

/// `struct ifconf` with the buffer pointer (the libc type wraps it in a union).
#[repr(C)]
struct IfConf {
    len: libc::c_int,
    buf: *mut libc::ifreq,
}

/// The proxy ARP entries this daemon added, by session.
pub struct ProxyArp {
    control: Control,
    entries: heapless::Vec<(u16, Ipv4Addr, IfName), MAX_SESSIONS>,
    /// Entries published since start.
    published: u64,
}

/// The interface that would carry ARP for `client`, and its MAC.
pub struct Lan {
    pub name: IfName,
    pub mac: [u8; 6],
}

impl ProxyArp {
    pub fn new() -> io::Result<ProxyArp> {
        Ok(ProxyArp {
            control: Control::open()?,
            entries: heapless::Vec::new(),
            published: 0,
        })
    }

    /// The LAN interface for `client`, like pppd's `get_ether_addr`: up, broadcast, ARP, not
    /// loopback or point-to-point, with an IPv4 subnet that contains `client`. Among several,
    /// the longest prefix wins.
    pub fn lan_for(&self, client: Ipv4Addr) -> io::Result<Option<Lan>> {
        let mut reqs: [libc::ifreq; MAX_INTERFACES] = unsafe { core::mem::zeroed() };
        let mut conf = IfConf {
            len: core::mem::size_of_val(&reqs) as libc::c_int,
            buf: reqs.as_mut_ptr(),
        };
        self.control.ioctl(libc::SIOCGIFCONF, &mut conf)?;
        let count =
            (conf.len.max(0) as usize / core::mem::size_of::<libc::ifreq>()).min(MAX_INTERFACES);
        let mut best: Option<(u8, IfName)> = None;
        for req in &reqs[..count] {
            let name = IfName::from_c(&req.ifr_name);
            // One request for the flags, the address and the netmask in turn (each answer
            // overwrites the last); the name stays.
            let mut r = name.ifreq();
            let ctl = &self.control;
            if ctl.ioctl(libc::SIOCGIFFLAGS, &mut r).is_err() {
                continue;
            }
            // SAFETY: SIOCGIFFLAGS filled the flags.
            let flags = libc::c_int::from(unsafe { r.ifr_ifru.ifru_flags }) & 0xFFFF;
            let wanted = libc::IFF_UP | libc::IFF_BROADCAST;
            let unwanted = libc::IFF_LOOPBACK | libc::IFF_POINTOPOINT | libc::IFF_NOARP;
            if flags & wanted != wanted || flags & unwanted != 0 {
                continue;
            }
            if ctl.ioctl(libc::SIOCGIFADDR, &mut r).is_err() {
                continue;
            }
            // SAFETY: SIOCGIFADDR filled the address.
            let address = sockaddr_ipv4(unsafe { &r.ifr_ifru.ifru_addr });
            if ctl.ioctl(libc::SIOCGIFNETMASK, &mut r).is_err() {
                continue;
            }
            // SAFETY: SIOCGIFNETMASK filled the netmask.
            let netmask = u32::from(sockaddr_ipv4(unsafe { &r.ifr_ifru.ifru_netmask }));
            let prefix = netmask.leading_ones() as u8;
            let mask = u32::from(prefix_mask(prefix));
            if u32::from(address) & mask != u32::from(client) & mask {
                continue;
            }
            if best.is_none_or(|(p, _)| prefix > p) {
                best = Some((prefix, name));
            }
        }
        let Some((_, name)) = best else {
            return Ok(None);
        };
        let mac = self.control.mac(&name)?;
        Ok(Some(Lan { name, mac }))
    }

    /// Publish `client` on its LAN for session `call_id`. Ok(None): no LAN subnet holds it
    /// (pppd: "Cannot determine ethernet address for proxy ARP").
    pub fn add(&mut self, call_id: u16, client: Ipv4Addr) -> io::Result<Option<IfName>> {
        let Some(lan) = self.lan_for(client)? else {
            return Ok(None);
        };
        let mut req = arpreq(client, &lan.name);
        req.arp_ha.sa_family = libc::ARPHRD_ETHER;
        for (d, s) in req.arp_ha.sa_data.iter_mut().zip(lan.mac) {
            *d = s as libc::c_char;
        }
        req.arp_flags = ATF_PERM | ATF_PUBL | ATF_COM;
        self.control.ioctl(libc::SIOCSARP, &mut req)?;
        if self.entries.push((call_id, client, lan.name)).is_err() {
            // More than the session table holds cannot happen; do not leave it behind.
            let _ = self.delete(client, &lan.name);
            return Err(super::io_error(
                io::ErrorKind::OutOfMemory,
                format_args!("out of memory"),
            ));
        }
        self.published += 1;
        Ok(Some(lan.name))
    }

    /// Entries published since start.
    pub fn published(&self) -> u64 {
        self.published
    }

    /// Withdraw session `call_id`'s entry, if it has one.
    pub fn remove(&mut self, call_id: u16) -> io::Result<()> {
        let Some(i) = self.entries.iter().position(|e| e.0 == call_id) else {
            return Ok(());
        };
        let (_, client, name) = self.entries.swap_remove(i);
        self.delete(client, &name)
    }

    fn delete(&self, client: Ipv4Addr, name: &IfName) -> io::Result<()> {
        let mut req = arpreq(client, name);
        req.arp_flags = ATF_PUBL;
        self.control.ioctl(libc::SIOCDARP, &mut req)
    }
}

impl Drop for ProxyArp {
    fn drop(&mut self) {
        // Read in place: moving the table out first copied all of it.
        for (_, client, name) in &self.entries {
            let _ = self.delete(*client, name);
        }
    }
}

fn arpreq(client: Ipv4Addr, dev: &IfName) -> libc::arpreq {
    let mut req: libc::arpreq = unsafe { core::mem::zeroed() };
    req.arp_pa = sockaddr(client);
    for (d, s) in req.arp_dev.iter_mut().zip(dev.as_str().bytes()) {
        *d = s as libc::c_char;
    }
    req
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linux::testns::{run, sh};

    fn proxies() -> String {
        sh("ip -4 neigh show proxy")
    }

    #[test]
    fn publishes_on_the_lan_that_holds_the_client_and_withdraws() {
        run("proxy ARP", || {
            sh("ip link add lanA type veth peer name lanB && ip addr add 10.97.0.1/16 dev lanA");
            sh("ip link add lanC type veth peer name lanD && ip addr add 10.97.5.1/24 dev lanC");
            sh("ip link add lanG type veth peer name lanH && ip addr add 10.96.0.1/24 dev lanG");
            sh("ip link set lanG arp off");
            sh("ip link set lanA up && ip link set lanC up && ip link set lanG up");
            // Down, or without ARP, or no subnet: not a LAN for proxy ARP.
            sh("ip link add lanE type veth peer name lanF && ip addr add 10.95.0.1/24 dev lanE");
            let mut p = ProxyArp::new().unwrap();
            let mac_c = Control::open()
                .unwrap()
                .mac(&IfName::new("lanC").unwrap())
                .unwrap();

            // The longest prefix wins: 10.97.5.9 is in both lanA's /16 and lanC's /24.
            let lan = p.lan_for(Ipv4Addr::new(10, 97, 5, 9)).unwrap().unwrap();
            assert_eq!((lan.name.as_str(), lan.mac), ("lanC", mac_c));
            let lan = p.lan_for(Ipv4Addr::new(10, 97, 9, 9)).unwrap().unwrap();
            assert_eq!(lan.name.as_str(), "lanA");
            for none in [[10, 96, 0, 9], [10, 95, 0, 9], [192, 0, 2, 9]] {
                assert!(
                    p.lan_for(Ipv4Addr::from(none)).unwrap().is_none(),
                    "{none:?}"
                );
            }

            assert_eq!(
                p.add(7, Ipv4Addr::new(10, 97, 5, 9))
                    .unwrap()
                    .unwrap()
                    .as_str(),
                "lanC"
            );
            assert_eq!(
                p.add(8, Ipv4Addr::new(10, 97, 9, 9))
                    .unwrap()
                    .unwrap()
                    .as_str(),
                "lanA"
            );
            assert!(p.add(9, Ipv4Addr::new(192, 0, 2, 9)).unwrap().is_none());
            assert_eq!(p.published(), 2);
            let listed = proxies();
            assert!(listed.contains("10.97.5.9 dev lanC proxy"), "{listed}");
            assert!(listed.contains("10.97.9.9 dev lanA proxy"), "{listed}");

            p.remove(7).unwrap();
            p.remove(9).unwrap(); // never published: nothing to do
            let listed = proxies();
            assert!(!listed.contains("10.97.5.9"), "{listed}");
            assert!(listed.contains("10.97.9.9 dev lanA proxy"), "{listed}");
            drop(p);
            assert_eq!(proxies().trim(), "", "withdrawn at exit");
        });
    }
}
