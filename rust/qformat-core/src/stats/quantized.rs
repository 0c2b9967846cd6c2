//! The error statistics of a quantization, taken from its codes.
//!
//! A checkpoint quantized to integers or MX blocks needs, for its report,
//! the errors of the dequantized values against the inputs. Writing the
//! dequantized tensor (a second code pass) and then comparing it with the
//! input reads the input three times and writes and reads a float array as
//! large as it. Here one pass reads the input and the codes (a quarter of
//! its size for 8-bit codes) and dequantizes each block of codes in the
//! first-level cache, with the arithmetic of the fused quantize-dequantize
//! pass (`quant::fake_quantize` / `fake_quantize_float`), so the values,
//! and hence the sums, are the ones that pass would give, bit for bit.
//!
//! The sums are formed per chunk of [`CHUNK`] elements counted from the
//! start of the slice and added in chunk order, exactly as [`error_stats`]
//! forms them, so the numbers equal `error_stats(x, fake_quantize(x))`
//! bit for bit and do not depend on the thread count.
//!
//! [`error_stats`]: super::error_stats

use rayon::prelude::*;

use super::{ErrorStats, Lanes, StatFloat, CHUNK};
use crate::error::Error;
use crate::fast::simd::wide;
use crate::fast::words::Bits;
pub use crate::quant::dequantize::Elements;
use crate::quant::dequantize::{check, CodeValue, FloatValues, Params, Signed, Unsigned, BLOCK};
use crate::quant::{Layout, Real};

/// Statistics of the dequantized values of `codes` (as [`Elements`] says,
/// with one scale and zero point per scale of `l`; empty `zps` means all
/// zero) against the input `x` they were quantized from. No overflow is
/// counted (the limit is infinite): the codes are already clamped.
pub fn quantized_stats<T: Real + StatFloat, D: Bits>(
    x: &[T],
    l: &Layout,
    scales: &[f64],
    zps: &[i64],
    codes: &[D],
    elements: Elements,
) -> Result<ErrorStats, Error> {
    check(x.len(), codes.len(), l, scales.len(), zps.len(), &elements)?;
    let p = Params { l, scales, zps };
    let word_bits = 8 * std::mem::size_of::<D>();
    match elements {
        Elements::Int { signed: true } => Ok(run(x, codes, &p, &Signed(64 - word_bits))),
        Elements::Int { signed: false } => Ok(run(x, codes, &p, &Unsigned)),
        Elements::Float(f) => Ok(run(x, codes, &p, &FloatValues::checked(f, codes)?)),
    }
}

/// The parallel pass: chunks as [`super::error_stats`] cuts them, each
/// dequantized and summed block by block.
fn run<T: Real + StatFloat, D: Bits, V: CodeValue<D>>(
    x: &[T],
    codes: &[D],
    p: &Params,
    v: &V,
) -> ErrorStats {
    let parts: Vec<ErrorStats> = x
        .par_chunks(CHUNK)
        .zip(codes.par_chunks(CHUNK))
        .enumerate()
        .map(|(c, (xs, cs))| {
            wide(
                #[inline(always)]
                || chunk(xs, cs, c * CHUNK, p, v),
            )
        })
        .collect();
    let mut total = ErrorStats::default();
    for part in &parts {
        total.merge(part);
    }
    total
}

