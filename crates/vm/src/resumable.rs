//! Resumable builtin states: the object kind that holds a builtin's continuation state as a
//! typed Rust struct (`table.sort`'s registers and interval stack, ...) instead of slots of a
//! Lua table.
//!
//! A builtin that works in pieces (calls a Lua comparator, pauses at a step boundary) keeps
//! its state in a [`Resumable`] object and waits on a continuation made by
//! [`Then::resumable`]: when the awaited call returns, the executor runs the state's
//! [`ResumableState::resume`] on the state itself, in place, through a journaled cell (the
//! first write of a snapshot epoch saves a copy, [`ResumableState::copy`]; every later one
//! costs a stamp check). The state is not a Lua value: no script can reach it; only the
//! continuation frame waiting on it (and the journal's copies) refer to it.
//!
//! A state type is described once, by its impl of [`ResumableState`]:
//! - its `Collect` derive is what the physical collector traces (sound by construction: the
//!   trait object is traced through `gc_arena::collect::DynCollect`, see `gc_unsafe`);
//! - [`ResumableState::write`] lists its fields in a fixed order as a stream of values
//!   (integers as `Value::Integer`): every value it holds, then nothing else. The logical mark
//!   and the journal's `visit_held` follow the values of that stream (`References`), images
//!   store it (`snapshot::image::Obj::Resumable`), checksums hash it, byte images write it;
//! - its reader, a plain `fn` registered in the permanents table under the state's key
//!   ([`ResumableState::key`], `Permanents::resumable`), reads the stream back (rebuild, and
//!   byte images through rebuild). Streams from bytes are untrusted: a reader checks every
//!   count, range and invariant its `resume` relies on and answers `None` for anything else
//!   (never a panic).
//!
//! Invariants:
//! - `write` lists every `Value` the state holds (a value it omits would be invisible to the
//!   logical mark of full collections and lost by snapshots); `read(write(s))` equals `s`
//!   (`snapshot::tests` checks capture → rebuild → capture).
//! - A resumable's memory charge is a function of its state (`size_bytes`), resynced after
//!   every `resume`, rollback and rebuild, so `collectgarbage("count")` does not depend on
//!   snapshots or restores.
//! - `resume` must not return `Error::CollectThenRetry` after changing the state (the executor
//!   re-runs the same continuation after the collection, with the same results).

use gc_arena::barrier::Write;
use gc_arena::collect::DynCollect;
use gc_arena::{Collect, Gc, Mutation};

use crate::error::Error;
use crate::executor::Exec;
use crate::function::{Action, Outcome, Then};
use crate::journal::{Backup, Journaled, JournaledState};
use crate::memory::{Charge, GC_HEADER};
use crate::object::{Reference, References};
use crate::permanents::PermanentKey;
use crate::state::Context;
use crate::value::Value;

/// A builtin's continuation state (see the module docs). Implement it on a struct deriving
/// `Collect` (`#[collect(no_drop)]`), register its reader with `Permanents::resumable` under
/// [`key`](Self::key), and wait on it with [`Then::resumable`].
pub trait ResumableState<'gc>: DynCollect<'gc> + 'gc {
    /// The key its reader is registered under in the permanents table.
    fn key(&self) -> PermanentKey;

    /// Writes every field, in a fixed order: the values it holds and its plain data (see the
    /// module docs: this one listing drives references, images and checksums).
    fn write(&self, w: &mut StateWriter<'gc, '_>);

    /// An exact copy (what the journal saves at the state's first write of an epoch).
    fn copy(&self) -> Box<dyn ResumableState<'gc> + 'gc>;

    /// Bytes held in the state's buffers beyond the struct itself, from their lengths (a
    /// function of the state alone); part of its memory charge.
    fn size_bytes(&self) -> usize {
        0
    }

    /// Carries on after the awaited call ended (its results are in `exec`'s region, how it
    /// ended in `outcome`). `this` is the state's own object, to wait on again
    /// ([`Then::resumable`]). Must not return `Error::CollectThenRetry` after changing the
    /// state.
    fn resume(
        &mut self,
        ctx: Context<'gc>,
        exec: &mut Exec<'gc, '_>,
        this: Resumable<'gc>,
        outcome: Outcome<'gc>,
    ) -> Result<Action<'gc>, Error<'gc>>;
}

