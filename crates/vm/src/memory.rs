//! Byte accounting and the memory limit.
//!
//! gc-arena counts objects, not bytes, so the VM counts its own: every object carries a
//! [`Charge`] for its fixed size plus the buffers it owns (a table's array, entries and index;
//! a thread's stack and frames; a string's bytes...), resynchronised when a buffer's capacity
//! changes and given back when the object is dropped by the collector.
//!
//! Charges go to the *current* account: a thread-local set by [`AccountGuard`] while the VM
//! runs (`Lua::enter`, collections, restores, drop). Objects never outlive their arena, and
//! every arena operation happens under its VM's guard, so each byte is charged to and
//! discharged from the same account.
//!
//! The limit is enforced before big allocations and at safe points, never inside an
//! allocation. The interpreter checks `over_limit` where it checks fuel (calls and backward
//! jumps). Builtins about to build large buffers ask first, in one of two ways:
//! - `Context::reserve_memory_or_retry` (the interpreter's `..`, `string.rep`, `load`'s reader
//!   pieces): a request that does not fit ends the step *before anything is allocated*
//!   (`Error::CollectThenRetry`: the executor re-runs the same callback or continuation, the
//!   interpreter the same instruction, after the host's full collection). Only for code that
//!   has changed nothing yet.
//! - `Context::reserve_memory` (everything else): a request that does not fit is allowed this
//!   once and a full collection is requested for the next safe point.
//!
//! Either way, if it still does not fit after that collection, the script gets a catchable
//! `not enough memory` error. So the first kind never takes a VM past its limit, and the
//! second by at most what one builtin call allocates.
//!
//! Determinism: the limit refuses (`not enough memory`) only after a collection cycle
//! completed since the request, so garbage not yet freed never decides it; and it does not
//! count what only the snapshot ring keeps alive (`ring_allowance`, measured after each cycle:
//! the ring is the host's budget). So snapshots, rollbacks and the collector's timing do not
//! change whether a script runs out of memory. What still counts besides the script's objects
//! is what the host holds in the VM (stashed values, loaded chunks, executors' stacks): a host
//! that holds different things near the limit can see a different verdict. *When* a step ends
//! for the limit's collection depends on garbage, so such an early end changes nothing a
//! script sees: the work the step had started is given back and done again after the
//! collection at no charge (a callback or continuation that asked with
//! `reserve_memory_or_retry` is refunded, the interpreter gives back the unit of the
//! instruction it runs again), so the fuel a script spends, and where its steps and tasklet
//! turns end, never depend on it; the refusal itself costs `MEMORY_REFUSAL_FUEL`. What a
//! script can read (`collectgarbage("count")`) is deterministic: see
//! `MemoryAccount::script_bytes`.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

use lunette_compiler::{Constant, Instruction, LocalVar, Prototype, UpvalueDesc};

/// Fixed cost of one garbage-collected object: gc-arena's header plus allocator overhead.
pub(crate) const GC_HEADER: usize = 32;

/// The bytes one heap allocation of `n` bytes takes (0 for `n == 0`: an empty box does not
/// allocate): the allocator's block for it, as glibc's malloc makes them (an 8-byte header,
/// 16-byte alignment, 32 bytes at least). For the many small separate allocations whose
/// overhead is most of their size (a prototype's upvalue and local names: a 4-byte name
/// takes a 32-byte block).
#[inline]
pub(crate) const fn heap_block(n: usize) -> usize {
    if n == 0 {
        0
    } else {
        let b = n.saturating_add(8 + 15) & !15;
        if b < 32 {
            32
        } else {
            b
        }
    }
}

/// A VM's memory counters.
pub struct MemoryAccount {
    used: Cell<usize>,
    peak: Cell<usize>,
    limit: Cell<usize>,
    /// Full collections completed.
    collections: Cell<u64>,
    /// `Some((n, bytes))`: a request for `bytes` did not fit when `collections` was `n`, and
    /// a collection was asked for before answering it again (see `verdict`).
    collect_asked_at: Cell<Option<(u64, usize)>>,
    /// What `collectgarbage("count")` reports (see `script_bytes`).
    script_bytes: Cell<usize>,
    /// `used` at the last collector step (for pacing by bytes).
    step_mark: Cell<usize>,
    /// Bytes of strings made and of object buffers grown since the last `Lua::gc_step`
    /// (see `take_buffer_growth`).
    buffer_growth: Cell<usize>,
    /// Whether new charges are host charges (see [`host_charges`]).
    host_mode: Cell<bool>,
    /// The limit asked for a collection (see `Context::request_memory_collection`).
    collection_wanted: Cell<bool>,
    /// The collector freed an interned string since the last `take_interned_freed`: the
    /// interner has dead entries to prune.
    interned_freed: Cell<bool>,
    /// When the next automatic full collection is due (see [`CollectorPacing`]).
    pacing: Cell<CollectorPacing>,
    /// Bytes in use that only the snapshot ring keeps alive, as of the last completed
    /// collection cycle (see `ring_allowance`).
    ring_allowance: Cell<usize>,
    /// `limit + ring_allowance` (saturating): `used` above it is over the limit (what
    /// `limited_bytes() > limit` says, with one comparison at the safe points:
    /// `needs_attention`). Kept by `set_limit` and `set_ring_allowance`, the only writers of
    /// those two.
    over_limit_above: Cell<usize>,
    /// Big buffers (strings, table parts) whose objects were freed, waiting to be given
    /// back to the allocator a few at a time (see [`free_later`]).
    deferred_frees: RefCell<DeferredFrees>,
    /// Whether freed buffers of [`REAPED_MIN`] bytes and more go to the reaper thread
    /// (`Lua::set_helper_threads`).
    reaper_allowed: Cell<bool>,
}

/// Buffers at least this big are given back to the allocator after the step that freed
/// their object, a few per step ([`free_later`]), not at once: giving memory back to the
/// system costs 50-80 µs per MiB (the kernel unmaps and frees the pages), so a collection
/// that freed a 64 MiB heap of big strings took 5 ms in one step (gsub_blowup).
pub(crate) const DEFERRED_FREE_MIN: usize = 256 * 1024;

/// Bytes of deferred buffers given back after each step (~0.6 ms of the kernel's work):
/// more than a step of ordinary fuel allocates (strings cost a unit per 32 bytes: 320 KB
/// for 10,000 units), so the queue drains in a few steps.
pub(crate) const DEFERRED_FREES_PER_STEP: usize = 8 << 20;

/// Bytes of deferred buffers given back after a step that already ran for
/// [`LONG_STEP`]: the queue still drains (more than three times what a step of 10,000 units
/// of fuel allocates), and the step is not made longer by much more than 0.1 ms. (A step of
/// `load` that waited 1.2 ms for the compiler and then gave back 8 MiB of a string's pages
/// took 1.8-2.1 ms.)
pub(crate) const DEFERRED_FREES_AFTER_A_LONG_STEP: usize = 1 << 20;

/// See [`DEFERRED_FREES_AFTER_A_LONG_STEP`].
pub(crate) const LONG_STEP: std::time::Duration = std::time::Duration::from_millis(1);

/// The bytes of deferred buffers to give back after a step that began at `started` (after
/// a host's call, `None`: [`DEFERRED_FREES_PER_STEP`]). Only when memory goes back to the
/// system depends on the clock: no count a script or the limit sees does.
pub(crate) fn deferred_frees_after(started: Option<std::time::Instant>) -> usize {
    match started {
        Some(t) if t.elapsed() >= LONG_STEP => DEFERRED_FREES_AFTER_A_LONG_STEP,
        _ => DEFERRED_FREES_PER_STEP,
    }
}

