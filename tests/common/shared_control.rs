//! Several test clients' calls on one PPTP control connection, as pptp-linux places them
//! when many sessions go to one server: one Start-Control-Connection, then one
//! Outgoing-Call-Request per call, each call cleared on its own.
//!
//! Each member is a normal [`Client`] that believes it has the connection to itself. The
//! multiplexer sends only the first member's Start-Control-Connection-Request and hands the
//! server's reply to every member; it routes the server's call messages by call ID
//! (Outgoing-Call-Reply by the member's Call ID, Call-Disconnect-Notify by the server's),
//! answers Echo-Requests itself, and keeps a member's Stop-Control-Connection-Request off
//! the wire while other members still have calls (answering it locally), so clearing one
//! call leaves the others up.
#![allow(dead_code)]

use smolpptp::wire::pptp::{self, error_code, reply_result, Packet, Repr};
use smoltcp::socket::tcp;
use smoltcp::time::Instant;

use super::harness::Peer;
use crate::support::client::Client;

pub struct SharedControl {
    pub tcp: smoltcp::iface::SocketHandle,
    /// Indexes of the member peers.
    pub members: Vec<usize>,
    /// The server's Start-Control-Connection-Reply, once it came.
    start_reply: Option<Vec<u8>>,
    start_sent: bool,
    /// Members that have been given the Start-Control-Connection-Reply.
    started: Vec<bool>,
    /// Per member: control bytes it produced that are not a whole message yet.
    member_tx: Vec<Vec<u8>>,
    /// Bytes from the server not yet a whole message.
    rx: Vec<u8>,
    /// Bytes for the server not written to the socket yet.
    tx: Vec<u8>,
    connected: bool,
    closed_notified: bool,
    /// Messages from members that never reached the wire (extra SCCRQs, early StopCCRQs).
    pub kept_back: Vec<String>,
    pub echo_requests_answered: u64,
}

fn emit(repr: &Repr) -> Vec<u8> {
    let mut buf = [0u8; pptp::MAX_MESSAGE_LEN];
    let len = repr.emit_into(&mut buf).expect("emit a control message");
    buf[..len].to_vec()
}

/// Whole messages at the front of `buf` (removed from it).
fn take_messages(buf: &mut Vec<u8>) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Ok(Some(len)) = pptp::frame_len(buf) {
        if len > buf.len() {
            break;
        }
        out.push(buf.drain(..len).collect());
    }
    out
}

impl SharedControl {
    pub fn new(tcp: smoltcp::iface::SocketHandle, members: Vec<usize>) -> SharedControl {
        let n = members.len();
        SharedControl {
            tcp,
            members,
            start_reply: None,
            start_sent: false,
            started: vec![false; n],
            member_tx: vec![Vec::new(); n],
            rx: Vec::new(),
            tx: Vec::new(),
            connected: false,
            closed_notified: false,
            kept_back: Vec::new(),
            echo_requests_answered: 0,
        }
    }

    /// Whether any member other than `m` still has a call or is setting one up.
    fn others_active(&self, m: usize, peers: &[Peer]) -> bool {
        self.members
            .iter()
            .enumerate()
            .any(|(k, &p)| k != m && !peers[p].client.control_done())
    }

