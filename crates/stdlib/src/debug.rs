//! The debug library (§6.10).
//!
//! Without the host's `debug` grant only `debug.traceback` exists (it reveals nothing a
//! sandbox should not see). With it: `getinfo`, `getlocal`, `setlocal`, `getmetatable`,
//! `setmetatable`, `getupvalue`, `setupvalue`, `upvalueid`, `upvaluejoin`,
//! `sethook`/`gethook` (a hook runs as a Lua call the executor pushes, see
//! `lunette_vm::Exec::set_hook`), `getregistry`, `getuservalue`/`setuservalue` (userdata
//! have no user values) and `setcstacklimit` (returns 0).
//!
//! Stack levels count like PUC's: level 0 is the running debug function, level 1 the
//! function that called it; Rust functions waiting for a call (`pcall`, ...) are levels too.

use lunette_vm::big_string::{return_built, Shape, BUILD_IN_PIECES};
use lunette_vm::debug::LevelInfo;
use lunette_vm::{
    display_plain, Action, Callback, CallbackFn, Context, Error, Exec, LuaClosure, Table, Thread,
    UserData, Value,
};

use crate::base::set;
use crate::util::{check_any, check_integer, opt_integer, opt_string};

const GRANTED: &[(&str, &str, CallbackFn)] = &[
    ("getinfo", "debug.getinfo", getinfo),
    ("getlocal", "debug.getlocal", getlocal),
    ("setlocal", "debug.setlocal", setlocal),
    ("getmetatable", "debug.getmetatable", getmetatable),
    ("setmetatable", "debug.setmetatable", setmetatable),
    ("getupvalue", "debug.getupvalue", getupvalue),
    ("setupvalue", "debug.setupvalue", setupvalue),
    ("upvalueid", "debug.upvalueid", upvalueid),
    ("upvaluejoin", "debug.upvaluejoin", upvaluejoin),
    ("sethook", "debug.sethook", sethook),
    ("gethook", "debug.gethook", gethook),
    ("getregistry", "debug.getregistry", getregistry),
    ("getuservalue", "debug.getuservalue", getuservalue),
    ("setuservalue", "debug.setuservalue", setuservalue),
    ("setcstacklimit", "debug.setcstacklimit", setcstacklimit),
];

/// This library's callbacks and continuations beyond its table's functions, in the VM's
/// permanents table (see `lunette_vm::Permanents`).
fn permanents(p: &mut lunette_vm::Permanents) {
    p.callback(("debug", "upvalueid_eq"), "upvalueid.__eq", upvalueid_eq);
}

/// Opens the `debug` library: only `traceback`, unless the host grants full debug access
/// ([`Grants::debug`](lunette_vm::Grants::debug)), which hands out registries and upvalues.
pub fn open(ctx: Context<'_>) {
    ctx.register_permanents(permanents);
    let lib = ctx.new_table();
    let mut fns: Vec<(&str, &'static str, CallbackFn)> =
        vec![("traceback", "debug.traceback", traceback)];
    if ctx.host().grants().debug {
        fns.extend_from_slice(GRANTED);
    }
    crate::util::add_functions(ctx, lib, &fns);
    crate::util::publish(ctx, "debug", lib);
}

/// The optional thread first argument: `(thread, index of the next argument)`.
fn thread_arg<'gc>(exec: &Exec<'gc, '_>) -> (Option<Thread<'gc>>, usize) {
    match exec.get(0) {
        Some(Value::Thread(t)) => (Some(t), 1),
        _ => (None, 0),
    }
}

fn is_other_thread<'gc>(exec: &Exec<'gc, '_>, t: Option<Thread<'gc>>) -> bool {
    t.is_some_and(|t| !Thread::ptr_eq(t, exec.thread()))
}

/// Whether `t` is a coroutine that died by an error: it keeps its frames (PUC does too),
/// and its level 0 is its top frame (the function that raised), not a yield.
fn is_dead_thread(t: Option<Thread<'_>>) -> bool {
    t.is_some_and(|t| t.status() == lunette_vm::ThreadStatus::Dead)
}

