//! The stackless trampoline: calls, returns, continuations, coroutine switches and error
//! unwinding, driven one bounded `step` at a time.
//!
//! Nothing here recurses on the Rust stack per Lua operation: a Lua call pushes a frame, a
//! Rust callback runs to completion and answers with an `Action`, and everything that must
//! wait for Lua (pcall, metamethods, `__close`, coroutine resumes) waits as a frame.

use crate::journal::{Backup, Journaled, JournaledState};
use crate::object::{Reference, References};
use gc_arena::{Collect, Gc};

use crate::debug;
use crate::error::{Error, Message, Part};
use crate::frame_stack::ValueStack;
use crate::function::{Action, LuaClosure, Outcome, Then, UpValueState};
use crate::interp;
use crate::state::{Context, MetaEvent};
use crate::thread::{Frame, LuaFrame, Returns, Thread, ThreadState, ThreadStatus, C_CALLS_LIMIT};
use crate::value::Value;

/// Most stack slots a thread may use (PUC's LUAI_MAXSTACK).
pub const MAX_STACK_SLOTS: usize = 1_000_000;
/// Values moved or copied per unit of fuel when a call, a return or a vararg expansion
/// moves many values (`f(...)`, `return ...`, `select(2, ...)`, `table.unpack`...).
pub const VALUES_PER_UNIT: usize = 8;
/// Slots kept free above a builtin's values (PUC's `EXTRA_STACK`), for `reserve_values`.
const EXTRA_STACK: usize = 5;
/// Most frames a thread may have.
pub const MAX_FRAMES: usize = 200_000;

/// The name of the no-op callback long builtins call to reach a step boundary (the
/// standard library's pause point). Like the string builder (`big_string`), it is VM
/// machinery PUC does not have: debug hooks do not see its calls and returns.
pub const PAUSE_POINT_NAME: &str = "step boundary";

/// Whether a Rust function's call and return events are hidden from debug hooks (see
/// [`PAUSE_POINT_NAME`]).
pub(crate) fn hidden_from_hooks(name: &str) -> bool {
    name == crate::big_string::NAME || name == PAUSE_POINT_NAME
}
/// Most coroutines resuming one another at once (PUC reports "C stack overflow" at about
/// 200 nested resumes).
const MAX_RESUME_DEPTH: usize = 200;
/// Most nested `__call` redirections of one call.
const MAX_CALL_CHAIN: usize = 100;

/// A budget of work. One unit is roughly one VM instruction; builtins charge in proportion
/// to the work they do.
#[derive(Debug, Clone, Copy)]
pub struct Fuel {
    remaining: i64,
}

impl Fuel {
    /// A budget of `units` (zero or negative: exhausted from the start).
    pub fn new(units: i64) -> Self {
        Fuel { remaining: units }
    }
    /// Units left; negative when the last piece of work overran the budget.
    pub fn remaining(&self) -> i64 {
        self.remaining
    }
    /// Takes `units` off the budget (saturating: never wraps).
    pub fn consume(&mut self, units: i64) {
        self.remaining = self.remaining.saturating_sub(units);
    }
    /// Whether nothing is left (`remaining() <= 0`): a step ends at its next check point.
    pub fn is_exhausted(&self) -> bool {
        self.remaining <= 0
    }
    pub(crate) fn set_remaining(&mut self, r: i64) {
        self.remaining = r;
    }
}

/// Values moved between two threads (resume arguments, yielded or returned values): most
/// transfers are of one or two values, which then need no heap allocation (a `Vec` per
/// resume and per yield was an eighth of a resume/yield ping-pong's time).
pub(crate) type Transfer<'gc> = smallvec::SmallVec<[Value<'gc>; 2]>;

/// Moves `stack[from..]` out into a [`Transfer`]. (A copy and a truncation: collecting a
/// `drain` iterator stalled on reloading the iterator its caller had just stored.)
fn take_values<'gc>(stack: &mut ValueStack<'gc>, from: usize) -> Transfer<'gc> {
    let values = Transfer::from_slice(stack.get(from..).unwrap_or(&[]));
    stack.truncate(from);
    values
}

/// What the executor must do after a piece of work.
pub(crate) enum Flow<'gc> {
    /// Keep going with the current thread.
    Continue,
    /// The fuel ran out at a resumable point.
    OutOfFuel,
    /// The current thread's frame stack is empty: its results are its whole stack.
    ThreadReturned,
    /// The current thread yields the values at the top of its stack, from this slot on
    /// (`handle_flow` moves them, then cuts the stack to the thread's `resume_slot`).
    ///
    /// The second field is always empty. It is there for the interpreter's code: with a
    /// `Flow` whose `Yield` holds no buffer, LLVM no longer kept `run_mode`'s `pc` in a
    /// register (a load and a store at every instruction: fib 15%, spectral_norm 40%
    /// slower). Check `run_mode`'s dispatch (`objdump`) before removing it.
    Yield(usize, #[allow(dead_code)] Transfer<'gc>),
    /// The current thread resumes `thread` with the values at the top of its stack, from
    /// this slot on (`handle_flow` moves them and cuts the stack there).
    Resume(Thread<'gc>, usize),
    /// The resume chain above the main thread detaches (`Action::Detach`), handing the
    /// values at the top of the current thread's stack, from this slot on, to the main
    /// thread.
    Detach(usize),
}

/// The view a Rust callback or continuation gets: its arguments/results region of the stack
/// and information about the running thread.
pub struct Exec<'gc, 'a> {
    pub(crate) ts: &'a mut ThreadState<'gc>,
    pub(crate) base: usize,
    pub(crate) thread: Thread<'gc>,
    pub(crate) is_main: bool,
    pub(crate) fuel: &'a mut Fuel,
    /// The callback's captured value (or the continuation's state).
    pub upvalue: Value<'gc>,
    /// The resumable state a continuation made by `Then::resumable` resumes.
    pub(crate) resumable: Option<crate::resumable::Resumable<'gc>>,
}

impl<'gc> Exec<'gc, '_> {
    /// Number of values in this region (arguments on entry).
    pub fn len(&self) -> usize {
        self.ts.stack.len() - self.base
    }
    /// Whether the region holds no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Argument/value `i` (0-based), `None` if absent.
    pub fn get(&self, i: usize) -> Option<Value<'gc>> {
        self.ts.stack.get(self.base + i).copied()
    }
    /// Argument/value `i` (0-based), nil if absent.
    pub fn arg(&self, i: usize) -> Value<'gc> {
        self.get(i).unwrap_or(Value::Nil)
    }
    /// The region's values (the arguments on entry, the results once written).
    pub fn values(&self) -> &[Value<'gc>] {
        &self.ts.stack[self.base..]
    }
    /// The region's values, to rewrite in place.
    pub fn values_mut(&mut self) -> &mut [Value<'gc>] {
        &mut self.ts.stack[self.base..]
    }
    /// Appends a value to the region (a result). Pushing more than a few values: make room
    /// first with [`Exec::reserve_values`], so the growth is checked and reserved.
    pub fn push(&mut self, v: Value<'gc>) {
        self.ts.stack.push(v);
    }
    /// Empties the region (a callback that returns nothing).
    pub fn clear(&mut self) {
        self.ts.stack.truncate(self.base);
    }
    /// Keeps the first `n` values of the region.
    pub fn truncate(&mut self, n: usize) {
        self.ts.stack.truncate(self.base + n);
    }
    /// Makes the region exactly `n` values long, filling with nil (like `lua_settop`).
    pub fn resize(&mut self, n: usize) {
        self.ts.stack.resize(self.base + n, Value::Nil);
    }
    /// Inserts `v` at index `i` of the region; `i` must be at most [`Exec::len`].
    pub fn insert(&mut self, i: usize, v: Value<'gc>) {
        self.ts.stack.insert(self.base + i, v);
    }
    /// Removes and returns value `i` of the region; `i` must be below [`Exec::len`] (check
    /// first: an index from script data out of range panics). The values above it move
    /// down, charged like any bulk move (`pcall(pcall, pcall, ...)` moves its arguments at
    /// every level).
    pub fn remove(&mut self, i: usize) -> Value<'gc> {
        let moved = self.ts.stack.len().saturating_sub(self.base + i + 1);
        self.fuel.consume(values_cost(moved));
        self.ts.stack.remove(self.base + i)
    }
    /// Replaces the whole region with `values`. (A builtin returning many values reserves
    /// their memory first, see [`Exec::reserve_values`].)
    pub fn replace(&mut self, values: &[Value<'gc>]) {
        let cap = self.ts.stack.capacity();
        self.ts.stack.truncate(self.base);
        self.ts.stack.extend_from_slice(values);
        if self.ts.stack.capacity() != cap {
            self.ts.sync_charge();
        }
    }
    /// Makes the region `function` followed by `args` (like [`Exec::replace`]), what
    /// [`Action::CallAgain`] calls. (The values are written one by one, from registers: a
    /// block copy of values just built reads them whole from memory written in pieces, a
    /// store-forwarding stall.)
    #[inline]
    pub fn set_call<const N: usize>(&mut self, function: Value<'gc>, args: [Value<'gc>; N]) {
        let cap = self.ts.stack.capacity();
        self.ts.stack.truncate(self.base);
        self.ts.stack.push(function);
        for v in args {
            self.ts.stack.push(v);
        }
        if self.ts.stack.capacity() != cap {
            self.ts.sync_charge();
        }
    }
    /// Drops the first `n` values of the region, moving the rest down (`select(n + 1, ...)`).
    pub fn drop_front(&mut self, n: usize) {
        let start = self.base;
        let end = (start + n).min(self.ts.stack.len());
        self.ts.stack.drain(start..end);
    }
}

impl<'gc> Exec<'gc, '_> {
    /// Replaces the region with one value (a common `return x`).
    pub fn set_return(&mut self, v: Value<'gc>) {
        self.ts.stack.truncate(self.base);
        self.ts.stack.push(v);
    }
    /// The running thread.
    pub fn thread(&self) -> Thread<'gc> {
        self.thread
    }
    /// Whether the running thread is the executor's main thread (not a coroutine).
    pub fn is_main_thread(&self) -> bool {
        self.is_main
    }
    /// Asks whether `bytes` more may be allocated under the VM's memory limit; call before
    /// building a large buffer. `Err(Error::NotEnoughMemory)` if not (see
    /// [`Context::reserve_memory`]).
    pub fn reserve(&self, ctx: Context<'gc>, bytes: usize) -> Result<(), Error<'gc>> {
        ctx.reserve_memory(bytes)
    }

    /// Charges fuel for work done by a builtin.
    pub fn charge(&mut self, units: usize) {
        self.fuel.consume(units.min(i64::MAX as usize) as i64);
    }

    /// Fuel left in the current step (zero or negative: the step is over budget). A long
    /// builtin works in pieces and returns `Action::Pause` when this is not positive; see
    /// [`Exec::out_of_fuel`].
    pub fn fuel_left(&self) -> i64 {
        self.fuel.remaining()
    }

    /// Whether a long builtin must pause now (`Action::Pause`) rather than do another piece
    /// of work. When it answers `false` it charges the one unit that resuming the paused
    /// continuation would have cost, so a builtin's total fuel is the same whether it paused
    /// or not, whatever the step budget (determinism).
    pub fn out_of_fuel(&mut self) -> bool {
        if self.fuel.is_exhausted() {
            return true;
        }
        self.fuel.consume(1);
        false
    }

    /// Makes room for `n` more values (multiple results) on this region of the stack: fails
    /// like PUC's `luaL_checkstack` with "stack overflow (`what`)" when the thread would pass
    /// [`MAX_STACK_SLOTS`], and reserves the stack buffer's new capacity (16 bytes a value)
    /// against the memory limit before growing it (and charges the copy, 1 unit per KiB
    /// of new capacity), so `push` of those values never allocates unaccounted memory.
    pub fn reserve_values(
        &mut self,
        ctx: Context<'gc>,
        n: usize,
        what: &str,
    ) -> Result<(), Error<'gc>> {
        let len = self.ts.stack.len();
        let needed = len.saturating_add(n);
        if needed.saturating_add(EXTRA_STACK) > MAX_STACK_SLOTS {
            return Err(Error::runtime(format!("stack overflow ({what})")));
        }
        let cap = self.ts.stack.capacity();
        if needed > cap {
            // The old buffer is live while it is copied (see `interp::stack_growth`).
            let extra = interp::stack_growth(cap, needed - len);
            let new_cap = len.saturating_add(extra);
            let bytes = new_cap.saturating_mul(std::mem::size_of::<Value<'gc>>());
            ctx.reserve_memory(bytes)?;
            // Growing copies the buffer into fresh memory: charged like a bulk copy.
            self.fuel.consume((bytes / 1024) as i64);
            self.ts.stack.reserve_exact(extra);
            self.ts.sync_charge();
        }
        Ok(())
    }
    /// `chunk:line:` of the function at `level` (1 = the Lua function that called this
    /// callback), or `""` when that level is not a Lua function, like `luaL_where`.
    pub fn where_(&self, level: usize) -> String {
        debug::where_level(self.ts, level)
    }
    /// A traceback of the running thread, PUC style (functions of the loaded modules named
    /// by their global names, see [`Exec::traceback_from`]).
    pub fn traceback(&mut self, ctx: Context<'gc>) -> String {
        let names = debug::GlobalNames::collect(ctx);
        self.charge(names.cost());
        debug::traceback(self.ts, &names)
    }
}

