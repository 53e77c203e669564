//! The set of interned short strings, kept with no whole-set pause.
//!
//! The set holds weak pointers (an interned string is collected when nothing else holds it),
//! so it must drop the entries of collected strings, and grow and shrink with the live ones.
//! Done at once, each of these is a pass over the whole set: pruning 131,072 entries took
//! 2.2 ms (a cache miss per entry, to see whether its string died), rehashing an index of
//! 262,144 4 ms, and the set was one collector object, traced whole (a weak pointer per
//! entry) and traced again after any insertion while the collector marked. So every part of
//! the work here is done a bounded piece per insertion (and per VM step when the set has work
//! due):
//!
//! - Entries live in *slots* that never move: chunks of [`CHUNK`] slots, collector objects
//!   of their own (no trace covers more than a chunk, and a write makes only its chunk gray
//!   again). Freed slots go to a free list and are reused.
//! - When the collector has freed interned strings (`memory::discharge_interned_string`
//!   tells the account, the next step tells the set), a round of the *prune cursor* is due:
//!   it goes round the slots, [`PRUNE_PER_INSERT`] per insertion and [`PRUNE_PER_STEP`] per
//!   step, and frees the slots of strings the collector freed. (No string dies between
//!   collections, so no pruning is done then.)
//! - The *index* maps hashes to slots: open addressing with linear probing, entries removed
//!   by shifting their followers back (no tombstones), at most half full. When it must grow
//!   (or can shrink, or most slots are free), a new index is made and its pages written
//!   first, a page per insertion (insertions land at random places: a fresh index of 7 MiB
//!   took 2.7 ms of page faults within a few steps), then the old index's buckets are moved
//!   into it, [`MOVE_PER_INSERT`] per insertion; lookups try the new index, then the old
//!   one. Pruning pauses meanwhile (so no slot an old bucket names is freed or reused). A
//!   shrink, or a resize because most slots are free, also *relocates*: the live entries
//!   move into fresh chunks as their buckets move, and the old chunks go when it ends (slots
//!   are given back only so).
//! - A host's `gc_collect` (a pause for the whole heap anyway) does a whole prune round and
//!   resize at once (`settle_now`).
//!
//! Invariants:
//! - At most one slot holds a given *live* string content: a string is inserted only after
//!   the index (both, while resizing) found no live equal string.
//! - Every occupied slot has exactly one bucket in the index in use (`buckets`), or, while
//!   resizing, in the new one or in the old one's part not yet moved. A bucket names its
//!   slot and the high 32 bits of its string's hash, from which its home bucket follows, so
//!   removing and moving buckets reads no slot.
//! - The index in use is less than full, so every probe ends at an empty bucket: it grows
//!   at half full, and a resize ends before the insertions it lets through can fill it.
//! - Every weak pointer the set holds is in a chunk it holds (traced every cycle), and every
//!   write into a chunk goes through its `RefLock` (a write barrier), so no weak pointer is
//!   left untraced in a cycle (which would let the collector free what it points to).

use std::sync::Arc;

use gc_arena::lock::RefLock;
use gc_arena::{Collect, Gc, GcWeak, Mutation};

use super::{hash_bytes, LuaString, StringData};
use crate::memory::{PhysicalCharge, GC_HEADER};

/// Slots in a chunk (a collector object). A chunk's trace visits every weak pointer in it,
/// and each visit reads its string's header: a cache miss apiece on a big set, ~250 ns
/// here. Such a trace pays for its visits from the slice's debt (`gc::credit_visits`), so
/// a slice stops after a bounded number of them; a chunk is its least piece: with 4,096
/// slots one took ~1 ms, with 512 ~0.1 ms.
const CHUNK: usize = 512;

/// Buckets of the smallest index.
const MIN_BUCKETS: usize = 64;

/// Buckets per entry of a new index. The index grows when half full, shrinks when less than
/// a sixteenth full: a probe for a string not there (every insertion's) looks at 2.5
/// buckets on average at half full, 8.5 at three quarters.
const SPREAD: usize = 4;

/// Slots the prune cursor looks at per insertion (a round is over within slots / 2
/// insertions).
const PRUNE_PER_INSERT: usize = 2;

