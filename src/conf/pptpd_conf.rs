//! `/etc/pptpd.conf`, parsed the way pptpd parses it (`configfile.c`, `pptpd.c`), plus
//! smolpptp's own keywords for what pptpd left to pppd and the kernel.
//!
//! pptpd's rules: one `keyword value` per line; the first line with a keyword wins; keywords
//! are case-sensitive; `#` is a comment only as the first character of a line (no inline
//! comments); a line starting with a space or TAB is ignored; lines over 510 bytes are
//! ignored; unknown keywords are ignored (we warn). Numbers go through `atoi`, so
//! `connections 10 # x` is 10.
//!
//! Deliberate differences, each for the admin's benefit:
//! - `stimeout` in the file is honoured (pptpd's check made it dead code; only `-t` worked);
//! - `connections` above this build's `MAX_SESSIONS` is an error instead of a silent cap;
//! - `delegate`, `bcrelay` and `vrf` are accepted with a warning and ignored;
//! - a trailing CR (a file edited on Windows) is dropped from values.

use core::fmt;
use core::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use smoltcp::wire::Ipv4Cidr;

use super::address_spec::{self, SpecError};
use super::error::{ConfigError, ConfigWarning};
use super::user_limits;
use super::{Backend, DaemonConfig};
use crate::limits::MAX_SESSIONS;
use crate::settings::{Settings, MAX_USER_LIMITS};

/// pptpd's `CONNECTIONS_DEFAULT`.
pub const PPTPD_DEFAULT_CONNECTIONS: usize = 100;
/// pptpd's compiled-in pools, used when the file has no `localip`/`remoteip` (Debian's
/// shipped pptpd.conf has neither).
pub const PPTPD_DEFAULT_LOCALIP: &str = "192.168.0.1-100";
pub const PPTPD_DEFAULT_REMOTEIP: &str = "192.168.1.1-100";
/// pptpd's `MAX_CONFIG_STRING_SIZE` (512) less the newline and NUL of its `fgets`.
const MAX_LINE_LEN: usize = 510;
// The messages write these numbers out.
const _: () = assert!(MAX_LINE_LEN == 510 && MAX_USER_LIMITS == 32);

/// Every keyword this parser reads; anything else is ignored with a warning. A keyword's
/// number indexes [`KEYWORDS`] (its name) and the lines found for it.
#[derive(Clone, Copy)]
enum Keyword {
    // pptpd
    Option,
    Debug,
    Stimeout,
    Noipparam,
    Logwtmp,
    Bcrelay,
    Delegate,
    Connections,
    Localip,
    Remoteip,
    Listen,
    Vrf,
    Pidfile,
    // Accepted and ignored, as by pptpd: never looked up.
    #[allow(dead_code)]
    Speed,
    #[allow(dead_code)]
    Ppp,
    // smolpptp
    Backend,
    Interface,
    Firewall,
    Forwarding,
    Wan,
    Address,
    ChapSecrets,
    MaxPerSource,
    AuthThrottle,
    MssClamp,
    SingleSession,
    SessionTimeout,
    RateLimit,
    UserLimit,
    ControlSocket,
}

/// The keywords' names, in [`Keyword`] order.
const KEYWORDS: &str = names!(
    // pptpd
    "option",
    "debug",
    "stimeout",
    "noipparam",
    "logwtmp",
    "bcrelay",
    "delegate",
    "connections",
    "localip",
    "remoteip",
    "listen",
    "vrf",
    "pidfile",
    "speed",
    "ppp",
    // smolpptp
    "backend",
    "interface",
    "firewall",
    "forwarding",
    "wan",
    "address",
    "chap-secrets",
    "max-per-source",
    "auth-throttle",
    "mss-clamp",
    "single-session",
    "session-timeout",
    "rate-limit",
    "user-limit",
    "control-socket",
);

const KEYWORD_COUNT: usize = Keyword::ControlSocket as usize + 1;

impl Keyword {
    fn name(self) -> &'static str {
        super::split_on(KEYWORDS, ' ')
            .nth(self as usize)
            .unwrap_or_default()
    }
}

/// What pptpd.conf says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PptpdConf {
    /// `localip`, `remoteip`, `connections`, `stimeout`; `ppp` is left at its defaults.
    pub settings: Settings,
    pub daemon: DaemonConfig,
    /// `option`: the pppd options file (path, line).
    pub option: Option<(PathBuf, u32)>,
    pub warnings: Vec<ConfigWarning>,
}

