//! Snapshots of the whole VM: `capture` walks the object graph from the root (and the host's
//! live handles) into an owned, `Send` image; `restore` builds a fresh arena from an image.
//!
//! The image is a list of objects in breadth-first discovery order (`gc_snapshot::Numbering`,
//! no recursion), with every pointer replaced by the index of its target. Immutable data is
//! shared, not copied: string bytes (`Arc<[u8]>`) and compiled prototypes (`Arc<Prototype>`).
//! Everything else a script can observe is copied: tables with their exact layout (array
//! part, entries in position order with tombstones and holes, capacity), closures and their upvalues
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
//! flight. The same rule holds for `checksum` (it hashes objects through the same encoding;
//! it fails while opaque userdata is among what it hashes) and for the ring's
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
//! objects changed since each snap (`journal`).
//!
//! The checksum (`checksum`: its definition) is a sum of per-object hashes kept up to date
//! as the VM runs once the host asked for one (`incremental`): `Lua::checksum` costs what
//! changed since the last one, and an image carries the part of the sum its objects do not
//! account for, so `Snapshot::checksum` is the captured VM's value and a VM restored from it
//! goes on with the same values.
//!
//! Images as bytes (`Snapshot::to_bytes`, `Lua::snapshot_from_bytes`): `bytes` writes and
//! reads them (format: `docs/image_format.md`; Rust functions by their keys in the
//! permanents table, see `permanents`), `validate` checks an image read from untrusted bytes
//! against every invariant the interpreter and executor rely on before `rebuild` builds it.
//!
//! Layout: `image` (the image types), `capture`, `rebuild`, `checksum`, `bytes`, `validate`;
//! handles are re-rooted in the new arena by `handle::reroot_handles`.

mod bytes;
mod capture;
mod checksum;
mod image;
mod incremental;
mod rebuild;
mod validate;

use std::sync::Arc;

pub(crate) use bytes::{read_image, ReadContext, ReadPayload};
pub use bytes::{
    DECODE_BASE_BYTES, DECODE_BYTES_PER_INPUT_BYTE, IMAGE_FORMAT_VERSION, IMAGE_MAGIC,
};
pub(crate) use capture::{capture, root_checksum, root_members, LiveHasher};
pub(crate) use image::{object_id, Cloned, Image, Obj, Val};
pub(crate) use incremental::{AsMember, CacheEdit, Member, Tracker};
pub(crate) use rebuild::{rebuild, Built, Rebuild};

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
    /// The checksum of the VM state this snapshot holds: what
    /// [`Lua::checksum`](crate::Lua::checksum) gave (or would have given) when the
    /// snapshot was taken, and what a VM restored from it gives; the same in any process on
    /// any machine (for desync detection). Host handles are not part of it.
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

    /// Number of strings in the image (each string's bytes once).
    pub fn string_count(&self) -> usize {
        self.0.strings.len()
    }

    /// Number of objects (tables, closures, upvalues, threads...) in the image.
    pub fn object_count(&self) -> usize {
        self.0.objects.len()
    }
}

#[cfg(test)]
mod tests;
