//! The RFC 1661 §4 option-negotiation automaton, shared by LCP, IPCP, IPv6CP and CCP.
//!
//! [`Fsm`] owns the ten states, the restart timer and counters, Identifier matching and the
//! construction of Configure-Ack/-Nak/-Reject replies. A [`Protocol`] supplies only the
//! option rules and any extra packet codes (LCP Echo, CCP Reset, ...). The transition table
//! is RFC 1661 §4.1 (copied in protocol.md §2.4); each arm below cites its cell.
//!
//! `Fsm<P>` is a thin typed shell: the automaton itself is the non-generic `Automaton`,
//! which reaches the protocol through `&mut dyn Rules`, so its code exists once in the
//! binary rather than once per protocol.

use heapless::Deque;
use smoltcp::time::{Duration, Instant};

use super::Outbox;
use crate::limits::MAX_CONTROL_FRAME;
use crate::logging::Level;
use crate::wire::cp::{code, OptionWriter, Options, Packet, Repr, HEADER_LEN};

/// Restart timer (RFC 1661 §4.6, pppd `DEFTIMEOUT`).
pub const RESTART_INTERVAL: Duration = Duration::from_secs(3);
/// Configure-Requests sent without an answer before giving up (pppd `DEFMAXCONFREQS`).
pub const MAX_CONFIGURE: u8 = 10;
/// Terminate-Requests sent before giving up (pppd `DEFMAXTERMREQS`).
pub const MAX_TERMINATE: u8 = 2;
/// Configure-Naks we send before turning disagreement into Configure-Reject (pppd
/// `DEFMAXNAKLOOPS`); protocols use the same count for Naks of their own options.
pub const MAX_FAILURE: u8 = 5;
/// Longest own Configure-Request option list we remember to check the peer's Ack against.
pub const MAX_OWN_OPTIONS: usize = 64;

/// The ten states of RFC 1661 §4.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Initial,
    Starting,
    Closed,
    Stopped,
    Closing,
    Stopping,
    ReqSent,
    AckRcvd,
    AckSent,
    Opened,
}

/// What the automaton tells its owner (RFC 1661 this-layer-up/-down/-started/-finished).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsmEvent {
    /// tlu: the layer is Opened.
    Up,
    /// tld: the layer left Opened.
    Down,
    /// tls: the layer needs the lower layer up.
    Started,
    /// tlf: the layer is done with the lower layer (Closed or Stopped).
    Finished,
}

/// The answer to one option of the peer's Configure-Request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Ack,
    /// Nak with this value (without type/length).
    Nak(heapless::Vec<u8, 8>),
    Reject,
}

impl Verdict {
    /// A Nak carrying `value` (at most 8 bytes; longer values are cut, never happens for
    /// the options we Nak).
    pub fn nak(value: &[u8]) -> Verdict {
        let n = value.len().min(8);
        Verdict::Nak(heapless::Vec::from_slice(&value[..n]).unwrap_or_default())
    }
}

/// What a protocol did with a packet code the automaton does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Other {
    /// Handled (or silently ignored) by the protocol.
    Handled,
    /// Unknown code: the automaton sends Code-Reject (RUC).
    Unknown,
    /// A permitted reject (RXJ+), e.g. Protocol-Reject of an NCP.
    RejectPermitted,
    /// A catastrophic reject (RXJ-), e.g. Protocol-Reject of LCP.
    RejectCatastrophic,
}

/// Sends packets of one protocol with fresh Identifiers.
pub struct Tx<'a> {
    protocol: u16,
    next_id: &'a mut u8,
    outbox: &'a mut Outbox,
}

impl Tx<'_> {
    /// A new Identifier for a request.
    pub fn next_id(&mut self) -> u8 {
        let id = *self.next_id;
        *self.next_id = id.wrapping_add(1);
        id
    }

    /// Send `code` with a copy of `data` (truncated to the control frame size).
    pub fn send_data(&mut self, code: u8, identifier: u8, data: &[u8]) -> bool {
        self.send_parts(code, identifier, data, &[])
    }

    /// Send `code` with `head` then `tail` as the Data field (truncated to the control frame
    /// size).
    pub fn send_parts(&mut self, code: u8, identifier: u8, head: &[u8], tail: &[u8]) -> bool {
        self.outbox
            .push_packet(self.protocol, code, identifier, head, tail)
    }
}

/// The option rules and extra codes of one control protocol.
pub trait Protocol {
    /// The PPP protocol number (LCP 0xC021, IPCP 0x8021, CCP 0x80FD).
    const PROTOCOL: u16;
    /// For logs, as pppd names it.
    const NAME: &'static str;

    /// A new negotiation starts (first Configure-Request from a non-negotiating state):
    /// reset what we ask for and what we learnt from the peer.
    fn reset(&mut self) {}

    /// Write our Configure-Request options.
    fn own_options(&mut self, writer: &mut OptionWriter);

    /// The peer acknowledged our options (exactly what we sent).
    fn own_options_acked(&mut self, _options: &[u8]) {}

    /// The peer Nak'ed (`rejected` false) or rejected one of our options. `Err(reason)`
    /// gives up: the layer closes with that reason.
    fn own_option_nacked(
        &mut self,
        ty: u8,
        value: &[u8],
        rejected: bool,
    ) -> Result<(), &'static str>;

    /// A Configure-Request from the peer begins: forget its previous options.
    fn peer_request_start(&mut self) {}

    /// The verdict on one option of the peer's request. `reject_if_disagree` is set after
    /// Max-Failure Naks: Nak only what must never be rejected.
    fn peer_option(&mut self, ty: u8, value: &[u8], reject_if_disagree: bool) -> Verdict;

    /// After the last option, when nothing was rejected: options the peer should add,
    /// written as Nak hints (RFC 1661 §5.3).
    fn peer_hints(&mut self, _writer: &mut OptionWriter, _reject_if_disagree: bool) {}

