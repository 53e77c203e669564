//! Snapshots and rollback: what a snapshot covers, identity after restore, host handles,
//! paused executors, errors, and a game-like replay with random rollbacks.

mod common;
use common::Lcg;

use std::rc::Rc;

use lunette::vm::{Snapshot, SnapshotError, StaleHandle};
use lunette::{CaptureHost, ExecResult, Executor, Fuel, Lua, Value};

fn vm() -> (Lua, CaptureHost) {
    let host = CaptureHost::new();
    (Lua::with_host(Rc::new(host.clone())), host)
}

/// Runs `src` to completion and returns its results rendered as text.
fn run(lua: &mut Lua, src: &str) -> Vec<String> {
    lua.execute(src.as_bytes(), "=test")
        .unwrap_or_else(|e| panic!("{src}: {e}\n{}", e.traceback))
}

fn run1(lua: &mut Lua, src: &str) -> String {
    run(lua, src).join(" ")
}

fn stdout(host: &CaptureHost) -> String {
    String::from_utf8(host.take_stdout()).unwrap()
}

#[test]
fn rollback_restores_globals_tables_and_the_id_counter() {
    let (mut lua, _) = vm();
    run(&mut lua, "t = {1, 2, x = 'a'} n = 10 s = tostring({})");
    lua.snap().unwrap();
    let before = run1(&mut lua, "return tostring({}), n, t.x, #t");
    run(&mut lua, "n = 11 t.x = 'b' t[3] = 3 u = {}");
    assert_eq!(run1(&mut lua, "return n, t.x, #t, u ~= nil"), "11 b 3 true");
    lua.rollback(1).unwrap();
    // The new table gets the same id as in the first timeline: the counter rolled back.
    assert_eq!(run1(&mut lua, "return tostring({}), n, t.x, #t"), before);
    assert_eq!(run1(&mut lua, "return u"), "nil");
}

#[test]
fn rollback_out_of_range_is_an_error_not_a_panic() {
    let (mut lua, _) = vm();
    assert_eq!(
        lua.rollback(1),
        Err(SnapshotError::OutOfRange {
            requested: 1,
            available: 0
        })
    );
    lua.snap().unwrap();
    assert!(lua.rollback(0).is_err());
    assert!(lua.rollback(2).is_err());
    assert!(lua.rollback(1).is_ok());
    // The snapshot stays in the ring: rolling back to it again works.
    assert!(lua.rollback(1).is_ok());
}

#[test]
fn ring_keeps_the_last_max_snapshots() {
    let (mut lua, _) = vm();
    lua.set_max_snapshots(3);
    for i in 1..=5 {
        run(&mut lua, &format!("frame = {i}"));
        lua.snap().unwrap();
    }
    assert_eq!(lua.snapshots_held(), 3);
    assert!(lua.rollback(4).is_err());
    lua.rollback(3).unwrap();
    assert_eq!(run1(&mut lua, "return frame"), "3");
    assert_eq!(lua.snapshots_held(), 1);
}

#[test]
fn shared_references_and_cycles_survive_restore() {
    let (mut lua, _) = vm();
    run(
        &mut lua,
        r#"
        local shared = {name = "shared"}
        a = {ref = shared} b = {ref = shared}
        cyc = {} cyc.self = cyc
        ring = {} ring.next = {prev = ring}
        local mt = {__index = function(t, k) return k .. "!" end}
        obj = setmetatable({}, mt) obj2 = setmetatable({}, mt)
        local count = 0
        function inc() count = count + 1 return count end
        function get() return count end
        "#,
    );
    let snap = lua.snapshot().unwrap();
    run(&mut lua, "a = nil b = nil cyc = nil");
    lua.restore(&snap).unwrap();
    assert_eq!(
        run1(
            &mut lua,
            r#"return a.ref == b.ref, cyc.self == cyc, ring.next.prev == ring,
                      getmetatable(obj) == getmetatable(obj2), obj.hi"#
        ),
        "true true true true hi!"
    );
    // Two closures still share their upvalue.
    assert_eq!(run1(&mut lua, "inc() inc() return get()"), "2");
}