/// Reads a state back from the stream its `write` produced (`None`: not a valid state of
/// this kind). Registered with `Permanents::resumable`.
pub type ReadStateFn =
    for<'gc> fn(&mut StateReader<'gc, '_>) -> Option<Box<dyn ResumableState<'gc> + 'gc>>;

/// Where [`ResumableState::write`] writes: a stream of values.
pub struct StateWriter<'gc, 'a> {
    sink: &'a mut dyn FnMut(Value<'gc>),
}

impl<'gc, 'a> StateWriter<'gc, 'a> {
    pub(crate) fn new(sink: &'a mut dyn FnMut(Value<'gc>)) -> Self {
        StateWriter { sink }
    }

    /// A value.
    #[inline]
    pub fn value(&mut self, v: Value<'gc>) {
        (self.sink)(v)
    }

    /// An integer.
    #[inline]
    pub fn int(&mut self, i: i64) {
        (self.sink)(Value::Integer(i))
    }

    /// A count (a length written before the elements it counts).
    #[inline]
    pub fn count(&mut self, n: usize) {
        (self.sink)(Value::Integer(n as i64))
    }
}

/// What a [`ReadStateFn`] reads: the stream a state's `write` produced (from an image,
/// possibly made from untrusted bytes: every read is checked).
pub struct StateReader<'gc, 'a> {
    values: &'a [Value<'gc>],
    pos: usize,
}

impl<'gc, 'a> StateReader<'gc, 'a> {
    pub(crate) fn new(values: &'a [Value<'gc>]) -> Self {
        StateReader { values, pos: 0 }
    }

    /// The next value (`None` at the end).
    pub fn value(&mut self) -> Option<Value<'gc>> {
        let v = *self.values.get(self.pos)?;
        self.pos += 1;
        Some(v)
    }

    /// The next value, which must be an integer.
    pub fn int(&mut self) -> Option<i64> {
        match self.value()? {
            Value::Integer(i) => Some(i),
            _ => None,
        }
    }

    /// A count written by [`StateWriter::count`] of elements of at least `width` values each:
    /// `None` if more than the stream has left.
    pub fn count(&mut self, width: usize) -> Option<usize> {
        let n = usize::try_from(self.int()?).ok()?;
        (n.checked_mul(width.max(1))? <= self.remaining()).then_some(n)
    }

    /// Values not read yet.
    pub fn remaining(&self) -> usize {
        self.values.len() - self.pos
    }

    /// Whether the whole stream was read (readers check it last).
    pub fn is_done(&self) -> bool {
        self.remaining() == 0
    }
}

/// The journaled part of a resumable: the state itself.
#[derive(Collect)]
#[collect(no_drop)]
pub(crate) struct StateBox<'gc>(pub(crate) Box<dyn ResumableState<'gc> + 'gc>);

impl<'gc> StateBox<'gc> {
    /// The state's stream (see `ResumableState::write`).
    pub(crate) fn write_to(&self, sink: &mut dyn FnMut(Value<'gc>)) {
        self.0.write(&mut StateWriter::new(sink));
    }

    /// The object's charge for this state.
    fn cost(&self) -> usize {
        GC_HEADER
            + std::mem::size_of::<ResumableInner<'static>>()
            + std::mem::size_of_val(&*self.0)
            + self.0.size_bytes()
    }
}

impl<'gc> References<'gc> for StateBox<'gc> {
    fn references(&self, f: &mut impl FnMut(Reference<'gc>)) {
        self.write_to(&mut |v| v.references(f));
    }
}

impl<'gc> JournaledState<'gc> for StateBox<'gc> {
    type Owner = Resumable<'gc>;

    fn save(&self) -> Self {
        StateBox(self.0.copy())
    }

    fn restore(&mut self, saved: Self) {
        *self = saved;
    }

    fn backup(owner: Resumable<'gc>, saved: Box<Self>) -> Backup<'gc> {
        Backup::Resumable(owner, saved)
    }
}

/// A resumable builtin state object (see the module docs).
#[derive(Collect)]
#[collect(no_drop)]
pub struct ResumableInner<'gc> {
    pub(crate) cell: Journaled<StateBox<'gc>>,
    /// The object's bytes (resynced with `StateBox::cost`).
    #[collect(require_static)]
    pub(crate) charge: Charge,
}

