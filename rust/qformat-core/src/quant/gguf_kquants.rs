//! GGUF K-quants Q4_K, Q5_K and Q6_K: super-blocks of 256 values with
//! sub-block scales quantized again against one half-precision scale.
//!
//! The quantizer is llama.cpp's reference one (`quantize_row_q4_K_ref`,
//! `_q5_K_ref`, `_q6_K_ref` in ggml-quants.c), which gguf-py does not
//! have: a weighted least-squares search for each sub-block's scale (and
//! minimum), then a second pass that re-rounds every value against the
//! scales as stored. Every float32 operation is written out in C's order
//! with one rounding each (Rust never contracts `a * b + c`), so the bytes
//! equal those of a ggml build without FMA contraction. The dequantizer is
//! gguf-py's `dequantize` (`d * sc * q - dmin * m`, `d * sc * (q - 32)`).
//!
//! Layouts (little-endian, as on disk):
//! * Q4_K (144 bytes): `d`, `dmin` (f16), 12 bytes of eight 6-bit scales
//!   and eight 6-bit minima, 128 bytes of nibbles.
//! * Q5_K (176 bytes): as Q4_K, with 32 bytes of fifth bits before the
//!   nibbles.
//! * Q6_K (210 bytes): 128 bytes of low nibbles, 64 bytes of 2-bit high
//!   parts, sixteen int8 scales, `d` (f16).

use super::gguf_scalar::Half;

/// Values per super-block.
pub const QK_K: usize = 256;

/// ggml's `GROUP_MAX_EPS`: sub-blocks below it count as all zero.
const GROUP_MAX_EPS: f32 = 1e-15;

/// ggml's `nearest_int`: round half to even by adding 1.5·2^23 and reading
/// the low mantissa bits. Exact for |v| < 2^22; beyond that (and for NaN
/// or inf) it returns what the same bit manipulation returns in C, so
/// degenerate blocks stay byte-equal too.
#[inline(always)]
fn nearest_int(v: f32) -> i32 {
    let bits = (v + 12_582_912.0).to_bits() as i32;
    (bits & 0x007f_ffff) - 0x0040_0000
}

/// `MAX(lo, MIN(hi, l))`.
#[inline(always)]
fn clamp_code(l: i32, lo: i32, hi: i32) -> i32 {
    l.min(hi).max(lo)
}

/// Parameters of ggml's `make_qkx2_quants` search for a scale and minimum.
struct ScaleMinSearch {
    /// Largest code: 15 for Q4_K, 31 for Q5_K.
    nmax: i32,
    /// First trial `nmax + rmin`, then steps of `rdelta`, `nstep` of them.
    rmin: f32,
    rdelta: f32,
    nstep: i32,
}

const Q4_K_SEARCH: ScaleMinSearch = ScaleMinSearch {
    nmax: 15,
    rmin: -1.0,
    rdelta: 0.1,
    nstep: 20,
};
const Q5_K_SEARCH: ScaleMinSearch = ScaleMinSearch {
    nmax: 31,
    rmin: -0.5,
    rdelta: 0.1,
    nstep: 15,
};

/// The weights ggml gives a 32-value sub-block: `rms(x) + |x_i|`.
#[inline(always)]
fn sub_block_weights(x: &[f32]) -> [f32; 32] {
    let mut sum_x2 = 0f32;
    for &v in x {
        sum_x2 += v * v;
    }
    let av_x = (sum_x2 / 32.0).sqrt();
    std::array::from_fn(|i| av_x + x[i].abs())
}

impl ScaleMinSearch {
    /// Codes of `x` for the trial `iscale`, and the weighted sums
    /// `(Σw·l, Σw·l², Σw·l·x)` of the least-squares fit.
    #[inline(always)]
    fn trial(&self, x: &[f32], w: &[f32], min: f32, iscale: f32, l: &mut [u8]) -> [f32; 3] {
        let (mut sum_l, mut sum_l2, mut sum_xl) = (0f32, 0f32, 0f32);
        for i in 0..x.len() {
            let q = clamp_code(nearest_int(iscale * (x[i] - min)), 0, self.nmax);
            l[i] = q as u8;
            let lf = q as f32;
            sum_l += w[i] * lf;
            sum_l2 += w[i] * lf * lf;
            sum_xl += w[i] * lf * x[i];
        }
        [sum_l, sum_l2, sum_xl]
    }

