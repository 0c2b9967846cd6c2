//! The integer code pass: `clamp(round(x / scale) + zp, qmin, qmax)`,
//! with exact or PyTorch arithmetic, written as codes or fake-quantized.

// `!(a <= b)` is deliberate: it is true for NaN, which is the point.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

use std::marker::PhantomData;

use super::constants::{Each, Params, Run, ZeroPoints0};
use super::directed::{fast_directed, Directed, Lane};
use super::emit::{Codes, Dequant, Emit};
use super::exact::round_int_exact;
use super::layout::Layout;
use super::options::{Arithmetic, QuantOptions};
use super::real::Real;
use super::walk::{drive, Kernel};
use crate::engine::random::seeded_addend;
use crate::engine::rounding::family;
use crate::engine::rounding::RoundingMode;
use crate::engine::value::Value;
use crate::error::Error;
use crate::fast::int::rne_f64;
use crate::fast::simd::{at_least, at_most, wide};
use crate::fast::words::Bits;

/// Elements per block of the fast loop: a doubtful element sends its whole
/// block to the exact path.
pub(super) const BLOCK: usize = 256;

/// The integer code pass.
pub(super) struct IntKernel<'a, E> {
    o: &'a QuantOptions,
    emit: E,
    /// The float32 loops apply (float32 data, see [`Params::fits_f32`]).
    f32_ok: bool,
}

/// One compiled block loop of the code pass. [`IntKernel::walk`] runs
/// [`BlockLoop::fast`] over every block, then redoes exactly the elements
/// that [`BlockLoop::flag`] names in the rare blocks where the fast loop
/// had a doubt. Implementations are `#[inline(always)]` and monomorphised
/// per loop (a closure in their place was not inlined into the
/// `#[target_feature]` wrapper, and the loop stopped vectorising).
trait BlockLoop<T, O, R> {
    /// Writes every element's candidate; true when some element of the
    /// block may be wrong. `first` is the flat index of the block's first element.
    fn fast(&self, xb: &[T], ob: &mut [O], r: R, first: usize) -> bool;
    /// The fast loop's own verdict on every element of a doubtful block,
    /// recomputed (cheaper than storing a flag per element of every block).
    fn flag(&self, xb: &[T], r: R, first: usize, flags: &mut [bool]);
}

/// The nearest modes' loops: [`fast_exact32`] and [`fast_torch32`] when
/// `F32` (see [`IntKernel::f32_loop`]), else [`fast_exact`] and [`fast_torch`].
struct Nearest<'a, E, const F32: bool> {
    o: &'a QuantOptions,
    emit: &'a E,
}

impl<T: Real, O, R: Run, E: Emit<O>, const F32: bool> BlockLoop<T, O, R> for Nearest<'_, E, F32> {
    #[inline(always)]
    fn fast(&self, xb: &[T], ob: &mut [O], r: R, _first: usize) -> bool {
        let (qmin, qmax, e) = (self.o.qmin as f64, self.o.qmax as f64, self.emit);
        match (self.o.arithmetic, F32) {
            (Arithmetic::Exact, true) => fast_exact32(xb, ob, r, qmin as f32, qmax as f32, e),
            (Arithmetic::Torch, true) => fast_torch32(xb, ob, r, qmin as f32, qmax as f32, e),
            (Arithmetic::Exact, false) => fast_exact(xb, ob, r, qmin, qmax, e),
            (Arithmetic::Torch, false) => fast_torch(xb, ob, r, qmin, qmax, e),
        }
    }

    #[inline(always)]
    fn flag(&self, xb: &[T], r: R, _first: usize, flags: &mut [bool]) {
        let (qmin, qmax) = (self.o.qmin as f32, self.o.qmax as f32);
        for (j, (&x, f)) in xb.iter().zip(flags.iter_mut()).enumerate() {
            *f = match (self.o.arithmetic, F32) {
                (Arithmetic::Exact, true) => {
                    doubt_exact32(x.to_f32() * r.inv32(j), r.zp32(j), qmin, qmax).1
                }
                (Arithmetic::Exact, false) => doubt_exact64(x.to_f64() * r.inv(j)).1,
                (Arithmetic::Torch, _) => (x.to_f32() * r.inv32(j)).is_nan(),
            };
        }
    }
}

