//! `pptp::control::ControlConnection` driven by an arbitrary program of messages (raw bytes
//! or well-framed messages of any type with arbitrary bodies), timers, local stops and
//! aborts, with time moving forward by arbitrary steps. Checks the replies are valid PPTP
//! messages, that `Closed` is final, that answers match requests, and that the timer never
//! asks to be polled at a time it then has nothing to do (no busy loop, no missed timer).

use super::{Input, Script};
use smolpptp::pptp::control::{CloseReason, ControlConnection, ControlEvent, Output, State};
use smolpptp::wire::pptp::{self, MessageType, Packet, Repr};
use smoltcp::time::{Duration, Instant};

const HANDLE_RAW: u8 = 0;
const HANDLE_FRAMED: u8 = 1;
const POLL: u8 = 2;
const BEGIN_STOP: u8 = 3;
const ABORT: u8 = 4;
const ADVANCE: u8 = 5;
const HANDLE_SMALL_BUFFER: u8 = 6;
const OPS: u8 = 7;

pub fn run(data: &[u8]) {
    super::init_logging();
    let mut input = Input::new(data);
    let mut now = Instant::from_millis(i64::from(input.u32()));
    let start_timeout = Duration::from_millis(u64::from(input.u32()));
    let mut conn = ControlConnection::new(now, start_timeout);
    assert_eq!(conn.state(), State::Idle);

    let mut message = [0u8; pptp::MAX_MESSAGE_LEN];
    while !input.is_empty() {
        let before = conn.state();
        let mut reply = [0u8; pptp::MAX_MESSAGE_LEN];
        let out = match input.u8() % OPS {
            HANDLE_RAW => {
                let raw = input.chunk();
                let out = conn.handle(now, raw, &mut reply);
                check_handled(before, raw, &conn, &out, &reply);
                out
            }
            HANDLE_FRAMED => {
                let len = framed_message(&mut input, &mut message);
                let out = conn.handle(now, &message[..len], &mut reply);
                check_handled(before, &message[..len], &conn, &out, &reply);
                out
            }
            HANDLE_SMALL_BUFFER => {
                let len = framed_message(&mut input, &mut message);
                let size = usize::from(input.u8()) % pptp::MAX_MESSAGE_LEN;
                let out = conn.handle(now, &message[..len], &mut reply[..size]);
                assert!(out.reply_len <= size);
                out
            }
            POLL => {
                let due = conn.poll_at();
                let out = conn.poll(now, &mut reply);
                if due.is_none_or(|t| now < t) {
                    assert_eq!(out, Output::default(), "poll before poll_at did something");
                    assert_eq!(conn.state(), before);
                }
                if let Some(next) = conn.poll_at() {
                    assert!(next > now, "poll left a timer due now: busy loop");
                }
                out
            }
            BEGIN_STOP => {
                let out = conn.begin_stop(now, &mut reply);
                match before {
                    State::Established => {
                        assert_eq!(conn.state(), State::WaitStopReply);
                        assert!(matches!(
                            parse_reply(&out, &reply),
                            Some(Repr::StopControlConnectionRequest { .. })
                        ));
                    }
                    State::Idle => assert_eq!(conn.state(), State::Closed),
                    _ => assert_eq!(conn.state(), before),
                }
                out
            }
            ABORT => {
                conn.abort();
                assert!(conn.is_closed());
                Output::default()
            }
            _ => {
                let step = u64::from(input.u32());
                now += Duration::from_millis(step);
                Output::default()
            }
        };
        check_output(before, &conn, &out, &reply);
    }
}

/// A message with a correct header (length, type 1, magic cookie) of the type the input
/// picks, and a body from the input; sometimes a Start-Control-Connection-Request with
/// version 1.0, which random bodies seldom have.
fn framed_message(input: &mut Input, buf: &mut [u8; pptp::MAX_MESSAGE_LEN]) -> usize {
    let kind = MessageType::from_u16(u16::from(input.u8() % 16))
        .unwrap_or(MessageType::StartControlConnectionRequest);
    let len = kind.message_len();
    buf.fill(0);
    Packet::new_unchecked(&mut buf[..]).emit_header(kind);
    let body = input.bytes(len - pptp::HEADER_LEN);
    buf[pptp::HEADER_LEN..pptp::HEADER_LEN + body.len()].copy_from_slice(body);
    if kind == MessageType::StartControlConnectionRequest && body.first() == Some(&0xFF) {
        buf[12..14].copy_from_slice(&pptp::PROTOCOL_VERSION.to_be_bytes());
    }
    len
}

fn parse_reply<'b>(out: &Output, reply: &'b [u8]) -> Option<Repr<'b>> {
    if out.reply_len == 0 {
        return None;
    }
    let bytes = out.reply(reply);
    assert_eq!(bytes.len(), out.reply_len, "reply longer than the buffer");
    let packet = Packet::new_checked(bytes).expect("reply is a valid PPTP message");
    Some(Repr::parse(&packet).expect("reply parses"))
}

