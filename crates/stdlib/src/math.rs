//! The mathematical library (§6.7).
//!
//! `math.random` is PUC 5.4's xoshiro256** generator, bit for bit: the same seed gives the
//! same numbers as `lua5.4`. Its four state words live inside the VM (a table of four
//! integers, also reachable from the registry under `"lunette.random"`), so snapshots and
//! rollbacks restore the generator together with everything else.
//!
//! Determinism: unlike PUC, which seeds from the clock, a fresh VM is seeded as if by
//! `math.randomseed(0)`, and `math.randomseed()` without arguments derives a new seed from
//! the current generator state (two draws) instead of the time; it returns the two seed
//! components like 5.4.4 does. A host wanting entropy can call `math.randomseed(n)` itself.

use lunette_vm::{Action, Callback, CallbackFn, Context, Error, Exec, Outcome, Table, Then, Value};

use crate::base::set;
use crate::util::{check_any, check_integer, check_number, less_step, Less};

/// Registry key of the generator state table (four integers at keys 1..4).
pub(crate) const RANDOM_STATE_KEY: &str = "lunette.random";

/// This library's callbacks and continuations beyond its table's functions, in the VM's
/// permanents table (see `lunette_vm::Permanents`).
fn permanents(p: &mut lunette_vm::Permanents) {
    p.callback(("math", "random"), "math.random", random);
    p.callback(("math", "randomseed"), "math.randomseed", randomseed);
    p.continuation(("math", "extreme_after"), "math.max", extreme_after);
}

/// Opens the `math` library; the `random` generator's state (xoshiro256**, like PUC) lives in
/// the registry, so it is snapshotted and rolled back with the VM.
pub fn open(ctx: Context<'_>) {
    ctx.register_permanents(permanents);
    let lib = ctx.new_table();
    let fns: &[(&str, &'static str, CallbackFn)] = &[
        ("abs", "math.abs", abs),
        ("ceil", "math.ceil", ceil),
        ("floor", "math.floor", floor),
        ("fmod", "math.fmod", fmod),
        ("modf", "math.modf", modf),
        ("sqrt", "math.sqrt", sqrt),
        ("exp", "math.exp", exp),
        ("log", "math.log", log),
        ("sin", "math.sin", sin),
        ("cos", "math.cos", cos),
        ("tan", "math.tan", tan),
        ("asin", "math.asin", asin),
        ("acos", "math.acos", acos),
        ("atan", "math.atan", atan),
        ("deg", "math.deg", deg),
        ("rad", "math.rad", rad),
        ("max", "math.max", max),
        ("min", "math.min", min),
        ("tointeger", "math.tointeger", tointeger),
        ("type", "math.type", type_),
        ("ult", "math.ult", ult),
    ];
    crate::util::add_functions(ctx, lib, fns);
    let state = ctx.new_table_with_capacity(4, 0);
    store_state(ctx, state, &seed_state(0, 0));
    let _ = ctx
        .registry()
        .set(ctx, ctx.str(RANDOM_STATE_KEY), Value::Table(state));
    set(
        ctx,
        lib,
        "random",
        Value::Callback(Callback::with_upvalue(
            ctx,
            "math.random",
            random,
            Value::Table(state),
        )),
    );
    set(
        ctx,
        lib,
        "randomseed",
        Value::Callback(Callback::with_upvalue(
            ctx,
            "math.randomseed",
            randomseed,
            Value::Table(state),
        )),
    );
    set(ctx, lib, "pi", Value::Float(std::f64::consts::PI));
    set(ctx, lib, "huge", Value::Float(f64::INFINITY));
    set(ctx, lib, "maxinteger", Value::Integer(i64::MAX));
    set(ctx, lib, "mininteger", Value::Integer(i64::MIN));
    crate::util::publish(ctx, "math", lib);
}

/// A float that fits an integer becomes one (PUC's `pushnumint` after floor/ceil).
fn num_int<'gc>(f: f64) -> Value<'gc> {
    match lunette_vm::number::float_to_int(f) {
        Some(i) => Value::Integer(i),
        None => Value::Float(f),
    }
}

fn ret<'gc>(exec: &mut Exec<'gc, '_>, v: Value<'gc>) -> Result<Action<'gc>, Error<'gc>> {
    exec.set_return(v);
    Ok(Action::Return)
}

