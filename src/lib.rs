//! lunette: a stackless, rewindable Lua 5.4 VM for games.
//!
//! [`Lua`] is a VM with the standard libraries opened; everything an embedder needs is
//! re-exported here, at the crate root. The sections below are a short tour, each with an
//! example that runs as a test.
//!
//! # Run code
//!
//! [`Lua::exec`](lunette_vm::Lua::exec) runs a chunk, [`eval`](lunette_vm::Lua::eval)
//! evaluates expressions into Rust types, [`global`](lunette_vm::Lua::global) and
//! [`set_global`](lunette_vm::Lua::set_global) read and write globals, and
//! [`chunk`](lunette_vm::Lua::chunk) prepares a chunk with a name (for messages), an
//! environment and a mode. These run to completion (in steps of [`DEFAULT_STEP_FUEL`],
//! collecting garbage between steps).
//!
//! ```
//! let mut lua = lunette::Lua::new();
//! lua.exec("function greet(who) return 'hello, ' .. who end")?;
//! let s: String = lua.call_global("greet", "mods")?;
//! assert_eq!(s, "hello, mods");
//! let (n, t): (i64, Vec<i64>) = lua.eval("#'abc', {1, 2, 3}")?;
//! assert_eq!((n, t), (3, vec![1, 2, 3]));
//! lua.chunk("x = 1 +").name("=config").exec().unwrap_err(); // `config:1: unexpected symbol...`
//! # Ok::<(), lunette::LuaError>(())
//! ```
//!
//! # Typed functions
//!
//! [`create_function`](lunette_vm::Lua::create_function) turns a Rust closure into a Lua
//! function with typed arguments and results ([`FromLua`]/[`IntoLua`]: tuples for several
//! values, [`Variadic`] for the rest, `Option`, `Vec`, maps, [`Bytes`], handles). A wrong
//! argument raises the error a standard library function would:
//! `bad argument #1 to 'add' (number expected, got nil)`.
//!
//! A host function is registered under its name, and the VM's value for it holds only that
//! name: snapshots, rollbacks and restores carry it as the name, and a VM restoring another
//! VM's snapshot registers the same names first
//! ([`register_function`](lunette_vm::Lua::register_function)). So **what a closure captures
//! is host state, never rolled back**: state that must rewind with the game belongs in the VM
//! (tables, upvalues, snapshotable [`UserData`]). A Rust type becomes a Lua userdata type with
//! [`UserDataType`] (fields, methods, metamethods, one metatable per type); its payload rolls
//! back with the VM when it is [`Rewindable`]. Host data reaches functions without globals
//! as typed app data ([`set_app_data`](lunette_vm::Lua::set_app_data),
//! [`Context::app_data`]).
//!
//! ```
//! use std::rc::Rc;
//! let mut lua = lunette::Lua::with_host(Rc::new(lunette::CaptureHost::new()));
//! let add = lua.create_function("add", |_, (a, b): (i64, i64)| Ok(a + b));
//! lua.set_global("add", &add)?;
//! assert_eq!(lua.eval::<i64>("add(40, 2)")?, 42);
//! let err = lua.exec("add(1)").unwrap_err();
//! assert!(err.message.contains("bad argument #2 to 'add' (number expected, got no value)"));
//! # Ok::<(), lunette::LuaError>(())
//! ```
//!
//! # Stepping with fuel
//!
//! Running in steps is first-class: [`start`](lunette_vm::Lua::start) (or
//! [`Chunk::start`]) makes an executor, [`step`](lunette_vm::Lua::step) runs it for a
//! [`Fuel`] budget and returns a [`StepStatus`], and [`results`](lunette_vm::Lua::results)
//! reads what it returned. One unit of fuel is about one VM instruction; builtins charge by
//! the work they do, before doing it, and long ones work in pieces across steps, so a step
//! returns after about its budget whatever the script does (`while true do end` included).
//! [`call_with_fuel`](lunette_vm::Lua::call_with_fuel) runs a call to completion under a
//! total cap instead.
//!
//! ```
//! use lunette::{Fuel, Lua, StepStatus};
//! let mut lua = Lua::new();
//! let exec = lua.chunk("local n = 0 for i = 1, 1e5 do n = n + i end return n").start(())?;
//! let mut frames = 0;
//! while !lua.step(&exec, &mut Fuel::new(10_000)).is_done() {
//!     frames += 1; // the rest of the frame
//! }
//! assert!(frames > 5);
//! assert_eq!(lua.results::<i64>(&exec)?, 5_000_050_000);
//!
//! let spin = lua.chunk("while true do end").start(())?;
//! assert_eq!(lua.step(&spin, &mut Fuel::new(10_000)), StepStatus::OutOfFuel);
//! # Ok::<(), lunette::LuaError>(())
//! ```
//!
//! # Sandbox and environments
//!
//! [`Lua::sandboxed`] is the profile for other people's scripts (players' mods): no files, no
//! OS, `debug.traceback` only, frozen library tables, a memory limit
//! ([`SANDBOX_MEMORY_LIMIT`]), whatever the host grants. [`Lua::new_environment`] gives each
//! mod its own globals (its own `_G`, `require` and `load`); load the mod's chunks with it
//! ([`Chunk::env`]) and nothing the mod reaches leads to another mod's tables. Everything a
//! script does outside the VM goes through the [`Host`]: output, clocks and [`Grants`]
//! ([`CaptureHost`] keeps output in memory and has fixed clocks).
//!
//! ```
//! use std::rc::Rc;
//! use lunette::{CaptureHost, Lua};
//! let host = CaptureHost::new();
//! let mut lua = Lua::sandboxed(Rc::new(host.clone()));
//! let (a, b) = (lua.new_environment(), lua.new_environment());
//! lua.chunk("name = 'a' print(io, os.getenv)").name("=mod_a").env(&a).exec()?;
//! lua.chunk("print(name)").name("=mod_b").env(&b).exec()?;
//! assert_eq!(host.take_stdout(), b"nil\tnil\nnil\n");
//! let err = lua.chunk("string.rep = nil").env(&b).exec().unwrap_err();
//! assert!(err.message.contains("attempt to modify a read-only table"));
//! # Ok::<(), lunette::LuaError>(())
//! ```
//!
//! # Snapshots and rollback
//!
//! The whole VM can be saved and restored: globals, every table with its exact iteration
//! order, closures, coroutines suspended anywhere, executors paused mid-step, the random
//! generator and the object ids. [`snap`](lunette_vm::Lua::snap) /
//! [`rollback`](lunette_vm::Lua::rollback) keep a ring of recent snapshots as a journal (a
//! snapshot costs what changed since); [`snapshot`](lunette_vm::Lua::snapshot) /
//! [`restore`](lunette_vm::Lua::restore) make an owned, `Send + Sync` [`Snapshot`] that can
//! be restored any number of times, here or in another VM. Re-simulating from a snapshot is
//! bit-identical, and [`checksum`](lunette_vm::Lua::checksum) hashes the VM's logical state
//! (the same on every machine) to detect desyncs. Host handles ([`StashedValue`],
//! [`StashedExecutor`]) follow: one to an object created after the restored point becomes
//! stale ([`StaleHandle`]), never another object.
//!
//! ```
//! let mut lua = lunette::Lua::new();
//! lua.exec("math.randomseed(1) x = 0 function tick() x = x + math.random(10) end")?;
//! lua.snap()?;
//! lua.exec("tick()")?;
//! let (x, sum) = (lua.global::<i64>("x")?, lua.checksum()?);
//! lua.rollback(1)?;
//! assert_eq!(lua.global::<i64>("x")?, 0);
//! lua.exec("tick()")?; // re-simulated: the same random number, the same state
//! assert_eq!((lua.global::<i64>("x")?, lua.checksum()?), (x, sum));
//!
//! let saved = lua.snapshot()?;
//! let mut other = lunette::Lua::new();
//! other.restore(&saved)?;
//! assert_eq!(other.checksum()?, sum);
//! # Ok::<(), lunette::LuaError>(())
//! ```
//!
//! # Errors
//!
//! Every host-side failure is a [`LuaError`]: its [`kind`](LuaError::kind) ([`LuaErrorKind`]:
//! syntax, runtime, memory, fuel, snapshot, conversion, host), the message, the Lua traceback
//! (part of its `Display`) and the value the script raised
//! ([`value`](LuaError::value), a handle: `error({code = 7})` keeps its table). Inside the VM,
//! Rust callbacks return [`Error`], which the VM positions like `luaL_error`.
//!
//! ```
//! use lunette::{Lua, LuaErrorKind};
//! let mut lua = Lua::new();
//! let err = lua.exec("local t = nil\nlocal y = t.x").unwrap_err();
//! assert_eq!(err.kind, LuaErrorKind::Runtime);
//! assert!(err.message.ends_with("attempt to index a nil value (local 't')"));
//! assert!(err.to_string().contains("stack traceback:"));
//!
//! let err = lua.exec("error({code = 7})").unwrap_err();
//! lua.set_global("raised", err.value.as_ref().unwrap())?;
//! assert_eq!(lua.eval::<i64>("raised.code")?, 7);
//!
//! assert_eq!(lua.exec("x = = 1").unwrap_err().kind, LuaErrorKind::Syntax);
//! # Ok::<(), lunette::LuaError>(())
//! ```
//!
//! # Tasklets
//!
//! A game runs its mods' scripts as tasklets: the [`tasklets`] module's scheduler (spawn per
//! mod, Lua-side `wait(frames)`, signals and host requests, a fuel budget per frame per mod,
//! a watchdog, failures reported with their traceback), whose state is VM data: it
//! snapshots and rolls back with the rest.
//!
//! # Lower levels
//!
//! Library code writes [`Callback`]s (a plain `fn` plus one Lua value of state, continuing
//! with [`Action`] and [`Then`] instead of recursing) and [`async_callback`]s (for hosts that
//! do not snapshot while one is in flight). The workspace crates are re-exported as
//! [`vm`], [`stdlib`] and [`compiler`] for what the root does not cover.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::ops::{Deref, DerefMut};
use std::rc::Rc;

