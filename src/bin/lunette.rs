//! `lunette`: a `lua`-compatible command-line runner and REPL.
//!
//! usage: lunette [options] [script [args]]
//!   -e stat   execute string 'stat'
//!   -i        enter interactive mode after executing 'script'
//!   -v        show version information
//!   --fuel N  stop any chunk after N units of work (about one VM instruction each)
//!   --memory BYTES  limit the VM's memory (suffixes k, M, G: 16M); over it scripts get
//!             `not enough memory`
//!   --sandbox run with the sandbox profile (no io/os/file access, frozen libraries,
//!             a 64 MiB memory limit unless --memory says otherwise)
//!   --        stop handling options
//!   -         execute stdin and stop handling options

use std::io::{BufRead, IsTerminal, Read, Write};
use std::process::ExitCode;

use lunette::{Context, ExecResult, Executor, Lua, LuaError, Table, Value};

const VERSION: &str = concat!(
    "lunette ",
    env!("CARGO_PKG_VERSION"),
    " (Lua 5.4 compatible)"
);

fn usage(progname: &str, bad: &str) -> ExitCode {
    eprintln!("{progname}: unrecognized option '{bad}'");
    eprintln!(
        "usage: {progname} [options] [script [args]]\n\
         Available options are:\n  \
           -e stat   execute string 'stat'\n  \
           -i        enter interactive mode after executing 'script'\n  \
           -v        show version information\n  \
           --fuel N  stop any chunk after N units of work\n  \
           --memory BYTES  limit the VM's memory (e.g. 16M)\n  \
           --sandbox run with the sandbox profile (no io, os, files)\n  \
           --        stop handling options\n  \
           -         stop handling options and execute stdin"
    );
    ExitCode::from(1)
}

fn report(e: &LuaError) {
    if e.traceback.is_empty() {
        eprintln!("lunette: {}", e.message);
    } else {
        eprintln!("lunette: {}\n{}", e.message, e.traceback);
    }
}

/// Total fuel for one chunk (`--fuel`); unlimited when `None`.
static FUEL_LIMIT: std::sync::OnceLock<Option<i64>> = std::sync::OnceLock::new();

/// Runs `f(args...)` to completion (or until the `--fuel` budget is spent); returns its
/// results as stashed values.
fn call(
    lua: &mut Lua,
    f: &lunette::StashedValue,
    args: &[String],
) -> Result<Vec<lunette::StashedValue>, LuaError> {
    let exec = lua.enter(|ctx| -> Result<_, LuaError> {
        let f = ctx.fetch(f).map_err(|e| LuaError::host(e.to_string()))?;
        let args: Vec<Value> = args.iter().map(|a| ctx.str(a)).collect();
        Ok(ctx.stash_executor(Executor::start(ctx, f, &args)))
    })?;
    if let Some(Some(limit)) = FUEL_LIMIT.get() {
        let mut left = *limit;
        loop {
            let mut fuel = lunette::Fuel::new(left.min(lunette::vm::lua::DEFAULT_STEP_FUEL));
            let before = fuel.remaining();
            if lua.step(&exec, &mut fuel).is_done() {
                break;
            }
            left -= before - fuel.remaining();
            if left <= 0 {
                return Err(LuaError::host(format!("fuel exhausted ({limit} units)")));
            }
        }
    }
    lua.finish(&exec)?;
    lua.enter(|ctx| {
        let exec = ctx
            .fetch_executor(&exec)
            .map_err(|e| LuaError::host(e.to_string()))?;
        Ok(match exec.result() {
            Some(ExecResult::Returned(vals)) => vals.iter().map(|v| ctx.stash(*v)).collect(),
            _ => Vec::new(),
        })
    })
}

fn run_chunk(lua: &mut Lua, source: &[u8], name: &str, args: &[String]) -> Result<(), LuaError> {
    let f = lua.load(source, name)?;
    call(lua, &f, args).map(|_| ())
}

fn set_arg_table(lua: &Lua, script_index: Option<usize>, argv: &[String]) {
    lua.enter(|ctx: Context| {
        let t: Table = ctx.new_table();
        let zero = script_index.unwrap_or(argv.len());
        for (i, a) in argv.iter().enumerate() {
            let _ = t.set(
                ctx.mutation(),
                Value::Integer(i as i64 - zero as i64),
                ctx.str(a),
            );
        }
        let _ = ctx
            .globals()
            .set(ctx.mutation(), ctx.str("arg"), Value::Table(t));
    });
}

