//! Every `wire` parser on arbitrary bytes (the first byte picks the parser). None may
//! panic, and whatever parses must survive emit → parse unchanged; where the format has no
//! reserved bits or padding the emitted bytes must equal the input's.

use smolpptp::wire::{chap, cp, gre, mppe, ppp, pptp, Error};

const PARSERS: u8 = 7;

pub fn run(data: &[u8]) {
    super::init_logging();
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    match selector % PARSERS {
        0 => pptp_message(rest),
        1 => gre_packet(rest),
        2 => chap_packet(rest),
        3 => mppe_header(rest),
        4 => ppp_frame(rest),
        5 => control_packet(rest),
        _ => neighbour_frame(rest),
    }
}

/// A PPTP control message: framing helpers, view, Repr round trip.
fn pptp_message(data: &[u8]) {
    let _ = pptp::message_len(data);
    let framed = pptp::frame_len(data);
    if let Ok(Some(len)) = framed {
        assert!((pptp::HEADER_LEN..=pptp::MAX_MESSAGE_LEN).contains(&len));
    }
    let unchecked = pptp::Packet::new_unchecked(data);
    let _ = (
        unchecked.length(),
        unchecked.pptp_message_type(),
        unchecked.magic_cookie(),
        unchecked.message_type(),
        unchecked.reserved0(),
        unchecked.body().len(),
    );

    let Ok(packet) = pptp::Packet::new_checked(data) else {
        assert!(pptp::Repr::parse(&unchecked).is_err());
        return;
    };
    // A message the view accepts is one the TCP framing would have cut out as it is.
    assert_eq!(framed, Ok(Some(data.len())));
    let repr = pptp::Repr::parse(&packet).expect("a checked packet parses");
    let len = repr.buffer_len();
    assert_eq!(len, data.len());

    let mut out = [0u8; pptp::MAX_MESSAGE_LEN];
    assert_eq!(repr.emit_into(&mut out), Ok(len));
    let emitted = &out[..len];
    // Length, PPTP Message Type, magic cookie and control type are kept; Reserved0 is zeroed.
    assert_eq!(emitted[..10], data[..10]);
    assert_eq!(emitted[10..12], [0, 0]);
    let again = pptp::Repr::parse(&pptp::Packet::new_checked(emitted).expect("emitted checks"))
        .expect("emitted message parses");
    assert_eq!(again, repr);
    // Emission is canonical: the re-parsed message emits the same bytes.
    let mut out2 = [0u8; pptp::MAX_MESSAGE_LEN];
    assert_eq!(again.emit_into(&mut out2), Ok(len));
    assert_eq!(out2[..len], out[..len]);
    assert_eq!(repr.emit_into(&mut out[..len - 1]), Err(Error::Exhausted));
}

/// An enhanced GRE packet: view accessors, Repr round trip with its payload.
fn gre_packet(data: &[u8]) {
    let unchecked = gre::Packet::new_unchecked(data);
    let _ = (
        unchecked.has_checksum(),
        unchecked.has_routing(),
        unchecked.has_key(),
        unchecked.strict_route(),
        unchecked.recursion(),
        unchecked.reserved_flags(),
        unchecked.version(),
        unchecked.protocol(),
        unchecked.call_id(),
        unchecked.sequence(),
        unchecked.ack(),
        unchecked.payload().len(),
    );
    let mut copy = data.to_vec();
    let _ = gre::Packet::new_unchecked(&mut copy[..])
        .payload_mut()
        .len();

    let Ok(packet) = gre::Packet::new_checked(data) else {
        assert!(gre::Repr::parse(&unchecked).is_err());
        return;
    };
    assert_eq!(packet.payload().len(), usize::from(packet.payload_len()));
    let Ok(repr) = gre::Repr::parse(&packet) else {
        return;
    };
    let header_len = repr.header_len();
    assert_eq!(header_len, packet.header_len());
    assert_eq!(repr.buffer_len(), header_len + packet.payload().len());

    let mut out = vec![0u8; repr.buffer_len()];
    assert_eq!(repr.emit_header_into(&mut out), Ok(header_len));
    out[header_len..].copy_from_slice(packet.payload());
    // Parse accepts only the flags PPTP uses, so the header comes back byte for byte.
    assert_eq!(out[..header_len], data[..header_len]);
    let emitted = gre::Packet::new_checked(&out[..]).expect("emitted packet checks");
    assert_eq!(gre::Repr::parse(&emitted), Ok(repr));
    assert_eq!(emitted.payload(), packet.payload());
    let short = out.len() - 1;
    assert_eq!(
        repr.emit_header_into(&mut out[..short]),
        Err(Error::Exhausted)
    );
}

