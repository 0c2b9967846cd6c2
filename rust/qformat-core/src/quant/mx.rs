//! Float elements with shared scales (OCP MX, NVFP4-style, per-tensor
//! fp8 scaling): element codes of `x / scale`, rounded by the engine.

use super::constants::{Params, Run};
use super::exact::{div_value, value_to_f64};
use super::layout::Layout;
use super::options::Arithmetic;
use super::real::Real;
use super::walk::{default_run_groups, drive, Kernel};
use crate::engine::options::{EncodeOptions, NanPolicy, Overflow};
use crate::engine::random::seeded_addend;
use crate::engine::rounding::RoundingMode;
use crate::engine::value::Value;
use crate::error::Error;
use crate::fast::fp32::Fp32Narrowing;
use crate::fast::fp64_front::Fp64Front;
use crate::fast::simd::wide;
use crate::fast::words::Bits;
use crate::format::FloatFormat;

/// Options of the float-element code pass.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FloatQuantOptions {
    pub rounding: RoundingMode,
    pub seed: u64,
    /// The element code a NaN gets; None makes NaN an error.
    pub nan: Option<u64>,
}

/// Float element codes (or their dequantized values).
pub(super) struct FloatKernel<'a, E> {
    elem: &'a FloatFormat,
    enc: EncodeOptions,
    o: &'a FloatQuantOptions,
    /// Fast float32 path for nearest even with power-of-two scales.
    fast: Option<Fp32Narrowing>,
    /// Any other scale, any mode but stochastic, float32 data: see
    /// [`FloatKernel::point_loop`].
    point: Option<Point>,
    /// Any other scale, any mode but stochastic: see [`FloatKernel::interval_loop`].
    interval: Option<Fp64Front>,
    /// Every scale's float32 inverse is a normal number (the point loop's
    /// error bound needs it).
    inverses_normal32: bool,
    pow2: bool,
    emit: E,
}

/// What the float-element pass writes.
pub(super) trait FloatEmit<O>: Sync {
    fn emit(&self, code: u64, scale: f64) -> O;

    /// [`Self::emit`] for a block of codes from the float32 kernel `k`,
    /// as a loop that vectorises; a NaN code may get another NaN (callers
    /// redo those elements through [`Self::emit`]).
    #[inline(always)]
    fn emit_block(
        &self,
        _k: &Fp32Narrowing,
        codes: &[u32],
        out: &mut [O],
        scale: impl Fn(usize) -> f64,
    ) {
        for (i, (o, &c)) in out.iter_mut().zip(codes).enumerate() {
            *o = self.emit(c as u64, scale(i));
        }
    }
}

pub(super) struct ElemCodes;
impl<D: Bits> FloatEmit<D> for ElemCodes {
    #[inline(always)]
    fn emit(&self, code: u64, _: f64) -> D {
        D::from_u64(code)
    }
}

/// Decoded element times scale, via a table of the element format's values.
pub(super) struct ElemDequant(Vec<f64>);
impl<T: Real> FloatEmit<T> for ElemDequant {
    #[inline(always)]
    fn emit(&self, code: u64, scale: f64) -> T {
        // Every code is below the table's 2^bits; `get` with a NaN
        // fallback keeps the loops free of a panic branch, so they vectorise.
        let v = self.0.get(code as usize).copied().unwrap_or(f64::NAN);
        T::from_f64(v * scale)
    }

    /// The element values by the kernel's exact widening to float32 (the
    /// table's values for every code but NaN), then times the scale.
    #[inline(always)]
    fn emit_block(
        &self,
        k: &Fp32Narrowing,
        codes: &[u32],
        out: &mut [T],
        scale: impl Fn(usize) -> f64,
    ) {
        let n = codes.len().min(out.len()).min(BLOCK);
        let mut values = [0u32; BLOCK];
        let values = &mut values[..n];
        k.widen_chunk_portable(&codes[..n], values);
        for (i, (o, &v)) in out[..n].iter_mut().zip(values.iter()).enumerate() {
            *o = T::from_f64(f32::from_bits(v) as f64 * scale(i));
        }
    }
}

/// The float32 kernel of [`FloatKernel::point_loop`] and the width of the
/// float32 fraction bits below the element's half-ulp position.
#[derive(Clone, Copy, Debug)]
struct Point {
    k: Fp32Narrowing,
    /// `2^L - 1` for the `L = 22 - m` fraction bits below the half-ulp of
    /// an element of `m` fraction bits.
    below_half_ulp: u32,
}

