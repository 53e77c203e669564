//! Debug hooks (`debug.sethook`): the per-thread hook state and the events, with PUC 5.4's
//! semantics, without recursing on the Rust stack.
//!
//! A thread's hook (`ThreadState::hook`) is a function, an event mask (call, return, line,
//! count) and a count. Events:
//! - **call** / **tail call**: a Lua function is entered (`call_function_ex` marks
//!   `call_pending`; the checked interpreter fires it before the function's first
//!   instruction), or a Rust function is called (the executor fires it before running it).
//! - **return**: a Lua function's `Return` (after its `__close` handlers, before the frame
//!   goes), a Rust function's or continuation's `Action::Return`, and a `coroutine.yield`
//!   when its coroutine is resumed.
//! - **line**: before an instruction, when it starts a new line, jumps back (a loop), or is
//!   a function's first (`old_pc` is PUC's `L->oldpc`: the last traced instruction, 0 on
//!   entering a function, the calling instruction after a call returns).
//! - **count**: before every `count`-th instruction.
//!
//! While a thread has a live hook (`HookState::wants_events`), `interp::run` runs in its
//! checked mode (a second instantiation of the loop, with the call and return fast paths
//! off and a check before each instruction, `before_instruction`; frames of long code run
//! there too, for its fuel check); without one the interpreter is the unchanged fast loop.
//!
//! A hook runs as an ordinary Lua call pushed by the executor: for an event of a Lua frame,
//! above a hidden continuation frame (`HOOK_FRAME`, `Returns::Discard`) whose continuation
//! (`hook_done`) drops the hook's results and resumes the interrupted code; for an event of
//! a Rust function, above a visible continuation frame that stands for that function while
//! its hook runs (`HOOKED_CALL`: runs the function when the hook returns; `HOOKED_RETURN`:
//! returns its results). While a hook runs no hook is called on that thread (`running`,
//! PUC's `allowhook`), nor while a finalizer runs there (`in_finalizer`), but instructions
//! are still counted and lines tracked, like PUC.
//! During a Lua frame's hook the frame's `pc` is one past the traced instruction (so
//! `debug.getinfo(2, "l")` reports its line); `hook_done` steps it back and marks the
//! instruction as traced (`resume_depth`), so it runs without being traced again. A `Return`
//! whose return hook ran is marked too (`returned_depth`). Errors unwinding past a hook
//! reset `running` (`unwinding`).
//!
//! The state is per thread, journaled with the thread, and part of images (`HookImg`).

use gc_arena::Collect;
use lunette_compiler::Instruction;

use crate::error::Error;
use crate::executor::{call_function, Exec, Flow, Fuel};
use crate::function::{Action, Outcome, Then};
use crate::state::Context;
use crate::thread::{Frame, Returns, Thread, ThreadState};
use crate::value::Value;

/// Call events (`"c"`).
pub(crate) const MASK_CALL: u8 = 1;
/// Return events (`"r"`).
pub(crate) const MASK_RETURN: u8 = 2;
/// Line events (`"l"`).
pub(crate) const MASK_LINE: u8 = 4;
/// Count events (a count above zero).
pub(crate) const MASK_COUNT: u8 = 8;

/// A thread's hook (see the module docs). `Default`: no hook.
#[derive(Copy, Clone, Default, Collect)]
#[collect(no_drop)]
pub(crate) struct HookState<'gc> {
    /// The hook function; nil when there is none (a coroutine inherits its creator's mask
    /// and count, not its function: PUC's hook table is per thread).
    pub(crate) func: Value<'gc>,
    /// `MASK_*` bits; zero when the hook is off.
    #[collect(require_static)]
    pub(crate) mask: u8,
    /// The count given to `sethook` (`debug.gethook` reports it).
    #[collect(require_static)]
    pub(crate) count: i32,
    /// Instructions left before the next count event.
    #[collect(require_static)]
    pub(crate) counter: i32,
    /// The last traced instruction of the running function (PUC's `L->oldpc`).
    #[collect(require_static)]
    pub(crate) old_pc: u32,
    /// A hook is running on this thread: no hook is called (PUC's `allowhook` off).
    #[collect(require_static)]
    pub(crate) running: bool,
    /// A Lua frame was pushed and has not run its first instruction: its call event (and
    /// `old_pc = 0`) is due.
    #[collect(require_static)]
    pub(crate) call_pending: bool,
    /// The depth (`frames.len()`) of the Lua frame whose current instruction was already
    /// traced and runs again (after a hook, a fuel stop before a call, a `__close` or
    /// `__concat` call); 0: none.
    #[collect(require_static)]
    pub(crate) resume_depth: u32,
    /// The depth of the Lua frame whose return event already fired; 0: none.
    #[collect(require_static)]
    pub(crate) returned_depth: u32,
}