/// Most bytes the queue keeps: a release gives back at least what is above it, so a host
/// whose steps carry enough fuel to free more than [`DEFERRED_FREES_PER_STEP`] each time
/// never lets freed memory pile up in the process beyond it. (The sandbox's memory limit:
/// one table part freed under it is still given back in pieces.)
pub(crate) const DEFERRED_FREES_MAX: usize = 64 << 20;

/// Freed string buffers and table parts at least this big (and the blocks of big compiled
/// prototypes) are given back to the allocator on a helper thread, the reaper ([`reap`]),
/// when the VM may use one: the kernel's work of unmapping them (50-80 us a MiB) is one
/// piece per buffer, so a 20 MiB string took 2 ms of the step that gave it back, however
/// the queue paced the rest (load_huge_string_source).
pub(crate) const REAPED_MIN: usize = 1 << 20;

/// Hands `buffer` to the reaper thread, started at the first call (process-wide, one for
/// all VMs: it only drops what it receives), or gives it back if there is no such thread
/// (it could not start: a target without threads).
fn reap(buffer: Deferred) -> Result<(), Deferred> {
    use std::sync::atomic::Ordering::Relaxed;
    use std::sync::mpsc::{channel, Sender};
    use std::sync::OnceLock;
    static REAPER: OnceLock<Option<Sender<(Deferred, usize)>>> = OnceLock::new();
    let reaper = REAPER.get_or_init(|| {
        let (sender, receiver) = channel::<(Deferred, usize)>();
        std::thread::Builder::new()
            .name("lunette-free".into())
            .spawn(move || {
                crate::gc_unsafe::lower_thread_priority(HELPER_NICE);
                for (buffer, bytes) in receiver {
                    buffer.drop_in_pieces();
                    REAPER_BACKLOG.fetch_sub(bytes, Relaxed);
                }
            })
            .ok()
            .map(|_| sender)
    });
    let Some(sender) = reaper else {
        return Err(buffer);
    };
    // (A prototype's parts are not weighed before they go: they always go, see `defer`.)
    let bytes = buffer.bytes();
    let backlog = REAPER_BACKLOG.load(Relaxed);
    if backlog > 0 && backlog + bytes > REAPER_BACKLOG_MAX {
        return Err(buffer);
    }
    REAPER_BACKLOG.fetch_add(bytes, Relaxed);
    sender.send((buffer, bytes)).map_err(|e| {
        REAPER_BACKLOG.fetch_sub(bytes, Relaxed);
        e.0 .0
    })
}

