//! Affine integer quantization and block-scaled float formats (OCP MX).
//!
//! `q = clamp(round(x / scale) + zero_point, qmin, qmax)`, with one scale
//! (and zero point) per tensor, per channel (index along an axis) or per
//! group of `g` consecutive elements along an axis.
//!
//! Shape of the work. An array is viewed as `[outer, len, inner]` around
//! the axis. Range statistics take one parallel pass; codes another. Both
//! walk the memory in order with no allocation per element, so the inner
//! loops are plain slices that LLVM vectorises.
//!
//! Exactness. `arithmetic = Exact` means `round(x / scale)` of the exact
//! rational `x / scale`. The fast loop computes `q = x * (1/scale)` in f64
//! (relative error below 2^-51) and rounds it; the result can only differ
//! from the exact one when `q` lies within that error of a rounding
//! boundary (a half-integer for the nearest modes). Such "doubtful" blocks
//! (and NaN/inf, and the directed and stochastic modes) are redone by the
//! exact path: [`div_value`] divides the significands as integers (quotient
//! plus sticky remainder) and [`round_to_integer`] makes the one rounding
//! decision shared with every other conversion. `arithmetic = Torch`
//! reproduces PyTorch's float32 formula (docs/verification/findings.md §1.10).

// `!(a <= b)` is deliberate throughout: it is true for NaN, which is the point.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

use rayon::prelude::*;

use crate::error::Error;
use crate::format::{float_builtin, FloatFormat};
use crate::int_cast::{rne_f64, round_to_integer};
use crate::kernels::{Bits, Fp32Narrowing, CHUNK};
use crate::options::{EncodeOptions, NanPolicy, Overflow};
use crate::random::draw;
use crate::rounding::RoundingMode;
use crate::value::Value;

// ---------------------------------------------------------------------------
// Element types

/// The float element types the kernels read and write (f32, f64).
pub trait Real: Copy + Send + Sync + PartialOrd + Default + 'static {
    const MAX: Self;
    fn to_f64(self) -> f64;
    /// Round to nearest even.
    fn from_f64(x: f64) -> Self;
    fn abs(self) -> Self;
    /// The float format of this type (for rounding scales to it).
    fn format() -> FloatFormat;
    /// The value as float32 (rounded to nearest even), for PyTorch's arithmetic.
    fn to_f32(self) -> f32;
}

impl Real for f32 {
    const MAX: Self = f32::MAX;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        x as f32
    }
    #[inline(always)]
    fn abs(self) -> Self {
        f32::abs(self)
    }
    fn format() -> FloatFormat {
        float_builtin("fp32")
    }
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self
    }
}

impl Real for f64 {
    const MAX: Self = f64::MAX;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        x
    }
    #[inline(always)]
    fn abs(self) -> Self {
        f64::abs(self)
    }
    fn format() -> FloatFormat {
        float_builtin("fp64")
    }
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self as f32
    }
}

// ---------------------------------------------------------------------------
// Exact helpers

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
fn round_in(fmt: &FloatFormat, v: Value) -> f64 {
    let opts = EncodeOptions {
        overflow: Overflow::Saturate,
        ..EncodeOptions::nearest_even()
    };
    value_to_f64(fmt.unpack(fmt.encode(v, &opts, 0)))
}

/// Smallest positive value of `fmt`.
fn smallest_positive(fmt: &FloatFormat) -> f64 {
    value_to_f64(fmt.unpack(1))
}

/// Largest finite value of `fmt`.
pub fn largest_finite(fmt: &FloatFormat) -> f64 {
    value_to_f64(fmt.unpack(fmt.max_code()))
}

// ---------------------------------------------------------------------------
// Layout

/// How scales are shared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Granularity {
    Tensor,
    /// One scale per index along the axis.
    Channel,
    /// One scale per run of `g` consecutive elements along the axis.
    Group(usize),
}

/// An array seen as `[outer, len, inner]` around the quantization axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub outer: usize,
    pub len: usize,
    pub inner: usize,
    pub gran: Granularity,
}

impl Layout {
    /// Layout of an array of `shape` for `axis` (negative counts from the
    /// end) and `group`. A group without an axis groups along the last axis.
    pub fn new(shape: &[usize], axis: Option<i64>, group: Option<usize>) -> Result<Self, Error> {
        let size: usize = shape.iter().product();
        if axis.is_none() && group.is_none() {
            return Ok(Layout {
                outer: 1,
                len: size,
                inner: 1,
                gran: Granularity::Tensor,
            });
        }
        let nd = shape.len() as i64;
        if nd == 0 {
            return Err(Error::invalid(
                "a 0-d array has no axis to quantize along; use axis=None",
            ));
        }
        let a = axis.unwrap_or(-1);
        if a < -nd || a >= nd {
            return Err(Error::invalid(format!(
                "axis {a} is out of bounds for an array of {nd} dimensions"
            )));
        }
        let k = if a < 0 { a + nd } else { a } as usize;
        let (outer, len, inner) = (
            shape[..k].iter().product(),
            shape[k],
            shape[k + 1..].iter().product(),
        );
        let gran = match group {
            None => Granularity::Channel,
            Some(0) => return Err(Error::invalid("group_size must be positive")),
            Some(g) if len % g != 0 => {
                return Err(Error::invalid(format!(
                    "group_size {g} does not divide the length {len} of axis {k}"
                )))
            }
            Some(g) => Granularity::Group(g),
        };
        Ok(Layout {
            outer,
            len,
            inner,
            gran,
        })
    }

    /// Number of elements.
    pub fn size(&self) -> usize {
        self.outer * self.len * self.inner
    }

    /// Number of scales: 1, `len`, or `outer * len/g * inner`.
    pub fn n_params(&self) -> usize {
        match self.gran {
            Granularity::Tensor => 1,
            Granularity::Channel => self.len,
            Granularity::Group(g) => self.outer * (self.len / g) * self.inner,
        }
    }

