//! Codes back to values: `dequantize` of integer codes and of float
//! element codes with their scales (and zero points), in one parallel pass
//! over the codes, and the pieces the error statistics of a quantization
//! share with it (`stats::quantized`: the code values, the scale layout,
//! the checks).
//!
//! The arithmetic is the Python `QuantizedArray.dequantize`'s, bit for
//! bit, so that its fast path and its NumPy formula give the same array:
//! float element codes as `T(value * scale)` (the product rounded to
//! float64, then to `T`), integer codes as `T(code - zp) * T(scale)` in
//! `T`'s own arithmetic.

use rayon::prelude::*;

use crate::engine::options::EncodeOptions;
use crate::error::Error;
use crate::fast::simd::wide;
use crate::fast::words::Bits;
use crate::format::{float_builtin, FloatFormat};
use crate::quant::{value_to_f64, Granularity, Layout, Real};

/// Elements per parallel task of [`dequantize`] (a multiple of [`BLOCK`]).
const TASK: usize = 1 << 16;

/// Elements dequantized at a time: a block of values that stays in the
/// first-level cache (a multiple of the lanes, so blocks feed them in order).
pub(crate) const BLOCK: usize = 1024;

/// What the codes are.
#[derive(Clone, Copy, Debug)]
pub enum Elements<'a> {
    /// Integer codes in two's-complement words (`signed`: read with the
    /// word's sign; else as unsigned), dequantized as `(code - zp) * scale`.
    Int { signed: bool },
    /// Codes of a float element format (at most 16 bits), dequantized as
    /// `value(code) * scale`; zero points must be empty.
    Float(&'a FloatFormat),
}

/// Whether a code has a bit outside `mask` (2^bits - 1): each chunk's
/// codes OR-ed together in one straight loop, which vectorises, where a
/// short-circuiting `any` compared them one by one (about 14% of the MX
/// statistics' time).
fn any_above<D: Bits>(codes: &[D], mask: u64) -> bool {
    codes.par_chunks(TASK).any(|c| {
        let all = wide(
            #[inline(always)]
            || c.iter().fold(0u64, |m, &v| m | v.to_u64()),
        );
        all & !mask != 0
    })
}

/// Lengths and counts agree with the layout (`nx`: the input's length for
/// the statistics, the output's for [`dequantize`]).
pub(crate) fn check(
    nx: usize,
    ncodes: usize,
    l: &Layout,
    nscales: usize,
    nzps: usize,
    elements: &Elements,
) -> Result<(), Error> {
    if nx != ncodes || nx != l.size() {
        return Err(Error::invalid("values, codes and shape differ in size"));
    }
    if nscales != l.n_params() || (nzps != 0 && nzps != nscales) {
        return Err(Error::invalid(format!(
            "expected {} scales and zero points, got {nscales} and {nzps}",
            l.n_params()
        )));
    }
    match elements {
        Elements::Float(f) if f.bits() > 16 => Err(Error::invalid(format!(
            "{} is too wide for an element format",
            f.name
        ))),
        Elements::Float(_) if nzps != 0 => {
            Err(Error::invalid("float elements have no zero points"))
        }
        _ => Ok(()),
    }
}

/// The exact value of one code word.
pub(crate) trait CodeValue<D>: Sync {
    fn value(&self, code: D) -> f64;
}

/// Two's-complement integer codes: the word shifted up by this many bits
/// and arithmetically back down.
pub(crate) struct Signed(pub(crate) usize);
impl<D: Bits> CodeValue<D> for Signed {
    #[inline(always)]
    fn value(&self, code: D) -> f64 {
        (((code.to_u64() << self.0) as i64) >> self.0) as f64
    }
}

/// Unsigned integer codes.
pub(crate) struct Unsigned;
impl<D: Bits> CodeValue<D> for Unsigned {
    #[inline(always)]
    fn value(&self, code: D) -> f64 {
        code.to_u64() as f64
    }
}

