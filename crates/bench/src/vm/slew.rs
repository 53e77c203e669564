//! slew 0.2.0: a suspendable Lua 5.4 interpreter with exact fuel budgets.
//!
//! slew's `print` writes straight to the process stdout and native functions are plain
//! `fn` pointers (no captures), so the replacement `print` collects into a thread-local.

use std::cell::RefCell;
use std::time::Duration;

use slew::{Lua, Step, Value};

use super::{checksum_of, first_line, Deadline, Vm};
use crate::script::Script;

/// Fuel per `Execution::step` call; slew charges about one unit per instruction.
const FUEL_PER_STEP: u64 = 100_000;

thread_local! {
    static OUTPUT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

fn capture_print(lua: &mut Lua, args: &[Value]) -> Result<Vec<Value>, String> {
    let line = args
        .iter()
        .map(|v| lua.display_value(*v))
        .collect::<Vec<_>>()
        .join("\t");
    OUTPUT.with(|out| {
        let mut out = out.borrow_mut();
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    });
    Ok(Vec::new())
}

pub struct Slew {
    timeout: Duration,
}

impl Slew {
    pub fn new(timeout: Duration) -> Self {
        Slew { timeout }
    }
}

impl Vm for Slew {
    fn name(&self) -> &'static str {
        "slew"
    }

    fn title(&self) -> &'static str {
        "slew"
    }

    fn run(&mut self, script: &Script) -> Result<(Duration, String), String> {
        OUTPUT.with(|out| out.borrow_mut().clear());
        let mut lua = Lua::new();
        lua.register_native("print", capture_print);
        let chunk = lua
            .load_named(&script.chunk_name(), script.source.as_slice())
            .map_err(|e| first_line(&e.to_string()))?;
        let mut exec = lua.execute(&chunk);

        let deadline = Deadline::start(self.timeout);
        let result = loop {
            match exec.step(&mut lua, FUEL_PER_STEP) {
                Ok(Step::Done(_)) => break Ok(()),
                Ok(Step::Pending) => {}
                Ok(Step::Waiting(w)) => break Err(format!("unexpected native wait {w:?}")),
                Err(e) => break Err(first_line(&e.to_string())),
            }
            if let Err(e) = deadline.check() {
                exec.abort(&mut lua);
                break Err(e);
            }
        };
        let elapsed = deadline.elapsed();

        result?;
        let out = OUTPUT.with(|out| std::mem::take(&mut *out.borrow_mut()));
        Ok((elapsed, checksum_of(&out)))
    }
}
