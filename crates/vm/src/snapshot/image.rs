//! The image of a VM in an owned snapshot: plain data, every pointer an index (see the
//! module docs of `snapshot`). One image type per object kind; `capture` writes them,
//! `rebuild` reads them, `checksum` hashes them.

use std::any::Any;
use std::sync::Arc;

use crate::gc_unsafe::unchecked::VerifiedProto;

use super::SnapshotError;
use crate::function::{CallbackFn, ContinuationFn};
use crate::thread::{Returns, ThreadStatus};
use crate::userdata::{CaptureFn, PayloadOps, Revive};

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

/// A string's bytes in an image: its own buffer (a captured string shares the live
/// string's), or a run of `Image::short_strings`, the one buffer of the short strings read
/// from bytes (short enough to be interned: `rebuild` copies those into the interner
/// anyway, so one buffer for all of them saves an allocation each). See `Image::bytes_of`.
#[derive(Clone, Debug)]
pub(crate) enum StrBytes {
    Own(Arc<[u8]>),
    Short { start: u32, len: u32 },
}

impl StrBytes {
    pub(crate) fn len(&self) -> usize {
        match self {
            StrBytes::Own(b) => b.len(),
            StrBytes::Short { len, .. } => *len as usize,
        }
    }
}

/// The bytes of string `s` of an image whose short strings are `short`
/// (`Image::short_strings`).
pub(crate) fn bytes_of<'a>(s: &'a StrBytes, short: &'a [u8]) -> &'a [u8] {
    match s {
        StrBytes::Own(b) => b,
        StrBytes::Short { start, len } => {
            let start = *start as usize;
            // (`bytes` makes runs inside the buffer.)
            (short.get(start..).unwrap_or(&[]))
                .get(..*len as usize)
                .unwrap_or(&[])
        }
    }
}

/// The payload of a `UserData::new_snapshotable` userdata: cloned in, cloned back out.
pub(crate) struct Cloned<T>(pub(crate) T);

