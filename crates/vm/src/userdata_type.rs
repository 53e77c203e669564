//! Userdata types: a Rust type implementing [`UserDataType`] becomes a Lua userdata type with
//! methods (`v:len()`), fields (`v.x`, `v.x = 1`), metamethods (`__add`, `__eq`, `__lt`,
//! `__tostring`, `__call`, `__close`, `__gc`, ...) and an `__index` / `__newindex` fallback,
//! declared once in [`UserDataType::register`].
//!
//! ```
//! use lunette_vm::{ChecksumHasher, Lua, MetaEvent, Rewindable, UserDataRegistry, UserDataType};
//!
//! #[derive(Clone, Copy, PartialEq)]
//! struct Vec2 { x: f64, y: f64 }
//!
//! impl UserDataType for Vec2 {
//!     const NAME: &'static str = "Vec2";
//!     fn register(r: &mut UserDataRegistry<Self>) {
//!         r.rewindable(); // copied into snapshots, journaled, checksummed
//!         r.field_get("x", |_, v| Ok(v.x));
//!         r.field_set("x", |_, v, x: f64| { v.x = x; Ok(()) });
//!         r.method("len", |_, v, ()| Ok((v.x * v.x + v.y * v.y).sqrt()));
//!         r.method_mut("scale", |_, v, k: f64| { v.x *= k; v.y *= k; Ok(()) });
//!         r.meta(MetaEvent::Add, |_, (a, b): (Vec2, Vec2)| Ok(Vec2 { x: a.x + b.x, y: a.y + b.y }));
//!         r.function("new", |_, (x, y): (f64, f64)| Ok(Vec2 { x, y }));
//!     }
//! }
//!
//! impl Rewindable for Vec2 {
//!     fn checksum(&self, h: &mut ChecksumHasher) {
//!         h.write_f64(self.x);
//!         h.write_f64(self.y);
//!     }
//! }
//!
//! let mut lua = Lua::core();
//! let statics = lua.userdata_statics::<Vec2>().unwrap();
//! lua.set_global("Vec2", &statics).unwrap();
//! let n: f64 = lua
//!     .eval("(function() local v = Vec2.new(3, 0) + Vec2.new(0, 4); \
//!            v:scale(2); v.x = v.x + 0; return v:len() end)()")
//!     .unwrap();
//! assert_eq!(n, 10.0);
//! ```
//!
//! **One metatable per type per VM.** Every function of the type is a host function
//! registered by name (methods `Vec2:len`, metamethods and dispatchers `Vec2[__add]`, `Vec2[__index]`, static functions `Vec2.new`...; see
//! `host_fn`), and the metatable, built at the first `create_userdata` of the type, is kept
//! in the VM registry under `userdata:<NAME>` (its methods table under
//! `userdata:<NAME>:methods`). So the metatable and the userdata carrying it are plain VM
//! data: they survive `snap`/`rollback`, `snapshot`/`restore`. A VM that *restores* a
//! snapshot holding a type's userdata must have the type registered first
//! ([`Lua::register_userdata_type`](crate::Lua::register_userdata_type), which changes
//! nothing in the VM's state); otherwise the restore fails naming the type.
//!
//! **Borrows.** The payload lives in a `RefCell` inside the userdata object. Methods and
//! fields borrow it for the duration of the Rust closure only: a host function returns before
//! any Lua code runs (the VM is stackless; a closure cannot call Lua), so no borrow is ever
//! held while Lua runs, and a borrow conflict can only come from one call's own arguments —
//! e.g. `a:add_to(a)` where `add_to` is a `method_mut` whose argument is a
//! [`UserDataRef`] that borrows it again. A conflict is a Lua error
//! (`userdata 'Vec2' is already borrowed`), never a panic; a value of another type is a type
//! error like `bad argument #1 to 'len' (Vec2 expected, got table)`.
//!
//! **Snapshots.** A type that calls [`UserDataRegistry::rewindable`] (it must implement
//! [`Rewindable`]: `Clone + Send + Sync` and a checksum of its logical state) is copied into
//! owned snapshots, hashed into `checksum`, and *journaled on mutable borrow*: the first
//! mutable borrow of a payload in a snapshot epoch (`method_mut`, a field setter,
//! [`UserDataRef::borrow_mut`], [`UserData::borrow_mut`](crate::UserData::borrow_mut)) saves
//! a clone in the ring, so `rollback(n)` gives the old payload back exactly. Any other type is
//! opaque: `snap`, `snapshot` and `checksum` refuse a VM that holds one, naming it.

use std::any::{Any, TypeId};
use std::cell::{Ref, RefCell, RefMut};
use std::rc::Rc;

use lunette_gc_snapshot::StableHasher;

use crate::convert::{FromLua, FromLuaMulti, IntoLua, IntoLuaMulti};
use crate::error::Error;
use crate::executor::Exec;
use crate::function::Action;
use crate::host_fn::RawHostFn;
use crate::journal::Stamp;
use crate::state::{Context, MetaEvent};
use crate::table::Table;
use crate::userdata::{PayloadOps, Revive, UserData, UserDataSnap};
use crate::value::Value;

