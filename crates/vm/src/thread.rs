//! Threads (coroutines): a value stack, a frame stack, open upvalues and to-be-closed slots.
//!
//! Invariants:
//! - `frames` is the whole call stack of the thread; no Lua operation keeps state on the
//!   Rust stack, so a thread can be paused between any two instructions (fuel, yield) and its
//!   state is entirely in this struct.
//! - `open_upvalues` is sorted by stack slot, and holds at most one upvalue per slot.
//! - `tbc_slots` is sorted ascending: the stack slots of live to-be-closed variables.

use gc_arena::barrier::Write;
use gc_arena::{Collect, Gc, Mutation};

use crate::function::{LuaClosure, Outcome, Then, UpValue};
use crate::journal::{copy_exact, Backup, Journaled, JournaledState};
use crate::object::{Reference, References};
use crate::state::Context;
use crate::value::Value;

/// A coroutine's status, as `coroutine.status` reports it.
#[derive(Debug, Copy, Clone, PartialEq, Eq, Collect)]
#[collect(require_static)]
pub enum ThreadStatus {
    /// Created or yielded; can be resumed.
    Suspended,
    /// Currently executing.
    Running,
    /// Resumed another coroutine and waits for it.
    Normal,
    /// Finished or died with an error.
    Dead,
}

/// How a called function's results are delivered to its caller.
#[derive(Debug, Copy, Clone, PartialEq, Eq, Collect)]
#[collect(require_static)]
pub enum Returns {
    /// Exactly this many values, padded with nil (a Lua `Call` with `c > 0`).
    Count(u8),
    /// All values; the caller's top is set after the last one.
    Multi,
    /// The first value finishes the interrupted instruction of the Lua frame below (a
    /// metamethod call): see `interp::finish_meta`.
    Meta,
    /// Results are dropped and the frame below is left untouched (calls injected between two
    /// instructions, like finalizers).
    Discard,
}

#[derive(Copy, Clone, Collect)]
#[collect(no_drop)]
pub struct LuaFrame<'gc> {
    pub closure: LuaClosure<'gc>,
    /// Slot of the called function; results are moved here on return.
    #[collect(require_static)]
    pub func: usize,
    /// Slot of register 0.
    #[collect(require_static)]
    pub base: usize,
    /// `base + max_stack_size`: the end of this frame's registers.
    #[collect(require_static)]
    pub stack_end: usize,
    /// Index of the next instruction.
    #[collect(require_static)]
    pub pc: usize,
    /// Number of extra arguments, stored just below `base`.
    #[collect(require_static)]
    pub num_varargs: usize,
    #[collect(require_static)]
    pub returns: Returns,
    /// End of the values produced by the last multi-result instruction (valid only between
    /// such an instruction and its consumer, or while a metamethod call interrupts it).
    #[collect(require_static)]
    pub top: usize,
    /// Whether this frame was entered through a tail call (for tracebacks).
    #[collect(require_static)]
    pub is_tail: bool,
    /// A `Concat` was interrupted by `__concat` and resumes from `top` when re-executed.
    #[collect(require_static)]
    pub concat_resume: bool,
    /// This thread's nested C-level calls up to this frame ([`Frame::c_calls`]): set by
    /// `ThreadState::push_frame`, derived from the frames (images do not carry it).
    #[collect(require_static)]
    pub c_calls: u32,
}

#[derive(Copy, Clone, Collect)]
#[collect(no_drop)]
pub enum Frame<'gc> {
    Lua(LuaFrame<'gc>),
    /// A Rust continuation waiting for the call above it. Its stack region starts at `base`
    /// (the awaited call's function slot); `ready` is set when that call has ended.
    Continuation {
        then: Then<'gc>,
        #[collect(require_static)]
        base: usize,
        #[collect(require_static)]
        returns: Returns,
        ready: Option<Outcome<'gc>>,
        /// Name used for tracebacks and `bad argument` messages.
        #[collect(require_static)]
        callee_name: &'static str,
        /// See [`LuaFrame::c_calls`].
        #[collect(require_static)]
        c_calls: u32,
    },
}

