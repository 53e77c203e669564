//! Running Lua from the host: the chunk builder, calls and evaluation with typed arguments
//! and results, globals, host functions, app data, and the status of a step.
//!
//! Two ways to run, both first-class:
//! - **to completion**: [`Lua::exec`], [`Lua::eval`], [`Lua::call`] run in steps of
//!   [`DEFAULT_STEP_FUEL`](crate::lua::DEFAULT_STEP_FUEL) (collecting garbage between
//!   steps) until the code finishes; [`Lua::call_with_fuel`] stops at a total fuel cap.
//! - **in steps**: [`Lua::start`] (or [`Chunk::start`]) makes an executor, [`Lua::step`]
//!   runs it for a fuel budget and says where it stands ([`StepStatus`]), and
//!   [`Lua::results`] reads what it returned.

use crate::convert::{FromLua, FromLuaMulti, IntoLua, IntoLuaMulti};
use crate::error::{Error, LuaError, LuaErrorKind};
use crate::executor::{ExecResult, Executor, Fuel};
use crate::function::{Action, Callback};
use crate::handle::{StashedExecutor, StashedValue};
use crate::lua::{error_message, Lua, DEFAULT_STEP_FUEL};
use crate::state::Context;
use crate::value::Value;

/// Where an executor stands after [`Lua::step`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepStatus {
    /// It finished and returned values (read them with [`Lua::results`]).
    Returned,
    /// It finished with an error ([`Lua::results`] returns it, with the traceback).
    Errored,
    /// The step's fuel ran out; step again to go on.
    OutOfFuel,
    /// An async callback is waiting for something outside the VM (a Rust future that is
    /// not the VM's own request); step again later to poll it.
    Waiting,
}

impl StepStatus {
    /// Whether the executor finished (returned or errored): stepping it again does nothing.
    pub fn is_done(self) -> bool {
        matches!(self, StepStatus::Returned | StepStatus::Errored)
    }
}

/// Which encodings of a chunk [`Chunk::mode`] accepts (like `load`'s `mode` argument).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChunkMode {
    /// Source text only (the default).
    #[default]
    Text,
    /// Precompiled (binary) chunks only.
    Binary,
    /// Either.
    Any,
}

/// A chunk of Lua source being prepared: its name, environment and mode, then what to do
/// with it. Made by [`Lua::chunk`].
///
/// ```
/// use lunette_vm::Lua;
/// let mut lua = Lua::core();
/// let env = lua.new_table();
/// lua.chunk("x = 6 * 7").name("=config").env(&env).exec().unwrap();
/// let x: i64 = lua.chunk("return x").env(&env).eval().unwrap();
/// assert_eq!(x, 42);
/// ```
pub struct Chunk<'lua, 'src> {
    lua: &'lua mut Lua,
    source: &'src [u8],
    name: Option<String>,
    env: Option<StashedValue>,
    mode: ChunkMode,
}

impl<'lua, 'src> Chunk<'lua, 'src> {
    /// The chunk name used in messages and tracebacks, with `load`'s conventions: `=name`
    /// shows `name`, `@file` shows the file name; anything else shows as `[string "..."]`.
    /// By default the source itself (like `luaL_loadstring`).
    pub fn name(mut self, name: &str) -> Self {
        self.name = Some(name.to_string());
        self
    }

    /// The chunk's `_ENV` (e.g. a mod's environment); by default the globals.
    pub fn env(mut self, env: &StashedValue) -> Self {
        self.env = Some(env.clone());
        self
    }

    /// Which encodings to accept (text by default). Binary chunks (`string.dump`'s format)
    /// are decoded as untrusted bytes and checked by the bytecode verifier.
    pub fn mode(mut self, mode: ChunkMode) -> Self {
        self.mode = mode;
        self
    }

    fn chunk_name(&self) -> String {
        match &self.name {
            Some(n) => n.clone(),
            None => String::from_utf8_lossy(self.source).into_owned(),
        }
    }

    fn check_mode(&self) -> Result<(), LuaError> {
        let binary = self.source.first() == Some(&0x1b);
        match (binary, self.mode) {
            (true, ChunkMode::Text) => Err(LuaError::new(
                LuaErrorKind::Syntax,
                "attempt to load a binary chunk (mode is 't')",
            )),
            (false, ChunkMode::Binary) => Err(LuaError::new(
                LuaErrorKind::Syntax,
                "attempt to load a text chunk (mode is 'b')",
            )),
            _ => Ok(()),
        }
    }

