//! The per-scale constants of the code pass (scale, inverse, zero point,
//! in f64 and float32), and the [`Run`] view a kernel reads them through:
//! one constant for a whole run, or one per element.

// `!(a <= b)` is deliberate: it is true for NaN, which is the point.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

use super::layout::Layout;
use super::options::{Arithmetic, QuantOptions};
use crate::error::Error;

/// The per-scale constants of the code pass. A run sharing one scale
/// derives its [`One`] on the spot (one division per run); layouts whose
/// runs need one scale per element (per channel along the last axis,
/// groups across an inner dimension) get a struct-of-arrays [`Table`] that
/// the loops read as plain slices. Nothing of the size of the scales is
/// allocated otherwise: with a million MX scales, that allocation (and
/// its page faults) used to cost more than the codes.
pub(super) struct Params<'a> {
    pub(super) scale: &'a [f64],
    /// Zero points; empty means all zero.
    zp: &'a [i64],
    arith: Arithmetic,
    table: Option<Table>,
    /// Every zero point is 0 (every symmetric scheme).
    zero_zps: bool,
}

/// Every scale's [`One`], struct-of-arrays.
struct Table {
    scale: Vec<f64>,
    inv: Vec<f64>,
    zp: Vec<f64>,
    scale32: Vec<f32>,
    inv32: Vec<f32>,
    zp32: Vec<f32>,
}

impl<'a> Params<'a> {
    /// Check the scales and prepare the constants `l` will ask for.
    pub(super) fn new(
        scales: &'a [f64],
        zps: &'a [i64],
        arith: Arithmetic,
        l: &Layout,
    ) -> Result<Self, Error> {
        if let Some(s) = scales.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return Err(Error::invalid(format!(
                "scales must be finite and positive, got {s}"
            )));
        }
        if arith == Arithmetic::Torch
            && scales
                .iter()
                .any(|&s| !(s as f32 > 0.0 && (s as f32).is_finite()))
        {
            return Err(Error::invalid(
                "arithmetic='torch' rounds scales to float32 and one becomes 0 or inf",
            ));
        }
        let mut p = Params {
            scale: scales,
            zp: zps,
            arith,
            table: None,
            zero_zps: zps.iter().all(|&z| z == 0),
        };
        if l.runs_per_element() {
            p.table = Some(p.table());
        }
        Ok(p)
    }

    /// True when every zero point is 0, so that a per-element run may be
    /// read through [`ZeroPoints0`].
    pub(super) fn zero_zps(&self) -> bool {
        self.zero_zps
    }

    /// True when [`Params::each`] can be called.
    pub(super) fn has_table(&self) -> bool {
        self.table.is_some()
    }

    /// The constants of scale `p`.
    #[inline(always)]
    pub(super) fn one(&self, p: usize) -> One {
        let z = self.zp.get(p).copied().unwrap_or(0);
        One::new(self.scale[p], z, self.arith)
    }

    fn table(&self) -> Table {
        let ones: Vec<One> = (0..self.scale.len()).map(|p| self.one(p)).collect();
        Table {
            scale: ones.iter().map(|o| o.scale).collect(),
            inv: ones.iter().map(|o| o.inv).collect(),
            zp: ones.iter().map(|o| o.zp).collect(),
            scale32: ones.iter().map(|o| o.scale32).collect(),
            inv32: ones.iter().map(|o| o.inv32).collect(),
            zp32: ones.iter().map(|o| o.zp32).collect(),
        }
    }

    /// True when the float32 loops compute the same codes: every scale is
    /// a float32 value with a normal float32 inverse, and codes and zero
    /// points are small enough for the float32 rounding trick.
    pub(super) fn fits_f32(&self, o: &QuantOptions) -> bool {
        let small = |v: f64| v.abs() < (1 << 20) as f64;
        small(o.qmin as f64)
            && small(o.qmax as f64)
            && self.zp.iter().all(|&z| small(z as f64))
            && (0..self.scale.len()).all(|p| {
                let c = self.one(p);
                c.scale32 as f64 == c.scale && c.inv32.is_normal()
            })
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
    /// The constants of elements `off..off + n` only. Per-element slices
    /// come back exactly `n` long, so a loop over `0..n` indexes them
    /// without bounds checks (which would stop it vectorising).
    fn sub(&self, off: usize, n: usize) -> Self;
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

impl One {
    /// The constants of scale `s` and zero point `z`: the inverse is
    /// `1/s` in f64 for exact arithmetic, PyTorch's `1.0f / f32(s)` else.
    #[inline(always)]
    fn new(s: f64, z: i64, arith: Arithmetic) -> Self {
        let inv = match arith {
            Arithmetic::Exact => 1.0 / s,
            Arithmetic::Torch => (1.0f32 / s as f32) as f64,
        };
        One {
            inv,
            zp: z as f64,
            scale: s,
            inv32: inv as f32,
            zp32: z as f32,
            scale32: s as f32,
        }
    }
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
    #[inline(always)]
    fn sub(&self, _: usize, _: usize) -> Self {
        *self
    }
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
    #[inline(always)]
    fn sub(&self, off: usize, n: usize) -> Self {
        Each {
            inv: &self.inv[off..][..n],
            zp: &self.zp[off..][..n],
            scale: &self.scale[off..][..n],
            inv32: &self.inv32[off..][..n],
            zp32: &self.zp32[off..][..n],
            scale32: &self.scale32[off..][..n],
        }
    }
}

/// An [`Each`] whose zero points are all 0, read as the constant 0. Along
/// the last axis every element reads its constants from per-column arrays
/// beside the input; the integer nearest loop then has one stream of
/// constants fewer, and its clamp bounds `qmin - zp - 1` and `qmax - zp + 1`
/// become constants. The values are the same (`0 as f64` is +0 either
/// way), so the codes are.
#[derive(Clone, Copy)]
pub(super) struct ZeroPoints0<'a>(pub(super) Each<'a>);

impl Run for ZeroPoints0<'_> {
    #[inline(always)]
    fn inv(&self, i: usize) -> f64 {
        self.0.inv(i)
    }
    #[inline(always)]
    fn zp(&self, _: usize) -> f64 {
        0.0
    }
    #[inline(always)]
    fn scale(&self, i: usize) -> f64 {
        self.0.scale(i)
    }
    #[inline(always)]
    fn inv32(&self, i: usize) -> f32 {
        self.0.inv32(i)
    }
    #[inline(always)]
    fn zp32(&self, _: usize) -> f32 {
        0.0
    }
    #[inline(always)]
    fn scale32(&self, i: usize) -> f32 {
        self.0.scale32(i)
    }
    #[inline(always)]
    fn sub(&self, off: usize, n: usize) -> Self {
        ZeroPoints0(self.0.sub(off, n))
    }
}

impl Params<'_> {
    /// The per-element constants of scales `p..p + n` (the layout must
    /// be one that [`Layout::runs_per_element`]).
    pub(super) fn each(&self, p: usize, n: usize) -> Each<'_> {
        let t = self
            .table
            .as_ref()
            .expect("Params::new builds the table for layouts with per-element runs");
        let r = p..p + n;
        Each {
            inv: &t.inv[r.clone()],
            zp: &t.zp[r.clone()],
            scale: &t.scale[r.clone()],
            inv32: &t.inv32[r.clone()],
            zp32: &t.zp32[r.clone()],
            scale32: &t.scale32[r],
        }
    }
}
