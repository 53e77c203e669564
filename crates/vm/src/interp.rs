//! The bytecode interpreter: one `match` per instruction over the current Lua frame.
//!
//! Invariants while a Lua frame runs:
//! - `stack.len() >= base + max_stack_size`; registers are `stack[base..base+max_stack]`.
//!   Checked on every entry into a frame's code (`unchecked::frame_ready`, with
//!   `pc < code.len()`); with the bytecode verifier's invariants it makes the loop's register,
//!   constant, upvalue and instruction accesses in bounds, which are therefore unchecked
//!   (`gc_unsafe::unchecked` has the argument: what each access relies on and where that is
//!   established).
//! - `pc` (a local) is written back to the frame before anything that can raise an error,
//!   call a function or leave the loop, so errors and tracebacks see the right line and a
//!   paused frame resumes at the right instruction.
//! - Fuel is counted in a local and checked at backward jumps, calls and returns: straight-line
//!   code between checks is bounded by the function's length, so a function longer than
//!   `LONG_CODE` instructions runs in the checked mode of the loop, which also checks before
//!   each instruction (see `run_mode`). One unit per instruction,
//!   never counted one by one: the budget left is `limit - pc` (see `budget!`), which gives
//!   the same totals at the same points as counting each instruction.
//! - Calls of fixed-parameter Lua functions and `Return0`/`Return1`/`Return { close: false }`
//!   into a Lua caller switch the loop's locals to the new frame (`enter_frame!`) without
//!   leaving the loop; every other call or return goes back to the top of `'frame`, which
//!   reloads them (a Rust function's results are put in place by `executor::call_from_lua`
//!   without the executor's general dispatch).
//! - A metamethod call is pushed above the frame's registers with `Returns::Meta`; when it
//!   returns, `finish_meta` completes the interrupted instruction (PUC's `luaV_finishOp`), so
//!   metamethods never recurse on the Rust stack and can yield.

use lunette_compiler::Instruction;

use crate::debug;
use crate::error::{type_error_message, Error, Message};
use crate::executor::{
    call_from_lua, call_function_ex, close_upvalues, post_return, Flow, Fuel, MAX_FRAMES,
    MAX_STACK_SLOTS, VALUES_PER_UNIT,
};
use crate::function::{is_long_code, ClosureInner, LuaClosure, UpValue, UpValueState};
use crate::gc_unsafe::unchecked;
use crate::number;
use crate::state::{Context, MetaEvent};
use crate::string::{compare_bytes, LuaString, MAX_INTERNED_LEN};
use crate::table::Table;
use crate::thread::{Frame, LuaFrame, Returns, Thread, ThreadState};
use crate::value::Value;

/// 2^63 as a float: the first float above every i64.
const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;

/// PUC's MAXTAGLOOP: the longest `__index`/`__newindex` chain followed.
const MAX_META_CHAIN: usize = 2000;

pub(crate) use lunette_compiler::ArithOp;

/// Arithmetic on two numbers with Lua's rules, like `lua_arith` (no string coercion, no
/// metamethods), for the arithmetic and bitwise events (`Add` ... `BNot`; unary ones use `a`).
/// `None` if `event` is not one of them or an operand is not a number. Errors
/// ("attempt to divide by zero", "number has no integer representation") are `Runtime`.
pub fn arith_numbers<'gc>(
    event: MetaEvent,
    a: Value<'gc>,
    b: Value<'gc>,
) -> Option<Result<Value<'gc>, Error<'gc>>> {
    let op = event.arith_op()?;
    arith_num(op, a, b)
}

/// Arithmetic on two numbers (no coercion). `None` if an operand is not a number.
#[inline]
fn arith_num<'gc>(
    op: ArithOp,
    a: Value<'gc>,
    b: Value<'gc>,
) -> Option<Result<Value<'gc>, Error<'gc>>> {
    use Value::{Float, Integer};
    if op.is_bitwise() {
        if !matches!(a, Integer(_) | Float(_)) || !matches!(b, Integer(_) | Float(_)) {
            return None;
        }
        let x = match a {
            Integer(i) => i,
            Float(f) => match number::float_to_int(f) {
                Some(i) => i,
                None => return Some(Err(Error::runtime("number has no integer representation"))),
            },
            _ => return None,
        };
        let y = match b {
            Integer(i) => i,
            Float(f) => match number::float_to_int(f) {
                Some(i) => i,
                None => return Some(Err(Error::runtime("number has no integer representation"))),
            },
            _ => return None,
        };
        return Some(Ok(Integer(match op {
            ArithOp::BAnd => x & y,
            ArithOp::BOr => x | y,
            ArithOp::BXor => x ^ y,
            ArithOp::Shl => number::shift_left(x, y),
            ArithOp::Shr => number::shift_right(x, y),
            ArithOp::BNot => !x,
            _ => unreachable!(),
        })));
    }
    match (a, b) {
        (Integer(x), Integer(y)) => Some(match op {
            ArithOp::Add => Ok(Integer(x.wrapping_add(y))),
            ArithOp::Sub => Ok(Integer(x.wrapping_sub(y))),
            ArithOp::Mul => Ok(Integer(x.wrapping_mul(y))),
            ArithOp::Mod => number::int_mod(x, y)
                .map(Integer)
                .ok_or_else(|| Error::runtime("attempt to perform 'n%0'")),
            ArithOp::IDiv => number::int_floor_div(x, y)
                .map(Integer)
                .ok_or_else(|| Error::runtime("attempt to divide by zero")),
            ArithOp::Div => Ok(Float(x as f64 / y as f64)),
            ArithOp::Pow => Ok(Float(number::float_pow(x as f64, y as f64))),
            ArithOp::Unm => Ok(Integer(x.wrapping_neg())),
            _ => unreachable!(),
        }),
        _ => {
            let x = match a {
                Integer(i) => i as f64,
                Float(f) => f,
                _ => return None,
            };
            let y = match b {
                Integer(i) => i as f64,
                Float(f) => f,
                _ => return None,
            };
            Some(Ok(Float(float_arith(op, x, y))))
        }
    }
}

#[inline]
fn float_arith(op: ArithOp, x: f64, y: f64) -> f64 {
    match op {
        ArithOp::Add => x + y,
        ArithOp::Sub => x - y,
        ArithOp::Mul => x * y,
        ArithOp::Div => x / y,
        ArithOp::Mod => number::float_mod(x, y),
        ArithOp::IDiv => number::float_floor_div(x, y),
        ArithOp::Pow => number::float_pow(x, y),
        ArithOp::Unm => -x,
        _ => unreachable!(),
    }
}

/// The outcome of the slow path of an operator.
enum Slow<'gc> {
    Value(Value<'gc>),
    /// Call this metamethod with these operands.
    Meta(Value<'gc>, Value<'gc>, Value<'gc>),
}

/// Arithmetic slow path: string coercion (what PUC's string library metamethods do), then
/// metamethods, then the error. `desc_b`/`desc_c` describe the operands for messages.
fn arith_slow<'gc>(
    ctx: Context<'gc>,
    op: ArithOp,
    a: Value<'gc>,
    b: Value<'gc>,
    describe: &dyn Fn(usize) -> Message<'gc>,
) -> Result<Slow<'gc>, Error<'gc>> {
    let is_num = |v: Value| matches!(v, Value::Integer(_) | Value::Float(_));
    if op.is_bitwise() && is_num(a) && is_num(b) {
        if let (Some(_), Some(_)) = (a.as_integer_strict(), b.as_integer_strict()) {
        } else {
            let which = if a.as_integer_strict().is_none() {
                0
            } else {
                1
            };
            return Err(no_integer_representation(describe(which)));
        }
    }
    if let Some(r) = arith_num(op, a, b) {
        return r.map(Slow::Value);
    }
    let event = MetaEvent::of_arith(op);
    if let Some(mm) = ctx
        .metamethod(a, event)
        .or_else(|| ctx.metamethod(b, event))
    {
        return Ok(Slow::Meta(mm, a, b));
    }
    if !op.is_bitwise() {
        // No string coercion here: numeric strings get arithmetic from the string
        // library's metamethods (`__add`... in the string metatable), like PUC 5.4.
        let (bad, which) = if !is_num(a) { (a, 0) } else { (b, 1) };
        return Err(type_error_message(
            ctx,
            "perform arithmetic on",
            bad,
            describe(which),
        ));
    }
    if is_num(a) && is_num(b) {
        let which = if a.as_integer_strict().is_none() {
            0
        } else {
            1
        };
        return Err(no_integer_representation(describe(which)));
    }
    let (bad, which) = if !is_num(a) { (a, 0) } else { (b, 1) };
    Err(type_error_message(
        ctx,
        "perform bitwise operation on",
        bad,
        describe(which),
    ))
}

/// `number<description> has no integer representation`.
fn no_integer_representation(description: Message<'_>) -> Error<'_> {
    Error::Message(
        Message::new()
            .text("number")
            .then(description)
            .text(" has no integer representation"),
    )
}

/// Result of following `__index`.
pub enum Index<'gc> {
    /// The value found (nil when the chain ends without one).
    Value(Value<'gc>),
    /// A function `__index` handler to call as `handler(object, key)`: (handler, the object
    /// whose metatable held it, key). The caller makes the call (never on the Rust stack).
    Meta(Value<'gc>, Value<'gc>, Value<'gc>),
}

/// What a table does with an access in an `__index` / `__newindex` chain.
enum AtTable<'gc, T> {
    /// The access ends here (a raw get or set).
    Done(T),
    /// The table's handler for the event, to follow.
    Handler(Value<'gc>),
}

/// Follows an `__index` (`event = Index`) or `__newindex` chain from `obj`, at most PUC's
/// MAXTAGLOOP steps: a table decides with `at_table` whether the access ends there; any other
/// value follows its type's metamethod (or cannot be indexed: the error names the original
/// object via `describe` only when it is that value). Ends with `Ok(Ok(result))`, or
/// `Ok(Err((handler, object)))` when a function handler must be called on `object` (the caller
/// makes the call, never on the Rust stack).
#[allow(clippy::type_complexity)]
fn follow_chain<'gc, T>(
    ctx: Context<'gc>,
    obj: Value<'gc>,
    event: MetaEvent,
    describe: &dyn Fn() -> Message<'gc>,
    mut at_table: impl FnMut(Table<'gc>) -> Result<AtTable<'gc, T>, Error<'gc>>,
) -> Result<Result<T, (Value<'gc>, Value<'gc>)>, Error<'gc>> {
    let mut cur = obj;
    for depth in 0..MAX_META_CHAIN {
        let handler = if let Value::Table(t) = cur {
            match at_table(t)? {
                AtTable::Done(r) => return Ok(Ok(r)),
                AtTable::Handler(h) => h,
            }
        } else {
            match ctx.metamethod(cur, event) {
                Some(h) => h,
                None => {
                    let desc = if depth == 0 {
                        describe()
                    } else {
                        Message::new()
                    };
                    return Err(type_error_message(ctx, "index", cur, desc));
                }
            }
        };
        if handler.is_function() {
            return Ok(Err((handler, cur)));
        }
        cur = handler;
    }
    Err(Error::runtime(format!(
        "'{}' chain too long; possible loop",
        event.name()
    )))
}

/// `obj[key]` with `__index` chains. Errors name the original object via `describe` only
/// when it is the value that cannot be indexed.
#[inline]
pub fn index<'gc>(
    ctx: Context<'gc>,
    obj: Value<'gc>,
    key: Value<'gc>,
    describe: &dyn Fn() -> Message<'gc>,
) -> Result<Index<'gc>, Error<'gc>> {
    // A table without a metatable, or a present value: one raw read, no chain to follow.
    if let Value::Table(t) = obj {
        let v = t.get(key);
        if !v.is_nil() || t.metatable().is_none() {
            return Ok(Index::Value(v));
        }
    }
    index_chain(ctx, obj, key, describe)
}

/// `index` past its raw first look: the `__index` chain.
#[inline(never)]
fn index_chain<'gc>(
    ctx: Context<'gc>,
    obj: Value<'gc>,
    key: Value<'gc>,
    describe: &dyn Fn() -> Message<'gc>,
) -> Result<Index<'gc>, Error<'gc>> {
    // Classes and their bases (tables whose `__index` is a table) and strings' methods,
    // followed in a plain loop. (The general walk's nested results stalled on reloading
    // values it had just stored; it still takes every chain this loop does not finish, from
    // the start: raw reads and the metamethod cache's updates give the same results when
    // repeated.)
    let mut cur = obj;
    for _ in 0..MAX_META_CHAIN {
        let h = if let Value::Table(t) = cur {
            let v = t.get(key);
            if !v.is_nil() {
                return Ok(Index::Value(v));
            }
            let Some(mt) = t.metatable() else {
                return Ok(Index::Value(Value::Nil));
            };
            let h = ctx.meta_handler(mt, MetaEvent::Index);
            if h.is_nil() {
                return Ok(Index::Value(Value::Nil));
            }
            h
        } else {
            // Another type's metatable (`s:upper()`); without a handler, the general walk
            // says what cannot be indexed.
            let Some(mt) = ctx.metatable_of(cur) else {
                break;
            };
            let h = ctx.meta_handler(mt, MetaEvent::Index);
            if h.is_nil() {
                break;
            }
            h
        };
        if h.is_function() {
            return Ok(Index::Meta(h, cur, key));
        }
        cur = h;
    }
    index_chain_general(ctx, obj, key, describe)
}

