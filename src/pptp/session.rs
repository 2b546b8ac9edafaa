//! One call: the PPTP call IDs, the GRE sequencing state and the PPP link above it.

use core::net::Ipv4Addr;
use smoltcp::time::{Duration, Instant};

use crate::ppp::ipv6cp;
use crate::ppp::link::{Link, LinkEnv, LinkEvent};
use crate::pptp::gre::GreChannel;
use crate::pptp::rate::TokenBucket;
use crate::settings::{Limits, MssClamp, PppSettings};
use crate::wire::gre::{self, MAX_HEADER_LEN as GRE_MAX_HEADER};
use crate::wire::tcp_mss::{self, IPV4_TCP_HEADERS};

/// How long a call may take from Outgoing-Call-Request to a running link.
pub const SETUP_TIMEOUT: Duration = Duration::from_secs(60);

/// Where decrypted IP packets from clients go (the TUN device in the daemon).
pub trait Tunnel {
    fn deliver(&mut self, ip_packet: &[u8]);
}

/// Why a session ended, for the Call-Disconnect-Notify and the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    /// The client sent Call-Clear-Request.
    ClearRequest,
    /// The PPP link went down (terminated, failed authentication, keepalive, idle).
    LinkDown,
    /// The control connection went away.
    ControlLost,
    /// The server is shutting down or the admin ended it.
    Admin,
}

/// Traffic counters, pppd's "Sent N bytes, received M bytes".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub packets_in: u64,
    pub bytes_in: u64,
    pub packets_out: u64,
    pub bytes_out: u64,
    /// IP packets from the client whose source is not the address it was given: dropped.
    pub spoofed: u64,
    /// IP packets dropped by the session's rate limit (both directions).
    pub rate_dropped: u64,
    /// Packets for the client larger than its MTU: split into fragments (DF clear), or
    /// answered with ICMP "fragmentation needed" (DF set).
    pub fragmented: u64,
    pub too_big: u64,
}

impl Counters {
    /// Count a rate-limit drop, logging at powers of two so a flood does not flood the log.
    pub fn note_rate_drop(&mut self, direction: &str) {
        self.rate_dropped += 1;
        if self.rate_dropped.is_power_of_two() {
            crate::info!(
                "Rate limit: {} packet(s) dropped so far (last {direction})",
                self.rate_dropped
            );
        }
    }
}

/// What the session does to IP packets besides carrying them: MSS clamping and the
/// per-user rate limit of the client's uplink.
struct Policy<'a> {
    /// The client's tunnel address as a word (`u32::from_ne_bytes(octets)`): compared per
    /// packet, an `Option<Ipv4Addr>` (address at an odd offset) took unaligned load pairs on
    /// MIPS.
    address: Option<u32>,
    mss_clamp: MssClamp,
    up: Option<&'a mut TokenBucket>,
}

/// The MSS a SYN crossing a tunnel with this `mtu` is clamped to, if any.
pub fn max_mss(clamp: MssClamp, mtu: u16) -> Option<u16> {
    let auto = mtu.saturating_sub(IPV4_TCP_HEADERS);
    match clamp {
        MssClamp::Off => None,
        MssClamp::Auto => Some(auto),
        MssClamp::Fixed(mss) => Some(mss.min(auto)),
    }
}

/// One in-order PPP frame from the client: up the link, and the IP packet it yields (if
/// any) out to the network, provided it comes from the client's own tunnel address (no
/// spoofing through the tunnel): its IPv4 address, or for IPv6 its link-local fe80::IID.
fn pass_up(
    now: Instant,
    frame: &mut [u8],
    link: &mut Link,
    env: &mut LinkEnv,
    policy: &mut Policy,
    counters: &mut Counters,
    tunnel: &mut dyn Tunnel,
) {
    let address = policy.address;
    let Some(ip) = link.receive(now, frame, env) else {
        return;
    };
    let own_source = match ip.first().map(|b| b >> 4) {
        Some(4) => {
            let source = ip
                .get(12..16)
                .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
            ip.len() >= 20 && source.is_some() && source == address
        }
        Some(6) => {
            let source = ip.get(8..24).and_then(ipv6cp::link_local_id);
            let source = source.map_or(0, u64::from_ne_bytes);
            ip.len() >= 40 && source != 0 && source == link.ipv6_peer()
        }
        _ => false,
    };
    if !own_source {
        counters.spoofed += 1;
        if counters.spoofed.is_power_of_two() {
            // The address as text, not `{:?}`: Option's Debug pulls in core's debug builders.
            let address = address.map(|a| Ipv4Addr::from(a.to_ne_bytes()));
            let from: &dyn core::fmt::Display = match &address {
                Some(a) => a,
                None => &"a client without an address",
            };
            crate::warn!(
                "Dropped {} packet(s) from {} not sent from its own address",
                counters.spoofed,
                from
            );
        }
        return;
    }
    if let Some(bucket) = policy.up.as_deref_mut() {
        if !bucket.allow(now, ip.len()) {
            counters.note_rate_drop("from the client");
            return;
        }
    }
    if let Some(mss) = max_mss(policy.mss_clamp, link.mtu()) {
        tcp_mss::clamp_mss(ip, mss);
    }
    counters.packets_in += 1;
    counters.bytes_in += ip.len() as u64;
    tunnel.deliver(ip);
}