/// The float32 value of every code of the built-in float format `name`
/// (at most 8 bits), as the engine widens it, NaN patterns included: the
/// table the recipe dequantizers (NVFP4, FP8 blocks) multiply in float32.
pub(crate) fn float32_values(name: &str) -> Vec<f32> {
    let fmt = float_builtin(name);
    let fp32 = float_builtin("fp32");
    let opts = EncodeOptions::default();
    (0..1u64 << fmt.bits())
        .map(|c| f32::from_bits(fp32.encode(fmt.unpack(c), &opts, 0) as u32))
        .collect()
}

/// Every value of a float element format (NaN codes are NaN), the table
/// the fused quantize-dequantize pass multiplies by the scale.
pub(crate) struct FloatValues {
    values: Vec<f64>,
    mask: u64,
}

impl FloatValues {
    /// The table of `f`, once every one of `codes` is below `2^bits`
    /// (the table's reads are masked, so a wider code must be refused).
    pub(crate) fn checked<D: Bits>(f: &FloatFormat, codes: &[D]) -> Result<Self, Error> {
        let table = FloatValues::new(f);
        if any_above(codes, table.mask) {
            return Err(Error::invalid(format!(
                "element codes must be below 2^{}",
                f.bits()
            )));
        }
        Ok(table)
    }

    fn new(f: &FloatFormat) -> Self {
        let values: Vec<f64> = (0..1u64 << f.bits())
            .map(|c| value_to_f64(f.unpack(c)))
            .collect();
        FloatValues {
            mask: values.len() as u64 - 1,
            values,
        }
    }
}

impl<D: Bits> CodeValue<D> for FloatValues {
    #[inline(always)]
    fn value(&self, code: D) -> f64 {
        // Masked (codes were checked below the table): no bounds-check branch.
        self.values[(code.to_u64() & self.mask) as usize]
    }
}

/// The scales and zero points of a layout.
pub(crate) struct Params<'a> {
    pub(crate) l: &'a Layout,
    pub(crate) scales: &'a [f64],
    pub(crate) zps: &'a [i64],
}

