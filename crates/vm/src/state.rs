//! The arena root (`State`) and the `Context` handle passed to everything that runs inside
//! `Lua::enter`.
//!
//! Invariant: everything the VM owns is reachable from `State` (globals, registry, the
//! string metatable, the main thread, the object-id counter), so a walk from the root sees
//! the whole VM (snapshots) and nothing observable lives outside it.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use crate::handle::HandleRegistry;
use crate::host::Host;
use crate::journal::Journal;
use crate::memory::MemoryAccount;
use crate::sequence::SequenceRegistry;

use gc_arena::lock::Lock;
use gc_arena::{Collect, DynamicRootSet, Gc, Mutation};

use crate::string::{Interner, LuaString, MAX_INTERNED_LEN};
use crate::table::Table;
use crate::thread::Thread;
use crate::value::Value;

/// Makes `MetaEvent`, `ARITH_EVENTS` and `META_NAMES` from the operator list of the
/// compiler (`lunette_compiler::with_arith_ops`): the operator events stand between `__eq`
/// and `__lt`, as in PUC's `TMS`.
macro_rules! meta_events {
    ($($op:ident $event:literal $symbol:literal,)*) => {
        /// Metamethod events. The discriminant is the bit used in the metatable absence
        /// cache.
        #[derive(Debug, Copy, Clone, PartialEq, Eq)]
        pub enum MetaEvent {
            /// `__index`.
            Index = 0,
            /// `__newindex`.
            NewIndex,
            /// `__gc`.
            Gc,
            /// `__mode`.
            Mode,
            /// `__len`.
            Len,
            /// `__eq`.
            Eq,
            $(#[doc = concat!("`", $event, "`.")] $op,)*
            /// `__lt`.
            Lt,
            /// `__le`.
            Le,
            /// `__concat`.
            Concat,
            /// `__call`.
            Call,
            /// `__close`.
            Close,
            /// `__tostring`.
            ToString,
            /// `__name`.
            Name,
            /// `__metatable`.
            Metatable,
            /// `__pairs`.
            Pairs,
        }

        /// The event of each arithmetic operator, in `ArithOp` order.
        const ARITH_EVENTS: [MetaEvent; lunette_compiler::ArithOp::ALL.len()] =
            [$(MetaEvent::$op),*];

        /// The metatable key of each event, in `MetaEvent` order.
        pub(crate) const META_NAMES: [&str; META_EVENT_COUNT] = [
            "__index",
            "__newindex",
            "__gc",
            "__mode",
            "__len",
            "__eq",
            $($event,)*
            "__lt",
            "__le",
            "__concat",
            "__call",
            "__close",
            "__tostring",
            "__name",
            "__metatable",
            "__pairs",
        ];
    };
}

lunette_compiler::with_arith_ops!(meta_events);

pub(crate) const META_EVENT_COUNT: usize = 29;

/// How many basic types have one metatable per type besides strings (see
/// `type_metatable_slot`).
pub(crate) const TYPE_METATABLES: usize = 5;

/// The per-type metatables of `State`.
pub(crate) type TypeMetatables<'gc> = [Option<Table<'gc>>; TYPE_METATABLES];

/// Index into `State::type_metatables` for `v`'s type: nil 0, boolean 1, number 2,
/// function (Lua or Rust) 3, thread 4; `None` for tables, userdata and strings.
pub(crate) fn type_metatable_slot(v: Value<'_>) -> Option<usize> {
    match v {
        Value::Nil => Some(0),
        Value::Boolean(_) => Some(1),
        Value::Integer(_) | Value::Float(_) => Some(2),
        Value::Function(_) | Value::Callback(_) => Some(3),
        Value::Thread(_) => Some(4),
        Value::Table(_) | Value::UserData(_) | Value::String(_) => None,
    }
}

impl MetaEvent {
    /// The metatable key of the event (`"__index"`, ...).
    pub fn name(self) -> &'static str {
        META_NAMES[self as usize]
    }

    /// The event of an arithmetic or bitwise operator (`__add` for `+`...).
    pub fn of_arith(op: lunette_compiler::ArithOp) -> MetaEvent {
        ARITH_EVENTS[op as usize]
    }

    /// The operator whose event this is, if it is an arithmetic or bitwise one.
    pub fn arith_op(self) -> Option<lunette_compiler::ArithOp> {
        lunette_compiler::ArithOp::ALL
            .into_iter()
            .find(|&op| Self::of_arith(op) == self)
    }
}

