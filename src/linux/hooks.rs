//! pppd's scripts: `/etc/ppp/ip-pre-up` and `/etc/ppp/ip-up` when a session comes up,
//! `/etc/ppp/ip-down` when it ends, with pppd's arguments and environment, so existing
//! scripts (routes, firewall marks, `tc` shaping, notifications) keep working.
//!
//! The poll loop must neither block nor allocate, so it does not run them itself. At
//! start-up the daemon forks a small hook runner ([`HookRunner::spawn`]) that owns a
//! `SOCK_SEQPACKET` socketpair. The loop sends it fixed-size requests with a nonblocking
//! `send` from a buffer that exists before the loop; the runner (another process, which may
//! allocate) does the fork/exec/wait. Per session it keeps pppd's order: ip-pre-up runs to
//! completion, then ip-up, and ip-down only after ip-up has finished. Different sessions'
//! scripts run in parallel. When the daemon exits the runner finishes what was asked
//! (every session's ip-down on shutdown) and exits too.
//!
//! Arguments, as pppd gives them: `$1` interface, `$2` tty, `$3` speed, `$4` local IP,
//! `$5` remote IP, `$6` ipparam. All sessions share one TUN, so `$1`/`IFNAME` is its name
//! (e.g. `smolpptp0`) for every session; tell sessions apart by `$5`/`IPREMOTE`. The tty is
//! the session's name `pptp<call id>` (there is no pty), the speed pptpd's 115200, and
//! ipparam the client's public address, as pptpd passes it (empty with pptpd's
//! `noipparam`).
//!
//! Environment: pppd's `IFNAME DEVICE SPEED LINKNAME PEERNAME IPLOCAL IPREMOTE IPPARAM
//! REMOTENUMBER PPPD_PID PPPLOGNAME ORIG_UID`, `CONNECT_TIME BYTES_SENT BYTES_RCVD` for
//! ip-down, Debian's `PPP_IFACE PPP_TTY PPP_SPEED PPP_LOCAL PPP_REMOTE PPP_IPPARAM
//! PPP_TTYNAME` (Debian's own ip-up wrapper sets those), `PPTP_CALL_ID`, and a standard
//! `PATH`. Like pppd, scripts run as root with umask 077, in `/`, in a session of their own,
//! with stdin/stdout/stderr on /dev/null; a script that does not exist or is not executable
//! is skipped silently.

use core::net::Ipv4Addr;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use super::spawn::{self, CStrings, Child};
use crate::settings::MAX_NAME_LEN;

/// The size of one request on the socketpair.
pub const REQUEST_LEN: usize = 128;
/// pptpd's default `speed`, which pppd passes as `$3`.
pub const SPEED: &str = "115200";
/// `PATH` for the scripts.
pub const SCRIPT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

const UP: u8 = 1;
const DOWN: u8 = 2;

/// Where the scripts are and what every session shares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HookConfig {
    pub ip_pre_up: PathBuf,
    pub ip_up: PathBuf,
    pub ip_down: PathBuf,
    /// The TUN's name: `$1` and `IFNAME`.
    pub ifname: String,
    /// pptpd's `noipparam`: `$6`/`IPPARAM` empty instead of the client's address.
    pub noipparam: bool,
}

impl HookConfig {
    /// pppd's scripts in /etc/ppp.
    pub fn etc_ppp(ifname: &str) -> HookConfig {
        HookConfig {
            ip_pre_up: "/etc/ppp/ip-pre-up".into(),
            ip_up: "/etc/ppp/ip-up".into(),
            ip_down: "/etc/ppp/ip-down".into(),
            ifname: ifname.into(),
            noipparam: false,
        }
    }
}

/// A session coming up or going down, as the runner needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HookEvent {
    pub up: bool,
    pub call_id: u16,
    pub user: heapless::String<MAX_NAME_LEN>,
    /// Our side of the tunnel.
    pub local: Ipv4Addr,
    /// The client's tunnel address.
    pub remote: Ipv4Addr,
    /// The client's public address.
    pub peer: Ipv4Addr,
    pub connect_secs: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
}

