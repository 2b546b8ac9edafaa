//! IPCP (RFC 1332, RFC 1877 DNS/NBNS) option rules for the server: we ask only for our own
//! tunnel address; the client gets the address we assigned and the configured `ms-dns` /
//! `ms-wins` values, everything else (VJ compression, the old IP-Addresses option, ...) is
//! rejected.

use core::net::Ipv4Addr;

use super::fsm::{Protocol, Verdict};
use crate::settings::PppSettings;
use crate::wire::cp::OptionWriter;
use crate::wire::ppp::protocol;

/// IPCP option types.
pub mod option {
    pub const IP_ADDRESSES: u8 = 1;
    pub const IP_COMPRESSION: u8 = 2;
    pub const IP_ADDRESS: u8 = 3;
    pub const PRIMARY_DNS: u8 = 129;
    pub const PRIMARY_NBNS: u8 = 130;
    pub const SECONDARY_DNS: u8 = 131;
    pub const SECONDARY_NBNS: u8 = 132;
}

/// The IPCP hooks and the addresses being negotiated. Word-aligned with our address first
/// (`repr(C)`) and the others as words (`u32::from_ne_bytes(octets)`) with a flag each:
/// byte-aligned (`Option<Ipv4Addr>` puts the address at an odd offset), they took unaligned
/// load/store pairs on MIPS.
#[repr(C, align(4))]
pub struct Ipcp {
    local: Ipv4Addr,
    /// The address the client must use (from chap-secrets or the pool), if `has_assigned`.
    assigned: u32,
    /// The client's address in its last acknowledged request, if `has_peer_address`.
    peer_address: u32,
    /// `ms-dns` / `ms-wins` in option order (129..=132: primary DNS, primary NBNS,
    /// secondary DNS, secondary NBNS); bit `i` of `servers_set` says `servers[i]` is set.
    servers: [u32; 4],
    servers_set: u8,
    has_assigned: bool,
    has_peer_address: bool,
    request_address: bool,
    /// We already hinted the address to a client that did not ask (pppd does it once).
    hinted: bool,
    peer_sent_address: bool,
}

impl Ipcp {
    // Out of line: inlined into Link::new it cost more (0 B armv7, -64 B i586, 0 B mipsel).
    #[inline(never)]
    pub fn new(settings: &PppSettings, local: Ipv4Addr) -> Ipcp {
        let configured = [
            settings.dns[0],
            settings.wins[0],
            settings.dns[1],
            settings.wins[1],
        ];
        let mut servers = [0; 4];
        let mut servers_set = 0;
        for (i, server) in configured.iter().enumerate() {
            if let Some(a) = server {
                servers[i] = u32::from_ne_bytes(a.octets());
                servers_set |= 1 << i;
            }
        }
        Ipcp {
            local,
            assigned: 0,
            peer_address: 0,
            servers,
            servers_set,
            has_assigned: false,
            has_peer_address: false,
            request_address: true,
            hinted: false,
            peer_sent_address: false,
        }
    }

    /// The address the client will be given (set before IPCP starts).
    pub fn set_peer_address(&mut self, address: Ipv4Addr) {
        self.assigned = u32::from_ne_bytes(address.octets());
        self.has_assigned = true;
    }

    pub fn has_assigned(&self) -> bool {
        self.has_assigned
    }

    pub fn assigned_address(&self) -> Option<Ipv4Addr> {
        self.has_assigned
            .then(|| Ipv4Addr::from(self.assigned.to_ne_bytes()))
    }

    pub fn local_address(&self) -> Ipv4Addr {
        self.local
    }

    /// The client's address as we acknowledged it.
    pub fn peer_address(&self) -> Option<Ipv4Addr> {
        self.has_peer_address
            .then(|| Ipv4Addr::from(self.peer_address.to_ne_bytes()))
    }

    /// Ack `value` if it is the configured address, Nak with it otherwise, Reject when
    /// nothing is configured ("if we do not have a DNS address then we cannot send it").
    fn server_address(configured: Option<u32>, value: u32, reject_if_disagree: bool) -> Verdict {
        match configured {
            None => Verdict::Reject,
            Some(a) if a == value => Verdict::Ack,
            Some(_) if reject_if_disagree => Verdict::Reject,
            Some(a) => Verdict::nak(&a.to_ne_bytes()),
        }
    }
}

impl Protocol for Ipcp {
    const PROTOCOL: u16 = protocol::IPCP;
    const NAME: &'static str = "IPCP";

    fn reset(&mut self) {
        self.request_address = true;
        self.hinted = false;
    }

    fn own_options(&mut self, writer: &mut OptionWriter) {
        if self.request_address {
            let _ = writer.push(option::IP_ADDRESS, &self.local.octets());
        }
    }

