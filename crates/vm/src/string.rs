//! Lua strings: immutable byte strings with a content hash, computed at creation for short
//! strings (interning needs it), as they are written for the string builder's big strings
//! (`big_string`), and at the first use for other long ones.
//!
//! Invariants: the bytes never change after creation; the hash is a pure function of the
//! bytes (fixed-seed hasher, never 0), so table layout and `next` order never depend on
//! addresses, on the process, or on when a long string's hash was first needed. The bytes
//! live behind an `Arc` so snapshots can share them with the live VM.

use std::fmt;
use std::sync::Arc;

use gc_arena::{Collect, Gc, Mutation};

mod interner;
pub(crate) use interner::{ChunkSlots, Interner};

/// A string's content hash: `gc_snapshot::hash_bytes`, the same on every machine (it is a
/// string's part of a checksum), never 0.
pub(crate) fn hash_bytes(bytes: &[u8]) -> u64 {
    // (0 marks a long string whose hash is not computed yet.)
    lunette_gc_snapshot::hash_bytes(bytes).max(1)
}

/// The hash of a long string not computed yet (`hash_bytes` never returns it).
const NOT_HASHED: u64 = 0;

/// A string object's contents: the bytes (shared with snapshots) and their content hash.
#[derive(Collect)]
#[collect(require_static)]
pub(crate) struct StringData {
    /// `hash_bytes(bytes)`, or [`NOT_HASHED`] for a long string until its hash is first
    /// needed (as a table key, by a snapshot): hashing a 32 MiB string costs as much as
    /// making it, and most long strings are never keys. (The builder's big strings come
    /// hashed: it hashes them piece by piece as it writes them.) A cache: no logical state.
    hash: std::cell::Cell<u64>,
    bytes: Arc<[u8]>,
    /// A long string's identity as `string.format("%p")` shows it: an object id assigned at
    /// the first look (0 until then; `Context::script_id`, journaled), so distinct long
    /// strings show distinct identities without an address. Short strings show one derived
    /// from their content (they are interned: one object per content).
    pub(crate) script_id: std::cell::Cell<u64>,
    /// The number of the last logical mark that reached the string (`gc::LogicalMark`; 0:
    /// none). A mark reaches a string once per reference to it, and most references are
    /// to a few shared keys: a word here answers "already counted?" without the mark's
    /// address set, which took 40% of a mark of 10,000 entity tables. Mark numbers come
    /// from one process-wide counter, so no two marks share one. Not logical state.
    pub(crate) marked_by: std::cell::Cell<u64>,
}

impl StringData {
    /// Every string is made here: its bytes are charged to the VM's memory account, and given
    /// back by `Drop`.
    fn new(hash: u64, bytes: Arc<[u8]>) -> Self {
        crate::memory::charge_string_bytes(string_cost(bytes.len()));
        StringData {
            hash: std::cell::Cell::new(hash),
            bytes,
            script_id: Default::default(),
            marked_by: Default::default(),
        }
    }
}

pub(crate) fn string_cost(len: usize) -> usize {
    crate::memory::GC_HEADER + std::mem::size_of::<StringData>() + 16 + len
}

impl Drop for StringData {
    fn drop(&mut self) {
        if self.bytes.len() <= MAX_INTERNED_LEN {
            crate::memory::discharge_interned_string(string_cost(self.bytes.len()));
            return;
        }
        crate::memory::discharge_bytes(string_cost(self.bytes.len()));
        // A big buffer this string was the last to hold goes back to the allocator after
        // the step, in pieces (`memory::free_later`).
        if self.bytes.len() >= crate::memory::DEFERRED_FREE_MIN
            && Arc::strong_count(&self.bytes) == 1
        {
            // (An empty `Arc<[u8]>` takes its place: no thread-local, which a VM dropped
            // while its thread exits could no longer reach.)
            crate::memory::free_later(std::mem::take(&mut self.bytes));
        }
    }
}

