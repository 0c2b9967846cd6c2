//! The parallel walk that hands each run of elements sharing a scale to a
//! kernel, in memory order.

use rayon::prelude::*;

use super::constants::{Each, Params, Run};
use super::layout::{Granularity, Layout};
use super::real::Real;
use crate::error::Error;
use crate::fast::simd::wide;
use crate::fast::words::CHUNK;

/// A kernel over one contiguous run of elements sharing a [`Run`] of constants.
/// `base` is the flat index of the run's first element. Implementations
/// are `#[inline(always)]`: [`drive`] compiles each task for the widest
/// instruction set, and the kernel's loops must be compiled inside it.
pub(super) trait Kernel<T, O>: Sync + Sized {
    fn run<R: Run>(&self, xs: &[T], out: &mut [O], r: R, base: usize) -> Result<(), Error>;

    /// [`Kernel::run`] over per-element constants whose zero points are
    /// all 0 (see [`Params::zero_zps`]). By default the same call; a
    /// kernel whose loop gains from reading the zero point as a constant
    /// overrides it (only there, so that the other loops are not compiled
    /// twice).
    #[inline(always)]
    fn run_zero_zps(&self, xs: &[T], out: &mut [O], r: Each, base: usize) -> Result<(), Error> {
        self.run(xs, out, r, base)
    }

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

/// `k` over a run whose constants are scales `first..first + n`, one per
/// element, through [`Kernel::run_zero_zps`] when every zero point is 0.
#[inline(always)]
fn run_each<T, O, K: Kernel<T, O>>(
    k: &K,
    (xs, out): (&[T], &mut [O]),
    p: &Params,
    (first, n): (usize, usize),
    base: usize,
) -> Result<(), Error> {
    let r = p.each(first, n);
    if p.zero_zps() {
        k.run_zero_zps(xs, out, r, base)
    } else {
        k.run(xs, out, r, base)
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
            Granularity::Channel if inner == 1 => run_each(k, (xr, or), p, (0, len), base)?,
            Granularity::Channel => k.run(xr, or, p.one(ri % len), base)?,
            Granularity::Group(g) if inner == 1 => {
                k.run_groups(xr, or, p, ri * (len / g), g, base)?
            }
            Granularity::Group(g) => {
                let (o, a) = (ri / len, ri % len);
                let first = (o * (len / g) + a / g) * inner;
                run_each(k, (xr, or), p, (first, inner), base)?;
            }
        }
    }
    Ok(())
}