impl HookEvent {
    pub fn encode(&self, out: &mut [u8; REQUEST_LEN]) {
        out.fill(0);
        out[0] = if self.up { UP } else { DOWN };
        out[1..3].copy_from_slice(&self.call_id.to_be_bytes());
        let user = self.user.as_bytes();
        let n = user.len().min(MAX_NAME_LEN);
        out[3] = n as u8;
        out[4..4 + n].copy_from_slice(&user[..n]);
        out[68..72].copy_from_slice(&self.local.octets());
        out[72..76].copy_from_slice(&self.remote.octets());
        out[76..80].copy_from_slice(&self.peer.octets());
        for (i, v) in [self.connect_secs, self.bytes_sent, self.bytes_received]
            .iter()
            .enumerate()
        {
            out[80 + 8 * i..88 + 8 * i].copy_from_slice(&v.to_be_bytes());
        }
    }

    pub fn decode(b: &[u8]) -> Option<HookEvent> {
        let b = b.get(..REQUEST_LEN)?;
        let up = match b[0] {
            UP => true,
            DOWN => false,
            _ => return None,
        };
        let n = usize::from(b[3]);
        let mut user = heapless::String::new();
        user.push_str(core::str::from_utf8(b.get(4..4 + n)?).ok()?)
            .ok()?;
        let addr = |at: usize| Ipv4Addr::new(b[at], b[at + 1], b[at + 2], b[at + 3]);
        let number = |i: usize| {
            let mut v = [0u8; 8];
            v.copy_from_slice(&b[80 + 8 * i..88 + 8 * i]);
            u64::from_be_bytes(v)
        };
        Some(HookEvent {
            up,
            call_id: u16::from_be_bytes([b[1], b[2]]),
            user,
            local: addr(68),
            remote: addr(72),
            peer: addr(76),
            connect_secs: number(0),
            bytes_sent: number(1),
            bytes_received: number(2),
        })
    }
}

/// The daemon's end of the runner.
pub struct HookRunner {
    fd: Option<OwnedFd>,
    pid: libc::pid_t,
    request: [u8; REQUEST_LEN],
}

impl HookRunner {
    /// Fork the runner. Call early, while the daemon is single-threaded and before it opens
    /// devices: the runner keeps a copy of every descriptor open at this point.
    pub fn spawn(config: HookConfig) -> io::Result<HookRunner> {
        let mut pair = [0; 2];
        if socketpair(&mut pair) < 0 {
            return Err(io::Error::last_os_error());
        }
        let (ours, theirs) =
            unsafe { (OwnedFd::from_raw_fd(pair[0]), OwnedFd::from_raw_fd(pair[1])) };
        // SAFETY: fork; the child only runs `serve` and exits.
        match unsafe { super::sys::fork() } {
            -1 => Err(io::Error::last_os_error()),
            0 => {
                drop(ours);
                // Should `serve` panic and unwind (builds with panic=unwind), this guard's
                // drop ends the process before the daemon's frames (pid file, TUN,
                // firewall) could run their destructors.
                let _exit = ExitOnUnwind;
                serve(theirs, &config);
                // SAFETY: leave without running the daemon's destructors (pid file, TUN).
                unsafe { libc::_exit(0) }
            }
            pid => {
                drop(theirs);
                // Our end stays blocking: `request` sends with MSG_DONTWAIT.
                Ok(HookRunner {
                    fd: Some(ours),
                    pid,
                    request: [0; REQUEST_LEN],
                })
            }
        }
    }

    pub fn pid(&self) -> libc::pid_t {
        self.pid
    }

    /// Ask for a session's scripts; never blocks. A runner that is stuck (its queue full)
    /// loses the request, with a warning.
    pub fn request(&mut self, event: &HookEvent) {
        let Some(fd) = &self.fd else {
            return;
        };
        event.encode(&mut self.request);
        let rc = super::sys::send(
            fd.as_raw_fd(),
            &self.request,
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        );
        if rc < 0 {
            crate::warn!(
                "hook runner: {} for call {} not run: {}",
                if event.up { "ip-up" } else { "ip-down" },
                event.call_id,
                super::ErrorText(io::Error::last_os_error())
            );
        }
    }

    /// Close the request channel and give the runner `grace` to finish the scripts it was
    /// asked for (after that it carries on alone). True if it exited.
    pub fn finish(&mut self, grace: std::time::Duration) -> bool {
        self.fd = None;
        // The daemon's own monotonic clock rather than std's Instant (its arithmetic is
        // code this binary otherwise does without).
        let grace = smoltcp::time::Duration::from_micros(grace.as_micros() as u64);
        let start = super::clock::now();
        loop {
            let mut status = 0;
            let rc = spawn::waitpid(self.pid, &mut status, libc::WNOHANG);
            if rc == self.pid || rc < 0 {
                return true;
            }
            if super::clock::now() - start >= grace {
                return false;
            }
            spawn::sleep_ms(20);
        }
    }
}

