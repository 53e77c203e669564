//! Functions: Lua closures over shared prototypes, upvalues, and Rust callbacks.

use std::sync::Arc;

use gc_arena::lock::Lock;
use gc_arena::{Collect, Gc};
use lunette_compiler::{Constant, Prototype};

use crate::error::Error;
use crate::executor::Exec;
use crate::gc_unsafe::unchecked::{Sealed, VerifiedProto};
use crate::journal::{Backup, JournaledState, JournaledValue};
use crate::memory::{heap_block, Charge, GC_HEADER};
use crate::object::{Reference, References};
use crate::state::Context;
use crate::thread::Thread;
use crate::value::Value;

/// A prototype loaded into the arena: the shared immutable `Prototype` plus its constants
/// materialized as `Value`s (strings allocated once per load, not per closure).
#[derive(Collect)]
#[collect(no_drop)]
///
/// Built only by `FunctionProto::build` (in `gc_unsafe::unchecked`, which alone can make the
/// `sealed` proof): `proto` passed the bytecode verifier and `constants` has exactly one entry
/// per constant of `proto`, which the interpreter's unchecked accesses rely on.
pub struct FunctionProto<'gc> {
    /// The verified, shared, immutable prototype (derefs to `Prototype`).
    #[collect(require_static)]
    pub(crate) proto: VerifiedProto,
    /// `proto`'s constants as values, one per constant (the interpreter's `consts`).
    pub constants: Box<[Value<'gc>]>,
    /// The loaded nested prototypes.
    pub children: Box<[Gc<'gc, FunctionProto<'gc>>]>,
    /// Per constant: the position in a table's entries where the constant was last found
    /// as a key by a field access of this function's code (`t.name`, `t.name = v`, global
    /// names), tried first by the next one (`Table::get_str_hinted`). A guess checked by
    /// comparing the key at that position: no logical state (not in snapshots, images or
    /// checksums; a rebuilt prototype starts from zero).
    #[collect(require_static)]
    pub(crate) field_hints: Box<[std::cell::Cell<u16>]>,
    /// `proto`'s frame shape, copied here so a call reads it from this object (one load
    /// less than through the shared prototype).
    #[collect(require_static)]
    pub(crate) frame: FrameShape,
    #[collect(require_static)]
    /// Held for its `Drop`: gives the object's bytes back to the memory account.
    pub(crate) _charge: Charge,
    /// Made only by `FunctionProto::build` (see above).
    #[collect(require_static)]
    pub(crate) _sealed: Sealed,
}

/// What a call needs of a prototype to build its frame (copies of its fields).
#[derive(Copy, Clone, Debug)]
pub(crate) struct FrameShape {
    /// `Prototype::max_stack_size`.
    pub(crate) max_stack_size: u8,
    /// `Prototype::num_params`.
    pub(crate) num_params: u8,
    /// `Prototype::is_vararg`.
    pub(crate) is_vararg: bool,
    /// The code is longer than `LONG_CODE` instructions: its frames run in the
    /// interpreter's checked mode, which looks at the fuel before each instruction.
    pub(crate) long_code: bool,
}

/// The longest code whose frames run in the interpreter's fast mode. The fast mode looks at
/// the fuel only at calls, returns and backward jumps, so between two looks a frame runs at
/// most this many instructions (each charged its fuel, but all in one step): the most a
/// step can overrun its budget by with straight-line code. Longer code (generated code,
/// big data chunks) looks before every instruction, in the slower checked mode.
pub(crate) const LONG_CODE: usize = 8192;

/// Whether frames of `code` run in the interpreter's checked mode (see `LONG_CODE`).
#[inline(always)]
pub(crate) fn is_long_code(code: &[lunette_compiler::Instruction]) -> bool {
    code.len() > LONG_CODE
}

impl FrameShape {
    pub(crate) fn of(proto: &Prototype) -> Self {
        FrameShape {
            max_stack_size: proto.max_stack_size,
            num_params: proto.num_params,
            is_vararg: proto.is_vararg,
            long_code: is_long_code(&proto.code),
        }
    }
}

