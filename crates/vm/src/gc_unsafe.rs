//! The audited module: the only `unsafe` code of lunette: manual `Collect` impls (here), the
//! buffers of big strings, initialized a piece at a time ([`PieceBuffer`]), the release of a
//! freed string's pages in pieces ([`release_pages_from`]), freed buffers of values kept only to
//! be given back in pieces ([`emptied_buffer`]), the interpreter's unchecked accesses
//! ([`unchecked`], with their soundness argument) and, beside the verified prototypes there,
//! a `load` chunk name's bytes shared as text with the prototypes (`shared_str`), the
//! allocator of tables' indexes, which hands a growing index memory faulted in ahead
//! ([`warm_index`]), and the helper threads' lower priority ([`lower_thread_priority`]).
//!
//! `Collect` is an unsafe trait because a `Gc` pointer that is not traced may be freed while
//! still held. The impls here trace every pointer they hold, strongly (but the interner's
//! chunks, which hold `GcWeak`s and trace them as such); they are manual only to report how
//! many value slots were traced (collector pacing, `gc::note_traced`), or weak pointers
//! visited (a slice's debt, `gc::credit_visits`). Weak tables and finalizers are decided by
//! the logical mark of a full collection (`gc::logical_collection`), never by the physical
//! collector, so no script value is traced weakly.

#![allow(unsafe_code)]

use gc_arena::collect::Trace;
use gc_arena::Collect;

use crate::gc::{note_traced, FinalizerList};
use crate::object::{Reference, References};
use crate::table::{Part, TableAux, TableSegment, TableState};

/// The buffer of a big string built in pieces (see `big_string`): allocated uninitialized
/// (the allocator's fresh pages are first touched by the piece that writes them, and a
/// reused block is not zeroed whole: `calloc` of a 16 MiB block from glibc's heap was a 2 ms
/// `memset` in one step), each piece's bytes zeroed just before it is written.
///
/// Invariant: `buf[..init]` is initialized.
pub(crate) struct PieceBuffer {
    buf: std::sync::Arc<[std::mem::MaybeUninit<u8>]>,
    init: usize,
}

impl PieceBuffer {
    /// A buffer of `len` bytes, none initialized.
    pub(crate) fn new(len: usize) -> Self {
        PieceBuffer {
            buf: std::sync::Arc::new_uninit_slice(len),
            init: 0,
        }
    }

    /// The buffer's first `upto` bytes (at most its length) to write, those not written
    /// before zeroed first; `None` if the buffer is shared (it never is before `finish`).
    pub(crate) fn prefix_mut(&mut self, upto: usize) -> Option<&mut [u8]> {
        let buf = std::sync::Arc::get_mut(&mut self.buf)?;
        let upto = upto.min(buf.len());
        if self.init < upto {
            buf[self.init..upto].fill(std::mem::MaybeUninit::new(0));
            self.init = upto;
        }
        let prefix: *mut [std::mem::MaybeUninit<u8>] = &mut buf[..upto];
        // SAFETY: `upto <= init` now, and `buf[..init]` is initialized (the invariant: it
        // was, and the bytes just added to it were written with zeros), so the prefix is
        // initialized bytes; `MaybeUninit<u8>` has the layout of `u8`; the borrow of `self`
        // keeps the slice exclusive (the `Arc` is not shared: `get_mut`).
        Some(unsafe { &mut *(prefix as *mut [u8]) })
    }

    /// The bytes, once all are initialized (`prefix_mut` reached the length); else the
    /// buffer back.
    pub(crate) fn finish(self) -> Result<std::sync::Arc<[u8]>, Self> {
        if self.init == self.buf.len() {
            // SAFETY: every byte is initialized (`buf[..init]`, the invariant, is all of it).
            Ok(unsafe { self.buf.assume_init() })
        } else {
            Err(self)
        }
    }
}

