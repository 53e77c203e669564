//! The string library (§6.4): byte, char, dump, find, format, gmatch, gsub, len, lower,
//! match, pack, packsize, rep, reverse, sub, unpack, upper, and the string metatable.
//!
//! `gsub` with a function or a table with `__index` calls Lua through a continuation (its
//! state is a typed resumable state, resumed in place after each call), and pauses between match attempts after a bounded amount of
//! matching work, so a long substitution spans several executor steps instead of one.

use gc_arena::Collect;
use lunette_vm::big_string::{
    call_with_slices, return_built, return_with_slices, Shape, Slice, BUILD_IN_PIECES,
};
use lunette_vm::interp::{arith_numbers, index, Index, MAX_STRING_LEN};
use lunette_vm::{
    display_plain, Action, Callback, CallbackFn, Context, Error, Exec, LuaString, MetaEvent,
    Outcome, Resumable, ResumableState, StateReader, StateWriter, Table, Then, Value,
};

use crate::base::set;
use crate::pattern::{
    is_literal, no_specials, Capture, Found, Matcher, PatternError, Search, STEPS_PER_FUEL,
};
use crate::util::{
    check_integer, check_string, opt_integer, opt_string, pos_relative_end, pos_relative_start,
    without_position,
};

/// PUC's `MAXSIZE` for strings built by the library (`INT_MAX` there).
pub(crate) const MAX_SIZE: usize = if MAX_STRING_LEN - 1 < i32::MAX as usize {
    MAX_STRING_LEN - 1
} else {
    i32::MAX as usize
};

/// This library's callbacks and continuations beyond its table's functions, in the VM's
/// permanents table (see `lunette_vm::Permanents`).
fn permanents(p: &mut lunette_vm::Permanents) {
    p.callback(("string", "arith"), "__add", string_arith);
    p.continuation(("string", "first_result"), "string.arith", first_result);
    p.continuation(("string", "byte_resume"), "byte", byte_resume);
    p.continuation(("string", "char_resume"), "char", char_resume);
    p.continuation(
        ("string", "dump_paid_slice"),
        "string.dump",
        dump_paid_slice,
    );
    p.continuation(("string", "find_resume"), "find", find_resume);
    p.callback(("string", "gmatch_aux"), "gmatch_aux", gmatch_aux);
    p.continuation(("string", "gmatch_resume"), "gmatch", gmatch_resume);
    p.resumable(Gsub::KEY, read_gsub);
    p.name("gsub");
    crate::format::permanents(p);
    crate::pack::permanents(p);
}

/// Opens the `string` library and sets the string metatable (`__index = string` and the
/// arithmetic metamethods that coerce numeric strings).
pub fn open(ctx: Context<'_>) {
    ctx.register_permanents(permanents);
    let lib = ctx.new_table();
    // Callback names are qualified ("string.format") like PUC's `pushglobalfuncname`: they
    // name the function in messages when the call site gives no name (e.g. through pcall).
    let fns: &[(&str, &'static str, CallbackFn)] = &[
        ("byte", "string.byte", byte),
        ("char", "string.char", char),
        ("dump", "string.dump", dump),
        ("find", "string.find", find),
        ("format", "string.format", crate::format::format),
        ("gmatch", "string.gmatch", gmatch),
        ("gsub", "string.gsub", gsub),
        ("len", "string.len", len),
        ("lower", "string.lower", lower),
        ("match", "string.match", match_),
        ("pack", "string.pack", crate::pack::pack),
        ("packsize", "string.packsize", crate::pack::packsize),
        ("rep", "string.rep", rep),
        ("reverse", "string.reverse", reverse),
        ("sub", "string.sub", sub),
        ("unpack", "string.unpack", crate::pack::unpack),
        ("upper", "string.upper", upper),
    ];
    crate::util::add_functions(ctx, lib, fns);
    let mt = ctx.new_table();
    // Arithmetic on numeric strings lives here, as in PUC 5.4 (the VM does not coerce
    // strings for arithmetic; bitwise operators have no string metamethods).
    // One callback for all of them: its upvalue is the event's index in `ARITH_EVENTS`.
    for (i, event) in ARITH_EVENTS.iter().enumerate() {
        let f = Callback::with_upvalue(ctx, event.name(), string_arith, Value::Integer(i as i64));
        set(ctx, mt, event.name(), Value::Callback(f));
    }
    set(ctx, mt, "__index", Value::Table(lib));
    ctx.set_string_metatable(Some(mt));
    set(ctx, ctx.globals(), "string", Value::Table(lib));
}

/// Bytes of already charged output assembled into the final string (copied twice: out of
/// its pieces, then into the string) per unit of fuel.
pub(crate) const ASSEMBLY_BYTES_PER_FUEL: usize = 64;

/// Charges the assembly of `bytes` bytes of output into a result string.
pub(crate) fn charge_assembly(exec: &mut Exec<'_, '_>, bytes: usize) {
    exec.charge(bytes / ASSEMBLY_BYTES_PER_FUEL + 1);
}

/// The result string of output saved in `parts` (strings at 1..=nparts) followed by `tail`,
/// `total` bytes in all: its bytes are reserved, then written once, straight into the string.
pub(crate) fn assemble<'gc>(
    ctx: Context<'gc>,
    parts: Option<Table<'gc>>,
    nparts: i64,
    total: usize,
    tail: &[u8],
) -> Result<LuaString<'gc>, Error<'gc>> {
    match parts {
        Some(parts) => assemble_slots(ctx, parts, 1..=nparts, total, tail),
        None => {
            ctx.reserve_memory(tail.len())?;
            Ok(ctx.new_string(tail))
        }
    }
}

/// Returns the result string of output saved in `parts` (strings at 1..=nparts) followed by
/// `tail`, `total` bytes in all, followed by `extra` values: written at once like
/// [`assemble`], or, when longer than `BUILD_IN_PIECES`, by the string builder in pieces
/// across steps (`lunette_vm::big_string`), its bytes reserved first either way.
pub(crate) fn return_assembled<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    parts: Option<Table<'gc>>,
    nparts: i64,
    total: usize,
    tail: &[u8],
    extra: Option<Value<'gc>>,
) -> Result<Action<'gc>, Error<'gc>> {
    // Charged the same whether the output was ever saved in parts or not (that depends on
    // where steps ended), so total fuel does not depend on the step budget.
    if total <= BUILD_IN_PIECES {
        charge_assembly(exec, total);
        let s = Value::String(assemble(ctx, parts, nparts, total, tail)?);
        match extra {
            Some(v) => exec.replace(&[s, v]),
            None => exec.set_return(s),
        }
        return Ok(Action::Return);
    }
    ctx.reserve_memory(total)?;
    let mut pieces: Vec<Value<'gc>> = match parts {
        Some(t) => (1..=nparts).map(|k| t.get_int(k)).collect(),
        None => Vec::new(),
    };
    if !tail.is_empty() {
        pieces.push(Value::String(ctx.new_pause_string(tail)));
    }
    Ok(return_built(
        ctx,
        exec,
        &pieces,
        total,
        Shape::Repeat,
        extra,
    ))
}

/// The result string of the strings in `parts` at `slots` followed by `tail`, `total` bytes
/// in all: its bytes are reserved, then written once, straight into the string (never a
/// buffer and a copy, which would hold twice the result for a moment).
pub(crate) fn assemble_slots<'gc>(
    ctx: Context<'gc>,
    parts: Table<'gc>,
    slots: std::ops::RangeInclusive<i64>,
    total: usize,
    tail: &[u8],
) -> Result<LuaString<'gc>, Error<'gc>> {
    let pieces = slots.filter_map(|i| parts.get_int(i).as_string());
    assemble_pieces(
        ctx,
        pieces.map(|p| p.as_bytes()).chain(std::iter::once(tail)),
        total,
    )
}

