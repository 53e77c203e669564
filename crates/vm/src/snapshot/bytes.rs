//! Images as bytes: [`Snapshot::to_bytes`] writes an owned snapshot's image,
//! [`Lua::snapshot_from_bytes`](crate::Lua::snapshot_from_bytes) reads it back in any
//! process (then `restore` as usual). The format is documented in `docs/image_format.md`;
//! it depends on neither the machine's endianness nor its pointer width.
//!
//! Writing needs no VM: Rust functions are written by their keys in the permanents table the
//! snapshot was captured with (`permanents`), and fails naming a function nobody registered.
//! Prototype trees are written once each, as lunette binary chunks
//! (`lunette_compiler::dump`); an image's prototype objects refer to (tree, pre-order index).
//!
//! Reading treats the bytes as untrusted, like source code from a stranger:
//! - it never panics, and runs in time linear in the input (no recursion: prototype trees
//!   are decoded by `undump`'s explicit stack);
//! - every count is checked against the bytes left before anything is reserved, and what is
//!   allocated (by capacity, buffer capacities recorded in the image included) is counted
//!   against a budget: what the reading VM's memory limit has left, and at most
//!   [`DECODE_BYTES_PER_INPUT_BYTE`] × input + [`DECODE_BASE_BYTES`] (a thread's stack
//!   capacity may exceed its length: the image keeps it so memory counts stay exact);
//! - names resolve against the reading VM's permanents table (a missing key is an error
//!   naming it), string hashes are recomputed, prototypes pass `undump`'s bytecode verifier;
//! - then `validate` checks every invariant the interpreter and executor rely on (the list
//!   is in its module docs) before anything is built, and `rebuild` checks indexes and kinds.

use hashbrown::{HashMap, HashSet};
use lunette_compiler::varint;
use std::sync::Arc;

use lunette_compiler::Prototype;

use crate::gc_unsafe::unchecked::VerifiedProto;

use super::image::*;
use super::{Snapshot, SnapshotError};
use crate::memory::CollectorPacing;
use crate::permanents::Permanents;
use crate::thread::{Returns, ThreadStatus};
use crate::userdata::CaptureFn;

/// The first bytes of every image: ESC, "LnIm", then PUC's corruption check (newline
/// conversions and a text-mode transfer would change it).
pub const IMAGE_MAGIC: &[u8] = b"\x1bLnIm\x19\x93\r\n\x1a\n";

/// The version of the image format this build writes and reads.
pub const IMAGE_FORMAT_VERSION: u8 = 5;

/// Flag: the image holds host handles (executors paused mid-step, stashed values).
const FLAG_HANDLES: u8 = 1;
/// Flag: the image holds userdata payloads.
const FLAG_USERDATA: u8 = 2;

/// At most this many bytes of decoded structures per byte of input (plus
/// [`DECODE_BASE_BYTES`]), whatever the memory limit.
pub const DECODE_BYTES_PER_INPUT_BYTE: usize = 256;

/// Decoded bytes allowed beyond the per-byte allowance (see [`DECODE_BYTES_PER_INPUT_BYTE`]).
pub const DECODE_BASE_BYTES: usize = 64 << 20;

// Object tags.
const T_TABLE: u8 = 0;
const T_PROTO: u8 = 1;
const T_CLOSURE: u8 = 2;
const T_UPVALUE_OPEN: u8 = 3;
const T_UPVALUE_CLOSED: u8 = 4;
const T_CALLBACK: u8 = 5;
const T_THREAD: u8 = 6;
const T_USERDATA: u8 = 7;
const T_EXECUTOR: u8 = 8;
const T_RESUMABLE: u8 = 9;

// ------------------------------------------------------------------------------ writing

struct Writer {
    out: Vec<u8>,
    /// The last object id written (ids are written as differences).
    last_id: u64,
    names: HashMap<&'static str, u32>,
    name_list: Vec<&'static str>,
}

impl Writer {
    fn uv(&mut self, v: u64) {
        varint::write_unsigned(&mut self.out, v);
    }
    fn us(&mut self, v: usize) {
        self.uv(v as u64);
    }
    #[inline]
    fn sv(&mut self, v: i64) {
        varint::write_signed(&mut self.out, v);
    }
    #[inline]
    fn u8(&mut self, v: u8) {
        self.out.push(v);
    }
    #[inline]
    fn bool(&mut self, v: bool) {
        self.out.push(v as u8);
    }
    #[inline]
    fn bytes(&mut self, b: &[u8]) {
        self.us(b.len());
        self.out.extend_from_slice(b);
    }
    #[inline]
    fn opt(&mut self, v: Option<u32>) {
        self.uv(v.map_or(0, |i| i as u64 + 1));
    }
    /// A value: one varint `payload << 3 | tag` (tags in the format docs), then, for a
    /// float, its bits byte-swapped as a varint (short for round numbers), for an integer
    /// too big to share the varint, its `sv`.
    fn val(&mut self, v: Val) {
        match v {
            Val::Nil => self.u8(0),
            Val::Boolean(false) => self.u8(1),
            Val::Boolean(true) => self.u8(2),
            Val::Integer(i) => {
                let z = ((i << 1) ^ (i >> 63)) as u64;
                if z < 1 << 61 {
                    self.uv(z << 3 | 3);
                } else {
                    self.u8(7);
                    self.sv(i);
                }
            }
            Val::Float(f) => {
                self.u8(4);
                self.uv(f.to_bits().swap_bytes());
            }
            Val::Str(i) => self.uv((i as u64) << 3 | 5),
            Val::Obj(i) => self.uv((i as u64) << 3 | 6),
        }
    }
    /// An object id, as the difference from the previous object id written.
    #[inline]
    fn id(&mut self, id: u64) {
        self.sv(id.wrapping_sub(self.last_id) as i64);
        self.last_id = id;
    }
    fn vals(&mut self, vs: &[Val]) {
        self.us(vs.len());
        for v in vs {
            self.val(*v);
        }
    }
    fn indexes(&mut self, is: &[u32]) {
        self.us(is.len());
        for i in is {
            self.uv(*i as u64);
        }
    }
    /// A name: its index in the image's name table.
    fn name(&mut self, n: &'static str) {
        let next = self.name_list.len() as u32;
        let i = *self.names.entry(n).or_insert(next);
        if i == next {
            self.name_list.push(n);
        }
        self.uv(i as u64);
    }
    fn returns(&mut self, r: Returns) {
        match r {
            Returns::Count(n) => {
                self.u8(0);
                self.u8(n);
            }
            Returns::Multi => self.u8(1),
            Returns::Meta => self.u8(2),
            Returns::Discard => self.u8(3),
        }
    }
    fn then(&mut self, p: &Permanents, t: &ThenImg) -> Result<(), SnapshotError> {
        let key = p.continuation_key(t.func).ok_or_else(|| {
            SnapshotError::Unsupported(format!(
                "the continuation '{}' is not registered in the permanents table \
                 (Context::register_permanents)",
                t.name
            ))
        })?;
        self.name(key.0);
        self.name(key.1);
        self.name(t.name);
        self.val(t.state);
        self.bool(t.catch_errors);
        self.val(t.handler);
        Ok(())
    }
}

