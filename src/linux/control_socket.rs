//! The daemon's control socket: `smolpptpd status` and `smolpptpd kick` talk to the running
//! daemon over a Unix `SOCK_SEQPACKET` socket (default [`DEFAULT_PATH`], mode 0600).
//!
//! One request per connection, one reply, then the daemon closes it. Messages are whole
//! datagrams (SEQPACKET keeps boundaries), so the daemon never waits for the rest of a
//! request: its side is nonblocking, sits in the same `poll()` set as the devices, and
//! answers from a buffer allocated at start-up ([`ControlSocket::bind`]); nothing in
//! [`ControlSocket::service`] allocates.
//!
//! Wire format (integers big-endian), version 1:
//!
//! ```text
//! request  (72 bytes): "SPPT" version(1) command(1 status, 2 kick) selector-kind(0 none,
//!                      1 user, 2 address) selector-len  selector[64]
//! reply    (16 bytes + count * 128): "SPPT" version kind(1 status, 2 kick, 0xFF error)
//!                      count(u16) wall-clock(u64, Unix seconds) records...
//! record   (128 bytes): call-id(u16) peer-call-id(u16) client(4) tunnel(4, 0 = none)
//!                      state(0 starting, 1 up, 2 closing) mppe-bits(0/40/56/128)
//!                      flags(bit 0 stateless) user-len user[64] connected-secs(u64)
//!                      bytes-in bytes-out packets-in packets-out spoofed (u64 each)
//! ```
//! "In" is from the client, "out" is to the client.

use core::fmt::Write as _;
use core::net::Ipv4Addr;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use smoltcp::time::{Duration, Instant};

use super::sys;
use crate::limits::MAX_SESSIONS;
use crate::pptp::session::{Counters, Session};
use crate::server::Selector;
use crate::settings::MAX_NAME_LEN;

/// Where the daemon listens unless pptpd.conf says `control-socket PATH`. /var/run exists on
/// every distribution (a link to /run, or to /tmp/run on OpenWrt).
pub const DEFAULT_PATH: &str = "/var/run/smolpptpd.sock";
pub const MAGIC: [u8; 4] = *b"SPPT";
pub const VERSION: u8 = 1;
pub const REQUEST_LEN: usize = 72;
pub const REPLY_HEADER_LEN: usize = 16;
pub const RECORD_LEN: usize = 128;
/// The largest reply: every session of this build.
pub const MAX_REPLY_LEN: usize = REPLY_HEADER_LEN + MAX_SESSIONS * RECORD_LEN;
/// Clients that connected but whose request has not arrived yet.
pub const PENDING: usize = 4;
/// How long such a client may take to send its request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

const COMMAND_STATUS: u8 = 1;
const COMMAND_KICK: u8 = 2;
const SELECT_NONE: u8 = 0;
const SELECT_USER: u8 = 1;
const SELECT_ADDRESS: u8 = 2;
const SELECTOR_MAX: usize = 64;

/// Why a message could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtocolError {
    Truncated,
    BadMagic,
    /// Another version of smolpptpd is running: restart it or use its binary.
    Version(u8),
    Malformed,
}

impl core::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        match self {
            ProtocolError::Truncated => f.write_str("message too short"),
            ProtocolError::BadMagic => f.write_str("not a smolpptpd control message"),
            ProtocolError::Version(v) => write!(
                f,
                "the daemon speaks control protocol version {v}, this program {VERSION}"
            ),
            ProtocolError::Malformed => f.write_str("malformed message"),
        }
    }
}

/// What a client asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request<'a> {
    Status,
    Kick(Selector<'a>),
}

impl<'a> Request<'a> {
    pub fn encode(&self, buf: &mut [u8; REQUEST_LEN]) -> Result<(), ProtocolError> {
        buf.fill(0);
        buf[..4].copy_from_slice(&MAGIC);
        buf[4] = VERSION;
        match *self {
            Request::Status => buf[5] = COMMAND_STATUS,
            Request::Kick(Selector::User(user)) => {
                let bytes = user.as_bytes();
                if bytes.is_empty() || bytes.len() > SELECTOR_MAX {
                    return Err(ProtocolError::Malformed);
                }
                buf[5] = COMMAND_KICK;
                buf[6] = SELECT_USER;
                buf[7] = bytes.len() as u8;
                buf[8..8 + bytes.len()].copy_from_slice(bytes);
            }
            Request::Kick(Selector::Address(address)) => {
                buf[5] = COMMAND_KICK;
                buf[6] = SELECT_ADDRESS;
                buf[7] = 4;
                buf[8..12].copy_from_slice(&address.octets());
            }
        }
        Ok(())
    }

