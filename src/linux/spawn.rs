//! Starting programs with fork + execve, for the hook runner's scripts and `nft`.
//!
//! std's `Command` keeps its environment in a `BTreeMap`, goes through musl's `posix_spawn`
//! and `execvpe`, and together with `catch_unwind` came to about 14 KiB of the armv7 binary.
//! We need much less: an argument list and environment in fixed buffers, stdin either a pipe
//! or /dev/null, stdout /dev/null, stderr a pipe or /dev/null, and (for pppd's scripts) a
//! session of its own, umask 077 and cwd `/`.
//!
//! Between fork and exec the child makes only async-signal-safe calls: the parent may have
//! threads (the tests do), and the child must not allocate or take locks.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use libc::c_char;

/// Room for all the strings of one list, NULs included.
pub const STRINGS_BYTES: usize = 2048;
/// The most strings one list holds.
pub const STRINGS_MAX: usize = 40;
/// Searched for a program named without a `/` when the daemon has no `PATH`.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// An argument list or environment: NUL-terminated strings in a fixed buffer, from which
/// the NULL-terminated pointer array execve takes is made just before the fork.
pub struct CStrings {
    buf: [u8; STRINGS_BYTES],
    /// Bytes of `buf` in use.
    used: usize,
    starts: [u16; STRINGS_MAX],
    count: usize,
}

impl Default for CStrings {
    fn default() -> Self {
        Self::new()
    }
}

fn invalid(what: &'static str) -> io::Error {
    super::io_error(io::ErrorKind::InvalidInput, format_args!("{what}"))
}

impl CStrings {
    pub const fn new() -> CStrings {
        CStrings {
            buf: [0; STRINGS_BYTES],
            used: 0,
            starts: [0; STRINGS_MAX],
            count: 0,
        }
    }

    /// Add one string; it must not contain NUL.
    pub fn push(&mut self, s: &[u8]) -> io::Result<()> {
        let start = self.used;
        let end = start + s.len();
        self.buf
            .get_mut(start..end)
            .filter(|_| end < STRINGS_BYTES)
            .ok_or_else(|| invalid("arguments too long"))?
            .copy_from_slice(s);
        self.close(start, end)
    }

    /// Add one formatted string, e.g. `KEY=value`; it must not contain NUL.
    pub fn push_fmt(&mut self, args: core::fmt::Arguments<'_>) -> io::Result<()> {
        let start = self.used;
        let mut w = Tail {
            buf: &mut self.buf[..STRINGS_BYTES - 1],
            len: start,
        };
        core::fmt::write(&mut w, args).map_err(|_| invalid("arguments too long"))?;
        let end = w.len;
        self.close(start, end)
    }

    /// Make `buf[start..end]` the next string.
    fn close(&mut self, start: usize, end: usize) -> io::Result<()> {
        if self.count == STRINGS_MAX {
            return Err(invalid("too many arguments"));
        }
        if self.buf[start..end].contains(&0) {
            return Err(invalid("NUL in an argument"));
        }
        self.buf[end] = 0;
        self.starts[self.count] = start as u16;
        self.count += 1;
        self.used = end + 1;
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The strings, without their NULs.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.starts[..self.count].iter().map(|&s| {
            let s = usize::from(s);
            let n = self.buf[s..].iter().position(|&b| b == 0).unwrap_or(0);
            &self.buf[s..s + n]
        })
    }

    /// execve's array: a pointer per string, then NULL. Valid while `self` is not moved.
    fn pointers(&self) -> [*const c_char; STRINGS_MAX + 1] {
        let mut p = [core::ptr::null(); STRINGS_MAX + 1];
        for (slot, &start) in p.iter_mut().zip(&self.starts[..self.count]) {
            *slot = self.buf[usize::from(start)..].as_ptr().cast();
        }
        p
    }
}

/// The free end of a byte buffer as a `fmt::Write`.
struct Tail<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl core::fmt::Write for Tail<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let end = self.len + s.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(core::fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// How to start the program.
#[derive(Clone, Copy, Default)]
pub struct Options<'a> {
    /// The environment; None: the daemon's own.
    pub env: Option<&'a CStrings>,
    /// stdin a pipe ([`Child::stdin`]) instead of /dev/null.
    pub stdin_pipe: bool,
    /// stderr a pipe ([`Child::stderr`]) instead of /dev/null.
    pub stderr_pipe: bool,
    /// As pppd runs its scripts: a session of its own, umask 077, cwd `/`.
    pub detach: bool,
}

