//! Validation of an image read from untrusted bytes (`bytes::read_image`), before anything
//! is built. `rebuild` already checks that every index is in range and names an object of
//! the right kind; the interpreter and the executor, however, index stacks and code with
//! frame fields and rely on invariants that running code maintains. An image from bytes
//! must satisfy them too, or a restored VM could reach a state where an index is out of
//! range. Checked here:
//!
//! - **Roots**: `globals`, `registry`, the metatables are tables, `main_thread` a thread;
//!   every `Val` names an existing string or a value object (table, closure, callback,
//!   thread, userdata); finalizer lists hold tables or userdata.
//! - **Ids**: script ids below `next_id`, host ids (`HOST_ID_BIT`) below `next_host_id`,
//!   no id used twice; long strings' ids (`string_ids`) name long strings, in order; `script_bytes` and thread charges within sane bounds (memory
//!   arithmetic cannot overflow).
//! - **Handles**: sorted by serial, without duplicates (they are binary-searched); executor
//!   handles name executors.
//! - **Prototypes**: constants equal the prototype's constants (so the verifier's
//!   conclusions about constant kinds hold); children are prototype objects of exactly the
//!   prototype's nested functions, in order.
//! - **Closures**: their prototype is a prototype object, with as many upvalues as it
//!   declares.
//! - **Tables**: no nil or NaN keys, no float key with an integer value (keys are
//!   normalized), no key twice;
//!   `tombstones` equals the entries with a nil value; capacities at least the lengths;
//!   only known flags.
//! - **Threads**: stack within `MAX_STACK_SLOTS`, frames within `MAX_FRAMES`. Frames are
//!   stacked: each frame's function slot (Lua) or base (continuation) is at or above the
//!   previous frame's base. A Lua frame's closure is a closure; `func < base`, `base` is
//!   `func + 1` (not vararg, no varargs) or `func + 1 + num_params + num_varargs` (vararg),
//!   `stack_end == base + max_stack_size`, `pc < code.len()`, `base <= top <=
//!   MAX_STACK_SLOTS`; the running thread of an executor (the last of its chain), if its top
//!   frame is a Lua frame, has that frame's `stack_end` and `top` within its stack;
//!   a continuation's base is within the stack; a frame returning with `Returns::Meta`
//!   sits on a Lua frame. Open upvalues: open upvalue objects of this thread, slots strictly
//!   increasing and within the stack, and every open upvalue object is listed by exactly
//!   its own thread. To-be-closed slots strictly increasing and within the stack. A thread
//!   not started has no frames, open upvalues or to-be-closed slots (an executor's: a
//!   function in slot 0 to run); a suspended started thread has its open upvalues and
//!   to-be-closed slots below its resume slot (a resume truncates the stack there); a dead
//!   thread has no open upvalues;
//!   a suspended started thread's resume slot is within its stack. The preemption markers'
//!   names (`(resuming)`, `(preempted)`) only with their own continuations.
//! - **Executors**: at least one thread; no thread in two executors' chains or twice in one.

use hashbrown::HashSet;

use super::image::*;
use super::SnapshotError;
use crate::executor::{MAX_FRAMES, MAX_STACK_SLOTS};
use crate::thread::{Returns, ThreadStatus};
use lunette_compiler::{Constant, Instruction};

fn corrupt<T>(why: &'static str) -> Result<T, SnapshotError> {
    Err(SnapshotError::Corrupt(why))
}

/// The largest `script_bytes` or charge an image may claim (far beyond any real heap, far
/// from overflowing memory arithmetic).
const MAX_BYTES_CLAIM: usize = 1 << 48;

/// Hash parts up to this many entries are checked for duplicate keys pairwise.
const SMALL_TABLE: usize = 8;

#[derive(PartialEq, Eq, Hash)]
enum Key<'a> {
    Bool(bool),
    Int(i64),
    Float(u64),
    Str(&'a [u8]),
    Obj(u32),
}

