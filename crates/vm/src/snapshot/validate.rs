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
//!   no id used twice; long strings' ids (`string_ids`) name long strings, in order;
//!   `script_bytes` within sane bounds (memory arithmetic cannot overflow).
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
//!   only known flags. (The slots are checked as they are decoded, by [`SlotCheck`]:
//!   value references, keys, tombstones; references to objects decoded later are checked
//!   by `validate`.)
//! - **Threads**: stack within `MAX_STACK_SLOTS`, frames within `MAX_FRAMES`. Frames are
//!   stacked: each frame's function slot (Lua) or base (continuation) is at or above the
//!   previous frame's base. The thread's memory charge at most twice its object and buffers
//!   at their capacities (a charge may lag its buffers' growth, never exceed them; twice:
//!   pointer widths differ between writer and reader). A Lua frame's closure is a
//!   closure; `func < base`, `base` is
//!   `func + 1` (not vararg, no varargs) or `func + 1 + num_params + num_varargs` (vararg),
//!   `stack_end == base + max_stack_size`, `pc < code.len()`, `base <= top <=
//!   MAX_STACK_SLOTS`; the running thread of an executor (the last of its chain), if its top
//!   frame is a Lua frame, has that frame's `stack_end` and `top` within its stack;
//!   a continuation's base is within the stack; a frame returning with `Returns::Meta`
//!   sits on a Lua frame. A metamethod or discarded call above a Lua frame has its slot at
//!   or above the caller's `stack_end` (its return truncates the stack there), and after a
//!   discarded call that is not a hook's, the caller's next instruction can run with the
//!   stack cut at that slot (its `top`, if it reads one, within). Open upvalues: open upvalue objects of this thread, slots strictly
//!   increasing and within the stack, and every open upvalue object is listed by exactly
//!   its own thread. To-be-closed slots strictly increasing and within the stack. A thread
//!   not started has no frames, open upvalues or to-be-closed slots (an executor's: a
//!   function in slot 0 to run); a suspended started thread has its open upvalues and
//!   to-be-closed slots below its resume slot (a resume truncates the stack there); a dead
//!   thread has no open upvalues;
//!   a suspended started thread's resume slot is within its stack. The preemption markers'
//!   names (`(resuming)`, `(preempted)`) only with their own continuations.
//! - **Executors**: at least one thread; no thread in two executors' chains or twice in one.

use hashbrown::HashTable;

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

/// Whether a `Val::Obj` may name this object (the kinds a Lua value can be).
pub(crate) fn is_value_object(o: &Obj) -> bool {
    matches!(
        o,
        Obj::Table { .. }
            | Obj::Closure { .. }
            | Obj::Callback { .. }
            | Obj::Thread(_)
            | Obj::UserData { .. }
    )
}

/// Whether two table keys (normalized, checked by `SlotCheck::key_hash`) are the same key:
/// strings by contents, the rest by value (no NaN, no -0.0 among normalized keys).
fn same_key(strings: &[(u64, StrBytes)], short: &[u8], a: Val, b: Val) -> bool {
    match (a, b) {
        (Val::Str(i), Val::Str(j)) => {
            i == j
                || matches!((strings.get(i as usize), strings.get(j as usize)),
                    (Some(x), Some(y)) if x.0 == y.0
                        && bytes_of(&x.1, short) == bytes_of(&y.1, short))
        }
        _ => a == b,
    }
}

/// Checks made on table slots while an image is decoded (`bytes::read_object`), right
/// after each table's slots are read: every value names an existing string or object and
/// (objects already decoded) a value object; keys are normalized and unique; the tombstone
/// count is right. References to objects not decoded yet are kept for `validate`.
pub(crate) struct SlotCheck<'s> {
    strings: &'s [(u64, StrBytes)],
    /// `Image::short_strings`.
    short: &'s [u8],
    nobjects: usize,
    /// Whether each object decoded so far is a value object (`is_value_object`).
    pub(crate) is_value: Vec<bool>,
    /// Object references found in slots to objects not decoded when the slot was: checked
    /// against `is_value` once every object is decoded.
    pub(crate) forward: Vec<u32>,
    /// The hash part being decoded (`begin_entries`): whether it is small, a 256-bit set
    /// of its keys' hashes (small ones), its keys with their hashes (big ones), its nils.
    small: bool,
    bits: [u64; 4],
    big: HashTable<(u64, Val)>,
    /// Big hash parts hash their keys' hashes again with a per-read random seed: crafted
    /// keys whose fixed hashes agree in the bits a hash table uses cannot make it slow.
    seed: hashbrown::DefaultHashBuilder,
    nils: usize,
    /// The last key decoded was nil: its pair is a hole (a weak entry a collection
    /// cleared), whose value must be nil too.
    hole: bool,
}