/// What holds after any operation.
fn check_output(before: State, conn: &ControlConnection, out: &Output, reply: &[u8]) {
    if before == State::Closed {
        assert_eq!(*out, Output::default(), "closed connection did something");
        assert_eq!(conn.state(), State::Closed, "Closed is final");
    }
    if let Some(ControlEvent::Closed(reason)) = out.event {
        assert_eq!(conn.state(), State::Closed);
        let _ = format!("{reason}");
    }
    assert_eq!(conn.poll_at().is_none(), conn.is_closed());
    if let Some(repr) = parse_reply(out, reply) {
        // Only what a PAC ever sends.
        assert!(matches!(
            repr,
            Repr::StartControlConnectionReply { .. }
                | Repr::StopControlConnectionRequest { .. }
                | Repr::StopControlConnectionReply { .. }
                | Repr::EchoRequest { .. }
                | Repr::EchoReply { .. }
                | Repr::OutgoingCallReply { .. }
        ));
    }
}

/// What holds after `handle` of `message`.
fn check_handled(
    before: State,
    message: &[u8],
    conn: &ControlConnection,
    out: &Output,
    reply: &[u8],
) {
    if before == State::Closed {
        return;
    }
    let parsed = Packet::new_checked(message).and_then(|p| Repr::parse(&p));
    let Ok(request) = parsed else {
        assert!(
            matches!(
                out.event,
                Some(ControlEvent::Closed(CloseReason::BadMessage(_)))
            ),
            "garbage must close the connection"
        );
        return;
    };
    let answer = parse_reply(out, reply);
    match request {
        Repr::EchoRequest { identifier } => {
            assert!(
                matches!(answer, Some(Repr::EchoReply { identifier: id, result_code: 1, .. }) if id == identifier)
            );
        }
        Repr::StartControlConnectionRequest { .. } => {
            let Some(Repr::StartControlConnectionReply { result_code, .. }) = answer else {
                panic!("SCCRQ not answered by SCCRP: {answer:?}");
            };
            match before {
                State::Idle if result_code == pptp::start_result::SUCCESS => {
                    assert!(conn.is_established())
                }
                State::Idle => assert!(conn.is_closed()),
                _ => {
                    assert_eq!(result_code, pptp::start_result::ALREADY_EXISTS);
                    assert_eq!(conn.state(), before);
                }
            }
        }
        Repr::StopControlConnectionRequest { .. } => {
            assert!(matches!(
                answer,
                Some(Repr::StopControlConnectionReply { .. })
            ));
            assert!(conn.is_closed());
        }
        Repr::OutgoingCallRequest { call_id, .. } => match before {
            State::Established => assert!(matches!(
                out.event,
                Some(ControlEvent::OutgoingCall(call)) if call.peer_call_id == call_id
            )),
            State::Idle => assert!(matches!(
                answer,
                Some(Repr::OutgoingCallReply { peer_call_id, result_code: 2, .. })
                    if peer_call_id == call_id
            )),
            _ => {}
        },
        _ => {}
    }
    if !matches!(
        request,
        Repr::StartControlConnectionRequest { .. }
            | Repr::StopControlConnectionRequest { .. }
            | Repr::StopControlConnectionReply { .. }
    ) {
        assert_eq!(conn.state(), before, "{request:?} changed the state");
    }
}

pub fn seeds() -> Vec<Vec<u8>> {
    let sccrq = |version_ok: bool| {
        let mut body = vec![0u8; 144];
        if version_ok {
            body[0] = 0xFF;
        }
        body
    };
    let start = Script::default().u32(1000).u32(10_000);
    vec![
        // SCCRQ, OCRQ, Echo, idle for 61 s, poll (Echo-Request), idle, poll (timeout).
        start
            .u8(HANDLE_FRAMED)
            .u8(1)
            .bytes(&sccrq(true))
            .u8(HANDLE_FRAMED)
            .u8(7)
            .bytes(&[0x12, 0x34, 0, 1])
            .bytes(&[0; 152])
            .u8(HANDLE_FRAMED)
            .u8(5)
            .u32(77)
            .u8(ADVANCE)
            .u32(61_000)
            .u8(POLL)
            .u8(ADVANCE)
            .u32(61_000)
            .u8(POLL)
            .0,
        // SCCRQ, Call-Clear, local stop, Stop-Reply.
        Script::default()
            .u32(0)
            .u32(5000)
            .u8(HANDLE_FRAMED)
            .u8(1)
            .bytes(&sccrq(true))
            .u8(HANDLE_FRAMED)
            .u8(12)
            .bytes(&[0x12, 0x34, 0, 0])
            .u8(BEGIN_STOP)
            .u8(HANDLE_FRAMED)
            .u8(4)
            .bytes(&[1, 0, 0, 0])
            .0,
        // Garbage before anything.
        Script::default()
            .u32(0)
            .u32(0)
            .u8(HANDLE_RAW)
            .chunk(b"GET / HTTP/1.0\r\n\r\n")
            .0,
    ]
}
