//! Lua 5.4 pattern matching (§6.4.1): PUC's backtracking matcher, run as a resumable machine.
//!
//! PUC's `match` recurses at every choice point (captures, `?`, and the expansions of `*`,
//! `+` and `-`). Here those nested calls are an explicit stack of [`Frame`]s, and the work
//! still to do is a [`State`], so the matcher can stop after any step and continue later:
//! [`Matcher::resume`] runs until a step limit. Every step is bounded work (one pattern item
//! at one subject position, a run of at most [`RUN`] subject bytes, or a set scanned and
//! charged by its length), and callers charge steps as fuel ([`STEPS_PER_FUEL`]).
//!
//! Decision (issue #16): the backtracking state itself is resumable, rather than bounding the
//! work of one attempt. A library call that runs out of fuel saves the whole search
//! ([`Search::encode`]: plain integers, at most [`MAX_DEPTH`] frames) as a Lua string in its
//! continuation and pauses; a paused VM stays plain data. No pattern is ever cut off, so
//! results equal PUC's for every pattern, however long it runs; PUC's one limit is kept
//! (200 nested matches: "pattern too complex").
//!
//! A [`Search`] finds the next match at or after a position (what `find`, `match`, `gmatch`
//! and `gsub` loop over), either with the matcher or, for a pattern without special
//! characters, with a linear-time substring search, so a long needle never costs `O(n * m)`:
//! `memchr::memmem` over windows of the subject for needles shorter than [`LONG_NEEDLE`],
//! and for longer ones a Two-Way search of our own ([`crate::two_way`]) whose
//! preprocessing, which `memmem` does in one piece, pauses like the rest.

use crate::two_way::{Progress, TwoWay};

/// Most captures a pattern may have (PUC's `LUA_MAXCAPTURES`).
pub(crate) const MAX_CAPTURES: usize = 32;
/// Most nested matches (PUC's `MAXCCALLS`): frames on the stack plus the running one.
const MAX_DEPTH: usize = 200;
/// Matcher steps bought by one unit of fuel.
pub(crate) const STEPS_PER_FUEL: u64 = 4;
/// Most subject bytes one step looks at in a run (counting a `*` expansion, scanning a
/// `%b`, comparing a back reference).
const RUN: usize = 64;
/// Subject bytes a `%b` scan looks at per step charged beyond its first: a scan of [`RUN`]
/// bytes costs `1 + RUN / BALANCE_BYTES_PER_STEP` steps (its byte loop is ~1.4 ns a byte:
/// charged as one step, an unbalanced `%b` made a unit of fuel ~370 ns; at 32 bytes a step,
/// ~120 ns).
const BALANCE_BYTES_PER_STEP: usize = 16;
/// Bytes of a pattern set (`[...]`) scanned per step charged.
const SET_BYTES_PER_STEP: usize = 16;
/// Subject bytes a plain (substring) search scans per step charged (a quarter of that for
/// the needle's preprocessing, charged again for every window).
const PLAIN_BYTES_PER_STEP: usize = 32;
/// Smallest window of a plain search (bytes of subject searched at once).
const PLAIN_WINDOW: usize = 64 * 1024;
/// Needles at least this long are searched with [`TwoWay`] (shorter ones with `memmem`,
/// whose preprocessing of a needle this long takes ~12 us, repeated in every window).
const LONG_NEEDLE: usize = 4096;
/// Operations of a [`TwoWay`] search (byte comparisons, loop turns) run between checks
/// of the step limit.
const LONG_PIECE: usize = 16 * 1024;
/// Operations of a [`TwoWay`] search bought by one step.
const LONG_OPS_PER_STEP: usize = 4;

/// A pattern error; its text becomes a `luaL_error`-style message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PatternError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, PatternError> {
    Err(PatternError(msg.into()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CapLen {
    Unfinished,
    Position,
    Len(usize),
}

/// One capture's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Capture<'a> {
    Str(&'a [u8]),
    /// A position capture `()`: a 1-based subject position.
    Position(usize),
}

/// A choice point: what PUC's nested `match` call would do when the match below it fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Frame {
    /// `(` opened the capture at `level - 1`: on failure, drop it.
    Open,
    /// `)` closed capture `l`: on failure, reopen it.
    Close(usize),
    /// `?` took one item: on failure, continue at subject `s`, pattern `p` without it.
    Opt { s: usize, p: usize },
    /// `*`/`+` took `i` items from `s` (class `p..ep`): on failure, retry with `i - 1`.
    Max {
        s: usize,
        i: usize,
        p: usize,
        ep: usize,
    },
    /// `-` stopped at `s` (class `p..ep`): on failure, take one more item if it matches.
    Min { s: usize, p: usize, ep: usize },
}

/// What the matcher does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Match pattern item `p` at subject `s`.
    Run { s: usize, p: usize },
    /// Counting the items of a maximal expansion from `s`: `i` so far.
    Count {
        s: usize,
        p: usize,
        ep: usize,
        i: usize,
    },
    /// Scanning `%b` (its two characters at `p`) from `s`: at `i`, `depth` open.
    Balance { p: usize, i: usize, depth: usize },
    /// Comparing a back reference (`%n` at `p`): subject `s` against `start..start + len`,
    /// `done` bytes equal so far.
    BackRef {
        s: usize,
        p: usize,
        start: usize,
        len: usize,
        done: usize,
    },
    /// The current path failed: backtrack to the newest frame.
    Fail,
    /// The attempt ended: the end of the match, or `None`.
    Done(Option<usize>),
}

pub(crate) struct Matcher<'a> {
    src: &'a [u8],
    pat: &'a [u8],
    level: usize,
    caps: [(usize, CapLen); MAX_CAPTURES],
    frames: Vec<Frame>,
    state: State,
    /// Work done so far, in steps (callers may add their own work to it).
    pub steps: u64,
    /// The plain search's preprocessed short needle, charged per window as if rebuilt, so
    /// fuel does not depend on where steps end.
    finder: Option<memchr::memmem::Finder<'a>>,
}

