//! GGUF (llama.cpp) block types: Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 and MXFP4
//! (32 values per block) and the ternary TQ1_0, TQ2_0 ([`super::gguf_ternary`],
//! 256 values) byte for byte as gguf-py's `quants.py` writes them; the
//! K-quants Q4_K, Q5_K, Q6_K ([`super::gguf_kquants`], 256 values) as
//! llama.cpp's reference quantizers write them (gguf-py has none).
//!
//! Every block holds consecutive values of a row. gguf-py computes in
//! float32 with NumPy, one IEEE rounding per operation, and this module
//! repeats those operations in the same order (no fused multiply-add), so
//! the bytes agree. Three NumPy behaviours are part of the result and are
//! reproduced on purpose:
//! * float32 → uint8/int8 casts go through a 32-bit integer conversion and
//!   keep its low byte; NaN, ±inf and out-of-range values become the
//!   "integer indefinite" 0x8000_0000, whose low byte is 0 ([`np_cast_byte`]).
//!   This decides the codes of blocks so tiny that `1/d` overflows.
//! * `min`/`max` reductions return the *last* of equal candidates, which
//!   only shows in the sign of a zero minimum (Q4_1/Q5_1's stored `m`).
//! * `argmax`/`argmin` return the first.
//!
//! Scales are stored as IEEE half precision (nearest even, overflow to inf),
//! MXFP4's as an e8m0 exponent. Non-finite inputs are refused: gguf-py turns
//! them into meaningless bytes.

use rayon::prelude::*;

use crate::error::Error;
use crate::fast::simd::wide;

use super::gguf_kquants::{self as kquants, QK_K};
use super::gguf_scalar::{abs_max, np_cast_byte, Half};
use super::gguf_ternary as ternary;

/// Values per block of the 32-value types.
pub const BLOCK: usize = 32;

/// Values per parallel task: big enough to amortise rayon's scheduling.
const VALUES_PER_TASK: usize = 65_536;

/// A GGUF block type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GgufType {
    Q8_0,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Mxfp4,
    Q4K,
    Q5K,
    Q6K,
    Tq1_0,
    Tq2_0,
}

impl GgufType {
    /// Every type, in the order of their names.
    pub const ALL: [GgufType; 11] = [
        GgufType::Q8_0,
        GgufType::Q4_0,
        GgufType::Q4_1,
        GgufType::Q5_0,
        GgufType::Q5_1,
        GgufType::Mxfp4,
        GgufType::Q4K,
        GgufType::Q5K,
        GgufType::Q6K,
        GgufType::Tq1_0,
        GgufType::Tq2_0,
    ];

    /// The type named `name` (lower case, as llama.cpp spells them).
    pub fn parse(name: &str) -> Result<Self, Error> {
        Self::ALL
            .into_iter()
            .find(|t| t.name() == name)
            .ok_or_else(|| Error::invalid(format!("{name:?} is not a GGUF block type")))
    }

    /// The lower-case name: "q8_0", …, "mxfp4".
    pub fn name(self) -> &'static str {
        match self {
            GgufType::Q8_0 => "q8_0",
            GgufType::Q4_0 => "q4_0",
            GgufType::Q4_1 => "q4_1",
            GgufType::Q5_0 => "q5_0",
            GgufType::Q5_1 => "q5_1",
            GgufType::Mxfp4 => "mxfp4",
            GgufType::Q4K => "q4_k",
            GgufType::Q5K => "q5_k",
            GgufType::Q6K => "q6_k",
            GgufType::Tq1_0 => "tq1_0",
            GgufType::Tq2_0 => "tq2_0",
        }
    }

    /// Values per block (ggml's `blck_size`): 32, or 256 for the K-quants
    /// and the ternary types.
    pub fn block_size(self) -> usize {
        match self {
            GgufType::Q4K | GgufType::Q5K | GgufType::Q6K | GgufType::Tq1_0 | GgufType::Tq2_0 => {
                QK_K
            }
            _ => BLOCK,
        }
    }

    /// Bytes of one block on disk (ggml's `type_size`).
    pub fn type_size(self) -> usize {
        match self {
            GgufType::Q8_0 => 2 + 32,
            GgufType::Q4_0 => 2 + 16,
            GgufType::Q4_1 => 2 + 2 + 16,
            GgufType::Q5_0 => 2 + 4 + 16,
            GgufType::Q5_1 => 2 + 2 + 4 + 16,
            GgufType::Mxfp4 => 1 + 16,
            GgufType::Q4K => 2 + 2 + 12 + 128,
            GgufType::Q5K => 2 + 2 + 12 + 32 + 128,
            GgufType::Q6K => 128 + 64 + 16 + 2,
            GgufType::Tq1_0 => 48 + 4 + 2,
            GgufType::Tq2_0 => 64 + 2,
        }
    }
}

