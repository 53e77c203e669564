//! The string library (§6.4): byte, char, dump, find, format, gmatch, gsub, len, lower,
//! match, pack, packsize, rep, reverse, sub, unpack, upper, and the string metatable.
//!
//! `gsub` with a function or a table with `__index` calls Lua through continuations (its
//! state lives in a Lua table), and pauses between match attempts after a bounded amount of
//! matching work, so a long substitution spans several executor steps instead of one.

use lunette_vm::interp::{arith_numbers, index, Index, MAX_STRING_LEN};
use lunette_vm::{
    display_plain, Action, Callback, CallbackFn, Context, Error, Exec, LuaString, MetaEvent,
    Outcome, Table, Then, Value,
};

use crate::base::set;
use crate::pattern::{find_from, find_plain, no_specials, Capture, Matcher, PatternError};
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

/// Matcher steps `gsub` may take in one executor step before pausing (between attempts).
const GSUB_PAUSE_STEPS: u64 = 1_000_000;

pub fn open(ctx: Context<'_>) {
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
    for (key, name, f) in fns {
        set(ctx, lib, key, Value::Callback(Callback::new(ctx, name, *f)));
    }
    let mt = ctx.new_table();
    // Arithmetic on numeric strings lives here, as in PUC 5.4 (the VM does not coerce
    // strings for arithmetic; bitwise operators have no string metamethods).
    let arith: &[(&str, &'static str, CallbackFn)] = &[
        ("__add", "__add", arith_add),
        ("__sub", "__sub", arith_sub),
        ("__mul", "__mul", arith_mul),
        ("__mod", "__mod", arith_mod),
        ("__pow", "__pow", arith_pow),
        ("__div", "__div", arith_div),
        ("__idiv", "__idiv", arith_idiv),
        ("__unm", "__unm", arith_unm),
    ];
    for (key, name, f) in arith {
        set(ctx, mt, key, Value::Callback(Callback::new(ctx, name, *f)));
    }
    set(ctx, mt, "__index", Value::Table(lib));
    ctx.set_string_metatable(Some(mt));
    set(ctx, ctx.globals(), "string", Value::Table(lib));
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
    event: MetaEvent,
) -> Result<Action<'gc>, Error<'gc>> {
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

fn arith_add<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    string_arith(ctx, exec, MetaEvent::Add)
}

fn arith_sub<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    string_arith(ctx, exec, MetaEvent::Sub)
}

fn arith_mul<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    string_arith(ctx, exec, MetaEvent::Mul)
}

fn arith_mod<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    string_arith(ctx, exec, MetaEvent::Mod)
}

fn arith_pow<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    string_arith(ctx, exec, MetaEvent::Pow)
}

fn arith_div<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    string_arith(ctx, exec, MetaEvent::Div)
}

fn arith_idiv<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    string_arith(ctx, exec, MetaEvent::IDiv)
}

fn arith_unm<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    string_arith(ctx, exec, MetaEvent::Unm)
}

/// Charges fuel for `bytes` bytes copied or scanned.
pub(crate) fn charge_bytes(exec: &mut Exec<'_, '_>, bytes: usize) {
    exec.charge(bytes / 32 + 1);
}

/// Charges fuel for `steps` matcher steps.
fn charge_steps(exec: &mut Exec<'_, '_>, steps: u64) {
    exec.charge((steps / 4) as usize + 1);
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
    } else {
        charge_bytes(exec, end - start + 1);
        new_str(ctx, &bytes[start - 1..end])
    };
    exec.set_return(r);
    Ok(Action::Return)
}

fn map_bytes<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    f: impl FnOnce(&[u8]) -> Vec<u8>,
) -> Result<Action<'gc>, Error<'gc>> {
    let s = check_string(ctx, exec, 0)?;
    charge_bytes(exec, s.len());
    let out = f(s.as_bytes());
    exec.set_return(new_str(ctx, &out));
    Ok(Action::Return)
}

fn lower<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    map_bytes(ctx, exec, |b| b.to_ascii_lowercase())
}

fn upper<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    map_bytes(ctx, exec, |b| b.to_ascii_uppercase())
}

fn reverse<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    map_bytes(ctx, exec, |b| b.iter().rev().copied().collect())
}