    /// `Σ w·(scale·l + min − x)²`.
    #[inline(always)]
    fn error(x: &[f32], w: &[f32], l: &[u8], scale: f32, min: f32) -> f32 {
        let mut err = 0f32;
        for i in 0..x.len() {
            let diff = scale * l[i] as f32 + min - x[i];
            err += w[i] * (diff * diff);
        }
        err
    }

    /// `make_qkx2_quants` (squared error): the sub-block's scale and the
    /// negated minimum (≥ 0), its codes in `l`.
    fn fit(&self, x: &[f32], w: &[f32], l: &mut [u8]) -> (f32, f32) {
        let (mut min, mut max) = (x[0], x[0]);
        let mut sum_w = w[0];
        let mut sum_x = sum_w * x[0];
        for i in 1..x.len() {
            if x[i] < min {
                min = x[i];
            }
            if x[i] > max {
                max = x[i];
            }
            sum_w += w[i];
            sum_x += w[i] * x[i];
        }
        if min > 0.0 {
            min = 0.0;
        }
        if max == min {
            l.fill(0);
            return (0.0, -min);
        }
        let nmax = self.nmax as f32;
        let iscale = nmax / (max - min);
        let mut scale = 1.0 / iscale;
        for i in 0..x.len() {
            l[i] = clamp_code(nearest_int(iscale * (x[i] - min)), 0, self.nmax) as u8;
        }
        let mut best_error = Self::error(x, w, l, scale, min);
        let mut trial = [0u8; 32];
        for is in 0..=self.nstep {
            let iscale = (self.rmin + self.rdelta * is as f32 + nmax) / (max - min);
            let [sum_l, sum_l2, sum_xl] = self.trial(x, w, min, iscale, &mut trial);
            let det = sum_w * sum_l2 - sum_l * sum_l;
            if det > 0.0 {
                let mut this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
                let mut this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
                if this_min > 0.0 {
                    this_min = 0.0;
                    this_scale = sum_xl / sum_l2;
                }
                let err = Self::error(x, w, &trial, this_scale, this_min);
                if err < best_error {
                    l.copy_from_slice(&trial[..x.len()]);
                    best_error = err;
                    scale = this_scale;
                    min = this_min;
                }
            }
        }
        (scale, -min)
    }
}

/// The 6-bit scale and minimum of sub-block `j` (ggml's `get_scale_min_k4`).
#[inline(always)]
pub(super) fn scale_min(packed: &[u8], j: usize) -> (u8, u8) {
    if j < 4 {
        (packed[j] & 63, packed[j + 4] & 63)
    } else {
        (
            (packed[j + 4] & 0xf) | ((packed[j - 4] >> 6) << 4),
            (packed[j + 4] >> 4) | ((packed[j] >> 6) << 4),
        )
    }
}

/// Store sub-block `j`'s 6-bit scale and minimum (the inverse of [`scale_min`]).
#[inline(always)]
fn pack_scale_min(packed: &mut [u8; 12], j: usize, ls: u8, lm: u8) {
    if j < 4 {
        packed[j] = ls;
        packed[j + 4] = lm;
    } else {
        packed[j + 4] = (ls & 0xf) | ((lm & 0xf) << 4);
        packed[j - 4] |= (ls >> 4) << 6;
        packed[j] |= (lm >> 4) << 6;
    }
}

/// A 6-bit code for `v` against `inv` (63 / largest), as C's
/// `MIN(63, (uint8_t) nearest_int(v * inv))` (the cast keeps the low byte).
#[inline(always)]
fn six_bits(inv: f32, v: f32) -> u8 {
    (nearest_int(inv * v) as u8).min(63)
}