/// Bytes of big buffers handed to the reaper thread and not given back yet (all VMs of the
/// process): see [`REAPER_BACKLOG_MAX`].
static REAPER_BACKLOG: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Most bytes of buffers the reaper may have to give back at once (one buffer of any size
/// when it has none): the rest go to the VM's own queue, given back by its steps a piece at
/// a time. The reaper runs at a lower priority ([`HELPER_NICE`]) and, with every core busy,
/// gets about 4% of one: the buffers it had not given back yet piled up beyond the memory
/// limit (when strings went to it too: require_huge_name with two busy threads beside it,
/// 85.8 MiB resident under a 64 MiB limit, 69.4 on an idle machine; the steps give strings
/// back now, see `defer`).
const REAPER_BACKLOG_MAX: usize = 16 << 20;

/// The scheduling priority (nice value) of the VM's helper threads (the reaper, compile
/// jobs): background work, behind the threads that run VMs (`gc_unsafe::lower_thread_priority`).
pub(crate) const HELPER_NICE: i32 = 10;

/// The queue of [`MemoryAccount::deferred_frees`].
#[derive(Default)]
struct DeferredFrees {
    buffers: Vec<Deferred>,
    bytes: usize,
}

/// A freed buffer waiting to be given back.
enum Deferred {
    /// A string's bytes: given back whole, or, when bigger than what a step has left to
    /// give back, their pages first, in pieces (`released`: the pages before it are given
    /// back already; see [`MemoryAccount::release_deferred`]).
    Bytes { bytes: Arc<[u8]>, released: usize },
    /// A table part's slots, emptied (`gc_unsafe::emptied_buffer`): given back in pieces,
    /// by shrinking it, when it is bigger than what a step has left to give back.
    Slots(Vec<[u64; 2]>),
    /// A compiled function's buffers: given back in pieces, from the end.
    Prototype(Box<PrototypeParts>),
}

/// The most pages of a string, or of a table part on the reaper's thread, given back to the
/// kernel in one call: unmapping a 32 MiB buffer in one call held the process's memory-map
/// lock for 3-5 ms, and a thread mapping a buffer of its own meanwhile waited that long
/// (close_memory_error_nested, when the reaper gave strings back).
const RELEASED_PIECE: usize = 1 << 20;

/// Strings at least this long have their pages released in pieces before they are freed
/// (`gc_unsafe::release_pages_from`), by the VM's steps. glibc's `malloc` serves blocks up
/// to 32 MiB from its heap once one that big was freed (its dynamic mapping threshold), and
/// keeps a freed heap block's pages: a script that made and dropped 16 MiB strings in turn
/// (error messages quoting a 16 MiB name, error_huge_type_names) held 85.7 MiB resident
/// under a 64 MiB limit; with their pages released, 69.5. A reused block's pages are
/// faulted in again by whatever writes it next: the string builder a 64 KiB piece at a time
/// (its buffers are never zeroed whole, `gc_unsafe::PieceBuffer`; when they were, by
/// `calloc`, releasing blocks from 1 MiB up made 5 ms steps). Blocks smaller than this
/// keep their pages (fewer faults for the allocations written at once).
const RELEASED_IN_PIECES_MIN: usize = 16 << 20;

impl Deferred {
    /// Drops it (on the reaper's thread): a table part is shrunk [`RELEASED_PIECE`] at a
    /// time first, so no one call unmaps much of it and holds the process's memory-map lock
    /// long while the VM's thread may be mapping a buffer of its own.
    fn drop_in_pieces(self) {
        if let Deferred::Slots(mut slots) = self {
            shrink_in_pieces(&mut slots, RELEASED_PIECE / 16);
        }
    }

    /// What giving it back costs, in bytes of a big buffer given back (see
    /// [`SMALL_BLOCK_WEIGHT`] for the many small blocks of a prototype).
    fn bytes(&self) -> usize {
        match self {
            Deferred::Bytes { bytes, released } => bytes.len() - released,
            Deferred::Slots(v) => v.capacity() * 16,
            Deferred::Prototype(p) => p.weight,
        }
    }
}

/// Shrinks an emptied table part `piece` slots at a time until [`SHRUNK_SLOTS`] are left,
/// napping [`SHRINK_NAP`] after each piece; returns how many times it shrank. (For the
/// reaper's thread: the VM's thread may be waiting for the memory-map lock each shrink
/// takes.)
fn shrink_in_pieces(slots: &mut Vec<[u64; 2]>, piece: usize) -> usize {
    let mut times = 0;
    while slots.capacity() > SHRUNK_SLOTS {
        slots.shrink_to(slots.capacity().saturating_sub(piece).max(SHRUNK_SLOTS));
        times += 1;
        std::thread::sleep(SHRINK_NAP);
    }
    times
}

/// What the reaper shrinks a table part to before it frees it (64 KiB): glibc raises its
/// mapping threshold to the size of a mapped block freed (up to 32 MiB), after which blocks
/// up to that size come from its heap, where growing one copies it and freeing one keeps its
/// pages.
const SHRUNK_SLOTS: usize = 4096;

/// The reaper's nap between two pieces of a table part: a script growing tables while the
/// reaper shrank a 32 MiB part piece after piece, without naps, had steps of 2.4-4.6 ms
/// (the VM's page faults waiting for the memory-map lock; 7-16 ms when the part was freed
/// whole); with 50 or 200 µs naps, 1.4-1.7 ms.
const SHRINK_NAP: std::time::Duration = std::time::Duration::from_micros(50);

/// The weight of one small heap block given back (a string constant, a variable's name, a
/// nested prototype), in the queue's bytes: `free` takes ~20 ns for one, what the kernel
/// takes to give back about 300 bytes of a big buffer (50-80 µs per MiB).
const SMALL_BLOCK_WEIGHT: usize = 256;

/// The traced slots one heap block freed by the collector weighs (see
/// [`PrototypeParts::sweep_slots`]): a `free` of a small block, about 100 ns with the
/// allocator's consolidations, against ~12 ns a slot read.
const SWEEP_SLOTS_PER_BLOCK: usize = 8;

/// A compiled prototype whose last holder went, its buffers taken out of it
/// ([`PrototypeParts::take`]) to be given back a step at a time: a chunk of 100,000 string
/// constants is 100,000 heap blocks, 1.3 ms of `free` in the collector's slice that dropped
/// it (compile_limits). Its nested prototypes are taken apart in turn when this was their
/// last holder, so no tree is dropped whole. (The chunk name, shared by the tree, goes with
/// the emptied shell: one block.)
pub(crate) struct PrototypeParts {
    constants: Vec<Constant>,
    children: Vec<Arc<Prototype>>,
    local_vars: Vec<LocalVar>,
    upvalues: Vec<UpvalueDesc>,
    code: Vec<Instruction>,
    lines: Vec<u32>,
    /// What is left to give back ([`Deferred::bytes`]): [`SMALL_BLOCK_WEIGHT`] per item of
    /// the four lists, plus the bytes of string constants, plus the code and line buffers
    /// (given back last, each whole).
    weight: usize,
}

impl PrototypeParts {
    /// Whether the last holder of `proto` should queue its buffers rather than drop them:
    /// it has nested prototypes (their trees may be big), or its own blocks weigh a
    /// deferred buffer's worth.
    pub(crate) fn worth_deferring(proto: &Prototype) -> bool {
        !proto.prototypes.is_empty()
            || (proto.constants.len() + proto.local_vars.len()) * SMALL_BLOCK_WEIGHT
                + proto.code.capacity() * size_of::<Instruction>()
                >= DEFERRED_FREE_MIN
    }

    /// What freeing a small prototype (one not [`worth_deferring`](Self::worth_deferring))
    /// weighs in the collector slice that drops it, in traced slots (`gc::note_slice_slots`):
    /// [`SWEEP_SLOTS_PER_BLOCK`] a heap block it frees (the prototype, its code and lines,
    /// each string constant and each local variable and upvalue name; with the loaded
    /// prototype's own three), so a slice that frees many small functions stops at its cap
    /// like one that traces big tables (45,000 functions of a chunk dying together made
    /// slices of 2-3 ms).
    pub(crate) fn sweep_slots(proto: &Prototype) -> usize {
        let strings = proto
            .constants
            .iter()
            .filter(|c| matches!(c, Constant::String(_)))
            .count();
        (6 + strings + proto.local_vars.len() + proto.upvalues.len()) * SWEEP_SLOTS_PER_BLOCK
    }

    /// Takes `proto`'s buffers, leaving it empty (its last holder's, about to drop it).
    /// Not weighed yet (see [`weighed`](Self::weighed)): the reaper thread, which takes
    /// most of them, drops them whole, and weighing reads every constant (300,000 of them:
    /// 0.9 ms in the collector slice that freed their function).
    pub(crate) fn take(proto: &mut Prototype) -> Self {
        PrototypeParts {
            constants: std::mem::take(&mut proto.constants),
            children: std::mem::take(&mut proto.prototypes),
            local_vars: std::mem::take(&mut proto.local_vars),
            upvalues: std::mem::take(&mut proto.upvalues),
            code: std::mem::take(&mut proto.code),
            lines: std::mem::take(&mut proto.lines),
            weight: 0,
        }
    }

    /// With its weight, for the queue (`MemoryAccount::release_deferred`).
    fn weighed(mut self) -> Self {
        self.weight = self.constants.iter().map(constant_weight).sum::<usize>()
            + (self.children.len() + self.local_vars.len() + self.upvalues.len())
                * SMALL_BLOCK_WEIGHT
            + buffers_weight(&self.code, &self.lines);
        self
    }

    /// Gives back items from the end until `room` is used (at least one item, so a call
    /// always makes progress), the code and line buffers last; returns the weight given
    /// back. A nested prototype this was the last holder of is taken apart into `nested`
    /// (to be queued) rather than dropped.
    fn release(&mut self, room: usize, nested: &mut Vec<PrototypeParts>) -> usize {
        let mut released = 0;
        let done = give_back(&mut self.children, room, &mut released, |mut child| {
            if let Some(p) = Arc::get_mut(&mut child) {
                nested.push(PrototypeParts::take(p));
            }
            SMALL_BLOCK_WEIGHT
        }) && give_back(&mut self.constants, room, &mut released, |c| {
            constant_weight(&c)
        }) && give_back(&mut self.local_vars, room, &mut released, |_| {
            SMALL_BLOCK_WEIGHT
        }) && give_back(&mut self.upvalues, room, &mut released, |_| {
            SMALL_BLOCK_WEIGHT
        });
        if done {
            released += buffers_weight(&self.code, &self.lines);
            self.code = Vec::new();
            self.lines = Vec::new();
        }
        self.weight -= released;
        released
    }
}

/// Drops `items` from the end (`drop_one` drops one and says what it weighed) until
/// `released` reaches `room`; whether `room` is still not reached (all went).
fn give_back<T>(
    items: &mut Vec<T>,
    room: usize,
    released: &mut usize,
    mut drop_one: impl FnMut(T) -> usize,
) -> bool {
    while let Some(item) = items.pop() {
        *released += drop_one(item);
        if *released >= room {
            return false;
        }
    }
    true
}

fn constant_weight(c: &Constant) -> usize {
    match c {
        Constant::String(s) => SMALL_BLOCK_WEIGHT + s.len(),
        _ => 0,
    }
}

fn buffers_weight(code: &Vec<Instruction>, lines: &Vec<u32>) -> usize {
    code.capacity() * size_of::<Instruction>() + lines.capacity() * size_of::<u32>()
}

/// The schedule of automatic full collections: a full collection (the logical one: weak
/// tables, finalizers, `collectgarbage("count")`) becomes due when the script's byte count
/// (`MemoryAccount::script_bytes`, a function of the script's history only) reaches
/// `threshold`; after each full collection the threshold is the live bytes times
/// `pause` percent (`collectgarbage("setpause")`, 200 by default like PUC), but at least
/// [`AUTO_COLLECTION_MIN_BYTES`]. The interpreter checks it at its safe points (calls and
/// backward jumps, with the fuel), so a collection lands at the same instruction whatever
/// the host's step sizes, snapshots or rollbacks; it is part of snapshots and of the ring's
/// root state. `collectgarbage("stop")` stops them (`running`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct CollectorPacing {
    /// Script bytes at which the next automatic collection is due (`usize::MAX`: none).
    pub threshold: usize,
    /// Growth allowed between collections, in percent of the live bytes.
    pub pause: u32,
    /// Whether automatic collections happen (`collectgarbage("stop"/"restart")`).
    pub running: bool,
}

