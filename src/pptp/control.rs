//! The server (PAC) side of one PPTP control connection (RFC 2637 §3.1.2; protocol.md
//! §2.1, §2.2, §6.1, §6.2), sans-IO.
//!
//! The server frames whole messages off TCP (`wire::pptp::frame_len`) and feeds them to
//! [`ControlConnection::handle`] with the current time; the connection answers what it can
//! answer itself (Start-Control-Connection, Echo, Stop) into the caller's buffer and
//! reports call-level requests as [`ControlEvent`]s for the session table, which owns the
//! calls and answers them with [`accept_call`], [`refuse_call`] and
//! [`call_disconnect_notify`]. Several calls may share one connection (pptp-linux does).
//!
//! Logging here is at debug level; the caller logs the [`CloseReason`] (with the peer
//! address, which this module does not know).

use crate::limits::MAX_SESSIONS;
use crate::wire;
use crate::wire::pptp::{
    self, disconnect_result, error_code, outgoing_result, reply_result, start_result, stop_reason,
    MessageType, Packet, NAME_LEN, STATISTICS_LEN,
};
use smoltcp::time::{Duration, Instant};

/// Without any control message for this long, send an Echo-Request (RFC 2637 §3.1.4,
/// pptpd `IDLE_WAIT`).
pub const ECHO_INTERVAL: Duration = Duration::from_secs(60);
/// Close when nothing at all arrives this long after our Echo-Request (pptpd
/// `MAX_ECHO_WAIT`).
pub const ECHO_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a local shutdown waits for the Stop-Control-Connection-Reply.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Upper bound on the Idle timeout, so `now + stimeout` cannot overflow.
const MAX_START_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);
/// Host Name and Vendor String of our Start-Control-Connection-Reply (clients ignore them).
pub const HOST_NAME: &[u8] = b"smolpptp";
pub const VENDOR: &[u8] = b"smolpptp";
/// Firmware Revision we report.
pub const FIRMWARE_REVISION: u16 = 1;
/// Receive window we offer when the client's OCRQ gives none.
pub const DEFAULT_WINDOW: u16 = 64;

/// Where the connection is in RFC 2637 §3.1.2's receiver diagram, reduced for a PAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// TCP accepted, waiting for Start-Control-Connection-Request (closes after `stimeout`).
    Idle,
    /// Calls may be placed; Echo keepalive runs.
    Established,
    /// We sent Stop-Control-Connection-Request and wait for the Reply.
    WaitStopReply,
    /// Done: the caller closes the TCP connection once the last reply is written.
    Closed,
}

/// An Outgoing-Call-Request from the client: the session table decides to accept
/// ([`accept_call`]) or refuse ([`refuse_call`]) it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutgoingCall {
    /// The client's (PNS) Call ID: goes in the key of the GRE packets we send.
    pub peer_call_id: u16,
    pub serial: u16,
    pub min_bps: u32,
    pub max_bps: u32,
    /// The client's Packet Recv. Window Size.
    pub window: u16,
    /// The client's Packet Processing Delay, in 1/10 s.
    pub processing_delay: u16,
    pub bearer_type: u32,
    pub framing_type: u32,
}

/// Why the control connection ended; `Display` gives a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// No Start-Control-Connection-Request within `stimeout`.
    NoStartRequest,
    /// Garbage on the stream: bad length, magic cookie, type (RFC 2637 §1.4, §3).
    BadMessage(wire::Error),
    /// The client asked for a protocol version other than 1.0 (it got SCCRP result 5).
    UnsupportedVersion(u16),
    /// The client sent Stop-Control-Connection-Request (with this reason); we replied.
    PeerStopped(u8),
    /// Our Stop-Control-Connection-Request was answered.
    Stopped,
    /// Our Stop-Control-Connection-Request got no reply within [`STOP_TIMEOUT`].
    StopTimeout,
    /// Keepalive: nothing received within [`ECHO_TIMEOUT`] of our Echo-Request.
    EchoTimeout,
    /// `begin_stop` before the connection was established: nothing to say, just close.
    Shutdown,
}

impl core::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        match self {
            CloseReason::NoStartRequest => {
                f.write_str("dropped slow initial connection (no Start-Control-Connection-Request)")
            }
            CloseReason::BadMessage(e) => write!(f, "bad control message ({e})"),
            CloseReason::UnsupportedVersion(v) => {
                write!(f, "unsupported PPTP protocol version {v:#06x}")
            }
            CloseReason::PeerStopped(reason) => {
                write!(
                    f,
                    "Stop-Control-Connection-Request from peer (reason {reason})"
                )
            }
            CloseReason::Stopped => f.write_str("control connection stopped"),
            CloseReason::StopTimeout => f.write_str("no Stop-Control-Connection-Reply, closing"),
            CloseReason::EchoTimeout => f.write_str("Session timed out, ending call"),
            CloseReason::Shutdown => f.write_str("shutting down"),
        }
    }
}

/// What happened on the control connection that the caller must act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlEvent {
    /// Outgoing-Call-Request: place a call and answer it with [`accept_call`] or
    /// [`refuse_call`].
    OutgoingCall(OutgoingCall),
    /// Call-Clear-Request for the call the client knows as `peer_call_id`: hang it up and
    /// send [`call_disconnect_notify`] with result `Request`.
    CallClear { peer_call_id: u16 },
    /// Set-Link-Info for our call `call_id`. No reply is defined; ACCMs mean nothing on
    /// GRE (pptpd ignores them too), it is reported for logging only.
    SetLinkInfo {
        call_id: u16,
        send_accm: u32,
        recv_accm: u32,
    },
    /// The connection is over: write the reply (if any), then close TCP and drop every
    /// call on it.
    Closed(CloseReason),
}

/// Result of feeding a message or a timer to the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Output {
    /// Bytes at the start of the caller's buffer to write to TCP (0: nothing to send).
    pub reply_len: usize,
    pub event: Option<ControlEvent>,
}

impl Output {
    const NONE: Output = Output {
        reply_len: 0,
        event: None,
    };

    fn event(event: ControlEvent) -> Output {
        Output {
            reply_len: 0,
            event: Some(event),
        }
    }

    /// The reply bytes inside the buffer that was passed in.
    pub fn reply<'b>(&self, buf: &'b [u8]) -> &'b [u8] {
        buf.get(..self.reply_len).unwrap_or(&[])
    }
}

/// One control connection, server side. Holds no call state: calls live in the session
/// table, keyed by this connection.
#[derive(Debug, Clone)]
pub struct ControlConnection {
    state: State,
    /// Idle: when to give up waiting for SCCRQ. WaitStopReply: when to stop waiting.
    deadline: Instant,
    last_received: Instant,
    echo_sent_at: Option<Instant>,
    next_echo_id: u32,
}