impl Params<'_> {
    /// `ys[i]` = the dequantized value of `cs[i]`, the element of flat
    /// index `first + i`: `T::from_f64((value - zp) * scale)`, the fused
    /// pass's arithmetic (its float32 loop rounds the same exact product
    /// once, to the same float32). See [`Self::dequantize_with`].
    #[inline(always)]
    pub(crate) fn dequantize<T: Real, D: Bits, V: CodeValue<D>>(
        &self,
        cs: &[D],
        first: usize,
        v: &V,
        ys: &mut [T],
    ) {
        self.dequantize_with(cs, first, v, ys, |c, z, s| T::from_f64((c - z) * s));
    }

    /// `ys[i] = combine(value, zp, scale)` for `cs[i]`, the element of flat
    /// index `first + i`. A block under one scale (per tensor, per channel
    /// across an inner axis) reads it as a constant; any other gets its
    /// scales and zero points laid out first, so the loop over the block
    /// is one straight vectorisable loop even for groups of 32.
    #[inline(always)]
    fn dequantize_with<T: Real, D: Bits, V: CodeValue<D>>(
        &self,
        cs: &[D],
        first: usize,
        v: &V,
        ys: &mut [T],
        combine: impl Fn(f64, f64, f64) -> T,
    ) {
        let n = cs.len().min(ys.len()).min(BLOCK);
        let (cs, ys) = (&cs[..n], &mut ys[..n]);
        let (p, step, run) = self.segment(first);
        if !step && run >= n {
            let (s, z) = (self.scales[p], self.zp(p));
            for (y, &c) in ys.iter_mut().zip(cs) {
                *y = combine(v.value(c), z, s);
            }
            return;
        }
        let (mut s, mut z) = ([0f64; BLOCK], [0f64; BLOCK]);
        let (s, z) = (&mut s[..n], &mut z[..n]);
        self.lay_out(first, s, z);
        for (((y, &c), &sk), &zk) in ys.iter_mut().zip(cs).zip(s.iter()).zip(z.iter()) {
            *y = combine(v.value(c), zk, sk);
        }
    }

    /// `s[i]`, `z[i]` = the scale and zero point of flat index `first + i`,
    /// run by run.
    #[inline(always)]
    fn lay_out(&self, first: usize, s: &mut [f64], z: &mut [f64]) {
        let mut i = 0;
        while i < s.len() {
            let (p, step, run) = self.segment(first + i);
            let m = run.min(s.len() - i);
            if step {
                s[i..i + m].copy_from_slice(&self.scales[p..p + m]);
                for (k, zk) in z[i..i + m].iter_mut().enumerate() {
                    *zk = self.zp(p + k);
                }
            } else {
                s[i..i + m].fill(self.scales[p]);
                z[i..i + m].fill(self.zp(p));
            }
            i += m;
        }
    }

    #[inline(always)]
    fn zp(&self, p: usize) -> f64 {
        self.zps.get(p).map_or(0.0, |&z| z as f64)
    }

    /// The scale of flat index `i`, whether the following elements read
    /// the next scales (`true`) or the same one, and how many elements
    /// from `i` on do so (the `[outer, len, inner]` view of [`Layout`]).
    #[inline(always)]
    fn segment(&self, i: usize) -> (usize, bool, usize) {
        let Layout {
            len, inner, gran, ..
        } = *self.l;
        match gran {
            Granularity::Tensor => (0, false, usize::MAX),
            Granularity::Channel if inner == 1 => (i % len, true, len - i % len),
            Granularity::Channel => ((i / inner) % len, false, inner - i % inner),
            Granularity::Group(g) if inner == 1 => (i / g, false, g - i % g),
            Granularity::Group(g) => {
                let (row, j) = (i / inner, i % inner);
                let (o, a) = (row / len, row % len);
                ((o * (len / g) + a / g) * inner + j, true, inner - j)
            }
        }
    }
}

/// `out[i]` = the value of `codes[i]` (as [`Elements`] says) with its
/// scale and zero point under `l` (one per scale of `l`; empty `zps` means
/// all zero), in the arithmetic of the module docs, for any thread count.
pub fn dequantize<T: Real, D: Bits>(
    codes: &[D],
    l: &Layout,
    scales: &[f64],
    zps: &[i64],
    elements: Elements,
    out: &mut [T],
) -> Result<(), Error> {
    check(
        out.len(),
        codes.len(),
        l,
        scales.len(),
        zps.len(),
        &elements,
    )?;
    let p = Params { l, scales, zps };
    let word_bits = 8 * std::mem::size_of::<D>();
    // `T(a) * T(b)` in `T`: the product of two `T` values is exact in
    // float64 (at most 2 × 24 bits for float32), so rounding it once to
    // `T` is `T`'s own multiplication.
    let in_t = |a: f64| T::from_f64(a).to_f64();
    let int = |c: f64, z: f64, s: f64| T::from_f64(in_t(c - z) * in_t(s));
    match elements {
        Elements::Int { signed: true } => run(codes, &p, &Signed(64 - word_bits), out, int),
        Elements::Int { signed: false } => run(codes, &p, &Unsigned, out, int),
        Elements::Float(f) => {
            let table = FloatValues::checked(f, codes)?;
            run(codes, &p, &table, out, |c, _, s| T::from_f64(c * s));
        }
    }
    Ok(())
}

