//! The pppd options file named by pptpd.conf's `option` (or `-o`): the same tokenizer as
//! chap-secrets, options applied in order, later ones overriding earlier ones.
//!
//! pppd exits on an unknown option, and under pptpd that shows up only as a dropped call
//! ("GRE: read(fd=...) from PTY failed"), the most common pptpd complaint. We fail at start-up
//! instead, naming the file and line. Options that only make sense for pppd on a serial line
//! are accepted and ignored; options asking for something smolpptp cannot do are errors
//! that say why.
//!
//! MPPE: with no MPPE option at all we keep the safe default (MPPE-128 stateless required)
//! where pppd would have run unencrypted. `nomppe` (or every key length refused) turns MPPE
//! off: `required` false and no key length allowed. OpenWrt's `mppe required,no40,...`
//! spelling (the old MPPE-MPPC patch) is accepted next to pppd's.

use core::fmt;
use core::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use super::error::{ConfigError, ConfigWarning};
use super::tokenizer::{Words, MAX_WORD_LEN};
use crate::settings::{InterfaceId, MppePolicy, PppSettings, Stateful, MAX_NAME_LEN};

/// pppd's MTU/MRU limits (`MINMRU`, `MAXMRU`).
const MIN_MRU: u32 = 128;
const MAX_MRU: u32 = 16384;
/// Larger PPP packets do not fit one GRE packet on Ethernet without fragmentation; PPTP
/// clients never ask for more.
const MAX_USEFUL_MRU: u16 = 1500;
/// Nesting of `file` includes.
const MAX_INCLUDE_DEPTH: usize = 8;

/// Options taking no value that change nothing for a PPTP server (serial-line, client-side,
/// compression we never offer, authenticate-ourselves refusals).
macro_rules! harmless_flags {
    () => {
        names!(
            "lock",
            "nolock",
            "nobsdcomp",
            "nodeflate",
            "nopredictor1",
            "novj",
            "novjccomp",
            "nopcomp",
            "noaccomp",
            "nodefaultroute",
            "defaultroute",
            "noreplacedefaultroute",
            "nologfd",
            "noipx",
            "default-asyncmap",
            "hide-password",
            "show-password",
            "crtscts",
            "nocrtscts",
            "cdtrcts",
            "nocdtrcts",
            "modem",
            "local",
            "dump",
            "noipdefault",
            "usepeerdns",
            "persist",
            "nopersist",
            "nodetach",
            "updetach",
            "ktune",
            "noktune",
            "passive",
            "silent",
            "ipcp-accept-local",
            "ipcp-accept-remote",
            "ipv6cp-accept-local",
            "ipv6cp-accept-remote",
            "nomultilink",
            "nomp",
            "noendpoint",
            "nomppc",
            "refuse-pap",
            "refuse-chap",
            "refuse-mschap",
            "refuse-eap",
            "-pap",
            "-chap",
            "-mschap",
            "-eap",
            "auth",
        )
    };
}

/// Options taking one value that change nothing for us.
macro_rules! harmless_with_value {
    () => {
        names!(
            "asyncmap",
            "logfd",
            "ipparam",
            "remotenumber",
            "domain",
            "maxfail",
            "holdoff",
            "connect-delay",
            "kdebug",
            "linkname",
            "unit",
            "netmask",
            "escape",
            "lcp-restart",
            "lcp-max-terminate",
            "lcp-max-configure",
            "lcp-max-failure",
            "ipcp-restart",
            "ipcp-max-terminate",
            "ipcp-max-configure",
            "ipcp-max-failure",
            "chap-restart",
            "chap-max-challenge",
            "chap-interval",
            "pap-restart",
            "pap-max-authreq",
            "pap-timeout",
            "ipv6cp-restart",
            "ipv6cp-max-configure",
            "ipv6cp-max-terminate",
            "ipv6cp-max-failure",
        )
    };
}

/// Accepted with a warning: the user asked for something we do not do, but running without
/// it is safe. The first [`IGNORED_TAKING_VALUE`] take a value; [`IGNORED_WHY`] explains.
macro_rules! ignored_with_warning {
    () => {
        names!(
            "logfile",
            "remotename",
            "ifname",
            "lcp-echo-adaptive",
            "mppc",
            "multilink",
            "mp",
        )
    };
}
const IGNORED_TAKING_VALUE: usize = 3;
/// The explanations, in `ignored_with_warning!` order, separated by `|`.
const IGNORED_WHY: &str = concat!(
    "smolpptpd logs to syslog only|",
    "chap-secrets is searched for the name the client sends|",
    "the tunnel interface is set in pptpd.conf|",
    "LCP echoes are sent at every interval|",
    "MPPC compression is not supported|",
    "multilink is not supported|",
    "multilink is not supported",
);

/// What an option with its own handling does (see [`Parser::apply`]).
#[derive(Clone, Copy)]
enum Action {
    Name,
    NoAuth,
    RequireMschapV2,
    RefuseMschapV2,
    OtherAuth,
    RequireMppe,
    RequireMppe40,
    RequireMppe128,
    NoMppe,
    NoMppe40,
    NoMppe56,
    NoMppe128,
    MppeStateful,
    NoMppeStateful,
    NoCcp,
    MsDns,
    MsWins,
    Mtu,
    Mru,
    LcpEchoInterval,
    LcpEchoFailure,
    Idle,
    Ipv6On,
    Ipv6Off,
    MaxConnect,
    Debug,
    StripDomain,
    ProxyArp,
    NoProxyArp,
    // Those taking a string value, last: read before the match, by one call.
    OpenwrtMppe,
    Ipv6Ids,
    Plugin,
    File,
}