    pub fn decode(buf: &'a [u8]) -> Result<Request<'a>, ProtocolError> {
        let buf = buf.get(..REQUEST_LEN).ok_or(ProtocolError::Truncated)?;
        check_magic(buf)?;
        let len = usize::from(buf[7]);
        let selector = buf.get(8..8 + len).ok_or(ProtocolError::Malformed)?;
        if len > SELECTOR_MAX {
            return Err(ProtocolError::Malformed);
        }
        match (buf[5], buf[6]) {
            (COMMAND_STATUS, SELECT_NONE) => Ok(Request::Status),
            (COMMAND_KICK, SELECT_USER) if len > 0 => core::str::from_utf8(selector)
                .map(|u| Request::Kick(Selector::User(u)))
                .map_err(|_| ProtocolError::Malformed),
            (COMMAND_KICK, SELECT_ADDRESS) if len == 4 => Ok(Request::Kick(Selector::Address(
                Ipv4Addr::new(selector[0], selector[1], selector[2], selector[3]),
            ))),
            _ => Err(ProtocolError::Malformed),
        }
    }
}

fn check_magic(buf: &[u8]) -> Result<(), ProtocolError> {
    if buf.len() < 5 {
        return Err(ProtocolError::Truncated);
    }
    if buf[..4] != MAGIC {
        return Err(ProtocolError::BadMagic);
    }
    if buf[4] != VERSION {
        return Err(ProtocolError::Version(buf[4]));
    }
    Ok(())
}

/// The link's progress, as the status shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkState {
    /// LCP, authentication, CCP or IPCP still negotiating.
    Starting,
    /// IP passes.
    Up,
    /// Kicked or closing: LCP Terminate sent.
    Closing,
}

impl LinkState {
    pub fn as_str(&self) -> &'static str {
        match self {
            LinkState::Starting => "starting",
            LinkState::Up => "up",
            LinkState::Closing => "closing",
        }
    }
}

/// The MPPE mode of a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MppeMode {
    pub bits: u16,
    pub stateless: bool,
}

impl core::fmt::Display for MppeMode {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        let mode = if self.stateless {
            "stateless"
        } else {
            "stateful"
        };
        write!(f, "{}-bit {mode}", self.bits)
    }
}

/// One session as `status` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    pub call_id: u16,
    pub peer_call_id: u16,
    /// The client's public address.
    pub client: Ipv4Addr,
    /// The client's tunnel address.
    pub address: Option<Ipv4Addr>,
    pub state: LinkState,
    pub mppe: Option<MppeMode>,
    pub user: heapless::String<MAX_NAME_LEN>,
    pub connected: Duration,
    pub counters: Counters,
}

impl SessionRecord {
    pub fn from_session(session: &Session, now: Instant) -> SessionRecord {
        let link = &session.link;
        let mut user = heapless::String::new();
        let _ = user.push_str(link.user());
        SessionRecord {
            call_id: session.call_id,
            peer_call_id: session.peer_call_id,
            client: session.peer,
            address: session.address,
            state: if session.ended.is_some() || link.is_dead() {
                LinkState::Closing
            } else if link.is_running() {
                LinkState::Up
            } else {
                LinkState::Starting
            },
            mppe: link.mppe().map(|m| MppeMode {
                bits: m.key_bits(),
                stateless: m.stateless,
            }),
            user,
            connected: session.connect_time(now),
            counters: session.counters,
        }
    }

    /// Out of line: inlined into the daemon's status loop, its constants took stack slots.
    #[inline(never)]
    pub fn encode(&self, out: &mut [u8; RECORD_LEN]) {
        out.fill(0);
        out[0..2].copy_from_slice(&self.call_id.to_be_bytes());
        out[2..4].copy_from_slice(&self.peer_call_id.to_be_bytes());
        out[4..8].copy_from_slice(&self.client.octets());
        out[8..12].copy_from_slice(&self.address.unwrap_or(Ipv4Addr::UNSPECIFIED).octets());
        out[12] = match self.state {
            LinkState::Starting => 0,
            LinkState::Up => 1,
            LinkState::Closing => 2,
        };
        if let Some(m) = self.mppe {
            out[13] = (m.bits & 0xFF) as u8;
            out[14] = u8::from(m.stateless);
        }
        let user = self.user.as_bytes();
        let n = user.len().min(MAX_NAME_LEN);
        out[15] = n as u8;
        out[16..16 + n].copy_from_slice(&user[..n]);
        let c = &self.counters;
        let numbers = [
            self.connected.secs(),
            c.bytes_in,
            c.bytes_out,
            c.packets_in,
            c.packets_out,
            c.spoofed,
        ];
        for (i, v) in numbers.iter().enumerate() {
            let at = 80 + 8 * i;
            out[at..at + 8].copy_from_slice(&v.to_be_bytes());
        }
    }

    pub fn decode(buf: &[u8]) -> Result<SessionRecord, ProtocolError> {
        let b = buf.get(..RECORD_LEN).ok_or(ProtocolError::Truncated)?;
        let addr = |at: usize| Ipv4Addr::new(b[at], b[at + 1], b[at + 2], b[at + 3]);
        // One loop for the six numbers: each inlined copy of the byte swap is long on
        // 32-bit targets without one instruction for it.
        let mut numbers = [0u64; 6];
        for (n, bytes) in numbers.iter_mut().zip(b[80..].chunks_exact(8)) {
            let mut v = [0u8; 8];
            v.copy_from_slice(bytes);
            *n = u64::from_be_bytes(v);
        }
        let number = |i: usize| numbers[i];
        let state = match b[12] {
            0 => LinkState::Starting,
            1 => LinkState::Up,
            2 => LinkState::Closing,
            _ => return Err(ProtocolError::Malformed),
        };
        let mppe = match b[13] {
            0 => None,
            40 | 56 | 128 => Some(MppeMode {
                bits: u16::from(b[13]),
                stateless: b[14] & 1 != 0,
            }),
            _ => return Err(ProtocolError::Malformed),
        };
        let len = usize::from(b[15]);
        if len > MAX_NAME_LEN {
            return Err(ProtocolError::Malformed);
        }
        let name = core::str::from_utf8(&b[16..16 + len]).map_err(|_| ProtocolError::Malformed)?;
        let mut user = heapless::String::new();
        user.push_str(name).map_err(|_| ProtocolError::Malformed)?;
        let address = addr(8);
        Ok(SessionRecord {
            call_id: u16::from_be_bytes([b[0], b[1]]),
            peer_call_id: u16::from_be_bytes([b[2], b[3]]),
            client: addr(4),
            address: (!address.is_unspecified()).then_some(address),
            state,
            mppe,
            user,
            connected: Duration::from_secs(number(0)),
            counters: Counters {
                bytes_in: number(1),
                bytes_out: number(2),
                packets_in: number(3),
                packets_out: number(4),
                spoofed: number(5),
                // Not carried by the record (yet).
                ..Counters::default()
            },
        })
    }
}

