//! Big array and hash parts are traced in segments.
//!
//! gc-arena traces an object whole, in one go, and a store into a black object makes it gray
//! again, to be traced whole again. A table whose array part held 400,000 values was one
//! trace of 400,000 slots (4 ms), repeated after every store the script made into it while
//! the collector was marking, and the collector slice holding it was that long whatever its
//! budget; a hash part of 229,000 entries took 2 to 4 ms a trace the same way. So the slots
//! of an array part past its first [`SEGMENT`], and the entries of a hash part past its
//! first [`ENTRY_SEGMENT`], are traced by *segments*: small collector objects of their own
//! (`TableSegment`), each of which traces one stretch of its table's array or entries
//! (reading them through the table), while the table's own trace covers the heads, what no
//! segment covers, and a pointer per segment. A store past a head makes the segment it falls
//! in gray again (as well as the table, whose re-trace is then its heads), so no trace is
//! longer than `SEGMENT` values plus two heads.
//!
//! The array and the entries stay one vector each: reads and the journal's copies are as
//! they were.
//!
//! Invariants:
//! - A table's live state has `segments_for(array.capacity())` array segments and
//!   `entry_segments_for(entries.capacity())` entry segments, array segment `i` tracing
//!   slots `SEGMENT * (i + 1) .. SEGMENT * (i + 2)` and entry segment `i` entries
//!   `ENTRY_SEGMENT * (i + 1) .. ENTRY_SEGMENT * (i + 2)` (those inside the lengths); they are
//!   made as the capacities grow (`TableState::sync_segments`), so the charge (which counts
//!   them) is a function of the capacities, like the rest of it. Whatever the segments do
//!   not cover (all of it for a state without segments: the journal's saved copies, whose
//!   slots no segment reads) the table traces itself (`self_traced`), so a missing segment
//!   would cost time, never soundness.
//! - A restore keeps the live table's segments (cut to the restored capacities, made for
//!   them if fewer) and makes them all gray again (`TableState::segments_restored`). Entries
//!   never move otherwise (a new key takes a free position in place, see `free_slots`).
//! - Every store of a collectable value into a slot or entry past a head goes with a
//!   `TableState::slot_barrier` / `entry_barrier`, before or after it in the same mutation
//!   (no collection runs in between; `needs_barrier` / `entry_needs_barrier` say when): a
//!   segment traced black before the store is traced again.

use gc_arena::{Gc, Mutation};

use super::{TableInner, TableState};
use crate::value::Value;

/// Slots of the array's head (traced by the table) and of each array segment.
pub(crate) const SEGMENT: usize = 4096;

/// Entries of the hash part's head and of each entry segment (two values each: a segment
/// traces as many values as an array segment).
pub(crate) const ENTRY_SEGMENT: usize = SEGMENT / 2;

/// The bytes one segment adds to its table's charge.
pub(crate) const SEGMENT_BYTES: usize = crate::memory::GC_HEADER
    + std::mem::size_of::<TableSegment<'static>>()
    + std::mem::size_of::<Segment<'static>>();

/// The segments an array part of capacity `capacity` has.
#[inline]
pub(crate) fn segments_for(capacity: usize) -> usize {
    capacity.saturating_sub(SEGMENT).div_ceil(SEGMENT)
}

/// The segments a hash part of capacity `capacity` (entries) has.
#[inline]
pub(crate) fn entry_segments_for(capacity: usize) -> usize {
    capacity
        .saturating_sub(ENTRY_SEGMENT)
        .div_ceil(ENTRY_SEGMENT)
}

/// Which part of its table a segment traces.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Part {
    /// `SEGMENT` slots of the array part.
    Array,
    /// `ENTRY_SEGMENT` entries of the hash part.
    Entries,
}

/// Traces one stretch of its table's array or entries. Traced by the manual `Collect` impl
/// in `gc_unsafe`.
pub(crate) struct TableSegment<'gc> {
    pub(crate) table: Gc<'gc, TableInner<'gc>>,
    pub(crate) part: Part,
    /// The segment's position among its part's: it traces positions (0-based)
    /// `size * (index + 1) .. size * (index + 2)`, `size` being its part's segment size.
    index: usize,
}

/// A handle to a segment.
pub(crate) type Segment<'gc> = Gc<'gc, TableSegment<'gc>>;

impl TableSegment<'_> {
    /// The positions (0-based) of its part this segment traces, those of them inside `len`.
    pub(crate) fn positions(&self, len: usize) -> std::ops::Range<usize> {
        let size = match self.part {
            Part::Array => SEGMENT,
            Part::Entries => ENTRY_SEGMENT,
        };
        let start = size.saturating_mul(self.index + 1);
        start.min(len)..start.saturating_add(size).min(len)
    }
}

