//! Lua number semantics: integer/float subtypes, conversions, string parsing and formatting,
//! and the arithmetic rules of the 5.4 manual (§3.4.1) that differ from Rust's.

/// A parsed numeric value.
#[derive(Debug, Copy, Clone, PartialEq)]
pub enum Number {
    Int(i64),
    Float(f64),
}

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

#[inline]
pub fn shift_right(a: i64, b: i64) -> i64 {
    shift_left(a, b.wrapping_neg())
}

fn is_lua_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn hex_digit(c: u8) -> Option<u32> {
    (c as char).to_digit(16)
}

/// Converts a string to a number following `lua_stringtonumber`: optional surrounding
/// whitespace, an optional sign, decimal or hexadecimal integers (hex wraps around),
/// decimal integers that overflow become floats, decimal and hexadecimal floats.
/// `inf`, `nan` and other words are not numbers.
pub fn parse_number(bytes: &[u8]) -> Option<Number> {
    let start = bytes.iter().position(|&c| !is_lua_space(c))?;
    let end = bytes.iter().rposition(|&c| !is_lua_space(c))? + 1;
    let s = &bytes[start..end];
    let (neg, body) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if body.is_empty() {
        return None;
    }
    if body.len() >= 2 && body[0] == b'0' && (body[1] == b'x' || body[1] == b'X') {
        return parse_hex(&body[2..], neg);
    }
    // Decimal: only digits, '.', exponent allowed.
    let mut digits = 0;
    let mut is_float = false;
    let mut i = 0;
    while i < body.len() && body[i].is_ascii_digit() {
        i += 1;
        digits += 1;
    }
    if i < body.len() && body[i] == b'.' {
        is_float = true;
        i += 1;
        while i < body.len() && body[i].is_ascii_digit() {
            i += 1;
            digits += 1;
        }
    }
    if digits == 0 {
        return None;
    }
    if i < body.len() && (body[i] == b'e' || body[i] == b'E') {
        is_float = true;
        i += 1;
        if i < body.len() && (body[i] == b'+' || body[i] == b'-') {
            i += 1;
        }
        let exp_start = i;
        while i < body.len() && body[i].is_ascii_digit() {
            i += 1;
        }
        if i == exp_start {
            return None;
        }
    }
    if i != body.len() {
        return None;
    }
    let text = std::str::from_utf8(body).ok()?;
    if !is_float {
        // Accumulate as integer; overflow → float.
        let mut acc: i64 = 0;
        let mut overflow = false;
        for &c in body {
            let d = (c - b'0') as i64;
            match acc.checked_mul(10).and_then(|v| v.checked_add(d)) {
                Some(v) => acc = v,
                None => {
                    overflow = true;
                    break;
                }
            }
        }
        if !overflow {
            return Some(Number::Int(if neg { acc.wrapping_neg() } else { acc }));
        }
        // "-9223372036854775808" overflows as positive but fits as negative.
        if neg && text == "9223372036854775808" {
            return Some(Number::Int(i64::MIN));
        }
    }
    let f: f64 = text.parse().ok()?;
    Some(Number::Float(if neg { -f } else { f }))
}

fn parse_hex(s: &[u8], neg: bool) -> Option<Number> {
    let mut mantissa: u64 = 0;
    let mut any_digit = false;
    let mut exp: i64 = 0; // binary exponent adjustment
    let mut is_float = false;
    let mut i = 0;
    let mut significant = 0; // significant hex digits accumulated (for float precision)
    let mut fmant: f64 = 0.0;
    while i < s.len() {
        if let Some(d) = hex_digit(s[i]) {
            mantissa = mantissa.wrapping_mul(16).wrapping_add(d as u64);
            if significant < 30 {
                fmant = fmant * 16.0 + d as f64;
                if fmant != 0.0 {
                    significant += 1;
                }
            } else {
                exp += 4;
            }
            any_digit = true;
            i += 1;
        } else {
            break;
        }
    }
    if i < s.len() && s[i] == b'.' {
        is_float = true;
        i += 1;
        while i < s.len() {
            if let Some(d) = hex_digit(s[i]) {
                if significant < 30 {
                    fmant = fmant * 16.0 + d as f64;
                    if fmant != 0.0 {
                        significant += 1;
                    }
                    exp -= 4;
                }
                any_digit = true;
                i += 1;
            } else {
                break;
            }
        }
    }
    if !any_digit {
        return None;
    }
    if i < s.len() && (s[i] == b'p' || s[i] == b'P') {
        is_float = true;
        i += 1;
        let mut eneg = false;
        if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
            eneg = s[i] == b'-';
            i += 1;
        }
        let start = i;
        let mut e: i64 = 0;
        while i < s.len() && s[i].is_ascii_digit() {
            e = (e * 10 + (s[i] - b'0') as i64).min(1 << 20);
            i += 1;
        }
        if i == start {
            return None;
        }
        exp += if eneg { -e } else { e };
    }
    if i != s.len() {
        return None;
    }
    if is_float {
        let v = fmant * (2f64).powi(exp.clamp(-2000, 2000) as i32);
        // powi with large magnitudes can under/overflow in two steps; do it in halves.
        let v = if v.is_finite() && v != 0.0 || fmant == 0.0 {
            v
        } else {
            let half = (exp / 2).clamp(-2000, 2000) as i32;
            fmant * 2f64.powi(half) * 2f64.powi(exp.clamp(-4000, 4000) as i32 - half)
        };
        Some(Number::Float(if neg { -v } else { v }))
    } else {
        let v = mantissa as i64;
        Some(Number::Int(if neg { v.wrapping_neg() } else { v }))
    }
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
