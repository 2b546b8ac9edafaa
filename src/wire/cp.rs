//! LCP/IPCP/CCP packets (RFC 1661 §5): `Code(1) Identifier(1) Length(2) Data`, and the
//! Type/Length/Value options carried by Configure-Request/-Ack/-Nak/-Reject.

use super::{Error, Result};

/// Packet codes. NCPs use 1..=7, LCP adds 8..=13 (RFC 1661, RFC 1570), CCP 14/15 (RFC 1962).
pub mod code {
    pub const CONFIGURE_REQUEST: u8 = 1;
    pub const CONFIGURE_ACK: u8 = 2;
    pub const CONFIGURE_NAK: u8 = 3;
    pub const CONFIGURE_REJECT: u8 = 4;
    pub const TERMINATE_REQUEST: u8 = 5;
    pub const TERMINATE_ACK: u8 = 6;
    pub const CODE_REJECT: u8 = 7;
    pub const PROTOCOL_REJECT: u8 = 8;
    pub const ECHO_REQUEST: u8 = 9;
    pub const ECHO_REPLY: u8 = 10;
    pub const DISCARD_REQUEST: u8 = 11;
    pub const IDENTIFICATION: u8 = 12;
    pub const TIME_REMAINING: u8 = 13;
    pub const RESET_REQUEST: u8 = 14;
    pub const RESET_ACK: u8 = 15;
}

/// Code, Identifier and Length.
pub const HEADER_LEN: usize = 4;

/// A length-checked view of a control packet.
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// The Length field must be at least 4 and no more than the buffer; bytes past it are
    /// padding (RFC 1661 §5) and ignored.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = Packet { buffer };
        packet.check_len()?;
        Ok(packet)
    }

    pub fn check_len(&self) -> Result<()> {
        let b = self.buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let len = usize::from(u16::from_be_bytes([b[2], b[3]]));
        if len < HEADER_LEN {
            return Err(Error::Malformed);
        }
        if len > b.len() {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[0]
    }

    pub fn identifier(&self) -> u8 {
        self.buffer.as_ref()[1]
    }

    /// The Length field (header included).
    pub fn length(&self) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[2], b[3]])
    }

    /// The Data field: the bytes after the header up to the Length field.
    pub fn data(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        let end = usize::from(self.length()).clamp(HEADER_LEN, b.len());
        &b[HEADER_LEN..end]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_code(&mut self, code: u8) {
        self.buffer.as_mut()[0] = code;
    }

    pub fn set_identifier(&mut self, id: u8) {
        self.buffer.as_mut()[1] = id;
    }

    pub fn set_length(&mut self, len: u16) {
        self.buffer.as_mut()[2..4].copy_from_slice(&len.to_be_bytes());
    }
}

/// A parsed control packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr<'a> {
    pub code: u8,
    pub identifier: u8,
    pub data: &'a [u8],
}

impl<'a> Repr<'a> {
    pub fn parse(packet: &Packet<&'a [u8]>) -> Result<Repr<'a>> {
        packet.check_len()?;
        let b: &'a [u8] = packet.buffer;
        let end = usize::from(packet.length());
        Ok(Repr {
            code: packet.code(),
            identifier: packet.identifier(),
            data: &b[HEADER_LEN..end],
        })
    }

    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.data.len()
    }

    /// Write the packet at the start of `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let len = self.buffer_len();
        let length = u16::try_from(len).map_err(|_| Error::Exhausted)?;
        let out = buf.get_mut(..len).ok_or(Error::Exhausted)?;
        let mut packet = Packet::new_unchecked(&mut *out);
        packet.set_code(self.code);
        packet.set_identifier(self.identifier);
        packet.set_length(length);
        out[HEADER_LEN..].copy_from_slice(self.data);
        Ok(len)
    }
}

