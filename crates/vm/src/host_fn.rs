//! Host functions: Rust closures callable from Lua, each registered under a stable name, and
//! typed app data the host makes reachable from them.
//!
//! A closure's captured Rust state cannot be copied into a snapshot, so the Lua value of a
//! host function is a [`Callback`] that holds only the function's *name* (as its upvalue,
//! a Lua string); a call looks the closure up in the VM's registry by that name. Snapshots,
//! rollbacks and restores therefore carry host functions as names, like a permanents table:
//! a VM restored from a snapshot of another VM finds its own closure registered under the
//! same name (register it with [`Lua::register_function`](crate::Lua::register_function)
//! before running), and a call of a name nobody registered is a Lua error naming it.
//!
//! The rule that follows: **what a closure captures is host state, never rolled back**. A
//! counter in a captured `Cell` keeps counting across a rollback; state that must rewind
//! with the game belongs in the VM (tables, upvalues, snapshotable userdata). A closure that
//! only reads captured configuration, or writes to the host's own world (which rolls back by
//! its own means), is what this is for.
//!
//! The registry and the app data live outside the arena (like the host interface), shared
//! by the VM across restores.

use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use crate::convert::{FromLuaMulti, IntoLuaMulti};
use crate::error::Error;
use crate::executor::Exec;
use crate::function::{Action, Callback};
use crate::state::Context;
use crate::value::Value;

/// A host function with the callback calling convention, type-erased.
pub(crate) type RawHostFn =
    dyn for<'gc> Fn(Context<'gc>, &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>>;

/// The name the VM shows for host function callbacks (their registered name is their
/// upvalue).
pub const HOST_FUNCTION: &str = "host function";

/// Host functions by name and app data by type (see the module docs).
pub struct HostFunctions {
    functions: RefCell<hashbrown::HashMap<Box<[u8]>, Rc<RawHostFn>>>,
    app_data: RefCell<HashMap<TypeId, Rc<dyn Any>>>,
    /// Registered userdata types by `UserDataType::NAME` (see `userdata_type`).
    userdata_types: RefCell<hashbrown::HashMap<&'static str, Rc<crate::userdata_type::TypeInfo>>>,
    /// What the conversions of the running host function copied (see [`Tally`]).
    pub(crate) tally: Tally,
    /// The permanents table (see `permanents`): copy-on-write, so an owned snapshot keeps
    /// the table it was captured with.
    pub(crate) permanents: RefCell<std::sync::Arc<crate::permanents::Permanents>>,
}

impl Default for HostFunctions {
    fn default() -> Self {
        HostFunctions {
            functions: Default::default(),
            app_data: Default::default(),
            userdata_types: Default::default(),
            tally: Default::default(),
            permanents: RefCell::new(std::sync::Arc::new(crate::permanents::Permanents::core())),
        }
    }
}

/// The cost of the conversions of one host function call: the bytes its arguments copied to
/// the host side (a `String`, a `Vec`...) are held against the VM's memory limit while the
/// arguments are converted, and the work (one unit per element, one per 64 bytes copied) is
/// charged as fuel when the call's conversions are done. So a script cannot make the host
/// allocate past the limit, or work for free, by passing big tables or strings (or the same
/// big string many times) to a typed host function.
#[derive(Default)]
pub(crate) struct Tally {
    /// Bytes copied by the argument conversions of the current call.
    bytes: std::cell::Cell<usize>,
    /// Work units of the current call's conversions.
    units: std::cell::Cell<usize>,
    /// Whether argument conversions are running (only then do copies ask the limit: the
    /// callback has changed nothing yet, so it may be run again after a collection).
    checking: std::cell::Cell<bool>,
}

impl Tally {
    fn start(&self) {
        self.bytes.set(0);
        self.units.set(0);
        self.checking.set(true);
    }

    fn arguments_done(&self) {
        self.checking.set(false);
    }

    /// The work units counted since `start`.
    fn take_units(&self) -> usize {
        self.checking.set(false);
        self.units.replace(0)
    }

    /// Notes a conversion that copies `bytes` to the host and handles `items` elements.
    pub(crate) fn note<'gc>(
        &self,
        ctx: Context<'gc>,
        bytes: usize,
        items: usize,
    ) -> Result<(), Error<'gc>> {
        self.units.set(
            self.units
                .get()
                .saturating_add(items)
                .saturating_add(bytes / 64),
        );
        if self.checking.get() {
            let total = self.bytes.get().saturating_add(bytes);
            self.bytes.set(total);
            ctx.reserve_memory_or_retry(total)?;
        }
        Ok(())
    }
}

