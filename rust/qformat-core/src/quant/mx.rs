//! Float elements with shared scales (OCP MX, NVFP4-style, per-tensor
//! fp8 scaling): element codes of `x / scale`, rounded by the engine.

use super::constants::{Params, Run};
use super::exact::{div_value, value_to_f64};
use super::layout::Layout;
use super::options::Arithmetic;
use super::real::Real;
use super::walk::{default_run_groups, drive, Kernel};
use crate::engine::options::{EncodeOptions, NanPolicy, Overflow};
use crate::engine::random::{fill_running, seeded_addend, stream_key, Draws};
use crate::engine::rounding::{family, RoundingMode};
use crate::engine::value::Value;
use crate::error::Error;
use crate::fast::fp32::Fp32Narrowing;
use crate::fast::fp32_directed::{DirectedBody, DirectedNarrowing};
use crate::fast::fp32_nearest::{NearestBody, NearestElement, NearestNarrowing};
use crate::fast::fp64_front::Fp64Front;
use crate::fast::simd::wide;
use crate::fast::words::Bits;
use crate::fast::words::CHUNK;
use crate::format::FloatFormat;
use rayon::prelude::*;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

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
    /// Fast float32 path for power-of-two scales, in every mode: see
    /// [`FloatKernel::fast_block`].
    fast: Option<Fp32Narrowing>,
    /// The lean nearest-even loop, where it applies to the element format
    /// under the quantizer's options: it gives the general kernel's codes
    /// for every float32 input (tested over all 2^32), in fewer instructions.
    nearest: Option<NearestNarrowing>,
    /// The lean loop of the directed modes and stochastic rounding, where
    /// it applies: the general kernel's codes in 32-bit lanes, with the
    /// few elements it cannot vouch for flagged (see [`Self::fast_block`]).
    directed: Option<DirectedNarrowing>,
    /// Stochastic rounding: the seed's [`stream_key`]; None in the other modes.
    key: Option<u64>,
    /// Any other scale: float32 data in any mode, float64 data in
    /// stochastic mode; see [`FloatKernel::point_loop`].
    point: Option<Point>,
    /// Any other scale, any mode but stochastic: see [`FloatKernel::interval_loop`].
    interval: Option<Fp64Front>,
    /// Every scale's float32 inverse is a normal number (the point loop's
    /// error bound for float32 data needs it).
    inverses_normal32: bool,
    /// Stochastic rounding, and every scale's float64 inverse is a normal
    /// number: float64 data takes the point loop too (see [`Point::quotient`]).
    stochastic_f64: bool,
    /// Every scale is a float32 value (see [`FloatEmit::emit_block`]).
    scales_f32: bool,
    pow2: bool,
    emit: E,
    /// Elements that took the engine (see [`FloatTrace`]).
    exact: AtomicUsize,
    /// A one-quotient block took a lean loop (see [`FloatTrace::lean`]).
    lean: AtomicBool,
}

/// What the float-element pass writes.
pub(super) trait FloatEmit<O>: Sync {
    fn emit(&self, code: u64, scale: f64) -> O;

    /// [`Self::emit`] for a block of codes from the float32 kernel `k`
    /// with element `i`'s scale `scale(i)` (`scale32(i)` in float32), as a
    /// loop that vectorises; a NaN code may get another NaN (callers redo
    /// those elements through [`Self::emit`]). `scales_f32`: every scale is
    /// a float32 value; `values` is working space.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn emit_block(
        &self,
        _k: &Fp32Narrowing,
        codes: &[u32],
        out: &mut [O],
        scale: impl Fn(usize) -> f64,
        _scale32: impl Fn(usize) -> f32,
        _scales_f32: bool,
        _values: &mut [u32; BLOCK],
    ) {
        for (i, (o, &c)) in out.iter_mut().zip(codes).enumerate() {
            *o = self.emit(c as u64, scale(i));
        }
    }

    /// The outputs of float32 quotients `q` converted by the general
    /// float32 kernel `k` with the addends `draws` (element `i`'s is
    /// `draws.addend(i)`), as loops that vectorise; otherwise as
    /// [`Self::emit_block`] (a NaN code may get another NaN); `work` is
    /// working space.
    #[allow(clippy::too_many_arguments)]
    fn emit_general(
        &self,
        k: &Fp32Narrowing,
        q: &[u32],
        draws: &impl Draws,
        out: &mut [O],
        scale: impl Fn(usize) -> f64,
        scale32: impl Fn(usize) -> f32,
        scales_f32: bool,
        work: &mut [u32; BLOCK],
    );

    /// The output of the float32 quotient `q` converted by the lean
    /// nearest-even element `v`, with scale `scale` (`scale32` in float32;
    /// `product32`: that is the scale's exact value and the output is
    /// float32). One element of a fused loop; a NaN code may get another NaN.
    fn emit_nearest<V: NearestElement>(
        &self,
        v: &V,
        q: u32,
        scale: f64,
        scale32: f32,
        product32: bool,
    ) -> O;

    /// The output of the element code `code`, whose exact float32 value is
    /// `widen(code)`, with scale `scale` (`scale32` and `product32` as in
    /// [`Self::emit_nearest`]). One element of a fused loop; a NaN code
    /// may get another NaN.
    fn emit_coded(
        &self,
        code: u32,
        widen: impl FnOnce(u32) -> u32,
        scale: f64,
        scale32: f32,
        product32: bool,
    ) -> O;
}

pub(super) struct ElemCodes;
impl<D: Bits> FloatEmit<D> for ElemCodes {
    #[inline(always)]
    fn emit(&self, code: u64, _: f64) -> D {
        D::from_u64(code)
    }

    /// The codes straight into the output words, no working space.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn emit_general(
        &self,
        k: &Fp32Narrowing,
        q: &[u32],
        draws: &impl Draws,
        out: &mut [D],
        _scale: impl Fn(usize) -> f64,
        _scale32: impl Fn(usize) -> f32,
        _scales_f32: bool,
        _work: &mut [u32; BLOCK],
    ) {
        k.convert_chunk_portable(0, q, out, draws);
    }

    #[inline(always)]
    fn emit_nearest<V: NearestElement>(&self, v: &V, q: u32, _: f64, _: f32, _: bool) -> D {
        D::from_u64(v.code(q) as u64)
    }

    #[inline(always)]
    fn emit_coded(&self, code: u32, _: impl FnOnce(u32) -> u32, _: f64, _: f32, _: bool) -> D {
        D::from_u64(code as u64)
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
    /// table's values for every code but NaN), then times the scale. When
    /// the scale `s` is a float32 value and the output float32, one float32
    /// multiply gives the same bits as [`Self::emit`]: `v·s` is exact in
    /// f64 (at most 17 + 24 significant bits, far inside its range), so
    /// both round the exact product once to float32.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn emit_block(
        &self,
        k: &Fp32Narrowing,
        codes: &[u32],
        out: &mut [T],
        scale: impl Fn(usize) -> f64,
        scale32: impl Fn(usize) -> f32,
        scales_f32: bool,
        values: &mut [u32; BLOCK],
    ) {
        let n = codes.len().min(out.len()).min(BLOCK);
        let (values, out) = (&mut values[..n], &mut out[..n]);
        k.widen_chunk_portable(&codes[..n], values);
        scale_values(values, out, scale, scale32, scales_f32);
    }

    /// The kernel's round trip (code and exact widening in one loop), then
    /// the products of [`Self::emit_block`].
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn emit_general(
        &self,
        k: &Fp32Narrowing,
        q: &[u32],
        draws: &impl Draws,
        out: &mut [T],
        scale: impl Fn(usize) -> f64,
        scale32: impl Fn(usize) -> f32,
        scales_f32: bool,
        work: &mut [u32; BLOCK],
    ) {
        let n = q.len().min(out.len()).min(BLOCK);
        let (values, out) = (&mut work[..n], &mut out[..n]);
        k.round_chunk_portable(0, &q[..n], values, draws);
        scale_values(values, out, scale, scale32, scales_f32);
    }

    /// The lean round trip ([`NearestElement::rounded`]: the code's exact
    /// widening, as [`Self::emit_block`] takes it) times the scale.
    #[inline(always)]
    fn emit_nearest<V: NearestElement>(
        &self,
        v: &V,
        q: u32,
        scale: f64,
        scale32: f32,
        product32: bool,
    ) -> T {
        scaled(f32::from_bits(v.rounded(q)), scale, scale32, product32)
    }

    /// The code's exact widening times the scale, as [`Self::emit_nearest`].
    #[inline(always)]
    fn emit_coded(
        &self,
        code: u32,
        widen: impl FnOnce(u32) -> u32,
        scale: f64,
        scale32: f32,
        product32: bool,
    ) -> T {
        scaled(f32::from_bits(widen(code)), scale, scale32, product32)
    }
}

