//! The collector's script-visible work is bounded per unit of fuel: finalizer queues run in
//! charged, resumable pieces (deterministic whatever the host's step size, snapshot-safe),
//! messages never look at a whole (huge) chunk name, and a script-requested full collection
//! is paid for in fuel.

use std::rc::Rc;

use lunette::{CaptureHost, ExecResult, Executor, Fuel, Grants, Lua, StashedExecutor};

fn lua(full_collections: bool) -> (Lua, CaptureHost) {
    let mut host = CaptureHost::new();
    host.grants = Grants {
        full_collections,
        debug: true,
        ..Grants::default()
    };
    (Lua::with_host(Rc::new(host.clone())), host)
}

fn start(lua: &mut Lua, src: &str) -> StashedExecutor {
    let f = lua.load(src.as_bytes(), "=test").expect("compiles");
    lua.enter(|ctx| {
        let f = ctx.fetch(&f).unwrap();
        ctx.stash_executor(Executor::start(ctx, f, &[]))
    })
}

/// Steps `exec` to completion with `fuel` per step; returns the number of steps and the
/// largest overrun. Panics if it ended with an error.
fn run(lua: &mut Lua, exec: &StashedExecutor, fuel: i64) -> (u64, i64) {
    let mut steps = 0;
    let mut overrun = 0;
    loop {
        steps += 1;
        assert!(steps < 10_000_000, "does not finish");
        let mut f = Fuel::new(fuel);
        let done = lua.step(exec, &mut f).is_done();
        overrun = overrun.max(-f.remaining());
        if done {
            break;
        }
    }
    lua.enter(|ctx| {
        if let Some(ExecResult::Errored { value, .. }) = ctx.fetch_executor(exec).unwrap().result()
        {
            panic!("script failed: {}", lunette::vm::error_message(ctx, value))
        }
    });
    (steps, overrun)
}

/// 200,000 dead objects whose metatable lost its `__gc`: nothing to call, but the queue is
/// still walked, one unit of fuel an object, in pieces that pause at step boundaries (it was
/// taken whole, uncharged, in one step).
#[test]
fn a_finalizer_queue_is_walked_in_charged_pieces() {
    let (mut lua, _) = lua(false);
    let setup = start(
        &mut lua,
        "collectgarbage('stop') -- only the host's collection below
         local mt = {__gc = function() end}
         for i = 1, 200000 do setmetatable({}, mt) end
         mt.__gc = nil",
    );
    run(&mut lua, &setup, 100_000);
    lua.gc_collect();
    let exec = start(
        &mut lua,
        "local x = 0 for i = 1, 10 do x = x + i end return x",
    );
    let (steps, overrun) = run(&mut lua, &exec, 1000);
    assert!(
        steps >= 150,
        "the queue was walked in {steps} steps of 1000 fuel"
    );
    assert!(overrun < 100, "overran by {overrun}");
}

