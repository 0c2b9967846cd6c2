//! DeepSeek-V3's FP8 weight blocks (`fp8_block128`): a 2-D weight cut into
//! 128×128 blocks (edge blocks as if zero-padded), one float32 scale per
//! block, and each element the fp8_e4m3fn code of `x / s` (one float32
//! division, then nearest-even), as DeepSeek-V3's `weight_quant` kernel.
//!
//! Scales: `amax / 448` in float32, or with `pow2` the smallest power of two
//! `2^k ≥ amax / 448` (decided exactly: `2^k · 448 ≥ amax` in float64), so
//! that dividing by it is exact. An all-zero block gets 1 (DeepSeek's
//! formula would divide 0 by 0); a scale that underflows to 0 becomes the
//! smallest float32, 2^-149. Block rows run in parallel, each band's
//! codes in one vector loop with the lean nearest-even kernel.

use rayon::prelude::*;

use super::dequantize::float32_values;
use super::gguf_scalar::abs_max;
use crate::engine::options::EncodeOptions;
use crate::error::Error;
use crate::fast::fp32_nearest::{NearestBody, NearestElement, NearestNarrowing};
use crate::fast::simd::wide;
use crate::format::float_builtin;

/// Rows and columns of a block.
pub const BLOCK: usize = 128;

/// fp8_e4m3fn's largest finite value.
const E4M3_MAX: f32 = 448.0;

/// The smallest positive float32: the floor of every scale.
const MIN_SCALE: f32 = f32::from_bits(1);

/// The smallest power of two `≥ amax / 448` as float32 (0 when it is below
/// float32's range), decided exactly in float64.
fn pow2_at_least(amax: f32) -> f32 {
    let a = amax as f64;
    let mut k = (a / E4M3_MAX as f64).log2().ceil() as i32;
    if E4M3_MAX as f64 * 2f64.powi(k - 1) >= a {
        k -= 1;
    }
    if (E4M3_MAX as f64) * 2f64.powi(k) < a {
        k += 1;
    }
    if k < -149 {
        0.0
    } else {
        2f64.powi(k) as f32
    }
}

/// The float32 scale of a block whose largest magnitude is `amax`.
fn block_scale(amax: f32, pow2: bool) -> f32 {
    if amax == 0.0 {
        return 1.0;
    }
    let s = if pow2 {
        pow2_at_least(amax)
    } else {
        amax / E4M3_MAX
    };
    s.max(MIN_SCALE)
}

/// Check the weight's, codes' and scales' sizes against `rows × cols`.
fn check_sizes(
    rows: usize,
    cols: usize,
    w: usize,
    codes: usize,
    scales: usize,
) -> Result<(), Error> {
    let blocks = rows.div_ceil(BLOCK) * cols.div_ceil(BLOCK);
    if rows.checked_mul(cols) != Some(w) || codes != w || scales != blocks {
        return Err(Error::invalid(format!(
            "fp8_block128: a {rows}×{cols} weight needs {} values and codes and {blocks} \
             scales; got {w}, {codes}, {scales}",
            rows * cols
        )));
    }
    Ok(())
}

/// Quantize the row-major `rows × cols` weight `w` into fp8_e4m3fn `codes`
/// and the row-major block `scales` (`weight_scale_inv`, ⌈rows/128⌉ × ⌈cols/128⌉).
pub fn quantize(
    w: &[f32],
    rows: usize,
    cols: usize,
    pow2: bool,
    codes: &mut [u8],
    scales: &mut [f32],
) -> Result<(), Error> {
    check_sizes(rows, cols, w.len(), codes.len(), scales.len())?;
    if w.is_empty() {
        return Ok(());
    }
    if w.par_iter().any(|v| !v.is_finite()) {
        return Err(Error::invalid(
            "fp8_block128 holds finite values; the weight has NaN or inf",
        ));
    }
    let e4m3 = NearestNarrowing::new(&float_builtin("fp8_e4m3fn"), &EncodeOptions::default())
        .expect("the lean nearest-even kernel covers fp8_e4m3fn");
    let band = BLOCK * cols;
    w.par_chunks(band)
        .zip(codes.par_chunks_mut(band))
        .zip(scales.par_chunks_mut(cols.div_ceil(BLOCK)))
        .for_each(|((ws, cs), ss)| {
            wide(
                #[inline(always)]
                || {
                    band_scales(ws, cols, pow2, ss);
                    e4m3.with_element(BandCodes { ws, cols, ss, cs })
                },
            )
        });
    Ok(())
}