    /// Call `f` with the flat index of every element sharing scale `p`.
    fn for_each_in_param(&self, p: usize, mut f: impl FnMut(usize)) {
        let (len, inner) = (self.len, self.inner);
        match self.gran {
            Granularity::Tensor => (0..self.size()).for_each(f),
            Granularity::Channel => {
                for o in 0..self.outer {
                    let base = (o * len + p) * inner;
                    (base..base + inner).for_each(&mut f);
                }
            }
            Granularity::Group(g) => {
                let (j, ob) = (p % inner, p / inner);
                let groups = len / g;
                let (o, b) = (ob / groups, ob % groups);
                for a in b * g..(b + 1) * g {
                    f((o * len + a) * inner + j);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Range statistics (one pass)

const LANES: usize = 16;

/// Running minimum and maximum (NaN ignored) and whether a non-finite value was seen.
#[derive(Clone, Copy)]
struct MinMax<T> {
    lo: T,
    hi: T,
    bad: bool,
}

impl<T: Real> MinMax<T> {
    fn empty() -> Self {
        MinMax {
            lo: T::MAX,
            hi: T::from_f64(-T::MAX.to_f64()),
            bad: false,
        }
    }

    #[inline]
    fn merge(self, o: Self) -> Self {
        MinMax {
            lo: if o.lo < self.lo { o.lo } else { self.lo },
            hi: if o.hi > self.hi { o.hi } else { self.hi },
            bad: self.bad | o.bad,
        }
    }
}

/// Min/max of a contiguous run, in `LANES` independent lanes so that the
/// loop vectorises (a single running min would be a serial dependency).
fn minmax_run<T: Real>(xs: &[T]) -> MinMax<T> {
    let e = MinMax::<T>::empty();
    let (mut lo, mut hi, mut bad) = ([e.lo; LANES], [e.hi; LANES], [false; LANES]);
    let mut chunks = xs.chunks_exact(LANES);
    for c in &mut chunks {
        for k in 0..LANES {
            let v = c[k];
            lo[k] = if v < lo[k] { v } else { lo[k] };
            hi[k] = if v > hi[k] { v } else { hi[k] };
            bad[k] |= !(v.abs() <= T::MAX);
        }
    }
    let mut m = e;
    for k in 0..LANES {
        m = m.merge(MinMax {
            lo: lo[k],
            hi: hi[k],
            bad: bad[k],
        });
    }
    for &v in chunks.remainder() {
        m = m.merge(MinMax {
            lo: v,
            hi: v,
            bad: !(v.abs() <= T::MAX),
        });
    }
    if m.lo > m.hi {
        // Only NaN seen: an empty range.
        m.lo = m.hi;
    }
    m
}

/// Element-wise running minima and maxima, struct-of-arrays so the loop
/// vectorises; `bad` records a non-finite value.
#[derive(Clone)]
struct MinMaxVec<T> {
    lo: Vec<T>,
    hi: Vec<T>,
    bad: bool,
}

impl<T: Real> MinMaxVec<T> {
    fn new(n: usize) -> Self {
        let e = MinMax::<T>::empty();
        MinMaxVec {
            lo: vec![e.lo; n],
            hi: vec![e.hi; n],
            bad: false,
        }
    }

    #[inline]
    fn update(&mut self, xs: &[T]) {
        let mut bad = false;
        for ((lo, hi), &v) in self.lo.iter_mut().zip(self.hi.iter_mut()).zip(xs) {
            *lo = if v < *lo { v } else { *lo };
            *hi = if v > *hi { v } else { *hi };
            bad |= !(v.abs() <= T::MAX);
        }
        self.bad |= bad;
    }

    fn merge(mut self, o: Self) -> Self {
        self.bad |= o.bad;
        self.update(&o.lo);
        self.update(&o.hi);
        self
    }

    fn into_vec(self) -> Vec<MinMax<T>> {
        let bad = self.bad;
        self.lo
            .into_iter()
            .zip(self.hi)
            .map(|(lo, hi)| MinMax {
                lo: if lo > hi { hi } else { lo },
                hi,
                bad,
            })
            .collect()
    }
}

/// Per-scale minimum and maximum of `x` (NaN ignored).
fn extremes<T: Real>(x: &[T], l: &Layout) -> Vec<MinMax<T>> {
    let (len, inner) = (l.len, l.inner);
    match l.gran {
        Granularity::Tensor => vec![x
            .par_chunks(CHUNK)
            .map(|c| wide(|| minmax_run(c)))
            .reduce(MinMax::empty, MinMax::merge)],
        Granularity::Channel if inner == 1 => {
            let rows = (CHUNK / len.max(1)).max(1);
            x.par_chunks(rows * len)
                .fold(
                    || MinMaxVec::new(len),
                    |mut acc, block| {
                        block.chunks(len).for_each(|row| wide(|| acc.update(row)));
                        acc
                    },
                )
                .reduce(|| MinMaxVec::new(len), MinMaxVec::merge)
                .into_vec()
        }
        Granularity::Channel => (0..len)
            .into_par_iter()
            .map(|a| {
                (0..l.outer)
                    .map(|o| minmax_run(&x[(o * len + a) * inner..][..inner]))
                    .fold(MinMax::empty(), MinMax::merge)
            })
            .collect(),
        Granularity::Group(g) if inner == 1 => x
            .par_chunks(g)
            .with_min_len((CHUNK / g).max(1))
            .map(|c| wide(|| minmax_run(c)))
            .collect(),
        Granularity::Group(g) => {
            // One task per (outer, group): g rows of `inner` elements into `inner` accumulators.
            let groups = len / g;
            (0..l.outer * groups)
                .into_par_iter()
                .flat_map_iter(|u| {
                    let (o, b) = (u / groups, u % groups);
                    let mut acc = MinMaxVec::new(inner);
                    for r in b * g..(b + 1) * g {
                        acc.update(&x[(o * len + r) * inner..][..inner]);
                    }
                    acc.into_vec()
                })
                .collect()
        }
    }
}

/// Where the range of each scale comes from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RangeSource {
    /// The slice's minimum and maximum.
    Extremes,
    /// A fixed `[lo, hi]`, the same for every slice.
    Clip(f64, f64),
    /// That percentile (0..=100] of |x| (symmetric) or of x (asymmetric,
    /// `100 - p` for the low end), linear interpolation as `numpy.percentile`.
    Percentile(f64),
}

/// Symmetric (zero point 0) or asymmetric (zero point from the minimum).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    Symmetric,
    Asymmetric,
}

/// The `[lo, hi]` range of every scale. NaN is an error unless `nan_ok`;
/// ±inf is an error (a fixed clip range never looks at the data).
pub fn ranges<T: Real>(
    x: &[T],
    l: &Layout,
    src: RangeSource,
    scheme: Scheme,
    nan_ok: bool,
) -> Result<Vec<(f64, f64)>, Error> {
    if l.size() == 0 {
        return Ok(vec![(0.0, 0.0); l.n_params()]);
    }
    match src {
        RangeSource::Clip(lo, hi) => {
            if !nan_ok {
                if let Some(index) = x.par_iter().position_first(|v| v.to_f64().is_nan()) {
                    return Err(Error::NanInput { index });
                }
            }
            Ok(vec![(lo, hi); l.n_params()])
        }
        RangeSource::Extremes => {
            let mm = extremes(x, l);
            if mm.iter().any(|m| m.bad) {
                check_non_finite(x, nan_ok)?;
            }
            Ok(mm.iter().map(|m| (m.lo.to_f64(), m.hi.to_f64())).collect())
        }
        RangeSource::Percentile(p) => {
            check_non_finite(x, nan_ok)?;
            Ok((0..l.n_params())
                .into_par_iter()
                .map(|k| percentile_range(x, l, k, p, scheme))
                .collect())
        }
    }
}

/// Reject NaN (unless allowed) and ±inf, naming the first offending index.
fn check_non_finite<T: Real>(x: &[T], nan_ok: bool) -> Result<(), Error> {
    let bad = |v: &T| {
        let f = v.to_f64();
        f.is_infinite() || (!nan_ok && f.is_nan())
    };
    match x.par_iter().position_first(bad) {
        None => Ok(()),
        Some(index) if x[index].to_f64().is_nan() => Err(Error::NanInput { index }),
        Some(index) => Err(Error::invalid(format!(
            "{} at flat index {index}: infinities have no scale; pass clip= to quantize them \
             to the ends of the range",
            x[index].to_f64()
        ))),
    }
}

/// `numpy.percentile(v, p)` (linear) of a non-empty vector, reordering it.
fn percentile_of(v: &mut [f64], p: f64) -> f64 {
    let rank = p / 100.0 * (v.len() - 1) as f64;
    let i = rank.floor() as usize;
    let t = rank - i as f64;
    let (_, &mut a, rest) = v.select_nth_unstable_by(i, f64::total_cmp);
    if t == 0.0 || rest.is_empty() {
        return a;
    }
    let b = rest.iter().copied().fold(f64::INFINITY, f64::min);
    a + (b - a) * t
}

/// The percentile range of scale `k`.
fn percentile_range<T: Real>(x: &[T], l: &Layout, k: usize, p: f64, scheme: Scheme) -> (f64, f64) {
    let mut v = Vec::new();
    l.for_each_in_param(k, |i| {
        let f = x[i].to_f64();
        if !f.is_nan() {
            v.push(if scheme == Scheme::Symmetric {
                f.abs()
            } else {
                f
            });
        }
    });
    if v.is_empty() {
        return (0.0, 0.0);
    }
    match scheme {
        Scheme::Symmetric => {
            let a = percentile_of(&mut v, p);
            (-a, a)
        }
        Scheme::Asymmetric => {
            let lo = percentile_of(&mut v, 100.0 - p);
            (lo, percentile_of(&mut v, p))
        }
    }
}

// ---------------------------------------------------------------------------
// Scales and zero points

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

fn one_param(lo: f64, hi: f64, spec: &ParamSpec) -> Result<(f64, i64), Error> {
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

/// `round(v / s)` exactly, as an f64 (saturated far outside any format).
fn round_int_exact(v: Value, s: f64, mode: RoundingMode, random: u64) -> f64 {
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

// ---------------------------------------------------------------------------
// The code pass

/// How `x / scale` is computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arithmetic {
    /// The exact rational, rounded once.
    Exact,
    /// PyTorch's: `s = f32(scale)`, `inv = 1.0f / s`, `t = f32(x * inv)`,
    /// `q = zp + round(t)`, clamped.
    Torch,
}

/// Options of the code pass.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QuantOptions {
    pub rounding: RoundingMode,
    pub seed: u64,
    pub arithmetic: Arithmetic,
    pub qmin: i64,
    pub qmax: i64,
    /// The code a NaN gets; None makes NaN an error.
    pub nan: Option<i64>,
}

/// The per-scale constants of the code pass, struct-of-arrays so that the
/// per-element loops read them as plain slices.
struct Params {
    scale: Vec<f64>,
    inv: Vec<f64>,
    zp: Vec<f64>,
    /// The same in float32, for the float32 fast loops (see [`Params::fits_f32`]).
    scale32: Vec<f32>,
    inv32: Vec<f32>,
    zp32: Vec<f32>,
}

impl Params {
    fn new(scales: &[f64], zps: &[i64], arith: Arithmetic) -> Result<Self, Error> {
        if let Some(s) = scales.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return Err(Error::invalid(format!(
                "scales must be finite and positive, got {s}"
            )));
        }
        let inv = scales
            .iter()
            .map(|&s| match arith {
                Arithmetic::Exact => 1.0 / s,
                Arithmetic::Torch => (1.0f32 / s as f32) as f64,
            })
            .collect();
        if arith == Arithmetic::Torch
            && scales
                .iter()
                .any(|&s| !(s as f32 > 0.0 && (s as f32).is_finite()))
        {
            return Err(Error::invalid(
                "arithmetic='torch' rounds scales to float32 and one becomes 0 or inf",
            ));
        }
        let inv: Vec<f64> = inv;
        Ok(Params {
            scale32: scales.iter().map(|&s| s as f32).collect(),
            inv32: match arith {
                Arithmetic::Exact => scales.iter().map(|&s| (1.0 / s) as f32).collect(),
                Arithmetic::Torch => inv.iter().map(|&v| v as f32).collect(),
            },
            zp32: zps.iter().map(|&z| z as f32).collect(),
            scale: scales.to_vec(),
            inv,
            zp: zps.iter().map(|&z| z as f64).collect(),
        })
    }

    /// True when the float32 loops compute the same codes: every scale is
    /// a float32 value with a normal float32 inverse, and codes and zero
    /// points are small enough for the float32 rounding trick.
    fn fits_f32(&self, o: &QuantOptions) -> bool {
        let small = |v: f64| v.abs() < (1 << 20) as f64;
        small(o.qmin as f64)
            && small(o.qmax as f64)
            && self.zp.iter().all(|&z| small(z))
            && self
                .scale
                .iter()
                .zip(&self.inv32)
                .all(|(&s, &i)| s as f32 as f64 == s && i.is_normal())
    }
}

/// The scale constants for one run of elements: the same for all, or one per element.
trait Run: Copy + Sync {
    fn inv(&self, i: usize) -> f64;
    fn zp(&self, i: usize) -> f64;
    fn scale(&self, i: usize) -> f64;
    fn inv32(&self, i: usize) -> f32;
    fn zp32(&self, i: usize) -> f32;
    fn scale32(&self, i: usize) -> f32;
}

#[derive(Clone, Copy)]
struct One {
    inv: f64,
    zp: f64,
    scale: f64,
    inv32: f32,
    zp32: f32,
    scale32: f32,
}

macro_rules! run_accessors {
    ($($name:ident: $t:ty),*) => {$(
        #[inline(always)]
        fn $name(&self, i: usize) -> $t {
            self.$name.at(i)
        }
    )*};
}

/// A constant or a per-element slice.
trait At<T> {
    fn at(&self, i: usize) -> T;
}
impl<T: Copy> At<T> for T {
    #[inline(always)]
    fn at(&self, _: usize) -> T {
        *self
    }
}
impl<T: Copy> At<T> for &[T] {
    #[inline(always)]
    fn at(&self, i: usize) -> T {
        self[i]
    }
}

impl Run for One {
    run_accessors!(inv: f64, zp: f64, scale: f64, inv32: f32, zp32: f32, scale32: f32);
}

#[derive(Clone, Copy)]
struct Each<'a> {
    inv: &'a [f64],
    zp: &'a [f64],
    scale: &'a [f64],
    inv32: &'a [f32],
    zp32: &'a [f32],
    scale32: &'a [f32],
}

impl Run for Each<'_> {
    run_accessors!(inv: f64, zp: f64, scale: f64, inv32: f32, zp32: f32, scale32: f32);
}

