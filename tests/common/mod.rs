//! Test plumbing shared by the integration tests: an in-memory IP link for smoltcp and a
//! counting global allocator; a two-namespace lab for running the daemon for real ([`netns`]).
#![allow(dead_code)]

pub mod frames;
pub mod harness;
pub mod log_capture;
pub mod netns;
pub mod shared_control;

use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Largest frame the pipe carries.
pub const PIPE_MTU: usize = 1500;
/// Frames that can wait in one direction.
pub const PIPE_DEPTH: usize = 1024;

pub type Frame = heapless::Vec<u8, PIPE_MTU>;

/// One end of an in-memory point-to-point IP link. Frames sent land in `tx`; the test moves
/// them to the other end's `rx` with [`transfer`], where it can also drop or reorder them.
/// Fixed capacity: nothing is allocated after construction.
pub struct PipeDevice {
    pub rx: heapless::Deque<Frame, PIPE_DEPTH>,
    pub tx: heapless::Deque<Frame, PIPE_DEPTH>,
}

impl PipeDevice {
    pub fn new() -> Box<Self> {
        Box::new(PipeDevice {
            rx: heapless::Deque::new(),
            tx: heapless::Deque::new(),
        })
    }
}

pub struct RxToken(Frame);
pub struct TxToken<'a>(&'a mut PipeDevice);

impl phy::RxToken for RxToken {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = Frame::new();
        let _ = frame.resize(len.min(PIPE_MTU), 0);
        let r = f(&mut frame);
        assert!(
            self.0.tx.push_back(frame).is_ok(),
            "test link overflow: raise PIPE_DEPTH"
        );
        r
    }
}

impl Device for PipeDevice {
    type RxToken<'a> = RxToken;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _: Instant) -> Option<(RxToken, TxToken<'_>)> {
        let frame = self.rx.pop_front()?;
        Some((RxToken(frame), TxToken(self)))
    }

    fn transmit(&mut self, _: Instant) -> Option<TxToken<'_>> {
        Some(TxToken(self))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = PIPE_MTU;
        caps
    }
}

/// Move every frame `from` sent to `to`'s receive queue, letting `fault` decide per frame:
/// return `Fault::Pass`, `Fault::Drop`, `Fault::Hold` (delivered after the next frame:
/// a reorder) or `Fault::Replace` (this frame instead: tampering in flight).
pub fn transfer(
    from: &mut PipeDevice,
    to: &mut PipeDevice,
    fault: &mut dyn FnMut(&[u8]) -> Fault,
) -> usize {
    let mut moved = 0;
    let mut held: Option<Frame> = None;
    while let Some(frame) = from.tx.pop_front() {
        match fault(&frame) {
            Fault::Pass => {
                assert!(
                    to.rx.push_back(frame).is_ok(),
                    "test link overflow: raise PIPE_DEPTH"
                );
                if let Some(h) = held.take() {
                    let _ = to.rx.push_back(h);
                }
            }
            Fault::Drop => {}
            Fault::Replace(other) => {
                assert!(
                    to.rx.push_back(*other).is_ok(),
                    "test link overflow: raise PIPE_DEPTH"
                );
                if let Some(h) = held.take() {
                    let _ = to.rx.push_back(h);
                }
            }
            Fault::Hold => {
                if let Some(h) = held.replace(frame) {
                    let _ = to.rx.push_back(h);
                }
            }
        }
        moved += 1;
    }
    if let Some(h) = held {
        let _ = to.rx.push_back(h);
    }
    moved
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    Pass,
    Drop,
    Hold,
    /// Deliver this frame in place of the one seen.
    Replace(Box<Frame>),
}

/// Run a test body on a thread with a large stack: the fixed-capacity test plumbing (and
/// debug builds' copies of it) would not fit the default 2 MiB test thread.
pub fn big_stack<F: FnOnce() + Send + 'static>(f: F) {
    let handle = std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(f)
        .unwrap();
    if let Err(panic) = handle.join() {
        std::panic::resume_unwind(panic);
    }
}

/// Counts allocations made by the current thread while counting is on, so that tests running
/// in parallel threads do not disturb each other.
pub struct CountingAllocator;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        System.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        System.realloc(ptr, layout, new_size)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

fn note_allocation() {
    // `try_with`: the thread-locals may already be gone while a thread shuts down.
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        }
    });
}

/// Run `f` and return how many allocations this thread made inside it.
pub fn count_allocations<R>(f: impl FnOnce() -> R) -> (R, usize) {
    ALLOCATIONS.with(|n| n.set(0));
    COUNTING.with(|on| on.set(true));
    let r = f();
    COUNTING.with(|on| on.set(false));
    (r, ALLOCATIONS.with(|n| n.get()))
}
