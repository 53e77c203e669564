//! Snapshots of the whole VM: `capture` walks the object graph from the root (and the host's
//! live handles) into an owned, `Send` image; `restore` builds a fresh arena from an image.
//!
//! The image is a list of objects in breadth-first discovery order (`gc_snapshot::Numbering`,
//! no recursion), with every pointer replaced by the index of its target. Immutable data is
//! shared, not copied: string bytes (`Arc<[u8]>`) and compiled prototypes (`Arc<Prototype>`).
//! Everything else a script can observe is copied: tables with their exact layout (array
//! part, entries in insertion order with tombstones, capacity), closures and their upvalues
//! (open ones still point into their thread's stack), threads with their frames and pending
//! continuations (plain `fn` + `Value` state), callbacks (`fn` + upvalue), userdata that
//! opted in (`UserData::new_snapshotable`, or a `UserDataType` that is `Rewindable`: its
//! payload is cloned, and its `Rewindable::checksum` is part of the checksum), executors
//! paused mid-step, the finalizer lists,
//! the string metatable and the object-id counter. Weak references are copied as strong ones:
//! between full collections they *are* strong (see `gc`).
//!
//! What cannot be captured makes `capture` fail with a message naming it: opaque userdata
//! (`UserData::new`, a `UserDataType` that is not `Rewindable`) and async sequences in
//! flight. The same rule holds for `checksum` (computed from a capture) and for the ring's
//! `snap` (which runs the same walk while opaque userdata may be alive, see `journal`), so
//! the three accept and refuse the same states. `rebuild` fails, naming the type, when the
//! image holds a typed userdata whose type the VM has not registered
//! (`Lua::register_userdata_type`) or registered under that name for another Rust type.
//! Untyped snapshotable payloads enter the checksum by type name and id only.
//!
//! Rust functions made from closures (`host_fn`) are captured by their registered name and
//! found again by that name in the VM restored into; the per-type metatables, the random
//! generator's state (a registry table) and host ids are VM data like the rest.
//!
//! Cost: an owned snapshot copies the whole reachable graph (per object, one hash lookup per
//! reference and a copy of its slots; measured by `crates/bench`, `entities` workload). The
//! ring of `Lua::snap`/`rollback` does not use this module's capture: it is a journal of the
//! objects changed since each snap (`journal`). `checksum` hashes the captured image.

use std::any::Any;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use gc_arena::lock::Lock;
use gc_arena::{Gc, Mutation};
use lunette_compiler::Prototype;
use lunette_gc_snapshot::{Numbering, StableHasher};

use crate::executor::Executor;
use crate::function::{
    Callback, CallbackFn, CallbackInner, ClosureInner, ContinuationFn, FunctionProto, LuaClosure,
    Outcome, Then, UpValue, UpValueState,
};
use crate::handle::{HandleRegistry, HandleTarget, PlainValue};
use crate::memory::Charge;
use crate::state::State;
use crate::string::{LuaString, MAX_INTERNED_LEN};
use crate::table::{Table, GC_FLAG_WEAK};
use crate::thread::{Frame, LuaFrame, Returns, Thread, ThreadState, ThreadStatus};
use crate::userdata::{CaptureFn, PayloadOps, Revive, UserData, UserDataSnap};
use crate::value::Value;

/// Why a snapshot could not be taken or restored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// The VM holds state that cannot be copied (named in the message).
    #[error("cannot snapshot: {0}")]
    Unsupported(String),
    /// `rollback(n)` with no n-th snapshot in the ring.
    #[error("no snapshot {requested} to roll back to ({available} held)")]
    OutOfRange {
        /// The `n` asked for.
        requested: usize,
        /// How many snapshots the ring holds.
        available: usize,
    },
    /// The image is inconsistent (a reference to a missing object or one of the wrong kind).
    /// Images made by `capture` never are: `restore` checks instead of trusting indexes, so a
    /// bug in capture is an error, not a panic.
    #[error("corrupt snapshot image: {0}")]
    Corrupt(&'static str),
}

/// An owned copy of a whole VM's state. Cheap to clone and to hold (`Arc`), `Send + Sync`,
/// restorable any number of times, into the VM it came from or into another one.
#[derive(Clone)]
pub struct Snapshot(pub(crate) Arc<Image>);

impl Snapshot {
    /// A deterministic hash of the VM state this snapshot holds: equal for equal states, in
    /// any process on any machine (for desync detection). Host handles are not part of it.
    pub fn checksum(&self) -> u64 {
        self.0.checksum()
    }

    /// Bytes held by this snapshot's own buffers (objects and their slots), not counting the
    /// string bytes and prototypes it shares with the live VM.
    pub fn size_bytes(&self) -> usize {
        self.0.size_bytes()
    }

    /// Bytes of string data this snapshot refers to (shared with the VM, not copied).
    pub fn shared_string_bytes(&self) -> usize {
        self.0.strings.iter().map(|(_, b)| b.len()).sum()
    }

    /// Number of objects (tables, closures, upvalues, threads...) in the image.
    pub fn object_count(&self) -> usize {
        self.0.objects.len()
    }
}

/// A value in an image: plain data, or the index of a string or object.
#[derive(Clone, Copy, PartialEq, Debug)]
pub(crate) enum Val {
    Nil,
    Boolean(bool),
    Integer(i64),
    Float(f64),
    Str(u32),
    Obj(u32),
}

/// The payload of a `UserData::new_snapshotable` userdata: cloned in, cloned back out.
pub(crate) struct Cloned<T>(pub(crate) T);

impl<T: Clone + Send + Sync + 'static> Revive for Cloned<T> {
    fn revive(&self) -> Box<dyn Any> {
        Box::new(self.0.clone())
    }
}

#[derive(Clone, Copy)]
pub(crate) struct ThenImg {
    name: &'static str,
    func: ContinuationFn,
    state: Val,
    catch_errors: bool,
    handler: Val,
}

#[derive(Clone, Copy)]
enum OutcomeImg {
    Returned,
    Errored(Val),
}

enum FrameImg {
    Lua {
        closure: u32,
        frame: LuaFrameFields,
    },
    Continuation {
        then: ThenImg,
        base: usize,
        returns: Returns,
        ready: Option<OutcomeImg>,
        callee_name: &'static str,
    },
}

/// The plain fields of a Lua frame (everything but the closure).
#[derive(Clone, Copy)]
struct LuaFrameFields {
    func: usize,
    base: usize,
    stack_end: usize,
    pc: usize,
    num_varargs: usize,
    returns: Returns,
    top: usize,
    is_tail: bool,
    concat_resume: bool,
}