/// Q4_K (`BITS = 4`) or Q5_K (`BITS = 5`) of one super-block.
#[inline(always)]
pub(super) fn encode_scale_min<const BITS: u32>(half: &Half, x: &[f32], out: &mut [u8]) {
    let search = if BITS == 4 {
        &Q4_K_SEARCH
    } else {
        &Q5_K_SEARCH
    };
    let mut l = [0u8; QK_K];
    let (mut scales, mut mins) = ([0f32; 8], [0f32; 8]);
    let (mut max_scale, mut max_min) = (0f32, 0f32);
    for j in 0..8 {
        let xs = &x[32 * j..32 * j + 32];
        let w = sub_block_weights(xs);
        (scales[j], mins[j]) = search.fit(xs, &w, &mut l[32 * j..32 * j + 32]);
        if scales[j] > max_scale {
            max_scale = scales[j];
        }
        if mins[j] > max_min {
            max_min = mins[j];
        }
    }
    let inv_scale = if max_scale > 0.0 {
        63.0 / max_scale
    } else {
        0.0
    };
    let inv_min = if max_min > 0.0 { 63.0 / max_min } else { 0.0 };
    let mut packed = [0u8; 12];
    for j in 0..8 {
        pack_scale_min(
            &mut packed,
            j,
            six_bits(inv_scale, scales[j]),
            six_bits(inv_min, mins[j]),
        );
    }
    let d_bits = half.encode(max_scale / 63.0);
    let dmin_bits = half.encode(max_min / 63.0);
    requantize(
        x,
        &packed,
        half.decode(d_bits),
        half.decode(dmin_bits),
        search.nmax,
        &mut l,
    );
    out[0..2].copy_from_slice(&d_bits.to_le_bytes());
    out[2..4].copy_from_slice(&dmin_bits.to_le_bytes());
    out[4..16].copy_from_slice(&packed);
    if BITS == 4 {
        pack_q4_k(&l, &mut out[16..144]);
    } else {
        pack_q5_k(&l, &mut out[16..176]);
    }
}

/// The second pass: every code re-rounded against the scales as stored,
/// `(x + dmin·m) / (d·sc)`. Sub-blocks whose stored scale is 0 keep the
/// codes of the search (as in C).
#[inline(always)]
fn requantize(x: &[f32], packed: &[u8], d: f32, dmin: f32, nmax: i32, l: &mut [u8; QK_K]) {
    for j in 0..8 {
        let (sc, m) = scale_min(packed, j);
        let dj = d * sc as f32;
        if dj == 0.0 {
            continue;
        }
        let dm = dmin * m as f32;
        for i in 32 * j..32 * j + 32 {
            l[i] = clamp_code(nearest_int((x[i] + dm) / dj), 0, nmax) as u8;
        }
    }
}

/// Q4_K nibbles: in each 64-value chunk, value `i` in the low nibble of
/// byte `i` and value `i + 32` in its high nibble.
fn pack_q4_k(l: &[u8; QK_K], qs: &mut [u8]) {
    for c in 0..4 {
        for i in 0..32 {
            qs[32 * c + i] = l[64 * c + i] | (l[64 * c + i + 32] << 4);
        }
    }
}

/// Q5_K: 32 bytes of fifth bits (chunk `c`'s value `i` at bit `2c` of
/// byte `i`, value `i + 32` at bit `2c + 1`), then nibbles as Q4_K.
fn pack_q5_k(l: &[u8; QK_K], out: &mut [u8]) {
    let (qh, qs) = out.split_at_mut(32);
    qh.fill(0);
    for c in 0..4 {
        for i in 0..32 {
            let (lo, hi) = (l[64 * c + i], l[64 * c + i + 32]);
            qh[i] |= ((lo >> 4) << (2 * c)) | ((hi >> 4) << (2 * c + 1));
            qs[32 * c + i] = (lo & 0xf) | ((hi & 0xf) << 4);
        }
    }
}

