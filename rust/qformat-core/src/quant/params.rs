//! Scales and zero points from ranges: the formulas of API.md, each scale
//! rounded once to its format (or made an OCP MX power of two).

// `!(a <= b)` is deliberate: it is true for NaN, which is the point.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

use rayon::prelude::*;

use super::exact::{div_value, round_in, round_int_exact, smallest_positive};
use super::layout::{Granularity, Layout};
use super::range::{amax_run, checked_extremes, minmax_run, ranges, MinMax, RangeSource, Scheme};
use super::real::Real;
use crate::engine::rounding::RoundingMode;
use crate::engine::value::Value;
use crate::error::Error;
use crate::fast::simd::wide;
use crate::fast::words::CHUNK;
use crate::format::FloatFormat;

/// How a scale is rounded once computed.
#[derive(Clone, Debug, PartialEq)]
pub enum ScaleRule {
    /// To this float format (float32 for float32 data, an fp8 format for
    /// NVFP4-style scales …), nearest even, saturating.
    Round(FloatFormat),
    /// MX shared scale: `2^(E(amax) - emax_elem)` with the exponent clamped
    /// to e8m0's [-127, 127], times `2^-frac_bits` (the implicit fixed point
    /// of MXINT8 elements: 6 bits for int8). `rule` says how `E` is taken.
    Pow2 {
        emax_elem: i64,
        frac_bits: i64,
        rule: Pow2Rule,
    },
}

/// How an MX block's shared exponent follows from its largest magnitude,
/// named as torchao's `ScaleCalculationMode` names them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pow2Rule {
    /// OCP MX v1.0: `floor(log2 amax)`; the largest values may saturate.
    Floor,
    /// `ceil(log2 amax)`: nothing saturates, at up to one bit of precision.
    Ceil,
    /// `floor(log2 amax')` where `amax'` is amax rounded (half up) to the
    /// element format's `man_bits`: saturates only what would round to max.
    Even { man_bits: u32 },
    /// torchao's RCEIL in float32: `ceil(log2(amax / max))` with the
    /// division and the logarithm each rounded to float32 (so an amax a few
    /// ulps above a power of two may take the lower exponent), not
    /// offset by the element's `emax` afterwards.
    RCeil { max: f64 },
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
    params_of(ranges, |&r| r, spec)
}

/// [`ranges`] then [`params`], fused for [`RangeSource::Extremes`]: the
/// scales come straight from the per-slice extremes, with no array of
/// ranges in between. With a million MX blocks, the intermediate arrays
/// (and the page faults of their fresh memory) cost more than the scan.
pub fn qparams<T: Real>(
    x: &[T],
    l: &Layout,
    src: RangeSource,
    spec: &ParamSpec,
    nan_ok: bool,
) -> Result<(Vec<f64>, Vec<i64>), Error> {
    if src != RangeSource::Extremes || l.size() == 0 {
        return params(&ranges(x, l, src, spec.scheme, nan_ok)?, spec);
    }
    if let (Granularity::Group(g), 1) = (l.gran, l.inner) {
        if !(spec.scheme == Scheme::Asymmetric && matches!(spec.rule, ScaleRule::Pow2 { .. })) {
            if let Some(r) = fused_groups(x, g, spec) {
                return Ok(r);
            }
        }
    }
    params_of(&checked_extremes(x, l, nan_ok)?, MinMax::range, spec)
}

/// `2f64.powi(k)`, bit for bit, from the bits of the result: no call at
/// all. (A `powi` kept for the rare exponents outside f64's normal range
/// was still called for every MX block: LLVM may evaluate the intrinsic
/// on both sides of the branch.) `powi` multiplies by squaring and takes
/// the reciprocal for `k < 0`, so `2^-1023` is exact (subnormal) while
/// `2^1024` overflows to inf and its reciprocal is 0; the unit test
/// compares every `k` in `-1100..=1100` with `powi` itself.
fn pow2(k: i32) -> f64 {
    match k {
        -1022..=1023 => f64::from_bits(((k + 1023) as u64) << 52),
        -1023 => f64::from_bits(1 << 51),
        k if k < 0 => 0.0,
        _ => f64::INFINITY,
    }
}

/// Groups along a contiguous axis (MX blocks, int4 groups): each group's
/// extremes go straight into its scale, with no array of extremes. None
/// when a group has a non-finite value or an invalid range: the general
/// path then reports exactly what it always did.
fn fused_groups<T: Real>(x: &[T], g: usize, spec: &ParamSpec) -> Option<(Vec<f64>, Vec<i64>)> {
    let n = x.len() / g;
    let (mut scales, mut zps) = (vec![0.0; n], vec![0; n]);
    let per_task = (CHUNK / g).max(1);
    let failed = x
        .par_chunks(per_task * g)
        .zip(scales.par_chunks_mut(per_task))
        .zip(zps.par_chunks_mut(per_task))
        .any(|((xs, ss), zs)| {
            wide(
                #[inline(always)]
                || fused_task(xs, g, spec, ss, zs).is_none(),
            )
        });
    (!failed).then_some((scales, zps))
}