/// A garbage-collected Lua string. Equality and hashing are by content.
#[derive(Copy, Clone, Collect)]
#[collect(no_drop)]
pub struct LuaString<'gc>(pub(crate) Gc<'gc, StringData>);

impl<'gc> LuaString<'gc> {
    /// A long (not interned) string. Invariant: strings of at most `MAX_INTERNED_LEN` bytes
    /// are only ever created by the `Interner` (use `Context::new_string`), so two equal short
    /// strings are the same object.
    pub(crate) fn new_long(mc: &Mutation<'gc>, bytes: &[u8]) -> Self {
        debug_assert!(bytes.len() > MAX_INTERNED_LEN);
        let bytes: Arc<[u8]> = Arc::from(bytes);
        LuaString(Gc::new(mc, StringData::new(NOT_HASHED, bytes)))
    }

    /// A long string of `len` bytes written in place by `fill` (allocated once: an exact-size
    /// iterator collects straight into the `Arc`, which is unique, so `get_mut` succeeds).
    pub(crate) fn new_long_with(
        mc: &Mutation<'gc>,
        len: usize,
        fill: impl FnOnce(&mut [u8]),
    ) -> Self {
        debug_assert!(len > MAX_INTERNED_LEN);
        let mut bytes: Arc<[u8]> = std::iter::repeat_n(0u8, len).collect();
        if let Some(b) = Arc::get_mut(&mut bytes) {
            fill(b);
        }
        LuaString(Gc::new(mc, StringData::new(NOT_HASHED, bytes)))
    }

    /// A long string around a buffer of its own (the string builder's), not hashed yet.
    pub(crate) fn from_buffer(mc: &Mutation<'gc>, bytes: Arc<[u8]>) -> Self {
        debug_assert!(bytes.len() > MAX_INTERNED_LEN);
        LuaString(Gc::new(mc, StringData::new(NOT_HASHED, bytes)))
    }

    /// A long string around bytes whose content hash is known (shared with a snapshot, or
    /// hashed by the string builder as it wrote them), without a copy. `hash` must be the
    /// content hash of `bytes` (it is re-checked in debug builds).
    pub(crate) fn from_shared(mc: &Mutation<'gc>, hash: u64, bytes: Arc<[u8]>) -> Self {
        debug_assert_eq!(hash, hash_bytes(&bytes));
        LuaString(Gc::new(mc, StringData::new(hash, bytes)))
    }

    /// The string's bytes (any bytes: Lua strings are not necessarily UTF-8).
    #[inline]
    pub fn as_bytes(self) -> &'gc [u8] {
        &Gc::as_ref(self.0).bytes
    }

    /// The shared byte buffer (snapshots keep it without copying).
    pub fn shared_bytes(self) -> Arc<[u8]> {
        Gc::as_ref(self.0).bytes.clone()
    }

    /// Length in bytes.
    #[inline]
    pub fn len(self) -> usize {
        self.0.bytes.len()
    }

    /// Whether the string is `""`.
    #[inline]
    pub fn is_empty(self) -> bool {
        self.0.bytes.is_empty()
    }

    /// The hash of the contents, with fixed seeds (the same in every process: table layouts
    /// do not depend on the run). Computed once: at creation for a short string, at the first
    /// call for a long one.
    #[inline]
    pub fn content_hash(self) -> u64 {
        match self.0.hash.get() {
            NOT_HASHED => {
                let hash = hash_bytes(&self.0.bytes);
                self.0.hash.set(hash);
                hash
            }
            hash => hash,
        }
    }

    /// The string as UTF-8 text, replacing invalid sequences.
    pub fn to_str_lossy(self) -> std::borrow::Cow<'gc, str> {
        // (`from_utf8` checks valid text several times faster than the lossy scan.)
        match std::str::from_utf8(self.as_bytes()) {
            Ok(s) => std::borrow::Cow::Borrowed(s),
            Err(_) => String::from_utf8_lossy(self.as_bytes()),
        }
    }

    /// Whether `a` and `b` are the same string object (equal short strings always are: they
    /// are interned; `==` compares contents).
    pub fn ptr_eq(a: Self, b: Self) -> bool {
        Gc::ptr_eq(a.0, b.0)
    }
}

