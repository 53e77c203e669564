//! Per-function compilation state and expression descriptors.
//!
//! Register discipline (same as PUC): registers `0 .. nvarstack()` hold the active local
//! variables (compile-time constants take no register); `nvarstack() .. free_reg` hold
//! temporaries in stack order. Temporaries are freed in reverse order of allocation.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use crate::lexer::StrId;
use crate::opcode::Instruction;
use crate::proto::{Constant, Prototype};

/// End of a jump list (also: "jump to itself" can't be represented; PUC has the same rule).
pub(crate) const NO_JUMP: i32 = -1;
/// Placeholder register for a `TestSet` whose destination is not known yet.
pub(crate) const NO_REG: u8 = 255;
/// Registers must stay below this (PUC's `MAXREGS`).
pub(crate) const MAX_REGS: u32 = 255;
/// Maximum number of local variables per function (PUC's `MAXVARS`).
pub(crate) const MAX_VARS: usize = 200;
/// Maximum number of upvalues per function (PUC's `MAXUPVAL`).
pub(crate) const MAX_UPVALS: usize = 255;
/// Number of list items accumulated before a `SetList` flush.
pub(crate) const FIELDS_PER_FLUSH: u32 = 50;
/// Largest constant index usable as an instruction operand of 16 bits.
pub(crate) const MAX_K16: u32 = u16::MAX as u32;

/// Kind of an expression being compiled (PUC's `expkind`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum ExpKind {
    /// Empty expression list / no value.
    Void,
    Nil,
    True,
    False,
    KInt(i64),
    KFlt(f64),
    /// String literal not yet in the constant table.
    KStr(StrId),
    /// Constant `K[idx]`.
    K(u32),
    /// Value in a fixed register.
    NonReloc(u8),
    /// Local variable in register `reg`; `vidx` indexes `FuncState::actvars`.
    Local {
        reg: u8,
        vidx: usize,
    },
    Upval(u8),
    /// Compile-time constant variable; indexes `Parser::ctc_values`.
    Const(u32),
    /// `U[up][K[k]]` (`K[k]` a string).
    IndexUp {
        up: u8,
        k: u32,
    },
    /// `R[t][R[key]]`.
    Indexed {
        t: u8,
        key: u8,
    },
    /// `R[t][i]`.
    IndexI {
        t: u8,
        i: u8,
    },
    /// `R[t][K[k]]` (`K[k]` a string).
    IndexStr {
        t: u8,
        k: u32,
    },
    /// Result of a comparison: the conditional jump at this pc.
    Jmp(usize),
    /// Instruction at this pc computes the value; its `a` can still be set.
    Reloc(usize),
    /// Open function call at this pc.
    Call(usize),
    /// Vararg expression at this pc.
    VarArg(usize),
}

/// Expression descriptor: a kind plus "exit when true"/"exit when false" jump lists.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ExpDesc {
    pub k: ExpKind,
    pub t: i32,
    pub f: i32,
}

impl ExpDesc {
    pub(crate) fn new(k: ExpKind) -> Self {
        ExpDesc {
            k,
            t: NO_JUMP,
            f: NO_JUMP,
        }
    }

    pub(crate) fn has_jumps(&self) -> bool {
        self.t != NO_JUMP || self.f != NO_JUMP
    }

    pub(crate) fn is_multret(&self) -> bool {
        matches!(self.k, ExpKind::Call(_) | ExpKind::VarArg(_))
    }

    pub(crate) fn is_var(&self) -> bool {
        matches!(
            self.k,
            ExpKind::Local { .. }
                | ExpKind::Upval(_)
                | ExpKind::Const(_)
                | ExpKind::IndexUp { .. }
                | ExpKind::Indexed { .. }
                | ExpKind::IndexI { .. }
                | ExpKind::IndexStr { .. }
        )
    }

    pub(crate) fn is_indexed(&self) -> bool {
        matches!(
            self.k,
            ExpKind::IndexUp { .. }
                | ExpKind::Indexed { .. }
                | ExpKind::IndexI { .. }
                | ExpKind::IndexStr { .. }
        )
    }
}

/// Value of a compile-time constant variable.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum CtcValue {
    Nil,
    Bool(bool),
    Int(i64),
    Flt(f64),
    Str(StrId),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum VarKind {
    Regular,
    /// `<const>` kept in a register.
    Const,
    /// `<close>`.
    Close,
    /// `<const>` with a compile-time value: takes no register (index into `ctc_values`).
    CompileTime(u32),
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct VarDesc {
    pub name: StrId,
    pub kind: VarKind,
    /// Register (meaningless for compile-time constants).
    pub reg: u8,
    /// Index in `FuncState::local_vars` (debug info), if the variable has a register.
    pub pidx: Option<usize>,
    /// Registers used by the active variables up to and including this one (set when the
    /// variable is activated), so `reg_level` is O(1) however many compile-time constants
    /// (which take no register) precede it.
    pub level: u32,
    /// The declaration of the same name this one shadows while active (`Parser::visible`).
    pub shadowed: Option<VarRef>,
}

/// An active variable: function nesting level (0 = main chunk) and index in that function's
/// `actvars`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct VarRef {
    pub level: usize,
    pub vidx: usize,
}

/// Deterministic hasher for compiler-assigned integer ids (`StrId`): the keys are dense ids
/// given out by the interner, never values a script chooses, so one multiply suffices.
#[derive(Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(b as u64);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(n as u64);
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

