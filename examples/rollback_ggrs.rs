//! A lunette game state driven by a real `ggrs` `SyncTestSession`: every frame ggrs asks to
//! save the state, to advance it with both players' inputs, and (check distance 7) to load a
//! state 7 frames back and re-simulate, comparing checksums of every re-simulated frame with
//! the first run. Any divergence is a desync error from ggrs.
//!
//! The VM's snapshot ring does the saving: `snap()` per saved frame costs what changed, and a
//! load is `rollback(n)` to that frame's snap. The ggrs cell holds the frame number (the ring
//! holds the state) and the VM's checksum.
//!
//! `cargo run --example rollback_ggrs [frames]` (default 1200).

use std::rc::Rc;

use ggrs::{Config, Frame, GgrsRequest, PredictRepeatLast, SessionBuilder};
use lunette::{CaptureHost, Lua, LuaError};

/// The game: players steer, entities spawn from a seeded generator, live in tables, age and
/// die; a coroutine drives a wave timer; strings are built and hashed. All of it is VM state.
const GAME: &str = r#"
math.randomseed(42)
players = { {x = 0, y = 0, score = 0}, {x = 100, y = 100, score = 0} }
entities = {}
frame = 0
log = {}
local waves = coroutine.wrap(function()
    while true do
        for _ = 1, 30 do coroutine.yield(false) end
        coroutine.yield(true)
    end
end)

function advance(in1, in2)
    frame = frame + 1
    for i, input in ipairs({in1, in2}) do
        local p = players[i]
        if input & 1 ~= 0 then p.x = p.x - 1 end
        if input & 2 ~= 0 then p.x = p.x + 1 end
        if input & 4 ~= 0 then p.y = p.y - 1 end
        if input & 8 ~= 0 then p.y = p.y + 1 end
    end
    if waves() then
        for _ = 1, math.random(3, 8) do
            entities[#entities + 1] = {x = math.random(0, 100), y = math.random(0, 100),
                                       life = math.random(20, 90), name = "e" .. frame}
        end
    end
    local alive = {}
    for _, e in ipairs(entities) do
        e.life = e.life - 1
        for _, p in ipairs(players) do
            if math.abs(p.x - e.x) + math.abs(p.y - e.y) < 12 then
                p.score = p.score + 1
                e.life = 0
            end
        end
        if e.life > 0 then alive[#alive + 1] = e end
    end
    entities = alive
    log[frame % 8] = string.format("%d:%d:%d", frame, players[1].score, players[2].score)
end
"#;

struct GameConfig;

impl Config for GameConfig {
    type Input = u8;
    type InputPredictor = PredictRepeatLast;
    /// The frame a ring snap holds.
    type State = Frame;
    type Address = String;
}

/// The lunette side of the session: the VM and which frame each ring snap holds.
struct Game {
    lua: Lua,
    /// Frames of the snaps in the ring, oldest first.
    snapped: Vec<Frame>,
}

impl Game {
    fn new() -> Result<Game, LuaError> {
        let mut lua = Lua::sandboxed(Rc::new(CaptureHost::new()));
        lua.set_max_snapshots(16);
        lua.exec(GAME)?;
        Ok(Game {
            lua,
            snapped: Vec::new(),
        })
    }

    fn save(&mut self, frame: Frame) -> Result<u128, LuaError> {
        self.lua.snap()?;
        self.snapped.push(frame);
        let keep = self.lua.snapshots_held();
        if self.snapped.len() > keep {
            self.snapped.drain(..self.snapped.len() - keep);
        }
        Ok(self.lua.checksum()? as u128)
    }

    fn load(&mut self, frame: Frame) -> Result<(), LuaError> {
        let at = self
            .snapped
            .iter()
            .rposition(|f| *f == frame)
            .ok_or_else(|| LuaError::host(format!("frame {frame} is no longer in the ring")))?;
        self.lua.rollback(self.snapped.len() - at)?;
        self.snapped.truncate(at + 1);
        Ok(())
    }

    fn advance(&mut self, inputs: (u8, u8)) -> Result<(), LuaError> {
        // A frame's script work is capped: a runaway mod costs a frame, not the game.
        let advance = self.lua.global("advance")?;
        self.lua.call_with_fuel::<()>(&advance, inputs, 1_000_000)
    }
}

/// A deterministic input script for player `p` at frame `f`.
fn input(p: usize, f: Frame) -> u8 {
    let x = (f as u32)
        .wrapping_mul(2654435761)
        .rotate_left(p as u32 * 7 + 3);
    (x >> 7) as u8 & 0x0f
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let frames: i32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1200);
    let mut session = SessionBuilder::<GameConfig>::new()
        .with_num_players(2)?
        .with_check_distance(7)
        .start_synctest_session()?;
    let mut game = Game::new()?;
    let (mut saves, mut loads) = (0, 0);
    for f in 0..frames {
        for p in 0..2 {
            session.add_local_input(p, input(p, f))?;
        }
        for request in session.advance_frame()? {
            match request {
                GgrsRequest::SaveGameState { cell, frame } => {
                    let checksum = game.save(frame)?;
                    cell.save(frame, Some(frame), Some(checksum));
                    saves += 1;
                }
                GgrsRequest::LoadGameState { cell, frame } => {
                    let saved = cell.load().expect("ggrs loads only saved frames");
                    assert_eq!(saved, frame);
                    game.load(frame)?;
                    loads += 1;
                }
                GgrsRequest::AdvanceFrame { inputs } => {
                    game.advance((inputs[0].0, inputs[1].0))?;
                }
            }
        }
    }
    let (score1, score2): (i64, i64) = game.lua.eval("players[1].score, players[2].score")?;
    let entities: i64 = game.lua.eval("#entities")?;
    println!(
        "{frames} frames, {saves} saves, {loads} rollbacks of 7 frames re-simulated: no desync \
         (scores {score1}:{score2}, {entities} entities alive, checksum {:016x})",
        game.lua.checksum()?
    );
    Ok(())
}
