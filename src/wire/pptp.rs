//! PPTP control messages (RFC 2637 §1.4, §2): the 12-byte header and all 15 control
//! messages, which travel over TCP port 1723.
//!
//! Every message has a fixed length that depends only on its type, so a message is valid
//! only if its Length field equals exactly that length. TCP is a byte stream: the reader
//! peeks the Length field with [`message_len`] (or [`frame_len`]) and hands whole messages
//! to [`Packet::new_checked`].

use super::{Error, Result};

/// TCP port of the control connection.
pub const PPTP_PORT: u16 = 1723;
/// Every control message carries this constant; anything else means the TCP stream lost
/// sync and the connection must be closed (RFC 2637 §1.4).
pub const MAGIC_COOKIE: u32 = 0x1A2B_3C4D;
/// Length of the header common to all control messages.
pub const HEADER_LEN: usize = 12;
/// The longest control message (Incoming-Call-Request); pptpd's `PPTP_MAX_CTRL_PCKT_SIZE`.
pub const MAX_MESSAGE_LEN: usize = 220;
/// Protocol version 1, revision 0: the only version ever defined.
pub const PROTOCOL_VERSION: u16 = 0x0100;
/// PPTP Message Type of every control message (2 = management, never defined, unsupported).
pub const CONTROL_MESSAGE: u16 = 1;

/// Size of the NUL-padded host name, vendor, phone number, subaddress fields.
pub const NAME_LEN: usize = 64;
/// Size of the NUL-padded Call Statistics field of Call-Disconnect-Notify.
pub const STATISTICS_LEN: usize = 128;

/// Result Code of Start-Control-Connection-Reply (RFC 2637 §2.2).
pub mod start_result {
    pub const SUCCESS: u8 = 1;
    pub const GENERAL_ERROR: u8 = 2;
    pub const ALREADY_EXISTS: u8 = 3;
    pub const NOT_AUTHORIZED: u8 = 4;
    pub const BAD_VERSION: u8 = 5;
}

/// Reason of Stop-Control-Connection-Request (RFC 2637 §2.3).
pub mod stop_reason {
    pub const NONE: u8 = 1;
    pub const STOP_PROTOCOL: u8 = 2;
    pub const LOCAL_SHUTDOWN: u8 = 3;
}

/// Result Code of Stop-Control-Connection-Reply (§2.4) and Echo-Reply (§2.6).
pub mod reply_result {
    pub const OK: u8 = 1;
    pub const GENERAL_ERROR: u8 = 2;
}

/// Result Code of Outgoing-Call-Reply (RFC 2637 §2.8).
pub mod outgoing_result {
    pub const CONNECTED: u8 = 1;
    pub const GENERAL_ERROR: u8 = 2;
    pub const NO_CARRIER: u8 = 3;
    pub const BUSY: u8 = 4;
    pub const NO_DIAL_TONE: u8 = 5;
    pub const TIMEOUT: u8 = 6;
    pub const DO_NOT_ACCEPT: u8 = 7;
}

/// Result Code of Incoming-Call-Reply (RFC 2637 §2.10).
pub mod incoming_result {
    pub const CONNECT: u8 = 1;
    pub const GENERAL_ERROR: u8 = 2;
    pub const DO_NOT_ACCEPT: u8 = 3;
}

/// Result Code of Call-Disconnect-Notify (RFC 2637 §2.13).
pub mod disconnect_result {
    pub const LOST_CARRIER: u8 = 1;
    pub const GENERAL_ERROR: u8 = 2;
    pub const ADMIN_SHUTDOWN: u8 = 3;
    pub const REQUEST: u8 = 4;
}

/// General Error Codes, used in the Error Code field when a Result Code is General Error
/// (RFC 2637 §2.16).
pub mod error_code {
    pub const NONE: u8 = 0;
    pub const NOT_CONNECTED: u8 = 1;
    pub const BAD_FORMAT: u8 = 2;
    pub const BAD_VALUE: u8 = 3;
    pub const NO_RESOURCE: u8 = 4;
    pub const BAD_CALL_ID: u8 = 5;
    pub const PAC_ERROR: u8 = 6;
}

/// Framing Capabilities / Framing Type bits.
pub mod framing {
    pub const ASYNC: u32 = 1;
    pub const SYNC: u32 = 2;
}

/// Bearer Capabilities / Bearer Type bits.
pub mod bearer {
    pub const ANALOG: u32 = 1;
    pub const DIGITAL: u32 = 2;
}

/// Control Message Type (header offset 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum MessageType {
    StartControlConnectionRequest = 1,
    StartControlConnectionReply = 2,
    StopControlConnectionRequest = 3,
    StopControlConnectionReply = 4,
    EchoRequest = 5,
    EchoReply = 6,
    OutgoingCallRequest = 7,
    OutgoingCallReply = 8,
    IncomingCallRequest = 9,
    IncomingCallReply = 10,
    IncomingCallConnected = 11,
    CallClearRequest = 12,
    CallDisconnectNotify = 13,
    WanErrorNotify = 14,
    SetLinkInfo = 15,
}

impl MessageType {
    pub fn from_u16(value: u16) -> Option<MessageType> {
        use MessageType::*;
        Some(match value {
            1 => StartControlConnectionRequest,
            2 => StartControlConnectionReply,
            3 => StopControlConnectionRequest,
            4 => StopControlConnectionReply,
            5 => EchoRequest,
            6 => EchoReply,
            7 => OutgoingCallRequest,
            8 => OutgoingCallReply,
            9 => IncomingCallRequest,
            10 => IncomingCallReply,
            11 => IncomingCallConnected,
            12 => CallClearRequest,
            13 => CallDisconnectNotify,
            14 => WanErrorNotify,
            15 => SetLinkInfo,
            _ => return None,
        })
    }

    /// The exact total length (header included) of a message of this type.
    pub const fn message_len(self) -> usize {
        use MessageType::*;
        match self {
            StartControlConnectionRequest | StartControlConnectionReply => 156,
            StopControlConnectionRequest | StopControlConnectionReply | EchoRequest => 16,
            EchoReply => 20,
            OutgoingCallRequest => 168,
            OutgoingCallReply => 32,
            IncomingCallRequest => 220,
            IncomingCallReply => 24,
            IncomingCallConnected => 28,
            CallClearRequest => 16,
            CallDisconnectNotify => 148,
            WanErrorNotify => 40,
            SetLinkInfo => 24,
        }
    }