/// Most nested C-level calls in a thread: PUC-Rio Lua counts its C stack's nesting (a
/// metamethod call, a C function calling back into Lua: `pcall`, `tostring`'s `__tostring`,
/// `table.sort`'s comparator, `gsub`'s function...) and raises "C stack overflow" when a
/// call would make 200 (`LUAI_MAXCCALLS`), the call of a script's main chunk being the
/// first. lunette has no C stack, but counts the same frames ([`Frame::is_c_call`]) with the
/// main chunk at 0, so a script reaches the same depth: a runaway recursion through
/// metamethods or Rust functions ends after about 200 levels, as in PUC, not at the
/// 200,000-frame limit (which took tens of megabytes and milliseconds to unwind).
/// Coroutines count from 0 (PUC adds the resumer's count; nested resumes have their own
/// limit of 200).
pub const C_CALLS_LIMIT: u32 = 199;

/// (`Collect` is implemented in `gc_unsafe`, by `References`, reporting the slots it traces
/// to the collector's pacing.)
pub struct ThreadState<'gc> {
    /// The values, traced in segments below a watermark (see `frame_stack`).
    pub stack: crate::frame_stack::ValueStack<'gc>,
    /// The frames, traced in segments below a watermark (see `frame_stack`).
    pub frames: crate::frame_stack::FrameStack<'gc>,
    pub open_upvalues: Vec<UpValue<'gc>>,
    pub tbc_slots: Vec<usize>,
    pub status: ThreadStatus,
    /// The function a fresh coroutine will run (moved to the stack on first resume).
    pub body: Option<Value<'gc>>,
    /// Whether this thread was ever started (the difference between "fresh" and "yielded").
    pub started: bool,
    /// The error that killed the thread, if any (for `coroutine.close`).
    pub death_error: Option<Value<'gc>>,
    /// A yield is in flight: set by `Action::Yield`, consumed by the executor. Also, while the
    /// thread is suspended after a yield, the continuation to run on resume.
    pub resume_then: Option<Then<'gc>>,
    /// Slot where values passed by the next resume must be placed and how many are wanted.
    pub resume_slot: usize,
    pub resume_returns: Returns,
    /// The Rust function whose error is being raised (set where a callback's error leaves
    /// it, taken by the executor's error handling in the same step, so never seen by a
    /// snapshot): a coroutine that dies by it keeps a `[C]` frame for it in its traceback.
    pub(crate) raised_by: Option<(&'static str, usize)>,
    /// The debug hook (`debug.sethook`) and its tracing state (see `hook`).
    pub(crate) hook: crate::hook::HookState<'gc>,
    /// The thread's bytes (object, stack, frames) in the VM's memory account; resynced when
    /// the stack's buffer grows (`sync_charge`).
    pub(crate) charge: crate::memory::Charge,
}

// ---- the description of a thread (see `object`) ----

impl<'gc> Frame<'gc> {
    /// A continuation frame waiting for the call above it (`ready: None`): `then` runs when
    /// that call ends; its region starts at `base`.
    #[inline(always)]
    pub(crate) fn continuation(
        then: Then<'gc>,
        base: usize,
        returns: Returns,
        callee_name: &'static str,
    ) -> Self {
        Frame::Continuation {
            then,
            base,
            returns,
            ready: None,
            callee_name,
            c_calls: 0,
        }
    }

    /// Whether the frame stands for a C-level call in PUC-Rio Lua ([`C_CALLS_LIMIT`]): a
    /// metamethod's call, or a Rust function waiting for a call it made.
    #[inline(always)]
    pub(crate) fn is_c_call(&self) -> bool {
        match self {
            Frame::Lua(f) => f.returns == Returns::Meta,
            Frame::Continuation { .. } => true,
        }
    }

