//! Deterministic handling of everything that depends on the garbage collector: weak tables
//! (`__mode`) and finalizers (`__gc`).
//!
//! The rule (DESIGN.md: "define and document what a deterministic VM does"): incremental
//! collection never changes what a script can observe. Weak references are treated as strong
//! and no finalizer runs, until a **full collection** happens — requested by the script
//! (`collectgarbage()` / `collectgarbage("collect")`) or by the host (`Lua::gc_collect`).
//! Those are deterministic points of the program, and a full collection computes exact
//! reachability, so what it clears from weak tables and which finalizers it queues depend only
//! on the object graph. Queued finalizers run, in reverse order of registration, inside the
//! `collectgarbage` call that requested the collection, or at the start of the next executor
//! step for host-requested collections. Errors in finalizers are ignored (PUC emits a warning
//! that is off by default).
//!
//! Not modelled: ephemeron semantics for weak-key tables (values are traced strongly), and the
//! removal of resurrected keys being delayed one cycle (PUC's subtlety).

use std::cell::Cell;

use gc_arena::lock::RefLock;
use gc_arena::{Collect, Finalization, Gc, GcWeak};

use crate::error::Error;
use crate::executor::Exec;
use crate::function::{Action, Outcome, Then};
use crate::state::{Context, MetaEvent, State};
use crate::table::{Table, TableInner, GC_FLAG_FINALIZER, GC_FLAG_WEAK};
use crate::value::Value;

thread_local! {
    static WEAK_TRACING: Cell<bool> = const { Cell::new(false) };
    /// Value slots traced since the last completed cycle (pacing input, see `pace`).
    static TRACED_SLOTS: Cell<usize> = const { Cell::new(0) };
}

/// Records that a trace visited `n` value slots.
#[inline]
pub(crate) fn note_traced(n: usize) {
    TRACED_SLOTS.with(|t| t.set(t.get().wrapping_add(n)));
}

/// Collection pacing. gc-arena paces by object count, but one table can hold millions of
/// values: re-tracing it every few hundred allocations made collection quadratic. After each
/// completed cycle the collector sleeps for a number of allocations proportional to the
/// slots that cycle traced, so tracing costs O(1) per allocation (like PUC's 200% pause).
/// Collection timing is unobservable by scripts (see the module docs), so this is free to tune.
pub(crate) fn pace(arena: &gc_arena::Arena<gc_arena::Rootable![State<'_>]>) {
    if arena.collection_phase() != gc_arena::arena::CollectionPhase::Sleeping {
        return;
    }
    let traced = TRACED_SLOTS.with(|t| t.replace(0));
    if traced == 0 {
        return;
    }
    let mut pacing = gc_arena::metrics::Pacing::DEFAULT;
    pacing.min_sleep = (traced / 4).max(pacing.min_sleep);
    arena.metrics().set_pacing(pacing);
}

/// Whether the marking in progress is the weak-aware marking of a full collection.
pub(crate) fn weak_tracing_active() -> bool {
    WEAK_TRACING.with(|w| w.get())
}

fn set_weak_tracing(on: bool) {
    WEAK_TRACING.with(|w| w.set(on));
}

/// `(weak_keys, weak_values)` from a metatable's `__mode` string.
pub(crate) fn weak_mode_of(mt: Option<Table<'_>>) -> (bool, bool) {
    let Some(mt) = mt else { return (false, false) };
    let Ok(st) = mt.0.state.try_borrow() else {
        return (false, false);
    };
    for (k, v) in &st.entries {
        if let (Value::String(k), Value::String(v)) = (k, v) {
            if k.as_bytes() == b"__mode" {
                let b = v.as_bytes();
                return (b.contains(&b'k'), b.contains(&b'v'));
            }
        }
    }
    (false, false)
}

/// Objects with a `__gc` metamethod that have not been finalized yet (traced weakly during the
/// marking of a full collection, see `gc_unsafe`).
#[derive(Default)]
pub struct FinalizerList<'gc>(pub(crate) Vec<Value<'gc>>);

#[derive(Collect, Default)]
#[collect(no_drop)]
pub struct GcState<'gc> {
    pub(crate) finalizable: FinalizerList<'gc>,
    /// Finalizers to run, in order.
    pub(crate) pending: Vec<Value<'gc>>,
    pub(crate) weak_tables: Vec<GcWeak<'gc, TableInner<'gc>>>,
    #[collect(require_static)]
    pub(crate) full_collection_requested: bool,
}

pub type GcStateRef<'gc> = Gc<'gc, RefLock<GcState<'gc>>>;

fn is_dead<'gc>(fc: &Finalization<'gc>, v: Value<'gc>) -> bool {
    match v {
        Value::Table(t) => Gc::is_dead(fc, t.0),
        Value::Function(f) => Gc::is_dead(fc, f.0),
        Value::Callback(c) => Gc::is_dead(fc, c.0),
        Value::Thread(t) => Gc::is_dead(fc, t.0),
        Value::UserData(u) => Gc::is_dead(fc, u.0),
        _ => false,
    }
}

fn resurrect<'gc>(fc: &Finalization<'gc>, v: Value<'gc>) {
    match v {
        Value::Table(t) => Gc::resurrect(fc, t.0),
        Value::UserData(u) => Gc::resurrect(fc, u.0),
        _ => {}
    }
}