/// C's `roundf` (half away from zero) from trunc, which vectorises where
/// `f32::round` may be a libm call: `x - trunc(x)` is exact.
#[inline(always)]
fn round_half_away(x: f32) -> f32 {
    let t = x.trunc();
    let frac = x - t;
    if frac.abs() >= 0.5 {
        t + 1f32.copysign(x)
    } else {
        t
    }
}

/// `np.trunc(v).astype(np.uint8).clip(0, hi)`.
#[inline(always)]
fn trunc_code(v: f32, hi: u8) -> u8 {
    np_cast_byte(v.trunc()).min(hi)
}

/// `1 / d`, or 0 where `d == 0` (gguf-py's `np.where(d == 0, 0, 1 / d)`).
#[inline(always)]
fn inverse(d: f32) -> f32 {
    if d == 0.0 {
        0.0
    } else {
        1.0 / d
    }
}

/// The value of largest magnitude, the first one on ties (`argmax(abs)`):
/// the largest magnitude first (vectorised), then the first value with it.
#[inline(always)]
fn signed_absmax(b: &[f32]) -> f32 {
    let amax = abs_max(b);
    b.iter().copied().find(|v| v.abs() == amax).unwrap_or(b[0])
}

/// `(min, max)` as NumPy reduces them: the last of equal candidates wins.
#[inline(always)]
fn min_max(b: &[f32]) -> (f32, f32) {
    let (mut lo, mut hi) = (b[0], b[0]);
    for &v in &b[1..] {
        if v <= lo {
            lo = v;
        }
        if v >= hi {
            hi = v;
        }
    }
    (lo, hi)
}

/// Two 4-bit codes per byte: element `j` in the low nibble of byte `j`,
/// element `j + 16` in its high nibble.
#[inline(always)]
fn pack_nibbles(q: &[u8; BLOCK], out: &mut [u8]) {
    for j in 0..BLOCK / 2 {
        out[j] = (q[j] & 0x0f) | (q[j + BLOCK / 2] << 4);
    }
}

/// Bit 4 of every code, element `j` at bit `j` of a little-endian u32.
#[inline(always)]
fn high_bits(q: &[u8; BLOCK]) -> [u8; 4] {
    let mut h = 0u32;
    for (j, &c) in q.iter().enumerate() {
        h |= (((c >> 4) & 1) as u32) << j;
    }
    h.to_le_bytes()
}

/// The per-block encoders share the half-precision scale conversion.
struct Encoder {
    half: Half,
}

impl Encoder {
    fn new() -> Self {
        Encoder { half: Half::new() }
    }

    /// IEEE half-precision bytes of `v` (nearest even, overflow to inf).
    #[inline(always)]
    fn half_bytes(&self, v: f32) -> [u8; 2] {
        self.half.encode(v).to_le_bytes()
    }

    #[inline(always)]
    fn block(&self, t: GgufType, b: &[f32], out: &mut [u8]) {
        match t {
            GgufType::Q8_0 => self.q8_0(b, out),
            GgufType::Q4_0 => self.q_0::<4>(b, out),
            GgufType::Q5_0 => self.q_0::<5>(b, out),
            GgufType::Q4_1 => self.q_1::<4>(b, out),
            GgufType::Q5_1 => self.q_1::<5>(b, out),
            GgufType::Mxfp4 => mxfp4_block(b, out),
            GgufType::Q4K => kquants::encode_scale_min::<4>(&self.half, b, out),
            GgufType::Q5K => kquants::encode_scale_min::<5>(&self.half, b, out),
            GgufType::Q6K => kquants::encode_q6_k(&self.half, b, out),
            GgufType::Tq1_0 => ternary::encode_tq1_0(&self.half, b, out),
            GgufType::Tq2_0 => ternary::encode_tq2_0(&self.half, b, out),
        }
    }