    /// The RFC name, for logs.
    pub const fn name(self) -> &'static str {
        use MessageType::*;
        match self {
            StartControlConnectionRequest => "Start-Control-Connection-Request",
            StartControlConnectionReply => "Start-Control-Connection-Reply",
            StopControlConnectionRequest => "Stop-Control-Connection-Request",
            StopControlConnectionReply => "Stop-Control-Connection-Reply",
            EchoRequest => "Echo-Request",
            EchoReply => "Echo-Reply",
            OutgoingCallRequest => "Outgoing-Call-Request",
            OutgoingCallReply => "Outgoing-Call-Reply",
            IncomingCallRequest => "Incoming-Call-Request",
            IncomingCallReply => "Incoming-Call-Reply",
            IncomingCallConnected => "Incoming-Call-Connected",
            CallClearRequest => "Call-Clear-Request",
            CallDisconnectNotify => "Call-Disconnect-Notify",
            WanErrorNotify => "WAN-Error-Notify",
            SetLinkInfo => "Set-Link-Info",
        }
    }
}

impl core::fmt::Display for MessageType {
    /// [`MessageType::name`], written from parts the names share ("-Request", "-Reply",
    /// "Start-Control-Connection-", ...): one short string and a byte table instead of
    /// fifteen strings and their pointers.
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        const PARTS: &str = concat!(
            "Start-Control-Connection-", // 0
            "Stop-Control-Connection-",  // 25
            "Echo-",                     // 49
            "Outgoing-Call-",            // 54
            "Incoming-Call-",            // 68
            "Call-Clear-",               // 82
            "Call-Disconnect-Notify",    // 93
            "WAN-Error-Notify",          // 115
            "Set-Link-Info",             // 131
            "Request",                   // 144
            "Reply",                     // 151
            "Connected",                 // 156
        );
        /// Per type: the byte range in `PARTS` of the first part, then of the second.
        const NAMES: [[u8; 4]; 15] = [
            [0, 25, 144, 151],
            [0, 25, 151, 156],
            [25, 49, 144, 151],
            [25, 49, 151, 156],
            [49, 54, 144, 151],
            [49, 54, 151, 156],
            [54, 68, 144, 151],
            [54, 68, 151, 156],
            [68, 82, 144, 151],
            [68, 82, 151, 156],
            [68, 82, 156, 165],
            [82, 93, 144, 151],
            [93, 115, 0, 0],
            [115, 131, 0, 0],
            [131, 144, 0, 0],
        ];
        let [a, b, c, d] = NAMES[*self as usize - 1];
        let part = |from: u8, to: u8| PARTS.get(usize::from(from)..usize::from(to)).unwrap_or("");
        f.write_str(part(a, b))?;
        f.write_str(part(c, d))
    }
}

/// Peek the Length field of the message starting at `header` (at least 2 bytes needed).
///
/// This is the raw field: a value below [`HEADER_LEN`] or above [`MAX_MESSAGE_LEN`] means
/// the stream is out of sync and the connection must be closed — [`frame_len`] does that
/// check (and the magic cookie) for you.
pub fn message_len(header: &[u8]) -> Option<u16> {
    match header {
        [hi, lo, ..] => Some(u16::from_be_bytes([*hi, *lo])),
        _ => None,
    }
}

/// Framing helper for a TCP reader: `Ok(None)` until a whole header is buffered, then the
/// length of the message to take off the stream, or `Err(Malformed)` when the header cannot
/// start a PPTP control message (length out of range, bad magic cookie), i.e. close.
pub fn frame_len(buffered: &[u8]) -> Result<Option<usize>> {
    if buffered.len() < HEADER_LEN {
        return Ok(None);
    }
    let len = usize::from(message_len(buffered).unwrap_or(0));
    if !(HEADER_LEN..=MAX_MESSAGE_LEN).contains(&len) || get_u32(buffered, 4) != MAGIC_COOKIE {
        return Err(Error::Malformed);
    }
    Ok(Some(len))
}

// Bounds-checked big-endian field access. `Packet::new_checked` guarantees the exact
// length of each message type, so the fallbacks (0 / no write) are never taken for a checked
// packet; they keep an unchecked one from panicking.
fn get_u8(buf: &[u8], off: usize) -> u8 {
    buf.get(off).copied().unwrap_or(0)
}

fn get_u16(buf: &[u8], off: usize) -> u16 {
    match buf.get(off..off + 2) {
        Some(b) => u16::from_be_bytes([b[0], b[1]]),
        None => 0,
    }
}

fn get_u32(buf: &[u8], off: usize) -> u32 {
    match buf.get(off..off + 4) {
        Some(b) => u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
        None => 0,
    }
}

/// A NUL-padded string field, trimmed at the first NUL.
fn get_str(buf: &[u8], off: usize, len: usize) -> &[u8] {
    let field = buf.get(off..off + len).unwrap_or(&[]);
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    &field[..end]
}

fn set_bytes(buf: &mut [u8], off: usize, value: &[u8]) {
    if let Some(dst) = buf.get_mut(off..off + value.len()) {
        dst.copy_from_slice(value);
    }
}

fn set_u16(buf: &mut [u8], off: usize, value: u16) {
    set_bytes(buf, off, &value.to_be_bytes());
}

fn set_u32(buf: &mut [u8], off: usize, value: u32) {
    set_bytes(buf, off, &value.to_be_bytes());
}

/// Reads a message body field after field, in the order of the RFC's tables. The readers
/// stay out of line: [`Repr::parse`] reads about seventy fields, and a call per field is
/// much smaller than a bounds check and byte shuffle inlined at each.
struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    /// At the first byte after the header.
    fn body(buf: &'a [u8]) -> Self {
        Reader {
            buf,
            at: HEADER_LEN,
        }
    }

    /// Pass over a reserved field (or one [`Repr`] does not keep).
    fn skip(&mut self, len: usize) {
        self.at += len;
    }

    #[inline(never)]
    fn u8(&mut self) -> u8 {
        let value = get_u8(self.buf, self.at);
        self.at += 1;
        value
    }

    #[inline(never)]
    fn u16(&mut self) -> u16 {
        let value = get_u16(self.buf, self.at);
        self.at += 2;
        value
    }

    #[inline(never)]
    fn u32(&mut self) -> u32 {
        let value = get_u32(self.buf, self.at);
        self.at += 4;
        value
    }

    /// A NUL-padded `len`-byte string field, trimmed at the first NUL.
    #[inline(never)]
    fn str(&mut self, len: usize) -> &'a [u8] {
        let value = get_str(self.buf, self.at, len);
        self.at += len;
        value
    }
}