/// The `__index` chain through any values (see `index_chain`).
#[inline(never)]
fn index_chain_general<'gc>(
    ctx: Context<'gc>,
    obj: Value<'gc>,
    key: Value<'gc>,
    describe: &dyn Fn() -> Message<'gc>,
) -> Result<Index<'gc>, Error<'gc>> {
    let r = follow_chain(ctx, obj, MetaEvent::Index, describe, |t| {
        let v = t.get(key);
        if !v.is_nil() {
            return Ok(AtTable::Done(v));
        }
        Ok(
            match t
                .metatable()
                .and_then(|mt| ctx.metatable_field(mt, MetaEvent::Index))
            {
                None => AtTable::Done(Value::Nil),
                Some(h) => AtTable::Handler(h),
            },
        )
    })?;
    Ok(match r {
        Ok(v) => Index::Value(v),
        Err((handler, object)) => Index::Meta(handler, object, key),
    })
}

/// `obj[key] = value` with `__newindex` chains. `Ok(None)` when done, `Ok(Some(f))` when
/// metamethod `f` must be called with `(t, key, value)` (returned in the tuple).
#[allow(clippy::type_complexity)]
pub fn new_index<'gc>(
    ctx: Context<'gc>,
    obj: Value<'gc>,
    key: Value<'gc>,
    value: Value<'gc>,
    describe: &dyn Fn() -> Message<'gc>,
) -> Result<Option<(Value<'gc>, Value<'gc>)>, Error<'gc>> {
    // A table without a metatable: one raw store, no chain to follow.
    if let Value::Table(t) = obj {
        if t.metatable().is_none() {
            raw_set(ctx, t, key, value)?;
            return Ok(None);
        }
    }
    let r = follow_chain(ctx, obj, MetaEvent::NewIndex, describe, |t| {
        let handler = match t.metatable() {
            Some(mt) if t.get(key).is_nil() => ctx.metatable_field(mt, MetaEvent::NewIndex),
            _ => None,
        };
        match handler {
            None => {
                raw_set(ctx, t, key, value)?;
                Ok(AtTable::Done(()))
            }
            Some(h) => Ok(AtTable::Handler(h)),
        }
    })?;
    Ok(r.err())
}

/// Raw table store with PUC's key errors.
#[inline]
pub(crate) fn raw_set<'gc>(
    ctx: Context<'gc>,
    t: Table<'gc>,
    key: Value<'gc>,
    value: Value<'gc>,
) -> Result<(), Error<'gc>> {
    t.set(ctx, key, value)
        .map_err(|e| Error::runtime(e.to_string()))
}

/// Less-than on numbers and strings; `None` for other types.
#[inline]
pub fn less_than(a: Value<'_>, b: Value<'_>) -> Option<bool> {
    use Value::*;
    Some(match (a, b) {
        (Integer(x), Integer(y)) => x < y,
        (Float(x), Float(y)) => x < y,
        (Integer(x), Float(y)) => number::int_lt_float(x, y),
        (Float(x), Integer(y)) => number::float_lt_int(x, y),
        (String(x), String(y)) => x.as_bytes() < y.as_bytes(),
        _ => return None,
    })
}

#[inline]
pub(crate) fn less_equal(a: Value<'_>, b: Value<'_>) -> Option<bool> {
    use Value::*;
    Some(match (a, b) {
        (Integer(x), Integer(y)) => x <= y,
        (Float(x), Float(y)) => x <= y,
        (Integer(x), Float(y)) => number::int_le_float(x, y),
        (Float(x), Integer(y)) => number::float_le_int(x, y),
        (String(x), String(y)) => x.as_bytes() <= y.as_bytes(),
        _ => return None,
    })
}

fn compare_error<'gc>(ctx: Context<'gc>, a: Value<'gc>, b: Value<'gc>) -> Error<'gc> {
    let (ta, tb) = (ctx.object_type_name_part(a), ctx.object_type_name_part(b));
    // (A message of parts: see `type_error_message`.)
    Error::Message(if ta.same_text(&tb) {
        Message::new()
            .text("attempt to compare two ")
            .part(ta)
            .text(" values")
    } else {
        Message::new()
            .text("attempt to compare ")
            .part(ta)
            .text(" with ")
            .part(tb)
    })
}

/// Ordering slow path: the `__lt`/`__le` metamethod of either operand, or PUC's
/// "attempt to compare ..." error.
pub fn compare_slow<'gc>(
    ctx: Context<'gc>,
    event: MetaEvent,
    a: Value<'gc>,
    b: Value<'gc>,
) -> Result<Value<'gc>, Error<'gc>> {
    ctx.metamethod(a, event)
        .or_else(|| ctx.metamethod(b, event))
        .ok_or_else(|| compare_error(ctx, a, b))
}

/// `tostring`-like conversion used by `..` for numbers.
pub(crate) fn number_to_bytes(v: Value<'_>, out: &mut Vec<u8>) -> bool {
    match v {
        Value::String(s) => out.extend_from_slice(s.as_bytes()),
        Value::Integer(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Value::Float(f) => out.extend_from_slice(number::format_float(f).as_bytes()),
        _ => return false,
    }
    true
}

fn is_concatable(v: Value<'_>) -> bool {
    matches!(v, Value::String(_) | Value::Integer(_) | Value::Float(_))
}

/// Most bytes a string may have (PUC: `resulting string too large` beyond its size limits).
pub const MAX_STRING_LEN: usize = 1 << 31;

/// What one run of [`concat_reduce`] leaves to do.
enum ConcatStep<'gc> {
    /// Finished: the result is in `stack[first]`.
    Done,
    /// A `__concat` call `(mm, x, y)` is needed for the pair at `top-2, top-1`; the new `top`
    /// after it is the last field (`top - 1`).
    Meta(Value<'gc>, Value<'gc>, Value<'gc>, usize),
    /// The next piece does not fit under the memory limit until a full collection runs:
    /// `stack[first..top]` (the last field) is what remains to reduce.
    CollectFirst(usize),
}

/// Reduces the concatenation of `stack[first..top]` from the right.
fn concat_reduce<'gc>(
    ctx: Context<'gc>,
    stack: &mut crate::frame_stack::ValueStack<'gc>,
    first: usize,
    mut top: usize,
    fuel: &mut Fuel,
    describe: &dyn Fn(usize) -> Message<'gc>,
) -> Result<ConcatStep<'gc>, Error<'gc>> {
    while top - first > 1 {
        let (x, y) = (stack[top - 2], stack[top - 1]);
        if is_concatable(x) && is_concatable(y) {
            // Collect the longest run of strings/numbers ending at top-1.
            let mut start = top - 2;
            while start > first && is_concatable(stack[start - 1]) {
                start -= 1;
            }
            // Exact length (numbers are formatted to measure them: they are short), so the
            // result is allocated once, at its final size, and written in place.
            let mut total = 0usize;
            let mut scratch = Vec::new();
            for v in &stack[start..top] {
                total = total.saturating_add(match v {
                    Value::String(s) => s.len(),
                    other => {
                        scratch.clear();
                        number_to_bytes(*other, &mut scratch);
                        scratch.len()
                    }
                });
            }
            if total >= MAX_STRING_LEN {
                return Err(Error::runtime("string length overflow"));
            }
            match ctx.reserve_memory_or_retry(total) {
                Ok(()) => {}
                Err(Error::CollectThenRetry) => return Ok(ConcatStep::CollectFirst(top)),
                Err(e) => return Err(e),
            }
            if total > crate::big_string::BUILD_IN_PIECES {
                // Built in pieces across steps by the builder, called like a `__concat`
                // metamethod; its result lands in `stack[start]`.
                let (builder, st) = build_in_pieces(ctx, &stack[start..top], total);
                return Ok(ConcatStep::Meta(builder, st, Value::Nil, start + 1));
            }
            fuel.consume((total / 64) as i64);
            let pieces = &stack[start..top];
            let s = ctx.new_string_with(total, |out| {
                let mut at = 0;
                for v in pieces {
                    let bytes = match v {
                        Value::String(s) => s.as_bytes(),
                        other => {
                            scratch.clear();
                            number_to_bytes(*other, &mut scratch);
                            &scratch
                        }
                    };
                    let end = (at + bytes.len()).min(out.len());
                    out[at..end].copy_from_slice(&bytes[..end - at]);
                    at = end;
                }
            });
            stack[start] = Value::String(s);
            top = start + 1;
        } else {
            let mm = ctx
                .metamethod(x, MetaEvent::Concat)
                .or_else(|| ctx.metamethod(y, MetaEvent::Concat));
            match mm {
                Some(mm) => return Ok(ConcatStep::Meta(mm, x, y, top - 1)),
                None => {
                    let (bad, pos) = if is_concatable(x) {
                        (y, top - 1)
                    } else {
                        (x, top - 2)
                    };
                    return Err(type_error_message(ctx, "concatenate", bad, describe(pos)));
                }
            }
        }
    }
    Ok(ConcatStep::Done)
}

/// The builder and its state for a concatenation of `run` (strings and numbers, `total`
/// bytes) built in pieces: the builder is called like a `__concat` metamethod with the run
/// in its state table (numbers as pause strings: like the state, they are the VM's, and the
/// inline path counts no string for them either).
#[cold]
#[inline(never)]
fn build_in_pieces<'gc>(
    ctx: Context<'gc>,
    run: &[Value<'gc>],
    total: usize,
) -> (Value<'gc>, Value<'gc>) {
    let mut scratch = Vec::new();
    let parts: Vec<Value<'gc>> = run
        .iter()
        .map(|&v| match v {
            Value::String(_) => v,
            other => {
                scratch.clear();
                number_to_bytes(other, &mut scratch);
                Value::String(ctx.new_pause_string(&scratch))
            }
        })
        .collect();
    let shape = crate::big_string::Shape::Repeat;
    let st = crate::big_string::start(ctx, &parts, total, shape);
    (crate::big_string::builder(ctx), Value::Table(st))
}

/// Finds or creates the open upvalue for `slot` of the running thread.
fn find_upvalue<'gc>(
    ctx: Context<'gc>,
    thread: Thread<'gc>,
    ts: &mut ThreadState<'gc>,
    slot: usize,
) -> UpValue<'gc> {
    let pos = ts.open_upvalues.partition_point(|uv| match uv.get() {
        UpValueState::Open { slot: s, .. } => s < slot,
        UpValueState::Closed(_) => true,
    });
    if let Some(&uv) = ts.open_upvalues.get(pos) {
        if let UpValueState::Open { slot: s, .. } = uv.get() {
            if s == slot {
                return uv;
            }
        }
    }
    let journal = ctx.state().journal;
    let uv = crate::function::new_upvalue(
        ctx.mutation(),
        journal.epoch(),
        UpValueState::Open { thread, slot },
    );
    journal.made(ctx.mutation(), crate::snapshot::Member::UpValue(uv), true);
    let cap = ts.open_upvalues.capacity();
    ts.open_upvalues.insert(pos, uv);
    ts.sync_if_grown(cap, ts.open_upvalues.capacity());
    uv
}

#[inline]
fn get_upvalue<'gc>(thread: Thread<'gc>, ts: &ThreadState<'gc>, uv: UpValue<'gc>) -> Value<'gc> {
    match uv.get() {
        UpValueState::Closed(v) => v,
        UpValueState::Open { thread: t, slot } => {
            if Thread::ptr_eq(t, thread) {
                ts.stack[slot]
            } else {
                t.borrow().stack.get(slot).copied().unwrap_or(Value::Nil)
            }
        }
    }
}

/// Stores `stack[from]` (a register of the running frame) into upvalue `uv`.
#[inline]
fn set_upvalue_from<'gc>(
    ctx: Context<'gc>,
    thread: Thread<'gc>,
    ts: &mut ThreadState<'gc>,
    uv: UpValue<'gc>,
    from: usize,
) {
    let v = ts.stack[from];
    match uv.get() {
        UpValueState::Closed(_) => crate::function::set_upvalue(ctx, uv, UpValueState::Closed(v)),
        UpValueState::Open { thread: t, slot } => {
            if Thread::ptr_eq(t, thread) {
                ts.stack[slot] = v;
            } else if let Some(mut other) = t.try_borrow_mut(ctx) {
                if slot < other.stack.len() {
                    other.stack[slot] = v;
                }
            }
        }
    }
}

/// At a safe point where memory needs attention (`MemoryAccount::needs_attention`): over
/// the limit, collect first or fail; else an automatic full collection is due: end the step
/// here so the host runs it.
#[cold]
#[inline(never)]
pub(crate) fn memory_attention<'gc>(ctx: Context<'gc>) -> Result<Flow<'gc>, Error<'gc>> {
    if ctx.state().memory.over_limit() {
        return memory_limit_reached(ctx);
    }
    crate::gc::request_automatic_collection(ctx);
    Ok(Flow::OutOfFuel)
}

/// The VM is over its memory limit at a safe point: the first time, end the step and have the
/// host run a full collection (the instruction is re-checked when execution resumes); if it is
/// still over after that collection, raise `not enough memory`.
fn memory_limit_reached<'gc>(ctx: Context<'gc>) -> Result<Flow<'gc>, Error<'gc>> {
    match ctx.state().memory.verdict(0) {
        crate::memory::Verdict::Refuse => Err(Error::NotEnoughMemory),
        _ => {
            ctx.request_memory_collection();
            Ok(Flow::OutOfFuel)
        }
    }
}

