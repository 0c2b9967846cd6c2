//! The branch-free float32 → narrower-float kernel (and its way back).
//!
//! This is a fast path, not a specification: every pattern it produces is
//! the one `FloatFormat::encode` gives, which the tests check for every
//! eligible format, option set and instruction-set level.
//!
//! * Normal results: integer "add an increment below the cut, then shift".
//!   The increment encodes the rounding mode (half−1+lsb for nearest-even,
//!   half for nearest-away, all-ones toward the chosen infinity, the top
//!   random bits for stochastic), so one loop serves every mode.
//! * Subnormal results of formats with a narrower exponent range than
//!   float32 (fp16, fp8, fp6, fp4): add a power of two whose ulp is the
//!   target's subnormal spacing and let the FPU round to nearest even
//!   (Rust runs with the default rounding mode and no FTZ/DAZ). That trick
//!   only rounds to nearest even, so such formats take this kernel only for
//!   that mode; formats with float32's exponent range (bf16, tf32) need no
//!   subnormal path and take it for every mode.
//! * Specials (NaN, inf, overflow) are mask blends of precomputed patterns.
//!
//! The loops are compiled for AVX-512, AVX2 and the baseline and chosen at
//! run time ([`crate::fast::simd`]); they are the same source, and the tests run
//! each level against the engine.

use crate::engine::options::{EncodeOptions, NanPolicy, Overflow};
use crate::engine::random::Draws;
use crate::engine::rounding::{stochastic_carry, RoundingMode};
use crate::engine::value::Value;
use crate::fast::simd::wide;
use crate::fast::words::Bits;
use crate::format::{low_mask, FloatFormat, NanEncoding};

/// Precomputed constants of one (format, options) pair.
#[derive(Clone, Copy, Debug)]
pub struct Fp32Narrowing {
    pub(super) shift: u32,
    rebias: u32,
    magic: f32,
    min_normal_bits: u32,
    pub(super) max_code: u32,
    pub(super) overflow_code: u32,
    pub(super) nan_base: [u32; 2],
    pub(super) nan_payload_mask: u32,
    pub(super) nan_nonzero_fix: u32,
    pub(super) sign_shift: u32,
    flush_below: u32,
    pub(super) neg_zero: bool,
    // Rounding-mode increments (see the module docs).
    inc_base: u32,
    inc_lsb: u32,
    inc_pos: u32,
    inc_neg: u32,
    odd: u32,
    pub(super) stochastic: bool,
    // float32's exponent range: no subnormal path (bf16, tf32).
    pub(super) same_range: bool,
    // The streaming case of [`Self::convert_truncating`] applies.
    truncating: bool,
    // The quiet bit of a NaN code.
    quiet_bit: u32,
    // Subnormal results in modes other than nearest-even: the exact
    // integer decision of `rounding::round_code`, with a per-element shift.
    exact_sub: bool,
    sub_base: u32,
    away: u32,
    up: u32,
    down: u32,
    pub(super) overflow_finite: [u32; 2],
    // Widening back to float32.
    sign_bit: u32,
    mag_mask: u32,
    sub_below: u32,
    sub_exp_adj: u32,
    ieee_special_from: u32,
    fn_nan_code: u32,
    fnuz_nan_bits: u32,
    // x86 MXCSR emulation (see `convert_with`): DAZ reads |x| below
    // `daz_below` (the float32 subnormals, or nothing) as 0; FTZ flushes a
    // result tiny after rounding.
    daz_below: u32,
    ftz: bool,
    /// Other-range formats: the rounded-at-full-precision `truncated` of the
    /// smallest normal (0 for same-range formats).
    ftz_min_truncated: u32,
    /// Same-range formats: the same for a float32 subnormal doubled into
    /// the binade of 2^-126 (0 for the other formats).
    ftz_min_doubled: u32,
}