/// What `validate` needs from decoding: `SlotCheck::is_value` and `SlotCheck::forward`.
pub(crate) struct Decoded {
    pub(crate) is_value: Vec<bool>,
    pub(crate) forward: Vec<u32>,
}

impl<'s> SlotCheck<'s> {
    /// For an image with these strings and `nobjects` objects; `is_value` with room for
    /// them (the caller counted it against its budget).
    pub(crate) fn new(
        strings: &'s [(u64, StrBytes)],
        short: &'s [u8],
        nobjects: usize,
        is_value: Vec<bool>,
    ) -> Self {
        SlotCheck {
            strings,
            short,
            nobjects,
            is_value,
            forward: Vec::new(),
            small: true,
            bits: [0; 4],
            big: HashTable::new(),
            seed: Default::default(),
            nils: 0,
            hole: false,
        }
    }

    pub(crate) fn finish(self) -> Decoded {
        Decoded {
            is_value: self.is_value,
            forward: self.forward,
        }
    }

    /// A slot's value, as it is decoded: its string or object exists; an object decoded
    /// already is a value object, a later one is remembered in `forward`. Returns how many
    /// bytes `forward` grew by (the caller's budget).
    #[inline(always)]
    pub(crate) fn val(&mut self, v: Val) -> Result<usize, SnapshotError> {
        match v {
            Val::Str(i) if i as usize >= self.strings.len() => corrupt("string index"),
            Val::Obj(i) => match self.is_value.get(i as usize) {
                Some(true) => Ok(0),
                Some(false) => corrupt("value refers to a non-value object"),
                None if (i as usize) < self.nobjects => {
                    self.forward.push(i);
                    // (Counted twice: the vector may double.)
                    Ok(2 * std::mem::size_of::<u32>())
                }
                None => corrupt("reference to a missing object"),
            },
            _ => Ok(0),
        }
    }

    /// A table key's hash, after checking it is a normalized key: no nil (holes are taken
    /// apart before), no NaN, no float with an integer value (strings hash by contents:
    /// their content hash).
    #[inline]
    fn key_hash(&self, k: Val) -> Result<u64, SnapshotError> {
        let (tag, bits) = match k {
            Val::Nil => return corrupt("nil table key"),
            Val::Boolean(b) => (1, b as u64),
            Val::Integer(i) => (2, i as u64),
            Val::Float(f) => {
                if f.is_nan() {
                    return corrupt("NaN table key");
                }
                if crate::number::float_to_int(f).is_some() {
                    return corrupt("float table key with an integer value");
                }
                (3, f.to_bits())
            }
            Val::Str(i) => {
                return self
                    .strings
                    .get(i as usize)
                    .map(|s| s.0)
                    .ok_or(SnapshotError::Corrupt("string index"))
            }
            Val::Obj(i) => (4, i as u64),
        };
        // A multiplicative mix: the high bits (which hashbrown uses) depend on every bit.
        Ok((bits ^ tag << 60)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(29)
            ^ bits.wrapping_mul(0xc2b2_ae3d_27d4_eb4f))
    }

    /// A table's hash part of `entries` key/value pairs is decoded next (`key` and
    /// `value` for each, then `end_entries`).
    #[inline]
    pub(crate) fn begin_entries(&mut self, entries: usize) {
        self.small = entries <= SMALL_TABLE;
        self.bits = [0; 4];
        if !self.small {
            self.big.clear();
        }
        self.nils = 0;
    }