    /// Compiles the chunk into a function value (or decodes and verifies it, for a binary
    /// chunk that the mode accepts).
    pub fn load(self) -> Result<StashedValue, LuaError> {
        self.check_mode()?;
        let name = self.chunk_name();
        self.lua
            .load_any_with_env(self.source, &name, self.env.as_ref())
    }

    /// Runs the chunk to completion, discarding its results.
    pub fn exec(self) -> Result<(), LuaError> {
        self.call(())
    }

    /// Runs the chunk with `args` (its `...`) to completion and converts its results.
    pub fn call<R: for<'gc> FromLuaMulti<'gc>>(
        self,
        args: impl for<'gc> IntoLuaMulti<'gc>,
    ) -> Result<R, LuaError> {
        let (lua, f) = self.load_keeping_lua()?;
        lua.call(&f, args)
    }

    /// Evaluates the chunk as an expression list if it is one (`1 + 2`, `f(x), y`), else
    /// runs it as a block (`local a = 1 return a`), and converts the results.
    pub fn eval<R: for<'gc> FromLuaMulti<'gc>>(self) -> Result<R, LuaError> {
        self.check_mode()?;
        let name = self.chunk_name();
        if self.source.first() == Some(&0x1b) {
            let f = self
                .lua
                .load_any_with_env(self.source, &name, self.env.as_ref())?;
            return self.lua.call(&f, ());
        }
        let mut expr = b"return ".to_vec();
        expr.extend_from_slice(self.source);
        let f = match self.lua.load_with_env(&expr, &name, self.env.as_ref()) {
            Ok(f) => f,
            Err(_) => self
                .lua
                .load_with_env(self.source, &name, self.env.as_ref())?,
        };
        self.lua.call(&f, ())
    }

    /// Makes an executor running the chunk with `args`, to run with [`Lua::step`].
    pub fn start(self, args: impl for<'gc> IntoLuaMulti<'gc>) -> Result<StashedExecutor, LuaError> {
        let (lua, f) = self.load_keeping_lua()?;
        lua.start(&f, args)
    }

    fn load_keeping_lua(self) -> Result<(&'lua mut Lua, StashedValue), LuaError> {
        self.check_mode()?;
        let name = self.chunk_name();
        let f = self
            .lua
            .load_any_with_env(self.source, &name, self.env.as_ref())?;
        Ok((self.lua, f))
    }
}

/// Renders an error raised while converting values on the host side (`what` names the list:
/// `argument`, `result`, `value`).
pub(crate) fn conversion_error<'gc>(ctx: Context<'gc>, e: Error<'gc>, what: &str) -> LuaError {
    let message = match e {
        Error::TypeError { arg, expected, got } => {
            let got = match got {
                Some(v) => ctx.type_name_by_metatable(v),
                None => "no value".into(),
            };
            if arg == 0 {
                format!("{expected} expected, got {got}")
            } else {
                format!("bad {what} #{arg} ({expected} expected, got {got})")
            }
        }
        Error::BadArgument { arg: 0, message } => message,
        Error::BadArgument { arg, message } => format!("bad {what} #{arg} ({message})"),
        Error::Runtime(m) => m,
        Error::Message(m) => m.to_string_lossy(),
        Error::Value(v) => error_message(ctx, v),
        Error::NotEnoughMemory | Error::CollectThenRetry => {
            return LuaError::new(
                LuaErrorKind::Memory,
                crate::executor::NOT_ENOUGH_MEMORY.to_string(),
            )
        }
    };
    LuaError::new(LuaErrorKind::Conversion, message)
}

/// An error raised by a host-side operation (creating userdata...), as a `Host` error, or
/// `Memory` for the memory limit.
fn host_error<'gc>(ctx: Context<'gc>, e: Error<'gc>) -> LuaError {
    let mut err = conversion_error(ctx, e, "value");
    if err.kind == LuaErrorKind::Conversion {
        err.kind = LuaErrorKind::Host;
    }
    err
}

/// The error of a finished executor as the host sees it: the message, the traceback, the
/// value kept, and the kind (`Memory` when it is the memory limit's error).
pub(crate) fn runtime_error<'gc>(
    ctx: Context<'gc>,
    value: Value<'gc>,
    traceback: String,
) -> LuaError {
    let memory = matches!(value, Value::String(s) if s.as_bytes() == crate::executor::NOT_ENOUGH_MEMORY.as_bytes());
    LuaError {
        message: error_message(ctx, value),
        traceback,
        kind: if memory {
            LuaErrorKind::Memory
        } else {
            LuaErrorKind::Runtime
        },
        value: Some(ctx.stash(value)),
    }
}

