//! The tasklet library: an in-VM scheduler of coroutines per group (one group per mod),
//! driven frame by frame by the host (the facade's `Lua::run_frame`).
//!
//! Lua side (the global table `tasklet`, opened by [`open`]):
//! - `tasklet.wait([n])`: suspends the running tasklet for `n` frames (default 1, at least
//!   1): it continues in frame `current + n`.
//! - `tasklet.wait_signal(name)`: suspends until `tasklet.signal(name, ...)` is called in the
//!   same group; returns the signal's values. Waiters wake at the start of the next frame.
//! - `tasklet.signal(name, ...)`: wakes every tasklet of the running tasklet's group waiting
//!   for `name` (next frame), handing them the values.
//! - `tasklet.spawn(f, ...)`: starts a sibling tasklet (same group) running `f(...)`; it joins
//!   the end of the group's run queue (so it may start in this frame); returns its id.
//! - `tasklet.request(kind, ...)`: asks the host for something (an asset, a timer, a reply):
//!   suspends until the host completes the request (the tasklet continues at the next
//!   frame it runs, with the host's values as results) or fails it (the error value is
//!   raised in the tasklet, so `pcall(tasklet.request, ...)` catches it).
//! - `tasklet.id()`, `tasklet.frame()`: the running tasklet's id (nil outside a tasklet) and
//!   the current frame number.
//!
//! A tasklet is a coroutine: it may use coroutines itself. `wait`, `wait_signal` and
//! `request` work from any depth of Lua calls, `pcall`s and metamethods, also inside a
//! coroutine the tasklet resumed (at any depth): the wait passes through — the whole chain
//! of coroutines is suspended (`Action::Detach`; the coroutines have status `normal`
//! meanwhile) and resumed as a whole, and the wait returns where it was called; the
//! coroutines between see nothing. (A plain `coroutine.yield` in an inner coroutine yields
//! that coroutine to its resumer, as in PUC Lua.) A plain `coroutine.yield` in the
//! tasklet's own coroutine is a `wait()` (its values are dropped; it returns nothing).
//!
//! State: everything lives in one table in the registry (`REGISTRY_KEY`): groups with their
//! run queue, timers (frame -> waiting tasklets), signal waiters, fired signals, pending
//! requests, counters, configuration; tasklets are records holding their coroutine. So
//! snapshots, rollback and restores capture the scheduler exactly; the host side keeps
//! nothing. A tasklet stopped by the fuel budget in the middle of its work is preempted
//! (`Executor::preempt`: its coroutine, and any coroutine it was resuming, become plain
//! thread data with status `normal`) and continues later exactly where it stopped.

use lunette_vm::{
    display_plain, error_message, Action, Callback, CallbackFn, Context, Error, Exec, Executor,
    Outcome, Table, Then, Thread, ThreadStatus, Value,
};

use crate::util::{check_any, check_string, opt_integer};

/// The registry key of the scheduler's table.
pub const REGISTRY_KEY: &str = "lunette.tasklets";

/// Default fuel per group per frame.
pub const DEFAULT_BUDGET: i64 = 100_000;
/// Default most fuel one tasklet runs before the next of its group gets a turn.
pub const DEFAULT_SLICE: i64 = 10_000;
/// Default watchdog: a tasklet that uses more than this many frames of its group's budget
/// without waiting is stopped.
pub const DEFAULT_WATCHDOG_FRAMES: i64 = 60;

fn get<'gc>(ctx: Context<'gc>, t: Table<'gc>, k: &str) -> Value<'gc> {
    t.get(ctx.key(k))
}

fn put<'gc>(ctx: Context<'gc>, t: Table<'gc>, k: &str, v: Value<'gc>) {
    let _ = t.set(ctx, ctx.key(k), v);
}

fn int<'gc>(ctx: Context<'gc>, t: Table<'gc>, k: &str) -> i64 {
    get(ctx, t, k).as_integer_strict().unwrap_or(0)
}

fn tab<'gc>(ctx: Context<'gc>, t: Table<'gc>, k: &str) -> Option<Table<'gc>> {
    match get(ctx, t, k) {
        Value::Table(t) => Some(t),
        _ => None,
    }
}

/// `t[k]`, a new empty table stored there if absent.
fn tab_or_new<'gc>(ctx: Context<'gc>, t: Table<'gc>, k: Value<'gc>) -> Table<'gc> {
    match t.get(k) {
        Value::Table(x) => x,
        _ => {
            let x = ctx.new_table();
            let _ = t.set(ctx, k, Value::Table(x));
            x
        }
    }
}

fn text<'gc>(ctx: Context<'gc>, t: Table<'gc>, k: &str) -> String {
    match get(ctx, t, k) {
        Value::Nil => String::new(),
        v => display_plain(v),
    }
}

/// Appends `v` to the sequence `t` (`t.n` counts).
fn append<'gc>(ctx: Context<'gc>, t: Table<'gc>, v: Value<'gc>) {
    let n = int(ctx, t, "n").saturating_add(1);
    let _ = t.set(ctx, Value::Integer(n), v);
    put(ctx, t, "n", Value::Integer(n));
}

