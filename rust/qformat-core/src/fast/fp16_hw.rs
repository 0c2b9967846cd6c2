//! float32 → IEEE binary16 by the processor's own conversion (x86 F16C's
//! VCVTPS2PH with immediate 0, and VCVTPH2PS back for `round`).
//!
//! The instruction computes exactly the engine's bits under the IEEE
//! defaults — nearest even, subnormals kept, overflow to infinity, NaNs
//! quieted keeping their leading payload bits — and nothing else: any other
//! option (a rounding mode, FTZ/DAZ, saturation, a NaN policy) keeps the
//! portable float32 kernel. The tests prove it equal to the engine at every
//! instruction-set level; the baseline level never runs it.

use crate::engine::options::{EncodeOptions, Overflow};
use crate::fast::simd;
use crate::fast::words::{same_words, same_words_mut, Bits};
use crate::format::{float_layout, FloatFormat};

/// Whether converting float32 to `fmt` under `opts` is what VCVTPS2PH
/// computes: `fmt` has binary16's layout and `opts` are the IEEE defaults
/// (the seed and random-bit count are unused outside stochastic rounding;
/// binary16's own overflow rule is infinity).
pub fn applies(fmt: &FloatFormat, opts: &EncodeOptions) -> bool {
    let ieee = EncodeOptions {
        seed: opts.seed,
        sr_bits: opts.sr_bits,
        overflow: opts.overflow,
        ..EncodeOptions::default()
    };
    *fmt == *float_layout("fp16")
        && matches!(opts.overflow, Overflow::FormatRule | Overflow::Inf)
        && *opts == ieee
}

/// Convert one chunk of float32 patterns (widened back to float32 when
/// `round_trip`) in hardware; false, writing nothing, where the words are
/// not float32 in and float16 (or float32) out or the hardware path does
/// not run here, so that the caller's portable kernel takes the chunk.
pub fn convert_chunk<S: Bits, D: Bits>(src: &[S], dst: &mut [D], round_trip: bool) -> bool {
    let Some(src) = same_words::<S, u32>(src) else {
        return false;
    };
    if round_trip {
        same_words_mut::<D, u32>(dst).is_some_and(|d| simd::f32_round_f16(src, d))
    } else {
        same_words_mut::<D, u16>(dst).is_some_and(|d| simd::f32_to_f16(src, d))
    }
}