impl Lua {
    /// Prepares a chunk of source (text or bytes) to load, run, evaluate or start; see
    /// [`Chunk`].
    pub fn chunk<'lua, 'src>(
        &'lua mut self,
        source: &'src (impl AsRef<[u8]> + ?Sized),
    ) -> Chunk<'lua, 'src> {
        Chunk {
            lua: self,
            source: source.as_ref(),
            name: None,
            env: None,
            mode: ChunkMode::Text,
        }
    }

    /// Runs `source` to completion (in the globals).
    ///
    /// ```
    /// let mut lua = lunette_vm::Lua::core();
    /// lua.exec("answer = 42").unwrap();
    /// assert_eq!(lua.global::<i64>("answer").unwrap(), 42);
    /// ```
    pub fn exec(&mut self, source: impl AsRef<[u8]>) -> Result<(), LuaError> {
        self.chunk(source.as_ref()).exec()
    }

    /// Evaluates `source` (an expression list, or a block with `return`) and converts its
    /// results to `R` (a tuple for several).
    ///
    /// ```
    /// let mut lua = lunette_vm::Lua::core();
    /// let (a, b): (i64, String) = lua.eval("6 * 7, 'x' .. 1").unwrap();
    /// assert_eq!((a, b.as_str()), (42, "x1"));
    /// ```
    pub fn eval<R: for<'gc> FromLuaMulti<'gc>>(
        &mut self,
        source: impl AsRef<[u8]>,
    ) -> Result<R, LuaError> {
        self.chunk(source.as_ref()).eval()
    }

    /// Calls the function `f` with `args` to completion and converts its results to `R`.
    /// (While an async callback waits on a future outside the VM, this blocks, polling it
    /// at every step: hosts with such callbacks step executors themselves.)
    ///
    /// ```
    /// let mut lua = lunette_vm::Lua::core();
    /// lua.exec("function add(a, b) return a + b end").unwrap();
    /// let add = lua.global::<lunette_vm::StashedValue>("add").unwrap();
    /// assert_eq!(lua.call::<i64>(&add, (40, 2)).unwrap(), 42);
    /// ```
    pub fn call<R: for<'gc> FromLuaMulti<'gc>>(
        &mut self,
        f: &StashedValue,
        args: impl for<'gc> IntoLuaMulti<'gc>,
    ) -> Result<R, LuaError> {
        let exec = self.start(f, args)?;
        self.run_to_end(&exec, None)?;
        self.results(&exec)
    }

    /// Calls the global function `name` (see [`call`](Self::call)).
    pub fn call_global<R: for<'gc> FromLuaMulti<'gc>>(
        &mut self,
        name: &str,
        args: impl for<'gc> IntoLuaMulti<'gc>,
    ) -> Result<R, LuaError> {
        let f = self.global::<StashedValue>(name)?;
        self.call(&f, args)
    }

    /// Like [`call`](Self::call), but stops with a [`LuaErrorKind::Fuel`] error once the
    /// call has used `max_fuel` units without finishing (an infinite loop in a mod's
    /// handler costs one frame, not the game).
    pub fn call_with_fuel<R: for<'gc> FromLuaMulti<'gc>>(
        &mut self,
        f: &StashedValue,
        args: impl for<'gc> IntoLuaMulti<'gc>,
        max_fuel: u64,
    ) -> Result<R, LuaError> {
        let exec = self.start(f, args)?;
        self.run_to_end(&exec, Some(max_fuel))?;
        self.results(&exec)
    }

    /// Makes an executor that calls `f` with `args`, to run with [`step`](Self::step).
    pub fn start(
        &mut self,
        f: &StashedValue,
        args: impl for<'gc> IntoLuaMulti<'gc>,
    ) -> Result<StashedExecutor, LuaError> {
        self.enter(|ctx| {
            let f = ctx.fetch(f)?;
            let args = args
                .into_lua_multi(ctx)
                .map_err(|e| conversion_error(ctx, e, "argument"))?;
            Ok(ctx.stash_executor(Executor::start(ctx, f, &args)))
        })
    }

