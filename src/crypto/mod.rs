//! MS-CHAPv2 (RFC 2759) and MPPE (RFC 3078/3079) through the RustCrypto crates `md4`, `sha1`
//! and `rc4` and a small DES of our own, all without `alloc`.

pub mod des;
pub mod mppe;
pub mod mschapv2;

/// Overwrites secret material before its memory is reused. Volatile writes, so the compiler
/// cannot drop them as dead stores.
pub(crate) fn wipe(buf: &mut [u8]) {
    for b in buf.iter_mut() {
        // SAFETY: `b` is a valid, aligned, exclusive reference to a byte.
        unsafe { core::ptr::write_volatile(b, 0) };
    }
    core::sync::atomic::compiler_fence(core::sync::atomic::Ordering::SeqCst);
}

/// SHA-1 of the concatenation of `parts`. One out-of-line copy of the hashing sequence for
/// every user (ChallengeHash, the authenticator response, the MPPE keys), and no hasher state
/// moved by value between parts as `chain_update` does.
#[inline(never)]
pub(crate) fn sha1(parts: &[&[u8]]) -> [u8; 20] {
    use sha1::Digest;
    let mut hasher = sha1::Sha1::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}
