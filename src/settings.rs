//! Run-time settings of the protocol core: what pptpd.conf and the pppd options file say,
//! already parsed (the parsers live in `conf`, behind the `std` feature). Plain data, no
//! allocation: lists have compile-time capacities.

use core::net::Ipv4Addr;
use heapless::{String, Vec};

/// Ranges in an address list (pptpd's `localip`/`remoteip`: "a.b.c.d-e,a.b.c.f,...").
/// A list never holds more than `connections` ≤ `MAX_SESSIONS` addresses, but a range in an
/// inner octet (`10.0.0-63.1`) makes every address its own range, so this is the bound.
pub const MAX_ADDRESS_RANGES: usize = crate::limits::MAX_SESSIONS;
/// Longest `name` (pppd's MAXNAMELEN is 256; nobody uses more than a few dozen).
pub const MAX_NAME_LEN: usize = 64;
/// Longest secret or user name from chap-secrets (pppd's MAXSECRETLEN is 256).
pub const MAX_SECRET_LEN: usize = 256;

/// An inclusive range of IPv4 addresses, `first..=last`. Word-aligned: with `Ipv4Addr`'s
/// alignment 1, every read of a range took unaligned load pairs on MIPS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(align(4))]
pub struct AddressRange {
    pub first: Ipv4Addr,
    pub last: Ipv4Addr,
}

impl AddressRange {
    pub fn len(&self) -> u32 {
        u32::from(self.last).saturating_sub(u32::from(self.first)) + 1
    }
    pub fn is_empty(&self) -> bool {
        false
    }
    pub fn contains(&self, a: Ipv4Addr) -> bool {
        (u32::from(self.first)..=u32::from(self.last)).contains(&u32::from(a))
    }
}

/// An ordered list of addresses as pptpd parses `localip`/`remoteip`; slot i is the i-th address.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AddressList {
    pub ranges: Vec<AddressRange, MAX_ADDRESS_RANGES>,
}

impl AddressList {
    /// Number of addresses in the list.
    pub fn len(&self) -> usize {
        self.ranges.iter().map(|r| r.len() as usize).sum()
    }
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
    /// The address in slot `i`, counting through the ranges in order.
    pub fn get(&self, mut i: usize) -> Option<Ipv4Addr> {
        for r in &self.ranges {
            let n = r.len() as usize;
            if i < n {
                return Some(Ipv4Addr::from(u32::from(r.first) + i as u32));
            }
            i -= n;
        }
        None
    }
    /// The slot of `a`, if it is in the list.
    pub fn index_of(&self, a: Ipv4Addr) -> Option<usize> {
        let mut base = 0usize;
        for r in &self.ranges {
            if r.contains(a) {
                return Some(base + (u32::from(a) - u32::from(r.first)) as usize);
            }
            base += r.len() as usize;
        }
        None
    }
    pub fn contains(&self, a: Ipv4Addr) -> bool {
        self.index_of(a).is_some()
    }
}

/// Which authentication protocols the server may ask for (pppd's refuse-*/require-*).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthPolicy {
    pub allow_mschap_v2: bool,
    /// MS-CHAPv1, CHAP-MD5, PAP and EAP are never offered by smolpptp: the `refuse-*`
    /// options are accepted and `require-*` of them is a configuration error.
    pub require_auth: bool,
}

impl Default for AuthPolicy {
    fn default() -> Self {
        AuthPolicy {
            allow_mschap_v2: true,
            require_auth: true,
        }
    }
}

/// What to do about MPPE stateful mode (pppd's mppe-stateful / nomppe-stateful).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stateful {
    /// Only stateless (H bit) is accepted: pppd's default and OpenWrt's `stateless`.
    Refuse,
    /// Stateful is accepted when the client asks for it (`mppe-stateful`).
    Allow,
}

