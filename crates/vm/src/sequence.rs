//! Async sequences: multi-step Rust callbacks written as `async` blocks.
//!
//! A sequence's future never touches the arena directly: it holds only `'static` handles
//! (`StashedValue`) and talks to the executor through a request channel. Awaiting
//! [`SequenceHandle::call`], [`SequenceHandle::yield_values`] or [`SequenceHandle::enter`]
//! parks the future with a request; the executor turns the request into an ordinary
//! `Action` (call, yield) or runs it (enter), stores the reply and polls again. So an async
//! sequence never recurses on the Rust stack either, and needs no `unsafe`.
//!
//! An in-flight sequence lives in a userdata referenced by its continuation frame. Unlike
//! built-in continuations it holds opaque Rust state, so a snapshot taken while one is in
//! flight must refuse (the rollback layer names it by its callback name).

use std::any::Any;
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context as TaskContext, Poll, Waker};

use crate::error::Error;
use crate::executor::Exec;
use crate::function::{Action, Callback, Outcome, Then};
use crate::handle::StashedValue;
use crate::state::Context;
use crate::userdata::UserData;
use crate::value::Value;

/// How a sequence fails: with a Lua value (e.g. an error it caught and rethrows) or a message
/// (positioned like a callback's runtime error).
pub enum SequenceError {
    /// Raise this Lua value as the error.
    Lua(StashedValue),
    /// Raise this message, positioned like [`Error::Runtime`].
    Message(String),
}

impl From<String> for SequenceError {
    fn from(m: String) -> Self {
        SequenceError::Message(m)
    }
}

impl From<&str> for SequenceError {
    fn from(m: &str) -> Self {
        SequenceError::Message(m.to_string())
    }
}

/// What a sequence's future returns: its results (as handles), or how it fails.
pub type SequenceResult = Result<Vec<StashedValue>, SequenceError>;
/// The future an [`async_callback`] factory makes for each call: it talks to the VM only
/// through its [`SequenceHandle`] (no `'gc` values across `.await`).
pub type SequenceFuture = Pin<Box<dyn Future<Output = SequenceResult>>>;
type EnterFn = Box<dyn for<'gc> FnOnce(Context<'gc>, &mut Exec<'gc, '_>) -> Box<dyn Any>>;

enum Request {
    None,
    Call {
        function: StashedValue,
        args: Vec<StashedValue>,
    },
    Yield(Vec<StashedValue>),
    Enter(EnterFn),
}

enum Reply {
    None,
    Values(Result<Vec<StashedValue>, StashedValue>),
    Entered(Box<dyn Any>),
}

struct Channel {
    request: Request,
    reply: Reply,
}

/// The sequence's side of the channel, given to the async block.
#[derive(Clone)]
pub struct SequenceHandle {
    chan: Rc<RefCell<Channel>>,
    args: Rc<Vec<StashedValue>>,
}

/// A future that files one request and completes with its reply.
struct RequestFuture {
    chan: Rc<RefCell<Channel>>,
    request: Option<Request>,
}

impl Future for RequestFuture {
    type Output = Reply;
    fn poll(mut self: Pin<&mut Self>, _cx: &mut TaskContext<'_>) -> Poll<Reply> {
        if let Some(req) = self.request.take() {
            self.chan.borrow_mut().request = req;
            return Poll::Pending;
        }
        let mut chan = self.chan.borrow_mut();
        match std::mem::replace(&mut chan.reply, Reply::None) {
            Reply::None => Poll::Pending,
            reply => Poll::Ready(reply),
        }
    }
}

impl SequenceHandle {
    /// The arguments the sequence was called with.
    pub fn args(&self) -> &[StashedValue] {
        &self.args
    }

    fn request(&self, request: Request) -> RequestFuture {
        RequestFuture {
            chan: self.chan.clone(),
            request: Some(request),
        }
    }

    /// Calls a Lua value; resolves to its results, or to the error value it raised.
    pub async fn call(
        &self,
        function: StashedValue,
        args: Vec<StashedValue>,
    ) -> Result<Vec<StashedValue>, StashedValue> {
        match self.request(Request::Call { function, args }).await {
            Reply::Values(r) => r,
            _ => Ok(Vec::new()),
        }
    }

    /// Yields `values` from the running coroutine; resolves to the values it is resumed with.
    pub async fn yield_values(&self, values: Vec<StashedValue>) -> Vec<StashedValue> {
        match self.request(Request::Yield(values)).await {
            Reply::Values(Ok(v)) => v,
            _ => Vec::new(),
        }
    }

