//! One PPP link, server side: the phases of RFC 1661 §3 in the order pppd runs them for
//! pptpd. Establish (LCP) → Authenticate (MS-CHAPv2) → Network (CCP first; IPCP opens only
//! once CCP has settled, RFC 3078 §9 / pppd `start_networks`) → Running, and Terminate.
//! Frames in and out are GRE payloads; IPv4 is encrypted with MPPE once it is up.
//!
//! The MPPE policy decides what "settled" means. Required: CCP Opened with MPPE, anything
//! else ends the link. Optional (`required: false` with strengths allowed): CCP Opened with
//! MPPE, or CCP Opened without it / given up / Protocol-Rejected, after which IP runs
//! unencrypted; waiting for the verdict keeps the first packets from leaking in clear.
//! Off (no strength allowed, pppd's `nomppe`): CCP never starts (the peer's CCP is
//! Protocol-Rejected) and IPCP starts right after authentication.

use core::net::Ipv4Addr;

use heapless::{Deque, String};
use smoltcp::time::{Duration, Instant};

use super::auth::{AuthStatus, ChapAuthenticator};
use super::ccp::{Ccp, MPPE_REQUIRED_FAILED};
use super::fsm::{Fsm, FsmEvent, State};
use super::ipcp::Ipcp;
use super::ipv6cp::{self, Ipv6cp};
use super::lcp::Lcp;
use super::Outbox;
use crate::crypto::mppe::{DecryptError, Decrypter, Encrypter, StartKeys};
use crate::rand::Random;
use crate::settings::{AddressRule, InterfaceId, PppSettings, Secrets, MAX_NAME_LEN};
use crate::wire::mppe;
use crate::wire::ppp::{self, protocol};

/// What the link needs from its session for one call.
pub struct LinkEnv<'a> {
    pub secrets: &'a mut dyn Secrets,
    pub rng: &'a mut dyn Random,
    /// The client's public address (for chap-secrets' address column and logs).
    pub peer: Ipv4Addr,
    /// IPv6 Interface-Identifiers held by the sessions (this link's own included, as
    /// [`Link::ipv6_reserved`] reported it) as words, 0 for none: IPv6CP Naks a duplicate.
    /// `&[]` without IPv6. Words, not `Option<InterfaceId>` (9 bytes, alignment 1): each
    /// compare of those took unaligned load pairs on MIPS.
    pub ipv6_ids: &'a [u64],
}

/// What happened on the link, for the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkEvent {
    /// The peer logged in; the session must pick its address and call
    /// [`Link::set_peer_address`] (or [`Link::close`] when none is available).
    Authenticated { address: AddressRule },
    /// Wrong password, unknown user or no answer: the link is terminating.
    AuthFailed,
    /// IPCP is up (and MPPE when required): IPv4 passes both ways.
    Up,
    /// The link is finished ([`Link::is_dead`]).
    Down,
}

/// Why [`Link::send_ip`] did not frame a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// The link is not Running (or MPPE is required and not up).
    NotRunning,
    /// `out` is too small for the framed packet.
    BufferTooSmall,
}

/// PPP header (FF 03 + 2-byte protocol) we put on every frame we send.
const FRAME_HEADER_LEN: usize = 4;
/// PPP header + MPPE header + the encrypted inner protocol: MPPE's per-packet overhead.
/// How long a finished link's call stays up before it is ended ([`Link::hangup_at`]).
pub const HANGUP_DELAY: Duration = Duration::from_millis(200);

pub const MPPE_OVERHEAD: usize = FRAME_HEADER_LEN + mppe::HEADER_LEN + 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Not opened yet, or finished.
    Dead,
    Establish,
    Authenticate,
    Network,
    Running,
    Terminate,
}

/// One PPP link. See the module documentation.
pub struct Link {
    settings: PppSettings,
    phase: Phase,
    lcp: Fsm<Lcp>,
    auth: ChapAuthenticator,
    ccp: Fsm<Ccp>,
    ipcp: Fsm<Ipcp>,
    /// Runs only with `settings.ipv6.enabled`; otherwise IPv6CP is Protocol-Rejected.
    ipv6cp: Fsm<Ipv6cp>,
    outbox: Outbox,
    events: Deque<LinkEvent, 8>,
    user: String<MAX_NAME_LEN>,
    keys: Option<StartKeys>,
    encrypter: Option<Encrypter>,
    decrypter: Option<Decrypter>,
    /// CCP runs on this link (MPPE allowed and keys available).
    ccp_running: bool,
    /// CCP has no verdict on MPPE yet (first negotiation, or renegotiating): no IP passes.
    ccp_pending: bool,
    /// [`LinkEvent::Up`] was reported (it is reported once per link).
    up_reported: bool,
    /// The session gave the address; IPCP may open once CCP allows.
    ipcp_opened: bool,
    /// Idle timer: when the link was last seen carrying IP, and whether IP was sent since.
    last_traffic: Instant,
    sent_traffic: bool,
    opened: bool,
    /// When the link finished ([`Link::is_dead`]).
    finished_at: Option<Instant>,
    /// The time of the call being handled, set by each entry point: the steps inside take
    /// it from here rather than as two more argument words each.
    now: Instant,
}

impl Link {
    // Out of line: inlined into the server's start_call its field setup cost more
    // (-192 B armv7, -52 B i586, 0 B mipsel measured).
    #[inline(never)]
    pub fn new(settings: &PppSettings, local: Ipv4Addr) -> Link {
        Link {
            settings: settings.clone(),
            phase: Phase::Dead,
            lcp: Fsm::new(Lcp::new(settings, 0)),
            auth: ChapAuthenticator::new(),
            ccp: Fsm::new(Ccp::new(settings.mppe)),
            ipcp: Fsm::new(Ipcp::new(settings, local)),
            ipv6cp: Fsm::new(Ipv6cp::new(settings.ipv6.local_id.unwrap_or([0; 8]))),
            outbox: Outbox::new(),
            events: Deque::new(),
            user: String::new(),
            keys: None,
            encrypter: None,
            decrypter: None,
            ccp_running: false,
            ccp_pending: false,
            up_reported: false,
            ipcp_opened: false,
            last_traffic: Instant::ZERO,
            sent_traffic: false,
            opened: false,
            finished_at: None,
            now: Instant::ZERO,
        }
    }

    /// The lower layer (the PPTP call) is up: start LCP.
    pub fn open(&mut self, now: Instant, env: &mut LinkEnv) {
        self.now = now;
        if self.opened {
            return;
        }
        self.opened = true;
        self.phase = Phase::Establish;
        self.last_traffic = now;
        self.lcp.protocol_mut().reseed(env.rng);
        if self.ipv6cp.protocol().local_id() == [0; 8] {
            let id = ipv6cp::random_id(env.rng);
            self.ipv6cp.protocol_mut().set_local_id(id);
        }
        self.lcp.open_up(now, &mut self.outbox);
        self.process(env);
    }

