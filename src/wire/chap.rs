//! CHAP packets (RFC 1994 §4, protocol 0xC223) as MS-CHAPv2 uses them (RFC 2759 §3-§6),
//! from the Code field on.

use super::{Error, Result};

pub mod code {
    pub const CHALLENGE: u8 = 1;
    pub const RESPONSE: u8 = 2;
    pub const SUCCESS: u8 = 3;
    pub const FAILURE: u8 = 4;
}

/// Code, Identifier and the 2-byte Length.
pub const HEADER_LEN: usize = 4;
/// Value size of an MS-CHAPv2 Response: peer challenge, reserved, NT-Response, flags.
pub const MSCHAPV2_RESPONSE_LEN: usize = 49;
/// Value size of an MS-CHAPv2 Challenge.
pub const MSCHAPV2_CHALLENGE_LEN: usize = 16;

/// One CHAP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repr<'a> {
    Challenge {
        identifier: u8,
        value: &'a [u8],
        name: &'a [u8],
    },
    Response {
        identifier: u8,
        value: &'a [u8],
        name: &'a [u8],
    },
    Success {
        identifier: u8,
        message: &'a [u8],
    },
    Failure {
        identifier: u8,
        message: &'a [u8],
    },
}

impl<'a> Repr<'a> {
    /// Parses a packet. Bytes past the Length field are padding and ignored; a Length
    /// beyond the buffer is `Truncated`; codes other than 1..=4 (e.g. MS-CHAPv2
    /// Change-Password, 7) are `Unsupported`.
    pub fn parse(packet: &'a [u8]) -> Result<Repr<'a>> {
        let [code, identifier, len_hi, len_lo, ..] = *packet else {
            return Err(Error::Truncated);
        };
        let length = usize::from(u16::from_be_bytes([len_hi, len_lo]));
        if length < HEADER_LEN {
            return Err(Error::Malformed);
        }
        let body = packet.get(HEADER_LEN..length).ok_or(Error::Truncated)?;
        match code {
            code::CHALLENGE | code::RESPONSE => {
                let (&value_size, rest) = body.split_first().ok_or(Error::Malformed)?;
                let value_size = usize::from(value_size);
                if value_size == 0 || value_size > rest.len() {
                    return Err(Error::Malformed);
                }
                let (value, name) = rest.split_at(value_size);
                Ok(if code == code::CHALLENGE {
                    Repr::Challenge {
                        identifier,
                        value,
                        name,
                    }
                } else {
                    Repr::Response {
                        identifier,
                        value,
                        name,
                    }
                })
            }
            code::SUCCESS => Ok(Repr::Success {
                identifier,
                message: body,
            }),
            code::FAILURE => Ok(Repr::Failure {
                identifier,
                message: body,
            }),
            _ => Err(Error::Unsupported),
        }
    }

    pub fn code(&self) -> u8 {
        match self {
            Repr::Challenge { .. } => code::CHALLENGE,
            Repr::Response { .. } => code::RESPONSE,
            Repr::Success { .. } => code::SUCCESS,
            Repr::Failure { .. } => code::FAILURE,
        }
    }

    pub fn identifier(&self) -> u8 {
        match *self {
            Repr::Challenge { identifier, .. }
            | Repr::Response { identifier, .. }
            | Repr::Success { identifier, .. }
            | Repr::Failure { identifier, .. } => identifier,
        }
    }

    /// Length of the emitted packet (the value of its Length field).
    pub fn buffer_len(&self) -> usize {
        match self {
            Repr::Challenge { value, name, .. } | Repr::Response { value, name, .. } => {
                HEADER_LEN + 1 + value.len() + name.len()
            }
            Repr::Success { message, .. } | Repr::Failure { message, .. } => {
                HEADER_LEN + message.len()
            }
        }
    }

    /// Writes the packet at the start of `buf` and returns its length. A value of 0 or
    /// more than 255 bytes is `Malformed`; a packet over 65535 bytes or a too small `buf`
    /// is `Exhausted`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let len = self.buffer_len();
        let length = u16::try_from(len).map_err(|_| Error::Exhausted)?;
        let out = buf.get_mut(..len).ok_or(Error::Exhausted)?;
        let (header, body) = out.split_at_mut(HEADER_LEN);
        header[0] = self.code();
        header[1] = self.identifier();
        header[2..4].copy_from_slice(&length.to_be_bytes());
        match self {
            Repr::Challenge { value, name, .. } | Repr::Response { value, name, .. } => {
                let value_size = u8::try_from(value.len()).map_err(|_| Error::Malformed)?;
                if value_size == 0 {
                    return Err(Error::Malformed);
                }
                let (size, rest) = body.split_at_mut(1);
                size[0] = value_size;
                let (value_out, name_out) = rest.split_at_mut(value.len());
                value_out.copy_from_slice(value);
                name_out.copy_from_slice(name);
            }
            Repr::Success { message, .. } | Repr::Failure { message, .. } => {
                body.copy_from_slice(message);
            }
        }
        Ok(len)
    }
}

