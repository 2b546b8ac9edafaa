//! One call: the PPTP call IDs, the GRE sequencing state and the PPP link above it.

use core::net::Ipv4Addr;
use smoltcp::time::{Duration, Instant};

use crate::ppp::link::{Link, LinkEnv, LinkEvent};
use crate::pptp::gre::GreChannel;
use crate::settings::PppSettings;
use crate::wire::gre::{self, MAX_HEADER_LEN as GRE_MAX_HEADER};

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
}

/// One in-order PPP frame from the client: up the link, and the IP packet it yields (if
/// any) out to the network, provided it comes from the client's own tunnel address (no
/// spoofing through the tunnel).
fn pass_up(
    now: Instant,
    frame: &mut [u8],
    link: &mut Link,
    env: &mut LinkEnv,
    address: Option<Ipv4Addr>,
    counters: &mut Counters,
    tunnel: &mut dyn Tunnel,
) {
    let Some(ip) = link.receive(now, frame, env) else {
        return;
    };
    let source = ip
        .get(12..16)
        .map(|b| Ipv4Addr::new(b[0], b[1], b[2], b[3]));
    if ip.len() < 20 || ip[0] >> 4 != 4 || source.is_none() || source != address {
        counters.spoofed += 1;
        if counters.spoofed.is_power_of_two() {
            log::warn!(
                "Dropped {} packet(s) from {:?} not sent from its own address",
                counters.spoofed,
                address
            );
        }
        return;
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
        }
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
        let link = &mut self.link;
        let counters = &mut self.counters;
        let address = self.address;
        self.gre
            .receive(now, repr, payload, &mut |frame: &mut [u8]| {
                pass_up(now, frame, link, env, address, counters, tunnel)
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
        match (self.link.poll_at(), self.gre.poll_at()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn handle_timeout(&mut self, now: Instant, env: &mut LinkEnv, tunnel: &mut dyn Tunnel) {
        if self.link.poll_at().is_some_and(|t| t <= now) {
            self.link.handle_timeout(now, env);
        }
        let link = &mut self.link;
        let counters = &mut self.counters;
        let address = self.address;
        self.gre.handle_timeout(now, &mut |frame: &mut [u8]| {
            pass_up(now, frame, link, env, address, counters, tunnel)
        });
    }

    /// Connect time, for the log line at the end.
    pub fn connect_time(&self, now: Instant) -> Duration {
        now - self.started
    }
}