pub mod tasklets;

/// The compiler (`compile`, `disassemble`, the instruction set): source text to prototypes.
pub use lunette_compiler as compiler;
/// The standard libraries, each with its own `open` (what [`Lua::new`] opens all of).
pub use lunette_stdlib as stdlib;
/// The core VM crate, without libraries (its [`Lua`](lunette_vm::Lua) is what [`Lua`] derefs
/// to). Everything an embedder needs is also re-exported at this crate's root.
pub use lunette_vm as vm;
pub use lunette_vm::{
    async_callback, chunk_id, display_plain, error_message, Action, Bytes, Callback, CallbackFn,
    CaptureHost, ChecksumHasher, Chunk, ChunkMode, CompileError, Context, ContinuationFn,
    DenyGrants, Error, Exec, ExecResult, Executor, FromLua, FromLuaMulti, Fuel, Function, Grants,
    Host, IntoLua, IntoLuaMulti, InvalidKey, InvalidNextKey, LuaClosure, LuaError, LuaErrorKind,
    LuaString, MemoryAccount, Message, MetaEvent, Outcome, PermanentKey, Permanents, Revive,
    Rewindable, SequenceError, SequenceFuture, SequenceHandle, SequenceResult,
    SerializableUserData, Snapshot, SnapshotError, Snapshotable, StaleHandle, StashedExecutor,
    StashedValue, StdHost, StepStatus, Table, Then, Thread, ThreadStatus, UserData, UserDataRef,
    UserDataRegistry, UserDataType, Value, ValueType, Variadic, DEFAULT_MAX_SNAPSHOTS,
    DEFAULT_STEP_FUEL,
};