/// Whether `p` has none of the characters that make a pattern special (then it matches as
/// plain text).
pub(crate) fn no_specials(p: &[u8]) -> bool {
    // (A table lookup a byte: testing each byte against the ten specials took 2 ms for a
    // 512 KiB pattern, string_find_long_needle.lua, at every call and resume.)
    const SPECIAL: [bool; 256] = {
        let mut t = [false; 256];
        let specials = b"^$*+?.([%-";
        let mut i = 0;
        while i < specials.len() {
            t[specials[i] as usize] = true;
            i += 1;
        }
        t
    };
    !p.iter().any(|&c| SPECIAL[c as usize])
}

/// Whether `p` matches exactly as plain text, errors included: no specials and no `)`
/// (which, never opened, fails with "invalid pattern capture" when the matcher reaches it;
/// only `find` treats a pattern without specials as text regardless, like PUC).
pub(crate) fn is_literal(p: &[u8]) -> bool {
    no_specials(p) && !p.contains(&b')')
}

/// How many leading bytes of `bytes` match (`matching`) or do not match the class letter
/// `cl`, as [`match_class`] says, with the class decoded once (a loop per class: deciding
/// the class at every byte made a run ~3 ns a byte).
fn class_run(bytes: &[u8], cl: u8, matching: bool) -> usize {
    fn run(bytes: &[u8], want: bool, class: impl Fn(u8) -> bool) -> usize {
        lead_run(bytes, |c| class(c) == want)
    }
    // A capital letter of a class is its complement.
    let want = matching != cl.is_ascii_uppercase();
    match cl.to_ascii_lowercase() {
        b'a' => run(bytes, want, |c| c.is_ascii_alphabetic()),
        b'c' => run(bytes, want, |c| c < 0x20 || c == 0x7f),
        b'd' => run(bytes, want, |c| c.is_ascii_digit()),
        b'g' => run(bytes, want, |c| c.is_ascii_graphic()),
        b'l' => run(bytes, want, |c| c.is_ascii_lowercase()),
        b'p' => run(bytes, want, |c| c.is_ascii_punctuation()),
        b's' => run(bytes, want, |c| {
            matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
        }),
        b'u' => run(bytes, want, |c| c.is_ascii_uppercase()),
        b'w' => run(bytes, want, |c| c.is_ascii_alphanumeric()),
        b'x' => run(bytes, want, |c| c.is_ascii_hexdigit()),
        b'z' => run(bytes, want, |c| c == 0),
        // Any other byte matches itself.
        _ => run(bytes, matching, |c| c == cl),
    }
}

/// How many leading bytes of `bytes` satisfy `ok`: whole blocks of 32 bytes are checked
/// without an early exit (a loop the compiler vectorizes; a byte-by-byte `take_while`
/// took ~0.8 ns a byte, most of a step's time over a long run), then the block where the
/// run ends byte by byte.
#[inline(always)]
fn lead_run(bytes: &[u8], ok: impl Fn(u8) -> bool) -> usize {
    let mut n = 0;
    for block in bytes.chunks_exact(32) {
        if !block.iter().fold(true, |all, &c| all & ok(c)) {
            break;
        }
        n += 32;
    }
    n + bytes[n..].iter().take_while(|&&c| ok(c)).count()
}

/// `c` against a class letter like `a`, `D`, or any other byte (which matches itself).
#[inline]
fn match_class(c: u8, cl: u8) -> bool {
    let res = match cl.to_ascii_lowercase() {
        b'a' => c.is_ascii_alphabetic(),
        b'c' => c < 0x20 || c == 0x7f,
        b'd' => c.is_ascii_digit(),
        b'g' => c.is_ascii_graphic(),
        b'l' => c.is_ascii_lowercase(),
        b'p' => c.is_ascii_punctuation(),
        b's' => matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c),
        b'u' => c.is_ascii_uppercase(),
        b'w' => c.is_ascii_alphanumeric(),
        b'x' => c.is_ascii_hexdigit(),
        // Deprecated, but still accepted by PUC 5.4.
        b'z' => c == 0,
        _ => return cl == c,
    };
    if cl.is_ascii_uppercase() {
        !res
    } else {
        res
    }
}

impl<'a> Matcher<'a> {
    pub(crate) fn new(src: &'a [u8], pat: &'a [u8]) -> Self {
        Matcher {
            src,
            pat,
            level: 0,
            caps: [(0, CapLen::Unfinished); MAX_CAPTURES],
            frames: Vec::new(),
            state: State::Done(None),
            steps: 0,
            finder: None,
        }
    }

    /// Starts an attempt to match from pattern byte `p` at subject byte `s` (forgetting the
    /// captures of a previous attempt); [`Matcher::resume`] runs it.
    pub(crate) fn start(&mut self, s: usize, p: usize) {
        self.level = 0;
        self.frames.clear();
        self.state = State::Run { s, p };
    }

    /// Runs the attempt until it ends (`Some(end of the match or None)`) or `steps` reaches
    /// `limit` (`None`: call again to continue).
    pub(crate) fn resume(&mut self, limit: u64) -> Result<Option<Option<usize>>, PatternError> {
        loop {
            if let State::Done(r) = self.state {
                return Ok(Some(r));
            }
            if self.steps >= limit {
                return Ok(None);
            }
            self.steps += 1;
            self.step()?;
        }
    }

    /// Number of values a successful match yields: its captures, or the whole match when
    /// there are none and `whole` is set.
    pub(crate) fn num_captures(&self, whole: bool) -> usize {
        if self.level == 0 && whole {
            1
        } else {
            self.level
        }
    }