/// Writes a message body field after field, the counterpart of [`Reader`]. The buffer is
/// zeroed beforehand, so reserved fields are skipped.
struct Writer<'a> {
    buf: &'a mut [u8],
    at: usize,
}

impl Writer<'_> {
    fn skip(&mut self, len: usize) {
        self.at += len;
    }

    #[inline(never)]
    fn u8(&mut self, value: u8) {
        set_bytes(self.buf, self.at, &[value]);
        self.at += 1;
    }

    #[inline(never)]
    fn u16(&mut self, value: u16) {
        set_u16(self.buf, self.at, value);
        self.at += 2;
    }

    #[inline(never)]
    fn u32(&mut self, value: u32) {
        set_u32(self.buf, self.at, value);
        self.at += 4;
    }

    /// `value` NUL-padded into a `len`-byte field (truncated if longer).
    #[inline(never)]
    fn str(&mut self, len: usize, value: &[u8]) {
        if let Some(field) = self.buf.get_mut(self.at..self.at + len) {
            field.fill(0);
            let n = value.len().min(len);
            field[..n].copy_from_slice(&value[..n]);
        }
        self.at += len;
    }
}

mod field {
    pub const LENGTH: usize = 0;
    pub const PPTP_TYPE: usize = 2;
    pub const MAGIC: usize = 4;
    pub const CONTROL_TYPE: usize = 8;
    pub const RESERVED0: usize = 10;
}

/// A read/write view of one PPTP control message.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wrap a buffer without checking it; accessors then return 0 for missing fields.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wrap a buffer holding exactly one message and check the header: Length equal to the
    /// buffer length, PPTP Message Type 1, the magic cookie, a known control message type
    /// and the exact length that type requires.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let packet = Packet::new_unchecked(buffer);
        packet.check()?;
        Ok(packet)
    }

    /// [`Packet::new_checked`]'s checks on a wrapped buffer; the message type when they pass.
    pub fn check(&self) -> Result<MessageType> {
        let buf = self.buffer.as_ref();
        if buf.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let len = usize::from(self.length());
        if len > buf.len() {
            return Err(Error::Truncated);
        }
        if len != buf.len() || self.magic_cookie() != MAGIC_COOKIE {
            return Err(Error::Malformed);
        }
        match self.pptp_message_type() {
            CONTROL_MESSAGE => {}
            2 => return Err(Error::Unsupported),
            _ => return Err(Error::Malformed),
        }
        let kind = self.message_type().ok_or(Error::Unsupported)?;
        if len != kind.message_len() {
            return Err(Error::Malformed);
        }
        Ok(kind)
    }

    /// The byte at offset `off` of the message (0 past the end), as [`Repr::parse`] reads it.
    pub fn u8_at(&self, off: usize) -> u8 {
        get_u8(self.buffer.as_ref(), off)
    }

    /// The big-endian 16-bit field at offset `off` (0 past the end).
    pub fn u16_at(&self, off: usize) -> u16 {
        get_u16(self.buffer.as_ref(), off)
    }

    /// The big-endian 32-bit field at offset `off` (0 past the end).
    pub fn u32_at(&self, off: usize) -> u32 {
        get_u32(self.buffer.as_ref(), off)
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn length(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::LENGTH)
    }

    /// 1 = control message, 2 = management message.
    pub fn pptp_message_type(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::PPTP_TYPE)
    }

    pub fn magic_cookie(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::MAGIC)
    }

    /// The raw Control Message Type field.
    pub fn control_type(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CONTROL_TYPE)
    }

    /// The Control Message Type, if it is one of the 15 defined.
    pub fn message_type(&self) -> Option<MessageType> {
        MessageType::from_u16(self.control_type())
    }

    pub fn reserved0(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::RESERVED0)
    }

    /// The message after the 12-byte header.
    pub fn body(&self) -> &[u8] {
        self.buffer.as_ref().get(HEADER_LEN..).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Write the header: Length, PPTP Message Type 1, magic cookie, type, Reserved0 = 0.
    pub fn emit_header(&mut self, kind: MessageType) {
        let buf = self.buffer.as_mut();
        set_u16(buf, field::LENGTH, kind.message_len() as u16);
        set_u16(buf, field::PPTP_TYPE, CONTROL_MESSAGE);
        set_u32(buf, field::MAGIC, MAGIC_COOKIE);
        set_u16(buf, field::CONTROL_TYPE, kind as u16);
        set_u16(buf, field::RESERVED0, 0);
    }
}

impl Packet<&mut [u8]> {
    /// Write the byte `value` at offset `off` (nothing past the end).
    #[inline(never)]
    pub fn set_u8_at(&mut self, off: usize, value: u8) {
        set_bytes(self.buffer, off, &[value]);
    }

    /// Write the big-endian 16-bit `value` at offset `off` (nothing past the end).
    #[inline(never)]
    pub fn set_u16_at(&mut self, off: usize, value: u16) {
        set_u16(self.buffer, off, value);
    }

    /// Write the big-endian 32-bit `value` at offset `off` (nothing past the end).
    #[inline(never)]
    pub fn set_u32_at(&mut self, off: usize, value: u32) {
        set_u32(self.buffer, off, value);
    }

    /// `value` into the `len`-byte string field at `off` (truncated if longer; the rest of
    /// the field stays as [`emit_message`] zeroed it).
    #[inline(never)]
    pub fn set_str_at(&mut self, off: usize, len: usize, value: &[u8]) {
        set_bytes(self.buffer, off, &value[..value.len().min(len)]);
    }
}

/// Start a `kind` message in the front of `buf` for writing field by field at the offsets
/// of RFC 2637 §2 (what [`Repr::emit_into`] writes, without building a [`Repr`]): the
/// message zeroed, its header written. `Err(Exhausted)` if `buf` is too short.
#[inline(never)]
pub fn emit_message(buf: &mut [u8], kind: MessageType) -> Result<Packet<&mut [u8]>> {
    let out = buf.get_mut(..kind.message_len()).ok_or(Error::Exhausted)?;
    out.fill(0);
    let mut packet = Packet::new_unchecked(out);
    packet.emit_header(kind);
    Ok(packet)
}

