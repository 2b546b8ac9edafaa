//! `/etc/ppp/chap-secrets`, read exactly as pppd reads it (`scan_authfile` in pppd/auth.c),
//! again at every authentication so edits apply to the next login without a restart.
//!
//! The lookup runs inside the daemon's poll loop, which must not allocate after start-up:
//! the file is read with raw `open`/`read`/`close` into a buffer allocated once by
//! [`ChapSecrets::new`], and tokenized in place ([`super::tokenizer`]).
//!
//! Layout: `client server secret [address ...] [-- options ...]`, a record starting at the
//! first word of a line. `*` in the first two columns matches anything. The best entry wins:
//! exact client + exact server > exact client + `*` > `*` + exact server > `* *`; among equal
//! ones the first in the file. A secret `@/path` is the first word of that file.
//!
//! The address column maps onto [`AddressRule`] (pppd checks the list against the address
//! pptpd offered, then falls back to the first single host address in it):
//! - `-` as the first word: [`AddressRule::Deny`];
//! - `*` anywhere in the list: [`AddressRule::Pool`] (any address is fine, so the pool's);
//! - otherwise the first host address (`a.b.c.d` or `a.b.c.d/32`) not excluded by an earlier
//!   `!addr`: [`AddressRule::Fixed`] (pppd's per-user static address);
//! - only subnets (`a.b.c.d/n`): [`AddressRule::Pool`]. pppd would also check the pool
//!   address against the subnet; we do not, so keep per-user subnets inside `remoteip`;
//! - no address words: [`AddressRule::Pool`]. pppd would refuse every address here ("Peer is
//!   not authorized to use remote address"), the classic missing-`*` gotcha; we follow the
//!   settings contract and use the pool;
//! - only words we cannot use (host names, which pppd would resolve, or exclusions):
//!   [`AddressRule::Deny`], pppd's implicit "deny all" at the end of the list.
//!
//! Words after `--` (per-user pppd options) are ignored.

use core::net::Ipv4Addr;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use heapless::Vec as HVec;

use super::address_spec::inet_addr;
use super::error::{ConfigError, ConfigWarning};
use super::tokenizer::{Words, MAX_WORD_LEN};
use crate::settings::{AddressRule, Secret, Secrets, MAX_SECRET_LEN};

/// Where pppd keeps CHAP secrets.
pub const DEFAULT_PATH: &str = "/etc/ppp/chap-secrets";
/// Largest chap-secrets file the daemon reads (the buffer allocated at start-up).
pub const DEFAULT_CAPACITY: usize = 64 * 1024;
/// Bytes read from an `@/path` indirect secret file; the secret is its first word.
const INDIRECT_CAPACITY: usize = 4096;
/// `!addr` exclusions remembered per entry.
const MAX_EXCLUSIONS: usize = 8;

const NONWILD_SERVER: i32 = 1;
const NONWILD_CLIENT: i32 = 2;

/// The chap-secrets store of the daemon. Everything it needs is allocated in `new`.
pub struct ChapSecrets {
    path: PathBuf,
    c_path: CString,
    file: Box<[u8]>,
    indirect: Box<[u8]>,
    strip_domain: bool,
}

/// Why a file could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ReadError {
    Open(i32),
    Read(i32),
    TooLarge,
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Reads the whole file into `buf` without allocating.
fn read_into(path: &core::ffi::CStr, buf: &mut [u8]) -> Result<usize, ReadError> {
    // SAFETY: `path` is NUL-terminated; the flags ask for nothing unusual.
    let fd = unsafe { crate::linux::sys::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC, 0) };
    if fd < 0 {
        return Err(ReadError::Open(errno()));
    }
    let mut len = 0usize;
    let result = loop {
        let mut probe = 0u8;
        let (ptr, room) = if len < buf.len() {
            (buf[len..].as_mut_ptr(), buf.len() - len)
        } else {
            // Full: one more byte tells a file that fits exactly from one that is too big.
            (&mut probe as *mut u8, 1)
        };
        // SAFETY: `ptr` points to `room` writable bytes that outlive the call.
        let n = unsafe { libc::read(fd, ptr.cast(), room) };
        if n < 0 {
            let e = errno();
            if e == libc::EINTR {
                continue;
            }
            break Err(ReadError::Read(e));
        }
        if n == 0 {
            break Ok(len);
        }
        if len == buf.len() {
            break Err(ReadError::TooLarge);
        }
        len += n as usize;
    };
    // SAFETY: `fd` is ours and closed once.
    unsafe { libc::close(fd) };
    result
}