impl Point {
    /// Float32 quotients within this many of their own ulps of a rounding
    /// boundary are doubtful: the quotient errs by less than 2.1 of them
    /// (see [`FloatKernel::point_loop`]), so 8 leaves a wide margin.
    const NEAR: u32 = 8;

    fn new(elem: &FloatFormat, enc: &EncodeOptions) -> Option<Self> {
        let k = Fp32Narrowing::new(elem, enc)?;
        let bits = 22u32.checked_sub(elem.man_bits)?;
        (bits >= 6).then_some(Point {
            k,
            below_half_ulp: (1 << bits) - 1,
        })
    }

    /// Whether the float32 quotient `q` of a non-zero `x` may lie on the
    /// other side of a rounding boundary from the exact one: it is near a
    /// multiple of the element's half-ulp in its binade, or it is not a
    /// normal float32 number (zero, subnormal, infinite or NaN).
    #[inline(always)]
    fn doubtful(&self, x_nonzero: bool, q: u32) -> bool {
        let low = q & self.below_half_ulp;
        let near = (low.wrapping_add(Self::NEAR) & self.below_half_ulp) <= 2 * Self::NEAR;
        let abs = q & 0x7fff_ffff;
        let not_normal = abs.wrapping_sub(0x0080_0000) >= 0x7f80_0000 - 0x0080_0000;
        x_nonzero & (near | not_normal)
    }
}

impl<E> FloatKernel<'_, E> {
    fn code<T: Real>(&self, x: T, scale: f64, index: usize) -> Result<u64, Error> {
        let xf = x.to_f64();
        if xf.is_nan() {
            return self.o.nan.ok_or(Error::NanInput { index });
        }
        let random = if self.o.rounding == RoundingMode::Stochastic {
            seeded_addend(self.o.seed, index as u64)
        } else {
            0
        };
        let v = div_value(Value::from_f64(xf), Value::from_f64(scale));
        Ok(self.elem.encode(v, &self.enc, random))
    }
}