/// The parallel pass of [`dequantize`]: tasks of [`TASK`] elements, each
/// block by block.
fn run<T: Real, D: Bits, V: CodeValue<D>>(
    codes: &[D],
    p: &Params,
    v: &V,
    out: &mut [T],
    combine: impl Fn(f64, f64, f64) -> T + Sync + Copy,
) {
    out.par_chunks_mut(TASK)
        .zip(codes.par_chunks(TASK))
        .enumerate()
        .for_each(|(t, (ys, cs))| {
            wide(
                #[inline(always)]
                || {
                    let blocks = ys.chunks_mut(BLOCK).zip(cs.chunks(BLOCK));
                    for (b, (yb, cb)) in blocks.enumerate() {
                        p.dequantize_with(cb, t * TASK + b * BLOCK, v, yb, combine);
                    }
                },
            )
        });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::float_builtin;

    /// 64 × 2080 (65 groups of 32 per row): tasks and blocks that do not
    /// divide the rows, every granularity; the parameter of flat index `i`
    /// computed here from the shape alone.
    const SHAPE: [usize; 2] = [64, 2080];
    fn param_of(axis: Option<i64>, group: Option<usize>, i: usize) -> usize {
        let (r, c) = (i / SHAPE[1], i % SHAPE[1]);
        match (axis, group) {
            (None, _) => 0,
            (Some(0), None) => r,
            (Some(_), None) => c,
            (Some(0), Some(g)) => (r / g) * SHAPE[1] + c,
            (Some(_), Some(g)) => r * (SHAPE[1] / g) + c / g,
        }
    }

    /// Integer codes in float32 are `f32(code - zp) * f32(scale)` in
    /// float32 arithmetic; float element codes are `f32(value * scale)`
    /// with the product in float64; scales that are not float32 values.
    #[test]
    fn values_are_the_documented_arithmetic_in_every_layout() {
        let e4m3 = float_builtin("fp8_e4m3fn");
        let n = SHAPE[0] * SHAPE[1];
        let codes: Vec<u8> = (0..n).map(|i| (i * 37 % 256) as u8).collect();
        for (axis, group) in [
            (None, None),
            (Some(0), None),
            (Some(1), None),
            (Some(1), Some(32)),
            (Some(0), Some(32)),
        ] {
            let l = Layout::new(&SHAPE, axis, group).unwrap();
            let scales: Vec<f64> = (0..l.n_params()).map(|p| 0.1 + p as f64 / 7.0).collect();
            let zps: Vec<i64> = (0..l.n_params()).map(|p| p as i64 % 5 - 2).collect();
            let mut out = vec![0f32; n];
            let int = Elements::Int { signed: true };
            dequantize(&codes, &l, &scales, &zps, int, &mut out).unwrap();
            for (i, &y) in out.iter().enumerate() {
                let p = param_of(axis, group, i);
                let d = (codes[i] as i8 as i64 - zps[p]) as f32;
                let want = d * scales[p] as f32;
                assert_eq!(y.to_bits(), want.to_bits(), "int {axis:?} {group:?} at {i}");
            }
            dequantize(&codes, &l, &scales, &[], Elements::Float(&e4m3), &mut out).unwrap();
            for (i, &y) in out.iter().enumerate() {
                let v = value_to_f64(e4m3.unpack(codes[i] as u64));
                let want = (v * scales[param_of(axis, group, i)]) as f32;
                assert_eq!(y.to_bits(), want.to_bits(), "fp8 {axis:?} {group:?} at {i}");
            }
        }
    }

    #[test]
    fn mistakes_are_errors() {
        let l = Layout::new(&[4, 32], Some(1), Some(32)).unwrap();
        let fp4 = float_builtin("fp4_e2m1fn");
        let mut out = vec![0f64; 128];
        let float = Elements::Float(&fp4);
        assert!(dequantize(&[16u8; 128], &l, &[1.0; 4], &[], float, &mut out).is_err());
        assert!(dequantize(&[0u8; 128], &l, &[1.0; 3], &[], float, &mut out).is_err());
        assert!(dequantize(&[0u8; 128], &l, &[1.0; 4], &[0; 4], float, &mut out).is_err());
        assert!(dequantize(&[0u8; 127], &l, &[1.0; 4], &[], float, &mut out).is_err());
    }
}
