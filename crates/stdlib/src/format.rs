//! `string.format`: C `printf`-style conversions with PUC 5.4's checks and messages.
//!
//! Numbers are formatted here (no libc): `%e`/`%f` use Rust's exact decimal conversion
//! (the same digits glibc prints), `%g` uses the VM's `format_g`, `%a` is written out from
//! the float's bits with round-half-even like glibc. `%s` of a value with `__tostring` calls
//! it through a continuation; the formatting state then lives in a Lua table.

use lunette_vm::number::format_g;
use lunette_vm::{
    display_plain, Action, Context, Error, Exec, LuaString, MetaEvent, Outcome, Table, Then, Value,
};

use crate::base::tostring_plain;
use crate::string::{charge_bytes, reserve_buffer, SavedOutput, MAX_SIZE};
use crate::util::check_string;

const FLAGS_F: &[u8] = b"-+ #0";
const FLAGS_X: &[u8] = b"-#0";
const FLAGS_I: &[u8] = b"-+ 0";
const FLAGS_U: &[u8] = b"-0";
const FLAGS_C: &[u8] = b"-";
/// A conversion spec (flags, width, precision and letter) must be shorter than this.
const MAX_SPEC: usize = 22;

/// A checked conversion spec.
#[derive(Default, Clone, Copy)]
struct Spec {
    left: bool,
    plus: bool,
    space: bool,
    alt: bool,
    zero: bool,
    width: usize,
    prec: Option<usize>,
}

/// Where a `format` call is: the remaining format string, arguments and output.
struct Fmt<'gc> {
    fmt: LuaString<'gc>,
    pos: usize,
    /// Lua number of the last argument consumed (1 is the format string).
    arg: usize,
    /// Output not yet saved in `parts`; its capacity is reserved before it grows.
    out: Vec<u8>,
    /// Finished output pieces, once the call paused or called Lua.
    saved: SavedOutput<'gc>,
}

fn spec_text(form: &[u8]) -> String {
    String::from_utf8_lossy(form).into_owned()
}

/// Parses `form` (`%` flags width `.` precision letter) allowing only `flags`, at most two
/// width digits and (when `precision`) two precision digits, like PUC's `checkformat`.
fn check_spec<'gc>(form: &[u8], flags: &[u8], precision: bool) -> Result<Spec, Error<'gc>> {
    let mut spec = Spec::default();
    let at = |i: usize| form.get(i).copied().unwrap_or(0);
    let mut i = 1;
    while flags.contains(&at(i)) && at(i) != 0 {
        match at(i) {
            b'-' => spec.left = true,
            b'+' => spec.plus = true,
            b' ' => spec.space = true,
            b'#' => spec.alt = true,
            b'0' => spec.zero = true,
            _ => {}
        }
        i += 1;
    }
    let digits = |i: &mut usize| {
        let mut n = 0;
        for _ in 0..2 {
            if at(*i).is_ascii_digit() {
                n = n * 10 + (at(*i) - b'0') as usize;
                *i += 1;
            }
        }
        n
    };
    if at(i) != b'0' {
        spec.width = digits(&mut i);
        if at(i) == b'.' && precision {
            i += 1;
            spec.prec = Some(digits(&mut i));
        }
    }
    if !at(i).is_ascii_alphabetic() {
        return Err(Error::runtime(format!(
            "invalid conversion specification: '{}'",
            spec_text(form)
        )));
    }
    Ok(spec)
}

/// Appends `prefix` (sign, `0x`) and `body` padded to the spec's width; `zero_ok` allows
/// zero padding between them.
fn pad_number(out: &mut Vec<u8>, prefix: &[u8], body: &[u8], spec: &Spec, zero_ok: bool) {
    let len = prefix.len() + body.len();
    let fill = spec.width.saturating_sub(len);
    if spec.left {
        out.extend_from_slice(prefix);
        out.extend_from_slice(body);
        out.resize(out.len() + fill, b' ');
    } else if spec.zero && zero_ok {
        out.extend_from_slice(prefix);
        out.resize(out.len() + fill, b'0');
        out.extend_from_slice(body);
    } else {
        out.resize(out.len() + fill, b' ');
        out.extend_from_slice(prefix);
        out.extend_from_slice(body);
    }
}

fn pad_text(out: &mut Vec<u8>, body: &[u8], spec: &Spec) {
    pad_number(out, b"", body, spec, false);
}

