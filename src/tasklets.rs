//! Tasklets: a frame-driven scheduler of Lua coroutines per mod, and host requests that
//! survive snapshots.
//!
//! A game spawns *tasklets* (a Lua function and its arguments, or a coroutine) in *groups*
//! (one per mod, named by the host) and calls [`Lua::run_frame`] once per game frame. In Lua,
//! a tasklet uses the `tasklet` library (`lunette_stdlib::tasklet`):
//!
//! ```lua
//! local wait, request = tasklet.wait, tasklet.request
//! wait(30)                                        -- 30 frames later
//! local ok, size = request("load_asset", "ogre.png")  -- frames later, the host's answer
//! local who = tasklet.wait_signal("door_opened")  -- tasklet.signal("door_opened", "player")
//! ```
//!
//! Each frame, every group (in creation order) runs with its own fuel budget
//! ([`TaskletConfig::budget`], or [`Lua::set_group_budget`]): first the tasklets whose wait
//! ends in this frame and those whose signal fired or request completed since the last
//! frame join the group's run queue, then the queue runs round robin, each tasklet for at
//! most [`TaskletConfig::slice`] fuel before the next one gets a turn, until the queue is
//! empty or the budget is spent. A tasklet stopped by its slice or by the end of the budget
//! is *preempted* — its coroutine (and any coroutine it was resuming) becomes plain thread
//! data — and queued again at the end, so it continues where it stopped, and the next frame
//! starts with the tasklet after it: one busy tasklet cannot starve the others. A tasklet
//! that used more than [`TaskletConfig::watchdog_frames`] frames of its group's budget
//! without waiting is stopped ("tasklet exceeded its budget of N frames ..."). Failed
//! tasklets (an error, or the watchdog) are reported in [`FrameReport::failures`] with
//! their group, id, name, message and the Lua traceback of their coroutine; the other
//! tasklets and groups go on. (Like `coroutine.resume`, the scheduler does not run the
//! pending `__close` handlers of a failed tasklet.)
//!
//! **All scheduler state is in the VM** (a table in the registry; tasklets are coroutines):
//! `snap`/`rollback`, `snapshot`/`restore` (into a fresh VM too) and `checksum` capture it,
//! and a re-simulated frame gives bit-identical results. The host side holds nothing: the
//! functions here are methods of [`Lua`] that read and write that table.
//!
//! # Host requests or async callbacks?
//!
//! A **host request** (`tasklet.request(kind, ...)`) is VM data: a request id from a counter
//! in the VM, its kind and payload, and the suspended tasklet. The host polls
//! [`Lua::pending_requests`] (read-only: polling changes nothing), starts the work its own
//! way, and later calls [`Lua::complete_request`] (or [`Lua::fail_request`]); the tasklet
//! continues at the next frame. Snapshots, rollback, restores and checksums work while
//! requests are pending. A rollback to a point before a request was issued removes it with
//! the rest of the state: completing that id then returns `false` and does nothing; the
//! re-simulation issues the same ids (with the same payloads, if deterministic), which
//! [`Lua::pending_requests`] reports again, so the host answers them again. A game with
//! rollback netcode should complete requests at a deterministic frame on every peer (e.g.
//! as part of the frame's inputs).
//!
//! An **async callback** (`lunette::vm::async_callback`) is a Rust `async` sequence driven by
//! the executor: convenient for multi-step Rust logic, but its Rust state cannot be copied,
//! so `snap`, `snapshot` and `checksum` fail while one is in flight. Use it only in hosts
//! that never snapshot; use host requests for anything that waits across frames in a game
//! that snapshots.

use lunette_vm::{Context, FromLuaMulti, Fuel, IntoLua, IntoLuaMulti, StashedValue, Value};

use crate::Lua;

pub use lunette_stdlib::tasklet::{DEFAULT_BUDGET, DEFAULT_SLICE, DEFAULT_WATCHDOG_FRAMES};