/// Write a control packet header at the start of `buf` for `data_len` bytes of data that
/// the caller writes (or has written) at `buf[4..]`. Returns the total length.
pub fn emit_header(buf: &mut [u8], code: u8, identifier: u8, data_len: usize) -> Result<usize> {
    let len = HEADER_LEN.checked_add(data_len).ok_or(Error::Exhausted)?;
    let length = u16::try_from(len).map_err(|_| Error::Exhausted)?;
    if buf.len() < len {
        return Err(Error::Exhausted);
    }
    let mut packet = Packet::new_unchecked(&mut *buf);
    packet.set_code(code);
    packet.set_identifier(identifier);
    packet.set_length(length);
    Ok(len)
}

/// Iterator over the Type/Length/Value options of a Configure packet's data.
/// Yields `(type, value)` with the value lacking its type and length bytes; a length below
/// 2 or past the end yields one `Err(Malformed)` and then stops.
#[derive(Debug, Clone)]
pub struct Options<'a> {
    rest: &'a [u8],
}

impl<'a> Options<'a> {
    pub const fn new(data: &'a [u8]) -> Self {
        Options { rest: data }
    }

    /// Check that every option is well-formed.
    pub fn validate(data: &'a [u8]) -> Result<()> {
        for option in Options::new(data) {
            option?;
        }
        Ok(())
    }
}

impl<'a> Iterator for Options<'a> {
    type Item = Result<(u8, &'a [u8])>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let rest = self.rest;
        let len = rest.get(1).map(|&l| usize::from(l));
        match len {
            Some(len) if len >= 2 && len <= rest.len() => {
                self.rest = &rest[len..];
                Some(Ok((rest[0], &rest[2..len])))
            }
            _ => {
                self.rest = &[];
                Some(Err(Error::Malformed))
            }
        }
    }
}

