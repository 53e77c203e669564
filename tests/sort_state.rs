//! `table.sort` (and the proxy paths of the other table functions) keep their continuation
//! state in a resumable state object (`lunette_vm::ResumableState`): a sort paused in the
//! middle, with a Lua comparator waiting, survives a ring rollback, an owned snapshot and a
//! byte image into a fresh VM, and its results and total fuel do not depend on the step size.

use std::rc::Rc;

use lunette::{CaptureHost, Executor, Fuel, Lua, StashedExecutor};

/// A sort with a comparator that counts its calls and yields to nobody, a proxy sort (every
/// access a metamethod), and a concat/unpack through proxies: the output digests them all.
const SRC: &str = r##"
local seed = 11
local function rand(n)
  seed = (seed * 1103515245 + 12345) % 2147483648
  return seed % n
end
local recs = {}
for i = 1, 400 do recs[i] = { key = rand(50), id = i } end
local calls = 0
table.sort(recs, function(a, b)
  calls = calls + 1
  if a.key ~= b.key then return a.key < b.key end
  return a.id > b.id
end)
local digest = 0
for i = 1, #recs do digest = (digest * 31 + recs[i].id) % 1000003 end
print("records", calls, digest)

local data = {}
for i = 1, 300 do data[i] = rand(1000) end
local log = 0
local proxy = setmetatable({}, {
  __index = function(_, k) log = log + 1 return data[k] end,
  __newindex = function(_, k, v) log = log + 1 data[k] = v end,
  __len = function() return #data end,
})
table.sort(proxy, function(a, b) return a > b end)
local ok = true
for i = 2, #data do ok = ok and data[i - 1] >= data[i] end
print("proxy", ok, log)
local words = setmetatable({}, { __index = function(_, k) return "w" .. k end,
  __len = function() return 500 end })
local s = table.concat(words, ",")
print("concat", #s, select("#", table.unpack(words, 1, 500)))
"##;

fn start(lua: &mut Lua) -> StashedExecutor {
    let f = lua.load(SRC.as_bytes(), "=sort_state").expect("compiles");
    lua.enter(|ctx| {
        let f = ctx.fetch(&f).unwrap();
        ctx.stash_executor(Executor::start(ctx, f, &[]))
    })
}

fn vm() -> (Lua, CaptureHost) {
    let host = CaptureHost::new();
    (Lua::with_host(Rc::new(host.clone())), host)
}

fn out(host: &CaptureHost) -> String {
    String::from_utf8(host.take_stdout()).unwrap()
}

/// Steps with `budget` until done; returns the total fuel used.
fn finish(lua: &mut Lua, exec: &StashedExecutor, budget: i64) -> i64 {
    let mut total = 0;
    for _ in 0..10_000_000 {
        let mut fuel = Fuel::new(budget);
        let done = lua.step(exec, &mut fuel).is_done();
        total += budget - fuel.remaining();
        if done {
            return total;
        }
    }
    panic!("did not finish");
}

/// A straight run's output.
fn straight() -> String {
    let (mut lua, host) = vm();
    let exec = start(&mut lua);
    finish(&mut lua, &exec, 10_000);
    let o = out(&host);
    assert!(o.contains("proxy\ttrue"), "{o}");
    o
}

#[test]
fn a_paused_sort_rolls_back_restores_and_travels_as_bytes() {
    let expected = straight();
    // Pause in the middle of the first sort (well inside its comparator calls), and at
    // later points (the proxy sort, the concat).
    for pause_after in [40, 300, 900, 1500] {
        let (mut lua, host) = vm();
        let exec = start(&mut lua);
        for _ in 0..pause_after {
            assert!(!lua.step(&exec, &mut Fuel::new(37)).is_done());
        }
        let printed = out(&host);
        lua.snap().unwrap();
        let owned = lua.snapshot().unwrap();
        let checksum = lua.checksum().unwrap();
        let bytes = owned.to_bytes().unwrap();

        finish(&mut lua, &exec, 53);
        assert_eq!(printed.clone() + &out(&host), expected, "straight on");

        // The ring: back to the pause, run again.
        lua.rollback(1).unwrap();
        assert_eq!(lua.checksum().unwrap(), checksum);
        finish(&mut lua, &exec, 1000);
        assert_eq!(printed.clone() + &out(&host), expected, "after rollback");

        // The owned snapshot.
        lua.restore(&owned).unwrap();
        finish(&mut lua, &exec, 7);
        assert_eq!(printed.clone() + &out(&host), expected, "after restore");

        // Bytes, into a fresh VM.
        let (mut fresh, fresh_host) = vm();
        let back = fresh.snapshot_from_bytes(&bytes).unwrap();
        fresh.restore(&back).unwrap();
        assert_eq!(fresh.checksum().unwrap(), checksum);
        let exec = fresh
            .restored_executor(exec.id())
            .expect("the paused sort came along");
        finish(&mut fresh, &exec, 100);
        assert_eq!(printed + &out(&fresh_host), expected, "from bytes");
    }
}

#[test]
fn results_and_fuel_do_not_depend_on_the_step_size() {
    let mut seen = None;
    for budget in [1, 7, 10_000] {
        let (mut lua, host) = vm();
        let exec = start(&mut lua);
        let total = finish(&mut lua, &exec, budget);
        let run = (out(&host), total);
        match &seen {
            None => seen = Some(run),
            Some(first) => assert_eq!(&run, first, "fuel {budget}"),
        }
    }
}

#[test]
fn corrupt_sort_states_in_images_are_errors() {
    // A byte image whose sort state is damaged anywhere reads or restores with an error,
    // never a panic (each byte of the image flipped in turn, within the resumable's part).
    let (mut lua, _host) = vm();
    let exec = start(&mut lua);
    for _ in 0..400 {
        lua.step(&exec, &mut Fuel::new(37));
    }
    let bytes = lua.snapshot().unwrap().to_bytes().unwrap();
    for i in (0..bytes.len()).step_by(7) {
        let mut bad = bytes.clone();
        bad[i] ^= 0x5a;
        let (mut fresh, _) = vm();
        if let Ok(back) = fresh.snapshot_from_bytes(&bad) {
            let _ = fresh.restore(&back);
        }
    }
}