    /// Capture `i` (0-based) of the match `s..e`; capture 0 is the whole match when the
    /// pattern has no captures.
    pub(crate) fn capture(
        &self,
        i: usize,
        s: usize,
        e: usize,
    ) -> Result<Capture<'a>, PatternError> {
        if i >= self.level {
            if i != 0 {
                return err(format!("invalid capture index %{}", i + 1));
            }
            return Ok(Capture::Str(self.src_slice(s, e)));
        }
        let (start, len) = self.caps[i];
        match len {
            CapLen::Unfinished => err("unfinished capture"),
            CapLen::Position => Ok(Capture::Position(start + 1)),
            CapLen::Len(l) => Ok(Capture::Str(self.src_slice(start, start + l))),
        }
    }

    /// Where `capture`, a slice of the subject (a [`Capture::Str`]), starts in it.
    pub(crate) fn offset_of(&self, capture: &[u8]) -> usize {
        (capture.as_ptr() as usize).saturating_sub(self.src.as_ptr() as usize)
    }

    /// The subject bytes `s..e` (empty if out of range).
    pub(crate) fn src_slice(&self, s: usize, e: usize) -> &'a [u8] {
        self.src.get(s..e).unwrap_or(&[])
    }

    /// Enters a nested match: pushes `f`, failing like PUC past [`MAX_DEPTH`] nested calls.
    fn push(&mut self, f: Frame) -> Result<(), PatternError> {
        if self.frames.len() + 1 >= MAX_DEPTH {
            return err("pattern too complex");
        }
        self.frames.push(f);
        Ok(())
    }

    /// Steps a set `[...]` at `p..ep` costs beyond the first, per byte matched against it.
    fn class_cost(&self, p: usize, ep: usize) -> u64 {
        if self.pat.get(p) == Some(&b'[') {
            ((ep - p) / SET_BYTES_PER_STEP) as u64
        } else {
            0
        }
    }

    /// One step of work.
    fn step(&mut self) -> Result<(), PatternError> {
        match self.state {
            State::Run { s, p } => self.run_item(s, p),
            State::Count { s, p, ep, mut i } => {
                let cost = self.class_cost(p, ep);
                // Up to `RUN` more bytes matching the item (fewer: the run ended, at a byte
                // that does not match or at the end of the subject). `.` and a literal byte
                // are counted over the slice, the classes and sets byte by byte.
                let rest = self.src.get(s + i..).unwrap_or(&[]);
                let rest = &rest[..rest.len().min(RUN)];
                let n = self.run_of(rest, p, ep, true);
                i += n;
                let ended = n < RUN;
                self.steps += cost * n as u64;
                if ended {
                    self.push(Frame::Max { s, i, p, ep })?;
                    self.state = State::Run {
                        s: s + i,
                        p: ep + 1,
                    };
                } else {
                    self.state = State::Count { s, p, ep, i };
                }
                Ok(())
            }
            State::Balance {
                p,
                mut i,
                mut depth,
            } => {
                let (open, close) = (self.pat[p], self.pat[p + 1]);
                let end = (i + RUN).min(self.src.len());
                self.steps += (end.saturating_sub(i) / BALANCE_BYTES_PER_STEP) as u64;
                if depth > end.saturating_sub(i) {
                    // No close in this run can bring the depth to 0: count the run's closes
                    // and opens at once (a counting loop the compiler vectorizes; the byte
                    // loop below is ~1.4 ns a byte). A byte that both opens and closes
                    // closes, as below.
                    // (Byte counters: a run is at most `RUN` < 256 bytes, and byte lanes
                    // are what the vector loop adds in.)
                    const _: () = assert!(RUN < 256);
                    let (mut opens, mut closes) = (0u8, 0u8);
                    for &c in &self.src[i.min(end)..end] {
                        closes += u8::from(c == close);
                        opens += u8::from(c == open && c != close);
                    }
                    depth = depth + usize::from(opens) - usize::from(closes);
                    i = end;
                }
                while i < end {
                    let c = self.src[i];
                    i += 1;
                    if c == close {
                        depth -= 1;
                        if depth == 0 {
                            self.state = State::Run { s: i, p: p + 2 };
                            return Ok(());
                        }
                    } else if c == open {
                        depth += 1;
                    }
                }
                self.state = if i >= self.src.len() {
                    State::Fail
                } else {
                    State::Balance { p, i, depth }
                };
                Ok(())
            }
            State::BackRef {
                s,
                p,
                start,
                len,
                done,
            } => {
                let n = (len - done).min(RUN * 4);
                let a = &self.src[start + done..start + done + n];
                let b = &self.src[s + done..s + done + n];
                self.state = if a != b {
                    State::Fail
                } else if done + n == len {
                    State::Run {
                        s: s + len,
                        p: p + 2,
                    }
                } else {
                    State::BackRef {
                        s,
                        p,
                        start,
                        len,
                        done: done + n,
                    }
                };
                Ok(())
            }
            State::Fail => {
                self.backtrack();
                Ok(())
            }
            State::Done(_) => Ok(()),
        }
    }

    /// Pops the newest choice point and does what it says on failure.
    fn backtrack(&mut self) {
        let Some(f) = self.frames.pop() else {
            self.state = State::Done(None);
            return;
        };
        match f {
            Frame::Open => self.level = self.level.saturating_sub(1),
            Frame::Close(l) => {
                if let Some(c) = self.caps.get_mut(l) {
                    c.1 = CapLen::Unfinished;
                }
            }
            Frame::Opt { s, p } => self.state = State::Run { s, p },
            Frame::Max { s, i, p, ep } => {
                if i > 0 {
                    // Same depth as the frame just popped: no depth check.
                    self.frames.push(Frame::Max { s, i: i - 1, p, ep });
                    self.state = State::Run {
                        s: s + i - 1,
                        p: ep + 1,
                    };
                }
            }
            Frame::Min { s, p, ep } => {
                self.steps += self.class_cost(p, ep);
                if self.single_match(s, p, ep) {
                    self.frames.push(Frame::Min { s: s + 1, p, ep });
                    self.state = State::Run {
                        s: s + 1,
                        p: ep + 1,
                    };
                }
            }
        }
    }

    /// One pattern item at one subject position (one iteration of PUC's `match` loop).
    fn run_item(&mut self, s: usize, p: usize) -> Result<(), PatternError> {
        let plen = self.pat.len();
        if p >= plen {
            self.state = State::Done(Some(s));
            return Ok(());
        }
        match self.pat[p] {
            b'(' => {
                let (np, what) = if self.pat.get(p + 1) == Some(&b')') {
                    (p + 2, CapLen::Position)
                } else {
                    (p + 1, CapLen::Unfinished)
                };
                if self.level >= MAX_CAPTURES {
                    return err("too many captures");
                }
                self.caps[self.level] = (s, what);
                self.level += 1;
                self.push(Frame::Open)?;
                self.state = State::Run { s, p: np };
                return Ok(());
            }
            b')' => {
                let Some(l) = (0..self.level)
                    .rev()
                    .find(|&i| self.caps[i].1 == CapLen::Unfinished)
                else {
                    return err("invalid pattern capture");
                };
                self.caps[l].1 = CapLen::Len(s.saturating_sub(self.caps[l].0));
                self.push(Frame::Close(l))?;
                self.state = State::Run { s, p: p + 1 };
                return Ok(());
            }
            b'$' if p + 1 == plen => {
                self.state = if s == self.src.len() {
                    State::Done(Some(s))
                } else {
                    State::Fail
                };
                return Ok(());
            }
            b'%' if p + 1 < plen => match self.pat[p + 1] {
                b'b' => {
                    if p + 3 >= plen {
                        return err("malformed pattern (missing arguments to '%b')");
                    }
                    self.state = if self.src.get(s) == Some(&self.pat[p + 2]) {
                        State::Balance {
                            p: p + 2,
                            i: s + 1,
                            depth: 1,
                        }
                    } else {
                        State::Fail
                    };
                    return Ok(());
                }
                b'f' => {
                    let p = p + 2;
                    if self.pat.get(p) != Some(&b'[') {
                        return err("missing '[' after '%f' in pattern");
                    }
                    let ep = self.class_end(p)?;
                    // The set is scanned three times: its end, then two bytes against it.
                    self.steps += 3 * self.class_cost(p, ep);
                    let prev = if s == 0 { 0 } else { self.src[s - 1] };
                    let cur = self.src.get(s).copied().unwrap_or(0);
                    self.state = if !self.match_bracket(prev, p, ep - 1)
                        && self.match_bracket(cur, p, ep - 1)
                    {
                        State::Run { s, p: ep }
                    } else {
                        State::Fail
                    };
                    return Ok(());
                }
                d @ b'0'..=b'9' => {
                    let l = d as i32 - b'1' as i32;
                    if l < 0
                        || l as usize >= self.level
                        || self.caps[l as usize].1 == CapLen::Unfinished
                    {
                        return err(format!("invalid capture index %{}", l + 1));
                    }
                    let (start, len) = self.caps[l as usize];
                    self.state = match len {
                        // A position capture never matches as text.
                        CapLen::Len(len) if self.src.len() - s >= len => State::BackRef {
                            s,
                            p,
                            start,
                            len,
                            done: 0,
                        },
                        _ => State::Fail,
                    };
                    return Ok(());
                }
                _ => {}
            },
            _ => {}
        }
        // A single-character class, possibly followed by a quantifier.
        let ep = self.class_end(p)?;
        // The set is scanned twice: its end, then the byte against it.
        self.steps += 2 * self.class_cost(p, ep);
        let quant = self.pat.get(ep).copied();
        if !self.single_match(s, p, ep) {
            self.state = if matches!(quant, Some(b'*' | b'?' | b'-')) {
                State::Run { s, p: ep + 1 }
            } else {
                State::Fail
            };
            return Ok(());
        }
        match quant {
            Some(b'?') => {
                self.push(Frame::Opt { s, p: ep + 1 })?;
                self.state = State::Run {
                    s: s + 1,
                    p: ep + 1,
                };
            }
            Some(b'+') => {
                self.state = State::Count {
                    s: s + 1,
                    p,
                    ep,
                    i: 0,
                }
            }
            Some(b'*') => self.state = State::Count { s, p, ep, i: 0 },
            Some(b'-') => {
                self.push(Frame::Min { s, p, ep })?;
                self.state = State::Run { s, p: ep + 1 };
            }
            _ => self.state = State::Run { s: s + 1, p: ep },
        }
        Ok(())
    }

    /// The index just past the single-character class starting at `p`.
    fn class_end(&self, mut p: usize) -> Result<usize, PatternError> {
        let plen = self.pat.len();
        let c = self.pat[p];
        p += 1;
        match c {
            b'%' => {
                if p >= plen {
                    return err("malformed pattern (ends with '%')");
                }
                Ok(p + 1)
            }
            b'[' => {
                if self.pat.get(p) == Some(&b'^') {
                    p += 1;
                }
                // The first character is part of the set even if it is ']'.
                loop {
                    if p >= plen {
                        return err("malformed pattern (missing ']')");
                    }
                    let c = self.pat[p];
                    p += 1;
                    if c == b'%' && p < plen {
                        p += 1;
                    }
                    if self.pat.get(p) == Some(&b']') {
                        return Ok(p + 1);
                    }
                }
            }
            _ => Ok(p),
        }
    }

    /// `c` against the set `[...]` spanning `p` (the `[`) to `ec` (the `]`).
    fn match_bracket(&self, c: u8, mut p: usize, ec: usize) -> bool {
        let at = |i: usize| self.pat.get(i).copied().unwrap_or(0);
        let mut found_means = true;
        if at(p + 1) == b'^' {
            found_means = false;
            p += 1;
        }
        p += 1;
        while p < ec {
            let pc = at(p);
            if pc == b'%' {
                p += 1;
                if match_class(c, at(p)) {
                    return found_means;
                }
                p += 1;
            } else if at(p + 1) == b'-' && p + 2 < ec {
                if pc <= c && c <= at(p + 2) {
                    return found_means;
                }
                p += 3;
            } else {
                if pc == c {
                    return found_means;
                }
                p += 1;
            }
        }
        !found_means
    }

    /// The pattern's first item from `p0`, `(p, ep)`, when it is a single-character class
    /// every match must begin with (past leading captures, which match nothing): a position
    /// whose byte it does not match cannot start a match. No error can come before that
    /// test in an attempt (fewer than `MAX_CAPTURES` captures open first), so passing such
    /// positions over changes nothing but the work.
    fn first_class(&self, p0: usize) -> Option<(usize, usize)> {
        let mut p = p0;
        let mut opened = 0;
        while self.pat.get(p) == Some(&b'(') {
            opened += 1;
            if opened >= MAX_CAPTURES {
                return None;
            }
            p += if self.pat.get(p + 1) == Some(&b')') {
                2
            } else {
                1
            };
        }
        match *self.pat.get(p)? {
            b')' | b'$' => return None,
            b'%' if matches!(self.pat.get(p + 1), Some(b'b' | b'f' | b'0'..=b'9')) => return None,
            _ => {}
        }
        let ep = self.class_end(p).ok()?;
        if matches!(self.pat.get(ep), Some(b'*' | b'?' | b'-')) {
            return None;
        }
        Some((p, ep))
    }

    /// How many bytes at the start of `bytes` the single-character item `p..ep` matches
    /// (`matching`), or does not match: over the slice, with `.` and a literal byte
    /// decided without a loop per byte where they can be (`memchr`) and a class's letter
    /// read once.
    fn run_of(&self, bytes: &[u8], p: usize, ep: usize, matching: bool) -> usize {
        match self.pat[p] {
            b'.' if matching => bytes.len(),
            b'.' => 0,
            b'%' => class_run(bytes, self.pat.get(p + 1).copied().unwrap_or(0), matching),
            b'[' => bytes
                .iter()
                .take_while(|&&c| self.match_bracket(c, p, ep - 1) == matching)
                .count(),
            pc if matching => lead_run(bytes, |c| c == pc),
            pc => memchr::memchr(pc, bytes).unwrap_or(bytes.len()),
        }
    }

    fn single_match(&self, s: usize, p: usize, ep: usize) -> bool {
        let Some(&c) = self.src.get(s) else {
            return false;
        };
        match self.pat[p] {
            b'.' => true,
            b'%' => match_class(c, self.pat.get(p + 1).copied().unwrap_or(0)),
            b'[' => self.match_bracket(c, p, ep - 1),
            pc => pc == c,
        }
    }
}