    /// Steps `exec` until it finishes, or (with `max_fuel`) until that much fuel is used.
    fn run_to_end(
        &mut self,
        exec: &StashedExecutor,
        max_fuel: Option<u64>,
    ) -> Result<(), LuaError> {
        let mut left = max_fuel;
        loop {
            let budget = match left {
                Some(0) => {
                    return Err(LuaError::new(
                        LuaErrorKind::Fuel,
                        format!(
                            "fuel exhausted ({} units) before the call finished",
                            max_fuel.unwrap_or(0)
                        ),
                    ))
                }
                Some(n) => n.min(DEFAULT_STEP_FUEL as u64) as i64,
                None => DEFAULT_STEP_FUEL,
            };
            let mut fuel = Fuel::new(budget);
            // (A step that marks a slice of a full collection spends no fuel and makes
            // progress: not counted. Any other step counts as at least one unit.)
            let collecting = self.full_collection_in_progress();
            let status = self.step(exec, &mut fuel);
            if let Some(n) = left.as_mut() {
                let used = (budget - fuel.remaining()).max(0) as u64;
                *n = n.saturating_sub(if collecting { used } else { used.max(1) });
            }
            match status {
                StepStatus::Returned | StepStatus::Errored => return Ok(()),
                // An async callback waits on a future outside the VM: this call blocks,
                // polling it at every step; give the CPU away between polls.
                StepStatus::Waiting => std::thread::yield_now(),
                StepStatus::OutOfFuel => {}
            }
        }
    }

    /// Makes `exec` raise `error` where it is paused, when it next steps (see
    /// [`Executor::interrupt`]): a way to stop a runaway script that its `pcall`s and
    /// `__close` handlers see, like `lua`'s Ctrl-C.
    ///
    /// ```
    /// use lunette_vm::{Fuel, Lua, StepStatus};
    /// let mut lua = Lua::core();
    /// let exec = lua.chunk("while true do end").start(()).unwrap();
    /// assert_eq!(lua.step(&exec, &mut Fuel::new(1000)), StepStatus::OutOfFuel);
    /// lua.interrupt(&exec, "stopped").unwrap();
    /// assert_eq!(lua.step(&exec, &mut Fuel::new(1000)), StepStatus::Errored);
    /// let e = lua.results::<()>(&exec).unwrap_err();
    /// assert_eq!(e.message, "stopped");
    /// ```
    pub fn interrupt(
        &mut self,
        exec: &StashedExecutor,
        error: impl for<'gc> IntoLua<'gc>,
    ) -> Result<(), LuaError> {
        self.enter(|ctx| {
            let e = ctx
                .fetch_executor(exec)
                .map_err(|e| LuaError::host(e.to_string()))?;
            let v = error
                .into_lua(ctx)
                .map_err(|e| conversion_error(ctx, e, "interrupt value"))?;
            e.interrupt(ctx, v);
            Ok(())
        })
    }

    /// What a finished executor returned, converted to `R`; its error if it failed (with
    /// the traceback and the raised value); a [`LuaErrorKind::Host`] error while it is still
    /// running.
    pub fn results<R: for<'gc> FromLuaMulti<'gc>>(
        &mut self,
        exec: &StashedExecutor,
    ) -> Result<R, LuaError> {
        self.enter(|ctx| match ctx.fetch_executor(exec)?.result() {
            Some(ExecResult::Returned(values)) => {
                R::from_lua_multi(ctx, &values, 1).map_err(|e| conversion_error(ctx, e, "result"))
            }
            Some(ExecResult::Errored { value, traceback }) => {
                Err(runtime_error(ctx, value, traceback))
            }
            None => Err(LuaError::host("the executor has not finished")),
        })
    }

    /// The global `name`, converted to `T`.
    pub fn global<T: for<'gc> FromLua<'gc>>(&mut self, name: &str) -> Result<T, LuaError> {
        self.enter(|ctx| {
            let v = ctx.globals().get(ctx.key(name));
            T::from_lua(ctx, v).map_err(|e| {
                let mut err = conversion_error(ctx, e, "value");
                err.message = format!("global '{name}': {}", err.message);
                err
            })
        })
    }

    /// Sets the global `name` to `value` (raw, like `rawset(_G, name, value)`).
    pub fn set_global(
        &mut self,
        name: &str,
        value: impl for<'gc> IntoLua<'gc>,
    ) -> Result<(), LuaError> {
        self.enter(|ctx| {
            let v = value
                .into_lua(ctx)
                .map_err(|e| conversion_error(ctx, e, "value"))?;
            ctx.globals()
                .set(ctx, ctx.str(name), v)
                .map_err(|e| LuaError::host(format!("cannot set global '{name}': {e}")))
        })
    }

