//! Shared harness for the fuzz targets and the stable `mutate` fuzzer: compile or run one
//! input under the sandbox, with bounded fuel, and check the VM's promises (no panic is
//! checked by the caller; here: bounded overrun per step).

use std::rc::Rc;

use lunette::{CaptureHost, Executor, Fuel, Lua};

/// Fuel per step for fuzzed programs.
pub const STEP_FUEL: i64 = 2_000;
/// Steps per fuzzed program.
pub const MAX_STEPS: usize = 50;
/// Most a step may overrun: tests/hostile.rs `BIG_STRING_OVERRUN` at this harness's memory
/// limit (one call that builds a single big string is charged at once, 1 unit per 32 bytes,
/// and bounded by the limit); long builtins otherwise work in pieces that pause.
pub const OVERRUN: i64 = (MEMORY_LIMIT / 32) as i64 + 100_000;

/// Compiles `data` as a chunk (errors are fine, panics are not).
pub fn compile(data: &[u8]) {
    let _ = lunette::compiler::compile(data, "=fuzz");
}

/// Memory limit of fuzzed programs.
pub const MEMORY_LIMIT: usize = 16 << 20;

/// Runs `data` as a sandboxed chunk for at most `MAX_STEPS` steps of `STEP_FUEL`, asking for
/// a full collection now and then (so finalizers and weak tables are exercised; see
/// `Schedule`). Then checks
/// rollback determinism: after the first steps (the VM paused mid-chunk) it takes a ring
/// snapshot (`snap`) and an owned one (`snapshot`); rolling back to each and re-running the
/// rest must print and end exactly as the first time.
pub fn run(data: &[u8]) {
    let host = CaptureHost::new();
    let mut lua = Lua::sandboxed(Rc::new(host.clone()));
    lua.set_memory_limit(Some(MEMORY_LIMIT));
    let schedule = Schedule::of(data);
    if schedule.collect_first {
        // (A fresh VM's interner is moving its index: a collection then once lost names.)
        lua.gc_collect();
    }
    let Ok(f) = lua.load(data, "=fuzz") else {
        return;
    };
    run_loaded(lua, host, f, schedule);
}

/// When the host asks for full collections (`Lua::gc_collect`) while a fuzzed program runs: a
/// function of the input, so every input meets a different schedule, and a re-run after a
/// restore or a rollback meets the same one.
#[derive(Clone, Copy)]
struct Schedule {
    /// Before the chunk is loaded (into a fresh VM).
    collect_first: bool,
    /// After every step whose number is this modulo `COLLECT_EVERY`.
    phase: usize,
}

/// Steps between the host's full collections (see `Schedule`).
const COLLECT_EVERY: usize = 7;

impl Schedule {
    fn of(data: &[u8]) -> Self {
        let sum = data.iter().fold(0usize, |a, &b| a.wrapping_add(b as usize));
        Schedule {
            collect_first: sum % 2 == 1,
            phase: (sum / 2) % COLLECT_EVERY,
        }
    }

    fn collects_after(self, step: usize) -> bool {
        step % COLLECT_EVERY == self.phase
    }
}

/// Decodes `data` as a binary chunk (`string.dump`'s format) within the memory limit; if it
/// decodes (and so passed the bytecode verifier), checks that it dumps back to an equal
/// prototype, then runs it like [`run`]: bounded steps, overrun and memory checks, restore
/// determinism. A verified chunk must never make the VM panic, whatever its bytecode does.
pub fn undump(data: &[u8]) {
    let Ok(proto) = lunette::compiler::undump_with_limit(data, "=fuzz", MEMORY_LIMIT) else {
        return;
    };
    lunette::compiler::verify(&proto).expect("undump returns verified prototypes");
    for strip in [false, true] {
        let again = lunette::compiler::dump(&proto, strip);
        let back = lunette::compiler::undump(&again, "=fuzz").expect("a dump decodes");
        // (Compared as bytes: a NaN constant is not `==` to itself.)
        let bytes_back = lunette::compiler::dump(&back, strip);
        assert!(bytes_back == again, "dump/undump round trip differs");
    }
    let host = CaptureHost::new();
    let mut lua = Lua::sandboxed(Rc::new(host.clone()));
    lua.set_memory_limit(Some(MEMORY_LIMIT));
    let f = lua.enter(|ctx| {
        // `undump` verified it: loading cannot fail.
        let f = ctx
            .load_prototype(&proto, None)
            .expect("undump output verifies");
        ctx.stash(lunette::Value::Function(f))
    });
    run_loaded(lua, host, f, Schedule::of(data));
}

