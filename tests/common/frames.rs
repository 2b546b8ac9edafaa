//! Building, taking apart and tampering with the IPv4/GRE/PPP frames that cross the test
//! link, for tests that inject or rewrite packets the test client would never send.
#![allow(dead_code)]

use std::net::Ipv4Addr;

use smolpptp::wire::gre;

use super::Frame;
use crate::support::packets;

pub const PROTO_GRE: u8 = 47;

/// A GRE packet (header + payload) with the given fields, built with the crate's encoder.
pub fn gre_packet(
    call_id: u16,
    sequence: Option<u32>,
    ack: Option<u32>,
    payload: &[u8],
) -> Vec<u8> {
    let repr = gre::Repr {
        call_id,
        sequence,
        ack,
        payload_len: payload.len() as u16,
    };
    let mut out = vec![0u8; repr.header_len() + payload.len()];
    repr.emit(&mut gre::Packet::new_unchecked(&mut out[..]));
    out[repr.header_len()..].copy_from_slice(payload);
    out
}

/// IPv4 (protocol 47) around `gre`, as one link frame.
pub fn ipv4_gre(src: Ipv4Addr, dst: Ipv4Addr, gre: &[u8]) -> Frame {
    to_frame(&packets::ipv4(src, dst, PROTO_GRE, 0x6e6e, gre))
}

pub fn to_frame(bytes: &[u8]) -> Frame {
    Frame::from_slice(bytes).expect("frame fits the link MTU")
}

/// An IPv4/GRE frame taken apart.
#[derive(Clone, Debug)]
pub struct GreFrame {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub call_id: u16,
    pub sequence: Option<u32>,
    pub ack: Option<u32>,
    /// The PPP frame.
    pub payload: Vec<u8>,
}

impl GreFrame {
    /// `frame` if it is IPv4 carrying a well-formed GRE packet.
    pub fn parse(frame: &[u8]) -> Option<GreFrame> {
        let ip = packets::parse_ipv4(frame)?;
        if ip.protocol != PROTO_GRE {
            return None;
        }
        let view = gre::Packet::new_checked(ip.payload).ok()?;
        let repr = gre::Repr::parse(&view).ok()?;
        Some(GreFrame {
            src: ip.src,
            dst: ip.dst,
            call_id: repr.call_id,
            sequence: repr.sequence,
            ack: repr.ack,
            payload: view.payload().to_vec(),
        })
    }

    /// Back to a link frame (lengths and checksum recomputed).
    pub fn build(&self) -> Frame {
        ipv4_gre(
            self.src,
            self.dst,
            &gre_packet(self.call_id, self.sequence, self.ack, &self.payload),
        )
    }

    /// The PPP protocol and the offset of its information field.
    pub fn ppp(&self) -> Option<(u16, usize)> {
        smolpptp::wire::ppp::parse(&self.payload).ok()
    }

    /// The PPP information field (from the Code field on, for control protocols).
    pub fn info(&self) -> &[u8] {
        match self.ppp() {
            Some((_, offset)) => &self.payload[offset..],
            None => &[],
        }
    }

    pub fn info_mut(&mut self) -> &mut [u8] {
        match self.ppp() {
            Some((_, offset)) => &mut self.payload[offset..],
            None => &mut [],
        }
    }

    /// Replace the information field, keeping the PPP header.
    pub fn set_info(&mut self, info: &[u8]) {
        if let Some((_, offset)) = self.ppp() {
            self.payload.truncate(offset);
            self.payload.extend_from_slice(info);
        }
    }
}

/// A PPP frame `FF 03 <protocol> <info>`.
pub fn ppp_frame(protocol: u16, info: &[u8]) -> Vec<u8> {
    let mut f = vec![0xFF, 0x03];
    f.extend_from_slice(&protocol.to_be_bytes());
    f.extend_from_slice(info);
    f
}

/// A control packet (LCP/IPCP/CCP layout): code, identifier, length, data.
pub fn cp_packet(code: u8, identifier: u8, data: &[u8]) -> Vec<u8> {
    let mut p = vec![code, identifier];
    p.extend_from_slice(&((4 + data.len()) as u16).to_be_bytes());
    p.extend_from_slice(data);
    p
}

/// Option TLVs of a control packet's data.
pub fn cp_options(data: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    let mut rest = data;
    while rest.len() >= 2 {
        let len = rest[1] as usize;
        if len < 2 || len > rest.len() {
            break;
        }
        out.push((rest[0], rest[2..len].to_vec()));
        rest = &rest[len..];
    }
    out
}

pub fn cp_option(ty: u8, value: &[u8]) -> Vec<u8> {
    let mut o = vec![ty, (2 + value.len()) as u8];
    o.extend_from_slice(value);
    o
}
