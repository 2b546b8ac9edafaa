//! The client's option rules for LCP (RFC 1661/1570), CCP with MPPE (RFC 3078 §2), IPCP
//! (RFC 1332/1877) and IPv6CP (RFC 5072).

use std::net::Ipv4Addr;

use smolpptp::rand::{Random, XorShift};
use smolpptp::wire::cp::Options;
use smolpptp::wire::mppe::{self as mppe_wire, bits};

use super::negotiation::{push_option, OptionPolicy, Verdict};
use super::ClientConfig;

/// Collects the Reject and Nak lists of a verdict; Reject wins (RFC 1661 §5.4 practice).
#[derive(Default)]
struct VerdictBuilder {
    nak: Vec<u8>,
    reject: Vec<u8>,
}

impl VerdictBuilder {
    fn reject(&mut self, ty: u8, value: &[u8]) {
        push_option(&mut self.reject, ty, value);
    }

    fn nak(&mut self, ty: u8, value: &[u8]) {
        push_option(&mut self.nak, ty, value);
    }

    fn finish(self) -> Verdict {
        if !self.reject.is_empty() {
            Verdict::Reject(self.reject)
        } else if !self.nak.is_empty() {
            Verdict::Nak(self.nak)
        } else {
            Verdict::Ack
        }
    }
}

fn options(data: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    Options::new(data).filter_map(Result::ok)
}

fn ipv4(value: &[u8]) -> Option<Ipv4Addr> {
    <[u8; 4]>::try_from(value).ok().map(Ipv4Addr::from)
}

pub(super) mod lcp_option {
    pub const MRU: u8 = 1;
    pub const ACCM: u8 = 2;
    pub const AUTH_PROTOCOL: u8 = 3;
    pub const MAGIC_NUMBER: u8 = 5;
    pub const PFC: u8 = 7;
    pub const ACFC: u8 = 8;
    pub const CALLBACK: u8 = 13;
    pub const MRRU: u8 = 17;
    pub const ENDPOINT_DISCRIMINATOR: u8 = 19;
}

/// Authentication-Protocol value for MS-CHAPv2: CHAP (C223) with algorithm 0x81.
pub(super) const MSCHAPV2: [u8; 3] = [0xC2, 0x23, 0x81];

pub(super) struct LcpOptions {
    rng: XorShift,
    pub magic: u32,
    send_magic: bool,
    mru: Option<u16>,
    /// Still asking for PFC/ACFC (cleared when rejected); once our request is Acked, this
    /// says whether the server accepted them.
    pub pfc_acfc: bool,
    /// Windows extras still in our request.
    extras: Vec<(u8, Vec<u8>)>,
    pub peer_magic: Option<u32>,
    pub peer_mru: Option<u16>,
}

impl LcpOptions {
    pub fn new(config: &ClientConfig, rng: &mut XorShift) -> LcpOptions {
        let mut own = XorShift(rng.next_u32() as u64 | ((rng.next_u32() as u64) << 32));
        let magic = own.next_u32() | 1;
        let mut extras = Vec::new();
        if config.windows_lcp_options {
            use lcp_option::*;
            extras.push((CALLBACK, vec![0x06]));
            extras.push((MRRU, 1614u16.to_be_bytes().to_vec()));
            let mut endpoint = vec![0x01];
            endpoint.extend((0..20).map(|i| (magic >> (i % 4 * 8)) as u8 ^ i as u8));
            extras.push((ENDPOINT_DISCRIMINATOR, endpoint));
        }
        LcpOptions {
            rng: own,
            magic,
            send_magic: true,
            mru: config.mru,
            pfc_acfc: config.request_pfc_acfc,
            extras,
            peer_magic: None,
            peer_mru: None,
        }
    }
}