/// The smallest `pause` honoured (percent): every automatic collection waits for at least a
/// tenth of the live heap in new allocations, so a script cannot make them back to back.
pub const MIN_PAUSE: u32 = 110;

/// The smallest script heap at which automatic collections start (small heaps are not worth
/// a collection).
pub const AUTO_COLLECTION_MIN_BYTES: usize = 1 << 20;

impl Default for CollectorPacing {
    fn default() -> Self {
        CollectorPacing {
            threshold: AUTO_COLLECTION_MIN_BYTES,
            pause: 200,
            running: true,
        }
    }
}

impl CollectorPacing {
    /// The pacing after a full collection left `live` script bytes.
    pub(crate) fn after_collection(self, live: usize) -> Self {
        let threshold = if self.running {
            (live as u128 * self.pause.max(MIN_PAUSE) as u128 / 100).min(usize::MAX as u128 - 1)
                as usize
        } else {
            usize::MAX
        };
        CollectorPacing {
            threshold: threshold.max(AUTO_COLLECTION_MIN_BYTES),
            ..self
        }
    }
}

impl Default for MemoryAccount {
    fn default() -> Self {
        MemoryAccount {
            used: Cell::new(0),
            peak: Cell::new(0),
            limit: Cell::new(usize::MAX),
            collections: Cell::new(0),
            collect_asked_at: Cell::new(None),
            script_bytes: Cell::new(0),
            step_mark: Cell::new(0),
            buffer_growth: Cell::new(0),
            host_mode: Cell::new(false),
            collection_wanted: Cell::new(false),
            interned_freed: Cell::new(false),
            pacing: Cell::new(CollectorPacing::default()),
            ring_allowance: Cell::new(0),
            over_limit_above: Cell::new(usize::MAX),
            deferred_frees: RefCell::default(),
            reaper_allowed: Cell::new(true),
        }
    }
}

impl MemoryAccount {
    /// Gives deferred buffers back to the allocator: `budget` bytes, or what is above
    /// [`DEFERRED_FREES_MAX`] if that is more, the most recently queued first (the ones a
    /// collection freed last tend to sit at the top of the heap, which the allocator can
    /// then return as it goes). A table part bigger than what is left to give is shrunk by
    /// that much; a string (one buffer) bigger than that waits for a step of its own, and
    /// such a step gives it back whole.
    pub(crate) fn release_deferred(&self, budget: usize) {
        let budget = budget.max(self.deferred_bytes().saturating_sub(DEFERRED_FREES_MAX));
        let mut released = 0;
        while released < budget {
            // (Dropped outside the borrow: a buffer's drop never comes back here, but the
            // queue is not held across the allocator's work either way.)
            let buffer = {
                let mut q = self.deferred_frees.borrow_mut();
                let Some(b) = q.buffers.pop() else { break };
                q.bytes -= b.bytes();
                b
            };
            let bytes = buffer.bytes();
            let room = budget - released;
            match buffer {
                Deferred::Prototype(mut parts) => {
                    let mut nested = Vec::new();
                    released += parts.release(room, &mut nested);
                    if parts.weight > 0 {
                        self.requeue(Deferred::Prototype(parts));
                    }
                    // (On top: given back next, before what the queue held.)
                    for p in nested {
                        self.requeue(Deferred::Prototype(Box::new(p.weighed())));
                    }
                }
                Deferred::Slots(mut slots) if bytes > room => {
                    // Its last `room` bytes go now; the rest waits for the next step.
                    slots.shrink_to((bytes - room) / 16);
                    self.requeue(Deferred::Slots(slots));
                    break;
                }
                Deferred::Bytes {
                    bytes: mut buffer,
                    released: from,
                } => {
                    let Some(unshared) = Arc::get_mut(&mut buffer) else {
                        // (A snapshot shares it: dropping this holder frees nothing.)
                        continue;
                    };
                    let len = unshared.len();
                    if bytes > room {
                        // Its pages, a piece of what the step has left; the rest waits for
                        // the next step (dropped whole, unmapping them took 1.5-3 ms for
                        // 24 MiB).
                        let to = crate::gc_unsafe::release_pages_from(
                            unshared,
                            from,
                            room,
                            RELEASED_PIECE,
                        );
                        released += to - from;
                        if to < len {
                            self.requeue(Deferred::Bytes {
                                bytes: buffer,
                                released: to,
                            });
                            break;
                        }
                    } else {
                        if from > 0 || len >= RELEASED_IN_PIECES_MIN {
                            // (The rest of its pages: a freed heap block would keep them.)
                            crate::gc_unsafe::release_pages_from(
                                unshared,
                                from,
                                usize::MAX,
                                RELEASED_PIECE,
                            );
                        }
                        released += bytes;
                    }
                    drop(buffer);
                }
                buffer => {
                    released += bytes;
                    drop(buffer);
                }
            }
        }
    }

    /// Puts `buffer` back on top of the queue.
    fn requeue(&self, buffer: Deferred) {
        let mut q = self.deferred_frees.borrow_mut();
        q.bytes += buffer.bytes();
        q.buffers.push(buffer);
    }

    /// Whether big freed buffers may be given back on the reaper thread ([`REAPED_MIN`]).
    pub(crate) fn set_reaper_allowed(&self, allowed: bool) {
        self.reaper_allowed.set(allowed);
    }

    /// Bytes of freed buffers not given back to the allocator yet (see [`free_later`]).
    pub(crate) fn deferred_bytes(&self) -> usize {
        self.deferred_frees.borrow().bytes
    }

    /// Moves `other`'s queue of deferred buffers under this account's (the retired heap's,
    /// when it is dropped: its last slices may have freed more than a step gives back).
    pub(crate) fn adopt_deferred(&self, other: &MemoryAccount) {
        let taken = std::mem::take(&mut *other.deferred_frees.borrow_mut());
        let mut q = self.deferred_frees.borrow_mut();
        q.bytes += taken.bytes;
        q.buffers.extend(taken.buffers);
    }

    /// Bytes currently charged.
    pub fn used(&self) -> usize {
        self.used.get()
    }

    /// The most bytes ever charged at once.
    pub fn peak(&self) -> usize {
        self.peak.get()
    }

    /// Most bytes a compilation may hold (`lunette_compiler::compile_with_limit`;
    /// `usize::MAX` without a limit): what the limit has left, but at least a quarter of the
    /// limit, because the compiler cannot pause for a collection and the bytes in use may be
    /// garbage. So a compilation overshoots the limit by at most a quarter of it; the
    /// prototypes it makes are then charged and the next safe point collects (and fails if
    /// that is not enough), as for any builtin's allocation.
    pub fn compile_budget(&self) -> usize {
        let limit = self.limit.get();
        limit.saturating_sub(self.limited_bytes()).max(limit / 4)
    }

    /// The memory limit in bytes, `None` when unlimited.
    pub fn limit(&self) -> Option<usize> {
        let l = self.limit.get();
        (l != usize::MAX).then_some(l)
    }

    pub(crate) fn set_limit(&self, limit: Option<usize>) {
        self.limit.set(limit.unwrap_or(usize::MAX));
        self.sync_over_limit_above();
    }