    /// `d = absmax / 127`, codes round-half-away(`x * (1/d)`) as int8.
    #[inline(always)]
    fn q8_0(&self, b: &[f32], out: &mut [u8]) {
        let amax = abs_max(b);
        let d = amax / 127.0;
        let id = inverse(d);
        out[..2].copy_from_slice(&self.half_bytes(d));
        for (o, &x) in out[2..].iter_mut().zip(b) {
            *o = np_cast_byte(round_half_away(x * id));
        }
    }

    /// Q4_0 / Q5_0: `d = (value of largest magnitude) / -2^(BITS-1)`, codes
    /// `trunc(x * (1/d) + 2^(BITS-1) + 0.5)` clipped to the code range.
    #[inline(always)]
    fn q_0<const BITS: u32>(&self, b: &[f32], out: &mut [u8]) {
        let half_range = (1u32 << (BITS - 1)) as f32;
        let d = signed_absmax(b) / -half_range;
        let id = inverse(d);
        let offset = half_range + 0.5;
        let mut q = [0u8; BLOCK];
        for (c, &x) in q.iter_mut().zip(b) {
            *c = trunc_code(x * id + offset, ((1u32 << BITS) - 1) as u8);
        }
        out[..2].copy_from_slice(&self.half_bytes(d));
        self.pack::<BITS>(&q, &mut out[2..]);
    }

    /// Q4_1 / Q5_1: `d = (max - min) / (2^BITS - 1)`, `m = min`, codes
    /// `trunc((x - min) * (1/d) + 0.5)` clipped to the code range.
    #[inline(always)]
    fn q_1<const BITS: u32>(&self, b: &[f32], out: &mut [u8]) {
        let top = ((1u32 << BITS) - 1) as u8;
        let (lo, hi) = min_max(b);
        let d = (hi - lo) / top as f32;
        let id = inverse(d);
        let mut q = [0u8; BLOCK];
        for (c, &x) in q.iter_mut().zip(b) {
            *c = trunc_code((x - lo) * id + 0.5, top);
        }
        out[..2].copy_from_slice(&self.half_bytes(d));
        out[2..4].copy_from_slice(&self.half_bytes(lo));
        self.pack::<BITS>(&q, &mut out[4..]);
    }

    /// Codes after the scales: 5-bit types put the high bits first.
    #[inline(always)]
    fn pack<const BITS: u32>(&self, q: &[u8; BLOCK], out: &mut [u8]) {
        if BITS == 5 {
            out[..4].copy_from_slice(&high_bits(q));
            pack_nibbles(q, &mut out[4..]);
        } else {
            pack_nibbles(q, out);
        }
    }
}

/// MXFP4 element values, doubled (ggml's `kvalues_mxfp4`), in code order.
const MXFP4_DOUBLED: [i8; 16] = [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12];

/// ggml's `e8m0_to_fp32_half`: `2^(e - 128)`, the scale of doubled elements.
#[inline(always)]
fn e8m0_half(e: u8) -> f32 {
    let bits = if e < 2 {
        0x0020_0000u32 << e
    } else {
        ((e - 1) as u32) << 23
    };
    f32::from_bits(bits)
}

/// NumPy's float32 `floor(log2(d))`: its float32 log2 agrees with the
/// float64 logarithm rounded to float32 (checked at the 3000 floats below
/// every power of two, where the floor is decided).
#[inline(always)]
fn floor_log2_f32(d: f32) -> f32 {
    ((d as f64).log2() as f32).floor()
}

/// gguf-py's MXFP4: `e = floor(log2(absmax)) - 2 + 127` as a byte (0 for an
/// all-zero block), then each element the code whose `d * kvalue` is
/// nearest in float32, the first code on ties.
#[inline(always)]
fn mxfp4_block(b: &[f32], out: &mut [u8]) {
    let amax = abs_max(b);
    let e = if amax > 0.0 {
        np_cast_byte(floor_log2_f32(amax) - 2.0 + 127.0)
    } else {
        0
    };
    let d = e8m0_half(e);
    let kv = MXFP4_DOUBLED.map(|k| d * k as f32);
    let mut q = [0u8; BLOCK];
    for (c, &x) in q.iter_mut().zip(b) {
        let mut best = (f32::INFINITY, 0u8);
        for (i, &v) in kv.iter().enumerate() {
            let err = (v - x).abs();
            if err < best.0 {
                best = (err, i as u8);
            }
        }
        *c = best.1;
    }
    out[0] = e;
    pack_nibbles(&q, &mut out[1..]);
}