/// MPPE policy (pppd's require-mppe, require-mppe-128/40, nomppe-40/56, mppe-stateful).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MppePolicy {
    /// When true the link goes down unless CCP agrees on MPPE; no IP before that.
    pub required: bool,
    pub allow_40: bool,
    pub allow_56: bool,
    pub allow_128: bool,
    pub stateful: Stateful,
}

impl Default for MppePolicy {
    /// pptpd's safe default: MPPE-128 stateless required.
    fn default() -> Self {
        MppePolicy {
            required: true,
            allow_40: false,
            allow_56: false,
            allow_128: true,
            stateful: Stateful::Refuse,
        }
    }
}

/// A 64-bit IPv6 Interface-Identifier (RFC 5072): the low half of a link-local address.
pub type InterfaceId = [u8; 8];

/// IPv6 inside the tunnel (pppd's `+ipv6` / `ipv6 <local>,<remote>` / `noipv6`). Off by
/// default: the client's IPv6CP is then Protocol-Rejected, as pptpd does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ipv6Policy {
    /// Run IPv6CP and pass IPv6 (link-local addressing only: fe80::IID on both ends).
    pub enabled: bool,
    /// Our Interface-Identifier, the same on every link (the TUN's fe80:: address); a
    /// random one is chosen at start when not configured.
    pub local_id: Option<InterfaceId>,
    /// The identifier suggested to a client that proposes none (or one already in use);
    /// random when not configured or taken.
    pub remote_id: Option<InterfaceId>,
}

/// Everything the PPP side of one session needs to know.
#[derive(Debug, PartialEq, Eq)]
pub struct PppSettings {
    /// Our name in CHAP Challenge and the second column of chap-secrets (`name`).
    pub name: String<MAX_NAME_LEN>,
    pub auth: AuthPolicy,
    pub mppe: MppePolicy,
    /// `ms-dns` (up to two) and `ms-wins` (up to two), in the order given.
    pub dns: [Option<Ipv4Addr>; 2],
    pub wins: [Option<Ipv4Addr>; 2],
    /// Our MRU (what we ask the peer to respect) and the MTU we cap ourselves at.
    pub mru: u16,
    pub mtu: u16,
    /// LCP echo keepalive: seconds between echoes (0 = off) and misses before the link dies.
    pub lcp_echo_interval: u32,
    pub lcp_echo_failure: u32,
    /// Seconds without IP traffic before the link is closed (0 = never).
    pub idle: u32,
    /// pppd `maxconnect`: seconds a session may stay up (0 = no limit). pptpd.conf's
    /// `session-timeout` and `user-limit` take precedence (see [`Settings::limits_for`]).
    pub maxconnect: u32,
    /// pppd `debug`: log every control packet.
    pub debug: bool,
    pub ipv6: Ipv6Policy,
}

/// Out of line: derived, every copy (each new link, the daemon's settings) was inlined, and
/// with the byte-aligned addresses and identifiers it took unaligned load/store pairs on MIPS.
impl Clone for PppSettings {
    #[inline(never)]
    fn clone(&self) -> Self {
        PppSettings {
            name: self.name.clone(),
            auth: self.auth,
            mppe: self.mppe,
            dns: self.dns,
            wins: self.wins,
            mru: self.mru,
            mtu: self.mtu,
            lcp_echo_interval: self.lcp_echo_interval,
            lcp_echo_failure: self.lcp_echo_failure,
            idle: self.idle,
            maxconnect: self.maxconnect,
            debug: self.debug,
            ipv6: self.ipv6,
        }
    }
}

impl Default for PppSettings {
    fn default() -> Self {
        let mut name = String::new();
        let _ = name.push_str("pptpd");
        PppSettings {
            name,
            auth: AuthPolicy::default(),
            mppe: MppePolicy::default(),
            dns: [None, None],
            wins: [None, None],
            mru: 1400,
            mtu: 1400,
            lcp_echo_interval: 0,
            lcp_echo_failure: 0,
            idle: 0,
            maxconnect: 0,
            debug: false,
            ipv6: Ipv6Policy::default(),
        }
    }
}

