//! The positions of a hash part that hold no value: tombstones (a removed key, kept for
//! `next`) and entries a collection cleared from a weak table (no key left). A new key
//! takes the lowest of them when the part is full (`TableState::insert_new`), so a hash
//! part never has to be compacted: compacting moved every entry and rebuilt the index in
//! one insertion (4-6 ms at 400,000 entries), and so did dropping a weak table's cleared
//! entries at the end of a collection.
//!
//! Invariant (kept by every write of an entry's value while the part has an index, and
//! rebuilt with the index): position `p` is in the set exactly when `entries[p].1` is nil.
//! The set is a function of the entries alone, so "the lowest" is too: a restored table
//! reuses the same positions as the original would (no history is kept).

/// A set of positions as two levels of bits: `words` has a bit per position, `summary` a
/// bit per non-zero word of `words`, so the lowest position is found by scanning `summary`
/// (a word per 4,096 positions: 100 words at 400,000 entries) and then one word of `words`.
#[derive(Clone, Default, Debug)]
pub(crate) struct FreeSlots {
    words: Vec<u64>,
    summary: Vec<u64>,
}

impl FreeSlots {
    /// The set of the positions of `entries` whose value is nil.
    pub(crate) fn of<K, V>(entries: &[(K, V)], is_free: impl Fn(&V) -> bool) -> Self {
        let mut set = FreeSlots::default();
        for (p, (_, v)) in entries.iter().enumerate() {
            if is_free(v) {
                set.insert(p);
            }
        }
        set
    }

    /// Adds position `p`.
    #[inline]
    pub(crate) fn insert(&mut self, p: usize) {
        let (w, s) = (p / 64, p / 4096);
        if self.words.len() <= w {
            self.words.resize(w + 1, 0);
        }
        if self.summary.len() <= s {
            self.summary.resize(s + 1, 0);
        }
        self.words[w] |= 1 << (p % 64);
        self.summary[s] |= 1 << (w % 64);
    }

    /// Removes position `p` (absent: nothing).
    #[inline]
    pub(crate) fn remove(&mut self, p: usize) {
        let w = p / 64;
        if let Some(word) = self.words.get_mut(w) {
            *word &= !(1 << (p % 64));
            if *word == 0 {
                if let Some(s) = self.summary.get_mut(w / 64) {
                    *s &= !(1 << (w % 64));
                }
            }
        }
    }

    /// The lowest position in the set.
    pub(crate) fn lowest(&self) -> Option<usize> {
        let (s, bits) = self
            .summary
            .iter()
            .enumerate()
            .find(|(_, bits)| **bits != 0)?;
        let w = s * 64 + bits.trailing_zeros() as usize;
        let word = *self.words.get(w)?;
        Some(w * 64 + word.trailing_zeros() as usize)
    }

    /// The bytes the set holds for a hash part of `capacity` entries (a function of the
    /// capacity, like the index's charge: how the set's vectors grew is not replayed by a
    /// restore).
    pub(crate) fn bytes_for(capacity: usize) -> usize {
        (capacity.div_ceil(64) + capacity.div_ceil(4096)) * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lowest_position_is_found_across_words_and_summary_words() {
        let mut set = FreeSlots::default();
        assert_eq!(set.lowest(), None);
        for p in [100_000, 5_000, 70, 4_095] {
            set.insert(p);
        }
        assert_eq!(set.lowest(), Some(70));
        set.remove(70);
        assert_eq!(set.lowest(), Some(4_095));
        set.remove(4_095);
        assert_eq!(set.lowest(), Some(5_000));
        set.remove(5_000);
        set.remove(5_000);
        assert_eq!(set.lowest(), Some(100_000));
        set.remove(100_000);
        assert_eq!(set.lowest(), None);
        // Two positions of one word: the word stays in the summary until both go.
        set.insert(130);
        set.insert(129);
        set.remove(129);
        assert_eq!(set.lowest(), Some(130));
        let rebuilt = FreeSlots::of(&[(1, Some(1)), (2, None), (3, Some(3)), (4, None)], |v| {
            v.is_none()
        });
        assert_eq!(rebuilt.lowest(), Some(1));
    }
}
