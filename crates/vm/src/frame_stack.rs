//! A thread's frame stack, traced in segments below a watermark.
//!
//! gc-arena traces an object whole, and a thread is written at every step it runs (its stack
//! and frames), so while the collector marks, the running thread is traced again after each
//! step, and once more at the mark's end. A runaway recursion leaves 200,000 frames (24 MiB
//! of them): a trace of the thread read them all, 4-5 ms in one collector slice, once per
//! cycle at least (xpcall_recursive_handler.lua, metamethod_recursion_all.lua). The frames
//! deep down do not change while the recursion goes on, so they are *sealed*: the frames
//! below a watermark (`FrameStack::sealed`) are traced by *segments*, small collector objects of their
//! own ([`FrameSegment`]), each of which traces a stretch of [`FRAME_SEGMENT`] frames
//! (reading them through the thread) and pays for it from the running slice's debt
//! (`gc::credit_visits`), so a slice traces a bounded number of frames; the thread's own
//! trace covers the frames from the watermark up (or from the end of the segments, if
//! fewer).
//!
//! Invariants (what makes a sealed frame's references traced in every collection cycle,
//! stated for `gc_unsafe`'s `Collect` impls of `ThreadState` and `FrameSegment`):
//! - No frame below the watermark is changed: the watermark is never above the top frame
//!   (every raise stops below it, every pop or truncation lowers it to the new top), so
//!   `push` and `last_mut` change only frames above it, and the other ways to change a
//!   frame (`get_mut`, `iter_mut`) first lower it to the frame's position. The frames are
//!   private to this module, and only these methods hand out `&mut` access to them.
//! - The watermark is only lowered by those methods, which run inside a mutation holding the
//!   thread's state borrowed mutably (so gc-arena's write barrier has made the thread gray:
//!   its next trace covers the frames from the lowered watermark up). It is raised only
//!   after a run of the thread's frames (`FrameStack::after_run`, in the same kind of
//!   mutation), over frames that existing segments cover, each of those segments made gray
//!   again first (gc-arena's `backward_barrier`: a segment already traced in the cycle
//!   under way traces again, and takes in the frames it now covers).
//! - Segment `i` traces frames `FRAME_SEGMENT * i .. FRAME_SEGMENT * (i + 1)` that are below
//!   the watermark when it is traced; the thread traces the segments' pointers, so each
//!   is traced once in every cycle in which the thread is reached. Segments are made as the
//!   frames grow (`FrameStack::after_run`), white, under the thread's barrier, never
//!   removed while their thread lives; a state saved by the journal has none, and one put
//!   back by a rollback none and nothing sealed (its thread's trace covers all its frames).
//!
//! So a frame is traced, in every cycle, after its last change: by the thread (which is
//! traced after every mutation and covers whatever is above the watermark), or, when it
//! has been below the watermark the whole cycle, by its segment.
//!
//! Segments are not in the memory account: 40 bytes per 1,024 frames (120 KiB), made at
//! points the host's step sizes decide; the account counts the frames' buffer.

use gc_arena::{Gc, Mutation};

use crate::thread::{Frame, Thread};

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

    /// Frames that segments should cover: all but the top `UNSEALED_TOP` (sealed or not:
    /// a segment traces only what is below the watermark when it is traced).
    #[inline(always)]
    fn segments_wanted(&self) -> usize {
        self.frames.len().saturating_sub(UNSEALED_TOP) / FRAME_SEGMENT
    }

    /// Where `after_run` raises the watermark to: all but the top `UNSEALED_TOP` frames,
    /// as far as segments cover.
    #[inline(always)]
    fn seal_target(&self) -> usize {
        self.frames
            .len()
            .saturating_sub(UNSEALED_TOP)
            .min(self.segments.len() * FRAME_SEGMENT)
    }

    /// Whether `after_run` has work to do.
    #[inline(always)]
    pub(crate) fn wants_sealing(&self) -> bool {
        // (Most threads are shallow: one comparison.)
        self.frames.len() >= FRAME_SEGMENT + UNSEALED_TOP
            && (self.segments_wanted() > self.segments.len() || self.seal_target() > self.sealed)
    }

    /// After a run of `thread`'s frames (whose state this is, borrowed mutably, so the
    /// thread is gray and the new segments' pointers are written under its barrier): makes
    /// the segments the frames call for (at most `max`), so a thread that stops deep down (a
    /// coroutine yielding from a recursion) has them when it is not running; then raises the
    /// watermark over the frames pushed since, making the segments that take them over
    /// gray again (`backward_barrier`), so each traces them in this cycle: without that, a
    /// recursion regrown after an unwinding was traced whole by the first trace of the
    /// thread that came after (4-6 ms, in xpcall_recursive_handler.lua).
    pub(crate) fn after_run(&mut self, mc: &Mutation<'gc>, thread: Thread<'gc>, max: usize) {
        let want = self.segments_wanted();
        for _ in 0..want.saturating_sub(self.segments.len()).min(max) {
            let index = self.segments.len();
            self.segments
                .push(Gc::new(mc, FrameSegment { thread, index }));
        }
        let (from, to) = (self.sealed, self.seal_target());
        if to > from {
            for s in &self.segments[from / FRAME_SEGMENT..to.div_ceil(FRAME_SEGMENT)] {
                mc.backward_barrier(Gc::erase(*s), None);
            }
            self.sealed = to;
        }
    }

    /// Lowers the watermark to the bottom (a state put back by a rollback: its frames were
    /// traced as a saved copy's, which says nothing of the segments' cycle).
    pub(crate) fn unseal_all(&mut self) {
        self.sealed = 0;
    }

    /// For the thread's trace (`gc_unsafe`): the frames it traces itself (from the
    /// watermark, or the end of the segments, up), and the segments.
    #[inline]
    pub(crate) fn traced_by_thread(&self) -> (&[Frame<'gc>], &[Gc<'gc, FrameSegment<'gc>>]) {
        let from = self
            .sealed
            .min(self.segments.len() * FRAME_SEGMENT)
            .min(self.frames.len());
        (&self.frames[from..], &self.segments)
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
