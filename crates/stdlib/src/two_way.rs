//! A resumable Two-Way substring search (Crochemore and Perrin, 1991) for long needles.
//!
//! `memchr::memmem` searches short needles faster (its prefilter skips through the subject
//! with vector instructions), but it preprocesses a needle in one piece: ~3 ns a byte, so a
//! 512 KiB needle held a step for 1.5-3 ms however little fuel the step had (issue #16).
//! Here every phase of the algorithm is a loop over plain integers that stops after a given
//! number of operations and continues later from those integers, which a paused search
//! keeps in its encoded state ([`TwoWay::encode`]).
//!
//! The algorithm, in outline. The needle `x` (length `m`) is cut at a *critical position*
//! `cp`, where `x[cp..]` is the lexicographically greatest suffix under one of the two byte
//! orders (whichever of the two starts later); `per` is the period of that suffix. If `per`
//! is also a period of the whole needle (`x[..cp] == x[per..per + cp]`), the needle is
//! periodic: after a full match or a failure on the left half the window moves by `per`
//! and remembers that its first `m - per` bytes already match. Otherwise the window moves by
//! `max(cp, m - cp) + 1`. A window is checked left to right from `cp`, then right to left
//! below it; a mismatch on the right at `i` moves the window by `i - cp + 1`. Preprocessing
//! is at most `2m` loop turns and `m` byte comparisons, the search at most `2n` comparisons,
//! and it needs no memory beyond a few integers.

/// One run's budget and its accounting unit: a turn of the maximal-suffix loop, a byte
/// compared, or a move of the window.
pub(crate) type Ops = usize;

/// Where a search of one needle stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TwoWay {
    /// Finding the greatest suffix under the byte order (`reversed`: the opposite order).
    /// The candidate suffix starts at `s`, the scan compares `x[j + k]` with `x[s + k - 1]`
    /// and `p` is the candidate's period so far; `first` is the first order's result
    /// `(start, period)` while the second runs.
    Suffix {
        reversed: bool,
        s: usize,
        j: usize,
        k: usize,
        p: usize,
        first: (usize, usize),
    },
    /// Checking whether `per` is a period of the whole needle: `x[..cp]` against
    /// `x[per..per + cp]`, the first `done` bytes equal.
    Periodic { cp: usize, per: usize, done: usize },
    /// Searching: the window is at the caller's position; the first `mem` bytes of the
    /// window are known to match (periodic needles only).
    Search {
        cp: usize,
        per: usize,
        periodic: bool,
        mem: usize,
        scan: Scan,
    },
}

/// Where a window's check stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scan {
    /// Not begun.
    Start,
    /// Right half: bytes below `i` (from `cp`) match.
    Right(usize),
    /// Left half: the right half matched, and so do bytes `i..cp` of the left.
    Left(usize),
}

/// Subject bytes skipped by `memchr` in one operation's time.
const SKIP_BYTES_PER_OP: usize = 16;

/// What [`TwoWay::run`] ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Progress {
    /// The needle occurs at this position (the caller's position is left there).
    Match(usize),
    /// No occurrence at or after the position.
    NoMatch,
    /// The budget was spent: call again to continue.
    Budget,
}

impl TwoWay {
    /// A search that has done nothing yet.
    pub(crate) fn new() -> Self {
        TwoWay::Suffix {
            reversed: false,
            s: 0,
            j: 0,
            k: 1,
            p: 1,
            first: (0, 1),
        }
    }

    /// The search moves to a position of the caller's choosing (after a match, or a new
    /// start): what the window knew is forgotten.
    pub(crate) fn restart(&mut self) {
        if let TwoWay::Search { mem, scan, .. } = self {
            *mem = 0;
            *scan = Scan::Start;
        }
    }

