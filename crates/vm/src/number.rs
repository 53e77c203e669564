//! Lua number semantics: integer/float subtypes, conversions, string parsing and formatting,
//! and the arithmetic rules of the 5.4 manual (§3.4.1) that differ from Rust's.

/// String → number conversion follows PUC's `luaO_str2num`; the compiler's lexer and the
/// VM's coercions (`tonumber`, arithmetic on strings, `for` limits) share one implementation.
pub use lunette_compiler::number::{str2number as parse_number, Number};

/// Float → integer when the float has an exact integer value in range.
#[inline]
pub fn float_to_int(f: f64) -> Option<i64> {
    // -2^63 is exactly representable; 2^63 is not a valid i64.
    if (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&f) {
        let i = f as i64;
        if i as f64 == f {
            return Some(i);
        }
    }
    None
}

/// Exact comparison of an integer with a float.
pub fn int_eq_float(i: i64, f: f64) -> bool {
    float_to_int(f) == Some(i)
}

/// `i < f`, exactly.
pub fn int_lt_float(i: i64, f: f64) -> bool {
    if f.is_nan() {
        return false;
    }
    if f >= 9_223_372_036_854_775_808.0 {
        return true;
    }
    if f < -9_223_372_036_854_775_808.0 {
        return false;
    }
    // f in [-2^63, 2^63): compare with ceil(f) as integer: i < f <=> i < ceil(f)
    let c = f.ceil();
    i < c as i64
}

/// `i <= f`, exactly.
pub fn int_le_float(i: i64, f: f64) -> bool {
    if f.is_nan() {
        return false;
    }
    if f >= 9_223_372_036_854_775_808.0 {
        return true;
    }
    if f < -9_223_372_036_854_775_808.0 {
        return false;
    }
    // i <= f <=> i <= floor(f)
    i <= f.floor() as i64
}

/// `f < i`, exactly.
pub fn float_lt_int(f: f64, i: i64) -> bool {
    if f.is_nan() {
        return false;
    }
    !int_le_float(i, f)
}

/// `f <= i`, exactly.
pub fn float_le_int(f: f64, i: i64) -> bool {
    if f.is_nan() {
        return false;
    }
    !int_lt_float(i, f)
}

/// Integer floor division; `None` on division by zero.
#[inline]
pub fn int_floor_div(a: i64, b: i64) -> Option<i64> {
    if b == 0 {
        return None;
    }
    if b == -1 {
        return Some(a.wrapping_neg());
    }
    let q = a / b;
    if (a % b != 0) && ((a < 0) != (b < 0)) {
        Some(q - 1)
    } else {
        Some(q)
    }
}

/// Integer modulo with the sign of the divisor; `None` on division by zero.
#[inline]
pub fn int_mod(a: i64, b: i64) -> Option<i64> {
    if b > 0 {
        return Some(int_mod_positive(a, b));
    }
    if b == 0 {
        return None;
    }
    if b == -1 {
        return Some(0);
    }
    let r = a % b;
    if r != 0 && ((r < 0) != (b < 0)) {
        Some(r + b)
    } else {
        Some(r)
    }
}

/// [`int_mod`] for a positive divisor `b` (the common case, which the interpreter's `%`
/// takes without the other checks): the remainder, made non-negative.
#[inline(always)]
pub fn int_mod_positive(a: i64, b: i64) -> i64 {
    let r = a % b;
    if r < 0 {
        r + b
    } else {
        r
    }
}

/// `a ^ b` (always a float): a square is `a * a` (as PUC's `luai_numpow` has it), anything
/// else `pow`.
#[inline]
pub fn float_pow(a: f64, b: f64) -> f64 {
    if b == 2.0 {
        a * a
    } else {
        a.powf(b)
    }
}

/// Float floor division (`//` on floats): `floor(a / b)`, like PUC's `luai_numidiv`.
#[inline]
pub fn float_floor_div(a: f64, b: f64) -> f64 {
    (a / b).floor()
}

/// Float modulo like PUC's `luai_nummod`: `fmod`, adjusted to the sign of the divisor.
#[inline]
pub fn float_mod(a: f64, b: f64) -> f64 {
    let m = a % b;
    if m != 0.0 && ((m > 0.0) != (b > 0.0)) {
        m + b
    } else {
        m
    }
}

/// Logical shift left; negative counts shift right; counts >= 64 give 0.
#[inline]
pub fn shift_left(a: i64, b: i64) -> i64 {
    if b <= -64 || b >= 64 {
        0
    } else if b >= 0 {
        ((a as u64) << b) as i64
    } else {
        ((a as u64) >> (-b)) as i64
    }
}

/// Logical shift right (`>>`); negative counts shift left; counts >= 64 give 0.
#[inline]
pub fn shift_right(a: i64, b: i64) -> i64 {
    shift_left(a, b.wrapping_neg())
}

