//! The daemon's global allocator: power-of-two size classes with free lists, carved from
//! mmap'd chunks, and mmap/munmap for anything above the largest class.
//!
//! Why not musl's malloc: the daemon allocates its tables once at start-up and afterwards only
//! when it loads configuration files or answers an admin command, so a general-purpose
//! allocator buys nothing, and musl's (mallocng) is about 9 KiB of a router binary; this one
//! is about 1 KiB. Rust hands `dealloc` the layout, so blocks need no header: the size class
//! follows from the layout alone.
//!
//! Large blocks come straight from mmap, zero-filled and untouched until used, so a table
//! sized for 1024 sessions costs RAM only for the pages its sessions write.

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::{self, null_mut};
use core::sync::atomic::{AtomicU32, Ordering};

/// Smallest block: room for the free-list link on every target.
const MIN_SHIFT: u32 = 4;
/// Largest class, 2 KiB; above it a block is its own mapping.
const MAX_SHIFT: u32 = 11;
const CLASSES: usize = (MAX_SHIFT - MIN_SHIFT + 1) as usize;
/// Classes are carved from chunks this big (a multiple of every class, so blocks stay
/// aligned to their size).
const CHUNK: usize = 64 * 1024;
const PAGE: usize = 4096;
/// mmap(2) as 32-bit kernels number it (mmap2: the offset in pages; ours is 0).
#[cfg(target_pointer_width = "32")]
const SYS_MMAP: libc::c_long = libc::SYS_mmap2;
#[cfg(target_pointer_width = "64")]
const SYS_MMAP: libc::c_long = libc::SYS_mmap;

struct State {
    free: [*mut u8; CLASSES],
    /// The unused rest of the current chunk.
    bump: *mut u8,
    bump_end: *mut u8,
}

/// See the module documentation. One lock: the daemon is single-threaded, the lock only
/// keeps `GlobalAlloc`'s contract should a thread ever allocate.
pub struct ClassAllocator {
    /// 1 while held. A word, not an AtomicBool: MIPS32 has no byte-wide load-linked/
    /// store-conditional, so a bool's compare-exchange there is a masked loop on the word.
    lock: AtomicU32,
    state: core::cell::UnsafeCell<State>,
}

// SAFETY: `state` is only touched with `lock` held.
unsafe impl Sync for ClassAllocator {}

impl ClassAllocator {
    pub const fn new() -> ClassAllocator {
        ClassAllocator {
            lock: AtomicU32::new(0),
            state: core::cell::UnsafeCell::new(State {
                free: [null_mut(); CLASSES],
                bump: null_mut(),
                bump_end: null_mut(),
            }),
        }
    }

    /// The class index for a layout, or None for a mapping of its own.
    fn class(layout: Layout) -> Option<usize> {
        let size = layout.size().max(layout.align()).max(1 << MIN_SHIFT);
        let shift = usize::BITS - (size - 1).leading_zeros();
        (shift <= MAX_SHIFT).then(|| (shift - MIN_SHIFT) as usize)
    }

    fn with_state<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        while self
            .lock
            .compare_exchange_weak(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            core::hint::spin_loop();
        }
        // SAFETY: the lock is held, so this is the only reference.
        let out = f(unsafe { &mut *self.state.get() });
        self.lock.store(0, Ordering::Release);
        out
    }

    /// An anonymous mapping of `len` bytes, or null. The system call itself: musl's `mmap`
    /// and `munmap` wrappers were 0.5 KB of the mipsel binary, mostly for cases (an offset,
    /// MAP_FIXED) that never arise here. Its one check that could, it does first.
    fn map(len: usize) -> *mut u8 {
        if len >= isize::MAX as usize {
            return null_mut();
        }
        // SAFETY: an anonymous private mapping has no preconditions.
        let p = unsafe {
            libc::syscall(
                SYS_MMAP,
                0 as libc::c_long,
                len,
                (libc::PROT_READ | libc::PROT_WRITE) as libc::c_long,
                (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS) as libc::c_long,
                -1 as libc::c_long,
                0 as libc::c_long,
            )
        };
        if p == -1 {
            null_mut()
        } else {
            p as *mut u8
        }
    }

    fn map_len(layout: Layout) -> usize {
        layout.size().max(1).next_multiple_of(PAGE)
    }

    fn alloc_class(&self, class: usize) -> *mut u8 {
        let size = 1usize << (class as u32 + MIN_SHIFT);
        self.with_state(|s| {
            let head = s.free[class];
            if !head.is_null() {
                // SAFETY: a free block holds the next free block's address in its first word.
                s.free[class] = unsafe { head.cast::<*mut u8>().read() };
                return head;
            }
            // Blocks are aligned to their size: chunks start page-aligned, and the bump
            // pointer moves up to this class's next boundary.
            let mut at = (s.bump as usize).next_multiple_of(size);
            if s.bump.is_null() || at + size > s.bump_end as usize {
                // The old chunk's rest (too small for this class) stays unused.
                let chunk = Self::map(CHUNK);
                if chunk.is_null() {
                    return null_mut();
                }
                at = chunk as usize;
                s.bump_end = (at + CHUNK) as *mut u8;
            }
            s.bump = (at + size) as *mut u8;
            at as *mut u8
        })
    }
}

impl Default for ClassAllocator {
    fn default() -> Self {
        Self::new()
    }
}