/// A handle to a resumable builtin state (see the module docs). Not a Lua value.
#[derive(Copy, Clone, Collect)]
#[collect(no_drop)]
pub struct Resumable<'gc>(pub(crate) Gc<'gc, ResumableInner<'gc>>);

impl<'gc> Resumable<'gc> {
    /// A new resumable holding `state`.
    pub fn new(ctx: Context<'gc>, state: Box<dyn ResumableState<'gc> + 'gc>) -> Self {
        let journal = ctx.state().journal;
        let r = Self::with_epoch(ctx.mutation(), journal.epoch(), StateBox(state));
        journal.made(ctx.mutation(), crate::snapshot::Member::Resumable(r), true);
        r
    }

    pub(crate) fn with_epoch(mc: &Mutation<'gc>, epoch: u32, state: StateBox<'gc>) -> Self {
        let charge = Charge::new(state.cost());
        Resumable(Gc::new(
            mc,
            ResumableInner {
                cell: Journaled::new(epoch, state),
                charge,
            },
        ))
    }

    pub(crate) fn cell(self, mc: &Mutation<'gc>) -> &'gc Write<Journaled<StateBox<'gc>>> {
        gc_arena::barrier::field!(Gc::write(mc, self.0), ResumableInner, cell)
    }

    /// Resyncs the charge with the state (after it changed).
    pub(crate) fn sync_charge(self) {
        let cost = self.0.cell.borrow().cost();
        self.0.charge.set(cost);
    }

    /// Runs the state's `resume` in place (journaled), then resyncs its charge.
    fn resume(
        self,
        ctx: Context<'gc>,
        exec: &mut Exec<'gc, '_>,
        outcome: Outcome<'gc>,
    ) -> Result<Action<'gc>, Error<'gc>> {
        let Some(mut st) = Journaled::try_borrow_mut(self.cell(ctx.mutation()), ctx, self) else {
            return Err(Error::runtime("resumable state in use"));
        };
        let r = st.0.resume(ctx, exec, self, outcome);
        let cost = st.cost();
        drop(st);
        self.0.charge.set(cost);
        r
    }
}

impl<'gc> References<'gc> for Resumable<'gc> {
    #[inline]
    fn references(&self, f: &mut impl FnMut(Reference<'gc>)) {
        f(Reference::Resumable(*self));
    }
}

impl<'gc> References<'gc> for ResumableInner<'gc> {
    fn references(&self, f: &mut impl FnMut(Reference<'gc>)) {
        let ResumableInner { cell, charge: _ } = self;
        cell.borrow().references(f);
    }
}

/// The key of [`resume_state`] in the permanents table.
pub(crate) const RESUME_KEY: PermanentKey = ("vm", "resumable");

/// The continuation of every [`Then::resumable`]: runs the waiting state's `resume`.
pub(crate) fn resume_state<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    outcome: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    match exec.resumable {
        Some(r) => r.resume(ctx, exec, outcome),
        None => Err(Error::runtime("resumable state lost")),
    }
}

impl<'gc> Then<'gc> {
    /// A continuation that resumes `state` (its [`ResumableState::resume`]) when the awaited
    /// call ends; `name` is what tracebacks show. Its `state` value is nil (the resumable
    /// takes its place in images).
    pub fn resumable(name: &'static str, state: Resumable<'gc>) -> Self {
        let mut then = Then::new(name, resume_state, Value::Nil);
        then.resumable = Some(state);
        then
    }
}

/// The placeholder state of a resumable a rebuild made before reading its stream.
#[derive(Collect)]
#[collect(require_static)]
pub(crate) struct Unread;

impl<'gc> ResumableState<'gc> for Unread {
    fn key(&self) -> PermanentKey {
        ("vm", "unread")
    }
    fn write(&self, _w: &mut StateWriter<'gc, '_>) {}
    fn copy(&self) -> Box<dyn ResumableState<'gc> + 'gc> {
        Box::new(Unread)
    }
    fn resume(
        &mut self,
        _ctx: Context<'gc>,
        _exec: &mut Exec<'gc, '_>,
        _this: Resumable<'gc>,
        _outcome: Outcome<'gc>,
    ) -> Result<Action<'gc>, Error<'gc>> {
        Err(Error::runtime("resumable state lost"))
    }
}