/// The element value `w` times its scale, as [`scale_values`] forms the
/// products: in float32 when `product32` (float32 data and scales), else
/// in f64.
#[inline(always)]
fn scaled<T: Real>(w: f32, scale: f64, scale32: f32, product32: bool) -> T {
    if product32 {
        T::from_f64((w * scale32) as f64)
    } else {
        T::from_f64(w as f64 * scale)
    }
}

/// `out[i] = values[i] · scale(i)` for float32 `values` (patterns), as
/// [`ElemDequant::emit_block`] forms the products.
#[inline(always)]
fn scale_values<T: Real>(
    values: &[u32],
    out: &mut [T],
    scale: impl Fn(usize) -> f64,
    scale32: impl Fn(usize) -> f32,
    scales_f32: bool,
) {
    if scales_f32 && std::mem::size_of::<T>() == 4 {
        for (i, (o, &v)) in out.iter_mut().zip(values).enumerate() {
            *o = T::from_f64((f32::from_bits(v) * scale32(i)) as f64);
        }
    } else {
        for (i, (o, &v)) in out.iter_mut().zip(values).enumerate() {
            *o = T::from_f64(f32::from_bits(v) as f64 * scale(i));
        }
    }
}

/// The float32 kernel of [`FloatKernel::point_loop`] and what it needs to
/// tell whether a float32 quotient's code can differ from the exact one's.
#[derive(Clone, Copy, Debug)]
struct Point {
    k: Fp32Narrowing,
    /// [`FloatKernel::nearest`], for the nearest-even quotients.
    nearest: Option<NearestNarrowing>,
    /// `2^L - 1` for the `L = 22 - m` fraction bits below the half-ulp of
    /// an element of `m` fraction bits.
    below_half_ulp: u32,
    /// `log2(element ulp / float32 ulp)` in the element's normal range: `23 - m`.
    shift: u32,
    /// In the element's subnormal range that ratio is `2^(sub_base - e)`
    /// for a float32 quotient of biased exponent `e`.
    sub_base: u32,
    /// Stochastic rounding: the seed's [`stream_key`]; None in the other modes.
    stochastic: Option<u64>,
}

impl Point {
    /// Float32 quotients within this many of their own ulps of a rounding
    /// boundary are doubtful: the quotient errs by less than 2.1 of them
    /// (see [`FloatKernel::point_loop`]), so 8 leaves a wide margin.
    const NEAR: u32 = 8;

    /// Element ulps at most `2^MAX_SHIFT` quotient ulps wide keep the
    /// stochastic test inside 64-bit lanes; smaller quotients (below
    /// 2^-38 of the element's smallest subnormal) are doubtful.
    const MAX_SHIFT: u32 = 63;

    fn new(elem: &FloatFormat, enc: &EncodeOptions) -> Option<Self> {
        let k = Fp32Narrowing::new(elem, enc)?;
        let bits = 22u32.checked_sub(elem.man_bits)?;
        let sub_base = u32::try_from(elem.emin() - elem.man_bits as i64 + 150).ok()?;
        (bits >= 6).then_some(Point {
            k,
            nearest: NearestNarrowing::new(elem, enc),
            below_half_ulp: (1 << bits) - 1,
            shift: bits + 1,
            sub_base,
            stochastic: (enc.rounding == RoundingMode::Stochastic).then(|| stream_key(enc.seed)),
        })
    }

    /// Element `i`'s float32 quotient `x / s` as a bit pattern: `x * inv32`
    /// for float32 data; for float64 data, `x * inv` in f64 rounded to
    /// float32. The f64 product is within `|Q|·2^-51.9` of the exact
    /// quotient Q (the inverse's and the product's roundings), under
    /// 2^-28 of a float32 ulp, and the one rounding to float32 adds at
    /// most half an ulp, so q errs by under 0.6 ulps: inside the 2.1 ulps
    /// [`Self::NEAR`] is sized for. A product outside float32's normal
    /// range becomes zero, subnormal or infinite, which is doubtful.
    #[inline(always)]
    fn quotient<T: Real>(x: T, r: impl Run, i: usize) -> u32 {
        if std::mem::size_of::<T>() == 4 {
            (x.to_f32() * r.inv32(i)).to_bits()
        } else {
            ((x.to_f64() * r.inv(i)) as f32).to_bits()
        }
    }

    /// True when `q` is zero, subnormal, infinite or NaN.
    #[inline(always)]
    fn not_normal(q: u32) -> bool {
        let abs = q & 0x7fff_ffff;
        abs.wrapping_sub(0x0080_0000) >= 0x7f80_0000 - 0x0080_0000
    }

    /// Whether the float32 quotient `q` of a non-zero `x` may lie on the
    /// other side of a rounding boundary from the exact one: it is near a
    /// multiple of the element's half-ulp in its binade, or it is not a
    /// normal float32 number (zero, subnormal, infinite or NaN).
    #[inline(always)]
    fn doubtful(&self, x_nonzero: bool, q: u32) -> bool {
        // `q mod H` within NEAR of 0 or of H (H = the half-ulp, a power of
        // two dividing 2^32, so adding before the mask is the same sum).
        let near = (q.wrapping_add(Self::NEAR) & self.below_half_ulp) <= 2 * Self::NEAR;
        x_nonzero & (near | Self::not_normal(q))
    }

    /// [`Self::doubtful`] for stochastic rounding with the element's 64-bit
    /// `addend` (see [`crate::engine::random`]). With `u` the quotient's
    /// ulp and `E = 2^sh·u` the element's ulp there (`sh` = `shift` in the
    /// element's normal range, larger in its subnormal range), `low` is
    /// `q mod E` in units of `u` and `top` the addend's top `sh` bits. The
    /// engine rounds the exact quotient `Q` up when its fraction of `E`,
    /// as 64 bits, plus the addend carries out of 64 bits. When `q` is
    /// more than [`Self::NEAR`] ulps from a multiple of `E`, `Q` (within
    /// 2.1 ulps) has the same truncated code and the same `E`, and its
    /// fraction is `low + δ` with |δ| < 2.1: it carries exactly when
    /// `low + top + δ + ρ ≥ 2^sh` for some ρ in [0, 1) (the addend's bits
    /// below `top`), while `q` carries when `low + top ≥ 2^sh`. The two
    /// agree unless `low + top` is within [`Self::NEAR`] of `2^sh`.
    #[inline(always)]
    fn doubtful_stochastic(&self, x_nonzero: bool, q: u32, addend: u64) -> bool {
        const NEAR: u64 = Point::NEAR as u64;
        let abs = q & 0x7fff_ffff;
        let sh = self.cut_shift(abs);
        let too_small = sh > Self::MAX_SHIFT;
        let sh = sh.min(Self::MAX_SHIFT);
        let mask = (1u64 << sh) - 1;
        // The significand, not the pattern: from sh = 24 on (quotients
        // below the element's smallest subnormal) the mask reaches past
        // the fraction, where the pattern holds the exponent.
        let low = Self::significand(abs) as u64 & mask;
        let top = addend >> (64 - sh);
        let near_cut = (low.wrapping_add(NEAR) & mask) <= 2 * NEAR;
        let near_carry = (low + top).wrapping_sub(mask + 1).wrapping_add(NEAR) <= 2 * NEAR;
        x_nonzero & (near_cut | near_carry | too_small | Self::not_normal(q))
    }

