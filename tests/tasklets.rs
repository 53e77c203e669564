//! Issue #10 items 4 and 5: the tasklet scheduler (`lunette::tasklets`) and host requests
//! that survive snapshots; failed tasklets reported with the traceback of their coroutine.

use std::rc::Rc;

use lunette::{CaptureHost, Lua, TaskletConfig, TaskletFailure};

fn vm(config: TaskletConfig) -> (Lua, CaptureHost) {
    let host = CaptureHost::new();
    let mut lua = Lua::with_host(Rc::new(host.clone()));
    lua.open_tasklets(config);
    (lua, host)
}

fn out(host: &CaptureHost) -> String {
    String::from_utf8(host.take_stdout()).expect("utf-8 output")
}

/// Defines the globals of `source` (functions the tasklets run).
fn define(lua: &mut Lua, source: &str, name: &str) {
    lua.execute(source.as_bytes(), name).expect("chunk runs");
}

/// Spawns global function `f` as a tasklet of `group` with integer arguments.
fn spawn(lua: &mut Lua, group: &str, f_name: &str, args: &[i64]) -> i64 {
    let (f, args) = lua.enter(|ctx| {
        let f = ctx.stash(ctx.globals().get(ctx.key(f_name)));
        let args = args
            .iter()
            .map(|a| ctx.stash(lunette::Value::Integer(*a)))
            .collect::<Vec<_>>();
        (f, args)
    });
    lua.spawn_tasklet(group, f_name, &f, lunette::Variadic(args))
        .expect("spawns")
}

fn run_frames(lua: &mut Lua, n: usize) -> Vec<TaskletFailure> {
    let mut failures = Vec::new();
    for _ in 0..n {
        failures.extend(lua.run_frame().failures);
    }
    failures
}

const WAITERS: &str = r#"
function waiter(n)
  for i = 1, 3 do
    print(tasklet.frame(), tasklet.id(), i)
    tasklet.wait(n)
  end
  print(tasklet.frame(), tasklet.id(), "done")
end
"#;

#[test]
fn wait_orders_tasklets_across_frames() {
    let (mut lua, host) = vm(TaskletConfig::default());
    define(&mut lua, WAITERS, "=w");
    spawn(&mut lua, "mod", "waiter", &[1]);
    spawn(&mut lua, "mod", "waiter", &[2]);
    assert!(run_frames(&mut lua, 8).is_empty());
    assert_eq!(
        out(&host),
        "1\t1\t1\n1\t2\t1\n2\t1\t2\n3\t2\t2\n3\t1\t3\n4\t1\tdone\n5\t2\t3\n7\t2\tdone\n"
    );
    assert_eq!(lua.tasklet_count("mod"), 0);
}

const SIGNALS: &str = r#"
function listener(tag)
  local a, b = tasklet.wait_signal("go")
  print(tasklet.frame(), tag, a, b)
end
function sender()
  tasklet.wait(2)
  tasklet.signal("go", "x", 42)
  print(tasklet.frame(), "sent")
end
"#;

#[test]
fn signals_wake_every_waiter_of_the_group_next_frame() {
    let (mut lua, host) = vm(TaskletConfig::default());
    define(&mut lua, SIGNALS, "=s");
    spawn(&mut lua, "a", "listener", &[1]);
    spawn(&mut lua, "a", "listener", &[2]);
    spawn(&mut lua, "b", "listener", &[3]);
    spawn(&mut lua, "a", "sender", &[]);
    assert!(run_frames(&mut lua, 5).is_empty());
    // Group b's listener is not woken by group a's signal.
    assert_eq!(out(&host), "3\tsent\n4\t1\tx\t42\n4\t2\tx\t42\n");
    assert_eq!(lua.tasklet_count("a"), 0);
    assert_eq!(lua.tasklet_count("b"), 1);
    // The host signals group b.
    let v = lua.enter(|ctx| ctx.stash(ctx.str("host")));
    lua.signal_tasklets("b", "go", v).unwrap();
    run_frames(&mut lua, 1);
    assert_eq!(out(&host), "6\t3\thost\tnil\n");
    assert_eq!(lua.tasklet_count("b"), 0);
}

