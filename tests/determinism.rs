//! Issue #12: rollback never changes what a script sees. Taking snapshots, rolling back,
//! restoring into a fresh VM, the host's step sizes and the host's read-only calls (a
//! `render` that starts an executor to read state, stashed handles, host `load`s) must not
//! change any value a script can observe (`tostring` of new objects, `%p`,
//! `collectgarbage("count")`) nor the checksum.
//!
//! A small SyncTest-like harness: the same frames run in a reference VM (frames only, whole
//! steps) and in a VM with host machinery interleaved; every frame's output and the checksum
//! after it must be equal.

mod common;
use common::Lcg;

use std::rc::Rc;

use lunette::{CaptureHost, ExecResult, Executor, Fuel, Lua, Value};

/// A game whose every frame reports what a script can see of identities and memory.
const GAME: &str = r##"
math.randomseed(3)
world = {entities = {}, tick = 0, grid = {}}
-- A big array: the ring saves the pages a frame writes (a sweep: the whole array).
for i = 1, 4096 do world.grid[i] = 0 end
local serial = 0

-- What a frame can observe of identities and memory (all of it must be deterministic).
local function observe()
  local t = {}
  local f = function() return t end
  local co = coroutine.create(function() end)
  return tostring(t) .. " " .. tostring(f) .. " " .. tostring(co) .. " "
    .. string.format("%p", {}) .. " " .. tostring(coroutine.running()) .. " "
    .. string.format("%.0f", collectgarbage("count") * 1024)
end