    /// this-layer-up: `Err(reason)` closes the layer (negotiated values unusable).
    fn this_layer_up(&mut self, _now: Instant) -> Result<(), &'static str> {
        Ok(())
    }
    fn this_layer_down(&mut self) {}

    /// Codes beyond 1..=7, and the data of a Code-Reject that is not catastrophic.
    fn receive_other(&mut self, _state: State, _packet: &Repr, _tx: &mut Tx) -> Other {
        Other::Unknown
    }

    /// The peer Code-Rejected one of our extra codes (e.g. Echo-Request).
    fn code_rejected(&mut self, _code: u8) {}

    /// Protocol timers (LCP echo) besides the restart timer.
    fn poll_at(&self, _state: State) -> Option<Instant> {
        None
    }

    /// Protocol timers expired; `Err(reason)` closes the layer.
    fn handle_timeout(
        &mut self,
        _now: Instant,
        _state: State,
        _tx: &mut Tx,
    ) -> Result<(), &'static str> {
        Ok(())
    }
}

/// [`Protocol`] as `Automaton` calls it: the same methods without the constants, which
/// keep `Protocol` itself from being used as `dyn`.
trait Rules {
    /// [`Protocol::NAME`], for logs: from the vtable rather than stored in every automaton.
    fn name(&self) -> &'static str;
    fn reset(&mut self);
    fn own_options(&mut self, writer: &mut OptionWriter);
    fn own_options_acked(&mut self, options: &[u8]);
    fn own_option_nacked(
        &mut self,
        ty: u8,
        value: &[u8],
        rejected: bool,
    ) -> Result<(), &'static str>;
    fn peer_request_start(&mut self);
    fn peer_option(&mut self, ty: u8, value: &[u8], reject_if_disagree: bool) -> Verdict;
    fn peer_hints(&mut self, writer: &mut OptionWriter, reject_if_disagree: bool);
    fn this_layer_up(&mut self, now: Instant) -> Result<(), &'static str>;
    fn this_layer_down(&mut self);
    fn receive_other(&mut self, state: State, packet: &Repr, tx: &mut Tx) -> Other;
    fn code_rejected(&mut self, code: u8);
    fn poll_at(&self, state: State) -> Option<Instant>;
    fn handle_timeout(
        &mut self,
        now: Instant,
        state: State,
        tx: &mut Tx,
    ) -> Result<(), &'static str>;
}

impl<P: Protocol> Rules for P {
    fn name(&self) -> &'static str {
        P::NAME
    }
    fn reset(&mut self) {
        Protocol::reset(self)
    }
    fn own_options(&mut self, writer: &mut OptionWriter) {
        Protocol::own_options(self, writer)
    }
    fn own_options_acked(&mut self, options: &[u8]) {
        Protocol::own_options_acked(self, options)
    }
    fn own_option_nacked(
        &mut self,
        ty: u8,
        value: &[u8],
        rejected: bool,
    ) -> Result<(), &'static str> {
        Protocol::own_option_nacked(self, ty, value, rejected)
    }
    fn peer_request_start(&mut self) {
        Protocol::peer_request_start(self)
    }
    fn peer_option(&mut self, ty: u8, value: &[u8], reject_if_disagree: bool) -> Verdict {
        Protocol::peer_option(self, ty, value, reject_if_disagree)
    }
    fn peer_hints(&mut self, writer: &mut OptionWriter, reject_if_disagree: bool) {
        Protocol::peer_hints(self, writer, reject_if_disagree)
    }
    fn this_layer_up(&mut self, now: Instant) -> Result<(), &'static str> {
        Protocol::this_layer_up(self, now)
    }
    fn this_layer_down(&mut self) {
        Protocol::this_layer_down(self)
    }
    fn receive_other(&mut self, state: State, packet: &Repr, tx: &mut Tx) -> Other {
        Protocol::receive_other(self, state, packet, tx)
    }
    fn code_rejected(&mut self, code: u8) {
        Protocol::code_rejected(self, code)
    }
    fn poll_at(&self, state: State) -> Option<Instant> {
        Protocol::poll_at(self, state)
    }
    fn handle_timeout(
        &mut self,
        now: Instant,
        state: State,
        tx: &mut Tx,
    ) -> Result<(), &'static str> {
        Protocol::handle_timeout(self, now, state, tx)
    }
}

/// One RFC 1661 automaton around the protocol `P`: a typed shell over `Automaton`, which
/// does the work.
pub struct Fsm<P: Protocol> {
    automaton: Automaton,
    protocol: P,
}

impl<P: Protocol> Fsm<P> {
    /// The automaton and its context for one call, borrowed side by side.
    fn split<'a>(
        &'a mut self,
        now: Instant,
        outbox: &'a mut Outbox,
    ) -> (&'a mut Automaton, Cx<'a>) {
        let cx = Cx {
            p: &mut self.protocol,
            now,
            outbox,
        };
        (&mut self.automaton, cx)
    }

    pub fn new(protocol: P) -> Self {
        Fsm {
            automaton: Automaton::new(P::PROTOCOL),
            protocol,
        }
    }

    pub fn state(&self) -> State {
        self.automaton.state
    }

    pub fn is_opened(&self) -> bool {
        self.automaton.state == State::Opened
    }

    pub fn protocol(&self) -> &P {
        &self.protocol
    }

    pub fn protocol_mut(&mut self) -> &mut P {
        &mut self.protocol
    }

    /// Why the layer was closed by us (administratively or by a protocol rule), if it was.
    pub fn close_reason(&self) -> Option<&'static str> {
        self.automaton.close_reason
    }

    /// The next notification for the owner.
    pub fn poll_event(&mut self) -> Option<FsmEvent> {
        self.automaton.events.pop_front()
    }

    /// A sender of this protocol's packets, for the owner's extra requests.
    pub fn tx<'a>(&'a mut self, outbox: &'a mut Outbox) -> Tx<'a> {
        self.automaton.tx(outbox)
    }

    /// Lower layer is up.
    pub fn up(&mut self, now: Instant, outbox: &mut Outbox) {
        let (automaton, mut cx) = self.split(now, outbox);
        automaton.up(&mut cx)
    }

    /// Lower layer went down.
    pub fn down(&mut self) {
        self.automaton.down(&mut self.protocol)
    }

    /// Administrative Open.
    pub fn open(&mut self, now: Instant, outbox: &mut Outbox) {
        let (automaton, mut cx) = self.split(now, outbox);
        automaton.open(&mut cx)
    }

    /// [`Fsm::open`] then [`Fsm::up`]: start a layer whose lower layer is already there.
    pub fn open_up(&mut self, now: Instant, outbox: &mut Outbox) {
        let (automaton, mut cx) = self.split(now, outbox);
        automaton.open(&mut cx);
        automaton.up(&mut cx)
    }

    /// Administrative Close: Terminate-Request carrying `reason`.
    pub fn close(&mut self, now: Instant, reason: &'static str, outbox: &mut Outbox) {
        let (automaton, mut cx) = self.split(now, outbox);
        automaton.close(&mut cx, reason)
    }

    /// When [`Fsm::handle_timeout`] wants to be called.
    pub fn poll_at(&self) -> Option<Instant> {
        let mut at = None;
        self.automaton.poll_at_into(&self.protocol, &mut at);
        at
    }

    /// Lower `at` to [`Fsm::poll_at`] if that is earlier: a link merges its automata's
    /// timers through one pointer instead of moving each `Option<Instant>` around.
    pub fn poll_at_into(&self, at: &mut Option<Instant>) {
        self.automaton.poll_at_into(&self.protocol, at)
    }

    pub fn handle_timeout(&mut self, now: Instant, outbox: &mut Outbox) {
        let (automaton, mut cx) = self.split(now, outbox);
        automaton.handle_timeout(&mut cx)
    }

    /// A packet of this protocol (from its Code field on).
    pub fn receive(&mut self, now: Instant, packet: &[u8], outbox: &mut Outbox) {
        let (automaton, mut cx) = self.split(now, outbox);
        automaton.receive(&mut cx, packet)
    }

    /// LCP reported a Protocol-Reject of this protocol (RXJ- for this automaton).
    pub fn protocol_rejected(&mut self, now: Instant, outbox: &mut Outbox) {
        let (automaton, mut cx) = self.split(now, outbox);
        automaton.rxj_minus(&mut cx)
    }
}