/// socketpair(2) for the runner's channel, as the system call on the boards where it is
/// one: musl's wrapper goes through the socketcall multiplexer on MIPS (o32 has had the
/// direct call as long) and adds a fallback for kernels before SOCK_CLOEXEC (2.6.27), 0.4 KB
/// of the mipsel binary. On x86 the direct call is younger (4.3): musl's wrapper stays.
fn socketpair(pair: &mut [libc::c_int; 2]) -> libc::c_int {
    let ty = libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC;
    #[cfg(all(target_env = "musl", any(target_arch = "mips", target_arch = "arm")))]
    // SAFETY: socketpair fills two ints, and `pair` has room for them.
    let rc = unsafe {
        let (domain, ty) = (libc::AF_UNIX as libc::c_long, ty as libc::c_long);
        libc::syscall(
            libc::SYS_socketpair,
            domain,
            ty,
            0 as libc::c_long,
            pair.as_mut_ptr(),
        ) as libc::c_int
    };
    #[cfg(not(all(target_env = "musl", any(target_arch = "mips", target_arch = "arm"))))]
    // SAFETY: as above.
    let rc = unsafe { libc::socketpair(libc::AF_UNIX, ty, 0, pair.as_mut_ptr()) };
    rc
}

struct ExitOnUnwind;

impl Drop for ExitOnUnwind {
    fn drop(&mut self) {
        // SAFETY: only reached by unwinding out of the runner.
        unsafe { libc::_exit(1) }
    }
}

