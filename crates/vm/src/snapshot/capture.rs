//! Capture: walks the VM from its root (then the host's live handles) into an image,
//! breadth-first (`gc_snapshot::Numbering`: the list of discovered objects is the work
//! queue, so the walk never recurses). Each object kind's state is destructured
//! exhaustively (see `object`).

use gc_arena::Gc;
use lunette_gc_snapshot::Numbering;

use super::checksum::{
    hash_val, member_hash, member_hash_pages, page_hash, proto_digest, resumable_key, Ident,
    Identities, OneRef, RootState,
};
use super::image::*;
use super::incremental::{HashMember, Member};
use super::SnapshotError;
use crate::executor::{Executor, ExecutorState};
use crate::function::{
    Callback, CallbackInner, ClosureInner, FunctionProto, LuaClosure, Outcome, Then, UpValue,
    UpValueState,
};
use crate::resumable::{Resumable, ResumableInner};
use crate::state::State;
use crate::string::LuaString;
use crate::table::{Table, TableState};
use crate::thread::{Frame, LuaFrame, Thread, ThreadState};
use crate::userdata::{UserData, UserDataInner, UserDataMeta, UserDataSnap};
use crate::value::Value;

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
    Resumable(Resumable<'gc>),
}

#[inline]
fn addr<T>(gc: Gc<'_, T>) -> usize {
    Gc::as_ptr(gc) as *const () as usize
}

impl<'gc> ObjRef<'gc> {
    /// The object a reference value is (`None` for the others: plain data and strings).
    fn of_value(v: Value<'gc>) -> Option<Self> {
        Some(match v {
            Value::Table(t) => ObjRef::Table(t),
            Value::Function(f) => ObjRef::Closure(f),
            Value::Callback(c) => ObjRef::Callback(c),
            Value::Thread(t) => ObjRef::Thread(t),
            Value::UserData(u) => ObjRef::UserData(u),
            Value::Nil
            | Value::Boolean(_)
            | Value::Integer(_)
            | Value::Float(_)
            | Value::String(_) => return None,
        })
    }

    fn address(self) -> usize {
        match self {
            ObjRef::Table(t) => addr(t.0),
            ObjRef::Proto(p) => addr(p),
            ObjRef::Closure(c) => addr(c.0),
            ObjRef::UpValue(u) => addr(u),
            ObjRef::Callback(c) => addr(c.0),
            ObjRef::Thread(t) => addr(t.0),
            ObjRef::UserData(u) => addr(u.0),
            ObjRef::Executor(e) => addr(e.0),
            ObjRef::Resumable(r) => addr(r.0),
        }
    }

    /// The member this object is, if it is one (see `checksum`).
    fn member(self) -> Option<Member<'gc>> {
        match self {
            ObjRef::Table(t) => Member::of_value(Value::Table(t)),
            ObjRef::Closure(c) if !crate::state::is_host_id(c.0.id) => Some(Member::Closure(c)),
            ObjRef::UpValue(u) => Some(Member::UpValue(u)),
            ObjRef::Thread(t) if !crate::state::is_host_id(t.id()) => Some(Member::Thread(t)),
            ObjRef::UserData(u) => Some(Member::UserData(u)),
            ObjRef::Resumable(r) => Some(Member::Resumable(r)),
            _ => None,
        }
    }

    /// The identity references to this object hash (`checksum::identity` of its image).
    fn identity(self) -> Ident {
        match self {
            ObjRef::Table(t) => Ident::with_id(Ident::TABLE, t.id()),
            ObjRef::Proto(p) => Ident(Ident::PROTO, proto_digest(&p.proto)),
            ObjRef::Closure(c) => Ident::with_id(Ident::CLOSURE, c.0.id),
            ObjRef::UpValue(_) => Ident(Ident::UPVALUE, 0),
            ObjRef::Callback(c) => Ident::with_id(Ident::CALLBACK, c.0.id),
            ObjRef::Thread(t) => Ident::with_id(Ident::THREAD, t.id()),
            ObjRef::UserData(u) => Ident::with_id(Ident::USERDATA, u.0.id),
            ObjRef::Executor(_) => Ident(Ident::EXECUTOR, 0),
            ObjRef::Resumable(r) => {
                Ident(Ident::RESUMABLE, resumable_key(r.0.cell.borrow().0.key()))
            }
        }
    }
}