/// Converts a host function's arguments (`values`, named from `first_arg`), holding what
/// they copy against the memory limit (see [`Tally`]); the call's conversion work is charged
/// by [`finish_conversions`].
pub(crate) fn convert_arguments<'gc, A: FromLuaMulti<'gc>>(
    ctx: Context<'gc>,
    values: &[Value<'gc>],
    first_arg: usize,
) -> Result<A, Error<'gc>> {
    let tally = &ctx.state().functions.tally;
    tally.start();
    let r = A::from_lua_multi(ctx, values, first_arg);
    tally.arguments_done();
    r
}

/// Charges the conversion work of the current host function call (arguments and results).
pub(crate) fn finish_conversions<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) {
    exec.charge(ctx.state().functions.tally.take_units());
}

impl HostFunctions {
    pub(crate) fn register(&self, name: &str, f: Rc<RawHostFn>) {
        self.functions
            .borrow_mut()
            .insert(name.as_bytes().into(), f);
    }

    pub(crate) fn get(&self, name: &[u8]) -> Option<Rc<RawHostFn>> {
        self.functions.borrow().get(name).cloned()
    }

    pub(crate) fn userdata_type(&self, name: &str) -> Option<Rc<crate::userdata_type::TypeInfo>> {
        self.userdata_types.borrow().get(name).cloned()
    }

    pub(crate) fn register_userdata_type(
        &self,
        name: &'static str,
        info: Rc<crate::userdata_type::TypeInfo>,
    ) {
        self.userdata_types.borrow_mut().insert(name, info);
    }

    pub(crate) fn set_app_data<T: 'static>(&self, data: T) -> Option<Rc<T>> {
        self.app_data
            .borrow_mut()
            .insert(TypeId::of::<T>(), Rc::new(data))
            .and_then(|old| old.downcast().ok())
    }

    pub(crate) fn app_data<T: 'static>(&self) -> Option<Rc<T>> {
        let data = self.app_data.borrow().get(&TypeId::of::<T>())?.clone();
        data.downcast().ok()
    }

    pub(crate) fn remove_app_data<T: 'static>(&self) -> Option<Rc<T>> {
        self.app_data
            .borrow_mut()
            .remove(&TypeId::of::<T>())
            .and_then(|old| old.downcast().ok())
    }
}

/// The body of every host function callback: finds the closure registered under the name
/// in its upvalue and calls it.
fn call_host_function<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
) -> Result<Action<'gc>, Error<'gc>> {
    let Value::String(name) = exec.upvalue else {
        return Err(Error::runtime("host function without a name"));
    };
    match ctx.state().functions.get(name.as_bytes()) {
        Some(f) => f(ctx, exec),
        None => Err(Error::runtime(format!(
            "host function '{}' is not registered in this VM",
            name.to_str_lossy()
        ))),
    }
}

/// Wraps a typed closure into the callback calling convention: arguments read with
/// [`FromLuaMulti`] (errors name the argument like `luaL_argerror`), results written with
/// [`IntoLuaMulti`].
pub(crate) fn typed<A, R, F>(f: F) -> Rc<RawHostFn>
where
    A: for<'a> FromLuaMulti<'a>,
    R: for<'a> IntoLuaMulti<'a>,
    F: for<'a> Fn(Context<'a>, A) -> Result<R, Error<'a>> + 'static,
{
    Rc::new(move |ctx, exec| {
        let args = convert_arguments::<A>(ctx, exec.values(), 1)?;
        let results = f(ctx, args)?.into_lua_multi(ctx)?;
        finish_conversions(ctx, exec);
        exec.set_results(ctx, &results)?;
        Ok(Action::Return)
    })
}