    fn own_option_nacked(
        &mut self,
        ty: u8,
        _value: &[u8],
        rejected: bool,
    ) -> Result<(), &'static str> {
        // A Nak of our address is ignored: the server's tunnel address is not negotiable.
        if ty == option::IP_ADDRESS && rejected {
            self.request_address = false;
        }
        Ok(())
    }

    fn peer_request_start(&mut self) {
        self.peer_sent_address = false;
        self.has_peer_address = false;
    }

    fn peer_option(&mut self, ty: u8, value: &[u8], reject_if_disagree: bool) -> Verdict {
        let Ok(address) = <[u8; 4]>::try_from(value) else {
            return Verdict::Reject;
        };
        let address = u32::from_ne_bytes(address);
        match ty {
            option::IP_ADDRESS => {
                self.peer_sent_address = true;
                if !self.has_assigned {
                    return Verdict::Reject;
                }
                let assigned = self.assigned;
                if assigned == address {
                    self.peer_address = assigned;
                    self.has_peer_address = true;
                    Verdict::Ack
                } else {
                    if address != 0 {
                        crate::debug!(
                            "IPCP: peer asked for {}, Nak with its address {}",
                            Ipv4Addr::from(address.to_ne_bytes()),
                            Ipv4Addr::from(assigned.to_ne_bytes())
                        );
                    }
                    // Never turned into a Reject: the client would have no address
                    // (Windows error 738).
                    Verdict::nak(&assigned.to_ne_bytes())
                }
            }
            option::PRIMARY_DNS..=option::SECONDARY_NBNS => {
                // 129..=132: primary DNS, primary NBNS, secondary DNS, secondary NBNS.
                let i = usize::from(ty - option::PRIMARY_DNS);
                let server = (self.servers_set >> i & 1 != 0).then_some(self.servers[i]);
                Self::server_address(server, address, reject_if_disagree)
            }
            // VJ compression, IP-Addresses and anything unknown.
            _ => Verdict::Reject,
        }
    }

    fn peer_hints(&mut self, writer: &mut OptionWriter, reject_if_disagree: bool) {
        if self.peer_sent_address || self.hinted || reject_if_disagree {
            return;
        }
        if self.has_assigned {
            self.hinted = true;
            let _ = writer.push(option::IP_ADDRESS, &self.assigned.to_ne_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ppp::fsm::{Fsm, State};
    use crate::ppp::Outbox;
    use crate::wire::cp::{code, Repr};
    use smoltcp::time::Instant;

    type Bytes = heapless::Vec<u8, 300>;

    const LOCAL: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 1);
    const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 234);

    fn sent(outbox: &mut Outbox) -> Bytes {
        let p = outbox.pop().expect("a packet");
        assert_eq!(p.protocol, protocol::IPCP);
        Bytes::from_slice(p.bytes()).unwrap()
    }

    fn packet(code: u8, id: u8, data: &[u8]) -> Bytes {
        let mut buf = [0u8; 300];
        let n = Repr {
            code,
            identifier: id,
            data,
        }
        .emit(&mut buf)
        .unwrap();
        Bytes::from_slice(&buf[..n]).unwrap()
    }

    fn ipcp(dns: [Option<Ipv4Addr>; 2], wins: [Option<Ipv4Addr>; 2]) -> (Fsm<Ipcp>, Outbox) {
        let settings = PppSettings {
            dns,
            wins,
            ..PppSettings::default()
        };
        let mut fsm = Fsm::new(Ipcp::new(&settings, LOCAL));
        fsm.protocol_mut().set_peer_address(CLIENT);
        let mut outbox = Outbox::new();
        fsm.open(Instant::ZERO, &mut outbox);
        fsm.up(Instant::ZERO, &mut outbox);
        (fsm, outbox)
    }

    /// protocol.md §2.3 step 5, with the first request of §1.13 (VJ included).
    #[test]
    fn windows_sequence() {
        let dns1 = Ipv4Addr::new(8, 8, 8, 8);
        let dns2 = Ipv4Addr::new(1, 1, 1, 1);
        let (mut fsm, mut outbox) = ipcp([Some(dns1), Some(dns2)], [None, None]);
        let now = Instant::from_millis(1);
        // Server IPCP ConfReq id 1; client ConfAck id 1.
        let request = sent(&mut outbox);
        assert_eq!(&request[..], &[1, 1, 0, 10, 3, 6, 192, 168, 0, 1]);
        fsm.receive(now, &packet(2, 1, &request[4..]), &mut outbox);
        assert_eq!(fsm.state(), State::AckRcvd);
        // Client ConfReq (VJ, IP, DNS, NBNS): Reject VJ and NBNS only.
        let first: [u8; 40] = [
            0x01, 0x09, 0x00, 0x28, 0x02, 0x06, 0x00, 0x2D, 0x0F, 0x01, 0x03, 0x06, 0x00, 0x00,
            0x00, 0x00, 0x81, 0x06, 0x00, 0x00, 0x00, 0x00, 0x82, 0x06, 0x00, 0x00, 0x00, 0x00,
            0x83, 0x06, 0x00, 0x00, 0x00, 0x00, 0x84, 0x06, 0x00, 0x00, 0x00, 0x00,
        ];
        fsm.receive(now, &first, &mut outbox);
        assert_eq!(
            &sent(&mut outbox)[..],
            &[
                0x04, 0x09, 0x00, 0x16, 0x02, 0x06, 0x00, 0x2D, 0x0F, 0x01, 0x82, 0x06, 0, 0, 0, 0,
                0x84, 0x06, 0, 0, 0, 0
            ]
        );
        // Client ConfReq id 10 (IP, DNS): Nak with the address and the DNS servers.
        let second = [3, 6, 0, 0, 0, 0, 0x81, 6, 0, 0, 0, 0, 0x83, 6, 0, 0, 0, 0];
        fsm.receive(now, &packet(1, 10, &second), &mut outbox);
        assert_eq!(
            &sent(&mut outbox)[..],
            &[3, 10, 0, 22, 3, 6, 192, 168, 0, 234, 0x81, 6, 8, 8, 8, 8, 0x83, 6, 1, 1, 1, 1]
        );
        assert_eq!(fsm.state(), State::AckRcvd);
        // Client ConfReq id 11 with those values: Ack, IPCP Opened.
        let third = [
            3, 6, 192, 168, 0, 234, 0x81, 6, 8, 8, 8, 8, 0x83, 6, 1, 1, 1, 1,
        ];
        fsm.receive(now, &packet(1, 11, &third), &mut outbox);
        let ack = sent(&mut outbox);
        assert_eq!(
            (ack[0], ack[1], &ack[4..]),
            (code::CONFIGURE_ACK, 11, &third[..])
        );
        assert_eq!(fsm.state(), State::Opened);
        assert_eq!(fsm.protocol().peer_address(), Some(CLIENT));
    }

    #[test]
    fn wrong_address_is_naked_even_after_max_failure() {
        let (mut fsm, mut outbox) = ipcp([None, None], [None, None]);
        sent(&mut outbox);
        for id in 0..8 {
            fsm.receive(
                Instant::ZERO,
                &packet(1, id, &[3, 6, 10, 0, 0, 9]),
                &mut outbox,
            );
            assert_eq!(
                &sent(&mut outbox)[..],
                &[3, id, 0, 10, 3, 6, 192, 168, 0, 234]
            );
        }
    }

    #[test]
    fn absent_address_gets_one_hint() {
        let (mut fsm, mut outbox) = ipcp([None, None], [Some(Ipv4Addr::new(10, 0, 0, 5)), None]);
        sent(&mut outbox);
        fsm.receive(
            Instant::ZERO,
            &packet(1, 1, &[0x82, 6, 0, 0, 0, 0]),
            &mut outbox,
        );
        assert_eq!(
            &sent(&mut outbox)[..],
            &[3, 1, 0, 16, 0x82, 6, 10, 0, 0, 5, 3, 6, 192, 168, 0, 234]
        );
        fsm.receive(
            Instant::ZERO,
            &packet(1, 2, &[0x82, 6, 10, 0, 0, 5]),
            &mut outbox,
        );
        assert_eq!(sent(&mut outbox)[0], code::CONFIGURE_ACK);
        assert_eq!(fsm.protocol().peer_address(), None);
    }

    #[test]
    fn dns_without_configuration_and_old_options_are_rejected() {
        let (mut fsm, mut outbox) = ipcp([None, None], [None, None]);
        sent(&mut outbox);
        let options = [
            1, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0x81, 6, 0, 0, 0, 0, 3, 6, 192, 168, 0, 234, 99, 2,
        ];
        fsm.receive(Instant::ZERO, &packet(1, 3, &options), &mut outbox);
        let reject = sent(&mut outbox);
        assert_eq!(reject[0], code::CONFIGURE_REJECT);
        assert_eq!(
            &reject[4..],
            &[1, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0x81, 6, 0, 0, 0, 0, 99, 2]
        );
    }

    #[test]
    fn nak_of_our_address_keeps_it() {
        let (mut fsm, mut outbox) = ipcp([None, None], [None, None]);
        let request = sent(&mut outbox);
        fsm.receive(
            Instant::ZERO,
            &packet(3, request[1], &[3, 6, 10, 1, 1, 1]),
            &mut outbox,
        );
        let again = sent(&mut outbox);
        assert_eq!(&again[4..], &[3, 6, 192, 168, 0, 1]);
    }
}
