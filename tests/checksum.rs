//! The incremental checksum (`Lua::checksum`): kept up to date as the VM runs, it must give
//! the values a full recomputation gives, whatever the host does between and inside frames
//! (checksums mid-step, ring snapshots and rollbacks, owned snapshots restored elsewhere).
//!
//! The game below touches every path: tables made and dropped every frame, entities replaced,
//! closures and their upvalues written, a big array part stored into (hashed by pages; its
//! head and its chunks, one of them saved whole by a sweep) and grown into a new chunk, a
//! weak table, coroutines, and automatic collections (a small pause).

use std::rc::Rc;

use lunette::vm::{Executor, Value};
use lunette::{CaptureHost, Fuel, Lua};

const GAME: &str = r##"
collectgarbage("setpause", 110)
big = {} for i = 1, 8190 do big[i] = i end
ents = {}
weak = setmetatable({}, {__mode = "k"})
local count = 0
local function counter() local n = 0 return function() n = n + 1 return n end end
function frame(x)
  big[(x * 7) % 8190 + 1] = {x}
  big[(x * 1013) % 8190 + 1] = "s" .. x
  if x % 5 == 0 then for i = 5000, 7000, 50 do big[i] = x end end
  for i = 1, 20 do local t = {i, x, tostring(i)} end
  ents[x % 10 + 1] = {x = x, f = counter()}
  ents[1].f()
  local e = ents[(x + 3) % 10 + 1]
  if e then weak[e] = x end
  if x % 11 == 0 then big[#big + 1] = x end
  local co = coroutine.wrap(function(a) local b = coroutine.yield(a) return b end)
  co(x)
  count = count + 1
  local s = 0
  for i = 1, 200 do s = s + i end
  return count + s
end
"##;

fn vm() -> Lua {
    let mut lua = Lua::with_host(Rc::new(CaptureHost::new()));
    lua.execute(GAME.as_bytes(), "=game").expect("game loads");
    lua
}

/// Runs `frame(x)` in steps of `fuel`, calling `between` after each unfinished step.
fn frame_with(lua: &mut Lua, x: i64, fuel: i64, mut between: impl FnMut(&mut Lua)) {
    let exec = lua.enter(|ctx| {
        let f = ctx.globals().get(ctx.str("frame"));
        ctx.stash_executor(Executor::start(ctx, f, &[Value::Integer(x)]))
    });
    while !lua.step(&exec, &mut Fuel::new(fuel)).is_done() {
        between(lua);
    }
    if let Err(e) = lua.finish(&exec) {
        panic!("frame: {e}")
    }
}

fn frame(lua: &mut Lua, x: i64) {
    frame_with(lua, x, 1_000_000, |_| {});
}

/// Right after a full collection, L is what the script reaches: a VM that tracked its
/// checksum through 60 frames of churn gives what a VM with the same history computes
/// from scratch (its first checksum, a walk). Before the collection they differ: the
/// tracked one still counts the garbage made since the last collection.
#[test]
fn after_a_full_collection_the_tracked_checksum_is_a_full_recomputation() {
    let mut tracked = vm();
    tracked.checksum().unwrap();
    let mut fresh = vm();
    for x in 0..60 {
        frame(&mut tracked, x);
        tracked.checksum().unwrap();
        frame(&mut fresh, x);
    }
    let before = tracked.checksum().unwrap();
    tracked.gc_collect();
    fresh.gc_collect();
    let fresh_value = fresh.checksum().unwrap();
    assert_eq!(tracked.checksum().unwrap(), fresh_value);
    assert_ne!(
        before, fresh_value,
        "garbage of L counts until a collection"
    );
    // And they stay together from there.
    for x in 60..80 {
        frame(&mut tracked, x);
        frame(&mut fresh, x);
        assert_eq!(
            tracked.checksum().unwrap(),
            fresh.checksum().unwrap(),
            "frame {x}"
        );
    }
}

/// Per-frame checksums of a VM that runs frames in one step and checksums after each.
fn reference(frames: i64) -> Vec<u64> {
    let mut lua = vm();
    lua.checksum().unwrap();
    (0..frames)
        .map(|x| {
            frame(&mut lua, x);
            lua.checksum().unwrap()
        })
        .collect()
}

/// Checksums taken between the steps of a frame (the journal then sees writes of one ring
/// epoch in several ticks), snaps every frame and 30 rollbacks of 1 to 5 frames: every
/// frame's checksum is the reference's.
#[test]
fn checksums_mid_step_snaps_and_rollbacks_change_no_value() {
    let sums = reference(50);
    let mut lua = vm();
    lua.checksum().unwrap();
    let mut held: Vec<i64> = Vec::new();
    let mut x = 0;
    let mut rollbacks = 0;
    let mut turn = 0u64;
    while x < 50 {
        if held.last() != Some(&x) {
            lua.snap().unwrap();
            held.push(x);
            if held.len() > lunette::vm::lua::DEFAULT_MAX_SNAPSHOTS {
                held.remove(0);
            }
        }
        let fuel = [5, 40, 1_000_000][(turn % 3) as usize];
        frame_with(&mut lua, x, fuel, |lua| {
            lua.checksum().unwrap();
        });
        assert_eq!(lua.checksum().unwrap(), sums[x as usize], "frame {x}");
        x += 1;
        turn = turn
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        if x % 4 == 0 && held.len() > 1 && rollbacks < 30 {
            let n = 1 + (turn >> 33) as usize % held.len().min(5);
            lua.rollback(n).unwrap();
            held.truncate(held.len() - (n - 1));
            x = *held.last().unwrap();
            rollbacks += 1;
        }
    }
    assert!(rollbacks >= 10, "{rollbacks} rollbacks");
}

/// An owned snapshot carries the checksum's state: a VM restored from it (through bytes)
/// goes on with the same checksums as the VM it came from, and `Snapshot::checksum` is
/// the value the VM had.
#[test]
fn a_restored_vm_goes_on_with_the_same_checksums() {
    let sums = reference(40);
    let mut lua = vm();
    lua.checksum().unwrap();
    for x in 0..20 {
        frame(&mut lua, x);
        lua.checksum().unwrap();
    }
    let snap = lua.snapshot().unwrap();
    assert_eq!(snap.checksum(), sums[19]);
    let mut joiner = Lua::with_host(Rc::new(CaptureHost::new()));
    let back = joiner
        .snapshot_from_bytes(&snap.to_bytes().unwrap())
        .unwrap();
    assert_eq!(back.checksum(), sums[19]);
    joiner.restore(&back).unwrap();
    assert_eq!(joiner.checksum().unwrap(), sums[19]);
    for x in 20..40 {
        frame(&mut joiner, x);
        assert_eq!(
            joiner.checksum().unwrap(),
            sums[x as usize],
            "joiner, frame {x}"
        );
    }
}

/// The checksum sees a change to one slot of a big array part (hashed by pages), with and
/// without a ring, and sees it undone (by a store or by a rollback).
#[test]
fn a_store_into_a_big_array_changes_the_checksum_and_undoing_it_restores_it() {
    for ring in [false, true] {
        let mut lua = vm();
        // (No collection in between: it would drop the setup's garbage from L.)
        lua.execute(b"collectgarbage('stop')", "=stop").unwrap();
        let before = lua.checksum().unwrap();
        if ring {
            lua.snap().unwrap();
        }
        // A slot of the head, then one of a chunk.
        for slot in [1500, 6000] {
            let change = format!("big[{slot}] = 'changed'");
            lua.execute(change.as_bytes(), "=w").unwrap();
            let changed = lua.checksum().unwrap();
            assert_ne!(changed, before, "ring {ring}, slot {slot}");
            lua.execute(format!("big[{slot}] = {slot}").as_bytes(), "=w")
                .unwrap();
            assert_eq!(lua.checksum().unwrap(), before, "ring {ring}, slot {slot}");
            if ring {
                lua.execute(change.as_bytes(), "=w").unwrap();
                assert_eq!(lua.checksum().unwrap(), changed);
                lua.rollback(1).unwrap();
                assert_eq!(lua.checksum().unwrap(), before);
                lua.snap().unwrap();
            }
        }
    }
}

/// A host that asked for one checksum and then runs garbage-heavy code with full
/// collections stopped: the checksum's lists are flushed between steps, so the garbage
/// they name is not kept alive: a peak of 1 MB (0.5 MB without tracking; 80 MB when the
/// lists were flushed only by checksums and collections).
#[test]
fn tracking_keeps_no_unbounded_garbage_alive() {
    let mut lua = Lua::with_host(Rc::new(CaptureHost::new()));
    lua.execute(b"collectgarbage('stop')", "=stop").unwrap();
    lua.checksum().unwrap();
    let exec = lua
        .chunk("for i = 1, 400000 do local t = {i} end")
        .start(())
        .unwrap();
    while !lua.step(&exec, &mut Fuel::new(10_000)).is_done() {}
    assert!(
        lua.memory_peak() < 4 << 20,
        "peak {} bytes",
        lua.memory_peak()
    );
    lua.checksum().unwrap();
}
