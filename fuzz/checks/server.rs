//! A whole `smolpptp::server::Server` on an in-memory IP device, driven by an arbitrary
//! program of packets in both directions: from the client side raw frames, IPv4 packets of
//! any protocol, TCP segments to port 1723 (the harness keeps sequence and ack numbers
//! right, so PPTP control messages really reach the control connection), GRE packets for
//! the calls the server set up or any call ID, PPP frames inside them, and the two answers
//! a fuzzer cannot guess (Configure-Ack of the server's last Configure-Request, and a
//! correct MS-CHAPv2 Response); from the network side packets for client addresses
//! (`send_to_client`); plus time steps, shutdown and reload.
//!
//! Checks: nothing panics; every frame the server sends is a valid IPv4 packet from its
//! address, its TCP streams carry well-formed PPTP messages, its GRE packets parse and go
//! to call IDs clients asked for; and `poll` settles (no busy loop) at any time.

use super::Input;
use smolpptp::crypto::mppe::{Encrypter, KeyLength, StartKeys};
use smolpptp::crypto::mschapv2;
use smolpptp::limits;
use smolpptp::rand::XorShift;
use smolpptp::server::{NetConfig, Server, Storage, Tunnel};
use smolpptp::settings::{AddressRange, AddressRule, Secret, Secrets, Settings};
use smolpptp::wire::{chap, cp, gre, ppp, pptp};
use smoltcp::iface::SocketStorage;
use smoltcp::phy::{self, ChecksumCapabilities, Device, DeviceCapabilities, Medium};
use smoltcp::socket::raw;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{
    HardwareAddress, IpAddress, IpProtocol, Ipv4Packet, Ipv4Repr, TcpControl, TcpPacket, TcpRepr,
    TcpSeqNumber,
};
use std::collections::{HashSet, VecDeque};
use std::net::Ipv4Addr;

const SERVER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);
const POOL_FIRST: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 2);
const USER: &[u8] = b"tomc";
const PASSWORD: &[u8] = b"labpass-42";
/// Client TCP connections the program can use.
const CONNS: usize = 3;
/// Polls at one instant before the server is taken to be spinning.
const MAX_POLLS: usize = 200;

// Operations.
const SYN: u8 = 0;
const DATA: u8 = 1;
const PPTP_MESSAGE: u8 = 2;
const FIN_OR_RST: u8 = 3;
const GRE: u8 = 4;
const ACK_CONFIGURE: u8 = 5;
const CHAP_RESPONSE: u8 = 6;
const RAW_FRAME: u8 = 7;
const IP_TO_SERVER: u8 = 8;
const TO_CLIENT: u8 = 9;
const ADVANCE: u8 = 10;
const SHUTDOWN: u8 = 11;
const RELOAD: u8 = 12;
const ENCRYPTED_IP: u8 = 13;
const OPS: u8 = 14;

/// The server's device: frames in, frames out, unbounded (the harness drains it).
#[derive(Default)]
struct Pipe {
    rx: VecDeque<Vec<u8>>,
    tx: Vec<Vec<u8>>,
}

struct RxToken(Vec<u8>);
struct TxToken<'a>(&'a mut Vec<Vec<u8>>);

impl phy::RxToken for RxToken {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = vec![0u8; len];
        let r = f(&mut frame);
        self.0.push(frame);
        r
    }
}

impl Device for Pipe {
    type RxToken<'a> = RxToken;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _: Instant) -> Option<(RxToken, TxToken<'_>)> {
        let frame = self.rx.pop_front()?;
        Some((RxToken(frame), TxToken(&mut self.tx)))
    }

    fn transmit(&mut self, _: Instant) -> Option<TxToken<'_>> {
        Some(TxToken(&mut self.tx))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = limits::DEVICE_MTU;
        caps
    }
}

struct OneUser;

