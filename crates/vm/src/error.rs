//! Errors: what Rust callbacks raise inside the VM, and what the host receives.

use crate::handle::StashedValue;
use crate::value::Value;

/// An error raised inside the VM (by the interpreter or a Rust callback).
#[derive(Debug, Clone)]
pub enum Error<'gc> {
    /// A Lua value raised as is (`error(v, 0)`, rethrown errors, non-string values).
    Value(Value<'gc>),
    /// A message from Rust; the VM prefixes the position (`chunk:line:`) of the Lua function
    /// that called the callback, like `luaL_error`.
    Runtime(String),
    /// `bad argument #arg to 'name' (message)`; the VM finds `name` from the call site like
    /// PUC (`luaL_argerror`), adjusting for method calls.
    BadArgument {
        /// The argument's position, 1-based as in the message.
        arg: usize,
        /// What is wrong with it.
        message: String,
    },
    /// `bad argument #arg to 'name' (<expected> expected, got <type>)` (`Error::type_error`):
    /// like `BadArgument`, and the VM names the actual argument's type like
    /// `luaL_typeerror` — its metatable's `__name` if that is a string, else its type
    /// (`no value` for a missing argument).
    TypeError {
        /// The argument's position, 1-based as in the message.
        arg: usize,
        /// The expected type's name (`number`, `table`, `string or nil`...).
        expected: String,
        /// The argument given; `None` when it is missing (`no value`).
        got: Option<Value<'gc>>,
    },
    /// The VM's memory limit was reached: the error value is the string
    /// `not enough memory`, without a position (like PUC's memory errors).
    NotEnoughMemory,
    /// Not a failure: the memory a callback asked for with
    /// `Context::reserve_memory_or_retry` does not fit under the limit until a full
    /// collection runs. Return it as is (`?`); the callback must not have changed anything
    /// yet (the stack, tables, not even created an object): the executor ends the step, the
    /// host collects, and the same callback (or continuation) runs again with the same stack,
    /// where the request either fits or fails with `NotEnoughMemory`.
    CollectThenRetry,
}

impl<'gc> Error<'gc> {
    /// [`Error::Runtime`]: a message that gets the caller's position.
    pub fn runtime(msg: impl Into<String>) -> Self {
        Error::Runtime(msg.into())
    }

    /// [`Error::BadArgument`]: `bad argument #arg to 'f' (message)`.
    pub fn bad_argument(arg: usize, message: impl Into<String>) -> Self {
        Error::BadArgument {
            arg,
            message: message.into(),
        }
    }

    /// `bad argument #arg to 'f' (<expected> expected, got <type>)`.
    /// The type name is resolved when the error is raised (`__name` counts, see
    /// `Error::TypeError`).
    pub fn type_error(arg: usize, expected: &str, got: Option<Value<'gc>>) -> Self {
        Error::TypeError {
            arg,
            expected: expected.to_string(),
            got,
        }
    }
}

/// `attempt to <action> a <type> value<description>`, the type from `__name` like PUC's
/// `luaG_typeerror`, written into a message allocated once at its length (`format!` grows
/// its buffer by doubling: a message quoting a `__name` of megabytes was copied several
/// times, each copy faulting in fresh pages).
pub(crate) fn type_error_message<'gc>(
    ctx: crate::state::Context<'gc>,
    action: &str,
    v: Value<'gc>,
    description: &str,
) -> Error<'gc> {
    let type_name = ctx.object_type_name_text(v);
    Error::Runtime(joined_text(&[
        "attempt to ",
        action,
        " a ",
        &type_name,
        " value",
        description,
    ]))
}

/// `parts` joined into a string allocated once at its length (see [`type_error_message`]).
pub(crate) fn joined_text(parts: &[&str]) -> String {
    let mut text = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    parts.iter().for_each(|p| text.push_str(p));
    text
}

impl<'gc> From<Value<'gc>> for Error<'gc> {
    fn from(v: Value<'gc>) -> Self {
        Error::Value(v)
    }
}

