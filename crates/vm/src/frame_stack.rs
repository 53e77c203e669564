//! A thread's frame stack and value stack, traced in segments below watermarks.
//!
//! gc-arena traces an object whole, and a thread is written at every step it runs (its stack
//! and frames), so while the collector marks, the running thread is traced again after each
//! step, and once more at the mark's end. A runaway recursion leaves 200,000 frames (24 MiB
//! of them) and up to a million values (16 MiB): a trace of the thread read them all, 4-5
//! ms in one collector slice, once per cycle at least, and the values alone 1-2 ms in every
//! slice while the collector marked (xpcall_recursive_handler.lua,
//! index_function_recursion_pcall.lua). The frames and values deep down do not change while
//! the recursion goes on, so they are *sealed*: the frames below a watermark
//! (`FrameStack::sealed`) and the values below another (`ValueStack::sealed`) are traced by
//! *segments*, small collector objects of their own ([`FrameSegment`]). Segment `i` traces
//! a stretch of [`FRAME_SEGMENT`] frames and one of [`VALUE_SEGMENT`] values (reading them
//! through the thread), pays for the frames from the running slice's debt
//! (`gc::credit_visits`) and counts the values towards the slice's cap
//! (`gc::note_slice_slots`), so a slice traces a bounded number of them; the thread's own
//! trace covers the frames and the values from the watermarks up (or from the end of what
//! the segments cover, if less).
//!
//! Invariants (what makes a sealed frame's or value's references traced in every collection
//! cycle, stated for `gc_unsafe`'s `Collect` impls of `ThreadState` and `FrameSegment`):
//! - No frame or value below its watermark is changed. Frames: the watermark is never above
//!   the top frame (every raise stops below it, every pop or truncation lowers it to the new
//!   top), so `push` and `last_mut` change only frames above it, and the other ways to
//!   change a frame (`get_mut`, `iter_mut`) first lower it to the frame's position. Values:
//!   the watermark is never above the length (every raise stops at the lowest slot of the
//!   unsealed frames' regions, every shrink lowers it to the new length), `push`,
//!   `extend_from_slice` and `grow_nil_filled` write at the length, and every other change
//!   (indexing to write, `get_mut`, `insert`, `remove`, `drain`, `copy_within`,
//!   truncations) first lowers it to the first slot it may write, wherever that is (an open
//!   upvalue's slot in a deep frame, `debug.setlocal`'s). The exceptions are the
//!   interpreter's register windows and frame sizing on its call and return fast paths
//!   (`above_mut`, `truncate_above`: a check at each of their writes, 5-7 a call and
//!   return, cost 7-9% on call-heavy code): they write only at or above a floor that the interpreter keeps at or
//!   above the watermark by lowering it once per frame entry and return (invariant **W**,
//!   argued in `gc_unsafe::unchecked` and asserted at every use in debug builds). The
//!   frames and the values are private to this module, and only these methods hand out
//!   `&mut` access to them (`ValueStack` has no `DerefMut`).
//! - A watermark is only lowered by those methods, which run inside a mutation holding the
//!   thread's state borrowed mutably (so gc-arena's write barrier has made the thread gray:
//!   its next trace covers what is above the lowered watermark). It is raised only after a
//!   run of the thread's frames (`FrameStack::after_run`, in the same kind of mutation),
//!   over frames or values that existing segments cover, each of those segments made gray
//!   again first (gc-arena's `backward_barrier`: a segment already traced in the cycle
//!   under way traces again, and takes in what it now covers).
//! - Segment `i` traces frames `FRAME_SEGMENT * i .. FRAME_SEGMENT * (i + 1)` and values
//!   `VALUE_SEGMENT * i .. VALUE_SEGMENT * (i + 1)` that are below their watermarks when it
//!   is traced; the thread traces the segments' pointers, so each is traced once in every
//!   cycle in which the thread is reached. Segments are made as the frames and values grow
//!   (`FrameStack::after_run`), white, under the thread's barrier, never removed while
//!   their thread lives; a state saved by the journal has none, and one put back by a
//!   rollback none and nothing sealed (its thread's trace covers all of it).
//!
//! So a frame or a value is traced, in every cycle, after its last change: by the thread
//! (which is traced after every mutation and covers whatever is above the watermarks), or,
//! when it has been below its watermark since its last change and a raise over it, by its
//! segment, made gray by that raise. (Tested by `tests/gc_bounded.rs`: tables stored through
//! open upvalues and `debug.setlocal` into frames thousands of calls down survive cycles.)
//!
//! Segments are not in the memory account: 40 bytes per 1,024 frames (120 KiB) or 4,096
//! values (64 KiB), made at points the host's step sizes decide; the account counts the
//! buffers.