    /// How many quotient ulps of `|q|` (its pattern `abs`) make one ulp of
    /// the element it rounds to: the stochastic doubt tests' `sh`, shared
    /// so the 32- and 64-bit tests cannot disagree on it.
    #[inline(always)]
    fn cut_shift(&self, abs: u32) -> u32 {
        self.shift.max(self.sub_base.saturating_sub(abs >> 23))
    }

    /// The float32 significand of the pattern `abs`, hidden bit included.
    #[inline(always)]
    fn significand(abs: u32) -> u32 {
        (abs & 0x007f_ffff) | 0x0080_0000
    }

    /// [`Self::doubtful_stochastic`] from the addend's top 32 bits `top`
    /// alone, in 32-bit lanes, so a fused loop keeps twice the lanes per
    /// vector and draws only the top halves ([`fill_top_addends`]). Where
    /// the element's ulp is at most 2^31 quotient ulps (`sh` ≤ 31: every
    /// quotient down to 2^-8 of the element's smallest subnormal) it is
    /// the same test: the addend's top `sh` bits are `top`'s, and
    /// `low + top` < 2^32. Deeper (`sh = 32 + t`), write the 64-bit
    /// test's addend bits as `top·2^t + r` (`r` < 2^t) and `low` as
    /// `(low >> t)·2^t + (low mod 2^t)`: `low + top·2^t + r − 2^sh` is
    /// `2^t·(A − 2^32) + e` with `A = (low >> t) + top` and `0 ≤ e < 2^(t+1)`,
    /// so a distance of at most [`Self::NEAR`] puts `A − 2^32` within
    /// `[−NEAR/2^t − 2 + 2^(1−t), NEAR/2^t]`, inside ±NEAR: this test
    /// flags every element the 64-bit one flags (and a few more there: a
    /// margin of up to NEAR·2^t quotient ulps, or an `A` within NEAR of
    /// 0), so the proof of [`FloatKernel::point_loop`] holds for the
    /// elements it leaves.
    #[inline(always)]
    fn doubtful_stochastic32(&self, x_nonzero: bool, q: u32, top: u32) -> bool {
        let abs = q & 0x7fff_ffff;
        let sh = self.cut_shift(abs);
        let too_small = sh > Self::MAX_SHIFT;
        let mask = (1u32 << sh.min(31)) - 1;
        let low = Self::significand(abs) & mask;
        let near_cut = (low.wrapping_add(Self::NEAR) & mask) <= 2 * Self::NEAR;
        // `A` and `2^min(sh, 32)` mod 2^32 (see above); `32 - min(sh, 32)`
        // is at most 25, `shift` being at least 7.
        let sum = (low >> sh.saturating_sub(32).min(31)).wrapping_add(top >> (32 - sh.min(32)));
        let carry_at = if sh >= 32 { 0 } else { 1 << sh.min(31) };
        let near_carry = sum.wrapping_sub(carry_at).wrapping_add(Self::NEAR) <= 2 * Self::NEAR;
        x_nonzero & (near_cut | near_carry | too_small | Self::not_normal(q))
    }
}

/// Working space of one block of the vector loops, set up once per run:
/// zeroing it for every block took more memory traffic than the data.
struct Scratch {
    /// The elements to redo through the engine.
    flags: [bool; BLOCK],
    /// Float32 quotients.
    q: [u32; BLOCK],
    /// Their element codes.
    codes: [u32; BLOCK],
    /// The codes' values (float32 patterns).
    values: [u32; BLOCK],
    /// Stochastic addends.
    addends: [u64; BLOCK],
}

impl Scratch {
    fn new() -> Self {
        Scratch {
            flags: [false; BLOCK],
            q: [0; BLOCK],
            codes: [0; BLOCK],
            values: [0; BLOCK],
            addends: [0; BLOCK],
        }
    }
}

/// One block's stochastic addends, in the kernel's [`Draws`] form.
struct BlockAddends<'a>(&'a [u64]);
impl Draws for BlockAddends<'_> {
    #[inline(always)]
    fn addend(&self, i: usize) -> u64 {
        self.0.get(i).copied().unwrap_or(0)
    }
}

/// The element route a [`FloatKernel`] takes for its data type, for the
/// tests that prove each fast route runs and equals the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FloatRoute {
    /// Power-of-two scales, float32 data, any mode: `x * (1/s)` is exact
    /// in float32 wherever it is a normal number.
    Pow2Float32,
    /// One float32 quotient per element (float32 data, any scale and mode;
    /// float64 data in stochastic mode).
    OneQuotient,
    /// Two float64 ends per element (float64 data, any mode but stochastic).
    Interval,
    /// Every element through the engine.
    Exact,
}

/// How one call computed its elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FloatTrace {
    pub route: FloatRoute,
    /// Elements redone (or done) element by element through the engine.
    pub exact: usize,
    /// The one-quotient route converted its quotients by a lean loop (the
    /// fused nearest-even loop, or the directed and stochastic loop of
    /// `fast/fp32_directed.rs`) rather than the general float32 kernel;
    /// false on the other routes.
    pub lean: bool,
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

    /// The route [`Kernel::run`] takes for data of type `T`.
    fn route<T: Real>(&self) -> FloatRoute {
        if self.fast_for::<T>().is_some() {
            FloatRoute::Pow2Float32
        } else if self.point_for::<T>().is_some() {
            FloatRoute::OneQuotient
        } else if self.interval.is_some() {
            FloatRoute::Interval
        } else {
            FloatRoute::Exact
        }
    }

    /// The route taken for data of type `T` and the elements that took the engine.
    fn trace<T: Real>(&self) -> FloatTrace {
        FloatTrace {
            route: self.route::<T>(),
            exact: self.exact.load(Ordering::Relaxed),
            lean: self.lean.load(Ordering::Relaxed),
        }
    }

    /// Record that a one-quotient block took a lean loop: a load, and one
    /// store per call, so the threads do not pass the line back and forth.
    #[inline(always)]
    fn mark_lean(&self) {
        if !self.lean.load(Ordering::Relaxed) {
            self.lean.store(true, Ordering::Relaxed);
        }
    }

    /// Count `n` elements that took the engine (rare outside the exact
    /// route, so the shared counter costs nothing measurable).
    #[inline(always)]
    fn count_exact(&self, n: usize) {
        self.exact.fetch_add(n, Ordering::Relaxed);
    }
}