fn rep<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let s = check_string(ctx, exec, 0)?;
    let n = check_integer(exec, 1)?;
    let sep = opt_string(ctx, exec, 2)?;
    let s = s.as_bytes();
    let sep = sep.map(|x| x.as_bytes()).unwrap_or(b"");
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
    ctx.reserve_memory(unit * n)?;
    charge_bytes(exec, unit * n);
    let mut piece = Vec::with_capacity(unit);
    piece.extend_from_slice(s);
    piece.extend_from_slice(sep);
    let mut out = piece.repeat(n);
    out.truncate(out.len() - sep.len());
    exec.set_return(new_str(ctx, &out));
    Ok(Action::Return)
}

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
    charge_bytes(exec, (end - start + 1) * 4);
    for &b in &bytes[start - 1..end] {
        exec.push(Value::Integer(b as i64));
    }
    Ok(Action::Return)
}

fn char<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let n = exec.len();
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let c = check_integer(exec, i)?;
        if !(0..=255).contains(&c) {
            return Err(Error::bad_argument(i + 1, "value out of range"));
        }
        out.push(c as u8);
    }
    charge_bytes(exec, n * 4);
    exec.set_return(new_str(ctx, &out));
    Ok(Action::Return)
}

fn dump<'gc>(_ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    if !exec.get(0).is_some_and(|v| v.is_function()) {
        return Err(Error::type_error(1, "function", exec.get(0)));
    }
    // lunette keeps no binary chunk format.
    Err(Error::runtime("unable to dump given function"))
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

/// Pushes the captures of the match `s..e` (the whole match when there are none and
/// `whole` is set).
fn push_captures<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    m: &Matcher<'_>,
    s: usize,
    e: usize,
    whole: bool,
) -> Result<(), Error<'gc>> {
    for i in 0..m.num_captures(whole) {
        let v = capture_value(ctx, m, i, s, e)?;
        exec.push(v);
    }
    Ok(())
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
    let s = check_string(ctx, exec, 0)?.as_bytes();
    let p = check_string(ctx, exec, 1)?.as_bytes();
    let init = pos_relative_start(opt_integer(exec, 2, 1)?, s.len()) - 1;
    if init > s.len() {
        exec.set_return(Value::Nil);
        return Ok(Action::Return);
    }
    if is_find && (exec.arg(3).is_truthy() || no_specials(p)) {
        charge_bytes(exec, s.len() - init);
        match find_plain(&s[init..], p) {
            Some(i) => {
                let start = init + i;
                exec.replace(&[
                    Value::Integer(start as i64 + 1),
                    Value::Integer((start + p.len()) as i64),
                ]);
            }
            None => exec.set_return(Value::Nil),
        }
        return Ok(Action::Return);
    }
    let mut m = Matcher::new(s, p);
    let r = find_from(&mut m, p, init);
    charge_steps(exec, m.steps);
    match r.map_err(pattern_error)? {
        Some((start, end)) => {
            exec.clear();
            if is_find {
                exec.push(Value::Integer(start as i64 + 1));
                exec.push(Value::Integer(end as i64));
                push_captures(ctx, exec, &m, start, end, false)?;
            } else {
                push_captures(ctx, exec, &m, start, end, true)?;
            }
        }
        None => exec.set_return(Value::Nil),
    }
    Ok(Action::Return)
}

fn gmatch<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let s = check_string(ctx, exec, 0)?;
    let p = check_string(ctx, exec, 1)?;
    let mut init = pos_relative_start(opt_integer(exec, 2, 1)?, s.len()) - 1;
    if init > s.len() {
        init = s.len() + 1;
    }
    // State: [subject, pattern, next start (0-based), end of last match or -1].
    let state = ctx.new_table();
    let mc = ctx.mutation();
    let _ = state.set(mc, Value::Integer(1), Value::String(s));
    let _ = state.set(mc, Value::Integer(2), Value::String(p));
    let _ = state.set(mc, Value::Integer(3), Value::Integer(init as i64));
    let _ = state.set(mc, Value::Integer(4), Value::Integer(-1));
    let f = Callback::with_upvalue(ctx, "gmatch_aux", gmatch_aux, Value::Table(state));
    exec.set_return(Value::Callback(f));
    Ok(Action::Return)
}