/// Bytes a loaded prototype holds: the object, its materialized constants, and (charged to
/// every load that shares it) the compiled prototype by capacity: code and line info,
/// constants with their string bytes, nested prototype slots, upvalue and local variable
/// descriptors with their names, each buffer and name as the heap block it takes
/// (`memory::heap_block`). The chunk name (shared by a chunk's prototypes, and the
/// whole source text for `load(string)` without a name) is charged once, with the main
/// function (the only prototype with `line_defined == 0`), so a rebuilt snapshot charges
/// exactly the same.
pub(crate) fn proto_cost(proto: &Prototype) -> usize {
    let strings: usize = proto
        .constants
        .iter()
        .map(|c| match c {
            Constant::String(s) => heap_block(s.len()),
            _ => 0,
        })
        .sum();
    proto_cost_with(proto, strings)
}

/// [`proto_cost`] given the sum of its string constants' heap blocks, `strings` (counted as
/// they were made, by an instantiation in pieces).
pub(crate) fn proto_cost_with(proto: &Prototype, strings: usize) -> usize {
    use std::mem::size_of;
    let names: usize = proto
        .upvalues
        .iter()
        .map(|u| heap_block(u.name.len()))
        .chain(proto.local_vars.iter().map(|l| heap_block(l.name.len())))
        .sum();
    let chunk_name = if proto.line_defined == 0 {
        // The name and its short form for messages (computed once per chunk), each an
        // `Arc<str>` (two counts before the bytes).
        heap_block(16 + proto.source.len()) + heap_block(16 + proto.short_source.len())
    } else {
        0
    };
    // Each buffer is one heap block, by capacity.
    let buffer = |cap: usize, size: usize| heap_block(cap.saturating_mul(size));
    GC_HEADER
        + chunk_name
        + size_of::<FunctionProto<'static>>()
        + heap_block(16 + size_of::<Prototype>()) // the `Arc<Prototype>`
        + buffer(proto.constants.len(), size_of::<Value<'static>>())
        + buffer(proto.constants.len(), size_of::<u16>()) // `field_hints`
        + buffer(proto.prototypes.len(), size_of::<usize>())
        + buffer(proto.prototypes.capacity(), size_of::<usize>())
        + buffer(proto.code.capacity(), size_of::<lunette_compiler::Instruction>())
        + buffer(proto.lines.capacity(), size_of::<u32>())
        + buffer(proto.constants.capacity(), size_of::<Constant>())
        + strings
        + buffer(proto.upvalues.capacity(), size_of::<lunette_compiler::UpvalueDesc>())
        + buffer(proto.local_vars.capacity(), size_of::<lunette_compiler::LocalVar>())
        + names
}

/// Bytes of a closure with `upvalues` slots (its slots as one heap block; each upvalue object
/// counted with the closure).
pub(crate) fn closure_cost(upvalues: usize) -> usize {
    use std::mem::size_of;
    GC_HEADER
        + size_of::<ClosureInner<'static>>()
        + heap_block(upvalues * size_of::<Lock<UpValue<'static>>>())
        + upvalues * (GC_HEADER + size_of::<JournaledValue<UpValueState<'static>>>())
}

/// The value of a constant that is not a string (nil for a string: callers make those).
pub(crate) fn plain_constant<'gc>(c: &Constant) -> Value<'gc> {
    match c {
        Constant::Nil | Constant::String(_) => Value::Nil,
        Constant::Boolean(b) => Value::Boolean(*b),
        Constant::Integer(i) => Value::Integer(*i),
        Constant::Float(f) => Value::Float(*f),
    }
}

impl<'gc> FunctionProto<'gc> {
    /// Materializes a verified prototype tree, taking each string constant's value from
    /// `string`, called for a prototype's children first (in order), then for its own string
    /// constants (in order). Recursion depth is bounded by the compiler's function-nesting
    /// limit.
    pub(crate) fn load_with(
        ctx: Context<'gc>,
        proto: &VerifiedProto,
        string: &mut dyn FnMut(&Arc<[u8]>) -> Value<'gc>,
    ) -> Gc<'gc, FunctionProto<'gc>> {
        let mc = ctx.mutation();
        let children = (0..proto.prototypes.len())
            .filter_map(|i| proto.child(i))
            .map(|p| FunctionProto::load_with(ctx, &p, string))
            .collect();
        let charge = Charge::new(proto_cost(proto));
        // (Materialized into a vector that becomes the constants as it is: through
        // `build`'s fallible callback, each constant took a store-forwarding stall, ~40% of
        // building a 100,000-constant prototype.)
        let mut constants = Vec::with_capacity(proto.constants.len());
        for c in proto.constants.iter() {
            constants.push(match c {
                Constant::String(s) => string(s),
                plain => plain_constant(plain),
            });
        }
        Gc::new(
            mc,
            FunctionProto::build_from_values(proto.clone(), constants, children, charge),
        )
    }

    /// The verified prototype.
    pub fn prototype(&self) -> &Arc<Prototype> {
        self.proto.arc()
    }
}

/// Where an upvalue's variable lives: still in a thread's stack, or closed over.
#[derive(Copy, Clone, Collect)]
#[collect(no_drop)]
pub enum UpValueState<'gc> {
    Open { thread: Thread<'gc>, slot: usize },
    Closed(Value<'gc>),
}

/// An upvalue object: its state in a journaled cell (`UpValue::get` reads it; writes go
/// through `set_upvalue`).
pub type UpValue<'gc> = Gc<'gc, JournaledValue<UpValueState<'gc>>>;

/// A new upvalue (`epoch`: the journal's current one).
pub(crate) fn new_upvalue<'gc>(
    mc: &gc_arena::Mutation<'gc>,
    epoch: u32,
    state: UpValueState<'gc>,
) -> UpValue<'gc> {
    Gc::new(mc, JournaledValue::new(epoch, state))
}

/// Sets an upvalue's state, saving the old one first if this is its first write of the
/// snapshot epoch (see `journal`).
#[inline]
pub(crate) fn set_upvalue<'gc>(ctx: Context<'gc>, uv: UpValue<'gc>, s: UpValueState<'gc>) {
    JournaledValue::set(Gc::write(ctx.mutation(), uv), ctx, uv, s);
}

/// Sets an upvalue's state without journaling (restores).
pub(crate) fn set_upvalue_raw<'gc>(
    mc: &gc_arena::Mutation<'gc>,
    uv: UpValue<'gc>,
    s: UpValueState<'gc>,
) {
    JournaledValue::set_unjournaled(Gc::write(mc, uv), s);
}

