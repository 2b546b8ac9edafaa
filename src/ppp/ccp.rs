//! CCP (RFC 1962) carrying only MPPE (RFC 3078, option 18): we request our allowed set and
//! steer the peer to the single strongest allowed strength, stateless unless stateful is
//! allowed and the peer wants it. MPPC compression, D, and every other CCP option are
//! refused. Reset-Request/-Ack (codes 14/15) resynchronise stateful MPPE.

use smoltcp::time::Instant;

use super::fsm::{Fsm, Other, Protocol, State, Tx, Verdict, MAX_FAILURE};
use super::Outbox;
use crate::crypto::mppe::KeyLength;
use crate::settings::{MppePolicy, Stateful};
use crate::wire::cp::{code, OptionWriter, Repr};
use crate::wire::mppe::{bits, emit_option, parse_option, OPTION_TYPE};
use crate::wire::ppp::protocol;

/// Why the link goes down when MPPE is required and CCP cannot agree (pppd's wording).
pub const MPPE_REQUIRED_FAILED: &str = "MPPE required but peer negotiation failed";
/// CCP could not agree on MPPE and MPPE is optional.
pub const MPPE_FAILED: &str = "MPPE negotiation failed";

const STRENGTHS: u32 = bits::S | bits::M | bits::L;

/// What CCP agreed on: the same for both directions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mppe {
    pub key_length: KeyLength,
    pub stateless: bool,
}

impl Mppe {
    fn from_bits(b: u32) -> Option<Mppe> {
        let key_length = match b & STRENGTHS {
            bits::S => KeyLength::Bits128,
            bits::M => KeyLength::Bits56,
            bits::L => KeyLength::Bits40,
            _ => return None,
        };
        Some(Mppe {
            key_length,
            stateless: b & bits::H != 0,
        })
    }

    /// Key size in bits, for logs ("MPPE 128-bit stateless compression enabled").
    pub fn key_bits(&self) -> u16 {
        match self.key_length {
            KeyLength::Bits40 => 40,
            KeyLength::Bits56 => 56,
            KeyLength::Bits128 => 128,
        }
    }
}

/// The CCP hooks and the MPPE negotiation state.
pub struct Ccp {
    policy: MppePolicy,
    request_mppe: bool,
    /// Our current proposal (what we are willing to decrypt).
    own_bits: u32,
    own_naks: u8,
    /// The peer's acknowledged request (what we will encrypt with), if any.
    peer_bits: Option<u32>,
    negotiated: Option<Mppe>,
    reset_requested: bool,
}

impl Ccp {
    pub fn new(policy: MppePolicy) -> Ccp {
        let mut ccp = Ccp {
            policy,
            request_mppe: false,
            own_bits: 0,
            own_naks: 0,
            peer_bits: None,
            negotiated: None,
            reset_requested: false,
        };
        ccp.reset();
        ccp
    }

    /// The strengths the policy allows, as option bits.
    fn allowed(&self) -> u32 {
        let mut b = 0;
        if self.policy.allow_128 {
            b |= bits::S;
        }
        if self.policy.allow_56 {
            b |= bits::M;
        }
        if self.policy.allow_40 {
            b |= bits::L;
        }
        b
    }

    /// The single strongest strength in `offered`, S > M > L.
    fn strongest(offered: u32) -> u32 {
        [bits::S, bits::M, bits::L]
            .into_iter()
            .find(|&b| offered & b != 0)
            .unwrap_or(0)
    }

    fn failure(&self) -> &'static str {
        if self.policy.required {
            MPPE_REQUIRED_FAILED
        } else {
            MPPE_FAILED
        }
    }

    /// What CCP agreed on once it is Opened; `None` before, or when MPPE is not in use.
    pub fn negotiated(&self) -> Option<Mppe> {
        self.negotiated
    }

    /// The peer sent a Reset-Request: the encrypter must flush (stateful mode).
    pub fn take_reset_request(&mut self) -> bool {
        core::mem::take(&mut self.reset_requested)
    }
}

