//! Error statistics of a conversion: one parallel pass over the input and
//! its converted (dequantized) values. Errors are taken over the elements
//! whose input and result are both finite; non-finite inputs and results
//! are counted, so a report never hides a NaN or an infinity.

use rayon::prelude::*;

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
    }

    fn add(&mut self, x: f64, y: f64) {
        self.n += 1;
        let (fx, fy) = (x.is_finite(), y.is_finite());
        self.nan_in += x.is_nan() as u64;
        self.inf_in += x.is_infinite() as u64;
        self.nan_out += y.is_nan() as u64;
        self.inf_out += y.is_infinite() as u64;
        if fx && fy {
            let e = y - x;
            self.finite += 1;
            self.max_abs = self.max_abs.max(e.abs());
            self.sum_abs += e.abs();
            self.noise += e * e;
            self.signal += x * x;
        }
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

/// Statistics of `approx` against `reference` (same length), in float64.
/// Panics if the lengths differ (the binding checks them first).
pub fn error_stats<A: StatFloat, B: StatFloat>(reference: &[A], approx: &[B]) -> ErrorStats {
    assert_eq!(reference.len(), approx.len(), "error_stats: lengths differ");
    let parts: Vec<ErrorStats> = reference
        .par_chunks(CHUNK)
        .zip(approx.par_chunks(CHUNK))
        .map(|(r, a)| {
            let mut s = ErrorStats::default();
            for (x, y) in r.iter().zip(a) {
                s.add(x.wide(), y.wide());
            }
            s
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
