//! How an array is cut into runs that share a scale, and the parallel walk
//! that hands each run to a kernel in memory order.

use rayon::prelude::*;

use super::constants::{Params, Run};
use super::real::Real;
use super::simd::wide;
use crate::error::Error;
use crate::kernels::CHUNK;

/// How scales are shared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Granularity {
    Tensor,
    /// One scale per index along the axis.
    Channel,
    /// One scale per run of `g` consecutive elements along the axis.
    Group(usize),
}

/// An array seen as `[outer, len, inner]` around the quantization axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub outer: usize,
    pub len: usize,
    pub inner: usize,
    pub gran: Granularity,
}

impl Layout {
    /// Layout of an array of `shape` for `axis` (negative counts from the
    /// end) and `group`. A group without an axis groups along the last axis.
    pub fn new(shape: &[usize], axis: Option<i64>, group: Option<usize>) -> Result<Self, Error> {
        let size: usize = shape.iter().product();
        if axis.is_none() && group.is_none() {
            return Ok(Layout {
                outer: 1,
                len: size,
                inner: 1,
                gran: Granularity::Tensor,
            });
        }
        let nd = shape.len() as i64;
        if nd == 0 {
            return Err(Error::invalid(
                "a 0-d array has no axis to quantize along; use axis=None",
            ));
        }
        let a = axis.unwrap_or(-1);
        if a < -nd || a >= nd {
            return Err(Error::invalid(format!(
                "axis {a} is out of bounds for an array of {nd} dimensions"
            )));
        }
        let k = if a < 0 { a + nd } else { a } as usize;
        let (outer, len, inner) = (
            shape[..k].iter().product(),
            shape[k],
            shape[k + 1..].iter().product(),
        );
        let gran = match group {
            None => Granularity::Channel,
            Some(0) => return Err(Error::invalid("group_size must be positive")),
            Some(g) if len % g != 0 => {
                return Err(Error::invalid(format!(
                    "group_size {g} does not divide the length {len} of axis {k}"
                )))
            }
            Some(g) => Granularity::Group(g),
        };
        Ok(Layout {
            outer,
            len,
            inner,
            gran,
        })
    }

    /// The unit [`drive`] hands out: a run of `len` elements sharing the
    /// constants of one row of channels or groups (`inner == 1`), else a
    /// run of `inner` elements along one index of the axis.
    pub(super) fn row(&self) -> usize {
        match self.gran {
            Granularity::Tensor => CHUNK,
            _ if self.inner == 1 => self.len,
            _ => self.inner,
        }
    }

    /// True when a run handed to a kernel needs one scale per element:
    /// channels along the last axis, or groups across an inner dimension.
    pub(super) fn runs_per_element(&self) -> bool {
        match self.gran {
            Granularity::Tensor => false,
            Granularity::Channel => self.inner == 1,
            Granularity::Group(_) => self.inner > 1,
        }
    }

    /// Number of elements.
    pub fn size(&self) -> usize {
        self.outer * self.len * self.inner
    }

    /// Number of scales: 1, `len`, or `outer * len/g * inner`.
    pub fn n_params(&self) -> usize {
        match self.gran {
            Granularity::Tensor => 1,
            Granularity::Channel => self.len,
            Granularity::Group(g) => self.outer * (self.len / g) * self.inner,
        }
    }

    /// Call `f` with the flat index of every element sharing scale `p`.
    pub(super) fn for_each_in_param(&self, p: usize, mut f: impl FnMut(usize)) {
        let (len, inner) = (self.len, self.inner);
        match self.gran {
            Granularity::Tensor => (0..self.size()).for_each(f),
            Granularity::Channel => {
                for o in 0..self.outer {
                    let base = (o * len + p) * inner;
                    (base..base + inner).for_each(&mut f);
                }
            }
            Granularity::Group(g) => {
                let (j, ob) = (p % inner, p / inner);
                let groups = len / g;
                let (o, b) = (ob / groups, ob % groups);
                for a in b * g..(b + 1) * g {
                    f((o * len + a) * inner + j);
                }
            }
        }
    }
}