/// What [`Search::next`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Found {
    /// A match `start..end` (the matcher holds its captures).
    Match(usize, usize),
    /// No match at or after the position.
    NoMatch,
    /// The step limit was reached; call again to continue.
    Paused,
}

/// A resumable search for the next match at or after `pos`: the loop over start positions
/// of `find`, `match`, `gmatch` and `gsub`. Positions below `pos` are known not to start a
/// match (or only one ending at `last`), so a caller may copy them out at any time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Search {
    /// Next start position to try (0-based).
    pub pos: usize,
    /// A match ending here is skipped (`gmatch`/`gsub`: an empty match right after the
    /// previous one).
    pub last: Option<usize>,
    /// Only one attempt, at the first position (`^`).
    pub anchor: bool,
    /// The pattern is plain text: search it with `memmem`, or with [`TwoWay`] if it is long.
    plain: bool,
    /// Where the pattern's items start (1 after a `^` anchor).
    p0: usize,
    /// An attempt at `pos` is under way in the matcher; for a plain search, a long needle's
    /// search has begun (`long` holds where it stands).
    in_attempt: bool,
    /// A long needle's search; `pos` is its window's position.
    long: Option<TwoWay>,
}

impl Search {
    /// A search for `pat` from `init`. `plain`: the pattern is text (`find`'s `plain`
    /// argument, or a pattern without specials); `anchor_ok`: a leading `^` anchors
    /// (everything but `gmatch`).
    pub(crate) fn new(pat: &[u8], init: usize, plain: bool, anchor_ok: bool) -> Self {
        let anchor = !plain && anchor_ok && pat.first() == Some(&b'^');
        Search {
            pos: init,
            last: None,
            anchor,
            // An empty pattern matches everywhere: the matcher handles it.
            plain: plain && !pat.is_empty(),
            p0: anchor as usize,
            in_attempt: false,
            long: None,
        }
    }