use gc_arena::{Gc, Mutation};

use crate::thread::{Frame, Thread};
use crate::value::Value;

/// Frames each segment traces.
pub(crate) const FRAME_SEGMENT: usize = 1024;

/// Frames left above the watermark when `after_run` raises it: the frames a running thread
/// changes at every call and return, which would otherwise lower it at once.
const UNSEALED_TOP: usize = 16;

/// A thread's frames (see the module docs). Reads go through `Deref` to the slice; changes
/// through the methods below, which keep the watermark's invariant.
pub struct FrameStack<'gc> {
    frames: Vec<Frame<'gc>>,
    /// The watermark: frames below it are traced by the segments (those that exist), not
    /// by the thread.
    sealed: usize,
    segments: Vec<Gc<'gc, FrameSegment<'gc>>>,
}

/// Traces a stretch of its thread's sealed frames (see the module docs).
pub struct FrameSegment<'gc> {
    pub(crate) thread: Thread<'gc>,
    pub(crate) index: usize,
}

impl<'gc> std::ops::Deref for FrameStack<'gc> {
    type Target = [Frame<'gc>];

    #[inline(always)]
    fn deref(&self) -> &[Frame<'gc>] {
        &self.frames
    }
}

impl<'gc> FrameStack<'gc> {
    pub(crate) fn new() -> Self {
        FrameStack::from_vec(Vec::new())
    }

    /// Frames put back from an image or a journal's copy: nothing sealed, no segments.
    pub(crate) fn from_vec(frames: Vec<Frame<'gc>>) -> Self {
        FrameStack {
            frames,
            sealed: 0,
            segments: Vec::new(),
        }
    }

    /// A copy of the frames with the buffer's capacity (the journal's saved state): nothing
    /// sealed, no segments, so its trace covers every frame.
    pub(crate) fn copy_exact(&self) -> Self {
        FrameStack::from_vec(crate::journal::copy_exact(
            &self.frames,
            self.frames.capacity(),
        ))
    }

    #[inline(always)]
    pub(crate) fn capacity(&self) -> usize {
        self.frames.capacity()
    }

    /// The buffer (its capacity, for `shrunk_capacity`).
    pub(crate) fn buffer(&self) -> &Vec<Frame<'gc>> {
        &self.frames
    }

    /// Lowers the watermark to `i`: frame `i` is about to change.
    #[inline(always)]
    fn unseal(&mut self, i: usize) {
        if i < self.sealed {
            self.sealed = i;
        }
    }

    /// (The new frame goes on top, above the watermark: see `top_is_unsealed`.)
    #[inline(always)]
    pub(crate) fn push(&mut self, frame: Frame<'gc>) {
        #[cfg(debug_assertions)]
        debug_assert!(self.top_is_unsealed());
        self.frames.push(frame);
    }

