//! The host-facing VM: owns the arena, runs executors in fuel-bounded steps with garbage
//! collection between steps, and hands out handles that outlive one `enter` call.

use std::rc::Rc;
use std::sync::Arc;

use gc_arena::{Arena, DynamicRoot, Gc, Rootable};
use lunette_compiler::{CompileError, Prototype};

use crate::error::{LuaError, LuaErrorKind};
use crate::executor::{ExecResult, Executor, Fuel};
use crate::function::{ClosureInner, FunctionProto, LuaClosure, UpValueState};
use crate::host::{Host, StdHost};
use crate::number;
use crate::state::{Context, MetaEvent, State};
use crate::value::Value;

/// Fuel per step used by the run-to-completion helpers (GC runs between steps).
pub const DEFAULT_STEP_FUEL: i64 = 20_000;

/// A Lua VM.
pub struct Lua {
    arena: Arena<Rootable![State<'_>]>,
}

/// A handle to an executor that outlives `Lua::enter`.
#[derive(Clone)]
pub struct StashedExecutor(DynamicRoot<Rootable![Executor<'_>]>);

/// A handle to a value that outlives `Lua::enter`.
#[derive(Clone)]
pub struct StashedValue(DynamicRoot<Rootable![Value<'_>]>);

impl Default for Lua {
    fn default() -> Self {
        Self::core()
    }
}

impl Lua {
    /// A VM with no libraries loaded (see `lunette_stdlib` for them).
    pub fn core() -> Lua {
        Self::core_with_host(Rc::new(StdHost::new()))
    }

    /// A VM with no libraries and the given host interface.
    pub fn core_with_host(host: Rc<dyn Host>) -> Lua {
        Lua {
            arena: Arena::new(move |mc| State::new(mc, host)),
        }
    }

    /// Runs `f` with access to the VM.
    pub fn enter<F, R>(&self, f: F) -> R
    where
        F: for<'gc> FnOnce(Context<'gc>) -> R,
    {
        self.arena.mutate(|mc, state| f(Context::new(mc, state)))
    }

    /// Does the garbage collection work that allocation since the last call asked for.
    pub fn gc_step(&mut self) {
        self.arena.collect_debt();
        crate::gc::pace(&self.arena);
    }

    /// Runs a full collection: clears dead entries of weak tables and queues finalizers,
    /// which run at the start of the next executor step (see `gc`).
    pub fn gc_collect(&mut self) {
        crate::gc::full_collection(&mut self.arena);
    }

    /// Number of live garbage-collected objects.
    pub fn gc_object_count(&self) -> usize {
        self.arena.metrics().total_gc_count()
    }

    /// Compiles `source` as a chunk and returns it as a function value handle.
    pub fn load(&mut self, source: &[u8], chunk_name: &str) -> Result<StashedValue, LuaError> {
        self.load_with_env(source, chunk_name, None)
    }

    /// Like `load`, with `env` (e.g. a per-mod environment table) as the chunk's `_ENV`.
    pub fn load_with_env(
        &mut self,
        source: &[u8],
        chunk_name: &str,
        env: Option<&StashedValue>,
    ) -> Result<StashedValue, LuaError> {
        let proto = lunette_compiler::compile(source, chunk_name).map_err(compile_error)?;
        Ok(self.enter(|ctx| {
            let env = env.map(|e| ctx.fetch(e));
            let f = ctx.load_prototype(&proto, env);
            ctx.stash(Value::Function(f))
        }))
    }

    /// Runs `source` to completion and returns its results rendered with `tostring` rules
    /// for plain values.
    pub fn execute(&mut self, source: &[u8], chunk_name: &str) -> Result<Vec<String>, LuaError> {
        let f = self.load(source, chunk_name)?;
        let exec = self.enter(|ctx| {
            let f = ctx.fetch(&f);
            ctx.stash_executor(Executor::start(ctx, f, &[]))
        });
        self.finish(&exec)?;
        Ok(self.enter(|ctx| match ctx.fetch_executor(&exec).result() {
            Some(ExecResult::Returned(vals)) => vals.iter().map(|v| display_plain(*v)).collect(),
            _ => Vec::new(),
        }))
    }

    /// Runs one step of at most `fuel` units. Returns `true` when the executor finished.
    pub fn step(&mut self, exec: &StashedExecutor, fuel: &mut Fuel) -> bool {
        let (done, full) = self.enter(|ctx| {
            let done = ctx.fetch_executor(exec).step(ctx, fuel);
            (done, ctx.state().gc.borrow().full_collection_requested)
        });
        if full {
            self.gc_collect();
        } else {
            self.gc_step();
        }
        done
    }

    /// Steps `exec` until it finishes; `Err` if it ended with an error.
    pub fn finish(&mut self, exec: &StashedExecutor) -> Result<(), LuaError> {
        loop {
            let mut fuel = Fuel::new(DEFAULT_STEP_FUEL);
            if self.step(exec, &mut fuel) {
                break;
            }
        }
        self.enter(|ctx| match ctx.fetch_executor(exec).result() {
            Some(ExecResult::Errored { value, traceback }) => Err(LuaError {
                message: error_message(ctx, value),
                traceback,
                kind: LuaErrorKind::Runtime,
            }),
            _ => Ok(()),
        })
    }
}

fn compile_error(e: CompileError) -> LuaError {
    LuaError {
        message: e.to_string(),
        traceback: String::new(),
        kind: LuaErrorKind::Syntax,
    }
}

/// `tostring` for values that do not need metamethods; objects show their stable id.
pub fn display_plain(v: Value<'_>) -> String {
    match v {
        Value::Nil => "nil".into(),
        Value::Boolean(b) => b.to_string(),
        Value::Integer(i) => i.to_string(),
        Value::Float(f) => number::format_float(f),
        Value::String(s) => s.to_str_lossy().into_owned(),
        other => format!(
            "{}: 0x{:08x}",
            other.type_name(),
            other.object_id().unwrap_or(0)
        ),
    }
}

/// How the `lua` command renders an uncaught error value.
pub fn error_message<'gc>(ctx: Context<'gc>, v: Value<'gc>) -> String {
    match v {
        Value::String(_) | Value::Integer(_) | Value::Float(_) => display_plain(v),
        other => {
            if ctx.metamethod(other, MetaEvent::ToString).is_some() {
                // Rendering would need to run Lua; say what it is instead.
                format!("({} error object with __tostring)", other.type_name())
            } else {
                format!("(error object is a {} value)", other.type_name())
            }
        }
    }
}

impl<'gc> Context<'gc> {
    /// Instantiates a compiled chunk as a closure whose `_ENV` is `env` (default: globals).
    pub fn load_prototype(
        self,
        proto: &Arc<Prototype>,
        env: Option<Value<'gc>>,
    ) -> LuaClosure<'gc> {
        let mc = self.mutation();
        let fp = FunctionProto::load(self, proto);
        let env = env.unwrap_or(Value::Table(self.globals()));
        let upvalues = proto
            .upvalues
            .iter()
            .enumerate()
            .map(|(i, _)| {
                let v = if i == 0 { env } else { Value::Nil };
                gc_arena::lock::Lock::new(Gc::new(
                    mc,
                    gc_arena::lock::Lock::new(UpValueState::Closed(v)),
                ))
            })
            .collect();
        LuaClosure(Gc::new(
            mc,
            ClosureInner {
                id: self.next_object_id(),
                proto: fp,
                upvalues,
            },
        ))
    }

    /// Compiles and instantiates a chunk.
    pub fn load(
        self,
        source: &[u8],
        chunk_name: &str,
        env: Option<Value<'gc>>,
    ) -> Result<LuaClosure<'gc>, CompileError> {
        let proto = lunette_compiler::compile(source, chunk_name)?;
        Ok(self.load_prototype(&proto, env))
    }

    pub fn stash(self, v: Value<'gc>) -> StashedValue {
        StashedValue(
            self.state()
                .roots
                .stash::<Rootable![Value<'_>]>(self.mutation(), Gc::new(self.mutation(), v)),
        )
    }

    pub fn fetch(self, s: &StashedValue) -> Value<'gc> {
        *Gc::as_ref(self.state().roots.fetch(&s.0))
    }

    pub fn stash_executor(self, e: Executor<'gc>) -> StashedExecutor {
        StashedExecutor(
            self.state()
                .roots
                .stash::<Rootable![Executor<'_>]>(self.mutation(), Gc::new(self.mutation(), e)),
        )
    }

    pub fn fetch_executor(self, s: &StashedExecutor) -> Executor<'gc> {
        *Gc::as_ref(self.state().roots.fetch(&s.0))
    }
}