/// The string of `pieces` joined and cut at `total` bytes: its bytes are reserved, then
/// written once, straight into the string.
pub(crate) fn assemble_pieces<'a, 'gc>(
    ctx: Context<'gc>,
    pieces: impl Iterator<Item = &'a [u8]>,
    total: usize,
) -> Result<LuaString<'gc>, Error<'gc>> {
    ctx.reserve_memory(total)?;
    Ok(ctx.new_string_with(total, |out| {
        let mut at = 0;
        for p in pieces {
            let n = p.len().min(out.len() - at);
            out[at..at + n].copy_from_slice(&p[..n]);
            at += n;
        }
    }))
}

/// A string metamethod's operand as a number: numbers as they are, strings that are whole
/// numerals converted (PUC's `tonum`); anything else `None`.
fn arith_operand(v: Value<'_>) -> Option<Value<'_>> {
    match v {
        Value::Integer(_) | Value::Float(_) | Value::String(_) => v.to_number(),
        _ => None,
    }
}

/// The string metatable's arithmetic metamethod for `event` (PUC's `arith`): both operands
/// converted to numbers and combined with `lua_arith` semantics, else the second operand's
/// metamethod if it is not a string (PUC's `trymt`), else
/// "attempt to <op> a '<type>' with a '<type>'".
fn string_arith<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
) -> Result<Action<'gc>, Error<'gc>> {
    let event = exec
        .upvalue
        .as_integer_strict()
        .and_then(|i| ARITH_EVENTS.get(usize::try_from(i).ok()?).copied())
        .ok_or_else(|| lost_state("string arithmetic"))?;
    let a = exec.get(0).unwrap_or(Value::Nil);
    let b = exec.get(1).unwrap_or(Value::Nil);
    let x = arith_operand(a);
    // PUC quirk: with one argument, the converted first operand (pushed on the stack) is
    // taken as the second one, so `mt.__unm("3")` is -3 and `mt.__sub(1)` is 0.
    let y = if exec.len() == 1 { x } else { arith_operand(b) };
    if let (Some(x), Some(y)) = (x, y) {
        if let Some(r) = arith_numbers(event, x, y) {
            // Errors of the arithmetic itself ("attempt to divide by zero") come from the
            // VM inside a C function in PUC: no position.
            let v = r.map_err(|e| without_position(ctx, e))?;
            exec.set_return(v);
            return Ok(Action::Return);
        }
    }
    let mm = match b {
        Value::String(_) => None,
        _ => ctx.metamethod(b, event),
    };
    match mm {
        Some(function) => {
            exec.replace(&[a, b]);
            Ok(Action::Call {
                function,
                then: Some(Then::new("string.arith", first_result, Value::Nil)),
            })
        }
        None => {
            let verb = event.name().trim_start_matches("__");
            Err(Error::runtime(format!(
                "attempt to {verb} a '{}' with a '{}'",
                a.type_name(),
                b.type_name()
            )))
        }
    }
}

/// Continuation of `string_arith`'s metamethod call: one result (PUC's `lua_call(L, 2, 1)`).
fn first_result<'gc>(
    _ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    _outcome: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    let v = exec.get(0).unwrap_or(Value::Nil);
    exec.set_return(v);
    Ok(Action::Return)
}

/// The arithmetic metamethods of the string metatable (PUC 5.4's `stringmetamethods`; no
/// bitwise ones).
const ARITH_EVENTS: [MetaEvent; 8] = [
    MetaEvent::Add,
    MetaEvent::Sub,
    MetaEvent::Mul,
    MetaEvent::Mod,
    MetaEvent::Pow,
    MetaEvent::Div,
    MetaEvent::IDiv,
    MetaEvent::Unm,
];

/// Charges fuel for `bytes` bytes copied or scanned.
pub(crate) fn charge_bytes(exec: &mut Exec<'_, '_>, bytes: usize) {
    exec.charge(bytes / 32 + 1);
}

pub(crate) fn pattern_error<'gc>(e: PatternError) -> Error<'gc> {
    Error::runtime(e.0)
}

fn new_str<'gc>(ctx: Context<'gc>, bytes: &[u8]) -> Value<'gc> {
    Value::String(ctx.new_string(bytes))
}

fn len<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let s = check_string(ctx, exec, 0)?;
    exec.set_return(Value::Integer(s.len() as i64));
    Ok(Action::Return)
}

fn sub<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let s = check_string(ctx, exec, 0)?;
    let bytes = s.as_bytes();
    let start = pos_relative_start(check_integer(exec, 1)?, bytes.len());
    let end = pos_relative_end(opt_integer(exec, 2, -1)?, bytes.len());
    let r = if start > end {
        ctx.str("")
    } else if start == 1 && end == bytes.len() {
        Value::String(s)
    } else if end - start + 1 > BUILD_IN_PIECES {
        ctx.reserve_memory(end - start + 1)?;
        let slice = Shape::Slice(start - 1);
        let parts = [Value::String(s)];
        return Ok(return_built(
            ctx,
            exec,
            &parts,
            end - start + 1,
            slice,
            None,
        ));
    } else {
        charge_bytes(exec, end - start + 1);
        new_str(ctx, &bytes[start - 1..end])
    };
    exec.set_return(r);
    Ok(Action::Return)
}

/// `out` (as long as `src`) gets `src` transformed by `f` (the string builder's `shape` for
/// a big string, written in pieces across steps). Reserved and charged before it is made.
fn map_bytes<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    shape: Shape,
    f: impl FnOnce(&[u8], &mut [u8]),
) -> Result<Action<'gc>, Error<'gc>> {
    let s = check_string(ctx, exec, 0)?;
    ctx.reserve_memory(s.len())?;
    if s.len() > BUILD_IN_PIECES {
        let parts = [Value::String(s)];
        return Ok(return_built(ctx, exec, &parts, s.len(), shape, None));
    }
    charge_bytes(exec, s.len());
    let r = ctx.new_string_with(s.len(), |out| f(s.as_bytes(), out));
    exec.set_return(Value::String(r));
    Ok(Action::Return)
}

fn lower<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    map_bytes(ctx, exec, Shape::Lower, |s, out| {
        out.copy_from_slice(s);
        out.make_ascii_lowercase()
    })
}

fn upper<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    map_bytes(ctx, exec, Shape::Upper, |s, out| {
        out.copy_from_slice(s);
        out.make_ascii_uppercase()
    })
}

fn reverse<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    map_bytes(ctx, exec, Shape::Reverse, |s, out| {
        out.copy_from_slice(s);
        out.reverse()
    })
}

fn rep<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let s_str = check_string(ctx, exec, 0)?;
    let n = check_integer(exec, 1)?;
    let sep_str = opt_string(ctx, exec, 2)?;
    let s = s_str.as_bytes();
    let sep = sep_str.map(|x| x.as_bytes()).unwrap_or(b"");
    if n <= 0 {
        exec.set_return(ctx.str(""));
        return Ok(Action::Return);
    }
    let unit = s.len() + sep.len();
    if unit == 0 {
        exec.set_return(ctx.str(""));
        return Ok(Action::Return);
    }
    if unit > MAX_SIZE / n as u64 as usize {
        return Err(Error::runtime("resulting string too large"));
    }
    let n = n as usize;
    // Nothing is changed yet: `rep` can run again after a collection.
    ctx.reserve_memory_or_retry(unit * n)?;
    let total = unit * n - sep.len();
    if total > BUILD_IN_PIECES {
        // In pieces across steps: `s .. sep` repeated, cut at the length.
        let mut parts = vec![Value::String(s_str)];
        parts.extend(sep_str.filter(|x| !x.is_empty()).map(Value::String));
        return Ok(return_built(ctx, exec, &parts, total, Shape::Repeat, None));
    }
    charge_bytes(exec, unit * n);
    // Written straight into the result (one allocation of its size, at most
    // `BUILD_IN_PIECES` bytes).
    let r = ctx.new_string_with(total, |out| {
        // One period (`s .. sep`), then doubling copies of the filled prefix; the result is
        // periodic and ends with `s` (its length is `n` periods less one `sep`).
        let first = unit.min(total);
        let ks = first.min(s.len());
        out[..ks].copy_from_slice(&s[..ks]);
        out[ks..first].copy_from_slice(&sep[..first - ks]);
        let mut filled = first;
        while filled < total {
            let k = filled.min(total - filled);
            out.copy_within(0..k, filled);
            filled += k;
        }
    });
    exec.set_return(Value::String(r));
    Ok(Action::Return)
}

