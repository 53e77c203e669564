//! The package library (§6.3): `require`, `package.loaded`, `package.preload`,
//! `package.searchers`, `package.path`, `package.searchpath`, `package.config`.
//!
//! Searchers, in order:
//! 1. `package.preload[name]` (like PUC);
//! 2. `package.sources[name]`: a table of module name → Lua source text, the way a host
//!    (or a sandboxed script) provides modules without a file system;
//! 3. the Lua file searcher over `package.path`, only when the host grants `file_system`.
//!
//! There are no C modules: `package.cpath` is `""`, there is no C searcher and
//! `package.loadlib` always fails with PUC's "dynamic libraries not enabled" answer.
//!
//! `require` never recurses on the Rust stack: each searcher and the loader are called
//! through continuations.

use lunette_vm::big_string::{Shape, BUILD_IN_PIECES};
use lunette_vm::{
    Action, Callback, CallbackFn, Context, Error, Exec, LuaString, Outcome, Table, Then, Value,
};

use crate::base::set;
use crate::util::{check_string, opt_string};

const LOADED_KEY: &str = "_LOADED";
const PRELOAD_KEY: &str = "_PRELOAD";
const DEFAULT_PATH: &str = "/usr/local/share/lua/5.4/?.lua;/usr/local/share/lua/5.4/?/init.lua;\
/usr/local/lib/lua/5.4/?.lua;/usr/local/lib/lua/5.4/?/init.lua;./?.lua;./?/init.lua";

/// This library's callbacks and continuations beyond its table's functions, in the VM's
/// permanents table (see `lunette_vm::Permanents`).
fn permanents(p: &mut lunette_vm::Permanents) {
    p.callback(("package", "loadlib"), "package.loadlib", loadlib);
    p.callback(("package", "searchpath"), "package.searchpath", searchpath);
    p.callback(("package", "require"), "require", require);
    p.callback(
        ("package", "searcher_preload"),
        "searcher_preload",
        searcher_preload,
    );
    p.callback(
        ("package", "searcher_sources"),
        "searcher_sources",
        searcher_sources,
    );
    p.callback(("package", "searcher_Lua"), "searcher_Lua", searcher_lua);
    p.continuation(("package", "module_compiled"), "require", module_compiled);
    p.continuation(("package", "after_searcher"), "require", after_searcher);
    p.continuation(("package", "after_loader"), "require", after_loader);
    p.continuation(("package", "source_named"), "require", source_named);
    p.continuation(("package", "require_cut"), "require", require_cut);
    p.continuation(
        ("package", "preload_named"),
        "searcher_preload",
        preload_named,
    );
    p.continuation(
        ("package", "sources_named"),
        "searcher_sources",
        sources_named,
    );
    p.continuation(("package", "lua_named"), "searcher_Lua", lua_named);
    p.continuation(
        ("package", "searchpath_named"),
        "package.searchpath",
        searchpath_named,
    );
    p.continuation(("package", "raise_built"), "require", raise_built);
}

/// Opens the package library. Open it last: `package.loaded` is filled with the libraries
/// already opened (those registered as `lunette.loaded.<name>` in the registry, or present
/// as globals).
pub fn open(ctx: Context<'_>) {
    ctx.register_permanents(permanents);
    let grants = ctx.host().grants();
    let lib = ctx.new_table();
    let loaded = match ctx.registry().get(ctx.key(LOADED_KEY)) {
        Value::Table(t) => t,
        _ => ctx.new_table(),
    };
    let preload = match ctx.registry().get(ctx.key(PRELOAD_KEY)) {
        Value::Table(t) => t,
        _ => ctx.new_table(),
    };
    set(ctx, ctx.registry(), LOADED_KEY, Value::Table(loaded));
    set(ctx, ctx.registry(), PRELOAD_KEY, Value::Table(preload));
    set(ctx, lib, "loaded", Value::Table(loaded));
    set(ctx, lib, "preload", Value::Table(preload));
    set(ctx, lib, "sources", Value::Table(ctx.new_table()));

    set(
        ctx,
        lib,
        "searchers",
        Value::Table(new_searchers(ctx, lib, None)),
    );

    let path = if grants.operating_system {
        env_path().unwrap_or_else(|| DEFAULT_PATH.to_string())
    } else {
        DEFAULT_PATH.to_string()
    };
    set(ctx, lib, "path", ctx.str(&path));
    set(ctx, lib, "cpath", ctx.str(""));
    set(ctx, lib, "config", ctx.str("/\n;\n?\n!\n-\n"));
    set(
        ctx,
        lib,
        "loadlib",
        Value::Callback(Callback::new(ctx, "package.loadlib", loadlib)),
    );
    if grants.file_system {
        set(
            ctx,
            lib,
            "searchpath",
            Value::Callback(Callback::new(ctx, "package.searchpath", searchpath)),
        );
    }

    // The standard libraries opened so far.
    set(ctx, loaded, "_G", Value::Table(ctx.globals()));
    for name in [
        "string",
        "table",
        "math",
        "coroutine",
        "utf8",
        "os",
        "io",
        "debug",
    ] {
        let registered = ctx
            .registry()
            .get(ctx.key(&format!("lunette.loaded.{name}")));
        let v = match registered {
            Value::Table(_) => registered,
            _ => match ctx.globals().get(ctx.key(name)) {
                v @ Value::Table(_) => v,
                _ => continue,
            },
        };
        set(ctx, loaded, name, v);
    }
    set(ctx, loaded, "package", Value::Table(lib));
    crate::util::publish(ctx, "package", lib);
    let require = Callback::with_upvalue(ctx, "require", require, Value::Table(lib));
    set(ctx, ctx.globals(), "require", Value::Callback(require));
}