impl Params {
    fn one(&self, p: usize) -> One {
        One {
            inv: self.inv[p],
            zp: self.zp[p],
            scale: self.scale[p],
            inv32: self.inv32[p],
            zp32: self.zp32[p],
            scale32: self.scale32[p],
        }
    }

    fn each(&self, p: usize, n: usize) -> Each<'_> {
        let r = p..p + n;
        Each {
            inv: &self.inv[r.clone()],
            zp: &self.zp[r.clone()],
            scale: &self.scale[r.clone()],
            inv32: &self.inv32[r.clone()],
            zp32: &self.zp32[r.clone()],
            scale32: &self.scale32[r],
        }
    }
}

/// A kernel over one contiguous run of elements sharing a [`Run`] of constants.
/// `base` is the flat index of the run's first element.
trait Kernel<T, O>: Sync {
    fn run<R: Run>(&self, xs: &[T], out: &mut [O], r: R, base: usize) -> Result<(), Error>;
}

/// Walk `x` in parallel, in memory order, handing each kernel call a run
/// of elements together with its scale constants.
fn drive<T: Real, O: Send, K: Kernel<T, O>>(
    x: &[T],
    out: &mut [O],
    l: &Layout,
    p: &Params,
    k: &K,
) -> Result<(), Error> {
    if x.len() != out.len() || x.len() != l.size() {
        return Err(Error::invalid("input and output lengths differ"));
    }
    if p.scale.len() != l.n_params() {
        return Err(Error::invalid(format!(
            "expected {} scales, got {}",
            l.n_params(),
            p.scale.len()
        )));
    }
    if x.is_empty() {
        return Ok(());
    }
    let (len, inner) = (l.len, l.inner);
    let row = match l.gran {
        Granularity::Tensor => CHUNK,
        _ if inner == 1 => len,
        _ => inner,
    };
    let rows_per_task = (CHUNK / row).max(1);
    let errors: Vec<Error> = x
        .par_chunks(rows_per_task * row)
        .zip(out.par_chunks_mut(rows_per_task * row))
        .enumerate()
        .filter_map(|(t, (xs, os))| {
            for (r, (xr, or)) in xs.chunks(row).zip(os.chunks_mut(row)).enumerate() {
                let ri = t * rows_per_task + r;
                let base = ri * row;
                let res = match l.gran {
                    Granularity::Tensor => k.run(xr, or, p.one(0), base),
                    Granularity::Channel if inner == 1 => k.run(xr, or, p.each(0, len), base),
                    Granularity::Channel => k.run(xr, or, p.one(ri % len), base),
                    Granularity::Group(g) if inner == 1 => {
                        let first = ri * (len / g);
                        xr.chunks(g).zip(or.chunks_mut(g)).enumerate().try_for_each(
                            |(b, (xg, og))| k.run(xg, og, p.one(first + b), base + b * g),
                        )
                    }
                    Granularity::Group(g) => {
                        let (o, a) = (ri / len, ri % len);
                        k.run(xr, or, p.each((o * (len / g) + a / g) * inner, inner), base)
                    }
                };
                if let Err(e) = res {
                    return Some(e);
                }
            }
            None
        })
        .collect();
    errors.into_iter().next().map_or(Ok(()), Err)
}

