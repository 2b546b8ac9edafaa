//! The PPP layer of the client: framing, dispatch of received frames to LCP / CHAP / CCP /
//! IPCP / IPv6CP, phase changes (RFC 1661 §3, pppd order: LCP → auth → CCP → IPCP), and
//! the MPPE data path for IPv4 and IPv6.

use smolpptp::crypto::mppe::{DecryptError, Decrypter, Encrypter, KeyLength};
use smolpptp::limits::MAX_PPP_FRAME;
use smolpptp::wire::cp::{self, code};
use smolpptp::wire::mppe::{self as mppe_wire, bits, Header};
use smolpptp::wire::ppp::{self, protocol};
use smoltcp::time::Instant;

use super::chap::ChapOutcome;
use super::negotiation::{packet, Event};
use super::{Client, Failure, MppeMode, Phase, SendError, State};

/// Which negotiation an event came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ncp {
    Lcp,
    Ccp,
    Ipcp,
    Ipv6cp,
}

/// The PPP protocol of an IP packet, by its version nibble.
fn ip_protocol(packet: &[u8]) -> u16 {
    match packet.first() {
        Some(b) if b >> 4 == 6 => protocol::IPV6,
        _ => protocol::IPV4,
    }
}

impl Client {
    /// The server's IPv4 packets received through the tunnel, oldest first. Copies at most
    /// `buf.len()` bytes and returns the packet's length.
    pub fn recv_ip(&mut self, buf: &mut [u8]) -> Option<usize> {
        let packet = self.received_ip.pop_front()?;
        let n = packet.len().min(buf.len());
        buf[..n].copy_from_slice(&packet[..n]);
        Some(packet.len())
    }

    /// Like [`Client::recv_ip`], as an owned packet.
    pub fn recv_ip_packet(&mut self) -> Option<Vec<u8>> {
        self.received_ip.pop_front()
    }

    /// Queue an IPv4 or IPv6 packet (by its version nibble) for the server (MPPE-encrypted
    /// when MPPE is on); it leaves with the next `poll_gre`.
    pub fn send_ip(&mut self, now: Instant, packet: &[u8]) -> Result<(), SendError> {
        self.tick(now);
        let inner_protocol = ip_protocol(packet);
        if self.state != State::Up || (inner_protocol == protocol::IPV6 && !self.ipv6_up()) {
            return Err(SendError::NotUp);
        }
        let encrypted = self.encrypter.is_some();
        // Information field: MPPE header + inner protocol + packet, or the packet alone.
        let info_len = packet.len()
            + if encrypted {
                mppe_wire::HEADER_LEN + 2
            } else {
                0
            };
        let outer = if encrypted {
            protocol::COMPRESSED
        } else {
            inner_protocol
        };
        if info_len > usize::from(self.server_mru())
            || self.header_len(outer) + info_len > MAX_PPP_FRAME
        {
            return Err(SendError::TooBig);
        }
        let mut frame = self.ppp_header(outer);
        if let Some(encrypter) = &mut self.encrypter {
            let mut inner = Vec::with_capacity(2 + packet.len());
            inner.extend_from_slice(&inner_protocol.to_be_bytes());
            inner.extend_from_slice(packet);
            let header = encrypter.encrypt(&mut inner);
            frame.extend_from_slice(&header.to_bytes());
            frame.extend_from_slice(&inner);
        } else {
            frame.extend_from_slice(packet);
        }
        self.frame_queue.push_back(frame);
        self.counters.ip_tx += 1;
        Ok(())
    }

    /// Queue a raw PPP frame (from the Address field or the Protocol field on) exactly as
    /// given: for tests that send what a correct client would not.
    pub fn send_ppp_frame(&mut self, frame: &[u8]) {
        self.frame_queue.push_back(frame.to_vec());
    }

    /// Send an LCP Echo-Request with `data` after our magic number (when LCP is open).
    /// Replies are counted in `lcp_echo_replies_rx`.
    pub fn send_lcp_echo_request(&mut self, now: Instant, data: &[u8]) -> bool {
        self.tick(now);
        if !self.lcp.is_opened() {
            return false;
        }
        let mut body = self.lcp.options.magic.to_be_bytes().to_vec();
        body.extend_from_slice(data);
        let id = self.lcp.take_id();
        self.control_queue
            .push_back((protocol::LCP, packet(code::ECHO_REQUEST, id, &body)));
        true
    }