/// What every step of the automaton works with: the protocol's rules, the time and the
/// outbox, passed as one pointer rather than five argument words at each internal call.
struct Cx<'a> {
    p: &'a mut dyn Rules,
    now: Instant,
    outbox: &'a mut Outbox,
}

/// The automaton's state, counters and Identifiers, independent of the protocol: its
/// methods get the protocol's rules as `&mut dyn Rules`, so they are compiled once.
///
/// Laid out in this order (`repr(C)`): our remembered request word-aligned after the
/// word-sized fields, the byte-sized ones last.
#[repr(C)]
struct Automaton {
    restart_at: Option<Instant>,
    close_reason: Option<&'static str>,
    request_len: usize,
    request: [u8; MAX_OWN_OPTIONS],
    events: Deque<FsmEvent, 8>,
    /// [`Protocol::PROTOCOL`] (two bytes that padding had: `Link` did not grow).
    number: u16,
    state: State,
    restart_count: u8,
    next_id: u8,
    /// Identifier of our last Configure-Request.
    request_id: u8,
    /// Consecutive Configure-Naks we sent.
    naks_sent: u8,
    /// Configure-Naks of our requests in this negotiation: after Max-Failure of them a Nak
    /// is taken as a Reject, so a peer that Naks forever cannot keep us looping (pppd
    /// `rnakloops`).
    naks_received: u8,
}

impl Automaton {
    // Out of line: Link::new builds four, each inlined copy was a zeroing on the stack, a
    // copy into place and the stores of the fields.
    #[inline(never)]
    fn new(number: u16) -> Self {
        Automaton {
            number,
            state: State::Initial,
            restart_count: 0,
            restart_at: None,
            next_id: 1,
            request_id: 0,
            request: [0; MAX_OWN_OPTIONS],
            request_len: 0,
            naks_sent: 0,
            naks_received: 0,
            close_reason: None,
            events: Deque::new(),
        }
    }

    fn tx<'a>(&'a mut self, outbox: &'a mut Outbox) -> Tx<'a> {
        Tx {
            protocol: self.number,
            next_id: &mut self.next_id,
            outbox,
        }
    }

    fn up(&mut self, cx: &mut Cx) {
        match self.state {
            State::Initial => self.state = State::Closed,
            State::Starting => {
                self.irc_configure();
                self.scr(cx);
                self.state = State::ReqSent;
            }
            _ => {}
        }
    }

    fn down(&mut self, p: &mut dyn Rules) {
        match self.state {
            State::Closed | State::Closing => self.state = State::Initial,
            State::Stopped => {
                self.tls();
                self.state = State::Starting;
            }
            State::Stopping | State::ReqSent | State::AckRcvd | State::AckSent => {
                self.state = State::Starting
            }
            State::Opened => {
                self.tld(p);
                self.state = State::Starting;
            }
            State::Initial | State::Starting => {}
        }
        self.restart_at = None;
    }

    fn open(&mut self, cx: &mut Cx) {
        self.close_reason = None;
        match self.state {
            State::Initial => {
                self.tls();
                self.state = State::Starting;
            }
            State::Closed => {
                self.irc_configure();
                self.scr(cx);
                self.state = State::ReqSent;
            }
            State::Closing => self.state = State::Stopping,
            _ => {}
        }
    }

    fn close(&mut self, cx: &mut Cx, reason: &'static str) {
        if self.close_reason.is_none() {
            self.close_reason = Some(reason);
        }
        match self.state {
            State::Initial => {}
            State::Starting => {
                self.tlf();
                self.state = State::Initial;
            }
            State::Closed | State::Stopped => self.state = State::Closed,
            State::Closing | State::Stopping => self.state = State::Closing,
            State::ReqSent | State::AckRcvd | State::AckSent | State::Opened => {
                if self.state == State::Opened {
                    self.tld(cx.p);
                }
                self.restart_count = MAX_TERMINATE;
                self.str(cx);
                self.state = State::Closing;
            }
        }
    }

    fn poll_at_into(&self, p: &dyn Rules, at: &mut Option<Instant>) {
        *at = crate::earliest(*at, crate::earliest(self.restart_at, p.poll_at(self.state)));
    }

    fn handle_timeout(&mut self, cx: &mut Cx) {
        if self.restart_at.is_some_and(|at| cx.now >= at) {
            self.restart_at = None;
            self.restart_timer_expired(cx);
        }
        let state = self.state;
        if let Err(reason) = cx.p.handle_timeout(cx.now, state, &mut self.tx(cx.outbox)) {
            self.close(cx, reason);
        }
    }