/// The bit that marks the ids of host objects: the main threads of executors and the closures
/// of chunks the host loads (`Lua::load`). Host machinery never takes an id from the script's
/// counter (`State::next_id`), so the ids scripts see do not depend on the host's calls. A
/// host id is never shown to a script: when a script observes a host object's identity
/// (`tostring`, `%p`), the object gets a script id then (`Context::script_id`).
pub const HOST_ID_BIT: u64 = 1 << 63;

/// Whether `id` is a host object's id (see [`HOST_ID_BIT`]).
#[inline]
pub fn is_host_id(id: u64) -> bool {
    id & HOST_ID_BIT != 0
}

#[derive(Collect)]
#[collect(no_drop)]
pub struct State<'gc> {
    pub(crate) globals: Table<'gc>,
    pub(crate) registry: Table<'gc>,
    pub(crate) main_thread: Thread<'gc>,
    pub(crate) string_metatable: Gc<'gc, Lock<Option<Table<'gc>>>>,
    /// The metatables shared by all values of the other basic types (`debug.setmetatable`),
    /// indexed by `type_metatable_slot`: nil, boolean, number, function, thread.
    pub(crate) type_metatables: Gc<'gc, Lock<TypeMetatables<'gc>>>,
    /// Interned metamethod names, indexed by `MetaEvent`.
    pub(crate) meta_names: Box<[LuaString<'gc>]>,
    /// Source of stable object ids (tables, functions, threads, userdata) of script objects.
    /// Lives in the root so it is part of every snapshot. Host objects take theirs from
    /// `HandleRegistry::next_host_id` (see [`HOST_ID_BIT`]).
    #[collect(require_static)]
    pub(crate) next_id: Cell<u64>,
    /// The host capabilities (output streams...). Not part of snapshots.
    #[collect(require_static)]
    pub(crate) host: Rc<dyn Host>,
    /// Interned short strings.
    pub(crate) strings: Gc<'gc, gc_arena::lock::RefLock<Interner<'gc>>>,
    /// Finalizer and weak-table registries (see `gc`).
    pub(crate) gc: crate::gc::GcStateRef<'gc>,
    /// Host handles (`Stashed*`) that keep values alive between `Lua::enter` calls.
    pub(crate) roots: DynamicRootSet<'gc>,
    /// The live host handles and the timeline history (outside snapshots, carried over
    /// restores; see `handle`).
    #[collect(require_static)]
    pub(crate) handles: Rc<RefCell<HandleRegistry>>,
    /// Factories of async callbacks by name (outside snapshots, carried over restores).
    #[collect(require_static)]
    pub(crate) sequences: Rc<SequenceRegistry>,
    /// Host functions by name and typed app data (outside snapshots, carried over restores;
    /// see `host_fn`).
    #[collect(require_static)]
    pub(crate) functions: Rc<crate::host_fn::HostFunctions>,
    /// The VM's memory counters and limit (outside snapshots, carried over restores).
    #[collect(require_static)]
    pub(crate) memory: Rc<MemoryAccount>,
    /// Compilations of big chunks started ahead on helper threads (outside snapshots,
    /// carried over restores; see `compile_ahead`).
    #[collect(require_static)]
    pub(crate) compile_jobs: Rc<crate::compile_ahead::CompileJobs>,
    /// The buffers of big strings being built in pieces (physical state, outside snapshots;
    /// see `big_string`).
    #[collect(require_static)]
    pub(crate) builds: crate::big_string::Builds,
    /// Chunks being instantiated in pieces by `load` (physical state, outside snapshots;
    /// see `instantiation`).
    pub(crate) instantiations: crate::instantiation::InstantiationsRef<'gc>,
    /// The snapshot ring (`Lua::snap` / `Lua::rollback`), kept as a journal of old states.
    pub(crate) journal: Journal<'gc>,
}