pub struct Session {
    /// Index of the control connection that placed the call.
    pub conn: usize,
    /// The client's public address: GRE is accepted only from it.
    pub peer: Ipv4Addr,
    /// Our Call ID (S): the client puts it in the GRE key of what it sends.
    pub call_id: u16,
    /// The client's Call ID (C): we put it in the GRE key of what we send.
    pub peer_call_id: u16,
    pub started: Instant,
    pub gre: GreChannel,
    pub link: Link,
    /// Tunnel address given to the client, once authenticated.
    pub address: Option<Ipv4Addr>,
    pub counters: Counters,
    /// Set once the call is over; the table removes the session after telling the client.
    pub ended: Option<EndReason>,
    /// `mss-clamp` (the server sets it when the call starts).
    pub mss_clamp: MssClamp,
    /// Per-user rate limit: client → network and network → client.
    pub rate_up: Option<TokenBucket>,
    pub rate_down: Option<TokenBucket>,
    /// Per-user session timeout: when the link is closed.
    pub deadline: Option<Instant>,
}

impl Session {
    pub fn new(
        now: Instant,
        conn: usize,
        peer: Ipv4Addr,
        call_id: u16,
        peer_call_id: u16,
        settings: &PppSettings,
        local: Ipv4Addr,
    ) -> Session {
        Session {
            conn,
            peer,
            call_id,
            peer_call_id,
            started: now,
            gre: GreChannel::new(peer_call_id),
            link: Link::new(settings, local),
            address: None,
            counters: Counters::default(),
            ended: None,
            mss_clamp: MssClamp::Auto,
            rate_up: None,
            rate_down: None,
            deadline: None,
        }
    }

    /// The user's limits, once authenticated: rate limit, idle and session timeout from now.
    pub fn apply_limits(&mut self, now: Instant, limits: &Limits) {
        self.link.set_idle(limits.idle);
        if let Some(rate) = limits.rate {
            self.rate_up = Some(TokenBucket::new(now, rate.up_bps));
            self.rate_down = Some(TokenBucket::new(now, rate.down_bps));
        }
        self.deadline = (limits.session_timeout > 0)
            .then(|| now + Duration::from_secs(u64::from(limits.session_timeout)));
    }

    /// Whether the rate limit lets a `len`-byte packet go to the client now.
    pub fn allow_down(&mut self, now: Instant, len: usize) -> bool {
        let allowed = self.rate_down.as_mut().is_none_or(|b| b.allow(now, len));
        if !allowed {
            self.counters.note_rate_drop("to the client");
        }
        allowed
    }

    /// The MSS SYNs to or from the client are clamped to, if any.
    pub fn max_mss(&self) -> Option<u16> {
        max_mss(self.mss_clamp, self.link.mtu())
    }

    fn policy(&mut self) -> (Policy<'_>, &mut Link, &mut Counters, &mut GreChannel) {
        let policy = Policy {
            address: self.address.map(|a| u32::from_ne_bytes(a.octets())),
            mss_clamp: self.mss_clamp,
            up: self.rate_up.as_mut(),
        };
        (policy, &mut self.link, &mut self.counters, &mut self.gre)
    }

    /// A GRE packet for this call (call ID and source already checked by the caller).
    /// In-order PPP frames go up the link; IP packets it returns go to `tunnel`.
    pub fn receive_gre(
        &mut self,
        now: Instant,
        repr: &gre::Repr,
        payload: &mut [u8],
        env: &mut LinkEnv,
        tunnel: &mut dyn Tunnel,
    ) {
        let (mut policy, link, counters, gre) = self.policy();
        gre.receive(now, repr, payload, &mut |frame: &mut [u8]| {
            pass_up(now, frame, link, env, &mut policy, counters, tunnel)
        });
    }