/// What kind of answer a reply is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyKind {
    Status,
    /// `count` sessions were told to end.
    Kick,
    /// The daemon did not understand the request.
    Error,
}

const REPLY_STATUS: u8 = 1;
const REPLY_KICK: u8 = 2;
const REPLY_ERROR: u8 = 0xFF;

/// The daemon's reply buffer, allocated once; [`ReplyBuffer::status`] and friends fill it
/// without allocating.
pub struct ReplyBuffer {
    buf: Box<[u8]>,
    len: usize,
}

impl Default for ReplyBuffer {
    fn default() -> Self {
        Self::new()
    }
}

impl ReplyBuffer {
    pub fn new() -> ReplyBuffer {
        ReplyBuffer {
            buf: vec![0u8; MAX_REPLY_LEN].into_boxed_slice(),
            len: 0,
        }
    }

    fn header(&mut self, kind: u8, count: u16, wall_clock: u64) {
        let h = &mut self.buf[..REPLY_HEADER_LEN];
        h[..4].copy_from_slice(&MAGIC);
        h[4] = VERSION;
        h[5] = kind;
        h[6..8].copy_from_slice(&count.to_be_bytes());
        h[8..16].copy_from_slice(&wall_clock.to_be_bytes());
    }

    /// The status reply: every record (up to [`MAX_SESSIONS`]).
    pub fn status(&mut self, wall_clock: u64, records: impl Iterator<Item = SessionRecord>) {
        let mut count = 0usize;
        for (slot, record) in self.buf[REPLY_HEADER_LEN..]
            .chunks_exact_mut(RECORD_LEN)
            .zip(records)
        {
            if let Ok(slot) = <&mut [u8; RECORD_LEN]>::try_from(slot) {
                record.encode(slot);
                count += 1;
            }
        }
        self.header(REPLY_STATUS, count as u16, wall_clock);
        self.len = REPLY_HEADER_LEN + count * RECORD_LEN;
    }

    pub fn kicked(&mut self, wall_clock: u64, count: usize) {
        self.header(REPLY_KICK, count.min(u16::MAX as usize) as u16, wall_clock);
        self.len = REPLY_HEADER_LEN;
    }