fn arg_integer<'gc>(v: Option<Value<'gc>>, n: usize) -> Result<i64, Error<'gc>> {
    match v {
        Some(Value::Integer(i)) => Ok(i),
        Some(v @ (Value::Float(_) | Value::String(_))) => match v.to_integer() {
            Some(i) => Ok(i),
            None if v.to_number().is_some() => Err(Error::bad_argument(
                n,
                "number has no integer representation",
            )),
            None => Err(Error::type_error(n, "number", Some(v))),
        },
        other => Err(Error::type_error(n, "number", other)),
    }
}

fn arg_number<'gc>(v: Option<Value<'gc>>, n: usize) -> Result<f64, Error<'gc>> {
    match v.and_then(|v| v.to_float()) {
        Some(f) => Ok(f),
        None => Err(Error::type_error(n, "number", v)),
    }
}

fn sign_prefix(neg: bool, spec: &Spec) -> &'static [u8] {
    if neg {
        b"-"
    } else if spec.plus {
        b"+"
    } else if spec.space {
        b" "
    } else {
        b""
    }
}

/// `%d`/`%i`.
fn format_int(out: &mut Vec<u8>, n: i64, spec: &Spec) {
    let mut digits = n.unsigned_abs().to_string().into_bytes();
    apply_int_precision(&mut digits, spec);
    pad_number(
        out,
        sign_prefix(n < 0, spec),
        &digits,
        spec,
        spec.prec.is_none(),
    );
}

fn apply_int_precision(digits: &mut Vec<u8>, spec: &Spec) {
    if let Some(p) = spec.prec {
        if p == 0 && digits == b"0" {
            digits.clear();
        }
        if digits.len() < p {
            let mut v = vec![b'0'; p - digits.len()];
            v.extend_from_slice(digits);
            *digits = v;
        }
    }
}

/// `%u`, `%o`, `%x`, `%X` of the integer's 64-bit pattern.
fn format_unsigned(out: &mut Vec<u8>, n: i64, conv: u8, spec: &Spec) {
    let u = n as u64;
    let mut digits = match conv {
        b'o' => format!("{u:o}"),
        b'x' => format!("{u:x}"),
        b'X' => format!("{u:X}"),
        _ => u.to_string(),
    }
    .into_bytes();
    apply_int_precision(&mut digits, spec);
    let mut prefix: &[u8] = b"";
    if spec.alt {
        match conv {
            b'o' if digits.first() != Some(&b'0') => digits.insert(0, b'0'),
            b'x' if u != 0 => prefix = b"0x",
            b'X' if u != 0 => prefix = b"0X",
            _ => {}
        }
    }
    pad_number(out, prefix, &digits, spec, spec.prec.is_none());
}

/// C's `%e` digits of a non-negative finite `a`: `d.ddde+XX`.
fn exp_form(a: f64, prec: usize, alt: bool) -> String {
    let s = format!("{:.*e}", prec, a);
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let dot = if alt && prec == 0 { "." } else { "" };
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mant}{dot}e{sign}{:02}", exp.unsigned_abs())
}

/// C's `%a` digits of a non-negative finite `a`, without the `0x` prefix.
pub(crate) fn hex_float_body(a: f64, prec: Option<usize>, alt: bool) -> String {
    let bits = a.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i64;
    let frac = bits & ((1u64 << 52) - 1);
    let (lead, exp) = if a == 0.0 {
        (0u64, 0i64)
    } else if biased == 0 {
        (0, -1022)
    } else {
        (1, biased - 1023)
    };
    let (lead, digits) = match prec {
        None => {
            let s = format!("{frac:013x}");
            (lead, s.trim_end_matches('0').to_string())
        }
        Some(p) if p >= 13 => (lead, format!("{frac:013x}{}", "0".repeat(p - 13))),
        Some(p) => {
            let shift = (13 - p) * 4;
            let whole = (lead << 52) | frac;
            let mut kept = whole >> shift;
            let rem = whole & ((1u64 << shift) - 1);
            let half = 1u64 << (shift - 1);
            if rem > half || (rem == half && kept & 1 == 1) {
                kept += 1;
            }
            let lead = kept >> (p * 4);
            let digits = if p == 0 {
                String::new()
            } else {
                format!("{:0width$x}", kept & ((1u64 << (p * 4)) - 1), width = p)
            };
            (lead, digits)
        }
    };
    let dot = if !digits.is_empty() || alt { "." } else { "" };
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{lead:x}{dot}{digits}p{sign}{}", exp.unsigned_abs())
}