/// A CHAP packet and the MS-CHAPv2 Response value inside it.
fn chap_packet(data: &[u8]) {
    let Ok(repr) = chap::Repr::parse(data) else {
        return;
    };
    let len = repr.buffer_len();
    assert_eq!(len, usize::from(u16::from_be_bytes([data[2], data[3]])));
    let mut out = vec![0u8; len];
    assert_eq!(repr.emit(&mut out), Ok(len));
    // CHAP has no reserved fields: the packet comes back byte for byte (padding dropped).
    assert_eq!(out[..], data[..len]);
    assert_eq!(chap::Repr::parse(&out), Ok(repr));
    assert_eq!(repr.emit(&mut out[..len - 1]), Err(Error::Exhausted));

    if let chap::Repr::Response { value, .. } = repr {
        if let Ok(response) = chap::MsChapV2Response::new_checked(value) {
            let encoded = chap::MsChapV2Response::encode(
                response.peer_challenge(),
                response.nt_response(),
                response.flags(),
            );
            assert_eq!(chap::MsChapV2Response::new_checked(&encoded), Ok(response));
        }
    }
}

/// The MPPE header and the CCP option 18 value.
fn mppe_header(data: &[u8]) {
    if let Ok(header) = mppe::Header::parse(data) {
        assert!(header.coherency_count < mppe::CCOUNT_MODULUS);
        // Four flag bits and a 12-bit count: every bit of the two bytes is a field.
        assert_eq!(header.to_bytes(), data[..2]);
        let mut out = [0u8; 2];
        assert_eq!(header.emit(&mut out), Ok(()));
        assert_eq!(mppe::Header::parse(&out), Ok(header));
        assert_eq!(header.emit(&mut out[..1]), Err(Error::Exhausted));
    }
    if let Ok(bits) = mppe::parse_option(data) {
        assert_eq!(mppe::emit_option(bits)[..], data[..]);
    }
}

/// A PPP frame header, both ways: parse → emit in the same form, and emit → parse for
/// any valid protocol number and compression flags.
fn ppp_frame(data: &[u8]) {
    if let Ok((protocol, offset)) = ppp::parse(data) {
        assert!(offset <= data.len() && offset <= 4);
        let acfc = !data.starts_with(&ppp::ADDRESS_CONTROL);
        let pfc = offset == usize::from(!acfc) * 2 + 1;
        let mut out = [0u8; 4];
        let len = ppp::emit_header(&mut out, protocol, acfc, pfc).expect("header fits");
        assert_eq!(len, ppp::header_len(protocol, acfc, pfc));
        if protocol == ppp::protocol::LCP {
            // LCP is never compressed on emit.
            assert_eq!(out[..len], [0xFF, 0x03, 0xC0, 0x21]);
        } else {
            assert_eq!(out[..len], data[..offset], "header changed form");
        }
        assert_eq!(ppp::parse(&out[..len]), Ok((protocol, len)));
    }
    if let [hi, lo, flags, ..] = *data {
        let protocol = u16::from_be_bytes([hi, lo]);
        let (acfc, pfc) = (flags & 1 != 0, flags & 2 != 0);
        let mut out = [0u8; 4];
        let len = ppp::emit_header(&mut out, protocol, acfc, pfc).expect("header fits");
        assert_eq!(len, ppp::header_len(protocol, acfc, pfc));
        // RFC 1661 §2: a valid protocol number has an even high and an odd low byte.
        if hi & 1 == 0 && lo & 1 == 1 {
            assert_eq!(ppp::parse(&out[..len]), Ok((protocol, len)));
        }
        assert_eq!(
            ppp::emit_header(&mut out[..len - 1], protocol, acfc, pfc),
            Err(Error::Exhausted)
        );
    }
}

