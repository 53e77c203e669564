//! The `entities` snapshot workload: a global `data` of N entity tables and a
//! `step(f)` that moves 100 of them. Measures, per N: `step` + `snap()`, `rollback(1)`,
//! `rollback(8)` followed by re-simulating the 8 frames (each `step` + `snap()`), the bytes a
//! ring snapshot holds (its journal: copies of what changed), and for comparison an owned
//! snapshot (`snapshot()`, a copy of the whole graph) and its restore. Prints a markdown table
//! next to the anchor figures of rollback-mlua and Red Moon (`ANCHORS`).
//!
//! With `--churn`: each frame also replaces 10 entities by new tables and makes 50
//! short-lived tables (what a game frame does besides moving things), and the table adds
//! the time of `Lua::checksum()` after a frame.
//!
//! With `--profile-owned K`: K rounds of owned `snapshot()` and `restore()` at the first
//! size (into the same VM and into a fresh one), for a profiler; prints their medians. Add
//! `--tracked` to take them of a VM that computed a checksum (its images carry the
//! checksum's state).
//!
//! With `--profile-checksum K`: K rounds of a churn frame and `Lua::checksum()` at the
//! first size, for a profiler; prints the checksum's median.
//!
//! With `--image`: images as bytes instead (`Snapshot::to_bytes`,
//! `Lua::snapshot_from_bytes`: time, size, bytes per object and per entity).
//!
//! ```sh
//! cargo run --release -p lunette-bench --bin entities [-- --sizes 1000,10000 --frames 40]
//! cargo run --release -p lunette-bench --bin entities -- --churn
//! cargo run --release -p lunette-bench --bin entities -- --image
//! ```

use std::time::Instant;

use std::rc::Rc;

use lunette::{CaptureHost, Executor, Lua, Value};

const SETUP: &str = r#"
data = {}
for i = 1, N do
  data[i] = { id = i, x = i * 0.5, y = i * 2, name = "entity_" .. i, tag = "t" .. (i % 10), alive = true }
end
function step(f)
  for i = 1, 100 do
    local e = data[(f * 100 + i) % N + 1]
    e.x = e.x + 1
    e.y = e.y - 1
  end
end
"#;

/// Appended to `SETUP` with `--churn`: `step` also replaces entities and makes garbage.
const CHURN: &str = r#"
local move = step
function step(f)
  move(f)
  for i = 1, 10 do
    local k = (f * 37 + i * 101) % N + 1
    data[k] = { id = k, x = f, y = -f, name = "entity_" .. k, tag = "t" .. (k % 10), alive = true }
  end
  local sum = 0
  for i = 1, 50 do
    local tmp = { i, f, i * f }
    sum = sum + tmp[3]
  end
  return sum
end
"#;

/// (N, rollback-mlua snap, rollback(1), rollback(8), Red Moon clone, Red Moon rollback), ms.
const ANCHORS: [(usize, f64, f64, f64, f64, f64); 3] = [
    (1_000, 0.02, 0.009, 0.11, 0.11, 0.17),
    (10_000, 0.64, 0.28, 2.8, 1.2, 3.1),
    (100_000, 24.0, 5.8, 15.6, 29.0, 68.0),
];

fn step(lua: &mut Lua, f: i64) {
    let exec = lua.enter(|ctx| {
        let step = ctx.globals().get(ctx.str("step"));
        ctx.stash_executor(Executor::start(ctx, step, &[Value::Integer(f)]))
    });
    lua.finish(&exec).expect("step runs");
}