impl<'gc> From<Member<'gc>> for ObjRef<'gc> {
    fn from(m: Member<'gc>) -> Self {
        match m {
            Member::Table(t) => ObjRef::Table(t),
            Member::Closure(c) => ObjRef::Closure(c),
            Member::UpValue(u) => ObjRef::UpValue(u),
            Member::Thread(t) => ObjRef::Thread(t),
            Member::UserData(u) => ObjRef::UserData(u),
            Member::Resumable(r) => ObjRef::Resumable(r),
        }
    }
}

impl Identities for Capture<'_> {
    fn string(&self, i: u32) -> u64 {
        self.strings.item(i).map_or(0, |s| s.content_hash())
    }
    fn object(&self, i: u32) -> Ident {
        self.objects.item(i).map_or(Ident(0, 0), |r| r.identity())
    }
}

struct Capture<'gc> {
    /// The VM's permanents (resumable states must have a registered reader).
    permanents: std::sync::Arc<crate::permanents::Permanents>,
    objects: Numbering<usize, ObjRef<'gc>>,
    strings: Numbering<usize, LuaString<'gc>>,
    /// The last strings numbered, by address bits (a direct-mapped cache in front of
    /// `strings`: the keys of a program's tables repeat, table after table).
    recent_strings: [(usize, u32); RECENT_STRINGS],
    slots: Vec<Val>,
    /// Slots already taken out of `slots` (the checksum's walks hash each object's slots and
    /// empty the buffer): `slots_base + slots.len()` is the next slot's position.
    slots_base: usize,
}

/// Entries of `Capture::recent_strings` (a power of two).
const RECENT_STRINGS: usize = 64;

impl<'gc> Capture<'gc> {
    #[inline]
    fn obj(&mut self, r: ObjRef<'gc>) -> u32 {
        self.objects.number(r.address(), r)
    }

    /// A value's image. Inlined into the walks; what needs numbering is out of line.
    #[inline(always)]
    fn val(&mut self, v: Value<'gc>) -> Val {
        match v {
            Value::Nil => Val::Nil,
            Value::Boolean(b) => Val::Boolean(b),
            Value::Integer(i) => Val::Integer(i),
            Value::Float(f) => Val::Float(f),
            Value::String(s) => Val::Str(self.string(s)),
            _ => self.object_val(v),
        }
    }

    /// Pushes `v`'s image to `slots`, one push per kind: a `Val` chosen by a match and then
    /// pushed goes through a stack temporary written in parts and read whole (a
    /// store-forwarding stall per slot).
    #[inline(always)]
    fn push_slot(&mut self, v: Value<'gc>) {
        match v {
            Value::Nil => self.slots.push(Val::Nil),
            Value::Boolean(b) => self.slots.push(Val::Boolean(b)),
            Value::Integer(i) => self.slots.push(Val::Integer(i)),
            Value::Float(f) => self.slots.push(Val::Float(f)),
            Value::String(s) => {
                let n = self.string(s);
                self.slots.push(Val::Str(n))
            }
            _ => {
                let o = self.object_val(v);
                self.slots.push(o)
            }
        }
    }

    /// The image of a reference value (out of line: it numbers an object).
    #[inline(never)]
    fn object_val(&mut self, v: Value<'gc>) -> Val {
        match ObjRef::of_value(v) {
            Some(r) => Val::Obj(self.obj(r)),
            // (`val` images the others itself.)
            None => self.val(v),
        }
    }