impl HookState<'_> {
    /// Whether the thread has a hook to call: the checked interpreter runs for it (also while
    /// the hook itself runs, to count instructions and track lines as PUC does).
    #[inline(always)]
    pub(crate) fn wants_events(&self) -> bool {
        self.mask != 0 && !self.func.is_nil()
    }

    /// Whether events of `mask` call the hook now.
    #[inline(always)]
    pub(crate) fn fires(&self, mask: u8) -> bool {
        self.mask & mask != 0 && !self.running && !self.func.is_nil()
    }

    /// Whether any field needs care when frames are unwound.
    fn has_marks(&self) -> bool {
        self.running || self.call_pending || self.resume_depth != 0 || self.returned_depth != 0
    }
}

/// Name of the hidden frame a hook of a Lua frame's event runs above.
pub(crate) const HOOK_FRAME: &str = "(hook)";
/// `Then::name` of the frame that stands for a Rust function while its call hook runs.
const HOOKED_CALL: &str = "(hooked call)";
/// `Then::name` of the frame that stands for a Rust function while its return hook runs.
const HOOKED_RETURN: &str = "(hooked return)";
/// The frame name of a `coroutine.yield` whose return hook runs when it is resumed.
const YIELD_NAME: &str = "coroutine.yield";

/// An event of a Lua frame.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Event {
    Call,
    TailCall,
    Return,
    Count,
    /// The new line (`None` for a function without line information).
    Line(Option<u32>),
}

/// What `before_instruction` found: the hooks to call before the instruction.
#[derive(Copy, Clone, Debug)]
pub(crate) struct Fire {
    pub(crate) event: Event,
    /// A line event due right after a count event (both fire before one instruction).
    pub(crate) then_line: Option<Option<u32>>,
}

fn line_at(p: &lunette_compiler::Prototype, pc: usize) -> Option<u32> {
    p.lines.get(pc).copied()
}

/// The checked interpreter's check before the instruction at `pc` of the top frame (a Lua
/// frame): counts it, tracks its line, and says which hooks to call first (PUC's
/// `luaG_traceexec` and `luaD_hookcall`). `None`: run the instruction.
#[cold]
#[inline(never)]
pub(crate) fn before_instruction<'gc>(
    ctx: Context<'gc>,
    thread: Thread<'gc>,
    ts: &mut ThreadState<'gc>,
    pc: usize,
) -> Option<Fire> {
    let depth = ts.frames.len() as u32;
    let ThreadState { frames, hook, .. } = ts;
    let Some(Frame::Lua(f)) = frames.last() else {
        return None;
    };
    if !hook.wants_events() {
        return None;
    }
    if hook.resume_depth == depth {
        // Traced already: it runs again (or at last) after a hook, a stop or a metamethod.
        hook.resume_depth = 0;
        hook.old_pc = pc as u32;
        return None;
    }
    if hook.call_pending {
        hook.call_pending = false;
        hook.old_pc = 0;
        if hook.fires(MASK_CALL) && !in_finalizer(ctx, thread) {
            // The instruction is traced when the call hook has returned.
            let event = if f.is_tail {
                Event::TailCall
            } else {
                Event::Call
            };
            return Some(Fire {
                event,
                then_line: None,
            });
        }
    }
    let p = &f.closure.proto().proto;
    if pc > 0 && matches!(p.code.get(pc - 1), Some(Instruction::TailCall { .. })) {
        // The `Return` after a tail call of a Rust function (lunette keeps the frame for
        // it): PUC returns straight from its `TAILCALL`, so this is no instruction of its.
        return None;
    }
    if let Some(Instruction::TForLoop { .. }) = p.code.get(pc) {
        // PUC's `TFORCALL` runs its `TFORLOOP` without fetching it: never traced.
        return None;
    }
    let mut count = false;
    if hook.mask & MASK_COUNT != 0 {
        hook.counter = hook.counter.saturating_sub(1);
        if hook.counter <= 0 {
            hook.counter = hook.count;
            count = true;
        }
    }
    // A count hook that runs is a call returning to this frame: `old_pc` is then this
    // instruction, so the line event fires after it (PUC's `rethook` before its line test).
    let count_hook = count && !hook.running;
    let mut line = None;
    if hook.mask & MASK_LINE != 0 {
        // A stale `old_pc` (from another function) is taken as 0, like PUC.
        let old = if (hook.old_pc as usize) < p.code.len() {
            hook.old_pc as usize
        } else {
            0
        };
        let new_line = line_at(p, pc);
        let changed = !p.lines.is_empty() && line_at(p, old) != new_line;
        if pc <= old || changed || count_hook {
            line = Some(new_line);
        }
        hook.old_pc = pc as u32;
    }
    if hook.running || (!count && line.is_none()) || in_finalizer(ctx, thread) {
        return None;
    }
    match (count, line) {
        (true, then_line) => Some(Fire {
            event: Event::Count,
            then_line,
        }),
        (false, Some(l)) => Some(Fire {
            event: Event::Line(l),
            then_line: None,
        }),
        (false, None) => None,
    }
}

