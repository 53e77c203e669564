//! Images as bytes (`Snapshot::to_bytes`, `Lua::snapshot_from_bytes`): the coverage harness
//! and the refusals.
//!
//! The harness runs every `tests/lua/*.lua` program (and a few `tests/hostile` ones) in
//! steps of small fuel, and at many points writes the VM as bytes, reads them into a FRESH
//! VM (another `Lua`, libraries opened anew: nothing shared but the host's output buffer),
//! restores, checks the restored VM's checksum equals the snapshot's, and continues there.
//! Output, outcome and final checksum must equal a straight run's. A callback or
//! continuation missing from the permanents table makes `to_bytes` fail; a field the codec
//! drops makes a checksum or the output differ.

use std::path::{Path, PathBuf};
use std::rc::Rc;

use lunette::{CaptureHost, Fuel, Lua, StepStatus};

fn host_for(source: &[u8]) -> CaptureHost {
    let debug = source.starts_with(b"-- grants: debug\n");
    CaptureHost {
        grants: lunette::Grants {
            full_collections: true,
            binary_chunks: true,
            debug,
            ..lunette::Grants::default()
        },
        ..CaptureHost::default()
    }
}

/// What a run produced: output, outcome, checksum at the end, steps taken.
#[derive(Debug, PartialEq)]
struct Run {
    out: String,
    outcome: String,
    checksum: Option<u64>,
}

/// Runs `path` in steps of `fuel`; `round_trip(step)` says whether to move the VM through
/// bytes into a fresh VM before that step. Returns the run and the number of round trips.
fn run(path: &Path, fuel: i64, round_trip: &dyn Fn(usize) -> bool) -> (Run, usize) {
    let source = std::fs::read(path).unwrap();
    let host = host_for(&source);
    let mut lua = Lua::with_host(Rc::new(host.clone()));
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    let mut exec = match lua.chunk(&source).name(&format!("@{name}")).start(()) {
        Ok(e) => e,
        Err(e) => {
            return (
                Run {
                    out: String::new(),
                    outcome: format!("load error: {}", e.message),
                    checksum: None,
                },
                0,
            )
        }
    };
    // Checksums are compared between VMs that began computing them at the same point of
    // the same history (see `Lua::checksum`): here, before the first step.
    lua.checksum().unwrap();
    let mut trips = 0;
    let mut step = 0;
    let status = loop {
        if round_trip(step) {
            let snap = lua
                .snapshot()
                .unwrap_or_else(|e| panic!("{name}: snapshot: {e}"));
            let bytes = snap
                .to_bytes()
                .unwrap_or_else(|e| panic!("{name}: step {step}: to_bytes: {e}"));
            let mut fresh = Lua::with_host(Rc::new(host.clone()));
            let back = if std::env::var("LUNETTE_IMAGE_NO_BYTES").is_ok() {
                snap.clone()
            } else {
                fresh
                    .snapshot_from_bytes(&bytes)
                    .unwrap_or_else(|e| panic!("{name}: step {step}: from bytes: {e}"))
            };
            fresh
                .restore(&back)
                .unwrap_or_else(|e| panic!("{name}: step {step}: restore: {e}"));
            assert_eq!(
                fresh.checksum().unwrap(),
                snap.checksum(),
                "{name}: step {step}: checksum after the round trip"
            );
            exec = fresh
                .restored_executor(exec.id())
                .unwrap_or_else(|| panic!("{name}: step {step}: executor lost"));
            lua = fresh;
            trips += 1;
        }
        let s = lua.step(&exec, &mut Fuel::new(fuel));
        step += 1;
        if s.is_done() || step >= MAX_STEPS {
            break s;
        }
    };
    let outcome = match status {
        StepStatus::Returned => "returned".to_string(),
        StepStatus::OutOfFuel | StepStatus::Waiting => format!("unfinished after {step} steps"),
        _ => match lua.results::<()>(&exec) {
            Err(e) => format!("lua5.4: {}\n{}", e.message, e.traceback),
            Ok(()) => "?".into(),
        },
    };
    drop(exec);
    let checksum = lua.checksum().ok();
    (
        Run {
            out: String::from_utf8_lossy(&host.take_stdout()).into_owned(),
            outcome,
            checksum,
        },
        trips,
    )
}

fn scripts() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lua");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "lua"))
        .collect();
    names.sort();
    let hostile = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hostile");
    for h in HOSTILE {
        names.push(hostile.join(h));
    }
    names
}

/// Hostile scripts may run forever: runs stop there (and compare where they are).
const MAX_STEPS: usize = 4000;

/// `tests/hostile` scripts that pause inside long builtins (sort, gsub, concat...).
const HOSTILE: &[&str] = &[
    "table_concat_slices.lua",
    "gc_finalizers.lua",
    "coroutine_yield_chain_values.lua",
    "close_errors.lua",
    "sort_proxy_fuel.lua",
    "coroutine_misuse.lua",
    "gc_finalizer_flood.lua",
];