/// Gives the pages wholly inside `bytes[from..]` back to the kernel, at most `budget` bytes
/// of them (whole pages), at most `piece` bytes a call (Linux: `madvise(MADV_DONTNEED)`;
/// elsewhere nothing), before the buffer is freed, so its unmapping does not hold the
/// process's memory-map lock for the whole buffer at once (see `memory::RELEASED_PIECE`), and
/// a buffer can be given back over several steps. Returns where to go on from: the end of
/// the last page given back, or `bytes.len()` when none is left (a budget under a page
/// gives back nothing and returns `from`). The bytes' values afterwards are unspecified
/// (zero for the anonymous memory allocators use): the caller only frees the buffer.
#[cfg(target_os = "linux")]
pub(crate) fn release_pages_from(
    bytes: &mut [u8],
    from: usize,
    budget: usize,
    piece: usize,
) -> usize {
    static PAGE: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    // SAFETY: `sysconf` only reads a system constant.
    let page = *PAGE.get_or_init(|| match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        n if n > 0 && (n as usize).is_power_of_two() => n as usize,
        _ => 0,
    });
    let len = bytes.len();
    if page == 0 || from >= len {
        return len;
    }
    let piece = piece.max(page) & !(page - 1);
    let start = bytes.as_mut_ptr();
    let address = start as usize;
    // (Offsets from `start`: `first` and `end` are the whole pages' bounds.)
    let first = (address + from).next_multiple_of(page) - address;
    let end = ((address + len) & !(page - 1)).saturating_sub(address);
    if first >= end {
        return len;
    }
    let stop = first.saturating_add(budget & !(page - 1)).min(end);
    let mut offset = first;
    while offset < stop {
        let n = piece.min(stop - offset);
        // SAFETY: `[offset, offset + n)` is inside `bytes` (`offset >= first >= from >= 0`,
        // `offset + n <= stop <= end <= len`), page-aligned at both ends (as `madvise`
        // requires, so it touches no page outside the range), and `bytes` is borrowed
        // exclusively: no other reference reads it meanwhile. Releasing pages of a live
        // allocation only changes the values of those bytes (they read as zeros, or as a
        // file mapping's contents), as a write through `bytes` would: an allocator keeps no
        // metadata inside an allocation it handed out (its headers lie outside the buffer's
        // bytes, which the whole-page range never reaches). A failure leaves the pages as
        // they were.
        unsafe {
            libc::madvise(start.add(offset).cast(), n, libc::MADV_DONTNEED);
        }
        offset += n;
    }
    if stop >= end {
        len
    } else if stop == first {
        from
    } else {
        stop
    }
}

/// Lowers the calling thread's scheduling priority to `nice` (Linux: `setpriority` of the
/// thread, whose nice value is its own; elsewhere nothing). For the VM's helper threads
/// (compile jobs, the reaper): on a machine with as many busy threads as cores, a VM
/// thread that slept a few microseconds (waiting for a compile job) waited up to a whole
/// scheduler slice (4 ms) to run again behind helpers of equal priority.
#[cfg(target_os = "linux")]
pub(crate) fn lower_thread_priority(nice: i32) {
    // SAFETY: `gettid` has no preconditions; `setpriority` only changes the scheduling
    // priority of the calling thread (its id), which no memory depends on. A failure (not
    // permitted) leaves the priority as it was.
    unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, nice);
    }
}

/// [`lower_thread_priority`] where threads' priorities are not set: nothing to do.
#[cfg(not(target_os = "linux"))]
pub(crate) fn lower_thread_priority(_nice: i32) {}

/// [`release_pages_from`] where the platform has no way to release pages: nothing to do.
#[cfg(not(target_os = "linux"))]
pub(crate) fn release_pages_from(
    bytes: &mut [u8],
    _from: usize,
    _budget: usize,
    _piece: usize,
) -> usize {
    bytes.len()
}