#[derive(Collect)]
#[collect(no_drop)]
pub struct ClosureInner<'gc> {
    #[collect(require_static)]
    pub(crate) id: u64,
    /// For a host closure (`id` has `state::HOST_ID_BIT`): the id scripts see, assigned at
    /// their first look (0 until then; see `Context::script_id`).
    #[collect(require_static)]
    pub(crate) script_id: std::cell::Cell<u64>,
    pub proto: Gc<'gc, FunctionProto<'gc>>,
    /// Upvalue slots; `Lock`ed so `debug.upvaluejoin` can make a slot share another
    /// closure's upvalue.
    pub upvalues: Box<[Lock<UpValue<'gc>>]>,
    #[collect(require_static)]
    /// Held for its `Drop`: gives the object's bytes back to the memory account.
    pub(crate) _charge: Charge,
    /// Made only by `ClosureInner::build` (in `gc_unsafe::unchecked`): exactly one upvalue
    /// slot per upvalue of the prototype, which the interpreter's unchecked accesses rely on.
    #[collect(require_static)]
    pub(crate) _sealed: Sealed,
}

/// A Lua function value.
#[derive(Copy, Clone, Collect)]
#[collect(no_drop)]
pub struct LuaClosure<'gc>(pub(crate) Gc<'gc, ClosureInner<'gc>>);