const BUSY: &str = r#"
counts = {0, 0, 0}
function busy(i)
  while true do counts[i] = counts[i] + 1 end
end
function counts_text() return counts[1] .. " " .. counts[2] .. " " .. counts[3] end
"#;

fn counts(lua: &mut Lua) -> Vec<i64> {
    lua.execute(b"return counts[1], counts[2], counts[3]", "=c")
        .unwrap()
        .iter()
        .map(|s| s.parse().unwrap())
        .collect()
}

#[test]
fn busy_tasklets_share_the_budget_round_robin() {
    let (mut lua, _host) = vm(TaskletConfig {
        budget: 10_000,
        slice: 1_000,
        watchdog_frames: 1_000,
    });
    define(&mut lua, BUSY, "=busy");
    spawn(&mut lua, "mod", "busy", &[1]);
    spawn(&mut lua, "mod", "busy", &[2]);
    let mut last = counts(&mut lua);
    for _ in 0..5 {
        let report = lua.run_frame();
        assert!(report.failures.is_empty());
        let (_, used) = &report.fuel_used[0];
        assert!((10_000..10_100).contains(used), "fuel used {used}");
        let now = counts(&mut lua);
        // Both make progress every frame, about equally.
        assert!(now[0] > last[0] && now[1] > last[1], "{last:?} -> {now:?}");
        let (a, b) = (now[0] - last[0], now[1] - last[1]);
        assert!((a - b).abs() * 5 < a + b, "unfair: {a} vs {b}");
        last = now;
    }
    assert_eq!(lua.tasklet_count("mod"), 2);
}

#[test]
fn a_tasklet_that_spends_the_budget_goes_last_next_frame() {
    // One slice is the whole budget: each frame one tasklet runs, and the next frame starts
    // with the other one.
    let (mut lua, _host) = vm(TaskletConfig {
        budget: 5_000,
        slice: 5_000,
        watchdog_frames: 1_000,
    });
    define(&mut lua, BUSY, "=busy");
    spawn(&mut lua, "mod", "busy", &[1]);
    spawn(&mut lua, "mod", "busy", &[2]);
    lua.run_frame();
    let c1 = counts(&mut lua);
    assert!(c1[0] > 0 && c1[1] == 0, "{c1:?}");
    lua.run_frame();
    let c2 = counts(&mut lua);
    assert!(c2[0] == c1[0] && c2[1] > 0, "{c2:?}");
    lua.run_frame();
    let c3 = counts(&mut lua);
    assert!(c3[0] > c2[0] && c3[1] == c2[1], "{c3:?}");
}

#[test]
fn groups_have_their_own_budgets() {
    let (mut lua, _host) = vm(TaskletConfig {
        budget: 10_000,
        slice: 2_000,
        watchdog_frames: 1_000,
    });
    define(&mut lua, BUSY, "=busy");
    lua.set_group_budget("small", 2_000);
    spawn(&mut lua, "big", "busy", &[1]);
    spawn(&mut lua, "small", "busy", &[2]);
    let report = lua.run_frame();
    assert_eq!(report.fuel_used.len(), 2);
    assert_eq!(report.fuel_used[0].0, "small");
    assert!(report.fuel_used[0].1 < 2_100);
    assert_eq!(report.fuel_used[1].0, "big");
    assert!(report.fuel_used[1].1 >= 10_000);
    let c = counts(&mut lua);
    assert!(c[0] > 3 * c[1], "{c:?}");
}