/// `a` (finite, not negative) with `p` decimals, when writing it needs no rounding: the
/// product `a * 10^p`, correctly rounded, is an integer below 2^50 (an overflow to infinity
/// is not). Then the exact product is within 1/8 of that integer (half an ulp), so the
/// correctly rounded `p`-decimal form (what `format!` and C's `printf` give) is that
/// integer's digits with the point put back, made here with integer formatting
/// (`format!("{:.*}")` of such values often falls back to its slow exact algorithm).
fn fixed_without_rounding(a: f64, p: usize) -> Option<String> {
    const POWERS: [f64; 16] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
    ];
    let scale = *POWERS.get(p)?;
    let m = a * scale;
    if m >= (1u64 << 50) as f64 || m.fract() != 0.0 {
        return None;
    }
    let m = m as u64;
    let unit = 10u64.pow(p as u32);
    Some(if p == 0 {
        m.to_string()
    } else {
        format!("{}.{:0width$}", m / unit, m % unit, width = p)
    })
}

/// `%e %E %f %F %g %G %a %A`.
fn format_float(out: &mut Vec<u8>, f: f64, conv: u8, spec: &Spec) {
    let upper = conv.is_ascii_uppercase();
    let neg = f.is_sign_negative();
    let a = f.abs();
    let mut prefix = sign_prefix(neg, spec).to_vec();
    let body = if !a.is_finite() {
        let t = if a.is_nan() { "nan" } else { "inf" };
        let t = if upper {
            t.to_ascii_uppercase()
        } else {
            t.to_string()
        };
        pad_number(out, &prefix, t.as_bytes(), spec, false);
        return;
    } else {
        match conv.to_ascii_lowercase() {
            b'f' => {
                let p = spec.prec.unwrap_or(6);
                let mut s = fixed_without_rounding(a, p).unwrap_or_else(|| format!("{:.*}", p, a));
                if spec.alt && p == 0 {
                    s.push('.');
                }
                s
            }
            b'e' => exp_form(a, spec.prec.unwrap_or(6), spec.alt),
            b'g' => {
                let mut s = format_g(a, spec.prec.unwrap_or(6), spec.alt);
                if spec.alt {
                    let mant_end = s.find('e').unwrap_or(s.len());
                    if !s[..mant_end].contains('.') {
                        s.insert(mant_end, '.');
                    }
                }
                s
            }
            _ => {
                prefix.extend_from_slice(b"0x");
                hex_float_body(a, spec.prec, spec.alt)
            }
        }
    };
    let (prefix, body) = if upper {
        (prefix.to_ascii_uppercase(), body.to_ascii_uppercase())
    } else {
        (prefix, body)
    };
    pad_number(out, &prefix, body.as_bytes(), spec, true);
}

/// `%q` of a string: a Lua literal that reads back as the same bytes.
fn quote_string(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for (i, &c) in s.iter().enumerate() {
        match c {
            b'"' | b'\\' | b'\n' => {
                out.push(b'\\');
                out.push(c);
            }
            0..=0x1f | 0x7f => {
                let next_is_digit = s.get(i + 1).is_some_and(|d| d.is_ascii_digit());
                let esc = if next_is_digit {
                    format!("\\{c:03}")
                } else {
                    format!("\\{c}")
                };
                out.extend_from_slice(esc.as_bytes());
            }
            _ => out.push(c),
        }
    }
    out.push(b'"');
}

/// `%q` of a value.
fn quote_value<'gc>(out: &mut Vec<u8>, v: Value<'gc>, n: usize) -> Result<(), Error<'gc>> {
    match v {
        Value::String(s) => quote_string(out, s.as_bytes()),
        Value::Integer(i) if i == i64::MIN => out.extend_from_slice(b"0x8000000000000000"),
        Value::Integer(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Value::Float(f) => {
            let t = if f == f64::INFINITY {
                "1e9999".to_string()
            } else if f == f64::NEG_INFINITY {
                "-1e9999".to_string()
            } else if f.is_nan() {
                "(0/0)".to_string()
            } else {
                let sign = if f.is_sign_negative() { "-" } else { "" };
                format!("{sign}0x{}", hex_float_body(f.abs(), None, false))
            };
            out.extend_from_slice(t.as_bytes());
        }
        Value::Nil | Value::Boolean(_) => out.extend_from_slice(display_plain(v).as_bytes()),
        _ => return Err(Error::bad_argument(n, "value has no literal form")),
    }
    Ok(())
}

