//! PUC-Rio Lua 5.4, built from source by `mlua` (features `lua54` + `vendored`).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use mlua::{Lua, MultiValue};

use super::{checksum_of, first_line, Vm};
use crate::script::Script;

pub struct Puc;

impl Puc {
    pub fn new() -> Self {
        Puc
    }
}

impl Vm for Puc {
    fn name(&self) -> &'static str {
        "puc"
    }

    fn title(&self) -> &'static str {
        "PUC"
    }

    fn run(&mut self, script: &Script) -> Result<(Duration, String), String> {
        let lua = Lua::new();
        let out = Rc::new(RefCell::new(Vec::<u8>::new()));
        let sink = out.clone();
        let print = lua
            .create_function(move |_, args: MultiValue| {
                let mut buf = sink.borrow_mut();
                for (i, v) in args.iter().enumerate() {
                    if i > 0 {
                        buf.push(b'\t');
                    }
                    buf.extend_from_slice(v.to_string()?.as_bytes());
                }
                buf.push(b'\n');
                Ok(())
            })
            .map_err(|e| first_line(&e.to_string()))?;
        lua.globals()
            .set("print", print)
            .map_err(|e| first_line(&e.to_string()))?;
        let chunk = lua
            .load(script.source.as_slice())
            .set_name(script.chunk_name())
            .into_function()
            .map_err(|e| first_line(&e.to_string()))?;

        let start = Instant::now();
        let result = chunk.call::<()>(());
        let elapsed = start.elapsed();

        result.map_err(|e| first_line(&e.to_string()))?;
        let out = out.borrow();
        Ok((elapsed, checksum_of(&out)))
    }
}