/// `stack[to] = stack[from]` for a return's result (`from`: a register of the returning frame,
/// `to`: its function's slot, below it). A number is read as its tag, then its payload: the
/// instruction before a return has often just written it that way (`return a + b`), and a
/// whole-value read of those two stores stalls (store forwarding) where the two reads are
/// each forwarded.
#[inline(always)]
fn move_result(stack: &mut [Value<'_>], from: usize, to: usize) {
    // Unchecked: `from` is a register of the running frame (O1, E2); `to < from`.
    match *unchecked::reg_mut(stack, from) {
        Value::Integer(i) => *unchecked::reg_mut(stack, to) = Value::Integer(i),
        Value::Float(f) => *unchecked::reg_mut(stack, to) = Value::Float(f),
        v => *unchecked::reg_mut(stack, to) = v,
    }
}

/// `stack.resize(len, Nil)`, tuned for the few registers a call adds. When the stack's
/// buffer grows, the thread's memory charge follows.
#[inline(always)]
pub(crate) fn set_len_nil_filled(ts: &mut ThreadState<'_>, len: usize) {
    // (A shorter stack: its new end may be below the value stack's watermark.)
    ts.stack.unseal_to(len);
    set_len_nil_filled_above(ts, len);
}

/// [`set_len_nil_filled`] for the return fast path. Precondition **W**
/// (`gc_unsafe::unchecked`): `len` is at or above the value stack's watermark.
#[inline(always)]
fn set_len_nil_filled_above(ts: &mut ThreadState<'_>, len: usize) {
    let cur = ts.stack.len();
    if len <= cur {
        ts.stack.truncate_above(len);
    } else {
        if len > ts.stack.capacity() {
            grow_stack(ts, len - cur);
        }
        ts.stack.grow_nil_filled(len);
    }
}

/// Sizes the stack for a Lua frame being entered: keeps its first `keep` slots (up to the
/// arguments the callee takes; `keep <= stack.len()`), then nil up to `end` (missing
/// parameters and the other registers; `keep <= end`). What `truncate(keep)` then
/// `set_len_nil_filled(end)` do, with one capacity check: when the buffer grows, the
/// thread's charge follows. Precondition **W** (`gc_unsafe::unchecked`): `keep` is at or
/// above the value stack's watermark (the call fast path: `keep` is at or above the
/// callee's base, above the running caller's).
#[inline(always)]
fn size_frame_stack(ts: &mut ThreadState<'_>, keep: usize, end: usize) {
    ts.stack.truncate_above(keep);
    let n = end - ts.stack.len();
    if end > ts.stack.capacity() {
        grow_stack(ts, n);
    }
    ts.stack.grow_nil_filled(end);
}

#[cold]
#[inline(never)]
fn grow_stack(ts: &mut ThreadState<'_>, additional: usize) {
    let extra = stack_growth(ts.stack.capacity(), additional);
    ts.stack.reserve_exact(extra);
    ts.sync_charge();
}

/// Most slots a stack grows by at once (1 MiB of values): a stack doubles while small, then
/// grows by this much, so a deep recursion near the memory limit overshoots it by at most
/// this before the next safe point's check (a 15 MiB stack doubling at once went 2x over a
/// 16 MiB limit).
pub(crate) const MAX_STACK_GROWTH: usize = 1 << 16;

/// How many slots to add to a stack of capacity `cap` that needs `additional` more.
pub(crate) fn stack_growth(cap: usize, additional: usize) -> usize {
    additional.max(cap.min(MAX_STACK_GROWTH))
}

/// Whether an open upvalue (of the thread's `open_upvalues`) points at `level` or above (the
/// frame's own locals).
#[inline]
fn open_upvalue_at_or_above(open_upvalues: &[UpValue<'_>], level: usize) -> bool {
    match open_upvalues.last().map(|uv| uv.get()) {
        Some(UpValueState::Open { slot, .. }) => slot >= level,
        _ => false,
    }
}

/// A frame about to run failed `unchecked::frame_ready`, which running code never causes
/// (frames are pushed with their registers; images are validated): a `pc` outside the code
/// is an error, a stack shorter than the frame's registers is grown to them.
#[cold]
#[inline(never)]
fn unready_frame<'gc>(
    ts: &mut ThreadState<'gc>,
    closure: LuaClosure<'gc>,
    base: usize,
    pc: usize,
) -> Result<(), Error<'gc>> {
    // Never in a state the VM made or an image that passed `snapshot::validate`: the test
    // suites (debug builds) check that claim here.
    debug_assert!(
        false,
        "a Lua frame entered without its registers or at a bad pc"
    );
    let p = &closure.proto().proto;
    if pc >= p.code.len() {
        return Err(Error::runtime("corrupt Lua frame (pc outside the code)"));
    }
    set_len_nil_filled(ts, base + p.max_stack_size as usize);
    Ok(())
}

/// A table's raw value at `key`, through the integer and short-string fast paths.
#[inline(always)]
fn raw_get_fast<'gc>(t: Table<'gc>, key: Value<'gc>) -> Value<'gc> {
    match key {
        Value::Integer(i) => t.get_int(i),
        Value::String(s) if s.len() <= MAX_INTERNED_LEN => t.get_short_str(s),
        _ => t.get(key),
    }
}

/// `h[key]` for an `__index` handler `h` that is a table, following further `__index`
/// tables (a class's bases) by raw reads: `Some(value)` (nil where the chain ends), or
/// `None` when it meets another kind of handler or is longer than `MAX_META_CHAIN` (the
/// general walk then takes it from `h`). Returned in registers: through `index`'s
/// `Result<Index, Error>` the value was written to memory in pieces and read back whole, a
/// store-forwarding stall on every method call through a class.
#[inline]
fn index_tables<'gc>(ctx: Context<'gc>, h: Value<'gc>, key: Value<'gc>) -> Option<Value<'gc>> {
    let Value::Table(mut t) = h else {
        return None;
    };
    for _ in 0..MAX_META_CHAIN {
        let v = raw_get_fast(t, key);
        if !v.is_nil() {
            return Some(v);
        }
        let Some(mt) = t.metatable() else {
            return Some(Value::Nil);
        };
        match ctx.meta_handler(mt, MetaEvent::Index) {
            Value::Nil => return Some(Value::Nil),
            Value::Table(next) => t = next,
            _ => return None,
        }
    }
    None
}

/// `t[key] = val` when `t` has no `__newindex` to consult (one raw store, through the integer
/// and short-string fast paths): whether it did so.
#[inline(always)]
fn set_plain<'gc>(
    ctx: Context<'gc>,
    t: Table<'gc>,
    key: Value<'gc>,
    val: Value<'gc>,
    hint: Option<&std::cell::Cell<u16>>,
) -> Result<bool, Error<'gc>> {
    let plain = match t.metatable() {
        None => true,
        Some(mt) => ctx.metatable_field(mt, MetaEvent::NewIndex).is_none(),
    };
    if plain {
        let fast = match (key, hint) {
            (Value::String(s), Some(hint)) => t.replace_str_hinted(ctx, s, val, hint),
            (Value::Integer(i), _) => t.set_int_fast(ctx, i, val),
            (Value::String(s), None) if s.len() <= MAX_INTERNED_LEN => {
                t.replace_short_str(ctx, s, val)
            }
            _ => false,
        };
        if !fast {
            raw_set(ctx, t, key, val)?;
        }
    }
    Ok(plain)
}

/// When the top frame (the one returning) is a Lua frame whose Lua caller expects a fixed
/// number of results: its function slot, that number, and the caller (a copy, of which the
/// fast paths read only the fields they need: the frame stack is not looked at again).
#[inline(always)]
fn fixed_count_return<'gc>(frames: &[Frame<'gc>]) -> Option<(usize, usize, LuaFrame<'gc>)> {
    let len = frames.len();
    match (
        frames.get(len.wrapping_sub(1)),
        frames.get(len.wrapping_sub(2)),
    ) {
        (
            Some(Frame::Lua(LuaFrame {
                func,
                returns: Returns::Count(want),
                ..
            })),
            Some(Frame::Lua(caller)),
        ) => Some((*func, *want as usize, *caller)),
        _ => None,
    }
}

/// The `RK(c)` operand of a store: constant `c` if `ck`, else register `c` of the frame's
/// register window `regs`. Unchecked like the interpreter's `r!` and `konst` (verifier
/// O1/O2, E2, K: see `gc_unsafe::unchecked`).
#[inline(always)]
fn rk<'gc>(regs: &mut [Value<'gc>], consts: &[Value<'gc>], c: u16, ck: bool) -> Value<'gc> {
    if ck {
        unchecked::konst(consts, c as usize)
    } else {
        *unchecked::reg_mut(regs, c as usize)
    }
}

/// The running (top) Lua frame's `top`: through the frame stack only, so the register
/// window stays borrowed meanwhile.
fn running_top<'a>(frames: &'a mut crate::frame_stack::FrameStack<'_>) -> &'a mut usize {
    match frames.last_mut() {
        Some(Frame::Lua(f)) => &mut f.top,
        _ => unreachable!("interpreter running without a Lua frame"),
    }
}

fn current_frame<'a, 'gc>(ts: &'a mut ThreadState<'gc>) -> &'a mut LuaFrame<'gc> {
    match ts.frames.last_mut() {
        Some(Frame::Lua(f)) => f,
        _ => unreachable!("interpreter running without a Lua frame"),
    }
}

/// Runs Lua frames of `thread` until the fuel runs out, a frame that is not Lua is on top,
/// or the thread yields/resumes/finishes. A thread with a debug hook, and a frame of long
/// code, run in the checked mode of the loop (see `run_mode`); the fast mode never looks
/// at hooks.
pub(crate) fn run<'gc>(
    ctx: Context<'gc>,
    thread: Thread<'gc>,
    ts: &mut ThreadState<'gc>,
    fuel: &mut Fuel,
    is_main: bool,
) -> Result<Flow<'gc>, Error<'gc>> {
    // (A frame of long code on top is left to the fast mode, which hands it over.)
    if ts.hook.wants_events() {
        run_mode::<true>(ctx, thread, ts, fuel, is_main)
    } else {
        run_mode::<false>(ctx, thread, ts, fuel, is_main)
    }
}

