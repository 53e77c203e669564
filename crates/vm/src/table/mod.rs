//! Lua tables with a deterministic layout.
//!
//! Layout: an array part holding keys `1..=array.len()` and a hash part in position order
//! (`entries` vector plus a `hashbrown::HashTable` of indices into it).
//!
//! Invariants:
//! - Keys are normalized: a float key with an exact integer value is stored as an integer;
//!   `nil` and NaN are never keys (a hole's nil, below, is no key: no lookup matches it).
//! - An integer key `k` with `1 <= k <= array.len()` lives only in the array part.
//! - Removing a key (assigning nil) leaves a tombstone (the entry keeps its key with a nil
//!   value), so `next` keeps working when fields are cleared during traversal; a full
//!   collection clearing a weak table's dead entry leaves a hole (nil key, nil value). Entries
//!   never move: a *new* key inserted into a full entries vector takes the lowest tombstone
//!   or hole (`free_slots`), if any, instead of growing it (inserting new keys during
//!   traversal is undefined behaviour in Lua, as in PUC). The index may keep a stale
//!   position for a key whose entry was reused or cleared: every lookup compares the key
//!   at the position it finds, so a stale one never matches (rebuilding the index drops
//!   them).
//! - Iteration order (`next`) is the array part in index order, then the hash part in the
//!   order of its positions: a pure function of the table's history, never of addresses or
//!   seeds. A snapshot that restores `array` and `entries` verbatim restores the exact
//!   order, and which position a later key takes.
//! - Hashes of keys are content hashes for strings and numbers and object ids for reference
//!   types (see `Value::object_id`).
//! - The array part never shrinks (only a rollback puts back a shorter one). Past its first
//!   `SEGMENT` slots it is traced by segments, and so is the hash part past its first
//!   `ENTRY_SEGMENT` entries (`segments`).

use std::cell::Cell;

use gc_arena::barrier::Write;
use gc_arena::{Collect, Gc, Mutation};

pub(crate) const GC_FLAG_FINALIZER: u8 = 1;
pub(crate) const GC_FLAG_WEAK: u8 = 2;
/// The table is read-only (`Table::freeze`).
pub(crate) const FLAG_FROZEN: u8 = 4;

mod free_slots;
mod segments;

use free_slots::FreeSlots;

use segments::{
    entry_needs_barrier, entry_segments_for, needs_barrier, segments_for, Segment, ENTRY_SEGMENT,
    SEGMENT_BYTES,
};
pub(crate) use segments::{Part, TableSegment, SEGMENT};

use crate::gc_unsafe::warm_index::{index_layout, with_warm_block, Index, IndexAlloc, WarmBlock};
use crate::journal::{copy_exact, Backup, Journaled, JournaledState};
use crate::object::{Reference, References};
use crate::state::Context;
use crate::string::{LuaString, MAX_INTERNED_LEN};
use crate::value::Value;

/// Why a raw store into a table was refused (the message is PUC's).
#[derive(Debug, Copy, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidKey {
    /// The key is nil.
    #[error("table index is nil")]
    Nil,
    /// The key is a float NaN.
    #[error("table index is NaN")]
    NaN,
    /// The table was frozen (`Table::freeze`), e.g. a library table in a sandbox.
    #[error("attempt to modify a read-only table")]
    ReadOnly,
}

/// `next` was given a key that is not in the table.
#[derive(Debug, Copy, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid key to 'next'")]
pub struct InvalidNextKey;

#[derive(Collect)]
#[collect(no_drop)]
pub struct TableInner<'gc> {
    #[collect(require_static)]
    id: u64,
    /// The contents. The cell's side word (`Journaled::side`) is the cache for tables used
    /// as metatables: bit `e` set means metamethod event `e` is known to be absent. Cleared on
    /// every store of a string key into this table (and by a rollback).
    ///
    /// Layout: with gc-arena's 16-byte header a table is a 120-byte allocation, a 128-byte
    /// chunk for glibc `malloc`: the largest size its fast bins take, which matters to
    /// allocation-heavy scripts (binary_trees). `object::tests` keeps it there.
    pub(crate) state: Journaled<TableState<'gc>>,
}

/// Traced by the manual `Collect` impl in `gc_unsafe` (the array's head, or all of it for a
/// state without segments, the entries, the metatable and the segments).
#[derive(Default)]
pub struct TableState<'gc> {
    pub(crate) array: Vec<Value<'gc>>,
    pub(crate) entries: Vec<(Value<'gc>, Value<'gc>)>,
    /// The index of a hash part of more than `SMALL_HASH_PART` entries (smaller ones are
    /// scanned) and the segments of big array and hash parts (see `segments`). `None`
    /// without any, and boxed, so that the many small tables do not carry an empty hash
    /// table's 32 bytes.
    pub(crate) aux: Option<Box<TableAux<'gc>>>,
    pub(crate) metatable: Option<Table<'gc>>,
    /// The table's bytes (object + buffers) in the VM's memory account; resynced whenever a
    /// buffer's capacity may have changed (`sync_charge`).
    pub(crate) charge: crate::memory::Charge,
    /// Entries of `entries` whose value is nil (positions are `u32`, like the index's).
    pub(crate) tombstones: u32,
    /// `GC_FLAG_FINALIZER`, `GC_FLAG_WEAK` (set once the table is registered for
    /// finalization or as a weak table) and `FLAG_FROZEN`.
    pub(crate) flags: u8,
}

/// The parts of a table that most tables do without (see `TableState::aux`).
#[derive(Default)]
pub(crate) struct TableAux<'gc> {
    /// Positions in `entries` by key hash, valid while the hash part has more than
    /// `SMALL_HASH_PART` entries. While `growth` is in progress it holds the entries before
    /// `growth.moved` and from `growth.end` on.
    pub(crate) index: Index,
    /// A big index growing in pieces (see `IndexGrowth`).
    pub(crate) growth: Option<Box<IndexGrowth>>,
    /// The memory of the index's next growth, faulted in while the index fills (see
    /// `NextIndex`).
    pub(crate) next_index: Option<Box<NextIndex>>,
    /// The positions of `entries` with a nil value, valid with the index (see
    /// `free_slots`).
    pub(crate) free: FreeSlots,
    /// The array part's segments (see `segments`).
    pub(crate) segments: Vec<Segment<'gc>>,
    /// The hash part's segments (see `segments`).
    pub(crate) entry_segments: Vec<Segment<'gc>>,
}

/// An index that grows in pieces: hashbrown rehashes a full table in one insertion (11 ms
/// for 229,000 entries, each key hashed again from `entries`, a cache miss each), so a
/// bigger one is made beside it and filled from `entries` a few positions an insertion.
///
/// Invariants: `old` holds positions `0..end` (the entries before the growth started),
/// `TableAux::index` positions `0..moved` and `end..entries.len()`, and the positions
/// reused since (entries never move; a reused position below `moved` is in the new index,
/// one above it may be twice once moved: harmless, both point to the same entry). A lookup
/// tries the new index, then the old. The new index was made with room for at least
/// `end + end / 2` positions (`growth_room`) and each insertion adds one and moves
/// `GROWTH_MOVES_PER_INSERT` (at least 4), so the growth ends (after at most `end / 4 + 1`
/// insertions) before the new index fills: it never rehashes in one piece either.
#[derive(Clone)]
pub(crate) struct IndexGrowth {
    old: Index,
    moved: u32,
    end: u32,
}

