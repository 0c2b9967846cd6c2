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

    /// The running extremes updated with every row of `block` (rows of
    /// `self`'s length), [`LANES`] columns at a time: their minima and maxima stay
    /// in registers across the block's rows and are loaded and stored once
    /// per block. Row by row, they were loaded and stored (a masked store)
    /// for every row: along a wide last axis that made the per-channel
    /// range about twice as slow as along the first axis. Each column
    /// still takes its values in row order, so the results are the
    /// row-by-row ones.
    #[inline(always)]
    fn update_rows(&mut self, block: &[T]) {
        let len = self.lo.len();
        let whole = len - len % LANES;
        let mut bad = false;
        for c in (0..whole).step_by(LANES) {
            let (lo, hi) = (&mut self.lo[c..c + LANES], &mut self.hi[c..c + LANES]);
            let mut l: [T; LANES] = std::array::from_fn(|k| lo[k]);
            let mut h: [T; LANES] = std::array::from_fn(|k| hi[k]);
            for row in block.chunks_exact(len) {
                bad |= min_max_into(&mut l, &mut h, &row[c..c + LANES]);
            }
            lo.copy_from_slice(&l);
            hi.copy_from_slice(&h);
        }
        let (lo, hi) = (&mut self.lo[whole..], &mut self.hi[whole..]);
        for row in block.chunks_exact(len) {
            bad |= min_max_into(lo, hi, &row[whole..]);
        }
        self.bad |= bad;
    }

    /// The extremes of `self`'s rows followed by `o`'s, column by column
    /// (a column that one side saw only NaN in keeps the other side's).
    /// It used to feed both of `o`'s bounds through the row update as
    /// two rows of values, so a column `o` never saw a number in (minimum
    /// `T::MAX`, maximum `-T::MAX`) widened `self`'s to `[-MAX, MAX]`:
    /// with NaN allowed, a last-axis column holding NaN in every row of
    /// one rayon task got the scale of float32's largest value.
    fn merge(mut self, o: Self) -> Self {
        self.bad |= o.bad;
        let pairs = self.lo.iter_mut().zip(self.hi.iter_mut());
        for ((lo, hi), (&olo, &ohi)) in pairs.zip(o.lo.iter().zip(&o.hi)) {
            *lo = if olo < *lo { olo } else { *lo };
            *hi = if ohi > *hi { ohi } else { *hi };
        }
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

/// Element-wise `lo = min(lo, x)`, `hi = max(hi, x)` (a NaN `x` leaves
/// both), returning whether some `x` is not finite.
#[inline(always)]
fn min_max_into<T: Real>(lo: &mut [T], hi: &mut [T], xs: &[T]) -> bool {
    let mut bad = false;
    for ((lo, hi), &v) in lo.iter_mut().zip(hi.iter_mut()).zip(xs) {
        *lo = if v < *lo { v } else { *lo };
        *hi = if v > *hi { v } else { *hi };
        bad |= !(v.abs() <= T::MAX);
    }
    bad
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
                        wide(
                            #[inline(always)]
                            || acc.update_rows(block),
                        );
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
                    let rows = &x[(o * len + b * g) * inner..][..g * inner];
                    wide(
                        #[inline(always)]
                        || acc.update_rows(rows),
                    );
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The range of every scale by a plain walk of its elements in memory
    /// order ([`Layout::for_each_in_param`]), NaN ignored, an all-NaN
    /// slice giving the empty range `[-MAX, -MAX]` as [`minmax_run`] and
    /// [`MinMaxVec::into_vec`] do.
    fn walked(x: &[f32], l: &Layout) -> Vec<(f32, f32, bool)> {
        (0..l.n_params())
            .map(|p| {
                let (mut lo, mut hi, mut bad) = (f32::MAX, -f32::MAX, false);
                l.for_each_in_param(p, |e| {
                    let v = x[e];
                    lo = if v < lo { v } else { lo };
                    hi = if v > hi { v } else { hi };
                    bad |= !v.is_finite();
                });
                (lo.min(hi), hi, bad)
            })
            .collect()
    }

    /// Merging keeps a column that one side never saw a number in.
    #[test]
    fn merge_keeps_a_column_one_side_saw_only_nan_in() {
        let mut a = MinMaxVec::<f32>::new(3);
        a.update_rows(&[1.0, f32::NAN, -2.0]);
        let mut b = MinMaxVec::<f32>::new(3);
        b.update_rows(&[f32::NAN, 4.0, -0.0]);
        let m = a.clone().merge(b.clone()).into_vec();
        let got: Vec<(f32, f32)> = m.iter().map(|m| (m.lo, m.hi)).collect();
        assert_eq!(got, [(1.0, 1.0), (4.0, 4.0), (-2.0, 0.0)]);
        let m = b.merge(a).into_vec();
        let got: Vec<(f32, f32)> = m.iter().map(|m| (m.lo, m.hi)).collect();
        assert_eq!(got, [(1.0, 1.0), (4.0, 4.0), (-2.0, 0.0)]);
    }

    /// Every layout's extremes, on rows wide and narrow (whole and partial
    /// vectors of columns), with NaN in some rows of a column only, NaN
    /// columns, infinities and zeros of both signs, equal the walk in
    /// memory order. The data is large enough for several rayon tasks, so
    /// the merge of their partial extremes is exercised.
    #[test]
    fn extremes_equal_a_walk_in_memory_order() {
        let mut s = 0x2545_f491u32;
        for (shape, axis, group) in [
            (vec![1024, 8192], Some(-1), None),
            (vec![4096, 17], Some(1), None),
            (vec![300, 2049], Some(-1), None),
            (vec![64, 1000], Some(0), None),
            (vec![64, 96, 33], Some(1), Some(32)),
            (vec![4096, 64], Some(-1), Some(16)),
            (vec![1 << 18], None, None),
        ] {
            let n: usize = shape.iter().product();
            let mut x: Vec<f32> = (0..n)
                .map(|_| {
                    s ^= s << 13;
                    s ^= s >> 17;
                    s ^= s << 5;
                    f32::from_bits((s & 0x807f_ffff) | ((s >> 8 & 15) + 120) << 23)
                })
                .collect();
            let cols = *shape.last().unwrap();
            for (e, v) in x.iter_mut().enumerate() {
                let (row, col) = (e / cols, e % cols);
                match col % 7 {
                    // NaN in the second half of the rows only, or all rows.
                    0 if row >= n / cols / 2 => *v = f32::NAN,
                    1 => *v = f32::NAN,
                    2 if row % 5 == 3 => *v = -0.0,
                    3 if row == 7 => *v = f32::INFINITY,
                    _ => {}
                }
            }
            let l = Layout::new(&shape, axis, group).unwrap();
            let want = walked(&x, &l);
            let got: Vec<(f32, f32, bool)> = extremes(&x, &l)
                .iter()
                .map(|m| (m.lo, m.hi, m.bad))
                .collect();
            assert_eq!(got.len(), want.len());
            for (p, (g, w)) in got.iter().zip(&want).enumerate() {
                // The flag is whole-array in MinMaxVec; the range per scale.
                assert!(
                    g.0 == w.0 && g.1 == w.1,
                    "{shape:?} {axis:?} {group:?} scale {p}: {g:?} != {w:?}"
                );
            }
            let any_bad = want.iter().any(|w| w.2);
            assert_eq!(got.iter().any(|g| g.2), any_bad, "{shape:?} {axis:?}");
        }
    }
}