impl<E> FloatKernel<'_, E> {
    /// The float32 narrowing kernel when it applies to data of type `T`:
    /// nearest even, power-of-two scales (so `x * (1/scale)` is exact in
    /// float32, down to its subnormals, far below every element format's
    /// smallest value), float32 data.
    #[inline(always)]
    fn fast_for<T: Real>(&self) -> Option<&Fp32Narrowing> {
        self.fast
            .as_ref()
            .filter(|_| self.pow2 && std::mem::size_of::<T>() == 4)
    }

    /// The one-quotient loop when it applies: float32 data, and float32
    /// inverses of the run's scales that are normal numbers.
    #[inline(always)]
    fn point_for<T: Real>(&self) -> Option<&Point> {
        let f32_data = std::mem::size_of::<T>() == 4;
        self.point
            .as_ref()
            .filter(|_| f32_data && self.inverses_normal32)
    }

    /// The branch-free loop: element codes of `x * inv(i)` by the float32
    /// kernel (bit-equal to the engine). Returns true when a NaN was seen:
    /// the NaN policy needs the exact loop.
    #[inline(always)]
    fn fast_loop<T: Real, O>(
        &self,
        k: &Fp32Narrowing,
        xs: &[T],
        out: &mut [O],
        inv: impl Fn(usize) -> f32,
        scale: impl Fn(usize) -> f64,
    ) -> bool
    where
        E: FloatEmit<O>,
    {
        let n = xs.len().min(out.len());
        let (xs, out) = (&xs[..n], &mut out[..n]);
        let mut nan = false;
        for i in 0..n {
            let v = xs[i].to_f32() * inv(i);
            nan |= v.is_nan();
            out[i] = self.emit.emit(k.convert(v.to_bits(), 0) as u64, scale(i));
        }
        nan
    }

    /// Element codes of `x / s` for float32 data and any scale, from one
    /// float32 quotient `q = x * inv32` (`inv32` is `1/s` rounded to
    /// float32, normal): q is within `|Q|·2^-22.99` of the exact quotient Q
    /// (two roundings of 2^-24 and the f64 inverse's 2^-53), under 2.1 ulps
    /// of q's binade. Every point where the element code changes — a
    /// midpoint between neighbours in the nearest modes, an element value
    /// in the directed and odd modes, in the normal and subnormal ranges
    /// alike — is a multiple of the element's half-ulp in q's binade, and
    /// saturation adds none. So unless q is within [`Point::NEAR`] ulps of
    /// such a multiple (or is not a normal number), Q gets q's code, which
    /// the float32 kernel computes bit-equal to the engine. Doubtful
    /// elements are flagged for the exact loop; returns true when there is
    /// one. One pass where [`Self::interval_loop`] converts two ends.
    #[inline(always)]
    fn point_loop<T: Real, O>(
        &self,
        p: &Point,
        xs: &[T],
        out: &mut [O],
        r: impl Run,
        flags: &mut [bool; BLOCK],
    ) -> bool
    where
        E: FloatEmit<O>,
    {
        let n = xs.len().min(out.len()).min(BLOCK);
        let (xs, out, flags) = (&xs[..n], &mut out[..n], &mut flags[..n]);
        let (mut q, mut codes) = ([0u32; BLOCK], [0u32; BLOCK]);
        let (q, codes) = (&mut q[..n], &mut codes[..n]);
        let mut any = false;
        for i in 0..n {
            let x = xs[i].to_f32();
            q[i] = (x * r.inv32(i)).to_bits();
            let doubt = p.doubtful(x != 0.0, q[i]);
            flags[i] = doubt;
            any |= doubt;
        }
        // Never stochastic here (see `FloatKernel::new`): the draws are unused.
        let unused = crate::engine::random::Seeded { seed: 0, n: 64 };
        p.k.convert_chunk_portable(0, q, codes, &unused);
        self.emit.emit_block(&p.k, codes, out, |i| r.scale(i));
        any
    }

    /// [`Self::point_loop`] over blocks, then the flagged elements exactly.
    #[inline(always)]
    fn point_run<T: Real, O, R: Run>(
        &self,
        p: &Point,
        xs: &[T],
        out: &mut [O],
        r: R,
        base: usize,
    ) -> Result<(), Error>
    where
        E: FloatEmit<O>,
    {
        let mut flags = [false; BLOCK];
        for (b, (xb, ob)) in xs.chunks(BLOCK).zip(out.chunks_mut(BLOCK)).enumerate() {
            let off = b * BLOCK;
            let rb = r.sub(off, xb.len());
            let doubtful = wide(
                #[inline(always)]
                || self.point_loop(p, xb, ob, rb, &mut flags),
            );
            if doubtful {
                self.redo_flagged(xb, ob, rb, base + off, &flags)?;
            }
        }
        Ok(())
    }

    /// The flagged elements of a block through the engine.
    #[inline(never)]
    fn redo_flagged<T: Real, O, R: Run>(
        &self,
        xb: &[T],
        ob: &mut [O],
        rb: R,
        base: usize,
        flags: &[bool; BLOCK],
    ) -> Result<(), Error>
    where
        E: FloatEmit<O>,
    {
        for (j, (&x, y)) in xb.iter().zip(ob.iter_mut()).enumerate() {
            if flags[j] {
                *y = self
                    .emit
                    .emit(self.code(x, rb.scale(j), base + j)?, rb.scale(j));
            }
        }
        Ok(())
    }

    /// Element codes of `x / s` for any scale, from `q = x * (1/s)` in f64:
    /// q is within |q|·2^-52 of the exact quotient, so the quotient lies in
    /// `[q - e, q + e]` with e = |q|·2^-50 (a zero x is exact). Rounding is
    /// monotone, so when both ends get the same code (by the float64 front:
    /// round to odd into float32, then the float32 kernel, which together
    /// round once) so does the quotient. Elements whose ends differ — near a
    /// rounding boundary, NaN, infinite — are flagged for the exact loop;
    /// returns true when there is one. Three straight loops over the block
    /// (ends, both ends' codes, output), each of which vectorises.
    #[inline(always)]
    fn interval_loop<T: Real, O>(
        &self,
        k: &Fp64Front,
        xs: &[T],
        out: &mut [O],
        r: impl Run,
        flags: &mut [bool; BLOCK],
    ) -> bool
    where
        E: FloatEmit<O>,
    {
        const REL: f64 = 1.0 / (1u64 << 50) as f64;
        const TINY: f64 = 1e-300;
        let n = xs.len().min(out.len()).min(BLOCK);
        let (xs, out, flags) = (&xs[..n], &mut out[..n], &mut flags[..n]);
        let (mut lo, mut hi) = ([0u32; BLOCK], [0u32; BLOCK]);
        let (lo, hi) = (&mut lo[..n], &mut hi[..n]);
        for i in 0..n {
            let x = xs[i].to_f64();
            let q = x * r.inv(i);
            let e = if x == 0.0 { 0.0 } else { q.abs() * REL + TINY };
            lo[i] = k.narrow_to_f32((q - e).to_bits());
            hi[i] = k.narrow_to_f32((q + e).to_bits());
        }
        let (mut clo, mut chi) = ([0u32; BLOCK], [0u32; BLOCK]);
        let (clo, chi) = (&mut clo[..n], &mut chi[..n]);
        let f32k = k.float32_kernel();
        // Never stochastic here (see the caller), so the draws are unused.
        let unused = crate::engine::random::Seeded { seed: 0, n: 64 };
        f32k.convert_chunk_portable(0, lo, clo, &unused);
        f32k.convert_chunk_portable(0, hi, chi, &unused);
        let mut any = false;
        for i in 0..n {
            // A NaN x's two ends agree; the NaN policy is the exact loop's.
            let doubt = clo[i] != chi[i] || xs[i].to_f64().is_nan();
            flags[i] = doubt;
            any |= doubt;
            out[i] = self.emit.emit(clo[i] as u64, r.scale(i));
        }
        any
    }

    /// [`Self::interval_loop`] over blocks, then the flagged elements exactly.
    #[inline(always)]
    fn interval_run<T: Real, O, R: Run>(
        &self,
        k: &Fp64Front,
        xs: &[T],
        out: &mut [O],
        r: R,
        base: usize,
    ) -> Result<(), Error>
    where
        E: FloatEmit<O>,
    {
        let mut flags = [false; BLOCK];
        for (b, (xb, ob)) in xs.chunks(BLOCK).zip(out.chunks_mut(BLOCK)).enumerate() {
            let off = b * BLOCK;
            let rb = r.sub(off, xb.len());
            let doubtful = wide(
                #[inline(always)]
                || self.interval_loop(k, xb, ob, rb, &mut flags),
            );
            if doubtful {
                self.redo_flagged(xb, ob, rb, base + off, &flags)?;
            }
        }
        Ok(())
    }

    /// Element by element through the engine (any mode, NaN policy).
    #[inline(never)]
    fn exact_loop<T: Real, O>(
        &self,
        xs: &[T],
        out: &mut [O],
        scale: impl Fn(usize) -> f64,
        base: usize,
    ) -> Result<(), Error>
    where
        E: FloatEmit<O>,
    {
        for (i, (&x, y)) in xs.iter().zip(out.iter_mut()).enumerate() {
            *y = self.emit.emit(self.code(x, scale(i), base + i)?, scale(i));
        }
        Ok(())
    }
}

