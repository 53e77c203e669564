//! Compile errors and chunk-name formatting.

/// A syntax (or other compile-time) error, formatted like PUC-Rio Lua 5.4:
/// `chunk:line: message`, except the parser's nesting limit, shown as `C stack overflow`
/// alone (PUC raises it as a runtime error of the C function `load`, without a position).
#[derive(Debug, Clone, PartialEq)]
pub struct CompileError {
    /// The chunk name as shown in messages (see [`chunk_id`]).
    pub chunk: String,
    /// The line the error was found on (where the scanner stood).
    pub line: u32,
    /// The message without position, e.g. `'=' expected near 'x'` or `not enough memory`.
    pub message: String,
}

/// The message of the parser's nesting limit (see [`CompileError`]'s display).
pub(crate) const NESTING_MESSAGE: &str = "C stack overflow";

impl std::fmt::Display for CompileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.message == NESTING_MESSAGE {
            f.write_str(&self.message)
        } else {
            write!(f, "{}:{}: {}", self.chunk, self.line, self.message)
        }
    }
}

impl std::error::Error for CompileError {}

impl CompileError {
    /// Whether the error was caused by the source ending too early (the message ends with
    /// `near <eof>`). Interactive front ends use this to ask for more input.
    pub fn is_incomplete(&self) -> bool {
        self.message.ends_with("near <eof>")
    }

    /// Whether the compilation was stopped by its memory budget
    /// ([`compile_with_limit`](crate::compile_with_limit)).
    pub fn is_out_of_memory(&self) -> bool {
        self.message == "not enough memory"
    }
}

/// Maximum size of a formatted chunk id, including PUC's terminating NUL (`LUA_IDSIZE`).
const ID_SIZE: usize = 60;

/// Formats a chunk name for messages, following PUC's `luaO_chunkid` rules:
/// - `=name` → `name` (truncated to 59 bytes);
/// - `@file` → `file` (when too long, `...` followed by the end of the name);
/// - anything else is source text → `[string "first line..."]`.
pub fn chunk_id(chunk_name: &str) -> String {
    // The work is bounded by `ID_SIZE` once the name is cut at its first NUL (a name stored
    // by the compiler has none, see `source_name`): only a prefix or a suffix is looked at.
    let src = source_name(chunk_name).as_bytes();
    let out: Vec<u8> = if let Some(rest) = src.strip_prefix(b"=") {
        rest[..rest.len().min(ID_SIZE - 1)].to_vec()
    } else if let Some(rest) = src.strip_prefix(b"@") {
        if rest.len() < ID_SIZE {
            rest.to_vec()
        } else {
            let keep = ID_SIZE - 1 - 3;
            let mut v = b"...".to_vec();
            v.extend_from_slice(&rest[rest.len() - keep..]);
            v
        }
    } else {
        // Room for the text itself: 60 - len("[string \"" "..." "\"]") - 1.
        let room = ID_SIZE - 9 - 3 - 2 - 1;
        // Only a newline within the first `room` bytes changes the result.
        let nl = src[..src.len().min(room)].iter().position(|&b| b == b'\n');
        let mut v = b"[string \"".to_vec();
        if src.len() < room && nl.is_none() {
            v.extend_from_slice(src);
        } else {
            let mut len = nl.unwrap_or(src.len());
            len = len.min(room);
            v.extend_from_slice(&src[..len]);
            v.extend_from_slice(b"...");
        }
        v.extend_from_slice(b"\"]");
        v
    };
    String::from_utf8_lossy(&out).into_owned()
}

/// The chunk name as PUC stores it: a C string, so it ends at its first NUL.
pub fn source_name(chunk_name: &str) -> &str {
    match memchr::memchr(0, chunk_name.as_bytes()) {
        Some(n) => &chunk_name[..n],
        None => chunk_name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_ids() {
        assert_eq!(chunk_id("=stdin"), "stdin");
        assert_eq!(chunk_id("@foo.lua"), "foo.lua");
        assert_eq!(chunk_id("x = 1"), "[string \"x = 1\"]");
        assert_eq!(chunk_id("x = 1\ny = 2"), "[string \"x = 1...\"]");
        let long = "a".repeat(100);
        assert_eq!(chunk_id(&format!("={long}")).len(), 59);
        let f = chunk_id(&format!("@{}b", long));
        assert!(f.starts_with("...") && f.ends_with("ab") && f.len() == 59);
        let s = chunk_id(&long);
        assert_eq!(s, format!("[string \"{}...\"]", &long[..45]));
        // exactly 44 chars fit, 45 do not
        let s44 = "b".repeat(44);
        assert_eq!(chunk_id(&s44), format!("[string \"{s44}\"]"));
        let s45 = "b".repeat(45);
        assert_eq!(chunk_id(&s45), format!("[string \"{s45}...\"]"));
        // Names end at their first NUL (C strings), like PUC's `load`.
        assert_eq!(chunk_id("=ab\0cd"), "ab");
        assert_eq!(chunk_id(&format!("@sh\0{}", "z".repeat(100))), "sh");
        assert_eq!(chunk_id("ab\0c\nd"), "[string \"ab\"]");
        // A newline past the shown part does not matter.
        let s = format!("{}\n", "w".repeat(50));
        assert_eq!(chunk_id(&s), format!("[string \"{}...\"]", &s[..45]));
    }

    #[test]
    fn incomplete() {
        let e = CompileError {
            chunk: "x".into(),
            line: 1,
            message: "'end' expected near <eof>".into(),
        };
        assert!(e.is_incomplete());
        assert_eq!(e.to_string(), "x:1: 'end' expected near <eof>");
        let nested = CompileError {
            message: NESTING_MESSAGE.into(),
            ..e
        };
        assert_eq!(nested.to_string(), "C stack overflow");
    }
}
