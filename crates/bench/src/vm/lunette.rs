//! lunette: this workspace's VM, with its standard libraries and a [`CaptureHost`].

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use lunette::compiler::Prototype;
use lunette::vm::lua::DEFAULT_STEP_FUEL;
use lunette::{CaptureHost, Executor, Fuel, Lua, Value};

use super::{checksum_of, first_line, Deadline, Vm};
use crate::script::Script;

pub struct Lunette {
    timeout: Duration,
    /// Compiled once per script: prototypes are arena-independent.
    compiled: HashMap<String, Arc<Prototype>>,
}

impl Lunette {
    pub fn new(timeout: Duration) -> Self {
        Lunette {
            timeout,
            compiled: HashMap::new(),
        }
    }

    fn compile(&mut self, script: &Script) -> Result<Arc<Prototype>, String> {
        if let Some(p) = self.compiled.get(&script.name) {
            return Ok(p.clone());
        }
        let proto = lunette::compiler::compile(&script.source, &script.chunk_name())
            .map_err(|e| first_line(&e.to_string()))?;
        self.compiled.insert(script.name.clone(), proto.clone());
        Ok(proto)
    }
}

impl Vm for Lunette {
    fn name(&self) -> &'static str {
        "lunette"
    }

    fn title(&self) -> &'static str {
        "lunette"
    }

    fn run(&mut self, script: &Script) -> Result<(Duration, String), String> {
        let proto = self.compile(script)?;
        let host = Rc::new(CaptureHost::new());
        let mut lua = Lua::with_host(host.clone());
        let exec = lua.enter(|ctx| {
            let f = ctx
                .load_prototype(&proto, None)
                .expect("compiled code verifies");
            ctx.stash_executor(Executor::start(ctx, Value::Function(f), &[]))
        });

        // The same loop as `Lua::finish` (fuel-bounded steps, GC between steps) plus a
        // deadline check.
        let deadline = Deadline::start(self.timeout);
        loop {
            let mut fuel = Fuel::new(DEFAULT_STEP_FUEL);
            if lua.step(&exec, &mut fuel).is_done() {
                break;
            }
            deadline.check()?;
        }
        let elapsed = deadline.elapsed();

        // The executor is finished: `finish` returns at once with its error, if any.
        lua.finish(&exec).map_err(|e| first_line(&e.message))?;
        Ok((elapsed, checksum_of(&host.take_stdout())))
    }
}
