//! Full userdata: a host value with a metatable and a stable id.
//!
//! Two ways to make one:
//! - **Typed** ([`UserDataType`](crate::UserDataType), `Context::create_userdata`): the payload
//!   lives in a `RefCell` inside the object (borrowed by methods, fields and metamethods; a
//!   conflicting borrow is a Lua error, never a panic) and its type's one metatable (built once
//!   per VM) gives it methods, fields and metamethods. A type that implements
//!   [`Rewindable`](crate::Rewindable) is copied into owned snapshots *and journaled*: the
//!   first mutable borrow in a snapshot epoch saves a clone in the ring's journal, so
//!   `rollback` puts the payload back exactly, and `checksum` hashes its logical state (its
//!   `Rewindable::checksum`). A typed userdata of another type is *opaque*.
//! - **Untyped** (`UserData::new*`): an immutable `Box<dyn Any>` payload the host reads with
//!   `downcast`. `new_snapshotable` / `new_with_snapshot` payloads are copied into owned
//!   snapshots; they are not journaled (they are immutable as far as the VM knows: a payload
//!   with interior mutability does not roll back) and the checksum covers their type name and
//!   id, not their contents.
//!
//! Opaque userdata (`UserData::new`, `new_unsnapshotable`, typed without `Rewindable`) is
//! refused by name, the same way, by `Lua::snapshot`, `Lua::checksum` and `Lua::snap`: a
//! ring snapshot of a VM holding opaque mutable state could not promise its rollback (see
//! the `journal` module docs).

use std::any::Any;

use std::rc::Rc;

use gc_arena::{Collect, Gc};

use crate::journal::{Backup, JournaledState, JournaledValue};
use crate::object::{Reference, References};
use crate::snapshot::Cloned;
use crate::state::Context;
use crate::table::Table;

#[derive(Collect)]
#[collect(no_drop)]
pub struct UserDataInner<'gc> {
    #[collect(require_static)]
    pub(crate) id: u64,
    /// The metatable and gc flags, journaled.
    pub(crate) meta: JournaledValue<UserDataMeta<'gc>>,
    #[collect(require_static)]
    pub(crate) data: Box<dyn Any>,
    /// Whether and how the payload is copied into snapshots.
    #[collect(require_static)]
    pub(crate) snap: UserDataSnap,
    #[collect(require_static)]
    /// Held for its `Drop`: gives the object's bytes back to the memory account.
    pub(crate) _charge: crate::memory::Charge,
}

/// The mutable part of a userdata the VM sees (its payload is the host's, see
/// `userdata_type` for typed payloads' journaling).
#[derive(Copy, Clone, Collect)]
#[collect(no_drop)]
pub(crate) struct UserDataMeta<'gc> {
    pub(crate) metatable: Option<Table<'gc>>,
    /// `GC_FLAG_FINALIZER` once registered for finalization.
    #[collect(require_static)]
    pub(crate) flags: u8,
}

// ---- the description of a userdata (see `object`) ----

impl<'gc> References<'gc> for UserDataMeta<'gc> {
    fn references(&self, f: &mut impl FnMut(Reference<'gc>)) {
        let UserDataMeta {
            metatable,
            flags: _,
        } = self;
        metatable.references(f);
    }
}

impl<'gc> JournaledState<'gc> for UserDataMeta<'gc> {
    type Owner = UserData<'gc>;

    fn save(&self) -> Self {
        *self
    }

    fn restore(&mut self, saved: Self) {
        *self = saved;
    }

    fn backup(owner: UserData<'gc>, saved: Box<Self>) -> Backup<'gc> {
        Backup::UserData(owner, saved)
    }
}

impl<'gc> References<'gc> for UserDataInner<'gc> {
    fn references(&self, f: &mut impl FnMut(Reference<'gc>)) {
        let UserDataInner {
            id: _,
            meta,
            data: _,
            snap: _,
            _charge: _,
        } = self;
        meta.get().references(f);
    }
}

fn userdata_cost(data: &dyn Any) -> usize {
    crate::memory::GC_HEADER
        + std::mem::size_of::<UserDataInner<'static>>()
        + std::mem::size_of_val(data)
}

/// How a userdata's Rust payload takes part in snapshots.
pub(crate) enum UserDataSnap {
    /// Opaque state: taking a snapshot fails with this explanation.
    Refuse(Box<str>),
    /// The payload is `Clone + Send + Sync`: snapshots hold a clone, restores clone it back.
    Capture {
        type_name: &'static str,
        capture: CaptureFn,
    },
    /// A typed payload of a [`Rewindable`](crate::Rewindable) type: captured, checksummed
    /// and journaled by its type's functions (shared with the type's registration, so a
    /// userdata stays a small object: see `object::tests`).
    Typed(Rc<PayloadOps>),
}