/// The PPTP side (pptpd.conf).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub ppp: PppSettings,
    /// `localip`: the server's address inside each tunnel (one address serves every slot).
    pub local: AddressList,
    /// `remoteip`: the client address pool.
    pub remote: AddressList,
    /// `connections`: calls at once (never above `limits::MAX_SESSIONS`).
    pub connections: usize,
    /// `stimeout`: seconds a new control connection may take to send its
    /// Start-Control-Connection-Request (pptpd's default is 10).
    pub stimeout: u32,
    /// `max-per-source`: control connections, and calls, one client address may hold at
    /// once (0 = no limit). Clients behind one NAT share an address.
    pub max_per_source: usize,
    /// `auth-throttle`: refuse calls for a while from an address that keeps failing
    /// authentication (see `pptp::throttle`).
    pub auth_throttle: bool,
    /// `mss-clamp`: rewrite the MSS of TCP SYNs crossing the tunnel.
    pub mss_clamp: MssClamp,
    /// `single-session`, `session-timeout`, `rate-limit` and `user-limit` lines.
    pub user_limits: UserLimits,
}

/// Default `max-per-source`: room for a small office behind one NAT, not for one host
/// taking every slot.
pub const DEFAULT_MAX_PER_SOURCE: usize = 4;

impl Default for Settings {
    fn default() -> Self {
        Settings {
            ppp: PppSettings::default(),
            local: AddressList::default(),
            remote: AddressList::default(),
            connections: crate::limits::MAX_SESSIONS,
            stimeout: 10,
            max_per_source: DEFAULT_MAX_PER_SOURCE,
            auth_throttle: true,
            mss_clamp: MssClamp::Auto,
            user_limits: UserLimits::default(),
        }
    }
}

impl Settings {
    /// What applies to `user`: its `user-limit` line, else the global keywords, else the
    /// pppd options (`idle`, `maxconnect`), else no limit.
    pub fn limits_for(&self, user: &str) -> Limits {
        let own = self.user_limits.get(user);
        let global = &self.user_limits.default;
        let pick = |f: fn(&UserLimit) -> Option<u32>, fallback: u32| {
            own.and_then(f).or_else(|| f(global)).unwrap_or(fallback)
        };
        Limits {
            single_session: own
                .and_then(|l| l.single_session)
                .or(global.single_session)
                .unwrap_or(SingleSession::Allow),
            rate: own
                .and_then(|l| l.rate)
                .or(global.rate)
                .filter(|r| *r != Rate::UNLIMITED),
            idle: pick(|l| l.idle, self.ppp.idle),
            session_timeout: pick(|l| l.session_timeout, self.ppp.maxconnect),
        }
    }
}

/// `mss-clamp off|auto|N`: TCP MSS clamping inside the tunnel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MssClamp {
    Off,
    /// The MTU toward the client less 40 (IPv4 + TCP headers): the default.
    Auto,
    /// This MSS (never above what `Auto` would give).
    Fixed(u16),
}

/// What a second login of a user who already has a session does (`single-session`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SingleSession {
    /// Both sessions run (pptpd's behaviour).
    Allow,
    /// The older session is ended.
    Replace,
    /// The new session is ended right after authentication.
    Deny,
}

/// A rate limit in bits per second, per direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Network → client.
    pub down_bps: u32,
    /// Client → network.
    pub up_bps: u32,
}

impl Rate {
    /// No limit: what a user's `rate=off` says over a global `rate-limit`.
    pub const UNLIMITED: Rate = Rate {
        down_bps: u32::MAX,
        up_bps: u32::MAX,
    };
}

/// Limits from one `user-limit` line (or the global keywords); `None` = not said here.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UserLimit {
    pub single_session: Option<SingleSession>,
    pub rate: Option<Rate>,
    /// Seconds; 0 = off.
    pub idle: Option<u32>,
    /// Seconds; 0 = off.
    pub session_timeout: Option<u32>,
}

