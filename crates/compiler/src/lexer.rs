//! The lexer: Lua source bytes → tokens.
//!
//! Works on raw bytes (strings and comments may hold any byte). Error messages follow PUC's
//! `llex.c`: the "near" part shows the text scanned so far for names, numbers and strings.

use std::sync::atomic::Ordering;

use crate::error::CompileError;
use crate::number;

/// Interned string id (names and string literals).
pub(crate) type StrId = u32;

/// Byte-string interner shared by the whole compilation: one copy of each string, found
/// through a table of ids hashed by content (ahash: the compiler reads untrusted sources,
/// and a weak hash would let a chunk of colliding names make compiling quadratic).
pub(crate) struct Interner {
    index: hashbrown::HashTable<StrId>,
    strs: Vec<Box<[u8]>>,
    hasher: ahash::RandomState,
    /// Estimated heap bytes held, for the compiler's memory budget: an upper bound (twice the
    /// string, from when the interner kept two copies, plus its table slot and allocation
    /// overhead; kept so that where a compilation runs out of its budget does not move).
    pub bytes: usize,
}

impl Default for Interner {
    fn default() -> Self {
        Interner {
            index: Default::default(),
            strs: Vec::new(),
            hasher: crate::func_state::lookup_hasher(),
            bytes: 0,
        }
    }
}

impl Interner {
    pub(crate) fn intern(&mut self, s: &[u8]) -> StrId {
        let hash = self.hasher.hash_one(s);
        let strs = &self.strs;
        if let Some(&id) = self.index.find(hash, |&id| *strs[id as usize] == *s) {
            return id;
        }
        let id = self.strs.len() as StrId;
        self.bytes = self.bytes.saturating_add(2 * s.len() + 56);
        self.strs.push(s.into());
        let (strs, hasher) = (&self.strs, &self.hasher);
        self.index
            .insert_unique(hash, id, |&id| hasher.hash_one(&*strs[id as usize]));
        id
    }

    pub(crate) fn get(&self, id: StrId) -> &[u8] {
        &self.strs[id as usize]
    }
}

/// Token kinds. `Char` is any single-byte token (`+`, `(`, or even an invalid byte).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Tok {
    Eof,
    Name(StrId),
    Str(StrId),
    Int(i64),
    Flt(f64),
    Char(u8),
    And,
    Break,
    Do,
    Else,
    Elseif,
    End,
    False,
    For,
    Function,
    Goto,
    If,
    In,
    Local,
    Nil,
    Not,
    Or,
    Repeat,
    Return,
    Then,
    True,
    Until,
    While,
    IDiv,
    Concat,
    Dots,
    Eq,
    Ge,
    Le,
    Ne,
    Shl,
    Shr,
    DbColon,
}

/// How a string token was delimited (to rebuild its text for error messages).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Delim {
    Quote(u8),
    /// Long bracket with `n` equal signs.
    Long(usize),
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Token {
    pub tok: Tok,
    /// Source span (names and numbers are shown with their source text in messages).
    pub start: usize,
    pub end: usize,
    pub delim: Delim,
}

impl Tok {
    /// PUC's `luaX_token2str`: how a token *kind* is named in "X expected" messages.
    pub(crate) fn describe(&self) -> String {
        let s = match self {
            // these are not quoted
            Tok::Eof => return "<eof>".into(),
            Tok::Name(_) => return "<name>".into(),
            Tok::Str(_) => return "<string>".into(),
            Tok::Int(_) => return "<integer>".into(),
            Tok::Flt(_) => return "<number>".into(),
            Tok::Char(c) => {
                return if (0x20..0x7f).contains(c) {
                    format!("'{}'", *c as char)
                } else {
                    format!("'<\\{}>'", c)
                };
            }
            Tok::And => "and",
            Tok::Break => "break",
            Tok::Do => "do",
            Tok::Else => "else",
            Tok::Elseif => "elseif",
            Tok::End => "end",
            Tok::False => "false",
            Tok::For => "for",
            Tok::Function => "function",
            Tok::Goto => "goto",
            Tok::If => "if",
            Tok::In => "in",
            Tok::Local => "local",
            Tok::Nil => "nil",
            Tok::Not => "not",
            Tok::Or => "or",
            Tok::Repeat => "repeat",
            Tok::Return => "return",
            Tok::Then => "then",
            Tok::True => "true",
            Tok::Until => "until",
            Tok::While => "while",
            Tok::IDiv => "//",
            Tok::Concat => "..",
            Tok::Dots => "...",
            Tok::Eq => "==",
            Tok::Ge => ">=",
            Tok::Le => "<=",
            Tok::Ne => "~=",
            Tok::Shl => "<<",
            Tok::Shr => ">>",
            Tok::DbColon => "::",
        };
        format!("'{s}'")
    }
}