    /// A string's number: from `recent_strings` when it was numbered lately.
    #[inline(always)]
    fn string(&mut self, s: LuaString<'gc>) -> u32 {
        let a = addr(s.0);
        let slot = self.recent_strings[(a >> 4) & (RECENT_STRINGS - 1)];
        if slot.0 == a {
            return slot.1;
        }
        self.number_string(s)
    }

    #[inline(never)]
    fn number_string(&mut self, s: LuaString<'gc>) -> u32 {
        let a = addr(s.0);
        let n = self.strings.number(a, s);
        self.recent_strings[(a >> 4) & (RECENT_STRINGS - 1)] = (a, n);
        n
    }

    fn vals(&mut self, vs: &[Value<'gc>]) -> Box<[Val]> {
        vs.iter().map(|v| self.val(*v)).collect()
    }

    fn then(&mut self, t: &Then<'gc>) -> ThenImg {
        let Then {
            name,
            func,
            state,
            catch_errors,
            handler,
            resumable,
        } = *t;
        // A resumable continuation's state value is nil (`Then::resumable`): the resumable
        // takes its place.
        let state = match resumable {
            Some(r) => Val::Obj(self.obj(ObjRef::Resumable(r))),
            None => self.val(state),
        };
        ThenImg {
            name,
            func,
            state,
            catch_errors,
            handler: self.val(handler),
        }
    }

    /// Encodes `r` at the end of `out`. (Tables, most of a heap, are written without the
    /// copies through a `Result<Obj, _>` that `encode` makes: its niche-packed layout made
    /// each copy a misaligned load of a just-stored value, a store-forwarding stall.)
    #[inline]
    fn encode_into(&mut self, r: ObjRef<'gc>, out: &mut Vec<Obj>) -> Result<(), SnapshotError> {
        match r {
            ObjRef::Table(t) => out.push(self.table(t)),
            _ => out.push(self.encode(r)?),
        }
        Ok(())
    }

    fn encode(&mut self, r: ObjRef<'gc>) -> Result<Obj, SnapshotError> {
        Ok(match r {
            ObjRef::Table(t) => self.table(t),
            ObjRef::Proto(p) => {
                let FunctionProto {
                    proto,
                    constants,
                    children,
                    field_hints: _, // a lookup guess, no state: a rebuilt one starts afresh
                    frame: _,       // copied from the prototype by `FunctionProto::build`
                    _charge: _,     // recomputed from the prototype by rebuild
                    _sealed: _,     // made again by `FunctionProto::build`
                } = &*p;
                Obj::Proto {
                    proto: proto.clone(),
                    constants: self.vals(constants),
                    children: children
                        .iter()
                        .map(|c| self.obj(ObjRef::Proto(*c)))
                        .collect(),
                }
            }
            ObjRef::Closure(c) => {
                let ClosureInner {
                    id,
                    script_id,
                    proto,
                    upvalues,
                    _charge: _, // recomputed from the upvalue count by rebuild
                    _sealed: _, // made again by `ClosureInner::build`
                } = &*c.0;
                Obj::Closure {
                    id: *id,
                    script_id: script_id.get(),
                    proto: self.obj(ObjRef::Proto(*proto)),
                    upvalues: upvalues
                        .iter()
                        .map(|u| self.obj(ObjRef::UpValue(u.get())))
                        .collect(),
                }
            }
            ObjRef::UpValue(u) => match u.get() {
                UpValueState::Open { thread, slot } => Obj::UpValueOpen {
                    thread: self.obj(ObjRef::Thread(thread)),
                    slot,
                },
                UpValueState::Closed(v) => Obj::UpValueClosed(self.val(v)),
            },
            ObjRef::Callback(c) => {
                let CallbackInner {
                    id,
                    name,
                    func,
                    upvalue,
                    _charge: _, // a callback's size is fixed
                } = &*c.0;
                Obj::Callback(Box::new(CallbackImg {
                    id: *id,
                    name,
                    func: *func,
                    upvalue: self.val(*upvalue),
                }))
            }
            ObjRef::Thread(t) => {
                let ts = t.borrow();
                Obj::Thread(Box::new(self.thread(t.id(), t.0.script_id.get(), &ts)))
            }
            ObjRef::UserData(u) => self.userdata(u)?,
            ObjRef::Resumable(r) => {
                let ResumableInner {
                    cell,
                    charge: _, // recomputed from the state by rebuild
                } = &*r.0;
                let st = cell.borrow();
                let key = st.0.key();
                if self.permanents.resumable_reader(key).is_none() {
                    return Err(SnapshotError::Unsupported(format!(
                        "the resumable state '{}.{}' has no reader in the permanents table \
                         (Permanents::resumable)",
                        key.0, key.1
                    )));
                }
                let mut values = Vec::new();
                st.write_to(&mut |v| values.push(v));
                Obj::Resumable(Box::new(ResumableImg {
                    key,
                    fields: self.vals(&values),
                }))
            }
            ObjRef::Executor(e) => {
                let st = e.0.borrow();
                let ExecutorState {
                    threads,
                    result,
                    traceback,
                    interrupt,
                    waits_for_collection,
                } = &*st;
                Obj::Executor(Box::new(ExecutorImg {
                    threads: threads
                        .iter()
                        .map(|t| self.obj(ObjRef::Thread(*t)))
                        .collect(),
                    result: result.map(|r| r.map_err(|v| self.val(v))),
                    traceback: traceback.clone(),
                    interrupt: interrupt.map(|v| self.val(v)),
                    waits_for_collection: *waits_for_collection,
                }))
            }
        })
    }

    fn table(&mut self, t: Table<'gc>) -> Obj {
        let st = t.0.state.borrow();
        let TableState {
            array,
            entries,
            aux: _, // the index rebuilt from the entries, the segments from the capacities
            tombstones,
            metatable,
            flags,
            charge: _, // recomputed from the capacities (kept in sync with them)
        } = &*st;
        let start = self.slots_base + self.slots.len();
        self.slots.reserve(array.len() + 2 * entries.len());
        for v in array {
            self.push_slot(*v);
        }
        let array_range = SlotRange {
            start: start as u32,
            len: array.len() as u32,
        };
        let start = self.slots_base + self.slots.len();
        for (k, v) in entries {
            self.push_slot(*k);
            self.push_slot(*v);
        }
        let entries_range = SlotRange {
            start: start as u32,
            len: entries.len() as u32,
        };
        Obj::Table {
            id: t.id(),
            flags: *flags,
            array: array_range,
            entries: entries_range,
            array_capacity: array.capacity(),
            entries_capacity: entries.capacity(),
            tombstones: *tombstones,
            metatable: metatable.map(|m| self.obj(ObjRef::Table(m))),
        }
    }

    fn userdata(&mut self, u: UserData<'gc>) -> Result<Obj, SnapshotError> {
        let UserDataInner {
            id,
            meta,
            data,
            snap,
            _charge: _, // recomputed from the payload by rebuild
        } = Gc::as_ref(u.0);
        let UserDataMeta { metatable, flags } = meta.get();
        let (type_name, capture, typed) = match snap {
            UserDataSnap::Refuse(why) => return Err(SnapshotError::Unsupported(why.to_string())),
            UserDataSnap::Capture { type_name, capture } => (*type_name, *capture, None),
            UserDataSnap::Typed(ops) => (ops.name, ops.capture, Some(**ops)),
        };
        let payload = capture(&**data).map_err(|why| {
            SnapshotError::Unsupported(format!("userdata of type `{type_name}`: {why}"))
        })?;
        Ok(Obj::UserData(Box::new(UserDataImg {
            id: *id,
            flags,
            metatable: metatable.map(|m| self.obj(ObjRef::Table(m))),
            type_name,
            payload,
            capture,
            typed: typed.map(Box::new),
            payload_hash: typed.map_or(0, |ops| (ops.checksum)(&**data)),
        })))
    }

    fn frame(&mut self, f: &Frame<'gc>) -> FrameImg {
        match f {
            Frame::Lua(LuaFrame {
                closure,
                func,
                base,
                stack_end,
                pc,
                num_varargs,
                returns,
                top,
                is_tail,
                concat_resume,
                // Derived from the frames: rebuilt by `ThreadState::count_c_calls`.
                c_calls: _,
            }) => FrameImg::Lua {
                closure: self.obj(ObjRef::Closure(*closure)),
                frame: LuaFrameFields {
                    func: *func,
                    base: *base,
                    stack_end: *stack_end,
                    pc: *pc,
                    num_varargs: *num_varargs,
                    returns: *returns,
                    top: *top,
                    is_tail: *is_tail,
                    concat_resume: *concat_resume,
                },
            },
            Frame::Continuation {
                then,
                base,
                returns,
                ready,
                callee_name,
                c_calls: _,
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
        }
    }

    fn thread(&mut self, id: u64, script_id: u64, ts: &ThreadState<'gc>) -> ThreadImg {
        let ThreadState {
            stack,
            frames,
            open_upvalues,
            tbc_slots,
            status,
            body,
            started,
            death_error,
            resume_then,
            resume_slot,
            resume_returns,
            raised_by: _, // set and taken within one step: never seen by a snapshot
            hook,
            charge,
        } = ts;
        let crate::hook::HookState {
            func,
            mask,
            count,
            counter,
            old_pc,
            running,
            call_pending,
            resume_depth,
            returned_depth,
        } = *hook;
        ThreadImg {
            id,
            script_id,
            charged: charge.get(),
            stack: self.vals(stack),
            frames: frames.iter().map(|f| self.frame(f)).collect(),
            open_upvalues: open_upvalues
                .iter()
                .map(|u| self.obj(ObjRef::UpValue(*u)))
                .collect(),
            tbc_slots: tbc_slots.clone().into_boxed_slice(),
            status: *status,
            body: body.map(|v| self.val(v)),
            started: *started,
            death_error: death_error.map(|v| self.val(v)),
            resume_then: resume_then.as_ref().map(|t| self.then(t)),
            resume_slot: *resume_slot,
            resume_returns: *resume_returns,
            hook: HookImg {
                func: self.val(func),
                mask,
                count,
                counter,
                old_pc,
                running,
                call_pending,
                resume_depth,
                returned_depth,
            },
            capacities: [
                stack.capacity(),
                frames.capacity(),
                open_upvalues.capacity(),
                tbc_slots.capacity(),
            ],
        }
    }
}

/// What the root state refers to, numbered (the first objects of every image).
struct Roots {
    globals: u32,
    registry: u32,
    main_thread: u32,
    string_metatable: Option<u32>,
    type_metatables: [Option<u32>; crate::state::TYPE_METATABLES],
    finalizable: Box<[Val]>,
    pending_finalizers: Box<[Val]>,
    finalizing: Val,
    full_collection_requested: bool,
    collection_wait: usize,
}

impl<'gc> Capture<'gc> {
    /// A capture of `state`, its buffers sized by `hint` (see `capture`).
    fn new(state: &State<'gc>, hint: (usize, usize, usize)) -> Self {
        let (objects_hint, strings_hint, slots_hint) = hint;
        // (No hint: a few objects hashed, not a walk.)
        let least = if hint == (0, 0, 0) { 32 } else { 1024 };
        Capture {
            permanents: state.functions.permanents.borrow().clone(),
            objects: Numbering::with_capacity(objects_hint.max(least) + objects_hint / 8),
            strings: Numbering::with_capacity(strings_hint.max(least) + strings_hint / 8),
            // (Address 0 is no string's.)
            recent_strings: [(0, 0); RECENT_STRINGS],
            slots: Vec::with_capacity(slots_hint + slots_hint / 8),
            slots_base: 0,
        }
    }

    /// Numbers what the root state refers to, in a fixed order.
    fn roots(&mut self, state: &State<'gc>) -> Roots {
        let globals = self.obj(ObjRef::Table(state.globals));
        let registry = self.obj(ObjRef::Table(state.registry));
        let main_thread = self.obj(ObjRef::Thread(state.main_thread));
        let string_metatable = state
            .string_metatable
            .get()
            .map(|t| self.obj(ObjRef::Table(t)));
        let type_metatables = state
            .type_metatables
            .get()
            .map(|mt| mt.map(|t| self.obj(ObjRef::Table(t))));
        let gc = state.gc.borrow();
        Roots {
            globals,
            registry,
            main_thread,
            string_metatable,
            type_metatables,
            finalizable: self.vals(&gc.finalizable.0),
            pending_finalizers: self.vals(&gc.pending),
            finalizing: self.val(gc.finalizing),
            full_collection_requested: gc.full_collection_requested,
            collection_wait: gc.collection_wait,
        }
    }
}

/// Walks the VM from its root and the host's live handles into an image. `hint` is the size
/// of a previous image of this VM (to allocate once).
pub(crate) fn capture<'gc>(
    state: &State<'gc>,
    hint: (usize, usize, usize),
) -> Result<Image, SnapshotError> {
    let mut c = Capture::new(state, hint);
    let roots = c.roots(state);
    // Everything reachable from the root first, then what only host handles reach: the
    // numbering (and so the checksum) of the script's objects does not depend on handles.
    let mut objects = Vec::with_capacity(c.objects.len());
    while let Some((_, r)) = c.objects.next_pending() {
        c.encode_into(r, &mut objects)?;
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
        c.encode_into(r, &mut objects)?;
    }
    // The checksum's part: what of S the image's members do not account for (the tracker
    // was flushed by the caller), and the members' hashes (`Image::member_hashes`).
    let member_hash_cache = std::sync::OnceLock::new();
    let tracking = state.journal.with_tracker(|t| {
        let mut rest = t.sum();
        let mut outside = Vec::new();
        let mut hashes = Vec::with_capacity(c.objects.len());
        for i in 0..c.objects.len() as u32 {
            let Some(r) = c.objects.item(i).copied() else {
                break;
            };
            if r.member().is_none() {
                continue;
            }
            match t.cached(r.address()) {
                Some(h) => {
                    rest = rest.wrapping_sub(h);
                    hashes.push((i, h));
                }
                None => outside.push(i),
            }
        }
        let _ = member_hash_cache.set(hashes.into_boxed_slice());
        TrackingImg {
            rest,
            outside: outside.into_boxed_slice(),
        }
    });
    let mut strings = Vec::with_capacity(c.strings.len());
    let mut string_ids = Vec::new();
    while let Some((_, s)) = c.strings.next_pending() {
        let id = s.0.script_id.get();
        if id != 0 {
            string_ids.push((strings.len() as u32, id));
        }
        strings.push((s.content_hash(), StrBytes::Own(s.shared_bytes())));
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
        string_ids,
        short_strings: std::sync::Arc::from(&[][..]),
        objects,
        slots: c.slots,
        globals: roots.globals,
        registry: roots.registry,
        main_thread: roots.main_thread,
        string_metatable: roots.string_metatable,
        type_metatables: roots.type_metatables,
        finalizable: roots.finalizable,
        pending_finalizers: roots.pending_finalizers,
        finalizing: roots.finalizing,
        full_collection_requested: roots.full_collection_requested,
        collection_wait: roots.collection_wait,
        value_handles,
        executor_handles,
        permanents: state.functions.permanents.borrow().clone(),
        tracking,
        member_hash_cache,
    })
    .inspect(|image| {
        // The checksum cache's hashes are the image's own.
        debug_assert_eq!(
            image.member_hashes(),
            &image.compute_member_hashes()[..],
            "a member's cached hash differs from its image's"
        );
    })
}

