//! Shared code for the integration tests, soak tests and benchmarks: an independent PPTP
//! client ([`client`]), numbered test traffic ([`packets`]) and a driver that runs the client
//! over Linux kernel sockets ([`kernel`]).
//!
//! Every test binary compiles this module but uses only part of it.
#![allow(dead_code)]

pub mod client;
pub mod kernel;
pub mod packets;
