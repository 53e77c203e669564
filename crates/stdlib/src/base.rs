//! The basic library (§6.1): print, type, tostring, tonumber, pairs, ipairs, next, select,
//! raw*, metatables, assert, error, pcall, xpcall, load, collectgarbage, _G, _VERSION.
//!
//! Functions that call back into Lua (`pcall`, `tostring` with `__tostring`, `ipairs` with
//! `__index`, `load` with a reader) answer with an `Action::Call` and a continuation, so they
//! never recurse on the Rust stack.

use lunette_vm::interp::{index, Index};
use lunette_vm::number::{parse_number, Number};
use lunette_vm::{
    display_plain, Action, Callback, CallbackFn, Context, Error, Exec, LoadPiece, MetaEvent,
    Outcome, Table, Then, Value,
};

use crate::util::{check_any, check_integer, check_table, opt_integer, opt_string};

/// Opens the basic library into the globals (`print`, `pairs`, `pcall`, `load`, `_G`,
/// `_VERSION`, ...); `dofile` and `loadfile` only when the host grants the file system.
pub fn open(ctx: Context<'_>) {
    ctx.register_permanents(permanents);
    let g = ctx.globals();
    let fns: &[(&'static str, CallbackFn)] = &[
        ("print", print),
        ("type", type_),
        ("tostring", tostring),
        ("tonumber", tonumber),
        ("ipairs", ipairs),
        ("pairs", pairs),
        ("next", next),
        ("select", select),
        ("rawget", rawget),
        ("rawset", rawset),
        ("rawequal", rawequal),
        ("rawlen", rawlen),
        ("setmetatable", setmetatable),
        ("getmetatable", getmetatable),
        ("assert", assert),
        ("error", error),
        ("pcall", pcall),
        ("xpcall", xpcall),
        ("load", load),
        ("collectgarbage", collectgarbage),
    ];
    for (name, f) in fns {
        ctx.register_permanents(|p| p.callback(("base", name), name, *f));
        let cb = Value::Callback(Callback::new(ctx, name, *f));
        set(ctx, g, name, cb);
        if *name == "next" {
            // `pairs` returns this very function, so `pairs(t) == next` like PUC.
            set(ctx, ctx.registry(), "lunette.next", cb);
        }
    }
    let aux = Value::Callback(Callback::new(ctx, "ipairs_aux", ipairs_aux));
    set(ctx, ctx.registry(), "lunette.ipairs_aux", aux);
    set(
        ctx,
        g,
        "warn",
        Value::Callback(Callback::new(ctx, "warn", warn)),
    );
    if ctx.host().grants().file_system {
        set(
            ctx,
            g,
            "dofile",
            Value::Callback(Callback::new(ctx, "dofile", dofile)),
        );
        set(
            ctx,
            g,
            "loadfile",
            Value::Callback(Callback::new(ctx, "loadfile", loadfile)),
        );
    }
    set(ctx, g, "_G", Value::Table(g));
    set(ctx, g, "_VERSION", ctx.str("Lua 5.4"));
}

/// The basic library's callbacks and continuations beyond its global functions, in the VM's
/// permanents table (see `lunette_vm::Permanents`).
fn permanents(p: &mut lunette_vm::Permanents) {
    crate::util::permanents(p);
    p.callback(("base", "ipairs_aux"), "ipairs_aux", ipairs_aux);
    p.callback(("base", "warn"), "warn", warn);
    p.callback(("base", "dofile"), "dofile", dofile);
    p.callback(("base", "loadfile"), "loadfile", loadfile);
    p.callback(("base", "load"), "load", load);
    p.callback(("base", "next"), "next", next);
    p.continuation(
        ("base", "print_after_tostring"),
        "print",
        print_after_tostring,
    );
    p.continuation(("base", "tostring_after"), "tostring", tostring_after);
    p.continuation(
        ("base", "ipairs_after_index"),
        "ipairs_aux",
        ipairs_after_index,
    );
    p.continuation(("base", "pairs_after"), "pairs", pairs_after);
    p.continuation(("base", "load_piece"), "load", load_piece);
    p.continuation(("base", "load_paid_slice"), "load", load_paid_slice);
    p.continuation(("base", "dofile_loaded"), "dofile", dofile_loaded);
    p.continuation(("base", "dofile_after"), "dofile", dofile_after);
    p.name("xpcall");
    p.name("resume");
    p.name("collectgarbage");
}

/// The functions that compile code: in a mod's environment they are rebound to it (see
/// [`bind_compilers`]), so that what a mod compiles never sees the VM's root globals.
const COMPILERS: &[(&str, CallbackFn)] =
    &[("load", load), ("loadfile", loadfile), ("dofile", dofile)];

/// Gives environment `env` (a mod's globals, see `crate::new_environment`) its own `load`
/// (and `loadfile`/`dofile` where the file system is granted) whose default `_ENV` is `env`
/// instead of the VM's root globals. Without it, `load("return _G")()` inside a mod would
/// return the root globals: the chunk is compiled with the global environment by default, as
/// in PUC, and the root globals are what every later environment is copied from.
pub(crate) fn bind_compilers<'gc>(ctx: Context<'gc>, env: Table<'gc>) {
    for (name, f) in COMPILERS {
        if env.get(ctx.key(name)).is_nil() {
            continue; // not granted in this VM
        }
        let cb = Callback::with_upvalue(ctx, name, *f, Value::Table(env));
        set(ctx, env, name, Value::Callback(cb));
    }
}

/// The environment a compiling function was bound to by [`bind_compilers`], if any: the
/// default `_ENV` of the chunks it compiles (`None`: the VM's root globals).
fn bound_environment<'gc>(exec: &Exec<'gc, '_>) -> Option<Value<'gc>> {
    exec.upvalue.as_table().map(Value::Table)
}

pub(crate) fn set<'gc>(ctx: Context<'gc>, t: Table<'gc>, name: &str, v: Value<'gc>) {
    let _ = t.set(ctx, ctx.str(name), v);
}

/// `tostring` of `v` without calling Lua: `Ok(None)` if `__tostring` must be called.
pub(crate) fn tostring_plain<'gc>(ctx: Context<'gc>, v: Value<'gc>) -> Option<Vec<u8>> {
    // `__tostring` first, whatever the type (numbers, strings... can have a metatable), like
    // `luaL_tolstring`.
    let mt = ctx.metatable_of(v);
    if let Some(mt) = mt {
        if ctx.metatable_field(mt, MetaEvent::ToString).is_some() {
            return None;
        }
    }
    match v {
        Value::String(s) => Some(s.as_bytes().to_vec()),
        Value::Nil | Value::Boolean(_) | Value::Integer(_) | Value::Float(_) => {
            Some(display_plain(v).into_bytes())
        }
        other => {
            if let Some(mt) = mt {
                if let Value::String(name) = mt.get(ctx.key("__name")) {
                    let mut out = name.as_bytes().to_vec();
                    out.extend_from_slice(
                        format!(": 0x{:08x}", ctx.script_id(other).unwrap_or(0)).as_bytes(),
                    );
                    return Some(out);
                }
            }
            // The id scripts see (a host object gets one now: see `Context::script_id`).
            let id = ctx.script_id(other).unwrap_or(0);
            Some(format!("{}: 0x{id:08x}", other.type_name()).into_bytes())
        }
    }
}

