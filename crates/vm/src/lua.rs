//! The host-facing VM: owns the arena, runs executors in fuel-bounded steps with garbage
//! collection between steps, and hands out handles that outlive one `enter` call.

use std::rc::Rc;
use std::sync::Arc;

use std::cell::RefCell;

use gc_arena::{Arena, Gc, Rootable};
use lunette_compiler::{CompileError, Prototype, VerifyError};

use crate::error::{LuaError, LuaErrorKind};
use crate::executor::{ExecResult, Executor, Fuel};
use crate::function::{ClosureInner, FunctionProto, LuaClosure, UpValueState};
use crate::gc_unsafe::unchecked::VerifiedProto;
use crate::handle::{
    fetch_root, HandleTarget, PlainValue, Slot, StaleHandle, StashedExecutor, StashedValue,
};
use crate::host::{Host, StdHost};
use crate::memory::{AccountGuard, MemoryAccount};
use crate::number;
use crate::run::StepStatus;
use crate::snapshot::{Snapshot, SnapshotError};
use crate::state::{Context, MetaEvent, State};
use crate::value::Value;

/// Fuel per step used by the run-to-completion helpers (GC runs between steps).
pub const DEFAULT_STEP_FUEL: i64 = 20_000;

/// Bytes of strings made and of buffers grown that count as one allocation of debt for the
/// physical collector's pacing (`Lua::gc_step`).
const BUFFER_DEBT_BYTES: f64 = 128.0;

/// The byte-derived debt (see `Lua::incremental_work`) one slice of the physical collector
/// takes on at least; beyond it, at most twice the recent flow per slice, so a burst (a step
/// that made a 1.6 MiB constants array, for a loaded chunk with 100,000 strings: 12,500
/// allocations owed at once, and a 5 ms slice after it) is spread over the next slices,
/// while a steady flow (string-building code) is paid as it comes.
const MAX_BYTE_DEBT_PER_SLICE: f64 = 2_048.0;

/// How many snapshots `Lua::snap` keeps by default (rollback netcode rarely needs more than 8).
pub const DEFAULT_MAX_SNAPSHOTS: usize = 16;

/// A Lua VM.
pub struct Lua {
    /// With `drop_scope_end`: while the fields between them drop (the arena), `memory` is the
    /// current account, so the arena's objects give their bytes back to this VM's account,
    /// not whichever VM happens to be current on this thread (see `memory::drop_scope`).
    /// Fields drop in declaration order: keep `arena` between the two.
    _drop_scope_start: crate::memory::DropScopeStart,
    arena: Arena<Rootable![State<'_>]>,
    _drop_scope_end: crate::memory::DropScopeEnd,
    memory: Rc<MemoryAccount>,
    /// Sizes of the last image (objects, strings, slots), to allocate the next one at once.
    capture_hint: std::cell::Cell<(usize, usize, usize)>,
    /// Where the collection the memory limit asked for stands (see `limit_collection_slice`).
    limit_cycle: std::cell::Cell<LimitCycle>,
    /// Whether a full collection's mark is in progress (`gc::Collection`): `step` runs its
    /// slices, every other access finishes it first (`settle`).
    collecting: std::cell::Cell<bool>,
    /// The heap the last `restore` replaced, while it is freed in slices (see `RetiredHeap`).
    retired: Option<RetiredHeap>,
    /// Byte-derived collector debt not handed to the collector yet, and the recent flow of
    /// it per slice (a moving average; see `MAX_BYTE_DEBT_PER_SLICE`). Physical pacing only:
    /// nothing a script sees.
    byte_debt: std::cell::Cell<(f64, f64)>,
}

/// A heap `restore` replaced: an arena whose root holds nothing, so every object in it is
/// garbage, freed a slice after each step (`Lua::retired_slice`) instead of all at once in
/// the restore (30,000 objects freed are 0.6 ms with glibc's allocator). Its objects are
/// charged to an account of their own (they left the VM's with the restore), so neither the
/// memory limit nor `collectgarbage("count")` sees them, and when they go changes nothing a
/// script can observe.
struct RetiredHeap {
    /// With `_drop_scope_end`: the arena's objects give their bytes back to `account` when
    /// it drops (see `Lua::_drop_scope_start`).
    _drop_scope_start: crate::memory::DropScopeStart,
    arena: Arena<Rootable![()]>,
    _drop_scope_end: crate::memory::DropScopeEnd,
    account: Rc<MemoryAccount>,
}

/// gc-arena debt per slice of a retired heap's freeing (see `RetiredHeap`): a dead object
/// counts its size times the drop and free factors, so a slice frees about 400 KB of small
/// objects (~0.13 ms for the tables and strings of `entities` at 10k).
const RETIRED_SLICE_DEBT: f64 = 1_000.0;

/// The progress of a collection asked for by the memory limit, run in slices between steps.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum LimitCycle {
    /// None asked for.
    Idle,
    /// The collector was mid-cycle when asked: that cycle finishes first (its mark may have
    /// started before the garbage the request needs freed became garbage).
    FinishingOld,
    /// A fresh cycle (started after the request) is marking; `mark_debt` never goes past the
    /// fully marked point, so this stage cannot miss the cycle's end.
    Marking,
    /// The fresh cycle is fully marked and sweeps; back to sleep means it is done.
    Sweeping,
}

/// Collector work (gc-arena debt: objects marked, traced and freed, weighted by its pacing)
/// per marking slice of a limit collection: about a millisecond. What a slice cannot split is
/// one object's trace: a table of 431,000 slots takes 2 to 3 ms alone (table_bomb.lua).
const LIMIT_SLICE_DEBT: f64 = 4_000.0;
/// The same for a slice of the sweep, which gc-arena credits far less per object than it
/// costs on a big heap (at the pacing of `gc::pace`, a kept object a tenth of one marked and
/// traced, though visiting it is about as slow: a cache miss each, ~100 ns): about 10,000
/// kept or 1,000 freed objects, a millisecond. At the marking slices' debt (20,000 before
/// that, 431,000 kept tables swept in 7 ms), plus what allocation had piled up, one slice
/// swept 116,000 coroutines: 12 ms (coroutine_bomb.lua).
const LIMIT_SWEEP_SLICE_DEBT: f64 = 250.0;
/// Below this many objects, a limit collection runs whole (a cycle over fewer objects costs
/// about one slice); above it, no cycle fits in one slice.
const LIMIT_SLICED_OBJECTS: usize = 100_000;

impl Default for Lua {
    fn default() -> Self {
        Self::core()
    }
}

impl Lua {
    /// A VM with no libraries loaded (see `lunette_stdlib` for them).
    pub fn core() -> Lua {
        Self::core_with_host(Rc::new(StdHost::new()))
    }

    /// A VM with no libraries and the given host interface.
    pub fn core_with_host(host: Rc<dyn Host>) -> Lua {
        let memory = Rc::new(MemoryAccount::default());
        let _guard = AccountGuard::new(&memory);
        let account = memory.clone();
        let (_drop_scope_start, _drop_scope_end) = crate::memory::drop_scope(&memory);
        Lua {
            _drop_scope_start,
            arena: Arena::new(move |mc| State::new(mc, host, account)),
            _drop_scope_end,
            memory,
            capture_hint: Default::default(),
            limit_cycle: std::cell::Cell::new(LimitCycle::Idle),
            collecting: std::cell::Cell::new(false),
            byte_debt: std::cell::Cell::new((0.0, 0.0)),
            retired: None,
        }
    }

