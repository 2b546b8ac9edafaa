//! The server poll loop: owns the smoltcp interface, the pool of TCP sockets listening on
//! port 1723, the raw GRE socket and the session table, and is driven by `poll(now)`.
//!
//! Everything is sized at compile time (`limits`) and lives in storage the caller allocates
//! once ([`Storage`]); a poll allocates nothing.

use core::net::Ipv4Addr;

use smoltcp::iface::{
    Config, Interface, PollIngressSingleResult, SocketHandle, SocketSet, SocketStorage,
};
use smoltcp::phy::Device;
use smoltcp::socket::{raw, tcp};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{
    HardwareAddress, IpAddress, IpCidr, IpProtocol, IpVersion, Ipv4Packet, Ipv4Repr,
};

use crate::limits::{DEVICE_MTU, MAX_PPP_FRAME};
use crate::ppp::ipv6cp;
use crate::ppp::link::{LinkEnv, LinkEvent};
use crate::pptp::control::{
    self, CallRefusal, CloseReason, ControlConnection, ControlEvent, DisconnectResult, OutgoingCall,
};
use crate::pptp::session::{Counters, EndReason, Session};
use crate::pptp::table::SessionTable;
use crate::pptp::throttle::AuthThrottle;
use crate::rand::Random;
use crate::settings::{InterfaceId, Secrets, Settings, SingleSession, MAX_NAME_LEN};
use crate::wire::ipv4_mtu::{self, FRAG_NEEDED_MAX_LEN};
use crate::wire::{gre, pptp as msg, tcp_mss};

pub use crate::pptp::session::Tunnel;

/// GRE is IP protocol 47.
pub const IP_PROTOCOL_GRE: u8 = 47;
/// How long a closing server waits for clients to answer Stop-Control-Connection-Request.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);
/// A TCP handshake on 1723 must complete within this, so a SYN flood (smoltcp has no SYN
/// cookies) holds each listening socket only briefly.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// An established control connection whose peer sends nothing (not even an ACK to our
/// keep-alive probe or data) for this long is aborted.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(120);
/// TCP keep-alive probes on an idle control connection.
pub const TCP_KEEPALIVE: Duration = Duration::from_secs(60);
/// A connection we closed must finish its FIN exchange within this, or it is aborted.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);
/// ICMP "fragmentation needed" messages waiting for the next `poll` to hand them to the
/// tunnel; more in between are not sent (a crude ICMP rate limit, RFC 1812 §4.3.2.8).
pub const ICMP_QUEUE: usize = 4;

/// Socket slots in [`Storage::sockets`]: the TCP pool and two raw GRE sockets.
pub const SOCKETS: usize = crate::limits::MAX_CONTROL_CONNECTIONS + 2;

/// The memory the server runs in, allocated once by the caller (a `static` on a
/// microcontroller, leaked boxes in the daemon). Sizes come from `limits`.
pub struct Storage<'a> {
    /// [`SOCKETS`] entries: the TCP pool, the raw GRE socket that receives, and the one
    /// that sends.
    pub sockets: &'a mut [SocketStorage<'a>],
    /// `MAX_CONTROL_CONNECTIONS * TCP_RX_BUFFER` bytes.
    pub tcp_rx: &'a mut [u8],
    /// `MAX_CONTROL_CONNECTIONS * TCP_TX_BUFFER` bytes.
    pub tcp_tx: &'a mut [u8],
    pub gre_rx_meta: &'a mut [raw::PacketMetadata],
    pub gre_rx: &'a mut [u8],
    pub gre_tx_meta: &'a mut [raw::PacketMetadata],
    pub gre_tx: &'a mut [u8],
    /// `MAX_SESSIONS` entries.
    pub sessions: &'a mut [Option<Session>],
}

/// Where the server sits on the network.
#[derive(Clone, Copy, Debug)]
pub struct NetConfig {
    pub hardware: HardwareAddress,
    /// The server's own address and prefix on its device.
    pub address: Ipv4Addr,
    pub prefix_len: u8,
    /// Default gateway, if clients are not on the device's own subnet.
    pub gateway: Option<Ipv4Addr>,
}

/// Which sessions [`Server::kick`] ends: by the authenticated user name, or by an address
/// (the client's tunnel address or its public address).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Selector<'s> {
    User(&'s str),
    Address(Ipv4Addr),
}

impl Selector<'_> {
    pub fn matches(&self, session: &Session) -> bool {
        match *self {
            Selector::User(user) => !user.is_empty() && session.link.user() == user,
            Selector::Address(a) => session.peer == a || session.address == Some(a),
        }
    }
}

/// Whether a [`SessionNotice`] reports a session coming up or going down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoticeKind {
    /// IPCP (and MPPE when required) is up: pppd's ip-up moment.
    Up,
    /// A session that had a tunnel address ended: pppd's ip-down moment.
    Down,
}

/// A session came up or went down, for the daemon's hooks and accounting (ip-up/ip-down,
/// wtmp). Read them with [`Server::poll_notice`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionNotice {
    pub kind: NoticeKind,
    pub call_id: u16,
    pub user: heapless::String<MAX_NAME_LEN>,
    /// The client's public address.
    pub peer: Ipv4Addr,
    /// The client's tunnel address.
    pub address: Ipv4Addr,
    /// Our side of the tunnel.
    pub local: Ipv4Addr,
    /// Since the call started (Down: the whole call).
    pub connect_time: Duration,
    pub counters: Counters,
}

impl SessionNotice {
    /// None for a session that never got a tunnel address.
    fn new(kind: NoticeKind, session: &Session, local: Ipv4Addr, now: Instant) -> Option<Self> {
        let mut user = heapless::String::new();
        let _ = user.push_str(session.link.user());
        Some(SessionNotice {
            kind,
            call_id: session.call_id,
            user,
            peer: session.peer,
            address: session.address?,
            local,
            connect_time: session.connect_time(now),
            counters: session.counters,
        })
    }
}

/// Up to two notices per session can wait between two polls of the daemon.
pub const NOTICE_QUEUE: usize = 2 * crate::limits::MAX_SESSIONS;