/// The 49-byte value of an MS-CHAPv2 Response (RFC 2759 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MsChapV2Response<'a> {
    peer_challenge: &'a [u8; 16],
    nt_response: &'a [u8; 24],
    flags: u8,
}

impl<'a> MsChapV2Response<'a> {
    /// Checks that `value` is exactly 49 bytes. The 8 reserved bytes are not checked (pppd
    /// does not either).
    pub fn new_checked(value: &'a [u8]) -> Result<Self> {
        let value: &[u8; MSCHAPV2_RESPONSE_LEN] = value.try_into().map_err(|_| Error::Malformed)?;
        let (peer_challenge, rest) = value.split_first_chunk::<16>().ok_or(Error::Malformed)?;
        let nt_response = rest
            .get(8..32)
            .and_then(|s| s.try_into().ok())
            .ok_or(Error::Malformed)?;
        Ok(MsChapV2Response {
            peer_challenge,
            nt_response,
            flags: value[48],
        })
    }

    pub fn peer_challenge(&self) -> &'a [u8; 16] {
        self.peer_challenge
    }

    pub fn nt_response(&self) -> &'a [u8; 24] {
        self.nt_response
    }

    /// Must be 0 per RFC 2759; Win98 sends 0x04 (and then needs a Success without ` M=`).
    pub fn flags(&self) -> u8 {
        self.flags
    }

    /// The 49-byte value a peer would send (for clients and tests).
    pub fn encode(
        peer_challenge: &[u8; 16],
        nt_response: &[u8; 24],
        flags: u8,
    ) -> [u8; MSCHAPV2_RESPONSE_LEN] {
        let mut value = [0u8; MSCHAPV2_RESPONSE_LEN];
        value[..16].copy_from_slice(peer_challenge);
        value[24..48].copy_from_slice(nt_response);
        value[48] = flags;
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rand::{Random, XorShift};

    const AUTH_CHALLENGE: [u8; 16] = *b"[]|}{?/><,`!2&&(";
    const PEER_CHALLENGE: [u8; 16] = *b"!@#$%^&*()_+:3|~";
    const NT_RESPONSE: [u8; 24] = [
        0x82, 0x30, 0x9E, 0xCD, 0x8D, 0x70, 0x8B, 0x5E, 0xA0, 0x8F, 0xAA, 0x39, 0x81, 0xCD, 0x83,
        0x54, 0x42, 0x33, 0x11, 0x4A, 0x3D, 0x85, 0xD6, 0xDF,
    ];

    const CHALLENGE_PACKET: [u8; 26] = [
        0x01, 0x01, 0x00, 0x1A, 0x10, 0x5B, 0x5D, 0x7C, 0x7D, 0x7B, 0x3F, 0x2F, 0x3E, 0x3C, 0x2C,
        0x60, 0x21, 0x32, 0x26, 0x26, 0x28, 0x70, 0x70, 0x74, 0x70, 0x64,
    ];
    const RESPONSE_PACKET: [u8; 58] = [
        0x02, 0x01, 0x00, 0x3A, 0x31, 0x21, 0x40, 0x23, 0x24, 0x25, 0x5E, 0x26, 0x2A, 0x28, 0x29,
        0x5F, 0x2B, 0x3A, 0x33, 0x7C, 0x7E, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x82,
        0x30, 0x9E, 0xCD, 0x8D, 0x70, 0x8B, 0x5E, 0xA0, 0x8F, 0xAA, 0x39, 0x81, 0xCD, 0x83, 0x54,
        0x42, 0x33, 0x11, 0x4A, 0x3D, 0x85, 0xD6, 0xDF, 0x00, 0x55, 0x73, 0x65, 0x72,
    ];
    const SUCCESS_MESSAGE: &[u8] = b"S=407A5589115FD0D6209F510FE9C04566932CDA56 M=Access granted";

    #[test]
    fn challenge_byte_exact() {
        let repr = Repr::Challenge {
            identifier: 1,
            value: &AUTH_CHALLENGE,
            name: b"pptpd",
        };
        assert_eq!(repr.buffer_len(), 26);
        let mut buf = [0u8; 64];
        assert_eq!(repr.emit(&mut buf), Ok(26));
        assert_eq!(buf[..26], CHALLENGE_PACKET);
        assert_eq!(Repr::parse(&CHALLENGE_PACKET), Ok(repr));
    }

    #[test]
    fn response_byte_exact() {
        let value = MsChapV2Response::encode(&PEER_CHALLENGE, &NT_RESPONSE, 0);
        let repr = Repr::Response {
            identifier: 1,
            value: &value,
            name: b"User",
        };
        let mut buf = [0u8; 64];
        assert_eq!(repr.emit(&mut buf), Ok(58));
        assert_eq!(buf[..58], RESPONSE_PACKET);
        let Ok(Repr::Response {
            identifier: 1,
            value,
            name: b"User",
        }) = Repr::parse(&RESPONSE_PACKET)
        else {
            panic!("not parsed");
        };
        let response = MsChapV2Response::new_checked(value).unwrap();
        assert_eq!(response.peer_challenge(), &PEER_CHALLENGE);
        assert_eq!(response.nt_response(), &NT_RESPONSE);
        assert_eq!(response.flags(), 0);
    }

    #[test]
    fn success_byte_exact() {
        let repr = Repr::Success {
            identifier: 1,
            message: SUCCESS_MESSAGE,
        };
        let mut buf = [0u8; 80];
        assert_eq!(repr.emit(&mut buf), Ok(63));
        assert_eq!(buf[..4], [0x03, 0x01, 0x00, 0x3F]);
        assert_eq!(&buf[4..63], SUCCESS_MESSAGE);
        assert_eq!(Repr::parse(&buf[..63]), Ok(repr));
        // Padding after Length is ignored.
        assert_eq!(Repr::parse(&buf[..70]), Ok(repr));
    }

    #[test]
    fn failure_and_empty_message() {
        let repr = Repr::Failure {
            identifier: 9,
            message: b"",
        };
        let mut buf = [0u8; 4];
        assert_eq!(repr.emit(&mut buf), Ok(4));
        assert_eq!(buf, [0x04, 0x09, 0x00, 0x04]);
        assert_eq!(Repr::parse(&buf), Ok(repr));
    }

    #[test]
    fn bad_packets() {
        assert_eq!(Repr::parse(&[]), Err(Error::Truncated));
        assert_eq!(Repr::parse(&[1, 1, 0]), Err(Error::Truncated));
        assert_eq!(Repr::parse(&[3, 1, 0, 3]), Err(Error::Malformed));
        assert_eq!(Repr::parse(&[3, 1, 0, 6, b'x']), Err(Error::Truncated));
        // Challenge without a value size, with a zero value size, with a value too long.
        assert_eq!(Repr::parse(&[1, 1, 0, 4]), Err(Error::Malformed));
        assert_eq!(Repr::parse(&[1, 1, 0, 5, 0]), Err(Error::Malformed));
        assert_eq!(Repr::parse(&[2, 1, 0, 6, 2, 0xAA]), Err(Error::Malformed));
        // The value size may not reach past Length into padding.
        assert_eq!(
            Repr::parse(&[2, 1, 0, 6, 2, 0xAA, 0xBB]),
            Err(Error::Malformed)
        );
        assert_eq!(Repr::parse(&[7, 1, 0, 4]), Err(Error::Unsupported));
        let mut short = [0u8; 25];
        let challenge = Repr::parse(&CHALLENGE_PACKET).unwrap();
        assert_eq!(challenge.emit(&mut short), Err(Error::Exhausted));
        let empty_value = Repr::Challenge {
            identifier: 0,
            value: &[],
            name: b"",
        };
        assert_eq!(empty_value.emit(&mut [0u8; 8]), Err(Error::Malformed));
        let big = [0u8; 256];
        let big_value = Repr::Response {
            identifier: 0,
            value: &big,
            name: b"",
        };
        assert_eq!(big_value.emit(&mut [0u8; 300]), Err(Error::Malformed));
    }

    #[test]
    fn mschapv2_response_size() {
        assert_eq!(
            MsChapV2Response::new_checked(&[0; 48]),
            Err(Error::Malformed)
        );
        assert_eq!(
            MsChapV2Response::new_checked(&[0; 50]),
            Err(Error::Malformed)
        );
        let mut value = [0u8; 49];
        value[48] = 4;
        assert_eq!(MsChapV2Response::new_checked(&value).unwrap().flags(), 4);
    }

    #[test]
    fn random_and_mutated_packets_never_panic() {
        let mut rng = XorShift(0xC223);
        let mut buf = [0u8; 80];
        for round in 0..20_000 {
            if round % 2 == 0 {
                rng.fill_bytes(&mut buf);
                // Keep the Length field plausible half of the time.
                buf[2] = 0;
                buf[3] = (rng.next_u32() % 84) as u8;
                buf[0] = (rng.next_u32() % 9) as u8;
            } else {
                buf[..58].copy_from_slice(&RESPONSE_PACKET);
                let at = (rng.next_u32() % 58) as usize;
                buf[at] = rng.next_u32() as u8;
            }
            let len = (rng.next_u32() % 81) as usize;
            if let Ok(repr) = Repr::parse(&buf[..len]) {
                let mut out = [0u8; 80];
                let n = repr.emit(&mut out).unwrap();
                assert_eq!(Repr::parse(&out[..n]), Ok(repr));
                if let Repr::Response { value, .. } = repr {
                    let _ = MsChapV2Response::new_checked(value);
                }
            }
        }
    }
}