/// Makes room for `n` more values on `ts`'s stack, reserving the growth (by capacity:
/// `interp::stack_growth`) against the memory limit before allocating it.
pub(crate) fn grow_stack_reserved<'gc>(
    ctx: Context<'gc>,
    ts: &mut ThreadState<'gc>,
    n: usize,
) -> Result<(), Error<'gc>> {
    let (len, cap) = (ts.stack.len(), ts.stack.capacity());
    if len + n > cap {
        let new_cap = len + interp::stack_growth(cap, n);
        ctx.reserve_memory((new_cap - cap) * std::mem::size_of::<Value<'gc>>())?;
        ts.stack.reserve_exact(new_cap - len);
        ts.sync_charge();
    }
    Ok(())
}

#[derive(Collect)]
#[collect(no_drop)]
pub(crate) struct ExecutorState<'gc> {
    /// The resume chain; `threads[0]` is the executor's main thread.
    pub(crate) threads: Vec<Thread<'gc>>,
    /// Set when finished.
    pub(crate) result: Option<Result<(), Value<'gc>>>,
    #[collect(require_static)]
    pub(crate) traceback: String,
    /// An error the host asked to raise where the executor is paused
    /// ([`Executor::interrupt`]), raised when it next steps.
    pub(crate) interrupt: Option<Value<'gc>>,
    /// Whether it was running when the last full collection started: its steps pay for that
    /// collection's mark (it waits until they have), and it runs the finalizers the
    /// collection queued (see `gc::Collection`).
    #[collect(require_static)]
    pub(crate) waits_for_collection: bool,
}

// ---- the description of an executor (see `object`) ----

impl<'gc> References<'gc> for ExecutorState<'gc> {
    fn references(&self, f: &mut impl FnMut(Reference<'gc>)) {
        let ExecutorState {
            threads,
            result,
            traceback: _,
            interrupt,
            waits_for_collection: _,
        } = self;
        threads.references(f);
        if let Some(Err(v)) = result {
            v.references(f);
        }
        interrupt.references(f);
    }
}

impl<'gc> JournaledState<'gc> for ExecutorState<'gc> {
    type Owner = Executor<'gc>;

    fn save(&self) -> Self {
        let ExecutorState {
            threads,
            result,
            traceback,
            interrupt,
            waits_for_collection,
        } = self;
        ExecutorState {
            threads: threads.clone(),
            result: *result,
            traceback: traceback.clone(),
            interrupt: *interrupt,
            waits_for_collection: *waits_for_collection,
        }
    }

    fn restore(&mut self, saved: Self) {
        *self = saved;
    }

    fn backup(owner: Executor<'gc>, saved: Box<Self>) -> Backup<'gc> {
        Backup::Executor(owner, saved)
    }
}

/// Runs a function to completion in bounded steps. Cheap to copy (a GC pointer).
#[derive(Copy, Clone, Collect)]
#[collect(no_drop)]
pub struct Executor<'gc>(pub(crate) Gc<'gc, Journaled<ExecutorState<'gc>>>);

/// The outcome of a finished executor.
#[derive(Debug)]
pub enum ExecResult<'gc> {
    /// The function returned these values.
    Returned(Vec<Value<'gc>>),
    /// An error escaped the function.
    Errored {
        /// The error value as raised (a message string has its position prefixed).
        value: Value<'gc>,
        /// The Lua traceback taken where the error was raised, before unwinding.
        traceback: String,
    },
}

impl<'gc> Executor<'gc> {
    /// Prepares to call `function` with `args` on a fresh thread.
    ///
    /// The executor is host machinery: its main thread takes a host id and host charges
    /// (see `state::HOST_ID_BIT`), so starting executors (a host's read-only `render` call)
    /// changes neither the ids nor the memory count scripts see.
    pub fn start(ctx: Context<'gc>, function: Value<'gc>, args: &[Value<'gc>]) -> Self {
        let epoch = ctx.state().journal.epoch();
        let thread = Thread::with_id(ctx.mutation(), epoch, ctx.next_host_object_id());
        {
            let mut ts = thread.borrow_mut(ctx);
            ts.stack.reserve_exact(1 + args.len());
            ts.stack.push(function);
            ts.stack.extend_from_slice(args);
            ts.body = Some(function);
            ts.status = ThreadStatus::Running;
            // The charge matches the buffers at every point a snapshot can see.
            ts.sync_charge();
        }
        Executor(Gc::new(
            ctx.mutation(),
            Journaled::new(
                epoch,
                ExecutorState {
                    threads: vec![thread],
                    result: None,
                    traceback: String::new(),
                    interrupt: None,
                    waits_for_collection: false,
                },
            ),
        ))
    }

    /// An executor with no threads yet (filled in by a snapshot restore).
    pub(crate) fn empty(mc: &gc_arena::Mutation<'gc>) -> Self {
        Executor(Gc::new(
            mc,
            Journaled::new(
                0,
                ExecutorState {
                    threads: Vec::new(),
                    result: None,
                    traceback: String::new(),
                    interrupt: None,
                    waits_for_collection: false,
                },
            ),
        ))
    }

    /// The journaled cell, behind the write barrier (mutations go through `Journaled`).
    #[inline(always)]
    pub(crate) fn cell(
        self,
        mc: &gc_arena::Mutation<'gc>,
    ) -> &'gc gc_arena::barrier::Write<Journaled<ExecutorState<'gc>>> {
        Gc::write(mc, self.0)
    }

    /// Mutable access; the first of a snapshot epoch saves the state in the journal first.
    #[inline]
    fn borrow_mut(self, ctx: Context<'gc>) -> std::cell::RefMut<'gc, ExecutorState<'gc>> {
        Journaled::borrow_mut(self.cell(ctx.mutation()), ctx, self)
    }

    /// Makes the executor raise `error` where it is paused, when it next steps: as if the
    /// function running there had called `error(error, 0)` (a string is not given a
    /// position; make it part of the message). A `pcall` around that point catches it and
    /// pending `__close` handlers run, like an error raised by a debug hook in PUC (the `lua`
    /// command's Ctrl-C). Part of the executor's state: snapshots and rollbacks keep a
    /// pending interrupt. Does nothing to a finished executor.
    pub fn interrupt(self, ctx: Context<'gc>, error: Value<'gc>) {
        let mut st = self.borrow_mut(ctx);
        if st.result.is_none() {
            st.interrupt = Some(error);
        }
    }

    /// Whether it was running when the last full collection started: its steps pay for that
    /// collection's mark, and it runs the finalizers that collection queued (see
    /// `gc::Collection`).
    pub(crate) fn waits_for_collection(self) -> bool {
        self.0.borrow().waits_for_collection
    }

    /// Sets whether it waits for a full collection (see `waits_for_collection`).
    pub(crate) fn set_waits_for_collection(self, ctx: Context<'gc>, waits: bool) {
        if self.waits_for_collection() != waits {
            self.borrow_mut(ctx).waits_for_collection = waits;
        }
    }

    /// Whether the function has returned or failed ([`Executor::result`] is then set).
    pub fn is_finished(self) -> bool {
        self.0.borrow().result.is_some()
    }

    /// The main thread of this executor.
    pub fn main_thread(self) -> Thread<'gc> {
        self.0.borrow().threads[0]
    }