/// Appends the text of a `%s` conversion with spec `form`.
fn add_string<'gc>(out: &mut Vec<u8>, s: &[u8], form: &[u8], n: usize) -> Result<(), Error<'gc>> {
    if form.len() == 2 {
        out.extend_from_slice(s);
        return Ok(());
    }
    if s.contains(&0) {
        return Err(Error::bad_argument(n, "string contains zeros"));
    }
    let spec = check_spec(form, FLAGS_C, true)?;
    match spec.prec {
        None if s.len() >= 100 => out.extend_from_slice(s),
        None => pad_text(out, s, &spec),
        Some(p) => pad_text(out, &s[..p.min(s.len())], &spec),
    }
    Ok(())
}

/// What the formatting loop needs next.
enum Step<'gc> {
    Done,
    /// A piece of work is done: check the fuel (and pause when it is out).
    Piece,
    /// Call `__tostring` of the value for the `%s` conversion `form`.
    ToString(Value<'gc>, Vec<u8>),
}

/// Fuel units every conversion charges beyond its output's: its own work (the spec parsed
/// and checked, the argument converted, its piece of format built), about 250 ns for a
/// `%d` (a format of 100,000 of them ran ~225 ns a unit charged by the output alone).
const CONVERSION_UNITS: usize = 4;

/// Fuel units one piece of `format` work charges before the fuel is checked.
const PIECE_UNITS: usize = 1024;
/// Literal format bytes copied at once (at most).
const LITERAL_RUN: usize = 64 * 1024;

/// Where the arguments are: still on the callback's stack (Lua argument `n` at `n - 1`), or
/// in a table (1..=len) once a `__tostring` call has replaced the stack.
#[derive(Clone, Copy)]
enum Args<'gc> {
    Stack,
    Table(Table<'gc>, usize),
}

impl<'gc> Args<'gc> {
    fn len(self, exec: &Exec<'gc, '_>) -> usize {
        match self {
            Args::Stack => exec.len(),
            Args::Table(_, n) => n,
        }
    }
    /// Lua argument `n` (1 is the format string).
    fn get(self, exec: &Exec<'gc, '_>, n: usize) -> Value<'gc> {
        match self {
            Args::Stack => exec.arg(n - 1),
            Args::Table(t, _) => t.get_int(n as i64),
        }
    }
}

/// Most bytes conversion `conv` with `spec` can produce for `v` (before formatting it), and
/// the fuel units it costs: 1 a byte for floats (exact decimal conversion of big numbers is
/// slow: bignum work per digit), 1 per 32 bytes otherwise.
fn conversion_bound(conv: u8, spec: &Spec, v: Value<'_>) -> (usize, usize) {
    let width = spec.width;
    let prec = spec.prec.unwrap_or(6);
    let float_digits = || -> usize {
        let f = v.to_float().unwrap_or(0.0).abs();
        if f.is_finite() && f >= 1.0 {
            // Integer digits of `f` (at most 309), generously rounded up.
            f.log10() as usize + 2
        } else {
            1
        }
    };
    let body = match conv {
        b'c' => 1,
        b'd' | b'i' | b'u' | b'o' | b'x' | b'X' => prec.max(24) + 2,
        b'a' | b'A' => prec.max(13) + 12,
        b'e' | b'E' | b'g' | b'G' => prec + 12,
        b'f' | b'F' => float_digits() + prec + 4,
        _ => 32,
    };
    let bound = body.max(width) + 2;
    let units = if matches!(conv, b'a' | b'A' | b'e' | b'E' | b'f' | b'F' | b'g' | b'G') {
        bound
    } else {
        bound / 32 + 1
    };
    (bound, units)
}