    /// Runs `f` with access to the VM (e.g. to read tables or stash new values).
    pub async fn enter<R, F>(&self, f: F) -> R
    where
        R: 'static,
        F: for<'gc> FnOnce(Context<'gc>, &mut Exec<'gc, '_>) -> R + 'static,
    {
        let boxed: EnterFn = Box::new(move |ctx, exec| Box::new(f(ctx, exec)) as Box<dyn Any>);
        match self.request(Request::Enter(boxed)).await {
            Reply::Entered(r) => *r
                .downcast::<R>()
                .expect("enter reply has the requested type"),
            _ => unreachable!("enter is always answered with Entered"),
        }
    }
}

/// The in-flight state stored in a userdata.
struct SequenceState {
    name: &'static str,
    chan: Rc<RefCell<Channel>>,
    future: RefCell<SequenceFuture>,
    /// Registered as in flight (for `Lua::snap`) until it finishes or is dropped.
    flight: InFlight,
}

/// An entry in the registry's in-flight set, removed when the sequence finishes or is dropped.
struct InFlight {
    registry: Rc<SequenceRegistry>,
    serial: u64,
    done: std::cell::Cell<bool>,
}

impl InFlight {
    fn finish(&self) {
        if !self.done.replace(true) {
            self.registry.in_flight.borrow_mut().remove(&self.serial);
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.finish();
    }
}

/// What an async callback is made from: a function from the handle to the future.
type Factory = Rc<dyn Fn(SequenceHandle) -> SequenceFuture>;

/// The factories of a VM's async callbacks, by callback name. Kept outside the arena (Rust
/// closures are not VM data) and carried over snapshot restores: an async callback in a
/// snapshot is its name, reattached to the factory registered under that name. To restore a
/// snapshot into another VM, create the same async callbacks there first.
#[derive(Default)]
pub(crate) struct SequenceRegistry {
    factories: RefCell<hashbrown::HashMap<&'static str, Factory>>,
    /// Sequences started and not finished, by start order: their futures are opaque Rust
    /// state, so `Lua::snap` refuses while any is in flight.
    in_flight: RefCell<std::collections::BTreeMap<u64, &'static str>>,
    next_serial: std::cell::Cell<u64>,
    /// Set when a sequence paused the step to wait for a future outside the VM (reset at
    /// the start of every `Lua::step`): the step's status is `Waiting`.
    waiting: std::cell::Cell<bool>,
}

impl SequenceRegistry {
    pub(crate) fn set_waiting(&self, waiting: bool) {
        self.waiting.set(waiting);
    }

    pub(crate) fn waiting(&self) -> bool {
        self.waiting.get()
    }

    /// The name of the oldest sequence in flight, if any.
    pub(crate) fn in_flight(&self) -> Option<&'static str> {
        self.in_flight.borrow().values().next().copied()
    }

    /// Forgets every sequence in flight (their heap was replaced by a restore; serials are
    /// never reused, so a forgotten entry's later `finish` removes nothing).
    pub(crate) fn forget_in_flight(&self) {
        self.in_flight.borrow_mut().clear();
    }
}

/// Makes a callback whose body is an async block. The factory is registered in the VM under
/// `name`, which is how the callback survives snapshots (a restore reattaches it by name; to
/// restore into another VM, register the same names there first). Names must be unique per
/// VM: registering a name again replaces the factory of every callback with that name.
///
/// ```ignore
/// let cb = async_callback(ctx, "twice", |seq| Box::pin(async move {
///     let f = seq.args()[0].clone();
///     seq.call(f.clone(), vec![]).await.map_err(SequenceError::Lua)?;
///     seq.call(f, vec![]).await.map_err(SequenceError::Lua)
/// }));
/// ```
pub fn async_callback<'gc, F>(ctx: Context<'gc>, name: &'static str, f: F) -> Callback<'gc>
where
    F: Fn(SequenceHandle) -> SequenceFuture + 'static,
{
    ctx.state()
        .sequences
        .factories
        .borrow_mut()
        .insert(name, Rc::new(f));
    ctx.register_permanents(|p| p.name(name));
    Callback::with_upvalue(ctx, name, start_sequence, ctx.str(name))
}

fn start_sequence<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
) -> Result<Action<'gc>, Error<'gc>> {
    let Value::String(key) = exec.upvalue else {
        return Err(Error::runtime("async callback without its factory"));
    };
    let (name, factory) = {
        let factories = ctx.state().sequences.factories.borrow();
        let found = std::str::from_utf8(key.as_bytes())
            .ok()
            .and_then(|k| factories.get_key_value(k));
        match found {
            Some((name, factory)) => (*name, factory.clone()),
            None => {
                return Err(Error::runtime(format!(
                    "async callback '{}' is not registered in this VM",
                    key.to_str_lossy()
                )))
            }
        }
    };
    let args: Vec<StashedValue> = exec.values().iter().map(|v| ctx.stash(*v)).collect();
    let chan = Rc::new(RefCell::new(Channel {
        request: Request::None,
        reply: Reply::None,
    }));
    let handle = SequenceHandle {
        chan: chan.clone(),
        args: Rc::new(args),
    };
    let future = factory(handle);
    let registry = ctx.state().sequences.clone();
    let serial = registry.next_serial.get();
    registry.next_serial.set(serial + 1);
    registry.in_flight.borrow_mut().insert(serial, name);
    let state = UserData::new_unsnapshotable(
        ctx,
        SequenceState {
            name,
            chan,
            future: RefCell::new(future),
            flight: InFlight {
                registry,
                serial,
                done: std::cell::Cell::new(false),
            },
        },
        format!("async sequence '{name}' is in flight (its Rust future cannot be copied)"),
    );
    drive(ctx, exec, state)
}