function frame(input)
  world.tick = world.tick + 1
  serial = serial + 1
  local e = {id = serial, x = math.random(1, 100), tag = "e" .. serial}
  world.entities[#world.entities + 1] = e
  if #world.entities > 20 then table.remove(world.entities, 1) end
  if input % 7 == 0 then collectgarbage() end
  local grid = world.grid
  grid[serial * 97 % 4096 + 1] = serial
  grid[input * 41 % 4096 + 1] = input
  if input % 13 == 0 then
    for i = 1, #grid do grid[i] = grid[i] + 1 end
  end
  local sum = grid[serial * 97 % 4096 + 1] + grid[1] + grid[4096]
  for _, v in ipairs(world.entities) do sum = sum + v.x end
  return world.tick .. "|" .. sum .. "|" .. observe()
end

-- Read-only: touches no state the frames see (it allocates nothing either).
function render()
  local n = 0
  for _, v in ipairs(world.entities) do n = n + v.x end
  return n
end
"##;

fn vm() -> (Lua, CaptureHost) {
    let host = CaptureHost::new();
    let mut lua = Lua::with_host(Rc::new(host.clone()));
    lua.execute(GAME.as_bytes(), "=game").expect("game loads");
    (lua, host)
}

/// Calls global `name` with `args` in steps of `fuel` and returns its first result as text.
fn call(lua: &mut Lua, name: &str, args: &[i64], fuel: i64) -> String {
    let exec = lua.enter(|ctx| {
        let f = ctx.globals().get(ctx.str(name));
        let args: Vec<Value> = args.iter().map(|&i| Value::Integer(i)).collect();
        ctx.stash_executor(Executor::start(ctx, f, &args))
    });
    while !lua.step(&exec, &mut Fuel::new(fuel)).is_done() {}
    lua.enter(|ctx| match ctx.fetch_executor(&exec).unwrap().result() {
        Some(ExecResult::Returned(v)) => {
            lunette::vm::display_plain(v.first().copied().unwrap_or(Value::Nil))
        }
        Some(ExecResult::Errored { value, traceback }) => {
            panic!("{name}: {}\n{traceback}", lunette::vm::display_plain(value))
        }
        None => unreachable!(),
    })
}

fn frame(lua: &mut Lua, input: i64, fuel: i64) -> String {
    call(lua, "frame", &[input], fuel)
}

fn render(lua: &mut Lua) {
    call(lua, "render", &[], 1000);
}

/// The reference: frames only, big steps. `(output, checksum)` per frame.
fn reference(frames: usize) -> Vec<(String, u64)> {
    let (mut lua, _) = vm();
    (0..frames)
        .map(|i| {
            let out = frame(&mut lua, input(i), 1_000_000);
            (out, lua.checksum().unwrap())
        })
        .collect()
}

fn input(i: usize) -> i64 {
    (i as i64 * 37 + 11) % 100
}

#[test]
fn a_host_render_between_frames_changes_no_identity_or_count() {
    let want = reference(30);
    let (mut lua, _) = vm();
    for (i, (out, sum)) in want.iter().enumerate() {
        // The host renders (reads state through an executor) before every other frame.
        if i % 2 == 1 {
            render(&mut lua);
        }
        assert_eq!(&frame(&mut lua, input(i), 1_000_000), out, "frame {i}");
        assert_eq!(lua.checksum().unwrap(), *sum, "checksum after frame {i}");
    }
}

#[test]
fn host_loads_and_stashes_change_no_identity_count_or_checksum() {
    let want = reference(12);
    let (mut lua, _) = vm();
    let mut keep = Vec::new();
    for (i, (out, sum)) in want.iter().enumerate() {
        // A host-loaded reader chunk, run and kept; stashes of script objects.
        let chunk = lua.load(b"return world.tick", "=reader").unwrap();
        let exec = lua.enter(|ctx| {
            let f = ctx.fetch(&chunk).unwrap();
            ctx.stash_executor(Executor::start(ctx, f, &[]))
        });
        lua.finish(&exec).unwrap();
        keep.push(chunk);
        keep.push(lua.enter(|ctx| ctx.stash(ctx.globals().get(ctx.str("world")))));
        assert_eq!(&frame(&mut lua, input(i), 1_000_000), out, "frame {i}");
        assert_eq!(lua.checksum().unwrap(), *sum, "checksum after frame {i}");
    }
}

/// Starts `frame(input)` without stepping it.
fn start_frame(lua: &mut Lua, input: i64) -> lunette::StashedExecutor {
    lua.enter(|ctx| {
        let f = ctx.globals().get(ctx.str("frame"));
        ctx.stash_executor(Executor::start(ctx, f, &[Value::Integer(input)]))
    })
}

fn finish_output(lua: &mut Lua, exec: &lunette::StashedExecutor, fuel: i64) -> String {
    while !lua.step(exec, &mut Fuel::new(fuel)).is_done() {}
    lua.enter(|ctx| match ctx.fetch_executor(exec).unwrap().result() {
        Some(ExecResult::Returned(v)) => lunette::vm::display_plain(v[0]),
        _ => panic!("frame failed"),
    })
}

#[test]
fn count_is_exact_after_restoring_between_start_and_first_step() {
    let want = reference(8);
    // Owned snapshot restored into the same VM (the executor handle follows).
    let (mut lua, _) = vm();
    for (i, (out, sum)) in want.iter().enumerate() {
        let exec = start_frame(&mut lua, input(i));
        let snap = lua.snapshot().unwrap();
        lua.restore(&snap).unwrap();
        assert_eq!(
            &finish_output(&mut lua, &exec, 1_000_000),
            out,
            "owned, frame {i}"
        );
        assert_eq!(
            lua.checksum().unwrap(),
            *sum,
            "owned, checksum after frame {i}"
        );
    }
    // Ring rollback to between start and first step, after running the frame once.
    let (mut lua, _) = vm();
    for (i, (out, sum)) in want.iter().enumerate() {
        let exec = start_frame(&mut lua, input(i));
        lua.snap().unwrap();
        assert_eq!(
            &finish_output(&mut lua, &exec, 1_000_000),
            out,
            "ring first run {i}"
        );
        lua.rollback(1).unwrap();
        assert_eq!(
            &finish_output(&mut lua, &exec, 1_000_000),
            out,
            "ring rerun {i}"
        );
        assert_eq!(
            lua.checksum().unwrap(),
            *sum,
            "ring, checksum after frame {i}"
        );
    }
}

/// The SyncTest: one VM runs the frames with renders, ring snapshots and rollbacks (with
/// re-simulation), owned snapshots restored in place and into a fresh VM, mid-frame
/// snapshots, and random step sizes; every frame's output and checksum must be the
/// reference's.
#[test]
fn synctest_with_every_kind_of_host_interference() {
    const FRAMES: usize = 120;
    let want = reference(FRAMES);
    let (mut lua, _) = vm();
    let mut rng = Lcg(12);
    let mut held: Vec<usize> = Vec::new(); // the frame each ring snapshot starts
    let mut f = 0;
    let mut rollbacks = 0;
    while f < FRAMES {
        match rng.next() % 9 {
            0 => render(&mut lua),
            1 => {
                // A ring snapshot at the start of this frame.
                lua.snap().unwrap();
                held.push(f);
                if held.len() > lunette::vm::lua::DEFAULT_MAX_SNAPSHOTS {
                    held.remove(0);
                }
            }
            2 => {
                // An owned snapshot restored in place, or in a fresh VM that carries on.
                let snap = lua.snapshot().unwrap();
                if rng.next().is_multiple_of(2) {
                    lua.restore(&snap).unwrap();
                } else {
                    let (mut fresh, _) = vm();
                    fresh.restore(&snap).unwrap();
                    lua = fresh;
                }
                held.clear(); // a restore empties the ring
            }
            _ => {}
        }
        let fuel = [1, 7, 150, 10_000, 1_000_000][(rng.next() % 5) as usize];
        let out = if rng.next().is_multiple_of(6) {
            // Snapshot mid-frame (or between start and first step), run to the end, restore
            // the middle and run to the end again.
            let exec = start_frame(&mut lua, input(f));
            for _ in 0..rng.next() % 3 {
                lua.step(&exec, &mut Fuel::new(50)).is_done();
            }
            let mid = lua.snapshot().unwrap();
            let first = finish_output(&mut lua, &exec, fuel);
            lua.restore(&mid).unwrap();
            held.clear();
            let again = finish_output(&mut lua, &exec, fuel);
            assert_eq!(first, again, "frame {f} run twice from the middle");
            again
        } else {
            frame(&mut lua, input(f), fuel)
        };
        assert_eq!(out, want[f].0, "frame {f}");
        assert_eq!(
            lua.checksum().unwrap(),
            want[f].1,
            "checksum after frame {f}"
        );
        f += 1;
        if !held.is_empty() && rollbacks < 40 && rng.next().is_multiple_of(4) {
            let n = 1 + (rng.next() as usize % held.len());
            lua.rollback(n).unwrap();
            held.truncate(held.len() - (n - 1));
            f = *held.last().unwrap();
            rollbacks += 1;
        }
    }
    assert!(rollbacks >= 10, "{rollbacks} rollbacks");
}

#[test]
fn handles_to_host_objects_follow_rollbacks_and_restores() {
    let (mut lua, _) = vm();
    let before = lua.load(b"return 'before'", "=before").unwrap();
    let exec = start_frame(&mut lua, input(0));
    let snap = lua.snapshot().unwrap();
    lua.snap().unwrap();
    let after = lua.load(b"return 'after'", "=after").unwrap();
    // A second handle, taken after the snapshots, to an executor that existed at them.
    let exec2 = lua.enter(|ctx| ctx.stash_executor(ctx.fetch_executor(&exec).unwrap()));
    lua.rollback(1).unwrap();
    assert!(!before.is_stale() && !exec.is_stale() && !exec2.is_stale());
    assert!(after.is_stale(), "a host object created after the snapshot");
    let after = lua.load(b"return 'after'", "=after").unwrap();
    let exec3 = lua.enter(|ctx| ctx.stash_executor(ctx.fetch_executor(&exec).unwrap()));
    lua.restore(&snap).unwrap();
    assert!(!before.is_stale() && !exec2.is_stale() && !exec3.is_stale());
    assert!(after.is_stale());
    assert_eq!(
        finish_output(&mut lua, &exec3, 100),
        reference(1)[0].0,
        "the restored executor, through a handle taken after the snapshot"
    );
    let run = |lua: &mut Lua, chunk: &lunette::StashedValue| {
        let e = lua.enter(|ctx| {
            let f = ctx.fetch(chunk).unwrap();
            ctx.stash_executor(Executor::start(ctx, f, &[]))
        });
        finish_output(lua, &e, 100)
    };
    assert_eq!(run(&mut lua, &before), "before");
}

#[test]
fn a_script_sees_a_host_object_id_only_once_it_looks_and_keeps_it() {
    let (mut lua, _) = vm();
    let chunk = lua
        .load(
            b"local me = tostring(coroutine.running()) return me .. ' ' .. tostring(coroutine.running()) .. ' ' .. tostring({})",
            "=looks",
        )
        .unwrap();
    let run = |lua: &mut Lua| {
        let e = lua.enter(|ctx| {
            let f = ctx.fetch(&chunk).unwrap();
            ctx.stash_executor(Executor::start(ctx, f, &[]))
        });
        finish_output(lua, &e, 100)
    };
    lua.snap().unwrap();
    let first = run(&mut lua);
    let parts: Vec<&str> = first.split(' ').collect();
    // Same object, same id; the thread got its id when looked at, before the table.
    assert_eq!(parts[1], parts[3], "{first}");
    let id = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap();
    assert_eq!(id(parts[5]), id(parts[1]) + 1, "{first}");
    lua.rollback(1).unwrap();
    assert_eq!(
        run(&mut lua),
        first,
        "the look is rolled back with the counter"
    );
}

/// Each frame replaces a big table: the ring keeps the old ones alive.
const BIG_FRAME: &[u8] =
    b"big = {} for j = 1, 30000 do big[j] = j end local t = {} for j = 1, 100000 do t[j] = j end";

#[test]
fn snapshots_size_counts_what_only_the_ring_keeps_alive() {
    let (mut lua, _) = vm();
    lua.set_max_snapshots(4);
    for _ in 0..6 {
        lua.snap().unwrap();
        lua.execute(BIG_FRAME, "=frame").unwrap();
    }
    lua.gc_collect();
    // Three old `big` tables (30000 slots of 16 bytes) are held by the ring alone (the 4th
    // snapshot's `big` is the live one, or the one the oldest log saved).
    let size = lua.snapshots_size_bytes();
    assert!(size >= 3 * 30000 * 16, "ring size {size}");
    // And they are outside what the script counts.
    let count: f64 = lua
        .execute(b"return collectgarbage('count')", "=c")
        .unwrap()[0]
        .parse()
        .unwrap();
    assert!(
        ((count * 1024.0) as usize) < lua.memory_used() - 3 * 30000 * 16,
        "count {count} KiB, used {}",
        lua.memory_used()
    );
    lua.set_max_snapshots(1);
    assert!(
        lua.snapshots_size_bytes() < size / 2,
        "dropped snapshots are not counted"
    );
}

/// Issue #12 item 4: the limit's verdict does not count what only the snapshot ring keeps
/// alive (the old states are the host's budget): frames that fit without snapshots fit with
/// a snapshot before each, and a frame that does not fit still fails.
#[test]
fn the_memory_limit_does_not_count_what_only_the_ring_keeps() {
    let (mut lua, _) = vm();
    lua.set_memory_limit(Some(6 << 20));
    for i in 0..20 {
        lua.snap().unwrap();
        if let Err(e) = lua.execute(BIG_FRAME, "=frame") {
            panic!("frame {i}: {e}");
        }
    }
    assert!(
        lua.snapshots_size_bytes() > 6 << 20,
        "the ring holds more than the limit"
    );
    lua.snap().unwrap();
    let e = lua
        .execute(b"local t = {} for i = 1, 1e6 do t[i] = i end", "=too big")
        .unwrap_err();
    assert!(e.to_string().contains("not enough memory"), "{e}");
}

/// What a script's weak table still holds is the script's, even when only the ring holds
/// it strongly: until a full collection clears the entry, the script can take it back
/// (`big = weak[1]`), and the collector keeps it. So the limit counts it: a frame refused
/// without snapshots is refused with them. (When the ring's allowance counted it, the
/// snapshot let the frame through.)
#[test]
fn what_a_weak_table_holds_is_not_the_ring_s() {
    const SETUP: &[u8] = br#"
        collectgarbage("stop")
        function fill(n) local t = {} for i = 1, n do t[i] = i end return t end
        weak = setmetatable({}, {__mode = "v"})
        big = fill(250000)
        weak[1] = big
    "#;
    const FRAME: &[u8] = br#"
        big = nil
        local ok, e = pcall(fill, 100000)
        return tostring(ok) .. " " .. tostring(e) .. " " .. #weak[1]
    "#;
    let run = |snap: bool| {
        let (mut lua, _) = vm();
        lua.set_memory_limit(Some(6 << 20));
        lua.execute(SETUP, "=setup").unwrap();
        if snap {
            lua.snap().unwrap();
        }
        lua.execute(FRAME, "=frame").unwrap().join(" ")
    };
    let plain = run(false);
    assert!(plain.starts_with("false not enough memory"), "{plain}");
    assert_eq!(run(true), plain);
}

/// Collections the memory limit asks for free memory but change nothing a script sees: weak
/// entries, finalizers and `collectgarbage("count")` move only at full collections
/// (`collectgarbage()`, the host's `gc_collect`), whose points the script's history decides.
/// Here frames make 3 MiB of garbage each under a 6 MiB limit, so the limit collects in most
/// frames; a weak table, a finalizer and the count must read the same as in a VM with no limit.
/// (Automatic collections are stopped here: they are tested below.)
#[test]
fn the_limit_s_collections_change_no_weak_table_finalizer_or_count() {
    const SETUP: &[u8] = br#"
        collectgarbage("stop")
        weak = setmetatable({}, {__mode = "k"})
        weak[{}] = "dead key"
        finalized = 0
        setmetatable({}, {__gc = function() finalized = finalized + 1 end})
        function frame(i)
            for _ = 1, 3 do local g = ("x"):rep(1 << 20) .. i end
            return string.format("%d %s %d %.0f", i, tostring(next(weak) ~= nil), finalized,
                collectgarbage("count"))
        end
    "#;
    let run = |limit: Option<usize>, fuel: i64| {
        let (mut lua, _) = vm();
        lua.set_memory_limit(limit);
        lua.execute(SETUP, "=setup").unwrap();
        (0..12)
            .map(|i| call(&mut lua, "frame", &[i], fuel))
            .collect::<Vec<_>>()
    };
    let free = run(None, 1_000_000);
    assert!(free[0].starts_with("0 true 0 "), "{}", free[0]);
    assert_eq!(run(Some(6 << 20), 1_000_000), free);
    assert_eq!(run(Some(6 << 20), 997), free);
}

/// A frame paused mid-step moves to a fresh VM (a late joiner): the snapshot carries the
/// executor, the joiner finds it by id, and both VMs finish the frame with the same output
/// and checksum as the reference, frame after frame.
#[test]
fn a_frame_paused_mid_step_continues_in_a_fresh_vm() {
    let want = reference(12);
    let (mut lua, _) = vm();
    for (i, (out, sum)) in want.iter().enumerate() {
        let exec = start_frame(&mut lua, input(i));
        // Pause the frame part way (at a point that varies with the frame).
        for _ in 0..(i % 4 + 1) {
            assert!(!lua.step(&exec, &mut Fuel::new(7)).is_done());
        }
        let snapshot = lua.snapshot().unwrap();
        let (mut joiner, _) = vm();
        joiner.restore(&snapshot).unwrap();
        let moved = joiner
            .restored_executor(exec.id())
            .expect("the paused executor comes with the snapshot");
        assert!(joiner.restored_executor(exec.id()).is_none(), "taken once");
        assert_eq!(
            &finish_output(&mut joiner, &moved, 100),
            out,
            "joiner, frame {i}"
        );
        assert_eq!(
            joiner.checksum().unwrap(),
            *sum,
            "joiner, checksum after frame {i}"
        );
        assert_eq!(
            &finish_output(&mut lua, &exec, 10_000),
            out,
            "source, frame {i}"
        );
        assert_eq!(
            lua.checksum().unwrap(),
            *sum,
            "source, checksum after frame {i}"
        );
    }
}

/// Automatic full collections (due when the script's byte count has grown by the pause) land
/// at the same instruction whatever the step sizes, the memory limit's own collections, and
/// snapshots with rollbacks: weak entries, finalizers and the count read the same.
#[test]
fn automatic_collections_land_at_the_same_point_in_every_run() {
    const SETUP: &[u8] = br#"
        log = {}
        cache = setmetatable({}, {__mode = "v"})
        function frame(i)
            for j = 1, 40 do
                local t = {i, j, ("y"):rep(2000) .. j}
                cache[#cache + 1] = t
                if j % 7 == 0 then
                    setmetatable({}, {__gc = function() log[#log + 1] = i .. "." .. j end})
                end
            end
            local live = 0
            for _ in pairs(cache) do live = live + 1 end
            return string.format("%d live=%d finalized=%d last=%s count=%.0f", i, live, #log,
                tostring(log[#log]), collectgarbage("count"))
        end
    "#;
    let run = |limit: Option<usize>, fuel: i64, snaps: bool| {
        let (mut lua, _) = vm();
        lua.set_memory_limit(limit);
        lua.execute(SETUP, "=setup").unwrap();
        let mut out = Vec::new();
        for i in 0..40 {
            if snaps {
                // Every frame runs twice: once, then again after a rollback with other steps.
                lua.snap().unwrap();
                let first = call(&mut lua, "frame", &[i], fuel);
                lua.rollback(1).unwrap();
                let again = call(&mut lua, "frame", &[i], 13);
                assert_eq!(again, first, "frame {i} re-simulated with other steps");
                out.push(first);
            } else {
                out.push(call(&mut lua, "frame", &[i], fuel));
            }
        }
        out
    };
    let reference = run(None, 1_000_000, false);
    // Collections did happen: weak entries went and finalizers ran.
    let last = reference.last().unwrap();
    assert!(!last.contains("live=1600 "), "{last}");
    assert!(!last.contains("finalized=0 "), "{last}");
    assert_eq!(run(None, 7, false), reference);
    assert_eq!(run(Some(8 << 20), 997, false), reference);
    assert_eq!(run(None, 1_000, true), reference);
}

/// The collector's schedule is part of the checksum: two VMs that differ only in whether
/// automatic collections run (which decides when weak entries clear) have different sums.
#[test]
fn the_checksum_covers_the_collector_schedule() {
    let (mut a, _) = vm();
    let (mut b, _) = vm();
    assert_eq!(a.checksum().unwrap(), b.checksum().unwrap());
    b.execute(b"collectgarbage('stop')", "=stop").unwrap();
    assert_ne!(a.checksum().unwrap(), b.checksum().unwrap());
    a.execute(b"collectgarbage('stop')", "=stop").unwrap();
    assert_eq!(a.checksum().unwrap(), b.checksum().unwrap());
}

/// A rollback can make what only the ring kept alive live again: the limit's allowance for
/// the ring must not lend those bytes to the script (found by review: the plain run ran out
/// of memory, the same history with a snapshot and a rollback did not).
#[test]
fn a_rollback_does_not_lend_the_ring_allowance_to_the_script() {
    const LIMIT: usize = 48 << 20;
    let with_collections = || {
        let host = CaptureHost {
            grants: lunette::Grants {
                full_collections: true,
                ..lunette::Grants::default()
            },
            ..CaptureHost::default()
        };
        let mut lua = Lua::with_host(Rc::new(host));
        lua.set_memory_limit(Some(LIMIT));
        lua
    };
    let build_t = b"collectgarbage('stop') T = {} for i = 1, 2000000 do T[i] = i end";
    let build_u = b"U = {} for i = 1, 1000000 do U[i] = i end";
    let mut plain = with_collections();
    plain.execute(build_t, "=t").unwrap();
    let plain_result = plain.execute(build_u, "=u").map(|_| ());
    let mut rolled = with_collections();
    rolled.execute(build_t, "=t").unwrap();
    rolled.snap().unwrap();
    // T is only the ring's after this collection (the allowance measures it)...
    rolled
        .execute(b"T = nil collectgarbage()", "=drop")
        .unwrap();
    // ...and live again after the rollback.
    rolled.rollback(1).unwrap();
    let rolled_result = rolled.execute(build_u, "=u").map(|_| ());
    assert_eq!(
        plain_result.is_ok(),
        rolled_result.is_ok(),
        "plain: {plain_result:?}, after rollback: {rolled_result:?}"
    );
    assert!(plain_result.is_err(), "the test needs U not to fit");
}

/// The count of nested C-level calls ("C stack overflow" at PUC's depth) is derived from the
/// frames: a recursion through metamethods and Rust functions, moved to a fresh VM or rolled
/// back at any point, overflows at the same level with the same fuel as a straight run.
#[test]
fn c_stack_overflow_lands_at_the_same_level_after_restores_and_rollbacks() {
    const SCRIPT: &str = r#"
        local n = 0
        local mt = {}
        mt.__index = function(t, k) n = n + 1; return tostring(t[k]) end
        mt.__tostring = function(x) n = n + 1; return x.y end
        local ok, e = pcall(function() return setmetatable({}, mt).x end)
        print(ok, e, n)
    "#;
    let start = || {
        let host = CaptureHost::new();
        let mut lua = Lua::with_host(Rc::new(host.clone()));
        let f = lua.load(SCRIPT.as_bytes(), "=c").expect("compiles");
        let exec = lua.enter(|ctx| {
            let f = ctx.fetch(&f).unwrap();
            ctx.stash_executor(lunette::Executor::start(ctx, f, &[]))
        });
        (lua, host, exec)
    };
    let run_to_end = |lua: &mut Lua, exec: &lunette::StashedExecutor| {
        let mut used = 0;
        loop {
            let mut fuel = Fuel::new(40);
            let done = lua.step(exec, &mut fuel).is_done();
            used += 40 - fuel.remaining();
            if done {
                return used;
            }
        }
    };
    let (mut lua, host, exec) = start();
    let total = run_to_end(&mut lua, &exec);
    let want = String::from_utf8(host.take_stdout()).unwrap();
    assert!(
        want.starts_with("false\tc:4: C stack overflow\t1"),
        "{want}"
    );
    for at in [1, 3, 7, 12, 20] {
        // Moved to a fresh VM after `at` steps.
        let (mut lua, host, exec) = start();
        let mut used = 0;
        for _ in 0..at {
            let mut fuel = Fuel::new(40);
            assert!(!lua.step(&exec, &mut fuel).is_done());
            used += 40 - fuel.remaining();
        }
        let bytes = lua.snapshot().unwrap().to_bytes().unwrap();
        let (mut fresh, fresh_host, _) = start();
        let snapshot = fresh.snapshot_from_bytes(&bytes).unwrap();
        fresh.restore(&snapshot).unwrap();
        let moved = fresh.restored_executor(exec.id()).expect("executor");
        assert_eq!(
            used + run_to_end(&mut fresh, &moved),
            total,
            "moved at {at}"
        );
        assert_eq!(
            String::from_utf8(host.take_stdout()).unwrap()
                + &String::from_utf8(fresh_host.take_stdout()).unwrap(),
            want,
            "moved at {at}"
        );
        // Rolled back to that point from further on.
        let (mut lua, host, exec) = start();
        for _ in 0..at {
            lua.step(&exec, &mut Fuel::new(40));
        }
        lua.snap().unwrap();
        for _ in 0..at {
            lua.step(&exec, &mut Fuel::new(40));
        }
        // (What it printed past the snapshot is the host's: only the rerun is checked.)
        host.take_stdout();
        lua.rollback(1).unwrap();
        run_to_end(&mut lua, &exec);
        assert_eq!(
            String::from_utf8(host.take_stdout()).unwrap(),
            want,
            "rolled back at {at}"
        );
    }
}

/// A full collection counts each reachable string once, however many references it has
/// (the logical mark writes its number into each string it reaches), and a second mark
/// right after counts the same: marks do not see each other's numbers.
#[test]
fn a_full_collection_counts_a_shared_string_once() {
    let count_with = |tables: &str| -> f64 {
        let mut lua = Lua::new();
        let script = format!(
            "big = string.rep('x', 100000)
             {tables}
             collectgarbage()
             local first = collectgarbage('count')
             collectgarbage()
             assert(collectgarbage('count') == first, 'a second mark counts alike')
             return first"
        );
        lua.eval::<f64>(&script).unwrap()
    };
    // 1,000 tables holding the 100 KB string, against 1,000 tables holding a number: the
    // string counts once in both (it is a global), so the two counts are near each other,
    // not 100 MB apart.
    let shared = count_with("t = {} for i = 1, 1000 do t[i] = {v = big} end");
    let plain = count_with("t = {} for i = 1, 1000 do t[i] = {v = i} end");
    assert!(
        (shared - plain).abs() < 8.0,
        "shared {shared} KiB, plain {plain} KiB"
    );
    assert!(shared > 100.0, "the string counts: {shared} KiB");
}

/// Builtins that work in pieces pause at step boundaries when the fuel runs out, so where
/// (and whether) they pause depends on the host's step sizes. What they keep while paused
/// (`Context::new_pause_table`) must change no object id, no `collectgarbage("count")` and
/// no checksum: each call below, run in steps of 1, 97 and a trillion units, reads the same.
#[test]
fn builtins_that_pause_change_no_id_count_or_checksum() {
    const CALLS: &[&str] = &[
        "local g = ('x'):rep(5000, ','):gsub(',', ';')",
        "local g = ('x'):rep(5000, ','):gsub(',', function(c) return c .. c end)",
        "local s = ('x'):rep(5000, ',') local t = {} for i = 1, 100 do t[i] = s end
         local f = string.format(('%s'):rep(100), table.unpack(t))",
        "local n = select('#', ('x'):rep(50000):byte(1, -1))",
        "local n = ('x'):rep(500000, ','):find('y')",
        "local n = ('x'):rep(500000, ','):find('x,x,y', 1, true)",
        "local n = ('x'):rep(500000, ','):match('(x,)+y')",
        "local n = 0 for a in ('x'):rep(50000, ','):gmatch('x') do n = n + 1 end",
        "local n = select('#', utf8.codepoint(('\\u{e9}'):rep(50000), 1, -1))",
        "local t = {} for i = 1, 3000 do t[i] = i end
         local n = select('#', string.unpack(('i4'):rep(3000), string.pack(('i4'):rep(3000), table.unpack(t))))",
        "local t = {} for i = 1, 100000 do t[i] = i end local n = select('#', table.unpack(t))",
        "local t = {} for i = 1, 20000 do t[i] = (i * 7919) % 1000 end
         table.sort(t, function(a, b) return a < b end)",
        "local f = load(('local a = 1 '):rep(20000))",
        "local t = {} for i = 1, 20000 do t[i] = i end local s = table.concat(t, ',')",
        "local s = ('ab'):rep(200000) local u = s .. 1 .. s",
        "local u = ('ab'):rep(200000):rep(3, ',') local g = table.concat({u, u}, ';')",
        "local u = ('aB'):rep(200000):upper():sub(3, -3):reverse():lower()",
    ];
    for code in CALLS {
        let body = format!(
            "function probe() {code} return tostring({{}}) .. ' ' .. collectgarbage('count') end"
        );
        let reads: Vec<(String, u64)> = [1, 97, 1_000_000_000_000]
            .iter()
            .map(|&fuel| {
                let mut lua = Lua::with_host(Rc::new(CaptureHost::new()));
                lua.execute(body.as_bytes(), "=probe").unwrap();
                lua.checksum().unwrap();
                let read = call(&mut lua, "probe", &[], fuel);
                (read, lua.checksum().unwrap())
            })
            .collect();
        assert!(
            reads.iter().all(|r| *r == reads[0]),
            "{code}: {reads:?} (steps of 1, 97, 10^12)"
        );
    }
}

/// A full collection of a big heap is marked in slices, one per `Lua::step`, while the
/// scripts wait: what it decides (weak entries, ephemerons, finalizers, `count`, ids, the
/// checksum) is what one mark at that point decides, whatever the step sizes and whether a
/// host handle is dropped while it is marked (the handles are read when it starts). Host
/// reads between the steps finish the mark at once, and snapshots and rollbacks in the
/// middle of it too, but the scripts still wait for the same steps: a render (which a
/// rollback's re-simulation skips) never changes at which step a frame goes on.
#[test]
fn a_full_collection_marked_in_slices_decides_as_one_mark() {
    let reference = run_sliced_collection_frames(1_000_000_000, Interference::None, false);
    // The collections decided something: the chain lived while the host held its head,
    // finalizers ran.
    assert_has(&reference.out[2], "live=300 ");
    assert_has(&reference.out[3], "live=0 ");
    assert_lacks(&reference.out[5], "finalized=0 ");
    let sliced = run_sliced_collection_frames(1, Interference::None, false);
    assert_eq!(
        sliced.sliced, 6,
        "every frame's collection took more than one step"
    );
    assert_eq!(sliced.out, reference.out);
    for interference in [
        Interference::Reads,
        Interference::RenderCalls,
        Interference::SnapAndRollback,
        Interference::MoveToFreshVm,
        Interference::MoveThroughBytes,
    ] {
        let r = run_sliced_collection_frames(1, interference, false);
        assert_eq!(r.out, reference.out, "{interference:?}");
        assert_eq!(r.steps, sliced.steps, "{interference:?}: steps per frame");
    }
    assert_eq!(
        run_sliced_collection_frames(97, Interference::None, false).out,
        reference.out
    );
}

/// The host's `request_full_collection` between frames decides what `gc_collect` there
/// does, marked in slices by the next frame's first steps.
#[test]
fn a_host_requested_collection_decides_as_gc_collect_there() {
    let reference = run_sliced_collection_frames(1_000_000_000, Interference::None, true);
    // (The frame's own 200 entries live until the next collection.)
    assert_has(&reference.out[2], "live=500 ");
    assert_has(&reference.out[3], "live=200 ");
    let sliced = run_sliced_collection_frames(1, Interference::None, true);
    assert_eq!(
        sliced.sliced, 5,
        "every collection (before frames 1 to 5) took more than one step"
    );
    assert_eq!(sliced.out, reference.out);
    let read = run_sliced_collection_frames(1, Interference::Reads, true);
    assert_eq!((read.out, read.steps), (sliced.out, sliced.steps));
}

fn assert_has(frame: &(String, u64), want: &str) {
    assert!(frame.0.contains(want), "{frame:?} lacks {want:?}");
}

fn assert_lacks(frame: &(String, u64), unwanted: &str) {
    assert!(!frame.0.contains(unwanted), "{frame:?} has {unwanted:?}");
}

/// A VM whose scripts may ask for full collections (`collectgarbage()`).
fn vm_with_full_collections() -> Lua {
    let host = CaptureHost {
        grants: lunette::Grants {
            full_collections: true,
            ..lunette::Grants::default()
        },
        ..CaptureHost::default()
    };
    Lua::with_host(Rc::new(host))
}

/// What the host does while a frame's collection is marked (see
/// `run_sliced_collection_frames`).
#[derive(Clone, Copy, Debug)]
enum Interference {
    None,
    /// A read of the VM (`enter`) after every step.
    Reads,
    /// A call of a Lua function (its own executor, stepped) after every step.
    RenderCalls,
    /// At frame 3's first step that spends no fuel: `snap`, three more steps, `rollback(1)`
    /// (those three are not counted).
    SnapAndRollback,
    /// At frame 4's first step that spends no fuel: an owned snapshot restored into a fresh
    /// VM, where the frame goes on.
    MoveToFreshVm,
    /// The same, the snapshot written as bytes and read back by the fresh VM.
    MoveThroughBytes,
}

struct SlicedRun {
    /// Each frame's output and the checksum after it.
    out: Vec<(String, u64)>,
    /// Each frame's steps.
    steps: Vec<usize>,
    /// How many frames had a step that spent no fuel (a slice of a collection).
    sliced: usize,
}

/// Six frames of a game with a big heap, a weak-keyed table (with an ephemeron chain whose
/// head only the host holds, until frame 2) and finalizers, each ending with a full
/// collection: the script's `collectgarbage()`, or with `host_collects` the host's (before
/// frames 1 to 5: `gc_collect` with big steps, `request_full_collection` with small ones).
/// Steps of `fuel`; the handle to the chain's head is dropped at the first step of frame 2
/// that spends no fuel (a slice of the collection), or after frame 2 with big steps.
fn run_sliced_collection_frames(
    fuel: i64,
    interference: Interference,
    host_collects: bool,
) -> SlicedRun {
    const SETUP: &[u8] = br#"
        keep = {}
        for i = 1, 30000 do keep[i] = {i} end
        weak = setmetatable({}, {__mode = "k"})
        log = {}
        -- An ephemeron chain whose head only the host holds (see `held`).
        local head = {}
        local k = head
        for i = 1, 300 do local n = {} weak[k] = n k = n end
        function held() local h = head head = nil return h end
        function render() return #log end
        function frame(i)
            for j = 1, 200 do
                local t = {i, j}
                weak[t] = {j}
                if j % 50 == 0 then
                    setmetatable(t, {__gc = function() log[#log + 1] = i .. "." .. j end})
                end
                keep[(i * 200 + j) % 30000 + 1] = {j}
            end
            if not host_collects then collectgarbage() end
            local live = 0
            for _ in pairs(weak) do live = live + 1 end
            return string.format("%d live=%d finalized=%d last=%s count=%.0f %s", i, live,
                #log, tostring(log[#log]), collectgarbage("count"), tostring({}))
        end
    "#;
    let big_steps = fuel >= 1_000_000;
    let fresh_vm = vm_with_full_collections;
    let mut lua = fresh_vm();
    lua.execute(SETUP, "=setup").unwrap();
    lua.set_global("host_collects", host_collects).unwrap();
    let mut head = Some(
        lua.call_global::<lunette::StashedValue>("held", ())
            .unwrap(),
    );
    let mut run = SlicedRun {
        out: Vec::new(),
        steps: Vec::new(),
        sliced: 0,
    };
    for i in 0..6 {
        let mut exec = lua.enter(|ctx| {
            let f = ctx.globals().get(ctx.str("frame"));
            ctx.stash_executor(Executor::start(ctx, f, &[Value::Integer(i)]))
        });
        if host_collects && i > 0 {
            if big_steps {
                lua.gc_collect();
            } else {
                lua.request_full_collection();
            }
        }
        let mut seen_slice = false;
        let mut steps = 0;
        loop {
            let mut f = Fuel::new(fuel);
            steps += 1;
            if lua.step(&exec, &mut f).is_done() {
                break;
            }
            if f.remaining() == fuel && !seen_slice {
                seen_slice = true;
                run.sliced += 1;
                if i == 2 {
                    head = None;
                }
                if i == 3 && matches!(interference, Interference::SnapAndRollback) {
                    lua.snap().unwrap();
                    for _ in 0..3 {
                        lua.step(&exec, &mut Fuel::new(fuel));
                    }
                    lua.rollback(1).unwrap();
                }
                let moves = matches!(
                    interference,
                    Interference::MoveToFreshVm | Interference::MoveThroughBytes
                );
                if i == 4 && moves {
                    let mut snapshot = lua.snapshot().unwrap();
                    let mut joiner = fresh_vm();
                    if matches!(interference, Interference::MoveThroughBytes) {
                        let bytes = snapshot.to_bytes().unwrap();
                        snapshot = joiner.snapshot_from_bytes(&bytes).unwrap();
                    }
                    joiner.restore(&snapshot).unwrap();
                    exec = joiner.restored_executor(exec.id()).unwrap();
                    lua = joiner;
                }
            }
            if matches!(interference, Interference::Reads) {
                lua.enter(|_| ());
            }
            if matches!(interference, Interference::RenderCalls) {
                let _: i64 = lua.call_global("render", ()).unwrap();
            }
        }
        if big_steps && i == 2 {
            head = None;
        }
        run.out.push((
            lua.results::<String>(&exec).unwrap(),
            lua.checksum().unwrap(),
        ));
        run.steps.push(steps);
    }
    drop(head);
    run
}

/// Queued finalizers wait for the executors that were running when their collection started:
/// executors started after it (here one, and one it steps from inside its Rust callback) do
/// not run them, so a host's call between steps never changes where those executors' steps
/// end.
#[test]
fn finalizers_wait_for_their_executors_even_from_a_nested_step() {
    let mut lua = vm_with_full_collections();
    // `nested(name)` steps a fresh executor running the global function `name` to its end,
    // inside the caller's step.
    let nested = lua.create_function("nested", |ctx, name: String| {
        let f = ctx.globals().get(ctx.str(&name));
        let e = Executor::start(ctx, f, &[]);
        while !e.step(ctx, &mut Fuel::new(1_000)) {}
        Ok(())
    });
    lua.set_global("nested", &nested).unwrap();
    lua.exec(
        "log = {}
         setmetatable({}, {__gc = function() log[#log + 1] = 'finalized' end})",
    )
    .unwrap();
    // A running executor (it waits at a yield-free pause point: a long loop in steps).
    let waiter = lua
        .chunk("for i = 1, 30000 do end return #log")
        .start(())
        .unwrap();
    assert_eq!(
        lua.step(&waiter, &mut Fuel::new(10)),
        lunette::StepStatus::OutOfFuel
    );
    // The collection queues the finalizer; `waiter` was running: the finalizer is its.
    lua.gc_collect();
    // Another executor, started after it, calls `nested`: neither runs the finalizer.
    let other: i64 = lua
        .eval("function peek() seen = #log end nested('peek') return seen + #log")
        .unwrap();
    assert_eq!(other, 0);
    // `waiter` runs it at its next step, before the rest of its loop.
    while !lua.step(&waiter, &mut Fuel::new(1_000)).is_done() {}
    assert_eq!(lua.results::<i64>(&waiter).unwrap(), 1);
}

/// `gsub` with a replacement function keeps its progress in a typed resumable state
/// (resumed in place after each call): paused between or inside calls, its state moves with
/// an owned snapshot (through bytes) into a fresh VM and back with a ring rollback, and the
/// result, the calls the function saw, the ids and the checksum are those of a straight run.
#[test]
fn a_gsub_calling_lua_resumes_after_snapshots_restores_and_rollbacks() {
    const SUBST: &str = r#"
        function subst()
          local seen, ids = 0, {}
          local text = ("ab,cd;"):rep(3000)
          local out, n = text:gsub("(%a)(%a)", function(x, y)
            seen = seen + 1
            if seen % 1000 == 0 then ids[#ids + 1] = tostring({}) end
            if y == "d" then return nil end
            return y .. x .. seen
          end)
          local t = setmetatable({}, {__index = function(_, k) return k:upper() end})
          local up, m = out:gsub("%a%a", t)
          return #out .. " " .. n .. " " .. seen .. " " .. out:sub(1, 24) .. " "
            .. out:sub(-12) .. " " .. up:sub(1, 12) .. " " .. m .. " " .. table.concat(ids, ",")
        end
    "#;
    let vm = || {
        let mut lua = Lua::with_host(Rc::new(CaptureHost::new()));
        lua.execute(SUBST.as_bytes(), "=subst").unwrap();
        lua.checksum().unwrap();
        lua
    };
    let start = |lua: &mut Lua| {
        lua.enter(|ctx| {
            let f = ctx.globals().get(ctx.str("subst"));
            ctx.stash_executor(Executor::start(ctx, f, &[]))
        })
    };
    let result = |lua: &mut Lua, exec: &lunette::StashedExecutor| {
        while !lua.step(exec, &mut Fuel::new(50)).is_done() {}
        lua.enter(|ctx| match ctx.fetch_executor(exec).unwrap().result() {
            Some(ExecResult::Returned(v)) => lunette::vm::display_plain(v[0]),
            other => panic!("{:?}", other.map(|_| "error")),
        })
    };
    let mut straight = vm();
    let want = call(&mut straight, "subst", &[], i64::MAX / 4);
    let sum = straight.checksum().unwrap();
    assert!(
        want.starts_with(
            "29445 6000 6000 ba1,cd;ba3,cd;ba5,cd;ba7 d;ba5999,cd; BA1,CD;BA3,C 6000 "
        ),
        "{want}"
    );
    for k in [3usize, 40, 400] {
        // Into a fresh VM through bytes, mid-substitution.
        let mut lua = vm();
        let exec = start(&mut lua);
        for _ in 0..k {
            assert!(!lua.step(&exec, &mut Fuel::new(50)).is_done());
        }
        let bytes = lua.snapshot().unwrap().to_bytes().unwrap();
        let mut joiner = vm();
        let snapshot = joiner.snapshot_from_bytes(&bytes).unwrap();
        joiner.restore(&snapshot).unwrap();
        let moved = joiner.restored_executor(exec.id()).unwrap();
        assert_eq!(result(&mut joiner, &moved), want, "joiner after {k} steps");
        assert_eq!(joiner.checksum().unwrap(), sum, "joiner after {k} steps");
        // Back with the ring, mid-substitution, after running on past the snap.
        lua.snap().unwrap();
        for _ in 0..25 {
            lua.step(&exec, &mut Fuel::new(50));
        }
        lua.rollback(1).unwrap();
        assert_eq!(result(&mut lua, &exec), want, "rolled back after {k} steps");
        assert_eq!(lua.checksum().unwrap(), sum, "rolled back after {k} steps");
    }
}