struct Check<'a> {
    img: &'a Image,
}

impl<'a> Check<'a> {
    fn val(&self, v: Val) -> Result<(), SnapshotError> {
        match v {
            Val::Str(i) if i as usize >= self.img.strings.len() => corrupt("string index"),
            Val::Obj(i) => match self.img.objects.get(i as usize) {
                Some(
                    Obj::Table { .. }
                    | Obj::Closure { .. }
                    | Obj::Callback { .. }
                    | Obj::Thread(_)
                    | Obj::UserData { .. },
                ) => Ok(()),
                _ => corrupt("value refers to a non-value object"),
            },
            _ => Ok(()),
        }
    }
    fn vals(&self, vs: &[Val]) -> Result<(), SnapshotError> {
        vs.iter().try_for_each(|v| self.val(*v))
    }
    fn obj(&self, i: u32) -> Result<&'a Obj, SnapshotError> {
        self.img
            .objects
            .get(i as usize)
            .ok_or(SnapshotError::Corrupt("reference to a missing object"))
    }
    fn table(&self, i: u32) -> Result<(), SnapshotError> {
        match self.obj(i)? {
            Obj::Table { .. } => Ok(()),
            _ => corrupt("expected a table"),
        }
    }
    fn thread(&self, i: u32) -> Result<&'a ThreadImg, SnapshotError> {
        match self.obj(i)? {
            Obj::Thread(t) => Ok(t),
            _ => corrupt("expected a thread"),
        }
    }
    fn then(&self, t: &ThenImg) -> Result<(), SnapshotError> {
        // A resumable continuation's state is its resumable object, and only its.
        let resumable = matches!(t.state, Val::Obj(i)
            if matches!(self.img.objects.get(i as usize), Some(Obj::Resumable { .. })));
        if resumable
            != (t.func as usize
                == crate::resumable::resume_state as crate::function::ContinuationFn as usize)
        {
            return corrupt("resumable state without its continuation, or the reverse");
        }
        if !resumable {
            self.val(t.state)?;
        }
        self.val(t.handler)?;
        let marker = t.name == crate::executor::RESUMING || t.name == crate::executor::PREEMPTED;
        if marker && !crate::executor::is_marker_continuation(t.name, t.func) {
            return corrupt("preemption marker name on another continuation");
        }
        if t.name == crate::executor::RESUMING
            && !matches!(t.state, Val::Obj(i) if self.thread(i).is_ok())
        {
            return corrupt("resume marker without a thread");
        }
        Ok(())
    }
    fn key(&self, v: Val) -> Result<Key<'a>, SnapshotError> {
        Ok(match v {
            Val::Nil => return corrupt("nil table key"),
            Val::Boolean(b) => Key::Bool(b),
            Val::Integer(i) => Key::Int(i),
            Val::Float(f) => {
                if f.is_nan() {
                    return corrupt("NaN table key");
                }
                if crate::number::float_to_int(f).is_some() {
                    return corrupt("float table key with an integer value");
                }
                Key::Float(f.to_bits())
            }
            Val::Str(i) => Key::Str(
                self.img
                    .strings
                    .get(i as usize)
                    .map(|(_, b)| &**b)
                    .ok_or(SnapshotError::Corrupt("string index"))?,
            ),
            Val::Obj(i) => Key::Obj(i),
        })
    }
}