/// Checks a `__tostring` result like `luaL_tolstring`.
fn tostring_result<'gc>(v: Value<'gc>) -> Result<Vec<u8>, Error<'gc>> {
    match v {
        Value::String(s) => Ok(s.as_bytes().to_vec()),
        Value::Integer(_) | Value::Float(_) => Ok(display_plain(v).into_bytes()),
        _ => Err(Error::runtime("'__tostring' must return a string")),
    }
}

fn print<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let mut out = Vec::new();
    let n = exec.len();
    for i in 0..n {
        match tostring_plain(ctx, exec.arg(i)) {
            Some(bytes) => {
                if i > 0 {
                    out.push(b'\t');
                }
                out.extend_from_slice(&bytes);
            }
            None => {
                // Slow path: convert the rest with `__tostring` calls, one at a time.
                let state = ctx.new_table();
                for (j, v) in exec.values().iter().enumerate() {
                    let _ = state.set(ctx, Value::Integer(j as i64 + 1), *v);
                }
                set(ctx, state, "n", Value::Integer(n as i64));
                set(ctx, state, "i", Value::Integer(i as i64 + 1));
                set(ctx, state, "out", Value::String(ctx.new_string(&out)));
                return print_continue(ctx, exec, state, i);
            }
        }
        exec.charge(out.len() / 64);
    }
    exec.charge(out.len() / 32);
    out.push(b'\n');
    ctx.host().write_stdout(&out);
    exec.clear();
    Ok(Action::Return)
}

/// Calls `__tostring` for argument `i` (0-based) of the saved print state.
fn print_continue<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    state: Table<'gc>,
    i: usize,
) -> Result<Action<'gc>, Error<'gc>> {
    let v = state.get(Value::Integer(i as i64 + 1));
    let mm = ctx.metamethod(v, MetaEvent::ToString).unwrap_or(Value::Nil);
    exec.replace(&[v]);
    Ok(Action::Call {
        function: mm,
        then: Some(Then::new(
            "print",
            print_after_tostring,
            Value::Table(state),
        )),
    })
}

fn print_after_tostring<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    _outcome: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    let Value::Table(state) = exec.upvalue else {
        return Err(Error::runtime("print: lost state"));
    };
    let bytes = tostring_result(exec.arg(0))?;
    let n = state.get(ctx.key("n")).as_integer_strict().unwrap_or(0) as usize;
    let mut i = state.get(ctx.key("i")).as_integer_strict().unwrap_or(0) as usize; // 1-based index done
    let mut out = state
        .get(ctx.key("out"))
        .as_string()
        .map(|s| s.as_bytes().to_vec())
        .unwrap_or_default();
    if i > 1 {
        out.push(b'\t');
    }
    out.extend_from_slice(&bytes);
    while i < n {
        let v = state.get(Value::Integer(i as i64 + 1));
        match tostring_plain(ctx, v) {
            Some(b) => {
                out.push(b'\t');
                out.extend_from_slice(&b);
                i += 1;
            }
            None => {
                // The continuation adds the separating tab (`i > 1`).
                set(ctx, state, "i", Value::Integer(i as i64 + 1));
                set(ctx, state, "out", Value::String(ctx.new_string(&out)));
                return print_continue(ctx, exec, state, i);
            }
        }
    }
    exec.charge(out.len() / 32);
    out.push(b'\n');
    ctx.host().write_stdout(&out);
    exec.clear();
    Ok(Action::Return)
}

fn type_<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let v = check_any(exec, 0)?;
    exec.set_return(ctx.str(v.type_name()));
    Ok(Action::Return)
}

fn tostring<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let v = check_any(exec, 0)?;
    let mt = ctx.metatable_of(v);
    let to_string = mt.and_then(|mt| ctx.metatable_field(mt, MetaEvent::ToString));
    if to_string.is_none() {
        // A string is its own text (like `luaL_tolstring`, no copy: a 32 MiB string was
        // copied twice in one step); a long `__name` is joined in pieces.
        if let Value::String(_) = v {
            exec.set_return(v);
            return Ok(Action::Return);
        }
        let plain = matches!(
            v,
            Value::Nil | Value::Boolean(_) | Value::Integer(_) | Value::Float(_)
        );
        if let (Some(mt), false) = (mt, plain) {
            if let Value::String(name) = mt.get(ctx.key("__name")) {
                if name.len() > lunette_vm::big_string::BUILD_IN_PIECES {
                    let id = format!(": 0x{:08x}", ctx.script_id(v).unwrap_or(0));
                    let total = name.len() + id.len();
                    ctx.reserve_memory(total)?;
                    let parts = [Value::String(name), ctx.str(&id)];
                    return Ok(lunette_vm::big_string::return_built(
                        ctx,
                        exec,
                        &parts,
                        total,
                        lunette_vm::big_string::Shape::Repeat,
                        None,
                    ));
                }
            }
        }
    }
    match tostring_plain(ctx, v) {
        Some(bytes) => {
            exec.set_return(Value::String(ctx.new_string(&bytes)));
            Ok(Action::Return)
        }
        None => {
            let mm = ctx.metamethod(v, MetaEvent::ToString).unwrap_or(Value::Nil);
            exec.replace(&[v]);
            Ok(Action::Call {
                function: mm,
                then: Some(Then::new("tostring", tostring_after, Value::Nil)),
            })
        }
    }
}

fn tostring_after<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    _o: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    let v = exec.arg(0);
    match v {
        Value::String(_) => exec.set_return(v),
        _ => {
            let bytes = tostring_result(v)?;
            exec.set_return(Value::String(ctx.new_string(&bytes)));
        }
    }
    Ok(Action::Return)
}

