//! System calls made directly where musl's wrapper carries code the daemon never needs:
//! fallbacks for kernels before 2.6.27 (fcntl, accept4), the time64 retry of setsockopt
//! (taken only on ENOPROTOOPT, for SO_RCVTIMEO/SO_SNDTIMEO), cancellation points (there is
//! one thread), and sigaction's handler bookkeeping (only SIG_IGN and SIG_DFL are set here).
//! Each does what the wrapper's first system call does, with the same result and errno.
//!
//! The socket calls are direct system calls except on i386, whose kernels have them only
//! since 4.3 (older ones have just the socketcall multiplexer): there musl's wrappers stay.

use libc::{c_int, c_long};
#[cfg(not(target_arch = "x86"))]
use libc::{c_void, socklen_t};

/// The kernel's `sigset_t` in bytes (_NSIG / 8): 128 signals on MIPS, 64 elsewhere.
#[cfg(any(target_arch = "mips", target_arch = "mips64"))]
pub const KERNEL_SIGSET: libc::size_t = 16;
#[cfg(not(any(target_arch = "mips", target_arch = "mips64")))]
pub const KERNEL_SIGSET: libc::size_t = 8;

/// fcntl(2) with an int argument (F_GETFD, F_DUPFD_CLOEXEC).
///
/// # Safety
/// As fcntl(2); `fd` need not be open.
pub unsafe fn fcntl(fd: c_int, cmd: c_int, arg: c_int) -> c_int {
    unsafe { libc::syscall(libc::SYS_fcntl, fd as c_long, cmd as c_long, arg as c_long) as c_int }
}

/// fork(2) for this single-threaded daemon: on musl its `_Fork`, which is `fork` without the
/// pthread_atfork handlers (none are registered) and without the locks `fork` takes only when
/// threads exist; the child's thread state is set up the same way. Plain `fork` links about
/// 1.7 KB of musl's rwlock and timed-wait code for those locks. `_Fork` is in musl since
/// 1.2.3, the release Rust's musl targets need (OpenWrt 22.03 and later ship it).
///
/// # Safety
/// As fork(2): in the child, only what is safe after a fork.
pub unsafe fn fork() -> libc::pid_t {
    #[cfg(target_env = "musl")]
    {
        unsafe extern "C" {
            fn _Fork() -> libc::pid_t;
        }
        unsafe { _Fork() }
    }
    #[cfg(not(target_env = "musl"))]
    unsafe {
        libc::fork()
    }
}

/// open(2) as openat(2) at the working directory, which every architecture has (aarch64 has
/// no open), with O_LARGEFILE as musl adds it on 32-bit targets. musl's open also sets
/// FD_CLOEXEC again for kernels before 2.6.23, which ignore O_CLOEXEC.
///
/// # Safety
/// `path` is a NUL-terminated string.
pub unsafe fn open(path: *const libc::c_char, flags: c_int, mode: libc::mode_t) -> c_int {
    unsafe {
        libc::syscall(
            libc::SYS_openat,
            libc::AT_FDCWD as c_long,
            path,
            (flags | libc::O_LARGEFILE) as c_long,
            mode as c_long,
        ) as c_int
    }
}

/// A signal set of signals below 32, as the kernel's `sigset_t` (the rest zero).
pub fn sigset(signals: &[c_int]) -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; an all-zero one is the empty set.
    let mut set: libc::sigset_t = unsafe { core::mem::zeroed() };
    let mut bits: libc::c_ulong = 0;
    for &s in signals {
        bits |= 1 << (s - 1);
    }
    // SAFETY: musl's and glibc's sigset_t begin with an array of unsigned long, whose
    // first word holds signals 1-32 as the kernel reads them.
    unsafe { *(&mut set as *mut libc::sigset_t).cast::<libc::c_ulong>() = bits };
    set
}

/// rt_sigprocmask(2), what pthread_sigmask calls: 0, or the error number (not errno).
pub fn sigprocmask(how: c_int, set: &libc::sigset_t) -> c_int {
    let null = core::ptr::null_mut::<libc::sigset_t>();
    // SAFETY: `set` is a valid set at least KERNEL_SIGSET bytes long; no old set is asked.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            how as c_long,
            set as *const libc::sigset_t,
            null,
            KERNEL_SIGSET,
        )
    };
    if rc < 0 {
        // SAFETY: errno is this thread's, right after the call that set it.
        unsafe { *libc::__errno_location() }
    } else {
        0
    }
}

/// signal(2) for SIG_IGN or SIG_DFL only (as musl's signal: with SA_RESTART, no mask). No
/// handler ever runs, so no restorer is needed on any architecture.
pub fn set_disposition(sig: c_int, disposition: libc::sighandler_t) {
    // The kernel's struct sigaction: flags first on MIPS, the handler first elsewhere.
    #[cfg(any(target_arch = "mips", target_arch = "mips64"))]
    const HANDLER: usize = 1;
    #[cfg(not(any(target_arch = "mips", target_arch = "mips64")))]
    const HANDLER: usize = 0;
    let mut action = [0 as libc::c_ulong; 6];
    action[HANDLER] = disposition as libc::c_ulong;
    action[1 - HANDLER] = libc::SA_RESTART as libc::c_ulong;
    let null = core::ptr::null_mut::<libc::c_ulong>();
    // SAFETY: `action` is a valid kernel sigaction (zero mask) with room to spare.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigaction,
            sig as c_long,
            action.as_ptr(),
            null,
            KERNEL_SIGSET,
        )
    };
}

