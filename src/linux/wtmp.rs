//! wtmp accounting (pptpd.conf `logwtmp`): a login record when a session comes up and a
//! logout record when it ends, in /var/log/wtmp, so `last` shows who used the VPN and when.
//!
//! pptpd's logwtmp plugin calls pppd's `logwtmp(ifname, user, client IP)` at ip-up and
//! `logwtmp(ifname, "", "")` at ip-down. We write the same records with one difference: all
//! sessions share one TUN, so the line is the session's own name, `pptp<call id>` (unique
//! among live sessions, which `last` needs to pair a logout with its login).
//!
//! Records use glibc's `struct utmp` layout (384 bytes, what `last` and `utmpdump` read on
//! every Linux libc that keeps wtmp). Each is built in a buffer that belongs to [`Wtmp`] and
//! written with one `write(2)` on an `O_APPEND` descriptor, which keeps concurrent writers'
//! records whole; nothing is allocated.

use core::fmt::Write as _;
use core::net::Ipv4Addr;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

pub const DEFAULT_PATH: &str = "/var/log/wtmp";
/// `sizeof(struct utmp)` with glibc on every Linux architecture.
pub const RECORD_LEN: usize = 384;
pub const USER_PROCESS: i16 = 7;
pub const DEAD_PROCESS: i16 = 8;

const LINE: core::ops::Range<usize> = 8..40;
const ID: core::ops::Range<usize> = 40..44;
const USER: core::ops::Range<usize> = 44..76;
const HOST: core::ops::Range<usize> = 76..332;
const TV_SEC: usize = 340;
const TV_USEC: usize = 344;
const ADDR: usize = 348;

/// A session's name in wtmp, hook arguments and logs: `pptp<call id>`.
pub type SessionName = heapless::String<16>;

pub fn session_name(call_id: u16) -> SessionName {
    let mut name = SessionName::new();
    let _ = write!(name, "pptp{call_id}");
    name
}

/// The fields of one record, for building and for reading back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    pub kind: i16,
    pub pid: i32,
    pub line: &'a [u8],
    pub id: &'a [u8],
    pub user: &'a [u8],
    pub host: &'a [u8],
    pub seconds: u32,
    pub micros: u32,
    /// `ut_addr_v6[0]`: the client's tunnel address (pppd puts the peer's IPCP address there).
    pub address: Ipv4Addr,
}

fn put(out: &mut [u8], field: core::ops::Range<usize>, value: &[u8]) {
    let room = &mut out[field];
    let n = value.len().min(room.len());
    room[..n].copy_from_slice(&value[..n]);
}

/// The bytes of a C char field up to its first NUL.
fn c_str(field: &[u8]) -> &[u8] {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    &field[..end]
}

impl<'a> Record<'a> {
    /// Fill `out` (zeroed first) with this record in native byte order, like `struct utmp`.
    pub fn encode(&self, out: &mut [u8; RECORD_LEN]) {
        out.fill(0);
        out[0..2].copy_from_slice(&self.kind.to_ne_bytes());
        out[4..8].copy_from_slice(&self.pid.to_ne_bytes());
        put(out, LINE, self.line);
        put(out, ID, self.id);
        put(out, USER, self.user);
        put(out, HOST, self.host);
        out[TV_SEC..TV_SEC + 4].copy_from_slice(&self.seconds.to_ne_bytes());
        out[TV_USEC..TV_USEC + 4].copy_from_slice(&self.micros.to_ne_bytes());
        // in_addr: network byte order in memory.
        out[ADDR..ADDR + 4].copy_from_slice(&self.address.octets());
    }

    pub fn parse(buf: &'a [u8]) -> Option<Record<'a>> {
        let b = buf.get(..RECORD_LEN)?;
        let u32_at = |at: usize| u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        Some(Record {
            kind: i16::from_ne_bytes([b[0], b[1]]),
            pid: i32::from_ne_bytes([b[4], b[5], b[6], b[7]]),
            line: c_str(&b[LINE]),
            id: c_str(&b[ID]),
            user: c_str(&b[USER]),
            host: c_str(&b[HOST]),
            seconds: u32_at(TV_SEC),
            micros: u32_at(TV_USEC),
            address: Ipv4Addr::new(b[ADDR], b[ADDR + 1], b[ADDR + 2], b[ADDR + 3]),
        })
    }
}

/// The open wtmp file and the buffer its records are built in.
pub struct Wtmp {
    file: OwnedFd,
    record: [u8; RECORD_LEN],
    pid: i32,
}

/// Wall-clock time as (seconds, microseconds), the `ut_tv` pair.
fn now() -> (u32, u32) {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    (ts.tv_sec as u32, (ts.tv_nsec / 1000) as u32)
}

impl Wtmp {
    /// Open `path` for appending. Like glibc's `updwtmp`, a missing file is not created:
    /// the admin (or the distribution) decides whether wtmp is kept.
    pub fn open(path: &Path) -> io::Result<Wtmp> {
        let file = super::file::open(path, libc::O_WRONLY | libc::O_APPEND)?;
        Ok(Wtmp {
            file,
            record: [0; RECORD_LEN],
            pid: std::process::id() as i32,
        })
    }

    /// pppd's `logwtmp(line, user, host)` at ip-up: `host` is the client's public address,
    /// `address` its tunnel address.
    pub fn login(
        &mut self,
        line: &str,
        user: &str,
        host: Ipv4Addr,
        address: Ipv4Addr,
    ) -> io::Result<()> {
        let mut host_text = heapless::String::<16>::new();
        let _ = write!(host_text, "{host}");
        self.append(
            USER_PROCESS,
            line,
            user.as_bytes(),
            host_text.as_bytes(),
            address,
        )
    }