/// Slots the prune cursor looks at per VM step while a round is due (so dead entries go
/// without waiting for insertions). A slot costs a cache miss (its string's header): about
/// 0.1 ms.
const PRUNE_PER_STEP: usize = 2048;

/// Buckets of a new index written per insertion before it is used (a page).
const TOUCH_PER_INSERT: usize = 64;

/// Buckets of a new index written per VM step.
const TOUCH_PER_STEP: usize = 8192;

/// Buckets of the old index moved per insertion while resizing.
const MOVE_PER_INSERT: usize = 8;

/// Buckets of the old index moved per VM step while resizing.
const MOVE_PER_STEP: usize = 8192;

/// A slot: an interned string (alive, or freed by the collector and not pruned yet), or a
/// free slot.
#[derive(Clone, Copy, Collect)]
#[collect(no_drop)]
pub(crate) struct Slot<'gc> {
    /// The string's content hash; in a free slot, the next free slot plus one (0: none).
    hash: u64,
    /// `None` in a free slot.
    string: Option<GcWeak<'gc, StringData>>,
}

/// Up to [`CHUNK`] slots, a collector object of its own.
type Chunk<'gc> = Gc<'gc, RefLock<ChunkSlots<'gc>>>;

/// A chunk's slots. Traced by a manual `Collect` (`gc_unsafe`) that reports the weak
/// pointers it visits (`gc::note_traced`), so a slice pays for a chunk by its size.
pub(crate) struct ChunkSlots<'gc>(pub(crate) Vec<Slot<'gc>>);

impl<'gc> std::ops::Deref for ChunkSlots<'gc> {
    type Target = Vec<Slot<'gc>>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for ChunkSlots<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

/// Slots the first chunk has room for at first (it grows to `CHUNK`; the others are made
/// with room for `CHUNK`), so that a small set stays small.
const FIRST_CHUNK: usize = 64;

/// Appends `slot` as slot number `*slots` (then counted) of `chunks`, in a new chunk if
/// the last is full; returns its number, and whether a chunk was made or grown.
fn push_slot<'gc>(
    chunks: &mut Vec<Chunk<'gc>>,
    slots: &mut usize,
    mc: &Mutation<'gc>,
    slot: Slot<'gc>,
) -> (usize, bool) {
    let i = *slots;
    let mut reshaped = false;
    if i.is_multiple_of(CHUNK) {
        let room = if i == 0 { FIRST_CHUNK } else { CHUNK };
        chunks.push(Gc::new(
            mc,
            RefLock::new(ChunkSlots(Vec::with_capacity(room))),
        ));
        reshaped = true;
    }
    let mut chunk = chunks[i / CHUNK].borrow_mut(mc);
    reshaped |= chunk.len() == chunk.capacity();
    chunk.push(slot);
    *slots += 1;
    (i, reshaped)
}

