//! `pptp::gre::GreChannel` driven by an arbitrary program of received packets (any
//! sequence and ack numbers, absolute or near the last one, any payload size), timers,
//! ack-only polls and sends, with time moving forward by arbitrary steps.
//!
//! Every received payload is tagged with its sequence number and the index of the receive
//! call, so each delivered frame can be traced back. Checks: frames come out byte for byte
//! as they went in, each at most once, in strictly increasing sequence order; the next
//! expected frame is delivered at once; acks name the last frame delivered; the timer is
//! never left due after it was serviced.

use super::{Input, Script};
use smolpptp::limits::{MAX_PPP_FRAME, REORDER_SLOTS};
use smolpptp::pptp::gre::GreChannel;
use smolpptp::wire::gre;
use smoltcp::time::{Duration, Instant};
use std::collections::HashSet;

const RECEIVE: u8 = 0;
const TIMEOUT: u8 = 1;
const ACK_ONLY: u8 = 2;
const SEND: u8 = 3;
const ADVANCE: u8 = 4;
const OPS: u8 = 5;

/// Bytes of tag at the start of every non-empty payload: sequence number, receive index.
const TAG_LEN: usize = 8;

fn serial_after(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

/// What the test knows about the packets it fed in.
struct Model {
    /// Per receive call: (sequence, length, fill byte).
    sent: Vec<(u32, usize, u8)>,
    delivered: HashSet<usize>,
    last_delivered: Option<u32>,
    peer_ack: Option<u32>,
    next_sequence: u32,
}

impl Model {
    fn check_delivery(&mut self, frame: &[u8]) {
        assert!(frame.len() <= MAX_PPP_FRAME);
        assert!(frame.len() >= TAG_LEN, "delivered a frame nobody sent");
        let sequence = u32::from_be_bytes(frame[0..4].try_into().unwrap());
        let index = u32::from_be_bytes(frame[4..8].try_into().unwrap()) as usize;
        let (sent_sequence, len, fill) = *self.sent.get(index).expect("frame from nowhere");
        assert_eq!(sequence, sent_sequence);
        assert_eq!(frame.len(), len, "frame length changed");
        assert!(
            frame[TAG_LEN..].iter().all(|&b| b == fill),
            "frame bytes changed"
        );
        assert!(
            self.delivered.insert(index),
            "frame {index} delivered twice"
        );
        // In order: at or (after a loss) ahead of the one expected next, in 32-bit serial
        // arithmetic from the expected one, as the channel itself judges.
        if let Some(last) = self.last_delivered {
            let expected = last.wrapping_add(1);
            assert!(
                sequence.wrapping_sub(expected) as i32 >= 0,
                "delivered {sequence} after {last}"
            );
        }
        self.last_delivered = Some(sequence);
    }
}

pub fn run(data: &[u8]) {
    super::init_logging();
    let mut input = Input::new(data);
    let peer_call_id = input.u16();
    let mut channel = GreChannel::new(peer_call_id);
    let mut now = Instant::from_millis(i64::from(input.u32()));
    let mut model = Model {
        sent: Vec::new(),
        delivered: HashSet::new(),
        last_delivered: None,
        peer_ack: None,
        next_sequence: 0,
    };
    let mut cursor = 0u32;

    while !input.is_empty() {
        match input.u8() % OPS {
            RECEIVE => {
                let mode = input.u8();
                let sequence = match mode % 4 {
                    0 => None,
                    1 => Some(input.u32()),
                    // Near the last number used, where reordering and duplicates happen.
                    _ => Some(cursor.wrapping_add(i32::from(input.u8() as i8) as u32)),
                };
                if let Some(s) = sequence {
                    cursor = s;
                }
                let ack = (mode & 0x80 != 0).then(|| input.u32());
                let index = model.sent.len();
                let (len, fill) = match sequence {
                    Some(s) => {
                        let len = TAG_LEN + usize::from(input.u16()) % 1700;
                        let fill = input.u8();
                        model.sent.push((s, len, fill));
                        (len, fill)
                    }
                    None => (0, 0),
                };
                let mut payload = vec![fill; len];
                if let Some(s) = sequence {
                    payload[0..4].copy_from_slice(&s.to_be_bytes());
                    payload[4..8].copy_from_slice(&(index as u32).to_be_bytes());
                }
                let repr = gre::Repr {
                    call_id: 0,
                    sequence,
                    ack,
                    payload_len: len as u16,
                };
                let mut got = Vec::new();
                channel.receive(now, &repr, &mut payload, &mut |frame| {
                    got.push(frame.to_vec())
                });
                for frame in &got {
                    model.check_delivery(frame);
                }
                if let Some(a) = ack {
                    if model.peer_ack.is_none_or(|old| serial_after(a, old)) {
                        model.peer_ack = Some(a);
                    }
                }
                assert_eq!(channel.peer_ack(), model.peer_ack);
                // Dropping the very frame the channel now waits for would stall it.
                if let (Some(s), Some(last)) = (sequence, model.last_delivered) {
                    if len <= MAX_PPP_FRAME && s == last.wrapping_add(1) {
                        assert!(
                            model.delivered.contains(&index),
                            "the expected frame {s} was dropped"
                        );
                    }
                }
            }
            TIMEOUT => {
                let mut got = Vec::new();
                channel.handle_timeout(now, &mut |frame| got.push(frame.to_vec()));
                for frame in &got {
                    model.check_delivery(frame);
                }
                if let Some(ack) = channel.poll_ack_only(now) {
                    check_ack_only(&model, peer_call_id, &ack);
                }
                if let Some(at) = channel.poll_at() {
                    assert!(at > now, "timer still due after it was serviced");
                }
            }
            ACK_ONLY => {
                if let Some(ack) = channel.poll_ack_only(now) {
                    check_ack_only(&model, peer_call_id, &ack);
                }
            }
            SEND => {
                let len = input.u16();
                let header = channel.next_data_header(now, len);
                assert_eq!(header.call_id, peer_call_id);
                assert_eq!(header.sequence, Some(model.next_sequence));
                assert_eq!(header.payload_len, len);
                model.next_sequence = model.next_sequence.wrapping_add(1);
                if header.ack.is_some() {
                    assert_eq!(header.ack, model.last_delivered);
                }
            }
            _ => now += Duration::from_millis(u64::from(input.u16())),
        }
        assert!(channel.buffered() <= REORDER_SLOTS);
        if channel.buffered() > 0 {
            assert!(channel.poll_at().is_some(), "held frames but no timer");
        }
        let _ = format!("{channel:?}");
    }
}

fn check_ack_only(model: &Model, peer_call_id: u16, ack: &gre::Repr) {
    assert_eq!(ack.call_id, peer_call_id);
    assert_eq!(ack.sequence, None);
    assert_eq!(ack.payload_len, 0);
    assert!(ack.ack.is_some());
    assert_eq!(ack.ack, model.last_delivered);
}

pub fn seeds() -> Vec<Vec<u8>> {
    // receive near the cursor: op, mode 2, delta, length, fill
    let near = |s: Script, delta: i8, ack: bool| {
        s.u8(RECEIVE)
            .u8(if ack { 0x82 } else { 2 })
            .u8(delta as u8)
            .bytes(if ack { &[0, 0, 0, 1] } else { &[] })
            .u16(100)
            .u8(0x5A)
    };
    let mut in_order = Script::default().u16(0x4000).u32(0);
    for _ in 0..4 {
        in_order = near(in_order, 1, true);
    }
    in_order = in_order.u8(ADVANCE).u16(150).u8(ACK_ONLY).u8(SEND).u16(60);
    let mut reordered = Script::default()
        .u16(1)
        .u32(5)
        .u8(RECEIVE)
        .u8(1)
        .u32(0xFFFF_FFF0)
        .u16(20)
        .u8(1);
    for delta in [2, -1, 3, 5, -2, 0, 4] {
        reordered = near(reordered, delta, false);
    }
    reordered = reordered.u8(ADVANCE).u16(400).u8(TIMEOUT);
    let jump = Script::default()
        .u16(2)
        .u32(0)
        .u8(RECEIVE)
        .u8(1)
        .u32(10)
        .u16(8)
        .u8(0)
        .u8(RECEIVE)
        .u8(1)
        .u32(12)
        .u16(8)
        .u8(0)
        .u8(RECEIVE)
        .u8(1)
        .u32(5000)
        .u16(8)
        .u8(0);
    vec![in_order.0, reordered.0, jump.0]
}