    #[inline(always)]
    pub(crate) fn pop(&mut self) -> Option<Frame<'gc>> {
        let f = self.frames.pop();
        if self.frames.len() <= self.sealed {
            self.unseal_top();
        }
        f
    }

    #[inline(always)]
    pub(crate) fn truncate(&mut self, len: usize) {
        self.frames.truncate(len);
        if self.frames.len() <= self.sealed {
            self.unseal_top();
        }
    }

    /// Lowers the watermark to the top frame (after a pop or truncation reached it).
    #[cold]
    #[inline(never)]
    fn unseal_top(&mut self) {
        self.unseal(self.frames.len().saturating_sub(1));
    }

    pub(crate) fn clear(&mut self) {
        self.truncate(0);
    }

    /// (The top frame is above the watermark: see `top_is_unsealed`.)
    #[inline(always)]
    pub(crate) fn last_mut(&mut self) -> Option<&mut Frame<'gc>> {
        #[cfg(debug_assertions)]
        debug_assert!(self.top_is_unsealed());
        self.frames.last_mut()
    }

    #[inline(always)]
    pub(crate) fn get_mut(&mut self, i: usize) -> Option<&mut Frame<'gc>> {
        self.unseal(i);
        self.frames.get_mut(i)
    }

    pub(crate) fn iter_mut(&mut self) -> std::slice::IterMut<'_, Frame<'gc>> {
        self.unseal(0);
        self.frames.iter_mut()
    }

    /// The watermark is never above the top frame (nor above the frames' length): every
    /// raise stops `UNSEALED_TOP` frames below the top, and every pop or truncation lowers
    /// it to the new top at least. So `push` and `last_mut`, which change the frames at and
    /// above the top only (the call and return paths), need not look at it.
    #[cfg(debug_assertions)]
    fn top_is_unsealed(&self) -> bool {
        self.sealed < self.frames.len().max(1)
    }

    pub(crate) fn reserve_exact(&mut self, additional: usize) {
        self.frames.reserve_exact(additional);
    }

    pub(crate) fn shrink_to(&mut self, capacity: usize) {
        self.frames.shrink_to(capacity);
    }

    /// Frames that may be sealed: all but the top `UNSEALED_TOP` (sealed or not: a segment
    /// traces only what is below the watermark when it is traced).
    #[inline(always)]
    fn frames_sealable(&self) -> usize {
        self.frames.len().saturating_sub(UNSEALED_TOP)
    }

    /// Slots of `stack` that may be sealed: those below every slot the unsealed frames'
    /// regions start at (the top frames' registers and results change at every call and
    /// return). Only a matter of speed: a change below the watermark lowers it first.
    fn slots_sealable(&self, stack: &ValueStack<'gc>) -> usize {
        let top = &self.frames[self.frames_sealable().min(self.frames.len())..];
        top.iter()
            .map(|f| match f {
                Frame::Lua(f) => f.func.min(f.base),
                Frame::Continuation { base, .. } => *base,
            })
            .min()
            .unwrap_or(0)
            .min(stack.len())
    }

    /// Segments the frames and the stack call for.
    fn segments_wanted(&self, stack: &ValueStack<'gc>) -> usize {
        (self.frames_sealable() / FRAME_SEGMENT).max(self.slots_sealable(stack) / VALUE_SEGMENT)
    }

    /// Whether `after_run` has work to do.
    #[inline(always)]
    pub(crate) fn wants_sealing(&self, stack: &ValueStack<'gc>) -> bool {
        // (Most threads are shallow: two comparisons.)
        (self.frames.len() >= FRAME_SEGMENT + UNSEALED_TOP || stack.len() >= VALUE_SEGMENT)
            && self.wants_sealing_deep(stack)
    }

    fn wants_sealing_deep(&self, stack: &ValueStack<'gc>) -> bool {
        let segments = self.segments.len();
        let (frames, slots) = (self.frames_sealable(), self.slots_sealable(stack));
        (frames / FRAME_SEGMENT).max(slots / VALUE_SEGMENT) > segments
            || frames.min(segments * FRAME_SEGMENT) > self.sealed
            || slots.min(segments * VALUE_SEGMENT) > stack.sealed
    }

    /// After a run of `thread`'s frames (whose state this is, borrowed mutably, so the
    /// thread is gray and the new segments' pointers are written under its barrier; `stack`
    /// is the same state's value stack): makes the segments the frames and the stack call
    /// for (at most `max`), so a thread that stops deep down (a coroutine yielding from a
    /// recursion) has them when it is not running; then raises the watermarks over the
    /// frames and slots pushed since, as far as segments cover, making the segments that
    /// take them over gray again (`backward_barrier`), so each traces them in this cycle:
    /// without that, a recursion regrown after an unwinding was traced whole by the first
    /// trace of the thread that came after (4-6 ms, in xpcall_recursive_handler.lua).
    pub(crate) fn after_run(
        &mut self,
        stack: &mut ValueStack<'gc>,
        mc: &Mutation<'gc>,
        thread: Thread<'gc>,
        max: usize,
    ) {
        let want = self.segments_wanted(stack);
        for _ in 0..want.saturating_sub(self.segments.len()).min(max) {
            let index = self.segments.len();
            self.segments
                .push(Gc::new(mc, FrameSegment { thread, index }));
        }
        let segments = self.segments.len();
        let (from, to) = (
            self.sealed,
            self.frames_sealable().min(segments * FRAME_SEGMENT),
        );
        if to > from {
            for s in &self.segments[from / FRAME_SEGMENT..to.div_ceil(FRAME_SEGMENT)] {
                mc.backward_barrier(Gc::erase(*s), None);
            }
            self.sealed = to;
        }
        let (from, to) = (
            stack.sealed,
            self.slots_sealable(stack).min(segments * VALUE_SEGMENT),
        );
        if to > from {
            for s in &self.segments[from / VALUE_SEGMENT..to.div_ceil(VALUE_SEGMENT)] {
                mc.backward_barrier(Gc::erase(*s), None);
            }
            stack.sealed = to;
        }
    }

    /// Lowers the watermark to the bottom (a state put back by a rollback: its frames were
    /// traced as a saved copy's, which says nothing of the segments' cycle).
    pub(crate) fn unseal_all(&mut self) {
        self.sealed = 0;
    }

    /// For the thread's trace (`gc_unsafe`): the frames it traces itself (from the
    /// watermark, or the end of the segments, if they cover less, up), and the segments.
    #[inline]
    pub(crate) fn traced_by_thread(&self) -> (&[Frame<'gc>], &[Gc<'gc, FrameSegment<'gc>>]) {
        let from = self
            .sealed
            .min(self.segments.len() * FRAME_SEGMENT)
            .min(self.frames.len());
        (&self.frames[from..], &self.segments)
    }

    /// For the thread's trace: the slots of `stack` (its state's) it traces itself, likewise.
    #[inline]
    pub(crate) fn slots_traced_by_thread<'s>(
        &self,
        stack: &'s ValueStack<'gc>,
    ) -> &'s [Value<'gc>] {
        let from = stack
            .sealed
            .min(self.segments.len() * VALUE_SEGMENT)
            .min(stack.len());
        &stack[from..]
    }

    /// For segment `index`'s trace: its frames below the watermark.
    #[inline]
    pub(crate) fn traced_by_segment(&self, index: usize) -> &[Frame<'gc>] {
        let start = index.saturating_mul(FRAME_SEGMENT);
        let end = start
            .saturating_add(FRAME_SEGMENT)
            .min(self.sealed)
            .min(self.frames.len());
        self.frames.get(start..end).unwrap_or(&[])
    }
}