impl Fp32Narrowing {
    /// The kernel for `fmt` under `opts`, or None where it does not apply.
    pub fn new(fmt: &FloatFormat, opts: &EncodeOptions) -> Option<Self> {
        let m = fmt.man_bits;
        let same_range = fmt.exp_bits == 8 && fmt.bias == 127 && fmt.has_inf;
        let eligible = !opts.via_fp32
            && !opts.abs_input
            && fmt.signed
            && fmt.has_zero
            && (1..23).contains(&m)
            && fmt.bits() <= 32
            && fmt.emin() >= -126
            && fmt.emax() <= 127
            && (same_range || fmt.emin() - m as i64 >= -126)
            && (fmt.nan == NanEncoding::Ieee || !fmt.has_inf)
            && !matches!(
                opts.overflow,
                Overflow::Wrap | Overflow::Error | Overflow::SaturateFinite
            );
        if !eligible {
            return None;
        }
        let shift = 23 - m;
        let half = 1u32 << (shift - 1);
        let rem = (1u32 << shift) - 1;
        let sign_bit = fmt.sign_bit() as u32;
        // Infinity and every overflow the kernel can produce (away from zero)
        // share one result in every policy.
        let over = |neg: bool| fmt.encode(Value::Inf { neg }, opts, 0) as u32;
        // A finite value beyond the range: toward-zero modes stop at ±max.
        let over_finite = |neg: bool| {
            let huge = Value::Finite {
                neg,
                sig: 1 << 63,
                exp: fmt.emax() + 2,
                sticky: false,
            };
            fmt.encode(huge, opts, 0) as u32
        };
        let (nan_base, nan_payload_mask, nan_nonzero_fix) = match (opts.nan, fmt.nan) {
            (NanPolicy::Quiet, NanEncoding::Ieee) => {
                let q = (fmt.inf_code()? | 1 << (m - 1)) as u32;
                ([q, q | sign_bit], low_mask(m) as u32, 0)
            }
            (NanPolicy::Preserve, NanEncoding::Ieee) => {
                let q = fmt.inf_code()? as u32;
                ([q, q | sign_bit], low_mask(m) as u32, 1)
            }
            _ => {
                let n = |neg| {
                    fmt.encode(
                        Value::Nan {
                            neg,
                            payload: 1 << 63,
                        },
                        opts,
                        0,
                    ) as u32
                };
                ([n(false), n(true)], 0, 0)
            }
        };
        let mode = opts.rounding;
        let none = u32::MAX;
        let k = Fp32Narrowing {
            shift,
            rebias: ((127 - fmt.bias) as u32) << m,
            magic: f32::from_bits((((fmt.emin() - m as i64 + 23) + 127) as u32) << 23),
            min_normal_bits: if same_range {
                0
            } else {
                ((fmt.emin() + 127) as u32) << 23
            },
            max_code: fmt.max_code() as u32,
            overflow_code: over(false),
            nan_base,
            nan_payload_mask,
            nan_nonzero_fix,
            sign_shift: 31 - (fmt.bits() - 1),
            // The engine flushes only results it did not find past the
            // largest code: without exponent bits (every code subnormal) a
            // code can be both, and it overflows.
            flush_below: if opts.subnormals {
                0
            } else {
                (1u32 << m).min(fmt.max_code() as u32 + 1)
            },
            neg_zero: fmt.has_negative_zero(),
            inc_base: match mode {
                RoundingMode::NearestEven => half - 1,
                RoundingMode::NearestAway => half,
                _ => 0,
            },
            inc_lsb: (mode == RoundingMode::NearestEven) as u32,
            inc_pos: if mode == RoundingMode::Up { rem } else { 0 },
            inc_neg: if mode == RoundingMode::Down { rem } else { 0 },
            odd: (mode == RoundingMode::Odd) as u32,
            stochastic: mode == RoundingMode::Stochastic,
            same_range,
            // float32's layout cut short: everything but the mode is the
            // IEEE default (see `convert_truncating`).
            truncating: same_range
                && mode != RoundingMode::Odd
                && opts.nan == NanPolicy::Quiet
                && fmt.nan == NanEncoding::Ieee
                && opts.subnormals
                && fmt.has_negative_zero()
                && matches!(opts.overflow, Overflow::FormatRule | Overflow::Inf)
                && !opts.ftz
                && !opts.daz,
            quiet_bit: 1 << (m - 1),
            exact_sub: mode != RoundingMode::NearestEven && !same_range,
            // code = significand >> (sub_base - biased float32 exponent)
            sub_base: (fmt.emin() - m as i64 + 150) as u32,
            away: (mode == RoundingMode::NearestAway) as u32,
            up: (mode == RoundingMode::Up) as u32,
            down: (mode == RoundingMode::Down) as u32,
            overflow_finite: [over_finite(false), over_finite(true)],
            sign_bit,
            mag_mask: fmt.magnitude_mask() as u32,
            // Same-range formats widen by a shift alone; the others' subnormals
            // are float32 normals: convert the code, then add to its exponent.
            sub_below: if same_range { 0 } else { 1 << m },
            sub_exp_adj: (((fmt.emin() - m as i64) as i32) << 23) as u32,
            ieee_special_from: fmt.inf_code().map_or(none, |c| c as u32),
            fn_nan_code: if fmt.nan == NanEncoding::Fn {
                fmt.magnitude_mask() as u32
            } else {
                none
            },
            fnuz_nan_bits: if fmt.nan == NanEncoding::Fnuz {
                sign_bit
            } else {
                none
            },
            daz_below: if opts.daz { 0x0080_0000 } else { 0 },
            ftz: opts.ftz,
            ftz_min_truncated: if same_range {
                0
            } else {
                (((fmt.emin() + 127) as u32) << 23) >> shift
            },
            ftz_min_doubled: if same_range { 0x0100_0000 >> shift } else { 0 },
        };
        // The overflow pattern must be the positive one with the sign bit added.
        (over(true) == (k.overflow_code | sign_bit)).then_some(k)
    }