    /// Move bytes between the socket and the members, once.
    pub fn drive(&mut self, now: Instant, socket: &mut tcp::Socket, peers: &mut [Peer]) {
        if socket.may_send() {
            self.connected = true;
        }
        while socket.can_recv() {
            let mut buf = [0u8; 2048];
            match socket.recv_slice(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => self.rx.extend_from_slice(&buf[..n]),
            }
        }
        let mut replies = Vec::new();
        for message in take_messages(&mut self.rx) {
            self.on_server_message(now, &message, peers, &mut replies);
        }
        if self.connected && !socket.may_recv() && !self.closed_notified && self.rx.is_empty() {
            self.closed_notified = true;
            for &p in &self.members {
                peers[p].client.control_closed(now);
            }
            socket.close();
        }
        // Members' output.
        for m in 0..self.members.len() {
            let p = self.members[m];
            let mut buf = [0u8; 2048];
            while let Some(n) = peers[p].client.poll_control(now, &mut buf) {
                self.member_tx[m].extend_from_slice(&buf[..n]);
            }
            for message in take_messages(&mut self.member_tx[m]) {
                self.on_member_message(now, m, message, peers, &mut replies);
            }
        }
        for r in replies {
            self.tx.extend_from_slice(&r);
        }
        if self.connected && socket.may_send() {
            let n = socket.send_slice(&self.tx).unwrap_or(0);
            self.tx.drain(..n);
            let all_done = self.members.iter().all(|&p| peers[p].client.control_done());
            if all_done && self.tx.is_empty() && socket.send_queue() == 0 {
                socket.close();
            }
        }
    }

    fn on_server_message(
        &mut self,
        now: Instant,
        message: &[u8],
        peers: &mut [Peer],
        out: &mut Vec<Vec<u8>>,
    ) {
        let Ok(repr) = Packet::new_checked(message).and_then(|p| Repr::parse(&p)) else {
            // Let every member see the broken stream.
            for &p in &self.members {
                peers[p].client.handle_control(now, message);
            }
            return;
        };
        let to = |peers: &mut [Peer], p: usize| peers[p].client.handle_control(now, message);
        match repr {
            Repr::StartControlConnectionReply { .. } if self.start_reply.is_none() => {
                self.start_reply = Some(message.to_vec());
                for m in 0..self.members.len() {
                    self.give_start_reply(now, m, peers);
                }
            }
            Repr::OutgoingCallReply { peer_call_id, .. } => {
                if let Some(&p) = self
                    .members
                    .iter()
                    .find(|&&p| peers[p].client.our_call_id() == peer_call_id)
                {
                    to(peers, p);
                }
            }
            Repr::CallDisconnectNotify { call_id, .. } => {
                if let Some(&p) = self
                    .members
                    .iter()
                    .find(|&&p| peers[p].client.peer_call_id() == Some(call_id))
                {
                    to(peers, p);
                }
            }
            Repr::EchoRequest { identifier } => {
                self.echo_requests_answered += 1;
                out.push(emit(&Repr::EchoReply {
                    identifier,
                    result_code: reply_result::OK,
                    error_code: error_code::NONE,
                }));
            }
            _ => {
                for &p in &self.members {
                    to(peers, p);
                }
            }
        }
    }

    fn give_start_reply(&mut self, now: Instant, m: usize, peers: &mut [Peer]) {
        if let Some(reply) = &self.start_reply {
            if !self.started[m] {
                self.started[m] = true;
                peers[self.members[m]].client.handle_control(now, reply);
            }
        }
    }

    fn on_member_message(
        &mut self,
        now: Instant,
        m: usize,
        message: Vec<u8>,
        peers: &mut [Peer],
        out: &mut Vec<Vec<u8>>,
    ) {
        let repr = Packet::new_checked(&message[..]).and_then(|p| Repr::parse(&p));
        match repr {
            Ok(Repr::StartControlConnectionRequest { .. }) => {
                if !self.start_sent {
                    self.start_sent = true;
                    out.push(message);
                } else {
                    self.kept_back
                        .push(format!("member {m}: Start-Control-Connection-Request"));
                    self.give_start_reply(now, m, peers);
                }
            }
            Ok(Repr::StopControlConnectionRequest { .. }) if self.others_active(m, peers) => {
                self.kept_back
                    .push(format!("member {m}: Stop-Control-Connection-Request"));
                let reply = emit(&Repr::StopControlConnectionReply {
                    result_code: reply_result::OK,
                    error_code: error_code::NONE,
                });
                let client: &mut Client = &mut peers[self.members[m]].client;
                client.handle_control(now, &reply);
            }
            _ => out.push(message),
        }
    }
}
