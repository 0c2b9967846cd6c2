//! Reading number text: decimal / hex-float / inf / nan strings into an
//! exact [`Value`] (never through `f64`).
//!
//! Correctness of the reader rests on one fact: a [`Value`] is the value
//! truncated to 64 significant bits plus a sticky bit, and the 64-bit grid
//! points near `x` are dyadic numbers with a bounded number of significant
//! decimal digits (at most `21 + 0.7·(63 − E) ` for `x ≈ 2^E`, `E < 63`,
//! and `21 + 0.31·E` above). Keeping more significant digits than that
//! exactly and replacing every later digit by one non-zero "sticky" digit
//! cannot move `x` across a grid point, so the truncation and the sticky
//! bit, hence every rounding of every format, are exact. We keep
//! `max(1200, that bound)` digits.
//!
//! Work is bounded for hostile text: scanning is linear, digits beyond the
//! bound are only looked at for being non-zero, and a decimal exponent
//! beyond ±[`DEC_EXP_LIMIT`] (far outside every format, biases included) is
//! answered as "huge" or "tiny" without any big-number arithmetic.

use num_bigint::BigUint;
use num_traits::{One, Zero};

use crate::engine::value::Value;
use crate::error::Error;
use crate::text::rational::{digits_to_biguint, ratio_value, CLAMP_EXP};

/// Fewest significant digits kept exactly (more when the exponent needs it).
pub const MIN_KEPT_DIGITS: usize = 1200;
/// Hex digits kept exactly: 160 bits, far more than the 64 of a [`Value`].
const KEPT_HEX_DIGITS: usize = 40;
/// |decimal exponent| beyond which a value is outside every format's range:
/// 10^340000 ≈ 2^1129443, while biases are limited to ±2^20 and exponent
/// fields to 11 bits.
pub const DEC_EXP_LIMIT: i64 = 340_000;
/// Exponent digits beyond this are saturated (the value is clamped anyway).
const EXP_SATURATE: i64 = 1 << 50;

/// A scanned number, before any arithmetic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Number {
    Nan {
        neg: bool,
    },
    Inf {
        neg: bool,
    },
    /// `±int(digits, radix) · base^exp` (+ a sticky tail), where `base` is 10
    /// for radix 10 and 2 for radix 16. `digits` holds digit values without
    /// leading zeros (empty for zero); `tail` is true when non-zero digits
    /// were dropped after the kept ones.
    Finite {
        neg: bool,
        radix: u32,
        digits: Vec<u8>,
        exp: i64,
        tail: bool,
    },
}

/// Read `text` exactly into a [`Value`]. See the module docs for the rules.
pub fn read(text: &str) -> Result<Value, Error> {
    Ok(scan(text)?.to_value())
}

/// Shorten `text` for an error message.
fn quoted(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= 40 {
        format!("{text:?}")
    } else {
        let head: String = chars[..30].iter().collect();
        format!("{:?} (… {} characters)", head, chars.len())
    }
}

fn parse_err(text: &str, what: String) -> Error {
    Error::Parse(format!("cannot read {} as a number: {what}", quoted(text)))
}

/// The error for an unexpected character at byte `pos` of the trimmed text.
fn bad_char(text: &str, body: &str, pos: usize) -> Error {
    let c = body[pos..].chars().next().unwrap_or('?');
    let hint = match c {
        '_' => " (digit separators are not accepted)",
        ',' => " (digit separators are not accepted; the decimal mark is '.')",
        _ => "",
    };
    let offset = text.trim_end().len() - body.len() + pos;
    let col = text[..offset].chars().count() + 1;
    parse_err(text, format!("unexpected {c:?} at position {col}{hint}"))
}

/// Scan `text` into a [`Number`]: sign, specials, hex or decimal.
pub fn scan(text: &str) -> Result<Number, Error> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(parse_err(text, "it is empty".into()));
    }
    let (neg, body) = match trimmed.as_bytes()[0] {
        b'-' => (true, &trimmed[1..]),
        b'+' => (false, &trimmed[1..]),
        _ => (false, trimmed),
    };
    if body.len() <= 8 {
        match body.to_ascii_lowercase().as_str() {
            "inf" | "infinity" => return Ok(Number::Inf { neg }),
            "nan" => return Ok(Number::Nan { neg }),
            _ => {}
        }
    }
    if body.len() >= 2 && body.as_bytes()[0] == b'0' && matches!(body.as_bytes()[1], b'x' | b'X') {
        scan_hex(text, body, neg)
    } else {
        scan_decimal(text, body, neg)
    }
}

