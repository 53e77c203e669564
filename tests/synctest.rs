//! Issue #12's SyncTest: a game with tasklets, finalizers, a weak table and a memory limit it
//! runs close to, played frame by frame while the host interferes in every way it may (reads
//! between frames, ring snapshots every frame or at random, rollbacks of 1 to 8 frames, owned
//! snapshots restored in place and into fresh VMs, snapshots taken in the middle of a frame
//! and finished in a fresh VM, step sizes from 1 to 10,000 units of fuel). Every frame's
//! output and checksum must equal those of a plain run.

mod common;
use common::Lcg;

use std::rc::Rc;

use lunette::{CaptureHost, ExecResult, Executor, Fuel, Lua, TaskletConfig, Value};

/// The memory limit: the game keeps about 1.5 MiB live and makes about 600 KiB of garbage
/// a frame, so the limit's collections come every few frames.
const LIMIT: usize = 3 << 20;

const GAME: &str = r##"
math.randomseed(7)
world = {tick = 0, entities = {}, gclog = {}, log = {}, keep = {}}
-- Entities by weak key: an entry goes when its entity is dropped and a collection runs.
world.seen = setmetatable({}, {__mode = "k"})
local serial = 0

-- A tasklet: wakes every other frame, notes the scheduler's frame.
function ticker()
  while true do
    world.log[#world.log + 1] = tasklet.frame()
    if #world.log > 8 then table.remove(world.log, 1) end
    tasklet.wait(2)
  end
end

-- A live base that keeps the heap near the limit.
for i = 1, 40 do world.keep[i] = string.rep(string.char(64 + i % 26), 30000) end

local function observe()
  local n = 0
  for _ in pairs(world.seen) do n = n + 1 end
  return #world.gclog .. " " .. n .. " " .. tostring({}) .. " "
    .. string.format("%.0f", collectgarbage("count") * 1024)
end

function frame(input)
  world.tick = world.tick + 1
  serial = serial + 1
  -- Garbage: a 256 KiB block replaced every frame, and a table of 20,000 slots.
  world.block = string.rep("b", 262144 - input)
  local t = {}
  for j = 1, 20000 do t[j] = j end
  -- One finalized object per frame: its finalizer logs the frame it was made in.
  local made = serial
  setmetatable({}, {__gc = function() world.gclog[#world.gclog + 1] = made end})
  local e = {id = serial, x = math.random(1, 100)}
  world.entities[#world.entities + 1] = e
  world.seen[e] = serial
  if #world.entities > 6 then table.remove(world.entities, 1) end
  if input % 11 == 0 then collectgarbage() end
  local sum = 0
  for _, v in ipairs(world.entities) do sum = sum + v.x end
  return world.tick .. "|" .. sum .. "|" .. table.concat(world.log, ",") .. "|"
    .. #t .. "|" .. observe()
end

-- Read-only: what a renderer would do between frames.
function render()
  local n = 0
  for _, v in ipairs(world.entities) do n = n + v.x end
  return n
end
"##;

/// A VM the game can run in: tasklets open, the memory limit set. `with_game` runs the
/// game's setup (a fresh VM that is about to restore a snapshot does not need it).
fn vm(with_game: bool) -> Lua {
    let mut lua = Lua::with_host(Rc::new(CaptureHost::new()));
    lua.open_tasklets(TaskletConfig::default());
    lua.set_memory_limit(Some(LIMIT));
    if with_game {
        lua.execute(GAME.as_bytes(), "=game").expect("game loads");
        let ticker = lua.enter(|ctx| ctx.stash(ctx.globals().get(ctx.key("ticker"))));
        lua.spawn_tasklet("game", "ticker", &ticker, ())
            .expect("the tasklet starts");
    }
    lua
}

fn start(lua: &mut Lua, name: &str, args: &[i64]) -> lunette::StashedExecutor {
    lua.enter(|ctx| {
        let f = ctx.globals().get(ctx.str(name));
        let args: Vec<Value> = args.iter().map(|&i| Value::Integer(i)).collect();
        ctx.stash_executor(Executor::start(ctx, f, &args))
    })
}

/// Steps `exec` to its end in steps of `fuel`; its first result as text.
fn finish(lua: &mut Lua, exec: &lunette::StashedExecutor, fuel: i64) -> String {
    while !lua.step(exec, &mut Fuel::new(fuel)).is_done() {}
    lua.enter(|ctx| match ctx.fetch_executor(exec).unwrap().result() {
        Some(ExecResult::Returned(v)) => {
            lunette::vm::display_plain(v.first().copied().unwrap_or(Value::Nil))
        }
        Some(ExecResult::Errored { value, traceback }) => {
            panic!("{}\n{traceback}", lunette::vm::display_plain(value))
        }
        None => unreachable!(),
    })
}

/// The tasklets' part of a frame, then its checksum.
fn end_frame(lua: &mut Lua) -> u64 {
    let report = lua.run_frame();
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    lua.checksum().unwrap()
}

fn input(f: usize) -> i64 {
    (f as i64 * 29 + 3) % 100
}

/// The reference: frames only, in one step each. `(output, checksum)` per frame.
fn reference(frames: usize) -> Vec<(String, u64)> {
    let mut lua = vm(true);
    (0..frames)
        .map(|f| {
            let exec = start(&mut lua, "frame", &[input(f)]);
            let out = finish(&mut lua, &exec, 1 << 40);
            (out, end_frame(&mut lua))
        })
        .collect()
}

/// Plays `frames` frames with the host's interference (`snap_every_frame`: a ring snapshot
/// before each frame, as a rollback session takes them) and checks each frame against
/// `want`. Returns the number of rollbacks.
fn play(want: &[(String, u64)], seed: u64, snap_every_frame: bool) -> usize {
    let mut lua = vm(true);
    let mut rng = Lcg(seed);
    let mut held: Vec<usize> = Vec::new(); // the frame each ring snapshot starts
    let mut f = 0;
    let mut rollbacks = 0;
    let mut late_joins = 0;
    while f < want.len() {
        let snap_now = snap_every_frame || rng.next().is_multiple_of(4);
        if snap_now {
            lua.snap().unwrap();
            held.push(f);
            if held.len() > lunette::vm::lua::DEFAULT_MAX_SNAPSHOTS {
                held.remove(0);
            }
        }
        match rng.next() % 8 {
            0 | 1 => {
                let exec = start(&mut lua, "render", &[]);
                finish(&mut lua, &exec, 1000);
            }
            2 => {
                // An owned snapshot restored in place, or into a fresh VM that carries on.
                let snap = lua.snapshot().unwrap();
                if rng.next().is_multiple_of(2) {
                    lua.restore(&snap).unwrap();
                } else {
                    lua = vm(false);
                    lua.restore(&snap).unwrap();
                }
                held.clear(); // a restore empties the ring
            }
            _ => {}
        }
        let fuel = [1, 2, 7, 100, 10_000][(rng.next() % 5) as usize];
        let out = if rng.next().is_multiple_of(5) {
            // A snapshot in the middle of the frame, moved to a fresh VM (a late joiner)
            // through bytes, which finishes the frame there and plays on.
            let exec = start(&mut lua, "frame", &[input(f)]);
            for _ in 0..rng.next() % 200 {
                lua.step(&exec, &mut Fuel::new(fuel));
            }
            let bytes = lua.snapshot().unwrap().to_bytes().unwrap();
            let id = exec.id();
            let mut joiner = vm(false);
            let snap = joiner.snapshot_from_bytes(&bytes).unwrap();
            joiner.restore(&snap).unwrap();
            let exec = joiner.restored_executor(id).unwrap();
            lua = joiner;
            held.clear();
            late_joins += 1;
            finish(&mut lua, &exec, fuel)
        } else {
            let exec = start(&mut lua, "frame", &[input(f)]);
            finish(&mut lua, &exec, fuel)
        };
        assert_eq!(out, want[f].0, "frame {f} (seed {seed})");
        assert_eq!(end_frame(&mut lua), want[f].1, "checksum after frame {f}");
        f += 1;
        if !held.is_empty() && rollbacks < 30 && rng.next().is_multiple_of(3) {
            let n = 1 + (rng.next() as usize % held.len().min(8));
            lua.rollback(n).unwrap();
            held.truncate(held.len() - (n - 1));
            f = *held.last().unwrap();
            rollbacks += 1;
        }
    }
    assert!(late_joins >= 3, "{late_joins} late joins");
    rollbacks
}

#[test]
fn the_game_plays_alike_whatever_the_host_does() {
    let want = reference(60);
    // The game is what the test says it is: finalizers ran, the weak table lost entries,
    // the tasklet ran, and the limit's collections came (the garbage alone is 36 MiB).
    let last = &want[59].0;
    let fields: Vec<&str> = last.split(&['|', ' '][..]).collect();
    // (Fields: tick, sum, tasklet frames, #t, #gclog, weak entries, the table's id, count.)
    assert!(
        fields[4].parse::<usize>().unwrap() > 10,
        "finalizers ran: {last}"
    );
    assert!(
        fields[5].parse::<usize>().unwrap() < 60,
        "weak entries went: {last}"
    );
    assert!(!fields[2].is_empty(), "the tasklet ran: {last}");
    for seed in [1, 2] {
        assert!(play(&want, seed, false) >= 5);
    }
}

#[test]
fn the_game_plays_alike_with_a_ring_snapshot_every_frame() {
    let want = reference(60);
    for seed in [3, 4] {
        assert!(play(&want, seed, true) >= 5);
    }
}

const WORKERS: &str = r##"
keep = {}
for i = 1, 40 do keep[i] = string.rep("k", 30000) end
log = {}
function worker(name)
  local i = 0
  while true do
    i = i + 1
    local junk = string.rep(name, 150000 + i % 7)
    log[#log + 1] = name .. i .. ":" .. #junk
    if #log > 40 then table.remove(log, 1) end
    if i % 25 == 0 then tasklet.wait(1) end
  end
end
function look() return table.concat(log, ",") .. "|" .. collectgarbage("count") * 1024 end
"##;

fn workers_vm() -> Lua {
    let mut lua = Lua::with_host(Rc::new(CaptureHost::new()));
    lua.open_tasklets(TaskletConfig {
        budget: 30_000,
        slice: 1_500,
        ..TaskletConfig::default()
    });
    lua.set_memory_limit(Some(LIMIT));
    lua.execute(WORKERS.as_bytes(), "=workers")
        .expect("workers load");
    for name in ["a", "b"] {
        let f = lua.enter(|ctx| ctx.stash(ctx.globals().get(ctx.key("worker"))));
        let arg = lua.enter(|ctx| ctx.stash(ctx.str(name)));
        lua.spawn_tasklet("workers", name, &f, lunette::Variadic(vec![arg]))
            .expect("spawns");
    }
    lua
}

fn workers_frame(lua: &mut Lua) -> (String, u64) {
    let report = lua.run_frame();
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    let exec = start(lua, "look", &[]);
    (finish(lua, &exec, 1 << 40), lua.checksum().unwrap())
}

/// Tasklets preempted in the middle of their loops, allocating near the memory limit: where
/// each turn ends must not depend on the ring (which keeps old garbage alive) or on restores.
#[test]
fn tasklets_near_the_memory_limit_are_preempted_alike() {
    const FRAMES: usize = 40;
    let mut lua = workers_vm();
    let want: Vec<(String, u64)> = (0..FRAMES).map(|_| workers_frame(&mut lua)).collect();
    let mut lua = workers_vm();
    let mut rng = Lcg(9);
    let mut held: Vec<usize> = Vec::new();
    let mut f = 0;
    let mut rollbacks = 0;
    while f < FRAMES {
        lua.snap().unwrap();
        held.push(f);
        if held.len() > lunette::vm::lua::DEFAULT_MAX_SNAPSHOTS {
            held.remove(0);
        }
        if rng.next().is_multiple_of(7) {
            let snap = lua.snapshot().unwrap();
            let mut fresh = Lua::with_host(Rc::new(CaptureHost::new()));
            fresh.open_tasklets(TaskletConfig::default());
            fresh.set_memory_limit(Some(LIMIT));
            fresh.restore(&snap).unwrap();
            lua = fresh;
            held.clear();
        }
        let got = workers_frame(&mut lua);
        assert_eq!(got, want[f], "frame {f}");
        f += 1;
        if held.len() > 1 && rollbacks < 15 && rng.next().is_multiple_of(3) {
            let n = 1 + (rng.next() as usize % held.len().min(8));
            lua.rollback(n).unwrap();
            held.truncate(held.len() - (n - 1));
            f = *held.last().unwrap();
            rollbacks += 1;
        }
    }
    assert!(rollbacks >= 5, "{rollbacks} rollbacks");
}
