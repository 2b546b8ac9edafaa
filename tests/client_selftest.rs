//! Checks of the test client on its own, against a scripted "server" whose packets are
//! written out byte by byte here (RFC 2637/1661/2759/3078 layouts), not with `wire`.

mod support;

use std::net::Ipv4Addr;

use smolpptp::crypto::mppe::{Decrypter, Encrypter, KeyLength, StartKeys};
use smolpptp::crypto::mschapv2;
use smolpptp::rand::{Random, XorShift};
use smolpptp::wire::mppe::Header;
use smoltcp::time::{Duration, Instant};
use support::client::{Client, ClientConfig, Failure, State};
use support::packets;

const CLIENT_CALL: u16 = 0x4A21;
const SERVER_CALL: u16 = 0x0777;
const MAGIC: [u8; 4] = [0x1A, 0x2B, 0x3C, 0x4D];

// RFC 2759 §9.2.
const AUTH_CHALLENGE: [u8; 16] = *b"[]|}{?/><,`!2&&(";
const PEER_CHALLENGE: [u8; 16] = *b"!@#$%^&*()_+:3|~";
const NT_RESPONSE: [u8; 24] = [
    0x82, 0x30, 0x9E, 0xCD, 0x8D, 0x70, 0x8B, 0x5E, 0xA0, 0x8F, 0xAA, 0x39, 0x81, 0xCD, 0x83, 0x54,
    0x42, 0x33, 0x11, 0x4A, 0x3D, 0x85, 0xD6, 0xDF,
];
const AUTHENTICATOR_RESPONSE: &[u8] = b"S=407A5589115FD0D6209F510FE9C04566932CDA56";

fn t(ms: u64) -> Instant {
    Instant::from_millis(ms as i64)
}

fn rfc_config() -> ClientConfig {
    let mut config = ClientConfig::new("User", "clientPass");
    config.call_id = CLIENT_CALL;
    config.peer_challenge = Some(PEER_CHALLENGE);
    config
}

/// A PPTP control message: header + body, length from the body.
fn control(kind: u16, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&((12 + body.len()) as u16).to_be_bytes());
    m.extend_from_slice(&[0, 1]);
    m.extend_from_slice(&MAGIC);
    m.extend_from_slice(&kind.to_be_bytes());
    m.extend_from_slice(&[0, 0]);
    m.extend_from_slice(body);
    m
}

fn sccrp(result: u8) -> Vec<u8> {
    let mut body = vec![0x01, 0x00, result, 0];
    body.extend_from_slice(&[0, 0, 0, 3, 0, 0, 0, 3, 0, 1, 0, 1]);
    body.resize(144, 0);
    body[16..21].copy_from_slice(b"local");
    control(2, &body)
}

fn ocrp(result: u8, error: u8) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&SERVER_CALL.to_be_bytes());
    body.extend_from_slice(&CLIENT_CALL.to_be_bytes());
    body.extend_from_slice(&[result, error, 0, 0]);
    body.extend_from_slice(&100_000_000u32.to_be_bytes());
    body.extend_from_slice(&[0, 64, 0, 0, 0, 0, 0, 0]);
    control(8, &body)
}

fn drain_control(client: &mut Client, now: Instant) -> Vec<u8> {
    let mut all = Vec::new();
    let mut buf = [0u8; 100]; // smaller than a message: exercises partial writes
    while let Some(n) = client.poll_control(now, &mut buf) {
        all.extend_from_slice(&buf[..n]);
    }
    all
}

/// Split a control byte stream into messages by their Length fields.
fn messages(mut stream: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while stream.len() >= 2 {
        let len = u16::from_be_bytes([stream[0], stream[1]]) as usize;
        assert!(
            len >= 12 && len <= stream.len(),
            "bad framing in {stream:02x?}"
        );
        out.push(stream[..len].to_vec());
        stream = &stream[len..];
    }
    assert!(stream.is_empty());
    out
}