/// Values a multiple-result builtin (`byte`, `utf8.codepoint`, `unpack`) pushes in one
/// piece before checking its fuel (out of fuel, it pauses; the values pushed so far stay
/// on its part of the stack).
pub(crate) const VALUES_PER_PIECE: usize = 1024;
/// Values pushed per unit of fuel.
pub(crate) const VALUES_PER_FUEL: usize = 4;

fn byte<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let s = check_string(ctx, exec, 0)?;
    let bytes = s.as_bytes();
    let pi = opt_integer(exec, 1, 1)?;
    let end = pos_relative_end(opt_integer(exec, 2, pi)?, bytes.len());
    let start = pos_relative_start(pi, bytes.len());
    exec.clear();
    if start > end {
        return Ok(Action::Return);
    }
    if end - start >= i32::MAX as usize {
        return Err(Error::runtime("string slice too long"));
    }
    // Like PUC's `luaL_checkstack`: the whole slice must fit before anything is pushed.
    exec.reserve_values(ctx, end - start + 1, "string slice too long")?;
    byte_run(ctx, exec, s, start - 1, end)
}

/// Pushes the bytes `i..end` of `s` in pieces, pausing between pieces when out of fuel.
fn byte_run<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    s: LuaString<'gc>,
    mut i: usize,
    end: usize,
) -> Result<Action<'gc>, Error<'gc>> {
    let bytes = s.as_bytes();
    let end = end.min(bytes.len());
    loop {
        let stop = (i + VALUES_PER_PIECE).min(end);
        exec.charge((stop - i).div_ceil(VALUES_PER_FUEL));
        for &b in &bytes[i.min(stop)..stop] {
            exec.push(Value::Integer(b as i64));
        }
        i = stop;
        if i >= end {
            return Ok(Action::Return);
        }
        if exec.out_of_fuel() {
            let int = |n: usize| Value::Integer(n as i64);
            let state = state_table(ctx, &[Value::String(s), int(i), int(end)]);
            return Ok(Action::Pause {
                then: Then::new("byte", byte_resume, Value::Table(state)),
            });
        }
    }
}

fn byte_resume<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    _o: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    let saved = SavedState::of(exec.upvalue, "byte")?;
    byte_run(
        ctx,
        exec,
        saved.string(1)?,
        saved.index(2)?,
        saved.index(3)?,
    )
}

/// Arguments `string.char` reads per piece: a step boundary may come between two pieces (a
/// call with 200,000 arguments is 50,000 units of fuel, ~2.5 ms).
const CHAR_ARGS_PER_PIECE: usize = 16_384;

fn char<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    // At most one byte an argument (and arguments are bounded by the stack limit).
    ctx.reserve_memory(exec.len())?;
    char_run(ctx, exec, 0, SavedOutput::default())
}

/// `string.char` from argument `i` on, the bytes of the arguments before it in `saved`;
/// pauses between pieces when out of fuel. The arguments stay on the stack across a pause
/// (the continuation's region).
fn char_run<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    mut i: usize,
    mut saved: SavedOutput<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    let n = exec.len();
    let mut out = Vec::new();
    loop {
        // (Pieces start at multiples of `CHAR_ARGS_PER_PIECE`: their charges are the same
        // whatever the step sizes.)
        let stop = i.saturating_add(CHAR_ARGS_PER_PIECE).min(n);
        let start = i.min(stop);
        charge_bytes(exec, (stop - start) * 4);
        out.reserve(stop - start);
        for k in start..stop {
            let c = check_integer(exec, k)?;
            if !(0..=255).contains(&c) {
                return Err(Error::bad_argument(k + 1, "value out of range"));
            }
            out.push(c as u8);
        }
        i = stop;
        if i >= n {
            return saved.finish(ctx, exec, &out, None);
        }
        if exec.out_of_fuel() {
            saved.save(ctx, &out);
            let [parts, count, bytes] = saved.state_values();
            let state = state_table(ctx, &[Value::Integer(i as i64), parts, count, bytes]);
            return Ok(Action::Pause {
                then: Then::new("char", char_resume, Value::Table(state)),
            });
        }
    }
}

fn char_resume<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    _o: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    let state = SavedState::of(exec.upvalue, "char")?;
    let saved = SavedOutput::read(state.value(2), state.index(3)?, state.index(4)?, "char")?;
    char_run(ctx, exec, state.index(1)?, saved)
}

fn dump<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let closure = match exec.get(0) {
        Some(Value::Function(c)) => c,
        Some(Value::Callback(_)) => return Err(Error::runtime("unable to dump given function")),
        other => return Err(Error::type_error(1, "function", other)),
    };
    // Binary chunks are a host grant (refused in the sandbox unless its host grants them).
    if !ctx.host().grants().binary_chunks {
        return Err(Error::runtime("unable to dump given function"));
    }
    let strip = exec.get(1).is_some_and(|v| v.is_truthy());
    // The chunk's size is bounded before writing it (it is linear in the prototypes, which
    // the VM already holds): fuel is paid for that bound in slices at step boundaries (state:
    // [function, strip, fuel still to pay]), then the memory is asked for and the chunk
    // written in one go.
    let unpaid = dump_size_bound(closure.proto().prototype()) / 32 + 1;
    let state = ctx.new_table_with_capacity(3, 0);
    let _ = state.set(ctx, Value::Integer(1), Value::Function(closure));
    let _ = state.set(ctx, Value::Integer(2), Value::Boolean(strip));
    let _ = state.set(ctx, Value::Integer(3), Value::Integer(unpaid as i64));
    dump_pay(ctx, exec, state)
}

/// Fuel `string.dump` pays at a time before writing the chunk.
const DUMP_FUEL_SLICE: usize = 4096;

fn dump_pay<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    state: lunette_vm::Table<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    let unpaid = state.get_int(3).as_integer_strict().unwrap_or(0).max(0) as usize;
    let now = unpaid.min(DUMP_FUEL_SLICE);
    exec.charge(now);
    if unpaid > now {
        let _ = state.set(
            ctx,
            Value::Integer(3),
            Value::Integer((unpaid - now) as i64),
        );
        return crate::util::continue_later(
            ctx,
            exec,
            "string.dump",
            dump_paid_slice,
            Value::Table(state),
        );
    }
    let Value::Function(closure) = state.get_int(1) else {
        return Err(Error::runtime("string.dump: lost state"));
    };
    let strip = state.get_int(2).is_truthy();
    let proto = closure.proto().prototype();
    ctx.reserve_memory_or_retry(dump_size_bound(proto))?;
    let bytes = lunette_compiler::dump(proto, strip);
    exec.clear();
    exec.set_return(new_str(ctx, &bytes));
    Ok(Action::Return)
}

fn dump_paid_slice<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    _outcome: lunette_vm::Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    let Value::Table(state) = exec.upvalue else {
        return Err(Error::runtime("string.dump: lost state"));
    };
    dump_pay(ctx, exec, state)
}

/// At least the size of `lunette_compiler::dump(proto, _)`: at most 14 bytes an instruction
/// (opcode + operands as varints), 11 a constant plus its bytes, 16 an upvalue or local
/// plus its name, 5 a line, 64 a function header, plus the source name. Walks the tree
/// without recursion.
fn dump_size_bound(proto: &lunette_vm::Prototype) -> usize {
    let mut total = 64 + proto.source.len();
    let mut work = vec![proto];
    while let Some(p) = work.pop() {
        total = total
            .saturating_add(64)
            .saturating_add(p.code.len().saturating_mul(14))
            .saturating_add(p.lines.len().saturating_mul(5));
        for k in &p.constants {
            total = total.saturating_add(11).saturating_add(match k {
                lunette_compiler::Constant::String(s) => s.len(),
                _ => 0,
            });
        }
        for u in &p.upvalues {
            total = total.saturating_add(16 + u.name.len());
        }
        for l in &p.local_vars {
            total = total.saturating_add(16 + l.name.len());
        }
        work.extend(p.prototypes.iter().map(|c| &**c));
    }
    total
}

