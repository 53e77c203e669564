//! The snapshot ring (`Lua::snap` / `Lua::rollback`) as a journal: copy-on-first-write per
//! epoch, in place, so a snapshot costs what changed since the previous one.
//!
//! `snap()` starts a new *epoch* (and saves the small root state); it copies nothing else.
//! The mutable state of every object lives in a journaled cell ([`Journaled`], or
//! [`JournaledValue`] for small `Copy` state) that carries the epoch of its last backup
//! ([`Stamp`]): the cell's only mutable accessors save the current state into the epoch's
//! log at the first write of an epoch ([`JournaledState::save`]: an exact copy, capacities
//! included). So epoch `i`'s log holds, for every object changed after snapshot `i` (and
//! before snapshot `i + 1`), its state *at* snapshot `i`. Rolling back to snapshot `j`
//! applies the logs from the newest back to `j`'s, newest first ([`JournaledState::restore`]):
//! every object changed since `j` gets its state at `j` back. Objects created since are
//! simply no longer referenced. The logs hold their old contents strongly, so everything
//! reachable at a held snapshot stays allocated while the snapshot is held. Objects do not
//! point to the journal: a write reaches it through the `Context`.
//!
//! Journaled cells: tables (contents, layout and capacities, metatable, flags), threads
//! (stack, frames, status...), executors, upvalues, userdata metatables and flags, resumable
//! builtin states (`resumable`). Also
//! journaled, by their only writer: a closure's upvalue slot (`debug.upvaluejoin`), the
//! script ids given to host objects (`Context::script_id`), the root state saved at each
//! `snap` (object-id counters, string metatable, finalizer lists, the script's memory count,
//! the collector's pacing), and the payloads of typed userdata whose type is `Rewindable`
//! (`userdata_type`): the payload cell has a [`Stamp`], and the first *mutable borrow* of an
//! epoch (a `method_mut`, a field setter, `UserData::borrow_mut`) saves a clone
//! (`Backup::Payload`). Immutable objects (strings, prototypes, callbacks) need nothing. Not
//! journaled: untyped `UserData::new_snapshotable` payloads (immutable as far as the VM
//! knows), the interner (a cache) and tables' metamethod-absence cache (cleared by a
//! rollback).
//!
//! Big arrays are saved by pages: the first store of an epoch into an existing slot of a
//! table's array part of at least [`PAGED_ARRAY_MIN`] slots saves only the
//! [`ARRAY_PAGE`]-slot page around it (`Backup::TablePage`, `Journal::save_array_page`)
//! and leaves the table's stamp stale, so a frame that changes a few entities of a 100,000
//! entity array saves a few KiB, not the whole array. Any other write (a store that changes
//! the layout, the hash part, the metatable...) saves the whole state as usual; so does a
//! store once an eighth of the array's pages are saved in the epoch (a sweep over the whole
//! array copies it once instead of page by page). Rolling back applies a log's entries
//! newest first: a whole backup taken after some page backups holds those pages already
//! changed, and the older page backups, applied after it, put them back. Page stores never
//! change the array's length, so every page backup of an epoch fits the array as the whole
//! backup (or the current state) has it.
//!
//! Opaque userdata (state the VM cannot copy: `UserData::new`, typed types that are not
//! `Rewindable`) makes `snap` fail, naming it, exactly when `snapshot` and `checksum` fail:
//! a rollback could not put such state back, so the ring refuses rather than promise it. The
//! journal keeps weak pointers to the opaque userdata created (pruned as they die, at most
//! twice the live ones plus 64); while one is alive, `snap` walks the graph like `snapshot`
//! (`snapshot::capture`) to see whether it is reachable, so a VM without opaque userdata
//! pays nothing and one with some pays a full walk per `snap`.
//!
//! The journal also serves the incremental checksum (`snapshot::incremental`): once the
//! host asked for a checksum, the first write of each *tick* (an epoch, which a checksum
//! starts anew) records the object for rehashing, ring or no ring (with the ring empty,
//! nothing is copied), and objects made are recorded too (`Journal::made`).
//!
//! Invariants:
//! - `epoch == 0` iff the ring is empty and the checksum is not tracked (journaling off:
//!   nothing is saved or recorded).
//! - Epoch numbers are never reused, so after a rollback every object's stamp differs from the
//!   new epoch and its next write is backed up again.
//! - Within one tick an object's whole state is saved at most once (its stamp says it is
//!   saved), after any page backups of the same table, and each array page at most once
//!   (`SavedPages`). A checksum in the middle of a ring epoch starts a tick without a new
//!   log, so a log may hold an object twice; rollback applies a log's entries newest first,
//!   so the oldest copy, the state at the snapshot, is what stays.
//!
//! What a script observes at a full collection does not depend on the logs keeping old
//! objects alive: weak tables, finalizers and `collectgarbage("count")` are decided by a
//! logical mark that does not see the journal (`gc::logical_collection`).