    /// Send a CCP Reset-Request (stateful MPPE resynchronisation, or to test the server).
    pub fn send_ccp_reset_request(&mut self) {
        let id = self.ccp.take_id();
        self.control_queue
            .push_back((protocol::CCP, packet(code::RESET_REQUEST, id, b"")));
        self.counters.mppe_reset_requests_tx += 1;
    }

    /// Our frames are compressed once the server Acked our PFC/ACFC.
    fn compress(&self) -> bool {
        self.lcp.is_opened() && self.lcp.options.pfc_acfc
    }

    fn header_len(&self, protocol: u16) -> usize {
        ppp::header_len(protocol, self.compress(), self.compress())
    }

    fn ppp_header(&self, protocol: u16) -> Vec<u8> {
        let mut header = vec![0u8; 4];
        let len = ppp::emit_header(&mut header, protocol, self.compress(), self.compress())
            .expect("a PPP header fits in 4 bytes");
        header.truncate(len);
        header
    }

    /// The next PPP frame to put in GRE: control packets first, then data.
    pub(super) fn next_ppp_frame(&mut self) -> Option<Vec<u8>> {
        if let Some((protocol, packet)) = self.control_queue.pop_front() {
            self.trace(format_args!(
                "GRE > {} {:02x?}",
                protocol_name(protocol),
                packet
            ));
            let mut frame = self.ppp_header(protocol);
            frame.extend_from_slice(&packet);
            return Some(frame);
        }
        self.frame_queue.pop_front()
    }

    /// A PPP frame (GRE payload) from the server.
    pub(super) fn handle_ppp(&mut self, now: Instant, frame: &mut [u8]) {
        let (proto, offset) = match ppp::parse(frame) {
            Ok(parsed) => parsed,
            Err(e) => {
                self.counters.ppp_rx_malformed += 1;
                return self.violation(format!(
                    "bad PPP header {:02x?}: {e}",
                    &frame[..frame.len().min(8)]
                ));
            }
        };
        let info = &mut frame[offset..];
        if ![protocol::COMPRESSED, protocol::IPV4, protocol::IPV6].contains(&proto) {
            self.trace(format_args!("GRE < {} {:02x?}", protocol_name(proto), info));
        }
        match proto {
            protocol::LCP => self.control_packet(now, Ncp::Lcp, info),
            protocol::CHAP => self.chap_packet(now, info),
            protocol::CCP | protocol::IPCP | protocol::IPV6CP
                if self.phase != Phase::Network && self.phase != Phase::Running =>
            {
                self.counters.ppp_rx_before_ready += 1;
                if self.phase < Phase::Network {
                    self.violation(format!(
                        "{} before authentication completed",
                        protocol_name(proto)
                    ));
                }
            }
            protocol::CCP => self.control_packet(now, Ncp::Ccp, info),
            protocol::IPCP => self.control_packet(now, Ncp::Ipcp, info),
            protocol::IPV6CP if self.config.request_ipv6 => {
                self.control_packet(now, Ncp::Ipv6cp, info)
            }
            protocol::COMPRESSED => self.mppe_packet(info),
            protocol::IPV4 | protocol::IPV6 if proto == protocol::IPV4 || self.ipv6_up() => {
                if self.mppe.is_some() {
                    self.counters.ip_rx_unencrypted += 1;
                    self.violation("clear IP while MPPE is on".into());
                } else {
                    self.deliver_ip(info.to_vec());
                }
            }
            other => {
                self.counters.ppp_rx_unknown_protocol += 1;
                if self.lcp.is_opened() {
                    // RFC 1661 §5.7: Protocol-Reject what we do not run.
                    let mut data = other.to_be_bytes().to_vec();
                    data.extend_from_slice(info);
                    data.truncate(usize::from(self.server_mru()).saturating_sub(4));
                    let id = self.lcp.take_id();
                    self.control_queue
                        .push_back((protocol::LCP, packet(code::PROTOCOL_REJECT, id, &data)));
                }
            }
        }
    }

