//! Turns measurements into the console table, Markdown (`BENCHMARKS.md`) and JSON.

use std::fmt::Write as _;

use serde::Serialize;

use crate::runner::ScriptRun;

/// Everything one harness run measured.
#[derive(Serialize)]
pub struct Report {
    pub command: String,
    pub runs: usize,
    pub machine: Machine,
    pub vms: Vec<VmInfo>,
    pub scripts: Vec<ScriptReport>,
    /// Geometric mean of each VM's ratio to PUC, over the scripts it ran correctly.
    pub geomean: Vec<GeoMean>,
    /// The same for peak memory (empty when it was not measured).
    pub memory_geomean: Vec<GeoMean>,
}

#[derive(Serialize)]
pub struct Machine {
    pub nproc: usize,
    pub cpu: String,
    pub os: String,
    pub rustc: String,
    pub lunette_commit: String,
}

#[derive(Serialize)]
pub struct VmInfo {
    pub name: String,
    pub title: String,
    pub version: String,
}

#[derive(Serialize)]
pub struct ScriptReport {
    pub script: String,
    pub expected_checksum: Option<String>,
    /// One entry per VM, in the order of `vms`.
    pub results: Vec<VmResult>,
}

#[derive(Serialize)]
pub struct VmResult {
    pub vm: String,
    pub samples_ms: Vec<f64>,
    pub median_ms: Option<f64>,
    pub min_ms: Option<f64>,
    pub max_ms: Option<f64>,
    /// Median divided by PUC's median for the same script.
    pub ratio_to_puc: Option<f64>,
    pub checksum: Option<String>,
    pub error: Option<String>,
    /// How much the run raised its process's resident set at the peak (KiB; VM creation
    /// and compilation included), measured in a child process of its own.
    pub peak_kib: Option<u64>,
    /// `peak_kib` divided by PUC's for the same script.
    pub peak_ratio_to_puc: Option<f64>,
}

#[derive(Serialize)]
pub struct GeoMean {
    pub vm: String,
    pub ratio: Option<f64>,
    /// Scripts that entered the mean.
    pub scripts: usize,
}

fn median(sorted: &[f64]) -> Option<f64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

