//! lunette: a stackless, rewindable Lua 5.4 VM for games.
//!
//! This facade re-exports the public API of the workspace crates and provides [`Lua`], a VM
//! with the standard libraries opened.
//!
//! ```
//! let mut lua = lunette::Lua::new();
//! let results = lua.execute(b"return 6 * 7", "=example").unwrap();
//! assert_eq!(results, vec!["42".to_string()]);
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::ops::{Deref, DerefMut};
use std::rc::Rc;

pub use lunette_compiler as compiler;
pub use lunette_stdlib as stdlib;
pub use lunette_vm as vm;
pub use lunette_vm::{
    Action, Bytes, Callback, CaptureHost, Chunk, ChunkMode, Context, Error, ExecResult, Executor,
    FromLua, FromLuaMulti, Fuel, Function, Grants, Host, IntoLua, IntoLuaMulti, LuaError,
    LuaErrorKind, LuaString, StashedExecutor, StashedValue, StdHost, StepStatus, Table, Thread,
    Value, Variadic,
};

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
