//! IPv6CP (RFC 5072) option rules for the server: one option, the 64-bit
//! Interface-Identifier that makes each end's link-local address (fe80::IID).
//!
//! RFC 5072 §4.1 for the peer's identifier: zero → Nak with a suggestion; equal to ours →
//! Nak with a different one; anything else → Ack. On top of that, an identifier another
//! session already holds is Nak'd like our own: the server finds a client's session by its
//! link-local address, so identifiers must be unique across the tunnel interface. The link
//! tells this machine which identifier is taken and what to suggest ([`Ipv6cp::prepare`]),
//! since only the server sees every session.

use core::net::Ipv6Addr;

use super::fsm::{Protocol, Verdict};
use crate::settings::InterfaceId;
use crate::wire::cp::{code, OptionWriter, Options, Packet};
use crate::wire::ppp::protocol;

/// IPv6CP option types.
pub mod option {
    pub const INTERFACE_IDENTIFIER: u8 = 1;
}

const ZERO: InterfaceId = [0; 8];

/// The link-local address fe80::`id`.
pub fn link_local(id: InterfaceId) -> Ipv6Addr {
    let mut octets = [0u8; 16];
    octets[0] = 0xFE;
    octets[1] = 0x80;
    octets[8..].copy_from_slice(&id);
    Ipv6Addr::from(octets)
}

/// fe80::`id` for the log, the way pppd's `llv6_ntoa` writes it (`fe80::aabb:ccdd:0102:0304`):
/// four fixed groups, without the general IPv6 formatter (zero runs, IPv4 forms).
pub struct LinkLocal(pub InterfaceId);

impl core::fmt::Display for LinkLocal {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("fe80:")?;
        for pair in self.0.chunks_exact(2) {
            write!(f, ":{:02x}{:02x}", pair[0], pair[1])?;
        }
        Ok(())
    }
}

/// The Interface-Identifier of a link-local address (fe80::/64), if it is one.
pub fn link_local_id(address: &[u8]) -> Option<InterfaceId> {
    let bytes: &[u8; 16] = address.try_into().ok()?;
    (bytes[..8] == [0xFE, 0x80, 0, 0, 0, 0, 0, 0])
        .then(|| bytes[8..].try_into().ok())
        .flatten()
}

/// The Interface-Identifier a peer proposes in an IPv6CP Configure-Request (`packet` from
/// the Code field on), if the packet is one and carries a well-formed identifier.
pub fn requested_id(packet: &[u8]) -> Option<InterfaceId> {
    let packet = Packet::new_checked(packet).ok()?;
    if packet.code() != code::CONFIGURE_REQUEST {
        return None;
    }
    Options::new(packet.data())
        .map_while(Result::ok)
        .find(|(ty, _)| *ty == option::INTERFACE_IDENTIFIER)
        .and_then(|(_, value)| value.try_into().ok())
}

/// A random identifier fit to suggest: non-zero, with the universal/local bit clear (RFC
/// 4291 appendix A: not derived from a globally unique MAC).
pub fn random_id(rng: &mut dyn crate::rand::Random) -> InterfaceId {
    let mut id = ZERO;
    rng.fill_bytes(&mut id);
    id[0] &= !0x02;
    if id == ZERO {
        id[7] = 1;
    }
    id
}

/// The IPv6CP hooks and the identifiers being negotiated. Word-aligned with the identifiers
/// first (`repr(C)`), zero for none (never a valid one: see each): compared and copied at
/// every request, byte-aligned (`Option<InterfaceId>` puts it at an odd offset) they took
/// unaligned load/store pairs on MIPS.
#[repr(C, align(4))]
pub struct Ipv6cp {
    local: InterfaceId,
    /// What a peer with a zero or unusable identifier is told to use (chosen by the link:
    /// unique among sessions, never ours, never zero).
    suggestion: InterfaceId,
    /// An identifier another session holds, from the request being judged (only compared
    /// with a non-zero one).
    taken: InterfaceId,
    /// The peer's identifier in its last acknowledged request (never zero).
    peer: InterfaceId,
    request_local: bool,
    /// We already hinted an identifier to a peer that sent none.
    hinted: bool,
    peer_sent_id: bool,
}