/// The searchers of package table `lib`. Each captures a binding table `[1] = lib` (like
/// PUC's upvalue) and `[2] = env`, the environment modules found as source are compiled in
/// (absent: the VM's root globals), so a mod's modules run in that mod's environment.
fn new_searchers<'gc>(ctx: Context<'gc>, lib: Table<'gc>, env: Option<Table<'gc>>) -> Table<'gc> {
    let searchers = ctx.new_table();
    let mut list: Vec<(&'static str, CallbackFn)> = vec![
        ("searcher_preload", searcher_preload),
        ("searcher_sources", searcher_sources),
    ];
    if ctx.host().grants().file_system {
        list.push(("searcher_Lua", searcher_lua));
    }
    let binding = ctx.new_table_with_capacity(2, 0);
    let _ = binding.set(ctx, Value::Integer(1), Value::Table(lib));
    if let Some(env) = env {
        let _ = binding.set(ctx, Value::Integer(2), Value::Table(env));
    }
    for (i, (name, f)) in list.into_iter().enumerate() {
        let cb = Callback::with_upvalue(ctx, name, f, Value::Table(binding));
        let _ = searchers.set(ctx, Value::Integer(i as i64 + 1), Value::Callback(cb));
    }
    searchers
}

/// Gives environment `env` (a mod's globals, see `new_environment`) its own package library:
/// a `package` table with the VM's `path`/`config`/functions, its own `loaded` (the standard
/// libraries, `_G` = `env`), copies of the VM's `preload` and `sources` (modules the host
/// registered are available to every mod, instantiated separately for each), searchers bound
/// to it, and a `require` that uses it. So one mod's modules and `package.loaded` entries are
/// invisible to the others. Frozen if the VM's package table is (sandboxes).
pub(crate) fn open_for_environment<'gc>(ctx: Context<'gc>, env: Table<'gc>) {
    let Value::Table(global) = ctx.registry().get(ctx.key("lunette.loaded.package")) else {
        return;
    };
    let lib = ctx.new_table();
    let mut key = Value::Nil;
    while let Ok(Some((k, v))) = global.next(key) {
        let _ = lib.set(ctx, k, v);
        key = k;
    }
    let copy = |field: &str| {
        let t = ctx.new_table();
        if let Value::Table(src) = global.get(ctx.key(field)) {
            let mut key = Value::Nil;
            while let Ok(Some((k, v))) = src.next(key) {
                let _ = t.set(ctx, k, v);
                key = k;
            }
        }
        t
    };
    let preload = copy("preload");
    let sources = copy("sources");
    let loaded = ctx.new_table();
    if let Value::Table(global_loaded) = ctx.registry().get(ctx.key(LOADED_KEY)) {
        for name in crate::LIBRARY_TABLES {
            let v = global_loaded.get(ctx.key(name));
            if !v.is_nil() {
                set(ctx, loaded, name, v);
            }
        }
    }
    set(ctx, loaded, "_G", Value::Table(env));
    set(ctx, loaded, "package", Value::Table(lib));
    set(ctx, lib, "loaded", Value::Table(loaded));
    set(ctx, lib, "preload", Value::Table(preload));
    set(ctx, lib, "sources", Value::Table(sources));
    set(
        ctx,
        lib,
        "searchers",
        Value::Table(new_searchers(ctx, lib, Some(env))),
    );
    if global.is_frozen() {
        lib.freeze(ctx);
    }
    set(ctx, env, "package", Value::Table(lib));
    let require = Callback::with_upvalue(ctx, "require", require, Value::Table(lib));
    set(ctx, env, "require", Value::Callback(require));
}

