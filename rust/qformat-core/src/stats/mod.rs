//! Error statistics of a conversion. Errors are taken over the elements
//! whose input and result are both finite; non-finite inputs and results
//! are counted, so a report never hides a NaN or an infinity, and so are
//! the inputs beyond the target's range and the nonzero inputs flushed to
//! zero.
//!
//! * here — the sums, and [`error_stats`]: one parallel pass over an input
//!   and its converted (dequantized) values;
//! * [`convert`] — a float conversion that takes the same sums from its own
//!   pass, chunk by chunk while the chunk is in cache, so a checkpoint
//!   conversion reads its input once;
//! * [`quantized`] — the same sums for a quantization (integer codes with
//!   scales and zero points, or float element codes with scales), taken
//!   from the codes and the input in one pass, with no dequantized copy.

use rayon::prelude::*;

pub mod convert;
pub mod quantized;

/// Elements per parallel task: sums are formed per chunk and then added in
/// chunk order, so the result does not depend on the thread count.
const CHUNK: usize = 1 << 16;

/// Sums of one pass; [`ErrorStats::merge`] adds another pass (another run of
/// rows of the same tensor, or another tensor for the file totals).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ErrorStats {
    /// Elements seen.
    pub n: u64,
    /// Elements whose input and result are both finite (the error's domain).
    pub finite: u64,
    /// Largest |result - input| over the finite pairs.
    pub max_abs: f64,
    /// Sum of |result - input| over the finite pairs.
    pub sum_abs: f64,
    /// Sum of (result - input)^2 over the finite pairs.
    pub noise: f64,
    /// Sum of input^2 over the finite pairs.
    pub signal: f64,
    /// NaN and ±inf among the inputs.
    pub nan_in: u64,
    pub inf_in: u64,
    /// NaN and ±inf among the results.
    pub nan_out: u64,
    pub inf_out: u64,
    /// Largest |input| over the finite inputs (the "amax" scales are made from).
    pub amax: f64,
    /// Finite inputs whose magnitude is above the limit the caller gave
    /// (the target's largest finite value): they saturated, or became inf
    /// or NaN. Always 0 without a limit.
    pub overflow: u64,
    /// Nonzero finite inputs whose result is zero (underflow, flushing).
    pub flushed: u64,
}

impl ErrorStats {
    /// Add the sums of another pass.
    pub fn merge(&mut self, o: &ErrorStats) {
        self.n += o.n;
        self.finite += o.finite;
        self.max_abs = self.max_abs.max(o.max_abs);
        self.sum_abs += o.sum_abs;
        self.noise += o.noise;
        self.signal += o.signal;
        self.nan_in += o.nan_in;
        self.inf_in += o.inf_in;
        self.nan_out += o.nan_out;
        self.inf_out += o.inf_out;
        self.amax = self.amax.max(o.amax);
        self.overflow += o.overflow;
        self.flushed += o.flushed;
    }

    /// Add pairs one by one, in order (the scalar pass that counts NaN and
    /// inf exactly).
    pub(crate) fn add_pairs<A: StatFloat, B: StatFloat>(&mut self, r: &[A], a: &[B], limit: f64) {
        for (x, y) in r.iter().zip(a) {
            self.add(x.wide(), y.wide(), limit);
        }
    }

    /// Add one pair, counting NaN and inf (the scalar path, for chunks
    /// that hold a non-finite value).
    fn add(&mut self, x: f64, y: f64, limit: f64) {
        self.n += 1;
        self.nan_in += x.is_nan() as u64;
        self.inf_in += x.is_infinite() as u64;
        self.nan_out += y.is_nan() as u64;
        self.inf_out += y.is_infinite() as u64;
        if x.is_finite() {
            self.amax = self.amax.max(x.abs());
            self.overflow += (x.abs() > limit) as u64;
            self.flushed += (x != 0.0 && y == 0.0) as u64;
        }
        if x.is_finite() && y.is_finite() {
            let e = y - x;
            self.finite += 1;
            self.max_abs = self.max_abs.max(e.abs());
            self.sum_abs += e.abs();
            self.noise += e * e;
            self.signal += x * x;
        }
    }
}