/// The instruction loop. `CHECKED`: the thread has a hook, or the running frame's code is
/// long (`FrameShape::long_code`). A check before each instruction looks at the fuel and
/// memory for long code (so a straight line of it stops where the budget runs out, not at
/// its end) and at the hook (`hook::before_instruction`); a check before each return
/// (`hook::return_event`) may call the hook; the call and return fast paths are off (calls
/// go through `call_function_ex`, which marks the call event). When a call
/// (`debug.sethook`) turns hooks on or off, or a frame of the other mode comes on top, the
/// loop returns to the executor, which runs it again in the other mode (the fast mode hands
/// a frame of long code to the checked one itself).
fn run_mode<'gc, const CHECKED: bool>(
    ctx: Context<'gc>,
    thread: Thread<'gc>,
    ts: &mut ThreadState<'gc>,
    fuel: &mut Fuel,
    is_main: bool,
) -> Result<Flow<'gc>, Error<'gc>> {
    let memory: &crate::memory::MemoryAccount = &ctx.state().memory;
    'frame: loop {
        let frame = match ts.frames.last() {
            Some(Frame::Lua(f)) => *f,
            _ => return Ok(Flow::Continue),
        };
        let mut fp = frame.closure.proto();
        // (The code's length rather than `fp.frame.long_code`: `frame_ready` reads it too.)
        let hooked = ts.hook.wants_events();
        if (hooked || is_long_code(&fp.proto.code)) != CHECKED {
            if !CHECKED && !hooked {
                // Long code reached by the fast mode (from `run`, a call or a return): the
                // checked mode runs it, and returns when a frame of short code comes on top.
                return run_mode::<true>(ctx, thread, ts, fuel, is_main);
            }
            return Ok(Flow::Continue);
        }
        if fuel.is_exhausted() {
            return Ok(Flow::OutOfFuel);
        }
        // E1, E2 (`gc_unsafe::unchecked`): the frame's pc is an instruction and the stack
        // holds its registers, checked on every entry into a frame's code (here and in
        // `enter_frame!`).
        if !unchecked::frame_ready(ts.stack.len(), frame.base, frame.pc, &fp.proto) {
            // (Fields, not `&frame`: the frame is not copied to memory for it.)
            unready_frame(ts, frame.closure, frame.base, frame.pc)?;
        }
        let mut code: &'gc [Instruction] = &fp.proto.code;
        let mut consts: &'gc [Value<'gc>] = &fp.constants;
        // The running closure (its upvalue slots read through it, on use).
        let mut cl: LuaClosure<'gc> = frame.closure;
        let mut base = frame.base;
        // The register window (`stack[base..]`; E2 makes it at least `max_stack_size` long).
        // A borrow of the stack: while it lives, nothing else can touch the stack (the
        // borrow checker sees to it), and it is taken again (`refresh!`) after whatever used
        // the thread state and before the next register access.
        // W (`gc_unsafe::unchecked`): the value stack's watermark at or below `base`.
        ts.stack.unseal_to(base);
        let mut regs: &mut [Value<'gc>] = unchecked::window(&mut ts.stack, base);
        // The instruction pointer: `code[pc]`'s address, the frame's `pc` being
        // `ip.pc(code)` (kept instead of `pc`: the dispatch reads the instruction straight
        // from it, and `code` is needed only on slow paths).
        let mut ip = unchecked::Ip::at(code, frame.pc);
        // Fuel is one unit per instruction, counted without touching a counter per
        // instruction: the budget left is `limit - ip.tick()` (`budget!`), so running the
        // next instruction (`ip.next()`) takes one unit; a move of `ip` that is not running
        // the next instruction (a jump, a skipped `Jmp`, a rewind) moves `limit` by the same
        // amount (`jump_by!`), so it counts nothing; other charges lower `limit` (`spend!`).
        // Wrapping arithmetic: a budget near `i64::MAX` plus the tick wraps, and
        // `limit - tick` gives it back exactly.
        let mut limit = fuel.remaining().wrapping_add(ip.tick());
        // The fuel left (one unit per instruction run so far already taken off).
        macro_rules! budget {
            () => {
                limit.wrapping_sub(ip.tick())
            };
        }
        // Takes `$n` more units off the budget.
        macro_rules! spend {
            ($n:expr) => {{
                let n: i64 = $n;
                limit = limit.wrapping_sub(n);
            }};
        }

        // Switches the locals above to `$f`, a Lua frame that is or is about to be on top of
        // `ts.frames`, without leaving the instruction loop: what the top of `'frame` does,
        // for the call and return fast paths. The caller checks that the budget is not
        // exhausted (the check at the top of `'frame`) before running an instruction of `$f`.
        // The fuel is carried over in `limit`: `fuel` itself is written only when the loop is
        // left or restarted (`save!`, and before each `return` or `continue 'frame`).
        //
        // E1, E2 are checked first (`gc_unsafe::unchecked`); a frame that fails the check,
        // or of long code, is entered through the top of `'frame` instead, which raises,
        // repairs or hands it to the checked mode. (Only the fast mode enters frames here:
        // the checked mode's calls and returns go through the top of `'frame`.)
        macro_rules! enter_frame {
            ($f:expr) => {{
                let f: &LuaFrame<'gc> = $f;
                if is_long_code(&f.closure.proto().proto.code)
                    || !unchecked::frame_ready(
                        ts.stack.len(),
                        f.base,
                        f.pc,
                        &f.closure.proto().proto,
                    )
                {
                    fuel.set_remaining(budget!());
                    continue 'frame;
                }
                enter_frame!(f, ready);
            }};
            // `$f` is known to pass `frame_ready` (a frame just pushed with its registers).
            ($f:expr, ready) => {{
                let f: &LuaFrame<'gc> = $f;
                fp = f.closure.proto();
                code = &fp.proto.code;
                consts = &fp.constants;
                cl = f.closure;
                base = f.base;
                regs = unchecked::window(&mut ts.stack, base);
                let remaining = budget!();
                ip = unchecked::Ip::at(code, f.pc);
                limit = remaining.wrapping_add(ip.tick());
            }};
        }

        // Register `$i` of the running frame (a place). Unchecked: `$i` is a register
        // operand (< max_stack_size, verifier O1) and the window `regs` holds at least
        // max_stack_size registers (E2, see `gc_unsafe::unchecked`).
        macro_rules! r {
            ($i:expr) => {
                *unchecked::reg_mut(regs, $i as usize)
            };
        }
        // Takes the register window again after a use of the thread state.
        macro_rules! refresh {
            () => {
                regs = unchecked::window(&mut ts.stack, base)
            };
        }
        // The value of upvalue `$up` of the running closure. A closed one (`_ENV` usually is)
        // is read in place and the window stays; an open one is read through the thread.
        macro_rules! upvalue {
            ($up:expr) => {{
                let uv = unchecked::upval(cl.upvalue_slots(), $up as usize);
                match uv.get() {
                    UpValueState::Closed(v) => v,
                    _ => {
                        let v = get_upvalue(thread, ts, uv);
                        refresh!();
                        v
                    }
                }
            }};
        }
        // The running frame's `top` (the end of the last multiple results), kept in the frame
        // itself: set where an instruction produces it, read where one consumes it.
        macro_rules! top {
            () => {
                *running_top(&mut ts.frames)
            };
        }
        macro_rules! jump_by {
            ($delta:expr) => {{
                let delta: i64 = $delta;
                ip = ip.offset(delta);
                limit = limit.wrapping_add(delta);
            }};
        }
        macro_rules! save {
            () => {{
                current_frame(ts).pc = ip.pc(code);
                fuel.set_remaining(budget!());
            }};
        }
        macro_rules! bail {
            ($e:expr) => {{
                save!();
                return Err($e);
            }};
        }
        macro_rules! tri {
            ($e:expr) => {
                match $e {
                    Ok(v) => v,
                    Err(e) => bail!(e),
                }
            };
        }
        // Fuel and the memory limit are checked at the same safe points (calls and backward
        // jumps).
        macro_rules! check_fuel {
            () => {
                if budget!() <= 0 {
                    save!();
                    // The step ends here either way, and this safe point is not checked
                    // again on resume: an automatic collection due now is asked for now,
                    // so it lands here whatever the step size.
                    if memory.needs_attention() {
                        return memory_attention(ctx);
                    }
                    return Ok(Flow::OutOfFuel);
                }
                if memory.needs_attention() {
                    save!();
                    return memory_attention(ctx);
                }
            };
        }
        // For instructions that have not done their work yet: on exhaustion the pc is
        // rewound (and the instruction's unit given back) so the instruction runs when the
        // frame resumes. An instruction that took the last unit itself goes ahead, so any
        // positive budget makes progress (a budget of 1 used to retry a call forever).
        macro_rules! check_fuel_before {
            () => {
                if budget!() < 0 {
                    spend!(-1);
                    jump_by!(-1);
                    save!();
                    if CHECKED && ts.hook.wants_events() {
                        // Traced already when it runs.
                        ts.hook.resume_depth = ts.frames.len() as u32;
                    }
                    return Ok(Flow::OutOfFuel);
                }
                if memory.needs_attention() {
                    // The instruction runs when the frame resumes, charged then: its unit
                    // is given back (whether memory needs attention here can depend on
                    // garbage not yet freed, and must not change the fuel spent).
                    spend!(-1);
                    jump_by!(-1);
                    save!();
                    if CHECKED && ts.hook.wants_events() {
                        ts.hook.resume_depth = ts.frames.len() as u32;
                    }
                    return memory_attention(ctx);
                }
            };
        }
        // A return by the general path (`return_from_frame`, `finish_return`): results
        // `stack[$first..$first + $n]`.
        macro_rules! general_return {
            ($first:expr, $n:expr) => {{
                save!();
                return_from_frame(ctx, ts, $first, $n);
                match finish_return(ctx, ts, $first, $n) {
                    Ok(Flow::Continue) => continue 'frame,
                    Ok(flow) => return Ok(flow),
                    Err(e) => return Err(e),
                }
            }};
        }
        // After a fast return into a Lua caller (its frame `$caller` now on top, its results
        // in place): stop if the fuel ran out, else go on in the caller's frame.
        // (W: the return fast paths lowered the value stack's watermark to the caller's
        // base before coming here.)
        macro_rules! back_to_caller {
            ($caller:expr) => {{
                if budget!() <= 0 {
                    fuel.set_remaining(budget!());
                    return Ok(Flow::OutOfFuel);
                }
                enter_frame!(&$caller);
                continue;
            }};
        }
        // Calls the function at absolute slot `$slot` (args above it) and continues with
        // whatever frame is on top afterwards.
        macro_rules! do_call {
            ($slot:expr, $returns:expr) => {{
                save!();
                match call_from_lua(ctx, thread, ts, $slot, $returns, is_main, fuel) {
                    Ok(Flow::Continue) => continue 'frame,
                    Ok(flow) => return Ok(flow),
                    Err(e) => return Err(e),
                }
            }};
        }
        macro_rules! meta_call {
            ($f:expr, $($arg:expr),*) => {{
                let slot = ts.stack.len();
                ts.stack.push($f);
                $(ts.stack.push($arg);)*
                do_call!(slot, Returns::Meta)
            }};
        }
        macro_rules! describe_reg {
            ($reg:expr) => {
                &move || debug::describe_register(fp, ip.pc(code) - 1, $reg as usize)
            };
        }
        macro_rules! arith {
            ($a:expr, $x:expr, $y:expr, $op:expr, $rb:expr, $rc:expr) => {{
                let (x, y) = ($x, $y);
                let rb: Option<usize> = $rb;
                let rc: Option<usize> = $rc;
                match arith_num($op, x, y) {
                    Some(Ok(v)) => r!($a) = v,
                    _ => {
                        let describe = move |which: usize| {
                            let reg = if which == 0 { rb } else { rc };
                            match reg {
                                Some(reg) => debug::describe_register(fp, ip.pc(code) - 1, reg),
                                // A constant operand names no variable.
                                None => Message::new(),
                            }
                        };
                        match tri!(arith_slow(ctx, $op, x, y, &describe)) {
                            Slow::Value(v) => r!($a) = v,
                            Slow::Meta(mm, x, y) => meta_call!(mm, x, y),
                        }
                    }
                }
            }};
        }
        // An integer fast path: `$iop` on two integers (`None`: a case it leaves to `arith!`,
        // like a division by zero). The result is written from registers.
        macro_rules! int_fast {
            ($a:expr, $x:expr, $y:expr, $op:expr, $rb:expr, $rc:expr, $iop:expr) => {{
                let fast = match ($x, $y) {
                    (Value::Integer(p), Value::Integer(q)) => $iop(p, q),
                    _ => None,
                };
                match fast {
                    Some(v) => r!($a) = Value::Integer(v),
                    // (The operands read again, as in `arith_fast!`.)
                    None => arith!($a, $x, $y, $op, $rb, $rc),
                }
            }};
        }
        // `^` on numbers (always a float), the result written from registers.
        macro_rules! pow_fast {
            ($a:expr, $x:expr, $y:expr, $rb:expr, $rc:expr) => {{
                let fast = match ($x, $y) {
                    (Value::Float(p), Value::Float(q)) => Some(number::float_pow(p, q)),
                    (Value::Integer(p), Value::Integer(q)) => {
                        Some(number::float_pow(p as f64, q as f64))
                    }
                    (Value::Float(p), Value::Integer(q)) => Some(number::float_pow(p, q as f64)),
                    (Value::Integer(p), Value::Float(q)) => Some(number::float_pow(p as f64, q)),
                    _ => None,
                };
                match fast {
                    Some(f) => r!($a) = Value::Float(f),
                    None => arith!($a, $x, $y, ArithOp::Pow, $rb, $rc),
                }
            }};
        }
        // Number fast paths (int/int, float/float and mixed), before any coercion or metamethod.
        macro_rules! arith_fast {
            ($a:expr, $x:expr, $y:expr, $op:expr, $rb:expr, $rc:expr, $iop:expr, $fop:expr) => {{
                let (x, y) = ($x, $y);
                match (x, y) {
                    (Value::Integer(p), Value::Integer(q)) => r!($a) = Value::Integer($iop(p, q)),
                    (Value::Float(p), Value::Float(q)) => r!($a) = Value::Float($fop(p, q)),
                    (Value::Integer(p), Value::Float(q)) => {
                        r!($a) = Value::Float($fop(p as f64, q))
                    }
                    (Value::Float(p), Value::Integer(q)) => {
                        r!($a) = Value::Float($fop(p, q as f64))
                    }
                    // The operands read again (nothing has changed them): the fast paths
                    // above then need only their tags and payloads, in machine registers,
                    // not whole values in memory for the slow path.
                    _ => arith!($a, $x, $y, $op, $rb, $rc),
                }
            }};
            // `$flip`: the source had the operands the other way round (`K[k] op R[b]` for a
            // commutative `op`): the same numbers, but the slow path (coercion, metamethods,
            // errors) sees them in source order.
            ($a:expr, $x:expr, $y:expr, $op:expr, $rb:expr, $rc:expr, $iop:expr, $fop:expr, flip $flip:expr) => {{
                let (x, y) = ($x, $y);
                match (x, y) {
                    (Value::Integer(p), Value::Integer(q)) => r!($a) = Value::Integer($iop(p, q)),
                    (Value::Float(p), Value::Float(q)) => r!($a) = Value::Float($fop(p, q)),
                    (Value::Integer(p), Value::Float(q)) => {
                        r!($a) = Value::Float($fop(p as f64, q))
                    }
                    (Value::Float(p), Value::Integer(q)) => {
                        r!($a) = Value::Float($fop(p, q as f64))
                    }
                    _ => {
                        // (Read again, as above.)
                        let (x, y) = ($x, $y);
                        let (x, y, rb, rc) = if $flip {
                            (y, x, $rc, $rb)
                        } else {
                            (x, y, $rb, $rc)
                        };
                        arith!($a, x, y, $op, rb, rc)
                    }
                }
            }};
        }
        macro_rules! div_fast {
            ($a:expr, $x:expr, $y:expr, $rb:expr, $rc:expr) => {{
                let (x, y) = ($x, $y);
                match (x, y) {
                    (Value::Integer(p), Value::Integer(q)) => {
                        r!($a) = Value::Float(p as f64 / q as f64)
                    }
                    (Value::Float(p), Value::Float(q)) => r!($a) = Value::Float(p / q),
                    (Value::Integer(p), Value::Float(q)) => r!($a) = Value::Float(p as f64 / q),
                    (Value::Float(p), Value::Integer(q)) => r!($a) = Value::Float(p / q as f64),
                    // (Read again, as in `arith_fast!`.)
                    _ => arith!($a, $x, $y, ArithOp::Div, $rb, $rc),
                }
            }};
        }
        // `R[a] < imm`, `R[a] <= imm`, or with `$swap` the operands reversed (`imm < R[a]` for
        // `>`, `imm <= R[a]` for `>=`). Strings never compare with numbers.
        macro_rules! compare_imm {
            ($a:expr, $i:expr, $k:expr, $float:expr, $event:expr, $swap:expr) => {{
                let x = r!($a);
                let imm = if $float {
                    Value::Float($i as f64)
                } else {
                    Value::Integer($i as i64)
                };
                let (l, r) = if $swap { (imm, x) } else { (x, imm) };
                let fast = if matches!(x, Value::String(_)) {
                    None
                } else if $event == MetaEvent::Lt {
                    less_than(l, r)
                } else {
                    less_equal(l, r)
                };
                match fast {
                    Some(c) => cond_jump!(c, $k),
                    None => {
                        // (Read again, as in `arith_fast!`.)
                        let x = r!($a);
                        let (l, r) = if $swap { (imm, x) } else { (x, imm) };
                        let mm = tri!(compare_slow(ctx, $event, l, r));
                        meta_call!(mm, l, r);
                    }
                }
            }};
        }
        // Runs or skips the `Jmp` that follows a conditional. A backward jump is a loop edge
        // (`while x ~= 0 do end`, `repeat until c`), so it checks the fuel like `Jmp` does.
        macro_rules! cond_jump {
            ($cond:expr, $k:expr) => {{
                if $cond == $k {
                    // The `Jmp` after a conditional (verifier C1, C2).
                    if let Instruction::Jmp { off } = *ip.fetch() {
                        jump_by!(1 + off as i64);
                        if off < 0 {
                            check_fuel!();
                        }
                    } else {
                        jump_by!(1);
                    }
                } else {
                    jump_by!(1);
                }
            }};
        }
        macro_rules! get_index {
            ($a:expr, $obj:expr, $key:expr, $desc:expr) => {
                get_index!($a, $obj, $key, $desc, |t: Table<'gc>, key| raw_get_fast(
                    t, key
                ))
            };
            // A field (a constant key `k`): looked up with the function's guess of where.
            ($a:expr, $obj:expr, field $k:expr, $desc:expr) => {{
                let k = $k as usize;
                get_index!(
                    $a,
                    $obj,
                    unchecked::konst(consts, k),
                    $desc,
                    |t: Table<'gc>, key: Value<'gc>| match key {
                        Value::String(s) => {
                            t.get_str_hinted(s, unchecked::field_hint(&fp.field_hints, k))
                        }
                        _ => raw_get_fast(t, key),
                    }
                )
            }};
            ($a:expr, $obj:expr, $key:expr, $desc:expr, $raw_get:expr) => {{
                let key = $key;
                // Matched in place, like `set_index!`'s object.
                if let Value::Table(t) = $obj {
                    let obj = Value::Table(t);
                    let v = ($raw_get)(t, key);
                    if !v.is_nil() {
                        r!($a) = v;
                    } else {
                        // A miss: go straight to the metatable's `__index`.
                        let h = match t.metatable() {
                            Some(mt) => ctx.meta_handler(mt, MetaEvent::Index),
                            None => Value::Nil,
                        };
                        if h.is_nil() {
                            r!($a) = Value::Nil;
                        } else if h.is_function() {
                            meta_call!(h, obj, key);
                        } else if let Some(v) = index_tables(ctx, h, key) {
                            r!($a) = v;
                        } else {
                            match tri!(index(ctx, h, key, &Message::new)) {
                                Index::Value(v) => r!($a) = v,
                                Index::Meta(mm, o, k) => meta_call!(mm, o, k),
                            }
                        }
                    }
                } else {
                    let obj = $obj;
                    match tri!(index(ctx, obj, key, $desc)) {
                        Index::Value(v) => r!($a) = v,
                        Index::Meta(mm, o, k) => meta_call!(mm, o, k),
                    }
                }
            }};
        }
        macro_rules! set_index {
            ($obj:expr, $key:expr, $val:expr, $desc:expr) => {
                set_index!($obj, $key, $val, $desc, None)
            };
            // A field (a constant key `k`): stored with the function's guess of where.
            ($obj:expr, field $k:expr, $val:expr, $desc:expr) => {{
                let k = $k as usize;
                set_index!(
                    $obj,
                    unchecked::konst(consts, k),
                    $val,
                    $desc,
                    Some(unchecked::field_hint(&fp.field_hints, k))
                )
            }};
            ($obj:expr, $key:expr, $val:expr, $desc:expr, $hint:expr) => {{
                let key = $key;
                let val = $val;
                // The object is matched in place, its tag and then its pointer (`$obj` is a
                // register): a copy of the whole value went to the stack in one 16-byte
                // store and was read back in pieces, a store-forwarding stall on every
                // store into a table (sieve, bench binary: 14% of its samples).
                let done = match $obj {
                    Value::Table(t) => tri!(set_plain(ctx, t, key, val, $hint)),
                    _ => false,
                };
                if !done {
                    let obj = $obj;
                    if let Some((mm, o)) = tri!(new_index(ctx, obj, key, val, $desc)) {
                        meta_call!(mm, o, key, val);
                    }
                }
            }};
        }
        // The return event of the frame's `Return` (after its `__close` handlers): the frame
        // shows the `Return`'s line while the hook runs, then runs the `Return` again.
        macro_rules! return_hook {
            () => {
                if CHECKED && crate::hook::return_event(ctx, thread, ts) {
                    save!();
                    return crate::hook::call_from_lua(
                        ctx,
                        thread,
                        ts,
                        crate::hook::Fire {
                            event: crate::hook::Event::Return,
                            then_line: None,
                        },
                        is_main,
                        fuel,
                    );
                }
            };
        }

        loop {
            if CHECKED {
                // Long code looks at the fuel before each instruction (short code at its
                // calls and backward jumps only: it runs at most `LONG_CODE` instructions
                // between two looks). Like `check_fuel!`, and memory is looked at at the
                // same points whatever the budget. The instruction has not been traced yet.
                if fp.frame.long_code && (budget!() <= 0 || memory.needs_attention()) {
                    save!();
                    if memory.needs_attention() {
                        return memory_attention(ctx);
                    }
                    return Ok(Flow::OutOfFuel);
                }
                // (Long code without a hook: nothing to trace, and no mark to take.)
                if ts.hook.wants_events() {
                    let fire = crate::hook::before_instruction(ctx, thread, ts, ip.pc(code));
                    refresh!();
                    if let Some(fire) = fire {
                        // The frame shows the traced instruction's line while the hook runs
                        // (its pc one past it; the hook's continuation steps it back).
                        jump_by!(1);
                        save!();
                        return crate::hook::call_from_lua(ctx, thread, ts, fire, is_main, fuel);
                    }
                }
            }
            // Unchecked: `pc < code.len()` (E1 at entry, verifier C1 since; see
            // `gc_unsafe::unchecked`). Matched in place, by reference: each arm loads the
            // operands it uses from the code (a copy of the instruction had the compiler
            // split out every operand field before the jump, for all arms).
            let ins = ip.fetch();
            ip = ip.next();
            match *ins {
                Instruction::Move { a, b } => r!(a) = r!(b),
                Instruction::LoadI { a, i } => r!(a) = Value::Integer(i as i64),
                Instruction::LoadF { a, f } => r!(a) = Value::Float(f as f64),
                Instruction::LoadK { a, k } => r!(a) = unchecked::konst(consts, k as usize),
                Instruction::LoadFalse { a } => r!(a) = Value::Boolean(false),
                Instruction::LoadFalseSkip { a } => {
                    r!(a) = Value::Boolean(false);
                    jump_by!(1);
                }
                Instruction::LoadTrue { a } => r!(a) = Value::Boolean(true),
                Instruction::LoadNil { a, n } => {
                    for i in 0..=n as usize {
                        r!(a as usize + i) = Value::Nil;
                    }
                }
                Instruction::GetUpval { a, up } => {
                    let v = upvalue!(up);
                    r!(a) = v;
                }
                Instruction::SetUpval { a, up } => {
                    // The value is read by `set_upvalue_from`, not here: read here, it was
                    // stored again to be passed, right after the instruction before had
                    // written it in pieces (`n = n + 1`): a store-forwarding stall.
                    set_upvalue_from(
                        ctx,
                        thread,
                        ts,
                        unchecked::upval(cl.upvalue_slots(), up as usize),
                        base + a as usize,
                    );
                    refresh!();
                }
                Instruction::GetTabUp { a, up, k } => {
                    let t = upvalue!(up);
                    get_index!(a, t, field k, &move || debug::describe_upvalue(fp, up as usize));
                }
                Instruction::GetTable { a, b, c } => {
                    // (An integer key: see `SetTable`.)
                    if let Value::Integer(i) = *unchecked::reg_mut(regs, c as usize) {
                        get_index!(a, r!(b), Value::Integer(i), describe_reg!(b));
                    } else {
                        get_index!(a, r!(b), r!(c), describe_reg!(b));
                    }
                }
                Instruction::GetI { a, b, c } => {
                    get_index!(a, r!(b), Value::Integer(c as i64), describe_reg!(b));
                }
                Instruction::GetField { a, b, k } => {
                    get_index!(a, r!(b), field k, describe_reg!(b));
                }
                Instruction::SetTabUp { up, k, c, ck } => {
                    let t = upvalue!(up);
                    set_index!(
                        t,
                        field k,
                        rk(regs, consts, c, ck),
                        &move || { debug::describe_upvalue(fp, up as usize) }
                    );
                }
                Instruction::SetTable { a, b, c, ck } => {
                    // An integer key is read as its tag, then its payload: a register the
                    // loop just wrote that way (a `for` loop's variable) is forwarded from
                    // those stores, where a whole-value load stalls on them.
                    if let Value::Integer(i) = *unchecked::reg_mut(regs, b as usize) {
                        set_index!(
                            r!(a),
                            Value::Integer(i),
                            rk(regs, consts, c, ck),
                            describe_reg!(a)
                        );
                    } else {
                        set_index!(r!(a), r!(b), rk(regs, consts, c, ck), describe_reg!(a));
                    }
                }
                Instruction::SetI { a, b, c, ck } => {
                    set_index!(
                        r!(a),
                        Value::Integer(b as i64),
                        rk(regs, consts, c, ck),
                        describe_reg!(a)
                    );
                }
                Instruction::SetField { a, k, c, ck } => {
                    set_index!(
                        r!(a),
                        field k,
                        rk(regs, consts, c, ck),
                        describe_reg!(a)
                    );
                }
                Instruction::NewTable { a, hash, array } => {
                    let t = ctx.new_table_with_capacity(array as usize, hash as usize);
                    r!(a) = Value::Table(t);
                }
                Instruction::SelfK { a, b, k } => {
                    let obj = r!(b);
                    r!(a as usize + 1) = obj;
                    get_index!(a, obj, field k, describe_reg!(b));
                }
                Instruction::AddI { a, b, i, flip } => {
                    let x = r!(b);
                    if let Value::Integer(v) = x {
                        r!(a) = Value::Integer(v.wrapping_add(i as i64));
                    } else if let Value::Float(f) = x {
                        r!(a) = Value::Float(f + i as f64);
                    } else {
                        // The slow path sees the operands in source order (`i + R[b]` when
                        // flipped).
                        let imm = Value::Integer(i as i64);
                        let (x, y, rb, rc) = if flip {
                            (imm, x, None, Some(b as usize))
                        } else {
                            (x, imm, Some(b as usize), None)
                        };
                        arith!(a, x, y, ArithOp::Add, rb, rc);
                    }
                }
                Instruction::AddK { a, b, k, flip } => arith_fast!(
                    a,
                    r!(b),
                    unchecked::konst(consts, k as usize),
                    ArithOp::Add,
                    Some(b as usize),
                    None,
                    i64::wrapping_add,
                    |p: f64, q: f64| p + q,
                    flip flip
                ),
                Instruction::SubK { a, b, k } => arith_fast!(
                    a,
                    r!(b),
                    unchecked::konst(consts, k as usize),
                    ArithOp::Sub,
                    Some(b as usize),
                    None,
                    i64::wrapping_sub,
                    |p: f64, q: f64| p - q
                ),
                Instruction::MulK { a, b, k, flip } => arith_fast!(
                    a,
                    r!(b),
                    unchecked::konst(consts, k as usize),
                    ArithOp::Mul,
                    Some(b as usize),
                    None,
                    i64::wrapping_mul,
                    |p: f64, q: f64| p * q,
                    flip flip
                ),
                Instruction::ModK { a, b, k } => {
                    match (r!(b), unchecked::konst(consts, k as usize)) {
                        // A positive integer divisor (`i % 7`): the result is written from
                        // registers. (Through `arith!`, the `Value` it builds in memory in pieces
                        // is read whole: a store-forwarding stall on every `%`.)
                        (Value::Integer(p), Value::Integer(q)) if q > 0 => {
                            r!(a) = Value::Integer(number::int_mod_positive(p, q))
                        }
                        _ => arith!(
                            a,
                            r!(b),
                            unchecked::konst(consts, k as usize),
                            ArithOp::Mod,
                            Some(b as usize),
                            None
                        ),
                    }
                }
                Instruction::PowK { a, b, k } => pow_fast!(
                    a,
                    r!(b),
                    unchecked::konst(consts, k as usize),
                    Some(b as usize),
                    None
                ),
                Instruction::DivK { a, b, k } => {
                    div_fast!(
                        a,
                        r!(b),
                        unchecked::konst(consts, k as usize),
                        Some(b as usize),
                        None
                    )
                }
                Instruction::IDivK { a, b, k } => int_fast!(
                    a,
                    r!(b),
                    unchecked::konst(consts, k as usize),
                    ArithOp::IDiv,
                    Some(b as usize),
                    None,
                    |p: i64, q: i64| if q > 0 { Some(p.div_euclid(q)) } else { None }
                ),
                Instruction::BAndK { a, b, k } => int_fast!(
                    a,
                    r!(b),
                    unchecked::konst(consts, k as usize),
                    ArithOp::BAnd,
                    Some(b as usize),
                    None,
                    |p: i64, q: i64| Some(p & q)
                ),
                Instruction::BOrK { a, b, k } => int_fast!(
                    a,
                    r!(b),
                    unchecked::konst(consts, k as usize),
                    ArithOp::BOr,
                    Some(b as usize),
                    None,
                    |p: i64, q: i64| Some(p | q)
                ),
                Instruction::BXorK { a, b, k } => int_fast!(
                    a,
                    r!(b),
                    unchecked::konst(consts, k as usize),
                    ArithOp::BXor,
                    Some(b as usize),
                    None,
                    |p: i64, q: i64| Some(p ^ q)
                ),
                Instruction::ShrI { a, b, i } => int_fast!(
                    a,
                    r!(b),
                    Value::Integer(i as i64),
                    ArithOp::Shr,
                    Some(b as usize),
                    None,
                    |p: i64, q: i64| Some(number::shift_right(p, q))
                ),
                Instruction::ShlI { a, b, i } => int_fast!(
                    a,
                    Value::Integer(i as i64),
                    r!(b),
                    ArithOp::Shl,
                    None,
                    Some(b as usize),
                    |p: i64, q: i64| Some(number::shift_left(p, q))
                ),
                Instruction::Add { a, b, c } => arith_fast!(
                    a,
                    r!(b),
                    r!(c),
                    ArithOp::Add,
                    Some(b as usize),
                    Some(c as usize),
                    i64::wrapping_add,
                    |p: f64, q: f64| p + q
                ),
                Instruction::Sub { a, b, c } => arith_fast!(
                    a,
                    r!(b),
                    r!(c),
                    ArithOp::Sub,
                    Some(b as usize),
                    Some(c as usize),
                    i64::wrapping_sub,
                    |p: f64, q: f64| p - q
                ),
                Instruction::Mul { a, b, c } => arith_fast!(
                    a,
                    r!(b),
                    r!(c),
                    ArithOp::Mul,
                    Some(b as usize),
                    Some(c as usize),
                    i64::wrapping_mul,
                    |p: f64, q: f64| p * q
                ),
                Instruction::Mod { a, b, c } => match (r!(b), r!(c)) {
                    // (As in `ModK`.)
                    (Value::Integer(p), Value::Integer(q)) if q > 0 => {
                        r!(a) = Value::Integer(number::int_mod_positive(p, q))
                    }
                    _ => arith!(
                        a,
                        r!(b),
                        r!(c),
                        ArithOp::Mod,
                        Some(b as usize),
                        Some(c as usize)
                    ),
                },
                Instruction::Pow { a, b, c } => {
                    pow_fast!(a, r!(b), r!(c), Some(b as usize), Some(c as usize))
                }
                Instruction::Div { a, b, c } => {
                    div_fast!(a, r!(b), r!(c), Some(b as usize), Some(c as usize))
                }
                Instruction::IDiv { a, b, c } => int_fast!(
                    a,
                    r!(b),
                    r!(c),
                    ArithOp::IDiv,
                    Some(b as usize),
                    Some(c as usize),
                    |p: i64, q: i64| if q > 0 { Some(p.div_euclid(q)) } else { None }
                ),
                Instruction::BAnd { a, b, c } => int_fast!(
                    a,
                    r!(b),
                    r!(c),
                    ArithOp::BAnd,
                    Some(b as usize),
                    Some(c as usize),
                    |p: i64, q: i64| Some(p & q)
                ),
                Instruction::BOr { a, b, c } => int_fast!(
                    a,
                    r!(b),
                    r!(c),
                    ArithOp::BOr,
                    Some(b as usize),
                    Some(c as usize),
                    |p: i64, q: i64| Some(p | q)
                ),
                Instruction::BXor { a, b, c } => int_fast!(
                    a,
                    r!(b),
                    r!(c),
                    ArithOp::BXor,
                    Some(b as usize),
                    Some(c as usize),
                    |p: i64, q: i64| Some(p ^ q)
                ),
                Instruction::Shl { a, b, c } => int_fast!(
                    a,
                    r!(b),
                    r!(c),
                    ArithOp::Shl,
                    Some(b as usize),
                    Some(c as usize),
                    |p: i64, q: i64| Some(number::shift_left(p, q))
                ),
                Instruction::Shr { a, b, c } => int_fast!(
                    a,
                    r!(b),
                    r!(c),
                    ArithOp::Shr,
                    Some(b as usize),
                    Some(c as usize),
                    |p: i64, q: i64| Some(number::shift_right(p, q))
                ),
                Instruction::Unm { a, b } => match r!(b) {
                    // Numbers: the result written from registers (see `ModK`).
                    Value::Integer(i) => r!(a) = Value::Integer(i.wrapping_neg()),
                    Value::Float(f) => r!(a) = Value::Float(-f),
                    x => arith!(a, x, x, ArithOp::Unm, Some(b as usize), Some(b as usize)),
                },
                Instruction::BNot { a, b } => {
                    let x = r!(b);
                    arith!(a, x, x, ArithOp::BNot, Some(b as usize), Some(b as usize));
                }
                Instruction::Not { a, b } => r!(a) = Value::Boolean(r!(b).is_falsy()),
                Instruction::Len { a, b } => {
                    let v = r!(b);
                    match v {
                        Value::String(s) => r!(a) = Value::Integer(s.len() as i64),
                        Value::Table(t) => match t
                            .metatable()
                            .and_then(|mt| ctx.metatable_field(mt, MetaEvent::Len))
                        {
                            None => r!(a) = Value::Integer(t.length()),
                            Some(mm) => meta_call!(mm, v, v),
                        },
                        _ => match ctx.metamethod(v, MetaEvent::Len) {
                            Some(mm) => meta_call!(mm, v, v),
                            None => bail!(type_error_message(
                                ctx,
                                "get length of",
                                v,
                                debug::describe_register(fp, ip.pc(code) - 1, b as usize)
                            )),
                        },
                    }
                }
                Instruction::Concat { a, n } => {
                    let first = base + a as usize;
                    let fr = current_frame(ts);
                    if fr.concat_resume {
                        fr.concat_resume = false;
                    } else {
                        fr.top = first + n as usize;
                    }
                    let top = fr.top;
                    spend!(n as i64);
                    fuel.set_remaining(budget!());
                    let describe = move |slot: usize| {
                        debug::describe_register(fp, ip.pc(code) - 1, slot - base)
                    };
                    let r = concat_reduce(ctx, &mut ts.stack, first, top, fuel, &describe);
                    refresh!();
                    limit = fuel.remaining().wrapping_add(ip.tick());
                    match tri!(r) {
                        ConcatStep::Done => {}
                        ConcatStep::Meta(mm, x, y, new_top) => {
                            top!() = new_top;
                            meta_call!(mm, x, y);
                        }
                        ConcatStep::CollectFirst(new_top) => {
                            // The result does not fit until a full collection: run this
                            // `Concat` again (in resume mode, from what is reduced so far)
                            // after the host has collected, charged then: its unit and
                            // its operands' are given back (whether the limit needs a
                            // collection first depends on garbage not yet freed, and must
                            // not change the fuel spent; see `check_fuel_before`).
                            spend!(-1 - n as i64);
                            top!() = new_top;
                            current_frame(ts).concat_resume = true;
                            jump_by!(-1);
                            save!();
                            return Ok(Flow::OutOfFuel);
                        }
                    }
                }
                Instruction::Close { a } => {
                    let level = base + a as usize;
                    close_upvalues(ctx, ts, level);
                    if let Some(&slot) = ts.tbc_slots.last() {
                        if slot >= level {
                            ts.tbc_slots.pop();
                            let v = ts.stack[slot];
                            // `finish_meta` re-runs this `Close` (to close the next one)
                            // when the call returns.
                            let mm = ctx.metamethod(v, MetaEvent::Close).unwrap_or(Value::Nil);
                            meta_call!(mm, v, Value::Nil);
                        }
                    }
                    refresh!();
                }
                Instruction::Tbc { a } => {
                    let v = r!(a);
                    if v.is_truthy() {
                        if ctx.metamethod(v, MetaEvent::Close).is_none() {
                            let name = debug::local_name_part(fp, ip.pc(code) - 1, a as usize);
                            bail!(Error::Message(
                                Message::new()
                                    .text("variable '")
                                    .part(name)
                                    .text("' got a non-closable value")
                            ));
                        }
                        let cap = ts.tbc_slots.capacity();
                        ts.tbc_slots.push(base + a as usize);
                        ts.sync_if_grown(cap, ts.tbc_slots.capacity());
                        refresh!();
                    }
                }
                Instruction::Jmp { off } if off < 0 => {
                    if budget!() < 0 {
                        // Out of fuel at a loop's back edge (the `Jmp` overran the budget):
                        // the frame stops at the `Jmp` (its unit given back: it runs when the
                        // frame resumes), so a paused loop reports its body's last line, like
                        // PUC, not the line before the loop. (A `Jmp` that took the last unit
                        // jumps, and the step ends after it, as for any instruction.)
                        spend!(-1);
                        jump_by!(-1);
                        save!();
                        if CHECKED && ts.hook.wants_events() {
                            // Traced already when it runs.
                            ts.hook.resume_depth = ts.frames.len() as u32;
                        }
                        if memory.needs_attention() {
                            return memory_attention(ctx);
                        }
                        return Ok(Flow::OutOfFuel);
                    }
                    jump_by!(off as i64);
                    check_fuel!();
                }
                Instruction::Jmp { off } => jump_by!(off as i64),
                Instruction::Eq { a, b, k } => {
                    let (x, y) = (r!(a), r!(b));
                    // (Two integers without the call: `raw_eq` is out of line.)
                    let eq = match (x, y) {
                        (Value::Integer(p), Value::Integer(q)) => p == q,
                        _ => x.raw_eq(y),
                    };
                    if eq {
                        if let (Value::String(s1), Value::String(s2)) = (x, y) {
                            spend!(LuaString::equal_cost(s1, s2));
                        }
                    } else {
                        let mm = match (x, y) {
                            (Value::Table(_), Value::Table(_))
                            | (Value::UserData(_), Value::UserData(_)) => ctx
                                .metamethod(x, MetaEvent::Eq)
                                .or_else(|| ctx.metamethod(y, MetaEvent::Eq)),
                            _ => None,
                        };
                        if let Some(mm) = mm {
                            meta_call!(mm, x, y);
                        }
                    }
                    cond_jump!(eq, k);
                }
                Instruction::Lt { a, b, k } => {
                    let (x, y) = (r!(a), r!(b));
                    let c = match (x, y) {
                        (Value::String(s1), Value::String(s2)) => {
                            let (ord, scanned) = compare_bytes(s1.as_bytes(), s2.as_bytes());
                            spend!(LuaString::compare_cost(scanned));
                            Some(ord.is_lt())
                        }
                        _ => less_than(x, y),
                    };
                    match c {
                        Some(c) => cond_jump!(c, k),
                        None => {
                            // (Read again, as in `arith_fast!`.)
                            let (x, y) = (r!(a), r!(b));
                            let mm = tri!(compare_slow(ctx, MetaEvent::Lt, x, y));
                            meta_call!(mm, x, y);
                        }
                    }
                }
                Instruction::Le { a, b, k } => {
                    let (x, y) = (r!(a), r!(b));
                    let c = match (x, y) {
                        (Value::String(s1), Value::String(s2)) => {
                            let (ord, scanned) = compare_bytes(s1.as_bytes(), s2.as_bytes());
                            spend!(LuaString::compare_cost(scanned));
                            Some(ord.is_le())
                        }
                        _ => less_equal(x, y),
                    };
                    match c {
                        Some(c) => cond_jump!(c, k),
                        None => {
                            // (Read again, as in `arith_fast!`.)
                            let (x, y) = (r!(a), r!(b));
                            let mm = tri!(compare_slow(ctx, MetaEvent::Le, x, y));
                            meta_call!(mm, x, y);
                        }
                    }
                }
                Instruction::EqK { a, c, k } => {
                    let (x, y) = (r!(a), unchecked::konst(consts, c as usize));
                    let eq = x.raw_eq(y);
                    if eq {
                        if let (Value::String(s1), Value::String(s2)) = (x, y) {
                            spend!(LuaString::equal_cost(s1, s2));
                        }
                    }
                    cond_jump!(eq, k);
                }
                Instruction::EqI { a, i, k, float: _ } => {
                    let eq = match r!(a) {
                        Value::Integer(x) => x == i as i64,
                        Value::Float(f) => f == i as f64,
                        _ => false,
                    };
                    cond_jump!(eq, k);
                }
                Instruction::LtI { a, i, k, float } => {
                    compare_imm!(a, i, k, float, MetaEvent::Lt, false)
                }
                Instruction::LeI { a, i, k, float } => {
                    compare_imm!(a, i, k, float, MetaEvent::Le, false)
                }
                Instruction::GtI { a, i, k, float } => {
                    compare_imm!(a, i, k, float, MetaEvent::Lt, true)
                }
                Instruction::GeI { a, i, k, float } => {
                    compare_imm!(a, i, k, float, MetaEvent::Le, true)
                }
                Instruction::Test { a, k } => {
                    let t = r!(a).is_truthy();
                    cond_jump!(t, k);
                }
                Instruction::TestSet { a, b, k } => {
                    let v = r!(b);
                    if v.is_truthy() == k {
                        r!(a) = v;
                        if let Instruction::Jmp { off } = *ip.fetch() {
                            jump_by!(1 + off as i64);
                            if off < 0 {
                                check_fuel!();
                            }
                        } else {
                            jump_by!(1);
                        }
                    } else {
                        jump_by!(1);
                    }
                }
                Instruction::Call { a, b, c } => {
                    check_fuel_before!();
                    let func = base + a as usize;
                    let args_end = if b != 0 {
                        func + b as usize
                    } else {
                        // Arguments from a multiple-value expression: moved as a block.
                        let top = top!();
                        spend!(((top - func) / VALUES_PER_UNIT) as i64);
                        top
                    };
                    // Fast path: a fixed-parameter Lua function gets its frame right here. This
                    // mirrors `executor::push_lua_frame` (the general entry) inline: calling it
                    // costs ~4% more instructions on call-heavy code (callgrind, fib).
                    if let Value::Function(callee) = r!(a) {
                        let cp = callee.proto().frame;
                        let new_base = func + 1;
                        let new_end = new_base + cp.max_stack_size as usize;
                        if !CHECKED
                            && !cp.is_vararg
                            && !cp.long_code
                            && ts.frames.len() < MAX_FRAMES
                            && new_end < MAX_STACK_SLOTS
                        {
                            // The caller's resume point (`save!` but the fuel, which stays
                            // in `limit` while the loop goes on).
                            // (Always the running Lua frame: matched rather than
                            // `current_frame`, whose panic path costs here.)
                            let mut c_calls = 0;
                            if let Some(Frame::Lua(f)) = ts.frames.last_mut() {
                                f.pc = ip.pc(code);
                                c_calls = f.c_calls;
                            }
                            let nargs = args_end - new_base;
                            size_frame_stack(
                                ts,
                                new_base + nargs.min(cp.num_params as usize),
                                new_end,
                            );
                            let callee_frame = LuaFrame {
                                closure: callee,
                                func,
                                base: new_base,
                                stack_end: new_end,
                                pc: 0,
                                num_varargs: 0,
                                returns: if c == 0 {
                                    Returns::Multi
                                } else {
                                    Returns::Count(c - 1)
                                },
                                top: new_base,
                                is_tail: false,
                                concat_resume: false,
                                // A plain call: the caller's count.
                                c_calls,
                            };
                            ts.push_counted_frame(Frame::Lua(callee_frame));
                            if budget!() <= 0 {
                                fuel.set_remaining(budget!());
                                return Ok(Flow::OutOfFuel);
                            }
                            // E1: `pc == 0 < code.len()` (verifier H4); E2: the stack's
                            // length is `new_end = new_base + max_stack_size` (just set).
                            enter_frame!(&callee_frame, ready);
                            continue;
                        }
                    }
                    ts.stack.truncate(args_end);
                    let returns = if c == 0 {
                        Returns::Multi
                    } else {
                        Returns::Count(c - 1)
                    };
                    do_call!(func, returns);
                }
                Instruction::TailCall { a, b } => {
                    check_fuel_before!();
                    let func = base + a as usize;
                    if b != 0 {
                        ts.stack.truncate(func + b as usize);
                    } else {
                        let top = top!();
                        spend!(((top - func) / VALUES_PER_UNIT) as i64);
                        ts.stack.truncate(top);
                    }
                    let callee = ts.stack[func];
                    if let Value::Callback(_) = callee {
                        // A Rust function in tail position keeps this frame (like PUC's C
                        // functions): its errors and tracebacks see the caller, and the
                        // following `Return` hands its results on.
                        do_call!(func, Returns::Multi);
                    }
                    if !callee.is_function() && ctx.metamethod(callee, MetaEvent::Call).is_none() {
                        bail!(type_error_message(
                            ctx,
                            "call",
                            callee,
                            debug::describe_register(fp, ip.pc(code) - 1, a as usize)
                        ));
                    }
                    save!();
                    close_upvalues(ctx, ts, base);
                    let Some(Frame::Lua(f)) = ts.frames.pop() else {
                        unreachable!()
                    };
                    let n = ts.stack.len() - func;
                    ts.stack.copy_within(func.., f.func);
                    ts.stack.truncate(f.func + n);
                    match call_function_ex(ctx, thread, ts, f.func, f.returns, is_main, fuel, true)
                    {
                        Ok(Flow::Continue) => continue 'frame,
                        Ok(flow) => return Ok(flow),
                        Err(e) => return Err(e),
                    }
                }
                Instruction::Return { a, b, close: false }
                    if !CHECKED
                        && (ts.open_upvalues.is_empty()
                            || !open_upvalue_at_or_above(&ts.open_upvalues, base)) =>
                {
                    // Fast path, like `Return0`/`Return1` below: nothing to close; a Lua
                    // caller expecting a fixed count gets the first `want` values, padded
                    // with nil, without leaving the loop.
                    let first = base + a as usize;
                    let n = if b != 0 {
                        b as usize - 1
                    } else {
                        top!() - first
                    };
                    spend!((n / VALUES_PER_UNIT) as i64);
                    let fast =
                        fixed_count_return(&ts.frames).filter(|_| first + n <= ts.stack.len());
                    if let Some((func, want, caller)) = fast {
                        ts.frames.pop();
                        // W for the caller's window (the stores below are checked).
                        ts.stack.unseal_to(caller.base);
                        // Values move down (`func < first`) before the stack is cut to the
                        // caller's registers, which may end below them.
                        let k = n.min(want);
                        for i in 0..k {
                            ts.stack[func + i] = ts.stack[first + i];
                        }
                        set_len_nil_filled(ts, caller.stack_end.max(func + want));
                        for i in k..want {
                            ts.stack[func + i] = Value::Nil;
                        }
                        back_to_caller!(caller);
                    }
                    general_return!(first, n);
                }
                Instruction::Return { a, b, close } => {
                    let first = base + a as usize;
                    let n = if b != 0 {
                        b as usize - 1
                    } else {
                        top!() - first
                    };
                    spend!((n / VALUES_PER_UNIT) as i64);
                    if close {
                        close_upvalues(ctx, ts, base);
                        if let Some(&slot) = ts.tbc_slots.last() {
                            if slot >= base {
                                ts.tbc_slots.pop();
                                let v = ts.stack[slot];
                                // Keep the values to return below the call: `top` marks them.
                                let top = first + n;
                                top!() = top;
                                if ts.stack.len() < top {
                                    ts.stack.resize(top, Value::Nil);
                                }
                                // `finish_meta` re-runs this `Return` when the call returns.
                                let mm = ctx.metamethod(v, MetaEvent::Close).unwrap_or(Value::Nil);
                                let slot = ts.stack.len().max(top);
                                ts.stack.truncate(slot);
                                ts.stack.push(mm);
                                ts.stack.push(v);
                                ts.stack.push(Value::Nil);
                                do_call!(slot, Returns::Meta);
                            }
                        }
                    }
                    return_hook!();
                    general_return!(first, n);
                }
                Instruction::Return0 | Instruction::Return1 { .. }
                    if !CHECKED
                        && (ts.open_upvalues.is_empty()
                            || !open_upvalue_at_or_above(&ts.open_upvalues, base)) =>
                {
                    // Fast path: nothing to close; a Lua caller expecting a fixed count.
                    let n = match *ins {
                        Instruction::Return1 { .. } => 1,
                        _ => 0,
                    };
                    // The returning frame is on top (it is running); the caller, if a Lua
                    // frame, right below. Read in place: no copy of either frame.
                    let fast = fixed_count_return(&ts.frames);
                    if let Some((func, want, caller)) = fast {
                        ts.frames.pop();
                        // W for the caller's window and for the results at `func`, a
                        // register of the caller (`min`: whatever the frames hold).
                        ts.stack.unseal_to(caller.base.min(func));
                        // The result goes to `func` (a register of the caller, below `base`)
                        // first, while the callee's registers are still there: held across
                        // the resize below, it was spilled and read back in pieces.
                        match *ins {
                            Instruction::Return1 { a } => move_result(
                                unchecked::window(&mut ts.stack, func),
                                base + a as usize - func,
                                0,
                            ),
                            _ => {
                                *unchecked::reg_mut(unchecked::window(&mut ts.stack, func), 0) =
                                    Value::Nil
                            }
                        }
                        // The caller may want more values than the callee had registers
                        // (`local a, b, ..., z = f()`): size the stack first.
                        set_len_nil_filled_above(ts, caller.stack_end.max(func + want));
                        if want > 1 {
                            let results = unchecked::window(&mut ts.stack, func);
                            for i in 1..want {
                                *unchecked::reg_mut(results, i) = Value::Nil;
                            }
                        }
                        back_to_caller!(caller);
                    }
                    save!();
                    let first = base
                        + match *ins {
                            Instruction::Return1 { a } => a as usize,
                            _ => 0,
                        };
                    return_from_frame(ctx, ts, first, n);
                    match finish_return(ctx, ts, first, n) {
                        Ok(Flow::Continue) => continue 'frame,
                        Ok(flow) => return Ok(flow),
                        Err(e) => return Err(e),
                    }
                }
                Instruction::Return0 => {
                    return_hook!();
                    save!();
                    let first = base;
                    return_from_frame(ctx, ts, first, 0);
                    match finish_return(ctx, ts, first, 0) {
                        Ok(Flow::Continue) => continue 'frame,
                        Ok(flow) => return Ok(flow),
                        Err(e) => return Err(e),
                    }
                }
                Instruction::Return1 { a } => {
                    return_hook!();
                    save!();
                    let first = base + a as usize;
                    return_from_frame(ctx, ts, first, 1);
                    match finish_return(ctx, ts, first, 1) {
                        Ok(Flow::Continue) => continue 'frame,
                        Ok(flow) => return Ok(flow),
                        Err(e) => return Err(e),
                    }
                }
                Instruction::ForPrep { a, skip } => {
                    // (Through the stack, not `regs`: the window's length is never used, so the
                    // compiler need not keep it.)
                    let runs = tri!(for_prep(
                        &mut ts.stack[base + a as usize..base + a as usize + 4]
                    ));
                    refresh!();
                    if !runs {
                        jump_by!(skip as i64);
                    }
                }
                Instruction::ForLoop { a, back } => {
                    // Registers `a .. a + 4` (verifier O1: `range(a, 4)`).
                    match r!(a as usize + 2) {
                        Value::Integer(step) => {
                            if let Value::Integer(count) = r!(a as usize + 1) {
                                if count as u64 > 0 {
                                    r!(a as usize + 1) = Value::Integer((count as u64 - 1) as i64);
                                    if let Value::Integer(i) = r!(a) {
                                        let ni = i.wrapping_add(step);
                                        r!(a) = Value::Integer(ni);
                                        r!(a as usize + 3) = Value::Integer(ni);
                                    }
                                    jump_by!(-(back as i64));
                                    check_fuel!();
                                }
                            }
                        }
                        Value::Float(step) => {
                            if let (Value::Float(i), Value::Float(limit)) =
                                (r!(a), r!(a as usize + 1))
                            {
                                let ni = i + step;
                                let cont = if step > 0.0 { ni <= limit } else { limit <= ni };
                                if cont {
                                    r!(a) = Value::Float(ni);
                                    r!(a as usize + 3) = Value::Float(ni);
                                    jump_by!(-(back as i64));
                                    check_fuel!();
                                }
                            }
                        }
                        _ => {}
                    }
                }
                Instruction::TForPrep { a, skip } => {
                    let v = r!(a as usize + 3);
                    if v.is_truthy() {
                        if ctx.metamethod(v, MetaEvent::Close).is_none() {
                            bail!(Error::runtime(
                                "variable '(for state)' got a non-closable value"
                            ));
                        }
                        let cap = ts.tbc_slots.capacity();
                        ts.tbc_slots.push(base + a as usize + 3);
                        ts.sync_if_grown(cap, ts.tbc_slots.capacity());
                        refresh!();
                    }
                    jump_by!(skip as i64);
                    if CHECKED && ts.hook.wants_events() {
                        // PUC's `TFORPREP` runs the `TFORCALL` it jumps to without fetching
                        // it: not traced.
                        ts.hook.resume_depth = ts.frames.len() as u32;
                    }
                }
                Instruction::TForCall { a, c } => {
                    check_fuel_before!();
                    let ra = base + a as usize;
                    ts.stack.truncate(ra + 4);
                    let (f, s, ctl) = (ts.stack[ra], ts.stack[ra + 1], ts.stack[ra + 2]);
                    ts.stack.push(f);
                    ts.stack.push(s);
                    ts.stack.push(ctl);
                    do_call!(ra + 4, Returns::Count(c));
                }
                Instruction::TForLoop { a, back } => {
                    // Registers `a .. a + 5` (verifier O1: `range(a, 5)`).
                    let v = r!(a as usize + 4);
                    if !v.is_nil() {
                        r!(a as usize + 2) = v;
                        jump_by!(-(back as i64));
                        check_fuel!();
                    }
                }
                Instruction::SetList { a, n, start } => {
                    let ra = base + a as usize;
                    let count = if n == 0 { top!() - ra - 1 } else { n as usize };
                    if let Value::Table(t) = ts.stack[ra] {
                        if t.is_frozen() {
                            bail!(Error::runtime("attempt to modify a read-only table"));
                        }
                        spend!(count as i64 / 8);
                        set_list(ctx, t, &ts.stack[ra + 1..=ra + count], start);
                    }
                    if n == 0 {
                        let end = base + fp.proto.max_stack_size as usize;
                        ts.stack.truncate(end.max(ra + 1));
                        ts.stack.resize(end, Value::Nil);
                    }
                    refresh!();
                    // Huge table constructors are long straight-line code: check here too.
                    check_fuel!();
                }
                Instruction::Closure { a, proto } => {
                    let c = new_closure(ctx, thread, ts, fp, cl.upvalue_slots(), base, proto);
                    refresh!();
                    r!(a) = Value::Function(c);
                }
                Instruction::VarArg { a, c } => {
                    let nvar = current_frame(ts).num_varargs;
                    let mut budget = budget!();
                    let r = var_arg(ctx, ts, base, nvar, a, c, &mut budget);
                    refresh!();
                    limit = budget.wrapping_add(ip.tick());
                    match r {
                        Ok(Some(end)) => top!() = end,
                        Ok(None) => {}
                        Err(e) => bail!(e),
                    }
                }
            }
        }
    }
}