impl<E> FloatKernel<'_, E> {
    /// The float32 narrowing kernel when it applies to data of type `T`:
    /// power-of-two scales (so `x * (1/scale)` is exact in float32 wherever
    /// the product is a normal number), float32 data, any mode.
    #[inline(always)]
    fn fast_for<T: Real>(&self) -> Option<&Fp32Narrowing> {
        self.fast
            .as_ref()
            .filter(|_| self.pow2 && std::mem::size_of::<T>() == 4)
    }

    /// The one-quotient loop when it applies: float32 data whose scales'
    /// float32 inverses are normal numbers, or float64 data in stochastic
    /// mode whose scales' float64 inverses are (the other modes take the
    /// interval loop, which doubts fewer elements).
    #[inline(always)]
    fn point_for<T: Real>(&self) -> Option<&Point> {
        let fits = if std::mem::size_of::<T>() == 4 {
            self.inverses_normal32
        } else {
            self.stochastic_f64
        };
        self.point.as_ref().filter(|_| fits)
    }

    /// The branch-free loops over a block of at most [`BLOCK`] elements
    /// (element `i` has flat index `index + i`): element codes of
    /// `q = x * inv(i)` by the float32 kernel, then their outputs with scale
    /// `scale(i)`. `inv(i)` is a power of two, so `q` is the exact quotient
    /// unless it falls below float32's normal range (its low bits are
    /// lost, or all of it) or past it (infinity); on an exact `q` the
    /// kernel equals the engine in every mode, stochastic included given
    /// the same draw (element `index + i`'s seeded addend). So an element
    /// is doubtful only when `x` is not zero and `q` is not a normal number
    /// (NaN included). In nearest even a lost low part cannot matter
    /// either: such a `q` is far below half the smallest subnormal of
    /// every element format (2^-17 for fp8_e5m2), and both the exact and
    /// the float32 quotient round to a zero of its sign or saturate; only
    /// a NaN needs the engine (the NaN policy). The other modes take the
    /// general kernel here; where the lean loop of `fp32_directed.rs`
    /// applies, [`DirectedBlocks`] runs them instead (the same codes, with
    /// the rare stochastic element it cannot decide in 32-bit lanes flagged
    /// too). Flags the elements to redo in `s.flags` and returns true when
    /// there is one.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn fast_block<T: Real, O>(
        &self,
        k: &Fp32Narrowing,
        xs: &[T],
        out: &mut [O],
        inv: impl Fn(usize) -> f32,
        scale: impl Fn(usize) -> f64,
        index: usize,
        s: &mut Scratch,
    ) -> bool
    where
        E: FloatEmit<O>,
    {
        let n = xs.len().min(out.len()).min(BLOCK);
        let (xs, out, q) = (&xs[..n], &mut out[..n], &mut s.q[..n]);
        let scale32 = |i| scale(i) as f32;
        if self.o.rounding == RoundingMode::NearestEven {
            let mut nan = false;
            for i in 0..n {
                let v = xs[i].to_f32() * inv(i);
                nan |= v.is_nan();
                q[i] = v.to_bits();
            }
            if nan {
                flag_nans(xs, &mut s.flags[..n]);
            }
            let codes = &mut s.codes[..n];
            narrow_nearest(k, self.nearest, q, codes);
            let values = &mut s.values;
            self.emit
                .emit_block(k, codes, out, &scale, scale32, self.scales_f32, values);
            return nan;
        }
        let flags = &mut s.flags[..n];
        let mut any = false;
        for i in 0..n {
            let x = xs[i].to_f32();
            q[i] = (x * inv(i)).to_bits();
            let doubt = (x != 0.0) & Point::not_normal(q[i]);
            flags[i] = doubt;
            any |= doubt;
        }
        let addends = match self.key {
            Some(key) => fill_addends(key, index as u64, &mut s.addends[..n]),
            None => &[][..],
        };
        let values = &mut s.values;
        let draws = &BlockAddends(addends);
        self.emit
            .emit_general(k, q, draws, out, &scale, scale32, self.scales_f32, values);
        any
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
    /// the float32 kernel computes bit-equal to the engine. Stochastic
    /// rounding has one more boundary per element, where its addend's carry
    /// changes ([`Point::doubtful_stochastic`]); the addend is element
    /// `index + i`'s seeded draw, the one the engine takes. Doubtful
    /// elements are flagged for the exact loop; returns true when there is
    /// one. One pass where [`Self::interval_loop`] converts two ends.
    /// Where a lean loop applies, [`Kernel::run`] takes a fused form of
    /// this instead, with no working arrays between the steps: in nearest
    /// even [`FusedNearest`], in the other modes [`PointBlocks`] (the
    /// lean loop of `fast/fp32_directed.rs`). Here, with the general
    /// kernel, the block's quotients and addends are kept, converted, then
    /// their values emitted ([`FloatEmit::emit_block`]). float64 data in
    /// stochastic mode takes this loop too, with the quotient of
    /// [`Point::quotient`], which errs by less still.
    #[inline(always)]
    fn point_loop<T: Real, O>(
        &self,
        p: &Point,
        xs: &[T],
        out: &mut [O],
        r: impl Run,
        index: usize,
        s: &mut Scratch,
    ) -> bool
    where
        E: FloatEmit<O>,
    {
        let n = xs.len().min(out.len()).min(BLOCK);
        let (xs, out) = (&xs[..n], &mut out[..n]);
        let (flags, q) = (&mut s.flags[..n], &mut s.q[..n]);
        let mut any = false;
        let addends = if let Some(key) = p.stochastic {
            let addends = fill_addends(key, index as u64, &mut s.addends[..n]);
            for i in 0..n {
                q[i] = Point::quotient(xs[i], r, i);
                let doubt = p.doubtful_stochastic(xs[i].to_f64() != 0.0, q[i], addends[i]);
                flags[i] = doubt;
                any |= doubt;
            }
            addends
        } else {
            for i in 0..n {
                q[i] = Point::quotient(xs[i], r, i);
                let doubt = p.doubtful(xs[i].to_f64() != 0.0, q[i]);
                flags[i] = doubt;
                any |= doubt;
            }
            &[][..]
        };
        // Codes first, then their values: about 10% faster in stochastic
        // mode than the general kernel's one-loop round trip
        // (`emit_general`), measured on 2^25 float32 elements.
        let codes = &mut s.codes[..n];
        p.k.convert_chunk_portable(0, q, codes, &BlockAddends(addends));
        let (scale, scale32) = (|i| r.scale(i), |i| r.scale32(i));
        let values = &mut s.values;
        self.emit
            .emit_block(&p.k, codes, out, scale, scale32, self.scales_f32, values);
        any
    }

    /// The one runner of the vector loops: `inner` fills a block of at
    /// most [`BLOCK`] elements (given the flat index of its first) and
    /// flags the elements it cannot vouch for, returning true when there is
    /// one; those are then redone by the engine.
    #[inline(always)]
    fn blocked_run<T: Real, O, R: Run>(
        &self,
        xs: &[T],
        out: &mut [O],
        r: R,
        base: usize,
        inner: impl Fn(&[T], &mut [O], R, usize, &mut Scratch) -> bool,
    ) -> Result<(), Error>
    where
        E: FloatEmit<O>,
    {
        let mut s = Scratch::new();
        for (b, (xb, ob)) in xs.chunks(BLOCK).zip(out.chunks_mut(BLOCK)).enumerate() {
            let off = b * BLOCK;
            let rb = r.sub(off, xb.len());
            // Already inside `drive`'s `wide`: a nested one per block would
            // pay its level check (an allocation) 2^17 times per 2^25 elements.
            if inner(xb, ob, rb, base + off, &mut s) {
                self.redo_flagged(xb, ob, |j| rb.scale(j), base + off, &s.flags)?;
            }
        }
        Ok(())
    }

    /// The flagged elements of a block through the engine.
    #[inline(never)]
    fn redo_flagged<T: Real, O>(
        &self,
        xb: &[T],
        ob: &mut [O],
        scale: impl Fn(usize) -> f64,
        base: usize,
        flags: &[bool],
    ) -> Result<(), Error>
    where
        E: FloatEmit<O>,
    {
        let mut n = 0;
        for (j, (&x, y)) in xb.iter().zip(ob.iter_mut()).enumerate() {
            if flags[j] {
                *y = self.emit.emit(self.code(x, scale(j), base + j)?, scale(j));
                n += 1;
            }
        }
        self.count_exact(n);
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
        s: &mut Scratch,
    ) -> bool
    where
        E: FloatEmit<O>,
    {
        const REL: f64 = 1.0 / (1u64 << 50) as f64;
        const TINY: f64 = 1e-300;
        let n = xs.len().min(out.len()).min(BLOCK);
        let (xs, out, flags) = (&xs[..n], &mut out[..n], &mut s.flags[..n]);
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
        // Never stochastic here (see the caller), so there are no draws.
        f32k.convert_chunk_portable(0, lo, clo, &BlockAddends(&[]));
        f32k.convert_chunk_portable(0, hi, chi, &BlockAddends(&[]));
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
        self.count_exact(xs.len());
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
            if let Some(d) = self.directed {
                let body = DirectedBlocks {
                    kernel: self,
                    xs,
                    out,
                    consts: RunConsts(r),
                    base,
                };
                return d.with_family(body);
            }
            return self.blocked_run(
                xs,
                out,
                r,
                base,
                #[inline(always)]
                |xb, ob, rb, index, s| {
                    let (inv, scale) = (|i| rb.inv(i) as f32, |i| rb.scale(i));
                    self.fast_block(k, xb, ob, inv, scale, index, s)
                },
            );
        } else if let Some(p) = self.point_for::<T>() {
            if let Some(lean) = p.nearest {
                return lean.with_element(FusedNearest {
                    kernel: self,
                    p,
                    xs,
                    out,
                    r,
                    base,
                });
            }
            if let Some(d) = self.directed {
                return d.with_family(PointBlocks {
                    kernel: self,
                    p,
                    xs,
                    out,
                    r,
                    base,
                });
            }
            return self.blocked_run(
                xs,
                out,
                r,
                base,
                #[inline(always)]
                |xb, ob, rb, index, s| self.point_loop(p, xb, ob, rb, index, s),
            );
        } else if let Some(k) = &self.interval {
            return self.blocked_run(
                xs,
                out,
                r,
                base,
                #[inline(always)]
                |xb, ob, rb, _, s| self.interval_loop(k, xb, ob, rb, s),
            );
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
        if let Some(lean) = self.nearest {
            let groups = PowerGroups {
                kernel: self,
                xs,
                out,
                consts: GroupConsts { p, first, g },
                base,
            };
            return lean.with_element(groups);
        }
        if let Some(d) = self.directed {
            let body = DirectedBlocks {
                kernel: self,
                xs,
                out,
                consts: GroupConsts { p, first, g },
                base,
            };
            return d.with_family(body);
        }
        let (mut inv, mut scale, mut s) = ([0f32; BLOCK], [0f64; BLOCK], Scratch::new());
        for (b, (xb, ob)) in xs.chunks(BLOCK).zip(out.chunks_mut(BLOCK)).enumerate() {
            let off = b * BLOCK;
            spread(|q| p.one(q).inv32(0), first, g, off, &mut inv[..xb.len()]);
            spread(|q| p.scale[q], first, g, off, &mut scale[..xb.len()]);
            let (invs, scales) = (|i| inv[i], |i| scale[i]);
            if self.fast_block(k, xb, ob, invs, scales, base + off, &mut s) {
                self.redo_flagged(xb, ob, scales, base + off, &s.flags)?;
            }
        }
        Ok(())
    }
}