/// A Rust type usable as a Lua userdata type (see the module docs for an example).
pub trait UserDataType: Sized + 'static {
    /// The type's name: the metatable's `__name` (so error messages say `Vec2`), the prefix
    /// of its host functions' names (`Vec2:len`, `Vec2.new`), and its key in snapshots. Unique per VM.
    const NAME: &'static str;

    /// Declares the type's fields, methods, metamethods and static functions. Called once
    /// per VM (at the first use or [`Lua::register_userdata_type`](crate::Lua::register_userdata_type)).
    fn register(r: &mut UserDataRegistry<Self>);
}

/// A userdata type whose values roll back with the VM: cloned into owned snapshots and into
/// the ring's journal at the first mutable borrow of an epoch, and hashed into checksums.
/// Declare it in `register` with [`UserDataRegistry::rewindable`].
pub trait Rewindable: Clone + Send + Sync + 'static {
    /// Feeds the payload's logical state to the VM checksum (compared across machines to
    /// detect desyncs: hash what the game state is, never addresses or hash-map order).
    /// `h.hash(self)` hashes any `Hash` value.
    fn checksum(&self, h: &mut ChecksumHasher);
}

/// The deterministic hasher [`Rewindable::checksum`] writes to: the same input gives the
/// same hash in every process on every platform (integers are hashed as 64-bit words, never
/// in native byte order). Implements [`std::hash::Hasher`], so any `Hash` value can be
/// hashed with [`ChecksumHasher::hash`].
pub struct ChecksumHasher {
    inner: StableHasher,
}

impl ChecksumHasher {
    fn new() -> Self {
        ChecksumHasher {
            inner: StableHasher::new(),
        }
    }

    /// Hashes a float by its bits (`-0.0` and `0.0` differ, as do NaN payloads).
    pub fn write_f64(&mut self, f: f64) {
        self.inner.word(f.to_bits());
    }

    /// Hashes a byte string with its length.
    pub fn write_bytes(&mut self, b: &[u8]) {
        self.inner.bytes(b);
    }

    /// Hashes a value through its `Hash` implementation.
    pub fn hash<H: std::hash::Hash + ?Sized>(&mut self, v: &H) {
        v.hash(self);
    }
}

/// The `Hasher` methods of integers up to 64 bits: each is one 64-bit word (sign-extended
/// for the signed ones), whatever its width and the platform's byte order.
macro_rules! word_writes {
    ($($method:ident: $int:ty),* $(,)?) => {
        $(fn $method(&mut self, i: $int) {
            self.inner.word(i as u64);
        })*
    };
}

impl std::hash::Hasher for ChecksumHasher {
    fn finish(&self) -> u64 {
        self.inner.finish()
    }
    fn write(&mut self, bytes: &[u8]) {
        self.inner.bytes(bytes);
    }
    word_writes!(
        write_u8: u8,
        write_u16: u16,
        write_u32: u32,
        write_u64: u64,
        write_usize: usize,
        write_i8: i8,
        write_i16: i16,
        write_i32: i32,
        write_i64: i64,
        write_isize: isize,
    );
    fn write_u128(&mut self, i: u128) {
        self.inner.word(i as u64);
        self.inner.word((i >> 64) as u64);
    }
    fn write_i128(&mut self, i: i128) {
        self.write_u128(i as u128);
    }
}

// ---- the payload cell ----

/// A typed userdata's payload (held as `Rc<PayloadCell<T>>` in the object's `data`).
pub(crate) struct PayloadCell<T> {
    value: RefCell<T>,
    /// The journal epoch of the payload's last backup (see `journal`).
    stamp: Stamp,
    /// `T::clone` for `Rewindable` types (journaled), `None` for opaque ones.
    clone: Option<fn(&T) -> T>,
}

/// A saved payload in the journal: put back on rollback.
pub(crate) trait RestorePayload {
    /// Writes the saved value back into its cell.
    fn restore(self: Box<Self>);
    /// Bytes the backup holds (for `Lua::snapshots_size_bytes`).
    fn size_bytes(&self) -> usize;
}

struct SavedPayload<T> {
    cell: Rc<PayloadCell<T>>,
    old: T,
}

impl<T: 'static> RestorePayload for SavedPayload<T> {
    fn restore(self: Box<Self>) {
        // No borrow is live during a rollback unless the host holds one across it (a host
        // bug, see `UserDataRef`): then the payload keeps its current value.
        if let Ok(mut v) = self.cell.value.try_borrow_mut() {
            *v = self.old;
        }
    }
    fn size_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
    }
}

fn already_borrowed<'gc, T: UserDataType>() -> Error<'gc> {
    Error::runtime(format!("userdata '{}' is already borrowed", T::NAME))
}

fn borrow_cell<'a, 'gc, T: UserDataType>(
    cell: &'a PayloadCell<T>,
) -> Result<Ref<'a, T>, Error<'gc>> {
    cell.value.try_borrow().map_err(|_| already_borrowed::<T>())
}