    /// The next GRE packet this session wants to send (a PPP control frame, or an ack-only
    /// packet), written as GRE header + payload into `out`.
    pub fn poll_gre(&mut self, now: Instant, out: &mut [u8]) -> Option<usize> {
        // Reserve the largest GRE header (16 bytes) in front of the PPP frame.
        if out.len() > GRE_MAX_HEADER {
            if let Some(len) = self.link.poll_transmit(now, &mut out[GRE_MAX_HEADER..]) {
                return self.frame_data(now, out, GRE_MAX_HEADER, len);
            }
        }
        let repr = self.gre.poll_ack_only(now)?;
        repr.emit_header_into(out).ok()
    }

    /// Frame (and encrypt) an IP packet for the client as GRE header + PPP into `out`.
    pub fn encapsulate_ip(&mut self, now: Instant, ip: &[u8], out: &mut [u8]) -> Option<usize> {
        if out.len() <= GRE_MAX_HEADER {
            return None;
        }
        let len = self.link.send_ip(ip, &mut out[GRE_MAX_HEADER..]).ok()?;
        self.link.note_sent(now);
        self.counters.packets_out += 1;
        self.counters.bytes_out += ip.len() as u64;
        self.frame_data(now, out, GRE_MAX_HEADER, len)
    }

    /// Put a GRE data header right in front of the `len` payload bytes at `out[at..]`, moving
    /// the payload down when the header is shorter than the room left for it.
    fn frame_data(&mut self, now: Instant, out: &mut [u8], at: usize, len: usize) -> Option<usize> {
        let repr = self.gre.next_data_header(now, len as u16);
        let header = repr.header_len();
        if header < at {
            out.copy_within(at..at + len, header);
        }
        repr.emit_header_into(&mut out[..header + len]).ok()?;
        Some(header + len)
    }

    pub fn poll_event(&mut self) -> Option<LinkEvent> {
        self.link.poll_event()
    }

    pub fn poll_at(&self) -> Option<Instant> {
        let mut at = self.link.poll_at();
        crate::lower(&mut at, self.gre.poll_at());
        crate::lower(&mut at, self.deadline);
        crate::lower(&mut at, self.setup_deadline());
        crate::lower(&mut at, self.link.hangup_at());
        at
    }

    /// A call must reach Running within [`SETUP_TIMEOUT`] (RFC 2637 §3.2.1's one minute for
    /// a state transition): a client that keeps answering but never finishes negotiating
    /// would otherwise hold its slot for ever.
    fn setup_deadline(&self) -> Option<Instant> {
        (!self.link.is_running() && self.ended.is_none() && !self.link.is_dead())
            .then(|| self.started + SETUP_TIMEOUT)
    }

    pub fn handle_timeout(&mut self, now: Instant, env: &mut LinkEnv, tunnel: &mut dyn Tunnel) {
        if self.setup_deadline().is_some_and(|t| now >= t) {
            // The 60 in the text is SETUP_TIMEOUT (checked below): no number to format.
            const _: () = assert!(SETUP_TIMEOUT.secs() == 60);
            crate::warn!(
                "Call {} from {}: PPP negotiation not finished in 60 s, closing",
                self.call_id,
                self.peer
            );
            self.ended = Some(EndReason::LinkDown);
            self.link.close(now, "Negotiation timed out");
        }
        if self.deadline.is_some_and(|t| now >= t) {
            self.deadline = None;
            // pppd's words for `maxconnect`.
            crate::info!("Connect time expired");
            crate::info!(
                "Session timeout: closing the session of {} (call id {})",
                self.link.user(),
                self.call_id
            );
            self.ended.get_or_insert(EndReason::Admin);
            self.link.close(now, "Session timeout");
        }
        if self.link.poll_at().is_some_and(|t| t <= now) {
            self.link.handle_timeout(now, env);
        }
        let (mut policy, link, counters, gre) = self.policy();
        gre.handle_timeout(now, &mut |frame: &mut [u8]| {
            pass_up(now, frame, link, env, &mut policy, counters, tunnel)
        });
    }

    /// Connect time, for the log line at the end.
    pub fn connect_time(&self, now: Instant) -> Duration {
        now - self.started
    }
}
