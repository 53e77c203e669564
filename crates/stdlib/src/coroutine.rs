//! The coroutine library (§6.2). Resuming and yielding are executor actions: a coroutine is
//! a `Thread` with its own frames, switched by the trampoline, never by Rust recursion.

use lunette_vm::{
    Action, Callback, CallbackFn, Context, Error, Exec, Outcome, Then, Thread, ThreadStatus, Value,
};

use lunette_vm::executor::NOT_ENOUGH_MEMORY;

/// This library's callbacks and continuations beyond its table's functions, in the VM's
/// permanents table (see `lunette_vm::Permanents`).
fn permanents(p: &mut lunette_vm::Permanents) {
    crate::util::permanents(p);
    p.callback(("coroutine", "wrapped_call"), "wrap", wrapped_call);
    p.continuation(("coroutine", "wrap_after"), "wrap", wrap_after);
    p.continuation(("coroutine", "wrap_closed"), "wrap", wrap_closed);
    p.continuation(("coroutine", "close_after"), "close", close_after);
    p.name("resume");
}

/// Opens the `coroutine` library (`create`, `resume`, `yield`, `wrap`, `close`, ...): resumes
/// and yields are executor frame switches, never Rust recursion.
pub fn open(ctx: Context<'_>) {
    ctx.register_permanents(permanents);
    let lib = ctx.new_table();
    // Callback names are qualified like PUC's `pushglobalfuncname` ("coroutine.resume"):
    // they name the function in messages when the call site gives no name.
    let fns: &[(&str, &'static str, CallbackFn)] = &[
        ("create", "coroutine.create", create),
        ("resume", "coroutine.resume", resume),
        ("yield", "coroutine.yield", yield_),
        ("status", "coroutine.status", status),
        ("wrap", "coroutine.wrap", wrap),
        ("running", "coroutine.running", running),
        ("isyieldable", "coroutine.isyieldable", isyieldable),
        ("close", "coroutine.close", close),
    ];
    crate::util::add_functions(ctx, lib, fns);
    crate::util::publish(ctx, "coroutine", lib);
}

fn check_thread<'gc>(exec: &Exec<'gc, '_>, i: usize) -> Result<Thread<'gc>, Error<'gc>> {
    match exec.get(i) {
        Some(Value::Thread(t)) => Ok(t),
        other => Err(Error::type_error(i + 1, "thread", other)),
    }
}

/// Fuel a new coroutine costs beyond the call (`create`, `wrap`): its buffers, about 1 KiB
/// once it runs (a stack of 40 values and its first frames; PUC's are about as big),
/// charged as a string's bytes are, a unit per 32. Without it a loop making coroutines paid
/// for the calls only, about 28 units a coroutine, and the collector's work the memory
/// brings (the heap's slices follow its bytes) made the steps of such a loop 1.5-2 ms for
/// 10,000 units (coroutine_bomb).
const COROUTINE_FUEL: usize = 32;

fn create<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let f = exec.arg(0);
    if !f.is_function() {
        return Err(Error::type_error(1, "function", exec.get(0)));
    }
    exec.charge(COROUTINE_FUEL);
    let t = Thread::new(ctx, f);
    exec.inherit_hook(ctx, t);
    exec.set_return(Value::Thread(t));
    Ok(Action::Return)
}

/// Why `co` cannot be resumed by the running thread, if it cannot.
fn resume_refusal<'gc>(exec: &Exec<'gc, '_>, co: Thread<'gc>) -> Option<&'static str> {
    if Thread::ptr_eq(co, exec.thread()) {
        return Some("cannot resume non-suspended coroutine");
    }
    match co.status() {
        ThreadStatus::Suspended => None,
        ThreadStatus::Dead => Some("cannot resume dead coroutine"),
        _ => Some("cannot resume non-suspended coroutine"),
    }
}

fn resume<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let co = check_thread(exec, 0)?;
    if let Some(msg) = resume_refusal(exec, co) {
        exec.replace(&[Value::Boolean(false), ctx.str(msg)]);
        return Ok(Action::Return);
    }
    exec.remove(0);
    Ok(Action::Resume {
        thread: co,
        then: Then::new("resume", crate::util::protected_results, Value::Nil).catching(),
    })
}

fn yield_<'gc>(_ctx: Context<'gc>, _exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    Ok(Action::Yield { then: None })
}

fn status<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let co = check_thread(exec, 0)?;
    let s = if Thread::ptr_eq(co, exec.thread()) {
        "running"
    } else {
        match co.status() {
            ThreadStatus::Suspended => "suspended",
            ThreadStatus::Running => "running",
            ThreadStatus::Normal => "normal",
            ThreadStatus::Dead => "dead",
        }
    };
    exec.set_return(ctx.str(s));
    Ok(Action::Return)
}

fn wrap<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let f = exec.arg(0);
    if !f.is_function() {
        return Err(Error::type_error(1, "function", exec.get(0)));
    }
    exec.charge(COROUTINE_FUEL);
    let t = Thread::new(ctx, f);
    exec.inherit_hook(ctx, t);
    let w = Callback::with_upvalue(ctx, "wrap", wrapped_call, Value::Thread(t));
    exec.set_return(Value::Callback(w));
    Ok(Action::Return)
}

