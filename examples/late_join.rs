//! A late joiner: two VMs, one receives the other's bytes mid-match and both continue in
//! lockstep.
//!
//! The match runs on a host VM, one `update(frame, input)` per frame with the players'
//! inputs. At frame 100 a second player joins: the host sends its VM as bytes
//! ([`Snapshot::to_bytes`](lunette::Snapshot::to_bytes)); the joiner, a fresh VM with the
//! same libraries, reads and restores them. From then on both receive the same inputs and
//! their checksums agree on every frame (what a lockstep game compares to detect desyncs).
//!
//! `cargo run --example late_join`

use std::rc::Rc;

use lunette::{CaptureHost, Lua};

const MATCH: &str = r#"
math.randomseed(2024)
local players, bullets = {}, {}
local function spawn(name)
  players[name] = {x = math.random(0, 50), y = math.random(0, 50), hp = 10, kills = 0}
end
spawn("host")
function update(frame, input)
  if input.join then spawn(input.join) end
  for name, p in pairs(players) do
    local move = input[name] or 0
    p.x, p.y = p.x + move, p.y + (frame % 3) - 1
    if frame % 7 == 0 then
      bullets[#bullets + 1] = {owner = name, x = p.x, y = p.y, ttl = math.random(3, 9)}
    end
  end
  for i = #bullets, 1, -1 do
    local b = bullets[i]
    b.ttl = b.ttl - 1
    for name, p in pairs(players) do
      if name ~= b.owner and math.abs(p.x - b.x) + math.abs(p.y - b.y) < 4 then
        p.hp = p.hp - 1
        if players[b.owner] then players[b.owner].kills = players[b.owner].kills + 1 end
        b.ttl = 0
      end
    end
    if b.ttl <= 0 then table.remove(bullets, i) end
  end
  if frame % 50 == 0 then
    local names = {}
    for name in pairs(players) do names[#names + 1] = name end
    table.sort(names)
    for _, name in ipairs(names) do
      local p = players[name]
      print(("frame %d %s: hp %d kills %d at %d,%d"):format(frame, name, p.hp, p.kills, p.x, p.y))
    end
  end
end
"#;

/// The inputs of frame `frame` (the same for every VM: they come over the network).
fn input(frame: i64) -> String {
    let join = if frame == 101 { ", join = 'guest'" } else { "" };
    format!(
        "{{host = {}, guest = {}{join}}}",
        (frame * 7 % 5) - 2,
        (frame * 3 % 5) - 2
    )
}

fn step(lua: &mut Lua, frame: i64) {
    lua.exec(format!("update({frame}, {})", input(frame)))
        .expect("frame runs");
}

fn main() {
    let host_out = CaptureHost::default();
    let mut host = Lua::with_host(Rc::new(host_out.clone()));
    host.exec(MATCH).expect("match loads");
    for frame in 1..=100 {
        step(&mut host, frame);
    }

    // The joiner arrives: the host sends the match as bytes.
    let bytes = host
        .snapshot()
        .and_then(|s| s.to_bytes())
        .expect("match saves");
    let joiner_out = CaptureHost::default();
    let mut joiner = Lua::with_host(Rc::new(joiner_out.clone()));
    let snapshot = joiner.snapshot_from_bytes(&bytes).expect("bytes read");
    joiner.restore(&snapshot).expect("match restores");
    println!("guest joined at frame 100 ({} bytes)", bytes.len());

    for frame in 101..=200 {
        step(&mut host, frame);
        step(&mut joiner, frame);
        let (a, b) = (host.checksum().unwrap(), joiner.checksum().unwrap());
        assert_eq!(a, b, "desync at frame {frame}");
    }
    let host_log = String::from_utf8(host_out.take_stdout()).unwrap();
    let joiner_log = String::from_utf8(joiner_out.take_stdout()).unwrap();
    print!("{host_log}");
    assert!(
        host_log.ends_with(&joiner_log),
        "the joiner saw the same frames"
    );
    println!("frames 101-200 in lockstep: checksums equal on every frame");
}