fn tonumber<'gc>(_ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let result = match exec.get(1) {
        None | Some(Value::Nil) => {
            let v = check_any(exec, 0)?;
            match v {
                Value::Integer(_) | Value::Float(_) => v,
                Value::String(s) => match parse_number(s.as_bytes()) {
                    Some(Number::Int(i)) => Value::Integer(i),
                    Some(Number::Float(f)) => Value::Float(f),
                    None => Value::Nil,
                },
                _ => Value::Nil,
            }
        }
        Some(_) => {
            let base = check_integer(exec, 1)?;
            let s = match exec.get(0) {
                Some(Value::String(s)) => s,
                other => return Err(Error::type_error(1, "string", other)),
            };
            if !(2..=36).contains(&base) {
                return Err(Error::bad_argument(2, "base out of range"));
            }
            match parse_int_base(s.as_bytes(), base as u32) {
                Some(i) => Value::Integer(i),
                None => Value::Nil,
            }
        }
    };
    exec.set_return(result);
    Ok(Action::Return)
}

fn parse_int_base(bytes: &[u8], base: u32) -> Option<i64> {
    let is_space = |c: &u8| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c);
    let start = bytes.iter().position(|c| !is_space(c))?;
    let end = bytes.iter().rposition(|c| !is_space(c))? + 1;
    let mut s = &bytes[start..end];
    // One optional sign, then at least one digit (PUC's `l_str2int`).
    let neg = s.first() == Some(&b'-');
    if let Some(rest) = s.strip_prefix(b"-").or_else(|| s.strip_prefix(b"+")) {
        s = rest;
    }
    if s.is_empty() {
        return None;
    }
    let mut acc: i64 = 0;
    for &c in s {
        let d = (c as char).to_digit(36)?;
        if d >= base {
            return None;
        }
        acc = acc.wrapping_mul(base as i64).wrapping_add(d as i64);
    }
    Some(if neg { acc.wrapping_neg() } else { acc })
}

fn ipairs<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let t = check_any(exec, 0)?;
    // Created once by `open`, so every `ipairs` returns the same iterator (like PUC).
    let aux = ctx.registry().get(ctx.key("lunette.ipairs_aux"));
    exec.replace(&[aux, t, Value::Integer(0)]);
    Ok(Action::Return)
}

fn ipairs_aux<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let t = exec.arg(0);
    let i = exec.arg(1).as_integer_strict().unwrap_or(0).wrapping_add(1);
    let key = Value::Integer(i);
    let v = match t {
        Value::Table(tab) if tab.metatable().is_none() => tab.get_int(i),
        _ => match index(ctx, t, key, &lunette_vm::Message::new)
            .map_err(|e| crate::util::without_position(ctx, e))?
        {
            Index::Value(v) => v,
            Index::Meta(mm, obj, k) => {
                exec.replace(&[obj, k]);
                return Ok(Action::Call {
                    function: mm,
                    then: Some(Then::new("ipairs_aux", ipairs_after_index, key)),
                });
            }
        },
    };
    if v.is_nil() {
        exec.set_return(Value::Nil);
    } else {
        exec.replace(&[key, v]);
    }
    Ok(Action::Return)
}

fn ipairs_after_index<'gc>(
    _ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    _o: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    let v = exec.arg(0);
    if v.is_nil() {
        exec.set_return(Value::Nil);
    } else {
        let key = exec.upvalue;
        exec.replace(&[key, v]);
    }
    Ok(Action::Return)
}

fn next_callback<'gc>(ctx: Context<'gc>) -> Value<'gc> {
    let v = ctx.registry().get(ctx.key("lunette.next"));
    if v.is_nil() {
        let f = Value::Callback(Callback::new(ctx, "next", next));
        set(ctx, ctx.registry(), "lunette.next", f);
        f
    } else {
        v
    }
}

fn pairs<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let t = check_any(exec, 0)?;
    if let Some(mm) = ctx.metamethod(t, MetaEvent::Pairs) {
        exec.replace(&[t]);
        return Ok(Action::Call {
            function: mm,
            then: Some(Then::new("pairs", pairs_after, Value::Nil)),
        });
    }
    let next = next_callback(ctx);
    exec.replace(&[next, t, Value::Nil]);
    Ok(Action::Return)
}

fn pairs_after<'gc>(
    _ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    _o: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    exec.resize(3);
    Ok(Action::Return)
}

fn next<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let t = check_table(exec, 0)?;
    let k = exec.arg(1);
    exec.charge(1);
    match t.next(k) {
        Ok(Some((k, v))) => exec.replace(&[k, v]),
        Ok(None) => exec.set_return(Value::Nil),
        // Raised by the VM inside a C function in PUC (`luaH_next`): no position.
        Err(e) => return Err(Error::Value(ctx.str(&e.to_string()))),
    }
    Ok(Action::Return)
}

fn select<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let n = exec.len() as i64 - 1;
    if let Some(Value::String(s)) = exec.get(0) {
        if s.as_bytes() == b"#" {
            exec.set_return(Value::Integer(n.max(0)));
            return Ok(Action::Return);
        }
    }
    let i = check_integer(exec, 0)?;
    let start = if i < 0 {
        if i < -n {
            return Err(Error::bad_argument(1, "index out of range"));
        }
        n + i + 1
    } else if i == 0 {
        return Err(Error::bad_argument(1, "index out of range"));
    } else {
        i.min(n + 1)
    };
    let _ = ctx;
    // Keep values from `start` (1-based among the varargs, which begin at position 1), moved
    // down in place; the executor charges for moving the results.
    exec.drop_front(start as usize);
    Ok(Action::Return)
}

fn rawget<'gc>(_ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let t = check_table(exec, 0)?;
    let k = check_any(exec, 1)?;
    exec.set_return(t.get(k));
    Ok(Action::Return)
}

fn rawset<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let t = check_table(exec, 0)?;
    let k = check_any(exec, 1)?;
    let v = check_any(exec, 2)?;
    t.set(ctx, k, v)
        .map_err(|e| Error::runtime(e.to_string()))?;
    exec.set_return(Value::Table(t));
    Ok(Action::Return)
}

fn rawequal<'gc>(_ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let a = check_any(exec, 0)?;
    let b = check_any(exec, 1)?;
    exec.set_return(Value::Boolean(a.raw_eq(b)));
    Ok(Action::Return)
}

fn rawlen<'gc>(_ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let n = match exec.get(0) {
        Some(Value::Table(t)) => t.length(),
        Some(Value::String(s)) => s.len() as i64,
        other => return Err(Error::type_error(1, "table or string", other)),
    };
    exec.set_return(Value::Integer(n));
    Ok(Action::Return)
}

fn setmetatable<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
) -> Result<Action<'gc>, Error<'gc>> {
    let t = check_table(exec, 0)?;
    let mt = match exec.get(1) {
        Some(Value::Nil) => None,
        Some(Value::Table(mt)) => Some(mt),
        other => return Err(Error::type_error(2, "nil or table", other)),
    };
    if let Some(old) = t.metatable() {
        if !old.get(ctx.key("__metatable")).is_nil() {
            return Err(Error::runtime("cannot change a protected metatable"));
        }
    }
    ctx.set_metatable(Value::Table(t), mt)
        .map_err(|e| Error::runtime(e.to_string()))?;
    exec.set_return(Value::Table(t));
    Ok(Action::Return)
}

