//! Unchecked access for the interpreter's hot paths (issue #15), and the types that make it
//! sound. Part of the audited module: every `unsafe` block of this file is listed here with
//! what it relies on and where that is established.
//!
//! # What the interpreter reads without bounds checks
//! While a Lua frame runs (`interp::run_mode`, locals `code`, `consts`, `base`, and `ip`, the
//! address of `code[pc]` ([`Ip`]), of the
//! frame's closure `cl` with prototype `p`, `upvals` its upvalue slots, and `regs`, its
//! register window):
//!
//! | access | in bounds because |
//! |---|---|
//! | [`Ip::fetch`] of `ip` = [`Ip::at`]`(code, pc)` (moved only with `pc`: `next`, `offset` by the jumps) | **E1** `pc < code.len()` when the frame's code is entered ([`frame_ready`]); afterwards every next `pc` is a successor of a verified instruction, `< code.len()` (verifier **C1**, which also makes the `Jmp` read after a conditional, **C2**, exist) |
//! | [`window`]`(stack, base)`, taken as `regs` | **E2** `stack.len() >= base + mss`, so `base <= stack.len()` and the window holds at least `mss` registers |
//! | [`reg_mut`]`(regs, x)` for a register operand `x` | verifier **O1**: `x < p.max_stack_size` (and `x + k < mss` for the fixed blocks `range(x, k)` it lists); **E2** as above: `regs.len() = stack.len() - base >= mss` |
//! | [`konst`]`(consts, k)` | verifier **O2**: `k < p.constants.len()`; **K** `consts.len() == p.constants.len()` |
//! | [`field_hint`]`(hints, k)` for a constant operand `k`, `hints` the prototype's `field_hints` | **O2** as above; **K** `field_hints.len() == p.constants.len()` |
//! | [`upval`]`(upvals, up)` | verifier **O3**: `up < p.upvalues.len()`; **U** `cl.upvalues.len() == p.upvalues.len()` |
//!
//! * **Verified code** — `FunctionProto::proto` is a [`VerifiedProto`]: a prototype that
//!   passed `lunette_compiler::verify`. Its field is private to this module and its only
//!   constructors verify ([`VerifiedProto::new`], [`VerifiedProto::compile_with_limit`]),
//!   take a tree `lunette_compiler::undump` returned (`undump` runs `verify` on every
//!   success path before it returns: [`VerifiedProto::undump_with_limit`]), or take a child
//!   of a verified tree (`verify` checks every function of the tree: [`VerifiedProto::child`]).
//!   The per-function invariants (H1-H6, O1-O5, C1-C6) hold for a child whether it was verified
//!   as a root or inside its tree; **H7** (a child's upvalue descriptors against its parent)
//!   is not relied on here: `Closure` (`interp::new_closure`) keeps its checked accesses.
//!   A `Prototype` is immutable behind its `Arc`, so what was verified stays true.
//! * **K** and **U** — `FunctionProto` and `ClosureInner` carry a [`Sealed`] field, which
//!   only this module can make, and only in their constructors below
//!   ([`FunctionProto::build`], [`ClosureInner::build`]): each builds the constants (and
//!   their field hints, one per constant) or the upvalue slots from the prototype's own
//!   list, one per entry, so the counts are equal by construction (image rebuilds check the image's counts first and fail with a corrupt
//!   image otherwise). Both objects are immutable once built (they live behind `Gc`; the
//!   upvalue slots are `Lock`s, whose contents `debug.upvaluejoin` may change, never their
//!   number), so K and U hold for as long as the object lives.
//! * **E1, E2** — the interpreter's frame invariant. Established by [`frame_ready`], which
//!   `interp::run_mode` calls on every (re)entry into a frame's code: at the top of its
//!   `'frame` loop (after any call, return, metamethod call, `__close`, error unwinding,
//!   hook call, coroutine switch, step boundary, rollback or restore, the loop is left and
//!   re-entered there) and in `enter_frame!` (the call and return fast paths, which switch
//!   frames without leaving the loop). When the check fails the frame does not run (the
//!   fast paths go back to the top of the loop, which raises an error for a `pc` out of
//!   range and grows a short stack). Between entries, E2 is kept because nothing the loop
//!   does without leaving it shrinks the stack below `base + mss`: the instructions that
//!   truncate it (`Call`, `TailCall`, `TForCall`, a `Return` running `__close`) leave the
//!   loop (`do_call!`, `continue 'frame`) or enter another frame; `SetList` with `n == 0`
//!   truncates to exactly `base + mss`; `VarArg` and metamethod calls only grow it; helper
//!   calls that take the thread (`close_upvalues`, `find_upvalue`, `concat_reduce`, the
//!   hooks' `before_instruction`/`return_event` when they call nothing) do not change its
//!   length. The window `regs` is a `&mut` borrow of the stack (safe Rust: a slice, not a
//!   pointer): while it lives the borrow checker lets nothing else use the stack or the
//!   thread state, so the stack can neither shrink nor be reallocated under it; the loop
//!   takes it again (`refresh!`, `enter_frame!`: from the `Vec`'s current buffer, with the
//!   then-current `base`) after each use of the thread state, where E2 holds by the
//!   argument above. Nothing else can touch the stack meanwhile:
//!   the loop holds the thread's `&mut ThreadState` for its whole run (upvalue writes to
//!   this thread go through it; other threads are other objects).
//!   Frames restored from images also pass `frame_ready` before they run (and
//!   `snapshot::validate` already checks their `pc` against the code and `stack_end ==
//!   base + mss`, and the counts K and U; `rebuild` checks K and U again as it builds).
//!
//! * **W** — the value stack's watermark (`frame_stack`: the values below it are traced
//!   by segments and must not change unless it is lowered first) is at or below `base`
//!   whenever [`window`]`(stack, base)` is taken, so the writes through `regs` (registers,
//!   at or above `base`) and the fast paths' frame sizing need no check of it. Established
//!   at the top of `interp::run_mode`'s `'frame` loop (`ValueStack::unseal_to(base)`, on
//!   every (re)entry into a frame) and by the return fast paths (`unseal_to` the caller's
//!   base, or `func` if lower, right after popping the returning frame and before writing
//!   its results at `func`); kept in between because the watermark only goes down while
//!   the loop runs (it is raised only by `FrameStack::after_run`, which the executor calls
//!   after `interp::run` returns, and the loop holds the thread's `&mut ThreadState`
//!   throughout), and the call fast path enters a callee whose base (its function slot
//!   plus one, a register of the caller) is above the caller's, after sizing the stack by
//!   `truncate_above(keep)` with `keep` at or above that base. Windows taken from `func`
//!   on the return path (`func` at or above the lowered watermark) hand out `[func..]`
//!   only. `window` and `ValueStack::{above_mut, truncate_above}` `debug_assert!` it.
//!
//! Every accessor `debug_assert!`s its bound, so the test suites (debug builds) check the
//! argument on every access they make.
//!
//! The accessors are safe functions with a documented precondition (`pub(crate)`, called
//! only by `interp`; `grep unchecked::` lists every call): the precondition is what the
//! table above proves for the interpreter's operands. Accesses whose index is dynamic
//! (upvalue slots of open upvalues, values up to `top`, `Closure`'s descriptors) keep their
//! checks.