fn keyword(s: &[u8]) -> Option<Tok> {
    Some(match s {
        b"and" => Tok::And,
        b"break" => Tok::Break,
        b"do" => Tok::Do,
        b"else" => Tok::Else,
        b"elseif" => Tok::Elseif,
        b"end" => Tok::End,
        b"false" => Tok::False,
        b"for" => Tok::For,
        b"function" => Tok::Function,
        b"goto" => Tok::Goto,
        b"if" => Tok::If,
        b"in" => Tok::In,
        b"local" => Tok::Local,
        b"nil" => Tok::Nil,
        b"not" => Tok::Not,
        b"or" => Tok::Or,
        b"repeat" => Tok::Repeat,
        b"return" => Tok::Return,
        b"then" => Tok::Then,
        b"true" => Tok::True,
        b"until" => Tok::Until,
        b"while" => Tok::While,
        _ => return None,
    })
}

/// End of input marker for [`Lexer::cur`].
const EOZ: i32 = -1;

fn is_alpha(c: i32) -> bool {
    c == b'_' as i32 || (c >= 0 && (c as u8).is_ascii_alphabetic())
}
fn is_alnum(c: i32) -> bool {
    is_alpha(c) || is_digit(c)
}
fn is_digit(c: i32) -> bool {
    c >= 0 && (c as u8).is_ascii_digit()
}
fn is_xdigit(c: i32) -> bool {
    c >= 0 && (c as u8).is_ascii_hexdigit()
}
/// C `isspace` in the "C" locale.
fn is_space(c: i32) -> bool {
    matches!(c, 0x20 | 0x09..=0x0d)
}
fn hex_value(c: i32) -> u32 {
    (c as u8 as char).to_digit(16).unwrap_or(0)
}

/// What follows "near" in a lexical error message.
enum Near {
    /// The token text scanned so far (the lexer buffer), quoted.
    Buffer,
    Eof,
}

pub(crate) struct Lexer<'a> {
    src: &'a [u8],
    pos: usize,
    /// Current line (PUC's `linenumber`).
    pub line: u32,
    /// Text of the token being scanned (PUC's `buff`): escapes already processed.
    buf: Vec<u8>,
    pub interner: Interner,
    pub chunk: String,
    /// Where the lexer reports how far the compilation has got (see [`PROGRESS_GRAIN`]),
    /// for a reader on another thread (`crate::compile_with_progress`).
    progress: Option<&'a crate::CompileProgress>,
    /// Work done beyond reading the source (`crate::CompileProgress::extra_work`).
    extra_work: usize,
}

/// The lexer reports its position each time it passes a multiple of this many bytes.
pub(crate) const PROGRESS_GRAIN: usize = 1024;

impl<'a> Lexer<'a> {
    /// Bytes held by the token buffer (a long string literal's text while it is scanned).
    pub(crate) fn buffer_bytes(&self) -> usize {
        self.buf.capacity()
    }

    pub(crate) fn new(src: &'a [u8], chunk: String) -> Self {
        Lexer {
            src,
            pos: 0,
            line: 1,
            buf: Vec::new(),
            interner: Interner::default(),
            chunk,
            progress: None,
            extra_work: 0,
        }
    }

    /// Reports the progress to `progress` as the compilation goes (see [`PROGRESS_GRAIN`]).
    pub(crate) fn report_progress_to(&mut self, progress: &'a crate::CompileProgress) {
        self.progress = Some(progress);
    }

    /// Stores how far the compilation has got: [`crate::parse_progress`] of the position
    /// plus the extra work.
    fn report(&self) {
        if let Some(p) = self.progress {
            let reached = crate::parse_progress(self.pos) + self.extra_work;
            p.reached.store(reached, Ordering::Release);
        }
    }

