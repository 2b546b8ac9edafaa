//! An independent PPTP client (the PNS side of RFC 2637) for driving our server in tests.
//!
//! It is written only against the crate's public `wire` and `crypto` modules, never against
//! the server's own `ppp`/`pptp` machinery, so a bug in those shows up as a disagreement
//! between two implementations instead of being mirrored on both ends.
//!
//! Sans-IO like the server: every call takes `now`; TCP bytes go in through
//! [`Client::handle_control`] and come out of [`Client::poll_control`]; GRE packets (without
//! their IPv4 header) go in through [`Client::handle_gre`] and come out of
//! [`Client::poll_gre`]. The same client therefore runs over smoltcp in-process or over
//! kernel sockets in network namespaces. Fault injection is the caller's: drop, duplicate or
//! reorder GRE packets by what it passes to `handle_gre`; `poll_gre` does nothing clever.
//!
//! What it does, in order: SCCRQ → OCRQ (→ Set-Link-Info like Windows), LCP (accepts the
//! server's MS-CHAPv2 request, sends its own magic number), MS-CHAPv2 as the peer (and checks
//! the server's `S=` authenticator response), CCP with MPPE-128, IPCP asking for an address
//! and DNS servers, then MPPE-encrypted IPv4 both ways.
//!
//! Server misbehaviour that is not fatal (a Configure-Ack that does not echo the request, a
//! GRE ack for a packet never sent, a CDN with the wrong call ID, ...) is recorded in
//! [`Client::violations`], so tests can assert it stays empty.

mod chap;
mod control;
mod data;
mod gre;
mod negotiation;
mod options;

use std::collections::VecDeque;
use std::net::Ipv4Addr;

use smolpptp::crypto::mppe::{Decrypter, Encrypter};
use smolpptp::rand::XorShift;
use smoltcp::time::{Duration, Instant};

use self::chap::ChapPeer;
use self::control::Control;
use self::gre::GreState;
use self::negotiation::Negotiation;
use self::options::{CcpOptions, IpcpOptions, Ipv6cpOptions, LcpOptions};

/// Everything a test may want to vary about the client.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub user: String,
    pub password: String,
    /// Insist on 128-bit MPPE: fail (like Windows error 742) if the server will not do it.
    /// When false and not `refuse_mppe`, MPPE-128 is offered but the link may come up clear.
    pub require_mppe_128: bool,
    /// Ask for stateless MPPE (the H bit). When false, ask for stateful mode; a Nak back to
    /// stateless is accepted.
    pub stateless: bool,
    /// Do not offer MPPE and Configure-Reject the server's MPPE option.
    pub refuse_mppe: bool,
    /// Our Call ID (OCRQ); the server puts it in the GRE Key of what it sends us.
    pub call_id: u16,
    pub call_serial: u16,
    /// Packet Recv. Window Size in the OCRQ.
    pub window: u16,
    pub maximum_bps: u32,
    pub host_name: String,
    pub vendor: String,
    /// Sequence number of our first GRE data packet (RFC 2637: 0; the Linux kernel: 1).
    pub first_gre_sequence: u32,
    /// How long a received GRE packet may wait for data to carry its ack before an ack-only
    /// packet is sent.
    pub ack_delay: Duration,
    /// Send Set-Link-Info after the OCRP, as Windows does.
    pub send_set_link_info: bool,
    /// Answer PPTP Echo-Requests (turn off to test the server's keepalive).
    pub answer_control_echo: bool,
    /// LCP Maximum-Receive-Unit to ask for, if any.
    pub mru: Option<u16>,
    /// Ask for Protocol-Field and Address-and-Control-Field compression; when the server
    /// Acks, our non-LCP frames are sent compressed.
    pub request_pfc_acfc: bool,
    /// Also send the LCP options Windows sends (Callback CBCP, MRRU 1614, Endpoint
    /// Discriminator); the server is expected to Reject them.
    pub windows_lcp_options: bool,
    /// IP-Address to ask for (0.0.0.0 = "assign me one").
    pub request_address: Ipv4Addr,
    /// Ask for primary and secondary DNS servers.
    pub request_dns: bool,
    /// Ask for primary and secondary WINS servers, as Windows does.
    pub request_wins: bool,
    /// Ask for VJ header compression, as Windows does; the server is expected to Reject it.
    pub request_vj: bool,
    /// Start IPCP right after authentication instead of after CCP (Windows does; a server
    /// requiring MPPE answers with IPCP Terminate-Ack until CCP is up).
    pub early_ipcp: bool,
    /// Run IPv6CP beside IPCP (Windows does); a server without IPv6 Protocol-Rejects it.
    pub request_ipv6: bool,
    /// Interface-Identifier to ask for (zero: "suggest one"); random when `None`.
    pub ipv6_interface_id: Option<[u8; 8]>,
    /// Fixed MS-CHAPv2 Peer-Challenge (for RFC vectors); random when `None`.
    pub peer_challenge: Option<[u8; 16]>,
    /// PPP restart timer and Max-Configure (RFC 1661 defaults 3 s, 10).
    pub restart_interval: Duration,
    pub max_configure: u32,
    /// Give up when a reply to SCCRQ/OCRQ takes longer than this (RFC 2637: 60 s).
    pub control_reply_timeout: Duration,
    /// Give up when the link is not Up this long after the call was connected.
    pub setup_timeout: Duration,
    /// Print every packet we send and receive to stderr.
    pub trace: bool,
}

