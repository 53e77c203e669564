//! Runs chunks to completion in fuel steps, like `lua.c`'s `docall`: the whole `--fuel`
//! budget per chunk, and Ctrl-C (SIGINT) noticed between steps.
//!
//! Ctrl-C: a signal handler sets [`Runner::interrupt`]. While a chunk runs the flag starts
//! cleared; the runner checks it before every step and, when set, makes the executor raise
//! `interrupted!` where it stopped (`Lua::interrupt`: a step is at most `DEFAULT_STEP_FUEL`
//! units, so this happens within milliseconds), as `lua`'s hook does: `pcall` can catch it,
//! `__close` handlers run, uncaught it ends the chunk with a traceback. While no chunk runs
//! the flag stays set, and a SIGINT arriving while it is set terminates the process the
//! default way, as `lua` (which only catches SIGINT inside `docall`) does; so does a second
//! Ctrl-C after the first one was raised (or before it was noticed).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use lunette::vm::lua::DEFAULT_STEP_FUEL;
use lunette::{Action, Error, Fuel, Lua, LuaError, StashedValue, Value, Variadic};

/// The registered name of the host function that inspects a paused executor.
const INSPECT_NAME: &str = "lunette.cli.inspect";

/// A Lua VM with the policy of the `lunette` command.
pub struct Runner {
    /// The VM.
    pub lua: Lua,
    /// `--fuel`: the most fuel one chunk may use.
    fuel_limit: Option<i64>,
    /// Set by SIGINT. Cleared while a chunk runs; set otherwise (see the module docs).
    interrupt: Arc<AtomicBool>,
    /// What `interrupt` holds while no chunk runs: `true` (a SIGINT then terminates the
    /// process, like `lua`), or `false` in the REPL (a stray Ctrl-C between chunks is
    /// forgotten when the next chunk starts; only two in a row terminate).
    idle: bool,
    /// `inspect(thread, caller)`: traceback and position of a paused thread.
    inspect: StashedValue,
}

/// A failed chunk: what `lua` would print (without the program name).
#[derive(Debug)]
pub struct Failure {
    /// The error message (`tostring` of the error value, or the loader's message).
    pub message: String,
    /// `stack traceback:...`, or empty (errors raised outside Lua code: loading, syntax).
    pub traceback: String,
}

impl Failure {
    /// A failure with a message and no traceback.
    pub fn plain(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            traceback: String::new(),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)?;
        if !self.traceback.is_empty() {
            write!(f, "\n{}", self.traceback)?;
        }
        Ok(())
    }
}

impl From<LuaError> for Failure {
    fn from(e: LuaError) -> Self {
        Failure {
            message: e.message,
            traceback: e.traceback,
        }
    }
}

impl Runner {
    /// Wraps `lua`; `interrupt` is the flag the SIGINT handler sets.
    pub fn new(mut lua: Lua, fuel_limit: Option<i64>, interrupt: Arc<AtomicBool>) -> Runner {
        let inspect = lua.create_raw_function(INSPECT_NAME, inspect);
        interrupt.store(true, Ordering::SeqCst);
        Runner {
            lua,
            fuel_limit,
            interrupt,
            idle: true,
            inspect,
        }
    }

    /// From now on a SIGINT between chunks does not end the process (the REPL).
    pub fn survive_idle_interrupts(&mut self) {
        self.idle = false;
        self.interrupt.store(false, Ordering::SeqCst);
    }

    /// Calls `f(args...)` to the end: its results, or the failure to report.
    pub fn call(
        &mut self,
        f: &StashedValue,
        args: &[StashedValue],
    ) -> Result<Vec<StashedValue>, Failure> {
        let exec = self.lua.start(f, Variadic(args.to_vec()))?;
        self.interrupt.store(false, Ordering::SeqCst);
        let outcome = self.drive(&exec);
        self.interrupt.store(self.idle, Ordering::SeqCst);
        outcome?;
        match self.lua.results::<Variadic<StashedValue>>(&exec) {
            Ok(results) => Ok(results.0),
            Err(e) => Err(self.error_text(e)),
        }
    }

