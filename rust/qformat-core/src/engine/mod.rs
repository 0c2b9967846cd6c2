//! The specification: what every conversion means, computed exactly and
//! one element at a time. Every fast path in [`crate::fast`] and
//! [`crate::quant`] is tested equal to it.
//!
//! * [`value`] — the exact unpacked value every conversion starts from;
//! * [`rounding`] — rounding modes and the one round decision all targets share;
//! * [`options`] — a float conversion's options (rounding, subnormals,
//!   overflow, NaN): the engine's input, so they live with it;
//! * [`encode`] — exact value → pattern of any float format, with the
//!   exactness and overflow / underflow flags its rounding raises;
//! * [`int_cast`] — exact value → integer formats, with their range and NaN rules;
//! * [`random`] — the counter-based draw that stochastic rounding consumes.
//!
//! Uses nothing from `fast`, `policy`, `text` or `quant`.

pub mod encode;
pub mod int_cast;
pub mod options;
pub mod random;
pub mod rounding;
pub mod value;