pub(crate) fn validate(img: &Image) -> Result<(), SnapshotError> {
    let c = Check { img };
    c.table(img.globals)?;
    c.table(img.registry)?;
    c.thread(img.main_thread)?;
    if let Some(t) = img.string_metatable {
        c.table(t)?;
    }
    for t in img.type_metatables.into_iter().flatten() {
        c.table(t)?;
    }
    for v in img.finalizable.iter().chain(img.pending_finalizers.iter()) {
        match v {
            Val::Obj(i) if matches!(c.obj(*i)?, Obj::Table { .. } | Obj::UserData { .. }) => {}
            _ => return corrupt("finalizer list holds a non-object"),
        }
    }
    c.val(img.finalizing)?;
    if img.script_bytes > MAX_BYTES_CLAIM {
        return corrupt("script byte count out of range");
    }
    if !crate::state::is_host_id(img.next_host_id) || crate::state::is_host_id(img.next_id) {
        return corrupt("id counters out of range");
    }
    if img.pacing.pause > 1_000_000 {
        return corrupt("collector pause out of range");
    }
    for w in img.value_handles.windows(2) {
        if w[0].0 >= w[1].0 {
            return corrupt("value handles not sorted");
        }
    }
    for (_, v) in &img.value_handles {
        c.val(*v)?;
    }
    for w in img.executor_handles.windows(2) {
        if w[0].0 >= w[1].0 {
            return corrupt("executor handles not sorted");
        }
    }
    for (_, e) in &img.executor_handles {
        if !matches!(c.obj(*e)?, Obj::Executor { .. }) {
            return corrupt("executor handle to a non-executor");
        }
    }

    // Long strings' script ids (`%p`): by index, of long strings, below `next_id`.
    let mut previous = None;
    for &(i, id) in &img.string_ids {
        let long = img
            .strings
            .get(i as usize)
            .is_some_and(|(_, b)| b.len() > crate::string::MAX_INTERNED_LEN);
        if !long || id == 0 || id >= img.next_id || previous.is_some_and(|p| p >= i) {
            return corrupt("bad string id");
        }
        previous = Some(i);
    }

    let mut ids = HashSet::with_capacity(img.objects.len());
    // One set for every table's keys (cleared for each), one list for small tables.
    let mut keys: HashSet<Key<'_>> = HashSet::new();
    let mut small: Vec<Key<'_>> = Vec::with_capacity(SMALL_TABLE);
    // Which thread lists each open upvalue (index → thread).
    let mut open_owner: Vec<Option<u32>> = vec![None; img.objects.len()];
    let mut in_chain = vec![false; img.objects.len()];
    for (i, o) in img.objects.iter().enumerate() {
        if let Some(id) = object_id(o) {
            let ok = if crate::state::is_host_id(id) {
                id < img.next_host_id
            } else {
                id < img.next_id
            };
            if !ok || !ids.insert(id) {
                return corrupt("object id out of range or used twice");
            }
        }
        match o {
            Obj::Table {
                id: _,
                flags,
                array,
                entries,
                array_capacity,
                entries_capacity,
                tombstones,
                metatable,
            } => {
                if flags
                    & !(crate::table::GC_FLAG_FINALIZER
                        | crate::table::GC_FLAG_WEAK
                        | crate::table::FLAG_FROZEN)
                    != 0
                {
                    return corrupt("unknown table flags");
                }
                if let Some(m) = metatable {
                    c.table(*m)?;
                }
                let arr = img.slot_range(*array, 1)?;
                let kv = img.slot_range(*entries, 2)?;
                if *array_capacity < arr.len() || *entries_capacity < kv.len() / 2 {
                    return corrupt("table capacity below its length");
                }
                c.vals(arr)?;
                keys.clear();
                small.clear();
                let mut nils = 0;
                for pair in kv.chunks_exact(2) {
                    let k = c.key(pair[0])?;
                    c.val(pair[0])?;
                    c.val(pair[1])?;
                    // Small hash parts (most tables) are compared pairwise, bigger ones
                    // through a set.
                    let twice = if kv.len() <= 2 * SMALL_TABLE {
                        let seen = small.contains(&k);
                        small.push(k);
                        seen
                    } else {
                        !keys.insert(k)
                    };
                    if twice {
                        return corrupt("table key twice");
                    }
                    if pair[1] == Val::Nil {
                        nils += 1;
                    }
                }
                if nils != *tombstones {
                    return corrupt("tombstone count");
                }
            }
            Obj::Proto {
                proto,
                constants,
                children,
            } => {
                if constants.len() != proto.constants.len()
                    || children.len() != proto.prototypes.len()
                {
                    return corrupt("prototype object does not match its prototype");
                }
                for (v, k) in constants.iter().zip(&proto.constants) {
                    let same = match (v, k) {
                        (Val::Nil, Constant::Nil) => true,
                        (Val::Boolean(a), Constant::Boolean(b)) => a == b,
                        (Val::Integer(a), Constant::Integer(b)) => a == b,
                        (Val::Float(a), Constant::Float(b)) => a.to_bits() == b.to_bits(),
                        (Val::Str(i), Constant::String(s)) => img
                            .strings
                            .get(*i as usize)
                            .is_some_and(|(_, b)| **b == **s),
                        _ => false,
                    };
                    if !same {
                        return corrupt("prototype constant differs from its prototype");
                    }
                }
                for (ci, p) in children.iter().zip(&proto.prototypes) {
                    match c.obj(*ci)? {
                        Obj::Proto { proto: child, .. } if std::sync::Arc::ptr_eq(child, p) => {}
                        _ => return corrupt("prototype child does not match"),
                    }
                }
            }
            Obj::Closure {
                id: _,
                script_id,
                proto,
                upvalues,
            } => {
                let Obj::Proto { proto: p, .. } = c.obj(*proto)? else {
                    return corrupt("closure without prototype");
                };
                if upvalues.len() != p.upvalues.len() {
                    return corrupt("closure upvalue count differs from its prototype's");
                }
                for u in upvalues.iter() {
                    if !matches!(c.obj(*u)?, Obj::UpValueOpen { .. } | Obj::UpValueClosed(_)) {
                        return corrupt("expected an upvalue");
                    }
                }
                if *script_id >= img.next_id {
                    return corrupt("script id out of range");
                }
            }
            Obj::UpValueOpen { thread, slot } => {
                let t = c.thread(*thread)?;
                if *slot >= t.stack.len() {
                    return corrupt("open upvalue outside its thread's stack");
                }
            }
            Obj::UpValueClosed(v) => c.val(*v)?,
            Obj::Callback { upvalue, .. } => c.val(*upvalue)?,
            Obj::Resumable { key, fields } => {
                // The stream's own structure is checked by the kind's reader at rebuild.
                if img.permanents.resumable_reader(*key).is_none() {
                    return corrupt("resumable state of an unknown kind");
                }
                c.vals(fields)?;
            }
            Obj::Thread(t) => {
                thread(&c, i as u32, t, &mut open_owner)?;
                if t.script_id >= img.next_id {
                    return corrupt("script id out of range");
                }
            }
            Obj::UserData {
                flags, metatable, ..
            } => {
                if flags & !crate::table::GC_FLAG_FINALIZER != 0 {
                    return corrupt("unknown userdata flags");
                }
                if let Some(m) = metatable {
                    c.table(*m)?;
                }
            }
            Obj::Executor {
                threads,
                result,
                traceback: _,
                interrupt,
            } => {
                if let Some(v) = interrupt {
                    c.val(*v)?;
                }
                if threads.is_empty() {
                    return corrupt("executor without a thread");
                }
                let main = c.thread(threads[0])?;
                if !main.started && main.stack.is_empty() {
                    return corrupt("executor with nothing to run");
                }
                for t in threads.iter() {
                    c.thread(*t)?;
                    let seen = &mut in_chain[*t as usize];
                    if *seen {
                        return corrupt("thread in two executor chains");
                    }
                    *seen = true;
                }
                // The chain's running thread continues in the interpreter if its top frame
                // is a Lua frame: its registers must exist.
                let running = c.thread(threads[threads.len() - 1])?;
                if let Some(FrameImg::Lua { frame, .. }) = running.frames.last() {
                    let len = running.stack.len();
                    if frame.stack_end > len {
                        return corrupt("running Lua frame beyond its stack");
                    }
                    running_frame(&c, running, frame)?;
                }
                if let Some(Err(v)) = result {
                    c.val(*v)?;
                }
            }
        }
    }
    for (i, o) in img.objects.iter().enumerate() {
        if let Obj::UpValueOpen { thread, .. } = o {
            if open_owner[i] != Some(*thread) {
                return corrupt("open upvalue not listed by its thread");
            }
        }
    }
    Ok(())
}