impl Secrets for OneUser {
    fn lookup(&mut self, client: &[u8], _server: &[u8], _peer: Ipv4Addr) -> Option<Secret> {
        if client != USER {
            return None;
        }
        let mut password = heapless::Vec::new();
        password.extend_from_slice(PASSWORD).ok()?;
        Some(Secret {
            password,
            address: AddressRule::Pool,
        })
    }
}

#[derive(Default)]
struct Sink {
    delivered: usize,
}

impl Tunnel for Sink {
    fn deliver(&mut self, ip_packet: &[u8]) {
        assert!(ip_packet.len() <= limits::MAX_PPP_FRAME);
        self.delivered += 1;
    }
}

/// The client side of one TCP connection to port 1723.
#[derive(Default, Clone)]
struct Conn {
    port: u16,
    snd_nxt: u32,
    /// Next byte expected from the server (after its SYN-ACK).
    rcv_nxt: Option<u32>,
    /// Server → client stream bytes not yet framed into PPTP messages.
    stream: Vec<u8>,
}

/// What the client side learned from the server's packets.
#[derive(Default)]
struct Client {
    conns: [Conn; CONNS],
    /// (server call ID, client call ID) from Outgoing-Call-Replies that connected.
    calls: Vec<(u16, u16)>,
    /// Call IDs clients put in Outgoing-Call-Requests: the only keys the server may use.
    asked_call_ids: HashSet<u16>,
    /// Per protocol (LCP, IPCP, CCP): the server's last Configure-Request (id, options).
    configure_requests: [Option<(u8, Vec<u8>)>; 4],
    /// The last CHAP Challenge: identifier and the 16-byte challenge.
    challenge: Option<(u8, [u8; 16])>,
    gre_sequence: u32,
    /// MPPE-128 stateless towards the server, once a correct Response was sent.
    encrypter: Option<Encrypter>,
}

const CONFIGURED: [u16; 4] = [
    ppp::protocol::LCP,
    ppp::protocol::IPCP,
    ppp::protocol::CCP,
    ppp::protocol::IPV6CP,
];

fn settings(connections: usize) -> Settings {
    let mut s = Settings::default();
    let _ = s.local.ranges.push(AddressRange {
        first: Ipv4Addr::new(10, 9, 0, 1),
        last: Ipv4Addr::new(10, 9, 0, 1),
    });
    let _ = s.remote.ranges.push(AddressRange {
        first: POOL_FIRST,
        last: Ipv4Addr::new(10, 9, 0, 9),
    });
    s.ppp.dns = [Some(Ipv4Addr::new(10, 9, 0, 1)), None];
    s.connections = connections.min(limits::MAX_SESSIONS);
    s.stimeout = 10;
    // Half the programs run IPv6CP (`+ipv6`) too.
    s.ppp.ipv6.enabled = connections.is_multiple_of(2);
    s
}