    /// Convert a chunk of float32 patterns whose first element has flat
    /// index `base`, with the widest vector instructions this CPU has;
    /// `draws` gives stochastic rounding its random bits.
    pub fn convert_chunk<S: Bits, D: Bits>(
        self,
        base: usize,
        src: &[S],
        dst: &mut [D],
        draws: &impl Draws,
    ) {
        wide(
            #[inline(always)]
            || self.convert_chunk_portable(base, src, dst, draws),
        )
    }

    /// Round a chunk of float32 patterns to the format and back to float32
    /// (`round`), in one pass.
    pub fn round_chunk<S: Bits, D: Bits>(
        self,
        base: usize,
        src: &[S],
        dst: &mut [D],
        draws: &impl Draws,
    ) {
        wide(
            #[inline(always)]
            || self.round_chunk_portable(base, src, dst, draws),
        )
    }

    /// Widen a chunk of the format's patterns to float32 (`decode`).
    pub fn widen_chunk<S: Bits, D: Bits>(self, src: &[S], dst: &mut [D]) {
        wide(
            #[inline(always)]
            || self.widen_chunk_portable(src, dst),
        )
    }

    /// The conversion loop compiled for the baseline instruction set.
    #[inline(always)]
    pub fn convert_chunk_portable<S: Bits, D: Bits>(
        self,
        base: usize,
        src: &[S],
        dst: &mut [D],
        draws: &impl Draws,
    ) {
        self.each::<false, S, D>(base, src, dst, draws);
    }

    /// The round-trip loop compiled for the baseline instruction set.
    #[inline(always)]
    pub fn round_chunk_portable<S: Bits, D: Bits>(
        self,
        base: usize,
        src: &[S],
        dst: &mut [D],
        draws: &impl Draws,
    ) {
        self.each::<true, S, D>(base, src, dst, draws);
    }

