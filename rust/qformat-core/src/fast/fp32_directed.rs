//! The lean float32 → narrow-float loop for the directed modes (toward
//! zero, up, down, nearest away, round to odd) and stochastic rounding,
//! with the format's own rules (subnormals kept, no FTZ/DAZ).
//!
//! [`Fp32Narrowing`] serves these modes too, but for formats narrower in
//! exponent than float32 (fp16, fp8, fp6, fp4) it decides every subnormal
//! result in 64-bit lanes (the discarded bits as a 64-bit fraction) and
//! carries the FTZ/DAZ and flush work of every option set. This loop keeps
//! 32-bit lanes and one formula for normal and subnormal results:
//!
//! * the integer `x` is |x|'s float32 pattern with the exponent rebased so
//!   that the target's smallest-normal binade holds the 24-bit significand
//!   (`x >> shift` is then the code, exponent field included); below that
//!   binade `x` is the significand itself, shifted right by one more place
//!   per binade (`s`, per element), which lands the subnormal code;
//! * the mode's increment below the cut — 0, all ones toward the chosen
//!   infinity, half for nearest away, the top `s` bits of the stochastic
//!   addend — is added before the shift, so a carry runs into the code (and
//!   from the largest subnormal into the smallest normal) by the add;
//! * round to odd ORs the inexact bit into the code.
//!
//! A shift past 31 places discards the whole 24-bit significand, so the
//! directed modes clamp it to 31 and decide exactly. Stochastic rounding
//! carries when `frac + addend` leaves 64 bits (`rounding::stochastic_carry`),
//! with `frac` the discarded bits as a 64-bit fraction: for `s` ≤ 32 `frac`
//! is a multiple of 2^(64−s), so the carry happens exactly when
//! `discarded + top_s(addend)` reaches 2^s, which 32-bit lanes compute for
//! `s` ≤ 31. From `s` = 32 on (|x| below 2^(emin−m−8): 2^-17 for
//! fp8_e4m3fn, 2^-32 for fp16) the code is the carry alone, and the top
//! 32 bits of `frac` and of the addend decide it unless their sum is
//! exactly 2^32 − 1 (then the low halves' carry decides): such an element
//! (about one deep |x| in 2^32 draws) is flagged, and the general kernel's
//! exact path redoes it.
//!
//! Specials (overflow, infinity, NaN, the sign of zero) are the general
//! kernel's patterns, which it takes from the engine. Eligibility follows
//! from the layout and the options, never a name.

use crate::engine::options::EncodeOptions;
use crate::engine::random::Draws;
use crate::engine::rounding::{family, RoundingMode};
use crate::fast::fp32::{select, Fp32Narrowing};
use crate::fast::simd::wide;
use crate::fast::words::Bits;
use crate::format::FloatFormat;

/// Elements per block: the stochastic addends of a block are drawn into a
/// stack array first, and a block with a flagged element is rescanned.
pub const BLOCK: usize = 512;

/// The largest shift the add-and-shift formula takes; past it every
/// significand bit is discarded (see the module docs).
const MAX_SHIFT: u32 = 31;

/// Precomputed constants of one (format, options) pair; see the module docs.
#[derive(Clone, Copy, Debug)]
pub struct DirectedNarrowing {
    /// The general kernel: its special patterns, its widening and, for
    /// flagged elements, its exact conversion.
    general: Fp32Narrowing,
    /// float32 fraction bits below the target's last kept bit.
    shift: u32,
    /// |x| patterns below this have subnormal (or zero) results.
    min_normal_bits: u32,
    /// Subtracted from a normal result's |x| pattern: the float32 pattern
    /// of the binade below the target's smallest normal.
    rebase: u32,
    /// A subnormal result's shift is this minus |x|'s biased exponent
    /// (at least 1).
    sub_base: u32,
    /// All ones in the modes that add all ones below the cut for a
    /// positive / negative |x| (up / down), else 0.
    up: u32,
    down: u32,
    /// All ones in nearest away (adds half), else 0.
    away: u32,
    /// 1 in round to odd (ORs the inexact bit), else 0.
    odd: u32,
}

