//! qformat-core: bit-exact emulation of the number formats of machine
//! learning (IEEE fp64/fp32/fp16, bfloat16, tf32, fp8/fp6/fp4, e8m0, any
//! ExMy float, and integers), with every rounding mode and the NaN,
//! overflow and subnormal policies of the libraries people compare against.
//!
//! Layout: one folder per layer, one concept per file. A layer uses only
//! the layers listed before it.
//! * [`error`] — the one error type; [`format`] — formats as data;
//! * [`engine`] — the specification: exact [`Value`]s, the shared round
//!   decision, a conversion's options, float encoding (with the flags its
//!   rounding raises), integer casts and the stochastic draw;
//! * [`policy`] — per-library, per-release profiles (matched on layouts)
//!   and the resolution of a profile and the caller's given options;
//! * [`fast`] — storage words, slice conversions (lookup tables, the
//!   float32 kernel, the float64 front, integer casts) and the SIMD level
//!   dispatcher; every path is tested equal to the engine;
//! * [`text`] — exact reading of number text, exact rationals, exact and
//!   shortest decimals;
//! * [`quant`] — the quantizers (integer, MX block-scaled, GGUF, NVFP4);
//! * [`stats`] — error statistics of a conversion, non-finite values
//!   counted, and a float conversion that takes them in its own pass.
//!
//! No Python here: the `qformat-py` crate only converts arrays and errors.

pub mod engine;
pub mod error;
pub mod fast;
pub mod format;
pub mod policy;
pub mod quant;
pub mod stats;
pub mod text;

pub use engine::options::{EncodeOptions, NanPolicy, Overflow};
pub use engine::rounding::RoundingMode;
pub use engine::value::Value;
pub use error::Error;
pub use format::{builtin, builtins, FloatFormat, Format, IntFormat, NanEncoding};