/// Check that `n` values make whole blocks and that `bytes` has their room.
fn check_sizes(t: GgufType, n: usize, bytes: usize) -> Result<(), Error> {
    let block = t.block_size();
    if !n.is_multiple_of(block) {
        return Err(Error::invalid(format!(
            "{} needs whole blocks of {block} values along the last axis; got {n} values",
            t.name()
        )));
    }
    if bytes != n / block * t.type_size() {
        return Err(Error::invalid(format!(
            "{} blocks of {n} values take {} bytes, not {bytes}",
            t.name(),
            n / block * t.type_size()
        )));
    }
    Ok(())
}

/// Quantize `x` (whole blocks, row after row) into `out`, the
/// concatenated blocks of type `t` exactly as gguf-py (or, for the
/// K-quants, llama.cpp's reference quantizer) writes them.
pub fn quantize(x: &[f32], t: GgufType, out: &mut [u8]) -> Result<(), Error> {
    check_sizes(t, x.len(), out.len())?;
    let enc = Encoder::new();
    let (block, ts) = (t.block_size(), t.type_size());
    let blocks_per_task = VALUES_PER_TASK / block;
    let per_task = block * blocks_per_task;
    x.par_chunks(per_task)
        .zip(out.par_chunks_mut(ts * blocks_per_task))
        .enumerate()
        .try_for_each(|(task, (xs, os))| {
            if let Some(i) = xs.iter().position(|v| !v.is_finite()) {
                return Err(Error::invalid(format!(
                    "GGUF blocks hold finite values; element {} is {}",
                    task * per_task + i,
                    xs[i]
                )));
            }
            // Compiled for AVX2/AVX-512 where available: trunc and round
            // become single instructions instead of calls (same results).
            wide(
                #[inline(always)]
                || {
                    for (b, o) in xs.chunks(block).zip(os.chunks_mut(ts)) {
                        enc.block(t, b, o);
                    }
                },
            );
            Ok(())
        })
}

/// The values of blocks of type `t`, computed as gguf-py's `dequantize`
/// does (in float32: `d * q`, `d * q + m`, `d * kvalue`, …).
pub fn dequantize(bytes: &[u8], t: GgufType, out: &mut [f32]) -> Result<(), Error> {
    check_sizes(t, out.len(), bytes.len())?;
    let half = Half::new();
    let (block, ts) = (t.block_size(), t.type_size());
    let blocks_per_task = VALUES_PER_TASK / block;
    bytes
        .par_chunks(ts * blocks_per_task)
        .zip(out.par_chunks_mut(block * blocks_per_task))
        .for_each(|(bs, os)| {
            wide(
                #[inline(always)]
                || {
                    for (b, o) in bs.chunks(ts).zip(os.chunks_mut(block)) {
                        decode_block(t, b, o, &half);
                    }
                },
            );
        });
    Ok(())
}

/// Code `j` of a block's packed codes (`qs` after any high-bit word).
fn nibble(qs: &[u8], j: usize) -> u8 {
    let byte = qs[j % (BLOCK / 2)];
    if j < BLOCK / 2 {
        byte & 0x0f
    } else {
        byte >> 4
    }
}

/// Codes of a block, with their high bits for 5-bit types.
fn codes<const BITS: u32>(packed: &[u8]) -> [u8; BLOCK] {
    let mut q = [0u8; BLOCK];
    if BITS == 5 {
        let h = u32::from_le_bytes([packed[0], packed[1], packed[2], packed[3]]);
        for (j, c) in q.iter_mut().enumerate() {
            *c = nibble(&packed[4..], j) | ((((h >> j) & 1) as u8) << 4);
        }
    } else {
        for (j, c) in q.iter_mut().enumerate() {
            *c = nibble(packed, j);
        }
    }
    q
}