    fn deliver_ip(&mut self, packet: Vec<u8>) {
        if self.state == State::Closing && self.phase == Phase::Terminating {
            // Sent before the server saw the LCP Terminate-Request: in flight, not a fault.
            self.counters.ip_rx_while_closing += 1;
            return;
        }
        if self.state != State::Up {
            self.counters.ip_rx_before_up += 1;
            return self.violation("IPv4 before the link was up".into());
        }
        self.counters.ip_rx += 1;
        self.received_ip.push_back(packet);
    }

    fn mppe_packet(&mut self, info: &mut [u8]) {
        let Some(decrypter) = &mut self.decrypter else {
            self.counters.mppe_rx_errors += 1;
            return self.violation("MPPE data before CCP opened with MPPE".into());
        };
        let Ok(header) = Header::parse(info) else {
            self.counters.mppe_rx_errors += 1;
            return self.violation("MPPE packet shorter than its header".into());
        };
        let data = &mut info[mppe_wire::HEADER_LEN..];
        match decrypter.decrypt(header, data) {
            Ok(()) => {}
            Err(DecryptError::Late) => {
                self.counters.mppe_rx_late += 1;
                return;
            }
            Err(DecryptError::NeedReset) => {
                self.counters.mppe_rx_errors += 1;
                return self.send_ccp_reset_request();
            }
            Err(DecryptError::AwaitingFlush) => {
                self.counters.mppe_rx_errors += 1;
                return;
            }
            Err(e) => {
                self.counters.mppe_rx_errors += 1;
                return self.violation(format!("MPPE packet {header:?} rejected: {e:?}"));
            }
        }
        // The inner protocol: two bytes, or one odd byte if the sender used PFC.
        let (inner, skip) = match data {
            [first, ..] if *first & 1 == 1 => (u16::from(*first), 1),
            [hi, lo, ..] => (u16::from_be_bytes([*hi, *lo]), 2),
            _ => {
                self.counters.mppe_rx_errors += 1;
                return self.violation("MPPE packet without an inner protocol".into());
            }
        };
        if inner == protocol::IPV4 || (inner == protocol::IPV6 && self.ipv6_up()) {
            let packet = data[skip..].to_vec();
            self.deliver_ip(packet);
        } else {
            self.counters.ppp_rx_unknown_protocol += 1;
            self.violation(format!(
                "encrypted protocol {inner:#06x} (garbage after decryption?)"
            ));
        }
    }

    fn chap_packet(&mut self, now: Instant, info: &[u8]) {
        if !matches!(self.phase, Phase::Establish | Phase::Authenticate) || !self.lcp.peer_acked() {
            self.counters.ppp_rx_before_ready += 1;
            if self.phase == Phase::Establish {
                self.violation("CHAP before LCP was open".into());
            }
            return;
        }
        let outcome = self.chap.receive(info, &mut self.rng);
        match outcome {
            ChapOutcome::Reply(packet) => self.control_queue.push_back((protocol::CHAP, packet)),
            ChapOutcome::Ignore(None) => {}
            ChapOutcome::Ignore(Some(violation)) => self.violation(violation),
            ChapOutcome::Failed(failure) => self.fail(now, failure),
            ChapOutcome::Succeeded(keys) => {
                self.trace(format_args!(
                    "authenticated: {:?}",
                    self.chap.success_message
                ));
                self.start_keys = Some((keys.send, keys.recv));
                self.phase = Phase::Network;
                self.state = State::Negotiating;
                self.ccp.open(now, &mut self.control_queue);
                if self.config.early_ipcp {
                    self.ipcp.open(now, &mut self.control_queue);
                    if self.config.request_ipv6 {
                        self.ipv6cp.open(now, &mut self.control_queue);
                    }
                }
            }
        }
    }

