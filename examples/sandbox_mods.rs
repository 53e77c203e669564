//! Running strangers' mods: each mod gets its own environment in one sandboxed VM, a fuel
//! budget per frame and a share of the memory limit; a mod that fails, loops forever or
//! allocates without end is reported and stopped while the others keep running.
//!
//! `cargo run --example sandbox_mods`

use std::rc::Rc;

use lunette::{CaptureHost, Fuel, Lua, LuaErrorKind, StashedExecutor, StashedValue, StepStatus};

/// Each mod: a name and its source. Mods run as executors stepped once per frame.
const MODS: &[(&str, &str)] = &[
    (
        "counter",
        "local n = 0
         for frame = 1, 5 do n = n + frame; shared_total = (shared_total or 0) + 1 end
         return 'counted ' .. n",
    ),
    (
        "escape_artist",
        // Everything this mod compiles runs in its own environment; library tables are
        // frozen: nothing it does reaches the root globals or another mod.
        "local ok, err = pcall(function() string.upper = nil end)
         local g = load('return _G')()
         g.print = function() end
         return 'env is its own: ' .. tostring(g == _G) .. ', ' .. tostring(ok) .. ', ' .. err",
    ),
    (
        "buggy",
        "local function update(t) return t.position.x end
         return update({})",
    ),
    ("spinner", "while true do end"),
    (
        "hoarder",
        "local t = {} for i = 1, 1e9 do t[i] = ('x'):rep(64) .. i end",
    ),
];

/// Fuel a mod may use per frame, and how many frames a mod may run at most.
const FUEL_PER_FRAME: i64 = 20_000;
const MAX_FRAMES: usize = 200;

struct Mod {
    name: &'static str,
    env: StashedValue,
    exec: StashedExecutor,
    frames: usize,
    done: bool,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let host = CaptureHost::new();
    let mut lua = Lua::sandboxed(Rc::new(host.clone()));
    lua.set_memory_limit(Some(16 << 20));

    let mut mods = Vec::new();
    for (name, source) in MODS {
        let env = lua.new_environment();
        let exec = lua
            .chunk(*source)
            .name(&format!("@mods/{name}.lua"))
            .env(&env)
            .start(())?;
        mods.push(Mod {
            name,
            env,
            exec,
            frames: 0,
            done: false,
        });
    }

    for frame in 1..=MAX_FRAMES {
        for m in mods.iter_mut().filter(|m| !m.done) {
            m.frames += 1;
            match lua.step(&m.exec, &mut Fuel::new(FUEL_PER_FRAME)) {
                StepStatus::Returned => {
                    let result: String = lua.results(&m.exec)?;
                    println!("frame {frame:3}: {} finished: {result}", m.name);
                    m.done = true;
                }
                StepStatus::Errored => {
                    let err = lua.results::<()>(&m.exec).unwrap_err();
                    let what = match err.kind {
                        LuaErrorKind::Memory => "ran out of memory",
                        _ => "failed",
                    };
                    println!("frame {frame:3}: {} {what}: {err}", m.name);
                    m.done = true;
                }
                StepStatus::OutOfFuel | StepStatus::Waiting if m.frames == MAX_FRAMES => {
                    println!(
                        "frame {frame:3}: {} used {MAX_FRAMES} frames of fuel: stopped",
                        m.name
                    );
                    m.done = true;
                }
                StepStatus::OutOfFuel | StepStatus::Waiting => {}
            }
        }
        if mods.iter().all(|m| m.done) {
            break;
        }
        // Every 50 frames the server asks for a full collection (weak tables, finalizers,
        // `collectgarbage("count")`): the next frames' steps mark it in slices while the mods
        // wait, so no frame holds a mark of the whole heap (`gc_collect` would, now).
        if frame % 50 == 0 && !lua.full_collection_in_progress() {
            lua.request_full_collection();
        }
    }

    // Mods never touched the root globals: only their own environments changed.
    let root_total: Option<i64> = lua.global("shared_total")?;
    let counter_total: i64 = lua.chunk("return shared_total").env(&mods[0].env).eval()?;
    println!("root shared_total = {root_total:?}, counter's own = {counter_total}");
    assert_eq!(root_total, None);
    assert_eq!(lua.eval::<String>("string.upper('ok')")?, "OK");
    assert!(host.take_stdout().is_empty());
    Ok(())
}
