//! The table library (§6.6): concat, insert, move, pack, remove, sort, unpack.
//!
//! Like PUC 5.4, element access respects `__index`/`__newindex` and lengths respect `__len`.
//! Tables without a metatable take direct fast paths. Everything else runs on a small
//! resumable machine: each step asks for one primitive (length, get, set, comparison); the
//! driver performs it directly when no Lua function is involved, or answers with an
//! `Action::Call` whose continuation resumes the machine in place: the machine is a typed
//! Rust struct kept in a resumable builtin state (`lunette_vm::ResumableState`), which the VM
//! journals, snapshots and writes as bytes. No Rust recursion, so comparators and
//! metamethods may yield and a paused sort snapshots like any other VM state.
//!
//! `table.sort` follows PUC's quicksort step for step (same pivots, same comparisons, same
//! "invalid order function for sorting" checks), so comparators with side effects observe
//! the same calls. Where PUC randomizes the pivot (after very unbalanced partitions of more
//! than 100 elements, seeded from the clock) lunette uses a deterministic value instead.
//! `table.move` compares source and destination tables by identity (PUC's `lua_compare`
//! could call `__eq`).

use gc_arena::Collect;
use lunette_vm::interp::{index, new_index, Index};
use lunette_vm::{
    display_plain, Action, CallbackFn, Context, Error, Exec, MetaEvent, Outcome, Resumable,
    ResumableState, StateReader, StateWriter, Table, Then, Value,
};

use crate::base::set;
use crate::util::{less_step, without_position, Less};

/// This library's callbacks and continuations beyond its table's functions, in the VM's
/// permanents table (see `lunette_vm::Permanents`).
fn permanents(p: &mut lunette_vm::Permanents) {
    p.resumable(Sort::KEY, read_sort);
    p.resumable(Machine::KEY, read_machine);
    p.continuation(("table", "concat_next"), "table.concat", concat_next);
    p.continuation(("table", "unpack_resume"), "table.unpack", unpack_resume);
    for name in [
        "table.insert",
        "table.remove",
        "table.move",
        "table.concat",
        "table.unpack",
        "table.sort",
    ] {
        p.name(name);
    }
}

/// Opens the `table` library; `sort`, `concat` and `unpack` work in charged pieces
/// and pause at step boundaries (their state is Lua values).
pub fn open(ctx: Context<'_>) {
    ctx.register_permanents(permanents);
    let lib = ctx.new_table();
    let fns: &[(&str, &'static str, CallbackFn)] = &[
        ("concat", "table.concat", concat),
        ("insert", "table.insert", insert),
        ("move", "table.move", move_),
        ("pack", "table.pack", pack),
        ("remove", "table.remove", remove),
        ("sort", "table.sort", sort),
        ("unpack", "table.unpack", unpack),
    ];
    crate::util::add_functions(ctx, lib, fns);
    crate::util::publish(ctx, "table", lib);
}

/// Most values `table.unpack` returns (PUC: what `lua_checkstack` allows under LUAI_MAXSTACK).
const MAX_UNPACK: u64 = 999_000;

const TAB_R: u8 = 1;
const TAB_W: u8 = 2;
const TAB_L: u8 = 4;

/// PUC's `checktab`: a table, or a value whose metatable has the needed metamethods.
fn check_tab<'gc>(
    ctx: Context<'gc>,
    v: Option<Value<'gc>>,
    arg: usize,
    what: u8,
) -> Result<(), Error<'gc>> {
    if let Some(Value::Table(_)) = v {
        return Ok(());
    }
    if let Some(mt) = v.and_then(|v| ctx.metatable_of(v)) {
        let has = |e: MetaEvent| !mt.get(Value::String(ctx.meta_name(e))).is_nil();
        if (what & TAB_R == 0 || has(MetaEvent::Index))
            && (what & TAB_W == 0 || has(MetaEvent::NewIndex))
            && (what & TAB_L == 0 || has(MetaEvent::Len))
        {
            return Ok(());
        }
    }
    Err(Error::type_error(arg, "table", v))
}

/// A table without a metatable: raw access is exactly what PUC does.
fn plain<'gc>(v: Value<'gc>) -> Option<Table<'gc>> {
    match v {
        // Frozen tables take the general path, whose stores report the read-only error.
        Value::Table(t) if t.metatable().is_none() && !t.is_frozen() => Some(t),
        _ => None,
    }
}

/// `luaL_checkinteger` on a saved argument value.
fn int_arg<'gc>(v: Option<Value<'gc>>, arg: usize) -> Result<i64, Error<'gc>> {
    match v {
        Some(Value::Integer(n)) => Ok(n),
        Some(v @ (Value::Float(_) | Value::String(_))) => match v.to_integer() {
            Some(n) => Ok(n),
            None if v.to_number().is_some() => Err(Error::bad_argument(
                arg,
                "number has no integer representation",
            )),
            None => Err(Error::type_error(arg, "number", Some(v))),
        },
        other => Err(Error::type_error(arg, "number", other)),
    }
}

/// `luaL_optinteger` on a saved argument value.
fn opt_int_arg<'gc>(v: Option<Value<'gc>>, arg: usize, default: i64) -> Result<i64, Error<'gc>> {
    match v {
        None | Some(Value::Nil) => Ok(default),
        _ => int_arg(v, arg),
    }
}

fn raw_set<'gc>(ctx: Context<'gc>, t: Table<'gc>, i: i64, v: Value<'gc>) {
    // Integer keys are always valid (a frozen table's refusal is checked by the callers).
    let _ = t.set_int(ctx, i, v);
}

fn is_stringlike(v: Value<'_>) -> bool {
    matches!(v, Value::String(_) | Value::Integer(_) | Value::Float(_))
}

// ---------------------------------------------------------------------------------------
// The resumable machines.
//
// An operation that may call Lua (metamethods, a comparator) runs as a machine ([`Steps`]):
// each step asks for one primitive ([`Prim`]: length, get, set, comparison). [`drive`]
// performs it directly when no Lua function is involved, or places the call's arguments and
// suspends; the machine then lives in a [`Run`], a typed resumable state (a VM object the
// waiting continuation refers to, journaled by the VM: see `lunette_vm::ResumableState`),
// and [`Run::resume`] feeds the call's result to the next step, in place.

