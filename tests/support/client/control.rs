//! The PPTP control connection, PNS side (RFC 2637 §3.1, §3.2.3): SCCRQ → OCRQ → call up;
//! Echo-Request answered; CCRQ → CDN → StopCCRQ → StopCCRP on the way out. The TCP byte
//! stream is framed here with the Length field.

use smolpptp::wire::pptp::{self, Packet, Repr};
use smoltcp::time::{Duration, Instant};

use super::{Client, Failure, Phase, State};

/// How long the orderly teardown waits for each reply before moving on.
const TEARDOWN_REPLY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ControlState {
    /// SCCRQ not sent yet.
    Start,
    WaitStartReply,
    WaitCallReply,
    CallUp,
    /// Call-Clear-Request sent, waiting for Call-Disconnect-Notify.
    WaitDisconnect,
    /// Control connection up, no call (call refused or cleared).
    NoCall,
    WaitStopReply,
    Closed,
}

pub(super) struct Control {
    pub state: ControlState,
    pub peer_call_id: Option<u16>,
    pub deadline: Option<Instant>,
    /// Bytes received but not yet a whole message.
    rx: Vec<u8>,
    /// Bytes to write to TCP (whole messages; may leave in pieces).
    tx: Vec<u8>,
    /// Set after a fatal stream error: ignore everything that follows.
    desynchronised: bool,
}