    /// A new empty table (e.g. an environment for [`Chunk::env`]).
    pub fn new_table(&mut self) -> StashedValue {
        self.enter(|ctx| ctx.stash(Value::Table(ctx.new_table())))
    }

    /// Registers the host function `name` and returns its value (see
    /// [`Context::create_function`] and the `host_fn` module docs).
    ///
    /// ```
    /// let mut lua = lunette_vm::Lua::core();
    /// let greet = lua.create_function("greet", |_, name: String| Ok(format!("hello, {name}")));
    /// lua.set_global("greet", &greet).unwrap();
    /// assert_eq!(lua.eval::<String>("greet('mods')").unwrap(), "hello, mods");
    /// ```
    pub fn create_function<A, R, F>(&mut self, name: &str, f: F) -> StashedValue
    where
        A: for<'a> FromLuaMulti<'a>,
        R: for<'a> IntoLuaMulti<'a>,
        F: for<'a> Fn(Context<'a>, A) -> Result<R, Error<'a>> + 'static,
    {
        self.enter(|ctx| ctx.stash(Value::Callback(ctx.create_function(name, f))))
    }

    /// Registers `f` as the host function `name` without making a value: what a VM that
    /// restores a snapshot of another VM does for every host function the snapshot refers
    /// to (their values come from the snapshot).
    pub fn register_function<A, R, F>(&mut self, name: &str, f: F)
    where
        A: for<'a> FromLuaMulti<'a>,
        R: for<'a> IntoLuaMulti<'a>,
        F: for<'a> Fn(Context<'a>, A) -> Result<R, Error<'a>> + 'static,
    {
        self.enter(|ctx| {
            ctx.state()
                .functions
                .register(name, crate::host_fn::typed(f))
        });
    }

    /// Registers a raw host function (see [`Context::create_raw_function`]) and returns its
    /// value.
    pub fn create_raw_function<F>(&mut self, name: &str, f: F) -> StashedValue
    where
        F: for<'a> Fn(
                Context<'a>,
                &mut crate::executor::Exec<'a, '_>,
            ) -> Result<Action<'a>, Error<'a>>
            + 'static,
    {
        self.enter(|ctx| {
            let cb: Callback<'_> = ctx.create_raw_function(name, f);
            ctx.stash(Value::Callback(cb))
        })
    }

    /// Makes `data` reachable from host functions as [`Context::app_data`] (one value per
    /// type; returns the one it replaces). Host state: never part of snapshots.
    pub fn set_app_data<T: 'static>(&mut self, data: T) -> Option<std::rc::Rc<T>> {
        self.enter(|ctx| ctx.state().functions.set_app_data(data))
    }

    /// The app data of type `T`, if set.
    pub fn app_data<T: 'static>(&self) -> Option<std::rc::Rc<T>> {
        self.enter(|ctx| ctx.app_data())
    }

    /// Removes and returns the app data of type `T`.
    pub fn remove_app_data<T: 'static>(&mut self) -> Option<std::rc::Rc<T>> {
        self.enter(|ctx| ctx.state().functions.remove_app_data())
    }

    /// Registers the userdata type `T` (see the `userdata_type` module docs) without changing
    /// the VM's state. A VM that restores a snapshot holding `T` values must do this first
    /// (the restore fails naming the type otherwise); creating a `T` does it too.
    pub fn register_userdata_type<T: crate::UserDataType>(&mut self) -> Result<(), LuaError> {
        self.enter(|ctx| {
            ctx.register_userdata_type::<T>()
                .map_err(|e| host_error(ctx, e))
        })
    }

    /// A new userdata holding `value` (see [`Context::create_userdata`]).
    pub fn create_userdata<T: crate::UserDataType>(
        &mut self,
        value: T,
    ) -> Result<StashedValue, LuaError> {
        self.enter(|ctx| match ctx.create_userdata(value) {
            Ok(u) => Ok(ctx.stash(Value::UserData(u))),
            Err(e) => Err(host_error(ctx, e)),
        })
    }

    /// A new table with `T`'s static functions (see [`Context::userdata_statics`]).
    pub fn userdata_statics<T: crate::UserDataType>(&mut self) -> Result<StashedValue, LuaError> {
        self.enter(|ctx| match ctx.userdata_statics::<T>() {
            Ok(t) => Ok(ctx.stash(Value::Table(t))),
            Err(e) => Err(host_error(ctx, e)),
        })
    }
}
