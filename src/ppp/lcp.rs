//! LCP (RFC 1661) option rules for the server: we ask for MS-CHAPv2 and a magic number (and
//! our MRU when it is not the default), accept the few options that make sense on PPTP and
//! reject the rest (Callback, Multilink, BAP, ...). Also the LCP-only codes: Echo keepalive,
//! Protocol-Reject both ways, Discard/Identification/Time-Remaining ignored.

use heapless::Deque;
use smoltcp::time::{Duration, Instant};

use super::fsm::{Fsm, Other, Protocol, State, Tx, Verdict, MAX_FAILURE};
use super::Outbox;
use crate::limits::MAX_CONTROL_FRAME;
use crate::rand::{Random, XorShift};
use crate::settings::PppSettings;
use crate::wire::cp::{code, OptionWriter, Repr, HEADER_LEN};
use crate::wire::ppp::protocol;

/// LCP option types (pppd `lcp.h`).
pub mod option {
    pub const VENDOR: u8 = 0;
    pub const MRU: u8 = 1;
    pub const ACCM: u8 = 2;
    pub const AUTH_PROTOCOL: u8 = 3;
    pub const QUALITY_PROTOCOL: u8 = 4;
    pub const MAGIC_NUMBER: u8 = 5;
    pub const PFC: u8 = 7;
    pub const ACFC: u8 = 8;
    pub const CALLBACK: u8 = 13;
    pub const MRRU: u8 = 17;
    pub const SHORT_SEQUENCE: u8 = 18;
    pub const ENDPOINT_DISCRIMINATOR: u8 = 19;
    pub const LINK_DISCRIMINATOR: u8 = 23;
}

/// MRU when the option is absent (RFC 1661 §6.1).
pub const DEFAULT_MRU: u16 = 1500;
/// Smallest MRU we accept (pppd `MINMRU`).
pub const MIN_MRU: u16 = 128;
/// Authentication-Protocol value for MS-CHAPv2: CHAP (C223) with algorithm 0x81.
pub const AUTH_MSCHAP_V2: [u8; 3] = [0xC2, 0x23, 0x81];

/// The LCP hooks and state: what we ask for, what the peer asked for, the echo keepalive.
pub struct Lcp {
    /// Our MRU (settings `mru`); also the largest MRU of the peer we Ack.
    our_mru: u16,
    authenticate: bool,
    echo_interval: u32,
    echo_failure: u32,
    magic_source: XorShift,

    // Our request.
    request_mru: bool,
    request_auth: bool,
    request_magic: bool,
    magic: u32,
    auth_naks: u8,

    // The peer's request, as last Acked.
    peer_mru: u16,
    peer_magic: Option<u32>,
    peer_pfc: bool,
    peer_acfc: bool,

    // Echo keepalive.
    echo_at: Option<Instant>,
    echos_pending: u32,

    /// Protocols the peer Protocol-Rejected, for the link.
    rejected: Deque<u16, 4>,
}

impl Lcp {
    /// `seed` feeds the magic numbers; reseed from the real random source with [`Lcp::reseed`].
    pub fn new(settings: &PppSettings, seed: u64) -> Lcp {
        let mut lcp = Lcp {
            our_mru: settings.mru.clamp(MIN_MRU, DEFAULT_MRU),
            authenticate: settings.auth.require_auth && settings.auth.allow_mschap_v2,
            echo_interval: settings.lcp_echo_interval,
            echo_failure: settings.lcp_echo_failure,
            magic_source: XorShift(seed),
            request_mru: false,
            request_auth: false,
            request_magic: false,
            magic: 0,
            auth_naks: 0,
            peer_mru: DEFAULT_MRU,
            peer_magic: None,
            peer_pfc: false,
            peer_acfc: false,
            echo_at: None,
            echos_pending: 0,
            rejected: Deque::new(),
        };
        lcp.reset();
        lcp
    }

    /// Seed the magic-number generator from the real random source.
    pub fn reseed(&mut self, rng: &mut dyn Random) {
        let mut seed = [0u8; 8];
        rng.fill_bytes(&mut seed);
        self.magic_source = XorShift(u64::from_le_bytes(seed));
        self.magic = self.new_magic();
    }