    fn restart_timer_expired(&mut self, cx: &mut Cx) {
        let positive = self.restart_count > 0;
        match (self.state, positive) {
            (State::Closing, true) => self.str(cx),
            (State::Stopping, true) => self.str(cx),
            (State::ReqSent | State::AckRcvd, true) => {
                self.send_request(cx, true);
                self.state = State::ReqSent;
            }
            (State::AckSent, true) => self.send_request(cx, true),
            (State::Closing, false) => {
                self.tlf();
                self.state = State::Closed;
            }
            (State::Stopping, false) => {
                self.tlf();
                self.state = State::Stopped;
            }
            (State::ReqSent | State::AckRcvd | State::AckSent, false) => {
                log_named(Level::Info, cx.p, "timeout sending Config-Requests");
                if self.close_reason.is_none() {
                    self.close_reason = Some("negotiation timed out");
                }
                self.tlf();
                self.state = State::Stopped;
            }
            _ => {}
        }
    }

    fn receive(&mut self, cx: &mut Cx, packet: &[u8]) {
        // `Repr::parse` checks the length as `Packet::new_checked` does: once is enough.
        let Ok(repr) = Repr::parse(&Packet::new_unchecked(packet)) else {
            return;
        };
        // Initial and Starting: the lower layer is not up, nothing is legal.
        if matches!(self.state, State::Initial | State::Starting) {
            return;
        }
        match repr.code {
            code::CONFIGURE_REQUEST => self.rcr(cx, &repr),
            code::CONFIGURE_ACK => self.rca(cx, &repr),
            code::CONFIGURE_NAK | code::CONFIGURE_REJECT => self.rcn(cx, &repr),
            code::TERMINATE_REQUEST => self.rtr(cx, &repr),
            code::TERMINATE_ACK => self.rta(cx),
            code::CODE_REJECT => {
                let rejected = repr.data.first().copied().unwrap_or(0);
                if (code::CONFIGURE_REQUEST..=code::CODE_REJECT).contains(&rejected) {
                    crate::warn!("{}: Code-Reject of code {}", cx.p.name(), rejected);
                    self.rxj_minus(cx);
                } else {
                    cx.p.code_rejected(rejected);
                }
            }
            _ => {
                let state = self.state;
                match cx.p.receive_other(state, &repr, &mut self.tx(cx.outbox)) {
                    Other::Handled | Other::RejectPermitted => {}
                    Other::Unknown => self.scj(cx, packet, &repr),
                    Other::RejectCatastrophic => self.rxj_minus(cx),
                }
            }
        }
    }

    /// Receive-Configure-Request: build the reply, then act on RCR+ / RCR-.
    fn rcr(&mut self, cx: &mut Cx, request: &Repr) {
        match self.state {
            State::Closed => {
                self.sta(request.identifier, cx);
                return;
            }
            State::Closing | State::Stopping => return,
            _ => {}
        }
        if Options::validate(request.data).is_err() {
            // A request we cannot even split into options: discard it (pppd "bad packet").
            log_named(Level::Debug, cx.p, "discarding malformed Configure-Request");
            return;
        }
        if self.state == State::Opened {
            self.tld(cx.p);
            self.scr(cx);
        } else if self.state == State::Stopped {
            self.irc_configure();
            self.scr(cx);
        }
        let good = self.reply_to_request(cx, request);
        match (self.state, good) {
            (State::AckRcvd, true) => {
                self.state = State::Opened;
                self.tlu(cx);
            }
            (_, true) => self.state = State::AckSent,
            (State::AckRcvd, false) => {}
            (_, false) => self.state = State::ReqSent,
        }
    }

    /// Send Configure-Ack/-Nak/-Reject for the peer's request; true when it was an Ack.
    fn reply_to_request(&mut self, cx: &mut Cx, request: &Repr) -> bool {
        let reject_if_disagree = self.naks_sent >= MAX_FAILURE;
        // One list: the Naks until the first Reject, then only the Rejects (a
        // Configure-Reject carries nothing else).
        let mut buf = [0u8; MAX_CONTROL_FRAME - HEADER_LEN];
        let mut list = OptionWriter::new(&mut buf);
        let mut any_reject = false;
        let mut any_nak = false;
        cx.p.peer_request_start();
        for (ty, value) in Options::new(request.data).flatten() {
            match cx.p.peer_option(ty, value, reject_if_disagree) {
                Verdict::Ack => {}
                Verdict::Nak(suggested) => {
                    any_nak = true;
                    if !any_reject {
                        let _ = list.push(ty, &suggested);
                    }
                }
                Verdict::Reject => {
                    if !any_reject {
                        list.clear();
                    }
                    any_reject = true;
                    let _ = list.push(ty, value);
                }
            }
        }
        if !any_reject {
            let before = list.len();
            cx.p.peer_hints(&mut list, reject_if_disagree);
            any_nak |= list.len() > before;
        }
        let (reply_code, data) = if any_reject {
            (code::CONFIGURE_REJECT, list.written())
        } else if any_nak {
            (code::CONFIGURE_NAK, list.written())
        } else {
            (code::CONFIGURE_ACK, request.data)
        };
        if reply_code == code::CONFIGURE_NAK {
            self.naks_sent = self.naks_sent.saturating_add(1);
            if self.naks_sent == MAX_FAILURE {
                // The 5 in the text is MAX_FAILURE (checked below): no number to format.
                const _: () = assert!(MAX_FAILURE == 5);
                log_named(
                    Level::Debug,
                    cx.p,
                    "Max-Failure (5 Configure-Naks) reached, rejecting from now on",
                );
            }
        } else if reply_code == code::CONFIGURE_ACK {
            self.naks_sent = 0;
        }
        // A reply that does not fit a control frame is not sent (an Ack of an oversized
        // request), rather than cut.
        if data.len() <= MAX_CONTROL_FRAME - HEADER_LEN {
            cx.outbox
                .push_packet(self.number, reply_code, request.identifier, data, &[]);
        }
        reply_code == code::CONFIGURE_ACK
    }