impl Protocol for Ccp {
    const PROTOCOL: u16 = protocol::CCP;
    const NAME: &'static str = "CCP";

    fn reset(&mut self) {
        let allowed = self.allowed();
        self.request_mppe = allowed != 0;
        // Offer every allowed strength and stateless; the peer Naks down to one.
        self.own_bits = allowed | bits::H;
        self.own_naks = 0;
        self.negotiated = None;
    }

    fn own_options(&mut self, writer: &mut OptionWriter) {
        if self.request_mppe {
            let _ = writer.push(OPTION_TYPE, &emit_option(self.own_bits));
        }
    }

    fn own_option_nacked(
        &mut self,
        ty: u8,
        value: &[u8],
        rejected: bool,
    ) -> Result<(), &'static str> {
        if ty != OPTION_TYPE {
            return Ok(());
        }
        if rejected {
            crate::warn!("CCP: peer rejected MPPE");
            if self.policy.required {
                return Err(MPPE_REQUIRED_FAILED);
            }
            self.request_mppe = false;
            return Ok(());
        }
        let before = self.own_bits;
        if let Ok(suggested) = parse_option(value) {
            let strength = Self::strongest(suggested & self.allowed());
            let stateless = suggested & bits::H != 0 || self.policy.stateful == Stateful::Refuse;
            if strength != 0 {
                self.own_bits = strength | if stateless { bits::H } else { 0 };
            } else if !stateless {
                self.own_bits &= !bits::H;
            }
        }
        if self.own_bits == before {
            self.own_naks = self.own_naks.saturating_add(1);
            if self.own_naks >= MAX_FAILURE {
                return Err(self.failure());
            }
        }
        Ok(())
    }

    fn peer_request_start(&mut self) {
        self.peer_bits = None;
    }

    fn peer_option(&mut self, ty: u8, value: &[u8], reject_if_disagree: bool) -> Verdict {
        let (OPTION_TYPE, Ok(offered)) = (ty, parse_option(value)) else {
            // MPPC-only, Deflate, BSD, Predictor, ...: we only do MPPE.
            return Verdict::Reject;
        };
        let allowed = self.allowed();
        if allowed == 0 {
            return Verdict::Reject;
        }
        let strength = match Self::strongest(offered & allowed) {
            0 => Self::strongest(allowed),
            s => s,
        };
        let stateless = offered & bits::H != 0 || self.policy.stateful == Stateful::Refuse;
        // C (MPPC), D, M when not allowed and unknown bits are all cleared by this.
        let wanted = strength | if stateless { bits::H } else { 0 };
        if offered == wanted {
            self.peer_bits = Some(offered);
            Verdict::Ack
        } else if reject_if_disagree {
            Verdict::Reject
        } else {
            Verdict::nak(&emit_option(wanted))
        }
    }

    fn this_layer_up(&mut self, _now: Instant) -> Result<(), &'static str> {
        let receive = self.request_mppe.then_some(self.own_bits);
        self.negotiated = match (receive, self.peer_bits) {
            (None, None) if !self.policy.required => None,
            (Some(ours), Some(theirs)) => match (Mppe::from_bits(ours), Mppe::from_bits(theirs)) {
                (Some(a), Some(b)) if a == b => Some(a),
                _ => {
                    crate::warn!("CCP: MPPE differs between directions");
                    return Err(self.failure());
                }
            },
            _ => return Err(self.failure()),
        };
        Ok(())
    }

    fn this_layer_down(&mut self) {
        self.negotiated = None;
    }

    fn receive_other(&mut self, state: State, packet: &Repr, tx: &mut Tx) -> Other {
        match packet.code {
            code::RESET_REQUEST => {
                if state == State::Opened {
                    self.reset_requested = true;
                    tx.send_data(code::RESET_ACK, packet.identifier, &[]);
                }
                Other::Handled
            }
            // The decrypter resynchronises on the next flushed packet; nothing to do.
            code::RESET_ACK => Other::Handled,
            _ => Other::Unknown,
        }
    }
}