impl<'gc> LuaClosure<'gc> {
    /// The closure's object id (see [`Value::object_id`]).
    pub fn id(self) -> u64 {
        self.0.id
    }
    /// The loaded prototype: compiled code, materialized constants, nested prototypes.
    pub fn proto(self) -> &'gc FunctionProto<'gc> {
        Gc::as_ref(Gc::as_ref(self.0).proto)
    }
    /// The upvalue slots (read each with `Lock::get`).
    pub(crate) fn upvalue_slots(self) -> &'gc [Lock<UpValue<'gc>>] {
        &Gc::as_ref(self.0).upvalues
    }

    /// Number of upvalues (fixed by the prototype).
    pub fn upvalue_count(self) -> usize {
        self.0.upvalues.len()
    }

    /// Upvalue `i` (0-based).
    pub fn upvalue(self, i: usize) -> Option<UpValue<'gc>> {
        self.0.upvalues.get(i).map(|l| l.get())
    }

    /// A number identifying an upvalue for `debug.upvalueid` equality while it is alive (its
    /// address; only ever compared, never shown to scripts).
    pub fn upvalue_identity(uv: UpValue<'gc>) -> usize {
        Gc::as_ptr(uv) as *const () as usize
    }

    /// Makes upvalue slot `i` refer to `uv` (`debug.upvaluejoin`). Returns `false` if `i` is
    /// out of range.
    pub fn join_upvalue(self, ctx: Context<'gc>, i: usize, uv: UpValue<'gc>) -> bool {
        if i >= self.0.upvalues.len() {
            return false;
        }
        ctx.state()
            .journal
            .backup_closure_slot(ctx.mutation(), self, i);
        self.set_upvalue_slot(ctx.mutation(), i, uv);
        true
    }

    /// Sets upvalue slot `i` (in range) without journaling.
    pub(crate) fn set_upvalue_slot(self, mc: &gc_arena::Mutation<'gc>, i: usize, uv: UpValue<'gc>) {
        if i < self.0.upvalues.len() {
            let slots = gc_arena::barrier::field!(Gc::write(mc, self.0), ClosureInner, upvalues);
            slots.as_deref()[i].unlock().set(uv);
        }
    }
}

/// What a Rust callback asks the executor to do next. The values involved are the callback's
/// region of the stack (its [`Exec`]: the arguments on entry, rewritten by the callback).
pub enum Action<'gc> {
    /// Return the stack contents to the caller.
    Return,
    /// Call `function` with the stack contents as arguments. With `then: None` this is a tail
    /// call (the results go to the caller); otherwise `then` runs with the results.
    Call {
        /// What to call (anything callable: `__call` is followed).
        function: Value<'gc>,
        /// The continuation that receives the results, or `None` for a tail call.
        then: Option<Then<'gc>>,
    },
    /// From a continuation only: call the first value of the stack contents with the values
    /// after it as arguments, then run this same continuation (the same [`Then`]) with the
    /// results. What a builtin that calls Lua again and again returns after its first call
    /// (`table.sort`'s comparator): the same as `Call` with that function and a copy of the
    /// continuation, without rebuilding the continuation or moving the arguments. Returned by
    /// a callback (no continuation to run again), it is an error.
    CallAgain,
    /// Yield the stack contents from the current coroutine; when resumed, the resume
    /// arguments are returned to the caller (or passed to `then`).
    Yield {
        /// Receives the resume arguments; `None` returns them to the caller.
        then: Option<Then<'gc>>,
    },
    /// End the current step now (so the host can act, e.g. run a requested full collection);
    /// `then` runs with the stack contents when execution resumes.
    Pause {
        /// What runs when the host steps again (state as Lua values: the paused VM can be
        /// snapshotted).
        then: Then<'gc>,
    },
    /// Resume `thread` with the stack contents; `then` receives what it yields or returns
    /// (`Outcome::Errored` if it raised an error).
    Resume {
        /// The coroutine to resume (it must be suspended; see `coroutine.resume`).
        thread: Thread<'gc>,
        /// Receives what the coroutine yields or returns.
        then: Then<'gc>,
    },
    /// Suspend the running coroutine *and the coroutines that resumed it*, up to the
    /// executor's main thread (excluded), handing the stack contents to the main thread's
    /// waiting resume as if the bottom coroutine of that chain had yielded them. The chain
    /// becomes plain thread data, like `Executor::preempt` leaves it (status `normal`, so
    /// Lua code cannot resume it): an `Action::Resume` of the bottom coroutine later
    /// resumes the whole chain, and its values reach `then` in the running coroutine. A
    /// scheduler's wait from inside a nested coroutine uses it.
    Detach {
        /// Receives the values the chain is resumed with.
        then: Then<'gc>,
    },
}

/// How the call awaited by a continuation ended.
#[derive(Copy, Clone, Collect)]
#[collect(no_drop)]
pub enum Outcome<'gc> {
    /// Results are on the continuation's stack.
    Returned,
    /// The call raised this error (only delivered when `Then::catch_errors` is set).
    Errored(Value<'gc>),
}

/// The code of a continuation ([`Then`]): runs with the awaited call's results in its region
/// of the stack and how that call ended. A plain `fn` (no captures): its state is
/// [`Then::state`], readable as `exec.upvalue`.
pub type ContinuationFn =
    for<'gc> fn(Context<'gc>, &mut Exec<'gc, '_>, Outcome<'gc>) -> Result<Action<'gc>, Error<'gc>>;

