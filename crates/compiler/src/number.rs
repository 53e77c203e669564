//! Lua numerals: string → number conversion with PUC 5.4's rules (`luaO_str2num`).
//!
//! Public so the VM can reuse it for `tonumber` and string coercions.

/// A converted numeral.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    /// A numeral that denotes an integer (decimal that fits, or any hexadecimal: it wraps).
    Int(i64),
    /// A float numeral, or a decimal integer numeral too large for `i64`.
    Float(f64),
}

fn is_space(c: u8) -> bool {
    matches!(c, 0x20 | 0x09..=0x0d)
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&c| !is_space(c)).unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|&c| !is_space(c))
        .map_or(start, |e| e + 1);
    &s[start..end]
}

/// Converts a numeral (optionally surrounded by whitespace and with a sign) like Lua:
/// decimal integers that overflow become floats, hexadecimal integers wrap around modulo
/// 2^64, `inf`/`nan` are rejected. Returns `None` when `s` is not a valid numeral.
pub fn str2number(s: &[u8]) -> Option<Number> {
    let s = trim(s);
    if let Some(i) = str2int(s) {
        return Some(Number::Int(i));
    }
    str2float(s).map(Number::Float)
}

fn split_sign(s: &[u8]) -> (bool, &[u8]) {
    match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    }
}

fn hex_prefix(s: &[u8]) -> Option<&[u8]> {
    if s.len() >= 2 && s[0] == b'0' && (s[1] == b'x' || s[1] == b'X') {
        Some(&s[2..])
    } else {
        None
    }
}

fn str2int(s: &[u8]) -> Option<i64> {
    let (neg, s) = split_sign(s);
    let mut a: u64 = 0;
    if let Some(h) = hex_prefix(s) {
        if h.is_empty() {
            return None;
        }
        for &c in h {
            let d = (c as char).to_digit(16)?;
            a = a.wrapping_mul(16).wrapping_add(d as u64);
        }
    } else {
        if s.is_empty() {
            return None;
        }
        let max_by_10 = (i64::MAX as u64) / 10;
        let max_last = (i64::MAX as u64) % 10;
        for &c in s {
            if !c.is_ascii_digit() {
                return None;
            }
            let d = (c - b'0') as u64;
            if a >= max_by_10 && (a > max_by_10 || d > max_last + neg as u64) {
                return None; // overflow: not accepted as an integer
            }
            a = a * 10 + d;
        }
    }
    let v = if neg { 0u64.wrapping_sub(a) } else { a };
    Some(v as i64)
}

fn str2float(s: &[u8]) -> Option<f64> {
    if s.iter().any(|&c| c == b'n' || c == b'N') {
        return None; // reject 'inf' and 'nan'
    }
    let (neg, body) = split_sign(s);
    let v = if let Some(h) = hex_prefix(body) {
        hex_float(h)?
    } else {
        if !valid_decimal(body) {
            return None;
        }
        std::str::from_utf8(body).ok()?.parse::<f64>().ok()?
    };
    Some(if neg { -v } else { v })
}

/// `digits [. digits] | . digits`, then an optional exponent `e[+-]digits`.
fn valid_decimal(s: &[u8]) -> bool {
    let mut i = 0;
    let mut ndig = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        i += 1;
        ndig += 1;
    }
    if i < s.len() && s[i] == b'.' {
        i += 1;
        while i < s.len() && s[i].is_ascii_digit() {
            i += 1;
            ndig += 1;
        }
    }
    if ndig == 0 {
        return false;
    }
    if i < s.len() && (s[i] == b'e' || s[i] == b'E') {
        i += 1;
        if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
            i += 1;
        }
        let e0 = i;
        while i < s.len() && s[i].is_ascii_digit() {
            i += 1;
        }
        if i == e0 {
            return false;
        }
    }
    i == s.len()
}