    /// `dst[i] = convert(src[i])` (widened back when `BACK`), with the loop specialised for the
    /// loop-invariant choices (stochastic draws, exact subnormal path, a
    /// float32-wide exponent range) so that each specialisation is a
    /// straight vectorisable loop with nothing computed that it throws away.
    #[inline(always)]
    fn each<const BACK: bool, S: Bits, D: Bits>(
        self,
        base: usize,
        src: &[S],
        dst: &mut [D],
        draws: &impl Draws,
    ) {
        macro_rules! run {
            ($exact:literal, $same:literal, $draw:expr) => {
                for (i, (o, &x)) in dst.iter_mut().zip(src).enumerate() {
                    let r = self.convert_with::<$exact, $same>(x.to_u64() as u32, $draw(i));
                    let r = if BACK { self.widen_with::<$same>(r) } else { r };
                    *o = D::from_u64(r as u64);
                }
            };
        }
        let draw_at = |i: usize| draws.addend(base + i);
        macro_rules! truncating {
            ($signed:literal, $draw:expr) => {
                for (i, (o, &x)) in dst.iter_mut().zip(src).enumerate() {
                    let r = self.truncating_with::<$signed>(x.to_u64() as u32, $draw(i));
                    let r = if BACK { r << self.shift } else { r };
                    *o = D::from_u64(r as u64);
                }
            };
        }
        // Only up and down add by the sign; the other modes' loop leaves
        // the sign's blend out (the same sum: both increments are equal).
        let signed = self.inc_neg != self.inc_pos;
        match (self.truncating, self.stochastic, signed) {
            (true, true, _) => return truncating!(true, draw_at),
            (true, false, true) => return truncating!(true, |_| 0u64),
            (true, false, false) => return truncating!(false, |_| 0u64),
            _ => {}
        }
        match (self.stochastic, self.exact_sub, self.same_range) {
            (true, true, _) => run!(true, false, draw_at),
            (true, false, false) => run!(false, false, draw_at),
            (true, false, true) => run!(false, true, draw_at),
            (false, true, _) => run!(true, false, |_| 0u64),
            (false, false, false) => run!(false, false, |_| 0u64),
            (false, false, true) => run!(false, true, |_| 0u64),
        }
    }

    /// The widening loop compiled for the baseline instruction set.
    #[inline(always)]
    pub fn widen_chunk_portable<S: Bits, D: Bits>(self, src: &[S], dst: &mut [D]) {
        macro_rules! run {
            ($same:literal) => {
                for (o, &x) in dst.iter_mut().zip(src) {
                    *o = D::from_u64(self.widen_with::<$same>(x.to_u64() as u32) as u64);
                }
            };
        }
        if self.same_range {
            run!(true)
        } else {
            run!(false)
        }
    }

    /// Convert one float32 pattern; `random` is its stochastic draw (ignored
    /// in the other modes). The scalar reference of the loops: it picks the
    /// subnormal variant of [`Self::convert_with`] at run time, where the
    /// loops fix it at compile time.
    #[inline(always)]
    pub fn convert(&self, bits: u32, random: u64) -> u32 {
        if self.truncating {
            return self.convert_truncating(bits, random);
        }
        match (self.exact_sub, self.same_range) {
            (true, _) => self.convert_with::<true, false>(bits, random),
            (false, false) => self.convert_with::<false, false>(bits, random),
            (false, true) => self.convert_with::<false, true>(bits, random),
        }
    }

    /// Convert one float32 pattern; `random` is the element's stochastic
    /// addend (ignored in the other modes). Every choice is a mask blend, so
    /// the compiler emits no branch and vectorises the calling loop.
    ///
    /// Normal results: the engine rounds away when adding the addend to
    /// `remainder·2^(64−shift)` carries out of 64 bits. The remainder has no bits below
    /// 2^(64−shift), so only the addend's top `shift` bits can take part:
    /// adding them below the cut carries past it exactly then.
    ///
    /// `SAME_RANGE` (only for formats with float32's exponent range, where
    /// the integer path also handles subnormals) leaves out the subnormal path.
    ///
    /// MXCSR: DAZ is an input transform (a float32 subnormal |x| becomes 0
    /// before anything else), FTZ an output rule decided by the same
    /// rounding as the result ([`Self::tiny_after_rounding`]).
    #[inline(always)]
    pub fn convert_with<const EXACT_SUB: bool, const SAME_RANGE: bool>(
        &self,
        bits: u32,
        random: u64,
    ) -> u32 {
        let sign_in = bits & 0x8000_0000;
        let abs = bits ^ sign_in;
        let abs = select(abs < self.daz_below, 0, abs);
        let neg = sign_in != 0;
        let rem_mask = (1u32 << self.shift) - 1;
        let lsb = (abs >> self.shift) & 1;
        let top = (random >> (64 - self.shift)) as u32;
        let random_inc = select(self.stochastic, top, 0);
        // The increment without its round-to-even bit (FTZ reuses it).
        let inc_rest = self.inc_base + select(neg, self.inc_neg, self.inc_pos) + random_inc;
        let inc = inc_rest + (lsb & self.inc_lsb);
        let inexact = (abs & rem_mask != 0) as u32;
        let truncated = ((abs + inc) >> self.shift) | (self.odd & inexact);
        let normal = truncated.wrapping_sub(self.rebias);
        let code = if SAME_RANGE {
            normal
        } else {
            let sub = if EXACT_SUB {
                self.exact_subnormal(abs, neg, random)
            } else {
                (f32::from_bits(abs) + self.magic)
                    .to_bits()
                    .wrapping_sub(self.magic.to_bits())
            };
            select(abs < self.min_normal_bits, sub, normal)
        };
        let code = select(code < self.flush_below, 0, code);
        let code = select(self.tiny_after_rounding(abs, truncated, inc_rest), 0, code);
        let sign = sign_in >> self.sign_shift;
        let keep_sign = select(code != 0 || self.neg_zero, sign, 0);
        let finite = code | keep_sign;
        let over_inf = self.overflow_code | sign;
        let over_finite = select(neg, self.overflow_finite[1], self.overflow_finite[0]);
        let payload = (abs >> self.shift) & self.nan_payload_mask;
        let base = select(neg, self.nan_base[1], self.nan_base[0]);
        let nan = base | payload | (self.nan_nonzero_fix & (payload == 0) as u32);
        let r = select(code > self.max_code, over_finite, finite);
        let r = select(abs >= 0x7f80_0000, over_inf, r);
        select(abs > 0x7f80_0000, nan, r)
    }