    /// An LCP/CCP/IPCP packet (from the Code field on).
    fn control_packet(&mut self, now: Instant, which: Ncp, info: &[u8]) {
        let repr = match cp::Packet::new_checked(info).and_then(|p| cp::Repr::parse(&p)) {
            Ok(repr) => repr,
            Err(e) => {
                self.counters.ppp_rx_malformed += 1;
                return self.violation(format!("bad {which:?} packet {info:02x?}: {e}"));
            }
        };
        let (code, id, data) = (repr.code, repr.identifier, repr.data);
        let event = match which {
            Ncp::Lcp => self
                .lcp
                .receive(now, code, id, data, &mut self.control_queue),
            Ncp::Ccp => self
                .ccp
                .receive(now, code, id, data, &mut self.control_queue),
            Ncp::Ipcp => self
                .ipcp
                .receive(now, code, id, data, &mut self.control_queue),
            Ncp::Ipv6cp => self
                .ipv6cp
                .receive(now, code, id, data, &mut self.control_queue),
        };
        self.negotiation_event(now, which, event, info);
    }

    pub(super) fn ppp_timeouts(&mut self, now: Instant) {
        let lcp = self.lcp.handle_timeout(now, &mut self.control_queue);
        self.negotiation_event(now, Ncp::Lcp, lcp, &[]);
        let ccp = self.ccp.handle_timeout(now, &mut self.control_queue);
        self.negotiation_event(now, Ncp::Ccp, ccp, &[]);
        let ipcp = self.ipcp.handle_timeout(now, &mut self.control_queue);
        self.negotiation_event(now, Ncp::Ipcp, ipcp, &[]);
        let ipv6cp = self.ipv6cp.handle_timeout(now, &mut self.control_queue);
        self.negotiation_event(now, Ncp::Ipv6cp, ipv6cp, &[]);
    }

    fn negotiation_event(&mut self, now: Instant, which: Ncp, event: Event, packet_bytes: &[u8]) {
        match (which, event) {
            (_, Event::Nothing) => {}
            (_, Event::Violation(what)) => self.violation(what),
            // IPv6 is optional: IPv4 carries on whatever happens to IPv6CP.
            (Ncp::Ipv6cp, Event::Failed(reason)) => {
                self.trace(format_args!("IPv6CP gave up: {reason}"));
            }
            (Ncp::Ipv6cp, Event::Down) => {}
            (Ncp::Ipv6cp, Event::Opened) => {
                self.trace(format_args!("IPv6 up: id {:02x?}", self.ipv6cp.options.id));
            }
            (_, Event::Failed(reason)) => {
                let failure = match which {
                    Ncp::Ccp if self.ccp.options.required() => Failure::Encryption(reason),
                    Ncp::Ccp => return self.start_ipcp(now),
                    Ncp::Ipcp => Failure::Address(reason),
                    Ncp::Lcp => Failure::Negotiation(reason),
                    Ncp::Ipv6cp => return,
                };
                self.fail(now, failure);
            }
            (Ncp::Lcp, Event::Opened) => {
                if self.phase == Phase::Establish {
                    self.phase = Phase::Authenticate;
                    self.state = State::Authenticating;
                }
            }
            (Ncp::Lcp, Event::Down) => {
                self.violation("the server renegotiated LCP on an open link".into());
                self.fail(now, Failure::Negotiation("LCP renegotiated".into()));
            }
            (Ncp::Ccp, Event::Opened) => self.ccp_opened(now),
            (Ncp::Ccp, Event::Down) => {
                self.encrypter = None;
                self.decrypter = None;
                self.mppe = None;
                if self.state == State::Up {
                    self.state = State::Negotiating;
                }
            }
            (Ncp::Ipcp, Event::Opened) => {
                let address = self.ipcp.options.address;
                if address.is_unspecified() {
                    return self.fail(
                        now,
                        Failure::Address("IPCP opened with 0.0.0.0 (Windows 738)".into()),
                    );
                }
                if self.state == State::Negotiating {
                    self.trace(format_args!("UP: address {address}, DNS {:?}", self.dns()));
                    self.phase = Phase::Running;
                    self.state = State::Up;
                    self.setup_deadline = None;
                }
            }
            (Ncp::Ipcp, Event::Down) => {
                if self.state == State::Up {
                    self.state = State::Negotiating;
                }
            }
            (Ncp::Lcp, Event::TerminatedByPeer(text)) => {
                self.trace(format_args!("server terminated LCP: {text:?}"));
                self.ccp.stop();
                self.ipcp.stop();
                self.encrypter = None;
                self.decrypter = None;
                let reason = format!("LCP Terminate-Request: {text}");
                match self.state {
                    State::Up | State::Closing | State::Closed | State::Failed(_) => {
                        self.disconnect_reason.get_or_insert(reason);
                        if self.state == State::Up {
                            self.state = State::Closing;
                        }
                    }
                    _ => {
                        self.disconnect_reason.get_or_insert(reason);
                        self.fail_without_teardown(Failure::LcpTerminated(text));
                    }
                }
                // Let the server send its CDN first; clear the call ourselves if it doesn't.
                if self.phase != Phase::Finished {
                    self.phase = Phase::Terminating;
                    self.terminate_deadline = Some(now + self.config.restart_interval);
                }
            }
            (_, Event::TerminatedByPeer(text)) => {
                self.disconnect_reason
                    .get_or_insert(format!("{which:?} Terminate-Request: {text}"));
                if which == Ncp::Ipcp || (which == Ncp::Ccp && self.ccp.options.required()) {
                    self.begin_hang_up(now);
                }
            }
            (Ncp::Lcp, Event::Finished) => {
                if self.phase == Phase::Terminating {
                    self.ppp_finished(now);
                }
            }
            (_, Event::Finished) => {}
            (Ncp::Ipcp, Event::TerminateAck) => self.counters.ipcp_terminate_acks_rx += 1,
            (_, Event::TerminateAck) => {}
            (_, Event::CodeRejected(rejected)) => {
                self.counters.code_rejects_rx += 1;
                if (code::CONFIGURE_REQUEST..=code::CODE_REJECT).contains(&rejected) {
                    self.fail(
                        now,
                        Failure::Negotiation(format!("{which:?} Code-Reject of code {rejected}")),
                    );
                } else {
                    self.violation(format!("{which:?} Code-Reject of code {rejected}"));
                }
            }
            (
                which,
                Event::Extension {
                    code,
                    identifier,
                    data,
                },
            ) => self.extension(now, which, code, identifier, &data, packet_bytes),
        }
    }

