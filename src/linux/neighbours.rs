//! What the `raw` backend tells smoltcp about its Ethernet neighbours.
//!
//! smoltcp learns a neighbour's MAC only from ARP aimed at it, and asks with at most one ARP
//! request a second for the whole interface. Two things went wrong with that on a segment
//! full of clients:
//!
//! - Clients that already know the router's MAC (it is their gateway, or they redial after
//!   a restart) send no ARP request, so a burst of N of them waited up to N seconds for
//!   their SYN-ACKs, one ARP request a second.
//! - A packet smoltcp cannot resolve stays at the head of the raw GRE socket's queue and is
//!   retried, never dropped: one client that went silent for a minute (its entry expired)
//!   and then left the segment stopped the GRE of every session.
//!
//! So the device learns each sender's MAC from the frames that pass its filter (TCP to port
//! 1723 and GRE to our address, ARP aimed at us), the way a switch does, and teaches smoltcp
//! with a synthetic ARP reply: when a sender is new, changed its MAC, or was last taught
//! [`REFRESH`] ago, and when smoltcp sends an ARP request for an address we know. An
//! attacker on the segment who could forge such a frame could as well send smoltcp a forged
//! ARP reply, which it accepts: this trusts the segment no more than smoltcp already does.

use smoltcp::time::{Duration, Instant};

/// Entries: as many neighbours as smoltcp's cache holds (`.cargo/config.toml`).
pub const NEIGHBOURS: usize = 64;

/// Re-teach a sender this often while it sends, well inside smoltcp's 60 s entry lifetime, so
/// an entry evicted from smoltcp's cache comes back without an ARP round.
pub const REFRESH: Duration = Duration::from_secs(20);

/// Length of the synthetic ARP frame (Ethernet header + ARP for IPv4 over Ethernet).
pub const HINT_LEN: usize = 42;

const ETHERTYPE_IPV4: [u8; 2] = [0x08, 0x00];
const ETHERTYPE_ARP: [u8; 2] = [0x08, 0x06];
/// ARP hardware type 1 (Ethernet), protocol IPv4, lengths 6 and 4.
const ARP_ETHERNET_IPV4: [u8; 6] = [0, 1, 8, 0, 6, 4];
const ARP_REQUEST: u8 = 1;
const ARP_REPLY: u8 = 2;

#[derive(Clone, Copy)]
struct Entry {
    address: u32,
    mac: [u8; 6],
    taught: Instant,
    seen: Instant,
}

/// Our address and subnet, our MAC, and the neighbours seen on the segment.
pub struct Neighbours {
    mac: [u8; 6],
    address: u32,
    mask: u32,
    entries: [Option<Entry>; NEIGHBOURS],
    /// The address smoltcp last sent an ARP request for, not yet looked up.
    wanted: Option<u32>,
    /// The entry of the last sender.
    last: usize,
}

/// The address an ARP request asks for: smoltcp sends one when it lacks that neighbour.
pub fn arp_request_target(frame: &[u8]) -> Option<u32> {
    (frame.len() >= HINT_LEN
        && frame[12..14] == ETHERTYPE_ARP
        && frame[14..20] == ARP_ETHERNET_IPV4
        && frame[20..22] == [0, ARP_REQUEST])
    .then(|| be32(&frame[38..42]))
}