/// Codes of float32 quotients `q` in a mode without draws: the lean
/// nearest-even loop where it applies (`lean`, built only for nearest
/// even), else the general kernel `k`.
#[inline(always)]
fn narrow_nearest(k: &Fp32Narrowing, lean: Option<NearestNarrowing>, q: &[u32], codes: &mut [u32]) {
    match lean {
        Some(n) => n.convert_chunk_portable(q, codes),
        None => k.convert_chunk_portable(0, q, codes, &BlockAddends(&[])),
    }
}

/// Flag the NaN elements of a block (cold: nearest even's only doubt).
#[cold]
fn flag_nans<T: Real>(xs: &[T], flags: &mut [bool]) {
    for (f, x) in flags.iter_mut().zip(xs) {
        *f = x.to_f64().is_nan();
    }
}

/// Element `first + i`'s stochastic addend (the complement of its draw,
/// as [`seeded_addend`] forms it) into `addends[i]`, from a running
/// generator state (see [`fill_running`]): the bits of `draw_keyed` without
/// its 64-bit multiply per element. Returns `addends`.
#[inline(always)]
fn fill_addends(key: u64, first: u64, addends: &mut [u64]) -> &[u64] {
    fill_running(key, first, addends, |a| a);
    addends
}

/// The top 32 bits of [`fill_addends`]' addends: all that the lean
/// directed loop reads of them ([`DirectedNarrowing::code_in`]), so its
/// vector loop runs in 32-bit lanes. An element it flags is redone by the
/// engine, which draws the full addend again from the element's index.
#[inline(always)]
fn fill_top_addends(key: u64, first: u64, tops: &mut [u32]) {
    fill_running(key, first, tops, |a| (a >> 32) as u32);
}

/// [`FloatKernel::point_loop`] in nearest even with the lean kernel, over
/// a whole run: one fused loop per block (quotient, doubt, conversion,
/// output), with the lean kernel's variant fixed at compile time once per
/// run rather than per block (the dispatch inside the block loop cost a
/// wall of per-block bookkeeping, about 0.6 instructions per element).
struct FusedNearest<'a, 'k, T, O, R, E> {
    kernel: &'a FloatKernel<'k, E>,
    p: &'a Point,
    xs: &'a [T],
    out: &'a mut [O],
    r: R,
    /// The flat index of the run's first element.
    base: usize,
}

impl<T: Real, O, R: Run, E: FloatEmit<O>> NearestBody for FusedNearest<'_, '_, T, O, R, E> {
    type Out = Result<(), Error>;

    #[inline(always)]
    fn run<V: NearestElement>(self, v: V) -> Result<(), Error> {
        // See [`FloatEmit::emit_nearest`].
        if self.kernel.scales_f32 && std::mem::size_of::<T>() == 4 {
            self.blocks::<V, true>(v)
        } else {
            self.blocks::<V, false>(v)
        }
    }
}

impl<T: Real, O, R: Run, E: FloatEmit<O>> FusedNearest<'_, '_, T, O, R, E> {
    /// The run block by block, each block's doubtful elements redone by
    /// the engine; `PRODUCT32` is [`FloatEmit::emit_nearest`]'s.
    #[inline(always)]
    fn blocks<V: NearestElement, const PRODUCT32: bool>(self, v: V) -> Result<(), Error> {
        let (k, p, r) = (self.kernel, self.p, self.r);
        k.mark_lean();
        let mut flags = [false; BLOCK];
        let blocks = self.xs.chunks(BLOCK).zip(self.out.chunks_mut(BLOCK));
        for (b, (xb, ob)) in blocks.enumerate() {
            let off = b * BLOCK;
            let rb = r.sub(off, xb.len());
            if fused::<T, O, E, V, PRODUCT32>(p, &k.emit, &v, xb, ob, rb) {
                let flags = &mut flags[..xb.len()];
                flag_doubtful(p, xb, rb, flags);
                k.redo_flagged(xb, ob, |j| rb.scale(j), self.base + off, flags)?;
            }
        }
        Ok(())
    }
}

/// One block of [`FusedNearest`]: the outputs, and whether an element is
/// doubtful. Nothing is written per element but the output: storing a
/// flag per element cost more than the doubt test, and only about one
/// block in a hundred has a doubtful element (fp8).
#[inline(always)]
fn fused<T: Real, O, E: FloatEmit<O>, V: NearestElement, const PRODUCT32: bool>(
    p: &Point,
    emit: &E,
    v: &V,
    xs: &[T],
    out: &mut [O],
    r: impl Run,
) -> bool {
    let n = xs.len().min(out.len());
    let (xs, out) = (&xs[..n], &mut out[..n]);
    let mut any = false;
    for i in 0..n {
        let q = Point::quotient(xs[i], r, i);
        any |= p.doubtful(xs[i].to_f64() != 0.0, q);
        out[i] = emit.emit_nearest(v, q, r.scale(i), r.scale32(i), PRODUCT32);
    }
    any
}

/// The doubtful elements of a block in nearest even (the test of
/// [`FusedNearest`], redone into `flags` for the rare block that has one).
#[cold]
#[inline(never)]
fn flag_doubtful<T: Real>(p: &Point, xs: &[T], r: impl Run, flags: &mut [bool]) {
    for (i, (f, &x)) in flags.iter_mut().zip(xs).enumerate() {
        *f = p.doubtful(x.to_f64() != 0.0, Point::quotient(x, r, i));
    }
}