    pub fn error(&mut self, wall_clock: u64) {
        self.header(REPLY_ERROR, 0, wall_clock);
        self.len = REPLY_HEADER_LEN;
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// A reply as the client reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub kind: ReplyKind,
    /// Status: number of records; kick: sessions told to end.
    pub count: u16,
    /// The daemon's clock when it answered (Unix seconds).
    pub wall_clock: u64,
    pub sessions: Vec<SessionRecord>,
}

impl Reply {
    pub fn decode(buf: &[u8]) -> Result<Reply, ProtocolError> {
        check_magic(buf)?;
        let h = buf
            .get(..REPLY_HEADER_LEN)
            .ok_or(ProtocolError::Truncated)?;
        let kind = match h[5] {
            REPLY_STATUS => ReplyKind::Status,
            REPLY_KICK => ReplyKind::Kick,
            REPLY_ERROR => ReplyKind::Error,
            _ => return Err(ProtocolError::Malformed),
        };
        let count = u16::from_be_bytes([h[6], h[7]]);
        let mut clock = [0u8; 8];
        clock.copy_from_slice(&h[8..16]);
        let mut sessions = Vec::new();
        if kind == ReplyKind::Status {
            let body = &buf[REPLY_HEADER_LEN..];
            if body.len() != usize::from(count) * RECORD_LEN {
                return Err(ProtocolError::Truncated);
            }
            for record in body.chunks_exact(RECORD_LEN) {
                sessions.push(SessionRecord::decode(record)?);
            }
        }
        Ok(Reply {
            kind,
            count,
            wall_clock: u64::from_be_bytes(clock),
            sessions,
        })
    }
}

/// `HH:MM:SS` of seconds below a day: one formatter for the TIME column and the clock of
/// [`utc_time`].
struct Clock(u32);

impl core::fmt::Display for Clock {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        let s = self.0;
        write!(f, "{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    }
}

/// Days and the rest of the day. The rest in 32 bits: 64-bit division is a library call on
/// 32-bit targets.
fn split_days(secs: u64) -> (u64, u32) {
    let d = secs / 86_400;
    (d, (secs - d * 86_400) as u32)
}

/// Seconds as `1d02:03:04` or `02:03:04`.
pub fn format_duration(secs: u64) -> String {
    let (d, rest) = split_days(secs);
    if d > 0 {
        format!("{d}d{}", Clock(rest))
    } else {
        format!("{}", Clock(rest))
    }
}

/// A Unix time as `YYYY-MM-DD HH:MM:SS` in UTC. UTC rather than local time: musl's time-zone
/// code is 5 KiB of a router binary, and the TIME column gives the session's age anyway.
pub fn utc_time(unix: u64) -> String {
    let mut out = String::new();
    write_utc_time(&mut out, unix);
    out
}

/// [`utc_time`], written where it goes. Always 19 characters or more (the year has four
/// digits at least), so it needs no padding to fill the SINCE column.
fn write_utc_time(out: &mut String, unix: u64) {
    let (days, secs) = split_days(unix);
    // Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's civil_from_days).
    // Below an era the numbers fit 32 bits, whose division 32-bit targets do in one
    // instruction rather than a library call.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = (z - era * 146_097) as u32;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = u64::from(yoe) + era * 400 + u64::from(month <= 2);
    let _ = write!(out, "{year:04}-{month:02}-{day:02} {}", Clock(secs));
}

/// The status table's header line, already padded to the columns of [`render_text`]'s rows
/// (a test checks it against them).
const STATUS_HEADER: &str =
    "USER             CLIENT          TUNNEL          SINCE (UTC)               \
                              TIME     BYTES IN   PKTS IN    BYTES OUT  PKTS OUT STATE    MPPE\n";

/// The table `smolpptpd status` prints (SINCE in UTC, see [`utc_time`]).
pub fn render_text(reply: &Reply) -> String {
    let mut out = String::new();
    if reply.sessions.is_empty() {
        out.push_str("no sessions\n");
        return out;
    }
    out.push_str(STATUS_HEADER);
    for s in &reply.sessions {
        text_row(&mut out, s, reply.wall_clock);
    }
    out
}

/// One row of [`render_text`]'s table. Out of line: in the loop, the compiler kept its
/// constants and text addresses in stack slots across iterations.
#[inline(never)]
fn text_row(out: &mut String, s: &SessionRecord, wall_clock: u64) {
    // A user name is the client's choice: no control characters on the admin's terminal.
    // Written as `{:<16}` would pad it: to 16 characters.
    let mut n = 0;
    for c in s.user.chars() {
        out.push(if c.is_control() { '?' } else { c });
        n += 1;
    }
    if n == 0 {
        out.push('-');
        n = 1;
    }
    for _ in n..16 {
        out.push(' ');
    }
    let secs = s.connected.secs();
    let _ = write!(out, " {:<15} {:<15} ", s.client, super::Or(s.address, "-"));
    write_utc_time(out, wall_clock.saturating_sub(secs));
    // TIME as format_duration writes it, right-aligned to 10 characters: `HH:MM:SS` is
    // 8, and with days (`1d` and more) it is 10 or longer.
    let (days, rest) = split_days(secs);
    if days == 0 {
        out.push_str("   ");
    } else {
        let _ = write!(out, " {days}d");
    }
    let _ = write!(
        out,
        "{} {:>12} {:>9} {:>12} {:>9} {:<8} ",
        Clock(rest),
        s.counters.bytes_in,
        s.counters.packets_in,
        s.counters.bytes_out,
        s.counters.packets_out,
        s.state.as_str(),
    );
    match s.mppe {
        Some(m) => {
            let _ = writeln!(out, "{m}");
        }
        None => out.push_str("none\n"),
    }
}

/// A JSON string literal.
fn json_string(out: &mut String, s: &str) {
    out.push('"');
    // Byte by byte: every character escaped is ASCII, and the runs between them are copied
    // as they are (no decoding and re-encoding of each character).
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        // `"`, `\`, newline, CR and tab have one-letter escapes; other controls `\u00XX`.
        let letter = b"\"\\\n\r\t".iter().position(|&e| e == b);
        if letter.is_none() && b >= 0x20 && b != 0x7f {
            continue;
        }
        out.push_str(s.get(start..i).unwrap_or(""));
        out.push('\\');
        match letter {
            Some(k) => out.push(char::from(b"\"\\nrt"[k])),
            None => {
                let _ = write!(out, "u{:04x}", b);
            }
        }
        start = i + 1;
    }
    out.push_str(s.get(start..).unwrap_or(""));
    out.push('"');
}

/// `smolpptpd status --json`: one object, `{"time": <daemon's Unix time>, "sessions": [...]}`;
/// each session has user, client, address (null before one is given), call_id,
/// peer_call_id, state, since (Unix time), connect_time (seconds), bytes_in, bytes_out,
/// packets_in, packets_out, spoofed and mppe (`{"bits": 128, "stateless": true}` or null).
pub fn render_json(reply: &Reply) -> String {
    let mut out = String::new();
    let _ = write!(out, "{{\"time\":{},\"sessions\":[", reply.wall_clock);
    for (i, s) in reply.sessions.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_session(&mut out, s, reply.wall_clock);
    }
    out.push_str("]}\n");
    out
}