/// A continuation: a plain function plus a Lua value of state. Being plain data (a named
/// `fn` pointer and a `Value`), a pending continuation can be snapshotted and restored.
#[derive(Copy, Clone, Collect)]
#[collect(no_drop)]
pub struct Then<'gc> {
    /// The continuation's name: what tracebacks show (images as bytes refer to `func` by its
    /// key in the permanents table, and to this name as a registered name).
    #[collect(require_static)]
    pub name: &'static str,
    /// The code to run.
    #[collect(require_static)]
    pub func: ContinuationFn,
    /// The continuation's state, as a Lua value (a table for several fields).
    pub state: Value<'gc>,
    /// Errors raised by the awaited call are delivered to this continuation instead of
    /// unwinding past it (what `pcall` does).
    #[collect(require_static)]
    pub catch_errors: bool,
    /// A message handler (`xpcall`): called with the error value at the point of the error,
    /// before unwinding (so it can take a traceback); its result becomes the error value.
    pub handler: Value<'gc>,
    /// The builtin state this continuation resumes ([`Then::resumable`]; `state` is nil
    /// then).
    pub(crate) resumable: Option<crate::resumable::Resumable<'gc>>,
}

impl<'gc> Then<'gc> {
    /// A continuation that does not catch errors.
    pub fn new(name: &'static str, func: ContinuationFn, state: Value<'gc>) -> Self {
        Then {
            name,
            func,
            state,
            catch_errors: false,
            handler: Value::Nil,
            resumable: None,
        }
    }

    /// Catches errors of the awaited call: they arrive as [`Outcome::Errored`] (`pcall`).
    pub fn catching(mut self) -> Self {
        self.catch_errors = true;
        self
    }

    /// Catches errors and runs `handler` on them first, at the point of the error.
    pub fn catching_with_handler(mut self, handler: Value<'gc>) -> Self {
        self.catch_errors = true;
        self.handler = handler;
        self
    }
}

/// The code of a [`Callback`]: reads its arguments from `exec`, leaves its results there and
/// says what happens next. A plain `fn` (no captures): per-callback state is its upvalue.
pub type CallbackFn =
    for<'gc> fn(Context<'gc>, &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>>;

#[derive(Collect)]
#[collect(no_drop)]
pub struct CallbackInner<'gc> {
    #[collect(require_static)]
    pub(crate) id: u64,
    #[collect(require_static)]
    pub(crate) name: &'static str,
    #[collect(require_static)]
    pub(crate) func: CallbackFn,
    /// State captured by the callback, readable as `Exec::upvalue`.
    pub(crate) upvalue: Value<'gc>,
    #[collect(require_static)]
    /// Held for its `Drop`: gives the object's bytes back to the memory account.
    pub(crate) _charge: Charge,
}

/// A Rust function callable from Lua: a named plain `fn` plus one Lua value of captured
/// state (so a callback's state is VM data that snapshots and rolls back with the VM).
#[derive(Copy, Clone, Collect)]
#[collect(no_drop)]
pub struct Callback<'gc>(pub(crate) Gc<'gc, CallbackInner<'gc>>);

impl<'gc> Callback<'gc> {
    /// A callback with no captured state. `name` is what error messages and tracebacks show.
    /// For the VM to be written as bytes (`Snapshot::to_bytes`), `func` and `name` must be in
    /// its permanents table ([`Permanents`](crate::Permanents), registered with
    /// `Context::register_permanents`); in-process snapshots keep the `fn` itself.
    pub fn new(ctx: Context<'gc>, name: &'static str, func: CallbackFn) -> Self {
        Self::with_upvalue(ctx, name, func, Value::Nil)
    }

    /// A callback capturing `upvalue` (VM data: it snapshots and rolls back with the VM),
    /// readable in `func` as `exec.upvalue`.
    pub fn with_upvalue(
        ctx: Context<'gc>,
        name: &'static str,
        func: CallbackFn,
        upvalue: Value<'gc>,
    ) -> Self {
        Callback(Gc::new(
            ctx.mutation(),
            CallbackInner {
                id: ctx.next_object_id(),
                name,
                func,
                upvalue,
                _charge: Charge::new(GC_HEADER + std::mem::size_of::<CallbackInner<'static>>()),
            },
        ))
    }

    /// The callback's object id (see [`Value::object_id`]).
    pub fn id(self) -> u64 {
        self.0.id
    }

    /// The name it was created with.
    pub fn name(self) -> &'static str {
        self.0.name
    }