/// A mutable borrow that first saves the payload in the journal if this is its first
/// mutable borrow of the epoch.
fn borrow_cell_mut<'a, 'gc, T: UserDataType>(
    ctx: Context<'gc>,
    cell: &'a Rc<PayloadCell<T>>,
) -> Result<RefMut<'a, T>, Error<'gc>> {
    let journal = ctx.state().journal;
    let epoch = journal.epoch();
    if epoch != 0 && !cell.stamp.is(epoch) {
        journal.payload_written(ctx.mutation());
        if let Some(clone) = cell.clone.filter(|_| journal.ring_active()) {
            let old = clone(&*borrow_cell(cell)?);
            journal.backup_payload(
                ctx.mutation(),
                Box::new(SavedPayload {
                    cell: cell.clone(),
                    old,
                }),
            );
        }
        // Marked only once saved: a borrow conflict above leaves the next borrow to save.
        cell.stamp.first_write(epoch);
    }
    cell.value
        .try_borrow_mut()
        .map_err(|_| already_borrowed::<T>())
}

struct RevivePayload<T>(T);

impl<T: Rewindable> Revive for RevivePayload<T> {
    fn revive(&self) -> Box<dyn Any> {
        Box::new(Rc::new(PayloadCell {
            value: RefCell::new(self.0.clone()),
            stamp: Stamp::new(0),
            clone: Some(T::clone as fn(&T) -> T),
        }))
    }
}

/// The payload of type `T` in a userdata's `data`, borrowed (for capture and bytes).
fn borrow_payload<T: 'static>(data: &dyn Any) -> Result<std::cell::Ref<'_, T>, String> {
    data.downcast_ref::<Rc<PayloadCell<T>>>()
        .ok_or_else(|| "userdata payload does not match its type".to_string())?
        .value
        .try_borrow()
        .map_err(|_| "its payload is mutably borrowed by the host".to_string())
}

fn capture_payload<T: Rewindable>(data: &dyn Any) -> Result<Box<dyn Revive>, String> {
    let v = borrow_payload::<T>(data)?;
    Ok(Box::new(RevivePayload(v.clone())))
}

fn checksum_payload<T: Rewindable>(data: &dyn Any) -> u64 {
    let mut h = ChecksumHasher::new();
    match data
        .downcast_ref::<Rc<PayloadCell<T>>>()
        .map(|c| c.value.try_borrow())
    {
        Some(Ok(v)) => v.checksum(&mut h),
        _ => h.inner.word(u64::MAX),
    }
    h.inner.finish()
}

fn payload_to_bytes<T: SerializableUserData>(data: &dyn Any) -> Result<Vec<u8>, String> {
    let v = borrow_payload::<T>(data)?;
    let mut out = Vec::new();
    v.write(&mut out);
    Ok(out)
}

fn payload_from_bytes<T: SerializableUserData>(
    bytes: &[u8],
) -> Result<(Box<dyn Revive>, u64), String> {
    let v = T::read(bytes)?;
    let mut h = ChecksumHasher::new();
    v.checksum(&mut h);
    Ok((Box::new(RevivePayload(v)), h.inner.finish()))
}

/// A [`Rewindable`] userdata type whose payloads can be written as bytes (in images, see
/// [`Snapshot::to_bytes`](crate::Snapshot::to_bytes)); declare it in `register` with
/// [`UserDataRegistry::serializable`]. `read` gets untrusted bytes: it must refuse what
/// `write` would not have produced (an error, never a panic), and allocate only in
/// proportion to them.
pub trait SerializableUserData: Rewindable {
    /// Appends the payload's bytes (portable: no addresses, a fixed byte order).
    fn write(&self, out: &mut Vec<u8>);
    /// A payload from bytes `write` made, or why they are not such bytes.
    fn read(bytes: &[u8]) -> Result<Self, String>;
}

/// The extra bytes of a typed payload (behind the `Rc`).
fn payload_cost<T>() -> usize {
    std::mem::size_of::<PayloadCell<T>>() + 2 * std::mem::size_of::<usize>()
}

// ---- the registry ----

type Getter<T> = Rc<dyn for<'gc> Fn(Context<'gc>, &T) -> Result<Value<'gc>, Error<'gc>>>;
/// `T::clone` of a `Rewindable` type.
type CloneFn<T> = fn(&T) -> T;
type Setter<T> = Rc<dyn for<'gc> Fn(Context<'gc>, &mut T, Value<'gc>) -> Result<(), Error<'gc>>>;

/// What a userdata type declares (see [`UserDataType::register`]): fields, methods,
/// metamethods, static functions and whether it is [`Rewindable`]. Names are Lua strings;
/// declaring a name twice replaces the first declaration.
pub struct UserDataRegistry<T> {
    getters: Vec<(Box<[u8]>, Getter<T>)>,
    setters: Vec<(Box<[u8]>, Setter<T>)>,
    methods: Vec<(String, Rc<RawHostFn>)>,
    functions: Vec<(String, Rc<RawHostFn>)>,
    metas: Vec<(MetaEvent, Rc<RawHostFn>)>,
    index: Option<Rc<RawHostFn>>,
    newindex: Option<Rc<RawHostFn>>,
    rewind: Option<(PayloadOps, CloneFn<T>)>,
}

fn put<K: PartialEq, V>(list: &mut Vec<(K, V)>, k: K, v: V) {
    list.retain(|(old, _)| *old != k);
    list.push((k, v));
}

