//! `lunette`: a `lua`-compatible command-line runner and REPL.
//!
//! It follows PUC-Rio's `lua` (5.4): the same options, run in the order given (`-e`, `-l`,
//! `-W`), `LUA_INIT_5_4`/`LUA_INIT` first unless `-E`, the `arg` table, the same messages,
//! usage text and exit statuses, and the same REPL (prompts from `_PROMPT`/`_PROMPT2`,
//! `=expr`, expressions printed, statements continued while incomplete). Its own options:
//!
//! ```text
//!   --fuel N        stop any chunk after N units of work (about one VM instruction each)
//!   --memory SIZE   limit the VM's memory (suffixes k, M, G: 16M); over it scripts get
//!                   `not enough memory`
//!   --sandbox       run with the sandbox profile (no io/os/file access, frozen libraries,
//!                   a 64 MiB memory limit unless --memory says otherwise)
//! ```
//!
//! Chunks run in fuel steps (`runner`); Ctrl-C stops the running chunk between steps with
//! `interrupted!`.

#![forbid(unsafe_code)]

/// `println!` that ignores write errors (a closed stdout must not panic the program).
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, $($arg)*);
        let _ = out.flush();
    }};
}

/// `eprintln!` that ignores write errors.
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

mod options;
mod repl;
mod runner;

use std::ffi::OsString;
use std::io::{IsTerminal, Read};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use lunette::{Lua, StashedValue, Value};
use options::{arg_bytes, BadOption, Item, Options};
use runner::{Failure, Runner};

/// The program name in messages (`lua` uses its `argv[0]`; lunette's messages always say
/// `lunette`, so they do not depend on how it was started).
const PROGNAME: &str = "lunette";

/// The version banner (`-v`, `-i`, the interactive REPL).
const VERSION: &str = concat!(
    "lunette ",
    env!("CARGO_PKG_VERSION"),
    " (Lua 5.4 compatible)"
);

/// Environment variables the libraries read when they are opened, hidden from them by `-E`.
const LIBRARY_ENV: &[&str] = &["LUA_PATH_5_4", "LUA_PATH", "LUA_CPATH_5_4", "LUA_CPATH"];

/// Prints `lunette: text` on stderr (`lua.c`'s `l_message` with the program name).
fn message(text: &dyn std::fmt::Display) {
    errln!("{PROGNAME}: {text}");
}

/// The complaint about a bad command line and the usage text, like `lua`'s.
fn print_usage(bad: &BadOption) {
    errln!(
        "{PROGNAME}: {bad}\n\
         usage: {PROGNAME} [options] [script [args]]\n\
         Available options are:\n  \
           -e stat   execute string 'stat'\n  \
           -i        enter interactive mode after executing 'script'\n  \
           -l mod    require library 'mod' into global 'mod'\n  \
           -l g=mod  require library 'mod' into global 'g'\n  \
           -v        show version information\n  \
           -E        ignore environment variables\n  \
           -W        turn warnings on\n  \
           --        stop handling options\n  \
           -         stop handling options and execute stdin\n  \
           --fuel N       stop any chunk after N units of work\n  \
           --memory SIZE  limit the VM's memory (e.g. 16M)\n  \
           --sandbox      run with the sandbox profile (no io, os, files)"
    );
}

/// The VM the options ask for. With `-E` the libraries do not see `LUA_PATH*`/`LUA_CPATH*`
/// (they read them when opened: the variables are hidden from the process while it opens
/// them, before any other thread exists, and put back for `os.getenv`).
fn make_lua(opts: &Options) -> Lua {
    let mut hidden = Vec::new();
    if opts.ignore_env {
        for name in LIBRARY_ENV {
            if let Some(v) = std::env::var_os(name) {
                std::env::remove_var(name);
                hidden.push((name, v));
            }
        }
    }
    let mut lua = if opts.sandbox {
        Lua::sandboxed(std::rc::Rc::new(lunette::StdHost::sandboxed()))
    } else {
        Lua::new()
    };
    for (name, v) in hidden {
        std::env::set_var(name, v);
    }
    if opts.memory.is_some() {
        lua.set_memory_limit(opts.memory);
    }
    lua
}