/// A parsed control message. String fields are trimmed at the first NUL; reserved fields
/// are ignored on parse (RFC says MUST be 0, peers are not trusted to) and zeroed on emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repr<'a> {
    StartControlConnectionRequest {
        protocol_version: u16,
        framing_capabilities: u32,
        bearer_capabilities: u32,
        maximum_channels: u16,
        firmware_revision: u16,
        host_name: &'a [u8],
        vendor: &'a [u8],
    },
    StartControlConnectionReply {
        protocol_version: u16,
        result_code: u8,
        error_code: u8,
        framing_capabilities: u32,
        bearer_capabilities: u32,
        maximum_channels: u16,
        firmware_revision: u16,
        host_name: &'a [u8],
        vendor: &'a [u8],
    },
    StopControlConnectionRequest {
        reason: u8,
    },
    StopControlConnectionReply {
        result_code: u8,
        error_code: u8,
    },
    EchoRequest {
        identifier: u32,
    },
    EchoReply {
        identifier: u32,
        result_code: u8,
        error_code: u8,
    },
    /// Phone Number Length is written as the phone number's length and ignored on parse.
    OutgoingCallRequest {
        call_id: u16,
        call_serial: u16,
        minimum_bps: u32,
        maximum_bps: u32,
        bearer_type: u32,
        framing_type: u32,
        recv_window: u16,
        processing_delay: u16,
        phone_number: &'a [u8],
        subaddress: &'a [u8],
    },
    OutgoingCallReply {
        call_id: u16,
        peer_call_id: u16,
        result_code: u8,
        error_code: u8,
        cause_code: u16,
        connect_speed: u32,
        recv_window: u16,
        processing_delay: u16,
        physical_channel_id: u32,
    },
    /// The two number length fields are written from the strings and ignored on parse.
    IncomingCallRequest {
        call_id: u16,
        call_serial: u16,
        bearer_type: u32,
        physical_channel_id: u32,
        dialed_number: &'a [u8],
        dialing_number: &'a [u8],
        subaddress: &'a [u8],
    },
    IncomingCallReply {
        call_id: u16,
        peer_call_id: u16,
        result_code: u8,
        error_code: u8,
        recv_window: u16,
        transmit_delay: u16,
    },
    IncomingCallConnected {
        peer_call_id: u16,
        connect_speed: u32,
        recv_window: u16,
        transmit_delay: u16,
        framing_type: u32,
    },
    /// `call_id` is the one the PNS (client) assigned.
    CallClearRequest {
        call_id: u16,
    },
    /// `call_id` is the one the PAC (server) assigned.
    CallDisconnectNotify {
        call_id: u16,
        result_code: u8,
        error_code: u8,
        cause_code: u16,
        call_statistics: &'a [u8],
    },
    WanErrorNotify {
        peer_call_id: u16,
        crc_errors: u32,
        framing_errors: u32,
        hardware_overruns: u32,
        buffer_overruns: u32,
        timeout_errors: u32,
        alignment_errors: u32,
    },
    /// `peer_call_id` is the one the PAC (server) assigned.
    SetLinkInfo {
        peer_call_id: u16,
        send_accm: u32,
        recv_accm: u32,
    },
}

impl<'a> Repr<'a> {
    /// Parse a checked packet (see [`Packet::new_checked`]).
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&'a T>) -> Result<Repr<'a>> {
        let kind = packet.check()?;
        let b: &'a [u8] = packet.buffer.as_ref();
        let mut r = Reader::body(b);
        // Fields in the order they lie in the message (struct fields are evaluated in the
        // order written); the offset of each is in the comment.
        Ok(match kind {
            MessageType::StartControlConnectionRequest => Repr::StartControlConnectionRequest {
                protocol_version: r.u16(), // 12
                framing_capabilities: {
                    r.skip(2); // Reserved1
                    r.u32() // 16
                },
                bearer_capabilities: r.u32(), // 20
                maximum_channels: r.u16(),    // 24
                firmware_revision: r.u16(),   // 26
                host_name: r.str(NAME_LEN),   // 28
                vendor: r.str(NAME_LEN),      // 92
            },
            MessageType::StartControlConnectionReply => Repr::StartControlConnectionReply {
                protocol_version: r.u16(),     // 12
                result_code: r.u8(),           // 14
                error_code: r.u8(),            // 15
                framing_capabilities: r.u32(), // 16
                bearer_capabilities: r.u32(),  // 20
                maximum_channels: r.u16(),     // 24
                firmware_revision: r.u16(),    // 26
                host_name: r.str(NAME_LEN),    // 28
                vendor: r.str(NAME_LEN),       // 92
            },
            MessageType::StopControlConnectionRequest => Repr::StopControlConnectionRequest {
                reason: r.u8(), // 12
            },
            MessageType::StopControlConnectionReply => Repr::StopControlConnectionReply {
                result_code: r.u8(), // 12
                error_code: r.u8(),  // 13
            },
            MessageType::EchoRequest => Repr::EchoRequest {
                identifier: r.u32(), // 12
            },
            MessageType::EchoReply => Repr::EchoReply {
                identifier: r.u32(), // 12
                result_code: r.u8(), // 16
                error_code: r.u8(),  // 17
            },
            MessageType::OutgoingCallRequest => Repr::OutgoingCallRequest {
                call_id: r.u16(),          // 12
                call_serial: r.u16(),      // 14
                minimum_bps: r.u32(),      // 16
                maximum_bps: r.u32(),      // 20
                bearer_type: r.u32(),      // 24
                framing_type: r.u32(),     // 28
                recv_window: r.u16(),      // 32
                processing_delay: r.u16(), // 34
                phone_number: {
                    r.skip(4); // Phone Number Length, Reserved1
                    r.str(NAME_LEN) // 40
                },
                subaddress: r.str(NAME_LEN), // 104
            },
            MessageType::OutgoingCallReply => Repr::OutgoingCallReply {
                call_id: r.u16(),             // 12
                peer_call_id: r.u16(),        // 14
                result_code: r.u8(),          // 16
                error_code: r.u8(),           // 17
                cause_code: r.u16(),          // 18
                connect_speed: r.u32(),       // 20
                recv_window: r.u16(),         // 24
                processing_delay: r.u16(),    // 26
                physical_channel_id: r.u32(), // 28
            },
            MessageType::IncomingCallRequest => Repr::IncomingCallRequest {
                call_id: r.u16(),             // 12
                call_serial: r.u16(),         // 14
                bearer_type: r.u32(),         // 16
                physical_channel_id: r.u32(), // 20
                dialed_number: {
                    r.skip(4); // Dialed Number Length, Dialing Number Length
                    r.str(NAME_LEN) // 28
                },
                dialing_number: r.str(NAME_LEN), // 92
                subaddress: r.str(NAME_LEN),     // 156
            },
            MessageType::IncomingCallReply => Repr::IncomingCallReply {
                call_id: r.u16(),        // 12
                peer_call_id: r.u16(),   // 14
                result_code: r.u8(),     // 16
                error_code: r.u8(),      // 17
                recv_window: r.u16(),    // 18
                transmit_delay: r.u16(), // 20
            },
            MessageType::IncomingCallConnected => Repr::IncomingCallConnected {
                peer_call_id: r.u16(), // 12
                connect_speed: {
                    r.skip(2); // Reserved1
                    r.u32() // 16
                },
                recv_window: r.u16(),    // 20
                transmit_delay: r.u16(), // 22
                framing_type: r.u32(),   // 24
            },
            MessageType::CallClearRequest => Repr::CallClearRequest {
                call_id: r.u16(), // 12
            },
            MessageType::CallDisconnectNotify => Repr::CallDisconnectNotify {
                call_id: r.u16(),    // 12
                result_code: r.u8(), // 14
                error_code: r.u8(),  // 15
                cause_code: r.u16(), // 16
                call_statistics: {
                    r.skip(2); // Reserved1
                    r.str(STATISTICS_LEN) // 20
                },
            },
            MessageType::WanErrorNotify => Repr::WanErrorNotify {
                peer_call_id: r.u16(), // 12
                crc_errors: {
                    r.skip(2); // Reserved1
                    r.u32() // 16
                },
                framing_errors: r.u32(),    // 20
                hardware_overruns: r.u32(), // 24
                buffer_overruns: r.u32(),   // 28
                timeout_errors: r.u32(),    // 32
                alignment_errors: r.u32(),  // 36
            },
            MessageType::SetLinkInfo => Repr::SetLinkInfo {
                peer_call_id: r.u16(), // 12
                send_accm: {
                    r.skip(2); // Reserved1
                    r.u32() // 16
                },
                recv_accm: r.u32(), // 20
            },
        })
    }

