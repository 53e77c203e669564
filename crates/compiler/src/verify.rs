//! Bytecode verifier: checks that a [`Prototype`] tree is safe for the VM's interpreter to
//! run, whatever produced it (the compiler, or bytes decoded by [`crate::dump::undump`]).
//!
//! The compiler's output always verifies (tested over every program of the test corpus);
//! a prototype built by hand or decoded from untrusted bytes is refused, with a
//! [`VerifyError`] naming the function (its path of child indexes), the instruction and the
//! broken rule, unless it satisfies every invariant below. The interpreter
//! (`crates/vm/src/interp.rs`) may rely on exactly these invariants: issue #15 uses them to
//! drop the bounds checks of register and constant accesses.
//!
//! Notation: `mss` = `max_stack_size`, `n` = `code.len()`, `nk` = `constants.len()`,
//! `nup` = `upvalues.len()`, `np` = `prototypes.len()`; `reg(x)` means `x < mss`;
//! `range(x, c)` means `x + c <= mss` (registers `x .. x+c-1`, possibly none); `i` is the
//! index of the instruction checked.
//!
//! # Header invariants (every function of the tree)
//! - **H1** `mss <= MAX_STACK_SIZE` (254, the compiler's register limit): every register
//!   index and every `a + count` below fits in a `u8`/`u16` computation without overflow, and
//!   a frame's register window (`base .. base + mss`, which the interpreter keeps allocated
//!   while the frame runs: `stack.len() >= base + mss`) is small.
//! - **H2** `num_params <= mss`: the fixed parameters are registers `0 .. num_params`.
//! - **H3** `nup <= MAX_UPVALUES` (255): every upvalue is addressable by a `u8` operand.
//! - **H4** `n >= 1` (code is never empty: `code[0]` exists when a frame starts at `pc = 0`).
//! - **H5** `lines.len() == n`, or `lines` is empty (stripped debug information).
//! - **H6** every local variable has `start_pc <= end_pc <= n`.
//! - **H7** for a nested function (child `c` of `p`), each upvalue descriptor refers to
//!   something that exists when `Closure` runs in `p`: `in_stack` → `index < p.mss` (a
//!   register of `p`'s window: `find_upvalue(base + index)` stays inside the stack);
//!   otherwise `index < p.nup` (`upvals[index]` of the enclosing closure, which has exactly
//!   `p.nup` upvalues). The root's descriptors are not checked: a loaded root closure gets
//!   `nup` fresh upvalues (the first is `_ENV`).
//!
//! # Operand invariants (every instruction, reachable or not)
//! - **O1 registers**: every register operand satisfies `reg`, every register block
//!   `range`: `Move`, `Load*`, `Get*`/`Set*` (`a`, `b`, and `c` when it is a register: `ck`
//!   false), arithmetic (`a`, `b`, `c`), `Unm`/`BNot`/`Not`/`Len`, `Tbc`, `Close`, `Test`,
//!   `TestSet`, comparisons, `Closure`, `NewTable`, `Return1`: `reg`; `LoadNil` →
//!   `range(a, n + 1)`; `SelfK` → `range(a, 2)`; `Concat` → `n >= 2` and `range(a, n)`;
//!   `Call` → `reg(a)`, `range(a, b)` if `b > 0` (function + arguments), `range(a, c - 1)` if
//!   `c > 0` (results); `TailCall` → `reg(a)`, `range(a, b)` if `b > 0`; `Return` →
//!   `range(a, b - 1)` if `b > 0`; `VarArg` → `reg(a)`, `range(a, c - 1)` if `c > 0`;
//!   `SetList` → `reg(a)`, `range(a + 1, n)`; `ForPrep`/`ForLoop`/`TForPrep` →
//!   `range(a, 4)`; `TForCall` → `c >= 1`, `range(a, 4 + c)`; `TForLoop` → `range(a, 5)`.
//!   With `stack.len() >= base + mss` (the interpreter's frame invariant), this makes every
//!   `r!(x)` / `ts.stack[base + x]` of a fixed operand in bounds.
//! - **O2 constants**: every constant operand `< nk`, of the kind the interpreter expects:
//!   `GetTabUp`, `GetField`, `SetTabUp`, `SetField`, `SelfK` keys are strings; `AddK` ...
//!   `BXorK` operands are numbers (integer or float; the compiler also uses floats for
//!   bitwise constants, which then fail at run time like `x & 1.5`); `EqK` is not a number
//!   (nil, boolean or string: it compares raw); `LoadK` and `RK(c, ck)` with `ck` any kind.
//!   Makes `consts[k]` in bounds (the VM's materialized constants have exactly `nk` entries).
//! - **O3 upvalues**: `GetUpval`, `SetUpval`, `GetTabUp`, `SetTabUp` have `up < nup`: makes
//!   `upvals[up]` in bounds (a closure has exactly its prototype's `nup` upvalues, H7).
//! - **O4 children**: `Closure` has `proto < np`: makes `children[proto]` in bounds.
//! - **O5 vararg**: `VarArg` only in a function with `is_vararg` (the compiler's rule; a
//!   non-vararg frame has no varargs to copy anyway).
//!
//! # Control-flow invariants
//! - **C1 successors inside the code**: every instruction's possible next `pc` is `< n`.
//!   Fall-through instructions need `i + 1 < n` (so the code ends with `Return`, `Return0`,
//!   `Return1` or `Jmp`: no falling off the end), `Jmp` needs `0 <= i + 1 + off < n`,
//!   `LoadFalseSkip` and conditionals need `i + 2 < n`, loop edges below. Makes `code[pc]`
//!   in bounds at every fetch, and `pc -= back` never underflows.
//! - **C2 conditional pairs**: `Eq`, `Lt`, `Le`, `EqK`, `EqI`, `LtI`, `LeI`, `GtI`, `GeI`,
//!   `Test`, `TestSet` are followed by a `Jmp` (which C1 checks like any `Jmp`): the
//!   interpreter's `cond_jump` reads `code[pc]` after a conditional.
//! - **C3 numeric for**: `ForPrep { a, skip }` at `i`: `code[i + skip]` is `ForLoop { a,
//!   back: skip }` (so the zero-trip exit lands after it and its back edge lands on
//!   `i + 1`); each `ForLoop { a, back }` at `j`: `code[j - back]` is `ForPrep { a, skip:
//!   back }`. The loop registers are in a `ForPrep`-converted state whenever `ForLoop` runs
//!   on compiled code (`ForLoop` is memory-safe on any values anyway).
//! - **C4 generic for**: `TForPrep { a, skip }` at `i` jumps to `i + 1 + skip`, which is a
//!   `TForCall { a, .. }`; every `TForCall { a, .. }` is followed by a `TForLoop { a, .. }`;
//!   every `TForLoop { a, back }` at `j` jumps back to `j + 1 - back`, right after a
//!   `TForPrep { a, .. }` whose target is `j - 1`.
//! - **C5 tail calls**: `TailCall { a, .. }` is followed by `Return { a, b: 0, .. }` (a Rust
//!   function in tail position keeps the frame, and that `Return` hands its results on).
//! - **C6 "up to top" operands**: `Call` with `b == 0`, `TailCall` with `b == 0`, `Return`
//!   with `b == 0` and `SetList` with `n == 0` use the frame's `top`, set by the previous
//!   multi-result instruction. Such an instruction at `i` is not a branch target (no jump,
//!   skip or loop edge lands on it) and `code[i - 1]` is a producer: `Call { p, c: 0, .. }`
//!   or `VarArg { p, c: 0 }` (which set `top = base + p + count`, and leave
//!   `stack.len() >= top`), or `TailCall { p, .. }` (only before its `Return`, C5), with
//!   `p >= a + 1` for `Call`/`TailCall`/`SetList` and `p >= a` for `Return`. So `top`
//!   is always at or above the first value the consumer reads: `top - func`,
//!   `top - first` and `top - ra - 1` never underflow, and every value read below `top` is
//!   inside the stack. (Values above `base + mss` are reached only through `top`, which is
//!   dynamic: those accesses keep their checks or rely on `stack.len() >= top`.)
//!
//! # Frame-state invariants (a dataflow over the reachable instructions)
//! The verifier tracks, at each `pc`, which registers may hold a pending to-be-closed
//! variable (`tbc`) and which may be captured by an open upvalue (`captured`), joining
//! paths by union:
//! - **F1** `Tbc { a }` registers `a` and `TForPrep { a, .. }` registers `a + 3` only above
//!   every pending one (so the thread's `tbc_slots` of a frame are increasing, and `Close
//!   { a }` — which pops while the last slot is `>= base + a` — removes exactly the pending
//!   ones at `>= a`).
//! - **F2** `Call { a, .. }` and `TailCall { a, .. }` need every pending and every captured
//!   register `< a`; `TForCall { a, .. }` needs them `<= a + 3`. A callee's frame starts
//!   above its function slot and the stack may shrink to its window, so nothing of the
//!   caller's below the call stays reachable through a slot index that may have left the
//!   stack (an open upvalue's `ts.stack[slot]`, a `tbc_slots` entry).
//! - **F3** `Return0`, `Return1`, `Return { close: false, .. }` and `TailCall` need no
//!   pending to-be-closed variable (only `Return { close: true, .. }` closes them; open
//!   upvalues are closed by every return and by `TailCall`).
//! - The analysis is bounded: a function whose dataflow does not settle within
//!   `32 * n + 256` instruction visits is refused (compiled code settles in a few passes),
//!   so verification is linear in the code's size.
//!
//! Things the verifier does not need to check, because the VM does not trust them:
//! `NewTable` size hints (clamped by the table), integer immediates, `SetList`'s `start`
//! (an `i64` sum), line numbers and names (debug information is only displayed), and
//! dynamic counts (varargs, results), which the interpreter bounds-checks or resizes for.