use std::cell::{Cell, Ref, RefCell, RefMut};
use std::collections::VecDeque;

use gc_arena::barrier::Write;
use gc_arena::lock::{Lock, RefLock};
use gc_arena::{Collect, Gc, GcWeak, Mutation};

use crate::executor::{Executor, ExecutorState};
use crate::function::{LuaClosure, UpValue, UpValueState};
use crate::object::{Reference, References};
use crate::resumable::{Resumable, StateBox};
use crate::snapshot::{AsMember, CacheEdit, LiveHasher, Member, SnapshotError, Tracker};
use crate::state::Context;
use crate::table::{Table, TableInner, TableState};
use crate::thread::{Thread, ThreadState};
use crate::userdata::{UserData, UserDataInner, UserDataMeta};
use crate::userdata_type::RestorePayload;
use crate::value::Value;

/// The journal epoch of an object's last backup: the stamp of copy-on-first-write, written
/// once for every journaled cell (and the typed userdata payload cell).
#[derive(Default)]
pub(crate) struct Stamp(Cell<u32>);

impl Stamp {
    /// A stamp for an object created during `epoch` (it needs no backup in that epoch: a
    /// rollback to before it leaves it unreferenced).
    pub(crate) fn new(epoch: u32) -> Self {
        Stamp(Cell::new(epoch))
    }

    /// Whether the object was saved (or made) in `epoch`.
    #[inline(always)]
    pub(crate) fn is(&self, epoch: u32) -> bool {
        self.0.get() == epoch
    }

    /// Whether this is the object's first write of `epoch`; marks it written.
    #[inline(always)]
    pub(crate) fn first_write(&self, epoch: u32) -> bool {
        if self.0.get() == epoch {
            false
        } else {
            self.0.set(epoch);
            true
        }
    }
}

/// A copy of `v` with (at least) `capacity`: saved buffers keep their capacities, so memory
/// charges come back exactly.
pub(crate) fn copy_exact<T: Clone>(v: &[T], capacity: usize) -> Vec<T> {
    let mut out = Vec::with_capacity(capacity.max(v.len()));
    out.extend_from_slice(v);
    out
}

/// State that the journal saves and puts back: one implementation per mutable object kind,
/// with exhaustive destructuring, so that a field added to the state does not compile until
/// its save and restore say what happens to it.
pub(crate) trait JournaledState<'gc>: Sized + References<'gc> {
    /// The handle of the object the state belongs to (what a backup names).
    type Owner: Copy + AsMember<'gc>;
    /// An exact copy: the same contents and buffer capacities (memory charges and table
    /// layout must not change across a rollback). A copy's memory charge is detached (it
    /// counts in no account).
    fn save(&self) -> Self;
    /// Puts a saved copy back (rollback). The object's own charge is kept and set to the
    /// saved amount.
    fn restore(&mut self, saved: Self);
    /// The log entry holding `saved` for `owner`.
    fn backup(owner: Self::Owner, saved: Box<Self>) -> Backup<'gc>;
}

/// A journaled cell: the state of a mutable object (table, thread, executor) whose first
/// write of each snapshot epoch saves the old contents in the journal (`borrow_mut`). Every
/// mutation goes through it, so every mutation is journaled by construction; the only
/// unjournaled write is `borrow_mut_unjournaled`, for rollback and restore.
#[derive(Collect)]
#[collect(no_drop, bound = "where T: Collect<'gc> + 'gc")]
pub(crate) struct Journaled<T> {
    #[collect(require_static)]
    stamp: Stamp,
    /// A word for the owner's caches, *not* journaled (a rollback leaves it as it is; an
    /// owner whose cache could be wrong for the restored state clears it). It sits in what
    /// would be the stamp's padding, so it costs no memory.
    #[collect(require_static)]
    side: Cell<u32>,
    state: RefLock<T>,
}