fn getmetatable<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
) -> Result<Action<'gc>, Error<'gc>> {
    let v = check_any(exec, 0)?;
    let r = match ctx.metatable_of(v) {
        None => Value::Nil,
        Some(mt) => {
            let protected = mt.get(ctx.key("__metatable"));
            if protected.is_nil() {
                Value::Table(mt)
            } else {
                protected
            }
        }
    };
    exec.set_return(r);
    Ok(Action::Return)
}

fn assert<'gc>(_ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let v = check_any(exec, 0)?;
    if v.is_truthy() {
        return Ok(Action::Return);
    }
    match exec.get(1) {
        None => Err(Error::runtime("assertion failed!")),
        Some(msg) => Err(Error::Value(msg)),
    }
}

fn error<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let v = exec.arg(0);
    let level = match exec.get(1) {
        None | Some(Value::Nil) => 1,
        Some(_) => check_integer(exec, 1)?,
    };
    // Its stack as PUC's `error` leaves it (the message, then the positioned message): a
    // coroutine that dies here shows them as `(C temporary)` values of this level.
    exec.resize(1);
    if let (Value::String(s), true) = (v, level > 0) {
        let pos = exec.where_(level as usize);
        if !pos.is_empty() {
            let mut msg = pos.into_bytes();
            msg.extend_from_slice(s.as_bytes());
            let msg = Value::String(ctx.new_string(&msg));
            exec.push(msg);
            return Err(Error::Value(msg));
        }
        exec.push(v);
    }
    Err(Error::Value(v))
}

fn pcall<'gc>(_ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let f = check_any(exec, 0)?;
    exec.remove(0);
    Ok(Action::Call {
        function: f,
        then: Some(Then::new("pcall", crate::util::protected_results, Value::Nil).catching()),
    })
}

fn xpcall<'gc>(_ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let handler = exec.arg(1);
    if !handler.is_function() {
        return Err(Error::type_error(2, "function", exec.get(1)));
    }
    let f = exec.arg(0);
    exec.remove(0);
    exec.remove(0);
    Ok(Action::Call {
        function: f,
        then: Some(
            Then::new("xpcall", crate::util::protected_results, Value::Nil)
                .catching_with_handler(handler),
        ),
    })
}

/// Fuel charged (before compiling) for `len` bytes of source: one unit a byte. Compilation
/// is linear in the source (every name, label, goto, constant and jump list is resolved
/// through hash maps or O(1) links, never by scanning): ~25 ns a byte on ordinary code, up to
/// ~80 ns on the worst inputs measured (goto/label storms, deep upvalue chains), and up to
/// ~200 ns a byte with materializing many short string constants (`{'k1','k2',...}`) in a
/// fresh process. The VM's bytecode verification of the output is included: linear too,
/// ~3 ns a byte (~13% of compiling on the test corpus, at most ~18% measured).
fn compile_fuel(len: usize) -> usize {
    1 + len
}

fn load<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let chunk = exec.arg(0);
    let mode = opt_string(ctx, exec, 2)?
        .map(|s| s.to_str_lossy().into_owned())
        .unwrap_or_else(|| "bt".into());
    let env = exec.get(3).or_else(|| bound_environment(exec));
    // Numbers are accepted as source text, like `lua_tolstring` does.
    let chunk = match chunk {
        Value::Integer(_) | Value::Float(_) => {
            Value::String(ctx.new_string(display_plain(chunk).as_bytes()))
        }
        other => other,
    };
    match chunk {
        Value::String(s) => {
            // Without a name, the chunk is named by its text (the same string object).
            let name = opt_string(ctx, exec, 1)?.unwrap_or(s);
            let state = compile_state(ctx, Value::String(s), Value::String(name), &mode, env);
            load_pay(ctx, exec, state)
        }
        Value::Function(_) | Value::Callback(_) => {
            let name = match opt_string(ctx, exec, 1)? {
                Some(n) => {
                    ctx.reserve_memory(n.len().saturating_mul(2))?;
                    exec.charge(n.len() / 16);
                    Value::String(n)
                }
                None => ctx.str("=(load)"),
            };
            // State: [reader, name, mode, env, has env, total length, small pieces at the
            // end, pieces...]
            let state = ctx.new_table();
            let _ = state.set(ctx, Value::Integer(1), chunk);
            let _ = state.set(ctx, Value::Integer(2), name);
            let _ = state.set(ctx, Value::Integer(3), ctx.str(&mode));
            // (false when absent: slots 1..6 stay a sequence, so `length` finds the pieces)
            let _ = state.set(ctx, Value::Integer(4), env.unwrap_or(Value::Boolean(false)));
            let _ = state.set(ctx, Value::Integer(5), Value::Boolean(env.is_some()));
            let _ = state.set(ctx, Value::Integer(6), Value::Integer(0));
            let _ = state.set(ctx, Value::Integer(7), Value::Integer(0));
            exec.clear();
            Ok(Action::Call {
                function: chunk,
                then: Some(Then::new("load", load_piece, Value::Table(state)).catching()),
            })
        }
        _ => Err(Error::type_error(1, "function", exec.get(0))),
    }
}

