//! Range statistics: the `[lo, hi]` each scale covers (extremes in one
//! vectorised parallel pass, a fixed clip range, or a percentile).

// `!(a <= b)` is deliberate: it is true for NaN, which is the point.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

use rayon::prelude::*;

use super::layout::{Granularity, Layout};
use super::real::Real;
use crate::error::Error;
use crate::fast::simd::wide;
use crate::fast::words::CHUNK;

pub(super) const LANES: usize = 16;

/// Running minimum and maximum (NaN ignored) and whether a non-finite value was seen.
#[derive(Clone, Copy)]
pub(super) struct MinMax<T> {
    lo: T,
    hi: T,
    pub(super) bad: bool,
}

impl<T: Real> MinMax<T> {
    fn empty() -> Self {
        MinMax {
            lo: T::MAX,
            hi: T::from_f64(-T::MAX.to_f64()),
            bad: false,
        }
    }

    /// `(lo, hi)` as f64.
    #[inline(always)]
    pub(super) fn range(&self) -> (f64, f64) {
        (self.lo.to_f64(), self.hi.to_f64())
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
#[inline(always)]
pub(super) fn minmax_run<T: Real>(xs: &[T]) -> MinMax<T> {
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
    // Fold the lanes in halves (vector operations, not a serial chain of
    // sixteen: that chain dominated short runs such as MX blocks of 32).
    let mut w = LANES / 2;
    while w > 0 {
        for k in 0..w {
            lo[k] = if lo[k + w] < lo[k] { lo[k + w] } else { lo[k] };
            hi[k] = if hi[k + w] > hi[k] { hi[k + w] } else { hi[k] };
            bad[k] |= bad[k + w];
        }
        w /= 2;
    }
    let mut m = MinMax {
        lo: lo[0],
        hi: hi[0],
        bad: bad[0],
    };
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

/// The largest magnitude of a contiguous run (+0 when empty or all
/// zero), or None when it holds a NaN or an infinity: what a symmetric
/// scale needs of [`minmax_run`] (`max(|lo|, |hi|)` of its finite run),
/// in one compare fewer per element, for the per-block set-up of MX
/// scales, where a run is one block of 32.
#[inline(always)]
pub(super) fn amax_run<T: Real>(xs: &[T]) -> Option<T> {
    let (mut top, mut bad) = ([T::default(); LANES], [false; LANES]);
    let mut chunks = xs.chunks_exact(LANES);
    for c in &mut chunks {
        for k in 0..LANES {
            let a = c[k].abs();
            top[k] = if a > top[k] { a } else { top[k] };
            bad[k] |= !(a <= T::MAX);
        }
    }
    let mut w = LANES / 2;
    while w > 0 {
        for k in 0..w {
            top[k] = if top[k + w] > top[k] {
                top[k + w]
            } else {
                top[k]
            };
            bad[k] |= bad[k + w];
        }
        w /= 2;
    }
    let (mut top, mut bad) = (top[0], bad[0]);
    for &v in chunks.remainder() {
        let a = v.abs();
        top = if a > top { a } else { top };
        bad |= !(a <= T::MAX);
    }
    (!bad).then_some(top)
}

/// Element-wise running minima and maxima, struct-of-arrays so the loop
/// vectorises; `bad` records a non-finite value.
#[derive(Clone)]
pub(super) struct MinMaxVec<T> {
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

    #[inline(always)]
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
pub(super) fn extremes<T: Real>(x: &[T], l: &Layout) -> Vec<MinMax<T>> {
    let (len, inner) = (l.len, l.inner);
    match l.gran {
        Granularity::Tensor => vec![x
            .par_chunks(CHUNK)
            .map(|c| {
                wide(
                    #[inline(always)]
                    || minmax_run(c),
                )
            })
            .reduce(MinMax::empty, MinMax::merge)],
        Granularity::Channel if inner == 1 => {
            let rows = (CHUNK / len.max(1)).max(1);
            x.par_chunks(rows * len)
                .fold(
                    || MinMaxVec::new(len),
                    |mut acc, block| {
                        block.chunks(len).for_each(|row| {
                            wide(
                                #[inline(always)]
                                || acc.update(row),
                            )
                        });
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
            .map(|c| {
                wide(
                    #[inline(always)]
                    || minmax_run(c),
                )
            })
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
        RangeSource::Extremes => Ok(checked_extremes(x, l, nan_ok)?
            .iter()
            .map(MinMax::range)
            .collect()),
        RangeSource::Percentile(p) => {
            check_non_finite(x, nan_ok)?;
            Ok((0..l.n_params())
                .into_par_iter()
                .map(|k| percentile_range(x, l, k, p, scheme))
                .collect())
        }
    }
}

/// Per-scale extremes of non-empty `x`, after the non-finite check of [`ranges`].
pub(super) fn checked_extremes<T: Real>(
    x: &[T],
    l: &Layout,
    nan_ok: bool,
) -> Result<Vec<MinMax<T>>, Error> {
    let mm = extremes(x, l);
    if mm.iter().any(|m| m.bad) {
        check_non_finite(x, nan_ok)?;
    }
    Ok(mm)
}

/// Reject NaN (unless allowed) and ±inf, naming the first offending index.
pub(super) fn check_non_finite<T: Real>(x: &[T], nan_ok: bool) -> Result<(), Error> {
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
pub(super) fn percentile_of(v: &mut [f64], p: f64) -> f64 {
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
pub(super) fn percentile_range<T: Real>(
    x: &[T],
    l: &Layout,
    k: usize,
    p: f64,
    scheme: Scheme,
) -> (f64, f64) {
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