impl ClientConfig {
    /// A client that behaves like a modern Windows/pppd client in its defaults: MPPE-128
    /// stateless required, address and DNS requested.
    pub fn new(user: &str, password: &str) -> ClientConfig {
        ClientConfig {
            user: user.into(),
            password: password.into(),
            require_mppe_128: true,
            stateless: true,
            refuse_mppe: false,
            call_id: 0x4A21,
            call_serial: 1,
            window: 64,
            maximum_bps: 100_000_000,
            host_name: "smolpptp-test-client".into(),
            vendor: "smolpptp tests".into(),
            first_gre_sequence: 0,
            ack_delay: Duration::from_millis(100),
            send_set_link_info: true,
            answer_control_echo: true,
            mru: None,
            request_pfc_acfc: false,
            windows_lcp_options: false,
            request_address: Ipv4Addr::UNSPECIFIED,
            request_dns: true,
            request_wins: false,
            request_vj: false,
            early_ipcp: false,
            request_ipv6: false,
            ipv6_interface_id: None,
            peer_challenge: None,
            restart_interval: Duration::from_secs(3),
            max_configure: 10,
            control_reply_timeout: Duration::from_secs(60),
            setup_timeout: Duration::from_secs(60),
            trace: std::env::var_os("SMOLPPTP_CLIENT_TRACE").is_some(),
        }
    }

    /// The same client, behaving like Windows on the wire: Windows LCP options, VJ, WINS,
    /// IPCP before CCP, ACFC/PFC.
    pub fn windows_like(mut self) -> ClientConfig {
        self.windows_lcp_options = true;
        self.request_pfc_acfc = true;
        self.request_vj = true;
        self.request_wins = true;
        self.early_ipcp = true;
        self
    }
}

/// Where the client is. `Failed` and `Closed` are final.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Control connection, call and LCP.
    Connecting,
    /// LCP is open; MS-CHAPv2 in progress.
    Authenticating,
    /// Authenticated; CCP and IPCP in progress.
    Negotiating,
    /// IPCP is open: IP packets pass.
    Up,
    /// `hang_up()` was called; tearing down in order.
    Closing,
    /// The session ended before coming up, or a check failed.
    Failed(Failure),
    /// The session ended after coming up (or was hung up by us).
    Closed,
}

/// Why the client gave up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Start-Control-Connection-Reply with a result other than 1.
    StartRejected { result: u8, error: u8 },
    /// Outgoing-Call-Reply with a result other than 1 (e.g. 2/4: no resources).
    CallRejected { result: u8, error: u8 },
    /// Call-Disconnect-Notify before the link was up.
    CallDisconnected { result: u8, error: u8, cause: u16 },
    /// The server sent something unparsable or impossible on the control connection.
    ControlProtocol(String),
    /// The TCP connection closed (or Stop-Control-Connection-Request) before the link was up.
    ControlClosed,
    /// Something did not happen in time.
    Timeout(String),
    /// MS-CHAPv2 Failure from the server (`E=691` etc.).
    AuthFailed { error: Option<u32>, message: String },
    /// The server's `S=` authenticator response does not prove it knows the password.
    AuthenticatorMismatch { got: String, expected: String },
    /// The server broke MS-CHAPv2 (bad challenge length, Success before Response, ...).
    AuthProtocol(String),
    /// LCP Terminate-Request from the server before the link was up.
    LcpTerminated(String),
    /// MPPE could not be negotiated as configured (Windows 741/742).
    Encryption(String),
    /// IPCP did not give us an address (Windows 738).
    Address(String),
    /// The server Protocol-Rejected something we need (CCP when MPPE is required, IPCP).
    ProtocolRejected(u16),
    /// A PPP negotiation gave up (Max-Configure or Max-Failure reached).
    Negotiation(String),
}