/// A FIFO of `{head, tail, [head..=tail] = item}`.
fn queue_push<'gc>(ctx: Context<'gc>, q: Table<'gc>, v: Value<'gc>) {
    let tail = int(ctx, q, "tail").saturating_add(1);
    let _ = q.set(ctx, Value::Integer(tail), v);
    put(ctx, q, "tail", Value::Integer(tail));
}

fn queue_pop<'gc>(ctx: Context<'gc>, q: Table<'gc>) -> Option<Value<'gc>> {
    let head = int(ctx, q, "head");
    let tail = int(ctx, q, "tail");
    if head > tail {
        return None;
    }
    let v = q.get_int(head);
    let _ = q.set(ctx, Value::Integer(head), Value::Nil);
    put(ctx, q, "head", Value::Integer(head.saturating_add(1)));
    Some(v)
}

fn new_queue<'gc>(ctx: Context<'gc>) -> Table<'gc> {
    let q = ctx.new_table();
    put(ctx, q, "head", Value::Integer(1));
    put(ctx, q, "tail", Value::Integer(0));
    q
}

/// Packs `values` into `{n = #values, ...}`, reserving their memory first.
fn pack<'gc>(ctx: Context<'gc>, values: &[Value<'gc>]) -> Result<Table<'gc>, Error<'gc>> {
    ctx.reserve_memory(values.len().saturating_mul(32))?;
    let t = ctx.new_table_with_capacity(values.len(), 1);
    for (i, v) in values.iter().enumerate() {
        let _ = t.set(ctx, Value::Integer(i as i64 + 1), *v);
    }
    put(ctx, t, "n", Value::Integer(values.len() as i64));
    Ok(t)
}

/// Pushes the values of a `pack`ed table onto the region of `exec`.
fn unpack_into<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    t: Table<'gc>,
) -> Result<(), Error<'gc>> {
    let n = int(ctx, t, "n").max(0) as usize;
    exec.reserve_values(ctx, n, "too many results")?;
    exec.charge(n / 8);
    for i in 1..=n {
        exec.push(t.get_int(i as i64));
    }
    Ok(())
}

/// The scheduler's table, if the library was opened (or the host used the scheduler).
pub fn scheduler_if_any<'gc>(ctx: Context<'gc>) -> Option<Table<'gc>> {
    match ctx.registry().get(ctx.key(REGISTRY_KEY)) {
        Value::Table(t) => Some(t),
        _ => None,
    }
}

/// The scheduler's table, created with the default configuration if needed.
pub fn scheduler<'gc>(ctx: Context<'gc>) -> Table<'gc> {
    if let Some(s) = scheduler_if_any(ctx) {
        return s;
    }
    let s = ctx.new_table();
    put(ctx, s, "frame", Value::Integer(0));
    put(ctx, s, "next_id", Value::Integer(1));
    put(ctx, s, "next_request", Value::Integer(1));
    put(ctx, s, "budget", Value::Integer(DEFAULT_BUDGET));
    put(ctx, s, "slice", Value::Integer(DEFAULT_SLICE));
    put(ctx, s, "watchdog", Value::Integer(DEFAULT_WATCHDOG_FRAMES));
    put(ctx, s, "groups", Value::Table(ctx.new_table()));
    put(ctx, s, "by_name", Value::Table(ctx.new_table()));
    put(ctx, s, "requests", Value::Table(ctx.new_table()));
    put(ctx, s, "failures", Value::Table(ctx.new_table()));
    // One callback for every turn (a new one per turn would take script ids).
    let turn = Callback::new(ctx, "tasklet", turn);
    put(ctx, s, "turn", Value::Callback(turn));
    let _ = ctx
        .registry()
        .set(ctx, ctx.key(REGISTRY_KEY), Value::Table(s));
    s
}

/// This library's callbacks and continuations beyond its table's functions, in the VM's
/// permanents table (see `lunette_vm::Permanents`).
fn permanents(p: &mut lunette_vm::Permanents) {
    p.callback(("tasklet", "turn"), "tasklet", turn);
    p.continuation(("tasklet", "turn_after"), "tasklet", turn_after);
    p.continuation(("tasklet", "resumed"), "tasklet.wait", resumed);
}