/// What a machine step asks the driver to do. The result of the primitive is the `input`
/// of the next step: the length (an integer), the value read, nil after a store, or a
/// boolean after a comparison.
enum Prim<'gc> {
    /// `luaL_len(v)`.
    Len(Value<'gc>),
    /// `v[i]` with `__index`.
    Get(Value<'gc>, i64),
    /// `v[i] = x` with `__newindex`.
    Set(Value<'gc>, i64, Value<'gc>),
    /// `cmp(a, b)`, or `a < b` (with `__lt`) when `cmp` is nil.
    Less(Value<'gc>, Value<'gc>, Value<'gc>),
    /// Finished; the results are in the exec region.
    Done,
}

/// A resumable table operation, one step at a time.
trait Steps<'gc>: Collect<'gc> + Clone + 'gc {
    /// The key of its state's reader (`Permanents::resumable`).
    const KEY: lunette_vm::PermanentKey;
    /// What tracebacks show for its continuation.
    fn name(&self) -> &'static str;
    /// One step: consumes the previous primitive's result, asks for the next primitive.
    fn step(
        &mut self,
        ctx: Context<'gc>,
        exec: &mut Exec<'gc, '_>,
        input: Value<'gc>,
    ) -> Result<Prim<'gc>, Error<'gc>>;
    /// Writes every field (see `ResumableState::write`).
    fn write(&self, w: &mut StateWriter<'gc, '_>);
    /// Reads the fields back, checking every invariant `step` relies on.
    fn read(r: &mut StateReader<'gc, '_>) -> Option<Self>;
    /// Bytes in its buffers (see `ResumableState::size_bytes`).
    fn size_bytes(&self) -> usize;
}

/// The primitive whose result a suspended machine waits for.
#[derive(Copy, Clone, PartialEq, Eq, Collect)]
#[collect(require_static)]
enum Pending {
    /// A `__len` call: its result must be an integer.
    Len,
    /// An `__index` call: its result is the value read.
    Get,
    /// A `__newindex` call: no result.
    Set,
    /// A comparison: its result's truth.
    Less,
    /// A pause (a call to a no-op callback) so the executor can check fuel during long runs
    /// of steps that need no Lua calls; the next step's input is `Run::input`.
    Pause,
}

impl Pending {
    const ALL: [Pending; 5] = [
        Pending::Len,
        Pending::Get,
        Pending::Set,
        Pending::Less,
        Pending::Pause,
    ];
}

/// A suspended machine: the typed state of a table operation's continuation.
#[derive(Collect, Clone)]
#[collect(no_drop)]
struct Run<'gc, M: Steps<'gc>> {
    m: M,
    pending: Pending,
    /// The next step's input after a pause.
    input: Value<'gc>,
}

impl<'gc, M: Steps<'gc>> ResumableState<'gc> for Run<'gc, M> {
    fn key(&self) -> lunette_vm::PermanentKey {
        M::KEY
    }

    fn write(&self, w: &mut StateWriter<'gc, '_>) {
        let Run { m, pending, input } = self;
        w.int(*pending as i64);
        w.value(*input);
        m.write(w);
    }

    fn copy(&self) -> Box<dyn ResumableState<'gc> + 'gc> {
        Box::new(self.clone())
    }

    fn size_bytes(&self) -> usize {
        self.m.size_bytes()
    }

    fn resume(
        &mut self,
        ctx: Context<'gc>,
        exec: &mut Exec<'gc, '_>,
        this: Resumable<'gc>,
        _outcome: Outcome<'gc>,
    ) -> Result<Action<'gc>, Error<'gc>> {
        let r = exec.arg(0);
        let input = match self.pending {
            Pending::Len => match r.to_integer() {
                Some(n) => Value::Integer(n),
                None => return Err(Error::runtime("object length is not an integer")),
            },
            Pending::Get => r,
            Pending::Set => Value::Nil,
            Pending::Less => Value::Boolean(r.is_truthy()),
            Pending::Pause => self.input,
        };
        self.input = Value::Nil;
        match drive(ctx, exec, self, input)? {
            Driven::Done => Ok(Action::Return),
            Driven::Call => Ok(Action::CallAgain),
            Driven::Pause => {
                crate::util::continue_later_then(ctx, exec, Then::resumable(self.m.name(), this))
            }
        }
    }
}

/// Reads a [`Run`] back.
fn read_run<'gc, M: Steps<'gc>>(
    r: &mut StateReader<'gc, '_>,
) -> Option<Box<dyn ResumableState<'gc> + 'gc>> {
    let pending = *Pending::ALL.get(usize::try_from(r.int()?).ok()?)?;
    let input = r.value()?;
    let m = M::read(r)?;
    Some(Box::new(Run { m, pending, input }))
}

/// The reader registered under `Sort::KEY`.
fn read_sort<'gc>(r: &mut StateReader<'gc, '_>) -> Option<Box<dyn ResumableState<'gc> + 'gc>> {
    read_run::<Sort<'gc>>(r)
}

/// The reader registered under `Machine::KEY`.
fn read_machine<'gc>(r: &mut StateReader<'gc, '_>) -> Option<Box<dyn ResumableState<'gc> + 'gc>> {
    read_run::<Machine<'gc>>(r)
}

/// How [`drive`] left the machine.
enum Driven {
    /// Finished: the results are in the exec region.
    Done,
    /// Waits for a call: the exec region holds the function, then its arguments. (Not
    /// carried here: a `Value` inside the returned enum was written in pieces and read whole
    /// by the caller, a store-forwarding stall that took 6% of a sort with a comparator.)
    Call,
    /// Waits at a step boundary.
    Pause,
}

/// Steps performed without returning to the executor before pausing.
const STEPS_PER_SLICE: u32 = 4096;
/// Units of fuel charged in one slice before pausing (see `drive`).
const UNITS_PER_SLICE: u32 = 8192;

/// Runs the machine until it finishes or must wait (for a Lua call, or at a step boundary).
fn drive<'gc, M: Steps<'gc>>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    run: &mut Run<'gc, M>,
    mut input: Value<'gc>,
) -> Result<Driven, Error<'gc>> {
    let mut steps = 0u32;
    let fuel_at_start = exec.fuel_left();
    loop {
        exec.charge(1);
        steps += 1;
        // A slice ends after a number of steps or of units charged (steps can cost many:
        // comparisons of long strings), both functions of the work alone, so where the
        // machine pauses never depends on the step budget.
        if steps > STEPS_PER_SLICE || fuel_at_start - exec.fuel_left() > UNITS_PER_SLICE as i64 {
            run.pending = Pending::Pause;
            run.input = input;
            return Ok(Driven::Pause);
        }
        // Waits for a call of `$function` with `$args` (`Driven::Call`), for `$pending`'s
        // result. (Each arm writes the region itself: values gathered in an array first
        // were stored in pieces and read whole, a store-forwarding stall.)
        macro_rules! call {
            ($pending:expr, $function:expr, [$($arg:expr),*]) => {{
                // Collected values grow between calls: a memory-limit safe point.
                crate::util::memory_safe_point(ctx)?;
                run.pending = $pending;
                exec.set_call($function, [$($arg),*]);
                return Ok(Driven::Call);
            }};
        }
        match run.m.step(ctx, exec, input)? {
            Prim::Done => return Ok(Driven::Done),
            Prim::Len(v) => match v {
                Value::Table(t) => match t
                    .metatable()
                    .and_then(|mt| ctx.metatable_field(mt, MetaEvent::Len))
                {
                    None => {
                        input = Value::Integer(t.length());
                        continue;
                    }
                    Some(mm) => call!(Pending::Len, mm, [v, v]),
                },
                Value::String(s) => {
                    input = Value::Integer(s.len() as i64);
                    continue;
                }
                other => match ctx.metamethod(other, MetaEvent::Len) {
                    Some(mm) => call!(Pending::Len, mm, [v, v]),
                    None => {
                        return Err(Error::Value(ctx.str(&format!(
                            "attempt to get length of a {} value",
                            ctx.object_type_name(other)
                        ))))
                    }
                },
            },
            Prim::Get(obj, i) => {
                // A table without a metatable, or a present value: a raw read by
                // integer. `index` does the same read, but going through it (its
                // generic key path and `Result`) cost sort_comparator a fifth of its
                // wall time: 0.33 s against 0.27 s, measured with an integer read in
                // `index` too.
                if let Value::Table(t) = obj {
                    let v = t.get_int(i);
                    if !v.is_nil() || t.metatable().is_none() {
                        input = v;
                        continue;
                    }
                }
                match index(ctx, obj, Value::Integer(i), &lunette_vm::Message::new)
                    .map_err(|e| without_position(ctx, e))?
                {
                    Index::Value(v) => {
                        input = v;
                        continue;
                    }
                    Index::Meta(mm, o, k) => call!(Pending::Get, mm, [o, k]),
                }
            }
            Prim::Set(obj, i, v) => {
                let key = Value::Integer(i);
                // A table without a metatable: a raw store (`new_index` does the same;
                // a frozen table's refusal is its message, so it goes that way).
                if let Value::Table(t) = obj {
                    if t.metatable().is_none() && t.set_int(ctx, i, v).is_ok() {
                        input = Value::Nil;
                        continue;
                    }
                }
                match new_index(ctx, obj, key, v, &lunette_vm::Message::new)
                    .map_err(|e| without_position(ctx, e))?
                {
                    None => {
                        input = Value::Nil;
                        continue;
                    }
                    Some((mm, target)) => call!(Pending::Set, mm, [target, key, v]),
                }
            }
            Prim::Less(cmp, a, b) => {
                if cmp.is_nil() {
                    match less_step(ctx, exec, a, b)? {
                        Less::Done(r) => {
                            input = Value::Boolean(r);
                            continue;
                        }
                        Less::Call(mm) => call!(Pending::Less, mm, [a, b]),
                    }
                } else {
                    call!(Pending::Less, cmp, [a, b])
                }
            }
        }
    }
}