/// ggml's `make_qx_quants` for Q6_K (16 values, `nmax` 32, weights x²):
/// the sub-block's signed scale, its codes (offset by 32) in `l`.
fn fit_symmetric(x: &[f32], l: &mut [u8]) -> f32 {
    const NMAX: i32 = 32;
    let (mut max, mut amax) = (0f32, 0f32);
    for &v in x {
        if v.abs() > amax {
            amax = v.abs();
            max = v;
        }
    }
    if amax < GROUP_MAX_EPS {
        l.fill(0);
        return 0.0;
    }
    let code = |iscale: f32, v: f32| clamp_code(nearest_int(iscale * v), -NMAX, NMAX - 1);
    let sums = |iscale: f32| {
        let (mut sumlx, mut suml2) = (0f32, 0f32);
        for &v in x {
            let q = code(iscale, v) as f32;
            let w = v * v;
            sumlx += w * v * q;
            suml2 += w * q * q;
        }
        (sumlx, suml2)
    };
    let fill = |iscale: f32, l: &mut [u8]| {
        for (c, &v) in l.iter_mut().zip(x) {
            *c = (code(iscale, v) + NMAX) as u8;
        }
    };
    let iscale = -(NMAX as f32) / max;
    fill(iscale, l);
    let (sumlx, suml2) = sums(iscale);
    // C's `suml2 ? … : 0`: NaN counts as true.
    let mut scale = if suml2 != 0.0 { sumlx / suml2 } else { 0.0 };
    let mut best = scale * sumlx;
    for is in (-9..=9).filter(|&is| is != 0) {
        let iscale = -(NMAX as f32 + 0.1 * is as f32) / max;
        let (sumlx, suml2) = sums(iscale);
        if suml2 > 0.0 && sumlx * sumlx > best * suml2 {
            fill(iscale, l);
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    scale
}

/// Q6_K of one super-block.
#[inline(always)]
pub(super) fn encode_q6_k(half: &Half, x: &[f32], out: &mut [u8]) {
    let mut l = [0u8; QK_K];
    let mut scales = [0f32; 16];
    let (mut max_scale, mut max_abs_scale) = (0f32, 0f32);
    for ib in 0..16 {
        scales[ib] = fit_symmetric(&x[16 * ib..16 * ib + 16], &mut l[16 * ib..16 * ib + 16]);
        if scales[ib].abs() > max_abs_scale {
            max_abs_scale = scales[ib].abs();
            max_scale = scales[ib];
        }
    }
    if max_abs_scale < GROUP_MAX_EPS {
        out[..210].fill(0);
        return;
    }
    let iscale = -128.0 / max_scale;
    let d_bits = half.encode(1.0 / iscale);
    // C stores `MIN(127, nearest_int(…))` in an int8_t: the low byte.
    let sc: [i8; 16] = std::array::from_fn(|ib| nearest_int(iscale * scales[ib]).min(127) as i8);
    let d = half.decode(d_bits);
    for (j, &s) in sc.iter().enumerate() {
        let dj = d * s as f32;
        if dj == 0.0 {
            continue;
        }
        for i in 16 * j..16 * j + 16 {
            l[i] = (clamp_code(nearest_int(x[i] / dj), -32, 31) + 32) as u8;
        }
    }
    pack_q6_k(&l, out);
    for (o, &s) in out[192..208].iter_mut().zip(&sc) {
        *o = s as u8;
    }
    out[208..210].copy_from_slice(&d_bits.to_le_bytes());
}

/// Q6_K codes: per 128-value half `h`, low nibbles of values `i` and
/// `i + 64` share byte `64h + i` (`i < 64`); the 2-bit high parts of
/// values `i`, `i + 32`, `i + 64`, `i + 96` share byte `128 + 32h + i`.
fn pack_q6_k(l: &[u8; QK_K], out: &mut [u8]) {
    for h in 0..2 {
        let v = &l[128 * h..128 * h + 128];
        for i in 0..64 {
            out[64 * h + i] = (v[i] & 0xf) | ((v[i + 64] & 0xf) << 4);
        }
        for i in 0..32 {
            out[128 + 32 * h + i] = (v[i] >> 4)
                | ((v[i + 32] >> 4) << 2)
                | ((v[i + 64] >> 4) << 4)
                | ((v[i + 96] >> 4) << 6);
        }
    }
}

/// Q4_K / Q5_K values as gguf-py computes them: `(d·sc)·q − dmin·m`.
pub(super) fn decode_scale_min<const BITS: u32>(half: &Half, b: &[u8], out: &mut [f32]) {
    let d = half.decode(u16::from_le_bytes([b[0], b[1]]));
    let dmin = half.decode(u16::from_le_bytes([b[2], b[3]]));
    let packed = &b[4..16];
    let (qh, qs) = if BITS == 5 {
        (&b[16..48], &b[48..176])
    } else {
        (&b[0..0], &b[16..144])
    };
    for j in 0..8 {
        let (sc, m) = scale_min(packed, j);
        let (dj, dm) = (d * sc as f32, dmin * m as f32);
        let (c, high_nibble) = (j / 2, j % 2 == 1);
        for i in 0..32 {
            let byte = qs[32 * c + i];
            let mut q = if high_nibble { byte >> 4 } else { byte & 0xf };
            if BITS == 5 {
                q |= ((qh[i] >> j) & 1) << 4;
            }
            out[32 * j + i] = dj * q as f32 - dm;
        }
    }
}

/// Q6_K values as gguf-py computes them: `(d·sc)·(q − 32)`. Walked by
/// the packing's own structure (per 128-value half, four runs of 32 that
/// share their high-bit bytes, two scales each) so that every inner loop
/// is 16 straight lanes; inlined so that it runs at the caller's level.
#[inline(always)]
pub(super) fn decode_q6_k(half: &Half, b: &[u8], out: &mut [f32]) {
    let d = half.decode(u16::from_le_bytes([b[208], b[209]]));
    for h in 0..2 {
        let (lows, highs) = (&b[64 * h..64 * h + 64], &b[128 + 32 * h..160 + 32 * h]);
        for run in 0..4 {
            let lows = &lows[32 * (run % 2)..32 * (run % 2) + 32];
            for part in 0..2 {
                let p0 = 128 * h + 32 * run + 16 * part;
                let dj = d * b[192 + p0 / 16] as i8 as f32;
                let span = 16 * part..16 * part + 16;
                let (lo, hi) = (&lows[span.clone()], &highs[span]);
                for ((o, &l), &hb) in out[p0..p0 + 16].iter_mut().zip(lo).zip(hi) {
                    let low = if run < 2 { l & 0xf } else { l >> 4 };
                    let high = (hb >> (2 * run)) & 3;
                    *o = dj * ((low | (high << 4)) as i32 - 32) as f32;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Q6_K's value of position `p` by the layout's index formulas (the
    /// form before the loop followed the packing's structure).
    fn q6_k_value_by_index(half: &Half, b: &[u8], p: usize) -> f32 {
        let d = half.decode(u16::from_le_bytes([b[208], b[209]]));
        let (h, r) = (p / 128, p % 128);
        let lo_byte = b[64 * h + r % 64];
        let lo = if r < 64 { lo_byte & 0xf } else { lo_byte >> 4 };
        let hi = (b[128 + 32 * h + r % 32] >> (2 * (r / 32))) & 3;
        let q = ((lo | (hi << 4)) as i32 - 32) as f32;
        d * b[192 + p / 16] as i8 as f32 * q
    }

    /// Random blocks (any bytes, so any half scale, NaN and infinity
    /// included): the structured walk gives the index formulas' bits.
    #[test]
    fn q6_k_decode_equals_the_index_formulas() {
        let half = Half::new();
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut out = [0f32; QK_K];
        for _ in 0..2000 {
            let b: Vec<u8> = (0..210)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    (state >> 24) as u8
                })
                .collect();
            decode_q6_k(&half, &b, &mut out);
            for (p, o) in out.iter().enumerate() {
                let want = q6_k_value_by_index(&half, &b, p);
                assert_eq!(o.to_bits(), want.to_bits(), "position {p} of {b:?}");
            }
        }
    }

    #[test]
    fn nearest_int_rounds_half_to_even() {
        assert_eq!(nearest_int(2.5), 2);
        assert_eq!(nearest_int(3.5), 4);
        assert_eq!(nearest_int(-2.5), -2);
        assert_eq!(nearest_int(-0.4), 0);
        assert_eq!(nearest_int(4_194_303.0), 4_194_303);
    }

    #[test]
    fn scale_min_unpacks_what_pack_scale_min_stores() {
        let mut packed = [0u8; 12];
        let pairs: [(u8, u8); 8] =
            std::array::from_fn(|j| ((j * 9 % 64) as u8, (63 - j * 5) as u8));
        for (j, &(s, m)) in pairs.iter().enumerate() {
            pack_scale_min(&mut packed, j, s, m);
        }
        for (j, &p) in pairs.iter().enumerate() {
            assert_eq!(scale_min(&packed, j), p);
        }
    }

    #[test]
    fn a_constant_sub_block_takes_its_value_as_minimum() {
        let x = [-3.0f32; 32];
        let w = sub_block_weights(&x);
        let mut l = [9u8; 32];
        assert_eq!(Q4_K_SEARCH.fit(&x, &w, &mut l), (0.0, 3.0));
        assert_eq!(l, [0; 32]);
    }

    #[test]
    fn q6_k_fit_reproduces_a_grid_exactly() {
        // Values on the grid k/8 for k in -32..=31 with -4 the extreme:
        // the first trial (iscale = 8) is exact, and no other beats it.
        let x: [f32; 16] = std::array::from_fn(|i| (i as f32 * 4.0 - 32.0) / 8.0);
        let mut l = [0u8; 16];
        let s = fit_symmetric(&x, &mut l);
        assert_eq!(s, 0.125);
        let back: Vec<f32> = l.iter().map(|&c| s * (c as f32 - 32.0)).collect();
        assert_eq!(back, x);
    }
}