fn run<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    st: &mut Fmt<'gc>,
    args: Args<'gc>,
) -> Result<Step<'gc>, Error<'gc>> {
    let fmt = st.fmt.as_bytes();
    let nargs = args.len(exec);
    let mut charged = 0usize;
    while st.pos < fmt.len() {
        if charged >= PIECE_UNITS {
            return Ok(Step::Piece);
        }
        let c = fmt[st.pos];
        if c != b'%' {
            // A run of literal bytes, up to the next '%' (bounded, charged, reserved).
            let rest = &fmt[st.pos..fmt.len().min(st.pos + LITERAL_RUN)];
            let n = memchr::memchr(b'%', rest).unwrap_or(rest.len());
            let units = n / 32 + 1;
            exec.charge(units);
            charged += units;
            st.put(ctx, &rest[..n])?;
            st.pos += n;
            continue;
        }
        st.pos += 1;
        if fmt.get(st.pos) == Some(&b'%') {
            st.put(ctx, b"%")?;
            st.pos += 1;
            continue;
        }
        st.arg += 1;
        let n = st.arg;
        if n > nargs {
            return Err(Error::bad_argument(n, "no value"));
        }
        let v = args.get(exec, n);
        let start = st.pos;
        // (Looked at no further than a spec can go: a spec of 100,000 digits was scanned
        // whole, ~1 ms, before being refused for its length.)
        let span = fmt[start..]
            .iter()
            .take(MAX_SPEC)
            .take_while(|c| b"-+ #0123456789.".contains(c))
            .count();
        if span + 1 >= MAX_SPEC {
            return Err(Error::runtime("invalid format (too long)"));
        }
        let conv = fmt.get(start + span).copied().unwrap_or(0);
        let mut form = Vec::with_capacity(span + 2);
        form.push(b'%');
        form.extend_from_slice(&fmt[start..start + span]);
        if conv != 0 {
            form.push(conv);
        }
        st.pos = (start + span + 1).min(fmt.len());
        // Bound, reserve and charge the conversion's output before producing it.
        let text_len = match v {
            Value::String(s) => s.len(),
            _ => 64,
        };
        let (bound, units) = match conv {
            b's' => (text_len + 100, text_len / 32 + 4),
            // `%q` escapes a byte in at most 4.
            b'q' => (text_len.saturating_mul(4) + 64, text_len / 8 + 4),
            _ => conversion_bound(conv, &check_spec_loose(&form), v),
        };
        let units = units + CONVERSION_UNITS;
        exec.charge(units);
        charged += units;
        st.reserve(ctx, bound)?;
        let out = &mut st.out;
        match conv {
            b'c' => {
                let i = arg_integer(Some(v), n)?;
                let spec = check_spec(&form, FLAGS_C, false)?;
                pad_text(out, &[i as u8], &spec);
            }
            b'd' | b'i' => {
                let i = arg_integer(Some(v), n)?;
                let spec = check_spec(&form, FLAGS_I, true)?;
                format_int(out, i, &spec);
            }
            b'u' | b'o' | b'x' | b'X' => {
                let i = arg_integer(Some(v), n)?;
                let flags = if conv == b'u' { FLAGS_U } else { FLAGS_X };
                let spec = check_spec(&form, flags, true)?;
                format_unsigned(out, i, conv, &spec);
            }
            b'a' | b'A' => {
                let spec = check_spec(&form, FLAGS_F, true)?;
                let f = arg_number(Some(v), n)?;
                format_float(out, f, conv, &spec);
            }
            b'e' | b'E' | b'f' | b'g' | b'G' => {
                let f = arg_number(Some(v), n)?;
                let spec = check_spec(&form, FLAGS_F, true)?;
                format_float(out, f, conv, &spec);
            }
            b'p' => {
                let spec = check_spec(&form, FLAGS_C, false)?;
                let text = match v {
                    // Short strings are interned: one identity per content, derived from it
                    // (in a range object ids never reach). Long strings are objects.
                    Value::String(s) if s.len() <= lunette_vm::string::MAX_INTERNED_LEN => {
                        format!("0x{:012x}", (s.content_hash() >> 17) | 1 << 47)
                    }
                    _ => match ctx.script_id(v) {
                        Some(id) => format!("0x{id:08x}"),
                        None => "(null)".to_string(),
                    },
                };
                pad_text(out, text.as_bytes(), &spec);
            }
            b'q' => {
                if form.len() > 2 {
                    return Err(Error::runtime("specifier '%q' cannot have modifiers"));
                }
                quote_value(out, v, n)?;
            }
            b's' => match v {
                // (a string metatable may have `__tostring`, which `%s` calls like PUC)
                Value::String(s) if !has_tostring(ctx, v) => {
                    add_string(out, s.as_bytes(), &form, n)?
                }
                _ => match tostring_plain(ctx, v) {
                    Some(bytes) => {
                        ctx.reserve_memory(bytes.len())?;
                        charge_bytes(exec, bytes.len());
                        reserve_buffer(ctx, out, bytes.len() + 100)?;
                        add_string(out, &bytes, &form, n)?
                    }
                    None => return Ok(Step::ToString(v, form)),
                },
            },
            _ => {
                return Err(Error::runtime(format!(
                    "invalid conversion '{}' to 'format'",
                    spec_text(&form)
                )));
            }
        }
    }
    Ok(Step::Done)
}