impl<'gc, T: JournaledState<'gc>> Journaled<T> {
    /// A cell for an object created now (`Journal::epoch`).
    pub(crate) fn new(epoch: u32, state: T) -> Self {
        Journaled {
            stamp: Stamp::new(epoch),
            side: Cell::new(0),
            state: RefLock::new(state),
        }
    }

    /// The owner's unjournaled cache word (see the field).
    #[inline(always)]
    pub(crate) fn side(&self) -> &Cell<u32> {
        &self.side
    }

    #[inline(always)]
    pub(crate) fn borrow(&self) -> Ref<'_, T> {
        self.state.borrow()
    }

    /// Whether the state was saved (or the object made) in `epoch`: its writes need no
    /// backup.
    #[inline(always)]
    pub(crate) fn saved_in(&self, epoch: u32) -> bool {
        self.stamp.is(epoch)
    }

    pub(crate) fn try_borrow(&self) -> Result<Ref<'_, T>, std::cell::BorrowError> {
        self.state.try_borrow()
    }

    /// Mutable access; the first of the current epoch saves the state first.
    #[inline(always)]
    pub(crate) fn borrow_mut(
        this: &'gc Write<Self>,
        ctx: Context<'gc>,
        owner: T::Owner,
    ) -> RefMut<'gc, T> {
        let st = gc_arena::barrier::unlock!(this, Journaled, state).borrow_mut();
        let journal = ctx.state().journal;
        if this.stamp.first_write(journal.epoch()) {
            journal.save(ctx.mutation(), owner, &*st);
        }
        st
    }

    /// Like `borrow_mut`, `None` if the state is borrowed.
    pub(crate) fn try_borrow_mut(
        this: &'gc Write<Self>,
        ctx: Context<'gc>,
        owner: T::Owner,
    ) -> Option<RefMut<'gc, T>> {
        let st = gc_arena::barrier::unlock!(this, Journaled, state)
            .try_borrow_mut()
            .ok()?;
        let journal = ctx.state().journal;
        if this.stamp.first_write(journal.epoch()) {
            journal.save(ctx.mutation(), owner, &*st);
        }
        Some(st)
    }

    /// Mutable access without a backup: only for putting saved states back (rollback) and
    /// for filling objects a restore just made.
    pub(crate) fn borrow_mut_unjournaled(this: &'gc Write<Self>) -> RefMut<'gc, T> {
        gc_arena::barrier::unlock!(this, Journaled, state).borrow_mut()
    }
}

/// A journaled cell for small `Copy` state (an upvalue, a userdata's metatable and flags):
/// read without a borrow flag, replaced whole by `set`, which saves the old value at the
/// first write of an epoch.
#[derive(Collect)]
#[collect(no_drop, bound = "where T: Collect<'gc> + 'gc")]
pub struct JournaledValue<T: Copy> {
    #[collect(require_static)]
    stamp: Stamp,
    value: Lock<T>,
}

impl<T: Copy> JournaledValue<T> {
    /// The current value.
    #[inline(always)]
    pub fn get(&self) -> T {
        self.value.get()
    }
}

// The writers are crate-private; only `get` (above) is reachable from outside.
#[allow(private_bounds)]
impl<'gc, T: JournaledState<'gc> + Copy> JournaledValue<T> {
    pub(crate) fn new(epoch: u32, value: T) -> Self {
        JournaledValue {
            stamp: Stamp::new(epoch),
            value: Lock::new(value),
        }
    }

    /// Replaces the value; the first write of the current epoch saves the old one first.
    #[inline]
    pub(crate) fn set(this: &Write<Self>, ctx: Context<'gc>, owner: T::Owner, value: T) {
        let journal = ctx.state().journal;
        if this.stamp.first_write(journal.epoch()) {
            journal.save(ctx.mutation(), owner, &this.get());
        }
        gc_arena::barrier::unlock!(this, JournaledValue, value).set(value);
    }

    /// Replaces the value without a backup (rollback, restore).
    pub(crate) fn set_unjournaled(this: &Write<Self>, value: T) {
        gc_arena::barrier::unlock!(this, JournaledValue, value).set(value);
    }
}

