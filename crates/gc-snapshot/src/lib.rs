//! lunette-gc-snapshot: the machinery for turning a garbage-collected object graph into an
//! owned image and back, independent of the VM's types.
//!
//! - [`Numbering`] walks a graph without recursion: every object gets a dense index in
//!   discovery order, and the list of discovered objects doubles as the work queue. A linked
//!   list of a million objects costs a million queue entries, not a million Rust stack frames.
//! - [`StableHasher`] is a fixed, platform-independent 64-bit hash used for checksums that
//!   must agree between processes and machines (no random seeds, explicit byte order).
//!
//! The VM (`lunette-vm`) decides what an object's image is; this crate only knows that
//! objects have identities (`K`) and payloads to encode (`V`).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::hash::{BuildHasherDefault, Hash, Hasher};

use hashbrown::HashMap;

/// Assigns each distinct key a dense index (`0, 1, 2, ...`) in the order keys are first seen,
/// and remembers the objects still to be encoded.
///
/// Invariant: `items[i]` is the object numbered `i`; objects `0..cursor` have been handed out
/// by [`Numbering::next_pending`], the rest are waiting. Encoding object `i` may number new
/// objects (they are appended), so a breadth-first walk of any depth runs in a loop.
pub struct Numbering<K, V> {
    index: HashMap<K, u32, BuildHasherDefault<AddressHasher>>,
    items: Vec<V>,
    cursor: usize,
}

impl<K: Hash + Eq + Copy, V: Copy> Default for Numbering<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Hash + Eq + Copy, V: Copy> Numbering<K, V> {
    /// An empty numbering.
    pub fn new() -> Self {
        Numbering {
            index: HashMap::default(),
            items: Vec::new(),
            cursor: 0,
        }
    }

    /// An empty numbering with room for `n` objects before it reallocates.
    pub fn with_capacity(n: usize) -> Self {
        Numbering {
            index: HashMap::with_capacity_and_hasher(n, Default::default()),
            items: Vec::with_capacity(n),
            cursor: 0,
        }
    }

    /// The index of `key`, numbering it (and queueing `item` for encoding) if it is new.
    #[inline]
    pub fn number(&mut self, key: K, item: V) -> u32 {
        let next = self.items.len() as u32;
        let items = &mut self.items;
        *self.index.entry(key).or_insert_with(|| {
            items.push(item);
            next
        })
    }

    /// The index of `key` if it was numbered.
    pub fn get(&self, key: K) -> Option<u32> {
        self.index.get(&key).copied()
    }

    /// The next object to encode, with its index.
    #[inline]
    pub fn next_pending(&mut self) -> Option<(u32, V)> {
        let item = *self.items.get(self.cursor)?;
        let i = self.cursor as u32;
        self.cursor += 1;
        Some((i, item))
    }

    /// The object numbered `i`.
    pub fn item(&self, i: u32) -> Option<&V> {
        self.items.get(i as usize)
    }

    /// Number of objects numbered so far.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether nothing was numbered yet.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// A fast hasher for keys that are addresses or small integers (not attacker-chosen hashes
/// of strings): one multiply, high bits folded down.
#[derive(Default, Clone, Copy)]
pub struct AddressHasher(u64);

impl Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 29)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(b as u64);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(23) ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(n as u64);
    }
}

/// A deterministic 64-bit hash: the same input gives the same value in every process and on
/// every platform (words are read little-endian; no seeds). Not cryptographic — it detects
/// accidental divergence (desyncs), not forgery.
///
/// Words go round-robin into four lanes (word `n` into lane `n % 4`), each a multiply-fold
/// chain, combined by `finish`: the lanes' chains are independent, so hashing runs at the
/// multiplier's throughput rather than its latency (a checksum hashes millions of words).
#[derive(Clone, Copy)]
pub struct StableHasher {
    lanes: [u64; LANES],
    /// Bytes fed so far (8 per word); `len / 8 % LANES` is the next word's lane.
    len: u64,
}

