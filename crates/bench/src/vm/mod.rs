//! One adapter per VM behind the [`Vm`] trait.
//!
//! Every adapter follows the same protocol so the numbers are comparable:
//! a fresh VM with its standard libraries is created and the script is compiled
//! *outside* the timed region; only running the compiled chunk to completion is
//! timed. `print` is redirected into a buffer so the checksum line can be compared.

use std::time::{Duration, Instant};

use crate::script::Script;

pub mod lunette;
pub mod piccolo;
pub mod puc;
pub mod slew;

/// A Lua implementation the harness can measure.
pub trait Vm {
    /// Short name used on the command line (`--vm`) and in the JSON output.
    fn name(&self) -> &'static str;
    /// Column title in the tables.
    fn title(&self) -> &'static str;
    /// Runs `script` once in a fresh VM; returns the time spent running (compile and VM
    /// creation excluded) and what the script printed, trimmed.
    fn run(&mut self, script: &Script) -> Result<(Duration, String), String>;
}

/// Every VM the harness knows, PUC-Rio first (the reference).
pub fn all(timeout: Duration) -> Vec<Box<dyn Vm>> {
    vec![
        Box::new(puc::Puc::new()),
        Box::new(piccolo::Piccolo::new(timeout)),
        Box::new(slew::Slew::new(timeout)),
        Box::new(lunette::Lunette::new(timeout)),
    ]
}

/// A wall-clock budget for one run, checked between fuel-bounded steps.
pub(crate) struct Deadline {
    start: Instant,
    limit: Duration,
}

impl Deadline {
    pub(crate) fn start(limit: Duration) -> Self {
        Deadline {
            start: Instant::now(),
            limit,
        }
    }

    pub(crate) fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    pub(crate) fn check(&self) -> Result<(), String> {
        if self.start.elapsed() > self.limit {
            Err(format!("timeout: over {} s", self.limit.as_secs()))
        } else {
            Ok(())
        }
    }
}

/// The checksum is what the script printed, without the trailing newline.
pub(crate) fn checksum_of(output: &[u8]) -> String {
    String::from_utf8_lossy(output).trim_end().to_string()
}

/// First line of an error message (tracebacks make table cells unreadable).
pub(crate) fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").trim().to_string()
}