use crate::opcode::Instruction::{self, *};
use crate::proto::{Constant, Prototype};

/// Most registers a verified function may use (the compiler's limit: `MAXREGS - 1`).
pub const MAX_STACK_SIZE: u8 = (crate::func_state::MAX_REGS - 1) as u8;

/// Most upvalues a verified function may have (PUC's `MAXUPVAL`).
pub const MAX_UPVALUES: usize = crate::func_state::MAX_UPVALS;

/// Why a prototype was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyError {
    /// The offending function: child indexes from the verified root (empty: the root).
    pub function: Vec<u32>,
    /// The offending instruction, if the problem is one.
    pub pc: Option<usize>,
    /// The rule broken.
    pub message: String,
}

impl std::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("function <main")?;
        for i in &self.function {
            write!(f, ".{i}")?;
        }
        f.write_str(">")?;
        if let Some(pc) = self.pc {
            write!(f, " at instruction {pc}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for VerifyError {}

/// Verifies `proto` and all its nested prototypes (iteratively: no recursion on the Rust
/// stack, whatever the nesting depth). See the module docs for the invariants.
pub fn verify(proto: &Prototype) -> Result<(), VerifyError> {
    verify_reporting(proto, &mut |_| {})
}

/// [`verify`], reporting its progress in `progress.reached` as the last part of a
/// compilation's (see [`crate::CompileProgress`]): from [`crate::parse_progress`]`(source_len)`
/// to `source_len`, plus the compilation's extra work, in proportion to the instructions
/// verified, every 4,096 of them and at the end.
pub fn verify_with_progress(
    proto: &Prototype,
    progress: &crate::CompileProgress,
    source_len: usize,
) -> Result<(), VerifyError> {
    fn count(p: &Prototype) -> usize {
        // (Recursion bounded by the nesting limit the compiler and the decoder enforce.)
        p.code.len() + p.prototypes.iter().map(|c| count(c)).sum::<usize>()
    }
    let total = count(proto).max(1);
    let extra = progress
        .extra_work
        .load(std::sync::atomic::Ordering::Relaxed);
    let from = crate::parse_progress(source_len);
    let span = source_len - from;
    verify_reporting(proto, &mut |done| {
        let at = from + (span as u128 * done.min(total) as u128 / total as u128) as usize;
        progress
            .reached
            .store(at + extra, std::sync::atomic::Ordering::Release);
    })
}

/// Instructions verified between two progress reports.
const VERIFY_GRAIN: usize = 4096;

/// [`verify`], calling `report` with the instructions verified so far every
/// [`VERIFY_GRAIN`] of them, and with all of them at the end.
fn verify_reporting(proto: &Prototype, report: &mut dyn FnMut(usize)) -> Result<(), VerifyError> {
    let mut done = 0;
    // (function, its path, (parent's mss, parent's upvalue count))
    let mut work: Vec<Pending<'_>> = vec![(proto, Vec::new(), None)];
    while let Some((p, path, parent)) = work.pop() {
        let before = done;
        let tick = &mut |i: usize| report(before + i);
        let checked = verify_function(p, parent, tick);
        done += p.code.len();
        if before / VERIFY_GRAIN != done / VERIFY_GRAIN {
            report(done);
        }
        if let Err((pc, message)) = checked {
            return Err(VerifyError {
                function: path,
                pc,
                message,
            });
        }
        for (i, child) in p.prototypes.iter().enumerate().rev() {
            let mut child_path = path.clone();
            child_path.push(i as u32);
            work.push((
                child,
                child_path,
                Some((p.max_stack_size, p.upvalues.len())),
            ));
        }
    }
    report(done);
    Ok(())
}

type Fail = (Option<usize>, String);

/// A function still to verify: it, its path, and its parent's (max_stack_size, upvalue count).
type Pending<'a> = (&'a Prototype, Vec<u32>, Option<(u8, usize)>);

fn fail<T>(pc: Option<usize>, message: impl Into<String>) -> Result<T, Fail> {
    Err((pc, message.into()))
}

/// A set of registers `0..256`.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
struct Regs([u64; 4]);

impl Regs {
    fn insert(&mut self, r: usize) {
        self.0[r / 64] |= 1 << (r % 64);
    }
    /// Removes every register `>= r`.
    fn clear_from(&mut self, r: usize) {
        for w in 0..4 {
            let lo = w * 64;
            if r <= lo {
                self.0[w] = 0;
            } else if r < lo + 64 {
                self.0[w] &= (1u64 << (r - lo)) - 1;
            }
        }
    }
    /// The highest register, if any.
    fn max(&self) -> Option<usize> {
        (0..4)
            .rev()
            .find(|&w| self.0[w] != 0)
            .map(|w| w * 64 + 63 - self.0[w].leading_zeros() as usize)
    }
    fn union(&self, o: &Regs) -> Regs {
        let mut r = *self;
        for w in 0..4 {
            r.0[w] |= o.0[w];
        }
        r
    }
    /// Whether every register is below `limit`.
    fn all_below(&self, limit: usize) -> bool {
        self.max().is_none_or(|m| m < limit)
    }
}

/// Where control may go after instruction `i` (at most two places), and whether the first
/// is the plain fall-through to `i + 1`.
struct Succ {
    targets: [usize; 2],
    count: usize,
    /// `targets[0]` is reached by falling through from `i` (not a branch).
    falls_through: bool,
}

/// Checks one function; `tick(i)` is called every [`VERIFY_GRAIN`] instructions of its
/// first pass (the others follow it in proportion).
fn verify_function(
    p: &Prototype,
    parent: Option<(u8, usize)>,
    tick: &mut dyn FnMut(usize),
) -> Result<(), Fail> {
    let mss = p.max_stack_size as usize;
    let n = p.code.len();
    let nk = p.constants.len();
    let nup = p.upvalues.len();
    if p.max_stack_size > MAX_STACK_SIZE {
        return fail(None, format!("max_stack_size {mss} above {MAX_STACK_SIZE}"));
    }
    if p.num_params as usize > mss {
        return fail(
            None,
            format!("{} parameters but {mss} registers", p.num_params),
        );
    }
    if nup > MAX_UPVALUES {
        return fail(None, format!("{nup} upvalues (at most {MAX_UPVALUES})"));
    }
    if n == 0 {
        return fail(None, "empty code");
    }
    if !p.lines.is_empty() && p.lines.len() != n {
        return fail(
            None,
            format!("{} line entries for {n} instructions", p.lines.len()),
        );
    }
    for lv in &p.local_vars {
        if lv.start_pc > lv.end_pc || lv.end_pc as usize > n {
            return fail(
                None,
                format!(
                    "local variable range {}..{} outside the code",
                    lv.start_pc, lv.end_pc
                ),
            );
        }
    }
    if let Some((pmss, pnup)) = parent {
        for (k, u) in p.upvalues.iter().enumerate() {
            if u.in_stack && u.index >= pmss {
                return fail(
                    None,
                    format!(
                        "upvalue {k} captures register {} of a {pmss}-register parent",
                        u.index
                    ),
                );
            }
            if !u.in_stack && u.index as usize >= pnup {
                return fail(
                    None,
                    format!(
                        "upvalue {k} refers to upvalue {} of a parent with {pnup}",
                        u.index
                    ),
                );
            }
        }
    }

    // Pass 1: operands, successors, pairing; which instructions are branch targets.
    let mut branch_target = vec![false; n];
    for (i, ins) in p.code.iter().enumerate() {
        if i % VERIFY_GRAIN == VERIFY_GRAIN - 1 {
            // (Half of the function's work: the later passes take about as long.)
            tick(i / 2);
        }
        let at = Some(i);
        let reg = |x: usize| -> Result<(), Fail> {
            if x < mss {
                Ok(())
            } else {
                fail(at, format!("register {x} out of {mss}"))
            }
        };
        let range = |x: usize, count: usize| -> Result<(), Fail> {
            if x + count <= mss {
                Ok(())
            } else {
                fail(at, format!("registers {x}..{} out of {mss}", x + count))
            }
        };
        let konst = |k: usize| -> Result<&Constant, Fail> {
            match p.constants.get(k) {
                Some(c) => Ok(c),
                None => fail(at, format!("constant {k} out of {nk}")),
            }
        };
        let kstr = |k: usize| -> Result<(), Fail> {
            match konst(k)? {
                Constant::String(_) => Ok(()),
                _ => fail(at, format!("constant {k} is not a string")),
            }
        };
        let knum = |k: usize| -> Result<(), Fail> {
            match konst(k)? {
                Constant::Integer(_) | Constant::Float(_) => Ok(()),
                _ => fail(at, format!("constant {k} is not a number")),
            }
        };
        let rk = |c: u16, ck: bool| -> Result<(), Fail> {
            if ck {
                konst(c as usize).map(|_| ())
            } else {
                reg(c as usize)
            }
        };
        let upv = |u: u8| -> Result<(), Fail> {
            if (u as usize) < nup {
                Ok(())
            } else {
                fail(at, format!("upvalue {u} out of {nup}"))
            }
        };
        let next_is = |pred: &dyn Fn(&Instruction) -> bool, what: &str| -> Result<(), Fail> {
            match p.code.get(i + 1) {
                Some(x) if pred(x) => Ok(()),
                _ => fail(at, format!("must be followed by {what}")),
            }
        };
        let a_of = |x: &Instruction| -> Option<u8> {
            match *x {
                ForPrep { a, .. }
                | ForLoop { a, .. }
                | TForPrep { a, .. }
                | TForCall { a, .. }
                | TForLoop { a, .. } => Some(a),
                _ => None,
            }
        };
        let one = |t: usize| Succ {
            targets: [t, 0],
            count: 1,
            falls_through: false,
        };
        let next = Succ {
            targets: [i + 1, 0],
            count: 1,
            falls_through: true,
        };
        let next_and = |t: usize| Succ {
            targets: [i + 1, t],
            count: 2,
            falls_through: true,
        };
        let succ: Succ = match *ins {
            Move { a, b } => {
                reg(a as usize)?;
                reg(b as usize)?;
                next
            }
            LoadI { a, .. } | LoadF { a, .. } | LoadFalse { a } | LoadTrue { a } => {
                reg(a as usize)?;
                next
            }
            LoadK { a, k } => {
                reg(a as usize)?;
                konst(k as usize)?;
                next
            }
            LoadFalseSkip { a } => {
                reg(a as usize)?;
                one(i + 2)
            }
            LoadNil { a, n } => {
                range(a as usize, n as usize + 1)?;
                next
            }
            GetUpval { a, up } | SetUpval { a, up } => {
                reg(a as usize)?;
                upv(up)?;
                next
            }
            GetTabUp { a, up, k } => {
                reg(a as usize)?;
                upv(up)?;
                kstr(k as usize)?;
                next
            }
            GetTable { a, b, c } => {
                reg(a as usize)?;
                reg(b as usize)?;
                reg(c as usize)?;
                next
            }
            GetI { a, b, .. } => {
                reg(a as usize)?;
                reg(b as usize)?;
                next
            }
            GetField { a, b, k } => {
                reg(a as usize)?;
                reg(b as usize)?;
                kstr(k as usize)?;
                next
            }
            SetTabUp { up, k, c, ck } => {
                upv(up)?;
                kstr(k as usize)?;
                rk(c, ck)?;
                next
            }
            SetTable { a, b, c, ck } => {
                reg(a as usize)?;
                reg(b as usize)?;
                rk(c, ck)?;
                next
            }
            SetI { a, c, ck, .. } => {
                reg(a as usize)?;
                rk(c, ck)?;
                next
            }
            SetField { a, k, c, ck } => {
                reg(a as usize)?;
                kstr(k as usize)?;
                rk(c, ck)?;
                next
            }
            NewTable { a, .. } => {
                reg(a as usize)?;
                next
            }
            SelfK { a, b, k } => {
                range(a as usize, 2)?;
                reg(b as usize)?;
                kstr(k as usize)?;
                next
            }
            AddI { a, b, .. } | ShrI { a, b, .. } | ShlI { a, b, .. } => {
                reg(a as usize)?;
                reg(b as usize)?;
                next
            }
            AddK { a, b, k, .. }
            | SubK { a, b, k }
            | MulK { a, b, k, .. }
            | ModK { a, b, k }
            | PowK { a, b, k }
            | DivK { a, b, k }
            | IDivK { a, b, k }
            | BAndK { a, b, k }
            | BOrK { a, b, k }
            | BXorK { a, b, k } => {
                reg(a as usize)?;
                reg(b as usize)?;
                knum(k as usize)?;
                next
            }
            Add { a, b, c }
            | Sub { a, b, c }
            | Mul { a, b, c }
            | Mod { a, b, c }
            | Pow { a, b, c }
            | Div { a, b, c }
            | IDiv { a, b, c }
            | BAnd { a, b, c }
            | BOr { a, b, c }
            | BXor { a, b, c }
            | Shl { a, b, c }
            | Shr { a, b, c } => {
                reg(a as usize)?;
                reg(b as usize)?;
                reg(c as usize)?;
                next
            }
            Unm { a, b } | BNot { a, b } | Not { a, b } | Len { a, b } => {
                reg(a as usize)?;
                reg(b as usize)?;
                next
            }
            Concat { a, n } => {
                if n < 2 {
                    return fail(at, format!("concatenation of {n} values"));
                }
                range(a as usize, n as usize)?;
                next
            }
            Close { a } | Tbc { a } => {
                reg(a as usize)?;
                next
            }
            Jmp { off } => {
                let t = i as i64 + 1 + off as i64;
                if t < 0 || t >= n as i64 {
                    return fail(at, format!("jump to {t} outside the code"));
                }
                one(t as usize)
            }
            Eq { a, b, .. } | Lt { a, b, .. } | Le { a, b, .. } | TestSet { a, b, .. } => {
                reg(a as usize)?;
                reg(b as usize)?;
                next_and(i + 2)
            }
            EqK { a, c, .. } => {
                reg(a as usize)?;
                if matches!(
                    konst(c as usize)?,
                    Constant::Integer(_) | Constant::Float(_)
                ) {
                    return fail(at, format!("constant {c} of EqK is a number"));
                }
                next_and(i + 2)
            }
            EqI { a, .. } | LtI { a, .. } | LeI { a, .. } | GtI { a, .. } | GeI { a, .. } => {
                reg(a as usize)?;
                next_and(i + 2)
            }
            Test { a, .. } => {
                reg(a as usize)?;
                next_and(i + 2)
            }
            Call { a, b, c } => {
                reg(a as usize)?;
                if b > 0 {
                    range(a as usize, b as usize)?;
                }
                if c > 0 {
                    range(a as usize, c as usize - 1)?;
                }
                next
            }
            TailCall { a, b } => {
                reg(a as usize)?;
                if b > 0 {
                    range(a as usize, b as usize)?;
                }
                next_is(
                    &|x| matches!(*x, Return { a: ra, b: 0, .. } if ra == a),
                    "Return { a, b: 0 }",
                )?;
                next
            }
            Return { a, b, .. } => {
                if b > 0 {
                    range(a as usize, b as usize - 1)?;
                } else {
                    reg(a as usize)?;
                }
                Succ {
                    targets: [0, 0],
                    count: 0,
                    falls_through: false,
                }
            }
            Return0 => Succ {
                targets: [0, 0],
                count: 0,
                falls_through: false,
            },
            Return1 { a } => {
                reg(a as usize)?;
                Succ {
                    targets: [0, 0],
                    count: 0,
                    falls_through: false,
                }
            }
            ForPrep { a, skip } => {
                range(a as usize, 4)?;
                let j = i as u64 + skip as u64;
                match p.code.get(j as usize) {
                    Some(&ForLoop { a: la, back }) if la == a && back == skip => {}
                    _ => return fail(at, "ForPrep does not skip to its ForLoop"),
                }
                next_and(j as usize + 1)
            }
            ForLoop { a, back } => {
                range(a as usize, 4)?;
                let Some(prep) = i.checked_sub(back as usize) else {
                    return fail(at, "ForLoop jumps before the code");
                };
                match p.code[prep] {
                    ForPrep { a: pa, skip } if pa == a && skip == back => {}
                    _ => return fail(at, "ForLoop does not jump back after its ForPrep"),
                }
                next_and(prep + 1)
            }
            TForPrep { a, skip } => {
                range(a as usize, 4)?;
                let t = i as u64 + 1 + skip as u64;
                match p.code.get(t as usize) {
                    Some(x @ TForCall { .. }) if a_of(x) == Some(a) => {}
                    _ => return fail(at, "TForPrep does not jump to its TForCall"),
                }
                one(t as usize)
            }
            TForCall { a, c } => {
                if c == 0 {
                    return fail(at, "TForCall with no results");
                }
                range(a as usize, 4 + c as usize)?;
                next_is(
                    &|x| matches!(*x, TForLoop { a: la, .. } if la == a),
                    "TForLoop",
                )?;
                next
            }
            TForLoop { a, back } => {
                range(a as usize, 5)?;
                // Lands on `i + 1 - back`, right after the TForPrep at `i - back`, whose target
                // must be the TForCall at `i - 1`.
                let Some(prep) = i.checked_sub(back as usize) else {
                    return fail(at, "TForLoop jumps before the code");
                };
                match p.code[prep] {
                    TForPrep { a: pa, skip }
                        if pa == a && prep as u64 + 1 + skip as u64 + 1 == i as u64 => {}
                    _ => return fail(at, "TForLoop does not jump back after its TForPrep"),
                }
                next_and(prep + 1)
            }
            SetList { a, n, .. } => {
                reg(a as usize)?;
                range(a as usize + 1, n as usize)?;
                next
            }
            Closure { a, proto } => {
                reg(a as usize)?;
                if proto as usize >= p.prototypes.len() {
                    return fail(
                        at,
                        format!("prototype {proto} out of {}", p.prototypes.len()),
                    );
                }
                next
            }
            VarArg { a, c } => {
                if !p.is_vararg {
                    return fail(at, "VarArg in a function that is not variadic");
                }
                reg(a as usize)?;
                if c > 0 {
                    range(a as usize, c as usize - 1)?;
                }
                next
            }
        };
        if ins.is_test() {
            next_is(&|x| matches!(x, Jmp { .. }), "Jmp")?;
        }
        for (k, &t) in succ.targets[..succ.count].iter().enumerate() {
            if t >= n {
                return fail(at, "control runs past the end of the code");
            }
            if k > 0 || !succ.falls_through {
                branch_target[t] = true;
            }
        }
    }

    // Pass 2: "up to top" operands follow the instruction that sets `top` (C6).
    for (i, ins) in p.code.iter().enumerate() {
        let need = match *ins {
            Call { a, b: 0, .. } | TailCall { a, b: 0 } => a as usize + 1,
            SetList { a, n: 0, .. } => a as usize + 1,
            Return { a, b: 0, .. } => a as usize,
            _ => continue,
        };
        let producer = if i == 0 || branch_target[i] {
            None
        } else {
            match p.code[i - 1] {
                Call { a, c: 0, .. } | VarArg { a, c: 0 } => Some(a as usize),
                TailCall { a, .. } if matches!(ins, Return { .. }) => Some(a as usize),
                _ => None,
            }
        };
        match producer {
            Some(pa) if pa >= need => {}
            _ => {
                return fail(
                    Some(i),
                    "uses the top of the stack without a preceding multi-result instruction",
                )
            }
        }
    }

    // Pass 3: pending to-be-closed and captured registers (F1-F3). Without an instruction
    // that adds to either set, both stay empty everywhere and every check of the flow
    // passes (each instruction's state goes from unknown to empty once, within the budget):
    // the flow is skipped. That is most code, and big data chunks above all.
    if p.code.iter().any(|ins| match *ins {
        Tbc { .. } | TForPrep { .. } => true,
        Closure { proto, .. } => p
            .prototypes
            .get(proto as usize)
            .is_none_or(|c| c.upvalues.iter().any(|u| u.in_stack)),
        _ => false,
    }) {
        frame_state_flow(p, n)
    } else {
        Ok(())
    }
}

/// The dataflow of the frame-state invariants F1-F3 (module docs).
fn frame_state_flow(p: &Prototype, n: usize) -> Result<(), Fail> {
    let mut state: Vec<Option<(Regs, Regs)>> = vec![None; n];
    let mut dirty = vec![false; n];
    state[0] = Some((Regs::default(), Regs::default()));
    dirty[0] = true;
    let mut budget: u64 = 32 * n as u64 + 256;
    let mut any = true;
    while any {
        any = false;
        for i in 0..n {
            if !dirty[i] {
                continue;
            }
            dirty[i] = false;
            if budget == 0 {
                return fail(None, "control flow too complex to verify");
            }
            budget -= 1;
            let Some((mut tbc, mut cap)) = state[i] else {
                continue;
            };
            let at = Some(i);
            let ins = p.code[i];
            let no_tbc = |tbc: &Regs, what: &str| -> Result<(), Fail> {
                if tbc.max().is_none() {
                    Ok(())
                } else {
                    fail(at, format!("{what} with a to-be-closed variable pending"))
                }
            };
            let below = |tbc: &Regs, cap: &Regs, limit: usize| -> Result<(), Fail> {
                if !tbc.all_below(limit) {
                    return fail(at, "call over a pending to-be-closed variable");
                }
                if !cap.all_below(limit) {
                    return fail(at, "call over a captured register");
                }
                Ok(())
            };
            let succ: [Option<usize>; 2] = match ins {
                Tbc { a } => {
                    if !tbc.all_below(a as usize) {
                        return fail(at, "to-be-closed variable below a pending one");
                    }
                    tbc.insert(a as usize);
                    [Some(i + 1), None]
                }
                TForPrep { a, skip } => {
                    if !tbc.all_below(a as usize + 3) {
                        return fail(at, "to-be-closed variable below a pending one");
                    }
                    tbc.insert(a as usize + 3);
                    [Some(i + 1 + skip as usize), None]
                }
                Close { a } => {
                    tbc.clear_from(a as usize);
                    cap.clear_from(a as usize);
                    [Some(i + 1), None]
                }
                Closure { proto, .. } => {
                    for u in p.prototypes[proto as usize].upvalues.iter() {
                        if u.in_stack {
                            cap.insert(u.index as usize);
                        }
                    }
                    [Some(i + 1), None]
                }
                Call { a, .. } => {
                    below(&tbc, &cap, a as usize)?;
                    [Some(i + 1), None]
                }
                TailCall { a, .. } => {
                    no_tbc(&tbc, "tail call")?;
                    below(&tbc, &cap, a as usize)?;
                    [Some(i + 1), None]
                }
                TForCall { a, .. } => {
                    below(&tbc, &cap, a as usize + 4)?;
                    [Some(i + 1), None]
                }
                Return { close: false, .. } | Return0 | Return1 { .. } => {
                    no_tbc(&tbc, "return without closing")?;
                    [None, None]
                }
                Return { close: true, .. } => [None, None],
                Jmp { off } => [Some((i as i64 + 1 + off as i64) as usize), None],
                LoadFalseSkip { .. } => [Some(i + 2), None],
                ForPrep { skip, .. } => [Some(i + 1), Some(i + 1 + skip as usize)],
                ForLoop { back, .. } | TForLoop { back, .. } => {
                    [Some(i + 1), Some(i + 1 - back as usize)]
                }
                ref x if x.is_test() => [Some(i + 1), Some(i + 2)],
                _ => [Some(i + 1), None],
            };
            for t in succ.into_iter().flatten() {
                let merged = match state[t] {
                    None => (tbc, cap),
                    Some((t0, c0)) => (t0.union(&tbc), c0.union(&cap)),
                };
                if state[t] != Some(merged) {
                    state[t] = Some(merged);
                    dirty[t] = true;
                    any = true;
                }
            }
        }
    }
    Ok(())
}