#[test]
fn pairs_order_and_tostring_are_identical_after_rollback() {
    let (mut lua, _) = vm();
    run(
        &mut lua,
        r#"
        t = {}
        for i = 1, 200 do t["k" .. i] = i end
        for i = 1, 200, 3 do t["k" .. i] = nil end
        for i = 1, 50 do t[i * 7.5] = i end
        "#,
    );
    let order = "local o = {} for k, v in pairs(t) do o[#o + 1] = tostring(k) end \
                 return table.concat(o, ','), tostring(t), tostring(function() end)";
    lua.snap().unwrap();
    let first = run1(&mut lua, order);
    run(&mut lua, "for i = 1, 100 do t['z' .. i] = i end");
    lua.rollback(1).unwrap();
    assert_eq!(run1(&mut lua, order), first);
}

#[test]
fn random_generator_state_rolls_back() {
    let (mut lua, _) = vm();
    run(&mut lua, "math.randomseed(42)");
    lua.snap().unwrap();
    let first = run1(&mut lua, "return math.random(1, 1000000), math.random()");
    lua.rollback(1).unwrap();
    assert_eq!(
        run1(&mut lua, "return math.random(1, 1000000), math.random()"),
        first
    );
}

#[test]
fn coroutines_suspended_anywhere_resume_where_they_were() {
    let (mut lua, host) = vm();
    run(
        &mut lua,
        r#"
        -- Suspended inside pcall, inside a metamethod, inside a sort comparator, and in a
        -- generic-for iterator.
        co_pcall = coroutine.wrap(function()
            local ok, v = pcall(function() local x = coroutine.yield(1) error("boom" .. x) end)
            coroutine.yield(tostring(ok) .. ":" .. v)
            return "end"
        end)
        local mt = {__index = function(t, k) return coroutine.yield("idx:" .. k) end}
        co_meta = coroutine.wrap(function() local o = setmetatable({}, mt) return "got " .. o.key end)
        co_sort = coroutine.wrap(function()
            local t = {3, 1, 2}
            table.sort(t, function(a, b) coroutine.yield("cmp") return a < b end)
            return table.concat(t, ",")
        end)
        co_iter = coroutine.wrap(function()
            for i, v in ipairs({"a", "b"}) do coroutine.yield(v) end
            return "done"
        end)
        print(co_pcall(), co_meta(), co_sort(), co_iter())
        "#,
    );
    assert_eq!(stdout(&host), "1\tidx:key\tcmp\ta\n");
    let snap = lua.snapshot().unwrap();
    let script = r#"
        local out = {co_pcall(7), co_pcall(), co_meta("v"), co_iter(), co_iter()}
        local s repeat s = co_sort() until s ~= "cmp"
        out[#out + 1] = s
        return table.concat(out, " ")
    "#;
    let first = run1(&mut lua, script);
    assert_eq!(first, "false:test:5: boom7 end got v b done 1,2,3");
    lua.restore(&snap).unwrap();
    assert_eq!(run1(&mut lua, script), first);
    // And in a fresh VM.
    let (mut fresh, _) = vm();
    fresh.restore(&snap).unwrap();
    assert_eq!(run1(&mut fresh, script), first);
}

#[test]
fn an_executor_paused_mid_step_continues_after_restore() {
    let (mut lua, host) = vm();
    let f = lua
        .load(
            b"local acc = 0 for i = 1, 20000 do acc = (acc * 31 + i) % 1000003 end print(acc) return acc",
            "=paused",
        )
        .unwrap();
    let exec = lua.enter(|ctx| {
        let f = ctx.fetch(&f).unwrap();
        ctx.stash_executor(Executor::start(ctx, f, &[]))
    });
    assert!(!lua.step(&exec, &mut Fuel::new(5000)).is_done());
    let snap = lua.snapshot().unwrap();
    lua.finish(&exec).unwrap();
    let first = stdout(&host);
    assert!(!first.is_empty());
    lua.restore(&snap).unwrap();
    // The same handle refers to the restored (paused) executor.
    assert!(!lua.step(&exec, &mut Fuel::new(10)).is_done());
    lua.finish(&exec).unwrap();
    assert_eq!(stdout(&host), first);
    let result = lua.enter(|ctx| match ctx.fetch_executor(&exec).unwrap().result() {
        Some(ExecResult::Returned(v)) => v[0].to_integer(),
        _ => None,
    });
    assert_eq!(result.map(|r| format!("{r}\n")), Some(first));
}

#[test]
fn handles_follow_restores_or_become_stale() {
    let (mut lua, _) = vm();
    run(&mut lua, "old = {v = 1}");
    let before = lua.enter(|ctx| ctx.stash(ctx.globals().get(ctx.str("old"))));
    let number = lua.enter(|ctx| ctx.stash(Value::Integer(7)));
    let text = lua.enter(|ctx| ctx.stash(ctx.str("a string handle")));
    lua.snap().unwrap();
    run(&mut lua, "new = {v = 2}");
    // Taken after the snapshot: one to an object that existed then, one to a new object.
    let after_old = lua.enter(|ctx| ctx.stash(ctx.globals().get(ctx.str("old"))));
    let after_new = lua.enter(|ctx| ctx.stash(ctx.globals().get(ctx.str("new"))));
    lua.rollback(1).unwrap();
    let field = |lua: &Lua, h: &lunette::StashedValue| {
        lua.enter(|ctx| match ctx.fetch(h) {
            Ok(Value::Table(t)) => Ok(t.get(ctx.str("v")).to_integer()),
            Ok(_) => panic!("not a table"),
            Err(e) => Err(e),
        })
    };
    assert_eq!(field(&lua, &before), Ok(Some(1)));
    assert_eq!(field(&lua, &after_old), Ok(Some(1)));
    assert_eq!(field(&lua, &after_new), Err(StaleHandle));
    assert!(after_new.is_stale());
    // The handle is the very object the script sees.
    run(&mut lua, "old.v = 5");
    assert_eq!(field(&lua, &before), Ok(Some(5)));
    lua.enter(|ctx| {
        assert_eq!(ctx.fetch(&number).unwrap().to_integer(), Some(7));
        assert_eq!(
            ctx.fetch(&text).unwrap(),
            Value::String(ctx.new_string(b"a string handle"))
        );
    });
    // A new object made in the re-simulated timeline gets the id `new` had; the stale handle
    // must not find it.
    run(&mut lua, "new = {v = 3}");
    assert_eq!(field(&lua, &after_new), Err(StaleHandle));
}

#[test]
fn handles_from_an_abandoned_timeline_never_see_a_different_object() {
    let (mut lua, _) = vm();
    lua.snap().unwrap(); // S1
    run(&mut lua, "a = {v = 'timeline A'}");
    let s_a = lua.snapshot().unwrap();
    lua.rollback(1).unwrap();
    // Timeline B creates an object with the same id as `a` had.
    run(&mut lua, "b = {v = 'timeline B'}");
    let hb = lua.enter(|ctx| ctx.stash(ctx.globals().get(ctx.str("b"))));
    // Restoring timeline A's snapshot: the id exists there, but it is another object.
    lua.restore(&s_a).unwrap();
    assert_eq!(
        lua.enter(|ctx| ctx.fetch(&hb).map(|_| ())),
        Err(StaleHandle)
    );
    assert_eq!(run1(&mut lua, "return a.v, b"), "timeline A nil");
}

#[test]
fn what_cannot_be_copied_is_named() {
    let (mut lua, _) = vm();
    struct Opaque;
    lua.enter(|ctx| {
        let u = lunette::vm::UserData::new(ctx, Opaque);
        ctx.globals()
            .set(ctx, ctx.str("u"), Value::UserData(u))
            .unwrap();
    });
    let err = lua.snapshot().err().expect("opaque userdata refuses");
    assert!(err.to_string().contains("Opaque"), "{err}");
    run(&mut lua, "u = nil");
    #[derive(Clone)]
    struct Counter(i64);
    lua.enter(|ctx| {
        let u = lunette::vm::UserData::new_snapshotable(ctx, Counter(41));
        ctx.globals()
            .set(ctx, ctx.str("c"), Value::UserData(u))
            .unwrap();
    });
    let snap = lua.snapshot().expect("cloneable userdata is copied");
    let (mut fresh, _) = vm();
    fresh.restore(&snap).unwrap();
    let v = fresh.enter(|ctx| match ctx.globals().get(ctx.str("c")) {
        Value::UserData(u) => u.downcast::<Counter>().map(|c| c.0),
        _ => None,
    });
    assert_eq!(v, Some(41));
}

#[test]
fn an_async_sequence_in_flight_refuses_and_a_finished_one_survives() {
    use lunette::vm::async_callback;
    let (mut lua, host) = vm();
    lua.enter(|ctx| {
        let wait = async_callback(ctx, "wait_twice", |seq| {
            Box::pin(async move {
                seq.yield_values(vec![]).await;
                seq.yield_values(vec![]).await;
                Ok(vec![])
            })
        });
        ctx.globals()
            .set(ctx, ctx.str("wait_twice"), Value::Callback(wait))
            .unwrap();
    });
    run(
        &mut lua,
        "co = coroutine.wrap(function() wait_twice() print('woke') end) co()",
    );
    let err = lua.snapshot().err().expect("in-flight sequence refuses");
    assert!(err.to_string().contains("wait_twice"), "{err}");
    run(&mut lua, "co() co()");
    assert_eq!(stdout(&host), "woke\n");
    // Finished: the callback itself is plain data and works after a restore.
    let snap = lua.snapshot().unwrap();
    lua.restore(&snap).unwrap();
    run(
        &mut lua,
        "co = coroutine.wrap(function() wait_twice() print('again') end) co() co() co()",
    );
    assert_eq!(stdout(&host), "again\n");
}

#[test]
fn a_million_linked_tables_snapshot_without_recursion() {
    let (mut lua, _) = vm();
    run(
        &mut lua,
        "local head = nil for i = 1, 1000000 do head = {next = head, i = i} end list = head",
    );
    let snap = lua.snapshot().unwrap();
    assert!(snap.object_count() > 1_000_000);
    let (mut fresh, _) = vm();
    fresh.restore(&snap).unwrap();
    assert_eq!(
        run1(
            &mut fresh,
            "local n, p = 0, list while p do n = n + 1 p = p.next end return n, list.i"
        ),
        "1000000 1000000"
    );
}

#[test]
fn weak_tables_and_pending_finalizers_roll_back() {
    let (mut lua, host) = vm();
    run(
        &mut lua,
        r#"
        cache = setmetatable({}, {__mode = "v"})
        cache[1] = {} cache[2] = "kept" keep = {} cache[3] = keep
        local mt = {__gc = function(o) print("finalized " .. o.name) end}
        setmetatable({name = "a"}, mt)
        "#,
    );
    // A host-requested full collection clears the weak entry and queues the finalizer, which
    // runs at the start of the next step.
    lua.gc_collect();
    lua.snap().unwrap();
    let script = "local n = 0 for _ in pairs(cache) do n = n + 1 end return n";
    let first = run1(&mut lua, script);
    let out1 = stdout(&host);
    assert_eq!(first, "2");
    assert_eq!(out1, "finalized a\n");
    lua.rollback(1).unwrap();
    assert_eq!(run1(&mut lua, script), first);
    assert_eq!(
        stdout(&host),
        out1,
        "the pending finalizer is part of the snapshot"
    );
}

#[test]
fn checksums_agree_for_equal_states_and_differ_otherwise() {
    let setup = "t = {} for i = 1, 100 do t[i] = {x = i * 0.5, name = 'e' .. i} end \
                 co = coroutine.create(function() coroutine.yield() end) coroutine.resume(co)";
    let (mut a, _) = vm();
    let (mut b, _) = vm();
    run(&mut a, setup);
    run(&mut b, setup);
    assert_eq!(a.checksum().unwrap(), b.checksum().unwrap());
    run(&mut b, "t[50].x = 0");
    assert_ne!(a.checksum().unwrap(), b.checksum().unwrap());
    run(&mut a, "t[50].x = 0");
    assert_eq!(a.checksum().unwrap(), b.checksum().unwrap());
    // A snapshot's checksum is the VM's at that point, and a restore brings it back.
    let snap = a.snapshot().unwrap();
    let sum = snap.checksum();
    run(&mut a, "t[1] = nil");
    assert_ne!(a.checksum().unwrap(), sum);
    a.restore(&snap).unwrap();
    assert_eq!(a.checksum().unwrap(), sum);
}

#[test]
fn snapshots_are_send_and_sync() {
    fn check<T: Send + Sync + Clone + 'static>() {}
    check::<Snapshot>();
    // And can cross a thread, then be restored.
    let (mut lua, _) = vm();
    run(&mut lua, "x = 'from another thread'");
    let snap = lua.snapshot().unwrap();
    let snap = std::thread::spawn(move || snap).join().unwrap();
    let (mut fresh, _) = vm();
    fresh.restore(&snap).unwrap();
    assert_eq!(run1(&mut fresh, "return x"), "from another thread");
}

/// A small game: entities with behaviours (closures), tasklets (coroutines resumed once a
/// frame), string keys, `math.random`, `pairs` order, `tostring` of tables, `table.sort`.
const GAME: &str = r##"
math.randomseed(7)
local entities = {}          -- by name
local tasks = {}             -- tasklets
local next_serial = 0
score = 0

local function behaviour(speed)
  local travelled = 0
  return function(e, input)
    travelled = travelled + speed
    e.x = e.x + speed * ((input % 3) - 1)
    e.y = e.y + math.random(-2, 2)
    return travelled
  end
end

local function spawn(kind)
  next_serial = next_serial + 1
  local name = kind .. "_" .. next_serial
  local e = {name = name, kind = kind, x = math.random(0, 100), y = 0, hp = 3,
             think = behaviour(math.random(1, 4))}
  entities[name] = e
  tasks[#tasks + 1] = coroutine.create(function()
    while e.hp > 0 do
      local input = coroutine.yield()
      if (input + #name) % 5 == 0 then e.hp = e.hp - 1 end
    end
    entities[name] = nil
    score = score + 1
    print("retired " .. name .. " at frame " .. frame_no)
  end)
  coroutine.resume(tasks[#tasks])
end

frame_no = 0
function frame(input)
  frame_no = frame_no + 1
  if input % 4 == 0 or next(entities) == nil then spawn(input % 2 == 0 and "orc" or "elf") end
  local travelled = 0
  for name, e in pairs(entities) do travelled = travelled + e.think(e, input) end
  local alive = {}
  for i = #tasks, 1, -1 do
    local co = tasks[i]
    coroutine.resume(co, input)
    if coroutine.status(co) == "dead" then table.remove(tasks, i) end
  end
  local list = {}
  for name, e in pairs(entities) do list[#list + 1] = e end
  table.sort(list, function(a, b) return a.x < b.x or (a.x == b.x and a.name < b.name) end)
  local names = {}
  for i = 1, math.min(#list, 4) do names[i] = list[i].name .. "@" .. list[i].x end
  local order = {}
  for name in pairs(entities) do order[#order + 1] = name end
  return string.format("%d|%d|%s|%s|%s|%d|%.0f", frame_no, score, table.concat(names, ","),
    table.concat(order, ","), tostring(list[1] or {}) .. "#" .. #order, travelled,
    collectgarbage("count") * 1024)
end
"##;

fn call_frame(lua: &mut Lua, host: &CaptureHost, input: i64) -> String {
    let exec = lua.enter(|ctx| {
        let f = ctx.globals().get(ctx.str("frame"));
        ctx.stash_executor(Executor::start(ctx, f, &[Value::Integer(input)]))
    });
    lua.finish(&exec)
        .unwrap_or_else(|e| panic!("frame: {e}\n{}", e.traceback));
    let result = lua.enter(|ctx| match ctx.fetch_executor(&exec).unwrap().result() {
        Some(ExecResult::Returned(v)) => lunette::vm::display_plain(v[0]),
        _ => String::new(),
    });
    format!("{result}\n{}", stdout(host))
}

const FRAMES: usize = 320;

fn reference_run() -> (Vec<i64>, Vec<String>, Vec<u64>) {
    let mut rng = Lcg(99);
    let inputs: Vec<i64> = (0..FRAMES).map(|_| (rng.next() % 1000) as i64).collect();
    let (mut lua, host) = vm();
    run(&mut lua, GAME);
    // Checksums compare between VMs that began computing them at the same point of the
    // same history (`Lua::checksum`): here, once the game is set up.
    lua.checksum().unwrap();
    let mut outputs = Vec::new();
    let mut sums = Vec::new();
    for &input in &inputs {
        outputs.push(call_frame(&mut lua, &host, input));
        sums.push(lua.checksum().unwrap());
    }
    (inputs, outputs, sums)
}

#[test]
fn replay_with_random_rollbacks_is_bit_identical() {
    let (inputs, outputs, sums) = reference_run();
    assert!(
        outputs.iter().any(|o| o.contains("retired")),
        "the game does things"
    );
    let (mut lua, host) = vm();
    run(&mut lua, GAME);
    // Checksums compare between VMs that began computing them at the same point of the
    // same history (`Lua::checksum`): here, once the game is set up.
    lua.checksum().unwrap();
    let mut rng = Lcg(2024);
    // `held[i]` is the frame whose start the i-th ring snapshot holds (newest last).
    let mut held: Vec<usize> = Vec::new();
    let mut frame = 0;
    let mut rollbacks = 0;
    let mut resimulated = 0;
    let mut fresh_checked = false;
    while frame < FRAMES {
        if held.last() != Some(&frame) {
            lua.snap().unwrap();
            held.push(frame);
            if held.len() > lunette::vm::lua::DEFAULT_MAX_SNAPSHOTS {
                held.remove(0);
            }
        }
        let out = call_frame(&mut lua, &host, inputs[frame]);
        assert_eq!(out, outputs[frame], "output of frame {frame}");
        assert_eq!(
            lua.checksum().unwrap(),
            sums[frame],
            "checksum after frame {frame}"
        );
        frame += 1;
        if frame == FRAMES / 2 && !fresh_checked {
            // The same from a snapshot restored in a fresh VM.
            fresh_checked = true;
            let snap = lua.snapshot().unwrap();
            let (mut fresh, fresh_host) = vm();
            fresh.restore(&snap).unwrap();
            for f in frame..FRAMES {
                let out = call_frame(&mut fresh, &fresh_host, inputs[f]);
                assert_eq!(out, outputs[f], "fresh VM, frame {f}");
                assert_eq!(fresh.checksum().unwrap(), sums[f], "fresh VM checksum {f}");
            }
        }
        if rollbacks < 150 && rng.next().is_multiple_of(3) {
            let n = 1 + (rng.next() % 8) as usize;
            let n = n.min(held.len());
            lua.rollback(n).unwrap();
            held.truncate(held.len() - (n - 1));
            resimulated += frame - held[held.len() - 1];
            frame = *held.last().unwrap();
            rollbacks += 1;
        }
    }
    assert!(rollbacks >= 100, "{rollbacks} rollbacks");
    assert!(resimulated > 300, "{resimulated} frames re-simulated");
}

#[test]
fn snapshots_taken_mid_step_resume_identically() {
    let (inputs, outputs, _) = reference_run();
    let (mut lua, host) = vm();
    run(&mut lua, GAME);
    // Checksums compare between VMs that began computing them at the same point of the
    // same history (`Lua::checksum`): here, once the game is set up.
    lua.checksum().unwrap();
    let mut rng = Lcg(5);
    for (f, &input) in inputs.iter().enumerate().take(60) {
        let exec = lua.enter(|ctx| {
            let func = ctx.globals().get(ctx.str("frame"));
            ctx.stash_executor(Executor::start(ctx, func, &[Value::Integer(input)]))
        });
        let pause_at = rng.next() % 6;
        let mut steps = 0;
        let mut mid: Option<Snapshot> = None;
        while !lua.step(&exec, &mut Fuel::new(150)).is_done() {
            if steps == pause_at {
                mid = Some(lua.snapshot().unwrap());
            }
            steps += 1;
        }
        let out_of = |lua: &Lua| {
            lua.enter(|ctx| match ctx.fetch_executor(&exec).unwrap().result() {
                Some(ExecResult::Returned(v)) => lunette::vm::display_plain(v[0]),
                _ => String::new(),
            })
        };
        let first = format!("{}\n{}", out_of(&lua), stdout(&host));
        assert_eq!(first, outputs[f], "frame {f}");
        if let Some(mid) = mid {
            // Back to the middle of the frame (the executor handle follows) and on to its end:
            // the same result, and the prints made after the snapshot point again.
            lua.restore(&mid).unwrap();
            lua.finish(&exec).unwrap();
            let (result, printed) = outputs[f].split_once('\n').unwrap();
            assert_eq!(out_of(&lua), result, "frame {f} after a mid-step restore");
            assert!(printed.ends_with(&stdout(&host)), "frame {f} prints");
        }
    }
}

#[test]
fn ring_rollback_of_an_executor_paused_mid_step() {
    let (mut lua, host) = vm();
    run(&mut lua, "shared = {n = 0}");
    let f = lua
        .load(
            b"for i = 1, 5000 do shared.n = shared.n + i end print(shared.n) return shared.n",
            "=paused",
        )
        .unwrap();
    let exec = lua.enter(|ctx| {
        let f = ctx.fetch(&f).unwrap();
        ctx.stash_executor(Executor::start(ctx, f, &[]))
    });
    assert!(!lua.step(&exec, &mut Fuel::new(3000)).is_done());
    lua.snap().unwrap();
    let mid = run1(&mut lua, "return shared.n");
    lua.finish(&exec).unwrap();
    assert_eq!(stdout(&host), "12502500\n");
    lua.rollback(1).unwrap();
    assert_eq!(run1(&mut lua, "return shared.n"), mid);
    lua.finish(&exec).unwrap();
    assert_eq!(stdout(&host), "12502500\n");
}

/// Leaves an async sequence in flight: a coroutine waits in `wait_once`, an async callback.
fn start_a_sequence_in_flight(lua: &mut Lua) {
    lua.enter(|ctx| {
        let wait = lunette::vm::async_callback(ctx, "wait_once", |seq| {
            Box::pin(async move {
                seq.yield_values(vec![]).await;
                Ok(vec![])
            })
        });
        ctx.globals()
            .set(ctx, ctx.str("wait_once"), Value::Callback(wait))
            .unwrap();
    });
    run(lua, "co = coroutine.wrap(function() wait_once() end) co()");
}

#[test]
fn ring_refuses_while_an_async_sequence_is_in_flight() {
    let (mut lua, _) = vm();
    start_a_sequence_in_flight(&mut lua);
    let err = lua.snap().unwrap_err();
    assert!(err.to_string().contains("wait_once"), "{err}");
    run(&mut lua, "co()");
    lua.snap().expect("nothing in flight any more");
}

#[test]
fn ring_rolls_back_metatables_upvalue_joins_and_string_metatable() {
    // `Lua::new` grants the full debug library.
    let mut lua = Lua::new();
    run(
        &mut lua,
        r#"
        local a, b = 1, 2
        function fa() return a end
        function fb() return b end
        t = setmetatable({}, {__index = function() return "old" end})
        "#,
    );
    lua.snap().unwrap();
    run(
        &mut lua,
        r#"
        debug.upvaluejoin(fa, 1, fb, 1)
        setmetatable(t, {__index = function() return "new" end})
        getmetatable("").__index = {len = function() return -1 end}
        "#,
    );
    assert_eq!(
        run1(&mut lua, "return fa(), t.x, ('abc'):len()"),
        "2 new -1"
    );
    lua.rollback(1).unwrap();
    assert_eq!(run1(&mut lua, "return fa(), t.x, ('abc'):len()"), "1 old 3");
}

#[test]
fn ring_memory_is_given_back_when_snapshots_are_dropped() {
    let (mut lua, _) = vm();
    lua.set_max_snapshots(4);
    run(&mut lua, "data = {}");
    for i in 0..4 {
        lua.snap().unwrap();
        // Each frame replaces the big table: the ring keeps the old ones alive.
        run(
            &mut lua,
            &format!("data = {{}} for i = 1, 20000 do data[i] = {{i, {i}}} end"),
        );
    }
    lua.gc_collect();
    let held = lua.memory_used();
    assert!(lua.snapshots_size_bytes() > 0);
    lua.set_max_snapshots(1);
    lua.gc_collect();
    assert!(
        lua.memory_used() < held * 3 / 4,
        "dropping snapshots frees what only they held: {} -> {}",
        held,
        lua.memory_used()
    );
    // A restored owned snapshot starts with an empty ring.
    let owned = lua.snapshot().unwrap();
    lua.restore(&owned).unwrap();
    assert_eq!(lua.snapshots_held(), 0);
}

#[test]
fn per_type_metatables_roll_back_restore_and_count_in_checksums() {
    // `Lua::new` grants the full debug library (`debug.setmetatable` on numbers...).
    let mut lua = Lua::new();
    run(
        &mut lua,
        "debug.setmetatable(0, {__index = {name = function() return 'num' end}})",
    );
    let snap = lua.snapshot().unwrap();
    let sum = lua.checksum().unwrap();
    lua.snap().unwrap();
    run(
        &mut lua,
        "debug.setmetatable(0, {__index = {name = function() return 'changed' end}}) \
         debug.setmetatable(true, {__index = function() return 'bool' end}) \
         debug.setmetatable(print, {__call = 1})",
    );
    assert_eq!(
        run1(&mut lua, "return (1):name(), (true).x"),
        "changed bool"
    );
    assert_ne!(lua.checksum().unwrap(), sum);
    lua.rollback(1).unwrap();
    assert_eq!(lua.checksum().unwrap(), sum);
    assert_eq!(
        run1(
            &mut lua,
            "return (1):name(), getmetatable(true), getmetatable(print)"
        ),
        "num nil nil"
    );
    run(&mut lua, "debug.setmetatable(0, nil)");
    lua.restore(&snap).unwrap();
    assert_eq!(lua.checksum().unwrap(), sum);
    assert_eq!(run1(&mut lua, "return (2.5):name()"), "num");
    // Two VMs that differ only in a per-type metatable have different checksums.
    let mut c = Lua::new();
    let mut d = Lua::new();
    run(&mut c, "mt = {} debug.setmetatable(nil, mt)");
    run(&mut d, "mt = {} debug.setmetatable(false, mt)");
    assert_ne!(c.checksum().unwrap(), d.checksum().unwrap());
}

#[test]
fn a_restore_frees_the_heap_it_replaces_in_slices_after_the_next_steps() {
    let setup = "data = {} for i = 1, 20000 do data[i] = {id = i, name = 'e' .. i} end";
    let (mut lua, _) = vm();
    run(&mut lua, setup);
    let snap = lua.snapshot().unwrap();
    run(&mut lua, "for i = 1, 20000 do data[i] = {i} end");
    lua.restore(&snap).unwrap();
    // The old heap left the VM's account: only the restored one is in use.
    let (mut fresh, _) = vm();
    fresh.restore(&snap).unwrap();
    let retired = lua.retired_bytes();
    assert!(retired > 1 << 20, "{retired} bytes retired");
    assert_eq!(lua.memory_used(), fresh.memory_used());
    let count = "return collectgarbage('count') * 1024, #data, data[20000].name";
    assert_eq!(run(&mut lua, count), run(&mut fresh, count));
    // Freed a slice per step, not at once.
    let mut left = vec![lua.retired_bytes()];
    while lua.retired_bytes() > 0 && left.len() < 10_000 {
        // (The same in both VMs: the freeing changes nothing either counts.)
        run(&mut lua, "local x = 1");
        run(&mut fresh, "local x = 1");
        left.push(lua.retired_bytes());
    }
    assert_eq!(
        lua.retired_bytes(),
        0,
        "not freed after {} steps",
        left.len()
    );
    let partial = left.iter().filter(|&&b| b > 0 && b < retired).count();
    assert!(partial >= 3, "freed in {} pieces: {left:?}", partial + 1);
    assert_eq!(lua.memory_used(), fresh.memory_used());
    assert_eq!(run(&mut lua, count), run(&mut fresh, count));
}

#[test]
fn a_restore_ends_what_the_replaced_heap_had_in_flight() {
    // The replaced heap is freed steps later; what it had in flight must not hold back the
    // restored VM's snapshots meanwhile (a restored state never has a sequence in flight).
    let (mut lua, _) = vm();
    let clean = lua.snapshot().unwrap();
    start_a_sequence_in_flight(&mut lua);
    assert!(
        lua.snap().is_err(),
        "refused while the sequence is in flight"
    );
    lua.restore(&clean).unwrap();
    assert!(lua.retired_bytes() > 0, "the old heap is still being freed");
    lua.snap().expect("nothing in flight after the restore");
    lua.snapshot().expect("nothing in flight after the restore");
}

/// A full collection leaves a weak table's dead entries as holes in place; new keys take
/// the lowest holes first once the entries are full. An image carries the holes, so the
/// restored table gives the same positions to the same keys (`pairs` order, checksums).
#[test]
fn weak_table_holes_are_reused_alike_after_an_image() {
    let (mut lua, _) = vm();
    run(
        &mut lua,
        r#"
        w = setmetatable({}, {__mode = "k"})
        keep = {}
        for i = 1, 64 do
          local k = {}
          w[k] = i
          if i % 3 ~= 0 then keep[#keep + 1] = k end
        end
        "#,
    );
    lua.gc_collect();
    // (Both VMs keep their checksum from here: see `Lua::checksum`.)
    lua.checksum().unwrap();
    let fill = "for i = 1, 30 do w['s' .. i] = 100 + i end
        local out = {}
        for _, v in pairs(w) do out[#out + 1] = v end
        return table.concat(out, ' ')";
    let snap = lua.snapshot().unwrap();
    let bytes = snap.to_bytes().unwrap();
    let (mut other, _) = vm();
    let back = other.snapshot_from_bytes(&bytes).unwrap();
    other.restore(&back).unwrap();
    assert_eq!(other.checksum().unwrap(), snap.checksum());
    let order = run1(&mut lua, fill);
    // Positions 0..64 held 1..64; the 21 multiples of 3 died: 101..121 took their places,
    // in order, and 122..130 came after the 64 positions.
    let mut want: Vec<String> = (1..=64)
        .map(|i| match i % 3 {
            0 => (100 + i / 3).to_string(),
            _ => i.to_string(),
        })
        .collect();
    want.extend((122..=130).map(|i| i.to_string()));
    assert_eq!(order, want.join(" "));
    assert_eq!(run1(&mut other, fill), order);
    assert_eq!(other.checksum().unwrap(), lua.checksum().unwrap());
}
