//! Big array parts are traced in segments.
//!
//! gc-arena traces an object whole, in one go, and a store into a black object makes it gray
//! again, to be traced whole again. A table whose array part held 400,000 values was one
//! trace of 400,000 slots (4 ms), repeated after every store the script made into it while
//! the collector was marking, and the collector slice holding it was that long whatever its
//! budget. So the slots of an array part past its first [`SEGMENT`] are traced by
//! *segments*: small collector objects of their own (`ArraySegment`), each of which traces
//! `SEGMENT` slots of its table's array (reading them through the table), while the table's
//! own trace covers its head (the first `SEGMENT` slots), its hash part and a pointer per
//! segment. A store into a slot past the head makes that slot's segment gray again (as well
//! as the table, whose re-trace is then its head), so no trace is longer than `SEGMENT`
//! slots plus a table's hash part.
//!
//! The array itself stays one vector: reads and the journal's copies are as they were.
//!
//! Invariants:
//! - A table's live state has exactly `segments_for(array.capacity())` segments, segment `i`
//!   tracing slots `SEGMENT * (i + 1) .. SEGMENT * (i + 2)` (those inside the array's
//!   length); they are made as the capacity grows (`TableState::sync_segments`), so the
//!   charge (which counts them) is a function of the capacity, like the rest of it.
//! - A state with *no* segments traces its whole array itself: the journal's saved copies
//!   (`JournaledState::save` leaves the segments out), whose slots no segment reads. A
//!   restore keeps the live table's segments (cut to the restored capacity) and makes them
//!   all gray again (`TableState::segments_restored`).
//! - Every store of a collectable value into a slot past the head goes with a
//!   `TableState::slot_barrier`, before or after it in the same mutation (no collection runs
//!   in between; `needs_barrier` says when; a restore calls `segments_restored`): a segment
//!   traced black before the store is traced again.

use gc_arena::{Gc, Mutation};

use super::{TableInner, TableState};
use crate::value::Value;

/// Slots of the head (traced by the table) and of each segment.
pub(crate) const SEGMENT: usize = 4096;

/// The bytes one segment adds to its table's charge.
pub(crate) const SEGMENT_BYTES: usize = crate::memory::GC_HEADER
    + std::mem::size_of::<ArraySegment<'static>>()
    + std::mem::size_of::<Segment<'static>>();

/// The segments an array part of capacity `capacity` has.
#[inline]
pub(crate) fn segments_for(capacity: usize) -> usize {
    capacity.saturating_sub(SEGMENT).div_ceil(SEGMENT)
}

/// Traces `SEGMENT` slots of its table's array part. Traced by the manual `Collect` impl in
/// `gc_unsafe`.
pub(crate) struct ArraySegment<'gc> {
    pub(crate) table: Gc<'gc, TableInner<'gc>>,
    /// The segment's position: it traces array slots (0-based) `SEGMENT * (index + 1) ..`.
    index: usize,
}

/// A handle to a segment.
pub(crate) type Segment<'gc> = Gc<'gc, ArraySegment<'gc>>;

impl ArraySegment<'_> {
    /// The array slots (0-based) this segment traces, those of them inside `len`.
    pub(crate) fn slots(&self, len: usize) -> std::ops::Range<usize> {
        let start = SEGMENT * (self.index + 1);
        start.min(len)..(start + SEGMENT).min(len)
    }
}

/// Whether a store of `value` into array slot `idx` needs `TableState::slot_barrier`: a
/// slot past the head, and a value that can make an object reachable (numbers, booleans and
/// nil cannot). The barrier may come before the store (no collection runs in between).
#[inline(always)]
pub(crate) fn needs_barrier(idx: usize, value: Value<'_>) -> bool {
    !matches!(
        value,
        Value::Nil | Value::Boolean(_) | Value::Integer(_) | Value::Float(_)
    ) && idx >= SEGMENT
}

impl<'gc> TableState<'gc> {
    /// The segments of this state (none for a saved copy).
    pub(crate) fn segments(&self) -> &[Segment<'gc>] {
        self.aux.as_deref().map_or(&[], |a| &a.segments)
    }

    /// The array slots this state traces itself: the head, or all of them without segments
    /// (a saved copy, or an array part that fits the head).
    pub(crate) fn self_traced_array(&self) -> &[Value<'gc>] {
        if self.segments().is_empty() {
            &self.array
        } else {
            &self.array[..SEGMENT.min(self.array.len())]
        }
    }

    /// Makes the segments match the array's capacity (after it changed), for the table
    /// `owner` whose state this is.
    pub(crate) fn sync_segments(&mut self, mc: &Mutation<'gc>, owner: Gc<'gc, TableInner<'gc>>) {
        let need = segments_for(self.array.capacity());
        if self.segments().len() == need {
            return;
        }
        let aux = self.aux.get_or_insert_with(Default::default);
        aux.segments.truncate(need);
        while aux.segments.len() < need {
            let index = aux.segments.len();
            aux.segments.push(Gc::new(
                mc,
                ArraySegment {
                    table: owner,
                    index,
                },
            ));
        }
        self.drop_empty_aux();
    }

    /// The write barrier of a store into array slot `idx` (when `needs_barrier` says so; a
    /// rollback putting a page back calls it for the page, which lies in one segment): past
    /// the head, the slot's segment is made gray again if it was traced already (see the
    /// module docs).
    #[inline(never)]
    pub(crate) fn slot_barrier(&self, mc: &Mutation<'gc>, idx: usize) {
        if let Some(s) = self.segments().get((idx / SEGMENT).wrapping_sub(1)) {
            mc.backward_barrier(Gc::erase(*s), None);
        }
    }

    /// After a restore replaced the array wholesale: every segment may have to trace again.
    pub(crate) fn segments_restored(&self, mc: &Mutation<'gc>) {
        for s in self.segments() {
            mc.backward_barrier(Gc::erase(*s), None);
        }
    }
}
