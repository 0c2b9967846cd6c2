//! A float conversion that reports its own statistics.
//!
//! A checkpoint conversion wants the codes and, for its report, how far the
//! results are from the inputs. Decoding the codes into a float array and
//! then comparing it with the input would read the input twice and write
//! and read a third array as large as it. Here each fixed chunk is
//! converted by the same prepared [`Conversion`] as `encode_slice` (so the
//! codes are the same bits) and its statistics are taken right after, in
//! blocks small enough to stay in the first-level cache.

use rayon::prelude::*;

use super::{chunk_stats, ErrorStats};
use crate::engine::options::{EncodeOptions, NanPolicy};
use crate::error::Error;
use crate::fast::fp32::Fp32Narrowing;
use crate::fast::simd::wide;
use crate::fast::slices::Conversion;
use crate::fast::table::decode_table;
use crate::fast::words::{Bits, CHUNK};
use crate::format::{float_layout, FloatFormat};

/// Elements widened to float64 at a time for the statistics: two blocks of
/// 8 KiB each, so they stay in the first-level cache.
const BLOCK: usize = 1024;

/// Exact float64 values of one format's patterns, by the cheapest way for
/// that format, chosen once per call.
enum Values<'a> {
    F32,
    F64,
    /// Formats of at most 8 bits (and 16-bit ones the float32 kernel cannot
    /// widen): every value, decoded once by the engine.
    Table(Vec<f64>),
    /// bf16, fp16 and the other formats the float32 kernel widens exactly,
    /// with no table to fill per call.
    Narrow(Fp32Narrowing),
    /// Wider formats (tf32, custom ones): the engine per element.
    Engine(&'a FloatFormat),
}

impl<'a> Values<'a> {
    fn new(fmt: &'a FloatFormat) -> Self {
        if *fmt == *float_layout("fp32") {
            Values::F32
        } else if *fmt == *float_layout("fp64") {
            Values::F64
        } else if fmt.bits() <= 8 {
            Values::Table(table(fmt))
        } else if let Some(k) = Fp32Narrowing::new(fmt, &EncodeOptions::default()) {
            Values::Narrow(k)
        } else if fmt.bits() <= 16 {
            Values::Table(table(fmt))
        } else {
            Values::Engine(fmt)
        }
    }

    /// The value of one pattern.
    fn of(&self, bits: u64) -> f64 {
        let mut out = [0.0];
        self.fill(&[bits], &mut out);
        out[0]
    }

    /// `out[i]` = the value of `src[i]`; the choice is made once, outside
    /// the loops, so each loop is a straight (vectorisable) one.
    #[inline(always)]
    fn fill<S: Bits>(&self, src: &[S], out: &mut [f64]) {
        let pairs = out.iter_mut().zip(src);
        match self {
            Values::F32 => pairs.for_each(|(o, &b)| *o = f32::from_bits(b.to_u64() as u32) as f64),
            Values::F64 => pairs.for_each(|(o, &b)| *o = f64::from_bits(b.to_u64())),
            Values::Table(t) => {
                let mask = t.len() - 1;
                let t = &t[..=mask];
                pairs.for_each(|(o, &b)| *o = t[b.to_u64() as usize & mask]);
            }
            Values::Narrow(k) => pairs.for_each(|(o, &b)| {
                *o = f32::from_bits(k.widen(b.to_u64() as u32)) as f64;
            }),
            Values::Engine(f) => pairs.for_each(|(o, &b)| *o = engine_value(f, b.to_u64())),
        }
    }
}

/// Every value of a narrow format, by the engine.
fn table(fmt: &FloatFormat) -> Vec<f64> {
    let words: Vec<u64> = decode_table(fmt, float_layout("fp64"));
    words.into_iter().map(f64::from_bits).collect()
}

/// A pattern's exact value through the engine (NaN stays NaN).
fn engine_value(fmt: &FloatFormat, bits: u64) -> f64 {
    let keep = EncodeOptions {
        nan: NanPolicy::Preserve,
        ..EncodeOptions::nearest_even()
    };
    f64::from_bits(float_layout("fp64").encode(fmt.unpack(bits), &keep, 0))
}