/// The columns of block `j` in a row of `cols` (the last block may be short).
#[inline(always)]
fn block_columns(j: usize, cols: usize) -> std::ops::Range<usize> {
    j * BLOCK..((j + 1) * BLOCK).min(cols)
}

/// The scales of one band of up to 128 rows, one per block of its columns.
#[inline(always)]
fn band_scales(ws: &[f32], cols: usize, pow2: bool, ss: &mut [f32]) {
    for (j, s) in ss.iter_mut().enumerate() {
        let span = block_columns(j, cols);
        let amax = ws
            .chunks(cols)
            .map(|row| abs_max(&row[span.clone()]))
            .fold(0f32, |m, a| if a > m { a } else { m });
        *s = block_scale(amax, pow2);
    }
}

/// The codes of one band, `e4m3(x / s)` with the lean nearest-even kernel
/// (its variant fixed, so each block row's 128 values are one straight
/// vector loop).
struct BandCodes<'a> {
    ws: &'a [f32],
    cols: usize,
    ss: &'a [f32],
    cs: &'a mut [u8],
}

impl NearestBody for BandCodes<'_> {
    type Out = ();

    #[inline(always)]
    fn run<V: NearestElement>(self, e4m3: V) {
        for (row, crow) in self.ws.chunks(self.cols).zip(self.cs.chunks_mut(self.cols)) {
            for (j, &s) in self.ss.iter().enumerate() {
                let span = block_columns(j, self.cols);
                for (c, &x) in crow[span.clone()].iter_mut().zip(&row[span]) {
                    *c = e4m3.code((x / s).to_bits()) as u8;
                }
            }
        }
    }
}

/// The float32 values of the codes into `out`, as DeepSeek-V3's
/// `weight_dequant`: each element `e4m3(code) · s` of its block's scale,
/// one float32 rounding (NaN codes give NaN).
pub fn dequantize(
    codes: &[u8],
    rows: usize,
    cols: usize,
    scales: &[f32],
    out: &mut [f32],
) -> Result<(), Error> {
    check_sizes(rows, cols, out.len(), codes.len(), scales.len())?;
    if codes.is_empty() {
        return Ok(());
    }
    let value = float32_values("fp8_e4m3fn");
    let band = BLOCK * cols;
    codes
        .par_chunks(band)
        .zip(out.par_chunks_mut(band))
        .zip(scales.par_chunks(cols.div_ceil(BLOCK)))
        .for_each(|((cs, os), ss)| {
            wide(
                #[inline(always)]
                || {
                    for (crow, orow) in cs.chunks(cols).zip(os.chunks_mut(cols)) {
                        for (j, &s) in ss.iter().enumerate() {
                            let span = block_columns(j, cols);
                            for (o, &c) in orow[span.clone()].iter_mut().zip(&crow[span]) {
                                *o = value[c as usize] * s;
                            }
                        }
                    }
                },
            )
        });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pow2_scales_are_the_smallest_power_at_least_amax_over_448() {
        assert_eq!(pow2_at_least(448.0), 1.0);
        assert_eq!(pow2_at_least(f32::from_bits(448f32.to_bits() + 1)), 2.0);
        assert_eq!(pow2_at_least(224.0), 0.5);
        assert_eq!(pow2_at_least(f32::from_bits(1)), 0.0); // 2^-157: below float32
        assert_eq!(block_scale(f32::from_bits(1), true), MIN_SCALE);
        assert_eq!(block_scale(0.0, false), 1.0);
    }

    #[test]
    fn edge_blocks_and_sizes() {
        let (rows, cols) = (130, 3);
        let w: Vec<f32> = (0..rows * cols).map(|i| i as f32 - 100.0).collect();
        let mut codes = vec![0u8; rows * cols];
        let mut scales = vec![0f32; 2];
        quantize(&w, rows, cols, false, &mut codes, &mut scales).unwrap();
        assert_eq!(scales, [283.0 / 448.0, 289.0 / 448.0]); // rows 0..128, then 128..130
        assert!(quantize(&w, rows, cols, false, &mut codes, &mut [0f32; 3]).is_err());
        let mut bad = w.clone();
        bad[5] = f32::NAN;
        assert!(quantize(&bad, rows, cols, false, &mut codes, &mut scales).is_err());
    }
}
