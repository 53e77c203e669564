//! `lunette-bench`: runs the Lua scripts of `scripts/` on PUC-Rio Lua 5.4 (through mlua),
//! piccolo, slew and lunette in one process and prints one table of times and ratios to PUC.
//!
//! ```text
//! cargo run --release -p lunette-bench -- [--runs N] [--filter SUBSTR]... [--vm NAME]...
//!                                         [--json] [--markdown PATH] [--timeout SECS]
//!                                         [--scripts DIR] [--no-memory]
//! ```
//!
//! After the timed runs, each VM runs each script once more in a child process of its own
//! (`--peak-of VM SCRIPT`) to measure how much resident memory the run needed at its peak.

#![forbid(unsafe_code)]

mod report;
mod runner;
mod script;
mod vm;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use report::{Machine, Report, VmInfo};

const USAGE: &str = "\
usage: lunette-bench [options]

Runs every script of crates/bench/scripts on each VM (one warm-up run, then N timed
runs per VM, interleaved round by round) and prints the median times and the ratios to
PUC-Rio Lua 5.4.

options:
  --runs N          timed runs per VM per script (default 5)
  --filter SUBSTR   only scripts whose name contains SUBSTR (repeatable, or comma-separated)
  --vm NAME         only this VM: puc, piccolo, slew, lunette (repeatable, or comma-separated)
  --json            print the results as JSON instead of the table
  --markdown PATH   also write the table and machine description to PATH (BENCHMARKS.md)
  --timeout SECS    give up on a run after SECS seconds (default 60; stackless VMs only)
  --scripts DIR     read the scripts from DIR instead of crates/bench/scripts
  --no-memory       skip the peak-memory runs (one child process per VM per script)
  -h, --help        this text";

struct Options {
    runs: usize,
    filters: Vec<String>,
    vms: Vec<String>,
    json: bool,
    markdown: Option<PathBuf>,
    timeout: Duration,
    scripts: PathBuf,
    memory: bool,
    /// Child mode: run script `.1` once on VM `.0` and print the run's peak memory.
    peak_of: Option<(String, String)>,
}