    /// What `lua.c`'s message handler makes of an error: an error object that is not a
    /// string or a number but has a `__tostring` that gives a string is shown as that
    /// string alone (no traceback); anything else keeps the VM's message and traceback.
    fn error_text(&mut self, e: LuaError) -> Failure {
        let Some(value) = e.value.clone() else {
            return e.into();
        };
        let meta = self.lua.enter(|ctx| {
            let v = ctx.fetch(&value).ok()?;
            if matches!(v, Value::String(_) | Value::Integer(_) | Value::Float(_)) {
                return None;
            }
            let m = ctx.metamethod(v, lunette::vm::MetaEvent::ToString)?;
            Some((ctx.stash(m), v.type_name()))
        });
        let Some((meta, type_name)) = meta else {
            return e.into();
        };
        // The metamethod runs like a chunk: under `--fuel`, stopped by Ctrl-C.
        self.interrupt.store(false, Ordering::SeqCst);
        let shown = self
            .lua
            .start(&meta, Variadic(vec![value]))
            .ok()
            .and_then(|exec| {
                self.drive(&exec).ok()?;
                let r: Variadic<StashedValue> = self.lua.results(&exec).ok()?;
                let first = r.0.into_iter().next()?;
                self.lua.enter(|ctx| match ctx.fetch(&first) {
                    Ok(Value::String(s)) => Some(s.to_str_lossy().into_owned()),
                    _ => None,
                })
            });
        self.interrupt.store(self.idle, Ordering::SeqCst);
        match shown {
            Some(text) => Failure::plain(text),
            None => Failure {
                message: format!("(error object is a {type_name} value)"),
                traceback: e.traceback,
            },
        }
    }

    /// Steps `exec` until it finishes, the `--fuel` budget is spent or Ctrl-C is pressed.
    fn drive(&mut self, exec: &lunette::StashedExecutor) -> Result<(), Failure> {
        let mut used: i64 = 0;
        let mut interrupted = false;
        loop {
            if !interrupted && self.interrupt.load(Ordering::SeqCst) {
                // Raised where the chunk stopped, like `lua`'s hook: `pcall` can catch it
                // and `__close` handlers run. The flag stays set, so a second Ctrl-C before
                // the chunk ends terminates the process, as in `lua`.
                let (traceback, caller) = self.inspect(exec, true);
                let message = format!("{caller}interrupted!");
                if self.lua.interrupt(exec, message.as_str()).is_err() {
                    return Err(Failure { message, traceback });
                }
                interrupted = true;
            }
            let budget = match self.fuel_limit {
                Some(limit) if used >= limit => {
                    let (traceback, here) = self.inspect(exec, false);
                    return Err(Failure {
                        message: format!("{here}fuel exhausted ({limit} units)"),
                        traceback,
                    });
                }
                Some(limit) => (limit - used).min(DEFAULT_STEP_FUEL),
                None => DEFAULT_STEP_FUEL,
            };
            let mut fuel = Fuel::new(budget);
            let status = self.lua.step(exec, &mut fuel);
            used = used.saturating_add(budget.saturating_sub(fuel.remaining()));
            if status.is_done() {
                return Ok(());
            }
        }
    }

    /// The traceback of the paused `exec` (its main thread) and a `chunk:line: ` position:
    /// with `caller`, that of the caller of the innermost Lua function (what `lua`'s
    /// `interrupted!` error shows), else that of the innermost Lua function itself.
    fn inspect(&mut self, exec: &lunette::StashedExecutor, caller: bool) -> (String, String) {
        let args = self.lua.enter(|ctx| {
            ctx.fetch_executor(exec).ok().map(|e| {
                vec![
                    ctx.stash(Value::Thread(e.main_thread())),
                    ctx.stash(Value::Boolean(caller)),
                ]
            })
        });
        let Some(args) = args else {
            return ("stack traceback:\n\t[C]: in ?".into(), String::new());
        };
        let inspect = self.inspect.clone();
        match self.lua.call::<(String, String)>(&inspect, Variadic(args)) {
            Ok(r) => r,
            Err(_) => ("stack traceback:\n\t[C]: in ?".into(), String::new()),
        }
    }
}

/// `inspect(thread, caller)` → traceback of `thread`, and the `chunk:line: ` of its innermost
/// Lua function (or, with `caller`, of the level right below it when that is a Lua function;
/// `""` when there is none).
fn inspect<'gc>(
    ctx: lunette::Context<'gc>,
    exec: &mut lunette::vm::Exec<'gc, '_>,
) -> Result<Action<'gc>, Error<'gc>> {
    let Value::Thread(thread) = exec.arg(0) else {
        return Err(Error::runtime("thread expected"));
    };
    let caller = exec.arg(1).is_truthy();
    let traceback = exec.traceback_from(ctx, Some(thread), 1, true);
    let levels = exec.level_count(Some(thread));
    let innermost_lua = (1..=levels).find(|&l| {
        exec.level_info(Some(thread), l)
            .is_some_and(|i| i.function.is_some())
    });
    let level = innermost_lua.map(|l| if caller { l + 1 } else { l });
    let position = level
        .and_then(|l| exec.level_info(Some(thread), l))
        .and_then(|info| {
            let f = info.function?;
            let line = info.current_line.filter(|l| *l > 0)?;
            Some(format!("{}:{}: ", f.proto().prototype().short_source, line))
        })
        .unwrap_or_default();
    exec.replace(&[ctx.str(&traceback), ctx.str(&position)]);
    Ok(Action::Return)
}
