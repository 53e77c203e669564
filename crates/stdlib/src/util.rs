//! Argument checking helpers with PUC's messages.

use lunette_vm::executor::PAUSE_POINT_NAME;
use lunette_vm::{display_plain, Action, Context, Error, Exec, LuaString, Outcome, Table, Value};

pub(crate) fn check_table<'gc>(exec: &Exec<'gc, '_>, i: usize) -> Result<Table<'gc>, Error<'gc>> {
    match exec.get(i) {
        Some(Value::Table(t)) => Ok(t),
        other => Err(Error::type_error(i + 1, "table", other)),
    }
}

pub(crate) fn check_any<'gc>(exec: &Exec<'gc, '_>, i: usize) -> Result<Value<'gc>, Error<'gc>> {
    exec.get(i)
        .ok_or_else(|| Error::bad_argument(i + 1, "value expected"))
}

pub(crate) fn check_integer<'gc>(exec: &Exec<'gc, '_>, i: usize) -> Result<i64, Error<'gc>> {
    let v = exec.get(i);
    match v {
        Some(Value::Integer(n)) => Ok(n),
        Some(v @ (Value::Float(_) | Value::String(_))) => match v.to_integer() {
            Some(n) => Ok(n),
            None if v.to_number().is_some() => Err(Error::bad_argument(
                i + 1,
                "number has no integer representation",
            )),
            None => Err(Error::type_error(i + 1, "number", Some(v))),
        },
        other => Err(Error::type_error(i + 1, "number", other)),
    }
}

pub(crate) fn opt_integer<'gc>(
    exec: &Exec<'gc, '_>,
    i: usize,
    default: i64,
) -> Result<i64, Error<'gc>> {
    match exec.get(i) {
        None | Some(Value::Nil) => Ok(default),
        _ => check_integer(exec, i),
    }
}

/// A string argument; numbers are converted like `luaL_checklstring`.
pub(crate) fn check_string<'gc>(
    ctx: Context<'gc>,
    exec: &Exec<'gc, '_>,
    i: usize,
) -> Result<LuaString<'gc>, Error<'gc>> {
    match exec.get(i) {
        Some(Value::String(s)) => Ok(s),
        Some(v @ (Value::Integer(_) | Value::Float(_))) => {
            Ok(ctx.new_string(display_plain(v).as_bytes()))
        }
        other => Err(Error::type_error(i + 1, "string", other)),
    }
}

pub(crate) fn opt_string<'gc>(
    ctx: Context<'gc>,
    exec: &Exec<'gc, '_>,
    i: usize,
) -> Result<Option<LuaString<'gc>>, Error<'gc>> {
    match exec.get(i) {
        None | Some(Value::Nil) => Ok(None),
        _ => check_string(ctx, exec, i).map(Some),
    }
}

/// An option's name as PUC's `luaL_checkoption` compares it: a C string, up to its first
/// zero byte. Options are short: only the first 16 bytes are looked at (a longer name
/// without a zero among them matches no option either way).
pub(crate) fn option_name(given: &[u8]) -> &[u8] {
    let head = &given[..given.len().min(16)];
    memchr::memchr(0, head).map_or(given, |end| &given[..end])
}

/// `bad argument #arg to 'f' (invalid option '<given>')`, PUC's `luaL_checkoption` error,
/// the option quoted as it is, without a copy: a C string like PUC's (up to a zero byte),
/// except one longer than `BUILD_IN_PIECES`, quoted whole (not scanned in one step; see
/// COMPATIBILITY's difference 6).
pub(crate) fn invalid_option<'gc>(
    ctx: Context<'gc>,
    arg: usize,
    given: LuaString<'gc>,
) -> Error<'gc> {
    let bytes = given.as_bytes();
    let cut = (bytes.len() <= lunette_vm::big_string::BUILD_IN_PIECES)
        .then(|| memchr::memchr(0, bytes))
        .flatten();
    let quoted = match cut {
        Some(end) => ctx.new_pause_string(&bytes[..end]),
        None => given,
    };
    Error::Message(
        lunette_vm::Message::new()
            .text("invalid option '")
            .string(quoted)
            .text("'")
            .for_argument(arg),
    )
}

/// An error raised by the VM on behalf of a builtin carries no position (PUC's
/// `luaG_runerror` inside a C function), unlike `luaL_error`-style messages.
pub(crate) fn without_position<'gc>(ctx: Context<'gc>, e: Error<'gc>) -> Error<'gc> {
    match e {
        Error::Runtime(msg) => Error::Value(ctx.str(&msg)),
        Error::Message(m) => Error::Message(m.without_position()),
        other => other,
    }
}