/// Opens the `tasklet` library into the globals (frozen if the libraries are, see
/// `freeze_libraries`) and creates the scheduler. Open it before making mod environments
/// (`new_environment` copies the globals).
pub fn open(ctx: Context<'_>) {
    ctx.register_permanents(permanents);
    let lib = ctx.new_table();
    let fns: &[(&str, &'static str, CallbackFn)] = &[
        ("wait", "tasklet.wait", wait),
        ("wait_signal", "tasklet.wait_signal", wait_signal),
        ("signal", "tasklet.signal", signal),
        ("spawn", "tasklet.spawn", spawn),
        ("request", "tasklet.request", request),
        ("id", "tasklet.id", id),
        ("frame", "tasklet.frame", frame),
    ];
    crate::util::add_functions(ctx, lib, fns);
    crate::util::publish(ctx, "tasklet", lib);
    if ctx.string_metatable().is_some_and(|mt| mt.is_frozen()) {
        lib.freeze(ctx);
    }
    scheduler(ctx);
}

/// Sets the default budget (fuel per group per frame), the slice (most fuel a tasklet runs
/// before the next tasklet of its group gets a turn) and the watchdog (frames of budget a
/// tasklet may use without waiting). Values below 1 are taken as 1.
pub fn configure(ctx: Context<'_>, budget: i64, slice: i64, watchdog_frames: i64) {
    let s = scheduler(ctx);
    put(ctx, s, "budget", Value::Integer(budget.max(1)));
    put(ctx, s, "slice", Value::Integer(slice.max(1)));
    put(ctx, s, "watchdog", Value::Integer(watchdog_frames.max(1)));
}

/// The group named `name`, created (empty, default budget) if needed.
pub fn group<'gc>(ctx: Context<'gc>, name: &str) -> Table<'gc> {
    let s = scheduler(ctx);
    let by_name = tab_or_new(ctx, s, ctx.key("by_name"));
    let key = ctx.str(name);
    if let Value::Table(g) = by_name.get(key) {
        return g;
    }
    let g = ctx.new_table();
    put(ctx, g, "name", key);
    put(ctx, g, "queue", Value::Table(new_queue(ctx)));
    put(ctx, g, "fired", Value::Table(new_queue(ctx)));
    put(ctx, g, "timers", Value::Table(ctx.new_table()));
    put(ctx, g, "signals", Value::Table(ctx.new_table()));
    put(ctx, g, "count", Value::Integer(0));
    let _ = by_name.set(ctx, key, Value::Table(g));
    let groups = tab_or_new(ctx, s, ctx.key("groups"));
    append(ctx, groups, Value::Table(g));
    g
}

/// Sets one group's budget (fuel per frame), overriding the default.
pub fn set_group_budget(ctx: Context<'_>, name: &str, budget: i64) {
    let g = group(ctx, name);
    put(ctx, g, "budget", Value::Integer(budget.max(1)));
}

/// The groups in creation order (the order `run_frame` runs them).
pub fn groups<'gc>(ctx: Context<'gc>) -> Vec<Table<'gc>> {
    let Some(groups) = scheduler_if_any(ctx).and_then(|s| tab(ctx, s, "groups")) else {
        return Vec::new();
    };
    let n = int(ctx, groups, "n");
    (1..=n)
        .filter_map(|i| match groups.get_int(i) {
            Value::Table(g) => Some(g),
            _ => None,
        })
        .collect()
}

/// The `i`-th group (0-based) in creation order.
pub fn group_at<'gc>(ctx: Context<'gc>, i: usize) -> Option<Table<'gc>> {
    let groups = scheduler_if_any(ctx).and_then(|s| tab(ctx, s, "groups"))?;
    match groups.get_int(i64::try_from(i).ok()?.checked_add(1)?) {
        Value::Table(g) => Some(g),
        _ => None,
    }
}

/// A group's name.
pub fn group_name<'gc>(ctx: Context<'gc>, g: Table<'gc>) -> String {
    text(ctx, g, "name")
}

/// A group's budget: its own, else the default.
pub fn group_budget<'gc>(ctx: Context<'gc>, g: Table<'gc>) -> i64 {
    match get(ctx, g, "budget").as_integer_strict() {
        Some(b) => b,
        None => int(ctx, scheduler(ctx), "budget"),
    }
}

/// The number of live tasklets of group `name` (0 if there is no such group).
pub fn tasklet_count(ctx: Context<'_>, name: &str) -> usize {
    let Some(by_name) = scheduler_if_any(ctx).and_then(|s| tab(ctx, s, "by_name")) else {
        return 0;
    };
    match by_name.get(ctx.str(name)) {
        Value::Table(g) => int(ctx, g, "count").max(0) as usize,
        _ => 0,
    }
}

/// Creates a tasklet in group `g` running `body(args...)` (`body` a function, or a
/// suspended coroutine resumed with `args`) and queues it. Returns its record.
fn new_tasklet<'gc>(
    ctx: Context<'gc>,
    g: Table<'gc>,
    name: Option<Value<'gc>>,
    body: Value<'gc>,
    args: &[Value<'gc>],
) -> Result<Table<'gc>, Error<'gc>> {
    let s = scheduler(ctx);
    let by_thread = tab_or_new(ctx, s, ctx.key("by_thread"));
    let thread = match body {
        Value::Thread(_) if !by_thread.get(body).is_nil() => {
            return Err(Error::runtime("the coroutine is already a tasklet"));
        }
        Value::Thread(t) if t.status() == ThreadStatus::Suspended => t,
        Value::Thread(_) => return Err(Error::runtime("cannot spawn a non-suspended coroutine")),
        f if f.is_function() => Thread::new(ctx, f),
        other => return Err(Error::type_error(1, "function", Some(other))),
    };
    let id = int(ctx, s, "next_id");
    put(ctx, s, "next_id", Value::Integer(id.saturating_add(1)));
    let r = ctx.new_table();
    put(ctx, r, "id", Value::Integer(id));
    let name = name.unwrap_or_else(|| ctx.str(&format!("tasklet {id}")));
    put(ctx, r, "name", name);
    put(ctx, r, "thread", Value::Thread(thread));
    let _ = by_thread.set(ctx, Value::Thread(thread), Value::Table(r));
    put(ctx, r, "group", Value::Table(g));
    put(ctx, r, "state", ctx.key("ready"));
    put(ctx, r, "fuel", Value::Integer(0));
    if !args.is_empty() {
        put(ctx, r, "args", Value::Table(pack(ctx, args)?));
    }
    put(
        ctx,
        g,
        "count",
        Value::Integer(int(ctx, g, "count").saturating_add(1)),
    );
    if let Some(q) = tab(ctx, g, "queue") {
        queue_push(ctx, q, Value::Table(r));
    }
    Ok(r)
}