/// `id`, unless it is zero (none).
fn non_zero(id: InterfaceId) -> Option<InterfaceId> {
    (id != ZERO).then_some(id)
}

impl Ipv6cp {
    /// `local` must be non-zero (the link checks it).
    pub fn new(local: InterfaceId) -> Ipv6cp {
        Ipv6cp {
            local,
            suggestion: ZERO,
            taken: ZERO,
            peer: ZERO,
            request_local: true,
            hinted: false,
            peer_sent_id: false,
        }
    }

    /// Set our identifier (before the link opens; non-zero).
    pub fn set_local_id(&mut self, local: InterfaceId) {
        self.local = local;
    }

    pub fn local_id(&self) -> InterfaceId {
        self.local
    }

    /// The peer's identifier as we acknowledged it.
    pub fn peer_id(&self) -> Option<InterfaceId> {
        non_zero(self.peer)
    }

    pub fn suggestion(&self) -> Option<InterfaceId> {
        non_zero(self.suggestion)
    }

    /// [`Ipv6cp::peer_id`] as a word (`u64::from_ne_bytes`), 0 for none.
    pub fn peer_word(&self) -> u64 {
        u64::from_ne_bytes(self.peer)
    }

    /// The peer's identifier, or else the suggestion, as a word (`u64::from_ne_bytes`;
    /// 0 for none).
    pub fn reserved(&self) -> u64 {
        let id = if self.peer != ZERO {
            self.peer
        } else {
            self.suggestion
        };
        u64::from_ne_bytes(id)
    }

    /// Before a packet is judged: the identifier to suggest (non-zero), and the one the
    /// packet asks for if another session already holds it.
    pub fn prepare(&mut self, suggestion: InterfaceId, taken: Option<InterfaceId>) {
        self.suggestion = suggestion;
        self.taken = taken.unwrap_or(ZERO);
    }

    /// The suggestion as a Nak, unless it is no better than what the peer sent.
    fn suggest(&self, value: InterfaceId) -> Verdict {
        let s = self.suggestion;
        if s != value && s != ZERO && s != self.local {
            Verdict::nak(&s)
        } else {
            Verdict::Reject
        }
    }
}

impl Protocol for Ipv6cp {
    const PROTOCOL: u16 = protocol::IPV6CP;
    const NAME: &'static str = "IPV6CP";

    fn reset(&mut self) {
        self.request_local = true;
        self.hinted = false;
    }

    fn own_options(&mut self, writer: &mut OptionWriter) {
        if self.request_local {
            let _ = writer.push(option::INTERFACE_IDENTIFIER, &self.local);
        }
    }