/// Positions of the parts of a mantissa: digits, an optional point, digits.
struct Mantissa {
    /// Byte index one past the mantissa.
    end: usize,
    /// Byte index of the '.', if any.
    point: Option<usize>,
    /// Number of digits (both sides of the point).
    count: usize,
}

/// Scan digits of `radix` with at most one '.', starting at byte `start`.
fn scan_mantissa(body: &[u8], start: usize, radix: u32) -> Mantissa {
    let mut i = start;
    let mut point = None;
    let mut count = 0;
    while i < body.len() {
        let c = body[i];
        if c == b'.' && point.is_none() {
            point = Some(i);
        } else if (c as char).is_digit(radix) {
            count += 1;
        } else {
            break;
        }
        i += 1;
    }
    Mantissa {
        end: i,
        point,
        count,
    }
}

/// Read a (signed, saturating) exponent that must fill `body[start..]`.
fn scan_exponent(text: &str, body: &str, start: usize) -> Result<i64, Error> {
    let b = body.as_bytes();
    let mut i = start;
    let neg = match b.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    if i >= b.len() {
        return Err(parse_err(text, "the exponent has no digits".into()));
    }
    let mut e: i64 = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() {
            return Err(bad_char(text, body, i));
        }
        e = (e * 10 + (b[i] - b'0') as i64).min(EXP_SATURATE);
        i += 1;
    }
    Ok(if neg { -e } else { e })
}

/// Significant digits of a mantissa: at most `keep`, the rest folded into a
/// tail flag. Returns the kept digit values, the tail flag and the number of
/// digits (kept or not) that follow the first kept one before the point.
fn collect_digits(
    body: &[u8],
    m: &Mantissa,
    start: usize,
    radix: u32,
    keep: usize,
) -> (Vec<u8>, bool) {
    let mut digits = Vec::with_capacity(keep.min(m.count));
    let mut tail = false;
    for &c in &body[start..m.end] {
        if c == b'.' {
            continue;
        }
        let d = (c as char).to_digit(radix).unwrap_or(0) as u8;
        if digits.is_empty() && d == 0 {
            continue;
        }
        if digits.len() < keep {
            digits.push(d);
        } else if d != 0 {
            tail = true;
            break;
        }
    }
    (digits, tail)
}

/// Facts about a mantissa's digits needed before collecting them.
struct Layout {
    /// Index (among all digits) of the first non-zero digit, if any.
    first_nonzero: Option<usize>,
    /// Number of digits before the point.
    int_digits: usize,
}

fn layout(body: &[u8], m: &Mantissa, start: usize) -> Layout {
    let mut idx = 0;
    let mut first_nonzero = None;
    for &c in &body[start..m.end] {
        if c == b'.' {
            continue;
        }
        if c != b'0' {
            first_nonzero = Some(idx);
            break;
        }
        idx += 1;
    }
    let int_digits = match m.point {
        Some(p) => body[start..p].len(),
        None => m.count,
    };
    Layout {
        first_nonzero,
        int_digits,
    }
}

/// Digits to keep for a decimal whose leading digit has weight 10^(p-1):
/// the bound of the module docs with margin, never below [`MIN_KEPT_DIGITS`].
fn kept_digits(p: i64) -> usize {
    let below = (64.0 + 3.33 * (1 - p) as f64).max(0.0) * 0.7;
    let above = p.max(0) as f64 * 1.01;
    (30.0 + below + above).ceil().max(MIN_KEPT_DIGITS as f64) as usize
}

/// A signed zero read in `radix` (no significant digit).
fn zero(neg: bool, radix: u32) -> Number {
    Number::Finite {
        neg,
        radix,
        digits: Vec::new(),
        exp: 0,
        tail: false,
    }
}

fn scan_decimal(text: &str, body: &str, neg: bool) -> Result<Number, Error> {
    let b = body.as_bytes();
    let m = scan_mantissa(b, 0, 10);
    if m.count == 0 {
        return Err(match b.get(m.end) {
            Some(_) if m.end == 0 => bad_char(text, body, 0),
            _ => parse_err(text, "there are no digits".into()),
        });
    }
    let exp = match b.get(m.end) {
        None => 0,
        Some(b'e') | Some(b'E') => scan_exponent(text, body, m.end + 1)?,
        Some(_) => return Err(bad_char(text, body, m.end)),
    };
    let lay = layout(b, &m, 0);
    let Some(first) = lay.first_nonzero else {
        return Ok(zero(neg, 10));
    };
    // x = 0.d1 d2 … × 10^p with d1 the first non-zero digit.
    let p = exp + lay.int_digits as i64 - first as i64;
    if p > DEC_EXP_LIMIT {
        return Ok(clamped(neg, true));
    }
    if p < -DEC_EXP_LIMIT {
        return Ok(clamped(neg, false));
    }
    let (digits, tail) = collect_digits(b, &m, 0, 10, kept_digits(p));
    let exp10 = p - digits.len() as i64;
    Ok(trimmed_number(neg, 10, digits, exp10, tail))
}