impl<T: Clone + Send + Sync + 'static> Revive for Cloned<T> {
    fn revive(&self) -> Box<dyn Any> {
        Box::new(self.0.clone())
    }
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct ThenImg {
    pub(crate) name: &'static str,
    pub(crate) func: ContinuationFn,
    /// The state value, or the resumable object (`Val::Obj` of an `Obj::Resumable`) of a
    /// `Then::resumable`.
    pub(crate) state: Val,
    pub(crate) catch_errors: bool,
    pub(crate) handler: Val,
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum OutcomeImg {
    Returned,
    Errored(Val),
}

#[derive(Debug)]
pub(crate) enum FrameImg {
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
#[derive(Clone, Copy, Debug)]
pub(crate) struct LuaFrameFields {
    pub(crate) func: usize,
    pub(crate) base: usize,
    pub(crate) stack_end: usize,
    pub(crate) pc: usize,
    pub(crate) num_varargs: usize,
    pub(crate) returns: Returns,
    pub(crate) top: usize,
    pub(crate) is_tail: bool,
    pub(crate) concat_resume: bool,
}

#[derive(Debug)]
pub(crate) struct ThreadImg {
    pub(crate) id: u64,
    /// `ThreadInner::script_id` (host threads).
    pub(crate) script_id: u64,
    /// The bytes charged for the thread (restored exactly, not recomputed from the capacities:
    /// a charge may lag its buffers until the next resync, and must lag the same way).
    pub(crate) charged: usize,
    pub(crate) stack: Box<[Val]>,
    pub(crate) frames: Box<[FrameImg]>,
    pub(crate) open_upvalues: Box<[u32]>,
    pub(crate) tbc_slots: Box<[usize]>,
    pub(crate) status: ThreadStatus,
    pub(crate) body: Option<Val>,
    pub(crate) started: bool,
    pub(crate) death_error: Option<Val>,
    pub(crate) resume_then: Option<ThenImg>,
    pub(crate) resume_slot: usize,
    pub(crate) resume_returns: Returns,
    /// `ThreadState::hook`.
    pub(crate) hook: HookImg,
    /// Capacities of stack, frames, open upvalues, to-be-closed slots (restored exactly).
    pub(crate) capacities: [usize; 4],
}

/// A thread's debug hook and its tracing state (`hook::HookState`, field for field).
#[derive(Clone, Copy, Debug)]
pub(crate) struct HookImg {
    pub(crate) func: Val,
    pub(crate) mask: u8,
    pub(crate) count: i32,
    pub(crate) counter: i32,
    pub(crate) old_pc: u32,
    pub(crate) running: bool,
    pub(crate) call_pending: bool,
    pub(crate) resume_depth: u32,
    pub(crate) returned_depth: u32,
}

#[derive(Debug)]
pub(crate) enum Obj {
    Table {
        id: u64,
        /// `TableState::flags`.
        flags: u8,
        /// The array part: `len` values at `start` of `Image::slots`.
        array: SlotRange,
        /// The hash part: `len` key/value pairs (2 × `len` values) at `start` of
        /// `Image::slots`.
        entries: SlotRange,
        /// Buffer capacities are restored exactly: memory charges (and so what
        /// `collectgarbage("count")` reports) must not change across a restore.
        array_capacity: usize,
        entries_capacity: usize,
        /// `TableState::tombstones`.
        tombstones: u32,
        metatable: Option<u32>,
    },
    Proto {
        proto: VerifiedProto,
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
    Callback(Box<CallbackImg>),
    Thread(Box<ThreadImg>),
    UserData(Box<UserDataImg>),
    /// A resumable builtin state (`resumable`). Only a continuation's `ThenImg::state`
    /// refers to it.
    Resumable(Box<ResumableImg>),
    Executor(Box<ExecutorImg>),
}

// (The rarer kinds are boxed, and a table's counts are `u32`: every object of an image is
// as big as its biggest kind, and an image is mostly tables. `Obj` is 56 bytes.)
const _: () = assert!(std::mem::size_of::<Obj>() <= 56);

#[derive(Debug)]
pub(crate) struct CallbackImg {
    pub(crate) id: u64,
    pub(crate) name: &'static str,
    pub(crate) func: CallbackFn,
    pub(crate) upvalue: Val,
}

#[derive(Debug)]
pub(crate) struct UserDataImg {
    pub(crate) id: u64,
    /// `UserDataMeta::flags`.
    pub(crate) flags: u8,
    pub(crate) metatable: Option<u32>,
    pub(crate) type_name: &'static str,
    pub(crate) payload: Box<dyn Revive>,
    pub(crate) capture: CaptureFn,
    /// A typed `Rewindable` payload's functions (`None`: an untyped snapshotable one).
    pub(crate) typed: Option<Box<PayloadOps>>,
    /// The payload's `Rewindable::checksum` (0 for untyped payloads: their type name and
    /// id stand for them).
    pub(crate) payload_hash: u64,
}

/// A resumable builtin state: its kind (the key of its reader in `Image::permanents`) and
/// the stream its `ResumableState::write` produced.
#[derive(Debug)]
pub(crate) struct ResumableImg {
    pub(crate) key: crate::permanents::PermanentKey,
    pub(crate) fields: Box<[Val]>,
}

#[derive(Debug)]
pub(crate) struct ExecutorImg {
    pub(crate) threads: Box<[u32]>,
    pub(crate) result: Option<Result<(), Val>>,
    pub(crate) traceback: String,
    /// `ExecutorState::interrupt`.
    pub(crate) interrupt: Option<Val>,
    /// `ExecutorState::waits_for_collection`.
    pub(crate) waits_for_collection: bool,
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
    pub(crate) root_counts: (usize, usize, usize),
    /// `MemoryAccount::script_bytes` at capture (what `collectgarbage("count")` reports).
    pub(crate) script_bytes: usize,
    /// `MemoryAccount::pacing` at capture (when the next automatic collection is due).
    pub(crate) pacing: crate::memory::CollectorPacing,
    /// Each string's content hash and bytes.
    pub(crate) strings: Vec<(u64, StrBytes)>,
    /// `(index in strings, id)` of the long strings that have a script id (`%p`), by index.
    pub(crate) string_ids: Vec<(u32, u64)>,
    /// The bytes of the strings that are `StrBytes::Short` (empty in captured images).
    pub(crate) short_strings: Arc<[u8]>,
    pub(crate) objects: Vec<Obj>,
    /// The array and hash-part slots of every table (see `SlotRange`).
    pub(crate) slots: Vec<Val>,
    pub(crate) globals: u32,
    pub(crate) registry: u32,
    pub(crate) main_thread: u32,
    pub(crate) string_metatable: Option<u32>,
    /// `State::type_metatables`.
    pub(crate) type_metatables: [Option<u32>; crate::state::TYPE_METATABLES],
    pub(crate) finalizable: Box<[Val]>,
    pub(crate) pending_finalizers: Box<[Val]>,
    /// `GcState::finalizing`.
    pub(crate) finalizing: Val,
    pub(crate) full_collection_requested: bool,
    /// `GcState::collection_wait`.
    pub(crate) collection_wait: usize,
    /// `(serial, value)` of the value handles live at capture, by serial.
    pub(crate) value_handles: Vec<(u64, Val)>,
    /// `(serial, executor object)` of the executor handles live at capture, by serial.
    pub(crate) executor_handles: Vec<(u64, u32)>,
    /// The VM's permanents table at capture: the keys `bytes` writes for the image's
    /// callbacks and continuations (not part of the VM's state).
    pub(crate) permanents: Arc<crate::permanents::Permanents>,
    /// The VM's incremental checksum at capture (`None` if it never computed one): what a
    /// VM restored from the image needs to go on with the same checksums.
    pub(crate) tracking: Option<TrackingImg>,
    /// `member_hashes`, computed once: by `capture` from the VM's checksum cache when it
    /// tracks one (so a restore does not hash every object again), else at the first use.
    /// Not part of the state: derived from it.
    pub(crate) member_hash_cache: std::sync::OnceLock<Box<[(u32, u64)]>>,
}

/// An image's part of an incremental checksum (see `checksum`).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct TrackingImg {
    /// The part of the sum `S` that the image's members do not account for (members of L
    /// that are garbage), wrapping.
    pub(crate) rest: u64,
    /// The indices, ascending, of the image's member objects that are not in L (made
    /// before the last full collection and not counted by it: what only host handles
    /// held then, or what the host made).
    pub(crate) outside: Box<[u32]>,
}

/// A run of values in `Image::slots` (tables keep their slots there: one buffer for the whole
/// image instead of two allocations per table).
#[derive(Clone, Copy, Debug)]
pub(crate) struct SlotRange {
    pub(crate) start: u32,
    pub(crate) len: u32,
}

impl Image {
    /// The values of `r` (`width` values per element).
    pub(crate) fn slot_range(&self, r: SlotRange, width: usize) -> Result<&[Val], SnapshotError> {
        let start = r.start as usize;
        let end = start + r.len as usize * width;
        self.slots
            .get(start..end)
            .ok_or(SnapshotError::Corrupt("table slots out of range"))
    }

    /// Everything the image says about the VM's state, as text (not where it was taken:
    /// instance, timeline, host id counter): two images of the same state describe alike.
    /// For tests that check capture, rebuild and the journal agree.
    #[cfg(test)]
    pub(crate) fn describe(&self) -> String {
        let Image {
            instance: _,
            timeline: _,
            next_id,
            next_host_id: _,
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
            permanents: _,
            tracking,
            member_hash_cache: _,
        } = self;
        format!(
            "next_id {next_id:?}\nroot_counts {root_counts:?}\nscript_bytes {script_bytes}\n\
             pacing {pacing:?}\nstrings {:?} {string_ids:?}\nslots {slots:?}\nroots {:?}\n\
             finalizers {finalizable:?} {pending_finalizers:?} {finalizing:?} \
             {full_collection_requested} {collection_wait}\nhandles {value_handles:?} {executor_handles:?}\n\
             checksum {tracking:?}\nobjects {objects:#?}",
            (strings.iter())
                .map(|(h, s)| (h, bytes_of(s, short_strings)))
                .collect::<Vec<_>>(),
            (
                globals,
                registry,
                main_thread,
                string_metatable,
                type_metatables
            ),
        )
    }

    /// The bytes of string `s` of this image.
    pub(crate) fn bytes_of<'a>(&'a self, s: &'a StrBytes) -> &'a [u8] {
        bytes_of(s, &self.short_strings)
    }

    /// The bytes of string `s` of this image as a buffer of their own, shared with the
    /// image if they have one.
    pub(crate) fn shared_bytes_of(&self, s: &StrBytes) -> Arc<[u8]> {
        match s {
            StrBytes::Own(b) => b.clone(),
            StrBytes::Short { .. } => Arc::from(self.bytes_of(s)),
        }
    }

    /// Sizes to preallocate the next capture with: objects, strings, slots.
    pub(crate) fn size_hint(&self) -> (usize, usize, usize) {
        (self.objects.len(), self.strings.len(), self.slots.len())
    }

    pub(crate) fn size_bytes(&self) -> usize {
        use std::mem::size_of;
        let mut n = size_of::<Image>()
            + self.strings.capacity() * size_of::<(u64, StrBytes)>()
            + self.short_strings.len()
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
                Obj::Resumable(r) => size_of::<ResumableImg>() + r.fields.len() * size_of::<Val>(),
                Obj::Callback(_) => size_of::<CallbackImg>(),
                Obj::UserData(_) => size_of::<UserDataImg>(),
                Obj::Thread(t) => {
                    size_of::<ThreadImg>()
                        + t.stack.len() * size_of::<Val>()
                        + t.frames.len() * size_of::<FrameImg>()
                        + t.open_upvalues.len() * 4
                        + t.tbc_slots.len() * size_of::<usize>()
                }
                Obj::Executor(e) => {
                    size_of::<ExecutorImg>() + e.threads.len() * 4 + e.traceback.len()
                }
                _ => 0,
            };
        }
        n
    }
}

pub(crate) fn object_id(o: &Obj) -> Option<u64> {
    match o {
        Obj::Table { id, .. } | Obj::Closure { id, .. } => Some(*id),
        Obj::Callback(c) => Some(c.id),
        Obj::UserData(u) => Some(u.id),
        Obj::Thread(t) => Some(t.id),
        _ => None,
    }
}