/// Appends Type/Length/Value options to a buffer.
#[derive(Debug)]
pub struct OptionWriter<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> OptionWriter<'a> {
    pub fn new(buf: &'a mut [u8]) -> Self {
        OptionWriter { buf, len: 0 }
    }

    /// Append one option; `Exhausted` (and nothing written) when it does not fit or the
    /// value is longer than 253 bytes.
    pub fn push(&mut self, ty: u8, value: &[u8]) -> Result<()> {
        let option_len = value.len().checked_add(2).ok_or(Error::Exhausted)?;
        let len_byte = u8::try_from(option_len).map_err(|_| Error::Exhausted)?;
        let end = self.len.checked_add(option_len).ok_or(Error::Exhausted)?;
        let out = self.buf.get_mut(self.len..end).ok_or(Error::Exhausted)?;
        out[0] = ty;
        out[1] = len_byte;
        out[2..].copy_from_slice(value);
        self.len = end;
        Ok(())
    }

    /// Append raw bytes already in option form (e.g. a received option copied verbatim).
    pub fn push_raw(&mut self, bytes: &[u8]) -> Result<()> {
        let end = self.len.checked_add(bytes.len()).ok_or(Error::Exhausted)?;
        let out = self.buf.get_mut(self.len..end).ok_or(Error::Exhausted)?;
        out.copy_from_slice(bytes);
        self.len = end;
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Forget what was written: the buffer is reused from its start.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The options written so far.
    pub fn written(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rand::{Random, XorShift};

    /// Windows' LCP Configure-Request (protocol.md §1.10), after `FF 03 C0 21`.
    const WINDOWS_LCP_REQUEST: [u8; 44] = [
        0x01, 0x00, 0x00, 0x2C, 0x05, 0x06, 0x6F, 0x59, 0x3C, 0x72, 0x07, 0x02, 0x08, 0x02, 0x0D,
        0x03, 0x06, 0x11, 0x04, 0x06, 0x4E, 0x13, 0x17, 0x01, 0x48, 0x38, 0x4C, 0xA3, 0x8E, 0xC8,
        0x4A, 0xFE, 0x90, 0x0B, 0xA9, 0xA8, 0x7A, 0x6A, 0x59, 0x33, 0x00, 0x00, 0x00, 0x22,
    ];
    const WINDOWS_LCP_REJECT: [u8; 11] = [
        0x04, 0x00, 0x00, 0x0B, 0x0D, 0x03, 0x06, 0x11, 0x04, 0x06, 0x4E,
    ];
    /// Windows' first IPCP Configure-Request (protocol.md §1.13).
    const WINDOWS_IPCP_REQUEST: [u8; 40] = [
        0x01, 0x05, 0x00, 0x28, 0x02, 0x06, 0x00, 0x2D, 0x0F, 0x01, 0x03, 0x06, 0x00, 0x00, 0x00,
        0x00, 0x81, 0x06, 0x00, 0x00, 0x00, 0x00, 0x82, 0x06, 0x00, 0x00, 0x00, 0x00, 0x83, 0x06,
        0x00, 0x00, 0x00, 0x00, 0x84, 0x06, 0x00, 0x00, 0x00, 0x00,
    ];

    #[test]
    fn parses_windows_lcp_request() {
        let packet = Packet::new_checked(&WINDOWS_LCP_REQUEST[..]).unwrap();
        let repr = Repr::parse(&packet).unwrap();
        assert_eq!(repr.code, code::CONFIGURE_REQUEST);
        assert_eq!(repr.identifier, 0);
        assert_eq!(repr.data.len(), 40);
        let mut options = Options::new(repr.data);
        assert_eq!(options.next(), Some(Ok((5, &[0x6F, 0x59, 0x3C, 0x72][..]))));
        assert_eq!(options.next(), Some(Ok((7, &[][..]))));
        assert_eq!(options.next(), Some(Ok((8, &[][..]))));
        assert_eq!(options.next(), Some(Ok((13, &[6][..]))));
        assert_eq!(options.next(), Some(Ok((17, &[0x06, 0x4E][..]))));
        let (ty, value) = options.next().unwrap().unwrap();
        assert_eq!((ty, value.len(), value[0]), (19, 21, 1));
        assert_eq!(options.next(), None);
    }

    #[test]
    fn builds_windows_lcp_reject_byte_exact() {
        let request = Repr::parse(&Packet::new_checked(&WINDOWS_LCP_REQUEST[..]).unwrap()).unwrap();
        let mut data = [0u8; 64];
        let mut writer = OptionWriter::new(&mut data);
        for option in Options::new(request.data) {
            let (ty, value) = option.unwrap();
            if ty == 13 || ty == 17 {
                writer.push(ty, value).unwrap();
            }
        }
        let reject = Repr {
            code: code::CONFIGURE_REJECT,
            identifier: request.identifier,
            data: writer.written(),
        };
        let mut buf = [0u8; 64];
        let n = reject.emit(&mut buf).unwrap();
        assert_eq!(&buf[..n], &WINDOWS_LCP_REJECT);
    }

    #[test]
    fn ipcp_request_round_trips() {
        let repr = Repr::parse(&Packet::new_checked(&WINDOWS_IPCP_REQUEST[..]).unwrap()).unwrap();
        let types: heapless::Vec<u8, 8> = Options::new(repr.data).map(|o| o.unwrap().0).collect();
        assert_eq!(&types[..], &[2, 3, 0x81, 0x82, 0x83, 0x84]);
        let mut buf = [0u8; 64];
        let n = repr.emit(&mut buf).unwrap();
        assert_eq!(&buf[..n], &WINDOWS_IPCP_REQUEST);
    }

    #[test]
    fn server_lcp_request_byte_exact() {
        let mut data = [0u8; 32];
        let mut writer = OptionWriter::new(&mut data);
        writer.push(3, &[0xC2, 0x23, 0x81]).unwrap();
        writer.push(5, &[0x11, 0x22, 0x33, 0x44]).unwrap();
        let mut buf = [0u8; 32];
        let n = emit_header(&mut buf, code::CONFIGURE_REQUEST, 1, writer.len()).unwrap();
        buf[HEADER_LEN..n].copy_from_slice(writer.written());
        assert_eq!(
            &buf[..n],
            &[
                0x01, 0x01, 0x00, 0x0F, 0x03, 0x05, 0xC2, 0x23, 0x81, 0x05, 0x06, 0x11, 0x22, 0x33,
                0x44
            ]
        );
    }

    #[test]
    fn length_field_rules() {
        assert_eq!(
            Packet::new_checked(&[1u8, 2, 0][..]).err(),
            Some(Error::Truncated)
        );
        assert_eq!(
            Packet::new_checked(&[1u8, 2, 0, 3][..]).err(),
            Some(Error::Malformed)
        );
        assert_eq!(
            Packet::new_checked(&[1u8, 2, 0, 6, 0][..]).err(),
            Some(Error::Truncated)
        );
        // Padding past the Length field is ignored.
        let packet = Packet::new_checked(&[5u8, 7, 0, 5, 0xAA, 0xBB, 0xCC][..]).unwrap();
        assert_eq!(packet.data(), &[0xAA]);
        assert_eq!(Repr::parse(&packet).unwrap().data, &[0xAA]);
    }

    #[test]
    fn malformed_options_stop_the_iterator() {
        let mut it = Options::new(&[7, 2, 1, 1, 9]);
        assert_eq!(it.next(), Some(Ok((7, &[][..]))));
        assert_eq!(it.next(), Some(Err(Error::Malformed)));
        assert_eq!(it.next(), None);
        let mut it = Options::new(&[3, 8, 0, 0]);
        assert_eq!(it.next(), Some(Err(Error::Malformed)));
        assert_eq!(it.next(), None);
        assert_eq!(Options::validate(&[3]), Err(Error::Malformed));
        assert_eq!(Options::validate(&[]), Ok(()));
    }

    #[test]
    fn option_writer_refuses_overflow() {
        let mut buf = [0u8; 5];
        let mut w = OptionWriter::new(&mut buf);
        w.push(1, &[0x05, 0xDC]).unwrap();
        assert_eq!(w.push(7, &[0]), Err(Error::Exhausted));
        assert_eq!(w.len(), 4);
        assert_eq!(w.push(7, &[]), Err(Error::Exhausted));
        let mut big = [0u8; 600];
        let mut w = OptionWriter::new(&mut big);
        assert_eq!(w.push(1, &[0u8; 254]), Err(Error::Exhausted));
        assert!(w.is_empty());
    }

    #[test]
    fn emit_reports_small_buffers() {
        let repr = Repr {
            code: 9,
            identifier: 1,
            data: &[1, 2, 3],
        };
        assert_eq!(repr.emit(&mut [0u8; 6]), Err(Error::Exhausted));
        assert_eq!(emit_header(&mut [0u8; 3], 1, 1, 0), Err(Error::Exhausted));
    }

    #[test]
    fn random_and_mutated_input_never_panics() {
        let mut rng = XorShift(0x5eed_0002);
        let mut buf = [0u8; 64];
        for round in 0..20_000u32 {
            let len = (rng.next_u32() % 65) as usize;
            if round % 2 == 0 {
                buf[..44].copy_from_slice(&WINDOWS_LCP_REQUEST);
                let at = (rng.next_u32() % 44) as usize;
                buf[at] = rng.next_u32() as u8;
            } else {
                rng.fill_bytes(&mut buf[..len]);
            }
            if let Ok(packet) = Packet::new_checked(&buf[..len]) {
                let repr = Repr::parse(&packet).unwrap();
                for (_, value) in Options::new(repr.data).flatten() {
                    assert!(value.len() < 254);
                }
            }
            for _ in Options::new(&buf[..len]) {}
        }
    }
}
