//! Constant folding: Lua arithmetic on numeric literals at compile time.
//!
//! Follows PUC 5.4's rules (`constfolding`/`validop` in lcode.c): operations that could raise
//! an error (division or modulo by zero, bitwise operations on non-integral floats) are not
//! folded, and neither are float results that are NaN or zero (to keep `-0.0` semantics).

use crate::opcode::ArithOp;

/// A numeric constant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Num {
    Int(i64),
    Flt(f64),
}

impl Num {
    fn to_f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Flt(f) => f,
        }
    }

    /// Exact conversion to an integer (floats must have an integral value in range).
    fn to_int(self) -> Option<i64> {
        match self {
            Num::Int(i) => Some(i),
            Num::Flt(f) => float_to_int(f),
        }
    }

    fn is_zero(self) -> bool {
        match self {
            Num::Int(i) => i == 0,
            Num::Flt(f) => f == 0.0,
        }
    }
}

/// `f` as an integer when it has an exact integral value representable in an i64.
pub(crate) fn float_to_int(f: f64) -> Option<i64> {
    if f.floor() == f && (-9223372036854775808.0..9223372036854775808.0).contains(&f) {
        Some(f as i64)
    } else {
        None
    }
}

pub(crate) fn shift_left(x: i64, y: i64) -> i64 {
    if y <= -64 || y >= 64 {
        0
    } else if y >= 0 {
        ((x as u64) << y) as i64
    } else {
        ((x as u64) >> (-y)) as i64
    }
}

fn int_mod(a: i64, b: i64) -> i64 {
    if b == -1 {
        return 0;
    }
    let r = a % b;
    if r != 0 && (r ^ b) < 0 {
        r + b
    } else {
        r
    }
}

fn int_idiv(a: i64, b: i64) -> i64 {
    if b == -1 {
        return a.wrapping_neg();
    }
    let q = a / b;
    if a % b != 0 && (a ^ b) < 0 {
        q - 1
    } else {
        q
    }
}

fn float_mod(a: f64, b: f64) -> f64 {
    let m = a % b;
    if (m > 0.0 && b < 0.0) || (m < 0.0 && b > 0.0) {
        m + b
    } else {
        m
    }
}

/// Folds `a op b` (for unary operators `b` is ignored). `None`: must not be folded.
pub(crate) fn fold(op: ArithOp, a: Num, b: Num) -> Option<Num> {
    use ArithOp::*;
    // validop
    match op {
        BAnd | BOr | BXor | Shl | Shr | BNot => {
            a.to_int()?;
            b.to_int()?;
        }
        Div | IDiv | Mod if b.is_zero() => return None,
        _ => {}
    }
    let res = match op {
        BAnd | BOr | BXor | Shl | Shr | BNot => {
            let (x, y) = (a.to_int()?, b.to_int()?);
            Num::Int(match op {
                BAnd => x & y,
                BOr => x | y,
                BXor => x ^ y,
                Shl => shift_left(x, y),
                Shr => shift_left(x, y.wrapping_neg()),
                _ => !x,
            })
        }
        Div => Num::Flt(a.to_f64() / b.to_f64()),
        // A square is `a * a`, as at run time (`lunette_vm::number::float_pow`, PUC's
        // `luai_numpow`), so folding never changes a result.
        Pow => {
            let (x, y) = (a.to_f64(), b.to_f64());
            Num::Flt(if y == 2.0 { x * x } else { x.powf(y) })
        }
        _ => match (a, b) {
            (Num::Int(x), Num::Int(y)) => Num::Int(match op {
                Add => x.wrapping_add(y),
                Sub => x.wrapping_sub(y),
                Mul => x.wrapping_mul(y),
                Mod => int_mod(x, y),
                IDiv => int_idiv(x, y),
                _ => x.wrapping_neg(), // Unm
            }),
            _ => {
                let (x, y) = (a.to_f64(), b.to_f64());
                Num::Flt(match op {
                    Add => x + y,
                    Sub => x - y,
                    Mul => x * y,
                    Mod => float_mod(x, y),
                    IDiv => (x / y).floor(),
                    _ => -x, // Unm
                })
            }
        },
    };
    match res {
        Num::Flt(f) if f.is_nan() || f == 0.0 => None,
        r => Some(r),
    }
}

#[cfg(test)]
mod tests {
    use super::ArithOp::*;
    use super::Num::*;
    use super::*;

    #[test]
    fn folding() {
        assert_eq!(fold(Add, Int(1), Int(2)), Some(Int(3)));
        assert_eq!(fold(Add, Int(i64::MAX), Int(1)), Some(Int(i64::MIN)));
        assert_eq!(fold(Div, Int(1), Int(2)), Some(Flt(0.5)));
        assert_eq!(fold(Div, Int(1), Int(0)), None);
        assert_eq!(fold(Mod, Int(1), Flt(0.0)), None);
        assert_eq!(fold(IDiv, Int(7), Int(-2)), Some(Int(-4)));
        assert_eq!(fold(Mod, Int(-7), Int(2)), Some(Int(1)));
        assert_eq!(fold(Mod, Flt(-7.0), Int(2)), Some(Flt(1.0)));
        assert_eq!(fold(Mod, Int(i64::MIN), Int(-1)), Some(Int(0)));
        assert_eq!(fold(IDiv, Int(i64::MIN), Int(-1)), Some(Int(i64::MIN)));
        assert_eq!(fold(Unm, Int(0), Int(0)), Some(Int(0)));
        assert_eq!(fold(Unm, Flt(0.0), Int(0)), None);
        assert_eq!(fold(Sub, Flt(1.0), Flt(1.0)), None);
        assert_eq!(fold(Pow, Int(2), Int(10)), Some(Flt(1024.0)));
        assert_eq!(fold(BAnd, Flt(1.5), Int(1)), None);
        assert_eq!(fold(BOr, Flt(2.0), Int(1)), Some(Int(3)));
        assert_eq!(fold(Shl, Int(1), Int(64)), Some(Int(0)));
        assert_eq!(fold(Shr, Int(-1), Int(60)), Some(Int(15)));
        assert_eq!(fold(Shl, Int(1), Int(-1)), Some(Int(0)));
        assert_eq!(fold(BNot, Int(0), Int(0)), Some(Int(-1)));
    }
}
