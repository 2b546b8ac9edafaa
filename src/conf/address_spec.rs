//! pptpd's `localip`/`remoteip` value grammar (`processIPStr` in pptpd.c), and the glibc
//! `inet_addr` it validates every address with.
//!
//! ```text
//! spec  := item ("," item)*            no spaces anywhere
//! item  := address | range
//! range := a.b.c.d with one '-' inside one octet: 10.9.0.2-31, 192.168.0-3.2
//! ```
//! An item is a range only if it has nothing but digits, dots and dashes, exactly one dash
//! and exactly three dots; anything else is one address (`inet_addr`, then a host name).
//! Bounds are written out in full (`234-238`, not `234-8`). Addresses are taken in order
//! until `limit` (the `connections` value) is reached, then the rest is ignored.
//!
//! Deliberate difference: pptpd cuts range octets longer than three characters (its
//! `%.3s`), silently turning `10.9.1000.2-5` into `10.9.100.x`; we reject them.

use core::net::Ipv4Addr;

use crate::settings::{AddressList, AddressRange};

/// Why a spec was rejected; the caller adds the file and line.
/// Borrowed from the spec: nothing is allocated for an error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpecError<'a> {
    /// pptpd: `Bad IP address (%s) in config file!`
    BadAddress(&'a str),
    /// The same for an address of a range, written out (`10.0.0.256`): its `len` bytes.
    BadRangeAddress([u8; 15], u8),
    /// pptpd: `Bad remote IP range: %s` (or local).
    BadRange(&'a str),
    /// pptpd 1.5.0: `Remote IP address %s in config is a duplicate!`
    Duplicate(Ipv4Addr),
    /// More separate ranges than `AddressList` holds (cannot happen while the list is
    /// capped at `connections` ≤ `MAX_SESSIONS` addresses).
    TooManyRanges,
}

/// A parsed spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spec {
    pub list: AddressList,
    /// The list had more addresses than `limit`: pptpd's "connections limit (N) reached,
    /// extra IP addresses ignored".
    pub limit_reached: bool,
}

/// glibc `inet_addr`: 1 to 4 parts, each decimal, octal (leading 0) or hex (0x), the last
/// part filling the remaining bytes; trailing whitespace and whatever follows it are ignored.
/// `255.255.255.255` is `INADDR_NONE`, which pptpd treats as invalid.
pub fn inet_addr(s: &str) -> Option<Ipv4Addr> {
    inet_addr_bytes(s.as_bytes())
}

/// [`inet_addr`] of bytes (the addresses of a range are written into a stack buffer).
fn inet_addr_bytes(b: &[u8]) -> Option<Ipv4Addr> {
    let mut addr = 0u32;
    // Dotted parts read so far.
    let mut n = 0;
    let mut i = 0;
    loop {
        if !b.get(i)?.is_ascii_digit() {
            return None;
        }
        // strtoul(cp, &end, 0)
        let mut radix = 10;
        if b[i] == b'0' {
            radix = 8;
            if matches!(b.get(i + 1), Some(b'x' | b'X'))
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
            {
                radix = 16;
                i += 2;
            }
        }
        // u32: over 0xffff_ffff is invalid anyway.
        let mut value: u32 = 0;
        while let Some(d) = b.get(i).and_then(|&c| (c as char).to_digit(16)) {
            if d >= radix {
                break;
            }
            value = value.checked_mul(radix)?.checked_add(d)?;
            i += 1;
        }
        if b.get(i) != Some(&b'.') {
            // The last part fills the bytes the dotted ones left.
            if value > u32::MAX >> (8 * n) {
                return None;
            }
            addr |= value;
            break;
        }
        if n > 2 || value > 0xff {
            return None;
        }
        addr |= value << (24 - 8 * n);
        n += 1;
        i += 1;
    }
    if let Some(&c) = b.get(i) {
        if !matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
            return None;
        }
    }
    (addr != u32::MAX).then_some(Ipv4Addr::from(addr))
}

/// pptpd's `isIpRange`: only `[0-9.-]`, exactly one dash and exactly three dots.
fn is_range(item: &str) -> bool {
    // One pass counting both.
    let (mut dashes, mut dots) = (0, 0);
    for c in item.bytes() {
        match c {
            b'-' => dashes += 1,
            b'.' => dots += 1,
            b'0'..=b'9' => {}
            _ => return false,
        }
    }
    dashes == 1 && dots == 3
}

