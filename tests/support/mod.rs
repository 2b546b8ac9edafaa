//! Shared code for the integration tests, soak tests and benchmarks: an independent PPTP
//! client ([`client`]) and numbered test traffic ([`packets`]).
//!
//! Every test binary compiles this module but uses only part of it.
#![allow(dead_code)]

pub mod client;
pub mod packets;