    /// The results once finished (`None` while running). Results are cloned out, so this can
    /// be called more than once.
    pub fn result(self) -> Option<ExecResult<'gc>> {
        let st = self.0.borrow();
        match st.result? {
            Ok(()) => {
                let ts = st.threads[0].borrow();
                Some(ExecResult::Returned(ts.stack.to_vec()))
            }
            Err(value) => Some(ExecResult::Errored {
                value,
                traceback: st.traceback.clone(),
            }),
        }
    }

    /// Runs until finished or until `fuel` is exhausted. Returns `true` when finished.
    /// What the script does in it is charged as the script's (`collectgarbage("count")`),
    /// also when the host steps from inside `Lua::enter`.
    pub fn step(self, ctx: Context<'gc>, fuel: &mut Fuel) -> bool {
        let memory = ctx.state().memory.clone();
        crate::memory::script_charges(&memory, || self.step_inner(ctx, fuel))
    }

    fn step_inner(self, ctx: Context<'gc>, fuel: &mut Fuel) -> bool {
        let mut st = self.borrow_mut(ctx);
        if st.result.is_some() {
            return true;
        }
        // Queued finalizers run in the executors that were running when the collection that
        // queued them started (so one the host starts later, a render, never takes them and
        // changes where the others' steps end), or in any when none of those runs any more.
        // (Looked up once a step, and only while finalizers are queued.)
        let waits_for_collection = st.waits_for_collection;
        let finalizes_here = std::cell::OnceCell::new();
        let may_finalize = |thread| {
            ctx.may_run_finalizers(thread)
                && *finalizes_here.get_or_init(|| {
                    waits_for_collection || !crate::gc::another_executor_waits(ctx, self)
                })
        };
        loop {
            if st.result.is_some() {
                return true;
            }
            if let Some(error) = st.interrupt.take() {
                // Raised where the executor stopped, as if its running function raised it
                // there: `pcall` catches it, `__close` handlers run.
                self.handle_error(ctx, &mut st, Error::Value(error), fuel);
                continue;
            }
            if fuel.is_exhausted() {
                return false;
            }
            let thread = *st.threads.last().expect("executor has a thread");
            let is_main = st.threads.len() == 1;
            let mut ts = thread.borrow_mut(ctx);
            if matches!(ts.frames.last(), Some(Frame::Lua(_))) && may_finalize(thread) {
                // Finalizers queued by a host-requested full collection run here, between two
                // instructions, as calls whose results are discarded (in bounded pieces, see
                // `gc::run_finalizers`).
                ts.stack.push(Value::Nil);
                let base = ts.stack.len();
                ts.push_frame(Frame::Continuation {
                    then: Then::new("__gc", crate::gc::run_finalizers, Value::Nil),
                    base,
                    returns: Returns::Discard,
                    ready: Some(Outcome::Returned),
                    callee_name: "__gc",
                    c_calls: 0,
                });
            }
            let mut r = match ts.frames.last() {
                None if !ts.started => {
                    // The executor's main function has not been called yet.
                    ts.started = true;
                    call_function(ctx, thread, &mut ts, 0, Returns::Multi, is_main, fuel)
                }
                None => Ok(Flow::ThreadReturned),
                Some(Frame::Lua(_)) => interp::run(ctx, thread, &mut ts, fuel, is_main),
                Some(Frame::Continuation { ready: Some(_), .. }) => {
                    run_continuation(ctx, thread, &mut ts, fuel, is_main)
                }
                Some(Frame::Continuation { ready: None, .. }) => Err(Error::runtime(
                    "internal error: continuation awaited with no call in progress",
                )),
            };
            // Going on in the same thread (a Rust continuation calling Lua and the Lua
            // function returning to it: `table.sort`'s comparator, `pcall`'s body...): the
            // next Lua frame or ready continuation runs here, without leaving the thread and
            // coming back to the top of the loop. What the top would look at cannot have
            // changed meanwhile (the result and the interrupt are set only outside a run
            // of frames: `handle_flow`, `handle_error`, the host between steps), or is
            // checked here (fuel, finalizers due before a Lua frame).
            while let Ok(Flow::Continue) = r {
                if fuel.is_exhausted() {
                    break;
                }
                r = match ts.frames.last() {
                    Some(Frame::Lua(_)) if !may_finalize(thread) => {
                        interp::run(ctx, thread, &mut ts, fuel, is_main)
                    }
                    Some(Frame::Continuation { ready: Some(_), .. }) => {
                        run_continuation(ctx, thread, &mut ts, fuel, is_main)
                    }
                    _ => break,
                };
            }
            // A deep recursion's frames are traced in segments (`frame_stack`), made, and
            // handed the frames pushed meanwhile, here: after each run of the thread's
            // frames, also when it stops by yielding (a step pushes 10,000 frames at most).
            if ts.frames.wants_sealing(&ts.stack) {
                let ts = &mut *ts;
                ts.frames
                    .after_run(&mut ts.stack, ctx.mutation(), thread, 16);
            }
            drop(ts);
            match r {
                Ok(flow) => {
                    if self.handle_flow(ctx, &mut st, flow) {
                        return st.result.is_some();
                    }
                }
                Err(e) => self.handle_error(ctx, &mut st, e, fuel),
            }
        }
    }

    /// Returns `true` when `step` must return (fuel out or finished).
    fn handle_flow(self, ctx: Context<'gc>, st: &mut ExecutorState<'gc>, flow: Flow<'gc>) -> bool {
        match flow {
            Flow::Continue => false,
            Flow::OutOfFuel => true,
            Flow::ThreadReturned => {
                let thread = *st.threads.last().unwrap();
                if st.threads.len() == 1 {
                    thread.borrow_mut(ctx).status = ThreadStatus::Dead;
                    st.result = Some(Ok(()));
                    return true;
                }
                let values = {
                    let mut ts = thread.borrow_mut(ctx);
                    ts.status = ThreadStatus::Dead;
                    let values = std::mem::take(&mut ts.stack);
                    // Its stack buffer went with the values: a charge never exceeds the
                    // buffers (images from bytes are checked against that).
                    ts.sync_charge();
                    values
                };
                st.threads.pop();
                deliver_to_resumer(ctx, *st.threads.last().unwrap(), Ok(&values));
                false
            }
            Flow::Yield(from, _) => {
                // The values go from the yielding thread's stack to the resumer's directly.
                // (Carried inside `Flow`, they were written in pieces and read whole at each
                // return on the way here: store-forwarding stalls.)
                let thread = st.threads.pop().unwrap();
                let mut ys = thread.borrow_mut(ctx);
                ys.status = ThreadStatus::Suspended;
                deliver_to_resumer(ctx, *st.threads.last().unwrap(), Ok(&ys.stack[from..]));
                let slot = ys.resume_slot;
                ys.stack.truncate(slot);
                false
            }
            Flow::Detach(from) => {
                let values = {
                    let mut ts = st.threads.last().unwrap().borrow_mut(ctx);
                    let values = take_values(&mut ts.stack, from);
                    let slot = ts.resume_slot;
                    ts.stack.truncate(slot);
                    values
                };
                let chain = st.threads.split_off(1);
                link_chain(ctx, &chain, false);
                if let Some(&main) = st.threads.first() {
                    deliver_to_resumer(ctx, main, Ok(&values));
                }
                false
            }
            Flow::Resume(co, from) => {
                let current = *st.threads.last().unwrap();
                if st.threads.len() >= MAX_RESUME_DEPTH {
                    // Like PUC's C-stack limit on nested resumes: the resume fails, the
                    // coroutine stays suspended.
                    deliver_to_resumer(ctx, current, Err(ctx.str("C stack overflow")));
                    return false;
                }
                // The arguments go from the resumer's stack to the coroutine's directly (see
                // `Flow::Yield`); the resumer is released before the coroutine runs anything.
                let mut rs = current.borrow_mut(ctx);
                rs.status = ThreadStatus::Normal;
                st.threads.push(co);
                let mut cs = co.borrow_mut(ctx);
                cs.status = ThreadStatus::Running;
                let n = rs.stack.len() - from;
                let start = !cs.started;
                let hooked = !start
                    && cs.hook.fires(crate::hook::MASK_RETURN)
                    && !crate::hook::in_finalizer(ctx, co)
                    && matches!(cs.frames.last(), Some(Frame::Lua(_)));
                let mut hook_args = Transfer::new();
                if start {
                    cs.started = true;
                    let body = cs.body.take().unwrap_or(Value::Nil);
                    cs.stack.clear();
                    cs.stack.push(body);
                    cs.stack.extend_from_slice(&rs.stack[from..]);
                } else if hooked {
                    hook_args = take_values(&mut rs.stack, from);
                } else {
                    let slot = cs.resume_slot;
                    cs.stack.truncate(slot);
                    cs.stack.extend_from_slice(&rs.stack[from..]);
                }
                rs.stack.truncate(from);
                drop(rs);
                let r = if start {
                    // A fresh fuel budget is not needed here: the call only sets up a frame
                    // or runs a callback, both bounded.
                    let mut f = Fuel::new(i64::MAX);
                    call_function(ctx, co, &mut cs, 0, Returns::Multi, false, &mut f)
                } else if hooked {
                    // Resumed from a `coroutine.yield` (no continuation): it returns now.
                    let mut f = Fuel::new(i64::MAX);
                    crate::hook::resume_after_yield(ctx, co, &mut cs, &hook_args, &mut f)
                } else {
                    let slot = cs.resume_slot;
                    let returns = cs.resume_returns;
                    post_return(ctx, &mut cs, slot, n, returns)
                };
                drop(cs);
                match r {
                    Ok(flow) => self.handle_flow(ctx, st, flow),
                    Err(e) => {
                        let mut f = Fuel::new(i64::MAX);
                        self.handle_error(ctx, st, e, &mut f);
                        false
                    }
                }
            }
        }
    }

    fn handle_error(
        self,
        ctx: Context<'gc>,
        st: &mut ExecutorState<'gc>,
        e: Error<'gc>,
        fuel: &mut Fuel,
    ) {
        let thread = *st.threads.last().unwrap();
        let is_main = st.threads.len() == 1;
        let mut ts = thread.borrow_mut(ctx);
        // (Taken whatever happens next, so it never outlives this error.)
        let raised_by = ts.raised_by.take();
        let value = match resolve_error(ctx, &ts, e, None, fuel) {
            Raised::Value(v) => v,
            Raised::Long(message) => {
                // Built in pieces first, then raised from here as if it were raised now.
                match start_message_build(ctx, &mut ts, message, raised_by) {
                    Ok(()) => return,
                    Err(e) => {
                        ts.raised_by = raised_by;
                        drop(ts);
                        return self.handle_error(ctx, st, e, fuel);
                    }
                }
            }
        };
        // (One scan of the frames for the catcher: a runaway recursion leaves 200,000.)
        let catch = catcher_index(&ts);
        if is_main && st.traceback.is_empty() && catch.is_none() {
            // Like PUC, the Rust function that raised is the first frame
            // (`[C]: in function 'error'`): shown as the frame a dead coroutine keeps.
            // (At most `GLOBAL_NAME_ENTRIES` entries looked at, once for this error.)
            let names = debug::GlobalNames::collect(ctx);
            match raised_by {
                Some((name, func)) => {
                    // Its region starts above its call slot (which names it, see
                    // `debug::traceback`).
                    let base = func.saturating_add(1).min(ts.stack.len());
                    ts.push_frame(Frame::continuation(
                        Then::new(name, dead_frame, Value::Nil),
                        base,
                        Returns::Multi,
                        name,
                    ));
                    st.traceback = debug::traceback(&ts, &names);
                    ts.frames.pop();
                }
                None => st.traceback = debug::traceback(&ts, &names),
            }
        }
        if let Some(handler) = take_message_handler(&mut ts, catch) {
            // Run the handler on top of the failing stack; its continuation re-raises the
            // handler's result, which then unwinds to the (now handler-less) catcher.
            ts.stack.push(Value::Nil);
            let base = ts.stack.len();
            let state = ctx.new_table();
            let _ = state.set(ctx, Value::Integer(1), handler);
            let _ = state.set(ctx, Value::Integer(2), Value::Integer(1));
            // The handler runs where the error was raised: above the Rust function that
            // raised it (a traceback shows `[C]: in function 'error'`, like PUC), or
            // directly above the Lua frame that raised it.
            ts.push_frame(Frame::continuation(
                Then::new("xpcall", message_handler_done, Value::Table(state)).catching(),
                base,
                Returns::Multi,
                raised_by.map_or(HANDLER_FRAME, |(name, _)| name),
            ));
            ts.stack.push(handler);
            ts.stack.push(value);
            if let Err(e) = call_function(ctx, thread, &mut ts, base, Returns::Multi, is_main, fuel)
            {
                drop(ts);
                self.handle_error(ctx, st, e, fuel);
            }
            return;
        }
        match unwind_to(ctx, thread, &mut ts, value, fuel, !is_main, catch) {
            Ok(()) => {}
            Err(value) => {
                // The thread died. Like PUC, a coroutine keeps its stack and frames (for
                // `debug.traceback(co)` and `debug.getinfo(co, level)`, and the values of
                // its pending to-be-closed variables for `coroutine.close`), with a `[C]`
                // frame for the Rust function that raised the error; `coroutine.close`
                // (or `coroutine.wrap`'s error path) drops them.
                ts.status = ThreadStatus::Dead;
                ts.death_error = Some(value);
                if !is_main {
                    if let Some((name, func)) = raised_by {
                        // Its region starts above its function slot, as when it ran (the
                        // caller's temporaries end below that slot, like PUC's
                        // `ci->next->func`).
                        let base = func.saturating_add(1).min(ts.stack.len());
                        ts.push_frame(Frame::continuation(
                            Then::new(name, dead_frame, Value::Nil),
                            base,
                            Returns::Multi,
                            name,
                        ));
                    }
                } else if ts.tbc_slots.is_empty() {
                    ts.stack.clear();
                }
                drop(ts);
                if is_main {
                    st.result = Some(Err(value));
                } else {
                    st.threads.pop();
                    deliver_to_resumer(ctx, *st.threads.last().unwrap(), Err(value));
                }
            }
        }
    }
}

/// The message handler of the nearest catching continuation (at `catch`, see
/// `catcher_index`), removed from it so it runs once.
fn take_message_handler<'gc>(
    ts: &mut ThreadState<'gc>,
    catch: Option<usize>,
) -> Option<Value<'gc>> {
    let idx = catch?;
    if let Some(Frame::Continuation { then, .. }) = ts.frames.get_mut(idx) {
        if !then.handler.is_nil() {
            return Some(std::mem::replace(&mut then.handler, Value::Nil));
        }
    }
    None
}

/// Whether `f` catches errors raised above it: a continuation with `catch_errors` (`pcall`,
/// `xpcall`, `resume`...) still waiting for its call.
fn is_catcher(f: &Frame<'_>) -> bool {
    matches!(
        f,
        Frame::Continuation {
            then: Then {
                catch_errors: true,
                ..
            },
            ready: None,
            ..
        }
    )
}

/// The nearest catching frame (see `is_catcher`).
///
/// Read through the frames' counts of C-level calls (`Frame::c_calls`), not frame by frame:
/// a runaway recursion leaves 200,000 frames (25 MiB, a millisecond to read) but at most
/// `C_CALLS_LIMIT` C-level ones, and every catcher is one (a continuation). The counts
/// grow by one at each C-level frame and are constant between, so the C-level frame that
/// brought the count to `n` is the first frame whose count is `n`: a binary search per
/// C-level frame, from the top down. (Were the counts ever inconsistent, the frames left are
/// read one by one.)
fn catcher_index(ts: &ThreadState<'_>) -> Option<usize> {
    let found = catcher_by_counts(&ts.frames);
    debug_assert_eq!(found, ts.frames.iter().rposition(is_catcher));
    found
}