    /// A PPP frame (a GRE payload) from the peer. Control packets are handled; an IPv4
    /// packet is decrypted in place and returned as a subslice of `frame` (mutable, so the
    /// session can clamp a TCP MSS in place).
    pub fn receive<'f>(
        &mut self,
        now: Instant,
        frame: &'f mut [u8],
        env: &mut LinkEnv,
    ) -> Option<&'f mut [u8]> {
        self.now = now;
        let (proto, offset) = ppp::parse(frame).ok()?;
        let mut delivered = None;
        match (proto, self.phase) {
            (_, Phase::Dead) => {}
            (protocol::LCP, _) => self.lcp.receive(now, &frame[offset..], &mut self.outbox),
            // RFC 1661 §3.4: nothing but LCP before LCP is Opened.
            (_, Phase::Establish) => {}
            (protocol::CHAP, _) if self.settings.auth.require_auth => {
                let status = self.auth.receive(
                    now,
                    &frame[offset..],
                    env.secrets,
                    env.peer,
                    self.settings.name.as_bytes(),
                    &mut self.outbox,
                );
                self.auth_status(status, env);
            }
            // Authentication we never offer, and callback control: tell the peer.
            (protocol::PAP | protocol::EAP | protocol::CBCP, Phase::Authenticate) => self
                .lcp
                .send_protocol_reject(proto, &frame[offset..], &mut self.outbox),
            // pppd: "toss all packets except LCP, LQR and authentication packets".
            (_, Phase::Authenticate) => {}
            (protocol::CCP, _) if self.ccp_running => {
                self.ccp.receive(now, &frame[offset..], &mut self.outbox)
            }
            (protocol::IPCP, Phase::Network | Phase::Running) => {
                self.ipcp.receive(now, &frame[offset..], &mut self.outbox)
            }
            (protocol::IPV6CP, Phase::Network | Phase::Running) if self.settings.ipv6.enabled => {
                self.prepare_ipv6cp(&frame[offset..], env);
                self.ipv6cp.receive(now, &frame[offset..], &mut self.outbox)
            }
            (protocol::IPV6, Phase::Running) if self.ipv6_up() && self.plain_ip_allowed() => {
                delivered = Some((offset, frame.len()));
            }
            // IPv6 before IPv6CP is up, or unencrypted after MPPE is: drop.
            (protocol::IPV6, _) if self.settings.ipv6.enabled => {}
            (protocol::IPV4, Phase::Running) if self.plain_ip_allowed() => {
                delivered = Some((offset, frame.len()));
            }
            // Unencrypted IP after MPPE is up, or before Running: drop.
            (protocol::IPV4, _) => {}
            (protocol::COMPRESSED, Phase::Running | Phase::Network) => {
                delivered = self
                    .decrypt(&mut frame[offset..])
                    .map(|(a, b)| (a + offset, b + offset));
            }
            (protocol::COMPRESSED, _) => {}
            (_, Phase::Network | Phase::Running) => {
                crate::debug!("Protocol-Reject for unsupported protocol 0x{:04x}", proto);
                self.lcp
                    .send_protocol_reject(proto, &frame[offset..], &mut self.outbox)
            }
            (_, Phase::Terminate) => {}
        }
        self.process(env);
        let (start, end) = delivered?;
        if self.phase != Phase::Running {
            return None;
        }
        self.last_traffic = now;
        frame.get_mut(start..end)
    }

    /// Before IPv6CP judges a packet: what it may suggest to the peer (unique among the
    /// sessions, not ours) and whether the identifier the packet asks for is another
    /// session's.
    fn prepare_ipv6cp(&mut self, packet: &[u8], env: &mut LinkEnv) {
        let own = self.ipv6_reserved();
        let held_by_others = |id: InterfaceId| {
            let id = u64::from_ne_bytes(id);
            let holders = env.ipv6_ids.iter().filter(|&&h| h == id).count();
            id != 0 && holders > usize::from(own == id)
        };
        let local = self.ipv6cp.protocol().local_id();
        let taken = ipv6cp::requested_id(packet).filter(|&id| held_by_others(id));
        let mut suggestion = self
            .ipv6cp
            .protocol()
            .suggestion()
            .or(self.settings.ipv6.remote_id);
        // Random identifiers collide with one in 2^62: a few tries always suffice.
        for _ in 0..8 {
            match suggestion {
                Some(s) if s != [0; 8] && s != local && Some(s) != taken && !held_by_others(s) => {
                    break
                }
                _ => suggestion = Some(ipv6cp::random_id(env.rng)),
            }
        }
        if let Some(s) = suggestion {
            self.ipv6cp.protocol_mut().prepare(s, taken);
        }
    }

    /// IPv6 passes: IPv6CP is Opened and the link is Running.
    pub fn ipv6_up(&self) -> bool {
        self.settings.ipv6.enabled && self.phase == Phase::Running && self.ipv6cp.is_opened()
    }

    /// The client's Interface-Identifier (its address is fe80::ID) while IPv6 passes.
    pub fn ipv6_peer_id(&self) -> Option<InterfaceId> {
        self.ipv6_up()
            .then(|| self.ipv6cp.protocol().peer_id())
            .flatten()
    }

    /// [`Link::ipv6_peer_id`] as a word (`u64::from_ne_bytes`), 0 for none: compared per
    /// packet, an `Option<InterfaceId>` (9 bytes) took unaligned load pairs on MIPS.
    pub fn ipv6_peer(&self) -> u64 {
        if self.ipv6_up() {
            self.ipv6cp.protocol().peer_word()
        } else {
            0
        }
    }

    /// Our Interface-Identifier (the same on every link when configured).
    pub fn ipv6_local_id(&self) -> InterfaceId {
        self.ipv6cp.protocol().local_id()
    }

    /// The identifier this link holds for its peer, for [`LinkEnv::ipv6_ids`]: the one
    /// acknowledged, or else the one we suggest.
    #[cfg(test)]
    pub fn ipv6_reserved_id(&self) -> Option<InterfaceId> {
        let id = self.ipv6_reserved();
        (id != 0).then(|| id.to_ne_bytes())
    }

    /// [`Link::ipv6_reserved_id`] as a word (`u64::from_ne_bytes`), 0 for none.
    pub fn ipv6_reserved(&self) -> u64 {
        if !self.settings.ipv6.enabled || matches!(self.phase, Phase::Dead | Phase::Terminate) {
            return 0;
        }
        self.ipv6cp.protocol().reserved()
    }

    /// Decrypt an MPPE packet (`data` = MPPE header + ciphertext) in place; the range of
    /// the inner IPv4 or IPv6 packet within `data`.
    fn decrypt(&mut self, data: &mut [u8]) -> Option<(usize, usize)> {
        let ipv6 = self.ipv6_up();
        let decrypter = self.decrypter.as_mut()?;
        let header = mppe::Header::parse(data).ok()?;
        let body = data.get_mut(mppe::HEADER_LEN..)?;
        match decrypter.decrypt_checked(header, body, |plain| plausible_ip(plain, ipv6)) {
            Ok(()) => {}
            Err(DecryptError::NeedReset) => {
                self.ccp.send_reset_request(&mut self.outbox);
                return None;
            }
            Err(e) => {
                crate::debug!("MPPE: dropping packet ({:?})", e);
                return None;
            }
        }
        // The inner protocol may be PFC-compressed (RFC 3078 §3.1, Linux `mppe_decompress`).
        let (inner, len) = match *body.first()? {
            b if b & 1 == 1 => (u16::from(b), 1),
            b => (u16::from_be_bytes([b, *body.get(1)?]), 2),
        };
        if inner != protocol::IPV4 && !(inner == protocol::IPV6 && self.ipv6_up()) {
            crate::debug!("MPPE: dropping inner protocol 0x{:04x}", inner);
            return None;
        }
        let start = mppe::HEADER_LEN + len;
        Some((start, data.len()))
    }

    /// Whether IPv4 may travel unencrypted: only when MPPE is neither up nor required.
    fn plain_ip_allowed(&self) -> bool {
        self.encrypter.is_none() && !self.settings.mppe.required
    }

    /// Next PPP frame (header + control packet) to send, written into `buf`.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        self.now = now;
        self.start_ipcp_if_ready();
        while let Some(packet) = self.outbox.pop() {
            let Ok(header) = ppp::emit_header(buf, packet.protocol, false, false) else {
                continue;
            };
            let bytes = packet.bytes();
            let Some(end) = header.checked_add(bytes.len()).filter(|&e| e <= buf.len()) else {
                continue;
            };
            buf[header..end].copy_from_slice(bytes);
            return Some(end);
        }
        None
    }

    /// Frame (and encrypt) an IP packet for the peer into `out`; Err unless Running (and,
    /// for IPv6 — version 6 in the first nibble — unless IPv6CP is up).
    pub fn send_ip(&mut self, ip: &[u8], out: &mut [u8]) -> Result<usize, SendError> {
        if self.phase != Phase::Running {
            return Err(SendError::NotRunning);
        }
        let ip_protocol = match ip.first() {
            Some(b) if b >> 4 == 6 => {
                if !self.ipv6_up() {
                    return Err(SendError::NotRunning);
                }
                protocol::IPV6
            }
            _ => protocol::IPV4,
        };
        let header_len = ppp::header_len(protocol::IPV4, false, false);
        if let Some(encrypter) = self.encrypter.as_mut() {
            let total = MPPE_OVERHEAD
                .checked_add(ip.len())
                .ok_or(SendError::BufferTooSmall)?;
            let out = out.get_mut(..total).ok_or(SendError::BufferTooSmall)?;
            let _ = ppp::emit_header(out, protocol::COMPRESSED, false, false);
            let plain = &mut out[header_len + mppe::HEADER_LEN..];
            plain[..2].copy_from_slice(&ip_protocol.to_be_bytes());
            plain[2..].copy_from_slice(ip);
            let header = encrypter.encrypt(plain);
            out[header_len..header_len + mppe::HEADER_LEN].copy_from_slice(&header.to_bytes());
            self.sent_traffic = true;
            Ok(total)
        } else if self.plain_ip_allowed() {
            let total = header_len
                .checked_add(ip.len())
                .ok_or(SendError::BufferTooSmall)?;
            let out = out.get_mut(..total).ok_or(SendError::BufferTooSmall)?;
            let _ = ppp::emit_header(out, ip_protocol, false, false);
            out[header_len..].copy_from_slice(ip);
            self.sent_traffic = true;
            Ok(total)
        } else {
            Err(SendError::NotRunning)
        }
    }

    pub fn poll_event(&mut self) -> Option<LinkEvent> {
        self.events.pop_front()
    }

    /// The client's address (after [`LinkEvent::Authenticated`]); IPCP starts with it.
    pub fn set_peer_address(&mut self, addr: Ipv4Addr) {
        // IPCP keeps it (the only copy: one here was 5 bytes at an odd offset).
        self.ipcp.protocol_mut().set_peer_address(addr);
    }

    /// When [`Link::handle_timeout`] (or [`Link::poll_transmit`]) wants to be called; a time
    /// in the past (`Instant::ZERO`) means "now" (IPCP can start after `set_peer_address`).
    pub fn poll_at(&self) -> Option<Instant> {
        if self.ipcp_ready() {
            return Some(Instant::ZERO);
        }
        let mut at = self.idle_deadline();
        if self.phase == Phase::Authenticate {
            at = crate::earliest(at, self.auth.poll_at());
        }
        self.lcp.poll_at_into(&mut at);
        self.ccp.poll_at_into(&mut at);
        self.ipcp.poll_at_into(&mut at);
        self.ipv6cp.poll_at_into(&mut at);
        at
    }

    /// IP traffic went to the peer at `now` (callers that know the time): the `idle` timer
    /// restarts from here rather than from the next deadline check.
    pub fn note_sent(&mut self, now: Instant) {
        if self.phase == Phase::Running {
            self.last_traffic = now;
            self.sent_traffic = false;
        }
    }

    /// Largest IPv4 packet the peer takes in one frame: the smaller of our `mtu` and its
    /// MRU, less MPPE's 4 bytes while MPPE is on (pppd lowers the interface MTU the same way).
    pub fn mtu(&self) -> u16 {
        let mtu = self.settings.mtu.min(self.lcp.protocol().peer_mru());
        if self.encrypter.is_some() {
            mtu.saturating_sub(4)
        } else {
            mtu
        }
    }

    /// Seconds without IP traffic before the link is closed (0 = never): a per-user `idle`
    /// over the options file's.
    pub fn set_idle(&mut self, seconds: u32) {
        self.settings.idle = seconds;
    }

    fn idle_deadline(&self) -> Option<Instant> {
        (self.phase == Phase::Running && self.settings.idle > 0)
            .then(|| self.last_traffic + Duration::from_secs(u64::from(self.settings.idle)))
    }

    pub fn handle_timeout(&mut self, now: Instant, env: &mut LinkEnv) {
        self.now = now;
        self.lcp.handle_timeout(now, &mut self.outbox);
        if self.phase == Phase::Authenticate {
            let status = self.auth.handle_timeout(now, &mut self.outbox);
            self.auth_status(status, env);
        }
        self.ccp.handle_timeout(now, &mut self.outbox);
        self.ipcp.handle_timeout(now, &mut self.outbox);
        self.ipv6cp.handle_timeout(now, &mut self.outbox);
        if self.idle_deadline().is_some_and(|at| now >= at) {
            if core::mem::take(&mut self.sent_traffic) {
                self.last_traffic = now;
            } else {
                crate::info!(
                    "Terminating connection due to lack of activity ({} s).",
                    self.settings.idle
                );
                self.close_link("Link inactive");
            }
        }
        self.process(env);
    }

    /// Terminate the link: LCP Terminate-Request carrying `reason`.
    pub fn close(&mut self, now: Instant, reason: &'static str) {
        self.now = now;
        self.close_link(reason);
    }

    /// [`Link::close`] at `self.now`.
    fn close_link(&mut self, reason: &'static str) {
        let now = self.now;
        if self.is_dead() {
            return;
        }
        if !self.opened {
            self.finish();
            return;
        }
        crate::info!("Closing link: {}", reason);
        self.lcp.close(now, reason, &mut self.outbox);
        if self.phase != Phase::Dead {
            self.phase = Phase::Terminate;
        }
        self.drain_lcp(None);
    }

    /// The link has finished (LCP Terminate-Ack received or Max-Terminate exhausted).
    /// Control frames wait in [`Link::poll_transmit`] or events in [`Link::poll_event`]:
    /// the owner should come back now rather than at [`Link::poll_at`].
    pub fn has_output(&self) -> bool {
        !self.outbox.is_empty() || !self.events.is_empty()
    }

    pub fn is_dead(&self) -> bool {
        self.finished_at.is_some()
    }

    /// When the owner should end the call (PPTP Call-Disconnect-Notify) after the link
    /// finished: [`HANGUP_DELAY`] later. When both ends terminate LCP at once (a client that
    /// fails to authenticate sends its own Terminate-Request as it gets ours), tearing the
    /// call down the moment our Terminate-Request is acked can beat our Terminate-Ack to the
    /// peer's PPP, which then reports a hang-up instead of the authentication failure.
    /// pptpd ends the call only after pppd has exited, which leaves the same gap.
    pub fn hangup_at(&self) -> Option<Instant> {
        self.finished_at.map(|t| t + HANGUP_DELAY)
    }

    /// IPv4 passes (IPCP up, and MPPE when required).
    pub fn is_running(&self) -> bool {
        self.phase == Phase::Running
    }

    /// The authenticated user name ("" before authentication).
    pub fn user(&self) -> &str {
        &self.user
    }

    pub fn peer_address(&self) -> Option<Ipv4Addr> {
        self.ipcp.protocol().assigned_address()
    }

    /// The MPPE mode in use (CCP opened and the keys installed); `None` when traffic is
    /// not encrypted. For `smolpptpd status`.
    pub fn mppe(&self) -> Option<super::ccp::Mppe> {
        self.encrypter.as_ref()?;
        self.ccp.protocol().negotiated()
    }

    /// Why the link was closed by us, if it was (e.g. "Authentication failed").
    pub fn close_reason(&self) -> Option<&'static str> {
        self.lcp.close_reason()
    }

    fn auth_status(&mut self, status: AuthStatus, env: &mut LinkEnv) {
        match status {
            AuthStatus::Pending => {}
            AuthStatus::Succeeded(info) => {
                if self.phase != Phase::Authenticate {
                    return;
                }
                self.user = info.user;
                self.keys = Some(info.keys);
                let _ = self.events.push_back(LinkEvent::Authenticated {
                    address: info.address,
                });
                self.start_network(env);
            }
            AuthStatus::Failed => {
                if self.phase != Phase::Authenticate {
                    return;
                }
                crate::warn!("MS-CHAP-V2 peer authentication failed for {}", self.user);
                let _ = self.events.push_back(LinkEvent::AuthFailed);
                self.close_link("Authentication failed");
            }
        }
    }

    /// Network phase: CCP first (when MPPE is possible), IPCP in Closed until allowed.
    fn start_network(&mut self, _env: &mut LinkEnv) {
        let now = self.now;
        self.phase = Phase::Network;
        let mppe = self.settings.mppe;
        let mppe_possible = mppe.allow_128 || mppe.allow_40 || mppe.allow_56;
        if !mppe_possible {
            crate::info!("MPPE disabled by configuration: IP will pass unencrypted");
        }
        if mppe.required && (self.keys.is_none() || !mppe_possible) {
            crate::warn!("MPPE required, but keys are not available");
            self.close_link(MPPE_REQUIRED_FAILED);
            return;
        }
        // IPCP Configure-Requests before IPCP opens get Terminate-Ack (Closed state).
        self.ipcp.up(now, &mut self.outbox);
        if self.settings.ipv6.enabled {
            self.ipv6cp.up(now, &mut self.outbox);
        }
        if mppe_possible && self.keys.is_some() {
            self.ccp_running = true;
            self.ccp_pending = true;
            self.ccp.open_up(now, &mut self.outbox);
        }
        self.start_ipcp_if_ready();
    }

    fn ipcp_ready(&self) -> bool {
        !self.ipcp_opened
            && self.ipcp.protocol().has_assigned()
            && matches!(self.phase, Phase::Network)
            && self.encryption_settled()
    }

    /// IP may pass as far as MPPE is concerned: MPPE is up, or it is not required and CCP
    /// is not (or no longer) negotiating it.
    fn encryption_settled(&self) -> bool {
        self.encrypter.is_some() || (!self.settings.mppe.required && !self.ccp_pending)
    }

    /// Network → Running once IPCP is up and MPPE has settled.
    fn run_if_ready(&mut self) {
        let now = self.now;
        if self.phase != Phase::Network || !self.ipcp.is_opened() || !self.encryption_settled() {
            return;
        }
        self.phase = Phase::Running;
        if !core::mem::replace(&mut self.up_reported, true) {
            self.last_traffic = now;
            let _ = self.events.push_back(LinkEvent::Up);
        }
    }

    fn start_ipcp_if_ready(&mut self) {
        let now = self.now;
        if self.ipcp_ready() {
            self.ipcp_opened = true;
            self.ipcp.open(now, &mut self.outbox);
            // IPv6CP follows the same rule as IPCP: not before MPPE has settled.
            if self.settings.ipv6.enabled {
                self.ipv6cp.open(now, &mut self.outbox);
            }
        }
    }

    /// Act on everything the protocol machines reported.
    fn process(&mut self, env: &mut LinkEnv) {
        let now = self.now;
        self.drain_lcp(Some(env));
        while let Some(rejected) = self.lcp.protocol_mut().take_rejected_protocol() {
            match rejected {
                protocol::CCP if self.ccp_running => {
                    self.ccp.protocol_rejected(now, &mut self.outbox)
                }
                protocol::IPCP => self.ipcp.protocol_rejected(now, &mut self.outbox),
                // The client does not run IPv6: IPv4 carries on alone.
                protocol::IPV6CP if self.settings.ipv6.enabled => {
                    self.ipv6cp.protocol_rejected(now, &mut self.outbox)
                }
                _ => {}
            }
        }
        while let Some(event) = self.ccp.poll_event() {
            self.ccp_event(event);
        }
        // CCP gave up (peer rejected or Nak-looped MPPE): pppd closes LCP at once rather
        // than waiting for CCP's own Terminate exchange.
        if self.settings.mppe.required
            && self.ccp.close_reason().is_some()
            && !matches!(self.phase, Phase::Terminate | Phase::Dead)
        {
            self.mppe_failed();
        }
        if self.ccp.protocol_mut().take_reset_request() {
            if let Some(encrypter) = self.encrypter.as_mut() {
                encrypter.flush();
            }
        }
        self.start_ipcp_if_ready();
        while let Some(event) = self.ipcp.poll_event() {
            self.ipcp_event(event);
        }
        // IPv6 rides on a Running link: nothing to do on its events but note the end.
        while let Some(event) = self.ipv6cp.poll_event() {
            if event == FsmEvent::Finished {
                crate::info!("IPV6CP finished: no IPv6 on this link");
            }
        }
        self.drain_lcp(None);
    }

    fn drain_lcp(&mut self, mut env: Option<&mut LinkEnv>) {
        let now = self.now;
        while let Some(event) = self.lcp.poll_event() {
            match event {
                FsmEvent::Up => {
                    if self.phase != Phase::Establish {
                        continue;
                    }
                    if self.settings.auth.require_auth {
                        self.phase = Phase::Authenticate;
                        if let Some(env) = env.as_deref_mut() {
                            self.auth.start(
                                now,
                                env.rng,
                                self.settings.name.as_bytes(),
                                &mut self.outbox,
                            );
                        }
                    } else if let Some(env) = env.as_deref_mut() {
                        self.start_network(env);
                    }
                }
                FsmEvent::Down => {
                    // Everything above LCP goes down with it.
                    self.ccp.down();
                    self.ipcp.down();
                    self.ipv6cp.down();
                    self.drop_mppe();
                    let renegotiating = self.phase != Phase::Terminate
                        && !matches!(self.lcp.state(), State::Closing | State::Stopping);
                    self.phase = Phase::Terminate;
                    if renegotiating {
                        // The peer restarted LCP mid-session. pppd would authenticate
                        // again; PPTP clients do not do this, so end the call cleanly.
                        crate::warn!("LCP renegotiation requested by peer; closing");
                        self.lcp.close(now, "LCP renegotiation", &mut self.outbox);
                    }
                }
                FsmEvent::Started => {}
                FsmEvent::Finished => self.finish(),
            }
        }
    }

    fn finish(&mut self) {
        let now = self.now;
        if self.is_dead() {
            return;
        }
        self.finished_at = Some(now);
        self.phase = Phase::Dead;
        self.drop_mppe();
        self.keys = None;
        crate::info!("Connection terminated.");
        let _ = self.events.push_back(LinkEvent::Down);
    }

    /// MPPE is required and CCP gave up on it: say so and close the link.
    #[inline(never)]
    fn mppe_failed(&mut self) {
        crate::warn!("{}", MPPE_REQUIRED_FAILED);
        self.close_link(MPPE_REQUIRED_FAILED);
    }

    /// Forget the MPPE ciphers (CCP or the link went down).
    #[inline(never)]
    fn drop_mppe(&mut self) {
        self.encrypter = None;
        self.decrypter = None;
    }

    fn ccp_event(&mut self, event: FsmEvent) {
        match event {
            FsmEvent::Up => {
                if !self.ccp.is_opened() {
                    // this-layer-up refused the result: CCP is already closing.
                    return;
                }
                self.ccp_pending = false;
                let Some(mppe) = self.ccp.protocol().negotiated() else {
                    crate::info!("CCP up without MPPE: IP passes unencrypted");
                    self.run_if_ready();
                    return;
                };
                let Some(keys) = self.keys.as_ref() else {
                    self.close_link(MPPE_REQUIRED_FAILED);
                    return;
                };
                self.encrypter = Some(Encrypter::new(&keys.send, mppe.key_length, mppe.stateless));
                self.decrypter = Some(Decrypter::new(&keys.recv, mppe.key_length, mppe.stateless));
                crate::info!(
                    "MPPE {}-bit {} compression enabled",
                    mppe.key_bits(),
                    if mppe.stateless {
                        "stateless"
                    } else {
                        "stateful"
                    }
                );
                // CCP renegotiated while IPCP stayed up: IP may pass again.
                self.run_if_ready();
            }
            FsmEvent::Down => {
                self.drop_mppe();
                // No IP until CCP settles again (never in clear while MPPE renegotiates).
                self.ccp_pending = true;
                if self.phase == Phase::Running {
                    self.phase = Phase::Network;
                }
            }
            FsmEvent::Finished => {
                self.ccp_pending = false;
                if self.settings.mppe.required {
                    if self.phase != Phase::Terminate {
                        self.mppe_failed();
                    }
                } else if matches!(self.phase, Phase::Network | Phase::Running) {
                    crate::warn!("MPPE not negotiated: IP passes unencrypted");
                    self.run_if_ready();
                }
            }
            FsmEvent::Started => {}
        }
    }

    fn ipcp_event(&mut self, event: FsmEvent) {
        match event {
            FsmEvent::Up => {
                let ipcp = self.ipcp.protocol();
                crate::info!("local  IP address {}", ipcp.local_address());
                if let Some(remote) = ipcp.peer_address() {
                    crate::info!("remote IP address {}", remote);
                }
                self.run_if_ready();
            }
            FsmEvent::Down => {
                if self.phase == Phase::Running {
                    self.phase = Phase::Network;
                }
            }
            FsmEvent::Finished => {
                if self.phase != Phase::Terminate && self.phase != Phase::Dead {
                    crate::info!("No network protocols running");
                    self.close_link("No network protocols running");
                }
            }
            FsmEvent::Started => {}
        }
    }
}