#![allow(unsafe_code)]

use std::ops::Deref;
use std::sync::Arc;

use gc_arena::lock::Lock;
use gc_arena::Gc;
use lunette_compiler::{
    CompileError, Constant, Instruction, Prototype, UndumpError, UpvalueDesc, VerifyError,
};

use crate::function::{ClosureInner, FunctionProto, UpValue};
use crate::memory::Charge;
use crate::value::Value;

/// `bytes` as shared text, when they are UTF-8 (the same allocation, retyped).
fn shared_str(bytes: &Arc<[u8]>) -> Option<Arc<str>> {
    std::str::from_utf8(bytes).ok()?;
    let raw: *const [u8] = Arc::into_raw(bytes.clone());
    // SAFETY: `str` and `[u8]` have the same layout, so `Arc<[u8]>`'s allocation is a valid
    // `Arc<str>` allocation (std's `From<Arc<str>> for Arc<[u8]>` is the same cast, reversed); the bytes were just checked to be UTF-8, and an `Arc`'s contents
    // never change while it is shared (no `get_mut` can succeed while `bytes` lives, and the
    // string bytes are immutable anyway). The pointer came from `Arc::into_raw` of the same
    // allocation, as `from_raw` requires.
    Some(unsafe { Arc::from_raw(raw as *const str) })
}

