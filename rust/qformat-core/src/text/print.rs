//! Printing stored values: the exact decimal expansion of a pattern, and
//! the shortest decimal that reads back to the same bits.

use num_bigint::BigUint;
use num_integer::Integer;
use num_traits::{One, Zero};

use crate::engine::options::EncodeOptions;
use crate::engine::value::Value;
use crate::format::FloatFormat;
use crate::text::read::Number;

/// Exact decimal expansion of the pattern `bits` ("0.1000000000000000055511151231257827021181583404541015625",
/// "-0", "inf", "nan"). Positional notation, no exponent, every digit.
pub fn exact_decimal(fmt: &FloatFormat, bits: u64) -> String {
    match fmt.unpack(bits) {
        Value::Nan { .. } => "nan".into(),
        Value::Inf { neg } => if neg { "-inf" } else { "inf" }.into(),
        Value::Zero { neg } => if neg { "-0" } else { "0" }.into(),
        Value::Finite { neg, sig, exp, .. } => {
            let tz = sig.trailing_zeros();
            let (m, j) = (sig >> tz, exp - 63 + tz as i64);
            let sign = if neg { "-" } else { "" };
            if j >= 0 {
                return format!("{sign}{}", BigUint::from(m) << j as u64);
            }
            let k = j.unsigned_abs() as usize;
            let digits = (BigUint::from(m) * BigUint::from(5u32).pow(k as u32)).to_string();
            let body = if digits.len() > k {
                format!(
                    "{}.{}",
                    &digits[..digits.len() - k],
                    &digits[digits.len() - k..]
                )
            } else {
                format!("0.{}{}", "0".repeat(k - digits.len()), digits)
            };
            format!("{sign}{body}")
        }
    }
}

/// The first `n` significant decimal digits of `m · 2^j` (m > 0), truncated:
/// `(digits, point, rest_nonzero)` with value ≈ 0.digits × 10^point.
fn leading_digits(m: u64, j: i64, n: usize) -> (Vec<u8>, i64, bool) {
    let bits = 64 - m.leading_zeros() as i64 + j; // value in [2^(bits-1), 2^bits)
    let mut point = ((bits - 1) as f64 * std::f64::consts::LOG10_2).floor() as i64 + 1;
    loop {
        // T = floor(m · 2^j · 10^(n - point)) should have exactly n digits.
        let k = n as i64 - point;
        let mut num = BigUint::from(m);
        let mut den = BigUint::one();
        if j >= 0 {
            num <<= j as u64
        } else {
            den <<= (-j) as u64
        }
        let p10 = BigUint::from(10u32).pow(k.unsigned_abs() as u32);
        if k >= 0 {
            num *= p10
        } else {
            den *= p10
        }
        let (t, r) = num.div_rem(&den);
        let s = t.to_string();
        if s.len() > n {
            point += 1;
        } else if s.len() < n {
            point -= 1;
        } else {
            return (s.bytes().map(|c| c - b'0').collect(), point, !r.is_zero());
        }
    }
}

/// Digits `0.d × 10^point` as text, following Python's `repr(float)`:
/// positional for `-4 < point <= 16`, else `d.ddde±XX`.
fn format_digits(neg: bool, digits: &[u8], point: i64) -> String {
    let ds: String = digits.iter().map(|d| (b'0' + d) as char).collect();
    let sign = if neg { "-" } else { "" };
    let n = ds.len() as i64;
    if point > -4 && point <= 16 {
        if point <= 0 {
            format!("{sign}0.{}{ds}", "0".repeat((-point) as usize))
        } else if point >= n {
            format!("{sign}{ds}{}.0", "0".repeat((point - n) as usize))
        } else {
            format!("{sign}{}.{}", &ds[..point as usize], &ds[point as usize..])
        }
    } else {
        let e = point - 1;
        let mant = if n > 1 {
            format!("{}.{}", &ds[..1], &ds[1..])
        } else {
            ds
        };
        format!(
            "{sign}{mant}e{}{:02}",
            if e < 0 { '-' } else { '+' },
            e.abs()
        )
    }
}