/// The VM level (1 = top frame of the inspected thread) of a PUC level, or `None` for level
/// 0: the running debug function itself, or the function a suspended coroutine yielded from
/// (neither has a frame in lunette).
fn vm_level(level: i64) -> Option<usize> {
    if level <= 0 {
        None
    } else {
        Some(level as usize)
    }
}

// ---------------------------------------------------------------------------------------
// traceback

fn traceback<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let (t, a) = thread_arg(exec);
    let msg = match exec.get(a) {
        None | Some(Value::Nil) => None,
        Some(Value::String(s)) => Some(s),
        // (A pause string: made only to be written into the result.)
        Some(v @ (Value::Integer(_) | Value::Float(_))) => {
            Some(ctx.new_pause_string(display_plain(v).as_bytes()))
        }
        Some(v) => {
            // A non-string message is returned untouched.
            exec.set_return(v);
            return Ok(Action::Return);
        }
    };
    let other = is_other_thread(exec, t);
    let level = opt_integer(exec, a + 1, if other { 0 } else { 1 })?;
    let text = if level < 0 {
        "stack traceback:".to_string()
    } else if other && is_dead_thread(t) {
        exec.traceback_from(ctx, t, level as usize + 1, false)
    } else if level == 0 {
        let (full, c_name) = if other {
            (exec.traceback_from(ctx, t, 1, false), "coroutine.yield")
        } else {
            (
                exec.traceback_from(ctx, None, 1, exec.is_main_thread()),
                "debug.traceback",
            )
        };
        if other && exec.level_count(t) == 0 {
            full
        } else {
            full.replacen(
                "stack traceback:",
                &format!("stack traceback:\n\t[C]: in function '{c_name}'"),
                1,
            )
        }
    } else if other {
        exec.traceback_from(ctx, t, level as usize, false)
    } else {
        // Level depth+1 is the host's call of the main chunk (`[C]: in ?`); beyond: nothing.
        let depth = exec.level_count(None);
        let host_line = exec.is_main_thread() && level as usize <= depth + 1;
        exec.traceback_from(ctx, None, level as usize, host_line)
    };
    // The message (a C string, as PUC's `luaL_traceback` adds it: up to a zero byte), a
    // newline (unless there is no message), the traceback: written once, or by the string
    // builder in pieces when long (a message of megabytes is neither copied nor scanned
    // in one step: one longer than `BUILD_IN_PIECES` is kept whole, zero bytes and all).
    let head = msg
        .map(|m| {
            let cut = (m.len() <= BUILD_IN_PIECES)
                .then(|| memchr::memchr(0, m.as_bytes()))
                .flatten();
            match cut {
                Some(end) => ctx.new_pause_string(&m.as_bytes()[..end]),
                None => m,
            }
        })
        .filter(|m| !m.is_empty());
    let newline: &[u8] = if msg.is_some() { b"\n" } else { b"" };
    let head_len = head.map_or(0, |m| m.len());
    let total = head_len + newline.len() + text.len();
    if total <= BUILD_IN_PIECES {
        let s = ctx.new_string_with(total, |out| {
            let (h, rest) = out.split_at_mut(head_len);
            h.copy_from_slice(head.map_or(&[][..], |m| m.as_bytes()));
            let (nl, t) = rest.split_at_mut(newline.len());
            nl.copy_from_slice(newline);
            t.copy_from_slice(text.as_bytes());
        });
        exec.set_return(Value::String(s));
        return Ok(Action::Return);
    }
    ctx.reserve_memory(total)?;
    let mut tail = Vec::with_capacity(newline.len() + text.len());
    tail.extend_from_slice(newline);
    tail.extend_from_slice(text.as_bytes());
    let mut parts = Vec::with_capacity(2);
    if let Some(m) = head {
        parts.push(Value::String(m));
    }
    parts.push(Value::String(ctx.new_pause_string(&tail)));
    Ok(return_built(ctx, exec, &parts, total, Shape::Repeat, None))
}