    /// The thread's nested C-level calls up to and including this frame.
    #[inline(always)]
    pub(crate) fn c_calls(&self) -> u32 {
        match self {
            Frame::Lua(f) => f.c_calls,
            Frame::Continuation { c_calls, .. } => *c_calls,
        }
    }

    #[inline(always)]
    fn set_c_calls(&mut self, n: u32) {
        match self {
            Frame::Lua(f) => f.c_calls = n,
            Frame::Continuation { c_calls, .. } => *c_calls = n,
        }
    }
}

impl<'gc> References<'gc> for Frame<'gc> {
    fn references(&self, f: &mut impl FnMut(Reference<'gc>)) {
        match self {
            Frame::Lua(LuaFrame {
                closure,
                func: _,
                base: _,
                stack_end: _,
                pc: _,
                num_varargs: _,
                returns: _,
                top: _,
                is_tail: _,
                concat_resume: _,
                c_calls: _,
            }) => f(Reference::Value(Value::Function(*closure))),
            Frame::Continuation {
                then,
                base: _,
                returns: _,
                ready,
                callee_name: _,
                c_calls: _,
            } => {
                then.references(f);
                ready.references(f);
            }
        }
    }
}

impl<'gc> References<'gc> for ThreadState<'gc> {
    fn references(&self, f: &mut impl FnMut(Reference<'gc>)) {
        self.stack.references(f);
        self.frames.references(f);
        self.references_beside_stack(f);
    }
}

impl<'gc> ThreadState<'gc> {
    /// The references `References` lists after the stack's and the frames' (the logical
    /// mark walks those two in pieces: `gc::Node::StackFrom`), in its order.
    #[inline]
    pub(crate) fn references_beside_stack(&self, f: &mut impl FnMut(Reference<'gc>)) {
        let ThreadState {
            stack: _,
            frames: _,
            open_upvalues,
            tbc_slots: _,
            status: _,
            body,
            started: _,
            death_error,
            resume_then,
            resume_slot: _,
            resume_returns: _,
            raised_by: _,
            hook,
            charge: _,
        } = self;
        open_upvalues.references(f);
        body.references(f);
        death_error.references(f);
        resume_then.references(f);
        hook.func.references(f);
    }
}

impl<'gc> JournaledState<'gc> for ThreadState<'gc> {
    type Owner = Thread<'gc>;

    fn save(&self) -> Self {
        let ThreadState {
            stack,
            frames,
            open_upvalues,
            tbc_slots,
            status,
            body,
            started,
            death_error,
            resume_then,
            resume_slot,
            resume_returns,
            raised_by: _,
            hook,
            charge,
        } = self;
        ThreadState {
            stack: stack.copy_exact(),
            frames: frames.copy_exact(),
            open_upvalues: copy_exact(open_upvalues, open_upvalues.capacity()),
            tbc_slots: copy_exact(tbc_slots, tbc_slots.capacity()),
            status: *status,
            body: *body,
            started: *started,
            death_error: *death_error,
            resume_then: *resume_then,
            resume_slot: *resume_slot,
            resume_returns: *resume_returns,
            // Set and taken within one step, so `None` whenever a snapshot can look (as in
            // images, `snapshot::capture`).
            raised_by: None,
            hook: *hook,
            // Put back exactly: a charge may lag the buffers until a resync.
            charge: charge.detached(),
        }
    }

    fn restore(&mut self, mut saved: Self) {
        // Every field comes back, except that the object keeps its own (accounted) charge,
        // set to the saved amount; the detached one is dropped with the old state.
        let bytes = saved.charge.get();
        std::mem::swap(&mut self.charge, &mut saved.charge);
        *self = saved;
        self.frames.unseal_all();
        self.stack.unseal_all();
        self.charge.set(bytes);
    }

