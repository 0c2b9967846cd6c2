//! The lean float32 → narrow-float loop for nearest-even rounding with the
//! format's own rules (subnormals kept, no FTZ/DAZ): the default options of
//! `encode` and `round`, so the calls most code makes.
//!
//! [`crate::fast::fp32::Fp32Narrowing`] serves every mode and policy with
//! one branch-free body, and pays for that generality on every element
//! (about 70 vector instructions per 16 elements on AVX-512: the mode's
//! increments, FTZ/DAZ, flush and per-sign pattern blends). Under the
//! defaults most of that work computes a value it then throws away, so this
//! kernel keeps only what the defaults need:
//!
//! * normal results: one rounding add on the float32 pattern (half − 1 plus
//!   the kept lsb, with the exponent rebias folded into the constant), then
//!   a shift;
//! * subnormal results: the float add of a power of two whose ulp is the
//!   target's subnormal spacing, so the FPU rounds to nearest even (the
//!   format's subnormals must be float32 normals for that to be exact);
//! * overflow and infinity: one compare against a precomputed pattern,
//!   then the sign is OR-ed in; a NaN (where its result is not the
//!   overflow's) takes one more compare and blend.
//!
//! Eligibility is decided from the layout and from the engine's own special
//! results, never from a name: the engine must give overflow and infinity
//! one positive pattern with the sign bit added, so that a single OR places
//! the sign, and a NaN one pattern per sign (with the payload's leading bits
//! where NaNs are quieted IEEE-style). Whatever does not fit keeps the
//! general kernel. The tests hold this kernel to the engine at every
//! instruction-set level.
//!
//! `round` takes the same steps in float32's own layout: the rounding add
//! clears the cut bits instead of shifting, the subnormal add is undone by a
//! float subtract, and the special patterns are the widened ones, so no code
//! is formed and widened back.

use crate::engine::options::{EncodeOptions, NanPolicy, Overflow};
use crate::engine::rounding::RoundingMode;
use crate::engine::value::Value;
use crate::fast::fp32::{select, Fp32Narrowing};
use crate::fast::simd::wide;
use crate::fast::words::Bits;
use crate::format::{low_mask, FloatFormat, NanEncoding};

const INF: u32 = 0x7f80_0000;

/// `$go!(nan_own, neg_zero)` with the kernel's runtime (NaN blend, −0)
/// variant as literals, so each variant is compiled as its own straight loop.
macro_rules! by_variant {
    ($k:expr, $go:ident) => {
        match ($k.nan_own, $k.neg_zero) {
            (true, true) => $go!(true, true),
            (true, false) => $go!(true, false),
            (false, true) => $go!(false, true),
            (false, false) => $go!(false, false),
        }
    };
}

/// Precomputed constants of one (format, options) pair for the nearest-even
/// loops; see the module docs.
#[derive(Clone, Copy, Debug)]
pub struct NearestNarrowing {
    /// float32 fraction bits below the target's last kept bit.
    shift: u32,
    /// Added to |x|'s pattern before the shift: half − 1 minus the
    /// rebias (127 − bias) moved up to the exponent field, wrapping.
    code_inc: u32,
    /// The add whose ulp is the target's subnormal spacing.
    magic: f32,
    /// |x| patterns below this have subnormal (or zero) results.
    min_normal_bits: u32,
    /// The largest finite code (positive) and its float32 pattern.
    max_code: u32,
    max_bits: u32,
    /// Positive results of a finite overflow (also that of ±inf, checked).
    over_code: u32,
    over_wide: u32,
    /// A NaN's positive result: the base OR-ed with the kept payload bits
    /// (the mask is 0 where NaNs become one pattern).
    nan_code: u32,
    nan_code_payload: u32,
    nan_wide: u32,
    nan_wide_payload: u32,
    /// The sign bit where a negative NaN's result is the positive one with
    /// the sign added, else 0 (one NaN pattern for both signs).
    nan_code_sign: u32,
    nan_wide_sign: u32,
    /// The sign bit's move from float32 (bit 31) to the format's.
    sign_shift: u32,
    /// Whether NaNs need their own blend (false: a NaN's result is the
    /// overflow's, which the overflow compare already gives).
    nan_own: bool,
    /// Whether −0 exists (fnuz formats: a zero result drops the sign).
    neg_zero: bool,
}