fn kind(message: &[u8]) -> u16 {
    assert_eq!(&message[4..8], &MAGIC);
    u16::from_be_bytes([message[8], message[9]])
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// A GRE packet from the server: key = the client's call ID.
fn gre(seq: u32, ack: Option<u32>, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x30, if ack.is_some() { 0x81 } else { 0x01 }, 0x88, 0x0B];
    p.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    p.extend_from_slice(&CLIENT_CALL.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    if let Some(ack) = ack {
        p.extend_from_slice(&ack.to_be_bytes());
    }
    p.extend_from_slice(payload);
    p
}

/// A PPP frame with the full FF 03 header.
fn ppp(protocol: u16, info: &[u8]) -> Vec<u8> {
    let mut f = vec![0xFF, 0x03];
    f.extend_from_slice(&protocol.to_be_bytes());
    f.extend_from_slice(info);
    f
}

fn cp(code: u8, id: u8, data: &[u8]) -> Vec<u8> {
    let mut p = vec![code, id];
    p.extend_from_slice(&((4 + data.len()) as u16).to_be_bytes());
    p.extend_from_slice(data);
    p
}

/// One GRE packet the client sent, split up.
#[derive(Debug)]
struct Sent {
    call_id: u16,
    seq: Option<u32>,
    ack: Option<u32>,
    payload: Vec<u8>,
}

impl Sent {
    fn parse(p: &[u8]) -> Sent {
        assert_eq!(p[0] & 0xEF, 0x20, "C=0 R=0 K=1 s=0 recursion 0: {p:02x?}");
        assert_eq!(p[1] & 0x7F, 0x01, "flags 0, version 1");
        assert_eq!(be16(p, 2), 0x880B);
        let payload_len = be16(p, 4) as usize;
        let mut at = 8;
        let seq = (p[0] & 0x10 != 0).then(|| {
            at += 4;
            be32(p, at - 4)
        });
        let ack = (p[1] & 0x80 != 0).then(|| {
            at += 4;
            be32(p, at - 4)
        });
        assert_eq!(p.len(), at + payload_len);
        Sent {
            call_id: be16(p, 6),
            seq,
            ack,
            payload: p[at..].to_vec(),
        }
    }

    /// (protocol, information) of the PPP frame, uncompressed header expected.
    fn ppp(&self) -> (u16, &[u8]) {
        assert_eq!(&self.payload[..2], &[0xFF, 0x03], "{:02x?}", self.payload);
        (be16(&self.payload, 2), &self.payload[4..])
    }
}

fn drain_gre(client: &mut Client, now: Instant) -> Vec<Sent> {
    let mut out = Vec::new();
    let mut buf = [0u8; 2000];
    while let Some(n) = client.poll_gre(now, &mut buf) {
        let sent = Sent::parse(&buf[..n]);
        assert_eq!(
            sent.call_id, SERVER_CALL,
            "GRE key must be the server's call ID"
        );
        out.push(sent);
    }
    out
}

/// The scripted server side of one session.
struct Script {
    client: Client,
    now: Instant,
    seq: u32,
}

impl Script {
    fn new(config: ClientConfig) -> Script {
        Script {
            client: Client::new(config, 7),
            now: t(1000),
            seq: 0,
        }
    }

    fn server_sends(&mut self, protocol: u16, info: &[u8]) {
        let packet = gre(self.seq, None, &ppp(protocol, info));
        self.seq += 1;
        self.client.handle_gre(self.now, &packet);
    }

    fn client_sent(&mut self) -> Vec<(u16, Vec<u8>)> {
        drain_gre(&mut self.client, self.now)
            .into_iter()
            .filter(|s| s.seq.is_some())
            .map(|s| {
                let (p, info) = s.ppp();
                (p, info.to_vec())
            })
            .collect()
    }

    /// Control connection and call up.
    fn connect(&mut self) {
        let sccrq = drain_control(&mut self.client, self.now);
        assert_eq!(kind(&sccrq), 1);
        self.client.handle_control(self.now, &sccrp(1));
        let ocrq = drain_control(&mut self.client, self.now);
        assert_eq!(kind(&ocrq), 7);
        self.client.handle_control(self.now, &ocrp(1, 0));
        drain_control(&mut self.client, self.now);
    }

    /// LCP both ways, the server asking for MS-CHAPv2.
    fn open_lcp(&mut self) {
        let sent = self.client_sent();
        assert_eq!(sent.len(), 1);
        let (proto, req) = &sent[0];
        assert_eq!(*proto, 0xC021);
        assert_eq!(req[0], 1, "Configure-Request");
        let ack = cp(2, req[1], &req[4..]);
        self.server_sends(
            0xC021,
            &cp(
                1,
                1,
                &[
                    0x03, 0x05, 0xC2, 0x23, 0x81, 0x05, 0x06, 0x11, 0x22, 0x33, 0x44,
                ],
            ),
        );
        self.server_sends(0xC021, &ack);
        let sent = self.client_sent();
        assert_eq!(
            sent,
            vec![(
                0xC021,
                cp(
                    2,
                    1,
                    &[0x03, 0x05, 0xC2, 0x23, 0x81, 0x05, 0x06, 0x11, 0x22, 0x33, 0x44]
                )
            )]
        );
        assert_eq!(*self.client.state(), State::Authenticating);
    }

    /// RFC 2759 §9.2 Challenge; returns the client's Response packet.
    fn challenge(&mut self) -> Vec<u8> {
        let mut challenge = vec![0x10];
        challenge.extend_from_slice(&AUTH_CHALLENGE);
        challenge.extend_from_slice(b"pptpd");
        self.server_sends(0xC223, &cp(1, 1, &challenge));
        let sent = self.client_sent();
        assert_eq!(sent.len(), 1, "{sent:02x?}");
        assert_eq!(sent[0].0, 0xC223);
        sent[0].1.clone()
    }

    fn success(&mut self, message: &[u8]) {
        self.server_sends(0xC223, &cp(3, 1, message));
    }

    /// From CHAP Success to Up: CCP with MPPE-128 stateless, then IPCP with a Nak.
    fn negotiate_network(&mut self) {
        let sent = self.client_sent();
        assert_eq!(
            sent,
            vec![(0x80FD, cp(1, 1, &[0x12, 0x06, 0x01, 0x00, 0x00, 0x40]))]
        );
        self.server_sends(0x80FD, &cp(1, 1, &[0x12, 0x06, 0x01, 0x00, 0x00, 0x40]));
        self.server_sends(0x80FD, &cp(2, 1, &[0x12, 0x06, 0x01, 0x00, 0x00, 0x40]));
        let sent = self.client_sent();
        assert_eq!(
            sent[0],
            (0x80FD, cp(2, 1, &[0x12, 0x06, 0x01, 0x00, 0x00, 0x40]))
        );
        let (proto, ipcp) = &sent[1];
        assert_eq!(*proto, 0x8021);
        assert_eq!(
            &ipcp[4..],
            &[3, 6, 0, 0, 0, 0, 129, 6, 0, 0, 0, 0, 131, 6, 0, 0, 0, 0]
        );
        let id = ipcp[1];
        self.server_sends(0x8021, &cp(1, 1, &[3, 6, 10, 0, 0, 1]));
        let nak = [3, 6, 10, 0, 0, 2, 129, 6, 8, 8, 8, 8, 131, 6, 8, 8, 4, 4];
        self.server_sends(0x8021, &cp(3, id, &nak));
        let sent = self.client_sent();
        assert_eq!(sent[0], (0x8021, cp(2, 1, &[3, 6, 10, 0, 0, 1])));
        assert_eq!(sent[1].1[0], 1);
        assert_eq!(&sent[1].1[4..], &nak);
        self.server_sends(0x8021, &cp(2, sent[1].1[1], &nak));
    }
}

#[test]
fn sends_sccrq_then_ocrq_then_set_link_info() {
    let mut client = Client::new(rfc_config(), 1);
    let now = t(0);
    let stream = drain_control(&mut client, now);
    let msgs = messages(&stream);
    assert_eq!(msgs.len(), 1);
    let sccrq = &msgs[0];
    assert_eq!(sccrq.len(), 156);
    assert_eq!(kind(sccrq), 1);
    assert_eq!(be16(sccrq, 2), 1, "control message");
    assert_eq!(be16(sccrq, 12), 0x0100, "protocol version");
    assert_eq!(be16(sccrq, 24), 0, "PNS sends Maximum Channels 0");
    assert!(sccrq[28..].starts_with(b"smolpptp-test-client\0"));
    assert!(
        client.poll_gre(now, &mut [0u8; 100]).is_none(),
        "no GRE before the call"
    );

    // The reply arrives one byte at a time.
    for byte in sccrp(1) {
        client.handle_control(now, &[byte]);
    }
    let msgs = messages(&drain_control(&mut client, now));
    assert_eq!(msgs.len(), 1);
    let ocrq = &msgs[0];
    assert_eq!((ocrq.len(), kind(ocrq)), (168, 7));
    assert_eq!(be16(ocrq, 12), CLIENT_CALL);
    assert_eq!(be32(ocrq, 20), 100_000_000, "maximum BPS");
    assert_eq!(be16(ocrq, 32), 64, "window");

    client.handle_control(now, &ocrp(1, 0));
    let msgs = messages(&drain_control(&mut client, now));
    assert_eq!(msgs.len(), 1);
    assert_eq!((msgs[0].len(), kind(&msgs[0])), (24, 15), "Set-Link-Info");
    assert_eq!(be16(&msgs[0], 12), SERVER_CALL);
    assert_eq!(client.peer_call_id(), Some(SERVER_CALL));

    // The call is up: LCP starts, sequence 0, no ack yet, GRE key = server's call ID.
    let sent = drain_gre(&mut client, now);
    assert_eq!(sent.len(), 1);
    assert_eq!((sent[0].seq, sent[0].ack), (Some(0), None));
    let (proto, lcp) = sent[0].ppp();
    assert_eq!(proto, 0xC021);
    assert_eq!(lcp[0], 1);
    assert_eq!(&lcp[4..6], &[5, 6], "magic number only");
    assert!(client.violations().is_empty(), "{:?}", client.violations());
}

#[test]
fn answers_pptp_echo_and_reports_refused_call() {
    let mut s = Script::new(rfc_config());
    drain_control(&mut s.client, s.now);
    s.client.handle_control(s.now, &sccrp(1));
    drain_control(&mut s.client, s.now);
    s.client
        .handle_control(s.now, &control(5, &0xDEADBEEFu32.to_be_bytes()));
    let msgs = messages(&drain_control(&mut s.client, s.now));
    assert_eq!(msgs.len(), 1);
    assert_eq!(
        (kind(&msgs[0]), be32(&msgs[0], 12), msgs[0][16]),
        (6, 0xDEADBEEF, 1)
    );

    s.client.handle_control(s.now, &ocrp(2, 4)); // General error / No-Resource
    assert_eq!(
        *s.client.state(),
        State::Failed(Failure::CallRejected {
            result: 2,
            error: 4
        })
    );
    let msgs = messages(&drain_control(&mut s.client, s.now));
    assert_eq!(kind(&msgs[0]), 3, "Stop-Control-Connection-Request");
    s.client.handle_control(s.now, &control(4, &[1, 0, 0, 0]));
    assert!(s.client.control_done());
}

#[test]
fn mschapv2_response_matches_rfc_2759_vector_and_session_comes_up() {
    let mut s = Script::new(rfc_config());
    s.connect();
    s.open_lcp();
    let response = s.challenge();
    // RFC 2759 §9.2 values in a CHAP Response (protocol.md §1.11).
    let mut expected = vec![0x02, 0x01, 0x00, 0x3A, 0x31];
    expected.extend_from_slice(&PEER_CHALLENGE);
    expected.extend_from_slice(&[0; 8]);
    expected.extend_from_slice(&NT_RESPONSE);
    expected.extend_from_slice(&[0x00]);
    expected.extend_from_slice(b"User");
    assert_eq!(response, expected);

    // A retransmitted Challenge gets the same Response.
    assert_eq!(s.challenge(), expected);

    let mut success = AUTHENTICATOR_RESPONSE.to_vec();
    success.extend_from_slice(b" M=Access granted");
    s.success(&success);
    assert_eq!(*s.client.state(), State::Negotiating);
    assert_eq!(s.client.auth_success_message(), Some("Access granted"));
    s.negotiate_network();
    assert_eq!(*s.client.state(), State::Up);
    assert_eq!(
        s.client.assigned_address(),
        Some(Ipv4Addr::new(10, 0, 0, 2))
    );
    assert_eq!(s.client.server_address(), Some(Ipv4Addr::new(10, 0, 0, 1)));
    assert_eq!(
        s.client.dns(),
        [
            Some(Ipv4Addr::new(8, 8, 8, 8)),
            Some(Ipv4Addr::new(8, 8, 4, 4))
        ]
    );
    let mode = s.client.mppe().expect("MPPE on");
    assert!(mode.stateless);

    // Data both ways, checked with the server-side keys.
    let hash = mschapv2::nt_password_hash(b"clientPass");
    let server_keys = StartKeys::server(&hash, &NT_RESPONSE);
    let mut server_rx = Decrypter::new(&server_keys.recv, KeyLength::Bits128, true);
    let mut server_tx = Encrypter::new(&server_keys.send, KeyLength::Bits128, true);

    let src = Ipv4Addr::new(10, 0, 0, 2);
    let dst = Ipv4Addr::new(192, 0, 2, 1);
    for i in 0..3u32 {
        let ip = packets::ipv4_udp(src, dst, 4000, 5000, i, 100);
        s.client.send_ip(s.now, &ip).unwrap();
        let sent = s.client_sent();
        assert_eq!(sent.len(), 1);
        let (proto, info) = &sent[0];
        assert_eq!(*proto, 0x00FD);
        let header = Header::parse(info).unwrap();
        assert!(header.flushed && header.encrypted);
        assert_eq!(header.coherency_count, i as u16);
        let mut data = info[2..].to_vec();
        server_rx.decrypt(header, &mut data).unwrap();
        assert_eq!(&data[..2], &[0x00, 0x21]);
        assert_eq!(&data[2..], &ip[..]);

        let reply = packets::ipv4_icmp_echo(dst, src, 9, i, 64);
        let mut inner = vec![0x00, 0x21];
        inner.extend_from_slice(&reply);
        let header = server_tx.encrypt(&mut inner);
        let mut info = header.to_bytes().to_vec();
        info.extend_from_slice(&inner);
        s.server_sends(0x00FD, &info);
        assert_eq!(s.client.recv_ip_packet(), Some(reply));
    }
    assert_eq!(s.client.counters().ip_rx, 3);
    assert!(
        s.client.violations().is_empty(),
        "{:?}",
        s.client.violations()
    );

    // Clear IPv4 while MPPE is on is a server bug: dropped and reported.
    s.server_sends(0x0021, &packets::ipv4_udp(dst, src, 1, 2, 99, 10));
    assert_eq!(s.client.recv_ip_packet(), None);
    assert_eq!(s.client.counters().ip_rx_unencrypted, 1);

    // Hang up: LCP Terminate-Request, then CCRQ after the Terminate-Ack, then StopCCRQ.
    s.client.hang_up(s.now);
    let sent = s.client_sent();
    assert_eq!(sent.len(), 1);
    assert_eq!((sent[0].0, sent[0].1[0]), (0xC021, 5));
    s.server_sends(0xC021, &cp(6, sent[0].1[1], b""));
    let msgs = messages(&drain_control(&mut s.client, s.now));
    assert_eq!(kind(&msgs[0]), 12);
    assert_eq!(be16(&msgs[0], 12), CLIENT_CALL);
    let mut cdn = SERVER_CALL.to_be_bytes().to_vec();
    cdn.extend_from_slice(&[4, 0, 0, 0, 0, 0]);
    cdn.resize(136, 0);
    s.client.handle_control(s.now, &control(13, &cdn));
    let msgs = messages(&drain_control(&mut s.client, s.now));
    assert_eq!(kind(&msgs[0]), 3);
    s.client.handle_control(s.now, &control(4, &[1, 0, 0, 0]));
    assert_eq!(*s.client.state(), State::Closed);
    assert!(s.client.control_done());
}

#[test]
fn wrong_authenticator_response_fails_loudly() {
    let mut s = Script::new(rfc_config());
    s.connect();
    s.open_lcp();
    s.challenge();
    let mut forged = AUTHENTICATOR_RESPONSE.to_vec();
    forged[10] = b'0'; // one hex digit off
    s.success(&forged);
    match s.client.state() {
        State::Failed(Failure::AuthenticatorMismatch { got, expected }) => {
            assert_eq!(expected.as_bytes(), AUTHENTICATOR_RESPONSE);
            assert_eq!(got.as_bytes(), &forged[..]);
        }
        other => panic!("expected AuthenticatorMismatch, got {other:?}"),
    }
    // Lower-case hex is wrong too (Windows rejects it).
    let mut s = Script::new(rfc_config());
    s.connect();
    s.open_lcp();
    s.challenge();
    s.success(&AUTHENTICATOR_RESPONSE.to_ascii_lowercase());
    assert!(matches!(
        s.client.failure(),
        Some(Failure::AuthenticatorMismatch { .. })
    ));
    // It tears down: LCP Terminate-Request and Call-Clear-Request.
    assert_eq!(s.client_sent()[0].1[0], 5);
    assert_eq!(kind(&messages(&drain_control(&mut s.client, s.now))[0]), 12);
    assert!(s.client.send_ip(s.now, &[0x45; 20]).is_err());
}

#[test]
fn authentication_failure_is_reported() {
    let mut s = Script::new(rfc_config());
    s.connect();
    s.open_lcp();
    s.challenge();
    let message = "E=691 R=0 C=00112233445566778899AABBCCDDEEFF V=3 M=Authentication failure";
    s.server_sends(0xC223, &cp(4, 1, message.as_bytes()));
    assert_eq!(
        *s.client.state(),
        State::Failed(Failure::AuthFailed {
            error: Some(691),
            message: message.into()
        })
    );
    assert_eq!(s.client.auth_failure_message(), Some(message));
}

#[test]
fn refuse_mppe_rejects_the_servers_mppe_option() {
    let mut config = rfc_config();
    config.refuse_mppe = true;
    let mut s = Script::new(config);
    s.connect();
    s.open_lcp();
    s.challenge();
    s.success(AUTHENTICATOR_RESPONSE);
    let sent = s.client_sent();
    assert_eq!(sent, vec![(0x80FD, cp(1, 1, &[]))], "empty CCP request");
    s.server_sends(0x80FD, &cp(1, 7, &[0x12, 0x06, 0x01, 0x00, 0x00, 0x40]));
    assert_eq!(
        s.client_sent(),
        vec![(0x80FD, cp(4, 7, &[0x12, 0x06, 0x01, 0x00, 0x00, 0x40]))]
    );
    // The server (requiring MPPE) then terminates LCP.
    s.server_sends(0xC021, &cp(5, 9, b"MPPE required"));
    assert_eq!(s.client_sent(), vec![(0xC021, cp(6, 9, b""))]);
    assert_eq!(
        *s.client.state(),
        State::Failed(Failure::LcpTerminated("MPPE required".into()))
    );
}

#[test]
fn server_rejecting_mppe_fails_when_required() {
    let mut s = Script::new(rfc_config());
    s.connect();
    s.open_lcp();
    s.challenge();
    s.success(AUTHENTICATOR_RESPONSE);
    let sent = s.client_sent();
    s.server_sends(0x80FD, &cp(4, sent[0].1[1], &sent[0].1[4..]));
    assert!(
        matches!(s.client.failure(), Some(Failure::Encryption(_))),
        "{:?}",
        s.client.state()
    );
}

#[test]
fn gre_sequencing_and_acks() {
    let mut config = rfc_config();
    config.first_gre_sequence = 1; // like the Linux kernel
    let mut s = Script::new(config);
    s.connect();
    let first = drain_gre(&mut s.client, s.now);
    assert_eq!(first[0].seq, Some(1));
    let lcp_req = cp(1, 1, &[0x03, 0x05, 0xC2, 0x23, 0x81]);

    // Server's packet 5 arrives: our Configure-Ack carries ack 5.
    s.client
        .handle_gre(s.now, &gre(5, Some(1), &ppp(0xC021, &lcp_req)));
    let sent = drain_gre(&mut s.client, s.now);
    assert_eq!((sent[0].seq, sent[0].ack), (Some(2), Some(5)));
    // A duplicate and an older packet are dropped and counted; a gap is counted.
    s.client
        .handle_gre(s.now, &gre(5, None, &ppp(0xC021, &lcp_req)));
    s.client
        .handle_gre(s.now, &gre(3, None, &ppp(0xC021, &lcp_req)));
    assert_eq!(s.client.counters().gre_rx_duplicate, 1);
    assert_eq!(s.client.counters().gre_rx_out_of_order, 1);
    assert!(drain_gre(&mut s.client, s.now).is_empty());
    s.client
        .handle_gre(s.now, &gre(8, None, &ppp(0xC021, &lcp_req)));
    assert_eq!(s.client.counters().gre_rx_gaps, 2);
    // Its Configure-Ack goes out at once with the ack.
    let sent = drain_gre(&mut s.client, s.now);
    assert_eq!(sent[0].ack, Some(8));

    // Nothing to carry the next ack: an ack-only packet after ack_delay, not before.
    s.client
        .handle_gre(s.now, &gre(9, None, &ppp(0xC021, &cp(9, 1, &[0, 0, 0, 0]))));
    let before = s.now + Duration::from_millis(50);
    assert!(drain_gre(&mut s.client, before).is_empty());
    let at = s.now + Duration::from_millis(100);
    assert_eq!(s.client.poll_at(), Some(at));
    let sent = drain_gre(&mut s.client, at);
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].seq, sent[0].ack, sent[0].payload.len()),
        (None, Some(9), 0)
    );

    // Wrong call ID and an ack for something never sent are violations.
    let mut wrong = gre(10, None, &ppp(0xC021, &lcp_req));
    wrong[6..8].copy_from_slice(&0x1111u16.to_be_bytes());
    s.client.handle_gre(s.now, &wrong);
    s.client.handle_gre(
        s.now,
        &gre(10, Some(1000), &ppp(0xC021, &cp(9, 2, &[0; 4]))),
    );
    assert_eq!(s.client.counters().gre_rx_wrong_call_id, 1);
    assert_eq!(s.client.counters().gre_rx_bad_ack, 1);
    assert_eq!(
        s.client.violations().len(),
        2,
        "{:?}",
        s.client.violations()
    );
}