    /// The memory counters: bytes in use, peak, limit (see `memory`).
    pub fn memory(&self) -> &MemoryAccount {
        &self.memory
    }

    /// Sets (or removes) the VM's memory limit in bytes. Over it, scripts get a catchable
    /// `not enough memory` error once a full collection could not bring usage back under it.
    pub fn set_memory_limit(&mut self, limit: Option<usize>) {
        self.memory.set_limit(limit);
    }

    /// Whether the VM may use helper threads (on by default): `load` compiles big chunks
    /// (4 KiB and more) on one while the script pays their fuel, so no single step carries a
    /// whole compilation, and freed table parts of 1 MiB and more and big compiled chunks
    /// are given back to the allocator on another (one for the process; big strings are
    /// given back by the steps, a piece at a time). Scripts observe nothing of it: results,
    /// errors, fuel and memory counts are the same either way; only where the wall time is
    /// spent changes.
    /// Turn it off for a VM that must not start threads; targets without threads do all the
    /// work in place anyway.
    ///
    /// ```
    /// let mut lua = lunette_vm::Lua::core();
    /// lua.set_helper_threads(false);
    /// assert!(!lua.helper_threads());
    /// ```
    pub fn set_helper_threads(&mut self, enabled: bool) {
        self.memory.set_reaper_allowed(enabled);
        self.arena
            .mutate(|_, state| state.compile_jobs.set_enabled(enabled));
    }

    /// Whether the VM may use helper threads (see
    /// [`set_helper_threads`](Self::set_helper_threads)).
    pub fn helper_threads(&self) -> bool {
        self.arena.mutate(|_, state| state.compile_jobs.enabled())
    }

    /// Bytes in use by the VM's objects (tables, strings, closures, threads, userdata...).
    pub fn memory_used(&self) -> usize {
        self.memory.used()
    }

    /// The most bytes in use at once since the VM was created (or `reset_memory_peak`).
    pub fn memory_peak(&self) -> usize {
        self.memory.peak()
    }

    /// Starts measuring [`memory_peak`](Self::memory_peak) again from the bytes in use now.
    pub fn reset_memory_peak(&mut self) {
        self.memory.reset_peak();
    }

    /// Takes a snapshot of the whole VM (see `snapshot`): an owned, `Send` value that can be
    /// restored any number of times, here or into another VM. Fails, naming the culprit, if
    /// the VM holds state that cannot be copied (opaque userdata, an async sequence in flight).
    pub fn snapshot(&self) -> Result<Snapshot, SnapshotError> {
        self.settle();
        let hint = self.capture_hint.get();
        let image = self.arena.mutate(|mc, state| {
            // (The image carries the checksum's state: brought up to date first. A failed
            // flush stops tracking, see `snap`.)
            let _ = state.journal.flush(Context::new(mc, state));
            crate::snapshot::capture(state, hint)
        })?;
        self.capture_hint.set(image.size_hint());
        Ok(Snapshot(Arc::new(image)))
    }

    /// Reads an image written by [`Snapshot::to_bytes`] (in this process or another one,
    /// on any machine) into a snapshot that [`restore`](Self::restore) can put into this VM.
    /// The bytes are untrusted input: reading never panics, allocates only in proportion to
    /// them and within this VM's memory limit, and checks every index, kind and invariant
    /// (prototypes pass the bytecode verifier); a bad image is an error. Rust functions,
    /// continuations and userdata types resolve by name against this VM: it must have opened
    /// the same libraries and registered the same host functions, userdata types and
    /// [`Permanents`](crate::Permanents) as the VM that wrote the bytes; a missing one is an
    /// error naming it. Restoring the result into another VM works too (the names resolve
    /// against this one).
    pub fn snapshot_from_bytes(&self, bytes: &[u8]) -> Result<Snapshot, SnapshotError> {
        let (permanents, functions) = self.arena.mutate(|_, state| {
            (
                state.functions.permanents.borrow().clone(),
                state.functions.clone(),
            )
        });
        let budget = match self.memory.limit() {
            Some(limit) => limit.saturating_sub(self.memory.used()),
            None => usize::MAX,
        };
        let lookup = |name: &str| functions.userdata_type(name).and_then(|t| t.payload_ops());
        let image = crate::snapshot::read_image(
            bytes,
            &crate::snapshot::ReadContext {
                permanents,
                userdata_type: &lookup,
                budget,
            },
        )?;
        Ok(Snapshot(Arc::new(image)))
    }