    /// Counts `n` units of work beyond reading the source (`crate::UPVALUE_WORK` per upvalue
    /// made), reported each time the count passes a multiple of [`PROGRESS_GRAIN`].
    pub(crate) fn add_work(&mut self, n: usize) {
        let before = self.extra_work;
        self.extra_work += n;
        if let Some(p) = self.progress {
            p.extra_work.store(self.extra_work, Ordering::Relaxed);
            if before / PROGRESS_GRAIN != self.extra_work / PROGRESS_GRAIN {
                self.report();
            }
        }
    }

    #[inline]
    fn cur(&self) -> i32 {
        match self.src.get(self.pos) {
            Some(&b) => b as i32,
            None => EOZ,
        }
    }

    #[inline]
    fn advance(&mut self) {
        if self.pos < self.src.len() {
            self.pos += 1;
            if self.pos.is_multiple_of(PROGRESS_GRAIN) {
                self.report();
            }
        }
    }

    /// Moves past the next `n` bytes (which the caller has read), reporting progress like
    /// [`Lexer::advance`].
    fn skip(&mut self, n: usize) {
        let before = self.pos;
        self.pos = (self.pos + n).min(self.src.len());
        if before / PROGRESS_GRAIN != self.pos / PROGRESS_GRAIN {
            self.report();
        }
    }

    #[inline]
    fn save(&mut self, c: i32) {
        self.buf.push(c as u8);
    }

    #[inline]
    fn save_and_next(&mut self) {
        let c = self.cur();
        self.save(c);
        self.advance();
    }

    fn cur_is_newline(&self) -> bool {
        matches!(self.cur(), 0x0a | 0x0d)
    }

    fn check_next1(&mut self, c: u8) -> bool {
        if self.cur() == c as i32 {
            self.advance();
            true
        } else {
            false
        }
    }

    /// If the current char is one of the two in `set`, save it and advance.
    fn check_next2(&mut self, set: &[u8; 2]) -> bool {
        let c = self.cur();
        if c == set[0] as i32 || c == set[1] as i32 {
            self.save_and_next();
            true
        } else {
            false
        }
    }

    /// Skips a newline sequence (`\n`, `\r`, `\n\r` or `\r\n`) and counts the line.
    fn inc_line(&mut self) -> Result<(), CompileError> {
        let old = self.cur();
        self.advance();
        if self.cur_is_newline() && self.cur() != old {
            self.advance();
        }
        self.line += 1;
        if self.line >= i32::MAX as u32 {
            return Err(self.error("chunk has too many lines", None));
        }
        Ok(())
    }

    /// Builds an error at the current line. `near`: None → no "near" part.
    fn error(&self, msg: &str, near: Option<Near>) -> CompileError {
        let message = match near {
            None => msg.to_string(),
            Some(Near::Eof) => format!("{msg} near <eof>"),
            Some(Near::Buffer) => format!("{msg} near '{}'", lossy_until_nul(&self.buf)),
        };
        CompileError {
            chunk: self.chunk.clone(),
            line: self.line,
            message,
        }
    }

    /// The text shown for a token in "near" parts of messages (PUC's `txtToken`).
    pub(crate) fn token_text(&self, t: &Token) -> Option<String> {
        Some(match t.tok {
            Tok::Name(_) | Tok::Int(_) | Tok::Flt(_) => {
                format!("'{}'", lossy_until_nul(&self.src[t.start..t.end]))
            }
            Tok::Str(id) => {
                let content = self.interner.get(id);
                let mut v = Vec::with_capacity(content.len() + 4);
                match t.delim {
                    Delim::Quote(q) => {
                        v.push(q);
                        v.extend_from_slice(content);
                        v.push(q);
                    }
                    Delim::Long(n) => {
                        v.push(b'[');
                        v.extend(std::iter::repeat_n(b'=', n));
                        v.push(b'[');
                        v.extend_from_slice(content);
                        v.push(b']');
                        v.extend(std::iter::repeat_n(b'=', n));
                        v.push(b']');
                    }
                }
                format!("'{}'", lossy_until_nul(&v))
            }
            Tok::Eof => "<eof>".to_string(),
            // PUC's token 0 means "no token": messages get no "near" part.
            Tok::Char(0) => return None,
            other => other.describe(),
        })
    }