/// The options with their own handling, by name: one list searched by one loop is smaller
/// than a match on strings, which compiles to a comparison call per name.
macro_rules! option_names {
    () => {
        names!(
            "name",
            "noauth",
            "require-mschap-v2",
            "+mschap-v2",
            "refuse-mschap-v2",
            "-mschap-v2",
            "require-pap",
            "require-chap",
            "require-mschap",
            "require-eap",
            "+pap",
            "+chap",
            "+mschap",
            "+eap",
            "require-mppe",
            "+mppe",
            "require-mppe-40",
            "+mppe-40",
            "require-mppe-128",
            "+mppe-128",
            "nomppe",
            "-mppe",
            "nomppe-40",
            "-mppe-40",
            "nomppe-56",
            "-mppe-56",
            "nomppe-128",
            "-mppe-128",
            "mppe-stateful",
            "nomppe-stateful",
            "mppe",
            "noccp",
            "-ccp",
            "ms-dns",
            "ms-wins",
            "mtu",
            "mru",
            "lcp-echo-interval",
            "lcp-echo-failure",
            "idle",
            "+ipv6",
            "noipv6",
            "-ipv6",
            "ipv6",
            "maxconnect",
            "debug",
            "-d",
            "chapms-strip-domain",
            "proxyarp",
            "noproxyarp",
            "plugin",
            "file",
        )
    };
}
/// The actions of `option_names!`, in its order.
const OPTION_ACTIONS: [Action; 52] = [
    Action::Name,
    Action::NoAuth,
    Action::RequireMschapV2,
    Action::RequireMschapV2,
    Action::RefuseMschapV2,
    Action::RefuseMschapV2,
    Action::OtherAuth,
    Action::OtherAuth,
    Action::OtherAuth,
    Action::OtherAuth,
    Action::OtherAuth,
    Action::OtherAuth,
    Action::OtherAuth,
    Action::OtherAuth,
    Action::RequireMppe,
    Action::RequireMppe,
    Action::RequireMppe40,
    Action::RequireMppe40,
    Action::RequireMppe128,
    Action::RequireMppe128,
    Action::NoMppe,
    Action::NoMppe,
    Action::NoMppe40,
    Action::NoMppe40,
    Action::NoMppe56,
    Action::NoMppe56,
    Action::NoMppe128,
    Action::NoMppe128,
    Action::MppeStateful,
    Action::NoMppeStateful,
    Action::OpenwrtMppe,
    Action::NoCcp,
    Action::NoCcp,
    Action::MsDns,
    Action::MsWins,
    Action::Mtu,
    Action::Mru,
    Action::LcpEchoInterval,
    Action::LcpEchoFailure,
    Action::Idle,
    Action::Ipv6On,
    Action::Ipv6Off,
    Action::Ipv6Off,
    Action::Ipv6Ids,
    Action::MaxConnect,
    Action::Debug,
    Action::Debug,
    Action::StripDomain,
    Action::ProxyArp,
    Action::NoProxyArp,
    Action::Plugin,
    Action::File,
];

/// The number of names in a `names!` list.
const fn count_names(names: &str) -> usize {
    count_separated(names, b' ')
}

/// The number of `sep`-separated pieces of `list`.
const fn count_separated(list: &str, sep: u8) -> usize {
    let b = list.as_bytes();
    let (mut n, mut i) = (1, 0);
    while i < b.len() {
        if b[i] == sep {
            n += 1;
        }
        i += 1;
    }
    n
}

/// Every option name [`Parser::apply`] knows, as one list searched once: the harmless flags,
/// the harmless options with a value, the options with their own handling and the ignored
/// ones, each up to its `*_END` index (the first of equal names wins, as when the lists were
/// searched one after the other).
const ALL_OPTIONS: &str = concat!(
    harmless_flags!(),
    " ",
    harmless_with_value!(),
    " ",
    option_names!(),
    " ",
    ignored_with_warning!()
);
const FLAGS_END: usize = count_names(harmless_flags!());
const WITH_VALUE_END: usize = FLAGS_END + count_names(harmless_with_value!());
const ACTIONS_END: usize = WITH_VALUE_END + OPTION_ACTIONS.len();
const IGNORED_END: usize = ACTIONS_END + count_names(ignored_with_warning!());
const _: () = {
    assert!(count_names(option_names!()) == OPTION_ACTIONS.len());
    assert!(count_names(ALL_OPTIONS) == IGNORED_END);
    assert!(count_separated(IGNORED_WHY, b'|') == IGNORED_END - ACTIONS_END);
};

/// What the options file says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PppOptions {
    pub ppp: PppSettings,
    /// pppd `proxyarp`: answer ARP on the LAN for client addresses.
    pub proxyarp: bool,
    /// pppd `chapms-strip-domain`: look up `user` for a client that sent `DOMAIN\user`.
    pub chapms_strip_domain: bool,
    /// `name` was given (otherwise pppd uses the host name; see [`super::load`]).
    pub name_given: bool,
    pub warnings: Vec<ConfigWarning>,
}

/// MPPE options as they accumulate (see the module docs).
#[derive(Clone, Copy)]
struct MppeOptions {
    /// A `require-mppe*` option has replaced the built-in default.
    explicit: bool,
    allow_40: bool,
    allow_56: bool,
    allow_128: bool,
    optional: bool,
    stateful: Stateful,
}

impl Default for MppeOptions {
    fn default() -> Self {
        let d = MppePolicy::default();
        MppeOptions {
            explicit: false,
            allow_40: d.allow_40,
            allow_56: d.allow_56,
            allow_128: d.allow_128,
            optional: !d.required,
            stateful: d.stateful,
        }
    }
}

impl MppeOptions {
    fn require(&mut self, b40: bool, b128: bool) {
        if !self.explicit {
            self.allow_40 = false;
            self.allow_56 = false;
            self.allow_128 = false;
            self.explicit = true;
        }
        self.allow_40 |= b40;
        self.allow_128 |= b128;
        self.optional = false;
    }

    fn policy(&self) -> MppePolicy {
        let any = self.allow_40 || self.allow_56 || self.allow_128;
        MppePolicy {
            required: any && !self.optional,
            allow_40: self.allow_40,
            allow_56: self.allow_56,
            allow_128: self.allow_128,
            stateful: self.stateful,
        }
    }
}

/// What the options file says besides the PPP settings (see [`parse_into`]).
#[derive(Clone, Copy)]
pub(super) struct Flags {
    pub proxyarp: bool,
    pub chapms_strip_domain: bool,
    pub name_given: bool,
}

/// Parses into the caller's settings and warnings: the settings are not moved around.
struct Parser<'s> {
    ppp: &'s mut PppSettings,
    warnings: &'s mut Vec<ConfigWarning>,
    mppe: MppeOptions,
    /// Where `noccp` was given.
    noccp: Option<(PathBuf, u32)>,
    proxyarp: bool,
    strip_domain: bool,
    name_given: bool,
    dns: Vec<Ipv4Addr>,
    wins: Vec<Ipv4Addr>,
}