/// Bytes of `chunks`, by capacity: the objects, their slots and the list of them.
fn chunks_bytes(chunks: &[Chunk<'_>]) -> usize {
    use std::mem::size_of;
    let room = match chunks {
        [] => 0,
        [first] => first.borrow().capacity(),
        _ => chunks.len() * CHUNK,
    };
    chunks.len() * (GC_HEADER + size_of::<RefLock<Vec<Slot<'_>>>>()) + room * size_of::<Slot<'_>>()
}

/// An index bucket: 0 (empty) or the high 32 bits of a hash above a slot number plus one.
#[inline]
fn bucket(tag: u32, slot: usize) -> u64 {
    u64::from(tag) << 32 | (slot as u64 + 1)
}

/// The high 32 bits of a hash: a bucket's part of it, which decides its home.
#[inline]
fn tag_of(hash: u64) -> u32 {
    (hash >> 32) as u32
}

/// Where a probe for `tag` starts among `n` buckets (the tag scaled to `n`).
#[inline]
fn home(tag: u32, n: usize) -> usize {
    ((u64::from(tag) * n as u64) >> 32) as usize
}

/// Puts `b` into the first empty bucket from its home on (there is one).
fn place(buckets: &mut [u64], b: u64) {
    let n = buckets.len();
    let mut i = home((b >> 32) as u32, n);
    while buckets[i] != 0 {
        i += 1;
        if i == n {
            i = 0;
        }
    }
    buckets[i] = b;
}

/// Removes bucket `b` (which is there), shifting back the buckets after it that may move
/// closer to their home.
fn unplace(buckets: &mut [u64], b: u64) {
    let n = buckets.len();
    let mut hole = home((b >> 32) as u32, n);
    while buckets[hole] != b {
        if buckets[hole] == 0 {
            return;
        }
        hole += 1;
        if hole == n {
            hole = 0;
        }
    }
    let mut j = hole;
    loop {
        j += 1;
        if j == n {
            j = 0;
        }
        let next = buckets[j];
        if next == 0 {
            break;
        }
        // `next` may fill the hole if its home is not cyclically inside (hole, j].
        let h = home((next >> 32) as u32, n);
        let inside = if hole <= j {
            hole < h && h <= j
        } else {
            hole < h || h <= j
        };
        if !inside {
            buckets[hole] = next;
            hole = j;
        }
    }
    buckets[hole] = 0;
}

/// Slot `i` of `chunks`.
#[inline]
fn slot_in<'gc>(chunks: &[Chunk<'gc>], i: usize) -> Slot<'gc> {
    chunks[i / CHUNK].borrow()[i % CHUNK]
}

/// The live string with these bytes that `buckets` (naming slots of `chunks`) holds.
#[inline]
fn find_in<'gc>(
    buckets: &[u64],
    chunks: &[Chunk<'gc>],
    mc: &Mutation<'gc>,
    tag: u32,
    hash: u64,
    bytes: &[u8],
) -> Option<LuaString<'gc>> {
    let n = buckets.len();
    let mut i = home(tag, n);
    loop {
        // (The index is never full, so an empty bucket ends every probe.)
        let b = buckets[i];
        if b == 0 {
            return None;
        }
        if (b >> 32) as u32 == tag {
            let slot = slot_in(chunks, (b as u32 - 1) as usize);
            if slot.hash == hash {
                if let Some(s) = slot.string.and_then(|w| w.upgrade(mc)) {
                    if s.bytes[..] == *bytes {
                        return Some(LuaString(s));
                    }
                }
            }
        }
        i += 1;
        if i == n {
            i = 0;
        }
    }
}

/// What the index is doing besides lookups, insertions and removals.
#[derive(Collect, Default)]
#[collect(no_drop)]
enum Resize<'gc> {
    #[default]
    None,
    /// The new index, its buckets written up to `touched` (the index in use still takes the
    /// insertions). `relocate`: the move also moves the live entries into fresh chunks
    /// (a shrink, or slots mostly free: slots are only given back this way).
    Prepare {
        next: Vec<u64>,
        touched: usize,
        relocate: bool,
    },
    /// The new index is in use; `old`'s buckets from `moved` on are still to move into it.
    /// When relocating, `old` names slots of `old_chunks` (the new index those of `chunks`,
    /// which start empty), and the entries of strings already freed are dropped on the way;
    /// otherwise `old_chunks` is empty and both indexes name slots of `chunks`.
    Move {
        old: Vec<u64>,
        moved: usize,
        old_chunks: Vec<Chunk<'gc>>,
    },
}

/// The set of interned short strings (see the module docs).
#[derive(Collect)]
#[collect(no_drop)]
pub(crate) struct Interner<'gc> {
    /// Slot `i` is `chunks[i / CHUNK][i % CHUNK]`; a chunk but the first is allocated with
    /// room for `CHUNK` slots (the first grows to that), so a copy is at most a chunk. Slot
    /// numbers fit in 32 bits (a bucket's part): four billion strings would need hundreds of
    /// GiB.
    chunks: Vec<Chunk<'gc>>,
    /// Slots made (occupied or free).
    slots: usize,
    /// Occupied slots (entries in the index).
    entries: usize,
    /// The first free slot plus one (0: none); the list goes on through their `hash`.
    free: u64,
    /// The slot the prune cursor looks at next.
    prune_at: usize,
    /// Slots the prune cursor still owes the round due (see `strings_freed`).
    prune_due: usize,
    /// The index in use.
    buckets: Vec<u64>,
    resize: Resize<'gc>,
    /// The set's own buffers, by capacity. In use only, not in `collectgarbage("count")`:
    /// how many dead entries it holds depends on when the collector ran.
    #[collect(require_static)]
    charge: PhysicalCharge,
    /// A buffer was made, grown or dropped since the charge was last set.
    reshaped: bool,
}

