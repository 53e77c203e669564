//! Save a running game as bytes, load it in a fresh VM, and continue identically.
//!
//! A game script (entities, coroutine AIs in the middle of their routines, the random
//! generator, a sorted leaderboard, a weak cache) runs one frame per `update(frame)` call,
//! each frame an executor stepped with a small fuel budget. At frame 150 the VM is saved
//! *in the middle of a frame* (the executor paused mid-step), as bytes
//! ([`Snapshot::to_bytes`](lunette::Snapshot::to_bytes)). A brand-new VM (same libraries,
//! nothing shared) reads the bytes ([`Lua::snapshot_from_bytes`](lunette::vm::Lua::snapshot_from_bytes)),
//! restores them, takes the paused frame back by id, and plays on to frame 300: its log and
//! checksums equal a straight run's.
//!
//! `cargo run --example save_game`

use std::rc::Rc;

use lunette::{CaptureHost, Fuel, Lua, StashedExecutor};

const GAME: &str = r#"
math.randomseed(42)
local entities = {}
for i = 1, 40 do
  entities[i] = {id = i, x = math.random(0, 100), y = math.random(0, 100), hp = 100, score = 0}
end
local cache = setmetatable({}, {__mode = "k"})

-- Each entity's AI is a coroutine, suspended between frames in the middle of its routine.
local function brain(e)
  return coroutine.wrap(function()
    while true do
      for step = 1, math.random(2, 6) do
        e.x = e.x + math.random(-3, 3)
        e.y = e.y + math.random(-3, 3)
        coroutine.yield()
      end
      local ok = pcall(function()
        if e.hp < 20 then error("fleeing") end
        e.score = e.score + math.random(1, 10)
      end)
      if not ok then e.hp = e.hp + 30 end
      coroutine.yield()
    end
  end)
end
local brains = {}
for i, e in ipairs(entities) do brains[i] = brain(e) end

function update(frame)
  for i, think in ipairs(brains) do
    think()
    local e = entities[i]
    e.hp = math.max(0, e.hp - math.random(0, 2))
    cache[e] = ("%d:%d,%d"):format(e.id, e.x, e.y)
  end
  if frame % 50 == 0 then
    local board = {}
    for _, e in ipairs(entities) do board[#board + 1] = e end
    table.sort(board, function(a, b)
      if a.score ~= b.score then return a.score > b.score end
      return a.id < b.id
    end)
    print(("frame %d: leader #%d (%d points), %s"):format(
      frame, board[1].id, board[1].score, cache[board[1]]))
  end
end
"#;

/// Fuel per step: small, so frames span several steps (and a save can land mid-frame).
const STEP_FUEL: i64 = 1_500;

fn new_vm(host: &CaptureHost) -> Lua {
    Lua::with_host(Rc::new(host.clone()))
}

fn start_frame(lua: &mut Lua, frame: i64) -> StashedExecutor {
    lua.chunk(&format!("update({frame})"))
        .name("=frame")
        .start(())
        .expect("frame starts")
}

fn finish_frame(lua: &mut Lua, exec: &StashedExecutor) {
    while !lua.step(exec, &mut Fuel::new(STEP_FUEL)).is_done() {}
    lua.results::<()>(exec).expect("frame runs");
}

/// Plays frames `from..=to`; returns the checksum after each 50th.
fn play(lua: &mut Lua, from: i64, to: i64, checksums: &mut Vec<u64>) {
    for frame in from..=to {
        let exec = start_frame(lua, frame);
        finish_frame(lua, &exec);
        if frame % 50 == 0 {
            checksums.push(lua.checksum().expect("checksum"));
        }
    }
}

fn main() {
    // The straight run: frames 1 to 300 in one VM.
    let host = CaptureHost::default();
    let mut straight = new_vm(&host);
    straight.exec(GAME).expect("game loads");
    let mut expected = Vec::new();
    play(&mut straight, 1, 300, &mut expected);
    let expected_log = String::from_utf8(host.take_stdout()).unwrap();

    // The saved run: frames 1 to 149, then frame 150 paused after its first step.
    let host = CaptureHost::default();
    let mut game = new_vm(&host);
    game.exec(GAME).expect("game loads");
    let mut checksums = Vec::new();
    play(&mut game, 1, 149, &mut checksums);
    let exec = start_frame(&mut game, 150);
    assert!(!game.step(&exec, &mut Fuel::new(STEP_FUEL)).is_done());
    let bytes = game
        .snapshot()
        .and_then(|s| s.to_bytes())
        .expect("the game saves");
    let paused_frame = exec.id();
    let log_before = String::from_utf8(host.take_stdout()).unwrap();
    drop(game); // the process could end here: the bytes are all that is left
    println!(
        "saved mid-frame 150: {} bytes ({} KiB)",
        bytes.len(),
        bytes.len() / 1024
    );

    // Loading: a fresh VM, the same libraries, the bytes.
    let host2 = CaptureHost::default();
    let mut loaded = new_vm(&host2);
    let snapshot = loaded.snapshot_from_bytes(&bytes).expect("the save reads");
    loaded.restore(&snapshot).expect("the save restores");
    let exec = loaded
        .restored_executor(paused_frame)
        .expect("the paused frame came along");
    finish_frame(&mut loaded, &exec);
    checksums.push(loaded.checksum().unwrap());
    play(&mut loaded, 151, 300, &mut checksums);
    let log = log_before + &String::from_utf8(host2.take_stdout()).unwrap();

    print!("{log}");
    assert_eq!(log, expected_log, "the loaded game plays on identically");
    assert_eq!(checksums, expected, "checksums every 50 frames equal");
    println!("frames 151-300 after loading equal a straight run (checksums {checksums:x?})");
}
