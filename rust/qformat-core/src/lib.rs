//! qformat-core: bit-exact emulation of the number formats of machine
//! learning (IEEE fp64/fp32/fp16, bfloat16, tf32, fp8/fp6/fp4, e8m0, any
//! ExMy float, and integers), with every rounding mode and the NaN,
//! overflow and subnormal policies of the libraries people compare against.
//!
//! Layout, one concept per module:
//! * [`format`] — formats as data; [`value`] — exact unpacked values;
//! * [`rounding`] — rounding modes and the shared round decision;
//! * [`encode`] — the generic engine (the specification);
//! * [`options`] — conversion policies; [`profile`] — per-library, per-release
//!   rules (matched on layouts); [`policy`] — the one place where a profile
//!   and the caller's given options become a conversion's options;
//! * [`kernels`] — parallel slice conversions (lookup tables for ≤16-bit
//!   sources), and [`fp32_kernel`] — the branch-free float32 fast path; both
//!   are tested equal to the engine;
//! * [`decimal`] — exact reading of number text, exact and shortest decimals;
//! * [`int_cast`] — float → integer formats; [`quant`] — the quantizers
//!   (integer and MX block-scaled); [`random`] — counter-based draws;
//! * [`stats`] — error statistics of a conversion, non-finite values counted.
//!
//! No Python here: the `qformat-py` crate only converts arrays and errors.

pub mod decimal;
pub mod encode;
pub mod error;
pub mod format;
pub mod fp32_kernel;
pub mod fp32_widen;
pub mod int_cast;
pub mod kernels;
pub mod options;
pub mod policy;
pub mod profile;
pub mod quant;
pub mod random;
pub mod rounding;
pub mod simd;
pub mod stats;
pub mod value;

pub use error::Error;
pub use format::{builtin, builtins, FloatFormat, Format, IntFormat, NanEncoding};
pub use options::{EncodeOptions, NanPolicy, Overflow};
pub use rounding::RoundingMode;
pub use value::Value;