/// A prototype (tree) that passed the bytecode verifier (see the module docs: the only kind
/// of prototype a `FunctionProto`, hence the interpreter, holds).
#[derive(Clone, Debug)]
pub(crate) struct VerifiedProto(Arc<Prototype>);

impl VerifiedProto {
    /// Verifies `proto` and its nested prototypes.
    pub(crate) fn new(proto: Arc<Prototype>) -> Result<Self, VerifyError> {
        lunette_compiler::verify(&proto)?;
        Ok(VerifiedProto(proto))
    }

    /// Compiles a chunk (`lunette_compiler::compile_with_limit`) and verifies the output.
    /// The compiler's output always verifies (tested over the test corpus); a failure is a
    /// compiler bug, reported as a compile error rather than run.
    pub(crate) fn compile_with_limit(
        source: &[u8],
        chunk_name: &str,
        max_bytes: usize,
    ) -> Result<Self, CompileError> {
        let proto = lunette_compiler::compile_with_limit(source, chunk_name, max_bytes)?;
        Self::verify_compiled(proto, chunk_name)
    }

    /// Compiles a chunk whose name is the bytes of a Lua string (`load`'s), shared with the
    /// prototypes when they are UTF-8 (`lunette_compiler::compile_named`), else copied with
    /// invalid sequences replaced; with `progress`, the compiler reports how far it has read
    /// (`lunette_compiler::compile_with_progress`).
    pub(crate) fn compile_named(
        source: &[u8],
        chunk_name: &Arc<[u8]>,
        max_bytes: usize,
        progress: Option<&lunette_compiler::CompileProgress>,
    ) -> Result<Self, CompileError> {
        let proto = match shared_str(chunk_name) {
            Some(name) => lunette_compiler::compile_named(source, &name, max_bytes, progress)?,
            None => {
                let name = String::from_utf8_lossy(chunk_name);
                match progress {
                    Some(p) => {
                        lunette_compiler::compile_with_progress(source, &name, max_bytes, p)?
                    }
                    None => lunette_compiler::compile_with_limit(source, &name, max_bytes)?,
                }
            }
        };
        // The verification reports the last part of the progress.
        let verified = match progress {
            Some(p) => lunette_compiler::verify_with_progress(&proto, p, source.len()),
            None => lunette_compiler::verify(&proto),
        };
        verified.map_err(|e| Self::verification_failed(e, &String::from_utf8_lossy(chunk_name)))?;
        Ok(VerifiedProto(proto))
    }

    fn verify_compiled(proto: Arc<Prototype>, chunk_name: &str) -> Result<Self, CompileError> {
        VerifiedProto::new(proto).map_err(|e| Self::verification_failed(e, chunk_name))
    }

    /// A verification failure of the compiler's output, as a compile error (a compiler bug).
    fn verification_failed(e: VerifyError, chunk_name: &str) -> CompileError {
        CompileError {
            chunk: lunette_compiler::chunk_id(chunk_name),
            line: 0,
            message: format!("internal error: compiled code failed verification: {e}"),
        }
    }

    /// Decodes a binary chunk (`lunette_compiler::undump_with_limit`, which verifies the tree
    /// before it returns it: not verified twice).
    pub(crate) fn undump_with_limit(
        bytes: &[u8],
        chunk_name: &str,
        max_bytes: usize,
    ) -> Result<Self, UndumpError> {
        lunette_compiler::undump_with_limit(bytes, chunk_name, max_bytes).map(VerifiedProto)
    }

