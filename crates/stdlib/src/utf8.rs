//! The UTF-8 library (§6.5), with Lua 5.4.7's strictness: `utf8.codes` rejects stray
//! continuation bytes (5.4.4 silently skipped them).

use lunette_vm::{
    Action, Callback, CallbackFn, Context, Error, Exec, LuaString, Outcome, Then, Value,
};

use crate::base::set;
use crate::string::{state_table, SavedState, VALUES_PER_FUEL, VALUES_PER_PIECE};
use crate::util::{check_integer, check_string, opt_integer};

const MAXUNICODE: u32 = 0x10FFFF;
const MAXUTF: u32 = 0x7FFF_FFFF;
const MSG_INVALID: &str = "invalid UTF-8 code";

/// This library's callbacks and continuations beyond its table's functions, in the VM's
/// permanents table (see `lunette_vm::Permanents`).
fn permanents(p: &mut lunette_vm::Permanents) {
    p.continuation(("utf8", "codepoint_resume"), "codepoint", codepoint_resume);
    p.continuation(("utf8", "len_resume"), "len", len_resume);
    p.continuation(("utf8", "offset_resume"), "offset", offset_resume);
    p.callback(("utf8", "iter_strict"), "for iterator", iter_strict);
    p.callback(("utf8", "iter_lax"), "for iterator", iter_lax);
}

/// Opens the `utf8` library (`char`, `charpattern`, `codes`, `codepoint`, `len`, `offset`).
pub fn open(ctx: Context<'_>) {
    ctx.register_permanents(permanents);
    let lib = ctx.new_table();
    let fns: &[(&str, &'static str, CallbackFn)] = &[
        ("offset", "utf8.offset", offset),
        ("codepoint", "utf8.codepoint", codepoint),
        ("char", "utf8.char", char),
        ("len", "utf8.len", len),
        ("codes", "utf8.codes", codes),
    ];
    crate::util::add_functions(ctx, lib, fns);
    let pattern = ctx.new_string(b"[\0-\x7F\xC2-\xFD][\x80-\xBF]*");
    set(ctx, lib, "charpattern", Value::String(pattern));
    crate::util::publish(ctx, "utf8", lib);
}

/// Byte `i` of `s`, or 0 past the end (PUC reads the terminating NUL).
#[inline]
fn byte(s: &[u8], i: usize) -> u8 {
    s.get(i).copied().unwrap_or(0)
}

#[inline]
fn is_cont(s: &[u8], i: usize) -> bool {
    byte(s, i) & 0xC0 == 0x80
}

/// Decodes one sequence at `s[i..]`: `(code, index after it)`, or `None` if invalid.
/// Sequences of up to six bytes (31 bits) are accepted; `strict` also rejects surrogates and
/// values above U+10FFFF.
pub(crate) fn decode(s: &[u8], i: usize, strict: bool) -> Option<(u32, usize)> {
    const LIMITS: [u32; 6] = [!0, 0x80, 0x800, 0x10000, 0x200000, 0x4000000];
    let mut c = byte(s, i) as u32;
    let mut res: u32;
    let mut end = i;
    if c < 0x80 {
        res = c;
    } else {
        let mut count = 0usize;
        res = 0;
        while c & 0x40 != 0 {
            count += 1;
            let cc = byte(s, i + count) as u32;
            if cc & 0xC0 != 0x80 {
                return None;
            }
            res = (res << 6) | (cc & 0x3F);
            c <<= 1;
        }
        if count > 5 {
            return None;
        }
        res |= (c & 0x7F) << (count * 5);
        if res > MAXUTF || res < LIMITS[count] {
            return None;
        }
        end += count;
    }
    if strict && (res > MAXUNICODE || (0xD800..=0xDFFF).contains(&res)) {
        return None;
    }
    Some((res, end + 1))
}

/// PUC's `u_posrelat`: negative positions count from the end; too negative gives 0.
fn posrelat(pos: i64, len: usize) -> i64 {
    if pos >= 0 {
        pos
    } else if pos.unsigned_abs() > len as u64 {
        0
    } else {
        len as i64 + pos + 1
    }
}

/// Appends the (extended, up to 31-bit) UTF-8 encoding of `x`.
pub(crate) fn encode(x: u32, out: &mut Vec<u8>) {
    if x < 0x80 {
        out.push(x as u8);
        return;
    }
    let mut buf = [0u8; 8];
    let mut n = 0;
    let mut x = x;
    let mut mfb = 0x3fu32; // most that fits in the first byte
    loop {
        buf[7 - n] = 0x80 | (x & 0x3f) as u8;
        n += 1;
        x >>= 6;
        mfb >>= 1;
        if x <= mfb {
            break;
        }
    }
    buf[7 - n] = ((!mfb << 1) | x) as u8;
    out.extend_from_slice(&buf[7 - n..]);
}

fn char<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let n = exec.len();
    // At most 6 bytes a code point (arguments are bounded by the stack limit).
    ctx.reserve_memory(n.saturating_mul(6))?;
    exec.charge(n / 8 + 1);
    let mut out = Vec::with_capacity(n.saturating_mul(6));
    for i in 0..n {
        let code = check_integer(exec, i)? as u64;
        if code > MAXUTF as u64 {
            return Err(Error::bad_argument(i + 1, "value out of range"));
        }
        encode(code as u32, &mut out);
    }
    exec.set_return(Value::String(ctx.new_string(&out)));
    Ok(Action::Return)
}