impl Snapshot {
    /// The snapshot as bytes, for another process or machine (a save game, a late joiner):
    /// read them back with [`Lua::snapshot_from_bytes`](crate::Lua::snapshot_from_bytes).
    /// The format is versioned and portable (see `docs/image_format.md`). Fails, naming
    /// it, if the image holds a Rust function that is not in the permanents table (see
    /// [`Permanents`]) or userdata whose type cannot be written as bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, SnapshotError> {
        write_image(&self.0)
    }
}

fn write_image(img: &Image) -> Result<Vec<u8>, SnapshotError> {
    let Image {
        instance: _, // the reading VM is another one
        timeline: _,
        next_id,
        next_host_id,
        root_counts,
        script_bytes,
        pacing,
        strings,
        string_ids,
        short_strings,
        objects,
        slots,
        globals,
        registry,
        main_thread,
        string_metatable,
        type_metatables,
        finalizable,
        pending_finalizers,
        finalizing,
        full_collection_requested,
        collection_wait,
        value_handles,
        executor_handles,
        permanents,
        tracking,
        member_hash_cache: _, // derived: computed again by the reader's first use
    } = img;
    let p = &**permanents;
    let mut w = Writer {
        last_id: 0,
        out: Vec::with_capacity(64 + strings.len() * 8 + objects.len() * 16 + slots.len() * 3),
        names: HashMap::new(),
        name_list: Vec::new(),
    };
    // Prototype trees: every prototype that is not a child of another prototype of the
    // image is a tree's root (written once with its whole tree).
    let mut children_of_image = HashSet::new();
    for o in objects {
        if let Obj::Proto { proto, .. } = o {
            for c in &proto.prototypes {
                children_of_image.insert(Arc::as_ptr(c) as usize);
            }
        }
    }
    let mut trees: Vec<Vec<u8>> = Vec::new();
    let mut where_is: HashMap<usize, (u32, u32)> = HashMap::new();
    for o in objects {
        if let Obj::Proto { proto, .. } = o {
            let proto = proto.arc();
            let ptr = Arc::as_ptr(proto) as usize;
            if children_of_image.contains(&ptr) || where_is.contains_key(&ptr) {
                continue;
            }
            let tree = trees.len() as u32;
            for (i, node) in preorder(proto).iter().enumerate() {
                where_is
                    .entry(Arc::as_ptr(node) as usize)
                    .or_insert((tree, i as u32));
            }
            trees.push(lunette_compiler::dump(proto, false));
        }
    }

    // The body first (names are collected on the way), then the header with the names.
    w.uv(*next_id);
    w.uv(*next_host_id);
    w.us(root_counts.0);
    w.us(root_counts.1);
    w.us(*script_bytes);
    w.uv(pacing.threshold as u64);
    w.uv(pacing.pause as u64);
    w.bool(pacing.running);
    w.bool(*full_collection_requested);
    w.us(*collection_wait);

    w.us(strings.len());
    for (_, b) in strings {
        w.bytes(bytes_of(b, short_strings));
    }
    w.us(string_ids.len());
    for (i, id) in string_ids {
        w.uv(*i as u64);
        w.uv(*id);
    }
    w.us(trees.len());
    for t in &trees {
        w.bytes(t);
    }
    let mut flags = 0;
    w.us(slots.len());
    w.us(objects.len());
    for o in objects {
        match o {
            Obj::Table {
                id,
                flags: tflags,
                array,
                entries,
                array_capacity,
                entries_capacity,
                tombstones,
                metatable,
            } => {
                w.u8(T_TABLE);
                w.id(*id);
                w.u8(*tflags);
                w.opt(*metatable);
                w.us(*array_capacity);
                w.us(*entries_capacity);
                w.us(*tombstones as usize);
                w.vals(img.slot_range(*array, 1)?);
                let kv = img.slot_range(*entries, 2)?;
                w.us(kv.len() / 2);
                for v in kv {
                    w.val(*v);
                }
            }
            Obj::Proto {
                proto,
                constants,
                children,
            } => {
                let (tree, index) = where_is
                    .get(&(Arc::as_ptr(proto.arc()) as usize))
                    .copied()
                    .ok_or(SnapshotError::Corrupt("prototype not in a tree"))?;
                w.u8(T_PROTO);
                w.uv(tree as u64);
                w.uv(index as u64);
                w.vals(constants);
                w.indexes(children);
            }
            Obj::Closure {
                id,
                script_id,
                proto,
                upvalues,
            } => {
                w.u8(T_CLOSURE);
                w.id(*id);
                w.uv(*script_id);
                w.uv(*proto as u64);
                w.indexes(upvalues);
            }
            Obj::UpValueOpen { thread, slot } => {
                w.u8(T_UPVALUE_OPEN);
                w.uv(*thread as u64);
                w.us(*slot);
            }
            Obj::UpValueClosed(v) => {
                w.u8(T_UPVALUE_CLOSED);
                w.val(*v);
            }
            Obj::Callback(c) => {
                let CallbackImg {
                    id,
                    name,
                    func,
                    upvalue,
                } = &**c;
                let key = p.callback_key(*func).ok_or_else(|| {
                    SnapshotError::Unsupported(format!(
                        "the Rust function '{name}' is not registered in the permanents \
                         table (Context::register_permanents)"
                    ))
                })?;
                w.u8(T_CALLBACK);
                w.id(*id);
                w.name(key.0);
                w.name(key.1);
                w.name(name);
                w.val(*upvalue);
            }
            Obj::Thread(t) => {
                w.u8(T_THREAD);
                write_thread(&mut w, p, t)?;
            }
            Obj::UserData(u) => {
                let UserDataImg {
                    id,
                    flags: uflags,
                    metatable,
                    type_name,
                    payload,
                    capture: _,
                    typed,
                    payload_hash: _, // recomputed from the payload when read
                } = &**u;
                let bytes = typed
                    .as_deref()
                    .and_then(|ops| ops.to_bytes.map(|f| (ops, f)))
                    .map(|(ops, f)| {
                        let fresh = payload.revive();
                        f(&*fresh).map_err(|why| {
                            SnapshotError::Unsupported(format!(
                                "userdata of type '{}': {why}",
                                ops.name
                            ))
                        })
                    })
                    .transpose()?
                    .ok_or_else(|| {
                        SnapshotError::Unsupported(format!(
                            "userdata of type '{type_name}' cannot be written as bytes (its \
                             type is not registered with a byte serialization: \
                             UserDataRegistry::serializable)"
                        ))
                    })?;
                flags |= FLAG_USERDATA;
                w.u8(T_USERDATA);
                w.id(*id);
                w.u8(*uflags);
                w.opt(*metatable);
                w.name(type_name);
                w.bytes(&bytes);
            }
            Obj::Resumable(r) => {
                let ResumableImg { key, fields } = &**r;
                w.u8(T_RESUMABLE);
                w.name(key.0);
                w.name(key.1);
                w.vals(fields);
            }
            Obj::Executor(e) => {
                let ExecutorImg {
                    threads,
                    result,
                    traceback,
                    interrupt,
                    waits_for_collection,
                } = &**e;
                w.u8(T_EXECUTOR);
                w.indexes(threads);
                match result {
                    None => w.u8(0),
                    Some(Ok(())) => w.u8(1),
                    Some(Err(v)) => {
                        w.u8(2);
                        w.val(*v);
                    }
                }
                match interrupt {
                    None => w.u8(0),
                    Some(v) => {
                        w.u8(1);
                        w.val(*v);
                    }
                }
                w.bytes(traceback.as_bytes());
                w.bool(*waits_for_collection);
            }
        }
    }
    w.uv(*globals as u64);
    w.uv(*registry as u64);
    w.uv(*main_thread as u64);
    w.opt(*string_metatable);
    for mt in type_metatables {
        w.opt(*mt);
    }
    w.vals(finalizable);
    w.vals(pending_finalizers);
    w.val(*finalizing);
    if !value_handles.is_empty() || !executor_handles.is_empty() {
        flags |= FLAG_HANDLES;
    }
    w.us(value_handles.len());
    for (serial, v) in value_handles {
        w.uv(*serial);
        w.val(*v);
    }
    w.us(executor_handles.len());
    for (serial, e) in executor_handles {
        w.uv(*serial);
        w.uv(*e as u64);
    }
    w.bool(tracking.is_some());
    if let Some(t) = tracking {
        w.uv(t.rest);
        w.us(t.outside.len());
        for i in t.outside.iter() {
            w.uv(*i as u64);
        }
    }
    let body = std::mem::take(&mut w.out);
    w.out.extend_from_slice(IMAGE_MAGIC);
    w.u8(IMAGE_FORMAT_VERSION);
    w.u8(flags);
    w.us(w.name_list.len());
    for n in std::mem::take(&mut w.name_list) {
        w.bytes(n.as_bytes());
    }
    w.out.reserve(body.len());
    w.out.extend_from_slice(&body);
    Ok(w.out)
}