/// An LCP/IPCP/CCP packet and its option list.
fn control_packet(data: &[u8]) {
    let Ok(packet) = cp::Packet::new_checked(data) else {
        return;
    };
    let len = usize::from(packet.length());
    assert!(len >= cp::HEADER_LEN && len <= data.len());
    let repr = cp::Repr::parse(&packet).expect("a checked packet parses");
    assert_eq!(repr.data, packet.data());
    assert_eq!(
        (repr.code, repr.identifier),
        (packet.code(), packet.identifier())
    );
    assert_eq!(repr.buffer_len(), len);
    let mut out = vec![0u8; len];
    assert_eq!(repr.emit(&mut out), Ok(len));
    assert_eq!(out[..], data[..len], "no reserved bits: byte for byte");
    assert_eq!(repr.emit(&mut out[..len - 1]), Err(Error::Exhausted));
    let mut header = vec![0u8; len];
    assert_eq!(
        cp::emit_header(&mut header, repr.code, repr.identifier, repr.data.len()),
        Ok(len)
    );
    assert_eq!(header[..cp::HEADER_LEN], data[..cp::HEADER_LEN]);

    // Options: re-written one by one they give back the same bytes, up to the first
    // malformed one, which is the last item.
    let mut rewritten = vec![0u8; repr.data.len()];
    let mut writer = cp::OptionWriter::new(&mut rewritten);
    let mut options = cp::Options::new(repr.data);
    let mut malformed = false;
    for option in options.by_ref() {
        match option {
            Ok((ty, value)) => {
                assert!(value.len() <= 253);
                writer
                    .push(ty, value)
                    .expect("option fits where it came from");
            }
            Err(e) => {
                assert_eq!(e, Error::Malformed);
                malformed = true;
                break;
            }
        }
    }
    assert!(options.next().is_none(), "options go on after an error");
    assert_eq!(cp::Options::validate(repr.data).is_err(), malformed);
    let written = writer.written();
    assert_eq!(written, &repr.data[..written.len()]);
    if !malformed {
        assert_eq!(written.len(), repr.data.len());
    }
}