pub fn run(data: &[u8]) {
    super::init_logging();
    let mut input = Input::new(data);
    let conns = limits::MAX_CONTROL_CONNECTIONS;
    let mut sockets: Vec<SocketStorage> = (0..conns + 1).map(|_| SocketStorage::EMPTY).collect();
    let mut tcp_rx = vec![0u8; conns * limits::TCP_RX_BUFFER];
    let mut tcp_tx = vec![0u8; conns * limits::TCP_TX_BUFFER];
    let mut gre_rx_meta = vec![raw::PacketMetadata::EMPTY; limits::GRE_RX_PACKETS];
    let mut gre_rx = vec![0u8; limits::GRE_RX_BUFFER];
    let mut gre_tx_meta = vec![raw::PacketMetadata::EMPTY; limits::GRE_TX_PACKETS];
    let mut gre_tx = vec![0u8; limits::GRE_TX_BUFFER];
    let mut sessions: Vec<_> = (0..limits::MAX_SESSIONS).map(|_| None).collect();
    let storage = Storage {
        sockets: &mut sockets,
        tcp_rx: &mut tcp_rx,
        tcp_tx: &mut tcp_tx,
        gre_rx_meta: &mut gre_rx_meta,
        gre_rx: &mut gre_rx,
        gre_tx_meta: &mut gre_tx_meta,
        gre_tx: &mut gre_tx,
        sessions: &mut sessions,
    };
    let mut device = Pipe::default();
    let mut rng = XorShift(0x5EED_F022);
    let mut now = Instant::from_millis(1_000);
    let net = NetConfig {
        hardware: HardwareAddress::Ip,
        address: SERVER,
        prefix_len: 24,
        gateway: None,
    };
    let connections = 1 + usize::from(input.u8() % 4);
    let mut server = Server::new(
        settings(connections),
        net,
        storage,
        &mut device,
        now,
        &mut rng,
    );
    let mut sink = Sink::default();
    let mut client = Client::default();
    for (i, c) in client.conns.iter_mut().enumerate() {
        c.port = 40_000 + i as u16;
    }

    let debug = std::env::var_os("FUZZ_DEBUG").is_some();
    while !input.is_empty() {
        let op = input.u8() % OPS;
        if debug {
            let state: Vec<_> = server
                .sessions()
                .map(|s| (s.link.user().to_string(), s.link.peer_address()))
                .collect();
            eprintln!("op {op}: sessions {state:?}, delivered {}", sink.delivered);
        }
        match op {
            SYN => {
                let conn = &mut client.conns[usize::from(input.u8()) % CONNS];
                let isn = input.u32();
                conn.snd_nxt = isn.wrapping_add(1);
                conn.rcv_nxt = None;
                conn.stream.clear();
                let (port, ack) = (conn.port, None);
                device
                    .rx
                    .push_back(tcp(port, isn, ack, TcpControl::Syn, &[]));
            }
            DATA => {
                let i = usize::from(input.u8()) % CONNS;
                let payload = input.chunk().to_vec();
                send_tcp(&mut device, &mut client.conns[i], TcpControl::Psh, &payload);
            }
            PPTP_MESSAGE => {
                let i = usize::from(input.u8()) % CONNS;
                let message = pptp_message(&mut input, &mut client);
                send_tcp(&mut device, &mut client.conns[i], TcpControl::Psh, &message);
            }
            FIN_OR_RST => {
                let i = usize::from(input.u8()) % CONNS;
                let control = if input.bool() {
                    TcpControl::Fin
                } else {
                    TcpControl::Rst
                };
                send_tcp(&mut device, &mut client.conns[i], control, &[]);
            }
            GRE => {
                let frame = input.chunk().to_vec();
                send_gre(&mut device, &mut client, &mut input, &frame);
            }
            ACK_CONFIGURE => {
                let which = usize::from(input.u8()) % CONFIGURED.len();
                if let Some((id, options)) = client.configure_requests[which].take() {
                    let mut frame = vec![0u8; 4 + 4 + options.len()];
                    let at = ppp::emit_header(&mut frame, CONFIGURED[which], false, false).unwrap();
                    let repr = cp::Repr {
                        code: cp::code::CONFIGURE_ACK,
                        identifier: id,
                        data: &options,
                    };
                    let len = repr.emit(&mut frame[at..]).unwrap();
                    frame.truncate(at + len);
                    send_gre(&mut device, &mut client, &mut input, &frame);
                }
            }
            CHAP_RESPONSE => {
                let right_password = input.bool();
                if let Some((id, challenge)) = client.challenge.take() {
                    let peer_challenge = [0x42u8; 16];
                    let password: &[u8] = if right_password { PASSWORD } else { b"wrong" };
                    let hash = mschapv2::nt_password_hash(password);
                    let nt =
                        mschapv2::generate_nt_response(&challenge, &peer_challenge, USER, &hash);
                    let value = chap::MsChapV2Response::encode(&peer_challenge, &nt, 0);
                    let keys = StartKeys::client(&hash, &nt);
                    client.encrypter = Some(Encrypter::new(&keys.send, KeyLength::Bits128, true));
                    let repr = chap::Repr::Response {
                        identifier: id,
                        value: &value,
                        name: USER,
                    };
                    let mut frame = vec![0u8; 4 + repr.buffer_len()];
                    let at =
                        ppp::emit_header(&mut frame, ppp::protocol::CHAP, false, false).unwrap();
                    repr.emit(&mut frame[at..]).unwrap();
                    send_gre(&mut device, &mut client, &mut input, &frame);
                }
            }
            RAW_FRAME => device.rx.push_back(input.chunk().to_vec()),
            IP_TO_SERVER => {
                let protocol = input.u8();
                let payload = input.chunk();
                device.rx.push_back(ipv4(CLIENT, SERVER, protocol, payload));
            }
            TO_CLIENT => {
                let host = input.u8() % 10;
                let dst = Ipv4Addr::from(u32::from(POOL_FIRST) + u32::from(host));
                let packet = if input.bool() {
                    let mut packet = input.chunk().to_vec();
                    // IPv6 to fe80::<any identifier a client may hold>.
                    if packet.len() >= 40 && packet[0] >> 4 == 6 {
                        packet[24..32].copy_from_slice(&[0xFE, 0x80, 0, 0, 0, 0, 0, 0]);
                    }
                    packet
                } else {
                    let protocol = input.u8();
                    let payload = input.chunk();
                    ipv4(Ipv4Addr::new(198, 51, 100, 9), dst, protocol, payload)
                };
                let _ = server.send_to_client(now, &packet);
            }
            ADVANCE => {
                let step = input.u16();
                now += if step & 0x8000 != 0 {
                    Duration::from_secs(u64::from(step & 0x7FFF))
                } else {
                    Duration::from_millis(u64::from(step))
                };
            }
            ENCRYPTED_IP => {
                let protocol = input.u8();
                let payload = input.chunk();
                let dst = Ipv4Addr::new(198, 51, 100, 9);
                let ip = ipv4(
                    POOL_FIRST,
                    dst,
                    protocol,
                    &payload[..payload.len().min(1300)],
                );
                if let Some(encrypter) = client.encrypter.as_mut() {
                    let mut data = [&[0x00, 0x21][..], &ip].concat();
                    let header = encrypter.encrypt(&mut data);
                    let frame = [&[0xFF, 0x03, 0x00, 0xFD][..], &header.to_bytes(), &data].concat();
                    send_gre(&mut device, &mut client, &mut input, &frame);
                }
            }
            SHUTDOWN => server.shutdown(now),
            RELOAD => server.reload(settings(1 + usize::from(input.u8() % 4))),
            _ => unreachable!(),
        }
        settle(
            &mut server,
            now,
            &mut device,
            &mut sink,
            &mut client,
            &mut rng,
        );
    }
    let _ = server.poll_at(now);
    let _ = server.is_shut_down(now);
    for session in server.sessions() {
        let _ = format!("{:?} {:?}", session.gre, session.counters);
    }
    // FUZZ_DEBUG=1 on a replay shows how far an input got.
    if debug {
        eprintln!(
            "calls {:?}, sessions {:?}, delivered {}, challenge seen {}",
            client.calls,
            server
                .sessions()
                .map(|s| (s.call_id, s.link.user().to_string(), s.address))
                .collect::<Vec<_>>(),
            sink.delivered,
            client.challenge.is_some(),
        );
    }
}

