//! A small, deliberately separate implementation of RFC 1661 option negotiation for the
//! client: our Configure-Request (retransmitted, new Identifier each time, as pppd does),
//! the verdict on the server's request, Naks and Rejects of ours, Terminate. "Opened" means
//! our request was Acked and we Acked the server's latest one.
//!
//! Checks the server on the way: an Ack must repeat our request exactly and a Reject may
//! only contain options we sent (RFC 1661 §5.2, §5.4).

use smolpptp::wire::cp::{code, Options};
use smoltcp::time::{Duration, Instant};

use super::ControlQueue;

/// How many Nak/Reject rounds we accept before giving up (pppd Max-Failure is 5 for the
/// Naker; allow the server some slack).
const MAX_NAK_ROUNDS: u32 = 10;
/// Max-Terminate (RFC 1661 default).
const MAX_TERMINATE: u32 = 2;

/// Our answer to the server's Configure-Request.
pub(super) enum Verdict {
    Ack,
    Nak(Vec<u8>),
    Reject(Vec<u8>),
}

/// The option rules of one protocol.
pub(super) trait OptionPolicy {
    /// Options of our next Configure-Request.
    fn request(&mut self) -> Vec<u8>;
    /// Verdict on the server's options (already checked to be well-formed TLVs).
    fn judge(&mut self, options: &[u8]) -> Verdict;
    /// The server Nak'd these options of ours; Err gives up the link.
    fn naked(&mut self, options: &[u8]) -> Result<(), String>;
    /// The server Rejected these options of ours; Err gives up the link.
    fn rejected(&mut self, options: &[u8]) -> Result<(), String>;
}

/// What happened to a negotiation as a result of a packet or a timeout.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Event {
    Nothing,
    Opened,
    /// Was open, renegotiating now (the server sent a new Configure-Request or a Nak).
    Down,
    /// The server sent Terminate-Request (its data, as text).
    TerminatedByPeer(String),
    /// Terminate-Ack for our Terminate-Request (or we gave up waiting).
    Finished,
    /// Terminate-Ack while we were negotiating (a server answering an NCP it won't run yet).
    TerminateAck,
    /// Codes this module does not know (Echo, Protocol-Reject, Reset-Request, ...).
    Extension {
        code: u8,
        identifier: u8,
        data: Vec<u8>,
    },
    /// The server Code-Rejected one of our packets with this code.
    CodeRejected(u8),
    /// Giving up (timeout, too many Naks, policy refused). The reason.
    Failed(String),
    /// Protocol violation (non-fatal), one line.
    Violation(String),
}

pub(super) struct Negotiation<P> {
    pub name: &'static str,
    pub protocol: u16,
    pub options: P,
    /// We are negotiating (opened by us).
    active: bool,
    /// Our outstanding Configure-Request: Identifier and options.
    request: Option<(u8, Vec<u8>)>,
    our_acked: bool,
    their_acked: bool,
    opened: bool,
    terminating: bool,
    next_id: u8,
    retransmit_at: Option<Instant>,
    transmissions: u32,
    nak_rounds: u32,
    restart: Duration,
    max_configure: u32,
}

impl<P: OptionPolicy> Negotiation<P> {
    pub fn new(
        name: &'static str,
        protocol: u16,
        options: P,
        restart: Duration,
        max_configure: u32,
    ) -> Self {
        Negotiation {
            name,
            protocol,
            options,
            active: false,
            request: None,
            our_acked: false,
            their_acked: false,
            opened: false,
            terminating: false,
            next_id: 1,
            retransmit_at: None,
            transmissions: 0,
            nak_rounds: 0,
            restart,
            max_configure,
        }
    }

    pub fn is_active(&self) -> bool {
        self.active
    }

    pub fn is_opened(&self) -> bool {
        self.opened
    }

    pub fn poll_at(&self) -> Option<Instant> {
        self.retransmit_at
    }

    /// Start negotiating: send our Configure-Request.
    pub fn open(&mut self, now: Instant, out: &mut ControlQueue) {
        if self.active {
            return; // already started (passively, by the server's request)
        }
        self.active = true;
        self.terminating = false;
        self.transmissions = 0;
        self.send_request(now, out);
    }