    fn sync_over_limit_above(&self) {
        self.over_limit_above
            .set(self.limit.get().saturating_add(self.ring_allowance.get()));
    }

    /// Moves `bytes` of what is charged here to `to` (a heap that leaves this VM's account
    /// with its objects: `Lua::restore`'s retired heap).
    pub(crate) fn hand_over(&self, to: &MemoryAccount, bytes: usize) {
        let bytes = bytes.min(self.used.get());
        self.sub(bytes);
        to.add(bytes);
    }

    /// Starts peak tracking over from the current usage.
    pub(crate) fn reset_peak(&self) {
        self.peak.set(self.used.get());
    }

    #[inline]
    pub(crate) fn over_limit(&self) -> bool {
        self.limited_bytes() > self.limit.get()
    }

    /// The bytes the limit holds the script to: those in use, less what only the snapshot
    /// ring keeps alive. The ring's old states are the host's budget (it chose to keep them,
    /// `Lua::snapshots_size_bytes` reports them); counting them would make *whether* a
    /// script runs out of memory depend on the host's snapshots.
    #[inline]
    fn limited_bytes(&self) -> usize {
        self.used.get().saturating_sub(self.ring_allowance.get())
    }

    /// Sets what only the ring keeps alive, measured right after a completed collection
    /// cycle (when no garbage is left in `used`), or 0 when the ring changes other than by
    /// growing (a rollback, a dropped log: objects it kept may be live again or garbage
    /// now). It never overstates, so it never lends the script a byte: the limit may only
    /// collect more often until the next measurement.
    pub(crate) fn set_ring_allowance(&self, bytes: usize) {
        self.ring_allowance.set(bytes);
        self.sync_over_limit_above();
    }

    /// Whether a safe point must look at memory: over the limit, or an automatic full
    /// collection is due (see [`CollectorPacing`]).
    #[inline]
    pub(crate) fn needs_attention(&self) -> bool {
        // `limited_bytes() > limit`, i.e. `used.saturating_sub(ring_allowance) > limit`, is
        // `used > limit.saturating_add(ring_allowance)`: equal when the sum fits, and when it
        // does not, `used - ring_allowance <= usize::MAX - ring_allowance < limit`.
        self.used.get() > self.over_limit_above.get()
            || self.script_bytes.get() >= self.pacing.get().threshold
    }

    /// The automatic collection schedule.
    pub fn pacing(&self) -> CollectorPacing {
        self.pacing.get()
    }

    pub(crate) fn set_pacing(&self, pacing: CollectorPacing) {
        self.pacing.set(pacing);
    }

    /// Bytes of strings made and of buffers grown (tables' parts, threads' stacks) since the
    /// last call. A string or a table is one small object to gc-arena (which paces by
    /// object count) whatever it holds; the collector's pacing counts these bytes as debt
    /// too (`Lua::gc_step`).
    pub(crate) fn take_buffer_growth(&self) -> usize {
        self.buffer_growth.replace(0)
    }

    /// Bytes gained since the last call (for the collector's pacing).
    pub(crate) fn growth_since_last_step(&self) -> usize {
        let used = self.used.get();
        used.saturating_sub(self.step_mark.replace(used))
    }

    /// After a full collection (the logical mark already set `script_bytes`).
    pub(crate) fn note_full_collection(&self) {
        self.collections.set(self.collections.get() + 1);
        if matches!(self.collect_asked_at.get(), Some((_, 0))) && !self.over_limit() {
            // A safe point asked, and the collection brought the VM back under the limit: the
            // safe point will not ask again (it only asks when over), so nothing is pending.
            self.collect_asked_at.set(None);
        }
    }

    /// Notes that the limit needs a collection before the VM goes on (see
    /// `Context::request_memory_collection`).
    pub(crate) fn want_collection(&self) {
        self.collection_wanted.set(true);
    }

    /// Whether the limit asked for a collection that no step has started yet.
    pub(crate) fn collection_wanted(&self) -> bool {
        self.collection_wanted.get()
    }

    /// Whether a collection was asked for by the limit since the last call (and clears it).
    pub(crate) fn take_collection_wanted(&self) -> bool {
        self.collection_wanted.replace(false)
    }

    /// Whether an interned string was freed since the last call (and clears it).
    pub(crate) fn take_interned_freed(&self) -> bool {
        self.interned_freed.replace(false)
    }

    /// Forgets a request waiting for a collection (the VM was rolled back or restored: the
    /// operation that asked may never run again).
    pub(crate) fn forget_pending_request(&self) {
        self.collect_asked_at.set(None);
    }

    /// The memory size a script sees (`collectgarbage("count")`): the bytes of the objects
    /// reachable at the last full collection (its logical mark, `gc::logical_collection`) plus
    /// everything charged since. Frees done by the incremental
    /// collector are not subtracted, because *when* it runs depends on the host's step sizes;
    /// charges depend only on what the script did (buffer capacities are restored exactly by
    /// snapshots), so the value is the same in every run and after every rollback. It is part
    /// of snapshots.
    pub fn script_bytes(&self) -> usize {
        self.script_bytes.get()
    }

    pub(crate) fn set_script_bytes(&self, n: usize) {
        self.script_bytes.set(n);
    }

    /// Whether `bytes` more may be allocated now (`bytes = 0`: whether the VM may go on at a
    /// safe point). The protocol that holds a VM to its limit:
    /// - it fits under the limit: [`Verdict::Allow`];
    /// - it does not, and no full collection ran since this was last asked:
    ///   [`Verdict::CollectFirst`] — the caller ends the step *before* allocating, the host
    ///   runs a full collection, and the same operation asks again;
    /// - it still does not fit after that collection (or alone exceeds the limit):
    ///   [`Verdict::Refuse`], the script gets `not enough memory`.
    ///
    /// So nothing is allocated past the limit by a request that asks first: the VM's bytes
    /// stay under the limit plus what was charged without asking (small objects between two
    /// safe points).
    pub(crate) fn verdict(&self, bytes: usize) -> Verdict {
        let limit = self.limit.get();
        if bytes > limit {
            return Verdict::Refuse;
        }
        if self.limited_bytes().saturating_add(bytes) <= limit {
            // A retried operation asks again for what it asked before the collection (and
            // may first ask for smaller amounts on the way): the question is answered once
            // a request at least as large as the pending one is allowed.
            if matches!(self.collect_asked_at.get(), Some((_, asked)) if bytes >= asked) {
                self.collect_asked_at.set(None);
            }
            return Verdict::Allow;
        }
        match self.collect_asked_at.get() {
            Some((n, _)) if self.collections.get() > n => {
                // Collected since the question was first asked, and still no room.
                self.collect_asked_at.set(None);
                Verdict::Refuse
            }
            Some(_) => Verdict::CollectFirst,
            None => {
                self.collect_asked_at
                    .set(Some((self.collections.get(), bytes)));
                Verdict::CollectFirst
            }
        }
    }

    /// [`verdict`](Self::verdict) for a caller that cannot run again and allocates anyway
    /// after `CollectFirst` (the collection comes at the next safe point, which checks
    /// `over_limit`): its pending question is the safe point's, answered (and forgotten) by
    /// the collection if the VM ends up under the limit.
    pub(crate) fn verdict_allow_once(&self, bytes: usize) -> Verdict {
        let v = self.verdict(bytes);
        if v == Verdict::CollectFirst {
            self.collect_asked_at
                .set(self.collect_asked_at.get().map(|(n, _)| (n, 0)));
        }
        v
    }