/// The allocation of a freed buffer of values (`Value`s, or key-value pairs), kept only to
/// be given back to the allocator, in pieces ([`crate::memory::free_slots_later`]): its
/// element type is forgotten and it holds no element (length 0), so nothing it held is
/// ever read again. Its capacity counts 16-byte slots.
pub(crate) fn emptied_buffer<T: Copy>(v: Vec<T>) -> Vec<[u64; 2]> {
    const {
        assert!(std::mem::size_of::<T>().is_multiple_of(16) && std::mem::align_of::<T>() == 8);
    }
    let mut v = std::mem::ManuallyDrop::new(v);
    let slots = v.capacity() * (std::mem::size_of::<T>() / 16);
    let ptr = v.as_mut_ptr().cast::<[u64; 2]>();
    // SAFETY: `ptr` was allocated by the global allocator (`Vec<T>`) with the layout of
    // `capacity` `T`s: `capacity * size_of::<T>()` bytes aligned to 8, which is exactly the
    // layout of `slots` `[u64; 2]`s (16 bytes each, aligned to 8), as `from_raw_parts`
    // requires for the allocation to be freed or resized later (for a capacity of 0,
    // `ptr` is `Vec`'s dangling pointer, aligned to 8, and nothing is freed). Length 0: no
    // element needs to be valid. The `T`s are `Copy` (no destructor is skipped), and the
    // original `Vec` is not dropped (`ManuallyDrop`), so the allocation has one owner.
    unsafe { Vec::from_raw_parts(ptr, 0, slots) }
}

// SAFETY: every `Gc` held by a `TableState` is traced: the metatable, the segments, and the
// array's values and the entries' keys and values: those this state traces itself
// (`self_traced`: all of them for a state without segments, such as the journal's copies;
// otherwise the heads and whatever lies past the last segment), the others by the segments
// (below), which the trace here reaches. A store of a collectable value into a slot or an
// entry past a head makes its segment gray again (`TableState::slot_barrier`,
// `entry_barrier`; so does a restore for all of them: the invariants of
// `table::segments`), so a segment traced before the store is traced again.
// The destructuring names every field (of the state and of its `TableAux`), so a new field
// does not compile until it is traced here or declared pointer-free.
unsafe impl<'gc> Collect<'gc> for TableState<'gc> {
    fn trace<T: Trace<'gc>>(&self, cc: &mut T) {
        let TableState {
            array: _,   // through `self_traced`
            entries: _, // through `self_traced`
            aux,
            tombstones: _,
            metatable,
            flags: _,
            charge: _,
        } = self;
        let (segments, entry_segments) = aux.as_deref().map_or((&[][..], &[][..]), |aux| {
            let TableAux {
                index: _,
                growth: _,
                next_index: _,
                free: _,
                segments,
                entry_segments,
            } = aux;
            (&segments[..], &entry_segments[..])
        });
        let (arrays, entries) = self.self_traced();
        note_traced(
            arrays.iter().map(|a| a.len()).sum::<usize>()
                + entries.iter().map(|e| 2 * e.len()).sum::<usize>()
                + segments.len()
                + entry_segments.len(),
        );
        for v in arrays.into_iter().flatten() {
            cc.trace(v);
        }
        for (k, v) in entries.into_iter().flatten() {
            cc.trace(k);
            cc.trace(v);
        }
        cc.trace(metatable);
        for s in segments.iter().chain(entry_segments) {
            cc.trace(s);
        }
    }
}