#[test]
fn lcp_retransmits_then_gives_up() {
    let mut config = rfc_config();
    config.max_configure = 3;
    let mut s = Script::new(config);
    s.connect();
    let mut ids = vec![];
    for _ in 0..3 {
        let sent = s.client_sent();
        assert_eq!(sent.len(), 1);
        ids.push(sent[0].1[1]);
        s.now = s.client.poll_at().unwrap();
    }
    assert_eq!(ids, vec![1, 2, 3], "a new Identifier per retransmission");
    s.client_sent();
    assert!(
        matches!(s.client.failure(), Some(Failure::Negotiation(_))),
        "{:?}",
        s.client.state()
    );
}

#[test]
fn test_packets_carry_their_sequence() {
    let a = Ipv4Addr::new(10, 1, 2, 3);
    let b = Ipv4Addr::new(10, 9, 8, 7);
    let udp = packets::ipv4_udp(a, b, 1234, 5678, 0xA1B2C3D4, 200);
    let view = packets::parse_ipv4(&udp).unwrap();
    assert_eq!(
        (view.src, view.dst, view.protocol, view.payload.len()),
        (a, b, 17, 208)
    );
    assert_eq!(packets::test_sequence(&udp), Some(0xA1B2C3D4));
    // UDP checksum over the pseudo header verifies to zero.
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&a.octets());
    pseudo.extend_from_slice(&b.octets());
    pseudo.extend_from_slice(&[0, 17, 0, 208]);
    pseudo.extend_from_slice(view.payload);
    assert_eq!(packets::checksum(&pseudo), 0);

    let icmp = packets::ipv4_icmp_echo(a, b, 7, 42, 56);
    assert_eq!(packets::test_sequence(&icmp), Some(42));
    assert_eq!(
        packets::checksum(packets::parse_ipv4(&icmp).unwrap().payload),
        0
    );

    let outer = packets::ipv4(b, a, packets::PROTO_GRE, 1, &[0x30, 0x01, 0x88, 0x0B]);
    assert_eq!(
        packets::strip_ipv4_gre(&outer),
        Some(&[0x30, 0x01, 0x88, 0x0B][..])
    );
    let mut corrupt = udp.clone();
    corrupt[8] ^= 1; // TTL: header checksum no longer matches
    assert_eq!(packets::parse_ipv4(&corrupt), None);
}

