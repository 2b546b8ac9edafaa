//! Per-call enhanced-GRE sequencing (RFC 2637 §4.2-4.4; protocol.md §2.5, §6.10).
//!
//! Send side: sequence numbers from 0, the ack of the highest packet delivered in order is
//! piggybacked on the next data packet, or sent alone once it has waited [`ACK_DELAY`].
//! No send window is enforced: neither Linux, pptpd nor pptp-linux does, and Windows
//! interoperates with all three.
//!
//! Receive side: like pptpd's queue, but bounded. The first sequence number is accepted
//! whatever it is (the RFC says 0, Linux starts at 1). Duplicates and old packets are
//! dropped (serial-number arithmetic, so the wrap at 0xFFFFFFFF needs no special case).
//! A packet ahead of the next expected one is copied into one of
//! [`REORDER_SLOTS`] fixed slots and delivered when the gap fills, or after at most
//! [`REORDER_TIMEOUT`], when the gap is counted as lost. MPPE stateless decryption cannot
//! take late packets, so anything already skipped stays skipped.

use crate::limits::{MAX_PPP_FRAME, REORDER_SLOTS};
use crate::wire::gre;
use smoltcp::time::{Duration, Instant};

/// How long an out-of-order packet waits for the gap before it (pptpd's
/// `DEFAULT_PACKET_TIMEOUT`, 0.3 s).
pub const REORDER_TIMEOUT: Duration = Duration::from_millis(300);
/// How long an ack may wait for a data packet to ride on before it goes alone.
pub const ACK_DELAY: Duration = Duration::from_millis(100);
/// A packet this far ahead is not reordering but a burst of loss (or a peer that jumped):
/// flush what is buffered and continue from it (pptp-linux/pptpd `MISSING_WINDOW`).
pub const MISSING_WINDOW: u32 = 300;

/// `a` comes after `b` in serial-number order (RFC 1982 style, 32 bits).
fn serial_after(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

/// Counters for status output and the disconnect log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GreStats {
    /// Data packets and payload bytes delivered to PPP.
    pub packets_in: u64,
    pub bytes_in: u64,
    /// Data packets and payload bytes sent (headers from `next_data_header`).
    pub packets_out: u64,
    pub bytes_out: u64,
    /// Ack-only packets sent.
    pub acks_out: u64,
    /// Sequence numbers skipped because the packet never came in time.
    pub lost: u64,
    /// Packets that arrived ahead of a gap and were held back.
    pub reordered: u64,
    /// Duplicate or late packets dropped.
    pub duplicates: u64,
    /// Packets dropped because the payload is longer than a PPP frame can be.
    pub oversized: u64,
}

/// An out-of-order packet held back until its turn.
struct Slot {
    used: bool,
    sequence: u32,
    len: u16,
    arrived: Instant,
    data: [u8; MAX_PPP_FRAME],
}

impl Slot {
    const EMPTY: Slot = Slot {
        used: false,
        sequence: 0,
        len: 0,
        arrived: Instant::ZERO,
        data: [0; MAX_PPP_FRAME],
    };
}

/// The GRE state of one call: what we send to the peer's call ID and what we receive on
/// ours. Time is passed in; nothing here reads a clock.
pub struct GreChannel {
    peer_call_id: u16,
    next_sequence: u32,
    /// Sequence number the next in-order packet must carry; `None` before the first one.
    expected: Option<u32>,
    /// Highest sequence number delivered in order: the value we acknowledge.
    last_delivered: Option<u32>,
    /// Since when `last_delivered` has not been acknowledged to the peer.
    ack_pending_since: Option<Instant>,
    /// Highest ack the peer sent us.
    peer_ack: Option<u32>,
    slots: [Slot; REORDER_SLOTS],
    stats: GreStats,
}