/// Negotiated MPPE mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MppeMode {
    pub stateless: bool,
    /// The option 18 bits the two sides agreed on.
    pub bits: u32,
}

/// Why [`Client::send_ip`] refused a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    NotUp,
    TooBig,
}

/// What the client saw and did. Everything a test can assert on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub control_rx: u64,
    pub control_tx: u64,
    pub control_echo_requests_rx: u64,
    pub control_echo_replies_rx: u64,
    pub set_link_info_tx: u64,
    pub wan_error_notify_rx: u64,
    /// Call-Disconnect-Notify messages from the server (its side ended the call, or it
    /// answered our Call-Clear-Request).
    pub call_disconnect_notify_rx: u64,
    /// Stop-Control-Connection-Requests from the server.
    pub stop_control_requests_rx: u64,

    pub gre_rx: u64,
    pub gre_tx: u64,
    pub gre_ack_only_rx: u64,
    pub gre_ack_only_tx: u64,
    pub gre_rx_malformed: u64,
    pub gre_rx_wrong_call_id: u64,
    pub gre_rx_duplicate: u64,
    pub gre_rx_out_of_order: u64,
    /// Sequence numbers skipped by the server's stream (lost or dropped on the way).
    pub gre_rx_gaps: u64,
    /// Acks for sequence numbers we never sent.
    pub gre_rx_bad_ack: u64,

    pub ppp_rx_malformed: u64,
    pub ppp_rx_unknown_protocol: u64,
    pub ppp_rx_before_ready: u64,
    pub lcp_echo_requests_rx: u64,
    pub lcp_echo_replies_rx: u64,
    pub lcp_identification_rx: u64,
    pub code_rejects_rx: u64,
    pub protocol_rejects_rx: u64,
    pub ipcp_terminate_acks_rx: u64,

    pub ip_tx: u64,
    pub ip_rx: u64,
    /// IPv4 received before the link was Up: always a server bug.
    pub ip_rx_before_up: u64,
    /// IPv4 received (and dropped) between LCP Terminate-Request and Terminate-Ack: packets
    /// the server sent before it saw the request.
    pub ip_rx_while_closing: u64,
    /// Clear IPv4 received while MPPE is on: always a server bug.
    pub ip_rx_unencrypted: u64,
    pub mppe_rx_errors: u64,
    /// Packets dropped as late/duplicate by the MPPE coherency count.
    pub mppe_rx_late: u64,
    pub mppe_reset_requests_rx: u64,
    pub mppe_reset_requests_tx: u64,
}

/// PPP phase (RFC 1661 §3), client view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    /// No call yet.
    Dead,
    Establish,
    Authenticate,
    Network,
    Running,
    /// LCP Terminate-Request sent by us (hang-up or failure).
    Terminating,
    /// Nothing more to do on PPP.
    Finished,
}

/// A PPP control packet (protocol, bytes from the Code field on) waiting for GRE.
type ControlQueue = VecDeque<(u16, Vec<u8>)>;

/// The PPTP test client. See the module documentation.
pub struct Client {
    config: ClientConfig,
    rng: XorShift,
    state: State,
    phase: Phase,
    /// When the link must be up by (set when the call connects).
    setup_deadline: Option<Instant>,
    /// When a hang-up stops waiting for LCP Terminate-Ack.
    terminate_deadline: Option<Instant>,

    control: Control,
    gre: GreState,

    lcp: Negotiation<LcpOptions>,
    chap: ChapPeer,
    ccp: Negotiation<CcpOptions>,
    ipcp: Negotiation<IpcpOptions>,
    ipv6cp: Negotiation<Ipv6cpOptions>,
    /// The server Protocol-Rejected IPv6CP.
    ipv6_rejected: bool,
    /// PPP control packets to frame into GRE.
    control_queue: ControlQueue,
    /// Whole PPP frames (data, or injected) to send after the control packets.
    frame_queue: VecDeque<Vec<u8>>,

    mppe: Option<MppeMode>,
    encrypter: Option<Encrypter>,
    decrypter: Option<Decrypter>,
    /// The MPPE start keys (send, receive) from MS-CHAPv2.
    start_keys: Option<([u8; 16], [u8; 16])>,
    received_ip: VecDeque<Vec<u8>>,

    counters: Counters,
    violations: Vec<String>,
    disconnect_reason: Option<String>,
}