fn len<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let s = check_string(ctx, exec, 0)?;
    let bytes = s.as_bytes();
    let l = bytes.len();
    let mut posi = posrelat(opt_integer(exec, 1, 1)?, l);
    let mut posj = posrelat(opt_integer(exec, 2, -1)?, l);
    let lax = exec.arg(3).is_truthy();
    if !(1 <= posi && posi - 1 <= l as i64) {
        return Err(Error::bad_argument(2, "initial position out of bounds"));
    }
    posi -= 1;
    posj -= 1;
    if posj >= l as i64 {
        return Err(Error::bad_argument(3, "final position out of bounds"));
    }
    len_run(ctx, exec, s, posi as usize, posj, lax, 0)
}

/// Bytes `utf8.len` decodes in a piece (characters starting in it), each piece charged
/// before it is decoded, a step boundary possible between pieces: one call over a 64 MiB
/// string decoded for ~50 ms, and one that failed at its end was not charged at all.
const LEN_PIECE: usize = 64 * 1024;

/// Bytes `utf8.len` decodes per unit of fuel (~1-2 ns a byte).
const LEN_BYTES_PER_FUEL: usize = 16;

/// Counts the characters of `s` starting from byte `i` up to byte `last` (inclusive; -1: none),
/// `n` counted already; in pieces, pausing between pieces when out of fuel.
fn len_run<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    s: LuaString<'gc>,
    mut i: usize,
    last: i64,
    lax: bool,
    mut n: i64,
) -> Result<Action<'gc>, Error<'gc>> {
    let bytes = s.as_bytes();
    let within = |i: usize| (i as i64) <= last;
    loop {
        if !within(i) {
            exec.set_return(Value::Integer(n));
            return Ok(Action::Return);
        }
        let piece_end = i.saturating_add(LEN_PIECE);
        let span = piece_end.min((last + 1) as usize) - i;
        exec.charge(span / LEN_BYTES_PER_FUEL + 1);
        while within(i) && i < piece_end {
            match decode(bytes, i, !lax) {
                Some((_, next)) => {
                    i = next;
                    n += 1;
                }
                None => {
                    exec.replace(&[Value::Nil, Value::Integer(i as i64 + 1)]);
                    return Ok(Action::Return);
                }
            }
        }
        if within(i) && exec.out_of_fuel() {
            let int = |n: i64| Value::Integer(n);
            let state = state_table(
                ctx,
                &[
                    Value::String(s),
                    int(i as i64),
                    int(last),
                    Value::Boolean(lax),
                    int(n),
                ],
            );
            return Ok(Action::Pause {
                then: Then::new("len", len_resume, Value::Table(state)),
            });
        }
    }
}

fn len_resume<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    _o: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    let saved = SavedState::of(exec.upvalue, "len")?;
    let (s, i) = (saved.string(1)?, saved.index(2)?);
    let (Value::Integer(last), Value::Integer(n)) = (saved.value(3), saved.value(5)) else {
        return Err(Error::runtime("len: lost state"));
    };
    // (A state is checked as an image's would be: `last` within the string.)
    let last = last.clamp(-1, s.len() as i64 - 1);
    len_run(ctx, exec, s, i, last, saved.value(4).is_truthy(), n)
}

