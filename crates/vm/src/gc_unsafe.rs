//! The audited module: the only `unsafe` code of lunette: manual `Collect` impls (here), the
//! zeroed buffers of big strings ([`zeroed_bytes`]), freed buffers of values kept only to be
//! given back in pieces ([`emptied_buffer`]), the interpreter's unchecked accesses
//! ([`unchecked`], with their soundness argument) and, beside the verified prototypes there,
//! a `load` chunk name's bytes shared as text with the prototypes (`shared_str`), and the
//! allocator of tables' indexes, which hands a growing index memory faulted in ahead
//! ([`warm_index`]).
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

/// `len` zero bytes, allocated zeroed: the allocator maps fresh memory for a big buffer and
/// skips writing it, so its pages are first touched by whoever fills them (the string
/// builder, piece by piece across steps: see `big_string`).
pub(crate) fn zeroed_bytes(len: usize) -> std::sync::Arc<[u8]> {
    let zeroed = std::sync::Arc::<[u8]>::new_zeroed_slice(len);
    // SAFETY: every byte is initialized (to zero by `new_zeroed_slice`), and zero is a valid
    // `u8`.
    unsafe { zeroed.assume_init() }
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
// The frames below the frame stack's watermark are left to its segments (see
// `frame_stack`, whose invariants make that sound): the thread traces the frames from the
// watermark (or the end of the segments, if they cover less) up, and the segments'
// pointers, so every segment is traced in each cycle that reaches the thread.
unsafe impl<'gc> Collect<'gc> for crate::thread::ThreadState<'gc> {
    fn trace<T: Trace<'gc>>(&self, cc: &mut T) {
        let (frames, segments) = self.frames.traced_by_thread();
        // A frame holds a few values (a closure, or a continuation's state and handler).
        note_traced(self.stack.len() + 4 * frames.len());
        crate::gc::note_slice_slots(self.stack.len());
        let mut trace = |r| trace_reference(cc, r);
        self.stack.references(&mut trace);
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
// the frames it covers below the watermark (`FrameStack::traced_by_segment`), which the
// thread's trace leaves to it (see `ThreadState`'s impl above and `frame_stack`). The
// thread's state is borrowed for that: the collector runs outside mutations, when no borrow
// of it is held (as for `TableSegment`). It pays for the frames it reads from the running
// slice's debt (`gc::credit_visits`: a frame is 120 bytes read, about what a weak pointer's
// visit costs), so a slice that meets many segments stops sooner.
unsafe impl<'gc> Collect<'gc> for crate::frame_stack::FrameSegment<'gc> {
    fn trace<T: Trace<'gc>>(&self, cc: &mut T) {
        cc.trace(&self.thread);
        let st = self.thread.0.state.borrow();
        let frames = st.frames.traced_by_segment(self.index);
        note_traced(4 * frames.len());
        crate::gc::credit_visits(frames.len());
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