fn abs<'gc>(_ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let v = match exec.get(0) {
        Some(Value::Integer(i)) => Value::Integer(i.wrapping_abs()),
        _ => Value::Float(check_number(exec, 0)?.abs()),
    };
    ret(exec, v)
}

fn floor<'gc>(_ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let v = match exec.get(0) {
        Some(v @ Value::Integer(_)) => v,
        _ => num_int(check_number(exec, 0)?.floor()),
    };
    ret(exec, v)
}

fn ceil<'gc>(_ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let v = match exec.get(0) {
        Some(v @ Value::Integer(_)) => v,
        _ => num_int(check_number(exec, 0)?.ceil()),
    };
    ret(exec, v)
}

fn fmod<'gc>(_ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let v = match (exec.get(0), exec.get(1)) {
        (Some(Value::Integer(a)), Some(Value::Integer(d))) => {
            if d == 0 {
                return Err(Error::bad_argument(2, "zero"));
            } else if d == -1 {
                Value::Integer(0)
            } else {
                Value::Integer(a % d)
            }
        }
        _ => {
            let a = check_number(exec, 0)?;
            let b = check_number(exec, 1)?;
            Value::Float(a % b)
        }
    };
    ret(exec, v)
}

fn modf<'gc>(_ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    if let Some(v @ Value::Integer(_)) = exec.get(0) {
        exec.replace(&[v, Value::Float(0.0)]);
        return Ok(Action::Return);
    }
    let n = check_number(exec, 0)?;
    let ip = if n < 0.0 { n.ceil() } else { n.floor() };
    let frac = if n == ip { 0.0 } else { n - ip };
    exec.replace(&[num_int(ip), Value::Float(frac)]);
    Ok(Action::Return)
}

fn float_fn<'gc>(exec: &mut Exec<'gc, '_>, f: fn(f64) -> f64) -> Result<Action<'gc>, Error<'gc>> {
    let x = check_number(exec, 0)?;
    ret(exec, Value::Float(f(x)))
}

/// Library functions of one float argument, each `float_fn` of its `f64` function.
macro_rules! float_fns {
    ($($name:ident: $f:expr,)*) => {
        $(fn $name<'gc>(_ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
            float_fn(exec, $f)
        })*
    };
}

float_fns! {
    sqrt: f64::sqrt,
    exp: f64::exp,
    sin: f64::sin,
    cos: f64::cos,
    tan: f64::tan,
    asin: f64::asin,
    acos: f64::acos,
    deg: |x| x * (180.0 / std::f64::consts::PI),
    rad: |x| x * (std::f64::consts::PI / 180.0),
}

fn atan<'gc>(_ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let y = check_number(exec, 0)?;
    let x = match exec.get(1) {
        None | Some(Value::Nil) => 1.0,
        Some(_) => check_number(exec, 1)?,
    };
    ret(exec, Value::Float(y.atan2(x)))
}

fn log<'gc>(_ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let x = check_number(exec, 0)?;
    let r = match exec.get(1) {
        None | Some(Value::Nil) => x.ln(),
        Some(_) => {
            let base = check_number(exec, 1)?;
            if base == 2.0 {
                x.log2()
            } else if base == 10.0 {
                x.log10()
            } else {
                x.ln() / base.ln()
            }
        }
    };
    ret(exec, Value::Float(r))
}

fn tointeger<'gc>(_ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let v = check_any(exec, 0)?;
    // `lua_tointegerx`: numeric strings convert too.
    let r = match v.to_integer() {
        Some(i) => Value::Integer(i),
        None => Value::Nil,
    };
    ret(exec, r)
}

fn type_<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let r = match check_any(exec, 0)? {
        Value::Integer(_) => ctx.str("integer"),
        Value::Float(_) => ctx.str("float"),
        _ => Value::Nil,
    };
    ret(exec, r)
}

fn ult<'gc>(_ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let a = check_integer(exec, 0)?;
    let b = check_integer(exec, 1)?;
    ret(exec, Value::Boolean((a as u64) < (b as u64)))
}

