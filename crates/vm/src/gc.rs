//! Deterministic handling of everything that depends on the garbage collector: weak tables
//! (`__mode`) and finalizers (`__gc`).
//!
//! The rule (DESIGN.md: "define and document what a deterministic VM does"): incremental
//! collection never changes what a script can observe. Weak references are treated as strong
//! and no finalizer runs, until a **full collection** happens — requested by the script
//! (`collectgarbage()` / `collectgarbage("collect")`) or by the host (`Lua::gc_collect`).
//! Those are deterministic points of the program, and a full collection computes exact
//! reachability with its own *logical mark* from the roots (`logical_collection`), not with
//! the physical collector: what it clears from weak tables, which finalizers it queues and
//! what `collectgarbage("count")` reports depend only on the logical object graph — not on
//! what else keeps objects physically alive (host-side state, snapshot machinery) or on when
//! incremental cycles ran. The physical collector (gc-arena) only frees memory; it traces
//! everything strongly. Queued finalizers run, in reverse order of registration, inside the
//! `collectgarbage` call that requested the collection, or at the start of the next executor
//! step for host-requested collections. Errors in finalizers are ignored (PUC emits a warning
//! that is off by default).
//!
//! Weak-key tables are ephemerons (a value is reachable through its entry only if its key is),
//! like PUC. Not modelled: the removal of resurrected keys being delayed one cycle (PUC's
//! subtlety).

use std::cell::Cell;

use gc_arena::lock::RefLock;
use gc_arena::{Collect, Gc, GcWeak, Mutation};

use crate::error::Error;
use crate::executor::Exec;
use crate::function::Then;
use crate::function::{Action, Outcome};
use crate::state::{Context, MetaEvent, State};
use crate::table::{Table, TableInner, GC_FLAG_FINALIZER, GC_FLAG_WEAK};
use crate::value::Value;