/// For segment `index`'s trace: its slots of `stack` below the stack's watermark.
#[inline]
pub(crate) fn slots_traced_by_segment<'s, 'gc>(
    stack: &'s ValueStack<'gc>,
    index: usize,
) -> &'s [Value<'gc>] {
    let start = index.saturating_mul(VALUE_SEGMENT);
    let end = start
        .saturating_add(VALUE_SEGMENT)
        .min(stack.sealed)
        .min(stack.len());
    stack.get(start..end).unwrap_or(&[])
}

/// Slots of the value stack each segment traces (segment `i`: slots `VALUE_SEGMENT * i ..
/// VALUE_SEGMENT * (i + 1)` below the stack's watermark), beside its frames: a deep
/// recursion keeps about four slots a frame (16 KiB of values and 120 KiB of frames a
/// segment).
pub(crate) const VALUE_SEGMENT: usize = 4096;

/// A thread's value stack, sealed below a watermark like the frames (see the module docs).
/// Reads go through `Deref` to the slice; every change goes through the methods below,
/// which lower the watermark to the first slot they may change before changing it (so
/// there is no `DerefMut`).
pub struct ValueStack<'gc> {
    values: Vec<Value<'gc>>,
    /// The watermark: slots below it are traced by the segments (those that exist), not by
    /// the thread. Never above `values.len()`.
    sealed: usize,
}

