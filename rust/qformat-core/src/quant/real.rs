//! The float element types the quantizers read and write.

use crate::format::{float_builtin, FloatFormat};

/// The float element types the kernels read and write (f32, f64).
pub trait Real: Copy + Send + Sync + PartialOrd + Default + 'static {
    const MAX: Self;
    fn to_f64(self) -> f64;
    /// Round to nearest even.
    fn from_f64(x: f64) -> Self;
    fn abs(self) -> Self;
    /// The float format of this type (for rounding scales to it).
    fn format() -> FloatFormat;
    /// The value as float32 (rounded to nearest even), for PyTorch's arithmetic.
    fn to_f32(self) -> f32;
}

impl Real for f32 {
    const MAX: Self = f32::MAX;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        x as f32
    }
    #[inline(always)]
    fn abs(self) -> Self {
        f32::abs(self)
    }
    fn format() -> FloatFormat {
        float_builtin("fp32")
    }
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self
    }
}

impl Real for f64 {
    const MAX: Self = f64::MAX;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        x
    }
    #[inline(always)]
    fn abs(self) -> Self {
        f64::abs(self)
    }
    fn format() -> FloatFormat {
        float_builtin("fp64")
    }
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self as f32
    }
}
