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

use std::ops::{Deref, DerefMut};
use std::rc::Rc;

pub use lunette_compiler as compiler;
pub use lunette_stdlib as stdlib;
pub use lunette_vm as vm;
pub use lunette_vm::{
    Action, Callback, CaptureHost, Context, Error, ExecResult, Executor, Fuel, Host, LuaError,
    LuaErrorKind, LuaString, StashedExecutor, StashedValue, StdHost, Table, Thread, Value,
};

/// The README's examples are compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// A Lua VM with the standard libraries opened. Derefs to [`lunette_vm::Lua`], the core VM.
pub struct Lua(lunette_vm::Lua);

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