/// `catcher_index`'s search, C-level frame by C-level frame from the top.
fn catcher_by_counts(frames: &[Frame<'_>]) -> Option<usize> {
    let mut end = frames.len();
    let mut n = frames.last()?.c_calls();
    while n > 0 {
        let i = frames[..end].partition_point(|f| f.c_calls() < n);
        match frames.get(i) {
            Some(f) if i < end && f.is_c_call() && f.c_calls() == n => {
                if is_catcher(f) {
                    return Some(i);
                }
            }
            _ => return frames[..end].iter().rposition(is_catcher),
        }
        end = i;
        n -= 1;
    }
    // (No C-level frame below `end`: no catcher either.)
    None
}

/// Most nested message-handler invocations before "error in error handling" (an error in
/// the handler calls the handler again, like PUC).
const MAX_HANDLER_DEPTH: i64 = 200;

fn message_handler_done<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    outcome: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    let Value::Table(state) = exec.upvalue else {
        return Err(Error::runtime("xpcall: lost handler state"));
    };
    match outcome {
        Outcome::Returned => Err(Error::Value(exec.arg(0))),
        Outcome::Errored(e) => {
            let depth = state.get_int(2).as_integer_strict().unwrap_or(0) + 1;
            if depth >= MAX_HANDLER_DEPTH {
                return Err(Error::Value(ctx.str("error in error handling")));
            }
            let _ = state.set(ctx, Value::Integer(2), Value::Integer(depth));
            exec.replace(&[e]);
            Ok(Action::Call {
                function: state.get_int(1),
                then: Some(
                    Then::new("xpcall", message_handler_done, Value::Table(state)).catching(),
                ),
            })
        }
    }
}

/// Hands a coroutine's yielded/returned values (or its error) to the thread that resumed it.
/// The resumer's top frame is the continuation of its `Action::Resume`.
fn deliver_to_resumer<'gc>(
    ctx: Context<'gc>,
    resumer: Thread<'gc>,
    values: Result<&[Value<'gc>], Value<'gc>>,
) {
    let mut rs = resumer.borrow_mut(ctx);
    rs.status = ThreadStatus::Running;
    let ThreadState { stack, frames, .. } = &mut *rs;
    if let Some(Frame::Continuation { base, ready, .. }) = frames.last_mut() {
        stack.truncate(*base);
        match values {
            Ok(vals) => {
                stack.extend_from_slice(vals);
                *ready = Some(Outcome::Returned);
            }
            Err(e) => *ready = Some(Outcome::Errored(e)),
        }
    }
}

/// Fuel a `not enough memory` error costs where it is raised. The memory limit refuses only
/// after a full collection (work in proportion to the heap, which no unit of the script's
/// fuel paid for), so a script that catches the error and asks again, in a loop, would make
/// a collection per iteration: this makes each one cost about a step of 10,000 units. A
/// refusal comes at the same point of a script's history in every run, so its charge does
/// not move where steps end between runs.
pub const MEMORY_REFUSAL_FUEL: i64 = 10_000;

/// The error value of a memory error (PUC's message).
pub const NOT_ENOUGH_MEMORY: &str = "not enough memory";

/// What an error raised by the running script (or a builtin it called) becomes: the value
/// that propagates, or a message too long to join in one step, positioned where it was
/// raised, that the executor builds in pieces before raising it (`start_message_build`).
enum Raised<'gc> {
    Value(Value<'gc>),
    Long(Message<'gc>),
}

/// [`Raised`] for `e`, positioned and named like PUC's `luaL_error` / `luaL_argerror`. A
/// refusal of the memory limit is charged here: it comes after a full collection (the work
/// this pays for), at a point of the script's history.
fn resolve_error<'gc>(
    ctx: Context<'gc>,
    ts: &ThreadState<'gc>,
    e: Error<'gc>,
    callee: Option<&'static str>,
    fuel: &mut Fuel,
) -> Raised<'gc> {
    let message = match e {
        Error::Value(v) => return Raised::Value(v),
        Error::NotEnoughMemory => {
            fuel.consume(MEMORY_REFUSAL_FUEL);
            return Raised::Value(ctx.str(NOT_ENOUGH_MEMORY));
        }
        // (Handled where callbacks and continuations return; one that reaches here came from
        // a path that cannot be retried: the refusal, uncharged as before.)
        Error::CollectThenRetry => return Raised::Value(ctx.str(NOT_ENOUGH_MEMORY)),
        Error::Runtime(msg) if msg.len() <= crate::big_string::BUILD_IN_PIECES => {
            let pos = debug::where_level(ts, 1);
            return Raised::Value(joined_message(ctx, &pos, &msg));
        }
        Error::Runtime(msg) => Message::new()
            .text(msg)
            .positioned_at(debug::where_level(ts, 1)),
        Error::Message(m) if m.is_positioned() => m,
        Error::Message(mut m) => match m.take_argument() {
            Some(arg) => bad_argument_message(ts, arg, m, callee),
            None => m.positioned_at(debug::where_level(ts, 1)),
        },
        Error::TypeError { arg, expected, got } => {
            let got = match got {
                None => Part::fixed("no value"),
                Some(v) => ctx.type_name_by_metatable_part(v),
            };
            let message = Message::new()
                .text(expected)
                .text(" expected, got ")
                .part(got);
            bad_argument_message(ts, arg, message, callee)
        }
        Error::BadArgument { arg, message } => {
            bad_argument_message(ts, arg, Message::new().text(message), callee)
        }
    };
    if message.len() <= crate::big_string::BUILD_IN_PIECES {
        Raised::Value(Value::String(joined(ctx, &message)))
    } else {
        Raised::Long(message)
    }
}

/// `bad argument #arg to 'name' (message)`, positioned, the name found from the call site
/// like PUC's `luaL_argerror` (adjusted for method calls).
fn bad_argument_message<'gc>(
    ts: &ThreadState<'gc>,
    arg: usize,
    message: Message<'gc>,
    callee: Option<&'static str>,
) -> Message<'gc> {
    let (name, is_method) = debug::calling_name_part(ts).unwrap_or_else(|| {
        let name = callee.unwrap_or("?");
        (Part::fixed(name), false)
    });
    let text = if is_method && arg == 1 {
        Message::new()
            .text("calling '")
            .part(name)
            .text("' on bad self (")
    } else {
        let number = if is_method {
            arg.saturating_sub(1)
        } else {
            arg
        };
        Message::new()
            .text("bad argument #")
            .text(number.to_string())
            .text(" to '")
            .part(name)
            .text("' (")
    };
    text.then(message)
        .text(")")
        .positioned_at(debug::where_level(ts, 1))
}

/// The message's bytes as one string, written once at its length.
fn joined<'gc>(ctx: Context<'gc>, message: &Message<'gc>) -> crate::string::LuaString<'gc> {
    ctx.new_string_with(message.len(), |out| message.write_into(out))
}

/// `Then::name` of the continuations that build a long error message and raise it
/// (`start_message_build`).
const MESSAGE_BUILD: &str = "(error message)";

/// Starts building the long, positioned `message` of an error raised where the thread stands
/// (with `raised_by`, the Rust function that raised it, if one did): a ready continuation on
/// top of the failing frames calls the string builder, which writes the message in pieces
/// (each charged with the step's fuel), and raises it when built, from where the error was
/// raised (`raise_built_message`; the executor gives it back its `raised_by`). The message's
/// bytes are reserved against the memory limit first; a refusal is the memory error.
fn start_message_build<'gc>(
    ctx: Context<'gc>,
    ts: &mut ThreadState<'gc>,
    message: Message<'gc>,
    raised_by: Option<(&'static str, usize)>,
) -> Result<(), Error<'gc>> {
    let total = message.len();
    if total >= crate::interp::MAX_STRING_LEN {
        return Err(Error::NotEnoughMemory);
    }
    ctx.reserve_memory(total)?;
    let parts: Vec<Value<'gc>> = message
        .parts()
        .iter()
        .map(|p| match p {
            Part::Str(s) => Value::String(*s),
            Part::Text(t) => Value::String(ctx.new_pause_string(t)),
            // (A long one: a string around the same buffer.)
            Part::Shared(b) => Value::String(ctx.new_string_from_buffer(b.clone())),
        })
        .collect();
    let build = crate::big_string::start(ctx, &parts, total, crate::big_string::Shape::Repeat);
    // (A pause table, like the build's: building an error's message changes no id or count.)
    let state = ctx.new_pause_table(2);
    let _ = state.set(ctx, Value::Integer(1), Value::Table(build));
    if let Some((_, func)) = raised_by {
        let _ = state.set(ctx, Value::Integer(2), Value::Integer(func as i64));
    }
    ts.stack.push(Value::Nil);
    let base = ts.stack.len();
    let mut frame = Frame::continuation(
        Then::new(MESSAGE_BUILD, start_message_builder, Value::Table(state)),
        base,
        Returns::Discard,
        raised_by.map_or(MESSAGE_BUILD, |(name, _)| name),
    );
    if let Frame::Continuation { ready, .. } = &mut frame {
        *ready = Some(Outcome::Returned);
    }
    ts.push_frame(frame);
    Ok(())
}

/// Calls the string builder on the message's build state (see `start_message_build`).
fn start_message_builder<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    _outcome: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    let Value::Table(state) = exec.upvalue else {
        return Err(Error::runtime("error message: lost state"));
    };
    exec.clear();
    exec.push(state.get_int(1));
    Ok(Action::Call {
        function: crate::big_string::builder(ctx),
        then: Some(Then::new(
            MESSAGE_BUILD,
            raise_built_message,
            state.get_int(2),
        )),
    })
}

/// Raises the built message (the executor sets `raised_by` again from the continuation's
/// frame name and its state, the Rust function's slot: see `run_continuation`).
fn raise_built_message<'gc>(
    _ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    _outcome: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    Err(Error::Value(exec.arg(0)))
}

/// Whether `func` raises a built error message (see `start_message_build`).
fn is_message_raiser(func: crate::function::ContinuationFn) -> bool {
    func as usize == raise_built_message as crate::function::ContinuationFn as usize
}

/// The value `e` raises, a long message joined at once: for the paths that cannot build it
/// in pieces (an error of a `__close` call made while unwinding).
fn raised_value<'gc>(
    ctx: Context<'gc>,
    ts: &ThreadState<'gc>,
    e: Error<'gc>,
    callee: Option<&'static str>,
    fuel: &mut Fuel,
) -> Value<'gc> {
    match resolve_error(ctx, ts, e, callee, fuel) {
        Raised::Value(v) => v,
        Raised::Long(m) => Value::String(joined(ctx, &m)),
    }
}

/// `e` resolved where it was raised (see [`resolve_error`]), as the error that goes on to
/// `Executor::handle_error`: a value, or a long positioned message it builds.
fn raised_error<'gc>(
    ctx: Context<'gc>,
    ts: &ThreadState<'gc>,
    e: Error<'gc>,
    callee: Option<&'static str>,
    fuel: &mut Fuel,
) -> Error<'gc> {
    match resolve_error(ctx, ts, e, callee, fuel) {
        Raised::Value(v) => Error::Value(v),
        Raised::Long(m) => Error::Message(m),
    }
}

/// The error message `pos` followed by `msg`, written once into the string (a message
/// quoting a name of megabytes was formatted, then copied again into the string).
fn joined_message<'gc>(ctx: Context<'gc>, pos: &str, msg: &str) -> Value<'gc> {
    let (pos, msg) = (pos.as_bytes(), msg.as_bytes());
    Value::String(ctx.new_string_with(pos.len() + msg.len(), |out| {
        let (head, tail) = out.split_at_mut(pos.len());
        head.copy_from_slice(pos);
        tail.copy_from_slice(msg);
    }))
}