impl Default for Interner<'_> {
    fn default() -> Self {
        Interner {
            chunks: Vec::new(),
            slots: 0,
            entries: 0,
            free: 0,
            prune_at: 0,
            prune_due: 0,
            buckets: vec![0; MIN_BUCKETS],
            resize: Resize::None,
            charge: PhysicalCharge::default(),
            reshaped: true,
        }
    }
}

impl<'gc> Interner<'gc> {
    pub(crate) fn intern(&mut self, mc: &Mutation<'gc>, bytes: &[u8]) -> LuaString<'gc> {
        let hash = hash_bytes(bytes);
        match self.find(mc, hash, bytes) {
            Some(s) => s,
            None => self.insert(mc, hash, Arc::from(bytes)),
        }
    }

    /// `intern` of bytes that already have a buffer of their own (an image's), shared by the
    /// new string if there is none yet. `hash` must be `hash_bytes(&bytes)`.
    pub(crate) fn intern_shared(
        &mut self,
        mc: &Mutation<'gc>,
        hash: u64,
        bytes: Arc<[u8]>,
    ) -> LuaString<'gc> {
        debug_assert_eq!(hash, hash_bytes(&bytes));
        match self.find(mc, hash, &bytes) {
            Some(s) => s,
            None => self.insert(mc, hash, bytes),
        }
    }

    /// Room for `n` more strings with no resize (a restore knows how many): a resize under
    /// way is finished, and the index grown, at once.
    pub(crate) fn reserve(&mut self, mc: &Mutation<'gc>, n: usize) {
        self.finish_resize(mc);
        let need = self.entries + n;
        if need * 2 > self.buckets.len() {
            let mut next = vec![0; (need * SPREAD).max(MIN_BUCKETS)];
            for &b in self.buckets.iter().filter(|&&b| b != 0) {
                place(&mut next, b);
            }
            self.buckets = next;
            self.reshaped = true;
            self.sync_charge();
        }
    }