/// [`FloatKernel::point_loop`] in the directed modes and stochastic
/// rounding where the lean loop applies ([`FloatKernel::directed`]), over
/// a whole run: quotient, doubt, lean code, value and product as one
/// fused loop per block, compiled for the mode's family alone
/// ([`DirectedNarrowing::with_family`]), in 32-bit lanes, with no working
/// array but the block's addend tops in stochastic rounding
/// ([`fill_top_addends`]; the doubt test reads no more of them:
/// [`Point::doubtful_stochastic32`]). The lean loop gives the general
/// kernel's code of every float32 `q` or flags the lane, and a flagged
/// lane is redone by the engine with the doubtful ones, so the proof of
/// [`FloatKernel::point_loop`] holds unchanged.
struct PointBlocks<'a, 'k, T, O, R, E> {
    kernel: &'a FloatKernel<'k, E>,
    p: &'a Point,
    xs: &'a [T],
    out: &'a mut [O],
    r: R,
    /// The flat index of the run's first element.
    base: usize,
}

impl<T: Real, O, R: Run, E: FloatEmit<O>> DirectedBody for PointBlocks<'_, '_, T, O, R, E> {
    type Out = Result<(), Error>;

    #[inline(always)]
    fn run<const FAMILY: u8>(self, d: DirectedNarrowing) -> Result<(), Error> {
        // See [`FloatEmit::emit_coded`].
        if self.kernel.scales_f32 && std::mem::size_of::<T>() == 4 {
            self.blocks::<FAMILY, true>(d)
        } else {
            self.blocks::<FAMILY, false>(d)
        }
    }
}

impl<T: Real, O, R: Run, E: FloatEmit<O>> PointBlocks<'_, '_, T, O, R, E> {
    /// The run block by block, each block's flagged elements redone by
    /// the engine; `PRODUCT32` is [`FloatEmit::emit_coded`]'s.
    #[inline(always)]
    fn blocks<const FAMILY: u8, const PRODUCT32: bool>(
        self,
        d: DirectedNarrowing,
    ) -> Result<(), Error> {
        let (k, p, r) = (self.kernel, self.p, self.r);
        k.mark_lean();
        let key = p.stochastic.unwrap_or(0);
        let (mut tops, mut flags) = ([0u32; BLOCK], [false; BLOCK]);
        let blocks = self.xs.chunks(BLOCK).zip(self.out.chunks_mut(BLOCK));
        for (b, (xb, ob)) in blocks.enumerate() {
            let (off, n) = (b * BLOCK, xb.len());
            let (rb, tops, index) = (r.sub(off, n), &mut tops[..n], self.base + off);
            if FAMILY == family::STOCHASTIC {
                fill_top_addends(key, index as u64, tops);
            }
            if point_block::<FAMILY, PRODUCT32, T, O, E>(p, &k.emit, &d, xb, ob, rb, tops) {
                let flags = &mut flags[..n];
                flag_point::<FAMILY, T>(p, &d, xb, rb, tops, flags);
                k.redo_flagged(xb, ob, |j| rb.scale(j), index, flags)?;
            }
        }
        Ok(())
    }
}

/// One block of [`PointBlocks`]: the outputs, and whether an element
/// needs the engine ([`point_lane`]).
#[inline(always)]
fn point_block<const FAMILY: u8, const PRODUCT32: bool, T: Real, O, E: FloatEmit<O>>(
    p: &Point,
    emit: &E,
    d: &DirectedNarrowing,
    xs: &[T],
    out: &mut [O],
    r: impl Run,
    tops: &[u32],
) -> bool {
    let n = xs.len().min(out.len()).min(tops.len());
    let mut any = false;
    for i in 0..n {
        let (code, flag) = point_lane::<FAMILY, T>(p, d, xs[i], r, tops, i);
        any |= flag;
        let widen = |c| d.widen_finite(c);
        out[i] = emit.emit_coded(code, widen, r.scale(i), r.scale32(i), PRODUCT32);
    }
    any
}

/// Element `i` of a [`point_block`]: the lean loop's code of the
/// one-quotient `q`, and whether the element needs the engine (doubtful,
/// [`Point::doubtful`] or [`Point::doubtful_stochastic32`], or a lane the
/// lean loop flags). [`flag_point`] redoes the same test. An element
/// whose `q` is neither zero nor a normal number is doubtful (a zero `q`
/// has a zero `x`), so the lean loop's finite-input form
/// ([`DirectedNarrowing::code_finite`], whose codes
/// [`DirectedNarrowing::widen_finite`] widens) serves every element the
/// test leaves: the kernel saturates, and such a `q` is finite.
#[inline(always)]
fn point_lane<const FAMILY: u8, T: Real>(
    p: &Point,
    d: &DirectedNarrowing,
    x: T,
    r: impl Run,
    tops: &[u32],
    i: usize,
) -> (u32, bool) {
    let q = Point::quotient(x, r, i);
    let top = stochastic_top::<FAMILY>(tops, i);
    let x_nonzero = x.to_f64() != 0.0;
    let doubt = if FAMILY == family::STOCHASTIC {
        p.doubtful_stochastic32(x_nonzero, q, top)
    } else {
        p.doubtful(x_nonzero, q)
    };
    let (code, flag) = d.code_finite::<FAMILY>(q, top);
    (code, flag | doubt)
}

/// The elements of a block that [`point_block`] leaves to the engine
/// (its test, redone into `flags` for the rare block that has one).
#[cold]
#[inline(never)]
fn flag_point<const FAMILY: u8, T: Real>(
    p: &Point,
    d: &DirectedNarrowing,
    xs: &[T],
    r: impl Run,
    tops: &[u32],
    flags: &mut [bool],
) {
    for (i, (f, &x)) in flags.iter_mut().zip(xs).enumerate() {
        *f = point_lane::<FAMILY, T>(p, d, x, r, tops, i).1;
    }
}

/// [`FloatKernel::run_groups`] in nearest even with the lean kernel (which
/// exists only in that mode): [`FloatKernel::fast_block`]'s nearest-even
/// steps (quotient, code, value, product) as one fused loop per block,
/// with the lean kernel's variant fixed once per row. The per-group
/// constants are float32: every scale of this route is a power of two
/// whose float32 value and inverse are normal ([`ScaleFacts::pow2`]), so
/// the value is exact and the inverse comes from its bits
/// ([`pow2_inverse32`]), not a division per group.
struct PowerGroups<'a, 'k, 'p, T, O, E> {
    kernel: &'a FloatKernel<'k, E>,
    xs: &'a [T],
    out: &'a mut [O],
    consts: GroupConsts<'a, 'p>,
    /// The flat index of the row's first element.
    base: usize,
}

impl<T: Real, O, E: FloatEmit<O>> NearestBody for PowerGroups<'_, '_, '_, T, O, E> {
    type Out = Result<(), Error>;

    #[inline(always)]
    fn run<V: NearestElement>(self, v: V) -> Result<(), Error> {
        let k = self.kernel;
        let (mut inv, mut scale, mut flags) = ([0f32; BLOCK], [0f32; BLOCK], [false; BLOCK]);
        let blocks = self.xs.chunks(BLOCK).zip(self.out.chunks_mut(BLOCK));
        for (b, (xb, ob)) in blocks.enumerate() {
            let (off, n) = (b * BLOCK, xb.len());
            let (inv, scale) = (&mut inv[..n], &mut scale[..n]);
            self.consts.fill(off, inv, scale);
            if power_block(&k.emit, &v, xb, ob, inv, scale) {
                let flags = &mut flags[..n];
                flag_nans(xb, flags);
                k.redo_flagged(xb, ob, |j| scale[j] as f64, self.base + off, flags)?;
            }
        }
        Ok(())
    }
}

/// One block of [`PowerGroups`]: `out[i]` from the exact quotient
/// `x[i] * inv[i]` (see [`FloatKernel::fast_block`]: in nearest even only
/// a NaN needs the engine), and whether there is a NaN.
#[inline(always)]
fn power_block<T: Real, O, E: FloatEmit<O>, V: NearestElement>(
    emit: &E,
    v: &V,
    xs: &[T],
    out: &mut [O],
    inv: &[f32],
    scale: &[f32],
) -> bool {
    let n = xs.len().min(out.len()).min(inv.len()).min(scale.len());
    let mut nan = false;
    for i in 0..n {
        let q = xs[i].to_f32() * inv[i];
        nan |= q.is_nan();
        out[i] = emit.emit_nearest(v, q.to_bits(), scale[i] as f64, scale[i], true);
    }
    nan
}

