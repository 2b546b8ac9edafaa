//! Compile-time limits of the chosen board (`boards/<board>.toml`, see build.rs).
//! Every table and buffer in the crate is sized from these constants.
include!(concat!(env!("OUT_DIR"), "/limits.rs"));

/// Largest PPP frame we accept or build inside GRE: RFC 2637 §4 caps user data at 1532.
pub const MAX_PPP_FRAME: usize = 1532;
/// Largest PPP control packet (LCP/IPCP/CCP/CHAP) we queue; longer Echo data is truncated.
pub const MAX_CONTROL_FRAME: usize = 300;