// ---------------------------------------------------------------------------------------
// max / min: `lua_compare(LUA_OPLT)` over the arguments, which may call `__lt`.
// State table while a metamethod runs: [1..n] = arguments, "n", "best", "i", "max".

fn max<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    extreme(ctx, exec, true)
}

fn min<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    extreme(ctx, exec, false)
}

fn extreme<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    is_max: bool,
) -> Result<Action<'gc>, Error<'gc>> {
    let n = exec.len();
    if n == 0 {
        return Err(Error::bad_argument(1, "value expected"));
    }
    exec.charge(n / 8);
    let mut best = 0;
    for i in 1..n {
        let (a, b) = if is_max {
            (exec.arg(best), exec.arg(i))
        } else {
            (exec.arg(i), exec.arg(best))
        };
        match less_step(ctx, exec, a, b)? {
            Less::Done(true) => best = i,
            Less::Done(false) => {}
            Less::Call(mm) => {
                let st = ctx.new_table_with_capacity(n, 4);
                for (j, v) in exec.values().iter().enumerate() {
                    let _ = st.set(ctx, Value::Integer(j as i64 + 1), *v);
                }
                set(ctx, st, "n", Value::Integer(n as i64));
                set(ctx, st, "best", Value::Integer(best as i64));
                set(ctx, st, "i", Value::Integer(i as i64));
                set(ctx, st, "max", Value::Boolean(is_max));
                exec.replace(&[a, b]);
                return Ok(Action::Call {
                    function: mm,
                    then: Some(Then::new("math.max", extreme_after, Value::Table(st))),
                });
            }
        }
    }
    let v = exec.arg(best);
    ret(exec, v)
}

fn get_int<'gc>(ctx: Context<'gc>, st: Table<'gc>, key: &str) -> i64 {
    st.get(ctx.key(key)).as_integer_strict().unwrap_or(0)
}

fn extreme_after<'gc>(
    ctx: Context<'gc>,
    exec: &mut Exec<'gc, '_>,
    _o: Outcome<'gc>,
) -> Result<Action<'gc>, Error<'gc>> {
    let Value::Table(st) = exec.upvalue else {
        return Err(Error::runtime("math.max: lost state"));
    };
    let n = get_int(ctx, st, "n") as usize;
    let mut best = get_int(ctx, st, "best") as usize;
    let mut i = get_int(ctx, st, "i") as usize;
    let is_max = st.get(ctx.key("max")).is_truthy();
    if exec.arg(0).is_truthy() {
        best = i;
    }
    i += 1;
    let arg = |j: usize| st.get_int(j as i64 + 1);
    while i < n {
        let (a, b) = if is_max {
            (arg(best), arg(i))
        } else {
            (arg(i), arg(best))
        };
        match less_step(ctx, exec, a, b)? {
            Less::Done(true) => best = i,
            Less::Done(false) => {}
            Less::Call(mm) => {
                set(ctx, st, "best", Value::Integer(best as i64));
                set(ctx, st, "i", Value::Integer(i as i64));
                exec.replace(&[a, b]);
                return Ok(Action::Call {
                    function: mm,
                    then: Some(Then::new("math.max", extreme_after, Value::Table(st))),
                });
            }
        }
        i += 1;
    }
    ret(exec, arg(best))
}

// ---------------------------------------------------------------------------------------
// xoshiro256**

/// PUC 5.4's generator: xoshiro256**.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Xoshiro {
    pub s: [u64; 4],
}

impl Xoshiro {
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// A float in [0, 1) from the top 53 bits.
    pub fn to_float(r: u64) -> f64 {
        (r >> 11) as f64 * (0.5f64).powi(53)
    }

    /// A uniform value in `[0, n]` from `r`, drawing more values when needed (PUC's
    /// `project`: mask to the smallest `2^b - 1 >= n`, reject values above `n`).
    pub fn project(&mut self, mut r: u64, n: u64) -> u64 {
        if n & n.wrapping_add(1) == 0 {
            return r & n;
        }
        let mut lim = n;
        lim |= lim >> 1;
        lim |= lim >> 2;
        lim |= lim >> 4;
        lim |= lim >> 8;
        lim |= lim >> 16;
        lim |= lim >> 32;
        loop {
            r &= lim;
            if r <= n {
                return r;
            }
            r = self.next_u64();
        }
    }
}

