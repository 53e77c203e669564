//! `string.pack`, `string.unpack` and `string.packsize` (§6.4.2), for a 64-bit
//! little-endian machine like PUC on x86-64: `int` 4 bytes, `long`/`size_t`/`lua_Integer`
//! 8, native maximum alignment 8.

use lunette_vm::{Action, Context, Error, Exec, LuaString, Outcome, Table, Then, Value};

use crate::string::{charge_bytes, lost_state, reserve_buffer, state_table, MAX_SIZE};
use crate::util::{check_integer, check_number, check_string, opt_integer, pos_relative_start};

const MAX_INT_SIZE: usize = 16;
const NATIVE_ALIGN: usize = 8;
const SIZE_T: usize = 8;
const LUA_INT: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    Uint,
    Float,
    Double,
    /// Fixed-size string `cn`.
    Char,
    /// Length-prefixed string `s[n]`.
    Str,
    /// Zero-terminated string `z`.
    Zstr,
    Padding,
    PadAlign,
    Nop,
}

struct Parser<'a> {
    fmt: &'a [u8],
    pos: usize,
    little: bool,
    max_align: usize,
}

impl<'a> Parser<'a> {
    /// The position and options a paused builtin saves (three slots of its state).
    fn saved<'gc>(&self) -> [Value<'gc>; 3] {
        [
            Value::Integer(self.pos as i64),
            Value::Boolean(self.little),
            Value::Integer(self.max_align as i64),
        ]
    }

    /// A parser of `fmt` as [`Parser::saved`] left it in `saved`'s slots from `first` on.
    fn restored<'gc>(
        saved: &crate::string::SavedState<'gc>,
        first: i64,
        fmt: &'a [u8],
    ) -> Result<Self, Error<'gc>> {
        let mut p = Parser::new(fmt);
        p.pos = saved.index(first)?.min(fmt.len());
        p.little = saved.value(first + 1).is_truthy();
        p.max_align = saved.index(first + 2)?.clamp(1, MAX_INT_SIZE);
        Ok(p)
    }

    fn new(fmt: &'a [u8]) -> Self {
        Parser {
            fmt,
            pos: 0,
            little: true,
            max_align: 1,
        }
    }

    fn done(&self) -> bool {
        self.pos >= self.fmt.len()
    }

    /// An optional decimal number at the current position.
    fn number(&mut self, default: usize) -> usize {
        if !self.fmt.get(self.pos).is_some_and(|c| c.is_ascii_digit()) {
            return default;
        }
        let mut a: usize = 0;
        loop {
            a = a * 10 + (self.fmt[self.pos] - b'0') as usize;
            self.pos += 1;
            if !(self.fmt.get(self.pos).is_some_and(|c| c.is_ascii_digit())
                && a <= (i32::MAX as usize - 9) / 10)
            {
                return a;
            }
        }
    }

    fn size_limit<'gc>(&mut self, default: usize) -> Result<usize, Error<'gc>> {
        let n = self.number(default);
        if n > MAX_INT_SIZE || n == 0 {
            return Err(Error::runtime(format!(
                "integral size ({n}) out of limits [1,{MAX_INT_SIZE}]"
            )));
        }
        Ok(n)
    }

    /// The next option and its size.
    fn option<'gc>(&mut self) -> Result<(Kind, usize), Error<'gc>> {
        let c = self.fmt[self.pos];
        self.pos += 1;
        Ok(match c {
            b'b' => (Kind::Int, 1),
            b'B' => (Kind::Uint, 1),
            b'h' => (Kind::Int, 2),
            b'H' => (Kind::Uint, 2),
            b'l' | b'j' => (Kind::Int, 8),
            b'L' | b'J' | b'T' => (Kind::Uint, 8),
            b'f' => (Kind::Float, 4),
            b'n' | b'd' => (Kind::Double, 8),
            b'i' => (Kind::Int, self.size_limit(4)?),
            b'I' => (Kind::Uint, self.size_limit(4)?),
            b's' => (Kind::Str, self.size_limit(SIZE_T)?),
            b'c' => {
                if !self.fmt.get(self.pos).is_some_and(|c| c.is_ascii_digit()) {
                    return Err(Error::runtime("missing size for format option 'c'"));
                }
                (Kind::Char, self.number(0))
            }
            b'z' => (Kind::Zstr, 0),
            b'x' => (Kind::Padding, 1),
            b'X' => (Kind::PadAlign, 0),
            b' ' => (Kind::Nop, 0),
            b'<' | b'=' => {
                self.little = true;
                (Kind::Nop, 0)
            }
            b'>' => {
                self.little = false;
                (Kind::Nop, 0)
            }
            b'!' => {
                self.max_align = self.size_limit(NATIVE_ALIGN)?;
                (Kind::Nop, 0)
            }
            other => {
                return Err(Error::runtime(format!(
                    "invalid format option '{}'",
                    String::from_utf8_lossy(&[other])
                )))
            }
        })
    }

    /// The next option, its size and the padding needed before it at offset `total`.
    fn details<'gc>(&mut self, total: usize) -> Result<(Kind, usize, usize), Error<'gc>> {
        let (kind, size) = self.option()?;
        let mut align = size;
        if kind == Kind::PadAlign {
            let bad = || Error::bad_argument(1, "invalid next option for option 'X'");
            if self.done() {
                return Err(bad());
            }
            let (next, next_size) = self.option()?;
            align = next_size;
            if next == Kind::Char || align == 0 {
                return Err(bad());
            }
        }
        let pad = if align <= 1 || kind == Kind::Char {
            0
        } else {
            let align = align.min(self.max_align);
            if !align.is_power_of_two() {
                return Err(Error::bad_argument(
                    1,
                    "format asks for alignment not power of 2",
                ));
            }
            (align - (total & (align - 1))) & (align - 1)
        };
        Ok((kind, size, pad))
    }
}

