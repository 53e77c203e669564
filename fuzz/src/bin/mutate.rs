//! A stable-Rust "poor man's fuzzer" for lunette (no libFuzzer, no nightly, no coverage
//! instrumentation): mutates a seed corpus, runs each input in-process under
//! `catch_unwind`, and saves inputs that panic, hang, or kill the process.
//!
//! ```text
//! cargo run --release --bin mutate -- <compile|run|run_structured|undump|image> [--seconds N]
//!     [--corpus DIR] [--crashes DIR] [--seed N] [--max-len N]
//! cargo run --release --bin mutate -- --replay <target> FILE...   # rerun saved inputs
//! cargo run --release --bin mutate -- --write-seeds <image|undump> DIR  # seeds for cargo-fuzz
//! ```
//!
//! Feedback without coverage: an input joins the in-memory corpus when its outcome
//! signature (compile error / runtime error message with digits removed, "returned",
//! "still running") was never seen before.
//!
//! Inputs run in a worker process (this binary with `--worker <target>`) fed through a
//! pipe, so an abort (allocation failure, stack overflow) or a hang (no answer within
//! `--hang-seconds`, default 5) only costs a worker restart: the input is saved as
//! `crash-*` / `abort-*` / `hang-*` in the crashes directory and the campaign goes on.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lunette_fuzz::TOKENS;

/// Extra interesting strings spliced into inputs.
const DICT: &[&str] = &[
    "(",
    ")",
    "{",
    "}",
    "[[",
    "]]",
    "--[[",
    "--[==[",
    "]==]",
    "\"",
    "'",
    "\\",
    "\\u{",
    "\\x",
    "\\z",
    "\\ddd",
    "0x",
    "1e",
    "..",
    "...",
    "::",
    "<close>",
    "<const>",
    "goto ",
    "function(...) ",
    "return ",
    " end ",
    "local ",
    "x",
    "=",
    ";",
    ",",
    "%b()",
    "%f[%w]",
    "(.-)%1",
    "[^",
    "%",
    "\0",
    "\u{ff}",
    "\u{7ff}",
    "\x7f",
    "\r\n",
    "\n",
    "string.rep('x', 2^30)",
    "setmetatable({}, {__index = function(t, k) return t[k] end})",
    "coroutine.wrap(function() coroutine.yield() end)",
    "pcall(error)",
    "9223372036854775807",
    "-9223372036854775808",
    "1e309",
    "0/0",
    "math.mininteger // -1",
    "#",
    "~",
    "//",
];

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn mutate(rng: &mut Rng, input: &[u8], corpus: &[Vec<u8>], max_len: usize) -> Vec<u8> {
    let mut v = input.to_vec();
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        let len = v.len();
        match rng.below(11) {
            0 if len > 0 => {
                let i = rng.below(len);
                v[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                v[i] = rng.next() as u8;
            }
            2 => {
                let i = rng.below(len + 1);
                v.insert(i, rng.next() as u8);
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(16));
                v.drain(i..i + n);
            }
            4 => {
                let i = rng.below(len + 1);
                let d = DICT[rng.below(DICT.len())].as_bytes();
                v.splice(i..i, d.iter().copied());
            }
            5 => {
                let i = rng.below(len + 1);
                let t = TOKENS[rng.below(TOKENS.len())].as_bytes();
                v.splice(i..i, t.iter().copied());
            }
            6 if !corpus.is_empty() => {
                // Splice a piece of another input.
                let other = &corpus[rng.below(corpus.len())];
                if !other.is_empty() {
                    let a = rng.below(other.len());
                    let b = a + rng.below((other.len() - a).min(256)) + 1;
                    let i = rng.below(len + 1);
                    v.splice(i..i, other[a..b.min(other.len())].iter().copied());
                }
            }
            7 if len > 1 => {
                // Repeat a chunk (builds nesting and long runs).
                let a = rng.below(len);
                let b = (a + 1 + rng.below(8)).min(len);
                let times = 1 + rng.below(64);
                let chunk = v[a..b].to_vec();
                for _ in 0..times {
                    v.splice(b..b, chunk.iter().copied());
                }
            }
            8 if len > 0 => {
                // Replace a number-looking byte with an extreme number.
                let i = rng.below(len);
                let n = [
                    "0",
                    "-1",
                    "2^63",
                    "1e308",
                    "math.maxinteger",
                    "math.mininteger",
                    "2^31",
                ][rng.below(7)];
                v.splice(i..(i + 1).min(len), n.bytes());
            }
            9 if len > 0 => {
                // Truncate.
                v.truncate(rng.below(len));
            }
            _ => {
                // Swap two chunks.
                if len > 4 {
                    let a = rng.below(len / 2);
                    let b = len / 2 + rng.below(len / 2);
                    v.swap(a, b);
                }
            }
        }
    }
    v.truncate(max_len);
    v
}

