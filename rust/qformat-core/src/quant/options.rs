//! The options of the integer code pass: how `x / scale` is computed,
//! the rounding, and the code range.

use crate::engine::rounding::RoundingMode;

/// How `x / scale` is computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arithmetic {
    /// The exact rational, rounded once.
    Exact,
    /// PyTorch's: `s = f32(scale)`, `inv = 1.0f / s`, `t = f32(x * inv)`,
    /// `q = zp + round(t)`, clamped.
    Torch,
}

/// Options of the code pass.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QuantOptions {
    pub rounding: RoundingMode,
    pub seed: u64,
    pub arithmetic: Arithmetic,
    pub qmin: i64,
    pub qmax: i64,
    /// The code a NaN gets; None makes NaN an error.
    pub nan: Option<i64>,
}