/// A range bound or fixed octet: 1 to 3 digits.
fn short_number(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 3 {
        return None;
    }
    s.parse().ok()
}

struct Builder<'l> {
    list: &'l mut AddressList,
    count: usize,
    limit: usize,
    reject_duplicates: bool,
}

impl Builder<'_> {
    /// Adds one address; `Ok(false)` when the limit was already reached.
    fn push(&mut self, a: Ipv4Addr) -> Result<bool, SpecError<'static>> {
        if self.count == self.limit {
            return Ok(false);
        }
        if self.reject_duplicates && self.list.contains(a) {
            return Err(SpecError::Duplicate(a));
        }
        self.count += 1;
        if let Some(last) = self.list.ranges.last_mut() {
            if u32::from(last.last).checked_add(1) == Some(u32::from(a)) {
                last.last = a;
                return Ok(true);
            }
        }
        self.list
            .ranges
            .push(AddressRange { first: a, last: a })
            .map_err(|_| SpecError::TooManyRanges)?;
        Ok(true)
    }
}

/// Parses a `localip`/`remoteip` value. `resolve` looks up an item that is not an address
/// (pptpd calls `gethostbyname`); `is_remote` picks the error wording and turns on the
/// duplicate check (pptpd 1.5.0 allows repeated local addresses).
pub fn parse<'a>(
    spec: &'a str,
    limit: usize,
    is_remote: bool,
    resolve: &mut dyn FnMut(&str) -> Option<Ipv4Addr>,
) -> Result<Spec, SpecError<'a>> {
    let mut list = AddressList::default();
    let limit_reached = parse_into(spec, limit, is_remote, resolve, &mut list)?;
    Ok(Spec {
        list,
        limit_reached,
    })
}

/// [`parse`] into `list` (which must be empty), without moving the list around: whether
/// the limit was reached.
#[inline(never)] // called in a loop: inlined, LLVM hoists and spills its constants
pub fn parse_into<'a>(
    spec: &'a str,
    limit: usize,
    is_remote: bool,
    resolve: &mut dyn FnMut(&str) -> Option<Ipv4Addr>,
    list: &mut AddressList,
) -> Result<bool, SpecError<'a>> {
    let mut b = Builder {
        list,
        count: 0,
        limit,
        reject_duplicates: is_remote,
    };
    for item in super::split_on(spec, ',') {
        // A plain address is taken once; a range `lower..=upper` in octet `dash_at`.
        let mut octets = [""; 4];
        let mut dash_at = 0;
        let (mut n, mut upper) = (0, 0);
        let single = if is_range(item) {
            // Exactly four: `is_range` counted three dots.
            for (slot, octet) in octets.iter_mut().zip(super::split_on(item, '.')) {
                *slot = octet;
            }
            let bad_range = || SpecError::BadRange(item);
            // One octet has the one dash `is_range` counted.
            dash_at = octets.iter().position(|o| o.contains('-')).unwrap_or(0);
            let (lower, up) = octets[dash_at].split_once('-').unwrap_or(("", ""));
            let (Some(lower), Some(up)) = (short_number(lower), short_number(up)) else {
                return Err(bad_range());
            };
            if up < lower {
                return Err(bad_range());
            }
            for (k, o) in octets.iter().enumerate() {
                if k != dash_at && (o.is_empty() || o.len() > 3) {
                    return Err(SpecError::BadAddress(item));
                }
            }
            (n, upper) = (lower, up);
            None
        } else {
            Some(
                inet_addr(item)
                    .or_else(|| resolve(item))
                    .ok_or(SpecError::BadAddress(item))?,
            )
        };
        loop {
            let a = match single {
                Some(a) => a,
                None => {
                    // `a.b.c.n` written out and read by `inet_addr` like any address (a
                    // leading 0 makes an octet octal). At most 4 * 3 digits and 3 dots:
                    // every part was checked to have 1 to 3 digits.
                    let mut text = [0u8; 15];
                    let mut len = 0;
                    for (k, o) in octets.iter().enumerate() {
                        if k > 0 {
                            text[len] = b'.';
                            len += 1;
                        }
                        let digits = [
                            b'0' + (n / 100) as u8,
                            b'0' + (n / 10 % 10) as u8,
                            b'0' + (n % 10) as u8,
                        ];
                        let part = if k != dash_at {
                            o.as_bytes()
                        } else if n >= 100 {
                            &digits[..]
                        } else if n >= 10 {
                            &digits[1..]
                        } else {
                            &digits[2..]
                        };
                        text[len..len + part.len()].copy_from_slice(part);
                        len += part.len();
                    }
                    inet_addr_bytes(&text[..len])
                        .ok_or(SpecError::BadRangeAddress(text, len as u8))?
                }
            };
            if !b.push(a)? {
                return Ok(true);
            }
            if n == upper {
                break;
            }
            n += 1;
        }
    }
    Ok(false)
}