fn parse_args(args: &[String]) -> Result<Option<Options>, String> {
    let mut opts = Options {
        runs: 5,
        filters: Vec::new(),
        vms: Vec::new(),
        json: false,
        markdown: None,
        timeout: Duration::from_secs(60),
        scripts: script::default_dir(),
        memory: true,
        peak_of: None,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        let list = |v: String| -> Vec<String> {
            v.split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        };
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--runs" => {
                let v = value("--runs")?;
                opts.runs = v
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| format!("--runs: not a positive number: {v}"))?;
            }
            "--filter" => opts.filters.extend(list(value("--filter")?)),
            "--vm" => opts.vms.extend(list(value("--vm")?)),
            "--json" => opts.json = true,
            "--markdown" => opts.markdown = Some(PathBuf::from(value("--markdown")?)),
            "--timeout" => {
                let v = value("--timeout")?;
                let secs: u64 = v
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| format!("--timeout: not a positive number: {v}"))?;
                opts.timeout = Duration::from_secs(secs);
            }
            "--scripts" => opts.scripts = PathBuf::from(value("--scripts")?),
            "--no-memory" => opts.memory = false,
            "--peak-of" => {
                let vm = value("--peak-of")?;
                opts.peak_of = Some((vm, value("--peak-of")?));
            }
            other => return Err(format!("unknown argument: {other}")),
        }
    }
    Ok(Some(opts))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = match parse_args(&args) {
        Ok(Some(opts)) => opts,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("lunette-bench: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if let Some((vm, script)) = &opts.peak_of {
        return match peak_of(&opts, vm, script) {
            Ok(kib) => {
                println!("{kib}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("lunette-bench: {e}");
                ExitCode::FAILURE
            }
        };
    }
    match run(&opts, &args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lunette-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(opts: &Options, args: &[String]) -> Result<(), String> {
    let scripts = script::load(&opts.scripts, &opts.filters)?;
    if scripts.is_empty() {
        return Err(format!(
            "no script in {} matches {:?}",
            opts.scripts.display(),
            opts.filters
        ));
    }

    let all = vm::all(opts.timeout);
    for name in &opts.vms {
        if !all.iter().any(|vm| vm.name() == name) {
            let known: Vec<_> = all.iter().map(|vm| vm.name()).collect();
            return Err(format!("unknown VM {name:?} (known: {})", known.join(", ")));
        }
    }
    let (mut vms, mut rest): (Vec<_>, Vec<_>) = all
        .into_iter()
        .partition(|vm| opts.vms.is_empty() || opts.vms.iter().any(|n| n == vm.name()));
    // Without PUC in the table, PUC still runs once per script to supply the checksum.
    let mut reference = rest.iter_mut().find(|vm| vm.name() == "puc");

    runner::install_panic_hook();
    let mut measured = Vec::new();
    for s in &scripts {
        let run = runner::measure(
            s,
            &mut vms,
            reference.as_mut().map(|r| r.as_mut() as &mut dyn vm::Vm),
            opts.runs,
        );
        let summary: Vec<String> = vms
            .iter()
            .zip(&run.cells)
            .map(|(vm, cell)| {
                let mut t = cell.samples_ms.clone();
                t.sort_by(f64::total_cmp);
                match t.get(t.len() / 2) {
                    Some(m) if cell.failure.is_none() => format!("{} {m:.0} ms", vm.name()),
                    _ => format!("{} failed", vm.name()),
                }
            })
            .collect();
        eprintln!("{:<16} {}", s.name, summary.join(", "));
        measured.push(run);
    }

    let infos = vms
        .iter()
        .map(|vm| VmInfo {
            name: vm.name().to_string(),
            title: vm.title().to_string(),
            version: vm_version(vm.name()),
        })
        .collect();
    let mut command = "cargo run --release -p lunette-bench".to_string();
    if !args.is_empty() {
        command.push_str(" -- ");
        command.push_str(&args.join(" "));
    }
    let peaks = if opts.memory {
        measure_peaks(opts, &scripts, &vms, &measured)
    } else {
        Vec::new()
    };
    let report = Report::new(command, opts.runs, machine(), infos, measured, peaks);

    if opts.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_text());
    }
    if let Some(path) = &opts.markdown {
        std::fs::write(path, report.to_markdown())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// Peak memory of each (script, VM) pair that ran correctly: `[script][vm]`, KiB, from a
/// child process per pair (`--peak-of`), so one run's heap does not hide another's.
fn measure_peaks(
    opts: &Options,
    scripts: &[script::Script],
    vms: &[Box<dyn vm::Vm>],
    measured: &[runner::ScriptRun],
) -> Vec<Vec<Option<u64>>> {
    let Ok(exe) = std::env::current_exe() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (s, run) in scripts.iter().zip(measured) {
        let mut row = Vec::new();
        for (vm, cell) in vms.iter().zip(&run.cells) {
            if cell.failure.is_some() {
                row.push(None);
                continue;
            }
            let child = std::process::Command::new(&exe)
                .arg("--peak-of")
                .arg(vm.name())
                .arg(&s.name)
                .arg("--scripts")
                .arg(&opts.scripts)
                .arg("--timeout")
                .arg(opts.timeout.as_secs().to_string())
                .output();
            let kib = child
                .ok()
                .filter(|o| o.status.success())
                .and_then(|o| String::from_utf8(o.stdout).ok())
                .and_then(|t| t.trim().parse().ok());
            row.push(kib);
        }
        let cells: Vec<String> = (vms.iter().zip(&row))
            .map(|(vm, k)| match k {
                Some(k) => format!("{} {:.1} MiB", vm.name(), *k as f64 / 1024.0),
                None => format!("{} -", vm.name()),
            })
            .collect();
        eprintln!("{:<16} peak: {}", s.name, cells.join(", "));
        out.push(row);
    }
    out
}

/// Child mode: runs `script` once on `vm_name` and returns how much the process's resident
/// set grew at its peak during the run (VM creation and compilation included), in KiB.
fn peak_of(opts: &Options, vm_name: &str, script: &str) -> Result<u64, String> {
    let scripts = script::load(&opts.scripts, &[script.to_string()])?;
    let s = (scripts.iter())
        .find(|s| s.name == script)
        .ok_or_else(|| format!("no script named {script}"))?;
    let mut vm = (vm::all(opts.timeout).into_iter())
        .find(|v| v.name() == vm_name)
        .ok_or_else(|| format!("unknown VM {vm_name}"))?;
    let baseline = proc_status_kib("VmRSS:")?;
    // Linux: "5" resets the peak (VmHWM) to the current resident set.
    std::fs::write("/proc/self/clear_refs", "5")
        .map_err(|e| format!("cannot reset the peak resident set: {e}"))?;
    vm.run(s)?;
    Ok(proc_status_kib("VmHWM:")?.saturating_sub(baseline))
}

/// A `kB` line of `/proc/self/status`.
fn proc_status_kib(field: &str) -> Result<u64, String> {
    let status = std::fs::read_to_string("/proc/self/status").map_err(|e| e.to_string())?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| format!("no {field} in /proc/self/status"))
}

fn vm_version(name: &str) -> String {
    match name {
        "puc" => format!(
            "PUC-Rio Lua 5.4 from lua-src {} (its 5.4 sources: Lua 5.4.8; C, built from source \
             with the crate's default flags) through mlua {}",
            env!("BENCH_LUA_SRC_VERSION"),
            env!("BENCH_MLUA_VERSION")
        ),
        "piccolo" => format!("piccolo {}", env!("BENCH_PICCOLO_VERSION")),
        "slew" => format!("slew {}", env!("BENCH_SLEW_VERSION")),
        "lunette" => "lunette (this workspace)".to_string(),
        other => other.to_string(),
    }
}

fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let os = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|r| format!("{} {}", std::env::consts::OS, r.trim()))
        .unwrap_or_else(|_| std::env::consts::OS.to_string());
    Machine {
        nproc: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        cpu,
        os,
        rustc: env!("BENCH_RUSTC_VERSION").to_string(),
        lunette_commit: lunette_commit(),
    }
}

/// `git describe` of the workspace, `-dirty` when there are uncommitted changes.
fn lunette_commit() -> String {
    std::process::Command::new("git")
        .args(["describe", "--always", "--dirty", "--abbrev=12"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}