    /// Runs for at most about `budget` operations: preprocessing `needle`, then searching
    /// `hay` from `*pos` (which moves with the window; positions below it hold no match).
    /// Returns the work done and how the run ended. `needle` must not be empty, and must be
    /// the needle of every earlier run of this search.
    pub(crate) fn run(
        &mut self,
        needle: &[u8],
        hay: &[u8],
        pos: &mut usize,
        budget: Ops,
    ) -> (Ops, Progress) {
        let x = needle;
        let m = x.len();
        let mut ops: Ops = 0;
        loop {
            if ops >= budget {
                return (ops, Progress::Budget);
            }
            match self {
                TwoWay::Suffix {
                    reversed,
                    s,
                    j,
                    k,
                    p,
                    first,
                } => {
                    let t = if *reversed {
                        suffix_turns::<true>(x, s, j, k, p, budget - ops)
                    } else {
                        suffix_turns::<false>(x, s, j, k, p, budget - ops)
                    };
                    ops += t;
                    if *j + *k >= m {
                        if !*reversed {
                            *self = TwoWay::Suffix {
                                reversed: true,
                                s: 0,
                                j: 0,
                                k: 1,
                                p: 1,
                                first: (*s, *p),
                            };
                        } else {
                            // The later-starting of the two suffixes gives the cut.
                            let (cp, per) = if first.0 > *s { *first } else { (*s, *p) };
                            *self = TwoWay::Periodic { cp, per, done: 0 };
                        }
                    }
                }
                TwoWay::Periodic { cp, per, done } => {
                    let n = (*cp - *done).min(budget - ops);
                    let a = &x[*done..*done + n];
                    let b = &x[*per + *done..*per + *done + n];
                    ops += n + 1;
                    if a != b {
                        *self = TwoWay::Search {
                            cp: *cp,
                            per: (*cp).max(m - *cp) + 1,
                            periodic: false,
                            mem: 0,
                            scan: Scan::Start,
                        };
                    } else {
                        *done += n;
                        if *done == *cp {
                            *self = TwoWay::Search {
                                cp: *cp,
                                per: *per,
                                periodic: true,
                                mem: 0,
                                scan: Scan::Start,
                            };
                        }
                    }
                }
                TwoWay::Search {
                    cp,
                    per,
                    periodic,
                    mem,
                    scan,
                } => {
                    let fits = hay.len().checked_sub(m).is_some_and(|last| *pos <= last);
                    if !fits {
                        return (ops, Progress::NoMatch);
                    }
                    let y = &hay[*pos..*pos + m];
                    let left = budget - ops;
                    match *scan {
                        Scan::Start if *mem == 0 => {
                            // An occurrence at `pos` has `x[cp]` at `pos + cp`: skip to the
                            // next such byte (`memchr`, ~16 bytes in the time of an
                            // operation), no further than the last window.
                            let from = *pos + *cp;
                            let to = (hay.len() - m + *cp + 1)
                                .min(from.saturating_add(left.saturating_mul(SKIP_BYTES_PER_OP)));
                            let skip = memchr::memchr(x[*cp], &hay[from..to]);
                            let skipped = skip.unwrap_or(to - from);
                            ops += skipped / SKIP_BYTES_PER_OP + 1;
                            *pos += skipped;
                            if skip.is_some() {
                                *scan = Scan::Right(*cp + 1);
                            }
                        }
                        Scan::Start => {
                            *scan = Scan::Right((*cp).max(*mem));
                        }
                        Scan::Right(i) => {
                            let end = m.min(i.saturating_add(left));
                            let same = common_prefix(&x[i..end], &y[i..end]);
                            ops += same + 1;
                            let i = i + same;
                            if i == m {
                                *scan = Scan::Left(*cp);
                            } else if i == end {
                                *scan = Scan::Right(i);
                            } else {
                                // A mismatch at `i`: no occurrence starts before `i - cp + 1`
                                // bytes further on.
                                *pos += i - *cp + 1;
                                *mem = 0;
                                *scan = Scan::Start;
                            }
                        }
                        Scan::Left(i) => {
                            // Bytes below `mem` are known to match.
                            let low = (*mem).max(i.saturating_sub(left)).min(i);
                            let same = common_suffix(&x[low..i], &y[low..i]);
                            ops += same + 1;
                            let i = i - same;
                            if i <= *mem {
                                // The whole window matches. The next search starts where
                                // the caller says (`restart`).
                                *scan = Scan::Start;
                                *mem = 0;
                                return (ops, Progress::Match(*pos));
                            } else if i == low {
                                *scan = Scan::Left(i);
                            } else {
                                // A mismatch on the left: move by the period.
                                *pos += *per;
                                *mem = if *periodic { m - *per } else { 0 };
                                *scan = Scan::Start;
                            }
                        }
                    }
                }
            }
        }
    }

    /// The state as 8 words.
    pub(crate) fn encode(&self) -> [u64; 8] {
        let u = |x: usize| x as u64;
        match *self {
            TwoWay::Suffix {
                reversed,
                s,
                j,
                k,
                p,
                first,
            } => [
                reversed as u64,
                u(s),
                u(j),
                u(k),
                u(p),
                u(first.0),
                u(first.1),
                0,
            ],
            TwoWay::Periodic { cp, per, done } => [2, u(cp), u(per), u(done), 0, 0, 0, 0],
            TwoWay::Search {
                cp,
                per,
                periodic,
                mem,
                scan,
            } => {
                let (kind, i) = match scan {
                    Scan::Start => (0, 0),
                    Scan::Right(i) => (1, i),
                    Scan::Left(i) => (2, i),
                };
                [3, u(cp), u(per), periodic as u64, u(mem), kind, u(i), 0]
            }
        }
    }

