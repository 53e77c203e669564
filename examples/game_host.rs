//! A small game host, end to end: two sandboxed mods with their own globals, a typed Rust
//! API and a `Vec2` userdata, `on_tick(dt)` called from Rust every frame, tasklets that
//! `wait` under a fuel budget per frame, a host request (an asset load) answered frames
//! later, a mod's runtime error reported with its traceback while the game goes on, an
//! infinite loop cut off, and a snapshot every frame with a rollback of 3 frames that
//! re-simulates to the same checksums.
//!
//! `cargo run --example game_host`

use std::cell::RefCell;
use std::rc::Rc;

use lunette::{
    CaptureHost, Lua, LuaError, MetaEvent, Rewindable, StashedValue, TaskletConfig,
    UserDataRegistry, UserDataType,
};

/// Mods are strangers' code: each runs in its own environment of a sandboxed VM.
const ORCS: &str = r#"
local units = {}
function on_tick(dt)
  for _, u in ipairs(units) do u.pos = u.pos + u.vel * dt end
end
local function patrol(name, x)
  local u = {name = name, pos = Vec2.new(x, 0), vel = Vec2.new(1, 0.5)}
  units[#units + 1] = u
  for leg = 1, 3 do
    tasklet.wait(4)
    u.vel = -u.vel
    game.effect("turn", u.pos)
  end
end
function main()                                  -- runs as the mod's first tasklet
  tasklet.spawn(patrol, "grok", 0)
  tasklet.spawn(patrol, "mug", 10)
  local ok, bytes = tasklet.request("load_asset", "orc.png")
  game.log(("orc skin loaded at frame %d: %s, %d bytes"):format(tasklet.frame(), tostring(ok), bytes))
end
function status()
  local s = {}
  for _, u in ipairs(units) do s[#s + 1] = ("%s at %s"):format(u.name, tostring(u.pos)) end
  return table.concat(s, ", ")
end
"#;

const GREMLINS: &str = r#"
local ticks = 0
function on_tick(dt)
  ticks = ticks + 1
  if ticks == 12 then while true do end end   -- a runaway handler, once
end
function main()
  tasklet.wait(5)
  local inventory = nil
  return inventory.gold                          -- a bug: reported, the game goes on
end
"#;

#[derive(Clone, Copy, Debug, PartialEq)]
struct Vec2 {
    x: f64,
    y: f64,
}

impl UserDataType for Vec2 {
    const NAME: &'static str = "Vec2";
    fn register(r: &mut UserDataRegistry<Self>) {
        r.rewindable(); // copied into snapshots, journaled for rollback, hashed in checksums
        r.field_get("x", |_, v| Ok(v.x));
        r.field_get("y", |_, v| Ok(v.y));
        r.method("len", |_, v, ()| Ok(v.x.hypot(v.y)));
        r.meta(MetaEvent::Add, |_, (a, b): (Vec2, Vec2)| {
            Ok(Vec2 {
                x: a.x + b.x,
                y: a.y + b.y,
            })
        });
        r.meta(MetaEvent::Mul, |_, (a, k): (Vec2, f64)| {
            Ok(Vec2 {
                x: a.x * k,
                y: a.y * k,
            })
        });
        r.meta_method(MetaEvent::Unm, |_, v, ()| Ok(Vec2 { x: -v.x, y: -v.y }));
        r.meta_method(MetaEvent::ToString, |_, v, ()| {
            Ok(format!("({:.1}, {:.1})", v.x, v.y))
        });
        r.function("new", |_, (x, y): (f64, f64)| Ok(Vec2 { x, y }));
    }
}

impl Rewindable for Vec2 {
    fn checksum(&self, h: &mut lunette::ChecksumHasher) {
        h.write_f64(self.x);
        h.write_f64(self.y);
    }
}

/// What the host keeps outside the VM: effects to render (host state, not rolled back).
#[derive(Default)]
struct Renderer {
    effects: RefCell<Vec<String>>,
}

struct Mod {
    name: &'static str,
    env: StashedValue,
    on_tick: StashedValue,
}

/// Loads a mod into its own environment with the game's API.
fn load_mod(lua: &mut Lua, name: &'static str, source: &str) -> Result<Mod, LuaError> {
    let env = lua.new_environment();
    let (vec2, game) = (
        lua.userdata_statics::<Vec2>()?,
        lua.global::<StashedValue>("game")?,
    );
    lua.chunk("Vec2, game = ...")
        .env(&env)
        .call::<()>((&vec2, &game))?;
    lua.chunk(source)
        .name(&format!("@mods/{name}.lua"))
        .env(&env)
        .exec()?;
    // The mod's `main` is its first tasklet, in a group of its own (its own fuel budget).
    let (main, on_tick) = lua.chunk("return main, on_tick").env(&env).eval()?;
    lua.spawn_tasklet(name, "main", &main, ())?;
    Ok(Mod { name, env, on_tick })
}

/// One frame: host inputs (answers to requests), every mod's `on_tick`, the tasklets.
fn frame(lua: &mut Lua, mods: &[Mod], f: i64, log: &mut Vec<String>) -> Result<u64, LuaError> {
    for request in lua.pending_requests() {
        // The asset "arrives" three frames after it was asked for (on every peer alike).
        if request.kind == "load_asset" && f >= request.frame + 3 {
            lua.complete_request(request.id, (true, 4096))?;
        }
    }
    for m in mods {
        // A handler gets 50,000 units of fuel a frame; a runaway loop costs one frame.
        if let Err(e) = lua.call_with_fuel::<()>(&m.on_tick, 0.5, 50_000) {
            log.push(format!(
                "frame {f}: mod {}: on_tick stopped: {}",
                m.name, e.message
            ));
        }
    }
    for failure in lua.run_frame().failures {
        log.push(format!("frame {f}: {failure}"));
    }
    Ok(lua.checksum()?)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let host = CaptureHost::new();
    let mut lua = Lua::sandboxed(Rc::new(host.clone()));
    lua.set_app_data(Renderer::default());
    lua.register_userdata_type::<Vec2>()?;
    lua.open_tasklets(TaskletConfig {
        budget: 20_000,
        slice: 5_000,
        watchdog_frames: 3,
    });

    // The game's Rust API: typed functions, registered by name (snapshots refer to them).
    let effect = lua.create_function("game.effect", |ctx, (what, at): (String, Vec2)| {
        let renderer = ctx.app_data::<Renderer>().ok_or("no renderer")?;
        renderer
            .effects
            .borrow_mut()
            .push(format!("{what} at ({:.1}, {:.1})", at.x, at.y));
        Ok(())
    });
    let log_fn = lua.create_function("game.log", |ctx, msg: String| {
        ctx.host().write_stdout(format!("[mod] {msg}\n").as_bytes());
        Ok(())
    });
    let game = lua.new_table();
    lua.chunk("local t, effect, log = ... t.effect, t.log = effect, log")
        .call::<()>((&game, &effect, &log_fn))?;
    lua.set_global("game", &game)?;

    let mods = [
        load_mod(&mut lua, "orcs", ORCS)?,
        load_mod(&mut lua, "gremlins", GREMLINS)?,
    ];
    let mut log = Vec::new();
    let mut checksums = Vec::new();
    for f in 1..=20 {
        lua.snap()?; // every frame: costs what changed
        checksums.push(frame(&mut lua, &mods, f, &mut log)?);
    }
    print!("{}", String::from_utf8_lossy(&host.take_stdout()));
    for line in &log {
        println!("{line}");
    }
    let status: String = lua.chunk("return status()").env(&mods[0].env).eval()?;
    println!("after 20 frames: {status}");

    // A late input: back 3 frames, re-simulate them, same state.
    lua.rollback(3)?;
    for f in 18..=20 {
        if f > 18 {
            lua.snap()?;
        }
        let sum = frame(&mut lua, &mods, f, &mut Vec::new())?;
        assert_eq!(sum, checksums[f as usize - 1], "frame {f} re-simulated");
    }
    host.take_stdout();
    println!("rolled back 3 frames and re-simulated them: checksums match");
    let effects = lua
        .app_data::<Renderer>()
        .map_or(0, |r| r.effects.borrow().len());
    println!("{effects} effects rendered (host state: re-simulated frames render again)");
    Ok(())
}
