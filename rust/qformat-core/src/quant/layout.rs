//! How an array is cut into runs that share a scale (the `[outer, len,
//! inner]` view around the axis).

use crate::error::Error;
use crate::fast::words::CHUNK;

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