impl<'gc> State<'gc> {
    pub(crate) fn new(
        mc: &Mutation<'gc>,
        host: Rc<dyn Host>,
        memory: Rc<MemoryAccount>,
    ) -> State<'gc> {
        Self::new_shell(
            mc,
            host,
            Rc::new(RefCell::new(HandleRegistry::new())),
            Rc::default(),
            Rc::default(),
            memory,
        )
    }

    /// A fresh state with the given out-of-arena parts (a restore overwrites its objects).
    pub(crate) fn new_shell(
        mc: &Mutation<'gc>,
        host: Rc<dyn Host>,
        handles: Rc<RefCell<HandleRegistry>>,
        sequences: Rc<SequenceRegistry>,
        functions: Rc<crate::host_fn::HostFunctions>,
        memory: Rc<MemoryAccount>,
    ) -> State<'gc> {
        let next_id = Cell::new(1);
        let fresh = || {
            let id = next_id.get();
            next_id.set(id + 1);
            id
        };
        let journal = Journal::new(mc, crate::lua::DEFAULT_MAX_SNAPSHOTS);
        let globals = Table::with_id(mc, journal.epoch(), fresh(), 0, 64);
        let registry = Table::with_id(mc, journal.epoch(), fresh(), 0, 8);
        let main_thread = Thread::with_id(mc, journal.epoch(), fresh());
        let strings = Gc::new(mc, gc_arena::lock::RefLock::new(Interner::default()));
        let meta_names = META_NAMES
            .iter()
            .map(|n| strings.borrow_mut(mc).intern(mc, n.as_bytes()))
            .collect();
        State {
            globals,
            registry,
            main_thread,
            string_metatable: Gc::new(mc, Lock::new(None)),
            type_metatables: Gc::new(mc, Lock::new([None; TYPE_METATABLES])),
            meta_names,
            next_id,
            roots: DynamicRootSet::new(mc),
            strings,
            gc: Gc::new(
                mc,
                gc_arena::lock::RefLock::new(crate::gc::GcState::default()),
            ),
            host,
            handles,
            sequences,
            functions,
            memory,
            compile_jobs: Rc::default(),
            builds: Default::default(),
            instantiations: Gc::new(mc, gc_arena::lock::RefLock::new(Default::default())),
            journal,
        }
    }
}

/// The handle to the VM while inside `Lua::enter`: the mutation context plus the root.
#[derive(Copy, Clone)]
pub struct Context<'gc> {
    mc: &'gc Mutation<'gc>,
    state: &'gc State<'gc>,
}

impl<'gc> Context<'gc> {
    pub(crate) fn new(mc: &'gc Mutation<'gc>, state: &'gc State<'gc>) -> Self {
        Context { mc, state }
    }

    /// The arena's mutation handle, for creating objects and write barriers.
    #[inline]
    pub fn mutation(self) -> &'gc Mutation<'gc> {
        self.mc
    }

    pub(crate) fn state(self) -> &'gc State<'gc> {
        self.state
    }