fn thread(
    c: &Check<'_>,
    me: u32,
    t: &ThreadImg,
    open_owner: &mut [Option<u32>],
) -> Result<(), SnapshotError> {
    let ThreadImg {
        id: _,
        script_id: _,
        charged,
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
        resume_returns: _,
        hook,
        capacities,
    } = t;
    let len = stack.len();
    c.val(hook.func)?;
    if hook.mask > 15 {
        return corrupt("bad hook mask");
    }
    if len > MAX_STACK_SLOTS || frames.len() > MAX_FRAMES {
        return corrupt("thread too big");
    }
    if *charged > MAX_BYTES_CLAIM {
        return corrupt("thread charge out of range");
    }
    let lens = [len, frames.len(), open_upvalues.len(), tbc_slots.len()];
    if capacities.iter().zip(lens).any(|(c, l)| *c < l) {
        return corrupt("thread capacity below its length");
    }
    c.vals(stack)?;
    let mut floor = 0usize;
    // The Lua frame below the current one (its caller), with its code.
    let mut below: Option<(LuaFrameFields, &[Instruction])> = None;
    for f in frames.iter() {
        let returns = match f {
            FrameImg::Lua { closure, frame } => {
                let Obj::Closure { proto, .. } = c.obj(*closure)? else {
                    return corrupt("Lua frame without a closure");
                };
                let Obj::Proto { proto: p, .. } = c.obj(*proto)? else {
                    return corrupt("closure without prototype");
                };
                let LuaFrameFields {
                    func,
                    base,
                    stack_end,
                    pc,
                    num_varargs,
                    returns,
                    top,
                    is_tail: _,
                    concat_resume,
                } = *frame;
                let expected_base = if p.is_vararg {
                    func.checked_add(1 + p.num_params as usize)
                        .and_then(|b| b.checked_add(num_varargs))
                } else if num_varargs == 0 {
                    func.checked_add(1)
                } else {
                    None
                };
                if func < floor {
                    return corrupt("Lua frame below the previous frame");
                }
                if expected_base != Some(base) {
                    return corrupt("Lua frame's base does not match its arguments");
                }
                if base.checked_add(p.max_stack_size as usize) != Some(stack_end)
                    || stack_end >= MAX_STACK_SLOTS
                {
                    return corrupt("Lua frame's stack end out of range");
                }
                if pc > p.code.len() {
                    return corrupt("Lua frame's pc out of range");
                }
                if concat_resume {
                    let Some(Instruction::Concat { a, n }) = p.code.get(pc) else {
                        return corrupt("concat resume flag off a Concat");
                    };
                    let first = base + *a as usize;
                    if top <= first || top > first + *n as usize {
                        return corrupt("concat resume's top out of range");
                    }
                }
                if top < base || top > MAX_STACK_SLOTS {
                    return corrupt("Lua frame's top out of range");
                }
                floor = base;
                returns
            }
            FrameImg::Continuation {
                then,
                base,
                returns,
                ready,
                callee_name: _,
            } => {
                c.then(then)?;
                if let Some(OutcomeImg::Errored(v)) = ready {
                    c.val(*v)?;
                }
                if *base < floor || *base > len {
                    return corrupt("continuation frame out of range");
                }
                floor = *base;
                *returns
            }
        };
        if returns == Returns::Meta && below.is_none() {
            return corrupt("metamethod frame not above a Lua frame");
        }
        if let FrameImg::Continuation { then, .. } = f {
            if crate::hook::is_hook_done(then.func) && *status != ThreadStatus::Dead {
                // A Lua frame's hook steps the frame back to the traced instruction, which
                // then runs: it must be one the frame can run.
                match below {
                    Some((caller, code))
                        if caller.pc >= 1 && reads_top_ok(&caller, code, caller.pc - 1, len) => {}
                    _ => return corrupt("hook frame not above a Lua frame it can resume"),
                }
            }
        }
        // (A dead coroutine keeps its frames for tracebacks only: they never run again.)
        if let Some((caller, code)) = below.filter(|_| *status != ThreadStatus::Dead) {
            callee_fits(caller, code, f, returns)?;
        }
        below = match f {
            FrameImg::Lua { closure, frame } => match c.obj(*closure)? {
                Obj::Closure { proto, .. } => match c.obj(*proto)? {
                    Obj::Proto { proto, .. } => Some((*frame, &proto.code[..])),
                    _ => None,
                },
                _ => None,
            },
            FrameImg::Continuation { .. } => None,
        };
    }
    let mut previous = None;
    for u in open_upvalues.iter() {
        let Obj::UpValueOpen { thread, slot } = c.obj(*u)? else {
            return corrupt("closed upvalue in a thread's open list");
        };
        if *thread != me || previous.is_some_and(|p| p >= *slot) || *slot >= len {
            return corrupt("open upvalue list out of order or range");
        }
        previous = Some(*slot);
        let owner = &mut open_owner[*u as usize];
        if owner.is_some() {
            return corrupt("open upvalue listed twice");
        }
        *owner = Some(me);
    }
    for w in tbc_slots.windows(2) {
        if w[0] >= w[1] {
            return corrupt("to-be-closed slots out of order");
        }
    }
    if tbc_slots.last().is_some_and(|s| *s >= len) {
        return corrupt("to-be-closed slot outside the stack");
    }
    if let Some(v) = body {
        c.val(*v)?;
    }
    if let Some(v) = death_error {
        c.val(*v)?;
    }
    if let Some(t) = resume_then {
        c.then(t)?;
    }
    if !*started && (!frames.is_empty() || !open_upvalues.is_empty() || !tbc_slots.is_empty()) {
        return corrupt("thread not started with frames");
    }
    // A resume truncates the stack to the resume slot: what is open stays below it. A dead
    // thread's variables are closed.
    let highest_open = open_upvalues.last().and_then(|u| match c.obj(*u) {
        Ok(Obj::UpValueOpen { slot, .. }) => Some(*slot),
        _ => None,
    });
    if *started
        && *status == ThreadStatus::Suspended
        && (highest_open.is_some_and(|s| s >= *resume_slot)
            || tbc_slots.last().is_some_and(|s| *s >= *resume_slot))
    {
        return corrupt("open variable above a suspended thread's resume slot");
    }
    if *status == ThreadStatus::Dead && !open_upvalues.is_empty() {
        return corrupt("dead thread with open upvalues");
    }
    if *started && *status == ThreadStatus::Suspended && *resume_slot > len {
        return corrupt("resume slot outside the stack");
    }
    if *resume_slot > MAX_STACK_SLOTS {
        return corrupt("resume slot out of range");
    }
    Ok(())
}