/// [`fast_directed`] for the modes of family `FAMILY` in lane type `L`.
struct DirectedLoop<'a, E, L, const FAMILY: u8> {
    d: &'a Directed,
    emit: &'a E,
    lane: PhantomData<L>,
}

impl<T: Real, O, R: Run, E: Emit<O>, L: Lane, const FAMILY: u8> BlockLoop<T, O, R>
    for DirectedLoop<'_, E, L, FAMILY>
{
    #[inline(always)]
    fn fast(&self, xb: &[T], ob: &mut [O], r: R, first: usize) -> bool {
        fast_directed::<L, _, _, _, _, FAMILY>(xb, ob, r, self.d, first as u64, self.emit)
    }

    #[inline(always)]
    fn flag(&self, xb: &[T], r: R, first: usize, flags: &mut [bool]) {
        for (j, (&x, f)) in xb.iter().zip(flags.iter_mut()).enumerate() {
            *f = self.d.doubts::<L, _, _, FAMILY>(x, r, j, first as u64);
        }
    }
}

/// No fast loop: every element exactly (the modes no loop serves).
struct AllExact;

impl<T, O, R> BlockLoop<T, O, R> for AllExact {
    #[inline(always)]
    fn fast(&self, _: &[T], _: &mut [O], _: R, _: usize) -> bool {
        true
    }

    #[inline(always)]
    fn flag(&self, _: &[T], _: R, _: usize, flags: &mut [bool]) {
        flags.fill(true);
    }
}

impl<E> IntKernel<'_, E> {
    /// A run in blocks of [`BLOCK`]: each through `b`'s fast loop, then
    /// the elements it doubts exactly.
    #[inline(always)]
    fn walk<T: Real, O, R: Run, B: BlockLoop<T, O, R>>(
        &self,
        xs: &[T],
        out: &mut [O],
        r: R,
        base: usize,
        b: &B,
    ) -> Result<(), Error>
    where
        E: Emit<O>,
    {
        for (k, (xb, ob)) in xs.chunks(BLOCK).zip(out.chunks_mut(BLOCK)).enumerate() {
            let (first, rb) = (base + k * BLOCK, r.sub(k * BLOCK, xb.len()));
            if b.fast(xb, ob, rb, first) {
                self.redo(xb, ob, rb, first, b)?;
            }
        }
        Ok(())
    }

    /// Redo exactly the elements of a block that `b` flags. Out of line:
    /// blocks with a doubtful element are rare, and the hot loop stays small.
    #[inline(never)]
    fn redo<T: Real, O, R: Run, B: BlockLoop<T, O, R>>(
        &self,
        xb: &[T],
        ob: &mut [O],
        r: R,
        first: usize,
        b: &B,
    ) -> Result<(), Error>
    where
        E: Emit<O>,
    {
        let mut flags = [false; BLOCK];
        b.flag(xb, r, first, &mut flags);
        for (j, (&x, y)) in xb.iter().zip(ob.iter_mut()).enumerate() {
            if flags[j] {
                let c = self.exact_code(x, r.scale(j), r.inv32(j), r.zp(j), first + j)?;
                *y = self.emit.emit(c, r.zp(j), r.scale(j));
            }
        }
        Ok(())
    }

    /// The directed, odd and stochastic modes (and nearest-away under
    /// PyTorch's arithmetic), in float32 lanes where the float32 loops
    /// apply (twice as many per vector), else in f64.
    #[inline(always)]
    fn directed<T: Real, O, R: Run>(
        &self,
        xs: &[T],
        out: &mut [O],
        r: R,
        base: usize,
        d: &Directed,
    ) -> Result<(), Error>
    where
        E: Emit<O>,
    {
        if self.f32_ok && std::mem::size_of::<T>() == 4 {
            self.directed_in::<f32, _, _, _>(xs, out, r, base, d)
        } else {
            self.directed_in::<f64, _, _, _>(xs, out, r, base, d)
        }
    }

    /// [`Self::directed`] in lane type `L`, each mode [`family`] in its own
    /// loop, compiled for the widest instruction set.
    #[inline(always)]
    fn directed_in<L: Lane, T: Real, O, R: Run>(
        &self,
        xs: &[T],
        out: &mut [O],
        r: R,
        base: usize,
        d: &Directed,
    ) -> Result<(), Error>
    where
        E: Emit<O>,
    {
        use family::{MASKED, STOCHASTIC, TOWARD_ZERO};
        match d.family() {
            STOCHASTIC => self.directed_family::<L, _, _, _, STOCHASTIC>(xs, out, r, base, d),
            TOWARD_ZERO => self.directed_family::<L, _, _, _, TOWARD_ZERO>(xs, out, r, base, d),
            _ => self.directed_family::<L, _, _, _, MASKED>(xs, out, r, base, d),
        }
    }

    /// [`Self::walk`] with the directed loop of family `FAMILY` in lane `L`.
    #[inline(always)]
    fn directed_family<L: Lane, T: Real, O, R: Run, const FAMILY: u8>(
        &self,
        xs: &[T],
        out: &mut [O],
        r: R,
        base: usize,
        d: &Directed,
    ) -> Result<(), Error>
    where
        E: Emit<O>,
    {
        let b = DirectedLoop::<E, L, FAMILY> {
            d,
            emit: &self.emit,
            lane: PhantomData,
        };
        wide(
            #[inline(always)]
            move || self.walk(xs, out, r, base, &b),
        )
    }

    /// The exact code of one element (NaN policy, exact quotient, rounding,
    /// clamp). `inv32` is PyTorch's float32 inverse `1.0f / f32(scale)`,
    /// read by `arithmetic = Torch` only.
    #[inline(never)]
    fn exact_code<T: Real>(
        &self,
        x: T,
        scale: f64,
        inv32: f32,
        zp: f64,
        index: usize,
    ) -> Result<f64, Error> {
        let o = self.o;
        let xf = x.to_f64();
        if xf.is_nan() {
            return o.nan.map(|c| c as f64).ok_or(Error::NanInput { index });
        }
        let random = if o.rounding == RoundingMode::Stochastic {
            seeded_addend(o.seed, index as u64)
        } else {
            0
        };
        let r = match o.arithmetic {
            Arithmetic::Exact => round_int_exact(Value::from_f64(xf), scale, o.rounding, random),
            Arithmetic::Torch => {
                let t = (x.to_f32() * inv32) as f64;
                round_int_exact(Value::from_f64(t), 1.0, o.rounding, random)
            }
        };
        Ok((r + zp).clamp(o.qmin as f64, o.qmax as f64))
    }
}