/// The width and precision of a conversion spec for bounding its output, without its checks
/// (which run when it is formatted): at most two digits each, like `check_spec` allows.
fn check_spec_loose(form: &[u8]) -> Spec {
    let mut spec = Spec::default();
    let body = form.get(1..form.len().saturating_sub(1)).unwrap_or(&[]);
    let mut parts = body.splitn(2, |&c| c == b'.');
    let digits = |b: &[u8]| -> usize {
        let d: Vec<u8> = b.iter().copied().filter(u8::is_ascii_digit).collect();
        d.iter()
            .rev()
            .take(3)
            .rev()
            .fold(0, |n, &c| n * 10 + (c - b'0') as usize)
    };
    spec.width = parts.next().map_or(0, digits);
    spec.prec = parts.next().map(digits);
    spec
}

impl<'gc> Fmt<'gc> {
    /// Makes room for `more` output bytes: the buffer's new capacity is reserved against the
    /// memory limit before it grows.
    fn reserve(&mut self, ctx: Context<'gc>, more: usize) -> Result<(), Error<'gc>> {
        reserve_buffer(ctx, &mut self.out, more)
    }

    fn put(&mut self, ctx: Context<'gc>, bytes: &[u8]) -> Result<(), Error<'gc>> {
        self.reserve(ctx, bytes.len())?;
        self.out.extend_from_slice(bytes);
        Ok(())
    }

    /// Saves the output so far as a string piece (the buffer is emptied).
    fn flush(&mut self, ctx: Context<'gc>) {
        self.saved.save(ctx, &self.out);
        self.out = Vec::new();
    }

    /// The state table of a paused or waiting `format`.
    fn save(&mut self, ctx: Context<'gc>, form: &[u8], args: Args<'gc>) -> Table<'gc> {
        self.flush(ctx);
        let (args_v, nargs) = match args {
            Args::Table(t, n) => (Value::Table(t), n as i64),
            Args::Stack => (Value::Nil, 0),
        };
        let int = |n: usize| Value::Integer(n as i64);
        let [parts, count, bytes] = self.saved.state_values();
        crate::string::state_table(
            ctx,
            &[
                Value::String(self.fmt),
                int(self.pos),
                int(self.arg),
                parts,
                Value::String(ctx.new_pause_string(form)),
                args_v,
                Value::Integer(nargs),
                count,
                bytes,
            ],
        )
    }

    fn load(state: Value<'gc>) -> Result<(Self, LuaString<'gc>, Args<'gc>), Error<'gc>> {
        let lost = || Error::runtime("format: lost state");
        let Value::Table(t) = state else {
            return Err(lost());
        };
        let int = |i: i64| {
            t.get_int(i)
                .as_integer_strict()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(lost)
        };
        let fmt = t.get_int(1).as_string().ok_or_else(lost)?;
        let st = Fmt {
            fmt,
            pos: int(2)?.min(fmt.len()),
            arg: int(3)?,
            out: Vec::new(),
            saved: SavedOutput::read(t.get_int(4), int(8)?, int(9)?, "format")?,
        };
        let form = t.get_int(5).as_string().ok_or_else(lost)?;
        let args = match t.get_int(6) {
            Value::Table(a) => Args::Table(a, int(7)?),
            _ => Args::Stack,
        };
        Ok((st, form, args))
    }

    /// Returns the whole output.
    fn finish(
        self,
        ctx: Context<'gc>,
        exec: &mut Exec<'gc, '_>,
    ) -> Result<Action<'gc>, Error<'gc>> {
        if self.saved.bytes.saturating_add(self.out.len()) > MAX_SIZE {
            return Err(Error::runtime("resulting string too large"));
        }
        self.saved.finish(ctx, exec, &self.out, None)
    }
}

/// Runs the loop in pieces: the result, a pause (out of fuel) or a `__tostring` call, with
/// saved state.
fn drive<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    mut st: Fmt<'gc>,
    args: Args<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    loop {
        match run(ctx, exec, &mut st, args)? {
            Step::Done => {
                return st.finish(ctx, exec);
            }
            Step::Piece => {
                if exec.out_of_fuel() {
                    let state = st.save(ctx, b"", args);
                    return Ok(Action::Pause {
                        then: Then::new("format", after_pause, Value::Table(state)),
                    });
                }
            }
            Step::ToString(v, form) => {
                let args = match args {
                    Args::Table(..) => args,
                    Args::Stack => {
                        let vals = exec.values();
                        let t = ctx.new_table_with_capacity(vals.len(), 0);
                        for (i, a) in vals.iter().enumerate() {
                            let _ = t.set(ctx, Value::Integer(i as i64 + 1), *a);
                        }
                        Args::Table(t, vals.len())
                    }
                };
                let state = st.save(ctx, &form, args);
                let mm = ctx.metamethod(v, MetaEvent::ToString).unwrap_or(Value::Nil);
                exec.replace(&[v]);
                return Ok(Action::Call {
                    function: mm,
                    then: Some(Then::new("format", after_tostring, Value::Table(state))),
                });
            }
        }
    }
}

pub(crate) fn format<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
) -> Result<Action<'gc>, Error<'gc>> {
    let fmt = check_string(ctx, exec, 0)?;
    let st = Fmt {
        fmt,
        pos: 0,
        arg: 1,
        out: Vec::new(),
        saved: SavedOutput::default(),
    };
    drive(ctx, exec, st, Args::Stack)
}