/// Elements per block of the fast loop: a doubtful element sends its whole
/// block to the exact path.
const BLOCK: usize = 256;

/// Run a fast loop compiled for AVX2 where the CPU has it (the crate is
/// built for baseline x86-64, whose SSE2 vectors are half as wide). The
/// loops use no fused multiply-add and no reassociation, so both builds
/// compute the same bits.
#[inline(always)]
fn wide<R, F: FnOnce() -> R>(f: F) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the feature was just detected.
            return unsafe { with_avx2(f) };
        }
    }
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn with_avx2<R, F: FnOnce() -> R>(f: F) -> R {
    f()
}

/// `max` / `min` that vectorise to single instructions; a NaN `a` gives `b`.
#[inline(always)]
fn at_least<T: PartialOrd>(a: T, b: T) -> T {
    if a > b {
        a
    } else {
        b
    }
}

#[inline(always)]
fn at_most<T: PartialOrd>(a: T, b: T) -> T {
    if a < b {
        a
    } else {
        b
    }
}

/// What the integer code pass writes: codes, or dequantized floats.
/// `code` is always clamped to the code range (never NaN), which makes
/// the unchecked float → int conversions sound; they vectorise where the
/// saturating `as` casts do not.
trait Emit<O>: Sync {
    fn emit(&self, code: f64, zp: f64, scale: f64) -> O;
    /// The same from the float32 loop (scale is then a float32 value).
    fn emit32(&self, code: f32, zp: f32, scale: f32) -> O;
}