impl Client {
    pub fn new(config: ClientConfig, seed: u64) -> Client {
        let mut rng = XorShift(seed ^ 0x5EED_C11E_u64);
        let lcp = LcpOptions::new(&config, &mut rng);
        let ccp = CcpOptions::new(&config);
        let ipcp = IpcpOptions::new(&config);
        let ipv6cp = Ipv6cpOptions::new(&config, &mut rng);
        let (restart, max) = (config.restart_interval, config.max_configure);
        Client {
            chap: ChapPeer::new(&config),
            control: Control::new(),
            gre: GreState::new(config.first_gre_sequence),
            lcp: Negotiation::new("LCP", smolpptp::wire::ppp::protocol::LCP, lcp, restart, max),
            ccp: Negotiation::new("CCP", smolpptp::wire::ppp::protocol::CCP, ccp, restart, max),
            ipcp: Negotiation::new(
                "IPCP",
                smolpptp::wire::ppp::protocol::IPCP,
                ipcp,
                restart,
                max,
            ),
            ipv6cp: Negotiation::new(
                "IPv6CP",
                smolpptp::wire::ppp::protocol::IPV6CP,
                ipv6cp,
                restart,
                max,
            ),
            ipv6_rejected: false,
            config,
            rng,
            state: State::Connecting,
            phase: Phase::Dead,
            setup_deadline: None,
            terminate_deadline: None,
            control_queue: VecDeque::new(),
            frame_queue: VecDeque::new(),
            mppe: None,
            encrypter: None,
            decrypter: None,
            start_keys: None,
            received_ip: VecDeque::new(),
            counters: Counters::default(),
            violations: Vec::new(),
            disconnect_reason: None,
        }
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    pub fn is_up(&self) -> bool {
        self.state == State::Up
    }

    /// `Failed` or `Closed`.
    pub fn is_finished(&self) -> bool {
        matches!(self.state, State::Failed(_) | State::Closed)
    }

    /// The failure, if the client failed.
    pub fn failure(&self) -> Option<&Failure> {
        match &self.state {
            State::Failed(f) => Some(f),
            _ => None,
        }
    }

    /// Our IPCP address once IPCP is open.
    pub fn assigned_address(&self) -> Option<Ipv4Addr> {
        (self.ipcp.is_opened() || self.state == State::Closed)
            .then_some(self.ipcp.options.address)
            .filter(|a| !a.is_unspecified())
    }

    /// IPv6CP is open: IPv6 passes (link-local fe80::ID addressing).
    pub fn ipv6_up(&self) -> bool {
        self.ipv6cp.is_opened() && self.state == State::Up
    }

    /// Our Interface-Identifier once IPv6CP is open.
    pub fn ipv6_interface_id(&self) -> Option<[u8; 8]> {
        self.ipv6cp.is_opened().then_some(self.ipv6cp.options.id)
    }

    /// The server's Interface-Identifier from its IPv6CP Configure-Request.
    pub fn ipv6_server_interface_id(&self) -> Option<[u8; 8]> {
        self.ipv6cp.options.server_id
    }

    /// The server answered our IPv6CP with LCP Protocol-Reject.
    pub fn ipv6_rejected(&self) -> bool {
        self.ipv6_rejected
    }

    /// The server's tunnel address from its IPCP Configure-Request.
    pub fn server_address(&self) -> Option<Ipv4Addr> {
        self.ipcp.options.server_address
    }

    /// Primary and secondary DNS servers the server gave us (those it did not Reject).
    pub fn dns(&self) -> [Option<Ipv4Addr>; 2] {
        self.ipcp
            .options
            .dns
            .map(|d| d.filter(|a| !a.is_unspecified()))
    }

    /// Primary and secondary WINS servers (when `request_wins`).
    pub fn wins(&self) -> [Option<Ipv4Addr>; 2] {
        self.ipcp
            .options
            .wins
            .map(|d| d.filter(|a| !a.is_unspecified()))
    }

    /// The message of the server's MS-CHAPv2 Failure packet (`E=691 R=0 C=... V=3 M=...`).
    pub fn auth_failure_message(&self) -> Option<&str> {
        self.chap.failure_message.as_deref()
    }

    /// The `M=` text of the server's MS-CHAPv2 Success, if any.
    pub fn auth_success_message(&self) -> Option<&str> {
        self.chap.success_message.as_deref()
    }

    /// Negotiated MPPE mode once CCP is open (`None`: no encryption).
    pub fn mppe(&self) -> Option<MppeMode> {
        self.mppe
    }

    /// The MRU the server announced in LCP (1500 when it sent none).
    pub fn server_mru(&self) -> u16 {
        self.lcp.options.peer_mru.unwrap_or(1500)
    }

    pub fn our_call_id(&self) -> u16 {
        self.config.call_id
    }

    /// The server's Call ID from the OCRP (what we put in our GRE Key).
    pub fn peer_call_id(&self) -> Option<u16> {
        self.control.peer_call_id
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Non-fatal server protocol violations noticed so far, one line each.
    pub fn violations(&self) -> &[String] {
        &self.violations
    }

    /// How the session ended: Terminate-Request text, CDN result, Stop reason, ...
    pub fn disconnect_reason(&self) -> Option<&str> {
        self.disconnect_reason.as_deref()
    }

    /// When the client next needs `poll_*` to be called even if nothing arrives.
    pub fn poll_at(&self) -> Option<Instant> {
        [
            self.control.deadline,
            self.setup_deadline
                .filter(|_| !self.is_finished() && self.state != State::Up),
            self.terminate_deadline,
            self.lcp.poll_at(),
            self.ccp.poll_at(),
            self.ipcp.poll_at(),
            self.ipv6cp.poll_at(),
            self.gre.poll_at(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Run the timers that are due. Every public entry point calls this first.
    fn tick(&mut self, now: Instant) {
        self.control_timeouts(now);
        if let Some(deadline) = self.setup_deadline {
            if now >= deadline && !self.is_finished() && self.state != State::Up {
                self.setup_deadline = None;
                if self.state != State::Closing {
                    let what = format!(
                        "link not up after {} (phase {:?})",
                        self.config.setup_timeout, self.phase
                    );
                    self.fail(now, Failure::Timeout(what));
                }
            }
        }
        if let Some(deadline) = self.terminate_deadline {
            if now >= deadline {
                self.terminate_deadline = None;
                self.ppp_finished(now);
            }
        }
        self.ppp_timeouts(now);
    }

    /// Give up: record why, and tear the call down without waiting for anything.
    fn fail(&mut self, now: Instant, failure: Failure) {
        if self.is_finished() {
            return;
        }
        self.trace(format_args!("FAILED: {failure:?}"));
        self.state = State::Failed(failure);
        self.setup_deadline = None;
        if self.lcp.is_opened() {
            self.lcp
                .terminate(now, &mut self.control_queue, b"client gave up");
        }
        self.phase = Phase::Finished;
        self.close_call(now);
    }

    /// End the session in order: LCP Terminate-Request, then Call-Clear-Request, then
    /// Stop-Control-Connection-Request. The state becomes `Closed` when the server has
    /// answered (or timed out).
    pub fn hang_up(&mut self, now: Instant) {
        self.tick(now);
        self.begin_hang_up(now);
    }

    fn begin_hang_up(&mut self, now: Instant) {
        if self.is_finished() || self.state == State::Closing {
            return;
        }
        self.trace(format_args!("hang up"));
        self.state = State::Closing;
        self.disconnect_reason
            .get_or_insert_with(|| "hung up by the client".into());
        if self.lcp.is_opened() {
            self.phase = Phase::Terminating;
            self.lcp
                .terminate(now, &mut self.control_queue, b"User request");
            // pppd waits Max-Terminate (2) restart intervals for the Terminate-Ack.
            self.terminate_deadline = Some(now + self.config.restart_interval * 2);
        } else {
            self.ppp_finished(now);
        }
    }

    /// PPP is done (terminated, or never started): move on to the control connection.
    fn ppp_finished(&mut self, now: Instant) {
        self.terminate_deadline = None;
        self.phase = Phase::Finished;
        self.close_call(now);
    }

    /// Once the control connection has finished, settle the final state.
    fn session_over(&mut self, reason: Option<String>) {
        if let Some(reason) = reason {
            self.disconnect_reason.get_or_insert(reason);
        }
        self.phase = Phase::Finished;
        self.setup_deadline = None;
        match self.state {
            State::Failed(_) | State::Closed => {}
            State::Up | State::Closing => self.state = State::Closed,
            _ => self.state = State::Failed(Failure::ControlClosed),
        }
    }

    fn violation(&mut self, what: String) {
        self.trace(format_args!("VIOLATION: {what}"));
        self.violations.push(what);
    }

    fn trace(&self, what: std::fmt::Arguments) {
        if self.config.trace {
            eprintln!("[client {:04x}] {what}", self.config.call_id);
        }
    }
}