#[test]
fn the_watchdog_stops_a_tasklet_that_never_waits() {
    let (mut lua, host) = vm(TaskletConfig {
        budget: 1_000,
        slice: 500,
        watchdog_frames: 3,
    });
    define(&mut lua, BUSY, "=busy");
    define(&mut lua, WAITERS, "=w");
    spawn(&mut lua, "mod", "busy", &[1]);
    spawn(&mut lua, "mod", "waiter", &[1]);
    let mut failures = Vec::new();
    let mut frame_of_failure = 0;
    for _ in 0..10 {
        let r = lua.run_frame();
        if !r.failures.is_empty() && frame_of_failure == 0 {
            frame_of_failure = r.frame;
        }
        failures.extend(r.failures);
    }
    assert_eq!(failures.len(), 1, "{failures:?}");
    let f = &failures[0];
    assert_eq!(f.group, "mod");
    assert_eq!(f.id, 1);
    assert_eq!(f.name, "busy");
    assert_eq!(
        f.message,
        "tasklet exceeded its budget of 3 frames (3000 fuel units) without waiting"
    );
    // Where it was running: the loop of `busy`.
    assert_eq!(
        f.traceback,
        "stack traceback:\n\tbusy:4: in function <busy:3>"
    );
    // About 3 frames of budget, shared with the waiter.
    assert!((4..=8).contains(&frame_of_failure), "{frame_of_failure}");
    // The other tasklet went on.
    assert!(out(&host).ends_with("4\t2\tdone\n"));
    assert_eq!(lua.tasklet_count("mod"), 0);
}

const FAILING: &str = r#"local function inner(x) error("boom " .. x) end
local function mid(x) inner(x) return 1 end
function failing(x) tasklet.wait(1) mid(x) end
function survivor() for i = 1, 3 do tasklet.wait() end print("survived", tasklet.frame()) end
function bad_value() error({code = 7}) end
"#;

#[test]
fn failed_tasklets_are_reported_with_their_traceback() {
    let (mut lua, host) = vm(TaskletConfig::default());
    define(&mut lua, FAILING, "@mod.lua");
    spawn(&mut lua, "m1", "failing", &[7]);
    spawn(&mut lua, "m1", "survivor", &[]);
    spawn(&mut lua, "m2", "bad_value", &[]);
    let r1 = lua.run_frame();
    assert_eq!(r1.failures.len(), 1);
    assert_eq!(r1.failures[0].group, "m2");
    assert_eq!(r1.failures[0].message, "(error object is a table value)");
    assert_eq!(
        r1.failures[0].traceback,
        "stack traceback:\n\t[C]: in function 'error'\n\tmod.lua:5: in function <mod.lua:5>"
    );
    let r2 = lua.run_frame();
    assert_eq!(r2.failures.len(), 1);
    let f = &r2.failures[0];
    assert_eq!(
        (f.group.as_str(), f.id, f.name.as_str()),
        ("m1", 1, "failing")
    );
    assert_eq!(f.message, "mod.lua:1: boom 7");
    assert_eq!(
        f.traceback,
        "stack traceback:\n\t[C]: in function 'error'\n\tmod.lua:1: in upvalue 'inner'\n\
         \tmod.lua:2: in upvalue 'mid'\n\tmod.lua:3: in function <mod.lua:3>"
    );
    assert!(f.to_string().contains("boom 7\nstack traceback:"));
    run_frames(&mut lua, 3);
    assert_eq!(out(&host), "survived\t4\n");
}

const NESTED: &str = r#"
function nested()
  local gen = coroutine.wrap(function()
    for i = 1, 3 do
      local s = 0
      for k = 1, 2000 do s = s + k end
      coroutine.yield(s + i)
    end
  end)
  local a = gen()
  tasklet.wait()
  print(tasklet.frame(), a, gen(), gen())
  -- A wait inside coroutines the tasklet resumed passes through them: the whole chain
  -- waits, and the wait returns where it was called.
  local outer = coroutine.wrap(function(x)
    outer_co = coroutine.running()
    local inner = coroutine.wrap(function(y)
      inner_co = coroutine.running()
      local f0 = tasklet.frame()
      local ok, v = pcall(function()
        tasklet.wait(2)
        return tasklet.request("echo", y)
      end)
      coroutine.yield(tasklet.frame() - f0 >= 3, ok, v)
      return "inner done"
    end)
    local a, b, c = inner(x + 1)
    coroutine.yield(a, b, c)
    return inner()
  end)
  print(outer(41))
  print(outer())
  print(coroutine.isyieldable(), coroutine.status(coroutine.running()))