/// Integer codes in two's-complement words.
struct Codes;
impl<D: Bits> Emit<D> for Codes {
    #[inline(always)]
    fn emit(&self, code: f64, _: f64, _: f64) -> D {
        // SAFETY: `code` is clamped to [qmin, qmax] within the int32 range.
        D::from_u64(unsafe { code.to_int_unchecked::<i32>() } as i64 as u64)
    }
    #[inline(always)]
    fn emit32(&self, code: f32, _: f32, _: f32) -> D {
        // SAFETY: as above.
        D::from_u64(unsafe { code.to_int_unchecked::<i32>() } as i64 as u64)
    }
}

/// `(code - zp) * scale` in the data's own float type (fake quantization).
struct Dequant;
impl<T: Real> Emit<T> for Dequant {
    #[inline(always)]
    fn emit(&self, code: f64, zp: f64, scale: f64) -> T {
        T::from_f64((code - zp) * scale)
    }
    #[inline(always)]
    fn emit32(&self, code: f32, zp: f32, scale: f32) -> T {
        // `code - zp` is exact; one float32 rounding of the product, as in f64 then f32.
        T::from_f64(((code - zp) * scale) as f64)
    }
}

/// The integer code pass.
struct IntKernel<'a, E> {
    o: &'a QuantOptions,
    emit: E,
    /// The float32 loops apply (float32 data, see [`Params::fits_f32`]).
    f32_ok: bool,
}

impl<E> IntKernel<'_, E> {
    /// The fast loops' own verdict on one element (the same expressions),
    /// so that only the flagged elements of a doubtful block are redone.
    #[inline(never)]
    fn doubtful<T: Real, R: Run>(&self, x: T, r: R, i: usize, f32_loop: bool) -> bool {
        let (qmin, qmax) = (self.o.qmin as f64, self.o.qmax as f64);
        match (self.o.arithmetic, f32_loop) {
            (Arithmetic::Exact, true) => {
                doubt_exact32(x.to_f32() * r.inv32(i), r.zp32(i), qmin as f32, qmax as f32).1
            }
            (Arithmetic::Exact, false) => doubt_exact64(x.to_f64() * r.inv(i)).1,
            (Arithmetic::Torch, _) => (x.to_f32() * r.inv32(i)).is_nan(),
        }
    }

    /// The exact code of one element (NaN policy, exact quotient, rounding, clamp).
    #[inline(never)]
    fn exact_code<T: Real>(
        &self,
        x: T,
        scale: f64,
        inv32: f64,
        zp: f64,
        index: usize,
    ) -> Result<f64, Error> {
        let o = self.o;
        let xf = x.to_f64();
        if xf.is_nan() {
            return o.nan.map(|c| c as f64).ok_or(Error::NanInput { index });
        }
        let random = if o.rounding == RoundingMode::Stochastic {
            draw(o.seed, index as u64)
        } else {
            0
        };
        let r = match o.arithmetic {
            Arithmetic::Exact => round_int_exact(Value::from_f64(xf), scale, o.rounding, random),
            Arithmetic::Torch => {
                let t = (x.to_f32() * inv32 as f32) as f64;
                round_int_exact(Value::from_f64(t), 1.0, o.rounding, random)
            }
        };
        Ok((r + zp).clamp(o.qmin as f64, o.qmax as f64))
    }
}

impl<T: Real, O: Copy, E: Emit<O>> Kernel<T, O> for IntKernel<'_, E> {
    fn run<R: Run>(&self, xs: &[T], out: &mut [O], r: R, base: usize) -> Result<(), Error> {
        let o = self.o;
        let (qmin, qmax) = (o.qmin as f64, o.qmax as f64);
        let fast = matches!(
            o.rounding,
            RoundingMode::NearestEven | RoundingMode::NearestAway
        );
        let f32_loop = self.f32_ok && std::mem::size_of::<T>() == 4;
        for (b, (xb, ob)) in xs.chunks(BLOCK).zip(out.chunks_mut(BLOCK)).enumerate() {
            let off = b * BLOCK;
            let e = &self.emit;
            let doubt = fast
                && match (o.arithmetic, f32_loop) {
                    (Arithmetic::Exact, true) => {
                        wide(|| fast_exact32(xb, ob, r, off, qmin as f32, qmax as f32, e))
                    }
                    (Arithmetic::Torch, true) => {
                        wide(|| fast_torch32(xb, ob, r, off, qmin as f32, qmax as f32, e))
                    }
                    (Arithmetic::Exact, false) => {
                        wide(|| fast_exact(xb, ob, r, off, qmin, qmax, e))
                    }
                    (Arithmetic::Torch, false) => {
                        wide(|| fast_torch(xb, ob, r, off, qmin, qmax, e))
                    }
                };
            if !fast || doubt {
                for (j, (&x, y)) in xb.iter().zip(ob.iter_mut()).enumerate() {
                    let i = off + j;
                    if fast && !self.doubtful(x, r, i, f32_loop) {
                        continue;
                    }
                    let c = self.exact_code(x, r.scale(i), r.inv(i), r.zp(i), base + i)?;
                    *y = self.emit.emit(c, r.zp(i), r.scale(i));
                }
            }
        }
        Ok(())
    }
}

/// The fast exact loop: `q = x * (1/s)` in f64, nearest even. Returns true
/// when some element may round differently from the exact quotient (near a
/// half-integer, or NaN/inf): the caller then redoes the block exactly.
#[inline(always)]
fn fast_exact<T: Real, O, R: Run, E: Emit<O>>(
    xb: &[T],
    ob: &mut [O],
    r: R,
    off: usize,
    qmin: f64,
    qmax: f64,
    emit: &E,
) -> bool {
    let mut doubt = false;
    for (j, (&x, y)) in xb.iter().zip(ob.iter_mut()).enumerate() {
        let i = off + j;
        let (n, d) = doubt_exact64(x.to_f64() * r.inv(i));
        doubt |= d;
        let c = at_most(at_least(n + r.zp(i), qmin), qmax);
        *y = emit.emit(c, r.zp(i), r.scale(i));
    }
    doubt
}