/// C's `%.{precision}g` formatting of a finite or non-finite double.
pub fn format_g(f: f64, precision: usize, alternate: bool) -> String {
    if f.is_nan() {
        return if f.is_sign_negative() { "-nan" } else { "nan" }.to_string();
    }
    if f.is_infinite() {
        return if f < 0.0 { "-inf" } else { "inf" }.to_string();
    }
    let p = if precision == 0 { 1 } else { precision };
    let sci = format!("{:.*e}", p - 1, f);
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let x: i32 = exp.parse().unwrap_or(0);
    if x < -4 || x >= p as i32 {
        let mant = if alternate {
            mant.to_string()
        } else {
            strip_trailing_zeros(mant)
        };
        let sign = if x < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", x.abs())
    } else {
        let decimals = (p as i32 - 1 - x).max(0) as usize;
        let fixed = format!("{:.*}", decimals, f);
        if alternate {
            fixed
        } else {
            strip_trailing_zeros(&fixed)
        }
    }
}

fn strip_trailing_zeros(s: &str) -> String {
    if s.contains('.') {
        let t = s.trim_end_matches('0');
        t.trim_end_matches('.').to_string()
    } else {
        s.to_string()
    }
}

/// `tostring` of a float, like PUC's `%.14g` plus `.0` when the result looks like an integer.
pub fn format_float(f: f64) -> String {
    let mut s = format_g(f, 14, false);
    if s.bytes().all(|c| c == b'-' || c.is_ascii_digit()) {
        s.push_str(".0");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_lua() {
        assert_eq!(parse_number(b" 10 "), Some(Number::Int(10)));
        assert_eq!(parse_number(b"0x10"), Some(Number::Int(16)));
        assert_eq!(parse_number(b"0xffffffffffffffff"), Some(Number::Int(-1)));
        assert_eq!(parse_number(b"1e1"), Some(Number::Float(10.0)));
        assert_eq!(parse_number(b"-.5"), Some(Number::Float(-0.5)));
        assert_eq!(parse_number(b"3."), Some(Number::Float(3.0)));
        assert_eq!(parse_number(b"0x1p4"), Some(Number::Float(16.0)));
        assert_eq!(parse_number(b"0x.8"), Some(Number::Float(0.5)));
        assert_eq!(
            parse_number(b"9223372036854775808"),
            Some(Number::Float(9223372036854775808.0))
        );
        assert_eq!(
            parse_number(b"-9223372036854775808"),
            Some(Number::Int(i64::MIN))
        );
        assert_eq!(parse_number(b"inf"), None);
        assert_eq!(parse_number(b"nan"), None);
        assert_eq!(parse_number(b"1e"), None);
        assert_eq!(parse_number(b""), None);
        assert_eq!(parse_number(b"  "), None);
        assert_eq!(parse_number(b"0x"), None);
        assert_eq!(parse_number(b"1 2"), None);
    }

    #[test]
    fn formats_like_lua() {
        assert_eq!(format_float(1.0), "1.0");
        assert_eq!(format_float(-0.0), "-0.0");
        assert_eq!(format_float(0.1), "0.1");
        assert_eq!(format_float(1e15), "1e+15");
        assert_eq!(format_float(1e14), "1e+14");
        assert_eq!(format_float(123456789012.0), "123456789012.0");
        assert_eq!(format_float(0.1 + 0.2), "0.3");
        assert_eq!(format_float(1e-5), "1e-05");
        assert_eq!(format_float(2f64.powi(63)), "9.2233720368548e+18");
        assert_eq!(format_float(f64::INFINITY), "inf");
        assert_eq!(format_float(1.23456), "1.23456");
    }

    #[test]
    fn integer_division_rules() {
        assert_eq!(int_floor_div(7, -2), Some(-4));
        assert_eq!(int_floor_div(i64::MIN, -1), Some(i64::MIN));
        assert_eq!(int_mod(-7, 3), Some(2));
        assert_eq!(int_mod(7, -3), Some(-2));
        assert_eq!(int_mod(i64::MIN, -1), Some(0));
        assert_eq!(int_mod(1, 0), None);
        assert_eq!(float_mod(-7.0, 3.0), 2.0);
        assert_eq!(shift_left(1, 64), 0);
        assert_eq!(shift_right(-1, 63), 1);
    }

    #[test]
    fn exact_int_float_comparisons() {
        assert!(int_lt_float(9007199254740992, 9007199254740993.0 + 2.0));
        assert!(!int_lt_float(9007199254740993, 9007199254740992.0));
        assert!(int_le_float(i64::MIN, -9223372036854775808.0));
        assert!(int_lt_float(i64::MAX, 9223372036854775808.0));
        assert!(float_lt_int(-0.5, 0));
        assert!(!int_eq_float(1, 1.5));
    }
}