fn scan_hex(text: &str, body: &str, neg: bool) -> Result<Number, Error> {
    let b = body.as_bytes();
    let m = scan_mantissa(b, 2, 16);
    if m.count == 0 {
        return Err(match b.get(m.end) {
            Some(_) => bad_char(text, body, m.end),
            None => parse_err(text, "there are no hex digits after 0x".into()),
        });
    }
    let exp = match b.get(m.end) {
        None => 0,
        Some(b'p') | Some(b'P') => scan_exponent(text, body, m.end + 1)?,
        Some(_) => return Err(bad_char(text, body, m.end)),
    };
    let lay = layout(b, &m, 2);
    let Some(first) = lay.first_nonzero else {
        return Ok(zero(neg, 16));
    };
    // x = 0.h1 h2 … × 16^p4 × 2^exp with h1 the first non-zero hex digit.
    let p2 = exp + 4 * (lay.int_digits as i64 - first as i64);
    if p2 > CLAMP_EXP {
        return Ok(clamped(neg, true));
    }
    if p2 < -CLAMP_EXP {
        return Ok(clamped(neg, false));
    }
    let (digits, tail) = collect_digits(b, &m, 2, 16, KEPT_HEX_DIGITS);
    let exp2 = p2 - 4 * digits.len() as i64;
    Ok(trimmed_number(neg, 16, digits, exp2, tail))
}

/// Drop trailing zero digits (folding them into the exponent).
fn trimmed_number(neg: bool, radix: u32, mut digits: Vec<u8>, mut exp: i64, tail: bool) -> Number {
    if !tail {
        let step = if radix == 10 { 1 } else { 4 };
        while digits.last() == Some(&0) {
            digits.pop();
            exp += step;
        }
    }
    Number::Finite {
        neg,
        radix,
        digits,
        exp,
        tail,
    }
}

/// A value known only to be beyond (or below) every format's range.
fn clamped(neg: bool, huge: bool) -> Number {
    let exp = if huge { CLAMP_EXP } else { -CLAMP_EXP - 64 };
    Number::Finite {
        neg,
        radix: 16,
        digits: vec![1],
        exp,
        tail: true,
    }
}

impl Number {
    /// The exact [`Value`] of this number (64-bit truncation + sticky).
    pub fn to_value(&self) -> Value {
        match self {
            Number::Nan { neg } => Value::Nan {
                neg: *neg,
                payload: 1 << 63,
            },
            Number::Inf { neg } => Value::Inf { neg: *neg },
            Number::Finite { neg, digits, .. } if digits.is_empty() => Value::Zero { neg: *neg },
            Number::Finite {
                neg,
                radix,
                digits,
                exp,
                tail,
            } => {
                let (mut d, mut e) = (digits_to_biguint(digits, *radix), *exp);
                if *tail {
                    // One more non-zero digit stands for everything dropped.
                    d = d * *radix + 1u32;
                    e -= if *radix == 10 { 1 } else { 4 };
                }
                if *radix == 16 {
                    return ratio_value(*neg, &d, &BigUint::one(), e);
                }
                // d · 10^e = d · 5^e · 2^e
                let five = BigUint::from(5u32).pow(e.unsigned_abs() as u32);
                if e >= 0 {
                    ratio_value(*neg, &(d * five), &BigUint::one(), e)
                } else {
                    ratio_value(*neg, &d, &five, e)
                }
            }
        }
    }

    /// True when the exact value is known (no digits were dropped and it was
    /// not clamped), so a caller may rebuild it as a rational.
    pub fn is_exact(&self) -> bool {
        !matches!(self, Number::Finite { tail: true, .. })
    }
}

/// Digits (values in `0..radix`) to an integer. Long runs are split in
/// halves (`hi · radix^len(lo) + lo`) so that big multiplications, not the
/// quadratic digit-by-digit loop, do the work.
/// The exact value of `±num/den` given as hex digit strings (how Python
/// hands over a `Fraction` without a decimal detour).
pub fn ratio_from_hex(neg: bool, num_hex: &str, den_hex: &str) -> Result<Value, Error> {
    let num = hex_digits(num_hex)?;
    let den = hex_digits(den_hex)?;
    if den.is_zero() {
        return Err(Error::invalid("the denominator of a ratio is zero"));
    }
    Ok(ratio_value(neg, &num, &den, 0))
}