/// Whether decrypted MPPE data is what a peer sends: an inner protocol of IPv4 (or IPv6 when
/// it is up), PFC-compressed or not, and an IP header of that version; for IPv4 also a
/// consistent length and a correct header checksum. A forged packet passes by chance about
/// once in 10^9.
fn plausible_ip(plain: &[u8], ipv6: bool) -> bool {
    let (inner, ip) = match plain {
        [b, rest @ ..] if b & 1 == 1 => (u16::from(*b), rest),
        [a, b, rest @ ..] => (u16::from_be_bytes([*a, *b]), rest),
        _ => return false,
    };
    match (inner, ip.first().map(|v| v >> 4)) {
        (protocol::IPV4, Some(4)) => {
            smoltcp::wire::Ipv4Packet::new_checked(ip).is_ok_and(|p| p.verify_checksum())
        }
        (protocol::IPV6, Some(6)) => ipv6,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::mppe::KeyLength;
    use crate::crypto::mschapv2::{generate_nt_response, nt_password_hash};
    use crate::rand::XorShift;
    use crate::settings::Secret;
    use crate::wire::chap::{self, MsChapV2Response};
    use crate::wire::cp::{code, Repr};
    use std::vec::Vec;

    const LOCAL: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 1);
    const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 234);
    const PEER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);

    struct OneUser;

    impl Secrets for OneUser {
        fn lookup(&mut self, client: &[u8], server: &[u8], _peer: Ipv4Addr) -> Option<Secret> {
            (client == b"alice" && server == b"pptpd").then(|| Secret {
                password: heapless::Vec::from_slice(b"clientPass").unwrap(),
                address: AddressRule::Pool,
            })
        }
    }

    fn t(ms: i64) -> Instant {
        Instant::from_millis(ms)
    }

    /// Every frame the link has to send, as (protocol, packet from the Code field on).
    fn drain(link: &mut Link, now: Instant) -> Vec<(u16, Vec<u8>)> {
        let mut out = Vec::new();
        let mut buf = [0u8; 1600];
        while let Some(n) = link.poll_transmit(now, &mut buf) {
            assert_eq!(&buf[..2], &[0xFF, 0x03], "we never compress the header");
            let (proto, offset) = ppp::parse(&buf[..n]).unwrap();
            out.push((proto, buf[offset..n].to_vec()));
        }
        out
    }

    fn frame(proto: u16, packet: &[u8]) -> Vec<u8> {
        let mut f = vec![0xFF, 0x03];
        f.extend_from_slice(&proto.to_be_bytes());
        f.extend_from_slice(packet);
        f
    }

    fn cp(code: u8, id: u8, data: &[u8]) -> Vec<u8> {
        let mut buf = [0u8; 300];
        let n = Repr {
            code,
            identifier: id,
            data,
        }
        .emit(&mut buf)
        .unwrap();
        buf[..n].to_vec()
    }

    /// The scripted client: its secrets, keys and ciphers.
    struct Client {
        password: &'static [u8],
        keys: Option<StartKeys>,
        encrypter: Option<Encrypter>,
        decrypter: Option<Decrypter>,
    }

    struct Harness {
        link: Link,
        secrets: OneUser,
        rng: XorShift,
        client: Client,
        now: Instant,
        /// Frames taken from the link but not looked at yet.
        pending: Vec<(u16, Vec<u8>)>,
        /// What the server says the sessions hold ([`LinkEnv::ipv6_ids`]).
        ipv6_ids: Vec<u64>,
    }

    impl Harness {
        fn new(settings: PppSettings, password: &'static [u8]) -> Harness {
            Harness {
                link: Link::new(&settings, LOCAL),
                secrets: OneUser,
                rng: XorShift(0x1234),
                client: Client {
                    password,
                    keys: None,
                    encrypter: None,
                    decrypter: None,
                },
                now: t(0),
                pending: Vec::new(),
                ipv6_ids: Vec::new(),
            }
        }

        fn send(&mut self, proto: u16, packet: &[u8]) -> Option<Vec<u8>> {
            let mut f = frame(proto, packet);
            let mut env = LinkEnv {
                secrets: &mut self.secrets,
                rng: &mut self.rng,
                peer: PEER,
                ipv6_ids: &self.ipv6_ids,
            };
            self.now += Duration::from_millis(10);
            self.link
                .receive(self.now, &mut f, &mut env)
                .map(|ip| ip.to_vec())
        }

        fn drain(&mut self) -> Vec<(u16, Vec<u8>)> {
            let mut frames = core::mem::take(&mut self.pending);
            frames.extend(drain(&mut self.link, self.now));
            frames
        }

        fn expect_one(&mut self, proto: u16, code: u8) -> Vec<u8> {
            let frames = self.drain();
            assert_eq!(frames.len(), 1, "{frames:02x?}");
            let (p, packet) = frames.into_iter().next().unwrap();
            assert_eq!((p, packet[0]), (proto, code), "{packet:02x?}");
            packet
        }

        fn timeout(&mut self, at: Instant) {
            self.now = at;
            let mut env = LinkEnv {
                secrets: &mut self.secrets,
                rng: &mut self.rng,
                peer: PEER,
                ipv6_ids: &[],
            };
            self.link.handle_timeout(at, &mut env);
        }

        /// LCP up both ways; returns the CHAP Challenge.
        fn establish(&mut self) -> Vec<u8> {
            let mut env = LinkEnv {
                secrets: &mut self.secrets,
                rng: &mut self.rng,
                peer: PEER,
                ipv6_ids: &[],
            };
            self.link.open(self.now, &mut env);
            let request = self.expect_one(protocol::LCP, code::CONFIGURE_REQUEST);
            // MRU 1400 (the default `mru`), MS-CHAPv2, magic.
            assert_eq!(&request[4..13], &[1, 4, 0x05, 0x78, 3, 5, 0xC2, 0x23, 0x81]);
            let mut ack = request.clone();
            ack[0] = code::CONFIGURE_ACK;
            self.send(protocol::LCP, &ack);
            // Windows-like request: magic, PFC, ACFC.
            self.send(
                protocol::LCP,
                &cp(1, 0, &[5, 6, 0x6F, 0x59, 0x3C, 0x72, 7, 2, 8, 2]),
            );
            let frames = self.drain();
            assert_eq!(frames.len(), 2, "{frames:02x?}");
            assert_eq!(
                (frames[0].0, frames[0].1[0]),
                (protocol::LCP, code::CONFIGURE_ACK)
            );
            assert_eq!(
                (frames[1].0, frames[1].1[0]),
                (protocol::CHAP, chap::code::CHALLENGE)
            );
            frames[1].1.clone()
        }

        /// Answer the Challenge with the client's password; returns the server's verdict.
        fn authenticate(&mut self, challenge: &[u8]) -> Vec<u8> {
            let Ok(chap::Repr::Challenge {
                identifier, value, ..
            }) = chap::Repr::parse(challenge)
            else {
                panic!("not a challenge");
            };
            let auth_challenge: [u8; 16] = value.try_into().unwrap();
            let peer_challenge = [0x21u8; 16];
            let hash = nt_password_hash(self.client.password);
            let nt = generate_nt_response(&auth_challenge, &peer_challenge, b"alice", &hash);
            self.client.keys = Some(StartKeys::client(&hash, &nt));
            let value = MsChapV2Response::encode(&peer_challenge, &nt, 0);
            let mut buf = [0u8; 128];
            let n = chap::Repr::Response {
                identifier,
                value: &value,
                name: b"alice",
            }
            .emit(&mut buf)
            .unwrap();
            self.send(protocol::CHAP, &buf[..n]);
            let (chap, rest): (Vec<_>, Vec<_>) = self
                .drain()
                .into_iter()
                .partition(|(p, _)| *p == protocol::CHAP);
            self.pending = rest;
            chap.into_iter().next().expect("a CHAP verdict").1
        }

        /// CCP as Windows does it: Ack ours, offer +H +S +L, take the Nak.
        fn negotiate_ccp(&mut self) {
            let request = self.expect_one(protocol::CCP, code::CONFIGURE_REQUEST);
            assert_eq!(&request[4..], &[0x12, 6, 0x01, 0, 0, 0x40]);
            let mut ack = request.clone();
            ack[0] = code::CONFIGURE_ACK;
            self.send(protocol::CCP, &ack);
            self.send(protocol::CCP, &cp(1, 6, &[0x12, 6, 0x01, 0, 0, 0x60]));
            let nak = self.expect_one(protocol::CCP, code::CONFIGURE_NAK);
            assert_eq!(&nak[4..], &[0x12, 6, 0x01, 0, 0, 0x40]);
            self.send(protocol::CCP, &cp(1, 8, &nak[4..]));
            let frames = self.drain();
            assert_eq!(
                (frames[0].0, frames[0].1[0]),
                (protocol::CCP, code::CONFIGURE_ACK)
            );
            let keys = self.client.keys.as_ref().unwrap();
            self.client.encrypter = Some(Encrypter::new(&keys.send, KeyLength::Bits128, true));
            self.client.decrypter = Some(Decrypter::new(&keys.recv, KeyLength::Bits128, true));
            // IPCP starts right after CCP.
            assert_eq!(frames.len(), 2, "{frames:02x?}");
            assert_eq!(
                (frames[1].0, frames[1].1[0]),
                (protocol::IPCP, code::CONFIGURE_REQUEST)
            );
            assert_eq!(&frames[1].1[4..], &[3, 6, 192, 168, 0, 1]);
            let mut ack = frames[1].1.clone();
            ack[0] = code::CONFIGURE_ACK;
            self.send(protocol::IPCP, &ack);
        }

        fn negotiate_ipcp(&mut self) {
            self.send(protocol::IPCP, &cp(1, 10, &[3, 6, 0, 0, 0, 0]));
            let nak = self.expect_one(protocol::IPCP, code::CONFIGURE_NAK);
            assert_eq!(&nak[4..], &[3, 6, 192, 168, 0, 234]);
            self.send(protocol::IPCP, &cp(1, 11, &nak[4..]));
            self.expect_one(protocol::IPCP, code::CONFIGURE_ACK);
        }

        /// A full session up to Running.
        fn run(&mut self) {
            let challenge = self.establish();
            let verdict = self.authenticate(&challenge);
            assert_eq!(verdict[0], chap::code::SUCCESS);
            assert_eq!(
                self.link.poll_event(),
                Some(LinkEvent::Authenticated {
                    address: AddressRule::Pool
                })
            );
            self.link.set_peer_address(CLIENT);
            self.negotiate_ccp();
            self.negotiate_ipcp();
            assert_eq!(self.link.poll_event(), Some(LinkEvent::Up));
            assert!(self.link.is_running());
        }

        /// An encrypted frame from the client carrying `ip`.
        fn encrypted(&mut self, ip: &[u8]) -> Vec<u8> {
            let mut plain = vec![0x00, 0x21];
            plain.extend_from_slice(ip);
            let header = self.client.encrypter.as_mut().unwrap().encrypt(&mut plain);
            let mut packet = header.to_bytes().to_vec();
            packet.extend_from_slice(&plain);
            packet
        }
    }

    fn ip_packet(n: u8) -> Vec<u8> {
        let mut ip = vec![0x45, 0, 0, 28, 0, n, 0, 0, 64, 17, 0, 0];
        ip.extend_from_slice(&CLIENT.octets());
        ip.extend_from_slice(&[8, 8, 8, 8]);
        ip.extend_from_slice(&[0x30, 0x39, 0, 53, 0, 8, 0, 0]);
        smoltcp::wire::Ipv4Packet::new_unchecked(&mut ip[..]).fill_checksum();
        ip
    }

    /// MPPE packets whose plaintext is not an IP packet (forged: any header, random bytes)
    /// are dropped without moving the receive key chain, so the client's traffic carries on.
    #[test]
    fn forged_mppe_packets_do_not_cut_the_client_off() {
        let mut h = Harness::new(PppSettings::default(), b"clientPass");
        h.run();
        let ip = ip_packet(1);
        let packet = h.encrypted(&ip);
        assert_eq!(h.send(protocol::COMPRESSED, &packet), Some(ip));
        let mut rng = XorShift(99);
        for ahead in [1u16, 2, 500, 2000] {
            let mut forged = vec![0u8; 60];
            rng.fill_bytes(&mut forged);
            let count = (1 + ahead) % 4096;
            forged[..2].copy_from_slice(&(0x9000 | count).to_be_bytes());
            assert_eq!(h.send(protocol::COMPRESSED, &forged), None, "ahead {ahead}");
        }
        // An IPv4 header with a wrong checksum is not plausible either.
        let mut bad = ip_packet(2);
        bad[10] ^= 0xFF;
        let packet = h.encrypted(&bad);
        assert_eq!(h.send(protocol::COMPRESSED, &packet), None);
        // The client's next packets: count 3, then 4.
        for n in 3..5 {
            let ip = ip_packet(n);
            let packet = h.encrypted(&ip);
            assert_eq!(
                h.send(protocol::COMPRESSED, &packet),
                Some(ip),
                "packet {n}"
            );
        }
    }

    #[test]
    fn full_session_passes_encrypted_ip_both_ways() {
        let mut h = Harness::new(PppSettings::default(), b"clientPass");
        h.run();
        assert_eq!(h.link.user(), "alice");
        assert_eq!(h.link.peer_address(), Some(CLIENT));

        // Server → client.
        for n in 0..3u8 {
            let ip = ip_packet(n);
            let mut out = [0u8; 1600];
            let len = h.link.send_ip(&ip, &mut out).unwrap();
            assert_eq!(len, ip.len() + MPPE_OVERHEAD);
            assert_eq!(&out[..4], &[0xFF, 0x03, 0x00, 0xFD]);
            assert_eq!(
                &out[4..6],
                &[0x90, n],
                "stateless, flushed, encrypted, ccount {n}"
            );
            let header = mppe::Header::parse(&out[4..6]).unwrap();
            let body = &mut out[6..len];
            h.client
                .decrypter
                .as_mut()
                .unwrap()
                .decrypt(header, body)
                .unwrap();
            assert_eq!(&body[..2], &[0x00, 0x21]);
            assert_eq!(&body[2..], &ip[..]);
        }

        // Client → server, with a full and a PFC-compressed inner protocol.
        let ip = ip_packet(7);
        let packet = h.encrypted(&ip);
        assert_eq!(h.send(protocol::COMPRESSED, &packet), Some(ip.clone()));
        let mut plain = vec![0x21];
        plain.extend_from_slice(&ip);
        let header = h.client.encrypter.as_mut().unwrap().encrypt(&mut plain);
        let mut f = vec![0xFD];
        f.extend_from_slice(&header.to_bytes());
        f.extend_from_slice(&plain);
        let mut env = LinkEnv {
            secrets: &mut h.secrets,
            rng: &mut h.rng,
            peer: PEER,
            ipv6_ids: &[],
        };
        // A frame without FF 03 and with a one-byte protocol (ACFC + PFC).
        assert_eq!(
            h.link.receive(h.now, &mut f, &mut env).as_deref(),
            Some(&ip[..])
        );

        // Unencrypted IP after MPPE is up is dropped.
        assert_eq!(h.send(protocol::IPV4, &ip), None);
        // A replayed encrypted packet is dropped.
        assert_eq!(h.send(protocol::COMPRESSED, &packet), None);
        assert!(h.drain().is_empty());
    }

    #[test]
    fn ip_before_running_is_dropped() {
        let mut h = Harness::new(PppSettings::default(), b"clientPass");
        let mut out = [0u8; 1600];
        assert_eq!(
            h.link.send_ip(&ip_packet(1), &mut out),
            Err(SendError::NotRunning)
        );
        let challenge = h.establish();
        assert_eq!(h.send(protocol::IPV4, &ip_packet(1)), None);
        // During authentication: silently dropped, no Protocol-Reject.
        assert!(h.drain().is_empty());
        assert_eq!(h.authenticate(&challenge)[0], chap::code::SUCCESS);
        h.link.set_peer_address(CLIENT);
        assert_eq!(h.send(protocol::IPV4, &ip_packet(2)), None);
        assert_eq!(
            h.link.send_ip(&ip_packet(1), &mut out),
            Err(SendError::NotRunning)
        );
        // IPCP before CCP is Opened gets an IPCP Terminate-Ack.
        h.drain();
        h.send(protocol::IPCP, &cp(1, 7, &[3, 6, 0, 0, 0, 0]));
        let term_ack = h.expect_one(protocol::IPCP, code::TERMINATE_ACK);
        assert_eq!(term_ack[1], 7);
        // IPv6CP is Protocol-Rejected.
        h.send(
            protocol::IPV6CP,
            &cp(1, 5, &[1, 10, 1, 2, 3, 4, 5, 6, 7, 8]),
        );
        let reject = h.expect_one(protocol::LCP, code::PROTOCOL_REJECT);
        assert_eq!(&reject[4..8], &[0x80, 0x57, 1, 5]);
    }

    #[test]
    fn nothing_but_lcp_before_lcp_is_opened() {
        let mut h = Harness::new(PppSettings::default(), b"clientPass");
        let mut env = LinkEnv {
            secrets: &mut h.secrets,
            rng: &mut h.rng,
            peer: PEER,
            ipv6_ids: &[],
        };
        h.link.open(h.now, &mut env);
        h.drain();
        h.send(protocol::IPCP, &cp(1, 1, &[3, 6, 0, 0, 0, 0]));
        h.send(protocol::IPV6CP, &cp(1, 1, &[]));
        h.send(protocol::CHAP, &[2, 1, 0, 4]);
        assert!(h.drain().is_empty());
    }

    #[test]
    fn wrong_password_fails_and_terminates() {
        let mut h = Harness::new(PppSettings::default(), b"wrong");
        let challenge = h.establish();
        let Ok(chap::Repr::Challenge {
            identifier, value, ..
        }) = chap::Repr::parse(&challenge)
        else {
            panic!("not a challenge");
        };
        let hash = nt_password_hash(b"wrong");
        let nt = generate_nt_response(value.try_into().unwrap(), &[1; 16], b"alice", &hash);
        let v = MsChapV2Response::encode(&[1; 16], &nt, 0);
        let mut buf = [0u8; 128];
        let n = chap::Repr::Response {
            identifier,
            value: &v,
            name: b"alice",
        }
        .emit(&mut buf)
        .unwrap();
        let f = buf[..n].to_vec();
        h.send(protocol::CHAP, &f);
        let frames = h.drain();
        assert_eq!(frames.len(), 2, "{frames:02x?}");
        assert_eq!(
            (frames[0].0, frames[0].1[0]),
            (protocol::CHAP, chap::code::FAILURE)
        );
        assert_eq!(
            (frames[1].0, frames[1].1[0]),
            (protocol::LCP, code::TERMINATE_REQUEST)
        );
        assert_eq!(&frames[1].1[4..], b"Authentication failed");
        assert_eq!(h.link.poll_event(), Some(LinkEvent::AuthFailed));
        assert!(!h.link.is_dead());
        assert_eq!(h.link.hangup_at(), None);
        h.send(protocol::LCP, &cp(code::TERMINATE_ACK, frames[1].1[1], &[]));
        assert!(h.link.is_dead());
        // The call outlives the link a little, for the peer's own Terminate-Ack to get there.
        assert_eq!(h.link.hangup_at(), Some(h.now + HANGUP_DELAY));
        assert_eq!(h.link.poll_event(), Some(LinkEvent::Down));
        assert_eq!(h.link.close_reason(), Some("Authentication failed"));
    }

    #[test]
    fn peer_rejecting_mppe_terminates_the_link() {
        let mut h = Harness::new(PppSettings::default(), b"clientPass");
        let challenge = h.establish();
        assert_eq!(h.authenticate(&challenge)[0], chap::code::SUCCESS);
        h.link.set_peer_address(CLIENT);
        let request = h.expect_one(protocol::CCP, code::CONFIGURE_REQUEST);
        let mut reject = request.clone();
        reject[0] = code::CONFIGURE_REJECT;
        h.send(protocol::CCP, &reject);
        let frames = h.drain();
        let term = frames
            .iter()
            .find(|(p, b)| *p == protocol::LCP && b[0] == code::TERMINATE_REQUEST)
            .expect("LCP Terminate-Request");
        assert_eq!(&term.1[4..], MPPE_REQUIRED_FAILED.as_bytes());
        assert_eq!(h.link.close_reason(), Some(MPPE_REQUIRED_FAILED));
        // No answer: two Terminate-Requests, then dead.
        let at = h.link.poll_at().unwrap();
        h.timeout(at);
        let at = h.link.poll_at().unwrap();
        h.timeout(at);
        assert!(h.link.is_dead());
    }

    #[test]
    fn peer_protocol_rejecting_ccp_terminates_the_link() {
        let mut h = Harness::new(PppSettings::default(), b"clientPass");
        let challenge = h.establish();
        h.authenticate(&challenge);
        h.drain();
        h.send(
            protocol::LCP,
            &cp(code::PROTOCOL_REJECT, 9, &[0x80, 0xFD, 1, 1, 0, 10]),
        );
        assert_eq!(h.link.close_reason(), Some(MPPE_REQUIRED_FAILED));
    }

    #[test]
    fn peer_terminate_then_dead() {
        let mut h = Harness::new(PppSettings::default(), b"clientPass");
        h.run();
        h.send(
            protocol::LCP,
            &cp(code::TERMINATE_REQUEST, 3, b"User request"),
        );
        let ack = h.expect_one(protocol::LCP, code::TERMINATE_ACK);
        assert_eq!(ack[1], 3);
        assert!(!h.link.is_running());
        let mut out = [0u8; 100];
        assert_eq!(
            h.link.send_ip(&ip_packet(1), &mut out),
            Err(SendError::NotRunning)
        );
        let at = h.link.poll_at().unwrap();
        h.timeout(at);
        assert!(h.link.is_dead());
        assert_eq!(h.link.poll_event(), Some(LinkEvent::Down));
    }

    #[test]
    fn ccp_renegotiation_restarts_mppe_and_keeps_running() {
        let mut h = Harness::new(PppSettings::default(), b"clientPass");
        h.run();
        h.send(protocol::CCP, &cp(1, 20, &[0x12, 6, 0x01, 0, 0, 0x40]));
        assert!(!h.link.is_running(), "no IP while MPPE renegotiates");
        let frames = h.drain();
        let request = &frames[0].1;
        assert_eq!(
            (frames[0].0, request[0]),
            (protocol::CCP, code::CONFIGURE_REQUEST)
        );
        let mut ack = request.clone();
        ack[0] = code::CONFIGURE_ACK;
        h.send(protocol::CCP, &ack);
        assert!(h.link.is_running());
        // Both sides start again from the start keys.
        let keys = h.client.keys.as_ref().unwrap();
        h.client.encrypter = Some(Encrypter::new(&keys.send, KeyLength::Bits128, true));
        let ip = ip_packet(3);
        let packet = h.encrypted(&ip);
        assert_eq!(h.send(protocol::COMPRESSED, &packet), Some(ip));
    }

    #[test]
    fn lcp_renegotiation_ends_the_call() {
        let mut h = Harness::new(PppSettings::default(), b"clientPass");
        h.run();
        h.send(protocol::LCP, &cp(1, 30, &[5, 6, 1, 2, 3, 4]));
        assert!(!h.link.is_running());
        let frames = h.drain();
        assert!(frames
            .iter()
            .any(|(p, b)| *p == protocol::LCP && b[0] == code::TERMINATE_REQUEST));
        assert_eq!(h.link.close_reason(), Some("LCP renegotiation"));
    }

    #[test]
    fn idle_timeout_closes() {
        let settings = PppSettings {
            idle: 60,
            ..PppSettings::default()
        };
        let mut h = Harness::new(settings, b"clientPass");
        h.run();
        let at = h.link.poll_at().unwrap();
        assert_eq!(at, h.now + Duration::from_secs(60));
        // Traffic sent in between pushes the deadline.
        let mut out = [0u8; 1600];
        h.link.send_ip(&ip_packet(1), &mut out).unwrap();
        h.timeout(at);
        assert!(h.link.is_running());
        let at = h.link.poll_at().unwrap();
        h.timeout(at);
        assert!(!h.link.is_running());
        assert_eq!(h.link.close_reason(), Some("Link inactive"));
    }

    fn optional_mppe(allow_128: bool) -> PppSettings {
        PppSettings {
            mppe: crate::settings::MppePolicy {
                required: false,
                allow_40: false,
                allow_56: false,
                allow_128,
                stateful: crate::settings::Stateful::Refuse,
            },
            ..PppSettings::default()
        }
    }

    impl Harness {
        /// Log in and get the address; returns what the link sent after that.
        fn log_in(&mut self) -> Vec<(u16, Vec<u8>)> {
            let challenge = self.establish();
            assert_eq!(self.authenticate(&challenge)[0], chap::code::SUCCESS);
            assert!(matches!(
                self.link.poll_event(),
                Some(LinkEvent::Authenticated { .. })
            ));
            self.link.set_peer_address(CLIENT);
            self.drain()
        }

        /// Ack the link's IPCP request, then get the client's address by Nak; Up.
        fn ipcp_after(&mut self, request: &[u8]) {
            assert_eq!(request[0], code::CONFIGURE_REQUEST);
            let mut ack = request.to_vec();
            ack[0] = code::CONFIGURE_ACK;
            self.send(protocol::IPCP, &ack);
            self.negotiate_ipcp();
            assert_eq!(self.link.poll_event(), Some(LinkEvent::Up));
            assert!(self.link.is_running());
        }

        /// IP passes unencrypted both ways; MPPE frames are dropped.
        fn check_plain_ip(&mut self) {
            let ip = ip_packet(4);
            let mut out = [0u8; 1600];
            let len = self.link.send_ip(&ip, &mut out).unwrap();
            assert_eq!(&out[..4], &[0xFF, 0x03, 0x00, 0x21]);
            assert_eq!(&out[4..len], &ip[..]);
            assert_eq!(self.send(protocol::IPV4, &ip), Some(ip.clone()));
            assert_eq!(self.send(protocol::COMPRESSED, &[0x90, 0, 1, 2, 3]), None);
        }
    }

    #[test]
    fn mppe_off_runs_ipcp_after_auth_and_passes_plain_ip() {
        // pppd's `nomppe`: not required, no strength allowed.
        let mut h = Harness::new(optional_mppe(false), b"clientPass");
        let frames = h.log_in();
        assert_eq!(frames.len(), 1, "IPCP only, no CCP: {frames:02x?}");
        assert_eq!(frames[0].0, protocol::IPCP);
        // The peer's CCP is Protocol-Rejected.
        h.send(protocol::CCP, &cp(1, 1, &[0x12, 6, 0x01, 0, 0, 0x40]));
        let reject = h.expect_one(protocol::LCP, code::PROTOCOL_REJECT);
        assert_eq!(&reject[4..6], &[0x80, 0xFD]);
        h.ipcp_after(&frames[0].1);
        h.check_plain_ip();
    }

    #[test]
    fn optional_mppe_is_used_when_the_peer_agrees() {
        let mut h = Harness::new(optional_mppe(true), b"clientPass");
        let frames = h.log_in();
        // IPCP waits for CCP's verdict.
        assert_eq!(frames.len(), 1, "{frames:02x?}");
        h.pending = frames;
        h.negotiate_ccp();
        h.negotiate_ipcp();
        assert_eq!(h.link.poll_event(), Some(LinkEvent::Up));
        let mut out = [0u8; 1600];
        let len = h.link.send_ip(&ip_packet(1), &mut out).unwrap();
        assert_eq!(len, ip_packet(1).len() + MPPE_OVERHEAD);
        assert_eq!(&out[..6], &[0xFF, 0x03, 0x00, 0xFD, 0x90, 0x00]);
        assert_eq!(h.send(protocol::IPV4, &ip_packet(2)), None, "no clear IP");
        let ip = ip_packet(3);
        let packet = h.encrypted(&ip);
        assert_eq!(h.send(protocol::COMPRESSED, &packet), Some(ip));
    }

    #[test]
    fn optional_mppe_refused_by_the_peer_runs_unencrypted() {
        let mut h = Harness::new(optional_mppe(true), b"clientPass");
        let frames = h.log_in();
        let request = &frames[0].1;
        assert_eq!(
            (frames[0].0, request[0]),
            (protocol::CCP, code::CONFIGURE_REQUEST)
        );
        assert_eq!(
            h.send(protocol::IPV4, &ip_packet(1)),
            None,
            "not before the verdict"
        );
        // The peer rejects MPPE and asks for nothing (pppd `nomppe`).
        let mut reject = request.clone();
        reject[0] = code::CONFIGURE_REJECT;
        h.send(protocol::CCP, &reject);
        let empty = h.expect_one(protocol::CCP, code::CONFIGURE_REQUEST);
        assert_eq!(&empty[2..], &[0, 4]);
        let mut ack = empty.clone();
        ack[0] = code::CONFIGURE_ACK;
        h.send(protocol::CCP, &ack);
        h.send(protocol::CCP, &cp(1, 1, &[]));
        let frames = h.drain();
        assert_eq!(frames.len(), 2, "{frames:02x?}");
        assert_eq!(
            (frames[0].0, frames[0].1[0]),
            (protocol::CCP, code::CONFIGURE_ACK)
        );
        assert_eq!(frames[1].0, protocol::IPCP);
        h.ipcp_after(&frames[1].1);
        h.check_plain_ip();
    }

    #[test]
    fn optional_mppe_with_ccp_protocol_rejected_runs_unencrypted() {
        let mut h = Harness::new(optional_mppe(true), b"clientPass");
        let frames = h.log_in();
        assert_eq!(frames[0].0, protocol::CCP);
        h.send(
            protocol::LCP,
            &cp(code::PROTOCOL_REJECT, 9, &[0x80, 0xFD, 1, 1, 0, 10]),
        );
        let request = h.expect_one(protocol::IPCP, code::CONFIGURE_REQUEST);
        h.ipcp_after(&request);
        h.check_plain_ip();
        assert_eq!(h.link.close_reason(), None);
    }

    /// An IPv6 packet from fe80::`from` (UDP, 8 bytes of payload).
    fn ipv6_packet(from: InterfaceId) -> Vec<u8> {
        let mut ip = vec![0x60, 0, 0, 0, 0, 16, 17, 64, 0xFE, 0x80, 0, 0, 0, 0, 0, 0];
        ip.extend_from_slice(&from);
        ip.extend_from_slice(&[0xFE, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        ip.extend_from_slice(&[0x30, 0x39, 0, 53, 0, 16, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
        ip
    }

    #[test]
    fn ipv6cp_opens_beside_ipcp_and_ipv6_passes() {
        const OURS: InterfaceId = [0, 0, 0, 0, 0, 0, 0, 1];
        const TAKEN: InterfaceId = [0x20, 0, 0, 0, 0, 0, 0, 7];
        const FREE: InterfaceId = [0x20, 0, 0, 0, 0, 0, 0, 8];
        let mut settings = optional_mppe(false);
        settings.ipv6 = crate::settings::Ipv6Policy {
            enabled: true,
            local_id: Some(OURS),
            remote_id: None,
        };
        let mut h = Harness::new(settings, b"clientPass");
        // Another session holds TAKEN.
        h.ipv6_ids = vec![0, u64::from_ne_bytes(TAKEN)];
        let frames = h.log_in();
        let protocols: Vec<u16> = frames.iter().map(|f| f.0).collect();
        assert_eq!(
            protocols,
            [protocol::IPCP, protocol::IPV6CP],
            "{frames:02x?}"
        );
        let ours = &frames[1].1;
        assert_eq!(&ours[4..], &[1, 10, 0, 0, 0, 0, 0, 0, 0, 1]);
        // No IPv6 before IPv6CP is up, and no Protocol-Reject for it either.
        assert_eq!(h.send(protocol::IPV6, &ipv6_packet(FREE)), None);
        let mut out = [0u8; 1600];
        assert_eq!(
            h.link.send_ip(&ipv6_packet(OURS), &mut out),
            Err(SendError::NotRunning)
        );
        assert!(h.drain().is_empty());
        let mut ack = ours.clone();
        ack[0] = code::CONFIGURE_ACK;
        h.send(protocol::IPV6CP, &ack);
        // The identifier another session holds is Nak'd with a free suggestion.
        let mut taken = vec![1, 10];
        taken.extend_from_slice(&TAKEN);
        h.send(protocol::IPV6CP, &cp(1, 3, &taken));
        let nak = h.expect_one(protocol::IPV6CP, code::CONFIGURE_NAK);
        let suggested: InterfaceId = nak[6..14].try_into().unwrap();
        assert!(![[0; 8], OURS, TAKEN].contains(&suggested));
        assert_eq!(h.link.ipv6_reserved_id(), Some(suggested));
        let mut free = vec![1, 10];
        free.extend_from_slice(&FREE);
        h.send(protocol::IPV6CP, &cp(1, 4, &free));
        h.expect_one(protocol::IPV6CP, code::CONFIGURE_ACK);
        assert_eq!(h.link.ipv6_peer_id(), None, "not before the link runs");
        h.ipcp_after(&frames[0].1);
        assert!(h.link.ipv6_up());
        assert_eq!(h.link.ipv6_peer_id(), Some(FREE));
        assert_eq!(h.link.ipv6_reserved_id(), Some(FREE));
        // Plain IPv6 both ways (MPPE off), IPv4 unchanged.
        let ip = ipv6_packet(OURS);
        let len = h.link.send_ip(&ip, &mut out).unwrap();
        assert_eq!(&out[..4], &[0xFF, 0x03, 0x00, 0x57]);
        assert_eq!(&out[4..len], &ip[..]);
        assert_eq!(
            h.send(protocol::IPV6, &ipv6_packet(FREE)),
            Some(ipv6_packet(FREE))
        );
        h.check_plain_ip();
        // The peer stops IPv6 (Protocol-Reject): IPv4 goes on.
        h.send(
            protocol::LCP,
            &cp(code::PROTOCOL_REJECT, 9, &[0x80, 0x57, 1, 1, 0, 4]),
        );
        h.drain();
        assert!(!h.link.ipv6_up());
        assert_eq!(h.send(protocol::IPV6, &ipv6_packet(FREE)), None);
        assert!(h.link.is_running());
        h.check_plain_ip();
    }

    #[test]
    fn random_frames_never_panic() {
        let mut h = Harness::new(PppSettings::default(), b"clientPass");
        h.run();
        let mut rng = XorShift(77);
        let mut f = [0u8; 64];
        let protocols = [
            0xC021u16, 0x80FD, 0x8021, 0x0021, 0x00FD, 0xC223, 0x8057, 0x1234,
        ];
        for i in 0..2000 {
            let len = (rng.next_u32() % 64) as usize;
            rng.fill_bytes(&mut f[..len]);
            if len >= 4 && i % 2 == 0 {
                let p = protocols[(rng.next_u32() % 8) as usize];
                f[..4].copy_from_slice(&[0xFF, 0x03, (p >> 8) as u8, p as u8]);
            }
            let mut env = LinkEnv {
                secrets: &mut h.secrets,
                rng: &mut h.rng,
                peer: PEER,
                ipv6_ids: &[],
            };
            h.now += Duration::from_millis(100);
            let _ = h.link.receive(h.now, &mut f[..len], &mut env);
            h.link.handle_timeout(h.now, &mut env);
            h.drain();
        }
    }
}