unsafe impl GlobalAlloc for ClassAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match Self::class(layout) {
            Some(class) => self.alloc_class(class),
            // mmap gives page alignment; anything asking for more is not served.
            None if layout.align() <= PAGE => Self::map(Self::map_len(layout)),
            None => null_mut(),
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        match Self::class(layout) {
            Some(_) => {
                let p = unsafe { self.alloc(layout) };
                if !p.is_null() {
                    // SAFETY: the block is at least `layout.size()` bytes.
                    unsafe { ptr::write_bytes(p, 0, layout.size()) };
                }
                p
            }
            // Fresh anonymous mappings are zero already; not writing them keeps untouched
            // pages out of the resident set.
            None => unsafe { self.alloc(layout) },
        }
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        match Self::class(layout) {
            Some(class) => self.with_state(|s| {
                // SAFETY: the block is ours and at least a pointer big and aligned.
                unsafe { p.cast::<*mut u8>().write(s.free[class]) };
                s.free[class] = p;
            }),
            None => {
                // SAFETY: `p` is the start of a mapping of exactly this length.
                unsafe { libc::syscall(libc::SYS_munmap, p, Self::map_len(layout)) };
            }
        }
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller promises `new_size` with `layout.align()` is a valid layout.
        let new = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        let (old_class, new_class) = (Self::class(layout), Self::class(new));
        // Same class: the block already has room.
        if old_class.is_some() && old_class == new_class {
            return p;
        }
        if old_class.is_none() && new_class.is_none() && Self::map_len(layout) == Self::map_len(new)
        {
            return p;
        }
        let q = unsafe { self.alloc(new) };
        if !q.is_null() {
            // SAFETY: both blocks are valid for the smaller of the two sizes.
            unsafe {
                ptr::copy_nonoverlapping(p, q, layout.size().min(new_size));
                self.dealloc(p, layout);
            }
        }
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    #[test]
    fn classes_follow_size_and_alignment() {
        assert_eq!(ClassAllocator::class(layout(1, 1)), Some(0));
        assert_eq!(ClassAllocator::class(layout(16, 8)), Some(0));
        assert_eq!(ClassAllocator::class(layout(17, 8)), Some(1));
        assert_eq!(ClassAllocator::class(layout(8, 64)), Some(2));
        assert_eq!(ClassAllocator::class(layout(2048, 8)), Some(7));
        assert_eq!(ClassAllocator::class(layout(2049, 8)), None);
        assert_eq!(ClassAllocator::class(layout(16, 4096)), None);
    }

    #[test]
    fn blocks_are_aligned_disjoint_reused_and_hold_their_bytes() {
        let a = ClassAllocator::new();
        let sizes = [1, 7, 16, 24, 100, 500, 1500, 2048, 3000, 70_000, 1 << 20];
        let aligns = [1, 8, 16, 64, 256];
        let mut live: Vec<(*mut u8, Layout, u8)> = Vec::new();
        let mut fill = 0u8;
        for round in 0..3 {
            for &size in &sizes {
                for &align in &aligns {
                    let l = layout(size, align);
                    let p = unsafe { a.alloc(l) };
                    assert!(!p.is_null());
                    assert_eq!(p as usize % align, 0, "{size}/{align}");
                    fill = fill.wrapping_add(1);
                    unsafe { ptr::write_bytes(p, fill, size) };
                    live.push((p, l, fill));
                }
            }
            // Nothing overlaps, and every block still holds what was written into it.
            let mut spans: Vec<(usize, usize)> = live
                .iter()
                .map(|&(p, l, _)| (p as usize, p as usize + l.size()))
                .collect();
            spans.sort();
            assert!(spans.windows(2).all(|w| w[0].1 <= w[1].0), "round {round}");
            for &(p, l, f) in &live {
                let bytes = unsafe { core::slice::from_raw_parts(p, l.size()) };
                assert!(bytes.iter().all(|&b| b == f));
            }
            // Free every other block; the next round reuses them.
            let mut keep = Vec::new();
            for (i, b) in live.drain(..).enumerate() {
                if i % 2 == 0 {
                    unsafe { a.dealloc(b.0, b.1) };
                } else {
                    keep.push(b);
                }
            }
            live = keep;
        }
        // A freed small block is handed out again (LIFO).
        let l = layout(40, 8);
        let p = unsafe { a.alloc(l) };
        unsafe { a.dealloc(p, l) };
        assert_eq!(unsafe { a.alloc(l) }, p);
        for (p, l, _) in live {
            unsafe { a.dealloc(p, l) };
        }
    }

    #[test]
    fn zeroed_and_realloc_keep_their_promises() {
        let a = ClassAllocator::new();
        let small = layout(64, 8);
        let p = unsafe { a.alloc(small) };
        unsafe { ptr::write_bytes(p, 0xAB, 64) };
        unsafe { a.dealloc(p, small) };
        let z = unsafe { a.alloc_zeroed(small) };
        assert_eq!(z, p, "reused block");
        assert!(unsafe { core::slice::from_raw_parts(z, 64) }
            .iter()
            .all(|&b| b == 0));
        let big = layout(100_000, 8);
        let zb = unsafe { a.alloc_zeroed(big) };
        assert!(unsafe { core::slice::from_raw_parts(zb, 100_000) }
            .iter()
            .all(|&b| b == 0));
        unsafe { a.dealloc(zb, big) };

        // Grow across classes and into a mapping, then shrink: the bytes come along.
        let mut l = layout(10, 1);
        let mut p = unsafe { a.alloc(l) };
        for i in 0..10 {
            unsafe { *p.add(i) = i as u8 };
        }
        for new_size in [12, 300, 5000, 200_000, 40] {
            p = unsafe { a.realloc(p, l, new_size) };
            assert!(!p.is_null());
            l = layout(new_size, 1);
            let bytes = unsafe { core::slice::from_raw_parts(p, 10) };
            assert_eq!(bytes, &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        }
        unsafe { a.dealloc(p, l) };
    }
}