/// Fuel a turn costs its group besides what its tasklet runs: the host's work of starting
/// an executor, resuming the tasklet and the bookkeeping (a few resumes' worth).
const TURN_COST: i64 = 8;
/// Fuel a preemption costs per coroutine it detaches (a marker frame each).
const CHAIN_LINK_COST: i64 = 2;
/// Most extra steps the host gives a turn whose tasklet yielded just as its fuel ran out
/// (its bookkeeping takes one).
const MAX_GRACE_STEPS: usize = 4;
/// Fuel of the turns run between two rounds of collection work.
const BATCH_FUEL: i64 = 20_000;
/// Fuel a collection costs the turn that needed it (see `Lua::run_frame`): about a step's
/// worth, as a plain executor gets one collection slice per `Lua::step`.
const COLLECTION_COST: i64 = 10_000;
/// Most steps of one turn that end early without spending the fuel (for an owed collection)
/// before the turn counts as over.
const MAX_STEPS: usize = 1_000;
/// Most slices of the memory limit's collections one turn waits for before it counts as
/// over: a guard against a livelock, never reached by a collection that ends (a request
/// is answered after one complete cycle, and a cycle of a 64 MiB heap is a few hundred
/// slices).
const MAX_LIMIT_SLICES: usize = 100_000;

/// The scheduler's configuration (stored in the VM: it snapshots and rolls back with the
/// scheduler).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskletConfig {
    /// Fuel per group per frame (a group's own budget, [`Lua::set_group_budget`], wins).
    pub budget: i64,
    /// Most fuel one tasklet runs in a turn before the next tasklet of its group runs.
    pub slice: i64,
    /// A tasklet that uses more than this many frames of its group's budget without
    /// waiting (or finishing) is stopped.
    pub watchdog_frames: i64,
}

impl Default for TaskletConfig {
    fn default() -> Self {
        TaskletConfig {
            budget: DEFAULT_BUDGET,
            slice: DEFAULT_SLICE,
            watchdog_frames: DEFAULT_WATCHDOG_FRAMES,
        }
    }
}

/// A tasklet that failed (raised an error, or was stopped by the watchdog).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskletFailure {
    /// The tasklet's group.
    pub group: String,
    /// The tasklet's id (unique in the VM, from a counter in the VM).
    pub id: i64,
    /// The tasklet's name (given at spawn; `"tasklet <id>"` by default).
    pub name: String,
    /// The error message (`chunk:line: message` for errors raised with a position).
    pub message: String,
    /// The Lua traceback of the tasklet's coroutine at the failure (`stack traceback:` and
    /// one line per frame, innermost first, like `debug.traceback(co)`).
    pub traceback: String,
}

impl std::fmt::Display for TaskletFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "tasklet {} '{}' of group '{}' failed: {}\n{}",
            self.id, self.name, self.group, self.message, self.traceback
        )
    }
}

/// What one frame did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FrameReport {
    /// The frame's number (1 for the first `run_frame`).
    pub frame: i64,
    /// Tasklets that failed in this frame.
    pub failures: Vec<TaskletFailure>,
    /// Fuel used, per group, in the groups' order: `(group, fuel)`.
    pub fuel_used: Vec<(String, i64)>,
}

/// A request a tasklet made (`tasklet.request(kind, ...)`), waiting for the host.
pub struct Request {
    /// Its id (pass it to [`Lua::complete_request`]).
    pub id: i64,
    /// The group of the tasklet that asked.
    pub group: String,
    /// The request's kind (its first argument).
    pub kind: String,
    /// The frame in which it was issued.
    pub frame: i64,
    /// How many other arguments it has (read them with [`Lua::request_payload`]).
    pub payload_len: usize,
}