    /// Searches on until a match, the end of the subject, or `m.steps >= limit`.
    pub(crate) fn next(&mut self, m: &mut Matcher<'_>, limit: u64) -> Result<Found, PatternError> {
        if self.plain {
            return Ok(self.next_plain(m, limit));
        }
        let first = if self.anchor {
            None
        } else {
            m.first_class(self.p0)
        };
        loop {
            if !self.in_attempt {
                if let Some((p, ep)) = first {
                    // Positions whose byte cannot begin a match: a step each, where an
                    // attempt took several. Counted over the slice, up to what the steps
                    // left allow (one byte more tells whether the run goes on past them).
                    let budget = limit.saturating_sub(m.steps);
                    let rest = m.src.get(self.pos..).unwrap_or(&[]);
                    let window = &rest[..rest.len().min(budget.saturating_add(1) as usize)];
                    let run = m.run_of(window, p, ep, false);
                    let skip = run.min(budget as usize);
                    m.steps += skip as u64;
                    self.pos += skip;
                    if run > skip {
                        return Ok(Found::Paused);
                    }
                }
                if self.pos > m.src.len() {
                    return Ok(Found::NoMatch);
                }
                m.start(self.pos, self.p0);
                self.in_attempt = true;
            }
            let Some(r) = m.resume(limit)? else {
                return Ok(Found::Paused);
            };
            self.in_attempt = false;
            if let Some(e) = r {
                if Some(e) != self.last {
                    return Ok(Found::Match(self.pos, e));
                }
            }
            if self.anchor {
                return Ok(Found::NoMatch);
            }
            self.pos += 1;
        }
    }

    /// The plain-text search of a short needle: windows of [`PLAIN_WINDOW`] bytes and the
    /// needle, each charged before it is searched, consecutive windows overlapping by the
    /// needle's length less one (so the total work is linear in the subject).
    fn next_plain(&mut self, m: &mut Matcher<'_>, limit: u64) -> Found {
        let (hay, needle) = (m.src, m.pat);
        if needle.len() >= LONG_NEEDLE {
            return self.next_long(m, limit);
        }
        loop {
            if self.pos > hay.len() || hay.len() - self.pos < needle.len() {
                return Found::NoMatch;
            }
            if m.steps >= limit {
                return Found::Paused;
            }
            let end = self
                .pos
                .saturating_add(PLAIN_WINDOW + needle.len())
                .min(hay.len());
            // The window's bytes, and the needle's preprocessing (~4x slower a byte).
            m.steps += ((end - self.pos) / PLAIN_BYTES_PER_STEP) as u64
                + (needle.len() / (PLAIN_BYTES_PER_STEP / 4)) as u64
                + 1;
            let finder = m
                .finder
                .get_or_insert_with(|| memchr::memmem::Finder::new(needle));
            if let Some(i) = finder.find(&hay[self.pos..end]) {
                let start = self.pos + i;
                return Found::Match(start, start + needle.len());
            }
            if end == hay.len() {
                self.pos = hay.len() + 1;
                return Found::NoMatch;
            }
            self.pos = end + 1 - needle.len();
        }
    }

