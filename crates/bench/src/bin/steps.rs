//! The fuel contract, measured: runs every hostile script (`tests/hostile/*.lua`) the way a
//! game runs a player's mod — `Lua::sandboxed` (64 MiB memory limit), a fresh
//! `new_environment()`, `step` with a fixed fuel budget (10,000 by default), the host asking
//! for a full collection every 10 steps (`request_full_collection`, which the next steps
//! mark in slices, unless the last one is still in progress; `--sync-gc`: `gc_collect`,
//! all at once) — and reports, per script: the worst single step (wall time, `lua.step`
//! including the collection work it does), the worst host collection call,
//! nanoseconds per unit of fuel (over the whole run and for the worst step), the VM's memory
//! peak (its byte account) and the process's peak RSS (each script runs in a child process of
//! its own, so `VmHWM` is that script's). The goals (issue #16): worst step ≤ 2 ms at
//! F = 10,000, ≤ 200 ns per unit of fuel, peak RSS ≤ limit × 1.1 + the VM's baseline.
//!
//! ```sh
//! cargo run --release -p lunette-bench --bin steps [-- --fuel 10000 --filter gsub --markdown out.md]
//! ```
//!
//! Each script runs `--repeat N` times (3 by default), each in a fresh child process. The VM
//! is deterministic, so step `i` does the same work in every run: a step's time is the least
//! of its runs, which removes the machine's noise (a preemption lands on some step of some
//! run) without hiding work a step does every time.
//!
//! `--frame-gap-us N` sleeps N µs between steps, like a game that steps once a frame (by
//! default steps run back to back): work a VM does off its thread between steps, such as
//! compiling a big chunk ahead (`load`), then does not show up in the next step.
//!
//! With `STEPS_NO_HELPERS` set in the environment, the VMs run without helper threads
//! (`Lua::set_helper_threads(false)`): all the work on the VM's thread.
//!
//! This is a measurement, not a test: timings depend on the machine. The tests
//! (`tests/hostile.rs`) check the deterministic half of the contract — that every step stays
//! within its fuel budget plus a small overrun.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::rc::Rc;
use std::time::{Duration, Instant};

use lunette::{CaptureHost, ExecResult, Executor, Fuel, Lua};

const CHILD_FLAG: &str = "--child";
const RESULT_TAG: &str = "STEPS-RESULT";
/// The child's line of per-step times (ns) and fuel, `time:fuel` separated by spaces.
const STEPS_TAG: &str = "STEPS-EACH";

struct Options {
    fuel: i64,
    max_steps: u64,
    max_seconds: f64,
    gc_every: u64,
    sync_gc: bool,
    frame_gap_us: u64,
    repeat: u32,
    filter: Vec<String>,
    markdown: Option<PathBuf>,
    dir: PathBuf,
}

fn usage() -> ! {
    eprintln!(
        "usage: steps [--fuel N] [--max-steps N] [--max-seconds S] [--gc-every N] [--sync-gc] \
         [--frame-gap-us N] [--repeat N] [--filter SUBSTR,...] [--markdown PATH] [--dir DIR]"
    );
    std::process::exit(2)
}

fn parse_options(args: &[String]) -> Options {
    let mut o = Options {
        fuel: 10_000,
        max_steps: 20_000,
        max_seconds: 20.0,
        gc_every: 10,
        sync_gc: false,
        frame_gap_us: 0,
        repeat: 3,
        filter: Vec::new(),
        markdown: None,
        dir: Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/hostile"),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().cloned().unwrap_or_else(|| usage());
        match a.as_str() {
            "--fuel" => o.fuel = val().parse().unwrap_or_else(|_| usage()),
            "--max-steps" => o.max_steps = val().parse().unwrap_or_else(|_| usage()),
            "--max-seconds" => o.max_seconds = val().parse().unwrap_or_else(|_| usage()),
            "--gc-every" => o.gc_every = val().parse().unwrap_or_else(|_| usage()),
            "--sync-gc" => o.sync_gc = true,
            "--frame-gap-us" => o.frame_gap_us = val().parse().unwrap_or_else(|_| usage()),
            "--repeat" => o.repeat = val().parse().unwrap_or_else(|_| usage()),
            "--filter" => o
                .filter
                .extend(val().split(',').filter(|s| !s.is_empty()).map(String::from)),
            "--markdown" => o.markdown = Some(PathBuf::from(val())),
            "--dir" => o.dir = PathBuf::from(val()),
            _ => usage(),
        }
    }
    o
}