    #[inline]
    fn slot(&self, i: usize) -> Slot<'gc> {
        slot_in(&self.chunks, i)
    }

    /// Looks in the index in use, then (while buckets move) in the old one.
    #[inline]
    fn find(&self, mc: &Mutation<'gc>, hash: u64, bytes: &[u8]) -> Option<LuaString<'gc>> {
        let tag = tag_of(hash);
        find_in(&self.buckets, &self.chunks, mc, tag, hash, bytes).or_else(|| {
            let Resize::Move {
                old, old_chunks, ..
            } = &self.resize
            else {
                return None;
            };
            // (Not relocating, the old index names slots of `chunks` too.)
            let chunks = if old_chunks.is_empty() {
                &self.chunks
            } else {
                old_chunks
            };
            find_in(old, chunks, mc, tag, hash, bytes)
        })
    }

    fn insert(&mut self, mc: &Mutation<'gc>, hash: u64, bytes: Arc<[u8]>) -> LuaString<'gc> {
        let s = Gc::new(mc, StringData::new(hash, bytes));
        let new = Slot {
            hash,
            string: Some(Gc::downgrade(s)),
        };
        let i = if self.free != 0 {
            let i = (self.free - 1) as usize;
            let chunk = self.chunks[i / CHUNK];
            let mut chunk = chunk.borrow_mut(mc);
            self.free = chunk[i % CHUNK].hash;
            chunk[i % CHUNK] = new;
            i
        } else {
            let (i, reshaped) = push_slot(&mut self.chunks, &mut self.slots, mc, new);
            self.reshaped |= reshaped;
            i
        };
        place(&mut self.buckets, bucket(tag_of(hash), i));
        self.entries += 1;
        self.advance(mc, PRUNE_PER_INSERT, TOUCH_PER_INSERT, MOVE_PER_INSERT);
        self.sync_charge();
        LuaString(s)
    }

    /// Whether work is due that steps do without insertions: a prune round after a
    /// collection, or a resize (under way or due).
    pub(crate) fn is_busy(&self) -> bool {
        self.prune_due > 0 || !matches!(self.resize, Resize::None) || self.resize_wanted().is_some()
    }

    /// The resize the set needs, if any: the buckets of the new index, and whether the move
    /// relocates the entries. Grows at half full (to a quarter); shrinks when less than a
    /// sixteenth full, or relocates when three quarters of the slots are free.
    fn resize_wanted(&self) -> Option<(usize, bool)> {
        let n = self.buckets.len();
        if self.entries * 2 > n {
            Some((self.entries * SPREAD, false))
        } else if (n > MIN_BUCKETS && self.entries * 16 < n)
            || self.slots >= 4 * self.entries + CHUNK
        {
            // (Room for the insertions the move lets through: one per `MOVE_PER_INSERT`
            // buckets.)
            Some(((self.entries + n / MOVE_PER_INSERT) * SPREAD, true))
        } else {
            None
        }
    }

    /// A VM step's share of the work due (see [`PRUNE_PER_STEP`]).
    pub(crate) fn step_work(&mut self, mc: &Mutation<'gc>) {
        let prune = PRUNE_PER_STEP.min(self.prune_due);
        self.advance(mc, prune, TOUCH_PER_STEP, MOVE_PER_STEP);
        self.sync_charge();
    }

    /// The collector freed interned strings (dead entries of the set): a prune round is due
    /// (if none is under way), which insertions and steps do.
    ///
    /// (Measured: waiting until a quarter, a half or two thirds of the entries were dead
    /// instead. gc-arena paces its sleep by the objects that survived the last cycle, which
    /// include the headers dead entries keep (a weak pointer keeps its object's header until
    /// it goes), so the longer dead entries stay, the rarer the cycles: string_lib 149 ms
    /// pruning at once, 139 at two thirds (the old whole-set prune, when the set filled,
    /// 132), but string_concat's peak 4.9 MiB at once, 5.3 at half, 7.4 at two thirds. A
    /// string made again after its old one died also has its dead duplicates in its probe
    /// chain until they go.)
    pub(crate) fn strings_freed(&mut self) {
        if self.prune_due == 0 {
            self.prune_due = self.slots;
        }
    }

    /// All the work the set can do, at once (for a host's full collection, itself a pause
    /// for the whole heap): a whole prune round, then any resize it needs.
    pub(crate) fn settle_now(&mut self, mc: &Mutation<'gc>) {
        self.finish_resize(mc);
        self.prune(mc, self.slots);
        self.prune_due = 0;
        if let Some((_, relocate)) = self.resize_wanted() {
            // (Done at once: no room for insertions meanwhile.)
            self.start_resize(self.entries * SPREAD, relocate);
            self.finish_resize(mc);
        }
        self.sync_charge();
    }

    /// Prunes up to `prune` slots, or writes up to `touch` buckets of a new index, or moves
    /// up to `moves` buckets of the old one; starts a resize when the set needs one.
    fn advance(&mut self, mc: &Mutation<'gc>, prune: usize, touch: usize, moves: usize) {
        match &mut self.resize {
            Resize::None => match self.resize_wanted() {
                Some((buckets, relocate)) => self.start_resize(buckets, relocate),
                None if self.prune_due > 0 => self.prune(mc, prune.min(self.prune_due)),
                None => {}
            },
            Resize::Prepare { next, touched, .. } => {
                let end = (*touched + touch).min(next.len());
                next[*touched..end].fill(0);
                *touched = end;
                if end == next.len() {
                    self.begin_move();
                }
            }
            Resize::Move { .. } => self.move_buckets(mc, moves),
        }
    }

    fn start_resize(&mut self, buckets: usize, relocate: bool) {
        self.reshaped = true;
        self.resize = Resize::Prepare {
            next: vec![0; buckets.max(MIN_BUCKETS)],
            touched: 0,
            relocate,
        };
    }

    /// The prepared index takes over (and, relocating, fresh chunks).
    fn begin_move(&mut self) {
        // (Only from `Prepare`: taking a `Move` out of `resize` dropped the buckets it had
        // not moved yet, and with them entries of live strings; `settle_now` met one.)
        if !matches!(self.resize, Resize::Prepare { .. }) {
            return;
        }
        let Resize::Prepare { next, relocate, .. } = std::mem::take(&mut self.resize) else {
            return;
        };
        self.reshaped = true;
        let old = std::mem::replace(&mut self.buckets, next);
        let old_chunks = if relocate {
            self.slots = 0;
            self.free = 0;
            self.prune_at = 0;
            self.prune_due = 0;
            std::mem::take(&mut self.chunks)
        } else {
            Vec::new()
        };
        self.resize = Resize::Move {
            old,
            moved: 0,
            old_chunks,
        };
    }

    /// Moves up to `n` buckets of the old index into the new one.
    fn move_buckets(&mut self, mc: &Mutation<'gc>, n: usize) {
        let Resize::Move {
            old,
            moved,
            old_chunks,
        } = &mut self.resize
        else {
            return;
        };
        let end = moved.saturating_add(n).min(old.len());
        for &b in &old[*moved..end] {
            if b == 0 {
                continue;
            }
            if old_chunks.is_empty() {
                place(&mut self.buckets, b);
                continue;
            }
            let slot = slot_in(old_chunks, (b as u32 - 1) as usize);
            if slot.string.is_none_or(|w| w.is_dropped()) {
                self.entries -= 1;
                continue;
            }
            let (i, reshaped) = push_slot(&mut self.chunks, &mut self.slots, mc, slot);
            self.reshaped |= reshaped;
            place(&mut self.buckets, bucket((b >> 32) as u32, i));
        }
        *moved = end;
        if end == old.len() {
            self.resize = Resize::None;
            self.reshaped = true;
        }
    }

    /// Finishes a resize under way at once.
    fn finish_resize(&mut self, mc: &Mutation<'gc>) {
        self.begin_move();
        self.move_buckets(mc, usize::MAX);
    }

    /// Looks at up to `n` slots from the prune cursor on, freeing those whose string the
    /// collector freed.
    fn prune(&mut self, mc: &Mutation<'gc>, n: usize) {
        let n = n.min(self.slots);
        for _ in 0..n {
            if self.prune_at >= self.slots {
                self.prune_at = 0;
            }
            let i = self.prune_at;
            self.prune_at += 1;
            let slot = self.slot(i);
            if let Some(w) = slot.string {
                if w.is_dropped() {
                    unplace(&mut self.buckets, bucket(tag_of(slot.hash), i));
                    self.entries -= 1;
                    self.chunks[i / CHUNK].borrow_mut(mc)[i % CHUNK] = Slot {
                        hash: self.free,
                        string: None,
                    };
                    self.free = i as u64 + 1;
                }
            }
        }
        self.prune_due = self.prune_due.saturating_sub(n);
    }

    /// Sets the charge to `buffer_bytes` if a buffer changed.
    fn sync_charge(&mut self) {
        if self.reshaped {
            self.reshaped = false;
            self.charge.set(self.buffer_bytes());
        }
    }

    /// Bytes of the set's buffers and chunks, by capacity.
    fn buffer_bytes(&self) -> usize {
        let resize = match &self.resize {
            Resize::None => 0,
            Resize::Prepare { next, .. } => 8 * next.capacity(),
            Resize::Move {
                old, old_chunks, ..
            } => 8 * old.capacity() + chunks_bytes(old_chunks),
        };
        8 * self.buckets.capacity() + chunks_bytes(&self.chunks) + resize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removal_shifts_followers_back_across_the_wrap() {
        // Eight buckets; tags whose home is bucket 6 (6 * 2^32 / 8 = 0xC000_0000).
        let mut b = vec![0u64; 8];
        let at6 = |k: usize| bucket(0xC000_0000 + k as u32, k);
        let at7 = bucket(0xE000_0000, 9);
        for k in 0..3 {
            place(&mut b, at6(k));
        }
        place(&mut b, at7);
        // 6, 7, then wrapped to 0 and 1.
        assert_eq!((b[6], b[7], b[0], b[1]), (at6(0), at6(1), at6(2), at7));
        unplace(&mut b, at6(1));
        // at6(2) moves back to 7; at7 (home 7) to 0.
        assert_eq!((b[6], b[7], b[0], b[1]), (at6(0), at6(2), at7, 0));
        unplace(&mut b, at6(0));
        assert_eq!((b[6], b[7], b[0]), (at6(2), at7, 0));
        unplace(&mut b, at6(2));
        assert_eq!((b[6], b[7]), (0, at7));
        unplace(&mut b, at7);
        assert!(b.iter().all(|&x| x == 0));
    }

    #[test]
    fn strings_stay_unique_through_prunes_and_resizes() {
        let mut lua = crate::Lua::core();
        // 50,000 kept strings, and as many made and dropped between them: the set prunes,
        // grows and reuses slots while lookups go to both indexes.
        lua.exec("kept = {} for i = 1, 50000 do kept[i] = 'k' .. i local t = 'gone' .. i end")
            .unwrap();
        lua.gc_collect();
        lua.exec("for i = 1, 50000 do local t = 'again' .. i end")
            .unwrap();
        lua.enter(|ctx| {
            let kept = ctx.globals().get(ctx.new_string(b"kept").into());
            let crate::Value::Table(kept) = kept else {
                panic!("kept is {kept:?}")
            };
            for i in 1..=50_000i64 {
                let crate::Value::String(s) = kept.get_int(i) else {
                    panic!("kept[{i}]")
                };
                let again = ctx.new_string(format!("k{i}").as_bytes());
                assert!(LuaString::ptr_eq(s, again), "k{i} interned twice");
            }
        });
    }

    #[test]
    fn a_big_index_is_resized_over_many_insertions() {
        let lua = crate::Lua::core();
        lua.enter(|ctx| {
            // (No collection runs inside `enter`: every string made here stays alive.)
            let mut run = 0;
            let mut longest = 0;
            let mut resizes = 0;
            for i in 0..300_000 {
                ctx.new_string(format!("r{i}").as_bytes());
                let set = ctx.state().strings.borrow();
                if matches!(set.resize, Resize::None) {
                    run = 0;
                } else {
                    if run == 0 {
                        resizes += 1;
                    }
                    run += 1;
                    longest = longest.max(run);
                }
            }
            // The index grew 14 times; the last growths (to 557,052 and 1,114,108 buckets)
            // wrote their pages and moved their buckets over tens of thousands of
            // insertions (43,520 for the longest), never in one.
            assert!(resizes >= 10, "{resizes} resizes");
            assert!(
                longest > 20_000,
                "the longest resize took {longest} insertions"
            );
            let set = ctx.state().strings.borrow();
            assert!((300_000..301_000).contains(&set.entries), "{}", set.entries);
        });
    }

    #[test]
    fn the_set_shrinks_after_its_strings_die_without_more_insertions() {
        let mut lua = crate::Lua::core();
        lua.exec("local t = {} for i = 1, 100000 do t[i] = 's' .. i end")
            .unwrap();
        let entries = |lua: &mut crate::Lua| {
            lua.enter(|ctx| {
                let i = ctx.state().strings.borrow();
                (i.entries, i.buckets.len())
            })
        };
        let big = entries(&mut lua);
        assert!(big.0 >= 100_000 && big.1 >= 100_000, "{big:?}");
        lua.gc_collect();
        // No string is made from here on: the steps prune and resize.
        for _ in 0..400 {
            lua.gc_step();
        }
        let small = entries(&mut lua);
        assert!(small.0 < 1_000 && small.1 < 10_000, "{big:?} -> {small:?}");
        lua.enter(|ctx| {
            let (a, b) = (ctx.new_string(b"s1"), ctx.new_string(b"s1"));
            assert!(LuaString::ptr_eq(a, b));
        });
    }
}
