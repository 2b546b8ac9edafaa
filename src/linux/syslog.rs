//! Logging for the daemon: a `log::Log` that formats each record into a fixed stack buffer
//! (long lines are truncated, nothing is allocated) and sends `<PRI>smolpptpd[pid]: msg` to
//! /dev/log like pptpd's `openlog("pptpd", LOG_PID, LOG_DAEMON)`, or writes it to stderr in
//! the foreground. No timestamp or host name: every syslog daemon (rsyslog, syslog-ng,
//! busybox syslogd, OpenWrt logd) stamps messages from /dev/log itself.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};
use log::{Level, LevelFilter, Log, Metadata, Record};

/// Longest line we send; the rest is cut (syslog daemons cut at 1 KiB or so anyway).
pub const MAX_LINE: usize = 512;
/// The syslog ident, as pppd/pptpd use their program name.
pub const IDENT: &str = "smolpptpd";
/// LOG_DAEMON, the facility pptpd and pppd log to.
const FACILITY_DAEMON: u8 = 3 << 3;
const NO_FD: i32 = -1;

/// The daemon's logger. Use the one static instance through [`init`].
pub struct SyslogLogger {
    path: &'static str,
    foreground: AtomicBool,
    fd: AtomicI32,
    pid: AtomicU32,
}

static LOGGER: SyslogLogger = SyslogLogger::new("/dev/log");
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Has [`init`] run? (Before it, errors go to stderr directly.)
pub fn installed() -> bool {
    INSTALLED.load(Ordering::Relaxed)
}

/// Install the logger: `foreground` writes to stderr instead of syslog (`--fg` under procd
/// or systemd, which collect stderr), `debug` lowers the level to Debug (`-d`/`debug`).
pub fn init(foreground: bool, debug: bool) -> Result<(), log::SetLoggerError> {
    LOGGER.configure(foreground);
    log::set_logger(&LOGGER)?;
    INSTALLED.store(true, Ordering::Relaxed);
    set_debug(debug);
    Ok(())
}

/// Change the level after a reload (SIGHUP) re-read `debug`.
pub fn set_debug(debug: bool) {
    log::set_max_level(if debug {
        LevelFilter::Debug
    } else {
        LevelFilter::Info
    });
}

/// The syslog severity of a `log` level (RFC 5424 numbers).
fn severity(level: Level) -> u8 {
    match level {
        Level::Error => 3,
        Level::Warn => 4,
        Level::Info => 6,
        Level::Debug | Level::Trace => 7,
    }
}

/// A fixed buffer that keeps the first `MAX_LINE` bytes written and drops the rest, cutting
/// only at a UTF-8 character boundary.
pub struct LineBuffer {
    buf: [u8; MAX_LINE],
    len: usize,
}

impl LineBuffer {
    pub const fn new() -> LineBuffer {
        LineBuffer {
            buf: [0; MAX_LINE],
            len: 0,
        }
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Default for LineBuffer {
    fn default() -> Self {
        Self::new()
    }
}

impl Write for LineBuffer {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = MAX_LINE - self.len;
        let mut take = s.len().min(room);
        while !s.is_char_boundary(take) {
            take -= 1;
        }
        self.buf[self.len..self.len + take].copy_from_slice(&s.as_bytes()[..take]);
        self.len += take;
        // Never report an error: that would abort the whole format and lose the start.
        Ok(())
    }
}

/// `<PRI>smolpptpd[pid]: message` for syslog, `smolpptpd[pid]: message\n` for stderr.
pub fn format_line(
    out: &mut LineBuffer,
    syslog: bool,
    level: Level,
    pid: u32,
    args: &fmt::Arguments,
) {
    if syslog {
        let _ = write!(out, "<{}>", FACILITY_DAEMON | severity(level));
    }
    let _ = write!(out, "{IDENT}[{pid}]: ");
    if !syslog {
        // stderr has no priority field: mark the lines an admin must not miss.
        match level {
            Level::Error => out.write_str("error: ").unwrap_or(()),
            Level::Warn => out.write_str("warning: ").unwrap_or(()),
            _ => {}
        }
    }
    let _ = out.write_fmt(*args);
    if !syslog {
        // Keep the newline even when the message was cut.
        if out.len == MAX_LINE {
            out.len -= 1;
            while out.len > 0 && (out.buf[out.len] & 0xC0) == 0x80 {
                out.len -= 1;
            }
        }
        let _ = out.write_str("\n");
    }
}

impl SyslogLogger {
    /// A logger sending to the AF_UNIX datagram socket at `path`.
    pub const fn new(path: &'static str) -> SyslogLogger {
        SyslogLogger {
            path,
            foreground: AtomicBool::new(false),
            fd: AtomicI32::new(NO_FD),
            pid: AtomicU32::new(0),
        }
    }

    /// Choose stderr or syslog, and (re)read the pid (it changes after a fork).
    pub fn configure(&self, foreground: bool) {
        self.foreground.store(foreground, Ordering::Relaxed);
        self.pid
            .store(unsafe { libc::getpid() } as u32, Ordering::Relaxed);
        if !foreground {
            self.connect();
        }
    }

