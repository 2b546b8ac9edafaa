//! MS-CHAPv2 as the peer (RFC 2759): answer the Challenge with an NT-Response computed from
//! the password, and check the server's `S=` authenticator response before trusting it:
//! a server that cannot produce it does not know the password, and the client must not go
//! on (RFC 2759 §5: "the peer MUST ... end the session").

use smolpptp::crypto::mppe::StartKeys;
use smolpptp::crypto::mschapv2;
use smolpptp::rand::{Random, XorShift};
use smolpptp::wire::chap::{MsChapV2Response, Repr, MSCHAPV2_CHALLENGE_LEN};

use super::{ClientConfig, Failure};

/// One answered Challenge.
struct Exchange {
    identifier: u8,
    auth_challenge: [u8; 16],
    peer_challenge: [u8; 16],
    nt_response: [u8; 24],
    /// The Response packet we sent (resent as is for a retransmitted Challenge).
    packet: Vec<u8>,
}

/// What a CHAP packet from the server leads to.
pub(super) enum ChapOutcome {
    /// Send this CHAP packet.
    Reply(Vec<u8>),
    /// Authenticated; the MPPE start keys for the client side.
    Succeeded(StartKeys),
    Failed(Failure),
    /// Nothing to do (a duplicate Success, ...); maybe a violation to record.
    Ignore(Option<String>),
}

pub(super) struct ChapPeer {
    user: String,
    password_hash: [u8; 16],
    fixed_peer_challenge: Option<[u8; 16]>,
    exchange: Option<Exchange>,
    succeeded: bool,
    pub failure_message: Option<String>,
    pub success_message: Option<String>,
}

impl ChapPeer {
    pub fn new(config: &ClientConfig) -> ChapPeer {
        ChapPeer {
            user: config.user.clone(),
            password_hash: mschapv2::nt_password_hash(config.password.as_bytes()),
            fixed_peer_challenge: config.peer_challenge,
            exchange: None,
            succeeded: false,
            failure_message: None,
            success_message: None,
        }
    }

    pub fn succeeded(&self) -> bool {
        self.succeeded
    }

    /// A CHAP packet (from the Code field on) from the server.
    pub fn receive(&mut self, packet: &[u8], rng: &mut XorShift) -> ChapOutcome {
        let repr = match Repr::parse(packet) {
            Ok(repr) => repr,
            Err(e) => {
                return ChapOutcome::Ignore(Some(format!(
                    "unparsable CHAP packet {packet:02x?}: {e}"
                )))
            }
        };
        match repr {
            Repr::Challenge {
                identifier,
                value,
                name: _,
            } => self.challenge(identifier, value, rng),
            Repr::Success {
                identifier,
                message,
            } => self.success(identifier, message),
            Repr::Failure {
                identifier,
                message,
            } => {
                let text = String::from_utf8_lossy(message).into_owned();
                if self.exchange.as_ref().map(|e| e.identifier) != Some(identifier) {
                    return ChapOutcome::Ignore(Some(format!(
                        "CHAP Failure id {identifier} matches no Response"
                    )));
                }
                if self.succeeded {
                    return ChapOutcome::Ignore(Some(format!(
                        "CHAP Failure after Success: {text}"
                    )));
                }
                let error = field(&text, "E=").and_then(|e| e.parse().ok());
                self.failure_message = Some(text.clone());
                ChapOutcome::Failed(Failure::AuthFailed {
                    error,
                    message: text,
                })
            }
            Repr::Response { .. } => {
                ChapOutcome::Ignore(Some("the server sent a CHAP Response".into()))
            }
        }
    }

    fn challenge(&mut self, identifier: u8, value: &[u8], rng: &mut XorShift) -> ChapOutcome {
        let Ok(auth_challenge) = <[u8; MSCHAPV2_CHALLENGE_LEN]>::try_from(value) else {
            return ChapOutcome::Failed(Failure::AuthProtocol(format!(
                "MS-CHAPv2 Challenge value is {} bytes, not 16",
                value.len()
            )));
        };
        if let Some(e) = &self.exchange {
            // A retransmitted Challenge (our Response or its Success was lost): same answer.
            if e.identifier == identifier && e.auth_challenge == auth_challenge {
                return ChapOutcome::Reply(e.packet.clone());
            }
        }
        if self.succeeded {
            return ChapOutcome::Ignore(Some("CHAP Challenge after Success".into()));
        }
        let peer_challenge = self.fixed_peer_challenge.unwrap_or_else(|| {
            let mut c = [0u8; 16];
            rng.fill_bytes(&mut c);
            c
        });
        let nt_response = mschapv2::generate_nt_response(
            &auth_challenge,
            &peer_challenge,
            self.user.as_bytes(),
            &self.password_hash,
        );
        let value = MsChapV2Response::encode(&peer_challenge, &nt_response, 0);
        let repr = Repr::Response {
            identifier,
            value: &value,
            name: self.user.as_bytes(),
        };
        let mut packet = vec![0u8; repr.buffer_len()];
        match repr.emit(&mut packet) {
            Ok(len) => packet.truncate(len),
            Err(e) => {
                return ChapOutcome::Failed(Failure::AuthProtocol(format!(
                    "cannot build Response: {e}"
                )))
            }
        }
        self.exchange = Some(Exchange {
            identifier,
            auth_challenge,
            peer_challenge,
            nt_response,
            packet: packet.clone(),
        });
        ChapOutcome::Reply(packet)
    }

    fn success(&mut self, identifier: u8, message: &[u8]) -> ChapOutcome {
        let Some(e) = &self.exchange else {
            return ChapOutcome::Failed(Failure::AuthProtocol(
                "CHAP Success before any Response".into(),
            ));
        };
        if e.identifier != identifier {
            return ChapOutcome::Ignore(Some(format!(
                "CHAP Success id {identifier}, our Response was id {}",
                e.identifier
            )));
        }
        if self.succeeded {
            return ChapOutcome::Ignore(None); // the server resent it: fine
        }
        let expected = mschapv2::generate_authenticator_response(
            &self.password_hash,
            &e.nt_response,
            &e.peer_challenge,
            &e.auth_challenge,
            self.user.as_bytes(),
        );
        let text = String::from_utf8_lossy(message).into_owned();
        // RFC 2759 §5: "S=<auth_string> M=<message>"; the M= part may be missing (pppd omits
        // it when the Response flags are non-zero).
        let got = message.get(..expected.len()).unwrap_or(message);
        let rest = message.get(expected.len()..).unwrap_or(b"");
        if got != expected {
            return ChapOutcome::Failed(Failure::AuthenticatorMismatch {
                got: text,
                expected: String::from_utf8_lossy(&expected).into_owned(),
            });
        }
        if !rest.is_empty() && !rest.starts_with(b" M=") {
            return ChapOutcome::Failed(Failure::AuthProtocol(format!(
                "CHAP Success message {text:?} is not `S=... M=...`"
            )));
        }
        self.success_message = rest
            .get(3..)
            .map(|m| String::from_utf8_lossy(m).into_owned());
        self.succeeded = true;
        ChapOutcome::Succeeded(StartKeys::client(&self.password_hash, &e.nt_response))
    }
}

/// The value of `key` (e.g. `E=`) in a space-separated MS-CHAP message.
fn field<'m>(message: &'m str, key: &str) -> Option<&'m str> {
    message.split(' ').find_map(|part| part.strip_prefix(key))
}
