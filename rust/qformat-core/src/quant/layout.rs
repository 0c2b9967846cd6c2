//! How an array is cut into runs that share a scale, and the parallel walk
//! that hands each run to a kernel in memory order.

use rayon::prelude::*;

use super::constants::{Params, Run};
use super::real::Real;
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

/// `base` is the flat index of the run's first element.
pub(super) trait Kernel<T, O>: Sync {
    fn run<R: Run>(&self, xs: &[T], out: &mut [O], r: R, base: usize) -> Result<(), Error>;
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
    if x.len() != out.len() || x.len() != l.size() {
        return Err(Error::invalid("input and output lengths differ"));
    }
    if p.scale.len() != l.n_params() {
        return Err(Error::invalid(format!(
            "expected {} scales, got {}",
            l.n_params(),
            p.scale.len()
        )));
    }
    if x.is_empty() {
        return Ok(());
    }
    let (len, inner) = (l.len, l.inner);
    let row = match l.gran {
        Granularity::Tensor => CHUNK,
        _ if inner == 1 => len,
        _ => inner,
    };
    let rows_per_task = (CHUNK / row).max(1);
    let errors: Vec<Error> = x
        .par_chunks(rows_per_task * row)
        .zip(out.par_chunks_mut(rows_per_task * row))
        .enumerate()
        .filter_map(|(t, (xs, os))| {
            for (r, (xr, or)) in xs.chunks(row).zip(os.chunks_mut(row)).enumerate() {
                let ri = t * rows_per_task + r;
                let base = ri * row;
                let res = match l.gran {
                    Granularity::Tensor => k.run(xr, or, p.one(0), base),
                    Granularity::Channel if inner == 1 => k.run(xr, or, p.each(0, len), base),
                    Granularity::Channel => k.run(xr, or, p.one(ri % len), base),
                    Granularity::Group(g) if inner == 1 => {
                        let first = ri * (len / g);
                        xr.chunks(g).zip(or.chunks_mut(g)).enumerate().try_for_each(
                            |(b, (xg, og))| k.run(xg, og, p.one(first + b), base + b * g),
                        )
                    }
                    Granularity::Group(g) => {
                        let (o, a) = (ri / len, ri % len);
                        k.run(xr, or, p.each((o * (len / g) + a / g) * inner, inner), base)
                    }
                };
                if let Err(e) = res {
                    return Some(e);
                }
            }
            None
        })
        .collect();
    errors.into_iter().next().map_or(Ok(()), Err)
}