fn repl(lua: &mut Lua) {
    let stdin = std::io::stdin();
    let interactive = stdin.is_terminal();
    if interactive {
        println!("{VERSION}");
    }
    let mut lines = stdin.lock().lines();
    loop {
        if interactive {
            print!("> ");
            let _ = std::io::stdout().flush();
        }
        let Some(Ok(mut line)) = lines.next() else {
            if interactive {
                println!();
            }
            return;
        };
        if let Some(rest) = line.strip_prefix('=') {
            line = format!("return {rest}");
        }
        // First try it as an expression, then as a statement (asking for more lines while the
        // statement is incomplete).
        let as_expr = format!("return {line};");
        let loaded = match lua.load(as_expr.as_bytes(), "=stdin") {
            Ok(f) => Ok(f),
            Err(_) => loop {
                match lua.load(line.as_bytes(), "=stdin") {
                    Ok(f) => break Ok(f),
                    Err(e) if e.message.ends_with("<eof>") => {
                        if interactive {
                            print!(">> ");
                            let _ = std::io::stdout().flush();
                        }
                        match lines.next() {
                            Some(Ok(more)) => {
                                line.push('\n');
                                line.push_str(&more);
                            }
                            _ => break Err(e),
                        }
                    }
                    Err(e) => break Err(e),
                }
            },
        };
        let f = match loaded {
            Ok(f) => f,
            Err(e) => {
                report(&e);
                continue;
            }
        };
        match call(lua, &f, &[]) {
            Ok(results) if !results.is_empty() => {
                let print = lua.enter(|ctx| ctx.stash(ctx.globals().get(ctx.str("print"))));
                // The REPL never restores snapshots, so its handles cannot go stale.
                let exec = lua.enter(|ctx| {
                    let vals: Vec<Value> = results
                        .iter()
                        .map(|r| ctx.fetch(r).unwrap_or(Value::Nil))
                        .collect();
                    let p = ctx.fetch(&print).unwrap_or(Value::Nil);
                    ctx.stash_executor(Executor::start(ctx, p, &vals))
                });
                if let Err(e) = lua.finish(&exec) {
                    report(&e);
                }
            }
            Ok(_) => {}
            Err(e) => report(&e),
        }
    }
}

/// `123`, `64k`, `16M`, `1G` (binary multiples) as a positive byte count.
fn parse_bytes(s: &str) -> Option<usize> {
    let (digits, mult) = match s.char_indices().last()? {
        (i, 'k' | 'K') => (&s[..i], 1usize << 10),
        (i, 'm' | 'M') => (&s[..i], 1 << 20),
        (i, 'g' | 'G') => (&s[..i], 1 << 30),
        _ => (s, 1),
    };
    digits
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .filter(|n| *n > 0)
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    let progname = "lunette";
    let mut i = 1;
    let mut sandbox = false;
    let mut fuel_limit = None;
    let mut memory_limit = None;
    let mut interactive = false;
    let mut ran_something = false;
    let mut show_version = false;
    let mut chunks: Vec<String> = Vec::new();
    while i < argv.len() {
        let a = &argv[i];
        match a.as_str() {
            "-e" => {
                i += 1;
                match argv.get(i) {
                    Some(s) => chunks.push(s.clone()),
                    None => {
                        eprintln!("{progname}: '-e' needs argument");
                        return ExitCode::from(1);
                    }
                }
            }
            "-i" => interactive = true,
            "--sandbox" => sandbox = true,
            "--fuel" => {
                i += 1;
                match argv
                    .get(i)
                    .and_then(|n| n.parse::<i64>().ok())
                    .filter(|n| *n > 0)
                {
                    Some(n) => fuel_limit = Some(n),
                    None => {
                        eprintln!("{progname}: '--fuel' needs a positive number");
                        return ExitCode::from(1);
                    }
                }
            }
            "--memory" => {
                i += 1;
                match argv.get(i).and_then(|n| parse_bytes(n)) {
                    Some(n) => memory_limit = Some(n),
                    None => {
                        eprintln!("{progname}: '--memory' needs a size in bytes (e.g. 16M)");
                        return ExitCode::from(1);
                    }
                }
            }
            "-v" => show_version = true,
            "--" => {
                i += 1;
                break;
            }
            "-" => break,
            s if s.starts_with("-e") && s.len() > 2 => chunks.push(s[2..].to_string()),
            s if s.starts_with('-') => return usage(progname, s),
            _ => break,
        }
        i += 1;
    }
    if show_version {
        println!("{VERSION}");
    }
    let _ = FUEL_LIMIT.set(fuel_limit);
    let mut lua = if sandbox {
        Lua::sandboxed(std::rc::Rc::new(lunette::StdHost::sandboxed()))
    } else {
        Lua::new()
    };
    if memory_limit.is_some() {
        lua.set_memory_limit(memory_limit);
    }
    let script_index = if i < argv.len() { Some(i) } else { None };
    set_arg_table(&lua, script_index, &argv);
    for c in &chunks {
        ran_something = true;
        if let Err(e) = run_chunk(&mut lua, c.as_bytes(), "=(command line)", &[]) {
            report(&e);
            return ExitCode::from(1);
        }
    }
    if let Some(si) = script_index {
        ran_something = true;
        let script = &argv[si];
        let script_args = &argv[si + 1..];
        let (source, name) = if script == "-" {
            let mut buf = Vec::new();
            if std::io::stdin().read_to_end(&mut buf).is_err() {
                eprintln!("{progname}: cannot read stdin");
                return ExitCode::from(1);
            }
            (buf, "=stdin".to_string())
        } else {
            match std::fs::read(script) {
                Ok(s) => (
                    lunette::compiler::skip_shebang(&s).to_vec(),
                    format!("@{script}"),
                ),
                Err(e) => {
                    eprintln!("{progname}: cannot open {script} ({e})");
                    return ExitCode::from(1);
                }
            }
        };
        if let Err(e) = run_chunk(&mut lua, &source, &name, script_args) {
            report(&e);
            return ExitCode::from(1);
        }
    }
    if interactive || (!ran_something && !show_version) {
        if !ran_something && !interactive && !std::io::stdin().is_terminal() {
            // `lunette < file` runs stdin as a script, like `lua`.
            let mut buf = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut buf);
            if let Err(e) = run_chunk(&mut lua, &buf, "=stdin", &[]) {
                report(&e);
                return ExitCode::from(1);
            }
            return ExitCode::SUCCESS;
        }
        repl(&mut lua);
    }
    ExitCode::SUCCESS
}