const LANES: usize = 4;
const STABLE_K: u64 = 0xA076_1D64_78BD_642F;
const STABLE_INIT: [u64; LANES] = [
    0x2D35_8DCC_AA6C_78A5,
    0x8BB8_4B93_962E_ACC9,
    0x4B33_A62E_D433_D4A3,
    0x4D5A_2DA5_1DE1_AA47,
];

impl Default for StableHasher {
    fn default() -> Self {
        StableHasher {
            lanes: STABLE_INIT,
            len: 0,
        }
    }
}

#[inline(always)]
fn fold_multiply(a: u64, b: u64) -> u64 {
    let m = a as u128 * b as u128;
    (m as u64) ^ ((m >> 64) as u64)
}

impl StableHasher {
    /// A hasher in its fixed initial state.
    pub fn new() -> Self {
        Self::default()
    }

    /// Hashes one 64-bit word (a number, a length, an index, a tag).
    #[inline]
    pub fn word(&mut self, w: u64) {
        let lane = &mut self.lanes[(self.len / 8) as usize % LANES];
        *lane = fold_multiply(*lane ^ w, STABLE_K);
        self.len = self.len.wrapping_add(8);
    }

    /// Hashes a byte string, including its length (so `"ab","c"` differs from `"a","bc"`).
    pub fn bytes(&mut self, b: &[u8]) {
        self.word(b.len() as u64);
        let mut chunks = b.chunks_exact(8);
        for c in &mut chunks {
            self.word(u64::from_le_bytes([
                c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7],
            ]));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 8];
            last[..rest.len()].copy_from_slice(rest);
            self.word(u64::from_le_bytes(last));
        }
    }

    /// The hash of everything fed so far (the lanes in order, then the total length); the
    /// hasher can go on.
    pub fn finish(&self) -> u64 {
        let mut h = STABLE_INIT[0];
        for lane in self.lanes.into_iter().chain([self.len]) {
            h = fold_multiply(h ^ lane, STABLE_K);
        }
        h ^ (h >> 31)
    }
}

const HASH_M0: u64 = 0xA076_1D64_78BD_642F;
const HASH_M1: u64 = 0xE703_7ED1_A0B4_28DB;
const HASH_M2: u64 = 0x8EBC_6AF0_9C88_C6E3;