    /// pppd's `logwtmp(line, "", "")` at ip-down.
    pub fn logout(&mut self, line: &str) -> io::Result<()> {
        self.append(DEAD_PROCESS, line, b"", b"", Ipv4Addr::UNSPECIFIED)
    }

    fn append(
        &mut self,
        kind: i16,
        line: &str,
        user: &[u8],
        host: &[u8],
        address: Ipv4Addr,
    ) -> io::Result<()> {
        let (seconds, micros) = now();
        // ut_id: the line's last four bytes (sysvinit's convention for unique ids).
        let line = line.as_bytes();
        let id = &line[line.len().saturating_sub(4)..];
        Record {
            kind,
            pid: self.pid,
            line,
            id,
            user,
            host,
            seconds,
            micros,
            address,
        }
        .encode(&mut self.record);
        super::file::write_all(self.file.as_raw_fd(), &self.record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rand::{Random, XorShift};

    #[test]
    fn layout_is_glibc_struct_utmp() {
        // The libc crate's struct (glibc) has the size and offsets we write.
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        {
            assert_eq!(core::mem::size_of::<libc::utmpx>(), RECORD_LEN);
            let u: libc::utmpx = unsafe { core::mem::zeroed() };
            let base = &u as *const _ as usize;
            assert_eq!(u.ut_line.as_ptr() as usize - base, LINE.start);
            assert_eq!(u.ut_id.as_ptr() as usize - base, ID.start);
            assert_eq!(u.ut_user.as_ptr() as usize - base, USER.start);
            assert_eq!(u.ut_host.as_ptr() as usize - base, HOST.start);
            assert_eq!(&u.ut_tv as *const _ as usize - base, TV_SEC);
            assert_eq!(u.ut_addr_v6.as_ptr() as usize - base, ADDR);
        }
        let mut out = [0xAAu8; RECORD_LEN];
        Record {
            kind: USER_PROCESS,
            pid: 0x01020304,
            line: b"pptp4660",
            id: b"4660",
            user: b"tomc",
            host: b"192.0.2.100",
            seconds: 1_700_000_000,
            micros: 5,
            address: Ipv4Addr::new(10, 9, 0, 2),
        }
        .encode(&mut out);
        assert_eq!(
            &out[0..4],
            &[7u16.to_ne_bytes()[0], 7u16.to_ne_bytes()[1], 0, 0]
        );
        assert_eq!(&out[8..17], b"pptp4660\0");
        assert_eq!(&out[348..352], &[10, 9, 0, 2]);
        assert!(out[352..].iter().all(|&b| b == 0));
    }

    #[test]
    fn login_and_logout_records_read_back() {
        let path = std::env::temp_dir().join(format!("smolpptp-wtmp-{}", std::process::id()));
        assert!(Wtmp::open(&path).is_err(), "a missing wtmp is not created");
        std::fs::write(&path, b"").unwrap();
        let mut wtmp = Wtmp::open(&path).unwrap();
        let before = now().0;
        let name = session_name(4660);
        wtmp.login(
            &name,
            "tomc",
            Ipv4Addr::new(192, 0, 2, 100),
            Ipv4Addr::new(10, 9, 0, 2),
        )
        .unwrap();
        wtmp.logout(&name).unwrap();
        let data = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(data.len(), 2 * RECORD_LEN);

        let login = Record::parse(&data[..RECORD_LEN]).unwrap();
        assert_eq!(login.kind, USER_PROCESS);
        assert_eq!(login.pid, std::process::id() as i32);
        assert_eq!(login.line, b"pptp4660");
        assert_eq!(login.id, b"4660");
        assert_eq!(login.user, b"tomc");
        assert_eq!(login.host, b"192.0.2.100");
        assert_eq!(login.address, Ipv4Addr::new(10, 9, 0, 2));
        assert!(login.seconds >= before && login.seconds <= before + 5);

        let logout = Record::parse(&data[RECORD_LEN..]).unwrap();
        assert_eq!(logout.kind, DEAD_PROCESS);
        assert_eq!(logout.line, b"pptp4660");
        assert_eq!((logout.user, logout.host), (&b""[..], &b""[..]));
        assert!(logout.seconds >= login.seconds);
    }

    #[test]
    fn long_fields_are_cut_not_overflowed() {
        let long = [b'x'; 300];
        let mut out = [0u8; RECORD_LEN];
        Record {
            kind: USER_PROCESS,
            pid: 1,
            line: &long,
            id: &long,
            user: &long,
            host: &long,
            seconds: 0,
            micros: 0,
            address: Ipv4Addr::UNSPECIFIED,
        }
        .encode(&mut out);
        let r = Record::parse(&out).unwrap();
        // Full-width fields have no NUL, so each runs into the next: as in C, by design.
        assert_eq!(&out[LINE], &long[..32]);
        assert_eq!(r.host.len(), 256);
        assert_eq!(session_name(65535).as_str(), "pptp65535");
    }

    #[test]
    fn parse_never_panics() {
        let mut rng = XorShift(7);
        let mut buf = [0u8; RECORD_LEN + 8];
        for _ in 0..2000 {
            rng.fill_bytes(&mut buf);
            let len = rng.next_u32() as usize % buf.len();
            let _ = Record::parse(&buf[..len]);
        }
    }
}