fn hex_digits(s: &str) -> Result<BigUint, Error> {
    let digits: Option<Vec<u8>> = s
        .bytes()
        .map(|c| (c as char).to_digit(16).map(|d| d as u8))
        .collect();
    match digits {
        Some(d) if !d.is_empty() => Ok(digits_to_biguint(&d, 16)),
        _ => Err(Error::invalid(format!(
            "expected hex digits, got {}",
            quoted(s)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::options::EncodeOptions;
    use crate::engine::rounding::RoundingMode;
    use crate::format::float_builtin;
    use crate::text::print::{exact_decimal, shortest_decimal};
    use std::time::{Duration, Instant};

    fn f64_bits(text: &str) -> u64 {
        float_builtin("fp64").encode(read(text).unwrap(), &EncodeOptions::nearest_even(), 0)
    }

    fn f32_bits(text: &str) -> u64 {
        float_builtin("fp32").encode(read(text).unwrap(), &EncodeOptions::nearest_even(), 0)
    }

    #[test]
    fn agrees_with_std_parse_on_classic_cases() {
        for s in [
            "0.1",
            "1e23",
            "8.98846567431158e307",
            "2.2250738585072011e-308",
            "2.2250738585072012e-308",
            "4.9406564584124654e-324",
            "2.4703282292062327e-324",
            "2.4703282292062328e-324",
            "1.7976931348623157e308",
            "1.7976931348623158e308",
            "1.7976931348623159e308",
            "9007199254740993",
            "123456789012345678901234567890",
            "-0.0",
            "0e999",
            "1e-400",
            "1e400",
            ".5",
            "5.",
            "+3.25E+2",
            "0.000000000000000000000000000000000000000000001",
        ] {
            let want = s.parse::<f64>().unwrap().to_bits();
            assert_eq!(f64_bits(s), want, "{s}");
        }
    }

    #[test]
    fn long_inputs_decide_ties_by_far_digits() {
        // 1 + 2^-53 is a tie in fp64; any non-zero digit far away breaks it.
        let tie = "1.00000000000000011102230246251565404236316680908203125";
        assert_eq!(f64_bits(tie), 0x3ff0_0000_0000_0000);
        let above = format!("{tie}{}1", "0".repeat(5000));
        assert_eq!(f64_bits(&above), 0x3ff0_0000_0000_0001);
        let below = "1.00000000000000011102230246251565404236316680908203124999999999999";
        assert_eq!(f64_bits(below), 0x3ff0_0000_0000_0000);
    }

    #[test]
    fn quiz_values_in_fp32() {
        let f = float_builtin("fp32");
        let b = f32_bits("3.14159265358979323846");
        assert_eq!(b, 0x4049_0fdb);
        assert_eq!(exact_decimal(&f, b), "3.1415927410125732421875");
        assert_eq!(shortest_decimal(&f, b), "3.1415927");
        assert_eq!(f32_bits("1.1e49"), 0x7f80_0000);
        assert_eq!(shortest_decimal(&f, f32_bits("1.1e26")), "1.1e+26");
    }

    #[test]
    fn hex_floats_and_specials() {
        assert_eq!(f64_bits("0x1.8p3"), 12f64.to_bits());
        assert_eq!(f64_bits("-0x1p-1074"), (-5e-324f64).to_bits());
        assert_eq!(
            f64_bits("0x1.921fb54442d18p+1"),
            std::f64::consts::PI.to_bits()
        );
        assert_eq!(f64_bits("0X.8P1"), 1f64.to_bits());
        assert_eq!(f64_bits("  -Infinity "), f64::NEG_INFINITY.to_bits());
        assert_eq!(f64_bits("INF"), f64::INFINITY.to_bits());
        assert!(matches!(
            read("-nan").unwrap(),
            Value::Nan { neg: true, .. }
        ));
        // hex tie between 1 and 1 + 2^-52, decided by a far digit
        assert_eq!(f64_bits("0x1.00000000000008"), 0x3ff0_0000_0000_0000);
        assert_eq!(
            f64_bits("0x1.000000000000080000000000000000000000000001"),
            0x3ff0_0000_0000_0001
        );
    }

    #[test]
    fn malformed_text_names_the_problem() {
        for (s, needle) in [
            ("", "empty"),
            ("1_000", "separators"),
            ("1,5", "separators"),
            ("1e", "exponent"),
            ("1.2.3", "position 4"),
            ("abc", "'a'"),
            (".", "no digits"),
            ("--1", "position 2"),
            ("0x", "hex digits"),
            ("1e+-3", "'-'"),
            ("1 2", "' '"),
            ("0x1p", "exponent"),
            ("١", "position 1"),
            ("e5", "'e'"),
        ] {
            let err = read(s).unwrap_err().to_string();
            assert!(err.contains(needle), "{s:?}: {err}");
        }
    }

    #[test]
    fn hostile_inputs_answer_fast_with_the_right_category() {
        let f = float_builtin("fp32");
        let o = EncodeOptions::nearest_even();
        let cases: Vec<(String, u64)> = vec![
            ("1e-999999999".into(), 0),
            ("-1e-999999999".into(), 0x8000_0000),
            ("1e999999999999999999999".into(), 0x7f80_0000),
            (format!("0.{}1", "0".repeat(1_000_000)), 0),
            ("9".repeat(1_000_000), 0x7f80_0000),
            (format!("0.{}", "1".repeat(1_000_000)), 0x3de3_8e39),
            (
                format!("0.{}{}", "0".repeat(300_000), "7".repeat(1_000_000)),
                0,
            ),
            (format!("{}e-1000000", "3".repeat(1_000_000)), 0x3eaa_aaab),
        ];
        for (s, want) in cases {
            let t = Instant::now();
            let v = read(&s).unwrap();
            assert_eq!(f.encode(v, &o, 0), want, "{}", &s[..20.min(s.len())]);
            assert!(
                t.elapsed() < Duration::from_millis(900),
                "{} took {:?}",
                &s[..20],
                t.elapsed()
            );
        }
        // tiny values still round up under 'up'
        let up = EncodeOptions {
            rounding: RoundingMode::Up,
            ..Default::default()
        };
        assert_eq!(f.encode(read("1e-999999999").unwrap(), &up, 0), 1);
    }

    #[test]
    fn random_strings_agree_with_std_parse() {
        // xorshift: deterministic, no dependency
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..50_000 {
            let len = 1 + (next() % 30) as usize;
            let digits: String = (0..len)
                .map(|_| (b'0' + (next() % 10) as u8) as char)
                .collect();
            let point = (next() % (len as u64 + 1)) as usize;
            let exp = (next() % 680) as i64 - 360;
            let s = format!("{}.{}e{exp}", &digits[..point], &digits[point..]);
            let s = if s.starts_with(".e") {
                format!("0{s}")
            } else {
                s
            };
            assert_eq!(f64_bits(&s), s.parse::<f64>().unwrap().to_bits(), "{s}");
        }
    }

    #[test]
    fn ratio_reads_thirds() {
        let v = ratio_value(false, &BigUint::from(1u32), &BigUint::from(3u32), 0);
        assert_eq!(
            v,
            Value::Finite {
                neg: false,
                sig: 0xAAAA_AAAA_AAAA_AAAA,
                exp: -2,
                sticky: true
            }
        );
    }

    /// The flags explain reports for read text: they come out of the
    /// engine's rounding (`FloatFormat::encode_outcome`).
    #[test]
    fn flags_of_read_values_come_out_of_encode() {
        let f = float_builtin("fp32");
        let o = EncodeOptions::nearest_even();
        let oc = f.encode_outcome(read("1.1e49").unwrap(), &o, 0);
        assert!(oc.overflow && !oc.exact && !oc.underflow);
        let oc = f.encode_outcome(read("1e-50").unwrap(), &o, 0);
        assert!(oc.underflow && !oc.overflow && oc.bits == 0);
        let oc = f.encode_outcome(read("0.5").unwrap(), &o, 0);
        assert!(oc.exact && !oc.overflow && !oc.underflow);
        let tz = EncodeOptions {
            rounding: RoundingMode::TowardZero,
            ..Default::default()
        };
        let oc = f.encode_outcome(read("1e39").unwrap(), &tz, 0);
        assert!(oc.overflow && oc.bits == 0x7f7f_ffff);
        // just below the overflow tie: rounds to max, no overflow
        let oc = f.encode_outcome(
            read("340282356779733661637539395458142568447").unwrap(),
            &o,
            0,
        );
        assert!(!oc.overflow && oc.bits == 0x7f7f_ffff);
        let e4 = float_builtin("fp8_e4m3fn");
        // 464 is the tie between max 448 (even code 0x7e) and 480: it stays.
        assert!(!e4.encode_outcome(read("464").unwrap(), &o, 0).overflow);
        assert!(e4.encode_outcome(read("464.001").unwrap(), &o, 0).overflow);
    }
}