/// Nearest-even candidate for `q = x * f32(1/s)` and whether it may differ
/// from the exact rounding: `q` has a relative error below 2^-22, so a
/// margin of 2^-19 |q| around the half-integers catches every element whose
/// rounding could differ. `q` is clamped to one past the code range first
/// (which changes no clamped result) so the rounding trick's range is never
/// exceeded; NaN is flagged before that.
#[inline(always)]
fn doubt_exact32(q: f32, zp: f32, qmin: f32, qmax: f32) -> (f32, bool) {
    const TOL: f32 = 1.0 / (1u32 << 19) as f32;
    let qc = at_most(at_least(q, qmin - zp - 1.0), qmax - zp + 1.0);
    let n = rne_f32(qc);
    (n, q.is_nan() | !((qc - n).abs() < 0.5 - qc.abs() * TOL))
}

/// The same in f64 (relative error of `q` below 2^-51, margin 2^-44 |q|).
#[inline(always)]
fn doubt_exact64(q: f64) -> (f64, bool) {
    const TOL: f64 = 1.0 / (1u64 << 44) as f64;
    let n = rne_f64(q);
    (n, !((q - n).abs() < 0.5 - q.abs() * TOL))
}

/// Round to nearest even for |x| <= 2^22 with plain adds.
#[inline(always)]
fn rne_f32(x: f32) -> f32 {
    const M: f32 = 12582912.0; // 1.5 * 2^23
    (x + M) - M
}

/// The float32 version of [`fast_exact`]: `q = x * f32(1/s)` has a relative
/// error below 2^-22, so a margin of 2^-19 |q| around the half-integers
/// catches every element whose rounding could differ. `q` is clamped to
/// one past the code range first (which changes no clamped result), so the
/// rounding trick's range is never exceeded; NaN is flagged before that.
#[inline(always)]
fn fast_exact32<T: Real, O, R: Run, E: Emit<O>>(
    xb: &[T],
    ob: &mut [O],
    r: R,
    off: usize,
    qmin: f32,
    qmax: f32,
    emit: &E,
) -> bool {
    let mut doubt = false;
    for (j, (&x, y)) in xb.iter().zip(ob.iter_mut()).enumerate() {
        let i = off + j;
        let zp = r.zp32(i);
        let (n, d) = doubt_exact32(x.to_f32() * r.inv32(i), zp, qmin, qmax);
        doubt |= d;
        let c = at_most(at_least(n + zp, qmin), qmax);
        *y = emit.emit32(c, zp, r.scale32(i));
    }
    doubt
}

/// PyTorch's arithmetic in float32 (float32 data): exact by definition.
#[inline(always)]
fn fast_torch32<T: Real, O, R: Run, E: Emit<O>>(
    xb: &[T],
    ob: &mut [O],
    r: R,
    off: usize,
    qmin: f32,
    qmax: f32,
    emit: &E,
) -> bool {
    let mut doubt = false;
    for (j, (&x, y)) in xb.iter().zip(ob.iter_mut()).enumerate() {
        let i = off + j;
        let zp = r.zp32(i);
        let t = x.to_f32() * r.inv32(i);
        doubt |= t.is_nan();
        let tc = at_most(at_least(t, qmin - zp - 1.0), qmax - zp + 1.0);
        let c = at_most(at_least(rne_f32(tc) + zp, qmin), qmax);
        *y = emit.emit32(c, zp, r.scale32(i));
    }
    doubt
}

/// PyTorch's arithmetic: `t = f32(x * inv32)`, nearest even, `+ zp`, clamp.
/// Exact by definition; returns true only for NaN (the NaN policy decides).
#[inline(always)]
fn fast_torch<T: Real, O, R: Run, E: Emit<O>>(
    xb: &[T],
    ob: &mut [O],
    r: R,
    off: usize,
    qmin: f64,
    qmax: f64,
    emit: &E,
) -> bool {
    let mut doubt = false;
    for (j, (&x, y)) in xb.iter().zip(ob.iter_mut()).enumerate() {
        let i = off + j;
        let t = (x.to_f32() * r.inv(i) as f32) as f64;
        doubt |= t.is_nan();
        let c = at_most(at_least(rne_f64(t) + r.zp(i), qmin), qmax);
        *y = emit.emit(c, r.zp(i), r.scale(i));
    }
    doubt
}

/// Integer codes of `x` for the given scales and zero points (one per
/// scale of `l`), written as two's-complement words.
pub fn quantize<T: Real, D: Bits>(
    x: &[T],
    l: &Layout,
    scales: &[f64],
    zps: &[i64],
    o: &QuantOptions,
    out: &mut [D],
) -> Result<(), Error> {
    check_options(o, zps)?;
    let p = Params::new(scales, zps, o.arithmetic)?;
    drive(
        x,
        out,
        l,
        &p,
        &IntKernel {
            o,
            emit: Codes,
            f32_ok: p.fits_f32(o),
        },
    )
}

/// `dequantize(quantize(x))` fused: `(code - zp) * scale` in `T`.
pub fn fake_quantize<T: Real>(
    x: &[T],
    l: &Layout,
    scales: &[f64],
    zps: &[i64],
    o: &QuantOptions,
    out: &mut [T],
) -> Result<(), Error> {
    check_options(o, zps)?;
    let p = Params::new(scales, zps, o.arithmetic)?;
    drive(
        x,
        out,
        l,
        &p,
        &IntKernel {
            o,
            emit: Dequant,
            f32_ok: p.fits_f32(o),
        },
    )
}