/// Runs machine `m` from its first step (a library function's body).
fn start<'gc, M: Steps<'gc>>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    m: M,
) -> Result<Action<'gc>, Error<'gc>> {
    let mut run = Run {
        m,
        pending: Pending::Pause,
        input: Value::Nil,
    };
    let next = drive(ctx, exec, &mut run, Value::Nil)?;
    if let Driven::Done = next {
        return Ok(Action::Return);
    }
    let name = run.m.name();
    let then = Then::resumable(name, Resumable::new(ctx, Box::new(run)));
    match next {
        Driven::Call => {
            // The first call: the function leaves the region for `Action::Call`.
            let function = exec.remove(0);
            Ok(Action::Call {
                function,
                then: Some(then),
            })
        }
        _ => crate::util::continue_later_then(ctx, exec, then),
    }
}

// ---------------------------------------------------------------------------------------
// insert, remove, move, concat and unpack over proxies.

#[derive(Copy, Clone, PartialEq, Eq, Debug, Collect)]
#[collect(require_static)]
enum Op {
    Insert,
    Remove,
    Move,
    Concat,
    Unpack,
}

impl Op {
    const ALL: [Op; 5] = [Op::Insert, Op::Remove, Op::Move, Op::Concat, Op::Unpack];

    fn name(self) -> &'static str {
        match self {
            Op::Insert => "table.insert",
            Op::Remove => "table.remove",
            Op::Move => "table.move",
            Op::Concat => "table.concat",
            Op::Unpack => "table.unpack",
        }
    }
}

const NREGS: usize = 5;

/// The machine of `insert`, `remove`, `move`, `concat` and `unpack` when a metamethod may
/// run: small programs over a few registers (each step function says what they hold).
/// All but `move` begin at `pc` 0 by asking for the length (`ask_len`), which arrives at `pc` 1.
#[derive(Collect, Clone)]
#[collect(no_drop)]
struct Machine<'gc> {
    op: Op,
    pc: u8,
    /// The table argument.
    t: Value<'gc>,
    /// insert: the new value; move: the destination; concat: separator.
    aux: Value<'gc>,
    /// Value registers (saved arguments).
    v: [Value<'gc>; 3],
    /// Integer registers.
    r: [i64; NREGS],
    /// unpack/concat: the values collected so far.
    out: Vec<Value<'gc>>,
}

impl<'gc> Machine<'gc> {
    fn new(op: Op, t: Value<'gc>) -> Self {
        Machine {
            op,
            pc: 0,
            t,
            aux: Value::Nil,
            v: [Value::Nil; 3],
            r: [0; NREGS],
            out: Vec::new(),
        }
    }
}

impl<'gc> Steps<'gc> for Machine<'gc> {
    const KEY: lunette_vm::PermanentKey = ("table", "machine");

    fn name(&self) -> &'static str {
        self.op.name()
    }

    fn step(
        &mut self,
        ctx: Context<'gc>,
        exec: &mut Exec<'gc, '_>,
        input: Value<'gc>,
    ) -> Result<Prim<'gc>, Error<'gc>> {
        match self.op {
            Op::Insert => self.step_insert(exec, input),
            Op::Remove => self.step_remove(exec, input),
            Op::Move => self.step_move(exec, input),
            Op::Concat => self.step_concat(ctx, exec, input),
            Op::Unpack => self.step_unpack(ctx, exec, input),
        }
    }

    fn write(&self, w: &mut StateWriter<'gc, '_>) {
        let Machine {
            op,
            pc,
            t,
            aux,
            v,
            r,
            out,
        } = self;
        w.int(*op as i64);
        w.int(*pc as i64);
        w.value(*t);
        w.value(*aux);
        for x in v {
            w.value(*x);
        }
        for x in r {
            w.int(*x);
        }
        w.count(out.len());
        for x in out {
            w.value(*x);
        }
    }

    fn read(rd: &mut StateReader<'gc, '_>) -> Option<Self> {
        let op = *Op::ALL.get(usize::try_from(rd.int()?).ok()?)?;
        let pc = u8::try_from(rd.int()?).ok().filter(|pc| *pc <= 5)?;
        let mut m = Machine::new(op, rd.value()?);
        m.pc = pc;
        m.aux = rd.value()?;
        for x in m.v.iter_mut() {
            *x = rd.value()?;
        }
        for x in m.r.iter_mut() {
            *x = rd.int()?;
        }
        let n = rd.count(1)?;
        for _ in 0..n {
            m.out.push(rd.value()?);
        }
        // Where a step adds to or subtracts from an index register, the register is within
        // bounds the library functions established: check them (images may be crafted).
        let [a, b, c, d, _] = m.r;
        let ok = match op {
            // (insert and remove only step an index towards a bound it has not reached)
            Op::Insert | Op::Remove => true,
            Op::Move => {
                c >= 1
                    && (0..=c).contains(&d)
                    && a.checked_add(c - 1).is_some()
                    && b.checked_add(c - 1).is_some()
            }
            Op::Concat => pc < 2 || a <= b,
            Op::Unpack => pc < 3 || a <= b,
        };
        ok.then_some(m)
    }

    fn size_bytes(&self) -> usize {
        self.out.len() * std::mem::size_of::<Value<'static>>()
    }
}