impl Report {
    pub fn new(
        command: String,
        runs: usize,
        machine: Machine,
        vms: Vec<VmInfo>,
        measured: Vec<ScriptRun>,
        peaks: Vec<Vec<Option<u64>>>,
    ) -> Report {
        let puc = vms.iter().position(|v| v.name == "puc");
        let mut scripts = Vec::new();
        for (n, run) in measured.into_iter().enumerate() {
            let peaks = peaks.get(n);
            let mut results: Vec<VmResult> = vms
                .iter()
                .zip(run.cells)
                .enumerate()
                .map(|(v, (vm, cell))| {
                    let mut sorted = cell.samples_ms.clone();
                    sorted.sort_by(f64::total_cmp);
                    VmResult {
                        vm: vm.name.clone(),
                        median_ms: median(&sorted),
                        min_ms: sorted.first().copied(),
                        max_ms: sorted.last().copied(),
                        samples_ms: cell.samples_ms,
                        ratio_to_puc: None,
                        checksum: cell.checksum,
                        error: cell.failure,
                        peak_kib: peaks.and_then(|p| p.get(v).copied().flatten()),
                        peak_ratio_to_puc: None,
                    }
                })
                .collect();
            if let Some(base) = puc.and_then(|i| results[i].median_ms) {
                for r in &mut results {
                    r.ratio_to_puc = r.median_ms.map(|m| m / base);
                }
            }
            if let Some(base) = puc.and_then(|i| results[i].peak_kib).filter(|&k| k > 0) {
                for r in &mut results {
                    r.peak_ratio_to_puc = r.peak_kib.map(|k| k as f64 / base as f64);
                }
            }
            scripts.push(ScriptReport {
                script: run.script,
                expected_checksum: run.expected,
                results,
            });
        }
        let geomean = geomeans(&vms, &scripts, puc.is_some(), |r| r.ratio_to_puc);
        let memory_geomean = if peaks.is_empty() {
            Vec::new()
        } else {
            geomeans(&vms, &scripts, puc.is_some(), |r| r.peak_ratio_to_puc)
        };
        Report {
            command,
            runs,
            machine,
            vms,
            scripts,
            geomean,
            memory_geomean,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("report serializes")
    }

    fn has_puc(&self) -> bool {
        self.vms.iter().any(|v| v.name == "puc")
    }

    /// Header and rows of the time table, cells as plain strings. Errors are shortened to
    /// `max_error` characters.
    fn rows(&self, max_error: usize) -> (Vec<String>, Vec<Vec<String>>) {
        let cell = |r: &VmResult| match (&r.error, r.median_ms) {
            (Some(e), _) => shorten(e, max_error),
            (None, Some(m)) => {
                let spread = match (r.min_ms, r.max_ms) {
                    (Some(lo), Some(hi)) if m > 0.0 => (hi - lo) / 2.0 / m * 100.0,
                    _ => 0.0,
                };
                format!("{m:.1} ±{spread:.0}%")
            }
            (None, None) => "-".to_string(),
        };
        self.ratio_table("ms", cell, |r| r.ratio_to_puc, &self.geomean)
    }

    /// Header and rows of the peak-memory table.
    fn memory_rows(&self) -> (Vec<String>, Vec<Vec<String>>) {
        let cell = |r: &VmResult| match r.peak_kib {
            Some(k) => format!("{:.1}", k as f64 / 1024.0),
            None => "-".to_string(),
        };
        self.ratio_table("MiB", cell, |r| r.peak_ratio_to_puc, &self.memory_geomean)
    }

    /// A table of one measure: a column per VM (`cell`, titled with `unit`), then a ratio
    /// column per VM other than PUC (`ratio`), then a row of geometric means (`geomean`).
    fn ratio_table(
        &self,
        unit: &str,
        cell: impl Fn(&VmResult) -> String,
        ratio: impl Fn(&VmResult) -> Option<f64>,
        geomean: &[GeoMean],
    ) -> (Vec<String>, Vec<Vec<String>>) {
        let mut header = vec!["script".to_string()];
        for vm in &self.vms {
            header.push(format!("{} {unit}", vm.title));
        }
        let ratio_vms: Vec<usize> = (0..self.vms.len())
            .filter(|&i| self.has_puc() && self.vms[i].name != "puc")
            .collect();
        for &i in &ratio_vms {
            header.push(format!("{} ×PUC", self.vms[i].title));
        }
        let mut rows = Vec::new();
        for s in &self.scripts {
            let mut row = vec![s.script.clone()];
            row.extend(s.results.iter().map(&cell));
            for &i in &ratio_vms {
                row.push(ratio_cell(ratio(&s.results[i])));
            }
            rows.push(row);
        }
        if !ratio_vms.is_empty() {
            let mut row = vec!["geometric mean".to_string()];
            row.extend(self.vms.iter().map(|_| String::new()));
            for &i in &ratio_vms {
                row.push(
                    match geomean.get(i).and_then(|g| g.ratio.map(|r| (r, g.scripts))) {
                        Some((r, n)) => format!("{r:.2}× ({n}/{})", self.scripts.len()),
                        None => "-".to_string(),
                    },
                );
            }
            rows.push(row);
        }
        (header, rows)
    }

    /// The tables for a terminal: aligned columns.
    pub fn to_text(&self) -> String {
        let (header, rows) = self.rows(28);
        let mut out = text_table(&header, &rows, self.has_puc());
        if !self.memory_geomean.is_empty() {
            let (header, rows) = self.memory_rows();
            out.push_str("\npeak memory:\n");
            out.push_str(&text_table(&header, &rows, self.has_puc()));
        }
        let failures = self.failures();
        if !failures.is_empty() {
            out.push_str("\nfailures:\n");
            for f in failures {
                let _ = writeln!(out, "  {f}");
            }
        }
        out
    }

    /// Every failed cell with its full message.
    fn failures(&self) -> Vec<String> {
        let mut out = Vec::new();
        for s in &self.scripts {
            for (vm, r) in self.vms.iter().zip(&s.results) {
                if let Some(e) = &r.error {
                    out.push(format!("{} / {}: {}", s.script, vm.title, e));
                }
            }
        }
        out
    }

    /// `BENCHMARKS.md`.
    pub fn to_markdown(&self) -> String {
        let mut md = String::new();
        md.push_str("# Benchmarks\n\n");
        md.push_str(
            "<!-- Generated by `crates/bench` (lunette-bench). Do not edit by hand: re-run the \
             command below. -->\n\n",
        );
        md.push_str(
            "lunette against PUC-Rio Lua 5.4 and two other Rust VMs, measured in one process \
             so that machine noise hits every VM alike and cancels out in the ratios. \
             Times are milliseconds to run a script that is already compiled in a fresh VM \
             (VM creation and compilation are not timed; garbage collection is): the median of \
             the timed runs, ± half the min–max spread as a percentage of the median. \
             `×PUC` is a VM's median divided by PUC's; lower is faster. \
             The geometric mean is over the scripts the VM ran with the right checksum \
             (count in parentheses). \
             See `crates/bench/README.md` for the method.\n\n",
        );
        let _ = writeln!(md, "Command: `{}`\n", self.command);

        let (header, rows) = self.rows(40);
        markdown_table(&mut md, &header, &rows);

        if !self.memory_geomean.is_empty() {
            md.push_str(
                "\n## Peak memory\n\n\
                 How much each run raised its process's resident set at the peak, in MiB \
                 (VM creation, compilation and what the collector had not yet freed \
                 included): one more run of each script per VM, in a child process of its \
                 own. `×PUC` is a VM's peak divided by PUC's; lower is smaller.\n\n",
            );
            let (header, rows) = self.memory_rows();
            markdown_table(&mut md, &header, &rows);
        }

        let failures = self.failures();
        if !failures.is_empty() {
            md.push_str("\n## Failures\n\n");
            for f in failures {
                let _ = writeln!(md, "- {}", f.replace('|', "\\|"));
            }
        }

        md.push_str("\n## Machine\n\n");
        let m = &self.machine;
        let _ = writeln!(md, "- CPU: {} (`nproc` = {})", m.cpu, m.nproc);
        let _ = writeln!(md, "- OS: {}", m.os);
        let _ = writeln!(md, "- rustc: {}", m.rustc);
        let _ = writeln!(md, "- lunette commit: {}", m.lunette_commit);
        let _ = writeln!(
            md,
            "- timed runs per VM per script: {} (after one warm-up run)",
            self.runs
        );
        md.push_str("\n## VMs\n\n");
        for vm in &self.vms {
            let _ = writeln!(md, "- {}: {}", vm.title, vm.version);
        }
        md
    }
}

/// Each VM's geometric mean of `ratio` over the scripts that have one.
fn geomeans(
    vms: &[VmInfo],
    scripts: &[ScriptReport],
    has_puc: bool,
    ratio: impl Fn(&VmResult) -> Option<f64>,
) -> Vec<GeoMean> {
    vms.iter()
        .enumerate()
        .map(|(i, vm)| {
            let ratios: Vec<f64> = scripts
                .iter()
                .filter_map(|s| ratio(&s.results[i]))
                .collect();
            let mean = (!ratios.is_empty() && has_puc)
                .then(|| (ratios.iter().map(|r| r.ln()).sum::<f64>() / ratios.len() as f64).exp());
            GeoMean {
                vm: vm.name.clone(),
                ratio: mean,
                scripts: ratios.len(),
            }
        })
        .collect()
}

/// A Markdown table: the first column left-aligned, the others right-aligned.
fn markdown_table(md: &mut String, header: &[String], rows: &[Vec<String>]) {
    let _ = writeln!(md, "| {} |", header.join(" | "));
    let aligns: Vec<&str> = (0..header.len())
        .map(|i| if i == 0 { "---" } else { "---:" })
        .collect();
    let _ = writeln!(md, "| {} |", aligns.join(" | "));
    for row in rows {
        let cells: Vec<String> = row.iter().map(|c| c.replace('|', "\\|")).collect();
        let _ = writeln!(md, "| {} |", cells.join(" | "));
    }
}

/// Aligned columns; a rule under the header and, with `mean_row`, above the last row.
fn text_table(header: &[String], rows: &[Vec<String>], mean_row: bool) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[String]| -> String {
        let mut out = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            let pad = w - c.chars().count();
            if i == 0 {
                out.push_str(c);
                out.push_str(&" ".repeat(pad));
            } else {
                out.push_str("  ");
                out.push_str(&" ".repeat(pad));
                out.push_str(c);
            }
        }
        out.trim_end().to_string() + "\n"
    };
    let mut out = line(header);
    let total: usize = widths.iter().sum::<usize>() + 2 * (widths.len() - 1);
    out.push_str(&"-".repeat(total));
    out.push('\n');
    for (i, row) in rows.iter().enumerate() {
        if mean_row && i + 1 == rows.len() {
            out.push_str(&"-".repeat(total));
            out.push('\n');
        }
        out.push_str(&line(row));
    }
    out
}

fn ratio_cell(r: Option<f64>) -> String {
    match r {
        Some(r) => format!("{r:.2}"),
        None => "-".to_string(),
    }
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}