// ---------------------------------------------------------------------------------------
// getinfo

fn getinfo<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let (t, a) = thread_arg(exec);
    let opts = opt_string(ctx, exec, a + 1)?
        .map(|s| s.as_bytes().to_vec())
        .unwrap_or_else(|| b"flnSrtu".to_vec());
    if opts.first() == Some(&b'>') {
        return Err(Error::bad_argument(a + 2, "invalid option '>'"));
    }
    if opts.iter().any(|c| !b"SlnrutfL".contains(c)) {
        return Err(Error::bad_argument(a + 2, "invalid option"));
    }
    let target = exec.arg(a);
    let info = ctx.new_table();
    let has = |c: u8| opts.contains(&c);
    match target {
        Value::Function(f) => {
            let copied = fill_function(ctx, info, &has, Some(f), target, None)?;
            exec.charge(copied / 32);
        }
        Value::Callback(_) => {
            fill_function(ctx, info, &has, None, target, None)?;
        }
        _ => {
            let level = check_integer(exec, a)?;
            if level < 0 {
                exec.set_return(Value::Nil);
                return Ok(Action::Return);
            }
            let level = if is_other_thread(exec, t) && is_dead_thread(t) {
                // A dead coroutine's level 0 is its top frame.
                level + 1
            } else {
                level
            };
            match vm_level(level) {
                None => {
                    // The running getinfo itself (or the yield of a suspended coroutine).
                    let other = is_other_thread(exec, t);
                    if other && exec.level_count(t) == 0 {
                        exec.set_return(Value::Nil);
                        return Ok(Action::Return);
                    }
                    let name = if other {
                        None
                    } else {
                        exec.running_callback_name()
                            .map(|(n, method)| (if method { "method" } else { "global" }, n))
                    };
                    let li = LevelInfo {
                        function: None,
                        callback_name: None,
                        current_line: None,
                        is_tail: false,
                        name,
                    };
                    fill_level(ctx, info, &has, &li)?;
                }
                Some(l) => match exec.level_info(t, l) {
                    Some(li) => {
                        let copied = fill_level(ctx, info, &has, &li)?;
                        exec.charge(copied / 32);
                    }
                    None => {
                        exec.set_return(Value::Nil);
                        return Ok(Action::Return);
                    }
                },
            }
        }
    }
    exec.set_return(Value::Table(info));
    Ok(Action::Return)
}

fn fill_level<'gc>(
    ctx: Context<'gc>,
    info: Table<'gc>,
    has: &dyn Fn(u8) -> bool,
    li: &LevelInfo<'gc>,
) -> Result<usize, Error<'gc>> {
    let func = li.function.map(Value::Function).unwrap_or(Value::Nil);
    let copied = fill_function(ctx, info, has, li.function, func, li.current_line)?;
    if has(b'n') {
        if let Some((what, name)) = &li.name {
            set(ctx, info, "name", ctx.str(name));
            set(ctx, info, "namewhat", ctx.str(what));
        }
    }
    if has(b't') {
        set(ctx, info, "istailcall", Value::Boolean(li.is_tail));
    }
    Ok(copied)
}