#[inline(always)]
fn fused_task<T: Real>(
    xs: &[T],
    g: usize,
    spec: &ParamSpec,
    ss: &mut [f64],
    zs: &mut [i64],
) -> Option<()> {
    if let ScaleRule::Pow2 {
        emax_elem,
        frac_bits,
        rule,
    } = spec.rule
    {
        // Symmetric (the caller sends asymmetric MX scales to the general
        // path's error): a block's scale follows from its largest
        // magnitude alone, and its zero point stays 0.
        for (xg, s) in xs.chunks(g).zip(ss) {
            let amax = amax_run(xg)?.to_f64();
            *s = pow2_scale(amax, emax_elem, frac_bits, rule);
        }
        return Some(());
    }
    for ((xg, s), z) in xs.chunks(g).zip(ss).zip(zs) {
        let m = minmax_run(xg);
        if m.bad {
            return None;
        }
        let (lo, hi) = m.range();
        (*s, *z) = one_param(lo, hi, spec).ok()?;
    }
    Some(())
}

/// Scale and zero point of every slice whose range `range` gives, written
/// straight into the two result vectors.
fn params_of<R: Sync>(
    ranges: &[R],
    range: impl Fn(&R) -> (f64, f64) + Sync,
    spec: &ParamSpec,
) -> Result<(Vec<f64>, Vec<i64>), Error> {
    if spec.scheme == Scheme::Asymmetric && matches!(spec.rule, ScaleRule::Pow2 { .. }) {
        return Err(Error::invalid(
            "power-of-two (e8m0) scales are symmetric; use scheme='symmetric'",
        ));
    }
    let (mut scales, mut zps) = (vec![0.0; ranges.len()], vec![0; ranges.len()]);
    let error = scales
        .par_iter_mut()
        .zip(zps.par_iter_mut())
        .zip(ranges.par_iter())
        .with_min_len(1024)
        .find_map_first(|((s, z), r)| {
            let (lo, hi) = range(r);
            one_param(lo, hi, spec)
                .map(|(a, b)| (*s, *z) = (a, b))
                .err()
        });
    error.map_or(Ok((scales, zps)), Err)
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
            rule,
        } => pow2_scale(amax, *emax_elem, *frac_bits, *rule),
        ScaleRule::Round(f) => {
            // hi - lo overflows for ranges near ±f64::MAX: then halve both
            // (exact) and the divisor, which gives the same quotient.
            let (width, denom) = if spec.scheme == Scheme::Symmetric {
                (amax, denom)
            } else if (hi - lo).is_finite() {
                (hi - lo, denom)
            } else {
                (hi * 0.5 - lo * 0.5, denom * 0.5)
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

/// The MX scale of a block whose largest magnitude is `amax` (finite,
/// >= 0): see [`ScaleRule::Pow2`].
#[inline(always)]
fn pow2_scale(amax: f64, emax_elem: i64, frac_bits: i64, rule: Pow2Rule) -> f64 {
    let e = shared_exponent(amax, emax_elem, rule).clamp(-127, 127);
    pow2((e - frac_bits) as i32)
}

/// `(e, m)` with `amax = m * 2^e` and `m` in `[1, 2)`, straight from the
/// bits of a positive normal `amax` (the exponent field and the fraction
/// under a zero exponent, both exact); None for zero and subnormals, whose
/// exponent needs the significand's leading zeros.
#[inline(always)]
fn binade(amax: f64) -> Option<(i64, f64)> {
    const FRACTION: u64 = (1 << 52) - 1;
    let bits = amax.to_bits();
    let biased = (bits >> 52 & 0x7ff) as i64;
    (biased != 0).then(|| (biased - 1023, f64::from_bits(bits & FRACTION | 1023 << 52)))
}

/// The unclamped shared exponent of a block whose largest magnitude is
/// `amax` (finite, >= 0); -127 for an all-zero block.
fn shared_exponent(amax: f64, emax_elem: i64, rule: Pow2Rule) -> i64 {
    let (exp, m) = match binade(amax) {
        Some(normal) => normal,
        None => {
            let Value::Finite { exp, .. } = Value::from_f64(amax) else {
                return -127;
            };
            (exp, amax / pow2(exp as i32))
        }
    };
    match rule {
        Pow2Rule::Floor => exp - emax_elem,
        Pow2Rule::Ceil => exp + i64::from(m > 1.0) - emax_elem,
        Pow2Rule::Even { man_bits } => {
            let carry = m >= 2.0 - pow2(-(man_bits as i32) - 1);
            exp + i64::from(carry) - emax_elem
        }
        Pow2Rule::RCeil { max } => {
            let descale = amax as f32 / max as f32;
            if descale == 0.0 {
                return -127;
            }
            // torch's float32 log2 agrees with the float64 one rounded to
            // float32 (checked at the floats around every power of two).
            ((descale as f64).log2() as f32).ceil() as i64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bit-built powers equal `powi`'s own, past both ends of the
    /// normal range included (where `powi` gives 2^-1023, 0 and inf).
    #[test]
    fn pow2_is_powi_bit_for_bit() {
        for k in -1100..=1100 {
            assert_eq!(pow2(k).to_bits(), 2f64.powi(k).to_bits(), "2^{k}");
        }
    }

    /// The binade from the bits equals the exact value's exponent and
    /// significand, at both ends of every binade; zero and subnormals
    /// are left to the exact value.
    #[test]
    fn binade_is_the_exact_exponent_and_significand() {
        for e in -1022..=1023 {
            for m in [1.0, 1.5, 2.0 - f64::EPSILON] {
                let x = m * pow2(e);
                let Value::Finite { exp, .. } = Value::from_f64(x) else {
                    panic!("{x}")
                };
                assert_eq!(binade(x), Some((exp, x / pow2(exp as i32))), "{x}");
            }
        }
        for x in [0.0, -0.0, f64::MIN_POSITIVE / 2.0, 5e-324] {
            assert_eq!(binade(x), None, "{x}");
        }
    }
}