/// Whether the `Return` the top Lua frame is executing fires its return event now (not if
/// it did already: the `Return` runs again after its hook).
#[cold]
#[inline(never)]
pub(crate) fn return_event<'gc>(
    ctx: Context<'gc>,
    thread: Thread<'gc>,
    ts: &mut ThreadState<'gc>,
) -> bool {
    let depth = ts.frames.len() as u32;
    if ts.hook.returned_depth == depth {
        ts.hook.returned_depth = 0;
        return false;
    }
    ts.hook.fires(MASK_RETURN) && !in_finalizer(ctx, thread)
}

/// Whether a finalizer (`__gc`) runs on `thread`: no hook is called then, like PUC (which
/// turns `allowhook` off while it runs one).
pub(crate) fn in_finalizer<'gc>(ctx: Context<'gc>, thread: Thread<'gc>) -> bool {
    matches!(ctx.state().gc.borrow().finalizing, Value::Thread(t) if Thread::ptr_eq(t, thread))
}

/// What `hook_done` does when the hook of a Lua frame's event returns (its state's low
/// bits): the frame's `pc` goes back to the traced instruction, which then runs without
/// being traced again (`TRACED`; not after a call event: the first instruction is traced
/// after the call hook) and without its return event again (`RETURNED`).
const TRACED: i64 = 1;
const RETURNED: i64 = 2;
/// A line event is due after this (count) hook: the line is in the bits above 32 (nil
/// with `PENDING_NIL_LINE`).
const PENDING_LINE: i64 = 4;
const PENDING_NIL_LINE: i64 = 8;

fn event_name(event: Event) -> &'static str {
    match event {
        Event::Call => "call",
        Event::TailCall => "tail call",
        Event::Return => "return",
        Event::Count => "count",
        Event::Line(_) => "line",
    }
}

/// Pushes the hook function and its arguments (`event`, the line or nil) at the top of the
/// stack and calls it (`running` set: no hook inside a hook). The frame it returns to must
/// be pushed first. The call is charged one unit, like any call.
fn call_hook<'gc>(
    ctx: Context<'gc>,
    thread: Thread<'gc>,
    ts: &mut ThreadState<'gc>,
    event: Event,
    is_main: bool,
    fuel: &mut Fuel,
) -> Result<Flow<'gc>, Error<'gc>> {
    ts.hook.running = true;
    fuel.consume(1);
    let slot = ts.stack.len();
    let line = match event {
        Event::Line(Some(l)) => Value::Integer(l as i64),
        _ => Value::Nil,
    };
    ts.stack.push(ts.hook.func);
    ts.stack.push(ctx.str(event_name(event)));
    ts.stack.push(line);
    call_function(ctx, thread, ts, slot, Returns::Multi, is_main, fuel)
}