/// `LUA_PATH_5_4` or `LUA_PATH`, with `;;` replaced by the default path (PUC's `setpath`).
fn env_path() -> Option<String> {
    let path = std::env::var("LUA_PATH_5_4")
        .or_else(|_| std::env::var("LUA_PATH"))
        .ok()?;
    let Some(mark) = path.find(";;") else {
        return Some(path);
    };
    let mut out = String::new();
    if mark > 0 {
        out.push_str(&path[..mark]);
        out.push(';');
    }
    out.push_str(DEFAULT_PATH);
    if mark + 2 < path.len() {
        out.push(';');
        out.push_str(&path[mark + 2..]);
    }
    Some(out)
}

fn loadlib<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    check_string(ctx, exec, 0)?;
    check_string(ctx, exec, 1)?;
    exec.replace(&[
        Value::Nil,
        ctx.str("dynamic libraries not enabled; check your Lua installation"),
        ctx.str("absent"),
    ]);
    Ok(Action::Return)
}

// ---------------------------------------------------------------------------------------
// Searchers

fn searcher_preload<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
) -> Result<Action<'gc>, Error<'gc>> {
    let name = check_string(ctx, exec, 0)?;
    let name = match c_name(ctx, exec, name, ("searcher_preload", preload_named))? {
        Joined::Now(name) => name,
        Joined::Building(action) => return Ok(action),
    };
    let (pkg, _) = searcher_binding(exec)?;
    let Value::Table(preload) = package_field(ctx, pkg, "preload", PRELOAD_KEY) else {
        return Err(Error::runtime("'package.preload' must be a table"));
    };
    let v = preload.get(Value::String(name));
    if v.is_nil() {
        let parts = [
            ctx.str("no field package.preload['"),
            Value::String(name),
            ctx.str("']"),
        ];
        return return_joined(ctx, exec, &parts);
    } else {
        exec.replace(&[v, ctx.str(":preload:")]);
    }
    Ok(Action::Return)
}

fn package_table<'gc>(exec: &Exec<'gc, '_>) -> Result<Table<'gc>, Error<'gc>> {
    exec.upvalue
        .as_table()
        .ok_or_else(|| Error::runtime("package table lost"))
}

/// A searcher's package table and the environment it compiles modules in (see
/// `new_searchers`).
fn searcher_binding<'gc>(
    exec: &Exec<'gc, '_>,
) -> Result<(Table<'gc>, Option<Value<'gc>>), Error<'gc>> {
    let binding = package_table(exec)?;
    let Value::Table(lib) = binding.get_int(1) else {
        return Err(Error::runtime("package table lost"));
    };
    let env = binding.get_int(2);
    Ok((lib, (!env.is_nil()).then_some(env)))
}

fn searcher_sources<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
) -> Result<Action<'gc>, Error<'gc>> {
    let name = check_string(ctx, exec, 0)?;
    let name = match c_name(ctx, exec, name, ("searcher_sources", sources_named))? {
        Joined::Now(name) => name,
        Joined::Building(action) => return Ok(action),
    };
    let (pkg, env) = searcher_binding(exec)?;
    let src = match pkg.get(ctx.key("sources")) {
        Value::Table(t) => t.get(Value::String(name)),
        Value::Nil => Value::Nil,
        _ => return Err(Error::runtime("'package.sources' must be a table")),
    };
    let Value::String(src) = src else {
        let parts = [
            ctx.str("no field package.sources['"),
            Value::String(name),
            ctx.str("']"),
        ];
        return return_joined(ctx, exec, &parts);
    };
    // The chunk name `=name` (in pieces for a long name, then `source_named`).
    let parts = [ctx.str("="), Value::String(name)];
    let about = crate::string::state_table(
        ctx,
        &[
            Value::String(name),
            Value::String(src),
            env.unwrap_or(Value::Nil),
        ],
    );
    let then = Then::new("require", source_named, Value::Table(about));
    match join(ctx, exec, &parts, joined_len(&parts, usize::MAX), then)? {
        Joined::Now(chunk_name) => compile_source(ctx, exec, name, src, env, chunk_name),
        Joined::Building(action) => Ok(action),
    }
}

/// After the string builder made a long module name's chunk name (upvalue: `[name, source,
/// environment or nil]`).
fn source_named<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    _o: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    let lost = || Error::runtime("require: lost state");
    let Value::Table(about) = exec.upvalue else {
        return Err(lost());
    };
    let (Value::String(name), Value::String(src), Value::String(chunk_name)) =
        (about.get_int(1), about.get_int(2), exec.arg(0))
    else {
        return Err(lost());
    };
    let env = about.get_int(3);
    compile_source(
        ctx,
        exec,
        name,
        src,
        (!env.is_nil()).then_some(env),
        chunk_name,
    )
}

