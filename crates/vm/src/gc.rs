//! Deterministic handling of everything that depends on the garbage collector: weak tables
//! (`__mode`) and finalizers (`__gc`).
//!
//! The rule (a deterministic VM defines and documents what the collector may change): incremental
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
//! that is off by default). The queue is VM state and is run in bounded, charged pieces that
//! pause at step boundaries (`run_finalizers`); no finalizer starts on a thread while another
//! one is running on it.
//!
//! Weak-key tables are ephemerons (a value is reachable through its entry only if its key is),
//! like PUC. The mark is linear: an entry whose key is not marked yet waits on its key and is
//! marked when the key is. Not modelled: the removal of resurrected keys being delayed one
//! cycle (PUC's subtlety).
//!
//! Cost: the logical mark walks the whole reachable graph. A full collection asked for in a
//! step (by the script or the pacing) is marked in slices, one per `Lua::step`, while the
//! executors running then wait (`Collection`): no step holds a whole mark, and since nothing
//! the mark reads changes until it is done, it decides what one mark at that point would. A
//! script-requested collection pays for it in fuel beforehand (`full_collection_units`); a
//! host-requested one (`Lua::gc_collect`, or any host call made while a collection is in
//! progress, which finishes it) is the host's time. Such a collection is only that mark: the
//! physical collector frees what it left unreachable in its incremental slices (`Lua::step`).
//! The mark visits big containers (a table's array and entries, a thread's stack and frames)
//! `MARK_PIECE` slots at a time, so its own stack holds a piece's children per container in
//! progress, not every child of a big one: its memory beyond the heap stays small when the
//! memory limit's collection runs at the limit.

use crate::memory::CollectorPacing;
use std::cell::Cell;

use gc_arena::lock::RefLock;
use gc_arena::{Collect, Gc, GcWeak};

use crate::error::Error;
use crate::executor::Exec;
use crate::function::Then;
use crate::function::{Action, Outcome};
use crate::object::{Reference, References};
use crate::state::{Context, MetaEvent, State};
use crate::table::{Table, TableInner, TableState, GC_FLAG_FINALIZER, GC_FLAG_WEAK};
use crate::value::Value;

thread_local! {
    /// Value slots traced since the last completed cycle (pacing input, see `pace`). A
    /// thread-local because the counting happens in `Collect::trace` (`gc_unsafe`), which
    /// gc-arena calls with no context; `pace` reads and resets it right after each arena
    /// step, so no other VM's tracing can be counted in between.
    static TRACED_SLOTS: Cell<usize> = const { Cell::new(0) };
    /// The metrics of the arena whose incremental slice is running (`SliceCredit`), which
    /// traces of the interner's chunks credit with their work (see `credit_visits`).
    static SLICE_METRICS: std::cell::RefCell<Option<gc_arena::metrics::Metrics>> =
        const { std::cell::RefCell::new(None) };
    /// The running slice's count of the value slots that tables' segments read, and its
    /// cap (see `note_slice_slots`).
    static SLICE_SLOTS: Cell<(usize, usize)> = const { Cell::new((0, usize::MAX)) };
    /// The debt the running slice put off when it reached its cap of slots, which its
    /// caller owes again (see `note_slice_slots`).
    static SLICE_PUT_OFF: Cell<f64> = const { Cell::new(0.0) };
    /// (Tests: the most slots one slice read, and the slots all slices read.)
    #[cfg(test)]
    static SLICE_SLOTS_SEEN: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
}

/// Records that a trace visited `n` value slots.
#[inline]
pub(crate) fn note_traced(n: usize) {
    TRACED_SLOTS.with(|t| t.set(t.get().wrapping_add(n)));
}

/// Weak pointers a trace visits for free: gc-arena counts an object traced as one unit of
/// work whatever it holds.
const FREE_SLOTS: usize = 64;
/// The collector work (in gc-arena's debt units) credited per weak pointer visited beyond
/// `FREE_SLOTS`: a visit reads the header of the string it names (a cache miss apiece on a
/// big set), about what marking an object costs (the pacing's `mark_factor`).
const SLOT_CREDIT: f64 = 0.05;

/// Pays for `n` weak pointers a trace visited (the interner's chunks) from the running
/// slice's debt (`SliceCredit`), so a slice that meets many chunks stops sooner: counted as
/// one object each, the chunks re-traced at the end of a mark held that slice for 2-3.6 ms
/// (string_intern_flood). (Not for tables' segments: crediting them too made the cycles of
/// coroutine_bomb's big tables slower than its allocation, and its memory-limit collections
/// longer.)
#[inline]
pub(crate) fn credit_visits(n: usize) {
    if n > FREE_SLOTS {
        SLICE_METRICS.with(|m| {
            if let Ok(m) = m.try_borrow() {
                if let Some(m) = m.as_ref() {
                    m.adjust_debt(-((n - FREE_SLOTS) as f64) * SLOT_CREDIT);
                }
            }
        });
    }
}

/// Counts `n` value slots that the trace of a table's segment read in the running slice.
/// gc-arena weighs a traced object as one unit whatever it holds, and a segment reads 4,096 slots (a cache
/// miss each for distinct objects: ~50 us), so a slice that met many segments ran for milliseconds (gc_weak_cache_big: 2-3.7 ms
/// tracing 150,000 weak keys). Once a slice has read its cap of such slots, it puts off
/// the rest of its debt: the debt is cleared so the slice stops after this object, and the
/// caller owes it again (`SliceCredit::put_off`), spread over the next slices with the
/// byte-derived debt (`Lua::incremental_work`; owed at once by the next slice, it piled up
/// while the mark was cut short and made the sweep's first slice long). The collector's work
/// per allocation is unchanged (crediting the slots as work done instead made
/// coroutine_bomb's cycles slower than its allocation): only a slice's length is bounded,
/// to its step's fuel (`mark_slice_budget`). Also for the values a thread's segment traces
/// (`frame_stack`: once a cycle, like a table's segment), not for those the thread's own
/// trace reads: a running thread is traced again in every slice while the collector marks,
/// so a slice that stopped after a deep one made the mark take more slices and the stack
/// more traces (metamethod_recursion_all's worst step 1.1-1.4 -> 1.55-1.6 ms with whole
/// stacks of more than 4,096 slots counted).
#[inline]
pub(crate) fn note_slice_slots(n: usize) {
    let (read, cap) = SLICE_SLOTS.get();
    let read = read.saturating_add(n);
    SLICE_SLOTS.set((read, cap));
    if read > cap {
        put_off_slice_debt();
    }
}

#[cold]
fn put_off_slice_debt() {
    SLICE_METRICS.with(|m| {
        if let Ok(m) = m.try_borrow() {
            if let Some(m) = m.as_ref() {
                let debt = m.allocation_debt();
                if debt > 0.0 {
                    m.adjust_debt(-debt);
                    SLICE_PUT_OFF.set(SLICE_PUT_OFF.get() + debt);
                }
            }
        }
    });
}

/// While it lives, the interner's chunks traced pay for their visits from `metrics`' debt
/// (see `credit_visits`), and tables' segments count their slots towards the slice's cap
/// of `slot_cap` (see `note_slice_slots`): made around the debt-paced collector calls of one
/// arena, so no other arena's tracing is credited to it.
pub(crate) struct SliceCredit;

impl SliceCredit {
    pub(crate) fn new(metrics: &gc_arena::metrics::Metrics, slot_cap: usize) -> Self {
        SLICE_METRICS.with(|m| *m.borrow_mut() = Some(metrics.clone()));
        SLICE_SLOTS.set((0, slot_cap));
        SLICE_PUT_OFF.set(0.0);
        SliceCredit
    }

    /// The debt the slice put off so far, on reaching its cap of slots (see
    /// `note_slice_slots`).
    pub(crate) fn put_off(&self) -> f64 {
        SLICE_PUT_OFF.get()
    }
}