impl<E> IntKernel<'_, E> {
    /// True when the nearest loops serve the options: they round to
    /// nearest even; the exact one flags every element near a
    /// half-integer, so it also serves nearest-away. PyTorch's loop flags
    /// nothing, so it serves nearest-even only.
    fn nearest_serves(&self) -> bool {
        matches!(
            (self.o.rounding, self.o.arithmetic),
            (RoundingMode::NearestEven, _) | (RoundingMode::NearestAway, Arithmetic::Exact)
        )
    }

    /// True when the float32 loops apply to elements of type `T`.
    fn f32_loop<T>(&self) -> bool {
        self.f32_ok && std::mem::size_of::<T>() == 4
    }

    /// [`Self::walk`] with the [`Nearest`] loops (the float32 ones when
    /// `F32`), compiled for the widest instruction set.
    #[inline(always)]
    fn nearest<const F32: bool, T: Real, O, R: Run>(
        &self,
        xs: &[T],
        out: &mut [O],
        r: R,
        base: usize,
    ) -> Result<(), Error>
    where
        E: Emit<O>,
    {
        wide(
            #[inline(always)]
            || {
                let (o, emit) = (self.o, &self.emit);
                self.walk(xs, out, r, base, &Nearest::<E, F32> { o, emit })
            },
        )
    }
}

impl<T: Real, O: Copy, E: Emit<O>> Kernel<T, O> for IntKernel<'_, E> {
    #[inline(always)]
    fn run<R: Run>(&self, xs: &[T], out: &mut [O], r: R, base: usize) -> Result<(), Error> {
        if self.nearest_serves() {
            return match self.f32_loop::<T>() {
                true => self.nearest::<true, _, _, _>(xs, out, r, base),
                false => self.nearest::<false, _, _, _>(xs, out, r, base),
            };
        }
        match Directed::new(self.o) {
            Some(d) => self.directed(xs, out, r, base, &d),
            None => self.walk(xs, out, r, base, &AllExact),
        }
    }

    /// The float32 nearest loops read a zero point of 0 as a constant
    /// (one stream of per-element constants fewer along the last axis:
    /// about 1.3× on symmetric int8 codes, see docs/performance.md). The
    /// other loops keep reading [`Each`]: each view is one more compiled
    /// copy of a loop for every element and output type.
    #[inline(always)]
    fn run_zero_zps(&self, xs: &[T], out: &mut [O], r: Each, base: usize) -> Result<(), Error> {
        if self.nearest_serves() && self.f32_loop::<T>() {
            return self.nearest::<true, _, _, _>(xs, out, ZeroPoints0(r), base);
        }
        self.run(xs, out, r, base)
    }
}

