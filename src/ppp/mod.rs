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
use crate::wire::cp::{emit_header, HEADER_LEN};

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
///
/// A ring of packets written in place: a packet is built in its slot and read from it, never
/// moved whole (a `Deque` of 304-byte packets copied each one in and out).
pub struct Outbox {
    packets: [ControlPacket; CONTROL_QUEUE],
    /// Slot of the oldest packet.
    head: usize,
    /// Packets queued.
    len: usize,
    dropped: u32,
}

impl Default for Outbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Outbox {
    pub const fn new() -> Self {
        const EMPTY: ControlPacket = ControlPacket {
            protocol: 0,
            len: 0,
            buf: [0; MAX_CONTROL_FRAME],
        };
        Outbox {
            packets: [EMPTY; CONTROL_QUEUE],
            head: 0,
            len: 0,
            dropped: 0,
        }
    }

    /// The free slot after the last packet, of `protocol`, or `None` (counted as dropped)
    /// when the queue is full. Not zeroed: its writers fill every byte up to the length they
    /// return. Out of line: one copy for every sender.
    #[inline(never)]
    fn back_slot(&mut self, protocol: u16) -> Option<&mut ControlPacket> {
        let len = self.len;
        if len >= CONTROL_QUEUE {
            self.dropped = self.dropped.wrapping_add(1);
            return None;
        }
        let slot = self.packets.get_mut((self.head + len) % CONTROL_QUEUE)?;
        slot.protocol = protocol;
        slot.len = 0;
        Some(slot)
    }

    /// Queue a packet of `protocol`: `write` fills the buffer (at most
    /// [`MAX_CONTROL_FRAME`] bytes, from the Code field on; every byte up to the length it
    /// returns) and returns the length used, or `None` to send nothing. Returns false when
    /// the queue was full.
    fn push_with(&mut self, protocol: u16, write: impl FnOnce(&mut [u8]) -> Option<usize>) -> bool {
        let Some(slot) = self.back_slot(protocol) else {
            return false;
        };
        match write(&mut slot.buf) {
            Some(len) if len <= MAX_CONTROL_FRAME => {
                slot.len = len as u16;
                self.len += 1;
                true
            }
            _ => false,
        }
    }

    /// Queue a control packet laid out as RFC 1661 §5 (and CHAP) has it: `code`,
    /// `identifier`, the Length, then `head` and `tail` as the data, cut to the control frame
    /// size. Returns false when nothing was queued. Out of line: the one copy every sender
    /// of the automaton, LCP and the authenticator uses.
    #[inline(never)]
    pub fn push_packet(
        &mut self,
        protocol: u16,
        code: u8,
        identifier: u8,
        head: &[u8],
        tail: &[u8],
    ) -> bool {
        self.push_with(protocol, |buf| {
            let data = buf.get_mut(HEADER_LEN..)?;
            let h = head.len().min(data.len());
            data[..h].copy_from_slice(&head[..h]);
            let rest = &mut data[h..];
            let t = tail.len().min(rest.len());
            rest[..t].copy_from_slice(&tail[..t]);
            emit_header(buf, code, identifier, h + t).ok()
        })
    }

    /// Queue a copy of `bytes` (truncated to [`MAX_CONTROL_FRAME`]).
    pub fn push(&mut self, protocol: u16, bytes: &[u8]) -> bool {
        self.push_with(protocol, |buf| {
            let n = bytes.len().min(buf.len());
            buf[..n].copy_from_slice(&bytes[..n]);
            Some(n)
        })
    }

    /// Take the oldest packet off the queue; it stays readable in its slot until the next
    /// push.
    pub fn pop(&mut self) -> Option<&ControlPacket> {
        if self.len == 0 {
            return None;
        }
        let head = self.head;
        self.head = (head + 1) % CONTROL_QUEUE;
        self.len -= 1;
        self.packets.get(head)
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }

    /// Packets dropped because the queue was full.
    pub fn dropped(&self) -> u32 {
        self.dropped
    }
}