/// The fields of `lua_getinfo` that depend only on the function (and its current line).
/// Returns the bytes of the `source` string it copied (for the caller to charge: a chunk name
/// can be megabytes long); refused before copying if they do not fit the memory limit.
fn fill_function<'gc>(
    ctx: Context<'gc>,
    info: Table<'gc>,
    has: &dyn Fn(u8) -> bool,
    closure: Option<LuaClosure<'gc>>,
    func: Value<'gc>,
    current_line: Option<u32>,
) -> Result<usize, Error<'gc>> {
    let proto = closure.map(|c| c.proto().prototype());
    let mut copied = 0;
    if has(b'S') {
        match proto {
            Some(p) => {
                ctx.reserve_memory(p.source.len())?;
                copied = p.source.len();
                set(ctx, info, "source", ctx.str(&p.source));
                set(ctx, info, "short_src", ctx.str(&p.short_source));
                set(
                    ctx,
                    info,
                    "linedefined",
                    Value::Integer(p.line_defined as i64),
                );
                set(
                    ctx,
                    info,
                    "lastlinedefined",
                    Value::Integer(p.last_line_defined as i64),
                );
                let what = if p.line_defined == 0 { "main" } else { "Lua" };
                set(ctx, info, "what", ctx.str(what));
            }
            None => {
                set(ctx, info, "source", ctx.str("=[C]"));
                set(ctx, info, "short_src", ctx.str("[C]"));
                set(ctx, info, "linedefined", Value::Integer(-1));
                set(ctx, info, "lastlinedefined", Value::Integer(-1));
                set(ctx, info, "what", ctx.str("C"));
            }
        }
    }
    if has(b'l') {
        let line = current_line.map_or(-1, |l| l as i64);
        set(ctx, info, "currentline", Value::Integer(line));
    }
    if has(b'u') {
        let (nups, nparams, vararg) = match (closure, proto) {
            (Some(c), Some(p)) => (c.upvalue_count() as i64, p.num_params as i64, p.is_vararg),
            _ => (0, 0, true),
        };
        set(ctx, info, "nups", Value::Integer(nups));
        set(ctx, info, "nparams", Value::Integer(nparams));
        set(ctx, info, "isvararg", Value::Boolean(vararg));
    }
    if has(b'n') {
        set(ctx, info, "namewhat", ctx.str(""));
    }
    if has(b'r') {
        set(ctx, info, "ftransfer", Value::Integer(0));
        set(ctx, info, "ntransfer", Value::Integer(0));
    }
    if has(b't') {
        set(ctx, info, "istailcall", Value::Boolean(false));
    }
    if has(b'L') {
        if let Some(p) = proto {
            let lines = ctx.new_table();
            for &l in &p.lines {
                let _ = lines.set(ctx, Value::Integer(l as i64), Value::Boolean(true));
            }
            set(ctx, info, "activelines", Value::Table(lines));
        }
    }
    if has(b'f') {
        set(ctx, info, "func", func);
    }
    Ok(copied)
}

// ---------------------------------------------------------------------------------------
// Locals

fn getlocal<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let (t, a) = thread_arg(exec);
    let n = check_integer(exec, a + 1)?;
    match exec.arg(a) {
        Value::Function(f) => {
            // Parameter names: the locals active at the function's first instruction.
            let p = f.proto().prototype();
            let name = if n >= 1 {
                p.local_vars
                    .iter()
                    .filter(|lv| lv.start_pc == 0 && lv.end_pc > 0)
                    .nth(n as usize - 1)
                    .map(|lv| Value::String(ctx.new_string(&lv.name)))
                    .unwrap_or(Value::Nil)
            } else {
                Value::Nil
            };
            exec.set_return(name);
        }
        Value::Callback(_) => exec.set_return(Value::Nil),
        _ => {
            let level = check_integer(exec, a)?;
            let depth = exec.level_count(t) as i64;
            // A dead coroutine's level 0 is its top frame, as for `getinfo`.
            let level = if is_other_thread(exec, t) && is_dead_thread(t) && level >= 0 {
                level + 1
            } else {
                level
            };
            if level < 0 || level > depth {
                return Err(Error::bad_argument(a + 1, "level out of range"));
            }
            let found = vm_level(level).and_then(|l| exec.get_local(t, l, n));
            match found {
                Some((name, v)) => exec.replace(&[ctx.str(&name), v]),
                None => exec.set_return(Value::Nil),
            }
        }
    }
    Ok(Action::Return)
}