    #[inline]
    fn add(&self, n: usize) {
        let u = self.used.get() + n;
        self.used.set(u);
        if u > self.peak.get() {
            self.peak.set(u);
        }
    }

    #[inline]
    fn sub(&self, n: usize) {
        self.used.set(self.used.get().saturating_sub(n));
    }
}

/// What [`MemoryAccount::verdict`] answers to a request for bytes.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// It fits under the limit.
    Allow,
    /// It does not fit: end the step without allocating, let the host run a full collection,
    /// then ask again.
    CollectFirst,
    /// It does not fit even after a collection (or exceeds the limit alone).
    Refuse,
}

thread_local! {
    /// The account charges go to: the VM whose arena is entered (`AccountGuard`, made by
    /// every entry into a VM's arena, and `drop_scope` for dropping it). A thread-local, not
    /// per-VM state reached through a `Context`, because objects give their bytes back in
    /// `Charge::drop`, which the collector runs where no context exists; a pointer to the
    /// account in every object would cost 8 bytes each.
    static CURRENT: RefCell<Option<Rc<MemoryAccount>>> = const { RefCell::new(None) };
}

/// Makes `account` the current one until dropped (restoring the previous one, so guards nest).
pub(crate) struct AccountGuard {
    previous: Option<Rc<MemoryAccount>>,
}

impl AccountGuard {
    pub(crate) fn new(account: &Rc<MemoryAccount>) -> Self {
        let previous = CURRENT.with(|c| c.replace(Some(account.clone())));
        AccountGuard { previous }
    }
}

impl Drop for AccountGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT.with(|c| *c.borrow_mut() = previous);
    }
}

/// Makes an account current while the struct fields declared between its two halves drop
/// (fields drop in declaration order: the start's drop makes the account current, the
/// fields between give their bytes back to it, the end's drop puts the previous account
/// back). How `Lua` drops its arena without a guard object made in `Drop::drop`.
pub(crate) fn drop_scope(account: &Rc<MemoryAccount>) -> (DropScopeStart, DropScopeEnd) {
    let saved = Rc::new(RefCell::new(None));
    (
        DropScopeStart {
            account: account.clone(),
            saved: saved.clone(),
        },
        DropScopeEnd { saved },
    )
}

/// The first half of a [`drop_scope`].
pub(crate) struct DropScopeStart {
    account: Rc<MemoryAccount>,
    /// The previous current account, for the end (set when the start drops).
    saved: Rc<RefCell<Option<Option<Rc<MemoryAccount>>>>>,
}

impl Drop for DropScopeStart {
    fn drop(&mut self) {
        let previous = CURRENT.with(|c| c.replace(Some(self.account.clone())));
        *self.saved.borrow_mut() = Some(previous);
    }
}

/// The second half of a [`drop_scope`].
pub(crate) struct DropScopeEnd {
    saved: Rc<RefCell<Option<Option<Rc<MemoryAccount>>>>>,
}

impl Drop for DropScopeEnd {
    fn drop(&mut self) {
        if let Some(previous) = self.saved.borrow_mut().take() {
            CURRENT.with(|c| *c.borrow_mut() = previous);
        }
    }
}

/// Charges `n` bytes. Script charges (an object whose creation or growth is a deterministic
/// consequence of what the script did) also count in `script_bytes`; host charges (objects of
/// host machinery: executors' main threads, chunks the host loads) count in use only.
/// `pacing`: bytes gc-arena does not see as objects (strings' bytes, buffers grown), also
/// counted toward the collector's pacing (`MemoryAccount::take_buffer_growth`).
#[inline]
fn charge(n: usize, script: bool, pacing: bool) {
    if n != 0 {
        CURRENT.with(|c| {
            if let Some(a) = &*c.borrow() {
                a.add(n);
                if script {
                    a.script_bytes.set(a.script_bytes.get() + n);
                }
                if pacing {
                    a.buffer_growth.set(a.buffer_growth.get().saturating_add(n));
                }
            }
        });
    }
}

#[inline]
fn discharge(n: usize) {
    if n != 0 {
        CURRENT.with(|c| {
            if let Some(a) = &*c.borrow() {
                a.sub(n)
            }
        });
    }
}

/// Runs `f` with every charge it makes (objects created, strings requested) a host charge:
/// counted in use, never in `script_bytes`. What the host does in `Lua::enter` runs so (the
/// strings it makes to look globals up, the chunks it loads...), so that what
/// `collectgarbage("count")` reports does not depend on the host's calls; executor steps run
/// in [`script_charges`].
pub(crate) fn host_charges<R>(account: &MemoryAccount, f: impl FnOnce() -> R) -> R {
    let old = account.host_mode.replace(true);
    let r = f();
    account.host_mode.set(old);
    r
}

/// Runs `f` with script charges (the default; inside an executor step, whatever the host's
/// mode around it).
pub(crate) fn script_charges<R>(account: &MemoryAccount, f: impl FnOnce() -> R) -> R {
    let old = account.host_mode.replace(false);
    let r = f();
    account.host_mode.set(old);
    r
}

/// The flag bit of a [`Charge`] made for host machinery (the rest is the byte count).
const HOST_CHARGE: usize = 1 << (usize::BITS - 1);
/// The flag bit of a detached [`Charge`]: a copy's record of bytes, in no account.
const DETACHED_CHARGE: usize = 1 << (usize::BITS - 2);
const CHARGE_FLAGS: usize = HOST_CHARGE | DETACHED_CHARGE;

/// The bytes an object holds, charged to the current account; given back on drop. A host
/// charge (made in [`host_charges`], or [`Charge::new_host`]) never counts in
/// `script_bytes`, also when it is resynced later (a host thread's stack growing).
pub(crate) struct Charge(Cell<usize>);

impl Charge {
    pub(crate) fn new(bytes: usize) -> Self {
        let bytes = bytes & !CHARGE_FLAGS;
        let host = CURRENT.with(|c| match &*c.borrow() {
            Some(a) => {
                let host = a.host_mode.get();
                a.add(bytes);
                if !host {
                    a.script_bytes.set(a.script_bytes.get() + bytes);
                }
                host
            }
            None => false,
        });
        Charge(Cell::new(if host { bytes | HOST_CHARGE } else { bytes }))
    }

    /// A host charge (see the type's docs).
    pub(crate) fn new_host(bytes: usize) -> Self {
        let bytes = bytes & !CHARGE_FLAGS;
        charge(bytes, false, false);
        Charge(Cell::new(bytes | HOST_CHARGE))
    }

    /// A record of this charge's bytes that counts in no account (the journal's saved
    /// copies of an object's state; `set` on the object's own charge puts the amount back).
    pub(crate) fn detached(&self) -> Self {
        Charge(Cell::new(self.get() | DETACHED_CHARGE))
    }

    /// Sets the charge to `bytes` (after a buffer grew or shrank).
    #[inline]
    pub(crate) fn set(&self, bytes: usize) {
        let raw = self.0.get();
        let flags = raw & CHARGE_FLAGS;
        let old = raw & !CHARGE_FLAGS;
        let bytes = bytes & !CHARGE_FLAGS;
        if bytes == old {
            return;
        }
        if flags & DETACHED_CHARGE == 0 {
            if bytes > old {
                // (Growth from a first setting is the object itself, not its buffers.)
                charge(bytes - old, flags & HOST_CHARGE == 0, old != 0);
            } else {
                discharge(old - bytes);
            }
        }
        self.0.set(bytes | flags);
    }

