//! lunette-stdlib: the Lua standard libraries, written against `lunette-vm`'s public API.
//! One module a library; each can be opened on its own.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod base;
pub mod coroutine;
pub mod debug;
mod format;
pub mod io;
pub mod math;
pub mod os;
mod pack;
pub mod package;
mod pattern;
pub mod string;
pub mod table;
pub mod tasklet;
mod two_way;
pub mod utf8;
mod util;

use lunette_vm::Context;

/// Opens every library this crate provides into the globals.
pub fn open_all(ctx: Context<'_>) {
    base::open(ctx);
    coroutine::open(ctx);
    string::open(ctx);
    table::open(ctx);
    math::open(ctx);
    utf8::open(ctx);
    os::open(ctx);
    io::open(ctx);
    debug::open(ctx);
    // Last: `package.loaded` collects the libraries opened above.
    package::open(ctx);
}

/// The global names of the library tables `open_all` creates.
pub const LIBRARY_TABLES: &[&str] = &[
    "coroutine",
    "string",
    "table",
    "math",
    "utf8",
    "os",
    "io",
    "debug",
    "package",
];

/// Freezes every library table in the globals and the string metatable (see
/// `Table::freeze`), so scripts sharing one VM cannot change the libraries under each other.
/// `package.loaded` and `package.preload` stay writable (`require` fills them).
pub fn freeze_libraries(ctx: Context<'_>) {
    let g = ctx.globals();
    for name in LIBRARY_TABLES {
        if let lunette_vm::Value::Table(t) = g.get(ctx.key(name)) {
            t.freeze(ctx);
        }
    }
    if let Some(mt) = ctx.string_metatable() {
        mt.freeze(ctx);
    }
}

/// A fresh global environment for one script (a mod): a new table holding the same library
/// tables and base functions as the VM's globals, with its own `_G`, its own `package` and
/// `require` (`package::open_for_environment`: modules one mod loads, and its
/// `package.loaded`/`package.preload` entries, are invisible to the others) and its own
/// `load` (`loadfile`, `dofile`) whose chunks get this environment by default
/// (`base::bind_compilers`). Load the script's chunks with it as their `_ENV` so globals one
/// mod defines are invisible to the others.
///
/// Isolation: nothing in the environment leads to the VM's root globals or to another
/// environment's tables — every function in it that compiles code (`load`, the `require`
/// searchers for `package.sources` and files) compiles in this environment. The library
/// tables (`string`, `table`, ...) and the string metatable are shared between
/// environments: in the sandbox profile they are frozen (`freeze_libraries`), in a VM
/// whose libraries are not frozen a mod can change them for every other mod, and a VM that
/// grants the full `debug` library (`debug.getregistry`, `debug.getupvalue`) hands out the
/// registry and every function's upvalues: a way around any isolation.
pub fn new_environment<'gc>(ctx: Context<'gc>) -> lunette_vm::Table<'gc> {
    use lunette_vm::Value;
    let env = ctx.new_table();
    let g = ctx.globals();
    let mut key = Value::Nil;
    while let Ok(Some((k, v))) = g.next(key) {
        if !matches!(k, Value::String(s) if s.as_bytes() == b"_G") {
            let _ = env.set(ctx, k, v);
        }
        key = k;
    }
    let _ = env.set(ctx, ctx.str("_G"), Value::Table(env));
    base::bind_compilers(ctx, env);
    package::open_for_environment(ctx, env);
    env
}