impl<T: Real, O: Copy, E: FloatEmit<O>> Kernel<T, O> for FloatKernel<'_, E> {
    #[inline(always)]
    fn run<R: Run>(&self, xs: &[T], out: &mut [O], r: R, base: usize) -> Result<(), Error> {
        if let Some(k) = self.fast_for::<T>() {
            let r = r.sub(0, xs.len());
            if !self.fast_loop(k, xs, out, |i| r.inv(i) as f32, |i| r.scale(i)) {
                return Ok(());
            }
        } else if let Some(p) = self.point_for::<T>() {
            return self.point_run(p, xs, out, r, base);
        } else if let Some(k) = &self.interval {
            return self.interval_run(k, xs, out, r, base);
        }
        self.exact_loop(xs, out, |i| r.scale(i), base)
    }

    /// Small groups along a contiguous row (MX blocks of 32): the group
    /// constants are spread over a block of elements first, so that the
    /// vector loop runs over `BLOCK` elements rather than one short group.
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
        let Some(k) = self.fast_for::<T>() else {
            return default_run_groups(self, xs, out, p, first, g, base);
        };
        let (mut inv, mut scale) = ([0f32; BLOCK], [0f64; BLOCK]);
        for (b, (xb, ob)) in xs.chunks(BLOCK).zip(out.chunks_mut(BLOCK)).enumerate() {
            let off = b * BLOCK;
            spread(|q| p.one(q).inv32(0), first, g, off, &mut inv[..xb.len()]);
            spread(|q| p.scale[q], first, g, off, &mut scale[..xb.len()]);
            if self.fast_loop(k, xb, ob, |i| inv[i], |i| scale[i]) {
                self.exact_loop(xb, ob, |i| scale[i], base + off)?;
            }
        }
        Ok(())
    }
}