/// A hasher for the compiler's lookups of source-chosen keys (names, strings, constants),
/// with seeds drawn for each compilation: nothing the compiler outputs depends on them
/// (the tables are only looked up, never iterated), and a chunk cannot be built to make
/// their keys collide.
pub(crate) fn lookup_hasher() -> ahash::RandomState {
    use std::hash::BuildHasher;
    let seed = std::collections::hash_map::RandomState::new().hash_one(0x5eed_u64);
    ahash::RandomState::with_seeds(
        seed,
        seed.rotate_left(16) ^ 0x243f_6a88_85a3_08d3,
        seed.rotate_left(32) ^ 0x1319_8a2e_0370_7344,
        seed.rotate_left(48) ^ 0xa409_3822_299f_31d0,
    )
}

/// A map keyed by compiler ids.
pub(crate) type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

#[derive(Debug, Clone, Copy)]
pub(crate) struct BlockCnt {
    /// Index of the first label of this block in `FuncState::labels`.
    pub first_label: usize,
    /// Index of the first pending goto of this block in `FuncState::gotos`.
    pub first_goto: usize,
    /// Number of active variables outside the block.
    pub nactvar: usize,
    /// Some variable of the block is captured by a closure (or is to-be-closed).
    pub upval: bool,
    pub is_loop: bool,
    /// Inside the scope of a to-be-closed variable.
    pub inside_tbc: bool,
}

/// A label or a pending goto.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LabelDesc {
    pub name: StrId,
    /// Label: its pc. Goto: its jump list (`NO_JUMP` possible for `if false then break`).
    pub pc: i32,
    pub line: u32,
    /// Number of active variables at that position.
    pub nactvar: usize,
    /// Goto that escapes a block with captured variables (needs a `Close`).
    pub close: bool,
    /// Goto already resolved (left in `FuncState::gotos` until its block is left, so
    /// resolving one goto never shifts the others).
    pub resolved: bool,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct UpvalInfo {
    pub name: StrId,
    pub in_stack: bool,
    pub index: u8,
    pub kind: VarKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ConstKey {
    Nil,
    Bool(bool),
    Int(i64),
    Flt(u64),
    Str(StrId),
}

pub(crate) struct LocalInfo {
    pub name: StrId,
    pub start_pc: u32,
    pub end_pc: u32,
}

pub(crate) struct FuncState {
    pub code: Vec<Instruction>,
    pub lines: Vec<u32>,
    pub constants: Vec<Constant>,
    /// (ahash: constants are the source's, so a weak hash would let colliding ones make
    /// compiling quadratic.)
    pub const_map: hashbrown::HashMap<ConstKey, u32, ahash::RandomState>,
    pub protos: Vec<Arc<Prototype>>,
    pub upvals: Vec<UpvalInfo>,
    pub local_vars: Vec<LocalInfo>,
    pub line_defined: u32,
    pub last_line_defined: u32,
    pub num_params: u8,
    pub is_vararg: bool,
    pub max_stack: u32,
    /// First free register.
    pub free_reg: u32,
    /// Number of active local variables (entries of `actvars` in scope).
    pub nactvar: usize,
    /// Declared variables: `actvars[..nactvar]` are active, the rest are being declared.
    pub actvars: Vec<VarDesc>,
    pub blocks: Vec<BlockCnt>,
    /// Visible labels (of the open blocks), in order.
    pub labels: Vec<LabelDesc>,
    /// Index in `labels` of each visible label by name (names of visible labels are unique;
    /// `break` labels are not indexed).
    pub label_index: IdMap<StrId, usize>,
    /// Pending gotos of the open blocks, in order (resolved ones marked until their block
    /// is left).
    pub gotos: Vec<LabelDesc>,
    /// Indices in `gotos` of the pending (unresolved) gotos of each name, ascending.
    pub goto_index: IdMap<StrId, Vec<usize>>,
    /// Index in `upvals` of the first upvalue of each name.
    pub upval_index: IdMap<StrId, u8>,
    /// Upvalues made by resolving a name through enclosing functions (all but the main
    /// function's `_ENV`): the compiler's extra work (`crate::UPVALUE_WORK`).
    pub resolved_upvals: usize,
    /// pc of the last jump target (instructions before it can't be merged with new ones).
    pub last_target: usize,
    /// Some return must close upvalues / to-be-closed variables.
    pub needclose: bool,
}

impl FuncState {
    pub(crate) fn new(line_defined: u32) -> Self {
        FuncState {
            code: Vec::new(),
            lines: Vec::new(),
            constants: Vec::new(),
            const_map: hashbrown::HashMap::with_hasher(lookup_hasher()),
            protos: Vec::new(),
            upvals: Vec::new(),
            local_vars: Vec::new(),
            line_defined,
            last_line_defined: 0,
            num_params: 0,
            is_vararg: false,
            max_stack: 2,
            free_reg: 0,
            nactvar: 0,
            actvars: Vec::new(),
            blocks: Vec::new(),
            labels: Vec::new(),
            label_index: IdMap::default(),
            gotos: Vec::new(),
            goto_index: IdMap::default(),
            upval_index: IdMap::default(),
            resolved_upvals: 0,
            last_target: 0,
            needclose: false,
        }
    }

    /// Register level of the first `nvar` active variables (O(1): each variable records the
    /// level up to itself when activated).
    pub(crate) fn reg_level(&self, nvar: usize) -> u32 {
        match nvar.checked_sub(1).and_then(|i| self.actvars.get(i)) {
            Some(v) => v.level,
            None => 0,
        }
    }

    /// Adds an upvalue (the caller checked the limit) and indexes it by name.
    pub(crate) fn push_upval(&mut self, u: UpvalInfo) -> u8 {
        let i = self.upvals.len() as u8;
        self.upval_index.entry(u.name).or_insert(i);
        self.upvals.push(u);
        i
    }

    /// Number of registers holding active variables.
    pub(crate) fn nvarstack(&self) -> u32 {
        self.reg_level(self.nactvar)
    }

    pub(crate) fn pc(&self) -> usize {
        self.code.len()
    }
}