impl Drop for SliceCredit {
    fn drop(&mut self) {
        #[cfg(test)]
        {
            let (most, all) = SLICE_SLOTS_SEEN.get();
            let read = SLICE_SLOTS.get().0;
            SLICE_SLOTS_SEEN.set((most.max(read), all + read));
        }
        SLICE_PUT_OFF.set(0.0);
        SLICE_SLOTS.set((0, usize::MAX));
        SLICE_METRICS.with(|m| *m.borrow_mut() = None);
    }
}

/// Collection pacing. gc-arena paces by object count, but one table can hold millions of
/// values: re-tracing it every few hundred allocations made collection quadratic. After each
/// completed cycle the collector sleeps for a number of allocations proportional to the
/// slots that cycle traced, so tracing costs O(1) per allocation: 8 slots traced per
/// allocation at most. (A sleep of one allocation per 4 slots kept the garbage of up to 3
/// rounds of sort_comparator's 20,000 records: its peak went 12.8 -> 10.2 MiB, the median
/// over five phases of its collection, with no change in time on the bench; one per 16 slots
/// gave 9.3 MiB, but its more frequent cycles re-traced the hostile suite's 300,000-slot
/// tables more often: coroutine_bomb's worst step 6 -> 10 ms.)
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
    pacing.min_sleep = (traced / 8).max(pacing.min_sleep);
    // A cycle does its work at twice gc-arena's default rate per allocation, so less garbage
    // piles up while it runs: binary_trees' peak 34 -> 22 MiB in the bench (41 -> 26 MiB
    // from the CLI, whatever the collector's phase: it had varied from 31 to 42 MiB with
    // trivial changes to the script), closures' and oop_methods' about 25% lower, for about
    // 6% more instructions on binary_trees and no slower in time (a smaller heap is walked
    // faster). The sleep between cycles is unchanged. A quarter of the default factors gave
    // 19 MiB for 10% more instructions; sort_comparator peaks 1 MiB (7%) higher with either.
    // Sweeping a live object weighs what marking it does (0.25 work units), not a tenth of
    // it: the sweep walks gc-arena's list of every object, a cache miss each on a big heap
    // (95 ns an object on coroutine_bomb's 60 MiB, as slow as a mark), so with gc-arena's
    // weight a slice that reached the sweep freed or kept 140,000 objects and took 3-7 ms
    // where marking slices took 1.3. The sweep now takes as many slices as the mark, so
    // garbage made meanwhile waits longer: binary_trees' peak 22.5 -> 25.4 MiB,
    // string_concat's 5.1 -> 6.2 (medians over five phases), sort_comparator's 10.3 -> 9.4.
    pacing.mark_factor *= 0.5;
    pacing.trace_factor *= 0.5;
    pacing.keep_factor *= 5.0;
    pacing.drop_factor *= 0.5;
    pacing.free_factor *= 0.5;
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
pub(crate) struct FinalizerList<'gc>(pub(crate) Vec<Value<'gc>>);

#[derive(Collect, Default)]
#[collect(no_drop)]
pub(crate) struct GcState<'gc> {
    pub(crate) finalizable: FinalizerList<'gc>,
    /// Objects whose finalizers are to run, the next one LAST (`pop`). Part of the VM state
    /// (snapshots and the journal keep it), so a queue half run resumes after a restore.
    pub(crate) pending: Vec<Value<'gc>>,
    /// The thread (`Value::Thread`) on which a finalizer call is in progress, else nil. No
    /// other finalizer starts on that thread until it returns, so finalizers never nest on
    /// one frame stack (like PUC, which stops the collector while a `__gc` runs).
    pub(crate) finalizing: Value<'gc>,
    pub(crate) weak_tables: Vec<GcWeak<'gc, TableInner<'gc>>>,
    #[collect(require_static)]
    pub(crate) full_collection_requested: bool,
    /// The full collection whose logical mark is in progress, if any (see [`Collection`]).
    /// Never part of a snapshot: every host access but `Lua::step` finishes it first.
    pub(crate) collection: Option<Box<Collection<'gc>>>,
    /// Units of mark work the steps still pay for before executors run again, once the mark
    /// they paid for is done (see [`Collection`]). VM state: snapshots and the ring keep it.
    #[collect(require_static)]
    pub(crate) collection_wait: usize,
}

pub(crate) type GcStateRef<'gc> = Gc<'gc, RefLock<GcState<'gc>>>;