/// Calls the hook for `fire`, an event of the top Lua frame, whose `pc` is one past the
/// traced instruction (saved by the interpreter).
pub(crate) fn call_from_lua<'gc>(
    ctx: Context<'gc>,
    thread: Thread<'gc>,
    ts: &mut ThreadState<'gc>,
    fire: Fire,
    is_main: bool,
    fuel: &mut Fuel,
) -> Result<Flow<'gc>, Error<'gc>> {
    let mut state = match fire.event {
        Event::Call | Event::TailCall => 0,
        Event::Return => TRACED | RETURNED,
        Event::Count | Event::Line(_) => TRACED,
    };
    match fire.then_line {
        None => {}
        Some(None) => state |= PENDING_LINE | PENDING_NIL_LINE,
        Some(Some(l)) => state |= PENDING_LINE | ((l as i64) << 32),
    }
    // The hook's slot: its results are dropped there (`Returns::Discard`).
    ts.stack.push(Value::Nil);
    let base = ts.stack.len();
    let then = Then::new(HOOK_FRAME, hook_done, Value::Integer(state));
    ts.push_frame(Frame::continuation(
        then,
        base,
        Returns::Discard,
        HOOK_FRAME,
    ));
    call_hook(ctx, thread, ts, fire.event, is_main, fuel)
}

/// The continuation of a Lua frame's hook (see `call_from_lua`): calls the pending line
/// hook, or resumes the frame at the traced instruction.
fn hook_done<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    outcome: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    if let Outcome::Errored(e) = outcome {
        return Err(Error::Value(e));
    }
    let Value::Integer(state) = exec.upvalue else {
        return Err(Error::runtime("internal error: lost hook state"));
    };
    let ts = &mut *exec.ts;
    if state & PENDING_LINE != 0 && !ts.hook.func.is_nil() {
        // PUC calls the line hook right after the count hook (with the hook function of
        // now, whatever the mask).
        let line = if state & PENDING_NIL_LINE != 0 {
            Value::Nil
        } else {
            Value::Integer(state >> 32)
        };
        let func = ts.hook.func;
        exec.charge(1);
        exec.replace(&[ctx.str("line"), line]);
        return Ok(Action::Call {
            function: func,
            then: Some(Then::new(
                HOOK_FRAME,
                hook_done,
                Value::Integer(state & (TRACED | RETURNED)),
            )),
        });
    }
    ts.hook.running = false;
    let depth = ts.frames.len() as u32;
    // (No marks if the hook turned hooks off: the fast interpreter would not consume them.)
    let marks = ts.hook.wants_events();
    if let Some(Frame::Lua(f)) = ts.frames.last_mut() {
        f.pc = f.pc.saturating_sub(1);
        if marks && state & TRACED != 0 {
            ts.hook.resume_depth = depth;
        }
        if marks && state & RETURNED != 0 {
            ts.hook.returned_depth = depth;
        }
    }
    exec.clear();
    Ok(Action::Return)
}

/// Fires the call (`Event::Call`) or return (`Event::Return`) event of Rust function
/// `stack[func]`, whose arguments or results are above it: a frame stands for the function
/// while the hook runs, then runs it (`hooked_call`) or returns the results
/// (`hooked_return`). The frame's state is the number of values above `func`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn callback_event<'gc>(
    ctx: Context<'gc>,
    thread: Thread<'gc>,
    ts: &mut ThreadState<'gc>,
    event: Event,
    func: usize,
    returns: Returns,
    name: &'static str,
    is_main: bool,
    fuel: &mut Fuel,
) -> Result<Flow<'gc>, Error<'gc>> {
    let n = Value::Integer((ts.stack.len() - func - 1) as i64);
    let then = match event {
        Event::Call => Then::new(HOOKED_CALL, hooked_call, n),
        _ => Then::new(HOOKED_RETURN, hooked_return, n),
    };
    ts.push_frame(Frame::continuation(then, func + 1, returns, name));
    call_hook(ctx, thread, ts, event, is_main, fuel)
}

/// What `hooked_call` and `hooked_return` do first: the hook is over (its error goes on),
/// and its results are dropped (the frame's region keeps the `n` values saved in its state).
fn end_callback_hook<'gc>(
    exec: &mut Exec<'gc, '_>,
    outcome: Outcome<'gc>,
) -> Result<(), Error<'gc>> {
    if let Outcome::Errored(e) = outcome {
        return Err(Error::Value(e));
    }
    exec.ts.hook.running = false;
    let Value::Integer(n) = exec.upvalue else {
        return Err(Error::runtime("internal error: lost hook state"));
    };
    if (n as u64 as usize) < exec.len() {
        exec.truncate(n as usize);
    }
    Ok(())
}