    pub(crate) fn get(&self) -> usize {
        self.0.get() & !CHARGE_FLAGS
    }
}

impl Default for Charge {
    fn default() -> Self {
        Charge(Cell::new(0))
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        if self.0.get() & DETACHED_CHARGE == 0 {
            discharge(self.get());
        }
    }
}

/// Bytes a VM structure holds whose size is not a deterministic consequence of the script's
/// history (e.g. the string interner, whose dead entries depend on when the collector ran):
/// counted in use (so under the limit), never in `script_bytes`; given back on drop.
#[derive(Default)]
pub(crate) struct PhysicalCharge(Cell<usize>);

impl PhysicalCharge {
    /// Sets the charge to `bytes` (after a buffer grew or shrank).
    #[inline]
    pub(crate) fn set(&self, bytes: usize) {
        let old = self.0.replace(bytes);
        if bytes == old {
            return;
        }
        if bytes > old {
            charge(bytes - old, false, false);
        } else {
            discharge(old - bytes);
        }
    }
}

impl Drop for PhysicalCharge {
    fn drop(&mut self) {
        discharge(self.0.get());
    }
}

/// Charges a string's bytes (given back by its own `Drop`), also toward the collector's
/// pacing. Counted in use only: whether an interned string is created or found depends on
/// whether the collector already freed an equal dead one, so `script_bytes` counts string
/// *requests* instead (`note_string`).
#[inline]
pub(crate) fn charge_string_bytes(n: usize) {
    charge(n, false, true)
}

/// A string of `n` bytes (cost) was asked for: counted in `script_bytes`, created or not.
#[inline]
pub(crate) fn note_string(account: &MemoryAccount, n: usize) {
    if account.host_mode.get() {
        return;
    }
    account.script_bytes.set(account.script_bytes.get() + n);
}

#[inline]
pub(crate) fn discharge_bytes(n: usize) {
    discharge(n)
}

/// `discharge_bytes` of a freed interned string, which the interner will find dead (see
/// `MemoryAccount::take_interned_freed`).
#[inline]
pub(crate) fn discharge_interned_string(n: usize) {
    CURRENT.with(|c| {
        if let Some(a) = &*c.borrow() {
            a.sub(n);
            a.interned_freed.set(true);
        }
    });
}

/// Queues a freed string's buffer (this was its last holder) to be given back to the
/// allocator after the step, a few buffers a step (see [`DEFERRED_FREE_MIN`]); its bytes were already
/// discharged, so no count a script or the limit sees waits for it. Dropped at once when no
/// VM is entered (nothing would drain the queue).
pub(crate) fn free_later(buffer: Arc<[u8]>) {
    defer(Deferred::Bytes {
        bytes: buffer,
        released: 0,
    });
}

/// [`free_later`] for a freed table's array or hash part of [`DEFERRED_FREE_MIN`] bytes or
/// more, emptied (`gc_unsafe::emptied_buffer`): given back in pieces of what a step has left
/// to give back (one 32 MiB array is as slow to give back at once as many strings).
pub(crate) fn free_slots_later(slots: Vec<[u64; 2]>) {
    // (Empty: shrinking gives back capacity above the length only.)
    debug_assert!(slots.is_empty());
    defer(Deferred::Slots(slots));
}

/// [`free_later`] for the buffers of a compiled prototype whose last holder is going
/// ([`PrototypeParts::worth_deferring`]).
pub(crate) fn free_prototype_later(parts: PrototypeParts) {
    defer(Deferred::Prototype(Box::new(parts)));
}