/// An object met by the logical mark.
#[derive(Clone, Copy, Collect)]
#[collect(no_drop)]
enum Node<'gc> {
    Table(Table<'gc>),
    Closure(crate::function::LuaClosure<'gc>),
    Proto(Gc<'gc, crate::function::FunctionProto<'gc>>),
    UpValue(crate::function::UpValue<'gc>),
    Callback(crate::function::Callback<'gc>),
    Thread(crate::thread::Thread<'gc>),
    UserData(crate::userdata::UserData<'gc>),
    Executor(crate::executor::Executor<'gc>),
    Resumable(crate::resumable::Resumable<'gc>),
    /// A strong table's array and entries from this position on (array first, then
    /// entries): big containers are marked [`MARK_PIECE`] slots at a time (see `run`).
    TableFrom(Table<'gc>, #[collect(require_static)] u32),
    /// A weak table's slots from this position on, likewise (its strong parts).
    WeakFrom(Table<'gc>, #[collect(require_static)] u32),
    /// A thread's value stack and then its frames from this position on, likewise.
    StackFrom(crate::thread::Thread<'gc>, #[collect(require_static)] u32),
    /// A prototype's constants and then its nested prototypes from this position on,
    /// likewise (a chunk of 100,000 string constants was one node: 2 ms of the mark's
    /// slice for 4 units of work).
    ProtoFrom(
        Gc<'gc, crate::function::FunctionProto<'gc>>,
        #[collect(require_static)] u32,
    ),
}

/// The mark work (see `LogicalMark::work`) an ephemeron entry parked on its key counts for.
const EPHEMERON_WORK: usize = 4;

/// The mark work a node taken from the mark's stack counts for, beyond the slots it visits:
/// an object's visit reads memory no other visit brought into the cache (its header, its
/// state's borrow flag, its charge) and a slot is one value of an array read in order. With
/// a node at one unit, a slice of a 10,000-fuel step (40,000 units) took up to 1.1 ms on
/// table_bomb's heap of small tables, 1.7 ms on gc_ephemeron_chain's (84 slices over 1 ms),
/// 2.2 ms on coroutine_bomb's (88 over 1 ms); at 4 units: 0.8, 1.3 (1 over 1 ms) and 1.8 ms
/// (51 over 1 ms). (A mark takes more steps in proportion.)
const NODE_WORK: usize = 4;

/// Slots of a table or a thread's stack the logical mark visits before going deeper. Marking
/// a container pushes its unmarked children on the mark's stack; in pieces, that stack holds
/// at most this many children per container being marked instead of all of them (a table of
/// 350,000 fresh tables pushed 350,000 nodes: 8 MiB of mark stack beyond the heap, while
/// the memory limit's collection ran).
const MARK_PIECE: usize = 256;

/// The mark work a thread's frame counts for, as slots: a frame is 120 bytes (seven and a
/// half values), read from a buffer of up to 200,000 of them (24 MiB), so a slice that read
/// its budget of frames at a slot's price read 4.8 MB from memory: 1.5-2.9 ms of a
/// 10,000-fuel step on deep recursions (index_function_recursion_pcall.lua; at 4, its
/// marks' slices take 1.2-1.4). The physical collector weighs a frame the same
/// (`FrameSegment`'s trace).
const FRAME_WORK: usize = 4;

// The mark's stack entries stay two words.
const _: () = assert!(std::mem::size_of::<Node<'static>>() <= 16);

#[inline]
fn addr<T>(gc: Gc<'_, T>) -> usize {
    Gc::as_ptr(gc) as *const () as usize
}

/// The logical mark of a full collection: the objects strongly reachable from the roots (the
/// root state, pending finalizers, host handles), following weak tables' strong parts only
/// and not the finalizer list. Independent of what the physical collector keeps alive (e.g.
/// old states a snapshot ring holds), so weak tables, finalizers and `collectgarbage("count")`
/// come out the same in every VM with the same logical state.
#[derive(Collect)]
#[collect(no_drop)]
struct LogicalMark<'gc> {
    /// The objects reached (strings excepted: they carry the number of the last mark that
    /// reached them, `StringData::marked_by`).
    #[collect(require_static)]
    seen: AddressSet,
    /// This mark's number (see `StringData::marked_by`): unique in the process.
    #[collect(require_static)]
    number: u64,
    stack: Vec<Node<'gc>>,
    /// Work done so far (slots and objects visited), which bounds a slice (`run_until`).
    #[collect(require_static)]
    work: usize,
    /// The least limit a slice needs to end the mark: `work` after the last step of the
    /// loop so far began (see `run_until`).
    #[collect(require_static)]
    needed: usize,
    /// Bytes of the reachable objects (their memory charges).
    #[collect(require_static)]
    bytes: usize,
    /// Whether objects marked now count in `bytes` (not in the last phase, for what only the
    /// host's value handles and finished executors hold).
    #[collect(require_static)]
    counting: bool,
    /// Whether weak tables are marked as strong ones (`ring_only_bytes`).
    #[collect(require_static)]
    weak_as_strong: bool,
    /// Ephemeron values waiting for their key (weak key, strong value: the value is only
    /// reachable through the entry once the key is, PUC's ephemeron rule). Key address → the
    /// last link of its list in `links` (index + 1). Each entry is parked at most once, when
    /// its table is traversed, and released at most once, when its key is marked, so the
    /// mark is linear in the graph (no repeated rescans of ephemeron tables).
    #[collect(require_static)]
    waiting: hashbrown::HashMap<usize, usize, AddressHash>,
    /// `(value, previous link of the same key (index + 1), 0 = none)`.
    links: Vec<(Value<'gc>, usize)>,
    /// Values whose key was just marked, to mark next (kept here, not marked in place, so
    /// that a chain of ephemerons never recurses).
    released: Vec<Value<'gc>>,
    /// The first reached threads whose stack or frames hold far more capacity than they
    /// use (at most `SHRINKS_PER_COLLECTION`): the collection's end gives back part of it
    /// (`ThreadState::shrink_excess`).
    oversized: Vec<crate::thread::Thread<'gc>>,
    /// The checksum's members reached while `members_phase` (when the checksum is tracked:
    /// L after the collection, see `snapshot::incremental`).
    members: Option<Vec<crate::snapshot::Member<'gc>>>,
    #[collect(require_static)]
    members_phase: bool,
}

type AddressHash = std::hash::BuildHasherDefault<lunette_gc_snapshot::AddressHasher>;

/// The set of objects the mark reached, by address: one bit per 8-byte word of each 4 KiB page
/// that holds a reached object (a 64-byte bitmap a page, found by hashing the page number).
/// A set of addresses took 9 to 18 bytes an object (its slots at the table's load factor,
/// twice while it grew), several MiB beyond a heap near the memory limit, allocated while
/// the limit's collection ran; pages hold tens of objects each.
struct AddressSet {
    pages: hashbrown::HashMap<usize, [u64; PAGE_WORDS / 64], AddressHash>,
    /// The page last inserted into (`NO_PAGE`: none) and its bits, written back to `pages`
    /// when another page is inserted into: objects marked one after the other are often
    /// neighbours, and those inserts then need no hashing.
    current: (usize, [u64; PAGE_WORDS / 64]),
}

const NO_PAGE: usize = usize::MAX;

impl Default for AddressSet {
    fn default() -> Self {
        AddressSet {
            pages: Default::default(),
            current: (NO_PAGE, [0; PAGE_WORDS / 64]),
        }
    }
}

/// Addresses a page of the [`AddressSet`] covers (as 8-byte words).
const PAGE_WORDS: usize = 512;

impl AddressSet {
    /// An empty set with room for the pages of a heap of `heap_bytes` (see
    /// `LogicalMark::new`).
    fn for_heap(heap_bytes: usize) -> Self {
        AddressSet {
            pages: hashbrown::HashMap::with_capacity_and_hasher(
                heap_bytes / (PAGE_WORDS * 8) + 64,
                Default::default(),
            ),
            ..Default::default()
        }
    }

    #[inline]
    fn split(a: usize) -> (usize, usize, u64) {
        let word = a >> 3;
        let bit = word % PAGE_WORDS;
        (word / PAGE_WORDS, bit / 64, 1u64 << (bit % 64))
    }

    /// Adds `a`; whether it was new. (Objects are at least 8 bytes apart: distinct objects
    /// never share a bit.)
    #[inline]
    fn insert(&mut self, a: usize) -> bool {
        let (page, i, bit) = Self::split(a);
        if page != self.current.0 {
            self.switch_to(page);
        }
        let bits = &mut self.current.1[i];
        let new = *bits & bit == 0;
        *bits |= bit;
        new
    }

    /// Writes the current page back and makes `page` current.
    #[cold]
    fn switch_to(&mut self, page: usize) {
        if self.current.0 != NO_PAGE {
            self.pages.insert(self.current.0, self.current.1);
        }
        let bits = self
            .pages
            .get(&page)
            .copied()
            .unwrap_or([0; PAGE_WORDS / 64]);
        self.current = (page, bits);
    }

    #[inline]
    fn contains(&self, a: &usize) -> bool {
        let (page, i, bit) = Self::split(*a);
        if page == self.current.0 {
            return self.current.1[i] & bit != 0;
        }
        self.pages.get(&page).is_some_and(|b| b[i] & bit != 0)
    }
}

impl<'gc> LogicalMark<'gc> {
    /// A mark of a heap of `heap_bytes` (the memory account's count): its set of reached
    /// objects has room for a page of them per 4 KiB of heap from the start, so it never
    /// rehashes (growing by doubling, it moved every page's bits into a fresh table in one
    /// slice, faulting that table in: 0.5-1 ms of a slice on coroutine_bomb's 64 MiB). Its
    /// memory is mapped as pages are first inserted, spread over the slices; a heap of big
    /// strings or arrays leaves most of it untouched.
    fn new(heap_bytes: usize) -> Self {
        static MARKS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        LogicalMark {
            seen: AddressSet::for_heap(heap_bytes),
            number: MARKS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            stack: Vec::new(),
            work: 0,
            needed: 0,
            bytes: 0,
            counting: true,
            weak_as_strong: false,
            waiting: Default::default(),
            links: Vec::new(),
            released: Vec::new(),
            oversized: Vec::new(),
            members: None,
            members_phase: false,
        }
    }

    #[inline]
    fn count(&mut self, bytes: usize) {
        if self.counting {
            self.bytes += bytes;
        }
    }

    fn node(&mut self, key: usize, n: Node<'gc>) {
        if self.seen.insert(key) {
            if self.members_phase {
                self.member(n);
            }
            self.stack.push(n);
            if !self.waiting.is_empty() {
                self.release(key);
            }
        }
    }

    /// Lists `n` if it is a checksum member (see `members`).
    #[cold]
    fn member(&mut self, n: Node<'gc>) {
        use crate::snapshot::Member;
        let m = match n {
            Node::Table(t) => Member::of_value(Value::Table(t)),
            Node::Closure(c) => Member::of_value(Value::Function(c)),
            Node::UpValue(u) => Some(Member::UpValue(u)),
            Node::Thread(t) => Member::of_value(Value::Thread(t)),
            Node::UserData(u) => Some(Member::UserData(u)),
            Node::Resumable(r) => Some(Member::Resumable(r)),
            _ => None,
        };
        if let (Some(list), Some(m)) = (&mut self.members, m) {
            list.push(m);
        }
    }

    /// `key` was just marked: the ephemeron values parked on it become reachable.
    #[cold]
    fn release(&mut self, key: usize) {
        let Some(mut link) = self.waiting.remove(&key) else {
            return;
        };
        while link != 0 {
            let (v, previous) = self.links[link - 1];
            self.released.push(v);
            link = previous;
        }
    }

    /// An entry `key → value` of a reached ephemeron table: marks the value now if the key
    /// is marked, else parks it until the key is (`release`).
    fn ephemeron_entry(&mut self, key: Value<'gc>, value: Value<'gc>) {
        if value.gc_address().is_none() {
            return;
        }
        match key.gc_address() {
            Some(a) if !self.is_marked(key) => {
                self.links
                    .push((value, self.waiting.get(&a).copied().unwrap_or(0)));
                self.waiting.insert(a, self.links.len());
                // (Two hash lookups and a link, and its release later: a few slots' work.)
                self.work += EPHEMERON_WORK;
            }
            _ => self.value(value),
        }
    }

    fn value(&mut self, v: Value<'gc>) {
        match v {
            Value::String(s) => {
                if s.0.marked_by.replace(self.number) != self.number {
                    self.count(crate::string::string_cost(s.len()));
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

    /// Marks what a reference leads to (the visitor of `References`).
    fn reference(&mut self, r: Reference<'gc>) {
        match r {
            Reference::Value(v) => self.value(v),
            Reference::UpValue(u) => self.node(addr(u), Node::UpValue(u)),
            Reference::Proto(p) => self.node(addr(p), Node::Proto(p)),
            Reference::Executor(e) => self.node(addr(e.0), Node::Executor(e)),
            Reference::Resumable(r) => self.node(addr(r.0), Node::Resumable(r)),
        }
    }

    /// The end of the piece of a container of `len` slots that starts at `from`; pushes the
    /// rest's node first, so the piece's children are marked before it (depth first: the
    /// mark's stack holds at most a piece's children per container in progress).
    fn piece_end(&mut self, from: usize, len: usize, rest: impl FnOnce(u32) -> Node<'gc>) -> usize {
        let end = from.saturating_add(MARK_PIECE).min(len);
        if end < len {
            match u32::try_from(end) {
                Ok(next) => self.stack.push(rest(next)),
                // Beyond what a piece position holds (never under a memory limit): the rest
                // at once.
                Err(_) => return len,
            }
        }
        end
    }

    fn run(&mut self) {
        self.run_until(usize::MAX);
    }

    /// Marks until nothing is left to mark (true) or `work` reaches `limit` (false). Each
    /// turn of the loop starts only below `limit`, and what the turns do does not depend on
    /// where slices end: a run ends the mark exactly when its limit exceeds the work at which
    /// the last turn started (`needed` is that plus one).
    fn run_until(&mut self, limit: usize) -> bool {
        loop {
            if self.released.is_empty() && self.stack.is_empty() {
                return true;
            }
            if self.work >= limit {
                return false;
            }
            self.work += 1;
            self.needed = self.work;
            if let Some(v) = self.released.pop() {
                self.value(v);
                continue;
            }
            let Some(n) = self.stack.pop() else {
                return true;
            };
            // (After `needed`: what a turn costs beyond its first unit does not move where
            // the mark can end.)
            self.work += NODE_WORK - 1;
            match n {
                Node::Table(t) => {
                    let st = t.0.state.borrow();
                    // A paused builtin's state (`Context::new_pause_table`) is host
                    // machinery: not counted.
                    if !crate::state::is_host_id(t.id()) {
                        self.count(st.charge.get());
                    }
                    let (wk, wv) = if st.flags & GC_FLAG_WEAK != 0 && !self.weak_as_strong {
                        weak_mode_of(st.metatable)
                    } else {
                        (false, false)
                    };
                    if !wk && !wv {
                        // The same fields `References` lists, the array and entries in
                        // pieces (`TableFrom`).
                        let TableState {
                            array: _,
                            entries: _,
                            aux: _,
                            tombstones: _,
                            metatable,
                            flags: _,
                            charge: _,
                        } = &*st;
                        if let Some(mt) = metatable {
                            self.value(Value::Table(*mt));
                        }
                        let len = st.array.len() + st.entries.len();
                        if len > MARK_PIECE {
                            self.stack.push(Node::TableFrom(t, 0));
                        } else {
                            // One piece: marked here, without a trip through the stack.
                            self.work += len;
                            self.table_slots(&st, (false, false), 0, len);
                        }
                        continue;
                    }
                    // A weak table: its strong parts only (the same fields `References`
                    // lists), ephemeron entries parked until their key is marked; in
                    // pieces like a strong one (`WeakFrom`).
                    if let Some(mt) = st.metatable {
                        self.value(Value::Table(mt));
                    }
                    let len = st.array.len() + st.entries.len();
                    if len > MARK_PIECE {
                        self.stack.push(Node::WeakFrom(t, 0));
                    } else {
                        self.work += len;
                        self.table_slots(&st, (wk, wv), 0, len);
                    }
                }
                Node::WeakFrom(t, from) => {
                    let st = t.0.state.borrow();
                    let from = from as usize;
                    let len = st.array.len() + st.entries.len();
                    let end = self.piece_end(from, len, |next| Node::WeakFrom(t, next));
                    self.work += end - from;
                    let mode = weak_mode_of(st.metatable);
                    self.table_slots(&st, mode, from, end);
                }
                Node::Closure(c) => {
                    if !crate::state::is_host_id(c.0.id) {
                        self.count(c.0._charge.get());
                    }
                    c.0.references(&mut |r| self.reference(r));
                }
                Node::Proto(p) => {
                    self.count(p._charge.get());
                    let len = p.constants.len() + p.children.len();
                    if len > MARK_PIECE {
                        self.stack.push(Node::ProtoFrom(p, 0));
                    } else {
                        self.work += len;
                        p.references(&mut |r| self.reference(r));
                    }
                }
                Node::ProtoFrom(p, from) => {
                    // The same fields `References` lists, in pieces.
                    let crate::function::FunctionProto {
                        proto: _,
                        constants,
                        children,
                        field_hints: _,
                        frame: _,
                        _charge: _,
                        _sealed: _,
                    } = &*p;
                    let from = from as usize;
                    let len = constants.len() + children.len();
                    let end = self.piece_end(from, len, |next| Node::ProtoFrom(p, next));
                    self.work += end - from;
                    for i in from..end {
                        if let Some(v) = constants.get(i) {
                            self.value(*v);
                        } else if let Some(c) = children.get(i - constants.len()) {
                            self.reference(Reference::Proto(*c));
                        }
                    }
                }
                Node::UpValue(u) => u.get().references(&mut |r| self.reference(r)),
                Node::Callback(c) => {
                    self.count(c.0._charge.get());
                    c.0.references(&mut |r| self.reference(r));
                }
                Node::Thread(t) => {
                    let ts = t.borrow();
                    // An executor's main thread is host machinery: not counted.
                    if !crate::state::is_host_id(t.id()) {
                        self.count(ts.charge.get());
                    }
                    // What `References` lists, the stack and the frames in pieces
                    // (`StackFrom`).
                    ts.references_beside_stack(&mut |r| self.reference(r));
                    self.stack.push(Node::StackFrom(t, 0));
                    if self.oversized.len() < SHRINKS_PER_COLLECTION && ts.has_excess() {
                        self.oversized.push(t);
                    }
                }
                Node::TableFrom(t, from) => {
                    let st = t.0.state.borrow();
                    let from = from as usize;
                    let len = st.array.len() + st.entries.len();
                    let end = self.piece_end(from, len, |next| Node::TableFrom(t, next));
                    self.work += end - from;
                    self.table_slots(&st, (false, false), from, end);
                }
                Node::StackFrom(t, from) => {
                    let ts = t.borrow();
                    let (stack, frames) = (&ts.stack, &ts.frames);
                    let from = from as usize;
                    let len = stack.len() + frames.len();
                    let end = self.piece_end(from, len, |next| Node::StackFrom(t, next));
                    // A frame is read as `FRAME_WORK` slots (`frames_in` the piece's frames).
                    let frames_in = end.saturating_sub(from.max(stack.len()));
                    self.work += end - from + frames_in * (FRAME_WORK - 1);
                    for i in from..end {
                        if let Some(v) = stack.get(i) {
                            self.value(*v);
                        } else if let Some(f) = frames.get(i - stack.len()) {
                            f.references(&mut |r| self.reference(r));
                        }
                    }
                }
                Node::UserData(u) => {
                    self.count(u.0._charge.get());
                    u.0.references(&mut |r| self.reference(r));
                }
                Node::Executor(e) => e.0.borrow().references(&mut |r| self.reference(r)),
                Node::Resumable(r) => {
                    self.count(r.0.charge.get());
                    r.0.references(&mut |r| self.reference(r));
                }
            }
        }
    }
}

impl<'gc> LogicalMark<'gc> {
    /// Marks the strong parts of a table's slots `from..end`, counted over its array part,
    /// then its entries (a key and a value each), with weak keys `wk` and values `wv` (both
    /// false: a strong table): with weak keys and strong values, each entry's value waits
    /// for its key (an ephemeron).
    #[inline]
    fn table_slots(
        &mut self,
        st: &TableState<'gc>,
        (wk, wv): (bool, bool),
        from: usize,
        end: usize,
    ) {
        let (array, entries) = (&st.array, &st.entries);
        if !wv {
            for v in array.get(from..end.min(array.len())).unwrap_or(&[]) {
                self.value(*v);
            }
        }
        let (from, end) = (
            from.saturating_sub(array.len()),
            end.saturating_sub(array.len()),
        );
        for (k, v) in entries.get(from..end).unwrap_or(&[]) {
            // (An entry whose value is nil, a key removed from the table, holds nothing:
            // its key stays only so that a traversal can go on past it, as PUC's dead
            // keys do.)
            if v.is_nil() {
                continue;
            }
            if !wk || matches!(k, Value::String(_)) {
                self.value(*k);
            }
            if wk && !wv {
                self.ephemeron_entry(*k, *v);
            } else if !wv {
                self.value(*v);
            }
        }
    }
}

/// The semantic part of a full collection, decided by a logical mark (see `LogicalMark`):
/// clears the entries of reachable weak tables whose weak key or value is unreachable, queues
/// unreachable finalizable objects (newest first) to have their finalizers run, and sets what
/// `collectgarbage("count")` reports to the reachable objects' bytes. Runs between steps,
/// whole (one still in progress, see [`Collection`], is finished first).
pub(crate) fn logical_collection(ctx: Context<'_>) {
    settle_collection(ctx);
    // (Run whole, between steps: no step pays for it, and, like any collection that starts,
    // it forgives what was still owed for the last one.)
    let mut c = Collection::start(ctx);
    c.advance(ctx, usize::MAX);
    finish_logical_collection(ctx, c.mark);
}

/// A full collection whose logical mark runs in slices (`collection_slice`), one per
/// `Lua::step`, while the executors running when it started wait: its result is the atomic
/// mark's at the point the collection was asked for, since nothing the mark reads changes
/// until it is finished.
/// - `Lua::step` runs a slice instead of the executor's step (no fuel spent) until the mark
///   is done, then until the weak tables it reached are cleared (`WeakClearing`, the same
///   work units); the collection then finishes (finalizers, count) at once.
/// - Every other access to the VM (`Lua::enter` and whatever uses it, snapshots, the
///   checksum, `gc_collect`) finishes it first (`settle_collection`), so a host never sees
///   or changes the heap half marked, and no snapshot holds a collection in progress.
/// - The physical collector does no work meanwhile (`Lua::step`); what the mark holds is
///   traced anyway, so it would be sound if it did.
///
/// The host's handles are read when the collection starts, as the atomic mark would: one
/// dropped meanwhile still counts as a root.
///
/// How long the executors wait is VM state, the same whether the mark was finished early:
/// the executors running when it started pay and wait (`ExecutorState::waits_for_collection`,
/// set at the start); each of their steps pays its slice's work (`paid`), and they run again
/// at the first step whose payments reach the work the whole mark needs
/// (`LogicalMark::needed`). A mark finished by a host call (`settle_collection`) leaves the
/// rest to pay in `GcState::collection_wait`, so a host's read between steps (a render,
/// which a rollback's re-simulation skips) never changes at which step a script goes on;
/// snapshots carry the rest. A collection that starts forgives what was still owed for the
/// last one, so a wait is never more than one mark's work. An executor the host starts
/// later (a render's call) runs at once (the mark is finished before it can start) and pays
/// nothing; it does not run the finalizers the collection queued either, while one that was
/// running still runs.
#[derive(Collect)]
#[collect(no_drop)]
pub(crate) struct Collection<'gc> {
    mark: LogicalMark<'gc>,
    /// Work the steps paid for so far.
    #[collect(require_static)]
    paid: usize,
    /// Roots marked last, not counted (see `mark_live`): the host's value handles and
    /// finished executors; emptied when they are pushed.
    host_roots: Vec<Value<'gc>>,
    finished: Vec<crate::executor::Executor<'gc>>,
    /// Whether the counted part is marked and the host roots pushed.
    #[collect(require_static)]
    host_part: bool,
    /// Once the mark is done: the weak tables it reached, cleared in slices like the mark.
    clearing: Option<WeakClearing<'gc>>,
}

/// The dead entries of the weak tables a finished mark reached, cleared in slices (the
/// collection's last stage, paid for like its mark): each array slot or entry looked at is a
/// unit of work (`LogicalMark::work`), so the stage ends at the same total work whatever the
/// slices (a 150,000-entry weak table took 3 ms at the end of every full collection when it
/// was looked at whole). Nothing reads or writes a weak table meanwhile: the executors wait
/// and every host access finishes the collection first. A dead entry of a hash part becomes
/// a hole in place (`TableState::clear_entry`), a free position for a later key: dropping
/// the cleared entries was a pass over the hash part and a rebuilt index in one slice.
#[derive(Collect)]
#[collect(no_drop)]
struct WeakClearing<'gc> {
    tables: Vec<Table<'gc>>,
    /// The table being looked at (in `tables`) and its next position (array slots, then
    /// entries).
    #[collect(require_static)]
    table: usize,
    #[collect(require_static)]
    pos: usize,
}

/// Positions a clearing slice looks at under one borrow of their table.
const CLEAR_PIECE: usize = 256;

impl<'gc> WeakClearing<'gc> {
    /// The weak tables `m` reached (the registry of weak tables pruned of dead ones).
    fn start(ctx: Context<'gc>, m: &LogicalMark<'gc>) -> Self {
        let mc = ctx.mutation();
        let mut gc = ctx.state().gc.borrow_mut(mc);
        gc.weak_tables.retain(|w| !w.is_dropped());
        let tables = gc
            .weak_tables
            .iter()
            .filter_map(|w| w.upgrade(mc))
            .filter(|inner| m.seen.contains(&addr(*inner)))
            .map(Table)
            .filter(|t| weak_mode_of(t.metatable()) != (false, false))
            .collect();
        WeakClearing {
            tables,
            table: 0,
            pos: 0,
        }
    }

    /// Clears until the mark's work reaches `limit` (false) or every table is done (true).
    fn run_until(&mut self, ctx: Context<'gc>, m: &mut LogicalMark<'gc>, limit: usize) -> bool {
        while let Some(&t) = self.tables.get(self.table) {
            let (wk, wv) = weak_mode_of(t.metatable());
            let (array_len, len) = {
                let st = t.0.state.borrow();
                (st.array.len(), st.array.len() + st.entries.len())
            };
            let dead = |m: &LogicalMark<'gc>, st: &TableState<'gc>, p: usize| match p
                .checked_sub(array_len)
            {
                None => wv && st.array.get(p).is_some_and(|v| !m.is_marked(*v)),
                Some(e) => st.entries.get(e).is_some_and(|&(k, v)| {
                    !k.is_nil() && ((wk && !m.is_marked(k)) || (wv && !m.is_marked(v)))
                }),
            };
            while self.pos < len {
                if m.work >= limit {
                    return false;
                }
                let end = len.min(self.pos + CLEAR_PIECE.min(limit - m.work));
                let any = {
                    let st = t.0.state.borrow();
                    (self.pos..end).any(|p| dead(m, &st, p))
                };
                if any {
                    let mut st = t.borrow_mut(ctx);
                    for p in self.pos..end {
                        if !dead(m, &st, p) {
                            continue;
                        }
                        // (`dead` found the position: it exists.)
                        match p.checked_sub(array_len) {
                            None => st.array[p] = Value::Nil,
                            Some(e) => st.clear_entry(e),
                        }
                    }
                }
                m.work += end - self.pos;
                m.needed = m.work;
                self.pos = end;
            }
            self.table += 1;
            self.pos = 0;
        }
        true
    }
}

impl<'gc> Collection<'gc> {
    /// Starts the logical mark: flushes the checksum's tracking, pushes the roots.
    fn start(ctx: Context<'gc>) -> Self {
        let mut mark = LogicalMark::new(ctx.state().memory.used());
        let journal = ctx.state().journal;
        // (A flush that fails stops the tracking: see `Journal::flush`.)
        if journal.flush(ctx).is_ok() && journal.tracking() {
            mark.members = Some(Vec::new());
            mark.members_phase = true;
        }
        let (host_roots, finished) = push_roots(&mut mark, ctx.state());
        // The executors running now pay for it (and wait); those the host starts later do
        // not, so a host call between steps never moves where the others go on.
        for (_, e) in crate::handle::handle_roots(ctx.state()).executors {
            e.set_waits_for_collection(ctx, !e.is_finished());
        }
        // (What the steps still owed for the previous collection is forgiven: they wait for
        // this one, so a wait never grows past one mark's work.)
        ctx.state().gc.borrow_mut(ctx.mutation()).collection_wait = 0;
        Collection {
            mark,
            paid: 0,
            host_roots,
            finished,
            host_part: false,
            clearing: None,
        }
    }

    /// Marks, then clears the weak tables (`WeakClearing`), until the work reaches `limit`;
    /// whether both are complete.
    fn advance(&mut self, ctx: Context<'gc>, limit: usize) -> bool {
        let m = &mut self.mark;
        if !self.host_part {
            if !m.run_until(limit) {
                return false;
            }
            m.counting = false;
            m.members_phase = false;
            for v in std::mem::take(&mut self.host_roots) {
                m.value(v);
            }
            for e in std::mem::take(&mut self.finished) {
                m.node(addr(e.0), Node::Executor(e));
            }
            self.host_part = true;
        }
        if !m.run_until(limit) {
            return false;
        }
        let clearing = self
            .clearing
            .get_or_insert_with(|| WeakClearing::start(ctx, m));
        clearing.run_until(ctx, m, limit)
    }
}

/// Most threads whose excess capacity one full collection gives back a piece of (each
/// piece is at most `thread::MAX_SHRINK_BYTES` a buffer): bounds the time its end takes.
const SHRINKS_PER_COLLECTION: usize = 2;

/// Units of mark work (objects visited at `NODE_WORK` each, slots at 1; see
/// `LogicalMark::work`) a slice does per unit of the step's fuel: a slice of a 10,000-fuel
/// step does 40,000, about 8,000 small tables, under 1 ms on a 64 MiB heap of them (a step of
/// that fuel runs for about 0.1 ms).
pub const MARK_WORK_PER_FUEL: usize = 4;
/// The least work a slice does, whatever the step's fuel (so steps of 1 unit still end it).
pub const MIN_MARK_SLICE: usize = 4_096;

/// The work of a slice for a step of `fuel` units.
pub(crate) fn mark_slice_budget(fuel: i64) -> usize {
    usize::try_from(fuel.max(0))
        .unwrap_or(usize::MAX)
        .saturating_mul(MARK_WORK_PER_FUEL)
        .max(MIN_MARK_SLICE)
}

/// Where a full collection leaves the executors after a slice (`collection_slice`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum SliceOutcome {
    /// Its mark is in progress: the executors wait.
    Marking,
    /// It is done, but the steps have not paid for all of its work yet: the executors wait.
    Waiting,
    /// None is due, or it is done and paid for: the executors run.
    Done,
}

/// A slice of the full collection that is due: starts it if it was asked for and none is in
/// progress, pays `budget` units of its mark work and marks that far, and finishes the
/// collection when the mark is done (see [`Collection`]).
pub(crate) fn collection_slice(ctx: Context<'_>, budget: usize) -> SliceOutcome {
    let taken = ctx.state().gc.borrow_mut(ctx.mutation()).collection.take();
    let mut c = match taken {
        Some(c) => c,
        None if ctx.full_collection_requested() => Box::new(Collection::start(ctx)),
        None => return SliceOutcome::Done,
    };
    c.paid = c.paid.saturating_add(budget);
    if c.advance(ctx, c.paid) {
        finish_collection(ctx, *c)
    } else {
        ctx.state().gc.borrow_mut(ctx.mutation()).collection = Some(c);
        SliceOutcome::Marking
    }
}

/// Finishes a collection whose mark is done; what the steps still owe for it is kept.
fn finish_collection<'gc>(ctx: Context<'gc>, c: Collection<'gc>) -> SliceOutcome {
    let wait = c.mark.needed.saturating_sub(c.paid);
    finish_logical_collection(ctx, c.mark);
    ctx.state().gc.borrow_mut(ctx.mutation()).collection_wait = wait;
    if wait > 0 {
        SliceOutcome::Waiting
    } else {
        SliceOutcome::Done
    }
}

/// Finishes the full collection in progress, if any (the steps still pay for the rest of its
/// work: see [`Collection`]).
pub(crate) fn settle_collection(ctx: Context<'_>) {
    let taken = ctx.state().gc.borrow_mut(ctx.mutation()).collection.take();
    if let Some(mut c) = taken {
        c.advance(ctx, usize::MAX);
        finish_collection(ctx, *c);
    }
}

/// A step of `executor` pays `budget` units of what is still owed for a collection whose
/// mark is done (`GcState::collection_wait`), if it was running when that collection started;
/// whether it still waits.
pub(crate) fn pay_collection_wait<'gc>(
    ctx: Context<'gc>,
    executor: crate::executor::Executor<'gc>,
    budget: usize,
) -> bool {
    if !executor.waits_for_collection() || ctx.state().gc.borrow().collection_wait == 0 {
        return false;
    }
    let mut gc = ctx.state().gc.borrow_mut(ctx.mutation());
    gc.collection_wait = gc.collection_wait.saturating_sub(budget);
    gc.collection_wait > 0
}

/// Whether an executor other than `me` that was running when the last full collection
/// started is still running (see `ExecutorState::waits_for_collection`). One in the middle
/// of a step (`me` stepped from inside its callback) counts as one: it is running, and its
/// state cannot be read then.
pub(crate) fn another_executor_waits<'gc>(
    ctx: Context<'gc>,
    me: crate::executor::Executor<'gc>,
) -> bool {
    crate::handle::handle_roots(ctx.state())
        .executors
        .into_iter()
        .filter(|(_, e)| !Gc::ptr_eq(e.0, me.0))
        .any(|(_, e)| match e.0.try_borrow() {
            Ok(st) => st.result.is_none() && st.waits_for_collection,
            Err(_) => true,
        })
}

/// Bytes of the objects only the snapshot ring keeps alive (reachable from its logs, not from
/// the root, executors or host handles, weak references included: until a full collection
/// clears them, a script can take what its weak tables hold, and the collector keeps it). A
/// mark of the whole heap: O(reachable objects).
pub(crate) fn ring_only_bytes(state: &State<'_>) -> usize {
    let mut m = LogicalMark::new(state.memory.used());
    m.counting = false;
    m.weak_as_strong = true;
    mark_live(&mut m, state);
    m.counting = true;
    state.journal.visit_held(|r| m.reference(r));
    m.run();
    m.bytes
}

/// Marks everything live (counting the script's part, see `logical_collection`).
fn mark_live<'gc>(m: &mut LogicalMark<'gc>, state: &State<'gc>) {
    let (values, finished) = push_roots(m, state);
    m.run();
    m.counting = false;
    m.members_phase = false;
    for v in values {
        m.value(v);
    }
    for e in finished {
        m.node(addr(e.0), Node::Executor(e));
    }
    m.run();
}

/// Pushes the counted roots; returns the others (the host's value handles, finished
/// executors), which are marked after them, not counted.
#[allow(clippy::type_complexity)]
fn push_roots<'gc>(
    m: &mut LogicalMark<'gc>,
    state: &State<'gc>,
) -> (Vec<Value<'gc>>, Vec<crate::executor::Executor<'gc>>) {
    m.value(Value::Table(state.globals));
    m.value(Value::Table(state.registry));
    m.value(Value::Thread(state.main_thread));
    if let Some(t) = state.string_metatable.get() {
        m.value(Value::Table(t));
    }
    for t in state.type_metatables.get().into_iter().flatten() {
        m.value(Value::Table(t));
    }
    for s in state.meta_names.iter() {
        m.value(Value::String(*s));
    }
    {
        let gc = state.gc.borrow();
        for v in gc.pending.iter() {
            m.value(*v);
        }
        m.value(gc.finalizing);
    }
    // Counted: the script's roots and the executors still running (the frames the host is
    // running, whose locals are the script's). Not counted: what only the host keeps (values
    // it stashed, finished executors' results), so the host's handles do not change
    // `collectgarbage("count")`; they are still strong roots for weak tables and finalizers.
    let crate::handle::HandleRoots { values, executors } = crate::handle::handle_roots(state);
    let (running, finished): (Vec<_>, Vec<_>) =
        executors.into_iter().partition(|(_, e)| !e.is_finished());
    for (_, e) in running {
        m.node(addr(e.0), Node::Executor(e));
    }
    (
        values.into_iter().map(|(_, v)| v).collect(),
        finished.into_iter().map(|(_, e)| e).collect(),
    )
}

fn finish_logical_collection<'gc>(ctx: Context<'gc>, mut m: LogicalMark<'gc>) {
    let (mc, state) = (ctx.mutation(), ctx.state());
    let mut gc = state.gc.borrow_mut(mc);
    let list = std::mem::take(&mut gc.finalizable.0);
    let (mut dead, live): (Vec<_>, Vec<_>) = list.into_iter().partition(|v| !m.is_marked(*v));
    gc.finalizable.0 = live;
    // The newest registered runs first (it is last in `dead`), after what was already queued
    // (which goes on top: `pending` is popped from its end).
    let newly_queued = m.members.is_some().then(|| dead.clone());
    let queued = std::mem::take(&mut gc.pending);
    dead.extend(queued);
    gc.pending = dead;
    gc.full_collection_requested = false;
    drop(gc);
    // Threads a deep recursion left with big buffers give back a piece (PUC shrinks stacks
    // at collections). After the count: the next collection sees the smaller charges. (No
    // thread runs while a collection ends: they are never borrowed here.)
    for t in std::mem::take(&mut m.oversized) {
        if let Some(mut ts) = t.try_borrow_mut(ctx) {
            ts.shrink_excess();
        }
    }
    if let Some(newly_queued) = newly_queued {
        // L after the collection: what the mark counted, and what the finalizers just
        // queued reach (they run with it).
        m.members_phase = true;
        for v in newly_queued {
            m.value(v);
        }
        m.run();
        let members = m.members.take().unwrap_or_default();
        state.journal.recount(ctx, &members);
    }
    state.memory.set_script_bytes(m.bytes);
    let pacing = state.memory.pacing().after_collection(m.bytes);
    state.memory.set_pacing(pacing);
}

/// Bytes of the script's heap one unit of fuel pays for in a script-requested full
/// collection (its logical mark walks the whole reachable graph, ~1.3 ns a byte measured).
pub const FULL_COLLECTION_BYTES_PER_UNIT: usize = 64;

/// The fuel a script-requested full collection costs, charged before it is requested: in
/// proportion to the script's heap as `collectgarbage("count")` sees it (deterministic, an
/// upper bound of what the mark will walk plus what it will free).
pub fn full_collection_units(ctx: Context<'_>) -> usize {
    ctx.memory().script_bytes() / FULL_COLLECTION_BYTES_PER_UNIT
}

/// Runs a full collection: the logical mark decides weak tables, finalizers and the script's
/// memory count; then the physical collector completes a cycle (freeing what nothing holds).
pub(crate) fn full_collection(arena: &mut gc_arena::Arena<gc_arena::Rootable![State<'_>]>) {
    arena.mutate(|mc, state| logical_collection(Context::new(mc, state)));
    if arena.collection_phase() != gc_arena::arena::CollectionPhase::Sleeping {
        // An incremental cycle under way keeps what it already marked, also what died
        // since: it ends first, and a whole cycle runs after it (what is unreachable now
        // is freed when this returns).
        arena.finish_cycle();
    }
    arena.finish_cycle();
}

/// At a safe point where an automatic full collection is due (see
/// `memory::CollectorPacing`): asks the host loop for it and ends the step there, so it lands
/// at this instruction whatever the step sizes. No more is asked until it has run.
pub(crate) fn request_automatic_collection(ctx: Context<'_>) {
    let memory = &ctx.state().memory;
    memory.set_pacing(crate::memory::CollectorPacing {
        threshold: usize::MAX,
        ..memory.pacing()
    });
    ctx.request_full_collection();
}

impl<'gc> Context<'gc> {
    /// The automatic collection schedule (see `memory::CollectorPacing`).
    pub fn collector_pacing(self) -> crate::memory::CollectorPacing {
        self.state().memory.pacing()
    }

    /// Changes the automatic collection schedule: `pause` (percent, applies from the next
    /// collection) and `running` (stopping makes none due; restarting makes the next one due
    /// once the script's bytes grow by `pause` from now). Script state: part of snapshots.
    pub fn set_collector_pacing(self, pause: u32, running: bool) {
        let memory = &self.state().memory;
        let old = memory.pacing();
        let threshold = match (old.running, running) {
            (_, false) => usize::MAX,
            (false, true) => {
                CollectorPacing {
                    pause,
                    running,
                    ..old
                }
                .after_collection(memory.script_bytes())
                .threshold
            }
            (true, true) => old.threshold,
        };
        memory.set_pacing(CollectorPacing {
            threshold,
            pause,
            running,
        });
    }

    /// Sets the metatable of a table or userdata and registers the object for finalization
    /// (`__gc` present now, like PUC) or weak-table treatment (`__mode`): the one way to set
    /// an object's metatable. A frozen table ([`Table::freeze`]) refuses
    /// (`InvalidKey::ReadOnly`); other values are left alone.
    pub fn set_metatable(
        self,
        v: Value<'gc>,
        mt: Option<Table<'gc>>,
    ) -> Result<(), crate::table::InvalidKey> {
        let flags = match v {
            Value::Table(t) if t.is_frozen() => return Err(crate::table::InvalidKey::ReadOnly),
            Value::Table(t) => {
                t.set_metatable(self, mt);
                t.flags()
            }
            Value::UserData(u) => {
                u.set_metatable(self, mt);
                u.flags()
            }
            _ => return Ok(()),
        };
        let Some(mt) = mt else { return Ok(()) };
        let mut new_flags = flags;
        let mut gc = self.state().gc.borrow_mut(self.mutation());
        if flags & GC_FLAG_FINALIZER == 0 && self.metatable_field(mt, MetaEvent::Gc).is_some() {
            new_flags |= GC_FLAG_FINALIZER;
            gc.finalizable.0.push(v);
        }
        if let Value::Table(t) = v {
            if flags & GC_FLAG_WEAK == 0 && self.metatable_field(mt, MetaEvent::Mode).is_some() {
                new_flags |= GC_FLAG_WEAK;
                gc.weak_tables.push(Gc::downgrade(t.0));
            }
        }
        drop(gc);
        if new_flags != flags {
            match v {
                Value::Table(t) => t.borrow_mut(self).flags = new_flags,
                Value::UserData(u) => u.set_flags(self, new_flags),
                _ => {}
            }
        }
        Ok(())
    }

    /// Asks the host loop (`Lua::step`) for a collection that frees memory before the next
    /// step, for the memory limit. Only physical (the collector traces everything strongly,
    /// see `gc_unsafe`): weak tables, finalizers and `collectgarbage("count")` do not change,
    /// because *when* the limit needs one depends on things a script must not see (garbage
    /// the incremental collector has not freed yet, what the snapshot ring holds, the host's
    /// step sizes). Not part of snapshots: the flag lives in the memory account.
    pub(crate) fn request_memory_collection(self) {
        self.state().memory.want_collection();
    }

    /// Asks the host loop (`Lua::step`) for a full collection before the next step (the
    /// logical one: weak tables, finalizers, `collectgarbage("count")`), at a point that is a
    /// function of the script's history (`collectgarbage()`).
    pub fn request_full_collection(self) {
        self.state()
            .gc
            .borrow_mut(self.mutation())
            .full_collection_requested = true;
    }

    /// Whether a full collection (the logical one) is due before execution goes on: asked
    /// for by a script (`collectgarbage()`), or an automatic one (see
    /// `memory::CollectorPacing`). `Lua::step` runs it after the step.
    pub fn full_collection_requested(self) -> bool {
        self.state().gc.borrow().full_collection_requested
    }

    /// Whether a finalizer call is in progress on `thread` (PUC stops the collector then:
    /// `collectgarbage` inside a finalizer does nothing and returns fail).
    pub fn running_finalizer(self, thread: crate::thread::Thread<'gc>) -> bool {
        let gc = self.state().gc.borrow();
        matches!(gc.finalizing, Value::Thread(t) if crate::thread::Thread::ptr_eq(t, thread))
    }

    /// Whether queued finalizers may start on `thread` now: some are queued and no finalizer
    /// call is in progress on that thread (the executor checks this between instructions).
    pub(crate) fn may_run_finalizers(self, thread: crate::thread::Thread<'gc>) -> bool {
        self.has_pending_finalizers() && !self.running_finalizer(thread)
    }

    fn has_pending_finalizers(self) -> bool {
        !self.state().gc.borrow().pending.is_empty()
    }
}

/// A continuation that runs the queued finalizers (errors ignored), then returns its state
/// value if it is not nil (what `collectgarbage` returns), else nothing.
///
/// The queue stays in the VM state (`GcState::pending`) and is consumed one object at a
/// time: each object costs one unit of fuel, each `__gc` is a call (charged like any call,
/// its body by its own instructions), and when the fuel runs out between two objects the
/// runner pauses and continues at the next step. So finalizers run in bounded pieces, in an
/// order and at points that depend only on the script's history, and a paused queue is plain
/// VM data for snapshots. Entered on a thread that is already running a finalizer (e.g.
/// `collectgarbage()` inside `__gc`), it returns at once: the outer runner goes on.
pub fn run_finalizers<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    _o: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    if !ctx.may_run_finalizers(exec.thread()) {
        return finish_finalizers(exec);
    }
    finalizer_step(ctx, exec)
}

/// Re-entry of the runner after a `__gc` call (or a pause): the call is over.
fn finalizer_done<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    _o: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    {
        let mut gc = ctx.state().gc.borrow_mut(ctx.mutation());
        if matches!(gc.finalizing, Value::Thread(t) if crate::thread::Thread::ptr_eq(t, exec.thread()))
        {
            gc.finalizing = Value::Nil;
        }
    }
    finalizer_step(ctx, exec)
}

fn finish_finalizers<'gc>(exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let result = exec.upvalue;
    exec.clear();
    if !result.is_nil() {
        exec.push(result);
    }
    Ok(Action::Return)
}

fn finalizer_step<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
) -> Result<Action<'gc>, Error<'gc>> {
    let state = exec.upvalue;
    // Every entry handles at least one object, so any positive budget makes progress.
    loop {
        let next = ctx.state().gc.borrow_mut(ctx.mutation()).pending.pop();
        let Some(obj) = next else {
            return finish_finalizers(exec);
        };
        exec.charge(1);
        if let Some(f) = ctx.metamethod(obj, MetaEvent::Gc) {
            ctx.state().gc.borrow_mut(ctx.mutation()).finalizing = Value::Thread(exec.thread());
            exec.replace(&[obj]);
            return Ok(Action::Call {
                function: f,
                then: Some(Then::new("__gc", finalizer_done, state).catching()),
            });
        }
        // (`out_of_fuel` charges the unit a resume would cost when it goes on, so the total
        // does not depend on where steps end.)
        if exec.out_of_fuel() {
            exec.clear();
            return Ok(Action::Pause {
                then: Then::new("__gc", finalizer_done, state),
            });
        }
    }
}

/// The collector's continuations in the permanents table (see `permanents`).
pub(crate) fn permanents(p: &mut crate::permanents::Permanents) {
    p.continuation(("vm", "run_finalizers"), "__gc", run_finalizers);
    p.continuation(("vm", "finalizer_done"), "__gc", finalizer_done);
}

#[cfg(test)]
mod tests {
    use crate::{Fuel, Lua};

    #[test]
    fn a_slice_reads_at_most_its_steps_budget_of_table_segment_slots() {
        let mut lua = Lua::core();
        // 200,000 tables in an array part (49 segments of 4,096 slots), kept while garbage
        // (small tables, and 128 KiB strings whose bytes add to the slices' debt) makes the
        // collector run cycles over them. Without the cap a slice read 12,288 slots.
        let exec = lua
            .chunk(
                "keep = {} for i = 1, 200000 do keep[i] = {} end \
                 local p = 'x' for _ = 1, 17 do p = p .. p end \
                 local n = 0 for i = 1, 200000 do local t = {i} n = n + #t \
                 if i % 100 == 0 then local s = p .. i end end return n",
            )
            .start(())
            .unwrap();
        super::SLICE_SLOTS_SEEN.set((0, 0));
        while !lua.step(&exec, &mut Fuel::new(1_000)).is_done() {}
        assert_eq!(lua.results::<i64>(&exec).unwrap(), 200_000);
        let (most, all) = super::SLICE_SLOTS_SEEN.get();
        // The segments were traced, by slices that stopped once past the budget (by at most
        // the object that crossed it: a segment).
        assert!(all >= 200_000, "{all}");
        assert!(
            most <= super::mark_slice_budget(1_000) + crate::table::SEGMENT,
            "{most}"
        );
    }
}