impl<'gc> std::ops::Deref for ValueStack<'gc> {
    type Target = [Value<'gc>];

    #[inline(always)]
    fn deref(&self) -> &[Value<'gc>] {
        &self.values
    }
}

impl Default for ValueStack<'_> {
    fn default() -> Self {
        ValueStack::new()
    }
}

impl<'gc> ValueStack<'gc> {
    pub(crate) fn new() -> Self {
        ValueStack::from_vec(Vec::new())
    }

    /// Values put back from an image or a journal's copy: nothing sealed.
    pub(crate) fn from_vec(values: Vec<Value<'gc>>) -> Self {
        ValueStack { values, sealed: 0 }
    }

    /// A copy of the values with the buffer's capacity (the journal's saved state): nothing
    /// sealed, so its trace covers every slot.
    pub(crate) fn copy_exact(&self) -> Self {
        ValueStack::from_vec(crate::journal::copy_exact(
            &self.values,
            self.values.capacity(),
        ))
    }

    /// The buffer (its capacity, for `shrunk_capacity`).
    pub(crate) fn buffer(&self) -> &Vec<Value<'gc>> {
        &self.values
    }

    #[inline(always)]
    pub(crate) fn capacity(&self) -> usize {
        self.values.capacity()
    }

    /// Lowers the watermark to `floor`: slot `floor` and those above it may change (and
    /// writes there need no further check: the interpreter's invariant **W**,
    /// `gc_unsafe::unchecked`).
    #[inline(always)]
    pub(crate) fn unseal_to(&mut self, floor: usize) {
        if floor < self.sealed {
            self.unseal_cold(floor);
        }
    }

    #[cold]
    #[inline(never)]
    fn unseal_cold(&mut self, i: usize) {
        self.sealed = i;
    }

    /// The watermark (for `gc_unsafe::unchecked`'s debug checks of **W**).
    #[inline(always)]
    pub(crate) fn watermark(&self) -> usize {
        self.sealed
    }

    /// All the slots, to write at and above `floor` only. Precondition (the interpreter's
    /// invariant **W**, `gc_unsafe::unchecked`, the only caller): `floor` is at or above the
    /// watermark (checked in debug builds), and nothing below `floor` is written through
    /// the slice (`unchecked::window` hands out `[floor..]` only).
    #[inline(always)]
    pub(crate) fn above_mut(&mut self, floor: usize) -> &mut [Value<'gc>] {
        debug_assert!(
            floor >= self.sealed,
            "W: {floor} below the watermark {}",
            self.sealed
        );
        &mut self.values
    }

    /// `truncate(len)` for the interpreter's frame sizing. Precondition **W** (as for
    /// `above_mut`): `len` is at or above the watermark (checked in debug builds), so the
    /// watermark stays at or below the length.
    #[inline(always)]
    pub(crate) fn truncate_above(&mut self, len: usize) {
        debug_assert!(
            len >= self.sealed,
            "W: {len} below the watermark {}",
            self.sealed
        );
        self.values.truncate(len);
    }

    /// Slot `i`, to change, if it exists.
    #[inline(always)]
    pub(crate) fn get_mut(&mut self, i: usize) -> Option<&mut Value<'gc>> {
        self.unseal_to(i);
        self.values.get_mut(i)
    }

    #[inline(always)]
    pub(crate) fn push(&mut self, v: Value<'gc>) {
        // (At `len`, which is at or above the watermark.)
        self.values.push(v);
    }

    #[inline(always)]
    pub(crate) fn truncate(&mut self, len: usize) {
        self.unseal_to(len);
        self.values.truncate(len);
    }

    pub(crate) fn clear(&mut self) {
        self.truncate(0);
    }

    /// Sets the length to `len`, new slots holding `v`.
    #[inline(always)]
    pub(crate) fn resize(&mut self, len: usize, v: Value<'gc>) {
        self.unseal_to(len);
        self.values.resize(len, v);
    }

    /// Grows the stack to `len` slots (if shorter), the new ones nil: writes only at and
    /// above the length, which is at or above the watermark, so nothing to check.
    #[inline(always)]
    pub(crate) fn grow_nil_filled(&mut self, len: usize) {
        if len > self.values.len() {
            self.values.resize(len, Value::Nil);
        }
    }

    pub(crate) fn extend_from_slice(&mut self, values: &[Value<'gc>]) {
        self.values.extend_from_slice(values);
    }

    pub(crate) fn insert(&mut self, i: usize, v: Value<'gc>) {
        self.unseal_to(i);
        self.values.insert(i, v);
    }

    pub(crate) fn remove(&mut self, i: usize) -> Value<'gc> {
        self.unseal_to(i);
        self.values.remove(i)
    }

    /// Removes the slots of `range` (those above move down).
    pub(crate) fn drain(&mut self, range: std::ops::Range<usize>) {
        self.unseal_to(range.start);
        self.values.drain(range);
    }

    /// Copies the slots of `src` to `dest` (`copy_within` of slices).
    pub(crate) fn copy_within(&mut self, src: impl std::ops::RangeBounds<usize>, dest: usize) {
        self.unseal_to(dest);
        self.values.copy_within(src, dest);
    }

    pub(crate) fn reserve_exact(&mut self, additional: usize) {
        self.values.reserve_exact(additional);
    }

    pub(crate) fn shrink_to(&mut self, capacity: usize) {
        self.values.shrink_to(capacity);
    }

    /// Lowers the watermark to the bottom (a state put back by a rollback).
    pub(crate) fn unseal_all(&mut self) {
        self.sealed = 0;
    }
}