fn codepoint<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let s = check_string(ctx, exec, 0)?;
    let bytes = s.as_bytes();
    let l = bytes.len();
    let posi = posrelat(opt_integer(exec, 1, 1)?, l);
    let pose = posrelat(opt_integer(exec, 2, posi)?, l);
    let lax = exec.arg(3).is_truthy();
    if posi < 1 {
        return Err(Error::bad_argument(2, "out of bounds"));
    }
    if pose > l as i64 {
        return Err(Error::bad_argument(3, "out of bounds"));
    }
    exec.clear();
    if posi > pose {
        return Ok(Action::Return);
    }
    if pose - posi >= i32::MAX as i64 {
        return Err(Error::runtime("string slice too long"));
    }
    // Like PUC's `luaL_checkstack`: room for one value a byte before decoding.
    exec.reserve_values(ctx, (pose - posi) as usize + 1, "string slice too long")?;
    codepoint_run(ctx, exec, s, (posi - 1) as usize, pose as usize, lax)
}

/// Decodes and pushes the characters starting in bytes `i..end` of `s`, in pieces, pausing
/// between pieces when out of fuel.
fn codepoint_run<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    s: LuaString<'gc>,
    mut i: usize,
    end: usize,
    lax: bool,
) -> Result<Action<'gc>, Error<'gc>> {
    let bytes = s.as_bytes();
    let end = end.min(bytes.len());
    loop {
        // Charged by what this piece can decode (at most a piece, at least one character per
        // byte left), so a one-character call pays for one value, like `string.byte`.
        let piece = VALUES_PER_PIECE.min(end.saturating_sub(i));
        exec.charge(piece.div_ceil(VALUES_PER_FUEL));
        for _ in 0..VALUES_PER_PIECE {
            if i >= end {
                return Ok(Action::Return);
            }
            match decode(bytes, i, !lax) {
                Some((c, next)) => {
                    exec.push(Value::Integer(c as i64));
                    i = next;
                }
                None => return Err(Error::runtime(MSG_INVALID)),
            }
        }
        if i >= end {
            return Ok(Action::Return);
        }
        if exec.out_of_fuel() {
            let int = |n: usize| Value::Integer(n as i64);
            let state = state_table(
                ctx,
                &[Value::String(s), int(i), int(end), Value::Boolean(lax)],
            );
            return Ok(Action::Pause {
                then: Then::new("codepoint", codepoint_resume, Value::Table(state)),
            });
        }
    }
}

fn codepoint_resume<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    _o: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    let saved = SavedState::of(exec.upvalue, "codepoint")?;
    let (s, i, end) = (saved.string(1)?, saved.index(2)?, saved.index(3)?);
    codepoint_run(ctx, exec, s, i, end, saved.value(4).is_truthy())
}

fn offset<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let s = check_string(ctx, exec, 0)?;
    let bytes = s.as_bytes();
    let l = bytes.len() as i64;
    let mut n = check_integer(exec, 1)?;
    let default = if n >= 0 { 1 } else { l + 1 };
    let mut posi = posrelat(opt_integer(exec, 2, default)?, l as usize);
    if !(1 <= posi && posi - 1 <= l) {
        return Err(Error::bad_argument(3, "position out of bounds"));
    }
    posi -= 1;
    let to_start = n == 0;
    if !to_start && is_cont(bytes, posi as usize) {
        return Err(Error::runtime("initial position is a continuation byte"));
    }
    if n > 0 {
        // The character at `posi` is the first of the `n`.
        n -= 1;
    }
    offset_run(ctx, exec, s, posi, n, to_start)
}

/// Bytes `utf8.offset` moves over in a piece, each piece charged before it moves (a unit per
/// 16 bytes), a step boundary possible between pieces: a call over a 64 MiB string moved for
/// ~30 ms, charged after.
const OFFSET_PIECE: usize = 64 * 1024;