/// Compiles `package.sources[name]` (see [`compile_module`]).
fn compile_source<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    name: LuaString<'gc>,
    src: LuaString<'gc>,
    env: Option<Value<'gc>>,
    chunk_name: LuaString<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    compile_module(
        ctx,
        exec,
        env,
        [
            name,
            ctx.new_string(b"package.sources"),
            ctx.new_string(b":sources:"),
        ],
        src,
        chunk_name,
    )
}

/// Compiles module `name`'s `source` for a searcher as `load(source, chunk_name, "t", env)`
/// does: its fuel paid in slices across steps, a big source on a helper thread meanwhile (in
/// one piece, a 1.8 MB module held a step for 107 ms). `module` is `[name, where it was
/// found (for the error), the loader's extra value]`; [`module_compiled`] returns the loader
/// and the extra value, or raises the compile error.
fn compile_module<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    env: Option<Value<'gc>>,
    module: [lunette_vm::LuaString<'gc>; 3],
    source: lunette_vm::LuaString<'gc>,
    chunk_name: lunette_vm::LuaString<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    let about = crate::string::state_table(ctx, &module.map(Value::String));
    let then = Then::new("require", module_compiled, Value::Table(about));
    Ok(crate::base::call_load(
        ctx, exec, source, chunk_name, "t", env, then,
    ))
}

/// After [`compile_module`]'s `load` (upvalue: `[name, where, extra value]`).
fn module_compiled<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    _o: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    let Value::Table(about) = exec.upvalue else {
        return Err(Error::runtime("require: lost state"));
    };
    let f = exec.arg(0);
    if f.is_function() {
        exec.replace(&[f, about.get_int(3)]);
        return Ok(Action::Return);
    }
    // PUC: `luaL_error(L, "error loading module '%s' from file '%s':\n\t%s", ...)`.
    let message = match exec.arg(1) {
        v @ Value::String(_) => v,
        other => ctx.str(&lunette_vm::display_plain(other)),
    };
    let parts = [
        ctx.str(&exec.where_(1)),
        ctx.str("error loading module '"),
        about.get_int(1),
        ctx.str("' from "),
        about.get_int(2),
        ctx.str(":\n\t"),
        message,
    ];
    raise_joined(ctx, exec, &parts, joined_len(&parts, parts.len() - 1))
}

/// Charges and reserves what [`search_path`] builds for `name` over `path`: the file names
/// (each `?` replaced by the name) and the message that lists them, twice their bytes.
fn pay_search<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    name: &[u8],
    path: &[u8],
) -> Result<(), Error<'gc>> {
    let marks = memchr::memchr_iter(b'?', path).count();
    let templates = memchr::memchr_iter(b';', path).count() + 1;
    let bytes = marks
        .saturating_mul(name.len())
        .saturating_add(path.len())
        .saturating_add(templates.saturating_mul(16))
        .saturating_mul(2);
    ctx.reserve_memory(bytes)?;
    crate::string::charge_bytes(exec, bytes);
    Ok(())
}

/// PUC's `searchpath`: `Ok(filename)` or `Err("no file 'a'\n\tno file 'b'")`.
fn search_path(name: &[u8], path: &[u8], sep: &[u8], rep: &[u8]) -> Result<Vec<u8>, Vec<u8>> {
    let name = if sep.is_empty() {
        name.to_vec()
    } else {
        replace_all(name, sep, rep)
    };
    let mut tried = Vec::new();
    for template in path.split(|&c| c == b';') {
        if template.is_empty() {
            continue;
        }
        let file = replace_all(template, b"?", &name);
        if std::fs::File::open(crate::util::path_from_bytes(&file)).is_ok() {
            return Ok(file);
        }
        tried.push(file);
    }
    let mut msg = Vec::new();
    for (i, f) in tried.iter().enumerate() {
        if i > 0 {
            msg.extend_from_slice(b"\n\t");
        }
        msg.extend_from_slice(b"no file '");
        msg.extend_from_slice(f);
        msg.push(b'\'');
    }
    Err(msg)
}