/// Hashes live members (a capture's encoder whose numbering resolves references).
pub(crate) struct LiveHasher<'gc>(Capture<'gc>);

impl<'gc> LiveHasher<'gc> {
    pub(crate) fn new(state: &State<'gc>) -> Self {
        LiveHasher(Capture::new(state, (0, 0, 0)))
    }
}

impl<'gc> HashMember<'gc> for LiveHasher<'gc> {
    fn hash(&mut self, m: Member<'gc>) -> Result<(u64, Option<Vec<u64>>), SnapshotError> {
        let c = &mut self.0;
        let o = c.encode(m.into())?;
        let mut pages = Vec::new();
        let h = member_hash_pages(&o, &c.slots, c.slots_base, &*c, Some(&mut pages));
        c.slots_base += c.slots.len();
        c.slots.clear();
        // (A table hashed by pages has at least one.)
        Ok((h, (!pages.is_empty()).then_some(pages)))
    }

    fn page(&mut self, t: Table<'gc>, page: usize) -> Option<u64> {
        let st = t.0.state.try_borrow().ok()?;
        let start = page.checked_mul(crate::journal::ARRAY_PAGE)?;
        let end = (start + crate::journal::ARRAY_PAGE).min(st.array.len());
        let slots = st.array.get(start..end)?;
        Some(page_hash(t.id(), page, slots.len(), |h, k| {
            let (v, one) = live_val(slots[k]);
            hash_val(h, v, &one);
        }))
    }
}