fn is_unicast(mac: &[u8]) -> bool {
    mac[0] & 1 == 0 && mac.iter().any(|&b| b != 0)
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

impl Neighbours {
    pub fn new(mac: [u8; 6], address: core::net::Ipv4Addr, prefix_len: u8) -> Neighbours {
        let mask = match prefix_len {
            0 => 0,
            n => u32::MAX << (32 - u32::from(n.min(32))),
        };
        Neighbours {
            mac,
            address: u32::from(address),
            mask,
            entries: [None; NEIGHBOURS],
            wanted: None,
            last: 0,
        }
    }

    /// Whether `address` is a host of our subnet other than us (smoltcp takes ARP only from those).
    fn on_segment(&self, address: u32) -> bool {
        address != self.address
            && address & self.mask == self.address & self.mask
            && address & !self.mask != 0
            && address | self.mask != u32::MAX
    }

    /// A frame that passed the filter. Returns the neighbour to teach smoltcp before it
    /// sees this frame, if any.
    pub fn received(&mut self, frame: &[u8], now: Instant) -> Option<(u32, [u8; 6])> {
        // Ethernet and IPv4 headers; ARP is checked for its length below.
        if frame.len() < 34 || !is_unicast(&frame[6..12]) {
            return None;
        }
        let mut mac = [0u8; 6];
        mac.copy_from_slice(&frame[6..12]);
        match [frame[12], frame[13]] {
            // IPv4 unicast to us: learn, and teach when it is news.
            ETHERTYPE_IPV4 if frame[..6] == self.mac && frame[14] >> 4 == 4 => {
                self.learn(be32(&frame[26..30]), mac, now, true)
            }
            // ARP aimed at us: smoltcp learns from it itself, so only note it.
            ETHERTYPE_ARP
                if frame.len() >= HINT_LEN
                    && frame[14..20] == ARP_ETHERNET_IPV4
                    && frame[20] == 0
                    && matches!(frame[21], ARP_REQUEST | ARP_REPLY)
                    && frame[22..28] == mac
                    && be32(&frame[38..42]) == self.address =>
            {
                self.learn(be32(&frame[28..32]), mac, now, false)
            }
            _ => None,
        }
    }

    /// smoltcp sent an ARP request for `address` (see [`arp_request_target`]).
    pub fn want(&mut self, address: u32) {
        self.wanted = Some(address);
    }

    /// Whether [`take_wanted`](Self::take_wanted) has a neighbour to teach now.
    pub fn has_wanted(&self) -> bool {
        self.wanted.is_some_and(|a| self.find(a).is_some())
    }

    /// The neighbour smoltcp asked for, if we know it: teach it without waiting for (or
    /// when there will be no) ARP reply, so nothing queued for it blocks the queue.
    pub fn take_wanted(&mut self, now: Instant) -> Option<(u32, [u8; 6])> {
        let address = self.wanted.take()?;
        let i = self.find(address)?;
        let e = self.entries[i].as_mut()?;
        e.taught = now;
        Some((e.address, e.mac))
    }

    fn find(&self, address: u32) -> Option<usize> {
        self.entries
            .iter()
            .position(|e| e.is_some_and(|e| e.address == address))
    }

    /// The synthetic ARP reply "`address` is at `mac`", from the neighbour to us.
    pub fn hint(&self, (address, mac): (u32, [u8; 6]), out: &mut [u8; HINT_LEN]) {
        out[..6].copy_from_slice(&self.mac);
        out[6..12].copy_from_slice(&mac);
        out[12..14].copy_from_slice(&ETHERTYPE_ARP);
        out[14..20].copy_from_slice(&ARP_ETHERNET_IPV4);
        out[20..22].copy_from_slice(&[0, ARP_REPLY]);
        out[22..28].copy_from_slice(&mac);
        out[28..32].copy_from_slice(&address.to_be_bytes());
        out[32..38].copy_from_slice(&self.mac);
        out[38..42].copy_from_slice(&self.address.to_be_bytes());
    }

    fn learn(
        &mut self,
        address: u32,
        mac: [u8; 6],
        now: Instant,
        teach: bool,
    ) -> Option<(u32, [u8; 6])> {
        if !self.on_segment(address) {
            return None;
        }
        // Per packet on the GRE path: try the last sender's entry before the scan.
        let last = self.last;
        let hit = match self.entries[last] {
            Some(e) if e.address == address => Some(last),
            _ => self.find(address),
        };
        if let Some(i) = hit {
            self.last = i;
            let e = self.entries[i].as_mut()?;
            e.seen = now;
            if e.mac == mac && now < e.taught + REFRESH {
                return None;
            }
            e.mac = mac;
            e.taught = now;
            // From ARP smoltcp learnt it itself.
            return teach.then_some((address, mac));
        }
        // The first free entry, else the one not seen for longest: one scan, as a free
        // entry's key (None) is below every time and the first of equal minima wins.
        let slot = self
            .entries
            .iter()
            .enumerate()
            .min_by_key(|(_, e)| e.map(|e| e.seen))
            .map_or(0, |(i, _)| i);
        self.entries[slot] = Some(Entry {
            address,
            mac,
            taught: now,
            seen: now,
        });
        self.last = slot;
        teach.then_some((address, mac))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv4Addr;

    const US: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
    const PEER: [u8; 6] = [0x02, 0, 0, 0, 0, 0x22];
    const OTHER: [u8; 6] = [0x02, 0, 0, 0, 0, 0x33];

    fn table() -> Neighbours {
        Neighbours::new(US, Ipv4Addr::new(192, 0, 2, 1), 24)
    }

    /// GRE from `src` (MAC `mac`) to 192.0.2.1 at `dst` (MAC).
    fn ipv4(dst: [u8; 6], mac: [u8; 6], src: [u8; 4]) -> Vec<u8> {
        let mut f = dst.to_vec();
        f.extend_from_slice(&mac);
        f.extend_from_slice(&ETHERTYPE_IPV4);
        f.extend_from_slice(&[0x45, 0, 0, 28, 0, 1, 0, 0, 64, 47, 0, 0]);
        f.extend_from_slice(&src);
        f.extend_from_slice(&[192, 0, 2, 1]);
        f.extend_from_slice(&[0; 8]);
        f
    }

    fn arp(op: u8, mac: [u8; 6], src: [u8; 4], target: [u8; 4]) -> Vec<u8> {
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&mac);
        f.extend_from_slice(&ETHERTYPE_ARP);
        f.extend_from_slice(&ARP_ETHERNET_IPV4);
        f.extend_from_slice(&[0, op]);
        f.extend_from_slice(&mac);
        f.extend_from_slice(&src);
        f.extend_from_slice(&[0; 6]);
        f.extend_from_slice(&target);
        f
    }

    fn at(secs: u64) -> Instant {
        Instant::from_secs(secs as i64)
    }

    fn addr(a: [u8; 4]) -> u32 {
        u32::from_be_bytes(a)
    }

    #[test]
    fn a_new_sender_is_taught_once_until_refresh_or_a_new_mac() {
        let mut n = table();
        let f = ipv4(US, PEER, [192, 0, 2, 7]);
        assert_eq!(n.received(&f, at(0)), Some((addr([192, 0, 2, 7]), PEER)));
        assert_eq!(n.received(&f, at(1)), None);
        assert_eq!(n.received(&f, at(19)), None);
        assert_eq!(n.received(&f, at(20)), Some((addr([192, 0, 2, 7]), PEER)));
        assert_eq!(n.received(&f, at(21)), None);
        let moved = ipv4(US, OTHER, [192, 0, 2, 7]);
        assert_eq!(
            n.received(&moved, at(22)),
            Some((addr([192, 0, 2, 7]), OTHER))
        );
    }

    #[test]
    fn only_unicast_senders_of_our_subnet_in_frames_to_us() {
        let mut n = table();
        // Behind a gateway: smoltcp routes via the gateway, it needs no entry.
        assert_eq!(n.received(&ipv4(US, PEER, [198, 51, 100, 9]), at(0)), None);
        // Our own address, the subnet's network and broadcast addresses.
        for src in [[192, 0, 2, 1], [192, 0, 2, 0], [192, 0, 2, 255]] {
            assert_eq!(n.received(&ipv4(US, PEER, src), at(0)), None, "{src:?}");
        }
        // Not to our MAC, or from a group or zero MAC.
        assert_eq!(n.received(&ipv4(OTHER, PEER, [192, 0, 2, 7]), at(0)), None);
        let mut group = PEER;
        group[0] |= 1;
        assert_eq!(n.received(&ipv4(US, group, [192, 0, 2, 7]), at(0)), None);
        assert_eq!(n.received(&ipv4(US, [0; 6], [192, 0, 2, 7]), at(0)), None);
        // Short frames.
        let f = ipv4(US, PEER, [192, 0, 2, 7]);
        assert_eq!(n.received(&f[..33], at(0)), None);
        let a = arp(ARP_REQUEST, PEER, [192, 0, 2, 7], [192, 0, 2, 1]);
        assert_eq!(n.received(&a[..HINT_LEN - 1], at(0)), None);
        assert!(n.entries.iter().all(Option::is_none));
    }

    #[test]
    fn arp_to_us_is_noted_but_smoltcp_learns_it_itself() {
        let mut n = table();
        let request = arp(ARP_REQUEST, PEER, [192, 0, 2, 7], [192, 0, 2, 1]);
        assert_eq!(n.received(&request, at(0)), None);
        // Known now, so the IPv4 frame that follows teaches nothing...
        assert_eq!(n.received(&ipv4(US, PEER, [192, 0, 2, 7]), at(1)), None);
        // ...and smoltcp asking for it gets an answer.
        n.want(addr([192, 0, 2, 7]));
        assert!(n.has_wanted());
        assert_eq!(n.take_wanted(at(2)), Some((addr([192, 0, 2, 7]), PEER)));
        assert!(!n.has_wanted());
        assert_eq!(n.take_wanted(at(2)), None);
        // ARP for another host is not ours to learn from.
        let elsewhere = arp(ARP_REPLY, OTHER, [192, 0, 2, 8], [192, 0, 2, 9]);
        assert_eq!(n.received(&elsewhere, at(3)), None);
        n.want(addr([192, 0, 2, 8]));
        assert!(!n.has_wanted());
        assert_eq!(n.take_wanted(at(3)), None);
    }

    #[test]
    fn smoltcps_arp_request_is_recognised() {
        let request = arp(ARP_REQUEST, US, [192, 0, 2, 1], [192, 0, 2, 7]);
        assert_eq!(arp_request_target(&request), Some(addr([192, 0, 2, 7])));
        let reply = arp(ARP_REPLY, US, [192, 0, 2, 1], [192, 0, 2, 7]);
        assert_eq!(arp_request_target(&reply), None);
        assert_eq!(arp_request_target(&ipv4(PEER, US, [192, 0, 2, 1])), None);
        assert_eq!(arp_request_target(&request[..HINT_LEN - 1]), None);
    }

    #[test]
    fn the_hint_is_an_arp_reply_from_the_neighbour_to_us() {
        let n = table();
        let mut out = [0u8; HINT_LEN];
        n.hint((addr([192, 0, 2, 7]), PEER), &mut out);
        let mut want = US.to_vec();
        want.extend_from_slice(&PEER);
        want.extend_from_slice(&[0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 2]);
        want.extend_from_slice(&PEER);
        want.extend_from_slice(&[192, 0, 2, 7]);
        want.extend_from_slice(&US);
        want.extend_from_slice(&[192, 0, 2, 1]);
        assert_eq!(&out[..], &want[..]);
        // smoltcp's own parser reads it as such.
        let eth = smoltcp::wire::EthernetFrame::new_checked(&out[..]).unwrap();
        let packet = smoltcp::wire::ArpPacket::new_checked(eth.payload()).unwrap();
        let repr = smoltcp::wire::ArpRepr::parse(&packet).unwrap();
        assert_eq!(
            repr,
            smoltcp::wire::ArpRepr::EthernetIpv4 {
                operation: smoltcp::wire::ArpOperation::Reply,
                source_hardware_addr: smoltcp::wire::EthernetAddress(PEER),
                source_protocol_addr: Ipv4Addr::new(192, 0, 2, 7),
                target_hardware_addr: smoltcp::wire::EthernetAddress(US),
                target_protocol_addr: Ipv4Addr::new(192, 0, 2, 1),
            }
        );
    }

    #[test]
    fn a_full_table_forgets_the_neighbour_not_seen_for_longest() {
        let mut n = Neighbours::new(US, Ipv4Addr::new(10, 0, 0, 1), 16);
        let host = |i: usize| [10, 0, (i >> 8) as u8, (i & 0xff) as u8 + 2];
        for i in 0..NEIGHBOURS {
            let t = at(i as u64);
            assert!(n.received(&ipv4(US, PEER, host(i)), t).is_some());
        }
        // The first one is seen again (and re-taught: that was 100 s ago).
        assert!(n.received(&ipv4(US, PEER, host(0)), at(100)).is_some());
        // One more evicts the second (seen at 1 s), not the first.
        let t = at(101);
        assert!(n.received(&ipv4(US, PEER, host(NEIGHBOURS)), t).is_some());
        assert_eq!(n.entries.iter().flatten().count(), NEIGHBOURS);
        n.want(addr(host(1)));
        assert_eq!(n.take_wanted(t), None);
        n.want(addr(host(0)));
        assert!(n.take_wanted(t).is_some());
    }
}