/// The shortest decimal that reads back (nearest-even) to exactly `bits`;
/// among equally short ones the nearest to the stored value (ties to an even
/// last digit). Formatted like Python's `repr(float)`.
pub fn shortest_decimal(fmt: &FloatFormat, bits: u64) -> String {
    let (neg, sig, exp) = match fmt.unpack(bits) {
        Value::Finite { neg, sig, exp, .. } => (neg, sig, exp),
        _ => return exact_decimal(fmt, bits),
    };
    let tz = sig.trailing_zeros();
    let (digits, point, rest) = leading_digits(sig >> tz, exp - 63 + tz as i64, 25);
    let opts = EncodeOptions::nearest_even();
    let reads_back = |ds: &[u8], pt: i64| {
        let n: Number = Number::Finite {
            neg,
            radix: 10,
            digits: ds.to_vec(),
            exp: pt - ds.len() as i64,
            tail: false,
        };
        fmt.encode(n.to_value(), &opts, 0) == bits
    };
    for len in 1..digits.len() {
        let lower = digits[..len].to_vec();
        let dropped_nonzero = rest || digits[len..].iter().any(|&d| d != 0);
        let (upper, upper_point) = increment(&lower, point);
        let lo_ok = reads_back(&lower, point);
        let hi_ok = dropped_nonzero && reads_back(&upper, upper_point);
        let pick_upper = match (lo_ok, hi_ok) {
            (false, false) => continue,
            (true, false) => false,
            (false, true) => true,
            (true, true) => upper_is_nearer(&digits[len..], rest, &lower),
        };
        if !dropped_nonzero || !pick_upper {
            return format_digits(neg, strip_zeros(&lower), point);
        }
        return format_digits(neg, strip_zeros(&upper), upper_point);
    }
    exact_decimal(fmt, bits)
}

/// `digits + 1` in the last place, with the carry (999 → 100, point + 1).
fn increment(digits: &[u8], point: i64) -> (Vec<u8>, i64) {
    let mut out = digits.to_vec();
    for d in out.iter_mut().rev() {
        if *d == 9 {
            *d = 0;
        } else {
            *d += 1;
            return (out, point);
        }
    }
    out.insert(0, 1);
    out.pop();
    (out, point + 1)
}

/// Is the value nearer the rounded-up candidate? `dropped` (with `rest`)
/// is the part below the last kept digit; ties go to an even last digit.
fn upper_is_nearer(dropped: &[u8], rest: bool, lower: &[u8]) -> bool {
    match dropped[0].cmp(&5) {
        std::cmp::Ordering::Greater => true,
        std::cmp::Ordering::Less => false,
        std::cmp::Ordering::Equal => {
            if rest || dropped[1..].iter().any(|&d| d != 0) {
                true
            } else {
                lower.last().is_some_and(|d| d % 2 == 1)
            }
        }
    }
}

fn strip_zeros(d: &[u8]) -> &[u8] {
    let end = d.iter().rposition(|&x| x != 0).map_or(1, |i| i + 1);
    &d[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::float_builtin;
    use crate::text::read::read;

    #[test]
    fn shortest_round_trips_every_fp16_and_some_fp64() {
        let f = float_builtin("fp16");
        for b in 0u64..0x10000 {
            if f.is_nan(b) {
                continue;
            }
            let s = shortest_decimal(&f, b);
            let back = f.encode(read(&s).unwrap(), &EncodeOptions::nearest_even(), 0);
            assert_eq!(back, b, "{b:#x} {s}");
        }
        let d = float_builtin("fp64");
        let cases: [(f64, &str); 10] = [
            (0.1, "0.1"),
            (1e23, "1e+23"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (123.456, "123.456"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (0.0001, "0.0001"),
            (1e-5, "1e-05"),
            (2.5, "2.5"),
        ];
        for (x, want) in cases {
            assert_eq!(shortest_decimal(&d, x.to_bits()), want);
        }
    }

    #[test]
    fn exact_decimal_of_extremes() {
        let d = float_builtin("fp64");
        let s = exact_decimal(&d, 1);
        assert!(s.starts_with("0.000") && s.ends_with("3447265625") && s.len() == 2 + 1074);
        assert_eq!(exact_decimal(&d, 0x4330_0000_0000_0001), "4503599627370497");
        assert_eq!(exact_decimal(&d, 0x8000_0000_0000_0000), "-0");
        assert_eq!(exact_decimal(&float_builtin("e8m0"), 0xff), "nan");
    }
}