/// A frame called by Lua frame `caller` (whose instruction at `pc - 1` made the call) must
/// return its results the way that instruction expects, from the slot it called: `Call`
/// (`Count(c - 1)`, or `Multi` with `c == 0`, at `base + a`), `TForCall` (`Count(c)` at
/// `base + a + 4`), `TailCall` of a Rust function (`Multi`); any instruction may have a
/// metamethod call (`Meta`) or an injected call (`Discard`, finalizers) pending.
fn callee_fits(
    caller: LuaFrameFields,
    code: &[Instruction],
    callee: &FrameImg,
    returns: Returns,
) -> Result<(), SnapshotError> {
    let Some(ins) = caller.pc.checked_sub(1).and_then(|i| code.get(i)) else {
        return corrupt("calling frame's pc out of range");
    };
    // The callee's function slot.
    let slot = match callee {
        FrameImg::Lua { frame, .. } => Some(frame.func),
        FrameImg::Continuation { base, .. } => base.checked_sub(1),
    };
    // An `xpcall` message handler runs above the frame that raised, whatever it was doing;
    // its continuation goes on unwinding, never back into that frame.
    let handler = matches!(callee, FrameImg::Continuation { then, .. }
        if crate::executor::is_message_handler_continuation(then.func));
    let fits = match (returns, *ins) {
        _ if handler => true,
        (Returns::Meta | Returns::Discard, _) => true,
        (Returns::Count(n), Instruction::Call { a, c, .. }) => {
            c != 0 && n as usize == c as usize - 1 && slot == Some(caller.base + a as usize)
        }
        (Returns::Multi, Instruction::Call { a, c: 0, .. }) => {
            slot == Some(caller.base + a as usize)
        }
        (Returns::Multi, Instruction::TailCall { a, .. }) => slot == Some(caller.base + a as usize),
        (Returns::Count(n), Instruction::TForCall { a, c }) => {
            n == c && slot == Some(caller.base + a as usize + 4)
        }
        _ => false,
    };
    if !fits {
        return corrupt("called frame does not match its caller's instruction");
    }
    if returns == Returns::Meta {
        if let Instruction::Concat { a, n } = ins {
            let first = caller.base + *a as usize;
            if caller.top <= first || caller.top > first + *n as usize {
                return corrupt("concatenation's top out of range");
            }
        }
    }
    Ok(())
}

