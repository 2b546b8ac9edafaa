//! smolpptp: a PPTP VPN server (RFC 2637) with PPP, MS-CHAPv2 and MPPE, built on smoltcp.
//!
//! Layers, each using only the ones below it (like smoltcp's `wire`/`socket`/`iface`/`phy`):
//! - [`wire`]: zero-copy, length-checked views and representations of every packet format.
//! - [`crypto`]: MS-CHAPv2 (RFC 2759) and MPPE keys and ciphers (RFC 3078/3079).
//! - [`ppp`]: the RFC 1661 option automaton shared by LCP, IPCP and CCP, the MS-CHAPv2
//!   authenticator and the PPP link that runs the phases in order.
//! - [`pptp`]: the control connection, calls, GRE sequencing and the fixed session table.
//! - [`server`]: the poll loop that owns the smoltcp interface, the TCP 1723 pool and the raw
//!   GRE socket.
//!
//! Everything above is `no_std` without `alloc`, does no I/O and reads no clock: time comes in
//! as an argument and output goes into buffers the caller owns. The Linux daemon (`linux`,
//! `conf`) sits at the edge behind the `std` feature.
#![cfg_attr(not(feature = "std"), no_std)]

pub mod limits;
pub mod rand;
pub mod settings;

pub mod crypto;
pub mod ppp;
pub mod pptp;
pub mod server;
pub mod wire;

#[cfg(feature = "std")]
pub mod conf;
#[cfg(feature = "std")]
pub mod linux;

/// The earlier of two optional deadlines (`None`: no deadline), through [`lower`].
#[inline]
pub fn earliest(
    a: Option<smoltcp::time::Instant>,
    b: Option<smoltcp::time::Instant>,
) -> Option<smoltcp::time::Instant> {
    let mut a = a;
    lower(&mut a, b);
    a
}

/// Lower the deadline `at` to `other` if that is earlier. Every `poll_at` combines its
/// timers with this one out-of-line function: an inlined compare of two `Option<Instant>`
/// (a 64-bit value and a tag) is large on 32-bit targets, and updating in place passes half
/// the arguments of [`earliest`] and returns nothing through memory.
#[inline(never)]
pub fn lower(at: &mut Option<smoltcp::time::Instant>, other: Option<smoltcp::time::Instant>) {
    if let Some(b) = other {
        if at.is_none_or(|a| b < a) {
            *at = Some(b);
        }
    }
}

/// `log`'s macros without the call site's metadata. `log::info!` and friends hand the logger a
/// target, module path, file and line at every call: about 40 bytes of .rodata and a few
/// pushes per call on 32-bit targets, 64 bytes on x86_64, for about 140 calls. No logger here
/// prints them (syslog and stderr show the level and the message), so [`error!`], [`warn!`],
/// [`info!`] and [`debug!`] pass only those. Any `log::Log` still receives the records.
#[doc(hidden)]
pub mod logging {
    pub use log::Level;

    /// Is `level` logged?
    #[inline(always)]
    pub fn enabled(level: Level) -> bool {
        level <= log::STATIC_MAX_LEVEL && level <= log::max_level()
    }

    // One entry point per level: a call site then passes only its message (one argument
    // register, not two), about 450 bytes over the ~140 calls on mipsel.
    /// [`emit`] at [`Level::Error`].
    #[inline(never)]
    pub fn error(args: core::fmt::Arguments<'_>) {
        emit(Level::Error, args)
    }
    /// [`emit`] at [`Level::Warn`].
    #[inline(never)]
    pub fn warn(args: core::fmt::Arguments<'_>) {
        emit(Level::Warn, args)
    }
    /// [`emit`] at [`Level::Info`].
    #[inline(never)]
    pub fn info(args: core::fmt::Arguments<'_>) {
        emit(Level::Info, args)
    }
    /// [`emit`] at [`Level::Debug`].
    #[inline(never)]
    pub fn debug(args: core::fmt::Arguments<'_>) {
        emit(Level::Debug, args)
    }

    /// Log `args` at `level` if that level is on. Errors, warnings and notices are always on in
    /// the daemon, so their calls leave the check to this one place.
    #[inline(never)]
    pub fn emit(level: Level, args: core::fmt::Arguments<'_>) {
        if !enabled(level) {
            return;
        }
        log::logger().log(&log::Record::builder().args(args).level(level).build());
    }
}

/// Like `log::error!`, without the call site's metadata (see [`logging`]).
#[macro_export]
macro_rules! error {
    ($($arg:tt)+) => {
        $crate::logging::error(format_args!($($arg)+))
    };
}
/// Like `log::warn!`, without the call site's metadata (see [`logging`]).
#[macro_export]
macro_rules! warn {
    ($($arg:tt)+) => {
        $crate::logging::warn(format_args!($($arg)+))
    };
}
/// Like `log::info!`, without the call site's metadata (see [`logging`]).
#[macro_export]
macro_rules! info {
    ($($arg:tt)+) => {
        $crate::logging::info(format_args!($($arg)+))
    };
}
/// Like `log::debug!`, without the call site's metadata (see [`logging`]). The level is checked
/// in the one callee, not at every call: the debug calls sit on error and loss paths, not on
/// the per-packet one, and their arguments are references, so building the message costs a few
/// stores (about 700 bytes less on mipsel than a check per call).
#[macro_export]
macro_rules! debug {
    ($($arg:tt)+) => {
        $crate::logging::debug(format_args!($($arg)+))
    };
}