/// No input from a (broken) server may panic the client, in any state.
#[test]
fn random_and_mutated_server_input_never_panics() {
    let mut rng = XorShift(0x1234_5678);
    let mut buf = [0u8; 2000];
    for round in 0..300u64 {
        let mut s = Script::new(rfc_config());
        // Bring it to a random point of the handshake first.
        s.connect();
        if round % 3 != 0 {
            s.open_lcp();
            if round % 3 == 2 {
                s.challenge();
                s.success(AUTHENTICATOR_RESPONSE);
            }
        }
        let seeds: [Vec<u8>; 6] = [
            sccrp(1),
            control(5, &[0, 0, 0, 1]),
            gre(s.seq, Some(0), &ppp(0xC021, &cp(1, 3, &[1, 4, 5, 0xDC]))),
            gre(s.seq, None, &ppp(0xC223, &cp(1, 2, &[0x10; 20]))),
            gre(
                s.seq,
                None,
                &ppp(0x80FD, &cp(1, 2, &[0x12, 6, 1, 0, 0, 0x40])),
            ),
            gre(s.seq, None, &ppp(0x00FD, &[0x90, 0, 1, 2, 3, 4])),
        ];
        for _ in 0..20 {
            let pick = (rng.next_u32() % 7) as usize;
            let mut input = if pick == 6 {
                let len = (rng.next_u32() % 64) as usize;
                let mut v = vec![0u8; len];
                rng.fill_bytes(&mut v);
                v
            } else {
                seeds[pick].clone()
            };
            for _ in 0..(rng.next_u32() % 4) {
                if input.is_empty() {
                    break;
                }
                let at = (rng.next_u32() as usize) % input.len();
                input[at] = rng.next_u32() as u8;
            }
            if rng.next_u32().is_multiple_of(5) {
                let cut = (rng.next_u32() as usize) % (input.len() + 1);
                input.truncate(cut);
            }
            if pick < 2 || rng.next_u32().is_multiple_of(4) {
                s.client.handle_control(s.now, &input);
            } else {
                s.client.handle_gre(s.now, &input);
            }
            s.now += Duration::from_millis(u64::from(rng.next_u32() % 5000));
            while s.client.poll_gre(s.now, &mut buf).is_some() {}
            while s.client.poll_control(s.now, &mut buf).is_some() {}
            let _ = s.client.recv_ip(&mut buf);
        }
        s.client.hang_up(s.now);
        s.client.control_closed(s.now);
    }
}

