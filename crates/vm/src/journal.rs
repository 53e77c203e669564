//! The snapshot ring (`Lua::snap` / `Lua::rollback`) as a journal: copy-on-first-write per
//! epoch, in place, so a snapshot costs what changed since the previous one.
//!
//! `snap()` starts a new *epoch* (and saves the small root state); it copies nothing else.
//! Every mutable object carries the epoch of its last backup (`stamp`): the first write to
//! it in an epoch first saves its current contents into that epoch's log. So epoch `i`'s
//! log holds, for every object changed after snapshot `i` (and before snapshot `i + 1`), its
//! state *at* snapshot `i`. Rolling back to snapshot `j` applies the logs from the newest back
//! to `j`'s, newest first: every object changed since `j` gets its state at `j` back. Objects
//! created since are simply no longer referenced. The logs hold their old contents strongly,
//! so everything reachable at a held snapshot stays allocated while the snapshot is held.
//!
//! Journaled: tables (contents, layout and capacities, metatable, gc flags), threads (stack,
//! frames, status...), upvalues, executors, userdata metatables, `debug.upvaluejoin`, and the
//! script ids given to host objects, the root state saved at each `snap` (object-id counters, string metatable, finalizer lists,
//! the script's memory count), and the payloads of typed userdata whose type is
//! `Rewindable` (`userdata_type`): the stamp is on the payload cell, and the first *mutable
//! borrow* of an epoch (a `method_mut`, a field setter, `UserData::borrow_mut`) saves a clone
//! (`Backup::Payload`). Immutable objects (strings, prototypes, callbacks) need nothing. Not
//! journaled: untyped `UserData::new_snapshotable` payloads (immutable as far as the VM
//! knows), and the interner (a cache).
//!
//! Opaque userdata (state the VM cannot copy: `UserData::new`, typed types that are not
//! `Rewindable`) makes `snap` fail, naming it, exactly when `snapshot` and `checksum` fail:
//! a rollback could not put such state back, so the ring refuses rather than promise it. The
//! journal keeps weak pointers to the opaque userdata created (pruned as they die, at most
//! twice the live ones plus 64); while one is alive, `snap` walks the graph like `snapshot`
//! (`snapshot::capture`) to see whether it is reachable, so a VM without opaque userdata
//! pays nothing and one with some pays a full walk per `snap`.
//!
//! Invariants:
//! - `epoch == 0` iff the ring is empty (journaling off: no backups are made).
//! - Epoch numbers are never reused, so after a rollback every object's stamp differs from the
//!   new epoch and its next write is backed up again.
//! - Within one log an object appears at most once (its stamp says it is saved).
//!
//! What a script observes at a full collection does not depend on the logs keeping old
//! objects alive: weak tables, finalizers and `collectgarbage("count")` are decided by a
//! logical mark that does not see the journal (`gc::logical_collection`).

use std::cell::Cell;
use std::collections::VecDeque;

use gc_arena::lock::RefLock;
use gc_arena::{Collect, Gc, GcWeak, Mutation};
use hashbrown::HashTable;

use crate::executor::{Executor, ExecutorState};
use crate::function::{LuaClosure, Then, UpValue, UpValueState};
use crate::snapshot::SnapshotError;
use crate::state::Context;
use crate::table::{Table, TableInner, TableState};
use crate::thread::{Frame, Returns, Thread, ThreadState, ThreadStatus};
use crate::userdata::{UserData, UserDataInner};
use crate::userdata_type::RestorePayload;
use crate::value::Value;

/// A VM's snapshot journal (a `Gc` pointer: every journaled object holds one).
#[derive(Copy, Clone, Collect)]
#[collect(no_drop)]
pub(crate) struct Journal<'gc>(Gc<'gc, JournalInner<'gc>>);

#[derive(Collect)]
#[collect(no_drop)]
pub(crate) struct JournalInner<'gc> {
    /// The current epoch; 0 when the ring is empty.
    #[collect(require_static)]
    epoch: Cell<u32>,
    /// The last epoch number handed out.
    #[collect(require_static)]
    last_epoch: Cell<u32>,
    #[collect(require_static)]
    capacity: Cell<usize>,
    /// One log per held snapshot, oldest first; the newest collects the current writes.
    logs: RefLock<VecDeque<EpochLog<'gc>>>,
    /// Opaque userdata created in this VM (weak; see the module docs).
    opaque: RefLock<Vec<GcWeak<'gc, UserDataInner<'gc>>>>,
    /// `opaque`'s length at which it is pruned next.
    #[collect(require_static)]
    opaque_prune_at: Cell<usize>,
}