/// The positions of a part of `len` positions, segment size `size` and `segments` segments
/// that its table traces itself: the head and what lies past the last segment.
fn self_traced(
    len: usize,
    size: usize,
    segments: usize,
) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
    let head = if segments == 0 { len } else { size.min(len) };
    let covered = size.saturating_mul(segments + 1).min(len);
    (0..head, covered.max(head)..len)
}

/// Whether a store making entry `pos` hold `key` and `value` needs
/// `TableState::entry_barrier`: an entry past the head, and a key or value that can make an
/// object reachable.
#[inline(always)]
pub(crate) fn entry_needs_barrier(pos: usize, key: Value<'_>, value: Value<'_>) -> bool {
    pos >= ENTRY_SEGMENT && (collectable(key) || collectable(value))
}

#[inline(always)]
fn collectable(v: Value<'_>) -> bool {
    !matches!(
        v,
        Value::Nil | Value::Boolean(_) | Value::Integer(_) | Value::Float(_)
    )
}

/// Whether a store of `value` into array slot `idx` needs `TableState::slot_barrier`: a
/// slot past the head, and a value that can make an object reachable (numbers, booleans and
/// nil cannot). The barrier may come before the store (no collection runs in between).
#[inline(always)]
pub(crate) fn needs_barrier(idx: usize, value: Value<'_>) -> bool {
    collectable(value) && idx >= SEGMENT
}

impl<'gc> TableState<'gc> {
    /// The array segments of this state (none for a saved copy).
    pub(crate) fn segments(&self) -> &[Segment<'gc>] {
        self.aux.as_deref().map_or(&[], |a| &a.segments)
    }

    /// The entry segments of this state (none for a saved copy).
    pub(crate) fn entry_segments(&self) -> &[Segment<'gc>] {
        self.aux.as_deref().map_or(&[], |a| &a.entry_segments)
    }

    /// The array slots and entries this state traces itself (see `self_traced`): two
    /// stretches of each.
    #[allow(clippy::type_complexity)]
    pub(crate) fn self_traced(&self) -> ([&[Value<'gc>]; 2], [&[(Value<'gc>, Value<'gc>)]; 2]) {
        let (a, b) = self_traced(self.array.len(), SEGMENT, self.segments().len());
        let (c, d) = self_traced(
            self.entries.len(),
            ENTRY_SEGMENT,
            self.entry_segments().len(),
        );
        (
            [&self.array[a], &self.array[b]],
            [&self.entries[c], &self.entries[d]],
        )
    }

    /// Makes the segments match the capacities of the array and the entries (after either
    /// changed), for the table `owner` whose state this is.
    pub(crate) fn sync_segments(&mut self, mc: &Mutation<'gc>, owner: Gc<'gc, TableInner<'gc>>) {
        let need = segments_for(self.array.capacity());
        let need_entries = entry_segments_for(self.entries.capacity());
        if self.segments().len() == need && self.entry_segments().len() == need_entries {
            return;
        }
        let aux = self.aux.get_or_insert_with(Default::default);
        for (part, list, need) in [
            (Part::Array, &mut aux.segments, need),
            (Part::Entries, &mut aux.entry_segments, need_entries),
        ] {
            list.truncate(need);
            while list.len() < need {
                let index = list.len();
                list.push(Gc::new(
                    mc,
                    TableSegment {
                        table: owner,
                        part,
                        index,
                    },
                ));
            }
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

    /// The write barrier of a store into entry `pos` (when `entry_needs_barrier` says so).
    #[inline(never)]
    pub(crate) fn entry_barrier(&self, mc: &Mutation<'gc>, pos: usize) {
        if let Some(s) = self
            .entry_segments()
            .get((pos / ENTRY_SEGMENT).wrapping_sub(1))
        {
            mc.backward_barrier(Gc::erase(*s), None);
        }
    }

    /// After a restore replaced the array and the entries wholesale: the segments follow
    /// the restored capacities, and every one may have to trace again.
    pub(crate) fn segments_restored(
        &mut self,
        mc: &Mutation<'gc>,
        owner: Gc<'gc, TableInner<'gc>>,
    ) {
        self.sync_segments(mc, owner);
        for s in self.segments().iter().chain(self.entry_segments()) {
            mc.backward_barrier(Gc::erase(*s), None);
        }
    }
}