    /// Replaces the whole VM state by `snapshot`'s. Host handles taken before are re-pointed
    /// at the restored objects, or become stale if their object did not exist at that point
    /// (see `StashedValue`). The host interface stays this VM's. The ring of `snap` is
    /// emptied (its snapshots describe the state that was replaced).
    ///
    /// The replaced heap is not freed here: it leaves the VM's memory account at once (the
    /// limit and `collectgarbage("count")` never see it) and is freed a slice after each of
    /// the following steps (about 0.1 ms a slice; [`retired_bytes`](Self::retired_bytes)
    /// says what is left, [`gc_collect`](Self::gc_collect) frees the rest at once), so a
    /// restore costs about what a restore into a fresh VM costs. Until then the process
    /// holds both heaps, and the replaced heap's userdata are dropped as the slices reach
    /// them (an `io` file of the replaced state is closed then, as a collection would close
    /// it). Async sequences the replaced state had in flight are forgotten at once.
    pub fn restore(&mut self, snapshot: &Snapshot) -> Result<(), SnapshotError> {
        self.settle();
        let _guard = AccountGuard::new(&self.memory);
        let image = &*snapshot.0;
        let (host, handles, sequences, functions, compile_jobs) = self.arena.mutate(|_, state| {
            (
                state.host.clone(),
                state.handles.clone(),
                state.sequences.clone(),
                state.functions.clone(),
                state.compile_jobs.clone(),
            )
        });
        let memory = self.memory.clone();
        // (Every byte in use now is the current heap's: it leaves with it, see `retire`.)
        let old_bytes = self.memory.used();
        // Validate and build first: on error the current arena is left untouched.
        let mut failure = None;
        let new_arena = Arena::<Rootable![State<'_>]>::new(|mc| {
            let mut state = match crate::snapshot::rebuild(
                mc,
                image,
                host.clone(),
                handles.clone(),
                sequences.clone(),
                functions.clone(),
                memory.clone(),
            ) {
                Ok(state) => state,
                Err(e) => {
                    failure = Some(e);
                    State::new_shell(
                        mc,
                        host.clone(),
                        handles.clone(),
                        sequences.clone(),
                        functions.clone(),
                        memory.clone(),
                    )
                }
            };
            state.compile_jobs = compile_jobs.clone();
            state
        });
        if let Some(e) = failure {
            drop(new_arena);
            return Err(e);
        }
        {
            let mut reg = handles.borrow_mut();
            let parent = (reg.instance == image.instance).then_some(image.timeline);
            reg.history.fork(parent, image.next_id);
            // Host ids stay unique in this VM (the image may come from another VM).
            reg.next_host_id = reg.next_host_id.max(image.next_host_id);
        }
        let old = std::mem::replace(&mut self.arena, new_arena);
        self.retire(old, old_bytes);
        // The ring is empty after a restore.
        self.memory.set_ring_allowance(0);
        self.memory.set_script_bytes(image.script_bytes);
        self.memory.set_pacing(image.pacing);
        self.memory.forget_pending_request();
        Ok(())
    }

    /// After [`restore`](Self::restore) of another VM's snapshot: the executor with id `id`
    /// (see [`StashedExecutor::id`]) that the snapshot held a handle to. This is how a frame
    /// paused mid-step moves to a fresh VM (a late joiner, a spectator): send the executor's
    /// id with the snapshot. Each executor can be taken once; the ones not taken stay alive
    /// (and count as running executors) until the next restore or
    /// [`release_restored_executors`](Self::release_restored_executors). (A snapshot of this
    /// VM re-points this VM's own handles instead, see `StashedExecutor`.)
    ///
    /// ```
    /// use lunette_vm::{Fuel, Lua, StepStatus};
    /// let mut lua = Lua::core();
    /// let exec = lua.chunk("local n = 0 for i = 1, 1e5 do n = n + i end return n").start(()).unwrap();
    /// assert_eq!(lua.step(&exec, &mut Fuel::new(1_000)), StepStatus::OutOfFuel);
    /// let (snapshot, id) = (lua.snapshot().unwrap(), exec.id());
    ///
    /// let mut joiner = Lua::core();
    /// joiner.restore(&snapshot).unwrap();
    /// let exec = joiner.restored_executor(id).expect("the paused frame came along");
    /// while !joiner.step(&exec, &mut Fuel::new(10_000)).is_done() {}
    /// assert_eq!(joiner.results::<i64>(&exec).unwrap(), 5_000_050_000);
    /// ```
    pub fn restored_executor(&mut self, id: u64) -> Option<StashedExecutor> {
        self.enter(|ctx| {
            let mut reg = ctx.state().handles.borrow_mut();
            let at = reg.restored.iter().position(|e| e.id() == id)?;
            Some(reg.restored.swap_remove(at))
        })
    }

    /// The ids of the executors of the last restored snapshot still waiting to be taken with
    /// [`restored_executor`](Self::restored_executor) (a host that receives another VM's
    /// image without knowing what was running in it: a spectator, a fuzzer).
    pub fn restored_executor_ids(&self) -> Vec<u64> {
        self.enter(|ctx| {
            ctx.state()
                .handles
                .borrow()
                .restored
                .iter()
                .map(|e| e.id())
                .collect()
        })
    }

    /// Drops the executors of the last restored snapshot that were not taken with
    /// [`restored_executor`](Self::restored_executor), so they can be collected.
    pub fn release_restored_executors(&mut self) {
        self.enter(|ctx| ctx.state().handles.borrow_mut().restored.clear());
    }

    /// Pushes a snapshot onto the VM's ring of the last `max_snapshots` (the oldest is dropped
    /// when full). The ring is a journal (see `journal`): `snap` copies nothing but the root
    /// state, and each object is copied at its first change after it, so a snapshot costs what
    /// changed. Fails while an async sequence is in flight (its Rust state cannot be copied),
    /// and, like `snapshot` and `checksum`, while the VM holds opaque userdata (naming it).
    /// Payloads of `Rewindable` userdata types are journaled at their first mutable borrow of
    /// an epoch (see `userdata_type`).
    pub fn snap(&mut self) -> Result<(), SnapshotError> {
        self.enter(|ctx| ctx.state().journal.snap(ctx))
    }

    /// Restores the n-th newest snapshot of the ring (1 = the last `snap`) in place and drops
    /// the newer ones; it stays in the ring, so rolling back to it again is possible. Host
    /// handles to objects created after it become stale.
    pub fn rollback(&mut self, n: usize) -> Result<(), SnapshotError> {
        let (next_id, next_host_id) = self.enter(|ctx| ctx.state().journal.rollback(ctx, n))?;
        self.enter(|ctx| {
            ctx.state()
                .handles
                .borrow_mut()
                .rolled_back_to(next_id, next_host_id)
        });
        Ok(())
    }

    /// Number of snapshots held by the ring.
    pub fn snapshots_held(&self) -> usize {
        self.enter(|ctx| ctx.state().journal.held())
    }

    /// Sets how many snapshots the ring keeps (at least 1).
    pub fn set_max_snapshots(&mut self, n: usize) {
        self.enter(|ctx| {
            if ctx.state().journal.set_capacity(ctx.mutation(), n) {
                ctx.state().memory.set_ring_allowance(0);
            }
        });
    }

    /// Bytes the ring keeps: its journal (the saved copies of changed objects) plus the
    /// objects only the ring keeps alive (old tables a script dropped since a held snapshot...;
    /// they are in `memory_used`, not in `collectgarbage("count")`). Walks the heap (a mark
    /// of everything reachable): call it per frame only if that is affordable.
    pub fn snapshots_size_bytes(&self) -> usize {
        self.enter(|ctx| ctx.state().journal.size_bytes() + crate::gc::ring_only_bytes(ctx.state()))
    }

    /// A deterministic hash of the VM's logical state, the same on every machine: equal in
    /// VMs with the same history (whatever the host held, snapped, rolled back or restored
    /// in between), for desync detection. It is the value [`Snapshot::checksum`] gives for a
    /// snapshot taken now. Fails where [`snapshot`](Self::snapshot) fails (opaque userdata).
    ///
    /// The first call walks everything the root reaches; from then on the VM keeps the
    /// checksum up to date as it runs, and a call costs what was made or changed since the
    /// previous one (a game can afford one every frame). What it covers is defined in the
    /// `snapshot` module docs: the root state and the script's objects made since the last
    /// full collection or counted by it. Two VMs give comparable values once both have
    /// computed a checksum at the same point of the same history (from their start, say),
    /// or when one was restored from a snapshot the other took while computing its
    /// checksum (the snapshot carries that state). A VM that never computed one counts only
    /// what its root reaches: its snapshots' checksums match a VM that does compute one
    /// only right after a full collection (until then the latter also counts the garbage
    /// made since it began), so have every machine call this from the same point.
    ///
    /// ```
    /// use lunette_vm::Lua;
    /// let (mut a, mut b) = (Lua::core(), Lua::core());
    /// // Both begin at the same point: their setup.
    /// assert_eq!(a.checksum().unwrap(), b.checksum().unwrap());
    /// for lua in [&mut a, &mut b] {
    ///     lua.chunk("t = {} for i = 1, 100 do t[i] = {i} end").exec().unwrap();
    ///     lua.checksum().unwrap();
    /// }
    /// assert_eq!(a.checksum().unwrap(), b.checksum().unwrap());
    /// // One field differs: so do the checksums (each call hashed only what changed).
    /// b.chunk("t[50][1] = 0").exec().unwrap();
    /// assert_ne!(a.checksum().unwrap(), b.checksum().unwrap());
    /// ```
    pub fn checksum(&self) -> Result<u64, SnapshotError> {
        self.settle();
        let hint = self.capture_hint.get();
        let (sum, walked) = self.arena.mutate(|mc, state| {
            let ctx = Context::new(mc, state);
            let journal = state.journal;
            let mut walked = None;
            if journal.tracking() {
                journal.flush(ctx)?;
            } else {
                let (members, w) = crate::snapshot::root_members(state, hint)?;
                walked = Some(w);
                journal.start_tracking(mc, crate::snapshot::Tracker::new(0, members));
            }
            let sum = journal.with_tracker(|t| t.sum()).unwrap_or(0);
            Ok::<_, SnapshotError>((crate::snapshot::root_checksum(state, sum), walked))
        })?;
        if let Some((objects, strings)) = walked {
            self.capture_hint.set((objects, strings, hint.2));
        }
        Ok(sum)
    }

    /// Runs `f` with access to the VM. What `f` allocates is host machinery: it takes no
    /// part in `collectgarbage("count")` (host charges, see `memory::host_charges`), except
    /// what executor steps run inside it do.
    pub fn enter<F, R>(&self, f: F) -> R
    where
        F: for<'gc> FnOnce(Context<'gc>) -> R,
    {
        self.settle();
        self.enter_unsettled(f)
    }

    /// `enter` without finishing a full collection in progress first: for `step`, which
    /// runs that collection's slices and nothing else while it is in progress.
    fn enter_unsettled<F, R>(&self, f: F) -> R
    where
        F: for<'gc> FnOnce(Context<'gc>) -> R,
    {
        let _guard = AccountGuard::new(&self.memory);
        crate::memory::host_charges(&self.memory, || {
            self.arena.mutate(|mc, state| f(Context::new(mc, state)))
        })
    }

    /// Finishes the full collection in progress, if any (see `gc::Collection`): the host
    /// never sees or changes a heap half marked.
    fn settle(&self) {
        if self.collecting.get() {
            let _guard = AccountGuard::new(&self.memory);
            self.arena
                .mutate(|mc, state| crate::gc::settle_collection(Context::new(mc, state)));
            self.collecting.set(false);
        }
    }

    /// A slice of the full collection that is due (see `gc::collection_slice`).
    fn collection_slice(&self, budget: usize) -> crate::gc::SliceOutcome {
        let _guard = AccountGuard::new(&self.memory);
        let outcome = self
            .arena
            .mutate(|mc, state| crate::gc::collection_slice(Context::new(mc, state), budget));
        self.collecting
            .set(outcome == crate::gc::SliceOutcome::Marking);
        outcome
    }

    /// Whether a full collection's mark is in progress: until it is done, each
    /// [`step`](Self::step) marks a slice of it instead of running the executor (see
    /// [`request_full_collection`](Self::request_full_collection)).
    pub fn full_collection_in_progress(&self) -> bool {
        self.collecting.get()
    }

    /// Does the garbage collection work that allocation since the last call asked for.
    pub fn gc_step(&mut self) {
        self.incremental_work(usize::MAX);
        self.interner_work();
        // (A host that drives the collector itself gives freed buffers back here; `step`
        // does it before its share of the collector's work.)
        self.memory
            .release_deferred(crate::memory::DEFERRED_FREES_PER_STEP);
    }

    /// The incremental collector's work that allocation asked for (see `gc_step`), its
    /// slice cut short after reading `slot_cap` slots of tables' segments (the rest of its
    /// work put off to the next slices, see `gc::note_slice_slots`).
    fn incremental_work(&mut self, slot_cap: usize) {
        let _guard = AccountGuard::new(&self.memory);
        // gc-arena paces by object count; a few huge strings or tables are few objects, so
        // the bytes they add count as debt too: one allocation per KiB of growth, and one
        // per `BUFFER_DEBT_BYTES` of strings made and of buffers grown (a string or a table
        // is one object to gc-arena whatever it holds, and string-building or
        // array-filling code makes garbage mostly in such bytes).
        // A burst of them (a big buffer made in one step) is handed over in parts, at most
        // twice the recent flow a slice (at least `MAX_BYTE_DEBT_PER_SLICE`), so the slices
        // after it stay short; the allocations' own debt is not spread. The flow is that of
        // the slices before this one, and a burst counts in it only up to the cap: with the
        // burst in it, half of a burst went through at once and the rest a slice later
        // (gc_weak_cache_big: a hash part doubled to 9 MiB, 31,000 units in one slice,
        // 6-7 ms); a steady flow still raises the cap by a quarter a slice until it is paid
        // as it comes.
        let grown = self.memory.growth_since_last_step();
        let buffers = self.memory.take_buffer_growth();
        let new = grown as f64 / 1024.0 + buffers as f64 / BUFFER_DEBT_BYTES;
        let (pending, flow) = self.byte_debt.get();
        let owed = pending + new;
        let cap = MAX_BYTE_DEBT_PER_SLICE.max(2.0 * flow);
        let debt = owed.min(cap);
        self.byte_debt
            .set((owed - debt, flow * 0.75 + new.min(cap) * 0.25));
        if debt > 0.0 {
            self.arena.metrics().adjust_debt(debt);
        }
        let credit = crate::gc::SliceCredit::new(self.arena.metrics(), slot_cap);
        self.arena.collect_debt();
        let put_off = credit.put_off();
        drop(credit);
        if put_off > 0.0 {
            // (Owed again, spread like a burst of bytes.)
            let (pending, flow) = self.byte_debt.get();
            self.byte_debt.set((pending + put_off, flow));
        }
        crate::gc::pace(&self.arena);
    }

    /// The interner's share of a step (its prune rounds and index resizes, a bounded piece
    /// a step), told whether the collector freed interned strings.
    fn interner_work(&mut self) {
        let _guard = AccountGuard::new(&self.memory);
        let freed = self.memory.take_interned_freed();
        self.arena.mutate(|mc, state| {
            if freed || state.strings.borrow().is_busy() {
                let mut strings = state.strings.borrow_mut(mc);
                if freed {
                    strings.strings_freed();
                }
                strings.step_work(mc);
            }
        });
    }

    /// Runs a full collection: clears dead entries of weak tables and queues finalizers,
    /// which run at the start of the next executor step (see `gc`). It takes the time of a
    /// mark of the whole heap and a whole physical cycle, at once (about 20 ms for 64 MiB of
    /// small tables); [`request_full_collection`](Self::request_full_collection) spreads a
    /// full collection over the following steps instead.
    pub fn gc_collect(&mut self) {
        self.settle();
        let _guard = AccountGuard::new(&self.memory);
        crate::gc::full_collection(&mut self.arena);
        // (The heap a restore replaced goes too.)
        self.retired = None;
        // (a full collection also answers whatever the limit was waiting for)
        self.limit_cycle.set(LimitCycle::Idle);
        self.after_physical_cycle();
        // (The interner's prune round and resize at once too, which steps do in pieces.)
        self.memory.take_interned_freed();
        self.arena
            .mutate(|mc, state| state.strings.borrow_mut(mc).settle_now(mc));
        // (Big buffers too, which steps give back in pieces.)
        self.memory.release_deferred(usize::MAX);
    }

    /// Starts a full collection at this point, which the following [`step`](Self::step)s
    /// mark in slices (in proportion to their fuel, spending none of it) while the executors
    /// running now wait: it decides what [`gc_collect`](Self::gc_collect) here would (weak
    /// entries, finalizers, `collectgarbage("count")`), with no pause longer than a slice.
    /// Any other call that reaches the VM before it is done finishes it at once (those
    /// executors still wait for the steps its slices would have taken, see
    /// [`step`](Self::step)). The physical collector frees the garbage afterwards, in its
    /// incremental slices.
    ///
    /// ```
    /// use lunette_vm::{Fuel, Lua, StepStatus};
    /// let mut lua = Lua::core();
    /// lua.exec("t = {} for i = 1, 1e5 do t[i] = {} end").unwrap();
    /// let exec = lua.chunk("return #t").start(()).unwrap();
    /// lua.request_full_collection();
    /// // A step of 1,000 units marks ~4,000 objects and slots: the script waits.
    /// let mut fuel = Fuel::new(1_000);
    /// assert_eq!(lua.step(&exec, &mut fuel), StepStatus::OutOfFuel);
    /// assert_eq!(fuel.remaining(), 1_000);
    /// while !lua.step(&exec, &mut Fuel::new(1_000)).is_done() {}
    /// assert_eq!(lua.results::<i64>(&exec).unwrap(), 100_000);
    /// ```
    pub fn request_full_collection(&mut self) {
        self.settle();
        self.enter_unsettled(|ctx| ctx.request_full_collection());
        // Started now, so that it is this point's collection (its roots pushed, nothing
        // marked yet): a step that ran first would move it.
        self.collection_slice(0);
    }

    /// After the collector completed a cycle (nothing unreachable is left): the memory limit
    /// learns how many of the bytes in use only the snapshot ring keeps alive
    /// (`MemoryAccount::ring_allowance`: the ring is the host's budget, never the script's)
    /// before it counts the collection.
    fn after_physical_cycle(&mut self) {
        let limited = self.memory.limit().is_some();
        let ring = self.arena.mutate(|_, state| {
            if limited && state.journal.held() > 0 {
                crate::gc::ring_only_bytes(state)
            } else {
                0
            }
        });
        self.memory.set_ring_allowance(ring);
        self.memory.note_full_collection();
    }

    /// Number of live garbage-collected objects.
    pub fn gc_object_count(&self) -> usize {
        self.arena.metrics().total_gc_count()
    }

    /// Compiles `source` as a chunk and returns it as a function value handle.
    pub fn load(&mut self, source: &[u8], chunk_name: &str) -> Result<StashedValue, LuaError> {
        self.load_with_env(source, chunk_name, None)
    }

    /// Like `load`, with `env` (e.g. a per-mod environment table) as the chunk's `_ENV`.
    pub fn load_with_env(
        &mut self,
        source: &[u8],
        chunk_name: &str,
        env: Option<&StashedValue>,
    ) -> Result<StashedValue, LuaError> {
        let proto =
            VerifiedProto::compile_with_limit(source, chunk_name, self.memory.compile_budget())
                .map_err(compile_error)?;
        self.instantiate_chunk(&proto, env)
    }

    /// A closure of loaded chunk `proto` with environment `env` (the globals when `None`),
    /// stashed for the host. Host machinery: the chunk takes no script id and no script bytes.
    fn instantiate_chunk(
        &mut self,
        proto: &VerifiedProto,
        env: Option<&StashedValue>,
    ) -> Result<StashedValue, LuaError> {
        self.enter(|ctx| {
            let env = match env {
                Some(e) => Some(ctx.fetch(e).map_err(stale_error)?),
                None => None,
            };
            let f = ctx.instantiate(proto, env, true);
            Ok(ctx.stash(Value::Function(f)))
        })
    }

    /// `load_with_env`, but a chunk starting with ESC is a binary chunk: decoded (as
    /// untrusted bytes, within what the memory limit has left) and verified.
    pub(crate) fn load_any_with_env(
        &mut self,
        source: &[u8],
        chunk_name: &str,
        env: Option<&StashedValue>,
    ) -> Result<StashedValue, LuaError> {
        if source.first() != Some(&0x1b) {
            return self.load_with_env(source, chunk_name, env);
        }
        let proto =
            VerifiedProto::undump_with_limit(source, chunk_name, self.memory.compile_budget())
                .map_err(|e| LuaError::new(LuaErrorKind::Syntax, e.message))?;
        self.instantiate_chunk(&proto, env)
    }

    /// Runs `source` to completion and returns its results rendered with `tostring` rules
    /// for plain values.
    pub fn execute(&mut self, source: &[u8], chunk_name: &str) -> Result<Vec<String>, LuaError> {
        let f = self.load(source, chunk_name)?;
        let exec = self.enter(|ctx| -> Result<_, LuaError> {
            let f = ctx.fetch(&f).map_err(stale_error)?;
            Ok(ctx.stash_executor(Executor::start(ctx, f, &[])))
        })?;
        self.finish(&exec)?;
        self.enter(|ctx| {
            Ok(
                match ctx.fetch_executor(&exec).map_err(stale_error)?.result() {
                    Some(ExecResult::Returned(vals)) => {
                        vals.iter().map(|v| display_plain(*v)).collect()
                    }
                    _ => Vec::new(),
                },
            )
        })
    }

    /// Runs one step of `exec` of at most `fuel` units (the fuel left is in `fuel`
    /// afterwards) and says where it stands: finished ([`StepStatus::Returned`] or
    /// [`StepStatus::Errored`]: read the outcome with [`results`](Self::results)), out of
    /// fuel, or waiting on an async callback's outside future. A stale handle counts as
    /// errored: there is nothing to run, and `results` reports the stale handle. Garbage is
    /// collected after the step (a bounded slice of the collector's work).
    ///
    /// A full collection (asked for by a script's `collectgarbage()`, or due by the pacing)
    /// is marked in slices: until its mark is done, each `step` of an executor that was
    /// running when it started marks a slice of the heap in proportion to `fuel`
    /// (`gc::MARK_WORK_PER_FUEL` units of mark work a unit of fuel: an object visited counts
    /// 4, a slot 1) instead of running the executor,
    /// spends no fuel and returns [`StepStatus::OutOfFuel`]; the step whose slice ends the
    /// mark goes on to run the executor. Its result is the one of a mark made at once at
    /// that point (nothing a script sees depends on the step sizes). Any other call that
    /// reaches the VM ([`enter`](Self::enter), snapshots, the checksum...) finishes the mark
    /// first, so that call takes the rest of its time; those executors still wait for the
    /// steps its slices would have taken (so a host's call between steps never moves where
    /// a script goes on).
    ///
    /// ```
    /// use lunette_vm::{Fuel, Lua, StepStatus};
    /// let mut lua = Lua::core();
    /// let exec = lua.chunk("local n = 0 for i = 1, 1e5 do n = n + i end return n")
    ///     .start(())
    ///     .unwrap();
    /// let mut steps = 0;
    /// while !lua.step(&exec, &mut Fuel::new(10_000)).is_done() {
    ///     steps += 1; // a game would render a frame here
    /// }
    /// assert!(steps > 5);
    /// assert_eq!(lua.results::<i64>(&exec).unwrap(), 5_000_050_000);
    /// ```
    pub fn step(&mut self, exec: &StashedExecutor, fuel: &mut Fuel) -> StepStatus {
        use crate::gc::SliceOutcome;
        // (Physical pacing only, see `collect_after_step`: scripts never see the clock.)
        let started = std::time::Instant::now();
        let budget = crate::gc::mark_slice_budget(fuel.remaining());
        if self.collecting.get() {
            // (Only an executor that was running when the collection started pays for its
            // mark, whether it is in progress or was finished by a host call: see
            // `gc::Collection`.)
            let pays = self.enter_unsettled(|ctx| {
                ctx.fetch_executor(exec)
                    .is_ok_and(|e| !e.is_finished() && e.waits_for_collection())
            });
            if !pays {
                self.settle();
            } else if self.collection_slice(budget) != SliceOutcome::Done {
                return StepStatus::OutOfFuel;
            }
            // (Paid for: the executor's step goes on, so a host that asks for a collection
            // as often as one takes still sees its scripts run.)
        }
        let stepped = self.enter_unsettled(|ctx| {
            ctx.state().sequences.set_waiting(false);
            let status = match ctx.fetch_executor(exec) {
                // The rest of a collection finished early (by a host call) is paid first,
                // as its slices would have been.
                Ok(e) if !e.is_finished() && crate::gc::pay_collection_wait(ctx, e, budget) => {
                    return None;
                }
                Ok(e) => {
                    if e.step(ctx, fuel) {
                        match e.result() {
                            Some(ExecResult::Errored { .. }) => StepStatus::Errored,
                            _ => StepStatus::Returned,
                        }
                    } else if ctx.state().sequences.waiting() {
                        StepStatus::Waiting
                    } else {
                        StepStatus::OutOfFuel
                    }
                }
                Err(StaleHandle) => StepStatus::Errored,
            };
            Some((status, ctx.state().gc.borrow().full_collection_requested))
        });
        let Some((status, full)) = stepped else {
            self.collect_after_step(false, budget, Some(started));
            return StepStatus::OutOfFuel;
        };
        self.collect_after_step(full, budget, Some(started));
        status
    }

    /// Makes `old` (the heap a restore replaced, `bytes` of this VM's account) the retired
    /// heap, freed in slices after the next steps. A heap retired before and not freed yet
    /// goes first, at once.
    fn retire(&mut self, old: Arena<Rootable![State<'_>]>, bytes: usize) {
        self.retired = None;
        // What the old heap had in flight is over: an image never holds a sequence in flight
        // (`snapshot` refuses), so whatever the registry lists is the old heap's (its entries
        // would otherwise go only when the retired objects are freed, steps later).
        self.arena
            .mutate(|_, state| state.sequences.forget_in_flight());
        let account = Rc::new(MemoryAccount::default());
        self.memory.hand_over(&account, bytes);
        let _guard = AccountGuard::new(&account);
        // (The root goes: every object of the arena is now unreachable.)
        let arena = old.map_root::<Rootable![()]>(|_, _state| ());
        let (_drop_scope_start, _drop_scope_end) = crate::memory::drop_scope(&account);
        self.retired = Some(RetiredHeap {
            _drop_scope_start,
            arena,
            _drop_scope_end,
            account,
        });
    }

    /// Frees a slice of the retired heap, if there is one (after each step).
    fn retired_slice(&mut self) {
        let Some(r) = &mut self.retired else {
            return;
        };
        let freed = {
            let _guard = AccountGuard::new(&r.account);
            let metrics = r.arena.metrics();
            metrics.adjust_debt(RETIRED_SLICE_DEBT - metrics.allocation_debt());
            r.arena.collect_debt();
            r.account
                .release_deferred(crate::memory::DEFERRED_FREES_PER_STEP);
            r.arena.metrics().total_gc_count() == 0
        };
        if freed {
            // (What its last slices freed is given back by this VM's next steps.)
            self.memory.adopt_deferred(&r.account);
            self.retired = None;
        }
    }

    /// Bytes of the heap the last restore replaced that are not freed yet (they are in no
    /// count the memory limit or a script sees; freed a slice after each step).
    pub fn retired_bytes(&self) -> usize {
        self.retired.as_ref().map_or(0, |r| r.account.used())
    }

    /// Bytes of freed big buffers (strings and tables' array or hash parts of 256 KiB and
    /// more) not given back to the allocator yet. Giving memory back to the system costs
    /// time in proportion to its size (50-80 µs a MiB), so buffers a collection frees go
    /// back after the step, 8 MiB after each [`step`](Self::step) or
    /// [`gc_step`](Self::gc_step) (1 MiB after a step that already ran for a millisecond;
    /// a table part bigger than that is shrunk a piece a step, a bigger string has its
    /// pages given back a piece a step; never more than 64 MiB wait; all at once in
    /// [`gc_collect`](Self::gc_collect)): a step that frees a heap of big strings or a
    /// 64 MiB table stays short. They are in no count the memory limit or a script sees
    /// (their bytes left those when their objects were freed); the process holds them a few
    /// steps longer (a VM that no executor steps, until its next step).
    ///
    /// ```
    /// use lunette_vm::Lua;
    /// let mut lua = Lua::core();
    /// // A 2 MiB array part, then garbage.
    /// lua.exec("t = {} for i = 1, 100000 do t[i] = i end").unwrap();
    /// lua.exec("t = nil").unwrap();
    /// // A host's full collection gives everything back at once.
    /// lua.gc_collect();
    /// assert_eq!(lua.deferred_free_bytes(), 0);
    /// ```
    pub fn deferred_free_bytes(&self) -> usize {
        self.memory.deferred_bytes()
    }

    /// Whether the memory limit's collection is asked for or under way. A step that ended
    /// early for it (fuel left, not finished, no [`full_collection_owed`](Self::full_collection_owed))
    /// ended at a point that depends on garbage not yet freed (so on the host's snapshots,
    /// restores and step sizes), and the work it had started is given back: a scheduler
    /// that charges its turns for early ends must not charge for these, as the tasklet
    /// scheduler does not, so that where its turns end stays a function of the script's
    /// history.
    pub fn limit_collection_pending(&self) -> bool {
        self.memory.collection_wanted() || self.limit_cycle.get() != LimitCycle::Idle
    }

    /// Whether a full collection of the script's history is owed: one a script asked for
    /// (`collectgarbage()`) or the pacing made due, not started yet, in progress, or with
    /// mark work the executors still wait for. These come at the same points of a script's
    /// history in every run (see [`limit_collection_pending`](Self::limit_collection_pending)
    /// for the collections that do not).
    pub fn full_collection_owed(&self) -> bool {
        self.enter_unsettled(|ctx| {
            let gc = ctx.state().gc.borrow();
            gc.full_collection_requested || gc.collection.is_some() || gc.collection_wait > 0
        })
    }

    /// The collection work `step` does after an executor's step: a full collection a
    /// script asked for, a slice of the collection the memory limit asked for, or the
    /// pacing's incremental work. For hosts that step executors themselves inside `enter`
    /// (`Executor::step`): call it between such steps as `step` would.
    ///
    /// A full collection due then runs whole here: such steps run inside `enter`, which
    /// finishes a collection in progress anyway, and they do not wait for one (see
    /// [`step`](Self::step)).
    pub fn collect_between_steps(&mut self) {
        let full = self.enter_unsettled(|ctx| ctx.state().gc.borrow().full_collection_requested);
        if full {
            let _guard = AccountGuard::new(&self.memory);
            self.arena
                .mutate(|mc, state| crate::gc::logical_collection(Context::new(mc, state)));
        }
        // (No step's fuel to bound the slice by: the collector's slice runs whole.)
        self.collect_after_step(false, usize::MAX, None);
    }

    /// The collector's and the allocator's work after a step (or a host's call) that began
    /// at `started`, if it was a step.
    fn collect_after_step(
        &mut self,
        full: bool,
        budget: usize,
        started: Option<std::time::Instant>,
    ) {
        self.retired_slice();
        // (The clock is read only when something waits.)
        if self.memory.deferred_bytes() > 0 {
            self.memory
                .release_deferred(crate::memory::deferred_frees_after(started));
        }
        if full {
            // A full collection a script asked for or the pacing made due: its logical
            // mark decides (weak tables, finalizers, `collectgarbage("count")`), in slices
            // of `budget` (see `step`); the physical collector frees what it leaves
            // unreachable in its incremental slices below, like any garbage (what it
            // frees, and when, is invisible to the script). A whole physical cycle here
            // took most of such a step: 5 to 9 ms for a 16 MiB heap at 10,000 fuel
            // (close_errors.lua); a whole mark of a 32 MiB heap of small tables, 8 to 10.
            if self.collection_slice(budget) == crate::gc::SliceOutcome::Marking {
                // No physical work while the mark is in progress.
                return;
            }
        } else {
            // The checksum's lists keep what they name alive until a flush: bounded here
            // for a host that stopped asking for checksums (a flush changes no value).
            self.arena.mutate(|mc, state| {
                if state.journal.flush_due() {
                    let _ = state.journal.flush(Context::new(mc, state));
                }
            });
        }
        self.physical_collection_work(budget);
    }

    /// The physical collector's share of a step: a slice of the collection the memory limit
    /// asked for, else the pacing's incremental work; either stops once it has read
    /// `slot_cap` slots of tables' segments (see `gc::note_slice_slots`).
    fn physical_collection_work(&mut self, slot_cap: usize) {
        if self.memory.take_collection_wanted() || self.limit_cycle.get() != LimitCycle::Idle {
            self.limit_collection_slice(slot_cap);
        } else {
            self.incremental_work(slot_cap);
        }
        self.interner_work();
    }

    /// One slice of the collection the memory limit asks for. It is physical only: the
    /// collector completes a cycle that started after the request (freeing what nothing
    /// holds). Nothing a script can see
    /// changes (weak tables, finalizers and `collectgarbage("count")` are decided only by
    /// full collections, `gc_collect`). It runs in slices of bounded collector work, one per
    /// `step`, so no step pauses for a whole heap; the executor that asked waits (its
    /// request is answered "collect first" until the cycle is done).
    fn limit_collection_slice(&mut self, slot_cap: usize) {
        use gc_arena::arena::CollectionPhase::{self, Sleeping};
        let _guard = AccountGuard::new(&self.memory);
        let sleeping = self.arena.collection_phase() == Sleeping;
        if self.arena.metrics().total_gc_count() < LIMIT_SLICED_OBJECTS {
            // A small heap: a whole cycle fits in a slice (and slices could not tell a cycle
            // that ran start to end from one that never started). A cycle under way finishes
            // first, then a fresh one runs.
            if !sleeping {
                self.arena.finish_cycle();
            }
            self.arena.finish_cycle();
            self.after_physical_cycle();
            self.limit_cycle.set(LimitCycle::Idle);
            return;
        }
        let stage = match self.limit_cycle.get() {
            LimitCycle::Idle if sleeping => LimitCycle::Marking,
            LimitCycle::Idle => LimitCycle::FinishingOld,
            other => other,
        };
        // (The debt is set, not added to: debt that allocation piled up before would be paid
        // in this slice too. An old cycle being finished goes at the sweep's rate, whichever
        // phase it is in.)
        let debt = match stage {
            LimitCycle::Marking => LIMIT_SLICE_DEBT,
            _ => LIMIT_SWEEP_SLICE_DEBT,
        };
        let metrics = self.arena.metrics();
        metrics.adjust_debt(debt - metrics.allocation_debt());
        // (Debt a slice puts off on reaching its cap of slots is not owed again: the next
        // slice's debt is set anew.)
        let _credit = crate::gc::SliceCredit::new(metrics, slot_cap);
        let stage = match stage {
            LimitCycle::FinishingOld => {
                self.arena.cycle_debt();
                if self.arena.collection_phase() == Sleeping {
                    LimitCycle::Marking
                } else {
                    LimitCycle::FinishingOld
                }
            }
            LimitCycle::Marking => {
                // (From sleep, the debt wakes the collector; it may take a few slices. If
                // something else drove the cycle on to sweeping, follow it.)
                if self.arena.mark_debt().is_some()
                    || self.arena.collection_phase() == CollectionPhase::Sweeping
                {
                    LimitCycle::Sweeping
                } else {
                    LimitCycle::Marking
                }
            }
            LimitCycle::Sweeping => {
                self.arena.cycle_debt();
                if self.arena.collection_phase() == Sleeping {
                    // The fresh cycle went through mark and sweep: done.
                    self.after_physical_cycle();
                    LimitCycle::Idle
                } else {
                    LimitCycle::Sweeping
                }
            }
            LimitCycle::Idle => LimitCycle::Idle,
        };
        self.limit_cycle.set(stage);
    }

    /// Steps `exec` until it finishes; `Err` if it ended with an error (its results are
    /// left for [`results`](Self::results)).
    pub fn finish(&mut self, exec: &StashedExecutor) -> Result<(), LuaError> {
        loop {
            let mut fuel = Fuel::new(DEFAULT_STEP_FUEL);
            if self.step(exec, &mut fuel).is_done() {
                break;
            }
        }
        self.enter(
            |ctx| match ctx.fetch_executor(exec).map_err(stale_error)?.result() {
                Some(ExecResult::Errored { value, traceback }) => {
                    Err(crate::run::runtime_error(ctx, value, traceback))
                }
                _ => Ok(()),
            },
        )
    }
}