impl<'gc> Machine<'gc> {
    /// The first step of all but `move`: asks for the length, which arrives at `pc` 1.
    fn ask_len(&mut self) -> Prim<'gc> {
        self.pc = 1;
        Prim::Len(self.t)
    }

    // insert: v0 = position argument, aux = value, r0 = argument count, r1 = e, r2 = pos,
    // r3 = i.
    fn step_insert(
        &mut self,
        exec: &mut Exec<'gc, '_>,
        input: Value<'gc>,
    ) -> Result<Prim<'gc>, Error<'gc>> {
        loop {
            match self.pc {
                0 => return Ok(self.ask_len()),
                1 => {
                    let e = input.as_integer_strict().unwrap_or(0).wrapping_add(1);
                    let pos = match self.r[0] {
                        2 => e,
                        3 => {
                            let pos = int_arg(Some(self.v[0]), 2)?;
                            if (pos as u64).wrapping_sub(1) >= e as u64 {
                                return Err(Error::bad_argument(2, "position out of bounds"));
                            }
                            pos
                        }
                        _ => return Err(Error::runtime("wrong number of arguments to 'insert'")),
                    };
                    self.r[1] = e;
                    self.r[2] = pos;
                    self.r[3] = e;
                    self.pc = 2;
                }
                2 => {
                    let i = self.r[3];
                    if i > self.r[2] {
                        self.pc = 3;
                        return Ok(Prim::Get(self.t, i - 1));
                    }
                    self.pc = 4;
                    return Ok(Prim::Set(self.t, self.r[2], self.aux));
                }
                3 => {
                    let i = self.r[3];
                    self.r[3] = i - 1;
                    self.pc = 2;
                    return Ok(Prim::Set(self.t, i, input));
                }
                _ => {
                    exec.clear();
                    return Ok(Prim::Done);
                }
            }
        }
    }

    // remove: v0 = position argument, v1 = result, r1 = size, r2 = pos.
    fn step_remove(
        &mut self,
        exec: &mut Exec<'gc, '_>,
        input: Value<'gc>,
    ) -> Result<Prim<'gc>, Error<'gc>> {
        match self.pc {
            0 => Ok(self.ask_len()),
            1 => {
                let size = input.as_integer_strict().unwrap_or(0);
                let pos = opt_int_arg(Some(self.v[0]), 2, size)?;
                if pos != size && (pos as u64).wrapping_sub(1) > size as u64 {
                    return Err(Error::bad_argument(2, "position out of bounds"));
                }
                self.r[1] = size;
                self.r[2] = pos;
                self.pc = 2;
                Ok(Prim::Get(self.t, pos))
            }
            2 | 4 => {
                if self.pc == 2 {
                    self.v[1] = input;
                }
                let pos = self.r[2];
                if pos < self.r[1] {
                    self.pc = 3;
                    Ok(Prim::Get(self.t, pos + 1))
                } else {
                    self.pc = 5;
                    Ok(Prim::Set(self.t, pos, Value::Nil))
                }
            }
            3 => {
                let pos = self.r[2];
                self.r[2] = pos + 1;
                self.pc = 4;
                Ok(Prim::Set(self.t, pos, input))
            }
            _ => {
                exec.set_return(self.v[1]);
                Ok(Prim::Done)
            }
        }
    }

    // move: aux = destination, r0 = f, r1 = t, r2 = n, r3 = i (count done), r4 = backwards.
    fn step_move(
        &mut self,
        exec: &mut Exec<'gc, '_>,
        input: Value<'gc>,
    ) -> Result<Prim<'gc>, Error<'gc>> {
        let (f, t, n) = (self.r[0], self.r[1], self.r[2]);
        let k = |i: i64, back: bool| if back { n - 1 - i } else { i };
        match self.pc {
            0 => {
                let i = self.r[3];
                if i >= n {
                    exec.set_return(self.aux);
                    return Ok(Prim::Done);
                }
                self.pc = 1;
                Ok(Prim::Get(self.t, f + k(i, self.r[4] != 0)))
            }
            _ => {
                let i = self.r[3];
                self.r[3] = i + 1;
                self.pc = 0;
                Ok(Prim::Set(self.aux, t + k(i, self.r[4] != 0), input))
            }
        }
    }

    // concat: v0..v2 = arguments 2..4, aux = separator, r0 = i, r1 = last.
    fn step_concat(
        &mut self,
        ctx: Context<'gc>,
        exec: &mut Exec<'gc, '_>,
        input: Value<'gc>,
    ) -> Result<Prim<'gc>, Error<'gc>> {
        match self.pc {
            0 => Ok(self.ask_len()),
            1 => {
                let last = input.as_integer_strict().unwrap_or(0);
                self.aux = match self.v[0] {
                    Value::Nil => ctx.str(""),
                    v @ Value::String(_) => v,
                    v @ (Value::Integer(_) | Value::Float(_)) => ctx.str(&display_plain(v)),
                    other => return Err(Error::type_error(2, "string", Some(other))),
                };
                self.r[0] = opt_int_arg(Some(self.v[1]), 3, 1)?;
                self.r[1] = opt_int_arg(Some(self.v[2]), 4, last)?;
                self.pc = 2;
                if self.r[0] <= self.r[1] {
                    return Ok(Prim::Get(self.t, self.r[0]));
                }
                self.finish_concat(ctx, exec)
            }
            _ => {
                check_concat_value(ctx, input, self.r[0])?;
                self.out.push(input);
                exec.charge(1);
                if self.r[0] == self.r[1] {
                    // The last element was just added.
                    self.r[0] = self.r[1].wrapping_add(1);
                    return self.finish_concat(ctx, exec);
                }
                // (Below the last index: the next one is an element.)
                self.r[0] += 1;
                Ok(Prim::Get(self.t, self.r[0]))
            }
        }
    }

    fn finish_concat(
        &mut self,
        ctx: Context<'gc>,
        exec: &mut Exec<'gc, '_>,
    ) -> Result<Prim<'gc>, Error<'gc>> {
        let sep = self.aux.as_string().map(|s| s.as_bytes()).unwrap_or(b"");
        ctx.reserve_memory(self.out.len() * 16)?;
        let parts = std::mem::take(&mut self.out);
        // The result's size first (numbers at most 44 bytes), reserved before building it.
        let mut total = sep.len().saturating_mul(parts.len().saturating_sub(1));
        for v in &parts {
            total = total.saturating_add(v.as_string().map_or(44, |s| s.len()));
        }
        if total > crate::string::MAX_SIZE {
            return Err(Error::runtime("resulting string too large"));
        }
        ctx.reserve_memory(total)?;
        let mut out = Vec::with_capacity(total);
        for (k, v) in parts.iter().enumerate() {
            if k > 0 {
                out.extend_from_slice(sep);
            }
            push_concat_value(&mut out, *v);
        }
        exec.charge(out.len() / 32);
        exec.set_return(Value::String(ctx.new_string(&out)));
        Ok(Prim::Done)
    }

    // unpack: r0 = i, r1 = e.
    fn step_unpack(
        &mut self,
        ctx: Context<'gc>,
        exec: &mut Exec<'gc, '_>,
        input: Value<'gc>,
    ) -> Result<Prim<'gc>, Error<'gc>> {
        match self.pc {
            0 => Ok(self.ask_len()),
            1 => {
                // The end is the length.
                self.r[1] = input.as_integer_strict().unwrap_or(0);
                self.start_unpack(exec)
            }
            2 => self.start_unpack(exec),
            _ => {
                self.out.push(input);
                if self.r[0] == self.r[1] {
                    let all = std::mem::take(&mut self.out);
                    // (`reserve_values` never asks for a retry: it may pass the limit once.)
                    exec.reserve_values(ctx, all.len(), "too many results to unpack")?;
                    exec.charge(all.len());
                    exec.clear();
                    exec.replace(&all);
                    return Ok(Prim::Done);
                }
                self.r[0] += 1;
                Ok(Prim::Get(self.t, self.r[0]))
            }
        }
    }

    fn start_unpack(&mut self, exec: &mut Exec<'gc, '_>) -> Result<Prim<'gc>, Error<'gc>> {
        let (i, e) = (self.r[0], self.r[1]);
        if i > e {
            exec.clear();
            return Ok(Prim::Done);
        }
        if (e as u64).wrapping_sub(i as u64) >= MAX_UNPACK {
            return Err(Error::runtime("too many results to unpack"));
        }
        self.pc = 3;
        Ok(Prim::Get(self.t, i))
    }
}

// ---------------------------------------------------------------------------------------
// sort: PUC's quicksort (`auxsort`), step for step.

/// Where the sort is: what the next input answers.
#[derive(Copy, Clone, PartialEq, Eq, Debug, Collect)]
#[collect(require_static)]
enum At {
    /// The start: the length is asked for.
    Start,
    /// The length.
    Len,
    /// Nothing: at the head of the interval loop (`lo < up`?).
    Interval,
    /// Ordering a pair of elements (`Pair`): its first value.
    First(Pair),
    /// Its second value.
    Second(Pair),
    /// Whether they are out of order.
    Ordered(Pair),
    /// They were out of order: the first store is done.
    Swapped(Pair),
    /// The second store is done.
    Exchanged(Pair),
    /// The pivot `a[p]` (to move to `up - 1`).
    Pivot,
    /// `a[up - 1]`.
    BeforeUp,
    /// `a[p] = a[up - 1]` done.
    PivotOut,
    /// `a[up - 1] = P` done: the partition starts.
    PivotIn,
    /// A scan's element (`Scan`).
    Scanned(Scan),
    /// Whether the scan goes on.
    Tested(Scan),
    /// The scans stopped and have not crossed: `a[i] = a[j]` done.
    Exchanging,
    /// `a[j] = a[i]` done: the next round of scans.
    Exchanged2,
    /// The scans crossed: `a[up - 1] = a[i]` done.
    Crossed,
    /// `a[i] = P` done: the interval is partitioned at `i`.
    Partitioned,
    /// Finished.
    Done,
}

/// The three pairs ordered before partitioning (PUC: `a[lo]`/`a[up]`, then the pivot with
/// `a[lo]`, else with `a[up]`). Ordering a pair: read `first`, then `second` (except when
/// `first` is already held), and when the element at the higher index is less than the one at
/// the lower index, store each value at the other's index, first's index first.
#[derive(Copy, Clone, PartialEq, Eq, Debug, Collect)]
#[collect(require_static)]
enum Pair {
    /// `a[lo]`, `a[up]`.
    Ends,
    /// `a[p]`, `a[lo]`.
    PivotLow,
    /// `a[p]` (held), `a[up]`.
    PivotHigh,
}

impl Pair {
    const ALL: [Pair; 3] = [Pair::Ends, Pair::PivotLow, Pair::PivotHigh];

    /// The pair's indexes, first and second.
    fn indexes(self, s: &Sort<'_>) -> (i64, i64) {
        match self {
            Pair::Ends => (s.lo, s.up),
            Pair::PivotLow => (s.p, s.lo),
            Pair::PivotHigh => (s.p, s.up),
        }
    }
}

/// The two scans of the partition: `i` up while `a[i] < P`, `j` down while `P < a[j]`.
#[derive(Copy, Clone, PartialEq, Eq, Debug, Collect)]
#[collect(require_static)]
enum Scan {
    Up,
    Down,
}

impl Scan {
    /// The scan's index after one move.
    fn advance(self, s: &mut Sort<'_>) -> i64 {
        match self {
            Scan::Up => {
                s.i += 1;
                s.i
            }
            Scan::Down => {
                s.j -= 1;
                s.j
            }
        }
    }