fn gmatch_aux<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let Value::Table(state) = exec.upvalue else {
        return Err(Error::runtime("gmatch: lost state"));
    };
    let (Some(s), Some(p)) = (state.get_int(1).as_string(), state.get_int(2).as_string()) else {
        return Err(Error::runtime("gmatch: lost state"));
    };
    let (s, p) = (s.as_bytes(), p.as_bytes());
    let mut src = state.get_int(3).as_integer_strict().unwrap_or(0) as usize;
    let last = state.get_int(4).as_integer_strict().unwrap_or(-1);
    let mut m = Matcher::new(s, p);
    exec.clear();
    while src <= s.len() {
        let r = m.try_match(src, 0);
        let r = match r {
            Ok(r) => r,
            Err(e) => {
                charge_steps(exec, m.steps);
                return Err(pattern_error(e));
            }
        };
        if let Some(e) = r {
            if e as i64 != last {
                charge_steps(exec, m.steps);
                let _ = state.set(ctx.mutation(), Value::Integer(3), Value::Integer(e as i64));
                let _ = state.set(ctx.mutation(), Value::Integer(4), Value::Integer(e as i64));
                push_captures(ctx, exec, &m, src, e, true)?;
                return Ok(Action::Return);
            }
        }
        src += 1;
    }
    charge_steps(exec, m.steps);
    let _ = state.set(
        ctx.mutation(),
        Value::Integer(3),
        Value::Integer(s.len() as i64 + 1),
    );
    Ok(Action::Return)
}

/// The progress of a `gsub`, saved in a Lua table while Lua code runs.
struct Gsub<'gc> {
    src: LuaString<'gc>,
    pat: LuaString<'gc>,
    repl: Value<'gc>,
    max_n: i64,
    /// Next subject position to try (0-based).
    pos: usize,
    /// End of the last match, if any.
    last: Option<usize>,
    /// Replacements made.
    n: i64,
    /// Finished output pieces (strings at 1..=nparts), when the output was ever saved.
    parts: Option<Table<'gc>>,
    nparts: i64,
    /// Bytes in `parts`.
    saved_len: usize,
    /// Output not yet saved in `parts`.
    buf: Vec<u8>,
    /// The match waiting for a replacement value.
    pending: (usize, usize),
}

const GS_SRC: i64 = 1;
const GS_PAT: i64 = 2;
const GS_REPL: i64 = 3;
const GS_MAX: i64 = 4;
const GS_POS: i64 = 5;
const GS_LAST: i64 = 6;
const GS_N: i64 = 7;
const GS_PARTS: i64 = 8;
const GS_NPARTS: i64 = 9;
const GS_SAVED: i64 = 10;
const GS_MSTART: i64 = 11;
const GS_MEND: i64 = 12;