/// Lanes of partial sums, so the compiler can keep them in vector
/// registers (a float sum in one accumulator cannot be vectorized).
const LANES: usize = 8;

/// Statistics of one chunk: a branch-free pass over the finite pairs, then
/// a scalar recount only if the chunk holds a NaN or an infinity. `limit`:
/// inputs above it in magnitude count as overflow.
#[inline(always)]
pub(crate) fn chunk_stats<A: StatFloat, B: StatFloat>(r: &[A], a: &[B], limit: f64) -> ErrorStats {
    let mut lanes = Lanes::default();
    lanes.feed(r, a, limit);
    let s = lanes.finish(limit);
    if s.finite < s.n {
        // Some pair is not finite: count NaN and inf exactly, the slow way.
        let mut exact = ErrorStats::default();
        exact.add_pairs(r, a, limit);
        return exact;
    }
    s
}

/// The partial sums of [`chunk_stats`], fed block by block: a caller that
/// makes the results of a chunk a block at a time (the statistics of a
/// quantization, from its codes) gets the same sums, bit for bit, as one
/// call over the whole chunk, because every element lands in the same
/// lane in the same order. Only the last block fed may have a length that
/// is not a multiple of [`LANES`]; its tail is added after the lanes, as
/// [`chunk_stats`] adds it.
#[derive(Clone, Copy, Default)]
pub(crate) struct Lanes {
    mx: [f64; LANES],
    sa: [f64; LANES],
    no: [f64; LANES],
    si: [f64; LANES],
    fin: [u64; LANES],
    amx: [f64; LANES],
    over: [u64; LANES],
    flush: [u64; LANES],
    /// Pairs through the lanes.
    n: u64,
    /// The pairs after the last whole group of [`LANES`] (fewer than it).
    tail: [(f64, f64); LANES],
    tail_len: usize,
}

impl Lanes {
    /// Add a block of pairs. The lanes are copied into locals for the
    /// loop, so that they stay in vector registers.
    #[inline(always)]
    pub(crate) fn feed<A: StatFloat, B: StatFloat>(&mut self, r: &[A], a: &[B], limit: f64) {
        debug_assert_eq!(self.tail_len, 0, "only the last block may have a tail");
        let (mut mx, mut sa, mut no, mut si) = (self.mx, self.sa, self.no, self.si);
        let (mut fin, mut amx, mut over, mut flush) = (self.fin, self.amx, self.over, self.flush);
        let n = r.len().min(a.len());
        let (rb, ab) = (r[..n].chunks_exact(LANES), a[..n].chunks_exact(LANES));
        let (rt, at) = (rb.remainder(), ab.remainder());
        for (xs, ys) in rb.zip(ab) {
            for i in 0..LANES {
                let (x, y) = (xs[i].wide(), ys[i].wide());
                let ok = x.is_finite() & y.is_finite(); // |v| < inf: no branch
                let e = if ok { (y - x).abs() } else { 0.0 };
                let xv = if ok { x } else { 0.0 };
                mx[i] = mx[i].max(e);
                sa[i] += e;
                no[i] += e * e;
                si[i] += xv * xv;
                fin[i] += ok as u64;
                // Over the finite pairs only: a chunk with a non-finite value is recounted.
                amx[i] = amx[i].max(xv.abs());
                over[i] += (xv.abs() > limit) as u64;
                flush[i] += (ok & (xv != 0.0) & (y == 0.0)) as u64;
            }
        }
        (self.mx, self.sa, self.no, self.si) = (mx, sa, no, si);
        (self.fin, self.amx, self.over, self.flush) = (fin, amx, over, flush);
        self.n += (n - rt.len()) as u64;
        for (k, (x, y)) in rt.iter().zip(at).enumerate() {
            self.tail[k] = (x.wide(), y.wide());
        }
        self.tail_len = rt.len();
    }