/// A wait status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExitStatus(pub libc::c_int);

impl ExitStatus {
    pub fn success(self) -> bool {
        self.code() == Some(0)
    }

    /// The exit code, None if a signal ended it.
    pub fn code(self) -> Option<i32> {
        libc::WIFEXITED(self.0).then(|| libc::WEXITSTATUS(self.0))
    }
}

impl core::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.code() {
            Some(c) => write!(f, "exit status {c}"),
            None => write!(f, "signal {}", libc::WTERMSIG(self.0)),
        }
    }
}

/// A started program. Dropping it neither kills nor reaps it.
pub struct Child {
    pid: libc::pid_t,
    pub stdin: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
}

impl Child {
    pub fn pid(&self) -> libc::pid_t {
        self.pid
    }

    /// Reap it if it has ended. Once it has returned a status, do not ask again.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        self.waitpid(libc::WNOHANG)
    }

    /// Wait for it to end.
    pub fn wait(&mut self) -> io::Result<ExitStatus> {
        self.stdin = None;
        loop {
            if let Some(s) = self.waitpid(0)? {
                return Ok(s);
            }
        }
    }

    fn waitpid(&mut self, flags: libc::c_int) -> io::Result<Option<ExitStatus>> {
        let mut status = 0;
        loop {
            // SAFETY: waiting for our own child.
            match waitpid(self.pid, &mut status, flags) {
                0 => return Ok(None),
                rc if rc > 0 => return Ok(Some(ExitStatus(status))),
                _ => {
                    if let Some(e) = super::file::failed() {
                        return Err(e);
                    }
                }
            }
        }
    }
}

/// waitpid(2) as the system call it is in musl (wait4 without usage figures), for
/// [`Child`] and the hook runner's end.
pub(crate) fn waitpid(
    pid: libc::pid_t,
    status: &mut libc::c_int,
    flags: libc::c_int,
) -> libc::pid_t {
    let (pid, flags) = (libc::c_long::from(pid), libc::c_long::from(flags));
    let none = core::ptr::null_mut::<libc::rusage>();
    // SAFETY: a status to fill and no rusage.
    unsafe {
        libc::syscall(
            libc::SYS_wait4,
            pid,
            status as *mut libc::c_int,
            flags,
            none,
        ) as libc::pid_t
    }
}

/// What [`run`] saw.
pub struct Output {
    pub status: ExitStatus,
    pub stderr: Vec<u8>,
}

/// Start `program` with `input` on stdin (None: /dev/null), stdout on /dev/null, stderr
/// captured if asked, and wait for it.
pub fn run(
    program: &[u8],
    args: &CStrings,
    input: Option<&[u8]>,
    capture_stderr: bool,
) -> io::Result<Output> {
    let mut child = spawn(
        program,
        args,
        &Options {
            stdin_pipe: input.is_some(),
            stderr_pipe: capture_stderr,
            ..Options::default()
        },
    )?;
    let mut fed = Ok(());
    if let (Some(fd), Some(data)) = (child.stdin.take(), input) {
        // A program that stops reading early (it failed) is not our error: its stderr and
        // status say what happened. SIGPIPE is ignored in the daemon, as by Rust's runtime.
        match super::file::write_all(fd.as_raw_fd(), data) {
            Err(e) if e.raw_os_error() != Some(libc::EPIPE) => fed = Err(e),
            _ => {}
        }
    }
    let mut stderr = Vec::new();
    let read = match child.stderr.take() {
        Some(fd) => super::file::read_to_end(fd.as_raw_fd(), &mut stderr),
        None => Ok(()),
    };
    let status = child.wait()?;
    fed?;
    read?;
    Ok(Output { status, stderr })
}