impl DirectedNarrowing {
    /// The loop for `fmt` under `opts`, or None where it does not apply:
    /// nearest even (its own loop), flushed subnormals, FTZ/DAZ, input
    /// transforms, formats with float32's exponent range (their own
    /// truncating loop), or where the general kernel does not apply.
    pub fn new(fmt: &FloatFormat, opts: &EncodeOptions) -> Option<Self> {
        let general = Fp32Narrowing::new(fmt, opts)?;
        let mode = opts.rounding;
        let own_rules = opts.subnormals && !opts.ftz && !opts.daz;
        if mode == RoundingMode::NearestEven || !own_rules || general.same_range {
            return None;
        }
        let m = fmt.man_bits;
        let all = |on: bool| select(on, u32::MAX, 0);
        Some(DirectedNarrowing {
            general,
            shift: 23 - m,
            min_normal_bits: ((fmt.emin() + 127) as u32) << 23,
            rebase: ((fmt.emin() + 126) as u32) << 23,
            sub_base: (fmt.emin() - m as i64 + 150) as u32,
            up: all(mode == RoundingMode::Up),
            down: all(mode == RoundingMode::Down),
            away: all(mode == RoundingMode::NearestAway),
            odd: (mode == RoundingMode::Odd) as u32,
        })
    }

    /// Whether this loop rounds stochastically (draws addends).
    fn stochastic(&self) -> bool {
        self.general.stochastic
    }

    /// The mode family this loop's mode belongs to ([`family`]).
    pub fn family(&self) -> u8 {
        if self.stochastic() {
            family::STOCHASTIC
        } else if (self.up | self.down | self.away | self.odd) == 0 {
            family::TOWARD_ZERO
        } else {
            family::MASKED
        }
    }

    /// Run `body` with the element form of this loop's mode family, chosen
    /// here once so that the body's loop is compiled for that family alone.
    #[inline(always)]
    pub fn with_family<B: DirectedBody>(self, body: B) -> B::Out {
        match self.family() {
            family::STOCHASTIC => body.run::<{ family::STOCHASTIC }>(self),
            family::TOWARD_ZERO => body.run::<{ family::TOWARD_ZERO }>(self),
            _ => body.run::<{ family::MASKED }>(self),
        }
    }

    /// Widen a code of the format to float32 exactly (the general
    /// kernel's [`Fp32Narrowing::widen`]; this loop's formats are narrower
    /// in exponent than float32).
    #[inline(always)]
    pub fn widen(&self, code: u32) -> u32 {
        self.general.widen_with::<false>(code)
    }

    /// [`Self::widen`] of a code of [`Self::code_finite`], which is never
    /// a NaN or an infinity: the finite value's selects only.
    #[inline(always)]
    pub fn widen_finite(&self, code: u32) -> u32 {
        self.general.widen_finite::<false>(code)
    }

    /// Convert a chunk of float32 patterns whose first element has flat
    /// index `base` to codes, with the widest vector instructions this CPU
    /// has; `draws` gives stochastic rounding its random bits.
    pub fn convert_chunk<S: Bits, D: Bits>(
        self,
        base: usize,
        src: &[S],
        dst: &mut [D],
        draws: &impl Draws,
    ) {
        wide(
            #[inline(always)]
            || self.chunk_portable::<false, S, D>(base, src, dst, draws),
        )
    }

    /// Round a chunk of float32 patterns to the format and back (`round`).
    pub fn round_chunk<S: Bits, D: Bits>(
        self,
        base: usize,
        src: &[S],
        dst: &mut [D],
        draws: &impl Draws,
    ) {
        wide(
            #[inline(always)]
            || self.chunk_portable::<true, S, D>(base, src, dst, draws),
        )
    }

    /// The chunk loop compiled for the caller's instruction set: codes
    /// (widened back when `BACK`), block by block, each flagged element
    /// redone by the general kernel's exact path. The mode family is
    /// chosen once per chunk ([`Self::family`]).
    #[inline(always)]
    pub fn chunk_portable<const BACK: bool, S: Bits, D: Bits>(
        self,
        base: usize,
        src: &[S],
        dst: &mut [D],
        draws: &impl Draws,
    ) {
        match self.family() {
            family::STOCHASTIC => {
                self.blocks::<{ family::STOCHASTIC }, BACK, S, D>(base, src, dst, draws)
            }
            family::TOWARD_ZERO => {
                self.blocks::<{ family::TOWARD_ZERO }, BACK, S, D>(base, src, dst, draws)
            }
            _ => self.blocks::<{ family::MASKED }, BACK, S, D>(base, src, dst, draws),
        }
    }

