//! The MS-CHAPv2 authenticator (RFC 2759), server side: send a Challenge, check the peer's
//! Response against the secrets, answer Success or Failure, and hand the MPPE start keys to
//! the link. Sans-IO: packets go into the link's [`Outbox`], time comes in as arguments.

use core::net::Ipv4Addr;

use heapless::{String, Vec};
use smoltcp::time::{Duration, Instant};

use crate::crypto::mppe::StartKeys;
use crate::crypto::mschapv2::{
    ct_eq, generate_authenticator_response, generate_nt_response, hex_upper, nt_password_hash,
};
use crate::crypto::wipe;
use crate::ppp::Outbox;
use crate::rand::Random;
use crate::settings::{AddressRule, Secrets, MAX_NAME_LEN};
use crate::wire::chap::{self, MsChapV2Response, Repr, MSCHAPV2_CHALLENGE_LEN};

/// PPP protocol number of CHAP.
pub const PROTOCOL: u16 = 0xC223;
/// pppd's `chap-restart`: seconds between Challenge retransmissions.
pub const RESTART_INTERVAL: Duration = Duration::from_secs(3);
/// pppd's `chap-max-challenge`: Challenges sent before giving up.
pub const MAX_CHALLENGES: u8 = 10;

/// Text after `S=<40 hex>` in a Success (pppd's wording).
const SUCCESS_TEXT: &[u8] = b" M=Access granted";
/// The longest Success or Failure message we send (the Failure, 73 bytes).
const MAX_VERDICT_LEN: usize = 80;

/// The result of an authentication, as far as the caller needs to act on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthStatus {
    /// Nothing decided by this event (still waiting, or a packet that changed nothing).
    Pending,
    /// The peer proved the password; Success is queued.
    Succeeded(AuthInfo),
    /// Wrong password, unknown user, address denied or no answer; Failure is queued where
    /// there was a Response to answer. The link should terminate LCP.
    Failed,
}

/// What the link needs after a successful login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthInfo {
    /// The name the peer sent, for logs and scripts: invalid UTF-8 and control characters
    /// become `?`, and it is cut at 64 bytes.
    pub user: String<MAX_NAME_LEN>,
    /// MPPE start keys of both directions, server side.
    pub keys: StartKeys,
    /// The address column of the user's chap-secrets line.
    pub address: AddressRule,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// `start` not called yet.
    Idle,
    /// Challenge sent, waiting for the Response.
    Challenging { deadline: Instant, sent: u8 },
    /// Success or Failure sent; repeated Responses get the same answer.
    Answered { code: u8 },
    /// The peer never answered.
    GaveUp,
}

/// MS-CHAPv2 authenticator of one link. The challenges first (`repr(C)`), word-aligned:
/// byte-aligned, each copy of them took unaligned load/store pairs on MIPS.
#[repr(C)]
pub struct ChapAuthenticator {
    /// The fresh challenge for the `C=` field of a Failure, drawn with the first one so that
    /// `receive` needs no random source.
    failure_challenge: [u8; 16],
    identifier: u8,
    /// Puts the challenge proper (after its Value-Size byte) on a word boundary.
    _align: [u8; 2],
    /// The Challenge's Value field as sent: Value-Size (16), then the challenge (see
    /// [`ChapAuthenticator::challenge`]); kept whole, it is sent without a copy.
    challenge_value: [u8; 1 + MSCHAPV2_CHALLENGE_LEN],
    state: State,
    name: Vec<u8, MAX_NAME_LEN>,
    /// The Success or Failure message sent, for duplicate Responses.
    verdict: Vec<u8, MAX_VERDICT_LEN>,
}

impl Default for ChapAuthenticator {
    fn default() -> Self {
        Self::new()
    }
}

impl ChapAuthenticator {
    pub const fn new() -> Self {
        ChapAuthenticator {
            state: State::Idle,
            identifier: 0,
            failure_challenge: [0; 16],
            _align: [0; 2],
            challenge_value: [MSCHAPV2_CHALLENGE_LEN as u8; 1 + MSCHAPV2_CHALLENGE_LEN],
            name: Vec::new(),
            verdict: Vec::new(),
        }
    }