    fn own_option_nacked(
        &mut self,
        ty: u8,
        _value: &[u8],
        rejected: bool,
    ) -> Result<(), &'static str> {
        // A Nak of ours is ignored: our identifier is the tunnel interface's address, the
        // same for every client; a peer that picked it too is Nak'd off it instead.
        if ty == option::INTERFACE_IDENTIFIER && rejected {
            self.request_local = false;
        }
        Ok(())
    }

    fn peer_request_start(&mut self) {
        self.peer_sent_id = false;
        self.peer = ZERO;
    }

    fn peer_option(&mut self, ty: u8, value: &[u8], reject_if_disagree: bool) -> Verdict {
        let Ok(id) = InterfaceId::try_from(value) else {
            return Verdict::Reject;
        };
        if ty != option::INTERFACE_IDENTIFIER {
            return Verdict::Reject;
        }
        self.peer_sent_id = true;
        if id != ZERO && id != self.local && id != self.taken {
            self.peer = id;
            return Verdict::Ack;
        }
        if reject_if_disagree {
            return Verdict::Reject;
        }
        self.suggest(id)
    }

    fn peer_hints(&mut self, writer: &mut OptionWriter, reject_if_disagree: bool) {
        if self.peer_sent_id || self.hinted || reject_if_disagree {
            return;
        }
        let s = self.suggestion;
        if s != ZERO && s != self.local {
            self.hinted = true;
            let _ = writer.push(option::INTERFACE_IDENTIFIER, &s);
        }
    }

    fn this_layer_up(&mut self, _now: smoltcp::time::Instant) -> Result<(), &'static str> {
        crate::info!("local  LL address {}", LinkLocal(self.local));
        if self.peer != ZERO {
            crate::info!("remote LL address {}", LinkLocal(self.peer));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ppp::fsm::{Fsm, State};
    use crate::ppp::Outbox;
    use crate::rand::{Random, XorShift};
    use crate::wire::cp::Repr;
    use smoltcp::time::Instant;

    type Bytes = heapless::Vec<u8, 300>;

    const OURS: InterfaceId = [0x02, 0, 0, 0, 0, 0, 0, 1];
    const SUGGESTED: InterfaceId = [0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80];
    const PEERS: InterfaceId = [0xAA, 0xBB, 0xCC, 0xDD, 1, 2, 3, 4];

    fn sent(outbox: &mut Outbox) -> Bytes {
        let p = outbox.pop().expect("a packet");
        assert_eq!(p.protocol, protocol::IPV6CP);
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

    fn iid_option(id: InterfaceId) -> [u8; 10] {
        let mut o = [1, 10, 0, 0, 0, 0, 0, 0, 0, 0];
        o[2..].copy_from_slice(&id);
        o
    }

    fn ipv6cp(taken: Option<InterfaceId>) -> (Fsm<Ipv6cp>, Outbox) {
        let mut fsm = Fsm::new(Ipv6cp::new(OURS));
        fsm.protocol_mut().prepare(SUGGESTED, taken);
        let mut outbox = Outbox::new();
        fsm.open(Instant::ZERO, &mut outbox);
        fsm.up(Instant::ZERO, &mut outbox);
        (fsm, outbox)
    }

    /// Our request, then the peer's answer to it and its own request.
    fn request_with(fsm: &mut Fsm<Ipv6cp>, outbox: &mut Outbox, id: InterfaceId) -> Bytes {
        let request = sent(outbox);
        assert_eq!(&request[..], &packet(1, request[1], &iid_option(OURS))[..]);
        fsm.receive(Instant::ZERO, &packet(2, request[1], &request[4..]), outbox);
        fsm.receive(Instant::ZERO, &packet(1, 40, &iid_option(id)), outbox);
        sent(outbox)
    }

    #[test]
    fn distinct_identifier_is_acked_and_opens() {
        let (mut fsm, mut outbox) = ipv6cp(None);
        let answer = request_with(&mut fsm, &mut outbox, PEERS);
        assert_eq!(&answer[..], &packet(2, 40, &iid_option(PEERS))[..]);
        assert_eq!(fsm.state(), State::Opened);
        assert_eq!(fsm.protocol().peer_id(), Some(PEERS));
    }

    #[test]
    fn zero_identifier_gets_the_suggestion() {
        let (mut fsm, mut outbox) = ipv6cp(None);
        let answer = request_with(&mut fsm, &mut outbox, [0; 8]);
        assert_eq!(&answer[..], &packet(3, 40, &iid_option(SUGGESTED))[..]);
        assert_eq!(fsm.protocol().peer_id(), None);
        fsm.receive(
            Instant::ZERO,
            &packet(1, 41, &iid_option(SUGGESTED)),
            &mut outbox,
        );
        assert_eq!(sent(&mut outbox)[0], code::CONFIGURE_ACK);
        assert_eq!(fsm.state(), State::Opened);
        assert_eq!(fsm.protocol().peer_id(), Some(SUGGESTED));
    }

    #[test]
    fn our_identifier_and_a_taken_one_are_naked() {
        let (mut fsm, mut outbox) = ipv6cp(Some(PEERS));
        let answer = request_with(&mut fsm, &mut outbox, OURS);
        assert_eq!(&answer[..], &packet(3, 40, &iid_option(SUGGESTED))[..]);
        fsm.receive(
            Instant::ZERO,
            &packet(1, 41, &iid_option(PEERS)),
            &mut outbox,
        );
        assert_eq!(
            &sent(&mut outbox)[..],
            &packet(3, 41, &iid_option(SUGGESTED))[..]
        );
        assert_eq!(fsm.state(), State::AckRcvd);
    }

    #[test]
    fn nak_loop_ends_in_reject_and_other_options_are_rejected() {
        let (mut fsm, mut outbox) = ipv6cp(None);
        request_with(&mut fsm, &mut outbox, [0; 8]);
        let mut last = Bytes::new();
        for id in 0..6 {
            fsm.receive(
                Instant::ZERO,
                &packet(1, id, &iid_option([0; 8])),
                &mut outbox,
            );
            last = sent(&mut outbox);
        }
        assert_eq!(last[0], code::CONFIGURE_REJECT);
        // An unknown option (2, IPv6-Compression-Protocol) is rejected.
        let (mut fsm, mut outbox) = ipv6cp(None);
        let mut options = [0u8; 14];
        options[..10].copy_from_slice(&iid_option(PEERS));
        options[10..].copy_from_slice(&[2, 4, 0x00, 0x4F]);
        fsm.receive(Instant::ZERO, &packet(1, 9, &options), &mut outbox);
        sent(&mut outbox);
        assert_eq!(&sent(&mut outbox)[..], &packet(4, 9, &[2, 4, 0, 0x4F])[..]);
    }

    #[test]
    fn absent_identifier_gets_one_hint() {
        let (mut fsm, mut outbox) = ipv6cp(None);
        sent(&mut outbox);
        fsm.receive(Instant::ZERO, &packet(1, 1, &[]), &mut outbox);
        assert_eq!(
            &sent(&mut outbox)[..],
            &packet(3, 1, &iid_option(SUGGESTED))[..]
        );
        fsm.receive(Instant::ZERO, &packet(1, 2, &[]), &mut outbox);
        assert_eq!(sent(&mut outbox)[0], code::CONFIGURE_ACK);
    }

    #[test]
    fn helpers() {
        assert_eq!(
            link_local(PEERS),
            "fe80::aabb:ccdd:102:304".parse::<Ipv6Addr>().unwrap()
        );
        assert_eq!(link_local_id(&link_local(PEERS).octets()), Some(PEERS));
        let text = format!("{}", LinkLocal(PEERS));
        assert_eq!(text, "fe80::aabb:ccdd:0102:0304", "pppd's llv6_ntoa form");
        assert_eq!(text.parse::<Ipv6Addr>().unwrap(), link_local(PEERS));
        let global: Ipv6Addr = "2001:db8::aabb:ccdd:102:304".parse().unwrap();
        assert_eq!(link_local_id(&global.octets()), None);
        assert_eq!(link_local_id(&[0xFE, 0x80]), None);
        assert_eq!(requested_id(&packet(1, 1, &iid_option(PEERS))), Some(PEERS));
        assert_eq!(requested_id(&packet(2, 1, &iid_option(PEERS))), None);
        let mut rng = XorShift(7);
        for _ in 0..100 {
            let id = random_id(&mut rng);
            assert_ne!(id, [0; 8]);
            assert_eq!(id[0] & 0x02, 0);
        }
    }

    #[test]
    fn random_input_never_panics() {
        let mut rng = XorShift(0x1D6C_0057);
        let (mut fsm, mut outbox) = ipv6cp(Some(PEERS));
        let mut buf = [0u8; 40];
        for _ in 0..20_000 {
            let len = (rng.next_u32() % 40) as usize;
            for b in &mut buf[..len] {
                *b = rng.next_u32() as u8;
            }
            if len >= 4 && rng.next_u32().is_multiple_of(2) {
                buf[0] = (rng.next_u32() % 8) as u8;
                buf[2] = 0;
                buf[3] = len as u8;
            }
            let _ = requested_id(&buf[..len]);
            fsm.receive(Instant::ZERO, &buf[..len], &mut outbox);
            outbox.clear();
        }
    }
}