/// The option being applied: where it is (for messages) and the words after it.
struct Current<'o, 'text> {
    words: &'o mut Words<'text>,
    buf: &'o mut [u8; MAX_WORD_LEN],
    path: &'o Path,
    line: u32,
    name: &'o str,
    /// The value word, decoded by [`Self::value`]: one string for the whole file, dropped
    /// once instead of on every error path of [`Parser::apply`].
    value: &'o mut String,
}

// Helpers shared by every option instead of repeated per match arm.
impl Current<'_, '_> {
    #[inline(never)]
    fn err(&self, msg: fmt::Arguments<'_>) -> ConfigError {
        ConfigError::at(self.path, Some(self.line), msg)
    }

    /// Reads the value word into `buf`; its length.
    #[inline(never)]
    fn raw_value(&mut self) -> Result<usize, ConfigError> {
        match self.words.next_word(self.buf) {
            Some(w) => Ok(w.len),
            None => Err(self.err(format_args!("option '{}' needs a value", self.name))),
        }
    }

    /// Reads the value word into `self.value` (invalid UTF-8 replaced).
    #[inline(never)]
    fn value(&mut self) -> Result<(), ConfigError> {
        let len = self.raw_value()?;
        self.value.clear();
        self.value
            .push_str(&String::from_utf8_lossy(&self.buf[..len]));
        Ok(())
    }

    /// A number value, the way pppd reads it ([`parse_number`]).
    #[inline(never)]
    fn number(&mut self) -> Result<u32, ConfigError> {
        self.value()?;
        parse_number(self.value).ok_or_else(|| self.not_a("a number"))
    }

    #[inline(never)]
    fn address(&mut self) -> Result<Ipv4Addr, ConfigError> {
        self.value()?;
        self.value
            .parse()
            .map_err(|_| self.not_a("an IPv4 address"))
    }

    /// The value read is not `what`: the error of both, from one format site.
    #[inline(never)]
    fn not_a(&self, what: &str) -> ConfigError {
        self.err(format_args!(
            "option '{}': '{}' is not {what}",
            self.name, self.value
        ))
    }
}

/// pppd's `number_option`: strtoul base 0 (decimal, 0octal, 0xhex), all of it.
fn parse_number(s: &str) -> Option<u32> {
    let (digits, radix) = if let [b'0', b'x' | b'X', ..] = s.as_bytes() {
        (&s[2..], 16)
    } else if s.len() > 1 && s.starts_with('0') {
        (&s[1..], 8)
    } else if s.bytes().all(|c| c.is_ascii_digit()) {
        (s, 10)
    } else {
        return None;
    };
    // One call for every base: the parser is in the binary once.
    u32::from_str_radix(digits, radix).ok()
}

/// Why an `ipv6` Interface-Identifier was refused.
enum IdError {
    /// Not an IPv6 address.
    NotAddress,
    /// The upper 64 bits are not zero, or the lower ones are.
    Illegal,
}

/// One Interface-Identifier of pppd's `ipv6 <local>,<remote>`: written as an IPv6 address
/// whose upper 64 bits are zero (`::1`, `::dead:beef`).
fn interface_id(s: &str) -> Result<InterfaceId, IdError> {
    let octets = parse_ipv6(s).ok_or(IdError::NotAddress)?;
    let (high, low) = octets.split_at(8);
    let id: InterfaceId = low.try_into().unwrap_or_default();
    if high.iter().any(|&b| b != 0) || id == [0; 8] {
        return Err(IdError::Illegal);
    }
    Ok(id)
}

/// `Ipv6Addr::from_str` written out for its one user here (core's parser is 0.6 KB on
/// mipsel): 8 groups of 1-4 hex digits, the last two may be a dotted IPv4 address, and one
/// `::` stands for at least one zero group. An IPv4 address before a `::` is refused.
fn parse_ipv6(s: &str) -> Option<[u8; 16]> {
    let b = s.as_bytes();
    let mut groups = [0u16; 8];
    let mut n = 0;
    // Where the `::` is (its number of groups before it).
    let mut gap = None;
    let mut i = 0;
    if b.starts_with(b"::") {
        gap = Some(0);
        i = 2;
    }
    while i < b.len() || gap != Some(n) {
        let end = b[i..]
            .iter()
            .position(|&c| c == b':')
            .map_or(b.len(), |p| i + p);
        let piece = &b[i..end];
        if end == b.len() && piece.contains(&b'.') {
            let [w, x, y, z] = s[i..].parse::<Ipv4Addr>().ok()?.octets();
            *groups.get_mut(n + 1)? = u16::from_be_bytes([y, z]);
            groups[n] = u16::from_be_bytes([w, x]);
            n += 2;
        } else {
            if piece.is_empty() || piece.len() > 4 {
                return None;
            }
            *groups.get_mut(n)? = piece.iter().try_fold(0u16, |v, &c| {
                Some(v << 4 | (c as char).to_digit(16)? as u16)
            })?;
            n += 1;
        }
        if end == b.len() {
            break;
        }
        i = end + 1;
        if b.get(i) == Some(&b':') {
            if gap.is_some() {
                return None;
            }
            gap = Some(n);
            i += 1;
        }
    }
    match gap {
        None if n != 8 => return None,
        None => {}
        Some(_) if n > 7 => return None,
        Some(at) => {
            let after = n - at;
            groups.copy_within(at..n, 8 - after);
            groups[at..8 - after].fill(0);
        }
    }
    let mut octets = [0u8; 16];
    for (k, group) in groups.iter().enumerate() {
        octets[2 * k..2 * k + 2].copy_from_slice(&group.to_be_bytes());
    }
    Some(octets)
}

/// pppd keeps the last two `ms-dns` values; with one it is both primary and secondary.
#[inline(never)] // called twice
fn last_two(values: &[Ipv4Addr]) -> [Option<Ipv4Addr>; 2] {
    match values {
        [] => [None, None],
        [one] => [Some(*one), Some(*one)],
        [.., a, b] => [Some(*a), Some(*b)],
    }
}