    /// Scans the next token.
    pub(crate) fn next_token(&mut self) -> Result<Token, CompileError> {
        self.buf.clear();
        loop {
            let start = self.pos;
            let tok = |tok: Tok, end: usize| Token {
                tok,
                start,
                end,
                delim: Delim::Quote(b'"'),
            };
            let c = self.cur();
            match c {
                0x0a | 0x0d => self.inc_line()?,
                0x20 | 0x0c | 0x09 | 0x0b => self.advance(),
                0x2d => {
                    // '-' or comment
                    self.advance();
                    if self.cur() != b'-' as i32 {
                        return Ok(tok(Tok::Char(b'-'), self.pos));
                    }
                    self.advance();
                    if self.cur() == b'[' as i32 {
                        let sep = self.skip_sep();
                        self.buf.clear();
                        if sep >= 2 {
                            self.read_long_string(None, sep)?;
                            self.buf.clear();
                            continue;
                        }
                    }
                    while !self.cur_is_newline() && self.cur() != EOZ {
                        self.advance();
                    }
                }
                0x5b => {
                    // '['
                    let sep = self.skip_sep();
                    if sep >= 2 {
                        let id = self.read_long_string(Some(()), sep)?;
                        let mut t = tok(Tok::Str(id.unwrap_or(0)), self.pos);
                        t.delim = Delim::Long(sep - 2);
                        return Ok(t);
                    } else if sep == 0 {
                        return Err(self.error("invalid long string delimiter", Some(Near::Buffer)));
                    }
                    return Ok(tok(Tok::Char(b'['), self.pos));
                }
                0x3d => {
                    self.advance();
                    let t = if self.check_next1(b'=') {
                        Tok::Eq
                    } else {
                        Tok::Char(b'=')
                    };
                    return Ok(tok(t, self.pos));
                }
                0x3c => {
                    self.advance();
                    let t = if self.check_next1(b'=') {
                        Tok::Le
                    } else if self.check_next1(b'<') {
                        Tok::Shl
                    } else {
                        Tok::Char(b'<')
                    };
                    return Ok(tok(t, self.pos));
                }
                0x3e => {
                    self.advance();
                    let t = if self.check_next1(b'=') {
                        Tok::Ge
                    } else if self.check_next1(b'>') {
                        Tok::Shr
                    } else {
                        Tok::Char(b'>')
                    };
                    return Ok(tok(t, self.pos));
                }
                0x2f => {
                    self.advance();
                    let t = if self.check_next1(b'/') {
                        Tok::IDiv
                    } else {
                        Tok::Char(b'/')
                    };
                    return Ok(tok(t, self.pos));
                }
                0x7e => {
                    self.advance();
                    let t = if self.check_next1(b'=') {
                        Tok::Ne
                    } else {
                        Tok::Char(b'~')
                    };
                    return Ok(tok(t, self.pos));
                }
                0x3a => {
                    self.advance();
                    let t = if self.check_next1(b':') {
                        Tok::DbColon
                    } else {
                        Tok::Char(b':')
                    };
                    return Ok(tok(t, self.pos));
                }
                0x22 | 0x27 => {
                    let id = self.read_string(c)?;
                    let mut t = tok(Tok::Str(id), self.pos);
                    t.delim = Delim::Quote(c as u8);
                    return Ok(t);
                }
                0x2e => {
                    // '.', '..', '...' or a number
                    self.save_and_next();
                    if self.check_next1(b'.') {
                        let t = if self.check_next1(b'.') {
                            Tok::Dots
                        } else {
                            Tok::Concat
                        };
                        return Ok(tok(t, self.pos));
                    } else if !is_digit(self.cur()) {
                        return Ok(tok(Tok::Char(b'.'), self.pos));
                    }
                    let t = self.read_numeral()?;
                    return Ok(tok(t, self.pos));
                }
                EOZ => return Ok(tok(Tok::Eof, self.pos)),
                _ if is_digit(c) => {
                    let t = self.read_numeral()?;
                    return Ok(tok(t, self.pos));
                }
                _ if is_alpha(c) => {
                    while is_alnum(self.cur()) {
                        self.advance();
                    }
                    let word = &self.src[start..self.pos];
                    let t = match keyword(word) {
                        Some(k) => k,
                        None => Tok::Name(self.interner.intern(word)),
                    };
                    return Ok(tok(t, self.pos));
                }
                _ => {
                    self.advance();
                    return Ok(tok(Tok::Char(c as u8), self.pos));
                }
            }
        }
    }