    fn backup(owner: Thread<'gc>, saved: Box<Self>) -> Backup<'gc> {
        Backup::Thread(owner, saved)
    }
}

/// The fixed bytes of a thread (object and header).
pub(crate) const THREAD_BYTES: usize =
    crate::memory::GC_HEADER + std::mem::size_of::<ThreadInner<'static>>();

impl<'gc> ThreadState<'gc> {
    pub(crate) fn bytes(&self) -> usize {
        THREAD_BYTES + self.buffer_bytes()
    }

    /// The bytes of the buffers (stack, frames, open upvalues, to-be-closed slots).
    pub(crate) fn buffer_bytes(&self) -> usize {
        use std::mem::size_of;
        self.stack.capacity() * size_of::<Value<'static>>()
            + self.frames.capacity() * size_of::<Frame<'static>>()
            + self.open_upvalues.capacity() * size_of::<usize>()
            + self.tbc_slots.capacity() * size_of::<usize>()
    }

    pub(crate) fn sync_charge(&self) {
        self.charge.set(self.bytes());
    }

    /// Pushes a frame. When the frame stack's buffer grows, the thread's charge follows at
    /// once (a frame is ~128 bytes: a deep recursion's frames are most of its memory, and a
    /// coroutine's first frames most of its own), and the buffer grows by at most
    /// [`MAX_FRAME_GROWTH`] frames, so the charge never lags the allocation and one growth
    /// overshoots the limit by at most that much before the next safe point's check. The
    /// frame's count of C-level calls is set here ([`LuaFrame::c_calls`]).
    #[inline(always)]
    pub(crate) fn push_frame(&mut self, mut frame: Frame<'gc>) {
        frame.set_c_calls(self.c_calls() + frame.is_c_call() as u32);
        self.push_counted_frame(frame);
    }

    /// [`ThreadState::push_frame`] of a frame whose count of C-level calls the caller set
    /// (the interpreter's call fast path: a plain Lua call has its caller's count).
    #[inline(always)]
    pub(crate) fn push_counted_frame(&mut self, frame: Frame<'gc>) {
        if self.frames.len() == self.frames.capacity() {
            self.grow_frames();
        }
        self.frames.push(frame);
    }

    /// The thread's nested C-level calls now (see [`C_CALLS_LIMIT`]).
    #[inline(always)]
    pub(crate) fn c_calls(&self) -> u32 {
        self.frames.last().map_or(0, Frame::c_calls)
    }

    /// Sets every frame's count of C-level calls from the frames below it (after frames were
    /// put back from an image, which does not carry the counts).
    pub(crate) fn count_c_calls(&mut self) {
        let mut n = 0u32;
        for f in self.frames.iter_mut() {
            n += f.is_c_call() as u32;
            f.set_c_calls(n);
        }
    }

    #[cold]
    #[inline(never)]
    fn grow_frames(&mut self) {
        let cap = self.frames.capacity();
        self.frames.reserve_exact(cap.clamp(4, MAX_FRAME_GROWTH));
        self.sync_charge();
    }

    /// Resyncs the charge if a small buffer's capacity changed (after a push or insert into
    /// `open_upvalues` or `tbc_slots`; `cap` is the capacity before).
    #[inline(always)]
    pub(crate) fn sync_if_grown(&self, cap: usize, now: usize) {
        if cap != now {
            self.sync_charge();
        }
    }

    /// Whether the stack or the frames hold far more capacity than they use (after a deep
    /// recursion ended).
    pub(crate) fn has_excess(&self) -> bool {
        self.excess_piece() > 0
    }

    /// The bytes the next [`shrink_excess`](Self::shrink_excess) gives back.
    pub(crate) fn excess_piece(&self) -> usize {
        fn piece<T>(v: &Vec<T>) -> usize {
            shrunk_capacity(v).map_or(0, |cap| (v.capacity() - cap) * std::mem::size_of::<T>())
        }
        piece(self.stack.buffer()) + piece(self.frames.buffer())
    }