/// One TCP socket of the 1723 pool and the control connection on it.
struct ControlSlot {
    handle: SocketHandle,
    control: Option<ControlConnection>,
    peer: Ipv4Addr,
}

pub struct Server<'a> {
    iface: Interface,
    sockets: SocketSet<'a>,
    /// Only the raw socket GRE leaves on. smoltcp's egress visits every socket of a set and
    /// sends one packet per socket per visit, so in the big set each GRE packet out would
    /// cost a walk over the whole TCP pool; in its own set it costs one socket.
    gre_out: SocketSet<'a>,
    gre_tx: SocketHandle,
    conns: heapless::Vec<ControlSlot, { crate::limits::MAX_CONTROL_CONNECTIONS }>,
    gre: SocketHandle,
    table: SessionTable<'a>,
    settings: Settings,
    address: Ipv4Addr,
    shutdown_since: Option<Instant>,
    notices: heapless::Deque<SessionNotice, NOTICE_QUEUE>,
    /// Failed-authentication throttle per client address (`auth-throttle`).
    throttle: AuthThrottle,
    /// Every 1723 socket is busy (logged once when it happens and once when it ends).
    pool_full: bool,
    /// The IPv6 Interface-Identifier each session slot holds for its client, so IPv6CP can
    /// keep them unique (kept beside the table: a session reads it while borrowed from it).
    /// As words, 0 for none ([`LinkEnv::ipv6_ids`]).
    ipv6_ids: [u64; crate::limits::MAX_SESSIONS],
    /// ICMP errors for senders on the network (packets too big for a client's tunnel).
    icmp: heapless::Deque<heapless::Vec<u8, FRAG_NEEDED_MAX_LEN>, ICMP_QUEUE>,
    /// A packet for a client being changed on its way: a fragment, or a SYN whose MSS is
    /// clamped.
    scratch: [u8; MAX_PPP_FRAME],
    /// One PPTP control message (in or out) or one GRE packet at a time.
    msg_in: [u8; msg::MAX_MESSAGE_LEN],
    msg_out: [u8; msg::MAX_MESSAGE_LEN],
    packet: [u8; DEVICE_MTU + 64],
}