impl<'gc> std::ops::Index<usize> for ValueStack<'gc> {
    type Output = Value<'gc>;

    #[inline(always)]
    fn index(&self, i: usize) -> &Value<'gc> {
        &self.values[i]
    }
}

/// `stack[a..b]` to change: the watermark lowered to `a` first.
macro_rules! index_mut_range {
    ($($range:ty),*) => {$(
        impl<'gc> std::ops::Index<$range> for ValueStack<'gc> {
            type Output = [Value<'gc>];

            #[inline(always)]
            fn index(&self, r: $range) -> &[Value<'gc>] {
                &self.values[r]
            }
        }

        impl<'gc> std::ops::IndexMut<$range> for ValueStack<'gc> {
            #[inline(always)]
            fn index_mut(&mut self, r: $range) -> &mut [Value<'gc>] {
                self.unseal_to(r.first());
                &mut self.values[r]
            }
        }
    )*};
}

/// The first slot of a range.
trait RangeStart {
    fn first(&self) -> usize;
}

impl RangeStart for std::ops::Range<usize> {
    fn first(&self) -> usize {
        self.start
    }
}

impl RangeStart for std::ops::RangeFrom<usize> {
    fn first(&self) -> usize {
        self.start
    }
}

impl RangeStart for std::ops::RangeInclusive<usize> {
    fn first(&self) -> usize {
        *self.start()
    }
}

index_mut_range!(
    std::ops::Range<usize>,
    std::ops::RangeFrom<usize>,
    std::ops::RangeInclusive<usize>
);

/// `stack[i] = v`: the watermark lowered to `i` first.
impl<'gc> std::ops::IndexMut<usize> for ValueStack<'gc> {
    #[inline(always)]
    fn index_mut(&mut self, i: usize) -> &mut Value<'gc> {
        self.unseal_to(i);
        &mut self.values[i]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A thread paused 5,000 calls down (out of fuel in a loop at the bottom of a
    /// recursion) has its frames and most of its values sealed, with segments covering them
    /// (so its own traces read only the top): what the collector's bounded slices rely on
    /// for deep recursions.
    #[test]
    fn a_deep_recursion_seals_its_frames_and_values() {
        let mut lua = crate::Lua::core();
        let exec = lua
            .chunk(
                "local function deep(n) if n == 0 then while true do end end \
                 local r = deep(n - 1) return r end deep(5000)",
            )
            .start(())
            .unwrap();
        for _ in 0..100 {
            assert!(!lua.step(&exec, &mut crate::Fuel::new(10_000)).is_done());
        }
        lua.enter(|ctx| {
            let thread = ctx.fetch_executor(&exec).unwrap().main_thread();
            let ts = thread.borrow();
            let (frames, segments) = ts.frames.traced_by_thread();
            let values = ts.frames.slots_traced_by_thread(&ts.stack);
            assert!(ts.frames.len() > 5000, "{} frames", ts.frames.len());
            assert!(
                frames.len() < FRAME_SEGMENT + UNSEALED_TOP,
                "{} frames",
                frames.len()
            );
            assert!(ts.stack.watermark() > 0);
            assert!(
                values.len() < ts.stack.len() / 2,
                "{} of {}",
                values.len(),
                ts.stack.len()
            );
            assert!(segments.len() * VALUE_SEGMENT >= ts.stack.watermark());
        });
    }

    /// Every change of a slot lowers the watermark to that slot first (and nothing below it
    /// is changed): the soundness of the stack's segments rests on this.
    #[test]
    fn changes_lower_the_value_stacks_watermark_to_what_they_touch() {
        let sealed_at = |change: &dyn Fn(&mut ValueStack<'static>)| {
            let mut s = ValueStack::from_vec((0..100).map(Value::Integer).collect());
            s.sealed = 80;
            change(&mut s);
            s.sealed
        };
        assert_eq!(sealed_at(&|s| s[90] = Value::Nil), 80);
        assert_eq!(sealed_at(&|s| s[50] = Value::Nil), 50);
        assert_eq!(sealed_at(&|s| s[40..45].fill(Value::Nil)), 40);
        assert_eq!(sealed_at(&|s| s[30..].fill(Value::Nil)), 30);
        assert_eq!(sealed_at(&|s| s[20..=25].fill(Value::Nil)), 20);
        assert_eq!(sealed_at(&|s| s.unseal_to(10)), 10);
        assert_eq!(sealed_at(&|s| *s.get_mut(7).unwrap() = Value::Nil), 7);
        assert_eq!(sealed_at(&|s| s.truncate(60)), 60);
        assert_eq!(sealed_at(&|s| s.resize(55, Value::Nil)), 55);
        assert_eq!(sealed_at(&|s| s.resize(120, Value::Nil)), 80);
        assert_eq!(sealed_at(&|s| s.push(Value::Nil)), 80);
        assert_eq!(sealed_at(&|s| s.insert(33, Value::Nil)), 33);
        assert_eq!(
            sealed_at(&|s| assert_eq!(s.remove(44), Value::Integer(44))),
            44
        );
        assert_eq!(sealed_at(&|s| s.drain(22..30)), 22);
        assert_eq!(sealed_at(&|s| s.copy_within(70..75, 11)), 11);
        assert_eq!(sealed_at(&|s| s.clear()), 0);
        // Reads do not move it.
        assert_eq!(sealed_at(&|s| assert_eq!(s[3], Value::Integer(3))), 80);
    }
}