/// C `atoi`: optional leading whitespace and sign, then digits; anything else stops it.
fn atoi(s: &str) -> i64 {
    let s = s.as_bytes();
    let start = s
        .iter()
        .position(|c| !matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c))
        .unwrap_or(s.len());
    let s = &s[start..];
    let (negative, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut n: i64 = 0;
    for &c in digits.iter().take_while(|c| c.is_ascii_digit()) {
        n = n.saturating_mul(10).saturating_add(i64::from(c - b'0'));
    }
    if negative {
        -n
    } else {
        n
    }
}

/// Interface names: what the kernel accepts (IFNAMSIZ 16 with the NUL).
fn valid_ifname(name: &str) -> bool {
    !name.is_empty()
        && name.len() < 16
        && name != "."
        && name != ".."
        && !name
            .bytes()
            .any(|c| c == b'/' || c == b':' || c.is_ascii_whitespace() || c == 0)
}

fn on_off(value: &str) -> Option<bool> {
    // One list, not a match: its search is shared code, a match compares name by name.
    super::find_name(
        names!("on", "yes", "true", "1", "off", "no", "false", "0"),
        value,
    )
    .map(|i| i < 4)
}

/// `a.b.c.d/n`, or a bare address meaning /32.
fn parse_cidr(value: &str) -> Option<Ipv4Cidr> {
    let (addr, bits) = value.split_once('/').unwrap_or((value, "32"));
    // u32 like the other numbers here (one parser in the binary).
    let bits = bits.parse::<u32>().ok().filter(|&b| b <= 32)?;
    Some(Ipv4Cidr::new(addr.parse().ok()?, bits as u8))
}

/// pptpd's separators: space and TAB.
fn is_blank(c: &u8) -> bool {
    *c == b' ' || *c == b'\t'
}

#[derive(Clone, Copy)]
struct Line<'a> {
    value: &'a str,
    line: u32,
}

/// A message from [`user_limits`], located at the line.
#[inline(never)]
fn located(path: &Path, l: &Line, message: String) -> ConfigError {
    ConfigError::new(path, Some(l.line), message)
}

/// `"{keyword} must be {expected}, not '{value}'"` at the line (see [`user_limits::must_be`]).
#[inline(never)]
fn must_be(path: &Path, l: &Line, keyword: Keyword, expected: &str) -> ConfigError {
    located(
        path,
        l,
        user_limits::must_be(keyword.name(), expected, l.value),
    )
}

/// An [`address_spec`] error, located.
#[inline(never)]
fn spec_error(
    path: &Path,
    line: Option<u32>,
    keyword: &str,
    is_remote: bool,
    e: SpecError,
) -> ConfigError {
    let at = |msg| ConfigError::at(path, line, msg);
    let side = if is_remote { "remote" } else { "local" };
    // The text the message quotes.
    let text = match &e {
        SpecError::BadAddress(t) | SpecError::BadRange(t) => t,
        // ASCII digits and dots.
        SpecError::BadRangeAddress(t, len) => {
            core::str::from_utf8(&t[..usize::from(*len)]).unwrap_or_default()
        }
        _ => "",
    };
    match e {
        SpecError::BadAddress(_) | SpecError::BadRangeAddress(..) => {
            at(format_args!("Bad IP address ({text}) in {keyword}"))
        }
        SpecError::BadRange(_) => at(format_args!("Bad {side} IP range: {text}")),
        SpecError::Duplicate(a) => at(format_args!(
            "Remote IP address {a} in config is a duplicate"
        )),
        SpecError::TooManyRanges => at(format_args!("{keyword} has too many separate ranges")),
    }
}

/// Parses pptpd.conf text. `path` is used in messages; `resolve` looks up host names in
/// `localip`/`remoteip`/`listen` (the daemon passes [`address_spec::resolve_host`]).
pub fn parse(
    path: &Path,
    text: &[u8],
    resolve: &mut dyn FnMut(&str) -> Option<Ipv4Addr>,
) -> Result<PptpdConf, ConfigError> {
    let mut settings = Settings::default();
    let mut daemon = DaemonConfig::default();
    let mut warnings = Vec::new();
    let option = parse_into(
        path,
        text,
        resolve,
        &mut settings,
        &mut daemon,
        &mut warnings,
    )?;
    Ok(PptpdConf {
        settings,
        daemon,
        option,
        warnings,
    })
}