// By hand: the slot buffers are kilobytes of payload nobody wants in a log.
impl core::fmt::Debug for GreChannel {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        f.debug_struct("GreChannel")
            .field("peer_call_id", &self.peer_call_id)
            .field("next_sequence", &self.next_sequence)
            .field("expected", &self.expected)
            .field("last_delivered", &self.last_delivered)
            .field("peer_ack", &self.peer_ack)
            .field("buffered", &self.buffered())
            .field("stats", &self.stats)
            .finish()
    }
}

impl GreChannel {
    /// `peer_call_id`: the call ID the client chose in its Outgoing-Call-Request, which goes
    /// in the key of every packet we send (protocol.md §1.5).
    pub fn new(peer_call_id: u16) -> GreChannel {
        GreChannel {
            peer_call_id,
            next_sequence: 0,
            expected: None,
            last_delivered: None,
            ack_pending_since: None,
            peer_ack: None,
            slots: [const { Slot::EMPTY }; REORDER_SLOTS],
            stats: GreStats::default(),
        }
    }

    pub fn peer_call_id(&self) -> u16 {
        self.peer_call_id
    }

    pub fn stats(&self) -> &GreStats {
        &self.stats
    }

    /// Highest sequence number the peer has acknowledged.
    pub fn peer_ack(&self) -> Option<u32> {
        self.peer_ack
    }

    /// Out-of-order packets currently held back.
    pub fn buffered(&self) -> usize {
        self.slots.iter().filter(|s| s.used).count()
    }

    /// The header for the next data packet of `payload_len` bytes: the next sequence
    /// number, and the pending ack if there is one. Call it once per packet actually sent.
    pub fn next_data_header(&mut self, _now: Instant, payload_len: u16) -> gre::Repr {
        let sequence = self.next_sequence;
        self.next_sequence = sequence.wrapping_add(1);
        self.stats.packets_out = self.stats.packets_out.wrapping_add(1);
        self.stats.bytes_out = self.stats.bytes_out.wrapping_add(u64::from(payload_len));
        gre::Repr {
            call_id: self.peer_call_id,
            sequence: Some(sequence),
            ack: self.take_pending_ack(),
            payload_len,
        }
    }

    /// An ack-only packet (S=0, payload length 0) when an ack has waited [`ACK_DELAY`]
    /// without a data packet to carry it.
    pub fn poll_ack_only(&mut self, now: Instant) -> Option<gre::Repr> {
        let since = self.ack_pending_since?;
        if now < since + ACK_DELAY {
            return None;
        }
        let ack = self.take_pending_ack()?;
        self.stats.acks_out = self.stats.acks_out.wrapping_add(1);
        Some(gre::Repr {
            call_id: self.peer_call_id,
            sequence: None,
            ack: Some(ack),
            payload_len: 0,
        })
    }

    fn take_pending_ack(&mut self) -> Option<u32> {
        self.ack_pending_since.take()?;
        self.last_delivered
    }

    /// When [`Self::handle_timeout`] or [`Self::poll_ack_only`] next has work to do.
    pub fn poll_at(&self) -> Option<Instant> {
        let ack = self.ack_pending_since.map(|t| t + ACK_DELAY);
        self.slots
            .iter()
            .filter(|s| s.used)
            .map(|s| Some(s.arrived + REORDER_TIMEOUT))
            .fold(ack, crate::earliest)
    }

    /// Give up waiting for gaps older than [`REORDER_TIMEOUT`] and deliver what follows
    /// them in order. (Ack-only packets come from [`Self::poll_ack_only`].)
    pub fn handle_timeout(&mut self, now: Instant, deliver: &mut dyn FnMut(&mut [u8])) {
        let mut release_through = None;
        for slot in self.slots.iter().filter(|s| s.used) {
            if now >= slot.arrived + REORDER_TIMEOUT
                && release_through.is_none_or(|t| serial_after(slot.sequence, t))
            {
                release_through = Some(slot.sequence);
            }
        }
        if let Some(last) = release_through {
            while let Some(next) = self.earliest_buffered() {
                if serial_after(next, last) {
                    break;
                }
                self.skip_to(next);
                self.drain(now, deliver);
            }
        }
    }