/// The userdata argument at `values[0]` as a `T` payload (argument #1 type error otherwise).
fn self_arg<'gc, T: UserDataType>(
    values: &[Value<'gc>],
) -> Result<&'gc Rc<PayloadCell<T>>, Error<'gc>> {
    let v = values.first().copied();
    match v {
        Some(Value::UserData(u)) => u
            .data()
            .downcast_ref::<Rc<PayloadCell<T>>>()
            .ok_or_else(|| Error::type_error(1, T::NAME, v)),
        _ => Err(Error::type_error(1, T::NAME, v)),
    }
}

fn rest<'a, 'gc>(values: &'a [Value<'gc>]) -> &'a [Value<'gc>] {
    values.get(1..).unwrap_or(&[])
}

fn finish<'gc, R: IntoLuaMulti<'gc>>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    r: R,
) -> Result<Action<'gc>, Error<'gc>> {
    let results = r.into_lua_multi(ctx)?;
    crate::host_fn::finish_conversions(ctx, exec);
    exec.set_results(ctx, &results)?;
    Ok(Action::Return)
}

fn method_fn<T, A, R, F>(f: F) -> Rc<RawHostFn>
where
    T: UserDataType,
    A: for<'a> FromLuaMulti<'a>,
    R: for<'a> IntoLuaMulti<'a>,
    F: for<'a> Fn(Context<'a>, &T, A) -> Result<R, Error<'a>> + 'static,
{
    Rc::new(move |ctx, exec| {
        let cell = self_arg::<T>(exec.values())?;
        let args = crate::host_fn::convert_arguments::<A>(ctx, rest(exec.values()), 2)?;
        let r = {
            let this = borrow_cell(cell)?;
            f(ctx, &this, args)?
        };
        finish(ctx, exec, r)
    })
}

fn method_mut_fn<T, A, R, F>(f: F) -> Rc<RawHostFn>
where
    T: UserDataType,
    A: for<'a> FromLuaMulti<'a>,
    R: for<'a> IntoLuaMulti<'a>,
    F: for<'a> Fn(Context<'a>, &mut T, A) -> Result<R, Error<'a>> + 'static,
{
    Rc::new(move |ctx, exec| {
        let cell = self_arg::<T>(exec.values())?;
        let args = crate::host_fn::convert_arguments::<A>(ctx, rest(exec.values()), 2)?;
        let r = {
            let mut this = borrow_cell_mut(ctx, cell)?;
            f(ctx, &mut this, args)?
        };
        finish(ctx, exec, r)
    })
}

impl<T: UserDataType> UserDataRegistry<T> {
    fn new() -> Self {
        UserDataRegistry {
            getters: Vec::new(),
            setters: Vec::new(),
            methods: Vec::new(),
            functions: Vec::new(),
            metas: Vec::new(),
            index: None,
            newindex: None,
            rewind: None,
        }
    }

    /// Makes the type's values part of snapshots, rollbacks and checksums (see
    /// [`Rewindable`]). Without it the type is opaque: a VM holding one of its values cannot
    /// be snapshotted (`snap`, `snapshot` and `checksum` fail naming the type).
    pub fn rewindable(&mut self)
    where
        T: Rewindable,
    {
        self.rewind = Some((
            PayloadOps {
                name: T::NAME,
                type_id: TypeId::of::<T>,
                capture: capture_payload::<T>,
                checksum: checksum_payload::<T>,
                payload_bytes: payload_cost::<T>(),
                to_bytes: None,
                from_bytes: None,
            },
            T::clone,
        ));
    }

    /// [`rewindable`](Self::rewindable), and the payloads can be written as bytes in images
    /// ([`Snapshot::to_bytes`](crate::Snapshot::to_bytes)) through
    /// [`SerializableUserData`]. A rewindable type without it makes `to_bytes` fail naming
    /// the type.
    pub fn serializable(&mut self)
    where
        T: SerializableUserData,
    {
        self.rewindable();
        if let Some((ops, _)) = &mut self.rewind {
            ops.to_bytes = Some(payload_to_bytes::<T>);
            ops.from_bytes = Some(payload_from_bytes::<T>);
        }
    }