/// A VM's snapshot journal (a `Gc` pointer held by the root state; objects reach it through
/// the `Context` when they are written).
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
    /// The array pages saved in the current epoch (see the module docs).
    #[collect(require_static)]
    pages: RefCell<SavedPages>,
    /// The incremental checksum (`snapshot::incremental`), once the host asked for one.
    tracker: RefLock<Option<Tracker<'gc>>>,
    /// `tracker.is_some()`, read without a borrow on the paths that make objects.
    #[collect(require_static)]
    tracking: Cell<bool>,
}

/// Objects the checksum's lists may name before `Lua::step` flushes them.
const FLUSH_AT: usize = 1 << 12;

/// Array slots one page backup holds.
pub(crate) const ARRAY_PAGE: usize = 64;

/// Arrays with at least this many slots are saved by pages (smaller ones whole: one copy of
/// at most 16 KiB).
pub(crate) const PAGED_ARRAY_MIN: usize = 1024;

/// Which array pages of which tables are saved in epoch `epoch` (stale entries of an older
/// epoch are dropped at the first use in a new one).
#[derive(Default)]
struct SavedPages {
    epoch: u32,
    /// By table id (ids are unique among live objects, and only a rollback, which starts a
    /// new epoch, hands old ones out again): a bitmap of saved pages and their count.
    tables: hashbrown::HashMap<u64, (Vec<u64>, usize)>,
}

#[derive(Collect)]
#[collect(no_drop)]
struct EpochLog<'gc> {
    root: RootBackup<'gc>,
    entries: Vec<Backup<'gc>>,
    /// The checksum cache entries full collections changed in this epoch, oldest first
    /// (`Tracker::recount`).
    #[collect(require_static)]
    checksum_edits: Vec<CacheEdit>,
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
    collection_wait: usize,
    #[collect(require_static)]
    script_bytes: usize,
    #[collect(require_static)]
    pacing: crate::memory::CollectorPacing,
    /// The checksum's sum `S` (`None`: the VM did not track it then).
    #[collect(require_static)]
    checksum_sum: Option<u64>,
}

