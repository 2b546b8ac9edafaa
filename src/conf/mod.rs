//! Configuration files, read the way PoPToP and pppd read them so existing set-ups work
//! unchanged: `/etc/pptpd.conf` ([`pptpd_conf`]), the pppd options file it names
//! ([`ppp_options`]) and `/etc/ppp/chap-secrets` ([`chap_secrets`]).
//!
//! pptpd.conf and the options file are read at start-up and on SIGHUP with [`load`], which
//! may allocate. chap-secrets is read again at every authentication by [`ChapSecrets`],
//! which does not allocate after it is built.
//!
//! smolpptp's own pptpd.conf keywords (pptpd ignores unknown keywords, so a file using them
//! still works with pptpd):
//!
//! | keyword | value | default |
//! |---|---|---|
//! | `backend` | `tun` (kernel routes/NATs client traffic) or `raw` (own Ethernet stack) | `tun` |
//! | `interface` | raw: the Ethernet interface; tun: the tun device name | daemon's choice |
//! | `firewall` | `on`/`off`: the rules the backend needs (tun: DNAT/SNAT of 1723 and GRE; raw: input drops), in the daemon's own nft table | `on` |
//! | `forwarding` | `on`/`off`: turn on IPv4 forwarding | `off` |
//! | `wan` | interface clients reach the Internet through | daemon's choice |
//! | `address` | the daemon's own address on the tun link, `a.b.c.d/n` | daemon's choice |
//! | `chap-secrets` | path | `/etc/ppp/chap-secrets` |
//! | `mss-clamp`, `single-session`, `session-timeout`, `rate-limit`, `user-limit` | see [`user_limits`] | clamp auto, no per-user limits |
//! | `control-socket` | path of the socket `smolpptpd status`/`kick` use, or `none` | `/var/run/smolpptpd.sock` |
//!
//! pptpd's `logwtmp` turns on wtmp records (`last` shows sessions) and `noipparam` leaves
//! the client's address out of the ip-up/ip-down arguments, as with pptpd.
//!
//! `firewall` defaults to on: without its rules nothing reaches the daemon (the kernel would
//! answer 1723 with a reset), and it only ever touches its own `smolpptp` table, removed on
//! exit. `forwarding` (ip_forward, FORWARD accepts, masquerade of the pool) defaults to off
//! so that an existing pptpd.conf changes no routing on the system; the sample config and the
//! [`embedded_default`] turn it on.

/// Names as one string, separated by single spaces (`names!("lock", "nolock")` is
/// `"lock nolock"`), searched with [`find_name`]: a table of `&str` costs 8 bytes of pointer
/// and length per name on a 32-bit board, a space costs one.
macro_rules! names {
    ($first:literal $(, $name:literal)* $(,)?) => {
        concat!($first $(, " ", $name)*)
    };
}

pub mod address_spec;
pub mod chap_secrets;
pub mod error;
pub mod ppp_options;
pub mod pptpd_conf;
pub mod tokenizer;
pub mod user_limits;

use core::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use smoltcp::wire::Ipv4Cidr;

pub use chap_secrets::ChapSecrets;
pub use error::{ConfigError, ConfigWarning};

use crate::settings::{AddressList, AddressRange, PppSettings, Settings, MAX_NAME_LEN};

/// `s.split(sep)`, written with `split_once`: the binary then has one way of splitting a
/// string at a character, not two.
pub(crate) fn split_on(s: &str, sep: char) -> SplitOn<'_> {
    SplitOn { rest: Some(s), sep }
}

/// The iterator of [`split_on`].
pub(crate) struct SplitOn<'a> {
    rest: Option<&'a str>,
    sep: char,
}

impl<'a> Iterator for SplitOn<'a> {
    type Item = &'a str;

    /// Not inlined: one copy for every loop that splits.
    #[inline(never)]
    fn next(&mut self) -> Option<&'a str> {
        let r = self.rest?;
        Some(match r.split_once(self.sep) {
            Some((piece, after)) => {
                self.rest = Some(after);
                piece
            }
            None => {
                self.rest = None;
                r
            }
        })
    }
}

/// The position of `word` in `names` (see [`names!`]); an empty word is in no list.
#[inline(never)]
pub(crate) fn find_name(names: &str, word: &str) -> Option<usize> {
    split_on(names, ' ').position(|n| n == word)
}

/// pptpd's default configuration file.
pub const DEFAULT_PPTPD_CONF: &str = "/etc/pptpd.conf";
/// pptpd's default pid file.
pub const DEFAULT_PIDFILE: &str = "/var/run/pptpd.pid";

/// How client traffic reaches the network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A tun device: the kernel routes (and NATs) client traffic.
    Tun,
    /// A raw Ethernet interface driven by smoltcp alone.
    Raw,
}