/// [`FloatKernel::fast_block`]'s steps in the directed modes and
/// stochastic rounding (quotient, lean code, value, product) as one fused
/// loop per block, compiled for the lean loop's mode family alone
/// ([`DirectedNarrowing::with_family`]), with no working arrays between
/// the steps: only the block's float32 inverses and scales (from
/// [`BlockConsts`], given the block's offset in the run) and, in stochastic
/// rounding, the top halves of its addends ([`fill_top_addends`]) are
/// laid out first. The scales are powers of two whose float32 value and
/// inverse are normal ([`ScaleFacts::pow2`]), so the quotient is exact
/// wherever it is a normal number and the product with a float32 element
/// value is the exact product rounded once (see [`FloatEmit::emit_block`]).
struct DirectedBlocks<'a, 'k, T, O, E, C> {
    kernel: &'a FloatKernel<'k, E>,
    xs: &'a [T],
    out: &'a mut [O],
    consts: C,
    /// The flat index of the run's first element.
    base: usize,
}

impl<T, O, E, C> DirectedBody for DirectedBlocks<'_, '_, T, O, E, C>
where
    T: Real,
    E: FloatEmit<O>,
    C: BlockConsts,
{
    type Out = Result<(), Error>;

    #[inline(always)]
    fn run<const FAMILY: u8>(self, d: DirectedNarrowing) -> Result<(), Error> {
        let k = self.kernel;
        let key = k.key.unwrap_or(0);
        let (mut inv, mut scale) = ([0f32; BLOCK], [0f32; BLOCK]);
        let (mut tops, mut flags) = ([0u32; BLOCK], [false; BLOCK]);
        let blocks = self.xs.chunks(BLOCK).zip(self.out.chunks_mut(BLOCK));
        for (b, (xb, ob)) in blocks.enumerate() {
            let (off, n) = (b * BLOCK, xb.len());
            let (inv, scale, tops) = (&mut inv[..n], &mut scale[..n], &mut tops[..n]);
            self.consts.fill(off, inv, scale);
            let index = self.base + off;
            if FAMILY == family::STOCHASTIC {
                fill_top_addends(key, index as u64, tops);
            }
            if directed_block::<FAMILY, T, O, E>(&k.emit, &d, xb, ob, inv, scale, tops) {
                let flags = &mut flags[..n];
                flag_directed::<FAMILY, T>(&d, xb, inv, tops, flags);
                k.redo_flagged(xb, ob, |j| scale[j] as f64, index, flags)?;
            }
        }
        Ok(())
    }
}

/// One block of [`DirectedBlocks`]: `out[i]` from the quotient
/// `x[i] * inv[i]` by the lean loop (`tops[i]`: the top half of the
/// element's addend, read in stochastic rounding only), and whether an
/// element needs the engine: a non-zero `x` whose quotient is not a normal
/// number (so not exact, or NaN), or a lane the lean loop flags.
#[inline(always)]
fn directed_block<const FAMILY: u8, T: Real, O, E: FloatEmit<O>>(
    emit: &E,
    d: &DirectedNarrowing,
    xs: &[T],
    out: &mut [O],
    inv: &[f32],
    scale: &[f32],
    tops: &[u32],
) -> bool {
    let n = xs.len().min(out.len()).min(inv.len());
    let n = n.min(scale.len()).min(tops.len());
    let product32 = std::mem::size_of::<T>() == 4;
    let mut any = false;
    for i in 0..n {
        let (code, flag) = directed_lane::<FAMILY, T>(d, xs[i], inv[i], tops, i);
        any |= flag;
        let widen = |c| d.widen_finite(c);
        out[i] = emit.emit_coded(code, widen, scale[i] as f64, scale[i], product32);
    }
    any
}

/// Element `i` of a [`directed_block`]: the lean loop's code of the
/// quotient `x * inv`, and whether the element needs the engine (a lane
/// the lean loop flags, or a non-zero `x` whose quotient is not a normal
/// number, so not exact, or NaN). [`flag_directed`] redoes the same test.
/// Every element the test leaves has a zero or normal quotient (a zero
/// `x` gives a zero one: `inv` is normal), and the kernel saturates, so
/// the finite-input form ([`DirectedNarrowing::code_finite`], widened by
/// [`DirectedNarrowing::widen_finite`]) serves, as in [`point_lane`].
#[inline(always)]
fn directed_lane<const FAMILY: u8, T: Real>(
    d: &DirectedNarrowing,
    x: T,
    inv: f32,
    tops: &[u32],
    i: usize,
) -> (u32, bool) {
    let x = x.to_f32();
    let q = (x * inv).to_bits();
    let (code, flag) = d.code_finite::<FAMILY>(q, stochastic_top::<FAMILY>(tops, i));
    (code, flag | ((x != 0.0) & Point::not_normal(q)))
}

/// Element `i`'s addend top in stochastic rounding; 0 (no load) otherwise.
#[inline(always)]
fn stochastic_top<const FAMILY: u8>(tops: &[u32], i: usize) -> u32 {
    if FAMILY == family::STOCHASTIC {
        tops[i]
    } else {
        0
    }
}

/// The elements of a block that [`directed_block`] leaves to the engine
/// (its test, redone into `flags` for the rare block that has one).
#[cold]
#[inline(never)]
fn flag_directed<const FAMILY: u8, T: Real>(
    d: &DirectedNarrowing,
    xs: &[T],
    inv: &[f32],
    tops: &[u32],
    flags: &mut [bool],
) {
    for (i, (f, &x)) in flags.iter_mut().zip(xs).enumerate() {
        *f = directed_lane::<FAMILY, T>(d, x, inv[i], tops, i).1;
    }
}

/// The float32 inverses and scales of a block of elements, laid out
/// before the fused loops of [`DirectedBlocks`] and [`PowerGroups`] read
/// them. A trait rather than a closure so that the fill is
/// `#[inline(always)]`, compiled inside the caller's wide build: as a
/// closure LLVM kept it out of line, in baseline SSE2, at about 4.6
/// instructions per element (callgrind, MX fp8 toward zero, 2^20 float32),
/// while the nearest-even loop's inlined fill was off the profile.
trait BlockConsts {
    /// `inv[i]` and `scale[i]`: element `off + i`'s (offsets in the run).
    fn fill(&self, off: usize, inv: &mut [f32], scale: &mut [f32]);
}

/// The constants of a row of groups of `g` elements, the row's first
/// group being `first` (power-of-two scales, [`pow2_inverse32`]).
#[derive(Clone, Copy)]
struct GroupConsts<'a, 'p> {
    p: &'a Params<'p>,
    first: usize,
    g: usize,
}

impl BlockConsts for GroupConsts<'_, '_> {
    #[inline(always)]
    fn fill(&self, off: usize, inv: &mut [f32], scale: &mut [f32]) {
        let (p, first, g) = (self.p, self.first, self.g);
        spread(|q| pow2_inverse32(p.scale[q]), first, g, off, inv);
        spread(|q| p.scale[q] as f32, first, g, off, scale);
    }
}

/// The constants of a run that shares one [`Run`] of them.
#[derive(Clone, Copy)]
struct RunConsts<R>(R);

impl<R: Run> BlockConsts for RunConsts<R> {
    #[inline(always)]
    fn fill(&self, off: usize, inv: &mut [f32], scale: &mut [f32]) {
        let rb = self.0.sub(off, inv.len());
        for (i, (v, s)) in inv.iter_mut().zip(scale.iter_mut()).enumerate() {
            (*v, *s) = (rb.inv(i) as f32, rb.scale(i) as f32);
        }
    }
}