fn load_piece<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    outcome: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    let Value::Table(state) = exec.upvalue else {
        return Err(Error::runtime("load: lost state"));
    };
    if let Outcome::Errored(e) = outcome {
        exec.replace(&[Value::Nil, e]);
        return Ok(Action::Return);
    }
    // Pieces are kept as they come (slots 7...) and joined once at the end: each piece costs
    // fuel and memory in proportion to its own size, never to what came before.
    let piece = exec.arg(0);
    let total = state.get_int(6).to_integer().unwrap_or(0) as usize;
    let finished = match piece {
        Value::Nil => true,
        Value::String(s) if s.is_empty() => true,
        Value::String(s) => {
            exec.charge(1 + s.len() / 16);
            let total = total + s.len();
            if total > crate::string::MAX_SIZE {
                return Err(Error::runtime("chunk too large"));
            }
            // The pieces are held now, and joined into one more copy at the end. (Nothing is
            // changed yet: this continuation can run again after a collection.)
            ctx.reserve_memory_or_retry(total)?;
            let next = state.length() + 1;
            let _ = state.set(ctx, Value::Integer(next), piece);
            let _ = state.set(ctx, Value::Integer(6), Value::Integer(total as i64));
            let small = if s.len() < SMALL_PIECE {
                state.get_int(7).to_integer().unwrap_or(0) + 1
            } else {
                0
            };
            if small as usize >= SMALL_PIECES_JOINED {
                join_last_pieces(ctx, exec, state, small as usize);
                let _ = state.set(ctx, Value::Integer(7), Value::Integer(0));
            } else {
                let _ = state.set(ctx, Value::Integer(7), Value::Integer(small));
            }
            false
        }
        _ => {
            exec.replace(&[Value::Nil, ctx.str("reader function must return a string")]);
            return Ok(Action::Return);
        }
    };
    if finished {
        let name = state
            .get_int(2)
            .as_string()
            .map(|s| s.to_str_lossy().into_owned())
            .unwrap_or_default();
        let mode = state
            .get_int(3)
            .as_string()
            .map(|s| s.to_str_lossy().into_owned())
            .unwrap_or_default();
        let env = if state.get_int(5).is_truthy() {
            Some(state.get_int(4))
        } else {
            None
        };
        let mut source = Vec::with_capacity(total);
        for i in FIRST_PIECE..=state.length() {
            if let Value::String(s) = state.get_int(i) {
                source.extend_from_slice(s.as_bytes());
            }
        }
        let source = Value::String(ctx.new_string(&source));
        let state = compile_state(ctx, source, ctx.str(&name), &mode, env);
        return load_pay(ctx, exec, state);
    }
    let reader = state.get_int(1);
    exec.clear();
    Ok(Action::Call {
        function: reader,
        then: Some(Then::new("load", load_piece, Value::Table(state)).catching()),
    })
}

/// The slot of a reader `load`'s first piece in its state (see `load`).
const FIRST_PIECE: i64 = 8;
/// A piece shorter than this is small: a run of `SMALL_PIECES_JOINED` of them at the end
/// of the pieces is joined into one string, so a reader returning a byte at a time holds a
/// slot (16 bytes) per run rather than per byte, and its pieces table never becomes a
/// buffer of millions of slots (which grew, by doubling, in copies of tens of MiB).
const SMALL_PIECE: usize = 256;
const SMALL_PIECES_JOINED: usize = 256;

/// Joins the last `n` pieces of a reader `load`'s state (each shorter than `SMALL_PIECE`)
/// into one, paid like the pieces themselves (a unit a 16 bytes, at most 4 KiB of units).
fn join_last_pieces<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>, state: Table<'gc>, n: usize) {
    let last = state.length();
    let first = (last + 1 - n as i64).max(FIRST_PIECE);
    let mut joined = Vec::with_capacity(n * SMALL_PIECE);
    for i in first..=last {
        if let Value::String(s) = state.get_int(i) {
            joined.extend_from_slice(s.as_bytes());
        }
    }
    exec.charge(1 + joined.len() / 16);
    // From the end, so that the pieces stay a sequence.
    for i in (first + 1..=last).rev() {
        let _ = state.set(ctx, Value::Integer(i), Value::Nil);
    }
    let _ = state.set(
        ctx,
        Value::Integer(first),
        Value::String(ctx.new_string(&joined)),
    );
}

/// Fuel charged at a time while `load` pays for a compilation in advance.
const LOAD_FUEL_SLICE: usize = 2048;

/// The state of a `load` paying for its compilation: `[source, name, mode, env (false when
/// absent), has env, fuel paid so far, compiler memory budget]`, then (once paid) the
/// number of pieces of its instantiation made (`Context::load_compiled_piece`, under this
/// table's identity), and at 9 the fuel owed in all once known (see [`load_pay`]). The
/// budget is fixed when `load` is called, so the compilation's outcome does not depend on
/// when it runs (it may run ahead, on a helper thread: `Context::compile_ahead`).
fn compile_state<'gc>(
    ctx: Context<'gc>,
    source: Value<'gc>,
    name: Value<'gc>,
    mode: &str,
    env: Option<Value<'gc>>,
) -> Table<'gc> {
    let budget = ctx.memory().compile_budget();
    let state = ctx.new_table_with_capacity(7, 0);
    let _ = state.set(ctx, Value::Integer(1), source);
    let _ = state.set(ctx, Value::Integer(2), name);
    let _ = state.set(ctx, Value::Integer(3), ctx.str(mode));
    let _ = state.set(ctx, Value::Integer(4), env.unwrap_or(Value::Boolean(false)));
    let _ = state.set(ctx, Value::Integer(5), Value::Boolean(env.is_some()));
    let _ = state.set(ctx, Value::Integer(6), Value::Integer(0));
    let _ = state.set(
        ctx,
        Value::Integer(7),
        Value::Integer(i64::try_from(budget).unwrap_or(i64::MAX)),
    );
    state
}

/// The fuel `load` pays for compiling `len` bytes of source named by `name_len` bytes: the
/// name is read, checked and copied too, and can be as big as a source.
fn load_fuel(len: usize, name_len: usize) -> usize {
    compile_fuel(len) + name_len / 16
}