fn write_thread(w: &mut Writer, p: &Permanents, t: &ThreadImg) -> Result<(), SnapshotError> {
    let ThreadImg {
        id,
        script_id,
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
        resume_returns,
        hook,
        capacities,
    } = t;
    w.id(*id);
    w.uv(*script_id);
    w.us(*charged);
    w.vals(stack);
    w.us(frames.len());
    for f in frames.iter() {
        match f {
            FrameImg::Lua { closure, frame } => {
                let LuaFrameFields {
                    func,
                    base,
                    stack_end,
                    pc,
                    num_varargs,
                    returns,
                    top,
                    is_tail,
                    concat_resume,
                } = *frame;
                w.u8(0);
                w.uv(*closure as u64);
                w.us(func);
                w.us(base);
                w.us(stack_end);
                w.us(pc);
                w.us(num_varargs);
                w.returns(returns);
                w.us(top);
                w.bool(is_tail);
                w.bool(concat_resume);
            }
            FrameImg::Continuation {
                then,
                base,
                returns,
                ready,
                callee_name,
            } => {
                w.u8(1);
                w.then(p, then)?;
                w.us(*base);
                w.returns(*returns);
                match ready {
                    None => w.u8(0),
                    Some(OutcomeImg::Returned) => w.u8(1),
                    Some(OutcomeImg::Errored(v)) => {
                        w.u8(2);
                        w.val(*v);
                    }
                }
                if !p.has_name(callee_name) {
                    return Err(unregistered_name(callee_name));
                }
                w.name(callee_name);
            }
        }
    }
    w.indexes(open_upvalues);
    w.us(tbc_slots.len());
    for s in tbc_slots.iter() {
        w.us(*s);
    }
    w.u8(match status {
        ThreadStatus::Suspended => 0,
        ThreadStatus::Running => 1,
        ThreadStatus::Normal => 2,
        ThreadStatus::Dead => 3,
    });
    match body {
        None => w.u8(0),
        Some(v) => {
            w.u8(1);
            w.val(*v);
        }
    }
    w.bool(*started);
    match death_error {
        None => w.u8(0),
        Some(v) => {
            w.u8(1);
            w.val(*v);
        }
    }
    match resume_then {
        None => w.u8(0),
        Some(t) => {
            w.u8(1);
            w.then(p, t)?;
        }
    }
    w.us(*resume_slot);
    w.returns(*resume_returns);
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
    } = *hook;
    w.val(func);
    w.u8(mask);
    w.sv(count as i64);
    w.sv(counter as i64);
    w.uv(old_pc as u64);
    w.bool(running);
    w.bool(call_pending);
    w.uv(resume_depth as u64);
    w.uv(returned_depth as u64);
    for c in capacities {
        w.us(*c);
    }
    Ok(())
}