/// The `finalize` step of a full collection (see the `gc_unsafe` module docs): clear dead
/// entries of live weak tables, queue and resurrect dead finalizable objects.
pub(crate) fn finalize<'gc>(fc: &'gc Finalization<'gc>, state: &'gc State<'gc>) {
    let mut gc = state.gc.borrow_mut(fc);
    gc.weak_tables.retain(|w| !w.is_dead(fc));
    for w in &gc.weak_tables {
        let Some(inner) = w.upgrade(fc) else { continue };
        let t = Table(inner);
        let (wk, wv) = weak_mode_of(t.metatable());
        if !wk && !wv {
            continue;
        }
        let mut st = t.borrow_mut(fc);
        if wv {
            for v in st.array.iter_mut() {
                if is_dead(fc, *v) {
                    *v = Value::Nil;
                }
            }
        }
        let mut removed = 0;
        for (k, v) in st.entries.iter_mut() {
            if k.is_nil() {
                continue;
            }
            if (wk && is_dead(fc, *k)) || (wv && is_dead(fc, *v)) {
                if !v.is_nil() {
                    removed += 1;
                }
                // A cleared entry keeps its index slot but can never match a lookup again.
                *k = Value::Nil;
                *v = Value::Nil;
            }
        }
        st.tombstones += removed;
    }
    let list = std::mem::take(&mut gc.finalizable.0);
    let (dead, live): (Vec<_>, Vec<_>) = list.into_iter().partition(|v| is_dead(fc, *v));
    gc.finalizable.0 = live;
    for v in dead.into_iter().rev() {
        resurrect(fc, v);
        gc.pending.push(v);
    }
}

/// Runs a full collection on `arena` with weak tables and finalizers processed.
pub(crate) fn full_collection(arena: &mut gc_arena::Arena<gc_arena::Rootable![State<'_>]>) {
    // Finish any incremental cycle in progress (it traced weak tables strongly).
    arena.finish_cycle();
    set_weak_tracing(true);
    if let Some(marked) = arena.finish_marking() {
        marked.finalize(finalize);
    }
    // Off before marking resumes: resurrected objects are traced strongly.
    set_weak_tracing(false);
    arena.finish_cycle();
    arena.mutate(|mc, state| state.gc.borrow_mut(mc).full_collection_requested = false);
}

impl<'gc> Context<'gc> {
    /// Sets the metatable of a table or userdata and registers the object for finalization
    /// (`__gc` present now, like PUC) or weak-table treatment (`__mode`).
    pub fn set_metatable(self, v: Value<'gc>, mt: Option<Table<'gc>>) {
        let flags = match v {
            Value::Table(t) => {
                t.set_metatable(self.mutation(), mt);
                &gc_arena::Gc::as_ref(t.0).gc_flags
            }
            Value::UserData(u) => {
                u.set_metatable(self, mt);
                &gc_arena::Gc::as_ref(u.0).gc_flags
            }
            _ => return,
        };
        let Some(mt) = mt else { return };
        let mut gc = self.state().gc.borrow_mut(self.mutation());
        if flags.get() & GC_FLAG_FINALIZER == 0 && self.metatable_field(mt, MetaEvent::Gc).is_some()
        {
            flags.set(flags.get() | GC_FLAG_FINALIZER);
            gc.finalizable.0.push(v);
        }
        if let Value::Table(t) = v {
            if flags.get() & GC_FLAG_WEAK == 0
                && self.metatable_field(mt, MetaEvent::Mode).is_some()
            {
                flags.set(flags.get() | GC_FLAG_WEAK);
                gc.weak_tables.push(Gc::downgrade(t.0));
            }
        }
    }

    /// Asks the host loop (`Lua::step`) for a full collection before the next step.
    pub fn request_full_collection(self) {
        self.state()
            .gc
            .borrow_mut(self.mutation())
            .full_collection_requested = true;
    }

    pub(crate) fn has_pending_finalizers(self) -> bool {
        !self.state().gc.borrow().pending.is_empty()
    }

    fn take_pending_finalizer(self) -> Option<Value<'gc>> {
        let mut gc = self.state().gc.borrow_mut(self.mutation());
        if gc.pending.is_empty() {
            None
        } else {
            Some(gc.pending.remove(0))
        }
    }
}

/// A continuation that runs the queued finalizers one by one (errors ignored), then returns its
/// state value if it is not nil (what `collectgarbage` returns), else nothing. It takes the
/// whole queue at once, so nothing is pending (and nothing re-injected) while it runs.
pub fn run_finalizers<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    _o: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    let queue = ctx.new_table();
    let mut n = 0;
    while let Some(obj) = ctx.take_pending_finalizer() {
        n += 1;
        let _ = queue.set(ctx.mutation(), Value::Integer(n), obj);
    }
    let _ = queue.set(ctx.mutation(), ctx.str("result"), exec.upvalue);
    let _ = queue.set(ctx.mutation(), ctx.str("next"), Value::Integer(1));
    finalizer_step(ctx, exec, queue)
}

fn finalizer_continue<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    _o: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    let Value::Table(queue) = exec.upvalue else {
        return Ok(Action::Return);
    };
    finalizer_step(ctx, exec, queue)
}

fn finalizer_step<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    queue: Table<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    loop {
        let i = queue.get(ctx.str("next")).as_integer_strict().unwrap_or(1);
        let obj = queue.get_int(i);
        if obj.is_nil() {
            let result = queue.get(ctx.str("result"));
            exec.clear();
            if !result.is_nil() {
                exec.push(result);
            }
            return Ok(Action::Return);
        }
        let _ = queue.set(ctx.mutation(), ctx.str("next"), Value::Integer(i + 1));
        if let Some(f) = ctx.metamethod(obj, MetaEvent::Gc) {
            exec.replace(&[obj]);
            return Ok(Action::Call {
                function: f,
                then: Some(Then::new("__gc", finalizer_continue, Value::Table(queue)).catching()),
            });
        }
    }
}
