//! The per-scale constants of the code pass (scale, inverse, zero point,
//! in f64 and float32), and the [`Run`] view a kernel reads them through:
//! one constant for a whole run, or one per element.

// `!(a <= b)` is deliberate: it is true for NaN, which is the point.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

use super::codes::{Arithmetic, QuantOptions};
use crate::error::Error;

/// The per-scale constants of the code pass, struct-of-arrays so that the
/// per-element loops read them as plain slices.
pub(super) struct Params {
    pub(super) scale: Vec<f64>,
    pub(super) inv: Vec<f64>,
    pub(super) zp: Vec<f64>,
    /// The same in float32, for the float32 fast loops (see [`Params::fits_f32`]).
    pub(super) scale32: Vec<f32>,
    pub(super) inv32: Vec<f32>,
    pub(super) zp32: Vec<f32>,
}

impl Params {
    pub(super) fn new(scales: &[f64], zps: &[i64], arith: Arithmetic) -> Result<Self, Error> {
        if let Some(s) = scales.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return Err(Error::invalid(format!(
                "scales must be finite and positive, got {s}"
            )));
        }
        let inv = scales
            .iter()
            .map(|&s| match arith {
                Arithmetic::Exact => 1.0 / s,
                Arithmetic::Torch => (1.0f32 / s as f32) as f64,
            })
            .collect();
        if arith == Arithmetic::Torch
            && scales
                .iter()
                .any(|&s| !(s as f32 > 0.0 && (s as f32).is_finite()))
        {
            return Err(Error::invalid(
                "arithmetic='torch' rounds scales to float32 and one becomes 0 or inf",
            ));
        }
        let inv: Vec<f64> = inv;
        Ok(Params {
            scale32: scales.iter().map(|&s| s as f32).collect(),
            inv32: match arith {
                Arithmetic::Exact => scales.iter().map(|&s| (1.0 / s) as f32).collect(),
                Arithmetic::Torch => inv.iter().map(|&v| v as f32).collect(),
            },
            zp32: zps.iter().map(|&z| z as f32).collect(),
            scale: scales.to_vec(),
            inv,
            zp: zps.iter().map(|&z| z as f64).collect(),
        })
    }

    /// True when the float32 loops compute the same codes: every scale is
    /// a float32 value with a normal float32 inverse, and codes and zero
    /// points are small enough for the float32 rounding trick.
    pub(super) fn fits_f32(&self, o: &QuantOptions) -> bool {
        let small = |v: f64| v.abs() < (1 << 20) as f64;
        small(o.qmin as f64)
            && small(o.qmax as f64)
            && self.zp.iter().all(|&z| small(z))
            && self
                .scale
                .iter()
                .zip(&self.inv32)
                .all(|(&s, &i)| s as f32 as f64 == s && i.is_normal())
    }
}

/// The scale constants for one run of elements: the same for all, or one per element.
pub(super) trait Run: Copy + Sync {
    fn inv(&self, i: usize) -> f64;
    fn zp(&self, i: usize) -> f64;
    fn scale(&self, i: usize) -> f64;
    fn inv32(&self, i: usize) -> f32;
    fn zp32(&self, i: usize) -> f32;
    fn scale32(&self, i: usize) -> f32;
}

#[derive(Clone, Copy)]
pub(super) struct One {
    inv: f64,
    zp: f64,
    scale: f64,
    inv32: f32,
    zp32: f32,
    scale32: f32,
}

macro_rules! run_accessors {
    ($($name:ident: $t:ty),*) => {$(
        #[inline(always)]
        fn $name(&self, i: usize) -> $t {
            self.$name.at(i)
        }
    )*};
}

/// A constant or a per-element slice.
pub(super) trait At<T> {
    fn at(&self, i: usize) -> T;
}
impl<T: Copy> At<T> for T {
    #[inline(always)]
    fn at(&self, _: usize) -> T {
        *self
    }
}
impl<T: Copy> At<T> for &[T] {
    #[inline(always)]
    fn at(&self, i: usize) -> T {
        self[i]
    }
}

impl Run for One {
    run_accessors!(inv: f64, zp: f64, scale: f64, inv32: f32, zp32: f32, scale32: f32);
}

#[derive(Clone, Copy)]
pub(super) struct Each<'a> {
    inv: &'a [f64],
    zp: &'a [f64],
    scale: &'a [f64],
    inv32: &'a [f32],
    zp32: &'a [f32],
    scale32: &'a [f32],
}

impl Run for Each<'_> {
    run_accessors!(inv: f64, zp: f64, scale: f64, inv32: f32, zp32: f32, scale32: f32);
}

impl Params {
    pub(super) fn one(&self, p: usize) -> One {
        One {
            inv: self.inv[p],
            zp: self.zp[p],
            scale: self.scale[p],
            inv32: self.inv32[p],
            zp32: self.zp32[p],
            scale32: self.scale32[p],
        }
    }

    pub(super) fn each(&self, p: usize, n: usize) -> Each<'_> {
        let r = p..p + n;
        Each {
            inv: &self.inv[r.clone()],
            zp: &self.zp[r.clone()],
            scale: &self.scale[r.clone()],
            inv32: &self.inv32[r.clone()],
            zp32: &self.zp32[r.clone()],
            scale32: &self.scale32[r],
        }
    }
}