    /// [`Self::chunk_portable`] for one mode family. Stochastic rounding
    /// draws only the top halves of a block's addends first
    /// ([`Draws::fill_tops`]: all the lean formula reads), so the loop
    /// runs in 32-bit lanes; a flagged element's redo takes its full
    /// addend from the draws again.
    #[inline(always)]
    fn blocks<const FAMILY: u8, const BACK: bool, S: Bits, D: Bits>(
        self,
        base: usize,
        src: &[S],
        dst: &mut [D],
        draws: &impl Draws,
    ) {
        let mut tops = [0u32; BLOCK];
        let blocks = src.chunks(BLOCK).zip(dst.chunks_mut(BLOCK));
        for (b, (s, d)) in blocks.enumerate() {
            let first = base + b * BLOCK;
            let tops = &mut tops[..s.len()];
            if FAMILY == family::STOCHASTIC {
                draws.fill_tops(first, tops);
            }
            if self.block::<FAMILY, BACK, S, D>(s, d, tops) {
                self.redo_flagged::<BACK, S, D>(first, s, d, tops, draws);
            }
        }
    }

    /// One block in one straight loop (`tops`: the addends' top halves,
    /// read in stochastic rounding only); returns whether an element was
    /// flagged ([`Self::code_in`]).
    #[inline(always)]
    fn block<const FAMILY: u8, const BACK: bool, S: Bits, D: Bits>(
        &self,
        src: &[S],
        dst: &mut [D],
        tops: &[u32],
    ) -> bool {
        let mut any = false;
        let mut one = |o: &mut D, x: &S, top: u32| {
            let (r, flag) = self.code_in::<FAMILY>(x.to_u64() as u32, top);
            let r = if BACK { self.widen(r) } else { r };
            any |= flag;
            *o = D::from_u64(r as u64);
        };
        if FAMILY == family::STOCHASTIC {
            for ((o, x), &t) in dst.iter_mut().zip(src).zip(tops) {
                one(o, x, t);
            }
        } else {
            for (o, x) in dst.iter_mut().zip(src) {
                one(o, x, 0);
            }
        }
        any
    }

    /// Redo a block's flagged elements by the general kernel with their
    /// full addends (cold: only stochastic rounding flags, about one deep
    /// |x| in 2^32 draws); the block's first element has index `first`.
    #[cold]
    #[inline(never)]
    fn redo_flagged<const BACK: bool, S: Bits, D: Bits>(
        &self,
        first: usize,
        src: &[S],
        dst: &mut [D],
        tops: &[u32],
        draws: &impl Draws,
    ) {
        let each = dst.iter_mut().zip(src).zip(tops).enumerate();
        for (i, ((o, &x), &top)) in each {
            let bits = x.to_u64() as u32;
            if self.code_in::<{ family::STOCHASTIC }>(bits, top).1 {
                let c = self
                    .general
                    .convert(bits, draws.addend(first.wrapping_add(i)));
                let r = if BACK { self.general.widen(c) } else { c };
                *o = D::from_u64(r as u64);
            }
        }
    }

    /// The code of one float32 pattern (the scalar reference of the loops;
    /// a flagged element is redone by the general kernel).
    pub fn convert(&self, bits: u32, random: u64) -> u32 {
        let (c, flag) = if self.stochastic() {
            self.code::<true>(bits, random)
        } else {
            self.code::<false>(bits, 0)
        };
        if flag {
            self.general.convert(bits, random)
        } else {
            c
        }
    }

    /// The code of one float32 pattern, and whether it must be redone
    /// (stochastic only: see the module docs). Every
    /// choice is a mask blend, so the calling loop vectorises.
    #[inline(always)]
    pub fn code<const STOCHASTIC: bool>(&self, bits: u32, random: u64) -> (u32, bool) {
        let top = (random >> 32) as u32;
        if STOCHASTIC {
            self.code_in::<{ family::STOCHASTIC }>(bits, top)
        } else {
            self.code_in::<{ family::MASKED }>(bits, top)
        }
    }

    /// [`Self::code`] for a loop compiled for one mode `FAMILY` (the
    /// loop's own, [`Self::family`]), with only the top 32 bits `top` of
    /// the stochastic addend: all the lean formula reads of it. A flagged
    /// element needs the full addend, which the caller's redo takes from
    /// the element's index. Toward zero is the masked formula with every
    /// mask zero, so its loop leaves the masks out.
    #[inline(always)]
    pub fn code_in<const FAMILY: u8>(&self, bits: u32, top: u32) -> (u32, bool) {
        self.code_with::<FAMILY, true>(bits, top)
    }