/// A float argument like `luaL_checknumber` (numbers and numeric strings).
pub(crate) fn check_number<'gc>(exec: &Exec<'gc, '_>, i: usize) -> Result<f64, Error<'gc>> {
    match exec.get(i) {
        Some(Value::Integer(n)) => Ok(n as f64),
        Some(Value::Float(f)) => Ok(f),
        Some(v @ Value::String(_)) => v
            .to_float()
            .ok_or_else(|| Error::type_error(i + 1, "number", Some(v))),
        other => Err(Error::type_error(i + 1, "number", other)),
    }
}

/// One step of `a < b` as `lua_compare(LUA_OPLT)` does it.
pub(crate) enum Less<'gc> {
    /// Decided without calling Lua.
    Done(bool),
    /// The `__lt` metamethod must be called with `(a, b)`; its first result, as a boolean,
    /// is the answer.
    Call(Value<'gc>),
}

/// Two strings are compared here by their bytes, charged like the interpreter's `<` (by the
/// common prefix scanned), so sorting or `math.max` over long strings pays for its work.
pub(crate) fn less_step<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    a: Value<'gc>,
    b: Value<'gc>,
) -> Result<Less<'gc>, Error<'gc>> {
    // (Two integers first: the usual default-order sort.)
    if let (Value::Integer(x), Value::Integer(y)) = (a, b) {
        return Ok(Less::Done(x < y));
    }
    if let (Value::String(x), Value::String(y)) = (a, b) {
        let (order, scanned) = lunette_vm::string::compare_bytes(x.as_bytes(), y.as_bytes());
        exec.charge(lunette_vm::LuaString::compare_cost(scanned) as usize);
        return Ok(Less::Done(order == std::cmp::Ordering::Less));
    }
    if let Some(r) = lunette_vm::interp::less_than(a, b) {
        return Ok(Less::Done(r));
    }
    // Raised inside a builtin: no position, like PUC's `luaG_ordererror` from C.
    lunette_vm::interp::compare_slow(ctx, lunette_vm::MetaEvent::Lt, a, b)
        .map(Less::Call)
        .map_err(|e| without_position(ctx, e))
}

/// PUC's `posrelatI`: a 1-based start position from a possibly negative index.
pub(crate) fn pos_relative_start(pos: i64, len: usize) -> usize {
    if pos > 0 {
        pos as usize
    } else if pos == 0 || pos < -(len as i64) {
        1
    } else {
        (len as i64 + pos + 1) as usize
    }
}

/// PUC's `getendpos`: a 1-based end position clipped to `0..=len`.
pub(crate) fn pos_relative_end(pos: i64, len: usize) -> usize {
    if pos > len as i64 {
        len
    } else if pos >= 0 {
        pos as usize
    } else if pos < -(len as i64) {
        0
    } else {
        (len as i64 + pos + 1) as usize
    }
}

/// The C library's `strerror` text of an I/O error (Rust's message without "(os error N)").
pub(crate) fn io_error_message(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.rfind(" (os error ") {
        Some(i) if e.raw_os_error().is_some() => s[..i].to_string(),
        _ => s,
    }
}

/// A file-system path from a Lua string (bytes on Unix).
pub(crate) fn path_from_bytes(bytes: &[u8]) -> std::path::PathBuf {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        std::path::PathBuf::from(std::ffi::OsStr::from_bytes(bytes))
    }
    #[cfg(not(unix))]
    {
        std::path::PathBuf::from(String::from_utf8_lossy(bytes).into_owned())
    }
}

/// Creates a new empty file with a unique name in the temporary directory (like `mkstemp`).
pub(crate) fn create_temp_file() -> std::io::Result<(std::path::PathBuf, std::fs::File)> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir();
    let pid = std::process::id() as u64;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0);
    for _ in 0..100 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tag = (pid.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ nanos ^ n.wrapping_mul(0x2545_f491))
            & 0xff_ffff_ffff;
        let path = dir.join(format!("lua_{tag:010x}"));
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(f) => return Ok((path, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::from(std::io::ErrorKind::AlreadyExists))
}

pub(crate) use lunette_vm::skip_shebang;