    /// The scan's element goes in `x` (up) or `y` (down); the comparison that keeps it
    /// going: `a[i] < P` or `P < a[j]`.
    fn compare<'gc>(self, s: &mut Sort<'gc>, v: Value<'gc>) -> Prim<'gc> {
        match self {
            Scan::Up => {
                s.x = v;
                Prim::Less(s.cmp, v, s.pivot)
            }
            Scan::Down => {
                s.y = v;
                Prim::Less(s.cmp, s.pivot, v)
            }
        }
    }

    /// Whether going on would leave the interval: the order function is inconsistent.
    fn overran(self, s: &Sort<'_>) -> bool {
        match self {
            Scan::Up => s.i == s.up - 1,
            Scan::Down => s.j < s.i,
        }
    }
}

/// `table.sort`'s state (see [`At`] for the steps).
#[derive(Collect, Clone)]
#[collect(no_drop)]
struct Sort<'gc> {
    at: At,
    /// The table and the comparator (nil: `<`).
    t: Value<'gc>,
    cmp: Value<'gc>,
    /// The interval being sorted, its pivot's index, the partition's scan indexes.
    lo: i64,
    up: i64,
    p: i64,
    i: i64,
    j: i64,
    /// The pivot seed of the interval (PUC's `rnd`; 0 until a partition was unbalanced).
    rnd: i64,
    /// The elements held: a pair's first and second, the scans' elements, the pivot value.
    x: Value<'gc>,
    y: Value<'gc>,
    pivot: Value<'gc>,
    /// Intervals still to sort, `(lo, up, rnd)`: the larger sides of the partitions above.
    pending: Vec<(i64, i64, i64)>,
}

impl<'gc> Sort<'gc> {
    fn new(t: Value<'gc>, cmp: Value<'gc>) -> Self {
        Sort {
            at: At::Start,
            t,
            cmp,
            lo: 0,
            up: 0,
            p: 0,
            i: 0,
            j: 0,
            rnd: 0,
            x: Value::Nil,
            y: Value::Nil,
            pivot: Value::Nil,
            pending: Vec::new(),
        }
    }

    /// Moves to `at`, asking for `prim`.
    fn ask(&mut self, at: At, prim: Prim<'gc>) -> Prim<'gc> {
        self.at = at;
        prim
    }

    /// With the array's length (`input`): the whole array is the first interval.
    /// (Out of line: inlined in `step`, its number conversion was computed ahead of every
    /// step's dispatch, a tenth of the sort machine's time.)
    #[cold]
    #[inline(never)]
    fn begin(&mut self, input: Value<'gc>) -> Result<(), Error<'gc>> {
        let n = input.as_integer_strict().unwrap_or(0);
        if n > 1 {
            if n >= i32::MAX as i64 {
                return Err(Error::bad_argument(1, "array too big"));
            }
            if !self.cmp.is_nil() && !self.cmp.is_function() {
                return Err(Error::type_error(2, "function", Some(self.cmp)));
            }
            (self.lo, self.up) = (1, n);
            self.at = At::Interval;
        } else {
            self.at = At::Done;
        }
        Ok(())
    }

    /// After ordering `pair` (`swapped`: its elements were exchanged).
    fn after_pair(&mut self, pair: Pair, swapped: bool) -> Option<Prim<'gc>> {
        let (lo, up) = (self.lo, self.up);
        match pair {
            Pair::Ends if up - lo == 1 => None,
            Pair::Ends => {
                self.p = if up - lo < RANLIMIT || self.rnd == 0 {
                    (lo + up) / 2
                } else {
                    choose_pivot(lo, up, self.rnd as u32)
                };
                Some(self.ask(At::First(Pair::PivotLow), Prim::Get(self.t, self.p)))
            }
            // `a[p]` is still `x`: compare it with `a[up]`.
            Pair::PivotLow if !swapped => {
                Some(self.ask(At::Second(Pair::PivotHigh), Prim::Get(self.t, up)))
            }
            Pair::PivotLow | Pair::PivotHigh if up - lo == 2 => None,
            Pair::PivotLow | Pair::PivotHigh => {
                Some(self.ask(At::Pivot, Prim::Get(self.t, self.p)))
            }
        }
    }

    /// The interval is sorted: the next pending one, or the end.
    fn next_interval(&mut self) -> bool {
        match self.pending.pop() {
            Some((lo, up, rnd)) => {
                (self.lo, self.up, self.rnd) = (lo, up, rnd);
                self.at = At::Interval;
                true
            }
            None => {
                self.at = At::Done;
                false
            }
        }
    }

    /// After partitioning at `p`: the smaller side next, the larger one pending.
    fn split(&mut self) {
        let (lo, up, p) = (self.lo, self.up, self.p);
        let (small, large, n) = if p - lo < up - p {
            ((lo, p - 1), (p + 1, up), p - lo)
        } else {
            ((p + 1, up), (lo, p - 1), up - p)
        };
        let rnd = if (large.1 - large.0) / 128 > n {
            randomize_pivot(lo, up)
        } else {
            self.rnd
        };
        self.pending.push((large.0, large.1, rnd));
        (self.lo, self.up) = small;
        (self.x, self.y, self.pivot) = (Value::Nil, Value::Nil, Value::Nil);
        self.at = At::Interval;
    }
}

impl<'gc> Steps<'gc> for Sort<'gc> {
    const KEY: lunette_vm::PermanentKey = ("table", "sort");

    fn name(&self) -> &'static str {
        "table.sort"
    }

    fn step(
        &mut self,
        _ctx: Context<'gc>,
        exec: &mut Exec<'gc, '_>,
        input: Value<'gc>,
    ) -> Result<Prim<'gc>, Error<'gc>> {
        const INVALID_ORDER: &str = "invalid order function for sorting";
        let t = self.t;
        loop {
            match self.at {
                At::Start => return Ok(self.ask(At::Len, Prim::Len(t))),
                At::Len => self.begin(input)?,
                At::Interval if self.lo < self.up => {
                    return Ok(self.ask(At::First(Pair::Ends), Prim::Get(t, self.lo)));
                }
                At::Interval => {
                    self.next_interval();
                }
                At::First(pair) => {
                    self.x = input;
                    let (_, second) = pair.indexes(self);
                    return Ok(self.ask(At::Second(pair), Prim::Get(t, second)));
                }
                At::Second(pair) => {
                    self.y = input;
                    let (a, b) = if pair == Pair::PivotLow {
                        (self.x, self.y)
                    } else {
                        (self.y, self.x)
                    };
                    return Ok(self.ask(At::Ordered(pair), Prim::Less(self.cmp, a, b)));
                }
                At::Ordered(pair) if input.is_truthy() => {
                    let (first, _) = pair.indexes(self);
                    return Ok(self.ask(At::Swapped(pair), Prim::Set(t, first, self.y)));
                }
                At::Swapped(pair) => {
                    let (_, second) = pair.indexes(self);
                    return Ok(self.ask(At::Exchanged(pair), Prim::Set(t, second, self.x)));
                }
                At::Ordered(pair) | At::Exchanged(pair) => {
                    let swapped = self.at == At::Exchanged(pair);
                    match self.after_pair(pair, swapped) {
                        Some(prim) => return Ok(prim),
                        None => {
                            self.next_interval();
                        }
                    }
                }
                At::Pivot => {
                    self.pivot = input;
                    return Ok(self.ask(At::BeforeUp, Prim::Get(t, self.up - 1)));
                }
                At::BeforeUp => return Ok(self.ask(At::PivotOut, Prim::Set(t, self.p, input))),
                At::PivotOut => {
                    (self.i, self.j) = (self.lo, self.up - 1);
                    return Ok(self.ask(At::PivotIn, Prim::Set(t, self.up - 1, self.pivot)));
                }
                At::PivotIn | At::Exchanged2 => {
                    let k = Scan::Up.advance(self);
                    return Ok(self.ask(At::Scanned(Scan::Up), Prim::Get(t, k)));
                }
                At::Scanned(scan) => {
                    let prim = scan.compare(self, input);
                    return Ok(self.ask(At::Tested(scan), prim));
                }
                At::Tested(scan) if input.is_truthy() => {
                    if scan.overran(self) {
                        return Err(Error::runtime(INVALID_ORDER));
                    }
                    let k = scan.advance(self);
                    return Ok(self.ask(At::Scanned(scan), Prim::Get(t, k)));
                }
                At::Tested(Scan::Up) => {
                    let k = Scan::Down.advance(self);
                    return Ok(self.ask(At::Scanned(Scan::Down), Prim::Get(t, k)));
                }
                At::Tested(Scan::Down) if self.j < self.i => {
                    return Ok(self.ask(At::Crossed, Prim::Set(t, self.up - 1, self.x)));
                }
                At::Tested(Scan::Down) => {
                    return Ok(self.ask(At::Exchanging, Prim::Set(t, self.i, self.y)));
                }
                At::Exchanging => {
                    return Ok(self.ask(At::Exchanged2, Prim::Set(t, self.j, self.x)));
                }
                At::Crossed => {
                    return Ok(self.ask(At::Partitioned, Prim::Set(t, self.i, self.pivot)));
                }
                At::Partitioned => {
                    self.p = self.i;
                    self.split();
                }
                At::Done => {
                    exec.clear();
                    return Ok(Prim::Done);
                }
            }
        }
    }

    fn write(&self, w: &mut StateWriter<'gc, '_>) {
        let Sort {
            at,
            t,
            cmp,
            lo,
            up,
            p,
            i,
            j,
            rnd,
            x,
            y,
            pivot,
            pending,
        } = self;
        w.int(at_code(*at));
        w.value(*t);
        w.value(*cmp);
        for n in [lo, up, p, i, j, rnd] {
            w.int(*n);
        }
        for v in [x, y, pivot] {
            w.value(*v);
        }
        w.count(pending.len());
        for (lo, up, rnd) in pending {
            w.int(*lo);
            w.int(*up);
            w.int(*rnd);
        }
    }

    fn read(r: &mut StateReader<'gc, '_>) -> Option<Self> {
        let at = at_from_code(r.int()?)?;
        let mut s = Sort::new(r.value()?, r.value()?);
        s.at = at;
        let mut ints = [0i64; 6];
        for n in ints.iter_mut() {
            *n = r.int()?;
        }
        [s.lo, s.up, s.p, s.i, s.j, s.rnd] = ints;
        (s.x, s.y, s.pivot) = (r.value()?, r.value()?, r.value()?);
        let n = r.count(3)?;
        for _ in 0..n {
            s.pending.push((r.int()?, r.int()?, r.int()?));
        }
        // Every index stays within 0..=i32::MAX (the length is below it), so the steps'
        // arithmetic cannot overflow; `rnd` is a u32.
        let index = |k: i64| (0..=i32::MAX as i64).contains(&k);
        let ok = ints[..5].iter().all(|k| index(*k))
            && u32::try_from(s.rnd).is_ok()
            && s.pending
                .iter()
                .all(|(lo, up, rnd)| index(*lo) && index(*up) && u32::try_from(*rnd).is_ok());
        ok.then_some(s)
    }

    fn size_bytes(&self) -> usize {
        self.pending.len() * std::mem::size_of::<(i64, i64, i64)>()
    }
}

