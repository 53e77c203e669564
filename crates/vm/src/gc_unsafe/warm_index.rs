//! Memory for a big table's next index, faulted in ahead of its use. Part of the audited
//! module: the `unsafe` here is an allocation kept as a raw block while it is written a
//! byte a page, and the two allocators hashbrown calls.
//!
//! Why: a table's index of positions (`table::TableAux::index`) grows by doubling into a
//! fresh allocation, which the growth fills at positions picked by key hashes: scattered
//! over the whole block at once, so the first step of a growth touches nearly every page of
//! it, and the kernel's first touch of a page costs ~2 us (5 MiB: 1,280 page faults, 3 ms
//! in one step of ordinary fuel). The table makes the block before it is needed
//! ([`WarmBlock::new`], with hashbrown's exact layout from [`index_layout`]), writes a page
//! of it every few insertions ([`WarmBlock::warm`]) while the old index fills, and hands
//! it to hashbrown when the growth starts ([`with_warm_block`]): the faults are spread over
//! the insertions that lead to the growth. Physical only: whether a block is warm, or used
//! at all, changes no result, fuel or memory count.
//!
//! Soundness: a [`WarmBlock`] owns memory from the global allocator (`std::alloc::alloc`
//! with `layout`, size non-zero) that nothing else points to until it is given away; it
//! writes only bytes inside it, and frees it with the same layout unless it was given to
//! [`IndexAlloc::allocate`], which returns it only for a request of exactly that layout
//! (so hashbrown's later `deallocate` with that layout frees it as allocated). Every other
//! allocation of an [`Index`] is the global allocator's (through `allocator_api2`'s
//! `Global`, which calls `std::alloc` for a non-zero size, as [`WarmBlock`] does).

use std::alloc::Layout;
use std::cell::Cell;
use std::ptr::NonNull;

use allocator_api2::alloc::{AllocError, Allocator, Global};
use hashbrown::{HashTable, TryReserveError};

/// A table's index of positions, allocated by [`IndexAlloc`].
pub(crate) type Index = HashTable<u32, IndexAlloc>;

/// The page size assumed when warming (a bigger one is warmed more often than needed).
const PAGE: usize = 4096;

/// An allocation for a future index, written a byte a page so the kernel maps its pages
/// before hashbrown fills it (see the module docs).
pub(crate) struct WarmBlock {
    ptr: NonNull<u8>,
    layout: Layout,
    /// Pages written so far, from the start.
    warmed: usize,
}

impl WarmBlock {
    /// A block of `layout` (none for a zero size or when the allocator refuses), not yet
    /// written.
    pub(crate) fn new(layout: Layout) -> Option<Self> {
        if layout.size() == 0 {
            return None;
        }
        // SAFETY: the size is non-zero, as `alloc` requires.
        let ptr = NonNull::new(unsafe { std::alloc::alloc(layout) })?;
        Some(WarmBlock {
            ptr,
            layout,
            warmed: 0,
        })
    }

    /// The pages of the block.
    pub(crate) fn pages(&self) -> usize {
        self.layout.size().div_ceil(PAGE)
    }

    /// Writes the block's pages from the first not yet written up to the `until`th (a zero
    /// byte at each one's start).
    pub(crate) fn warm_until(&mut self, until: usize) {
        while self.warmed < until.min(self.pages()) {
            let offset = self.warmed * PAGE;
            // SAFETY: `offset < layout.size()` (`warmed < pages()`, `size.div_ceil(PAGE)`), so the
            // byte is inside the block, which this value owns alone (not given away:
            // `allocate` takes the block by value). Volatile so the write that maps the
            // page is not dropped as a store nobody reads.
            unsafe { self.ptr.as_ptr().add(offset).write_volatile(0) };
            self.warmed += 1;
        }
    }
}

impl Drop for WarmBlock {
    fn drop(&mut self) {
        // SAFETY: allocated by `std::alloc::alloc` with `layout` (`new`) and still owned:
        // a block given to hashbrown is forgotten, not dropped (`IndexAlloc::allocate`).
        unsafe { std::alloc::dealloc(self.ptr.as_ptr(), self.layout) }
    }
}

thread_local! {
    /// The block [`with_warm_block`] offers to the next index allocation on this thread.
    static OFFERED: Cell<Option<WarmBlock>> = const { Cell::new(None) };
}