fn replace_all(s: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if !from.is_empty() && s[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    out
}

fn searchpath<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let name = check_string(ctx, exec, 0)?;
    let path = check_string(ctx, exec, 1)?;
    opt_string(ctx, exec, 2)?;
    opt_string(ctx, exec, 3)?;
    let name = match c_name(ctx, exec, name, ("package.searchpath", searchpath_named))? {
        Joined::Now(name) => name,
        Joined::Building(action) => return Ok(action),
    };
    pay_search(ctx, exec, name.as_bytes(), path.as_bytes())?;
    let sep = opt_string(ctx, exec, 2)?
        .map(|s| s.as_bytes().to_vec())
        .unwrap_or_else(|| b".".to_vec());
    let rep = opt_string(ctx, exec, 3)?
        .map(|s| s.as_bytes().to_vec())
        .unwrap_or_else(|| b"/".to_vec());
    match search_path(name.as_bytes(), path.as_bytes(), &sep, &rep) {
        Ok(f) => exec.set_return(Value::String(ctx.new_string(&f))),
        Err(msg) => exec.replace(&[Value::Nil, Value::String(ctx.new_string(&msg))]),
    }
    Ok(Action::Return)
}

fn searcher_lua<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
) -> Result<Action<'gc>, Error<'gc>> {
    let name = check_string(ctx, exec, 0)?;
    let name = match c_name(ctx, exec, name, ("searcher_Lua", lua_named))? {
        Joined::Now(name) => name,
        Joined::Building(action) => return Ok(action),
    };
    let (pkg, env) = searcher_binding(exec)?;
    let Value::String(path) = pkg.get(ctx.key("path")) else {
        return Err(Error::runtime("'package.path' must be a string"));
    };
    pay_search(ctx, exec, name.as_bytes(), path.as_bytes())?;
    let file = match search_path(name.as_bytes(), path.as_bytes(), b".", b"/") {
        Ok(f) => f,
        Err(msg) => {
            exec.set_return(Value::String(ctx.new_string(&msg)));
            return Ok(Action::Return);
        }
    };
    let filename = String::from_utf8_lossy(&file).into_owned();
    let fail = |msg: String| {
        Err(Error::runtime(format!(
            "error loading module '{}' from file '{}':\n\t{}",
            name.to_str_lossy(),
            filename,
            msg
        )))
    };
    let src = match std::fs::read(crate::util::path_from_bytes(&file)) {
        Ok(src) => src,
        Err(e) => {
            let e = crate::util::io_error_message(&e);
            return fail(format!("cannot read {filename}: {e}"));
        }
    };
    if src.first() == Some(&0x1b) {
        return fail(format!(
            "{filename}: binary chunks are not supported by lunette"
        ));
    }
    let source = ctx.new_string(crate::util::skip_shebang(&src));
    let file = ctx.new_string(&file);
    compile_module(
        ctx,
        exec,
        env,
        [
            name,
            ctx.new_string(format!("file '{filename}'").as_bytes()),
            file,
        ],
        source,
        ctx.new_string(format!("@{filename}").as_bytes()),
    )
}

// ---------------------------------------------------------------------------------------
// require

// The state of a `require` in progress is a table: [1] name, [2] index of the searcher
// being called, [3] the bytes of the searchers' messages so far, or -1 once one of them
// held a zero byte (PUC's message ends there), [4] searchers table, [5] the loader's extra
// value, [6] the `loaded` table, [7] the name as given (the loader's argument; [1] is its
// C-string view, see `c_name`), [8] the number of the messages' parts, [9..] those parts
// ("\n\t", then the message, for each).
const STATE_NAME: i64 = 1;
const STATE_SEARCHER: i64 = 2;
const STATE_MESSAGE_BYTES: i64 = 3;
const STATE_SEARCHERS: i64 = 4;
const STATE_EXTRA: i64 = 5;
const STATE_LOADED: i64 = 6;
const STATE_GIVEN_NAME: i64 = 7;
const STATE_PARTS: i64 = 8;
const STATE_FIRST_PART: i64 = 9;

fn require<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let given = check_string(ctx, exec, 0)?;
    let pkg = package_table(exec)?;
    let Some(n) = find_zero(exec, given.as_bytes()) else {
        return require_named(ctx, exec, pkg, given, given);
    };
    let about = crate::string::state_table(ctx, &[Value::Table(pkg), Value::String(given)]);
    let then = Then::new("require", require_cut, Value::Table(about));
    match join(ctx, exec, &[Value::String(given)], n, then)? {
        Joined::Now(name) => require_named(ctx, exec, pkg, given, name),
        Joined::Building(action) => Ok(action),
    }
}

/// After the string builder cut a long name at its first zero byte (upvalue: `[package
/// table, name as given]`).
fn require_cut<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    _o: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    let lost = || Error::runtime("require: lost state");
    let Value::Table(about) = exec.upvalue else {
        return Err(lost());
    };
    let (Value::Table(pkg), Value::String(given), Value::String(name)) =
        (about.get_int(1), about.get_int(2), exec.arg(0))
    else {
        return Err(lost());
    };
    require_named(ctx, exec, pkg, given, name)
}