pub fn seeds() -> Vec<Vec<u8>> {
    use pptp::Repr as M;
    let with = |selector: u8, bytes: &[u8]| [&[selector][..], bytes].concat();
    let mut seeds = Vec::new();
    let messages = [
        M::StartControlConnectionRequest {
            protocol_version: pptp::PROTOCOL_VERSION,
            framing_capabilities: 1,
            bearer_capabilities: 1,
            maximum_channels: 0,
            firmware_revision: 0x1234,
            host_name: b"local",
            vendor: b"cananian",
        },
        M::EchoRequest { identifier: 7 },
        M::OutgoingCallRequest {
            call_id: 0x1F00,
            call_serial: 1,
            minimum_bps: 2400,
            maximum_bps: 10_000_000,
            bearer_type: 3,
            framing_type: 3,
            recv_window: 64,
            processing_delay: 0,
            phone_number: b"",
            subaddress: b"",
        },
        M::CallDisconnectNotify {
            call_id: 1,
            result_code: 3,
            error_code: 0,
            cause_code: 0,
            call_statistics: b"stats",
        },
        M::SetLinkInfo {
            peer_call_id: 2,
            send_accm: u32::MAX,
            recv_accm: u32::MAX,
        },
    ];
    for message in messages {
        let mut out = [0u8; pptp::MAX_MESSAGE_LEN];
        let len = message.emit_into(&mut out).unwrap();
        seeds.push(with(0, &out[..len]));
    }
    for repr in [
        gre::Repr {
            call_id: 0x8000,
            sequence: Some(0),
            ack: Some(5),
            payload_len: 4,
        },
        gre::Repr {
            call_id: 1,
            sequence: None,
            ack: Some(9),
            payload_len: 0,
        },
    ] {
        let mut out = vec![0u8; repr.buffer_len()];
        let header_len = repr.emit_header_into(&mut out).unwrap();
        let payload_len = out.len() - header_len;
        out[header_len..].copy_from_slice(&[0xFF, 0x03, 0xC0, 0x21][..payload_len]);
        seeds.push(with(1, &out));
    }
    let value = chap::MsChapV2Response::encode(&[1; 16], &[2; 24], 0);
    for repr in [
        chap::Repr::Challenge {
            identifier: 1,
            value: &[0xAA; 16],
            name: b"smolpptp",
        },
        chap::Repr::Response {
            identifier: 1,
            value: &value,
            name: b"user",
        },
        chap::Repr::Success {
            identifier: 1,
            message: b"S=0123456789ABCDEF0123456789ABCDEF01234567 M=Access granted",
        },
        chap::Repr::Failure {
            identifier: 1,
            message: b"E=691 R=0 C=00000000000000000000000000000000 V=3",
        },
    ] {
        let mut out = vec![0u8; repr.buffer_len()];
        repr.emit(&mut out).unwrap();
        seeds.push(with(2, &out));
    }
    seeds.push(with(3, &[0x90, 0x01]));
    seeds.push(with(3, &mppe::emit_option(mppe::bits::H | mppe::bits::S)));
    for frame in [
        &[0xFF, 0x03, 0xC0, 0x21][..],
        &[0x21],
        &[0x00, 0xFD],
        &[0xFF, 0x03, 0x80, 0x21],
    ] {
        seeds.push(with(4, frame));
    }
    // LCP Configure-Request: MRU 1400, magic number, then padding.
    seeds.push(with(
        5,
        &[
            1, 7, 0, 14, 1, 4, 0x05, 0x78, 5, 6, 0x12, 0x34, 0x56, 0x78, 0, 0,
        ],
    ));
    // CCP Configure-Request for MPPE-128 stateless.
    seeds.push(with(5, &[1, 1, 0, 10, 18, 6, 1, 0, 0, 0x40]));
    seeds
}

/// An Ethernet frame as the raw backend's device reads or sends it: what it learns and the
/// ARP reply it then hands smoltcp must be exactly the frame's sender.
fn neighbour_frame(data: &[u8]) {
    use smolpptp::linux::neighbours::{arp_request_target, Neighbours, HINT_LEN};
    use smoltcp::wire::{ArpOperation, ArpPacket, ArpRepr, EthernetFrame};
    let us = [0x02, 0, 0, 0, 0, 1];
    let mut n = Neighbours::new(us, core::net::Ipv4Addr::new(192, 0, 2, 1), 24);
    let now = smoltcp::time::Instant::from_secs(1);
    if let Some(target) = arp_request_target(data) {
        n.want(target);
        let _ = n.take_wanted(now);
    }
    let Some(taught) = n.received(data, now) else {
        return;
    };
    assert_eq!(taught.1[..], data[6..12]);
    let mut hint = [0u8; HINT_LEN];
    n.hint(taught, &mut hint);
    let eth = EthernetFrame::new_checked(&hint[..]).expect("hint frame");
    let repr = ArpRepr::parse(&ArpPacket::new_checked(eth.payload()).expect("hint ARP"))
        .expect("hint parses");
    let ArpRepr::EthernetIpv4 {
        operation,
        source_hardware_addr,
        source_protocol_addr,
        target_protocol_addr,
        ..
    } = repr
    else {
        panic!("not IPv4 over Ethernet: {repr:?}");
    };
    assert_eq!(operation, ArpOperation::Reply);
    assert_eq!(source_hardware_addr.0[..], data[6..12]);
    assert_eq!(u32::from(source_protocol_addr), taught.0);
    assert_eq!(target_protocol_addr, core::net::Ipv4Addr::new(192, 0, 2, 1));
    // Taught once: the same frame again right away teaches nothing.
    assert_eq!(n.received(data, now), None);
}