impl ControlConnection {
    /// A freshly accepted TCP connection; it closes unless a Start-Control-Connection-
    /// Request arrives within `start_timeout` (pptpd's `stimeout`, default 10 s).
    pub fn new(now: Instant, start_timeout: Duration) -> ControlConnection {
        ControlConnection {
            state: State::Idle,
            deadline: now + start_timeout.min(MAX_START_TIMEOUT),
            last_received: now,
            echo_sent_at: None,
            next_echo_id: 1,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn is_established(&self) -> bool {
        self.state == State::Established
    }

    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// One whole control message from the client. Any reply is written into `reply`
    /// (give it [`pptp::MAX_MESSAGE_LEN`] bytes). After `Closed` every call is a no-op.
    pub fn handle(&mut self, now: Instant, message: &[u8], reply: &mut [u8]) -> Output {
        if self.state == State::Closed {
            return Output::NONE;
        }
        // The checks of `Repr::parse` (and its errors), then only the fields acted on, read
        // at their offsets (RFC 2637 §2; as `Repr::parse` reads them): parsing every field of
        // all 15 messages cost code for the few the server uses.
        let packet = Packet::new_unchecked(message);
        let kind = match packet.check() {
            Ok(kind) => kind,
            Err(e) => return self.close(CloseReason::BadMessage(e)),
        };
        // Any message is a sign of life and answers our Echo-Request (pptpd resets on any).
        self.last_received = now;
        self.echo_sent_at = None;
        crate::debug!("CTRL: received {}", kind);

        match kind {
            MessageType::StartControlConnectionRequest => {
                self.start_request(packet.u16_at(12), reply)
            }
            MessageType::EchoRequest => {
                let identifier = packet.u32_at(12);
                send(reply, MessageType::EchoReply, |m| {
                    m.set_u32_at(12, identifier);
                    m.set_u8_at(16, reply_result::OK);
                    // Error Code (17): error_code::NONE, 0 as zeroed.
                })
            }
            MessageType::StopControlConnectionRequest => {
                let reason = packet.u8_at(12);
                let out = send(reply, MessageType::StopControlConnectionReply, |m| {
                    m.set_u8_at(12, reply_result::OK);
                    // Error Code (13): error_code::NONE, 0 as zeroed.
                });
                self.state = State::Closed;
                Output {
                    event: Some(ControlEvent::Closed(CloseReason::PeerStopped(reason))),
                    ..out
                }
            }
            MessageType::StopControlConnectionReply if self.state == State::WaitStopReply => {
                self.close(CloseReason::Stopped)
            }
            MessageType::OutgoingCallRequest if self.state == State::Idle => {
                crate::debug!("CTRL: Outgoing-Call-Request before Start-Control-Connection");
                let peer_call_id = packet.u16_at(12);
                send(reply, MessageType::OutgoingCallReply, |m| {
                    call_reply(
                        m,
                        0,
                        peer_call_id,
                        (outgoing_result::GENERAL_ERROR, error_code::NOT_CONNECTED),
                        0,
                        0,
                    )
                })
            }
            MessageType::OutgoingCallRequest if self.state == State::Established => {
                // Fields 12..36 as one array (`check` held the message to its 168 bytes, so
                // the `else` never runs): one bounds check instead of eight.
                let Some(Ok::<&[u8; 24], _>(f)) = message.get(12..36).map(TryInto::try_into) else {
                    return Output::NONE;
                };
                let u16_at = |o: usize| u16::from_be_bytes([f[o], f[o + 1]]);
                let u32_at = |o: usize| u32::from_be_bytes([f[o], f[o + 1], f[o + 2], f[o + 3]]);
                Output::event(ControlEvent::OutgoingCall(OutgoingCall {
                    peer_call_id: u16_at(0),
                    serial: u16_at(2),
                    min_bps: u32_at(4),
                    max_bps: u32_at(8),
                    window: u16_at(20),
                    processing_delay: u16_at(22),
                    bearer_type: u32_at(12),
                    framing_type: u32_at(16),
                }))
            }
            MessageType::CallClearRequest if self.state == State::Established => {
                Output::event(ControlEvent::CallClear {
                    peer_call_id: packet.u16_at(12),
                })
            }
            MessageType::SetLinkInfo if self.state == State::Established => {
                let send_accm = packet.u32_at(16);
                let recv_accm = packet.u32_at(20);
                if send_accm != u32::MAX || recv_accm != u32::MAX {
                    crate::debug!("CTRL: Ignored a SET LINK INFO packet with real ACCMs!");
                }
                Output::event(ControlEvent::SetLinkInfo {
                    call_id: packet.u16_at(12),
                    send_accm,
                    recv_accm,
                })
            }
            // Echo-Reply only needed to reset the keepalive (done above). Incoming calls and
            // WAN-Error-Notify are PAC→PNS things a VPN server has no use for; replies to
            // requests we never sent, and call messages outside Established, are ignored
            // rather than fatal, as pptpd does.
            other => {
                crate::debug!("CTRL: ignored {} in state {:?}", other, self.state);
                Output::NONE
            }
        }
    }

    fn start_request(&mut self, version: u16, reply: &mut [u8]) -> Output {
        let result = match self.state {
            State::Idle if version == pptp::PROTOCOL_VERSION => start_result::SUCCESS,
            State::Idle => start_result::BAD_VERSION,
            _ => {
                crate::debug!(
                    "CTRL: second Start-Control-Connection-Request, answered Already-Exists"
                );
                start_result::ALREADY_EXISTS
            }
        };
        // Offsets 12..28 are the same in every reply but for the Result Code: one copy.
        const MAX_CHANNELS: u16 = if MAX_SESSIONS > u16::MAX as usize {
            u16::MAX
        } else {
            MAX_SESSIONS as u16
        };
        const FIXED: [u8; 16] = {
            let version = pptp::PROTOCOL_VERSION.to_be_bytes();
            let framing = (pptp::framing::ASYNC | pptp::framing::SYNC).to_be_bytes();
            let bearer = (pptp::bearer::ANALOG | pptp::bearer::DIGITAL).to_be_bytes();
            let channels = MAX_CHANNELS.to_be_bytes();
            let firmware = FIRMWARE_REVISION.to_be_bytes();
            [
                version[0],
                version[1],
                0, // Result Code (14)
                error_code::NONE,
                framing[0],
                framing[1],
                framing[2],
                framing[3],
                bearer[0],
                bearer[1],
                bearer[2],
                bearer[3],
                channels[0],
                channels[1],
                firmware[0],
                firmware[1],
            ]
        };
        let out = send(reply, MessageType::StartControlConnectionReply, |m| {
            m.set_str_at(12, FIXED.len(), &FIXED);
            m.set_u8_at(14, result);
            m.set_str_at(28, NAME_LEN, HOST_NAME);
            m.set_str_at(92, NAME_LEN, VENDOR);
        });
        match result {
            start_result::SUCCESS => {
                self.state = State::Established;
                out
            }
            start_result::BAD_VERSION => {
                self.state = State::Closed;
                Output {
                    event: Some(ControlEvent::Closed(CloseReason::UnsupportedVersion(
                        version,
                    ))),
                    ..out
                }
            }
            _ => out,
        }
    }

    #[inline(never)]
    fn close(&mut self, reason: CloseReason) -> Output {
        self.state = State::Closed;
        Output::event(ControlEvent::Closed(reason))
    }

    /// When [`Self::poll`] next has something to do.
    pub fn poll_at(&self) -> Option<Instant> {
        match self.state {
            State::Idle | State::WaitStopReply => Some(self.deadline),
            State::Established => Some(match self.echo_sent_at {
                Some(sent) => sent + ECHO_TIMEOUT,
                None => self.last_received + ECHO_INTERVAL,
            }),
            State::Closed => None,
        }
    }

    /// Timers: the Idle timeout, the Echo keepalive (an Echo-Request is written into `out`)
    /// and the stop timeout.
    pub fn poll(&mut self, now: Instant, out: &mut [u8]) -> Output {
        match self.state {
            State::Idle if now >= self.deadline => self.close(CloseReason::NoStartRequest),
            State::WaitStopReply if now >= self.deadline => self.close(CloseReason::StopTimeout),
            State::Established => match self.echo_sent_at {
                Some(sent) if now >= sent + ECHO_TIMEOUT => self.close(CloseReason::EchoTimeout),
                None if now >= self.last_received + ECHO_INTERVAL => {
                    let identifier = self.next_echo_id;
                    self.next_echo_id = identifier.wrapping_add(1);
                    self.echo_sent_at = Some(now);
                    crate::debug!("CTRL: sending Echo-Request {identifier}");
                    send(out, MessageType::EchoRequest, |m| {
                        m.set_u32_at(12, identifier)
                    })
                }
                _ => Output::NONE,
            },
            _ => Output::NONE,
        }
    }

    /// Local shutdown (daemon stopping, or the last call ended): write a
    /// Stop-Control-Connection-Request (reason 1, General) into `out` and wait up to
    /// [`STOP_TIMEOUT`] for the reply. The session table sends its CDNs first. A connection
    /// that never got established just closes.
    pub fn begin_stop(&mut self, now: Instant, out: &mut [u8]) -> Output {
        match self.state {
            State::Idle => self.close(CloseReason::Shutdown),
            State::Established => {
                self.state = State::WaitStopReply;
                self.deadline = now + STOP_TIMEOUT;
                send(out, MessageType::StopControlConnectionRequest, |m| {
                    m.set_u8_at(12, stop_reason::NONE)
                })
            }
            State::WaitStopReply | State::Closed => Output::NONE,
        }
    }

    /// The TCP connection is gone (reset or closed by the peer): nothing more to send.
    pub fn abort(&mut self) {
        self.state = State::Closed;
    }
}

/// Write a `kind` message into `buf` as the reply, `fields` filling its body (the message
/// is zeroed and its header written first; offsets as in RFC 2637 §2 and [`pptp::Repr`]). A
/// buffer too small for it is a caller bug; the reply is dropped (logged) rather than
/// panicking.
fn send(buf: &mut [u8], kind: MessageType, fields: impl FnOnce(&mut Packet<&mut [u8]>)) -> Output {
    match start_reply(buf, kind) {
        Some(mut message) => {
            fields(&mut message);
            Output {
                reply_len: kind.message_len(),
                event: None,
            }
        }
        None => Output::NONE,
    }
}

/// [`pptp::emit_message`] for [`send`], logging a buffer too small. Out of line: one copy
/// for every reply.
#[inline(never)]
fn start_reply(buf: &mut [u8], kind: MessageType) -> Option<Packet<&mut [u8]>> {
    let len = buf.len();
    match pptp::emit_message(buf, kind) {
        Ok(message) => Some(message),
        Err(_) => {
            crate::error!("CTRL: {}-byte buffer too small for {}", len, kind);
            None
        }
    }
}

/// The fields of an Outgoing-Call-Reply (RFC 2637 §2.8) after the header; Cause Code,
/// Processing Delay and Physical Channel ID stay 0.
fn call_reply(
    m: &mut Packet<&mut [u8]>,
    call_id: u16,
    peer_call_id: u16,
    (result, error): (u8, u8),
    connect_speed: u32,
    recv_window: u16,
) {
    m.set_u16_at(12, call_id);
    m.set_u16_at(14, peer_call_id);
    m.set_u8_at(16, result);
    m.set_u8_at(17, error);
    m.set_u32_at(20, connect_speed);
    m.set_u16_at(24, recv_window);
}

/// Outgoing-Call-Reply "Connected" (32 bytes into `out`): our Call ID `call_id` (the one
/// the client will put in its GRE packets), the client's echoed, connect speed = the
/// client's maximum, window = the client's (or 64), as pptpd and accel-ppp answer.
pub fn accept_call(call_id: u16, call: &OutgoingCall, out: &mut [u8]) -> wire::Result<usize> {
    let kind = MessageType::OutgoingCallReply;
    call_reply(
        &mut pptp::emit_message(out, kind)?,
        call_id,
        call.peer_call_id,
        (outgoing_result::CONNECTED, error_code::NONE),
        call.max_bps,
        if call.window == 0 {
            DEFAULT_WINDOW
        } else {
            call.window
        },
    );
    Ok(kind.message_len())
}

/// Why a call is refused (RFC 2637 §2.8, §2.16).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallRefusal {
    /// No free session or address: Result 2 General Error, Error 4 No-Resource.
    NoResource,
    /// Administratively prohibited: Result 7 Do-Not-Accept.
    DoNotAccept,
}

/// Outgoing-Call-Reply refusing the call the client numbered `peer_call_id`.
pub fn refuse_call(peer_call_id: u16, refusal: CallRefusal, out: &mut [u8]) -> wire::Result<usize> {
    let (result, error) = match refusal {
        CallRefusal::NoResource => (outgoing_result::GENERAL_ERROR, error_code::NO_RESOURCE),
        CallRefusal::DoNotAccept => (outgoing_result::DO_NOT_ACCEPT, error_code::NONE),
    };
    let kind = MessageType::OutgoingCallReply;
    call_reply(
        &mut pptp::emit_message(out, kind)?,
        0,
        peer_call_id,
        (result, error),
        0,
        0,
    );
    Ok(kind.message_len())
}

/// Result Code of Call-Disconnect-Notify (RFC 2637 §2.13).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisconnectResult {
    LostCarrier,
    /// General error with its General Error Code (`wire::pptp::error_code`).
    GeneralError(u8),
    /// We hung up (PPP ended, idle, admin, shutdown).
    AdminShutdown,
    /// Answering the client's Call-Clear-Request.
    Request,
}