/// One script's measurements (the child prints them, the parent parses them).
#[derive(Default, Clone)]
struct Measure {
    outcome: String,
    steps: u64,
    fuel_used: i64,
    seconds: f64,
    compile_ms: f64,
    worst_step_ms: f64,
    worst_step_fuel: i64,
    worst_gc_ms: f64,
    worst_overrun: i64,
    memory_peak: usize,
    rss_peak_kib: u64,
    /// Each step's wall time (ns) and the fuel it used, in order.
    each: Vec<(u64, i64)>,
}

impl Measure {
    fn to_line(&self) -> String {
        format!(
            "{RESULT_TAG}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            self.steps,
            self.fuel_used,
            self.seconds,
            self.compile_ms,
            self.worst_step_ms,
            self.worst_step_fuel,
            self.worst_gc_ms,
            self.worst_overrun,
            self.memory_peak,
            self.rss_peak_kib,
            self.outcome.replace(['\t', '\n'], " "),
        )
    }

    fn each_line(&self) -> String {
        let mut line = String::from(STEPS_TAG);
        for (ns, fuel) in &self.each {
            line.push_str(&format!(" {ns}:{fuel}"));
        }
        line
    }

    fn parse_each(line: &str) -> Option<Vec<(u64, i64)>> {
        (line.strip_prefix(STEPS_TAG)?.split_whitespace())
            .map(|p| {
                let (ns, fuel) = p.split_once(':')?;
                Some((ns.parse().ok()?, fuel.parse().ok()?))
            })
            .collect()
    }

    /// Combines runs of the same script: the VM is deterministic, so step `i` does the same
    /// work in every run, and the least of its times is its cost without the machine's
    /// noise (a preemption or a page-cache miss lands on some step of some run). The worst
    /// step is the worst of those least times; the other figures are the first run's,
    /// except times (least) and the RSS peak (greatest).
    fn combine(runs: Vec<Measure>) -> Measure {
        let mut it = runs.into_iter();
        let Some(mut m) = it.next() else {
            return Measure::default();
        };
        for r in it {
            let n = m.each.len().min(r.each.len());
            m.each.truncate(n);
            for (a, b) in m.each.iter_mut().zip(&r.each) {
                a.0 = a.0.min(b.0);
            }
            m.seconds = m.seconds.min(r.seconds);
            m.compile_ms = m.compile_ms.min(r.compile_ms);
            m.worst_gc_ms = m.worst_gc_ms.min(r.worst_gc_ms);
            m.rss_peak_kib = m.rss_peak_kib.max(r.rss_peak_kib);
        }
        if let Some(&(ns, fuel)) = m.each.iter().max_by_key(|(ns, _)| *ns) {
            m.worst_step_ms = ns as f64 / 1e6;
            m.worst_step_fuel = fuel;
        }
        m
    }

    fn from_line(line: &str) -> Option<Measure> {
        let mut f = line.strip_prefix(RESULT_TAG)?.trim_start().split('\t');
        let mut next = || f.next();
        Some(Measure {
            steps: next()?.parse().ok()?,
            fuel_used: next()?.parse().ok()?,
            seconds: next()?.parse().ok()?,
            compile_ms: next()?.parse().ok()?,
            worst_step_ms: next()?.parse().ok()?,
            worst_step_fuel: next()?.parse().ok()?,
            worst_gc_ms: next()?.parse().ok()?,
            worst_overrun: next()?.parse().ok()?,
            memory_peak: next()?.parse().ok()?,
            rss_peak_kib: next()?.parse().ok()?,
            outcome: next()?.to_string(),
            each: Vec::new(),
        })
    }

    /// Nanoseconds per unit of fuel over the whole run (a run shorter than one budget is
    /// measured against the budget: start-up costs are not per-unit work).
    fn ns_per_fuel(&self, budget: i64) -> f64 {
        self.seconds * 1e9 / self.fuel_used.max(budget).max(1) as f64
    }

    /// Nanoseconds per unit of fuel of the worst step (its time over the fuel it was given or
    /// used, whichever is larger: a step that did work without charging shows here).
    fn worst_step_ns_per_fuel(&self, budget: i64) -> f64 {
        self.worst_step_ms * 1e6 / self.worst_step_fuel.max(budget).max(1) as f64
    }
}

/// `VmHWM` (peak resident set) of this process, in KiB.
fn peak_rss_kib() -> u64 {
    rss_kib("VmHWM:")
}

/// A `/proc/self/status` field in KiB (`VmHWM:`, `VmRSS:`).
fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

