//! Signals as file descriptor events: SIGTERM/SIGINT/SIGHUP are blocked and read from a
//! signalfd in the poll loop, so there are no async handlers and nothing is allocated
//! (signal-hook keeps its handlers in `Arc`s). SIGPIPE is ignored, by `main` (as std's
//! runtime does for the tests): a write to a closed socket must return EPIPE, not kill the
//! daemon.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// A signal the daemon acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// SIGTERM or SIGINT: say goodbye to every client, then exit.
    Terminate(i32),
    /// SIGHUP: reload the configuration, keep the sessions.
    Reload,
}

/// The blocked signals and the signalfd they arrive on.
pub struct Signals {
    fd: OwnedFd,
}

use super::sys::{self, KERNEL_SIGSET};

fn handled_set() -> libc::sigset_t {
    sys::sigset(&[libc::SIGTERM, libc::SIGINT, libc::SIGHUP])
}

impl Signals {
    /// Block the signals in this (single) thread and open the signalfd. Call before any
    /// other thread could exist, i.e. first thing in `main`.
    pub fn install() -> io::Result<Signals> {
        let set = handled_set();
        unsafe {
            // Like pthread_sigmask, this returns the error number.
            let err = sys::sigprocmask(libc::SIG_BLOCK, &set);
            if err != 0 {
                return Err(io::Error::from_raw_os_error(err));
            }
            // signalfd4, the system call musl's signalfd makes first (its fallback is for
            // kernels before 2.6.27); it takes the kernel's signal set size.
            let flags = (libc::SFD_NONBLOCK | libc::SFD_CLOEXEC) as libc::c_long;
            let set = &set as *const libc::sigset_t;
            let fd = libc::syscall(
                libc::SYS_signalfd4,
                -1 as libc::c_long,
                set,
                KERNEL_SIGSET,
                flags,
            ) as libc::c_int;
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(Signals {
                fd: OwnedFd::from_raw_fd(fd),
            })
        }
    }

    /// Next pending signal, or None when there is none (the fd is nonblocking).
    pub fn read(&mut self) -> Option<Signal> {
        loop {
            let mut info: libc::signalfd_siginfo = unsafe { core::mem::zeroed() };
            let size = core::mem::size_of::<libc::signalfd_siginfo>();
            let n = unsafe {
                libc::read(
                    self.fd.as_raw_fd(),
                    (&mut info as *mut libc::signalfd_siginfo).cast(),
                    size,
                )
            };
            if n != size as isize {
                return None;
            }
            match info.ssi_signo as i32 {
                libc::SIGHUP => return Some(Signal::Reload),
                s @ (libc::SIGTERM | libc::SIGINT) => return Some(Signal::Terminate(s)),
                _ => continue,
            }
        }
    }
}

impl AsRawFd for Signals {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Tests run on several threads; the mask is per thread, so raise each signal at this
    // thread only (tgkill) after blocking it here.
    fn raise_here(sig: i32) {
        unsafe {
            let tid = libc::syscall(libc::SYS_gettid) as libc::pid_t;
            libc::syscall(libc::SYS_tgkill, libc::getpid(), tid, sig);
        }
    }

    #[test]
    fn signals_arrive_on_the_fd() {
        let mut signals = Signals::install().expect("signalfd");
        assert_eq!(signals.read(), None);
        raise_here(libc::SIGHUP);
        assert_eq!(signals.read(), Some(Signal::Reload));
        raise_here(libc::SIGTERM);
        assert_eq!(signals.read(), Some(Signal::Terminate(libc::SIGTERM)));
        raise_here(libc::SIGINT);
        assert_eq!(signals.read(), Some(Signal::Terminate(libc::SIGINT)));
        assert_eq!(signals.read(), None);
    }
}