#[inline(always)]
fn decode_block(t: GgufType, b: &[u8], out: &mut [f32], half: &Half) {
    let f16 = |b: &[u8]| half.decode(u16::from_le_bytes([b[0], b[1]]));
    match t {
        GgufType::Q8_0 => {
            let d = f16(b);
            for (o, &c) in out.iter_mut().zip(&b[2..]) {
                *o = c as i8 as f32 * d;
            }
        }
        GgufType::Q4_0 => offset_codes(&codes::<4>(&b[2..]), f16(b), 8, out),
        GgufType::Q5_0 => offset_codes(&codes::<5>(&b[2..]), f16(b), 16, out),
        GgufType::Q4_1 => min_codes(&codes::<4>(&b[4..]), f16(b), f16(&b[2..]), out),
        GgufType::Q5_1 => min_codes(&codes::<5>(&b[4..]), f16(b), f16(&b[2..]), out),
        GgufType::Mxfp4 => {
            let d = e8m0_half(b[0]);
            for (j, o) in out.iter_mut().enumerate() {
                *o = d * MXFP4_DOUBLED[nibble(&b[1..], j) as usize] as f32;
            }
        }
        GgufType::Q4K => kquants::decode_scale_min::<4>(half, b, out),
        GgufType::Q5K => kquants::decode_scale_min::<5>(half, b, out),
        GgufType::Q6K => kquants::decode_q6_k(half, b, out),
        GgufType::Tq1_0 => ternary::decode_tq1_0(half, b, out),
        GgufType::Tq2_0 => ternary::decode_tq2_0(half, b, out),
    }
}

/// `d * (q - offset)`.
fn offset_codes(q: &[u8; BLOCK], d: f32, offset: i32, out: &mut [f32]) {
    for (o, &c) in out.iter_mut().zip(q) {
        *o = d * (c as i32 - offset) as f32;
    }
}

/// `d * q + m`, two roundings as in NumPy.
fn min_codes(q: &[u8; BLOCK], d: f32, m: f32, out: &mut [f32]) {
    for (o, &c) in out.iter_mut().zip(q) {
        *o = d * c as f32 + m;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_block(t: GgufType, x: &[f32; BLOCK]) -> Vec<u8> {
        let mut out = vec![0u8; t.type_size()];
        quantize(x, t, &mut out).unwrap();
        out
    }

    #[test]
    fn abs_max_equals_the_chained_max_at_every_length() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for n in 1..70 {
            let b: Vec<f32> = (0..n)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    f32::from_bits(state as u32 & 0xbf7f_ffff) // finite
                })
                .collect();
            let chained = b.iter().fold(0f32, |m, v| m.max(v.abs()));
            assert_eq!(abs_max(&b).to_bits(), chained.to_bits(), "n={n}");
        }
        assert_eq!(abs_max(&[-0.0, 0.0, -0.0]).to_bits(), 0);
    }

    #[test]
    fn q8_0_rounds_half_away_and_stores_a_half_scale() {
        let mut x = [0f32; BLOCK];
        x[0] = 127.0;
        x[1] = 2.5;
        x[2] = -2.5;
        let b = one_block(GgufType::Q8_0, &x);
        assert_eq!(&b[..2], &0x3c00u16.to_le_bytes()); // d = 1.0
        assert_eq!(b[2..5], [127, 3, (-3i8) as u8]);
    }

    #[test]
    fn q4_0_scale_takes_the_sign_of_the_largest_value() {
        let mut x = [0f32; BLOCK];
        x[3] = -8.0;
        x[4] = 8.0; // ties keep the first
        let b = one_block(GgufType::Q4_0, &x);
        assert_eq!(&b[..2], &0x3c00u16.to_le_bytes()); // d = -8 / -8 = 1
        assert_eq!(nibble(&b[2..], 3), 0);
        assert_eq!(nibble(&b[2..], 4), 15); // 16 clipped
        assert_eq!(nibble(&b[2..], 0), 8);
    }

    #[test]
    fn q5_1_round_trips_its_codes() {
        let x: [f32; BLOCK] = std::array::from_fn(|i| i as f32 - 3.0);
        let b = one_block(GgufType::Q5_1, &x);
        let mut back = [0f32; BLOCK];
        dequantize(&b, GgufType::Q5_1, &mut back).unwrap();
        assert_eq!(back, x);
    }

    #[test]
    fn tiny_blocks_follow_numpys_cast_of_inf() {
        // 1/d overflows: x * inf is inf (code byte 0) and 0 * inf is NaN (0).
        let mut x = [0f32; BLOCK];
        x[0] = f32::from_bits(1);
        let b = one_block(GgufType::Q8_0, &x);
        assert!(b[2..].iter().all(|&c| c == 0));
    }

    #[test]
    fn non_finite_values_and_partial_blocks_are_refused() {
        let mut x = [0f32; BLOCK];
        x[7] = f32::NAN;
        let mut out = vec![0u8; 34];
        assert!(quantize(&x, GgufType::Q8_0, &mut out).is_err());
        assert!(quantize(&x[..31], GgufType::Q8_0, &mut out).is_err());
    }
}