/// `At` as an integer (images).
fn at_code(at: At) -> i64 {
    let (base, k) = match at {
        At::First(p) => (10, p as i64),
        At::Second(p) => (20, p as i64),
        At::Ordered(p) => (30, p as i64),
        At::Swapped(p) => (40, p as i64),
        At::Exchanged(p) => (50, p as i64),
        At::Scanned(s) => (60, s as i64),
        At::Tested(s) => (70, s as i64),
        other => (
            100,
            SIMPLE_AT.iter().position(|a| *a == other).unwrap_or(0) as i64,
        ),
    };
    base + k
}

/// The steps of [`At`] that carry nothing, by code.
const SIMPLE_AT: [At; 12] = [
    At::Start,
    At::Len,
    At::Interval,
    At::Pivot,
    At::BeforeUp,
    At::PivotOut,
    At::PivotIn,
    At::Exchanging,
    At::Exchanged2,
    At::Crossed,
    At::Partitioned,
    At::Done,
];

fn at_from_code(code: i64) -> Option<At> {
    if code >= 100 {
        return SIMPLE_AT.get(usize::try_from(code - 100).ok()?).copied();
    }
    let k = usize::try_from(code % 10).ok()?;
    let pair = || Pair::ALL.get(k).copied();
    let scan = || [Scan::Up, Scan::Down].get(k).copied();
    Some(match code / 10 {
        1 => At::First(pair()?),
        2 => At::Second(pair()?),
        3 => At::Ordered(pair()?),
        4 => At::Swapped(pair()?),
        5 => At::Exchanged(pair()?),
        6 => At::Scanned(scan()?),
        7 => At::Tested(scan()?),
        _ => return None,
    })
}

/// Intervals at least this long may use a randomized pivot (PUC's RANLIMIT).
const RANLIMIT: i64 = 100;

fn choose_pivot(lo: i64, up: i64, rnd: u32) -> i64 {
    let r4 = ((up - lo) / 4) as u32;
    (rnd % (r4 * 2)) as i64 + lo + r4 as i64
}

/// Deterministic stand-in for PUC's clock-based `l_randomizePivot`.
fn randomize_pivot(lo: i64, up: i64) -> i64 {
    let x = (lo as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (up as u64).rotate_left(29);
    ((x >> 32) as u32 | 1) as i64
}

fn check_concat_value<'gc>(ctx: Context<'gc>, v: Value<'gc>, i: i64) -> Result<(), Error<'gc>> {
    if is_stringlike(v) {
        Ok(())
    } else {
        let _ = ctx;
        Err(Error::runtime(format!(
            "invalid value ({}) at index {} in table for 'concat'",
            v.type_name(),
            i
        )))
    }
}

fn push_concat_value(out: &mut Vec<u8>, v: Value<'_>) {
    match v {
        Value::String(s) => out.extend_from_slice(s.as_bytes()),
        other => out.extend_from_slice(display_plain(other).as_bytes()),
    }
}

// ---------------------------------------------------------------------------------------
// The library functions.

fn insert<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    check_tab(ctx, exec.get(0), 1, TAB_R | TAB_W | TAB_L)?;
    let tv = exec.arg(0);
    let nargs = exec.len();
    if let Some(t) = plain(tv) {
        let e = t.length().wrapping_add(1);
        let (pos, v) = match nargs {
            2 => (e, exec.arg(1)),
            3 => {
                let pos = int_arg(exec.get(1), 2)?;
                if (pos as u64).wrapping_sub(1) >= e as u64 {
                    return Err(Error::bad_argument(2, "position out of bounds"));
                }
                (pos, exec.arg(2))
            }
            _ => return Err(Error::runtime("wrong number of arguments to 'insert'")),
        };
        let mut i = e;
        while i > pos {
            let x = t.get_int(i - 1);
            raw_set(ctx, t, i, x);
            i -= 1;
        }
        exec.charge((e - pos) as usize);
        raw_set(ctx, t, pos, v);
        exec.clear();
        return Ok(Action::Return);
    }
    let mut m = Machine::new(Op::Insert, tv);
    m.r[0] = nargs as i64;
    m.v[0] = exec.arg(1);
    m.aux = if nargs == 2 { exec.arg(1) } else { exec.arg(2) };
    start(ctx, exec, m)
}

fn remove<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    check_tab(ctx, exec.get(0), 1, TAB_R | TAB_W | TAB_L)?;
    let tv = exec.arg(0);
    if let Some(t) = plain(tv) {
        let size = t.length();
        let mut pos = opt_int_arg(exec.get(1), 2, size)?;
        if pos != size && (pos as u64).wrapping_sub(1) > size as u64 {
            return Err(Error::bad_argument(2, "position out of bounds"));
        }
        let result = t.get_int(pos);
        exec.charge((size - pos).max(0) as usize);
        while pos < size {
            let x = t.get_int(pos + 1);
            raw_set(ctx, t, pos, x);
            pos += 1;
        }
        raw_set(ctx, t, pos, Value::Nil);
        exec.set_return(result);
        return Ok(Action::Return);
    }
    let mut m = Machine::new(Op::Remove, tv);
    m.v[0] = exec.arg(1);
    start(ctx, exec, m)
}