fn stale_error(e: StaleHandle) -> LuaError {
    LuaError::host(e.to_string())
}

fn compile_error(e: CompileError) -> LuaError {
    if e.is_out_of_memory() {
        LuaError::new(LuaErrorKind::Memory, e.to_string())
    } else {
        LuaError::new(LuaErrorKind::Syntax, e.to_string())
    }
}

/// `tostring` for values that do not need metamethods; objects show their stable id.
pub fn display_plain(v: Value<'_>) -> String {
    match v {
        Value::Nil => "nil".into(),
        Value::Boolean(b) => b.to_string(),
        Value::Integer(i) => i.to_string(),
        Value::Float(f) => number::format_float(f),
        Value::String(s) => s.to_str_lossy().into_owned(),
        other => format!(
            "{}: 0x{:08x}",
            other.type_name(),
            other.object_id().unwrap_or(0)
        ),
    }
}

/// How the `lua` command renders an uncaught error value.
pub fn error_message<'gc>(ctx: Context<'gc>, v: Value<'gc>) -> String {
    match v {
        Value::String(_) | Value::Integer(_) | Value::Float(_) => display_plain(v),
        other => {
            if ctx.metamethod(other, MetaEvent::ToString).is_some() {
                // Rendering would need to run Lua; say what it is instead.
                format!("({} error object with __tostring)", other.type_name())
            } else {
                format!("(error object is a {} value)", other.type_name())
            }
        }
    }
}

