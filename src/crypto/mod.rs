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
pub(crate) fn sha1(parts: &[&[u8]]) -> Sha1Digest {
    use sha1::Digest;
    let mut hasher = sha1::Sha1::new();
    for part in parts {
        hasher.update(part);
    }
    Sha1Digest(hasher.finalize().into())
}

/// A SHA-1 digest, word-aligned: as a bare `[u8; 20]` (alignment 1) every copy out of it
/// (the keys, the challenge hash) took unaligned load/store pairs on MIPS.
#[repr(align(4))]
pub(crate) struct Sha1Digest(pub [u8; 20]);