/// How a `Rewindable` typed payload (an `Rc<PayloadCell<T>>`) is captured and hashed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PayloadOps {
    /// `UserDataType::NAME`.
    pub(crate) name: &'static str,
    /// The Rust type (a restore checks the VM registered the same type under `name`).
    pub(crate) type_id: fn() -> std::any::TypeId,
    pub(crate) capture: CaptureFn,
    /// The payload's `Rewindable::checksum`.
    pub(crate) checksum: fn(&dyn Any) -> u64,
    /// Bytes of the payload behind its pointer (charged with the object).
    pub(crate) payload_bytes: usize,
    /// The payload as bytes (`SerializableUserData::write`), for types registered with
    /// `UserDataRegistry::serializable`.
    pub(crate) to_bytes: Option<WritePayload>,
    /// A payload read from bytes, and its checksum (`SerializableUserData::read`).
    pub(crate) from_bytes: Option<crate::snapshot::ReadPayload>,
}

/// Writes a typed payload as bytes (`SerializableUserData::write`).
pub(crate) type WritePayload = fn(&dyn Any) -> Result<Vec<u8>, String>;

pub(crate) type CaptureFn = fn(&dyn Any) -> Result<Box<dyn Revive>, String>;

/// Userdata payloads that decide for themselves how they enter a snapshot
/// (`UserData::new_with_snapshot`).
pub trait Snapshotable: 'static {
    /// What to keep in a snapshot (revived into a fresh payload on each restore), or why this
    /// payload cannot be copied right now (the snapshot fails with that reason).
    fn snapshot(&self) -> Result<Box<dyn Revive>, String>;
}

/// A payload kept in a snapshot: `Send + Sync`, turned back into a userdata payload (the
/// `T` given to `UserData::new*`) on every restore.
pub trait Revive: Send + Sync {
    /// A fresh payload equal to the one captured (called once per restore).
    fn revive(&self) -> Box<dyn Any>;
}

impl std::fmt::Debug for dyn Revive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<payload>")
    }
}

fn capture_clone<T: Clone + Send + Sync + 'static>(
    data: &dyn Any,
) -> Result<Box<dyn Revive>, String> {
    data.downcast_ref::<T>()
        .map(|t| Box::new(Cloned(t.clone())) as Box<dyn Revive>)
        .ok_or_else(|| "userdata payload does not match its type".to_string())
}

fn capture_via<T: Snapshotable>(data: &dyn Any) -> Result<Box<dyn Revive>, String> {
    data.downcast_ref::<T>()
        .ok_or_else(|| "userdata payload does not match its type".to_string())?
        .snapshot()
}

/// A full userdata: a handle to a Rust payload with a metatable and an object id. Whether a VM
/// holding it can be snapshotted depends on how it was made (`new`: refused by name;
/// `new_snapshotable`, `new_with_snapshot`: copied into snapshots).
#[derive(Copy, Clone, Collect)]
#[collect(no_drop)]
pub struct UserData<'gc>(pub(crate) Gc<'gc, UserDataInner<'gc>>);

impl<'gc> UserData<'gc> {
    /// Whether the payload is a typed one (`userdata_type`).
    pub(crate) fn is_typed(self) -> bool {
        matches!(self.0.snap, UserDataSnap::Typed(_))
    }
}