/// A close-on-exec pipe into `fds[0]` (read end) and `fds[1]` (write end).
fn cloexec_pipe(fds: &mut [RawFd]) -> io::Result<()> {
    // SAFETY: pipe2 fills two ints, and `fds` has room for them. The system call itself:
    // musl's wrapper adds a fallback to pipe + fcntl for kernels before 2.6.27.
    let flags = libc::O_CLOEXEC as libc::c_long;
    if unsafe { libc::syscall(libc::SYS_pipe2, fds[..2].as_mut_ptr(), flags) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The descriptors [`spawn`] makes, -1 until made: /dev/null, then the read and write ends of
/// the stdin, stderr and report pipes. Those not handed over to the [`Child`] are closed
/// when it goes, in one loop rather than one close per exit path.
struct Fds([RawFd; 7]);

impl Drop for Fds {
    fn drop(&mut self) {
        for &fd in &self.0 {
            if fd >= 0 {
                // SAFETY: a descriptor made by `spawn` and owned by nobody else.
                unsafe { libc::close(fd) };
            }
        }
    }
}

impl Fds {
    /// Hand descriptor `i` over (None if it was not made).
    fn take(&mut self, i: usize) -> Option<OwnedFd> {
        let fd = core::mem::replace(&mut self.0[i], -1);
        // SAFETY: a descriptor made by `spawn`, now owned by the caller alone.
        (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
    }
}

/// `program` as a NUL-terminated path in `out`: itself if it has a `/`, else the first
/// executable regular file of that name in `PATH` (as execvp does, but before the fork, so
/// that the child has nothing to search).
fn resolve<'a>(program: &[u8], out: &'a mut [u8; PATH_BUF]) -> io::Result<&'a CStr> {
    if program.is_empty() || program.contains(&0) {
        return Err(io::Error::from_raw_os_error(libc::ENOENT));
    }
    let n = if program.contains(&b'/') {
        join(out, &[program])?
    } else {
        search(program, out)?
    };
    // `join` ended it with a NUL, and none is inside: `program` has none (checked above), nor
    // has a `PATH` entry (a C string). So this finds the NUL at `n`; never the empty string.
    Ok(CStr::from_bytes_until_nul(&out[..=n]).unwrap_or_default())
}

const PATH_BUF: usize = libc::PATH_MAX as usize;

/// The parts one after another and a NUL in `out`; the length without the NUL.
fn join(out: &mut [u8; PATH_BUF], parts: &[&[u8]]) -> io::Result<usize> {
    let mut n = 0;
    for part in parts {
        out.get_mut(n..n + part.len())
            .filter(|_| n + part.len() < PATH_BUF)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENAMETOOLONG))?
            .copy_from_slice(part);
        n += part.len();
    }
    out[n] = 0;
    Ok(n)
}

extern "C" {
    /// The process environment (C's `environ`, which getenv and execv read too).
    static environ: *const *const c_char;
}

/// `getenv("PATH")`: the value of the environment's first `PATH=` entry. Read here rather
/// than through musl's getenv, which with its strchrnul and strncmp was 0.6 KB of the mipsel
/// binary for this one look-up.
fn path_var() -> Option<&'static [u8]> {
    // SAFETY: `environ` is a NULL-terminated array of NUL-terminated strings (or NULL), and
    // stays valid while nobody changes the environment, which the daemon never does.
    unsafe {
        let mut entry = environ;
        while !entry.is_null() && !(*entry).is_null() {
            if let Some(value) = CStr::from_ptr(*entry).to_bytes().strip_prefix(b"PATH=") {
                return Some(value);
            }
            entry = entry.add(1);
        }
    }
    None
}

fn search(program: &[u8], out: &mut [u8; PATH_BUF]) -> io::Result<usize> {
    let dirs = path_var().unwrap_or(DEFAULT_PATH.as_bytes());
    for dir in dirs.split(|&b| b == b':') {
        let dir: &[u8] = if dir.is_empty() { b"." } else { dir };
        let Ok(n) = join(out, &[dir, b"/", program]) else {
            continue;
        };
        let p = out.as_ptr().cast();
        let runnable = super::file::stat_c(p).is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFREG)
            // SAFETY: access on the NUL-terminated path in `out`.
            && unsafe { libc::access(p, libc::X_OK) } == 0;
        if runnable {
            return Ok(n);
        }
    }
    Err(super::io_error(
        io::ErrorKind::NotFound,
        format_args!("not found in PATH"),
    ))
}

/// Start `program` (a path, or a name looked up in `PATH`) with `args` as its argv
/// (`args[0]` included). An exec failure in the child (missing, not executable, busy)
/// comes back as this call's error.
pub fn spawn(program: &[u8], args: &CStrings, opts: &Options) -> io::Result<Child> {
    let mut path_buf = [0u8; PATH_BUF];
    start(resolve(program, &mut path_buf)?, args, opts)
}