fn wrapped_call<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
) -> Result<Action<'gc>, Error<'gc>> {
    let Value::Thread(co) = exec.upvalue else {
        return Err(Error::runtime("wrap: lost coroutine"));
    };
    if let Some(msg) = resume_refusal(exec, co) {
        return Err(Error::runtime(msg));
    }
    let _ = ctx;
    Ok(Action::Resume {
        thread: co,
        then: Then::new("wrap", wrap_after, Value::Thread(co)).catching(),
    })
}

fn wrap_after<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    outcome: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    match outcome {
        Outcome::Returned => Ok(Action::Return),
        Outcome::Errored(e) => {
            // Like PUC's auxwrap, a coroutine that died by an error is closed first: its
            // pending `__close` handlers run, and the error they end with propagates.
            if let Value::Thread(co) = exec.upvalue {
                // (The death error is taken either way: the coroutine counts as closed.)
                if co.status() == ThreadStatus::Dead && co.take_death_error(ctx).is_some() {
                    if co.has_pending_closes() {
                        co.start_closing(ctx, Some(e));
                        exec.clear();
                        return Ok(Action::Resume {
                            thread: co,
                            then: Then::new("wrap", wrap_closed, Value::Thread(co)).catching(),
                        });
                    }
                    // Closed: its frames (kept for tracebacks) go, like PUC's.
                    co.kill(ctx);
                }
            }
            wrap_error(ctx, exec, e)
        }
    }
}

/// Continuation of `wrap_after` once the dead coroutine's `__close` handlers ran.
fn wrap_closed<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    outcome: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    match outcome {
        // (The closing always ends with an error: the one the coroutine died with.)
        Outcome::Returned => Ok(Action::Return),
        Outcome::Errored(e) => {
            if let Value::Thread(co) = exec.upvalue {
                co.take_death_error(ctx); // closed: a later `coroutine.close` returns true
            }
            wrap_error(ctx, exec, e)
        }
    }
}

/// Raises a wrapped coroutine's error in the caller.
fn wrap_error<'gc>(
    _ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    e: Value<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    // Also like auxwrap: string errors get the caller's position prepended, except
    // memory errors (PUC tells them by status; the message is their mark here), so a
    // memory error crossing nested wraps is reported once, cleanly.
    if let Value::String(s) = e {
        if s.as_bytes() == NOT_ENOUGH_MEMORY.as_bytes() {
            return Err(Error::Value(e));
        }
        // (A message of parts: the executor joins it, or builds it in pieces when long, so
        // an error of megabytes crossing wraps is not copied in one step.)
        let pos = exec.where_(1);
        if pos.len().saturating_add(s.len()) <= lunette_vm::big_string::BUILD_IN_PIECES {
            exec.charge((pos.len() + s.len()) / 32);
        }
        return Err(Error::Message(
            lunette_vm::Message::new()
                .text(pos)
                .string(s)
                .without_position(),
        ));
    }
    Err(Error::Value(e))
}

fn running<'gc>(_ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let t = exec.thread();
    let main = exec.is_main_thread();
    exec.replace(&[Value::Thread(t), Value::Boolean(main)]);
    Ok(Action::Return)
}

fn isyieldable<'gc>(
    _ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
) -> Result<Action<'gc>, Error<'gc>> {
    // (A running hook cannot yield: PUC calls hooks across a C boundary.)
    let y = match exec.get(0) {
        Some(Value::Thread(t)) if !Thread::ptr_eq(t, exec.thread()) => true,
        _ => !exec.is_main_thread() && !exec.in_hook(),
    };
    exec.set_return(Value::Boolean(y));
    Ok(Action::Return)
}

fn close<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let co = check_thread(exec, 0)?;
    if Thread::ptr_eq(co, exec.thread()) {
        return Err(Error::runtime("cannot close a running coroutine"));
    }
    match co.status() {
        ThreadStatus::Running => Err(Error::runtime("cannot close a running coroutine")),
        ThreadStatus::Normal => Err(Error::runtime("cannot close a normal coroutine")),
        ThreadStatus::Dead => match co.take_death_error(ctx) {
            // Died by an error with to-be-closed variables pending: close them now.
            Some(e) if co.has_pending_closes() => {
                co.start_closing(ctx, Some(e));
                exec.clear();
                Ok(Action::Resume {
                    thread: co,
                    then: Then::new("close", close_after, Value::Thread(co)).catching(),
                })
            }
            Some(e) => {
                // Closed: its frames (kept for `debug.traceback(co)`) go, like PUC's.
                co.kill(ctx);
                exec.replace(&[Value::Boolean(false), e]);
                Ok(Action::Return)
            }
            None => {
                exec.set_return(Value::Boolean(true));
                Ok(Action::Return)
            }
        },
        ThreadStatus::Suspended => {
            if co.has_pending_closes() {
                // Run the pending `__close` handlers inside the coroutine.
                co.start_closing(ctx, None);
                exec.clear();
                Ok(Action::Resume {
                    thread: co,
                    then: Then::new("close", close_after, Value::Thread(co)).catching(),
                })
            } else {
                co.kill(ctx);
                exec.set_return(Value::Boolean(true));
                Ok(Action::Return)
            }
        }
    }
}

fn close_after<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    outcome: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    if let Value::Thread(co) = exec.upvalue {
        co.take_death_error(ctx); // closed: a second `coroutine.close` returns true
    }
    match outcome {
        Outcome::Returned => exec.set_return(Value::Boolean(true)),
        Outcome::Errored(e) => exec.replace(&[Value::Boolean(false), e]),
    }
    Ok(Action::Return)
}