/// The global `arg`: the script name at 0, its arguments at 1.., the interpreter and the
/// options at negative indices; without a script, the interpreter's name is at 0.
fn create_arg_table(r: &mut Runner, argv: &[OsString], script: Option<usize>) {
    let base = script.unwrap_or(0) as i64;
    r.lua.enter(|ctx| {
        let t = ctx.new_table();
        for (i, a) in argv.iter().enumerate() {
            let s = Value::String(ctx.new_string(&arg_bytes(a)));
            let _ = t.set(ctx, Value::Integer(i as i64 - base), s);
        }
        let _ = ctx.globals().set(ctx, ctx.str("arg"), Value::Table(t));
    });
}

/// The text of an I/O error without Rust's ` (os error N)` suffix (what C's `strerror` says).
fn os_message(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.rfind(" (os error ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// Loads a file like `luaL_loadfile`: chunk name `@path`, a first `#` line skipped; `None`
/// reads standard input (chunk name `=stdin`).
fn load_file(r: &mut Runner, path: Option<&OsString>) -> Result<StashedValue, Failure> {
    let mut source = Vec::new();
    let chunk_name = match path {
        Some(p) => {
            let shown = p.to_string_lossy();
            let mut file = std::fs::File::open(p)
                .map_err(|e| Failure::plain(format!("cannot open {shown}: {}", os_message(&e))))?;
            file.read_to_end(&mut source)
                .map_err(|e| Failure::plain(format!("cannot read {shown}: {}", os_message(&e))))?;
            format!("@{shown}")
        }
        None => {
            std::io::stdin()
                .lock()
                .read_to_end(&mut source)
                .map_err(|e| Failure::plain(format!("cannot read stdin: {}", os_message(&e))))?;
            "=stdin".to_string()
        }
    };
    let source = lunette::compiler::skip_shebang(&source);
    Ok(r.lua.load(source, &chunk_name)?)
}

/// `lua.c`'s `dofile`: load and run a file (or stdin) without arguments.
fn do_file(r: &mut Runner, path: Option<&OsString>) -> Result<(), Failure> {
    let f = load_file(r, path)?;
    r.call(&f, &[]).map(|_| ())
}

/// `lua.c`'s `dostring`: load and run a string.
fn do_string(r: &mut Runner, source: &[u8], chunk_name: &str) -> Result<(), Failure> {
    let f = r.lua.load(source, chunk_name)?;
    r.call(&f, &[]).map(|_| ())
}

/// `-l g=mod` / `-l mod`: `g = require(mod)`; without `=`, a `-suffix` (a version) is cut
/// from the global's name (`-l lib-2` sets `lib`).
fn do_library(r: &mut Runner, spec: &[u8]) -> Result<(), Failure> {
    let (global, module) = match spec.iter().position(|&c| c == b'=') {
        Some(eq) => (&spec[..eq], &spec[eq + 1..]),
        None => match spec.iter().position(|&c| c == b'-') {
            Some(dash) => (&spec[..dash], spec),
            None => (spec, spec),
        },
    };
    let (require, name) = r.lua.enter(|ctx| {
        (
            ctx.stash(ctx.globals().get(ctx.str("require"))),
            ctx.stash(Value::String(ctx.new_string(module))),
        )
    });
    let results = r.call(&require, &[name])?;
    r.lua.enter(|ctx| {
        let v = match results.first() {
            Some(v) => ctx.fetch(v).unwrap_or(Value::Nil),
            None => Value::Nil,
        };
        let key = Value::String(ctx.new_string(global));
        ctx.globals()
            .set(ctx, key, v)
            .map_err(|e| Failure::plain(e.to_string()))
    })
}

/// `LUA_INIT_5_4`, or else `LUA_INIT`: `@file` runs the file, anything else is a chunk
/// named after the variable.
fn lua_init(r: &mut Runner) -> Result<(), Failure> {
    let (name, init) = match std::env::var_os("LUA_INIT_5_4") {
        Some(v) => ("=LUA_INIT_5_4", v),
        None => match std::env::var_os("LUA_INIT") {
            Some(v) => ("=LUA_INIT", v),
            None => return Ok(()),
        },
    };
    let init = arg_bytes(&init);
    match init.strip_prefix(b"@") {
        Some(path) => {
            #[cfg(unix)]
            let path = {
                use std::os::unix::ffi::OsStringExt;
                OsString::from_vec(path.to_vec())
            };
            #[cfg(not(unix))]
            let path = OsString::from(String::from_utf8_lossy(path).into_owned());
            do_file(r, Some(&path))
        }
        None => do_string(r, &init, name),
    }
}

/// At most this many script arguments (`lua` is limited by its stack size the same way).
const MAX_SCRIPT_ARGS: usize = 1_000_000;

/// The script's arguments: `arg[1]` .. `arg[#arg]` as the global `arg` is now.
fn script_args(r: &mut Runner) -> Result<Vec<StashedValue>, Failure> {
    r.lua.enter(|ctx| {
        let Value::Table(t) = ctx.globals().get(ctx.str("arg")) else {
            return Err(Failure::plain("'arg' is not a table"));
        };
        let n = t.length().max(0);
        if n > MAX_SCRIPT_ARGS as i64 {
            return Err(Failure::plain(
                "stack overflow (too many arguments to script)",
            ));
        }
        Ok((1..=n).map(|i| ctx.stash(t.get_int(i))).collect())
    })
}

/// Runs the script (`-` is stdin) with its arguments.
fn handle_script(
    r: &mut Runner,
    argv: &[OsString],
    opts: &Options,
    at: usize,
) -> Result<(), Failure> {
    let path = if opts.script_is_stdin {
        None
    } else {
        Some(&argv[at])
    };
    let f = load_file(r, path)?;
    let args = script_args(r)?;
    r.call(&f, &args).map(|_| ())
}

/// Makes Ctrl-C set `flag`, or end the process if `flag` is already set (see `runner`).
fn install_sigint(flag: &Arc<AtomicBool>) {
    use signal_hook::consts::SIGINT;
    // The order matters: the conditional default action must look at the flag before the
    // second handler sets it.
    let _ = signal_hook::flag::register_conditional_default(SIGINT, Arc::clone(flag));
    let _ = signal_hook::flag::register(SIGINT, Arc::clone(flag));
}

fn main() -> ExitCode {
    let argv: Vec<OsString> = std::env::args_os().collect();
    let opts = match options::parse(&argv) {
        Ok(o) => o,
        Err(bad) => {
            print_usage(&bad);
            return ExitCode::FAILURE;
        }
    };
    if opts.version {
        outln!("{VERSION}");
    }
    let lua = make_lua(&opts);
    let interrupt = Arc::new(AtomicBool::new(true));
    install_sigint(&interrupt);
    let mut r = Runner::new(lua, opts.fuel, interrupt);
    create_arg_table(&mut r, &argv, opts.script);
    // `-W` is `lua_warning(L, "@on")`: the library's own `warn`, whatever scripts do to the
    // global.
    let warn = r
        .lua
        .enter(|ctx| ctx.stash(ctx.globals().get(ctx.str("warn"))));
    // `lua` runs everything with the collector in generational mode.
    let (collect, generational) = r.lua.enter(|ctx| {
        (
            ctx.stash(ctx.globals().get(ctx.str("collectgarbage"))),
            ctx.stash(ctx.str("generational")),
        )
    });
    if r.lua
        .enter(|ctx| ctx.fetch(&collect).is_ok_and(|c| !c.is_nil()))
    {
        let _ = r.call(&collect, &[generational]);
    }
    if !opts.ignore_env {
        if let Err(f) = lua_init(&mut r) {
            message(&f);
            return ExitCode::FAILURE;
        }
    }
    for item in &opts.items {
        let outcome = match item {
            Item::Exec(stat) => do_string(&mut r, stat, "=(command line)"),
            Item::Library(spec) => do_library(&mut r, spec),
            Item::Warnings
                if r.lua
                    .enter(|ctx| ctx.fetch(&warn).is_ok_and(|w| w.is_nil())) =>
            {
                Ok(())
            }
            Item::Warnings => {
                let on = r.lua.enter(|ctx| ctx.stash(ctx.str("@on")));
                r.call(&warn, &[on]).map(|_| ())
            }
        };
        if let Err(f) = outcome {
            message(&f);
            return ExitCode::FAILURE;
        }
    }
    if let Some(at) = opts.script {
        if let Err(f) = handle_script(&mut r, &argv, &opts, at) {
            message(&f);
            return ExitCode::FAILURE;
        }
    }
    let repl = if opts.interactive {
        true
    } else if opts.script.is_none() && !opts.has_exec && !opts.version {
        if std::io::stdin().is_terminal() {
            outln!("{VERSION}");
            true
        } else {
            if let Err(f) = do_file(&mut r, None) {
                message(&f);
                return ExitCode::FAILURE;
            }
            false
        }
    } else {
        false
    };
    if repl {
        if let Err(text) = repl::run(&mut r) {
            errln!("{text}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