    /// The plain-text search of a long needle: [`TwoWay`] in pieces of [`LONG_PIECE`]
    /// operations, each charged for the operations it did. The pieces, and so the charges,
    /// fall at the same operations whatever the step limits, since a search pauses only
    /// between pieces.
    fn next_long(&mut self, m: &mut Matcher<'_>, limit: u64) -> Found {
        let (hay, needle) = (m.src, m.pat);
        if self.pos > hay.len() || hay.len() - self.pos < needle.len() {
            return Found::NoMatch;
        }
        // A begun search is parked whole across calls of `gmatch` and `gsub` (`in_attempt`):
        // its preprocessing is done once.
        self.in_attempt = true;
        let tw = self.long.get_or_insert_with(TwoWay::new);
        loop {
            if m.steps >= limit {
                return Found::Paused;
            }
            let (ops, progress) = tw.run(needle, hay, &mut self.pos, LONG_PIECE);
            m.steps += (ops / LONG_OPS_PER_STEP) as u64 + 1;
            match progress {
                Progress::Budget => {}
                Progress::NoMatch => return Found::NoMatch,
                Progress::Match(start) => return Found::Match(start, start + needle.len()),
            }
        }
    }

    /// Whether an attempt is under way, or for a plain search whether a long needle's search
    /// has begun (else the search is just `pos` and `last`).
    pub(crate) fn in_attempt(&self) -> bool {
        self.in_attempt
    }

    /// Records a match ending at `e`: the search goes on from there (`gmatch`, `gsub`).
    pub(crate) fn advance_past(&mut self, e: usize) {
        self.pos = e;
        self.last = Some(e);
        if let Some(tw) = &mut self.long {
            tw.restart();
        }
    }
}

/// Serialization of a paused search (the matcher's whole state) as integers, kept in a Lua
/// string while the VM is paused. Decoding validates every index against the subject and
/// pattern, so a damaged state is an error, never a panic.
impl Search {
    pub(crate) fn encode(&self, m: &Matcher<'_>) -> Vec<u8> {
        let mut w: Vec<u64> = Vec::with_capacity(16 + 2 * m.level + 6 * m.frames.len());
        let opt = |o: Option<usize>| o.map_or(0, |v| v as u64 + 1);
        w.extend([
            self.pos as u64,
            opt(self.last),
            self.anchor as u64,
            self.plain as u64,
            self.p0 as u64,
            self.in_attempt as u64,
            m.steps,
            m.level as u64,
        ]);
        for &(start, len) in &m.caps[..m.level] {
            let code = match len {
                CapLen::Unfinished => 0,
                CapLen::Position => 1,
                CapLen::Len(l) => l as u64 + 2,
            };
            w.extend([start as u64, code]);
        }
        let st = |w: &mut Vec<u64>, r: [u64; 6]| w.extend(r);
        let u = |x: usize| x as u64;
        let state = match m.state {
            State::Run { s, p } => [0, u(s), u(p), 0, 0, 0],
            State::Count { s, p, ep, i } => [1, u(s), u(p), u(ep), u(i), 0],
            State::Balance { p, i, depth } => [2, u(p), u(i), u(depth), 0, 0],
            State::BackRef {
                s,
                p,
                start,
                len,
                done,
            } => [3, u(s), u(p), u(start), u(len), u(done)],
            State::Fail => [4, 0, 0, 0, 0, 0],
            State::Done(r) => [5, opt(r), 0, 0, 0, 0],
        };
        st(&mut w, state);
        w.push(m.frames.len() as u64);
        for f in &m.frames {
            let rec = match *f {
                Frame::Open => [0, 0, 0, 0, 0, 0],
                Frame::Close(l) => [1, u(l), 0, 0, 0, 0],
                Frame::Opt { s, p } => [2, u(s), u(p), 0, 0, 0],
                Frame::Max { s, i, p, ep } => [3, u(s), u(i), u(p), u(ep), 0],
                Frame::Min { s, p, ep } => [4, u(s), u(p), u(ep), 0, 0],
            };
            st(&mut w, rec);
        }
        match &self.long {
            None => w.push(0),
            Some(tw) => {
                w.push(1);
                w.extend(tw.encode());
            }
        }
        w.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    /// Restores a search and its matcher's state from [`Search::encode`]'s bytes.
    pub(crate) fn decode(bytes: &[u8], m: &mut Matcher<'_>) -> Option<Search> {
        if !bytes.chunks_exact(8).remainder().is_empty() {
            return None;
        }
        let mut r = Reader(bytes.chunks_exact(8));
        let (slen, plen) = (m.src.len(), m.pat.len());
        let search = Search {
            pos: idx(r.u()?, slen + 1)?,
            last: opt(r.u()?, slen)?,
            anchor: r.u()? != 0,
            plain: r.u()? != 0,
            p0: idx(r.u()?, 1.min(plen))?,
            in_attempt: r.u()? != 0,
            long: None,
        };
        m.steps = r.u()?;
        let level = idx(r.u()?, MAX_CAPTURES)?;
        for i in 0..level {
            let start = idx(r.u()?, slen)?;
            let len = match r.u()? {
                0 => CapLen::Unfinished,
                1 => CapLen::Position,
                l => CapLen::Len(idx(l - 2, slen - start)?),
            };
            m.caps[i] = (start, len);
        }
        m.level = level;
        // A class `p..ep` must be what `class_end` says it is.
        let class = |m: &Matcher<'_>, p: u64, ep: u64| -> Option<(usize, usize)> {
            let p = idx(p, plen.checked_sub(1)?)?;
            let ep = idx(ep, plen)?;
            (m.class_end(p).ok()? == ep).then_some((p, ep))
        };
        let w = r.rec()?;
        m.state = match w[0] {
            0 => State::Run {
                s: idx(w[1], slen)?,
                p: idx(w[2], plen)?,
            },
            1 => {
                let (p, ep) = class(m, w[2], w[3])?;
                let s = idx(w[1], slen)?;
                State::Count {
                    s,
                    p,
                    ep,
                    i: idx(w[4], slen - s)?,
                }
            }
            2 => State::Balance {
                p: idx(w[1], plen.checked_sub(2)?)?,
                i: idx(w[2], slen)?,
                // (A scan under way is at depth 1 at least: it ends when a close brings
                // the depth to 0.)
                depth: idx(w[3], slen + 1).filter(|&d| d > 0)?,
            },
            3 => {
                let s = idx(w[1], slen)?;
                let start = idx(w[3], slen)?;
                let len = idx(w[4], (slen - s).min(slen - start))?;
                State::BackRef {
                    s,
                    p: idx(w[2], plen.checked_sub(2)?)?,
                    start,
                    len,
                    done: idx(w[5], len)?,
                }
            }
            4 => State::Fail,
            5 => State::Done(opt(w[1], slen)?),
            _ => return None,
        };
        let n = idx(r.u()?, MAX_DEPTH)?;
        m.frames.clear();
        let mut opens = 0;
        for _ in 0..n {
            let w = r.rec()?;
            let f = match w[0] {
                0 => {
                    opens += 1;
                    Frame::Open
                }
                1 => Frame::Close(idx(w[1], level.checked_sub(1)?)?),
                2 => Frame::Opt {
                    s: idx(w[1], slen)?,
                    p: idx(w[2], plen)?,
                },
                3 => {
                    let (p, ep) = class(m, w[3], w[4])?;
                    let s = idx(w[1], slen)?;
                    Frame::Max {
                        s,
                        i: idx(w[2], slen - s)?,
                        p,
                        ep,
                    }
                }
                4 => {
                    let (p, ep) = class(m, w[2], w[3])?;
                    Frame::Min {
                        s: idx(w[1], slen)?,
                        p,
                        ep,
                    }
                }
                _ => return None,
            };
            m.frames.push(f);
        }
        if opens > level {
            return None;
        }
        let mut search = search;
        if r.u()? != 0 {
            if !search.plain {
                return None;
            }
            let mut w = [0; 8];
            for x in &mut w {
                *x = r.u()?;
            }
            search.long = Some(TwoWay::decode(w, plen)?);
        }
        Some(search)
    }
}

