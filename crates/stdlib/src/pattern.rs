//! Lua 5.4 pattern matching (§6.4.1), a backtracking matcher over bytes.
//!
//! The matcher recurses only where a pattern item needs a choice point (captures, `?`, and
//! the expansions of `*`, `+` and `-`); single items and anchors loop. Nesting is bounded by
//! [`MAX_DEPTH`] ("pattern too complex", like PUC's `MAXCCALLS`), so the Rust stack use is
//! bounded. Every step of the matcher is counted: callers charge the count as fuel, and a
//! single call that needs more than its step budget (see [`STEP_LIMIT`]) fails with
//! "pattern too complex (step limit reached)" instead of running for an unbounded time —
//! a match cannot be paused halfway, so this is what keeps one VM step bounded.

/// Most captures a pattern may have (PUC's `LUA_MAXCAPTURES`).
pub(crate) const MAX_CAPTURES: usize = 32;
/// Most nested matcher calls (PUC's `MAXCCALLS`).
const MAX_DEPTH: usize = 200;
/// Most matcher steps one library call may take before failing. A step is one pattern
/// item tried at one subject position; ~20 million steps take well under a second.
pub(crate) const STEP_LIMIT: u64 = 20_000_000;

/// A pattern error; its text becomes a `luaL_error`-style message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PatternError(pub String);

type MatchResult = Result<Option<usize>, PatternError>;

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

pub(crate) struct Matcher<'a> {
    src: &'a [u8],
    pat: &'a [u8],
    level: usize,
    caps: [(usize, CapLen); MAX_CAPTURES],
    depth: usize,
    /// Steps taken so far (never reset by [`Matcher::reset`]).
    pub steps: u64,
    limit: u64,
}

/// Whether `p` has none of the characters that make a pattern special (then `find` may
/// search for it as plain text).
pub(crate) fn no_specials(p: &[u8]) -> bool {
    !p.iter().any(|c| b"^$*+?.([%-".contains(c))
}

