//! MS-CHAPv2 (RFC 2759) and MPPE (RFC 3078/3079) through the RustCrypto crates `md4`, `sha1`,
//! `des` and `rc4`, all without `alloc`.

pub mod mppe;
pub mod mschapv2;