/// Reads the words of an encoded search.
struct Reader<'b>(std::slice::ChunksExact<'b, u8>);

impl Reader<'_> {
    fn u(&mut self) -> Option<u64> {
        let c = self.0.next()?;
        Some(u64::from_le_bytes(c.try_into().ok()?))
    }
    fn rec(&mut self) -> Option<[u64; 6]> {
        Some([
            self.u()?,
            self.u()?,
            self.u()?,
            self.u()?,
            self.u()?,
            self.u()?,
        ])
    }
}

/// `x` as an index at most `max`.
fn idx(x: u64, max: usize) -> Option<usize> {
    let x = usize::try_from(x).ok()?;
    (x <= max).then_some(x)
}

/// An optional index encoded as 0 (none) or index + 1.
fn opt(x: u64, max: usize) -> Option<Option<usize>> {
    if x == 0 {
        Some(None)
    } else {
        idx(x - 1, max).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a search to its end in pieces of `piece` steps; with `reload`, the state goes
    /// through `encode`/`decode` at every pause (as across a VM pause).
    fn search(
        src: &str,
        pat: &str,
        piece: u64,
        reload: bool,
    ) -> Result<Option<(usize, usize, Vec<String>)>, String> {
        let (src, pat) = (src.as_bytes(), pat.as_bytes());
        let mut m = Matcher::new(src, pat);
        let mut se = Search::new(pat, 0, is_literal(pat), true);
        loop {
            let limit = m.steps + piece;
            match se.next(&mut m, limit).map_err(|e| e.0)? {
                Found::Paused => {
                    if reload {
                        let bytes = se.encode(&m);
                        m = Matcher::new(src, pat);
                        se = Search::decode(&bytes, &mut m).expect("decodes");
                    }
                }
                Found::NoMatch => return Ok(None),
                Found::Match(s, e) => {
                    let mut caps = Vec::new();
                    for i in 0..m.num_captures(false) {
                        caps.push(match m.capture(i, s, e).map_err(|e| e.0)? {
                            Capture::Str(b) => String::from_utf8_lossy(b).into_owned(),
                            Capture::Position(p) => p.to_string(),
                        });
                    }
                    return Ok(Some((s + 1, e, caps)));
                }
            }
        }
    }

    /// `(start, end, captures)` of the first match, captures as strings (`()` as numbers);
    /// checks that pausing (every step, every 3 steps, with and without a reload) changes
    /// nothing.
    fn find(src: &str, pat: &str) -> Result<Option<(usize, usize, Vec<String>)>, String> {
        let whole = search(src, pat, u64::MAX / 2, false);
        for piece in [1, 3] {
            for reload in [false, true] {
                assert_eq!(
                    search(src, pat, piece, reload),
                    whole,
                    "{src:?} {pat:?} {piece}"
                );
            }
        }
        whole
    }

    fn span(src: &str, pat: &str) -> Option<(usize, usize)> {
        find(src, pat).unwrap().map(|(s, e, _)| (s, e))
    }

    fn caps(src: &str, pat: &str) -> Vec<String> {
        find(src, pat)
            .unwrap()
            .map(|(_, _, c)| c)
            .unwrap_or_default()
    }

    #[test]
    fn literals_and_classes() {
        assert_eq!(span("hello world", "o w"), Some((5, 7)));
        assert_eq!(span("hello", "xyz"), None);
        assert_eq!(span("abc123", "%d+"), Some((4, 6)));
        assert_eq!(span("abc123", "%a+"), Some((1, 3)));
        assert_eq!(span("  x", "%S"), Some((3, 3)));
        assert_eq!(span("a.b", "%."), Some((2, 2)));
        assert_eq!(span("a\0b", "%z"), Some((2, 2)));
        assert_eq!(span("x+y", "%p"), Some((2, 2)));
        assert_eq!(span("AbC", "%l"), Some((2, 2)));
        assert_eq!(span("ff0x", "%X"), Some((4, 4)));
        assert_eq!(span("\t\x7f", "%c+"), Some((1, 2)));
    }

    #[test]
    fn sets() {
        assert_eq!(span("hello", "[aeiou]+"), Some((2, 2)));
        assert_eq!(span("hello", "[^h]+"), Some((2, 5)));
        assert_eq!(span("a]b", "[]]"), Some((2, 2)));
        assert_eq!(span("a]b", "[^]a]"), Some((3, 3)));
        assert_eq!(span("x-y", "[a-]"), Some((2, 2)));
        assert_eq!(span("Q7", "[%d]"), Some((2, 2)));
        assert_eq!(span("m", "[a-z]"), Some((1, 1)));
        assert_eq!(span("%", "[%%]"), Some((1, 1)));
        assert_eq!(
            find("abc", "[a").unwrap_err(),
            "malformed pattern (missing ']')"
        );
        assert_eq!(
            find("abc", "[a%").unwrap_err(),
            "malformed pattern (missing ']')"
        );
        assert_eq!(
            find("abc", "%").unwrap_err(),
            "malformed pattern (ends with '%')"
        );
    }

    #[test]
    fn quantifiers_and_anchors() {
        assert_eq!(span("aaa", "a-"), Some((1, 0)));
        assert_eq!(span("aaab", "a-b"), Some((1, 4)));
        assert_eq!(span("aaab", "^a*"), Some((1, 3)));
        assert_eq!(span("baaa", "^a*"), Some((1, 0)));
        assert_eq!(span("ab", "ab?c?"), Some((1, 2)));
        assert_eq!(span("abc", "c$"), Some((3, 3)));
        assert_eq!(span("abc", "b$"), None);
        assert_eq!(span("a$b", "$b"), Some((2, 3)));
        assert_eq!(span("xaay", "a+"), Some((2, 3)));
        assert_eq!(span("", ""), Some((1, 0)));
    }

    #[test]
    fn captures() {
        assert_eq!(
            caps("key = value", "(%w+)%s*=%s*(%w+)"),
            vec!["key", "value"]
        );
        assert_eq!(caps("hello", "()ll()"), vec!["3", "5"]);
        assert_eq!(caps("abcd", "((a)(b))"), vec!["ab", "a", "b"]);
        assert_eq!(caps("xyzzy", "(z)%1"), vec!["z"]);
        assert_eq!(span("abab", "(ab)%1"), Some((1, 4)));
        assert_eq!(find("abc", "(a").unwrap_err(), "unfinished capture");
        assert_eq!(find("abc", "a)").unwrap_err(), "invalid pattern capture");
        assert_eq!(find("abc", "%1").unwrap_err(), "invalid capture index %1");
        assert_eq!(
            find("abc", "(a%1)").unwrap_err(),
            "invalid capture index %1"
        );
        let many = "(a)".repeat(33);
        assert_eq!(
            find(&"a".repeat(40), &many).unwrap_err(),
            "too many captures"
        );
    }

    #[test]
    fn balance_and_frontier() {
        assert_eq!(caps("f(a(b)c) x", "(%b())"), vec!["(a(b)c)"]);
        assert_eq!(span("((", "%b()"), None);
        assert_eq!(span("THE (quick) fox", "%f[%a]%a+"), Some((1, 3)));
        assert_eq!(span("THE (quick) fox", "%f[%l]%a+"), Some((6, 10)));
        assert_eq!(span("abc", "%f[%z]"), Some((4, 3)));
        assert_eq!(span("abc", "%f[%Z]"), Some((1, 0)));
        assert_eq!(
            find("abc", "%b").unwrap_err(),
            "malformed pattern (missing arguments to '%b')"
        );
        assert_eq!(
            find("abc", "%fa").unwrap_err(),
            "missing '[' after '%f' in pattern"
        );
    }

    #[test]
    fn depth_limit() {
        let p = "a?".repeat(300);
        assert_eq!(
            find(&"a".repeat(300), &p).unwrap_err(),
            "pattern too complex"
        );
    }

    #[test]
    fn pathological_pattern_pauses() {
        // ~2^60 steps: every piece returns after its limit, with no error and no cut-off.
        let src = "a".repeat(30);
        let pat = format!("{}b", "a*".repeat(30));
        let mut m = Matcher::new(src.as_bytes(), pat.as_bytes());
        let mut se = Search::new(pat.as_bytes(), 0, false, true);
        for _ in 0..100 {
            let limit = m.steps + 10_000;
            assert_eq!(se.next(&mut m, limit), Ok(Found::Paused));
            assert!(m.steps < limit + 100);
        }
        // Long subjects: one step looks at a bounded run of bytes.
        let src = "a".repeat(100_000);
        let mut m = Matcher::new(src.as_bytes(), b"a*b");
        let mut se = Search::new(b"a*b", 0, false, true);
        let limit = m.steps + 100;
        assert_eq!(se.next(&mut m, limit), Ok(Found::Paused));
    }

    #[test]
    fn long_runs_across_pieces() {
        let long = "a".repeat(1000);
        assert_eq!(span(&format!("{long}b"), "a*b"), Some((1, 1001)));
        assert_eq!(span(&format!("({long})"), "%b()"), Some((1, 1002)));
        assert_eq!(span(&format!("x{long}{long}"), "(a+)%1$"), Some((2, 2001)));
        assert_eq!(span(&format!("x{long}{long}"), "(a+)%1"), Some((2, 2001)));
        assert_eq!(span(&long, "a-$"), Some((1, 1000)));
        assert_eq!(span(&long, "[^b]+$"), Some((1, 1000)));
    }

    /// A class run counts what `match_class` says byte by byte, for every class letter (and
    /// other bytes) and both senses.
    #[test]
    fn class_runs_agree_with_match_class() {
        let all: Vec<u8> = (0..=255).collect();
        for cl in 0..=255u8 {
            for matching in [true, false] {
                for start in 0..256 {
                    let bytes = &all[start..];
                    let expected = bytes
                        .iter()
                        .take_while(|&&c| match_class(c, cl) == matching)
                        .count();
                    assert_eq!(class_run(bytes, cl, matching), expected, "{cl} {start}");
                }
            }
        }
    }

    #[test]
    fn plain_search() {
        assert_eq!(span("hello", "ll"), Some((3, 4)));
        assert_eq!(span("hello", ""), Some((1, 0)));
        assert_eq!(span("hello", "lo!"), None);
        assert_eq!(span("aab", "ab"), Some((2, 3)));
        let hay = format!("{}b", "a".repeat(300_000));
        let needle = format!("{}b", "a".repeat(100_000));
        assert_eq!(span(&hay, &needle), Some((200_001, 300_001)));
        assert_eq!(span(&hay, &format!("{needle}b")), None);
        assert!(no_specials(b"abc"));
        assert!(!no_specials(b"a.c"));
    }
}