/// Call-Disconnect-Notify (148 bytes into `out`) for our call `call_id` — the PAC's own
/// ID, as the RFC says and pptp-linux expects (accel-ppp's client ID is a bug).
/// `statistics` is free ASCII, truncated to 128 bytes.
pub fn call_disconnect_notify(
    call_id: u16,
    result: DisconnectResult,
    statistics: &[u8],
    out: &mut [u8],
) -> wire::Result<usize> {
    let (result_code, error) = match result {
        DisconnectResult::LostCarrier => (disconnect_result::LOST_CARRIER, error_code::NONE),
        DisconnectResult::GeneralError(e) => (disconnect_result::GENERAL_ERROR, e),
        DisconnectResult::AdminShutdown => (disconnect_result::ADMIN_SHUTDOWN, error_code::NONE),
        DisconnectResult::Request => (disconnect_result::REQUEST, error_code::NONE),
    };
    let kind = MessageType::CallDisconnectNotify;
    let mut m = pptp::emit_message(out, kind)?;
    m.set_u16_at(12, call_id);
    m.set_u8_at(14, result_code);
    m.set_u8_at(15, error);
    // Cause Code (16) and Reserved1 (18) stay 0.
    m.set_str_at(20, STATISTICS_LEN, statistics);
    Ok(kind.message_len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rand::{Random, XorShift};
    use crate::wire::pptp::{Repr, MAX_MESSAGE_LEN};

    fn at(secs: i64) -> Instant {
        Instant::from_secs(secs)
    }

    fn msg(repr: &Repr) -> ([u8; MAX_MESSAGE_LEN], usize) {
        let mut buf = [0u8; MAX_MESSAGE_LEN];
        let len = repr.emit_into(&mut buf).unwrap();
        (buf, len)
    }

    fn sccrq(version: u16) -> Repr<'static> {
        Repr::StartControlConnectionRequest {
            protocol_version: version,
            framing_capabilities: 1,
            bearer_capabilities: 1,
            maximum_channels: 0,
            firmware_revision: 0,
            host_name: b"",
            vendor: b"Microsoft Windows NT",
        }
    }

    fn ocrq(call_id: u16) -> Repr<'static> {
        Repr::OutgoingCallRequest {
            call_id,
            call_serial: 3,
            minimum_bps: 300,
            maximum_bps: 100_000_000,
            bearer_type: 3,
            framing_type: 3,
            recv_window: 64,
            processing_delay: 0,
            phone_number: b"",
            subaddress: b"",
        }
    }

    /// Feed `repr` and return the output plus the parsed reply, if any.
    fn feed<'b>(
        conn: &mut ControlConnection,
        now: Instant,
        repr: &Repr,
        reply: &'b mut [u8; MAX_MESSAGE_LEN],
    ) -> (Output, Option<Repr<'b>>) {
        let (m, len) = msg(repr);
        let out = conn.handle(now, &m[..len], reply);
        let parsed = (out.reply_len > 0)
            .then(|| Repr::parse(&Packet::new_checked(&reply[..out.reply_len]).unwrap()).unwrap());
        (out, parsed)
    }

    fn established(now: Instant) -> ControlConnection {
        let mut conn = ControlConnection::new(now, Duration::from_secs(10));
        let mut reply = [0u8; MAX_MESSAGE_LEN];
        feed(&mut conn, now, &sccrq(0x0100), &mut reply);
        assert!(conn.is_established());
        conn
    }

    #[test]
    fn start_request_gets_reply_result_1() {
        let mut conn = ControlConnection::new(at(0), Duration::from_secs(10));
        assert_eq!(conn.state(), State::Idle);
        let mut reply = [0u8; MAX_MESSAGE_LEN];
        let (out, parsed) = feed(&mut conn, at(1), &sccrq(0x0100), &mut reply);
        assert_eq!(out.reply_len, 156);
        assert_eq!(out.event, None);
        assert_eq!(
            parsed.unwrap(),
            Repr::StartControlConnectionReply {
                protocol_version: 0x0100,
                result_code: 1,
                error_code: 0,
                framing_capabilities: 3,
                bearer_capabilities: 3,
                maximum_channels: MAX_SESSIONS as u16,
                firmware_revision: 1,
                host_name: HOST_NAME,
                vendor: VENDOR,
            }
        );
        assert_eq!(conn.state(), State::Established);
    }

    #[test]
    fn bad_version_gets_result_5_and_closes() {
        let mut conn = ControlConnection::new(at(0), Duration::from_secs(10));
        let mut reply = [0u8; MAX_MESSAGE_LEN];
        let (out, parsed) = feed(&mut conn, at(1), &sccrq(0x0200), &mut reply);
        match parsed.unwrap() {
            Repr::StartControlConnectionReply {
                result_code,
                protocol_version,
                ..
            } => assert_eq!((result_code, protocol_version), (5, 0x0100)),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            out.event,
            Some(ControlEvent::Closed(CloseReason::UnsupportedVersion(
                0x0200
            )))
        );
        assert!(conn.is_closed());
    }

    #[test]
    fn second_start_request_gets_result_3_and_stays_up() {
        let mut conn = established(at(0));
        let mut reply = [0u8; MAX_MESSAGE_LEN];
        let (out, parsed) = feed(&mut conn, at(1), &sccrq(0x0100), &mut reply);
        assert!(matches!(
            parsed.unwrap(),
            Repr::StartControlConnectionReply { result_code: 3, .. }
        ));
        assert_eq!(out.event, None);
        assert!(conn.is_established());
    }

    #[test]
    fn outgoing_call_before_start_is_refused_not_connected() {
        let mut conn = ControlConnection::new(at(0), Duration::from_secs(10));
        let mut reply = [0u8; MAX_MESSAGE_LEN];
        let (out, parsed) = feed(&mut conn, at(1), &ocrq(0x4242), &mut reply);
        assert_eq!(out.reply_len, 32);
        assert_eq!(out.event, None);
        assert!(matches!(
            parsed.unwrap(),
            Repr::OutgoingCallReply {
                result_code: 2,
                error_code: 1,
                ..
            }
        ));
        assert_eq!(
            &reply[12..20],
            &[0, 0, 0x42, 0x42, 2, 1, 0, 0],
            "call 0, peer 0x4242, result 2, error 1"
        );
        assert_eq!(conn.state(), State::Idle);
    }

    #[test]
    fn garbage_closes() {
        for bad in [&[0u8; 3][..], &[0xFF; 16], &[0; 156]] {
            let mut conn = established(at(0));
            let mut reply = [0u8; MAX_MESSAGE_LEN];
            let out = conn.handle(at(1), bad, &mut reply);
            assert!(matches!(
                out.event,
                Some(ControlEvent::Closed(CloseReason::BadMessage(_)))
            ));
            assert_eq!(out.reply_len, 0);
            assert!(conn.is_closed());
            // Closed stays closed and silent.
            let (m, len) = msg(&sccrq(0x0100));
            assert_eq!(conn.handle(at(2), &m[..len], &mut reply), Output::default());
            assert_eq!(conn.poll_at(), None);
        }
        // Bad magic cookie.
        let mut conn = ControlConnection::new(at(0), Duration::from_secs(10));
        let (mut m, len) = msg(&sccrq(0x0100));
        m[7] ^= 1;
        let out = conn.handle(at(1), &m[..len], &mut [0u8; MAX_MESSAGE_LEN]);
        assert_eq!(
            out.event,
            Some(ControlEvent::Closed(CloseReason::BadMessage(
                wire::Error::Malformed
            )))
        );
    }

    #[test]
    fn echo_request_is_answered() {
        let mut conn = established(at(0));
        let mut reply = [0u8; MAX_MESSAGE_LEN];
        let (out, parsed) = feed(
            &mut conn,
            at(5),
            &Repr::EchoRequest {
                identifier: 0xCAFEF00D,
            },
            &mut reply,
        );
        assert_eq!(out.reply_len, 20);
        assert_eq!(
            parsed.unwrap(),
            Repr::EchoReply {
                identifier: 0xCAFEF00D,
                result_code: 1,
                error_code: 0
            }
        );
    }

    #[test]
    fn keepalive_sends_echo_and_closes_without_answer() {
        let mut conn = established(at(0));
        let mut out = [0u8; MAX_MESSAGE_LEN];
        assert_eq!(conn.poll_at(), Some(at(60)));
        assert_eq!(conn.poll(at(59), &mut out), Output::default());
        let o = conn.poll(at(60), &mut out);
        assert_eq!(o.event, None);
        let echo = Repr::parse(&Packet::new_checked(o.reply(&out)).unwrap()).unwrap();
        assert!(matches!(echo, Repr::EchoRequest { .. }));
        assert_eq!(conn.poll_at(), Some(at(120)));
        // Nothing sent twice while waiting.
        assert_eq!(conn.poll(at(100), &mut out), Output::default());
        let o = conn.poll(at(120), &mut out);
        assert_eq!(
            o.event,
            Some(ControlEvent::Closed(CloseReason::EchoTimeout))
        );
        assert!(conn.is_closed());
    }

    #[test]
    fn any_message_answers_the_keepalive() {
        let mut conn = established(at(0));
        let mut out = [0u8; MAX_MESSAGE_LEN];
        let o = conn.poll(at(60), &mut out);
        let id = match Repr::parse(&Packet::new_checked(o.reply(&out)).unwrap()).unwrap() {
            Repr::EchoRequest { identifier } => identifier,
            other => panic!("{other:?}"),
        };
        let mut reply = [0u8; MAX_MESSAGE_LEN];
        let echo_reply = Repr::EchoReply {
            identifier: id,
            result_code: 1,
            error_code: 0,
        };
        let (o, _) = feed(&mut conn, at(70), &echo_reply, &mut reply);
        assert_eq!(o, Output::default());
        assert_eq!(conn.poll_at(), Some(at(130)));
        assert_eq!(conn.poll(at(120), &mut out), Output::default());
        // A Set-Link-Info also counts as life.
        conn.poll(at(130), &mut out);
        let sli = Repr::SetLinkInfo {
            peer_call_id: 1,
            send_accm: u32::MAX,
            recv_accm: u32::MAX,
        };
        feed(&mut conn, at(131), &sli, &mut reply);
        assert_eq!(conn.poll_at(), Some(at(191)));
        assert!(conn.is_established());
    }

    #[test]
    fn idle_times_out_without_start_request() {
        let mut conn = ControlConnection::new(at(100), Duration::from_secs(10));
        let mut out = [0u8; MAX_MESSAGE_LEN];
        assert_eq!(conn.poll_at(), Some(at(110)));
        assert_eq!(conn.poll(at(109), &mut out), Output::default());
        assert_eq!(
            conn.poll(at(110), &mut out).event,
            Some(ControlEvent::Closed(CloseReason::NoStartRequest))
        );
        // An absurd stimeout does not overflow.
        let conn = ControlConnection::new(at(0), Duration::MAX);
        assert!(conn.poll_at().unwrap() > at(0));
    }

    #[test]
    fn peer_stop_request_is_answered_then_closed() {
        let mut conn = established(at(0));
        let mut reply = [0u8; MAX_MESSAGE_LEN];
        let (out, parsed) = feed(
            &mut conn,
            at(1),
            &Repr::StopControlConnectionRequest { reason: 1 },
            &mut reply,
        );
        assert_eq!(out.reply_len, 16);
        assert_eq!(
            parsed.unwrap(),
            Repr::StopControlConnectionReply {
                result_code: 1,
                error_code: 0
            }
        );
        assert_eq!(
            out.event,
            Some(ControlEvent::Closed(CloseReason::PeerStopped(1)))
        );
        assert!(conn.is_closed());
    }

    #[test]
    fn local_stop_waits_for_reply() {
        let mut conn = established(at(0));
        let mut out = [0u8; MAX_MESSAGE_LEN];
        let o = conn.begin_stop(at(5), &mut out);
        assert_eq!(o.reply_len, 16);
        assert_eq!(o.reply(&out)[12], stop_reason::NONE);
        assert_eq!(conn.state(), State::WaitStopReply);
        assert_eq!(conn.poll_at(), Some(at(15)));
        // Echo still answered, calls ignored while stopping.
        let mut reply = [0u8; MAX_MESSAGE_LEN];
        let (o, _) = feed(
            &mut conn,
            at(6),
            &Repr::EchoRequest { identifier: 1 },
            &mut reply,
        );
        assert_eq!(o.reply_len, 20);
        let (o, _) = feed(&mut conn, at(6), &ocrq(9), &mut reply);
        assert_eq!(o, Output::default());
        // A second begin_stop does nothing.
        assert_eq!(conn.begin_stop(at(7), &mut out), Output::default());
        let stop_reply = Repr::StopControlConnectionReply {
            result_code: 1,
            error_code: 0,
        };
        let (o, _) = feed(&mut conn, at(8), &stop_reply, &mut reply);
        assert_eq!(o.event, Some(ControlEvent::Closed(CloseReason::Stopped)));
        assert!(conn.is_closed());
    }

    #[test]
    fn local_stop_times_out_after_10s() {
        let mut conn = established(at(0));
        let mut out = [0u8; MAX_MESSAGE_LEN];
        conn.begin_stop(at(5), &mut out);
        assert_eq!(conn.poll(at(14), &mut out), Output::default());
        assert_eq!(
            conn.poll(at(15), &mut out).event,
            Some(ControlEvent::Closed(CloseReason::StopTimeout))
        );
    }

    #[test]
    fn stop_before_established_just_closes() {
        let mut conn = ControlConnection::new(at(0), Duration::from_secs(10));
        let o = conn.begin_stop(at(1), &mut [0u8; MAX_MESSAGE_LEN]);
        assert_eq!(o.reply_len, 0);
        assert_eq!(o.event, Some(ControlEvent::Closed(CloseReason::Shutdown)));
    }

    #[test]
    fn stray_stop_reply_when_established_is_ignored() {
        let mut conn = established(at(0));
        let stop_reply = Repr::StopControlConnectionReply {
            result_code: 1,
            error_code: 0,
        };
        let (o, _) = feed(&mut conn, at(1), &stop_reply, &mut [0u8; MAX_MESSAGE_LEN]);
        assert_eq!(o, Output::default());
        assert!(conn.is_established());
    }

    #[test]
    fn call_messages_become_events() {
        let mut conn = established(at(0));
        let mut reply = [0u8; MAX_MESSAGE_LEN];
        // Two calls on one connection, as pptp-linux may do.
        for id in [0x4000, 0x4001] {
            let (o, _) = feed(&mut conn, at(1), &ocrq(id), &mut reply);
            assert_eq!(o.reply_len, 0);
            assert_eq!(
                o.event,
                Some(ControlEvent::OutgoingCall(OutgoingCall {
                    peer_call_id: id,
                    serial: 3,
                    min_bps: 300,
                    max_bps: 100_000_000,
                    window: 64,
                    processing_delay: 0,
                    bearer_type: 3,
                    framing_type: 3,
                }))
            );
        }
        let (o, _) = feed(
            &mut conn,
            at(2),
            &Repr::CallClearRequest { call_id: 0x4000 },
            &mut reply,
        );
        assert_eq!(
            o.event,
            Some(ControlEvent::CallClear {
                peer_call_id: 0x4000
            })
        );
        let sli = Repr::SetLinkInfo {
            peer_call_id: 77,
            send_accm: 0,
            recv_accm: 0xA0000,
        };
        let (o, _) = feed(&mut conn, at(3), &sli, &mut reply);
        assert_eq!(
            o.event,
            Some(ControlEvent::SetLinkInfo {
                call_id: 77,
                send_accm: 0,
                recv_accm: 0xA0000
            })
        );
        assert_eq!(o.reply_len, 0);
    }

    #[test]
    fn incoming_calls_and_wan_errors_are_ignored() {
        let mut conn = established(at(0));
        let ignored = [
            Repr::IncomingCallRequest {
                call_id: 1,
                call_serial: 1,
                bearer_type: 1,
                physical_channel_id: 0,
                dialed_number: b"",
                dialing_number: b"",
                subaddress: b"",
            },
            Repr::IncomingCallReply {
                call_id: 1,
                peer_call_id: 2,
                result_code: 1,
                error_code: 0,
                recv_window: 1,
                transmit_delay: 0,
            },
            Repr::IncomingCallConnected {
                peer_call_id: 1,
                connect_speed: 1,
                recv_window: 1,
                transmit_delay: 0,
                framing_type: 1,
            },
            Repr::WanErrorNotify {
                peer_call_id: 1,
                crc_errors: 1,
                framing_errors: 0,
                hardware_overruns: 0,
                buffer_overruns: 0,
                timeout_errors: 0,
                alignment_errors: 0,
            },
            Repr::CallDisconnectNotify {
                call_id: 1,
                result_code: 1,
                error_code: 0,
                cause_code: 0,
                call_statistics: b"",
            },
        ];
        for repr in ignored {
            let (o, _) = feed(&mut conn, at(1), &repr, &mut [0u8; MAX_MESSAGE_LEN]);
            assert_eq!(o, Output::default(), "{}", repr.message_type());
        }
        assert!(conn.is_established());
    }

    #[test]
    fn accept_call_byte_exact() {
        let call = OutgoingCall {
            peer_call_id: 0x8001,
            serial: 1,
            min_bps: 300,
            max_bps: 100_000_000,
            window: 0,
            processing_delay: 0,
            bearer_type: 3,
            framing_type: 3,
        };
        let mut out = [0u8; MAX_MESSAGE_LEN];
        assert_eq!(accept_call(0x1234, &call, &mut out), Ok(32));
        assert_eq!(
            &out[..32],
            &[
                0x00, 0x20, 0x00, 0x01, 0x1A, 0x2B, 0x3C, 0x4D, 0x00, 0x08, 0x00,
                0x00, // header
                0x12, 0x34, 0x80, 0x01, 1, 0, 0x00, 0x00, // ids, result, error, cause
                0x05, 0xF5, 0xE1, 0x00, 0x00, 0x40, 0x00, 0x00, // speed, window 64, delay
                0, 0, 0, 0, // physical channel
            ]
        );
        let call = OutgoingCall { window: 16, ..call };
        accept_call(1, &call, &mut out).unwrap();
        assert_eq!(&out[24..26], &[0, 16]);
        assert_eq!(
            accept_call(1, &call, &mut out[..31]),
            Err(wire::Error::Exhausted)
        );
    }

    #[test]
    fn refusals() {
        let mut out = [0u8; MAX_MESSAGE_LEN];
        assert_eq!(
            refuse_call(0x8001, CallRefusal::NoResource, &mut out),
            Ok(32)
        );
        assert_eq!(&out[12..18], &[0, 0, 0x80, 0x01, 2, 4]);
        refuse_call(0x8001, CallRefusal::DoNotAccept, &mut out).unwrap();
        assert_eq!(&out[12..18], &[0, 0, 0x80, 0x01, 7, 0]);
    }

    #[test]
    fn call_disconnect_notify_byte_exact() {
        let mut out = [0u8; MAX_MESSAGE_LEN];
        let len = call_disconnect_notify(
            0x1234,
            DisconnectResult::Request,
            b"sent 1 received 2",
            &mut out,
        )
        .unwrap();
        assert_eq!(len, 148);
        assert_eq!(
            &out[..12],
            &[0, 148, 0, 1, 0x1A, 0x2B, 0x3C, 0x4D, 0, 13, 0, 0]
        );
        assert_eq!(&out[12..20], &[0x12, 0x34, 4, 0, 0, 0, 0, 0]);
        assert_eq!(&out[20..37], b"sent 1 received 2");
        assert!(out[37..148].iter().all(|&b| b == 0));
        for (result, code, error) in [
            (DisconnectResult::LostCarrier, 1, 0),
            (DisconnectResult::GeneralError(error_code::PAC_ERROR), 2, 6),
            (DisconnectResult::AdminShutdown, 3, 0),
        ] {
            call_disconnect_notify(7, result, b"", &mut out).unwrap();
            assert_eq!(&out[14..16], &[code, error]);
        }
    }

    #[test]
    fn small_reply_buffer_does_not_panic() {
        let mut conn = ControlConnection::new(at(0), Duration::from_secs(10));
        let (m, len) = msg(&sccrq(0x0100));
        let out = conn.handle(at(1), &m[..len], &mut [0u8; 20]);
        assert_eq!(out.reply_len, 0);
        assert!(conn.is_established());
    }

    #[test]
    fn random_and_mutated_messages_never_panic() {
        let mut rng = XorShift(0xC0_7201);
        let seeds = [
            msg(&sccrq(0x0100)),
            msg(&ocrq(5)),
            msg(&Repr::EchoRequest { identifier: 1 }),
            msg(&Repr::CallClearRequest { call_id: 5 }),
            msg(&Repr::StopControlConnectionRequest { reason: 1 }),
        ];
        let mut reply = [0u8; MAX_MESSAGE_LEN];
        let mut conn = ControlConnection::new(at(0), Duration::from_secs(10));
        let mut now = 0i64;
        for _ in 0..20_000 {
            if conn.is_closed() {
                conn = ControlConnection::new(at(now), Duration::from_secs(10));
                let (m, len) = &seeds[0];
                conn.handle(at(now), &m[..*len], &mut reply);
            }
            now += i64::from(rng.next_u32() % 20);
            let (mut m, mut len) = seeds[(rng.next_u32() % 5) as usize];
            match rng.next_u32() % 4 {
                0 => {
                    let at = rng.next_u32() as usize % len;
                    m[at] = rng.next_u32() as u8;
                }
                1 => len = rng.next_u32() as usize % (MAX_MESSAGE_LEN + 1),
                2 => rng.fill_bytes(&mut m[12..len]),
                _ => {}
            }
            let out = conn.handle(at(now), &m[..len], &mut reply);
            assert!(out.reply_len <= MAX_MESSAGE_LEN);
            if out.reply_len > 0 {
                let p = Packet::new_checked(out.reply(&reply)).unwrap();
                assert!(p.message_type() != Some(MessageType::OutgoingCallRequest));
            }
            let _ = conn.poll(at(now), &mut reply);
        }
    }

    /// The server reads and writes messages field by field at their offsets rather than
    /// through `Repr`: on random messages, what `handle` takes from a message is what
    /// `Repr::parse` reads, and every reply is byte for byte what `Repr::emit_into` writes.
    #[test]
    fn field_access_matches_repr() {
        let mut rng = XorShift(0xC0DE_1723);
        let mut statistics = [0u8; 200];
        for _ in 0..3000 {
            let (a, b, c, d) = (
                rng.next_u32(),
                rng.next_u32(),
                rng.next_u32(),
                rng.next_u32(),
            );
            let (a16, b16) = (a as u16, b as u16);
            // Requests in, with random fields: the event carries the parsed values.
            let mut conn = established(at(0));
            let mut reply = [0u8; MAX_MESSAGE_LEN];
            let request = Repr::OutgoingCallRequest {
                call_id: a16,
                call_serial: b16,
                minimum_bps: c,
                maximum_bps: d,
                bearer_type: a,
                framing_type: b,
                recv_window: (c >> 16) as u16,
                processing_delay: (d >> 16) as u16,
                phone_number: b"123",
                subaddress: b"",
            };
            let (out, _) = feed(&mut conn, at(1), &request, &mut reply);
            assert_eq!(
                out.event,
                Some(ControlEvent::OutgoingCall(OutgoingCall {
                    peer_call_id: a16,
                    serial: b16,
                    min_bps: c,
                    max_bps: d,
                    window: (c >> 16) as u16,
                    processing_delay: (d >> 16) as u16,
                    bearer_type: a,
                    framing_type: b,
                }))
            );
            let sli = Repr::SetLinkInfo {
                peer_call_id: a16,
                send_accm: c,
                recv_accm: d,
            };
            let (out, _) = feed(&mut conn, at(1), &sli, &mut reply);
            assert_eq!(
                out.event,
                Some(ControlEvent::SetLinkInfo {
                    call_id: a16,
                    send_accm: c,
                    recv_accm: d,
                })
            );
            let (out, _) = feed(
                &mut conn,
                at(1),
                &Repr::CallClearRequest { call_id: b16 },
                &mut reply,
            );
            assert_eq!(
                out.event,
                Some(ControlEvent::CallClear { peer_call_id: b16 })
            );
            let echo = Repr::EchoRequest { identifier: d };
            let (_, parsed) = feed(&mut conn, at(1), &echo, &mut reply);
            let expected = Repr::EchoReply {
                identifier: d,
                result_code: reply_result::OK,
                error_code: error_code::NONE,
            };
            assert_eq!(parsed, Some(expected));
            assert_eq!(reply[..20], msg(&expected).0[..20]);
            // Replies out: the bytes Repr writes.
            let call = OutgoingCall {
                peer_call_id: a16,
                serial: 0,
                min_bps: 0,
                max_bps: c,
                window: if d & 1 == 0 { 0 } else { b16 },
                processing_delay: 0,
                bearer_type: 0,
                framing_type: 0,
            };
            let mut out = [0xAAu8; MAX_MESSAGE_LEN];
            assert_eq!(accept_call(b16, &call, &mut out), Ok(32));
            let expected = Repr::OutgoingCallReply {
                call_id: b16,
                peer_call_id: a16,
                result_code: outgoing_result::CONNECTED,
                error_code: error_code::NONE,
                cause_code: 0,
                connect_speed: c,
                recv_window: if call.window == 0 {
                    DEFAULT_WINDOW
                } else {
                    b16
                },
                processing_delay: 0,
                physical_channel_id: 0,
            };
            assert_eq!(out[..32], msg(&expected).0[..32]);
            let refusal = if d & 2 == 0 {
                CallRefusal::NoResource
            } else {
                CallRefusal::DoNotAccept
            };
            assert_eq!(refuse_call(a16, refusal, &mut out), Ok(32));
            let (result_code, error) = match refusal {
                CallRefusal::NoResource => {
                    (outgoing_result::GENERAL_ERROR, error_code::NO_RESOURCE)
                }
                CallRefusal::DoNotAccept => (outgoing_result::DO_NOT_ACCEPT, error_code::NONE),
            };
            let expected = Repr::OutgoingCallReply {
                call_id: 0,
                peer_call_id: a16,
                result_code,
                error_code: error,
                cause_code: 0,
                connect_speed: 0,
                recv_window: 0,
                processing_delay: 0,
                physical_channel_id: 0,
            };
            assert_eq!(out[..32], msg(&expected).0[..32]);
            let n = (c as usize) % statistics.len();
            rng.fill_bytes(&mut statistics[..n]);
            let result = match d % 4 {
                0 => DisconnectResult::LostCarrier,
                1 => DisconnectResult::GeneralError(b as u8),
                2 => DisconnectResult::AdminShutdown,
                _ => DisconnectResult::Request,
            };
            assert_eq!(
                call_disconnect_notify(a16, result, &statistics[..n], &mut out),
                Ok(148)
            );
            let (result_code, error) = match result {
                DisconnectResult::LostCarrier => (disconnect_result::LOST_CARRIER, 0),
                DisconnectResult::GeneralError(e) => (disconnect_result::GENERAL_ERROR, e),
                DisconnectResult::AdminShutdown => (disconnect_result::ADMIN_SHUTDOWN, 0),
                DisconnectResult::Request => (disconnect_result::REQUEST, 0),
            };
            let expected = Repr::CallDisconnectNotify {
                call_id: a16,
                result_code,
                error_code: error,
                cause_code: 0,
                call_statistics: &statistics[..n],
            };
            assert_eq!(out[..148], msg(&expected).0[..148]);
            // The connection's own replies and requests.
            let mut conn = ControlConnection::new(at(0), Duration::from_secs(10));
            let version = if a & 1 == 0 {
                pptp::PROTOCOL_VERSION
            } else {
                a16
            };
            let (m, len) = msg(&sccrq(version));
            let o = conn.handle(at(0), &m[..len], &mut out);
            let expected = Repr::StartControlConnectionReply {
                protocol_version: pptp::PROTOCOL_VERSION,
                result_code: if version == pptp::PROTOCOL_VERSION {
                    start_result::SUCCESS
                } else {
                    start_result::BAD_VERSION
                },
                error_code: error_code::NONE,
                framing_capabilities: 3,
                bearer_capabilities: 3,
                maximum_channels: u16::try_from(MAX_SESSIONS).unwrap_or(u16::MAX),
                firmware_revision: FIRMWARE_REVISION,
                host_name: HOST_NAME,
                vendor: VENDOR,
            };
            assert_eq!(o.reply(&out), &msg(&expected).0[..156]);
        }
        let mut conn = ControlConnection::new(at(0), Duration::from_secs(10));
        let mut out = [0u8; MAX_MESSAGE_LEN];
        let o = conn.handle(at(0), &msg(&ocrq(9)).0[..168], &mut out);
        assert_eq!(o.reply(&out), &msg(&call_reply_repr(9)).0[..32]);
        let mut conn = established(at(0));
        let o = conn.poll(at(61), &mut out);
        let expected = Repr::EchoRequest { identifier: 1 };
        assert_eq!(o.reply(&out), &msg(&expected).0[..16]);
        let o = conn.begin_stop(at(62), &mut out);
        let expected = Repr::StopControlConnectionRequest { reason: 1 };
        assert_eq!(o.reply(&out), &msg(&expected).0[..16]);
        let mut conn = established(at(0));
        let (m, len) = msg(&Repr::StopControlConnectionRequest { reason: 3 });
        let o = conn.handle(at(1), &m[..len], &mut out);
        let expected = Repr::StopControlConnectionReply {
            result_code: 1,
            error_code: 0,
        };
        assert_eq!(o.reply(&out), &msg(&expected).0[..16]);
        // A buffer too small for the reply: nothing sent, as before.
        let mut conn = established(at(0));
        let (m, len) = msg(&Repr::EchoRequest { identifier: 5 });
        assert_eq!(conn.handle(at(1), &m[..len], &mut out[..19]).reply_len, 0);
        assert_eq!(
            accept_call(
                1,
                &OutgoingCall {
                    peer_call_id: 1,
                    serial: 0,
                    min_bps: 0,
                    max_bps: 0,
                    window: 0,
                    processing_delay: 0,
                    bearer_type: 0,
                    framing_type: 0,
                },
                &mut out[..31]
            ),
            Err(wire::Error::Exhausted)
        );
    }

    #[test]
    fn close_reasons_read_as_before() {
        let text = |r: CloseReason| format!("{r}");
        assert_eq!(
            text(CloseReason::BadMessage(wire::Error::Malformed)),
            "bad control message (malformed)"
        );
        assert_eq!(
            text(CloseReason::PeerStopped(3)),
            "Stop-Control-Connection-Request from peer (reason 3)"
        );
        assert_eq!(
            text(CloseReason::PeerStopped(255)),
            "Stop-Control-Connection-Request from peer (reason 255)"
        );
        assert_eq!(
            text(CloseReason::UnsupportedVersion(0x200)),
            "unsupported PPTP protocol version 0x0200"
        );
    }

    fn call_reply_repr(peer_call_id: u16) -> Repr<'static> {
        Repr::OutgoingCallReply {
            call_id: 0,
            peer_call_id,
            result_code: outgoing_result::GENERAL_ERROR,
            error_code: error_code::NOT_CONNECTED,
            cause_code: 0,
            connect_speed: 0,
            recv_window: 0,
            processing_delay: 0,
            physical_channel_id: 0,
        }
    }
}