/// The block a big index's next growth will take, made when the index is three quarters
/// full and written a page every few insertions until it is full (see
/// `gc_unsafe::warm_index`: otherwise the growth's first step faults in most pages of the
/// new index, ~2 us each). Physical only: made, warmed and used or dropped as the index
/// fills, whatever the step sizes, and a growth that does not take it (its room is not
/// `room`) makes the same index without it.
pub(crate) struct NextIndex {
    block: WarmBlock,
    /// The room the growth will ask for, if the entries then number the index's capacity.
    room: usize,
    /// The index's free room when the block was made: the insertions over which it warms.
    window: usize,
}

/// An index with at most this fraction of its capacity free (1 / `WARM_WINDOW_DIVISOR`)
/// warms its next growth's memory.
const WARM_WINDOW_DIVISOR: usize = 4;

/// Indexes of at least this many positions grow in pieces (`IndexGrowth`); smaller ones are
/// rehashed at once by hashbrown (16,384 positions: about 0.3 ms).
const GROWTH_IN_PIECES_MIN: usize = 1 << 14;

/// The room of the index a full index of `capacity` positions grows into in pieces when
/// position `end` is about to be inserted (see `IndexGrowth`): twice as many positions
/// (hashbrown's doubling), and at least one and a half times `end` (the entries can
/// outnumber the index's positions: holes left by collections are not indexed).
fn growth_room(capacity: usize, end: usize) -> usize {
    capacity
        .saturating_mul(2)
        .max(end.saturating_add(end / 2))
        .max(GROWTH_IN_PIECES_MIN)
}

/// Positions of the old index an insertion moves into the new one while an index grows.
const GROWTH_MOVES_PER_INSERT: u32 = 4;

impl Drop for TableState<'_> {
    fn drop(&mut self) {
        // A big array or hash part goes back to the allocator after the step, in pieces
        // (`memory::free_slots_later`); its charge left the count with the table's.
        if self.array.capacity() * std::mem::size_of::<Value>() >= crate::memory::DEFERRED_FREE_MIN
        {
            let array = std::mem::take(&mut self.array);
            crate::memory::free_slots_later(crate::gc_unsafe::emptied_buffer(array));
        }
        let entry = std::mem::size_of::<(Value, Value)>();
        if self.entries.capacity() * entry >= crate::memory::DEFERRED_FREE_MIN {
            let entries = std::mem::take(&mut self.entries);
            crate::memory::free_slots_later(crate::gc_unsafe::emptied_buffer(entries));
        }
    }
}

// ---- the description of a table (see `object`) ----

impl<'gc> References<'gc> for TableState<'gc> {
    fn references(&self, f: &mut impl FnMut(Reference<'gc>)) {
        let TableState {
            array,
            entries,
            aux: _, // the index, and segments, which read `array`
            tombstones: _,
            metatable,
            flags: _,
            charge: _,
        } = self;
        array.references(f);
        for (k, v) in entries {
            k.references(f);
            v.references(f);
        }
        metatable.references(f);
    }
}

impl<'gc> JournaledState<'gc> for TableState<'gc> {
    type Owner = Table<'gc>;

    fn save(&self) -> Self {
        let TableState {
            array,
            entries,
            aux,
            tombstones,
            metatable,
            flags,
            charge,
        } = self;
        // (Without the segments: a copy traces its array itself, see `segments`.)
        let indexed = aux.as_deref().filter(|_| entries.len() > SMALL_HASH_PART);
        TableState {
            array: copy_exact(array, array.capacity()),
            entries: copy_exact(entries, entries.capacity()),
            aux: indexed.map(|aux| {
                Box::new(TableAux {
                    index: aux.index.clone(),
                    growth: aux.growth.clone(),
                    next_index: None,
                    free: aux.free.clone(),
                    segments: Vec::new(),
                    entry_segments: Vec::new(),
                })
            }),
            tombstones: *tombstones,
            metatable: *metatable,
            flags: *flags,
            charge: charge.detached(),
        }
    }

    fn restore(&mut self, mut saved: Self) {
        // Every field comes back, except that the object keeps its own (accounted) charge,
        // set to the saved amount (the detached one is dropped with the old state), and its
        // segments, cut to the restored capacities (the caller makes them match and gray
        // again: `segments_restored`).
        let bytes = saved.charge.get();
        std::mem::swap(&mut self.charge, &mut saved.charge);
        let (mut segments, mut entry_segments) = match self.aux.as_deref_mut() {
            Some(aux) => (
                std::mem::take(&mut aux.segments),
                std::mem::take(&mut aux.entry_segments),
            ),
            None => (Vec::new(), Vec::new()),
        };
        *self = saved;
        self.charge.set(bytes);
        segments.truncate(segments_for(self.array.capacity()));
        entry_segments.truncate(entry_segments_for(self.entries.capacity()));
        if !segments.is_empty() || !entry_segments.is_empty() {
            let aux = self.aux.get_or_insert_with(Default::default);
            aux.segments = segments;
            aux.entry_segments = entry_segments;
        }
    }

    fn backup(owner: Table<'gc>, saved: Box<Self>) -> Backup<'gc> {
        Backup::Table(owner, saved)
    }
}

/// A Lua table: a handle (cheap to copy) to an array part plus a hash part (see the module docs).
/// Its methods are raw (no metamethods). Every mutation is journaled for `snap`/`rollback`.
/// Iteration order (`next`) is the array part, then entries in position order (new keys are
/// appended, or take a removed key's place once the part is full): deterministic.
#[derive(Copy, Clone, Collect)]
#[collect(no_drop)]
pub struct Table<'gc>(pub(crate) Gc<'gc, TableInner<'gc>>);

#[inline]
fn mix(x: u64) -> u64 {
    let x = (x ^ (x >> 32)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^ (x >> 29)
}

/// Hash parts with at most this many entries are searched linearly and have no index.
const SMALL_HASH_PART: usize = 8;

/// Equality of normalized keys (raw equality; strings by pointer first).
#[inline(always)]
fn key_eq<'gc>(a: Value<'gc>, b: Value<'gc>) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Integer(x), Value::Integer(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::Boolean(x), Value::Boolean(y)) => x == y,
        (Value::Table(x), Value::Table(y)) => Gc::ptr_eq(x.0, y.0),
        (
            Value::Integer(_)
            | Value::Float(_)
            | Value::String(_)
            | Value::Boolean(_)
            | Value::Table(_),
            _,
        ) => false,
        _ => a.raw_eq(b),
    }
}

/// The hash of a normalized key.
#[inline]
pub(crate) fn key_hash(key: Value<'_>) -> u64 {
    match key {
        Value::Integer(i) => mix(i as u64),
        Value::Float(f) => mix(f.to_bits() ^ 0x5555),
        Value::String(s) => s.content_hash(),
        Value::Boolean(b) => mix(b as u64 + 0x1234_5678),
        Value::Nil => 0,
        other => mix(other.object_id().unwrap_or(0) ^ 0xABCD_0000_0000),
    }
}