    /// A readable field: `v.name` returns `f(v)`.
    pub fn field_get<R, F>(&mut self, name: &str, f: F)
    where
        R: for<'a> IntoLua<'a>,
        F: for<'a> Fn(Context<'a>, &T) -> Result<R, Error<'a>> + 'static,
    {
        let g: Getter<T> = Rc::new(move |ctx, t| f(ctx, t)?.into_lua(ctx));
        put(&mut self.getters, name.as_bytes().into(), g);
    }

    /// A writable field: `v.name = x` calls `f(v, x)` with `x` converted to `A` (a wrong type
    /// is an error like `bad value for field 'x' of Vec2 (number expected, got string)`).
    /// A mutable borrow (journaled).
    pub fn field_set<A, F>(&mut self, name: &str, f: F)
    where
        A: for<'a> FromLua<'a>,
        F: for<'a> Fn(Context<'a>, &mut T, A) -> Result<(), Error<'a>> + 'static,
    {
        let field = name.to_string();
        let s: Setter<T> = Rc::new(move |ctx, t, v| {
            let a = A::from_lua(ctx, v).map_err(|e| match e {
                Error::TypeError { expected, got, .. } => Error::runtime(format!(
                    "bad value for field '{field}' of {} ({expected} expected, got {})",
                    T::NAME,
                    got.map(|g| ctx.object_type_name(g))
                        .unwrap_or_else(|| "no value".into())
                )),
                Error::BadArgument { message, .. } => Error::runtime(format!(
                    "bad value for field '{field}' of {} ({message})",
                    T::NAME
                )),
                other => other,
            })?;
            f(ctx, t, a)
        });
        put(&mut self.setters, name.as_bytes().into(), s);
    }

    /// A method: `v:name(args)` calls `f(&v, args)`.
    pub fn method<A, R, F>(&mut self, name: &str, f: F)
    where
        A: for<'a> FromLuaMulti<'a>,
        R: for<'a> IntoLuaMulti<'a>,
        F: for<'a> Fn(Context<'a>, &T, A) -> Result<R, Error<'a>> + 'static,
    {
        put(
            &mut self.methods,
            name.to_string(),
            method_fn::<T, A, R, F>(f),
        );
    }

    /// A method taking the payload mutably: `v:name(args)` calls `f(&mut v, args)`. The
    /// borrow is journaled (a `Rewindable` payload is saved at its first mutable borrow of a
    /// snapshot epoch).
    pub fn method_mut<A, R, F>(&mut self, name: &str, f: F)
    where
        A: for<'a> FromLuaMulti<'a>,
        R: for<'a> IntoLuaMulti<'a>,
        F: for<'a> Fn(Context<'a>, &mut T, A) -> Result<R, Error<'a>> + 'static,
    {
        put(
            &mut self.methods,
            name.to_string(),
            method_mut_fn::<T, A, R, F>(f),
        );
    }

    /// A method with the full callback calling convention (arguments and results through
    /// [`Exec`], self at index 0; it may return any [`Action`]): for what the typed forms
    /// cannot express, such as arguments that are Lua values with a lifetime (`Value`,
    /// `Table`). Read self with [`UserData::borrow`] / [`UserData::borrow_mut`].
    pub fn raw_method<F>(&mut self, name: &str, f: F)
    where
        F: for<'a> Fn(Context<'a>, &mut Exec<'a, '_>) -> Result<Action<'a>, Error<'a>> + 'static,
    {
        put(&mut self.methods, name.to_string(), Rc::new(f));
    }

    /// A metamethod with the full callback calling convention (see
    /// [`raw_method`](Self::raw_method)).
    pub fn raw_meta<F>(&mut self, event: MetaEvent, f: F)
    where
        F: for<'a> Fn(Context<'a>, &mut Exec<'a, '_>) -> Result<Action<'a>, Error<'a>> + 'static,
    {
        self.set_meta(event, Rc::new(f));
    }

    /// A static function (no `self`), e.g. a constructor: in the table
    /// [`Context::userdata_statics`] returns, as the host function `NAME.name`.
    pub fn function<A, R, F>(&mut self, name: &str, f: F)
    where
        A: for<'a> FromLuaMulti<'a>,
        R: for<'a> IntoLuaMulti<'a>,
        F: for<'a> Fn(Context<'a>, A) -> Result<R, Error<'a>> + 'static,
    {
        put(
            &mut self.functions,
            name.to_string(),
            crate::host_fn::typed(f),
        );
    }

    fn set_meta(&mut self, event: MetaEvent, f: Rc<RawHostFn>) {
        match event {
            MetaEvent::Index => self.index = Some(f),
            MetaEvent::NewIndex => self.newindex = Some(f),
            _ => put(&mut self.metas, event, f),
        }
    }

    /// A metamethod taking all its operands converted to `A`, e.g.
    /// `r.meta(MetaEvent::Add, |_, (a, b): (Vec2, Vec2)| Ok(a + b))` (an operand of another
    /// type is a `bad argument` error). `MetaEvent::Index` / `NewIndex` are the fallbacks
    /// for keys that are neither fields nor methods (they receive `(v, key)` /
    /// `(v, key, value)`); `__name` is always `NAME`. Unary metamethods (`__unm`, `__len`,
    /// `__bnot`) receive their operand twice, like PUC; `__close` receives `(v, err)`.
    pub fn meta<A, R, F>(&mut self, event: MetaEvent, f: F)
    where
        A: for<'a> FromLuaMulti<'a>,
        R: for<'a> IntoLuaMulti<'a>,
        F: for<'a> Fn(Context<'a>, A) -> Result<R, Error<'a>> + 'static,
    {
        self.set_meta(event, crate::host_fn::typed(f));
    }

    /// A metamethod whose first operand is borrowed as `&T` and the rest converted to `A`
    /// (e.g. `__tostring`, `__len`, `__call`, `__index` with `A = Value`).
    pub fn meta_method<A, R, F>(&mut self, event: MetaEvent, f: F)
    where
        A: for<'a> FromLuaMulti<'a>,
        R: for<'a> IntoLuaMulti<'a>,
        F: for<'a> Fn(Context<'a>, &T, A) -> Result<R, Error<'a>> + 'static,
    {
        self.set_meta(event, method_fn::<T, A, R, F>(f));
    }

    /// Like [`meta_method`](Self::meta_method) with the first operand borrowed mutably
    /// (journaled), e.g. `__newindex` or `__close`.
    pub fn meta_method_mut<A, R, F>(&mut self, event: MetaEvent, f: F)
    where
        A: for<'a> FromLuaMulti<'a>,
        R: for<'a> IntoLuaMulti<'a>,
        F: for<'a> Fn(Context<'a>, &mut T, A) -> Result<R, Error<'a>> + 'static,
    {
        self.set_meta(event, method_mut_fn::<T, A, R, F>(f));
    }
}