// SAFETY: a segment holds one `Gc`, its table, traced; it also traces the array slots or
// the entries of the table it covers (`TableSegment::positions`), which the table's own
// trace leaves to it (see `TableState`'s impl above). The table's state is borrowed for
// that: the collector runs outside mutations, when no borrow of it is held (gc-arena's
// `RefLock` trace assumes the same).
unsafe impl<'gc> Collect<'gc> for TableSegment<'gc> {
    fn trace<T: Trace<'gc>>(&self, cc: &mut T) {
        cc.trace(&self.table);
        let st = self.table.state.borrow();
        match self.part {
            Part::Array => {
                let slots = st.array.get(self.positions(st.array.len())).unwrap_or(&[]);
                note_traced(slots.len());
                crate::gc::note_slice_slots(slots.len());
                for v in slots {
                    cc.trace(v);
                }
            }
            Part::Entries => {
                let entries = st
                    .entries
                    .get(self.positions(st.entries.len()))
                    .unwrap_or(&[]);
                note_traced(2 * entries.len());
                crate::gc::note_slice_slots(2 * entries.len());
                for (k, v) in entries {
                    cc.trace(k);
                    cc.trace(v);
                }
            }
        }
    }
}

// SAFETY: every slot of the chunk is traced (its weak pointer, by the derived `Collect` of
// `Slot`), as the derived impl of the `Vec` did; it also pays for the visits from the
// running slice's debt (`gc::credit_visits`).
unsafe impl<'gc> Collect<'gc> for crate::string::ChunkSlots<'gc> {
    fn trace<T: Trace<'gc>>(&self, cc: &mut T) {
        crate::gc::credit_visits(self.0.len());
        for slot in &self.0 {
            cc.trace(slot);
        }
    }
}

// SAFETY: every `Gc` held by a `ThreadState` is traced, here or by its frame segments: the
// references `References` for `ThreadState` lists (its impl destructures every field, so a
// new field does not compile until it is listed or declared pointer-free): stack values,
// frames (their closures and continuations, with their states, handlers, resumable states
// and delivered errors), open upvalues, the body, the death error and the pending
// continuation, in the same pieces (`references_beside_stack` is the rest).
//
// It reports the slots it traced to the pacing: a deep thread is one object to gc-arena's
// pacing, so without the count the collector ran a cycle every few hundred allocations and
// each one traced the whole stack again (a 30 MiB stack: half of every step of a deep
// recursion).
//
// The frames and the values below the frame stack's and the value stack's watermarks are
// left to the segments (see `frame_stack`, whose invariants make that sound): the thread
// traces the frames and the values from the watermarks (or the end of what the segments
// cover, if they cover less) up, and the segments' pointers, so every segment is traced in
// each cycle that reaches the thread.
unsafe impl<'gc> Collect<'gc> for crate::thread::ThreadState<'gc> {
    fn trace<T: Trace<'gc>>(&self, cc: &mut T) {
        let (frames, segments) = self.frames.traced_by_thread();
        let slots = self.frames.slots_traced_by_thread(&self.stack);
        // A frame holds a few values (a closure, or a continuation's state and handler).
        note_traced(slots.len() + 4 * frames.len());
        let mut trace = |r| trace_reference(cc, r);
        for v in slots {
            trace(Reference::Value(*v));
        }
        for f in frames {
            f.references(&mut trace);
        }
        self.references_beside_stack(&mut trace);
        for s in segments {
            cc.trace(s);
        }
    }
}

// SAFETY: a segment holds one `Gc`, its thread, traced; it also traces the references of
// the frames and the values it covers below the watermarks (`FrameStack::traced_by_segment`,
// `frame_stack::slots_traced_by_segment`), which the thread's trace leaves to it (see
// `ThreadState`'s impl above and `frame_stack`). The thread's state is borrowed for that:
// the collector runs outside mutations, when no borrow of it is held (as for
// `TableSegment`). It pays for the frames it reads from the running slice's debt
// (`gc::credit_visits`: a frame is 120 bytes read, about what a weak pointer's visit
// costs), so a slice that meets many segments stops sooner, and counts its values towards
// the slice's cap of slots (`gc::note_slice_slots`, as a table's segment does).
unsafe impl<'gc> Collect<'gc> for crate::frame_stack::FrameSegment<'gc> {
    fn trace<T: Trace<'gc>>(&self, cc: &mut T) {
        cc.trace(&self.thread);
        let st = self.thread.0.state.borrow();
        let frames = st.frames.traced_by_segment(self.index);
        let slots = crate::frame_stack::slots_traced_by_segment(&st.stack, self.index);
        note_traced(slots.len() + 4 * frames.len());
        crate::gc::credit_visits(frames.len());
        crate::gc::note_slice_slots(slots.len());
        for v in slots {
            cc.trace(v);
        }
        for f in frames {
            f.references(&mut |r| trace_reference(cc, r));
        }
    }
}