fn check_options(o: &QuantOptions, zps: &[i64]) -> Result<(), Error> {
    if o.qmin > o.qmax || o.qmin < i32::MIN as i64 || o.qmax > i32::MAX as i64 {
        return Err(Error::invalid(format!(
            "code range [{}, {}] is empty or wider than int32",
            o.qmin, o.qmax
        )));
    }
    if o.rounding == RoundingMode::Stochastic && o.arithmetic == Arithmetic::Torch {
        // Allowed: stochastic rounding of PyTorch's float32 quotient.
    }
    if let Some(c) = o.nan {
        if c < o.qmin || c > o.qmax {
            return Err(Error::invalid(format!(
                "nan={c} is outside the code range [{}, {}]",
                o.qmin, o.qmax
            )));
        }
    }
    if let Some(z) = zps.iter().find(|&&z| z < o.qmin || z > o.qmax) {
        return Err(Error::invalid(format!(
            "zero point {z} is outside the code range [{}, {}]",
            o.qmin, o.qmax
        )));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Float elements (OCP MX, NVFP4-style, per-tensor fp8 scaling)

/// Options of the float-element code pass.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FloatQuantOptions {
    pub rounding: RoundingMode,
    pub seed: u64,
    /// The element code a NaN gets; None makes NaN an error.
    pub nan: Option<u64>,
}

/// Float element codes (or their dequantized values).
struct FloatKernel<'a, E> {
    elem: &'a FloatFormat,
    enc: EncodeOptions,
    o: &'a FloatQuantOptions,
    /// Fast float32 path for nearest even with power-of-two scales.
    fast: Option<Fp32Narrowing>,
    pow2: bool,
    emit: E,
}

/// What the float-element pass writes.
trait FloatEmit<O>: Sync {
    fn emit(&self, code: u64, scale: f64) -> O;
}

struct ElemCodes;
impl<D: Bits> FloatEmit<D> for ElemCodes {
    #[inline(always)]
    fn emit(&self, code: u64, _: f64) -> D {
        D::from_u64(code)
    }
}

/// Decoded element times scale, via a table of the element format's values.
struct ElemDequant(Vec<f64>);
impl<T: Real> FloatEmit<T> for ElemDequant {
    #[inline(always)]
    fn emit(&self, code: u64, scale: f64) -> T {
        T::from_f64(self.0[code as usize] * scale)
    }
}

impl<E> FloatKernel<'_, E> {
    fn code<T: Real>(&self, x: T, scale: f64, index: usize) -> Result<u64, Error> {
        let xf = x.to_f64();
        if xf.is_nan() {
            return self.o.nan.ok_or(Error::NanInput { index });
        }
        let random = if self.o.rounding == RoundingMode::Stochastic {
            draw(self.o.seed, index as u64)
        } else {
            0
        };
        let v = div_value(Value::from_f64(xf), Value::from_f64(scale));
        Ok(self.elem.encode(v, &self.enc, random))
    }
}

impl<T: Real, O: Copy, E: FloatEmit<O>> Kernel<T, O> for FloatKernel<'_, E> {
    fn run<R: Run>(&self, xs: &[T], out: &mut [O], r: R, base: usize) -> Result<(), Error> {
        if let (Some(k), true, true) = (self.fast, self.pow2, std::mem::size_of::<T>() == 4) {
            let mut nan = false;
            for (i, (&x, y)) in xs.iter().zip(out.iter_mut()).enumerate() {
                // x * 2^-k is exact in float32 (down to float32's subnormals,
                // far below every element format's smallest value).
                let v = x.to_f32() * r.inv(i) as f32;
                nan |= v.is_nan();
                *y = self.emit.emit(k.convert(v.to_bits(), 0) as u64, r.scale(i));
            }
            if !nan {
                return Ok(());
            }
        }
        for (i, (&x, y)) in xs.iter().zip(out.iter_mut()).enumerate() {
            *y = self
                .emit
                .emit(self.code(x, r.scale(i), base + i)?, r.scale(i));
        }
        Ok(())
    }
}

impl<'a, E> FloatKernel<'a, E> {
    fn new(
        elem: &'a FloatFormat,
        o: &'a FloatQuantOptions,
        scales: &[f64],
        emit: E,
    ) -> Result<Self, Error> {
        if elem.bits() > 16 {
            return Err(Error::invalid(format!(
                "{} is too wide to be a block-scaled element format",
                elem.name
            )));
        }
        if let Some(c) = o.nan {
            if c >> elem.bits() != 0 {
                return Err(Error::invalid(format!(
                    "nan={c:#x} does not fit in the {} bits of {}",
                    elem.bits(),
                    elem.name
                )));
            }
        }
        let enc = EncodeOptions {
            rounding: o.rounding,
            overflow: Overflow::Saturate,
            nan: NanPolicy::Canonical,
            seed: o.seed,
            ..EncodeOptions::default()
        };
        let pow2 = scales.iter().all(|&s| {
            let b = s.to_bits();
            b & ((1u64 << 52) - 1) == 0
                && s.is_finite()
                && s > 0.0
                && (s as f32).is_normal()
                && (1.0 / s as f32).is_normal()
        });
        let fast = if o.rounding == RoundingMode::NearestEven {
            Fp32Narrowing::new(elem, &enc)
        } else {
            None
        };
        Ok(FloatKernel {
            elem,
            enc,
            o,
            fast,
            pow2,
            emit,
        })
    }
}

fn float_params(scales: &[f64]) -> Result<Params, Error> {
    let zps = vec![0; scales.len()];
    Params::new(scales, &zps, Arithmetic::Exact)
}

/// Element codes of `x / scale` in `elem` (nearest-even or the chosen mode,
/// saturating at ±max, as OCP MX v1.0 prescribes).
pub fn quantize_float<T: Real, D: Bits>(
    x: &[T],
    l: &Layout,
    scales: &[f64],
    elem: &FloatFormat,
    o: &FloatQuantOptions,
    out: &mut [D],
) -> Result<(), Error> {
    let p = float_params(scales)?;
    let k = FloatKernel::new(elem, o, scales, ElemCodes)?;
    drive(x, out, l, &p, &k)
}