impl<'gc> Gsub<'gc> {
    fn save(&mut self, ctx: Context<'gc>) -> Table<'gc> {
        let mc = ctx.mutation();
        let parts = *self.parts.get_or_insert_with(|| ctx.new_table());
        if !self.buf.is_empty() {
            self.nparts += 1;
            self.saved_len += self.buf.len();
            let _ = parts.set(mc, Value::Integer(self.nparts), new_str(ctx, &self.buf));
            self.buf.clear();
        }
        let t = ctx.new_table_with_capacity(12, 0);
        let int = |n: usize| Value::Integer(n as i64);
        let fields = [
            (GS_SRC, Value::String(self.src)),
            (GS_PAT, Value::String(self.pat)),
            (GS_REPL, self.repl),
            (GS_MAX, Value::Integer(self.max_n)),
            (GS_POS, int(self.pos)),
            (GS_LAST, self.last.map_or(Value::Integer(-1), int)),
            (GS_N, Value::Integer(self.n)),
            (GS_PARTS, Value::Table(parts)),
            (GS_NPARTS, Value::Integer(self.nparts)),
            (GS_SAVED, int(self.saved_len)),
            (GS_MSTART, int(self.pending.0)),
            (GS_MEND, int(self.pending.1)),
        ];
        for (k, v) in fields {
            let _ = t.set(mc, Value::Integer(k), v);
        }
        t
    }

    fn load(state: Value<'gc>) -> Result<Self, Error<'gc>> {
        let lost = || Error::runtime("gsub: lost state");
        let Value::Table(t) = state else {
            return Err(lost());
        };
        let int = |k: i64| t.get_int(k).as_integer_strict().ok_or_else(lost);
        let last = int(GS_LAST)?;
        Ok(Gsub {
            src: t.get_int(GS_SRC).as_string().ok_or_else(lost)?,
            pat: t.get_int(GS_PAT).as_string().ok_or_else(lost)?,
            repl: t.get_int(GS_REPL),
            max_n: int(GS_MAX)?,
            pos: int(GS_POS)? as usize,
            last: (last >= 0).then_some(last as usize),
            n: int(GS_N)?,
            parts: t.get_int(GS_PARTS).as_table(),
            nparts: int(GS_NPARTS)?,
            saved_len: int(GS_SAVED)? as usize,
            buf: Vec::new(),
            pending: (int(GS_MSTART)? as usize, int(GS_MEND)? as usize),
        })
    }

    fn anchored(&self) -> bool {
        self.pat.as_bytes().first() == Some(&b'^')
    }

    fn check_size(&self, ctx: Context<'gc>) -> Result<(), Error<'gc>> {
        let len = self.saved_len + self.buf.len();
        if len > MAX_SIZE {
            return Err(Error::runtime("resulting string too large"));
        }
        ctx.reserve_memory(len)
    }

    /// How long `buf` may grow within one replacement: the string size limit or the memory
    /// left under the VM's limit, whichever is smaller.
    fn growth_bound(&self, ctx: Context<'gc>) -> usize {
        let size_left = MAX_SIZE.saturating_sub(self.saved_len);
        let memory = ctx.memory();
        match memory.limit() {
            Some(limit) => size_left.min(limit.saturating_sub(memory.used())),
            None => size_left,
        }
    }

    /// The error for a replacement that outgrew `growth_bound`.
    fn overflow_error(&self) -> Error<'gc> {
        if self.saved_len + self.buf.len() > MAX_SIZE {
            Error::runtime("resulting string too large")
        } else {
            Error::NotEnoughMemory
        }
    }

    /// Adds the value a function or table gave for the pending match.
    fn add_value(&mut self, ctx: Context<'gc>, v: Value<'gc>) -> Result<(), Error<'gc>> {
        let (s, e) = self.pending;
        match v {
            Value::Nil | Value::Boolean(false) => {
                self.buf.extend_from_slice(&self.src.as_bytes()[s..e])
            }
            Value::String(r) => self.buf.extend_from_slice(r.as_bytes()),
            Value::Integer(_) | Value::Float(_) => {
                self.buf.extend_from_slice(display_plain(v).as_bytes())
            }
            other => {
                return Err(Error::runtime(format!(
                    "invalid replacement value (a {})",
                    other.type_name()
                )))
            }
        }
        self.check_size(ctx)
    }

    /// The final string and count.
    fn finish(
        mut self,
        ctx: Context<'gc>,
        exec: &mut Exec<'gc, '_>,
    ) -> Result<Action<'gc>, Error<'gc>> {
        let src = self.src.as_bytes();
        self.buf.extend_from_slice(&src[self.pos.min(src.len())..]);
        self.check_size(ctx)?;
        let result = match self.parts {
            None => self.buf,
            Some(parts) => {
                let mut out = Vec::with_capacity(self.saved_len + self.buf.len());
                for i in 1..=self.nparts {
                    if let Some(p) = parts.get_int(i).as_string() {
                        out.extend_from_slice(p.as_bytes());
                    }
                }
                out.extend_from_slice(&self.buf);
                out
            }
        };
        charge_bytes(exec, result.len());
        exec.replace(&[new_str(ctx, &result), Value::Integer(self.n)]);
        Ok(Action::Return)
    }
}

/// `%0`-`%9` and `%%` substitution of a replacement string for the match `s..e`.
/// Why a replacement string could not be expanded.
enum ReplacementError {
    Pattern(PatternError),
    /// The output passed the bound it was given (`Gsub::growth_bound`).
    TooLong,
}

fn add_replacement_string(
    m: &Matcher<'_>,
    repl: &[u8],
    s: usize,
    e: usize,
    out: &mut Vec<u8>,
    max_len: usize,
) -> Result<(), ReplacementError> {
    let mut i = 0;
    while i < repl.len() {
        let c = repl[i];
        i += 1;
        if c != b'%' {
            out.push(c);
            continue;
        }
        // One replacement can copy its match many times (`%0%0%0...`): bound it as it grows.
        if out.len() > max_len {
            return Err(ReplacementError::TooLong);
        }
        match repl.get(i) {
            Some(b'%') => out.push(b'%'),
            Some(b'0') => out.extend_from_slice(m.src_slice(s, e)),
            Some(&d @ b'1'..=b'9') => match m
                .capture((d - b'1') as usize, s, e)
                .map_err(ReplacementError::Pattern)?
            {
                Capture::Str(b) => out.extend_from_slice(b),
                Capture::Position(p) => out.extend_from_slice(p.to_string().as_bytes()),
            },
            _ => {
                return Err(ReplacementError::Pattern(PatternError(
                    "invalid use of '%' in replacement string".into(),
                )))
            }
        }
        i += 1;
    }
    Ok(())
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
    let g = Gsub {
        src,
        pat,
        repl,
        max_n,
        pos: 0,
        last: None,
        n: 0,
        parts: None,
        nparts: 0,
        saved_len: 0,
        buf: Vec::new(),
        pending: (0, 0),
    };
    gsub_run(ctx, exec, g)
}

/// Matches and replaces until done, or until a Lua call (or a pause) is needed.
fn gsub_run<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    mut g: Gsub<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    let src = g.src.as_bytes();
    let pat = g.pat.as_bytes();
    let anchor = g.anchored();
    let p0 = anchor as usize;
    let mut m = Matcher::new(src, pat);
    let mut charged_out = g.buf.len();
    while g.n < g.max_n {
        if m.steps > GSUB_PAUSE_STEPS {
            // Let the executor check its fuel: resume through a no-op call.
            charge_steps(exec, m.steps);
            charge_bytes(exec, g.buf.len() - charged_out.min(g.buf.len()));
            let state = g.save(ctx);
            exec.clear();
            return Ok(Action::Call {
                function: Value::Callback(Callback::new(ctx, "gsub", no_op)),
                then: Some(Then::new("gsub", gsub_resume, Value::Table(state))),
            });
        }
        let r = match m.try_match(g.pos, p0) {
            Ok(r) => r,
            Err(e) => {
                charge_steps(exec, m.steps);
                return Err(pattern_error(e));
            }
        };
        match r {
            Some(e) if Some(e) != g.last => {
                let s = g.pos;
                g.n += 1;
                g.pos = e;
                g.last = Some(e);
                g.pending = (s, e);
                match g.repl {
                    Value::String(r) => {
                        let bound = g.growth_bound(ctx);
                        if let Err(err) =
                            add_replacement_string(&m, r.as_bytes(), s, e, &mut g.buf, bound)
                        {
                            charge_steps(exec, m.steps);
                            return Err(match err {
                                ReplacementError::Pattern(p) => pattern_error(p),
                                ReplacementError::TooLong => g.overflow_error(),
                            });
                        }
                        g.check_size(ctx)?;
                    }
                    Value::Table(t) => {
                        let key = capture_value(ctx, &m, 0, s, e)?;
                        match index(ctx, Value::Table(t), key, &String::new)? {
                            Index::Value(v) => g.add_value(ctx, v)?,
                            Index::Meta(mm, obj, k) => {
                                charge_steps(exec, m.steps);
                                let state = g.save(ctx);
                                exec.replace(&[obj, k]);
                                return Ok(Action::Call {
                                    function: mm,
                                    then: Some(Then::new(
                                        "gsub",
                                        gsub_after_call,
                                        Value::Table(state),
                                    )),
                                });
                            }
                        }
                    }
                    f => {
                        charge_steps(exec, m.steps);
                        exec.clear();
                        push_captures(ctx, exec, &m, s, e, true)?;
                        let state = g.save(ctx);
                        return Ok(Action::Call {
                            function: f,
                            then: Some(Then::new("gsub", gsub_after_call, Value::Table(state))),
                        });
                    }
                }
                if g.buf.len() - charged_out.min(g.buf.len()) > 4096 {
                    charge_bytes(exec, g.buf.len() - charged_out);
                    charged_out = g.buf.len();
                }
            }
            _ => {
                if g.pos < src.len() {
                    g.buf.push(src[g.pos]);
                    g.pos += 1;
                } else {
                    break;
                }
            }
        }
        if anchor {
            break;
        }
    }
    charge_steps(exec, m.steps);
    g.finish(ctx, exec)
}

fn no_op<'gc>(_ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    exec.clear();
    Ok(Action::Return)
}

fn gsub_resume<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    _o: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    let g = Gsub::load(exec.upvalue)?;
    gsub_run(ctx, exec, g)
}

fn gsub_after_call<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    _o: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    let mut g = Gsub::load(exec.upvalue)?;
    g.add_value(ctx, exec.arg(0))?;
    if g.anchored() {
        return g.finish(ctx, exec);
    }
    gsub_run(ctx, exec, g)
}