/// Frees the heap a restore replaced, a slice at a time as steps would (not timed by the
/// callers: a game frees it across its next frames). Returns the number of slices.
fn free_retired(lua: &mut Lua) -> usize {
    let mut slices = 0;
    while lua.retired_bytes() > 0 {
        lua.collect_between_steps();
        slices += 1;
    }
    slices
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

struct Row {
    n: usize,
    step_snap: f64,
    snap_only: f64,
    rollback1: f64,
    rollback8: f64,
    journal_bytes: usize,
    owned_ms: f64,
    restore_ms: f64,
    owned_bytes: usize,
    checksum_ms: f64,
    /// The first `checksum()`: a walk of the VM.
    first_checksum_ms: f64,
    /// `snap()` then `checksum()` after a frame, once the checksum is tracked.
    snap_checksum_ms: f64,
    /// `rollback(8)` and 8 frames re-simulated, each with `snap()` and `checksum()`.
    rollback8_checksum_ms: f64,
}

fn setup(n: usize, churn: bool) -> String {
    let script = if churn {
        format!("{SETUP}{CHURN}")
    } else {
        SETUP.to_string()
    };
    script.replace("N", &n.to_string())
}

/// A VM with the workload of `n` entities set up.
fn world(n: usize, churn: bool) -> Lua {
    let mut lua = Lua::new();
    lua.execute(setup(n, churn).as_bytes(), "=entities")
        .expect("setup runs");
    lua
}

fn measure(n: usize, frames: usize, churn: bool) -> Row {
    let mut lua = world(n, churn);
    lua.set_max_snapshots(16);
    let mut f = 0i64;
    // Warm up: fill the ring.
    for _ in 0..10 {
        step(&mut lua, f);
        lua.snap().unwrap();
        f += 1;
    }
    let mut step_snap = Vec::new();
    let mut snap_only = Vec::new();
    for _ in 0..frames {
        let t = Instant::now();
        step(&mut lua, f);
        let t2 = Instant::now();
        lua.snap().unwrap();
        snap_only.push(ms(t2));
        step_snap.push(ms(t));
        f += 1;
    }
    let mut rollback1 = Vec::new();
    for _ in 0..frames {
        // Roll back a frame's worth of changes each time.
        step(&mut lua, f);
        let t = Instant::now();
        lua.rollback(1).unwrap();
        rollback1.push(ms(t));
    }
    let mut rollback8 = Vec::new();
    for _ in 0..frames.min(20) {
        let t = Instant::now();
        lua.rollback(8).unwrap();
        // Back at the start of frame f - 8 (the snapshot was taken after step(f - 8 - 1)).
        let from = f - 8;
        for g in from..f {
            step(&mut lua, g);
            lua.snap().unwrap();
        }
        rollback8.push(ms(t));
    }
    let journal_bytes = lua.snapshots_size_bytes() / lua.snapshots_held().max(1);
    // The first checksum walks the VM; from then on it is kept up to date.
    let t = Instant::now();
    lua.checksum().unwrap();
    let first_checksum = ms(t);
    let mut checksum = Vec::new();
    for g in f..f + 9 {
        step(&mut lua, g);
        let t = Instant::now();
        lua.checksum().unwrap();
        checksum.push(ms(t));
    }
    f += 9;
    // A rollback game's frame with a checksum each frame (ggrs' save state).
    let mut snap_checksum = Vec::new();
    for g in f..f + 9 {
        step(&mut lua, g);
        let t = Instant::now();
        lua.snap().unwrap();
        lua.checksum().unwrap();
        snap_checksum.push(ms(t));
    }
    f += 9;
    // ggrs' rollback: back 8 frames, then 8 frames re-simulated with snap() + checksum().
    let mut rollback8_checksum = Vec::new();
    for _ in 0..frames.min(20) {
        let t = Instant::now();
        lua.rollback(8).unwrap();
        for g in f - 8..f {
            step(&mut lua, g);
            lua.snap().unwrap();
            lua.checksum().unwrap();
        }
        rollback8_checksum.push(ms(t));
    }
    let mut owned = Vec::new();
    let mut restore = Vec::new();
    let mut owned_bytes = 0;
    // (15 rounds: a copy of the whole heap moves with the machine's memory traffic, and the
    // median of 5 moved by half between runs.)
    for _ in 0..15 {
        let t = Instant::now();
        let snap = lua.snapshot().unwrap();
        owned.push(ms(t));
        owned_bytes = snap.size_bytes();
        let t = Instant::now();
        lua.restore(&snap).unwrap();
        restore.push(ms(t));
        free_retired(&mut lua);
    }
    Row {
        n,
        step_snap: median(step_snap),
        snap_only: median(snap_only),
        rollback1: median(rollback1),
        rollback8: median(rollback8),
        journal_bytes,
        owned_ms: median(owned),
        restore_ms: median(restore),
        owned_bytes,
        checksum_ms: median(checksum),
        first_checksum_ms: first_checksum,
        snap_checksum_ms: median(snap_checksum),
        rollback8_checksum_ms: median(rollback8_checksum),
    }
}

/// Images as bytes at size `n`: `to_bytes` and `snapshot_from_bytes` (median of 7, ms),
/// the image's size, its live object count (tables, closures... and strings). (A game VM: no file system, so no `io` userdata.)
fn measure_image(n: usize) -> (f64, f64, usize, usize) {
    let mut lua = Lua::with_host(Rc::new(CaptureHost::default()));
    lua.execute(SETUP.replace("N", &n.to_string()).as_bytes(), "=entities")
        .expect("setup runs");
    step(&mut lua, 1);
    let snap = lua.snapshot().unwrap();
    let mut write = Vec::new();
    let mut read = Vec::new();
    let mut bytes = Vec::new();
    for _ in 0..7 {
        let t = Instant::now();
        bytes = snap.to_bytes().expect("to_bytes");
        write.push(ms(t));
        let t = Instant::now();
        let back = lua.snapshot_from_bytes(&bytes).expect("from bytes");
        read.push(ms(t));
        assert_eq!(back.checksum(), snap.checksum());
    }
    (
        median(write),
        median(read),
        bytes.len(),
        snap.object_count() + snap.string_count(),
    )
}

fn main() {
    let mut sizes = vec![1_000, 10_000, 100_000];
    let mut frames = 30;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--sizes" => {
                i += 1;
                sizes = args[i].split(',').filter_map(|s| s.parse().ok()).collect();
            }
            "--frames" => {
                i += 1;
                frames = args[i].parse().unwrap_or(frames);
            }
            "--image" | "--churn" => {}
            "--profile-owned" => {
                // For a profiler: owned snapshot() + restore() of the first size, in a loop.
                i += 1;
                let rounds: usize = args[i].parse().unwrap_or(100);
                let mut lua = world(sizes[0], false);
                if args.iter().any(|a| a == "--tracked") {
                    // With the incremental checksum's state to carry.
                    lua.checksum().unwrap();
                }
                let (mut snap_ms, mut same_ms, mut fresh_ms) = (Vec::new(), Vec::new(), Vec::new());
                let mut slice_ms = Vec::new();
                for _ in 0..rounds {
                    let t = Instant::now();
                    let snap = lua.snapshot().unwrap();
                    snap_ms.push(ms(t));
                    let t = Instant::now();
                    lua.restore(&snap).unwrap();
                    same_ms.push(ms(t));
                    let t = Instant::now();
                    let slices = free_retired(&mut lua);
                    if slices > 0 {
                        slice_ms.push(ms(t) / slices as f64);
                    }
                    let mut fresh = Lua::new();
                    let t = Instant::now();
                    fresh.restore(&snap).unwrap();
                    fresh_ms.push(ms(t));
                }
                // (The least of the rounds too: it moves less with the machine's noise when
                // two builds are compared.)
                let least = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
                eprintln!(
                    "snapshot {:.3} ms, restore {:.3} ms, restore into a fresh VM {:.3} ms \
                     (least: {:.3} / {:.3} / {:.3})",
                    median(snap_ms.clone()),
                    median(same_ms.clone()),
                    median(fresh_ms.clone()),
                    least(&snap_ms),
                    least(&same_ms),
                    least(&fresh_ms)
                );
                if !slice_ms.is_empty() {
                    eprintln!(
                        "the replaced heap freed after the restore: {:.3} ms a slice (median)",
                        median(slice_ms)
                    );
                }
                return;
            }
            "--tracked" => {}
            "--profile-checksum" => {
                // For a profiler: a frame and `checksum()` of the first size, in a loop.
                i += 1;
                let rounds: usize = args[i].parse().unwrap_or(100);
                let mut lua = world(sizes[0], true);
                let mut times = Vec::new();
                for f in 0..rounds {
                    step(&mut lua, f as i64);
                    let t = Instant::now();
                    lua.checksum().unwrap();
                    times.push(ms(t));
                }
                eprintln!("checksum {:.3} ms", median(times));
                return;
            }
            other => {
                eprintln!(
                    "usage: entities [--sizes 1000,10000,100000] [--frames 30] [--churn] [--image] [--profile-owned K [--tracked]] [--profile-checksum K] (got {other})"
                );
                std::process::exit(2);
            }
        }
        i += 1;
    }
    if args.iter().any(|a| a == "--image") {
        println!("| N | image → bytes (ms) | bytes → image (ms) | image bytes | live objects (strings included) | bytes per object | bytes per entity |");
        println!("|---|---|---|---|---|---|---|");
        for n in sizes {
            let (w, r, len, objects) = measure_image(n);
            println!(
                "| {n} | {w:.3} | {r:.3} | {len} | {objects} | {:.1} | {:.1} |",
                len as f64 / objects as f64,
                len as f64 / n as f64
            );
        }
        return;
    }
    let churn = args.iter().any(|a| a == "--churn");
    println!("| N | step+snap() | (snap alone) | rollback(1) | rollback(8) + resim 8 | bytes per ring snapshot | owned snapshot() / restore | owned bytes | checksum() (first) | snap() + checksum() | rollback(8) + resim 8, checksums | rollback-mlua snap / rb(1) / rb(8) | Red Moon clone / rollback |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for n in sizes {
        let r = measure(n, frames, churn);
        let anchor = ANCHORS.iter().find(|a| a.0 == n);
        let (mlua, redmoon) = match anchor {
            Some(a) => (
                format!("{} / {} / {}", a.1, a.2, a.3),
                format!("{} / {}", a.4, a.5),
            ),
            None => ("–".into(), "–".into()),
        };
        println!(
            "| {} | {:.4} | {:.4} | {:.4} | {:.3} | {} | {:.2} / {:.2} | {} | {:.4} ({:.2}) | {:.4} | {:.3} | {} | {} |",
            r.n,
            r.step_snap,
            r.snap_only,
            r.rollback1,
            r.rollback8,
            r.journal_bytes,
            r.owned_ms,
            r.restore_ms,
            r.owned_bytes,
            r.checksum_ms,
            r.first_checksum_ms,
            r.snap_checksum_ms,
            r.rollback8_checksum_ms,
            mlua,
            redmoon
        );
    }
}