/// Unwinds the thread to the nearest catching continuation, running pending `__close`
/// handlers (each as a call, never recursively). `Err(value)` when no frame catches: the
/// thread dies with that error. A coroutine (`coroutine == true`) that dies does not close
/// its to-be-closed variables: like PUC, they stay on its stack until `coroutine.close`
/// (or `coroutine.wrap`'s error path) closes them, with the error as their second argument.
pub(crate) fn unwind<'gc>(
    ctx: Context<'gc>,
    thread: Thread<'gc>,
    ts: &mut ThreadState<'gc>,
    error: Value<'gc>,
    fuel: &mut Fuel,
    coroutine: bool,
) -> Result<(), Value<'gc>> {
    let catch = catcher_index(ts);
    unwind_to(ctx, thread, ts, error, fuel, coroutine, catch)
}

/// `unwind`, with the nearest catching frame already found (`catcher_index(ts)`).
fn unwind_to<'gc>(
    ctx: Context<'gc>,
    thread: Thread<'gc>,
    ts: &mut ThreadState<'gc>,
    error: Value<'gc>,
    fuel: &mut Fuel,
    coroutine: bool,
    catch: Option<usize>,
) -> Result<(), Value<'gc>> {
    let boundary = match catch {
        Some(i) => match ts.frames[i] {
            Frame::Continuation { base, .. } => base,
            _ => unreachable!(),
        },
        None => 0,
    };
    close_upvalues(ctx, ts, boundary);
    crate::hook::unwinding(ts, catch.map_or(0, |i| i + 1));
    if catch.is_none() && coroutine {
        // The coroutine dies with its frames (see `Executor::handle_error`).
        return Err(error);
    }
    if let Some(&slot) = ts.tbc_slots.last() {
        if slot >= boundary {
            ts.tbc_slots.pop();
            let value = ts.stack.get(slot).copied().unwrap_or(Value::Nil);
            ts.frames.truncate(catch.map_or(0, |i| i + 1));
            ts.stack.truncate(slot + 1);
            let then = Then::new("__close", continue_unwinding, error).catching();
            ts.push_frame(Frame::continuation(
                then,
                slot + 1,
                Returns::Multi,
                "__close",
            ));
            let close = ctx
                .metamethod(value, MetaEvent::Close)
                .unwrap_or(Value::Nil);
            ts.stack.push(close);
            ts.stack.push(value);
            ts.stack.push(error);
            return match call_function(ctx, thread, ts, slot + 1, Returns::Multi, false, fuel) {
                Ok(_) => Ok(()),
                Err(e) => {
                    ts.raised_by = None;
                    let v = raised_value(ctx, ts, e, None, fuel);
                    unwind(ctx, thread, ts, v, fuel, coroutine)
                }
            };
        }
    }
    match catch {
        Some(i) => {
            ts.frames.truncate(i + 1);
            if let Some(Frame::Continuation { base, ready, .. }) = ts.frames.last_mut() {
                ts.stack.truncate(*base);
                *ready = Some(Outcome::Errored(error));
            }
            // A deep stack gives back part of its buffers (PUC shrinks stacks at
            // collections), so the memory a runaway recursion took is free again for what
            // the catcher does next (under a memory limit it would otherwise stay taken by
            // the now unused capacity until the thread dies): a piece now, paid for in fuel
            // first, the rest a piece at each later unwinding or full collection (see
            // `ThreadState::shrink_excess`).
            let piece = ts.excess_piece();
            if piece > 0 {
                fuel.consume((piece / crate::thread::SHRINK_BYTES_PER_FUEL) as i64);
                ts.shrink_excess();
            }
            Ok(())
        }
        None => {
            ts.frames.clear();
            Err(error)
        }
    }
}

/// Continuation after a `__close` handler ran during unwinding: keep unwinding with the
/// original error, or with the handler's own error if it raised one.
fn continue_unwinding<'gc>(
    _ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    outcome: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    match outcome {
        Outcome::Returned => Err(Error::Value(exec.upvalue)),
        Outcome::Errored(e) => Err(Error::Value(e)),
    }
}

/// Closes every open upvalue of `ts` at or above stack slot `level`.
pub(crate) fn close_upvalues<'gc>(ctx: Context<'gc>, ts: &mut ThreadState<'gc>, level: usize) {
    while let Some(&uv) = ts.open_upvalues.last() {
        match uv.get() {
            UpValueState::Open { slot, .. } if slot >= level => {
                let v = ts.stack.get(slot).copied().unwrap_or(Value::Nil);
                crate::function::set_upvalue(ctx, uv, UpValueState::Closed(v));
                ts.open_upvalues.pop();
            }
            _ => break,
        }
    }
}

/// Runs the ready continuation on top of the frame stack.
fn run_continuation<'gc>(
    ctx: Context<'gc>,
    thread: Thread<'gc>,
    ts: &mut ThreadState<'gc>,
    fuel: &mut Fuel,
    is_main: bool,
) -> Result<Flow<'gc>, Error<'gc>> {
    // Fields read in place, then the frame dropped (a copy of the popped frame was written
    // in pieces and its `then.state` read whole, a store-forwarding stall).
    let (then, base, returns, outcome, callee_name) = match ts.frames.last() {
        Some(Frame::Continuation {
            then,
            base,
            returns,
            ready: Some(outcome),
            callee_name,
            c_calls: _,
        }) => (*then, *base, *returns, *outcome, *callee_name),
        _ => unreachable!("run_continuation called without a ready continuation"),
    };
    ts.frames.truncate(ts.frames.len() - 1);
    if then.name == PENDING_CALL {
        // (A call left pending at a step boundary is charged when it is made, as if the
        // step had not ended there: the total does not depend on step sizes.) Made as
        // it would have been, not as a tail call (`retry_callback`'s): tracebacks, hooks
        // and `istailcall` do not depend on where a step ended.
        ts.stack[base - 1] = then.state;
        return call_function(ctx, thread, ts, base - 1, returns, is_main, fuel);
    }
    // (What the continuation costs, refunded if it asks to run again after a collection.)
    let fuel_before = fuel.remaining();
    if then.name != PENDING_TAIL_CALL && then.name != RETRY_CALL {
        fuel.consume(1);
    }
    if then.name == RESUMING {
        // Re-entering a preempted chain (`Executor::preempt`): resume the next coroutine
        // with this resume's values. The resume continuation below, which was waiting for
        // it, waits again, exactly as before the preemption (no frame is added, so a chain
        // preempted again and again does not grow).
        return match then.state {
            Value::Thread(next) if next.is_preempted() => {
                // (The values move down over the slot below them, which goes.)
                ts.stack.remove(base - 1);
                Ok(Flow::Resume(next, base - 1))
            }
            _ => Err(Error::runtime("cannot resume dead coroutine")),
        };
    }
    let action = {
        let mut exec = Exec {
            ts,
            base,
            thread,
            is_main,
            fuel,
            upvalue: then.state,
            resumable: then.resumable,
        };
        (then.func)(ctx, &mut exec, outcome)
    };
    match action {
        Ok(Action::Return)
            if ts.hook.fires(crate::hook::MASK_RETURN)
                && !crate::hook::in_finalizer(ctx, thread)
                && crate::hook::is_function_return(&then, returns)
                && !hidden_from_hooks(then.name) =>
        {
            crate::hook::callback_event(
                ctx,
                thread,
                ts,
                crate::hook::Event::Return,
                base - 1,
                returns,
                callee_name,
                is_main,
                fuel,
            )
        }
        Ok(Action::CallAgain) => {
            // `apply_action`'s `Call` with this continuation, the function already at `base`.
            if ts.stack.len() == base {
                ts.stack.push(Value::Nil);
            }
            let c_calls = push_calling_continuation(ts, then, base - 1, returns, callee_name);
            fuel.consume(values_cost(ts.stack.len() - base - 1));
            c_calls_fit(c_calls)?;
            call_function(ctx, thread, ts, base, Returns::Multi, is_main, fuel)
        }
        Ok(action) => apply_action(
            ctx,
            thread,
            ts,
            base - 1,
            returns,
            action,
            callee_name,
            is_main,
            fuel,
        ),
        Err(Error::CollectThenRetry) => {
            // Run the same continuation again, with the same stack and outcome, after the
            // host's full collection (see `Error::CollectThenRetry`). It changed nothing, and
            // its charges are refunded: whether the limit needed a collection first depends
            // on garbage not yet freed, so a retry must cost nothing (see `run_callback`).
            fuel.set_remaining(fuel_before);
            ts.push_frame(Frame::Continuation {
                then,
                base,
                returns,
                ready: Some(outcome),
                callee_name,
                c_calls: 0,
            });
            Ok(Flow::OutOfFuel)
        }
        Err(e) => {
            // Raised by the Rust function itself (not by a Lua call it made): it is on the
            // stack when the error is reported, like a callback that raised (tracebacks show
            // its `[C]` level, a dead coroutine keeps it). Not the executor's own frames
            // (closing a coroutine, hooks, finalizers).
            if crate::hook::is_function_return(&then, returns) {
                ts.raised_by = Some((callee_name, base - 1));
            } else if is_message_raiser(then.func) {
                // The error a Rust function raised, its message built: raised again as by
                // that function (see `start_message_build`).
                if let Value::Integer(func) = then.state {
                    ts.raised_by = usize::try_from(func)
                        .ok()
                        .filter(|&f| f < base)
                        .map(|f| (callee_name, f));
                }
            }
            Err(raised_error(ctx, ts, e, Some(callee_name), fuel))
        }
    }
}

/// The continuation that calls a callback again after a full collection (it returned
/// `Error::CollectThenRetry`): a tail call of the callback (its `state`) with the same
/// arguments.
fn retry_callback<'gc>(
    _ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    _outcome: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    Ok(Action::Call {
        function: exec.upvalue,
        then: None,
    })
}

/// Between two calls a Rust callback chains without returning to the executor (`Action::Call`
/// to another callback, which calls another...): the fuel and memory checks the interpreter
/// makes at its calls. Out of fuel, or memory needing attention (a collection due, or the
/// limit reached: see `interp::memory_attention`), the call of `stack[func]` is left pending
/// in a continuation (`PENDING_CALL`, or `PENDING_TAIL_CALL` for a tail call: free to run)
/// and the step ends; `None`: go on.
fn call_boundary<'gc>(
    ctx: Context<'gc>,
    ts: &mut ThreadState<'gc>,
    func: usize,
    returns: Returns,
    fuel: &mut Fuel,
    is_tail: bool,
) -> Result<Option<Flow<'gc>>, Error<'gc>> {
    // Memory first: a chain stepped one unit at a time must still meet the limit.
    let flow = if ctx.state().memory.needs_attention() {
        interp::memory_attention(ctx)?
    } else if fuel.is_exhausted() {
        Flow::OutOfFuel
    } else {
        return Ok(None);
    };
    let name = if is_tail {
        PENDING_TAIL_CALL
    } else {
        PENDING_CALL
    };
    ts.push_frame(Frame::Continuation {
        then: Then::new(name, retry_callback, ts.stack[func]),
        base: func + 1,
        returns,
        ready: Some(Outcome::Returned),
        callee_name: name,
        c_calls: 0,
    });
    Ok(Some(flow))
}

/// Calls the value in `stack[func]` with arguments `stack[func+1..]`. Lua functions get a
/// frame (run later by the interpreter); Rust callbacks run now and their `Action` is applied.
pub(crate) fn call_function<'gc>(
    ctx: Context<'gc>,
    thread: Thread<'gc>,
    ts: &mut ThreadState<'gc>,
    func: usize,
    returns: Returns,
    is_main: bool,
    fuel: &mut Fuel,
) -> Result<Flow<'gc>, Error<'gc>> {
    call_function_ex(ctx, thread, ts, func, returns, is_main, fuel, false)
}