/// `require` of `name`, the C-string view of the name `given` (see [`c_name`]).
fn require_named<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    pkg: Table<'gc>,
    given: LuaString<'gc>,
    name: LuaString<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    let loaded = loaded_table(ctx, pkg)?;
    let v = loaded.get(Value::String(name));
    if v.is_truthy() {
        exec.set_return(v);
        return Ok(Action::Return);
    }
    let Value::Table(searchers) = pkg.get(ctx.key("searchers")) else {
        return Err(Error::runtime("'package.searchers' must be a table"));
    };
    let state = ctx.new_table_with_capacity(9, 0);
    for (k, v) in [
        (STATE_NAME, Value::String(name)),
        (STATE_MESSAGE_BYTES, Value::Integer(0)),
        (STATE_SEARCHERS, Value::Table(searchers)),
        (STATE_LOADED, Value::Table(loaded)),
        (STATE_GIVEN_NAME, Value::String(given)),
        (STATE_PARTS, Value::Integer(0)),
    ] {
        let _ = state.set(ctx, Value::Integer(k), v);
    }
    next_searcher(ctx, exec, state, 1)
}

/// Whether `pkg` is the VM's own package table (whose `loaded`/`preload` live in the registry,
/// as in PUC) rather than a mod environment's (`open_for_environment`).
fn is_global_package<'gc>(ctx: Context<'gc>, pkg: Table<'gc>) -> bool {
    matches!(ctx.registry().get(ctx.key("lunette.loaded.package")),
        Value::Table(g) if Table::ptr_eq(g, pkg))
}

/// `pkg`'s `loaded` or `preload` table: the registry's for the VM's own package table (like
/// PUC), the package table's field for a mod environment's.
fn package_field<'gc>(
    ctx: Context<'gc>,
    pkg: Table<'gc>,
    field: &str,
    registry_key: &str,
) -> Value<'gc> {
    if is_global_package(ctx, pkg) {
        ctx.registry().get(ctx.key(registry_key))
    } else {
        pkg.get(ctx.key(field))
    }
}

fn loaded_table<'gc>(ctx: Context<'gc>, pkg: Table<'gc>) -> Result<Table<'gc>, Error<'gc>> {
    package_field(ctx, pkg, "loaded", LOADED_KEY)
        .as_table()
        .ok_or_else(|| Error::runtime("'package.loaded' must be a table"))
}

fn next_searcher<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    state: Table<'gc>,
    i: i64,
) -> Result<Action<'gc>, Error<'gc>> {
    let name = state.get_int(STATE_NAME);
    let Value::Table(searchers) = state.get_int(STATE_SEARCHERS) else {
        return Err(Error::runtime("require: lost state"));
    };
    let searcher = searchers.get_int(i);
    if searcher.is_nil() {
        // PUC: `luaL_error(L, "module '%s' not found:%s", name, messages)`.
        let bytes = state.get_int(STATE_MESSAGE_BYTES).as_integer_strict();
        let mut parts = vec![
            ctx.str(&exec.where_(1)),
            ctx.str("module '"),
            name,
            ctx.str("' not found:"),
        ];
        let header = joined_len(&parts, usize::MAX);
        let count = state.get_int(STATE_PARTS).as_integer_strict().unwrap_or(0);
        parts.extend((0..count).map(|k| state.get_int(STATE_FIRST_PART + k)));
        let total = match bytes {
            Some(n) if n >= 0 => header + n as usize,
            _ => joined_len(&parts, 4),
        };
        return raise_joined(ctx, exec, &parts, total);
    }
    let _ = state.set(ctx, Value::Integer(STATE_SEARCHER), Value::Integer(i));
    exec.replace(&[name]);
    Ok(Action::Call {
        function: searcher,
        then: Some(Then::new("require", after_searcher, Value::Table(state))),
    })
}