end
function observer()
  print("while waiting:", coroutine.status(outer_co), coroutine.status(inner_co),
        coroutine.resume(inner_co))
end
"#;

/// Whether global `name` is set.
fn text_has(lua: &Lua, name: &str) -> bool {
    lua.enter(|ctx| !ctx.globals().get(ctx.key(name)).is_nil())
}

#[test]
fn tasklets_use_coroutines_and_are_preempted_inside_them() {
    // A budget far smaller than the inner coroutine's loop: the tasklet is preempted while
    // the inner coroutine runs, and continues there.
    let small = TaskletConfig {
        budget: 700,
        slice: 300,
        watchdog_frames: 1_000,
    };
    let mut outputs = Vec::new();
    for config in [TaskletConfig::default(), small] {
        let (mut lua, host) = vm(config);
        define(&mut lua, NESTED, "=nested");
        spawn(&mut lua, "mod", "nested", &[]);
        let mut frames = 0;
        let mut observer = false;
        while lua.tasklet_count("mod") > 0 {
            // Answer the echo request at once.
            for r in lua.pending_requests() {
                assert!(lua
                    .complete_request(
                        r.id,
                        lua.request_payload::<lunette::Variadic<lunette::StashedValue>>(r.id)
                            .unwrap()
                            .unwrap(),
                    )
                    .unwrap());
            }
            assert!(run_frames(&mut lua, 1).is_empty());
            frames += 1;
            assert!(frames < 1_000);
            if !observer && text_has(&lua, "inner_co") {
                spawn(&mut lua, "mod", "observer", &[]);
                observer = true;
            }
        }
        let text = out(&host);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].ends_with("\t2001001\t2001002\t2001003"), "{text}");
        assert_eq!(
            &lines[1..],
            [
                "while waiting:\tnormal\tnormal\tfalse\tcannot resume non-suspended coroutine",
                "true\ttrue\t42",
                "inner done",
                "true\trunning"
            ],
            "{text}"
        );
        outputs.push((frames, lines[1..].join("\n")));
    }
    assert_eq!(outputs[0].1, outputs[1].1);
    assert!(outputs[1].0 > outputs[0].0 + 5, "{outputs:?}");
}

/// A game for the snapshot tests: tasklets that wait, use random numbers, ask the host for
/// assets (one of which fails), signal each other, and crunch numbers across frames inside
/// an inner coroutine (so they are preempted mid-work at frame ends).
const GAME: &str = r#"
math.randomseed(11)
function loader(name)
  print(tasklet.frame(), "asking", name)
  local ok, size = tasklet.request("load_asset", name)
  print(tasklet.frame(), "got", name, ok, size)
  local ok2, err = pcall(tasklet.request, "load_asset", "missing.png")
  print(tasklet.frame(), "failed", ok2, err)
  tasklet.signal("loaded", name)
end
function ticker(n)
  for i = 1, n do
    print(tasklet.frame(), "tick", i, math.random(100), tostring({}))
    tasklet.wait(1)
  end
end
function cruncher()
  local gen = coroutine.wrap(function()
    local s = 0
    for k = 1, 1e9 do
      s = (s + k * k) % 1000003
      if k % 3000 == 0 then coroutine.yield(s) end
    end
  end)
  for round = 1, 6 do
    print(tasklet.frame(), "crunched", round, gen())
  end
  -- A wait inside an inner coroutine: the chain is suspended across frames (and snapshots).
  local deep = coroutine.wrap(function(x)
    local ok, size = tasklet.request("load_asset", "deep.png")
    tasklet.wait(2)
    return x, ok, size
  end)
  print(tasklet.frame(), "deep", deep("in"))
end
function watcher()
  local what = tasklet.wait_signal("loaded")
  print(tasklet.frame(), "watcher saw", what)
end
"#;