/// One saved state in an epoch's log: the object and its state at the epoch's snapshot.
#[derive(Collect)]
#[collect(no_drop)]
pub(crate) enum Backup<'gc> {
    Table(Table<'gc>, Box<TableState<'gc>>),
    /// Array slots `start..start + values.len()` of a table (see the module docs).
    TablePage {
        table: Table<'gc>,
        #[collect(require_static)]
        start: usize,
        values: Vec<Value<'gc>>,
    },
    Thread(Thread<'gc>, Box<ThreadState<'gc>>),
    Executor(Executor<'gc>, Box<ExecutorState<'gc>>),
    UpValue(UpValue<'gc>, Box<UpValueState<'gc>>),
    UserData(UserData<'gc>, Box<UserDataMeta<'gc>>),
    /// A resumable builtin state (`resumable`).
    Resumable(Resumable<'gc>, Box<StateBox<'gc>>),
    /// `debug.upvaluejoin` changed a closure's upvalue slot (closures' slots are otherwise
    /// immutable, so this is their only journaled write).
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
                pages: RefCell::new(SavedPages::default()),
                tracker: RefLock::new(None),
                tracking: Cell::new(false),
            },
        ))
    }

    /// Whether the ring holds snapshots (then first writes are copied into its newest log).
    pub(crate) fn ring_active(self) -> bool {
        !self.0.logs.borrow().is_empty()
    }

    /// Whether the checksum is tracked (see `snapshot::incremental`).
    #[inline(always)]
    pub(crate) fn tracking(self) -> bool {
        self.0.tracking.get()
    }

    fn tracker_mut<R>(
        self,
        mc: &Mutation<'gc>,
        f: impl FnOnce(&mut Tracker<'gc>) -> R,
    ) -> Option<R> {
        let cell = gc_arena::barrier::unlock!(Gc::write(mc, self.0), JournalInner, tracker);
        let mut t = cell.borrow_mut();
        t.as_mut().map(f)
    }

    /// `f` of the tracker, if the checksum is tracked.
    pub(crate) fn with_tracker<R>(self, f: impl FnOnce(&Tracker<'gc>) -> R) -> Option<R> {
        self.0.tracker.borrow().as_ref().map(f)
    }

    /// A member was made (`joins`: it joins L; see `snapshot::incremental`).
    #[inline(always)]
    pub(crate) fn made(self, mc: &Mutation<'gc>, m: Member<'gc>, joins: bool) {
        if self.tracking() {
            self.note_made(mc, m, joins);
        }
    }

    #[cold]
    #[inline(never)]
    fn note_made(self, mc: &Mutation<'gc>, m: Member<'gc>, joins: bool) {
        self.tracker_mut(mc, |t| t.made(m, joins));
    }

    fn note_written(self, mc: &Mutation<'gc>, m: Option<Member<'gc>>) {
        if let Some(m) = m {
            if self.tracking() {
                self.tracker_mut(mc, |t| t.written(m));
            }
        }
    }

    /// A typed userdata payload's first mutable borrow of the epoch (its clone, when the
    /// ring is active, goes in with `backup_payload`).
    pub(crate) fn payload_written(self, mc: &Mutation<'gc>) {
        if self.tracking() {
            self.tracker_mut(mc, |t| t.payload_written());
        }
    }

    /// Starts a new tick of the checksum's tracking (see `snapshot::incremental`): a new
    /// epoch, so every object's next write is seen (and, with the ring active, saved into
    /// the same newest log again).
    fn new_tick(self) {
        let epoch = self.0.last_epoch.get().wrapping_add(1).max(1);
        self.0.last_epoch.set(epoch);
        self.0.epoch.set(epoch);
    }

    /// Stops tracking (a member could not be hashed: opaque userdata). The next
    /// `Lua::checksum` starts again, and fails the same way while the cause lives.
    fn stop_tracking(self, mc: &Mutation<'gc>) {
        let cell = gc_arena::barrier::unlock!(Gc::write(mc, self.0), JournalInner, tracker);
        *cell.borrow_mut() = None;
        self.0.tracking.set(false);
        if !self.ring_active() {
            self.0.epoch.set(0);
        }
    }

    /// Tracks the checksum from now on with `tracker` (a first `checksum`, or a restore).
    pub(crate) fn start_tracking(self, mc: &Mutation<'gc>, tracker: Tracker<'gc>) {
        let cell = gc_arena::barrier::unlock!(Gc::write(mc, self.0), JournalInner, tracker);
        *cell.borrow_mut() = Some(tracker);
        self.0.tracking.set(true);
        self.new_tick();
    }

    /// Whether the checksum's lists are long enough that `Lua::step` flushes them (see
    /// `Tracker::pending`).
    pub(crate) fn flush_due(self) -> bool {
        self.tracking() && self.with_tracker(|t| t.pending() >= FLUSH_AT) == Some(true)
    }

    /// Brings the checksum's sum up to date (see `snapshot::incremental`) and starts a new
    /// tick. Does nothing when the checksum is not tracked.
    pub(crate) fn flush(self, ctx: Context<'gc>) -> Result<(), SnapshotError> {
        if !self.tracking() {
            return Ok(());
        }
        let mc = ctx.mutation();
        let mut hasher = LiveHasher::new(ctx.state());
        let r = self
            .tracker_mut(mc, |t| t.flush(mc, &mut hasher))
            .unwrap_or(Ok(()));
        match r {
            Ok(()) => {
                self.new_tick();
                Ok(())
            }
            Err(e) => {
                self.stop_tracking(mc);
                Err(e)
            }
        }
    }

    /// After a full collection's logical mark: L becomes `members` (see
    /// `Tracker::recount`); the cache entries that changed are saved for a rollback.
    pub(crate) fn recount(self, ctx: Context<'gc>, members: &[Member<'gc>]) {
        let mc = ctx.mutation();
        let mut hasher = LiveHasher::new(ctx.state());
        match self.tracker_mut(mc, |t| t.recount(members, &mut hasher)) {
            Some(Ok(edits)) => {
                let logs = gc_arena::barrier::unlock!(Gc::write(mc, self.0), JournalInner, logs);
                if let Some(log) = logs.borrow_mut().back_mut() {
                    log.checksum_edits.extend(edits);
                }
            }
            Some(Err(_)) => self.stop_tracking(mc),
            None => {}
        }
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

    /// Saves `owner`'s state before its first write of the epoch (called by the journaled
    /// cells when their stamp is stale; they update the stamp).
    #[cold]
    #[inline(never)]
    pub(crate) fn save<T: JournaledState<'gc>>(
        self,
        mc: &Mutation<'gc>,
        owner: T::Owner,
        state: &T,
    ) {
        if self.epoch() != 0 {
            self.note_written(mc, owner.member());
            if self.ring_active() {
                self.push(mc, T::backup(owner, Box::new(state.save())));
            }
        }
    }

    /// Before a store into slot `idx` of `table`'s array part (`array`, at least
    /// [`PAGED_ARRAY_MIN`] slots, `idx` inside it) while the table's whole state is not saved
    /// in this epoch: saves the slot's page unless it is saved already. Returns `false`
    /// (nothing saved) when the whole state should be saved instead: an eighth of the
    /// array's pages are saved already.
    #[cold]
    #[inline(never)]
    pub(crate) fn save_array_page(
        self,
        mc: &Mutation<'gc>,
        table: Table<'gc>,
        array: &[Value<'gc>],
        idx: usize,
    ) -> bool {
        let epoch = self.epoch();
        if epoch == 0 {
            return true;
        }
        let page = idx / ARRAY_PAGE;
        let mut pages = self.0.pages.borrow_mut();
        if pages.epoch != epoch {
            pages.tables.clear();
            pages.epoch = epoch;
        }
        let (bits, count) = pages.tables.entry(table.id()).or_default();
        let (word, bit) = (page / 64, 1u64 << (page % 64));
        if bits.get(word).is_some_and(|w| w & bit != 0) {
            return true;
        }
        if (*count + 1) * 8 > array.len().div_ceil(ARRAY_PAGE) {
            return false;
        }
        if bits.len() <= word {
            bits.resize(word + 1, 0);
        }
        bits[word] |= bit;
        *count += 1;
        drop(pages);
        if self.tracking() {
            self.tracker_mut(mc, |t| t.page_written(table, page));
        }
        if !self.ring_active() {
            // Only the checksum's tracking: nothing to copy.
            return true;
        }
        let start = page * ARRAY_PAGE;
        let end = (start + ARRAY_PAGE).min(array.len());
        self.push(
            mc,
            Backup::TablePage {
                table,
                start,
                values: array[start..end].to_vec(),
            },
        );
        true
    }

    /// Saves a typed userdata's payload before its first mutable borrow of the epoch (the
    /// caller checked and updates the payload's stamp).
    pub(crate) fn backup_payload(self, mc: &Mutation<'gc>, saved: Box<dyn RestorePayload>) {
        if self.ring_active() {
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
        self.note_written(mc, Member::of_value(Value::Function(c)));
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
        if self.ring_active() {
            self.push(mc, Backup::ScriptId(v));
        }
    }

    /// Calls `f` with everything the logs hold strongly (for `gc::ring_only_bytes`).
    pub(crate) fn visit_held(self, mut f: impl FnMut(Reference<'gc>)) {
        self.with_tracker(|t| {
            t.visit_held(|m| {
                f(match m {
                    Member::Table(t) => Reference::Value(Value::Table(t)),
                    Member::Closure(c) => Reference::Value(Value::Function(c)),
                    Member::UpValue(u) => Reference::UpValue(u),
                    Member::Thread(t) => Reference::Value(Value::Thread(t)),
                    Member::UserData(u) => Reference::Value(Value::UserData(u)),
                    Member::Resumable(r) => Reference::Resumable(r),
                })
            })
        });
        let logs = self.0.logs.borrow();
        for log in logs.iter() {
            let RootBackup {
                next_id: _,
                next_host_id: _,
                string_metatable,
                type_metatables,
                finalizable,
                pending,
                finalizing,
                weak_tables: _,
                full_collection_requested: _,
                collection_wait: _,
                script_bytes: _,
                pacing: _,
                checksum_sum: _,
            } = &log.root;
            for t in string_metatable
                .iter()
                .chain(type_metatables.iter().flatten())
            {
                f(Reference::Value(Value::Table(*t)));
            }
            for v in finalizable.iter().chain(pending) {
                f(Reference::Value(*v));
            }
            f(Reference::Value(*finalizing));
            for e in &log.entries {
                match e {
                    Backup::Table(t, saved) => {
                        f(Reference::Value(Value::Table(*t)));
                        saved.references(&mut f);
                    }
                    Backup::TablePage {
                        table,
                        start: _,
                        values,
                    } => {
                        f(Reference::Value(Value::Table(*table)));
                        values.references(&mut f);
                    }
                    Backup::Thread(t, saved) => {
                        f(Reference::Value(Value::Thread(*t)));
                        saved.references(&mut f);
                    }
                    Backup::Executor(e, saved) => {
                        f(Reference::Executor(*e));
                        saved.references(&mut f);
                    }
                    Backup::UpValue(u, saved) => {
                        f(Reference::UpValue(*u));
                        saved.references(&mut f);
                    }
                    Backup::UserData(u, saved) => {
                        f(Reference::Value(Value::UserData(*u)));
                        saved.references(&mut f);
                    }
                    Backup::Resumable(r, saved) => {
                        f(Reference::Resumable(*r));
                        saved.references(&mut f);
                    }
                    Backup::ClosureSlot {
                        closure,
                        slot: _,
                        upvalue,
                    } => {
                        f(Reference::Value(Value::Function(*closure)));
                        f(Reference::UpValue(*upvalue));
                    }
                    Backup::ScriptId(v) => f(Reference::Value(*v)),
                    Backup::Payload { saved: _ } => {}
                }
            }
        }
    }

    pub(crate) fn held(self) -> usize {
        self.0.logs.borrow().len()
    }

    /// Keeps at most `n` snapshots. Returns whether some were dropped (then the memory
    /// limit's ring allowance is stale: see `MemoryAccount::set_ring_allowance`).
    pub(crate) fn set_capacity(self, mc: &Mutation<'gc>, n: usize) -> bool {
        self.0.capacity.set(n.max(1));
        let logs = gc_arena::barrier::unlock!(Gc::write(mc, self.0), JournalInner, logs);
        let mut logs = logs.borrow_mut();
        let before = logs.len();
        while logs.len() > self.0.capacity.get() {
            logs.pop_front();
        }
        logs.len() != before
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
                    Backup::Table(_, b) => size_of::<TableState<'static>>() + b.backup_bytes(),
                    Backup::TablePage { values, .. } => {
                        values.capacity() * size_of::<Value<'static>>()
                    }
                    Backup::Thread(_, b) => size_of::<ThreadState<'static>>() + b.buffer_bytes(),
                    Backup::Executor(_, b) => {
                        size_of::<ExecutorState<'static>>()
                            + b.threads.capacity() * size_of::<Thread<'static>>()
                            + b.traceback.capacity()
                    }
                    Backup::UpValue(..) => size_of::<UpValueState<'static>>(),
                    Backup::UserData(..) => size_of::<UserDataMeta<'static>>(),
                    Backup::Resumable(_, b) => size_of_val(&*b.0) + b.0.size_bytes(),
                    Backup::Payload { saved } => saved.size_bytes(),
                    Backup::ClosureSlot { .. } | Backup::ScriptId(_) => 0,
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
        // (A flush fails only on opaque userdata the checksum would hash; it then stops
        // tracking, and the next `checksum` reports it. It does not make `snap` fail.)
        let _ = self.flush(ctx);
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
                collection_wait: gc.collection_wait,
                script_bytes: state.memory.script_bytes(),
                pacing: state.memory.pacing(),
                checksum_sum: self.with_tracker(|t| t.sum()),
            }
        };
        let epoch = self.0.last_epoch.get().wrapping_add(1).max(1);
        self.0.last_epoch.set(epoch);
        self.0.epoch.set(epoch);
        let logs = gc_arena::barrier::unlock!(Gc::write(mc, self.0), JournalInner, logs);
        let mut logs = logs.borrow_mut();
        if logs.len() >= self.0.capacity.get() {
            logs.pop_front();
            // What only the dropped log kept alive is garbage now: the memory limit's
            // allowance for the ring must not lend it to the script (measured again at the
            // next completed collection cycle).
            state.memory.set_ring_allowance(0);
        }
        logs.push_back(EpochLog {
            root,
            entries: Vec::new(),
            checksum_edits: Vec::new(),
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
        let mut restored = Restored::default();
        let mut edits = Vec::new();
        while logs.len() > target + 1 {
            let log = logs.pop_back().expect("more logs than the target");
            apply(mc, log.entries, &mut restored);
            edits.extend(log.checksum_edits.into_iter().rev());
        }
        let log = logs.back_mut().expect("the target log");
        let entries = std::mem::take(&mut log.entries);
        apply(mc, entries, &mut restored);
        edits.extend(std::mem::take(&mut log.checksum_edits).into_iter().rev());
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
            gc.collection_wait = root.collection_wait;
        }
        state.memory.set_script_bytes(root.script_bytes);
        state.memory.set_pacing(root.pacing);
        state.memory.forget_pending_request();
        state.instantiations.borrow_mut(mc).clear();
        // Objects only the ring kept alive may be live again: the allowance is measured anew
        // at the next completed collection cycle.
        state.memory.set_ring_allowance(0);
        let next_ids = (root.next_id, root.next_host_id);
        let checksum_sum = root.checksum_sum;
        drop(logs);
        if self.tracking() {
            let mut hasher = LiveHasher::new(state);
            let r = match checksum_sum {
                Some(sum) => self.tracker_mut(mc, |t| {
                    t.roll_back(
                        edits.into_iter(),
                        restored.members,
                        restored.pages,
                        restored.payloads,
                        sum,
                        mc,
                        &mut hasher,
                    )
                }),
                // Tracking began after that snapshot: it begins again from the root.
                None => Some(
                    crate::snapshot::root_members(state, (0, 0, 0))
                        .map(|(members, _)| self.start_tracking(mc, Tracker::new(0, members))),
                ),
            };
            if let Some(Err(_)) = r {
                self.stop_tracking(mc);
            }
        }
        // A fresh epoch: every object's next write is saved again (into the target's log).
        self.new_tick();
        Ok(next_ids)
    }
}

/// What a rollback put back: the members to rehash for the checksum, and whether payloads.
#[derive(Default)]
struct Restored<'gc> {
    members: Vec<Member<'gc>>,
    /// Array pages put back (`Backup::TablePage`): the table and the page.
    pages: Vec<(Table<'gc>, usize)>,
    payloads: bool,
}

/// Puts the saved states back, newest entry first.
fn apply<'gc>(mc: &Mutation<'gc>, entries: Vec<Backup<'gc>>, restored: &mut Restored<'gc>) {
    for e in entries.into_iter().rev() {
        let member = match &e {
            Backup::Table(t, _) => t.member(),
            Backup::TablePage { table, start, .. } => {
                restored.pages.push((*table, start / ARRAY_PAGE));
                None
            }
            Backup::Thread(t, _) => t.member(),
            Backup::Executor(..) | Backup::ScriptId(_) => None,
            Backup::UpValue(u, _) => u.member(),
            Backup::UserData(u, _) => u.member(),
            Backup::Resumable(r, _) => r.member(),
            Backup::ClosureSlot { closure, .. } => Member::of_value(Value::Function(*closure)),
            Backup::Payload { .. } => {
                restored.payloads = true;
                None
            }
        };
        restored.members.extend(member);
        match e {
            Backup::Table(t, saved) => {
                let mut st = Journaled::borrow_mut_unjournaled(t.cell(mc));
                st.restore(*saved);
                st.segments_restored(mc, t.0);
                drop(st);
                // The metamethod-absence cache may describe contents that were rolled back.
                t.absent_events().set(0);
            }
            Backup::TablePage {
                table,
                start,
                values,
            } => {
                let mut st = Journaled::borrow_mut_unjournaled(table.cell(mc));
                // Always in range (see the module docs: page stores keep the length).
                if let Some(slots) = st.array.get_mut(start..start + values.len()) {
                    slots.copy_from_slice(&values);
                    // (A page lies in one segment.)
                    st.slot_barrier(mc, start);
                } else {
                    debug_assert!(false, "a page backup outside its array");
                }
            }
            Backup::Thread(t, saved) => {
                Journaled::borrow_mut_unjournaled(t.cell(mc)).restore(*saved)
            }
            Backup::Executor(e, saved) => {
                Journaled::borrow_mut_unjournaled(e.cell(mc)).restore(*saved)
            }
            Backup::UpValue(uv, saved) => {
                JournaledValue::set_unjournaled(Gc::write(mc, uv), *saved)
            }
            Backup::UserData(u, saved) => JournaledValue::set_unjournaled(u.meta_cell(mc), *saved),
            Backup::Resumable(r, saved) => {
                Journaled::borrow_mut_unjournaled(r.cell(mc)).restore(*saved);
                r.sync_charge();
            }
            Backup::ClosureSlot {
                closure,
                slot,
                upvalue,
            } => closure.set_upvalue_slot(mc, slot, upvalue),
            Backup::Payload { saved } => saved.restore(),
            Backup::ScriptId(v) => match v {
                Value::Thread(t) => t.0.script_id.set(0),
                Value::Function(f) => f.0.script_id.set(0),
                Value::String(s) => s.0.script_id.set(0),
                _ => {}
            },
        }
    }
}