impl<'s> Parser<'s> {
    fn new(ppp: &'s mut PppSettings, warnings: &'s mut Vec<ConfigWarning>) -> Parser<'s> {
        Parser {
            ppp,
            warnings,
            mppe: MppeOptions::default(),
            noccp: None,
            proxyarp: false,
            strip_domain: false,
            name_given: false,
            dns: Vec::new(),
            wins: Vec::new(),
        }
    }

    fn run(&mut self, path: &Path, text: &[u8], depth: usize) -> Result<(), ConfigError> {
        let mut words = Words::new(text);
        let mut buf = [0u8; MAX_WORD_LEN];
        let mut value = String::new();
        while let Some(word) = words.next_word(&mut buf) {
            let name = String::from_utf8_lossy(&buf[..word.len]).into_owned();
            let mut option = Current {
                words: &mut words,
                buf: &mut buf,
                path,
                line: word.line,
                name: &name,
                value: &mut value,
            };
            self.apply(&mut option, depth)?;
        }
        Ok(())
    }

    /// Applies one option, reading its value if it takes one. Not inlined into the loop of
    /// [`Self::run`], where LLVM would hoist and spill this match's constants (~1 KB).
    #[inline(never)]
    fn apply(&mut self, option: &mut Current, depth: usize) -> Result<(), ConfigError> {
        let o = option.name;
        let index = super::find_name(ALL_OPTIONS, o).unwrap_or(IGNORED_END);
        if index < FLAGS_END {
            return Ok(());
        }
        if index < WITH_VALUE_END {
            option.raw_value()?;
            return Ok(());
        }
        if index >= ACTIONS_END {
            return self.other(option, index - ACTIONS_END);
        }
        let action = OPTION_ACTIONS[index - WITH_VALUE_END];
        if action as u8 >= Action::OpenwrtMppe as u8 {
            option.value()?;
        }
        match action {
            Action::Name => {
                let len = option.raw_value()?;
                let name = core::str::from_utf8(&option.buf[..len])
                    .map_err(|_| option.err(format_args!("name is not valid UTF-8")))?;
                self.ppp.name.clear();
                self.ppp.name.push_str(name).map_err(|_| {
                    // The numbers in this file's messages are written out: a constant
                    // argument is code at the call.
                    const _: () = assert!(MAX_NAME_LEN == 64);
                    option.err(format_args!("name is longer than 64 bytes"))
                })?;
                self.name_given = true;
            }
            Action::NoAuth => self.warn(
                option,
                format_args!("noauth ignored: smolpptp always authenticates clients"),
            ),
            Action::RequireMschapV2 => {
                self.ppp.auth.allow_mschap_v2 = true;
                self.ppp.auth.require_auth = true;
            }
            Action::RefuseMschapV2 => {
                return Err(option.err(format_args!(
                    "{o} leaves no authentication method: smolpptp authenticates with \
                     MS-CHAPv2 only"
                )))
            }
            Action::OtherAuth => {
                return Err(option.err(format_args!(
                    "{o} is not supported: smolpptp authenticates with MS-CHAPv2 only, the \
                     one method that yields MPPE keys and that every PPTP client has; use \
                     require-mschap-v2"
                )))
            }
            Action::RequireMppe => self.mppe.require(true, true),
            Action::RequireMppe40 => self.mppe.require(true, false),
            Action::RequireMppe128 => self.mppe.require(false, true),
            Action::NoMppe => {
                self.mppe.explicit = true;
                self.mppe.allow_40 = false;
                self.mppe.allow_56 = false;
                self.mppe.allow_128 = false;
            }
            Action::NoMppe40 => self.mppe.allow_40 = false,
            Action::NoMppe56 => self.mppe.allow_56 = false,
            Action::NoMppe128 => self.mppe.allow_128 = false,
            Action::MppeStateful => self.mppe.stateful = Stateful::Allow,
            Action::NoMppeStateful => self.mppe.stateful = Stateful::Refuse,
            Action::OpenwrtMppe => {
                let list = &**option.value;
                self.openwrt_mppe(option, list)?;
            }
            Action::NoCcp => self.noccp = Some((option.path.to_path_buf(), option.line)),
            Action::MsDns | Action::MsWins => {
                // One push for the two (one inlined grow check).
                let a = option.address()?;
                if matches!(action, Action::MsDns) {
                    &mut self.dns
                } else {
                    &mut self.wins
                }
                .push(a)
            }
            Action::Mtu | Action::Mru => {
                let n = option.number()?;
                if !matches!(n, MIN_MRU..=MAX_MRU) {
                    const _: () = assert!(MIN_MRU == 128 && MAX_MRU == 16384);
                    return Err(option.err(format_args!("{o} {n} is outside 128..16384")));
                }
                let mut n = n as u16;
                if n > MAX_USEFUL_MRU {
                    const _: () = assert!(MAX_USEFUL_MRU == 1500);
                    self.warn(option, format_args!("{o} {n} lowered to 1500"));
                    n = MAX_USEFUL_MRU;
                }
                if matches!(action, Action::Mtu) {
                    self.ppp.mtu = n;
                } else {
                    self.ppp.mru = n;
                }
            }
            Action::LcpEchoInterval
            | Action::LcpEchoFailure
            | Action::Idle
            | Action::MaxConnect => {
                // One call for the four.
                let n = option.number()?;
                let ppp = &mut self.ppp;
                *match action {
                    Action::LcpEchoInterval => &mut ppp.lcp_echo_interval,
                    Action::LcpEchoFailure => &mut ppp.lcp_echo_failure,
                    Action::Idle => &mut ppp.idle,
                    _ => &mut ppp.maxconnect,
                } = n;
            }
            Action::Ipv6On => self.ppp.ipv6.enabled = true,
            Action::Ipv6Off => self.ppp.ipv6.enabled = false,
            Action::Ipv6Ids => {
                let v = &**option.value;
                // Either side may be left out.
                let (local, remote) = v.split_once(',').unwrap_or((v, ""));
                let ipv6 = &mut self.ppp.ipv6;
                for (which, s, id) in [
                    ("local", local, &mut ipv6.local_id),
                    ("remote", remote, &mut ipv6.remote_id),
                ] {
                    if s.is_empty() {
                        continue;
                    }
                    // The two messages from one format site.
                    *id = Some(interface_id(s).map_err(|e| {
                        let (illegal, why) = match e {
                            IdError::NotAddress => ("", " is not like ::1"),
                            IdError::Illegal => (
                                "illegal ",
                                " (the upper 64 bits must be zero, the lower ones not)",
                            ),
                        };
                        option.err(format_args!(
                            "ipv6: {illegal}{which} interface identifier '{s}'{why}"
                        ))
                    })?);
                }
            }
            Action::Debug => self.ppp.debug = true,
            Action::StripDomain => self.strip_domain = true,
            Action::ProxyArp => self.proxyarp = true,
            Action::NoProxyArp => self.proxyarp = false,
            Action::Plugin => {
                let v = &**option.value;
                return Err(option.err(format_args!(
                    "plugin {v}: pppd plugins are not supported (smolpptp authenticates \
                     from chap-secrets only)"
                )));
            }
            Action::File => {
                let v = &**option.value;
                if depth >= MAX_INCLUDE_DEPTH {
                    return Err(option.err(format_args!("file {v}: includes nested too deeply")));
                }
                let included = PathBuf::from(v);
                let text = crate::linux::file::read(&included).map_err(|e| {
                    option.err(format_args!(
                        "file {v}: cannot read: {}",
                        crate::linux::ErrorText(e)
                    ))
                })?;
                self.run(&included, &text, depth + 1)?;
            }
        }
        Ok(())
    }

    /// An option without its own handling: ignored with a warning, a tty speed or device, an
    /// address pair, or unknown.
    /// `ignored`: its index in `ignored_with_warning!`, or past its end.
    fn other(&mut self, option: &mut Current, ignored: usize) -> Result<(), ConfigError> {
        let o = option.name;
        if let Some(why) = super::split_on(IGNORED_WHY, '|').nth(ignored) {
            if ignored < IGNORED_TAKING_VALUE {
                option.raw_value()?;
            }
            self.warn(option, format_args!("{o} ignored: {why}"));
        } else if o.bytes().all(|c| c.is_ascii_digit()) || o.starts_with("/dev/") {
            // A tty speed or device: pptpd passes these to pppd itself.
        } else if o.contains(':')
            && o.bytes()
                .all(|c| c.is_ascii_digit() || c == b'.' || c == b':')
        {
            self.warn(
                option,
                format_args!("address pair '{o}' ignored: addresses come from localip/remoteip"),
            );
        } else {
            return Err(option.err(format_args!("unknown option '{o}'")));
        }
        Ok(())
    }

    /// OpenWrt's `mppe <sub,...>` from the MPPE-MPPC patch: `required`, `stateless`, `no40`,
    /// `no56`, `no128`, matched case-insensitively by prefix.
    fn openwrt_mppe(&mut self, option: &Current, list: &str) -> Result<(), ConfigError> {
        let mut m = MppeOptions {
            explicit: true,
            allow_40: true,
            allow_56: true,
            allow_128: true,
            optional: true,
            stateful: Stateful::Allow,
        };
        const SUBS: &str = names!("required", "stateless", "no40", "no56", "no128");
        for sub in super::split_on(list, ',') {
            let sub = sub.to_ascii_lowercase();
            // The first one `sub` is a prefix of.
            match super::split_on(SUBS, ' ')
                .position(|full| !sub.is_empty() && full.starts_with(sub.as_str()))
            {
                Some(0) => m.optional = false,
                Some(1) => m.stateful = Stateful::Refuse,
                Some(2) => m.allow_40 = false,
                Some(3) => m.allow_56 = false,
                Some(_) => m.allow_128 = false,
                None => {
                    return Err(option.err(format_args!(
                        "mppe: unknown sub-option '{sub}' (expected required, stateless, no40, \
                         no56, no128)"
                    )))
                }
            }
        }
        self.mppe = m;
        Ok(())
    }

    fn warn(&mut self, option: &Current, msg: fmt::Arguments<'_>) {
        ConfigWarning::push(self.warnings, option.path, Some(option.line), msg);
    }

    fn finish(self, path: &Path) -> Result<Flags, ConfigError> {
        self.ppp.mppe = self.mppe.policy();
        self.ppp.dns = last_two(&self.dns);
        self.ppp.wins = last_two(&self.wins);
        if let Some((noccp_path, line)) = &self.noccp {
            if self.ppp.mppe.required {
                return Err(ConfigError::at(
                    noccp_path,
                    Some(*line),
                    format_args!(
                        "noccp turns off CCP, which MPPE is negotiated in, but MPPE is required \
                         (require-mppe*, or smolpptp's default); remove noccp, or add nomppe to \
                         run unencrypted"
                    ),
                ));
            }
            self.ppp.mppe.allow_40 = false;
            self.ppp.mppe.allow_56 = false;
            self.ppp.mppe.allow_128 = false;
        }
        let m = self.ppp.mppe;
        if !(m.allow_40 || m.allow_56 || m.allow_128) {
            ConfigWarning::push(
                self.warnings,
                path,
                None,
                format_args!("MPPE is off: tunnel traffic will not be encrypted"),
            );
        } else if !m.required {
            ConfigWarning::push(
                self.warnings,
                path,
                None,
                format_args!("MPPE is optional: clients that do not ask for it run unencrypted"),
            );
        }
        Ok(Flags {
            proxyarp: self.proxyarp,
            chapms_strip_domain: self.strip_domain,
            name_given: self.name_given,
        })
    }
}