/// setsockopt(2).
///
/// # Safety
/// `value` points to `len` readable bytes.
#[cfg(not(target_arch = "x86"))]
pub unsafe fn setsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    value: *const c_void,
    len: socklen_t,
) -> c_int {
    unsafe {
        libc::syscall(
            libc::SYS_setsockopt,
            fd as c_long,
            level as c_long,
            name as c_long,
            value,
            len as c_long,
        ) as c_int
    }
}

/// accept4(2) without the peer's address.
#[cfg(not(target_arch = "x86"))]
pub fn accept4(fd: c_int, flags: c_int) -> c_int {
    let null = core::ptr::null_mut::<c_void>();
    // SAFETY: no address out-parameters.
    unsafe { libc::syscall(libc::SYS_accept4, fd as c_long, null, null, flags as c_long) as c_int }
}

/// bind(2).
///
/// # Safety
/// `addr` points to a socket address of `len` bytes.
#[cfg(not(target_arch = "x86"))]
pub unsafe fn bind(fd: c_int, addr: *const libc::sockaddr, len: socklen_t) -> c_int {
    unsafe { libc::syscall(libc::SYS_bind, fd as c_long, addr, len as c_long) as c_int }
}

/// listen(2).
#[cfg(not(target_arch = "x86"))]
pub fn listen(fd: c_int, backlog: c_int) -> c_int {
    // SAFETY: no pointers.
    unsafe { libc::syscall(libc::SYS_listen, fd as c_long, backlog as c_long) as c_int }
}

/// recvfrom(2); recv(2) is recvfrom without an address.
///
/// # Safety
/// `buf` has `len` writable bytes; `from` is null or has `*from_len` writable bytes.
#[cfg(not(target_arch = "x86"))]
pub unsafe fn recvfrom(
    fd: c_int,
    buf: *mut c_void,
    len: usize,
    flags: c_int,
    from: *mut libc::sockaddr,
    from_len: *mut socklen_t,
) -> isize {
    unsafe {
        libc::syscall(
            libc::SYS_recvfrom,
            fd as c_long,
            buf,
            len,
            flags as c_long,
            from,
            from_len,
        ) as isize
    }
}

/// socket(2).
#[cfg(not(target_arch = "x86"))]
pub fn socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int {
    // SAFETY: no pointers.
    unsafe {
        libc::syscall(
            libc::SYS_socket,
            domain as c_long,
            ty as c_long,
            protocol as c_long,
        ) as c_int
    }
}

/// connect(2).
///
/// # Safety
/// `addr` points to a socket address of `len` bytes.
#[cfg(not(target_arch = "x86"))]
pub unsafe fn connect(fd: c_int, addr: *const libc::sockaddr, len: socklen_t) -> c_int {
    unsafe { libc::syscall(libc::SYS_connect, fd as c_long, addr, len as c_long) as c_int }
}

/// send(2), which is sendto(2) without an address.
#[cfg(not(target_arch = "x86"))]
pub fn send(fd: c_int, buf: &[u8], flags: c_int) -> isize {
    let null = core::ptr::null::<libc::sockaddr>();
    // SAFETY: `buf` is readable for its length; no address.
    unsafe {
        libc::syscall(
            libc::SYS_sendto,
            fd as c_long,
            buf.as_ptr(),
            buf.len(),
            flags as c_long,
            null,
            0 as c_long,
        ) as isize
    }
}

#[cfg(target_arch = "x86")]
pub use x86::*;

/// i386: musl's (and glibc's) wrappers, which fall back to socketcall on kernels before 4.3.
#[cfg(target_arch = "x86")]
mod x86 {
    use libc::c_int;

    pub use libc::{bind, connect, recvfrom, setsockopt};

    pub fn socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int {
        // SAFETY: no pointers.
        unsafe { libc::socket(domain, ty, protocol) }
    }

    pub fn send(fd: c_int, buf: &[u8], flags: c_int) -> isize {
        // SAFETY: `buf` is readable for its length.
        unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), flags) }
    }

    pub fn accept4(fd: c_int, flags: c_int) -> c_int {
        let (addr, len) = (core::ptr::null_mut(), core::ptr::null_mut());
        // SAFETY: no address out-parameters.
        unsafe { libc::accept4(fd, addr, len, flags) }
    }

    pub fn listen(fd: c_int, backlog: c_int) -> c_int {
        // SAFETY: no pointers.
        unsafe { libc::listen(fd, backlog) }
    }
}

/// recv(2) into `buf`.
pub fn recv(fd: c_int, buf: &mut [u8], flags: c_int) -> isize {
    let (from, len) = (core::ptr::null_mut(), core::ptr::null_mut());
    // SAFETY: `buf` is writable for its length; no address.
    unsafe { recvfrom(fd, buf.as_mut_ptr().cast(), buf.len(), flags, from, len) }
}