/// `call_function`, with `is_tail` for a call made in place of the caller's frame. A Lua
/// function gets its frame here, in a small function; anything else (Rust callbacks, whose
/// calls need much more room, `__call`) goes on in `call_other`.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
pub(crate) fn call_function_ex<'gc>(
    ctx: Context<'gc>,
    thread: Thread<'gc>,
    ts: &mut ThreadState<'gc>,
    func: usize,
    returns: Returns,
    is_main: bool,
    fuel: &mut Fuel,
    is_tail: bool,
) -> Result<Flow<'gc>, Error<'gc>> {
    if returns == Returns::Meta && !is_tail && ts.c_calls() + 1 >= C_CALLS_LIMIT {
        // A metamethod's call is a C-level call (`C_CALLS_LIMIT`), refused in its caller.
        return Err(c_stack_overflow());
    }
    if let Some(Value::Function(closure)) = ts.stack.get(func) {
        push_lua_frame(ts, *closure, func, returns, is_tail)?;
        if ts.hook.wants_events() {
            // Its call event fires before its first instruction.
            ts.hook.call_pending = true;
        }
        return Ok(Flow::Continue);
    }
    call_other(ctx, thread, ts, func, returns, is_main, fuel, is_tail)
}

/// `call_function_ex` for everything but a Lua function in `stack[func]` (which it also
/// handles: a `__call` or a Rust tail call may lead to one).
/// Runs Rust function `inner`, called at slot `func` (its arguments above it), charging the
/// call's unit of fuel; what it asks for next is the caller's to carry out.
#[inline(always)]
fn run_callback<'gc>(
    ctx: Context<'gc>,
    thread: Thread<'gc>,
    ts: &mut ThreadState<'gc>,
    func: usize,
    inner: &crate::function::CallbackInner<'gc>,
    is_main: bool,
    fuel: &mut Fuel,
) -> Result<Action<'gc>, Error<'gc>> {
    let fuel_before = fuel.remaining();
    fuel.consume(1);
    let mut exec = Exec {
        ts,
        base: func + 1,
        thread,
        is_main,
        fuel,
        upvalue: inner.upvalue,
        resumable: None,
    };
    let r = (inner.func)(ctx, &mut exec);
    if let Err(Error::CollectThenRetry) = r {
        // The callback changed nothing before asking (the contract of `CollectThenRetry`),
        // and its charges are refunded too: it runs again after the collection (through the
        // free `RETRY_CALL` continuation) and is charged then, as once. Whether the limit
        // needed a collection first depends on garbage not yet freed (on the host's
        // snapshots, restores, step sizes), so a retry must change neither the fuel a script
        // spends nor where its steps end.
        fuel.set_remaining(fuel_before);
    }
    r
}

#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn call_other<'gc>(
    ctx: Context<'gc>,
    thread: Thread<'gc>,
    ts: &mut ThreadState<'gc>,
    mut func: usize,
    mut returns: Returns,
    is_main: bool,
    fuel: &mut Fuel,
    mut is_tail: bool,
) -> Result<Flow<'gc>, Error<'gc>> {
    let mut chain = 0;
    loop {
        match ts.stack[func] {
            Value::Function(closure) => {
                push_lua_frame(ts, closure, func, returns, is_tail)?;
                if ts.hook.wants_events() {
                    // Its call event fires before its first instruction.
                    ts.hook.call_pending = true;
                }
                return Ok(Flow::Continue);
            }
            Value::Callback(cb) => {
                let inner = gc_arena::Gc::as_ref(cb.0);
                if ts.hook.fires(crate::hook::MASK_CALL)
                    && !crate::hook::in_finalizer(ctx, thread)
                    && !hidden_from_hooks(inner.name)
                {
                    return crate::hook::callback_event(
                        ctx,
                        thread,
                        ts,
                        crate::hook::Event::Call,
                        func,
                        returns,
                        inner.name,
                        is_main,
                        fuel,
                    );
                }
                let action = run_callback(ctx, thread, ts, func, inner, is_main, fuel);
                match after_callback(
                    ctx, thread, ts, func, returns, action, inner.name, is_main, fuel,
                )? {
                    AfterCallback::Flow(flow) => return Ok(flow),
                    AfterCallback::Call {
                        func: f,
                        returns: r,
                        is_tail: t,
                    } => {
                        func = f;
                        returns = r;
                        is_tail = t;
                        chain = 0;
                    }
                }
            }
            other => {
                // `__call`: the metamethod becomes the function, the value its first argument.
                chain += 1;
                match ctx.metamethod(other, MetaEvent::Call) {
                    Some(mm) if chain <= MAX_CALL_CHAIN => {
                        ts.stack.insert(func, mm);
                    }
                    _ => {
                        let desc = debug::describe_call_target(ts, func);
                        return Err(crate::error::type_error_message(ctx, "call", other, desc));
                    }
                }
            }
        }
    }
}

/// What a Rust callback's outcome leads to (`after_callback`).
enum AfterCallback<'gc> {
    /// Handled: go on with this flow.
    Flow(Flow<'gc>),
    /// The callback called (`Action::Call`): call `stack[func]` next, as
    /// `call_function_ex(.., func, returns, .., is_tail)` does.
    Call {
        func: usize,
        returns: Returns,
        is_tail: bool,
    },
}

/// Handles what the Rust callback at `func` (named `name`) returned: its error, its action,
/// its return event. The callback's part of `call_function_ex`, shared with
/// `call_from_lua`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn after_callback<'gc>(
    ctx: Context<'gc>,
    thread: Thread<'gc>,
    ts: &mut ThreadState<'gc>,
    func: usize,
    returns: Returns,
    action: Result<Action<'gc>, Error<'gc>>,
    name: &'static str,
    is_main: bool,
    fuel: &mut Fuel,
) -> Result<AfterCallback<'gc>, Error<'gc>> {
    let action = match action {
        Ok(a) => a,
        Err(Error::CollectThenRetry) => {
            // The callback asked for memory that fits only after a full collection, before
            // changing anything: call it again (same stack) when the host has collected.
            ts.push_frame(Frame::Continuation {
                then: Then::new(RETRY_CALL, retry_callback, ts.stack[func]),
                base: func + 1,
                returns,
                ready: Some(Outcome::Returned),
                callee_name: name,
                c_calls: 0,
            });
            return Ok(AfterCallback::Flow(Flow::OutOfFuel));
        }
        Err(e) => {
            ts.raised_by = Some((name, func));
            return Err(raised_error(ctx, ts, e, Some(name), fuel));
        }
    };
    match action {
        Action::Call {
            function,
            then: None,
        } => {
            // Tail call from Rust: replace the callback by the function.
            ts.stack[func] = function;
            if let Some(flow) = call_boundary(ctx, ts, func, returns, fuel, true)? {
                return Ok(AfterCallback::Flow(flow));
            }
            Ok(AfterCallback::Call {
                func,
                returns,
                // (See `apply_action`: a hidden Rust function's tail call is not one.)
                is_tail: !hidden_from_hooks(name),
            })
        }
        Action::Call {
            function,
            then: Some(then),
        } => {
            if ts.frames.len() >= MAX_FRAMES {
                return Err(Error::runtime("stack overflow"));
            }
            let c_calls = push_calling_continuation(ts, then, func, returns, name);
            fuel.consume(values_cost(ts.stack.len() - func - 1));
            ts.stack.insert(func + 1, function);
            c_calls_fit(c_calls)?;
            if let Some(flow) = call_boundary(ctx, ts, func + 1, Returns::Multi, fuel, false)? {
                return Ok(AfterCallback::Flow(flow));
            }
            Ok(AfterCallback::Call {
                func: func + 1,
                returns: Returns::Multi,
                is_tail: false,
            })
        }
        Action::Return
            if ts.hook.fires(crate::hook::MASK_RETURN)
                && !crate::hook::in_finalizer(ctx, thread)
                && !hidden_from_hooks(name) =>
        {
            crate::hook::callback_event(
                ctx,
                thread,
                ts,
                crate::hook::Event::Return,
                func,
                returns,
                name,
                is_main,
                fuel,
            )
            .map(AfterCallback::Flow)
        }
        other => apply_action(ctx, thread, ts, func, returns, other, name, is_main, fuel)
            .map(AfterCallback::Flow),
    }
}

/// The interpreter's calls (`do_call!`: the function at `func`, its arguments above it up
/// to the stack's end, called by the Lua frame on top): `call_function`, except that a Rust
/// callback called with no hook, for a `Count` or `Multi` of results, that returns its
/// results (the common end) has them put in place here, as `apply_action` and
/// `post_return` would (same stack, same fuel, same frames), without their general
/// dispatch. Every other case (hooks, errors, other actions, a frame pushed, metamethod
/// calls) takes the general path.
#[inline(never)]
pub(crate) fn call_from_lua<'gc>(
    ctx: Context<'gc>,
    thread: Thread<'gc>,
    ts: &mut ThreadState<'gc>,
    func: usize,
    returns: Returns,
    is_main: bool,
    fuel: &mut Fuel,
) -> Result<Flow<'gc>, Error<'gc>> {
    let Value::Callback(cb) = ts.stack[func] else {
        return call_function(ctx, thread, ts, func, returns, is_main, fuel);
    };
    if ts.hook.wants_events() || matches!(returns, Returns::Meta | Returns::Discard) {
        return call_function(ctx, thread, ts, func, returns, is_main, fuel);
    }
    let inner = gc_arena::Gc::as_ref(cb.0);
    let frames = ts.frames.len();
    let action = run_callback(ctx, thread, ts, func, inner, is_main, fuel);
    if let Ok(Action::Return) = action {
        // (The results are the values above the function slot, which is still there.)
        let results = ts.stack.len().checked_sub(func + 1);
        if let (false, true, Some(n), Some(Frame::Lua(f))) = (
            ts.hook.wants_events(),
            ts.frames.len() == frames,
            results,
            ts.frames.last(),
        ) {
            // `apply_action` (`Action::Return`) then `post_return`: the results move down
            // over the function slot, charged by number; the caller's registers are all
            // there, and nil past the results it takes.
            let frame_end = f.stack_end;
            fuel.consume((n / VALUES_PER_UNIT) as i64);
            let (k, end) = match returns {
                Returns::Count(c) => {
                    let c = c as usize;
                    (n.min(c), frame_end.max(func + c))
                }
                _ => (n, frame_end.max(func + n)),
            };
            // (A loop, not `copy_within` and `resize`: for the one or two values a builtin
            // returns, their out-of-line calls cost more than the moves.)
            for i in 0..k {
                ts.stack[func + i] = ts.stack[func + 1 + i];
            }
            ts.stack.truncate(func + k);
            interp::set_len_nil_filled(ts, end);
            if let (Returns::Multi, Some(Frame::Lua(f))) = (returns, ts.frames.last_mut()) {
                // Where the results end, for the instruction that takes them all.
                f.top = func + n;
            }
            return Ok(Flow::Continue);
        }
    }
    match after_callback(
        ctx, thread, ts, func, returns, action, inner.name, is_main, fuel,
    )? {
        AfterCallback::Flow(flow) => Ok(flow),
        AfterCallback::Call {
            func,
            returns,
            is_tail,
        } => call_function_ex(ctx, thread, ts, func, returns, is_main, fuel, is_tail),
    }
}

/// Enters Lua function `closure`, whose arguments are `stack[func+1..]`: adjusts them to its
/// parameters, gives it `max_stack_size` registers and pushes its frame. The interpreter runs
/// it next. (The hot path of every Lua call: vararg functions take `push_vararg_frame`.)
#[inline(always)]
pub(crate) fn push_lua_frame<'gc>(
    ts: &mut ThreadState<'gc>,
    closure: LuaClosure<'gc>,
    func: usize,
    returns: Returns,
    is_tail: bool,
) -> Result<(), Error<'gc>> {
    let p = &closure.proto().proto;
    if p.is_vararg {
        return push_vararg_frame(ts, closure, func, returns, is_tail);
    }
    let base = func + 1;
    let stack_end = base + p.max_stack_size as usize;
    if ts.frames.len() >= MAX_FRAMES || stack_end >= MAX_STACK_SLOTS {
        return Err(Error::runtime("stack overflow"));
    }
    // Extra arguments are dropped; missing ones become nil with the other registers.
    let nargs = ts.stack.len() - base;
    ts.stack.truncate(base + nargs.min(p.num_params as usize));
    interp::set_len_nil_filled(ts, stack_end);
    ts.push_frame(Frame::Lua(LuaFrame {
        closure,
        func,
        base,
        stack_end,
        pc: 0,
        num_varargs: 0,
        returns,
        top: base,
        is_tail,
        concat_resume: false,
        c_calls: 0,
    }));
    Ok(())
}