    /// Nested prototype `i` (verified with its tree), if it exists.
    pub(crate) fn child(&self, i: usize) -> Option<VerifiedProto> {
        self.0.prototypes.get(i).cloned().map(VerifiedProto)
    }

    /// The shared prototype.
    pub(crate) fn arc(&self) -> &Arc<Prototype> {
        &self.0
    }
}

impl Drop for VerifiedProto {
    /// The last holder of a prototype with many blocks (or nested prototypes) hands its
    /// buffers to the memory account's queue, to be given back a step at a time
    /// (`memory::PrototypeParts`) rather than all in the collector slice that dropped it.
    /// Emptying it here keeps what the module docs rely on: `Arc::get_mut` succeeds only
    /// for the one handle left, which is going, so no code ever runs it again. A small one
    /// is freed here, and its blocks count towards the running collector slice's cap
    /// (`memory::PrototypeParts::sweep_slots`).
    fn drop(&mut self) {
        if let Some(proto) = Arc::get_mut(&mut self.0) {
            if crate::memory::PrototypeParts::worth_deferring(proto) {
                crate::memory::free_prototype_later(crate::memory::PrototypeParts::take(proto));
            } else {
                crate::gc::note_slice_slots(crate::memory::PrototypeParts::sweep_slots(proto));
            }
        }
    }
}

impl Deref for VerifiedProto {
    type Target = Prototype;
    fn deref(&self) -> &Prototype {
        &self.0
    }
}

/// Proof that a `FunctionProto` or `ClosureInner` was made by its constructor here (K, U in
/// the module docs). Not `Clone`: it cannot be taken from another object.
pub(crate) struct Sealed(());

impl<'gc> FunctionProto<'gc> {
    /// A loaded prototype: `proto`, its constants materialized by `constant` (called once per
    /// constant of `proto`, in order: so exactly `proto.constants.len()` of them, K), its
    /// nested functions and its memory charge.
    pub(crate) fn build<E>(
        proto: VerifiedProto,
        constant: impl FnMut(usize, &Constant) -> Result<Value<'gc>, E>,
        children: Box<[Gc<'gc, FunctionProto<'gc>>]>,
        charge: Charge,
    ) -> Result<Self, E> {
        let mut constant = constant;
        // Sized once: collecting into a `Result` cannot know the count and grew a chunk's
        // 1.6 MB of constants by doubling (a step of its own in the hostile suite).
        let mut constants = Vec::with_capacity(proto.constants.len());
        for (i, c) in proto.constants.iter().enumerate() {
            constants.push(constant(i, c)?);
        }
        Ok(Self::build_from_values(proto, constants, children, charge))
    }

    /// [`FunctionProto::build`] with the constants already materialized, in order (one a
    /// constant of `proto`; any beyond are dropped and any missing are nil, so there are
    /// exactly as many as `proto` has, K). The values become the prototype's constants
    /// without a copy.
    pub(crate) fn build_from_values(
        proto: VerifiedProto,
        mut constants: Vec<Value<'gc>>,
        children: Box<[Gc<'gc, FunctionProto<'gc>>]>,
        charge: Charge,
    ) -> Self {
        constants.resize(proto.constants.len(), Value::Nil);
        let constants = constants.into_boxed_slice();
        let field_hints = (0..constants.len())
            .map(|_| std::cell::Cell::new(0))
            .collect();
        FunctionProto {
            frame: crate::function::FrameShape::of(&proto),
            proto,
            constants,
            field_hints,
            children,
            _charge: charge,
            _sealed: Sealed(()),
        }
    }
}