#[test]
fn server_initiated_disconnect_while_up_closes_cleanly() {
    let mut s = Script::new(rfc_config());
    s.connect();
    s.open_lcp();
    s.challenge();
    s.success(AUTHENTICATOR_RESPONSE);
    s.negotiate_network();
    assert!(s.client.is_up());

    s.server_sends(0xC021, &cp(5, 42, b"Admin shutdown"));
    assert_eq!(s.client_sent(), vec![(0xC021, cp(6, 42, b""))]);
    assert_eq!(*s.client.state(), State::Closing);
    assert_eq!(
        s.client.send_ip(s.now, &[0x45; 20]),
        Err(support::client::SendError::NotUp)
    );

    let mut cdn = SERVER_CALL.to_be_bytes().to_vec();
    cdn.extend_from_slice(&[3, 0, 0, 0, 0, 0]);
    cdn.resize(136, 0);
    s.client.handle_control(s.now, &control(13, &cdn));
    let msgs = messages(&drain_control(&mut s.client, s.now));
    assert_eq!(msgs.iter().map(|m| kind(m)).collect::<Vec<_>>(), vec![3]);
    // The server's own StopCCRQ crosses ours: answer it and we are done.
    s.client.handle_control(s.now, &control(3, &[1, 0, 0, 0]));
    let msgs = messages(&drain_control(&mut s.client, s.now));
    assert_eq!(msgs.iter().map(|m| kind(m)).collect::<Vec<_>>(), vec![4]);
    assert_eq!(*s.client.state(), State::Closed);
    assert!(s
        .client
        .disconnect_reason()
        .unwrap()
        .contains("Admin shutdown"));
    assert!(s.client.control_done());
    assert!(
        s.client.violations().is_empty(),
        "{:?}",
        s.client.violations()
    );
}