fn run_child(path: &Path, o: &Options) -> Measure {
    let mut m = Measure::default();
    let src = match std::fs::read(path) {
        Ok(s) => s,
        Err(e) => {
            m.outcome = format!("unreadable: {e}");
            return m;
        }
    };
    let name = path.file_stem().unwrap_or_default().to_string_lossy();
    let mut lua = Lua::sandboxed(Rc::new(CaptureHost::new()));
    if std::env::var_os("STEPS_NO_HELPERS").is_some() {
        lua.set_helper_threads(false);
    }
    let env = lua.new_environment();
    let t = Instant::now();
    let f = lua.load_with_env(&src, &format!("={name}"), Some(&env));
    m.compile_ms = t.elapsed().as_secs_f64() * 1e3;
    let f = match f {
        Ok(f) => f,
        Err(e) => {
            m.outcome = format!("syntax error: {}", e.message);
            m.memory_peak = lua.memory_peak();
            m.rss_peak_kib = peak_rss_kib();
            return m;
        }
    };
    let exec = lua.enter(|ctx| {
        let f = ctx.fetch(&f).expect("just loaded");
        ctx.stash_executor(Executor::start(ctx, f, &[]))
    });
    // `STEPS_TRACE=1` (with `--child PATH`): one line per step on stderr (time, fuel, the
    // VM's bytes in use, the process's RSS and peak), to see where memory goes, and when
    // the step started (`Instant`'s `Debug`: CLOCK_MONOTONIC on Linux, the clock of
    // `perf record -k mono`, so `perf report --time START,END` shows one slow step).
    let trace = std::env::var_os("STEPS_TRACE").is_some();
    let start = Instant::now();
    let mut done = false;
    while m.steps < o.max_steps && start.elapsed().as_secs_f64() < o.max_seconds {
        m.steps += 1;
        let mut fuel = Fuel::new(o.fuel);
        let t = Instant::now();
        done = lua.step(&exec, &mut fuel).is_done();
        let elapsed = t.elapsed();
        let ms = elapsed.as_secs_f64() * 1e3;
        let used = o.fuel - fuel.remaining();
        m.each
            .push((u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX), used));
        m.fuel_used += used;
        m.worst_overrun = m.worst_overrun.max(-fuel.remaining());
        if ms > m.worst_step_ms {
            m.worst_step_ms = ms;
            m.worst_step_fuel = used;
        }
        if o.gc_every > 0 && m.steps % o.gc_every == 0 {
            let t = Instant::now();
            if o.sync_gc {
                lua.gc_collect();
            } else if !lua.full_collection_in_progress() {
                lua.request_full_collection();
            }
            m.worst_gc_ms = m.worst_gc_ms.max(t.elapsed().as_secs_f64() * 1e3);
        }
        if trace {
            eprintln!(
                "step {} {:.3} ms fuel {} used {} KiB rss {} KiB hwm {} KiB at {:?}",
                m.steps,
                ms,
                used,
                lua.memory_used() / 1024,
                rss_kib("VmRSS:"),
                rss_kib("VmHWM:"),
                t
            );
        }
        if done {
            break;
        }
        if o.frame_gap_us > 0 {
            std::thread::sleep(Duration::from_micros(o.frame_gap_us));
        }
    }
    m.seconds = start.elapsed().as_secs_f64();
    m.outcome = if !done {
        "still running".to_string()
    } else {
        lua.enter(|ctx| match ctx.fetch_executor(&exec).map(|e| e.result()) {
            Ok(Some(ExecResult::Returned(_))) => "ok".to_string(),
            Ok(Some(ExecResult::Errored { value, .. })) => {
                let msg = lunette::vm::error_message(ctx, value);
                let mut end = msg.len().min(80);
                while !msg.is_char_boundary(end) {
                    end -= 1;
                }
                format!("error: {}", &msg[..end])
            }
            _ => "finished without a result".to_string(),
        })
    };
    m.memory_peak = lua.memory_peak();
    m.rss_peak_kib = peak_rss_kib();
    m
}