/// Normalizes a key for storage/lookup: integral floats become integers.
#[inline]
pub(crate) fn normalize_key(key: Value<'_>) -> Result<Value<'_>, InvalidKey> {
    match key {
        Value::Nil => Err(InvalidKey::Nil),
        Value::Float(f) => {
            if f.is_nan() {
                Err(InvalidKey::NaN)
            } else if let Some(i) = crate::number::float_to_int(f) {
                Ok(Value::Integer(i))
            } else {
                Ok(key)
            }
        }
        _ => Ok(key),
    }
}

/// An index of the positions of `entries` that have a key, with room for `room`.
fn index_of(entries: &[(Value<'_>, Value<'_>)], room: usize) -> Index {
    let mut index = Index::with_capacity_in(room, IndexAlloc);
    for (i, (k, _)) in entries.iter().enumerate() {
        if !k.is_nil() {
            index.insert_unique(key_hash(*k), i as u32, |&j| key_hash(entries[j as usize].0));
        }
    }
    index
}

impl TableAux<'_> {
    /// Starts growing the full index of `entries`, whose position `end` is about to be
    /// inserted (see `IndexGrowth`). One still in progress (it cannot be, see there) is
    /// finished first.
    #[cold]
    #[inline(never)]
    fn start_growth(&mut self, entries: &[(Value<'_>, Value<'_>)], end: u32) {
        if self.growth.is_some() {
            self.finish_growth(entries);
            if self.index.len() < self.index.capacity() {
                return;
            }
        }
        let room = growth_room(self.index.capacity(), end as usize);
        let new = match self.next_index.take() {
            Some(next) if next.room == room => {
                with_warm_block(next.block, || Index::with_capacity_in(room, IndexAlloc))
            }
            _ => Index::with_capacity_in(room, IndexAlloc),
        };
        let old = std::mem::replace(&mut self.index, new);
        self.growth = Some(Box::new(IndexGrowth { old, moved: 0, end }));
    }

    /// Warms the memory of the next growth of an index that is filling (see `NextIndex`):
    /// after an insertion into an index that will grow in pieces and is at least three
    /// quarters full, the pages due by now, spread evenly over the insertions left.
    #[inline]
    fn warm_next_index(&mut self) {
        let capacity = self.index.capacity();
        let free = capacity - self.index.len().min(capacity);
        if capacity < GROWTH_IN_PIECES_MIN || free > capacity / WARM_WINDOW_DIVISOR {
            return;
        }
        self.warm_next_index_slow(capacity, free);
    }

    #[cold]
    #[inline(never)]
    fn warm_next_index_slow(&mut self, capacity: usize, free: usize) {
        let next = match &mut self.next_index {
            Some(next) => next,
            None => {
                let room = growth_room(capacity, capacity + 1);
                let Some(block) = index_layout(room).and_then(WarmBlock::new) else {
                    return;
                };
                self.next_index.insert(Box::new(NextIndex {
                    block,
                    room,
                    window: free.max(1),
                }))
            }
        };
        // Pages due after this insertion: the share of the window's insertions done, the
        // last page due with the last insertion before the index is full.
        let done = next.window.saturating_sub(free) + 1;
        let pages = next.block.pages();
        let due = (pages as u128 * done as u128).div_ceil(next.window as u128);
        next.block.warm_until(due.min(pages as u128) as usize);
    }

    /// Moves the next positions of a growing index into the new one (an insertion's share).
    #[inline(never)]
    fn continue_growth(&mut self, entries: &[(Value<'_>, Value<'_>)]) {
        self.move_positions(entries, GROWTH_MOVES_PER_INSERT);
    }

    /// Moves what is left of a growing index.
    fn finish_growth(&mut self, entries: &[(Value<'_>, Value<'_>)]) {
        self.move_positions(entries, u32::MAX);
    }

    fn move_positions(&mut self, entries: &[(Value<'_>, Value<'_>)], most: u32) {
        let Some(growth) = self.growth.as_deref_mut() else {
            return;
        };
        let stop = growth.moved.saturating_add(most).min(growth.end);
        for p in growth.moved..stop {
            // (A hole, cleared by a collection, has no key to index.)
            let key = entries.get(p as usize).map_or(Value::Nil, |e| e.0);
            if !key.is_nil() {
                self.index
                    .insert_unique(key_hash(key), p, |&i| key_hash(entries[i as usize].0));
            }
        }
        growth.moved = stop;
        if stop == growth.end {
            self.growth = None;
        }
    }
}

impl<'gc> TableState<'gc> {
    #[inline]
    fn find_entry(&self, key: Value<'gc>) -> Option<usize> {
        if let Value::String(s) = key {
            if s.len() <= MAX_INTERNED_LEN {
                if self.entries.len() <= SMALL_HASH_PART {
                    return self.find_short_str(s);
                }
                // Interned: the same object or a different key (no dispatch on the
                // stored key's type).
                let entries = &self.entries;
                return self.find_indexed(s.content_hash(), |i| {
                    matches!(entries[i as usize].0, Value::String(k) if LuaString::ptr_eq(k, s))
                });
            }
        }
        if self.entries.len() <= SMALL_HASH_PART {
            // Small hash parts have no index: a scan is cheaper than hashing, and interned
            // string keys compare by pointer.
            return self.entries.iter().position(|(k, _)| key_eq(*k, key));
        }
        let entries = &self.entries;
        self.find_indexed(key_hash(key), |i| key_eq(entries[i as usize].0, key))
    }

    /// The position the index gives for `hash` and a key `eq` accepts: in the index, then in
    /// the one it is growing from (see `IndexGrowth`).
    #[inline(always)]
    fn find_indexed(&self, hash: u64, mut eq: impl FnMut(u32) -> bool) -> Option<usize> {
        let aux = self.aux.as_deref()?;
        match aux.index.find(hash, |&i| eq(i)) {
            Some(&i) => Some(i as usize),
            None => self.find_in_old_index(hash, eq),
        }
    }

    /// `find_indexed`'s second try, while an index grows.
    #[inline(never)]
    fn find_in_old_index(&self, hash: u64, mut eq: impl FnMut(u32) -> bool) -> Option<usize> {
        let growth = self.aux.as_deref()?.growth.as_deref()?;
        growth.old.find(hash, |&i| eq(i)).map(|&i| i as usize)
    }

    /// Scan for an interned (short) string key: equal short strings are the same object, so
    /// a pointer comparison decides.
    #[inline]
    fn find_short_str(&self, key: LuaString<'gc>) -> Option<usize> {
        self.entries
            .iter()
            .position(|(k, _)| matches!(k, Value::String(s) if LuaString::ptr_eq(*s, key)))
    }

    /// A string key's position, looked up, kept as `hint` for the next access by the same
    /// constant key (a field hint: `FunctionProto::field_hints`) when it fits.
    #[inline]
    fn find_str_and_hint(&self, key: LuaString<'gc>, hint: &Cell<u16>) -> Option<usize> {
        let found = self.find_entry(Value::String(key));
        if let Some(i16) = found.and_then(|i| u16::try_from(i).ok()) {
            hint.set(i16);
        }
        found
    }

    #[inline]
    pub(crate) fn get(&self, key: Value<'gc>) -> Value<'gc> {
        match key {
            Value::Integer(i) => self.get_int(i),
            Value::String(_) => self.get_from_hash(key),
            Value::Nil => Value::Nil,
            Value::Float(f) => match crate::number::float_to_int(f) {
                Some(i) => self.get_int(i),
                None if f.is_nan() => Value::Nil,
                None => self.get_from_hash(key),
            },
            _ => self.get_from_hash(key),
        }
    }

    #[inline]
    pub(crate) fn get_int(&self, i: i64) -> Value<'gc> {
        if (i as u64).wrapping_sub(1) < self.array.len() as u64 {
            self.array[(i - 1) as usize]
        } else {
            self.get_from_hash(Value::Integer(i))
        }
    }