impl Control {
    pub fn new() -> Control {
        Control {
            state: ControlState::Start,
            peer_call_id: None,
            deadline: None,
            rx: Vec::new(),
            tx: Vec::new(),
            desynchronised: false,
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

impl Client {
    /// Bytes to write to the TCP connection, at most `out.len()` (the rest comes next time).
    pub fn poll_control(&mut self, now: Instant, out: &mut [u8]) -> Option<usize> {
        self.tick(now);
        if self.control.state == ControlState::Start {
            let host = self.config.host_name.clone();
            let vendor = self.config.vendor.clone();
            self.send_control(&Repr::StartControlConnectionRequest {
                protocol_version: pptp::PROTOCOL_VERSION,
                framing_capabilities: pptp::framing::ASYNC | pptp::framing::SYNC,
                bearer_capabilities: pptp::bearer::ANALOG | pptp::bearer::DIGITAL,
                maximum_channels: 0,
                firmware_revision: 1,
                host_name: host.as_bytes(),
                vendor: vendor.as_bytes(),
            });
            self.control.state = ControlState::WaitStartReply;
            self.control.deadline = Some(now + self.config.control_reply_timeout);
        }
        if self.control.tx.is_empty() || out.is_empty() {
            return None;
        }
        let n = out.len().min(self.control.tx.len());
        out[..n].copy_from_slice(&self.control.tx[..n]);
        self.control.tx.drain(..n);
        Some(n)
    }

    /// True once the control connection is over and everything has been written: the
    /// caller may close the TCP connection.
    pub fn control_done(&self) -> bool {
        self.control.state == ControlState::Closed && self.control.tx.is_empty()
    }

    /// Bytes read from the TCP connection (any split).
    pub fn handle_control(&mut self, now: Instant, bytes: &[u8]) {
        self.tick(now);
        if self.control.desynchronised || self.control.state == ControlState::Closed {
            return;
        }
        self.control.rx.extend_from_slice(bytes);
        loop {
            let len = match pptp::frame_len(&self.control.rx) {
                Ok(Some(len)) if len <= self.control.rx.len() => len,
                Ok(_) => return,
                Err(e) => {
                    let head: Vec<u8> = self.control.rx.iter().take(12).copied().collect();
                    return self.control_stream_broken(
                        now,
                        format!("bad control header {head:02x?}: {e}"),
                    );
                }
            };
            let message: Vec<u8> = self.control.rx.drain(..len).collect();
            self.counters.control_rx += 1;
            let parsed = Packet::new_checked(&message[..]).and_then(|p| Repr::parse(&p));
            match parsed {
                Ok(repr) => self.control_message(now, &repr),
                Err(e) => {
                    return self.control_stream_broken(
                        now,
                        format!("unparsable control message {message:02x?}: {e}"),
                    );
                }
            }
            if self.control.desynchronised || self.control.state == ControlState::Closed {
                return;
            }
        }
    }

    /// The TCP connection was closed or reset under us.
    pub fn control_closed(&mut self, now: Instant) {
        self.tick(now);
        if self.control.state == ControlState::Closed {
            return;
        }
        self.trace(format_args!("control connection closed by the server"));
        if !matches!(self.control.state, ControlState::WaitStopReply) && !self.is_finished() {
            self.violation(format!(
                "TCP closed without Stop-Control-Connection-Request (control state {:?})",
                self.control.state
            ));
        }
        self.control.state = ControlState::Closed;
        self.control.deadline = None;
        self.control.peer_call_id = None;
        self.control.tx.clear();
        self.session_over(Some("control connection closed by the server".into()));
    }

    /// RFC 2637 §1.4/§3: a malformed message means the stream is lost; close.
    fn control_stream_broken(&mut self, now: Instant, what: String) {
        self.control.desynchronised = true;
        self.fail(now, Failure::ControlProtocol(what));
        self.control.state = ControlState::Closed;
        self.control.deadline = None;
    }

    fn send_control(&mut self, repr: &Repr) {
        let mut buf = [0u8; pptp::MAX_MESSAGE_LEN];
        match repr.emit_into(&mut buf) {
            Ok(len) => {
                self.trace(format_args!("TCP > {repr:?}"));
                self.control.tx.extend_from_slice(&buf[..len]);
                self.counters.control_tx += 1;
            }
            Err(e) => panic!("test client cannot emit {repr:?}: {e}"),
        }
    }

    fn control_message(&mut self, now: Instant, repr: &Repr) {
        self.trace(format_args!("TCP < {repr:?}"));
        use ControlState as S;
        match (*repr, self.control.state) {
            (
                Repr::StartControlConnectionReply {
                    protocol_version,
                    result_code,
                    error_code,
                    ..
                },
                S::WaitStartReply,
            ) => {
                if result_code != pptp::start_result::SUCCESS {
                    self.control.state = S::Closed;
                    self.control.deadline = None;
                    return self.fail(
                        now,
                        Failure::StartRejected {
                            result: result_code,
                            error: error_code,
                        },
                    );
                }
                if protocol_version != pptp::PROTOCOL_VERSION {
                    self.violation(format!("SCCRP protocol version {protocol_version:#06x}"));
                }
                self.send_control(&Repr::OutgoingCallRequest {
                    call_id: self.config.call_id,
                    call_serial: self.config.call_serial,
                    minimum_bps: 300,
                    maximum_bps: self.config.maximum_bps,
                    bearer_type: 3,
                    framing_type: 3,
                    recv_window: self.config.window,
                    processing_delay: 0,
                    phone_number: b"",
                    subaddress: b"",
                });
                self.control.state = S::WaitCallReply;
                self.control.deadline = Some(now + self.config.control_reply_timeout);
            }
            (
                Repr::OutgoingCallReply {
                    call_id,
                    peer_call_id,
                    result_code,
                    error_code,
                    ..
                },
                S::WaitCallReply,
            ) => {
                if peer_call_id != self.config.call_id {
                    return self.control_stream_broken(
                        now,
                        format!(
                            "OCRP Peer's Call ID {peer_call_id:#06x}, ours is {:#06x}",
                            self.config.call_id
                        ),
                    );
                }
                self.control.deadline = None;
                if result_code != pptp::outgoing_result::CONNECTED {
                    self.control.state = S::NoCall;
                    return self.fail(
                        now,
                        Failure::CallRejected {
                            result: result_code,
                            error: error_code,
                        },
                    );
                }
                self.control.state = S::CallUp;
                self.control.peer_call_id = Some(call_id);
                if self.config.send_set_link_info {
                    self.send_control(&Repr::SetLinkInfo {
                        peer_call_id: call_id,
                        send_accm: 0xFFFF_FFFF,
                        recv_accm: 0xFFFF_FFFF,
                    });
                    self.counters.set_link_info_tx += 1;
                }
                self.call_connected(now);
            }
            (Repr::EchoRequest { identifier }, _) => {
                self.counters.control_echo_requests_rx += 1;
                if self.config.answer_control_echo {
                    self.send_control(&Repr::EchoReply {
                        identifier,
                        result_code: pptp::reply_result::OK,
                        error_code: 0,
                    });
                }
            }
            (Repr::EchoReply { .. }, _) => self.counters.control_echo_replies_rx += 1,
            (Repr::WanErrorNotify { peer_call_id, .. }, _) => {
                self.counters.wan_error_notify_rx += 1;
                if peer_call_id != self.config.call_id {
                    self.violation(format!(
                        "WEN for call ID {peer_call_id:#06x}, ours is {:#06x}",
                        self.config.call_id
                    ));
                }
            }
            (
                Repr::CallDisconnectNotify {
                    call_id,
                    result_code,
                    error_code,
                    cause_code,
                    call_statistics,
                },
                S::CallUp | S::WaitDisconnect,
            ) => {
                self.counters.call_disconnect_notify_rx += 1;
                if Some(call_id) != self.control.peer_call_id {
                    self.violation(format!(
                        "CDN carries call ID {call_id:#06x}, the server's is {:?} (RFC 2637 §2.13)",
                        self.control.peer_call_id
                    ));
                }
                let reason = format!(
                    "Call-Disconnect-Notify result {result_code} error {error_code} cause {cause_code} ({})",
                    text(call_statistics)
                );
                self.trace(format_args!("{reason}"));
                self.disconnect_reason.get_or_insert(reason);
                self.control.peer_call_id = None;
                self.call_cleared(now, result_code, error_code, cause_code);
            }
            (Repr::StopControlConnectionRequest { reason }, _) => {
                self.counters.stop_control_requests_rx += 1;
                self.send_control(&Repr::StopControlConnectionReply {
                    result_code: pptp::reply_result::OK,
                    error_code: 0,
                });
                self.control.state = S::Closed;
                self.control.deadline = None;
                self.control.peer_call_id = None;
                self.session_over(Some(format!(
                    "Stop-Control-Connection-Request reason {reason}"
                )));
            }
            (Repr::StopControlConnectionReply { .. }, S::WaitStopReply) => {
                self.control.state = S::Closed;
                self.control.deadline = None;
                self.session_over(None);
            }
            (other, state) => {
                self.violation(format!(
                    "unexpected {:?} in control state {state:?}",
                    other.message_type()
                ));
            }
        }
    }

    /// OCRP received: start PPP.
    fn call_connected(&mut self, now: Instant) {
        self.phase = Phase::Establish;
        self.setup_deadline = Some(now + self.config.setup_timeout);
        self.lcp.open(now, &mut self.control_queue);
    }

    /// The server disconnected the call (CDN).
    fn call_cleared(&mut self, now: Instant, result: u8, error: u8, cause: u16) {
        let hanging_up = self.control.state == ControlState::WaitDisconnect;
        self.control.state = ControlState::NoCall;
        self.control.deadline = None;
        if !hanging_up {
            match self.state {
                State::Up => self.state = State::Closing,
                State::Closing | State::Closed | State::Failed(_) => {}
                _ => self.fail(
                    now,
                    Failure::CallDisconnected {
                        result,
                        error,
                        cause,
                    },
                ),
            }
        }
        // No call, no PPP: nothing more goes into GRE.
        self.lcp.stop();
        self.ccp.stop();
        self.ipcp.stop();
        self.ipv6cp.stop();
        self.encrypter = None;
        self.decrypter = None;
        self.phase = Phase::Finished;
        self.terminate_deadline = None;
        self.stop_control(now);
    }

    /// Tear down the call (CCRQ) or, without one, the control connection.
    pub(super) fn close_call(&mut self, now: Instant) {
        match self.control.state {
            ControlState::CallUp => {
                self.send_control(&Repr::CallClearRequest {
                    call_id: self.config.call_id,
                });
                self.control.state = ControlState::WaitDisconnect;
                self.control.deadline = Some(now + TEARDOWN_REPLY_TIMEOUT);
            }
            ControlState::WaitCallReply | ControlState::WaitStartReply | ControlState::NoCall => {
                self.stop_control(now)
            }
            ControlState::Start => {
                self.control.state = ControlState::Closed;
                self.session_over(None);
            }
            ControlState::WaitDisconnect | ControlState::WaitStopReply | ControlState::Closed => {}
        }
    }

    fn stop_control(&mut self, now: Instant) {
        if matches!(
            self.control.state,
            ControlState::Closed | ControlState::WaitStopReply
        ) {
            return;
        }
        self.send_control(&Repr::StopControlConnectionRequest {
            reason: pptp::stop_reason::NONE,
        });
        self.control.state = ControlState::WaitStopReply;
        self.control.deadline = Some(now + TEARDOWN_REPLY_TIMEOUT);
    }

    pub(super) fn control_timeouts(&mut self, now: Instant) {
        let Some(deadline) = self.control.deadline else {
            return;
        };
        if now < deadline {
            return;
        }
        self.control.deadline = None;
        match self.control.state {
            ControlState::WaitStartReply => self.fail(
                now,
                Failure::Timeout("no Start-Control-Connection-Reply".into()),
            ),
            ControlState::WaitCallReply => {
                self.fail(now, Failure::Timeout("no Outgoing-Call-Reply".into()))
            }
            ControlState::WaitDisconnect => {
                self.violation("no Call-Disconnect-Notify after Call-Clear-Request".into());
                self.control.peer_call_id = None;
                self.stop_control(now);
            }
            ControlState::WaitStopReply => {
                self.violation("no Stop-Control-Connection-Reply".into());
                self.control.state = ControlState::Closed;
                self.session_over(None);
            }
            _ => {}
        }
    }
}
