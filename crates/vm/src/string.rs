//! Lua strings: immutable byte strings with a content hash computed once at creation.
//!
//! Invariants: the bytes never change after creation; `hash` is a pure function of the bytes
//! (fixed-seed hasher), so table layout and `next` order never depend on addresses or on the
//! process. The bytes live behind an `Arc` so snapshots can share them with the live VM.

use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

use gc_arena::{Collect, Gc, Mutation};

/// Fixed seeds: hashes are identical in every process (determinism across machines).
pub(crate) fn fixed_hasher() -> ahash::RandomState {
    ahash::RandomState::with_seeds(
        0x243f_6a88_85a3_08d3,
        0x1319_8a2e_0370_7344,
        0xa409_3822_299f_31d0,
        0x082e_fa98_ec4e_6c89,
    )
}

pub(crate) fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut h = fixed_hasher().build_hasher();
    h.write(bytes);
    h.finish()
}

#[derive(Collect)]
#[collect(require_static)]
pub struct StringData {
    hash: u64,
    bytes: Arc<[u8]>,
}

/// A garbage-collected Lua string. Equality and hashing are by content.
#[derive(Copy, Clone, Collect)]
#[collect(no_drop)]
pub struct LuaString<'gc>(pub(crate) Gc<'gc, StringData>);

impl<'gc> LuaString<'gc> {
    pub fn new(mc: &Mutation<'gc>, bytes: &[u8]) -> Self {
        Self::from_arc(mc, Arc::from(bytes))
    }

    pub fn from_arc(mc: &Mutation<'gc>, bytes: Arc<[u8]>) -> Self {
        let hash = hash_bytes(&bytes);
        LuaString(Gc::new(mc, StringData { hash, bytes }))
    }

    #[inline]
    pub fn as_bytes(self) -> &'gc [u8] {
        &Gc::as_ref(self.0).bytes
    }

    /// The shared byte buffer (snapshots keep it without copying).
    pub fn shared_bytes(self) -> Arc<[u8]> {
        Gc::as_ref(self.0).bytes.clone()
    }

    #[inline]
    pub fn len(self) -> usize {
        self.0.bytes.len()
    }

    #[inline]
    pub fn is_empty(self) -> bool {
        self.0.bytes.is_empty()
    }

    #[inline]
    pub fn content_hash(self) -> u64 {
        self.0.hash
    }

    /// The string as UTF-8 text, replacing invalid sequences.
    pub fn to_str_lossy(self) -> std::borrow::Cow<'gc, str> {
        String::from_utf8_lossy(self.as_bytes())
    }

    pub fn ptr_eq(a: Self, b: Self) -> bool {
        Gc::ptr_eq(a.0, b.0)
    }
}

impl PartialEq for LuaString<'_> {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        Gc::ptr_eq(self.0, other.0)
            || (self.0.hash == other.0.hash && self.0.bytes[..] == other.0.bytes[..])
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