fn move_<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let f = int_arg(exec.get(1), 2)?;
    let e = int_arg(exec.get(2), 3)?;
    let t = int_arg(exec.get(3), 4)?;
    let (dest_arg, dest) = match exec.get(4) {
        None | Some(Value::Nil) => (1, exec.arg(0)),
        Some(v) => (5, v),
    };
    check_tab(ctx, exec.get(0), 1, TAB_R)?;
    check_tab(ctx, Some(dest), dest_arg, TAB_W)?;
    let src = exec.arg(0);
    if e >= f {
        if !(f > 0 || e < i64::MAX.wrapping_add(f)) {
            return Err(Error::bad_argument(3, "too many elements to move"));
        }
        let n = e - f + 1;
        if t > i64::MAX - n + 1 {
            return Err(Error::bad_argument(4, "destination wrap around"));
        }
        let backwards = !(t > e || t <= f || (dest_arg != 1 && !src.raw_eq(dest)));
        let (a1, a2) = (plain(src), plain(dest));
        if let (Some(a1), Some(a2), true) = (a1, a2, n <= 1 << 16) {
            exec.charge(n as usize);
            if backwards {
                for i in (0..n).rev() {
                    raw_set(ctx, a2, t + i, a1.get_int(f + i));
                }
            } else {
                for i in 0..n {
                    raw_set(ctx, a2, t + i, a1.get_int(f + i));
                }
            }
        } else {
            let mut m = Machine::new(Op::Move, src);
            m.aux = dest;
            m.r[0] = f;
            m.r[1] = t;
            m.r[2] = n;
            m.r[4] = backwards as i64;
            return start(ctx, exec, m);
        }
    }
    exec.set_return(dest);
    Ok(Action::Return)
}

fn pack<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let n = exec.len();
    ctx.reserve_memory(n * 16)?;
    let t = ctx.new_table_with_capacity(n, 1);
    for (i, v) in exec.values().iter().enumerate() {
        raw_set(ctx, t, i as i64 + 1, *v);
    }
    set(ctx, t, "n", Value::Integer(n as i64));
    exec.charge(n);
    exec.set_return(Value::Table(t));
    Ok(Action::Return)
}

fn unpack<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let tv = exec.arg(0);
    let i = opt_int_arg(exec.get(1), 2, 1)?;
    let explicit_end = match exec.get(2) {
        None | Some(Value::Nil) => None,
        v => Some(int_arg(v, 3)?),
    };
    if let Some(t) = plain(tv) {
        let e = explicit_end.unwrap_or_else(|| t.length());
        if i > e {
            exec.clear();
            return Ok(Action::Return);
        }
        let n = (e as u64).wrapping_sub(i as u64);
        if n >= MAX_UNPACK {
            return Err(Error::runtime("too many results to unpack"));
        }
        // The results go straight onto the stack, its growth reserved first (before anything
        // changes: a reservation may ask to run this call again after a collection).
        exec.reserve_values(ctx, n as usize + 1, "too many results to unpack")?;
        exec.charge(1);
        exec.clear();
        return unpack_run(ctx, exec, t, i, n, 0);
    }
    let mut m = Machine::new(Op::Unpack, tv);
    m.r[0] = i;
    match explicit_end {
        Some(e) => {
            m.r[1] = e;
            m.pc = 2;
        }
        None => m.pc = 0,
    }
    start(ctx, exec, m)
}

/// Results `table.unpack` pushes between two looks at the fuel.
const UNPACK_PIECE: u64 = 16384;

/// `table.unpack` of a table without a metatable: pushes `t[i + k]` for `k` in `k..=n` (the
/// results before `k` are in the region) a piece at a time, each piece charged before it is
/// pushed; between pieces, pauses when out of fuel, its results so far kept in the region
/// (200,000 results had made one step of 50,000 units). Pieces start at multiples of
/// [`UNPACK_PIECE`], so the charges do not depend on where steps end.
fn unpack_run<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    t: Table<'gc>,
    i: i64,
    n: u64,
    mut k: u64,
) -> Result<Action<'gc>, Error<'gc>> {
    // Charged as one move of `n` values would be (`n / VALUES_PER_UNIT` after the call's
    // unit), each piece its share: `moved(stop) - moved(k)`.
    let moved = |x: u64| x.saturating_sub(1) / lunette_vm::executor::VALUES_PER_UNIT as u64;
    loop {
        let stop = k.saturating_add(UNPACK_PIECE).min(n + 1);
        exec.charge((moved(stop) - moved(k)) as usize);
        for q in k..stop {
            exec.push(t.get_int(i.wrapping_add(q as i64)));
        }
        k = stop;
        if k > n {
            return Ok(Action::Return);
        }
        if exec.out_of_fuel() {
            let state = crate::string::state_table(
                ctx,
                &[
                    Value::Table(t),
                    Value::Integer(i),
                    Value::Integer(n as i64),
                    Value::Integer(k as i64),
                ],
            );
            return Ok(Action::Pause {
                then: Then::new("table.unpack", unpack_resume, Value::Table(state)),
            });
        }
    }
}

/// A paused `table.unpack` (state: `[table, first index, count - 1, results pushed]`, the
/// results pushed in the region); a state read back from a snapshot's bytes is checked
/// against the region first.
fn unpack_resume<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    _o: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    let state = crate::string::SavedState::of(exec.upvalue, "unpack")?;
    let lost = || crate::string::lost_state("unpack");
    let Value::Table(t) = state.value(1) else {
        return Err(lost());
    };
    let i = state.value(2).as_integer_strict().ok_or_else(lost)?;
    let (n, k) = (state.index(3)? as u64, state.index(4)? as u64);
    if n >= MAX_UNPACK || k > n || exec.len() as u64 != k {
        return Err(lost());
    }
    // (The stack a snapshot rebuilt may hold no room for the rest.)
    exec.reserve_values(ctx, (n + 1 - k) as usize, "too many results to unpack")?;
    unpack_run(ctx, exec, t, i, n, k)
}

fn concat<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    check_tab(ctx, exec.get(0), 1, TAB_R | TAB_L)?;
    let tv = exec.arg(0);
    if let Some(t) = plain(tv) {
        let sep = match exec.get(1) {
            None | Some(Value::Nil) => ctx.str(""),
            Some(v @ Value::String(_)) => v,
            Some(v @ (Value::Integer(_) | Value::Float(_))) => ctx.str(&display_plain(v)),
            other => return Err(Error::type_error(2, "string", other)),
        };
        let i = opt_int_arg(exec.get(2), 3, 1)?;
        let last = opt_int_arg(exec.get(3), 4, t.length())?;
        if i > last {
            exec.set_return(ctx.str(""));
            return Ok(Action::Return);
        }
        // State: [table, separator, next index, last index, result bytes so far, pieces...]
        let st = ctx.new_table_with_capacity(8, 0);
        for (k, v) in [
            Value::Table(t),
            sep,
            Value::Integer(i),
            Value::Integer(last),
            Value::Integer(0),
        ]
        .into_iter()
        .enumerate()
        {
            raw_set(ctx, st, k as i64 + 1, v);
        }
        return concat_slice(ctx, exec, st);
    }
    let mut m = Machine::new(Op::Concat, tv);
    m.v = [exec.arg(1), exec.arg(2), exec.arg(3)];
    start(ctx, exec, m)
}

/// Items joined by one slice of a plain `table.concat`.
const CONCAT_SLICE_ITEMS: usize = 1024;
/// Bytes after which a slice's piece is complete.
const CONCAT_PIECE_BYTES: usize = 1 << 16;
/// Slot of the first piece in a plain concat's state table.
const CONCAT_FIRST_PIECE: i64 = 6;