struct ThreadImg {
    id: u64,
    /// `ThreadInner::script_id` (host threads).
    script_id: u64,
    /// The bytes charged for the thread (restored exactly, not recomputed from the capacities:
    /// a charge may lag its buffers until the next resync, and must lag the same way).
    charged: usize,
    stack: Box<[Val]>,
    frames: Box<[FrameImg]>,
    open_upvalues: Box<[u32]>,
    tbc_slots: Box<[usize]>,
    status: ThreadStatus,
    body: Option<Val>,
    started: bool,
    death_error: Option<Val>,
    resume_then: Option<ThenImg>,
    resume_slot: usize,
    resume_returns: Returns,
    /// Capacities of stack, frames, open upvalues, to-be-closed slots (restored exactly).
    capacities: [usize; 4],
}

enum Obj {
    Table {
        id: u64,
        gc_flags: u8,
        /// The array part: `len` values at `start` of `Image::slots`.
        array: SlotRange,
        /// The hash part: `len` key/value pairs (2 × `len` values) at `start` of
        /// `Image::slots`.
        entries: SlotRange,
        /// Buffer capacities are restored exactly: memory charges (and so what
        /// `collectgarbage("count")` reports) must not change across a restore.
        array_capacity: usize,
        entries_capacity: usize,
        tombstones: usize,
        metatable: Option<u32>,
    },
    Proto {
        proto: Arc<Prototype>,
        constants: Box<[Val]>,
        children: Box<[u32]>,
    },
    Closure {
        id: u64,
        /// `ClosureInner::script_id` (host closures).
        script_id: u64,
        proto: u32,
        upvalues: Box<[u32]>,
    },
    UpValueOpen {
        thread: u32,
        slot: usize,
    },
    UpValueClosed(Val),
    Callback {
        id: u64,
        name: &'static str,
        func: CallbackFn,
        upvalue: Val,
    },
    Thread(Box<ThreadImg>),
    UserData {
        id: u64,
        gc_flags: u8,
        metatable: Option<u32>,
        type_name: &'static str,
        payload: Box<dyn Revive>,
        capture: CaptureFn,
        /// A typed `Rewindable` payload's functions (`None`: an untyped snapshotable one).
        typed: Option<PayloadOps>,
        /// The payload's `Rewindable::checksum` (0 for untyped payloads: their type name
        /// and id stand for them).
        payload_hash: u64,
    },
    Executor {
        threads: Box<[u32]>,
        result: Option<Result<(), Val>>,
        traceback: String,
    },
}

pub(crate) struct Image {
    /// The VM the image was taken from (`HandleRegistry::instance`), its timeline and its
    /// object-id counter (= the point in history, for handles).
    pub(crate) instance: u64,
    pub(crate) timeline: u64,
    pub(crate) next_id: u64,
    /// `HandleRegistry::next_host_id` at capture (a restore raises the VM's past it, so host
    /// ids stay unique; not part of the checksum).
    pub(crate) next_host_id: u64,
    /// How many of `objects`, `strings` and `slots` are reachable from the VM's root (they
    /// come first); the rest only host handles reach. The checksum covers the first part.
    root_counts: (usize, usize, usize),
    /// `MemoryAccount::script_bytes` at capture (what `collectgarbage("count")` reports).
    pub(crate) script_bytes: usize,
    /// `MemoryAccount::pacing` at capture (when the next automatic collection is due).
    pub(crate) pacing: crate::memory::CollectorPacing,
    strings: Vec<(u64, Arc<[u8]>)>,
    objects: Vec<Obj>,
    /// The array and hash-part slots of every table (see `SlotRange`).
    slots: Vec<Val>,
    globals: u32,
    registry: u32,
    main_thread: u32,
    string_metatable: Option<u32>,
    /// `State::type_metatables`.
    type_metatables: [Option<u32>; crate::state::TYPE_METATABLES],
    finalizable: Box<[Val]>,
    pending_finalizers: Box<[Val]>,
    /// `GcState::finalizing`.
    finalizing: Val,
    full_collection_requested: bool,
    /// `(serial, value)` of the value handles live at capture, by serial.
    value_handles: Vec<(u64, Val)>,
    /// `(serial, executor object)` of the executor handles live at capture, by serial.
    executor_handles: Vec<(u64, u32)>,
}

/// A run of values in `Image::slots` (tables keep their slots there: one buffer for the whole
/// image instead of two allocations per table).
#[derive(Clone, Copy)]
struct SlotRange {
    start: u32,
    len: u32,
}