impl Lua {
    /// Opens the `tasklet` library (the global table `tasklet`) and sets the scheduler's
    /// configuration. Call it before making mod environments (`new_environment` copies the
    /// globals). The scheduler itself also works without it (for tasklets that only use
    /// plain `coroutine.yield` as `wait()`).
    pub fn open_tasklets(&mut self, config: TaskletConfig) {
        self.enter(|ctx| {
            lunette_stdlib::tasklet::open(ctx);
            lunette_stdlib::tasklet::configure(
                ctx,
                config.budget,
                config.slice,
                config.watchdog_frames,
            );
        });
    }

    /// Sets one group's fuel budget per frame (the group is created if needed).
    pub fn set_group_budget(&mut self, group: &str, budget: i64) {
        self.enter(|ctx| lunette_stdlib::tasklet::set_group_budget(ctx, group, budget));
    }

    /// Spawns a tasklet in `group` (created if needed) running `function(args...)`;
    /// `function` may also be a suspended coroutine (resumed with `args`; a coroutine can be
    /// one tasklet at most). `args` are converted like [`lunette_vm::Lua::call`]'s (a
    /// tuple, `()`, a [`crate::Variadic`]...). It runs from the next [`Lua::run_frame`].
    /// Returns its id (from a counter in the VM).
    ///
    /// ```
    /// # use lunette::{Lua, StashedValue, TaskletConfig};
    /// let mut lua = Lua::new();
    /// lua.open_tasklets(TaskletConfig::default());
    /// lua.execute(b"function greet(who, n) tasklet.wait(n) print('hello', who) end", "=m")?;
    /// let greet = lua.global::<StashedValue>("greet")?;
    /// lua.spawn_tasklet("mod", "greeter", &greet, ("world", 2))?;
    /// lua.run_frame();
    /// lua.run_frame();
    /// lua.run_frame(); // prints "hello world"
    /// assert_eq!(lua.tasklet_count("mod"), 0);
    /// # Ok::<(), lunette::LuaError>(())
    /// ```
    pub fn spawn_tasklet(
        &mut self,
        group: &str,
        name: &str,
        function: &StashedValue,
        args: impl for<'gc> IntoLuaMulti<'gc>,
    ) -> Result<i64, crate::LuaError> {
        self.enter(|ctx| {
            let f = ctx.fetch(function).map_err(stale)?;
            let args = args.into_lua_multi(ctx).map_err(|e| host_error(ctx, e))?;
            lunette_stdlib::tasklet::spawn_in(ctx, group, Some(name), f, &args)
                .map_err(|e| host_error(ctx, e))
        })
    }

    /// Fires signal `name` in `group`: its waiters (`tasklet.wait_signal(name)`) wake at the
    /// start of the next frame with `values` (converted like call arguments).
    pub fn signal_tasklets(
        &mut self,
        group: &str,
        name: &str,
        values: impl for<'gc> IntoLuaMulti<'gc>,
    ) -> Result<(), crate::LuaError> {
        self.enter(|ctx| {
            let values = values.into_lua_multi(ctx).map_err(|e| host_error(ctx, e))?;
            lunette_stdlib::tasklet::signal_in(ctx, group, ctx.str(name), &values)
                .map_err(|e| host_error(ctx, e))
        })
    }

    /// The number of live (not finished, not failed) tasklets of `group`.
    pub fn tasklet_count(&self, group: &str) -> usize {
        self.enter(|ctx| lunette_stdlib::tasklet::tasklet_count(ctx, group))
    }