impl<'gc> ClosureInner<'gc> {
    /// A closure of `proto`, its upvalue slots made by `upvalue` (called once per upvalue
    /// descriptor of the prototype, in order: exactly as many slots as it declares, U).
    pub(crate) fn build<E>(
        id: u64,
        script_id: u64,
        proto: Gc<'gc, FunctionProto<'gc>>,
        upvalue: impl FnMut(usize, &UpvalueDesc) -> Result<UpValue<'gc>, E>,
    ) -> Result<Self, E> {
        let mut upvalue = upvalue;
        let upvalues = proto
            .proto
            .upvalues
            .iter()
            .enumerate()
            .map(|(i, d)| upvalue(i, d).map(Lock::new))
            .collect::<Result<Box<[_]>, E>>()?;
        Ok(ClosureInner {
            id,
            script_id: std::cell::Cell::new(script_id),
            proto,
            _charge: Charge::new(crate::function::closure_cost(upvalues.len())),
            upvalues,
            _sealed: Sealed(()),
        })
    }
}

/// E1 and E2 for a frame about to run: its `pc` is an instruction of `code` and the stack
/// holds its whole register window (`base + max_stack_size`, the prototype's). Called on
/// every entry into a frame's code (module docs).
#[inline(always)]
pub(crate) fn frame_ready(stack_len: usize, base: usize, pc: usize, proto: &VerifiedProto) -> bool {
    // `stack_len - base` rather than `base + max_stack_size`: no overflow whatever `base`,
    // so every `base + x` with `x < max_stack_size` is below `stack_len` (and so fits).
    pc < proto.code.len()
        && stack_len
            .checked_sub(base)
            .is_some_and(|room| room >= proto.max_stack_size as usize)
}

/// The interpreter's instruction pointer: the address of `code[pc]` in the running frame's
/// code (`run_mode` keeps it instead of `code` and `pc`: one value, in one machine register,
/// and the dispatch loads the instruction straight from it). Moving it is plain wrapping
/// pointer arithmetic; only [`Ip::fetch`] reads through it, with E1 + C1's precondition.
#[derive(Copy, Clone)]
pub(crate) struct Ip<'a> {
    ptr: *const Instruction,
    code: std::marker::PhantomData<&'a [Instruction]>,
    /// The code's bounds, for the precondition's `debug_assert!` (debug builds only).
    #[cfg(debug_assertions)]
    bounds: (usize, usize),
}

impl<'a> Ip<'a> {
    /// The address of `code[pc]` (any `pc`: only [`fetch`](Self::fetch) needs it in bounds).
    #[inline(always)]
    pub(crate) fn at(code: &'a [Instruction], pc: usize) -> Self {
        Ip {
            ptr: code.as_ptr().wrapping_add(pc),
            code: std::marker::PhantomData,
            #[cfg(debug_assertions)]
            bounds: (
                code.as_ptr_range().start as usize,
                code.as_ptr_range().end as usize,
            ),
        }
    }

    /// The next instruction's address.
    #[inline(always)]
    pub(crate) fn next(self) -> Self {
        Ip {
            ptr: self.ptr.wrapping_add(1),
            ..self
        }
    }

    /// `delta` instructions further (back, when negative).
    #[inline(always)]
    pub(crate) fn offset(self, delta: i64) -> Self {
        Ip {
            ptr: self.ptr.wrapping_offset(delta as isize),
            ..self
        }
    }

    /// Its index in `code` (the code it was made from): the frame's `pc`.
    #[inline(always)]
    pub(crate) fn pc(self, code: &[Instruction]) -> usize {
        (self.ptr as usize).wrapping_sub(code.as_ptr() as usize)
            / std::mem::size_of::<Instruction>()
    }

    /// A count that grows by one per instruction forward, within one code array (`run_mode`'s
    /// fuel `limit` is kept against it: the budget left is `limit - tick`). All addresses of
    /// one array have the same remainder modulo the instruction size, so the differences of
    /// ticks are differences of indices.
    #[inline(always)]
    pub(crate) fn tick(self) -> i64 {
        (self.ptr as usize / std::mem::size_of::<Instruction>()) as i64
    }

