//! What each clamped integer code becomes in the code pass: a two's
//! complement word (`quantize`) or the dequantized value (`fake_quantize`).

use super::real::Real;
use crate::fast::words::Bits;

/// `code` is always clamped to the code range (never NaN), which makes
/// the unchecked float → int conversions sound; they vectorise where the
/// saturating `as` casts do not.
pub(super) trait Emit<O>: Sync {
    fn emit(&self, code: f64, zp: f64, scale: f64) -> O;
    /// The same from the float32 loop (scale is then a float32 value).
    fn emit32(&self, code: f32, zp: f32, scale: f32) -> O;
}

/// Integer codes in two's-complement words.
pub(super) struct Codes;
impl<D: Bits> Emit<D> for Codes {
    #[inline(always)]
    fn emit(&self, code: f64, _: f64, _: f64) -> D {
        // SAFETY: `code` is clamped to [qmin, qmax] within the int32 range.
        D::from_u64(unsafe { code.to_int_unchecked::<i32>() } as i64 as u64)
    }
    #[inline(always)]
    fn emit32(&self, code: f32, _: f32, _: f32) -> D {
        // SAFETY: as above.
        D::from_u64(unsafe { code.to_int_unchecked::<i32>() } as i64 as u64)
    }
}

/// `(code - zp) * scale` in the data's own float type (fake quantization).
pub(super) struct Dequant;
impl<T: Real> Emit<T> for Dequant {
    #[inline(always)]
    fn emit(&self, code: f64, zp: f64, scale: f64) -> T {
        T::from_f64((code - zp) * scale)
    }
    #[inline(always)]
    fn emit32(&self, code: f32, zp: f32, scale: f32) -> T {
        // `code - zp` is exact; one float32 rounding of the product, as in f64 then f32.
        T::from_f64(((code - zp) * scale) as f64)
    }
}
