//! The integer code pass: `clamp(round(x / scale) + zp, qmin, qmax)`,
//! with exact or PyTorch arithmetic, written as codes or fake-quantized.

// `!(a <= b)` is deliberate: it is true for NaN, which is the point.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

use super::constants::{Params, Run};
use super::exact::round_int_exact;
use super::layout::Layout;
use super::options::{Arithmetic, QuantOptions};
use super::real::Real;
use super::walk::{drive, Kernel};
use crate::engine::random::{draw_keyed, seeded_addend, stream_key};
use crate::engine::rounding::RoundingMode;
use crate::engine::value::Value;
use crate::error::Error;
use crate::fast::int::rne_f64;
use crate::fast::simd::{at_least, at_most, wide};
use crate::fast::words::Bits;

/// Elements per block of the fast loop: a doubtful element sends its whole
/// block to the exact path.
pub(super) const BLOCK: usize = 256;

/// `code` is always clamped to the code range (never NaN), which makes
/// the unchecked float → int conversions sound; they vectorise where the
/// saturating `as` casts do not.
pub(super) trait Emit<O>: Sync {
    fn emit(&self, code: f64, zp: f64, scale: f64) -> O;
    /// The same from the float32 loop (scale is then a float32 value).
    fn emit32(&self, code: f32, zp: f32, scale: f32) -> O;
}

/// Integer codes in two's-complement words.
pub(super) struct Codes;
impl<D: Bits> Emit<D> for Codes {
    #[inline(always)]
    fn emit(&self, code: f64, _: f64, _: f64) -> D {
        // SAFETY: `code` is clamped to [qmin, qmax] within the int32 range.
        D::from_u64(unsafe { code.to_int_unchecked::<i32>() } as i64 as u64)
    }
    #[inline(always)]
    fn emit32(&self, code: f32, _: f32, _: f32) -> D {
        // SAFETY: as above.
        D::from_u64(unsafe { code.to_int_unchecked::<i32>() } as i64 as u64)
    }
}

/// `(code - zp) * scale` in the data's own float type (fake quantization).
pub(super) struct Dequant;
impl<T: Real> Emit<T> for Dequant {
    #[inline(always)]
    fn emit(&self, code: f64, zp: f64, scale: f64) -> T {
        T::from_f64((code - zp) * scale)
    }
    #[inline(always)]
    fn emit32(&self, code: f32, zp: f32, scale: f32) -> T {
        // `code - zp` is exact; one float32 rounding of the product, as in f64 then f32.
        T::from_f64(((code - zp) * scale) as f64)
    }
}

/// The integer code pass.
pub(super) struct IntKernel<'a, E> {
    o: &'a QuantOptions,
    emit: E,
    /// The float32 loops apply (float32 data, see [`Params::fits_f32`]).
    f32_ok: bool,
}