fn setlocal<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let (t, a) = thread_arg(exec);
    let level = check_integer(exec, a)?;
    let n = check_integer(exec, a + 1)?;
    let v = check_any(exec, a + 2)?;
    let other = is_other_thread(exec, t);
    let depth = exec.level_count(t) as i64;
    if level < 0 || level > depth {
        return Err(Error::bad_argument(a + 1, "level out of range"));
    }
    // Locals of other threads are read-only here.
    let name = if other {
        None
    } else {
        vm_level(level).and_then(|l| exec.set_local(l, n, v))
    };
    match name {
        Some(name) => exec.set_return(ctx.str(&name)),
        None => exec.set_return(Value::Nil),
    }
    Ok(Action::Return)
}

// ---------------------------------------------------------------------------------------
// Metatables, registry, user values

fn getmetatable<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
) -> Result<Action<'gc>, Error<'gc>> {
    let v = check_any(exec, 0)?;
    let mt = ctx.metatable_of(v).map(Value::Table).unwrap_or(Value::Nil);
    exec.set_return(mt);
    Ok(Action::Return)
}

fn setmetatable<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
) -> Result<Action<'gc>, Error<'gc>> {
    let v = exec.arg(0);
    let mt = match exec.get(1) {
        Some(Value::Nil) => None,
        Some(Value::Table(t)) => Some(t),
        other => return Err(Error::type_error(2, "nil or table", other)),
    };
    match v {
        Value::Table(_) | Value::UserData(_) => ctx
            .set_metatable(v, mt)
            .map_err(|e| Error::runtime(e.to_string()))?,
        Value::String(_) => ctx.set_string_metatable(mt),
        // nil, booleans, numbers, functions, threads: one metatable per type.
        other => {
            ctx.set_type_metatable(other, mt);
        }
    }
    exec.set_return(v);
    Ok(Action::Return)
}

fn getregistry<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
) -> Result<Action<'gc>, Error<'gc>> {
    exec.set_return(Value::Table(ctx.registry()));
    Ok(Action::Return)
}

fn getuservalue<'gc>(
    _ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
) -> Result<Action<'gc>, Error<'gc>> {
    opt_integer(exec, 1, 1)?;
    // No userdata has user values.
    exec.set_return(Value::Nil);
    Ok(Action::Return)
}

fn setuservalue<'gc>(
    _ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
) -> Result<Action<'gc>, Error<'gc>> {
    match exec.get(0) {
        Some(Value::UserData(_)) => {}
        other => return Err(Error::type_error(1, "userdata", other)),
    }
    check_any(exec, 1)?;
    opt_integer(exec, 2, 1)?;
    exec.set_return(Value::Nil);
    Ok(Action::Return)
}

fn setcstacklimit<'gc>(
    _ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
) -> Result<Action<'gc>, Error<'gc>> {
    check_integer(exec, 0)?;
    exec.set_return(Value::Integer(0));
    Ok(Action::Return)
}

// ---------------------------------------------------------------------------------------
// Upvalues

fn check_function<'gc>(exec: &Exec<'gc, '_>, i: usize) -> Result<Value<'gc>, Error<'gc>> {
    match exec.get(i) {
        Some(v) if v.is_function() => Ok(v),
        other => Err(Error::type_error(i + 1, "function", other)),
    }
}

/// The upvalue `n` (1-based) of a Lua closure, if it exists.
fn upvalue_of<'gc>(f: Value<'gc>, n: i64) -> Option<(LuaClosure<'gc>, usize)> {
    match f {
        Value::Function(c) if n >= 1 && (n as usize) <= c.upvalue_count() => {
            Some((c, n as usize - 1))
        }
        _ => None,
    }
}

fn upvalue_name(c: LuaClosure<'_>, i: usize) -> String {
    match c.proto().prototype().upvalues.get(i) {
        Some(u) if !u.name.is_empty() => String::from_utf8_lossy(&u.name).into_owned(),
        _ => "(no name)".into(),
    }
}

fn getupvalue<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let n = check_integer(exec, 1)?;
    let f = check_function(exec, 0)?;
    match upvalue_of(f, n) {
        Some((c, i)) => {
            let v = c.upvalue(i).map_or(Value::Nil, |uv| exec.upvalue_value(uv));
            exec.replace(&[ctx.str(&upvalue_name(c, i)), v]);
        }
        None => exec.clear(),
    }
    Ok(Action::Return)
}

