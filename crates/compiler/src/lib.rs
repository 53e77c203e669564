//! lunette-compiler: Lua 5.4 source text → [`Prototype`] trees.
//!
//! This crate knows nothing of the garbage collector; its output is plain immutable data.
//!
//! Modules: `lexer` (tokens), `parser` (grammar, scopes, gotos), `code` (instruction
//! emission, registers, jump lists, expression descriptors), `fold` (constant folding),
//! `func_state` (per-function state), [`disasm`] (listings), [`number`] (numerals, reusable
//! by the VM for `tonumber` and coercions).

#![forbid(unsafe_code)]

mod code;
pub mod disasm;
mod error;
mod fold;
mod func_state;
mod lexer;
pub mod number;
pub mod opcode;
mod parser;
pub mod proto;

#[cfg(test)]
mod tests;

use std::sync::Arc;

pub use disasm::disassemble;
pub use error::{chunk_id, CompileError};
pub use opcode::Instruction;
pub use proto::{Constant, LocalVar, Prototype, UpvalueDesc};

/// Compiles a Lua 5.4 chunk. `chunk_name` is the name given to `load` (`"=stdin"`,
/// `"@file.lua"` or the source text itself); it is stored in every prototype's `source` and
/// formatted with [`chunk_id`] in error messages.
///
/// A first line starting with `#` (Unix "shebang") is skipped.
pub fn compile(source: &[u8], chunk_name: &str) -> Result<Arc<Prototype>, CompileError> {
    parser::parse_chunk(source, chunk_name)
        .map(Arc::new)
        .map_err(|e| *e)
}