    /// Runs one frame of every group (see the module docs): wakes the tasklets due, then
    /// runs each group's queue round robin within its budget. Stackless and step-based:
    /// each turn is an executor stepped with the turn's fuel, and a tasklet still running
    /// at the end of its fuel is preempted, never waited for. Besides what its tasklets
    /// run, a group's budget pays 8 units per turn, 2 per coroutine a preemption detaches
    /// and 10,000 each time a turn's step ends early (for a full collection a script asked
    /// for or the pacing made due, a sequence waiting for the host...), so a group's frame
    /// costs about its budget (plus at most one slice and one collection) whatever its
    /// tasklets do. The memory limit's collections cost a turn nothing
    /// ([`lunette_vm::Lua::limit_collection_pending`]): whether the limit needs one depends
    /// on garbage not yet freed (on snapshots, restores, step sizes), and where turns end
    /// must not; its refusals (`not enough memory`, raised at
    /// the same points of the history in every run) cost the script 10,000 units each where
    /// they are raised (`MEMORY_REFUSAL_FUEL`), so a tasklet that keeps asking cannot make a
    /// frame long.
    pub fn run_frame(&mut self) -> FrameReport {
        use lunette_stdlib::tasklet as t;
        let frame = self.enter(t::begin_frame);
        let group_count = self.enter(|ctx| t::groups(ctx).len());
        let mut report = FrameReport {
            frame,
            ..FrameReport::default()
        };
        for gi in 0..group_count {
            let Some((name, budget, slice)) = self.enter(|ctx| {
                let g = t::group_at(ctx, gi)?;
                let s = t::scheduler(ctx);
                let slice = s
                    .get(ctx.key("slice"))
                    .as_integer_strict()
                    .unwrap_or(DEFAULT_SLICE);
                Some((t::group_name(ctx, g), t::group_budget(ctx, g), slice))
            }) else {
                continue;
            };
            let mut remaining = budget;
            while remaining > 0 {
                // Turns run inside one `enter` until the budget is spent, the queue is
                // empty, a batch of `BATCH_FUEL` units ran (then the collector does its
                // share, as between two `step`s), or a step ends early for the collector.
                let batch = self.enter(|ctx| {
                    let g = t::group_at(ctx, gi)?;
                    let mut spent = 0i64;
                    loop {
                        let left = remaining - spent;
                        if left <= 0 || spent >= BATCH_FUEL {
                            return Some(Batch::Ran(spent));
                        }
                        let Some(exec) = t::next_turn(ctx, g) else {
                            return Some(Batch::Empty(spent));
                        };
                        let give = slice.min(left).max(1);
                        let mut fuel = Fuel::new(give);
                        if !exec.step(ctx, &mut fuel) && !fuel.is_exhausted() {
                            let exec = ctx.stash_executor(exec);
                            return Some(Batch::Host(spent, exec, give, fuel));
                        }
                        spent += finish_turn(ctx, exec, give - fuel.remaining()) + TURN_COST;
                    }
                });
                match batch {
                    None => break,
                    Some(Batch::Empty(spent)) => {
                        remaining -= spent;
                        break;
                    }
                    Some(Batch::Ran(spent)) => remaining -= spent,
                    Some(Batch::Host(spent, exec, give, mut fuel)) => {
                        // The step ended early: for a full collection a script asked for or
                        // that became due (owed: it comes at the same point of the script's
                        // history in every run), for memory the limit must find first (which
                        // depends on garbage not yet freed, so on snapshots, restores and
                        // step sizes), or for the host (a sequence waiting for a future). All
                        // but the limit's collections cost the turn `COLLECTION_COST` units,
                        // so a tasklet that keeps asking cannot make a frame long; the limit's
                        // cost the turn nothing, so that where turns end never depends on
                        // them (the limit's refusal, which does come at a point of the
                        // history, costs the script `MEMORY_REFUSAL_FUEL` where it is raised).
                        let mut steps = 0;
                        let mut limit_slices = 0;
                        loop {
                            // (Read before `collect_between_steps` starts what they ask for.)
                            let free =
                                !self.full_collection_owed() && self.limit_collection_pending();
                            self.collect_between_steps();
                            if free {
                                limit_slices += 1;
                            } else {
                                // An owed collection; or the step ended for something else
                                // (a sequence waiting for a future outside the VM): the turn
                                // pays, as for a collection, and goes on or ends.
                                fuel.consume(COLLECTION_COST);
                                steps += 1;
                            }
                            if fuel.is_exhausted()
                                || steps > MAX_STEPS
                                || limit_slices > MAX_LIMIT_SLICES
                            {
                                break;
                            }
                            let mut step_fuel = fuel;
                            let done = self.enter(|ctx| match ctx.fetch_executor(&exec) {
                                Ok(e) => e.step(ctx, &mut step_fuel),
                                Err(_) => true,
                            });
                            fuel = step_fuel;
                            if done || fuel.is_exhausted() {
                                break;
                            }
                        }
                        let used = self.enter(|ctx| match ctx.fetch_executor(&exec) {
                            Ok(e) => finish_turn(ctx, e, give - fuel.remaining()),
                            Err(_) => give,
                        });
                        remaining -= spent + used + TURN_COST;
                    }
                }
                self.collect_between_steps();
            }
            report.fuel_used.push((name, budget - remaining));
        }
        report.failures = self.enter(|ctx| {
            t::take_failures(ctx)
                .into_iter()
                .map(|f| TaskletFailure {
                    group: f.group,
                    id: f.id,
                    name: f.name,
                    message: f.message,
                    traceback: f.traceback,
                })
                .collect()
        });
        report
    }