impl<E> IntKernel<'_, E> {
    /// The fast loops' own verdict on every element of a block (the same
    /// expressions), so that only the flagged elements are redone.
    fn flag_block<T: Real, R: Run>(&self, xb: &[T], r: R, f32_loop: bool, flags: &mut [bool]) {
        let (qmin, qmax) = (self.o.qmin as f64, self.o.qmax as f64);
        for (j, (&x, f)) in xb.iter().zip(flags.iter_mut()).enumerate() {
            *f = match (self.o.arithmetic, f32_loop) {
                (Arithmetic::Exact, true) => {
                    doubt_exact32(x.to_f32() * r.inv32(j), r.zp32(j), qmin as f32, qmax as f32).1
                }
                (Arithmetic::Exact, false) => doubt_exact64(x.to_f64() * r.inv(j)).1,
                (Arithmetic::Torch, _) => (x.to_f32() * r.inv32(j)).is_nan(),
            };
        }
    }

    /// Redo the flagged elements of a block exactly (all of them when
    /// `flagged` is None). Out of line: blocks with a doubtful element are
    /// rare, and the hot loop stays small.
    #[inline(never)]
    fn redo<T: Real, O, R: Run>(
        &self,
        xb: &[T],
        ob: &mut [O],
        r: R,
        base: usize,
        flagged: Option<bool>,
    ) -> Result<(), Error>
    where
        E: Emit<O>,
    {
        let mut flags = [true; BLOCK];
        if let Some(f32_loop) = flagged {
            self.flag_block(xb, r, f32_loop, &mut flags);
        }
        for (j, (&x, y)) in xb.iter().zip(ob.iter_mut()).enumerate() {
            if flags[j] {
                let c = self.exact_code(x, r.scale(j), r.inv32(j), r.zp(j), base + j)?;
                *y = self.emit.emit(c, r.zp(j), r.scale(j));
            }
        }
        Ok(())
    }

    /// The fast loop over one block; true when some element needs [`Self::redo`].
    #[inline(always)]
    fn fast_block<T: Real, O, R: Run>(&self, xb: &[T], ob: &mut [O], r: R, f32_loop: bool) -> bool
    where
        E: Emit<O>,
    {
        let (qmin, qmax, e) = (self.o.qmin as f64, self.o.qmax as f64, &self.emit);
        match (self.o.arithmetic, f32_loop) {
            (Arithmetic::Exact, true) => fast_exact32(xb, ob, r, qmin as f32, qmax as f32, e),
            (Arithmetic::Torch, true) => fast_torch32(xb, ob, r, qmin as f32, qmax as f32, e),
            (Arithmetic::Exact, false) => fast_exact(xb, ob, r, qmin, qmax, e),
            (Arithmetic::Torch, false) => fast_torch(xb, ob, r, qmin, qmax, e),
        }
    }

    /// A run in the nearest modes: blocks through the fast loop, compiled
    /// for the widest instruction set, then the rare doubtful elements exactly.
    #[inline(always)]
    fn fast_run<T: Real, O, R: Run>(
        &self,
        xs: &[T],
        out: &mut [O],
        r: R,
        base: usize,
        f32_loop: bool,
    ) -> Result<(), Error>
    where
        E: Emit<O>,
    {
        for (b, (xb, ob)) in xs.chunks(BLOCK).zip(out.chunks_mut(BLOCK)).enumerate() {
            let off = b * BLOCK;
            let rb = r.sub(off, xb.len());
            if self.fast_block(xb, ob, rb, f32_loop) {
                self.redo(xb, ob, rb, base + off, Some(f32_loop))?;
            }
        }
        Ok(())
    }

    /// A run in the directed, odd and stochastic modes (and nearest-away
    /// under PyTorch's arithmetic): blocks through [`fast_directed`], then
    /// the doubtful elements of a block exactly.
    #[inline(always)]
    fn directed_run<T: Real, O, R: Run>(
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
        let mut flags = [false; BLOCK];
        for (b, (xb, ob)) in xs.chunks(BLOCK).zip(out.chunks_mut(BLOCK)).enumerate() {
            let off = b * BLOCK;
            let rb = r.sub(off, xb.len());
            let first = (base + off) as u64;
            if fast_directed(xb, ob, rb, d, first, &mut flags, &self.emit) {
                for (j, (&x, y)) in xb.iter().zip(ob.iter_mut()).enumerate() {
                    if flags[j] {
                        let c =
                            self.exact_code(x, rb.scale(j), rb.inv32(j), rb.zp(j), base + off + j)?;
                        *y = self.emit.emit(c, rb.zp(j), rb.scale(j));
                    }
                }
            }
        }
        Ok(())
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

impl<T: Real, O: Copy, E: Emit<O>> Kernel<T, O> for IntKernel<'_, E> {
    #[inline(always)]
    fn run<R: Run>(&self, xs: &[T], out: &mut [O], r: R, base: usize) -> Result<(), Error> {
        // The fast loops round to nearest even; the exact one flags every
        // element near a half-integer, so it also serves nearest-away.
        // PyTorch's loop flags nothing, so it serves nearest-even only.
        let fast = matches!(
            (self.o.rounding, self.o.arithmetic),
            (RoundingMode::NearestEven, _) | (RoundingMode::NearestAway, Arithmetic::Exact)
        );
        if fast {
            let f32_loop = self.f32_ok && std::mem::size_of::<T>() == 4;
            return wide(
                #[inline(always)]
                || self.fast_run(xs, out, r, base, f32_loop),
            );
        }
        if let Some(d) = Directed::new(self.o) {
            return wide(
                #[inline(always)]
                || self.directed_run(xs, out, r, base, &d),
            );
        }
        for (b, (xb, ob)) in xs.chunks(BLOCK).zip(out.chunks_mut(BLOCK)).enumerate() {
            let off = b * BLOCK;
            self.redo(xb, ob, r.sub(off, xb.len()), base + off, None)?;
        }
        Ok(())
    }
}

/// The loop-invariant choices of [`fast_directed`]: which increment of the
/// magnitude applies (as masks, so the loop has no per-element branch).
#[derive(Clone, Copy, Debug)]
pub(super) struct Directed {
    up: bool,
    down: bool,
    odd: bool,
    stochastic: bool,
    away: bool,
    /// PyTorch's arithmetic: `q` is exact by definition (no doubt but the draw's).
    torch: bool,
    key: u64,
    qmin: f64,
    qmax: f64,
}