/// A reference to an arena object during capture.
#[derive(Clone, Copy)]
enum ObjRef<'gc> {
    Table(Table<'gc>),
    Proto(Gc<'gc, FunctionProto<'gc>>),
    Closure(LuaClosure<'gc>),
    UpValue(UpValue<'gc>),
    Callback(Callback<'gc>),
    Thread(Thread<'gc>),
    UserData(UserData<'gc>),
    Executor(Executor<'gc>),
}

#[inline]
fn addr<T>(gc: Gc<'_, T>) -> usize {
    Gc::as_ptr(gc) as *const () as usize
}

struct Capture<'gc> {
    objects: Numbering<usize, ObjRef<'gc>>,
    strings: Numbering<usize, LuaString<'gc>>,
    slots: Vec<Val>,
}

impl<'gc> Capture<'gc> {
    #[inline]
    fn obj(&mut self, r: ObjRef<'gc>) -> u32 {
        let key = match r {
            ObjRef::Table(t) => addr(t.0),
            ObjRef::Proto(p) => addr(p),
            ObjRef::Closure(c) => addr(c.0),
            ObjRef::UpValue(u) => addr(u),
            ObjRef::Callback(c) => addr(c.0),
            ObjRef::Thread(t) => addr(t.0),
            ObjRef::UserData(u) => addr(u.0),
            ObjRef::Executor(e) => addr(e.0),
        };
        self.objects.number(key, r)
    }

    #[inline]
    fn val(&mut self, v: Value<'gc>) -> Val {
        match v {
            Value::Nil => Val::Nil,
            Value::Boolean(b) => Val::Boolean(b),
            Value::Integer(i) => Val::Integer(i),
            Value::Float(f) => Val::Float(f),
            Value::String(s) => Val::Str(self.strings.number(addr(s.0), s)),
            Value::Table(t) => Val::Obj(self.obj(ObjRef::Table(t))),
            Value::Function(f) => Val::Obj(self.obj(ObjRef::Closure(f))),
            Value::Callback(c) => Val::Obj(self.obj(ObjRef::Callback(c))),
            Value::Thread(t) => Val::Obj(self.obj(ObjRef::Thread(t))),
            Value::UserData(u) => Val::Obj(self.obj(ObjRef::UserData(u))),
        }
    }

    fn vals(&mut self, vs: &[Value<'gc>]) -> Box<[Val]> {
        vs.iter().map(|v| self.val(*v)).collect()
    }

    fn then(&mut self, t: &Then<'gc>) -> ThenImg {
        ThenImg {
            name: t.name,
            func: t.func,
            state: self.val(t.state),
            catch_errors: t.catch_errors,
            handler: self.val(t.handler),
        }
    }

    fn encode(&mut self, r: ObjRef<'gc>) -> Result<Obj, SnapshotError> {
        Ok(match r {
            ObjRef::Table(t) => {
                let st = t.0.state.borrow();
                let start = self.slots.len();
                self.slots.reserve(st.array.len() + 2 * st.entries.len());
                for v in &st.array {
                    let v = self.val(*v);
                    self.slots.push(v);
                }
                let array = SlotRange {
                    start: start as u32,
                    len: st.array.len() as u32,
                };
                let start = self.slots.len();
                for (k, v) in &st.entries {
                    let k = self.val(*k);
                    let v = self.val(*v);
                    self.slots.push(k);
                    self.slots.push(v);
                }
                let entries = SlotRange {
                    start: start as u32,
                    len: st.entries.len() as u32,
                };
                let metatable = st.metatable.map(|m| self.obj(ObjRef::Table(m)));
                Obj::Table {
                    id: t.id(),
                    gc_flags: t.0.gc_flags.get(),
                    array,
                    entries,
                    array_capacity: st.array.capacity(),
                    entries_capacity: st.entries.capacity(),
                    tombstones: st.tombstones,
                    metatable,
                }
            }
            ObjRef::Proto(p) => Obj::Proto {
                proto: p.proto.clone(),
                constants: self.vals(&p.constants),
                children: p
                    .children
                    .iter()
                    .map(|c| self.obj(ObjRef::Proto(*c)))
                    .collect(),
            },
            ObjRef::Closure(c) => Obj::Closure {
                id: c.id(),
                script_id: c.0.script_id.get(),
                proto: self.obj(ObjRef::Proto(c.0.proto)),
                upvalues: c
                    .0
                    .upvalues
                    .iter()
                    .map(|u| self.obj(ObjRef::UpValue(u.get())))
                    .collect(),
            },
            ObjRef::UpValue(u) => match u.get() {
                UpValueState::Open { thread, slot } => Obj::UpValueOpen {
                    thread: self.obj(ObjRef::Thread(thread)),
                    slot,
                },
                UpValueState::Closed(v) => Obj::UpValueClosed(self.val(v)),
            },
            ObjRef::Callback(c) => Obj::Callback {
                id: c.id(),
                name: c.0.name,
                func: c.0.func,
                upvalue: self.val(c.0.upvalue),
            },
            ObjRef::Thread(t) => {
                let ts = t.borrow();
                let mut img = self.thread(t.id(), &ts);
                img.script_id = t.0.script_id.get();
                Obj::Thread(Box::new(img))
            }
            ObjRef::UserData(u) => {
                let inner = Gc::as_ref(u.0);
                let (type_name, capture, typed) = match &inner.snap {
                    UserDataSnap::Refuse(why) => {
                        return Err(SnapshotError::Unsupported(why.to_string()))
                    }
                    UserDataSnap::Capture { type_name, capture } => (*type_name, *capture, None),
                    UserDataSnap::Typed(ops) => (ops.name, ops.capture, Some(*ops)),
                };
                let payload = capture(&*inner.data).map_err(|why| {
                    SnapshotError::Unsupported(format!("userdata of type `{type_name}`: {why}"))
                })?;
                Obj::UserData {
                    id: u.id(),
                    gc_flags: inner.gc_flags.get(),
                    metatable: inner.metatable.get().map(|m| self.obj(ObjRef::Table(m))),
                    type_name,
                    payload,
                    capture,
                    typed,
                    payload_hash: typed.map_or(0, |ops| (ops.checksum)(&*inner.data)),
                }
            }
            ObjRef::Executor(e) => {
                let st = e.0.borrow();
                Obj::Executor {
                    threads: st
                        .threads
                        .iter()
                        .map(|t| self.obj(ObjRef::Thread(*t)))
                        .collect(),
                    result: st.result.map(|r| r.map_err(|v| self.val(v))),
                    traceback: st.traceback.clone(),
                }
            }
        })
    }

    fn thread(&mut self, id: u64, ts: &ThreadState<'gc>) -> ThreadImg {
        let frames = ts
            .frames
            .iter()
            .map(|f| match f {
                Frame::Lua(lf) => FrameImg::Lua {
                    closure: self.obj(ObjRef::Closure(lf.closure)),
                    frame: LuaFrameFields {
                        func: lf.func,
                        base: lf.base,
                        stack_end: lf.stack_end,
                        pc: lf.pc,
                        num_varargs: lf.num_varargs,
                        returns: lf.returns,
                        top: lf.top,
                        is_tail: lf.is_tail,
                        concat_resume: lf.concat_resume,
                    },
                },
                Frame::Continuation {
                    then,
                    base,
                    returns,
                    ready,
                    callee_name,
                } => FrameImg::Continuation {
                    then: self.then(then),
                    base: *base,
                    returns: *returns,
                    ready: ready.map(|o| match o {
                        Outcome::Returned => OutcomeImg::Returned,
                        Outcome::Errored(v) => OutcomeImg::Errored(self.val(v)),
                    }),
                    callee_name,
                },
            })
            .collect();
        ThreadImg {
            id,
            script_id: 0,
            charged: ts.charge.get(),
            stack: self.vals(&ts.stack),
            frames,
            open_upvalues: ts
                .open_upvalues
                .iter()
                .map(|u| self.obj(ObjRef::UpValue(*u)))
                .collect(),
            tbc_slots: ts.tbc_slots.clone().into_boxed_slice(),
            status: ts.status,
            body: ts.body.map(|v| self.val(v)),
            started: ts.started,
            death_error: ts.death_error.map(|v| self.val(v)),
            resume_then: ts.resume_then.as_ref().map(|t| self.then(t)),
            resume_slot: ts.resume_slot,
            resume_returns: ts.resume_returns,
            capacities: [
                ts.stack.capacity(),
                ts.frames.capacity(),
                ts.open_upvalues.capacity(),
                ts.tbc_slots.capacity(),
            ],
        }
    }
}

/// Walks the VM from its root and the host's live handles into an image. `hint` is the size
/// of a previous image of this VM (to allocate once).
pub(crate) fn capture<'gc>(
    state: &State<'gc>,
    hint: (usize, usize, usize),
) -> Result<Image, SnapshotError> {
    let (objects_hint, strings_hint, slots_hint) = hint;
    let mut c = Capture {
        objects: Numbering::with_capacity(objects_hint.max(1024) + objects_hint / 8),
        strings: Numbering::with_capacity(strings_hint.max(1024) + strings_hint / 8),
        slots: Vec::with_capacity(slots_hint + slots_hint / 8),
    };
    let globals = c.obj(ObjRef::Table(state.globals));
    let registry = c.obj(ObjRef::Table(state.registry));
    let main_thread = c.obj(ObjRef::Thread(state.main_thread));
    let string_metatable = state
        .string_metatable
        .get()
        .map(|t| c.obj(ObjRef::Table(t)));
    let type_metatables = state
        .type_metatables
        .get()
        .map(|mt| mt.map(|t| c.obj(ObjRef::Table(t))));
    let (finalizable, pending_finalizers, finalizing, full_collection_requested) = {
        let gc = state.gc.borrow();
        (
            c.vals(&gc.finalizable.0),
            c.vals(&gc.pending),
            c.val(gc.finalizing),
            gc.full_collection_requested,
        )
    };
    // Everything reachable from the root first, then what only host handles reach: the
    // numbering (and so the checksum) of the script's objects does not depend on handles.
    let mut objects = Vec::with_capacity(c.objects.len());
    while let Some((_, r)) = c.objects.next_pending() {
        objects.push(c.encode(r)?);
    }
    let root_counts = (objects.len(), c.strings.len(), c.slots.len());
    let crate::handle::HandleRoots { values, executors } = crate::handle::handle_roots(state);
    let value_handles = values
        .into_iter()
        .map(|(serial, v)| (serial, c.val(v)))
        .collect();
    let executor_handles = executors
        .into_iter()
        .map(|(serial, e)| (serial, c.obj(ObjRef::Executor(e))))
        .collect();
    while let Some((_, r)) = c.objects.next_pending() {
        objects.push(c.encode(r)?);
    }
    let mut strings = Vec::with_capacity(c.strings.len());
    while let Some((_, s)) = c.strings.next_pending() {
        strings.push((s.content_hash(), s.shared_bytes()));
    }
    Ok(Image {
        instance: state.handles.borrow().instance,
        timeline: state.handles.borrow().history.current,
        next_id: state.next_id.get(),
        next_host_id: state.handles.borrow().next_host_id,
        root_counts,
        script_bytes: state.memory.script_bytes(),
        pacing: state.memory.pacing(),
        strings,
        objects,
        slots: c.slots,
        globals,
        registry,
        main_thread,
        string_metatable,
        type_metatables,
        finalizable,
        pending_finalizers,
        finalizing,
        full_collection_requested,
        value_handles,
        executor_handles,
    })
}

/// An object of the image rebuilt in the new arena.
#[derive(Clone, Copy)]
enum Built<'gc> {
    Pending,
    Table(Table<'gc>),
    Proto(Gc<'gc, FunctionProto<'gc>>),
    Closure(LuaClosure<'gc>),
    UpValue(UpValue<'gc>),
    Callback(Callback<'gc>),
    Thread(Thread<'gc>),
    UserData(UserData<'gc>),
    Executor(Executor<'gc>),
}

struct Rebuild<'gc, 'a> {
    mc: &'a Mutation<'gc>,
    image: &'a Image,
    strings: Vec<LuaString<'gc>>,
    built: Vec<Built<'gc>>,
}

const CORRUPT_REF: SnapshotError = SnapshotError::Corrupt("reference to a missing object");

impl<'gc> Rebuild<'gc, '_> {
    fn val(&self, v: Val) -> Result<Value<'gc>, SnapshotError> {
        Ok(match v {
            Val::Nil => Value::Nil,
            Val::Boolean(b) => Value::Boolean(b),
            Val::Integer(i) => Value::Integer(i),
            Val::Float(f) => Value::Float(f),
            Val::Str(i) => Value::String(*self.strings.get(i as usize).ok_or(CORRUPT_REF)?),
            Val::Obj(i) => match self.built.get(i as usize) {
                Some(Built::Table(t)) => Value::Table(*t),
                Some(Built::Closure(c)) => Value::Function(*c),
                Some(Built::Callback(c)) => Value::Callback(*c),
                Some(Built::Thread(t)) => Value::Thread(*t),
                Some(Built::UserData(u)) => Value::UserData(*u),
                _ => return Err(SnapshotError::Corrupt("value refers to a non-value object")),
            },
        })
    }

    fn vals(&self, vs: &[Val]) -> Result<Vec<Value<'gc>>, SnapshotError> {
        vs.iter().map(|v| self.val(*v)).collect()
    }

    fn table(&self, i: u32) -> Result<Table<'gc>, SnapshotError> {
        match self.built.get(i as usize) {
            Some(Built::Table(t)) => Ok(*t),
            _ => Err(SnapshotError::Corrupt("expected a table")),
        }
    }

    fn thread(&self, i: u32) -> Result<Thread<'gc>, SnapshotError> {
        match self.built.get(i as usize) {
            Some(Built::Thread(t)) => Ok(*t),
            _ => Err(SnapshotError::Corrupt("expected a thread")),
        }
    }

    fn upvalue(&self, i: u32) -> Result<UpValue<'gc>, SnapshotError> {
        match self.built.get(i as usize) {
            Some(Built::UpValue(u)) => Ok(*u),
            _ => Err(SnapshotError::Corrupt("expected an upvalue")),
        }
    }

    fn closure(&self, i: u32) -> Result<LuaClosure<'gc>, SnapshotError> {
        match self.built.get(i as usize) {
            Some(Built::Closure(c)) => Ok(*c),
            _ => Err(SnapshotError::Corrupt("expected a closure")),
        }
    }

    fn then(&self, t: &ThenImg) -> Result<Then<'gc>, SnapshotError> {
        Ok(Then {
            name: t.name,
            func: t.func,
            state: self.val(t.state)?,
            catch_errors: t.catch_errors,
            handler: self.val(t.handler)?,
        })
    }

    /// Builds proto `root` and its children, children first, with an explicit stack.
    fn build_proto(&mut self, root: u32) -> Result<(), SnapshotError> {
        let mut stack = vec![(root, false)];
        while let Some((i, children_done)) = stack.pop() {
            if !matches!(self.built.get(i as usize), Some(Built::Pending)) {
                continue;
            }
            let Some(Obj::Proto {
                proto,
                constants,
                children,
            }) = self.image.objects.get(i as usize)
            else {
                return Err(SnapshotError::Corrupt("expected a prototype"));
            };
            if !children_done {
                stack.push((i, true));
                for &c in children.iter() {
                    if c as usize >= self.built.len() || stack.len() > self.built.len() {
                        return Err(CORRUPT_REF);
                    }
                    stack.push((c, false));
                }
                continue;
            }
            let children = children
                .iter()
                .map(|&c| match self.built.get(c as usize) {
                    Some(Built::Proto(p)) => Ok(*p),
                    _ => Err(SnapshotError::Corrupt("prototype cycle")),
                })
                .collect::<Result<Box<[_]>, _>>()?;
            let fp = FunctionProto {
                proto: proto.clone(),
                constants: self.vals(constants)?.into_boxed_slice(),
                children,
                _charge: Charge::new(crate::function::proto_cost(proto)),
            };
            self.built[i as usize] = Built::Proto(Gc::new(self.mc, fp));
        }
        Ok(())
    }

    /// Builds callback `root`, first the callbacks its upvalue refers to (explicit stack).
    fn build_callback(&mut self, root: u32) -> Result<(), SnapshotError> {
        let mut stack = vec![(root, false)];
        while let Some((i, deps_done)) = stack.pop() {
            if !matches!(self.built.get(i as usize), Some(Built::Pending)) {
                continue;
            }
            let Some(Obj::Callback {
                id,
                name,
                func,
                upvalue,
            }) = self.image.objects.get(i as usize)
            else {
                return Err(SnapshotError::Corrupt("expected a callback"));
            };
            if !deps_done {
                stack.push((i, true));
                if let Val::Obj(dep) = upvalue {
                    if let Some(Obj::Callback { .. }) = self.image.objects.get(*dep as usize) {
                        if stack.len() > self.built.len() {
                            return Err(SnapshotError::Corrupt("callback cycle"));
                        }
                        stack.push((*dep, false));
                    }
                }
                continue;
            }
            let cb = Callback(Gc::new(
                self.mc,
                CallbackInner {
                    id: *id,
                    name,
                    func: *func,
                    upvalue: self.val(*upvalue)?,
                    _charge: Charge::new(
                        crate::memory::GC_HEADER + std::mem::size_of::<CallbackInner<'static>>(),
                    ),
                },
            ));
            self.built[i as usize] = Built::Callback(cb);
        }
        Ok(())
    }
}

/// What `restore` hands back besides the new root: the handles re-rooted in the new arena.
pub(crate) fn rebuild<'gc>(
    mc: &Mutation<'gc>,
    image: &Image,
    host: Rc<dyn crate::host::Host>,
    handles: Rc<RefCell<HandleRegistry>>,
    sequences: Rc<crate::sequence::SequenceRegistry>,
    functions: Rc<crate::host_fn::HostFunctions>,
    memory: Rc<crate::memory::MemoryAccount>,
) -> Result<State<'gc>, SnapshotError> {
    let mut state = State::new_shell(mc, host, handles.clone(), sequences, functions, memory);
    let mut rb = Rebuild {
        mc,
        image,
        strings: Vec::with_capacity(image.strings.len()),
        built: vec![Built::Pending; image.objects.len()],
    };
    {
        let mut interner = state.strings.borrow_mut(mc);
        for (hash, bytes) in &image.strings {
            let s = if bytes.len() <= MAX_INTERNED_LEN {
                interner.intern(mc, bytes)
            } else {
                LuaString::from_shared(mc, *hash, bytes.clone())
            };
            rb.strings.push(s);
        }
    }
    // Phase 1: objects with interior mutability, created empty (so cycles through them work).
    for (i, obj) in image.objects.iter().enumerate() {
        rb.built[i] = match obj {
            Obj::Table {
                id,
                gc_flags,
                array_capacity,
                entries_capacity,
                ..
            } => {
                let t = Table::with_id(mc, state.journal, *id, 0, 0);
                {
                    let mut st = t.borrow_mut(mc);
                    st.array.reserve_exact(*array_capacity);
                    st.entries.reserve_exact(*entries_capacity);
                }
                t.0.gc_flags.set(*gc_flags);
                Built::Table(t)
            }
            Obj::UpValueOpen { .. } | Obj::UpValueClosed(_) => Built::UpValue(Gc::new(
                mc,
                crate::function::UpValueCell::new(UpValueState::Closed(Value::Nil), 0),
            )),
            Obj::Thread(t) => {
                let thread = Thread::with_id(mc, state.journal, t.id);
                thread.0.script_id.set(t.script_id);
                Built::Thread(thread)
            }
            Obj::UserData {
                id,
                gc_flags,
                type_name,
                payload,
                capture,
                typed,
                ..
            } => {
                let (snap, extra) = match typed {
                    Some(ops) => {
                        // The VM must know the type (its metatable's host functions, and
                        // the Rust type the payload is).
                        let registered = state.functions.userdata_type(ops.name);
                        if !registered.is_some_and(|t| t.is_type((ops.type_id)())) {
                            return Err(SnapshotError::Unsupported(format!(
                                "the snapshot holds userdata of type '{}', which is not \
                                 registered in this VM (call register_userdata_type for it \
                                 before restoring)",
                                ops.name
                            )));
                        }
                        (UserDataSnap::Typed(*ops), ops.payload_bytes)
                    }
                    None => (
                        UserDataSnap::Capture {
                            type_name,
                            capture: *capture,
                        },
                        0,
                    ),
                };
                Built::UserData(UserData::revived(
                    mc,
                    *id,
                    *gc_flags,
                    payload.revive(),
                    snap,
                    extra,
                ))
            }
            Obj::Executor { .. } => Built::Executor(Executor::empty(mc, state.journal)),
            Obj::Proto { .. } | Obj::Closure { .. } | Obj::Callback { .. } => Built::Pending,
        };
    }
    // Phase 2: immutable objects, dependencies first.
    for i in 0..image.objects.len() {
        match &image.objects[i] {
            Obj::Proto { .. } => rb.build_proto(i as u32)?,
            Obj::Closure {
                id,
                script_id,
                proto,
                upvalues,
            } => {
                rb.build_proto(*proto)?;
                let Built::Proto(fp) = rb.built[*proto as usize] else {
                    return Err(SnapshotError::Corrupt("closure without prototype"));
                };
                let upvalues = upvalues
                    .iter()
                    .map(|u| rb.upvalue(*u).map(Lock::new))
                    .collect::<Result<Box<[_]>, _>>()?;
                rb.built[i] = Built::Closure(LuaClosure(Gc::new(
                    mc,
                    ClosureInner {
                        id: *id,
                        script_id: std::cell::Cell::new(*script_id),
                        proto: fp,
                        _charge: Charge::new(crate::function::closure_cost(upvalues.len())),
                        upvalues,
                    },
                )));
            }
            _ => {}
        }
    }
    for i in 0..image.objects.len() {
        if let Obj::Callback { .. } = image.objects[i] {
            rb.build_callback(i as u32)?;
        }
    }
    // Phase 3: contents.
    let mut weak_tables = Vec::new();
    for (i, obj) in image.objects.iter().enumerate() {
        match (obj, rb.built[i]) {
            (
                Obj::Table {
                    array,
                    entries,
                    tombstones,
                    metatable,
                    gc_flags,
                    ..
                },
                Built::Table(t),
            ) => {
                let metatable = metatable.map(|m| rb.table(m)).transpose()?;
                let array = image.slot_range(*array, 1)?;
                let entries = image.slot_range(*entries, 2)?;
                let mut st = t.borrow_mut(mc);
                for v in array {
                    st.array.push(rb.val(*v)?);
                }
                for kv in entries.chunks_exact(2) {
                    st.entries.push((rb.val(kv[0])?, rb.val(kv[1])?));
                }
                st.tombstones = *tombstones;
                st.metatable = metatable;
                st.rebuild_index();
                st.sync_charge();
                if gc_flags & GC_FLAG_WEAK != 0 {
                    weak_tables.push(Gc::downgrade(t.0));
                }
            }
            (Obj::UpValueOpen { thread, slot }, Built::UpValue(u)) => {
                let thread = rb.thread(*thread)?;
                crate::function::set_upvalue_raw(
                    mc,
                    u,
                    UpValueState::Open {
                        thread,
                        slot: *slot,
                    },
                );
            }
            (Obj::UpValueClosed(v), Built::UpValue(u)) => {
                crate::function::set_upvalue_raw(mc, u, UpValueState::Closed(rb.val(*v)?));
            }
            (Obj::Thread(img), Built::Thread(t)) => {
                let frames = img
                    .frames
                    .iter()
                    .map(|f| {
                        Ok(match f {
                            FrameImg::Lua { closure, frame } => Frame::Lua(LuaFrame {
                                closure: rb.closure(*closure)?,
                                func: frame.func,
                                base: frame.base,
                                stack_end: frame.stack_end,
                                pc: frame.pc,
                                num_varargs: frame.num_varargs,
                                returns: frame.returns,
                                top: frame.top,
                                is_tail: frame.is_tail,
                                concat_resume: frame.concat_resume,
                            }),
                            FrameImg::Continuation {
                                then,
                                base,
                                returns,
                                ready,
                                callee_name,
                            } => Frame::Continuation {
                                then: rb.then(then)?,
                                base: *base,
                                returns: *returns,
                                ready: match ready {
                                    None => None,
                                    Some(OutcomeImg::Returned) => Some(Outcome::Returned),
                                    Some(OutcomeImg::Errored(v)) => {
                                        Some(Outcome::Errored(rb.val(*v)?))
                                    }
                                },
                                callee_name,
                            },
                        })
                    })
                    .collect::<Result<Vec<_>, SnapshotError>>()?;
                let stack = rb.vals(&img.stack)?;
                let open_upvalues = img
                    .open_upvalues
                    .iter()
                    .map(|u| rb.upvalue(*u))
                    .collect::<Result<Vec<_>, _>>()?;
                let body = img.body.map(|v| rb.val(v)).transpose()?;
                let death_error = img.death_error.map(|v| rb.val(v)).transpose()?;
                let resume_then = img.resume_then.as_ref().map(|t| rb.then(t)).transpose()?;
                let [stack_cap, frames_cap, open_cap, tbc_cap] = img.capacities;
                let mut ts = t.borrow_mut(mc);
                ts.stack = with_capacity(stack, stack_cap);
                ts.frames = with_capacity(frames, frames_cap);
                ts.open_upvalues = with_capacity(open_upvalues, open_cap);
                ts.tbc_slots = with_capacity(img.tbc_slots.to_vec(), tbc_cap);
                ts.status = img.status;
                ts.body = body;
                ts.started = img.started;
                ts.death_error = death_error;
                ts.resume_then = resume_then;
                ts.resume_slot = img.resume_slot;
                ts.resume_returns = img.resume_returns;
                ts.charge.set(img.charged);
            }
            (Obj::UserData { metatable, .. }, Built::UserData(u)) => {
                let mt = metatable.map(|m| rb.table(m)).transpose()?;
                gc_arena::barrier::unlock!(
                    Gc::write(mc, u.0),
                    crate::userdata::UserDataInner,
                    metatable
                )
                .set(mt);
            }
            (
                Obj::Executor {
                    threads,
                    result,
                    traceback,
                },
                Built::Executor(e),
            ) => {
                let threads = threads
                    .iter()
                    .map(|t| rb.thread(*t))
                    .collect::<Result<Vec<_>, _>>()?;
                if threads.is_empty() {
                    return Err(SnapshotError::Corrupt("executor without a thread"));
                }
                let result = match result {
                    None => None,
                    Some(Ok(())) => Some(Ok(())),
                    Some(Err(v)) => Some(Err(rb.val(*v)?)),
                };
                let mut st = e.0.borrow_mut(mc);
                st.threads = threads;
                st.result = result;
                st.traceback = traceback.clone();
            }
            (_, Built::Pending) => return Err(SnapshotError::Corrupt("object not rebuilt")),
            _ => {}
        }
    }
    state.globals = rb.table(image.globals)?;
    state.registry = rb.table(image.registry)?;
    state.main_thread = rb.thread(image.main_thread)?;
    state.string_metatable = Gc::new(
        mc,
        Lock::new(image.string_metatable.map(|t| rb.table(t)).transpose()?),
    );
    let mut type_metatables = [None; crate::state::TYPE_METATABLES];
    for (slot, mt) in type_metatables.iter_mut().zip(image.type_metatables) {
        *slot = mt.map(|t| rb.table(t)).transpose()?;
    }
    state.type_metatables = Gc::new(mc, Lock::new(type_metatables));
    state.next_id.set(image.next_id);
    {
        let mut gc = state.gc.borrow_mut(mc);
        gc.finalizable.0 = rb.vals(&image.finalizable)?;
        gc.pending = rb.vals(&image.pending_finalizers)?;
        gc.finalizing = rb.val(image.finalizing)?;
        gc.weak_tables = weak_tables;
        gc.full_collection_requested = image.full_collection_requested;
    }
    reroot_handles(mc, &state, image, &rb, &handles);
    Ok(state)
}

/// Re-roots every live host handle in the new arena (see `handle` for the rules).
fn reroot_handles<'gc>(
    mc: &Mutation<'gc>,
    state: &State<'gc>,
    image: &Image,
    rb: &Rebuild<'gc, '_>,
    handles: &RefCell<HandleRegistry>,
) {
    let reg = handles.borrow();
    let same_vm = reg.instance == image.instance;
    // Objects by id, built only if some handle needs a lookup by id.
    let mut by_id: Option<hashbrown::HashMap<u64, u32>> = None;
    let mut lookup = |reg: &HandleRegistry, timeline: u64, id: u64| -> Option<u32> {
        // A host id names one object in the VM's whole life; a script id must be checked
        // against the timelines.
        let same_object = if crate::state::is_host_id(id) {
            id < image.next_host_id
        } else {
            id < image.next_id && reg.history.same_object(timeline, image.timeline, id)
        };
        if !same_vm || !same_object {
            return None;
        }
        let map = by_id.get_or_insert_with(|| {
            image
                .objects
                .iter()
                .enumerate()
                .filter_map(|(i, o)| object_id(o).map(|id| (id, i as u32)))
                .collect()
        });
        map.get(&id).copied()
    };
    for slot in reg.live_values() {
        let mut root = slot.root.borrow_mut();
        if root.is_none() {
            continue; // stale stays stale
        }
        let from_image = if same_vm {
            image
                .value_handles
                .binary_search_by_key(&slot.key.serial, |(s, _)| *s)
                .ok()
                .map(|i| image.value_handles[i].1)
        } else {
            None
        };
        let value = match (from_image, &slot.key.target) {
            (Some(v), _) => rb.val(v).ok(),
            (None, HandleTarget::Plain(p)) => Some(match p {
                PlainValue::Nil => Value::Nil,
                PlainValue::Boolean(b) => Value::Boolean(*b),
                PlainValue::Integer(i) => Value::Integer(*i),
                PlainValue::Float(f) => Value::Float(*f),
                PlainValue::String(hash, bytes) => {
                    Value::String(if bytes.len() <= MAX_INTERNED_LEN {
                        state.strings.borrow_mut(mc).intern(mc, bytes)
                    } else {
                        LuaString::from_shared(mc, *hash, bytes.clone())
                    })
                }
            }),
            (None, HandleTarget::Object(id)) => {
                lookup(&reg, slot.key.timeline, *id).and_then(|i| rb.val(Val::Obj(i)).ok())
            }
        };
        *root = value.map(|v| {
            state
                .roots
                .stash::<gc_arena::Rootable![Value<'_>]>(mc, Gc::new(mc, v))
        });
    }
    for slot in reg.live_executors() {
        let mut root = slot.root.borrow_mut();
        if root.is_none() {
            continue;
        }
        let index = if same_vm {
            image
                .executor_handles
                .binary_search_by_key(&slot.key.serial, |(s, _)| *s)
                .ok()
                .map(|i| image.executor_handles[i].1)
        } else {
            None
        };
        let index = index.or_else(|| match slot.key.target {
            HandleTarget::Object(id) => {
                // An executor is found through its main thread's id.
                let t = lookup(&reg, slot.key.timeline, id)?;
                image
                    .objects
                    .iter()
                    .position(|o| match o {
                        Obj::Executor { threads, .. } => threads.first() == Some(&t),
                        _ => false,
                    })
                    .map(|i| i as u32)
            }
            HandleTarget::Plain(_) => None,
        });
        *root = match index.and_then(|i| rb.built.get(i as usize).copied()) {
            Some(Built::Executor(e)) => Some(
                state
                    .roots
                    .stash::<gc_arena::Rootable![Executor<'_>]>(mc, Gc::new(mc, e)),
            ),
            _ => None,
        };
    }
    // Executors another VM's image held handles to: kept for `Lua::restored_executor`, so a
    // frame paused mid-step can move to another VM. (In the VM that took the snapshot, an
    // executor no live handle claims was dropped by the host: it stays unreachable.)
    let claimed: Vec<u32> = reg
        .live_executors()
        .iter()
        .filter_map(|slot| {
            let gc = crate::handle::fetch_root(state.roots, slot).ok()?;
            let e = *Gc::as_ref(gc);
            image
                .executor_handles
                .iter()
                .find(|(_, i)| matches!(rb.built.get(*i as usize), Some(Built::Executor(b)) if Gc::ptr_eq(b.0, e.0)))
                .map(|(_, i)| *i)
        })
        .collect();
    drop(reg);
    let mut reg = handles.borrow_mut();
    reg.restored.clear();
    for (_, i) in &image.executor_handles {
        if same_vm || claimed.contains(i) {
            continue;
        }
        if let Some(Built::Executor(e)) = rb.built.get(*i as usize).copied() {
            let root = state
                .roots
                .stash::<gc_arena::Rootable![Executor<'_>]>(mc, Gc::new(mc, e));
            let key = reg.key(HandleTarget::Object(e.main_thread().id()));
            let slot = std::rc::Rc::new(crate::handle::Slot {
                key,
                root: RefCell::new(Some(root)),
            });
            reg.register_executor(&slot);
            reg.restored.push(crate::handle::StashedExecutor(slot));
        }
    }
}

/// `v` with exactly `capacity` (if at least its length).
fn with_capacity<T>(v: Vec<T>, capacity: usize) -> Vec<T> {
    if v.capacity() == capacity {
        return v;
    }
    let mut out = Vec::with_capacity(capacity.max(v.len()));
    out.extend(v);
    out
}

fn object_id(o: &Obj) -> Option<u64> {
    match o {
        Obj::Table { id, .. }
        | Obj::Closure { id, .. }
        | Obj::Callback { id, .. }
        | Obj::UserData { id, .. } => Some(*id),
        Obj::Thread(t) => Some(t.id),
        _ => None,
    }
}

impl Image {
    /// The values of `r` (`width` values per element).
    fn slot_range(&self, r: SlotRange, width: usize) -> Result<&[Val], SnapshotError> {
        let start = r.start as usize;
        let end = start + r.len as usize * width;
        self.slots
            .get(start..end)
            .ok_or(SnapshotError::Corrupt("table slots out of range"))
    }

    /// Sizes to preallocate the next capture with: objects, strings, slots.
    pub(crate) fn size_hint(&self) -> (usize, usize, usize) {
        (self.objects.len(), self.strings.len(), self.slots.len())
    }

    fn size_bytes(&self) -> usize {
        use std::mem::size_of;
        let mut n = size_of::<Image>()
            + self.strings.capacity() * size_of::<(u64, Arc<[u8]>)>()
            + self.objects.capacity() * size_of::<Obj>()
            + self.slots.capacity() * size_of::<Val>()
            + (self.finalizable.len() + self.pending_finalizers.len()) * size_of::<Val>()
            + self.value_handles.capacity() * size_of::<(u64, Val)>()
            + self.executor_handles.capacity() * size_of::<(u64, u32)>();
        for o in &self.objects {
            n += match o {
                Obj::Proto {
                    constants,
                    children,
                    ..
                } => constants.len() * size_of::<Val>() + children.len() * 4,
                Obj::Closure { upvalues, .. } => upvalues.len() * 4,
                Obj::Thread(t) => {
                    size_of::<ThreadImg>()
                        + t.stack.len() * size_of::<Val>()
                        + t.frames.len() * size_of::<FrameImg>()
                        + t.open_upvalues.len() * 4
                        + t.tbc_slots.len() * size_of::<usize>()
                }
                Obj::Executor {
                    threads, traceback, ..
                } => threads.len() * 4 + traceback.len(),
                _ => 0,
            };
        }
        n
    }

    /// See `Snapshot::checksum`. Hashes what is reachable from the root (not what only host
    /// handles reach), in image order (which is a function of the logical state: the walk
    /// order is fixed), with the ids scripts see (never host ids).
    fn checksum(&self) -> u64 {
        let (objects, strings, slots) = self.root_counts;
        let mut h = StableHasher::new();
        h.word(self.next_id);
        h.word(strings as u64);
        for (_, bytes) in self.strings.iter().take(strings) {
            h.bytes(bytes);
        }
        h.word(objects as u64);
        for o in self.objects.iter().take(objects) {
            hash_obj(&mut h, o);
        }
        hash_vals(&mut h, self.slots.get(..slots).unwrap_or(&self.slots));
        for r in [self.globals, self.registry, self.main_thread] {
            h.word(r as u64);
        }
        h.word(self.string_metatable.map_or(u64::MAX, |t| t as u64));
        for mt in self.type_metatables {
            h.word(mt.map_or(u64::MAX, |t| t as u64));
        }
        hash_vals(&mut h, &self.finalizable);
        hash_vals(&mut h, &self.pending_finalizers);
        hash_val(&mut h, self.finalizing);
        h.word(self.full_collection_requested as u64);
        // The collector's schedule decides when weak entries clear and finalizers run.
        let p = self.pacing;
        h.word(if p.threshold == usize::MAX {
            u64::MAX
        } else {
            p.threshold as u64
        });
        h.word(p.pause as u64);
        h.word(p.running as u64);
        h.finish()
    }
}

/// The id a script sees of an object with id `id` (`script_id`: a host object's, 0 until a
/// script looked).
fn visible_id(id: u64, script_id: u64) -> u64 {
    if crate::state::is_host_id(id) {
        script_id
    } else {
        id
    }
}

fn hash_val(h: &mut StableHasher, v: Val) {
    match v {
        Val::Nil => h.word(0),
        Val::Boolean(b) => h.word(1 + b as u64),
        Val::Integer(i) => {
            h.word(3);
            h.word(i as u64);
        }
        Val::Float(f) => {
            h.word(4);
            h.word(f.to_bits());
        }
        Val::Str(i) => {
            h.word(5);
            h.word(i as u64);
        }
        Val::Obj(i) => {
            h.word(6);
            h.word(i as u64);
        }
    }
}

fn hash_vals(h: &mut StableHasher, vs: &[Val]) {
    h.word(vs.len() as u64);
    for v in vs {
        hash_val(h, *v);
    }
}

fn hash_then(h: &mut StableHasher, t: &ThenImg) {
    h.bytes(t.name.as_bytes());
    hash_val(h, t.state);
    h.word(t.catch_errors as u64);
    hash_val(h, t.handler);
}

fn hash_returns(h: &mut StableHasher, r: Returns) {
    h.word(match r {
        Returns::Count(n) => n as u64,
        Returns::Multi => 1000,
        Returns::Meta => 1001,
        Returns::Discard => 1002,
    });
}

fn hash_obj(h: &mut StableHasher, o: &Obj) {
    match o {
        Obj::Table {
            id,
            gc_flags,
            array,
            entries,
            tombstones,
            metatable,
            ..
        } => {
            h.word(10);
            h.word(*id);
            h.word(*gc_flags as u64);
            h.word(array.start as u64);
            h.word(array.len as u64);
            h.word(entries.start as u64);
            h.word(entries.len as u64);
            h.word(*tombstones as u64);
            h.word(metatable.map_or(u64::MAX, |m| m as u64));
        }
        Obj::Proto {
            proto,
            constants,
            children,
        } => {
            h.word(11);
            h.bytes(proto.source.as_bytes());
            h.word(proto.line_defined as u64);
            h.word(proto.last_line_defined as u64);
            h.word(proto.code.len() as u64);
            hash_vals(h, constants);
            for c in children.iter() {
                h.word(*c as u64);
            }
        }
        Obj::Closure {
            id,
            script_id,
            proto,
            upvalues,
        } => {
            h.word(12);
            h.word(visible_id(*id, *script_id));
            h.word(*proto as u64);
            for u in upvalues.iter() {
                h.word(*u as u64);
            }
        }
        Obj::UpValueOpen { thread, slot } => {
            h.word(13);
            h.word(*thread as u64);
            h.word(*slot as u64);
        }
        Obj::UpValueClosed(v) => {
            h.word(14);
            hash_val(h, *v);
        }
        Obj::Callback {
            id, name, upvalue, ..
        } => {
            h.word(15);
            h.word(*id);
            h.bytes(name.as_bytes());
            hash_val(h, *upvalue);
        }
        Obj::Thread(t) => {
            h.word(16);
            h.word(visible_id(t.id, t.script_id));
            hash_vals(h, &t.stack);
            h.word(t.frames.len() as u64);
            for f in t.frames.iter() {
                match f {
                    FrameImg::Lua { closure, frame } => {
                        h.word(*closure as u64);
                        for w in [
                            frame.func,
                            frame.base,
                            frame.stack_end,
                            frame.pc,
                            frame.num_varargs,
                            frame.top,
                            frame.is_tail as usize,
                            frame.concat_resume as usize,
                        ] {
                            h.word(w as u64);
                        }
                        hash_returns(h, frame.returns);
                    }
                    FrameImg::Continuation {
                        then,
                        base,
                        returns,
                        ready,
                        callee_name,
                    } => {
                        hash_then(h, then);
                        h.word(*base as u64);
                        hash_returns(h, *returns);
                        match ready {
                            None => h.word(0),
                            Some(OutcomeImg::Returned) => h.word(1),
                            Some(OutcomeImg::Errored(v)) => {
                                h.word(2);
                                hash_val(h, *v);
                            }
                        }
                        h.bytes(callee_name.as_bytes());
                    }
                }
            }
            for u in t.open_upvalues.iter() {
                h.word(*u as u64);
            }
            for s in t.tbc_slots.iter() {
                h.word(*s as u64);
            }
            h.word(t.status as u64);
            hash_val(h, t.body.unwrap_or(Val::Nil));
            h.word(t.started as u64);
            hash_val(h, t.death_error.unwrap_or(Val::Nil));
            if let Some(then) = &t.resume_then {
                hash_then(h, then);
            }
            h.word(t.resume_slot as u64);
            hash_returns(h, t.resume_returns);
        }
        Obj::UserData {
            id,
            gc_flags,
            metatable,
            type_name,
            payload_hash,
            ..
        } => {
            // Typed payloads by their `Rewindable::checksum`; untyped ones by their type.
            h.word(17);
            h.word(*id);
            h.word(*gc_flags as u64);
            h.word(metatable.map_or(u64::MAX, |m| m as u64));
            h.bytes(type_name.as_bytes());
            h.word(*payload_hash);
        }
        Obj::Executor {
            threads,
            result,
            traceback,
        } => {
            h.word(18);
            for t in threads.iter() {
                h.word(*t as u64);
            }
            match result {
                None => h.word(0),
                Some(Ok(())) => h.word(1),
                Some(Err(v)) => {
                    h.word(2);
                    hash_val(h, *v);
                }
            }
            h.bytes(traceback.as_bytes());
        }
    }
}