// The functions marked `cfg_attr(not(target_arch = "mips"), inline(never))` are out of line
// on ARM and x86: inlined, every step of `poll` joins the daemon's loop (`smolpptpd::serve`)
// in one function whose frame and register pressure cost more than the calls (measured:
// -1.7 KB on armv7, -0.9 KB on i586). Not on MIPS, where the same split grows the binary
// (+1.6 KB on mipsel).
impl<'a> Server<'a> {
    /// Set up the interface and sockets. `seed` must differ on every start (TCP ISNs).
    #[cfg_attr(not(target_arch = "mips"), inline(never))]
    pub fn new<D: Device + ?Sized>(
        settings: Settings,
        net: NetConfig,
        storage: Storage<'a>,
        device: &mut D,
        now: Instant,
        rng: &mut dyn Random,
    ) -> Self {
        let mut config = Config::new(net.hardware);
        let mut seed = [0u8; 8];
        rng.fill_bytes(&mut seed);
        config.random_seed = u64::from_le_bytes(seed);
        let mut iface = Interface::new(config, device, now);
        iface.update_ip_addrs(|addrs| {
            let _ = addrs.push(IpCidr::new(IpAddress::Ipv4(net.address), net.prefix_len));
        });
        if let Some(gw) = net.gateway {
            let _ = iface.routes_mut().add_default_ipv4_route(gw);
        }

        let (gre_out_slot, socket_slots) = storage.sockets.split_at_mut(1);
        let mut sockets = SocketSet::new(socket_slots);
        let mut conns = heapless::Vec::new();
        let rx_chunks = storage.tcp_rx.chunks_mut(crate::limits::TCP_RX_BUFFER);
        let tx_chunks = storage.tcp_tx.chunks_mut(crate::limits::TCP_TX_BUFFER);
        for (rx, tx) in rx_chunks
            .zip(tx_chunks)
            .take(crate::limits::MAX_CONTROL_CONNECTIONS)
        {
            let mut socket =
                tcp::Socket::new(tcp::SocketBuffer::new(rx), tcp::SocketBuffer::new(tx));
            configure_tcp(&mut socket);
            let _ = socket.listen(msg::PPTP_PORT);
            let handle = sockets.add(socket);
            let _ = conns.push(ControlSlot {
                handle,
                control: None,
                peer: Ipv4Addr::UNSPECIFIED,
            });
        }
        let gre_in = raw::Socket::new(
            Some(IpVersion::Ipv4),
            Some(IpProtocol::from(IP_PROTOCOL_GRE)),
            raw::PacketBuffer::new(storage.gre_rx_meta, storage.gre_rx),
            raw::PacketBuffer::new(&mut [][..], &mut [][..]),
        );
        let gre = sockets.add(gre_in);
        let mut gre_out = SocketSet::new(gre_out_slot);
        let gre_tx = gre_out.add(raw::Socket::new(
            Some(IpVersion::Ipv4),
            Some(IpProtocol::from(IP_PROTOCOL_GRE)),
            raw::PacketBuffer::new(&mut [][..], &mut [][..]),
            raw::PacketBuffer::new(storage.gre_tx_meta, storage.gre_tx),
        ));
        let first_call_id = (rng.next_u32() & 0xFFFF) as u16;
        let mut settings = settings;
        if settings.ppp.ipv6.enabled && settings.ppp.ipv6.local_id.is_none() {
            // One identifier for every link: it is the tunnel interface's fe80:: address.
            settings.ppp.ipv6.local_id = Some(ipv6cp::random_id(rng));
        }

        Server {
            iface,
            sockets,
            gre_out,
            gre_tx,
            conns,
            gre,
            table: SessionTable::new(storage.sessions, first_call_id),
            settings,
            address: net.address,
            shutdown_since: None,
            notices: heapless::Deque::new(),
            throttle: AuthThrottle::new(),
            pool_full: false,
            ipv6_ids: [0; crate::limits::MAX_SESSIONS],
            icmp: heapless::Deque::new(),
            scratch: [0; MAX_PPP_FRAME],
            msg_in: [0; msg::MAX_MESSAGE_LEN],
            msg_out: [0; msg::MAX_MESSAGE_LEN],
            packet: [0; DEVICE_MTU + 64],
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// SIGHUP: new settings apply to new calls; live sessions keep running.
    pub fn reload(&mut self, mut settings: Settings) {
        if settings.ppp.ipv6.local_id.is_none() {
            settings.ppp.ipv6.local_id = self.settings.ppp.ipv6.local_id;
        }
        self.settings = settings;
    }

    /// Our IPv6 Interface-Identifier (configured or chosen at start) when IPv6 is on: the
    /// daemon gives the tunnel interface the address fe80::ID.
    pub fn ipv6_local_id(&self) -> Option<InterfaceId> {
        let ipv6 = self.settings.ppp.ipv6;
        ipv6.enabled.then_some(ipv6.local_id).flatten()
    }

    /// Live sessions.
    pub fn sessions(&self) -> impl Iterator<Item = &Session> {
        self.table.iter()
    }

    /// End the sessions `selector` matches, as an administrator would: LCP Terminate-Request
    /// now, and Call-Disconnect-Notify (Admin Shutdown) once the link has finished (the
    /// peer's Terminate-Ack, or Max-Terminate). Returns how many sessions were told.
    pub fn kick(&mut self, now: Instant, selector: Selector) -> usize {
        let mut kicked = 0;
        for i in 0..self.table.capacity() {
            let Some(session) = self.table.get_mut(i) else {
                continue;
            };
            if !selector.matches(session) || session.ended.is_some() {
                continue;
            }
            crate::info!(
                "Disconnecting {} ({}, call id {}) at the administrator's request",
                session.link.user(),
                session.peer,
                session.call_id
            );
            session.ended = Some(EndReason::Admin);
            session.link.close(now, "Administrative disconnect");
            kicked += 1;
        }
        kicked
    }

    /// The next session that came up or went down, oldest first.
    pub fn poll_notice(&mut self) -> Option<SessionNotice> {
        self.notices.pop_front()
    }

    fn push_notice(&mut self, notice: Option<SessionNotice>) {
        if let Some(notice) = notice {
            if self.notices.push_back(notice).is_err() {
                crate::warn!("Session notice queue full: an ip-up/ip-down or wtmp record is lost");
            }
        }
    }

    /// Our side of every tunnel (what IPCP offers as the local address).
    #[inline(always)]
    fn local_address(&self) -> Ipv4Addr {
        self.settings.local.get(0).unwrap_or(self.address)
    }

    /// The server's own address (PPTP and GRE are addressed to it).
    pub fn address(&self) -> Ipv4Addr {
        self.address
    }

    /// Run the interface and every session once: receive what the device has, answer it,
    /// fire due timers, and send. Returns true if anything happened.
    pub fn poll<D: Device + ?Sized>(
        &mut self,
        now: Instant,
        device: &mut D,
        tunnel: &mut dyn Tunnel,
        secrets: &mut dyn Secrets,
        rng: &mut dyn Random,
    ) -> bool {
        // Only ingress here: smoltcp's own `poll` would also walk every socket for egress
        // now, and again after the services below queued their answers.
        self.iface.poll_maintenance(now);
        let mut busy = self.ingress(now, device);
        while let Some(icmp) = self.icmp.pop_front() {
            tunnel.deliver(&icmp);
            busy = true;
        }
        busy |= self.service_control(now, secrets, rng);
        busy |= self.service_gre(now, tunnel, secrets, rng);
        self.service_sessions(now, tunnel, secrets, rng);
        busy |= self.egress(now, device);
        // Calls whose link died end only now, after their last PPP frames (a Terminate-Ack)
        // went out above, so the client sees them before the Call-Disconnect-Notify.
        if self.reap_sessions(now) {
            busy |= self.egress(now, device);
        }
        busy
    }

    /// Send everything the sockets have queued, without receiving: a packet received now
    /// would sit in its socket until something else woke the caller, since `poll_at` does not
    /// count unread socket data. smoltcp sends one packet per socket per `poll_egress`; the
    /// bound only guards against a device that never refuses.
    fn egress<D: Device + ?Sized>(&mut self, now: Instant, device: &mut D) -> bool {
        let mut busy = false;
        // GRE first: a call's last PPP frames go out before its Call-Disconnect-Notify.
        for _ in 0..crate::limits::GRE_TX_PACKETS {
            if self.iface.poll_egress(now, device, &mut self.gre_out)
                == smoltcp::iface::PollResult::None
            {
                break;
            }
            busy = true;
        }
        for _ in 0..crate::limits::MAX_CONTROL_CONNECTIONS {
            if self.iface.poll_egress(now, device, &mut self.sockets)
                == smoltcp::iface::PollResult::None
            {
                break;
            }
            busy = true;
        }
        busy
    }

    /// Take every packet the device has into the sockets. True if any socket changed.
    fn ingress<D: Device + ?Sized>(&mut self, now: Instant, device: &mut D) -> bool {
        let mut changed = false;
        loop {
            match self
                .iface
                .poll_ingress_single(now, device, &mut self.sockets)
            {
                PollIngressSingleResult::None => return changed,
                PollIngressSingleResult::PacketProcessed => {}
                PollIngressSingleResult::SocketStateChanged => changed = true,
            }
        }
    }

    /// Take the packets the device has now and hand GRE to its sessions, without the rest
    /// of [`Server::poll`] (control connections, timers, sending): a caller reading a burst
    /// of packets one at a time calls this for each and `poll` once after the burst, so the
    /// walks over every socket and control connection happen once per burst. True if
    /// anything happened.
    pub fn receive<D: Device + ?Sized>(
        &mut self,
        now: Instant,
        device: &mut D,
        tunnel: &mut dyn Tunnel,
        secrets: &mut dyn Secrets,
        rng: &mut dyn Random,
    ) -> bool {
        let changed = self.ingress(now, device);
        self.service_gre(now, tunnel, secrets, rng) | changed
    }

    /// End every call whose PPP link is dead, once its hang-up delay has passed
    /// ([`Link::hangup_at`]). Returns whether any ended.
    fn reap_sessions(&mut self, now: Instant) -> bool {
        let mut any = false;
        // By index: ending one session leaves the others' slots as they are.
        for i in 0..self.table.capacity() {
            let due = |s: &&Session| s.link.hangup_at().is_some_and(|t| t <= now);
            let Some(session) = self.table.get(i).filter(due) else {
                continue;
            };
            let reason = session.ended.unwrap_or(EndReason::LinkDown);
            self.end_session(now, i, reason);
            any = true;
        }
        any
    }

    /// A packet from the network for a client: find the session by destination address,
    /// frame and encrypt it, and queue it on the GRE socket. False if nobody has the address
    /// or the session is not up. IPv6 (version 6) goes to the client whose link-local
    /// address fe80::IID is the destination.
    ///
    /// On the way the MSS of a TCP SYN is clamped (`mss-clamp`), the user's rate limit
    /// applies, and a packet larger than the client's MTU (its MRU, our `mtu`, MPPE's 4
    /// bytes) is split into fragments, or, with DF set, answered with ICMP "fragmentation
    /// needed" which the next `poll` hands to the tunnel. IPv6 is never fragmented: too
    /// large, it is dropped.
    #[cfg_attr(not(target_arch = "mips"), inline(never))]
    pub fn send_to_client(&mut self, now: Instant, ip_packet: &[u8]) -> bool {
        let slot = match ip_packet.first().map(|b| b >> 4) {
            Some(6) => {
                // As words (0: none, which no session's peer is).
                let Some(id) = ip_packet
                    .get(24..40)
                    .and_then(ipv6cp::link_local_id)
                    .map(u64::from_ne_bytes)
                    .filter(|&id| id != 0)
                else {
                    return false;
                };
                self.table
                    .slots()
                    .find(|&i| self.table.get(i).is_some_and(|s| s.link.ipv6_peer() == id))
            }
            _ => {
                let Ok(packet) = Ipv4Packet::new_checked(ip_packet) else {
                    return false;
                };
                self.table.by_address(packet.dst_addr())
            }
        };
        let Some(slot) = slot else {
            return false;
        };
        let Some(session) = self.table.get_mut(slot) else {
            return false;
        };
        if !session.link.is_running() || !session.allow_down(now, ip_packet.len()) {
            return false;
        }
        let mtu = session.link.mtu();
        let peer = session.peer;
        let max_mss = session.max_mss();
        let fits = ip_packet.len() <= usize::from(mtu);
        let mut ip = ip_packet;
        if let Some(mss) = max_mss.filter(|_| fits && tcp_mss::is_syn(ip_packet)) {
            if let Some(copy) = self.scratch.get_mut(..ip_packet.len()) {
                copy.copy_from_slice(ip_packet);
                tcp_mss::clamp_mss(copy, mss);
                ip = copy;
            }
        }
        if fits {
            let Some(len) = session.encapsulate_ip(now, ip, &mut self.packet[20..]) else {
                return false;
            };
            return send_gre(
                &mut self.gre_out,
                self.gre_tx,
                self.address,
                peer,
                &mut self.packet,
                len,
            );
        }
        if ip.first().is_some_and(|b| b >> 4 == 6) {
            // IPv6 is fragmented only by its source (RFC 8200 §5); no ICMPv6 Packet Too
            // Big is sent yet, so path MTU discovery to clients relies on their MTU.
            session.counters.too_big += 1;
            return false;
        }
        if ipv4_mtu::dont_fragment(ip) {
            session.counters.too_big += 1;
            crate::debug!(
                "{} bytes for {} do not fit its MTU {mtu}: ICMP fragmentation needed",
                ip.len(),
                Ipv4Packet::new_unchecked(ip).dst_addr()
            );
            let local = self.settings.local.get(0).unwrap_or(self.address);
            let mut reply = heapless::Vec::new();
            let _ = reply.resize(FRAG_NEEDED_MAX_LEN, 0);
            if let Some(len) = ipv4_mtu::frag_needed(ip, local, mtu, &mut reply) {
                reply.truncate(len);
                let _ = self.icmp.push_back(reply);
            }
            return false;
        }
        // DF clear: fragments, each framed on its own (a SYN's MSS is clamped in the first).
        session.counters.fragmented += 1;
        let mut start = Some(0);
        let mut sent = true;
        while let Some(at) = start {
            let Some((len, next)) =
                ipv4_mtu::fragment(ip_packet, usize::from(mtu), at, &mut self.scratch)
            else {
                return false;
            };
            start = next;
            if let (0, Some(mss)) = (at, max_mss) {
                tcp_mss::clamp_mss(&mut self.scratch[..len], mss);
            }
            let Some(gre_len) =
                session.encapsulate_ip(now, &self.scratch[..len], &mut self.packet[20..])
            else {
                return false;
            };
            sent &= send_gre(
                &mut self.gre_out,
                self.gre_tx,
                self.address,
                peer,
                &mut self.packet,
                gre_len,
            );
        }
        sent
    }

    /// When `poll` next needs to run, at the latest.
    #[cfg_attr(not(target_arch = "mips"), inline(never))]
    pub fn poll_at(&mut self, now: Instant) -> Option<Instant> {
        let mut at = self.iface.poll_at(now, &self.sockets);
        for slot in &self.conns {
            crate::lower(&mut at, slot.control.as_ref().and_then(|c| c.poll_at()));
        }
        crate::lower(&mut at, self.table.poll_at());
        if let Some(since) = self.shutdown_since {
            crate::lower(&mut at, Some(since + SHUTDOWN_GRACE));
        }
        if !self.icmp.is_empty() {
            crate::lower(&mut at, Some(now));
        }
        at
    }

    /// Say goodbye to every client: Call-Disconnect-Notify for each call, then
    /// Stop-Control-Connection-Request on each control connection. Keep polling until
    /// [`Server::is_shut_down`].
    #[cfg_attr(not(target_arch = "mips"), inline(never))]
    pub fn shutdown(&mut self, now: Instant) {
        if self.shutdown_since.is_some() {
            return;
        }
        self.shutdown_since = Some(now);
        crate::info!(
            "Shutting down: disconnecting {} session(s)",
            self.table.len()
        );
        for i in 0..self.table.capacity() {
            let Some(s) = self.table.get_mut(i) else {
                continue;
            };
            s.link.close(now, "Server shutdown");
            // The LCP Terminate-Request goes out before the call is cleared.
            self.flush_session(now, i);
            self.end_session(now, i, EndReason::Admin);
        }
        for c in 0..self.conns.len() {
            let slot = &mut self.conns[c];
            if let Some(control) = slot.control.as_mut() {
                let out = control.begin_stop(now, &mut self.msg_out);
                let socket = self.sockets.get_mut::<tcp::Socket>(slot.handle);
                let _ = socket.send_slice(out.reply(&self.msg_out));
            }
        }
    }

    /// True once every control connection is closed after [`Server::shutdown`] (or the
    /// grace period is over).
    pub fn is_shut_down(&self, now: Instant) -> bool {
        match self.shutdown_since {
            None => false,
            Some(since) => {
                now >= since + SHUTDOWN_GRACE
                    || self.conns.iter().all(|slot| {
                        let socket = self.sockets.get::<tcp::Socket>(slot.handle);
                        slot.control.is_none() && !socket.is_active()
                    })
            }
        }
    }

    /// Accept new control connections, read whole messages, run control timers, and recycle
    /// sockets whose connection ended.
    #[cfg_attr(not(target_arch = "mips"), inline(never))]
    fn service_control(
        &mut self,
        now: Instant,
        secrets: &mut dyn Secrets,
        rng: &mut dyn Random,
    ) -> bool {
        let mut busy = false;
        for c in 0..self.conns.len() {
            let handle = self.conns[c].handle;
            let socket = self.sockets.get_mut::<tcp::Socket>(handle);

            // A new connection on this slot.
            if self.conns[c].control.is_none() && socket.may_recv() && self.shutdown_since.is_none()
            {
                let peer = match socket.remote_endpoint().map(|e| e.addr) {
                    Some(IpAddress::Ipv4(a)) => a,
                    _ => Ipv4Addr::UNSPECIFIED,
                };
                let from_peer = self.control_connections_from(peer);
                let max = self.settings.max_per_source;
                if max > 0 && from_peer >= max {
                    crate::warn!(
                        "CTRL: Client {peer} refused: already {from_peer} control connection(s) \
                         from this address (max-per-source {max})"
                    );
                    // Listening again once the reset has gone out (`recycle_socket`).
                    self.sockets.get_mut::<tcp::Socket>(handle).abort();
                    busy = true;
                    continue;
                }
                let socket = self.sockets.get_mut::<tcp::Socket>(handle);
                socket.set_timeout(Some(CONNECTION_TIMEOUT));
                crate::info!("CTRL: Client {peer} control connection started");
                self.conns[c].peer = peer;
                self.conns[c].control = Some(ControlConnection::new(
                    now,
                    Duration::from_secs(self.settings.stimeout as u64),
                ));
                busy = true;
            }

            // Whole messages waiting in the receive buffer.
            while self.conns[c]
                .control
                .as_ref()
                .is_some_and(|ctl| !ctl.is_closed())
            {
                let socket = self.sockets.get_mut::<tcp::Socket>(handle);
                let mut header = [0u8; msg::HEADER_LEN];
                if socket.recv_queue() < msg::HEADER_LEN {
                    break;
                }
                let _ = socket.peek_slice(&mut header);
                let len = match msg::frame_len(&header) {
                    Ok(Some(len)) => len,
                    Ok(None) => break,
                    Err(e) => {
                        crate::warn!(
                            "CTRL: Client {}: bad control message ({e}), closing",
                            self.conns[c].peer
                        );
                        self.close_connection(now, c, false);
                        break;
                    }
                };
                if socket.recv_queue() < len {
                    break;
                }
                let _ = socket.recv_slice(&mut self.msg_in[..len]);
                busy = true;
                self.handle_message(now, c, len, secrets, rng);
            }

            // Control timers (stimeout, echo keepalive, stop reply wait).
            // (`poll` does nothing before they are due.)
            if let Some(control) = self.conns[c].control.as_mut() {
                let out = control.poll(now, &mut self.msg_out);
                self.apply_control_output(now, c, out);
            }

            // The peer went away, or we are done with the connection.
            let socket = self.sockets.get_mut::<tcp::Socket>(handle);
            let peer_gone =
                !socket.may_recv() && self.conns[c].control.is_some() && socket.recv_queue() == 0;
            let closed = self.conns[c]
                .control
                .as_ref()
                .is_some_and(|ctl| ctl.is_closed());
            if peer_gone || closed {
                self.close_connection(now, c, !peer_gone);
                busy = true;
            }
            self.recycle_socket(c);
        }
        self.note_pool_full();
        busy
    }

    /// Live control connections from `peer`.
    fn control_connections_from(&self, peer: Ipv4Addr) -> usize {
        self.conns
            .iter()
            .filter(|slot| slot.control.is_some() && slot.peer == peer)
            .count()
    }

    /// Log when every 1723 socket is taken (new connections get a TCP reset from then on)
    /// and when one is free again.
    fn note_pool_full(&mut self) {
        if self.shutdown_since.is_some() {
            return;
        }
        let listening = self
            .conns
            .iter()
            .any(|slot| self.sockets.get::<tcp::Socket>(slot.handle).state() == tcp::State::Listen);
        if !listening && !self.pool_full {
            crate::warn!(
                "CTRL: all {} control connection slots in use (MAX_CONTROL_CONNECTIONS): new \
                 connections are refused",
                self.conns.len()
            );
        } else if listening && self.pool_full {
            crate::info!("CTRL: control connection slots free again");
        }
        self.pool_full = !listening;
    }

    /// One complete control message is in `msg_in[..len]`.
    #[cfg_attr(not(target_arch = "mips"), inline(never))]
    fn handle_message(
        &mut self,
        now: Instant,
        c: usize,
        len: usize,
        secrets: &mut dyn Secrets,
        rng: &mut dyn Random,
    ) {
        let Some(control) = self.conns[c].control.as_mut() else {
            return;
        };
        let out = control.handle(now, &self.msg_in[..len], &mut self.msg_out);
        match self.apply_control_output(now, c, out) {
            Some(ControlEvent::OutgoingCall(call)) => self.start_call(now, c, &call, secrets, rng),
            Some(ControlEvent::CallClear { peer_call_id }) => {
                let found = self.table.slots().find(|&i| {
                    self.table
                        .get(i)
                        .is_some_and(|s| s.conn == c && s.peer_call_id == peer_call_id)
                });
                match found {
                    Some(i) => {
                        crate::info!("CTRL: Received CALL CLEAR request (call id {peer_call_id})");
                        self.end_session(now, i, EndReason::ClearRequest);
                    }
                    None => {
                        crate::debug!("CTRL: Call-Clear-Request for unknown call id {peer_call_id}")
                    }
                }
            }
            Some(_) | None => {}
        }
    }

    /// Write what the control connection wants sent; close it if it says so. Returns the
    /// call-level event for the caller.
    fn apply_control_output(
        &mut self,
        now: Instant,
        c: usize,
        out: control::Output,
    ) -> Option<ControlEvent> {
        if out.reply_len > 0 {
            self.write_control(c, out.reply_len);
        }
        if let Some(ControlEvent::Closed(reason)) = &out.event {
            // One line, at info for an orderly end and warn otherwise (what `info!` and
            // `warn!` call).
            let level = match reason {
                CloseReason::PeerStopped(_) | CloseReason::Stopped | CloseReason::Shutdown => {
                    crate::logging::Level::Info
                }
                _ => crate::logging::Level::Warn,
            };
            let peer = self.conns[c].peer;
            crate::logging::emit(level, format_args!("CTRL: Client {peer}: {reason}"));
            self.close_connection(now, c, true);
            return None;
        }
        out.event
    }

    /// Queue `msg_out[..len]` on connection `c`. A peer that does not read its replies until
    /// our send buffer is full is dropped.
    fn write_control(&mut self, c: usize, len: usize) {
        let socket = self.sockets.get_mut::<tcp::Socket>(self.conns[c].handle);
        if socket.send_capacity() - socket.send_queue() < len {
            crate::warn!("CTRL: Client {}: not reading, closing", self.conns[c].peer);
            socket.abort();
            return;
        }
        let _ = socket.send_slice(&self.msg_out[..len]);
    }

    // Out of line: the new session (7 KB) is built in this function's stack frame, which
    // would otherwise join the daemon loop's (see `smolpptpd::serve`).
    #[inline(never)]
    fn start_call(
        &mut self,
        now: Instant,
        c: usize,
        call: &OutgoingCall,
        secrets: &mut dyn Secrets,
        rng: &mut dyn Random,
    ) {
        let peer_call_id = call.peer_call_id;
        let peer = self.conns[c].peer;
        // Calls on one connection are told apart by the client's Call ID (Call-Clear-Request
        // names it): a second call with the ID of a live one would be ambiguous.
        if self
            .table
            .iter()
            .any(|s| s.conn == c && s.peer_call_id == peer_call_id)
        {
            self.refuse_call(
                c,
                peer_call_id,
                CallRefusal::DoNotAccept,
                format_args!("call id {peer_call_id} already in use on this connection"),
            );
            return;
        }
        let limit = self.settings.connections.min(self.table.capacity());
        let free = if self.shutdown_since.is_some() {
            None
        } else {
            self.table.free_slot(limit)
        };
        let Some(slot) = free else {
            self.refuse_call(
                c,
                peer_call_id,
                CallRefusal::NoResource,
                format_args!("all {limit} connections in use (connections / MAX_SESSIONS)"),
            );
            return;
        };
        if self.settings.auth_throttle {
            if let Some(left) = self.throttle.blocked_for(peer, now) {
                self.refuse_call(
                    c,
                    peer_call_id,
                    CallRefusal::DoNotAccept,
                    format_args!(
                        "too many authentication failures (refused for {} more s)",
                        left.secs().max(1)
                    ),
                );
                return;
            }
        }
        let max = self.settings.max_per_source;
        let calls_from_peer = self.table.iter().filter(|s| s.peer == peer).count();
        if max > 0 && calls_from_peer >= max {
            self.refuse_call(
                c,
                peer_call_id,
                CallRefusal::DoNotAccept,
                format_args!(
                    "already {calls_from_peer} call(s) from this address (max-per-source {max})"
                ),
            );
            return;
        }
        let call_id = self.table.allocate_call_id();
        let local = self.local_address();
        let mut session = Session::new(
            now,
            c,
            peer,
            call_id,
            peer_call_id,
            &self.settings.ppp,
            local,
        );
        session.mss_clamp = self.settings.mss_clamp;
        if let Ok(len) = control::accept_call(call_id, call, &mut self.msg_out) {
            self.write_control(c, len);
        }
        crate::info!(
            "CTRL: Starting call (call id {call_id}, peer call id {peer_call_id}) for {peer}"
        );
        let mut env = LinkEnv {
            secrets,
            rng,
            peer,
            ipv6_ids: &self.ipv6_ids,
        };
        session.link.open(now, &mut env);
        self.table.insert(slot, session);
    }

    /// Outgoing-Call-Reply refusing the client's call `peer_call_id` on connection `c`, logged
    /// with the reason `why`.
    fn refuse_call(
        &mut self,
        c: usize,
        peer_call_id: u16,
        refusal: CallRefusal,
        why: core::fmt::Arguments,
    ) {
        crate::warn!("CTRL: Client {}: call refused, {why}", self.conns[c].peer);
        if let Ok(len) = control::refuse_call(peer_call_id, refusal, &mut self.msg_out) {
            self.write_control(c, len);
        }
    }

    /// Close control connection `c`: every call on it ends; `graceful` sends FIN, otherwise
    /// the connection is already gone.
    fn close_connection(&mut self, now: Instant, c: usize, graceful: bool) {
        if self.conns[c].control.take().is_none() {
            return;
        }
        for i in 0..self.table.capacity() {
            if self.table.get(i).is_some_and(|s| s.conn == c) {
                self.end_session(now, i, EndReason::ControlLost);
            }
        }
        crate::info!(
            "CTRL: Client {} control connection finished",
            self.conns[c].peer
        );
        let socket = self.sockets.get_mut::<tcp::Socket>(self.conns[c].handle);
        if graceful {
            socket.set_timeout(Some(CLOSE_TIMEOUT));
            socket.close();
        } else {
            socket.abort();
        }
    }

    /// Put a finished socket back to listening (an aborted one first sends its reset: it
    /// keeps its remote endpoint until then).
    fn recycle_socket(&mut self, c: usize) {
        if self.conns[c].control.is_some() {
            return;
        }
        let socket = self.sockets.get_mut::<tcp::Socket>(self.conns[c].handle);
        match socket.state() {
            tcp::State::TimeWait | tcp::State::CloseWait => socket.abort(),
            _ => {}
        }
        if socket.state() == tcp::State::Closed
            && socket.remote_endpoint().is_none()
            && self.shutdown_since.is_none()
        {
            configure_tcp(socket);
            let _ = socket.listen(msg::PPTP_PORT);
        }
    }

    /// Read every GRE packet waiting on the raw socket and hand it to its session.
    fn service_gre(
        &mut self,
        now: Instant,
        tunnel: &mut dyn Tunnel,
        secrets: &mut dyn Secrets,
        rng: &mut dyn Random,
    ) -> bool {
        let mut busy = false;
        loop {
            let socket = self.sockets.get_mut::<raw::Socket>(self.gre);
            let Ok(n) = socket.recv_slice(&mut self.packet) else {
                break;
            };
            busy = true;
            let Ok(ip) = Ipv4Packet::new_checked(&self.packet[..n]) else {
                continue;
            };
            // Raw sockets see packets before smoltcp checks the destination.
            if ip.dst_addr() != self.address {
                continue;
            }
            let src = ip.src_addr();
            let start = ip.header_len() as usize;
            let end = (ip.total_len() as usize).min(n);
            if start > end {
                continue;
            }
            // `parse` checks the lengths: the header and `payload_len` bytes are there.
            let Ok(repr) = gre::Repr::parse(&gre::Packet::new_unchecked(&self.packet[start..end]))
            else {
                crate::debug!("GRE: malformed packet from {src}");
                continue;
            };
            let Some(slot) = self.table.by_call_id(repr.call_id) else {
                crate::debug!("GRE: unknown call id {} from {src}", repr.call_id);
                continue;
            };
            let Some(session) = self.table.get_mut(slot) else {
                continue;
            };
            if session.peer != src {
                crate::debug!(
                    "GRE: call id {} from {src}, expected {}",
                    repr.call_id,
                    session.peer
                );
                continue;
            }
            let mut env = LinkEnv {
                secrets: &mut *secrets,
                rng: &mut *rng,
                peer: src,
                ipv6_ids: &self.ipv6_ids,
            };
            let payload = start + repr.header_len();
            let Some(payload) = self
                .packet
                .get_mut(payload..payload + usize::from(repr.payload_len))
            else {
                continue;
            };
            session.receive_gre(now, &repr, payload, &mut env, tunnel);
            if let Some(id) = self.ipv6_ids.get_mut(slot) {
                *id = session.link.ipv6_reserved();
            }
        }
        busy
    }

    /// Timers, events and queued control frames of every session.
    #[cfg_attr(not(target_arch = "mips"), inline(never))]
    fn service_sessions(
        &mut self,
        now: Instant,
        tunnel: &mut dyn Tunnel,
        secrets: &mut dyn Secrets,
        rng: &mut dyn Random,
    ) {
        let slots: heapless::Vec<usize, { crate::limits::MAX_SESSIONS }> =
            self.table.slots_to_service(now).collect();
        for i in slots {
            let Some(session) = self.table.get_mut(i) else {
                continue;
            };
            let peer = session.peer;
            if session.poll_at().is_some_and(|t| t <= now) {
                let mut env = LinkEnv {
                    secrets: &mut *secrets,
                    rng: &mut *rng,
                    peer,
                    ipv6_ids: &self.ipv6_ids,
                };
                session.handle_timeout(now, &mut env, tunnel);
                if let Some(id) = self.ipv6_ids.get_mut(i) {
                    *id = session.link.ipv6_reserved();
                }
            }
            while let Some(event) = self.table.get_mut(i).and_then(|s| s.poll_event()) {
                self.session_event(now, i, event);
            }
            self.flush_session(now, i);
        }
    }

    /// Send the frames the session's link queued, and its ack-only packets.
    fn flush_session(&mut self, now: Instant, i: usize) {
        while let Some(session) = self.table.get_mut(i) {
            let peer = session.peer;
            let Some(len) = session.poll_gre(now, &mut self.packet[20..]) else {
                break;
            };
            if !send_gre(
                &mut self.gre_out,
                self.gre_tx,
                self.address,
                peer,
                &mut self.packet,
                len,
            ) {
                crate::debug!("GRE: send queue full, {len} bytes for {peer} deferred");
                break;
            }
        }
    }

    #[cfg_attr(not(target_arch = "mips"), inline(never))]
    fn session_event(&mut self, now: Instant, i: usize, event: LinkEvent) {
        match event {
            LinkEvent::Authenticated { address } => {
                if let Some(peer) = self.table.get(i).map(|s| s.peer) {
                    self.throttle.record_success(peer, now);
                }
                if !self.apply_user_limits(now, i) {
                    return;
                }
                match self.table.assign_address(address, &self.settings) {
                    Ok((_local, remote)) => {
                        self.table.set_address(i, Some(remote));
                        if let Some(s) = self.table.get_mut(i) {
                            s.link.set_peer_address(remote);
                        }
                    }
                    Err(e) => {
                        crate::warn!("No IP address for the client: {e:?}");
                        if let Some(s) = self.table.get_mut(i) {
                            s.link.close(now, "No address available");
                        }
                    }
                }
            }
            LinkEvent::AuthFailed => {
                let Some(peer) = self.table.get(i).map(|s| s.peer) else {
                    return;
                };
                if !self.settings.auth_throttle {
                    return;
                }
                if let Some(block) = self.throttle.record_failure(peer, now) {
                    crate::warn!(
                        "Too many authentication failures from {peer}: refusing its calls for {} s",
                        block.secs()
                    );
                }
            }
            LinkEvent::Up => {
                let local = self.local_address();
                if let Some(s) = self.table.get(i) {
                    let notice = SessionNotice::new(NoticeKind::Up, s, local, now);
                    self.push_notice(notice);
                }
            }
            LinkEvent::Down => {}
        }
    }

    /// The per-user limits for the session in slot `i`, just authenticated: single-session
    /// (end the user's older sessions, or this one), then rate limit, idle and session
    /// timeout. False if this session is being closed.
    #[cfg_attr(not(target_arch = "mips"), inline(never))]
    fn apply_user_limits(&mut self, now: Instant, i: usize) -> bool {
        let Some(session) = self.table.get(i) else {
            return false;
        };
        let mut user: heapless::String<MAX_NAME_LEN> = heapless::String::new();
        let _ = user.push_str(session.link.user());
        let peer = session.peer;
        let limits = self.settings.limits_for(&user);
        let others: heapless::Vec<usize, { crate::limits::MAX_SESSIONS }> = self
            .table
            .slots()
            .filter(|&j| {
                j != i
                    && self
                        .table
                        .get(j)
                        .is_some_and(|s| s.ended.is_none() && s.link.user() == user.as_str())
            })
            .collect();
        match limits.single_session {
            SingleSession::Deny if !others.is_empty() => {
                crate::warn!(
                    "User {user} is already logged in: refusing the second session from {peer} \
                     (single-session deny)"
                );
                if let Some(s) = self.table.get_mut(i) {
                    s.ended = Some(EndReason::Admin);
                    s.link.close(now, "Already logged in");
                }
                return false;
            }
            SingleSession::Replace => {
                for j in others {
                    crate::info!(
                        "User {user} logged in again from {peer}: ending the older session \
                         (single-session replace)"
                    );
                    self.end_now(now, j, "Replaced by a new login");
                }
            }
            SingleSession::Allow | SingleSession::Deny => {}
        }
        if let Some(s) = self.table.get_mut(i) {
            s.apply_limits(now, &limits);
        }
        true
    }

    /// End the session in slot `i` at once, freeing its address for reuse right away: send
    /// its LCP Terminate-Request (no wait for the Ack), then the Call-Disconnect-Notify.
    fn end_now(&mut self, now: Instant, i: usize, reason: &'static str) {
        let Some(session) = self.table.get_mut(i) else {
            return;
        };
        session.link.close(now, reason);
        self.flush_session(now, i);
        self.end_session(now, i, EndReason::Admin);
    }

    /// The call in slot `i` is over: tell the client (unless its control connection is
    /// gone), log pppd's summary, and free the slot and its address. The session is read
    /// where it lies and dropped there: moving it out would copy several KB.
    fn end_session(&mut self, now: Instant, i: usize, reason: EndReason) {
        let Some(session) = self.table.get(i) else {
            return;
        };
        let (c, call_id, peer) = (session.conn, session.call_id, session.peer);
        // The ip-down notice: none (and no summary below) without a tunnel address.
        let notice = SessionNotice::new(NoticeKind::Down, session, self.local_address(), now);
        self.table.remove(i);
        if let Some(id) = self.ipv6_ids.get_mut(i) {
            *id = 0;
        }
        if reason != EndReason::ControlLost
            && self.conns.get(c).is_some_and(|s| s.control.is_some())
        {
            let result = match reason {
                EndReason::ClearRequest => DisconnectResult::Request,
                EndReason::LinkDown => DisconnectResult::LostCarrier,
                EndReason::Admin | EndReason::ControlLost => DisconnectResult::AdminShutdown,
            };
            if let Ok(len) =
                control::call_disconnect_notify(call_id, result, b"", &mut self.msg_out)
            {
                self.write_control(c, len);
            }
        }
        // pppd's summary (print_link_stats), for sessions that got as far as an address:
        // tenths of a minute, rounded.
        if let Some(notice) = &notice {
            let tenths = notice.connect_time.secs().saturating_add(5) / 6;
            // One 64-bit division for both parts (a call on 32-bit targets).
            let minutes = tenths / 10;
            crate::info!("Connect time {minutes}.{} minutes.", tenths - minutes * 10);
            crate::info!(
                "Sent {} bytes, received {} bytes.",
                notice.counters.bytes_out,
                notice.counters.bytes_in
            );
        }
        self.push_notice(notice);
        crate::info!("CTRL: Call {call_id} for {peer} ended ({reason:?})");
    }
}

/// A listening socket: a short timeout until the handshake completes (raised to
/// [`CONNECTION_TIMEOUT`] when the connection is accepted), so a SYN flood or a vanished
/// client frees its slot quickly.
fn configure_tcp(socket: &mut tcp::Socket) {
    socket.set_timeout(Some(HANDSHAKE_TIMEOUT));
    socket.set_keep_alive(Some(TCP_KEEPALIVE));
    socket.set_nagle_enabled(false);
}

/// Put an IPv4 header in front of the `gre_len` GRE bytes at `packet[20..]` and queue the
/// packet on the raw socket.
fn send_gre(
    gre_out: &mut SocketSet,
    gre_tx: SocketHandle,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    packet: &mut [u8],
    gre_len: usize,
) -> bool {
    let repr = Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: IpProtocol::from(IP_PROTOCOL_GRE),
        payload_len: gre_len,
        hop_limit: 64,
    };
    let total = 20 + gre_len;
    if total > packet.len() || gre_len > MAX_PPP_FRAME + 16 {
        return false;
    }
    let mut ip = Ipv4Packet::new_unchecked(&mut packet[..total]);
    repr.emit(&mut ip, &smoltcp::phy::ChecksumCapabilities::default());
    let socket = gre_out.get_mut::<raw::Socket>(gre_tx);
    socket.send_slice(&packet[..total]).is_ok()
}