#[inline(always)]
fn le_word(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

/// A fixed, platform-independent 64-bit hash of a byte string, fast on short strings: the
/// content hash of Lua strings (table keys, interning) and their part of incremental
/// checksums, so the same bytes hash the same on every machine. Multiply-fold rounds over
/// 16-byte blocks (short strings are read as at most two overlapping words), the length
/// mixed in last. Not cryptographic and not seeded: it does not resist chosen collisions.
/// [`HashInProgress`] computes the same hash over a buffer written front to back.
#[inline]
pub fn hash_bytes(b: &[u8]) -> u64 {
    #[inline(always)]
    fn half(b: &[u8], at: usize) -> u64 {
        let mut w = [0u8; 4];
        w.copy_from_slice(&b[at..at + 4]);
        u32::from_le_bytes(w) as u64
    }
    let n = b.len();
    if n > 16 {
        let mut h = HashInProgress::new(n);
        h.update(b);
        return h.finish_long(b);
    }
    let (x, y) = if n >= 8 {
        (le_word(b, 0), le_word(b, n - 8))
    } else if n >= 4 {
        (half(b, 0) << 32 | half(b, n - 4), 0)
    } else if n > 0 {
        (
            (b[0] as u64) << 16 | (b[n / 2] as u64) << 8 | b[n - 1] as u64,
            0,
        )
    } else {
        (0, 0)
    };
    mix_end(n, x, y)
}

#[inline(always)]
fn mix_end(n: usize, x: u64, y: u64) -> u64 {
    fold_multiply(HASH_M1 ^ n as u64, fold_multiply(x ^ HASH_M0, y ^ HASH_M2))
}

/// [`hash_bytes`] of a buffer of known length computed as it is written, front to back:
/// the blocks of each new prefix are folded as they come ([`update`](Self::update)), the
/// end when the buffer is whole ([`finish`](Self::finish)). The string builder hashes the
/// big strings it writes this way, piece by piece, so their first use as a table key (or in
/// a snapshot) does not hash megabytes in one go. The state after a prefix depends only on
/// that prefix's bytes.
#[derive(Clone, Copy, Debug)]
pub struct HashInProgress {
    h: u64,
    /// Bytes folded so far (a multiple of 16).
    at: usize,
    len: usize,
}

impl HashInProgress {
    /// The hash of a buffer of `len` bytes, nothing folded yet.
    pub fn new(len: usize) -> Self {
        HashInProgress {
            h: HASH_M2,
            at: 0,
            len,
        }
    }

    /// Bytes folded so far: the prefix `update` has read, up to the last 16 bytes of the
    /// buffer (which `finish` folds); `len` once nothing is left for `update`.
    pub fn folded(&self) -> usize {
        if self.len - self.at <= 16 {
            self.len
        } else {
            self.at
        }
    }

    /// Folds the blocks of `written` (the buffer's first bytes, including any already
    /// folded) not folded yet. Only the blocks before the last 16 bytes of the whole buffer
    /// are folded here.
    #[inline]
    pub fn update(&mut self, written: &[u8]) {
        let end = written.len().min(self.len);
        let (mut h, mut at) = (self.h, self.at);
        while self.len - at > 16 && at + 16 <= end {
            h = fold_multiply(le_word(written, at) ^ HASH_M1, le_word(written, at + 8) ^ h);
            at += 16;
        }
        (self.h, self.at) = (h, at);
    }

    /// The hash of `bytes`, the whole buffer (whose prefixes were given to `update`; any
    /// bytes not folded yet are folded here). If `bytes` is not `len` long, its own hash.
    pub fn finish(mut self, bytes: &[u8]) -> u64 {
        if bytes.len() != self.len || self.len <= 16 {
            return hash_bytes(bytes);
        }
        self.update(bytes);
        self.finish_long(bytes)
    }

    #[inline(always)]
    fn finish_long(self, b: &[u8]) -> u64 {
        let n = b.len();
        mix_end(n, le_word(b, n - 16) ^ self.h, le_word(b, n - 8))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `hash_bytes` as it was first written (one loop over the bytes): the hash of a byte
    /// string is part of images and checksums, so it must not change.
    fn reference_hash(b: &[u8]) -> u64 {
        const M0: u64 = 0xA076_1D64_78BD_642F;
        const M1: u64 = 0xE703_7ED1_A0B4_28DB;
        const M2: u64 = 0x8EBC_6AF0_9C88_C6E3;
        let word = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
        let half = |at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as u64;
        let n = b.len();
        let (x, y) = if n <= 16 {
            if n >= 8 {
                (word(0), word(n - 8))
            } else if n >= 4 {
                (half(0) << 32 | half(n - 4), 0)
            } else if n > 0 {
                (
                    (b[0] as u64) << 16 | (b[n / 2] as u64) << 8 | b[n - 1] as u64,
                    0,
                )
            } else {
                (0, 0)
            }
        } else {
            let mut h = M2;
            let mut at = 0;
            while n - at > 16 {
                h = fold_multiply(word(at) ^ M1, word(at + 8) ^ h);
                at += 16;
            }
            (word(n - 16) ^ h, word(n - 8))
        };
        fold_multiply(M1 ^ n as u64, fold_multiply(x ^ M0, y ^ M2))
    }

    /// A hash computed piece by piece (any piece sizes, pieces repeated) is `hash_bytes`,
    /// and `hash_bytes` is the hash it always was.
    #[test]
    fn hash_in_progress_is_hash_bytes() {
        let bytes: Vec<u8> = (0..5000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        for n in (0..200).chain([255, 256, 257, 1000, 4096, 4999, 5000]) {
            let b = &bytes[..n];
            assert_eq!(hash_bytes(b), reference_hash(b), "length {n}");
            for piece in [1, 7, 16, 33, 64, 1000] {
                let mut h = HashInProgress::new(n);
                let mut at = 0;
                while at < n {
                    at = (at + piece).min(n);
                    h.update(&b[..at]);
                    h.update(&b[..at]);
                }
                assert_eq!(h.finish(b), hash_bytes(b), "length {n}, pieces of {piece}");
            }
            // Nothing folded before the end: the same.
            assert_eq!(HashInProgress::new(n).finish(b), hash_bytes(b));
            // Driven by `folded` (as the instantiation of a long constant is): it reaches
            // the length, in prefixes that each make progress.
            let mut h = HashInProgress::new(n);
            let mut calls = 0;
            while h.folded() < n {
                let before = h.folded();
                h.update(&b[..(h.folded() + 48).min(n)]);
                assert!(h.folded() > before, "length {n}: no progress from {before}");
                calls += 1;
            }
            assert!(calls <= n / 48 + 1, "length {n}: {calls} calls");
            assert_eq!(h.finish(b), hash_bytes(b), "length {n}, driven by folded");
        }
    }

    #[test]
    fn numbering_walks_a_long_chain_without_recursion() {
        // A linked list 0 -> 1 -> ... -> n-1, walked breadth-first through the queue.
        let n = 1_000_000u64;
        let mut numbering: Numbering<u64, u64> = Numbering::new();
        numbering.number(0, 0);
        let mut visited = 0u64;
        while let Some((i, node)) = numbering.next_pending() {
            assert_eq!(i as u64, node);
            visited += 1;
            if node + 1 < n {
                numbering.number(node + 1, node + 1);
            }
        }
        assert_eq!(visited, n);
    }

    #[test]
    fn numbering_gives_shared_objects_one_index() {
        let mut numbering: Numbering<&str, &str> = Numbering::new();
        assert_eq!(numbering.number("a", "a"), 0);
        assert_eq!(numbering.number("b", "b"), 1);
        assert_eq!(numbering.number("a", "a"), 0);
        assert_eq!(numbering.len(), 2);
        assert_eq!(numbering.get("b"), Some(1));
        assert_eq!(numbering.get("c"), None);
    }

    /// `StableHasher` of the single byte string `"lunette"`.
    const PINNED: u64 = 12_936_349_951_135_561_161;
    /// `hash_bytes(b"lunette")`.
    const BYTES_PINNED: u64 = 3_820_094_991_524_446_908;

    #[test]
    fn stable_hash_is_fixed_and_length_aware() {
        let h = |parts: &[&[u8]]| {
            let mut s = StableHasher::new();
            for p in parts {
                s.bytes(p);
            }
            s.finish()
        };
        assert_eq!(h(&[b"abc"]), h(&[b"abc"]));
        assert_ne!(h(&[b"ab", b"c"]), h(&[b"a", b"bc"]));
        assert_ne!(h(&[b""]), h(&[]));
        // Order matters within a lane and across lanes.
        let words = |ws: &[u64]| {
            let mut s = StableHasher::new();
            ws.iter().for_each(|w| s.word(*w));
            s.finish()
        };
        assert_ne!(words(&[1, 2, 3, 4, 5]), words(&[5, 2, 3, 4, 1]));
        assert_ne!(words(&[1, 2, 3, 4, 5]), words(&[2, 1, 3, 4, 5]));
        assert_ne!(words(&[0]), words(&[0, 0]));
        // The value itself is part of the contract (checksums are compared across machines
        // and builds): changing the function changes every recorded checksum.
        assert_eq!(h(&[b"lunette"]), PINNED);
        let mut a = StableHasher::new();
        a.word(1);
        let mut b = StableHasher::new();
        b.word(2);
        assert_ne!(a.finish(), b.finish());
    }

    #[test]
    fn byte_hash_is_fixed_and_sees_every_byte() {
        // Pinned: strings' hashes are part of checksums compared across machines.
        assert_eq!(hash_bytes(b"lunette"), BYTES_PINNED);
        let mut seen = std::collections::HashSet::new();
        let base: Vec<u8> = (0..40u8).collect();
        for n in 0..=base.len() {
            assert!(seen.insert(hash_bytes(&base[..n])), "length {n}");
            // Changing any one byte changes the hash.
            for i in 0..n {
                let mut v = base[..n].to_vec();
                v[i] ^= 0x80;
                assert!(seen.insert(hash_bytes(&v)), "length {n}, byte {i}");
            }
        }
    }
}