    pub fn message_type(&self) -> MessageType {
        match self {
            Repr::StartControlConnectionRequest { .. } => {
                MessageType::StartControlConnectionRequest
            }
            Repr::StartControlConnectionReply { .. } => MessageType::StartControlConnectionReply,
            Repr::StopControlConnectionRequest { .. } => MessageType::StopControlConnectionRequest,
            Repr::StopControlConnectionReply { .. } => MessageType::StopControlConnectionReply,
            Repr::EchoRequest { .. } => MessageType::EchoRequest,
            Repr::EchoReply { .. } => MessageType::EchoReply,
            Repr::OutgoingCallRequest { .. } => MessageType::OutgoingCallRequest,
            Repr::OutgoingCallReply { .. } => MessageType::OutgoingCallReply,
            Repr::IncomingCallRequest { .. } => MessageType::IncomingCallRequest,
            Repr::IncomingCallReply { .. } => MessageType::IncomingCallReply,
            Repr::IncomingCallConnected { .. } => MessageType::IncomingCallConnected,
            Repr::CallClearRequest { .. } => MessageType::CallClearRequest,
            Repr::CallDisconnectNotify { .. } => MessageType::CallDisconnectNotify,
            Repr::WanErrorNotify { .. } => MessageType::WanErrorNotify,
            Repr::SetLinkInfo { .. } => MessageType::SetLinkInfo,
        }
    }

    /// Total length of the emitted message, header included.
    pub fn buffer_len(&self) -> usize {
        self.message_type().message_len()
    }

    /// Write the whole message into `packet`, whose buffer must be [`Self::buffer_len`]
    /// bytes long (fields that do not fit are skipped rather than panicking). Strings
    /// longer than their field are truncated; padding and reserved fields are zeroed.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(&self, packet: &mut Packet<&mut T>) {
        let kind = self.message_type();
        {
            let b = packet.buffer.as_mut();
            let end = kind.message_len().min(b.len());
            b[..end].fill(0);
        }
        packet.emit_header(kind);
        let mut w = Writer {
            buf: packet.buffer.as_mut(),
            at: HEADER_LEN,
        };
        // Fields in message order, as in `parse`; the offset of each is in the comment.
        match *self {
            Repr::StartControlConnectionRequest {
                protocol_version,
                framing_capabilities,
                bearer_capabilities,
                maximum_channels,
                firmware_revision,
                host_name,
                vendor,
            } => emit_start(
                &mut w,
                protocol_version,
                (0, 0),
                (framing_capabilities, bearer_capabilities),
                maximum_channels,
                firmware_revision,
                host_name,
                vendor,
            ),
            Repr::StartControlConnectionReply {
                protocol_version,
                result_code,
                error_code,
                framing_capabilities,
                bearer_capabilities,
                maximum_channels,
                firmware_revision,
                host_name,
                vendor,
            } => emit_start(
                &mut w,
                protocol_version,
                (result_code, error_code),
                (framing_capabilities, bearer_capabilities),
                maximum_channels,
                firmware_revision,
                host_name,
                vendor,
            ),
            Repr::StopControlConnectionRequest { reason } => w.u8(reason), // 12
            Repr::StopControlConnectionReply {
                result_code,
                error_code,
            } => {
                w.u8(result_code); // 12
                w.u8(error_code); // 13
            }
            Repr::EchoRequest { identifier } => w.u32(identifier), // 12
            Repr::EchoReply {
                identifier,
                result_code,
                error_code,
            } => {
                w.u32(identifier); // 12
                w.u8(result_code); // 16
                w.u8(error_code); // 17
            }
            Repr::OutgoingCallRequest {
                call_id,
                call_serial,
                minimum_bps,
                maximum_bps,
                bearer_type,
                framing_type,
                recv_window,
                processing_delay,
                phone_number,
                subaddress,
            } => {
                w.u16(call_id); // 12
                w.u16(call_serial); // 14
                w.u32(minimum_bps); // 16
                w.u32(maximum_bps); // 20
                w.u32(bearer_type); // 24
                w.u32(framing_type); // 28
                w.u16(recv_window); // 32
                w.u16(processing_delay); // 34
                w.u16(phone_number.len().min(NAME_LEN) as u16); // 36
                w.skip(2); // Reserved1
                w.str(NAME_LEN, phone_number); // 40
                w.str(NAME_LEN, subaddress); // 104
            }
            Repr::OutgoingCallReply {
                call_id,
                peer_call_id,
                result_code,
                error_code,
                cause_code,
                connect_speed,
                recv_window,
                processing_delay,
                physical_channel_id,
            } => {
                w.u16(call_id); // 12
                w.u16(peer_call_id); // 14
                w.u8(result_code); // 16
                w.u8(error_code); // 17
                w.u16(cause_code); // 18
                w.u32(connect_speed); // 20
                w.u16(recv_window); // 24
                w.u16(processing_delay); // 26
                w.u32(physical_channel_id); // 28
            }
            Repr::IncomingCallRequest {
                call_id,
                call_serial,
                bearer_type,
                physical_channel_id,
                dialed_number,
                dialing_number,
                subaddress,
            } => {
                w.u16(call_id); // 12
                w.u16(call_serial); // 14
                w.u32(bearer_type); // 16
                w.u32(physical_channel_id); // 20
                w.u16(dialed_number.len().min(NAME_LEN) as u16); // 24
                w.u16(dialing_number.len().min(NAME_LEN) as u16); // 26
                w.str(NAME_LEN, dialed_number); // 28
                w.str(NAME_LEN, dialing_number); // 92
                w.str(NAME_LEN, subaddress); // 156
            }
            Repr::IncomingCallReply {
                call_id,
                peer_call_id,
                result_code,
                error_code,
                recv_window,
                transmit_delay,
            } => {
                w.u16(call_id); // 12
                w.u16(peer_call_id); // 14
                w.u8(result_code); // 16
                w.u8(error_code); // 17
                w.u16(recv_window); // 18
                w.u16(transmit_delay); // 20
            }
            Repr::IncomingCallConnected {
                peer_call_id,
                connect_speed,
                recv_window,
                transmit_delay,
                framing_type,
            } => {
                w.u16(peer_call_id); // 12
                w.skip(2); // Reserved1
                w.u32(connect_speed); // 16
                w.u16(recv_window); // 20
                w.u16(transmit_delay); // 22
                w.u32(framing_type); // 24
            }
            Repr::CallClearRequest { call_id } => w.u16(call_id), // 12
            Repr::CallDisconnectNotify {
                call_id,
                result_code,
                error_code,
                cause_code,
                call_statistics,
            } => {
                w.u16(call_id); // 12
                w.u8(result_code); // 14
                w.u8(error_code); // 15
                w.u16(cause_code); // 16
                w.skip(2); // Reserved1
                w.str(STATISTICS_LEN, call_statistics); // 20
            }
            Repr::WanErrorNotify {
                peer_call_id,
                crc_errors,
                framing_errors,
                hardware_overruns,
                buffer_overruns,
                timeout_errors,
                alignment_errors,
            } => {
                w.u16(peer_call_id); // 12
                w.skip(2); // Reserved1
                w.u32(crc_errors); // 16
                w.u32(framing_errors); // 20
                w.u32(hardware_overruns); // 24
                w.u32(buffer_overruns); // 28
                w.u32(timeout_errors); // 32
                w.u32(alignment_errors); // 36
            }
            Repr::SetLinkInfo {
                peer_call_id,
                send_accm,
                recv_accm,
            } => {
                w.u16(peer_call_id); // 12
                w.skip(2); // Reserved1
                w.u32(send_accm); // 16
                w.u32(recv_accm); // 20
            }
        }
    }

    /// Emit into the front of `buf` and return the message length, or `Err(Exhausted)` if
    /// `buf` is too short.
    pub fn emit_into(&self, buf: &mut [u8]) -> Result<usize> {
        let len = self.buffer_len();
        let out = buf.get_mut(..len).ok_or(Error::Exhausted)?;
        self.emit(&mut Packet::new_unchecked(out));
        Ok(len)
    }
}