fn setupvalue<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let v = check_any(exec, 2)?;
    let n = check_integer(exec, 1)?;
    let f = check_function(exec, 0)?;
    match upvalue_of(f, n) {
        Some((c, i)) => {
            if let Some(uv) = c.upvalue(i) {
                exec.set_upvalue_value(ctx, uv, v);
            }
            exec.set_return(ctx.str(&upvalue_name(c, i)));
        }
        None => exec.clear(),
    }
    Ok(Action::Return)
}

/// An upvalue's identity (see `LuaClosure::upvalue_identity`), compared by `__eq`.
struct UpvalueId(usize);

fn upvalueid<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let n = check_integer(exec, 1)?;
    let f = check_function(exec, 0)?;
    let Some((c, i)) = upvalue_of(f, n) else {
        exec.set_return(Value::Nil);
        return Ok(Action::Return);
    };
    let Some(uv) = c.upvalue(i) else {
        exec.set_return(Value::Nil);
        return Ok(Action::Return);
    };
    let addr = LuaClosure::upvalue_identity(uv);
    let u = UserData::new(ctx, UpvalueId(addr));
    let key = "lunette.debug.upvalueid";
    let mt = match ctx.registry().get(ctx.key(key)) {
        Value::Table(t) => t,
        _ => {
            let t = ctx.new_table();
            let eq = Callback::new(ctx, "upvalueid.__eq", upvalueid_eq);
            set(ctx, t, "__eq", Value::Callback(eq));
            set(ctx, ctx.registry(), key, Value::Table(t));
            t
        }
    };
    // Refused only for frozen tables.
    let _ = ctx.set_metatable(Value::UserData(u), Some(mt));
    exec.set_return(Value::UserData(u));
    Ok(Action::Return)
}

fn upvalueid_eq<'gc>(
    _ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
) -> Result<Action<'gc>, Error<'gc>> {
    let id = |v: Value<'gc>| match v {
        Value::UserData(u) => u.downcast::<UpvalueId>().map(|x| x.0),
        _ => None,
    };
    let eq = matches!((id(exec.arg(0)), id(exec.arg(1))), (Some(a), Some(b)) if a == b);
    exec.set_return(Value::Boolean(eq));
    Ok(Action::Return)
}

fn upvaluejoin<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
) -> Result<Action<'gc>, Error<'gc>> {
    let n1 = check_integer(exec, 1)?;
    let f1 = check_function(exec, 0)?;
    let Some((c1, i1)) = upvalue_of(f1, n1) else {
        return Err(Error::bad_argument(2, "invalid upvalue index"));
    };
    let n2 = check_integer(exec, 3)?;
    let f2 = check_function(exec, 2)?;
    let Some((c2, i2)) = upvalue_of(f2, n2) else {
        return Err(Error::bad_argument(4, "invalid upvalue index"));
    };
    if let Some(uv) = c2.upvalue(i2) {
        c1.join_upvalue(ctx, i1, uv);
    }
    exec.clear();
    Ok(Action::Return)
}

// ---------------------------------------------------------------------------------------
// Hooks

fn sethook<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let (t, a) = thread_arg(exec);
    match exec.get(a) {
        None | Some(Value::Nil) => exec.set_hook(ctx, t, None),
        Some(_) => {
            let smask = crate::util::check_string(ctx, exec, a + 1)?;
            let hook = check_function(exec, a)?;
            let count = opt_integer(exec, a + 2, 0)?;
            exec.set_hook(ctx, t, Some((hook, smask.as_bytes(), count)));
        }
    }
    exec.clear();
    Ok(Action::Return)
}

fn gethook<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let (t, _) = thread_arg(exec);
    match exec.hook(t) {
        Some(h) => exec.replace(&[h.function, ctx.str(h.mask), Value::Integer(h.count)]),
        None => exec.set_return(Value::Nil),
    }
    Ok(Action::Return)
}