fn pack_int(out: &mut Vec<u8>, v: u64, little: bool, size: usize, negative: bool) {
    let mut bytes = vec![0u8; size];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = if i < 8 {
            (v >> (8 * i)) as u8
        } else if negative {
            0xff
        } else {
            0
        };
    }
    if !little {
        bytes.reverse();
    }
    out.extend_from_slice(&bytes);
}

fn put_bytes(out: &mut Vec<u8>, le_bytes: &[u8], little: bool) {
    if little {
        out.extend_from_slice(le_bytes);
    } else {
        out.extend(le_bytes.iter().rev());
    }
}

pub(crate) fn pack<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
) -> Result<Action<'gc>, Error<'gc>> {
    let fmt = check_string(ctx, exec, 0)?;
    // PUC leaves a nil after the arguments, so the first missing one is "got nil".
    exec.push(Value::Nil);
    let run = PackRun {
        fmt,
        arg: 0,
        total: 0,
        parts: None,
        nparts: 0,
    };
    pack_run(ctx, exec, run, Parser::new(fmt.as_bytes()), Vec::new())
}

/// Items `pack` and `packsize` handle in one piece before checking their fuel (a format of
/// millions of `x` took 300 ms in one call).
const PACK_PIECE: usize = 256;
/// Output `pack` keeps in its own buffer before moving it into a string part (so its parts
/// do not depend on where steps end).
const PACK_PART_BYTES: usize = 1 << 16;

/// Where a `string.pack` is, besides its parser and its output not yet in a part.
struct PackRun<'gc> {
    fmt: LuaString<'gc>,
    /// 0-based index of the last argument used.
    arg: usize,
    /// Bytes of output so far (in parts and in the buffer).
    total: usize,
    /// The output's parts so far (strings at `1..=nparts`).
    parts: Option<Table<'gc>>,
    nparts: i64,
}