impl Drop for HookRunner {
    fn drop(&mut self) {
        if self.fd.is_some() {
            self.finish(std::time::Duration::from_secs(3));
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Script {
    PreUp,
    Up,
    Down,
}

/// One session's scripts, run one after another.
struct Chain {
    call_id: u16,
    running: Option<Child>,
    /// Oldest first; a handful at most, so taking from the front of a Vec is cheap.
    queue: Vec<(Script, HookEvent)>,
}

/// The runner's loop: read requests until the daemon closes its end, run each session's
/// scripts in order, and return once everything asked for has finished.
pub fn serve(fd: OwnedFd, config: &HookConfig) {
    // A handful of sessions at a time: a list is smaller than a HashMap and fast enough.
    let mut chains: Vec<Chain> = Vec::new();
    let mut open = true;
    let mut buf = [0u8; REQUEST_LEN];
    loop {
        for chain in chains.iter_mut() {
            if let Some(child) = chain.running.as_mut() {
                if !matches!(child.try_wait(), Ok(None)) {
                    chain.running = None;
                }
            }
            while chain.running.is_none() {
                if chain.queue.is_empty() {
                    break;
                }
                // Run it from where it is queued, then drop it: moving the event out first
                // copied its 130 bytes word by word. A session coming up is one entry, run
                // as ip-pre-up and then, turned into ip-up, again.
                let (script, event) = &mut chain.queue[0];
                let now = *script;
                chain.running = run(config, now, event);
                if now == Script::PreUp {
                    *script = Script::Up;
                } else {
                    chain.queue.remove(0);
                }
                let script = now;
                if chain.running.is_none() {
                    crate::debug!(
                        "hook runner: nothing run for call {} ({script:?})",
                        chain.call_id
                    );
                }
            }
        }
        chains.retain(|c| c.running.is_some() || !c.queue.is_empty());
        if !open && chains.is_empty() {
            return;
        }
        let timeout = if chains.is_empty() { -1 } else { 50 };
        let mut pfd = libc::pollfd {
            fd: if open { fd.as_raw_fd() } else { -1 },
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut pfd, 1, timeout) };
        if !open || pfd.revents == 0 {
            continue;
        }
        let n = super::sys::recv(fd.as_raw_fd(), &mut buf, 0);
        if n == 0 || (n < 0 && super::file::failed().is_some()) {
            open = false;
            continue;
        }
        let Some(event) = HookEvent::decode(&buf[..n.max(0) as usize]) else {
            continue;
        };
        let at = match chains.iter().position(|c| c.call_id == event.call_id) {
            Some(at) => at,
            None => {
                chains.push(Chain {
                    call_id: event.call_id,
                    running: None,
                    queue: Vec::new(),
                });
                chains.len() - 1
            }
        };
        let script = if event.up {
            Script::PreUp
        } else {
            Script::Down
        };
        chains[at].queue.push((script, event));
    }
}

/// pppd's check: a regular file with an execute bit.
fn runnable(path: &std::path::Path) -> bool {
    super::file::stat(path)
        .is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFREG && st.st_mode & 0o111 != 0)
}

/// Where each value sits in the table [`script_args`] formats the scripts' arguments and
/// environment from.
mod slot {
    pub const PATH: u8 = 0;
    pub const IFNAME: u8 = 1;
    pub const TTY: u8 = 2;
    pub const SPEED: u8 = 3;
    pub const USER: u8 = 4;
    pub const LOCAL: u8 = 5;
    pub const REMOTE: u8 = 6;
    pub const IPPARAM: u8 = 7;
    pub const PEER: u8 = 8;
    pub const CALL_ID: u8 = 9;
    pub const PPID: u8 = 10;
    pub const UID: u8 = 11;
    pub const LOGNAME: u8 = 12;
    pub const CONNECT_TIME: u8 = 13;
    pub const BYTES_SENT: u8 = 14;
    pub const BYTES_RCVD: u8 = 15;
}

/// pppd's arguments `$1`..`$6`.
const ARGS: [u8; 6] = [
    slot::IFNAME,
    slot::TTY,
    slot::SPEED,
    slot::LOCAL,
    slot::REMOTE,
    slot::IPPARAM,
];

/// The scripts' environment variables and their values: slots rather than a formatter per
/// name, as most values appear under several names.
const ENV: [(&str, u8); 24] = [
    ("PATH", slot::PATH),
    ("IFNAME", slot::IFNAME),
    ("DEVICE", slot::TTY),
    ("SPEED", slot::SPEED),
    ("LINKNAME", slot::TTY),
    ("PEERNAME", slot::USER),
    ("IPLOCAL", slot::LOCAL),
    ("IPREMOTE", slot::REMOTE),
    ("IPPARAM", slot::IPPARAM),
    ("REMOTENUMBER", slot::PEER),
    ("PPTP_CALL_ID", slot::CALL_ID),
    ("PPPD_PID", slot::PPID),
    ("ORIG_UID", slot::UID),
    ("PPPLOGNAME", slot::LOGNAME),
    ("PPP_IFACE", slot::IFNAME),
    ("PPP_TTY", slot::TTY),
    ("PPP_SPEED", slot::SPEED),
    ("PPP_LOCAL", slot::LOCAL),
    ("PPP_REMOTE", slot::REMOTE),
    ("PPP_IPPARAM", slot::IPPARAM),
    ("PPP_TTYNAME", slot::TTY),
    ("CONNECT_TIME", slot::CONNECT_TIME),
    ("BYTES_SENT", slot::BYTES_SENT),
    ("BYTES_RCVD", slot::BYTES_RCVD),
];

/// [`ENV`] as the one string the run-time loop reads: each name followed by its slot, as a
/// byte below b'A' (the names are capitals and `_`). A table of string slices kept a
/// pointer, a length and a slot for each of the 24 names in the binary (288 bytes on
/// mipsel); `ENV` itself is only read here, at compile time.
const ENV_TEXT: &str = {
    const LEN: usize = {
        let (mut n, mut i) = (0, 0);
        while i < ENV.len() {
            n += ENV[i].0.len() + 1;
            i += 1;
        }
        n
    };
    const BYTES: [u8; LEN] = {
        let mut out = [0u8; LEN];
        let (mut i, mut at) = (0, 0);
        while i < ENV.len() {
            let name = ENV[i].0.as_bytes();
            let mut j = 0;
            while j < name.len() {
                assert!(name[j] >= b'A', "names are capitals and _");
                out[at] = name[j];
                at += 1;
                j += 1;
            }
            assert!(ENV[i].1 < b'A');
            out[at] = ENV[i].1;
            at += 1;
            i += 1;
        }
        out
    };
    match core::str::from_utf8(&BYTES) {
        Ok(s) => s,
        Err(_) => panic!("ENV names are ASCII"),
    }
};

/// Append pppd's arguments for the script (`$1`..`$6`) to `args`, and its environment to
/// `env`. Not inlined: inside the loop of [`serve`], the addresses of its 24 names and
/// formatters were hoisted out of the loop and kept in stack slots.
#[inline(never)]
pub fn script_args(
    config: &HookConfig,
    event: &HookEvent,
    args: &mut CStrings,
    env: &mut CStrings,
) -> io::Result<()> {
    struct Tty(u16);
    impl core::fmt::Display for Tty {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            write!(f, "pptp{}", self.0)
        }
    }
    /// `$6`: the client's address, or nothing with `noipparam`.
    struct IpParam(Option<Ipv4Addr>);
    impl core::fmt::Display for IpParam {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            match self.0 {
                Some(a) => core::fmt::Display::fmt(&a, f),
                None => Ok(()),
            }
        }
    }
    let ifname = config.ifname.as_str();
    let tty = Tty(event.call_id);
    let ipparam = IpParam((!config.noipparam).then_some(event.peer));
    // SAFETY: getppid/getuid cannot fail.
    let (ppid, uid) = unsafe { (libc::getppid(), libc::getuid()) };
    // Only the values are built at run time, each once, in `slot`'s order; the names and
    // which value each gets are tables in read-only data.
    let values: [&dyn core::fmt::Display; 16] = [
        &SCRIPT_PATH,
        &ifname,
        &tty,
        &SPEED,
        &event.user.as_str(),
        &event.local,
        &event.remote,
        &ipparam,
        &event.peer,
        &event.call_id,
        &ppid,
        &uid,
        &"root",
        &event.connect_secs,
        &event.bytes_sent,
        &event.bytes_received,
    ];
    for &i in &ARGS {
        args.push_fmt(format_args!("{}", values[usize::from(i)]))?;
    }
    let mut start = 0;
    for (at, i) in ENV_TEXT.bytes().enumerate() {
        if i >= b'A' {
            continue;
        }
        // The last three, the session's totals, only for ip-down.
        if event.up && i >= slot::CONNECT_TIME {
            break;
        }
        let key = &ENV_TEXT[start..at];
        env.push_fmt(format_args!("{key}={}", values[usize::from(i)]))?;
        start = at + 1;
    }
    Ok(())
}

