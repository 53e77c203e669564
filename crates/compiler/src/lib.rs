//! lunette-compiler: Lua 5.4 source text → [`Prototype`] trees.
//!
//! This crate knows nothing of the garbage collector; its output is plain immutable data.
//!
//! Modules: `lexer` (tokens), `parser` (grammar, scopes, gotos), `code` (instruction
//! emission, registers, jump lists, expression descriptors), `fold` (constant folding),
//! `func_state` (per-function state), [`disasm`] (listings), [`number`] (numerals, reusable
//! by the VM for `tonumber` and coercions), [`dump`](mod@dump) (binary chunks: `string.dump`'s format and its
//! decoder for untrusted bytes), [`verify`](mod@verify) (the bytecode verifier: what makes a
//! prototype safe to run, whoever made it).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod code;
pub mod disasm;
pub mod dump;
mod error;
mod fold;
mod func_state;
mod lexer;
pub mod number;
pub mod opcode;
mod parser;
pub mod proto;
pub mod varint;
pub mod verify;

#[cfg(test)]
mod tests;

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

pub use disasm::disassemble;
pub use dump::{dump, undump, undump_with_limit, UndumpError};
pub use error::{chunk_id, CompileError};
pub use opcode::{ArithOp, Instruction};
pub use proto::{Constant, LocalVar, Prototype, UpvalueDesc};
pub use verify::{verify, verify_with_progress, VerifyError};

/// Compiles a Lua 5.4 chunk. `chunk_name` is the name given to `load` (`"=stdin"`,
/// `"@file.lua"` or the source text itself); it is stored in every prototype's `source` and
/// formatted with [`chunk_id`] in error messages.
///
/// Like `load`, a first line starting with `#` is a syntax error here; source read from a
/// file should go through [`skip_shebang`] first (what `luaL_loadfile` does).
pub fn compile(source: &[u8], chunk_name: &str) -> Result<Arc<Prototype>, CompileError> {
    compile_with_limit(source, chunk_name, usize::MAX)
}

/// [`compile`], holding at most about `max_bytes` of compiler state and output while
/// compiling (an estimate that bounds what the compiler allocates from above, checked at
/// every token); past it, the error's message is `"not enough memory"`
/// ([`CompileError::is_out_of_memory`]). The VM passes what its memory limit has left.
pub fn compile_with_limit(
    source: &[u8],
    chunk_name: &str,
    max_bytes: usize,
) -> Result<Arc<Prototype>, CompileError> {
    parser::parse_chunk(source, chunk_name, None, max_bytes, None)
        .map(Arc::new)
        .map_err(|e| *e)
}

/// What a compilation reports as it goes ([`compile_with_progress`], [`compile_named`]),
/// for a caller on another thread, which can so wait for part of a compilation rather than
/// all of it, and which pays for the work in units of a source byte.
#[derive(Debug, Default)]
pub struct CompileProgress {
    /// How far the compilation with its verification has got, from 0 to the source's length
    /// plus [`extra_work`](Self::extra_work): parsing reports [`parse_progress`] of its
    /// position plus the extra work so far each time either passes a multiple of 1,024
    /// (`Release` ordering), and [`verify::verify_with_progress`] the rest of the length, so
    /// the verification of a chunk's code (~3 ns a source byte, 13-18% of compiling it) is
    /// part of what a caller waits for, in proportion. Never above the final
    /// `len + extra_work`.
    pub reached: AtomicUsize,
    /// Work beyond reading the source, in units of a source byte's: [`UPVALUE_WORK`] per
    /// upvalue made. Exact once the compilation has returned, whether it succeeded or not.
    pub extra_work: AtomicUsize,
}

/// The work of making one upvalue, in units of a source byte's ([`CompileProgress`]): a
/// name used through many nested functions makes one in each (~185 ns with what goes with
/// it, where reading a byte of ordinary source is ~25 ns), so a chunk of deeply nested
/// closures cost up to ~800 ns a source byte.
pub const UPVALUE_WORK: usize = 8;

/// Parsing reports progress up to `len - len / VERIFY_SHARE` of a `len`-byte source, and the
/// verification the rest (see [`CompileProgress::reached`]).
pub const VERIFY_SHARE: usize = 5;

/// The progress parsing reports at byte `pos` of the source (see [`VERIFY_SHARE`]).
pub fn parse_progress(pos: usize) -> usize {
    pos - pos / VERIFY_SHARE
}

/// [`compile_with_limit`], reporting in `progress` how far it has got and the work it did
/// beyond reading the source ([`CompileProgress`]). Nothing else about the compilation
/// changes.
pub fn compile_with_progress(
    source: &[u8],
    chunk_name: &str,
    max_bytes: usize,
    progress: &CompileProgress,
) -> Result<Arc<Prototype>, CompileError> {
    parser::parse_chunk(source, chunk_name, None, max_bytes, Some(progress))
        .map(Arc::new)
        .map_err(|e| *e)
}

/// [`compile_with_limit`] (with `progress` as in [`compile_with_progress`]) for a chunk name
/// the caller holds as an `Arc<str>`: the prototypes' `source` shares it instead of copying
/// it (unless it has a NUL, where the source name ends). A chunk loaded from a string is
/// named by the string itself, so the name can be as long as the source.
pub fn compile_named(
    source: &[u8],
    chunk_name: &Arc<str>,
    max_bytes: usize,
    progress: Option<&CompileProgress>,
) -> Result<Arc<Prototype>, CompileError> {
    parser::parse_chunk(source, chunk_name, Some(chunk_name), max_bytes, progress)
        .map(Arc::new)
        .map_err(|e| *e)
}

/// Blanks out a first line starting with `#` (a Unix "shebang"), keeping its newline so line
/// numbers stay right, as PUC's `luaL_loadfile` does for files.
pub fn skip_shebang(source: &[u8]) -> &[u8] {
    if source.first() == Some(&b'#') {
        let end = source
            .iter()
            .position(|&c| c == b'\n' || c == b'\r')
            .unwrap_or(source.len());
        &source[end..]
    } else {
        source
    }
}
