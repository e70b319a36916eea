//! Allocation accounting for the mutation tests, per thread so that tests
//! running beside each other do not mix their counts.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// A single allocation this large while a parser runs is refused (which
/// aborts the test binary after the input has been written out): a bomb
/// must fail the test, not take the machine's memory.
pub const REFUSE_ABOVE: usize = 1 << 30;

thread_local! {
    pub static LIVE: Cell<usize> = const { Cell::new(0) };
    pub static PEAK: Cell<usize> = const { Cell::new(0) };
    pub static ARMED: Cell<bool> = const { Cell::new(false) };
    /// The input being parsed and where to write it if it is refused: the
    /// allocator cannot allocate to report it.
    pub static CURRENT: Cell<(*const u8, usize)> = const { Cell::new((std::ptr::null(), 0)) };
    pub static DUMP_PATH: Cell<*const libc::c_char> = const { Cell::new(std::ptr::null()) };
}

fn grew(size: usize) {
    let _ = LIVE.try_with(|live| {
        let now = live.get().saturating_add(size);
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

fn shrank(size: usize) {
    let _ = LIVE.try_with(|live| live.set(live.get().saturating_sub(size)));
}

/// True when `size` must be refused; the input is then written out with
/// raw system calls, which do not allocate.
fn refuse(size: usize) -> bool {
    if size <= REFUSE_ABOVE || !ARMED.try_with(Cell::get).unwrap_or(false) {
        return false;
    }
    let (input, length) = CURRENT.try_with(Cell::get).unwrap_or((std::ptr::null(), 0));
    let path = DUMP_PATH.try_with(Cell::get).unwrap_or(std::ptr::null());
    if !input.is_null() && !path.is_null() {
        // SAFETY: both pointers come from `parse_one`, which keeps the input
        // and the path alive while the parser runs.
        unsafe {
            let fd = libc::open(path, libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC, 0o644);
            if fd >= 0 {
                libc::write(fd, input.cast(), length);
                libc::close(fd);
            }
            let note = b"mutation: an input asked for over 1 GiB at once; it is in target/mutation-failures/\n";
            libc::write(2, note.as_ptr().cast(), note.len());
        }
    }
    true
}

/// A new block of `layout` from `allocate`, counted; or null if refused.
fn counted(layout: Layout, allocate: impl FnOnce() -> *mut u8) -> *mut u8 {
    if refuse(layout.size()) {
        return std::ptr::null_mut();
    }
    let block = allocate();
    if !block.is_null() {
        grew(layout.size());
    }
    block
}

// SAFETY: every call is passed on to the system allocator unchanged; the
// bookkeeping touches only thread-local cells that never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        counted(layout, || unsafe { System.alloc(layout) })
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        counted(layout, || unsafe { System.alloc_zeroed(layout) })
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        unsafe { System.dealloc(block, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() && refuse(new_size) {
            return std::ptr::null_mut();
        }
        let moved = unsafe { System.realloc(block, layout, new_size) };
        if !moved.is_null() {
            shrank(layout.size());
            grew(new_size);
        }
        moved
    }
}