    /// A key of the hash part, just decoded (and checked by `val`), after the pairs
    /// `earlier`: normalized, and unique (small parts: a 256-bit set of 8 bits of the keys'
    /// hashes, the keys themselves compared only when a key's bit is taken; big ones: a hash
    /// table of their keys), or nil for a hole (`table::free_slots`).
    #[inline(always)]
    pub(crate) fn key(&mut self, k: Val, earlier: &[Val]) -> Result<(), SnapshotError> {
        self.hole = k == Val::Nil;
        if self.hole {
            return Ok(());
        }
        let h = self.key_hash(k)?;
        let (strings, short) = (self.strings, self.short);
        if self.small {
            let top = h >> 56;
            let (word, bit) = ((top >> 6) as usize & 3, 1u64 << (top & 63));
            let w = self
                .bits
                .get_mut(word)
                .ok_or(SnapshotError::Corrupt("key"))?;
            if *w & bit != 0
                && earlier
                    .chunks_exact(2)
                    .any(|other| same_key(strings, short, other[0], k))
            {
                return corrupt("table key twice");
            }
            *w |= bit;
        } else {
            let h = std::hash::BuildHasher::hash_one(&self.seed, h);
            if self
                .big
                .find(h, |s| same_key(strings, short, s.1, k))
                .is_some()
            {
                return corrupt("table key twice");
            }
            self.big.insert_unique(h, (h, k), |s| s.0);
        }
        Ok(())
    }

    /// The value of the pair whose key `key` just took (and checked by `val`): nil in a
    /// hole.
    #[inline(always)]
    pub(crate) fn value(&mut self, v: Val) -> Result<(), SnapshotError> {
        self.nils += (v == Val::Nil) as usize;
        if self.hole && v != Val::Nil {
            return corrupt("a value without a key");
        }
        Ok(())
    }

    /// The hash part is decoded: it has `tombstones` nil values.
    pub(crate) fn end_entries(&self, tombstones: usize) -> Result<(), SnapshotError> {
        if self.nils != tombstones {
            return corrupt("tombstone count");
        }
        Ok(())
    }
}

struct Check<'a> {
    img: &'a Image,
    is_value: &'a [bool],
}