/// `1/s` in float32 for a power of two `s` whose float32 value and
/// inverse are normal (`2^k`, `k` in -126..=126), from the bits: `2^-k`.
#[inline(always)]
fn pow2_inverse32(s: f64) -> f32 {
    let k = (s.to_bits() >> 52) as i32 - 1023;
    f32::from_bits(((127 - k) as u32) << 23)
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

/// What the routes of [`FloatKernel`] need to know of all its scales,
/// gathered in one pass (a million MX scales took four).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ScaleFacts {
    /// Every scale is a positive power of two whose float32 value and
    /// float32 inverse are normal numbers.
    pow2: bool,
    /// Every scale's inverse, rounded to float32, is a normal number.
    inverses_normal32: bool,
    /// Every scale's float64 inverse is a normal number.
    inverses_normal64: bool,
    /// Every scale is a float32 value.
    f32: bool,
}

impl ScaleFacts {
    /// The facts of all `scales`, on every thread (the inverses are
    /// divisions: about 1.5 ms for a million scales on one).
    fn of(scales: &[f64]) -> Self {
        scales
            .par_chunks(CHUNK)
            .map(|c| {
                wide(
                    #[inline(always)]
                    || c.iter().fold(Self::ALL, |a, &s| a.and(Self::one(s))),
                )
            })
            .reduce(|| Self::ALL, Self::and)
    }

    const ALL: Self = ScaleFacts {
        pow2: true,
        inverses_normal32: true,
        inverses_normal64: true,
        f32: true,
    };

    #[inline(always)]
    fn one(s: f64) -> Self {
        let inv = 1.0 / s;
        ScaleFacts {
            pow2: s.to_bits() & ((1u64 << 52) - 1) == 0
                && s.is_finite()
                && s > 0.0
                && (s as f32).is_normal()
                && (1.0 / s as f32).is_normal(),
            inverses_normal32: (inv as f32).is_normal(),
            inverses_normal64: inv.is_normal(),
            f32: s as f32 as f64 == s,
        }
    }

    #[inline(always)]
    fn and(self, o: Self) -> Self {
        ScaleFacts {
            pow2: self.pow2 & o.pow2,
            inverses_normal32: self.inverses_normal32 & o.inverses_normal32,
            inverses_normal64: self.inverses_normal64 & o.inverses_normal64,
            f32: self.f32 & o.f32,
        }
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
        let facts = ScaleFacts::of(scales);
        let fast = Fp32Narrowing::new(elem, &enc);
        let nearest = NearestNarrowing::new(elem, &enc);
        let directed = DirectedNarrowing::new(elem, &enc);
        let key = (o.rounding == RoundingMode::Stochastic).then(|| stream_key(o.seed));
        let interval = if o.rounding == RoundingMode::Stochastic {
            None
        } else {
            Fp64Front::new(elem, &enc)
        };
        let point = Point::new(elem, &enc);
        let stochastic_f64 = o.rounding == RoundingMode::Stochastic && facts.inverses_normal64;
        Ok(FloatKernel {
            elem,
            enc,
            o,
            fast,
            nearest,
            directed,
            key,
            point,
            inverses_normal32: facts.inverses_normal32,
            stochastic_f64,
            scales_f32: facts.f32,
            interval,
            pow2: facts.pow2,
            emit,
            exact: AtomicUsize::new(0),
            lean: AtomicBool::new(false),
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
    quantize_float_traced(x, l, scales, elem, o, out).map(|_| ())
}

/// [`quantize_float`], also saying which route computed the elements.
pub fn quantize_float_traced<T: Real, D: Bits>(
    x: &[T],
    l: &Layout,
    scales: &[f64],
    elem: &FloatFormat,
    o: &FloatQuantOptions,
    out: &mut [D],
) -> Result<FloatTrace, Error> {
    let p = float_params(scales, l)?;
    let k = FloatKernel::new(elem, o, scales, ElemCodes)?;
    drive(x, out, l, &p, &k)?;
    Ok(k.trace::<T>())
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
    fake_quantize_float_traced(x, l, scales, elem, o, out).map(|_| ())
}

/// [`fake_quantize_float`], also saying which route computed the elements.
pub fn fake_quantize_float_traced<T: Real>(
    x: &[T],
    l: &Layout,
    scales: &[f64],
    elem: &FloatFormat,
    o: &FloatQuantOptions,
    out: &mut [T],
) -> Result<FloatTrace, Error> {
    let p = float_params(scales, l)?;
    let table = (0..1u64 << elem.bits())
        .map(|c| value_to_f64(elem.unpack(c)))
        .collect();
    let k = FloatKernel::new(elem, o, scales, ElemDequant(table))?;
    drive(x, out, l, &p, &k)?;
    Ok(k.trace::<T>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::random::draw_keyed;

    /// The inverse from the bits is the division's, over the whole range
    /// of powers of two the route takes.
    #[test]
    fn pow2_inverse32_is_the_division() {
        for k in -126..=126 {
            let s = 2f64.powi(k);
            assert!(ScaleFacts::one(s).pow2, "2^{k}");
            assert_eq!(
                pow2_inverse32(s).to_bits(),
                ((1.0 / s) as f32).to_bits(),
                "2^{k}"
            );
        }
        assert!(!ScaleFacts::one(2f64.powi(127)).pow2);
        assert!(!ScaleFacts::one(2f64.powi(-127)).pow2);
    }

    /// The 32-bit stochastic doubt test flags every element the 64-bit
    /// one flags, and the same ones where the element's ulp is at most 2^31
    /// quotient ulps: over quotients of every exponent, with random
    /// addends and addends whose top bits put the carry within a few ulps.
    #[test]
    fn doubtful_stochastic32_covers_the_64_bit_test() {
        let mut r = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            r ^= r << 13;
            r ^= r >> 7;
            r ^= r << 17;
            r
        };
        let enc = EncodeOptions {
            rounding: RoundingMode::Stochastic,
            ..EncodeOptions::default()
        };
        for name in ["fp8_e4m3fn", "fp8_e5m2", "fp6_e2m3fn", "fp4_e2m1fn", "fp16"] {
            let p = Point::new(&crate::format::float_builtin(name), &enc).unwrap();
            let mut near = 0;
            for k in 0..400_000u64 {
                let w = next();
                let q = (w as u32 & 0x807f_ffff) | ((k % 256) as u32) << 23;
                let sh = p.cut_shift(q & 0x7fff_ffff);
                let addend = if k % 3 == 0 || !(1..=63).contains(&sh) {
                    next()
                } else {
                    // The addend's top `sh` bits put `low + top` at 2^sh + d.
                    let low = ((q & 0x7f_ffff) | 0x80_0000) as u64 & ((1u64 << sh) - 1);
                    // In i128: at `sh` = 63, 2^sh does not fit in an i64.
                    let d = ((w >> 40) % 25) as i128 - 12;
                    let top = ((1i128 << sh) - low as i128 + d).rem_euclid(1 << sh) as u64;
                    (top << (64 - sh)) | (next() >> sh)
                };
                let nz = k % 97 != 0;
                let (wide, narrow) = (
                    p.doubtful_stochastic(nz, q, addend),
                    p.doubtful_stochastic32(nz, q, (addend >> 32) as u32),
                );
                assert!(narrow || !wide, "{name} q={q:#x} addend={addend:#x}");
                if sh <= 31 {
                    assert_eq!(narrow, wide, "{name} q={q:#x} addend={addend:#x}");
                }
                near += wide as usize;
            }
            assert!(near > 10_000, "{name}: {near} flagged");
        }
    }

    /// The running state gives every element its indexed addend, also
    /// where the flat index (and the state with it) wraps past u64::MAX.
    #[test]
    fn block_addends_are_the_indexed_draws_across_the_wrap() {
        for seed in [0, 1, u64::MAX] {
            let key = stream_key(seed);
            for first in [0, 12_345, u64::MAX - 100] {
                let mut addends = [0u64; BLOCK];
                fill_addends(key, first, &mut addends);
                for (i, &a) in addends.iter().enumerate() {
                    let index = first.wrapping_add(i as u64);
                    assert_eq!(a, !draw_keyed(key, index), "seed {seed} index {index}");
                    assert_eq!(a, seeded_addend(seed, index));
                }
            }
        }
    }
}