/// After a Rust function's call hook: drops the hook's results and runs the function on
/// its arguments (this frame's region), as the frame it stands for.
fn hooked_call<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    outcome: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    end_callback_hook(exec, outcome)?;
    let func = exec.base - 1;
    let Some(Value::Callback(cb)) = exec.ts.stack.get(func).copied() else {
        return Err(Error::runtime("internal error: hooked function lost"));
    };
    let inner = gc_arena::Gc::as_ref(cb.0);
    exec.upvalue = inner.upvalue;
    match (inner.func)(ctx, exec) {
        Err(e) if !matches!(e, Error::CollectThenRetry) => {
            // Shown in tracebacks like an error of a directly called function.
            exec.ts.raised_by = Some((inner.name, func));
            Err(e)
        }
        r => r,
    }
}

/// After a Rust function's return hook: drops the hook's results and returns the
/// function's.
fn hooked_return<'gc>(
    _ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    outcome: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    end_callback_hook(exec, outcome)?;
    Ok(Action::Return)
}

/// Whether a continuation's `Action::Return` is a Rust function returning (its return
/// event fires): not the executor's internal frames (hooks, injected calls, preemption
/// markers, coroutine closing).
pub(crate) fn is_function_return(then: &Then<'_>, returns: Returns) -> bool {
    returns != Returns::Discard
        && then.name != HOOKED_RETURN
        && !crate::executor::is_preemption_frame(then.name)
        && !crate::executor::is_close_driver(then.func)
}

/// A coroutine that yielded from a Rust function with no continuation (`coroutine.yield`)
/// is resumed with `args`: its return event fires, with a frame for the yield, before the
/// values reach `resume_slot`.
pub(crate) fn resume_after_yield<'gc>(
    ctx: Context<'gc>,
    thread: Thread<'gc>,
    ts: &mut ThreadState<'gc>,
    args: &[Value<'gc>],
    fuel: &mut Fuel,
) -> Result<Flow<'gc>, Error<'gc>> {
    let slot = ts.resume_slot;
    let returns = ts.resume_returns;
    ts.stack.truncate(slot);
    ts.stack.push(Value::Nil);
    ts.stack.extend_from_slice(args);
    callback_event(
        ctx,
        thread,
        ts,
        Event::Return,
        slot,
        returns,
        YIELD_NAME,
        false,
        fuel,
    )
}

/// An error unwinds the thread's frames to `keep` frames: marks of frames that are gone
/// are dropped, and `running` stays set only if a hook's frame remains (the error was
/// caught inside the hook), like PUC's `pcall` restoring `allowhook`.
pub(crate) fn unwinding(ts: &mut ThreadState<'_>, keep: usize) {
    if !ts.hook.has_marks() {
        return;
    }
    let keep = keep.min(ts.frames.len());
    let h = &mut ts.hook;
    h.call_pending = false;
    if h.resume_depth as usize > keep {
        h.resume_depth = 0;
    }
    if h.returned_depth as usize > keep {
        h.returned_depth = 0;
    }
    if h.running {
        h.running = ts.frames[..keep].iter().any(is_hook_caller);
    }
}

/// Whether the frame waits for a hook function running above it.
pub(crate) fn is_hook_caller(f: &Frame<'_>) -> bool {
    matches!(f, Frame::Continuation { then, ready: None, .. }
        if then.name == HOOK_FRAME || then.name == HOOKED_CALL || then.name == HOOKED_RETURN)
}

/// Whether a frame is hidden from stack levels and tracebacks (the frame a Lua frame's
/// hook runs above: `debug.getinfo(2)` in the hook is the hooked function).
#[inline]
pub(crate) fn is_hidden(f: &Frame<'_>) -> bool {
    matches!(f, Frame::Continuation { callee_name, .. } if *callee_name == HOOK_FRAME)
}

/// Whether `func` is the continuation of a Lua frame's hook (`hook_done`: it steps the
/// frame below back, so images read from bytes are checked with it).
pub(crate) fn is_hook_done(func: crate::function::ContinuationFn) -> bool {
    func as usize == hook_done as crate::function::ContinuationFn as usize
}