/// Moves from byte `posi` of `s`: with `to_start`, back to the start of the character
/// there; else over `n` characters (forward when `n > 0`, back when `n < 0`); byte by byte,
/// in pieces, pausing between pieces when out of fuel. Returns the position reached (1-based),
/// or nil when the string ended first.
fn offset_run<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    s: LuaString<'gc>,
    mut posi: i64,
    mut n: i64,
    to_start: bool,
) -> Result<Action<'gc>, Error<'gc>> {
    let bytes = s.as_bytes();
    let l = bytes.len() as i64;
    let cont = |p: i64| is_cont(bytes, p as usize);
    loop {
        // Bytes this piece can move over: what is left in the direction of travel.
        let left = if to_start || n < 0 { posi } else { l - posi };
        let piece = (OFFSET_PIECE as i64).min(left.max(0));
        exec.charge(piece as usize / 16 + 1);
        let mut budget = piece;
        let done = if to_start {
            while budget > 0 && posi > 0 && cont(posi) {
                posi -= 1;
                budget -= 1;
            }
            !(posi > 0 && cont(posi))
        } else if n < 0 {
            while budget > 0 && n < 0 && posi > 0 {
                posi -= 1;
                budget -= 1;
                if !(posi > 0 && cont(posi)) {
                    n += 1;
                }
            }
            !(n < 0 && posi > 0)
        } else {
            while budget > 0 && n > 0 && posi < l {
                posi += 1;
                budget -= 1;
                if !cont(posi) {
                    n -= 1;
                }
            }
            !(n > 0 && posi < l)
        };
        if done {
            exec.set_return(if to_start || n == 0 {
                Value::Integer(posi + 1)
            } else {
                Value::Nil
            });
            return Ok(Action::Return);
        }
        if exec.out_of_fuel() {
            let int = |n: i64| Value::Integer(n);
            let state = state_table(
                ctx,
                &[
                    Value::String(s),
                    int(posi),
                    int(n),
                    Value::Boolean(to_start),
                ],
            );
            return Ok(Action::Pause {
                then: Then::new("offset", offset_resume, Value::Table(state)),
            });
        }
    }
}

fn offset_resume<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    _o: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    let saved = SavedState::of(exec.upvalue, "offset")?;
    let s = saved.string(1)?;
    let (Value::Integer(posi), Value::Integer(n)) = (saved.value(2), saved.value(3)) else {
        return Err(Error::runtime("offset: lost state"));
    };
    // (A state is checked as an image's would be: the position within the string.)
    let posi = posi.clamp(0, s.len() as i64);
    offset_run(ctx, exec, s, posi, n, saved.value(4).is_truthy())
}

fn codes<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let s = check_string(ctx, exec, 0)?;
    let lax = exec.arg(1).is_truthy();
    if is_cont(s.as_bytes(), 0) {
        return Err(Error::bad_argument(1, MSG_INVALID));
    }
    let key = if lax {
        "lunette.utf8.codes_lax"
    } else {
        "lunette.utf8.codes"
    };
    let mut iter = ctx.registry().get(ctx.key(key));
    if iter.is_nil() {
        let f: CallbackFn = if lax { iter_lax } else { iter_strict };
        iter = Value::Callback(Callback::new(ctx, "for iterator", f));
        set(ctx, ctx.registry(), key, iter);
    }
    exec.replace(&[iter, Value::String(s), Value::Integer(0)]);
    Ok(Action::Return)
}

fn iter_strict<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
) -> Result<Action<'gc>, Error<'gc>> {
    iter_aux(ctx, exec, true)
}

fn iter_lax<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    iter_aux(ctx, exec, false)
}

fn iter_aux<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    strict: bool,
) -> Result<Action<'gc>, Error<'gc>> {
    let s = check_string(ctx, exec, 0)?;
    let bytes = s.as_bytes();
    let l = bytes.len() as u64;
    // `lua_tointeger`: non-numbers count as 0.
    let mut n = exec.arg(1).to_integer().unwrap_or(0) as u64;
    if n < l {
        while is_cont(bytes, n as usize) {
            n += 1;
        }
    }
    if n >= l {
        exec.clear();
        return Ok(Action::Return);
    }
    match decode(bytes, n as usize, strict) {
        Some((code, next)) if !is_cont(bytes, next) => {
            exec.replace(&[Value::Integer(n as i64 + 1), Value::Integer(code as i64)]);
            Ok(Action::Return)
        }
        _ => Err(Error::runtime(MSG_INVALID)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_roundtrip() {
        for &c in &[
            0u32, 0x7f, 0x80, 0x7ff, 0x800, 0xffff, 0x10000, 0x10ffff, 0x1fffff, 0x200000,
            0x7fffffff,
        ] {
            let mut out = Vec::new();
            encode(c, &mut out);
            assert_eq!(decode(&out, 0, false), Some((c, out.len())), "{c:x}");
        }
        let mut out = Vec::new();
        encode(0x7fffffff, &mut out);
        assert_eq!(out, b"\xFD\xBF\xBF\xBF\xBF\xBF");
        assert_eq!(decode(b"\xED\xA0\x80", 0, true), None);
        assert_eq!(decode(b"\xC0\x80", 0, false), None);
        assert_eq!(decode(b"\x80", 0, false), None);
    }
}