impl NearestNarrowing {
    /// The kernel for `fmt` under `opts`, or None where it does not apply:
    /// another rounding mode, FTZ/DAZ, flushed subnormals, input transforms,
    /// a layout whose subnormals are not float32 normals or whose specials do
    /// not take the sign by one OR.
    pub fn new(fmt: &FloatFormat, opts: &EncodeOptions) -> Option<Self> {
        let general = Fp32Narrowing::new(fmt, opts)?;
        let m = fmt.man_bits;
        let defaults = opts.rounding == RoundingMode::NearestEven
            && opts.subnormals
            && !opts.ftz
            && !opts.daz
            && !opts.via_fp32
            && !opts.abs_input;
        // Other-range formats only: their subnormals are float32 normals, so
        // the magic add is exact (bf16 and tf32 have the truncating loop).
        let layout = fmt.signed && fmt.has_zero && m >= 1 && fmt.emin() - m as i64 >= -126;
        if !defaults || !layout {
            return None;
        }
        let shift = 23 - m;
        let sign = fmt.sign_bit() as u32;
        let sign_shift = 31 - (fmt.bits() - 1);
        let rebias = ((127 - fmt.bias) as u32) << 23;
        let code_of = |v: Value| fmt.encode(v, opts, 0) as u32;
        let wide = |c: u32| general.widen(c);
        let huge = |neg| Value::Finite {
            neg,
            sig: 1 << 63,
            exp: fmt.emax() + 2,
            sticky: false,
        };
        let over_code = code_of(huge(false));
        let nan_with = |neg, payload| code_of(Value::Nan { neg, payload });
        let nan = |neg| nan_with(neg, 1 << 63);
        // IEEE NaNs quieted keep their leading payload bits (the payload's
        // top bit is the quiet bit, so `nan(false)` is the base); every other
        // policy must give one pattern whatever the payload (`Preserve` does not).
        let payload = opts.nan == NanPolicy::Quiet && fmt.nan == NanEncoding::Ieee;
        let nan_code_payload = if payload { low_mask(m) as u32 } else { 0 };
        let nan_code = nan(false);
        let one_nan = payload
            || [1, 1 << 62 | 1, u64::MAX]
                .into_iter()
                .all(|p| nan_with(false, p) == nan_code && nan_with(true, p) == nan(true));
        // One OR places the sign: overflow's negative result must be the
        // positive one with the sign bit (fnuz: already in it). A NaN's may
        // also ignore the sign (formats without NaN give 0).
        let signs_ok = [huge(true), Value::Inf { neg: true }]
            .into_iter()
            .all(|v| code_of(v) == over_code | sign)
            && code_of(Value::Inf { neg: false }) == over_code
            && wide(over_code | sign) == wide(over_code) | 0x8000_0000;
        let nan_code_sign = if nan(true) == nan_code { 0 } else { sign };
        let nan_wide_sign = if wide(nan(true)) == wide(nan_code) {
            0
        } else {
            0x8000_0000
        };
        let nan_signs_ok = nan(true) == nan_code | nan_code_sign
            && wide(nan(true)) == wide(nan_code) | nan_wide_sign;
        // Where a NaN's results are the overflow's, the overflow compare
        // (|NaN| lies past the largest code) already gives them.
        let nan_own = payload || nan_code != over_code || nan(true) != over_code | sign;
        let saturating_rule_ok = !matches!(
            opts.overflow,
            Overflow::Wrap | Overflow::Error | Overflow::SaturateFinite
        );
        (signs_ok && nan_signs_ok && one_nan && saturating_rule_ok).then_some(NearestNarrowing {
            shift,
            code_inc: ((1u32 << (shift - 1)) - 1).wrapping_sub(rebias),
            magic: f32::from_bits((((fmt.emin() - m as i64 + 23) + 127) as u32) << 23),
            min_normal_bits: ((fmt.emin() + 127) as u32) << 23,
            max_code: fmt.max_code() as u32,
            max_bits: wide(fmt.max_code() as u32),
            over_code,
            over_wide: wide(over_code),
            nan_code,
            nan_code_payload,
            // Widening keeps a NaN code's payload bits where float32 has them.
            nan_wide: wide(nan_code),
            nan_wide_payload: nan_code_payload << shift,
            nan_code_sign,
            nan_wide_sign,
            sign_shift,
            nan_own,
            neg_zero: fmt.has_negative_zero(),
        })
    }