/// `push_lua_frame` for a vararg function: the fixed parameters move above the extra
/// arguments, which stay below the new base as the varargs.
#[cold]
#[inline(never)]
fn push_vararg_frame<'gc>(
    ts: &mut ThreadState<'gc>,
    closure: LuaClosure<'gc>,
    func: usize,
    returns: Returns,
    is_tail: bool,
) -> Result<(), Error<'gc>> {
    let p = &closure.proto().proto;
    let max_stack = p.max_stack_size as usize;
    if ts.frames.len() >= MAX_FRAMES || ts.stack.len() + max_stack + 8 >= MAX_STACK_SLOTS {
        return Err(Error::runtime("stack overflow"));
    }
    let nparams = p.num_params as usize;
    let nargs = (ts.stack.len() - func - 1).max(nparams);
    interp::set_len_nil_filled(ts, func + 1 + nargs);
    let base = func + 1 + nargs;
    for i in 0..nparams {
        let v = ts.stack[func + 1 + i];
        ts.stack.push(v);
        ts.stack[func + 1 + i] = Value::Nil;
    }
    interp::set_len_nil_filled(ts, base + max_stack);
    ts.push_frame(Frame::Lua(LuaFrame {
        closure,
        func,
        base,
        stack_end: base + max_stack,
        pc: 0,
        num_varargs: nargs - nparams,
        returns,
        top: base,
        is_tail,
        concat_resume: false,
        c_calls: 0,
    }));
    Ok(())
}

/// Pushes the continuation of the Rust function called at `func` for a call it makes;
/// returns the thread's count of C-level calls with it (see `C_CALLS_LIMIT`).
#[inline(always)]
fn push_calling_continuation<'gc>(
    ts: &mut ThreadState<'gc>,
    then: Then<'gc>,
    func: usize,
    returns: Returns,
    name: &'static str,
) -> u32 {
    let c_calls = ts.c_calls() + 1;
    ts.push_counted_frame(Frame::Continuation {
        then,
        base: func + 1,
        returns,
        ready: None,
        callee_name: name,
        c_calls,
    });
    c_calls
}

/// After a Rust function's continuation was pushed for a call it makes (`c_calls` with
/// it): refuses the call when that reached `C_CALLS_LIMIT` (PUC raises "C stack overflow"
/// from inside `lua_call`, so a `pcall` at the limit catches its own call's error).
#[inline(always)]
fn c_calls_fit<'gc>(c_calls: u32) -> Result<(), Error<'gc>> {
    if c_calls >= C_CALLS_LIMIT {
        return Err(c_stack_overflow());
    }
    Ok(())
}

#[cold]
#[inline(never)]
fn c_stack_overflow<'gc>() -> Error<'gc> {
    Error::runtime("C stack overflow")
}

/// Applies a callback's (or continuation's) action. `func` is the callback's function slot:
/// its region (arguments / results) starts at `func + 1`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn apply_action<'gc>(
    ctx: Context<'gc>,
    thread: Thread<'gc>,
    ts: &mut ThreadState<'gc>,
    func: usize,
    returns: Returns,
    action: Action<'gc>,
    name: &'static str,
    is_main: bool,
    fuel: &mut Fuel,
) -> Result<Flow<'gc>, Error<'gc>> {
    match action {
        Action::Return => {
            ts.stack.remove(func);
            let n = ts.stack.len() - func;
            // Moving the results down costs in proportion to their number.
            fuel.consume((n / VALUES_PER_UNIT) as i64);
            post_return(ctx, ts, func, n, returns)
        }
        Action::Call { function, then } => match then {
            None => {
                ts.stack[func] = function;
                // (A Rust function hidden from hooks, the string builder's, is invisible:
                // the call it makes in its place is its caller's own, not a tail call.)
                let is_tail = !hidden_from_hooks(name);
                call_function_ex(ctx, thread, ts, func, returns, is_main, fuel, is_tail)
            }
            Some(then) => {
                let c_calls = push_calling_continuation(ts, then, func, returns, name);
                // The arguments move up to make room for the function, charged by number.
                fuel.consume(values_cost(ts.stack.len() - func - 1));
                ts.stack.insert(func + 1, function);
                c_calls_fit(c_calls)?;
                call_function(ctx, thread, ts, func + 1, Returns::Multi, is_main, fuel)
            }
        },
        Action::CallAgain => Err(Error::runtime(
            "Action::CallAgain returned by a function that is not a continuation",
        )),
        Action::Yield { then } => {
            suspend_callback(ctx, ts, func, returns, name, then, is_main, fuel)
                .map(|from| Flow::Yield(from, Transfer::new()))
        }
        Action::Detach { then } => {
            let then = Then {
                name: DETACHED,
                ..then
            };
            suspend_callback(ctx, ts, func, returns, name, Some(then), is_main, fuel)
                .map(Flow::Detach)
        }
        Action::Pause { then } => {
            ts.push_frame(Frame::Continuation {
                then,
                base: func + 1,
                returns,
                ready: Some(Outcome::Returned),
                callee_name: name,
                c_calls: 0,
            });
            Ok(Flow::OutOfFuel)
        }
        Action::Resume { thread: co, then } => {
            if Thread::ptr_eq(co, thread) {
                return Err(Error::runtime("cannot resume non-suspended coroutine"));
            }
            match co.0.state.try_borrow() {
                Ok(cs) => {
                    if cs.status == ThreadStatus::Dead {
                        return Err(Error::runtime("cannot resume dead coroutine"));
                    }
                    if cs.status != ThreadStatus::Suspended
                        && !(cs.status == ThreadStatus::Normal && preempted_top(&cs))
                    {
                        return Err(Error::runtime("cannot resume non-suspended coroutine"));
                    }
                }
                Err(_) => return Err(Error::runtime("cannot resume non-suspended coroutine")),
            }
            fuel.consume(values_cost(ts.stack.len() - func - 1));
            // (The arguments stay above the continuation's base: `handle_flow` moves them.)
            ts.push_frame(Frame::continuation(then, func + 1, returns, name));
            Ok(Flow::Resume(co, func + 1))
        }
    }
}

/// Fuel for moving `n` values between two threads' stacks (resume arguments, yielded or
/// returned values).
fn values_cost(n: usize) -> i64 {
    (n / VALUES_PER_UNIT) as i64
}

/// Delivers `n` results found at `stack[func..]` to the frame now on top, following
/// `returns`.
pub(crate) fn post_return<'gc>(
    ctx: Context<'gc>,
    ts: &mut ThreadState<'gc>,
    func: usize,
    n: usize,
    returns: Returns,
) -> Result<Flow<'gc>, Error<'gc>> {
    if returns == Returns::Discard {
        ts.stack.truncate(func);
        return Ok(Flow::Continue);
    }
    let ThreadState {
        stack,
        frames,
        hook,
        ..
    } = ts;
    match frames.last_mut() {
        None => {
            // The thread's body returned: its results become the whole stack.
            stack.truncate(func + n);
            stack.drain(0..func);
            Ok(Flow::ThreadReturned)
        }
        Some(Frame::Lua(f)) => {
            if hook.wants_events() {
                // Back in a Lua function: its last traced instruction is the one that
                // called (PUC's `rethook`).
                hook.old_pc = f.pc.saturating_sub(1) as u32;
            }
            let frame_end = f.stack_end;
            match returns {
                Returns::Count(c) => {
                    let c = c as usize;
                    stack.truncate(func + n.min(c));
                    stack.resize(func + c, Value::Nil);
                    if stack.len() < frame_end {
                        stack.resize(frame_end, Value::Nil);
                    } else {
                        stack.truncate(frame_end.max(func + c));
                    }
                    Ok(Flow::Continue)
                }
                Returns::Multi => {
                    stack.truncate(func + n);
                    f.top = func + n;
                    if stack.len() < frame_end {
                        stack.resize(frame_end, Value::Nil);
                    }
                    Ok(Flow::Continue)
                }
                Returns::Discard => unreachable!("handled above"),
                Returns::Meta => {
                    let v = if n > 0 { stack[func] } else { Value::Nil };
                    stack.truncate(func);
                    interp::finish_meta(ctx, ts, v)?;
                    Ok(Flow::Continue)
                }
            }
        }
        Some(Frame::Continuation { base, ready, .. }) => {
            // (Above its region when the call is a hook's: `hook::callback_event`.)
            debug_assert!(*base <= func);
            stack.truncate(func + n);
            *ready = Some(Outcome::Returned);
            Ok(Flow::Continue)
        }
    }
}

impl<'gc> Thread<'gc> {
    /// The error that killed this coroutine, taken: a dead coroutine reports it once, so a
    /// second `coroutine.close` returns true (PUC resets the thread's status on close).
    pub fn take_death_error(self, ctx: Context<'gc>) -> Option<Value<'gc>> {
        self.0.state.try_borrow().ok()?.death_error?;
        self.borrow_mut(ctx).death_error.take()
    }

    /// Whether a suspended coroutine, or one that died by an error, has to-be-closed
    /// variables waiting.
    pub fn has_pending_closes(self) -> bool {
        self.0
            .state
            .try_borrow()
            .map(|ts| !ts.tbc_slots.is_empty())
            .unwrap_or(false)
    }

    /// Kills a suspended coroutine: closes its upvalues and drops its frames.
    pub fn kill(self, ctx: Context<'gc>) {
        let mut ts = self.borrow_mut(ctx);
        close_upvalues(ctx, &mut ts, 0);
        ts.frames.clear();
        ts.stack.clear();
        ts.tbc_slots.clear();
        ts.status = ThreadStatus::Dead;
        ts.started = true;
        ts.body = None;
    }

    /// Prepares a suspended coroutine, or one that died by `error` with to-be-closed
    /// variables pending, so that the next resume runs its pending `__close` handlers
    /// (innermost first, each getting the current error, which an erroring handler
    /// replaces) and then finishes: it returns, or raises the final error if there is one
    /// (`coroutine.close`, `coroutine.wrap`).
    pub fn start_closing(self, ctx: Context<'gc>, error: Option<Value<'gc>>) {
        let mut ts = self.borrow_mut(ctx);
        close_upvalues(ctx, &mut ts, 0);
        ts.frames.clear();
        ts.death_error = None;
        if ts.status == ThreadStatus::Dead {
            ts.status = ThreadStatus::Suspended;
        }
        ts.stack.push(Value::Nil);
        let base = ts.stack.len();
        let state = closing_state(ctx, error);
        ts.push_frame(Frame::continuation(
            Then::new("close", close_driver, state),
            base,
            Returns::Multi,
            "close",
        ));
        ts.started = true;
        ts.resume_slot = base;
        ts.resume_returns = Returns::Multi;
    }
}

/// The state of `close_driver`: `nil` while there is no error, else a table holding the
/// current error at index 1 (so that any value, `nil` included, can be the error).
fn closing_state<'gc>(ctx: Context<'gc>, error: Option<Value<'gc>>) -> Value<'gc> {
    match error {
        None => Value::Nil,
        Some(e) => {
            let t = ctx.new_table();
            let _ = t.set(ctx, Value::Integer(1), e);
            Value::Table(t)
        }
    }
}

/// Calls the next pending `__close` handler of a coroutine being closed, with the current
/// error (a handler that raises one makes it the current error; the others still run).
fn close_driver<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    outcome: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    let state = match outcome {
        Outcome::Returned => exec.upvalue,
        Outcome::Errored(e) => closing_state(ctx, Some(e)),
    };
    let error = match state {
        Value::Table(t) => Some(t.get(Value::Integer(1))),
        _ => None,
    };
    match exec.ts.tbc_slots.pop() {
        Some(slot) => {
            let v = exec.ts.stack.get(slot).copied().unwrap_or(Value::Nil);
            let mm = ctx.metamethod(v, MetaEvent::Close).unwrap_or(Value::Nil);
            exec.replace(&[v, error.unwrap_or(Value::Nil)]);
            Ok(Action::Call {
                function: mm,
                then: Some(Then::new("close", close_driver, state).catching()),
            })
        }
        None => {
            exec.clear();
            match error {
                None => Ok(Action::Return),
                Some(e) => Err(Error::Value(e)),
            }
        }
    }
}