    /// Starts (or restarts) an authentication: a new random challenge and identifier, and
    /// a Challenge carrying our `name` (cut at 64 bytes).
    pub fn start(&mut self, now: Instant, rng: &mut dyn Random, name: &[u8], outbox: &mut Outbox) {
        let previous = self.identifier;
        rng.fill_bytes(&mut self.challenge_value[1..]);
        rng.fill_bytes(&mut self.failure_challenge);
        let mut id = [0u8; 1];
        rng.fill_bytes(&mut id);
        // A restarted authentication must not accept a late Response to the old Challenge.
        self.identifier = if matches!(self.state, State::Idle) || id[0] != previous {
            id[0]
        } else {
            id[0].wrapping_add(1)
        };
        self.name.clear();
        let _ = self
            .name
            .extend_from_slice(&name[..name.len().min(MAX_NAME_LEN)]);
        self.verdict.clear();
        self.send_challenge(outbox);
        self.state = State::Challenging {
            deadline: now + RESTART_INTERVAL,
            sent: 1,
        };
    }

    /// Handles a CHAP packet from the peer (from the Code field on). `name` is our name, as
    /// the server column for [`Secrets::lookup`]; `peer` is the client's public address.
    pub fn receive(
        &mut self,
        _now: Instant,
        packet: &[u8],
        secrets: &mut dyn Secrets,
        peer: Ipv4Addr,
        name: &[u8],
        outbox: &mut Outbox,
    ) -> AuthStatus {
        let (identifier, value, user_name) = match Repr::parse(packet) {
            Ok(Repr::Response {
                identifier,
                value,
                name,
            }) => (identifier, value, name),
            Ok(other) => {
                crate::debug!("MS-CHAP-V2: ignoring CHAP code {} from peer", other.code());
                return AuthStatus::Pending;
            }
            Err(e) => {
                crate::debug!("MS-CHAP-V2: dropping {e} CHAP packet");
                return AuthStatus::Pending;
            }
        };
        if identifier != self.identifier {
            crate::debug!(
                "MS-CHAP-V2: ignoring Response id {identifier}, expected {}",
                self.identifier
            );
            return AuthStatus::Pending;
        }
        match self.state {
            State::Challenging { .. } => {}
            State::Answered { code } => {
                // Our Success/Failure was lost: say the same again, without checking twice.
                self.send_verdict(code, outbox);
                return AuthStatus::Pending;
            }
            State::Idle | State::GaveUp => {
                crate::debug!("MS-CHAP-V2: ignoring Response, no Challenge outstanding");
                return AuthStatus::Pending;
            }
        }
        let Ok(response) = MsChapV2Response::new_checked(value) else {
            crate::debug!(
                "MS-CHAP-V2: ignoring Response with value size {}",
                value.len()
            );
            return AuthStatus::Pending;
        };

        let user = printable(user_name);
        match self.verify(&response, user_name, &user, secrets, peer, name) {
            Some((keys, address)) => {
                crate::info!("MS-CHAP-V2 peer authentication succeeded for {user}");
                self.send_verdict(chap::code::SUCCESS, outbox);
                self.state = State::Answered {
                    code: chap::code::SUCCESS,
                };
                AuthStatus::Succeeded(AuthInfo {
                    user,
                    keys,
                    address,
                })
            }
            None => {
                crate::warn!("MS-CHAP-V2 peer authentication failed for {user}");
                self.set_failure_message();
                self.send_verdict(chap::code::FAILURE, outbox);
                self.state = State::Answered {
                    code: chap::code::FAILURE,
                };
                AuthStatus::Failed
            }
        }
    }

