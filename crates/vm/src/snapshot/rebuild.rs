//! Rebuild: makes a fresh arena's objects from an image, in three phases (mutable objects
//! empty, immutable ones dependencies first, then contents), so cycles through mutable
//! objects work and nothing recurses. A table whose contents refer only to objects made
//! before it (most leaf tables: a game's entities) is made whole in the first phase, so its
//! memory is written once, while it is in cache. Every index, kind and range is checked: a corrupt
//! image is an error, never a panic.

use std::cell::RefCell;
use std::rc::Rc;

use gc_arena::lock::Lock;
use gc_arena::{Gc, Mutation};

use super::image::*;
use super::SnapshotError;
use crate::executor::{Executor, ExecutorState};
use crate::function::{
    Callback, CallbackInner, ClosureInner, FunctionProto, LuaClosure, Outcome, Then, UpValue,
    UpValueState,
};
use crate::handle::HandleRegistry;
use crate::journal::Journaled;
use crate::memory::Charge;
use crate::resumable::{Resumable, StateBox, StateReader, Unread};
use crate::state::State;
use crate::string::{LuaString, MAX_INTERNED_LEN};
use crate::table::{Table, TableState, GC_FLAG_WEAK};
use crate::thread::{Frame, LuaFrame, Thread, ThreadState};
use crate::userdata::{UserData, UserDataSnap};
use crate::value::Value;