/// Packs the items of `run`'s format from parser state `p` (the arguments are the callback's,
/// still in its region), `out` the output not yet in a part, in pieces of [`PACK_PIECE`]
/// items, pausing between pieces when out of fuel.
fn pack_run<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    mut run: PackRun<'gc>,
    mut p: Parser<'_>,
    mut out: Vec<u8>,
) -> Result<Action<'gc>, Error<'gc>> {
    let mut items = 0;
    while !p.done() {
        if items == PACK_PIECE {
            items = 0;
            if exec.out_of_fuel() {
                let int = |n: usize| Value::Integer(n as i64);
                let [fmt_pos, little, max_align] = p.saved();
                let state = state_table(
                    ctx,
                    &[
                        Value::String(run.fmt),
                        fmt_pos,
                        little,
                        max_align,
                        int(run.arg),
                        int(run.total),
                        Value::String(ctx.new_pause_string(&out)),
                        run.parts.map_or(Value::Nil, Value::Table),
                        Value::Integer(run.nparts),
                    ],
                );
                return Ok(Action::Pause {
                    then: Then::new("pack", pack_resume, Value::Table(state)),
                });
            }
        }
        items += 1;
        if out.len() >= PACK_PART_BYTES {
            let parts = *run.parts.get_or_insert_with(|| ctx.new_pause_table(0));
            run.nparts += 1;
            let _ = parts.set(
                ctx,
                Value::Integer(run.nparts),
                Value::String(ctx.new_string(&out)),
            );
            out.clear();
        }
        let (kind, size, pad) = p.details(run.total)?;
        if run.total + pad + size > MAX_SIZE {
            return Err(Error::runtime("resulting string too large"));
        }
        let start = out.len();
        reserve_buffer(ctx, &mut out, pad + size)?;
        charge_bytes(exec, pad + size);
        out.resize(out.len() + pad, 0);
        run.arg += 1;
        let arg = run.arg;
        match kind {
            Kind::Int => {
                let n = check_integer(exec, arg)?;
                if size < LUA_INT {
                    let lim = 1i64 << (size * 8 - 1);
                    if !(-lim <= n && n < lim) {
                        return Err(Error::bad_argument(arg + 1, "integer overflow"));
                    }
                }
                pack_int(&mut out, n as u64, p.little, size, n < 0);
            }
            Kind::Uint => {
                let n = check_integer(exec, arg)?;
                if size < LUA_INT && (n as u64) >= 1u64 << (size * 8) {
                    return Err(Error::bad_argument(arg + 1, "unsigned overflow"));
                }
                pack_int(&mut out, n as u64, p.little, size, false);
            }
            Kind::Float => {
                let f = check_number(exec, arg)? as f32;
                put_bytes(&mut out, &f.to_le_bytes(), p.little);
            }
            Kind::Double => {
                let f = check_number(exec, arg)?;
                put_bytes(&mut out, &f.to_le_bytes(), p.little);
            }
            Kind::Char => {
                let s = check_string(ctx, exec, arg)?.as_bytes();
                if s.len() > size {
                    return Err(Error::bad_argument(
                        arg + 1,
                        "string longer than given size",
                    ));
                }
                out.extend_from_slice(s);
                out.resize(out.len() + size - s.len(), 0);
            }
            Kind::Str => {
                let s = check_string(ctx, exec, arg)?.as_bytes();
                if size < 8 && s.len() as u64 >= 1u64 << (size * 8) {
                    return Err(Error::bad_argument(
                        arg + 1,
                        "string length does not fit in given size",
                    ));
                }
                if run.total + pad + size + s.len() > MAX_SIZE {
                    return Err(Error::runtime("resulting string too large"));
                }
                reserve_buffer(ctx, &mut out, size + s.len())?;
                charge_bytes(exec, s.len());
                pack_int(&mut out, s.len() as u64, p.little, size, false);
                out.extend_from_slice(s);
            }
            Kind::Zstr => {
                let s = check_string(ctx, exec, arg)?.as_bytes();
                if s.contains(&0) {
                    return Err(Error::bad_argument(arg + 1, "string contains zeros"));
                }
                if run.total + pad + s.len() + 1 > MAX_SIZE {
                    return Err(Error::runtime("resulting string too large"));
                }
                reserve_buffer(ctx, &mut out, s.len() + 1)?;
                charge_bytes(exec, s.len());
                out.extend_from_slice(s);
                out.push(0);
            }
            Kind::Padding => {
                out.push(0);
                run.arg -= 1;
            }
            Kind::PadAlign | Kind::Nop => run.arg -= 1,
        }
        run.total += out.len() - start;
    }
    crate::string::return_assembled(ctx, exec, run.parts, run.nparts, run.total, &out, None)
}

fn pack_resume<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    _o: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    let saved = crate::string::SavedState::of(exec.upvalue, "pack")?;
    let fmt = saved.string(1)?;
    let p = Parser::restored(&saved, 2, fmt.as_bytes())?;
    let out = saved.string(7)?.as_bytes().to_vec();
    let parts = saved.value(8).as_table();
    let nparts = saved.index(9)? as i64;
    let run = PackRun {
        fmt,
        arg: saved.index(5)?,
        total: saved.index(6)?,
        parts,
        nparts,
    };
    // (Each part holds at least `PACK_PART_BYTES`: a damaged state cannot make this count
    // run long.)
    if nparts as usize > run.total / PACK_PART_BYTES {
        return Err(lost_state("pack"));
    }
    let stored: usize = (1..=nparts)
        .map(|k| parts.map_or(0, |t| t.get_int(k).as_string().map_or(0, |s| s.len())))
        .sum();
    if stored + out.len() != run.total || run.arg >= exec.len() {
        return Err(lost_state("pack"));
    }
    pack_run(ctx, exec, run, p, out)
}