/// Poll until the server has nothing more to do at `now`, reading what it sends.
fn settle(
    server: &mut Server,
    now: Instant,
    device: &mut Pipe,
    sink: &mut Sink,
    client: &mut Client,
    rng: &mut XorShift,
) {
    for _ in 0..MAX_POLLS {
        let busy = server.poll(now, device, sink, &mut OneUser, rng);
        for frame in std::mem::take(&mut device.tx) {
            observe(client, &frame);
        }
        if !busy && device.rx.is_empty() {
            return;
        }
    }
    panic!("server still busy after {MAX_POLLS} polls at one instant");
}

/// Check one frame the server sent and learn from it.
fn observe(client: &mut Client, frame: &[u8]) {
    let ip = Ipv4Packet::new_checked(frame).expect("server sent a bad IPv4 packet");
    let repr = Ipv4Repr::parse(&ip, &ChecksumCapabilities::default())
        .expect("server sent an IPv4 packet with a bad header");
    assert_eq!(repr.src_addr, SERVER, "server sent from another address");
    match u8::from(repr.next_header) {
        6 => observe_tcp(client, &ip),
        47 => observe_gre(client, ip.payload()),
        _ => {}
    }
}

fn observe_tcp(client: &mut Client, ip: &Ipv4Packet<&[u8]>) {
    let Ok(tcp) = TcpPacket::new_checked(ip.payload()) else {
        panic!("server sent a bad TCP segment");
    };
    if tcp.src_port() != pptp::PPTP_PORT {
        // Only port 1723 listens: anything else gets a reset from smoltcp.
        assert!(
            tcp.rst(),
            "TCP from port {} that is not a reset",
            tcp.src_port()
        );
        return;
    }
    let Some(conn) = client.conns.iter_mut().find(|c| c.port == tcp.dst_port()) else {
        return;
    };
    let seq = tcp.seq_number().0 as u32;
    let payload = tcp.payload();
    if tcp.syn() {
        conn.rcv_nxt = Some(seq.wrapping_add(1));
        return;
    }
    let Some(expected) = conn.rcv_nxt else {
        return;
    };
    if seq == expected {
        conn.stream.extend_from_slice(payload);
        conn.rcv_nxt = Some(
            expected
                .wrapping_add(payload.len() as u32)
                .wrapping_add(u32::from(tcp.fin())),
        );
    }
    // The server's side of the stream: whole, valid PPTP control messages.
    loop {
        match pptp::frame_len(&conn.stream) {
            Ok(Some(len)) if len <= conn.stream.len() => {
                let message: Vec<u8> = conn.stream.drain(..len).collect();
                let packet = pptp::Packet::new_checked(&message[..])
                    .expect("server sent a malformed PPTP message");
                let repr = pptp::Repr::parse(&packet).expect("server sent an unparsable message");
                if let pptp::Repr::OutgoingCallReply {
                    call_id,
                    peer_call_id,
                    result_code: pptp::outgoing_result::CONNECTED,
                    ..
                } = repr
                {
                    assert!(client.asked_call_ids.contains(&peer_call_id));
                    client.calls.push((call_id, peer_call_id));
                }
            }
            Ok(_) => break,
            Err(e) => panic!("server's PPTP stream out of sync: {e}"),
        }
    }
}