impl<'gc> UserData<'gc> {
    /// A userdata holding opaque Rust state. A VM holding one cannot be snapshotted (the
    /// snapshot names its type); use `new_snapshotable` for state that should roll back.
    pub fn new<T: 'static>(ctx: Context<'gc>, data: T) -> Self {
        let why = format!(
            "userdata holding Rust type `{}` (create it with UserData::new_snapshotable to make it part of snapshots)",
            std::any::type_name::<T>()
        );
        Self::new_unsnapshotable(ctx, data, why)
    }

    /// A userdata whose payload is cloned into every snapshot and cloned back on restore, so
    /// it rolls back with the VM. Mutating it needs interior mutability (`Cell`...) and stays
    /// deterministic only if the host's changes are too.
    pub fn new_snapshotable<T: Clone + Send + Sync + 'static>(ctx: Context<'gc>, data: T) -> Self {
        Self::with_policy(
            ctx,
            Box::new(data),
            UserDataSnap::Capture {
                type_name: std::any::type_name::<T>(),
                capture: capture_clone::<T>,
            },
        )
    }

    /// A userdata whose payload says how it is snapshotted (`Snapshotable`).
    pub fn new_with_snapshot<T: Snapshotable>(ctx: Context<'gc>, data: T) -> Self {
        Self::with_policy(
            ctx,
            Box::new(data),
            UserDataSnap::Capture {
                type_name: std::any::type_name::<T>(),
                capture: capture_via::<T>,
            },
        )
    }

    /// A userdata that makes snapshots fail with `reason` while it is alive.
    pub fn new_unsnapshotable<T: 'static>(
        ctx: Context<'gc>,
        data: T,
        reason: impl Into<String>,
    ) -> Self {
        Self::with_policy(
            ctx,
            Box::new(data),
            UserDataSnap::Refuse(reason.into().into_boxed_str()),
        )
    }

    pub(crate) fn with_policy(ctx: Context<'gc>, data: Box<dyn Any>, snap: UserDataSnap) -> Self {
        Self::with_policy_and_cost(ctx, data, snap, 0)
    }

    /// `extra` bytes of payload live behind a pointer in `data` (typed payloads).
    pub(crate) fn with_policy_and_cost(
        ctx: Context<'gc>,
        data: Box<dyn Any>,
        snap: UserDataSnap,
        extra: usize,
    ) -> Self {
        let opaque = matches!(snap, UserDataSnap::Refuse(_));
        let u = UserData(Gc::new(
            ctx.mutation(),
            UserDataInner {
                id: ctx.next_object_id(),
                meta: JournaledValue::new(
                    ctx.state().journal.epoch(),
                    UserDataMeta {
                        metatable: None,
                        flags: 0,
                    },
                ),
                _charge: crate::memory::Charge::new(userdata_cost(&*data).saturating_add(extra)),
                data,
                snap,
            },
        ));
        ctx.state()
            .journal
            .made(ctx.mutation(), crate::snapshot::Member::UserData(u), true);
        if opaque {
            // `snap` must know whether opaque state may be reachable (see `journal`).
            ctx.state()
                .journal
                .track_opaque(ctx.mutation(), Gc::downgrade(u.0));
        }
        u
    }

    /// A userdata rebuilt from a snapshot (metatable set afterwards).
    pub(crate) fn revived(
        mc: &gc_arena::Mutation<'gc>,
        id: u64,
        flags: u8,
        data: Box<dyn Any>,
        snap: UserDataSnap,
        extra: usize,
    ) -> Self {
        UserData(Gc::new(
            mc,
            UserDataInner {
                id,
                meta: JournaledValue::new(
                    0,
                    UserDataMeta {
                        metatable: None,
                        flags,
                    },
                ),
                _charge: crate::memory::Charge::new(userdata_cost(&*data).saturating_add(extra)),
                data,
                snap,
            },
        ))
    }

    /// The object's stable id.
    pub fn id(self) -> u64 {
        self.0.id
    }

    /// The payload of an untyped userdata (`UserData::new*`) if it is a `T`. Typed userdata
    /// (`UserDataType`) are read with [`borrow`](Self::borrow) instead.
    pub fn downcast<T: 'static>(self) -> Option<&'gc T> {
        Gc::as_ref(self.0).data.downcast_ref()
    }

    /// The payload data (for the typed layer).
    pub(crate) fn data(self) -> &'gc dyn Any {
        &*Gc::as_ref(self.0).data
    }

    /// The userdata's metatable.
    pub fn metatable(self) -> Option<Table<'gc>> {
        self.0.meta.get().metatable
    }

    /// Sets the metatable (journaled), raw: no `__gc` registration. Only
    /// [`Context::set_metatable`](crate::Context::set_metatable) calls it.
    pub(crate) fn set_metatable(self, ctx: Context<'gc>, mt: Option<Table<'gc>>) {
        let meta = UserDataMeta {
            metatable: mt,
            ..self.0.meta.get()
        };
        JournaledValue::set(self.meta_cell(ctx.mutation()), ctx, self, meta);
    }

    /// The gc flags (`GC_FLAG_FINALIZER`).
    pub(crate) fn flags(self) -> u8 {
        self.0.meta.get().flags
    }

    /// Sets the gc flags (journaled).
    pub(crate) fn set_flags(self, ctx: Context<'gc>, flags: u8) {
        let meta = UserDataMeta {
            flags,
            ..self.0.meta.get()
        };
        JournaledValue::set(self.meta_cell(ctx.mutation()), ctx, self, meta);
    }

    /// The journaled metatable-and-flags cell, behind the write barrier.
    pub(crate) fn meta_cell(
        self,
        mc: &gc_arena::Mutation<'gc>,
    ) -> &'gc gc_arena::barrier::Write<JournaledValue<UserDataMeta<'gc>>> {
        gc_arena::barrier::field!(Gc::write(mc, self.0), UserDataInner, meta)
    }
}