/// `c` against a class letter like `a`, `D`, or any other byte (which matches itself).
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
        Self::with_limit(src, pat, STEP_LIMIT)
    }

    pub(crate) fn with_limit(src: &'a [u8], pat: &'a [u8], limit: u64) -> Self {
        Matcher {
            src,
            pat,
            level: 0,
            caps: [(0, CapLen::Unfinished); MAX_CAPTURES],
            depth: 0,
            steps: 0,
            limit,
        }
    }

    /// Forgets the captures of a previous attempt.
    pub(crate) fn reset(&mut self) {
        self.level = 0;
        self.depth = 0;
    }

    /// Tries to match the pattern from byte `p` at subject byte `s`; the end of the match.
    pub(crate) fn try_match(&mut self, s: usize, p: usize) -> MatchResult {
        self.reset();
        self.do_match(s, p)
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
            return Ok(Capture::Str(&self.src[s..e]));
        }
        let (start, len) = self.caps[i];
        match len {
            CapLen::Unfinished => err("unfinished capture"),
            CapLen::Position => Ok(Capture::Position(start + 1)),
            CapLen::Len(l) => Ok(Capture::Str(&self.src[start..start + l])),
        }
    }

    /// The subject bytes `s..e`.
    pub(crate) fn src_slice(&self, s: usize, e: usize) -> &'a [u8] {
        &self.src[s..e]
    }

    fn tick(&mut self) -> Result<(), PatternError> {
        self.steps += 1;
        if self.steps > self.limit {
            return err("pattern too complex (step limit reached)");
        }
        Ok(())
    }

    fn do_match(&mut self, s: usize, p: usize) -> MatchResult {
        if self.depth >= MAX_DEPTH {
            return err("pattern too complex");
        }
        self.depth += 1;
        let r = self.match_here(s, p);
        self.depth -= 1;
        r
    }

    fn match_here(&mut self, mut s: usize, mut p: usize) -> MatchResult {
        let plen = self.pat.len();
        loop {
            self.tick()?;
            if p == plen {
                return Ok(Some(s));
            }
            match self.pat[p] {
                b'(' => {
                    return if self.pat.get(p + 1) == Some(&b')') {
                        self.start_capture(s, p + 2, CapLen::Position)
                    } else {
                        self.start_capture(s, p + 1, CapLen::Unfinished)
                    };
                }
                b')' => return self.end_capture(s, p + 1),
                b'$' if p + 1 == plen => {
                    return Ok((s == self.src.len()).then_some(s));
                }
                b'%' if p + 1 < plen => match self.pat[p + 1] {
                    b'b' => match self.match_balance(s, p + 2)? {
                        Some(ns) => {
                            s = ns;
                            p += 4;
                            continue;
                        }
                        None => return Ok(None),
                    },
                    b'f' => {
                        p += 2;
                        if self.pat.get(p) != Some(&b'[') {
                            return err("missing '[' after '%f' in pattern");
                        }
                        let ep = self.class_end(p)?;
                        let prev = if s == 0 { 0 } else { self.src[s - 1] };
                        let cur = self.src.get(s).copied().unwrap_or(0);
                        if !self.match_bracket(prev, p, ep - 1)
                            && self.match_bracket(cur, p, ep - 1)
                        {
                            p = ep;
                            continue;
                        }
                        return Ok(None);
                    }
                    d @ b'0'..=b'9' => match self.match_back_reference(s, d)? {
                        Some(ns) => {
                            s = ns;
                            p += 2;
                            continue;
                        }
                        None => return Ok(None),
                    },
                    _ => {}
                },
                _ => {}
            }
            // A single-character class, possibly followed by a quantifier.
            let ep = self.class_end(p)?;
            let quant = self.pat.get(ep).copied();
            if !self.single_match(s, p, ep) {
                if matches!(quant, Some(b'*' | b'?' | b'-')) {
                    p = ep + 1;
                    continue;
                }
                return Ok(None);
            }
            match quant {
                Some(b'?') => {
                    if let Some(r) = self.do_match(s + 1, ep + 1)? {
                        return Ok(Some(r));
                    }
                    p = ep + 1;
                }
                Some(b'+') => return self.max_expand(s + 1, p, ep),
                Some(b'*') => return self.max_expand(s, p, ep),
                Some(b'-') => return self.min_expand(s, p, ep),
                _ => {
                    s += 1;
                    p = ep;
                }
            }
        }
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
        let mut found_means = true;
        if self.pat[p + 1] == b'^' {
            found_means = false;
            p += 1;
        }
        p += 1;
        while p < ec {
            let pc = self.pat[p];
            if pc == b'%' {
                p += 1;
                if match_class(c, self.pat[p]) {
                    return found_means;
                }
                p += 1;
            } else if self.pat[p + 1] == b'-' && p + 2 < ec {
                if pc <= c && c <= self.pat[p + 2] {
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

    fn single_match(&self, s: usize, p: usize, ep: usize) -> bool {
        let Some(&c) = self.src.get(s) else {
            return false;
        };
        match self.pat[p] {
            b'.' => true,
            b'%' => match_class(c, self.pat[p + 1]),
            b'[' => self.match_bracket(c, p, ep - 1),
            pc => pc == c,
        }
    }

    fn max_expand(&mut self, s: usize, p: usize, ep: usize) -> MatchResult {
        let mut i = 0;
        while self.single_match(s + i, p, ep) {
            self.tick()?;
            i += 1;
        }
        loop {
            if let Some(r) = self.do_match(s + i, ep + 1)? {
                return Ok(Some(r));
            }
            if i == 0 {
                return Ok(None);
            }
            i -= 1;
        }
    }

    fn min_expand(&mut self, mut s: usize, p: usize, ep: usize) -> MatchResult {
        loop {
            if let Some(r) = self.do_match(s, ep + 1)? {
                return Ok(Some(r));
            }
            if self.single_match(s, p, ep) {
                s += 1;
            } else {
                return Ok(None);
            }
        }
    }

    fn start_capture(&mut self, s: usize, p: usize, what: CapLen) -> MatchResult {
        if self.level >= MAX_CAPTURES {
            return err("too many captures");
        }
        self.caps[self.level] = (s, what);
        self.level += 1;
        let r = self.do_match(s, p)?;
        if r.is_none() {
            self.level -= 1;
        }
        Ok(r)
    }

    fn end_capture(&mut self, s: usize, p: usize) -> MatchResult {
        let Some(l) = (0..self.level)
            .rev()
            .find(|&i| self.caps[i].1 == CapLen::Unfinished)
        else {
            return err("invalid pattern capture");
        };
        self.caps[l].1 = CapLen::Len(s - self.caps[l].0);
        let r = self.do_match(s, p)?;
        if r.is_none() {
            self.caps[l].1 = CapLen::Unfinished;
        }
        Ok(r)
    }

    fn match_balance(&mut self, s: usize, p: usize) -> MatchResult {
        if p + 1 >= self.pat.len() {
            return err("malformed pattern (missing arguments to '%b')");
        }
        let (open, close) = (self.pat[p], self.pat[p + 1]);
        if self.src.get(s) != Some(&open) {
            return Ok(None);
        }
        let mut depth = 1;
        let mut i = s + 1;
        while i < self.src.len() {
            self.tick()?;
            let c = self.src[i];
            if c == close {
                depth -= 1;
                if depth == 0 {
                    return Ok(Some(i + 1));
                }
            } else if c == open {
                depth += 1;
            }
            i += 1;
        }
        Ok(None)
    }

    fn match_back_reference(&mut self, s: usize, digit: u8) -> MatchResult {
        let l = digit as i32 - b'1' as i32;
        if l < 0 || l as usize >= self.level || self.caps[l as usize].1 == CapLen::Unfinished {
            return err(format!("invalid capture index %{}", l + 1));
        }
        let (start, len) = self.caps[l as usize];
        let CapLen::Len(len) = len else {
            // A position capture never matches as text.
            return Ok(None);
        };
        let rest = &self.src[s..];
        if rest.len() >= len && rest[..len] == self.src[start..start + len] {
            self.steps += len as u64 / 16;
            Ok(Some(s + len))
        } else {
            Ok(None)
        }
    }
}

/// Finds the first match of `pat` in `src` at or after `init` (0-based), honouring a
/// leading `^` anchor: `(start, end)` of the match. The matcher keeps the captures.
pub(crate) fn find_from(
    m: &mut Matcher<'_>,
    pat: &[u8],
    init: usize,
) -> Result<Option<(usize, usize)>, PatternError> {
    let (anchor, p) = if pat.first() == Some(&b'^') {
        (true, 1)
    } else {
        (false, 0)
    };
    let mut s = init;
    loop {
        if let Some(e) = m.try_match(s, p)? {
            return Ok(Some((s, e)));
        }
        s += 1;
        if anchor || s > m.src.len() {
            return Ok(None);
        }
    }
}

/// Plain substring search (`lmemfind`): the index of `needle` in `hay`.
pub(crate) fn find_plain(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    if needle.len() > hay.len() {
        return None;
    }
    let first = needle[0];
    let last_start = hay.len() - needle.len();
    let mut i = 0;
    while i <= last_start {
        match hay[i..=last_start].iter().position(|&c| c == first) {
            None => return None,
            Some(off) => {
                i += off;
                if &hay[i..i + needle.len()] == needle {
                    return Some(i);
                }
                i += 1;
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(start, end, captures)` of the first match, captures as strings (`()` as numbers).
    fn find(src: &str, pat: &str) -> Result<Option<(usize, usize, Vec<String>)>, String> {
        let mut m = Matcher::new(src.as_bytes(), pat.as_bytes());
        match find_from(&mut m, pat.as_bytes(), 0) {
            Err(e) => Err(e.0),
            Ok(None) => Ok(None),
            Ok(Some((s, e))) => {
                let mut caps = Vec::new();
                for i in 0..m.num_captures(false) {
                    caps.push(match m.capture(i, s, e).map_err(|e| e.0)? {
                        Capture::Str(b) => String::from_utf8_lossy(b).into_owned(),
                        Capture::Position(p) => p.to_string(),
                    });
                }
                Ok(Some((s + 1, e, caps)))
            }
        }
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
    fn pathological_pattern_ends() {
        let src = "a".repeat(30);
        let pat = format!("{}b", "a*".repeat(30));
        let start = std::time::Instant::now();
        let r = find(&src, &pat);
        assert_eq!(r.unwrap_err(), "pattern too complex (step limit reached)");
        assert!(start.elapsed().as_secs() < 30);
    }

    #[test]
    fn plain_search() {
        assert_eq!(find_plain(b"hello", b"ll"), Some(2));
        assert_eq!(find_plain(b"hello", b""), Some(0));
        assert_eq!(find_plain(b"hello", b"lo!"), None);
        assert_eq!(find_plain(b"aab", b"ab"), Some(1));
        assert!(no_specials(b"abc"));
        assert!(!no_specials(b"a.c"));
    }
}
