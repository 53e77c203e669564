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

use lunette_vm::{Action, Callback, CallbackFn, Context, Error, Exec, Outcome, Table, Then, Value};

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
    let (pkg, _) = searcher_binding(exec)?;
    let Value::Table(preload) = package_field(ctx, pkg, "preload", PRELOAD_KEY) else {
        return Err(Error::runtime("'package.preload' must be a table"));
    };
    let v = preload.get(Value::String(name));
    if v.is_nil() {
        let msg = format!("no field package.preload['{}']", name.to_str_lossy());
        exec.set_return(ctx.str(&msg));
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
    let (pkg, env) = searcher_binding(exec)?;
    let src = match pkg.get(ctx.key("sources")) {
        Value::Table(t) => t.get(Value::String(name)),
        Value::Nil => Value::Nil,
        _ => return Err(Error::runtime("'package.sources' must be a table")),
    };
    let Value::String(src) = src else {
        let msg = format!("no field package.sources['{}']", name.to_str_lossy());
        exec.set_return(ctx.str(&msg));
        return Ok(Action::Return);
    };
    let chunk = format!("={}", name.to_str_lossy());
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
        ctx.new_string(chunk.as_bytes()),
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
    _ctx: Context<'gc>,
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
    let text = |v: Value<'gc>| v.as_string().map(|s| s.to_str_lossy().into_owned());
    Err(Error::runtime(format!(
        "error loading module '{}' from {}:\n\t{}",
        text(about.get_int(1)).unwrap_or_default(),
        text(about.get_int(2)).unwrap_or_default(),
        lunette_vm::display_plain(exec.arg(1))
    )))
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
    let (pkg, env) = searcher_binding(exec)?;
    let Value::String(path) = pkg.get(ctx.key("path")) else {
        return Err(Error::runtime("'package.path' must be a string"));
    };
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

// The state of a `require` in progress is a table:
// [1] name, [2] index of the searcher being called, [3] accumulated messages,
// [4] searchers table, [5] the loader's extra value, [6] the `loaded` table.

fn require<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let name = check_string(ctx, exec, 0)?;
    let pkg = package_table(exec)?;
    let loaded = loaded_table(ctx, pkg)?;
    let v = loaded.get(Value::String(name));
    if v.is_truthy() {
        exec.set_return(v);
        return Ok(Action::Return);
    }
    let Value::Table(searchers) = pkg.get(ctx.key("searchers")) else {
        return Err(Error::runtime("'package.searchers' must be a table"));
    };
    let state = ctx.new_table_with_capacity(5, 0);
    let _ = state.set(ctx, Value::Integer(1), Value::String(name));
    let _ = state.set(ctx, Value::Integer(3), ctx.str(""));
    let _ = state.set(ctx, Value::Integer(4), Value::Table(searchers));
    let _ = state.set(ctx, Value::Integer(6), Value::Table(loaded));
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
    let name = state.get_int(1);
    let Value::Table(searchers) = state.get_int(4) else {
        return Err(Error::runtime("require: lost state"));
    };
    let searcher = searchers.get_int(i);
    if searcher.is_nil() {
        let msg = state
            .get_int(3)
            .as_string()
            .map(|s| s.to_str_lossy().into_owned())
            .unwrap_or_default();
        let name = name.as_string().map(|s| s.to_str_lossy().into_owned());
        return Err(Error::runtime(format!(
            "module '{}' not found:{}",
            name.unwrap_or_default(),
            msg
        )));
    }
    let _ = state.set(ctx, Value::Integer(2), Value::Integer(i));
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
    let i = state.get_int(2).as_integer_strict().unwrap_or(1);
    let loader = exec.arg(0);
    if loader.is_function() {
        let extra = exec.arg(1);
        let _ = state.set(ctx, Value::Integer(5), extra);
        exec.replace(&[state.get_int(1), extra]);
        return Ok(Action::Call {
            function: loader,
            then: Some(Then::new("require", after_loader, Value::Table(state))),
        });
    }
    if let v @ (Value::String(_) | Value::Integer(_) | Value::Float(_)) = loader {
        let mut msg = state
            .get_int(3)
            .as_string()
            .map(|s| s.as_bytes().to_vec())
            .unwrap_or_default();
        msg.extend_from_slice(b"\n\t");
        msg.extend_from_slice(lunette_vm::display_plain(v).as_bytes());
        let _ = state.set(ctx, Value::Integer(3), Value::String(ctx.new_string(&msg)));
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
    let name = state.get_int(1);
    let extra = state.get_int(5);
    let Value::Table(loaded) = state.get_int(6) else {
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
