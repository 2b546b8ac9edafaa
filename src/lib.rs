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