/// Hexadecimal float body (after `0x`): `hexdigits [. hexdigits] [p[+-]digits]`,
/// correctly rounded like C's `strtod`.
fn hex_float(s: &[u8]) -> Option<f64> {
    let mut mant: u64 = 0; // first 15 significant hex digits
    let mut sticky = false; // any nonzero digit dropped
    let mut exp: i64 = 0; // binary exponent adjustment
    let mut any_digit = false;
    let mut nsig = 0;
    let mut i = 0;
    let mut seen_dot = false;
    while i < s.len() {
        let c = s[i];
        if c == b'.' {
            if seen_dot {
                break;
            }
            seen_dot = true;
        } else if let Some(d) = (c as char).to_digit(16) {
            any_digit = true;
            if nsig == 0 && d == 0 {
                // leading zero: no significance
                if seen_dot {
                    exp -= 4;
                }
            } else if nsig < 15 {
                mant = mant * 16 + d as u64;
                nsig += 1;
                if seen_dot {
                    exp -= 4;
                }
            } else {
                if d != 0 {
                    sticky = true;
                }
                if !seen_dot {
                    exp += 4;
                }
            }
        } else {
            break;
        }
        i += 1;
    }
    if !any_digit {
        return None;
    }
    if i < s.len() && (s[i] == b'p' || s[i] == b'P') {
        i += 1;
        let mut eneg = false;
        if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
            eneg = s[i] == b'-';
            i += 1;
        }
        let e0 = i;
        let mut e: i64 = 0;
        while i < s.len() && s[i].is_ascii_digit() {
            e = (e * 10 + (s[i] - b'0') as i64).min(1 << 20);
            i += 1;
        }
        if i == e0 {
            return None;
        }
        exp += if eneg { -e } else { e };
    }
    if i != s.len() {
        return None;
    }
    if mant == 0 {
        return Some(0.0);
    }
    // 60 significant bits + a sticky bit: converting to f64 rounds correctly.
    let m = (mant << 1) | sticky as u64;
    Some(ldexp(m as f64, exp - 1))
}

/// `x * 2^e` without intermediate overflow.
fn ldexp(mut x: f64, mut e: i64) -> f64 {
    while e > 1000 {
        x *= 2f64.powi(1000);
        e -= 1000;
        if x.is_infinite() {
            return x;
        }
    }
    while e < -1000 {
        x *= 2f64.powi(-1000);
        e += 1000;
        if x == 0.0 {
            return x;
        }
    }
    x * 2f64.powi(e as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        assert_eq!(str2number(b"10"), Some(Number::Int(10)));
        assert_eq!(str2number(b"  -10  "), Some(Number::Int(-10)));
        assert_eq!(
            str2number(b"-9223372036854775808"),
            Some(Number::Int(i64::MIN))
        );
        assert_eq!(
            str2number(b"9223372036854775808"),
            Some(Number::Float(9223372036854775808.0))
        );
        assert_eq!(str2number(b"0x10"), Some(Number::Int(16)));
        assert_eq!(str2number(b"-0x10"), Some(Number::Int(-16)));
        assert_eq!(str2number(b"1e2"), Some(Number::Float(100.0)));
        assert_eq!(str2number(b".5"), Some(Number::Float(0.5)));
        assert_eq!(str2number(b"5."), Some(Number::Float(5.0)));
        assert_eq!(str2number(b"0x.1"), Some(Number::Float(0.0625)));
        assert_eq!(str2number(b"0x1P-2"), Some(Number::Float(0.25)));
        assert_eq!(str2number(b"0x1.8"), Some(Number::Float(1.5)));
        assert_eq!(
            str2number(b"0x123456789abcdef0123p0"),
            Some(Number::Float(0x123456789abcdef0123u128 as f64))
        );
        assert_eq!(str2number(b"0x1p-1074"), Some(Number::Float(5e-324)));
        assert_eq!(str2number(b"0x1p99999"), Some(Number::Float(f64::INFINITY)));
        for bad in [
            &b"inf"[..],
            b"nan",
            b"",
            b" ",
            b"1e",
            b"0x",
            b"0x.p1",
            b"1.2.3",
            b"- 1",
            b"1 2",
            b"e5",
            b".",
        ] {
            assert_eq!(str2number(bad), None, "{:?}", std::str::from_utf8(bad));
        }
    }
}