    /// [`Self::code_in`] of a zero or normal float32 pattern `bits`,
    /// without the infinity and NaN selects, which such a pattern never
    /// takes. Under saturation ([`Overflow::Saturate`]) its code is then
    /// finite, so [`Self::widen_finite`] widens it. For a loop whose
    /// other lanes are flagged and redone (the fake-quantize loop flags a
    /// quotient that is not a normal number unless its input is zero).
    ///
    /// [`Overflow::Saturate`]: crate::engine::options::Overflow::Saturate
    #[inline(always)]
    pub fn code_finite<const FAMILY: u8>(&self, bits: u32, top: u32) -> (u32, bool) {
        self.code_with::<FAMILY, false>(bits, top)
    }

    /// [`Self::code_in`], with the infinity and NaN selects when `SPECIALS`.
    #[inline(always)]
    fn code_with<const FAMILY: u8, const SPECIALS: bool>(
        &self,
        bits: u32,
        top: u32,
    ) -> (u32, bool) {
        let g = &self.general;
        let sign_in = bits & 0x8000_0000;
        let abs = bits ^ sign_in;
        let neg = sign_in != 0;
        let e = abs >> 23;
        let sub = abs < self.min_normal_bits;
        let sig = (abs & 0x7f_ffff) | select(e == 0, 0, 0x80_0000);
        let x = select(sub, sig, abs.wrapping_sub(self.rebase));
        // Subnormal results: at least `shift + 1` (saturating: `sub_base`
        // exceeds every subnormal-result exponent).
        let deep = self.sub_base.saturating_sub(e.max(1));
        let s_exact = select(sub, deep, self.shift);
        let s = s_exact.min(MAX_SHIFT);
        let below = (1u32 << s) - 1;
        let inexact = (x & below != 0) as u32;
        let (code, flag) = if FAMILY == family::STOCHASTIC {
            let a_hi = top;
            let near = x.wrapping_add(a_hi >> (32 - s)) >> s;
            // Shifts of 32 or more: the top halves of `frac` and of the
            // addend decide the carry unless they sum to 2^32 − 1.
            let deep = s_exact > MAX_SHIFT;
            let frac_hi = x >> (s_exact.saturating_sub(32)).min(31);
            let sum = a_hi.wrapping_add(frac_hi);
            let undecided = deep & (sum == u32::MAX) & (sig != 0);
            (select(deep, (sum < a_hi) as u32, near), undecided)
        } else if FAMILY == family::TOWARD_ZERO {
            (x >> s, false)
        } else {
            let inc = (below & select(neg, self.down, self.up)) | ((1u32 << (s - 1)) & self.away);
            ((x.wrapping_add(inc) >> s) | (self.odd & inexact), false)
        };
        let sign = sign_in >> g.sign_shift;
        let keep_sign = select(code != 0 || g.neg_zero, sign, 0);
        let over_finite = select(neg, g.overflow_finite[1], g.overflow_finite[0]);
        let r = select(code > g.max_code, over_finite, code | keep_sign);
        if !SPECIALS {
            return (r, flag);
        }
        let payload = (abs >> self.shift) & g.nan_payload_mask;
        let nan_base = select(neg, g.nan_base[1], g.nan_base[0]);
        let nan = nan_base | payload | (g.nan_nonzero_fix & (payload == 0) as u32);
        let r = select(abs >= 0x7f80_0000, g.overflow_code | sign, r);
        (select(abs > 0x7f80_0000, nan, r), flag)
    }
}

/// A loop over elements that [`DirectedNarrowing::with_family`] compiles
/// for one mode family (its `FAMILY`).
pub trait DirectedBody {
    type Out;
    fn run<const FAMILY: u8>(self, d: DirectedNarrowing) -> Self::Out;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::random::Given;
    use crate::fast::simd::{at_level, Level};
    use crate::format::{builtins, float_builtin, Format};

    /// Every built-in float the loop takes, in every mode it takes.
    fn taken() -> Vec<(FloatFormat, EncodeOptions, DirectedNarrowing)> {
        let mut v = Vec::new();
        for b in builtins() {
            let Format::Float(f) = b.format else { continue };
            for rounding in RoundingMode::ALL {
                let opts = EncodeOptions {
                    rounding,
                    seed: 3,
                    ..Default::default()
                };
                if let Some(k) = DirectedNarrowing::new(&f, &opts) {
                    v.push((f.clone(), opts, k));
                }
            }
        }
        v
    }

