//! Tasklets: two sandboxed mods run scripted behaviour frame by frame under a fuel budget
//! per mod; one asks the host for an asset (a host request, answered frames later), one
//! fails (reported with its traceback while the game goes on), and the game snapshots every
//! frame and rolls back three frames, re-simulating them identically.
//!
//! `cargo run --example tasklets`

use std::rc::Rc;

use lunette::{CaptureHost, IntoLuaMulti, Lua, LuaError, StashedValue, TaskletConfig, Value};

const ORCS: &str = r#"
local wait, request = tasklet.wait, tasklet.request
function patrol(name, steps)
  for i = 1, steps do
    print(("frame %d: %s patrols (step %d)"):format(tasklet.frame(), name, i))
    wait(2)
  end
end
function load_skin()
  local ok, bytes = request("load_asset", "ogre.png")
  print(("frame %d: skin loaded: %s, %d bytes"):format(tasklet.frame(), tostring(ok), bytes))
  tasklet.signal("skin_ready", "ogre.png")
end
function wear_skin()
  local skin = tasklet.wait_signal("skin_ready")
  print(("frame %d: wearing %s"):format(tasklet.frame(), skin))
end
"#;

const BROKEN: &str = r#"
local function explode(n) error("the mod broke at step " .. n) end
function fragile()
  for i = 1, 3 do tasklet.wait() end
  explode(3)
end
function spinner() while true do end end
"#;

/// Runs a mod's chunk in a fresh environment; returns the environment.
fn load_mod(lua: &mut Lua, name: &str, source: &str) -> Result<StashedValue, LuaError> {
    let env = lua.new_environment();
    lua.chunk(source)
        .name(&format!("={name}"))
        .env(&env)
        .exec()?;
    Ok(env)
}

/// Spawns the mod's global function `f` as a tasklet of `group`.
fn spawn(
    lua: &mut Lua,
    group: &str,
    env: &StashedValue,
    f: &str,
    args: impl for<'gc> IntoLuaMulti<'gc>,
) -> Result<i64, LuaError> {
    let function = lua.enter(|ctx| match ctx.fetch(env) {
        Ok(Value::Table(env)) => ctx.stash(env.get(ctx.key(f))),
        _ => ctx.stash(Value::Nil),
    });
    lua.spawn_tasklet(group, f, &function, args)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let host = CaptureHost::new();
    let mut lua = Lua::sandboxed(Rc::new(host.clone()));
    lua.open_tasklets(TaskletConfig {
        budget: 20_000,
        slice: 5_000,
        watchdog_frames: 5,
    });

    // Each mod gets its own globals and its own group (its own budget and signals).
    let orcs = load_mod(&mut lua, "orcs", ORCS)?;
    let broken = load_mod(&mut lua, "broken", BROKEN)?;
    spawn(&mut lua, "orcs", &orcs, "patrol", ("Grok", 3))?;
    spawn(&mut lua, "orcs", &orcs, "load_skin", ())?;
    spawn(&mut lua, "orcs", &orcs, "wear_skin", ())?;
    spawn(&mut lua, "broken", &broken, "fragile", ())?;
    spawn(&mut lua, "broken", &broken, "spinner", ())?;

    let mut checksums = Vec::new();
    for frame in 1..=12 {
        lua.snap()?;
        // The host answers asset requests two frames after they were made.
        for request in lua.pending_requests() {
            if request.kind == "load_asset" && request.frame + 3 <= frame {
                lua.complete_request(request.id, (true, 4096))?;
            }
        }
        let report = lua.run_frame();
        print!("{}", String::from_utf8_lossy(&host.take_stdout()));
        for failure in &report.failures {
            println!("frame {frame}: {failure}");
        }
        checksums.push(lua.checksum()?);
    }

    // A late input arrives: back three frames, re-simulate, same state.
    lua.rollback(3)?;
    host.take_stdout();
    for frame in 10..=12 {
        if frame > 10 {
            lua.snap()?;
        }
        lua.run_frame();
        assert_eq!(lua.checksum()?, checksums[frame - 1]);
    }
    println!("rolled back 3 frames and re-simulated them: checksums match");
    Ok(())
}