/// `SetList`'s stores: `t[start + i] = values[i - 1]`. A constructor's values go to the
/// end of the array part in one append when they can (a fresh table: no hash entries).
/// (Out of line: inlined, it changed the interpreter loop's register allocation, +3.5%
/// instructions on fib, which has no constructor.)
#[inline(never)]
fn set_list<'gc>(ctx: Context<'gc>, t: Table<'gc>, values: &[Value<'gc>], start: u32) {
    let mut st = t.borrow_mut(ctx);
    let stored = if start as usize == st.array.len() {
        st.append_to_array(ctx.mutation(), t, values)
    } else {
        0
    };
    for (i, &v) in values.iter().enumerate().skip(stored) {
        st.set_normalized(
            ctx.mutation(),
            t,
            Value::Integer(start as i64 + i as i64 + 1),
            v,
        );
    }
}

/// `VarArg`: copies the frame's `nvar` extra arguments (stored below `base`) to `R[a]...`:
/// `c - 1` of them padded with nil, or (`c == 0`) all of them, returning the new top. Out
/// of line like `new_closure`.
#[inline(never)]
fn var_arg<'gc>(
    ctx: Context<'gc>,
    ts: &mut ThreadState<'gc>,
    base: usize,
    nvar: usize,
    a: u8,
    c: u8,
    budget: &mut i64,
) -> Result<Option<usize>, Error<'gc>> {
    let ra = base + a as usize;
    if c == 0 {
        let end = ra + nvar;
        // PUC's stack limit ("stack overflow"), the growth reserved against the memory
        // limit, and fuel for the copies.
        if end >= MAX_STACK_SLOTS {
            return Err(Error::runtime("stack overflow"));
        }
        *budget -= (nvar / VALUES_PER_UNIT) as i64;
        if ts.stack.len() < end {
            let more = end - ts.stack.len();
            crate::executor::grow_stack_reserved(ctx, ts, more)?;
            ts.stack.resize(end, Value::Nil);
        }
        for i in 0..nvar {
            ts.stack[ra + i] = ts.stack[base - nvar + i];
        }
        Ok(Some(end))
    } else {
        for i in 0..(c as usize - 1) {
            ts.stack[ra + i] = if i < nvar {
                ts.stack[base - nvar + i]
            } else {
                Value::Nil
            };
        }
        Ok(None)
    }
}