impl<'gc> Context<'gc> {
    /// Instantiates a compiled chunk as a closure whose `_ENV` is `env` (default: globals).
    /// The closure is a script object (its id from the script's counter, its bytes in
    /// `collectgarbage("count")`); `Lua::load` makes host ones instead.
    ///
    /// The prototype tree is verified first (`lunette_compiler::verify`): the interpreter
    /// runs only verified code, and a prototype that fails is refused with the verifier's
    /// error. (`Context::load` and the VM's other loading paths verify as they compile or
    /// decode.)
    pub fn load_prototype(
        self,
        proto: &Arc<Prototype>,
        env: Option<Value<'gc>>,
    ) -> Result<LuaClosure<'gc>, VerifyError> {
        let proto = VerifiedProto::new(proto.clone())?;
        Ok(self.instantiate(&proto, env, false))
    }

    /// `load_prototype` of a prototype verified already.
    pub(crate) fn load_verified(
        self,
        proto: &VerifiedProto,
        env: Option<Value<'gc>>,
    ) -> LuaClosure<'gc> {
        self.instantiate(proto, env, false)
    }

    /// `load_verified`, as host machinery when `host`: a host id and host charges (the
    /// chunk and its constants), so a chunk the host loads changes nothing a script sees.
    fn instantiate(
        self,
        proto: &VerifiedProto,
        env: Option<Value<'gc>>,
        host: bool,
    ) -> LuaClosure<'gc> {
        let memory = self.state().memory.clone();
        // (A long constant's string shares the prototype's buffer: no copy.)
        let string =
            &mut |s: &std::sync::Arc<[u8]>| Value::String(self.new_string_from_buffer(s.clone()));
        if host {
            crate::memory::host_charges(&memory, || self.build_closure(proto, env, true, string))
        } else {
            crate::memory::script_charges(&memory, || self.build_closure(proto, env, false, string))
        }
    }

    /// A closure of `proto` with `_ENV` = `env` (default: the globals), its string constants
    /// taken from `string` (in the order `FunctionProto::load_with` asks for them).
    pub(crate) fn build_closure(
        self,
        proto: &VerifiedProto,
        env: Option<Value<'gc>>,
        host: bool,
        string: &mut dyn FnMut(&std::sync::Arc<[u8]>) -> Value<'gc>,
    ) -> LuaClosure<'gc> {
        let fp = FunctionProto::load_with(self, proto, string);
        self.closure_of(fp, env, host)
    }

    /// The main closure of the loaded chunk `fp`, with `_ENV` = `env` (default: the
    /// globals); host machinery when `host` (see `instantiate`).
    pub(crate) fn closure_of(
        self,
        fp: Gc<'gc, FunctionProto<'gc>>,
        env: Option<Value<'gc>>,
        host: bool,
    ) -> LuaClosure<'gc> {
        let mc = self.mutation();
        let env = env.unwrap_or(Value::Table(self.globals()));
        let id = if host {
            self.next_host_object_id()
        } else {
            self.next_object_id()
        };
        let journal = self.state().journal;
        let epoch = journal.epoch();
        let inner = ClosureInner::build(id, 0, fp, |i, _| {
            let v = if i == 0 { env } else { Value::Nil };
            let uv = crate::function::new_upvalue(mc, epoch, UpValueState::Closed(v));
            // (A chunk the host loads is host machinery: its upvalues join no checksum.)
            journal.made(mc, crate::snapshot::Member::UpValue(uv), !host);
            Ok::<_, std::convert::Infallible>(uv)
        });
        let c = match inner {
            Ok(inner) => LuaClosure(Gc::new(mc, inner)),
            Err(never) => match never {},
        };
        if !host {
            journal.made(mc, crate::snapshot::Member::Closure(c), true);
        }
        c
    }

    /// Compiles and instantiates a chunk. The compilation may hold at most what the memory
    /// limit has left (else a `not enough memory` compile error, see
    /// [`CompileError::is_out_of_memory`]); the prototypes are then charged to the VM.
    pub fn load(
        self,
        source: &[u8],
        chunk_name: &str,
        env: Option<Value<'gc>>,
    ) -> Result<LuaClosure<'gc>, CompileError> {
        let proto =
            VerifiedProto::compile_with_limit(source, chunk_name, self.memory().compile_budget())?;
        Ok(self.load_verified(&proto, env))
    }

    /// A handle that keeps `v` alive between `Lua::enter` calls and across restores.
    pub fn stash(self, v: Value<'gc>) -> StashedValue {
        let target = match v {
            Value::Nil => HandleTarget::Plain(PlainValue::Nil),
            Value::Boolean(b) => HandleTarget::Plain(PlainValue::Boolean(b)),
            Value::Integer(i) => HandleTarget::Plain(PlainValue::Integer(i)),
            Value::Float(f) => HandleTarget::Plain(PlainValue::Float(f)),
            Value::String(s) => {
                HandleTarget::Plain(PlainValue::String(s.content_hash(), s.shared_bytes()))
            }
            other => HandleTarget::Object(other.object_id().unwrap_or(0)),
        };
        let mc = self.mutation();
        let root = self
            .state()
            .roots
            .stash::<Rootable![Value<'_>]>(mc, Gc::new(mc, v));
        let mut reg = self.state().handles.borrow_mut();
        let slot = Rc::new(Slot {
            key: reg.key(target),
            root: RefCell::new(Some(root)),
        });
        reg.register_value(&slot);
        StashedValue(slot)
    }

    /// The value of a handle; `StaleHandle` if a restore removed its object.
    pub fn fetch(self, s: &StashedValue) -> Result<Value<'gc>, StaleHandle> {
        fetch_root(self.state().roots, &s.0).map(|gc| *Gc::as_ref(gc))
    }

    /// A handle to `e` that outlives this `enter` call (step it with `Lua::step`); re-rooted
    /// on restore like a [`StashedValue`].
    pub fn stash_executor(self, e: Executor<'gc>) -> StashedExecutor {
        let id = e.main_thread().id();
        let mc = self.mutation();
        let root = self
            .state()
            .roots
            .stash::<Rootable![Executor<'_>]>(mc, Gc::new(mc, e));
        let mut reg = self.state().handles.borrow_mut();
        let slot = Rc::new(Slot {
            key: reg.key(HandleTarget::Object(id)),
            root: RefCell::new(Some(root)),
        });
        reg.register_executor(&slot);
        StashedExecutor(slot)
    }

    /// The executor of a handle; `StaleHandle` if a restore removed it.
    pub fn fetch_executor(self, s: &StashedExecutor) -> Result<Executor<'gc>, StaleHandle> {
        fetch_root(self.state().roots, &s.0).map(|gc| *Gc::as_ref(gc))
    }
}
