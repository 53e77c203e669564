//! Errors: what Rust callbacks raise inside the VM, and what the host receives.

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
    BadArgument { arg: usize, message: String },
    /// `bad argument #arg to 'name' (<expected> expected, got <type>)` (`Error::type_error`):
    /// like `BadArgument`, and the VM names the actual argument's type like
    /// `luaL_typeerror` — its metatable's `__name` if that is a string, else its type
    /// (`no value` for a missing argument).
    TypeError {
        arg: usize,
        expected: String,
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
    pub fn runtime(msg: impl Into<String>) -> Self {
        Error::Runtime(msg.into())
    }

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

impl<'gc> From<Value<'gc>> for Error<'gc> {
    fn from(v: Value<'gc>) -> Self {
        Error::Value(v)
    }
}

/// An error that escaped to the host: the error value rendered as text, plus a traceback
/// taken where it was raised.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct LuaError {
    /// `tostring` of the error value (`(error object is a X value)` for non-strings without
    /// `__tostring`, like the `lua` command).
    pub message: String,
    /// `stack traceback:` lines, PUC style; empty if not available.
    pub traceback: String,
    pub kind: LuaErrorKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LuaErrorKind {
    /// A syntax error from `load`.
    Syntax,
    /// A runtime error (any raised value).
    Runtime,
    /// The memory limit was hit.
    Memory,
    /// The host misused the API (wrong handle, bad snapshot index...).
    Host,
}

impl LuaError {
    pub fn host(msg: impl Into<String>) -> Self {
        LuaError {
            message: msg.into(),
            traceback: String::new(),
            kind: LuaErrorKind::Host,
        }
    }
}
