//! The values of smolpptp's per-user keywords in pptpd.conf (pptpd ignores them):
//!
//! ```text
//! single-session replace            # off (default) | replace | deny
//! session-timeout 86400             # seconds, 0 = none (default: pppd's maxconnect)
//! rate-limit 2mbit/512kbit          # to client / from client; one value = both; off
//! mss-clamp auto                    # off | auto (tunnel MTU - 40, default) | a number
//! user-limit alice single-session=deny rate=512kbit idle=600 session-timeout=3600
//! ```
//!
//! `user-limit` may appear once per user; its settings override the global ones for that
//! user, and `idle=` overrides pppd's `idle`. Rates are bits per second with an optional
//! `k`/`kbit`, `m`/`mbit` or `g`/`gbit` suffix (a bare number is kbit/s, as in accel-ppp).

use crate::settings::{MssClamp, Rate, SingleSession, UserLimit, MAX_NAME_LEN};
use crate::wire::tcp_mss::IPV4_TCP_HEADERS;

pub fn single_session(value: &str) -> Result<SingleSession, String> {
    match super::find_name(names!("off", "no", "allow", "replace", "deny"), value) {
        Some(0..=2) => Ok(SingleSession::Allow),
        Some(3) => Ok(SingleSession::Replace),
        Some(_) => Ok(SingleSession::Deny),
        None => Err(must_be("single-session", "off, replace or deny", value)),
    }
}

/// `"{keyword} must be {expected}, not '{value}'"`: the one shape of most value errors,
/// formatted here once instead of at every site.
#[inline(never)]
pub fn must_be(keyword: &str, expected: &str, value: &str) -> String {
    format!("{keyword} must be {expected}, not '{value}'")
}

/// Seconds, 0 = off.
pub fn seconds(keyword: &str, value: &str) -> Result<u32, String> {
    value
        .parse()
        .map_err(|_| must_be(keyword, "a number of seconds", value))
}