#[derive(Collect)]
#[collect(no_drop)]
struct EpochLog<'gc> {
    root: RootBackup<'gc>,
    entries: Vec<Backup<'gc>>,
}

/// The root state at a snapshot.
#[derive(Collect)]
#[collect(no_drop)]
struct RootBackup<'gc> {
    #[collect(require_static)]
    next_id: u64,
    /// `HandleRegistry::next_host_id` (host objects created after the snapshot are told
    /// apart by it; the counter itself never goes back).
    #[collect(require_static)]
    next_host_id: u64,
    string_metatable: Option<Table<'gc>>,
    type_metatables: crate::state::TypeMetatables<'gc>,
    finalizable: Vec<Value<'gc>>,
    pending: Vec<Value<'gc>>,
    finalizing: Value<'gc>,
    weak_tables: Vec<GcWeak<'gc, TableInner<'gc>>>,
    #[collect(require_static)]
    full_collection_requested: bool,
    #[collect(require_static)]
    script_bytes: usize,
    #[collect(require_static)]
    pacing: crate::memory::CollectorPacing,
}

#[derive(Collect)]
#[collect(no_drop)]
enum Backup<'gc> {
    Table(Table<'gc>, Box<TableBackup<'gc>>),
    Thread(Thread<'gc>, Box<ThreadBackup<'gc>>),
    UpValue(UpValue<'gc>, UpValueState<'gc>),
    Executor(Executor<'gc>, Box<ExecutorBackup<'gc>>),
    UserData {
        userdata: UserData<'gc>,
        metatable: Option<Table<'gc>>,
        #[collect(require_static)]
        gc_flags: u8,
    },
    ClosureSlot {
        closure: LuaClosure<'gc>,
        #[collect(require_static)]
        slot: usize,
        upvalue: UpValue<'gc>,
    },
    /// A host object got its script id (it had none before).
    ScriptId(Value<'gc>),
    /// A typed userdata's payload before its first mutable borrow of the epoch.
    Payload {
        #[collect(require_static)]
        saved: Box<dyn RestorePayload>,
    },
}

/// A table's contents with their exact capacities (memory charges must not change).
#[derive(Collect)]
#[collect(no_drop)]
struct TableBackup<'gc> {
    array: Vec<Value<'gc>>,
    entries: Vec<(Value<'gc>, Value<'gc>)>,
    #[collect(require_static)]
    index: HashTable<u32>,
    #[collect(require_static)]
    tombstones: usize,
    metatable: Option<Table<'gc>>,
    #[collect(require_static)]
    gc_flags: u8,
}

#[derive(Collect)]
#[collect(no_drop)]
struct ThreadBackup<'gc> {
    stack: Vec<Value<'gc>>,
    frames: Vec<Frame<'gc>>,
    open_upvalues: Vec<UpValue<'gc>>,
    #[collect(require_static)]
    tbc_slots: Vec<usize>,
    status: ThreadStatus,
    body: Option<Value<'gc>>,
    #[collect(require_static)]
    started: bool,
    death_error: Option<Value<'gc>>,
    resume_then: Option<Then<'gc>>,
    #[collect(require_static)]
    resume_slot: usize,
    #[collect(require_static)]
    resume_returns: Returns,
    /// The thread's charge (put back exactly: it may lag the buffers until a resync).
    #[collect(require_static)]
    charged: usize,
}

#[derive(Collect)]
#[collect(no_drop)]
struct ExecutorBackup<'gc> {
    threads: Vec<Thread<'gc>>,
    result: Option<Result<(), Value<'gc>>>,
    #[collect(require_static)]
    traceback: String,
}