/// The hook's continuations and frame names in the permanents table.
pub(crate) fn permanents(p: &mut crate::permanents::Permanents) {
    p.continuation(("vm", "hook_done"), HOOK_FRAME, hook_done);
    p.continuation(("vm", "hooked_call"), HOOKED_CALL, hooked_call);
    p.continuation(("vm", "hooked_return"), HOOKED_RETURN, hooked_return);
    p.name(YIELD_NAME);
}

// ---- the API of `debug.sethook` / `debug.gethook` ----

/// A thread's hook as `debug.gethook` reports it.
#[derive(Copy, Clone, Debug)]
pub struct HookInfo<'gc> {
    /// The hook function (nil for a hook a coroutine inherited from its creator).
    pub function: Value<'gc>,
    /// The events: `c`, `r`, `l` in that order (PUC's `unmakemask`).
    pub mask: &'static str,
    /// The count given to `sethook`.
    pub count: i64,
}

const MASK_NAMES: [&str; 8] = ["", "c", "r", "cr", "l", "cl", "rl", "crl"];

impl<'gc> Exec<'gc, '_> {
    /// Sets the hook of `thread` (default: the running thread), like `lua_sethook`:
    /// `function` called for the events in `mask` (`c`all, `r`eturn, `l`ine; other
    /// characters are ignored) and every `count` instructions when `count > 0`; `None`, an
    /// empty mask and no count turn it off. The instruction counter restarts.
    pub fn set_hook(
        &mut self,
        ctx: Context<'gc>,
        thread: Option<Thread<'gc>>,
        hook: Option<(Value<'gc>, &[u8], i64)>,
    ) {
        let (func, mask, count) = match hook {
            None => (Value::Nil, 0, 0),
            Some((f, smask, count)) => {
                // `int` in PUC's API.
                let count = count as i32;
                let mut mask = 0;
                for (c, bit) in [(b'c', MASK_CALL), (b'r', MASK_RETURN), (b'l', MASK_LINE)] {
                    if smask.contains(&c) {
                        mask |= bit;
                    }
                }
                if count > 0 {
                    mask |= MASK_COUNT;
                }
                if mask == 0 {
                    (Value::Nil, 0, count)
                } else {
                    (f, mask, count)
                }
            }
        };
        let set = |h: &mut HookState<'gc>| {
            h.func = func;
            h.mask = mask;
            h.count = count;
            h.counter = count;
            if mask == 0 {
                // Marks are for a thread with a hook: nothing takes them without one (the
                // interpreter sets them only while there is one).
                h.call_pending = false;
                h.resume_depth = 0;
                h.returned_depth = 0;
            }
        };
        match thread {
            Some(t) if !Thread::ptr_eq(t, self.thread) => {
                if let Some(mut ts) = t.try_borrow_mut(ctx) {
                    set(&mut ts.hook);
                }
            }
            _ => set(&mut self.ts.hook),
        }
    }

    /// The hook of `thread` (default: the running thread), `None` when it has none.
    pub fn hook(&self, thread: Option<Thread<'gc>>) -> Option<HookInfo<'gc>> {
        let get = |h: &HookState<'gc>| {
            (h.mask != 0).then(|| HookInfo {
                function: h.func,
                mask: MASK_NAMES[(h.mask & 7) as usize],
                count: h.count as i64,
            })
        };
        match thread {
            Some(t) if !Thread::ptr_eq(t, self.thread) => {
                t.0.state.try_borrow().ok().and_then(|ts| get(&ts.hook))
            }
            _ => get(&self.ts.hook),
        }
    }

    /// Whether a hook is running on this thread (it cannot yield: PUC calls hooks across a
    /// C boundary).
    pub fn in_hook(&self) -> bool {
        self.ts.hook.running
    }

    /// Gives coroutine `co` the running thread's hook mask and count, as PUC's
    /// `lua_newthread` does (not its function: `debug.gethook(co)` reports nil for it, and
    /// no hook is called until one is set for `co`).
    pub fn inherit_hook(&self, ctx: Context<'gc>, co: Thread<'gc>) {
        let h = self.ts.hook;
        if h.mask == 0 || Thread::ptr_eq(co, self.thread) {
            return;
        }
        if let Some(mut cs) = co.try_borrow_mut(ctx) {
            cs.hook.mask = h.mask;
            cs.hook.count = h.count;
            cs.hook.counter = h.count;
        }
    }
}