    /// Checks the Response; on success stores the Success message and returns the keys.
    fn verify(
        &mut self,
        response: &MsChapV2Response,
        user_name: &[u8],
        user: &str,
        secrets: &mut dyn Secrets,
        peer: Ipv4Addr,
        our_name: &[u8],
    ) -> Option<(StartKeys, AddressRule)> {
        let Some(mut secret) = secrets.lookup(user_name, our_name, peer) else {
            crate::warn!("No CHAP secret found for authenticating {user}");
            return None;
        };
        let mut password_hash = nt_password_hash(&secret.password);
        wipe(&mut secret.password);
        let expected = generate_nt_response(
            self.challenge(),
            response.peer_challenge(),
            user_name,
            &password_hash,
        );
        let result = if !ct_eq(&expected, response.nt_response()) {
            crate::debug!("MS-CHAP-V2: wrong NT-Response from {user}");
            None
        } else if secret.address == AddressRule::Deny {
            crate::warn!("MS-CHAP-V2: {user} is not allowed any address (\"-\" in chap-secrets)");
            None
        } else {
            let auth = generate_authenticator_response(
                &password_hash,
                response.nt_response(),
                response.peer_challenge(),
                self.challenge(),
                user_name,
            );
            self.verdict.clear();
            let _ = self.verdict.extend_from_slice(&auth);
            // Win98 sets the flags byte and misreads the M= part (pppd chap_ms.c).
            if response.flags() == 0 {
                let _ = self.verdict.extend_from_slice(SUCCESS_TEXT);
            }
            Some((
                StartKeys::server(&password_hash, response.nt_response()),
                secret.address,
            ))
        };
        wipe(&mut password_hash);
        result
    }

    /// `E=691 R=0 C=<new challenge> V=3 M=Authentication failure` (RFC 2759 §6).
    fn set_failure_message(&mut self) {
        const HEAD: &[u8] = b"E=691 R=0 C=";
        const TAIL: &[u8] = b" V=3 M=Authentication failure";
        let mut message = [0u8; HEAD.len() + 32 + TAIL.len()];
        message[..HEAD.len()].copy_from_slice(HEAD);
        hex_upper(&self.failure_challenge, &mut message[HEAD.len()..]);
        message[HEAD.len() + 32..].copy_from_slice(TAIL);
        self.verdict.clear();
        let _ = self.verdict.extend_from_slice(&message);
    }

    /// When [`handle_timeout`](Self::handle_timeout) wants to be called.
    pub fn poll_at(&self) -> Option<Instant> {
        match self.state {
            State::Challenging { deadline, .. } => Some(deadline),
            _ => None,
        }
    }

    /// Retransmits the Challenge every 3 s; after 10 unanswered Challenges gives up and
    /// returns `Failed`.
    pub fn handle_timeout(&mut self, now: Instant, outbox: &mut Outbox) -> AuthStatus {
        let State::Challenging { deadline, sent } = self.state else {
            return AuthStatus::Pending;
        };
        if now < deadline {
            return AuthStatus::Pending;
        }
        if sent >= MAX_CHALLENGES {
            crate::warn!("Peer failed to respond to MS-CHAP-V2 challenge");
            self.state = State::GaveUp;
            return AuthStatus::Failed;
        }
        self.send_challenge(outbox);
        self.state = State::Challenging {
            deadline: now + RESTART_INTERVAL,
            sent: sent.saturating_add(1),
        };
        AuthStatus::Pending
    }

    /// Challenge: Value-Size 16, the challenge, our name (CHAP has the header of RFC 1661 §5).
    fn send_challenge(&self, outbox: &mut Outbox) {
        outbox.push_packet(
            PROTOCOL,
            chap::code::CHALLENGE,
            self.identifier,
            &self.challenge_value,
            &self.name,
        );
    }

    /// The challenge we sent.
    fn challenge(&self) -> &[u8; MSCHAPV2_CHALLENGE_LEN] {
        let [_, challenge @ ..] = &self.challenge_value;
        challenge
    }

    /// Success or Failure (`code`) carrying the message.
    fn send_verdict(&self, code: u8, outbox: &mut Outbox) {
        outbox.push_packet(PROTOCOL, code, self.identifier, &self.verdict, &[]);
    }
}