    fn new_magic(&mut self) -> u32 {
        loop {
            let m = self.magic_source.next_u32();
            // Zero means "no magic number" and must not be used (RFC 1661 §6.4).
            if m != 0 && m != self.magic {
                return m;
            }
        }
    }

    /// Our magic number.
    pub fn magic(&self) -> u32 {
        self.magic
    }

    /// The peer's MRU (1500 unless it asked for another).
    pub fn peer_mru(&self) -> u16 {
        self.peer_mru
    }

    pub fn peer_magic(&self) -> Option<u32> {
        self.peer_magic
    }

    /// The peer accepts compressed protocol fields / no Address-Control (we may compress
    /// what we send; smolpptp never does, which is always allowed).
    pub fn peer_pfc(&self) -> bool {
        self.peer_pfc
    }

    pub fn peer_acfc(&self) -> bool {
        self.peer_acfc
    }

    /// Whether the peer agreed to authenticate itself with MS-CHAPv2.
    pub fn authenticates(&self) -> bool {
        self.request_auth
    }

    /// A protocol the peer Protocol-Rejected (only reported in Opened).
    pub fn take_rejected_protocol(&mut self) -> Option<u16> {
        self.rejected.pop_front()
    }

    fn echo_reply(&self, request: &Repr, tx: &mut Tx) {
        let Some(payload) = request.data.get(4..) else {
            return;
        };
        // Fit the peer's MRU and our control frame (RFC 1661 §5.8 "truncating as necessary").
        let room = usize::from(self.peer_mru)
            .min(MAX_CONTROL_FRAME)
            .saturating_sub(HEADER_LEN + 4);
        let payload = &payload[..payload.len().min(room)];
        let magic = self.magic.to_be_bytes();
        tx.send_parts(code::ECHO_REPLY, request.identifier, &magic, payload);
    }
}

impl Protocol for Lcp {
    const PROTOCOL: u16 = protocol::LCP;
    const NAME: &'static str = "LCP";

    fn reset(&mut self) {
        self.request_mru = self.our_mru != DEFAULT_MRU;
        self.request_auth = self.authenticate;
        self.request_magic = true;
        self.magic = self.new_magic();
        self.auth_naks = 0;
    }

    fn own_options(&mut self, writer: &mut OptionWriter) {
        if self.request_mru {
            let _ = writer.push(option::MRU, &self.our_mru.to_be_bytes());
        }
        if self.request_auth {
            let _ = writer.push(option::AUTH_PROTOCOL, &AUTH_MSCHAP_V2);
        }
        if self.request_magic {
            let _ = writer.push(option::MAGIC_NUMBER, &self.magic.to_be_bytes());
        }
    }