/// The state `math.randomseed(n1, n2)` produces.
pub(crate) fn seed_state(n1: u64, n2: u64) -> Xoshiro {
    let mut g = Xoshiro {
        s: [n1, 0xff, n2, 0],
    };
    for _ in 0..16 {
        g.next_u64();
    }
    g
}

fn load_state<'gc>(exec: &Exec<'gc, '_>) -> Result<(Table<'gc>, Xoshiro), Error<'gc>> {
    let Value::Table(t) = exec.upvalue else {
        return Err(Error::runtime("math.random: lost generator state"));
    };
    let mut s = [0u64; 4];
    for (i, w) in s.iter_mut().enumerate() {
        *w = t.get_int(i as i64 + 1).as_integer_strict().unwrap_or(0) as u64;
    }
    Ok((t, Xoshiro { s }))
}

fn store_state<'gc>(ctx: Context<'gc>, t: Table<'gc>, g: &Xoshiro) {
    for (i, w) in g.s.iter().enumerate() {
        let _ = t.set(ctx, Value::Integer(i as i64 + 1), Value::Integer(*w as i64));
    }
}

fn random<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let (t, mut g) = load_state(exec)?;
    let r = g.next_u64();
    let (low, up) = match exec.len() {
        0 => {
            store_state(ctx, t, &g);
            return ret(exec, Value::Float(Xoshiro::to_float(r)));
        }
        1 => {
            let up = check_integer(exec, 0)?;
            if up == 0 {
                store_state(ctx, t, &g);
                return ret(exec, Value::Integer(r as i64));
            }
            (1, up)
        }
        2 => (check_integer(exec, 0)?, check_integer(exec, 1)?),
        _ => return Err(Error::runtime("wrong number of arguments")),
    };
    if low > up {
        return Err(Error::bad_argument(1, "interval is empty"));
    }
    let p = g.project(r, (up as u64).wrapping_sub(low as u64));
    store_state(ctx, t, &g);
    ret(exec, Value::Integer(p.wrapping_add(low as u64) as i64))
}

fn randomseed<'gc>(ctx: Context<'gc>, exec: &mut Exec<'gc, '_>) -> Result<Action<'gc>, Error<'gc>> {
    let (t, mut g) = load_state(exec)?;
    let (n1, n2) = if exec.is_empty() {
        // Deterministic replacement for PUC's time/address seed.
        (g.next_u64() as i64, g.next_u64() as i64)
    } else {
        let n1 = check_integer(exec, 0)?;
        let n2 = match exec.get(1) {
            None | Some(Value::Nil) => 0,
            Some(_) => check_integer(exec, 1)?,
        };
        (n1, n2)
    };
    store_state(ctx, t, &seed_state(n1 as u64, n2 as u64));
    exec.replace(&[Value::Integer(n1), Value::Integer(n2)]);
    Ok(Action::Return)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(g: &mut Xoshiro, low: i64, up: i64) -> i64 {
        let r = g.next_u64();
        g.project(r, (up as u64).wrapping_sub(low as u64))
            .wrapping_add(low as u64) as i64
    }

    #[test]
    fn matches_puc_seed_42() {
        // lua5.4 -e 'math.randomseed(42) print(math.random(1,100), math.random(1,100),
        //   math.random(), math.random(0), math.random(5))'
        let mut g = seed_state(42, 0);
        assert_eq!(range(&mut g, 1, 100), 50);
        assert_eq!(range(&mut g, 1, 100), 76);
        assert_eq!(
            format!("{:.14}", Xoshiro::to_float(g.next_u64())),
            "0.79358935263827"
        );
        assert_eq!(g.next_u64() as i64, -7059243630996204619);
        assert_eq!(range(&mut g, 1, 5), 2);
    }

    #[test]
    fn matches_puc_two_seeds() {
        // lua5.4 -e 'math.randomseed(3, 4) print(math.random(1, 1000))'
        let mut g = seed_state(3, 4);
        assert_eq!(range(&mut g, 1, 1000), 61);
    }
}