impl<'a> Check<'a> {
    fn val(&self, v: Val) -> Result<(), SnapshotError> {
        match v {
            Val::Str(i) if i as usize >= self.img.strings.len() => corrupt("string index"),
            Val::Obj(i) => match self.is_value.get(i as usize) {
                Some(true) => Ok(()),
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
}

/// Checks `img`, decoded from bytes, whose table slots `SlotCheck` checked as they were
/// decoded (`decoded`: which objects are values, and the slots' references to objects
/// decoded after them).
pub(crate) fn validate(img: &Image, decoded: &Decoded) -> Result<(), SnapshotError> {
    if decoded.is_value.len() != img.objects.len() {
        return corrupt("object count");
    }
    let c = Check {
        img,
        is_value: &decoded.is_value,
    };
    for i in &decoded.forward {
        c.val(Val::Obj(*i))?;
    }
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

    // Every object id (script ids, host ids), checked for duplicates after the loop.
    let mut ids = Vec::with_capacity(img.objects.len());
    let mut host_ids = Vec::new();
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
            if !ok {
                return corrupt("object id out of range or used twice");
            }
            if crate::state::is_host_id(id) {
                host_ids.push(id);
            } else {
                ids.push(id);
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
                tombstones: _, // with the slots, by `SlotCheck::end_entries`
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
                // Values, keys and tombstones: checked while decoding (`SlotCheck`).
                let arr = img.slot_range(*array, 1)?;
                let kv = img.slot_range(*entries, 2)?;
                if *array_capacity < arr.len() || *entries_capacity < kv.len() / 2 {
                    return corrupt("table capacity below its length");
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
                            .is_some_and(|(_, b)| img.bytes_of(b) == &**s),
                        _ => false,
                    };
                    if !same {
                        return corrupt("prototype constant differs from its prototype");
                    }
                }
                for (ci, p) in children.iter().zip(&proto.prototypes) {
                    match c.obj(*ci)? {
                        Obj::Proto { proto: child, .. }
                            if std::sync::Arc::ptr_eq(child.arc(), p) => {}
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
            Obj::Callback(cb) => c.val(cb.upvalue)?,
            Obj::Resumable(r) => {
                // The stream's own structure is checked by the kind's reader at rebuild.
                if img.permanents.resumable_reader(r.key).is_none() {
                    return corrupt("resumable state of an unknown kind");
                }
                c.vals(&r.fields)?;
            }
            Obj::Thread(t) => {
                thread(&c, i as u32, t, &mut open_owner)?;
                if t.script_id >= img.next_id {
                    return corrupt("script id out of range");
                }
            }
            Obj::UserData(u) => {
                if u.flags & !crate::table::GC_FLAG_FINALIZER != 0 {
                    return corrupt("unknown userdata flags");
                }
                if let Some(m) = u.metatable {
                    c.table(m)?;
                }
            }
            Obj::Executor(e) => {
                let ExecutorImg {
                    threads,
                    result,
                    traceback: _,
                    interrupt,
                    waits_for_collection: _,
                } = &**e;
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
    if !distinct(&mut ids) || !distinct(&mut host_ids) {
        return corrupt("object id out of range or used twice");
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

/// Whether `ids` holds no value twice. Ids come from a counter, so an image's are usually
/// dense: then a bitmap over their range (at most 8 bytes per id, plus 8 KiB), else sorting.
fn distinct(ids: &mut [u64]) -> bool {
    let (min, max) = ids
        .iter()
        .fold((u64::MAX, 0), |(lo, hi), &id| (lo.min(id), hi.max(id)));
    let Some(span) = max.checked_sub(min) else {
        return true; // no ids
    };
    if span
        <= (ids.len() as u64)
            .saturating_mul(64)
            .saturating_add(1 << 16)
    {
        let mut bits = vec![0u64; (span / 64 + 1) as usize];
        for id in ids.iter() {
            let offset = id - min;
            let Some(word) = bits.get_mut((offset / 64) as usize) else {
                return false; // (cannot happen: every id is within the span)
            };
            let bit = 1u64 << (offset % 64);
            if *word & bit != 0 {
                return false;
            }
            *word |= bit;
        }
        true
    } else {
        ids.sort_unstable();
        ids.windows(2).all(|w| w[0] != w[1])
    }
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
    let lens = [len, frames.len(), open_upvalues.len(), tbc_slots.len()];
    if capacities.iter().zip(lens).any(|(c, l)| *c < l) {
        return corrupt("thread capacity below its length");
    }
    if *charged > MAX_BYTES_CLAIM || *charged > max_thread_charge(capacities) {
        return corrupt("thread charge beyond its buffers");
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

/// The most a thread may be charged: its object and its buffers at the image's capacities
/// (`ThreadState::bytes`: a charge lags its buffers' growth until the next resync, and never
/// exceeds them), counted twice over, so an image written where pointers are bigger (64
/// against 32 bits) keeps its charges. So an image's threads cannot claim memory their
/// buffers, which the decoder counted against its budget, do not justify.
fn max_thread_charge(capacities: &[usize; 4]) -> usize {
    use std::mem::size_of;
    let sizes = [
        size_of::<crate::value::Value<'static>>(),
        size_of::<crate::thread::Frame<'static>>(),
        size_of::<usize>(),
        size_of::<usize>(),
    ];
    capacities
        .iter()
        .zip(sizes)
        .fold(crate::thread::THREAD_BYTES, |n, (c, s)| {
            n.saturating_add(c.saturating_mul(s))
        })
        .saturating_mul(2)
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
    // An `xpcall` message handler, or the build of a long error message, runs above the
    // frame that raised, whatever it was doing; its continuation goes on unwinding, never
    // back into that frame.
    let handler = matches!(callee, FrameImg::Continuation { then, .. }
        if crate::executor::is_raising_continuation(then.func));
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
    if matches!(returns, Returns::Meta | Returns::Discard) && !handler {
        // Such calls are pushed above the caller's registers, and their return truncates
        // the stack to their slot: below `stack_end` it would cut the caller's registers.
        let Some(slot) = slot.filter(|s| *s >= caller.stack_end) else {
            return corrupt("metamethod or discarded call inside its caller's registers");
        };
        // After a discarded call (a finalizer, a preemption marker) the caller runs its
        // next instruction with the stack cut at `slot`; a hook's frame resumes the traced
        // instruction instead (checked by the caller of this function).
        let hook = matches!(callee, FrameImg::Continuation { then, .. }
            if crate::hook::is_hook_done(then.func));
        if returns == Returns::Discard && !hook && !reads_top_ok(&caller, code, caller.pc, slot) {
            return corrupt("discarded call above an instruction that cannot run");
        }
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
    if proto.code.get(frame.pc).is_none() {
        return corrupt("running Lua frame's pc out of range");
    }
    if !reads_top_ok(frame, &proto.code, frame.pc, t.stack.len()) {
        return corrupt("running Lua frame's top out of range");
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