/// `Closure`: a new closure of child prototype `proto` of `fp`, its upvalues found among the
/// frame's registers (from `base`) or taken from the running closure's `upvals`. Out of line:
/// keeping rare work out of the instruction loop leaves it more registers.
#[inline(never)]
fn new_closure<'gc>(
    ctx: Context<'gc>,
    thread: Thread<'gc>,
    ts: &mut ThreadState<'gc>,
    fp: &'gc crate::function::FunctionProto<'gc>,
    upvals: &'gc [gc_arena::lock::Lock<UpValue<'gc>>],
    base: usize,
    proto: u32,
) -> LuaClosure<'gc> {
    let child = fp.children[proto as usize];
    let inner = ClosureInner::build(ctx.next_object_id(), 0, child, |_, d| {
        Ok::<_, std::convert::Infallible>(if d.in_stack {
            find_upvalue(ctx, thread, ts, base + d.index as usize)
        } else {
            upvals[d.index as usize].get()
        })
    });
    let c = match inner {
        Ok(inner) => LuaClosure(gc_arena::Gc::new(ctx.mutation(), inner)),
        Err(never) => match never {},
    };
    ctx.state()
        .journal
        .made(ctx.mutation(), crate::snapshot::Member::Closure(c), true);
    c
}

/// Closes the returning frame's upvalues and moves its `n` results at `first` down to its
/// function slot (`finish_return` then pops the frame and delivers them).
#[inline(never)]
fn return_from_frame<'gc>(ctx: Context<'gc>, ts: &mut ThreadState<'gc>, first: usize, n: usize) {
    // (The two fields, not a copy of the frame: a copy written in pieces and read whole
    // stalls the loads.)
    let (base, func) = {
        let f = current_frame(ts);
        (f.base, f.func)
    };
    if let Some(uv) = ts.open_upvalues.last() {
        if let UpValueState::Open { slot, .. } = uv.get() {
            if slot >= base {
                close_upvalues(ctx, ts, base);
            }
        }
    }
    if ts.stack.len() < first + n {
        ts.stack.resize(first + n, Value::Nil);
    }
    if n == 1 {
        // (One value: a `memmove` call costs more than the move.)
        ts.stack[func] = ts.stack[first];
    } else {
        ts.stack.copy_within(first..first + n, func);
    }
    ts.stack.truncate(func + n);
}