/// One chunk whose first element has flat index `base`: the lanes fed one
/// dequantized block at a time; a chunk with a non-finite pair is counted
/// again by the scalar pass, as [`super::chunk_stats`] does.
#[inline(always)]
fn chunk<T: Real + StatFloat, D: Bits, V: CodeValue<D>>(
    xs: &[T],
    cs: &[D],
    base: usize,
    p: &Params,
    v: &V,
) -> ErrorStats {
    let limit = f64::INFINITY;
    let mut ys = [T::default(); BLOCK];
    let mut lanes = Lanes::default();
    for (b, (xb, cb)) in xs.chunks(BLOCK).zip(cs.chunks(BLOCK)).enumerate() {
        let ys = &mut ys[..xb.len()];
        p.dequantize(cb, base + b * BLOCK, v, ys);
        lanes.feed(xb, ys, limit);
    }
    let s = lanes.finish(limit);
    if s.finite == s.n {
        return s;
    }
    let mut exact = ErrorStats::default();
    for (b, (xb, cb)) in xs.chunks(BLOCK).zip(cs.chunks(BLOCK)).enumerate() {
        let ys = &mut ys[..xb.len()];
        p.dequantize(cb, base + b * BLOCK, v, ys);
        exact.add_pairs(xb, ys, limit);
    }
    exact
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rounding::RoundingMode;
    use crate::format::float_builtin;
    use crate::quant::{
        fake_quantize, fake_quantize_float, quantize, quantize_float, Arithmetic,
        FloatQuantOptions, QuantOptions,
    };
    use crate::stats::error_stats;

    /// 96 × 2080 (2080 = 65 groups of 32): a bit over three chunks, rows
    /// that are not a multiple of a block, every granularity.
    const SHAPE: [usize; 2] = [96, 2080];
    const LAYOUTS: [(Option<i64>, Option<usize>); 5] = [
        (None, None),
        (Some(0), None),
        (Some(1), None),
        (Some(1), Some(32)),
        (Some(0), Some(32)),
    ];

    /// Values in about ±1.5 (so some codes clamp), a few tiny ones and, with
    /// `specials`, NaN, ±inf, ±0 and a subnormal.
    fn data(specials: bool) -> Vec<f32> {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut v: Vec<f32> = (0..SHAPE[0] * SHAPE[1])
            .map(|i| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let u = (state >> 40) as f32 / (1u64 << 24) as f32 * 3.0 - 1.5;
                if i % 97 == 0 {
                    u * 1e-5
                } else {
                    u
                }
            })
            .collect();
        if specials {
            for (i, s) in [
                f32::NAN,
                f32::INFINITY,
                -f32::INFINITY,
                -0.0,
                f32::from_bits(3),
            ]
            .into_iter()
            .enumerate()
            {
                v[i * 40_009 + 11] = s;
            }
        }
        v
    }

    /// One scale per parameter: float32 values unless `wide` (then the
    /// fused pass takes its float64 loop).
    fn scales(l: &Layout, top: f64, wide: bool) -> Vec<f64> {
        (0..l.n_params())
            .map(|p| {
                let s = (0.5 + (p % 7) as f64 * 0.37) / top;
                if wide {
                    s * (1.0 + 1e-12)
                } else {
                    s as f32 as f64
                }
            })
            .collect()
    }

    /// The statistics from the codes equal `error_stats(x, fake_quantize(x))`
    /// bit for bit (compared through `{:?}`, which tells -0.0 from 0.0).
    fn int_case<T: Real + StatFloat, D: Bits>(x: &[T], o: &QuantOptions, asym: bool, wide: bool) {
        for (axis, group) in LAYOUTS {
            let l = Layout::new(&SHAPE, axis, group).unwrap();
            let s = scales(&l, o.qmax as f64, wide);
            let z: Vec<i64> = if asym {
                (0..l.n_params()).map(|p| 100 + (p % 50) as i64).collect()
            } else {
                vec![]
            };
            let (mut codes, mut fake) = (vec![D::default(); x.len()], vec![T::default(); x.len()]);
            quantize(x, &l, &s, &z, o, &mut codes).unwrap();
            fake_quantize(x, &l, &s, &z, o, &mut fake).unwrap();
            let got = quantized_stats(x, &l, &s, &z, &codes, Elements::Int { signed: o.qmin < 0 });
            let want = error_stats(x, &fake);
            assert_eq!(
                format!("{:?}", got.unwrap()),
                format!("{want:?}"),
                "{axis:?} {group:?} {o:?}"
            );
        }
    }

    fn int_opts(qmin: i64, qmax: i64) -> QuantOptions {
        QuantOptions {
            rounding: RoundingMode::NearestEven,
            seed: 0,
            arithmetic: Arithmetic::Exact,
            qmin,
            qmax,
            nan: Some(0),
        }
    }

    #[test]
    fn int8_equals_the_fused_pass_in_every_layout_and_mode() {
        let x = data(true);
        let base = int_opts(-127, 127);
        int_case::<f32, u8>(&x, &base, false, false);
        int_case::<f32, u8>(&x, &base, false, true);
        for rounding in [
            RoundingMode::Stochastic,
            RoundingMode::Down,
            RoundingMode::NearestAway,
        ] {
            int_case::<f32, u8>(
                &x,
                &QuantOptions {
                    rounding,
                    seed: 5,
                    ..base
                },
                false,
                false,
            );
        }
        let torch = QuantOptions {
            arithmetic: Arithmetic::Torch,
            ..base
        };
        int_case::<f32, u8>(&x, &torch, false, false);
        let x64: Vec<f64> = x.iter().map(|&v| v as f64 * 1.000_000_1).collect();
        int_case::<f64, u8>(&x64, &base, false, true);
    }

    #[test]
    fn unsigned_narrow_and_wide_codes_equal_the_fused_pass() {
        let x = data(false);
        int_case::<f32, u8>(&x, &int_opts(0, 255), true, false);
        int_case::<f32, u8>(&x, &int_opts(-7, 7), false, false);
        int_case::<f32, u16>(&x, &int_opts(-32767, 32767), false, false);
        int_case::<f32, u32>(&x, &int_opts(-(1 << 30), 1 << 30), false, true);
    }

    fn float_case(x: &[f32], elem: &str, o: &FloatQuantOptions, pow2: bool) {
        let f = float_builtin(elem);
        for (axis, group) in LAYOUTS {
            let l = Layout::new(&SHAPE, axis, group).unwrap();
            let s: Vec<f64> = scales(&l, 6.0, false)
                .iter()
                .map(|&v| {
                    if pow2 {
                        2f64.powi(v.log2().floor() as i32)
                    } else {
                        v
                    }
                })
                .collect();
            let (mut codes, mut fake) = (vec![0u8; x.len()], vec![0f32; x.len()]);
            quantize_float(x, &l, &s, &f, o, &mut codes).unwrap();
            fake_quantize_float(x, &l, &s, &f, o, &mut fake).unwrap();
            let got = quantized_stats(x, &l, &s, &[], &codes, Elements::Float(&f)).unwrap();
            let want = error_stats(x, &fake);
            assert_eq!(
                format!("{got:?}"),
                format!("{want:?}"),
                "{elem} {axis:?} {group:?}"
            );
        }
    }

    #[test]
    fn float_elements_equal_the_fused_pass() {
        let x = data(true);
        let nearest = FloatQuantOptions {
            rounding: RoundingMode::NearestEven,
            seed: 0,
            nan: Some(0x7f),
        };
        for elem in ["fp8_e4m3fn", "fp8_e5m2"] {
            float_case(&x, elem, &nearest, true);
            float_case(&x, elem, &nearest, false);
        }
        let x = data(false);
        let stochastic = FloatQuantOptions {
            rounding: RoundingMode::Stochastic,
            seed: 9,
            nan: None,
        };
        let no_nan = FloatQuantOptions {
            nan: None,
            ..nearest
        };
        float_case(&x, "fp4_e2m1fn", &no_nan, true);
        float_case(&x, "fp6_e2m3fn", &stochastic, true);
    }

    #[test]
    fn mismatches_are_errors() {
        let l = Layout::new(&[4], None, None).unwrap();
        let x = [1.0f32; 4];
        let int = Elements::Int { signed: true };
        assert!(quantized_stats(&x, &l, &[1.0], &[], &[0u8; 3], int).is_err());
        assert!(quantized_stats(&x, &l, &[1.0, 2.0], &[], &[0u8; 4], int).is_err());
        assert!(quantized_stats(&x, &l, &[1.0], &[0, 0], &[0u8; 4], int).is_err());
        let e4m3 = float_builtin("fp8_e4m3fn");
        let fp4_e2m1 = float_builtin("fp4_e2m1fn");
        let fp4 = Elements::Float(&fp4_e2m1);
        assert!(quantized_stats(&x, &l, &[1.0], &[0], &[0u8; 4], Elements::Float(&e4m3)).is_err());
        assert!(quantized_stats(&x, &l, &[1.0], &[], &[0u8, 1, 16, 2], fp4).is_err());
        let ok = quantized_stats(&x, &l, &[1.0], &[], &[0u8, 1, 15, 2], fp4).unwrap();
        assert_eq!((ok.n, ok.finite), (4, 4));
    }

    /// A code past the element format's bits is refused wherever it lies:
    /// the first element, either side of a chunk boundary, the last one,
    /// in 8- and 16-bit words (a range check that skips a chunk, or a
    /// tail shorter than its vector, fails here).
    #[test]
    fn codes_past_the_element_bits_are_refused_in_any_chunk() {
        let n = 3 * CHUNK + 5;
        let l = Layout::new(&[n], None, None).unwrap();
        let x = vec![0.5f32; n];
        let (fp4_e2m1, e4m3) = (float_builtin("fp4_e2m1fn"), float_builtin("fp8_e4m3fn"));
        let (fp4, fp8) = (Elements::Float(&fp4_e2m1), Elements::Float(&e4m3));
        assert!(quantized_stats(&x, &l, &[1.0], &[], &vec![15u8; n], fp4).is_ok());
        assert!(quantized_stats(&x, &l, &[1.0], &[], &vec![0xffu16; n], fp8).is_ok());
        for at in [0, CHUNK - 1, CHUNK, 2 * CHUNK + 7, n - 1] {
            let mut c8 = vec![15u8; n];
            c8[at] = 16;
            assert!(
                quantized_stats(&x, &l, &[1.0], &[], &c8, fp4).is_err(),
                "{at}"
            );
            let mut c16 = vec![0xffu16; n];
            c16[at] = 0x100;
            assert!(
                quantized_stats(&x, &l, &[1.0], &[], &c16, fp8).is_err(),
                "{at}"
            );
        }
    }
}