impl<'gc> Context<'gc> {
    /// Registers `f` as the host function `name` (replacing any function of that name) and
    /// returns its Lua value. `f` receives its arguments converted to `A` (a tuple for
    /// several, [`Variadic`](crate::Variadic) for the rest) and its result is converted back
    /// (`()` for none, a tuple for several).
    ///
    /// The Lua value holds only the name: snapshots, rollbacks and restores carry the
    /// function as its name, and a VM restoring another VM's snapshot must have registered
    /// the same names ([`Lua::register_function`](crate::Lua::register_function)); calling a
    /// name nobody registered is a Lua error naming it. So what `f` captures is host state,
    /// never rolled back: state that must rewind with the game belongs in the VM.
    ///
    /// ```
    /// use lunette_vm::{Lua, Value};
    /// let mut lua = Lua::core();
    /// lua.enter(|ctx| {
    ///     let add = ctx.create_function("add", |_, (a, b): (i64, i64)| Ok(a + b));
    ///     ctx.globals().set(ctx, ctx.str("add"), Value::Callback(add)).unwrap();
    /// });
    /// let sum: i64 = lua.eval("add(2, 40)").unwrap();
    /// assert_eq!(sum, 42);
    /// ```
    pub fn create_function<A, R, F>(self, name: &str, f: F) -> Callback<'gc>
    where
        A: for<'a> FromLuaMulti<'a>,
        R: for<'a> IntoLuaMulti<'a>,
        F: for<'a> Fn(Context<'a>, A) -> Result<R, Error<'a>> + 'static,
    {
        self.state().functions.register(name, typed(f));
        self.host_function_value(name)
    }

    /// Like [`create_function`](Self::create_function) for a closure with the full callback
    /// calling convention: it reads and writes its stack region through [`Exec`] and returns
    /// an [`Action`] (so it can call Lua functions through a continuation, yield, or pause).
    pub fn create_raw_function<F>(self, name: &str, f: F) -> Callback<'gc>
    where
        F: for<'a> Fn(Context<'a>, &mut Exec<'a, '_>) -> Result<Action<'a>, Error<'a>> + 'static,
    {
        self.state().functions.register(name, Rc::new(f));
        self.host_function_value(name)
    }

    /// The Lua value of the host function `name` (registered or not: calling an unregistered
    /// name is an error naming it).
    pub fn host_function_value(self, name: &str) -> Callback<'gc> {
        Callback::with_upvalue(self, HOST_FUNCTION, call_host_function, self.str(name))
    }

    /// Adds callbacks, continuations and names to this VM's permanents table (see
    /// [`Permanents`](crate::Permanents)): every `fn` a [`Callback`] or a
    /// [`Then`](crate::Then) of the VM can hold must be registered for the VM's snapshots to
    /// be written as bytes, and the VM reading them must have registered the same keys.
    /// Libraries call it when they are opened.
    pub fn register_permanents(self, f: impl FnOnce(&mut crate::permanents::Permanents)) {
        let mut p = self.state().functions.permanents.borrow_mut();
        f(std::sync::Arc::make_mut(&mut p));
    }

    /// The app data of type `T` the host set with
    /// [`Lua::set_app_data`](crate::Lua::set_app_data), if any. Host state, not rolled back.
    pub fn app_data<T: 'static>(self) -> Option<Rc<T>> {
        self.state().functions.app_data()
    }
}

impl<'gc> Exec<'gc, '_> {
    /// The arguments converted to `A` (a tuple for several; errors name the argument like
    /// `luaL_argerror`). What the conversion copies to the host is held against the memory
    /// limit and its work charged as fuel, like a typed host function's arguments. Call it
    /// before changing anything (it may ask for the callback to run again after a
    /// collection, `Error::CollectThenRetry`: return that error as is).
    pub fn args<A: FromLuaMulti<'gc>>(&mut self, ctx: Context<'gc>) -> Result<A, Error<'gc>> {
        let args = convert_arguments::<A>(ctx, self.values(), 1);
        finish_conversions(ctx, self);
        args
    }

    /// Replaces the region with `values` (the results a callback returns with
    /// `Action::Return`), reserving the stack space first.
    pub fn set_results(
        &mut self,
        ctx: Context<'gc>,
        values: &[Value<'gc>],
    ) -> Result<(), Error<'gc>> {
        self.reserve_values(ctx, values.len().saturating_sub(self.len()), "results")?;
        self.replace(values);
        Ok(())
    }

    /// Converts `results` and makes them the region's contents.
    pub fn set_results_from<R: IntoLuaMulti<'gc>>(
        &mut self,
        ctx: Context<'gc>,
        results: R,
    ) -> Result<(), Error<'gc>> {
        let values = results.into_lua_multi(ctx)?;
        self.set_results(ctx, &values)
    }
}

/// Host functions in the permanents table (see `permanents`): one callback for all, the
/// function's name being its upvalue.
pub(crate) fn permanents(p: &mut crate::permanents::Permanents) {
    p.callback(("vm", "host_function"), HOST_FUNCTION, call_host_function);
}
