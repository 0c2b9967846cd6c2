//! Scales and zero points from ranges: the formulas of API.md, each scale
//! rounded once to its format (or made an OCP MX power of two).

// `!(a <= b)` is deliberate: it is true for NaN, which is the point.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

use rayon::prelude::*;

use super::exact::{div_value, round_in, round_int_exact, smallest_positive};
use super::range::Scheme;
use crate::error::Error;
use crate::format::FloatFormat;
use crate::rounding::RoundingMode;
use crate::value::Value;

/// How a scale is rounded once computed.
#[derive(Clone, Debug, PartialEq)]
pub enum ScaleRule {
    /// To this float format (float32 for float32 data, an fp8 format for
    /// NVFP4-style scales …), nearest even, saturating.
    Round(FloatFormat),
    /// OCP MX shared scale: `2^(floor(log2 amax) - emax_elem)` with the
    /// exponent clamped to e8m0's [-127, 127], times `2^-frac_bits` (the
    /// implicit fixed point of MXINT8 elements: 6 bits for int8).
    Pow2 { emax_elem: i64, frac_bits: i64 },
}

/// What the scale maps the range onto.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamSpec {
    pub scheme: Scheme,
    /// Smallest and largest code (integers), or -max/+max of a float element format.
    pub qmin: f64,
    pub qmax: f64,
    pub rule: ScaleRule,
    /// True for integer targets: constant slices then get scale |c| so they dequantize exactly.
    pub integer: bool,
}

/// Scale and zero point of every range.
pub fn params(ranges: &[(f64, f64)], spec: &ParamSpec) -> Result<(Vec<f64>, Vec<i64>), Error> {
    if spec.scheme == Scheme::Asymmetric && matches!(spec.rule, ScaleRule::Pow2 { .. }) {
        return Err(Error::invalid(
            "power-of-two (e8m0) scales are symmetric; use scheme='symmetric'",
        ));
    }
    ranges
        .par_iter()
        .with_min_len(1024)
        .map(|&(lo, hi)| one_param(lo, hi, spec))
        .collect::<Result<Vec<_>, _>>()
        .map(|v| v.into_iter().unzip())
}

pub(super) fn one_param(lo: f64, hi: f64, spec: &ParamSpec) -> Result<(f64, i64), Error> {
    if !(lo <= hi) || !lo.is_finite() || !hi.is_finite() {
        return Err(Error::invalid(format!(
            "range [{lo}, {hi}] is not a finite interval"
        )));
    }
    // A constant slice (all-zero included) gets scale |c|: its codes are
    // then 0 or ±1 and dequantize exactly.
    let constant = spec.integer && lo == hi;
    let (lo, hi, denom) = match spec.scheme {
        Scheme::Symmetric => {
            let a = lo.abs().max(hi.abs());
            (-a, a, spec.qmax)
        }
        Scheme::Asymmetric => (lo.min(0.0), hi.max(0.0), spec.qmax - spec.qmin),
    };
    let amax = (-lo).max(hi);
    let s = match &spec.rule {
        ScaleRule::Pow2 {
            emax_elem,
            frac_bits,
        } => {
            let e = match Value::from_f64(amax) {
                Value::Finite { exp, .. } => (exp - emax_elem).clamp(-127, 127),
                _ => -127,
            };
            2f64.powi((e - frac_bits) as i32)
        }
        ScaleRule::Round(f) => {
            let width = if spec.scheme == Scheme::Symmetric {
                amax
            } else {
                hi - lo
            };
            let f32_data = f.exp_bits == 8
                && f.man_bits == 23
                && amax as f32 as f64 == amax
                && denom.abs() < (1u64 << 24) as f64
                && denom == denom.round();
            let s = if amax == 0.0 {
                round_in(f, Value::from_f64(1.0))
            } else if constant || width == 0.0 {
                round_in(f, Value::from_f64(amax))
            } else if f32_data && spec.scheme == Scheme::Symmetric {
                // One rounding: an f64 quotient of a float32 by a small
                // integer can only sit on a float32 tie if it is exactly one.
                (amax / denom) as f32 as f64
            } else {
                round_in(f, div_value(Value::from_f64(width), Value::from_f64(denom)))
            };
            if s > 0.0 {
                s
            } else {
                smallest_positive(f)
            }
        }
    };
    let zp = match spec.scheme {
        Scheme::Symmetric => 0,
        Scheme::Asymmetric => {
            let r = round_int_exact(Value::from_f64(lo), s, RoundingMode::NearestEven, 0);
            (spec.qmin - r).clamp(spec.qmin, spec.qmax) as i64
        }
    };
    Ok((s, zp))
}