    /// Reads `[` or `]` followed by `=`s. Returns `count + 2` for a well-formed bracket,
    /// 1 for a lone bracket, 0 for `[=` not followed by `[` (PUC's `skip_sep`).
    fn skip_sep(&mut self) -> usize {
        let s = self.cur();
        let mut count = 0;
        self.save_and_next();
        while self.cur() == b'=' as i32 {
            self.save_and_next();
            count += 1;
        }
        if self.cur() == s {
            count + 2
        } else if count == 0 {
            1
        } else {
            0
        }
    }

    /// Reads a long string (`string: Some`) or a long comment (`None`).
    fn read_long_string(
        &mut self,
        string: Option<()>,
        sep: usize,
    ) -> Result<Option<StrId>, CompileError> {
        let start_line = self.line;
        self.save_and_next(); // second '['
        if self.cur_is_newline() {
            self.inc_line()?;
        }
        loop {
            match self.cur() {
                EOZ => {
                    let what = if string.is_some() {
                        "string"
                    } else {
                        "comment"
                    };
                    let msg = format!("unfinished long {what} (starting at line {start_line})");
                    return Err(self.error(&msg, Some(Near::Eof)));
                }
                0x5d => {
                    if self.skip_sep() == sep {
                        self.save_and_next();
                        break;
                    }
                }
                0x0a | 0x0d => {
                    self.save(b'\n' as i32);
                    self.inc_line()?;
                    if string.is_none() {
                        self.buf.clear();
                    }
                }
                _ => {
                    // The run of bytes up to the next `]` or line break, at once (a
                    // grain at most, so progress is reported as the run is read).
                    let src = self.src;
                    let from = self.pos.min(src.len());
                    let rest = &src[from..src.len().min(from + PROGRESS_GRAIN)];
                    let n = memchr::memchr3(b']', b'\n', b'\r', rest).unwrap_or(rest.len());
                    if string.is_some() {
                        self.buf.extend_from_slice(&rest[..n]);
                    }
                    self.skip(n);
                }
            }
        }
        if string.is_some() {
            let content = &self.buf[sep..self.buf.len() - sep];
            Ok(Some(self.interner.intern(content)))
        } else {
            Ok(None)
        }
    }

    /// Fails with `msg` unless `ok`; the offending character is added to the message text.
    fn esc_check(&mut self, ok: bool, msg: &str) -> Result<(), CompileError> {
        if !ok {
            if self.cur() != EOZ {
                self.save_and_next();
            }
            return Err(self.error(msg, Some(Near::Buffer)));
        }
        Ok(())
    }

    fn get_hexa(&mut self) -> Result<u32, CompileError> {
        self.save_and_next();
        let c = self.cur();
        self.esc_check(is_xdigit(c), "hexadecimal digit expected")?;
        Ok(hex_value(c))
    }

    fn read_hexa_esc(&mut self) -> Result<u32, CompileError> {
        let mut r = self.get_hexa()?;
        r = (r << 4) + self.get_hexa()?;
        self.buf.truncate(self.buf.len() - 2);
        Ok(r)
    }

    fn read_utf8_esc(&mut self) -> Result<u32, CompileError> {
        let mut removed = 4; // '\', 'u', '{' and the first digit
        self.save_and_next(); // 'u'
        let ok = self.cur() == b'{' as i32;
        self.esc_check(ok, "missing '{'")?;
        let mut r = self.get_hexa()?;
        loop {
            self.save_and_next();
            if !is_xdigit(self.cur()) {
                break;
            }
            removed += 1;
            self.esc_check(r <= (0x7FFF_FFFF >> 4), "UTF-8 value too large")?;
            r = (r << 4) + hex_value(self.cur());
        }
        let ok = self.cur() == b'}' as i32;
        self.esc_check(ok, "missing '}'")?;
        self.advance();
        self.buf.truncate(self.buf.len() - removed);
        Ok(r)
    }

    fn read_dec_esc(&mut self) -> Result<u32, CompileError> {
        let mut r = 0u32;
        let mut i = 0;
        while i < 3 && is_digit(self.cur()) {
            r = 10 * r + (self.cur() - b'0' as i32) as u32;
            self.save_and_next();
            i += 1;
        }
        self.esc_check(r <= 255, "decimal escape too large")?;
        self.buf.truncate(self.buf.len() - i);
        Ok(r)
    }