fn run_in_child(path: &Path, args: &[String]) -> Measure {
    let exe = std::env::current_exe().expect("own executable");
    let out = Command::new(exe)
        .arg(CHILD_FLAG)
        .arg(path)
        .args(args)
        .output();
    match out {
        Ok(out) => {
            let stdout = String::from_utf8_lossy(&out.stdout);
            let each = stdout.lines().find_map(Measure::parse_each);
            let m = stdout.lines().find_map(Measure::from_line);
            m.map(|m| Measure {
                each: each.unwrap_or_default(),
                ..m
            })
            .unwrap_or_else(|| Measure {
                outcome: format!(
                    "child died ({}): {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                        .lines()
                        .last()
                        .unwrap_or("")
                ),
                ..Measure::default()
            })
        }
        Err(e) => Measure {
            outcome: format!("cannot spawn: {e}"),
            ..Measure::default()
        },
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(CHILD_FLAG) {
        let path = PathBuf::from(args.get(1).cloned().unwrap_or_else(|| usage()));
        let o = parse_options(&args[2..]);
        let m = run_child(&path, &o);
        println!("{}", m.each_line());
        println!("{}", m.to_line());
        return;
    }
    let o = parse_options(&args);
    let mut scripts: Vec<PathBuf> = std::fs::read_dir(&o.dir)
        .unwrap_or_else(|e| panic!("{}: {e}", o.dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "lua"))
        .filter(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            o.filter.is_empty() || o.filter.iter().any(|f| name.contains(f.as_str()))
        })
        .collect();
    scripts.sort();

    // The VM's baseline: a sandboxed VM running an empty script.
    let empty =
        std::env::temp_dir().join(format!("lunette-steps-empty-{}.lua", std::process::id()));
    std::fs::write(&empty, "").expect("temp file");
    let baseline = run_in_child(&empty, &args);
    let _ = std::fs::remove_file(&empty);

    let limit_mib = lunette::SANDBOX_MEMORY_LIMIT as f64 / (1 << 20) as f64;
    let rss_goal_kib = (limit_mib * 1.1 * 1024.0) as u64 + baseline.rss_peak_kib;
    let mut table = String::new();
    table.push_str(&format!(
        "Fuel {} per step, full collection every {} steps ({}), 64 MiB limit; {} runs per \
         script (a step's time: the least of its runs); baseline RSS {} KiB; goals: step ≤ 2 \
         ms, ≤ 200 ns/fuel, RSS ≤ {} KiB.\n\n",
        o.fuel,
        o.gc_every,
        if o.sync_gc {
            "gc_collect"
        } else {
            "request_full_collection"
        },
        o.repeat.max(1),
        baseline.rss_peak_kib,
        rss_goal_kib
    ));
    table.push_str(
        "| script | outcome | steps | worst step ms | its fuel | ns/fuel (run) | ns/fuel (worst step) | worst gc ms | compile ms | max overrun | VM peak MiB | RSS peak MiB | over goal |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    let mut worst = (0.0f64, String::new());
    let mut worst_ns = (0.0f64, String::new());
    let mut worst_rss = (0u64, String::new());
    let t0 = Instant::now();
    for path in &scripts {
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let m = Measure::combine(
            (0..o.repeat.max(1))
                .map(|_| run_in_child(path, &args))
                .collect(),
        );
        let step_ms = m.worst_step_ms.max(m.worst_gc_ms).max(m.compile_ms);
        let ns = m.worst_step_ns_per_fuel(o.fuel).max(m.ns_per_fuel(o.fuel));
        let mut over = Vec::new();
        if step_ms > 2.0 {
            over.push("step");
        }
        if ns > 200.0 {
            over.push("ns/fuel");
        }
        if m.rss_peak_kib > rss_goal_kib {
            over.push("rss");
        }
        if step_ms > worst.0 {
            worst = (step_ms, name.clone());
        }
        if ns > worst_ns.0 {
            worst_ns = (ns, name.clone());
        }
        if m.rss_peak_kib > worst_rss.0 {
            worst_rss = (m.rss_peak_kib, name.clone());
        }
        let row = format!(
            "| {name} | {} | {} | {:.2} | {} | {:.0} | {:.0} | {:.2} | {:.2} | {} | {:.1} | {:.1} | {} |\n",
            m.outcome,
            m.steps,
            m.worst_step_ms,
            m.worst_step_fuel,
            m.ns_per_fuel(o.fuel),
            m.worst_step_ns_per_fuel(o.fuel),
            m.worst_gc_ms,
            m.compile_ms,
            m.worst_overrun,
            m.memory_peak as f64 / (1 << 20) as f64,
            m.rss_peak_kib as f64 / 1024.0,
            over.join(", "),
        );
        eprint!("{row}");
        table.push_str(&row);
    }
    table.push_str(&format!(
        "\nWorst step (incl. collections and compiling): {:.2} ms ({}); worst ns/fuel: {:.0} ({}); \
         worst RSS: {:.1} MiB ({}); {} scripts in {:.0?}.\n",
        worst.0,
        worst.1,
        worst_ns.0,
        worst_ns.1,
        worst_rss.0 as f64 / 1024.0,
        worst_rss.1,
        scripts.len(),
        Duration::from_secs_f64(t0.elapsed().as_secs_f64()),
    ));
    println!("{table}");
    if let Some(p) = &o.markdown {
        std::fs::write(p, &table).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    }
}