// ---- registration in a VM ----

/// A registered userdata type (kept by the VM's `HostFunctions`, outside the arena).
pub(crate) struct TypeInfo {
    type_id: TypeId,
    methods: Vec<String>,
    functions: Vec<String>,
    metas: Vec<MetaEvent>,
    /// `__index` is the dispatch function (fields or a fallback), else the methods table.
    index_dispatch: bool,
    /// `__newindex` is the dispatch function (setters or a fallback).
    newindex_dispatch: bool,
    rewind: Option<Rc<PayloadOps>>,
    /// `fn(&T) -> T` (`T::clone`) for `Rewindable` types.
    clone: Option<Box<dyn Any>>,
}

impl TypeInfo {
    /// Whether this is the registration of the Rust type `id` (a restore checks it).
    pub(crate) fn is_type(&self, id: TypeId) -> bool {
        self.type_id == id
    }

    /// How the type's payloads enter snapshots (`None`: opaque).
    pub(crate) fn payload_ops(&self) -> Option<PayloadOps> {
        self.rewind.as_deref().copied()
    }

    /// The same, shared by the type's userdata objects.
    pub(crate) fn shared_payload_ops(&self) -> Option<Rc<PayloadOps>> {
        self.rewind.clone()
    }
}

/// The registered host-function name of a static function (`Vec2.new`).
fn fn_name(type_name: &str, member: &str) -> String {
    format!("{type_name}.{member}")
}

/// The registered name of a method (`Vec2:len`): its own namespace, so a method and a
/// static function of the same name are two functions.
fn method_name(type_name: &str, member: &str) -> String {
    format!("{type_name}:{member}")
}

/// The registered name of a metamethod or of the field dispatchers (`Vec2[__add]`).
fn meta_fn_name(type_name: &str, event: &str) -> String {
    format!("{type_name}[{event}]")
}

fn registry_key(name: &str) -> String {
    format!("userdata:{name}")
}

fn methods_key(name: &str) -> String {
    format!("userdata:{name}:methods")
}

/// Registers `T` in the VM (host functions and type record) if it is not yet, and returns
/// its record. Changes nothing in the arena.
fn ensure_registered<'gc, T: UserDataType>(ctx: Context<'gc>) -> Result<Rc<TypeInfo>, Error<'gc>> {
    let functions = &ctx.state().functions;
    if let Some(info) = functions.userdata_type(T::NAME) {
        return if info.type_id == TypeId::of::<T>() {
            Ok(info)
        } else {
            Err(Error::runtime(format!(
                "userdata type name '{}' is already registered for another Rust type",
                T::NAME
            )))
        };
    }
    let mut r = UserDataRegistry::<T>::new();
    T::register(&mut r);
    let name = T::NAME;
    let getters: hashbrown::HashMap<Box<[u8]>, Getter<T>> = r.getters.into_iter().collect();
    let setters: hashbrown::HashMap<Box<[u8]>, Setter<T>> = r.setters.into_iter().collect();
    let index_dispatch = !getters.is_empty() || r.index.is_some();
    let newindex_dispatch = !setters.is_empty() || r.newindex.is_some();
    if index_dispatch {
        let fallback = r.index;
        let methods = methods_key(name);
        let f: Rc<RawHostFn> = Rc::new(move |ctx, exec| {
            let key = exec.values().get(1).copied().unwrap_or(Value::Nil);
            if let Value::String(s) = key {
                if let Some(g) = getters.get(s.as_bytes()) {
                    let cell = self_arg::<T>(exec.values())?;
                    let v = {
                        let this = borrow_cell(cell)?;
                        g(ctx, &this)?
                    };
                    return finish(ctx, exec, v);
                }
                if let Value::Table(m) = ctx.registry().get(ctx.str(&methods)) {
                    let method = m.get(key);
                    if !method.is_nil() {
                        return finish(ctx, exec, method);
                    }
                }
            }
            match &fallback {
                Some(f) => f(ctx, exec),
                None => finish(ctx, exec, Value::Nil),
            }
        });
        functions.register(&meta_fn_name(name, "__index"), f);
    }
    if newindex_dispatch {
        let fallback = r.newindex;
        let readable: hashbrown::HashSet<Box<[u8]>> =
            r.methods.iter().map(|(m, _)| m.as_bytes().into()).collect();
        let f: Rc<RawHostFn> = Rc::new(move |ctx, exec| {
            let key = exec.values().get(1).copied().unwrap_or(Value::Nil);
            if let Value::String(s) = key {
                if let Some(set) = setters.get(s.as_bytes()) {
                    let cell = self_arg::<T>(exec.values())?;
                    let v = exec.values().get(2).copied().unwrap_or(Value::Nil);
                    {
                        let mut this = borrow_cell_mut(ctx, cell)?;
                        set(ctx, &mut this, v)?;
                    }
                    return finish(ctx, exec, ());
                }
            }
            if let Some(f) = &fallback {
                return f(ctx, exec);
            }
            let shown = crate::lua::display_plain(key);
            match key {
                Value::String(s) if readable.contains(s.as_bytes()) => Err(Error::runtime(
                    format!("cannot assign to method '{shown}' of {name}"),
                )),
                _ => Err(Error::runtime(format!(
                    "{name} has no writable field '{shown}'"
                ))),
            }
        });
        functions.register(&meta_fn_name(name, "__newindex"), f);
    }
    let methods: Vec<String> = r.methods.iter().map(|(m, _)| m.clone()).collect();
    for (m, f) in r.methods {
        functions.register(&method_name(name, &m), f);
    }
    let statics: Vec<String> = r.functions.iter().map(|(m, _)| m.clone()).collect();
    for (m, f) in r.functions {
        functions.register(&fn_name(name, &m), f);
    }
    let metas: Vec<MetaEvent> = r.metas.iter().map(|(e, _)| *e).collect();
    for (e, f) in r.metas {
        functions.register(&meta_fn_name(name, e.name()), f);
    }
    let info = Rc::new(TypeInfo {
        type_id: TypeId::of::<T>(),
        methods,
        functions: statics,
        metas,
        index_dispatch,
        newindex_dispatch,
        rewind: r.rewind.map(|(ops, _)| Rc::new(ops)),
        clone: r.rewind.map(|(_, clone)| Box::new(clone) as Box<dyn Any>),
    });
    functions.register_userdata_type(name, info.clone());
    Ok(info)
}