    fn rca(&mut self, cx: &mut Cx, ack: &Repr) {
        match self.state {
            State::Closed | State::Stopped => return self.sta(ack.identifier, cx),
            State::Closing | State::Stopping => return,
            _ => {}
        }
        // RFC 1661 §5.2: the Identifier must match and the options must be exactly ours.
        if ack.identifier != self.request_id || ack.data != &self.request[..self.request_len] {
            log_named(
                Level::Debug,
                cx.p,
                "discarding Configure-Ack that does not match",
            );
            return;
        }
        cx.p.own_options_acked(ack.data);
        match self.state {
            State::ReqSent => {
                self.irc_configure();
                self.state = State::AckRcvd;
            }
            State::AckRcvd => {
                // Crossed connection.
                self.scr(cx);
                self.state = State::ReqSent;
            }
            State::AckSent => {
                self.irc_configure();
                self.state = State::Opened;
                self.tlu(cx);
            }
            State::Opened => {
                self.tld(cx.p);
                self.scr(cx);
                self.state = State::ReqSent;
            }
            _ => {}
        }
    }

    fn rcn(&mut self, cx: &mut Cx, reply: &Repr) {
        match self.state {
            State::Closed | State::Stopped => return self.sta(reply.identifier, cx),
            State::Closing | State::Stopping => return,
            _ => {}
        }
        if reply.identifier != self.request_id {
            log_named(
                Level::Debug,
                cx.p,
                "discarding Configure-Nak/Reject with wrong id",
            );
            return;
        }
        let rejected = reply.code == code::CONFIGURE_REJECT;
        if Options::validate(reply.data).is_err() {
            return;
        }
        let mut nak_as_reject = false;
        if !rejected {
            self.naks_received = self.naks_received.saturating_add(1);
            nak_as_reject = self.naks_received > MAX_FAILURE;
            if self.naks_received == MAX_FAILURE + 1 {
                log_named(
                    Level::Info,
                    cx.p,
                    "peer keeps sending Configure-Nak, treating it as Configure-Reject",
                );
            }
        }
        // A Reject may only list options we sent (RFC 1661 §5.4).
        if rejected
            && !Options::new(reply.data)
                .flatten()
                .all(|(ty, _)| self.sent_option(ty))
        {
            log_named(
                Level::Debug,
                cx.p,
                "discarding Configure-Reject of options we did not send",
            );
            return;
        }
        let mut failure = None;
        for (ty, value) in Options::new(reply.data).flatten() {
            let as_reject = rejected || nak_as_reject;
            if nak_as_reject && !self.sent_option(ty) {
                continue; // a hint for an option we did not ask for: nothing to drop
            }
            if let Err(reason) = cx.p.own_option_nacked(ty, value, as_reject) {
                failure = Some(reason);
            }
        }
        if let Some(reason) = failure {
            log_named(Level::Warn, cx.p, reason);
            self.close(cx, reason);
            return;
        }
        match self.state {
            State::ReqSent => {
                self.irc_configure();
                self.scr(cx);
            }
            State::AckRcvd => {
                self.scr(cx);
                self.state = State::ReqSent;
            }
            State::AckSent => {
                self.irc_configure();
                self.scr(cx);
            }
            State::Opened => {
                self.tld(cx.p);
                self.scr(cx);
                self.state = State::ReqSent;
            }
            _ => {}
        }
    }

    fn sent_option(&self, ty: u8) -> bool {
        Options::new(&self.request[..self.request_len])
            .flatten()
            .any(|(t, _)| t == ty)
    }

    fn rtr(&mut self, cx: &mut Cx, request: &Repr) {
        match self.state {
            State::ReqSent | State::AckRcvd | State::AckSent => {
                self.sta(request.identifier, cx);
                self.state = State::ReqSent;
            }
            State::Opened => {
                crate::info!("{} terminated by peer", cx.p.name());
                self.tld(cx.p);
                // zrc: one restart interval for the peer to see our Ack, then Stopped.
                self.restart_count = 0;
                self.restart_at = Some(cx.now + RESTART_INTERVAL);
                self.sta(request.identifier, cx);
                self.state = State::Stopping;
            }
            _ => self.sta(request.identifier, cx),
        }
    }

    fn rta(&mut self, cx: &mut Cx) {
        match self.state {
            State::Closing => {
                self.restart_at = None;
                self.tlf();
                self.state = State::Closed;
            }
            State::Stopping => {
                self.restart_at = None;
                self.tlf();
                self.state = State::Stopped;
            }
            State::AckRcvd => self.state = State::ReqSent,
            State::Opened => {
                self.tld(cx.p);
                self.scr(cx);
                self.state = State::ReqSent;
            }
            _ => {}
        }
    }

    /// RXJ-: the peer cannot do this protocol at all.
    fn rxj_minus(&mut self, cx: &mut Cx) {
        match self.state {
            State::Closed | State::Closing => {
                self.restart_at = None;
                self.tlf();
                self.state = State::Closed;
            }
            State::Stopped | State::Stopping | State::ReqSent | State::AckRcvd | State::AckSent => {
                self.restart_at = None;
                self.tlf();
                self.state = State::Stopped;
            }
            State::Opened => {
                self.tld(cx.p);
                self.restart_count = MAX_TERMINATE;
                self.str(cx);
                self.state = State::Stopping;
            }
            State::Initial | State::Starting => {}
        }
    }

    /// Send-Code-Reject: the rejected packet from its Code field on, truncated to fit.
    fn scj(&mut self, cx: &mut Cx, packet: &[u8], repr: &Repr) {
        crate::debug!("{}: Code-Reject of unknown code {}", cx.p.name(), repr.code);
        let rejected = &packet[..repr.buffer_len().min(packet.len())];
        let id = self.next_id();
        self.tx(cx.outbox)
            .send_data(code::CODE_REJECT, id, rejected);
    }

    fn next_id(&mut self) -> u8 {
        let id = self.next_id;
        self.next_id = id.wrapping_add(1);
        id
    }

    fn irc_configure(&mut self) {
        self.restart_count = MAX_CONFIGURE;
    }

    /// Send-Configure-Request (a retransmission keeps its Identifier, like pppd).
    fn scr(&mut self, cx: &mut Cx) {
        self.send_request(cx, false);
    }