    /// A GRE packet for this call from the peer: `repr` parsed from it and `payload` its
    /// PPP frame (`gre::Packet::payload_mut`). The ack, if any, is recorded. Then `deliver`
    /// is called for this frame and any held-back ones that are now in order, oldest
    /// first, each as a mutable slice so PPP can decrypt in place: the in-order frame
    /// in `payload` itself (no copy), held-back frames in the channel's own slots.
    pub fn receive(
        &mut self,
        now: Instant,
        repr: &gre::Repr,
        payload: &mut [u8],
        deliver: &mut dyn FnMut(&mut [u8]),
    ) {
        if let Some(ack) = repr.ack {
            if self.peer_ack.is_none_or(|old| serial_after(ack, old)) {
                self.peer_ack = Some(ack);
            }
        }
        let Some(sequence) = repr.sequence else {
            return;
        };
        if payload.len() > MAX_PPP_FRAME {
            self.stats.oversized = self.stats.oversized.wrapping_add(1);
            crate::debug!("GRE: discarding {}-byte packet, too long", payload.len());
            return;
        }
        // Expired gaps first, so a late arrival cannot overtake what already timed out.
        self.handle_timeout(now, deliver);

        let expected = *self.expected.get_or_insert(sequence);
        let ahead = sequence.wrapping_sub(expected);
        if ahead as i32 == 0 {
            self.deliver_in_order(now, sequence, payload, deliver);
            self.drain(now, deliver);
        } else if (ahead as i32) < 0 || self.is_buffered(sequence) {
            self.stats.duplicates = self.stats.duplicates.wrapping_add(1);
            crate::debug!(
                "GRE: discarding duplicate or old packet {sequence} (expected {expected})"
            );
        } else if ahead >= MISSING_WINDOW {
            crate::debug!("GRE: packet {sequence} far ahead of {expected}, resynchronising");
            while let Some(next) = self.earliest_buffered() {
                self.skip_to(next);
                self.drain(now, deliver);
            }
            self.skip_to(sequence);
            self.deliver_in_order(now, sequence, payload, deliver);
        } else {
            self.hold_back(now, sequence, payload, deliver);
        }
    }

    /// Store an early packet; when every slot is taken, give up on the oldest gap first.
    fn hold_back(
        &mut self,
        now: Instant,
        sequence: u32,
        payload: &mut [u8],
        deliver: &mut dyn FnMut(&mut [u8]),
    ) {
        loop {
            if let Some(slot) = self.slots.iter_mut().find(|s| !s.used) {
                slot.used = true;
                slot.sequence = sequence;
                slot.len = payload.len() as u16;
                slot.arrived = now;
                slot.data[..payload.len()].copy_from_slice(payload);
                self.stats.reordered = self.stats.reordered.wrapping_add(1);
                return;
            }
            // Full: the earliest of the held packets and this one goes out now.
            let Some(earliest) = self.earliest_buffered() else {
                return; // unreachable: no free slot means some slot is used
            };
            if serial_after(earliest, sequence) {
                self.skip_to(sequence);
                self.deliver_in_order(now, sequence, payload, deliver);
                self.drain(now, deliver);
                return;
            }
            self.skip_to(earliest);
            self.drain(now, deliver);
            if self.expected == Some(sequence) {
                self.deliver_in_order(now, sequence, payload, deliver);
                self.drain(now, deliver);
                return;
            }
        }
    }

    fn deliver_in_order(
        &mut self,
        now: Instant,
        sequence: u32,
        frame: &mut [u8],
        deliver: &mut dyn FnMut(&mut [u8]),
    ) {
        self.expected = Some(sequence.wrapping_add(1));
        self.last_delivered = Some(sequence);
        if self.ack_pending_since.is_none() {
            self.ack_pending_since = Some(now);
        }
        self.stats.packets_in = self.stats.packets_in.wrapping_add(1);
        self.stats.bytes_in = self.stats.bytes_in.wrapping_add(frame.len() as u64);
        if !frame.is_empty() {
            deliver(frame);
        }
    }