impl OptionPolicy for LcpOptions {
    fn request(&mut self) -> Vec<u8> {
        use lcp_option::*;
        let mut out = Vec::new();
        if let Some(mru) = self.mru {
            push_option(&mut out, MRU, &mru.to_be_bytes());
        }
        if self.send_magic {
            push_option(&mut out, MAGIC_NUMBER, &self.magic.to_be_bytes());
        }
        if self.pfc_acfc {
            push_option(&mut out, PFC, &[]);
            push_option(&mut out, ACFC, &[]);
        }
        for (ty, value) in &self.extras {
            push_option(&mut out, *ty, value);
        }
        out
    }

    fn judge(&mut self, data: &[u8]) -> Verdict {
        use lcp_option::*;
        let mut v = VerdictBuilder::default();
        for (ty, value) in options(data) {
            match (ty, value.len()) {
                (MRU, 2) => self.peer_mru = Some(u16::from_be_bytes([value[0], value[1]])),
                (ACCM, 4) | (PFC, 0) | (ACFC, 0) => {}
                (AUTH_PROTOCOL, _) if value == &MSCHAPV2[..] => {}
                // We only do MS-CHAPv2: suggest it (RFC 1661 §6.2).
                (AUTH_PROTOCOL, _) => v.nak(AUTH_PROTOCOL, &MSCHAPV2),
                (MAGIC_NUMBER, 4) => {
                    let magic = u32::from_be_bytes([value[0], value[1], value[2], value[3]]);
                    if magic == self.magic || magic == 0 {
                        // Looped back (or invalid): RFC 1661 §6.4, Nak with another value.
                        v.nak(MAGIC_NUMBER, &(self.rng.next_u32() | 1).to_be_bytes());
                    } else {
                        self.peer_magic = Some(magic);
                    }
                }
                _ => v.reject(ty, value),
            }
        }
        v.finish()
    }

    fn naked(&mut self, data: &[u8]) -> Result<(), String> {
        use lcp_option::*;
        for (ty, value) in options(data) {
            match (ty, value.len()) {
                (MRU, 2) => self.mru = Some(u16::from_be_bytes([value[0], value[1]])),
                (MAGIC_NUMBER, _) => self.magic = self.rng.next_u32() | 1,
                _ => {}
            }
        }
        Ok(())
    }

    fn rejected(&mut self, data: &[u8]) -> Result<(), String> {
        use lcp_option::*;
        for (ty, _) in options(data) {
            match ty {
                MRU => self.mru = None,
                MAGIC_NUMBER => self.send_magic = false,
                PFC | ACFC => self.pfc_acfc = false,
                _ => self.extras.retain(|(t, _)| *t != ty),
            }
        }
        Ok(())
    }
}

/// What the client wants from MPPE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MppeWish {
    Require,
    Allow,
    Refuse,
}

pub(super) struct CcpOptions {
    wish: MppeWish,
    /// Option 18 bits of our request; `None` once the server rejected it (or refusing).
    pub ours: Option<u32>,
    /// Option 18 bits of the server's request that we Acked.
    pub theirs: Option<u32>,
}

impl CcpOptions {
    pub fn new(config: &ClientConfig) -> CcpOptions {
        let wish = if config.refuse_mppe {
            MppeWish::Refuse
        } else if config.require_mppe_128 {
            MppeWish::Require
        } else {
            MppeWish::Allow
        };
        let ours = (wish != MppeWish::Refuse)
            .then_some(bits::S | if config.stateless { bits::H } else { 0 });
        CcpOptions {
            wish,
            ours,
            theirs: None,
        }
    }

    pub fn required(&self) -> bool {
        self.wish == MppeWish::Require
    }
}

impl OptionPolicy for CcpOptions {
    fn request(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if let Some(b) = self.ours {
            push_option(&mut out, mppe_wire::OPTION_TYPE, &mppe_wire::emit_option(b));
        }
        out
    }

    fn judge(&mut self, data: &[u8]) -> Verdict {
        let mut v = VerdictBuilder::default();
        self.theirs = None;
        for (ty, value) in options(data) {
            if ty != mppe_wire::OPTION_TYPE || self.wish == MppeWish::Refuse {
                v.reject(ty, value);
                continue;
            }
            let Ok(offered) = mppe_wire::parse_option(value) else {
                v.reject(ty, value);
                continue;
            };
            // Both directions must use the mode our own request settled on.
            let want = self.ours.unwrap_or(bits::S | bits::H);
            if offered == want {
                self.theirs = Some(offered);
            } else {
                v.nak(ty, &mppe_wire::emit_option(want));
            }
        }
        v.finish()
    }