#[inline(never)]
fn finish_return<'gc>(
    ctx: Context<'gc>,
    ts: &mut ThreadState<'gc>,
    _first: usize,
    n: usize,
) -> Result<Flow<'gc>, Error<'gc>> {
    let (func, returns) = match ts.frames.last() {
        Some(Frame::Lua(f)) => (f.func, f.returns),
        _ => unreachable!(),
    };
    ts.frames.truncate(ts.frames.len() - 1);
    post_return(ctx, ts, func, n, returns)
}

/// An integer loop's preparation (`for_prep`), from the initial value, the limit as an
/// integer and the step (not 0): whether the body runs; if it does, the iteration count goes
/// into the limit slot.
#[inline(always)]
fn int_for_prep(r: &mut [Value<'_>], i: i64, lim: i64, s: i64) -> bool {
    if (s > 0 && i > lim) || (s < 0 && i < lim) {
        return false;
    }
    let count: u64 = if s > 0 {
        (lim as u64).wrapping_sub(i as u64) / s as u64
    } else {
        let s1 = (s.wrapping_add(1)).wrapping_neg() as u64 + 1;
        (i as u64).wrapping_sub(lim as u64) / s1
    };
    r[0] = Value::Integer(i);
    r[1] = Value::Integer(count as i64);
    r[2] = Value::Integer(s);
    r[3] = Value::Integer(i);
    true
}

/// Numeric `for` preparation on `[init, limit, step, var]`. Integer loops precompute the
/// iteration count into the limit slot (so they cannot overflow); float loops keep floats.
fn for_prep<'gc>(r: &mut [Value<'gc>]) -> Result<bool, Error<'gc>> {
    // All three integers (most loops): read each register by its tag, then its payload. The
    // general path below copies them through `Option<Value>` temporaries byte range by
    // byte range, and the loads that follow such copies wait for them (store forwarding
    // fails): 90% of this function's time in nbody, whose inner loops run 4 times each.
    if let (Value::Integer(i), Value::Integer(lim), Value::Integer(s)) = (r[0], r[1], r[2]) {
        if s != 0 {
            return Ok(int_for_prep(r, i, lim, s));
        }
    }
    let (init0, limit, step0) = (r[0], r[1], r[2]);
    // Only genuine integers make an integer loop (numeric strings give a float loop).
    let both_int = matches!((init0, step0), (Value::Integer(_), Value::Integer(_)));
    let (init, step) = (init0, step0);
    let bad = |what: &str, v: Value<'gc>| {
        Error::runtime(format!(
            "bad 'for' {what} (number expected, got {})",
            v.type_name()
        ))
    };
    let init = init.to_number().ok_or_else(|| bad("initial value", init))?;
    let limit_n = limit.to_number().ok_or_else(|| bad("limit", limit))?;
    let step = step.to_number().ok_or_else(|| bad("step", step))?;
    if let (true, Value::Integer(i), Value::Integer(s)) = (both_int, init, step) {
        if s == 0 {
            return Err(Error::runtime("'for' step is zero"));
        }
        // Clip the limit to an integer.
        let lim = match limit_n {
            Value::Integer(l) => l,
            Value::Float(f) => {
                if f.is_nan() {
                    // Not above 0, so like a very negative limit (PUC's `forlimit`).
                    if s > 0 {
                        return Ok(false);
                    }
                    i64::MIN
                } else if s > 0 {
                    let fl = f.floor();
                    if fl >= TWO_POW_63 {
                        i64::MAX
                    } else if fl < -TWO_POW_63 {
                        return Ok(false);
                    } else {
                        fl as i64
                    }
                } else {
                    let cl = f.ceil();
                    if cl < -TWO_POW_63 {
                        i64::MIN
                    } else if cl >= TWO_POW_63 {
                        return Ok(false);
                    } else {
                        cl as i64
                    }
                }
            }
            _ => unreachable!(),
        };
        Ok(int_for_prep(r, i, lim, s))
    } else {
        let to_f = |v: Value| match v {
            Value::Integer(i) => i as f64,
            Value::Float(f) => f,
            _ => unreachable!(),
        };
        let (i, l, s) = (to_f(init), to_f(limit_n), to_f(step));
        if s == 0.0 {
            return Err(Error::runtime("'for' step is zero"));
        }
        // Skip only when the first value is past the limit (PUC's `forprep`): a NaN
        // initial value or limit runs the body once (the `ForLoop` test then fails).
        if if 0.0 < s { l < i } else { i < l } {
            return Ok(false);
        }
        r[0] = Value::Float(i);
        r[1] = Value::Float(l);
        r[2] = Value::Float(s);
        r[3] = Value::Float(i);
        Ok(true)
    }
}