    fn connect(&self) -> i32 {
        let fd = super::sys::socket(
            libc::AF_UNIX,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        );
        if fd < 0 {
            return NO_FD;
        }
        let mut addr: libc::sockaddr_un = unsafe { core::mem::zeroed() };
        addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
        let path = self.path.as_bytes();
        let n = path.len().min(addr.sun_path.len() - 1);
        for (d, s) in addr.sun_path.iter_mut().zip(&path[..n]) {
            *d = *s as libc::c_char;
        }
        let ok = unsafe {
            super::sys::connect(
                fd,
                (&addr as *const libc::sockaddr_un).cast(),
                core::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t,
            )
        } == 0;
        if !ok {
            unsafe { libc::close(fd) };
            return NO_FD;
        }
        let old = self.fd.swap(fd, Ordering::AcqRel);
        if old != NO_FD {
            unsafe { libc::close(old) };
        }
        fd
    }

    fn send(&self, line: &[u8]) -> bool {
        let fd = self.fd.load(Ordering::Acquire);
        let sent = |fd: i32| {
            fd != NO_FD && super::sys::send(fd, line, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) >= 0
        };
        if sent(fd) {
            return true;
        }
        let err = std::io::Error::last_os_error().raw_os_error();
        // A full queue means the syslog daemon is slow: drop the line, never block the loop.
        if fd != NO_FD && err == Some(libc::EAGAIN) {
            return true;
        }
        // The syslog daemon restarted (ECONNREFUSED/ENOTCONN) or was not there yet.
        sent(self.connect())
    }
}

fn write_stderr(line: &[u8]) {
    unsafe { libc::write(2, line.as_ptr().cast(), line.len()) };
}

impl Log for SyslogLogger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let pid = self.pid.load(Ordering::Relaxed);
        let mut line = LineBuffer::new();
        if self.foreground.load(Ordering::Relaxed) {
            format_line(&mut line, false, record.level(), pid, record.args());
            write_stderr(line.as_bytes());
            return;
        }
        format_line(&mut line, true, record.level(), pid, record.args());
        if !self.send(line.as_bytes()) {
            // No syslog daemon: better on stderr than lost.
            let mut line = LineBuffer::new();
            format_line(&mut line, false, record.level(), pid, record.args());
            write_stderr(line.as_bytes());
        }
    }

    fn flush(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixDatagram;

    fn line(syslog: bool, level: Level, args: fmt::Arguments) -> Vec<u8> {
        let mut out = LineBuffer::new();
        format_line(&mut out, syslog, level, 42, &args);
        out.as_bytes().to_vec()
    }

    #[test]
    fn syslog_priorities_are_facility_daemon() {
        assert_eq!(
            line(
                true,
                Level::Info,
                format_args!("CTRL: Client {} control connection started", "10.0.0.2")
            ),
            b"<30>smolpptpd[42]: CTRL: Client 10.0.0.2 control connection started"
        );
        assert!(line(true, Level::Error, format_args!("x")).starts_with(b"<27>"));
        assert!(line(true, Level::Warn, format_args!("x")).starts_with(b"<28>"));
        assert!(line(true, Level::Debug, format_args!("x")).starts_with(b"<31>"));
        assert!(line(true, Level::Trace, format_args!("x")).starts_with(b"<31>"));
    }

    #[test]
    fn stderr_lines_end_in_newline_and_name_bad_levels() {
        assert_eq!(
            line(false, Level::Info, format_args!("up")),
            b"smolpptpd[42]: up\n"
        );
        assert_eq!(
            line(false, Level::Warn, format_args!("careful")),
            b"smolpptpd[42]: warning: careful\n"
        );
    }

    #[test]
    fn long_lines_are_cut_on_a_char_boundary() {
        let long = "é".repeat(400); // 800 bytes
        let l = line(true, Level::Info, format_args!("{long}"));
        assert!(l.len() <= MAX_LINE && l.len() >= MAX_LINE - 1);
        assert!(core::str::from_utf8(&l).is_ok());
        let l = line(false, Level::Info, format_args!("{long}"));
        assert!(l.len() <= MAX_LINE);
        assert_eq!(*l.last().unwrap(), b'\n');
        assert!(core::str::from_utf8(&l).is_ok());
    }

    #[test]
    fn sends_datagrams_and_reconnects() {
        let dir = std::env::temp_dir().join(format!("smolpptp-syslog-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("log");
        let _ = std::fs::remove_file(&path);
        let path_str: &'static str = Box::leak(path.to_str().unwrap().to_string().into_boxed_str());
        let logger: &'static SyslogLogger = Box::leak(Box::new(SyslogLogger::new(path_str)));

        // No listener yet: the logger must not fail, just fall back.
        logger.configure(false);
        assert!(!logger.send(b"lost"));

        let server = UnixDatagram::bind(&path).unwrap();
        assert!(logger.send(b"<30>one"));
        let mut buf = [0u8; 600];
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"<30>one");

        // The syslog daemon restarts: the old connection is dead, a new one is made.
        drop(server);
        let _ = std::fs::remove_file(&path);
        let server = UnixDatagram::bind(&path).unwrap();
        assert!(logger.send(b"<30>two"));
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"<30>two");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