/// Round trips at the first steps, then every few steps: at most ~60 per script.
fn trip_at(step: usize) -> bool {
    step < 24 || (step < 400 && step.is_multiple_of(16)) || step.is_multiple_of(256)
}

#[test]
fn every_script_survives_round_trips_through_bytes() {
    let only = std::env::var("LUNETTE_IMAGE_ONLY").ok();
    let mut failures = Vec::new();
    let mut total_trips = 0;
    for path in scripts() {
        if !path.exists() {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if only.as_deref().is_some_and(|o| !name.contains(o)) {
            continue;
        }
        for fuel in [97, 1000] {
            let (straight, _) = run(&path, fuel, &|_| false);
            let result = std::panic::catch_unwind(|| run(&path, fuel, &trip_at));
            match result {
                Ok((tripped, n)) => {
                    total_trips += n;
                    if tripped != straight {
                        failures.push(format!(
                            "{name} (fuel {fuel}): differs after {n} round trips:\n\
                             straight: {straight:?}\ntripped: {tripped:?}"
                        ));
                    }
                }
                Err(e) => failures.push(format!(
                    "{name} (fuel {fuel}): {}",
                    e.downcast_ref::<String>().cloned().unwrap_or_default()
                )),
            }
        }
    }
    eprintln!("{total_trips} round trips through bytes");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

// ---- userdata in images -------------------------------------------------------------

use lunette::{ChecksumHasher, Rewindable, SerializableUserData, UserDataRegistry, UserDataType};

#[derive(Clone, Copy, PartialEq, Debug)]
struct Vec2 {
    x: f64,
    y: f64,
}

impl UserDataType for Vec2 {
    const NAME: &'static str = "Vec2";
    fn register(r: &mut UserDataRegistry<Self>) {
        r.serializable();
        r.field_get("x", |_, v| Ok(v.x));
        r.method_mut("scale", |_, v, k: f64| {
            v.x *= k;
            v.y *= k;
            Ok(())
        });
        r.function("new", |_, (x, y): (f64, f64)| Ok(Vec2 { x, y }));
    }
}

impl Rewindable for Vec2 {
    fn checksum(&self, h: &mut ChecksumHasher) {
        h.write_f64(self.x);
        h.write_f64(self.y);
    }
}

impl SerializableUserData for Vec2 {
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.x.to_bits().to_le_bytes());
        out.extend_from_slice(&self.y.to_bits().to_le_bytes());
    }
    fn read(bytes: &[u8]) -> Result<Self, String> {
        let word = |i: usize| {
            bytes
                .get(i..i + 8)
                .map(|b| f64::from_bits(u64::from_le_bytes(b.try_into().unwrap())))
                .ok_or_else(|| "truncated Vec2".to_string())
        };
        if bytes.len() != 16 {
            return Err("a Vec2 is 16 bytes".into());
        }
        Ok(Vec2 {
            x: word(0)?,
            y: word(8)?,
        })
    }
}

/// Rewindable, but with no byte serialization.
#[derive(Clone)]
struct Secret(u32);

impl UserDataType for Secret {
    const NAME: &'static str = "Secret";
    fn register(r: &mut UserDataRegistry<Self>) {
        r.rewindable();
        r.function("new", |_, n: u32| Ok(Secret(n)));
    }
}

impl Rewindable for Secret {
    fn checksum(&self, h: &mut ChecksumHasher) {
        h.hash(&self.0);
    }
}

/// A VM without the file system (whose `io` userdata cannot be written as bytes).
fn game_vm() -> Lua {
    Lua::with_host(Rc::new(CaptureHost::default()))
}

#[test]
fn serializable_userdata_travels_as_bytes() {
    let mut lua = game_vm();
    let statics = lua.userdata_statics::<Vec2>().unwrap();
    lua.set_global("Vec2", &statics).unwrap();
    lua.exec("v = Vec2.new(3, 4) v:scale(2) w = v").unwrap();
    let snap = lua.snapshot().unwrap();
    let bytes = snap.to_bytes().unwrap();

    // A VM that registered the type reads it back.
    let mut reader = game_vm();
    reader.register_userdata_type::<Vec2>().unwrap();
    let back = reader.snapshot_from_bytes(&bytes).unwrap();
    reader.restore(&back).unwrap();
    assert_eq!(reader.checksum().unwrap(), snap.checksum());
    let x: f64 = reader.eval("v:scale(0.5) return w.x").unwrap();
    assert_eq!(x, 3.0);

    // One that did not: an error naming the type.
    let err = game_vm().snapshot_from_bytes(&bytes).err().unwrap();
    assert!(err.to_string().contains("Vec2"), "{err}");

    // A rewindable type without byte serialization: refused when written, by name.
    let mut lua = game_vm();
    let statics = lua.userdata_statics::<Secret>().unwrap();
    lua.set_global("Secret", &statics).unwrap();
    lua.exec("s = Secret.new(7)").unwrap();
    let err = lua.snapshot().unwrap().to_bytes().unwrap_err();
    assert!(err.to_string().contains("Secret"), "{err}");
}