/// Host side: spawns a tasklet in group `group` (created if needed). Returns its id.
pub fn spawn_in<'gc>(
    ctx: Context<'gc>,
    group_name: &str,
    name: Option<&str>,
    body: Value<'gc>,
    args: &[Value<'gc>],
) -> Result<i64, Error<'gc>> {
    let g = group(ctx, group_name);
    let name = name.map(|n| ctx.str(n));
    let r = new_tasklet(ctx, g, name, body, args)?;
    Ok(int(ctx, r, "id"))
}

/// Host side: fires signal `name` in group `group` with `values` (waiters wake at the start
/// of the next frame).
pub fn signal_in<'gc>(
    ctx: Context<'gc>,
    group_name: &str,
    name: Value<'gc>,
    values: &[Value<'gc>],
) -> Result<(), Error<'gc>> {
    let g = group(ctx, group_name);
    fire(ctx, g, name, values)
}

/// Moves the waiters of signal `name` (O(1)) to the group's fired list with the values.
fn fire<'gc>(
    ctx: Context<'gc>,
    g: Table<'gc>,
    name: Value<'gc>,
    values: &[Value<'gc>],
) -> Result<(), Error<'gc>> {
    if name.is_nil() {
        return Err(Error::runtime("signal name is nil"));
    }
    let Some(signals) = tab(ctx, g, "signals") else {
        return Ok(());
    };
    let Value::Table(waiters) = signals.get(name) else {
        return Ok(());
    };
    let values = pack(ctx, values)?;
    let _ = signals.set(ctx, name, Value::Nil);
    let entry = ctx.new_table();
    put(ctx, entry, "waiters", Value::Table(waiters));
    put(ctx, entry, "values", Value::Table(values));
    if let Some(fired) = tab(ctx, g, "fired") {
        queue_push(ctx, fired, Value::Table(entry));
    }
    Ok(())
}

/// Makes tasklet `r` runnable (at the end of its group's queue).
fn make_ready<'gc>(ctx: Context<'gc>, r: Table<'gc>) {
    put(ctx, r, "state", ctx.key("ready"));
    if let Some(q) = tab(ctx, r, "group").and_then(|g| tab(ctx, g, "queue")) {
        queue_push(ctx, q, Value::Table(r));
    }
}

/// Host side, at the start of a frame: advances the frame counter and queues the tasklets
/// whose wait ends now (in the order they started waiting) and those whose signal fired
/// (in firing order) at the end of their group's run queue. Each list of woken tasklets
/// joins the queue as one batch (O(1) here), which `next_turn` takes apart one tasklet per
/// turn, so waking costs nothing until the tasklets run (a mod cannot make this call long
/// by having many tasklets wait for the same frame). Returns the new frame.
pub fn begin_frame(ctx: Context<'_>) -> i64 {
    let s = scheduler(ctx);
    let frame = int(ctx, s, "frame").saturating_add(1);
    put(ctx, s, "frame", Value::Integer(frame));
    for g in groups(ctx) {
        let Some(q) = tab(ctx, g, "queue") else {
            continue;
        };
        if let Some(timers) = tab(ctx, g, "timers") {
            if let Value::Table(list) = timers.get(Value::Integer(frame)) {
                let _ = timers.set(ctx, Value::Integer(frame), Value::Nil);
                queue_push(ctx, q, Value::Table(batch(ctx, list, Value::Nil)));
            }
        }
        if let Some(fired) = tab(ctx, g, "fired") {
            while let Some(Value::Table(entry)) = queue_pop(ctx, fired) {
                if let Some(waiters) = tab(ctx, entry, "waiters") {
                    let values = get(ctx, entry, "values");
                    queue_push(ctx, q, Value::Table(batch(ctx, waiters, values)));
                }
            }
        }
    }
    frame
}

/// A run-queue entry standing for the tasklets of `list` (in order), each woken with
/// `values` (a packed table, or nil).
fn batch<'gc>(ctx: Context<'gc>, list: Table<'gc>, values: Value<'gc>) -> Table<'gc> {
    let b = ctx.new_table();
    put(ctx, b, "list", Value::Table(list));
    put(ctx, b, "pos", Value::Integer(1));
    put(ctx, b, "values", values);
    b
}