    /// Gives back part of an excess capacity (see [`has_excess`](Self::has_excess)): each
    /// buffer shrinks toward twice its length by at most [`MAX_SHRINK_BYTES`], and the
    /// charge follows. Called at points the script's history decides (an error unwound to
    /// its catcher, a full collection's end), so the charge, hence
    /// `collectgarbage("count")` and the memory limit's verdict, never depends on the host's
    /// step sizes.
    pub(crate) fn shrink_excess(&mut self) {
        let mut shrunk = false;
        if let Some(cap) = shrunk_capacity(self.stack.buffer()) {
            self.stack.shrink_to(cap);
            shrunk = true;
        }
        if let Some(cap) = shrunk_capacity(self.frames.buffer()) {
            self.frames.shrink_to(cap);
            shrunk = true;
        }
        if shrunk {
            self.sync_charge();
        }
    }
}

/// Most bytes one shrink gives back per buffer ([`ThreadState::shrink_excess`]): the system
/// frees memory at a cost in proportion to its pages (about 2 ms for the 30 MiB a runaway
/// recursion's stack and frames take), so a buffer that big is given back a piece at a
/// time (about 0.15 ms a piece), never in one step.
pub(crate) const MAX_SHRINK_BYTES: usize = 2 << 20;

/// Bytes given back per unit of fuel when an error's unwinding shrinks a stack (about 80 ns
/// a KiB: the system's cost of freeing pages), so a script that raises error after error
/// above a big stack pays for the freeing as it goes.
pub(crate) const SHRINK_BYTES_PER_FUEL: usize = 1 << 10;

/// A buffer at least this big (bytes) that uses less than a quarter of its capacity holds an
/// excess worth giving back (see [`ThreadState::shrink_excess`]).
const EXCESS_BYTES: usize = 1 << 20;

/// The capacity `v` shrinks to: twice its length, but at most [`MAX_SHRINK_BYTES`] less
/// than now; `None` if it holds no excess.
fn shrunk_capacity<T>(v: &Vec<T>) -> Option<usize> {
    let (len, cap) = (v.len(), v.capacity());
    let size = std::mem::size_of::<T>().max(1);
    if cap.saturating_mul(size) < EXCESS_BYTES || cap / 4 <= len {
        return None;
    }
    Some(
        len.saturating_mul(2)
            .max(cap - (MAX_SHRINK_BYTES / size).min(cap)),
    )
}

/// Most frames the frame stack grows by at once (about 1 MiB of frames): it doubles while
/// small, then grows by this much (see [`ThreadState::push_frame`]).
pub(crate) const MAX_FRAME_GROWTH: usize = 1 << 13;

#[derive(Collect)]
#[collect(no_drop)]
pub struct ThreadInner<'gc> {
    #[collect(require_static)]
    pub(crate) id: u64,
    /// For a host thread (an executor's main thread, `id` has `state::HOST_ID_BIT`): the id
    /// scripts see, assigned at their first look (0 until then; see `Context::script_id`).
    #[collect(require_static)]
    pub(crate) script_id: std::cell::Cell<u64>,
    pub(crate) state: Journaled<ThreadState<'gc>>,
}

/// A Lua thread (a coroutine, or an executor's main thread): a handle to its value stack,
/// frames, open upvalues and to-be-closed slots. Its state is journaled like a table's.
#[derive(Copy, Clone, Collect)]
#[collect(no_drop)]
pub struct Thread<'gc>(pub(crate) Gc<'gc, ThreadInner<'gc>>);