/// An object of the image rebuilt in the new arena.
#[derive(Clone, Copy)]
pub(crate) enum Built<'gc> {
    Pending,
    Table(Table<'gc>),
    Proto(Gc<'gc, FunctionProto<'gc>>),
    Closure(LuaClosure<'gc>),
    UpValue(UpValue<'gc>),
    Callback(Callback<'gc>),
    Thread(Thread<'gc>),
    UserData(UserData<'gc>),
    Executor(Executor<'gc>),
    Resumable(Resumable<'gc>),
}

/// Methods returning rebuilt object `i` of one kind (`Built` variant), or the error.
macro_rules! built_getters {
    ($($name:ident: $kind:ident -> $ty:ty, $what:literal;)*) => {
        $(fn $name(&self, i: u32) -> Result<$ty, SnapshotError> {
            match self.built.get(i as usize) {
                Some(Built::$kind(x)) => Ok(*x),
                _ => Err(SnapshotError::Corrupt($what)),
            }
        })*
    };
}

pub(crate) struct Rebuild<'gc, 'a> {
    mc: &'a Mutation<'gc>,
    image: &'a Image,
    strings: Vec<LuaString<'gc>>,
    pub(crate) built: Vec<Built<'gc>>,
}

const CORRUPT_REF: SnapshotError = SnapshotError::Corrupt("reference to a missing object");

impl<'gc> Rebuild<'gc, '_> {
    pub(crate) fn val(&self, v: Val) -> Result<Value<'gc>, SnapshotError> {
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

    /// Writes `v`'s value to `dst`, one assignment per kind (a value chosen by a match and
    /// then copied goes through a temporary written in parts and read whole: a
    /// store-forwarding stall per slot).
    #[inline(always)]
    fn write_val(&self, dst: &mut Value<'gc>, v: Val) -> Result<(), SnapshotError> {
        match v {
            Val::Nil => *dst = Value::Nil,
            Val::Boolean(b) => *dst = Value::Boolean(b),
            Val::Integer(i) => *dst = Value::Integer(i),
            Val::Float(f) => *dst = Value::Float(f),
            Val::Str(i) => *dst = Value::String(*self.strings.get(i as usize).ok_or(CORRUPT_REF)?),
            Val::Obj(_) => *dst = self.val(v)?,
        }
        Ok(())
    }

    fn vals(&self, vs: &[Val]) -> Result<Vec<Value<'gc>>, SnapshotError> {
        vs.iter().map(|v| self.val(*v)).collect()
    }

    built_getters! {
        table: Table -> Table<'gc>, "expected a table";
        thread: Thread -> Thread<'gc>, "expected a thread";
        upvalue: UpValue -> UpValue<'gc>, "expected an upvalue";
        closure: Closure -> LuaClosure<'gc>, "expected a closure";
    }

    fn then(&self, t: &ThenImg) -> Result<Then<'gc>, SnapshotError> {
        // A resumable continuation's state is its resumable object (see `ThenImg::state`).
        let (state, resumable) = match t.state {
            Val::Obj(i) => match self.built.get(i as usize) {
                Some(Built::Resumable(r)) => (Value::Nil, Some(*r)),
                _ => (self.val(t.state)?, None),
            },
            v => (self.val(v)?, None),
        };
        Ok(Then {
            name: t.name,
            func: t.func,
            state,
            catch_errors: t.catch_errors,
            handler: self.val(t.handler)?,
            resumable,
        })
    }

    /// Whether value `v` can be rebuilt while phase 1 is at object `i` (a plain value, a
    /// string, or an object phase 1 made already; closures and callbacks wait for phase 2).
    fn ready_at(&self, v: &Val, i: usize) -> bool {
        match *v {
            Val::Obj(j) => (j as usize) < i && !matches!(self.built[j as usize], Built::Pending),
            _ => true,
        }
    }

    /// The contents of table image `obj` (its charge left at zero: set by the caller).
    fn table_state(&self, obj: &Obj) -> Result<TableState<'gc>, SnapshotError> {
        let Obj::Table {
            id: _,
            flags,
            array,
            entries,
            array_capacity,
            entries_capacity,
            tombstones,
            metatable,
        } = obj
        else {
            return Err(SnapshotError::Corrupt("expected a table"));
        };
        let metatable = metatable.map(|m| self.table(m)).transpose()?;
        let array_slots = self.image.slot_range(*array, 1)?;
        let mut array_part = Vec::with_capacity(*array_capacity);
        array_part.resize(array_slots.len(), Value::Nil);
        for (dst, v) in array_part.iter_mut().zip(array_slots) {
            self.write_val(dst, *v)?;
        }
        let entry_slots = self.image.slot_range(*entries, 2)?;
        let mut entry_part = Vec::with_capacity(*entries_capacity);
        entry_part.resize(entry_slots.len() / 2, (Value::Nil, Value::Nil));
        for (dst, kv) in entry_part.iter_mut().zip(entry_slots.chunks_exact(2)) {
            self.write_val(&mut dst.0, kv[0])?;
            self.write_val(&mut dst.1, kv[1])?;
        }
        let mut st = TableState {
            array: array_part,
            entries: entry_part,
            aux: None,
            tombstones: *tombstones,
            metatable,
            flags: *flags,
            charge: Charge::default(),
        };
        st.rebuild_index();
        Ok(st)
    }

    /// Whether table image `obj` (number `i`) refers only to what phase 1 made before it:
    /// it is then made whole at once, and its memory is written while it is in cache.
    fn table_ready_at(&self, obj: &Obj, i: usize) -> bool {
        let Obj::Table {
            array,
            entries,
            metatable,
            ..
        } = obj
        else {
            return false;
        };
        let ready = |r: SlotRange, width| {
            self.image
                .slot_range(r, width)
                .is_ok_and(|vs| vs.iter().all(|v| self.ready_at(v, i)))
        };
        metatable.is_none_or(|m| self.ready_at(&Val::Obj(m), i))
            && ready(*array, 1)
            && ready(*entries, 2)
    }

    /// Builds object `root` after the objects it depends on (`dependencies`), with an
    /// explicit stack (no recursion); a cycle or a dangling index is an error. Used for the
    /// immutable kinds, which must be made whole: prototypes (after their children) and
    /// callbacks (after a callback their upvalue holds).
    fn build_after_dependencies(
        &mut self,
        root: u32,
        dependencies: fn(&Obj) -> Result<Vec<u32>, SnapshotError>,
        build: fn(&Self, &Obj) -> Result<Built<'gc>, SnapshotError>,
    ) -> Result<(), SnapshotError> {
        let mut stack = vec![(root, false)];
        while let Some((i, ready)) = stack.pop() {
            if !matches!(self.built.get(i as usize), Some(Built::Pending)) {
                continue;
            }
            let obj = self.image.objects.get(i as usize).ok_or(CORRUPT_REF)?;
            if !ready {
                stack.push((i, true));
                for d in dependencies(obj)? {
                    if d as usize >= self.built.len() || stack.len() > self.built.len() {
                        return Err(SnapshotError::Corrupt("dependency cycle or dangling index"));
                    }
                    stack.push((d, false));
                }
                continue;
            }
            self.built[i as usize] = build(self, obj)?;
        }
        Ok(())
    }

    /// Builds prototype `root`, its children first.
    fn build_proto(&mut self, root: u32) -> Result<(), SnapshotError> {
        self.build_after_dependencies(
            root,
            |obj| match obj {
                Obj::Proto { children, .. } => Ok(children.to_vec()),
                _ => Err(SnapshotError::Corrupt("expected a prototype")),
            },
            |rb, obj| {
                let Obj::Proto {
                    proto,
                    constants,
                    children,
                } = obj
                else {
                    return Err(SnapshotError::Corrupt("expected a prototype"));
                };
                let children = children
                    .iter()
                    .map(|&c| match rb.built.get(c as usize) {
                        Some(Built::Proto(p)) => Ok(*p),
                        _ => Err(SnapshotError::Corrupt("prototype cycle")),
                    })
                    .collect::<Result<Box<[_]>, _>>()?;
                // One value per constant of the prototype (the interpreter relies on it).
                if constants.len() != proto.constants.len() {
                    return Err(SnapshotError::Corrupt("prototype constant count"));
                }
                let values = rb.vals(constants)?;
                let fp = FunctionProto::build(
                    proto.clone(),
                    |i, _| {
                        values
                            .get(i)
                            .copied()
                            .ok_or(SnapshotError::Corrupt("constants"))
                    },
                    children,
                    Charge::new(crate::function::proto_cost(proto)),
                )?;
                Ok(Built::Proto(Gc::new(rb.mc, fp)))
            },
        )
    }

    /// Builds callback `root`, after the callback its upvalue refers to (if any).
    fn build_callback(&mut self, root: u32) -> Result<(), SnapshotError> {
        self.build_after_dependencies(
            root,
            |obj| match obj {
                Obj::Callback(c) => Ok(match c.upvalue {
                    Val::Obj(dep) => vec![dep],
                    _ => Vec::new(),
                }),
                _ => Err(SnapshotError::Corrupt("expected a callback")),
            },
            |rb, obj| {
                let Obj::Callback(c) = obj else {
                    return Err(SnapshotError::Corrupt("expected a callback"));
                };
                let CallbackImg {
                    id,
                    name,
                    func,
                    upvalue,
                } = &**c;
                Ok(Built::Callback(Callback(Gc::new(
                    rb.mc,
                    CallbackInner {
                        id: *id,
                        name,
                        func: *func,
                        upvalue: rb.val(*upvalue)?,
                        _charge: Charge::new(
                            crate::memory::GC_HEADER
                                + std::mem::size_of::<CallbackInner<'static>>(),
                        ),
                    },
                ))))
            },
        )
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
        interner.reserve(mc, image.strings.len());
        for (hash, s) in &image.strings {
            // (An image's hashes are its strings' own: computed by the VM that captured
            // them, or again by `bytes` as it reads them.)
            let s = if image.bytes_of(s).len() <= MAX_INTERNED_LEN {
                interner.intern_shared(mc, *hash, image.shared_bytes_of(s))
            } else {
                LuaString::from_shared(mc, *hash, image.shared_bytes_of(s))
            };
            rb.strings.push(s);
        }
    }
    for &(i, id) in &image.string_ids {
        match rb.strings.get(i as usize) {
            Some(s) if s.len() > MAX_INTERNED_LEN => s.0.script_id.set(id),
            _ => {
                return Err(SnapshotError::Corrupt(
                    "string id of a missing or short string",
                ))
            }
        }
    }
    // Phase 1: objects with interior mutability, created empty (so cycles through them work),
    // except tables whose contents are ready (`Rebuild::table_ready_at`), made whole.
    let mut weak_tables = Vec::new();
    let mut whole_tables = vec![false; image.objects.len()];
    for (i, obj) in image.objects.iter().enumerate() {
        rb.built[i] = match obj {
            Obj::Table { id, flags, .. } => {
                let t = if rb.table_ready_at(obj, i) {
                    whole_tables[i] = true;
                    Table::with_state(mc, *id, rb.table_state(obj)?)
                } else {
                    Table::with_id(mc, 0, *id, 0, 0)
                };
                if flags & GC_FLAG_WEAK != 0 {
                    weak_tables.push(Gc::downgrade(t.0));
                }
                Built::Table(t)
            }
            Obj::UpValueOpen { .. } | Obj::UpValueClosed(_) => Built::UpValue(
                crate::function::new_upvalue(mc, 0, UpValueState::Closed(Value::Nil)),
            ),
            Obj::Thread(t) => {
                let thread = Thread::with_id(mc, 0, t.id);
                thread.0.script_id.set(t.script_id);
                Built::Thread(thread)
            }
            Obj::UserData(u) => {
                let UserDataImg {
                    id,
                    flags,
                    type_name,
                    payload,
                    capture,
                    typed,
                    ..
                } = &**u;
                let (snap, extra) = match typed {
                    Some(ops) => {
                        // The VM must know the type (its metatable's host functions, and
                        // the Rust type the payload is).
                        let registered = state.functions.userdata_type(ops.name);
                        if !registered
                            .as_ref()
                            .is_some_and(|t| t.is_type((ops.type_id)()))
                        {
                            return Err(SnapshotError::Unsupported(format!(
                                "the snapshot holds userdata of type '{}', which is not \
                                 registered in this VM (call register_userdata_type for it \
                                 before restoring)",
                                ops.name
                            )));
                        }
                        // (The registration's shared functions; the image's own when the
                        // type is registered without them.)
                        let shared = registered
                            .and_then(|t| t.shared_payload_ops())
                            .unwrap_or_else(|| std::rc::Rc::new(**ops));
                        (UserDataSnap::Typed(shared), ops.payload_bytes)
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
                    *flags,
                    payload.revive(),
                    snap,
                    extra,
                ))
            }
            Obj::Executor(_) => Built::Executor(Executor::empty(mc)),
            Obj::Resumable(_) => {
                Built::Resumable(Resumable::with_epoch(mc, 0, StateBox(Box::new(Unread))))
            }
            Obj::Proto { .. } | Obj::Closure { .. } | Obj::Callback(_) => Built::Pending,
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
                // One slot per upvalue of the prototype (the interpreter relies on it).
                if upvalues.len() != fp.proto.upvalues.len() {
                    return Err(SnapshotError::Corrupt("closure upvalue count"));
                }
                let inner =
                    ClosureInner::build(*id, *script_id, fp, |k, _| match upvalues.get(k) {
                        Some(u) => rb.upvalue(*u),
                        None => Err(SnapshotError::Corrupt("closure upvalue count")),
                    })?;
                rb.built[i] = Built::Closure(LuaClosure(Gc::new(mc, inner)));
            }
            _ => {}
        }
    }
    for i in 0..image.objects.len() {
        if let Obj::Callback(_) = image.objects[i] {
            rb.build_callback(i as u32)?;
        }
    }
    // Phase 3: contents.
    for (i, obj) in image.objects.iter().enumerate() {
        match (obj, rb.built[i]) {
            (Obj::Table { .. }, Built::Table(_)) if whole_tables[i] => {}
            (Obj::Table { .. }, Built::Table(t)) => {
                let mut contents = rb.table_state(obj)?;
                let mut st = Journaled::borrow_mut_unjournaled(t.cell(mc));
                contents.charge = std::mem::take(&mut st.charge);
                *st = contents;
                st.array_grown(mc, t);
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
                                c_calls: 0,
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
                                c_calls: 0,
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
                let HookImg {
                    func,
                    mask,
                    count,
                    counter,
                    old_pc,
                    running,
                    call_pending,
                    resume_depth,
                    returned_depth,
                } = img.hook;
                let hook = crate::hook::HookState {
                    func: rb.val(func)?,
                    mask,
                    count,
                    counter,
                    old_pc,
                    running,
                    call_pending,
                    resume_depth,
                    returned_depth,
                };
                let [stack_cap, frames_cap, open_cap, tbc_cap] = img.capacities;
                let mut ts = Journaled::borrow_mut_unjournaled(t.cell(mc));
                let charge = std::mem::take(&mut ts.charge);
                *ts = ThreadState {
                    stack: crate::frame_stack::ValueStack::from_vec(with_capacity(
                        stack, stack_cap,
                    )),
                    frames: crate::frame_stack::FrameStack::from_vec(with_capacity(
                        frames, frames_cap,
                    )),
                    open_upvalues: with_capacity(open_upvalues, open_cap),
                    tbc_slots: with_capacity(img.tbc_slots.to_vec(), tbc_cap),
                    status: img.status,
                    body,
                    started: img.started,
                    death_error,
                    resume_then,
                    resume_slot: img.resume_slot,
                    resume_returns: img.resume_returns,
                    raised_by: None,
                    hook,
                    charge,
                };
                ts.count_c_calls();
                ts.charge.set(img.charged);
            }
            (Obj::UserData(img), Built::UserData(u)) => {
                let metatable = img.metatable.map(|m| rb.table(m)).transpose()?;
                crate::journal::JournaledValue::set_unjournaled(
                    u.meta_cell(mc),
                    crate::userdata::UserDataMeta {
                        metatable,
                        flags: img.flags,
                    },
                );
            }
            (Obj::Executor(img), Built::Executor(e)) => {
                let ExecutorImg {
                    threads,
                    result,
                    traceback,
                    interrupt,
                    waits_for_collection,
                } = &**img;
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
                let interrupt = interrupt.map(|v| rb.val(v)).transpose()?;
                *Journaled::borrow_mut_unjournaled(e.cell(mc)) = ExecutorState {
                    threads,
                    result,
                    traceback: traceback.clone(),
                    interrupt,
                    waits_for_collection: *waits_for_collection,
                };
            }
            (Obj::Resumable(img), Built::Resumable(r)) => {
                let ResumableImg { key, fields } = &**img;
                let read = image
                    .permanents
                    .resumable_reader(*key)
                    .ok_or(SnapshotError::Corrupt("resumable state without a reader"))?;
                let values = rb.vals(fields)?;
                let mut reader = StateReader::new(&values);
                let st = read(&mut reader)
                    .filter(|st| reader.is_done() && st.key() == *key)
                    .ok_or(SnapshotError::Corrupt("invalid resumable state"))?;
                *Journaled::borrow_mut_unjournaled(r.cell(mc)) = StateBox(st);
                r.sync_charge();
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
        gc.collection_wait = image.collection_wait;
    }
    crate::handle::reroot_handles(mc, &state, image, &rb, &handles);
    // The checksum goes on where the captured VM's was (see `checksum`).
    if let Some(t) = &image.tracking {
        let members = image.member_hashes().iter().filter_map(|&(i, h)| {
            let m = match rb.built.get(i as usize)? {
                Built::Table(t) => super::Member::Table(*t),
                Built::Closure(c) => super::Member::Closure(*c),
                Built::UpValue(u) => super::Member::UpValue(*u),
                Built::Thread(t) => super::Member::Thread(*t),
                Built::UserData(u) => super::Member::UserData(*u),
                Built::Resumable(r) => super::Member::Resumable(*r),
                _ => return None,
            };
            Some((m, h))
        });
        let tracker = super::Tracker::new(t.rest, members);
        state.journal.start_tracking(mc, tracker);
    }
    Ok(state)
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