    /// Send a fresh Configure-Request now (e.g. IPCP once CCP is up after a Terminate-Ack).
    pub fn restart(&mut self, now: Instant, out: &mut ControlQueue) {
        if self.active && !self.opened && !self.terminating {
            self.transmissions = 0;
            self.our_acked = false;
            self.send_request(now, out);
        }
    }

    /// Send Terminate-Request (we are leaving).
    pub fn terminate(&mut self, now: Instant, out: &mut ControlQueue, reason: &[u8]) {
        self.opened = false;
        self.terminating = true;
        self.transmissions = 1;
        let id = self.take_id();
        out.push_back((self.protocol, packet(code::TERMINATE_REQUEST, id, reason)));
        self.retransmit_at = Some(now + self.restart);
    }

    /// Stop everything without sending (lower layer gone).
    pub fn stop(&mut self) {
        self.active = false;
        self.opened = false;
        self.terminating = false;
        self.retransmit_at = None;
    }

    /// We Acked the server's latest Configure-Request.
    pub fn peer_acked(&self) -> bool {
        self.their_acked
    }

    /// A fresh Identifier for a packet of this protocol.
    pub fn take_id(&mut self) -> u8 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        id
    }

    fn send_request(&mut self, now: Instant, out: &mut ControlQueue) {
        let options = self.options.request();
        let id = self.take_id();
        out.push_back((self.protocol, packet(code::CONFIGURE_REQUEST, id, &options)));
        self.request = Some((id, options));
        self.transmissions += 1;
        self.retransmit_at = Some(now + self.restart);
    }

    pub fn handle_timeout(&mut self, now: Instant, out: &mut ControlQueue) -> Event {
        match self.retransmit_at {
            Some(at) if now >= at => {}
            _ => return Event::Nothing,
        }
        self.retransmit_at = None;
        if self.terminating {
            if self.transmissions >= MAX_TERMINATE {
                self.terminating = false;
                self.active = false;
                return Event::Finished;
            }
            self.transmissions += 1;
            let id = self.take_id();
            out.push_back((self.protocol, packet(code::TERMINATE_REQUEST, id, b"")));
            self.retransmit_at = Some(now + self.restart);
            return Event::Nothing;
        }
        if !self.active || self.our_acked {
            return Event::Nothing;
        }
        if self.transmissions >= self.max_configure {
            self.active = false;
            return Event::Failed(format!("{}: timeout sending Config-Requests", self.name));
        }
        self.send_request(now, out);
        Event::Nothing
    }

    /// A packet of this protocol from the server (from the Code field on, already checked).
    pub fn receive(
        &mut self,
        now: Instant,
        code: u8,
        id: u8,
        data: &[u8],
        out: &mut ControlQueue,
    ) -> Event {
        match code {
            code::CONFIGURE_REQUEST => self.configure_request(now, id, data, out),
            code::CONFIGURE_ACK => {
                let Some((req_id, ours)) = &self.request else {
                    return Event::Nothing;
                };
                if *req_id != id || self.our_acked || !self.active || self.terminating {
                    return Event::Nothing; // stale or duplicate: silently discarded
                }
                if data != &ours[..] {
                    return Event::Violation(format!(
                        "{} Configure-Ack id {id} does not repeat our request: {data:02x?} vs {ours:02x?}",
                        self.name
                    ));
                }
                self.our_acked = true;
                self.retransmit_at = None;
                self.nak_rounds = 0;
                if self.their_acked {
                    self.opened = true;
                    return Event::Opened;
                }
                Event::Nothing
            }
            code::CONFIGURE_NAK | code::CONFIGURE_REJECT => {
                let Some((req_id, ours)) = &self.request else {
                    return Event::Nothing;
                };
                if *req_id != id || self.our_acked || !self.active || self.terminating {
                    return Event::Nothing;
                }
                if Options::validate(data).is_err() {
                    return Event::Violation(format!(
                        "{} malformed Nak/Reject {data:02x?}",
                        self.name
                    ));
                }
                let reject = code == code::CONFIGURE_REJECT;
                if reject && !is_subset(data, ours) {
                    return Event::Violation(format!(
                        "{} Configure-Reject {data:02x?} is not a subset of our request {ours:02x?}",
                        self.name
                    ));
                }
                self.nak_rounds += 1;
                if self.nak_rounds > MAX_NAK_ROUNDS {
                    self.active = false;
                    return Event::Failed(format!(
                        "{}: the server keeps Naking/Rejecting our request",
                        self.name
                    ));
                }
                let verdict = if reject {
                    self.options.rejected(data)
                } else {
                    self.options.naked(data)
                };
                if let Err(reason) = verdict {
                    self.active = false;
                    self.retransmit_at = None;
                    return Event::Failed(reason);
                }
                let was_opened = self.opened;
                self.opened = false;
                self.transmissions = 0;
                self.send_request(now, out);
                if was_opened {
                    Event::Down
                } else {
                    Event::Nothing
                }
            }
            code::TERMINATE_REQUEST => {
                out.push_back((self.protocol, packet(code::TERMINATE_ACK, id, b"")));
                self.opened = false;
                self.our_acked = false;
                self.their_acked = false;
                self.active = false;
                self.retransmit_at = None;
                Event::TerminatedByPeer(String::from_utf8_lossy(data).into_owned())
            }
            code::TERMINATE_ACK => {
                if self.terminating {
                    self.terminating = false;
                    self.active = false;
                    self.retransmit_at = None;
                    Event::Finished
                } else {
                    Event::TerminateAck
                }
            }
            code::CODE_REJECT => Event::CodeRejected(data.first().copied().unwrap_or(0)),
            _ => Event::Extension {
                code,
                identifier: id,
                data: data.to_vec(),
            },
        }
    }

    fn configure_request(
        &mut self,
        now: Instant,
        id: u8,
        data: &[u8],
        out: &mut ControlQueue,
    ) -> Event {
        if Options::validate(data).is_err() {
            return Event::Violation(format!(
                "{} malformed Configure-Request {data:02x?}",
                self.name
            ));
        }
        let mut event = Event::Nothing;
        if self.opened {
            // RFC 1661 RCR in Opened: this-layer-down, send our request again.
            self.opened = false;
            self.our_acked = false;
            self.transmissions = 0;
            self.send_request(now, out);
            event = Event::Down;
        } else if !self.active {
            // The server started first; join in (passive open).
            self.active = true;
            self.transmissions = 0;
            self.send_request(now, out);
        }
        match self.options.judge(data) {
            Verdict::Ack => {
                out.push_back((self.protocol, packet(code::CONFIGURE_ACK, id, data)));
                self.their_acked = true;
                if self.our_acked && event == Event::Nothing {
                    self.opened = true;
                    return Event::Opened;
                }
            }
            Verdict::Nak(options) => {
                out.push_back((self.protocol, packet(code::CONFIGURE_NAK, id, &options)));
                self.their_acked = false;
            }
            Verdict::Reject(options) => {
                out.push_back((self.protocol, packet(code::CONFIGURE_REJECT, id, &options)));
                self.their_acked = false;
            }
        }
        event
    }
}

/// A control packet: Code, Identifier, Length, data.
pub(super) fn packet(code: u8, id: u8, data: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; smolpptp::wire::cp::HEADER_LEN + data.len()];
    let repr = smolpptp::wire::cp::Repr {
        code,
        identifier: id,
        data,
    };
    let len = repr.emit(&mut buf).expect("control packet fits its buffer");
    buf.truncate(len);
    buf
}

/// Append one option TLV.
pub(super) fn push_option(out: &mut Vec<u8>, ty: u8, value: &[u8]) {
    out.push(ty);
    out.push((value.len() + 2) as u8);
    out.extend_from_slice(value);
}

/// Every option in `subset` appears (type and value) in `set`.
fn is_subset(subset: &[u8], set: &[u8]) -> bool {
    let all: Vec<(u8, &[u8])> = Options::new(set).filter_map(Result::ok).collect();
    Options::new(subset).all(|o| o.map(|o| all.contains(&o)).unwrap_or(false))
}