/// What happened, coarsely: used as feedback.
fn signature(target: &str, data: &[u8]) -> String {
    if target == "image" {
        return IMAGE_SIGNATURE.with(|s| strip(&s.borrow()));
    }
    let src: Vec<u8> = if target == "run_structured" {
        lunette_fuzz::token_soup(data)
    } else {
        data.to_vec()
    };
    if target == "undump" {
        return match lunette::compiler::undump(&src, "=fuzz") {
            Err(e) => format!("undump:{}", strip(&e.to_string())),
            Ok(p) => {
                // Coarse: what the verified chunk's code looks like.
                let ops: std::collections::BTreeSet<String> = p
                    .code
                    .iter()
                    .map(|i| {
                        format!("{i:?}")
                            .split([' ', '{'])
                            .next()
                            .unwrap_or("")
                            .to_string()
                    })
                    .collect();
                format!("undumped:{}", ops.len())
            }
        };
    }
    match lunette::compiler::compile(&src, "=fuzz") {
        Err(e) => format!("compile:{}", strip(&e.to_string())),
        Ok(_) if target == "compile" => "compiled".into(),
        Ok(_) => {
            // Run it (the caller already ran it for crashes; this is for the signature).
            let mut lua = lunette::Lua::sandboxed(std::rc::Rc::new(lunette::CaptureHost::new()));
            let Ok(f) = lua.load(&src, "=fuzz") else {
                return "load".into();
            };
            let exec = lua.enter(|ctx| {
                let f = ctx.fetch(&f).unwrap();
                ctx.stash_executor(lunette::Executor::start(ctx, f, &[]))
            });
            for _ in 0..lunette_fuzz::MAX_STEPS {
                if lua
                    .step(&exec, &mut lunette::Fuel::new(lunette_fuzz::STEP_FUEL))
                    .is_done()
                {
                    return lua.enter(|ctx| match ctx.fetch_executor(&exec).unwrap().result() {
                        Some(lunette::ExecResult::Errored { value, .. }) => {
                            format!("error:{}", strip(&lunette::vm::error_message(ctx, value)))
                        }
                        _ => "returned".into(),
                    });
                }
            }
            "running".into()
        }
    }
}

/// An error message without positions and numbers, cut short.
fn strip(s: &str) -> String {
    let s = match s.find(": ") {
        Some(i) if s[..i].contains(':') => &s[i + 2..],
        _ => s,
    };
    s.chars().filter(|c| !c.is_ascii_digit()).take(48).collect()
}