/// [`parse`] into defaults the caller made (`Settings::default()`,
/// `DaemonConfig::default()`), adding to `warnings`: nothing large is moved. The `option`
/// line's path and line number.
pub(super) fn parse_into(
    path: &Path,
    text: &[u8],
    resolve: &mut dyn FnMut(&str) -> Option<Ipv4Addr>,
    settings: &mut Settings,
    daemon: &mut DaemonConfig,
    warnings: &mut Vec<ConfigWarning>,
) -> Result<Option<(PathBuf, u32)>, ConfigError> {
    let lossy = String::from_utf8_lossy(text);
    // The line of each keyword, by its number.
    let mut found: [Option<Line>; KEYWORD_COUNT] = [None; KEYWORD_COUNT];
    // `user-limit` may appear once per user.
    let mut user_lines: Vec<Line> = Vec::new();
    for (index, raw) in super::split_on(&lossy, '\n').enumerate() {
        let line = u32::try_from(index + 1).unwrap_or(u32::MAX);
        if raw.is_empty() || raw.starts_with('#') {
            continue;
        }
        if raw.len() > MAX_LINE_LEN {
            ConfigWarning::push(
                warnings,
                path,
                Some(line),
                // The number written out: a constant argument is code at the call.
                format_args!("line longer than 510 bytes ignored (as pptpd does)"),
            );
            continue;
        }
        if raw.as_bytes().first().is_some_and(is_blank) {
            if !raw.trim().is_empty() {
                ConfigWarning::push(
                    warnings,
                    path,
                    Some(line),
                    format_args!("line starts with a space: ignored (as pptpd does)"),
                );
            }
            continue;
        }
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        // `keyword value`, the value without the blanks around it (bytes: blanks are ASCII).
        let bytes = raw.as_bytes();
        let split = bytes.iter().position(is_blank).unwrap_or(bytes.len());
        let start = split + bytes[split..].iter().take_while(|c| is_blank(c)).count();
        let end = bytes.len()
            - bytes[start..]
                .iter()
                .rev()
                .take_while(|c| is_blank(c))
                .count();
        let (keyword, value) = (&raw[..split], &raw[start..end]);
        if keyword.is_empty() {
            continue;
        }
        let Some(index) = super::find_name(KEYWORDS, keyword) else {
            ConfigWarning::push(
                warnings,
                path,
                Some(line),
                format_args!("unknown keyword '{keyword}' ignored"),
            );
            continue;
        };
        if index == Keyword::UserLimit as usize {
            user_lines.push(Line { value, line });
            continue;
        }
        // The first occurrence wins (OpenWrt's init script appends lines that an earlier
        // one in the admin's file must beat).
        found[index].get_or_insert(Line { value, line });
    }
    let get = |k: Keyword| found[k as usize].as_ref();
    let err = |l: &Line, msg: fmt::Arguments<'_>| ConfigError::at(path, Some(l.line), msg);
    let warn = |warnings: &mut Vec<ConfigWarning>, l: &Line, msg: fmt::Arguments<'_>| {
        ConfigWarning::push(warnings, path, Some(l.line), msg);
    };

    // connections
    let mut connections = PPTPD_DEFAULT_CONNECTIONS.min(MAX_SESSIONS);
    if let Some(l) = get(Keyword::Connections) {
        let n = atoi(l.value);
        if n <= 0 {
            warn(
                warnings,
                l,
                format_args!(
                    "connections '{}' is not a positive number: using pptpd's default {}",
                    l.value, connections
                ),
            );
        } else if n > MAX_SESSIONS as i64 {
            // Positive here: printed as u64, whose formatter the binary has anyway (i64's
            // would be one more).
            let n = n as u64;
            return Err(err(
                l,
                format_args!(
                    "connections {n} is more than this build supports ({MAX_SESSIONS}); lower it \
                     or rebuild with SMOLPPTP_MAX_SESSIONS={n}"
                ),
            ));
        } else {
            connections = n as usize;
        }
    }

    // stimeout
    if let Some(l) = get(Keyword::Stimeout) {
        let n = atoi(l.value);
        match u32::try_from(n) {
            Ok(n) if n > 0 => settings.stimeout = n,
            _ => warn(
                warnings,
                l,
                format_args!("stimeout '{}' is not a positive number: using 10", l.value),
            ),
        }
    }

    // max-per-source: 0 turns the limit off.
    if let Some(l) = get(Keyword::MaxPerSource) {
        let n = atoi(l.value);
        if n < 0 || !l.value.as_bytes().first().is_some_and(u8::is_ascii_digit) {
            return Err(must_be(
                path,
                l,
                Keyword::MaxPerSource,
                "a number (0 = no limit)",
            ));
        }
        settings.max_per_source = usize::try_from(n).unwrap_or(usize::MAX);
    }
    if let Some(l) = get(Keyword::AuthThrottle) {
        settings.auth_throttle = on_off(l.value)
            .ok_or_else(|| must_be(path, l, Keyword::AuthThrottle, "'on' or 'off'"))?;
    }

    parse_user_limits(settings, path, &get, &user_lines, &err)?;

    // remoteip first, then localip, as pptpd does: each may lower `connections`.
    for is_remote in [true, false] {
        let (keyword, default, pool) = if is_remote {
            (
                Keyword::Remoteip,
                PPTPD_DEFAULT_REMOTEIP,
                &mut settings.remote,
            )
        } else {
            (Keyword::Localip, PPTPD_DEFAULT_LOCALIP, &mut settings.local)
        };
        let defaulted;
        let l = match get(keyword) {
            Some(l) => l,
            None => {
                defaulted = Line {
                    value: default,
                    line: 0,
                };
                ConfigWarning::push(
                    warnings,
                    path,
                    None,
                    format_args!(
                        "no {}: using pptpd's built-in default {default}",
                        keyword.name()
                    ),
                );
                &defaulted
            }
        };
        let line = (l.line > 0).then_some(l.line);
        let keyword = keyword.name();
        let limit_reached =
            address_spec::parse_into(l.value, connections, is_remote, resolve, pool)
                .map_err(|e| spec_error(path, line, keyword, is_remote, e))?;
        // Cutting pptpd's built-in 100-address pools to this build's limit is no news.
        if limit_reached && line.is_some() {
            ConfigWarning::push(
                warnings,
                path,
                line,
                format_args!(
                    "connections limit ({connections}) reached, extra IP addresses ignored"
                ),
            );
        }
        let count = pool.len();
        let shared_local = !is_remote && count == 1;
        if !shared_local && connections > count {
            ConfigWarning::push(
                warnings,
                path,
                line,
                format_args!(
                    "Maximum of {connections} connections reduced to {count}, not enough IP \
                     addresses given in {keyword}"
                ),
            );
            connections = count;
        }
    }
    settings.connections = connections;

    // Accepted and ignored with a warning: one call for the three.
    for (keyword, why) in [
        (
            Keyword::Delegate,
            ": addresses come from localip/remoteip (and per-user addresses in chap-secrets); \
             ignored",
        ),
        (Keyword::Bcrelay, " (no broadcast relay): ignored"),
        (Keyword::Vrf, ": ignored"),
    ] {
        if let Some(l) = get(keyword) {
            warn(
                warnings,
                l,
                format_args!("{} is not supported{why}", keyword.name()),
            );
        }
    }
    daemon.logwtmp = get(Keyword::Logwtmp).is_some();
    daemon.noipparam = get(Keyword::Noipparam).is_some();
    daemon.debug = get(Keyword::Debug).is_some();
    if let Some(l) = get(Keyword::Listen) {
        let a = address_spec::inet_addr(l.value)
            .or_else(|| resolve(l.value))
            .ok_or_else(|| err(l, format_args!("Invalid listening address: {}", l.value)))?;
        daemon.listen = Some(a);
    }
    if let Some(l) = get(Keyword::Pidfile) {
        if l.value.is_empty() {
            return Err(err(l, format_args!("pidfile needs a path")));
        }
        daemon.pidfile = PathBuf::from(l.value);
    }
    let option = match get(Keyword::Option) {
        Some(l) if l.value.is_empty() => {
            return Err(err(
                l,
                format_args!("option needs the path of a pppd options file"),
            ))
        }
        Some(l) => Some((PathBuf::from(l.value), l.line)),
        None => None,
    };

    if let Some(l) = get(Keyword::Backend) {
        daemon.backend = match super::find_name(names!("tun", "raw"), l.value) {
            Some(0) => Backend::Tun,
            Some(_) => Backend::Raw,
            None => return Err(must_be(path, l, Keyword::Backend, "'tun' or 'raw'")),
        };
    }
    for (keyword, field) in [
        (Keyword::Interface, &mut daemon.interface),
        (Keyword::Wan, &mut daemon.wan),
    ] {
        if let Some(l) = get(keyword) {
            if !valid_ifname(l.value) {
                return Err(err(
                    l,
                    format_args!("{}: '{}' is not an interface name", keyword.name(), l.value),
                ));
            }
            *field = Some(l.value.to_string());
        }
    }
    for (keyword, field) in [
        (Keyword::Firewall, &mut daemon.firewall),
        (Keyword::Forwarding, &mut daemon.forwarding),
    ] {
        if let Some(l) = get(keyword) {
            *field = on_off(l.value).ok_or_else(|| must_be(path, l, keyword, "'on' or 'off'"))?;
        }
    }
    if let Some(l) = get(Keyword::Address) {
        daemon.address = Some(parse_cidr(l.value).ok_or_else(|| {
            must_be(
                path,
                l,
                Keyword::Address,
                "an IPv4 address/prefix such as 10.0.0.1/24",
            )
        })?);
    }
    if let Some(l) = get(Keyword::ChapSecrets) {
        if l.value.is_empty() {
            return Err(err(l, format_args!("chap-secrets needs a path")));
        }
        daemon.chap_secrets = PathBuf::from(l.value);
    }
    if let Some(l) = get(Keyword::ControlSocket) {
        daemon.control_socket = match l.value {
            "" => {
                return Err(err(
                    l,
                    format_args!("control-socket needs a path, or 'none'"),
                ))
            }
            "none" | "off" => None,
            path => Some(PathBuf::from(path)),
        };
    }

    Ok(option)
}