    /// Every pending host request (issued by `tasklet.request`, not yet completed), by id.
    /// Read-only: polling changes nothing in the VM (no checksum change), so a host may
    /// poll every frame and keep its own set of the ids it is working on. A `Request` holds
    /// no VM value (keeping one changes nothing a script sees); read the payload with
    /// [`Lua::request_payload`].
    pub fn pending_requests(&self) -> Vec<Request> {
        self.enter(|ctx| {
            lunette_stdlib::tasklet::pending_requests(ctx)
                .into_iter()
                .map(|r| Request {
                    id: r.id,
                    group: r.group,
                    kind: r.kind,
                    frame: r.frame,
                    payload_len: r.payload.len(),
                })
                .collect()
        })
    }

    /// The other arguments of pending request `id` (after its kind), converted to `T` (a
    /// tuple, a [`crate::Variadic`]...; a wrong type is a conversion error naming the
    /// argument); `Ok(None)` if no request `id` is pending.
    ///
    /// ```
    /// # use lunette::{Lua, StashedValue, TaskletConfig};
    /// let mut lua = Lua::new();
    /// lua.open_tasklets(TaskletConfig::default());
    /// lua.exec("function load() local ok, n = tasklet.request('load_asset', 'orc.png', 2) end")?;
    /// let load = lua.global::<StashedValue>("load")?;
    /// lua.spawn_tasklet("mod", "loader", &load, ())?;
    /// lua.run_frame();
    /// let request = &lua.pending_requests()[0];
    /// let (path, lod): (String, i64) = lua.request_payload(request.id)?.unwrap();
    /// assert_eq!((request.kind.as_str(), path.as_str(), lod), ("load_asset", "orc.png", 2));
    /// # Ok::<(), lunette::LuaError>(())
    /// ```
    pub fn request_payload<T: for<'gc> FromLuaMulti<'gc>>(
        &self,
        id: i64,
    ) -> Result<Option<T>, crate::LuaError> {
        self.enter(|ctx| {
            let Some(r) = lunette_stdlib::tasklet::pending_requests(ctx)
                .into_iter()
                .find(|r| r.id == id)
            else {
                return Ok(None);
            };
            T::from_lua_multi(ctx, &r.payload, 1)
                .map(Some)
                .map_err(|e| host_error(ctx, e))
        })
    }

    /// Completes request `id`: its tasklet continues at the next frame, `tasklet.request`
    /// returning `values` (converted like call arguments: `(true, 4096)`, `()`, a
    /// [`crate::Variadic`]...). `Ok(false)` (and nothing happens) if no request `id` is
    /// pending — already completed, or gone with a rollback to before it was issued.
    pub fn complete_request(
        &mut self,
        id: i64,
        values: impl for<'gc> IntoLuaMulti<'gc>,
    ) -> Result<bool, crate::LuaError> {
        self.enter(|ctx| {
            let values = values.into_lua_multi(ctx).map_err(|e| host_error(ctx, e))?;
            lunette_stdlib::tasklet::complete_request(ctx, id, Ok(&values))
                .map_err(|e| host_error(ctx, e))
        })
    }