/// |q| at and above which every mode gives the same clamped code
/// (codes and zero points lie within int32).
const BIG: f64 = (1u64 << 33) as f64;

impl Directed {
    /// The loop for `o`, or None for the modes the nearest-even loops serve.
    fn new(o: &QuantOptions) -> Option<Self> {
        use RoundingMode as M;
        let torch = o.arithmetic == Arithmetic::Torch;
        let served = match o.rounding {
            M::NearestEven => false,
            M::NearestAway => torch,
            _ => true,
        };
        served.then_some(Directed {
            up: o.rounding == M::Up,
            down: o.rounding == M::Down,
            odd: o.rounding == M::Odd,
            stochastic: o.rounding == M::Stochastic,
            away: o.rounding == M::NearestAway,
            torch,
            key: stream_key(o.seed),
            qmin: o.qmin as f64,
            qmax: o.qmax as f64,
        })
    }

    /// The unclamped code of quotient `q` (of a zero `x` when `zero`) whose
    /// element's draw is `random`, and whether the exact quotient could
    /// round differently.
    ///
    /// |q| = t + f (integer part, fraction; both exact in f64 below 2^33).
    /// With exact arithmetic `q = x * (1/s)` is within `err` = |q|·2^-49 +
    /// 2^-60 of the exact quotient's fraction as `round_to_integer` sees it
    /// (product and inverse each err by 2^-53 relative; the quotient's 64-bit
    /// significand truncates below 2^-63 |q| and 2^-64), so every decision
    /// is sure unless f is within `err` of 0, of 1, of a half (nearest-away)
    /// or of the draw (stochastic: away when `random < frac · 2^64`; the
    /// draw's top 53 bits `u` satisfy u ≤ random/2^64 < u + 2^-53).
    #[inline(always)]
    fn code(&self, q: f64, zero: bool, random: u64) -> (f64, bool) {
        let neg = q < 0.0;
        let a = at_most(q.abs(), BIG);
        let t = a.floor();
        let f = a - t;
        let err = if self.torch {
            0.0
        } else {
            a * (1.0 / (1u64 << 49) as f64) + 1.0 / (1u64 << 60) as f64
        };
        let u = (random >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
        let inexact = f > 0.0;
        // SAFETY: 0 <= t <= 2^33 (a NaN q gives a = BIG).
        let even = unsafe { t.to_int_unchecked::<i64>() } & 1 == 0;
        let inc = (self.up & inexact & !neg)
            | (self.down & inexact & neg)
            | (self.odd & inexact & even)
            | (self.away & (f >= 0.5))
            | (self.stochastic & (u < f));
        let mag = t + inc as u8 as f64;
        let signed = if neg { -mag } else { mag };
        // A zero x is exact; a q that underflowed to 0 from a non-zero x is not.
        let near_int = (f <= err && !zero) || f >= 1.0 - err;
        let near_half = self.away & ((f - 0.5).abs() <= err);
        let near_draw = self.stochastic & ((u - f).abs() <= err + 1.0 / (1u64 << 52) as f64);
        let doubt = q.is_nan() | (a < BIG) & ((!self.torch & near_int) | near_half | near_draw);
        (signed, doubt)
    }
}

/// The fast loop of [`Directed`]'s modes, in f64 for both arithmetics and
/// every data type: `q = x * (1/s)`, or PyTorch's `f32(x * inv32)`. Writes
/// every element's candidate and doubt flag; returns true when some
/// element of the block is doubtful (the caller redoes those exactly).
#[inline(always)]
pub(super) fn fast_directed<T: Real, O, R: Run, E: Emit<O>>(
    xb: &[T],
    ob: &mut [O],
    r: R,
    d: &Directed,
    first: u64,
    flags: &mut [bool; BLOCK],
    emit: &E,
) -> bool {
    let n = xb.len().min(ob.len()).min(BLOCK);
    let (xb, ob, flags) = (&xb[..n], &mut ob[..n], &mut flags[..n]);
    let mut any = false;
    for i in 0..n {
        let x = xb[i].to_f64();
        let q = if d.torch {
            (xb[i].to_f32() * r.inv32(i)) as f64
        } else {
            x * r.inv(i)
        };
        let random = if d.stochastic {
            draw_keyed(d.key, first + i as u64)
        } else {
            0
        };
        let (c, doubt) = d.code(q, x == 0.0, random);
        let zp = r.zp(i);
        let c = at_most(at_least(c + zp, d.qmin), d.qmax);
        flags[i] = doubt;
        any |= doubt;
        ob[i] = emit.emit(c, zp, r.scale(i));
    }
    any
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