    /// MXCSR.FTZ: x86 detects tininess after rounding — |x| rounded to the
    /// target's precision as if the exponent were unbounded is below the
    /// smallest normal. For formats with a narrower range than float32 that
    /// rounding is `truncated` itself (the normal path rounds in float32's
    /// exponent range). For same-range formats (bf16, tf32) only a float32
    /// subnormal can be tiny; doubling it puts it in the binade of 2^-126,
    /// where the normal path's shift rounds it at the target's precision
    /// one binade lower, and only a carry to 2^-125 (2^-126 undoubled)
    /// escapes the flush. When the value is not tiny the result is the
    /// smallest normal, which the subnormal path gives too.
    #[inline(always)]
    fn tiny_after_rounding(&self, abs: u32, truncated: u32, inc_rest: u32) -> bool {
        let doubled = abs.wrapping_shl(1);
        let lsb2 = (doubled >> self.shift) & 1;
        let t2 = doubled.wrapping_add(inc_rest + (lsb2 & self.inc_lsb)) >> self.shift;
        let same_range_tiny = abs < 0x0080_0000 && t2 < self.ftz_min_doubled;
        self.ftz && (same_range_tiny || truncated < self.ftz_min_truncated)
    }

    /// [`Self::convert_with`] for a format that is float32 with its
    /// significand cut short (bf16, tf32) under the IEEE defaults (NaNs
    /// quieted, subnormals kept, overflow to infinity) in any mode but
    /// round-to-odd: adding the increment to the whole pattern and shifting
    /// is the entire conversion. A carry out of the largest finite value
    /// lands on infinity, modes that truncate never leave the range, infinity
    /// stays infinity (its significand is zero), and the sign rides along;
    /// only a NaN needs its own pattern (its top payload bits, made quiet).
    #[inline(always)]
    pub fn convert_truncating(&self, bits: u32, random: u64) -> u32 {
        self.truncating_with::<true>(bits, random)
    }

    /// [`Self::convert_truncating`]; `SIGNED = false` only where the
    /// increments of both signs are equal (every mode but up and down),
    /// which then skips the per-element sign blend.
    #[inline(always)]
    fn truncating_with<const SIGNED: bool>(&self, bits: u32, random: u64) -> u32 {
        let abs = bits & 0x7fff_ffff;
        let lsb = (bits >> self.shift) & 1;
        let top = (random >> (64 - self.shift)) as u32;
        let random_inc = select(self.stochastic, top, 0);
        let by_sign = if SIGNED {
            select(bits != abs, self.inc_neg, self.inc_pos)
        } else {
            self.inc_pos
        };
        let inc = self.inc_base + (lsb & self.inc_lsb) + by_sign + random_inc;
        let rounded = bits.wrapping_add(inc) >> self.shift;
        let nan = (bits >> self.shift) | self.quiet_bit;
        select(abs > 0x7f80_0000, nan, rounded)
    }