/// `mss-clamp`, `single-session`, `session-timeout`, `rate-limit` and `user-limit`
/// (see [`user_limits`]).
fn parse_user_limits<'a>(
    settings: &mut Settings,
    path: &Path,
    get: &dyn Fn(Keyword) -> Option<&'a Line<'a>>,
    user_lines: &[Line],
    err: &dyn Fn(&Line, fmt::Arguments<'_>) -> ConfigError,
) -> Result<(), ConfigError> {
    if let Some(l) = get(Keyword::MssClamp) {
        settings.mss_clamp = user_limits::mss_clamp(l.value).map_err(|m| located(path, l, m))?;
    }
    let global = &mut settings.user_limits.default;
    if let Some(l) = get(Keyword::SingleSession) {
        global.single_session =
            Some(user_limits::single_session(l.value).map_err(|m| located(path, l, m))?);
    }
    if let Some(l) = get(Keyword::SessionTimeout) {
        global.session_timeout = Some(
            user_limits::seconds(Keyword::SessionTimeout.name(), l.value)
                .map_err(|m| located(path, l, m))?,
        );
    }
    if let Some(l) = get(Keyword::RateLimit) {
        global.rate = user_limits::rate(l.value).map_err(|m| located(path, l, m))?;
    }
    for l in user_lines {
        let mut user = Default::default();
        user_limits::user_limit_into(l.value, &mut user).map_err(|m| located(path, l, m))?;
        let name = &user.0;
        let users = &mut settings.user_limits.users;
        if users.iter().any(|(n, _)| n == name) {
            return Err(err(
                l,
                format_args!("a second user-limit line for '{name}'"),
            ));
        }
        users
            .push(user)
            .map_err(|_| err(l, format_args!("more than 32 user-limit lines")))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rand::{Random, XorShift};

    fn no_dns(_: &str) -> Option<Ipv4Addr> {
        None
    }

    fn conf(text: &str) -> Result<PptpdConf, ConfigError> {
        parse(Path::new("/etc/pptpd.conf"), text.as_bytes(), &mut no_dns)
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn keyword_numbers_match_names() {
        for (keyword, name) in [
            (Keyword::Option, "option"),
            (Keyword::Debug, "debug"),
            (Keyword::Stimeout, "stimeout"),
            (Keyword::Noipparam, "noipparam"),
            (Keyword::Logwtmp, "logwtmp"),
            (Keyword::Bcrelay, "bcrelay"),
            (Keyword::Delegate, "delegate"),
            (Keyword::Connections, "connections"),
            (Keyword::Localip, "localip"),
            (Keyword::Remoteip, "remoteip"),
            (Keyword::Listen, "listen"),
            (Keyword::Vrf, "vrf"),
            (Keyword::Pidfile, "pidfile"),
            (Keyword::Speed, "speed"),
            (Keyword::Ppp, "ppp"),
            (Keyword::Backend, "backend"),
            (Keyword::Interface, "interface"),
            (Keyword::Firewall, "firewall"),
            (Keyword::Forwarding, "forwarding"),
            (Keyword::Wan, "wan"),
            (Keyword::Address, "address"),
            (Keyword::ChapSecrets, "chap-secrets"),
            (Keyword::MaxPerSource, "max-per-source"),
            (Keyword::AuthThrottle, "auth-throttle"),
            (Keyword::MssClamp, "mss-clamp"),
            (Keyword::SingleSession, "single-session"),
            (Keyword::SessionTimeout, "session-timeout"),
            (Keyword::RateLimit, "rate-limit"),
            (Keyword::UserLimit, "user-limit"),
            (Keyword::ControlSocket, "control-socket"),
        ] {
            assert_eq!(keyword.name(), name);
        }
    }

    #[test]
    fn keyword_list_has_every_keyword() {
        assert_eq!(super::super::split_on(KEYWORDS, ' ').count(), KEYWORD_COUNT);
        assert_eq!(Keyword::ControlSocket.name(), "control-socket");
    }

    #[test]
    fn atoi_like_c() {
        assert_eq!(atoi("10 # x"), 10);
        assert_eq!(atoi("  -3"), -3);
        assert_eq!(atoi("abc"), 0);
        assert_eq!(atoi("99999999999999999999999"), i64::MAX);
    }

    #[test]
    fn first_occurrence_wins_and_keywords_are_case_sensitive() {
        let c = conf("connections 3\nconnections 5\nConnections 8\nlocalip 10.0.0.1\nremoteip 10.0.0.10-20\n")
            .unwrap();
        assert_eq!(c.settings.connections, 3);
        assert!(c
            .warnings
            .iter()
            .any(|w| w.message.contains("'Connections'")));
    }

    #[test]
    fn no_inline_comments_and_leading_space_lines() {
        let e = conf("localip 10.0.0.1\nremoteip 10.9.0.2-5 # comment\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "/etc/pptpd.conf:2: Bad IP address (10.9.0.2-5 # comment) in remoteip"
        );
        let c = conf(" remoteip 1.2.3.4\nlocalip 10.0.0.1\nremoteip 10.0.0.2-3\n").unwrap();
        assert_eq!(c.settings.remote.len(), 2);
        assert_eq!(c.warnings[0].line, Some(1));
        assert!(c.warnings[0].message.contains("starts with a space"));
    }

    #[test]
    fn pool_defaults_are_pptpds() {
        let c = conf("option /etc/ppp/pptpd-options\n").unwrap();
        assert_eq!(c.settings.local.get(0), Some(ip("192.168.0.1")));
        assert_eq!(c.settings.remote.get(0), Some(ip("192.168.1.1")));
        assert_eq!(
            c.settings.connections,
            PPTPD_DEFAULT_CONNECTIONS.min(MAX_SESSIONS)
        );
        assert_eq!(c.option, Some((PathBuf::from("/etc/ppp/pptpd-options"), 1)));
        assert!(!c.daemon.logwtmp && !c.daemon.noipparam);
    }

    #[test]
    fn connections_reduced_by_pools() {
        let c = conf("localip 10.9.0.1\nremoteip 10.9.0.2-31\n").unwrap();
        assert_eq!(c.settings.connections, 30.min(MAX_SESSIONS));
        let c = conf("localip 10.9.0.1-3\nremoteip 10.9.0.10-20\n").unwrap();
        assert_eq!(c.settings.connections, 3);
        let c = conf("localip 10.9.0.1,10.9.0.2\nremoteip 10.9.0.10-20\n").unwrap();
        assert_eq!(c.settings.connections, 2);
        assert!(c.warnings.iter().any(|w| w
            .message
            .starts_with("Maximum of 11 connections reduced to 2")));
        let c = conf("connections 3\nlocalip 10.9.0.1\nremoteip 10.9.0.2-5,10.9.0.20\n").unwrap();
        assert_eq!(c.settings.connections, 3);
        assert_eq!(c.settings.remote.len(), 3);
        assert!(c.warnings.iter().any(|w| w.message
            == "connections limit (3) reached, extra IP addresses ignored"
            && w.line == Some(3)));
    }

    #[test]
    fn connections_over_the_build_limit() {
        let n = MAX_SESSIONS + 1;
        let e = conf(&format!("localip 10.0.0.1\n\nconnections {n}\n")).unwrap_err();
        assert_eq!(e.line, Some(3));
        assert!(e.message.contains(&n.to_string()));
        assert!(e.message.contains(&MAX_SESSIONS.to_string()));
        let c = conf("connections x\nlocalip 10.0.0.1\nremoteip 10.0.1.0-255\n").unwrap();
        assert_eq!(c.settings.connections, 100.min(MAX_SESSIONS));
    }

    #[test]
    fn stimeout_is_honoured() {
        assert_eq!(conf("stimeout 4\n").unwrap().settings.stimeout, 4);
        assert_eq!(conf("").unwrap().settings.stimeout, 10);
        assert_eq!(conf("stimeout 0\n").unwrap().settings.stimeout, 10);
    }

    #[test]
    fn pptpd_keywords() {
        let c = conf(
            "debug\nnoipparam\nspeed 115200\nppp /usr/sbin/pppd\nlisten 192.0.2.1\n\
             pidfile /run/pptpd.pid\nbcrelay eth1\ndelegate\nvrf blue\n",
        )
        .unwrap();
        assert!(c.daemon.debug && c.daemon.noipparam);
        assert!(!c.warnings.iter().any(|w| w.message.contains("unknown")));
        assert_eq!(c.warnings.len(), 3 + 2, "{:?}", c.warnings); // 3 ignored + 2 default pools
        assert_eq!(c.daemon.listen, Some(ip("192.0.2.1")));
        assert_eq!(c.daemon.pidfile, PathBuf::from("/run/pptpd.pid"));
        for k in ["bcrelay", "delegate", "vrf"] {
            assert!(c.warnings.iter().any(|w| w.message.starts_with(k)), "{k}");
        }
        let e = conf("listen nowhere\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "/etc/pptpd.conf:1: Invalid listening address: nowhere"
        );
    }

    #[test]
    fn logwtmp_and_control_socket() {
        let c = conf("logwtmp\ncontrol-socket /run/vpn.sock\n").unwrap();
        assert!(c.daemon.logwtmp);
        assert!(!c.warnings.iter().any(|w| w.message.contains("logwtmp")));
        assert_eq!(
            c.daemon.control_socket,
            Some(PathBuf::from("/run/vpn.sock"))
        );
        let c = conf("control-socket none\n").unwrap();
        assert_eq!(c.daemon.control_socket, None);
        let c = conf("").unwrap();
        assert_eq!(
            c.daemon.control_socket,
            Some(PathBuf::from(crate::linux::control_socket::DEFAULT_PATH))
        );
        assert!(conf("control-socket\n").is_err());
    }

    #[test]
    fn own_keywords() {
        let c = conf(
            "backend raw\ninterface eth0\nfirewall on\nforwarding off\nwan ppp0\n\
             address 10.0.0.1/24\nchap-secrets /etc/smolpptp/secrets\n",
        )
        .unwrap();
        assert_eq!(c.daemon.backend, Backend::Raw);
        assert_eq!(c.daemon.interface.as_deref(), Some("eth0"));
        assert!(c.daemon.firewall);
        assert!(!c.daemon.forwarding);
        assert_eq!(c.daemon.wan.as_deref(), Some("ppp0"));
        assert_eq!(c.daemon.address, Some(Ipv4Cidr::new(ip("10.0.0.1"), 24)));
        assert_eq!(
            c.daemon.chap_secrets,
            PathBuf::from("/etc/smolpptp/secrets")
        );
        let d = conf("").unwrap().daemon;
        assert_eq!(d, DaemonConfig::default());
        for (text, line) in [
            ("backend kernel\n", 1),
            ("\nfirewall maybe\n", 2),
            ("interface this-name-is-too-long\n", 1),
            ("wan eth0/1\n", 1),
            ("address 10.0.0.1/33\n", 1),
            ("address nope\n", 1),
            ("option\n", 1),
        ] {
            let e = conf(text).unwrap_err();
            assert_eq!(e.line, Some(line), "{text:?}");
        }
        assert_eq!(
            conf("address 10.0.0.1\n").unwrap().daemon.address,
            Some(Ipv4Cidr::new(ip("10.0.0.1"), 32))
        );
    }

    #[test]
    fn per_user_limits_and_mss_clamp() {
        use crate::settings::{MssClamp, SingleSession};
        let c = conf("").unwrap();
        assert_eq!(c.settings.mss_clamp, MssClamp::Auto);
        assert_eq!(
            c.settings.limits_for("x").single_session,
            SingleSession::Allow
        );
        let c = conf(
            "mss-clamp 1300\nsingle-session replace\nsession-timeout 86400\n\
             rate-limit 4mbit/1mbit\nuser-limit alice single-session=deny rate=512kbit idle=60\n\
             user-limit bob session-timeout=0 rate=off\n",
        )
        .unwrap();
        assert_eq!(c.settings.mss_clamp, MssClamp::Fixed(1300));
        let alice = c.settings.limits_for("alice");
        assert_eq!(alice.single_session, SingleSession::Deny);
        assert_eq!(
            alice.rate.map(|r| (r.down_bps, r.up_bps)),
            Some((512_000, 512_000))
        );
        assert_eq!((alice.idle, alice.session_timeout), (60, 86400));
        let bob = c.settings.limits_for("bob");
        assert_eq!(bob.single_session, SingleSession::Replace);
        assert_eq!(bob.session_timeout, 0);
        assert_eq!(bob.rate, None, "rate=off beats rate-limit");
        let carol = c.settings.limits_for("carol");
        assert_eq!(
            carol.rate.map(|r| (r.down_bps, r.up_bps)),
            Some((4_000_000, 1_000_000))
        );
        assert!(!c.warnings.iter().any(|w| w.message.contains("unknown")));
        for bad in [
            "mss-clamp big\n",
            "single-session twice\n",
            "session-timeout soon\n",
            "rate-limit fast\n",
            "user-limit\n",
            "user-limit alice idle=1\nuser-limit alice idle=2\n",
        ] {
            let e = conf(bad).unwrap_err();
            assert!(e.to_string().contains("pptpd.conf:"), "{bad}: {e}");
        }
    }

    #[test]
    fn source_limit_and_auth_throttle() {
        let c = conf("").unwrap();
        assert_eq!(
            c.settings.max_per_source,
            crate::settings::DEFAULT_MAX_PER_SOURCE
        );
        assert!(c.settings.auth_throttle);
        let c = conf("max-per-source 2\nauth-throttle off\n").unwrap();
        assert_eq!(c.settings.max_per_source, 2);
        assert!(!c.settings.auth_throttle);
        assert_eq!(
            conf("max-per-source 0\n").unwrap().settings.max_per_source,
            0
        );
        assert!(conf("max-per-source many\n").is_err());
        assert!(conf("max-per-source -1\n").is_err());
        assert!(conf("auth-throttle maybe\n").is_err());
    }

    #[test]
    fn crlf_and_long_lines() {
        let c = conf("localip 10.0.0.1\r\nremoteip 10.0.0.2-3\r\n").unwrap();
        assert_eq!(c.settings.remote.len(), 2);
        let long = format!("remoteip 10.0.0.9{}\n", " ".repeat(600));
        let c = conf(&long).unwrap();
        assert!(c.warnings.iter().any(|w| w.message.contains("longer than")));
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = XorShift(0x9979d);
        let words: [&[u8]; 10] = [
            b"localip ",
            b"remoteip ",
            b"connections ",
            b"10.0.0.1-5",
            b",",
            b"\n",
            b" ",
            b"#",
            b"backend tun",
            b"stimeout -",
        ];
        for round in 0..2000 {
            let mut text = Vec::new();
            for _ in 0..(rng.next_u32() % 20) {
                if round % 2 == 0 {
                    text.extend_from_slice(words[(rng.next_u32() % 10) as usize]);
                } else {
                    text.push(rng.next_u32() as u8);
                }
            }
            if let Ok(c) = parse(Path::new("x"), &text, &mut no_dns) {
                assert!(c.settings.connections <= MAX_SESSIONS);
                assert!(c.settings.remote.len() >= c.settings.connections);
            }
        }
    }
}