/// Daemon-side settings: what the protocol core does not need. In this order (`repr(C)`):
/// the words first, then the bytes placed so that the addresses after their `Option` tags
/// are word-aligned (laid out freely they sat at odd offsets, and every use took unaligned
/// load/store pairs on MIPS).
#[derive(Clone, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct DaemonConfig {
    /// `interface`: the raw backend's Ethernet interface, or the tun device name.
    pub interface: Option<String>,
    /// `wan`: the interface towards the Internet.
    pub wan: Option<String>,
    /// `chap-secrets`: the secrets file.
    pub chap_secrets: PathBuf,
    /// pptpd `pidfile`.
    pub pidfile: PathBuf,
    /// The pppd options file that was read, if any.
    pub options_file: Option<PathBuf>,
    /// `control-socket`: where `smolpptpd status`/`kick` reach the daemon (None: off).
    pub control_socket: Option<PathBuf>,
    pub backend: Backend,
    /// `firewall on`: add the rules a PPTP server needs.
    pub firewall: bool,
    /// `forwarding on`: enable IPv4 forwarding.
    pub forwarding: bool,
    /// pptpd `listen`: accept control connections on this address only.
    pub listen: Option<Ipv4Addr>,
    /// pptpd `debug`: debug logging of the PPTP side.
    pub debug: bool,
    /// pppd `proxyarp` from the options file.
    pub proxyarp: bool,
    /// pppd `chapms-strip-domain` from the options file (give it to [`ChapSecrets::new`]).
    pub chapms_strip_domain: bool,
    /// `address`: the daemon's own address on the tun link.
    pub address: Option<Ipv4Cidr>,
    /// pptpd `logwtmp`: login/logout records in /var/log/wtmp.
    pub logwtmp: bool,
    /// pptpd `noipparam`: no client address as ipparam for ip-up/ip-down.
    pub noipparam: bool,
}

// The layout the order above is for.
const _: () = {
    assert!(core::mem::offset_of!(DaemonConfig, listen) % 4 == 3);
    assert!(core::mem::offset_of!(DaemonConfig, address) % 4 == 3);
};

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            backend: Backend::Tun,
            interface: None,
            firewall: true,
            forwarding: false,
            wan: None,
            address: None,
            chap_secrets: PathBuf::from(chap_secrets::DEFAULT_PATH),
            listen: None,
            pidfile: PathBuf::from(DEFAULT_PIDFILE),
            debug: false,
            proxyarp: false,
            chapms_strip_domain: false,
            options_file: None,
            logwtmp: false,
            noipparam: false,
            control_socket: Some(PathBuf::from(crate::linux::control_socket::DEFAULT_PATH)),
        }
    }
}

/// Everything [`load`] read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadedConfig {
    /// For the protocol core (`Server::new`/`Server::reload`).
    pub settings: Settings,
    pub daemon: DaemonConfig,
    /// To be logged at start-up (each displays as `file:line: message`).
    pub warnings: Vec<ConfigWarning>,
}

impl LoadedConfig {
    /// The chap-secrets store for this configuration (allocates its buffer once).
    pub fn chap_secrets(&self) -> Result<ChapSecrets, ConfigError> {
        ChapSecrets::new(&self.daemon.chap_secrets, self.daemon.chapms_strip_domain)
    }
}

/// Sets `name` to the host name, as pppd does when the options file gives none: as much as
/// fits, cut at a character boundary. Left alone if there is no host name.
fn use_host_name(name: &mut heapless::String<MAX_NAME_LEN>) {
    // uname(2)'s node name is what gethostname(3) returns (musl's gethostname calls uname).
    // SAFETY: all-zero is a valid utsname, and uname only writes into it.
    let mut uts: libc::utsname = unsafe { core::mem::zeroed() };
    if unsafe { libc::uname(&mut uts) } != 0 {
        return;
    }
    // SAFETY: c_char and u8 have the same size and alignment; the array is initialised.
    let buf: &[u8] =
        unsafe { core::slice::from_raw_parts(uts.nodename.as_ptr().cast(), uts.nodename.len()) };
    let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let Ok(host) = core::str::from_utf8(&buf[..len]) else {
        return;
    };
    if host.is_empty() {
        return;
    }
    name.clear();
    let mut end = host.len().min(name.capacity());
    while !host.is_char_boundary(end) {
        end -= 1;
    }
    let _ = name.push_str(&host[..end]);
}

/// Reads pptpd.conf, the pppd options file it names (or `options_override`, like pptpd's
/// `-o`), and checks chap-secrets. Errors name the file and line.
pub fn load(
    pptpd_conf: &Path,
    options_override: Option<&Path>,
) -> Result<LoadedConfig, ConfigError> {
    let text = read_file(pptpd_conf, "Config file")?;
    // Built here and filled in place: Settings is kilobytes, not to be moved around.
    let mut loaded = LoadedConfig {
        settings: Settings::default(),
        daemon: DaemonConfig::default(),
        warnings: Vec::new(),
    };
    // On an error `loaded` is dropped here, by one call, not field by field at every `?`.
    load_into(&mut loaded, pptpd_conf, &text, options_override)?;
    Ok(loaded)
}

/// A whole configuration file; `what` names it in the error (pptpd: "Config file not
/// readable", "PPP options file not readable").
#[inline(never)]
pub(crate) fn read_file(path: &Path, what: &str) -> Result<Vec<u8>, ConfigError> {
    crate::linux::file::read(path).map_err(|e| {
        ConfigError::at(
            path,
            None,
            format_args!("{what} not readable: {}", crate::linux::ErrorText(e)),
        )
    })
}