fn unregistered_name(name: &str) -> SnapshotError {
    SnapshotError::Unsupported(format!(
        "the name '{name}' is not registered in the permanents table \
         (Context::register_permanents)"
    ))
}

/// `root` and its nested prototypes in pre-order (the order `dump` writes them), each verified
/// with the tree.
fn preorder_verified(root: &VerifiedProto) -> Vec<VerifiedProto> {
    let mut out = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(p) = stack.pop() {
        stack.extend((0..p.prototypes.len()).rev().filter_map(|i| p.child(i)));
        out.push(p);
    }
    out
}

/// `root` and its nested prototypes in pre-order (the order `dump` writes them).
fn preorder(root: &Arc<Prototype>) -> Vec<Arc<Prototype>> {
    let mut out = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(p) = stack.pop() {
        stack.extend(p.prototypes.iter().rev().cloned());
        out.push(p);
    }
    out
}

// ------------------------------------------------------------------------------ reading

fn varint_error(e: varint::VarintError) -> SnapshotError {
    match e {
        varint::VarintError::Truncated => TRUNCATED,
        varint::VarintError::Overflow => SnapshotError::Corrupt("varint overflow"),
    }
}

/// Why decoding stopped (turned into a [`SnapshotError`] by the caller).
fn bad<T>(why: &'static str) -> Result<T, SnapshotError> {
    Err(SnapshotError::Corrupt(why))
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// The last object id read (ids are written as differences).
    last_id: u64,
    /// Bytes the decoder may still allocate.
    budget: usize,
}

/// A value at `*pos` (see `Reader::val`), made in registers: a bad tag clears `ok` (checked
/// by the caller after its loop) instead of returning a `Result` per value.
#[inline(always)]
fn val_at(bytes: &[u8], pos: &mut usize, ok: &mut bool) -> Result<Val, SnapshotError> {
    let u = uv_at(bytes, pos)?;
    let payload = u >> 3;
    Ok(match u & 7 {
        3 => Val::Integer(((payload >> 1) as i64) ^ -((payload & 1) as i64)),
        5 if payload <= u32::MAX as u64 => Val::Str(payload as u32),
        6 if payload <= u32::MAX as u64 => Val::Obj(payload as u32),
        0 if payload == 0 => Val::Nil,
        1 if payload == 0 => Val::Boolean(false),
        2 if payload == 0 => Val::Boolean(true),
        4 if payload == 0 => Val::Float(f64::from_bits(uv_at(bytes, pos)?.swap_bytes())),
        7 if payload == 0 => Val::Integer(varint::read_signed(bytes, pos).map_err(varint_error)?),
        _ => {
            *ok = false;
            Val::Nil
        }
    })
}

/// An unsigned varint at `*pos` (`varint::read_unsigned`), advancing it: the ones of up to
/// three bytes (most of an image's) without a call.
#[inline(always)]
fn uv_at(bytes: &[u8], pos: &mut usize) -> Result<u64, SnapshotError> {
    match bytes.get(*pos..).unwrap_or(&[]) {
        [a, ..] if *a < 0x80 => {
            *pos += 1;
            Ok(*a as u64)
        }
        [a, b, ..] if *b < 0x80 => {
            *pos += 2;
            Ok((*a & 0x7f) as u64 | (*b as u64) << 7)
        }
        [a, b, c, ..] if *c < 0x80 => {
            *pos += 3;
            Ok((*a & 0x7f) as u64 | ((*b & 0x7f) as u64) << 7 | (*c as u64) << 14)
        }
        _ => varint::read_unsigned(bytes, pos).map_err(varint_error),
    }
}

