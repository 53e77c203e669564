//! Big strings built in pieces across steps (`lunette_vm::big_string`): a `..`,
//! `string.rep`, `table.concat`, `gsub` or `format` result longer than 256 KiB is written a
//! piece at a time, its buffer kept outside snapshots. The pieces are physical work only:
//! step sizes, ring rollbacks into the middle of a build (and to before it, with another
//! input), and owned snapshots restored into a fresh VM must never show in a result, a
//! checksum or the fuel spent.

use std::rc::Rc;

use lunette::vm::{ExecResult, Executor, Value};
use lunette::{CaptureHost, Fuel, Lua, StashedExecutor};

const GAME: &str = r##"
local function digest(s)
  local h = #s
  for i = 1, #s, 4099 do h = (h * 31 + s:byte(i)) % 1000000007 end
  return h
end
-- builds several big strings from `seed` and describes them
function build(seed)
  local unit = "<" .. seed .. ">"
  local r = unit:rep(50000, ",")
  local c = r .. seed .. r
  local j = table.concat({c, c, c}, "|")
  local g = j:gsub(",", ";")
  kept = j
  return #r .. " " .. #c .. " " .. #j .. " " .. #g .. " " .. digest(r) .. " " .. digest(c)
    .. " " .. digest(j) .. " " .. digest(g) .. " " .. g:sub(1, 10) .. g:sub(-10)
end
"##;

fn vm() -> Lua {
    let mut lua = Lua::with_host(Rc::new(CaptureHost::new()));
    lua.execute(GAME.as_bytes(), "=game").expect("game loads");
    // (checksums are comparable once both VMs took their first at the same point)
    lua.checksum().unwrap();
    lua
}

fn start(lua: &mut Lua, seed: i64) -> StashedExecutor {
    lua.enter(|ctx| {
        let f = ctx.globals().get(ctx.str("build"));
        ctx.stash_executor(Executor::start(ctx, f, &[Value::Integer(seed)]))
    })
}

/// Steps `exec` to its end in steps of `fuel`: its result and the number of steps.
fn finish(lua: &mut Lua, exec: &StashedExecutor, fuel: i64) -> (String, usize) {
    let mut steps = 1;
    while !lua.step(exec, &mut Fuel::new(fuel)).is_done() {
        steps += 1;
    }
    let out = lua.enter(|ctx| match ctx.fetch_executor(exec).unwrap().result() {
        Some(ExecResult::Returned(v)) => {
            lunette::vm::display_plain(v.first().copied().unwrap_or(Value::Nil))
        }
        Some(ExecResult::Errored { value, traceback }) => {
            panic!("{}\n{traceback}", lunette::vm::display_plain(value))
        }
        None => panic!("not finished"),
    });
    (out, steps)
}

/// The result of `build(seed)` run straight, and the checksum after it.
fn reference(seed: i64) -> (String, u64) {
    let mut lua = vm();
    let exec = start(&mut lua, seed);
    let (out, _) = finish(&mut lua, &exec, i64::MAX / 4);
    (out, lua.checksum().unwrap())
}

#[test]
fn step_sizes_do_not_change_a_big_string_or_the_fuel_it_costs() {
    let (want, sum) = reference(7);
    assert!(want.starts_with("199999 399999 1199999 1199999 "), "{want}");
    let mut spent = None;
    for fuel in [1, 97, 1000, 30_000] {
        let mut lua = vm();
        let exec = start(&mut lua, 7);
        let mut total = 0;
        loop {
            let mut f = Fuel::new(fuel);
            let done = lua.step(&exec, &mut f).is_done();
            total += fuel - f.remaining();
            if done {
                break;
            }
        }
        let (out, _) = finish(&mut lua, &exec, 1);
        assert_eq!(out, want, "fuel {fuel}");
        assert_eq!(lua.checksum().unwrap(), sum, "fuel {fuel}");
        assert_eq!(
            *spent.get_or_insert(total),
            total,
            "fuel spent, steps of {fuel}"
        );
    }
    // Built in pieces: at 1,000 fuel a step, the build takes many steps.
    let mut lua = vm();
    let exec = start(&mut lua, 7);
    let (_, steps) = finish(&mut lua, &exec, 1000);
    assert!(steps > 100, "{steps} steps");
}