/// The next runnable tasklet of run queue `q` (taking batches apart), marked ready.
fn next_ready<'gc>(ctx: Context<'gc>, q: Table<'gc>) -> Option<Table<'gc>> {
    let ready = ctx.key("ready");
    loop {
        let head = int(ctx, q, "head");
        if head > int(ctx, q, "tail") {
            return None;
        }
        let Value::Table(item) = q.get_int(head) else {
            queue_pop(ctx, q);
            continue;
        };
        if let Some(list) = tab(ctx, item, "list") {
            let pos = int(ctx, item, "pos");
            if pos > int(ctx, list, "n") {
                queue_pop(ctx, q);
                continue;
            }
            put(ctx, item, "pos", Value::Integer(pos.saturating_add(1)));
            let Value::Table(r) = list.get_int(pos) else {
                continue;
            };
            let values = get(ctx, item, "values");
            if !values.is_nil() {
                put(ctx, r, "values", values);
            }
            put(ctx, r, "state", ready);
            return Some(r);
        }
        queue_pop(ctx, q);
        if get(ctx, item, "state") == ready {
            return Some(item);
        }
    }
}

/// Host side: starts the turn of the next runnable tasklet of group `g`, or `None` if its
/// queue is empty. Step the executor with the turn's fuel, then call [`end_turn`].
pub fn next_turn<'gc>(ctx: Context<'gc>, g: Table<'gc>) -> Option<Executor<'gc>> {
    let s = scheduler(ctx);
    let q = tab(ctx, g, "queue")?;
    let r = next_ready(ctx, q)?;
    put(ctx, s, "current", Value::Table(r));
    put(ctx, r, "state", ctx.key("running"));
    let turn = get(ctx, s, "turn");
    Some(Executor::start(ctx, turn, &[Value::Table(r)]))
}

/// How a turn ended, for the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TurnEnd {
    /// The tasklet waited, finished or failed (failures are in the scheduler's list).
    Done,
    /// The tasklet was preempted by the end of its fuel; it continues in a later turn.
    Preempted {
        /// How many coroutines were detached (the tasklet's and those it was resuming), for
        /// the host to charge that work.
        chain: usize,
    },
    /// The turn's bookkeeping has not run yet (the tasklet yielded just as the fuel ran
    /// out): step the executor a little more (its next step runs only that bookkeeping).
    Unfinished,
}

/// Host side: ends a turn after its steps used `used` fuel. A tasklet still running is
/// preempted and queued again at the end of its group's queue, or stopped by the watchdog
/// once it used more than `watchdog` frames of its group's budget without waiting.
pub fn end_turn<'gc>(ctx: Context<'gc>, exec: Executor<'gc>, used: i64) -> TurnEnd {
    let s = scheduler(ctx);
    if exec.is_finished() {
        if let Some(r) = tab(ctx, s, "current") {
            // The turn ended without its bookkeeping (it failed itself, e.g. out of
            // memory): the tasklet is lost; say so.
            abandon(ctx, s, r, exec);
        }
        return TurnEnd::Done;
    }
    let Some((thread, chain)) = exec.preempt(ctx) else {
        return TurnEnd::Unfinished;
    };
    let Some(r) = tab(ctx, s, "current") else {
        return TurnEnd::Done;
    };
    put(ctx, s, "current", Value::Nil);
    let fuel = int(ctx, r, "fuel").saturating_add(used.max(0));
    put(ctx, r, "fuel", Value::Integer(fuel));
    let Some(g) = tab(ctx, r, "group") else {
        return TurnEnd::Done;
    };
    let frames = int(ctx, s, "watchdog");
    let limit = frames.saturating_mul(group_budget(ctx, g));
    if fuel > limit {
        let message = format!(
            "tasklet exceeded its budget of {frames} frames ({limit} fuel units) without waiting"
        );
        let traceback = thread.traceback();
        record_failure(ctx, s, r, ctx.str(&message), &traceback);
        thread.kill_preempted(ctx);
        finish(ctx, r);
        return TurnEnd::Done;
    }
    make_ready(ctx, r);
    TurnEnd::Preempted { chain }
}

/// Gives up the current turn's tasklet (its turn could not finish): reported as failed,
/// its coroutine killed.
fn abandon<'gc>(ctx: Context<'gc>, s: Table<'gc>, r: Table<'gc>, exec: Executor<'gc>) {
    put(ctx, s, "current", Value::Nil);
    let reason = match exec.result() {
        Some(lunette_vm::ExecResult::Errored { value, .. }) => error_message(ctx, value),
        _ => "its turn did not finish".to_string(),
    };
    let message = ctx.str(&format!("tasklet stopped by the scheduler: {reason}"));
    let mut traceback = "stack traceback:".to_string();
    if let Value::Thread(t) = get(ctx, r, "thread") {
        traceback = t.traceback();
        if t.is_preempted() {
            t.kill_preempted(ctx);
        } else if t.status() == ThreadStatus::Suspended {
            t.kill(ctx);
        }
    }
    record_failure(ctx, s, r, message, &traceback);
    finish(ctx, r);
}