    fn read_string(&mut self, del: i32) -> Result<StrId, CompileError> {
        self.save_and_next(); // keep the delimiter for error messages
        while self.cur() != del {
            match self.cur() {
                EOZ => return Err(self.error("unfinished string", Some(Near::Eof))),
                0x0a | 0x0d => {
                    return Err(self.error("unfinished string", Some(Near::Buffer)));
                }
                0x5c => {
                    // escape sequence; '\\' is kept in the buffer for error messages
                    self.save_and_next();
                    let c: u32 = match self.cur() {
                        0x61 => self.simple_esc(0x07),
                        0x62 => self.simple_esc(0x08),
                        0x66 => self.simple_esc(0x0c),
                        0x6e => self.simple_esc(0x0a),
                        0x72 => self.simple_esc(0x0d),
                        0x74 => self.simple_esc(0x09),
                        0x76 => self.simple_esc(0x0b),
                        0x78 => {
                            let v = self.read_hexa_esc()?;
                            self.advance();
                            v
                        }
                        0x75 => {
                            // (the '\\' was removed with the escape's digits)
                            let v = self.read_utf8_esc()?;
                            utf8_encode(v, &mut self.buf);
                            continue;
                        }
                        0x0a | 0x0d => {
                            self.inc_line()?;
                            b'\n' as u32
                        }
                        0x5c | 0x22 | 0x27 => {
                            let c = self.cur() as u32;
                            self.advance();
                            c
                        }
                        EOZ => continue, // error reported by the loop
                        0x7a => {
                            // '\z': skip the following span of whitespace
                            self.buf.pop();
                            self.advance();
                            while is_space(self.cur()) {
                                if self.cur_is_newline() {
                                    self.inc_line()?;
                                } else {
                                    self.advance();
                                }
                            }
                            continue;
                        }
                        c => {
                            self.esc_check(is_digit(c), "invalid escape sequence")?;
                            self.read_dec_esc()?
                        }
                    };
                    self.buf.pop(); // the '\\'
                    self.buf.push(c as u8);
                }
                _ => self.save_and_next(),
            }
        }
        self.save_and_next(); // closing delimiter
        let content = &self.buf[1..self.buf.len() - 1];
        Ok(self.interner.intern(content))
    }

    fn simple_esc(&mut self, c: u32) -> u32 {
        self.advance();
        c
    }

    fn read_numeral(&mut self) -> Result<Tok, CompileError> {
        let first = self.cur();
        let mut expo = b"Ee";
        self.save_and_next();
        if first == b'0' as i32 && self.check_next2(b"xX") {
            expo = b"Pp";
        }
        loop {
            if self.check_next2(expo) {
                self.check_next2(b"-+");
            } else if is_xdigit(self.cur()) || self.cur() == b'.' as i32 {
                self.save_and_next();
            } else {
                break;
            }
        }
        if is_alpha(self.cur()) {
            self.save_and_next(); // force an error
        }
        match number::str2number(&self.buf) {
            Some(number::Number::Int(i)) => Ok(Tok::Int(i)),
            Some(number::Number::Float(f)) => Ok(Tok::Flt(f)),
            None => Err(self.error("malformed number", Some(Near::Buffer))),
        }
    }
}

fn lossy_until_nul(b: &[u8]) -> String {
    let b = match b.iter().position(|&c| c == 0) {
        Some(n) => &b[..n],
        None => b,
    };
    String::from_utf8_lossy(b).into_owned()
}

/// Encodes `x` (< 2^31) in Lua 5.4's extended UTF-8 (up to 6 bytes).
fn utf8_encode(mut x: u32, out: &mut Vec<u8>) {
    if x < 0x80 {
        out.push(x as u8);
        return;
    }
    let mut tail = [0u8; 6];
    let mut n = 0;
    let mut max_first = 0x3f_u32; // largest payload that fits in the first byte
    loop {
        tail[n] = 0x80 | (x & 0x3f) as u8;
        n += 1;
        x >>= 6;
        max_first >>= 1;
        if x <= max_first {
            break;
        }
    }
    out.push(((!max_first << 1) | x) as u8);
    out.extend(tail[..n].iter().rev());
}

