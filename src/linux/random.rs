//! Kernel randomness for challenges, magic numbers and call IDs: the getrandom(2) syscall
//! (no file descriptor to keep open, works in a chroot, never allocates).

use crate::rand::Random;

/// `crate::rand::Random` backed by getrandom(2).
#[derive(Clone, Copy, Debug, Default)]
pub struct KernelRandom;

impl KernelRandom {
    /// Fill `buf`, retrying on EINTR and short reads. Errors other than EINTR mean the
    /// kernel has no getrandom (before 3.17): the daemon cannot run safely then.
    pub fn try_fill(buf: &mut [u8]) -> std::io::Result<()> {
        let mut done = 0;
        while done < buf.len() {
            let rest = &mut buf[done..];
            // The system call itself (musl's getrandom only adds a cancellation point).
            let (p, len) = (rest.as_mut_ptr(), rest.len());
            let n = unsafe { libc::syscall(libc::SYS_getrandom, p, len, 0 as libc::c_long) };
            if n < 0 {
                match super::file::failed() {
                    Some(e) => return Err(e),
                    None => continue,
                }
            }
            done += n as usize;
        }
        Ok(())
    }
}

impl Random for KernelRandom {
    fn fill_bytes(&mut self, buf: &mut [u8]) {
        // Checked once at start-up (`try_fill` in main); a later failure is impossible on
        // a kernel that answered once, so an error here is a broken system, not input.
        if let Err(e) = Self::try_fill(buf) {
            panic!("getrandom failed: {}", super::ErrorText(e));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_whole_buffer_and_differs() {
        let mut a = [0u8; 300];
        let mut b = [0u8; 300];
        KernelRandom.fill_bytes(&mut a);
        KernelRandom.fill_bytes(&mut b);
        assert_ne!(a, b);
        // 300 zero bytes at the end would mean a short read went unnoticed.
        assert!(a[268..].iter().any(|&x| x != 0));
        let mut empty = [0u8; 0];
        KernelRandom.fill_bytes(&mut empty);
        let _ = KernelRandom.next_u32();
    }
}