/// Pays the compilation's fuel in slices of [`LOAD_FUEL_SLICE`], reaching a step boundary
/// between slices (so a big chunk's cost spreads over steps and no step overruns its budget
/// by more than a slice; the total is the same whatever the step size), then compiles. The
/// fuel is a unit a source byte ([`load_fuel`]) plus the compiler's extra work
/// (`lunette_compiler::UPVALUE_WORK` per upvalue it makes: a name used through 190 nested
/// functions makes 190, and such a chunk cost ~800 ns a byte to compile), a pure function of
/// the source, learned when the compilation has finished or got far enough
/// (`Context::compile_extra_work`); the slices are the same whichever way it is learned
/// (all of [`LOAD_FUEL_SLICE`] units but the last). A chunk of 4 KiB or more compiles on a
/// helper thread meanwhile (`Context::compile_ahead`), and each slice waits until the
/// helper has got as far as the fuel paid before it (`Context::compile_ahead_wait`), so the
/// compile's wall time spreads over the paying steps and the last step mostly collects a
/// finished prototype; without that, the step that compiles takes about the source's length
/// x 25-200 ns (see [`compile_fuel`]). A big text
/// chunk is then instantiated in pieces (`Context::load_compiled_piece`), each piece
/// ending its step.
fn load_pay<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    state: Table<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    let (Value::String(src), Value::String(name), Value::String(mode)) =
        (state.get_int(1), state.get_int(2), state.get_int(3))
    else {
        return Err(Error::runtime("load: lost state"));
    };
    // (A state saved before the budget was kept takes today's.)
    let budget = match state.get_int(7) {
        Value::Integer(b) => usize::try_from(b).unwrap_or(0),
        _ => ctx.memory().compile_budget(),
    };
    let paid = state.get_int(6).as_integer_strict().unwrap_or(0).max(0) as usize;
    let mode = mode.to_str_lossy();
    // The total: the source's fuel (`load_fuel`) plus the compiler's extra work, known once
    // the compilation has finished (none for a chunk that is not compiled as text). Until
    // then a slice is owed when the source's fuel covers it, or when the compilation
    // started ahead has got that far (its progress never passes the total).
    let source_fuel = load_fuel(src.len(), name.len());
    let compiled = src.as_bytes().first() != Some(&0x1b) && mode.contains('t');
    let known = match state.get_int(9) {
        Value::Integer(t) => Some(t.max(0) as usize),
        _ if !compiled => Some(source_fuel),
        _ => None,
    };
    let (slice, total) = match known {
        Some(t) => (t.saturating_sub(paid).min(LOAD_FUEL_SLICE), Some(t)),
        None if paid.saturating_add(LOAD_FUEL_SLICE) <= source_fuel => (LOAD_FUEL_SLICE, None),
        None => {
            match ctx.compile_extra_work(src, name, budget, paid.saturating_add(LOAD_FUEL_SLICE)) {
                None => (LOAD_FUEL_SLICE, None),
                Some(extra) => {
                    let t = source_fuel.saturating_add(extra);
                    let _ = state.set(ctx, Value::Integer(9), Value::Integer(t as i64));
                    (t.saturating_sub(paid).min(LOAD_FUEL_SLICE), Some(t))
                }
            }
        }
    };
    if slice > 0 {
        exec.charge(slice);
        if paid == 0 {
            ctx.compile_ahead(src, name, budget);
        } else {
            // The compile's wall time goes with the fuel paid for it.
            ctx.compile_ahead_wait(src, name, budget, paid);
        }
        let paid = paid.saturating_add(slice);
        let _ = state.set(ctx, Value::Integer(6), Value::Integer(paid as i64));
        if total != Some(paid) {
            return crate::util::continue_later(
                ctx,
                exec,
                "load",
                load_paid_slice,
                Value::Table(state),
            );
        }
    }
    let env = if state.get_int(5).is_truthy() {
        Some(state.get_int(4))
    } else {
        None
    };
    if let Some(r) = refused_or_binary(ctx, src, name, &mode, env, budget) {
        exec.replace(&r);
        return Ok(Action::Return);
    }
    // A big text chunk is instantiated in pieces, a step boundary after each
    // (`Context::load_compiled_piece`; their work is kept under the identity of `state`).
    let pieces = state.get_int(8).as_integer_strict().unwrap_or(0).max(0) as usize;
    match ctx.load_compiled_piece(src, name, budget, env, state, pieces) {
        LoadPiece::Pending => {
            let _ = state.set(ctx, Value::Integer(8), Value::Integer(pieces as i64 + 1));
            exec.clear();
            if let Err(e) = crate::util::memory_safe_point(ctx) {
                ctx.forget_load_pieces(state);
                return Err(e);
            }
            Ok(Action::Pause {
                then: Then::new("load", load_paid_slice, Value::Table(state)),
            })
        }
        LoadPiece::Loaded(r) => {
            exec.replace(&loaded(ctx, r));
            Ok(Action::Return)
        }
    }
}

fn load_paid_slice<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    _outcome: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    let Value::Table(state) = exec.upvalue else {
        return Err(Error::runtime("load: lost state"));
    };
    load_pay(ctx, exec, state)
}

/// `load`'s results for a compilation's outcome: `[function]` or `[nil, message]`.
fn loaded<'gc>(
    ctx: Context<'gc>,
    r: Result<lunette_vm::LuaClosure<'gc>, lunette_vm::CompileError>,
) -> Vec<Value<'gc>> {
    match r {
        Ok(f) => vec![Value::Function(f)],
        Err(e) => vec![Value::Nil, ctx.str(&e.to_string())],
    }
}

/// What `load` answers for a chunk before compiling text: the mode's refusal, or a binary
/// chunk's outcome (`[function]` or `[nil, message]`); `None` for text to compile.
fn refused_or_binary<'gc>(
    ctx: Context<'gc>,
    source: lunette_vm::LuaString<'gc>,
    name: lunette_vm::LuaString<'gc>,
    mode: &str,
    env: Option<Value<'gc>>,
    budget: usize,
) -> Option<Vec<Value<'gc>>> {
    let bytes = source.as_bytes();
    let is_binary = bytes.first() == Some(&0x1b);
    if is_binary && !mode.contains('b') {
        return Some(vec![
            Value::Nil,
            ctx.str(&format!(
                "attempt to load a binary chunk (mode is '{mode}')"
            )),
        ]);
    }
    if !is_binary && !mode.contains('t') {
        return Some(vec![
            Value::Nil,
            ctx.str(&format!("attempt to load a text chunk (mode is '{mode}')")),
        ]);
    }
    if is_binary {
        if !ctx.host().grants().binary_chunks {
            return Some(vec![
                Value::Nil,
                ctx.str("attempt to load a binary chunk (not granted by the host)"),
            ]);
        }
        // Decoded as untrusted input (checked counts, the memory left as its limit, nesting
        // capped) and verified; its fuel was paid by the caller, one unit a byte like text.
        return Some(
            match ctx.load_binary(bytes, &name.to_str_lossy(), budget, env) {
                Ok(f) => vec![Value::Function(f)],
                Err(e) => vec![Value::Nil, ctx.str(&e.message)],
            },
        );
    }
    None
}

/// The collector settings a script can read back (`collectgarbage` options other than
/// `collect` and `count`), kept in a registry table so that they are VM state (snapshots and
/// rollback include them) and never depend on the physical collector:
/// `mode` ("incremental" at start, like `luaL_newstate`; the `lua` command switches PUC to
/// generational), `pause`/`stepmul` as PUC stores them (a quarter of the value, in a byte;
/// the pause also paces the automatic collections, `lunette_vm::memory::CollectorPacing`,
/// which hold whether the collector runs), and `debt`: the bytes of collector work that `step` has asked for since the
/// last full collection.
fn gc_settings<'gc>(ctx: Context<'gc>) -> Table<'gc> {
    let key = ctx.str("lunette.gc");
    if let Value::Table(t) = ctx.registry().get(key) {
        return t;
    }
    let t = ctx.new_table();
    set(ctx, t, "mode", ctx.str("incremental"));
    set(ctx, t, "pause", Value::Integer(200 / 4));
    set(ctx, t, "stepmul", Value::Integer(100 / 4));
    set(ctx, t, "debt", Value::Integer(0));
    let _ = ctx.registry().set(ctx, key, Value::Table(t));
    t
}

fn gc_field<'gc>(ctx: Context<'gc>, t: Table<'gc>, name: &str) -> Value<'gc> {
    t.get(ctx.key(name))
}