thread_local! {
    /// The `image` target's signature, computed by the run itself (a second run would
    /// double the cost of every input).
    static IMAGE_SIGNATURE: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

fn exec_target(target: &str, data: &[u8]) {
    match target {
        "image" => {
            let sig = lunette_fuzz::image(data);
            IMAGE_SIGNATURE.with(|s| *s.borrow_mut() = sig);
        }
        "compile" => lunette_fuzz::compile(data),
        "run" => lunette_fuzz::run(data),
        "run_structured" => lunette_fuzz::run(&lunette_fuzz::token_soup(data)),
        "undump" => lunette_fuzz::undump(data),
        other => panic!("unknown target {other}"),
    }
}

/// Whether a hostile-suite seed would only trip over what is already reported: a known-bug
/// script, or one that declares a per-step overrun beyond this harness's bound.
fn rediscovers_known_issue(src: &[u8]) -> bool {
    src.split(|&c| c == b'\n').take(8).any(|l| {
        l.starts_with(b"-- known bug:")
            || l.strip_prefix(b"-- overrun:").is_some_and(|n| {
                String::from_utf8_lossy(n)
                    .trim()
                    .parse::<i64>()
                    .is_ok_and(|n| n > lunette_fuzz::OVERRUN)
            })
    })
}

fn load_corpus(dirs: &[PathBuf]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for dir in dirs {
        let Ok(rd) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = rd.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        paths.sort();
        for p in paths {
            // Expected-output files of tests/lua are not programs; scripts marked as known
            // bugs (tests/hostile.rs) would only rediscover what is already reported.
            if p.is_file() && p.extension().is_none_or(|e| e != "out") {
                if let Ok(b) = std::fs::read(&p) {
                    if !rediscovers_known_issue(&b) {
                        out.push(b);
                    }
                }
            }
        }
    }
    out
}

fn hash(data: &[u8]) -> u64 {
    // FNV-1a
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h ^= b as u64;
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}

static PANIC_INFO: Mutex<String> = Mutex::new(String::new());

/// Worker: reads `len: u32 LE, bytes` frames from stdin, runs each, answers one line:
/// `ok <signature>` or `panic <first line of the panic message>`.
fn worker(target: &str) {
    use std::io::{BufWriter, Read};
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut out = BufWriter::new(std::io::stdout().lock());
    loop {
        let mut len = [0u8; 4];
        if input.read_exact(&mut len).is_err() {
            return;
        }
        let mut data = vec![0u8; u32::from_le_bytes(len) as usize];
        if input.read_exact(&mut data).is_err() {
            return;
        }
        let r = std::panic::catch_unwind(|| exec_target(target, &data));
        let line = match r {
            Ok(()) => {
                let sig = std::panic::catch_unwind(|| signature(target, &data))
                    .unwrap_or_else(|_| "panic-in-signature".into());
                format!("ok {}", sig.replace('\n', " "))
            }
            Err(_) => {
                let info = PANIC_INFO.lock().unwrap().clone();
                // Save the full report next to where the supervisor will save the input.
                std::fs::write(
                    std::env::var("MUTATE_PANIC_FILE")
                        .unwrap_or_else(|_| "/tmp/mutate-panic.txt".into()),
                    &info,
                )
                .ok();
                format!(
                    "panic {}",
                    info.lines().take(2).collect::<Vec<_>>().join(" | ")
                )
            }
        };
        writeln!(out, "{line}").ok();
        out.flush().ok();
    }
}

struct Worker {
    child: std::process::Child,
    tx: std::process::ChildStdin,
    rx: std::sync::mpsc::Receiver<String>,
}

impl Worker {
    fn spawn(target: &str, panic_file: &Path) -> Worker {
        use std::io::BufRead;
        use std::process::{Command, Stdio};
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--worker", target])
            .env("MUTATE_PANIC_FILE", panic_file)
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn worker");
        let tx = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (stx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if stx.send(line).is_err() {
                    break;
                }
            }
        });
        Worker { child, tx, rx }
    }

    /// `Ok(line)`, or `Err("hang")` / `Err("died: status")`.
    fn run(&mut self, data: &[u8], timeout: Duration) -> Result<String, String> {
        let mut frame = (data.len() as u32).to_le_bytes().to_vec();
        frame.extend_from_slice(data);
        if self
            .tx
            .write_all(&frame)
            .and_then(|_| self.tx.flush())
            .is_err()
        {
            return Err(self.died());
        }
        match self.rx.recv_timeout(timeout) {
            Ok(line) => Ok(line),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                self.child.kill().ok();
                self.child.wait().ok();
                Err("hang".into())
            }
            Err(_) => Err(self.died()),
        }
    }

    fn died(&mut self) -> String {
        match self.child.wait() {
            Ok(st) => format!("died: {st}"),
            Err(e) => format!("died: {e}"),
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let fuzz_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::panic::set_hook(Box::new(|info| {
        let bt = std::backtrace::Backtrace::force_capture();
        *PANIC_INFO.lock().unwrap() = format!("{info}\n{bt}");
    }));

    if args.first().map(|s| s.as_str()) == Some("--worker") {
        worker(args.get(1).map(|s| s.as_str()).unwrap_or("run"));
        return;
    }
    if args.first().map(|s| s.as_str()) == Some("--replay") {
        let target = args.get(1).expect("--replay <target> FILE...").clone();
        let mut bad = 0;
        for f in &args[2..] {
            let data = std::fs::read(f).expect("readable input");
            let t0 = Instant::now();
            let r = std::panic::catch_unwind(|| exec_target(&target, &data));
            match r {
                Ok(()) => {
                    let outcome = IMAGE_SIGNATURE.with(|s| s.borrow().clone());
                    println!("ok    {f} ({:.2}s) {outcome}", t0.elapsed().as_secs_f64())
                }
                Err(_) => {
                    bad += 1;
                    println!("PANIC {f}:\n{}", PANIC_INFO.lock().unwrap());
                }
            }
        }
        std::process::exit(if bad > 0 { 1 } else { 0 });
    }

    if args.first().map(|s| s.as_str()) == Some("--write-seeds") {
        // Seed files for cargo-fuzz: the inputs this fuzzer makes in memory at start.
        let target = args.get(1).expect("--write-seeds <image|undump> DIR");
        let dir = PathBuf::from(args.get(2).expect("--write-seeds <image|undump> DIR"));
        let tests = fuzz_dir.join("..").join("tests");
        let seeds = match target.as_str() {
            "image" => lunette_fuzz::image_seeds(&tests.join("lua"), usize::MAX),
            "undump" => lunette_fuzz::binary_seeds(&tests),
            other => panic!("no generated seeds for target {other}"),
        };
        std::fs::create_dir_all(&dir).expect("seed directory");
        let mut bytes = 0;
        for s in &seeds {
            bytes += s.len();
            std::fs::write(dir.join(format!("seed-{:016x}", hash(s))), s).expect("seed file");
        }
        println!(
            "{} {target} seeds ({bytes} bytes) in {}",
            seeds.len(),
            dir.display()
        );
        return;
    }

    let target = args.first().cloned().unwrap_or_else(|| "run".into());
    let mut seconds = 60u64;
    let mut hang_seconds = 5u64;
    let mut max_len = 4096usize;
    let mut seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        | 1;
    let mut corpus_dirs = vec![fuzz_dir.join("corpus").join(&target)];
    // The project's Lua test programs seed the source-level targets in place (not copied).
    if target != "run_structured" && target != "undump" && target != "image" {
        let tests = fuzz_dir.join("..").join("tests");
        corpus_dirs.push(tests.join("lua"));
        corpus_dirs.push(tests.join("hostile"));
    }
    let mut crashes = fuzz_dir.join("crashes");
    let mut i = 1;
    while i < args.len() {
        let v = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--seconds" => seconds = v.parse().expect("--seconds N"),
            "--hang-seconds" => hang_seconds = v.parse().expect("--hang-seconds N"),
            "--max-len" => max_len = v.parse().expect("--max-len N"),
            "--seed" => seed = v.parse::<u64>().expect("--seed N") | 1,
            "--corpus" => corpus_dirs.push(PathBuf::from(v)),
            "--crashes" => crashes = PathBuf::from(v),
            other => panic!("unknown option {other}"),
        }
        i += 2;
    }
    std::fs::create_dir_all(&crashes).unwrap();
    let mut corpus = load_corpus(&corpus_dirs);
    if target == "image" {
        // Real images: the project's Lua test programs paused at a few points.
        let tests = fuzz_dir.join("..").join("tests").join("lua");
        corpus.extend(lunette_fuzz::image_seeds(&tests, 120));
        max_len = max_len.max(1 << 21);
    }
    if target == "undump" {
        // Binary chunks of the project's Lua test programs, made in memory.
        corpus.extend(lunette_fuzz::binary_seeds(
            &fuzz_dir.join("..").join("tests"),
        ));
    }
    if corpus.is_empty() {
        corpus.push(b"return 1".to_vec());
    }
    println!(
        "mutate: target {target}, {} seeds, seed {seed}, {seconds}s",
        corpus.len()
    );
    let panic_file = crashes.join(format!("last-panic-{target}.txt"));
    let mut w = Worker::spawn(&target, &panic_file);
    let mut rng = Rng(seed);
    let mut seen: HashSet<String> = HashSet::new();
    let mut crash_keys: HashSet<String> = HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let (mut execs, mut panics, mut hangs, mut aborts) = (0u64, 0u64, 0u64, 0u64);
    let mut last_report = Instant::now();
    let mut i = 0usize;
    while Instant::now() < deadline {
        // First run every seed as is, then mutate.
        let input = if i < corpus.len() {
            corpus[i].clone()
        } else {
            let base = &corpus[rng.below(corpus.len())];
            mutate(&mut rng, base, &corpus, max_len)
        };
        let is_seed = i < corpus.len();
        i += 1;
        execs += 1;
        let name = |kind: &str| format!("{kind}-{target}-{:016x}", hash(&input));
        match w.run(&input, Duration::from_secs(hang_seconds)) {
            Ok(line) => {
                if let Some(sig) = line.strip_prefix("ok ") {
                    if seen.insert(sig.to_string()) && !is_seed {
                        corpus.push(input.clone());
                    }
                } else if let Some(msg) = line.strip_prefix("panic ") {
                    panics += 1;
                    let key = strip(msg);
                    if crash_keys.insert(key) {
                        let n = name("crash");
                        std::fs::write(crashes.join(&n), &input).ok();
                        std::fs::copy(&panic_file, crashes.join(format!("{n}.txt"))).ok();
                        println!(
                            "CRASH (panic): {msg}\n  saved {}",
                            crashes.join(&n).display()
                        );
                    }
                }
            }
            Err(kind) => {
                let hang = kind == "hang";
                if hang {
                    hangs += 1
                } else {
                    aborts += 1
                }
                // Keep at most 20 of each kind (one cause tends to repeat).
                if (if hang { hangs } else { aborts }) <= 20 {
                    let n = name(if hang { "hang" } else { "abort" });
                    std::fs::write(crashes.join(&n), &input).ok();
                    println!(
                        "{}: {kind}\n  saved {}",
                        if hang { "HANG" } else { "ABORT" },
                        crashes.join(&n).display()
                    );
                }
                w = Worker::spawn(&target, &panic_file);
            }
        }
        if last_report.elapsed() > Duration::from_secs(30) {
            last_report = Instant::now();
            println!(
                "  {execs} execs, corpus {}, signatures {}, panics {panics} ({} unique), hangs {hangs}, aborts {aborts}",
                corpus.len(),
                seen.len(),
                crash_keys.len()
            );
            std::io::stdout().flush().ok();
        }
    }
    if std::env::var_os("MUTATE_PRINT_SIGNATURES").is_some() {
        let mut all: Vec<&String> = seen.iter().collect();
        all.sort();
        for s in all {
            println!("  signature: {s}");
        }
    }
    println!(
        "mutate {target}: {execs} execs, corpus {}, signatures {}, panics {panics} ({} unique), hangs {hangs}, aborts {aborts}",
        corpus.len(),
        seen.len(),
        crash_keys.len()
    );
}