    fn own_option_nacked(
        &mut self,
        ty: u8,
        value: &[u8],
        rejected: bool,
    ) -> Result<(), &'static str> {
        match ty {
            option::MRU if rejected => self.request_mru = false,
            option::MRU => {
                if let Ok(mru) = <[u8; 2]>::try_from(value).map(u16::from_be_bytes) {
                    if (MIN_MRU..=DEFAULT_MRU).contains(&mru) {
                        self.our_mru = mru;
                        self.request_mru = mru != DEFAULT_MRU;
                    }
                }
            }
            option::AUTH_PROTOCOL if rejected => {
                return Err("peer refused to authenticate");
            }
            option::AUTH_PROTOCOL => {
                // We never fall back to PAP, CHAP-MD5, MS-CHAPv1 or EAP: keep asking.
                crate::info!(
                    "LCP: peer wants to authenticate with {}, we insist on MS-CHAPv2",
                    Hex(value)
                );
                self.auth_naks = self.auth_naks.saturating_add(1);
                if self.auth_naks >= MAX_FAILURE {
                    return Err("peer refused to authenticate with MS-CHAPv2");
                }
            }
            option::MAGIC_NUMBER if rejected => self.request_magic = false,
            option::MAGIC_NUMBER => self.magic = self.new_magic(),
            _ => {}
        }
        Ok(())
    }

    fn peer_request_start(&mut self) {
        self.peer_mru = DEFAULT_MRU;
        self.peer_magic = None;
        self.peer_pfc = false;
        self.peer_acfc = false;
    }

    fn peer_option(&mut self, ty: u8, value: &[u8], reject_if_disagree: bool) -> Verdict {
        match (ty, value.len()) {
            (option::MRU, 2) => {
                let mru = u16::from_be_bytes([value[0], value[1]]);
                let wanted = mru.clamp(MIN_MRU, self.our_mru);
                if mru == wanted {
                    self.peer_mru = mru;
                    Verdict::Ack
                } else if reject_if_disagree {
                    Verdict::Reject
                } else {
                    Verdict::nak(&wanted.to_be_bytes())
                }
            }
            // Meaningless on a synchronous link, harmless to accept.
            (option::ACCM, 4) => Verdict::Ack,
            (option::MAGIC_NUMBER, 4) => {
                let magic = u32::from_be_bytes([value[0], value[1], value[2], value[3]]);
                if magic == 0 || (self.request_magic && magic == self.magic) {
                    // Looped back (or invalid): suggest another, even after Max-Failure
                    // (pppd makes the same exception).
                    crate::warn!("LCP: peer's magic number equals ours (looped-back link?)");
                    let suggestion = self.magic_source.next_u32() | 1;
                    Verdict::nak(&suggestion.to_be_bytes())
                } else {
                    self.peer_magic = Some(magic);
                    Verdict::Ack
                }
            }
            (option::PFC, 0) => {
                self.peer_pfc = true;
                Verdict::Ack
            }
            (option::ACFC, 0) => {
                self.peer_acfc = true;
                Verdict::Ack
            }
            // Harmless identification of the peer's end (pppd Acks it); class 0..=5,
            // at most 20 bytes of address.
            (option::ENDPOINT_DISCRIMINATOR, 1..=21) if value[0] <= 5 => Verdict::Ack,
            // The peer wants us to authenticate ourselves: we have no client secrets.
            // Callback, MRRU, short sequence numbers, BAP, quality, vendor and anything
            // unknown or malformed: reject.
            _ => Verdict::Reject,
        }
    }

    fn this_layer_up(&mut self, now: Instant) -> Result<(), &'static str> {
        self.echos_pending = 0;
        self.echo_at = (self.echo_interval > 0)
            .then(|| now + Duration::from_secs(u64::from(self.echo_interval)));
        Ok(())
    }

    fn this_layer_down(&mut self) {
        self.echo_at = None;
        self.echos_pending = 0;
    }

    fn receive_other(&mut self, state: State, packet: &Repr, tx: &mut Tx) -> Other {
        let opened = state == State::Opened;
        match packet.code {
            code::ECHO_REQUEST => {
                if opened {
                    self.echo_reply(packet, tx);
                }
                Other::Handled
            }
            code::ECHO_REPLY => {
                if opened && packet.data.len() >= 4 {
                    if packet.data[..4] == self.magic.to_be_bytes() {
                        crate::warn!("LCP: appear to have received our own echo-reply!");
                    } else {
                        self.echos_pending = 0;
                    }
                }
                Other::Handled
            }
            code::DISCARD_REQUEST | code::IDENTIFICATION | code::TIME_REMAINING => Other::Handled,
            code::PROTOCOL_REJECT => {
                // RFC 1661 §5.7: only meaningful in Opened, silently discarded otherwise.
                let Some(rejected) = packet.data.get(..2) else {
                    return Other::Handled;
                };
                if !opened {
                    return Other::Handled;
                }
                let rejected = u16::from_be_bytes([rejected[0], rejected[1]]);
                if rejected == protocol::LCP {
                    crate::warn!("Received Protocol-Reject for LCP!");
                    Other::RejectCatastrophic
                } else {
                    crate::info!("LCP: peer rejected protocol 0x{:04x}", rejected);
                    if self.rejected.is_full() {
                        self.rejected.pop_front();
                    }
                    let _ = self.rejected.push_back(rejected);
                    Other::RejectPermitted
                }
            }
            _ => Other::Unknown,
        }
    }

    fn code_rejected(&mut self, code: u8) {
        if code == code::ECHO_REQUEST {
            // The peer cannot do echoes: stop counting them as lost.
            self.echo_at = None;
            self.echos_pending = 0;
        }
    }

    fn poll_at(&self, state: State) -> Option<Instant> {
        if state == State::Opened {
            self.echo_at
        } else {
            None
        }
    }

    fn handle_timeout(
        &mut self,
        now: Instant,
        state: State,
        tx: &mut Tx,
    ) -> Result<(), &'static str> {
        let Some(at) = self.echo_at else {
            return Ok(());
        };
        if state != State::Opened || now < at {
            return Ok(());
        }
        if self.echo_failure > 0 && self.echos_pending >= self.echo_failure {
            crate::info!(
                "No response to {} echo-requests; Serial link appears to be disconnected.",
                self.echos_pending
            );
            self.echo_at = None;
            return Err("Peer not responding");
        }
        let id = tx.next_id();
        let magic = self.magic.to_be_bytes();
        tx.send_data(code::ECHO_REQUEST, id, &magic);
        self.echos_pending = self.echos_pending.saturating_add(1);
        self.echo_at = Some(now + Duration::from_secs(u64::from(self.echo_interval)));
        Ok(())
    }
}