/// Start one script; None when it does not exist or could not start. Out of line on ARM:
/// its two argument lists (4 KiB) in the runner's frame put the loop's locals beyond ARM's
/// short stack offsets (out of line on MIPS it cost 80 B).
#[cfg_attr(target_arch = "arm", inline(never))]
fn run(config: &HookConfig, script: Script, event: &HookEvent) -> Option<Child> {
    let path = match script {
        Script::PreUp => &config.ip_pre_up,
        Script::Up => &config.ip_up,
        Script::Down => &config.ip_down,
    };
    if !runnable(path) {
        return None;
    }
    let mut args = CStrings::new();
    let mut env = CStrings::new();
    let program = path.as_os_str().as_bytes();
    // "Text file busy": another process (a fork of anyone who just wrote the script, an
    // editor saving it) still holds it open for writing. That clears within moments, so try
    // again briefly rather than skip the script; the runner is its own process and may wait.
    // Either failure, building the lists or starting, is the one warning below.
    let started = args
        .push(program)
        .and_then(|()| script_args(config, event, &mut args, &mut env))
        .and_then(|()| {
            let options = spawn::Options {
                env: Some(&env),
                detach: true,
                ..spawn::Options::default()
            };
            let mut tries = 0;
            loop {
                match spawn::spawn(program, &args, &options) {
                    Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && tries < 20 => {
                        tries += 1;
                        spawn::sleep_ms(50);
                    }
                    r => return r,
                }
            }
        });
    match started {
        Ok(child) => Some(child),
        Err(e) => {
            crate::warn!("{}: {}", path.display(), super::ErrorText(e));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rand::{Random, XorShift};

    pub(crate) fn event(up: bool) -> HookEvent {
        let mut user = heapless::String::new();
        user.push_str("tomc").unwrap();
        HookEvent {
            up,
            call_id: 4660,
            user,
            local: Ipv4Addr::new(10, 9, 0, 1),
            remote: Ipv4Addr::new(10, 9, 0, 2),
            peer: Ipv4Addr::new(192, 0, 2, 100),
            connect_secs: 125,
            bytes_sent: 3000,
            bytes_received: 1500,
        }
    }

    #[test]
    fn requests_round_trip_and_never_panic() {
        let mut buf = [0u8; REQUEST_LEN];
        for up in [true, false] {
            event(up).encode(&mut buf);
            assert_eq!(HookEvent::decode(&buf), Some(event(up)));
        }
        assert_eq!(&buf[..8], b"\x02\x12\x34\x04tomc");
        let mut rng = XorShift(99);
        for _ in 0..5000 {
            rng.fill_bytes(&mut buf);
            buf[0] = (rng.next_u32() % 3) as u8;
            let len = rng.next_u32() as usize % (REQUEST_LEN + 1);
            let _ = HookEvent::decode(&buf[..len]);
        }
    }

    #[test]
    fn pppd_argument_list_and_environment() {
        let mut config = HookConfig::etc_ppp("smolpptp0");
        let lists = |config: &HookConfig, up: bool| {
            let (mut args, mut env) = (CStrings::new(), CStrings::new());
            script_args(config, &event(up), &mut args, &mut env).unwrap();
            let text = |l: &CStrings| {
                l.iter()
                    .map(|s| String::from_utf8(s.to_vec()).unwrap())
                    .collect::<Vec<_>>()
            };
            (text(&args), text(&env))
        };
        let (args, env) = lists(&config, false);
        assert_eq!(
            args,
            [
                "smolpptp0",
                "pptp4660",
                "115200",
                "10.9.0.1",
                "10.9.0.2",
                "192.0.2.100"
            ]
        );
        let get = |env: &[String], k: &str| {
            env.iter()
                .find_map(|e| e.strip_prefix(k)?.strip_prefix('=').map(String::from))
        };
        for (k, v) in [
            ("PATH", SCRIPT_PATH),
            ("IFNAME", "smolpptp0"),
            ("DEVICE", "pptp4660"),
            ("PEERNAME", "tomc"),
            ("IPREMOTE", "10.9.0.2"),
            ("IPPARAM", "192.0.2.100"),
            ("PPTP_CALL_ID", "4660"),
            ("CONNECT_TIME", "125"),
            ("BYTES_SENT", "3000"),
            ("BYTES_RCVD", "1500"),
        ] {
            assert_eq!(get(&env, k).as_deref(), Some(v), "{k}");
        }
        assert_eq!(env.len(), 24);
        // SAFETY: getppid/getuid cannot fail.
        let (ppid, uid) = unsafe { (libc::getppid(), libc::getuid()) };
        let want: Vec<String> = [
            format!("PATH={SCRIPT_PATH}"),
            "IFNAME=smolpptp0".into(),
            "DEVICE=pptp4660".into(),
            "SPEED=115200".into(),
            "LINKNAME=pptp4660".into(),
            "PEERNAME=tomc".into(),
            "IPLOCAL=10.9.0.1".into(),
            "IPREMOTE=10.9.0.2".into(),
            "IPPARAM=192.0.2.100".into(),
            "REMOTENUMBER=192.0.2.100".into(),
            "PPTP_CALL_ID=4660".into(),
            format!("PPPD_PID={ppid}"),
            format!("ORIG_UID={uid}"),
            "PPPLOGNAME=root".into(),
            "PPP_IFACE=smolpptp0".into(),
            "PPP_TTY=pptp4660".into(),
            "PPP_SPEED=115200".into(),
            "PPP_LOCAL=10.9.0.1".into(),
            "PPP_REMOTE=10.9.0.2".into(),
            "PPP_IPPARAM=192.0.2.100".into(),
            "PPP_TTYNAME=pptp4660".into(),
            "CONNECT_TIME=125".into(),
            "BYTES_SENT=3000".into(),
            "BYTES_RCVD=1500".into(),
        ]
        .into();
        assert_eq!(env, want, "every name, value and their order");
        let (_, up) = lists(&config, true);
        assert_eq!(up, want[..21], "ip-up: the same less the totals");
        let (_, env) = lists(&config, true);
        assert_eq!(get(&env, "CONNECT_TIME"), None, "ip-up has no counters");
        assert_eq!(env.len(), 21);
        config.noipparam = true;
        let (args, env) = lists(&config, true);
        assert_eq!(args[5], "");
        assert_eq!(get(&env, "IPPARAM").as_deref(), Some(""));
    }
}