/// The peer's name made safe to log: invalid UTF-8 and control characters become `?`.
fn printable(name: &[u8]) -> String<MAX_NAME_LEN> {
    let mut out = String::new();
    for chunk in name.utf8_chunks() {
        for c in chunk.valid().chars() {
            if out.push(if c.is_control() { '?' } else { c }).is_err() {
                return out;
            }
        }
        if !chunk.invalid().is_empty() && out.push('?').is_err() {
            return out;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::mschapv2::generate_nt_response;
    use crate::rand::XorShift;
    use crate::settings::Secret;

    const PEER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
    const OUR_NAME: &[u8] = b"pptpd";

    /// One chap-secrets line: client, server, password, address.
    type Line = (&'static [u8], &'static [u8], &'static [u8], AddressRule);

    /// chap-secrets in miniature.
    struct Table(&'static [Line]);

    impl Secrets for Table {
        fn lookup(&mut self, client: &[u8], server: &[u8], _peer: Ipv4Addr) -> Option<Secret> {
            self.0
                .iter()
                .find(|(c, s, _, _)| *c == client && (*s == server || *s == b"*"))
                .map(|(_, _, password, address)| Secret {
                    password: Vec::from_slice(password).unwrap(),
                    address: *address,
                })
        }
    }

    const SECRETS: Table = Table(&[
        (b"alice", b"pptpd", b"clientPass", AddressRule::Pool),
        (
            b"CORP\\bob",
            b"*",
            b"h\xC3\xBCnter2",
            AddressRule::Fixed(Ipv4Addr::new(10, 0, 0, 9)),
        ),
        (b"mallory", b"pptpd", b"secret", AddressRule::Deny),
    ]);

    fn t(ms: i64) -> Instant {
        Instant::from_millis(ms)
    }

    /// A challenge packet from the outbox: (identifier, challenge).
    fn take_challenge(outbox: &mut Outbox) -> (u8, [u8; 16]) {
        let packet = outbox.pop().expect("a Challenge");
        assert_eq!(packet.protocol, PROTOCOL);
        let Ok(Repr::Challenge {
            identifier,
            value,
            name,
        }) = Repr::parse(packet.bytes())
        else {
            panic!("not a Challenge: {:02X?}", packet.bytes());
        };
        assert_eq!(name, OUR_NAME);
        (identifier, value.try_into().unwrap())
    }

    /// The peer side: a Response packet for `user`/`password`, and what the client expects
    /// back in the Success.
    struct Client {
        packet: [u8; 128],
        len: usize,
        expected_auth: [u8; 42],
        nt_response: [u8; 24],
    }

    fn respond(id: u8, challenge: &[u8; 16], user: &[u8], password: &[u8], flags: u8) -> Client {
        let peer_challenge = *b"!@#$%^&*()_+:3|~";
        let hash = nt_password_hash(password);
        let nt_response = generate_nt_response(challenge, &peer_challenge, user, &hash);
        let value = MsChapV2Response::encode(&peer_challenge, &nt_response, flags);
        let mut packet = [0u8; 128];
        let len = Repr::Response {
            identifier: id,
            value: &value,
            name: user,
        }
        .emit(&mut packet)
        .unwrap();
        let expected_auth =
            generate_authenticator_response(&hash, &nt_response, &peer_challenge, challenge, user);
        Client {
            packet,
            len,
            expected_auth,
            nt_response,
        }
    }

    fn started(seed: u64) -> (ChapAuthenticator, Outbox, u8, [u8; 16]) {
        let mut auth = ChapAuthenticator::new();
        let mut outbox = Outbox::new();
        auth.start(t(0), &mut XorShift(seed), OUR_NAME, &mut outbox);
        let (id, challenge) = take_challenge(&mut outbox);
        assert!(outbox.is_empty());
        (auth, outbox, id, challenge)
    }

    fn deliver(auth: &mut ChapAuthenticator, outbox: &mut Outbox, client: &Client) -> AuthStatus {
        let mut secrets = SECRETS;
        auth.receive(
            t(100),
            &client.packet[..client.len],
            &mut secrets,
            PEER,
            OUR_NAME,
            outbox,
        )
    }

    fn take_verdict(outbox: &mut Outbox) -> (u8, u8, heapless::Vec<u8, 128>) {
        let packet = outbox.pop().expect("a verdict");
        assert_eq!(packet.protocol, PROTOCOL);
        match Repr::parse(packet.bytes()).unwrap() {
            Repr::Success {
                identifier,
                message,
            } => (3, identifier, Vec::from_slice(message).unwrap()),
            Repr::Failure {
                identifier,
                message,
            } => (4, identifier, Vec::from_slice(message).unwrap()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn right_password_succeeds_with_matching_authenticator_response() {
        let (mut auth, mut outbox, id, challenge) = started(1);
        let client = respond(id, &challenge, b"alice", b"clientPass", 0);
        let status = deliver(&mut auth, &mut outbox, &client);
        let AuthStatus::Succeeded(info) = status else {
            panic!("{status:?}");
        };
        assert_eq!(info.user.as_str(), "alice");
        assert_eq!(info.address, AddressRule::Pool);
        let hash = nt_password_hash(b"clientPass");
        assert_eq!(info.keys, StartKeys::server(&hash, &client.nt_response));
        let client_keys = StartKeys::client(&hash, &client.nt_response);
        assert_eq!(info.keys.send, client_keys.recv);

        let (code, vid, message) = take_verdict(&mut outbox);
        assert_eq!((code, vid), (3, id));
        assert_eq!(&message[..42], &client.expected_auth);
        assert_eq!(&message[42..], b" M=Access granted");
        assert_eq!(auth.poll_at(), None);
    }

    #[test]
    fn nonzero_flags_omit_the_message() {
        let (mut auth, mut outbox, id, challenge) = started(2);
        let client = respond(id, &challenge, b"alice", b"clientPass", 0x04);
        assert!(matches!(
            deliver(&mut auth, &mut outbox, &client),
            AuthStatus::Succeeded(_)
        ));
        let (_, _, message) = take_verdict(&mut outbox);
        assert_eq!(&message[..], &client.expected_auth);
    }

    #[test]
    fn domain_user_with_non_ascii_password() {
        let (mut auth, mut outbox, id, challenge) = started(3);
        let client = respond(id, &challenge, b"CORP\\bob", "hünter2".as_bytes(), 0);
        let AuthStatus::Succeeded(info) = deliver(&mut auth, &mut outbox, &client) else {
            panic!();
        };
        assert_eq!(info.user.as_str(), "CORP\\bob");
        assert_eq!(info.address, AddressRule::Fixed(Ipv4Addr::new(10, 0, 0, 9)));
        assert_eq!(&take_verdict(&mut outbox).2[..42], &client.expected_auth);
    }

    fn assert_failure(message: &[u8]) {
        assert_eq!(message.len(), 73);
        assert_eq!(&message[..12], b"E=691 R=0 C=");
        assert!(message[12..44]
            .iter()
            .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(b)));
        assert_eq!(&message[44..], b" V=3 M=Authentication failure");
    }

    #[test]
    fn wrong_password_fails() {
        let (mut auth, mut outbox, id, challenge) = started(4);
        let client = respond(id, &challenge, b"alice", b"clientpass", 0);
        assert_eq!(deliver(&mut auth, &mut outbox, &client), AuthStatus::Failed);
        let (code, vid, message) = take_verdict(&mut outbox);
        assert_eq!((code, vid), (4, id));
        assert_failure(&message);
        // The C= challenge is a new one, not the one the peer answered.
        let mut old = [0u8; 32];
        hex_upper(&challenge, &mut old);
        assert_ne!(&message[12..44], &old);
    }

    #[test]
    fn unknown_user_and_denied_address_fail() {
        for (seed, user, password) in [
            (5, &b"eve"[..], &b"clientPass"[..]),
            (6, b"mallory", b"secret"),
            (7, b"bob", "hünter2".as_bytes()),
        ] {
            let (mut auth, mut outbox, id, challenge) = started(seed);
            let client = respond(id, &challenge, user, password, 0);
            assert_eq!(deliver(&mut auth, &mut outbox, &client), AuthStatus::Failed);
            let (code, _, message) = take_verdict(&mut outbox);
            assert_eq!(code, 4);
            assert_failure(&message);
        }
    }

    #[test]
    fn duplicate_response_gets_the_same_answer() {
        for password in [&b"clientPass"[..], b"wrong"] {
            let (mut auth, mut outbox, id, challenge) = started(8);
            let client = respond(id, &challenge, b"alice", password, 0);
            let first = deliver(&mut auth, &mut outbox, &client);
            assert_ne!(first, AuthStatus::Pending);
            let verdict = take_verdict(&mut outbox);
            // Even with a different (wrong) NT-Response, the answer is not re-checked.
            let other = respond(id, &challenge, b"alice", b"other", 0);
            for c in [&client, &other] {
                assert_eq!(deliver(&mut auth, &mut outbox, c), AuthStatus::Pending);
                assert_eq!(take_verdict(&mut outbox), verdict);
            }
            assert!(outbox.is_empty());
        }
    }

    #[test]
    fn wrong_identifier_and_malformed_responses_are_ignored() {
        let (mut auth, mut outbox, id, challenge) = started(9);
        let stale = respond(id.wrapping_sub(1), &challenge, b"alice", b"clientPass", 0);
        assert_eq!(deliver(&mut auth, &mut outbox, &stale), AuthStatus::Pending);
        assert!(outbox.is_empty());

        // A Response whose value is not 49 bytes.
        let mut secrets = SECRETS;
        let mut packet = [0u8; 64];
        let n = Repr::Response {
            identifier: id,
            value: &[0; 16],
            name: b"alice",
        }
        .emit(&mut packet)
        .unwrap();
        let status = auth.receive(
            t(1),
            &packet[..n],
            &mut secrets,
            PEER,
            OUR_NAME,
            &mut outbox,
        );
        assert_eq!(status, AuthStatus::Pending);
        // Garbage and a Success from the peer.
        for junk in [&[0xFFu8, 0, 0][..], &[3, id, 0, 4]] {
            let status = auth.receive(t(1), junk, &mut secrets, PEER, OUR_NAME, &mut outbox);
            assert_eq!(status, AuthStatus::Pending);
        }
        assert!(outbox.is_empty());

        // The right one still works afterwards.
        let client = respond(id, &challenge, b"alice", b"clientPass", 0);
        assert!(matches!(
            deliver(&mut auth, &mut outbox, &client),
            AuthStatus::Succeeded(_)
        ));
    }

    #[test]
    fn challenge_is_retransmitted_then_given_up() {
        let (mut auth, mut outbox, id, challenge) = started(10);
        assert_eq!(auth.poll_at(), Some(t(3000)));
        assert_eq!(
            auth.handle_timeout(t(2999), &mut outbox),
            AuthStatus::Pending
        );
        assert!(outbox.is_empty());
        for n in 1..MAX_CHALLENGES as i64 {
            let now = t(3000 * n);
            assert_eq!(auth.handle_timeout(now, &mut outbox), AuthStatus::Pending);
            // Same identifier and challenge every time.
            assert_eq!(take_challenge(&mut outbox), (id, challenge));
            assert_eq!(auth.poll_at(), Some(now + RESTART_INTERVAL));
        }
        assert_eq!(
            auth.handle_timeout(t(30_000), &mut outbox),
            AuthStatus::Failed
        );
        assert!(outbox.is_empty());
        assert_eq!(auth.poll_at(), None);
        // A Response after giving up changes nothing.
        let client = respond(id, &challenge, b"alice", b"clientPass", 0);
        assert_eq!(
            deliver(&mut auth, &mut outbox, &client),
            AuthStatus::Pending
        );
        assert!(outbox.is_empty());
    }

    #[test]
    fn restart_uses_a_new_identifier_and_challenge() {
        let (mut auth, mut outbox, id, challenge) = started(11);
        let mut rng = XorShift(12);
        auth.start(t(5000), &mut rng, OUR_NAME, &mut outbox);
        let (id2, challenge2) = take_challenge(&mut outbox);
        assert_ne!(id2, id);
        assert_ne!(challenge2, challenge);
        let old = respond(id, &challenge, b"alice", b"clientPass", 0);
        assert_eq!(deliver(&mut auth, &mut outbox, &old), AuthStatus::Pending);
    }

    #[test]
    fn printable_names() {
        assert_eq!(printable(b"alice").as_str(), "alice");
        assert_eq!(printable(b"a\nb\xFFc").as_str(), "a?b?c");
        assert_eq!(printable(&[b'x'; 100]).len(), 64);
        assert_eq!(printable("ü".repeat(40).as_bytes()).len(), 64);
    }

    #[test]
    fn random_packets_never_panic() {
        let mut rng = XorShift(0xA11CE);
        let (mut auth, mut outbox, id, challenge) = started(12);
        let client = respond(id, &challenge, b"alice", b"clientPass", 0);
        let mut secrets = SECRETS;
        for round in 0..5000 {
            let mut buf = [0u8; 128];
            let len = if round % 2 == 0 {
                rng.fill_bytes(&mut buf);
                (rng.next_u32() % 128) as usize
            } else {
                buf.copy_from_slice(&client.packet);
                let at = (rng.next_u32() % client.len as u32) as usize;
                buf[at] = rng.next_u32() as u8;
                client.len
            };
            let _ = auth.receive(t(1), &buf[..len], &mut secrets, PEER, OUR_NAME, &mut outbox);
            outbox.clear();
        }
    }
}