impl Fsm<Lcp> {
    /// Send LCP Protocol-Reject for a packet of `rejected` whose Information field is
    /// `information` (RFC 1661 §5.7). Only in Opened; truncated to the peer's MRU.
    pub fn send_protocol_reject(&mut self, rejected: u16, information: &[u8], outbox: &mut Outbox) {
        if !self.is_opened() {
            return;
        }
        let room = usize::from(self.protocol().peer_mru()).saturating_sub(HEADER_LEN + 2);
        let information = &information[..information.len().min(room)];
        let mut tx = self.tx(outbox);
        let id = tx.next_id();
        tx.send_parts(
            code::PROTOCOL_REJECT,
            id,
            &rejected.to_be_bytes(),
            information,
        );
    }
}

/// An option value in the log as `[c2, 23, 05]` (what `{:02x?}` printed), without core's
/// slice Debug and its pretty-printing adapter.
struct Hex<'a>(&'a [u8]);

impl core::fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        use core::fmt::Write;
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut separator = "[";
        for &b in self.0 {
            f.write_str(separator)?;
            separator = ", ";
            f.write_char(char::from(DIGITS[usize::from(b >> 4)]))?;
            f.write_char(char::from(DIGITS[usize::from(b & 0xF)]))?;
        }
        if self.0.is_empty() {
            f.write_str(separator)?;
        }
        f.write_str("]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_reads_like_debug() {
        let v = [0xc2u8, 0x23, 0x05];
        assert_eq!(format!("{}", Hex(&v)), format!("{:02x?}", &v[..]));
        assert_eq!(format!("{}", Hex(&[])), "[]");
    }
    use crate::wire::cp::Packet;

    type Bytes = heapless::Vec<u8, 300>;

    fn t(ms: i64) -> Instant {
        Instant::from_millis(ms)
    }

    fn sent(outbox: &mut Outbox) -> Bytes {
        let p = outbox.pop().expect("a packet");
        assert_eq!(p.protocol, protocol::LCP);
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

    fn settings(mru: u16) -> PppSettings {
        PppSettings {
            mru,
            ..PppSettings::default()
        }
    }

    /// LCP up, our Configure-Request sent; returns it.
    fn started(settings: &PppSettings, outbox: &mut Outbox) -> (Fsm<Lcp>, Bytes) {
        let mut lcp = Fsm::new(Lcp::new(settings, 7));
        lcp.protocol_mut().reseed(&mut XorShift(99));
        lcp.open(t(0), outbox);
        lcp.up(t(0), outbox);
        let request = sent(outbox);
        (lcp, request)
    }

    fn opened(settings: &PppSettings, outbox: &mut Outbox) -> Fsm<Lcp> {
        let (mut lcp, request) = started(settings, outbox);
        let mut ack = request.clone();
        ack[0] = code::CONFIGURE_ACK;
        lcp.receive(t(1), &ack, outbox);
        lcp.receive(
            t(2),
            &packet(
                code::CONFIGURE_REQUEST,
                1,
                &[5, 6, 0xAB, 0xCD, 0xEF, 0x01, 7, 2, 8, 2],
            ),
            outbox,
        );
        assert_eq!(sent(outbox)[0], code::CONFIGURE_ACK);
        assert!(lcp.is_opened());
        lcp
    }

    #[test]
    fn our_request_asks_for_mschapv2_and_magic() {
        let mut outbox = Outbox::new();
        let (lcp, request) = started(&settings(1500), &mut outbox);
        let magic = lcp.protocol().magic().to_be_bytes();
        let mut expected = [
            0x01, 0x01, 0x00, 0x0F, 0x03, 0x05, 0xC2, 0x23, 0x81, 0x05, 0x06, 0, 0, 0, 0,
        ];
        expected[11..].copy_from_slice(&magic);
        assert_eq!(&request[..], &expected);
        assert_ne!(lcp.protocol().magic(), 0);
        // A non-default MRU goes first.
        let (_, request) = started(&settings(1400), &mut outbox);
        assert_eq!(
            &request[..8],
            &[0x01, 0x01, 0x00, 0x13, 0x01, 0x04, 0x05, 0x78]
        );
    }

    #[test]
    fn windows_request_gets_the_pppd_reject() {
        let mut outbox = Outbox::new();
        let (mut lcp, _) = started(&settings(1400), &mut outbox);
        let windows: [u8; 44] = [
            0x01, 0x00, 0x00, 0x2C, 0x05, 0x06, 0x6F, 0x59, 0x3C, 0x72, 0x07, 0x02, 0x08, 0x02,
            0x0D, 0x03, 0x06, 0x11, 0x04, 0x06, 0x4E, 0x13, 0x17, 0x01, 0x48, 0x38, 0x4C, 0xA3,
            0x8E, 0xC8, 0x4A, 0xFE, 0x90, 0x0B, 0xA9, 0xA8, 0x7A, 0x6A, 0x59, 0x33, 0x00, 0x00,
            0x00, 0x22,
        ];
        lcp.receive(t(1), &windows, &mut outbox);
        assert_eq!(
            &sent(&mut outbox)[..],
            &[0x04, 0x00, 0x00, 0x0B, 0x0D, 0x03, 0x06, 0x11, 0x04, 0x06, 0x4E]
        );
        // Windows re-sends without them: Ack, and PFC/ACFC are recorded.
        let mut again = [0u8; 44 - 7];
        again[..4].copy_from_slice(&[0x01, 0x01, 0x00, 37]);
        again[4..14].copy_from_slice(&windows[4..14]);
        again[14..].copy_from_slice(&windows[21..]);
        lcp.receive(t(2), &again, &mut outbox);
        let ack = sent(&mut outbox);
        assert_eq!(ack[0], code::CONFIGURE_ACK);
        assert_eq!(&ack[1..], &again[1..]);
        let p = lcp.protocol();
        assert!(p.peer_pfc() && p.peer_acfc());
        assert_eq!(p.peer_magic(), Some(0x6F59_3C72));
        assert_eq!(p.peer_mru(), DEFAULT_MRU);
    }

    #[test]
    fn mru_rules() {
        let mut outbox = Outbox::new();
        let (mut lcp, _) = started(&settings(1400), &mut outbox);
        lcp.receive(t(1), &packet(1, 1, &[1, 4, 0x00, 0x40]), &mut outbox);
        assert_eq!(&sent(&mut outbox)[..], &[3, 1, 0, 8, 1, 4, 0x00, 0x80]);
        lcp.receive(t(1), &packet(1, 2, &[1, 4, 0x05, 0xDC]), &mut outbox);
        assert_eq!(&sent(&mut outbox)[..], &[3, 2, 0, 8, 1, 4, 0x05, 0x78]);
        lcp.receive(t(1), &packet(1, 3, &[1, 4, 0x05, 0x00]), &mut outbox);
        assert_eq!(sent(&mut outbox)[0], code::CONFIGURE_ACK);
        assert_eq!(lcp.protocol().peer_mru(), 1280);
        // Wrong length: reject.
        lcp.receive(t(1), &packet(1, 4, &[1, 3, 0x05]), &mut outbox);
        assert_eq!(&sent(&mut outbox)[..], &[4, 4, 0, 7, 1, 3, 0x05]);
    }

    #[test]
    fn looped_back_magic_is_naked_with_another() {
        let mut outbox = Outbox::new();
        let (mut lcp, _) = started(&settings(1500), &mut outbox);
        let ours = lcp.protocol().magic().to_be_bytes();
        let mut option = [5, 6, 0, 0, 0, 0];
        option[2..].copy_from_slice(&ours);
        lcp.receive(t(1), &packet(1, 1, &option), &mut outbox);
        let nak = sent(&mut outbox);
        assert_eq!(&nak[..6], &[3, 1, 0, 10, 5, 6]);
        assert_ne!(&nak[6..], &ours);
    }

    #[test]
    fn peer_asking_us_to_authenticate_is_rejected() {
        let mut outbox = Outbox::new();
        let (mut lcp, _) = started(&settings(1500), &mut outbox);
        lcp.receive(t(1), &packet(1, 1, &[3, 4, 0xC0, 0x23, 7, 2]), &mut outbox);
        assert_eq!(&sent(&mut outbox)[..], &[4, 1, 0, 8, 3, 4, 0xC0, 0x23]);
    }

    #[test]
    fn auth_nak_keeps_mschapv2_then_fails() {
        let mut outbox = Outbox::new();
        let (mut lcp, mut request) = started(&settings(1500), &mut outbox);
        for round in 1..=MAX_FAILURE {
            // The peer Naks with PAP.
            lcp.receive(
                t(1),
                &packet(3, request[1], &[3, 4, 0xC0, 0x23]),
                &mut outbox,
            );
            if round < MAX_FAILURE {
                request = sent(&mut outbox);
                assert_eq!(&request[4..9], &[3, 5, 0xC2, 0x23, 0x81]);
            }
        }
        assert_eq!(lcp.state(), State::Closing);
        assert_eq!(
            lcp.close_reason(),
            Some("peer refused to authenticate with MS-CHAPv2")
        );
        assert_eq!(sent(&mut outbox)[0], code::TERMINATE_REQUEST);
    }

    #[test]
    fn auth_reject_fails_at_once() {
        let mut outbox = Outbox::new();
        let (mut lcp, request) = started(&settings(1500), &mut outbox);
        lcp.receive(
            t(1),
            &packet(4, request[1], &[3, 5, 0xC2, 0x23, 0x81]),
            &mut outbox,
        );
        assert_eq!(lcp.close_reason(), Some("peer refused to authenticate"));
    }

    #[test]
    fn echo_reply_carries_our_magic_and_fits_the_mru() {
        let mut outbox = Outbox::new();
        let mut lcp = opened(&settings(1500), &mut outbox);
        let magic = lcp.protocol().magic().to_be_bytes();
        lcp.receive(
            t(3),
            &packet(9, 0x33, &[0xAB, 0xCD, 0xEF, 0x01, 1, 2, 3]),
            &mut outbox,
        );
        let reply = sent(&mut outbox);
        assert_eq!(&reply[..4], &[10, 0x33, 0, 11]);
        assert_eq!(&reply[4..8], &magic);
        assert_eq!(&reply[8..], &[1, 2, 3]);
        // Long data is cut to our control frame size.
        let long = [0x55u8; 296];
        lcp.receive(t(3), &packet(9, 0x34, &long), &mut outbox);
        assert_eq!(sent(&mut outbox).len(), MAX_CONTROL_FRAME);
        // Identification, Discard-Request, Time-Remaining: silence.
        for c in [11, 12, 13] {
            lcp.receive(t(3), &packet(c, 1, &[0, 0, 0, 0, b'x']), &mut outbox);
        }
        assert!(outbox.is_empty());
        // Unknown code: Code-Reject.
        lcp.receive(t(3), &packet(42, 1, &[]), &mut outbox);
        assert_eq!(sent(&mut outbox)[0], code::CODE_REJECT);
    }

    #[test]
    fn echo_reply_truncated_to_small_peer_mru() {
        let mut outbox = Outbox::new();
        let (mut lcp, request) = started(&settings(1500), &mut outbox);
        let mut ack = request.clone();
        ack[0] = 2;
        lcp.receive(t(1), &ack, &mut outbox);
        lcp.receive(t(1), &packet(1, 1, &[1, 4, 0, 128]), &mut outbox);
        sent(&mut outbox);
        lcp.receive(t(3), &packet(9, 1, &[9u8; 200]), &mut outbox);
        assert_eq!(sent(&mut outbox).len(), 128);
    }

    #[test]
    fn echo_keepalive_fails_after_the_configured_misses() {
        let mut outbox = Outbox::new();
        let s = PppSettings {
            lcp_echo_interval: 30,
            lcp_echo_failure: 2,
            ..settings(1500)
        };
        let mut lcp = opened(&s, &mut outbox);
        assert_eq!(lcp.poll_at(), Some(t(2) + Duration::from_secs(30)));
        lcp.handle_timeout(t(32_002), &mut outbox);
        let echo = sent(&mut outbox);
        assert_eq!(echo[0], code::ECHO_REQUEST);
        assert_eq!(&echo[4..8], &lcp.protocol().magic().to_be_bytes());
        // A reply resets the count.
        let reply = packet(10, echo[1], &[0xAB, 0xCD, 0xEF, 0x01]);
        lcp.receive(t(32_100), &reply, &mut outbox);
        lcp.handle_timeout(t(62_002), &mut outbox);
        lcp.handle_timeout(t(92_002), &mut outbox);
        assert_eq!(sent(&mut outbox)[0], code::ECHO_REQUEST);
        assert_eq!(sent(&mut outbox)[0], code::ECHO_REQUEST);
        assert!(lcp.is_opened());
        lcp.handle_timeout(t(122_002), &mut outbox);
        assert_eq!(lcp.state(), State::Closing);
        assert_eq!(lcp.close_reason(), Some("Peer not responding"));
    }

    #[test]
    fn protocol_reject_received() {
        let mut outbox = Outbox::new();
        let mut lcp = opened(&settings(1500), &mut outbox);
        lcp.receive(t(3), &packet(8, 1, &[0x80, 0xFD, 1, 1, 0, 4]), &mut outbox);
        assert_eq!(
            lcp.protocol_mut().take_rejected_protocol(),
            Some(protocol::CCP)
        );
        assert!(lcp.is_opened());
        lcp.receive(t(3), &packet(8, 2, &[0xC0, 0x21]), &mut outbox);
        assert_eq!(lcp.state(), State::Stopping);
    }

    #[test]
    fn protocol_reject_sent_only_when_opened() {
        let mut outbox = Outbox::new();
        let (mut lcp, _) = started(&settings(1500), &mut outbox);
        lcp.send_protocol_reject(protocol::IPV6CP, &[1, 5, 0, 4], &mut outbox);
        assert!(outbox.is_empty());
        let mut lcp = opened(&settings(1500), &mut outbox);
        lcp.send_protocol_reject(protocol::IPV6CP, &[1, 5, 0, 4], &mut outbox);
        let reject = sent(&mut outbox);
        assert_eq!(&reject[..], &[8, reject[1], 0, 10, 0x80, 0x57, 1, 5, 0, 4]);
        let parsed = Packet::new_checked(&reject[..]).unwrap();
        assert_eq!(parsed.data().len(), 6);
    }
}