    /// The sums: the lanes added up, then the tail pair by pair. Counts
    /// NaN and inf only in the tail; a caller whose `finite < n` recounts.
    pub(crate) fn finish(&self, limit: f64) -> ErrorStats {
        let mut s = ErrorStats {
            n: self.n,
            finite: self.fin.iter().sum(),
            max_abs: self.mx.iter().fold(0.0, |m, &v| m.max(v)),
            sum_abs: self.sa.iter().sum(),
            noise: self.no.iter().sum(),
            signal: self.si.iter().sum(),
            amax: self.amx.iter().fold(0.0, |m, &v| m.max(v)),
            overflow: self.over.iter().sum(),
            flushed: self.flush.iter().sum(),
            ..ErrorStats::default()
        };
        for &(x, y) in &self.tail[..self.tail_len] {
            s.add(x, y, limit);
        }
        s
    }
}

/// A float element type the statistics read (f32 or f64), widened exactly.
pub trait StatFloat: Copy + Send + Sync {
    fn wide(self) -> f64;
}

impl StatFloat for f32 {
    #[inline(always)]
    fn wide(self) -> f64 {
        self as f64
    }
}

impl StatFloat for f64 {
    #[inline(always)]
    fn wide(self) -> f64 {
        self
    }
}

/// Statistics of `approx` against `reference` (same length), in float64;
/// no overflow is counted (the limit is infinite). Panics if the lengths
/// differ (the binding checks them first).
pub fn error_stats<A: StatFloat, B: StatFloat>(reference: &[A], approx: &[B]) -> ErrorStats {
    assert_eq!(reference.len(), approx.len(), "error_stats: lengths differ");
    let parts: Vec<ErrorStats> = reference
        .par_chunks(CHUNK)
        .zip(approx.par_chunks(CHUNK))
        .map(|(r, a)| {
            // The widest vector build: the lanes' sums are added in the same order at every level.
            crate::fast::simd::wide(
                #[inline(always)]
                || chunk_stats(r, a, f64::INFINITY),
            )
        })
        .collect();
    let mut total = ErrorStats::default();
    for p in &parts {
        total.merge(p);
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_non_finite_and_skips_them_in_errors() {
        let x = [1.0f32, f32::NAN, f32::INFINITY, 2.0, 3.0];
        let y = [1.5f32, f32::NAN, f32::INFINITY, f32::NAN, 3.0];
        let s = error_stats(&x, &y);
        assert_eq!((s.n, s.finite), (5, 2));
        assert_eq!((s.nan_in, s.inf_in, s.nan_out, s.inf_out), (1, 1, 2, 1));
        assert_eq!(s.max_abs, 0.5);
        assert_eq!(s.noise, 0.25);
        assert_eq!(s.signal, 10.0);
    }

    #[test]
    fn lane_pass_agrees_with_the_scalar_pass() {
        let x: Vec<f32> = (0..1003)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0)
            .collect();
        let mut y: Vec<f32> = x.iter().map(|v| (v * 4.0).round() / 4.0).collect();
        let mut naive = ErrorStats::default();
        for (a, b) in x.iter().zip(&y) {
            naive.add(*a as f64, *b as f64, f64::INFINITY);
        }
        let fast = error_stats(&x, &y);
        assert_eq!(
            (fast.n, fast.finite, fast.max_abs),
            (1003, 1003, naive.max_abs)
        );
        assert!((fast.noise - naive.noise).abs() <= 1e-12 * naive.noise);
        y[500] = f32::NAN;
        y[7] = f32::INFINITY;
        let s = error_stats(&x, &y);
        assert_eq!((s.finite, s.nan_out, s.inf_out, s.nan_in), (1001, 1, 1, 0));
    }

    #[test]
    fn chunking_does_not_change_the_sums() {
        let x: Vec<f64> = (0..3 * CHUNK + 7).map(|i| (i as f64).sin()).collect();
        let y: Vec<f64> = x.iter().map(|v| (v * 64.0).round() / 64.0).collect();
        let whole = error_stats(&x, &y);
        let mut parts = error_stats(&x[..CHUNK + 3], &y[..CHUNK + 3]);
        parts.merge(&error_stats(&x[CHUNK + 3..], &y[CHUNK + 3..]));
        assert_eq!(whole.n, parts.n);
        assert_eq!(whole.max_abs, parts.max_abs);
        assert!((whole.noise - parts.noise).abs() <= 1e-12 * whole.noise);
    }
}
