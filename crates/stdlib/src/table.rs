//! The table library (§6.6): concat, insert, move, pack, remove, sort, unpack.
//!
//! Like PUC 5.4, element access respects `__index`/`__newindex` and lengths respect `__len`.
//! Tables without a metatable take direct fast paths. Everything else runs on a small
//! resumable machine: each step asks for one primitive (length, get, set, comparison); the
//! driver performs it directly when no Lua function is involved, or answers with an
//! `Action::Call` whose continuation reloads the machine from a state table (plain Lua
//! values) and carries on. No Rust recursion, so comparators and metamethods may yield and
//! a paused sort snapshots like any other VM state.
//!
//! `table.sort` follows PUC's quicksort step for step (same pivots, same comparisons, same
//! "invalid order function for sorting" checks), so comparators with side effects observe
//! the same calls. Where PUC randomizes the pivot (after very unbalanced partitions of more
//! than 100 elements, seeded from the clock) lunette uses a deterministic value instead.
//! `table.move` compares source and destination tables by identity (PUC's `lua_compare`
//! could call `__eq`).

use lunette_vm::interp::{index, new_index, Index};
use lunette_vm::{
    display_plain, Action, CallbackFn, Context, Error, Exec, MetaEvent, Outcome, Table, Then, Value,
};

use crate::base::set;
use crate::util::{less_step, without_position, Less};

/// This library's callbacks and continuations beyond its table's functions, in the VM's
/// permanents table (see `lunette_vm::Permanents`).
fn permanents(p: &mut lunette_vm::Permanents) {
    p.continuation(("table", "resume"), "table.sort", resume);
    p.continuation(("table", "concat_next"), "table.concat", concat_next);
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
    // Integer keys are always valid.
    let _ = t.set(ctx, Value::Integer(i), v);
}

fn is_stringlike(v: Value<'_>) -> bool {
    matches!(v, Value::String(_) | Value::Integer(_) | Value::Float(_))
}

// ---------------------------------------------------------------------------------------
// The resumable machine.

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

#[derive(Copy, Clone, PartialEq, Eq, Debug)]
enum Op {
    Insert = 1,
    Remove,
    Move,
    Concat,
    Unpack,
    Sort,
}

impl Op {
    fn from_i64(i: i64) -> Option<Op> {
        Some(match i {
            1 => Op::Insert,
            2 => Op::Remove,
            3 => Op::Move,
            4 => Op::Concat,
            5 => Op::Unpack,
            6 => Op::Sort,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Op::Insert => "table.insert",
            Op::Remove => "table.remove",
            Op::Move => "table.move",
            Op::Concat => "table.concat",
            Op::Unpack => "table.unpack",
            Op::Sort => "table.sort",
        }
    }
}

const NREGS: usize = 7;

struct Machine<'gc> {
    op: Op,
    pc: u8,
    /// The table argument.
    t: Value<'gc>,
    /// insert: the new value; move: the destination; sort: the comparator; concat: separator.
    aux: Value<'gc>,
    /// Value registers (saved arguments, pivot, elements being compared).
    v: [Value<'gc>; 3],
    /// Integer registers.
    r: [i64; NREGS],
    /// sort: intervals still to sort, `(lo, up, rnd)`.
    stack: Vec<(i64, i64, i64)>,
    /// unpack/concat: collected values not yet flushed to `collector`.
    out: Vec<Value<'gc>>,
    collector: Option<Table<'gc>>,
    collected: i64,
    /// The state table, once the machine has been suspended.
    state: Option<Table<'gc>>,
}

// State table layout.
const K_OP: i64 = 1;
const K_PC: i64 = 2;
const K_T: i64 = 3;
const K_AUX: i64 = 4;
const K_V: i64 = 5; // 3 slots
const K_R: i64 = 8; // NREGS slots
const K_COLLECTOR: i64 = 15;
const K_COLLECTED: i64 = 16;
const K_PENDING: i64 = 17;
const K_INPUT: i64 = 18;
const K_STACK_LEN: i64 = 19;
const K_STACK: i64 = 20;

const PENDING_LEN: i64 = 1;
const PENDING_GET: i64 = 2;
const PENDING_SET: i64 = 3;
const PENDING_LESS: i64 = 4;
/// A pause (a call to a no-op callback) so the executor can check fuel during long runs of
/// steps that need no Lua calls; the next step's input is saved in `K_INPUT`.
const PENDING_PAUSE: i64 = 5;

/// Steps performed without returning to the executor before pausing.
const STEPS_PER_SLICE: u32 = 4096;
/// Units of fuel charged in one slice before pausing (see `drive`).
const UNITS_PER_SLICE: u32 = 8192;

impl<'gc> Machine<'gc> {
    fn new(op: Op, t: Value<'gc>) -> Self {
        Machine {
            op,
            pc: 0,
            t,
            aux: Value::Nil,
            v: [Value::Nil; 3],
            r: [0; NREGS],
            stack: Vec::new(),
            out: Vec::new(),
            collector: None,
            collected: 0,
            state: None,
        }
    }

