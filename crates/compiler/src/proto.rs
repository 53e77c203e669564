//! Compiled function prototypes: plain, immutable Rust data (no GC), shared by `Arc` between
//! the live VM, its snapshots and other threads.

use std::sync::Arc;

use crate::opcode::Instruction;

/// A constant of a prototype.
#[derive(Debug, Clone, PartialEq)]
pub enum Constant {
    /// `nil`.
    Nil,
    /// `true` or `false`.
    Boolean(bool),
    /// An integer (a numeral without `.`/exponent that fits in `i64`).
    Integer(i64),
    /// A float; `-0.0` and NaN are kept bit-exact.
    Float(f64),
    /// String bytes (Lua strings are byte strings, not necessarily UTF-8), shared: a VM's
    /// long string made of the constant holds the same buffer (instantiating a chunk does
    /// not copy a constant of megabytes).
    String(std::sync::Arc<[u8]>),
}

/// Where a closure finds one of its upvalues when it is created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpvalueDesc {
    /// The variable's name, for debug information and error messages (shared: a message
    /// quoting it need not copy it).
    pub name: std::sync::Arc<[u8]>,
    /// `true`: the upvalue is register `index` of the enclosing function (a local captured
    /// while still live). `false`: it is upvalue `index` of the enclosing closure.
    pub in_stack: bool,
    /// The register (`in_stack`) or enclosing upvalue (`!in_stack`) captured.
    pub index: u8,
}

/// A local variable's name and the range of instructions where it is live
/// (`start_pc` inclusive, `end_pc` exclusive). Registers are allocated in order, so the n-th
/// active local at a given pc lives in register n (like PUC's `locvars`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalVar {
    /// The variable's name as written (`(for state)` and the like for hidden locals).
    pub name: std::sync::Arc<[u8]>,
    /// First instruction where the variable is live.
    pub start_pc: u32,
    /// First instruction past its scope.
    pub end_pc: u32,
}

/// One compiled Lua function.
#[derive(Debug, Clone, PartialEq)]
pub struct Prototype {
    /// The chunk name as given to `load` (`"@file.lua"`, `"=stdin"`, or source text), up to
    /// its first NUL (`source_name`). Shared by all the chunk's functions.
    pub source: Arc<str>,
    /// `source` formatted for messages ([`crate::chunk_id`], at most 59 bytes), computed once
    /// per chunk so that messages and tracebacks never look at the whole name (which may be
    /// megabytes long).
    pub short_source: Arc<str>,
    /// Line where the function starts (0 for the main chunk).
    pub line_defined: u32,
    /// Line where the function ends (0 for the main chunk).
    pub last_line_defined: u32,
    /// Number of fixed parameters (they arrive in `R[0..num_params]`).
    pub num_params: u8,
    /// Whether the function is variadic (`...`). The main chunk always is.
    pub is_vararg: bool,
    /// Number of registers the function needs.
    pub max_stack_size: u8,
    /// The instructions (see [`Instruction`] for their semantics).
    pub code: Vec<Instruction>,
    /// Source line of each instruction (`lines.len() == code.len()`).
    pub lines: Vec<u32>,
    /// The constant table (`K[x]` in the instruction docs).
    pub constants: Vec<Constant>,
    /// Nested functions, referenced by `Instruction::Closure`.
    pub prototypes: Vec<Arc<Prototype>>,
    /// Upvalues; the main chunk has exactly one, `_ENV` (`in_stack: true, index: 0`), which the
    /// VM binds to the global table (or the `env` given to `load`).
    pub upvalues: Vec<UpvalueDesc>,
    /// Local variables in order of declaration, for debug information and messages.
    pub local_vars: Vec<LocalVar>,
}