/// The continuation of the `[C]` frame a coroutine that died by a Rust function's error
/// keeps for its traceback (never run: a dead coroutine is never resumed, and closing it
/// drops its frames).
fn dead_frame<'gc>(
    _ctx: Context<'gc>,
    _exec: &mut Exec<'gc, '_>,
    _outcome: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    Err(Error::runtime("cannot resume dead coroutine"))
}

// ---------------------------------------------------------------------------------------
// Preemption: a paused executor's running coroutines become plain thread data.

/// Frame name of the top coroutine of a preempted chain (hidden from tracebacks).
pub(crate) const PREEMPTED: &str = "(preempted)";
/// Frame name of a coroutine of a preempted chain that was resuming the next one (hidden
/// from tracebacks).
pub(crate) const RESUMING: &str = "(resuming)";

/// The name of the continuation that makes a call a callback chain left pending at a step
/// boundary (`call_boundary`): running it is free.
const PENDING_CALL: &str = "(pending call)";
/// `PENDING_CALL` for a tail call (an `Action::Call` without continuation).
const PENDING_TAIL_CALL: &str = "(pending tail call)";
/// The name of the continuation that calls a callback again after the collection it asked
/// for (`retry_callback`): running it is free (see `run_callback`).
const RETRY_CALL: &str = "retry";
/// `Then::name` of the continuation of an `Action::Detach` (the frame keeps the name of
/// the function that detached, for tracebacks).
const DETACHED: &str = "(detached)";

/// A callback's `Yield` (or `Detach`): its values leave the thread (paid for like any
/// multi-value copy: a yield through a deep chain of wrapped coroutines moves them at every
/// level), and the thread waits for the resume values at `resume_slot` — in the callback's
/// slot, or above it when a continuation `then` waits for them. Returns where the values
/// start: they stay on the stack until `handle_flow` moves them and cuts the stack at
/// `resume_slot`.
#[allow(clippy::too_many_arguments)]
fn suspend_callback<'gc>(
    ctx: Context<'gc>,
    ts: &mut ThreadState<'gc>,
    func: usize,
    returns: Returns,
    name: &'static str,
    then: Option<Then<'gc>>,
    is_main: bool,
    fuel: &mut Fuel,
) -> Result<usize, Error<'gc>> {
    if is_main {
        // Raised "inside" the C function: no position, like PUC.
        return Err(Error::Value(
            ctx.str("attempt to yield from outside a coroutine"),
        ));
    }
    if ts.hook.running {
        // PUC calls hooks across a C boundary.
        return Err(Error::Value(
            ctx.str("attempt to yield across a C-call boundary"),
        ));
    }
    fuel.consume(values_cost(ts.stack.len() - func - 1));
    match then {
        None => {
            ts.resume_slot = func;
            ts.resume_returns = returns;
        }
        Some(then) => {
            ts.push_frame(Frame::continuation(then, func + 1, returns, name));
            ts.resume_slot = func + 1;
            ts.resume_returns = Returns::Multi;
        }
    }
    // The values stay above the resume slot: `handle_flow` moves them, then cuts the stack
    // there.
    Ok(func + 1)
}

/// The name of the frame an `xpcall` message handler runs above when the error was raised
/// by Lua code (not a Rust function): tracebacks do not show it.
const HANDLER_FRAME: &str = "(message handler)";

/// Whether `name` is one of the internal frames tracebacks do not show (those of preempted
/// coroutines, the frame a message handler runs above, a call left pending at a step
/// boundary).
pub(crate) fn is_preemption_frame(name: &str) -> bool {
    name == PREEMPTED
        || name == RESUMING
        || name == HANDLER_FRAME
        || name == PENDING_CALL
        || name == PENDING_TAIL_CALL
}

/// Whether the thread was preempted (`Executor::preempt`): its top frame is a preemption
/// marker waiting for the resume that continues it.
fn preempted_top(ts: &ThreadState<'_>) -> bool {
    matches!(
        ts.frames.last(),
        Some(Frame::Continuation { then, ready: None, .. })
            if then.name == PREEMPTED || then.name == RESUMING || then.name == DETACHED
    )
}

impl<'gc> Executor<'gc> {
    /// Ends a paused executor by turning the coroutines it is running into plain thread
    /// data, so they continue later under another executor, exactly where they stopped.
    ///
    /// The executor's resume chain above its main thread (`T1` resumed by the main
    /// function, `T2` resumed by `T1`, ... `Tk` running when the fuel ran out) is detached:
    /// `Tk` gets a marker frame that, when resumed, simply continues it; each `Tj` below it
    /// gets a marker frame that, when resumed, resumes `Tj+1` again and delivers what it
    /// yields, returns or raises to `Tj`'s original resume, as if nothing had happened.
    /// Every thread of the chain is left with status `Normal`, so Lua code cannot resume or
    /// close them (`coroutine.resume` refuses a normal coroutine); an `Action::Resume` of
    /// `T1` (with no values) continues the chain. Everything is thread state (frames and a
    /// `Value` per marker), so snapshots, rollback and restores keep a preempted chain.
    ///
    /// Returns `T1` and the number of coroutines detached (`k`: the work this took, and
    /// what re-entering the chain will cost), or `None` (and does nothing) if the executor
    /// is finished or its main thread is the one running (nothing to detach). The executor
    /// itself is finished afterwards (with an error value `"preempted"`): drop it.
    pub fn preempt(self, ctx: Context<'gc>) -> Option<(Thread<'gc>, usize)> {
        let mut st = self.borrow_mut(ctx);
        if st.result.is_some() || st.threads.len() < 2 {
            return None;
        }
        let chain: Vec<Thread<'gc>> = st.threads.split_off(1);
        link_chain(ctx, &chain, true);
        if let Some(&main) = st.threads.first() {
            main.borrow_mut(ctx).status = ThreadStatus::Dead;
        }
        st.result = Some(Err(ctx.str("preempted")));
        chain.first().map(|&t| (t, chain.len()))
    }
}

/// Makes a detached resume chain (`chain[0]` resumed by the main thread, each next one by
/// the previous) plain thread data: each link gets a marker that resumes the next one, the
/// top one (with `preempt`) a marker that continues it where it stopped — without, it is
/// already waiting in an `Action::Detach` continuation — and all become `Normal`.
fn link_chain<'gc>(ctx: Context<'gc>, chain: &[Thread<'gc>], preempt: bool) {
    for (i, &t) in chain.iter().enumerate() {
        let mut ts = t.borrow_mut(ctx);
        let next = chain.get(i + 1).copied();
        if next.is_some() || preempt {
            // A link waits in its resume continuation whose region starts at the stack's
            // end; the marker's slot (`func`) is that region's base, so returning from the
            // marker's own continuation delivers to it.
            ts.stack.push(Value::Nil);
            let base = ts.stack.len();
            let (then, returns, name) = match next {
                Some(next) => (
                    Then::new(RESUMING, resume_chain, Value::Thread(next)),
                    Returns::Multi,
                    RESUMING,
                ),
                None => (
                    Then::new(PREEMPTED, resume_preempted, Value::Nil),
                    Returns::Discard,
                    PREEMPTED,
                ),
            };
            ts.push_frame(Frame::continuation(then, base, returns, name));
            ts.resume_slot = base;
            ts.resume_returns = Returns::Multi;
        }
        ts.status = ThreadStatus::Normal;
        ts.sync_charge();
    }
}

/// The marker of the top coroutine of a preempted chain: continue where it stopped (the
/// `Discard` return leaves the frame below exactly as it was).
fn resume_preempted<'gc>(
    _ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    _outcome: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    exec.clear();
    Ok(Action::Return)
}

/// The marker of a link of a preempted chain (its `state` is the next coroutine). Never
/// called: `run_continuation` re-enters the chain itself when it meets this marker.
fn resume_chain<'gc>(
    _ctx: Context<'gc>,
    _exec: &mut Exec<'gc, '_>,
    _outcome: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    Err(Error::runtime(
        "internal error: preempted chain marker called",
    ))
}

impl<'gc> Thread<'gc> {
    /// Whether this coroutine was preempted by [`Executor::preempt`] (and waits for an
    /// `Action::Resume` to continue).
    pub fn is_preempted(self) -> bool {
        self.0
            .state
            .try_borrow()
            .map(|ts| ts.status == ThreadStatus::Normal && preempted_top(&ts))
            .unwrap_or(false)
    }

    /// Kills a preempted coroutine and the coroutines it was resuming (see
    /// [`Executor::preempt`]): they become dead, their frames dropped, without running
    /// their pending `__close` handlers.
    pub fn kill_preempted(self, ctx: Context<'gc>) {
        let mut next = Some(self);
        let mut n = 0;
        while let Some(t) = next.take() {
            if !t.is_preempted() || n > MAX_RESUME_DEPTH {
                break;
            }
            n += 1;
            next = match t.borrow().frames.last() {
                Some(Frame::Continuation { then, .. }) if then.name == RESUMING => {
                    match then.state {
                        Value::Thread(inner) => Some(inner),
                        _ => None,
                    }
                }
                _ => None,
            };
            t.kill(ctx);
        }
    }

    /// A PUC-style traceback of this thread's frames (`stack traceback:` and one line per
    /// frame, innermost first), also for a coroutine that died by an error (it keeps its
    /// frames) or that is suspended or preempted. Empty (`stack traceback:`) for a running
    /// thread.
    pub fn traceback(self) -> String {
        match self.0.state.try_borrow() {
            // (Without the host's context: functions are named by their callers' code.)
            Ok(ts) => debug::traceback_skipping(&ts, 0, false, &debug::GlobalNames::none()),
            Err(_) => "stack traceback:".into(),
        }
    }
}

/// The executor's continuations and frame names in the permanents table (see `permanents`).
pub(crate) fn permanents(p: &mut crate::permanents::Permanents) {
    p.continuation(("vm", "dead_frame"), "?", dead_frame);
    p.continuation(
        ("vm", "message_handler_done"),
        "xpcall",
        message_handler_done,
    );
    p.continuation(("vm", "continue_unwinding"), "__close", continue_unwinding);
    p.continuation(("vm", "retry_callback"), RETRY_CALL, retry_callback);
    p.continuation(("vm", "close_driver"), "close", close_driver);
    p.continuation(("vm", "resume_chain"), RESUMING, resume_chain);
    p.continuation(("vm", "resume_preempted"), PREEMPTED, resume_preempted);
    p.continuation(
        ("vm", "start_message_builder"),
        MESSAGE_BUILD,
        start_message_builder,
    );
    p.continuation(
        ("vm", "raise_built_message"),
        MESSAGE_BUILD,
        raise_built_message,
    );
    p.name(DETACHED);
    p.name(HANDLER_FRAME);
    p.name(PENDING_CALL);
    p.name(PENDING_TAIL_CALL);
}

/// Whether a continuation with a preemption marker's name (`(resuming)`, `(preempted)`) is
/// that marker's own continuation (images read from bytes are checked with it: the
/// executor tells markers by name).
pub(crate) fn is_marker_continuation(name: &str, func: crate::function::ContinuationFn) -> bool {
    let f = func as usize;
    (name == RESUMING && f == resume_chain as crate::function::ContinuationFn as usize)
        || (name == PREEMPTED && f == resume_preempted as crate::function::ContinuationFn as usize)
}

/// Whether `func` is the continuation that closes a coroutine (`Thread::start_closing`).
pub(crate) fn is_close_driver(func: crate::function::ContinuationFn) -> bool {
    func as usize == close_driver as crate::function::ContinuationFn as usize
}

/// Whether `func` is a continuation that runs above the frame that raised an error and goes
/// on unwinding, never returning into it: an `xpcall` message handler's, or one building a
/// long error message (`start_message_build`). Images read from bytes are checked with it.
pub(crate) fn is_raising_continuation(func: crate::function::ContinuationFn) -> bool {
    [
        message_handler_done as crate::function::ContinuationFn,
        start_message_builder,
        raise_built_message,
    ]
    .iter()
    .any(|&f| f as usize == func as usize)
}