impl ChapSecrets {
    /// A store reading `path` with the default 64 KiB buffer. `strip_domain` is pppd's
    /// `chapms-strip-domain`: look up `user` for a client that sent `DOMAIN\user`.
    pub fn new(path: &Path, strip_domain: bool) -> Result<ChapSecrets, ConfigError> {
        Self::with_capacity(path, strip_domain, DEFAULT_CAPACITY)
    }

    pub fn with_capacity(
        path: &Path,
        strip_domain: bool,
        capacity: usize,
    ) -> Result<ChapSecrets, ConfigError> {
        let c_path = CString::new(path.as_os_str().as_bytes()).map_err(|_| {
            ConfigError::at(
                path,
                None,
                format_args!("chap-secrets path contains a NUL byte"),
            )
        })?;
        Ok(ChapSecrets {
            path: path.to_path_buf(),
            c_path,
            file: vec![0u8; capacity].into_boxed_slice(),
            indirect: vec![0u8; INDIRECT_CAPACITY].into_boxed_slice(),
            strip_domain,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Start-up (and SIGHUP) checks: a file too large for the buffer is an error; a missing
    /// file or one readable by group/others is a warning (pppd's wording).
    pub fn check(&mut self) -> Result<Vec<ConfigWarning>, ConfigError> {
        let mut warnings = Vec::new();
        self.check_into(&mut warnings)?;
        Ok(warnings)
    }

    /// [`Self::check`], adding to `warnings` (no second list to move over).
    pub fn check_into(&mut self, warnings: &mut Vec<ConfigWarning>) -> Result<(), ConfigError> {
        match crate::linux::file::stat_c(self.c_path.as_ptr()) {
            Err(e) => ConfigWarning::push(
                warnings,
                &self.path,
                None,
                format_args!(
                    "Can't open chap secret file: {}; every login fails until it exists",
                    crate::linux::ErrorText(e)
                ),
            ),
            Ok(st) => {
                if st.st_mode & 0o077 != 0 {
                    ConfigWarning::push(
                        warnings,
                        &self.path,
                        None,
                        format_args!(
                            "Warning - secret file has world and/or group access (chmod 600 it)"
                        ),
                    );
                }
                // u64: a size is never negative, and i64's formatter is not in the binary.
                let size = st.st_size as u64;
                if size > self.file.len() as u64 {
                    return Err(ConfigError::at(
                        &self.path,
                        None,
                        format_args!(
                            "chap-secrets is {} bytes; the daemon reads at most {}",
                            size,
                            self.file.len()
                        ),
                    ));
                }
                // Linted in the lookup buffer (scratch between lookups), through the C path
                // already held: no Vec and no second C string. After the size check: on an
                // error the caller drops the warnings anyway.
                if let Ok(len) = read_into(&self.c_path, &mut self.file) {
                    lint(&self.path, &self.file[..len], warnings);
                }
            }
        }
        Ok(())
    }
}

impl Secrets for ChapSecrets {
    fn lookup(&mut self, client: &[u8], server: &[u8], _peer: Ipv4Addr) -> Option<Secret> {
        let client = if self.strip_domain {
            match client.iter().rposition(|&b| b == b'\\') {
                Some(i) => &client[i + 1..],
                None => client,
            }
        } else {
            client
        };
        let len = match read_into(&self.c_path, &mut self.file) {
            Ok(len) => len,
            // pppd's two messages, from one call.
            Err(error @ (ReadError::Open(e) | ReadError::Read(e))) => {
                let failed = if matches!(error, ReadError::Open(_)) {
                    "Can't open chap secret file"
                } else {
                    "Error reading"
                };
                crate::error!(
                    "{failed} {}: {}",
                    self.path.display(),
                    crate::linux::ErrorText(std::io::Error::from_raw_os_error(e))
                );
                return None;
            }
            Err(ReadError::TooLarge) => {
                crate::error!(
                    "{} is larger than {} bytes: not read",
                    self.path.display(),
                    self.file.len()
                );
                return None;
            }
        };
        let indirect = &mut self.indirect;
        let found = find_secret(&self.file[..len], client, server, &mut |path| {
            read_indirect(path, indirect)
        });
        if found.is_none() {
            crate::error!(
                "No CHAP secret found for authenticating {}",
                Printable(client)
            );
        }
        found
    }
}

/// Start-up warnings for entries pppd would treat differently from what the admin probably
/// meant: lines with fewer than three words (skipped) and entries without an address column.
fn lint(path: &Path, text: &[u8], warnings: &mut Vec<ConfigWarning>) {
    let mut words = Words::new(text);
    let mut w = [0u8; MAX_WORD_LEN];
    // (line of the record's first word, words in the record)
    let mut record: Option<(u32, usize)> = None;
    let mut flush = |record: Option<(u32, usize)>| match record {
        Some((line, n)) if n < 3 => ConfigWarning::push(
            warnings,
            path,
            Some(line),
            format_args!("entry ignored: needs at least client, server and secret"),
        ),
        Some((line, 3)) => ConfigWarning::push(
            warnings,
            path,
            Some(line),
            format_args!(
                "entry has no address column: pppd would refuse every address, smolpptp uses \
                 remoteip (write '*' to say so)"
            ),
        ),
        _ => {}
    };
    let mut first = true;
    while let Some(word) = words.next_word(&mut w) {
        if word.newline || first {
            flush(record.take());
            record = Some((word.line, 0));
            first = false;
        }
        if let Some((_, n)) = &mut record {
            *n += 1;
        }
    }
    flush(record);
}

/// Shows a peer-supplied name in a log line without allocating (`%q`-like).
struct Printable<'a>(&'a [u8]);

impl core::fmt::Display for Printable<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for &b in self.0 {
            if b.is_ascii_graphic() || b == b' ' {
                core::fmt::Write::write_char(f, b as char)?;
            } else {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

/// The first word of an `@/path` secret file, or `None` (pppd skips the entry then).
fn read_indirect(path: &[u8], buf: &mut [u8]) -> Option<HVec<u8, MAX_SECRET_LEN>> {
    let mut c_path = [0u8; MAX_WORD_LEN + 1];
    if path.len() >= c_path.len() || path.contains(&0) {
        return None;
    }
    c_path[..path.len()].copy_from_slice(path);
    let c_path = core::ffi::CStr::from_bytes_until_nul(&c_path).ok()?;
    let len = match read_into(c_path, buf) {
        Ok(len) => len,
        // The secret is the first word: a longer file is fine.
        Err(ReadError::TooLarge) => buf.len(),
        Err(_) => {
            crate::warn!("can't open indirect secret file {}", Printable(path));
            return None;
        }
    };
    let mut word = [0u8; MAX_WORD_LEN];
    let Some(w) = Words::new(&buf[..len]).next_word(&mut word) else {
        crate::warn!("no secret in indirect secret file {}", Printable(path));
        return None;
    };
    Some(secret_bytes(&word[..w.len]))
}

fn secret_bytes(word: &[u8]) -> HVec<u8, MAX_SECRET_LEN> {
    let mut secret = HVec::new();
    let n = word.len().min(MAX_SECRET_LEN);
    if n < word.len() {
        // The number written out: a constant argument is code at the call.
        const _: () = assert!(MAX_SECRET_LEN == 256);
        crate::error!("Secret is too long: cut to 256 bytes");
    }
    // Cannot fail: n <= capacity.
    let _ = secret.extend_from_slice(&word[..n]);
    secret
}

/// Searches chap-secrets text for the best entry for `client` talking to `server`.
/// `indirect` reads an `@/path` secret (given the path, starting with `/`). Allocation-free.
pub fn find_secret(
    text: &[u8],
    client: &[u8],
    server: &[u8],
    indirect: &mut dyn FnMut(&[u8]) -> Option<HVec<u8, MAX_SECRET_LEN>>,
) -> Option<Secret> {
    let mut words = Words::new(text);
    let mut w = [0u8; MAX_WORD_LEN];
    let mut best_flag = -1;
    let mut best = None;
    // The record being read: its column (the first word starts a record even without a
    // newline before it), whether it is skipped, its flag, and once its secret is read,
    // the secret and its address column.
    let mut column = usize::MAX;
    let mut skip = false;
    let mut flag = 0;
    let mut candidate: Option<(HVec<u8, MAX_SECRET_LEN>, AddressColumn)> = None;
    loop {
        let word = words.next_word(&mut w);
        let ends_record = match word {
            None => true,
            Some(word) => word.newline || column == usize::MAX,
        };
        if ends_record {
            if let Some((password, addresses)) = candidate.take() {
                best_flag = flag;
                best = Some(Secret {
                    password,
                    address: addresses.finish(),
                });
                if flag == NONWILD_CLIENT | NONWILD_SERVER {
                    return best;
                }
            }
            column = 0;
            skip = false;
        } else {
            column += 1;
        }
        let Some(word) = word else {
            return best;
        };
        let word = &w[..word.len];
        if skip {
            continue;
        }
        match column {
            // Client, then server: `*` matches anything.
            0 | 1 => {
                let (name, nonwild) = if column == 0 {
                    flag = 0;
                    (client, NONWILD_CLIENT)
                } else {
                    (server, NONWILD_SERVER)
                };
                if word != b"*" {
                    if word != name {
                        skip = true;
                        continue;
                    }
                    flag |= nonwild;
                }
                if column == 1 && flag <= best_flag {
                    skip = true;
                }
            }
            // Secret.
            2 => {
                let password = if word.starts_with(b"@/") {
                    match indirect(&word[1..]) {
                        Some(p) => p,
                        None => {
                            skip = true;
                            continue;
                        }
                    }
                } else {
                    secret_bytes(word)
                };
                candidate = Some((password, AddressColumn::default()));
            }
            // Addresses, up to the next line.
            _ => {
                if let Some((_, addresses)) = &mut candidate {
                    addresses.add(word);
                }
            }
        }
    }
}

/// Folds the address words of one entry into an [`AddressRule`] (see the module docs).
#[derive(Default)]
struct AddressColumn {
    words: usize,
    ended: bool,
    deny: bool,
    any: bool,
    subnet: bool,
    fixed: Option<Ipv4Addr>,
    /// (network, mask) of `!addr[/n]` seen so far.
    excluded: HVec<(u32, u32), MAX_EXCLUSIONS>,
}

/// `a.b.c.d[/n][+]` as pppd accepts it: (address, prefix length, has `+`).
fn parse_address(word: &[u8]) -> Option<(Ipv4Addr, u32, bool)> {
    let text = core::str::from_utf8(word).ok()?;
    let (addr, bits, plus) = match text.split_once('/') {
        None => (text, 32, false),
        Some((addr, mask)) => {
            let (mask, plus) = match mask.strip_suffix('+') {
                Some(m) => (m, true),
                None => (mask, false),
            };
            let bits: u32 = mask.parse().ok()?;
            if !matches!(bits, 1..=32) || !mask.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            (addr, bits, plus)
        }
    };
    // Bytes, not chars: the char iterator would be in the binary for this alone.
    if addr.bytes().any(|c| c.is_ascii_whitespace()) {
        return None;
    }
    Some((inet_addr(addr)?, bits, plus))
}

fn mask_of(bits: u32) -> u32 {
    u32::MAX.checked_shl(32 - bits).unwrap_or(0)
}

impl AddressColumn {
    fn add(&mut self, word: &[u8]) {
        if self.ended {
            return;
        }
        if word == b"--" {
            self.ended = true;
            return;
        }
        self.words += 1;
        match word {
            b"-" => {
                self.deny = self.words == 1;
                self.ended = true;
            }
            b"*" => {
                self.any = true;
                self.ended = true;
            }
            [b'!', rest @ ..] => {
                if let Some((a, bits, _)) = parse_address(rest) {
                    let mask = mask_of(bits);
                    let _ = self.excluded.push((u32::from(a) & mask, mask));
                }
            }
            _ => match parse_address(word) {
                Some((a, 32, false)) if !a.is_unspecified() => {
                    let excluded = self
                        .excluded
                        .iter()
                        .any(|&(net, mask)| u32::from(a) & mask == net);
                    if self.fixed.is_none() && !excluded {
                        self.fixed = Some(a);
                    }
                }
                Some(_) => self.subnet = true,
                // A host or network name: pppd would resolve it; we cannot in the poll loop.
                None => {}
            },
        }
    }

    fn finish(&self) -> AddressRule {
        if self.deny {
            AddressRule::Deny
        } else if self.any {
            AddressRule::Pool
        } else if let Some(a) = self.fixed {
            AddressRule::Fixed(a)
        } else if self.subnet || self.words == 0 {
            AddressRule::Pool
        } else {
            AddressRule::Deny
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rand::{Random, XorShift};

    fn no_indirect(_: &[u8]) -> Option<HVec<u8, MAX_SECRET_LEN>> {
        None
    }

    fn find(text: &str, client: &str, server: &str) -> Option<(String, AddressRule)> {
        find_secret(
            text.as_bytes(),
            client.as_bytes(),
            server.as_bytes(),
            &mut no_indirect,
        )
        .map(|s| (String::from_utf8(s.password.to_vec()).unwrap(), s.address))
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn exact_entry() {
        let text = "# client server secret IP addresses\nalice pptpd s3cret *\n";
        assert_eq!(
            find(text, "alice", "pptpd"),
            Some(("s3cret".into(), AddressRule::Pool))
        );
        assert_eq!(find(text, "alice", "other"), None);
        assert_eq!(find(text, "Alice", "pptpd"), None);
        assert_eq!(find(text, "bob", "pptpd"), None);
    }

    #[test]
    fn most_specific_entry_wins_regardless_of_order() {
        let text = "* * any-any *\n\
                    * pptpd any-server *\n\
                    alice * alice-any *\n\
                    alice pptpd exact *\n";
        assert_eq!(find(text, "alice", "pptpd").unwrap().0, "exact");
        assert_eq!(find(text, "alice", "other").unwrap().0, "alice-any");
        assert_eq!(find(text, "bob", "pptpd").unwrap().0, "any-server");
        assert_eq!(find(text, "bob", "other").unwrap().0, "any-any");
        let reversed: String = text.lines().rev().map(|l| format!("{l}\n")).collect();
        assert_eq!(find(&reversed, "alice", "pptpd").unwrap().0, "exact");
        assert_eq!(find(&reversed, "alice", "x").unwrap().0, "alice-any");
        assert_eq!(find(&reversed, "bob", "pptpd").unwrap().0, "any-server");
    }

    #[test]
    fn first_of_equal_entries_wins() {
        let text = "alice * first *\nalice * second *\n";
        assert_eq!(find(text, "alice", "pptpd").unwrap().0, "first");
    }

    #[test]
    fn short_lines_are_skipped() {
        let text = "alice pptpd\nalice\nalice pptpd ok *\n";
        assert_eq!(find(text, "alice", "pptpd").unwrap().0, "ok");
    }

    #[test]
    fn quotes_escapes_and_comments() {
        let text = "\"joe smith\" pptpd \"p a#ss\" * # comment\n\
                    tab pptpd C@saVa\\t *\n\
                    hash pptpd pa#ss *\n\
                    empty pptpd \"\" *\n\
                    cont pptpd \\\n  split *\n";
        assert_eq!(find(text, "joe smith", "pptpd").unwrap().0, "p a#ss");
        assert_eq!(find(text, "tab", "pptpd").unwrap().0, "C@saVa\t");
        // An unquoted '#' ends the secret and comments out the address column.
        assert_eq!(
            find(text, "hash", "pptpd"),
            Some(("pa".into(), AddressRule::Pool))
        );
        assert_eq!(find(text, "empty", "pptpd").unwrap().0, "");
        assert_eq!(find(text, "cont", "pptpd").unwrap().0, "split");
    }

    #[test]
    fn address_column() {
        let cases = [
            ("", AddressRule::Pool),
            ("*", AddressRule::Pool),
            ("-", AddressRule::Deny),
            ("10.0.0.5", AddressRule::Fixed(ip("10.0.0.5"))),
            ("10.0.0.5/32", AddressRule::Fixed(ip("10.0.0.5"))),
            ("10.0.0.5 10.0.0.6", AddressRule::Fixed(ip("10.0.0.5"))),
            ("10.0.0.5 *", AddressRule::Pool),
            ("* 10.0.0.5", AddressRule::Pool),
            ("10.0.0.0/24", AddressRule::Pool),
            ("10.0.0.0/24 10.0.1.7", AddressRule::Fixed(ip("10.0.1.7"))),
            (
                "!10.0.0.5 10.0.0.5 10.0.0.6",
                AddressRule::Fixed(ip("10.0.0.6")),
            ),
            ("!10.0.0.0/24 10.0.0.5", AddressRule::Deny),
            ("10.0.0.5 - 10.0.0.6", AddressRule::Fixed(ip("10.0.0.5"))),
            ("- 10.0.0.5", AddressRule::Deny),
            ("-- 10.0.0.5", AddressRule::Pool),
            (
                "10.0.0.7 -- ms-dns 10.0.0.1",
                AddressRule::Fixed(ip("10.0.0.7")),
            ),
            ("gateway.example", AddressRule::Deny),
            ("10.0.0.0/0", AddressRule::Deny),
            ("0.0.0.0", AddressRule::Pool),
        ];
        for (column, rule) in cases {
            let text = format!("u * pw {column}\n");
            assert_eq!(find(&text, "u", "s").unwrap().1, rule, "{column:?}");
        }
    }

    #[test]
    fn address_words_end_at_the_newline() {
        let text = "u * pw\n10.0.0.5 * other\n";
        assert_eq!(find(text, "u", "s"), Some(("pw".into(), AddressRule::Pool)));
    }

    #[test]
    fn quoted_newline_extends_a_record() {
        let text = "u * pw 'x\n' 10.0.0.9\n";
        assert_eq!(
            find(text, "u", "s").unwrap().1,
            AddressRule::Fixed(ip("10.0.0.9"))
        );
    }

    #[test]
    fn secrets_are_cut_at_256_bytes() {
        let long = "x".repeat(300);
        let text = format!("u * {long} *\n");
        assert_eq!(find(&text, "u", "s").unwrap().0.len(), MAX_SECRET_LEN);
    }

    #[test]
    fn indirect_secret() {
        let text = b"u * @/etc/ppp/u.secret *\nv * @/missing *\nv * fallback *\n";
        let mut reader = |path: &[u8]| {
            (path == b"/etc/ppp/u.secret").then(|| HVec::from_slice(b"from-file").unwrap())
        };
        let s = find_secret(text, b"u", b"s", &mut reader).unwrap();
        assert_eq!(&s.password[..], b"from-file");
        // An unreadable indirect file skips the entry, as in pppd.
        let s = find_secret(text, b"v", b"s", &mut reader).unwrap();
        assert_eq!(&s.password[..], b"fallback");
    }

    #[test]
    fn client_with_nul_or_empty_name() {
        let text = "* * wild *\n\"\" * empty *\n";
        assert_eq!(find(text, "", "s").unwrap().0, "empty");
        assert_eq!(find(text, "a\0b", "s").unwrap().0, "wild");
    }

    #[test]
    fn lint_flags_short_entries_and_missing_address_columns() {
        let mut warnings = Vec::new();
        let text = b"# c s p a\nalice pptpd\nbob * pw\ncarol * pw *\n\"da\nve\" * pw *\n";
        lint(Path::new("/etc/ppp/chap-secrets"), text, &mut warnings);
        let lines: Vec<_> = warnings.iter().map(|w| w.line).collect();
        assert_eq!(lines, vec![Some(2), Some(3)]);
        assert_eq!(
            warnings[0].to_string(),
            "/etc/ppp/chap-secrets:2: entry ignored: needs at least client, server and secret"
        );
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = XorShift(0xc4a9);
        let alphabet = b"u* pw\n\t\\\"'#10.5/-!";
        for round in 0..4000 {
            let len = (rng.next_u32() % 300) as usize;
            let mut text = vec![0u8; len];
            rng.fill_bytes(&mut text);
            if round % 2 == 0 {
                for b in &mut text {
                    *b = alphabet[*b as usize % alphabet.len()];
                }
            }
            let _ = find_secret(&text, b"u", b"pw", &mut no_indirect);
            let _ = find_secret(&text, b"*", b"", &mut no_indirect);
        }
    }
}