/// One rate: `512kbit`, `2m`, `100000` (kbit/s) ... in bits per second.
fn bits_per_sec(value: &str) -> Option<u32> {
    // The units (the first is none) and their scales.
    const UNITS: &str = names!("", "k", "kbit", "m", "mbit", "g", "gbit", "bit");
    const SCALES: [u32; 8] = [
        1_000,
        1_000,
        1_000,
        1_000_000,
        1_000_000,
        1_000_000_000,
        1_000_000_000,
        1,
    ];
    let value = value.trim();
    // Bytes, not chars (digits are ASCII): the char iterator stays out of the binary.
    let split = value
        .bytes()
        .position(|c| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (digits, unit) = value.split_at(split);
    // More than u32::MAX bits per second is too fast whatever the unit.
    let n: u32 = digits.parse().ok()?;
    let unit = super::split_on(UNITS, ' ').position(|u| u.eq_ignore_ascii_case(unit))?;
    n.checked_mul(SCALES[unit]).filter(|&bps| bps >= 8)
}

/// `off`, `RATE` (both directions) or `DOWN/UP`.
pub fn rate(value: &str) -> Result<Option<Rate>, String> {
    if value == "off" || value == "0" {
        return Ok(None);
    }
    let (down, up) = value.split_once('/').unwrap_or((value, value));
    match (bits_per_sec(down), bits_per_sec(up)) {
        (Some(down_bps), Some(up_bps)) => Ok(Some(Rate { down_bps, up_bps })),
        _ => Err(must_be(
            "rate",
            "off, a rate such as 512kbit or 2mbit, or down/up such as 2mbit/512kbit",
            value,
        )),
    }
}

/// The MSS of a full 1500-byte Ethernet packet; the message above spells it out.
const MAX_MSS: u32 = 1500 - IPV4_TCP_HEADERS as u32;
const _: () = assert!(MAX_MSS == 1460);

pub fn mss_clamp(value: &str) -> Result<MssClamp, String> {
    match super::find_name(names!("off", "no", "auto", "on", "yes"), value) {
        Some(0 | 1) => Ok(MssClamp::Off),
        Some(_) => Ok(MssClamp::Auto),
        // u32 like the other numbers here (one parser in the binary); the range check
        // rejects what u16 would not hold.
        None => match value.parse::<u32>() {
            Ok(mss @ 88..=MAX_MSS) => Ok(MssClamp::Fixed(mss as u16)),
            _ => Err(must_be(
                "mss-clamp",
                "off, auto or an MSS from 88 to 1460",
                value,
            )),
        },
    }
}

/// `NAME key=value ...` of a `user-limit` line.
pub fn user_limit(value: &str) -> Result<(heapless::String<MAX_NAME_LEN>, UserLimit), String> {
    let mut user = Default::default();
    user_limit_into(value, &mut user)?;
    Ok(user)
}

/// [`user_limit`] into `user` (a default one): nothing large goes through `?`.
#[inline(never)] // called in a loop: inlined, LLVM hoists and spills its constants
pub fn user_limit_into(
    value: &str,
    (user, limit): &mut (heapless::String<MAX_NAME_LEN>, UserLimit),
) -> Result<(), String> {
    const KEYS: &str = names!("single-session", "rate", "idle", "session-timeout");
    let mut words = value.split_ascii_whitespace();
    let Some(name) = words.next().filter(|n| !n.contains('=')) else {
        return Err("user-limit needs a user name first, then key=value settings".into());
    };
    user.push_str(name)
        .map_err(|_| String::from("user-limit: user name longer than 64"))?;
    // The number written out above: a constant argument is code at the call.
    const _: () = assert!(MAX_NAME_LEN == 64);
    for word in words {
        // A bad word's message, (before, quoted, after): both from one format site.
        let (before, quoted, after) = match word.split_once('=') {
            None => ("", word, " is not key=value"),
            Some((key, v)) => match super::find_name(KEYS, key) {
                Some(0) => {
                    limit.single_session = Some(single_session(v)?);
                    continue;
                }
                Some(1) => {
                    limit.rate = Some(rate(v)?.unwrap_or(Rate::UNLIMITED));
                    continue;
                }
                // `idle` and `session-timeout`: seconds.
                Some(k) => {
                    let field = if k == 2 {
                        &mut limit.idle
                    } else {
                        &mut limit.session_timeout
                    };
                    *field = Some(seconds(key, v)?);
                    continue;
                }
                None => (
                    "unknown setting ",
                    key,
                    " (single-session, rate, idle, session-timeout)",
                ),
            },
        };
        return Err(format!("user-limit {name}: {before}'{quoted}'{after}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        let r = |v| rate(v).unwrap().unwrap();
        assert_eq!(r("512kbit").down_bps, 512_000);
        assert_eq!(r("512").up_bps, 512_000);
        assert_eq!(
            r("2M"),
            Rate {
                down_bps: 2_000_000,
                up_bps: 2_000_000
            }
        );
        assert_eq!(
            r("2mbit/512kbit"),
            Rate {
                down_bps: 2_000_000,
                up_bps: 512_000
            }
        );
        assert_eq!(rate("off").unwrap(), None);
        for bad in ["", "fast", "5tb", "1bit", "99999gbit", "1/", "-3k"] {
            assert!(rate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn user_limit_lines() {
        let (name, l) =
            user_limit("alice single-session=deny rate=1m idle=600 session-timeout=3600").unwrap();
        assert_eq!(name.as_str(), "alice");
        assert_eq!(l.single_session, Some(SingleSession::Deny));
        assert_eq!(l.rate.map(|r| r.up_bps), Some(1_000_000));
        assert_eq!((l.idle, l.session_timeout), (Some(600), Some(3600)));
        let (_, l) = user_limit("bob rate=off").unwrap();
        assert_eq!(l.rate, Some(Rate::UNLIMITED));
        assert_eq!(l.single_session, None);
        for bad in ["", "rate=1m", "carol speed=1", "carol idle=x", "carol idle"] {
            assert!(user_limit(bad).is_err(), "{bad}");
        }
        assert_eq!(
            user_limit("carol speed=1").unwrap_err(),
            "user-limit carol: unknown setting 'speed' (single-session, rate, idle, \
             session-timeout)"
        );
        assert_eq!(
            user_limit("carol idle").unwrap_err(),
            "user-limit carol: 'idle' is not key=value"
        );
    }

    #[test]
    fn mss_values() {
        assert_eq!(mss_clamp("auto").unwrap(), MssClamp::Auto);
        assert_eq!(mss_clamp("off").unwrap(), MssClamp::Off);
        assert_eq!(mss_clamp("1300").unwrap(), MssClamp::Fixed(1300));
        assert!(mss_clamp("20").is_err() && mss_clamp("9000").is_err());
        assert_eq!(single_session("replace").unwrap(), SingleSession::Replace);
        assert!(single_session("maybe").is_err());
    }
}