    /// The instruction. Precondition: `self` is `Ip::at(code, pc)` with `pc < code.len()`
    /// (E1 + C1, module docs).
    #[inline(always)]
    pub(crate) fn fetch(self) -> &'a Instruction {
        #[cfg(debug_assertions)]
        debug_assert!((self.bounds.0..self.bounds.1).contains(&(self.ptr as usize)));
        // SAFETY: `self.ptr` is `code.as_ptr() + pc` with `pc < code.len()` (E1 at the
        // frame's entry, C1 for every later `pc`), and `code` outlives `'a`.
        unsafe { &*self.ptr }
    }
}

/// `&mut regs[x]` for a register operand `x` of the running frame, `regs` its window
/// ([`window`]) (read or written through it). Precondition: `x < regs.len()` (O1 + E2,
/// module docs; the `Return0`/`Return1` fast path also uses it on the stack from the
/// running function's slot `func` up: to move its result from register `base + a - func`
/// (O1 + E2, `func < base`) to 0 before sizing the stack, and to write the rest of its
/// results at `1 .. want` right after sizing the stack to at least `func + want`).
#[inline(always)]
pub(crate) fn reg_mut<'a, 'gc>(stack: &'a mut [Value<'gc>], i: usize) -> &'a mut Value<'gc> {
    debug_assert!(i < stack.len());
    // SAFETY: `i` is a register operand, `< max_stack_size` (O1), of a window at least
    // `max_stack_size` long (E2); or, on the stack from the running function's slot
    // `func < base <= stack.len()`, a register of the running frame (the same), that slot
    // (0), or an index the caller has just sized the stack past.
    unsafe { stack.get_unchecked_mut(i) }
}

/// `&mut stack[base..]`: the running frame's register window, register `x` at index `x`.
/// Preconditions: `base <= stack.len()` (E2, module docs: `stack.len() >= base +
/// max_stack_size`, so the window holds at least `max_stack_size` registers), and `base` is
/// at or above the value stack's watermark (W, module docs), so writes through the window
/// need no check of it.
#[inline(always)]
pub(crate) fn window<'a, 'gc>(
    stack: &'a mut crate::frame_stack::ValueStack<'gc>,
    base: usize,
) -> &'a mut [Value<'gc>] {
    debug_assert!(base <= stack.len());
    debug_assert!(base >= stack.watermark());
    let all = stack.above_mut(base);
    // SAFETY: `base <= stack.len() == all.len()` (E2).
    unsafe { all.get_unchecked_mut(base..) }
}

/// `hints[k]` for a constant operand `k` of the running frame's code, `hints` its
/// prototype's `field_hints`. Precondition: `k < hints.len()` (O2 + K, module docs).
#[inline(always)]
pub(crate) fn field_hint(hints: &[std::cell::Cell<u16>], k: usize) -> &std::cell::Cell<u16> {
    debug_assert!(k < hints.len());
    // SAFETY: `k < p.constants.len()` (O2) `== hints.len()` (K).
    unsafe { hints.get_unchecked(k) }
}

/// `consts[k]` for a constant operand `k` of the running frame's code. Precondition:
/// `k < consts.len()` (O2 + K, module docs).
#[inline(always)]
pub(crate) fn konst<'gc>(consts: &[Value<'gc>], k: usize) -> Value<'gc> {
    debug_assert!(k < consts.len());
    // SAFETY: `k < p.constants.len()` (O2) `== consts.len()` (K).
    unsafe { *consts.get_unchecked(k) }
}

/// `upvals[up].get()` for an upvalue operand `up` of the running frame's code.
/// Precondition: `up < upvals.len()` (O3 + U, module docs).
#[inline(always)]
pub(crate) fn upval<'gc>(upvals: &[Lock<UpValue<'gc>>], up: usize) -> UpValue<'gc> {
    debug_assert!(up < upvals.len());
    // SAFETY: `up < p.upvalues.len()` (O3) `== upvals.len()` (U).
    unsafe { upvals.get_unchecked(up) }.get()
}