/// PUC's `setgcparam` for a `collectgarbage` argument: the C `int` of the integer, divided
/// by 4, stored in a byte.
fn gc_param(v: i64) -> i64 {
    ((v as i32) / 4) as u8 as i64
}

/// Makes the automatic collections wait for `stored * 4` percent growth (PUC keeps the
/// pause as a quarter in a byte, `gc_param`).
fn set_pause(ctx: Context<'_>, stored: i64) {
    let pacing = ctx.collector_pacing();
    ctx.set_collector_pacing((stored * 4) as u32, pacing.running);
}

/// PUC's basic step size (2^13 bytes): a `step` does this much work more than it is asked
/// for, times the step multiplier (see `collectgarbage`'s `"step"`).
const GC_BASIC_STEP: i64 = 8 * 1024;

fn collectgarbage<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
) -> Result<Action<'gc>, Error<'gc>> {
    let given = opt_string(ctx, exec, 0)?;
    const OPTIONS: &[&str] = &[
        "stop",
        "restart",
        "collect",
        "count",
        "step",
        "setpause",
        "setstepmul",
        "isrunning",
        "generational",
        "incremental",
    ];
    // (The option given is compared and quoted as it is: a string of megabytes is neither
    // copied nor converted.)
    let opt = match given {
        None => "collect",
        Some(s) => match OPTIONS
            .iter()
            .find(|o| o.as_bytes() == crate::util::option_name(s.as_bytes()))
        {
            Some(o) => o,
            None => return Err(crate::util::invalid_option(ctx, 1, s)),
        },
    };
    // Optional integer arguments are checked before anything happens (like PUC).
    let int_arg = |exec: &Exec<'gc, '_>, i: usize| opt_integer(exec, i, 0);
    let (a1, a2, a3) = match opt {
        "step" | "setpause" | "setstepmul" => (int_arg(exec, 1)?, 0, 0),
        "generational" => (int_arg(exec, 1)?, int_arg(exec, 2)?, 0),
        "incremental" => (int_arg(exec, 1)?, int_arg(exec, 2)?, int_arg(exec, 3)?),
        _ => (0, 0, 0),
    };
    let _ = a3; // the step size is accepted and has no observable effect
    if ctx.running_finalizer(exec.thread()) {
        // Inside a finalizer the collector refuses every request (PUC's `lua_gc` returns
        // -1): fail.
        exec.set_return(Value::Nil);
        return Ok(Action::Return);
    }
    let granted = ctx.host().grants().full_collections;
    let r = match opt {
        "collect" | "step" => {
            let settings = gc_settings(ctx);
            let generational = gc_field(ctx, settings, "mode")
                .as_string()
                .is_some_and(|m| m.as_bytes() == b"generational");
            // lunette's collector model: a full collection is one cycle. `step` adds work
            // and finishes the cycle (collects, returns true) when the work asked for since
            // the last full collection covers the bytes the script has (`"count"`). Like
            // PUC's incremental step, the work is the debt plus the basic step size, times
            // the step multiplier (`| 1`, as PUC): PUC's work units are 16-byte slots,
            // `(debt / 16 + 2^13 / 16) * stepmul` of them. A basic step's debt is 0, so a
            // basic step over a heap below ~800 KiB finishes a cycle, as in PUC; a step of
            // `n` KiB is a debt of `n` KiB less the credit left before the next cycle (PUC's
            // negative debt between cycles), and does nothing while that is not positive. In generational mode every step collects
            // and none reports the end of a cycle (PUC's generational steps never do).
            let (full, result) = if opt == "collect" {
                (true, Value::Integer(0))
            } else if generational {
                (true, Value::Boolean(false))
            } else {
                // (A negative size asks for no work, like PUC's negative debt.)
                let stepmul = match gc_field(ctx, settings, "stepmul") {
                    Value::Integer(m) => (m * 4) | 1,
                    _ => 101,
                };
                let pacing = ctx.collector_pacing();
                let count = ctx.memory().script_bytes();
                // PUC's credit after a cycle is the live heap times the pause less 100%,
                // less what was allocated since: approximated by `"count"` times that
                // (lunette does not keep the live bytes apart), and never beyond the next
                // automatic collection.
                let mut credit = (count as u128 * u128::from(pacing.pause.saturating_sub(100))
                    / 100)
                    .min(i64::MAX as u128) as i64;
                if pacing.running {
                    let left = pacing.threshold.saturating_sub(count);
                    credit = credit.min(i64::try_from(left).unwrap_or(i64::MAX));
                }
                let work = match a1 {
                    0 => GC_BASIC_STEP.saturating_mul(stepmul),
                    n => match n.saturating_mul(1024).saturating_sub(credit) {
                        debt if debt <= 0 => 0,
                        debt => debt.saturating_add(GC_BASIC_STEP).saturating_mul(stepmul),
                    },
                };
                let debt = match gc_field(ctx, settings, "debt") {
                    Value::Integer(d) => d,
                    _ => 0,
                }
                .saturating_add(work);
                let heap = i64::try_from(ctx.memory().script_bytes()).unwrap_or(i64::MAX);
                if debt >= heap {
                    (true, Value::Boolean(granted))
                } else {
                    set(ctx, settings, "debt", Value::Integer(debt));
                    (false, Value::Boolean(false))
                }
            };
            if !full || !granted {
                // Not granted: the host alone decides when full collections happen.
                result
            } else {
                set(ctx, settings, "debt", Value::Integer(0));
                // A full collection at this deterministic point: weak entries are cleared
                // and finalizers run (see lunette_vm::gc). The step pauses so the host
                // collects. Paid for before it happens, in proportion to the heap it walks.
                exec.charge(lunette_vm::gc::full_collection_units(ctx));
                ctx.request_full_collection();
                exec.clear();
                return Ok(Action::Pause {
                    then: Then::new("collectgarbage", lunette_vm::gc::run_finalizers, result),
                });
            }
        }
        "count" => Value::Float(ctx.memory().script_bytes() as f64 / 1024.0),
        "isrunning" => Value::Boolean(ctx.collector_pacing().running),
        "stop" | "restart" => {
            let pacing = ctx.collector_pacing();
            ctx.set_collector_pacing(pacing.pause, opt == "restart");
            Value::Integer(0)
        }
        "setpause" | "setstepmul" => {
            let settings = gc_settings(ctx);
            let field = &opt[3..];
            let previous = match gc_field(ctx, settings, field) {
                Value::Integer(p) => p * 4,
                _ => 0,
            };
            set(ctx, settings, field, Value::Integer(gc_param(a1)));
            if field == "pause" {
                set_pause(ctx, gc_param(a1));
            }
            Value::Integer(previous)
        }
        _ => {
            // "incremental" / "generational": switch mode, return the previous one.
            let settings = gc_settings(ctx);
            let previous = gc_field(ctx, settings, "mode");
            if opt == "incremental" {
                if a1 as i32 != 0 {
                    set(ctx, settings, "pause", Value::Integer(gc_param(a1)));
                    set_pause(ctx, gc_param(a1));
                }
                if a2 as i32 != 0 {
                    set(ctx, settings, "stepmul", Value::Integer(gc_param(a2)));
                }
            }
            set(ctx, settings, "mode", ctx.str(opt));
            previous
        }
    };
    exec.set_return(r);
    Ok(Action::Return)
}

