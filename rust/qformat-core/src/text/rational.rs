//! Exact rationals: `±num/den · 2^exp2` read into a [`Value`] (a 64-bit
//! significand and a sticky bit), and digit strings to big integers.

use std::collections::HashMap;

use num_bigint::BigUint;
use num_integer::Integer;
use num_traits::{ToPrimitive, Zero};

use crate::engine::value::Value;

/// Binary exponent given to values clamped as "huge" (or, negated, "tiny").
pub const CLAMP_EXP: i64 = 1 << 21;

/// Digits (values in `0..radix`) to an integer. Long runs are split in
/// halves (`hi · radix^len(lo) + lo`) so that big multiplications, not the
/// quadratic digit-by-digit loop, do the work.
pub fn digits_to_biguint(digits: &[u8], radix: u32) -> BigUint {
    let mut powers = HashMap::new();
    to_biguint_rec(digits, radix, &mut powers)
}

fn to_biguint_rec(digits: &[u8], radix: u32, powers: &mut HashMap<usize, BigUint>) -> BigUint {
    if digits.len() <= 512 {
        return BigUint::from_radix_be(digits, radix).unwrap_or_default();
    }
    let lo_len = digits.len() / 2;
    let (hi, lo) = digits.split_at(digits.len() - lo_len);
    let hi_v = to_biguint_rec(hi, radix, powers);
    let lo_v = to_biguint_rec(lo, radix, powers);
    let p = powers
        .entry(lo_len)
        .or_insert_with(|| BigUint::from(radix).pow(lo_len as u32));
    hi_v * &*p + lo_v
}

/// `±num/den · 2^exp2` truncated to a 64-bit significand with sticky: the
/// exact reading of any rational (decimal text, hex text, a Fraction).
pub fn ratio_value(neg: bool, num: &BigUint, den: &BigUint, exp2: i64) -> Value {
    if num.is_zero() {
        return Value::Zero { neg };
    }
    // num/den lies in (2^(nb-db-1), 2^(nb-db+1)); scaling by 2^s puts the
    // quotient in [2^63, 2^65).
    let (nb, db) = (num.bits() as i64, den.bits() as i64);
    let mut s = 64 - nb + db;
    let (q, r) = if s >= 0 {
        (num << s as u64).div_rem(den)
    } else {
        num.div_rem(&(den << (-s) as u64))
    };
    let mut sticky = !r.is_zero();
    let mut q = q;
    if q.bits() > 64 {
        sticky |= q.bit(0);
        q >>= 1u32;
        s -= 1;
    }
    let sig = q.to_u64().unwrap_or(u64::MAX);
    finite(neg, sig, exp2.saturating_add(63 - s), sticky)
}

/// A finite value whose exponent is clamped into ±[`CLAMP_EXP`] (beyond that
/// every format answers the same: overflow or underflow).
fn finite(neg: bool, sig: u64, exp: i64, sticky: bool) -> Value {
    if exp > CLAMP_EXP {
        Value::Finite {
            neg,
            sig: 1 << 63,
            exp: CLAMP_EXP,
            sticky: true,
        }
    } else if exp < -CLAMP_EXP - 64 {
        Value::Finite {
            neg,
            sig: 1 << 63,
            exp: -CLAMP_EXP - 64,
            sticky: true,
        }
    } else {
        Value::Finite {
            neg,
            sig,
            exp,
            sticky,
        }
    }
}