    /// Codes beyond Configure/Terminate/Code-Reject.
    fn extension(&mut self, now: Instant, which: Ncp, code: u8, id: u8, data: &[u8], whole: &[u8]) {
        match (which, code) {
            (Ncp::Lcp, code::ECHO_REQUEST) => {
                self.counters.lcp_echo_requests_rx += 1;
                if !self.lcp.is_opened() {
                    return;
                }
                if let (Some(their), Some(magic)) = (self.lcp.options.peer_magic, data.get(..4)) {
                    if magic != their.to_be_bytes() {
                        self.violation(format!(
                            "LCP Echo-Request magic {magic:02x?}, negotiated {their:#010x}"
                        ));
                    }
                }
                let mut reply = self.lcp.options.magic.to_be_bytes().to_vec();
                reply.extend_from_slice(data.get(4..).unwrap_or(b""));
                self.control_queue
                    .push_back((protocol::LCP, packet(code::ECHO_REPLY, id, &reply)));
            }
            (Ncp::Lcp, code::ECHO_REPLY) => self.counters.lcp_echo_replies_rx += 1,
            (Ncp::Lcp, code::DISCARD_REQUEST | code::TIME_REMAINING) => {}
            (Ncp::Lcp, code::IDENTIFICATION) => self.counters.lcp_identification_rx += 1,
            (Ncp::Lcp, code::PROTOCOL_REJECT) => {
                self.counters.protocol_rejects_rx += 1;
                let [hi, lo, ..] = *data else {
                    return self.violation("short LCP Protocol-Reject".into());
                };
                match u16::from_be_bytes([hi, lo]) {
                    protocol::IPV6CP => {
                        self.ipv6_rejected = true;
                        self.ipv6cp.stop();
                    }
                    protocol::CCP if !self.ccp.options.required() => {
                        self.ccp.stop();
                        self.start_ipcp(now);
                    }
                    rejected
                    @ (protocol::CCP | protocol::IPCP | protocol::LCP | protocol::CHAP) => {
                        self.fail(now, Failure::ProtocolRejected(rejected))
                    }
                    // Something a test injected with `send_ppp_frame`: counted only.
                    _ => {}
                }
            }
            (Ncp::Ccp, code::RESET_REQUEST) => {
                self.counters.mppe_reset_requests_rx += 1;
                if let Some(encrypter) = &mut self.encrypter {
                    encrypter.flush();
                }
                self.control_queue
                    .push_back((protocol::CCP, packet(code::RESET_ACK, id, b"")));
            }
            (Ncp::Ccp, code::RESET_ACK) => {}
            _ => {
                // RFC 1661 §5.6: Code-Reject with the offending packet.
                let (protocol, nid) = match which {
                    Ncp::Lcp => (protocol::LCP, self.lcp.take_id()),
                    Ncp::Ccp => (protocol::CCP, self.ccp.take_id()),
                    Ncp::Ipcp => (protocol::IPCP, self.ipcp.take_id()),
                    Ncp::Ipv6cp => (protocol::IPV6CP, self.ipv6cp.take_id()),
                };
                self.violation(format!("{which:?} unknown code {code}"));
                self.control_queue
                    .push_back((protocol, packet(code::CODE_REJECT, nid, whole)));
            }
        }
    }

