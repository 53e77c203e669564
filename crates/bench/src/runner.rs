//! The measurement loop: warm-up, then interleaved timed rounds.

use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};
use std::time::Duration;

use crate::script::Script;
use crate::vm::Vm;

/// What one VM did with one script.
pub struct Cell {
    /// Timed runs in milliseconds (empty when the VM failed).
    pub samples_ms: Vec<f64>,
    /// What the VM printed (its last successful run).
    pub checksum: Option<String>,
    /// Why the VM has no time for this script: `error: ...`, `wrong checksum ...`.
    pub failure: Option<String>,
}

/// One script across all selected VMs (same order as the VM list).
pub struct ScriptRun {
    pub script: String,
    /// PUC-Rio's output: what every VM must print.
    pub expected: Option<String>,
    pub cells: Vec<Cell>,
}

thread_local! {
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Panics inside a VM become error cells; the hook records the message and location
/// instead of printing it.
pub fn install_panic_hook() {
    panic::set_hook(Box::new(|info| {
        let msg = if let Some(s) = info.payload().downcast_ref::<&str>() {
            (*s).to_string()
        } else if let Some(s) = info.payload().downcast_ref::<String>() {
            s.clone()
        } else {
            "panic".to_string()
        };
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        LAST_PANIC.with(|p| *p.borrow_mut() = Some(format!("{msg}{at}")));
    }));
}

/// Runs one script once, turning a panic into an error.
fn run_once(vm: &mut dyn Vm, script: &Script) -> Result<(Duration, String), String> {
    match panic::catch_unwind(AssertUnwindSafe(|| vm.run(script))) {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => Err(format!("error: {e}")),
        Err(_) => {
            let msg = LAST_PANIC
                .with(|p| p.borrow_mut().take())
                .unwrap_or_else(|| "unknown".into());
            Err(format!("error: panicked: {msg}"))
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Measures `script` on every VM of `vms`: one warm-up run each (which also yields the
/// checksum), then `runs` rounds in which every VM runs once, the starting VM rotating
/// from round to round so slow drifts of the machine hit all of them alike.
///
/// `reference` is PUC-Rio, used for the expected checksum when it is not among `vms`.
pub fn measure(
    script: &Script,
    vms: &mut [Box<dyn Vm>],
    reference: Option<&mut dyn Vm>,
    runs: usize,
) -> ScriptRun {
    let mut cells: Vec<Cell> = Vec::with_capacity(vms.len());
    for vm in vms.iter_mut() {
        let cell = match run_once(vm.as_mut(), script) {
            Ok((_, checksum)) => Cell {
                samples_ms: Vec::new(),
                checksum: Some(checksum),
                failure: None,
            },
            Err(e) => Cell {
                samples_ms: Vec::new(),
                checksum: None,
                failure: Some(e),
            },
        };
        cells.push(cell);
    }

    let expected = match reference {
        Some(puc) => run_once(puc, script).ok().map(|(_, c)| c),
        None => vms
            .iter()
            .position(|vm| vm.name() == "puc")
            .and_then(|i| cells[i].checksum.clone()),
    };
    if let Some(expected) = &expected {
        for cell in &mut cells {
            if let Some(got) = &cell.checksum {
                if got != expected {
                    cell.failure = Some(wrong(got, expected));
                }
            }
        }
    }

    let n = vms.len();
    for round in 0..runs {
        for k in 0..n {
            let i = (round + k) % n;
            if cells[i].failure.is_some() {
                continue;
            }
            match run_once(vms[i].as_mut(), script) {
                Ok((time, checksum)) => {
                    if expected.as_ref().is_some_and(|e| *e != checksum) {
                        cells[i].failure = Some(wrong(&checksum, expected.as_deref().unwrap()));
                    } else {
                        cells[i].samples_ms.push(ms(time));
                    }
                    cells[i].checksum = Some(checksum);
                }
                Err(e) => cells[i].failure = Some(e),
            }
        }
    }
    for cell in &mut cells {
        if cell.failure.is_some() {
            cell.samples_ms.clear();
        }
    }

    ScriptRun {
        script: script.name.clone(),
        expected,
        cells,
    }
}

fn wrong(got: &str, expected: &str) -> String {
    format!("wrong checksum: printed {got:?}, PUC printed {expected:?}")
}