    fn send_request(&mut self, cx: &mut Cx, retransmit: bool) {
        let negotiating = matches!(self.state, State::ReqSent | State::AckRcvd | State::AckSent);
        if !negotiating {
            cx.p.reset();
            self.naks_sent = 0;
            self.naks_received = 0;
        }
        if !retransmit || self.request_len == 0 {
            self.request_id = self.next_id();
        }
        let mut writer = OptionWriter::new(&mut self.request);
        cx.p.own_options(&mut writer);
        let len = writer.len();
        self.request_len = len;
        // At most MAX_OWN_OPTIONS bytes: always fits a control frame.
        cx.outbox.push_packet(
            self.number,
            code::CONFIGURE_REQUEST,
            self.request_id,
            &self.request[..len],
            &[],
        );
        self.restart_count = self.restart_count.saturating_sub(1);
        self.restart_at = Some(cx.now + RESTART_INTERVAL);
    }

    /// Send-Terminate-Request, carrying the close reason as pppd does.
    fn str(&mut self, cx: &mut Cx) {
        let reason = self.close_reason.unwrap_or("").as_bytes();
        let id = self.next_id();
        self.tx(cx.outbox)
            .send_data(code::TERMINATE_REQUEST, id, reason);
        self.restart_count = self.restart_count.saturating_sub(1);
        self.restart_at = Some(cx.now + RESTART_INTERVAL);
    }

    fn sta(&mut self, identifier: u8, cx: &mut Cx) {
        self.tx(cx.outbox)
            .send_data(code::TERMINATE_ACK, identifier, &[]);
    }

    fn tlu(&mut self, cx: &mut Cx) {
        // Opened runs no restart timer.
        self.restart_at = None;
        let _ = self.events.push_back(FsmEvent::Up);
        if let Err(reason) = cx.p.this_layer_up(cx.now) {
            log_named(Level::Warn, cx.p, reason);
            self.close(cx, reason);
        }
    }

    fn tld(&mut self, p: &mut dyn Rules) {
        p.this_layer_down();
        let _ = self.events.push_back(FsmEvent::Down);
    }

    fn tls(&mut self) {
        let _ = self.events.push_back(FsmEvent::Started);
    }

    fn tlf(&mut self) {
        let _ = self.events.push_back(FsmEvent::Finished);
    }
}