fn game(config: TaskletConfig) -> (Lua, CaptureHost) {
    let (mut lua, host) = vm(config);
    define(&mut lua, GAME, "=game");
    spawn_loader(&mut lua);
    spawn(&mut lua, "assets", "watcher", &[]);
    spawn(&mut lua, "ticks", "ticker", &[12]);
    spawn(&mut lua, "ticks", "cruncher", &[]);
    (lua, host)
}

fn small_budget() -> TaskletConfig {
    TaskletConfig {
        budget: 20_000,
        slice: 4_000,
        watchdog_frames: 1_000,
    }
}

/// The host's side of a frame: answers requests two frames after they were issued (a pure
/// function of what the VM holds, so every peer and every re-simulation does the same),
/// then runs the frame. Returns the frame's output.
fn host_frame(lua: &mut Lua, host: &CaptureHost) -> String {
    let frame_now = lua.enter(lunette_stdlib_frame);
    for r in lua.pending_requests() {
        if r.frame + 2 <= frame_now {
            let name = lua.request_payload::<String>(r.id).unwrap().unwrap();
            if name == "missing.png" {
                assert!(lua
                    .fail_request(r.id, "no such asset: missing.png")
                    .unwrap());
            } else {
                let size = name.len() as i64 * 100;
                assert!(lua
                    .complete_request_with(r.id, |_ctx| {
                        vec![lunette::Value::Boolean(true), lunette::Value::Integer(size)]
                    })
                    .unwrap());
            }
        }
    }
    let report = lua.run_frame();
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    out(host)
}

/// The number of the last frame run.
fn lunette_stdlib_frame(ctx: lunette::Context<'_>) -> i64 {
    lunette::stdlib::tasklet::scheduler(ctx)
        .get(ctx.key("frame"))
        .as_integer_strict()
        .unwrap()
}

fn spawn_loader(lua: &mut Lua) {
    let (f, arg) = lua.enter(|ctx| {
        (
            ctx.stash(ctx.globals().get(ctx.key("loader"))),
            ctx.stash(ctx.str("ogre.png")),
        )
    });
    lua.spawn_tasklet("assets", "loader2", &f, arg).unwrap();
}

#[test]
fn requests_complete_frames_later_across_snaps_and_rollbacks() {
    let (mut lua, host) = game(small_budget());
    let mut outputs = Vec::new();
    let mut sums = Vec::new();
    for _ in 0..14 {
        lua.snap().expect("snap while requests are pending");
        outputs.push(host_frame(&mut lua, &host));
        sums.push(lua.checksum().expect("checksum while requests are pending"));
        if outputs.len() == 2 {
            assert_eq!(lua.pending_requests().len(), 1);
            // Polling changes nothing.
            assert_eq!(lua.checksum().unwrap(), sums[1]);
        }
    }
    let all = outputs.concat();
    assert!(all.contains("4\tgot\togre.png\ttrue\t800\n"), "{all}");
    assert!(
        all.contains("7\tfailed\tfalse\tno such asset: missing.png\n"),
        "{all}"
    );
    assert!(all.contains("8\twatcher saw\togre.png\n"), "{all}");
    assert!(all.contains("crunched\t6"), "{all}");
    assert!(all.contains("\tdeep\tin\ttrue\t800\n"), "{all}");
    // Back 3 frames, re-simulate: same outputs, same checksums.
    for back in [3, 1, 5] {
        lua.rollback(back).unwrap();
        let from = outputs.len() - back;
        for f in from..outputs.len() {
            // (The snapshot rolled back to stays in the ring: it is frame `from`'s.)
            if f > from {
                lua.snap().unwrap();
            }
            assert_eq!(host_frame(&mut lua, &host), outputs[f], "frame {}", f + 1);
            assert_eq!(lua.checksum().unwrap(), sums[f], "frame {}", f + 1);
        }
    }
}

