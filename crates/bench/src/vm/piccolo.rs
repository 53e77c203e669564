//! piccolo 0.3.3: a stackless Lua VM on gc-arena. Its stdlib is partial (no
//! `string.format`, `table.insert`/`concat`/`sort`, patterns, ...), so several scripts
//! fail with "attempt to call a nil value"; those cells show the error.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use piccolo::{Callback, CallbackReturn, Closure, Executor, Fuel, Lua};

use super::{checksum_of, first_line, Deadline, Vm};
use crate::script::Script;

/// piccolo's own `Lua::finish` steps 4096 fuel units between collections; we do the same
/// (plus a deadline check) so the timing matches its run-to-completion helper.
const FUEL_PER_GC: i32 = 4096;

pub struct Piccolo {
    timeout: Duration,
}

impl Piccolo {
    pub fn new(timeout: Duration) -> Self {
        Piccolo { timeout }
    }
}

impl Vm for Piccolo {
    fn name(&self) -> &'static str {
        "piccolo"
    }

    fn title(&self) -> &'static str {
        "piccolo"
    }

    fn run(&mut self, script: &Script) -> Result<(Duration, String), String> {
        // `core` = base, coroutine, math, string, table; no io (its `print` goes to stdout).
        let mut lua = Lua::core();
        let out = Rc::new(RefCell::new(Vec::<u8>::new()));
        let sink = out.clone();
        let name = script.chunk_name();
        let executor = lua
            .try_enter(|ctx| {
                let print = Callback::from_fn(&ctx, move |_, _, mut stack| {
                    let mut buf = sink.borrow_mut();
                    for i in 0..stack.len() {
                        if i > 0 {
                            buf.push(b'\t');
                        }
                        // Plain display: no `__tostring`; the scripts print numbers/strings.
                        stack.get(i).display(&mut *buf)?;
                    }
                    buf.push(b'\n');
                    stack.clear();
                    Ok(CallbackReturn::Return)
                });
                ctx.set_global("print", print)?;
                let closure = Closure::load(ctx, Some(name.as_str()), script.source.as_slice())?;
                Ok(ctx.stash(Executor::start(ctx, closure.into(), ())))
            })
            .map_err(|e| first_line(&e.to_string()))?;

        let deadline = Deadline::start(self.timeout);
        loop {
            let mut fuel = Fuel::with(FUEL_PER_GC);
            if lua.enter(|ctx| ctx.fetch(&executor).step(ctx, &mut fuel)) {
                break;
            }
            deadline.check()?;
        }
        let elapsed = deadline.elapsed();

        lua.try_enter(|ctx| ctx.fetch(&executor).take_result::<()>(ctx)?)
            .map_err(|e| first_line(&e.to_string()))?;
        let out = out.borrow();
        Ok((elapsed, checksum_of(&out)))
    }
}