fn set_field<'gc>(
    ctx: Context<'gc>,
    t: Table<'gc>,
    k: Value<'gc>,
    v: Value<'gc>,
) -> Result<(), Error<'gc>> {
    crate::convert::table_set(ctx, t, k, v, "cannot build a userdata metatable")
}

/// `T`'s metatable in this VM: the one cached in the registry, or a new one (cached).
fn metatable<'gc, T: UserDataType>(
    ctx: Context<'gc>,
    info: &TypeInfo,
) -> Result<Table<'gc>, Error<'gc>> {
    let registry = ctx.registry();
    let key = ctx.str(&registry_key(T::NAME));
    if let Value::Table(mt) = registry.get(key) {
        return Ok(mt);
    }
    let name = T::NAME;
    let fn_value = |registered: String| Value::Callback(ctx.host_function_value(&registered));
    let methods = ctx.new_table_with_capacity(0, info.methods.len());
    for m in &info.methods {
        set_field(ctx, methods, ctx.str(m), fn_value(method_name(name, m)))?;
    }
    let mt = ctx.new_table_with_capacity(0, info.metas.len() + 3);
    set_field(ctx, mt, ctx.str("__name"), ctx.str(name))?;
    let index = if info.index_dispatch {
        fn_value(meta_fn_name(name, "__index"))
    } else {
        Value::Table(methods)
    };
    set_field(ctx, mt, ctx.str("__index"), index)?;
    if info.newindex_dispatch {
        set_field(
            ctx,
            mt,
            ctx.str("__newindex"),
            fn_value(meta_fn_name(name, "__newindex")),
        )?;
    }
    for e in &info.metas {
        set_field(
            ctx,
            mt,
            ctx.str(e.name()),
            fn_value(meta_fn_name(name, e.name())),
        )?;
    }
    set_field(
        ctx,
        registry,
        ctx.str(&methods_key(name)),
        Value::Table(methods),
    )?;
    set_field(ctx, registry, key, Value::Table(mt))?;
    Ok(mt)
}

impl<'gc> Context<'gc> {
    /// Registers the userdata type `T` in this VM (its host functions; nothing in the VM
    /// state changes). Done by the first `create_userdata::<T>`; needed before restoring a
    /// snapshot that holds `T` values into a VM that never created one.
    pub fn register_userdata_type<T: UserDataType>(self) -> Result<(), Error<'gc>> {
        ensure_registered::<T>(self).map(|_| ())
    }

    /// A new userdata holding `value`, with `T`'s metatable (built once per VM and cached in
    /// the registry).
    pub fn create_userdata<T: UserDataType>(self, value: T) -> Result<UserData<'gc>, Error<'gc>> {
        let info = ensure_registered::<T>(self)?;
        let mt = metatable::<T>(self, &info)?;
        let clone = info
            .clone
            .as_ref()
            .and_then(|c| c.downcast_ref::<fn(&T) -> T>())
            .copied();
        // Created in the current epoch: a rollback to its snapshot drops the object, so its
        // payload needs no backup until the next `snap`.
        let cell = Rc::new(PayloadCell {
            value: RefCell::new(value),
            stamp: Stamp::new(self.state().journal.epoch()),
            clone,
        });
        let snap = match &info.rewind {
            Some(ops) => UserDataSnap::Typed(ops.clone()),
            None => UserDataSnap::Refuse(
                format!(
                    "userdata '{}' is opaque (its UserDataType::register does not call \
                     `rewindable()`, so it cannot be copied or rolled back)",
                    T::NAME
                )
                .into_boxed_str(),
            ),
        };
        let u = UserData::with_policy_and_cost(self, Box::new(cell), snap, payload_cost::<T>());
        // Refused only for frozen tables.
        let _ = self.set_metatable(Value::UserData(u), Some(mt));
        Ok(u)
    }

    /// A new table with `T`'s static functions ([`UserDataRegistry::function`]), e.g. to
    /// make a global `Vec2` with `Vec2.new`.
    pub fn userdata_statics<T: UserDataType>(self) -> Result<Table<'gc>, Error<'gc>> {
        let info = ensure_registered::<T>(self)?;
        let t = self.new_table_with_capacity(0, info.functions.len());
        for f in &info.functions {
            let v = Value::Callback(self.host_function_value(&fn_name(T::NAME, f)));
            set_field(self, t, self.str(f), v)?;
        }
        Ok(t)
    }
}