/// Runs `make` (which allocates an index) with `block` offered to it: an allocation of the
/// block's exact layout gets the block; if none takes it, it is freed on return.
pub(crate) fn with_warm_block<R>(block: WarmBlock, make: impl FnOnce() -> R) -> R {
    OFFERED.set(Some(block));
    let made = make();
    drop(OFFERED.take());
    made
}

/// The allocator of [`Index`]: the global allocator's memory, or the block offered by
/// [`with_warm_block`] when hashbrown asks for its exact layout.
#[derive(Clone, Copy, Default)]
pub(crate) struct IndexAlloc;

// SAFETY: every block returned is live memory of at least the requested size and
// alignment, owned by the caller until `deallocate`: either `Global`'s, or a `WarmBlock`'s,
// allocated by `std::alloc::alloc` with exactly the requested layout and forgotten when
// returned (nothing else frees or writes it). `deallocate` frees both through `Global`
// (`std::alloc::dealloc` with the same layout, which hashbrown passes back). The allocator
// is a unit: clones are interchangeable.
unsafe impl Allocator for IndexAlloc {
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        if let Some(block) = OFFERED.take() {
            if block.layout == layout {
                let ptr = block.ptr;
                std::mem::forget(block);
                return Ok(NonNull::slice_from_raw_parts(ptr, layout.size()));
            }
            OFFERED.set(Some(block));
        }
        Global.allocate(layout)
    }

    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: `ptr` was returned by `allocate` with `layout` (the caller's contract),
        // so it is `Global`'s or a warm block allocated as `Global` does, with `layout`.
        unsafe { Global.deallocate(ptr, layout) }
    }
}

/// An allocator that refuses every request: asking hashbrown to reserve with it reports
/// the layout it wanted ([`index_layout`]).
struct Refuse;

// SAFETY: it never returns memory, so no contract on returned blocks applies, and
// `deallocate` is never called with memory it gave (there is none).
unsafe impl Allocator for Refuse {
    fn allocate(&self, _layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        Err(AllocError)
    }

    unsafe fn deallocate(&self, _ptr: NonNull<u8>, _layout: Layout) {}
}

/// The layout hashbrown allocates for an [`Index`] made with room for `room` positions
/// (`HashTable::with_capacity_in(room, ..)`), or `None` if it allocates nothing or the
/// size overflows.
pub(crate) fn index_layout(room: usize) -> Option<Layout> {
    let mut probe = HashTable::<u32, Refuse>::new_in(Refuse);
    match probe.try_reserve(room, |&p| u64::from(p)) {
        Err(TryReserveError::AllocError { layout }) => Some(layout),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_made_with_the_room_of_a_warm_block_takes_it() {
        let room = 100_000;
        let layout = index_layout(room).expect("a layout");
        let mut block = WarmBlock::new(layout).expect("memory");
        assert_eq!(block.pages(), layout.size().div_ceil(PAGE));
        block.warm_until(3);
        assert_eq!(block.warmed, 3);
        block.warm_until(usize::MAX);
        assert_eq!(block.warmed, block.pages());
        let address = block.ptr.as_ptr() as usize;
        let mut index = with_warm_block(block, || Index::with_capacity_in(room, IndexAlloc));
        assert!(index.capacity() >= room);
        // hashbrown's data grows down from its control bytes: the block is the allocation.
        let first = index.insert_unique(7, 7, |&p| u64::from(p));
        let at = first.get() as *const u32 as usize;
        assert!((address..address + layout.size()).contains(&at));
        for p in 0..room as u32 {
            index.insert_unique(u64::from(p), p, |&p| u64::from(p));
        }
        assert_eq!(index.find(99, |&p| p == 99), Some(&99));
    }

    #[test]
    fn a_block_of_another_layout_is_not_taken() {
        let block = WarmBlock::new(index_layout(1_000).expect("a layout")).expect("memory");
        let address = block.ptr.as_ptr() as usize;
        let size = block.layout.size();
        let mut index = with_warm_block(block, || Index::with_capacity_in(50_000, IndexAlloc));
        let at = index.insert_unique(1, 1, |&p| u64::from(p)).get() as *const u32 as usize;
        assert!(!(address..address + size).contains(&at));
        assert_eq!(index_layout(0), None);
    }
}