#[cfg(test)]
#[allow(clippy::approx_constant)]
mod tests {
    use super::*;

    fn lex_all(src: &str) -> Result<Vec<Tok>, CompileError> {
        let mut lx = Lexer::new(src.as_bytes(), "t".into());
        let mut v = Vec::new();
        loop {
            let t = lx.next_token()?;
            if t.tok == Tok::Eof {
                return Ok(v);
            }
            v.push(t.tok);
        }
    }

    fn strings(src: &[u8]) -> Vec<Vec<u8>> {
        let mut lx = Lexer::new(src, "t".into());
        let mut v = Vec::new();
        loop {
            let t = lx.next_token().unwrap();
            match t.tok {
                Tok::Eof => return v,
                Tok::Str(id) => v.push(lx.interner.get(id).to_vec()),
                _ => {}
            }
        }
    }

    fn err(src: &str) -> String {
        lex_all(src).unwrap_err().message
    }

    #[test]
    fn all_symbols() {
        use Tok::*;
        let toks =
            lex_all("+ - * / % ^ # & ~ | << >> // == ~= <= >= < > = ( ) { } [ ] :: ; : , . .. ...")
                .unwrap();
        let want = vec![
            Char(b'+'),
            Char(b'-'),
            Char(b'*'),
            Char(b'/'),
            Char(b'%'),
            Char(b'^'),
            Char(b'#'),
            Char(b'&'),
            Char(b'~'),
            Char(b'|'),
            Shl,
            Shr,
            IDiv,
            Eq,
            Ne,
            Le,
            Ge,
            Char(b'<'),
            Char(b'>'),
            Char(b'='),
            Char(b'('),
            Char(b')'),
            Char(b'{'),
            Char(b'}'),
            Char(b'['),
            Char(b']'),
            DbColon,
            Char(b';'),
            Char(b':'),
            Char(b','),
            Char(b'.'),
            Concat,
            Dots,
        ];
        assert_eq!(toks, want);
    }

    #[test]
    fn keywords_and_names() {
        use Tok::*;
        let toks = lex_all("and break do else elseif end false for function goto if in local nil not or repeat return then true until while _x1 x").unwrap();
        assert_eq!(
            &toks[..22],
            &[
                And, Break, Do, Else, Elseif, End, False, For, Function, Goto, If, In, Local, Nil,
                Not, Or, Repeat, Return, Then, True, Until, While
            ]
        );
        assert!(matches!(toks[22], Name(_)));
        assert!(matches!(toks[23], Name(_)));
    }

    #[test]
    fn numbers() {
        use Tok::*;
        assert_eq!(
            lex_all("3 3.0 3.1416 314.16e-2 0.31416E1 34e1 0x0.1E 0xA23p-4 0X1.921FB54442D18P+1 0xff 0x10 .5 5.")
                .unwrap(),
            vec![
                Int(3),
                Flt(3.0),
                Flt(3.1416),
                Flt(3.1416),
                Flt(3.1416),
                Flt(340.0),
                Flt(0.1171875),
                Flt(162.1875),
                Flt(std::f64::consts::PI),
                Int(255),
                Int(16),
                Flt(0.5),
                Flt(5.0),
            ]
        );
        assert_eq!(lex_all("9223372036854775807").unwrap(), vec![Int(i64::MAX)]);
        assert_eq!(
            lex_all("9223372036854775808").unwrap(),
            vec![Flt(9223372036854775808.0)]
        );
        assert_eq!(lex_all("0xffffffffffffffff").unwrap(), vec![Int(-1)]);
        assert_eq!(lex_all("0x1ffffffffffffffff").unwrap(), vec![Int(-1)]);
        assert_eq!(lex_all("0x7fffffffffffffff").unwrap(), vec![Int(i64::MAX)]);
        assert_eq!(
            lex_all("0x1p4 0x.8 0xA.8p-1").unwrap(),
            vec![Flt(16.0), Flt(0.5), Flt(5.25)]
        );
        assert_eq!(lex_all("1e400").unwrap(), vec![Flt(f64::INFINITY)]);
        assert_eq!(err("x = 3x"), "malformed number near '3x'");
        assert_eq!(err("3..2"), "malformed number near '3..2'");
        assert_eq!(err("0x"), "malformed number near '0x'");
        assert_eq!(err("1e"), "malformed number near '1e'");
        assert_eq!(err("1e+"), "malformed number near '1e+'");
        assert_eq!(err("0x1p"), "malformed number near '0x1p'");
        assert_eq!(err("08.5.3"), "malformed number near '08.5.3'");
    }