/// Completes the instruction interrupted by a metamethod call whose first result is `v`
/// (PUC's `luaV_finishOp`). The top frame is the Lua frame that made the call; its `pc`
/// points after the interrupted instruction.
pub(crate) fn finish_meta<'gc>(
    _ctx: Context<'gc>,
    ts: &mut ThreadState<'gc>,
    v: Value<'gc>,
) -> Result<(), Error<'gc>> {
    let f = *current_frame(ts);
    let fp = f.closure.proto();
    let code = &fp.proto.code;
    let base = f.base;
    let ins = code[f.pc - 1];
    let cond_jump = |ts: &mut ThreadState<'gc>, cond: bool, k: bool| {
        let fr = current_frame(ts);
        if cond == k {
            if let Some(Instruction::Jmp { off }) = code.get(fr.pc) {
                fr.pc = (fr.pc as i64 + 1 + *off as i64) as usize;
            } else {
                fr.pc += 1;
            }
        } else {
            fr.pc += 1;
        }
    };
    match ins {
        Instruction::GetTabUp { a, .. }
        | Instruction::GetTable { a, .. }
        | Instruction::GetI { a, .. }
        | Instruction::GetField { a, .. }
        | Instruction::SelfK { a, .. }
        | Instruction::AddI { a, .. }
        | Instruction::AddK { a, .. }
        | Instruction::SubK { a, .. }
        | Instruction::MulK { a, .. }
        | Instruction::ModK { a, .. }
        | Instruction::PowK { a, .. }
        | Instruction::DivK { a, .. }
        | Instruction::IDivK { a, .. }
        | Instruction::BAndK { a, .. }
        | Instruction::BOrK { a, .. }
        | Instruction::BXorK { a, .. }
        | Instruction::ShrI { a, .. }
        | Instruction::ShlI { a, .. }
        | Instruction::Add { a, .. }
        | Instruction::Sub { a, .. }
        | Instruction::Mul { a, .. }
        | Instruction::Mod { a, .. }
        | Instruction::Pow { a, .. }
        | Instruction::Div { a, .. }
        | Instruction::IDiv { a, .. }
        | Instruction::BAnd { a, .. }
        | Instruction::BOr { a, .. }
        | Instruction::BXor { a, .. }
        | Instruction::Shl { a, .. }
        | Instruction::Shr { a, .. }
        | Instruction::Unm { a, .. }
        | Instruction::BNot { a, .. }
        | Instruction::Len { a, .. } => {
            ts.stack[base + a as usize] = v;
        }
        Instruction::Eq { k, .. } => cond_jump(ts, v.is_truthy(), k),
        Instruction::Lt { k, .. }
        | Instruction::Le { k, .. }
        | Instruction::LtI { k, .. }
        | Instruction::LeI { k, .. }
        | Instruction::GtI { k, .. }
        | Instruction::GeI { k, .. } => cond_jump(ts, v.is_truthy(), k),
        Instruction::Concat { .. } => {
            // The pair at top-1, top was reduced to `v` (the frame's `top` was lowered before
            // the call). Re-run the `Concat` in resume mode to finish the reduction.
            ts.stack[f.top - 1] = v;
            let fr = current_frame(ts);
            fr.pc -= 1;
            fr.concat_resume = true;
            retraced(ts);
        }
        // A `__close` call made by `Close` or `Return`: run the instruction again, to close
        // the next variable or to return. (The pc stays after the instruction during the
        // call, so `finish_meta` sees the instruction itself and error positions name it.)
        Instruction::Close { .. } | Instruction::Return { .. } => {
            current_frame(ts).pc -= 1;
            retraced(ts);
        }
        // Stores: nothing to finish.
        _ => {}
    }
    Ok(())
}

/// The top frame runs its current instruction again (`finish_meta`): with a hook, it was
/// traced already.
fn retraced(ts: &mut ThreadState<'_>) {
    if ts.hook.wants_events() {
        ts.hook.resume_depth = ts.frames.len() as u32;
    }
}