/// Host side: gives up a turn that `end_turn` kept reporting `Unfinished` (it should not
/// happen: the bookkeeping takes one step).
pub fn abandon_turn<'gc>(ctx: Context<'gc>, exec: Executor<'gc>) {
    let s = scheduler(ctx);
    if let Some(r) = tab(ctx, s, "current") {
        abandon(ctx, s, r, exec);
    }
}

/// The running tasklet is over: it leaves its group.
fn finish<'gc>(ctx: Context<'gc>, r: Table<'gc>) {
    put(ctx, r, "state", ctx.key("done"));
    if let Some(by_thread) = tab(ctx, scheduler(ctx), "by_thread") {
        let _ = by_thread.set(ctx, get(ctx, r, "thread"), Value::Nil);
    }
    if let Some(g) = tab(ctx, r, "group") {
        put(
            ctx,
            g,
            "count",
            Value::Integer(int(ctx, g, "count").saturating_sub(1)),
        );
    }
}

fn record_failure<'gc>(
    ctx: Context<'gc>,
    s: Table<'gc>,
    r: Table<'gc>,
    message: Value<'gc>,
    traceback: &str,
) {
    let f = ctx.new_table();
    if let Some(g) = tab(ctx, r, "group") {
        put(ctx, f, "group", get(ctx, g, "name"));
    }
    put(ctx, f, "id", get(ctx, r, "id"));
    put(ctx, f, "name", get(ctx, r, "name"));
    put(ctx, f, "message", message);
    put(ctx, f, "traceback", ctx.str(traceback));
    let failures = tab_or_new(ctx, s, ctx.key("failures"));
    append(ctx, failures, Value::Table(f));
}

/// A failed tasklet, as recorded for the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureRecord {
    /// The tasklet's group.
    pub group: String,
    /// The tasklet's id.
    pub id: i64,
    /// The tasklet's name.
    pub name: String,
    /// The error message (an error value that is not a string or a number is described).
    pub message: String,
    /// The Lua traceback of the tasklet's coroutine where it failed.
    pub traceback: String,
}

/// Host side: the failures recorded since the last call, oldest first.
pub fn take_failures(ctx: Context<'_>) -> Vec<FailureRecord> {
    let Some(s) = scheduler_if_any(ctx) else {
        return Vec::new();
    };
    let Some(list) = tab(ctx, s, "failures") else {
        return Vec::new();
    };
    let n = int(ctx, list, "n");
    if n == 0 {
        return Vec::new();
    }
    let out = (1..=n)
        .filter_map(|i| match list.get_int(i) {
            Value::Table(f) => Some(FailureRecord {
                group: text(ctx, f, "group"),
                id: int(ctx, f, "id"),
                name: text(ctx, f, "name"),
                message: text(ctx, f, "message"),
                traceback: text(ctx, f, "traceback"),
            }),
            _ => None,
        })
        .collect();
    put(ctx, s, "failures", Value::Table(ctx.new_table()));
    out
}

/// A pending host request, as the host sees it.
pub struct PendingRequest<'gc> {
    /// The request's id (from a counter in the VM: a re-simulation issues the same ids).
    pub id: i64,
    /// The group of the tasklet that asked.
    pub group: String,
    /// What is asked (`tasklet.request`'s first argument).
    pub kind: String,
    /// The frame in which it was issued.
    pub frame: i64,
    /// The other arguments.
    pub payload: Vec<Value<'gc>>,
}

/// Host side: every pending request (issued and not yet completed or failed), by id. Reads
/// only: polling changes nothing in the VM.
pub fn pending_requests<'gc>(ctx: Context<'gc>) -> Vec<PendingRequest<'gc>> {
    let Some(requests) = scheduler_if_any(ctx).and_then(|s| tab(ctx, s, "requests")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut key = Value::Nil;
    while let Ok(Some((k, v))) = requests.next(key) {
        key = k;
        let (Some(id), Value::Table(q)) = (k.as_integer_strict(), v) else {
            continue;
        };
        let payload = match tab(ctx, q, "args") {
            Some(a) => (1..=int(ctx, a, "n")).map(|i| a.get_int(i)).collect(),
            None => Vec::new(),
        };
        out.push(PendingRequest {
            id,
            group: text(ctx, q, "group"),
            kind: text(ctx, q, "kind"),
            frame: int(ctx, q, "frame"),
            payload,
        });
    }
    out.sort_by_key(|r| r.id);
    out
}