#[test]
fn a_rollback_removes_requests_issued_after_the_restored_point() {
    let (mut lua, host) = game(small_budget());
    lua.snap().unwrap();
    host_frame(&mut lua, &host); // frame 1: the loader asks
    let pending = lua.pending_requests();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].kind, "load_asset");
    assert_eq!(pending[0].group, "assets");
    assert_eq!(pending[0].frame, 1);
    let id = pending[0].id;
    lua.rollback(1).unwrap();
    assert!(lua.pending_requests().is_empty());
    // Unknown now: ignored.
    assert!(!lua.complete_request(id, ()).unwrap());
    assert!(!lua.fail_request(id, "late").unwrap());
    // The re-simulation issues the same id.
    host_frame(&mut lua, &host);
    assert_eq!(lua.pending_requests()[0].id, id);
    assert!(lua.complete_request(id, ()).unwrap());
    assert!(!lua.complete_request(id, ()).unwrap());
}

#[test]
fn an_owned_snapshot_restored_into_a_fresh_vm_continues_the_scheduler() {
    let (mut lua, host) = game(small_budget());
    let mut outputs = Vec::new();
    let mut sums = Vec::new();
    let mut snapshot = None;
    for f in 0..14 {
        if f == 4 {
            // Mid-game: requests pending, the cruncher preempted inside its coroutine.
            snapshot = Some(lua.snapshot().expect("snapshot while requests are pending"));
        }
        outputs.push(host_frame(&mut lua, &host));
        sums.push(lua.checksum().unwrap());
    }
    let snapshot = snapshot.unwrap();
    let host2 = CaptureHost::new();
    let mut fresh = Lua::with_host(Rc::new(host2.clone()));
    fresh.restore(&snapshot).unwrap();
    for f in 4..14 {
        assert_eq!(
            host_frame(&mut fresh, &host2),
            outputs[f],
            "frame {}",
            f + 1
        );
        assert_eq!(fresh.checksum().unwrap(), sums[f], "frame {}", f + 1);
    }
}

#[test]
fn results_do_not_depend_on_the_budget_when_it_suffices() {
    // Tasklets that wait every frame: the same outputs and the same state whatever the
    // budget and slice, as long as each frame's work fits.
    let configs = [
        TaskletConfig::default(),
        TaskletConfig {
            budget: 50_000,
            slice: 50,
            watchdog_frames: 1_000,
        },
        TaskletConfig {
            budget: 1_000_000,
            slice: 1_000_000,
            watchdog_frames: 2,
        },
    ];
    let mut runs = Vec::new();
    for config in configs {
        let (mut lua, host) = vm(config);
        define(&mut lua, GAME, "=game");
        define(&mut lua, SIGNALS, "=s");
        spawn(&mut lua, "ticks", "ticker", &[6]);
        spawn(&mut lua, "ticks", "ticker", &[4]);
        spawn(&mut lua, "s", "listener", &[1]);
        spawn(&mut lua, "s", "sender", &[]);
        let mut frames = Vec::new();
        for _ in 0..8 {
            assert!(lua.run_frame().failures.is_empty());
            frames.push(out(&host));
        }
        // (The configuration is VM state too: compare the tasklets' own state.)
        let state = lua
            .execute(b"return math.random(1 << 40)", "=probe")
            .unwrap();
        runs.push((frames, state));
    }
    assert_eq!(runs[0], runs[1]);
    assert_eq!(runs[0], runs[2]);
}

const CROWD: &str = r#"
done_count = 0
function sleeper()
  tasklet.wait(1)
  done_count = done_count + 1
end
"#;

#[test]
fn many_tasklets_woken_at_once_run_within_the_budget() {
    // Waking costs nothing until the tasklets run, and every turn costs budget: a crowd
    // woken in one frame is spread over frames.
    let (mut lua, _host) = vm(TaskletConfig {
        budget: 2_000,
        slice: 500,
        watchdog_frames: 10,
    });
    define(&mut lua, CROWD, "=crowd");
    for _ in 0..1_000 {
        spawn(&mut lua, "mod", "sleeper", &[]);
    }
    let mut frames = 0;
    while lua.tasklet_count("mod") > 0 {
        let r = lua.run_frame();
        assert!(r.failures.is_empty());
        assert!(r.fuel_used[0].1 <= 2_000 + 500, "{:?}", r.fuel_used);
        frames += 1;
        assert!(frames < 200);
    }
    assert!(frames > 10, "{frames}");
    assert_eq!(lua.execute(b"return done_count", "=n").unwrap(), ["1000"]);
}