/// Encode `src` (patterns of `src_fmt`) into `dst` (patterns of `fmt`),
/// bit for bit as `encode_slice` does, and return the statistics of the
/// results against the inputs (errors, NaN/inf counts, amax, the inputs
/// beyond `fmt`'s largest finite value, the nonzero inputs flushed to
/// zero), taken from the same pass. Sums are formed per fixed chunk and
/// added in chunk order, so they do not depend on the thread count.
pub fn encode_with_stats<S: Bits, D: Bits>(
    src_fmt: &FloatFormat,
    src: &[S],
    fmt: &FloatFormat,
    dst: &mut [D],
    opts: &EncodeOptions,
) -> Result<ErrorStats, Error> {
    if src.len() != dst.len() {
        return Err(Error::invalid("input and output lengths differ"));
    }
    let conversion = Conversion::new(src_fmt, fmt, opts, false)?;
    conversion.check_nans(src)?;
    let (inputs, results) = (Values::new(src_fmt), Values::new(fmt));
    let limit = results.of(fmt.max_code());
    let draws = opts.seeded();
    let parts: Vec<Option<ErrorStats>> = dst
        .par_chunks_mut(CHUNK)
        .zip(src.par_chunks(CHUNK))
        .enumerate()
        .map(|(c, (d, s))| {
            let converted = conversion.run_chunk(c * CHUNK, s, d, &draws);
            converted.then(|| chunk_of(&inputs, &results, s, d, limit))
        })
        .collect();
    let mut total = ErrorStats::default();
    for p in parts {
        total.merge(&p.ok_or_else(|| conversion.wide_pattern_error())?);
    }
    Ok(total)
}

/// Statistics of one converted chunk, block by block, compiled for the
/// widest vector instructions this CPU has (the sums are added in the same
/// order at every level, so they do not depend on it).
fn chunk_of<S: Bits, D: Bits>(
    inputs: &Values,
    results: &Values,
    src: &[S],
    dst: &[D],
    limit: f64,
) -> ErrorStats {
    wide(
        #[inline(always)]
        || {
            let (mut xs, mut ys) = ([0f64; BLOCK], [0f64; BLOCK]);
            let mut total = ErrorStats::default();
            for (s, d) in src.chunks(BLOCK).zip(dst.chunks(BLOCK)) {
                let n = s.len();
                inputs.fill(s, &mut xs[..n]);
                results.fill(d, &mut ys[..n]);
                total.merge(&chunk_stats(&xs[..n], &ys[..n], limit));
            }
            total
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fast::slices::encode_slice;
    use crate::format::float_builtin;

    /// The statistics as a plain element-by-element loop over exact values.
    fn naive(xs: &[f64], ys: &[f64], limit: f64) -> ErrorStats {
        let mut s = ErrorStats::default();
        for (&x, &y) in xs.iter().zip(ys) {
            s.add(x, y, limit);
        }
        s
    }

    fn inputs() -> Vec<f32> {
        let mut v: Vec<f32> = (0..3 * CHUNK + 77)
            .map(|i| ((i as f32) * 0.37).sin() * 600.0 * if i % 7 == 0 { 1e-6 } else { 1.0 })
            .collect();
        v[5] = f32::NAN;
        v[CHUNK + 1] = f32::INFINITY;
        v[2 * CHUNK + 3] = -f32::INFINITY;
        v[9] = f32::from_bits(1); // the smallest subnormal
        v[10] = -0.0;
        v
    }

    #[test]
    fn codes_equal_encode_slice_and_sums_equal_a_naive_pass() {
        let x = inputs();
        let bits: Vec<u32> = x.iter().map(|v| v.to_bits()).collect();
        let (fp32, e4m3) = (float_builtin("fp32"), float_builtin("fp8_e4m3fn"));
        let opts = EncodeOptions {
            nan: NanPolicy::Preserve,
            overflow: crate::Overflow::Saturate,
            ..EncodeOptions::nearest_even()
        };
        let (mut fused, mut plain) = (vec![0u8; x.len()], vec![0u8; x.len()]);
        let s = encode_with_stats(&fp32, &bits, &e4m3, &mut fused, &opts).unwrap();
        encode_slice(&fp32, &bits, &e4m3, &mut plain, &opts).unwrap();
        assert_eq!(fused, plain);
        let ys: Vec<f64> = fused
            .iter()
            .map(|&c| engine_value(&e4m3, c as u64))
            .collect();
        let xs: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        let n = naive(&xs, &ys, 448.0);
        assert_eq!((s.n, s.finite, s.nan_in, s.inf_in), (n.n, n.finite, 1, 2));
        assert_eq!((s.nan_out, s.inf_out), (n.nan_out, n.inf_out));
        assert_eq!((s.amax, s.max_abs), (n.amax, n.max_abs));
        assert_eq!((s.overflow, s.flushed), (n.overflow, n.flushed));
        assert!(s.overflow > 0 && s.flushed > 0);
        assert!((s.noise - n.noise).abs() <= 1e-12 * n.noise);
    }

    #[test]
    fn a_pattern_wider_than_the_source_is_an_error() {
        let bf16 = float_builtin("bf16");
        let mut out = [0u8; 2];
        let r = encode_with_stats(
            &bf16,
            &[0u32, 1 << 20],
            &float_builtin("fp8_e5m2"),
            &mut out,
            &EncodeOptions::nearest_even(),
        );
        assert!(r.is_err());
    }
}