pub use tasklets::{FrameReport, Request, TaskletConfig, TaskletFailure};

/// The README's examples are compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// A Lua VM with the standard libraries opened. Derefs to [`lunette_vm::Lua`], the core VM.
pub struct Lua(lunette_vm::Lua);

/// The memory limit of [`Lua::sandboxed`]: 64 MiB.
pub const SANDBOX_MEMORY_LIMIT: usize = 64 << 20;

impl Default for Lua {
    fn default() -> Self {
        Self::new()
    }
}

impl Lua {
    /// A VM with every library and output to the process's stdout/stderr.
    pub fn new() -> Lua {
        Self::with_host(Rc::new(StdHost::new()))
    }

    /// A VM with every library and the given host (e.g. a [`CaptureHost`]).
    pub fn with_host(host: Rc<dyn Host>) -> Lua {
        let lua = lunette_vm::Lua::core_with_host(host);
        lua.enter(lunette_stdlib::open_all);
        Lua(lua)
    }

    /// A VM for untrusted scripts (players' mods). Whatever `host` grants, the sandbox grants
    /// nothing: no `io`, no `os` beyond `clock/time/date/difftime`, no
    /// `dofile`/`loadfile`/file `require` (modules come from `package.preload` and
    /// `package.sources`), `debug` has only `traceback`, `collectgarbage` cannot force full
    /// collections, binary chunks are refused by `load`, and every library table and the
    /// string metatable are frozen so scripts cannot change them under each other. Output and
    /// clocks still go through `host`. Give each mod its own globals with [`Lua::new_environment`]
    /// and run it in bounded steps with [`lunette_vm::Lua::step`] and a [`Fuel`] budget.
    /// Memory is limited to [`SANDBOX_MEMORY_LIMIT`] bytes (change it with
    /// `set_memory_limit`); over it, scripts get a catchable `not enough memory` error.
    pub fn sandboxed(host: Rc<dyn Host>) -> Lua {
        let mut lua = lunette_vm::Lua::core_with_host(Rc::new(lunette_vm::DenyGrants(host)));
        lua.set_memory_limit(Some(SANDBOX_MEMORY_LIMIT));
        lua.enter(|ctx| {
            lunette_stdlib::open_all(ctx);
            lunette_stdlib::freeze_libraries(ctx);
        });
        Lua(lua)
    }

    /// A fresh global environment (see `lunette_stdlib::new_environment`) to load one mod's
    /// chunks in, with [`lunette_vm::Lua::load_with_env`].
    pub fn new_environment(&self) -> StashedValue {
        self.enter(|ctx| ctx.stash(Value::Table(lunette_stdlib::new_environment(ctx))))
    }

    /// The core VM.
    pub fn into_core(self) -> lunette_vm::Lua {
        self.0
    }
}

impl Deref for Lua {
    type Target = lunette_vm::Lua;
    fn deref(&self) -> &lunette_vm::Lua {
        &self.0
    }
}

impl DerefMut for Lua {
    fn deref_mut(&mut self) -> &mut lunette_vm::Lua {
        &mut self.0
    }
}