const TRUNCATED: SnapshotError = SnapshotError::Corrupt("truncated image");
const NO_MEMORY: SnapshotError =
    SnapshotError::Corrupt("the image needs more memory than the limit allows");

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }
    fn u8(&mut self) -> Result<u8, SnapshotError> {
        let b = *self.bytes.get(self.pos).ok_or(TRUNCATED)?;
        self.pos += 1;
        Ok(b)
    }
    fn bool(&mut self) -> Result<bool, SnapshotError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => bad("bad boolean"),
        }
    }
    #[inline(always)]
    fn uv(&mut self) -> Result<u64, SnapshotError> {
        uv_at(self.bytes, &mut self.pos)
    }
    #[inline(always)]
    fn us(&mut self) -> Result<usize, SnapshotError> {
        usize::try_from(self.uv()?).or(bad("size too large"))
    }
    #[inline(always)]
    fn u32(&mut self) -> Result<u32, SnapshotError> {
        u32::try_from(self.uv()?).or(bad("index too large"))
    }
    fn sv(&mut self) -> Result<i64, SnapshotError> {
        varint::read_signed(self.bytes, &mut self.pos).map_err(varint_error)
    }
    #[inline(always)]
    fn take(&mut self, n: usize) -> Result<&'a [u8], SnapshotError> {
        let end = self.pos.checked_add(n).ok_or(TRUNCATED)?;
        let s = self.bytes.get(self.pos..end).ok_or(TRUNCATED)?;
        self.pos = end;
        Ok(s)
    }
    #[inline(always)]
    fn spend(&mut self, n: usize) -> Result<(), SnapshotError> {
        self.budget = self.budget.checked_sub(n).ok_or(NO_MEMORY)?;
        Ok(())
    }
    /// A count of items taking at least `min_bytes` each in the input: checked against the
    /// bytes left.
    #[inline(always)]
    fn count(&mut self, min_bytes: usize) -> Result<usize, SnapshotError> {
        let n = self.us()?;
        if n.saturating_mul(min_bytes.max(1)) > self.remaining() {
            return Err(TRUNCATED);
        }
        Ok(n)
    }
    /// A vector for `n` items, its capacity counted against the budget.
    #[inline]
    fn vec<T>(&mut self, n: usize) -> Result<Vec<T>, SnapshotError> {
        self.spend(n.saturating_mul(std::mem::size_of::<T>()))?;
        Ok(Vec::with_capacity(n))
    }
    fn bytes(&mut self) -> Result<&'a [u8], SnapshotError> {
        let n = self.count(1)?;
        self.take(n)
    }
    fn opt(&mut self) -> Result<Option<u32>, SnapshotError> {
        Ok(match self.uv()? {
            0 => None,
            n => Some(u32::try_from(n - 1).or(bad("index too large"))?),
        })
    }
    #[inline(always)]
    fn val(&mut self) -> Result<Val, SnapshotError> {
        let mut ok = true;
        let v = val_at(self.bytes, &mut self.pos, &mut ok)?;
        if !ok {
            return bad("bad value tag");
        }
        Ok(v)
    }
    /// A table's `n` array values appended to `out` (the hot loop of decoding), each
    /// checked by `check` as it is made (`SlotCheck::val`: its string or object exists...).
    fn array_into(
        &mut self,
        n: usize,
        out: &mut Vec<Val>,
        check: &mut super::validate::SlotCheck<'_>,
    ) -> Result<(), SnapshotError> {
        let (mut ok, mut grew) = (true, 0);
        // The position in a local: the loop keeps it in a register.
        let bytes = self.bytes;
        let mut pos = self.pos;
        for _ in 0..n {
            let v = val_at(bytes, &mut pos, &mut ok)?;
            grew += check.val(v)?;
            out.push(v);
        }
        self.pos = pos;
        if !ok {
            return bad("bad value tag");
        }
        self.spend(grew)
    }

    /// A table's `m` key/value pairs appended to `out`, checked as they are made (`val`
    /// for each slot, `key` for each key: normalized and unique, or nil with a nil value
    /// for a hole; then the tombstones).
    fn entries_into(
        &mut self,
        m: usize,
        tombstones: usize,
        out: &mut Vec<Val>,
        check: &mut super::validate::SlotCheck<'_>,
    ) -> Result<(), SnapshotError> {
        let (mut ok, mut grew) = (true, 0);
        let bytes = self.bytes;
        let mut pos = self.pos;
        let start = out.len();
        check.begin_entries(m);
        for _ in 0..m {
            let k = val_at(bytes, &mut pos, &mut ok)?;
            grew += check.val(k)?;
            check.key(k, out.get(start..).unwrap_or(&[]))?;
            out.push(k);
            let v = val_at(bytes, &mut pos, &mut ok)?;
            grew += check.val(v)?;
            check.value(v)?;
            out.push(v);
        }
        self.pos = pos;
        if !ok {
            return bad("bad value tag");
        }
        check.end_entries(tombstones)?;
        self.spend(grew)
    }
    /// An object id (a difference from the previous one, see `Writer::id`).
    fn id(&mut self) -> Result<u64, SnapshotError> {
        let d = self.sv()?;
        self.last_id = self.last_id.wrapping_add(d as u64);
        Ok(self.last_id)
    }
    fn vals(&mut self) -> Result<Box<[Val]>, SnapshotError> {
        let n = self.count(1)?;
        let mut v = self.vec(n)?;
        for _ in 0..n {
            v.push(self.val()?);
        }
        Ok(v.into_boxed_slice())
    }
    fn indexes(&mut self) -> Result<Box<[u32]>, SnapshotError> {
        let n = self.count(1)?;
        let mut v = self.vec(n)?;
        for _ in 0..n {
            v.push(self.u32()?);
        }
        Ok(v.into_boxed_slice())
    }
    fn returns(&mut self) -> Result<Returns, SnapshotError> {
        Ok(match self.u8()? {
            0 => Returns::Count(self.u8()?),
            1 => Returns::Multi,
            2 => Returns::Meta,
            3 => Returns::Discard,
            _ => return bad("bad result convention"),
        })
    }
}

/// What names resolve against while reading.
struct Names<'p> {
    /// The image's name table.
    list: Vec<&'p str>,
    permanents: &'p Permanents,
}