/// `decode(code) * scale` fused with [`quantize_float`].
pub fn fake_quantize_float<T: Real>(
    x: &[T],
    l: &Layout,
    scales: &[f64],
    elem: &FloatFormat,
    o: &FloatQuantOptions,
    out: &mut [T],
) -> Result<(), Error> {
    let p = float_params(scales)?;
    let table = (0..1u64 << elem.bits())
        .map(|c| value_to_f64(elem.unpack(c)))
        .collect();
    let k = FloatKernel::new(elem, o, scales, ElemDequant(table))?;
    drive(x, out, l, &p, &k)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact_ref(x: f64, s: f64) -> f64 {
        // Reference through exact binary fractions: x and s are dyadic, so
        // compare 2x against (2n+1)s with i128 arithmetic after scaling.
        let (xm, xe) = frexp_int(x);
        let (sm, se) = frexp_int(s);
        let e = xe.min(se);
        let xi = (xm as i128) << (xe - e);
        let si = (sm as i128) << (se - e);
        let fl = xi.div_euclid(si);
        let rem2 = 2 * xi.rem_euclid(si);
        let n = if rem2 > si || (rem2 == si && fl % 2 != 0) {
            fl + 1
        } else {
            fl
        };
        n as f64
    }

    fn frexp_int(x: f64) -> (i64, i64) {
        match Value::from_f64(x) {
            Value::Finite { neg, sig, exp, .. } => {
                let m = (sig >> 11) as i64;
                (if neg { -m } else { m }, exp - 52)
            }
            _ => (0, 0),
        }
    }

    fn opts(arith: Arithmetic) -> QuantOptions {
        QuantOptions {
            rounding: RoundingMode::NearestEven,
            seed: 0,
            arithmetic: arith,
            qmin: -1 << 20,
            qmax: 1 << 20,
            nan: None,
        }
    }

    #[test]
    fn exact_equals_rational_reference_near_ties() {
        let s = 0.1f32 as f64;
        let mut xs = Vec::new();
        for n in -3000i32..3000 {
            let tie = (n as f64 + 0.5) * s;
            let t = tie as f32;
            xs.extend([
                t,
                f32::from_bits(t.to_bits() + 1),
                f32::from_bits(t.to_bits().wrapping_sub(1)),
            ]);
        }
        let l = Layout::new(&[xs.len()], None, None).unwrap();
        let mut out = vec![0u32; xs.len()];
        quantize(&xs, &l, &[s], &[0], &opts(Arithmetic::Exact), &mut out).unwrap();
        for (&x, &q) in xs.iter().zip(&out) {
            assert_eq!(q as i32 as f64, exact_ref(x as f64, s), "{x}");
        }
    }

    #[test]
    fn ties_resolved_exactly() {
        // 2.5 * s is exactly representable: a true tie → even.
        let s = 0.5f64;
        let xs = [1.25f32, 1.75, -1.25, 0.25];
        let l = Layout::new(&[4], None, None).unwrap();
        let mut out = [0u8; 4];
        quantize(&xs, &l, &[s], &[0], &opts(Arithmetic::Exact), &mut out).unwrap();
        assert_eq!(out.map(|b| b as i8), [2, 4, -2, 0]);
    }

    #[test]
    fn layouts_and_params() {
        let l = Layout::new(&[2, 6, 3], Some(1), Some(2)).unwrap();
        assert_eq!(l.n_params(), 2 * 3 * 3);
        assert!(Layout::new(&[2, 6, 3], Some(1), Some(4)).is_err());
        assert!(Layout::new(&[2, 6], Some(2), None).is_err());
        let x: Vec<f32> = (0..36).map(|i| i as f32 - 10.0).collect();
        for l in [
            Layout::new(&[2, 6, 3], None, None).unwrap(),
            Layout::new(&[2, 6, 3], Some(1), None).unwrap(),
            Layout::new(&[2, 6, 3], Some(-1), None).unwrap(),
            Layout::new(&[2, 6, 3], Some(0), None).unwrap(),
            Layout::new(&[2, 6, 3], Some(1), Some(3)).unwrap(),
            Layout::new(&[2, 6, 3], Some(2), Some(3)).unwrap(),
        ] {
            let r = ranges(&x, &l, RangeSource::Extremes, Scheme::Symmetric, false).unwrap();
            for (k, &(lo, hi)) in r.iter().enumerate() {
                let mut v = Vec::new();
                l.for_each_in_param(k, |i| v.push(x[i] as f64));
                assert_eq!(lo, v.iter().copied().fold(f64::INFINITY, f64::min));
                assert_eq!(hi, v.iter().copied().fold(f64::NEG_INFINITY, f64::max));
            }
        }
    }

    #[test]
    fn worked_examples() {
        let spec = ParamSpec {
            scheme: Scheme::Symmetric,
            qmin: -127.0,
            qmax: 127.0,
            rule: ScaleRule::Round(float_builtin("fp32")),
            integer: true,
        };
        let (s, z) = params(&[(-3.0, 10.8f32 as f64)], &spec).unwrap();
        assert_eq!(s[0], (10.8f32 as f64 / 127.0) as f32 as f64);
        assert_eq!(z[0], 0);
        let spec = ParamSpec {
            scheme: Scheme::Asymmetric,
            qmin: -128.0,
            qmax: 127.0,
            ..spec
        };
        let (_, z) = params(&[(-7.59, 10.8)], &spec).unwrap();
        assert_eq!(z[0], -23);
        // Constant slice: exact.
        let (s, _) = params(&[(0.3, 0.3)], &spec).unwrap();
        assert_eq!(s[0], 0.3f32 as f64);
    }

    #[test]
    fn div_value_exact() {
        let v = div_value(Value::from_f64(1.0), Value::from_f64(3.0));
        assert!(matches!(v, Value::Finite { sticky: true, .. }));
        assert_eq!(value_to_f64(v), 1.0 / 3.0);
        let v = div_value(Value::from_f64(-6.0), Value::from_f64(1.5));
        assert_eq!(v, Value::from_f64(-4.0));
    }

    #[test]
    fn torch_formula() {
        let s = 0.001f64;
        let xs: Vec<f32> = (0..1000).map(|i| i as f32 * 0.0005).collect();
        let l = Layout::new(&[xs.len()], None, None).unwrap();
        let mut out = vec![0u32; xs.len()];
        quantize(&xs, &l, &[s], &[3], &opts(Arithmetic::Torch), &mut out).unwrap();
        let inv = 1.0f32 / s as f32;
        for (&x, &q) in xs.iter().zip(&out) {
            assert_eq!(q as i32, 3 + (x * inv).round_ties_even() as i32);
        }
    }
}