/// Something the logs hold (see `Journal::visit_held`).
pub(crate) enum Held<'gc> {
    Value(Value<'gc>),
    UpValue(UpValue<'gc>),
    Executor(Executor<'gc>),
    Then(Then<'gc>),
}

/// A copy of `v` with the same capacity.
fn copy_exact<T: Clone>(v: &[T], capacity: usize) -> Vec<T> {
    let mut out = Vec::with_capacity(capacity.max(v.len()));
    out.extend_from_slice(v);
    out
}

impl<'gc> Journal<'gc> {
    pub(crate) fn new(mc: &Mutation<'gc>, capacity: usize) -> Self {
        Journal(Gc::new(
            mc,
            JournalInner {
                epoch: Cell::new(0),
                last_epoch: Cell::new(0),
                capacity: Cell::new(capacity.max(1)),
                logs: RefLock::new(VecDeque::new()),
                opaque: RefLock::new(Vec::new()),
                opaque_prune_at: Cell::new(64),
            },
        ))
    }

    /// The current epoch (0: journaling off).
    #[inline(always)]
    pub(crate) fn epoch(self) -> u32 {
        self.0.epoch.get()
    }

    fn push(self, mc: &Mutation<'gc>, b: Backup<'gc>) {
        let logs = gc_arena::barrier::unlock!(Gc::write(mc, self.0), JournalInner, logs);
        if let Some(log) = logs.borrow_mut().back_mut() {
            log.entries.push(b);
        }
    }

    /// Saves `t`'s contents before its first write of the epoch (called by `Table::borrow_mut`
    /// when its stamp is stale; the caller updates the stamp).
    #[cold]
    #[inline(never)]
    pub(crate) fn backup_table(self, mc: &Mutation<'gc>, t: Table<'gc>, st: &TableState<'gc>) {
        if self.epoch() == 0 {
            return;
        }
        let b = TableBackup {
            array: copy_exact(&st.array, st.array.capacity()),
            entries: copy_exact(&st.entries, st.entries.capacity()),
            index: st.index.clone(),
            tombstones: st.tombstones,
            metatable: st.metatable,
            gc_flags: t.0.gc_flags.get(),
        };
        self.push(mc, Backup::Table(t, Box::new(b)));
    }

    #[cold]
    #[inline(never)]
    pub(crate) fn backup_thread(self, mc: &Mutation<'gc>, t: Thread<'gc>, ts: &ThreadState<'gc>) {
        if self.epoch() == 0 {
            return;
        }
        let b = ThreadBackup {
            stack: copy_exact(&ts.stack, ts.stack.capacity()),
            frames: copy_exact(&ts.frames, ts.frames.capacity()),
            open_upvalues: copy_exact(&ts.open_upvalues, ts.open_upvalues.capacity()),
            tbc_slots: copy_exact(&ts.tbc_slots, ts.tbc_slots.capacity()),
            status: ts.status,
            body: ts.body,
            started: ts.started,
            death_error: ts.death_error,
            resume_then: ts.resume_then,
            resume_slot: ts.resume_slot,
            resume_returns: ts.resume_returns,
            charged: ts.charge.get(),
        };
        self.push(mc, Backup::Thread(t, Box::new(b)));
    }

    #[cold]
    #[inline(never)]
    pub(crate) fn backup_upvalue(self, mc: &Mutation<'gc>, uv: UpValue<'gc>) {
        if self.epoch() != 0 {
            self.push(mc, Backup::UpValue(uv, uv.get()));
        }
    }

    #[cold]
    #[inline(never)]
    pub(crate) fn backup_executor(
        self,
        mc: &Mutation<'gc>,
        e: Executor<'gc>,
        st: &ExecutorState<'gc>,
    ) {
        if self.epoch() == 0 {
            return;
        }
        let b = ExecutorBackup {
            threads: st.threads.clone(),
            result: st.result,
            traceback: st.traceback.clone(),
        };
        self.push(mc, Backup::Executor(e, Box::new(b)));
    }

    /// Before a userdata's metatable (and gc flags) change.
    pub(crate) fn backup_userdata(self, mc: &Mutation<'gc>, u: UserData<'gc>) {
        if self.epoch() != 0 {
            self.push(
                mc,
                Backup::UserData {
                    userdata: u,
                    metatable: u.metatable(),
                    gc_flags: u.0.gc_flags.get(),
                },
            );
        }
    }

    /// Saves a typed userdata's payload before its first mutable borrow of the epoch (the
    /// caller checked and updates the payload's stamp).
    pub(crate) fn backup_payload(self, mc: &Mutation<'gc>, saved: Box<dyn RestorePayload>) {
        if self.epoch() != 0 {
            self.push(mc, Backup::Payload { saved });
        }
    }

    /// Remembers an opaque userdata (see the module docs). Prunes dead entries when the list
    /// has doubled, so it stays within twice the live ones plus 64.
    pub(crate) fn track_opaque(self, mc: &Mutation<'gc>, u: GcWeak<'gc, UserDataInner<'gc>>) {
        let opaque = gc_arena::barrier::unlock!(Gc::write(mc, self.0), JournalInner, opaque);
        let mut list = opaque.borrow_mut();
        if list.len() >= self.0.opaque_prune_at.get() {
            list.retain(|w| w.upgrade(mc).is_some());
            self.0
                .opaque_prune_at
                .set(list.len().saturating_mul(2).max(64));
        }
        list.push(u);
    }

    /// Whether an opaque userdata may still be alive (prunes the dead ones).
    fn opaque_alive(self, mc: &Mutation<'gc>) -> bool {
        let opaque = gc_arena::barrier::unlock!(Gc::write(mc, self.0), JournalInner, opaque);
        let mut list = opaque.borrow_mut();
        list.retain(|w| w.upgrade(mc).is_some());
        self.0
            .opaque_prune_at
            .set(list.len().saturating_mul(2).max(64));
        !list.is_empty()
    }

    /// Before `debug.upvaluejoin` changes a closure's upvalue slot.
    pub(crate) fn backup_closure_slot(self, mc: &Mutation<'gc>, c: LuaClosure<'gc>, slot: usize) {
        if self.epoch() == 0 {
            return;
        }
        if let Some(upvalue) = c.upvalue(slot) {
            self.push(
                mc,
                Backup::ClosureSlot {
                    closure: c,
                    slot,
                    upvalue,
                },
            );
        }
    }

    /// Before a host object gets the id scripts see (`Context::script_id`): a rollback to
    /// before takes it back, with the script's id counter.
    pub(crate) fn backup_script_id(self, mc: &Mutation<'gc>, v: Value<'gc>) {
        if self.epoch() != 0 {
            self.push(mc, Backup::ScriptId(v));
        }
    }

    /// Calls `f` with everything the logs hold strongly (for `gc::ring_only_bytes`).
    pub(crate) fn visit_held(self, mut f: impl FnMut(Held<'gc>)) {
        use Held::{Executor as E, Then as T, UpValue as U, Value as V};
        let logs = self.0.logs.borrow();
        for log in logs.iter() {
            let r = &log.root;
            if let Some(t) = r.string_metatable {
                f(V(Value::Table(t)));
            }
            for v in r.finalizable.iter().chain(&r.pending) {
                f(V(*v));
            }
            f(V(r.finalizing));
            for e in &log.entries {
                match e {
                    Backup::Table(t, b) => {
                        f(V(Value::Table(*t)));
                        b.array.iter().for_each(|v| f(V(*v)));
                        for (k, v) in &b.entries {
                            f(V(*k));
                            f(V(*v));
                        }
                        if let Some(m) = b.metatable {
                            f(V(Value::Table(m)));
                        }
                    }
                    Backup::Thread(t, b) => {
                        f(V(Value::Thread(*t)));
                        b.stack.iter().for_each(|v| f(V(*v)));
                        for fr in &b.frames {
                            match fr {
                                Frame::Lua(lf) => f(V(Value::Function(lf.closure))),
                                Frame::Continuation { then, ready, .. } => {
                                    f(T(*then));
                                    if let Some(crate::function::Outcome::Errored(v)) = ready {
                                        f(V(*v));
                                    }
                                }
                            }
                        }
                        b.open_upvalues.iter().for_each(|u| f(U(*u)));
                        for v in [b.body, b.death_error].into_iter().flatten() {
                            f(V(v));
                        }
                        if let Some(t) = b.resume_then {
                            f(T(t));
                        }
                    }
                    Backup::UpValue(u, st) => {
                        f(U(*u));
                        match st {
                            UpValueState::Open { thread, .. } => f(V(Value::Thread(*thread))),
                            UpValueState::Closed(v) => f(V(*v)),
                        }
                    }
                    Backup::Executor(e, b) => {
                        f(E(*e));
                        b.threads.iter().for_each(|t| f(V(Value::Thread(*t))));
                        if let Some(Err(v)) = b.result {
                            f(V(v));
                        }
                    }
                    Backup::UserData {
                        userdata,
                        metatable,
                        ..
                    } => {
                        f(V(Value::UserData(*userdata)));
                        if let Some(m) = metatable {
                            f(V(Value::Table(*m)));
                        }
                    }
                    Backup::ClosureSlot {
                        closure, upvalue, ..
                    } => {
                        f(V(Value::Function(*closure)));
                        f(U(*upvalue));
                    }
                    Backup::ScriptId(v) => f(V(*v)),
                    Backup::Payload { .. } => {}
                }
            }
        }
    }

    pub(crate) fn held(self) -> usize {
        self.0.logs.borrow().len()
    }

    pub(crate) fn set_capacity(self, mc: &Mutation<'gc>, n: usize) {
        self.0.capacity.set(n.max(1));
        let logs = gc_arena::barrier::unlock!(Gc::write(mc, self.0), JournalInner, logs);
        let mut logs = logs.borrow_mut();
        while logs.len() > self.0.capacity.get() {
            logs.pop_front();
        }
    }

    /// Approximate bytes held by the logs (backups and their buffers; objects they keep alive
    /// are counted by the memory account).
    pub(crate) fn size_bytes(self) -> usize {
        use std::mem::size_of;
        let logs = self.0.logs.borrow();
        let mut n = 0;
        for log in logs.iter() {
            n += size_of::<EpochLog<'static>>()
                + (log.root.finalizable.capacity() + log.root.pending.capacity())
                    * size_of::<Value<'static>>()
                + log.entries.capacity() * size_of::<Backup<'static>>();
            for e in &log.entries {
                n += match e {
                    Backup::Table(_, b) => {
                        size_of::<TableBackup<'static>>()
                            + b.array.capacity() * size_of::<Value<'static>>()
                            + b.entries.capacity() * size_of::<(Value<'static>, Value<'static>)>()
                            + b.index.capacity() * 5
                    }
                    Backup::Thread(_, b) => {
                        size_of::<ThreadBackup<'static>>()
                            + b.stack.capacity() * size_of::<Value<'static>>()
                            + b.frames.capacity() * size_of::<Frame<'static>>()
                    }
                    Backup::Executor(_, b) => {
                        size_of::<ExecutorBackup<'static>>() + b.threads.capacity() * 8
                    }
                    Backup::Payload { saved } => saved.size_bytes(),
                    _ => 0,
                };
            }
        }
        n
    }

    /// Takes a snapshot: a new epoch and a copy of the root state.
    pub(crate) fn snap(self, ctx: Context<'gc>) -> Result<(), SnapshotError> {
        let state = ctx.state();
        let in_flight = state.sequences.in_flight();
        if let Some(name) = in_flight {
            return Err(SnapshotError::Unsupported(format!(
                "async sequence '{name}' is in flight (its Rust future cannot be copied)"
            )));
        }
        let mc = ctx.mutation();
        // Opaque userdata: refused exactly when `snapshot` refuses it (same walk).
        if self.opaque_alive(mc) {
            crate::snapshot::capture(state, (0, 0, 0))?;
        }
        let root = {
            let gc = state.gc.borrow();
            RootBackup {
                next_id: state.next_id.get(),
                next_host_id: state.handles.borrow().next_host_id,
                string_metatable: state.string_metatable.get(),
                type_metatables: state.type_metatables.get(),
                finalizable: gc.finalizable.0.clone(),
                pending: gc.pending.clone(),
                finalizing: gc.finalizing,
                weak_tables: gc.weak_tables.clone(),
                full_collection_requested: gc.full_collection_requested,
                script_bytes: state.memory.script_bytes(),
                pacing: state.memory.pacing(),
            }
        };
        let epoch = self.0.last_epoch.get().wrapping_add(1).max(1);
        self.0.last_epoch.set(epoch);
        self.0.epoch.set(epoch);
        let logs = gc_arena::barrier::unlock!(Gc::write(mc, self.0), JournalInner, logs);
        let mut logs = logs.borrow_mut();
        if logs.len() >= self.0.capacity.get() {
            logs.pop_front();
        }
        logs.push_back(EpochLog {
            root,
            entries: Vec::new(),
        });
        Ok(())
    }

    /// Restores the n-th newest snapshot (1 = the last `snap`) in place and drops the newer
    /// ones. Returns the script and host object-id counters of the restored point (objects
    /// with ids at or above them did not exist there).
    pub(crate) fn rollback(self, ctx: Context<'gc>, n: usize) -> Result<(u64, u64), SnapshotError> {
        let mc = ctx.mutation();
        let state = ctx.state();
        let logs_lock = gc_arena::barrier::unlock!(Gc::write(mc, self.0), JournalInner, logs);
        let mut logs = logs_lock.borrow_mut();
        let available = logs.len();
        if n == 0 || n > available {
            return Err(SnapshotError::OutOfRange {
                requested: n,
                available,
            });
        }
        let target = available - n;
        // Newest first: what remains is each object's state at the target snapshot.
        while logs.len() > target + 1 {
            let log = logs.pop_back().expect("more logs than the target");
            apply(mc, log.entries);
        }
        let log = logs.back_mut().expect("the target log");
        let entries = std::mem::take(&mut log.entries);
        apply(mc, entries);
        let root = &log.root;
        state.next_id.set(root.next_id);
        state.string_metatable.unlock(mc).set(root.string_metatable);
        state.type_metatables.unlock(mc).set(root.type_metatables);
        {
            let mut gc = state.gc.borrow_mut(mc);
            gc.finalizable.0 = root.finalizable.clone();
            gc.pending = root.pending.clone();
            gc.finalizing = root.finalizing;
            gc.weak_tables = root.weak_tables.clone();
            gc.full_collection_requested = root.full_collection_requested;
        }
        state.memory.set_script_bytes(root.script_bytes);
        state.memory.set_pacing(root.pacing);
        state.memory.forget_pending_request();
        let next_ids = (root.next_id, root.next_host_id);
        // A fresh epoch: every object's next write is saved again (into the target's log).
        let epoch = self.0.last_epoch.get().wrapping_add(1).max(1);
        self.0.last_epoch.set(epoch);
        self.0.epoch.set(epoch);
        Ok(next_ids)
    }
}

/// Puts the saved states back, newest entry first.
fn apply<'gc>(mc: &Mutation<'gc>, entries: Vec<Backup<'gc>>) {
    for e in entries.into_iter().rev() {
        match e {
            Backup::Table(t, b) => {
                let b = *b;
                {
                    let mut st = gc_arena::barrier::unlock!(Gc::write(mc, t.0), TableInner, state)
                        .borrow_mut();
                    st.array = b.array;
                    st.entries = b.entries;
                    st.index = b.index;
                    st.tombstones = b.tombstones;
                    st.metatable = b.metatable;
                    st.sync_charge();
                }
                t.0.gc_flags.set(b.gc_flags);
                // The metamethod-absence cache may describe contents that were rolled back.
                t.absent_events().set(0);
            }
            Backup::Thread(t, b) => {
                let b = *b;
                let mut ts = gc_arena::barrier::unlock!(
                    Gc::write(mc, t.0),
                    crate::thread::ThreadInner,
                    state
                )
                .borrow_mut();
                ts.stack = b.stack;
                ts.frames = b.frames;
                ts.open_upvalues = b.open_upvalues;
                ts.tbc_slots = b.tbc_slots;
                ts.status = b.status;
                ts.body = b.body;
                ts.started = b.started;
                ts.death_error = b.death_error;
                ts.resume_then = b.resume_then;
                ts.resume_slot = b.resume_slot;
                ts.resume_returns = b.resume_returns;
                ts.charge.set(b.charged);
            }
            Backup::UpValue(uv, s) => crate::function::set_upvalue_raw(mc, uv, s),
            Backup::Executor(e, b) => {
                let b = *b;
                let mut st = e.0.borrow_mut(mc);
                st.threads = b.threads;
                st.result = b.result;
                st.traceback = b.traceback;
            }
            Backup::UserData {
                userdata,
                metatable,
                gc_flags,
            } => {
                gc_arena::barrier::unlock!(
                    Gc::write(mc, userdata.0),
                    crate::userdata::UserDataInner,
                    metatable
                )
                .set(metatable);
                userdata.0.gc_flags.set(gc_flags);
            }
            Backup::ClosureSlot {
                closure,
                slot,
                upvalue,
            } => {
                closure.set_upvalue_slot(mc, slot, upvalue);
            }
            Backup::Payload { saved } => saved.restore(),
            Backup::ScriptId(v) => match v {
                Value::Thread(t) => t.0.script_id.set(0),
                Value::Function(f) => f.0.script_id.set(0),
                _ => {}
            },
        }
    }
}