const ROGUE: &str = r#"
victim_co = nil
function victim()
  victim_co = coroutine.running()
  local v = tasklet.wait_signal("wake")
  print("victim woke with", v)
  for i = 1, 1e9 do end
end
function rogue()
  tasklet.wait(1)
  -- A waiting tasklet's coroutine is suspended, but resuming it does not wake it.
  print("rogue resume", coroutine.resume(victim_co, "fake"))
  tasklet.signal("wake", "real")
  tasklet.wait(2)
  -- Preempted by its budget: status normal, cannot be resumed or closed by Lua.
  print(coroutine.status(victim_co), coroutine.resume(victim_co))
  print(pcall(coroutine.close, victim_co))
end
"#;

#[test]
fn lua_code_cannot_drive_a_tasklet_coroutine() {
    let (mut lua, host) = vm(TaskletConfig {
        budget: 5_000,
        slice: 5_000,
        watchdog_frames: 1_000,
    });
    define(&mut lua, ROGUE, "=rogue");
    spawn(&mut lua, "mod", "victim", &[]);
    spawn(&mut lua, "mod", "rogue", &[]);
    assert!(run_frames(&mut lua, 6).is_empty());
    assert_eq!(
        out(&host),
        "rogue resume\ttrue\nvictim woke with\treal\n\
         normal\tfalse\tcannot resume non-suspended coroutine\n\
         false\tcannot close a normal coroutine\n"
    );
}

const DEEP_SPIN: &str = r#"
function deep(depth)
  local function nest(d)
    if d == 0 then
      local x = 0
      while true do x = x + 1 end
    end
    local co = coroutine.create(nest)
    coroutine.resume(co, d - 1)
  end
  nest(depth)
end
"#;

#[test]
fn a_chain_preempted_again_and_again_does_not_grow() {
    // A tasklet spinning 30 coroutines deep, preempted every 100 units: each turn re-enters
    // the chain and detaches it again, leaving it exactly as it was.
    let (mut lua, _host) = vm(TaskletConfig {
        budget: 10_000,
        slice: 100,
        watchdog_frames: 1_000_000,
    });
    define(&mut lua, DEEP_SPIN, "=deep");
    spawn(&mut lua, "mod", "deep", &[30]);
    let mut sizes = Vec::new();
    for _ in 0..3 {
        assert!(run_frames(&mut lua, 20).is_empty());
        lua.gc_collect();
        sizes.push(lua.memory_used());
    }
    // (A chain that grew would keep about 3 MB more per 20 frames here; the run queue
    // table alone varies by a few hundred KB.)
    assert!(sizes[2] < sizes[1] + (1 << 20), "{sizes:?}");
    assert_eq!(lua.tasklet_count("mod"), 1);
}

const BOMB: &str = r#"
function bomb()
  while true do tasklet.spawn(bomb) end
end
"#;

#[test]
fn a_spawn_bomb_stays_within_budget_and_memory() {
    let (mut lua, _host) = vm(TaskletConfig {
        budget: 10_000,
        slice: 1_000,
        watchdog_frames: 3,
    });
    lua.set_memory_limit(Some(8 << 20));
    define(&mut lua, BOMB, "=bomb");
    spawn(&mut lua, "mod", "bomb", &[]);
    let mut failures = 0;
    for _ in 0..60 {
        let r = lua.run_frame();
        failures += r.failures.len();
        for f in &r.failures {
            assert!(
                f.message.contains("not enough memory")
                    || f.message.contains("exceeded its budget"),
                "{f}"
            );
        }
        // The budget plus at most one slice, one collection and a turn's overhead.
        assert!(
            r.fuel_used[0].1 <= 10_000 + 1_000 + 10_000 + 64,
            "{:?}",
            r.fuel_used
        );
        assert!(lua.memory_used() <= 9 << 20, "{}", lua.memory_used());
    }
    assert!(failures > 0);
    lua.checksum().expect("the VM is still whole");
}