    #[test]
    fn string_escapes() {
        assert_eq!(
            strings(b"'\\a\\b\\f\\n\\r\\t\\v\\\\\\\"\\''"),
            vec![b"\x07\x08\x0c\n\r\t\x0b\\\"'".to_vec()]
        );
        assert_eq!(
            strings(b"\"\\x41\\65\\0669\\z  \n  x\""),
            vec![b"AAB9x".to_vec()]
        );
        assert_eq!(strings(b"'a\\\nb'"), vec![b"a\nb".to_vec()]);
        assert_eq!(strings(b"'a\\\r\nb'"), vec![b"a\nb".to_vec()]);
        assert_eq!(
            strings(b"'\\u{41}\\u{e9}\\u{20AC}\\u{10FFFF}'"),
            vec!["A\u{e9}\u{20ac}\u{10ffff}".as_bytes().to_vec()]
        );
        assert_eq!(
            strings(b"'\\u{7FFFFFFF}'"),
            vec![vec![0xfd, 0xbf, 0xbf, 0xbf, 0xbf, 0xbf]]
        );
        assert_eq!(
            strings(b"'\\u{3FFFFFF}'"),
            vec![vec![0xfb, 0xbf, 0xbf, 0xbf, 0xbf]]
        );
        assert_eq!(strings(b"'\xff\x00'"), vec![vec![0xff, 0]]);
    }

    #[test]
    fn string_errors() {
        assert_eq!(err("x = \"\\q\""), "invalid escape sequence near '\"\\q'");
        assert_eq!(err("x = \"abc"), "unfinished string near <eof>");
        assert_eq!(err("x = \"abc\ny\""), "unfinished string near '\"abc'");
        assert_eq!(
            err("x = \"\\300\""),
            "decimal escape too large near '\"\\300\"'"
        );
        assert_eq!(
            err("x = \"\\xg\""),
            "hexadecimal digit expected near '\"\\xg'"
        );
        assert_eq!(
            err("x = \"\\u{110000000}\""),
            "UTF-8 value too large near '\"\\u{110000000'"
        );
        assert_eq!(err("x = \"\\u123\""), "missing '{' near '\"\\u1'");
        assert_eq!(err("x = \"\\u{12\""), "missing '}' near '\"\\u{12\"'");
        assert_eq!(
            err("x = \"ab\\65\\q\""),
            "invalid escape sequence near '\"abA\\q'"
        );
        assert_eq!(err("[=x"), "invalid long string delimiter near '[='");
        assert_eq!(
            err("x = [==[ abc"),
            "unfinished long string (starting at line 1) near <eof>"
        );
        assert_eq!(
            err("--[[ abc\n\n"),
            "unfinished long comment (starting at line 1) near <eof>"
        );
    }

    #[test]
    fn long_strings() {
        assert_eq!(strings(b"[[\nabc]]"), vec![b"abc".to_vec()]);
        assert_eq!(
            strings(b"[==[\r\na]]b]=]c\n\rd]==]"),
            vec![b"a]]b]=]c\nd".to_vec()]
        );
        assert_eq!(
            strings(b"--[[ comment ]] 'x' --[==[ \n ]==] -- line\n'y'"),
            vec![b"x".to_vec(), b"y".to_vec()]
        );
    }

    #[test]
    fn line_counting() {
        let mut lx = Lexer::new(b"a\r\nb\n\rc\n\nd\r\re", "t".into());
        let mut lines = Vec::new();
        loop {
            let t = lx.next_token().unwrap();
            if t.tok == Tok::Eof {
                break;
            }
            lines.push(lx.line);
        }
        assert_eq!(lines, vec![1, 2, 3, 5, 7]);
    }

    #[test]
    fn shebang_is_not_skipped_by_the_lexer() {
        // Like `load`: only files skip a first `#` line (see `skip_shebang`).
        assert!(
            lex_all("#!/usr/bin/lua\nx").is_err()
                || lex_all("#!/usr/bin/lua\nx").unwrap().len() > 1
        );
    }
}