/// Binary-chunk seeds for the `undump` target: every program of `tests/lua` and
/// `tests/hostile` under `dir` (the repository's `tests`) that compiles, dumped with and
/// without debug information.
pub fn binary_seeds(tests_dir: &std::path::Path) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for sub in ["lua", "hostile"] {
        let Ok(rd) = std::fs::read_dir(tests_dir.join(sub)) else {
            continue;
        };
        let mut files: Vec<_> = rd.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        files.sort();
        for path in files {
            if path.extension().is_none_or(|x| x != "lua") {
                continue;
            }
            let Ok(src) = std::fs::read(&path) else {
                continue;
            };
            // Known bugs and declared big overruns (tests/hostile.rs) would only be found again.
            let head = String::from_utf8_lossy(&src[..src.len().min(512)]).into_owned();
            let overrun_too_big = head.lines().any(|l| {
                l.strip_prefix("-- overrun:")
                    .and_then(|n| n.trim().parse::<i64>().ok())
                    .is_some_and(|n| n > OVERRUN)
            });
            if head.contains("-- known bug:") || overrun_too_big {
                continue;
            }
            let Ok(p) = lunette::compiler::compile(lunette::compiler::skip_shebang(&src), "=seed")
            else {
                continue;
            };
            out.push(lunette::compiler::dump(&p, false));
            out.push(lunette::compiler::dump(&p, true));
        }
    }
    out
}

fn run_loaded(mut lua: Lua, host: CaptureHost, f: lunette::StashedValue, schedule: Schedule) {
    let exec = lua.enter(|ctx| {
        let f = ctx.fetch(&f).unwrap();
        ctx.stash_executor(Executor::start(ctx, f, &[]))
    });
    let mut snapshot = None;
    let mut in_ring = false;
    let first = run_steps(&mut lua, &exec, 0, schedule, |lua, step| {
        if step == 1 {
            host.take_stdout();
            in_ring = lua.snap().is_ok();
            snapshot = lua.snapshot().ok();
        }
    });
    let Some(snapshot) = snapshot else { return };
    let printed = host.take_stdout();
    // Running out of memory depends on when the collector ran (documented); skip those.
    let memory = |s: &str| s.contains("not enough memory");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    if memory(&first) || memory(&text(&printed)) {
        return;
    }
    let again = |lua: &mut Lua, how: &str| {
        let second = run_steps(lua, &exec, 2, schedule, |_, _| {});
        let printed_again = host.take_stdout();
        if memory(&second) || memory(&text(&printed_again)) {
            return;
        }
        assert_eq!(first, second, "the outcome differs after {how}");
        assert_eq!(
            text(&printed),
            text(&printed_again),
            "the output differs after {how}"
        );
    };
    if in_ring {
        lua.rollback(1)
            .expect("the ring holds the snapshot of step 1");
        again(&mut lua, "a rollback");
    }
    lua.restore(&snapshot)
        .expect("a snapshot of this VM restores");
    again(&mut lua, "a restore");
}