    /// The state [`TwoWay::encode`] wrote, for a needle of `m` bytes, or `None` if the words
    /// are not one that [`TwoWay::run`] can index with (a damaged state is an error, never a
    /// panic).
    pub(crate) fn decode(w: [u64; 8], m: usize) -> Option<Self> {
        let at_most = |x: u64, max: usize| usize::try_from(x).ok().filter(|&x| x <= max);
        if m == 0 {
            return None;
        }
        Some(match w[0] {
            0 | 1 => {
                let s = at_most(w[1], m)?;
                let j = at_most(w[2], m)?;
                let k = at_most(w[3], m)?;
                let p = at_most(w[4], m)?;
                let first = (at_most(w[5], m)?, at_most(w[6], m)?);
                // The loop reads `x[j + k]` (guarded by `j + k < m`) and `x[s + k - 1]`.
                if s > j || k == 0 || p == 0 {
                    return None;
                }
                TwoWay::Suffix {
                    reversed: w[0] == 1,
                    s,
                    j,
                    k,
                    p,
                    first,
                }
            }
            2 => {
                let cp = at_most(w[1], m - 1)?;
                let per = at_most(w[2], m - cp)?;
                let done = at_most(w[3], cp)?;
                TwoWay::Periodic { cp, per, done }
            }
            3 => {
                // The search reads `x[cp]` (a critical position is inside the needle).
                let cp = at_most(w[1], m - 1)?;
                let per = at_most(w[2], m).filter(|&p| p > 0)?;
                let mem = at_most(w[4], m)?;
                let scan = match w[5] {
                    0 => Scan::Start,
                    // A mismatch at `i` moves the window by `i - cp + 1`.
                    1 => Scan::Right(at_most(w[6], m).filter(|&i| i >= cp)?),
                    2 => Scan::Left(at_most(w[6], cp)?),
                    _ => return None,
                };
                TwoWay::Search {
                    cp,
                    per,
                    periodic: w[3] != 0,
                    mem,
                    scan,
                }
            }
            _ => return None,
        })
    }
}

/// Runs at most `turns` turns of the greatest-suffix loop (`REVERSED`: under the opposite
/// byte order) over the state `s`, `j`, `k`, `p` of [`TwoWay::Suffix`]; returns the turns
/// run. The candidate `x[s..]` is compared with the suffix at `j + 1`, `k` bytes in.
fn suffix_turns<const REVERSED: bool>(
    x: &[u8],
    s: &mut usize,
    j: &mut usize,
    k: &mut usize,
    p: &mut usize,
    turns: Ops,
) -> Ops {
    let (mut s0, mut j0, mut k0, mut p0) = (*s, *j, *k, *p);
    let m = x.len();
    let mut t = 0;
    while j0 + k0 < m && t < turns {
        t += 1;
        let (a, b) = (x[j0 + k0], x[s0 + k0 - 1]);
        let (a, b) = if REVERSED { (b, a) } else { (a, b) };
        if a < b {
            // The suffix at `j + 1` is smaller all through: skip past it.
            j0 += k0;
            k0 = 1;
            p0 = j0 + 1 - s0;
        } else if a == b {
            if k0 == p0 {
                j0 += p0;
                k0 = 1;
            } else {
                k0 += 1;
            }
        } else {
            // A greater suffix starts at `j + 1`.
            s0 = j0 + 1;
            j0 = s0;
            k0 = 1;
            p0 = 1;
        }
    }
    (*s, *j, *k, *p) = (s0, j0, k0, p0);
    t
}

/// How many leading bytes `a` and `b` (of one length) share.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    const CHUNK: usize = 32;
    let mut n = 0;
    for (ca, cb) in a.chunks(CHUNK).zip(b.chunks(CHUNK)) {
        if ca == cb {
            n += ca.len();
        } else {
            return n + ca.iter().zip(cb).take_while(|(p, q)| p == q).count();
        }
    }
    n
}