/// [`load`] into `loaded` (defaults), given pptpd.conf's text.
#[inline(never)]
fn load_into(
    loaded: &mut LoadedConfig,
    pptpd_conf: &Path,
    text: &[u8],
    options_override: Option<&Path>,
) -> Result<(), ConfigError> {
    let LoadedConfig {
        settings,
        daemon,
        warnings,
    } = loaded;
    let option = pptpd_conf::parse_into(
        pptpd_conf,
        text,
        &mut address_spec::resolve_host,
        settings,
        daemon,
        warnings,
    )?;

    let options_path = options_override
        .map(Path::to_path_buf)
        .or_else(|| option.map(|(p, _)| p));
    match &options_path {
        Some(path) => {
            // settings.ppp is at its defaults: pptpd.conf does not touch it.
            let options = ppp_options::parse_file_into(path, &mut settings.ppp, warnings)?;
            daemon.proxyarp = options.proxyarp;
            daemon.chapms_strip_domain = options.chapms_strip_domain;
            if !options.name_given {
                // pppd's default name is the host name; chap-secrets' second column must
                // match it (or be `*`).
                use_host_name(&mut settings.ppp.name);
                ConfigWarning::push(
                    warnings,
                    path,
                    None,
                    format_args!(
                        "no 'name' option: using the host name '{}' as pppd does; chap-secrets \
                         entries need it or '*' in the second column",
                        settings.ppp.name
                    ),
                );
            }
        }
        None => ConfigWarning::push(
            warnings,
            pptpd_conf,
            None,
            format_args!(
                "no 'option' line: using built-in PPP settings (name {}, MS-CHAPv2, MPPE-128)",
                settings.ppp.name
            ),
        ),
    }
    daemon.options_file = options_path;

    let mut secrets = ChapSecrets::new(&daemon.chap_secrets, daemon.chapms_strip_domain)?;
    secrets.check_into(warnings)
}

/// First address of the embedded default's pool; documentation-safe only in the sense of
/// rarely clashing with a LAN (home routers use 192.168.x, Docker 172.17+).
const EMBEDDED_LOCAL: Ipv4Addr = Ipv4Addr::new(10, 23, 0, 1);
const EMBEDDED_REMOTE_FIRST: u8 = 10;

/// The configuration used when there is no `-c` and no /etc/pptpd.conf: local address
/// 10.23.0.1, clients from 10.23.0.10 up (one per session this build supports, at most
/// 245), MS-CHAPv2 with MPPE-128 stateless required, secrets from /etc/ppp/chap-secrets,
/// tun backend with firewall and forwarding on. `configs/pptpd.conf` writes the same set-up
/// out (with 32 connections) for an admin to start from.
pub fn embedded_default() -> LoadedConfig {
    let count = crate::limits::MAX_SESSIONS.min(usize::from(255 - EMBEDDED_REMOTE_FIRST));
    let last = EMBEDDED_REMOTE_FIRST as usize + count - 1;
    let [a, b, c, _] = EMBEDDED_LOCAL.octets();
    let mut remote = AddressList::default();
    let _ = remote.ranges.push(AddressRange {
        first: Ipv4Addr::new(a, b, c, EMBEDDED_REMOTE_FIRST),
        last: Ipv4Addr::new(a, b, c, last as u8),
    });
    let mut local = AddressList::default();
    let _ = local.ranges.push(AddressRange {
        first: EMBEDDED_LOCAL,
        last: EMBEDDED_LOCAL,
    });
    LoadedConfig {
        settings: Settings {
            ppp: PppSettings::default(),
            local,
            remote,
            connections: count,
            ..Settings::default()
        },
        daemon: DaemonConfig {
            firewall: true,
            forwarding: true,
            ..DaemonConfig::default()
        },
        warnings: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{MppePolicy, Stateful};

    #[test]
    fn split_on_is_split() {
        for s in ["", ",", "a", "a,b", ",a,,b,", "é,ü,"] {
            assert_eq!(
                split_on(s, ',').collect::<Vec<_>>(),
                s.split(',').collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn embedded_default_is_safe() {
        let c = embedded_default();
        let m = c.settings.ppp.mppe;
        assert!(m.required && m.allow_128 && !m.allow_40 && !m.allow_56);
        assert_eq!(m.stateful, Stateful::Refuse);
        assert_eq!(m, MppePolicy::default());
        assert!(c.settings.ppp.auth.allow_mschap_v2 && c.settings.ppp.auth.require_auth);
        assert_eq!(
            c.daemon.chap_secrets,
            PathBuf::from("/etc/ppp/chap-secrets")
        );
        assert_eq!(c.settings.remote.len(), c.settings.connections);
        assert!(c.settings.connections >= 1);
        assert!(c.settings.connections <= crate::limits::MAX_SESSIONS);
        assert!(!c.settings.remote.contains(EMBEDDED_LOCAL));
        assert_eq!(c.settings.local.len(), 1);
        assert_eq!(c.daemon.backend, Backend::Tun);
    }
}