    /// Asks whether `bytes` more may be allocated under the VM's memory limit, before building
    /// a large buffer (by capacity). If it does not fit, a full collection is requested for
    /// the next safe point and the allocation is allowed this once (so a VM can pass its limit
    /// by what one builtin call allocates); `Err(Error::NotEnoughMemory)` if it does not fit
    /// and a collection already ran since the VM was first found short (see `memory`).
    /// Callers that can run again from scratch use
    /// [`reserve_memory_or_retry`](Self::reserve_memory_or_retry) instead, which never lets
    /// the VM pass its limit.
    pub fn reserve_memory(self, bytes: usize) -> Result<(), crate::error::Error<'gc>> {
        match self.state.memory.verdict_allow_once(bytes) {
            crate::memory::Verdict::Allow => Ok(()),
            crate::memory::Verdict::CollectFirst => {
                self.request_memory_collection();
                Ok(())
            }
            crate::memory::Verdict::Refuse => Err(crate::error::Error::NotEnoughMemory),
        }
    }

    /// Like [`reserve_memory`](Self::reserve_memory), but nothing is allocated past the
    /// limit: if `bytes` do not fit until a full collection runs,
    /// `Err(Error::CollectThenRetry)` — return it unchanged; the executor runs the same
    /// callback or continuation again, with the same stack, after the host's collection.
    /// Only for code that has changed nothing yet (not the stack, not any Lua object or
    /// table, not even created a string or table: ids and `collectgarbage("count")` would
    /// drift with the collector's timing).
    pub fn reserve_memory_or_retry(self, bytes: usize) -> Result<(), crate::error::Error<'gc>> {
        match self.state.memory.verdict(bytes) {
            crate::memory::Verdict::Allow => Ok(()),
            crate::memory::Verdict::CollectFirst => {
                self.request_memory_collection();
                Err(crate::error::Error::CollectThenRetry)
            }
            crate::memory::Verdict::Refuse => Err(crate::error::Error::NotEnoughMemory),
        }
    }

    /// The VM's memory counters (bytes in use, peak, limit).
    pub fn memory(self) -> &'gc MemoryAccount {
        &self.state.memory
    }

    /// The type name the VM's messages use for `v` (PUC's `luaT_objtypename`): a table's or
    /// userdata's metatable `__name` if it is a string (up to its first zero byte, as PUC's
    /// messages quote it; bytes that are not UTF-8 replaced), else the type.
    pub fn object_type_name(self, v: Value<'gc>) -> String {
        String::from_utf8_lossy(self.object_type_name_part(v).bytes()).into_owned()
    }

    /// [`object_type_name`](Self::object_type_name) as a message part: the `__name` string
    /// itself (a message quoting a `__name` of megabytes does not copy it before it is
    /// joined, see [`Error::Message`](crate::Error::Message)).
    pub(crate) fn object_type_name_part(self, v: Value<'gc>) -> crate::error::Part<'gc> {
        if matches!(v, Value::Table(_) | Value::UserData(_)) {
            return self.type_name_by_metatable_part(v);
        }
        crate::error::Part::fixed(v.type_name())
    }

    /// The type name argument errors use for `v` (PUC's `luaL_typeerror`): the `__name` of
    /// its metatable, whatever its type (numbers can have one through
    /// `debug.setmetatable`), if it is a string (as for
    /// [`object_type_name`](Self::object_type_name)), else the type.
    pub fn type_name_by_metatable(self, v: Value<'gc>) -> String {
        String::from_utf8_lossy(self.type_name_by_metatable_part(v).bytes()).into_owned()
    }

    /// [`type_name_by_metatable`](Self::type_name_by_metatable) as a message part (see
    /// [`object_type_name_part`](Self::object_type_name_part)).
    pub(crate) fn type_name_by_metatable_part(self, v: Value<'gc>) -> crate::error::Part<'gc> {
        if let Some(mt) = self.metatable_of(v) {
            if let Value::String(name) = mt.get(Value::String(self.meta_name(MetaEvent::Name))) {
                return crate::error::Part::c_string(name);
            }
        }
        crate::error::Part::fixed(v.type_name())
    }

    /// The host capability interface.
    /// The VM's host (output, clocks, grants).
    pub fn host(self) -> &'gc dyn Host {
        &*self.state.host
    }

    /// The root global table (`_G` of chunks loaded without an environment).
    pub fn globals(self) -> Table<'gc> {
        self.state.globals
    }

    /// The registry (`debug.getregistry`): library state under `lunette.*` keys.
    pub fn registry(self) -> Table<'gc> {
        self.state.registry
    }

    /// The VM's main thread (what `coroutine.running` reports outside coroutines).
    pub fn main_thread(self) -> Thread<'gc> {
        self.state.main_thread
    }

    /// A fresh stable object id (deterministic: a counter inside the VM). For objects a
    /// script asks for; host machinery takes [`Context::next_host_object_id`].
    pub fn next_object_id(self) -> u64 {
        let id = self.state.next_id.get();
        self.state.next_id.set(id + 1);
        id
    }

    /// A fresh host object id (top bit set: `HOST_ID_BIT`): for objects of host machinery, so that
    /// the host's calls do not shift the ids scripts see.
    pub fn next_host_object_id(self) -> u64 {
        self.state.handles.borrow_mut().host_id()
    }

    /// The identity a script sees of `v` (`tostring`, `%p`); `None` for non-objects. A host
    /// object (top bit set: `HOST_ID_BIT`) gets a script id the first time a script observes it,
    /// from the script's counter (so at a point that depends only on what the script did);
    /// the assignment is journaled, so a rollback takes it back with the counter. A long
    /// string gets one the same way (`%p`); a short string has none (it is its content).
    pub fn script_id(self, v: Value<'gc>) -> Option<u64> {
        if let Value::String(s) = v {
            if s.len() <= MAX_INTERNED_LEN {
                return None;
            }
            let cell = &gc_arena::Gc::as_ref(s.0).script_id;
            if cell.get() == 0 {
                self.state.journal.backup_script_id(self.mc, v);
                cell.set(self.next_object_id());
            }
            return Some(cell.get());
        }
        let id = v.object_id()?;
        if !is_host_id(id) {
            return Some(id);
        }
        let cell = match v {
            Value::Thread(t) => &gc_arena::Gc::as_ref(t.0).script_id,
            Value::Function(f) => &gc_arena::Gc::as_ref(f.0).script_id,
            _ => return Some(id),
        };
        if cell.get() == 0 {
            self.state.journal.backup_script_id(self.mc, v);
            cell.set(self.next_object_id());
        }
        Some(cell.get())
    }

    /// A string with these bytes (short ones interned: equal short strings are one object),
    /// counted as a string the script made.
    pub fn new_string(self, bytes: &[u8]) -> LuaString<'gc> {
        crate::memory::note_string(&self.state.memory, crate::string::string_cost(bytes.len()));
        self.string_uncounted(bytes)
    }

    /// A string with these bytes (short ones interned), not counted as one the script made.
    #[inline(always)]
    fn string_uncounted(self, bytes: &[u8]) -> LuaString<'gc> {
        if bytes.len() <= MAX_INTERNED_LEN {
            self.state
                .strings
                .borrow_mut(self.mc)
                .intern(self.mc, bytes)
        } else {
            LuaString::new_long(self.mc, bytes)
        }
    }

    /// A new string of `len` bytes written in place by `fill`: a long string's bytes are
    /// allocated once, with no intermediate buffer (so building a big result needs its own
    /// size in memory, not twice that). Callers reserve and charge `len` first.
    pub fn new_string_with(self, len: usize, fill: impl FnOnce(&mut [u8])) -> LuaString<'gc> {
        if len <= MAX_INTERNED_LEN {
            let mut buf = [0u8; MAX_INTERNED_LEN];
            fill(&mut buf[..len]);
            return self.new_string(&buf[..len]);
        }
        crate::memory::note_string(&self.state.memory, crate::string::string_cost(len));
        LuaString::new_long_with(self.mc, len, fill)
    }

    /// [`new_string_from_buffer`](Self::new_string_from_buffer) of bytes whose content hash
    /// (`string::hash_bytes`) is `hash`, computed as they were written (the string
    /// builder's): a long string does not hash itself again at its first use as a key.
    pub(crate) fn new_string_from_hashed_buffer(
        self,
        bytes: std::sync::Arc<[u8]>,
        hash: u64,
    ) -> LuaString<'gc> {
        self.string_around(bytes, Some(hash))
    }

    /// A string around `bytes` without a copy when long (a buffer written by the string
    /// builder, a prototype's constant), hashed at its first use as a key; a short one is
    /// interned.
    pub(crate) fn new_string_from_buffer(self, bytes: std::sync::Arc<[u8]>) -> LuaString<'gc> {
        self.string_around(bytes, None)
    }

    /// The string of `bytes`: interned when short, else around the buffer, its content hash
    /// `hash` when known.
    fn string_around(self, bytes: std::sync::Arc<[u8]>, hash: Option<u64>) -> LuaString<'gc> {
        if bytes.len() <= MAX_INTERNED_LEN {
            return self.new_string(&bytes);
        }
        crate::memory::note_string(&self.state.memory, crate::string::string_cost(bytes.len()));
        match hash {
            Some(hash) => LuaString::from_shared(self.mc, hash, bytes),
            None => LuaString::from_buffer(self.mc, bytes),
        }
    }

    /// [`Context::new_string`] as a [`Value`].
    pub fn str(self, s: &str) -> Value<'gc> {
        Value::String(self.new_string(s.as_bytes()))
    }

    /// A string to look a key up with (`t.get(ctx.key("name"))`), which the caller does not
    /// keep: unlike [`Context::str`] it is not counted as a string the script asked for, so a
    /// builtin's internal lookups do not change `collectgarbage("count")` (a read-only call
    /// stays read-only). Its bytes are in use like any string's while it exists.
    pub fn key(self, s: &str) -> Value<'gc> {
        Value::String(self.string_uncounted(s.as_bytes()))
    }

    /// An empty table with a fresh object id.
    pub fn new_table(self) -> Table<'gc> {
        self.new_table_with_capacity(0, 0)
    }

    /// An empty table with room for `array` sequence slots and `hash` other entries
    /// (`table.create`-like pre-sizing; the capacity is charged to the memory account).
    pub fn new_table_with_capacity(self, array: usize, hash: usize) -> Table<'gc> {
        let journal = self.state.journal;
        let t = Table::with_id(self.mc, journal.epoch(), self.next_object_id(), array, hash);
        journal.made(self.mc, crate::snapshot::Member::Table(t), true);
        t
    }

    /// A table for a builtin's own state, made when (and because) it pauses at a step
    /// boundary: a host id, host charges, and not a checksum member. Where a builtin pauses
    /// depends on the host's step sizes, so its pause state must change no id, no
    /// `collectgarbage("count")` and no checksum a script could see. Never hand one to a
    /// script.
    pub fn new_pause_table(self, array: usize) -> Table<'gc> {
        let journal = self.state.journal;
        let id = self.next_host_object_id();
        let t = Table::with_id(self.mc, journal.epoch(), id, array, 0);
        journal.made(self.mc, crate::snapshot::Member::Table(t), false);
        t
    }

    /// A string for a paused builtin's state (see [`Context::new_pause_table`]): not counted
    /// as one the script made.
    pub fn new_pause_string(self, bytes: &[u8]) -> LuaString<'gc> {
        self.string_uncounted(bytes)
    }

    /// The interned key string of `event` (made once per VM).
    pub fn meta_name(self, event: MetaEvent) -> LuaString<'gc> {
        self.state.meta_names[event as usize]
    }

    /// The metatable shared by all strings (set by the string library).
    pub fn string_metatable(self) -> Option<Table<'gc>> {
        self.state.string_metatable.get()
    }

    /// Sets the metatable shared by all strings.
    pub fn set_string_metatable(self, mt: Option<Table<'gc>>) {
        self.state.string_metatable.unlock(self.mc).set(mt);
    }

    /// The metatable shared by every value of `v`'s type, for the types that have one per
    /// type rather than per value: nil, booleans, numbers, functions, threads (strings have
    /// theirs in `string_metatable`). `None` for tables, userdata and strings.
    pub fn type_metatable(self, v: Value<'gc>) -> Option<Table<'gc>> {
        type_metatable_slot(v).and_then(|i| self.state.type_metatables.get()[i])
    }

    /// Sets the metatable shared by every value of `v`'s type (see `type_metatable`);
    /// returns false (and changes nothing) for tables, userdata and strings.
    pub fn set_type_metatable(self, v: Value<'gc>, mt: Option<Table<'gc>>) -> bool {
        let Some(i) = type_metatable_slot(v) else {
            return false;
        };
        let mut all = self.state.type_metatables.get();
        all[i] = mt;
        self.state.type_metatables.unlock(self.mc).set(all);
        true
    }

    /// The metatable of any value (tables and userdata have their own; the other types
    /// share one per type).
    pub fn metatable_of(self, v: Value<'gc>) -> Option<Table<'gc>> {
        match v {
            Value::Table(t) => t.metatable(),
            Value::UserData(u) => u.metatable(),
            Value::String(_) => self.string_metatable(),
            _ => self.type_metatable(v),
        }
    }

    /// Looks up metamethod `event` of `v` (raw access to its metatable), using the
    /// metatable's absence cache. Returns `None` when absent or nil.
    #[inline]
    pub fn metamethod(self, v: Value<'gc>, event: MetaEvent) -> Option<Value<'gc>> {
        let mt = self.metatable_of(v)?;
        self.metatable_field(mt, event)
    }

    /// Field `event` of metatable `mt`, through its absence cache (a miss is remembered
    /// until the metatable changes). `None` when absent or nil.
    #[inline]
    pub fn metatable_field(self, mt: Table<'gc>, event: MetaEvent) -> Option<Value<'gc>> {
        let v = self.meta_handler(mt, event);
        if v.is_nil() {
            None
        } else {
            Some(v)
        }
    }

    /// [`metatable_field`](Self::metatable_field) as a plain value, nil when absent: the
    /// interpreter's form (an `Option<Value>` copy stalled on reloading the value's bytes).
    #[inline]
    pub(crate) fn meta_handler(self, mt: Table<'gc>, event: MetaEvent) -> Value<'gc> {
        let bit = 1u32 << (event as u32);
        let cache = mt.absent_events();
        if cache.get() & bit != 0 {
            return Value::Nil;
        }
        // (Event names are short strings: interned, found by pointer.)
        let v = mt.get_short_str(self.meta_name(event));
        if v.is_nil() {
            cache.set(cache.get() | bit);
        }
        v
    }
}