/// Resumes a paused `format` (its arguments are still on its stack, or in its table).
/// `string.format`'s continuations in the permanents table (see `lunette_vm::Permanents`).
pub(crate) fn permanents(p: &mut lunette_vm::Permanents) {
    p.continuation(("string", "format_after_pause"), "format", after_pause);
    p.continuation(
        ("string", "format_after_tostring"),
        "format",
        after_tostring,
    );
}

fn after_pause<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    _o: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    let (st, _form, args) = Fmt::load(exec.upvalue)?;
    drive(ctx, exec, st, args)
}

fn after_tostring<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    _o: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    let (mut st, form, args) = Fmt::load(exec.upvalue)?;
    let text = match exec.arg(0) {
        Value::String(s) => s.as_bytes().to_vec(),
        v @ (Value::Integer(_) | Value::Float(_)) => display_plain(v).into_bytes(),
        _ => return Err(Error::runtime("'__tostring' must return a string")),
    };
    charge_bytes(exec, text.len());
    st.reserve(ctx, text.len() + 100)?;
    add_string(&mut st.out, &text, form.as_bytes(), st.arg)?;
    drive(ctx, exec, st, args)
}

/// Whether `v`'s metatable has `__tostring` (then `%s` calls it, whatever the type).
fn has_tostring<'gc>(ctx: Context<'gc>, v: Value<'gc>) -> bool {
    ctx.metatable_of(v).is_some_and(|mt| {
        ctx.metatable_field(mt, lunette_vm::MetaEvent::ToString)
            .is_some()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_floats_like_glibc() {
        let h = |f: f64, p: Option<usize>| hex_float_body(f, p, false);
        assert_eq!(h(1.0, None), "1p+0");
        assert_eq!(h(1.5, None), "1.8p+0");
        assert_eq!(h(0.0, None), "0p+0");
        assert_eq!(h(1.5, Some(0)), "2p+0");
        assert_eq!(h(2.5, Some(0)), "1p+1");
        assert_eq!(h(1.96875, Some(1)), "2.0p+0");
        assert_eq!(h(1.09375, Some(1)), "1.2p+0");
        assert_eq!(h(1.15625, Some(1)), "1.2p+0");
        assert_eq!(h(5e-324, None), "0.0000000000001p-1022");
        assert_eq!(h(0.1, None), "1.999999999999ap-4");
        assert_eq!(h(1e300, None), "1.7e43c8800759cp+996");
    }
}