/// [`spawn`] once the program's path is known. Out of line: in one frame with the path's
/// 4 KiB, the locals sat beyond the reach of ARM's short stack offsets.
#[inline(never)]
fn start(path: &CStr, args: &CStrings, opts: &Options) -> io::Result<Child> {
    let argv = args.pointers();
    let envp = opts.env.map(CStrings::pointers);
    let mut fds = Fds([-1; 7]);
    let f = &mut fds.0;
    // SAFETY: open with a NUL-terminated path; the fd is owned by `fds`.
    f[0] = unsafe { super::sys::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC, 0) };
    if f[0] < 0 {
        return Err(io::Error::last_os_error());
    }
    if opts.stdin_pipe {
        cloexec_pipe(&mut f[1..3])?;
    }
    if opts.stderr_pipe {
        cloexec_pipe(&mut f[3..5])?;
    }
    // Closed by a successful exec; carries errno back when anything fails before it.
    cloexec_pipe(&mut f[5..7])?;
    let null = f[0];
    let or_null = |fd: RawFd| if fd < 0 { null } else { fd };
    let stdio = [or_null(f[1]), null, or_null(f[4])];
    let (report_read, report_write) = (f[5], f[6]);
    // SAFETY: the child only makes async-signal-safe calls (see `child`).
    let pid = unsafe { super::sys::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        // SAFETY: in the child, with everything prepared before the fork.
        unsafe { child(path, &argv, envp.as_ref(), stdio, report_write, opts.detach) }
    }
    drop(fds.take(6));
    let mut errno = [0u8; 4];
    let n = loop {
        // SAFETY: reading into our buffer.
        let n = unsafe { libc::read(report_read, errno.as_mut_ptr().cast(), 4) };
        if n >= 0 || super::file::failed().is_some() {
            break n;
        }
    };
    let mut child = Child {
        pid,
        stdin: fds.take(2),
        stderr: fds.take(3),
    };
    if n == 4 {
        let _ = child.wait();
        return Err(io::Error::from_raw_os_error(i32::from_ne_bytes(errno)));
    }
    Ok(child)
}

/// The forked child: set up stdio and the process state, then exec. Never returns.
///
/// # Safety
/// Only call in the child of a fork; `argv`/`envp` point into live `CStrings`.
unsafe fn child(
    path: &CStr,
    argv: &[*const c_char; STRINGS_MAX + 1],
    envp: Option<&[*const c_char; STRINGS_MAX + 1]>,
    mut stdio: [RawFd; 3],
    mut report: RawFd,
    detach: bool,
) -> ! {
    unsafe {
        let fail = |report: RawFd| -> ! {
            let errno = *libc::__errno_location();
            libc::write(report, errno.to_ne_bytes().as_ptr().cast(), 4);
            libc::_exit(127)
        };
        // Begin like a fresh process: the daemon blocks the signals it reads from a
        // signalfd and ignores SIGPIPE, and both would be inherited across exec.
        super::sys::sigprocmask(libc::SIG_SETMASK, &super::sys::sigset(&[]));
        super::sys::set_disposition(libc::SIGPIPE, libc::SIG_DFL);
        // A daemon started with stdio closed may have been handed fds 0-2 for our pipes:
        // move them up first so that the dup2s below cannot overwrite one another.
        if report < 3 {
            report = super::sys::fcntl(report, libc::F_DUPFD_CLOEXEC, 3);
            if report < 0 {
                libc::_exit(127);
            }
        }
        for fd in stdio.iter_mut() {
            if *fd < 3 {
                *fd = super::sys::fcntl(*fd, libc::F_DUPFD_CLOEXEC, 3);
                if *fd < 0 {
                    fail(report);
                }
            }
        }
        for (target, &fd) in stdio.iter().enumerate() {
            if libc::dup2(fd, target as RawFd) < 0 {
                fail(report);
            }
        }
        if detach {
            libc::setsid();
            libc::umask(0o077);
            if libc::chdir(c"/".as_ptr()) < 0 {
                fail(report);
            }
        }
        // execv(path, argv) is this with the daemon's own environment.
        let envp = envp.map_or(environ, |e| e.as_ptr());
        libc::execve(path.as_ptr(), argv.as_ptr(), envp);
        fail(report)
    }
}