/// `warn(msg1, ...)`: like `lua.c`, warnings start off; a single argument `"@on"` or
/// `"@off"` switches them; when on, the pieces go to the host's error stream as
/// `Lua warning: <pieces>\n`.
fn warn<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let n = exec.len().max(1);
    let mut pieces = Vec::with_capacity(n);
    for i in 0..n {
        pieces.push(crate::util::check_string(ctx, exec, i)?);
    }
    let key = "lunette.warn";
    if n == 1 {
        match pieces[0].as_bytes() {
            b"@on" => {
                set(ctx, ctx.registry(), key, Value::Boolean(true));
                exec.clear();
                return Ok(Action::Return);
            }
            b"@off" => {
                set(ctx, ctx.registry(), key, Value::Boolean(false));
                exec.clear();
                return Ok(Action::Return);
            }
            [b'@', ..] => {
                exec.clear();
                return Ok(Action::Return);
            }
            _ => {}
        }
    }
    if ctx.registry().get(ctx.key(key)).is_truthy() {
        let mut out = b"Lua warning: ".to_vec();
        for p in &pieces {
            out.extend_from_slice(p.as_bytes());
        }
        out.push(b'\n');
        exec.charge(out.len() / 32);
        ctx.host().write_stderr(&out);
    }
    exec.clear();
    Ok(Action::Return)
}

/// A file read for `loadfile`/`dofile`: its text and chunk name as Lua strings, to compile as
/// `load` does, or `load`'s results for a file that could not be read.
enum FileChunk<'gc> {
    Read(lunette_vm::LuaString<'gc>, lunette_vm::LuaString<'gc>),
    Failed(Vec<Value<'gc>>),
}

/// Reads a file like `luaL_loadfilex` (`None` name: standard input), without its first line
/// if that starts with `#`.
fn read_file_chunk<'gc>(
    ctx: Context<'gc>,
    name: Option<lunette_vm::LuaString<'gc>>,
) -> FileChunk<'gc> {
    use std::io::Read;
    let (chunk, shown) = match name {
        Some(n) => (
            format!("@{}", n.to_str_lossy()),
            n.to_str_lossy().into_owned(),
        ),
        None => ("=stdin".to_string(), "stdin".to_string()),
    };
    let bytes = match name {
        Some(n) => std::fs::read(crate::util::path_from_bytes(n.as_bytes())).map_err(|e| {
            let what = if e.kind() == std::io::ErrorKind::NotFound
                || e.kind() == std::io::ErrorKind::PermissionDenied
            {
                "open"
            } else {
                "read"
            };
            (what, e)
        }),
        None => {
            let mut v = Vec::new();
            std::io::stdin()
                .read_to_end(&mut v)
                .map(|_| v)
                .map_err(|e| ("read", e))
        }
    };
    match bytes {
        Ok(bytes) => FileChunk::Read(
            ctx.new_string(crate::util::skip_shebang(&bytes)),
            ctx.new_string(chunk.as_bytes()),
        ),
        Err((what, e)) => FileChunk::Failed(vec![
            Value::Nil,
            ctx.str(&format!(
                "cannot {what} {shown}: {}",
                crate::util::io_error_message(&e)
            )),
        ]),
    }
}

/// `loadfile`: the file compiled as `load` compiles (fuel paid in slices across steps, a big
/// file on a helper thread meanwhile).
fn loadfile<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let name = opt_string(ctx, exec, 0)?;
    let mode = opt_string(ctx, exec, 1)?
        .map(|s| s.to_str_lossy().into_owned())
        .unwrap_or_else(|| "bt".into());
    // An explicit third argument, even nil, becomes the chunk's _ENV.
    let env = exec.get(2).or_else(|| bound_environment(exec));
    match read_file_chunk(ctx, name) {
        FileChunk::Read(src, chunk) => {
            let state = compile_state(ctx, Value::String(src), Value::String(chunk), &mode, env);
            load_pay(ctx, exec, state)
        }
        FileChunk::Failed(r) => {
            exec.replace(&r);
            Ok(Action::Return)
        }
    }
}

/// `dofile`: `loadfile`'s compile, then a call of the chunk.
fn dofile<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let name = opt_string(ctx, exec, 0)?;
    let env = bound_environment(exec);
    match read_file_chunk(ctx, name) {
        FileChunk::Read(src, chunk) => {
            let then = Then::new("dofile", dofile_loaded, Value::Nil);
            Ok(call_load(ctx, exec, src, chunk, "bt", env, then))
        }
        FileChunk::Failed(r) => Err(Error::Value(r.get(1).copied().unwrap_or(Value::Nil))),
    }
}

/// Calls `load(source, chunk_name, mode[, env])`, then `then` with its results: how
/// `dofile` and `require`'s searchers compile, so their fuel is paid in slices like
/// `load`'s and a big chunk compiles on the helper thread.
pub(crate) fn call_load<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    source: lunette_vm::LuaString<'gc>,
    chunk_name: lunette_vm::LuaString<'gc>,
    mode: &str,
    env: Option<Value<'gc>>,
    then: Then<'gc>,
) -> Action<'gc> {
    let mut args = vec![
        Value::String(source),
        Value::String(chunk_name),
        ctx.str(mode),
    ];
    args.extend(env);
    exec.replace(&args);
    Action::Call {
        function: Value::Callback(Callback::new(ctx, "load", load)),
        then: Some(then),
    }
}

/// After `dofile`'s compile: calls the chunk, or raises the compile error.
fn dofile_loaded<'gc>(
    _ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    _o: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    let f = exec.arg(0);
    if !f.is_function() {
        return Err(Error::Value(exec.arg(1)));
    }
    exec.clear();
    Ok(Action::Call {
        function: f,
        then: Some(Then::new("dofile", dofile_after, Value::Nil)),
    })
}

fn dofile_after<'gc>(
    _ctx: Context<'gc>,
    _exec: &mut Exec<'gc, '_>,
    _o: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    Ok(Action::Return)
}