    fn naked(&mut self, data: &[u8]) -> Result<(), String> {
        for (ty, value) in options(data) {
            if ty != mppe_wire::OPTION_TYPE {
                continue;
            }
            let suggested = mppe_wire::parse_option(value)
                .map_err(|_| format!("CCP Nak with bad MPPE option {value:02x?}"))?;
            if suggested & bits::S == 0 {
                return Err(format!(
                    "server offers MPPE bits {suggested:#010x} without 128-bit keys (Windows 741)"
                ));
            }
            if self.wish == MppeWish::Refuse {
                return Err("server insists on MPPE, which we refuse".into());
            }
            self.ours = Some(suggested & (bits::S | bits::H));
        }
        Ok(())
    }

    fn rejected(&mut self, data: &[u8]) -> Result<(), String> {
        for (ty, _) in options(data) {
            if ty == mppe_wire::OPTION_TYPE {
                if self.wish == MppeWish::Require {
                    return Err("server rejected MPPE (Windows 742)".into());
                }
                self.ours = None;
            }
        }
        Ok(())
    }
}

pub(super) mod ipcp_option {
    pub const COMPRESSION: u8 = 2;
    pub const ADDRESS: u8 = 3;
    pub const PRIMARY_DNS: u8 = 129;
    pub const PRIMARY_NBNS: u8 = 130;
    pub const SECONDARY_DNS: u8 = 131;
    pub const SECONDARY_NBNS: u8 = 132;
}

pub(super) struct IpcpOptions {
    vj: bool,
    /// The address we ask for; after IPCP opened, the one the server agreed to.
    pub address: Ipv4Addr,
    /// DNS/WINS we still ask for (`None` = not asking, or rejected by the server).
    pub dns: [Option<Ipv4Addr>; 2],
    pub wins: [Option<Ipv4Addr>; 2],
    pub server_address: Option<Ipv4Addr>,
}

impl IpcpOptions {
    pub fn new(config: &ClientConfig) -> IpcpOptions {
        let ask = |yes: bool| {
            if yes {
                Some(Ipv4Addr::UNSPECIFIED)
            } else {
                None
            }
        };
        IpcpOptions {
            vj: config.request_vj,
            address: config.request_address,
            dns: [ask(config.request_dns); 2],
            wins: [ask(config.request_wins); 2],
            server_address: None,
        }
    }
}

impl OptionPolicy for IpcpOptions {
    fn request(&mut self) -> Vec<u8> {
        use ipcp_option::*;
        let mut out = Vec::new();
        if self.vj {
            push_option(&mut out, COMPRESSION, &[0x00, 0x2D, 0x0F, 0x01]);
        }
        push_option(&mut out, ADDRESS, &self.address.octets());
        for (ty, value) in [
            (PRIMARY_DNS, self.dns[0]),
            (PRIMARY_NBNS, self.wins[0]),
            (SECONDARY_DNS, self.dns[1]),
            (SECONDARY_NBNS, self.wins[1]),
        ] {
            if let Some(addr) = value {
                push_option(&mut out, ty, &addr.octets());
            }
        }
        out
    }

    fn judge(&mut self, data: &[u8]) -> Verdict {
        let mut v = VerdictBuilder::default();
        for (ty, value) in options(data) {
            match (ty, ipv4(value)) {
                (ipcp_option::ADDRESS, Some(addr)) => self.server_address = Some(addr),
                _ => v.reject(ty, value),
            }
        }
        v.finish()
    }