/// Matcher steps one piece of a search takes before the fuel is checked (and, out of fuel,
/// the call pauses): a call overruns its step's budget by about
/// `PIECE_STEPS / STEPS_PER_FUEL` units at most.
const PIECE_STEPS: u64 = 4096;

/// Charges the steps of `m` not charged yet (`charged`: units already charged for them).
/// Steps are charged as the matcher works, a piece at a time.
fn charge_steps(exec: &mut Exec<'_, '_>, m: &Matcher<'_>, charged: &mut u64) {
    let units = m.steps / STEPS_PER_FUEL;
    if units > *charged {
        exec.charge((units - *charged) as usize);
        *charged = units;
    }
}

/// Searches in pieces until `se` finds a match or the end; `None` when the fuel ran out
/// between pieces (the caller saves the search and pauses).
fn run_search(
    exec: &mut Exec<'_, '_>,
    m: &mut Matcher<'_>,
    se: &mut Search,
    charged: &mut u64,
) -> Result<Option<Found>, PatternError> {
    loop {
        let limit = m.steps.saturating_add(PIECE_STEPS);
        let r = se.next(m, limit);
        charge_steps(exec, m, charged);
        match r? {
            Found::Paused => {
                if exec.out_of_fuel() {
                    return Ok(None);
                }
            }
            found => return Ok(Some(found)),
        }
    }
}

/// A new table holding `values` at 1..n (a continuation's state).
pub(crate) fn state_table<'gc>(ctx: Context<'gc>, values: &[Value<'gc>]) -> Table<'gc> {
    let t = ctx.new_pause_table(values.len());
    for (i, v) in values.iter().enumerate() {
        let _ = t.set(ctx, Value::Integer(i as i64 + 1), *v);
    }
    t
}

pub(crate) fn lost_state<'gc>(what: &str) -> Error<'gc> {
    Error::runtime(format!("{what}: lost state"))
}

/// The output a builtin working in pieces has saved so far (when it paused, or called Lua):
/// strings at `1..=count` of `parts` (a pause table, made at the first save), `bytes` in
/// all. The rest of its output is in its own buffer until the next save or the end.
#[derive(Clone, Copy, Default)]
pub(crate) struct SavedOutput<'gc> {
    pub(crate) parts: Option<Table<'gc>>,
    pub(crate) count: i64,
    pub(crate) bytes: usize,
}

impl<'gc> SavedOutput<'gc> {
    /// Saves `out` as the next part (nothing for an empty one).
    pub(crate) fn save(&mut self, ctx: Context<'gc>, out: &[u8]) {
        if out.is_empty() {
            return;
        }
        let parts = *self.parts.get_or_insert_with(|| ctx.new_pause_table(0));
        self.count += 1;
        self.bytes += out.len();
        let _ = parts.set(
            ctx,
            Value::Integer(self.count),
            Value::String(ctx.new_pause_string(out)),
        );
    }

    /// What a state table keeps of it: the parts (or nil), the count, the bytes.
    pub(crate) fn state_values(self) -> [Value<'gc>; 3] {
        [
            self.parts.map_or(Value::Nil, Value::Table),
            Value::Integer(self.count),
            Value::Integer(self.bytes as i64),
        ]
    }

    /// Read back from a paused builtin's state (which may come from a snapshot's bytes): the
    /// count at most the parts table's length, so finishing never walks slots that were
    /// never written.
    pub(crate) fn read(
        parts: Value<'gc>,
        count: usize,
        bytes: usize,
        what: &str,
    ) -> Result<Self, Error<'gc>> {
        let (parts, count) = match parts {
            Value::Table(t) => match i64::try_from(count) {
                Ok(n) if n <= t.length() => (Some(t), n),
                _ => return Err(lost_state(what)),
            },
            Value::Nil => (None, 0),
            _ => return Err(lost_state(what)),
        };
        Ok(SavedOutput {
            parts,
            count,
            bytes,
        })
    }

    /// Returns the whole output: the saved parts, then `tail`, then `extra` (see
    /// [`return_assembled`]).
    pub(crate) fn finish(
        self,
        ctx: Context<'gc>,
        exec: &mut Exec<'gc, '_>,
        tail: &[u8],
        extra: Option<Value<'gc>>,
    ) -> Result<Action<'gc>, Error<'gc>> {
        let total = self.bytes.saturating_add(tail.len());
        return_assembled(ctx, exec, self.parts, self.count, total, tail, extra)
    }
}

/// A paused builtin's saved state (a table made by [`state_table`]), read back with checks:
/// a state that is not what the builtin saved is "lost state", never a panic.
pub(crate) struct SavedState<'gc> {
    table: Table<'gc>,
    what: &'static str,
}

impl<'gc> SavedState<'gc> {
    /// The state a continuation of builtin `what` got as its upvalue.
    pub(crate) fn of(state: Value<'gc>, what: &'static str) -> Result<Self, Error<'gc>> {
        match state {
            Value::Table(table) => Ok(SavedState { table, what }),
            _ => Err(lost_state(what)),
        }
    }

    /// Slot `k` as a non-negative index or count.
    pub(crate) fn index(&self, k: i64) -> Result<usize, Error<'gc>> {
        self.table
            .get_int(k)
            .as_integer_strict()
            .and_then(|i| usize::try_from(i).ok())
            .ok_or_else(|| lost_state(self.what))
    }

    /// Slot `k` as a string.
    pub(crate) fn string(&self, k: i64) -> Result<LuaString<'gc>, Error<'gc>> {
        self.table
            .get_int(k)
            .as_string()
            .ok_or_else(|| lost_state(self.what))
    }

    /// Slot `k` as it is.
    pub(crate) fn value(&self, k: i64) -> Value<'gc> {
        self.table.get_int(k)
    }
}

/// The search saved in `blob`, or a fresh one from `fresh`.
fn load_search<'gc>(
    m: &mut Matcher<'_>,
    blob: Value<'gc>,
    what: &str,
    fresh: impl FnOnce() -> Search,
) -> Result<Search, Error<'gc>> {
    match blob {
        Value::String(b) => Search::decode(b.as_bytes(), m).ok_or_else(|| lost_state(what)),
        _ => Ok(fresh()),
    }
}

/// Capture `i` of the match `s..e` as a Lua value.
fn capture_value<'gc>(
    ctx: Context<'gc>,
    m: &Matcher<'_>,
    i: usize,
    s: usize,
    e: usize,
) -> Result<Value<'gc>, Error<'gc>> {
    Ok(match m.capture(i, s, e).map_err(pattern_error)? {
        Capture::Str(b) => new_str(ctx, b),
        Capture::Position(p) => Value::Integer(p as i64),
    })
}

/// The captures of the match `s..e` (the whole match when there are none and `whole` is
/// set) as values, after making room on the stack for them and reserving the bytes of the
/// strings they copy: a capture longer than `BUILD_IN_PIECES` is a `nil` placeholder and
/// a slice of `subject` to build in pieces (`big_string::Slice`: `("a"):rep(2^24):
/// match("a*")` copied 16 MiB in one step), the others are made and charged here (the big
/// ones are charged by the builder, piece by piece).
fn capture_values<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    m: &Matcher<'_>,
    subject: LuaString<'gc>,
    (s, e): (usize, usize),
    whole: bool,
    first_index: usize,
) -> Result<(Vec<Value<'gc>>, Vec<Slice<'gc>>), Error<'gc>> {
    let n = m.num_captures(whole);
    let (mut bytes, mut big) = (0usize, 0usize);
    for i in 0..n {
        if let Capture::Str(b) = m.capture(i, s, e).map_err(pattern_error)? {
            bytes = bytes.saturating_add(b.len());
            if b.len() > BUILD_IN_PIECES {
                big += b.len();
            }
        }
    }
    exec.reserve_values(ctx, n + 1, "too many captures")?;
    ctx.reserve_memory(bytes)?;
    charge_bytes(exec, bytes.saturating_sub(big));
    let mut values = Vec::with_capacity(n);
    let mut slices = Vec::new();
    for i in 0..n {
        match m.capture(i, s, e).map_err(pattern_error)? {
            Capture::Str(b) if b.len() > BUILD_IN_PIECES => {
                slices.push(Slice {
                    index: first_index + values.len(),
                    source: subject,
                    offset: m.offset_of(b),
                    len: b.len(),
                });
                values.push(Value::Nil);
            }
            _ => values.push(capture_value(ctx, m, i, s, e)?),
        }
    }
    Ok((values, slices))
}