    /// Convert a chunk of float32 patterns to codes with the widest vector
    /// instructions this CPU has.
    pub fn convert_chunk<S: Bits, D: Bits>(self, src: &[S], dst: &mut [D]) {
        wide(
            #[inline(always)]
            || self.convert_chunk_portable(src, dst),
        )
    }

    /// Round a chunk of float32 patterns to the format and back (`round`).
    pub fn round_chunk<S: Bits, D: Bits>(self, src: &[S], dst: &mut [D]) {
        wide(
            #[inline(always)]
            || self.round_chunk_portable(src, dst),
        )
    }

    /// The conversion loop, compiled for the caller's instruction set.
    #[inline(always)]
    pub fn convert_chunk_portable<S: Bits, D: Bits>(self, src: &[S], dst: &mut [D]) {
        self.chunk_loop::<false, S, D>(src, dst)
    }

    /// The round-trip loop, compiled for the caller's instruction set.
    #[inline(always)]
    pub fn round_chunk_portable<S: Bits, D: Bits>(self, src: &[S], dst: &mut [D]) {
        self.chunk_loop::<true, S, D>(src, dst)
    }

    /// `body.run(element)` with this kernel's (NaN blend, −0) variant fixed
    /// at compile time, so that a caller's own loop around
    /// [`NearestElement::code`] or [`NearestElement::rounded`] is compiled
    /// as one straight loop per variant, as [`Self::convert_chunk_portable`]
    /// is (fusing the conversion into a loop that does more per element).
    #[inline(always)]
    pub fn with_element<B: NearestBody>(self, body: B) -> B::Out {
        macro_rules! go {
            ($nan:literal, $neg0:literal) => {
                body.run(Variant::<$nan, $neg0>(self))
            };
        }
        by_variant!(self, go)
    }

    /// The code of one float32 pattern (the scalar reference of the loops).
    pub fn convert(&self, bits: u32) -> u32 {
        self.scalar::<false>(bits)
    }

    /// One float32 pattern rounded to the format and widened back.
    pub fn round(&self, bits: u32) -> u32 {
        self.scalar::<true>(bits)
    }

    /// One straight loop per (NaN blend, −0) variant, chosen once per
    /// chunk: `ROUND` picks [`Self::rounded`] over [`Self::code`].
    #[inline(always)]
    fn chunk_loop<const ROUND: bool, S: Bits, D: Bits>(self, src: &[S], dst: &mut [D]) {
        macro_rules! run {
            ($nan:literal, $neg0:literal) => {
                for (o, &x) in dst.iter_mut().zip(src) {
                    *o = D::from_u64(self.element::<ROUND, $nan, $neg0>(x.to_u64() as u32) as u64);
                }
            };
        }
        by_variant!(self, run)
    }

    fn scalar<const ROUND: bool>(&self, bits: u32) -> u32 {
        macro_rules! one {
            ($nan:literal, $neg0:literal) => {
                self.element::<ROUND, $nan, $neg0>(bits)
            };
        }
        by_variant!(self, one)
    }

    /// [`Self::rounded`] or [`Self::code`] (`ROUND` is known at compile time).
    #[inline(always)]
    fn element<const ROUND: bool, const NAN_OWN: bool, const NEG_ZERO: bool>(
        &self,
        bits: u32,
    ) -> u32 {
        if ROUND {
            self.rounded::<NAN_OWN, NEG_ZERO>(bits)
        } else {
            self.code::<NAN_OWN, NEG_ZERO>(bits)
        }
    }