fn after_searcher<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    _o: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    let Value::Table(state) = exec.upvalue else {
        return Err(Error::runtime("require: lost state"));
    };
    let i = state
        .get_int(STATE_SEARCHER)
        .as_integer_strict()
        .unwrap_or(1);
    let loader = exec.arg(0);
    if loader.is_function() {
        let extra = exec.arg(1);
        let _ = state.set(ctx, Value::Integer(STATE_EXTRA), extra);
        exec.replace(&[state.get_int(STATE_GIVEN_NAME), extra]);
        return Ok(Action::Call {
            function: loader,
            then: Some(Then::new("require", after_loader, Value::Table(state))),
        });
    }
    let bytes = state.get_int(STATE_MESSAGE_BYTES).as_integer_strict();
    if let (Some(n @ 0..), v @ (Value::String(_) | Value::Integer(_) | Value::Float(_))) =
        (bytes, loader)
    {
        // A message: kept as parts, joined once if no searcher finds the module.
        let message = match v {
            Value::String(_) => v,
            number => ctx.str(&lunette_vm::display_plain(number)),
        };
        let count = state.get_int(STATE_PARTS).as_integer_strict().unwrap_or(0);
        let _ = state.set(
            ctx,
            Value::Integer(STATE_FIRST_PART + count),
            ctx.str("\n\t"),
        );
        let _ = state.set(ctx, Value::Integer(STATE_FIRST_PART + count + 1), message);
        let _ = state.set(ctx, Value::Integer(STATE_PARTS), Value::Integer(count + 2));
        let bytes = match message.as_string().map(|s| s.as_bytes()) {
            // (The rest of the messages are past the end of PUC's.)
            Some(b) if find_zero(exec, b).is_some() => -1,
            Some(b) => n.saturating_add(2).saturating_add(b.len() as i64),
            None => -1,
        };
        let _ = state.set(
            ctx,
            Value::Integer(STATE_MESSAGE_BYTES),
            Value::Integer(bytes),
        );
    }
    next_searcher(ctx, exec, state, i + 1)
}

fn after_loader<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    _o: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    let Value::Table(state) = exec.upvalue else {
        return Err(Error::runtime("require: lost state"));
    };
    let name = state.get_int(STATE_NAME);
    let extra = state.get_int(STATE_EXTRA);
    let Value::Table(loaded) = state.get_int(STATE_LOADED) else {
        return Err(Error::runtime("require: lost state"));
    };
    let r = exec.arg(0);
    if !r.is_nil() {
        loaded
            .set(ctx, name, r)
            .map_err(|e| Error::runtime(e.to_string()))?;
    }
    let mut v = loaded.get(name);
    if v.is_nil() {
        v = Value::Boolean(true);
        let _ = loaded.set(ctx, name, v);
    }
    exec.replace(&[v, extra]);
    Ok(Action::Return)
}

// ---------------------------------------------------------------------------------------
// Messages
//
// PUC builds these messages with `%s` of C strings: a module name, a searcher's message or a
// loading error counts up to its first zero byte (`require` looks the name up that way too).
// A module name can be as long as the memory limit allows and `require`'s message holds it
// several times, so messages are kept as parts (strings) and joined once, reserved and
// charged like any string the library builds, in pieces across steps by the string builder
// when long (joined with `format!`, a 10 MB name held one step for 180 ms and 200 MB of
// temporary copies).

/// A callback's first argument `name` up to its first zero byte (PUC's C-string view of a
/// name): `name` itself when it has none, else that prefix, joined like a message (see
/// [`join`]); when long, by the string builder, which hands it to `continuation`, which
/// runs the callback again with it ([`again_with_c_name`]).
fn c_name<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    name: LuaString<'gc>,
    (callback, continuation): (&'static str, lunette_vm::ContinuationFn),
) -> Result<Joined<'gc>, Error<'gc>> {
    let Some(n) = find_zero(exec, name.as_bytes()) else {
        return Ok(Joined::Now(name));
    };
    // The continuation's state: `[0]` the number of values, then the callback's upvalue and
    // its arguments after the first (any of them nil; at most `searchpath`'s three, which
    // the searchers ignore like their extra arguments).
    let mut values = vec![exec.upvalue];
    values.extend(exec.values().iter().skip(1).take(3).copied());
    let rest = crate::string::state_table(ctx, &values);
    let _ = rest.set(ctx, Value::Integer(0), Value::Integer(values.len() as i64));
    let then = Then::new(callback, continuation, Value::Table(rest));
    join(ctx, exec, &[Value::String(name)], n, then)
}

/// Runs the callback `again` with its name argument cut by [`c_name`] (the builder's result,
/// in the continuation's region), its upvalue and other arguments as they were.
fn again_with_c_name<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    again: CallbackFn,
) -> Result<Action<'gc>, Error<'gc>> {
    let Value::Table(rest) = exec.upvalue else {
        return Err(Error::runtime("require: lost state"));
    };
    // (At most four values: a damaged state cannot make this long.)
    let count = rest.get_int(0).as_integer_strict().unwrap_or(0).min(4);
    let mut args = vec![exec.arg(0)];
    args.extend((2..=count).map(|k| rest.get_int(k)));
    exec.replace(&args);
    exec.upvalue = rest.get_int(1);
    again(ctx, exec)
}

fn preload_named<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    _o: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    again_with_c_name(ctx, exec, searcher_preload)
}

fn sources_named<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    _o: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    again_with_c_name(ctx, exec, searcher_sources)
}

fn lua_named<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    _o: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    again_with_c_name(ctx, exec, searcher_lua)
}

fn searchpath_named<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    _o: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    again_with_c_name(ctx, exec, searchpath)
}