fn observe_gre(client: &mut Client, bytes: &[u8]) {
    let packet = gre::Packet::new_checked(bytes).expect("server sent a truncated GRE packet");
    let repr = gre::Repr::parse(&packet).expect("server sent a bad GRE packet");
    assert!(
        client.asked_call_ids.contains(&repr.call_id),
        "GRE to call ID {} nobody asked for",
        repr.call_id
    );
    let frame = packet.payload();
    let Ok((protocol, at)) = ppp::parse(frame) else {
        assert!(frame.is_empty(), "server sent a bad PPP frame");
        return;
    };
    let body = &frame[at..];
    if std::env::var_os("FUZZ_DEBUG").is_some() {
        eprintln!(
            "  server sent {protocol:#06x} {:?}",
            &body[..body.len().min(12)]
        );
    }
    if protocol == ppp::protocol::CHAP {
        if let Ok(chap::Repr::Challenge {
            identifier, value, ..
        }) = chap::Repr::parse(body)
        {
            if let Ok(challenge) = <[u8; 16]>::try_from(value) {
                client.challenge = Some((identifier, challenge));
            }
        }
        return;
    }
    if let Some(which) = CONFIGURED.iter().position(|&p| p == protocol) {
        let packet = cp::Packet::new_checked(body).expect("server sent a bad control packet");
        let repr = cp::Repr::parse(&packet).unwrap();
        if repr.code == cp::code::CONFIGURE_REQUEST {
            cp::Options::validate(repr.data).expect("server sent malformed options");
            client.configure_requests[which] = Some((repr.identifier, repr.data.to_vec()));
        }
    }
}