    /// The code of one float32 pattern. Every choice is a mask blend, so
    /// the calling loop vectorises. A normal |x| lies in float32's layout
    /// with the target's exponent off by the rebias: adding half − 1 plus
    /// the kept lsb carries into the kept bits exactly when nearest-even
    /// rounds up, and the carry may run into the exponent (the next binade,
    /// or past the largest code: overflow). |x| of ±inf or NaN also lands
    /// past the largest code.
    #[inline(always)]
    fn code<const NAN_OWN: bool, const NEG_ZERO: bool>(&self, bits: u32) -> u32 {
        let abs = bits & 0x7fff_ffff;
        let lsb = (abs >> self.shift) & 1;
        let normal = abs.wrapping_add(self.code_inc).wrapping_add(lsb) >> self.shift;
        let sub = (f32::from_bits(abs) + self.magic)
            .to_bits()
            .wrapping_sub(self.magic.to_bits());
        let code = select(abs < self.min_normal_bits, sub, normal);
        let code = select(code > self.max_code, self.over_code, code);
        let sign = (bits & 0x8000_0000) >> self.sign_shift;
        let kept = if NEG_ZERO {
            sign
        } else {
            select(code == 0, 0, sign)
        };
        let r = code | kept;
        if NAN_OWN {
            let payload = (abs >> self.shift) & self.nan_code_payload;
            let nan = self.nan_code | payload | (sign & self.nan_code_sign);
            select(abs > INF, nan, r)
        } else {
            r
        }
    }

    /// One float32 pattern rounded to the format, in float32's layout (see
    /// [`Self::code`]): clearing the cut bits instead of shifting them out
    /// leaves the rounded float32 value, the subnormal add is undone by an
    /// exact float subtract, and the specials are the widened patterns.
    #[inline(always)]
    fn rounded<const NAN_OWN: bool, const NEG_ZERO: bool>(&self, bits: u32) -> u32 {
        let abs = bits & 0x7fff_ffff;
        let cut = u32::MAX << self.shift;
        let lsb = (abs >> self.shift) & 1;
        let half_less = (1u32 << (self.shift - 1)) - 1;
        let normal = (abs + half_less + lsb) & cut;
        let sub = ((f32::from_bits(abs) + self.magic) - self.magic).to_bits();
        let v = select(abs < self.min_normal_bits, sub, normal);
        let v = select(v > self.max_bits, self.over_wide, v);
        let sign = bits & 0x8000_0000;
        let kept = if NEG_ZERO {
            sign
        } else {
            select(v == 0, 0, sign)
        };
        let r = v | kept;
        if NAN_OWN {
            let payload = abs & self.nan_wide_payload;
            let nan = self.nan_wide | payload | (sign & self.nan_wide_sign);
            select(abs > INF, nan, r)
        } else {
            r
        }
    }
}

/// One element of [`NearestNarrowing`] with its (NaN blend, −0) variant
/// fixed at compile time; see [`NearestNarrowing::with_element`].
pub trait NearestElement: Copy {
    /// The code of one float32 pattern ([`NearestNarrowing::convert`]).
    fn code(&self, bits: u32) -> u32;
    /// The pattern rounded to the format in float32's layout
    /// ([`NearestNarrowing::round`]): the code's exact widening.
    fn rounded(&self, bits: u32) -> u32;
}

/// A loop body generic over the [`NearestElement`] variant it is given.
pub trait NearestBody {
    type Out;
    fn run<V: NearestElement>(self, element: V) -> Self::Out;
}

/// [`NearestNarrowing`] with its variant as const parameters.
#[derive(Clone, Copy)]
struct Variant<const NAN_OWN: bool, const NEG_ZERO: bool>(NearestNarrowing);

impl<const NAN_OWN: bool, const NEG_ZERO: bool> NearestElement for Variant<NAN_OWN, NEG_ZERO> {
    #[inline(always)]
    fn code(&self, bits: u32) -> u32 {
        self.0.code::<NAN_OWN, NEG_ZERO>(bits)
    }