impl<'gc> Thread<'gc> {
    /// `epoch` is the journal's current one (`Journal::epoch`).
    pub(crate) fn with_id(mc: &Mutation<'gc>, epoch: u32, id: u64) -> Self {
        Thread(Gc::new(
            mc,
            ThreadInner {
                id,
                script_id: Default::default(),
                state: Journaled::new(
                    epoch,
                    ThreadState {
                        stack: crate::frame_stack::ValueStack::new(),
                        frames: crate::frame_stack::FrameStack::new(),
                        open_upvalues: Vec::new(),
                        tbc_slots: Vec::new(),
                        status: ThreadStatus::Suspended,
                        body: None,
                        started: false,
                        death_error: None,
                        resume_then: None,
                        resume_slot: 0,
                        resume_returns: Returns::Multi,
                        raised_by: None,
                        hook: Default::default(),
                        charge: if crate::state::is_host_id(id) {
                            // An executor's main thread: host machinery (its bytes, also as its
                            // stack grows, never count in `collectgarbage("count")`).
                            crate::memory::Charge::new_host(THREAD_BYTES)
                        } else {
                            crate::memory::Charge::new(THREAD_BYTES)
                        },
                    },
                ),
            },
        ))
    }

    /// A new coroutine that will run `body` when first resumed.
    pub fn new(ctx: crate::state::Context<'gc>, body: Value<'gc>) -> Self {
        let t = Thread::with_id(
            ctx.mutation(),
            ctx.state().journal.epoch(),
            ctx.next_object_id(),
        );
        ctx.state()
            .journal
            .made(ctx.mutation(), crate::snapshot::Member::Thread(t), true);
        t.borrow_mut(ctx).body = Some(body);
        t
    }

    /// The thread's object id (see [`Value::object_id`]).
    pub fn id(self) -> u64 {
        self.0.id
    }

    /// The thread's status.
    pub fn status(self) -> ThreadStatus {
        self.0.state.borrow().status
    }

    /// Mutable access to the thread. The first write of a snapshot epoch saves its current
    /// state in the journal first (see `journal`).
    #[inline]
    pub(crate) fn borrow_mut(self, ctx: Context<'gc>) -> std::cell::RefMut<'gc, ThreadState<'gc>> {
        Journaled::borrow_mut(self.cell(ctx.mutation()), ctx, self)
    }

    pub(crate) fn try_borrow_mut(
        self,
        ctx: Context<'gc>,
    ) -> Option<std::cell::RefMut<'gc, ThreadState<'gc>>> {
        Journaled::try_borrow_mut(self.cell(ctx.mutation()), ctx, self)
    }

    /// The journaled cell, behind the write barrier (mutations go through `Journaled`).
    #[inline(always)]
    pub(crate) fn cell(self, mc: &Mutation<'gc>) -> &'gc Write<Journaled<ThreadState<'gc>>> {
        gc_arena::barrier::field!(Gc::write(mc, self.0), ThreadInner, state)
    }

    pub(crate) fn borrow(self) -> std::cell::Ref<'gc, ThreadState<'gc>> {
        Gc::as_ref(self.0).state.borrow()
    }

    /// Whether `a` and `b` are the same thread.
    pub fn ptr_eq(a: Self, b: Self) -> bool {
        Gc::ptr_eq(a.0, b.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame pushed into a full frame stack resyncs the thread's charge with the grown
    /// buffer at once (a coroutine's first frames and a deep recursion's frames were charged
    /// only when the value stack happened to grow next: a suspended coroutine cost twice its
    /// charge in RSS).
    #[test]
    fn frame_stack_growth_is_charged_at_once() {
        let lua = crate::lua::Lua::core();
        lua.enter(|ctx| {
            let t = Thread::new(ctx, Value::Nil);
            let mut ts = t.borrow_mut(ctx);
            for i in 0..50_000 {
                let then = Then::new("test", |_, _, _| unreachable!(), Value::Nil);
                ts.push_frame(Frame::Continuation {
                    then,
                    base: i,
                    returns: Returns::Multi,
                    ready: None,
                    callee_name: "test",
                    c_calls: 0,
                });
                assert_eq!(ts.charge.get(), ts.bytes(), "after {} frames", i + 1);
                let cap = ts.frames.capacity();
                assert!(
                    cap <= ts.frames.len() + MAX_FRAME_GROWTH,
                    "grows by a bounded step"
                );
            }
        });
    }
}