/// Log "<protocol>: <what>", the automaton's messages with nothing else to format: one
/// out-of-line call instead of a format site each.
#[inline(never)]
fn log_named(level: Level, p: &dyn Rules, what: &str) {
    if crate::logging::enabled(level) {
        crate::logging::emit(level, format_args!("{}: {}", p.name(), what));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A toy protocol: we ask for option 1 = 05 DC; the peer's option 1 must be 00 01
    /// (else Nak), option 9 is always rejected, everything else acked.
    #[derive(Default)]
    struct Toy {
        acked: bool,
        nacks: u8,
        last_reject_if_disagree: bool,
    }

    impl Protocol for Toy {
        const PROTOCOL: u16 = 0x8021;
        const NAME: &'static str = "TOY";
        fn own_options(&mut self, writer: &mut OptionWriter) {
            let _ = writer.push(1, &[0x05, 0xDC]);
        }
        fn own_options_acked(&mut self, _options: &[u8]) {
            self.acked = true;
        }
        fn own_option_nacked(
            &mut self,
            _ty: u8,
            _v: &[u8],
            rejected: bool,
        ) -> Result<(), &'static str> {
            self.nacks += 1;
            if rejected {
                Err("option refused")
            } else {
                Ok(())
            }
        }
        fn peer_option(&mut self, ty: u8, value: &[u8], reject_if_disagree: bool) -> Verdict {
            self.last_reject_if_disagree = reject_if_disagree;
            match ty {
                1 if value == [0, 1] => Verdict::Ack,
                1 if reject_if_disagree => Verdict::Reject,
                1 => Verdict::nak(&[0, 1]),
                9 => Verdict::Reject,
                _ => Verdict::Ack,
            }
        }
    }

    fn t(ms: i64) -> Instant {
        Instant::from_millis(ms)
    }

    fn sent(outbox: &mut Outbox) -> (u8, u8, heapless::Vec<u8, 300>) {
        let p = outbox.pop().expect("a packet");
        assert_eq!(p.protocol, 0x8021);
        let b = p.bytes();
        let repr = Repr::parse(&Packet::new_checked(b).unwrap()).unwrap();
        (
            repr.code,
            repr.identifier,
            heapless::Vec::from_slice(repr.data).unwrap(),
        )
    }

    fn packet(code: u8, id: u8, data: &[u8]) -> heapless::Vec<u8, 300> {
        let mut buf = [0u8; 300];
        let n = Repr {
            code,
            identifier: id,
            data,
        }
        .emit(&mut buf)
        .unwrap();
        heapless::Vec::from_slice(&buf[..n]).unwrap()
    }

    fn started(outbox: &mut Outbox) -> (Fsm<Toy>, u8) {
        let mut fsm = Fsm::new(Toy::default());
        fsm.open(t(0), outbox);
        assert_eq!(fsm.poll_event(), Some(FsmEvent::Started));
        fsm.up(t(0), outbox);
        assert_eq!(fsm.state(), State::ReqSent);
        let (c, id, data) = sent(outbox);
        assert_eq!(
            (c, &data[..]),
            (code::CONFIGURE_REQUEST, &[1, 4, 0x05, 0xDC][..])
        );
        (fsm, id)
    }

    fn opened(outbox: &mut Outbox) -> Fsm<Toy> {
        let (mut fsm, id) = started(outbox);
        fsm.receive(
            t(10),
            &packet(code::CONFIGURE_ACK, id, &[1, 4, 0x05, 0xDC]),
            outbox,
        );
        assert_eq!(fsm.state(), State::AckRcvd);
        fsm.receive(
            t(20),
            &packet(code::CONFIGURE_REQUEST, 7, &[1, 4, 0, 1, 5, 2]),
            outbox,
        );
        assert_eq!(
            sent(outbox),
            (
                code::CONFIGURE_ACK,
                7,
                heapless::Vec::from_slice(&[1, 4, 0, 1, 5, 2]).unwrap()
            )
        );
        assert_eq!(fsm.state(), State::Opened);
        assert_eq!(fsm.poll_event(), Some(FsmEvent::Up));
        assert!(fsm.protocol().acked);
        fsm
    }

    #[test]
    fn opens_when_both_requests_are_acked() {
        let mut outbox = Outbox::new();
        let fsm = opened(&mut outbox);
        assert_eq!(fsm.poll_at(), None, "no restart timer in Opened");
    }

    #[test]
    fn opens_in_the_other_order() {
        let mut outbox = Outbox::new();
        let (mut fsm, id) = started(&mut outbox);
        fsm.receive(
            t(5),
            &packet(code::CONFIGURE_REQUEST, 3, &[1, 4, 0, 1]),
            &mut outbox,
        );
        assert_eq!(fsm.state(), State::AckSent);
        assert_eq!(sent(&mut outbox).0, code::CONFIGURE_ACK);
        fsm.receive(
            t(6),
            &packet(code::CONFIGURE_ACK, id, &[1, 4, 0x05, 0xDC]),
            &mut outbox,
        );
        assert_eq!(fsm.state(), State::Opened);
    }

    #[test]
    fn discards_ack_with_wrong_id_or_options() {
        let mut outbox = Outbox::new();
        let (mut fsm, id) = started(&mut outbox);
        fsm.receive(
            t(1),
            &packet(code::CONFIGURE_ACK, id.wrapping_add(1), &[1, 4, 0x05, 0xDC]),
            &mut outbox,
        );
        assert_eq!(fsm.state(), State::ReqSent);
        fsm.receive(
            t(1),
            &packet(code::CONFIGURE_ACK, id, &[1, 4, 0x05, 0xDD]),
            &mut outbox,
        );
        assert_eq!(fsm.state(), State::ReqSent);
        fsm.receive(
            t(1),
            &packet(code::CONFIGURE_NAK, id.wrapping_add(1), &[1, 4, 0, 1]),
            &mut outbox,
        );
        assert!(outbox.is_empty());
        assert_eq!(fsm.protocol().nacks, 0);
    }

    #[test]
    fn reject_takes_precedence_over_nak() {
        let mut outbox = Outbox::new();
        let (mut fsm, _) = started(&mut outbox);
        fsm.receive(
            t(1),
            &packet(code::CONFIGURE_REQUEST, 4, &[1, 4, 9, 9, 9, 3, 7]),
            &mut outbox,
        );
        assert_eq!(
            sent(&mut outbox),
            (
                code::CONFIGURE_REJECT,
                4,
                heapless::Vec::from_slice(&[9, 3, 7]).unwrap()
            )
        );
        fsm.receive(
            t(2),
            &packet(code::CONFIGURE_REQUEST, 5, &[1, 4, 9, 9]),
            &mut outbox,
        );
        assert_eq!(
            sent(&mut outbox),
            (
                code::CONFIGURE_NAK,
                5,
                heapless::Vec::from_slice(&[1, 4, 0, 1]).unwrap()
            )
        );
        assert_eq!(fsm.state(), State::ReqSent);
    }

    #[test]
    fn naks_turn_into_rejects_after_max_failure() {
        let mut outbox = Outbox::new();
        let (mut fsm, _) = started(&mut outbox);
        for i in 0..MAX_FAILURE {
            fsm.receive(
                t(1),
                &packet(code::CONFIGURE_REQUEST, i, &[1, 4, 9, 9]),
                &mut outbox,
            );
            assert_eq!(sent(&mut outbox).0, code::CONFIGURE_NAK);
        }
        fsm.receive(
            t(1),
            &packet(code::CONFIGURE_REQUEST, 99, &[1, 4, 9, 9]),
            &mut outbox,
        );
        assert_eq!(sent(&mut outbox).0, code::CONFIGURE_REJECT);
        assert!(fsm.protocol().last_reject_if_disagree);
    }

    #[test]
    fn nak_of_our_option_sends_a_new_request() {
        let mut outbox = Outbox::new();
        let (mut fsm, id) = started(&mut outbox);
        fsm.receive(
            t(1),
            &packet(code::CONFIGURE_NAK, id, &[1, 4, 1, 1]),
            &mut outbox,
        );
        let (c, new_id, _) = sent(&mut outbox);
        assert_eq!(c, code::CONFIGURE_REQUEST);
        assert_ne!(new_id, id);
        assert_eq!(fsm.protocol().nacks, 1);
    }

    #[test]
    fn endless_naks_of_our_request_are_taken_as_a_reject() {
        let mut outbox = Outbox::new();
        let (mut fsm, mut id) = started(&mut outbox);
        for _ in 0..MAX_FAILURE {
            fsm.receive(
                t(1),
                &packet(code::CONFIGURE_NAK, id, &[1, 4, 1, 1]),
                &mut outbox,
            );
            let (c, new_id, _) = sent(&mut outbox);
            assert_eq!(c, code::CONFIGURE_REQUEST);
            id = new_id;
        }
        // A hint for an option we never asked for is not a Reject of anything.
        fsm.receive(
            t(1),
            &packet(code::CONFIGURE_NAK, id, &[1, 4, 1, 1, 2, 2]),
            &mut outbox,
        );
        assert_eq!(fsm.protocol().nacks, MAX_FAILURE + 1);
        assert_eq!(fsm.state(), State::Closing);
        assert_eq!(fsm.close_reason(), Some("option refused"));
    }

    #[test]
    fn reject_that_the_protocol_cannot_accept_closes() {
        let mut outbox = Outbox::new();
        let (mut fsm, id) = started(&mut outbox);
        // Rejecting an option we never sent is bogus and ignored.
        fsm.receive(
            t(1),
            &packet(code::CONFIGURE_REJECT, id, &[2, 2]),
            &mut outbox,
        );
        assert!(outbox.is_empty());
        fsm.receive(
            t(1),
            &packet(code::CONFIGURE_REJECT, id, &[1, 4, 0x05, 0xDC]),
            &mut outbox,
        );
        assert_eq!(fsm.state(), State::Closing);
        assert_eq!(fsm.close_reason(), Some("option refused"));
        let (c, _, data) = sent(&mut outbox);
        assert_eq!(
            (c, &data[..]),
            (code::TERMINATE_REQUEST, &b"option refused"[..])
        );
    }

    #[test]
    fn retransmits_with_the_same_id_then_gives_up() {
        let mut outbox = Outbox::new();
        let (mut fsm, id) = started(&mut outbox);
        for n in 1..u32::from(MAX_CONFIGURE) {
            let now = fsm.poll_at().unwrap();
            assert_eq!(now, t(0) + RESTART_INTERVAL * n);
            fsm.handle_timeout(now, &mut outbox);
            let (c, again, _) = sent(&mut outbox);
            assert_eq!((c, again), (code::CONFIGURE_REQUEST, id));
        }
        let now = fsm.poll_at().unwrap();
        fsm.handle_timeout(now, &mut outbox);
        assert!(outbox.is_empty());
        assert_eq!(fsm.state(), State::Stopped);
        assert_eq!(fsm.poll_event(), Some(FsmEvent::Finished));
        assert_eq!(fsm.poll_at(), None);
    }

    #[test]
    fn peer_terminate_in_opened() {
        let mut outbox = Outbox::new();
        let mut fsm = opened(&mut outbox);
        fsm.receive(
            t(100),
            &packet(code::TERMINATE_REQUEST, 42, b"bye"),
            &mut outbox,
        );
        assert_eq!(
            sent(&mut outbox),
            (code::TERMINATE_ACK, 42, heapless::Vec::new())
        );
        assert_eq!(fsm.state(), State::Stopping);
        assert_eq!(fsm.poll_event(), Some(FsmEvent::Down));
        let at = fsm.poll_at().unwrap();
        assert_eq!(at, t(100) + RESTART_INTERVAL);
        fsm.handle_timeout(at, &mut outbox);
        assert!(outbox.is_empty(), "zrc: no Terminate-Request of our own");
        assert_eq!(fsm.state(), State::Stopped);
        assert_eq!(fsm.poll_event(), Some(FsmEvent::Finished));
    }

    #[test]
    fn close_sends_max_terminate_requests() {
        let mut outbox = Outbox::new();
        let mut fsm = opened(&mut outbox);
        fsm.close(t(0), "admin", &mut outbox);
        assert_eq!(fsm.poll_event(), Some(FsmEvent::Down));
        assert_eq!(sent(&mut outbox).0, code::TERMINATE_REQUEST);
        let at = fsm.poll_at().unwrap();
        fsm.handle_timeout(at, &mut outbox);
        assert_eq!(sent(&mut outbox).0, code::TERMINATE_REQUEST);
        let at = fsm.poll_at().unwrap();
        fsm.handle_timeout(at, &mut outbox);
        assert!(outbox.is_empty());
        assert_eq!(fsm.state(), State::Closed);
        assert_eq!(fsm.poll_event(), Some(FsmEvent::Finished));
    }

    #[test]
    fn terminate_ack_finishes_closing() {
        let mut outbox = Outbox::new();
        let mut fsm = opened(&mut outbox);
        fsm.close(t(0), "admin", &mut outbox);
        let (_, id, _) = sent(&mut outbox);
        fsm.receive(t(1), &packet(code::TERMINATE_ACK, id, &[]), &mut outbox);
        assert_eq!(fsm.state(), State::Closed);
        // In Closed a Configure-Request gets a Terminate-Ack.
        fsm.receive(t(2), &packet(code::CONFIGURE_REQUEST, 8, &[]), &mut outbox);
        assert_eq!(
            sent(&mut outbox),
            (code::TERMINATE_ACK, 8, heapless::Vec::new())
        );
    }

    #[test]
    fn unknown_code_is_code_rejected() {
        let mut outbox = Outbox::new();
        let mut fsm = opened(&mut outbox);
        let p = packet(77, 5, &[1, 2, 3]);
        fsm.receive(t(1), &p, &mut outbox);
        let (c, _, data) = sent(&mut outbox);
        assert_eq!((c, &data[..]), (code::CODE_REJECT, &p[..]));
        assert_eq!(fsm.state(), State::Opened);
    }

    #[test]
    fn code_reject_of_configure_request_is_catastrophic() {
        let mut outbox = Outbox::new();
        let (mut fsm, _) = started(&mut outbox);
        fsm.receive(
            t(1),
            &packet(code::CODE_REJECT, 1, &[1, 1, 0, 4]),
            &mut outbox,
        );
        assert_eq!(fsm.state(), State::Stopped);
        assert_eq!(fsm.poll_event(), Some(FsmEvent::Finished));
    }

    #[test]
    fn renegotiation_in_opened() {
        let mut outbox = Outbox::new();
        let mut fsm = opened(&mut outbox);
        fsm.receive(
            t(1),
            &packet(code::CONFIGURE_REQUEST, 9, &[1, 4, 0, 1]),
            &mut outbox,
        );
        assert_eq!(fsm.poll_event(), Some(FsmEvent::Down));
        assert_eq!(sent(&mut outbox).0, code::CONFIGURE_REQUEST);
        assert_eq!(sent(&mut outbox).0, code::CONFIGURE_ACK);
        assert_eq!(fsm.state(), State::AckSent);
    }

    #[test]
    fn random_packets_never_panic() {
        use crate::rand::{Random, XorShift};
        let mut rng = XorShift(0x5eed_0003);
        let mut outbox = Outbox::new();
        let mut fsm = opened(&mut outbox);
        let mut buf = [0u8; 40];
        for i in 0..20_000i64 {
            let len = (rng.next_u32() % 41) as usize;
            rng.fill_bytes(&mut buf[..len]);
            if len >= 4 {
                buf[0] %= 9;
                buf[2] = 0;
                buf[3] = (rng.next_u32() % 45) as u8;
            }
            fsm.receive(t(i), &buf[..len], &mut outbox);
            if let Some(at) = fsm.poll_at() {
                fsm.handle_timeout(at, &mut outbox);
            }
            if fsm.state() == State::Stopped || fsm.state() == State::Closed {
                fsm.open(t(i), &mut outbox);
                fsm.down();
                fsm.up(t(i), &mut outbox);
            }
            outbox.clear();
            while fsm.poll_event().is_some() {}
        }
    }
}