    /// Subnormal result code of a finite |x| below the target's smallest
    /// normal, in any mode: the significand is shifted right by an amount
    /// that depends on x's exponent, and the discarded part decides as in
    /// `rounding::round_code` (frac = discarded bits as a 64-bit fraction).
    #[inline(always)]
    fn exact_subnormal(&self, abs: u32, neg: bool, random: u64) -> u32 {
        const HALF: u64 = 1 << 63;
        let e = abs >> 23;
        let x = ((abs & 0x7f_ffff) | select(e == 0, 0, 0x80_0000)) as u64;
        let s = self.sub_base.saturating_sub(e.max(1));
        let q = select64(s >= 64, 0, x.wrapping_shr(s.min(63)));
        let left = x.wrapping_shl(64 - s.clamp(1, 64));
        let right = x.wrapping_shr(s.saturating_sub(64).min(63));
        let frac = select64(s <= 64, left, right);
        let inexact = select(s >= 64, (x != 0) as u32, (frac != 0) as u32);
        let q = q as u32;
        let rne = (frac > HALF || (frac == HALF && q & 1 == 1)) as u32 & self.inc_lsb;
        let away = (frac >= HALF) as u32 & self.away;
        let up = inexact & !neg as u32 & self.up;
        let down = inexact & neg as u32 & self.down;
        let stoch = stochastic_carry(frac, random) as u32 & self.stochastic as u32;
        (q + (rne | away | up | down | stoch)) | (self.odd & inexact)
    }

    /// Widen one pattern of the format to float32 exactly; NaN payloads are
    /// shifted over unchanged (the engine's decode rule).
    #[inline(always)]
    pub fn widen(&self, r: u32) -> u32 {
        if self.same_range {
            self.widen_with::<true>(r)
        } else {
            self.widen_with::<false>(r)
        }
    }

    /// [`Self::widen`] with the subnormal path left out for formats of
    /// float32's exponent range (`SAME_RANGE`), whose codes widen by a shift.
    #[inline(always)]
    pub(super) fn widen_with<const SAME_RANGE: bool>(&self, r: u32) -> u32 {
        let sign = (r & self.sign_bit) << self.sign_shift;
        let code = r & self.mag_mask;
        let m = 23 - self.shift;
        let v = self.finite_magnitude::<SAME_RANGE>(code);
        let payload_nan = 0x7f80_0000 | ((code & ((1 << m) - 1)) << self.shift);
        let v = select(
            code >= self.ieee_special_from || code == self.fn_nan_code,
            payload_nan,
            v,
        );
        let v = select(r == self.fnuz_nan_bits, 0x7fc0_0000, v);
        v | sign
    }

    /// [`Self::widen_with`] of a code that is neither a NaN nor an
    /// infinity (nor fnuz's NaN pattern): the finite value's selects only,
    /// for loops whose codes come from finite inputs under saturation.
    #[inline(always)]
    pub(super) fn widen_finite<const SAME_RANGE: bool>(&self, r: u32) -> u32 {
        let sign = (r & self.sign_bit) << self.sign_shift;
        self.finite_magnitude::<SAME_RANGE>(r & self.mag_mask) | sign
    }

    /// The float32 pattern of the finite magnitude `code` (see [`Self::widen_with`]).
    #[inline(always)]
    fn finite_magnitude<const SAME_RANGE: bool>(&self, code: u32) -> u32 {
        let normal = (code + self.rebias) << self.shift;
        if SAME_RANGE {
            normal
        } else {
            let sub = (code as f32).to_bits().wrapping_add(self.sub_exp_adj);
            let sub = select(code == 0, 0, sub);
            select(code < self.sub_below, sub, normal)
        }
    }
}

/// 64-bit [`select`].
#[inline(always)]
pub(super) fn select64(c: bool, a: u64, b: u64) -> u64 {
    let m = (c as u64).wrapping_neg();
    (a & m) | (b & !m)
}