    /// Writes the machine into its state table (created on first use) with the kind of
    /// primitive whose call is pending. Slots are written in key order and never hold nil
    /// (nil is encoded as the state table itself, which no register can contain), so the
    /// state lives in the table's array part.
    fn save(&mut self, ctx: Context<'gc>, pending: i64, input: Value<'gc>) -> Table<'gc> {
        let st = *self
            .state
            .get_or_insert_with(|| ctx.new_table_with_capacity(K_STACK as usize + 3 * 8, 0));
        // Most slots are unchanged since the previous save (one save per comparator call in
        // a sort): a read costs much less than a journaled write, so unchanged slots are
        // left alone. "Unchanged" is identity (same variant, same bits or object), never
        // `raw_eq`, which equates 1 and 1.0; strings are always written (equal contents
        // may be distinct objects).
        let put = |k: i64, v: Value<'gc>| {
            let v = if v.is_nil() { Value::Table(st) } else { v };
            let same = match (st.get_int(k), v) {
                (Value::Integer(a), Value::Integer(b)) => a == b,
                (Value::Float(a), Value::Float(b)) => a.to_bits() == b.to_bits(),
                (Value::Boolean(a), Value::Boolean(b)) => a == b,
                (Value::Table(a), Value::Table(b)) => Table::ptr_eq(a, b),
                (old @ Value::Function(_), Value::Function(_))
                | (old @ Value::Callback(_), Value::Callback(_)) => old.raw_eq(v),
                _ => false,
            };
            if !same {
                raw_set(ctx, st, k, v);
            }
        };
        if !self.out.is_empty() {
            let c = *self.collector.get_or_insert_with(|| ctx.new_table());
            for v in self.out.drain(..) {
                self.collected += 1;
                raw_set(ctx, c, self.collected, v);
            }
        }
        put(K_OP, Value::Integer(self.op as i64));
        put(K_PC, Value::Integer(self.pc as i64));
        put(K_T, self.t);
        put(K_AUX, self.aux);
        for (i, v) in self.v.iter().enumerate() {
            put(K_V + i as i64, *v);
        }
        for (i, r) in self.r.iter().enumerate() {
            put(K_R + i as i64, Value::Integer(*r));
        }
        put(K_COLLECTOR, self.collector.map_or(Value::Nil, Value::Table));
        put(K_COLLECTED, Value::Integer(self.collected));
        put(K_PENDING, Value::Integer(pending));
        put(K_INPUT, input);
        put(K_STACK_LEN, Value::Integer(self.stack.len() as i64));
        for (i, (lo, up, rnd)) in self.stack.iter().enumerate() {
            let k = K_STACK + 3 * i as i64;
            put(k, Value::Integer(*lo));
            put(k + 1, Value::Integer(*up));
            put(k + 2, Value::Integer(*rnd));
        }
        st
    }

    fn load(st: Table<'gc>) -> Option<Self> {
        let int = |k: i64| st.get_int(k).as_integer_strict();
        let val = |k: i64| match st.get_int(k) {
            Value::Table(t) if Table::ptr_eq(t, st) => Value::Nil,
            v => v,
        };
        let op = Op::from_i64(int(K_OP)?)?;
        let mut m = Machine::new(op, val(K_T));
        m.pc = int(K_PC)? as u8;
        m.aux = val(K_AUX);
        for i in 0..3 {
            m.v[i] = val(K_V + i as i64);
        }
        for i in 0..NREGS {
            m.r[i] = int(K_R + i as i64)?;
        }
        m.collector = val(K_COLLECTOR).as_table();
        m.collected = int(K_COLLECTED)?;
        let n = int(K_STACK_LEN)?;
        for i in 0..n {
            let k = K_STACK + 3 * i;
            m.stack.push((int(k)?, int(k + 1)?, int(k + 2)?));
        }
        m.state = Some(st);
        Some(m)
    }

    /// All collected values, in order.
    fn take_collected(&mut self) -> Vec<Value<'gc>> {
        let mut all = Vec::with_capacity(self.collected as usize + self.out.len());
        if let Some(c) = self.collector {
            for i in 1..=self.collected {
                all.push(c.get_int(i));
            }
        }
        all.append(&mut self.out);
        all
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
            Op::Sort => self.step_sort(exec, input),
        }
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
                0 => {
                    self.pc = 1;
                    return Ok(Prim::Len(self.t));
                }
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
            0 => {
                self.pc = 1;
                Ok(Prim::Len(self.t))
            }
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
            0 => {
                self.pc = 1;
                Ok(Prim::Len(self.t))
            }
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
                self.next_concat(ctx, exec)
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
                self.r[0] += 1;
                self.next_concat(ctx, exec)
            }
        }
    }

    fn next_concat(
        &mut self,
        ctx: Context<'gc>,
        exec: &mut Exec<'gc, '_>,
    ) -> Result<Prim<'gc>, Error<'gc>> {
        if self.r[0] <= self.r[1] {
            return Ok(Prim::Get(self.t, self.r[0]));
        }
        self.finish_concat(ctx, exec)
    }

    fn finish_concat(
        &mut self,
        ctx: Context<'gc>,
        exec: &mut Exec<'gc, '_>,
    ) -> Result<Prim<'gc>, Error<'gc>> {
        let sep = self.aux.as_string().map(|s| s.as_bytes()).unwrap_or(b"");
        ctx.reserve_memory((self.collected as usize + self.out.len()) * 16)?;
        let parts = self.take_collected();
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
            0 => {
                self.pc = 1;
                Ok(Prim::Len(self.t))
            }
            1 => {
                // The end is the length.
                self.r[1] = input.as_integer_strict().unwrap_or(0);
                self.start_unpack(exec)
            }
            2 => self.start_unpack(exec),
            _ => {
                self.out.push(input);
                if self.r[0] == self.r[1] {
                    let all = self.take_collected();
                    // Reserved before anything changes (the Lua-side state is saved only
                    // when the machine pauses, so a retry after a collection starts over).
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

    // sort: aux = comparator, r0 = lo, r1 = up, r2 = p, r3 = i, r4 = j, r5 = rnd;
    // v0 = pivot, v1/v2 = elements being compared.
    fn step_sort(
        &mut self,
        exec: &mut Exec<'gc, '_>,
        input: Value<'gc>,
    ) -> Result<Prim<'gc>, Error<'gc>> {
        let t = self.t;
        let cmp = self.aux;
        let mut input = input;
        loop {
            let [lo, up, p, i, j, _rnd, _] = self.r;
            match self.pc {
                0 => {
                    self.pc = 1;
                    return Ok(Prim::Len(t));
                }
                1 => {
                    let n = input.as_integer_strict().unwrap_or(0);
                    if n <= 1 {
                        exec.clear();
                        return Ok(Prim::Done);
                    }
                    if n >= i32::MAX as i64 {
                        return Err(Error::bad_argument(1, "array too big"));
                    }
                    if !cmp.is_nil() && !cmp.is_function() {
                        return Err(Error::type_error(2, "function", Some(cmp)));
                    }
                    self.r = [1, n, 0, 0, 0, 0, 0];
                    self.pc = 10;
                }
                // auxsort loop head.
                10 => {
                    if lo >= up {
                        self.pc = 90;
                        continue;
                    }
                    self.pc = 11;
                    return Ok(Prim::Get(t, lo));
                }
                11 => {
                    self.v[1] = input;
                    self.pc = 12;
                    return Ok(Prim::Get(t, up));
                }
                12 => {
                    self.v[2] = input;
                    self.pc = 13;
                    return Ok(Prim::Less(cmp, self.v[2], self.v[1]));
                }
                13 => {
                    if input.is_truthy() {
                        self.pc = 14;
                        return Ok(Prim::Set(t, lo, self.v[2]));
                    }
                    self.pc = 15;
                }
                14 => {
                    self.pc = 15;
                    return Ok(Prim::Set(t, up, self.v[1]));
                }
                15 => {
                    if up - lo == 1 {
                        self.pc = 90;
                        continue;
                    }
                    let p = if up - lo < RANLIMIT || self.r[5] == 0 {
                        (lo + up) / 2
                    } else {
                        choose_pivot(lo, up, self.r[5] as u32)
                    };
                    self.r[2] = p;
                    self.pc = 16;
                    return Ok(Prim::Get(t, p));
                }
                16 => {
                    self.v[1] = input;
                    self.pc = 17;
                    return Ok(Prim::Get(t, lo));
                }
                17 => {
                    self.v[2] = input;
                    self.pc = 18;
                    return Ok(Prim::Less(cmp, self.v[1], self.v[2]));
                }
                18 => {
                    if input.is_truthy() {
                        self.pc = 19;
                        return Ok(Prim::Set(t, p, self.v[2]));
                    }
                    self.pc = 20;
                    return Ok(Prim::Get(t, up));
                }
                19 => {
                    self.pc = 22;
                    return Ok(Prim::Set(t, lo, self.v[1]));
                }
                20 => {
                    self.v[2] = input;
                    self.pc = 21;
                    return Ok(Prim::Less(cmp, self.v[2], self.v[1]));
                }
                21 => {
                    if input.is_truthy() {
                        self.pc = 23;
                        return Ok(Prim::Set(t, p, self.v[2]));
                    }
                    self.pc = 22;
                }
                23 => {
                    self.pc = 22;
                    return Ok(Prim::Set(t, up, self.v[1]));
                }
                22 => {
                    if up - lo == 2 {
                        self.pc = 90;
                        continue;
                    }
                    self.pc = 24;
                    return Ok(Prim::Get(t, p));
                }
                24 => {
                    self.v[0] = input;
                    self.pc = 25;
                    return Ok(Prim::Get(t, up - 1));
                }
                25 => {
                    self.pc = 26;
                    return Ok(Prim::Set(t, p, input));
                }
                26 => {
                    self.r[3] = lo;
                    self.r[4] = up - 1;
                    self.pc = 30;
                    return Ok(Prim::Set(t, up - 1, self.v[0]));
                }
                // partition: repeat ++i while a[i] < P.
                30 => {
                    self.r[3] = i + 1;
                    self.pc = 31;
                    return Ok(Prim::Get(t, i + 1));
                }
                31 => {
                    self.v[1] = input;
                    self.pc = 32;
                    return Ok(Prim::Less(cmp, self.v[1], self.v[0]));
                }
                32 => {
                    if input.is_truthy() {
                        if i == up - 1 {
                            return Err(Error::runtime("invalid order function for sorting"));
                        }
                        self.pc = 30;
                        continue;
                    }
                    self.r[4] = j - 1;
                    self.pc = 33;
                    return Ok(Prim::Get(t, j - 1));
                }
                // repeat --j while P < a[j].
                33 => {
                    self.v[2] = input;
                    self.pc = 34;
                    return Ok(Prim::Less(cmp, self.v[0], self.v[2]));
                }
                34 => {
                    if input.is_truthy() {
                        if j < i {
                            return Err(Error::runtime("invalid order function for sorting"));
                        }
                        self.r[4] = j - 1;
                        self.pc = 33;
                        return Ok(Prim::Get(t, j - 1));
                    }
                    if j < i {
                        self.pc = 36;
                        return Ok(Prim::Set(t, up - 1, self.v[1]));
                    }
                    self.pc = 37;
                    return Ok(Prim::Set(t, i, self.v[2]));
                }
                36 => {
                    self.r[2] = i;
                    self.pc = 40;
                    return Ok(Prim::Set(t, i, self.v[0]));
                }
                37 => {
                    self.pc = 30;
                    return Ok(Prim::Set(t, j, self.v[1]));
                }
                // After partitioning around `p`: sort the smaller side first, then the larger.
                40 => {
                    let rnd = self.r[5];
                    let (small, large, n) = if p - lo < up - p {
                        ((lo, p - 1), (p + 1, up), p - lo)
                    } else {
                        ((p + 1, up), (lo, p - 1), up - p)
                    };
                    let new_rnd = if (large.1 - large.0) / 128 > n {
                        randomize_pivot(lo, up)
                    } else {
                        rnd
                    };
                    self.stack.push((large.0, large.1, new_rnd));
                    self.r[0] = small.0;
                    self.r[1] = small.1;
                    self.v = [Value::Nil; 3];
                    self.pc = 10;
                }
                // Interval done: take the next pending one.
                _ => match self.stack.pop() {
                    Some((lo, up, rnd)) => {
                        self.r[0] = lo;
                        self.r[1] = up;
                        self.r[5] = rnd;
                        self.pc = 10;
                    }
                    None => {
                        exec.clear();
                        return Ok(Prim::Done);
                    }
                },
            }
            input = Value::Nil;
        }
    }
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

/// Runs `m` until it finishes or must call a Lua function.
fn drive<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    mut m: Machine<'gc>,
    mut input: Value<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    let mut steps = 0u32;
    let fuel_at_start = exec.fuel_left();
    loop {
        exec.charge(1);
        steps += 1;
        // A slice ends after a number of steps or of units charged (steps can cost many:
        // comparisons of long strings), both functions of the work alone, so where the
        // machine pauses (and what its saved state costs) never depends on the step budget.
        if steps > STEPS_PER_SLICE || fuel_at_start - exec.fuel_left() > UNITS_PER_SLICE as i64 {
            // A step boundary (and memory-limit safe point: the collector table grows).
            let st = m.save(ctx, PENDING_PAUSE, input);
            return crate::util::continue_later(ctx, exec, m.op.name(), resume, Value::Table(st));
        }
        let (pending, function, args): (i64, Value<'gc>, [Value<'gc>; 3]) =
            match m.step(ctx, exec, input)? {
                Prim::Done => return Ok(Action::Return),
                Prim::Len(v) => match v {
                    Value::Table(t) => match t
                        .metatable()
                        .and_then(|mt| ctx.metatable_field(mt, MetaEvent::Len))
                    {
                        None => {
                            input = Value::Integer(t.length());
                            continue;
                        }
                        Some(mm) => (PENDING_LEN, mm, [v, v, Value::Nil]),
                    },
                    Value::String(s) => {
                        input = Value::Integer(s.len() as i64);
                        continue;
                    }
                    other => match ctx.metamethod(other, MetaEvent::Len) {
                        Some(mm) => (PENDING_LEN, mm, [v, v, Value::Nil]),
                        None => {
                            return Err(Error::Value(ctx.str(&format!(
                                "attempt to get length of a {} value",
                                ctx.object_type_name(other)
                            ))))
                        }
                    },
                },
                Prim::Get(obj, i) => {
                    match index(ctx, obj, Value::Integer(i), &String::new)
                        .map_err(|e| without_position(ctx, e))?
                    {
                        Index::Value(v) => {
                            input = v;
                            continue;
                        }
                        Index::Meta(mm, o, k) => (PENDING_GET, mm, [o, k, Value::Nil]),
                    }
                }
                Prim::Set(obj, i, v) => {
                    let key = Value::Integer(i);
                    match new_index(ctx, obj, key, v, &String::new)
                        .map_err(|e| without_position(ctx, e))?
                    {
                        None => {
                            input = Value::Nil;
                            continue;
                        }
                        Some((mm, target)) => (PENDING_SET, mm, [target, key, v]),
                    }
                }
                Prim::Less(cmp, a, b) => {
                    if cmp.is_nil() {
                        match less_step(ctx, exec, a, b)? {
                            Less::Done(r) => {
                                input = Value::Boolean(r);
                                continue;
                            }
                            Less::Call(mm) => (PENDING_LESS, mm, [a, b, Value::Nil]),
                        }
                    } else {
                        (PENDING_LESS, cmp, [a, b, Value::Nil])
                    }
                }
            };
        // Collected values grow Lua tables between calls: a memory-limit safe point.
        crate::util::memory_safe_point(ctx)?;
        let st = m.save(ctx, pending, Value::Nil);
        let nargs = if pending == PENDING_SET { 3 } else { 2 };
        exec.replace(&args[..nargs]);
        return Ok(Action::Call {
            function,
            then: Some(Then::new(m.op.name(), resume, Value::Table(st))),
        });
    }
}

fn resume<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    _o: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    let m = exec.upvalue.as_table().and_then(Machine::load);
    let Some(m) = m else {
        return Err(Error::runtime("table library: lost state"));
    };
    let st = m.state.expect("loaded machines have a state table");
    let r = exec.arg(0);
    let input = match st.get_int(K_PENDING).as_integer_strict() {
        Some(PENDING_LEN) => match r.to_integer() {
            Some(n) => Value::Integer(n),
            None => return Err(Error::runtime("object length is not an integer")),
        },
        Some(PENDING_SET) => Value::Nil,
        Some(PENDING_LESS) => Value::Boolean(r.is_truthy()),
        Some(PENDING_PAUSE) => match st.get_int(K_INPUT) {
            Value::Table(t) if Table::ptr_eq(t, st) => Value::Nil,
            v => v,
        },
        _ => r,
    };
    drive(ctx, exec, m, input)
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
    drive(ctx, exec, m, Value::Nil)
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
    drive(ctx, exec, m, Value::Nil)
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
            return drive(ctx, exec, m, Value::Nil);
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
        exec.charge(n as usize / lunette_vm::executor::VALUES_PER_UNIT + 1);
        exec.clear();
        for k in 0..=n {
            exec.push(t.get_int(i.wrapping_add(k as i64)));
        }
        return Ok(Action::Return);
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
    drive(ctx, exec, m, Value::Nil)
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
    drive(ctx, exec, m, Value::Nil)
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
/// reserving the piece's growth by capacity; then reaches a step boundary (the state is
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
    let next = (st.length() + 1).max(CONCAT_FIRST_PIECE);
    raw_set(ctx, st, next, Value::String(ctx.new_string(&piece)));
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
    // The join phase: slot 1 false, slot 3 the fuel still to pay for it, slot 5 the bytes.
    raw_set(ctx, st, 1, Value::Boolean(false));
    raw_set(ctx, st, 3, Value::Integer((total / 64) as i64));
    raw_set(ctx, st, 5, Value::Integer(total as i64));
    concat_join(ctx, exec, st)
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
    let mut m = Machine::new(Op::Sort, tv);
    m.aux = cmp;
    drive(ctx, exec, m, Value::Nil)
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