/// A live value as an image value whose one reference (index 0) `OneRef` resolves.
fn live_val(v: Value<'_>) -> (Val, OneRef) {
    let mut one = OneRef {
        string: 0,
        object: Ident(0, 0),
    };
    let val = match v {
        Value::Nil => Val::Nil,
        Value::Boolean(b) => Val::Boolean(b),
        Value::Integer(i) => Val::Integer(i),
        Value::Float(f) => Val::Float(f),
        Value::String(s) => {
            one.string = s.content_hash();
            Val::Str(0)
        }
        _ => match ObjRef::of_value(v) {
            Some(r) => {
                one.object = r.identity();
                Val::Obj(0)
            }
            None => Val::Nil,
        },
    };
    (val, one)
}

/// Members with their hashes, and the numbers of objects and strings walked (a hint).
pub(crate) type RootMembers<'gc> = (Vec<(Member<'gc>, u64)>, (usize, usize));

/// The members the root reaches, with their hashes (where a VM's first checksum starts, and
/// what the checksum of an image without tracking sums). Fails where `capture` fails.
pub(crate) fn root_members<'gc>(
    state: &State<'gc>,
    hint: (usize, usize, usize),
) -> Result<RootMembers<'gc>, SnapshotError> {
    let (objects, strings, _) = hint;
    let mut c = Capture::new(state, (objects, strings, 0));
    c.roots(state);
    let mut members = Vec::with_capacity(objects);
    while let Some((_, r)) = c.objects.next_pending() {
        let o = c.encode(r)?;
        if let Some(m) = r.member() {
            members.push((m, member_hash(&o, &c.slots, c.slots_base, &c)));
        }
        c.slots_base += c.slots.len();
        c.slots.clear();
    }
    Ok((members, (c.objects.len(), c.strings.len())))
}

/// The checksum of the VM whose sum of member hashes is `sum` (see `checksum`).
pub(crate) fn root_checksum(state: &State<'_>, sum: u64) -> u64 {
    let mut c = Capture::new(state, (0, 0, 0));
    let roots = c.roots(state);
    let obj = |i: u32| c.object(i);
    let type_metatables = roots.type_metatables.map(|m| m.map(obj));
    RootState {
        next_id: state.next_id.get(),
        globals: obj(roots.globals),
        registry: obj(roots.registry),
        main_thread: obj(roots.main_thread),
        string_metatable: roots.string_metatable.map(obj),
        type_metatables: &type_metatables,
        finalizable: &roots.finalizable,
        pending_finalizers: &roots.pending_finalizers,
        finalizing: roots.finalizing,
        full_collection_requested: roots.full_collection_requested,
        collection_wait: roots.collection_wait,
        pacing: state.memory.pacing(),
    }
    .checksum(&c, sum)
}
