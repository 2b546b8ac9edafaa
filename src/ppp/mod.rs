//! PPP (RFC 1661) as the authenticator: one option automaton ([`fsm`]) shared by LCP, IPCP
//! and CCP, the MS-CHAPv2 authenticator ([`auth`]) and the [`link`] that runs the phases in
//! order (LCP, authentication, CCP when MPPE is required, IPCP, and IPv6CP [`ipv6cp`] when
//! enabled).

pub mod auth;
pub mod ccp;
pub mod fsm;
pub mod ipcp;
pub mod ipv6cp;
pub mod lcp;
pub mod link;

use crate::limits::{CONTROL_QUEUE, MAX_CONTROL_FRAME};

/// One PPP control packet waiting to be sent: the protocol number and the packet from its
/// Code field on (the PPP header is added when it is framed for GRE).
#[derive(Clone)]
pub struct ControlPacket {
    pub protocol: u16,
    len: u16,
    buf: [u8; MAX_CONTROL_FRAME],
}

impl ControlPacket {
    pub fn bytes(&self) -> &[u8] {
        &self.buf[..self.len as usize]
    }
}

/// The fixed queue of control packets a link has to send. Protocol machines push into it;
/// the session drains it into GRE. When it is full the packet is dropped: every sender of a
/// control packet has a restart timer (or the peer retransmits), so nothing hangs.
pub struct Outbox {
    queue: heapless::Deque<ControlPacket, CONTROL_QUEUE>,
    dropped: u32,
}

impl Default for Outbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Outbox {
    pub const fn new() -> Self {
        Outbox {
            queue: heapless::Deque::new(),
            dropped: 0,
        }
    }

    /// Queue a packet of `protocol`: `write` fills the buffer (at most
    /// [`MAX_CONTROL_FRAME`] bytes, from the Code field on) and returns the length used, or
    /// `None` to send nothing. Returns false when the queue was full.
    pub fn push_with(
        &mut self,
        protocol: u16,
        write: impl FnOnce(&mut [u8]) -> Option<usize>,
    ) -> bool {
        if self.queue.is_full() {
            self.dropped = self.dropped.wrapping_add(1);
            return false;
        }
        let mut packet = ControlPacket {
            protocol,
            len: 0,
            buf: [0; MAX_CONTROL_FRAME],
        };
        match write(&mut packet.buf) {
            Some(len) if len <= MAX_CONTROL_FRAME => {
                packet.len = len as u16;
                // Cannot fail: checked `is_full` above.
                let _ = self.queue.push_back(packet);
                true
            }
            _ => false,
        }
    }

    /// Queue a copy of `bytes` (truncated to [`MAX_CONTROL_FRAME`]).
    pub fn push(&mut self, protocol: u16, bytes: &[u8]) -> bool {
        self.push_with(protocol, |buf| {
            let n = bytes.len().min(buf.len());
            buf[..n].copy_from_slice(&bytes[..n]);
            Some(n)
        })
    }

    pub fn pop(&mut self) -> Option<ControlPacket> {
        self.queue.pop_front()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub fn clear(&mut self) {
        self.queue.clear();
    }

    /// Packets dropped because the queue was full.
    pub fn dropped(&self) -> u32 {
        self.dropped
    }
}