pub(crate) fn packsize<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
) -> Result<Action<'gc>, Error<'gc>> {
    let fmt = check_string(ctx, exec, 0)?;
    packsize_run(ctx, exec, fmt, Parser::new(fmt.as_bytes()), 0)
}

/// Adds up the sizes of `fmt`'s items from parser state `p` (`total` so far), in pieces of
/// [`PACK_PIECE`] items, each charged, pausing between pieces when out of fuel.
fn packsize_run<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    fmt: LuaString<'gc>,
    mut p: Parser<'_>,
    mut total: usize,
) -> Result<Action<'gc>, Error<'gc>> {
    let mut items = 0;
    while !p.done() {
        if items == PACK_PIECE {
            items = 0;
            if exec.out_of_fuel() {
                let int = |n: usize| Value::Integer(n as i64);
                let [fmt_pos, little, max_align] = p.saved();
                let state = state_table(
                    ctx,
                    &[Value::String(fmt), fmt_pos, little, max_align, int(total)],
                );
                return Ok(Action::Pause {
                    then: Then::new("packsize", packsize_resume, Value::Table(state)),
                });
            }
        }
        items += 1;
        let fmt_pos = p.pos;
        let (kind, size, pad) = p.details(total)?;
        exec.charge(1 + (p.pos - fmt_pos) / 32);
        if kind == Kind::Str || kind == Kind::Zstr {
            return Err(Error::bad_argument(1, "variable-length format"));
        }
        let size = size + pad;
        if total > MAX_SIZE - size.min(MAX_SIZE) || size > MAX_SIZE {
            return Err(Error::bad_argument(1, "format result too large"));
        }
        total += size;
    }
    exec.set_return(Value::Integer(total as i64));
    Ok(Action::Return)
}

fn packsize_resume<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    _o: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    let saved = crate::string::SavedState::of(exec.upvalue, "packsize")?;
    let fmt = saved.string(1)?;
    let p = Parser::restored(&saved, 2, fmt.as_bytes())?;
    let total = saved.index(5)?;
    if total > MAX_SIZE {
        return Err(lost_state("packsize"));
    }
    packsize_run(ctx, exec, fmt, p, total)
}

fn unpack_int<'gc>(bytes: &[u8], little: bool, signed: bool) -> Result<i64, Error<'gc>> {
    let size = bytes.len();
    let at = |i: usize| {
        if little {
            bytes[i]
        } else {
            bytes[size - 1 - i]
        }
    };
    let limit = size.min(LUA_INT);
    let mut res: u64 = 0;
    for i in (0..limit).rev() {
        res = (res << 8) | at(i) as u64;
    }
    if size < LUA_INT {
        if signed {
            let mask = 1u64 << (size * 8 - 1);
            res = (res ^ mask).wrapping_sub(mask);
        }
    } else if size > LUA_INT {
        let fill = if !signed || (res as i64) >= 0 {
            0
        } else {
            0xff
        };
        for i in limit..size {
            if at(i) != fill {
                return Err(Error::runtime(format!(
                    "{size}-byte integer does not fit into Lua Integer"
                )));
            }
        }
    }
    Ok(res as i64)
}

fn get_bytes<const N: usize>(data: &[u8], little: bool) -> [u8; N] {
    let mut b = [0u8; N];
    b.copy_from_slice(&data[..N]);
    if !little {
        b.reverse();
    }
    b
}

pub(crate) fn unpack<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
) -> Result<Action<'gc>, Error<'gc>> {
    let fmt = check_string(ctx, exec, 0)?;
    let data = check_string(ctx, exec, 1)?;
    let ld = data.len();
    let pos = pos_relative_start(opt_integer(exec, 2, 1)?, ld) - 1;
    if pos > ld {
        return Err(Error::bad_argument(3, "initial position out of string"));
    }
    exec.clear();
    unpack_run(ctx, exec, fmt, data, Parser::new(fmt.as_bytes()), pos)
}

/// Items `unpack` decodes in one piece before checking its fuel.
const UNPACK_PIECE: usize = 256;