fn defer(buffer: Deferred) {
    CURRENT.with(|c| {
        if let Some(account) = &*c.borrow() {
            let mut buffer = buffer;
            // (A prototype's blocks, many small ones, were mostly allocated by the compile
            // helper's thread: given back by the VM's, each `free` took the other thread's
            // arena lock, 1-2 ms a step of a step's share.)
            // (Strings are given back by the steps, their pages in pieces: the reaper, at a
            // lower priority, fell behind when every core was busy, see
            // `REAPER_BACKLOG_MAX`.)
            let reaped = match buffer {
                Deferred::Bytes { .. } => false,
                Deferred::Slots(_) => buffer.bytes() >= REAPED_MIN,
                Deferred::Prototype(_) => true,
            };
            if reaped && account.reaper_allowed.get() {
                match reap(buffer) {
                    Ok(()) => return,
                    Err(back) => buffer = back,
                }
            }
            if let Deferred::Prototype(parts) = buffer {
                buffer = Deferred::Prototype(Box::new((*parts).weighed()));
            }
            let mut q = account.deferred_frees.borrow_mut();
            q.bytes += buffer.bytes();
            q.buffers.push(buffer);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reaper_shrinks_a_table_part_a_piece_at_a_time() {
        let piece = RELEASED_PIECE / 16;
        // (Three whole pieces, then the rest down to what is freed.)
        let mut slots = Vec::with_capacity(3 * piece + piece / 2);
        assert_eq!(shrink_in_pieces(&mut slots, piece), 4);
        assert!(slots.capacity() <= SHRUNK_SLOTS, "{}", slots.capacity());
        let mut small: Vec<[u64; 2]> = Vec::with_capacity(SHRUNK_SLOTS);
        assert_eq!(shrink_in_pieces(&mut small, piece), 0);
    }

    #[test]
    fn big_table_parts_go_to_the_reaper_unless_helper_threads_are_off_or_it_is_behind() {
        use std::sync::atomic::Ordering::Relaxed;
        let account = Rc::new(MemoryAccount::default());
        let _guard = AccountGuard::new(&account);
        free_slots_later(Vec::with_capacity(REAPED_MIN / 16));
        assert_eq!(account.deferred_bytes(), 0);
        free_slots_later(Vec::with_capacity(REAPED_MIN / 16 - 1));
        assert_eq!(account.deferred_bytes(), REAPED_MIN - 16);
        // Strings stay: the VM's steps give their pages back in pieces, whoever runs.
        free_later(Arc::from(vec![0u8; REAPED_MIN]));
        assert_eq!(account.deferred_bytes(), 2 * REAPED_MIN - 16);
        // A reaper behind on its work takes no more (as if other VMs had kept it busy).
        REAPER_BACKLOG.fetch_add(REAPER_BACKLOG_MAX, Relaxed);
        free_slots_later(Vec::with_capacity(REAPED_MIN / 16));
        REAPER_BACKLOG.fetch_sub(REAPER_BACKLOG_MAX, Relaxed);
        assert_eq!(account.deferred_bytes(), 3 * REAPED_MIN - 16);
        account.set_reaper_allowed(false);
        free_slots_later(Vec::with_capacity(REAPED_MIN / 16));
        assert_eq!(account.deferred_bytes(), 4 * REAPED_MIN - 16);
    }

    #[test]
    fn deferred_buffers_go_back_a_step_at_a_time_and_never_pile_up_beyond_the_cap() {
        let account = Rc::new(MemoryAccount::default());
        let _guard = AccountGuard::new(&account);
        // (The queue's own pacing: the reaper would take these big buffers.)
        account.set_reaper_allowed(false);
        const MIB: usize = 1 << 20;
        for _ in 0..100 {
            free_later(Arc::from(vec![0u8; MIB]));
        }
        assert_eq!(account.deferred_bytes(), 100 * MIB);
        // Above the cap: the excess goes at once (more than a step's share).
        account.release_deferred(DEFERRED_FREES_PER_STEP);
        assert_eq!(account.deferred_bytes(), DEFERRED_FREES_MAX);
        // Under it: a step's share.
        account.release_deferred(DEFERRED_FREES_PER_STEP);
        assert_eq!(
            account.deferred_bytes(),
            DEFERRED_FREES_MAX - DEFERRED_FREES_PER_STEP
        );
        // A string bigger than what a step has left has that much of its pages given back
        // (whole pages, so a page more or less), and the rest in the next step.
        free_later(Arc::from(vec![0u8; MIB]));
        free_later(Arc::from(vec![0u8; 12 * MIB]));
        free_later(Arc::from(vec![0u8; MIB]));
        let before = account.deferred_bytes();
        account.release_deferred(DEFERRED_FREES_PER_STEP);
        let first = before - account.deferred_bytes();
        #[cfg(target_os = "linux")]
        assert!(
            (DEFERRED_FREES_PER_STEP - 4096..=DEFERRED_FREES_PER_STEP + 4096).contains(&first),
            "{first}"
        );
        #[cfg(not(target_os = "linux"))]
        assert_eq!(first, 13 * MIB);
        // (The rest of it, the last one, and a step's share of what waited before them.)
        account.release_deferred(DEFERRED_FREES_PER_STEP);
        let both = before - account.deferred_bytes();
        let two_steps = 2 * DEFERRED_FREES_PER_STEP;
        #[cfg(target_os = "linux")]
        assert!(
            (two_steps - 8192..=two_steps + 8192).contains(&both),
            "{both}"
        );
        // (Elsewhere pages are not given back ahead: the string went whole in the first.)
        #[cfg(not(target_os = "linux"))]
        assert_eq!(both, 13 * MIB + DEFERRED_FREES_PER_STEP);
        // A table part is shrunk by what a step has left.
        account.release_deferred(usize::MAX);
        assert_eq!(account.deferred_bytes(), 0);
        free_slots_later(Vec::with_capacity(20 * MIB / 16));
        account.release_deferred(DEFERRED_FREES_PER_STEP);
        assert_eq!(account.deferred_bytes(), 20 * MIB - DEFERRED_FREES_PER_STEP);
    }

    #[test]
    fn a_big_prototype_tree_goes_back_in_pieces() {
        let account = Rc::new(MemoryAccount::default());
        let _guard = AccountGuard::new(&account);
        // (The queue's own pacing: the reaper would take the tree.)
        account.set_reaper_allowed(false);
        // A chunk of 3,000 string constants, a nested function of 5,000 and a small one.
        let consts = |prefix: &str, n: usize| {
            (0..n)
                .map(|i| format!("x = '{prefix}{i}'\n"))
                .collect::<String>()
        };
        let source = format!(
            "{}local function big() {} end local function small() return 1 end",
            consts("m", 3000),
            consts("c", 5000)
        );
        let mut proto = lunette_compiler::compile(source.as_bytes(), "=tree").unwrap();
        let root = Arc::get_mut(&mut proto).unwrap();
        assert!(PrototypeParts::worth_deferring(root));
        free_prototype_later(PrototypeParts::take(root));
        assert!(proto.constants.is_empty() && proto.prototypes.is_empty());
        drop(proto);
        let initial = account.deferred_bytes();
        assert!(initial > 3000 * SMALL_BLOCK_WEIGHT);
        // A release of 64 blocks' worth: the nested functions go first; the big one, whose
        // last holder the root was, is taken apart and queued with its own weight.
        let budget = 64 * SMALL_BLOCK_WEIGHT;
        account.release_deferred(budget);
        let mut left = account.deferred_bytes();
        assert!(
            left > initial + 4000 * SMALL_BLOCK_WEIGHT,
            "{left} vs {initial}"
        );
        let mut releases = 1;
        while left > 0 {
            account.release_deferred(budget);
            let now = account.deferred_bytes();
            // Each release gives back its share, one item over at most (the code buffer
            // of a function of 5,000 statements is the biggest, under 64 KiB).
            assert!(
                now < left && left - now <= budget + (64 << 10),
                "{left} -> {now}"
            );
            left = now;
            releases += 1;
        }
        assert!(releases > 8000 / 64, "{releases} releases");
    }

    #[test]
    fn a_dropped_vm_gives_its_bytes_back_to_its_own_account() {
        let a = crate::lua::Lua::core();
        let mut b = crate::lua::Lua::core();
        b.execute(b"t = {} for i = 1, 1000 do t[i] = {} end", "fill")
            .unwrap();
        let used_a = a.memory_used();
        // `a` is the current account while `b` drops (a host dropping one VM inside
        // another's callback): `b`'s objects must not be discharged from `a`.
        a.enter(|_| drop(b));
        assert_eq!(a.memory_used(), used_a);
        // And nothing is left current after `a` drops.
        drop(a);
        assert!(CURRENT.with(|c| c.borrow().is_none()));
    }

    #[test]
    fn charges_follow_the_current_account_and_nest() {
        let a = Rc::new(MemoryAccount::default());
        let b = Rc::new(MemoryAccount::default());
        let c1 = {
            let _g = AccountGuard::new(&a);
            let c = Charge::new(100);
            {
                let _g2 = AccountGuard::new(&b);
                let c2 = Charge::new(50);
                assert_eq!(b.used(), 50);
                drop(c2);
                assert_eq!(b.used(), 0);
                assert_eq!(b.peak(), 50);
            }
            c.set(300);
            assert_eq!(a.used(), 300);
            c.set(200);
            c
        };
        assert_eq!(a.used(), 200);
        assert_eq!(a.peak(), 300);
        {
            let _g = AccountGuard::new(&a);
            drop(c1);
        }
        assert_eq!(a.used(), 0);
    }

    #[test]
    fn limit_protocol_collects_before_failing() {
        let a = MemoryAccount::default();
        a.set_limit(Some(1000));
        assert_eq!(a.verdict(1001), Verdict::Refuse, "above the limit alone");
        assert_eq!(a.verdict(1000), Verdict::Allow);
        a.add(900);
        assert_eq!(a.verdict(100), Verdict::Allow);
        assert_eq!(
            a.verdict(200),
            Verdict::CollectFirst,
            "does not fit: collect"
        );
        assert_eq!(
            a.verdict(200),
            Verdict::CollectFirst,
            "asked again before the collection ran: still collect"
        );
        a.note_full_collection();
        assert_eq!(a.verdict(200), Verdict::Refuse, "collected, still no room");
        // The next request that does not fit collects first again.
        assert_eq!(a.verdict(200), Verdict::CollectFirst);
        a.sub(500); // the collection freed garbage: 400 in use
        a.note_full_collection();
        assert_eq!(a.verdict(200), Verdict::Allow, "room after the collection");
        // A retried operation re-asks smaller amounts on its way to the one that waited.
        a.add(500); // 900 in use
        assert_eq!(a.verdict(300), Verdict::CollectFirst);
        a.sub(200); // 700
        a.note_full_collection();
        assert_eq!(a.verdict(50), Verdict::Allow, "on the way: allowed");
        a.add(50);
        assert_eq!(
            a.verdict(300),
            Verdict::Refuse,
            "the retried request itself: collected, still no room"
        );
        // A safe point over the limit (charged without asking) collects, then fails.
        a.add(1000);
        assert!(a.over_limit());
        assert_eq!(a.verdict(0), Verdict::CollectFirst);
        a.note_full_collection();
        assert_eq!(a.verdict(0), Verdict::Refuse);
    }
}