/// `if c { a } else { b }` as a mask blend (no branch).
#[inline(always)]
pub(super) fn select(c: bool, a: u32, b: u32) -> u32 {
    let m = (c as u32).wrapping_neg();
    (a & m) | (b & !m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fast::simd::at_level;
    use crate::format::{builtins, float_builtin, Format};

    fn inputs() -> Vec<u32> {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        (0..200_000)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                if i % 3 == 0 {
                    (x as u32) & 0xff80_1fff
                } else {
                    x as u32
                }
            })
            .collect()
    }

    fn eligible() -> Vec<(FloatFormat, EncodeOptions, Fp32Narrowing)> {
        let mut v = Vec::new();
        for b in builtins() {
            let Format::Float(f) = b.format else { continue };
            for mode in RoundingMode::ALL {
                // Stochastic rounding with every kind of random-bit count:
                // one bit, fewer and more than the discarded bits, all 64.
                let counts: &[u32] = if mode == RoundingMode::Stochastic {
                    &[64, 1, 3, 8, 13, 16, 29]
                } else {
                    &[64]
                };
                for &sr_bits in counts {
                    let opts = EncodeOptions {
                        rounding: mode,
                        seed: 11,
                        sr_bits,
                        ..Default::default()
                    };
                    if let Some(k) = Fp32Narrowing::new(&f, &opts) {
                        v.push((f.clone(), opts, k));
                    }
                }
            }
        }
        assert!(
            v.len() >= 13 * 9,
            "every sign-and-zero float format of <= 32 bits in all modes"
        );
        v
    }

    /// The compiled versions of every loop give the scalar kernel's bits,
    /// and the scalar kernel gives the engine's.
    #[test]
    fn every_instruction_set_level_agrees_with_the_engine() {
        let input = inputs();
        for (f, opts, k) in eligible() {
            check_kernel(&f, &opts, &k, &input, &opts.seeded());
        }
    }

    /// The caller's own random words (`random_bits=`) with every bit count
    /// take the kernel to the engine's bits too, full-width words included.
    #[test]
    fn caller_random_words_agree_with_the_engine() {
        let input = inputs();
        let mut x = 0x1234_5678_9abc_def1u64;
        let words: Vec<u64> = (0..input.len())
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x
            })
            .collect();
        for (f, opts, k) in eligible() {
            if opts.rounding == RoundingMode::Stochastic {
                let draws = crate::engine::random::Given {
                    words: &words,
                    n: opts.sr_bits,
                };
                check_kernel(&f, &opts, &k, &input, &draws);
            }
        }
    }

    /// Scalar kernel, then every compiled loop, against the engine.
    fn check_kernel(
        f: &FloatFormat,
        opts: &EncodeOptions,
        k: &Fp32Narrowing,
        input: &[u32],
        draws: &impl Draws,
    ) {
        let fp32 = float_builtin("fp32");
        let addend = |i: usize| {
            if opts.rounding == RoundingMode::Stochastic {
                draws.addend(i)
            } else {
                0
            }
        };
        let want: Vec<u32> = input
            .iter()
            .enumerate()
            .map(|(i, &v)| f.encode(fp32.unpack(v as u64), opts, addend(i)) as u32)
            .collect();
        let back: Vec<u32> = want.iter().map(|&c| k.widen(c)).collect();
        let scalar: Vec<u32> = input
            .iter()
            .enumerate()
            .map(|(i, &v)| k.convert(v, addend(i)))
            .collect();
        let what = format!("{} {:?} sr_bits={}", f.name, opts.rounding, opts.sr_bits);
        assert_eq!(scalar, want, "scalar {what}");
        let mut got = vec![0u32; input.len()];
        for level in crate::fast::simd::Level::available() {
            at_level(
                level,
                #[inline(always)]
                || k.convert_chunk_portable(0, input, &mut got, draws),
            );
            assert_eq!(got, want, "{level:?} {what}");
            at_level(
                level,
                #[inline(always)]
                || k.round_chunk_portable(0, input, &mut got, draws),
            );
            assert_eq!(got, back, "{level:?} round {what}");
        }
    }

    /// Widening equals the engine's decode for every pattern of every
    /// eligible format of at most 16 bits.
    #[test]
    fn widen_equals_engine_decode() {
        let fp32 = float_builtin("fp32");
        let keep = EncodeOptions {
            nan: NanPolicy::Preserve,
            ..Default::default()
        };
        for (f, _, k) in eligible() {
            if f.bits() > 16 {
                continue;
            }
            for c in 0..1u64 << f.bits() {
                let want = fp32.encode(f.unpack(c), &keep, 0) as u32;
                assert_eq!(k.widen(c as u32), want, "{} {c:#x}", f.name);
            }
        }
    }
}
