//! Errors: what Rust callbacks raise inside the VM, and what the host receives.

use std::borrow::Cow;

use crate::handle::StashedValue;
use crate::string::LuaString;
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
    /// A message made of text and Lua strings, positioned like [`Error::Runtime`]: for
    /// messages that quote a script's strings (a `__name`, a variable's name, an option),
    /// which can be megabytes long. The VM joins it when it is raised, in pieces across
    /// steps (each charged) when it is long, so quoting a long string never holds one step.
    ///
    /// ```
    /// use lunette_vm::{Action, Error, Lua, Message, Value};
    /// let mut lua = Lua::core();
    /// lua.enter(|ctx| {
    ///     let check = ctx.create_raw_function("check", |_, exec| match exec.arg(0) {
    ///         Value::String(mode) if mode.as_bytes() == b"fast" => Ok(Action::Return),
    ///         // (the mode quoted without a copy, however long it is)
    ///         Value::String(mode) => Err(Error::Message(
    ///             Message::new().text("unknown mode '").string(mode).text("'"),
    ///         )),
    ///         _ => Err(Error::bad_argument(1, "string expected")),
    ///     });
    ///     ctx.globals().set(ctx, ctx.str("check"), Value::Callback(check)).unwrap();
    /// });
    /// let err = lua.exec("check('fast') check('slow')").unwrap_err();
    /// assert!(err.message.ends_with(":1: unknown mode 'slow'"));
    /// ```
    Message(Message<'gc>),
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

/// An error message made of parts: text, and Lua strings quoted from the script
/// ([`Error::Message`]). Parts are kept as they are until the message is raised, so a
/// message quoting a string of megabytes is never copied before it is joined, and then
/// once, in pieces when long.
#[derive(Debug, Clone, Default)]
pub struct Message<'gc> {
    parts: Vec<Part<'gc>>,
    /// Whether the position (`chunk:line: `) is already the first part: set by the executor
    /// when it resolves the message where it was raised, so it is not positioned again.
    positioned: bool,
    /// The argument it is about (see [`Message::for_argument`]).
    argument: Option<usize>,
}

/// A part of a [`Message`].
#[derive(Debug, Clone)]
pub(crate) enum Part<'gc> {
    /// Bytes written by Rust (mostly fixed text).
    Text(Cow<'static, [u8]>),
    /// A Lua string, quoted as is (its bytes, not replaced if they are not UTF-8, like PUC).
    Str(LuaString<'gc>),
    /// Bytes shared with a prototype (a long debug name), quoted without a copy.
    Shared(std::sync::Arc<[u8]>),
}

impl<'gc> Part<'gc> {
    /// Fixed text (a type's name, a keyword of the message).
    pub(crate) fn fixed(text: &'static str) -> Self {
        Part::Text(Cow::Borrowed(text.as_bytes()))
    }

    /// A name as PUC's messages quote it: a C string, cut at its first zero byte (`%s`).
    /// The whole string when it has none, as is the common case: then not copied. A name
    /// longer than `BUILD_IN_PIECES` is quoted whole, not scanned: the scan of a name of
    /// megabytes, in the step that raises the error, is what building the message in
    /// pieces avoids (a known difference from PUC, for such names with a zero byte).
    pub(crate) fn c_string(s: LuaString<'gc>) -> Self {
        if s.len() > crate::big_string::BUILD_IN_PIECES {
            return Part::Str(s);
        }
        Self::c_bytes(s.as_bytes()).unwrap_or(Part::Str(s))
    }

    /// Whether the two parts quote the same bytes (the same string: at once).
    pub(crate) fn same_text(&self, other: &Part<'gc>) -> bool {
        match (self, other) {
            (Part::Str(a), Part::Str(b)) if LuaString::ptr_eq(*a, *b) => true,
            _ => self.bytes() == other.bytes(),
        }
    }

    /// `bytes` cut at its first zero byte, if it has one.
    pub(crate) fn c_bytes(bytes: &[u8]) -> Option<Self> {
        memchr::memchr(0, bytes).map(|end| Part::Text(Cow::Owned(bytes[..end].to_vec())))
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Part::Text(t) => t,
            Part::Str(s) => s.as_bytes(),
            Part::Shared(b) => b,
        }
    }
}