const FINALIZER_SCRIPT: &str = "
    log = {}
    local function obj(name, body)
      return setmetatable({}, {__gc = function() log[#log + 1] = name; body() end})
    end
    for i = 1, 50 do
      obj('a' .. i, function() local s = 0 for j = 1, i * 10 do s = s + j end end)
      obj('e' .. i, function() error('boom') end)
    end
    obj('gc-inside', function() collectgarbage() log[#log + 1] = 'inner-collect-returned' end)
    local r = collectgarbage()
    log[#log + 1] = 'returned ' .. tostring(r)
    for i = 1, 20 do obj('b' .. i, function() local t = {} for j = 1, 100 do t[j] = j end end) end
    collectgarbage()
    log[#log + 1] = 'end'
    return table.concat(log, ',')";

fn finalizer_log(fuel: i64) -> (String, u64) {
    let (mut lua, _) = lua(true);
    let exec = start(&mut lua, FINALIZER_SCRIPT);
    let (steps, overrun) = run(&mut lua, &exec, fuel);
    // (`collectgarbage` pays for the collection in one charge: heap / 64 units, a few
    // thousand for this small heap.)
    assert!(overrun < 5000, "fuel {fuel}: overran by {overrun}");
    let out = lua.enter(|ctx| match ctx.fetch_executor(&exec).unwrap().result() {
        Some(ExecResult::Returned(v)) => lunette::vm::display_plain(v[0]),
        _ => String::new(),
    });
    (out, steps)
}

/// Finalizers run in the same order, at the same points, whatever the step size.
#[test]
fn finalizers_are_deterministic_across_step_sizes() {
    let (reference, _) = finalizer_log(10_000_000);
    assert!(reference.starts_with("gc-inside,inner-collect-returned,e50,a50,e49,a49"));
    assert!(reference.contains(",a1,returned 0,b20,"), "{reference}");
    assert!(reference.ends_with("b1,end"), "{reference}");
    for fuel in [1, 7, 100, 10_000] {
        let (log, steps) = finalizer_log(fuel);
        assert_eq!(log, reference, "fuel {fuel}");
        if fuel == 1 {
            assert!(steps > 1000, "{steps} steps");
        }
    }
}

/// A snapshot taken while the queue is half run restores a VM that finishes the same way.
#[test]
fn a_half_run_finalizer_queue_survives_snapshots() {
    let (mut lua, _) = lua(true);
    let exec = start(&mut lua, FINALIZER_SCRIPT);
    // Step until some finalizers ran but not all of the first batch.
    let mut snapshot = None;
    for _ in 0..100_000 {
        let mut f = Fuel::new(50);
        assert!(!lua.step(&exec, &mut f).is_done());
        let n = lua.enter(|ctx| match ctx.globals().get(ctx.str("log")) {
            lunette::Value::Table(t) => t.length(),
            _ => 0,
        });
        if n > 20 {
            snapshot = Some(lua.snapshot().expect("snapshot"));
            break;
        }
    }
    let snapshot = snapshot.expect("reached the middle of the queue");
    let finish = |lua: &mut Lua| {
        run(lua, &exec, 333);
        lua.enter(|ctx| match ctx.fetch_executor(&exec).unwrap().result() {
            Some(ExecResult::Returned(v)) => lunette::vm::display_plain(v[0]),
            _ => String::new(),
        })
    };
    let first = finish(&mut lua);
    lua.restore(&snapshot).expect("restore");
    let second = finish(&mut lua);
    assert_eq!(first, second);
    assert_eq!(first, finalizer_log(10_000_000).0);
}

/// Messages and tracebacks of functions with a huge chunk name show PUC's short chunk id.
#[test]
fn huge_chunk_names_give_short_ids_in_messages() {
    let (mut lua, _) = lua(false);
    let big = "y".repeat(4 << 20);
    for (name, want) in [
        (format!("={big}"), "y".repeat(59)),
        (format!("@{big}"), format!("...{}", "y".repeat(56))),
        (big.clone(), format!("[string \"{}...\"]", "y".repeat(45))),
        (format!("a\n{big}"), "[string \"a...\"]".to_string()),
    ] {
        let f = lua.load(b"error('e')", &name).expect("compiles");
        let exec = lua.enter(|ctx| {
            let f = ctx.fetch(&f).unwrap();
            ctx.stash_executor(Executor::start(ctx, f, &[]))
        });
        let err = lua.finish(&exec).expect_err("errors");
        assert_eq!(err.message, format!("{want}:1: e"));
        assert!(err.traceback.len() < 400, "{}", err.traceback);
    }
}
/// Any positive budget makes progress, also through calls and finalizer queues (a budget of
/// 1 used to retry a call instruction forever).
#[test]
fn a_budget_of_one_makes_progress() {
    for src in [
        "for i = 1, 10 do setmetatable({}, {}) end",
        "local function f() end for i = 1, 10 do f() end",
        "local t = setmetatable({}, {__gc = function() end}) t = nil collectgarbage()",
    ] {
        let (mut lua, _) = lua(true);
        let exec = start(&mut lua, src);
        let (steps, overrun) = run(&mut lua, &exec, 1);
        assert!(steps < 1000, "{src}: {steps} steps");
        // (`collectgarbage` charges heap / 64 units at once.)
        assert!(overrun < 5000, "{src}: overran by {overrun}");
    }
}

/// Total fuel a script consumes, stepped with large budgets.
fn fuel_used(src: &str) -> i64 {
    let (mut lua, _) = lua(true);
    let exec = start(&mut lua, src);
    let mut used = 0;
    loop {
        let mut f = Fuel::new(1_000_000);
        let done = lua.step(&exec, &mut f).is_done();
        used += 1_000_000 - f.remaining();
        if done {
            return used;
        }
    }
}

/// A script-requested full collection walks the whole heap: it is paid for in fuel in
/// proportion to the heap (it was one unit, whatever the heap).
#[test]
fn script_requested_full_collections_are_charged_by_heap_size() {
    let heap = "keep = {} for i = 1, 100000 do keep[i] = {i} end ";
    let without = fuel_used(heap);
    let with = fuel_used(&format!("{heap} for i = 1, 10 do collectgarbage() end"));
    let per_collection = (with - without) / 10;
    // 100,000 small tables are several MiB: tens of thousands of units a collection.
    assert!(
        per_collection > 40_000,
        "{per_collection} units a collection"
    );
}

/// Values moved between threads by resume/yield are paid for at every level of a chain of
/// nested coroutines (they were free: one instruction moved thousands of values per level).
#[test]
fn values_moved_through_nested_resumes_are_charged() {
    let used = fuel_used(
        "local vals = {}
         for i = 1, 5000 do vals[i] = i end
         local function level(n)
           if n == 0 then
             while true do coroutine.yield(table.unpack(vals)) end
           end
           local inner = coroutine.wrap(level)
           while true do coroutine.yield(inner(n - 1)) end
         end
         local top = coroutine.wrap(level)
         for i = 1, 10 do top(100) end",
    );
    // 10 rounds x 100 levels x 5,000 values / 8.
    assert!(used > 600_000, "{used} units");
}

/// A stack overflow caught in a coroutine leaves about 30 MiB of stack and frames behind.
/// They are given back a piece at a time (a few MiB at the unwinding, paid for in fuel, then
/// a few MiB at each full collection: freeing 30 MiB took the system 2 ms in one step), and
/// `collectgarbage("count")` follows the same way whatever the step size.
const DEEP_STACK_SCRIPT: &str = "
    local function down(n) return down(n + 1) + 1 end
    local out = {}
    local co = coroutine.wrap(function()
      local before = collectgarbage('count')
      local ok, e = pcall(down, 1)
      out[#out + 1] = tostring(ok) .. ' ' .. e
      out[#out + 1] = collectgarbage('count') - before
      for i = 1, 16 do
        collectgarbage()
        out[#out + 1] = collectgarbage('count') - before
      end
    end)
    co()
    return table.concat(out, ',')";

fn deep_stack_counts(fuel: i64) -> Vec<String> {
    let (mut lua, _) = lua(true);
    let exec = start(&mut lua, DEEP_STACK_SCRIPT);
    run(&mut lua, &exec, fuel);
    let out = lua.enter(|ctx| match ctx.fetch_executor(&exec).unwrap().result() {
        Some(ExecResult::Returned(v)) => lunette::vm::display_plain(v[0]),
        _ => String::new(),
    });
    out.split(',').map(String::from).collect()
}

#[test]
fn a_deep_stack_is_given_back_in_pieces() {
    let counts = deep_stack_counts(1_000_000);
    assert_eq!(counts[0], "false test:2: stack overflow");
    let kib: Vec<f64> = counts[1..].iter().map(|c| c.parse().unwrap()).collect();
    // Right after the unwinding, most of it is still held (one piece was given back)...
    assert!(kib[0] > 16_000.0, "{kib:?}");
    // ...each collection gives back a piece, at most two buffers' worth...
    for w in kib.windows(2) {
        assert!(w[0] - w[1] <= 4096.0 + 64.0, "{kib:?}");
    }
    assert!(kib[1] < kib[0] && kib[4] < kib[1], "{kib:?}");
    // ...until nothing is left.
    assert!(*kib.last().unwrap() < 1024.0, "{kib:?}");
    for fuel in [1_000, 77_777] {
        assert_eq!(deep_stack_counts(fuel), counts, "fuel {fuel}");
    }
}

#[test]
fn big_strings_a_collection_frees_go_back_to_the_allocator_in_pieces() {
    const SCRIPT: &str = "local big = {}
         for i = 1, 40 do big[i] = ('x'):rep(1 << 20) .. i end
         big = nil
         collectgarbage()
         for i = 1, 3e6 do end";
    // Strings wait in the queue and go back a step's share at a time, with or without
    // helper threads (the VM's steps give them back, so a helper that does not get to run
    // cannot let them pile up).
    for helpers in [true, false] {
        let (mut lua, _host) = lua(true);
        lua.set_helper_threads(helpers);
        let exec = start(&mut lua, SCRIPT);
        let mut most = 0;
        let mut counted_when_most = 0;
        let mut steps_after_most = 0;
        loop {
            let done = lua.step(&exec, &mut Fuel::new(10_000)).is_done();
            let deferred = lua.deferred_free_bytes();
            if deferred > most {
                most = deferred;
                counted_when_most = lua.memory_used();
                steps_after_most = 0;
            } else {
                steps_after_most += 1;
            }
            if done {
                break;
            }
        }
        // The collection freed the 40 MiB of strings; their buffers waited for the steps
        // after it (the physical collector frees them over a few slices), and no count did:
        // the account had already given their bytes back.
        assert!(most >= 8 << 20, "deferred at most {most} bytes");
        assert!(most <= 41 << 20, "deferred at most {most} bytes");
        assert!(counted_when_most < 4 << 20, "counted {counted_when_most}");
        // Given back after the following steps (the loop runs hundreds more).
        assert!(steps_after_most > 100, "{steps_after_most}");
        assert_eq!(lua.deferred_free_bytes(), 0);
    }
}

#[test]
fn a_big_table_part_goes_back_to_the_allocator_a_piece_a_step() {
    let (mut lua, _host) = lua(true);
    // (Helper threads off: the reaper would take the whole part at once.)
    lua.set_helper_threads(false);
    // A 64 MiB array part (3 Mi values, capacity 4 Mi), freed once the collector gets to it
    // (it works as the script allocates): one buffer, given back 8 MiB a step.
    let exec = start(
        &mut lua,
        "local t = {}
         for i = 1, 3 << 20 do t[i] = i end
         t = nil
         collectgarbage()
         for i = 1, 3e5 do local garbage = {} end
         for i = 1, 3e6 do end",
    );
    let mut previous = 0;
    let mut most = 0;
    let mut pieces = 0;
    loop {
        let done = lua.step(&exec, &mut Fuel::new(10_000)).is_done();
        let deferred = lua.deferred_free_bytes();
        most = most.max(deferred);
        if deferred < previous {
            pieces += 1;
            assert!(
                previous - deferred <= 8 << 20,
                "{} bytes given back in one step",
                previous - deferred
            );
        }
        previous = deferred;
        if done {
            break;
        }
    }
    assert!(most >= 32 << 20, "deferred at most {most} bytes");
    assert!(pieces >= 4, "given back in {pieces} pieces");
    assert_eq!(lua.deferred_free_bytes(), 0);
}

/// Calls the script's `round(r)` for `r` in `0..40` and its `check()` after each, in steps of
/// 500 fuel, with a snapshot before each ten's round 3 rolled back after its round 7 (rounds
/// 3 to 7 undone: their stores go, older contents come back).
fn rounds_with_rollbacks(lua: &mut Lua) {
    let call = |lua: &mut Lua, name: &str, arg: i64| {
        let exec = lua.enter(|ctx| {
            let f = ctx.globals().get(ctx.str(name));
            ctx.stash_executor(Executor::start(ctx, f, &[lunette::Value::Integer(arg)]))
        });
        run(lua, &exec, 500);
    };
    for r in 0..40 {
        if r % 10 == 3 {
            lua.snap().unwrap();
        }
        call(lua, "round", r);
        if r % 10 == 7 {
            lua.rollback(1).unwrap();
        }
        call(lua, "check", 0);
    }
}

/// A big array part is traced in segments of 4,096 slots (`table::segments`), each made
/// gray again by a store into it. Tables stored into slots past the first segment while the
/// collector marks, in steps of 500 fuel with garbage made between the stores, and put back
/// by rollbacks, all stay alive with their contents: a missed barrier would let the collector
/// free a table the array still holds (and the allocator hand its memory to the garbage).
#[test]
fn tables_stored_into_a_big_array_while_the_collector_marks_stay_alive() {
    let (mut lua, _) = lua(false);
    let setup = start(
        &mut lua,
        "big = {} for i = 1, 40000 do big[i] = i end
         function round(r)
           for i = 4097 + r % 97, 40000, 97 do
             big[i] = {i, r, tostring(i)}
             local garbage = {r, {}, 'x' .. i}
           end
         end
         function check()
           local n = 0
           for i = 4097, 40000 do
             local t = big[i]
             if type(t) == 'table' then
               assert(t[1] == i and t[3] == tostring(i), 'slot ' .. i .. ' holds a stranger')
               n = n + 1
             else
               assert(t == i, 'slot ' .. i)
             end
           end
           return n
         end",
    );
    run(&mut lua, &setup, 1_000_000);
    rounds_with_rollbacks(&mut lua);
    let stored = lua.execute(b"return check()", "=count").unwrap();
    let stored: usize = stored[0].parse().unwrap();
    assert!(stored > 4000, "{stored} tables stored");
}

/// A big hash part is traced in segments of 2,048 entries (`table::segments`), each made
/// gray again by a store into it. Tables stored as values of existing keys past the first
/// segment, and as new keys and values (appended entries), while the collector marks, in
/// steps of 500 fuel with garbage made between the stores, with keys removed (near the
/// start too: the entries fill and are compacted, moving most of them down, some into the
/// segment before) and rollbacks putting older contents back: every table stays alive with
/// its contents.
#[test]
fn tables_stored_into_a_big_hash_part_while_the_collector_marks_stay_alive() {
    let (mut lua, _) = lua(false);
    let setup = start(
        &mut lua,
        "big = {}
         for i = 1, 200 do big['d' .. i] = true end
         for i = 1, 16084 do big['k' .. i] = i end
         added = {}
         function round(r)
           -- Keys removed near the start: a compaction moves every later entry down.
           for i = r * 5 + 1, r * 5 + 5 do big['d' .. i] = nil end
           for i = 2049 + r % 97, 16084, 97 do
             big['k' .. i] = {i, r, tostring(i)}
             local garbage = {r, {}, 'x' .. i}
           end
           local mine = {}
           for j = 1, 50 do
             local key = {}
             big[key] = {j, key, tostring(j)}
             mine[j] = key
             local garbage = {j, {}}
           end
           added[r] = mine
           for ar, keys in pairs(added) do
             if ar < r - 1 then
               for _, key in ipairs(keys) do big[key] = nil end
               added[ar] = nil
             end
           end
         end
         function check()
           local strings, tables = 0, 0
           for k, v in pairs(big) do
             if type(k) == 'string' and k:sub(1, 1) == 'd' then
               assert(v == true, k)
             elseif type(k) == 'string' then
               local i = tonumber(k:sub(2))
               if type(v) == 'table' then
                 assert(v[1] == i and v[3] == tostring(i), 'key ' .. k .. ' holds a stranger')
                 strings = strings + 1
               else
                 assert(v == i, k)
               end
             else
               assert(type(k) == 'table' and v[2] == k and v[3] == tostring(v[1]), 'a table key')
               tables = tables + 1
             end
           end
           return strings * 1000000 + tables
         end",
    );
    run(&mut lua, &setup, 1_000_000);
    rounds_with_rollbacks(&mut lua);
    let counts = lua.execute(b"return check()", "=count").unwrap();
    let counts: usize = counts[0].parse().unwrap();
    let (strings, tables) = (counts / 1_000_000, counts % 1_000_000);
    assert!(strings > 2000, "{strings} tables stored as values");
    assert_eq!(tables, 100, "the last two rounds' keys");
}

/// A full collection clears its weak tables in slices after the mark (`gc::WeakClearing`),
/// paid for like the mark: a script waits the same number of steps for it whether the host
/// finishes it early (any `enter` does) or not, and the entries whose keys died are gone.
#[test]
fn weak_tables_are_cleared_in_paid_slices_whatever_the_host_does() {
    let src = "wk = setmetatable({}, {__mode = 'k'})
         keep = {}
         for i = 1, 60000 do local k = {} keep[i] = k wk[k] = i end
         local function count() local c = 0 for _ in pairs(wk) do c = c + 1 end return c end
         collectgarbage()
         assert(count() == 60000)
         for i = 1, 60000, 2 do keep[i] = false end
         collectgarbage()
         return count()";
    let steps_with = |settle_every: Option<u64>| {
        let (mut lua, _) = lua(true);
        let exec = start(&mut lua, src);
        let mut steps = 0u64;
        loop {
            steps += 1;
            assert!(steps < 1_000_000, "does not finish");
            let done = lua.step(&exec, &mut Fuel::new(200)).is_done();
            if done {
                break;
            }
            if settle_every.is_some_and(|n| steps.is_multiple_of(n)) {
                lua.enter(|_| ());
            }
        }
        let left = lua.enter(|ctx| match ctx.fetch_executor(&exec).unwrap().result() {
            Some(ExecResult::Returned(values)) => format!("{:?}", values),
            other => panic!("{:?}", other.is_some()),
        });
        (steps, left)
    };
    let alone = steps_with(None);
    assert!(alone.1.contains("30000"), "{}", alone.1);
    assert_eq!(steps_with(Some(3)), alone);
    assert_eq!(steps_with(Some(17)), alone);
}

/// A function's constants are marked in pieces, each constant a unit of the mark's work (a
/// prototype of 50,000 string constants was one node of 4 units: a 2 ms slice on a big heap
/// for the work of a few tables), so keeping such a function alive through a full
/// collection makes the script wait more steps for the mark.
#[test]
fn a_big_prototype_is_marked_in_paid_pieces() {
    let steps_keeping = |keep: bool| {
        let src = format!(
            "local src = {{}}
             for i = 1, 50000 do src[i] = ('x = %q'):format('s' .. i) end
             local f = load(table.concat(src, ' '))
             src = nil
             if not {keep} then f = nil end
             collectgarbage()
             return f ~= nil"
        );
        let (mut lua, _) = lua(true);
        let exec = start(&mut lua, &src);
        run(&mut lua, &exec, 200).0
    };
    let (kept, dropped) = (steps_keeping(true), steps_keeping(false));
    // 50,000 units of mark work at 4,096 a slice (the least a slice does).
    assert!(kept >= dropped + 10, "kept {kept} steps, dropped {dropped}");
}

/// A deep recursion's frames are traced by segments below a watermark (see the vm's
/// `frame_stack`): what only those frames hold (an `xpcall` handler, `table.sort`'s state
/// and comparator, a `pcall` body in a coroutine suspended deep down) survives the
/// collector's cycles, run in slices between small steps while the watermark goes down
/// (unwinding, errors) and up (regrowth) between them.
#[test]
fn deep_frames_keep_what_they_hold_through_collections() {
    let src = include_str!("lua/deep_frames_gc.lua");
    let expected = include_str!("lua/deep_frames_gc.out");
    for fuel in [700, 9_000] {
        let (mut lua, host) = lua(false);
        let exec = start(&mut lua, src);
        run(&mut lua, &exec, fuel);
        let out = String::from_utf8(host.take_stdout()).unwrap();
        assert_eq!(out, expected, "fuel {fuel} a step");
    }
}

/// Tables stored into the value-stack slots of frames deep below the top (a bottom frame's
/// local set through an open upvalue from thousands of calls up, `debug.setlocal` into a
/// frame 3,000 levels down, every level's local set through its own upvalue) and held there
/// only, while the collector runs cycles in slices between small steps, all survive with
/// their contents. (The frames there are sealed and traced by segments, `frame_stack`; a
/// stack traced the same way would have to see these stores: with the stores not lowering
/// its watermark, this test failed, `held[3]` read from a freed table.)
#[test]
fn values_stored_into_deep_frames_survive_collections() {
    let src = include_str!("lua/deep_stack_values_gc.lua");
    let expected = include_str!("lua/deep_stack_values_gc.out");
    for fuel in [300, 700, 9_000] {
        let (mut lua, host) = lua(false);
        let exec = start(&mut lua, src);
        run(&mut lua, &exec, fuel);
        let out = String::from_utf8(host.take_stdout()).unwrap();
        assert_eq!(out, expected, "fuel {fuel} a step");
    }
}