/// Sleep without std::thread (the runner and the daemon's exit are single-threaded).
pub fn sleep_ms(ms: u32) {
    // SAFETY: poll with no fds only waits.
    unsafe { libc::poll(core::ptr::null_mut(), 0, ms.min(i32::MAX as u32) as i32) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;
    use std::io::Read;

    fn argv(list: &[&str]) -> CStrings {
        let mut a = CStrings::new();
        for s in list {
            a.push(s.as_bytes()).unwrap();
        }
        a
    }

    #[test]
    fn strings_hold_what_was_pushed_and_refuse_nul_and_overflow() {
        let mut a = CStrings::new();
        a.push(b"sh").unwrap();
        a.push_fmt(format_args!(
            "{}={}",
            "IPREMOTE",
            core::net::Ipv4Addr::new(10, 9, 0, 2)
        ))
        .unwrap();
        a.push(b"").unwrap();
        assert_eq!(
            a.iter().collect::<Vec<_>>(),
            [&b"sh"[..], b"IPREMOTE=10.9.0.2", b""]
        );
        assert!(a.push(b"a\0b").is_err());
        assert_eq!(a.len(), 3, "a refused string leaves nothing behind");
        let p = a.pointers();
        // SAFETY: pointers into `a`, which is alive.
        assert_eq!(
            unsafe { CStr::from_ptr(p[1]) }.to_bytes(),
            b"IPREMOTE=10.9.0.2"
        );
        assert!(p[3].is_null());
        assert!(a.push(&[b'x'; STRINGS_BYTES]).is_err());
        let mut full = CStrings::new();
        for _ in 0..STRINGS_MAX {
            full.push(b"x").unwrap();
        }
        assert!(full.push(b"x").is_err());
        assert!(full.pointers()[STRINGS_MAX].is_null());
    }

    #[test]
    fn path_is_read_as_getenv_reads_it() {
        use std::os::unix::ffi::OsStrExt;
        let std_path = std::env::var_os("PATH");
        assert_eq!(path_var(), std_path.as_ref().map(|p| p.as_bytes()));
        // SAFETY: getenv with a NUL-terminated name; its string is read at once.
        let c = unsafe { libc::getenv(c"PATH".as_ptr()) };
        assert!(!c.is_null());
        assert_eq!(path_var(), Some(unsafe { CStr::from_ptr(c) }.to_bytes()));
    }

    #[test]
    fn exit_status_is_reported() {
        let out = run(b"/bin/sh", &argv(&["sh", "-c", "exit 3"]), None, false).unwrap();
        assert_eq!(out.status.code(), Some(3));
        assert!(!out.status.success());
        let out = run(b"sh", &argv(&["sh", "-c", "true"]), None, false).unwrap();
        assert!(out.status.success(), "found in PATH");
        let out = run(b"sh", &argv(&["sh", "-c", "kill -TERM $$"]), None, false).unwrap();
        assert_eq!(out.status.code(), None);
        assert_eq!(out.status.to_string(), "signal 15");
    }

    #[test]
    fn stdin_is_fed_and_stderr_captured() {
        let script = "read a; read b; echo \"got $a+$b\" >&2; echo not-stderr; exit 1";
        let out = run(
            b"/bin/sh",
            &argv(&["sh", "-c", script]),
            Some(b"one\ntwo\n"),
            true,
        )
        .unwrap();
        assert_eq!(out.stderr, b"got one+two\n");
        assert_eq!(out.status.code(), Some(1));
        // Without a pipe stdin is /dev/null: `read` sees EOF at once.
        let out = run(
            b"/bin/sh",
            &argv(&["sh", "-c", "read a && exit 1; exit 0"]),
            None,
            false,
        )
        .unwrap();
        assert!(out.status.success());
        // A large input to a program that never reads it is not an error.
        let big = vec![b'x'; 1 << 20];
        let out = run(b"/bin/sh", &argv(&["sh", "-c", "exit 4"]), Some(&big), true).unwrap();
        assert_eq!(out.status.code(), Some(4));
    }

    #[test]
    fn missing_or_unrunnable_programs_are_errors() {
        let e = spawn(b"/nonexistent/prog", &argv(&["prog"]), &Options::default())
            .err()
            .unwrap();
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
        let e = spawn(
            b"smolpptp-no-such-program",
            &argv(&["x"]),
            &Options::default(),
        )
        .err()
        .unwrap();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        // Exists but is not executable: execve's EACCES comes back from the child.
        let path = std::env::temp_dir().join(format!("smolpptp-spawn-{}", std::process::id()));
        std::fs::write(&path, "#!/bin/sh\n").unwrap();
        let e = spawn(
            path.to_str().unwrap().as_bytes(),
            &argv(&["x"]),
            &Options::default(),
        )
        .err()
        .unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(e.raw_os_error(), Some(libc::EACCES));
    }

    #[test]
    fn environment_is_exactly_what_was_given() {
        let env = argv(&["FOO=bar baz", "PATH=/bin:/usr/bin"]);
        let mut child = spawn(
            b"/bin/sh",
            &argv(&["sh", "-c", "echo \"$FOO|${HOME-unset}\" >&2"]),
            &Options {
                env: Some(&env),
                stderr_pipe: true,
                ..Options::default()
            },
        )
        .unwrap();
        let mut err = String::new();
        File::from(child.stderr.take().unwrap())
            .read_to_string(&mut err)
            .unwrap();
        assert!(child.wait().unwrap().success());
        assert_eq!(err, "bar baz|unset\n");
    }

    #[test]
    fn detached_children_get_a_session_umask_and_root_cwd() {
        // umask, cwd, pid and session id (field 6 of /proc/<pid>/stat) as the child sees them.
        let script = "echo \"$(umask) $(pwd) $$ $(cut -d' ' -f6 /proc/$$/stat)\" >&2";
        let seen = |detach: bool| {
            let mut child = spawn(
                b"/bin/sh",
                &argv(&["sh", "-c", script]),
                &Options {
                    stderr_pipe: true,
                    detach,
                    ..Options::default()
                },
            )
            .unwrap();
            let mut err = String::new();
            File::from(child.stderr.take().unwrap())
                .read_to_string(&mut err)
                .unwrap();
            assert!(child.wait().unwrap().success());
            err.split_whitespace().map(String::from).collect::<Vec<_>>()
        };
        let f = seen(true);
        assert_eq!(&f[..2], ["0077", "/"], "{f:?}");
        assert_eq!(f[2], f[3], "the child leads a session of its own: {f:?}");
        let f = seen(false);
        assert_ne!(f[2], f[3], "without detach it stays in ours: {f:?}");
    }

    #[test]
    fn children_start_with_no_blocked_or_ignored_signals() {
        // The daemon blocks SIGTERM/SIGINT/SIGHUP (signalfd) and ignores SIGPIPE; a script
        // must not inherit either. Block SIGHUP in this test's thread, which forks.
        // SAFETY: changing this thread's own mask, restored below.
        let old = unsafe {
            let mut set: libc::sigset_t = core::mem::zeroed();
            let mut old: libc::sigset_t = core::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGHUP);
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
            libc::signal(libc::SIGPIPE, libc::SIG_IGN);
            old
        };
        let out = run(
            b"/bin/sh",
            &argv(&[
                "sh",
                "-c",
                "exec grep -E '^Sig(Blk|Ign)' /proc/self/status >&2",
            ]),
            None,
            true,
        );
        // SAFETY: restoring the mask saved above.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, core::ptr::null_mut()) };
        let out = out.unwrap();
        let text = String::from_utf8(out.stderr).unwrap();
        let mask = |name: &str| {
            let line = text.lines().find(|l| l.starts_with(name)).unwrap();
            u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
        };
        assert_eq!(mask("SigBlk:"), 0, "{text}");
        assert_eq!(mask("SigIgn:") & (1 << (libc::SIGPIPE - 1)), 0, "{text}");
    }

    #[test]
    fn try_wait_sees_a_running_then_finished_child() {
        let mut child = spawn(
            b"/bin/sh",
            &argv(&["sh", "-c", "sleep 0.2"]),
            &Options::default(),
        )
        .unwrap();
        assert_eq!(child.try_wait().unwrap(), None);
        let start = std::time::Instant::now();
        loop {
            if let Some(s) = child.try_wait().unwrap() {
                assert!(s.success());
                break;
            }
            assert!(start.elapsed() < std::time::Duration::from_secs(5));
            sleep_ms(10);
        }
    }
}