/// Where [`resolve_host`] looks names up.
pub const HOSTS_FILE: &str = "/etc/hosts";

/// Resolves a host name in `localip`/`remoteip`/`listen` (pptpd falls back to
/// `gethostbyname`) from /etc/hosts: its first IPv4 address. Not DNS: on a router the
/// resolver is often not up (no WAN yet) when the VPN server starts, and a start-up that
/// waits on DNS is worse than a clear error; musl's resolver is also 15 KiB of the binary.
/// Only names made of host-name characters are looked up, so a typo such as `10.0.0.1 # x`
/// fails at once.
pub fn resolve_host(name: &str) -> Option<Ipv4Addr> {
    let hosts = crate::linux::file::read_to_string(std::path::Path::new(HOSTS_FILE)).ok()?;
    lookup_in_hosts(&hosts, name)
}

/// The first IPv4 address that /etc/hosts text gives `name` (names compare case-insensitively).
pub fn lookup_in_hosts(hosts: &str, name: &str) -> Option<Ipv4Addr> {
    let plausible = !name.is_empty()
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_'));
    if !plausible {
        return None;
    }
    // Split at newlines only: a CR left at a line's end is whitespace to the fields below.
    super::split_on(hosts, '\n').find_map(|line| {
        let line = line.split_once('#').map_or(line, |(before, _)| before);
        let mut fields = line.split_ascii_whitespace();
        let address: Ipv4Addr = fields.next()?.parse().ok()?;
        fields
            .any(|n| n.eq_ignore_ascii_case(name))
            .then_some(address)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rand::{Random, XorShift};

    fn no_dns(_: &str) -> Option<Ipv4Addr> {
        None
    }

    fn addrs(spec: &str, limit: usize) -> Result<(Vec<Ipv4Addr>, bool), SpecError<'_>> {
        let s = parse(spec, limit, true, &mut no_dns)?;
        let v = (0..s.list.len()).map(|i| s.list.get(i).unwrap()).collect();
        Ok((v, s.limit_reached))
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    /// The error for an address of a range written out as `s`.
    fn written(s: &str) -> SpecError<'static> {
        let mut text = [0u8; 15];
        text[..s.len()].copy_from_slice(s.as_bytes());
        SpecError::BadRangeAddress(text, s.len() as u8)
    }

    /// The previous, plainer `inet_addr`, to check the current one against.
    fn reference_inet_addr(b: &[u8]) -> Option<Ipv4Addr> {
        let mut parts = [0u32; 4];
        let mut n = 0usize;
        let mut i = 0usize;
        let last;
        loop {
            if !b.get(i).is_some_and(|c| c.is_ascii_digit()) {
                return None;
            }
            // strtoul(cp, &end, 0)
            let (radix, start) = if b[i] == b'0'
                && matches!(b.get(i + 1), Some(b'x' | b'X'))
                && b.get(i + 2).is_some_and(|c| c.is_ascii_hexdigit())
            {
                (16, i + 2)
            } else if b[i] == b'0' {
                (8, i)
            } else {
                (10, i)
            };
            // u32: over 0xffff_ffff is invalid anyway.
            let mut value: u32 = 0;
            let mut j = start;
            while let Some(d) = b.get(j).and_then(|&c| (c as char).to_digit(radix)) {
                value = value.checked_mul(radix)?.checked_add(d)?;
                j += 1;
            }
            i = j;
            if b.get(i) == Some(&b'.') {
                if n > 2 || value > 0xff {
                    return None;
                }
                parts[n] = value;
                n += 1;
                i += 1;
            } else {
                last = value;
                break;
            }
        }
        if let Some(&c) = b.get(i) {
            if !matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
                return None;
            }
        }
        let max_last = [0xffff_ffffu32, 0xff_ffff, 0xffff, 0xff][n];
        if last > max_last {
            return None;
        }
        let mut addr = last;
        for (k, part) in parts[..n].iter().enumerate() {
            addr |= part << (24 - 8 * k);
        }
        if addr == u32::MAX {
            return None;
        }
        Some(Ipv4Addr::from(addr))
    }

    #[test]
    fn inet_addr_matches_reference() {
        let mut rng = XorShift(0x14e7);
        let alphabet = b"0123456789xXaAfg. \t-";
        for _ in 0..50000 {
            let len = (rng.next_u32() % 20) as usize;
            let s: Vec<u8> = (0..len)
                .map(|_| alphabet[rng.next_u32() as usize % alphabet.len()])
                .collect();
            assert_eq!(inet_addr_bytes(&s), reference_inet_addr(&s), "{s:?}");
        }
    }

    #[test]
    fn inet_addr_like_glibc() {
        assert_eq!(inet_addr("10.9.0.1"), Some(ip("10.9.0.1")));
        assert_eq!(inet_addr("10.1"), Some(ip("10.0.0.1")));
        assert_eq!(inet_addr("10.1.2"), Some(ip("10.1.0.2")));
        assert_eq!(inet_addr("167772161"), Some(ip("10.0.0.1")));
        assert_eq!(inet_addr("0x0a.010.0.1"), Some(ip("10.8.0.1")));
        assert_eq!(inet_addr("10.9.0.2 # comment"), Some(ip("10.9.0.2")));
        assert_eq!(inet_addr("0.0.0.0"), Some(ip("0.0.0.0")));
        assert_eq!(inet_addr("255.255.255.254"), Some(ip("255.255.255.254")));
        for bad in [
            "",
            " 10.0.0.1",
            "10.0.0.256",
            "10.0.0.1.",
            "10.0.0.1.2",
            "09.0.0.1",
            "0x.0.0.1",
            "10.0.0.2-5",
            "255.255.255.255",
            "a.b.c.d",
            "4294967296",
            "10.0.0.1x",
        ] {
            assert_eq!(inet_addr(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn ranges_in_each_octet() {
        let (v, cut) = addrs("10.9.0.2-31", 100).unwrap();
        assert_eq!(v.len(), 30);
        assert_eq!((v[0], v[29], cut), (ip("10.9.0.2"), ip("10.9.0.31"), false));
        let (v, _) = addrs("10.9.0-1.5", 100).unwrap();
        assert_eq!(v, vec![ip("10.9.0.5"), ip("10.9.1.5")]);
        let (v, _) = addrs("10.8-9.0.5", 100).unwrap();
        assert_eq!(v, vec![ip("10.8.0.5"), ip("10.9.0.5")]);
        let (v, _) = addrs("9-10.1.2.3", 100).unwrap();
        assert_eq!(v, vec![ip("9.1.2.3"), ip("10.1.2.3")]);
        let (v, _) = addrs("10.9.0.5-5", 100).unwrap();
        assert_eq!(v, vec![ip("10.9.0.5")]);
    }

    #[test]
    fn lists_mix_addresses_and_ranges_in_order() {
        let (v, _) = addrs("192.168.0.234,192.168.0.245-249", 100).unwrap();
        assert_eq!(v.len(), 6);
        assert_eq!(v[0], ip("192.168.0.234"));
        assert_eq!(v[1], ip("192.168.0.245"));
        assert_eq!(v[5], ip("192.168.0.249"));
        // Adjacent items merge into one range.
        let s = parse("10.0.0.1,10.0.0.2-3,10.0.0.4", 100, true, &mut no_dns).unwrap();
        assert_eq!(s.list.ranges.len(), 1);
        assert_eq!(s.list.len(), 4);
    }

    #[test]
    fn limit_stops_generation_before_bad_addresses() {
        let (v, cut) = addrs("10.9.0.2-5,10.9.0.20", 3).unwrap();
        assert_eq!(v, vec![ip("10.9.0.2"), ip("10.9.0.3"), ip("10.9.0.4")]);
        assert!(cut);
        // pptpd accepts 10.9.0.2-300 with 100 connections: it stops at the limit first.
        let (v, cut) = addrs("10.9.0.2-300", 100).unwrap();
        assert_eq!((v.len(), cut), (100, true));
        assert_eq!(addrs("10.9.0.250-300", 100), Err(written("10.9.0.256")));
        // Exactly filling the limit is not "reached".
        assert!(!addrs("10.9.0.1-3", 3).unwrap().1);
    }

    #[test]
    fn errors_match_pptpd() {
        assert_eq!(
            addrs("10.9.0.2-5 # comment", 100),
            Err(SpecError::BadAddress("10.9.0.2-5 # comment"))
        );
        assert_eq!(
            addrs("192.168.0.234, 192.168.0.245", 100),
            Err(SpecError::BadAddress(" 192.168.0.245"))
        );
        assert_eq!(
            addrs("10.9.0.2-5-7", 100),
            Err(SpecError::BadAddress("10.9.0.2-5-7"))
        );
        assert_eq!(
            addrs("10.9.0.5-2", 100),
            Err(SpecError::BadRange("10.9.0.5-2"))
        );
        assert_eq!(
            addrs("10.9.0.2-", 100),
            Err(SpecError::BadRange("10.9.0.2-"))
        );
        assert_eq!(addrs("", 100), Err(SpecError::BadAddress("")));
        assert_eq!(addrs("10.0.0.1,", 100), Err(SpecError::BadAddress("")));
        assert_eq!(
            addrs("10.9.1000.2-5", 100),
            Err(SpecError::BadAddress("10.9.1000.2-5"))
        );
        assert_eq!(
            addrs("10.9.0.2,10.9.0.1-3", 100),
            Err(SpecError::Duplicate(ip("10.9.0.2")))
        );
        assert_eq!(
            addrs("255.255.255.250-255", 100),
            Err(written("255.255.255.255"))
        );
    }

    #[test]
    fn local_addresses_may_repeat() {
        let s = parse("10.0.0.1,10.0.0.1", 10, false, &mut no_dns).unwrap();
        assert_eq!(s.list.len(), 2);
    }

    #[test]
    fn host_names_go_through_the_resolver() {
        let mut resolver = |n: &str| (n == "gw.example").then(|| ip("10.1.1.1"));
        let s = parse("gw.example,10.0.0.5", 10, true, &mut resolver).unwrap();
        assert_eq!(s.list.get(0), Some(ip("10.1.1.1")));
        assert_eq!(
            parse("nohost.example", 10, true, &mut resolver),
            Err(SpecError::BadAddress("nohost.example"))
        );
        assert_eq!(resolve_host("10.0.0.1 # x"), None);
    }

    #[test]
    fn host_names_come_from_the_hosts_file() {
        let hosts = "127.0.0.1 localhost\n::1 localhost ip6-localhost\n\
                     # 10.9.9.9 commented\n192.168.7.1\tRouter router.lan # the box\n\
                     10.1.1.1 other\n192.168.7.2 router\n";
        assert_eq!(lookup_in_hosts(hosts, "router"), Some(ip("192.168.7.1")));
        assert_eq!(
            lookup_in_hosts(hosts, "ROUTER.lan"),
            Some(ip("192.168.7.1"))
        );
        assert_eq!(lookup_in_hosts(hosts, "ip6-localhost"), None);
        assert_eq!(lookup_in_hosts(hosts, "commented"), None);
        assert_eq!(lookup_in_hosts(hosts, "the"), None);
        assert_eq!(lookup_in_hosts(hosts, "missing"), None);
        assert_eq!(lookup_in_hosts(hosts, "router lan"), None);
    }

    #[test]
    fn random_specs_never_panic() {
        let mut rng = XorShift(0xadd7);
        let alphabet = b"0123456789.-,x ";
        for _ in 0..5000 {
            let len = (rng.next_u32() % 24) as usize;
            let mut raw = vec![0u8; len];
            rng.fill_bytes(&mut raw);
            let text: String = raw
                .iter()
                .map(|b| alphabet[*b as usize % alphabet.len()] as char)
                .collect();
            if let Ok(s) = parse(&text, 64, true, &mut no_dns) {
                assert!(s.list.len() <= 64);
            }
            let _ = inet_addr(&text);
        }
    }
}
