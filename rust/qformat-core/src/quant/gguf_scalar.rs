//! The scalar pieces the GGUF block types share (the 32-value types in
//! [`super::gguf`], the K-quants and the ternary types; `abs_max` also
//! serves [`super::fp8_block`]): NumPy's byte cast, a block's largest
//! magnitude and the half-precision scale conversion. They live in a
//! module of their own so that the block types depend on them, not on
//! each other (the layer test in `tests/layers.rs` rejects such cycles).

use crate::engine::options::EncodeOptions;
use crate::fast::fp32::Fp32Narrowing;
use crate::format::float_builtin;

/// NumPy's float32 → uint8/int8 cast on x86-64: a truncating conversion to
/// int32 (0x8000_0000 for NaN and anything out of range), low byte kept.
#[inline(always)]
pub(super) fn np_cast_byte(v: f32) -> u8 {
    let i = if (-2_147_483_648.0..2_147_483_648.0).contains(&v) {
        // SAFETY: `v` is not NaN and truncates into i32's range (checked
        // just above). Unlike the saturating `as`, this lets the loops
        // vectorise the conversion (one cvttps2dq) instead of a scalar
        // convert-and-fix-up per value, which profiling showed as a
        // quarter of the Q8_0 kernel.
        unsafe { v.to_int_unchecked::<i32>() }
    } else {
        i32::MIN
    };
    i as u8
}

/// Largest magnitude of a block of finite values (0 for an empty block).
/// Eight independent lanes and a plain comparison instead of one chain
/// of NaN-aware `f32::max`: the inputs are checked finite first, so the
/// result is the same value, and the loop vectorises (the chained `max`
/// was the slowest part of every 32-value kernel).
#[inline(always)]
pub(super) fn abs_max(b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        for (m, v) in lanes.iter_mut().zip(c) {
            let a = v.abs();
            *m = if a > *m { a } else { *m };
        }
    }
    for v in chunks.remainder() {
        let a = v.abs();
        lanes[0] = if a > lanes[0] { a } else { lanes[0] };
    }
    lanes.iter().fold(0f32, |m, &a| if a > m { a } else { m })
}

/// IEEE half precision as every GGUF type stores its scales: float32 in
/// with nearest-even rounding (overflow to inf), exact widening out.
pub(super) struct Half {
    narrowing: Fp32Narrowing,
}

impl Half {
    pub(super) fn new() -> Self {
        let narrowing = Fp32Narrowing::new(&float_builtin("fp16"), &EncodeOptions::default())
            .expect("the float32 kernel covers fp16");
        Half { narrowing }
    }

    /// The half-precision bits of `v`.
    #[inline(always)]
    pub(super) fn encode(&self, v: f32) -> u16 {
        self.narrowing.convert(v.to_bits(), 0) as u16
    }

    /// The float32 value of half-precision bits `h` (exact).
    #[inline(always)]
    pub(super) fn decode(&self, h: u16) -> f32 {
        f32::from_bits(self.narrowing.widen(h as u32))
    }
}