/// Adds a library's functions to `lib`: `(field, qualified name, code)`. The qualified name
/// (`"string.rep"`, like PUC's `pushglobalfuncname`) names the function in messages and
/// tracebacks when the call site gives no name.
pub(crate) fn add_functions<'gc>(
    ctx: Context<'gc>,
    lib: Table<'gc>,
    fns: &[(&str, &'static str, lunette_vm::CallbackFn)],
) {
    for &(key, name, f) in fns {
        ctx.register_permanents(|p| p.callback(("std", name), name, f));
        let cb = Value::Callback(lunette_vm::Callback::new(ctx, name, f));
        let _ = lib.set(ctx, ctx.str(key), cb);
    }
}

/// Makes `lib` the global `name` and records it as loaded (`lunette.loaded.<name>` in the
/// registry, which `package.loaded` starts from).
pub(crate) fn publish<'gc>(ctx: Context<'gc>, name: &str, lib: Table<'gc>) {
    let _ = ctx.globals().set(ctx, ctx.str(name), Value::Table(lib));
    let key = format!("lunette.loaded.{name}");
    let _ = ctx.registry().set(ctx, ctx.str(&key), Value::Table(lib));
}

/// The continuation of a protected call (`pcall`, `xpcall`, `coroutine.resume`): `true` and
/// the results, or `false` and the error value (for `xpcall`, its message handler already
/// ran at the point of the error: see `Then::handler`).
pub(crate) fn protected_results<'gc>(
    _ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    outcome: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    match outcome {
        Outcome::Returned => exec.insert(0, Value::Boolean(true)),
        Outcome::Errored(e) => exec.replace(&[Value::Boolean(false), e]),
    }
    Ok(Action::Return)
}

/// The shared helpers' callbacks and continuations in the VM's permanents table (see
/// `lunette_vm::Permanents`; every library registers what it can create when opened).
pub(crate) fn permanents(p: &mut lunette_vm::Permanents) {
    p.continuation(("std", "protected_results"), "pcall", protected_results);
    p.callback(("std", "pause"), PAUSE_POINT_NAME, pause_noop);
}

/// A no-op callback (one per VM, kept in the registry) that long builtins call with a
/// continuation to reach a step boundary: the executor checks the fuel before running the
/// continuation, so the work resumes in the same step while fuel remains and in the next one
/// otherwise (the state lives in the continuation's Lua value, so a paused VM snapshots).
pub(crate) fn pause_point<'gc>(ctx: Context<'gc>) -> Value<'gc> {
    let key = ctx.str("lunette.pause");
    let pause = ctx.registry().get(key);
    if !pause.is_nil() {
        return pause;
    }
    let pause = Value::Callback(lunette_vm::Callback::new(ctx, PAUSE_POINT_NAME, pause_noop));
    let _ = ctx.registry().set(ctx, key, pause);
    pause
}

fn pause_noop<'gc>(
    _ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
) -> Result<lunette_vm::Action<'gc>, Error<'gc>> {
    exec.clear();
    Ok(lunette_vm::Action::Return)
}

/// The memory limit's protocol for a builtin that grows objects in pieces: over the limit,
/// a full collection is requested (`Ok(true)`: end the step if possible, the work goes on
/// after it) unless one already ran since the VM was seen over it ("not enough memory").
pub(crate) fn memory_safe_point(ctx: Context<'_>) -> Result<bool, Error<'_>> {
    let memory = ctx.memory();
    if memory.limit().is_some_and(|l| memory.used() > l) {
        // Over the limit, `reserve_memory(0)` requests a collection, or answers "not enough
        // memory" if one already ran since the VM was found over it.
        ctx.reserve_memory(0)?;
        return Ok(true);
    }
    Ok(false)
}

/// Continues with `then` (state `state`) after a step-boundary check (see [`pause_point`]).
/// Also a memory-limit safe point for builtins that grow Lua objects in pieces: over the
/// limit, the step ends with a full collection requested (and the work goes on after it),
/// or, when a collection already ran since, "not enough memory".
pub(crate) fn continue_later<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    name: &'static str,
    then: lunette_vm::ContinuationFn,
    state: Value<'gc>,
) -> Result<lunette_vm::Action<'gc>, Error<'gc>> {
    continue_later_then(ctx, exec, lunette_vm::Then::new(name, then, state))
}

/// [`continue_later`] with continuation `then` (a resumable state's, say).
pub(crate) fn continue_later_then<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    then: lunette_vm::Then<'gc>,
) -> Result<lunette_vm::Action<'gc>, Error<'gc>> {
    exec.clear();
    if memory_safe_point(ctx)? {
        return Ok(lunette_vm::Action::Pause { then });
    }
    Ok(lunette_vm::Action::Call {
        function: pause_point(ctx),
        then: Some(then),
    })
}