impl<'p> Names<'p> {
    fn get(&self, r: &mut Reader<'_>) -> Result<&'p str, SnapshotError> {
        let i = r.us()?;
        self.list
            .get(i)
            .copied()
            .ok_or(SnapshotError::Corrupt("bad name index"))
    }
    /// A name shown by a function or frame, as this VM's static string.
    fn display(&self, r: &mut Reader<'_>) -> Result<&'static str, SnapshotError> {
        let n = self.get(r)?;
        self.permanents
            .find_name(n)
            .ok_or_else(|| missing(format!("the name '{n}'")))
    }
    fn key(&self, r: &mut Reader<'_>) -> Result<(&'p str, &'p str), SnapshotError> {
        Ok((self.get(r)?, self.get(r)?))
    }
    fn then(&self, r: &mut Reader<'_>) -> Result<ThenImg, SnapshotError> {
        let (lib, key) = self.key(r)?;
        let func = self
            .permanents
            .continuation_by_key(lib, key)
            .ok_or_else(|| missing(format!("the continuation '{lib}.{key}'")))?;
        Ok(ThenImg {
            name: self.display(r)?,
            func,
            state: r.val()?,
            catch_errors: r.bool()?,
            handler: r.val()?,
        })
    }
}

fn missing(what: String) -> SnapshotError {
    SnapshotError::Unsupported(format!(
        "{what} in the image is not registered in this VM (open the same libraries and \
         register the same functions as the VM that wrote it)"
    ))
}

/// The userdata types a reading VM knows: `name` → how to read a payload.
pub(crate) type ReadPayload = fn(&[u8]) -> Result<(Box<dyn Revive>, u64), String>;

/// What the reading VM supplies: its permanents, the userdata types it can read, and the
/// most it lets the decoder allocate.
pub(crate) struct ReadContext<'a> {
    pub(crate) permanents: Arc<Permanents>,
    /// A registered userdata type by name: its payload operations (those with a byte
    /// serialization have `from_bytes`).
    pub(crate) userdata_type: &'a dyn Fn(&str) -> Option<crate::userdata::PayloadOps>,
    pub(crate) budget: usize,
}

use crate::userdata::Revive;

/// Reads an image written by `write_image` (see the module docs for what is checked).
pub(crate) fn read_image(bytes: &[u8], cx: &ReadContext<'_>) -> Result<Image, SnapshotError> {
    let allowance = bytes
        .len()
        .saturating_mul(DECODE_BYTES_PER_INPUT_BYTE)
        .saturating_add(DECODE_BASE_BYTES);
    let mut r = Reader {
        bytes,
        pos: 0,
        last_id: 0,
        budget: cx.budget.min(allowance),
    };
    for &want in IMAGE_MAGIC {
        if r.u8()? != want {
            return bad("not a lunette image");
        }
    }
    let version = r.u8()?;
    if version != IMAGE_FORMAT_VERSION {
        return Err(SnapshotError::Unsupported(format!(
            "image format version {version}, this build reads version {IMAGE_FORMAT_VERSION}"
        )));
    }
    let flags = r.u8()?;
    if flags & !(FLAG_HANDLES | FLAG_USERDATA) != 0 {
        return bad("unknown image flags");
    }
    let n = r.count(1)?;
    let mut list = r.vec(n)?;
    for _ in 0..n {
        let b = r.bytes()?;
        list.push(std::str::from_utf8(b).or(bad("name is not UTF-8"))?);
    }
    let permanents = cx.permanents.clone();
    let names = Names {
        list,
        permanents: &permanents,
    };

    let next_id = r.uv()?;
    let next_host_id = r.uv()?;
    let root_objects = r.us()?;
    let root_strings = r.us()?;
    let script_bytes = r.us()?;
    let pacing = CollectorPacing {
        threshold: usize::try_from(r.uv()?).unwrap_or(usize::MAX),
        pause: u32::try_from(r.uv()?).or(bad("bad collector pause"))?,
        running: r.bool()?,
    };
    let full_collection_requested = r.bool()?;
    let collection_wait = r.us()?;
    // (At most one mark's work, which visits each object and slot a few times: a bigger
    // wait would only freeze the image's executors.)
    if collection_wait > bytes.len().saturating_mul(16) {
        return bad("collection wait too large");
    }

    let n = r.count(1)?;
    let mut strings = r.vec(n)?;
    // Short strings (interned when built) are runs of one buffer (allocated once); long
    // ones get their own (the VM's strings will share it).
    let mut short = Vec::new();
    for _ in 0..n {
        let b = r.bytes()?;
        let hash = crate::string::hash_bytes(b);
        let bytes = if b.len() <= crate::string::MAX_INTERNED_LEN {
            // (Counted twice: the buffer may double as it grows.)
            r.spend(2 * b.len())?;
            let start = u32::try_from(short.len()).or(bad("image too large"))?;
            short.extend_from_slice(b);
            StrBytes::Short {
                start,
                len: b.len() as u32,
            }
        } else {
            r.spend(b.len() + 32)?;
            StrBytes::Own(Arc::from(b))
        };
        strings.push((hash, bytes));
    }
    let n = r.count(2)?;
    let mut string_ids = r.vec(n)?;
    for _ in 0..n {
        string_ids.push((r.u32()?, r.uv()?));
    }
    r.spend(short.len())?;
    let short_strings: Arc<[u8]> = Arc::from(short);
    let n = r.count(1)?;
    let mut trees: Vec<Vec<VerifiedProto>> = r.vec(n)?;
    for _ in 0..n {
        let b = r.bytes()?;
        let before = r.budget;
        // Verified by `undump` (the interpreter runs only verified prototypes).
        let p = VerifiedProto::undump_with_limit(b, "=image", before).map_err(|e| {
            if e.out_of_memory {
                NO_MEMORY
            } else {
                SnapshotError::Unsupported(format!("prototype in the image: {}", e.message))
            }
        })?;
        // The decoded tree's size, counted roughly by its input (undump kept within
        // `before`); its nodes listed in pre-order.
        r.spend(b.len())?;
        let nodes = preorder_verified(&p);
        r.spend(nodes.len() * std::mem::size_of::<VerifiedProto>())?;
        trees.push(nodes);
    }

    // Every slot takes at least a byte.
    let nslots = r.count(1)?;
    let mut slots: Vec<Val> = r.vec(nslots)?;
    let n = r.count(1)?;
    let mut objects: Vec<Obj> = r.vec(n)?;
    let is_value = r.vec(n)?;
    let mut check = super::validate::SlotCheck::new(&strings, &short_strings, n, is_value);
    let mut root_slots = 0;
    for i in 0..n {
        if i == root_objects {
            root_slots = slots.len();
        }
        let o = read_object(&mut r, &names, cx, &trees, &mut slots, &mut check)?;
        check.is_value.push(super::validate::is_value_object(&o));
        objects.push(o);
    }
    let decoded = check.finish();
    if root_objects >= n {
        root_slots = slots.len();
    }
    if root_objects > n || root_strings > strings.len() {
        return bad("root counts out of range");
    }
    let globals = r.u32()?;
    let registry = r.u32()?;
    let main_thread = r.u32()?;
    let string_metatable = r.opt()?;
    let mut type_metatables = [None; crate::state::TYPE_METATABLES];
    for mt in type_metatables.iter_mut() {
        *mt = r.opt()?;
    }
    let finalizable = r.vals()?;
    let pending_finalizers = r.vals()?;
    let finalizing = r.val()?;
    let n = r.count(2)?;
    let mut value_handles = r.vec(n)?;
    for _ in 0..n {
        value_handles.push((r.uv()?, r.val()?));
    }
    let n = r.count(2)?;
    let mut executor_handles = r.vec(n)?;
    for _ in 0..n {
        executor_handles.push((r.uv()?, r.u32()?));
    }
    let tracking = if r.bool()? {
        let rest = r.uv()?;
        let n = r.count(1)?;
        let mut outside = r.vec(n)?;
        for _ in 0..n {
            let i = r.u32()?;
            if outside.last().is_some_and(|&last| last >= i) || i as usize >= objects.len() {
                return bad("checksum indices out of order or range");
            }
            outside.push(i);
        }
        Some(TrackingImg {
            rest,
            outside: outside.into_boxed_slice(),
        })
    } else {
        None
    };
    if r.remaining() != 0 {
        return bad("trailing bytes");
    }
    let image = Image {
        instance: 0, // no VM's (instances start at 1): no handle resolves by id
        timeline: 0,
        next_id,
        next_host_id,
        root_counts: (root_objects, root_strings, root_slots),
        script_bytes,
        pacing,
        strings,
        string_ids,
        short_strings,
        objects,
        slots,
        globals,
        registry,
        main_thread,
        string_metatable,
        type_metatables,
        finalizable,
        pending_finalizers,
        finalizing,
        full_collection_requested,
        collection_wait,
        value_handles,
        executor_handles,
        permanents: permanents.clone(),
        tracking,
        member_hash_cache: Default::default(),
    };
    super::validate::validate(&image, &decoded)?;
    Ok(image)
}

#[inline(always)]
fn read_object(
    r: &mut Reader<'_>,
    names: &Names<'_>,
    cx: &ReadContext<'_>,
    trees: &[Vec<VerifiedProto>],
    slots: &mut Vec<Val>,
    check: &mut super::validate::SlotCheck<'_>,
) -> Result<Obj, SnapshotError> {
    Ok(match r.u8()? {
        T_TABLE => {
            let id = r.id()?;
            let flags = r.u8()?;
            let metatable = r.opt()?;
            let array_capacity = r.us()?;
            let entries_capacity = r.us()?;
            let tombstones =
                u32::try_from(r.us()?).or(bad("more hash entries than a table can index"))?;
            let n = r.count(1)?;
            if slots.len() + n > slots.capacity() {
                return bad("more table slots than announced");
            }
            let start = u32::try_from(slots.len()).or(bad("too many slots"))?;
            r.array_into(n, slots, check)?;
            let array = SlotRange {
                start,
                len: n as u32,
            };
            let m = r.count(2)?;
            if slots.len() + 2 * m > slots.capacity() {
                return bad("more table slots than announced");
            }
            let start = u32::try_from(slots.len()).or(bad("too many slots"))?;
            r.entries_into(m, tombstones as usize, slots, check)?;
            if slots.len() > u32::MAX as usize {
                return bad("too many slots");
            }
            // The buffers `rebuild` makes, by capacity.
            let value = std::mem::size_of::<crate::value::Value<'static>>();
            r.spend(array_capacity.max(n).saturating_mul(value))?;
            r.spend(entries_capacity.max(m).saturating_mul(2 * value))?;
            Obj::Table {
                id,
                flags,
                array,
                entries: SlotRange {
                    start,
                    len: m as u32,
                },
                array_capacity,
                entries_capacity,
                tombstones,
                metatable,
            }
        }
        T_PROTO => {
            let tree = r.us()?;
            let index = r.us()?;
            let proto = trees
                .get(tree)
                .and_then(|t| t.get(index))
                .cloned()
                .ok_or(SnapshotError::Corrupt("prototype reference out of range"))?;
            Obj::Proto {
                proto,
                constants: r.vals()?,
                children: r.indexes()?,
            }
        }
        T_CLOSURE => Obj::Closure {
            id: r.id()?,
            script_id: r.uv()?,
            proto: r.u32()?,
            upvalues: r.indexes()?,
        },
        T_UPVALUE_OPEN => Obj::UpValueOpen {
            thread: r.u32()?,
            slot: r.us()?,
        },
        T_UPVALUE_CLOSED => Obj::UpValueClosed(r.val()?),
        T_CALLBACK => {
            let id = r.id()?;
            let (lib, key) = names.key(r)?;
            let func = names
                .permanents
                .callback_by_key(lib, key)
                .ok_or_else(|| missing(format!("the Rust function '{lib}.{key}'")))?;
            Obj::Callback(Box::new(CallbackImg {
                id,
                name: names.display(r)?,
                func,
                upvalue: r.val()?,
            }))
        }
        T_THREAD => {
            r.spend(std::mem::size_of::<ThreadImg>())?;
            Obj::Thread(Box::new(read_thread(r, names)?))
        }
        T_USERDATA => {
            let id = r.id()?;
            let flags = r.u8()?;
            let metatable = r.opt()?;
            let type_name = names.get(r)?;
            let payload = r.bytes()?;
            let ops = (cx.userdata_type)(type_name).ok_or_else(|| {
                missing(format!(
                    "the userdata type '{type_name}' (register_userdata_type)"
                ))
            })?;
            let from_bytes = ops.from_bytes.ok_or_else(|| {
                SnapshotError::Unsupported(format!(
                    "userdata of type '{type_name}' cannot be read from bytes (its type has \
                     no byte serialization in this VM)"
                ))
            })?;
            r.spend(ops.payload_bytes.saturating_add(64))?;
            let (revive, payload_hash) = from_bytes(payload).map_err(|why| {
                SnapshotError::Unsupported(format!("userdata of type '{type_name}': {why}"))
            })?;
            Obj::UserData(Box::new(UserDataImg {
                id,
                flags,
                metatable,
                type_name: ops.name,
                payload: revive,
                capture: ops.capture as CaptureFn,
                typed: Some(Box::new(ops)),
                payload_hash,
            }))
        }
        T_EXECUTOR => {
            let threads = r.indexes()?;
            let result = match r.u8()? {
                0 => None,
                1 => Some(Ok(())),
                2 => Some(Err(r.val()?)),
                _ => return bad("bad executor result"),
            };
            let interrupt = match r.u8()? {
                0 => None,
                1 => Some(r.val()?),
                _ => return bad("bad option tag"),
            };
            let tb = r.bytes()?;
            r.spend(tb.len())?;
            let traceback = String::from_utf8(tb.to_vec()).or(bad("traceback is not UTF-8"))?;
            Obj::Executor(Box::new(ExecutorImg {
                threads,
                result,
                interrupt,
                traceback,
                waits_for_collection: r.bool()?,
            }))
        }
        T_RESUMABLE => {
            let (lib, name) = names.key(r)?;
            let key = names
                .permanents
                .resumable_key(lib, name)
                .ok_or_else(|| missing(format!("the resumable state '{lib}.{name}'")))?;
            let fields = r.vals()?;
            // The values `rebuild` reads the state from, then the state itself (about one
            // value's worth per field).
            r.spend(fields.len().saturating_mul(32).saturating_add(64))?;
            Obj::Resumable(Box::new(ResumableImg { key, fields }))
        }
        _ => return bad("bad object tag"),
    })
}

fn read_thread(r: &mut Reader<'_>, names: &Names<'_>) -> Result<ThreadImg, SnapshotError> {
    let id = r.id()?;
    let script_id = r.uv()?;
    let charged = r.us()?;
    let stack = r.vals()?;
    let n = r.count(2)?;
    let mut frames = r.vec(n)?;
    for _ in 0..n {
        frames.push(match r.u8()? {
            0 => FrameImg::Lua {
                closure: r.u32()?,
                frame: LuaFrameFields {
                    func: r.us()?,
                    base: r.us()?,
                    stack_end: r.us()?,
                    pc: r.us()?,
                    num_varargs: r.us()?,
                    returns: r.returns()?,
                    top: r.us()?,
                    is_tail: r.bool()?,
                    concat_resume: r.bool()?,
                },
            },
            1 => {
                let then = names.then(r)?;
                let base = r.us()?;
                let returns = r.returns()?;
                let ready = match r.u8()? {
                    0 => None,
                    1 => Some(OutcomeImg::Returned),
                    2 => Some(OutcomeImg::Errored(r.val()?)),
                    _ => return bad("bad continuation outcome"),
                };
                FrameImg::Continuation {
                    then,
                    base,
                    returns,
                    ready,
                    callee_name: names.display(r)?,
                }
            }
            _ => return bad("bad frame tag"),
        });
    }
    let open_upvalues = r.indexes()?;
    let n = r.count(1)?;
    let mut tbc_slots = r.vec(n)?;
    for _ in 0..n {
        tbc_slots.push(r.us()?);
    }
    let status = match r.u8()? {
        0 => ThreadStatus::Suspended,
        1 => ThreadStatus::Running,
        2 => ThreadStatus::Normal,
        3 => ThreadStatus::Dead,
        _ => return bad("bad thread status"),
    };
    let body = match r.u8()? {
        0 => None,
        1 => Some(r.val()?),
        _ => return bad("bad option tag"),
    };
    let started = r.bool()?;
    let death_error = match r.u8()? {
        0 => None,
        1 => Some(r.val()?),
        _ => return bad("bad option tag"),
    };
    let resume_then = match r.u8()? {
        0 => None,
        1 => Some(names.then(r)?),
        _ => return bad("bad option tag"),
    };
    let resume_slot = r.us()?;
    let resume_returns = r.returns()?;
    let i32_field = |v: i64| i32::try_from(v).or_else(|_| bad("hook count out of range"));
    let u32_field = |v: u64| u32::try_from(v).or_else(|_| bad("hook field out of range"));
    let hook = HookImg {
        func: r.val()?,
        mask: r.u8()?,
        count: i32_field(r.sv()?)?,
        counter: i32_field(r.sv()?)?,
        old_pc: u32_field(r.uv()?)?,
        running: r.bool()?,
        call_pending: r.bool()?,
        resume_depth: u32_field(r.uv()?)?,
        returned_depth: u32_field(r.uv()?)?,
    };
    let mut capacities = [0; 4];
    for c in capacities.iter_mut() {
        *c = r.us()?;
    }
    // The buffers `rebuild` makes, by capacity.
    use std::mem::size_of;
    let sizes = [
        size_of::<crate::value::Value<'static>>(),
        size_of::<crate::thread::Frame<'static>>(),
        size_of::<usize>(),
        size_of::<usize>(),
    ];
    let lens = [
        stack.len(),
        frames.len(),
        open_upvalues.len(),
        tbc_slots.len(),
    ];
    for ((c, s), l) in capacities.iter().zip(sizes).zip(lens) {
        r.spend((*c).max(l).saturating_mul(s))?;
    }
    Ok(ThreadImg {
        id,
        script_id,
        charged,
        stack,
        frames: frames.into_boxed_slice(),
        open_upvalues,
        tbc_slots: tbc_slots.into_boxed_slice(),
        status,
        body,
        started,
        death_error,
        resume_then,
        resume_slot,
        resume_returns,
        hook,
        capacities,
    })
}
