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

use super::dequantize::float32_values;
use crate::engine::options::EncodeOptions;
use crate::error::Error;
use crate::fast::fp32::Fp32Narrowing;
use crate::fast::fp32_nearest::{NearestBody, NearestElement, NearestNarrowing};
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

/// float32 infinity's pattern.
const INF_BITS: u32 = 0x7f80_0000;

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

/// The two conversions of the recipe, nearest even: e4m3 for the block
/// scales (one per 16 values, so the general kernel's scalar form), e2m1
/// for the elements (the lean nearest-even kernel, fused into the block
/// loop so that a block's 16 values are one vector).
struct Kernels {
    e4m3: Fp32Narrowing,
    e2m1: NearestNarrowing,
}

impl Kernels {
    fn new() -> Self {
        let opts = EncodeOptions::default();
        Kernels {
            e4m3: Fp32Narrowing::new(&float_builtin("fp8_e4m3fn"), &opts)
                .expect("the float32 kernel covers fp8"),
            e2m1: NearestNarrowing::new(&float_builtin("fp4_e2m1fn"), &opts)
                .expect("the lean nearest-even kernel covers fp4"),
        }
    }

    /// One block's e4m3 scale code and the float32 factor `(1 / t) / s`
    /// its elements are multiplied by (`s` the code's value).
    #[inline(always)]
    fn block_scale(&self, xs: &[f32], inv_t: f32, t: f32) -> (u8, f32) {
        let amax = f32::from_bits(xs.iter().fold(0, |m, v| m.max(abs_bits(*v))));
        let scaled = (amax / E2M1_MAX) / t;
        let code = self
            .e4m3
            .convert(scaled.clamp(E4M3_TINY, E4M3_MAX).to_bits(), 0);
        let s = f32::from_bits(self.e4m3.widen(code));
        (code as u8, inv_t / s)
    }
}

/// `|v|`'s pattern, with a NaN's taken as +0: the integer maximum of
/// these is the pattern of `fold(0, f32::max)` over `|v|` (which skips
/// NaNs), and it vectorises where the float form's NaN handling does not.
#[inline(always)]
fn abs_bits(v: f32) -> u32 {
    let a = v.to_bits() & 0x7fff_ffff;
    if a > INF_BITS {
        0
    } else {
        a
    }
}

/// The block loop of one task with the e2m1 kernel's variant fixed:
/// per block its scale, then its 16 codes, packed two per byte (element
/// 2i in the low nibble, as torch's float4_e2m1fn_x2).
struct Blocks<'a> {
    k: &'a Kernels,
    xs: &'a [f32],
    scales: &'a mut [u8],
    packed: &'a mut [u8],
    inv_t: f32,
    t: f32,
}

impl NearestBody for Blocks<'_> {
    type Out = ();

    #[inline(always)]
    fn run<V: NearestElement>(self, e2m1: V) {
        let blocks = self.xs.chunks_exact(BLOCK);
        let outs = self
            .scales
            .iter_mut()
            .zip(self.packed.chunks_exact_mut(BLOCK / 2));
        for (xb, (s, pb)) in blocks.zip(outs) {
            let (code, r) = self.k.block_scale(xb, self.inv_t, self.t);
            *s = code;
            let mut codes = [0u32; BLOCK];
            for (c, &x) in codes.iter_mut().zip(xb) {
                *c = e2m1.code((x * r).clamp(-E2M1_MAX, E2M1_MAX).to_bits());
            }
            for (i, p) in pb.iter_mut().enumerate() {
                *p = (codes[2 * i] | (codes[2 * i + 1] << 4)) as u8;
            }
        }
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
            let body = Blocks {
                k: &k,
                xs,
                scales: ss,
                packed: ps,
                inv_t,
                t,
            };
            wide(
                #[inline(always)]
                || k.e2m1.with_element(body),
            )
        });
    Ok(())
}

/// The float32 values of NVFP4 codes into `out`, as torchao's
/// `dequantize` forms them: a block's scale `e4m3(scale) · t` rounded to
/// float32 once, then each element `e2m1(code) · scale` (one rounding
/// each; a NaN scale code gives NaN values). `packed` holds 8 bytes per
/// block of 16 (element 2i in the low nibble), `scales` one e4m3 byte.
pub fn dequantize(packed: &[u8], scales: &[u8], t: f32, out: &mut [f32]) -> Result<(), Error> {
    let blocks = scales.len();
    if packed.len() != blocks * BLOCK / 2 || out.len() != blocks * BLOCK {
        return Err(Error::invalid(format!(
            "NVFP4 dequantize needs {} packed bytes and {} outputs for {blocks} block scales, \
             not {} and {}",
            blocks * BLOCK / 2,
            blocks * BLOCK,
            packed.len(),
            out.len()
        )));
    }
    let scale_values = float32_values("fp8_e4m3fn");
    let element: [f32; 16] = float32_values("fp4_e2m1fn")
        .try_into()
        .expect("e2m1 has 16 codes");
    packed
        .par_chunks(BLOCK / 2 * BLOCKS_PER_TASK)
        .zip(scales.par_chunks(BLOCKS_PER_TASK))
        .zip(out.par_chunks_mut(BLOCK * BLOCKS_PER_TASK))
        .for_each(|((ps, ss), os)| {
            wide(
                #[inline(always)]
                || {
                    let outs = os.chunks_exact_mut(BLOCK);
                    for ((pb, &s), ob) in ps.chunks_exact(BLOCK / 2).zip(ss).zip(outs) {
                        let scale = scale_values[s as usize] * t;
                        for (pair, o) in pb.iter().zip(ob.chunks_exact_mut(2)) {
                            o[0] = element[(pair & 0xf) as usize] * scale;
                            o[1] = element[(pair >> 4) as usize] * scale;
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

    /// Every (element code, scale code) pair's value is the engine's
    /// e2m1 value times the float32 product of its e4m3 value and `t`,
    /// each product rounded once in float32; the low nibble is element 2i.
    #[test]
    fn dequantized_values_are_the_engine_values_times_the_scale() {
        let opts = EncodeOptions::default();
        let fp32 = float_builtin("fp32");
        let value = |name, code| {
            let fmt = float_builtin(name);
            f32::from_bits(fp32.encode(fmt.unpack(code), &opts, 0) as u32)
        };
        let scales: Vec<u8> = (0..=255).collect();
        let packed: Vec<u8> = (0..256 * 8)
            .map(|i| ((i % 8 * 2) | ((i % 8 * 2 + 1) << 4)) as u8)
            .collect();
        for t in [1.0f32, 0.3, 2f32.powi(-127), 3.0e36] {
            let mut out = vec![0f32; 256 * BLOCK];
            dequantize(&packed, &scales, t, &mut out).unwrap();
            for (i, &got) in out.iter().enumerate() {
                let s = value("fp8_e4m3fn", (i / BLOCK) as u64) * t;
                let want = value("fp4_e2m1fn", (i % BLOCK) as u64) * s;
                assert_eq!(got.to_bits(), want.to_bits(), "t={t:e} element {i}");
            }
        }
        let err = dequantize(&packed, &scales[1..], 1.0, &mut [0f32; 256 * BLOCK]);
        assert!(err.is_err());
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
