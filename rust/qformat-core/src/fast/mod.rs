//! Fast paths: faster ways to compute the engine's bits, each tested equal
//! to [`crate::engine`] for every eligible format, option set and
//! instruction-set level.
//!
//! * [`words`] — storage words and the fixed-chunk parallel walk;
//! * [`slices`] — whole-array float conversions, the drivers that pick a
//!   route per call: a lookup table, one of the kernels below, the engine;
//! * [`table`] — lookup tables for sources of at most 16 bits (the engine's
//!   every result, computed once) and their gather loop;
//! * [`fp32`] — the branch-free float32 → narrower-float kernel;
//! * [`fp32_nearest`] — its lean loop for nearest even with the format's
//!   own rules (the default options);
//! * [`fp32_directed`] — its lean loop for the directed modes and
//!   stochastic rounding with the format's own rules;
//! * [`fp16_hw`] — float32 → binary16 by the processor's F16C conversion;
//! * [`fp64_front`] — float64 inputs through that kernel;
//! * [`fp32_widen`] — float32 → float64, an exact bit formula;
//! * [`int`] — whole-array integer conversions and their branch-free loop;
//! * [`simd`] — the instruction-set level dispatcher (one file per ISA).

pub mod fp16_hw;
pub mod fp32;
pub mod fp32_directed;
pub mod fp32_nearest;
pub mod fp32_widen;
pub mod fp64_front;
pub mod int;
pub mod simd;
pub mod slices;
pub mod table;
pub mod words;