// ---- cross-process determinism ------------------------------------------------------

/// A game: entities with coroutine brains, random moves, a sorted leaderboard every 50
/// frames, a weak cache; each frame is `update(frame)`.
const GAME: &str = r#"
math.randomseed(7)
local entities, brains = {}, {}
local cache = setmetatable({}, {__mode = "k"})
for i = 1, 30 do
  local e = {id = i, x = math.random(100), y = math.random(100), score = 0}
  entities[i] = e
  brains[i] = coroutine.wrap(function()
    while true do
      for _ = 1, math.random(1, 5) do
        e.x, e.y = e.x + math.random(-2, 2), e.y + math.random(-2, 2)
        coroutine.yield()
      end
      local ok = pcall(function()
        if e.x < 0 then error("out") end
        e.score = e.score + math.random(10)
      end)
      if not ok then e.x = 0 end
      coroutine.yield()
    end
  end)
end
function update(frame)
  for i, think in ipairs(brains) do
    think()
    cache[entities[i]] = ("%d,%d"):format(entities[i].x, entities[i].y)
  end
  if frame % 50 == 0 then
    local board = {table.unpack(entities)}
    table.sort(board, function(a, b)
      if a.score ~= b.score then return a.score > b.score end
      return a.id < b.id
    end)
    print(("frame %d: #%d %d %s"):format(frame, board[1].id, board[1].score, cache[board[1]]))
  end
end
"#;

/// Plays frames `from..=to` (each an executor stepped by 700 fuel); after every 50th frame
/// the checksum goes to the log too.
fn play_frames(lua: &mut Lua, host: &CaptureHost, from: i64, to: i64, log: &mut String) {
    for frame in from..=to {
        let exec = lua
            .chunk(&format!("update({frame})"))
            .name("=frame")
            .start(())
            .unwrap();
        while !lua.step(&exec, &mut Fuel::new(700)).is_done() {}
        lua.results::<()>(&exec).unwrap();
        if frame % 50 == 0 {
            log.push_str(&String::from_utf8_lossy(&host.take_stdout()));
            log.push_str(&format!("checksum {:016x}\n", lua.checksum().unwrap()));
        }
    }
}

/// The child processes of `cross_process_save_and_load` (does nothing in a normal run).
#[test]
fn image_child() {
    let Ok(role) = std::env::var("LUNETTE_IMAGE_CHILD") else {
        return;
    };
    let dir = PathBuf::from(std::env::var("LUNETTE_IMAGE_DIR").unwrap());
    let host = CaptureHost::default();
    let mut lua = game_vm_with(&host);
    let mut log = String::new();
    match role.as_str() {
        "save" => {
            lua.exec(GAME).unwrap();
            play_frames(&mut lua, &host, 1, 150, &mut log);
            let bytes = lua.snapshot().unwrap().to_bytes().unwrap();
            std::fs::write(dir.join("frame150.image"), bytes).unwrap();
            std::fs::write(dir.join("log-save.txt"), log).unwrap();
        }
        "load" => {
            let bytes = std::fs::read(dir.join("frame150.image")).unwrap();
            let snapshot = lua.snapshot_from_bytes(&bytes).unwrap();
            lua.restore(&snapshot).unwrap();
            play_frames(&mut lua, &host, 151, 300, &mut log);
            std::fs::write(dir.join("log-load.txt"), log).unwrap();
        }
        other => panic!("unknown role {other}"),
    }
}

fn game_vm_with(host: &CaptureHost) -> Lua {
    Lua::with_host(Rc::new(host.clone()))
}

#[test]
fn cross_process_save_and_load() {
    if std::env::var("LUNETTE_IMAGE_CHILD").is_ok() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("lunette-image-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for role in ["save", "load"] {
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["image_child", "--exact", "--test-threads=1"])
            .env("LUNETTE_IMAGE_CHILD", role)
            .env("LUNETTE_IMAGE_DIR", &dir)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "the {role} process failed");
    }
    let host = CaptureHost::default();
    let mut lua = game_vm_with(&host);
    lua.exec(GAME).unwrap();
    let mut straight = String::new();
    play_frames(&mut lua, &host, 1, 300, &mut straight);
    let saved = std::fs::read_to_string(dir.join("log-save.txt")).unwrap();
    let loaded = std::fs::read_to_string(dir.join("log-load.txt")).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(saved + &loaded, straight);
    assert!(straight.contains("frame 300"));
}

#[test]
fn reading_stays_within_the_memory_limit() {
    let mut lua = game_vm();
    lua.exec("t = {} for i = 1, 200000 do t[i] = i * 0.5 end")
        .unwrap();
    let bytes = lua.snapshot().unwrap().to_bytes().unwrap();
    let mut small = game_vm();
    small.set_memory_limit(Some(1 << 20));
    let err = small.snapshot_from_bytes(&bytes).err().expect("refused");
    assert!(err.to_string().contains("memory"), "{err}");
    // With room, the same bytes read.
    assert!(game_vm().snapshot_from_bytes(&bytes).is_ok());
}