// ---- reading userdata ----

impl<'gc> UserData<'gc> {
    fn cell<T: UserDataType>(self) -> Option<&'gc Rc<PayloadCell<T>>> {
        self.data().downcast_ref::<Rc<PayloadCell<T>>>()
    }

    /// Whether this is a typed userdata of type `T`.
    pub fn is<T: UserDataType>(self) -> bool {
        self.cell::<T>().is_some()
    }

    /// Borrows a typed userdata's payload (`bad argument` type error if it is not a `T`,
    /// `already borrowed` if it is mutably borrowed).
    pub fn borrow<T: UserDataType>(self) -> Result<Ref<'gc, T>, Error<'gc>> {
        let cell = self
            .cell::<T>()
            .ok_or_else(|| Error::type_error(0, T::NAME, Some(Value::UserData(self))))?;
        borrow_cell(cell)
    }

    /// Borrows a typed userdata's payload mutably, journaled (see the `userdata_type` docs).
    pub fn borrow_mut<T: UserDataType>(
        self,
        ctx: Context<'gc>,
    ) -> Result<RefMut<'gc, T>, Error<'gc>> {
        let cell = self
            .cell::<T>()
            .ok_or_else(|| Error::type_error(0, T::NAME, Some(Value::UserData(self))))?;
        borrow_cell_mut(ctx, cell)
    }
}

/// A typed userdata argument taken by reference: a handle to the payload (not a copy), which
/// borrows it on demand. Use it for arguments of non-`Clone` types, or to mutate an argument.
/// A borrow that conflicts with another one of the same payload (e.g. `a:add_to(a)`, where
/// `add_to` is a `method_mut` and already borrows `a` mutably) is the Lua error
/// `userdata 'T' is already borrowed`.
///
/// The handle does not keep the userdata object alive and is not rolled back itself; holding
/// a `Ref` from it across `Lua::rollback` is a host bug (that payload then keeps its value).
pub struct UserDataRef<T> {
    cell: Rc<PayloadCell<T>>,
}

impl<T> Clone for UserDataRef<T> {
    fn clone(&self) -> Self {
        UserDataRef {
            cell: self.cell.clone(),
        }
    }
}

impl<T: UserDataType> UserDataRef<T> {
    /// Borrows the payload.
    pub fn borrow<'gc>(&self) -> Result<Ref<'_, T>, Error<'gc>> {
        borrow_cell(&self.cell)
    }

    /// Borrows the payload mutably, journaled like a `method_mut`.
    pub fn borrow_mut<'gc>(&self, ctx: Context<'gc>) -> Result<RefMut<'_, T>, Error<'gc>> {
        borrow_cell_mut(ctx, &self.cell)
    }

    /// Whether two handles refer to the same userdata.
    pub fn ptr_eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.cell, &other.cell)
    }
}

impl<'gc, T: UserDataType> FromLua<'gc> for UserDataRef<T> {
    fn from_lua(_: Context<'gc>, value: Value<'gc>) -> Result<Self, Error<'gc>> {
        match value {
            Value::UserData(u) => u.cell::<T>().map(|c| UserDataRef { cell: c.clone() }),
            _ => None,
        }
        .ok_or_else(|| Error::type_error(0, T::NAME, Some(value)))
    }
}

/// A `Clone` userdata type is read by value (a copy of the payload; `already borrowed` if it
/// is mutably borrowed).
impl<'gc, T: UserDataType + Clone> FromLua<'gc> for T {
    fn from_lua(_: Context<'gc>, value: Value<'gc>) -> Result<Self, Error<'gc>> {
        let cell = match value {
            Value::UserData(u) => u.cell::<T>(),
            _ => None,
        }
        .ok_or_else(|| Error::type_error(0, T::NAME, Some(value)))?;
        let v = borrow_cell(cell)?;
        Ok(v.clone())
    }
}

/// A userdata type's value becomes a new userdata (`Context::create_userdata`).
impl<'gc, T: UserDataType> IntoLua<'gc> for T {
    fn into_lua(self, ctx: Context<'gc>) -> Result<Value<'gc>, Error<'gc>> {
        ctx.create_userdata(self).map(Value::UserData)
    }
}