/// A PPTP control message from the input: a valid header of the type it picks and a body
/// from it, with the fields the server checks set right when the input asks for that.
fn pptp_message(input: &mut Input, client: &mut Client) -> Vec<u8> {
    let kind = pptp::MessageType::from_u16(u16::from(input.u8() % 16))
        .unwrap_or(pptp::MessageType::StartControlConnectionRequest);
    let len = kind.message_len();
    let mut message = vec![0u8; len];
    pptp::Packet::new_unchecked(&mut message[..]).emit_header(kind);
    let body = input.bytes(len - pptp::HEADER_LEN);
    message[pptp::HEADER_LEN..pptp::HEADER_LEN + body.len()].copy_from_slice(body);
    if body.first() == Some(&0xFF) && kind == pptp::MessageType::StartControlConnectionRequest {
        message[12..14].copy_from_slice(&pptp::PROTOCOL_VERSION.to_be_bytes());
    }
    if kind == pptp::MessageType::OutgoingCallRequest {
        let call_id = u16::from_be_bytes([message[12], message[13]]);
        client.asked_call_ids.insert(call_id);
    }
    message
}

fn send_tcp(device: &mut Pipe, conn: &mut Conn, control: TcpControl, payload: &[u8]) {
    let seq = conn.snd_nxt;
    conn.snd_nxt = seq
        .wrapping_add(payload.len() as u32)
        .wrapping_add(u32::from(control == TcpControl::Fin));
    device
        .rx
        .push_back(tcp(conn.port, seq, conn.rcv_nxt, control, payload));
}

/// A GRE packet carrying `frame`: to a call the server set up or any call ID, with the
/// next sequence number or any, with or without an ack.
fn send_gre(device: &mut Pipe, client: &mut Client, input: &mut Input, frame: &[u8]) {
    let flags = input.u8();
    let call_id = match (flags & 0x03, client.calls.last()) {
        (0, _) | (_, None) => input.u16(),
        (_, Some(&(call_id, _))) => call_id,
    };
    let sequence = if flags & 0x04 != 0 {
        input.u32()
    } else {
        client.gre_sequence = client.gre_sequence.wrapping_add(1);
        client.gre_sequence
    };
    let repr = gre::Repr {
        call_id,
        sequence: (flags & 0x08 == 0 || !frame.is_empty()).then_some(sequence),
        ack: (flags & 0x10 != 0).then(|| input.u32()),
        payload_len: frame.len().min(1600) as u16,
    };
    let frame = &frame[..usize::from(repr.payload_len)];
    if repr.sequence.is_none() && repr.ack.is_none() {
        return;
    }
    let mut packet = vec![0u8; repr.buffer_len()];
    let at = repr.emit_header_into(&mut packet).unwrap();
    packet[at..].copy_from_slice(frame);
    device.rx.push_back(ipv4(CLIENT, SERVER, 47, &packet));
}

fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, payload: &[u8]) -> Vec<u8> {
    let payload = &payload[..payload.len().min(limits::DEVICE_MTU - 20)];
    let repr = Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: IpProtocol::from(protocol),
        payload_len: payload.len(),
        hop_limit: 64,
    };
    let mut frame = vec![0u8; 20 + payload.len()];
    repr.emit(
        &mut Ipv4Packet::new_unchecked(&mut frame[..]),
        &ChecksumCapabilities::default(),
    );
    frame[20..].copy_from_slice(payload);
    frame
}