    #[test]
    fn takes_the_narrow_formats_in_the_other_modes_by_layout() {
        let t = taken();
        for name in [
            "fp8_e4m3fn",
            "fp8_e5m2",
            "fp8_e4m3fnuz",
            "fp16",
            "fp6_e3m2fn",
            "fp4_e2m1fn",
        ] {
            let modes = t.iter().filter(|(f, _, _)| f.name == name).count();
            assert_eq!(modes, 6, "{name}: every mode but nearest even");
        }
        for refuse in ["bf16", "tf32", "fp32"] {
            assert!(
                !t.iter().any(|(f, _, _)| f.name == refuse),
                "{refuse} taken"
            );
        }
        let f = float_builtin("fp8_e4m3fn");
        let tz = EncodeOptions {
            rounding: RoundingMode::TowardZero,
            ..Default::default()
        };
        for o in [
            EncodeOptions::default(),
            EncodeOptions {
                subnormals: false,
                ..tz
            },
            EncodeOptions { ftz: true, ..tz },
            EncodeOptions { daz: true, ..tz },
        ] {
            assert!(DirectedNarrowing::new(&f, &o).is_none(), "{o:?}");
        }
    }

    /// Every code's value and midpoint ±3 ulps, every exponent with edge
    /// fractions, float32 subnormals and specials, and random patterns.
    fn inputs(f: &FloatFormat, k: &DirectedNarrowing) -> Vec<u32> {
        let mut xs = Vec::new();
        for c in 0..=(f.max_code() as u32).min(1 << 16) {
            let v = k.general.widen(c);
            let next = k.general.widen(c + 1);
            let mid = ((f32::from_bits(v) as f64 + f32::from_bits(next) as f64) / 2.0) as f32;
            for b in [v, mid.to_bits()] {
                xs.extend((0..7).map(|d| (b + d).wrapping_sub(3)));
            }
        }
        for e in 0..256u32 {
            for fr in [0, 1, 2, 0x40_0000, 0x7f_ffff, 0x3f_ffff, 0x40_0001] {
                xs.push(e << 23 | fr);
            }
        }
        let mut r = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            r ^= r << 13;
            r ^= r >> 7;
            r ^= r << 17;
            xs.push(r as u32);
        }
        xs.iter().flat_map(|&x| [x, x | 0x8000_0000]).collect()
    }

    /// Codes and round trips at every level equal the engine's, with seeded
    /// draws and with fixed addends (0, all ones, 2^63 and its neighbours).
    #[test]
    fn loops_equal_the_engine_at_every_level() {
        let fp32 = float_builtin("fp32");
        for (f, opts, k) in taken() {
            let xs = inputs(&f, &k);
            let seeded = opts.seeded();
            let mut fixed = vec![vec![]];
            if opts.rounding == RoundingMode::Stochastic {
                fixed = [0, u64::MAX, 1 << 63, (1 << 63) - 1, (1 << 63) + 1]
                    .map(|w| vec![w; xs.len()])
                    .to_vec();
            }
            for words in &fixed {
                let given = Given { words, n: 64 };
                let addend = |i: usize| match opts.rounding {
                    RoundingMode::Stochastic if words.is_empty() => seeded.addend(i),
                    RoundingMode::Stochastic => words[i],
                    _ => 0,
                };
                let want: Vec<u32> = (0..xs.len())
                    .map(|i| f.encode(fp32.unpack(xs[i] as u64), &opts, addend(i)) as u32)
                    .collect();
                let back: Vec<u32> = want.iter().map(|&c| k.general.widen(c)).collect();
                let what = format!("{} {:?} fixed={}", f.name, opts.rounding, !words.is_empty());
                let scalar: Vec<u32> = (0..xs.len()).map(|i| k.convert(xs[i], addend(i))).collect();
                assert_eq!(scalar, want, "scalar {what}");
                for level in Level::available() {
                    let mut got = vec![0u32; xs.len()];
                    let run = |back: bool, got: &mut [u32]| {
                        at_level(level, || match (back, words.is_empty()) {
                            (false, true) => k.chunk_portable::<false, _, _>(0, &xs, got, &seeded),
                            (false, false) => k.chunk_portable::<false, _, _>(0, &xs, got, &given),
                            (true, true) => k.chunk_portable::<true, _, _>(0, &xs, got, &seeded),
                            (true, false) => k.chunk_portable::<true, _, _>(0, &xs, got, &given),
                        })
                    };
                    run(false, &mut got);
                    assert_eq!(got, want, "{level:?} {what}");
                    run(true, &mut got);
                    assert_eq!(got, back, "{level:?} round {what}");
                }
            }
        }
    }

    /// The codes and widened values of `xs` in one mode family, by the
    /// finite-input form or by the full one (the test below compares them).
    struct FiniteOrFull<'a> {
        xs: &'a [u32],
        tops: &'a [u32],
        finite: bool,
    }

    impl DirectedBody for FiniteOrFull<'_> {
        type Out = Vec<(u32, bool)>;
        fn run<const FAMILY: u8>(self, k: DirectedNarrowing) -> Self::Out {
            let each = self.xs.iter().zip(self.tops);
            // Only stochastic rounding reads an addend top.
            let top = |t: u32| if FAMILY == family::STOCHASTIC { t } else { 0 };
            if self.finite {
                each.map(|(&x, &t)| k.code_finite::<FAMILY>(x, top(t)))
                    .map(|(c, g)| (k.widen_finite(c), g))
                    .collect()
            } else {
                each.map(|(&x, &t)| k.code_in::<FAMILY>(x, top(t)))
                    .map(|(c, g)| (k.widen(c), g))
                    .collect()
            }
        }
    }

    /// The finite-input form (code and widening) equals the full one on
    /// every zero or normal input of [`inputs`] (random addend tops, and
    /// the ends), for every format and mode the loop takes, saturating
    /// (the fake-quantize loop's options), at every level.
    #[test]
    fn finite_form_equals_the_full_one_on_normal_inputs() {
        for (f, opts, _) in taken() {
            let sat = EncodeOptions {
                overflow: crate::engine::options::Overflow::Saturate,
                ..opts
            };
            let k = DirectedNarrowing::new(&f, &sat).unwrap();
            let xs: Vec<u32> = inputs(&f, &k)
                .into_iter()
                .filter(|&x| x & 0x7fff_ffff == 0 || f32::from_bits(x).is_normal())
                .collect();
            let tops: Vec<u32> = (0..xs.len() as u32)
                .map(|i| [0, u32::MAX, 1 << 31, i.wrapping_mul(0x9e37_79b9)][i as usize % 4])
                .collect();
            for level in Level::available() {
                let run = |finite: bool| {
                    let body = FiniteOrFull {
                        xs: &xs,
                        tops: &tops,
                        finite,
                    };
                    at_level(level, || k.with_family(body))
                };
                let what = format!("{level:?} {} {:?}", f.name, opts.rounding);
                assert_eq!(run(true), run(false), "{what}");
            }
        }
    }

    /// For sampled |x| with a subnormal or normal result, the addend where
    /// the engine's carry flips (found by bisection on the engine) and its
    /// neighbours give the engine's code.
    #[test]
    fn stochastic_codes_flip_at_the_engines_threshold() {
        let fp32 = float_builtin("fp32");
        for (f, opts, k) in taken() {
            if opts.rounding != RoundingMode::Stochastic {
                continue;
            }
            let engine = |x: u32, a: u64| f.encode(fp32.unpack(x as u64), &opts, a) as u32;
            let mut r = 0x9e37_79b9_7f4a_7c15u64;
            let mut checked = 0;
            for _ in 0..3000 {
                r ^= r << 13;
                r ^= r >> 7;
                r ^= r << 17;
                // Exponents from deep below the subnormals up past the range.
                let e = 90 + (r >> 40) as u32 % 60;
                let x = e << 23 | (r as u32 & 0x7f_ffff) | (r as u32 & 0x8000_0000);
                let (lo, hi) = (engine(x, 0), engine(x, u64::MAX));
                if lo == hi {
                    continue;
                }
                // The least addend that carries.
                let (mut a, mut b) = (0u64, u64::MAX);
                while b - a > 1 {
                    let mid = a + (b - a) / 2;
                    if engine(x, mid) == lo {
                        a = mid;
                    } else {
                        b = mid;
                    }
                }
                for t in [a.saturating_sub(1), a, b, b.saturating_add(1)] {
                    assert_eq!(
                        k.convert(x, t),
                        engine(x, t),
                        "{} x={x:#x} addend={t:#x}",
                        f.name
                    );
                }
                checked += 1;
            }
            assert!(checked > 500, "{}: {checked} thresholds", f.name);
        }
    }
}