/// One session of [`render_json`] (out of line, like [`text_row`]).
#[inline(never)]
fn json_session(out: &mut String, s: &SessionRecord, wall_clock: u64) {
    out.push_str("{\"user\":");
    json_string(out, &s.user);
    let _ = write!(out, ",\"client\":\"{}\",\"address\":", s.client);
    match s.address {
        Some(a) => {
            let _ = write!(out, "\"{a}\"");
        }
        None => out.push_str("null"),
    }
    let c = &s.counters;
    let secs = s.connected.secs();
    let _ = write!(
        out,
        ",\"call_id\":{},\"peer_call_id\":{},\"state\":\"{}\",\"since\":{},\
         \"connect_time\":{},\"bytes_in\":{},\"bytes_out\":{},\"packets_in\":{},\
         \"packets_out\":{},\"spoofed\":{},\"mppe\":",
        s.call_id,
        s.peer_call_id,
        s.state.as_str(),
        wall_clock.saturating_sub(secs),
        secs,
        c.bytes_in,
        c.bytes_out,
        c.packets_in,
        c.packets_out,
        c.spoofed,
    );
    match s.mppe {
        Some(m) => {
            let stateless = if m.stateless { "true" } else { "false" };
            let _ = write!(out, "{{\"bits\":{},\"stateless\":{stateless}}}", m.bits);
        }
        None => out.push_str("null"),
    }
    out.push('}');
}

/// The current wall-clock time in Unix seconds (no allocation).
pub fn wall_clock() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    u64::try_from(ts.tv_sec).unwrap_or(0)
}

