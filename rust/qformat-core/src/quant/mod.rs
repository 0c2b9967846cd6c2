//! Affine integer quantization and block-scaled float formats (OCP MX).
//!
//! `q = clamp(round(x / scale) + zero_point, qmin, qmax)`, with one scale
//! (and zero point) per tensor, per channel (index along an axis) or per
//! group of `g` consecutive elements along an axis.
//!
//! Shape of the work. An array is viewed as `[outer, len, inner]` around
//! the axis. Range statistics and scales take one parallel pass
//! ([`qparams`]); codes another. Both walk the memory in order with no
//! allocation per element, and every hot loop is compiled inside an
//! AVX-512 or AVX2 wrapper chosen at run time ([`crate::fast::simd`]), so the inner
//! loops are plain slices that LLVM vectorises.
//!
//! Exactness. `arithmetic = Exact` means `round(x / scale)` of the exact
//! rational `x / scale`. The fast loop computes `q = x * (1/scale)` in
//! float32 (float32 data and scales) or f64 and rounds it, branch-free;
//! the result can only differ from the exact one when `q` lies within the
//! product's error of a rounding boundary (a half-integer for the nearest
//! modes). The loop also reports whether its block of 256 elements holds
//! such a "doubtful" element (or NaN/inf); for the rare block that does,
//! a vectorised pass flags the elements and only those are redone by the
//! exact path (the directed and stochastic modes' loop judges its own
//! boundaries, the integers and the draw, the same way):
//! [`div_value`] divides the significands as integers (quotient plus
//! sticky remainder) and `round_to_integer` makes the one rounding
//! decision shared with every other conversion. `arithmetic = Torch`
//! reproduces PyTorch's float32 formula (docs/verification/findings.md §1.10).
//! `fast_equals_exact.rs` holds the fast loops to the exact path bit for bit.
//!
//! Files, one concept each: [`real`] element types; [`layout`] the
//! `[outer, len, inner]` view; [`walk`] the parallel walk; [`range`] range
//! statistics; [`params`] scales and zero points; [`exact`] exact
//! quotients; [`options`] the code pass's options; [`constants`] the
//! per-scale constants a kernel reads; [`codes`] the integer code pass,
//! with [`emit`] (what a code becomes) and [`directed`] (the loop of the
//! directed and stochastic modes);
//! [`mx`] float elements; [`gguf`] llama.cpp's GGUF block types, a recipe
//! of their own (gguf-py's float32 arithmetic, byte for byte), with
//! [`gguf_kquants`] (the K-quants, llama.cpp's reference quantizer) and
//! [`gguf_ternary`] (TQ1_0/TQ2_0), whose shared scalar helpers live in
//! `gguf_scalar`; [`fp8_block`] DeepSeek-V3's 128×128 FP8
//! weight blocks; [`nvfp4`]
//! NVIDIA's two-level FP4 in torchao's float32 arithmetic.

mod codes;
mod constants;
pub mod dequantize;
mod directed;
mod emit;
mod exact;
#[cfg(test)]
mod fast_equals_exact;
pub mod fp8_block;
pub mod gguf;
mod gguf_kquants;
mod gguf_scalar;
mod gguf_ternary;
mod layout;
mod mx;
pub mod nvfp4;
mod options;
mod params;
mod range;
mod real;
#[cfg(test)]
mod tests;
mod walk;

pub use codes::{fake_quantize, quantize};
pub use exact::{div_value, value_to_f64};
pub use layout::{Granularity, Layout};
pub use mx::{
    fake_quantize_float, fake_quantize_float_traced, quantize_float, quantize_float_traced,
    FloatQuantOptions, FloatRoute, FloatTrace,
};
pub use options::{Arithmetic, QuantOptions};
pub use params::{params, qparams, ParamSpec, Pow2Rule, ScaleRule};
pub use range::{ranges, RangeSource, Scheme};
pub use real::Real;