/// The Lua frame an executor runs next (the top frame of its running thread) executes
/// `code[pc]`: it must exist, and an instruction that reads up to `top` (`Call`/`TailCall`
/// with `b == 0`, `Return` with `b == 0`, `SetList` with `n == 0`) needs `top` inside the
/// stack and at or above the first value it reads.
fn running_frame(
    c: &Check<'_>,
    t: &ThreadImg,
    frame: &LuaFrameFields,
) -> Result<(), SnapshotError> {
    let Some(FrameImg::Lua { closure, .. }) = t.frames.last() else {
        return Ok(());
    };
    let Obj::Closure { proto, .. } = c.obj(*closure)? else {
        return corrupt("Lua frame without a closure");
    };
    let Obj::Proto { proto, .. } = c.obj(*proto)? else {
        return corrupt("closure without prototype");
    };
    let Some(ins) = proto.code.get(frame.pc) else {
        return corrupt("running Lua frame's pc out of range");
    };
    let first = match *ins {
        Instruction::Call { a, b: 0, .. } | Instruction::TailCall { a, b: 0 } => {
            Some(frame.base + a as usize + 1)
        }
        Instruction::Return { a, b: 0, .. } => Some(frame.base + a as usize),
        Instruction::SetList { a, n: 0, .. } => Some(frame.base + a as usize + 1),
        _ => None,
    };
    if let Some(first) = first {
        if frame.top < first || frame.top > t.stack.len() {
            return corrupt("running Lua frame's top out of range");
        }
    }
    Ok(())
}

/// Whether Lua frame `frame` can run `code[pc]`: it exists, and if it reads up to `top`
/// (see `running_frame`), `top` is within the stack and at or above the first value read.
fn reads_top_ok(frame: &LuaFrameFields, code: &[Instruction], pc: usize, stack_len: usize) -> bool {
    let Some(ins) = code.get(pc) else {
        return false;
    };
    let first = match *ins {
        Instruction::Call { a, b: 0, .. } | Instruction::TailCall { a, b: 0 } => {
            Some(frame.base + a as usize + 1)
        }
        Instruction::Return { a, b: 0, .. } => Some(frame.base + a as usize),
        Instruction::SetList { a, n: 0, .. } => Some(frame.base + a as usize + 1),
        _ => None,
    };
    first.is_none_or(|first| frame.top >= first && frame.top <= stack_len)
}