fn sockaddr(path: &Path) -> io::Result<(libc::sockaddr_un, libc::socklen_t)> {
    use std::os::unix::ffi::OsStrExt;
    // SAFETY: all-zero is a valid sockaddr_un.
    let mut addr: libc::sockaddr_un = unsafe { core::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let bytes = path.as_os_str().as_bytes();
    if bytes.is_empty() || bytes.len() >= addr.sun_path.len() || bytes.contains(&0) {
        return Err(super::io_error(
            io::ErrorKind::InvalidInput,
            format_args!("control socket path too long"),
        ));
    }
    for (d, s) in addr.sun_path.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    let len = core::mem::size_of::<libc::sa_family_t>() + bytes.len() + 1;
    Ok((addr, len as libc::socklen_t))
}

fn seqpacket(flags: libc::c_int) -> io::Result<OwnedFd> {
    let fd = sys::socket(
        libc::AF_UNIX,
        libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC | flags,
        0,
    );
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the fd is owned from here on.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn connect(fd: &OwnedFd, path: &Path) -> io::Result<()> {
    let (addr, len) = sockaddr(path)?;
    // SAFETY: addr is a valid sockaddr_un of `len` bytes.
    let rc = unsafe {
        sys::connect(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_un).cast(),
            len,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A client that connected and has not sent its request yet.
#[derive(Clone, Copy)]
struct Pending {
    fd: RawFd,
    since: Instant,
}

/// The daemon's end: the listening socket, clients waiting to be read, and the reply buffer.
pub struct ControlSocket {
    listener: OwnedFd,
    path: PathBuf,
    pending: [Option<Pending>; PENDING],
    request: [u8; REQUEST_LEN],
    reply: ReplyBuffer,
}

impl ControlSocket {
    /// Listen on `path` (replacing a stale socket file; an error if a daemon answers there).
    /// The socket is root's alone (mode 0600): status shows user names, kick ends sessions.
    pub fn bind(path: &Path) -> io::Result<ControlSocket> {
        if let Ok(probe) = seqpacket(0) {
            if connect(&probe, path).is_ok() {
                return Err(super::io_error(
                    io::ErrorKind::AddrInUse,
                    format_args!("{}: another smolpptpd is running", path.display()),
                ));
            }
        }
        match super::file::remove(path) {
            Err(e) if e.raw_os_error() != Some(libc::ENOENT) => return Err(e),
            _ => {}
        }
        let listener = seqpacket(libc::SOCK_NONBLOCK)?;
        let (addr, len) = sockaddr(path)?;
        // SAFETY: addr is a valid sockaddr_un of `len` bytes; umask 077 around bind so the
        // socket is never reachable by others, even for a moment.
        let rc = unsafe {
            let old = libc::umask(0o077);
            let rc = sys::bind(
                listener.as_raw_fd(),
                (&addr as *const libc::sockaddr_un).cast(),
                len,
            );
            libc::umask(old);
            rc
        };
        if rc < 0 || sys::listen(listener.as_raw_fd(), PENDING as libc::c_int) < 0 {
            return Err(io::Error::last_os_error());
        }
        super::file::chmod(path, 0o600)?;
        Ok(ControlSocket {
            listener,
            path: path.to_path_buf(),
            pending: [None; PENDING],
            request: [0; REQUEST_LEN],
            reply: ReplyBuffer::new(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The descriptors to poll for reading: the listener, then waiting clients (-1 when
    /// none, which poll(2) skips).
    pub fn poll_fds(&self) -> [RawFd; 1 + PENDING] {
        let mut fds = [-1; 1 + PENDING];
        fds[0] = self.listener.as_raw_fd();
        for (fd, p) in fds[1..].iter_mut().zip(&self.pending) {
            *fd = p.map_or(-1, |p| p.fd);
        }
        fds
    }

    /// When a waiting client times out.
    pub fn poll_at(&self) -> Option<Instant> {
        self.pending
            .iter()
            .flatten()
            .map(|p| p.since + REQUEST_TIMEOUT)
            .min()
    }

    /// Accept new clients, answer every request that has arrived (`answer` fills the reply
    /// buffer), and drop clients that waited too long. Returns true if a request was
    /// answered (the caller should poll the server again: a kick queues packets).
    #[cfg_attr(not(target_arch = "mips"), inline(never))]
    pub fn service(
        &mut self,
        now: Instant,
        answer: &mut dyn FnMut(Request, &mut ReplyBuffer),
    ) -> bool {
        loop {
            let fd = sys::accept4(
                self.listener.as_raw_fd(),
                libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            );
            if fd < 0 {
                break;
            }
            // The whole reply must fit the socket's send buffer (one datagram); as root the
            // daemon may raise it past net.core.wmem_max.
            let size = MAX_REPLY_LEN as libc::c_int + 4096;
            for &option in &[libc::SO_SNDBUFFORCE, libc::SO_SNDBUF] {
                // SAFETY: setsockopt with a valid int.
                let rc = unsafe {
                    sys::setsockopt(
                        fd,
                        libc::SOL_SOCKET,
                        option,
                        (&size as *const libc::c_int).cast(),
                        core::mem::size_of::<libc::c_int>() as libc::socklen_t,
                    )
                };
                if rc == 0 {
                    break;
                }
            }
            match self.pending.iter_mut().find(|p| p.is_none()) {
                Some(slot) => *slot = Some(Pending { fd, since: now }),
                None => {
                    crate::warn!("control socket: too many clients waiting, dropping one");
                    // SAFETY: fd came from accept4 and is ours.
                    unsafe { libc::close(fd) };
                }
            }
        }
        let mut answered = false;
        for i in 0..PENDING {
            let Some(p) = self.pending[i] else {
                continue;
            };
            let n = sys::recv(p.fd, &mut self.request, libc::MSG_DONTWAIT);
            // SAFETY: errno is this thread's, right after the recv that set it.
            let would_block = n < 0 && unsafe { *libc::__errno_location() } == libc::EAGAIN;
            if would_block && now < p.since + REQUEST_TIMEOUT {
                continue;
            }
            if n > 0 {
                let wall = wall_clock();
                match Request::decode(&self.request[..n as usize]) {
                    Ok(request) => answer(request, &mut self.reply),
                    Err(e) => {
                        crate::warn!("control socket: bad request ({e})");
                        self.reply.error(wall);
                    }
                }
                let out = self.reply.as_bytes();
                // A client that does not read just loses it.
                sys::send(p.fd, out, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL);
                answered = true;
            }
            // SAFETY: the fd is ours; one request per connection.
            unsafe { libc::close(p.fd) };
            self.pending[i] = None;
        }
        answered
    }
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        for p in self.pending.iter().flatten() {
            // SAFETY: the fds are ours.
            unsafe { libc::close(p.fd) };
        }
        let _ = super::file::remove(&self.path);
    }
}

/// The client side: send `request` to the daemon at `path` and read its reply.
pub fn query(path: &Path, request: Request) -> io::Result<Reply> {
    let fd = seqpacket(0)?;
    // Kind Other rather than the cause's: only the text reaches anyone, and `kind()` would
    // link io::Error's errno table for nothing.
    connect(&fd, path).map_err(|e| {
        super::io_error(
            io::ErrorKind::Other,
            format_args!(
                "{}: {} (is smolpptpd running?)",
                path.display(),
                super::ErrorText(e)
            ),
        )
    })?;
    let timeout = libc::timeval {
        tv_sec: 5,
        tv_usec: 0,
    };
    // SAFETY: setsockopt with a valid timeval.
    unsafe {
        sys::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&timeout as *const libc::timeval).cast(),
            core::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    let mut buf = [0u8; REQUEST_LEN];
    request
        .encode(&mut buf)
        .map_err(|e| protocol_error(io::ErrorKind::InvalidInput, e))?;
    // Room for a daemon built with more sessions than this binary, so its reply is not cut.
    let mut reply = vec![0u8; MAX_REPLY_LEN.max(1 << 20)];
    // One error site for the send and the receive (the first to fail sets errno).
    let mut n = -1;
    if sys::send(fd.as_raw_fd(), &buf, libc::MSG_NOSIGNAL) >= 0 {
        n = sys::recv(fd.as_raw_fd(), &mut reply, 0);
    }
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Reply::decode(&reply[..n as usize]).map_err(|e| protocol_error(io::ErrorKind::InvalidData, e))
}

/// A [`ProtocolError`] as the client's io::Error, with its text.
fn protocol_error(kind: io::ErrorKind, e: ProtocolError) -> io::Error {
    super::io_error(kind, format_args!("{e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rand::{Random, XorShift};

    fn record(user: &str) -> SessionRecord {
        let mut u = heapless::String::new();
        u.push_str(user).unwrap();
        SessionRecord {
            call_id: 0x1234,
            peer_call_id: 0x4000,
            client: Ipv4Addr::new(192, 0, 2, 100),
            address: Some(Ipv4Addr::new(10, 9, 0, 2)),
            state: LinkState::Up,
            mppe: Some(MppeMode {
                bits: 128,
                stateless: true,
            }),
            user: u,
            connected: Duration::from_secs(3723),
            counters: Counters {
                packets_in: 10,
                bytes_in: 1500,
                packets_out: 20,
                bytes_out: 300_000_000_000,
                spoofed: 1,
                ..Counters::default()
            },
        }
    }

    #[test]
    fn requests_round_trip_byte_exact() {
        let mut buf = [0u8; REQUEST_LEN];
        Request::Status.encode(&mut buf).unwrap();
        assert_eq!(&buf[..8], b"SPPT\x01\x01\x00\x00");
        assert!(buf[8..].iter().all(|&b| b == 0));
        assert_eq!(Request::decode(&buf), Ok(Request::Status));

        let kick = Request::Kick(Selector::User("tomc"));
        kick.encode(&mut buf).unwrap();
        assert_eq!(&buf[..12], b"SPPT\x01\x02\x01\x04tomc");
        assert_eq!(Request::decode(&buf), Ok(kick));

        let kick = Request::Kick(Selector::Address(Ipv4Addr::new(10, 9, 0, 2)));
        kick.encode(&mut buf).unwrap();
        assert_eq!(&buf[..12], b"SPPT\x01\x02\x02\x04\x0a\x09\x00\x02");
        assert_eq!(Request::decode(&buf), Ok(kick));

        assert!(Request::Kick(Selector::User("")).encode(&mut buf).is_err());
        let long = "x".repeat(65);
        assert!(Request::Kick(Selector::User(&long))
            .encode(&mut buf)
            .is_err());
    }

    #[test]
    fn bad_requests_are_refused() {
        let mut buf = [0u8; REQUEST_LEN];
        Request::Status.encode(&mut buf).unwrap();
        assert_eq!(Request::decode(&buf[..71]), Err(ProtocolError::Truncated));
        let mut b = buf;
        b[0] = b'X';
        assert_eq!(Request::decode(&b), Err(ProtocolError::BadMagic));
        let mut b = buf;
        b[4] = 2;
        assert_eq!(Request::decode(&b), Err(ProtocolError::Version(2)));
        let mut b = buf;
        b[5] = 9;
        assert_eq!(Request::decode(&b), Err(ProtocolError::Malformed));
        let mut b = buf;
        b[5] = COMMAND_KICK;
        b[6] = SELECT_ADDRESS;
        b[7] = 3;
        assert_eq!(Request::decode(&b), Err(ProtocolError::Malformed));
        b[6] = SELECT_USER;
        b[7] = 200;
        assert_eq!(Request::decode(&b), Err(ProtocolError::Malformed));
        b[7] = 2;
        b[8] = 0xFF;
        assert_eq!(
            Request::decode(&b),
            Err(ProtocolError::Malformed),
            "not UTF-8"
        );
    }

    #[test]
    fn status_reply_round_trips() {
        let mut reply = ReplyBuffer::new();
        let mut starting = record("");
        starting.address = None;
        starting.mppe = None;
        starting.state = LinkState::Starting;
        reply.status(
            1_700_000_000,
            [record("tomc"), starting.clone()].into_iter(),
        );
        let bytes = reply.as_bytes();
        assert_eq!(bytes.len(), REPLY_HEADER_LEN + 2 * RECORD_LEN);
        assert_eq!(&bytes[..8], b"SPPT\x01\x01\x00\x02");
        // The first record, byte for byte where it matters.
        let r = &bytes[REPLY_HEADER_LEN..];
        assert_eq!(
            &r[..16],
            b"\x12\x34\x40\x00\xc0\x00\x02\x64\x0a\x09\x00\x02\x01\x80\x01\x04"
        );
        assert_eq!(&r[16..20], b"tomc");
        assert_eq!(&r[80..88], &3723u64.to_be_bytes());
        let decoded = Reply::decode(bytes).unwrap();
        assert_eq!(decoded.kind, ReplyKind::Status);
        assert_eq!(decoded.wall_clock, 1_700_000_000);
        assert_eq!(decoded.sessions, vec![record("tomc"), starting]);

        reply.kicked(5, 3);
        let k = Reply::decode(reply.as_bytes()).unwrap();
        assert_eq!((k.kind, k.count, k.sessions.len()), (ReplyKind::Kick, 3, 0));
        reply.error(5);
        assert_eq!(
            Reply::decode(reply.as_bytes()).unwrap().kind,
            ReplyKind::Error
        );
    }

    #[test]
    fn a_full_table_fits_the_reply() {
        let mut reply = ReplyBuffer::new();
        reply.status(
            1,
            core::iter::repeat_with(|| record("u")).take(MAX_SESSIONS + 5),
        );
        assert_eq!(reply.as_bytes().len(), MAX_REPLY_LEN);
        assert_eq!(
            Reply::decode(reply.as_bytes()).unwrap().sessions.len(),
            MAX_SESSIONS
        );
    }

    #[test]
    fn text_and_json_rendering() {
        let mut odd = record("we\"ird\\\n");
        odd.address = None;
        odd.mppe = None;
        odd.state = LinkState::Starting;
        let reply = Reply {
            kind: ReplyKind::Status,
            count: 2,
            wall_clock: 1_700_003_723,
            sessions: vec![record("tomc"), odd],
        };
        let json = render_json(&reply);
        assert_eq!(
            json,
            "{\"time\":1700003723,\"sessions\":[\
             {\"user\":\"tomc\",\"client\":\"192.0.2.100\",\"address\":\"10.9.0.2\",\
             \"call_id\":4660,\"peer_call_id\":16384,\"state\":\"up\",\"since\":1700000000,\
             \"connect_time\":3723,\"bytes_in\":1500,\"bytes_out\":300000000000,\
             \"packets_in\":10,\"packets_out\":20,\"spoofed\":1,\
             \"mppe\":{\"bits\":128,\"stateless\":true}},\
             {\"user\":\"we\\\"ird\\\\\\n\",\"client\":\"192.0.2.100\",\"address\":null,\
             \"call_id\":4660,\"peer_call_id\":16384,\"state\":\"starting\",\"since\":1700000000,\
             \"connect_time\":3723,\"bytes_in\":1500,\"bytes_out\":300000000000,\
             \"packets_in\":10,\"packets_out\":20,\"spoofed\":1,\"mppe\":null}]}\n"
        );
        let empty = Reply {
            sessions: vec![],
            count: 0,
            ..reply.clone()
        };
        assert_eq!(
            render_json(&empty),
            "{\"time\":1700003723,\"sessions\":[]}\n"
        );
        assert_eq!(render_text(&empty), "no sessions\n");
        for (unix, text) in [
            (0, "1970-01-01 00:00:00"),
            (951_782_400, "2000-02-29 00:00:00"),
            (1_709_251_199, "2024-02-29 23:59:59"),
            (1_796_288_461, "2026-12-03 09:01:01"),
            (4_107_542_400, "2100-03-01 00:00:00"),
        ] {
            assert_eq!(utc_time(unix), text);
        }

        let text = render_text(&reply);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("USER") && lines[0].ends_with("MPPE"));
        let cols: Vec<&str> = lines[1].split_whitespace().collect();
        assert_eq!(
            cols,
            [
                "tomc",
                "192.0.2.100",
                "10.9.0.2",
                "2023-11-14",
                "22:13:20",
                "01:02:03",
                "1500",
                "10",
                "300000000000",
                "20",
                "up",
                "128-bit",
                "stateless"
            ]
        );
        assert!(lines[2].contains(" - ") && lines[2].ends_with("starting none"));
        assert_eq!(format_duration(90061), "1d01:01:01");
    }

    #[test]
    fn status_header_matches_the_row_format() {
        let header = format!(
            "{:<16} {:<15} {:<15} {:<19} {:>10} {:>12} {:>9} {:>12} {:>9} {:<8} MPPE\n",
            "USER",
            "CLIENT",
            "TUNNEL",
            "SINCE (UTC)",
            "TIME",
            "BYTES IN",
            "PKTS IN",
            "BYTES OUT",
            "PKTS OUT",
            "STATE"
        );
        assert_eq!(STATUS_HEADER, header);
    }

    #[test]
    fn random_and_mutated_messages_never_panic() {
        let mut rng = XorShift(0xC0FF_EE00_1234);
        let mut reply = ReplyBuffer::new();
        reply.status(9, [record("tomc"), record("x")].into_iter());
        let good = reply.as_bytes().to_vec();
        let mut req = [0u8; REQUEST_LEN];
        Request::Kick(Selector::User("tomc"))
            .encode(&mut req)
            .unwrap();
        for i in 0..20_000 {
            let mut msg = if i % 2 == 0 {
                good.clone()
            } else {
                req.to_vec()
            };
            let len = (rng.next_u32() as usize) % (msg.len() + 1);
            msg.truncate(len);
            for _ in 0..(rng.next_u32() % 4) {
                if !msg.is_empty() {
                    let at = rng.next_u32() as usize % msg.len();
                    msg[at] = rng.next_u32() as u8;
                }
            }
            let _ = Reply::decode(&msg);
            let _ = Request::decode(&msg);
            let _ = SessionRecord::decode(&msg);
        }
    }

    #[test]
    fn socket_answers_one_request_per_connection() {
        let dir = std::env::temp_dir().join(format!("smolpptp-ctl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ctl.sock");
        let mut server = ControlSocket::bind(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(mode.permissions().mode() & 0o777, 0o600);
        assert!(ControlSocket::bind(&path).is_err(), "second daemon refused");

        let p = path.clone();
        let client = std::thread::spawn(move || {
            let status = query(&p, Request::Status).unwrap();
            let kick = query(&p, Request::Kick(Selector::User("tomc"))).unwrap();
            (status, kick)
        });
        let mut answered = 0;
        let start = std::time::Instant::now();
        while answered < 2 && start.elapsed() < std::time::Duration::from_secs(5) {
            let now = Instant::from_millis(start.elapsed().as_millis() as i64);
            if server.service(now, &mut |request, reply| match request {
                Request::Status => reply.status(7, [record("tomc")].into_iter()),
                Request::Kick(Selector::User(u)) => reply.kicked(7, u.len()),
                Request::Kick(_) => reply.error(7),
            }) {
                answered += 1;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let (status, kick) = client.join().unwrap();
        assert_eq!(status.sessions, vec![record("tomc")]);
        assert_eq!((kick.kind, kick.count), (ReplyKind::Kick, 4));
        drop(server);
        assert!(!path.exists(), "socket file removed on exit");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