/// A kernel over one contiguous run of elements sharing a [`Run`] of constants.
/// `base` is the flat index of the run's first element. Implementations
/// are `#[inline(always)]`: [`drive`] compiles each task for the widest
/// instruction set, and the kernel's loops must be compiled inside it.
pub(super) trait Kernel<T, O>: Sync + Sized {
    fn run<R: Run>(&self, xs: &[T], out: &mut [O], r: R, base: usize) -> Result<(), Error>;

    /// A row of groups of `g` consecutive elements, the first using the
    /// constants of scale `first`. By default one [`Kernel::run`] per group.
    #[inline(always)]
    fn run_groups(
        &self,
        xs: &[T],
        out: &mut [O],
        p: &Params,
        first: usize,
        g: usize,
        base: usize,
    ) -> Result<(), Error> {
        default_run_groups(self, xs, out, p, first, g, base)
    }
}

/// [`Kernel::run_groups`]'s default, for kernels that override it for
/// some element types only.
#[inline(always)]
pub(super) fn default_run_groups<T, O, K: Kernel<T, O>>(
    k: &K,
    xs: &[T],
    out: &mut [O],
    p: &Params,
    first: usize,
    g: usize,
    base: usize,
) -> Result<(), Error> {
    for (b, (xg, og)) in xs.chunks(g).zip(out.chunks_mut(g)).enumerate() {
        k.run(xg, og, p.one(first + b), base + b * g)?;
    }
    Ok(())
}

/// Walk `x` in parallel, in memory order, handing each kernel call a run
/// of elements together with its scale constants.
pub(super) fn drive<T: Real, O: Send, K: Kernel<T, O>>(
    x: &[T],
    out: &mut [O],
    l: &Layout,
    p: &Params,
    k: &K,
) -> Result<(), Error> {
    check_lengths(x.len(), out.len(), l, p)?;
    if x.is_empty() {
        return Ok(());
    }
    let row = l.row();
    let rows_per_task = (CHUNK / row).max(1);
    let errors: Vec<Error> = x
        .par_chunks(rows_per_task * row)
        .zip(out.par_chunks_mut(rows_per_task * row))
        .enumerate()
        .filter_map(|(t, (xs, os))| {
            let first = t * rows_per_task;
            wide(
                #[inline(always)]
                || drive_rows(xs, os, first, l, p, k),
            )
            .err()
        })
        .collect();
    errors.into_iter().next().map_or(Ok(()), Err)
}

fn check_lengths(nx: usize, nout: usize, l: &Layout, p: &Params) -> Result<(), Error> {
    if nx != nout || nx != l.size() {
        return Err(Error::invalid("input and output lengths differ"));
    }
    if p.scale.len() != l.n_params() {
        return Err(Error::invalid(format!(
            "expected {} scales, got {}",
            l.n_params(),
            p.scale.len()
        )));
    }
    if l.runs_per_element() && !p.has_table() {
        return Err(Error::invalid(
            "scale constants prepared for another layout",
        ));
    }
    Ok(())
}

/// One task of [`drive`]: whole rows (see [`Layout::row`]) from row `first` on.
#[inline(always)]
fn drive_rows<T: Real, O, K: Kernel<T, O>>(
    xs: &[T],
    os: &mut [O],
    first: usize,
    l: &Layout,
    p: &Params,
    k: &K,
) -> Result<(), Error> {
    let (len, inner, row) = (l.len, l.inner, l.row());
    for (r, (xr, or)) in xs.chunks(row).zip(os.chunks_mut(row)).enumerate() {
        let ri = first + r;
        let base = ri * row;
        match l.gran {
            Granularity::Tensor => k.run(xr, or, p.one(0), base)?,
            Granularity::Channel if inner == 1 => k.run(xr, or, p.each(0, len), base)?,
            Granularity::Channel => k.run(xr, or, p.one(ri % len), base)?,
            Granularity::Group(g) if inner == 1 => {
                k.run_groups(xr, or, p, ri * (len / g), g, base)?
            }
            Granularity::Group(g) => {
                let (o, a) = (ri / len, ri % len);
                k.run(xr, or, p.each((o * (len / g) + a / g) * inner, inner), base)?;
            }
        }
    }
    Ok(())
}