/// Elements per block of [`FloatKernel::run_groups`].
const BLOCK: usize = 256;

/// Fill `dst` (elements `off..` of a row) with the constant of each one's
/// group (`g` elements each, the row's first group being `first`).
#[inline(always)]
fn spread<V: Copy>(value: impl Fn(usize) -> V, first: usize, g: usize, off: usize, dst: &mut [V]) {
    let mut j = 0;
    while j < dst.len() {
        let group = (off + j) / g;
        let end = ((group + 1) * g - off).min(dst.len());
        dst[j..end].fill(value(first + group));
        j = end;
    }
}

impl<'a, E> FloatKernel<'a, E> {
    fn new(
        elem: &'a FloatFormat,
        o: &'a FloatQuantOptions,
        scales: &[f64],
        emit: E,
    ) -> Result<Self, Error> {
        if elem.bits() > 16 {
            return Err(Error::invalid(format!(
                "{} is too wide to be a block-scaled element format",
                elem.name
            )));
        }
        if let Some(c) = o.nan {
            if c >> elem.bits() != 0 {
                return Err(Error::invalid(format!(
                    "nan={c:#x} does not fit in the {} bits of {}",
                    elem.bits(),
                    elem.name
                )));
            }
        }
        let enc = EncodeOptions {
            rounding: o.rounding,
            overflow: Overflow::Saturate,
            nan: NanPolicy::Canonical,
            seed: o.seed,
            ..EncodeOptions::default()
        };
        let pow2 = scales.iter().all(|&s| {
            let b = s.to_bits();
            b & ((1u64 << 52) - 1) == 0
                && s.is_finite()
                && s > 0.0
                && (s as f32).is_normal()
                && (1.0 / s as f32).is_normal()
        });
        let fast = if o.rounding == RoundingMode::NearestEven {
            Fp32Narrowing::new(elem, &enc)
        } else {
            None
        };
        let interval = if o.rounding == RoundingMode::Stochastic {
            None
        } else {
            Fp64Front::new(elem, &enc)
        };
        let point = if o.rounding == RoundingMode::Stochastic {
            None
        } else {
            Point::new(elem, &enc)
        };
        let inverses_normal32 = scales.iter().all(|&s| ((1.0 / s) as f32).is_normal());
        Ok(FloatKernel {
            elem,
            enc,
            o,
            fast,
            point,
            inverses_normal32,
            interval,
            pow2,
            emit,
        })
    }
}

/// Float elements have no zero point (an empty list means all zero).
pub(super) fn float_params<'a>(scales: &'a [f64], l: &Layout) -> Result<Params<'a>, Error> {
    Params::new(scales, &[], Arithmetic::Exact, l)
}

/// Element codes of `x / scale` in `elem` (nearest-even or the chosen mode,
/// saturating at ±max, as OCP MX v1.0 prescribes).
pub fn quantize_float<T: Real, D: Bits>(
    x: &[T],
    l: &Layout,
    scales: &[f64],
    elem: &FloatFormat,
    o: &FloatQuantOptions,
    out: &mut [D],
) -> Result<(), Error> {
    let p = float_params(scales, l)?;
    let k = FloatKernel::new(elem, o, scales, ElemCodes)?;
    drive(x, out, l, &p, &k)
}

/// `decode(code) * scale` fused with [`quantize_float`].
pub fn fake_quantize_float<T: Real>(
    x: &[T],
    l: &Layout,
    scales: &[f64],
    elem: &FloatFormat,
    o: &FloatQuantOptions,
    out: &mut [T],
) -> Result<(), Error> {
    let p = float_params(scales, l)?;
    let table = (0..1u64 << elem.bits())
        .map(|c| value_to_f64(elem.unpack(c)))
        .collect();
    let k = FloatKernel::new(elem, o, scales, ElemDequant(table))?;
    drive(x, out, l, &p, &k)
}