/// An error as the host receives it: from compiling, running, converting, snapshotting or
/// misusing a handle. `Display` shows the message and, when there is one, the Lua traceback
/// (like the `lua` command); the raised Lua value is kept in [`LuaError::value`].
///
/// ```
/// use lunette_vm::{Lua, LuaErrorKind};
/// let mut lua = Lua::core();
/// let err = lua.exec("local t = nil; t.x = 1").unwrap_err();
/// assert_eq!(err.kind, LuaErrorKind::Runtime);
/// assert!(err.message.ends_with("attempt to index a nil value (local 't')"));
/// assert!(err.to_string().contains("stack traceback:"));
/// ```
#[derive(Clone)]
pub struct LuaError {
    /// `tostring` of the error value (`(error object is a X value)` for non-strings without
    /// `__tostring`, like the `lua` command), or the host-side message.
    pub message: String,
    /// `stack traceback:` lines, PUC style, taken where the error was raised; empty if not
    /// available (syntax, conversion and host errors).
    pub traceback: String,
    /// What failed.
    pub kind: LuaErrorKind,
    /// The value the script raised (`error({code = 7})` keeps its table), for runtime and
    /// memory errors; `None` for the other kinds.
    pub value: Option<StashedValue>,
}

/// What kind of failure a [`LuaError`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LuaErrorKind {
    /// The source did not compile (`load`, `Lua::load`, `Lua::exec`...).
    Syntax,
    /// A script raised an error (any value).
    Runtime,
    /// The VM's memory limit was reached (`not enough memory`).
    Memory,
    /// A run with a fuel cap (`Lua::call_with_fuel`...) used it all before finishing.
    Fuel,
    /// A snapshot, rollback or restore failed (see `SnapshotError`).
    Snapshot,
    /// A value did not convert to the Rust type asked for (results of a call, a global...).
    Conversion,
    /// The host misused the API (a stale handle, a bad snapshot index...).
    Host,
}

impl LuaError {
    /// A host-side error of `kind` with `message` (no traceback, no value).
    pub fn new(kind: LuaErrorKind, message: impl Into<String>) -> Self {
        LuaError {
            message: message.into(),
            traceback: String::new(),
            kind,
            value: None,
        }
    }

    /// An API misuse error.
    pub fn host(msg: impl Into<String>) -> Self {
        Self::new(LuaErrorKind::Host, msg)
    }
}

impl std::fmt::Display for LuaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)?;
        if !self.traceback.is_empty() {
            write!(f, "\n{}", self.traceback)?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for LuaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LuaError")
            .field("kind", &self.kind)
            .field("message", &self.message)
            .field("traceback", &self.traceback)
            .field("has_value", &self.value.is_some())
            .finish()
    }
}

/// Errors are equal when their kind, message and traceback are (the kept value is a handle
/// and is not compared).
impl PartialEq for LuaError {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
            && self.message == other.message
            && self.traceback == other.traceback
    }
}

impl std::error::Error for LuaError {}

impl From<crate::snapshot::SnapshotError> for LuaError {
    fn from(e: crate::snapshot::SnapshotError) -> Self {
        Self::new(LuaErrorKind::Snapshot, e.to_string())
    }
}

impl From<crate::handle::StaleHandle> for LuaError {
    fn from(e: crate::handle::StaleHandle) -> Self {
        Self::host(e.to_string())
    }
}

impl From<String> for Error<'_> {
    fn from(m: String) -> Self {
        Error::Runtime(m)
    }
}

impl From<&str> for Error<'_> {
    fn from(m: &str) -> Self {
        Error::Runtime(m.to_string())
    }
}

/// A host error surfacing inside a host function becomes a runtime error with its message
/// (so `?` works on the host API inside closures).
impl From<LuaError> for Error<'_> {
    fn from(e: LuaError) -> Self {
        Error::Runtime(e.message)
    }
}