    #[inline(always)]
    fn rounded(&self, bits: u32) -> u32 {
        self.0.rounded::<NAN_OWN, NEG_ZERO>(bits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fast::simd::{at_level, Level};
    use crate::format::{builtins, Format};

    /// Every built-in float the kernel takes under the defaults, by name.
    fn taken() -> Vec<(FloatFormat, NearestNarrowing)> {
        builtins()
            .into_iter()
            .filter_map(|b| match b.format {
                Format::Float(f) => {
                    NearestNarrowing::new(&f, &EncodeOptions::default()).map(|k| (f.clone(), k))
                }
                _ => None,
            })
            .collect()
    }

    /// The general kernel of the same format, under the defaults.
    fn general(f: &FloatFormat) -> Fp32Narrowing {
        Fp32Narrowing::new(f, &EncodeOptions::default()).unwrap()
    }

    #[test]
    fn takes_the_narrow_formats_by_layout() {
        let names: Vec<String> = taken().iter().map(|(f, _)| f.name.clone()).collect();
        for want in [
            "fp8_e4m3fn",
            "fp8_e5m2",
            "fp8_e4m3fnuz",
            "fp8_e5m2fnuz",
            "fp6_e2m3fn",
            "fp6_e3m2fn",
            "fp4_e2m1fn",
            "fp16",
        ] {
            assert!(names.iter().any(|n| n == want), "{want} not in {names:?}");
        }
        for refuse in ["bf16", "tf32", "fp8_e8m0fnu", "fp32"] {
            assert!(!names.iter().any(|n| n == refuse), "{refuse} taken");
        }
    }

    /// Options other than nearest even with the format's rules keep the
    /// general kernel.
    #[test]
    fn other_options_are_refused() {
        let f = crate::format::float_builtin("fp8_e4m3fn");
        let base = EncodeOptions::default();
        for o in [
            EncodeOptions {
                rounding: RoundingMode::TowardZero,
                ..base
            },
            EncodeOptions {
                subnormals: false,
                ..base
            },
            EncodeOptions { ftz: true, ..base },
            EncodeOptions { daz: true, ..base },
            EncodeOptions {
                nan: NanPolicy::Bits(1),
                ..base
            },
        ] {
            assert!(NearestNarrowing::new(&f, &o).is_none(), "{o:?}");
        }
    }

    /// Around every code's value and every midpoint (±4 float32 ulps), and
    /// every exponent with edge fractions: each level's loops equal the
    /// general kernel (itself held to the engine in `fp32.rs`).
    #[test]
    fn loops_equal_the_general_kernel_at_every_level() {
        for (f, k) in taken() {
            let g = general(&f);
            let mut xs: Vec<u32> = Vec::new();
            for c in 0..=(f.max_code() as u32).min(1 << 16) {
                let v = g.widen(c);
                let next = g.widen(c + 1);
                let mid = ((f32::from_bits(v) as f64 + f32::from_bits(next) as f64) / 2.0) as f32;
                for b in [v, mid.to_bits()] {
                    xs.extend((0..9).map(|d| (b + d).wrapping_sub(4)));
                }
            }
            for e in 0..256u32 {
                for fr in [0, 1, 0x40_0000, 0x7f_ffff, 0x3f_ffff, 0x40_0001] {
                    xs.push(e << 23 | fr);
                }
            }
            let both: Vec<u32> = xs.iter().flat_map(|&x| [x, x | 0x8000_0000]).collect();
            let codes: Vec<u32> = both.iter().map(|&x| g.convert(x, 0)).collect();
            let back: Vec<u32> = codes.iter().map(|&c| g.widen(c)).collect();
            let mut got = vec![0u32; both.len()];
            for level in Level::available() {
                at_level(
                    level,
                    #[inline(always)]
                    || k.convert_chunk_portable(&both, &mut got),
                );
                assert_eq!(got, codes, "{} {level:?}", f.name);
                at_level(
                    level,
                    #[inline(always)]
                    || k.round_chunk_portable(&both, &mut got),
                );
                assert_eq!(got, back, "{} round {level:?}", f.name);
            }
        }
    }
}
