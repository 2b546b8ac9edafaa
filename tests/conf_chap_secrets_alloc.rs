//! The chap-secrets lookup runs in the poll loop, which must not allocate after start-up:
//! count heap allocations made by this thread around lookups. One test only, so no other
//! test thread changes which thread is counted.

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

use smolpptp::conf::ChapSecrets;
use smolpptp::settings::{AddressRule, Secrets};

/// Counts allocations made by the thread whose id is in `COUNTED_THREAD`.
struct Counting;

static COUNTED_THREAD: AtomicI64 = AtomicI64::new(-1);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

fn thread_id() -> i64 {
    // SAFETY: gettid has no preconditions and does not allocate.
    unsafe { libc::syscall(libc::SYS_gettid) }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if thread_id() == COUNTED_THREAD.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if thread_id() == COUNTED_THREAD.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn lookup_does_not_allocate() {
    let dir = std::env::temp_dir().join(format!("smolpptp-alloc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let secret_file = dir.join("u.secret");
    std::fs::write(&secret_file, "indirect\n").unwrap();
    let path = dir.join("chap-secrets");
    std::fs::write(
        &path,
        format!(
            "# users\n* * wild *\nalice pptpd \"a b\\tc\" 10.0.0.5 -- ms-dns 1.1.1.1\n\
             bob * @{} *\ncarol * x - \n",
            secret_file.display()
        ),
    )
    .unwrap();
    let missing = dir.join("missing");

    // Start-up: everything allocated here.
    let mut store = ChapSecrets::new(&path, true).unwrap();
    let mut gone = ChapSecrets::new(&missing, false).unwrap();
    let peer = Ipv4Addr::new(192, 0, 2, 1);

    COUNTED_THREAD.store(thread_id(), Ordering::SeqCst);
    // The counter works: a Vec is seen.
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    drop(std::hint::black_box(vec![1u8; 100]));
    assert_eq!(ALLOCATIONS.load(Ordering::SeqCst), before + 1);

    let before = ALLOCATIONS.load(Ordering::SeqCst);
    let alice = store.lookup(b"DOM\\alice", b"pptpd", peer);
    let bob = store.lookup(b"bob", b"pptpd", peer);
    let carol = store.lookup(b"carol", b"pptpd", peer);
    let wild = store.lookup(b"nobody", b"other", peer);
    let none = gone.lookup(b"alice", b"pptpd", peer);
    let after = ALLOCATIONS.load(Ordering::SeqCst);
    COUNTED_THREAD.store(-1, Ordering::SeqCst);

    assert_eq!(after - before, 0, "chap-secrets lookups allocated");
    let alice = alice.unwrap();
    assert_eq!(&alice.password[..], b"a b\tc");
    assert_eq!(
        alice.address,
        AddressRule::Fixed(Ipv4Addr::new(10, 0, 0, 5))
    );
    assert_eq!(&bob.unwrap().password[..], b"indirect");
    assert_eq!(carol.unwrap().address, AddressRule::Deny);
    assert_eq!(&wild.unwrap().password[..], b"wild");
    assert!(none.is_none());
    let _ = std::fs::remove_dir_all(&dir);
}