    fn ccp_opened(&mut self, now: Instant) {
        let (ours, theirs) = (self.ccp.options.ours, self.ccp.options.theirs);
        match (ours, theirs) {
            (Some(ours), Some(theirs)) if ours == theirs => {
                let Some((send, recv)) = self.start_keys else {
                    return self.fail(
                        now,
                        Failure::Encryption("CCP opened without MS-CHAPv2 keys".into()),
                    );
                };
                let stateless = ours & bits::H != 0;
                self.encrypter = Some(Encrypter::new(&send, KeyLength::Bits128, stateless));
                self.decrypter = Some(Decrypter::new(&recv, KeyLength::Bits128, stateless));
                self.mppe = Some(MppeMode {
                    stateless,
                    bits: ours,
                });
            }
            (Some(ours), Some(theirs)) => {
                return self.fail(
                    now,
                    Failure::Encryption(format!(
                        "MPPE modes differ: ours {ours:#010x}, the server's {theirs:#010x}"
                    )),
                )
            }
            (None, None) if !self.ccp.options.required() => self.mppe = None,
            (ours, theirs) => {
                return self.fail(
                    now,
                    Failure::Encryption(format!(
                    "CCP opened without MPPE both ways (ours {ours:?}, the server's {theirs:?})"
                )),
                )
            }
        }
        self.start_ipcp(now);
    }

    fn start_ipcp(&mut self, now: Instant) {
        if self.ipcp.is_active() {
            self.ipcp.restart(now, &mut self.control_queue);
        } else {
            self.ipcp.open(now, &mut self.control_queue);
        }
        if self.config.request_ipv6 && !self.ipv6_rejected {
            if self.ipv6cp.is_active() {
                self.ipv6cp.restart(now, &mut self.control_queue);
            } else {
                self.ipv6cp.open(now, &mut self.control_queue);
            }
        }
    }

    /// Record a failure that needs no teardown of our own (the server is already doing it).
    fn fail_without_teardown(&mut self, failure: Failure) {
        if !self.is_finished() {
            self.trace(format_args!("FAILED: {failure:?}"));
            self.state = State::Failed(failure);
            self.setup_deadline = None;
        }
    }
}

fn protocol_name(p: u16) -> &'static str {
    match p {
        protocol::LCP => "LCP",
        protocol::CHAP => "CHAP",
        protocol::CCP => "CCP",
        protocol::IPCP => "IPCP",
        protocol::IPV6CP => "IPv6CP",
        protocol::IPV4 => "IPv4",
        protocol::COMPRESSED => "MPPE",
        _ => "PPP?",
    }
}