    #[inline]
    fn get_from_hash(&self, key: Value<'gc>) -> Value<'gc> {
        match self.find_entry(key) {
            Some(i) => self.entries[i].1,
            None => Value::Nil,
        }
    }

    /// The bytes this table holds: the object and the capacity of its buffers.
    pub(crate) fn bytes(&self) -> usize {
        crate::memory::GC_HEADER + std::mem::size_of::<TableInner<'static>>() + self.buffer_bytes()
    }

    /// The bytes of the buffers (array, entries, index) and of the segments.
    pub(crate) fn buffer_bytes(&self) -> usize {
        let segments =
            segments_for(self.array.capacity()) + entry_segments_for(self.entries.capacity());
        self.backup_bytes()
            + segments * SEGMENT_BYTES
            + if segments > 0 && self.entries.capacity() <= SMALL_HASH_PART {
                std::mem::size_of::<TableAux<'static>>()
            } else {
                0
            }
    }

    /// The bytes of the buffers (array, entries, index): what a saved copy of this state
    /// holds (it has no segments).
    pub(crate) fn backup_bytes(&self) -> usize {
        self.array.capacity() * std::mem::size_of::<Value<'static>>()
            + self.entries.capacity() * std::mem::size_of::<(Value<'static>, Value<'static>)>()
            // The index and the segments are sized from the entries and the array (their own
            // capacities depend on how they were built, which a snapshot restore does not
            // replay).
            + if self.entries.capacity() > SMALL_HASH_PART {
                std::mem::size_of::<TableAux<'static>>()
                    + self.entries.capacity() * (std::mem::size_of::<u32>() + 1)
                    + FreeSlots::bytes_for(self.entries.capacity())
            } else {
                0
            }
    }

    /// Brings the memory charge up to date after buffers may have grown or shrunk.
    #[inline]
    pub(crate) fn sync_charge(&self) {
        self.charge.set(self.bytes());
    }

    /// Raw set into the state of `owner` (this one, borrowed mutably and saved in the
    /// journal). The key must already be normalized and valid.
    pub(crate) fn set_normalized(
        &mut self,
        mc: &Mutation<'gc>,
        owner: Table<'gc>,
        key: Value<'gc>,
        value: Value<'gc>,
    ) {
        if let Value::Integer(i) = key {
            let len = self.array.len();
            let idx = (i as u64).wrapping_sub(1);
            if idx < len as u64 {
                if needs_barrier(idx as usize, value) {
                    self.slot_barrier(mc, idx as usize);
                }
                self.array[idx as usize] = value;
                return;
            }
            if idx == len as u64 && !value.is_nil() {
                // Appending to the array part; first drop any hash entry for this key.
                if let Some(e) = self.find_entry(key) {
                    self.kill_entry(e);
                }
                let cap = self.array.capacity();
                self.array.push(value);
                self.migrate_from_hash();
                if self.array.capacity() != cap {
                    self.array_grown(mc, owner);
                }
                for idx in len..self.array.len() {
                    if needs_barrier(idx, self.array[idx]) {
                        self.slot_barrier(mc, idx);
                    }
                }
                return;
            }
        }
        match self.find_entry(key) {
            Some(e) => {
                let old = self.entries[e].1;
                if old.is_nil() && !value.is_nil() {
                    self.tombstones -= 1;
                    self.note_free(e, false);
                } else if !old.is_nil() && value.is_nil() {
                    self.tombstones += 1;
                    self.note_free(e, true);
                }
                if entry_needs_barrier(e, Value::Nil, value) {
                    self.entry_barrier(mc, e);
                }
                self.entries[e].1 = value;
            }
            None => {
                if value.is_nil() {
                    return;
                }
                self.insert_new(mc, owner, key, value);
            }
        }
    }

    fn kill_entry(&mut self, e: usize) {
        if !self.entries[e].1.is_nil() {
            self.entries[e].1 = Value::Nil;
            self.tombstones += 1;
            self.note_free(e, true);
        }
    }

    /// Entry `e`'s value just became nil (`free`) or not: the set of free positions
    /// follows (kept only while the part is indexed, see `free_slots`).
    #[inline]
    fn note_free(&mut self, e: usize, free: bool) {
        if self.entries.len() > SMALL_HASH_PART {
            if let Some(aux) = self.aux.as_deref_mut() {
                if free {
                    aux.free.insert(e);
                } else {
                    aux.free.remove(e);
                }
            }
        }
    }

    /// Clears entry `e` of a weak table whose key or value died in a full collection: it
    /// becomes a hole (no key, no value), a free position like a tombstone.
    pub(crate) fn clear_entry(&mut self, e: usize) {
        let Some(entry) = self.entries.get_mut(e) else {
            return;
        };
        let held = !entry.1.is_nil();
        *entry = (Value::Nil, Value::Nil);
        if held {
            self.tombstones += 1;
            self.note_free(e, true);
        }
    }

    /// The lowest position whose value is nil (a tombstone or a hole), if any. (The set's
    /// answer is checked against the entries: a broken invariant then grows the part
    /// rather than overwrite a live entry or index past the end.)
    fn lowest_free(&self) -> Option<usize> {
        if self.tombstones == 0 {
            return None;
        }
        if self.entries.len() <= SMALL_HASH_PART {
            return self.entries.iter().position(|(_, v)| v.is_nil());
        }
        let p = self.aux.as_deref()?.free.lowest()?;
        self.entries
            .get(p)
            .is_some_and(|e| e.1.is_nil())
            .then_some(p)
    }

    /// `set_normalized` of keys `len + 1, len + 2, ...` (`len` the array part's length) to
    /// the leading non-nil `values`, in one append: what a table constructor's `SetList`
    /// does to a fresh table. Only while the hash part holds no live entry (none of those
    /// keys can be there, nor keys just past them to migrate); returns how many values it
    /// stored (0 otherwise): the caller stores the rest one by one.
    pub(crate) fn append_to_array(
        &mut self,
        mc: &Mutation<'gc>,
        owner: Table<'gc>,
        values: &[Value<'gc>],
    ) -> usize {
        if self.entries.len() != self.tombstones as usize {
            return 0;
        }
        let k = values
            .iter()
            .position(|v| v.is_nil())
            .unwrap_or(values.len());
        let len = self.array.len();
        let cap = self.array.capacity();
        self.array.extend_from_slice(&values[..k]);
        if self.array.capacity() != cap {
            self.array_grown(mc, owner);
        }
        if len + k > SEGMENT {
            for idx in len..len + k {
                if needs_barrier(idx, self.array[idx]) {
                    self.slot_barrier(mc, idx);
                }
            }
        }
        k
    }

    /// After the array part grew, move following integer keys from the hash part.
    fn migrate_from_hash(&mut self) {
        if self.entries.len() == self.tombstones as usize {
            return;
        }
        loop {
            let next = Value::Integer(self.array.len() as i64 + 1);
            match self.find_entry(next) {
                Some(e) if !self.entries[e].1.is_nil() => {
                    let v = self.entries[e].1;
                    self.kill_entry(e);
                    self.array.push(v);
                }
                _ => break,
            }
        }
    }

    fn insert_new(
        &mut self,
        mc: &Mutation<'gc>,
        owner: Table<'gc>,
        key: Value<'gc>,
        value: Value<'gc>,
    ) {
        let full = self.entries.len() == self.entries.capacity();
        // A full vector gives its lowest free position to the new key rather than grow, so
        // a table that removes a key for each it adds keeps its size, and entries never
        // move (compacting them was a pass over every entry and a rebuilt index in one
        // insertion: 4 to 6 ms at 400,000 entries).
        let reused = if full { self.lowest_free() } else { None };
        let idx = match reused {
            Some(p) => {
                self.entries[p] = (key, value);
                self.tombstones -= 1;
                self.note_free(p, false);
                p
            }
            None => {
                self.entries.push((key, value));
                if full {
                    self.sync_segments(mc, owner.0);
                }
                self.entries.len() - 1
            }
        };
        if entry_needs_barrier(idx, key, value) {
            self.entry_barrier(mc, idx);
        }
        if self.entries.len() == SMALL_HASH_PART + 1 && reused.is_none() {
            self.rebuild_index();
        } else if self.entries.len() > SMALL_HASH_PART {
            self.index_position(key, idx);
        }
        if full && reused.is_none() {
            self.sync_charge();
        }
    }

    /// Puts `key`'s new position `idx` (just written) in the index. A full index grows:
    /// in pieces when big (`IndexGrowth`); a smaller one is rebuilt from the entries with
    /// room for twice as many (hashbrown's own growth would keep the stale positions).
    fn index_position(&mut self, key: Value<'gc>, idx: usize) {
        let Some(aux) = self.aux.as_deref_mut() else {
            return;
        };
        let entries = &self.entries;
        let full = aux.index.len() == aux.index.capacity();
        if full && aux.growth.is_none() && aux.index.len() < GROWTH_IN_PIECES_MIN {
            // (`idx` is among the entries it indexes.)
            aux.index = index_of(entries, 2 * entries.len());
            return;
        }
        if full {
            aux.start_growth(entries, entries.len() as u32);
        }
        aux.index.insert_unique(key_hash(key), idx as u32, |&i| {
            key_hash(entries[i as usize].0)
        });
        if aux.growth.is_some() {
            aux.continue_growth(entries);
        } else {
            aux.warm_next_index();
        }
    }

    /// Builds the index and the set of free positions from the entries (none for a part of
    /// at most `SMALL_HASH_PART` entries).
    pub(crate) fn rebuild_index(&mut self) {
        if self.entries.len() <= SMALL_HASH_PART {
            if let Some(aux) = self.aux.as_deref_mut() {
                aux.index = Index::new_in(IndexAlloc);
                aux.growth = None;
                aux.next_index = None;
                aux.free = FreeSlots::default();
            }
            self.drop_empty_aux();
            return;
        }
        let aux = self.aux.get_or_insert_with(Default::default);
        aux.growth = None;
        aux.next_index = None;
        aux.index = index_of(&self.entries, self.entries.len());
        aux.free = FreeSlots::of(&self.entries, |v| v.is_nil());
    }

    /// Drops the boxed parts when there is neither an index nor a segment.
    fn drop_empty_aux(&mut self) {
        if self.aux.as_deref().is_some_and(|a| {
            a.segments.is_empty()
                && a.entry_segments.is_empty()
                && a.index.is_empty()
                && a.growth.is_none()
        }) {
            self.aux = None;
        }
    }

    /// After the array's capacity changed (or a restore set the contents): its segments and
    /// charge follow.
    #[inline(never)]
    pub(crate) fn array_grown(&mut self, mc: &Mutation<'gc>, owner: Table<'gc>) {
        self.sync_segments(mc, owner.0);
        self.sync_charge();
    }

    /// Appends `value` to a full array part of `owner` (this state): grows it first.
    /// (Out of line: inlined into the interpreter's loop, this path made the compiler keep
    /// the instruction pointer on the stack, +4 instructions a loop iteration on sieve.)
    #[inline(never)]
    fn push_growing(&mut self, mc: &Mutation<'gc>, owner: Table<'gc>, value: Value<'gc>) {
        let idx = self.array.len();
        self.array.push(value);
        self.array_grown(mc, owner);
        if needs_barrier(idx, value) {
            self.slot_barrier(mc, idx);
        }
    }

    /// A border of the table (`#t` without `__len`).
    pub(crate) fn length(&self) -> i64 {
        let n = self.array.len();
        if n > 0 && self.array[n - 1].is_nil() {
            // Binary search for a border inside the array part: a[lo] non-nil (or lo == 0),
            // a[hi] nil.
            let (mut lo, mut hi) = (0usize, n);
            while hi - lo > 1 {
                let m = (lo + hi) / 2;
                if self.array[m - 1].is_nil() {
                    hi = m;
                } else {
                    lo = m;
                }
            }
            return lo as i64;
        }
        if self.entries.len() == self.tombstones as usize {
            return n as i64;
        }
        // Unbounded search in the hash part, like PUC's `hash_search`.
        let mut i = n as u64;
        let mut j = i + 1;
        while !self.get_int(j as i64).is_nil() {
            i = j;
            if j > (i64::MAX as u64) / 2 {
                // Pathological: linear search.
                let mut k = 1u64;
                while !self.get_int(k as i64).is_nil() {
                    k += 1;
                }
                return k as i64 - 1;
            }
            j *= 2;
        }
        while j - i > 1 {
            let m = (i + j) / 2;
            if self.get_int(m as i64).is_nil() {
                j = m;
            } else {
                i = m;
            }
        }
        i as i64
    }

    /// The entry after `key` in traversal order (`None` = end). `Err` if `key` is not in
    /// the table.
    pub(crate) fn next(
        &self,
        key: Value<'gc>,
    ) -> Result<Option<(Value<'gc>, Value<'gc>)>, InvalidNextKey> {
        let mut array_pos = 0usize;
        let mut entry_pos = 0usize;
        match key {
            Value::Nil => {}
            _ => {
                let key = normalize_key(key).map_err(|_| InvalidNextKey)?;
                match key {
                    Value::Integer(i) if (i as u64).wrapping_sub(1) < self.array.len() as u64 => {
                        array_pos = i as usize;
                    }
                    _ => {
                        array_pos = self.array.len();
                        entry_pos = self.find_entry(key).ok_or(InvalidNextKey)? + 1;
                    }
                }
            }
        }
        while array_pos < self.array.len() {
            let v = self.array[array_pos];
            array_pos += 1;
            if !v.is_nil() {
                return Ok(Some((Value::Integer(array_pos as i64), v)));
            }
        }
        while entry_pos < self.entries.len() {
            let (k, v) = self.entries[entry_pos];
            entry_pos += 1;
            if !v.is_nil() {
                return Ok(Some((k, v)));
            }
        }
        Ok(None)
    }
}

impl<'gc> Table<'gc> {
    /// A new empty table with the given object id (use `Context::new_table`).
    /// `epoch` is the journal's current one (`Journal::epoch`). A table with a host id
    /// (`Context::new_pause_table`) is host machinery: its bytes are a host charge, never
    /// in `collectgarbage("count")`.
    pub(crate) fn with_id(
        mc: &Mutation<'gc>,
        epoch: u32,
        id: u64,
        array: usize,
        hash: usize,
    ) -> Self {
        if crate::state::is_host_id(id) {
            return Self::with_host_id(mc, epoch, id, array);
        }
        Self::build(mc, epoch, id, array, hash, TableState::default())
    }

    /// A table with object id `id` and contents `state` (whose charge is replaced: see
    /// `with_id` for host ids). For restores, which make tables whole when their contents
    /// refer to nothing not made yet.
    pub(crate) fn with_state(mc: &Mutation<'gc>, id: u64, mut state: TableState<'gc>) -> Self {
        state.charge = if crate::state::is_host_id(id) {
            crate::memory::Charge::new_host(0)
        } else {
            crate::memory::Charge::default()
        };
        Self::build(mc, 0, id, 0, 0, state)
    }

    /// [`Table::with_id`] for a host id.
    #[cold]
    #[inline(never)]
    fn with_host_id(mc: &Mutation<'gc>, epoch: u32, id: u64, array: usize) -> Self {
        let mut state = TableState::default();
        state.charge = crate::memory::Charge::new_host(0);
        Self::build(mc, epoch, id, array, 0, state)
    }

    #[inline(always)]
    fn build(
        mc: &Mutation<'gc>,
        epoch: u32,
        id: u64,
        array: usize,
        hash: usize,
        mut state: TableState<'gc>,
    ) -> Self {
        // Exactly the constructor's sizes (`reserve` would round a small request up to
        // `Vec`'s least capacity, 4: a `{x = 1, y = 2}` record took 64 bytes more than its
        // two entries; PUC rounds a hash part up to a power of two, which entries that are
        // not a hash table's buckets do not need).
        if array > 0 {
            state.array.reserve_exact(array.min(1 << 16));
        }
        if hash > 0 {
            state.entries.reserve_exact(hash.min(1 << 16));
        }
        state.sync_charge();
        let big = state.array.capacity() > SEGMENT || state.entries.capacity() > ENTRY_SEGMENT;
        let t = Table(Gc::new(
            mc,
            TableInner {
                id,
                state: Journaled::new(epoch, state),
            },
        ));
        if big {
            t.make_segments(mc);
        }
        t
    }

    /// Makes the segments of a new table's big array or hash part (they point to the table).
    #[cold]
    #[inline(never)]
    fn make_segments(self, mc: &Mutation<'gc>) {
        Journaled::borrow_mut_unjournaled(self.cell(mc)).sync_segments(mc, self.0);
    }

    /// The table's object id (see [`Value::object_id`]).
    #[inline]
    pub fn id(self) -> u64 {
        self.0.id
    }

    /// Raw get (`rawget`): nil when absent. Float keys with integral values find integer keys.
    #[inline]
    pub fn get(self, key: Value<'gc>) -> Value<'gc> {
        self.0.state.borrow().get(key)
    }

    /// Raw get of integer key `i` (the array part's fast path).
    #[inline]
    pub fn get_int(self, i: i64) -> Value<'gc> {
        self.0.state.borrow().get_int(i)
    }

    /// Raw set (no metamethods).
    pub fn set(
        self,
        ctx: Context<'gc>,
        key: Value<'gc>,
        value: Value<'gc>,
    ) -> Result<(), InvalidKey> {
        // (Checked before the journaled borrow: a refused write must not copy the table
        // into the ring.)
        if self.is_frozen() {
            return Err(InvalidKey::ReadOnly);
        }
        let key = normalize_key(key)?;
        // An array slot or an append: without the general path (87 instructions a store into
        // an array slot through it).
        if let Value::Integer(i) = key {
            if self.set_int_fast(ctx, i, value) {
                return Ok(());
            }
        }
        self.set_general(ctx, key, value);
        Ok(())
    }

    /// `set` of a normalized key into a table that is not frozen, past the fast path.
    /// (Inlined: out of line, the string-keyed stores of the interpreter's slow paths paid a
    /// call and their values' trip through memory: oop_methods +1.6% instructions.)
    #[inline(always)]
    fn set_general(self, ctx: Context<'gc>, key: Value<'gc>, value: Value<'gc>) {
        let mut st = match key {
            Value::Integer(i) => self.borrow_mut_for_int(ctx, i),
            _ => self.borrow_mut(ctx),
        };
        if let Value::String(_) = key {
            self.0.state.side().set(0);
        }
        st.set_normalized(ctx.mutation(), self, key, value);
    }

    /// Raw set of integer key `i` (`set` with `Value::Integer(i)`, which skips the generic
    /// key path when `i` is an existing slot of the array part, or the next one while the
    /// hash part is empty: an append).
    ///
    /// ```
    /// # use lunette_vm::{Lua, Value};
    /// let mut lua = Lua::core();
    /// lua.enter(|ctx| {
    ///     let t = ctx.new_table();
    ///     t.set_int(ctx, 1, Value::Integer(10)).unwrap();
    ///     t.set_int(ctx, 5, Value::Boolean(true)).unwrap();
    ///     assert_eq!(t.get_int(1), Value::Integer(10));
    ///     assert_eq!(t.get(Value::Integer(5)), Value::Boolean(true));
    ///     t.freeze(ctx);
    ///     assert!(t.set_int(ctx, 1, Value::Nil).is_err());
    ///     assert_eq!(t.get_int(1), Value::Integer(10));
    /// });
    /// ```
    #[inline]
    pub fn set_int(self, ctx: Context<'gc>, i: i64, value: Value<'gc>) -> Result<(), InvalidKey> {
        // (Checked before the journaled borrow, as in `set`.)
        if self.is_frozen() {
            return Err(InvalidKey::ReadOnly);
        }
        if !self.set_int_fast(ctx, i, value) {
            self.set_general(ctx, Value::Integer(i), value);
        }
        Ok(())
    }

    /// Mutable access to the contents. The first write of a snapshot epoch saves the current
    /// contents in the journal first (see `journal`).
    #[inline(always)]
    pub(crate) fn borrow_mut(self, ctx: Context<'gc>) -> std::cell::RefMut<'gc, TableState<'gc>> {
        Journaled::borrow_mut(self.cell(ctx.mutation()), ctx, self)
    }

    /// Mutable access for a store of integer key `i`: like `borrow_mut`, except that a
    /// store into an existing slot of a big array part saves only the slot's page in the
    /// journal (see `journal`'s module docs).
    #[inline(always)]
    pub(crate) fn borrow_mut_for_int(
        self,
        ctx: Context<'gc>,
        i: i64,
    ) -> std::cell::RefMut<'gc, TableState<'gc>> {
        if !self.0.state.saved_in(ctx.state().journal.epoch()) {
            if let Some(st) = self.borrow_mut_by_page(ctx, i) {
                return st;
            }
        }
        self.borrow_mut(ctx)
    }

    /// The page path of `borrow_mut_for_int`; `None` when the whole state is to be saved.
    #[cold]
    #[inline(never)]
    fn borrow_mut_by_page(
        self,
        ctx: Context<'gc>,
        i: i64,
    ) -> Option<std::cell::RefMut<'gc, TableState<'gc>>> {
        let journal = ctx.state().journal;
        {
            let st = self.0.state.try_borrow().ok()?;
            let idx = (i as u64).wrapping_sub(1);
            if st.array.len() < crate::journal::PAGED_ARRAY_MIN
                || idx >= st.array.len() as u64
                || st.flags & FLAG_FROZEN != 0
            {
                return None;
            }
            if !journal.save_array_page(ctx.mutation(), self, &st.array, idx as usize) {
                return None;
            }
        }
        Some(Journaled::borrow_mut_unjournaled(self.cell(ctx.mutation())))
    }

    /// The journaled cell, behind the write barrier (mutations go through `Journaled`).
    #[inline(always)]
    pub(crate) fn cell(self, mc: &Mutation<'gc>) -> &'gc Write<Journaled<TableState<'gc>>> {
        gc_arena::barrier::field!(Gc::write(mc, self.0), TableInner, state)
    }

    /// Raw store of an integer key when it can be done without hashing: an existing array
    /// slot, or an append while the hash part is empty. Returns `false` (nothing done) when
    /// the general path is needed.
    ///
    /// Inlined into the interpreter's loop, it does the plain cases only: a store into an
    /// existing slot (the segment barrier first, when `needs_barrier`), or an append into
    /// the capacity that needs no barrier; a growing append or one that needs the barrier
    /// goes through `set_int_barriered`. (With those inlined, the compiler kept the loop's
    /// instruction pointer on the stack: +4 instructions a loop iteration on sieve. This
    /// arrangement executes 1.5% fewer instructions than before segments on sieve and 0.8%
    /// more on spectral_norm, callgrind.)
    #[inline(always)]
    pub(crate) fn set_int_fast(self, ctx: Context<'gc>, i: i64, value: Value<'gc>) -> bool {
        let mut st = self.borrow_mut_for_int(ctx, i);
        if st.flags & FLAG_FROZEN != 0 {
            return false;
        }
        let len = st.array.len();
        let idx = (i as u64).wrapping_sub(1);
        if idx < len as u64 {
            if needs_barrier(idx as usize, value) {
                st.slot_barrier(ctx.mutation(), idx as usize);
            }
            st.array[idx as usize] = value;
            true
        } else if idx == len as u64 && st.entries.is_empty() && !value.is_nil() {
            if len == st.array.capacity() || needs_barrier(idx as usize, value) {
                drop(st);
                return self.set_int_barriered(ctx, idx, value);
            }
            st.array.push(value);
            true
        } else {
            false
        }
    }

    /// `set_int_fast`'s append that needs a segment barrier (a collectable value, slot `idx`
    /// past the head) or grows the array; the caller checked that the table is not frozen
    /// and the value not nil. (It handles a store into an existing slot too, which that
    /// caller never sends: written as an append only, whose result is always `true`, the
    /// compiler laid out the caller's inlined paths differently, sieve +2.7% instructions.)
    #[inline(never)]
    fn set_int_barriered(self, ctx: Context<'gc>, idx: u64, value: Value<'gc>) -> bool {
        let mut st = self.borrow_mut_for_int(ctx, idx.wrapping_add(1) as i64);
        let len = st.array.len();
        if idx < len as u64 {
            st.slot_barrier(ctx.mutation(), idx as usize);
            st.array[idx as usize] = value;
            true
        } else if idx == len as u64 && st.entries.is_empty() {
            if len == st.array.capacity() {
                st.push_growing(ctx.mutation(), self, value);
            } else {
                // (The slot's segment exists: segments cover the capacity.)
                st.slot_barrier(ctx.mutation(), idx as usize);
                st.array.push(value);
            }
            true
        } else {
            false
        }
    }

    /// Raw get of a short (interned) string key: one borrow and a pointer scan for small
    /// tables.
    #[inline]
    pub(crate) fn get_short_str(self, key: LuaString<'gc>) -> Value<'gc> {
        let st = self.0.state.borrow();
        if st.entries.len() <= SMALL_HASH_PART {
            match st.find_short_str(key) {
                Some(i) => st.entries[i].1,
                None => Value::Nil,
            }
        } else {
            st.get_from_hash(Value::String(key))
        }
    }

    /// The raw value at string key `key` (any length), trying position `hint` of the entries
    /// first (a field access's guess: see `FunctionProto::field_hints`), and leaving there
    /// the position the key was found at. Strings compare by object at the guess: a hit is
    /// the key itself (keys are unique in the entries), a miss is looked up as usual.
    #[inline(always)]
    pub(crate) fn get_str_hinted(self, key: LuaString<'gc>, hint: &Cell<u16>) -> Value<'gc> {
        {
            let st = self.0.state.borrow();
            if let Some(&(Value::String(k), v)) = st.entries.get(hint.get() as usize) {
                if LuaString::ptr_eq(k, key) {
                    return v;
                }
            }
            // A small part is scanned here, as `get_short_str` does (a method looked up in
            // an instance before its class misses every time).
            if st.entries.len() <= SMALL_HASH_PART && key.len() <= MAX_INTERNED_LEN {
                return match st.find_short_str(key) {
                    Some(i) => {
                        hint.set(i as u16);
                        st.entries[i].1
                    }
                    None => Value::Nil,
                };
            }
        }
        self.get_str_and_hint(key, hint)
    }

    /// `get_str_hinted`'s lookup in an indexed part (or of a long string) after a wrong
    /// guess.
    #[inline(never)]
    fn get_str_and_hint(self, key: LuaString<'gc>, hint: &Cell<u16>) -> Value<'gc> {
        let st = self.0.state.borrow();
        match st.find_str_and_hint(key, hint) {
            Some(i) => st.entries[i].1,
            None => Value::Nil,
        }
    }

    /// `replace_short_str` for a string key of any length, with `get_str_hinted`'s guess.
    /// (Out of line, like `replace_short_str`: the interpreter's loop is kept small.)
    #[inline(never)]
    pub(crate) fn replace_str_hinted(
        self,
        ctx: Context<'gc>,
        key: LuaString<'gc>,
        value: Value<'gc>,
        hint: &Cell<u16>,
    ) -> bool {
        self.replace_existing(ctx, value, |st| {
            let guess = hint.get() as usize;
            match st.entries.get(guess) {
                Some(&(Value::String(k), _)) if LuaString::ptr_eq(k, key) => Some(guess),
                _ => st.find_str_and_hint(key, hint),
            }
        })
    }

    /// Overwrites the value of an existing short-string field when both the old and the new
    /// value are non-nil (so no tombstone or metamethod-cache bookkeeping changes). Returns
    /// `false` without doing anything otherwise.
    #[inline(never)]
    pub(crate) fn replace_short_str(
        self,
        ctx: Context<'gc>,
        key: LuaString<'gc>,
        value: Value<'gc>,
    ) -> bool {
        self.replace_existing(ctx, value, |st| {
            if st.entries.len() <= SMALL_HASH_PART {
                st.find_short_str(key)
            } else {
                st.find_entry(Value::String(key))
            }
        })
    }

    /// The field stores' common part: `value` (not nil) into the entry `find` gives, if it
    /// holds a value (not a tombstone) and the table is not frozen; `false` otherwise, with
    /// nothing changed.
    #[inline(always)]
    fn replace_existing(
        self,
        ctx: Context<'gc>,
        value: Value<'gc>,
        find: impl FnOnce(&TableState<'gc>) -> Option<usize>,
    ) -> bool {
        if value.is_nil() {
            return false;
        }
        let mut st = self.borrow_mut(ctx);
        if st.flags & FLAG_FROZEN != 0 {
            return false;
        }
        match find(&st) {
            Some(i) if !st.entries[i].1.is_nil() => {
                if entry_needs_barrier(i, Value::Nil, value) {
                    st.entry_barrier(ctx.mutation(), i);
                }
                st.entries[i].1 = value;
                true
            }
            _ => false,
        }
    }

    /// Makes the table read-only: every later store (`t[k] = v`, `rawset`, `table.insert`...)
    /// raises "attempt to modify a read-only table". Used to share library tables between
    /// sandboxed scripts. Irreversible.
    pub fn freeze(self, ctx: Context<'gc>) {
        self.borrow_mut(ctx).flags |= FLAG_FROZEN;
    }

    /// Whether [`Table::freeze`] was called.
    pub fn is_frozen(self) -> bool {
        self.0.state.borrow().flags & FLAG_FROZEN != 0
    }

    /// The gc flags (`GC_FLAG_FINALIZER`, `GC_FLAG_WEAK`, `FLAG_FROZEN`).
    pub(crate) fn flags(self) -> u8 {
        self.0.state.borrow().flags
    }

    /// The raw length (`rawlen`): a border, found like PUC's `luaH_getn`.
    pub fn length(self) -> i64 {
        self.0.state.borrow().length()
    }

    /// Raw `next`: the entry after `key` (nil: the first), `None` at the end, an error when
    /// `key` is not in the table.
    pub fn next(self, key: Value<'gc>) -> Result<Option<(Value<'gc>, Value<'gc>)>, InvalidNextKey> {
        self.0.state.borrow().next(key)
    }

    /// The table's metatable.
    pub fn metatable(self) -> Option<Table<'gc>> {
        self.0.state.borrow().metatable
    }

    /// Sets the metatable, raw: no `__gc`/`__mode` registration and no frozen check. Only
    /// [`Context::set_metatable`](crate::Context::set_metatable) calls it.
    pub(crate) fn set_metatable(self, ctx: Context<'gc>, mt: Option<Table<'gc>>) {
        self.borrow_mut(ctx).metatable = mt;
    }

    /// Metamethod cache bits (see `TableInner::state`).
    #[inline]
    pub(crate) fn absent_events(self) -> &'gc Cell<u32> {
        Gc::as_ref(self.0).state.side()
    }

    /// Number of array slots and hash entries (for size estimates).
    pub fn raw_sizes(self) -> (usize, usize) {
        let s = self.0.state.borrow();
        (s.array.len(), s.entries.len() - s.tombstones as usize)
    }

    /// Whether `a` and `b` are the same table.
    pub fn ptr_eq(a: Self, b: Self) -> bool {
        Gc::ptr_eq(a.0, b.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An index past `GROWTH_IN_PIECES_MIN` positions grows in pieces over many insertions
    /// (never rehashed whole in one), and every key is found throughout, those only the old
    /// index holds included; keys that are absent are not found.
    #[test]
    fn a_big_index_grows_over_many_insertions() {
        let lua = crate::Lua::core();
        lua.enter(|ctx| {
            let t = ctx.new_table();
            let key = |i: i64| Value::Float(i as f64 + 0.5);
            let (mut growths, mut longest, mut current) = (0, 0, 0);
            let n = 300_000;
            for i in 0..n {
                t.set(ctx, key(i), Value::Integer(i)).unwrap();
                let st = t.0.state.borrow();
                let growth = st.aux.as_deref().and_then(|a| a.growth.as_deref());
                match growth {
                    Some(g) => {
                        if current == 0 {
                            growths += 1;
                        }
                        current += 1;
                        longest = longest.max(current);
                        // What only the old index holds yet, and what the new one holds.
                        for p in [g.moved, g.end - 1, 0, g.end, i as u32] {
                            let p = p.min(i as u32) as i64;
                            assert_eq!(st.get(key(p)), Value::Integer(p), "key {p} at {i}");
                        }
                        assert_eq!(st.get(key(n + i)), Value::Nil);
                    }
                    None => current = 0,
                }
            }
            // Rebuilt whole up to 57,344 positions, then 229,376 and 917,504: two growths in
            // pieces.
            assert!(growths >= 2, "{growths} growths in pieces");
            assert!(longest >= 8_000, "the longest took {longest} insertions");
            for i in (0..n).step_by(7) {
                assert_eq!(t.get(key(i)), Value::Integer(i));
            }
        });
    }

    /// A table that removes a key for each it adds (a queue of keys, or keys removed at
    /// random) keeps its size: a new key takes the lowest free position of its full
    /// entries, the index (growing in pieces past 16,384 positions) finds every live key and
    /// no removed one, and the set of free positions stays exactly the nil values.
    /// A constructor's bulk append stores the values up to the first nil, and nothing
    /// while the hash part holds a live entry (a key it stores might be there).
    #[test]
    fn a_bulk_append_stops_at_a_nil_and_at_hash_entries() {
        let lua = crate::Lua::core();
        lua.enter(|ctx| {
            let ints = |v: &[i64]| v.iter().map(|&i| Value::Integer(i)).collect::<Vec<_>>();
            let t = ctx.new_table();
            let mut values = ints(&[1, 2, 3]);
            values.push(Value::Nil);
            values.push(Value::Integer(5));
            let stored = t
                .borrow_mut(ctx)
                .append_to_array(ctx.mutation(), t, &values);
            assert_eq!(stored, 3);
            assert_eq!(t.0.state.borrow().array.len(), 3);
            assert_eq!(t.get_int(3), Value::Integer(3));
            // A live hash entry: no bulk append (here it holds key 4, which must move).
            t.set(ctx, Value::Integer(5), Value::Integer(50)).unwrap();
            let stored = t
                .borrow_mut(ctx)
                .append_to_array(ctx.mutation(), t, &ints(&[4]));
            assert_eq!(stored, 0);
            // Once it is only a tombstone, the append goes on.
            t.set(ctx, Value::Integer(5), Value::Nil).unwrap();
            let stored = t
                .borrow_mut(ctx)
                .append_to_array(ctx.mutation(), t, &ints(&[4, 5]));
            assert_eq!(stored, 2);
            assert_eq!(t.length(), 5);
            assert_eq!(t.get_int(5), Value::Integer(5));
        });
    }

    #[test]
    fn a_churning_hash_part_reuses_its_free_positions() {
        let lua = crate::Lua::core();
        lua.enter(|ctx| {
            for (n, stride) in [(4096 - 10, 1), (20_000, 7919)] {
                let t = ctx.new_table();
                let key = |i: i64| Value::Float(i as f64 + 0.5);
                for i in 0..n {
                    t.set(ctx, key(i), Value::Integer(i)).unwrap();
                }
                let capacity = t.0.state.borrow().entries.capacity();
                // The live keys.
                let mut live: std::collections::BTreeSet<i64> = (0..n).collect();
                for round in 0..3 * n {
                    let next = n + round;
                    // Remove one key (in order, or scattered), add a new one.
                    let gone = (round * stride) % next;
                    let gone = *live.range(gone..).next().unwrap_or(live.first().unwrap());
                    t.set(ctx, key(gone), Value::Nil).unwrap();
                    live.remove(&gone);
                    t.set(ctx, key(next), Value::Integer(next)).unwrap();
                    live.insert(next);
                    if round % 997 == 0 {
                        let st = t.0.state.borrow();
                        assert_eq!(st.entries.capacity(), capacity, "grew at {round}");
                        let nils = st.entries.iter().position(|(_, v)| v.is_nil());
                        let free = st.aux.as_deref().and_then(|a| a.free.lowest());
                        assert_eq!(free, nils, "free set at {round}");
                        for &k in live.iter().step_by(13) {
                            assert_eq!(st.get(key(k)), Value::Integer(k), "key {k} at {round}");
                        }
                        assert_eq!(st.get(key(gone)), Value::Nil);
                    }
                }
                assert_eq!(t.raw_sizes(), (0, n as usize));
                let index = t.0.state.borrow().aux.as_deref().unwrap().index.capacity();
                assert!(
                    index <= 4 * capacity,
                    "index of {index} for {capacity} entries"
                );
            }
        });
    }
}