/// Host side: completes request `id` — its tasklet continues at its next turn (the next
/// frame) with `values` as `tasklet.request`'s results — or, with `Err(e)`, fails it (`e` is
/// raised in the tasklet). `false` if no such request is pending (already completed, or
/// gone with a rollback to before it was issued): nothing happens then.
pub fn complete_request<'gc>(
    ctx: Context<'gc>,
    id: i64,
    outcome: Result<&[Value<'gc>], Value<'gc>>,
) -> Result<bool, Error<'gc>> {
    let Some(requests) = scheduler_if_any(ctx).and_then(|s| tab(ctx, s, "requests")) else {
        return Ok(false);
    };
    let Value::Table(q) = requests.get(Value::Integer(id)) else {
        return Ok(false);
    };
    let Some(r) = tab(ctx, q, "tasklet") else {
        return Ok(false);
    };
    match outcome {
        Ok(values) => put(ctx, r, "values", Value::Table(pack(ctx, values)?)),
        Err(e) => put(ctx, r, "error", e),
    }
    let _ = requests.set(ctx, Value::Integer(id), Value::Nil);
    make_ready(ctx, r);
    Ok(true)
}

// ---------------------------------------------------------------------------------------
// The turn: the executor's main function resumes one tasklet.

/// The main function of a turn's executor: resumes tasklet record `r` (its first
/// argument); `turn_after` does the bookkeeping when it yields, returns or fails.
fn turn<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let Value::Table(r) = exec.arg(0) else {
        return Err(Error::runtime("tasklet: lost its record"));
    };
    let Value::Thread(t) = get(ctx, r, "thread") else {
        return Err(Error::runtime("tasklet: lost its coroutine"));
    };
    exec.clear();
    if t.status() == ThreadStatus::Dead {
        // Closed by Lua code that got hold of it (`coroutine.close`).
        let s = scheduler(ctx);
        put(ctx, s, "current", Value::Nil);
        let message = ctx.str("the tasklet's coroutine was closed");
        record_failure(ctx, s, r, message, "stack traceback:");
        finish(ctx, r);
        return Ok(Action::Return);
    }
    if let Some(args) = tab(ctx, r, "args") {
        put(ctx, r, "args", Value::Nil);
        unpack_into(ctx, exec, args)?;
    }
    Ok(Action::Resume {
        thread: t,
        then: Then::new("tasklet", turn_after, Value::Table(r)).catching(),
    })
}

fn turn_after<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    outcome: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    let s = scheduler(ctx);
    put(ctx, s, "current", Value::Nil);
    exec.clear();
    let Value::Table(r) = exec.upvalue else {
        return Ok(Action::Return);
    };
    let Value::Thread(t) = get(ctx, r, "thread") else {
        return Ok(Action::Return);
    };
    match outcome {
        Outcome::Returned if t.status() == ThreadStatus::Dead => finish(ctx, r),
        Outcome::Returned => {
            if get(ctx, r, "state") == ctx.key("running") {
                // A plain `coroutine.yield` in the tasklet's own coroutine: a `wait()`.
                schedule_wake(ctx, s, r, 1)?;
            }
        }
        Outcome::Errored(e) => {
            // (A string error is kept as it is, not copied; a traceback has at most 22
            // lines of bounded length.)
            let message = match e {
                Value::String(_) | Value::Integer(_) | Value::Float(_) => e,
                other => ctx.str(&error_message(ctx, other)),
            };
            let traceback = t.traceback();
            record_failure(ctx, s, r, message, &traceback);
            finish(ctx, r);
        }
    }
    Ok(Action::Return)
}

/// Puts `r` in its group's timer list of frame `current + n`.
fn schedule_wake<'gc>(
    ctx: Context<'gc>,
    s: Table<'gc>,
    r: Table<'gc>,
    n: i64,
) -> Result<(), Error<'gc>> {
    let wake = int(ctx, s, "frame")
        .checked_add(n.max(1))
        .ok_or_else(|| Error::runtime("wait: too many frames"))?;
    let g = tab(ctx, r, "group").ok_or_else(|| Error::runtime("tasklet: lost its group"))?;
    let timers = tab_or_new(ctx, g, ctx.key("timers"));
    let list = tab_or_new(ctx, timers, Value::Integer(wake));
    append(ctx, list, Value::Table(r));
    put(ctx, r, "state", ctx.key("wait"));
    put(ctx, r, "fuel", Value::Integer(0));
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The Lua functions.

/// The scheduler and the running tasklet's record.
fn running<'gc>(ctx: Context<'gc>, what: &str) -> Result<(Table<'gc>, Table<'gc>), Error<'gc>> {
    let s = scheduler_if_any(ctx);
    let r = s.and_then(|s| tab(ctx, s, "current"));
    match (s, r) {
        (Some(s), Some(r)) => Ok((s, r)),
        _ => Err(Error::runtime(format!("{what}: not called from a tasklet"))),
    }
}

/// Suspends the running tasklet; `resumed` runs when the scheduler resumes it. From the
/// tasklet's own coroutine this is a yield to the scheduler; from a coroutine the tasklet
/// resumed (at any depth), the whole chain of coroutines detaches (`Action::Detach`) and
/// the scheduler later resumes it as a whole, so the wait returns in that inner coroutine.
fn suspend<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    r: Table<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    exec.clear();
    let then = Then::new("tasklet.wait", resumed, Value::Table(r));
    let own = matches!(get(ctx, r, "thread"), Value::Thread(t) if Thread::ptr_eq(t, exec.thread()));
    if own {
        Ok(Action::Yield { then: Some(then) })
    } else {
        Ok(Action::Detach { then })
    }
}