/// Most `user-limit` lines a configuration may hold.
pub const MAX_USER_LIMITS: usize = 32;

/// The global per-user keywords and the `user-limit` lines.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserLimits {
    pub default: UserLimit,
    pub users: Vec<(String<MAX_NAME_LEN>, UserLimit), MAX_USER_LIMITS>,
}

impl UserLimits {
    /// The `user-limit` line for `user` (exact, case-sensitive name as the client sends it).
    pub fn get(&self, user: &str) -> Option<&UserLimit> {
        self.users
            .iter()
            .find(|(name, _)| name.as_str() == user)
            .map(|(_, l)| l)
    }
}

/// What applies to one session, resolved by [`Settings::limits_for`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub single_session: SingleSession,
    pub rate: Option<Rate>,
    /// Seconds without IP traffic before the link is closed (0 = never).
    pub idle: u32,
    /// Seconds the session may stay up (0 = no limit).
    pub session_timeout: u32,
}

/// How a chap-secrets entry constrains the client's address (the fourth column). A word
/// tag (`repr(u32)`) puts the address of `Fixed` on a word boundary: after a one-byte tag
/// it took unaligned load/store pairs on MIPS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum AddressRule {
    /// `*` or empty: take the next address from `remoteip`.
    Pool,
    /// One address: the client gets exactly this one.
    Fixed(Ipv4Addr),
    /// `-`: no address is acceptable, so the login fails.
    Deny,
}

/// The password and address rule of one user, found by [`Secrets::lookup`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    pub password: Vec<u8, MAX_SECRET_LEN>,
    pub address: AddressRule,
}

/// Never prints the password, so no `{:?}` can put it in a log.
impl core::fmt::Debug for Secret {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        f.debug_struct("Secret")
            .field("password", &"<hidden>")
            .field("address", &self.address)
            .finish()
    }
}

/// The secrets store (chap-secrets in the daemon). Looked up at every authentication, so
/// edits take effect without a restart.
pub trait Secrets {
    /// The secret for `client` (the CHAP Response name, as sent) talking to `server`
    /// (our `name`), connecting from `peer`.
    fn lookup(&mut self, client: &[u8], server: &[u8], peer: Ipv4Addr) -> Option<Secret>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_fall_back_from_user_to_global_to_pppd() {
        let mut s = Settings::default();
        s.ppp.idle = 300;
        s.ppp.maxconnect = 7200;
        let l = s.limits_for("alice");
        assert_eq!(l.single_session, SingleSession::Allow);
        assert_eq!((l.idle, l.session_timeout, l.rate), (300, 7200, None));
        s.user_limits.default.session_timeout = Some(3600);
        s.user_limits.default.single_session = Some(SingleSession::Replace);
        let mut name = String::new();
        name.push_str("alice").unwrap();
        let rate = Rate {
            down_bps: 512_000,
            up_bps: 128_000,
        };
        let alice = UserLimit {
            single_session: Some(SingleSession::Deny),
            rate: Some(rate),
            idle: Some(0),
            ..UserLimit::default()
        };
        s.user_limits.users.push((name, alice)).unwrap();
        let l = s.limits_for("alice");
        assert_eq!(l.single_session, SingleSession::Deny);
        assert_eq!((l.idle, l.session_timeout, l.rate), (0, 3600, Some(rate)));
        let l = s.limits_for("bob");
        assert_eq!(l.single_session, SingleSession::Replace);
        assert_eq!((l.idle, l.session_timeout, l.rate), (300, 3600, None));
        // Names are exact.
        assert_eq!(s.limits_for("Alice").rate, None);
    }

    #[test]
    fn secret_debug_hides_the_password() {
        let mut password = Vec::new();
        password.extend_from_slice(b"hunter2").unwrap();
        let secret = Secret {
            password,
            address: AddressRule::Pool,
        };
        let mut text: String<128> = String::new();
        core::fmt::write(&mut text, format_args!("{secret:?}")).unwrap();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("Pool"), "{text}");
    }
}