/// Returns the values already pushed followed by the captures of the match `s..e` (see
/// [`capture_values`]; big ones built in pieces first).
fn return_captures<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    m: &Matcher<'_>,
    subject: LuaString<'gc>,
    s: usize,
    e: usize,
    whole: bool,
) -> Result<Action<'gc>, Error<'gc>> {
    let before = exec.len();
    let (values, slices) = capture_values(ctx, exec, m, subject, (s, e), whole, before)?;
    if slices.is_empty() {
        values.into_iter().for_each(|v| exec.push(v));
        return Ok(Action::Return);
    }
    let all: Vec<Value<'gc>> = (0..before).map(|i| exec.arg(i)).chain(values).collect();
    return_with_slices(ctx, exec, &all, &slices)
}

fn find<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    find_aux(ctx, exec, true)
}

fn match_<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    find_aux(ctx, exec, false)
}

fn find_aux<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    is_find: bool,
) -> Result<Action<'gc>, Error<'gc>> {
    let s = check_string(ctx, exec, 0)?;
    let p = check_string(ctx, exec, 1)?;
    let init = pos_relative_start(opt_integer(exec, 2, 1)?, s.len()) - 1;
    if init > s.len() {
        exec.set_return(Value::Nil);
        return Ok(Action::Return);
    }
    // `find` with `plain` or without specials, or a literal pattern: a substring search.
    let plain = if is_find {
        exec.arg(3).is_truthy() || no_specials(p.as_bytes())
    } else {
        is_literal(p.as_bytes())
    };
    let se = Search::new(p.as_bytes(), init, plain, true);
    find_continue(ctx, exec, s, p, is_find, Err(se))
}

/// `find`/`match` from a saved search: its result, or a pause with the search saved.
fn find_continue<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    s: LuaString<'gc>,
    p: LuaString<'gc>,
    is_find: bool,
    saved: Result<Value<'gc>, Search>,
) -> Result<Action<'gc>, Error<'gc>> {
    let mut m = Matcher::new(s.as_bytes(), p.as_bytes());
    let mut se = match saved {
        Ok(blob) => load_search(&mut m, blob, "find", || unreachable_search(p))?,
        Err(fresh) => fresh,
    };
    let mut charged = m.steps / STEPS_PER_FUEL;
    let found = run_search(exec, &mut m, &mut se, &mut charged).map_err(pattern_error)?;
    exec.clear();
    match found {
        None => {
            let blob = Value::String(ctx.new_pause_string(&se.encode(&m)));
            let state = state_table(
                ctx,
                &[
                    Value::String(s),
                    Value::String(p),
                    Value::Boolean(is_find),
                    blob,
                ],
            );
            Ok(Action::Pause {
                then: Then::new("find", find_resume, Value::Table(state)),
            })
        }
        Some(Found::Match(start, end)) => {
            if is_find {
                exec.reserve_values(ctx, 2, "too many captures")?;
                exec.push(Value::Integer(start as i64 + 1));
                exec.push(Value::Integer(end as i64));
            }
            return_captures(ctx, exec, &m, s, start, end, !is_find)
        }
        Some(_) => {
            exec.push(Value::Nil);
            Ok(Action::Return)
        }
    }
}

/// What a resumed `find` searches when its saved search is missing (never: it always saves
/// one): nothing.
fn unreachable_search(p: LuaString<'_>) -> Search {
    Search::new(p.as_bytes(), usize::MAX, false, true)
}

fn find_resume<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    _o: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    let Value::Table(t) = exec.upvalue else {
        return Err(lost_state("find"));
    };
    let (Some(s), Some(p)) = (t.get_int(1).as_string(), t.get_int(2).as_string()) else {
        return Err(lost_state("find"));
    };
    let is_find = t.get_int(3).is_truthy();
    find_continue(ctx, exec, s, p, is_find, Ok(t.get_int(4)))
}

fn gmatch<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let s = check_string(ctx, exec, 0)?;
    let p = check_string(ctx, exec, 1)?;
    let mut init = pos_relative_start(opt_integer(exec, 2, 1)?, s.len()) - 1;
    if init > s.len() {
        init = s.len() + 1;
    }
    // State: [subject, pattern, next start (0-based), end of last match or -1]. (Made by
    // every `gmatch`, paused or not: a script table.)
    let state = ctx.new_table_with_capacity(4, 0);
    for (i, v) in [
        Value::String(s),
        Value::String(p),
        Value::Integer(init as i64),
        Value::Integer(-1),
    ]
    .into_iter()
    .enumerate()
    {
        let _ = state.set(ctx, Value::Integer(i as i64 + 1), v);
    }
    let f = Callback::with_upvalue(ctx, "gmatch_aux", gmatch_aux, Value::Table(state));
    exec.set_return(Value::Callback(f));
    Ok(Action::Return)
}

fn gmatch_aux<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let Value::Table(state) = exec.upvalue else {
        return Err(lost_state("gmatch"));
    };
    gmatch_continue(ctx, exec, state, Value::Nil)
}

/// One call of a `gmatch` iterator, fresh (`blob` nil) or resumed from a saved search. The
/// saved search lives in the pause's own state, not in the iterator's (shared) state.
fn gmatch_continue<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    state: Table<'gc>,
    blob: Value<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    let (Some(s), Some(p)) = (state.get_int(1).as_string(), state.get_int(2).as_string()) else {
        return Err(lost_state("gmatch"));
    };
    let (sb, pb) = (s.as_bytes(), p.as_bytes());
    let pos = state.get_int(3).as_integer_strict().unwrap_or(0).max(0) as usize;
    let last = state.get_int(4).as_integer_strict().unwrap_or(-1);
    exec.clear();
    let mut m = Matcher::new(sb, pb);
    let mut se = load_search(&mut m, blob, "gmatch", || {
        // A '^' is not an anchor in gmatch (it matches itself).
        let mut se = Search::new(pb, pos, is_literal(pb), false);
        se.last = usize::try_from(last).ok();
        se
    })?;
    let mut charged = m.steps / STEPS_PER_FUEL;
    match run_search(exec, &mut m, &mut se, &mut charged).map_err(pattern_error)? {
        None => {
            let blob = Value::String(ctx.new_pause_string(&se.encode(&m)));
            let t = state_table(ctx, &[Value::Table(state), blob]);
            Ok(Action::Pause {
                then: Then::new("gmatch", gmatch_resume, Value::Table(t)),
            })
        }
        Some(Found::Match(start, e)) => {
            let _ = state.set(ctx, Value::Integer(3), Value::Integer(e as i64));
            let _ = state.set(ctx, Value::Integer(4), Value::Integer(e as i64));
            return_captures(ctx, exec, &m, s, start, e, true)
        }
        Some(_) => {
            let _ = state.set(ctx, Value::Integer(3), Value::Integer(sb.len() as i64 + 1));
            Ok(Action::Return)
        }
    }
}

fn gmatch_resume<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    _o: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    let Value::Table(t) = exec.upvalue else {
        return Err(lost_state("gmatch"));
    };
    let Some(state) = t.get_int(1).as_table() else {
        return Err(lost_state("gmatch"));
    };
    gmatch_continue(ctx, exec, state, t.get_int(2))
}