/// Decodes and pushes the items of `fmt` from parser state `p` and data position `pos`, in
/// pieces, pausing between pieces when out of fuel (the values pushed so far stay on the
/// stack). Each item is charged (1 unit, plus its bytes) and makes room for its value
/// (PUC's `luaL_checkstack(L, 2, "too many results")`) before it is pushed.
fn unpack_run<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    fmt: LuaString<'gc>,
    data_s: LuaString<'gc>,
    mut p: Parser<'_>,
    mut pos: usize,
) -> Result<Action<'gc>, Error<'gc>> {
    let data = data_s.as_bytes();
    let ld = data.len();
    let too_short = || Error::bad_argument(2, "data string too short");
    let mut items = 0;
    while !p.done() {
        if items == UNPACK_PIECE {
            items = 0;
            if exec.out_of_fuel() {
                let int = |n: usize| Value::Integer(n as i64);
                let [fmt_pos, little, max_align] = p.saved();
                let state = state_table(
                    ctx,
                    &[
                        Value::String(fmt),
                        Value::String(data_s),
                        fmt_pos,
                        little,
                        max_align,
                        int(pos),
                    ],
                );
                return Ok(Action::Pause {
                    then: Then::new("unpack", unpack_resume, Value::Table(state)),
                });
            }
        }
        items += 1;
        let fmt_pos = p.pos;
        let (kind, size, pad) = p.details(pos)?;
        exec.charge(1 + (p.pos - fmt_pos) / 32);
        if pad + size > ld - pos {
            return Err(too_short());
        }
        pos += pad;
        let item = &data[pos..pos + size];
        if !matches!(kind, Kind::Padding | Kind::PadAlign | Kind::Nop) {
            exec.reserve_values(ctx, 2, "too many results")?;
        }
        let v = match kind {
            Kind::Int | Kind::Uint => {
                Value::Integer(unpack_int(item, p.little, kind == Kind::Int)?)
            }
            Kind::Float => Value::Float(f32::from_le_bytes(get_bytes::<4>(item, p.little)) as f64),
            Kind::Double => Value::Float(f64::from_le_bytes(get_bytes::<8>(item, p.little))),
            Kind::Char => {
                ctx.reserve_memory(size)?;
                charge_bytes(exec, size);
                Value::String(ctx.new_string(item))
            }
            Kind::Str => {
                let len = unpack_int(item, p.little, false)? as u64;
                if len > (ld - pos - size) as u64 {
                    return Err(too_short());
                }
                let len = len as usize;
                let start = pos + size;
                ctx.reserve_memory(len)?;
                charge_bytes(exec, len);
                pos += len;
                Value::String(ctx.new_string(&data[start..start + len]))
            }
            Kind::Zstr => {
                let len = memchr::memchr(0, &data[pos..]).unwrap_or(ld - pos);
                charge_bytes(exec, len);
                if pos + len >= ld {
                    return Err(Error::bad_argument(2, "unfinished string for format 'z'"));
                }
                ctx.reserve_memory(len)?;
                let v = Value::String(ctx.new_string(&data[pos..pos + len]));
                pos += len + 1;
                v
            }
            Kind::Padding | Kind::PadAlign | Kind::Nop => Value::Nil,
        };
        if !matches!(kind, Kind::Padding | Kind::PadAlign | Kind::Nop) {
            exec.push(v);
        }
        pos += size;
    }
    exec.reserve_values(ctx, 1, "too many results")?;
    exec.push(Value::Integer(pos as i64 + 1));
    Ok(Action::Return)
}

/// `string.unpack`'s continuation in the permanents table (see `lunette_vm::Permanents`).
pub(crate) fn permanents(p: &mut lunette_vm::Permanents) {
    p.continuation(("string", "unpack_resume"), "unpack", unpack_resume);
    p.continuation(("string", "pack_resume"), "pack", pack_resume);
    p.continuation(("string", "packsize_resume"), "packsize", packsize_resume);
}

fn unpack_resume<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    _o: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    let saved = crate::string::SavedState::of(exec.upvalue, "unpack")?;
    let (fmt, data) = (saved.string(1)?, saved.string(2)?);
    let p = Parser::restored(&saved, 3, fmt.as_bytes())?;
    let pos = saved.index(6)?;
    if pos > data.len() {
        return Err(lost_state("unpack"));
    }
    unpack_run(ctx, exec, fmt, data, p, pos)
}