    fn naked(&mut self, data: &[u8]) -> Result<(), String> {
        use ipcp_option::*;
        for (ty, value) in options(data) {
            let addr = ipv4(value);
            match (ty, addr) {
                (ADDRESS, Some(a)) => self.address = a,
                (PRIMARY_DNS, Some(a)) => self.dns[0] = Some(a),
                (SECONDARY_DNS, Some(a)) => self.dns[1] = Some(a),
                (PRIMARY_NBNS, Some(a)) => self.wins[0] = Some(a),
                (SECONDARY_NBNS, Some(a)) => self.wins[1] = Some(a),
                (COMPRESSION, _) => self.vj = false,
                (ADDRESS | PRIMARY_DNS | SECONDARY_DNS | PRIMARY_NBNS | SECONDARY_NBNS, None) => {
                    return Err(format!(
                        "IPCP Nak with a malformed address option {ty}: {value:02x?}"
                    ))
                }
                _ => {} // a hint for an option we do not want
            }
        }
        Ok(())
    }

    fn rejected(&mut self, data: &[u8]) -> Result<(), String> {
        use ipcp_option::*;
        for (ty, _) in options(data) {
            match ty {
                ADDRESS => return Err("server rejected IP-Address (Windows 738)".into()),
                COMPRESSION => self.vj = false,
                PRIMARY_DNS => self.dns[0] = None,
                SECONDARY_DNS => self.dns[1] = None,
                PRIMARY_NBNS => self.wins[0] = None,
                SECONDARY_NBNS => self.wins[1] = None,
                _ => {}
            }
        }
        Ok(())
    }
}

/// IPv6CP: one option, the Interface-Identifier (type 1, 8 bytes).
pub(super) struct Ipv6cpOptions {
    /// The identifier we ask for; after IPv6CP opened, the one the server agreed to.
    pub id: [u8; 8],
    /// The server's identifier from its request.
    pub server_id: Option<[u8; 8]>,
}

impl Ipv6cpOptions {
    pub const INTERFACE_IDENTIFIER: u8 = 1;

    pub fn new(config: &ClientConfig, rng: &mut XorShift) -> Ipv6cpOptions {
        let id = config.ipv6_interface_id.unwrap_or_else(|| {
            let mut id = [0u8; 8];
            rng.fill_bytes(&mut id);
            // Clients seeded alike still differ: the call ID is unique per test client.
            id[2] ^= (config.call_id >> 8) as u8;
            id[3] ^= config.call_id as u8;
            id[0] &= !0x02;
            id[7] |= 1;
            id
        });
        Ipv6cpOptions {
            id,
            server_id: None,
        }
    }
}

impl OptionPolicy for Ipv6cpOptions {
    fn request(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        push_option(&mut out, Self::INTERFACE_IDENTIFIER, &self.id);
        out
    }

    fn judge(&mut self, data: &[u8]) -> Verdict {
        let mut v = VerdictBuilder::default();
        for (ty, value) in options(data) {
            match (ty, <[u8; 8]>::try_from(value)) {
                (Self::INTERFACE_IDENTIFIER, Ok(id)) if id != [0; 8] && id != self.id => {
                    self.server_id = Some(id)
                }
                // RFC 5072 §4.1: zero or equal to ours: suggest another.
                (Self::INTERFACE_IDENTIFIER, Ok(mut id)) => {
                    id[7] ^= 0x5A;
                    id[0] |= 0x40;
                    v.nak(ty, &id);
                }
                _ => v.reject(ty, value),
            }
        }
        v.finish()
    }

    fn naked(&mut self, data: &[u8]) -> Result<(), String> {
        for (ty, value) in options(data) {
            if ty == Self::INTERFACE_IDENTIFIER {
                self.id = <[u8; 8]>::try_from(value)
                    .map_err(|_| format!("IPv6CP Nak with a malformed identifier {value:02x?}"))?;
                if self.id == [0; 8] {
                    return Err("IPv6CP Nak suggesting identifier zero".into());
                }
            }
        }
        Ok(())
    }

    fn rejected(&mut self, data: &[u8]) -> Result<(), String> {
        if options(data).any(|(ty, _)| ty == Self::INTERFACE_IDENTIFIER) {
            return Err("IPv6CP: the server rejected our Interface-Identifier".into());
        }
        Ok(())
    }
}