fn tcp(port: u16, seq: u32, ack: Option<u32>, control: TcpControl, payload: &[u8]) -> Vec<u8> {
    let payload = &payload[..payload.len().min(1400)];
    let repr = TcpRepr {
        src_port: port,
        dst_port: pptp::PPTP_PORT,
        control,
        seq_number: TcpSeqNumber(seq as i32),
        ack_number: ack.map(|a| TcpSeqNumber(a as i32)),
        window_len: 8192,
        window_scale: None,
        max_seg_size: (control == TcpControl::Syn).then_some(1400),
        sack_permitted: false,
        sack_ranges: [None; 3],
        timestamp: None,
        payload,
    };
    let mut segment = vec![0u8; repr.buffer_len()];
    repr.emit(
        &mut TcpPacket::new_unchecked(&mut segment[..]),
        &IpAddress::Ipv4(CLIENT),
        &IpAddress::Ipv4(SERVER),
        &ChecksumCapabilities::default(),
    );
    ipv4(CLIENT, SERVER, 6, &segment)
}

pub fn seeds() -> Vec<Vec<u8>> {
    use super::Script;
    // Connection 0: SYN, SCCRQ (version 1.0), OCRQ with call ID 0x4000; then PPP: our LCP
    // Configure-Request (no options), Ack the server's, answer the challenge, CCP and IPCP
    // requests and acks, an IP packet each way, time, shutdown.
    let mut sccrq = vec![0xFFu8];
    sccrq.resize(144, 0);
    let mut ocrq = vec![0x40, 0x00, 0x00, 0x01];
    ocrq.resize(156, 0);
    let lcp_request = [0xFF, 0x03, 0xC0, 0x21, 1, 1, 0, 4];
    let ccp_request = [0xFF, 0x03, 0x80, 0xFD, 1, 1, 0, 10, 18, 6, 1, 0, 0, 0x40];
    let ipcp_request = [0xFF, 0x03, 0x80, 0x21, 1, 1, 0, 10, 3, 6, 10, 9, 0, 2];
    let gre_flags = 1; // to the last call, next sequence number, no ack
    let s = Script::default()
        .u8(1)
        .u8(SYN)
        .u8(0)
        .u32(1000)
        .u8(PPTP_MESSAGE)
        .u8(0)
        .u8(1)
        .bytes(&sccrq)
        .u8(PPTP_MESSAGE)
        .u8(0)
        .u8(7)
        .bytes(&ocrq)
        .u8(GRE)
        .chunk(&lcp_request)
        .u8(gre_flags)
        .u8(ACK_CONFIGURE)
        .u8(0)
        .u8(gre_flags)
        .u8(CHAP_RESPONSE)
        .u8(1)
        .u8(gre_flags)
        .u8(GRE)
        .chunk(&ccp_request)
        .u8(gre_flags)
        .u8(ACK_CONFIGURE)
        .u8(2)
        .u8(gre_flags)
        .u8(GRE)
        .chunk(&ipcp_request)
        .u8(gre_flags)
        .u8(ACK_CONFIGURE)
        .u8(1)
        .u8(gre_flags)
        .u8(TO_CLIENT)
        .u8(0)
        .u8(0)
        .u8(17)
        .chunk(&[0u8; 40])
        .u8(ENCRYPTED_IP)
        .u8(17)
        .chunk(&[0u8; 40])
        .u8(gre_flags)
        .u8(ADVANCE)
        .u16(0x8000 | 70)
        .u8(SHUTDOWN)
        .u8(ADVANCE)
        .u16(0x8000 | 5);
    let garbage = Script::default()
        .u8(0)
        .u8(RAW_FRAME)
        .chunk(&[
            0x45, 0, 0, 20, 0, 0, 0, 0, 64, 47, 0, 0, 192, 0, 2, 100, 192, 0, 2, 1,
        ])
        .u8(IP_TO_SERVER)
        .u8(47)
        .chunk(&[0x30, 0x81, 0x88, 0x0B, 0, 0, 0, 1, 0, 0, 0, 0])
        .u8(SYN)
        .u8(1)
        .u32(7)
        .u8(DATA)
        .u8(1)
        .chunk(b"GET / HTTP/1.0\r\n\r\n");
    vec![s.0, garbage.0]
}
