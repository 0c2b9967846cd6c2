//! NVFP4 (NVIDIA's two-level FP4): e2m1 elements, one e4m3 scale per 16
//! values and one float32 scale per tensor, in torchao's float32 arithmetic
//! (`nvfp4_quantize` with a per-tensor scale), so the codes are bit-equal.
//!
//! Per tensor: `t = amax / (448 * 6)`. Per block of 16: `b = absmax / 6`,
//! its e4m3 code `e = e4m3(clamp(b / t, 2^-6, 448))` (nearest even), then the
//! elements `e2m1(clamp(x * ((1 / t) / e), -6, 6))` (nearest even). Each
//! operation is one float32 rounding, in torchao's order: a reciprocal
//! multiply, not a division, as its fused GPU kernel does.

use rayon::prelude::*;

use crate::engine::options::EncodeOptions;
use crate::error::Error;
use crate::fast::fp32::Fp32Narrowing;
use crate::fast::simd::wide;
use crate::format::float_builtin;

/// Values per block.
pub const BLOCK: usize = 16;

/// Blocks per parallel task.
const BLOCKS_PER_TASK: usize = 4096;

/// The largest e2m1 and e4m3 values.
const E2M1_MAX: f32 = 6.0;
const E4M3_MAX: f32 = 448.0;

/// e4m3's smallest normal: torchao clamps block scales up to it, so an
/// all-zero block (or one far below the tensor's maximum) keeps a usable scale.
const E4M3_TINY: f32 = 0.015625;

/// The per-tensor scale torchao derives from the tensor's largest magnitude.
pub fn tensor_scale(amax: f32) -> f32 {
    amax / (E4M3_MAX * E2M1_MAX)
}

/// The largest magnitude of `x` (NaN and inf refused: they have no NVFP4 code).
pub fn absmax(x: &[f32]) -> Result<f32, Error> {
    if let Some(i) = x.par_iter().position_any(|v| !v.is_finite()) {
        return Err(Error::invalid(format!(
            "NVFP4 holds finite values; element {i} is {}",
            x[i]
        )));
    }
    Ok(x.par_chunks(1 << 16)
        .map(|c| c.iter().fold(0f32, |m, v| m.max(v.abs())))
        .reduce(|| 0.0, f32::max))
}

/// The two conversions of the recipe, nearest even.
struct Kernels {
    e4m3: Fp32Narrowing,
    e2m1: Fp32Narrowing,
}

impl Kernels {
    fn new() -> Self {
        let k = |name| {
            Fp32Narrowing::new(&float_builtin(name), &EncodeOptions::default())
                .expect("the float32 kernel covers fp8 and fp4")
        };
        Kernels {
            e4m3: k("fp8_e4m3fn"),
            e2m1: k("fp4_e2m1fn"),
        }
    }

    #[inline(always)]
    /// One block: its e4m3 scale code, and its 16 e2m1 codes packed two per
    /// byte (element 2i in the low nibble, as torch's float4_e2m1fn_x2).
    fn block(&self, xs: &[f32], inv_t: f32, t: f32, packed: &mut [u8]) -> u8 {
        let amax = xs.iter().fold(0f32, |m, v| m.max(v.abs()));
        let scaled = (amax / E2M1_MAX) / t;
        let code = self
            .e4m3
            .convert(scaled.clamp(E4M3_TINY, E4M3_MAX).to_bits(), 0);
        let s = f32::from_bits(self.e4m3.widen(code));
        let r = inv_t / s;
        // Codes first, in a plain loop the compiler vectorises, then packed.
        let mut codes = [0u32; BLOCK];
        for (c, &x) in codes.iter_mut().zip(xs) {
            *c = self
                .e2m1
                .convert((x * r).clamp(-E2M1_MAX, E2M1_MAX).to_bits(), 0);
        }
        for (i, p) in packed.iter_mut().enumerate() {
            *p = (codes[2 * i] | (codes[2 * i + 1] << 4)) as u8;
        }
        code as u8
    }
}

/// Quantize `x` (whole blocks of 16) with the per-tensor scale `t`: block
/// scale codes into `scales` (one e4m3 byte per block) and elements into
/// `packed` (8 bytes per block).
pub fn quantize(x: &[f32], t: f32, scales: &mut [u8], packed: &mut [u8]) -> Result<(), Error> {
    let blocks = x.len() / BLOCK;
    if !x.len().is_multiple_of(BLOCK)
        || scales.len() != blocks
        || packed.len() != blocks * BLOCK / 2
    {
        return Err(Error::invalid(format!(
            "NVFP4 needs whole blocks of {BLOCK} values (got {}), one scale byte and {} packed \
             bytes per block",
            x.len(),
            BLOCK / 2
        )));
    }
    if !(t.is_finite() && t > 0.0 && (1.0 / t).is_finite()) {
        return Err(Error::invalid(format!(
            "the NVFP4 per-tensor scale must be positive with a finite reciprocal, not {t}"
        )));
    }
    let k = Kernels::new();
    let inv_t = 1.0 / t;
    x.par_chunks(BLOCK * BLOCKS_PER_TASK)
        .zip(scales.par_chunks_mut(BLOCKS_PER_TASK))
        .zip(packed.par_chunks_mut(BLOCK / 2 * BLOCKS_PER_TASK))
        .for_each(|((xs, ss), ps)| {
            wide(
                #[inline(always)]
                || {
                    for ((xb, s), pb) in xs.chunks(BLOCK).zip(ss).zip(ps.chunks_mut(BLOCK / 2)) {
                        *s = k.block(xb, inv_t, t, pb);
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
    fn a_block_at_the_tensor_maximum_uses_the_full_e4m3_range() {
        let mut x = [0f32; BLOCK];
        x[0] = 2688.0;
        x[1] = -1.0;
        let t = tensor_scale(2688.0);
        assert_eq!(t, 1.0);
        let (mut s, mut p) = ([0u8; 1], [0u8; 8]);
        quantize(&x, t, &mut s, &mut p).unwrap();
        assert_eq!(s[0], 0x7e); // 448
        assert_eq!(p[0] & 0xf, 0x7); // 6.0
        assert_eq!(p[0] >> 4, 0x8); // -1/448 rounds to -0
    }

    #[test]
    fn zero_blocks_get_the_smallest_normal_scale() {
        let x = [0f32; BLOCK];
        let (mut s, mut p) = ([0u8; 1], [0u8; 8]);
        quantize(&x, 1.0, &mut s, &mut p).unwrap();
        assert_eq!(s[0], 0x08); // 2^-6
        assert_eq!(p, [0; 8]);
    }
}