    /// Deliver held-back packets while the next expected one is among them.
    fn drain(&mut self, now: Instant, deliver: &mut dyn FnMut(&mut [u8])) {
        while let Some(expected) = self.expected {
            let Some(index) = self
                .slots
                .iter()
                .position(|s| s.used && s.sequence == expected)
            else {
                return;
            };
            // Move the frame out of `self.slots` only logically: mark the slot free after
            // handing its bytes to `deliver`.
            let slot = &mut self.slots[index];
            let len = usize::from(slot.len).min(MAX_PPP_FRAME);
            slot.used = false;
            self.expected = Some(expected.wrapping_add(1));
            self.last_delivered = Some(expected);
            if self.ack_pending_since.is_none() {
                self.ack_pending_since = Some(now);
            }
            self.stats.packets_in = self.stats.packets_in.wrapping_add(1);
            self.stats.bytes_in = self.stats.bytes_in.wrapping_add(len as u64);
            if len > 0 {
                deliver(&mut self.slots[index].data[..len]);
            }
        }
    }

    /// Count the gap up to `sequence` as lost and expect `sequence` next.
    fn skip_to(&mut self, sequence: u32) {
        if let Some(expected) = self.expected {
            let gap = sequence.wrapping_sub(expected);
            if gap as i32 > 0 {
                self.stats.lost = self.stats.lost.wrapping_add(u64::from(gap));
                crate::debug!("GRE: {gap} packet(s) lost before {sequence}");
            }
        }
        self.expected = Some(sequence);
    }

    fn earliest_buffered(&self) -> Option<u32> {
        self.slots
            .iter()
            .filter(|s| s.used)
            .map(|s| s.sequence)
            .reduce(|a, b| if serial_after(a, b) { b } else { a })
    }

