//! Enhanced GRE for the client (RFC 2637 §4): our sequence numbers, the server's stream
//! (Linux-kernel style: accept anything newer, drop duplicates and older packets, count
//! gaps), acks piggybacked on data or sent alone after `ack_delay`.
//!
//! Also checks the server: GRE Key must carry our Call ID, acks may only acknowledge
//! sequence numbers we actually sent.

use smolpptp::wire::gre::{Packet, Repr};
use smoltcp::time::Instant;

use super::Client;

pub(super) struct GreState {
    /// Sequence number of our next data packet.
    next_seq: u32,
    /// Whether we sent any data packet yet (so `next_seq - 1` is meaningful).
    sent_any: bool,
    first_seq: u32,
    /// Highest sequence number accepted from the server.
    peer_seq: Option<u32>,
    /// An ack for `peer_seq` is owed; send an ack-only packet at this time if no data goes
    /// out first.
    ack_due: Option<Instant>,
    /// Highest ack the server sent us.
    pub last_ack_rx: Option<u32>,
}

/// `a` is after `b` in sequence-number space (RFC 1982 style).
fn after(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

impl GreState {
    pub fn new(first_seq: u32) -> GreState {
        GreState {
            next_seq: first_seq,
            sent_any: false,
            first_seq,
            peer_seq: None,
            ack_due: None,
            last_ack_rx: None,
        }
    }

    pub fn poll_at(&self) -> Option<Instant> {
        self.ack_due
    }
}

impl Client {
    /// A GRE packet from the server (starting at the GRE header; strip the IPv4 header a raw
    /// socket delivers with `packets::strip_ipv4_gre`).
    pub fn handle_gre(&mut self, now: Instant, packet: &[u8]) {
        self.tick(now);
        let view = match Packet::new_checked(packet) {
            Ok(view) => view,
            Err(_) => {
                self.counters.gre_rx_malformed += 1;
                return self.violation(format!(
                    "malformed GRE packet {:02x?}",
                    &packet[..packet.len().min(16)]
                ));
            }
        };
        let repr = match Repr::parse(&view) {
            Ok(repr) => repr,
            Err(e) => {
                self.counters.gre_rx_malformed += 1;
                return self.violation(format!(
                    "bad GRE header {:02x?}: {e}",
                    &packet[..packet.len().min(16)]
                ));
            }
        };
        if repr.call_id != self.config.call_id {
            self.counters.gre_rx_wrong_call_id += 1;
            return self.violation(format!(
                "GRE with call ID {:#06x}; ours is {:#06x}",
                repr.call_id, self.config.call_id
            ));
        }
        self.counters.gre_rx += 1;
        if let Some(ack) = repr.ack {
            self.gre_ack_received(ack);
        }
        let Some(seq) = repr.sequence else {
            self.counters.gre_ack_only_rx += 1;
            return;
        };
        if let Some(last) = self.gre.peer_seq {
            if seq == last {
                self.counters.gre_rx_duplicate += 1;
                return;
            }
            if !after(seq, last) {
                self.counters.gre_rx_out_of_order += 1;
                return;
            }
            self.counters.gre_rx_gaps += u64::from(seq.wrapping_sub(last).wrapping_sub(1));
        }
        self.gre.peer_seq = Some(seq);
        self.gre.ack_due.get_or_insert(now + self.config.ack_delay);
        let mut frame = view.payload().to_vec();
        self.handle_ppp(now, &mut frame);
    }

    fn gre_ack_received(&mut self, ack: u32) {
        let highest_sent = self.gre.next_seq.wrapping_sub(1);
        if !self.gre.sent_any || after(ack, highest_sent) || after(self.gre.first_seq, ack) {
            self.counters.gre_rx_bad_ack += 1;
            return self.violation(format!(
                "GRE ack {ack} for a packet we never sent (sent {}..={highest_sent}, any: {})",
                self.gre.first_seq, self.gre.sent_any
            ));
        }
        match self.gre.last_ack_rx {
            Some(last) if !after(ack, last) => {}
            _ => self.gre.last_ack_rx = Some(ack),
        }
    }

    /// The next GRE packet to send (header + PPP frame), written into `out`; `None` when
    /// there is nothing to send or `out` is too small for the next packet.
    pub fn poll_gre(&mut self, now: Instant, out: &mut [u8]) -> Option<usize> {
        self.tick(now);
        let call_id = self.control.peer_call_id?;
        let frame = self.next_ppp_frame();
        let ack = self.gre.peer_seq.filter(|_| self.gre.ack_due.is_some());
        let Some(frame) = frame else {
            // Nothing to carry the ack: send it alone once it is due.
            self.gre.ack_due.filter(|&due| now >= due)?;
            let repr = Repr {
                call_id,
                sequence: None,
                ack,
                payload_len: 0,
            };
            let len = repr.header_len();
            repr.emit(&mut Packet::new_unchecked(out.get_mut(..len)?));
            self.gre.ack_due = None;
            self.counters.gre_ack_only_tx += 1;
            return Some(len);
        };
        let Ok(payload_len) = u16::try_from(frame.len()) else {
            return None;
        };
        let repr = Repr {
            call_id,
            sequence: Some(self.gre.next_seq),
            ack,
            payload_len,
        };
        let len = repr.buffer_len();
        let Some(buf) = out.get_mut(..len) else {
            self.frame_queue.push_front(frame);
            return None;
        };
        repr.emit(&mut Packet::new_unchecked(&mut *buf));
        buf[repr.header_len()..].copy_from_slice(&frame);
        self.gre.next_seq = self.gre.next_seq.wrapping_add(1);
        self.gre.sent_any = true;
        self.gre.ack_due = None;
        self.counters.gre_tx += 1;
        Some(len)
    }
}