/// Bytes compared per unit of fuel charged for a string comparison (`<`, `<=`, and `==` of
/// distinct long strings with equal contents).
pub const COMPARE_BYTES_PER_FUEL: usize = 256;

/// Byte order of `a` and `b` and the length of their common prefix (the bytes a comparison
/// had to look at), found in blocks so the cost is proportional to the prefix.
pub fn compare_bytes(a: &[u8], b: &[u8]) -> (std::cmp::Ordering, usize) {
    const BLOCK: usize = 256;
    let n = a.len().min(b.len());
    let mut i = 0;
    while i + BLOCK <= n && a[i..i + BLOCK] == b[i..i + BLOCK] {
        i += BLOCK;
    }
    (a[i..].cmp(&b[i..]), i)
}

impl<'gc> LuaString<'gc> {
    /// Fuel units a comparison of `self` and `other` costs, knowing the bytes it looked at:
    /// `scanned` bytes of common prefix (`<`, `<=`), or the whole length when two distinct
    /// long strings are equal (`==` must then compare every byte; different hashes or
    /// lengths decide it in O(1), and short strings are interned: a pointer compare).
    #[inline]
    pub fn compare_cost(scanned: usize) -> i64 {
        (scanned / COMPARE_BYTES_PER_FUEL) as i64
    }

    /// Fuel units `a == b` cost when it returned `true`.
    #[inline]
    pub fn equal_cost(a: Self, b: Self) -> i64 {
        if Gc::ptr_eq(a.0, b.0) {
            0
        } else {
            Self::compare_cost(a.len())
        }
    }
}

impl PartialEq for LuaString<'_> {
    /// Short strings are interned, so only long strings need a content comparison.
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (self.0.hash.get(), other.0.hash.get());
        Gc::ptr_eq(self.0, other.0)
            || (self.0.bytes.len() > MAX_INTERNED_LEN
                && (a == b || a == NOT_HASHED || b == NOT_HASHED)
                && self.0.bytes[..] == other.0.bytes[..])
    }
}
impl Eq for LuaString<'_> {}

impl PartialOrd for LuaString<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for LuaString<'_> {
    /// Byte-wise order (PUC uses `strcoll` in the C locale, which is byte order).
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl fmt::Debug for LuaString<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.to_str_lossy())
    }
}

impl fmt::Display for LuaString<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_str_lossy())
    }
}

/// Strings up to this length are interned (PUC's LUAI_MAXSHORTLEN): equal short strings are
/// the same object, so equality and table lookups compare pointers, not bytes.
pub const MAX_INTERNED_LEN: usize = 40;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_strings_hash_at_first_need_and_compare_by_content() {
        let lua = crate::Lua::core();
        lua.enter(|ctx| {
            let text = vec![b'q'; 1000];
            let (a, b) = (ctx.new_string(&text), ctx.new_string(&text));
            assert!(!LuaString::ptr_eq(a, b));
            assert_eq!(a.0.hash.get(), NOT_HASHED);
            // Neither hashed, one hashed, both hashed: equal by content each time.
            assert!(a == b);
            let h = a.content_hash();
            assert_eq!((h, a.0.hash.get()), (hash_bytes(&text), h));
            assert!(a == b);
            assert!(b == a, "symmetric");
            assert_eq!(b.content_hash(), h);
            assert!(a == b);
            let mut other = text.clone();
            other[999] = b'r';
            let c = ctx.new_string(&other);
            assert!(a != c);
            c.content_hash();
            assert!(a != c);
            assert!(c != a, "symmetric");
            // Short strings are hashed when interned.
            assert_eq!(ctx.new_string(b"short").0.hash.get(), hash_bytes(b"short"));
        });
    }
}