/// A `gsub` in progress: the typed state of its continuation (a resumable builtin state, see
/// `lunette_vm::ResumableState`) while a replacement function or `__index` runs, or across
/// step boundaries. It is made at the first suspension, which is always at a point the
/// script's history decides (the first Lua call, or the first piece boundary of the
/// search), never where the fuel ran out, so its id and charge do not depend on the host's
/// step sizes; later suspensions resume it in place.
#[derive(Collect, Clone)]
#[collect(no_drop)]
struct Gsub<'gc> {
    src: LuaString<'gc>,
    pat: LuaString<'gc>,
    repl: Value<'gc>,
    max_n: i64,
    /// Subject bytes before this position (0-based) are in the output.
    pos: usize,
    /// Replacements made.
    n: i64,
    /// Finished output pieces (strings at 1..=nparts), when the output was ever flushed.
    parts: Option<Table<'gc>>,
    nparts: i64,
    /// Bytes in `parts`.
    saved_len: usize,
    /// Output not yet flushed to `parts`. Its capacity is reserved against the memory limit
    /// before it grows (`Gsub::append`); flushed at piece boundaries and calls once it holds
    /// `GS_FLUSH` bytes, so the state the journal copies stays small.
    buf: Vec<u8>,
    /// The match waiting for a replacement value.
    pending: (usize, usize),
    /// The parked search: `Search::encode`'s bytes when parked inside an attempt (or a
    /// plain search past its needle's preprocessing: `Search::in_attempt`), else empty and
    /// the search is `idle` (next position, end of last match, steps so far).
    search: Vec<u8>,
    idle: (usize, Option<usize>, u64),
    /// What the continuation resumes after.
    awaiting: Awaiting,
}

/// What a suspended `gsub` waits for.
#[derive(Copy, Clone, PartialEq, Eq, Collect)]
#[collect(require_static)]
enum Awaiting {
    /// The replacement value of the pending match (a function's or `__index`'s result).
    Value,
    /// The end of a step boundary.
    Boundary,
}

/// Output at least this long is flushed into a part at a piece boundary or a call.
const GS_FLUSH: usize = 4096;

/// Where [`gsub_run`] stopped.
enum GsubNext {
    /// Finished (the output is complete).
    Done,
    /// Waits for a call: the exec region holds the function, then its arguments.
    Call,
    /// Waits at a step boundary.
    Boundary,
}

/// Grows `buf` to hold `more` bytes, reserving its new capacity (at least double, as `Vec`
/// grows) against the memory limit first. The buffer lives outside the VM's account while
/// the builtin runs and grows many times in one call, so it must fit in what is left under
/// the limit now (`not enough memory` otherwise, without the collect-then-retry of
/// `Context::reserve_memory`: garbage made since the last collection can make this fail
/// where a collection would have made room).
pub(crate) fn reserve_buffer<'gc>(
    ctx: Context<'gc>,
    buf: &mut Vec<u8>,
    more: usize,
) -> Result<(), Error<'gc>> {
    let needed = buf.len().saturating_add(more);
    if needed > buf.capacity() {
        let new_cap = needed.max(buf.capacity().saturating_mul(2));
        let memory = ctx.memory();
        if let Some(limit) = memory.limit() {
            if memory.used().saturating_add(new_cap) > limit {
                // What is needed may still fit: grow to what is left.
                let left = limit.saturating_sub(memory.used());
                if needed > left {
                    // It does not fit now, but what is in use may be garbage: ask like any
                    // builtin (a collection at the next safe point; `not enough memory`
                    // only once one ran and there is still no room), never fail first.
                    ctx.reserve_memory(needed)?;
                    buf.reserve_exact(needed - buf.len());
                    return Ok(());
                }
                buf.reserve_exact(left - buf.len());
                return Ok(());
            }
        }
        ctx.reserve_memory(new_cap)?;
        buf.reserve_exact(new_cap - buf.len());
    }
    Ok(())
}

/// Writes `bytes` to a state stream: their count, then 8 bytes a value (little-endian).
fn write_bytes(w: &mut StateWriter<'_, '_>, bytes: &[u8]) {
    w.count(bytes.len());
    for chunk in bytes.chunks(8) {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        w.int(i64::from_le_bytes(word));
    }
}

/// Reads what [`write_bytes`] wrote (`None`: not such bytes).
fn read_bytes(r: &mut StateReader<'_, '_>) -> Option<Vec<u8>> {
    let len = usize::try_from(r.int()?).ok()?;
    if len.div_ceil(8) > r.remaining() {
        return None;
    }
    let mut bytes = Vec::with_capacity(len);
    for _ in 0..len.div_ceil(8) {
        bytes.extend_from_slice(&r.int()?.to_le_bytes());
    }
    bytes.truncate(len);
    Some(bytes)
}

impl<'gc> Gsub<'gc> {
    const KEY: lunette_vm::PermanentKey = ("string", "gsub");

    /// Parks the search (`se` on `m`) in the state before a suspension, and flushes a long
    /// output into a part. Called at the same points whatever the step sizes (calls and piece
    /// boundaries), so what it flushes is a function of the script's history.
    fn park(&mut self, ctx: Context<'gc>, se: &Search, m: &Matcher<'_>) {
        if se.in_attempt() {
            self.search = se.encode(m);
        } else {
            self.search.clear();
            self.idle = (se.pos, se.last, m.steps);
        }
        self.flush(ctx);
    }

    /// Moves the output buffer into a new part once it holds `GS_FLUSH` bytes.
    fn flush(&mut self, ctx: Context<'gc>) {
        if self.buf.len() < GS_FLUSH {
            return;
        }
        let parts = *self.parts.get_or_insert_with(|| ctx.new_pause_table(0));
        self.nparts += 1;
        self.saved_len += self.buf.len();
        let part = Value::String(ctx.new_pause_string(&self.buf));
        let _ = parts.set(ctx, Value::Integer(self.nparts), part);
        self.buf = Vec::new();
    }

    fn anchored(&self) -> bool {
        self.pat.as_bytes().first() == Some(&b'^')
    }

    /// Makes room for `more` output bytes: PUC's size limit, then the memory limit (by
    /// the buffer's new capacity).
    fn reserve(&mut self, ctx: Context<'gc>, more: usize) -> Result<(), Error<'gc>> {
        let total = self
            .saved_len
            .saturating_add(self.buf.len())
            .saturating_add(more);
        if total > MAX_SIZE {
            // Under a memory limit, PUC runs out of memory first.
            ctx.reserve_memory(total)?;
            return Err(Error::runtime("resulting string too large"));
        }
        reserve_buffer(ctx, &mut self.buf, more)
    }

    fn append(&mut self, ctx: Context<'gc>, bytes: &[u8]) -> Result<(), Error<'gc>> {
        self.reserve(ctx, bytes.len())?;
        self.buf.extend_from_slice(bytes);
        Ok(())
    }

    /// Copies the subject up to `to` (known not to start a match) into the output.
    fn copy_to(&mut self, ctx: Context<'gc>, to: usize) -> Result<(), Error<'gc>> {
        let src = self.src.as_bytes();
        let to = to.min(src.len());
        if to > self.pos {
            self.append(ctx, &src[self.pos..to])?;
            self.pos = to;
        }
        Ok(())
    }

    /// Adds the value a function or table gave for the pending match.
    fn add_value(
        &mut self,
        ctx: Context<'gc>,
        exec: &mut Exec<'gc, '_>,
        v: Value<'gc>,
    ) -> Result<(), Error<'gc>> {
        let (s, e) = self.pending;
        let text: std::borrow::Cow<'_, [u8]> = match v {
            Value::Nil | Value::Boolean(false) => self.src.as_bytes()[s..e].into(),
            Value::String(r) => r.as_bytes().into(),
            Value::Integer(_) | Value::Float(_) => display_plain(v).into_bytes().into(),
            other => {
                return Err(Error::runtime(format!(
                    "invalid replacement value (a {})",
                    other.type_name()
                )))
            }
        };
        charge_bytes(exec, text.len());
        self.append(ctx, &text)
    }

    /// The final string and count. The state is then left in one form whatever happened
    /// before: its parked search depends on where steps ended, and the state stays a
    /// checksum member until the next full collection.
    fn finish(
        &mut self,
        ctx: Context<'gc>,
        exec: &mut Exec<'gc, '_>,
    ) -> Result<Action<'gc>, Error<'gc>> {
        let len = self.src.len();
        self.copy_to(ctx, len)?;
        let total = self.saved_len + self.buf.len();
        let done = return_assembled(
            ctx,
            exec,
            self.parts,
            self.nparts,
            total,
            &self.buf,
            Some(Value::Integer(self.n)),
        );
        self.parts = None;
        self.nparts = 0;
        self.saved_len = 0;
        self.buf = Vec::new();
        self.search = Vec::new();
        self.idle = (0, None, 0);
        self.awaiting = Awaiting::Boundary;
        done
    }
}

impl<'gc> ResumableState<'gc> for Gsub<'gc> {
    fn key(&self) -> lunette_vm::PermanentKey {
        Self::KEY
    }