impl<'gc> Message<'gc> {
    /// An empty message.
    pub fn new() -> Self {
        Self::default()
    }

    /// The message followed by `text`.
    pub fn text(mut self, text: impl Into<Cow<'static, str>>) -> Self {
        self.parts.push(Part::Text(match text.into() {
            Cow::Borrowed(t) => Cow::Borrowed(t.as_bytes()),
            Cow::Owned(t) => Cow::Owned(t.into_bytes()),
        }));
        self
    }

    /// The message followed by the bytes of `s` (as they are: PUC quotes a string's bytes).
    pub fn string(mut self, s: LuaString<'gc>) -> Self {
        self.parts.push(Part::Str(s));
        self
    }

    /// The message followed by `part`.
    pub(crate) fn part(mut self, part: Part<'gc>) -> Self {
        self.parts.push(part);
        self
    }

    /// The message followed by the parts of `more`.
    pub(crate) fn then(mut self, more: Message<'gc>) -> Self {
        self.parts.extend(more.parts);
        self
    }

    /// The message as the reason of a `bad argument #arg to '<function>' (<message>)` error,
    /// the function named from the call site like [`Error::BadArgument`]'s (for messages
    /// quoting the argument: `invalid option '<the option given>'`).
    pub fn for_argument(mut self, arg: usize) -> Self {
        self.argument = Some(arg);
        self
    }

    /// The argument the message is about, taken out of it (the message is then its reason).
    pub(crate) fn take_argument(&mut self) -> Option<usize> {
        self.argument.take()
    }

    /// The message raised as it is, without the caller's position in front (like PUC's
    /// messages from `luaG_runerror` inside a C function, or `error(msg, 0)`).
    pub fn without_position(mut self) -> Self {
        self.positioned = true;
        self
    }

    /// The message's length in bytes.
    pub fn len(&self) -> usize {
        self.parts
            .iter()
            .fold(0usize, |n, p| n.saturating_add(p.bytes().len()))
    }

    /// Whether the message has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn parts(&self) -> &[Part<'gc>] {
        &self.parts
    }

    pub(crate) fn is_positioned(&self) -> bool {
        self.positioned
    }

    /// The message with `position` in front, marked as positioned.
    pub(crate) fn positioned_at(mut self, position: String) -> Self {
        if !position.is_empty() {
            self.parts
                .insert(0, Part::Text(Cow::Owned(position.into_bytes())));
        }
        self.positioned = true;
        self
    }

    /// The message's bytes joined into `out`, which is [`len`](Self::len) bytes long.
    pub(crate) fn write_into(&self, out: &mut [u8]) {
        let mut at = 0;
        for p in &self.parts {
            let b = p.bytes();
            out[at..at + b.len()].copy_from_slice(b);
            at += b.len();
        }
    }

    /// The message as host text (invalid UTF-8 replaced).
    pub fn to_string_lossy(&self) -> String {
        let mut bytes = vec![0; self.len()];
        self.write_into(&mut bytes);
        match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        }
    }
}

/// `attempt to <action> a <type> value<description>`, the type from `__name` like PUC's
/// `luaG_typeerror`. A message of parts: a `__name` or a variable's name of megabytes is
/// quoted without a copy until the message is joined (see [`Error::Message`]).
pub(crate) fn type_error_message<'gc>(
    ctx: crate::state::Context<'gc>,
    action: &'static str,
    v: Value<'gc>,
    description: Message<'gc>,
) -> Error<'gc> {
    Error::Message(
        Message::new()
            .text("attempt to ")
            .text(action)
            .text(" a ")
            .part(ctx.object_type_name_part(v))
            .text(" value")
            .then(description),
    )
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