/// A waiting tasklet resumed: its results (a signal's values, a request's results) or its
/// request's error. Resumed by anything but the scheduler (Lua code holding the tasklet's
/// coroutine), it keeps waiting.
fn resumed<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    _outcome: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    let Value::Table(r) = exec.upvalue else {
        return Err(Error::runtime("tasklet: lost its record"));
    };
    let s = scheduler(ctx);
    let by_scheduler = matches!(get(ctx, s, "current"), Value::Table(c) if Table::ptr_eq(c, r))
        && get(ctx, r, "state") == ctx.key("running");
    if !by_scheduler {
        return suspend(ctx, exec, r);
    }
    exec.clear();
    let error = get(ctx, r, "error");
    if !error.is_nil() {
        put(ctx, r, "error", Value::Nil);
        return Err(Error::Value(error));
    }
    if let Some(values) = tab(ctx, r, "values") {
        put(ctx, r, "values", Value::Nil);
        unpack_into(ctx, exec, values)?;
    }
    Ok(Action::Return)
}

fn wait<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let n = opt_integer(exec, 0, 1)?;
    let (s, r) = running(ctx, "wait")?;
    exec.charge(2);
    schedule_wake(ctx, s, r, n)?;
    suspend(ctx, exec, r)
}

fn wait_signal<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
) -> Result<Action<'gc>, Error<'gc>> {
    let name = check_any(exec, 0)?;
    check_signal_name(name)?;
    let (_, r) = running(ctx, "wait_signal")?;
    exec.charge(2);
    let g = tab(ctx, r, "group").ok_or_else(|| Error::runtime("tasklet: lost its group"))?;
    let signals = tab_or_new(ctx, g, ctx.key("signals"));
    let list = tab_or_new(ctx, signals, name);
    append(ctx, list, Value::Table(r));
    put(ctx, r, "state", ctx.key("signal"));
    put(ctx, r, "fuel", Value::Integer(0));
    suspend(ctx, exec, r)
}

/// A signal name is any value that can be a table key.
fn check_signal_name<'gc>(name: Value<'gc>) -> Result<(), Error<'gc>> {
    match name {
        Value::Nil => Err(Error::bad_argument(1, "signal name expected")),
        Value::Float(f) if f.is_nan() => Err(Error::bad_argument(1, "signal name is NaN")),
        _ => Ok(()),
    }
}

fn signal<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let name = check_any(exec, 0)?;
    check_signal_name(name)?;
    let (_, r) = running(ctx, "signal")?;
    exec.charge(2 + exec.len() / 8);
    let g = tab(ctx, r, "group").ok_or_else(|| Error::runtime("tasklet: lost its group"))?;
    fire(ctx, g, name, exec.values().get(1..).unwrap_or(&[]))?;
    exec.clear();
    Ok(Action::Return)
}

fn spawn<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let f = exec.arg(0);
    if !f.is_function() {
        return Err(Error::type_error(1, "function", exec.get(0)));
    }
    let (_, r) = running(ctx, "spawn")?;
    exec.charge(4 + exec.len() / 8);
    let g = tab(ctx, r, "group").ok_or_else(|| Error::runtime("tasklet: lost its group"))?;
    let child = new_tasklet(ctx, g, None, f, exec.values().get(1..).unwrap_or(&[]))?;
    exec.set_return(get(ctx, child, "id"));
    Ok(Action::Return)
}

fn request<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let kind = check_string(ctx, exec, 0)?;
    let (s, r) = running(ctx, "request")?;
    exec.charge(4 + exec.len() / 8);
    let id = int(ctx, s, "next_request");
    put(ctx, s, "next_request", Value::Integer(id.saturating_add(1)));
    let q = ctx.new_table();
    put(ctx, q, "id", Value::Integer(id));
    put(ctx, q, "kind", Value::String(kind));
    put(ctx, q, "frame", get(ctx, s, "frame"));
    if let Some(g) = tab(ctx, r, "group") {
        put(ctx, q, "group", get(ctx, g, "name"));
    }
    put(ctx, q, "tasklet", Value::Table(r));
    let payload = pack(ctx, exec.values().get(1..).unwrap_or(&[]))?;
    put(ctx, q, "args", Value::Table(payload));
    let requests = tab_or_new(ctx, s, ctx.key("requests"));
    let _ = requests.set(ctx, Value::Integer(id), Value::Table(q));
    put(ctx, r, "state", ctx.key("request"));
    put(ctx, r, "fuel", Value::Integer(0));
    suspend(ctx, exec, r)
}

fn id<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let v = scheduler_if_any(ctx)
        .and_then(|s| tab(ctx, s, "current"))
        .map_or(Value::Nil, |r| get(ctx, r, "id"));
    exec.set_return(v);
    Ok(Action::Return)
}

fn frame<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let v = scheduler_if_any(ctx).map_or(Value::Integer(0), |s| get(ctx, s, "frame"));
    exec.set_return(v);
    Ok(Action::Return)
}