    fn write(&self, w: &mut StateWriter<'gc, '_>) {
        let Gsub {
            src,
            pat,
            repl,
            max_n,
            pos,
            n,
            parts,
            nparts,
            saved_len,
            buf,
            pending,
            search,
            idle,
            awaiting,
        } = self;
        w.value(Value::String(*src));
        w.value(Value::String(*pat));
        w.value(*repl);
        w.int(*max_n);
        w.count(*pos);
        w.int(*n);
        w.value(parts.map_or(Value::Nil, Value::Table));
        w.int(*nparts);
        w.count(*saved_len);
        w.count(pending.0);
        w.count(pending.1);
        w.count(idle.0);
        w.int(idle.1.map_or(-1, |l| l as i64));
        w.int(idle.2 as i64);
        w.int(match awaiting {
            Awaiting::Value => 0,
            Awaiting::Boundary => 1,
        });
        write_bytes(w, buf);
        write_bytes(w, search);
    }

    fn copy(&self) -> Box<dyn ResumableState<'gc> + 'gc> {
        Box::new(self.clone())
    }

    /// Nothing: the charge is resynced after every `resume`, and where those end depends
    /// on the step sizes (the output buffer and a parked search vary with them), so counting
    /// them would let the host's step sizes move `collectgarbage("count")` and the automatic
    /// collections. The buffer is bounded instead (flushed into parts, which are charged, at
    /// `GS_FLUSH` bytes) and each growth is reserved against the memory limit first.
    fn size_bytes(&self) -> usize {
        0
    }

    fn resume(
        &mut self,
        ctx: Context<'gc>,
        exec: &mut Exec<'gc, '_>,
        this: Resumable<'gc>,
        _outcome: Outcome<'gc>,
    ) -> Result<Action<'gc>, Error<'gc>> {
        if self.awaiting == Awaiting::Value {
            let v = exec.arg(0);
            self.add_value(ctx, exec, v)?;
            if self.anchored() {
                return self.finish(ctx, exec);
            }
        }
        match gsub_run(ctx, exec, self, true)? {
            GsubNext::Done => self.finish(ctx, exec),
            GsubNext::Call => {
                self.awaiting = Awaiting::Value;
                Ok(Action::CallAgain)
            }
            // (Resumed, the run stops at a boundary only when the fuel ran out.)
            GsubNext::Boundary => {
                self.awaiting = Awaiting::Boundary;
                exec.clear();
                Ok(Action::Pause {
                    then: Then::resumable("gsub", this),
                })
            }
        }
    }
}

/// Reads a [`Gsub`] back from its stream, checking what `gsub_run` relies on (positions
/// within the subject, a known `awaiting`); a parked search is checked when it is decoded.
fn read_gsub<'gc>(r: &mut StateReader<'gc, '_>) -> Option<Box<dyn ResumableState<'gc> + 'gc>> {
    let src = r.value()?.as_string()?;
    let pat = r.value()?.as_string()?;
    let repl = r.value()?;
    let max_n = r.int()?;
    let size = |i: i64| usize::try_from(i).ok();
    let pos = size(r.int()?)?;
    let n = r.int()?;
    let parts = match r.value()? {
        Value::Nil => None,
        Value::Table(t) => Some(t),
        _ => return None,
    };
    let nparts = r.int()?;
    let saved_len = size(r.int()?)?;
    let pending = (size(r.int()?)?, size(r.int()?)?);
    let spos = size(r.int()?)?;
    let last = match r.int()? {
        -1 => None,
        l => Some(size(l)?),
    };
    let steps = u64::try_from(r.int()?).ok()?;
    let awaiting = match r.int()? {
        0 => Awaiting::Value,
        1 => Awaiting::Boundary,
        _ => return None,
    };
    let buf = read_bytes(r)?;
    let search = read_bytes(r)?;
    let len = src.len();
    let valid = pos <= len
        && pending.0 <= pending.1
        && pending.1 <= len
        && spos <= len
        && last.is_none_or(|l| l <= len)
        && n >= 0
        && nparts >= 0
        && (nparts == 0 || parts.is_some())
        // (Each part holds at least `GS_FLUSH` bytes: `nparts` stays small.)
        && saved_len <= MAX_SIZE
        && nparts as usize <= saved_len / GS_FLUSH
        && r.is_done();
    valid.then(|| {
        Box::new(Gsub {
            src,
            pat,
            repl,
            max_n,
            pos,
            n,
            parts,
            nparts,
            saved_len,
            buf,
            pending,
            search,
            idle: (spos, last, steps),
            awaiting,
        }) as Box<dyn ResumableState<'gc> + 'gc>
    })
}

/// A piece of a replacement string.
#[derive(Copy, Clone)]
enum ReplPiece {
    /// Bytes `start..end` of the replacement, copied as they are.
    Text(usize, usize),
    /// `%0`-`%9`: the whole match (0) or capture `n`.
    Capture(u8),
    /// `%%`.
    Percent,
    /// A `%` followed by anything else (or nothing): an error when reached, as in PUC,
    /// which reports the first bad escape or capture in order.
    Invalid,
}

/// Most pieces a replacement is split into (a 96 KiB list, not charged: a temporary of one
/// run of matches). A replacement with more escapes is rare and long: it is read again at
/// each match instead ([`Replacement::Escapes`]).
const MAX_REPL_PIECES: usize = 4096;

/// A replacement string as one run of matches uses it.
enum Replacement {
    /// Split into its pieces once (see [`parse_replacement`]).
    Pieces(Vec<ReplPiece>),
    /// Too many escapes to list: split again at each match.
    Escapes,
}

impl Replacement {
    /// What `repl` is.
    fn new(repl: &[u8]) -> Self {
        match parse_replacement(repl, MAX_REPL_PIECES) {
            Some(pieces) => Replacement::Pieces(pieces),
            None => Replacement::Escapes,
        }
    }

    /// The pieces of `repl` (the string this was made from), in order.
    fn pieces<'r>(&'r self, repl: &'r [u8]) -> ReplIter<'r> {
        match self {
            Replacement::Pieces(p) => ReplIter::Listed(p.iter()),
            Replacement::Escapes => ReplIter::Split(ReplPieces { repl, i: 0 }),
        }
    }

    /// Matcher steps one expansion costs beyond its output: a step per listed piece (an
    /// escape whose capture is empty writes nothing), or one per 8 bytes of a replacement
    /// split again at each match.
    fn steps(&self, repl: &[u8]) -> usize {
        match self {
            Replacement::Pieces(p) => p.len(),
            Replacement::Escapes => repl.len() / 8,
        }
    }
}

/// A replacement string split into its pieces: a long replacement is searched for `%`
/// once per run of matches, not byte by byte at every match (a 1 MiB one took 2.3 ms a
/// match), and a short one full of escapes is not searched again at each match. `None`:
/// more than `max` pieces.
fn parse_replacement(repl: &[u8], max: usize) -> Option<Vec<ReplPiece>> {
    let mut pieces = Vec::new();
    for piece in (ReplPieces { repl, i: 0 }) {
        if pieces.len() >= max {
            return None;
        }
        pieces.push(piece);
    }
    Some(pieces)
}

/// [`Replacement::pieces`].
enum ReplIter<'r> {
    Listed(std::slice::Iter<'r, ReplPiece>),
    Split(ReplPieces<'r>),
}

impl Iterator for ReplIter<'_> {
    type Item = ReplPiece;

    #[inline]
    fn next(&mut self) -> Option<ReplPiece> {
        match self {
            ReplIter::Listed(pieces) => pieces.next().copied(),
            ReplIter::Split(pieces) => pieces.next(),
        }
    }
}

