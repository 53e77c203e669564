//! The checksum of an image: a stable hash (`gc_snapshot::StableHasher`, the same on every
//! machine) of what the root reaches, in image order, with the ids scripts see.
//!
//! The root's part of an image is hashed as four streams (its strings' bytes, the script ids
//! of its strings, its objects, the slots of its tables) whose hashes are then combined with
//! the counts and the root state ([`Streams`], [`RootState`]). A whole image gives the
//! streams in one pass each (`Image::checksum`); `capture::checksum` feeds them object by
//! object as it walks the VM, without keeping an image: the same value, at a fraction of
//! the cost (no slots buffer written, no objects kept, nothing to free).

use lunette_gc_snapshot::StableHasher;

use super::image::{FrameImg, Image, Obj, OutcomeImg, ThenImg, Val};
use crate::thread::Returns;

/// The streams of a checksum (see the module docs), fed in image order.
#[derive(Default)]
pub(crate) struct Streams {
    strings: StableHasher,
    string_count: u64,
    string_ids: StableHasher,
    objects: StableHasher,
    object_count: u64,
    slots: StableHasher,
    slot_count: u64,
}

impl Streams {
    /// The next string's bytes (strings in image order).
    pub(crate) fn string(&mut self, bytes: &[u8]) {
        self.strings.bytes(bytes);
        self.string_count += 1;
    }

    /// The script id of string number `index` (in index order).
    pub(crate) fn string_id(&mut self, index: u32, id: u64) {
        self.string_ids.word(index as u64);
        self.string_ids.word(id);
    }

    /// The next object (objects in image order).
    pub(crate) fn object(&mut self, o: &Obj) {
        hash_obj(&mut self.objects, o);
        self.object_count += 1;
    }

    /// The next table slot (slots in image order).
    pub(crate) fn slot(&mut self, v: Val) {
        hash_val(&mut self.slots, v);
        self.slot_count += 1;
    }
}

/// The root state an image records beside its objects (see `Image`'s fields).
pub(crate) struct RootState<'a> {
    pub(crate) next_id: u64,
    pub(crate) globals: u32,
    pub(crate) registry: u32,
    pub(crate) main_thread: u32,
    pub(crate) string_metatable: Option<u32>,
    pub(crate) type_metatables: &'a [Option<u32>],
    pub(crate) finalizable: &'a [Val],
    pub(crate) pending_finalizers: &'a [Val],
    pub(crate) finalizing: Val,
    pub(crate) full_collection_requested: bool,
    pub(crate) pacing: crate::memory::CollectorPacing,
}

impl RootState<'_> {
    /// The checksum of the root state and the streams of what it reaches.
    pub(crate) fn checksum(&self, streams: Streams) -> u64 {
        let mut h = StableHasher::new();
        h.word(self.next_id);
        h.word(streams.string_count);
        h.word(streams.strings.finish());
        h.word(streams.string_ids.finish());
        h.word(streams.object_count);
        h.word(streams.objects.finish());
        h.word(streams.slot_count);
        h.word(streams.slots.finish());
        for r in [self.globals, self.registry, self.main_thread] {
            h.word(r as u64);
        }
        h.word(self.string_metatable.map_or(u64::MAX, |t| t as u64));
        for mt in self.type_metatables {
            h.word(mt.map_or(u64::MAX, |t| t as u64));
        }
        hash_vals(&mut h, self.finalizable);
        hash_vals(&mut h, self.pending_finalizers);
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

impl Image {
    /// See `Snapshot::checksum`. Hashes what is reachable from the root (not what only host
    /// handles reach), in image order (which is a function of the logical state: the walk
    /// order is fixed), with the ids scripts see (never host ids).
    pub(crate) fn checksum(&self) -> u64 {
        let (objects, strings, slots) = self.root_counts;
        let mut streams = Streams::default();
        for (_, s) in self.strings.iter().take(strings) {
            streams.string(self.bytes_of(s));
        }
        for (i, id) in self
            .string_ids
            .iter()
            .filter(|(i, _)| (*i as usize) < strings)
        {
            streams.string_id(*i, *id);
        }
        for o in self.objects.iter().take(objects) {
            streams.object(o);
        }
        for v in self.slots.get(..slots).unwrap_or(&self.slots) {
            streams.slot(*v);
        }
        RootState {
            next_id: self.next_id,
            globals: self.globals,
            registry: self.registry,
            main_thread: self.main_thread,
            string_metatable: self.string_metatable,
            type_metatables: &self.type_metatables,
            finalizable: &self.finalizable,
            pending_finalizers: &self.pending_finalizers,
            finalizing: self.finalizing,
            full_collection_requested: self.full_collection_requested,
            pacing: self.pacing,
        }
        .checksum(streams)
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
        Obj::Resumable { key, fields } => {
            h.word(19);
            h.bytes(key.0.as_bytes());
            h.bytes(key.1.as_bytes());
            hash_vals(h, fields);
        }
        Obj::Table {
            id,
            flags,
            array,
            entries,
            tombstones,
            metatable,
            ..
        } => {
            h.word(10);
            h.word(*id);
            h.word(*flags as u64);
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
            let super::image::HookImg {
                func,
                mask,
                count,
                counter,
                old_pc,
                running,
                call_pending,
                resume_depth,
                returned_depth,
            } = t.hook;
            hash_val(h, func);
            h.word(mask as u64);
            h.word(count as u32 as u64);
            h.word(counter as u32 as u64);
            h.word(old_pc as u64);
            h.word(running as u64 | (call_pending as u64) << 1);
            h.word(resume_depth as u64);
            h.word(returned_depth as u64);
        }
        Obj::UserData {
            id,
            flags,
            metatable,
            type_name,
            payload_hash,
            ..
        } => {
            // Typed payloads by their `Rewindable::checksum`; untyped ones by their type.
            h.word(17);
            h.word(*id);
            h.word(*flags as u64);
            h.word(metatable.map_or(u64::MAX, |m| m as u64));
            h.bytes(type_name.as_bytes());
            h.word(*payload_hash);
        }
        Obj::Executor {
            threads,
            result,
            traceback,
            interrupt,
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
            hash_val(h, interrupt.unwrap_or(Val::Nil));
        }
    }
}