/// Soak mode (`LUNETTE_FUZZ_SOAK_MS=<ms>`): every step must also return within that wall
/// time, so inputs that do uncharged work in one step are reported like crashes. Off by
/// default (a timing bound is only meaningful in a release build on a quiet machine).
fn soak_bounds() -> Option<std::time::Duration> {
    std::env::var("LUNETTE_FUZZ_SOAK_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map(std::time::Duration::from_millis)
}

/// Steps `exec` from step `from` until it finishes or `MAX_STEPS`; `after_step(lua, step)`
/// runs after each step. Returns the outcome rendered as text.
fn run_steps(
    lua: &mut Lua,
    exec: &lunette::StashedExecutor,
    from: usize,
    schedule: Schedule,
    mut after_step: impl FnMut(&mut Lua, usize),
) -> String {
    let mut done = false;
    let soak = soak_bounds();
    for step in from..MAX_STEPS {
        let mut fuel = Fuel::new(STEP_FUEL);
        let started = std::time::Instant::now();
        done = lua.step(exec, &mut fuel).is_done();
        let took = started.elapsed();
        assert!(
            fuel.remaining() > -OVERRUN,
            "step {step} overran its budget by {}",
            -fuel.remaining()
        );
        // Big buffers ask before allocating, so the VM stays near its limit. What grows
        // without asking (a thread's stack and frames in deep recursion, a table's hash part
        // doubling) is checked at the next safe point, so the bound is twice the limit.
        assert!(
            lua.memory_peak() <= 2 * MEMORY_LIMIT,
            "step {step}: memory peak {} over the limit {MEMORY_LIMIT}",
            lua.memory_peak()
        );
        if let Some(max) = soak {
            assert!(
                took <= max,
                "soak: step {step} took {took:?} (bound {max:?}) for {STEP_FUEL} fuel"
            );
        }
        if schedule.collects_after(step) {
            lua.gc_collect();
        }
        after_step(lua, step);
        if done {
            break;
        }
    }
    if !done {
        return "still running".into();
    }
    // Render the result like a host would (error values included).
    lua.enter(|ctx| match ctx.fetch_executor(exec).unwrap().result() {
        Some(lunette::ExecResult::Errored { value, .. }) => {
            format!("error: {}", lunette::vm::error_message(ctx, value))
        }
        Some(lunette::ExecResult::Returned(values)) => {
            let shown: Vec<String> = values
                .iter()
                .map(|v| lunette::vm::display_plain(*v))
                .collect();
            format!("returned: {}", shown.join(", "))
        }
        None => "no result".into(),
    })
}

/// Tokens for the structured target: bytes pick tokens, so most inputs lex and many parse.
#[rustfmt::skip]
pub const TOKENS: &[&str] = &[
    "local ", "function ", "end ", "return ", "if ", "then ", "else ", "elseif ", "while ",
    "do ", "for ", "in ", "repeat ", "until ", "break ", "goto ", "::l:: ", "nil ", "true ",
    "false ", "... ", "and ", "or ", "not ", "= ", "== ", "~= ", "< ", "<= ", "> ", ">= ",
    "+ ", "- ", "* ", "/ ", "// ", "% ", "^ ", "# ", "& ", "| ", "~ ", "<< ", ">> ", ".. ",
    "( ", ") ", "{ ", "} ", "[ ", "] ", ", ", "; ", ". ", ": ", "<close> ", "<const> ", "x ",
    "y ", "t ", "f ", "s ", "i ", "0 ", "1 ", "2 ", "-1 ", "0.5 ", "1e308 ", "0/0 ",
    "math.maxinteger ", "math.mininteger ", "'a' ", "\"\\0\" ", "[[xx]] ", "'%' ",
    "setmetatable ", "getmetatable ", "pcall ", "error ", "select ", "load ", "tostring ",
    "coroutine.wrap ", "coroutine.yield ", "coroutine.resume ", "coroutine.create ",
    "string.rep ", "string.format ", "string.find ", "string.gsub ", "string.pack ",
    "string.unpack ", "string.char ", "string.byte ", "table.concat ", "table.unpack ",
    "table.insert ", "table.remove ", "table.sort ", "table.move ", "utf8.char ",
    "utf8.len ", "utf8.codepoint ", "utf8.offset ", "math.floor ", "math.abs ", "math.fmod ",
    "math.tointeger ", "next ", "pairs ", "ipairs ", "rawset ", "rawget ", "rawlen ",
    "collectgarbage ", "__index ", "__newindex ", "__call ", "__gc ", "__close ", "__eq ",
    "__lt ", "__le ", "__concat ", "__len ", "__tostring ", "__name ", "__mode ", "'k' ",
    "__add ", "__unm ", "__metatable ", "os.date ", "os.time ", "string.sub ",
    "\n",
];

/// Turns bytes into token soup.
pub fn token_soup(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() * 6);
    for &b in data {
        out.extend_from_slice(TOKENS[b as usize % TOKENS.len()].as_bytes());
    }
    out
}