/// The pieces of a replacement string, in order (an `Invalid` one ends them).
struct ReplPieces<'a> {
    repl: &'a [u8],
    i: usize,
}

impl Iterator for ReplPieces<'_> {
    type Item = ReplPiece;

    fn next(&mut self) -> Option<Self::Item> {
        let (repl, i) = (self.repl, self.i);
        if i >= repl.len() {
            return None;
        }
        let at = memchr::memchr(b'%', &repl[i..]).unwrap_or(repl.len() - i);
        if at > 0 {
            self.i = i + at;
            return Some(ReplPiece::Text(i, i + at));
        }
        self.i = i + 2;
        Some(match repl.get(i + 1) {
            Some(b'%') => ReplPiece::Percent,
            Some(&d @ b'0'..=b'9') => ReplPiece::Capture(d - b'0'),
            _ => {
                self.i = repl.len();
                ReplPiece::Invalid
            }
        })
    }
}

/// Length of the expansion of a replacement's `pieces` for the match `s..e`, or its error;
/// computed before anything is written, so the output is reserved first.
fn replacement_len(
    m: &Matcher<'_>,
    pieces: impl Iterator<Item = ReplPiece>,
    s: usize,
    e: usize,
) -> Result<usize, PatternError> {
    let mut len = 0usize;
    for piece in pieces {
        let n = match piece {
            ReplPiece::Text(a, b) => b - a,
            ReplPiece::Percent => 1,
            ReplPiece::Capture(0) => e - s,
            ReplPiece::Capture(d) => match m.capture(d as usize - 1, s, e)? {
                Capture::Str(b) => b.len(),
                Capture::Position(p) => p.to_string().len(),
            },
            ReplPiece::Invalid => {
                return Err(PatternError(
                    "invalid use of '%' in replacement string".into(),
                ))
            }
        };
        len = len.saturating_add(n);
    }
    Ok(len)
}

/// Writes the expansion measured by [`replacement_len`] (which found no error).
fn add_replacement(
    m: &Matcher<'_>,
    repl: &[u8],
    pieces: impl Iterator<Item = ReplPiece>,
    s: usize,
    e: usize,
    out: &mut Vec<u8>,
) {
    for piece in pieces {
        match piece {
            ReplPiece::Text(a, b) => out.extend_from_slice(&repl[a..b]),
            ReplPiece::Percent => out.push(b'%'),
            ReplPiece::Capture(0) => out.extend_from_slice(m.src_slice(s, e)),
            ReplPiece::Capture(d) => match m.capture(d as usize - 1, s, e) {
                Ok(Capture::Str(b)) => out.extend_from_slice(b),
                Ok(Capture::Position(p)) => out.extend_from_slice(p.to_string().as_bytes()),
                Err(_) => {}
            },
            ReplPiece::Invalid => {}
        }
    }
}

fn gsub<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let src = check_string(ctx, exec, 0)?;
    let pat = check_string(ctx, exec, 1)?;
    let repl = exec.arg(2);
    let max_n = opt_integer(exec, 3, src.len() as i64 + 1)?;
    let repl = match repl {
        Value::String(_) | Value::Table(_) | Value::Function(_) | Value::Callback(_) => repl,
        Value::Integer(_) | Value::Float(_) => new_str(ctx, display_plain(repl).as_bytes()),
        _ => return Err(Error::type_error(3, "string/function/table", exec.get(2))),
    };
    let mut g = Gsub {
        src,
        pat,
        repl,
        max_n,
        pos: 0,
        n: 0,
        parts: None,
        nparts: 0,
        saved_len: 0,
        buf: Vec::new(),
        pending: (0, 0),
        search: Vec::new(),
        idle: (0, None, 0),
        awaiting: Awaiting::Boundary,
    };
    match gsub_run(ctx, exec, &mut g, false)? {
        GsubNext::Done => g.finish(ctx, exec),
        GsubNext::Call => {
            g.awaiting = Awaiting::Value;
            let then = Then::resumable("gsub", Resumable::new(ctx, Box::new(g)));
            // The first call: the function leaves the region for `Action::Call` (the later
            // ones are `Action::CallAgain`s from the state's `resume`).
            let function = exec.remove(0);
            Ok(Action::Call {
                function,
                then: Some(then),
            })
        }
        GsubNext::Boundary => {
            let then = Then::resumable("gsub", Resumable::new(ctx, Box::new(g)));
            crate::util::continue_later_then(ctx, exec, then)
        }
    }
}

/// Matches and replaces until done, a Lua call or a step boundary. `resumed`: running in
/// the resumable state, which goes on past a piece boundary unless the fuel ran out; the
/// first run (no state yet) stops at the first piece boundary, where the state is made.
fn gsub_run<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    g: &mut Gsub<'gc>,
    resumed: bool,
) -> Result<GsubNext, Error<'gc>> {
    let src = g.src.as_bytes();
    let pat = g.pat.as_bytes();
    let mut m = Matcher::new(src, pat);
    let mut se = if g.search.is_empty() {
        let (pos, last, steps) = g.idle;
        let mut se = Search::new(pat, pos, is_literal(pat), true);
        se.last = last;
        m.steps = steps;
        se
    } else {
        Search::decode(&g.search, &mut m).ok_or_else(|| lost_state("gsub"))?
    };
    let mut charged = m.steps / STEPS_PER_FUEL;
    let mut limit = m.steps.saturating_add(PIECE_STEPS);
    // A string replacement's pieces, split at its first use in this run.
    let mut repl: Option<Replacement> = None;
    while g.n < g.max_n {
        let r = se.next(&mut m, limit);
        charge_steps(exec, &m, &mut charged);
        match r.map_err(pattern_error)? {
            Found::Paused => {
                // Positions before the search's are known not to match: copy them now, so
                // no single call copies more than a piece's worth.
                g.copy_to(ctx, se.pos)?;
                if !resumed || exec.out_of_fuel() {
                    g.park(ctx, &se, &m);
                    return Ok(GsubNext::Boundary);
                }
                g.flush(ctx);
                limit = m.steps.saturating_add(PIECE_STEPS);
            }
            Found::NoMatch => break,
            Found::Match(s, e) => {
                g.copy_to(ctx, s)?;
                g.n += 1;
                g.pos = e;
                se.advance_past(e);
                g.pending = (s, e);
                match g.repl {
                    Value::String(r) => {
                        let r = r.as_bytes();
                        let repl = match &repl {
                            Some(p) => p,
                            None => repl.insert(Replacement::new(r)),
                        };
                        let len =
                            replacement_len(&m, repl.pieces(r), s, e).map_err(pattern_error)?;
                        g.reserve(ctx, len)?;
                        // Output is work too: 1 step per 8 bytes (1 unit per 32), and the
                        // replacement's own steps (`Replacement::steps`).
                        m.steps += (len / 8 + repl.steps(r)) as u64;
                        charge_steps(exec, &m, &mut charged);
                        add_replacement(&m, r, repl.pieces(r), s, e, &mut g.buf);
                    }
                    Value::Table(t) => {
                        let key = capture_value(ctx, &m, 0, s, e)?;
                        match index(ctx, Value::Table(t), key, &lunette_vm::Message::new)? {
                            Index::Value(v) => g.add_value(ctx, exec, v)?,
                            Index::Meta(mm, obj, k) => {
                                exec.replace(&[mm, obj, k]);
                                g.park(ctx, &se, &m);
                                return Ok(GsubNext::Call);
                            }
                        }
                    }
                    f => {
                        let (values, slices) =
                            capture_values(ctx, exec, &m, g.src, (s, e), true, 0)?;
                        if slices.is_empty() {
                            exec.replace(&[f]);
                            values.into_iter().for_each(|v| exec.push(v));
                        } else {
                            // Big captures are built in pieces first, then `f` is called
                            // with them (tail-called by the builder's callback).
                            exec.replace(&call_with_slices(ctx, f, &values, &slices));
                        }
                        g.park(ctx, &se, &m);
                        return Ok(GsubNext::Call);
                    }
                }
                if se.anchor {
                    break;
                }
            }
        }
    }
    Ok(GsubNext::Done)
}