/// Traces one reference a `References` impl listed (strongly, by its `Gc`'s own `Collect`).
#[inline(always)]
fn trace_reference<'gc, T: Trace<'gc>>(cc: &mut T, r: Reference<'gc>) {
    match r {
        Reference::Value(v) => cc.trace(&v),
        Reference::UpValue(u) => cc.trace(&u),
        Reference::Proto(p) => cc.trace(&p),
        Reference::Executor(e) => cc.trace(&e),
        Reference::Resumable(r) => cc.trace(&r),
    }
}

// SAFETY: every value of the list is traced.
unsafe impl<'gc> Collect<'gc> for FinalizerList<'gc> {
    fn trace<T: Trace<'gc>>(&self, cc: &mut T) {
        for v in &self.0 {
            cc.trace(v);
        }
    }
}

// SAFETY: `gc_arena::dyn_collect!` implements `Collect` for the trait object by calling
// `DynCollect::dyn_trace`, which gc-arena implements (only, by a blanket impl) for types that
// implement `Collect`, with their own `trace`: a resumable state is traced exactly as its
// `Collect` impl (a derive, in safe code) says. Nothing here depends on `ResumableState::write`.
gc_arena::collect::dyn_collect!(dyn crate::resumable::ResumableState<'gc>);

pub(crate) mod unchecked;
pub(crate) mod warm_index;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_piece_buffer_is_finished_only_once_every_byte_was_handed_out() {
        let mut buf = PieceBuffer::new(10);
        let first = buf.prefix_mut(4).expect("not shared");
        assert_eq!(first, &[0; 4]);
        first.copy_from_slice(b"abcd");
        let buf = buf.finish().expect_err("six bytes never initialized");
        let mut buf = buf;
        // (Past the length: clamped.)
        let all = buf.prefix_mut(100).expect("not shared");
        assert_eq!(all, b"abcd\0\0\0\0\0\0");
        all[4..].copy_from_slice(b"efghij");
        let bytes = buf.finish().ok().expect("all initialized");
        assert_eq!(&bytes[..], b"abcdefghij");
        assert_eq!(&PieceBuffer::new(0).finish().ok().expect("empty")[..], b"");
    }

    #[test]
    fn released_pages_leave_the_buffer_usable_and_its_edges_untouched() {
        let len = (3 << 20) + 100;
        let mut bytes = vec![7u8; len];
        let inner = len - 2;
        assert_eq!(
            release_pages_from(&mut bytes[1..len - 1], 0, usize::MAX, 1 << 20),
            inner
        );
        // (Whatever the pages read now, the edge bytes were not in a whole page released.)
        assert_eq!((bytes[0], bytes[len - 1]), (7, 7));
        // In parts: each call goes on where the last one stopped, at a page's end, until
        // the end; a budget under a page does nothing.
        bytes.fill(7);
        let mut at = 0;
        let mut calls = 0;
        while at < inner {
            let next = release_pages_from(&mut bytes[1..len - 1], at, 1 << 20, 64 << 10);
            assert!(next > at && next - at <= (1 << 20) + 4096, "{at} -> {next}");
            assert_eq!(
                release_pages_from(&mut bytes[1..len - 1], next, 100, 64 << 10),
                next.min(inner)
            );
            at = next;
            calls += 1;
        }
        assert!((3..=5).contains(&calls), "{calls}");
        assert_eq!((bytes[0], bytes[len - 1]), (7, 7));
        bytes.fill(1);
        assert!(bytes.iter().all(|&b| b == 1));
    }
}