/// The fast exact loop: `q = x * (1/s)` in f64, nearest even. Returns true
/// when some element may round differently from the exact quotient (near a
/// half-integer, or NaN/inf): the caller then redoes the block exactly.
#[inline(always)]
pub(super) fn fast_exact<T: Real, O, R: Run, E: Emit<O>>(
    xb: &[T],
    ob: &mut [O],
    r: R,
    qmin: f64,
    qmax: f64,
    emit: &E,
) -> bool {
    let mut doubt = false;
    let n = xb.len().min(ob.len());
    let (xb, ob) = (&xb[..n], &mut ob[..n]);
    for i in 0..n {
        let (x, y) = (xb[i], &mut ob[i]);
        let (n, d) = doubt_exact64(x.to_f64() * r.inv(i));
        doubt |= d;
        let c = at_most(at_least(n + r.zp(i), qmin), qmax);
        *y = emit.emit(c, r.zp(i), r.scale(i));
    }
    doubt
}

/// Nearest-even candidate for `q = x * f32(1/s)` and whether it may differ
/// from the exact rounding: `q` has a relative error below 2^-22, so a
/// margin of 2^-19 |q| around the half-integers catches every element whose
/// rounding could differ. `q` is clamped to one past the code range first
/// (which changes no clamped result) so the rounding trick's range is never
/// exceeded; NaN is flagged before that.
#[inline(always)]
pub(super) fn doubt_exact32(q: f32, zp: f32, qmin: f32, qmax: f32) -> (f32, bool) {
    const TOL: f32 = 1.0 / (1u32 << 19) as f32;
    let qc = at_most(at_least(q, qmin - zp - 1.0), qmax - zp + 1.0);
    let n = rne_f32(qc);
    (n, q.is_nan() | !((qc - n).abs() < 0.5 - qc.abs() * TOL))
}

/// The same in f64 (relative error of `q` below 2^-51, margin 2^-44 |q|).
#[inline(always)]
pub(super) fn doubt_exact64(q: f64) -> (f64, bool) {
    const TOL: f64 = 1.0 / (1u64 << 44) as f64;
    let n = rne_f64(q);
    (n, !((q - n).abs() < 0.5 - q.abs() * TOL))
}

/// Round to nearest even for |x| <= 2^22 with plain adds.
#[inline(always)]
pub(super) fn rne_f32(x: f32) -> f32 {
    const M: f32 = 12582912.0; // 1.5 * 2^23
    (x + M) - M
}

/// The float32 version of [`fast_exact`]: `q = x * f32(1/s)` has a relative
/// error below 2^-22, so a margin of 2^-19 |q| around the half-integers
/// catches every element whose rounding could differ. `q` is clamped to
/// one past the code range first (which changes no clamped result), so the
/// rounding trick's range is never exceeded; NaN is flagged before that.
#[inline(always)]
pub(super) fn fast_exact32<T: Real, O, R: Run, E: Emit<O>>(
    xb: &[T],
    ob: &mut [O],
    r: R,
    qmin: f32,
    qmax: f32,
    emit: &E,
) -> bool {
    let mut doubt = false;
    let n = xb.len().min(ob.len());
    let (xb, ob) = (&xb[..n], &mut ob[..n]);
    for i in 0..n {
        let (x, y) = (xb[i], &mut ob[i]);
        let zp = r.zp32(i);
        let (n, d) = doubt_exact32(x.to_f32() * r.inv32(i), zp, qmin, qmax);
        doubt |= d;
        let c = at_most(at_least(n + zp, qmin), qmax);
        *y = emit.emit32(c, zp, r.scale32(i));
    }
    doubt
}