#[test]
fn a_coroutine_can_be_spawned_as_a_tasklet() {
    let (mut lua, host) = vm(TaskletConfig::default());
    define(
        &mut lua,
        r#"
        fresh = coroutine.create(function(a, b)
          print("fresh", a, b)
          tasklet.wait()
          print("fresh again", tasklet.frame())
        end)
        started = coroutine.create(function()
          local x = coroutine.yield("first")
          print("started got", x)
          tasklet.wait(2)
          print("started again", tasklet.frame())
        end)
        print(coroutine.resume(started))
        print(pcall(tasklet.wait_signal, 0/0))
        "#,
        "=co",
    );
    assert_eq!(
        out(&host),
        "true\tfirst\nfalse\tbad argument #1 to 'tasklet.wait_signal' (signal name is NaN)\n"
    );
    let (fresh, started, a, b) = lua.enter(|ctx| {
        let g = ctx.globals();
        (
            ctx.stash(g.get(ctx.key("fresh"))),
            ctx.stash(g.get(ctx.key("started"))),
            ctx.stash(lunette::Value::Integer(1)),
            ctx.stash(ctx.str("two")),
        )
    });
    lua.spawn_tasklet("mod", "fresh", &fresh, (a.clone(), b))
        .unwrap();
    lua.spawn_tasklet("mod", "started", &started, a).unwrap();
    // A coroutine that is a tasklet already cannot be spawned again.
    let err = lua.spawn_tasklet("mod", "again", &fresh, ()).unwrap_err();
    assert_eq!(err.message, "the coroutine is already a tasklet");
    assert!(run_frames(&mut lua, 1).is_empty());
    let failures = run_frames(&mut lua, 4);
    assert_eq!(
        out(&host),
        "fresh\t1\ttwo\nstarted got\t1\nfresh again\t2\nstarted again\t3\n"
    );
    assert!(failures.is_empty(), "{failures:?}");
    // Finished: a dead coroutine cannot be spawned.
    let err = lua.spawn_tasklet("mod", "dead", &fresh, ()).unwrap_err();
    assert_eq!(err.message, "cannot spawn a non-suspended coroutine");
}

#[test]
fn a_tasklet_waiting_for_a_future_outside_the_vm_ends_its_turn() {
    // A step that ends early without a collection to wait for (here: a sequence waiting for
    // a future only the host can complete) costs the turn as a collection does: the frame
    // ends with the group's budget spent, the future polled once a turn. (That the scheduler
    // does not step such a turn again and again for a unit each, collecting between, shows
    // in time, not in any count a test can read.)
    let (mut lua, _) = vm(TaskletConfig::default());
    let polls = Rc::new(std::cell::Cell::new(0u32));
    let counter = polls.clone();
    lua.enter(|ctx| {
        let never = lunette::vm::async_callback(ctx, "never", move |_seq| {
            let counter = counter.clone();
            Box::pin(async move {
                std::future::poll_fn(|_| {
                    counter.set(counter.get() + 1);
                    std::task::Poll::<()>::Pending
                })
                .await;
                Ok(vec![])
            })
        });
        ctx.globals()
            .set(ctx, ctx.str("never"), lunette::Value::Callback(never))
            .unwrap();
    });
    define(&mut lua, "function f() never() end", "=f");
    spawn(&mut lua, "mod", "f", &[]);
    for _ in 0..3 {
        polls.set(0);
        let report = lua.run_frame();
        assert!(report.failures.is_empty(), "{:?}", report.failures);
        // (10,000 units a poll out of the group's 100,000.)
        assert!(polls.get() <= 12, "polled {} times in a frame", polls.get());
        assert!(report.fuel_used[0].1 >= 100_000, "{:?}", report.fuel_used);
    }
}