/// How many trailing bytes `a` and `b` (of one length) share.
fn common_suffix(a: &[u8], b: &[u8]) -> usize {
    const CHUNK: usize = 32;
    let mut n = 0;
    for (ca, cb) in a.rchunks(CHUNK).zip(b.rchunks(CHUNK)) {
        if ca == cb {
            n += ca.len();
        } else {
            return n + ca
                .iter()
                .rev()
                .zip(cb.iter().rev())
                .take_while(|(p, q)| p == q)
                .count();
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every occurrence's position, found by running in pieces of `piece` operations and
    /// (with `reload`) through `encode`/`decode` at every pause; non-overlapping matches
    /// move on by the needle's length, overlapping ones by one.
    fn all(needle: &[u8], hay: &[u8], piece: Ops, overlapping: bool) -> Vec<usize> {
        let mut tw = TwoWay::new();
        let mut pos = 0;
        let mut found = Vec::new();
        let mut turns = 0u64;
        loop {
            turns += 1;
            assert!(turns < 100_000_000, "no progress");
            let (_, progress) = tw.run(needle, hay, &mut pos, piece);
            tw = TwoWay::decode(tw.encode(), needle.len()).expect("decodes");
            match progress {
                Progress::Budget => {}
                Progress::NoMatch => return found,
                Progress::Match(at) => {
                    assert_eq!(at, pos);
                    found.push(at);
                    pos += if overlapping { 1 } else { needle.len() };
                    tw.restart();
                }
            }
        }
    }

    fn naive(needle: &[u8], hay: &[u8], overlapping: bool) -> Vec<usize> {
        let mut found = Vec::new();
        let mut pos = 0;
        while pos + needle.len() <= hay.len() {
            if &hay[pos..pos + needle.len()] == needle {
                found.push(pos);
                pos += if overlapping { 1 } else { needle.len() };
            } else {
                pos += 1;
            }
        }
        found
    }

    fn check(needle: &[u8], hay: &[u8]) {
        for overlapping in [false, true] {
            let expected = naive(needle, hay, overlapping);
            for piece in [1, 2, 7, 1 << 20] {
                assert_eq!(
                    all(needle, hay, piece, overlapping),
                    expected,
                    "{:?} in {:?}, pieces of {piece}",
                    String::from_utf8_lossy(needle),
                    String::from_utf8_lossy(hay),
                );
            }
        }
    }

    #[test]
    fn finds_what_a_naive_search_finds() {
        for (needle, hay) in [
            ("a", "banana"),
            ("ana", "banana"),
            ("aab", "aaabaab"),
            ("abab", "abababab"),
            ("aaaa", "aaaaaaaaa"),
            ("abcabd", "abcabcabdabcabd"),
            ("ba", "aaaaba"),
            ("zz", "banana"),
            ("banana!", "banana"),
            ("GCAGAGAG", "GCATCGCAGAGAGTATACAGTACG"),
        ] {
            check(needle.as_bytes(), hay.as_bytes());
        }
    }

    /// Every needle over a two-letter alphabet up to 8 bytes, in a pseudo-random subject.
    #[test]
    fn all_small_needles() {
        let mut seed = 12345u32;
        let hay: Vec<u8> = (0..300)
            .map(|_| {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                if (seed >> 16).is_multiple_of(3) {
                    b'b'
                } else {
                    b'a'
                }
            })
            .collect();
        for len in 1..=8u32 {
            for bits in 0..(1u32 << len) {
                let needle: Vec<u8> = (0..len)
                    .map(|i| if bits >> i & 1 == 1 { b'b' } else { b'a' })
                    .collect();
                for overlapping in [false, true] {
                    let expected = naive(&needle, &hay, overlapping);
                    for piece in [3, 1 << 20] {
                        assert_eq!(all(&needle, &hay, piece, overlapping), expected);
                    }
                }
            }
        }
    }

    /// The work is linear: a needle that almost matches everywhere.
    #[test]
    fn work_is_linear() {
        let hay = vec![b'a'; 100_000];
        let mut needle = vec![b'a'; 9_999];
        needle.push(b'b');
        for needle in [needle.clone(), needle.iter().rev().copied().collect()] {
            let (mut tw, mut pos) = (TwoWay::new(), 0);
            let (ops, progress) = tw.run(&needle, &hay, &mut pos, usize::MAX);
            assert_eq!(progress, Progress::NoMatch);
            assert!(ops < 4 * (hay.len() + needle.len()), "{ops} operations");
        }
    }

    #[test]
    fn damaged_states_are_refused() {
        assert_eq!(TwoWay::decode([9, 0, 0, 0, 0, 0, 0, 0], 4), None);
        assert_eq!(TwoWay::decode([0, 2, 1, 1, 1, 0, 1, 0], 4), None);
        assert_eq!(TwoWay::decode([2, 3, 2, 0, 0, 0, 0, 0], 4), None);
        assert_eq!(TwoWay::decode([3, 2, 1, 0, 0, 2, 3, 0], 4), None);
        assert_eq!(TwoWay::decode(TwoWay::new().encode(), 0), None);
        let s = TwoWay::Search {
            cp: 2,
            per: 3,
            periodic: false,
            mem: 0,
            scan: Scan::Left(1),
        };
        assert_eq!(TwoWay::decode(s.encode(), 4), Some(s));
    }
}