#[test]
fn rollbacks_into_and_before_a_build_give_the_right_string() {
    let (want7, sum7) = reference(7);
    let (want8, _) = reference(8);
    for k in [1usize, 5, 40, 120] {
        let mut lua = vm();
        // Into the build: snap after k steps, run on, roll back, finish.
        let exec = start(&mut lua, 7);
        for _ in 0..k {
            assert!(!lua.step(&exec, &mut Fuel::new(1000)).is_done());
        }
        lua.snap().unwrap();
        for _ in 0..30 {
            lua.step(&exec, &mut Fuel::new(1000));
        }
        lua.rollback(1).unwrap();
        assert_eq!(
            finish(&mut lua, &exec, 1000).0,
            want7,
            "rollback after {k} steps"
        );
        assert_eq!(
            lua.checksum().unwrap(),
            sum7,
            "checksum, rollback after {k} steps"
        );

        // Before the build: the same ids and slots, another recipe.
        lua.snap().unwrap();
        let exec = start(&mut lua, 7);
        for _ in 0..k {
            lua.step(&exec, &mut Fuel::new(1000));
        }
        lua.rollback(1).unwrap();
        let exec = start(&mut lua, 8);
        assert_eq!(
            finish(&mut lua, &exec, 1000).0,
            want8,
            "other seed after {k} steps"
        );
        lua.rollback(1).unwrap();
        let exec = start(&mut lua, 7);
        assert_eq!(
            finish(&mut lua, &exec, 1000).0,
            want7,
            "seed again after {k} steps"
        );
        lua.rollback(1).unwrap();
    }
}

#[test]
fn a_build_paused_mid_step_continues_in_a_fresh_vm() {
    let (want, sum) = reference(7);
    for k in [1usize, 9, 60, 200] {
        let mut lua = vm();
        let exec = start(&mut lua, 7);
        for _ in 0..k {
            assert!(!lua.step(&exec, &mut Fuel::new(1000)).is_done());
        }
        let bytes = lua.snapshot().unwrap().to_bytes().unwrap();
        let mut joiner = vm();
        let snapshot = joiner
            .snapshot_from_bytes(&bytes)
            .expect("image reads back");
        joiner.restore(&snapshot).unwrap();
        assert_eq!(
            joiner.checksum().unwrap(),
            lua.checksum().unwrap(),
            "after {k} steps"
        );
        let moved = joiner
            .restored_executor(exec.id())
            .expect("paused executor");
        assert_eq!(
            finish(&mut joiner, &moved, 1000).0,
            want,
            "joiner after {k} steps"
        );
        assert_eq!(
            joiner.checksum().unwrap(),
            sum,
            "joiner checksum after {k} steps"
        );
        assert_eq!(
            finish(&mut lua, &exec, 1000).0,
            want,
            "source after {k} steps"
        );
        assert_eq!(
            lua.checksum().unwrap(),
            sum,
            "source checksum after {k} steps"
        );
    }
}

/// The builder is invisible to debug hooks: a big result's call and return events are the
/// same as a small one's (PUC has no builder), also when the build pauses between steps.
#[test]
fn hooks_see_the_same_events_for_big_and_small_results() {
    const SCRIPT: &str = r#"
        local function events(n)
          local a = ("ab"):rep(n)
          local log = {}
          debug.sethook(function(ev)
            local i = debug.getinfo(2, "n")
            log[#log + 1] = ev .. ":" .. tostring(i and i.name)
          end, "cr")
          local b = a .. a
          local c = a:rep(2)
          local d = table.concat({a, a})
          local e = a:gsub("a", "c")
          local f = string.format("%s%s", a, a)
          local g = a:upper():sub(2):reverse()
          debug.sethook()
          return table.concat(log, " ")
        end
        small, big = events(1000), events(1000000)
    "#;
    for fuel in [1000, 1_000_000_000] {
        let host = CaptureHost {
            grants: lunette::Grants {
                debug: true,
                ..lunette::Grants::default()
            },
            ..CaptureHost::default()
        };
        let mut lua = Lua::with_host(Rc::new(host));
        let f = lua.load(SCRIPT.as_bytes(), "=hooks").unwrap();
        let exec = lua.enter(|ctx| {
            let f = ctx.fetch(&f).unwrap();
            ctx.stash_executor(Executor::start(ctx, f, &[]))
        });
        let (_, steps) = finish(&mut lua, &exec, fuel);
        let (small, big) = lua.enter(|ctx| {
            let g = |k: &str| lunette::vm::display_plain(ctx.globals().get(ctx.str(k)));
            (g("small"), g("big"))
        });
        assert!(small.contains("call:rep return:rep"), "{small}");
        assert_eq!(big, small, "steps of {fuel} ({steps} steps)");
    }
}