/// PyTorch's arithmetic in float32 (float32 data): exact by definition.
#[inline(always)]
pub(super) fn fast_torch32<T: Real, O, R: Run, E: Emit<O>>(
    xb: &[T],
    ob: &mut [O],
    r: R,
    qmin: f32,
    qmax: f32,
    emit: &E,
) -> bool {
    let mut doubt = false;
    let n = xb.len().min(ob.len());
    let (xb, ob) = (&xb[..n], &mut ob[..n]);
    for i in 0..n {
        let (x, y) = (xb[i], &mut ob[i]);
        let zp = r.zp32(i);
        let t = x.to_f32() * r.inv32(i);
        doubt |= t.is_nan();
        let tc = at_most(at_least(t, qmin - zp - 1.0), qmax - zp + 1.0);
        let c = at_most(at_least(rne_f32(tc) + zp, qmin), qmax);
        *y = emit.emit32(c, zp, r.scale32(i));
    }
    doubt
}

/// PyTorch's arithmetic: `t = f32(x * inv32)`, nearest even, `+ zp`, clamp.
/// Exact by definition; returns true only for NaN (the NaN policy decides).
#[inline(always)]
pub(super) fn fast_torch<T: Real, O, R: Run, E: Emit<O>>(
    xb: &[T],
    ob: &mut [O],
    r: R,
    qmin: f64,
    qmax: f64,
    emit: &E,
) -> bool {
    let mut doubt = false;
    let n = xb.len().min(ob.len());
    let (xb, ob) = (&xb[..n], &mut ob[..n]);
    for i in 0..n {
        let (x, y) = (xb[i], &mut ob[i]);
        let t = (x.to_f32() * r.inv(i) as f32) as f64;
        doubt |= t.is_nan();
        let c = at_most(at_least(rne_f64(t) + r.zp(i), qmin), qmax);
        *y = emit.emit(c, r.zp(i), r.scale(i));
    }
    doubt
}

/// Integer codes of `x` for the given scales and zero points (one per
/// scale of `l`), written as two's-complement words.
pub fn quantize<T: Real, D: Bits>(
    x: &[T],
    l: &Layout,
    scales: &[f64],
    zps: &[i64],
    o: &QuantOptions,
    out: &mut [D],
) -> Result<(), Error> {
    code_pass(x, l, scales, zps, o, out, Codes)
}

/// `dequantize(quantize(x))` fused: `(code - zp) * scale` in `T`.
pub fn fake_quantize<T: Real>(
    x: &[T],
    l: &Layout,
    scales: &[f64],
    zps: &[i64],
    o: &QuantOptions,
    out: &mut [T],
) -> Result<(), Error> {
    code_pass(x, l, scales, zps, o, out, Dequant)
}

/// The pass behind [`quantize`] and [`fake_quantize`], which differ only in
/// what each clamped code becomes (`emit`). Generic, so each caller still
/// gets its own monomorphised, inlined kernel loops.
fn code_pass<T: Real, O: Copy + Send, E: Emit<O>>(
    x: &[T],
    l: &Layout,
    scales: &[f64],
    zps: &[i64],
    o: &QuantOptions,
    out: &mut [O],
    emit: E,
) -> Result<(), Error> {
    check_options(o, zps)?;
    let p = Params::new(scales, zps, o.arithmetic, l)?;
    drive(
        x,
        out,
        l,
        &p,
        &IntKernel {
            o,
            emit,
            f32_ok: p.fits_f32(o),
        },
    )
}

pub(super) fn check_options(o: &QuantOptions, zps: &[i64]) -> Result<(), Error> {
    if o.qmin > o.qmax || o.qmin < i32::MIN as i64 || o.qmax > i32::MAX as i64 {
        return Err(Error::invalid(format!(
            "code range [{}, {}] is empty or wider than int32",
            o.qmin, o.qmax
        )));
    }
    if let Some(c) = o.nan {
        if c < o.qmin || c > o.qmax {
            return Err(Error::invalid(format!(
                "nan={c} is outside the code range [{}, {}]",
                o.qmin, o.qmax
            )));
        }
    }
    if let Some(z) = zps.iter().find(|&&z| z < o.qmin || z > o.qmax) {
        return Err(Error::invalid(format!(
            "zero point {z} is outside the code range [{}, {}]",
            o.qmin, o.qmax
        )));
    }
    Ok(())
}