    /// The captured value (nil if none).
    pub fn upvalue(self) -> Value<'gc> {
        self.0.upvalue
    }
}

// ---- the descriptions of prototypes, closures, upvalues, callbacks (see `object`) ----

impl<'gc> References<'gc> for FunctionProto<'gc> {
    fn references(&self, f: &mut impl FnMut(Reference<'gc>)) {
        let FunctionProto {
            proto: _,
            constants,
            children,
            field_hints: _,
            frame: _,
            _charge: _,
            _sealed: _,
        } = self;
        constants.references(f);
        for c in children.iter() {
            f(Reference::Proto(*c));
        }
    }
}

impl<'gc> References<'gc> for ClosureInner<'gc> {
    fn references(&self, f: &mut impl FnMut(Reference<'gc>)) {
        let ClosureInner {
            id: _,
            script_id: _,
            proto,
            upvalues,
            _charge: _,
            _sealed: _,
        } = self;
        f(Reference::Proto(*proto));
        for u in upvalues.iter() {
            f(Reference::UpValue(u.get()));
        }
    }
}

impl<'gc> References<'gc> for UpValueState<'gc> {
    fn references(&self, f: &mut impl FnMut(Reference<'gc>)) {
        match self {
            UpValueState::Open { thread, slot: _ } => f(Reference::Value(Value::Thread(*thread))),
            UpValueState::Closed(v) => v.references(f),
        }
    }
}

impl<'gc> JournaledState<'gc> for UpValueState<'gc> {
    type Owner = UpValue<'gc>;

    fn save(&self) -> Self {
        *self
    }

    fn restore(&mut self, saved: Self) {
        *self = saved;
    }

    fn backup(owner: UpValue<'gc>, saved: Box<Self>) -> Backup<'gc> {
        Backup::UpValue(owner, saved)
    }
}

impl<'gc> References<'gc> for CallbackInner<'gc> {
    fn references(&self, f: &mut impl FnMut(Reference<'gc>)) {
        let CallbackInner {
            id: _,
            name: _,
            func: _,
            upvalue,
            _charge: _,
        } = self;
        upvalue.references(f);
    }
}

impl<'gc> References<'gc> for Then<'gc> {
    fn references(&self, f: &mut impl FnMut(Reference<'gc>)) {
        let Then {
            name: _,
            func: _,
            state,
            catch_errors: _,
            handler,
            resumable,
        } = self;
        state.references(f);
        handler.references(f);
        resumable.references(f);
    }
}

impl<'gc> References<'gc> for Outcome<'gc> {
    fn references(&self, f: &mut impl FnMut(Reference<'gc>)) {
        match self {
            Outcome::Returned => {}
            Outcome::Errored(v) => v.references(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A prototype's many small names are charged as the allocator blocks they take (a
    /// 3-byte upvalue name takes a 32-byte block): charged at their length plus 16, a chunk
    /// of 40 nested functions capturing 190 upvalues each was charged 78% of its heap.
    #[test]
    fn short_names_cost_their_heap_blocks() {
        let mut src = String::new();
        for i in 0..100 {
            src += &format!("local u{i} = {i}\n");
        }
        src += "return function()\n";
        for i in 0..100 {
            src += &format!("x = u{i}\n");
        }
        src += "end\n";
        let main = lunette_compiler::compile(src.as_bytes(), "=names").unwrap();
        let inner = &main.prototypes[0];
        assert_eq!(inner.upvalues.len(), 101, "_ENV and the 100 locals");
        // Each name (1 to 4 bytes) takes a 32-byte block: the same prototype without its
        // names costs exactly that much less.
        let mut nameless = Prototype::clone(inner);
        for u in &mut nameless.upvalues {
            u.name = Vec::new().into();
        }
        assert_eq!(proto_cost(inner) - proto_cost(&nameless), 101 * 32);
        assert_eq!(heap_block(0), 0);
        assert_eq!(heap_block(1), 32);
        assert_eq!(heap_block(24), 32);
        assert_eq!(heap_block(25), 48);
    }
}