thread_local! {
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

/// An object met by the logical mark.
#[derive(Clone, Copy)]
enum Node<'gc> {
    Table(Table<'gc>),
    Closure(crate::function::LuaClosure<'gc>),
    Proto(Gc<'gc, crate::function::FunctionProto<'gc>>),
    UpValue(crate::function::UpValue<'gc>),
    Callback(crate::function::Callback<'gc>),
    Thread(crate::thread::Thread<'gc>),
    UserData(crate::userdata::UserData<'gc>),
    Executor(crate::executor::Executor<'gc>),
}

#[inline]
fn addr<T>(gc: Gc<'_, T>) -> usize {
    Gc::as_ptr(gc) as *const () as usize
}

/// The logical mark of a full collection: the objects strongly reachable from the roots (the
/// root state, pending finalizers, host handles), following weak tables' strong parts only
/// and not the finalizer list. Independent of what the physical collector keeps alive (e.g.
/// old states a snapshot ring holds), so weak tables, finalizers and `collectgarbage("count")`
/// come out the same in every VM with the same logical state.
struct LogicalMark<'gc> {
    seen: hashbrown::HashSet<
        usize,
        std::hash::BuildHasherDefault<lunette_gc_snapshot::AddressHasher>,
    >,
    stack: Vec<Node<'gc>>,
    /// Bytes of the reachable objects (their memory charges).
    bytes: usize,
    /// Reached tables with weak keys and strong values: ephemerons, whose values are only
    /// reachable through them if their key is (PUC's `convergeephemerons`).
    ephemerons: Vec<Table<'gc>>,
}

impl<'gc> LogicalMark<'gc> {
    fn node(&mut self, key: usize, n: Node<'gc>) {
        if self.seen.insert(key) {
            self.stack.push(n);
        }
    }

    fn value(&mut self, v: Value<'gc>) {
        match v {
            Value::String(s) => {
                if self.seen.insert(addr(s.0)) {
                    self.bytes += crate::string::string_cost(s.len());
                }
            }
            Value::Table(t) => self.node(addr(t.0), Node::Table(t)),
            Value::Function(f) => self.node(addr(f.0), Node::Closure(f)),
            Value::Callback(c) => self.node(addr(c.0), Node::Callback(c)),
            Value::Thread(t) => self.node(addr(t.0), Node::Thread(t)),
            Value::UserData(u) => self.node(addr(u.0), Node::UserData(u)),
            Value::Nil | Value::Boolean(_) | Value::Integer(_) | Value::Float(_) => {}
        }
    }

    /// Whether `v` survives in a weak table: strings are values, not objects, for weakness
    /// (never removed, like PUC); objects survive if the mark reached them.
    fn is_marked(&self, v: Value<'gc>) -> bool {
        match v {
            Value::String(_) => true,
            other => other.gc_address().is_none_or(|a| self.seen.contains(&a)),
        }
    }

    /// Marks everything, then the values of ephemeron entries whose keys turned out reachable,
    /// until nothing new is reached.
    fn converge(&mut self) {
        loop {
            self.run();
            let mut grew = false;
            for i in 0..self.ephemerons.len() {
                let t = self.ephemerons[i];
                let st = t.0.state.borrow();
                for (k, v) in &st.entries {
                    let value_reached = v.gc_address().is_none_or(|a| self.seen.contains(&a));
                    if !k.is_nil() && self.is_marked(*k) && !value_reached {
                        self.value(*v);
                        grew = true;
                    }
                }
            }
            if !grew {
                return;
            }
        }
    }

    fn then(&mut self, t: &Then<'gc>) {
        self.value(t.state);
        self.value(t.handler);
    }

    fn run(&mut self) {
        use crate::function::UpValueState;
        use crate::thread::Frame;
        while let Some(n) = self.stack.pop() {
            match n {
                Node::Table(t) => {
                    let st = t.0.state.borrow();
                    self.bytes += st.charge.get();
                    let (wk, wv) = if t.0.gc_flags.get() & GC_FLAG_WEAK != 0 {
                        weak_mode_of(st.metatable)
                    } else {
                        (false, false)
                    };
                    if !wv {
                        for v in &st.array {
                            self.value(*v);
                        }
                    }
                    if wk && !wv {
                        self.ephemerons.push(t);
                    }
                    for (k, v) in &st.entries {
                        if !wk || matches!(k, Value::String(_)) {
                            self.value(*k);
                        }
                        // An ephemeron's value is marked once its key is (`converge`).
                        if !wv && (!wk || self.is_marked(*k)) {
                            self.value(*v);
                        }
                    }
                    if let Some(mt) = st.metatable {
                        self.value(Value::Table(mt));
                    }
                }
                Node::Closure(c) => {
                    self.bytes += c.0._charge.get();
                    self.node(addr(c.0.proto), Node::Proto(c.0.proto));
                    for u in c.0.upvalues.iter() {
                        let u = u.get();
                        self.node(addr(u), Node::UpValue(u));
                    }
                }
                Node::Proto(p) => {
                    self.bytes += p._charge.get();
                    for v in p.constants.iter() {
                        self.value(*v);
                    }
                    for c in p.children.iter() {
                        self.node(addr(*c), Node::Proto(*c));
                    }
                }
                Node::UpValue(u) => match u.get() {
                    UpValueState::Open { thread, .. } => self.value(Value::Thread(thread)),
                    UpValueState::Closed(v) => self.value(v),
                },
                Node::Callback(c) => {
                    self.bytes += c.0._charge.get();
                    self.value(c.0.upvalue);
                }
                Node::Thread(t) => {
                    let ts = t.borrow();
                    self.bytes += ts.charge.get();
                    for v in &ts.stack {
                        self.value(*v);
                    }
                    for f in &ts.frames {
                        match f {
                            Frame::Lua(lf) => self.value(Value::Function(lf.closure)),
                            Frame::Continuation { then, ready, .. } => {
                                self.then(then);
                                if let Some(Outcome::Errored(v)) = ready {
                                    self.value(*v);
                                }
                            }
                        }
                    }
                    for u in &ts.open_upvalues {
                        self.node(addr(*u), Node::UpValue(*u));
                    }
                    if let Some(b) = ts.body {
                        self.value(b);
                    }
                    if let Some(e) = ts.death_error {
                        self.value(e);
                    }
                    if let Some(t) = &ts.resume_then {
                        self.then(t);
                    }
                }
                Node::UserData(u) => {
                    self.bytes += u.0._charge.get();
                    if let Some(mt) = u.metatable() {
                        self.value(Value::Table(mt));
                    }
                }
                Node::Executor(e) => {
                    let st = e.0.borrow();
                    for t in &st.threads {
                        self.value(Value::Thread(*t));
                    }
                    if let Some(Err(v)) = st.result {
                        self.value(v);
                    }
                }
            }
        }
    }
}

/// The semantic part of a full collection, decided by a logical mark (see `LogicalMark`):
/// clears the entries of reachable weak tables whose weak key or value is unreachable, queues
/// unreachable finalizable objects (newest first) to have their finalizers run, and sets what
/// `collectgarbage("count")` reports to the reachable objects' bytes. Runs between steps.
pub(crate) fn logical_collection<'gc>(mc: &Mutation<'gc>, state: &State<'gc>) {
    let mut m = LogicalMark {
        seen: Default::default(),
        stack: Vec::new(),
        bytes: 0,
        ephemerons: Vec::new(),
    };
    m.value(Value::Table(state.globals));
    m.value(Value::Table(state.registry));
    m.value(Value::Thread(state.main_thread));
    if let Some(t) = state.string_metatable.get() {
        m.value(Value::Table(t));
    }
    for s in state.meta_names.iter() {
        m.value(Value::String(*s));
    }
    for v in state.gc.borrow().pending.iter() {
        m.value(*v);
    }
    let crate::handle::HandleRoots { values, executors } = crate::handle::handle_roots(state);
    for (_, v) in values {
        m.value(v);
    }
    for (_, e) in executors {
        m.node(addr(e.0), Node::Executor(e));
    }
    m.converge();

    let mut gc = state.gc.borrow_mut(mc);
    gc.weak_tables.retain(|w| !w.is_dropped());
    let weak: Vec<_> = gc
        .weak_tables
        .iter()
        .filter_map(|w| w.upgrade(mc))
        .collect();
    for inner in weak {
        if !m.seen.contains(&addr(inner)) {
            continue;
        }
        let t = Table(inner);
        let (wk, wv) = weak_mode_of(t.metatable());
        if !wk && !wv {
            continue;
        }
        let dead_entries = {
            let st = t.0.state.borrow();
            (wv && st.array.iter().any(|v| !m.is_marked(*v)))
                || st.entries.iter().any(|(k, v)| {
                    !k.is_nil() && ((wk && !m.is_marked(*k)) || (wv && !m.is_marked(*v)))
                })
        };
        if !dead_entries {
            continue;
        }
        let mut st = t.borrow_mut(mc);
        if wv {
            for v in st.array.iter_mut() {
                if !m.is_marked(*v) {
                    *v = Value::Nil;
                }
            }
        }
        let mut removed = 0;
        for (k, v) in st.entries.iter_mut() {
            if k.is_nil() {
                continue;
            }
            if (wk && !m.is_marked(*k)) || (wv && !m.is_marked(*v)) {
                if !v.is_nil() {
                    removed += 1;
                }
                *k = Value::Nil;
                *v = Value::Nil;
            }
        }
        st.tombstones += removed;
        // Drop the cleared entries (they have no key left to hash); the others keep their
        // order, so a traversal in progress goes on correctly.
        st.drop_cleared_entries();
    }
    let list = std::mem::take(&mut gc.finalizable.0);
    let (dead, live): (Vec<_>, Vec<_>) = list.into_iter().partition(|v| !m.is_marked(*v));
    gc.finalizable.0 = live;
    for v in dead.into_iter().rev() {
        gc.pending.push(v);
    }
    gc.full_collection_requested = false;
    drop(gc);
    state.memory.set_script_bytes(m.bytes);
}

/// Runs a full collection: the logical mark decides weak tables, finalizers and the script's
/// memory count; then the physical collector completes a cycle (freeing what nothing holds).
pub(crate) fn full_collection(arena: &mut gc_arena::Arena<gc_arena::Rootable![State<'_>]>) {
    arena.mutate(logical_collection);
    arena.finish_cycle();
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