/// Memory limit of the VM that reads fuzzed images.
pub const IMAGE_MEMORY_LIMIT: usize = 64 << 20;

/// The host of image-reading VMs (and of the VMs that make the seed images): the grants
/// the `tests/lua` programs run with, so their images' libraries are all there.
fn image_host() -> CaptureHost {
    CaptureHost {
        grants: lunette::Grants {
            full_collections: true,
            binary_chunks: true,
            debug: true,
            ..lunette::Grants::default()
        },
        ..CaptureHost::default()
    }
}

/// Reads `data` as a VM image (`Lua::snapshot_from_bytes`) into a fresh VM with a memory
/// limit; if it is accepted, restores it, takes its checksum, steps every executor it holds
/// for at most `MAX_STEPS` steps of `STEP_FUEL`, runs a full collection, and checks that the
/// VM's own image writes and reads back. Panics (the finding) if anything panics or an
/// accepted image leads to a state the VM cannot snapshot and read back. Returns a coarse
/// signature of what happened (feedback for the mutation fuzzer).
pub fn image(data: &[u8]) -> String {
    let mut lua = Lua::with_host(Rc::new(image_host()));
    lua.set_memory_limit(Some(IMAGE_MEMORY_LIMIT));
    let snapshot = match lua.snapshot_from_bytes(data) {
        Ok(s) => s,
        // Coarse: the reason without the names it quotes.
        Err(e) => return format!("decode:{}", e.to_string().split('\'').next().unwrap_or("")),
    };
    if let Err(e) = lua.restore(&snapshot) {
        return format!("restore:{e}");
    }
    let _ = lua.checksum();
    let mut outcome = String::from("restored");
    for id in lua.restored_executor_ids() {
        let Some(exec) = lua.restored_executor(id) else {
            continue;
        };
        let mut status = "running";
        for _ in 0..MAX_STEPS {
            let s = lua.step(&exec, &mut Fuel::new(STEP_FUEL));
            if s.is_done() {
                status = if s == lunette::StepStatus::Returned {
                    "returned"
                } else {
                    "errored"
                };
                break;
            }
        }
        outcome.push(':');
        outcome.push_str(status);
    }
    lua.gc_collect();
    if let Ok(s) = lua.snapshot() {
        if let Ok(bytes) = s.to_bytes() {
            if let Err(e) = lua.snapshot_from_bytes(&bytes) {
                let not_memory = !e.to_string().contains("memory");
                assert!(!not_memory, "the VM's own image does not read back: {e}");
            }
        }
    }
    outcome
}

/// Seed images for the `image` target: the `tests/lua` programs in `dir` paused at a few
/// points (each image as bytes), at most `max` of them.
pub fn image_seeds(dir: &std::path::Path, max: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    let mut paths: Vec<_> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "lua"))
        .collect();
    paths.sort();
    for p in paths {
        let Ok(src) = std::fs::read(&p) else { continue };
        let mut lua = Lua::with_host(Rc::new(image_host()));
        let Ok(f) = lua.load(&src, "=seed") else {
            continue;
        };
        let exec = lua.enter(|ctx| {
            let f = ctx.fetch(&f).unwrap();
            ctx.stash_executor(Executor::start(ctx, f, &[]))
        });
        for step in 0..40 {
            if [1, 7, 39].contains(&step) {
                if let Ok(b) = lua.snapshot().and_then(|s| s.to_bytes()) {
                    out.push(b);
                }
            }
            if lua.step(&exec, &mut Fuel::new(300)).is_done() {
                break;
            }
        }
        if out.len() >= max {
            break;
        }
    }
    out
}