/// A handle's value, as a Lua error if the handle went stale (it belongs to another VM).
fn fetch<'gc>(ctx: Context<'gc>, v: &StashedValue) -> Result<Value<'gc>, Error<'gc>> {
    ctx.fetch(v).map_err(|e| Error::runtime(e.to_string()))
}

fn resume_sequence<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    outcome: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    let Value::UserData(state) = exec.upvalue else {
        return Err(Error::runtime("async sequence lost its state"));
    };
    let seq = state
        .downcast::<SequenceState>()
        .ok_or_else(|| Error::runtime("async sequence lost its state"))?;
    let reply = match outcome {
        Outcome::Returned => {
            Reply::Values(Ok(exec.values().iter().map(|v| ctx.stash(*v)).collect()))
        }
        Outcome::Errored(e) => Reply::Values(Err(ctx.stash(e))),
    };
    seq.chan.borrow_mut().reply = reply;
    drive(ctx, exec, state)
}

/// Polls a sequence again that was waiting for a future outside the VM.
fn repoll_sequence<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    _: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    let Value::UserData(state) = exec.upvalue else {
        return Err(Error::runtime("async sequence lost its state"));
    };
    exec.clear();
    drive(ctx, exec, state)
}

/// Polls the sequence until it finishes or needs the executor.
fn drive<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    state: UserData<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    let seq = state
        .downcast::<SequenceState>()
        .ok_or_else(|| Error::runtime("async sequence lost its state"))?;
    let mut task_cx = TaskContext::from_waker(Waker::noop());
    loop {
        exec.charge(1);
        let poll = seq.future.borrow_mut().as_mut().poll(&mut task_cx);
        match poll {
            Poll::Ready(Ok(values)) => {
                seq.flight.finish();
                exec.clear();
                for v in &values {
                    exec.push(fetch(ctx, v)?);
                }
                return Ok(Action::Return);
            }
            Poll::Ready(Err(SequenceError::Lua(v))) => {
                seq.flight.finish();
                return Err(Error::Value(fetch(ctx, &v)?));
            }
            Poll::Ready(Err(SequenceError::Message(m))) => {
                seq.flight.finish();
                return Err(Error::Runtime(m));
            }
            Poll::Pending => {
                let request = std::mem::replace(&mut seq.chan.borrow_mut().request, Request::None);
                match request {
                    Request::Enter(f) => {
                        let r = f(ctx, exec);
                        seq.chan.borrow_mut().reply = Reply::Entered(r);
                    }
                    Request::Call { function, args } => {
                        exec.clear();
                        for a in &args {
                            exec.push(fetch(ctx, a)?);
                        }
                        return Ok(Action::Call {
                            function: fetch(ctx, &function)?,
                            then: Some(
                                Then::new(seq.name, resume_sequence, Value::UserData(state))
                                    .catching(),
                            ),
                        });
                    }
                    Request::Yield(values) => {
                        exec.clear();
                        for v in &values {
                            exec.push(fetch(ctx, v)?);
                        }
                        return Ok(Action::Yield {
                            then: Some(Then::new(
                                seq.name,
                                resume_sequence,
                                Value::UserData(state),
                            )),
                        });
                    }
                    Request::None => {
                        // Waiting for a future outside the VM: end the step, poll again
                        // at the next one.
                        ctx.state().sequences.set_waiting(true);
                        exec.clear();
                        return Ok(Action::Pause {
                            then: Then::new(seq.name, repoll_sequence, Value::UserData(state)),
                        });
                    }
                }
            }
        }
    }
}

/// Async sequences in the permanents table (see `permanents`): the callback that starts
/// one (its name is registered by `async_callback`); sequences in flight cannot be captured.
pub(crate) fn permanents(p: &mut crate::permanents::Permanents) {
    p.callback(("vm", "async_sequence"), "async", start_sequence);
    p.continuation(("vm", "resume_sequence"), "async", resume_sequence);
    p.continuation(("vm", "repoll_sequence"), "async", repoll_sequence);
}
