//! GGUF ternary types TQ1_0 and TQ2_0 (BitNet b1.58): 256 values per
//! block, each −1, 0 or +1 times one half-precision scale `d = absmax`,
//! byte for byte as gguf-py's `quants.py` writes them.
//!
//! Codes are `round_half_away(x / d) + 1` ∈ {0, 1, 2}, computed as gguf-py
//! does (`x * (1/d)`, its `np_roundf`, NumPy's float → int8 cast). TQ2_0
//! stores them as 2-bit fields; TQ1_0 packs five (or four) base-3 digits
//! into a byte as `ceil(n · 256 / 243)`, so that multiplying the byte by
//! 3^k and keeping the top bits of `3 · byte` reads digit `k` back.
//!
//! Layouts: TQ1_0 (54 bytes) 48 bytes of five digits, 4 bytes of four
//! digits, `d` (f16); TQ2_0 (66 bytes) 64 bytes of four 2-bit codes, `d`.

use super::gguf_kquants::QK_K;
use super::gguf_scalar::{abs_max, np_cast_byte, Half};

/// gguf-py's `np_roundf`: `sign(v) * (floor|v| + floor(2(|v| − floor|v|)))`,
/// half away from zero; NaN stays NaN.
#[inline(always)]
fn np_roundf(v: f32) -> f32 {
    let a = v.abs();
    let floored = a.floor();
    let b = floored + (2.0 * (a - floored)).floor();
    let sign = if v > 0.0 {
        1.0
    } else if v < 0.0 {
        -1.0
    } else if v.is_nan() {
        f32::NAN
    } else {
        0.0
    };
    sign * b
}

/// The ternary codes of a block and its scale `d = max |x|`.
#[inline(always)]
fn codes(x: &[f32]) -> ([u8; QK_K], f32) {
    let d = abs_max(x);
    let id = if d == 0.0 { 0.0 } else { 1.0 / d };
    let q =
        std::array::from_fn(|i| (np_cast_byte(np_roundf(x[i] * id)) as i8).wrapping_add(1) as u8);
    (q, d)
}

/// TQ2_0: byte `32c + i` holds the codes of values `128c + i + 32s` at
/// bits `2s` (s = 0..3).
#[inline(always)]
pub(super) fn encode_tq2_0(half: &Half, x: &[f32], out: &mut [u8]) {
    let (q, d) = codes(x);
    for c in 0..2 {
        for i in 0..32 {
            let v = &q[128 * c + i..];
            out[32 * c + i] = v[0] | (v[32] << 2) | (v[64] << 4) | (v[96] << 6);
        }
    }
    out[64..66].copy_from_slice(&half.encode(d).to_le_bytes());
}

/// The powers of three of the digits in one TQ1_0 byte, first digit first.
const POW3: [u8; 5] = [81, 27, 9, 3, 1];

/// `ceil(n · 256 / 243)` of the base-3 number whose digits are the codes
/// at `first + stride·k`, k = 0..digits.
#[inline(always)]
fn base3_byte(q: &[u8], first: usize, stride: usize, digits: usize) -> u8 {
    let n: u16 = (0..digits)
        .map(|k| q[first + stride * k] as u16 * POW3[k] as u16)
        .sum();
    (n * 256).div_ceil(243) as u8
}

/// TQ1_0: values 0..160 as five digits per byte (byte `i` of 32, digit
/// `k` from value `32k + i`), 160..240 likewise over 16 bytes, the last
/// 16 as four digits per byte over 4 bytes.
#[inline(always)]
pub(super) fn encode_tq1_0(half: &Half, x: &[f32], out: &mut [u8]) {
    let (q, d) = codes(x);
    for (i, o) in out[..32].iter_mut().enumerate() {
        *o = base3_byte(&q, i, 32, 5);
    }
    for i in 0..16 {
        out[32 + i] = base3_byte(&q, 160 + i, 16, 5);
    }
    for i in 0..4 {
        out[48 + i] = base3_byte(&q, 240 + i, 4, 4);
    }
    out[52..54].copy_from_slice(&half.encode(d).to_le_bytes());
}

/// Digit `k` of a TQ1_0 byte: `(3 · (byte · 3^k mod 256)) >> 8`, minus 1.
#[inline(always)]
fn base3_digit(byte: u8, k: usize) -> f32 {
    let shifted = byte.wrapping_mul(3u8.pow(k as u32));
    (((shifted as u16 * 3) >> 8) as i32 - 1) as f32
}

/// TQ1_0 values as gguf-py computes them: `d * (digit - 1)`.
pub(super) fn decode_tq1_0(half: &Half, b: &[u8], out: &mut [f32]) {
    let d = half.decode(u16::from_le_bytes([b[52], b[53]]));
    for k in 0..5 {
        for i in 0..32 {
            out[32 * k + i] = d * base3_digit(b[i], k);
        }
        for i in 0..16 {
            out[160 + 16 * k + i] = d * base3_digit(b[32 + i], k);
        }
    }
    for k in 0..4 {
        for i in 0..4 {
            out[240 + 4 * k + i] = d * base3_digit(b[48 + i], k);
        }
    }
}

/// TQ2_0 values as gguf-py computes them: `d * (code - 1)`.
pub(super) fn decode_tq2_0(half: &Half, b: &[u8], out: &mut [f32]) {
    let d = half.decode(u16::from_le_bytes([b[64], b[65]]));
    for (p, o) in out.iter_mut().enumerate().take(QK_K) {
        let (c, s, i) = (p / 128, (p % 128) / 32, p % 32);
        let q = (b[32 * c + i] >> (2 * s)) & 3;
        *o = d * (q as i32 - 1) as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn np_roundf_rounds_half_away_from_zero() {
        assert_eq!(np_roundf(0.5), 1.0);
        assert_eq!(np_roundf(-0.5), -1.0);
        assert_eq!(np_roundf(0.49999997), 0.0);
        assert!(np_roundf(f32::NAN).is_nan());
    }

    #[test]
    fn every_base3_byte_reads_its_digits_back() {
        for n in 0u16..243 {
            let digits: [u8; 5] = std::array::from_fn(|k| (n / POW3[k] as u16 % 3) as u8);
            let byte = base3_byte(&digits, 0, 1, 5);
            for (k, &dgt) in digits.iter().enumerate() {
                assert_eq!(base3_digit(byte, k), dgt as f32 - 1.0, "n={n} k={k}");
            }
        }
    }
}