    /// [`Lua::complete_request`] with values made by `make` inside the VM, e.g.
    /// `|ctx| vec![Value::Boolean(true), ctx.str("data")]`.
    pub fn complete_request_with(
        &mut self,
        id: i64,
        make: impl for<'gc> FnOnce(Context<'gc>) -> Vec<Value<'gc>>,
    ) -> Result<bool, crate::LuaError> {
        self.enter(|ctx| {
            let values = make(ctx);
            lunette_stdlib::tasklet::complete_request(ctx, id, Ok(&values))
                .map_err(|e| host_error(ctx, e))
        })
    }

    /// Fails request `id`: `tasklet.request` raises `error` (any value; a string message
    /// typically) in its tasklet at the next frame, where `pcall` can catch it. `Ok(false)`
    /// if no request `id` is pending.
    pub fn fail_request(
        &mut self,
        id: i64,
        error: impl for<'gc> IntoLua<'gc>,
    ) -> Result<bool, crate::LuaError> {
        self.enter(|ctx| {
            let e = error.into_lua(ctx).map_err(|e| host_error(ctx, e))?;
            lunette_stdlib::tasklet::complete_request(ctx, id, Err(e))
                .map_err(|e| host_error(ctx, e))
        })
    }
}

/// A host-side error of the scheduler's functions as a `LuaError`.
fn host_error<'gc>(ctx: Context<'gc>, e: lunette_vm::Error<'gc>) -> crate::LuaError {
    use lunette_vm::Error;
    crate::LuaError::host(match e {
        Error::Value(v) => lunette_vm::error_message(ctx, v),
        Error::Runtime(m) => m,
        Error::Message(m) => m.to_string_lossy(),
        Error::BadArgument { message, .. } => message,
        Error::TypeError { expected, got, .. } => format!(
            "{expected} expected, got {}",
            got.map_or("no value", |v| v.type_name())
        ),
        Error::NotEnoughMemory | Error::CollectThenRetry => "not enough memory".into(),
    })
}

/// How a batch of turns ended (see `Lua::run_frame`); each holds the fuel it spent.
enum Batch {
    /// The budget or the batch's fuel is spent.
    Ran(i64),
    /// The group's queue is empty.
    Empty(i64),
    /// A turn's step ended early for the collector: the host steps that executor on with
    /// what is left of the turn's fuel (`give` of which it got).
    Host(i64, lunette_vm::StashedExecutor, i64, Fuel),
}

/// Ends a turn whose steps used `used` fuel (see `tasklet::end_turn`): a turn whose
/// tasklet yielded just as its fuel ran out gets one more step for its bookkeeping (a few at
/// most, then it is given up). Returns the fuel the turn used in all.
fn finish_turn<'gc>(ctx: Context<'gc>, exec: lunette_vm::Executor<'gc>, mut used: i64) -> i64 {
    use lunette_stdlib::tasklet as t;
    let mut end = t::end_turn(ctx, exec, used);
    let mut grace = 0;
    while end == t::TurnEnd::Unfinished && grace < MAX_GRACE_STEPS {
        grace += 1;
        let mut fuel = Fuel::new(1);
        exec.step(ctx, &mut fuel);
        used += 1 - fuel.remaining();
        end = t::end_turn(ctx, exec, used);
    }
    if end == t::TurnEnd::Unfinished {
        t::abandon_turn(ctx, exec);
    }
    if let t::TurnEnd::Preempted { chain } = end {
        // Detaching the chain is host work in proportion to its length.
        used = used.saturating_add(chain as i64 * CHAIN_LINK_COST);
    }
    used.max(0)
}

fn stale(e: lunette_vm::StaleHandle) -> crate::LuaError {
    crate::LuaError::host(e.to_string())
}
