//! Exact arithmetic on [`Value`]s: quotients without rounding, and the
//! one rounding of a quotient to an integer. Everything the fast loops
//! cannot decide for sure is decided here.

use crate::engine::int_cast::round_to_integer;
use crate::engine::options::{EncodeOptions, Overflow};
use crate::engine::rounding::RoundingMode;
use crate::engine::value::Value;
use crate::format::{float_builtin, FloatFormat};

/// The exact quotient `x / s` of two values (`s` finite and non-zero), as a
/// [`Value`] whose sticky bit records a non-zero remainder: the 64-bit
/// significands are divided as 128-bit integers, so no rounding happens.
pub fn div_value(x: Value, s: Value) -> Value {
    let (sneg, ssig, sexp) = match s {
        Value::Finite { neg, sig, exp, .. } => (neg, sig, exp),
        _ => return x,
    };
    match x {
        Value::Finite {
            neg,
            sig,
            exp,
            sticky,
        } => {
            let (num, e) = if sig >= ssig {
                ((sig as u128) << 63, exp - sexp)
            } else {
                ((sig as u128) << 64, exp - sexp - 1)
            };
            let q = (num / ssig as u128) as u64;
            let rem = num % ssig as u128 != 0;
            Value::Finite {
                neg: neg != sneg,
                sig: q,
                exp: e,
                sticky: sticky || rem,
            }
        }
        Value::Zero { neg } => Value::Zero { neg: neg != sneg },
        Value::Inf { neg } => Value::Inf { neg: neg != sneg },
        nan => nan,
    }
}

/// A value as f64 (rounded to nearest even if it does not fit).
pub fn value_to_f64(v: Value) -> f64 {
    // `float_builtin` builds the whole table; this runs once per scale.
    static FP64: std::sync::OnceLock<FloatFormat> = std::sync::OnceLock::new();
    let fp64 = FP64.get_or_init(|| float_builtin("fp64"));
    f64::from_bits(fp64.encode(v, &EncodeOptions::nearest_even(), 0))
}

/// `v` rounded to nearest even in `fmt`, saturating at ±max, as an f64.
pub(super) fn round_in(fmt: &FloatFormat, v: Value) -> f64 {
    let opts = EncodeOptions {
        overflow: Overflow::Saturate,
        ..EncodeOptions::nearest_even()
    };
    value_to_f64(fmt.unpack(fmt.encode(v, &opts, 0)))
}

/// Smallest positive value of `fmt`.
pub(super) fn smallest_positive(fmt: &FloatFormat) -> f64 {
    value_to_f64(fmt.unpack(1))
}

/// `round(v / s)` exactly, as an f64 (saturated far outside any format).
pub(super) fn round_int_exact(v: Value, s: f64, mode: RoundingMode, random: u64) -> f64 {
    match div_value(v, Value::from_f64(s)) {
        Value::Finite {
            neg,
            sig,
            exp,
            sticky,
        } => {
            let r = round_to_integer(neg, sig, exp, sticky, mode, random);
            let m = if r.huge || r.mag > 1 << 62 {
                4.0e18
            } else {
                r.mag as f64
            };
            if neg {
                -m
            } else {
                m
            }
        }
        Value::Inf { neg } => {
            if neg {
                -4.0e18
            } else {
                4.0e18
            }
        }
        _ => 0.0,
    }
}