/// The body shared by Start-Control-Connection-Request and -Reply (in the request the
/// result/error bytes are Reserved1 and written as 0).
#[allow(clippy::too_many_arguments)]
fn emit_start(
    w: &mut Writer,
    protocol_version: u16,
    (result_code, error_code): (u8, u8),
    (framing_capabilities, bearer_capabilities): (u32, u32),
    maximum_channels: u16,
    firmware_revision: u16,
    host_name: &[u8],
    vendor: &[u8],
) {
    w.u16(protocol_version); // 12
    w.u8(result_code); // 14
    w.u8(error_code); // 15
    w.u32(framing_capabilities); // 16
    w.u32(bearer_capabilities); // 20
    w.u16(maximum_channels); // 24
    w.u16(firmware_revision); // 26
    w.str(NAME_LEN, host_name); // 28
    w.str(NAME_LEN, vendor); // 92
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rand::{Random, XorShift};

    /// A header as the RFC lays it out, built by hand.
    fn header(len: u16, kind: u16) -> [u8; 12] {
        let l = len.to_be_bytes();
        let k = kind.to_be_bytes();
        [l[0], l[1], 0, 1, 0x1A, 0x2B, 0x3C, 0x4D, k[0], k[1], 0, 0]
    }

    fn emit(repr: &Repr) -> ([u8; MAX_MESSAGE_LEN], usize) {
        let mut buf = [0xAAu8; MAX_MESSAGE_LEN];
        let len = repr.emit_into(&mut buf).unwrap();
        (buf, len)
    }

    fn parse(bytes: &[u8]) -> Result<Repr<'_>> {
        Repr::parse(&Packet::new_checked(bytes)?)
    }

    #[test]
    fn lengths_match_rfc_table() {
        let expected = [
            156, 156, 16, 16, 16, 20, 168, 32, 220, 24, 28, 16, 148, 40, 24,
        ];
        for (i, &len) in expected.iter().enumerate() {
            let kind = MessageType::from_u16(i as u16 + 1).unwrap();
            assert_eq!(kind.message_len(), len, "{kind}");
            assert_eq!(kind as u16, i as u16 + 1);
        }
        assert!(MessageType::from_u16(0).is_none());
        assert!(MessageType::from_u16(16).is_none());
    }

    #[test]
    fn start_control_connection_reply_byte_exact() {
        let repr = Repr::StartControlConnectionReply {
            protocol_version: PROTOCOL_VERSION,
            result_code: start_result::SUCCESS,
            error_code: 0,
            framing_capabilities: 3,
            bearer_capabilities: 3,
            maximum_channels: 64,
            firmware_revision: 1,
            host_name: b"local",
            vendor: b"smolpptp",
        };
        let mut want = [0u8; 156];
        want[..12].copy_from_slice(&header(156, 2));
        want[12..28].copy_from_slice(&[
            0x01, 0x00, 0x01, 0x00, 0, 0, 0, 3, 0, 0, 0, 3, 0x00, 0x40, 0x00, 0x01,
        ]);
        want[28..33].copy_from_slice(b"local");
        want[92..100].copy_from_slice(b"smolpptp");
        let (buf, len) = emit(&repr);
        assert_eq!(len, 156);
        assert_eq!(&buf[..len], &want[..]);
        assert_eq!(parse(&want).unwrap(), repr);
    }

    #[test]
    fn outgoing_call_reply_byte_exact() {
        let repr = Repr::OutgoingCallReply {
            call_id: 0x1234,
            peer_call_id: 0x8001,
            result_code: outgoing_result::CONNECTED,
            error_code: 0,
            cause_code: 0,
            connect_speed: 100_000_000,
            recv_window: 64,
            processing_delay: 0,
            physical_channel_id: 0,
        };
        let mut want = [0u8; 32];
        want[..12].copy_from_slice(&header(32, 8));
        want[12..32].copy_from_slice(&[
            0x12, 0x34, 0x80, 0x01, 1, 0, 0, 0, 0x05, 0xF5, 0xE1, 0x00, 0x00, 0x40, 0, 0, 0, 0, 0,
            0,
        ]);
        let (buf, len) = emit(&repr);
        assert_eq!(&buf[..len], &want[..]);
        assert_eq!(parse(&want).unwrap(), repr);
    }

    #[test]
    fn outgoing_call_request_from_windows() {
        // What Windows sends (pptpd logs "100000000 maxbps, 64 window size").
        let mut msg = [0u8; 168];
        msg[..12].copy_from_slice(&header(168, 7));
        msg[12..40].copy_from_slice(&[
            0x40, 0x00, 0x00, 0x07, 0x00, 0x00, 0x01, 0x2C, 0x05, 0xF5, 0xE1, 0x00, 0, 0, 0, 3, 0,
            0, 0, 3, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        ]);
        let repr = parse(&msg).unwrap();
        assert_eq!(
            repr,
            Repr::OutgoingCallRequest {
                call_id: 0x4000,
                call_serial: 7,
                minimum_bps: 300,
                maximum_bps: 100_000_000,
                bearer_type: 3,
                framing_type: 3,
                recv_window: 64,
                processing_delay: 0,
                phone_number: b"",
                subaddress: b"",
            }
        );
        let (buf, len) = emit(&repr);
        assert_eq!(&buf[..len], &msg[..]);
    }

    #[test]
    fn small_messages_byte_exact() {
        let cases: [(Repr, &[u8]); 6] = [
            (
                Repr::StopControlConnectionRequest { reason: 1 },
                &[1, 0, 0, 0],
            ),
            (
                Repr::StopControlConnectionReply {
                    result_code: 1,
                    error_code: 0,
                },
                &[1, 0, 0, 0],
            ),
            (
                Repr::EchoRequest {
                    identifier: 0xDEADBEEF,
                },
                &[0xDE, 0xAD, 0xBE, 0xEF],
            ),
            (
                Repr::EchoReply {
                    identifier: 0xDEADBEEF,
                    result_code: 1,
                    error_code: 0,
                },
                &[0xDE, 0xAD, 0xBE, 0xEF, 1, 0, 0, 0],
            ),
            (
                Repr::CallClearRequest { call_id: 0xBEEF },
                &[0xBE, 0xEF, 0, 0],
            ),
            (
                Repr::SetLinkInfo {
                    peer_call_id: 0x0102,
                    send_accm: 0xFFFF_FFFF,
                    recv_accm: 0,
                },
                &[1, 2, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0],
            ),
        ];
        for (repr, body) in cases {
            let kind = repr.message_type();
            let (buf, len) = emit(&repr);
            assert_eq!(len, 12 + body.len(), "{kind}");
            assert_eq!(&buf[..12], &header(len as u16, kind as u16), "{kind}");
            assert_eq!(&buf[12..len], body, "{kind}");
            assert_eq!(parse(&buf[..len]).unwrap(), repr);
        }
    }

    #[test]
    fn call_disconnect_notify_statistics_padded() {
        let repr = Repr::CallDisconnectNotify {
            call_id: 9,
            result_code: disconnect_result::REQUEST,
            error_code: 0,
            cause_code: 0,
            call_statistics: b"bytes 10/20",
        };
        let (buf, len) = emit(&repr);
        assert_eq!(len, 148);
        assert_eq!(&buf[12..20], &[0, 9, 4, 0, 0, 0, 0, 0]);
        assert_eq!(&buf[20..31], b"bytes 10/20");
        assert!(buf[31..148].iter().all(|&b| b == 0));
        assert_eq!(parse(&buf[..len]).unwrap(), repr);
    }

    fn all_variants() -> [Repr<'static>; 15] {
        [
            Repr::StartControlConnectionRequest {
                protocol_version: 0x0100,
                framing_capabilities: 1,
                bearer_capabilities: 2,
                maximum_channels: 0,
                firmware_revision: 0x0A28,
                host_name: b"client-host",
                vendor: b"Microsoft",
            },
            Repr::StartControlConnectionReply {
                protocol_version: 0x0100,
                result_code: 5,
                error_code: 2,
                framing_capabilities: 3,
                bearer_capabilities: 3,
                maximum_channels: 1,
                firmware_revision: 1,
                host_name: &[b'h'; 64],
                vendor: b"v",
            },
            Repr::StopControlConnectionRequest { reason: 3 },
            Repr::StopControlConnectionReply {
                result_code: 2,
                error_code: 6,
            },
            Repr::EchoRequest { identifier: 7 },
            Repr::EchoReply {
                identifier: 7,
                result_code: 2,
                error_code: 1,
            },
            Repr::OutgoingCallRequest {
                call_id: 1,
                call_serial: 2,
                minimum_bps: 3,
                maximum_bps: 4,
                bearer_type: 5,
                framing_type: 6,
                recv_window: 7,
                processing_delay: 8,
                phone_number: b"5551234",
                subaddress: b"sub",
            },
            Repr::OutgoingCallReply {
                call_id: 1,
                peer_call_id: 2,
                result_code: 3,
                error_code: 4,
                cause_code: 5,
                connect_speed: 6,
                recv_window: 7,
                processing_delay: 8,
                physical_channel_id: 9,
            },
            Repr::IncomingCallRequest {
                call_id: 1,
                call_serial: 2,
                bearer_type: 3,
                physical_channel_id: 4,
                dialed_number: b"123",
                dialing_number: b"4567",
                subaddress: b"89",
            },
            Repr::IncomingCallReply {
                call_id: 1,
                peer_call_id: 2,
                result_code: 3,
                error_code: 4,
                recv_window: 5,
                transmit_delay: 6,
            },
            Repr::IncomingCallConnected {
                peer_call_id: 1,
                connect_speed: 2,
                recv_window: 3,
                transmit_delay: 4,
                framing_type: 5,
            },
            Repr::CallClearRequest { call_id: 0xFFFF },
            Repr::CallDisconnectNotify {
                call_id: 1,
                result_code: 2,
                error_code: 3,
                cause_code: 4,
                call_statistics: &[b's'; 128],
            },
            Repr::WanErrorNotify {
                peer_call_id: 1,
                crc_errors: 2,
                framing_errors: 3,
                hardware_overruns: 4,
                buffer_overruns: 5,
                timeout_errors: 6,
                alignment_errors: 7,
            },
            Repr::SetLinkInfo {
                peer_call_id: 1,
                send_accm: 2,
                recv_accm: 3,
            },
        ]
    }

    #[test]
    fn every_variant_round_trips() {
        for repr in all_variants() {
            let (buf, len) = emit(&repr);
            assert_eq!(len, repr.buffer_len());
            assert_eq!(message_len(&buf[..len]), Some(len as u16));
            assert_eq!(frame_len(&buf[..len]), Ok(Some(len)));
            assert_eq!(parse(&buf[..len]).unwrap(), repr, "{}", repr.message_type());
        }
    }

    #[test]
    fn number_length_fields_follow_strings() {
        let (buf, _) = emit(&all_variants()[6]);
        assert_eq!(&buf[36..38], &[0, 7]);
        assert_eq!(&buf[40..48], b"5551234\0");
        let (buf, _) = emit(&all_variants()[8]);
        assert_eq!(&buf[24..28], &[0, 3, 0, 4]);
    }

    #[test]
    fn overlong_strings_are_truncated() {
        let long = [b'x'; 100];
        let repr = Repr::StartControlConnectionReply {
            protocol_version: 0x0100,
            result_code: 1,
            error_code: 0,
            framing_capabilities: 0,
            bearer_capabilities: 0,
            maximum_channels: 0,
            firmware_revision: 0,
            host_name: &long,
            vendor: b"",
        };
        let (buf, len) = emit(&repr);
        assert_eq!(len, 156);
        match parse(&buf[..len]).unwrap() {
            Repr::StartControlConnectionReply {
                host_name, vendor, ..
            } => {
                assert_eq!(host_name, &long[..64]);
                assert_eq!(vendor, b"");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rejects_bad_headers() {
        let (good, len) = emit(&Repr::EchoRequest { identifier: 1 });
        let good = &good[..len];
        assert!(parse(good).is_ok());

        assert_eq!(parse(&good[..11]), Err(Error::Truncated));
        assert_eq!(parse(&good[..15]), Err(Error::Truncated));

        let mut m = [0u8; 16];
        m.copy_from_slice(good);
        m[4] = 0x1B; // magic
        assert_eq!(parse(&m), Err(Error::Malformed));

        m.copy_from_slice(good);
        m[3] = 2; // management message
        assert_eq!(parse(&m), Err(Error::Unsupported));
        m[3] = 3;
        assert_eq!(parse(&m), Err(Error::Malformed));

        m.copy_from_slice(good);
        m[9] = 16; // unknown control type
        assert_eq!(parse(&m), Err(Error::Unsupported));
        m[9] = 0;
        assert_eq!(parse(&m), Err(Error::Unsupported));

        m.copy_from_slice(good);
        m[9] = 6; // Echo-Reply needs 20 bytes
        assert_eq!(parse(&m), Err(Error::Malformed));

        // Length field shorter than the buffer.
        let mut longer = [0u8; 20];
        longer[..16].copy_from_slice(good);
        assert_eq!(parse(&longer), Err(Error::Malformed));
    }

    #[test]
    fn framing_helpers() {
        assert_eq!(message_len(&[]), None);
        assert_eq!(message_len(&[0]), None);
        assert_eq!(message_len(&[0, 156]), Some(156));
        assert_eq!(frame_len(&header(156, 1)[..11]), Ok(None));
        assert_eq!(frame_len(&header(156, 1)), Ok(Some(156)));
        assert_eq!(frame_len(&header(11, 1)), Err(Error::Malformed));
        assert_eq!(frame_len(&header(221, 1)), Err(Error::Malformed));
        let mut h = header(16, 5);
        h[7] = 0;
        assert_eq!(frame_len(&h), Err(Error::Malformed));
    }

    #[test]
    fn display_is_the_name() {
        for value in 1..=15 {
            let kind = MessageType::from_u16(value).unwrap();
            let mut text: heapless::String<40> = heapless::String::new();
            core::fmt::write(&mut text, format_args!("{kind}")).unwrap();
            assert_eq!(text, kind.name());
        }
    }

    #[test]
    fn emit_into_short_buffer_fails() {
        let mut buf = [0u8; 31];
        let repr = all_variants()[7];
        assert_eq!(repr.emit_into(&mut buf), Err(Error::Exhausted));
        // A too-short buffer behind the plain emit must not panic either.
        repr.emit(&mut Packet::new_unchecked(&mut buf[..5]));
    }

    #[test]
    fn random_and_mutated_input_never_panics() {
        let mut rng = XorShift(0x5EED_1723);
        let seeds: heapless::Vec<([u8; MAX_MESSAGE_LEN], usize), 15> =
            all_variants().iter().map(emit).collect();
        let mut buf = [0u8; MAX_MESSAGE_LEN + 8];
        for i in 0..20_000u32 {
            let len;
            if i & 1 == 0 {
                // Mutate a valid message: flip a few bytes, maybe cut or extend it.
                let (seed, seed_len) = &seeds[(rng.next_u32() % 15) as usize];
                buf[..*seed_len].copy_from_slice(&seed[..*seed_len]);
                for _ in 0..1 + rng.next_u32() % 4 {
                    let at = (rng.next_u32() as usize) % *seed_len;
                    buf[at] = rng.next_u32() as u8;
                }
                len = match rng.next_u32() % 4 {
                    0 => (rng.next_u32() as usize) % (*seed_len + 1),
                    1 => (*seed_len + (rng.next_u32() as usize) % 8).min(buf.len()),
                    _ => *seed_len,
                };
            } else {
                len = (rng.next_u32() as usize) % buf.len();
                rng.fill_bytes(&mut buf[..len]);
                if len >= 12 && rng.next_u32() & 1 == 0 {
                    buf[..12].copy_from_slice(&header(len as u16, (rng.next_u32() % 17) as u16));
                }
            }
            let bytes = &buf[..len];
            let _ = message_len(bytes);
            let _ = frame_len(bytes);
            let packet = Packet::new_unchecked(bytes);
            let _ = (packet.length(), packet.control_type(), packet.body());
            if let Ok(repr) = parse(bytes) {
                // Whatever parses must re-emit to a message that parses the same way.
                let (out, out_len) = emit(&repr);
                assert_eq!(out_len, len);
                assert_eq!(parse(&out[..out_len]).unwrap(), repr);
            }
        }
    }
}