/// Where `bytes` has its first zero byte, the scan charged like a string comparison.
fn find_zero(exec: &mut Exec<'_, '_>, bytes: &[u8]) -> Option<usize> {
    exec.charge(bytes.len() / lunette_vm::string::COMPARE_BYTES_PER_FUEL);
    memchr::memchr(0, bytes)
}

/// The length of `parts` (strings) joined, cut at the first zero byte of the parts from
/// index `cut_from` on (PUC's `%s` of a message at the end).
fn joined_len(parts: &[Value<'_>], cut_from: usize) -> usize {
    let mut total = 0usize;
    for (i, p) in parts.iter().enumerate() {
        let bytes = p.as_string().map(|s| s.as_bytes()).unwrap_or_default();
        if i >= cut_from {
            if let Some(z) = memchr::memchr(0, bytes) {
                return total.saturating_add(z);
            }
        }
        total = total.saturating_add(bytes.len());
    }
    total
}

/// A joined message: written now, or being built by the string builder, which hands it to
/// the continuation given to [`join`].
enum Joined<'gc> {
    Now(LuaString<'gc>),
    Building(Action<'gc>),
}

/// Joins `parts` (strings) into a string of their first `total` bytes, reserved first: at
/// once (charged like the library's other assemblies) when short, else by the string
/// builder in pieces, which hands it to `then`.
fn join<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    parts: &[Value<'gc>],
    total: usize,
    then: Then<'gc>,
) -> Result<Joined<'gc>, Error<'gc>> {
    if total <= BUILD_IN_PIECES {
        return Ok(Joined::Now(join_now(ctx, exec, parts, total)?));
    }
    reserve_joined(ctx, total)?;
    let st = lunette_vm::big_string::start(ctx, parts, total, Shape::Repeat);
    exec.clear();
    exec.push(Value::Table(st));
    Ok(Joined::Building(Action::Call {
        function: lunette_vm::big_string::builder(ctx),
        then: Some(then),
    }))
}

/// Checks and reserves a joined string of `total` bytes.
fn reserve_joined<'gc>(ctx: Context<'gc>, total: usize) -> Result<(), Error<'gc>> {
    if total > crate::string::MAX_SIZE {
        return Err(Error::runtime("resulting string too large"));
    }
    ctx.reserve_memory(total)
}

/// [`join`] of a short string (at most `BUILD_IN_PIECES` bytes), written at once.
fn join_now<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    parts: &[Value<'gc>],
    total: usize,
) -> Result<LuaString<'gc>, Error<'gc>> {
    crate::string::charge_assembly(exec, total);
    let pieces = parts
        .iter()
        .filter_map(|p| p.as_string())
        .map(|s| s.as_bytes());
    crate::string::assemble_pieces(ctx, pieces, total)
}

/// Returns `parts` joined (a searcher's message).
fn return_joined<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    parts: &[Value<'gc>],
) -> Result<Action<'gc>, Error<'gc>> {
    let total = joined_len(parts, usize::MAX);
    if total <= BUILD_IN_PIECES {
        let s = join_now(ctx, exec, parts, total)?;
        exec.set_return(Value::String(s));
        return Ok(Action::Return);
    }
    reserve_joined(ctx, total)?;
    Ok(lunette_vm::big_string::return_built(
        ctx,
        exec,
        parts,
        total,
        Shape::Repeat,
        None,
    ))
}

/// Raises the first `total` bytes of `parts` joined (which start with the position, as
/// `luaL_error` writes it).
fn raise_joined<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    parts: &[Value<'gc>],
    total: usize,
) -> Result<Action<'gc>, Error<'gc>> {
    let then = Then::new("require", raise_built, Value::Nil);
    match join(ctx, exec, parts, total, then)? {
        Joined::Now(s) => Err(Error::Value(Value::String(s))),
        Joined::Building(action) => Ok(action),
    }
}

/// Raises the message the string builder made for [`raise_joined`].
fn raise_built<'gc>(
    _ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    _o: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    Err(Error::Value(exec.arg(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace() {
        assert_eq!(replace_all(b"a.b.c", b".", b"/"), b"a/b/c");
        assert_eq!(replace_all(b"?;x/?", b"?", b"m"), b"m;x/m");
    }

    #[test]
    fn missing_files_listed() {
        let e = search_path(
            b"a.b",
            b"/nonexistent-dir/?.lua;;/nonexistent-dir/?/z",
            b".",
            b"/",
        )
        .unwrap_err();
        assert_eq!(
            String::from_utf8(e).unwrap(),
            "no file '/nonexistent-dir/a/b.lua'\n\tno file '/nonexistent-dir/a/b/z'"
        );
    }
}