/// One slice of a plain `table.concat` (state table: see `concat`): joins up to
/// [`CONCAT_SLICE_ITEMS`] items (or [`CONCAT_PIECE_BYTES`]) into a piece kept as a string in
/// the state, charging 1 unit an item plus 1 per 32 bytes before copying them and
/// reserving the piece's growth by capacity (an item of `CONCAT_PIECE_BYTES` or more is
/// kept as a piece of its own, not copied, and ends the slice); then reaches a step
/// boundary (the state is
/// Lua values, so a paused concat snapshots). The last slice joins the pieces into the
/// result (its bytes reserved first). Slices depend only on the items, never on the fuel.
fn concat_slice<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    st: Table<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    let int = |k: i64| st.get_int(k).as_integer_strict().unwrap_or(0);
    if st.get_int(1) == Value::Boolean(false) {
        return concat_join(ctx, exec, st);
    }
    let (Value::Table(t), Value::String(sep)) = (st.get_int(1), st.get_int(2)) else {
        return Err(Error::runtime("table.concat: lost state"));
    };
    let (mut i, last) = (int(3), int(4));
    let mut total = int(5).max(0) as usize;
    let sep = sep.as_bytes();
    let mut piece: Vec<u8> = Vec::new();
    let mut done = false;
    for _ in 0..CONCAT_SLICE_ITEMS {
        let v = t.get_int(i);
        check_concat_value(ctx, v, i)?;
        let number;
        let bytes = match v {
            Value::String(s) => s.as_bytes(),
            other => {
                number = display_plain(other);
                number.as_bytes()
            }
        };
        let add = bytes.len() + if i < last { sep.len() } else { 0 };
        exec.charge(1 + add / 32);
        total = total.saturating_add(add);
        if total > crate::string::MAX_SIZE {
            return Err(Error::runtime("resulting string too large"));
        }
        if let (Value::String(item), true) = (v, bytes.len() >= CONCAT_PIECE_BYTES) {
            // A big item is a piece of its own, not copied (the join copies it, in pieces
            // when the result is big): the piece so far, the item, then the separator. The
            // result so far must fit, as if the item had been copied.
            ctx.reserve_memory(total)?;
            push_concat_piece(ctx, st, &piece);
            piece.clear();
            concat_piece_slot(ctx, st, Value::String(item));
            if i == last {
                done = true;
                break;
            }
            piece.extend_from_slice(sep);
            i += 1;
            break;
        }
        if piece.len() + add > piece.capacity() {
            let cap = (piece.len() + add).max(piece.capacity() * 2);
            ctx.reserve_memory(cap - piece.capacity())?;
            piece.reserve_exact(cap - piece.len());
        }
        piece.extend_from_slice(bytes);
        if i == last {
            done = true;
            break;
        }
        piece.extend_from_slice(sep);
        i += 1;
        if piece.len() >= CONCAT_PIECE_BYTES {
            break;
        }
    }
    let first_piece = st.get_int(CONCAT_FIRST_PIECE).is_nil();
    if done && first_piece {
        exec.set_return(Value::String(ctx.new_string(&piece)));
        return Ok(Action::Return);
    }
    push_concat_piece(ctx, st, &piece);
    drop(piece);
    if !done {
        raw_set(ctx, st, 3, Value::Integer(i));
        raw_set(ctx, st, 5, Value::Integer(total as i64));
        return crate::util::continue_later(
            ctx,
            exec,
            "table.concat",
            concat_next,
            Value::Table(st),
        );
    }
    if total > lunette_vm::big_string::BUILD_IN_PIECES {
        // A big result is joined in pieces across steps by the string builder.
        ctx.reserve_memory(total)?;
        let pieces: Vec<Value<'gc>> = (CONCAT_FIRST_PIECE..=st.length())
            .map(|k| st.get_int(k))
            .collect();
        return Ok(lunette_vm::big_string::return_built(
            ctx,
            exec,
            &pieces,
            total,
            lunette_vm::big_string::Shape::Repeat,
            None,
        ));
    }
    // The join phase: slot 1 false, slot 3 the fuel still to pay for it, slot 5 the bytes.
    raw_set(ctx, st, 1, Value::Boolean(false));
    raw_set(ctx, st, 3, Value::Integer((total / 64) as i64));
    raw_set(ctx, st, 5, Value::Integer(total as i64));
    concat_join(ctx, exec, st)
}

/// Appends `piece` (unless empty) as a string to a plain concat's pieces.
fn push_concat_piece<'gc>(ctx: Context<'gc>, st: Table<'gc>, piece: &[u8]) {
    if !piece.is_empty() {
        concat_piece_slot(ctx, st, Value::String(ctx.new_string(piece)));
    }
}

/// Appends `v` (a string) to a plain concat's pieces (slots from [`CONCAT_FIRST_PIECE`]).
fn concat_piece_slot<'gc>(ctx: Context<'gc>, st: Table<'gc>, v: Value<'gc>) {
    let next = (st.length() + 1).max(CONCAT_FIRST_PIECE);
    raw_set(ctx, st, next, v);
}

/// The end of a plain `table.concat` made of several pieces: pays for the join (1 unit per
/// 64 bytes) in slices at step boundaries, then copies the pieces into the result once (its
/// bytes reserved first).
fn concat_join<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    st: Table<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    let int = |k: i64| st.get_int(k).as_integer_strict().unwrap_or(0);
    let unpaid = int(3).max(0) as usize;
    let now = unpaid.min(4096);
    exec.charge(now);
    if unpaid > now {
        raw_set(ctx, st, 3, Value::Integer((unpaid - now) as i64));
        return crate::util::continue_later(
            ctx,
            exec,
            "table.concat",
            concat_next,
            Value::Table(st),
        );
    }
    let total = int(5).max(0) as usize;
    let slots = CONCAT_FIRST_PIECE..=st.length();
    let result = crate::string::assemble_slots(ctx, st, slots, total, &[])?;
    exec.set_return(Value::String(result));
    Ok(Action::Return)
}

fn concat_next<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    _o: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    match exec.upvalue {
        Value::Table(st) => concat_slice(ctx, exec, st),
        _ => Err(Error::runtime("table.concat: lost state")),
    }
}

fn sort<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    check_tab(ctx, exec.get(0), 1, TAB_R | TAB_W | TAB_L)?;
    let tv = exec.arg(0);
    let cmp = exec.arg(1);
    if let (Some(t), true) = (plain(tv), cmp.is_nil()) {
        let n = t.length();
        if n <= 1 {
            exec.clear();
            return Ok(Action::Return);
        }
        if n >= i32::MAX as i64 {
            return Err(Error::bad_argument(1, "array too big"));
        }
        // Sorting in Rust cannot pause: only small arrays (about a millisecond at most) take
        // that path; bigger ones run on the resumable machine, which reaches a step
        // boundary every few thousand steps.
        if n <= SORT_IN_ONE_GO && sort_plain(ctx, exec, t, n) {
            exec.clear();
            return Ok(Action::Return);
        }
    }
    start(ctx, exec, Sort::new(tv, cmp))
}

/// Largest array sorted by [`sort_plain`] in one call.
const SORT_IN_ONE_GO: i64 = 1 << 14;

/// Sorts `t[1..=n]` in Rust when the result is exactly what PUC's quicksort gives: numbers
/// (no NaN) or strings only, and no two elements that compare equal yet differ (`1` and
/// `1.0`, `0.0` and `-0.0`). Returns false (table untouched) otherwise.
fn sort_plain<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>, t: Table<'gc>, n: i64) -> bool {
    let mut vals: Vec<Value<'gc>> = Vec::with_capacity(n as usize);
    let mut strings = 0usize;
    for i in 1..=n {
        let v = t.get_int(i);
        match v {
            Value::Integer(_) => {}
            Value::Float(f) if !f.is_nan() => {}
            // (a long string goes to the machine, which charges each comparison by the
            // bytes it scans; here every comparison is within the n log n charge)
            Value::String(s) if s.len() <= lunette_vm::string::COMPARE_BYTES_PER_FUEL => {
                strings += 1
            }
            _ => return false,
        }
        vals.push(v);
    }
    if strings != 0 && strings != vals.len() {
        return false;
    }
    exec.charge(vals.len() * (64 - (vals.len() as u64).leading_zeros() as usize));
    vals.sort_unstable_by(|a, b| {
        match (
            lunette_vm::interp::less_than(*a, *b),
            lunette_vm::interp::less_than(*b, *a),
        ) {
            (Some(true), _) => std::cmp::Ordering::Less,
            (_, Some(true)) => std::cmp::Ordering::Greater,
            _ => std::cmp::Ordering::Equal,
        }
    });
    let identical = |a: Value<'gc>, b: Value<'gc>| match (a, b) {
        (Value::Integer(x), Value::Integer(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x.to_bits() == y.to_bits(),
        (Value::String(x), Value::String(y)) => x == y,
        _ => false,
    };
    for w in vals.windows(2) {
        if w[0].raw_eq(w[1]) && !identical(w[0], w[1]) {
            return false;
        }
    }
    for (i, v) in vals.into_iter().enumerate() {
        raw_set(ctx, t, i as i64 + 1, v);
    }
    true
}