    fn is_buffered(&self, sequence: u32) -> bool {
        self.slots.iter().any(|s| s.used && s.sequence == sequence)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rand::{Random, XorShift};

    const PEER: u16 = 0x4000;

    fn at(ms: i64) -> Instant {
        Instant::from_millis(ms)
    }

    fn data(sequence: u32, ack: Option<u32>) -> gre::Repr {
        gre::Repr {
            call_id: 7,
            sequence: Some(sequence),
            ack,
            payload_len: 4,
        }
    }

    /// Feed packet `sequence` (payload = its number) and return the sequence numbers
    /// delivered as a result.
    fn feed(chan: &mut GreChannel, now: Instant, sequence: u32) -> heapless::Vec<u32, 32> {
        let mut got = heapless::Vec::new();
        let mut payload = sequence.to_be_bytes();
        chan.receive(now, &data(sequence, None), &mut payload, &mut |frame| {
            got.push(u32::from_be_bytes(frame.try_into().unwrap()))
                .unwrap();
        });
        got
    }

    fn timeout(chan: &mut GreChannel, now: Instant) -> heapless::Vec<u32, 32> {
        let mut got = heapless::Vec::new();
        chan.handle_timeout(now, &mut |frame| {
            got.push(u32::from_be_bytes(frame.try_into().unwrap()))
                .unwrap();
        });
        got
    }

    #[test]
    fn in_order_from_any_first_sequence() {
        for first in [0u32, 1, 0x1234_5678] {
            let mut chan = GreChannel::new(PEER);
            for i in 0..10 {
                let seq = first.wrapping_add(i);
                assert_eq!(feed(&mut chan, at(i as i64), seq).as_slice(), &[seq]);
            }
            let s = chan.stats();
            assert_eq!(
                (s.packets_in, s.bytes_in, s.lost, s.reordered),
                (10, 40, 0, 0)
            );
        }
    }

    #[test]
    fn duplicates_and_old_packets_are_dropped() {
        let mut chan = GreChannel::new(PEER);
        feed(&mut chan, at(0), 10);
        feed(&mut chan, at(0), 11);
        assert!(feed(&mut chan, at(0), 11).is_empty());
        assert!(feed(&mut chan, at(0), 5).is_empty());
        // Held-back duplicate.
        assert!(feed(&mut chan, at(0), 13).is_empty());
        assert!(feed(&mut chan, at(0), 13).is_empty());
        assert_eq!(chan.stats().duplicates, 3);
        assert_eq!(feed(&mut chan, at(0), 12).as_slice(), &[12, 13]);
    }

    #[test]
    fn reorder_within_window_is_repaired() {
        let mut chan = GreChannel::new(PEER);
        feed(&mut chan, at(0), 0);
        assert!(feed(&mut chan, at(1), 2).is_empty());
        assert!(feed(&mut chan, at(2), 3).is_empty());
        assert_eq!(chan.buffered(), 2);
        assert_eq!(chan.poll_at(), Some(at(0) + ACK_DELAY));
        assert_eq!(feed(&mut chan, at(3), 1).as_slice(), &[1, 2, 3]);
        assert_eq!(chan.buffered(), 0);
        let s = chan.stats();
        assert_eq!((s.packets_in, s.lost, s.reordered), (4, 0, 2));
    }

    #[test]
    fn gap_times_out_after_300ms() {
        let mut chan = GreChannel::new(PEER);
        feed(&mut chan, at(0), 0);
        chan.poll_ack_only(at(1000)).unwrap(); // clear the ack timer
        assert!(feed(&mut chan, at(1000), 3).is_empty());
        assert!(feed(&mut chan, at(1100), 4).is_empty());
        assert_eq!(chan.poll_at(), Some(at(1300)));
        assert!(timeout(&mut chan, at(1299)).is_empty());
        assert_eq!(timeout(&mut chan, at(1300)).as_slice(), &[3, 4]);
        assert_eq!(chan.stats().lost, 2);
        // The late packets are now old.
        assert!(feed(&mut chan, at(1301), 1).is_empty());
        assert_eq!(feed(&mut chan, at(1302), 5).as_slice(), &[5]);
    }

    #[test]
    fn timeout_releases_only_through_the_expired_packet() {
        let mut chan = GreChannel::new(PEER);
        feed(&mut chan, at(0), 0);
        feed(&mut chan, at(0), 2); // expires at 300
        feed(&mut chan, at(200), 5); // expires at 500
        assert_eq!(timeout(&mut chan, at(300)).as_slice(), &[2]);
        assert_eq!(chan.buffered(), 1);
        assert_eq!(feed(&mut chan, at(310), 3).as_slice(), &[3]);
        assert_eq!(feed(&mut chan, at(320), 4).as_slice(), &[4, 5]);
        assert_eq!(chan.stats().lost, 1);
    }

    #[test]
    fn arrival_releases_expired_gap_first() {
        // No poll in between: the next arrival must not overtake an expired gap.
        let mut chan = GreChannel::new(PEER);
        feed(&mut chan, at(0), 0);
        feed(&mut chan, at(0), 2);
        assert_eq!(feed(&mut chan, at(400), 3).as_slice(), &[2, 3]);
        assert_eq!(chan.stats().lost, 1);
    }

    #[test]
    fn full_slots_give_up_on_the_oldest_gap() {
        let mut chan = GreChannel::new(PEER);
        feed(&mut chan, at(0), 0);
        for i in 0..REORDER_SLOTS as u32 {
            assert!(feed(&mut chan, at(0), 2 + 2 * i).is_empty());
        }
        assert_eq!(chan.buffered(), REORDER_SLOTS);
        // One more early packet: the gap before 2 is given up, 2 delivered, and so on
        // until there is room.
        let next = 2 + 2 * REORDER_SLOTS as u32;
        assert_eq!(feed(&mut chan, at(0), next).as_slice(), &[2]);
        assert_eq!(chan.buffered(), REORDER_SLOTS);
        assert_eq!(chan.stats().lost, 1);
    }

    #[test]
    fn full_slots_and_an_earlier_packet() {
        let mut chan = GreChannel::new(PEER);
        feed(&mut chan, at(0), 0);
        for i in 0..REORDER_SLOTS as u32 {
            feed(&mut chan, at(0), 10 + i);
        }
        // 5 is earlier than everything held: skip 1..=4, deliver 5, keep waiting for 6..=9.
        assert_eq!(feed(&mut chan, at(0), 5).as_slice(), &[5]);
        assert_eq!(chan.stats().lost, 4);
        assert_eq!(chan.buffered(), REORDER_SLOTS);
    }

    #[test]
    fn far_ahead_packet_flushes_and_jumps() {
        let mut chan = GreChannel::new(PEER);
        feed(&mut chan, at(0), 0);
        feed(&mut chan, at(0), 2);
        let far = 1 + MISSING_WINDOW;
        assert_eq!(feed(&mut chan, at(0), far).as_slice(), &[2, far]);
        assert_eq!(chan.stats().lost, 1 + u64::from(far - 3));
        assert_eq!(feed(&mut chan, at(0), far + 1).as_slice(), &[far + 1]);
        // Just inside the window is still reordering.
        assert!(feed(&mut chan, at(0), far + 1 + MISSING_WINDOW).is_empty());
    }

    #[test]
    fn wraparound_at_u32_max() {
        let mut chan = GreChannel::new(PEER);
        assert_eq!(
            feed(&mut chan, at(0), 0xFFFF_FFFE).as_slice(),
            &[0xFFFF_FFFE]
        );
        assert!(feed(&mut chan, at(0), 1).is_empty());
        assert!(feed(&mut chan, at(0), 0).is_empty());
        assert_eq!(
            feed(&mut chan, at(0), 0xFFFF_FFFF).as_slice(),
            &[0xFFFF_FFFF, 0, 1]
        );
        assert!(feed(&mut chan, at(0), 0xFFFF_FFFF).is_empty()); // old now
        assert_eq!(feed(&mut chan, at(0), 2).as_slice(), &[2]);
        assert_eq!(chan.stats().duplicates, 1);
        assert_eq!(chan.stats().lost, 0);

        // Sending side wraps too.
        let mut chan = GreChannel::new(PEER);
        chan.next_sequence = u32::MAX;
        assert_eq!(chan.next_data_header(at(0), 1).sequence, Some(u32::MAX));
        assert_eq!(chan.next_data_header(at(0), 1).sequence, Some(0));
    }

    #[test]
    fn sending_numbers_from_zero_and_piggybacks_acks() {
        let mut chan = GreChannel::new(PEER);
        let h = chan.next_data_header(at(0), 100);
        assert_eq!(
            h,
            gre::Repr {
                call_id: PEER,
                sequence: Some(0),
                ack: None,
                payload_len: 100
            }
        );
        feed(&mut chan, at(10), 41);
        feed(&mut chan, at(11), 42);
        let h = chan.next_data_header(at(12), 50);
        assert_eq!((h.sequence, h.ack), (Some(1), Some(42)));
        // Nothing new to acknowledge.
        let h = chan.next_data_header(at(13), 50);
        assert_eq!((h.sequence, h.ack), (Some(2), None));
        assert_eq!(chan.poll_ack_only(at(1000)), None);
        let s = chan.stats();
        assert_eq!((s.packets_out, s.bytes_out), (3, 200));
    }

    #[test]
    fn ack_only_after_100ms_without_data() {
        let mut chan = GreChannel::new(PEER);
        assert_eq!(chan.poll_at(), None);
        feed(&mut chan, at(1000), 7);
        feed(&mut chan, at(1050), 8);
        // The delay runs from the first unacknowledged packet.
        assert_eq!(chan.poll_at(), Some(at(1100)));
        assert_eq!(chan.poll_ack_only(at(1099)), None);
        let ack = chan.poll_ack_only(at(1100)).unwrap();
        assert_eq!(
            ack,
            gre::Repr {
                call_id: PEER,
                sequence: None,
                ack: Some(8),
                payload_len: 0
            }
        );
        assert_eq!(chan.poll_ack_only(at(2000)), None);
        assert_eq!(chan.poll_at(), None);
        assert_eq!(chan.stats().acks_out, 1);
        // And the data header no longer repeats it.
        assert_eq!(chan.next_data_header(at(2001), 1).ack, None);
    }

    #[test]
    fn peer_ack_only_moves_forward() {
        let mut chan = GreChannel::new(PEER);
        let mut empty = [];
        let ack_only = |ack| gre::Repr {
            call_id: 7,
            sequence: None,
            ack: Some(ack),
            payload_len: 0,
        };
        chan.receive(at(0), &ack_only(0xFFFF_FFF0), &mut empty, &mut |_| {});
        assert_eq!(chan.peer_ack(), Some(0xFFFF_FFF0));
        chan.receive(at(0), &ack_only(3), &mut empty, &mut |_| {});
        assert_eq!(chan.peer_ack(), Some(3));
        chan.receive(at(0), &ack_only(0xFFFF_FFF5), &mut empty, &mut |_| panic!());
        assert_eq!(chan.peer_ack(), Some(3));
        // Ack-only packets deliver nothing and start no ack of ours.
        assert_eq!(chan.poll_at(), None);
        let mut p = [1, 2, 3, 4];
        chan.receive(at(0), &data(0, Some(9)), &mut p, &mut |_| {});
        assert_eq!(chan.peer_ack(), Some(9));
    }

    #[test]
    fn deliver_gets_a_mutable_frame_for_in_place_decryption() {
        let mut chan = GreChannel::new(PEER);
        let mut p = *b"abcd";
        chan.receive(at(0), &data(0, None), &mut p, &mut |f| {
            f.make_ascii_uppercase()
        });
        assert_eq!(&p, b"ABCD");
    }

    #[test]
    fn oversized_and_empty_frames() {
        let mut chan = GreChannel::new(PEER);
        let mut big = [0u8; MAX_PPP_FRAME + 1];
        chan.receive(at(0), &data(0, None), &mut big, &mut |_| panic!());
        assert_eq!(chan.stats().oversized, 1);
        // An empty data packet takes its sequence number but reaches nobody.
        let mut empty = [];
        chan.receive(at(0), &data(5, None), &mut empty, &mut |_| panic!());
        assert_eq!(feed(&mut chan, at(0), 6).as_slice(), &[6]);
    }

    #[test]
    fn random_traffic_keeps_order_and_accounts_for_everything() {
        let mut rng = XorShift(0x0123_4567_89AB);
        for round in 0..20 {
            let mut chan = GreChannel::new(PEER);
            let start = rng.next_u32();
            let mut last_out: Option<u32> = None;
            let mut delivered = 0u64;
            let mut now = 0i64;
            let mut check = |got: &[u32]| {
                for &s in got {
                    if let Some(prev) = last_out {
                        assert!(serial_after(s, prev), "round {round}: {s} after {prev}");
                    }
                    last_out = Some(s);
                }
            };
            for i in 0..2000u32 {
                now += i64::from(rng.next_u32() % 30);
                // Sequence near the front, jittered backwards/forwards, sometimes far off.
                let jitter = (rng.next_u32() % 12) as i32 - 4;
                let mut seq = start.wrapping_add(i).wrapping_add(jitter as u32);
                if rng.next_u32().is_multiple_of(500) {
                    seq = rng.next_u32();
                }
                if rng.next_u32().is_multiple_of(10) {
                    continue; // lost
                }
                let got = feed(&mut chan, at(now), seq);
                delivered += got.len() as u64;
                check(&got);
                if rng.next_u32().is_multiple_of(3) {
                    let got = timeout(&mut chan, at(now));
                    delivered += got.len() as u64;
                    check(&got);
                }
                let _ = chan.poll_ack_only(at(now));
                assert!(chan.buffered() <= REORDER_SLOTS);
            }
            assert_eq!(chan.stats().packets_in, delivered);
        }
    }
}