/// Parses options-file text (`path` is for messages; `file` includes are read from disk).
pub fn parse(path: &Path, text: &[u8]) -> Result<PppOptions, ConfigError> {
    let mut ppp = PppSettings::default();
    let mut warnings = Vec::new();
    let flags = parse_into(path, text, &mut ppp, &mut warnings)?;
    Ok(PppOptions {
        ppp,
        proxyarp: flags.proxyarp,
        chapms_strip_domain: flags.chapms_strip_domain,
        name_given: flags.name_given,
        warnings,
    })
}

/// [`parse`] into `ppp` (at its defaults), adding to `warnings`.
pub(super) fn parse_into(
    path: &Path,
    text: &[u8],
    ppp: &mut PppSettings,
    warnings: &mut Vec<ConfigWarning>,
) -> Result<Flags, ConfigError> {
    let mut parser = Parser::new(ppp, warnings);
    parser.run(path, text, 0)?;
    parser.finish(path)
}

/// Reads and parses an options file (pptpd: "PPP options file %s not readable") into `ppp`
/// (at its defaults), adding to `warnings`.
pub(super) fn parse_file_into(
    path: &Path,
    ppp: &mut PppSettings,
    warnings: &mut Vec<ConfigWarning>,
) -> Result<Flags, ConfigError> {
    let text = super::read_file(path, "PPP options file")?;
    parse_into(path, &text, ppp, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rand::{Random, XorShift};

    #[test]
    fn name_lists_match_their_tables() {
        let names = |list| super::super::split_on(list, ' ').collect::<Vec<_>>();
        let find = |o| super::super::find_name(ALL_OPTIONS, o);
        assert_eq!(names(option_names!()).len(), OPTION_ACTIONS.len());
        assert_eq!(names(harmless_flags!()).len(), 51);
        assert_eq!(names(harmless_with_value!()).len(), 31);
        assert_eq!(names(ignored_with_warning!()).len(), 7);
        assert_eq!(IGNORED_WHY.split('|').count(), 7);
        assert_eq!(names(ALL_OPTIONS).len(), IGNORED_END);
        assert!(names(ALL_OPTIONS)
            .iter()
            .all(|n| !n.is_empty() && !n.contains(' ')));
        // Each section where it belongs.
        assert_eq!(find("lock"), Some(0));
        assert_eq!(find("auth"), Some(FLAGS_END - 1));
        assert_eq!(find("asyncmap"), Some(FLAGS_END));
        assert_eq!(find("ipv6cp-max-failure"), Some(WITH_VALUE_END - 1));
        assert_eq!(find("name"), Some(WITH_VALUE_END));
        assert_eq!(find("file"), Some(ACTIONS_END - 1));
        assert_eq!(find("logfile"), Some(ACTIONS_END));
        assert_eq!(find("mp"), Some(IGNORED_END - 1));
        assert_eq!(find(""), None);
        assert_eq!(find("fil"), None);
        assert_eq!(find("name noauth"), None);
    }

    #[test]
    fn bad_value_messages() {
        assert_eq!(
            opts("mtu 12x").unwrap_err().to_string(),
            "/etc/ppp/options.pptpd:1: option 'mtu': '12x' is not a number"
        );
        assert_eq!(
            opts("ms-dns 1.2.3").unwrap_err().to_string(),
            "/etc/ppp/options.pptpd:1: option 'ms-dns': '1.2.3' is not an IPv4 address"
        );
    }

    #[test]
    fn option_names_have_their_actions() {
        // The table the two lists were made from.
        const OPTIONS: [(&str, Action); 52] = [
            ("name", Action::Name),
            ("noauth", Action::NoAuth),
            ("require-mschap-v2", Action::RequireMschapV2),
            ("+mschap-v2", Action::RequireMschapV2),
            ("refuse-mschap-v2", Action::RefuseMschapV2),
            ("-mschap-v2", Action::RefuseMschapV2),
            ("require-pap", Action::OtherAuth),
            ("require-chap", Action::OtherAuth),
            ("require-mschap", Action::OtherAuth),
            ("require-eap", Action::OtherAuth),
            ("+pap", Action::OtherAuth),
            ("+chap", Action::OtherAuth),
            ("+mschap", Action::OtherAuth),
            ("+eap", Action::OtherAuth),
            ("require-mppe", Action::RequireMppe),
            ("+mppe", Action::RequireMppe),
            ("require-mppe-40", Action::RequireMppe40),
            ("+mppe-40", Action::RequireMppe40),
            ("require-mppe-128", Action::RequireMppe128),
            ("+mppe-128", Action::RequireMppe128),
            ("nomppe", Action::NoMppe),
            ("-mppe", Action::NoMppe),
            ("nomppe-40", Action::NoMppe40),
            ("-mppe-40", Action::NoMppe40),
            ("nomppe-56", Action::NoMppe56),
            ("-mppe-56", Action::NoMppe56),
            ("nomppe-128", Action::NoMppe128),
            ("-mppe-128", Action::NoMppe128),
            ("mppe-stateful", Action::MppeStateful),
            ("nomppe-stateful", Action::NoMppeStateful),
            ("mppe", Action::OpenwrtMppe),
            ("noccp", Action::NoCcp),
            ("-ccp", Action::NoCcp),
            ("ms-dns", Action::MsDns),
            ("ms-wins", Action::MsWins),
            ("mtu", Action::Mtu),
            ("mru", Action::Mru),
            ("lcp-echo-interval", Action::LcpEchoInterval),
            ("lcp-echo-failure", Action::LcpEchoFailure),
            ("idle", Action::Idle),
            ("+ipv6", Action::Ipv6On),
            ("noipv6", Action::Ipv6Off),
            ("-ipv6", Action::Ipv6Off),
            ("ipv6", Action::Ipv6Ids),
            ("maxconnect", Action::MaxConnect),
            ("debug", Action::Debug),
            ("-d", Action::Debug),
            ("chapms-strip-domain", Action::StripDomain),
            ("proxyarp", Action::ProxyArp),
            ("noproxyarp", Action::NoProxyArp),
            ("plugin", Action::Plugin),
            ("file", Action::File),
        ];
        for (i, (name, action)) in OPTIONS.iter().enumerate() {
            let index = super::super::find_name(ALL_OPTIONS, name).unwrap();
            assert_eq!(index, WITH_VALUE_END + i, "{name}");
            assert_eq!(OPTION_ACTIONS[i] as u8, *action as u8, "{name}");
        }
    }

    fn opts(text: &str) -> Result<PppOptions, ConfigError> {
        parse(Path::new("/etc/ppp/options.pptpd"), text.as_bytes())
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    const DEBIAN: &str = "name pptpd\nrefuse-pap\nrefuse-chap\nrefuse-mschap\n\
        require-mschap-v2\nrequire-mppe-128\nproxyarp\nnodefaultroute\nlock\nnobsdcomp\n\
        novj\nnovjccomp\nnologfd\n";

    const OPENWRT: &str = "#debug\n#logfile /tmp/pptp-server.log\nauth\n\
        name \"pptp-server\"\nlcp-echo-failure 3\nlcp-echo-interval 60\ndefault-asyncmap\n\
        mtu 1482\nmru 1482\nnobsdcomp\nnodeflate\n#noproxyarp\n#nomppc\nrequire-mschap-v2\n\
        refuse-chap\nrefuse-mschap\nrefuse-eap\nrefuse-pap\n#ms-dns 172.16.1.1\n\
        #plugin radius.so\nmppe required,no40,no56,stateless\n";

    #[test]
    fn ipv6_parser_matches_core() {
        let check = |s: &str| {
            let core = s.parse::<core::net::Ipv6Addr>().ok().map(|a| a.octets());
            assert_eq!(parse_ipv6(s), core, "{s:?}");
        };
        for s in [
            "",
            "::",
            ":::",
            "::1",
            "1::",
            "1:::",
            ":1::2",
            "1::2::3",
            "::1:",
            "fe80::1",
            "1:2:3:4:5:6:7:8",
            "1:2:3:4:5:6:7:8:9",
            "1:2:3:4:5:6:7::",
            "::1:2:3:4:5:6:7",
            "::1:2:3:4:5:6:7:8",
            "1:2:3:4:5:6:7:8::",
            "::1.2.3.4",
            "1.2.3.4::",
            "::ffff:1.2.3.4",
            "1:2:3:4:5:6:1.2.3.4",
            "1:2:3:4:5:1.2.3.4",
            "1:2:3:4:5:1.2.3.4:7",
            "1:2:3:4:5::1.2.3.4",
            "1:2:3:4:5:6::1.2.3.4",
            "::1.2.3.4:5",
            "::1.2.3.456",
            "::01.2.3.4",
            "::12345",
            "::dead:BEEF",
            "::+1",
            " ::1",
            "::1 ",
            "1.2.3.4",
            "::1.2.3",
            "::0000:0001",
            "::00000",
        ] {
            check(s);
        }
        let mut rng = XorShift(0x1b6);
        let alphabet = b"0123456789abcdefABCDEFx:.:::+ ";
        for _ in 0..20000 {
            let len = (rng.next_u32() % 24) as usize;
            let s: String = (0..len)
                .map(|_| alphabet[rng.next_u32() as usize % alphabet.len()] as char)
                .collect();
            check(&s);
            // And strings built from plausible pieces, which reach the valid shapes.
            let pieces = [
                "",
                "0",
                "1",
                "aB",
                "ffff",
                "00000",
                "1.2.3.4",
                "256.1.1.1",
                "x",
            ];
            let count = rng.next_u32() % 10;
            let s: Vec<&str> = (0..count)
                .map(|_| pieces[rng.next_u32() as usize % pieces.len()])
                .collect();
            check(&s.join(":"));
        }
    }

    #[test]
    fn ipv6_options() {
        let o = opts(DEBIAN).unwrap();
        assert!(!o.ppp.ipv6.enabled, "off by default");
        let o = opts("+ipv6\nipv6 ::1,::dead:beef\n").unwrap();
        assert!(o.ppp.ipv6.enabled);
        assert_eq!(o.ppp.ipv6.local_id, Some([0, 0, 0, 0, 0, 0, 0, 1]));
        assert_eq!(
            o.ppp.ipv6.remote_id,
            Some([0, 0, 0, 0, 0xDE, 0xAD, 0xBE, 0xEF])
        );
        let o = opts("+ipv6\nipv6 ,::2\nnoipv6\nipv6cp-restart 3\n").unwrap();
        assert!(!o.ppp.ipv6.enabled);
        assert_eq!(o.ppp.ipv6.local_id, None);
        assert_eq!(o.ppp.ipv6.remote_id, Some([0, 0, 0, 0, 0, 0, 0, 2]));
        assert!(o.warnings.is_empty(), "{:?}", o.warnings);
        for bad in ["ipv6 fe80::1", "ipv6 ::", "ipv6 ::1,1.2.3.4", "ipv6"] {
            assert!(opts(bad).is_err(), "{bad}");
        }
        assert_eq!(
            opts("ipv6 fe80::1").unwrap_err().message,
            "ipv6: illegal local interface identifier 'fe80::1' (the upper 64 bits must be \
             zero, the lower ones not)"
        );
        assert_eq!(
            opts("ipv6 ::1,1.2.3.4").unwrap_err().message,
            "ipv6: remote interface identifier '1.2.3.4' is not like ::1"
        );
    }

    #[test]
    fn debian_options() {
        let o = opts(DEBIAN).unwrap();
        assert_eq!(o.ppp.name.as_str(), "pptpd");
        assert!(o.name_given);
        assert_eq!(o.ppp.mppe, MppePolicy::default());
        assert!(o.proxyarp);
        assert!(o.warnings.is_empty(), "{:?}", o.warnings);
    }

    #[test]
    fn openwrt_options() {
        let o = opts(OPENWRT).unwrap();
        assert_eq!(o.ppp.name.as_str(), "pptp-server");
        assert_eq!((o.ppp.mtu, o.ppp.mru), (1482, 1482));
        assert_eq!((o.ppp.lcp_echo_interval, o.ppp.lcp_echo_failure), (60, 3));
        assert_eq!(
            o.ppp.mppe,
            MppePolicy {
                required: true,
                allow_40: false,
                allow_56: false,
                allow_128: true,
                stateful: Stateful::Refuse
            }
        );
        assert!(!o.ppp.debug);
        assert!(o.warnings.is_empty(), "{:?}", o.warnings);
    }

    #[test]
    fn mppe_options_follow_pppd() {
        let p = |t: &str| opts(t).unwrap().ppp.mppe;
        assert_eq!(p(""), MppePolicy::default());
        let m = p("require-mppe");
        assert!(m.required && m.allow_40 && m.allow_128 && !m.allow_56);
        let m = p("require-mppe-40");
        assert!(m.required && m.allow_40 && !m.allow_128);
        let m = p("require-mppe-40 require-mppe-128");
        assert!(m.allow_40 && m.allow_128);
        let m = p("require-mppe nomppe-40");
        assert!(m.required && !m.allow_40 && m.allow_128);
        assert_eq!(p("mppe-stateful").stateful, Stateful::Allow);
        assert_eq!(
            p("mppe-stateful nomppe-stateful").stateful,
            Stateful::Refuse
        );
        let off = opts("nomppe").unwrap();
        assert!(!off.ppp.mppe.required && !off.ppp.mppe.allow_128);
        assert!(off.warnings[0].message.contains("MPPE is off"));
        let m = p("mppe no40,NO56");
        assert!(!m.required && m.allow_128 && !m.allow_40 && !m.allow_56);
        assert_eq!(m.stateful, Stateful::Allow);
        let m = p("mppe req,stateless");
        assert!(m.required && m.allow_40 && m.allow_56 && m.allow_128);
        assert_eq!(m.stateful, Stateful::Refuse);
        let e = opts("\nmppe required,fast\n").unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(opts("mppe required,").is_err());
    }

    #[test]
    fn noccp_conflicts_with_required_mppe() {
        let e = opts("require-mppe-128\nnoccp\n").unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(e.message.contains("noccp"));
        let o = opts("noccp\nnomppe\n").unwrap();
        assert!(!o.ppp.mppe.allow_128);
    }

    #[test]
    fn dns_and_wins_keep_the_last_two() {
        let o = opts("ms-dns 10.0.0.1").unwrap();
        assert_eq!(o.ppp.dns, [Some(ip("10.0.0.1")), Some(ip("10.0.0.1"))]);
        let o = opts(
            "ms-dns 10.0.0.1 ms-dns 10.0.0.2 ms-dns 10.0.0.3\nms-wins 10.0.0.9\nms-wins 10.0.0.8",
        )
        .unwrap();
        assert_eq!(o.ppp.dns, [Some(ip("10.0.0.2")), Some(ip("10.0.0.3"))]);
        assert_eq!(o.ppp.wins, [Some(ip("10.0.0.9")), Some(ip("10.0.0.8"))]);
        assert_eq!(opts("").unwrap().ppp.dns, [None, None]);
        let e = opts("ms-dns dns.example").unwrap_err();
        assert!(e.message.contains("not an IPv4 address"));
    }

    #[test]
    fn numbers_and_limits() {
        let o = opts("mtu 1400 mru 0x578 idle 600 lcp-echo-interval 030 debug maxconnect 3600")
            .unwrap();
        assert_eq!((o.ppp.mtu, o.ppp.mru, o.ppp.idle), (1400, 1400, 600));
        assert_eq!(o.ppp.maxconnect, 3600);
        assert_eq!(o.ppp.lcp_echo_interval, 24);
        assert!(o.ppp.debug);
        let o = opts("mtu 9000").unwrap();
        assert_eq!(o.ppp.mtu, 1500);
        assert_eq!(o.warnings.len(), 1);
        assert!(opts("mtu 100").is_err());
        assert!(opts("mru 1500x").is_err());
        let e = opts("lock\nmtu").unwrap_err();
        assert_eq!(
            e.to_string(),
            "/etc/ppp/options.pptpd:2: option 'mtu' needs a value"
        );
    }

    #[test]
    fn auth_options() {
        assert!(opts("auth refuse-pap refuse-chap refuse-mschap refuse-eap").is_ok());
        for bad in [
            "require-pap",
            "require-chap",
            "require-mschap",
            "require-eap",
            "refuse-mschap-v2",
        ] {
            let e = opts(&format!("auth\n{bad}\n")).unwrap_err();
            assert_eq!(e.line, Some(2), "{bad}");
            assert!(e.message.starts_with(bad), "{}", e.message);
        }
        let o = opts("noauth").unwrap();
        assert!(o.ppp.auth.require_auth);
        assert!(o.warnings[0].message.contains("noauth"));
    }

    #[test]
    fn unknown_options_and_plugins_are_errors() {
        let e = opts("lock\n# comment\n\nfoo bar\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "/etc/ppp/options.pptpd:4: unknown option 'foo'"
        );
        let e = opts("plugin radius.so\n").unwrap_err();
        assert!(e.message.contains("plugins are not supported"));
    }

    #[test]
    fn harmless_and_ignored_options() {
        let o = opts(
            "lock nobsdcomp nodeflate novj novjccomp proxyarp nodefaultroute nologfd noipx \
             default-asyncmap hide-password crtscts asyncmap 0 modem dump logfile /tmp/x \
             ipparam x 115200 10.0.0.1: chapms-strip-domain",
        )
        .unwrap();
        assert!(o.proxyarp && o.chapms_strip_domain);
        assert_eq!(o.warnings.len(), 2, "{:?}", o.warnings);
    }

    #[test]
    fn name_rules() {
        assert!(opts(&format!("name {}", "n".repeat(65))).is_err());
        assert_eq!(
            opts("name 'my server'").unwrap().ppp.name.as_str(),
            "my server"
        );
        assert!(!opts("").unwrap().name_given);
    }

    #[test]
    fn file_includes() {
        let dir = std::env::temp_dir().join(format!("smolpptp-opt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let inc = dir.join("inc");
        std::fs::write(&inc, "ms-dns 10.1.1.1\n\nbogus\n").unwrap();
        let e = opts(&format!("file {}\n", inc.display())).unwrap_err();
        assert_eq!(e.path, inc);
        assert_eq!(e.line, Some(3));
        std::fs::write(&inc, "ms-dns 10.1.1.1\n").unwrap();
        let o = opts(&format!("file {}\n", inc.display())).unwrap();
        assert_eq!(o.ppp.dns[0], Some(ip("10.1.1.1")));
        std::fs::write(&inc, format!("file {}\n", inc.display())).unwrap();
        assert!(opts(&format!("file {}\n", inc.display())).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = XorShift(0x0915);
        let words: [&[u8]; 12] = [
            b"mtu ",
            b"1400 ",
            b"mppe ",
            b"required,no40 ",
            b"ms-dns ",
            b"10.0.0.1 ",
            b"noccp ",
            b"nomppe ",
            b"\"",
            b"\\",
            b"#",
            b"\n",
        ];
        for round in 0..2000 {
            let mut text = Vec::new();
            for _ in 0..(rng.next_u32() % 16) {
                if round % 2 == 0 {
                    text.extend_from_slice(words[(rng.next_u32() % 12) as usize]);
                } else {
                    text.push(rng.next_u32() as u8);
                }
            }
            if let Ok(o) = parse(Path::new("x"), &text) {
                assert!(o.ppp.mtu >= 128 && o.ppp.mtu <= 1500);
            }
        }
    }
}