impl Fsm<Ccp> {
    /// Ask the peer to flush its encrypter (stateful MPPE lost a packet).
    pub fn send_reset_request(&mut self, outbox: &mut Outbox) {
        if !self.is_opened() {
            return;
        }
        let mut tx = self.tx(outbox);
        let id = tx.next_id();
        tx.send_data(code::RESET_REQUEST, id, &[]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Bytes = heapless::Vec<u8, 300>;

    fn sent(outbox: &mut Outbox) -> Bytes {
        let p = outbox.pop().expect("a packet");
        assert_eq!(p.protocol, protocol::CCP);
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

    fn ccp(policy: MppePolicy) -> (Fsm<Ccp>, Outbox, Bytes) {
        let mut fsm = Fsm::new(Ccp::new(policy));
        let mut outbox = Outbox::new();
        fsm.open(Instant::ZERO, &mut outbox);
        fsm.up(Instant::ZERO, &mut outbox);
        let request = sent(&mut outbox);
        (fsm, outbox, request)
    }

    #[test]
    fn windows_exchange_gives_128_bit_stateless() {
        let (mut fsm, mut outbox, request) = ccp(MppePolicy::default());
        assert_eq!(&request[..], &[1, 1, 0, 10, 0x12, 6, 0x01, 0, 0, 0x40]);
        let now = Instant::ZERO;
        // Client Acks ours; offers +H +S +L: Nak to +H +S.
        fsm.receive(now, &packet(2, 1, &request[4..]), &mut outbox);
        fsm.receive(
            now,
            &packet(1, 6, &[0x12, 6, 0x01, 0, 0, 0x60]),
            &mut outbox,
        );
        assert_eq!(
            &sent(&mut outbox)[..],
            &[3, 6, 0, 10, 0x12, 6, 0x01, 0, 0, 0x40]
        );
        fsm.receive(
            now,
            &packet(1, 8, &[0x12, 6, 0x01, 0, 0, 0x40]),
            &mut outbox,
        );
        assert_eq!(
            &sent(&mut outbox)[..],
            &[2, 8, 0, 10, 0x12, 6, 0x01, 0, 0, 0x40]
        );
        assert!(fsm.is_opened());
        assert_eq!(
            fsm.protocol().negotiated(),
            Some(Mppe {
                key_length: KeyLength::Bits128,
                stateless: true
            })
        );
    }

    #[test]
    fn mppc_d_and_stateful_are_naked_away() {
        let (mut fsm, mut outbox, _) = ccp(MppePolicy::default());
        // +C +D +M +S, stateful, plus an unknown bit.
        fsm.receive(
            Instant::ZERO,
            &packet(1, 1, &[0x12, 6, 0x00, 0x10, 0, 0xD1]),
            &mut outbox,
        );
        assert_eq!(&sent(&mut outbox)[4..], &[0x12, 6, 0x01, 0, 0, 0x40]);
        // Only 40-bit offered, only 128 allowed: Nak with 128.
        fsm.receive(
            Instant::ZERO,
            &packet(1, 2, &[0x12, 6, 0x01, 0, 0, 0x20]),
            &mut outbox,
        );
        assert_eq!(&sent(&mut outbox)[4..], &[0x12, 6, 0x01, 0, 0, 0x40]);
    }

    #[test]
    fn stateful_accepted_when_allowed_and_asked() {
        let policy = MppePolicy {
            stateful: Stateful::Allow,
            allow_40: true,
            ..MppePolicy::default()
        };
        let (mut fsm, mut outbox, request) = ccp(policy);
        assert_eq!(&request[4..], &[0x12, 6, 0x01, 0, 0, 0x60]);
        // The peer Naks ours to stateful 128.
        fsm.receive(
            Instant::ZERO,
            &packet(3, 1, &[0x12, 6, 0, 0, 0, 0x40]),
            &mut outbox,
        );
        let request = sent(&mut outbox);
        assert_eq!(&request[4..], &[0x12, 6, 0, 0, 0, 0x40]);
        fsm.receive(
            Instant::ZERO,
            &packet(2, request[1], &request[4..]),
            &mut outbox,
        );
        fsm.receive(
            Instant::ZERO,
            &packet(1, 3, &[0x12, 6, 0, 0, 0, 0x40]),
            &mut outbox,
        );
        assert_eq!(sent(&mut outbox)[0], code::CONFIGURE_ACK);
        assert_eq!(
            fsm.protocol().negotiated(),
            Some(Mppe {
                key_length: KeyLength::Bits128,
                stateless: false
            })
        );
    }

    #[test]
    fn other_options_are_rejected() {
        let (mut fsm, mut outbox, _) = ccp(MppePolicy::default());
        // Deflate (26) and BSD (21) next to MPPE: only those are rejected.
        let options = [26, 4, 0x78, 0, 0x12, 6, 0x01, 0, 0, 0x40, 21, 3, 0x2F];
        fsm.receive(Instant::ZERO, &packet(1, 1, &options), &mut outbox);
        assert_eq!(
            &sent(&mut outbox)[..],
            &[4, 1, 0, 11, 26, 4, 0x78, 0, 21, 3, 0x2F]
        );
        // A malformed option 18 is rejected too.
        fsm.receive(Instant::ZERO, &packet(1, 2, &[0x12, 4, 0, 0]), &mut outbox);
        assert_eq!(sent(&mut outbox)[0], code::CONFIGURE_REJECT);
    }

    #[test]
    fn peer_rejecting_mppe_fails_when_required() {
        let (mut fsm, mut outbox, request) = ccp(MppePolicy::default());
        fsm.receive(
            Instant::ZERO,
            &packet(4, request[1], &request[4..]),
            &mut outbox,
        );
        assert_eq!(fsm.close_reason(), Some(MPPE_REQUIRED_FAILED));
        assert_eq!(fsm.state(), State::Closing);
    }

    #[test]
    fn peer_naking_to_unusable_values_fails_after_max_failure() {
        let (mut fsm, mut outbox, mut request) = ccp(MppePolicy::default());
        for _ in 1..MAX_FAILURE {
            fsm.receive(
                Instant::ZERO,
                &packet(3, request[1], &[0x12, 6, 0, 0, 0, 0x01]),
                &mut outbox,
            );
            request = sent(&mut outbox);
            assert_eq!(&request[4..], &[0x12, 6, 0x01, 0, 0, 0x40]);
        }
        fsm.receive(
            Instant::ZERO,
            &packet(3, request[1], &[0x12, 6, 0, 0, 0, 0x01]),
            &mut outbox,
        );
        assert_eq!(fsm.close_reason(), Some(MPPE_REQUIRED_FAILED));
    }

    #[test]
    fn reset_request_is_acked_and_flagged() {
        let (mut fsm, mut outbox, request) = ccp(MppePolicy::default());
        fsm.receive(
            Instant::ZERO,
            &packet(2, request[1], &request[4..]),
            &mut outbox,
        );
        fsm.receive(Instant::ZERO, &packet(1, 1, &request[4..]), &mut outbox);
        sent(&mut outbox);
        assert!(fsm.is_opened());
        fsm.receive(Instant::ZERO, &packet(14, 0x42, &[]), &mut outbox);
        assert_eq!(&sent(&mut outbox)[..], &[15, 0x42, 0, 4]);
        assert!(fsm.protocol_mut().take_reset_request());
        assert!(!fsm.protocol_mut().take_reset_request());
        fsm.send_reset_request(&mut outbox);
        assert_eq!(sent(&mut outbox)[0], code::RESET_REQUEST);
    }
}
