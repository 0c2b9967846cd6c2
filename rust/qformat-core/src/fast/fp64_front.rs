//! float64 inputs through the float32 kernel (see [`Fp64Front`]).

use crate::engine::options::{EncodeOptions, NanPolicy, Overflow};
use crate::engine::random::Draws;
use crate::engine::rounding::RoundingMode;
use crate::fast::fp32::{select, select64, Fp32Narrowing};
use crate::fast::words::Bits;
use crate::format::FloatFormat;

/// float64 inputs through the float32 kernel.
///
/// * Profiles that round float64 to float32 first (`via_fp32`: torch,
///   ml_dtypes) get exactly that from the hardware conversion (nearest even,
///   subnormals kept, NaNs quieted with their leading payload: the engine's
///   first step).
/// * Otherwise float64 is first rounded to float32 *to odd*. Rounding to odd
///   with at least two more bits than the target and then rounding to the
///   target gives the same result as rounding once, for nearest, directed
///   and odd modes (Boldo & Melquiond, "Emulation of FMA and correctly
///   rounded sums: proved algorithms using rounding to odd", 2008). float32
///   has those two bits for every target of at most 22 significant bits
///   whose quantum is at least 2^-147. Stochastic rounding needs the whole
///   remainder and numpy-style NaN preservation needs signalling NaNs kept,
///   so those stay on the engine.
#[derive(Clone, Copy, Debug)]
pub struct Fp64Front {
    k: Fp32Narrowing,
    to_odd: bool,
}

/// Elements converted to float32 per step (a stack buffer).
const STEP: usize = 1024;

impl Fp64Front {
    /// The float64 front for `fmt` under `opts`, or None where it does not apply.
    pub fn new(fmt: &FloatFormat, opts: &EncodeOptions) -> Option<Self> {
        // DAZ reads float64 subnormals, and FTZ's tininess belongs to the
        // exact float64 value: both stay on the engine for float64 sources.
        if opts.ftz || opts.daz {
            return None;
        }
        let inner = EncodeOptions {
            via_fp32: false,
            ..*opts
        };
        let k = Fp32Narrowing::new(fmt, &inner)?;
        if opts.via_fp32 {
            return Some(Fp64Front { k, to_odd: false });
        }
        // float32 cannot hold |x| ≥ 2^128: rounding to odd clamps it to
        // float32's max, which a toward-zero mode then keeps inside the range
        // of a target as wide as float32 (bf16, tf32) — right under the
        // format rule and saturation (±max), wrong when overflow='inf'/'nan'.
        let wide = fmt.emax() >= 127;
        let ok = opts.rounding != RoundingMode::Stochastic
            && opts.nan != NanPolicy::Preserve
            && !(wide && matches!(opts.overflow, Overflow::Inf | Overflow::Nan))
            && fmt.man_bits <= 21
            && fmt.emin() - fmt.man_bits as i64 >= -147;
        ok.then_some(Fp64Front { k, to_odd: true })
    }

    /// The float32 kernel behind the front.
    pub fn float32_kernel(&self) -> &Fp32Narrowing {
        &self.k
    }

    /// float64 pattern → float32 pattern, rounded to odd or to nearest even.
    #[inline(always)]
    pub fn narrow_to_f32(&self, x: u64) -> u32 {
        let v = f64::from_bits(x);
        let y = v as f32;
        let yb = y.to_bits();
        let back = y as f64;
        let inexact = self.to_odd && back != v && !v.is_nan();
        // Went away from zero? Step back one (sign-magnitude), then make it odd.
        let t = yb - (inexact && back.abs() > v.abs()) as u32;
        select(inexact, t | 1, yb)
    }

    /// Encode one float64 pattern (any mode but stochastic, which the
    /// front does not take): the scalar form of [`Self::convert_chunk`].
    #[inline(always)]
    pub fn convert(&self, x: u64) -> u32 {
        self.k.convert(self.narrow_to_f32(x), 0)
    }

    /// Encode a chunk of float64 patterns whose first element has flat index `base`.
    pub fn convert_chunk<S: Bits, D: Bits>(
        &self,
        base: usize,
        src: &[S],
        dst: &mut [D],
        draws: &impl Draws,
    ) {
        let mut buf = [0u32; STEP];
        for (i, (s, d)) in src.chunks(STEP).zip(dst.chunks_mut(STEP)).enumerate() {
            for (b, &x) in buf.iter_mut().zip(s) {
                *b = self.narrow_to_f32(x.to_u64());
            }
            self.k
                .convert_chunk(base + i * STEP, &buf[..s.len()], d, draws);
        }
    }

    /// Round a chunk of float64 patterns to the format and back to float64.
    pub fn round_chunk<S: Bits, D: Bits>(
        &self,
        base: usize,
        src: &[S],
        dst: &mut [D],
        draws: &impl Draws,
    ) {
        let mut buf = [0u32; STEP];
        let mut out = [0u32; STEP];
        for (i, (s, d)) in src.chunks(STEP).zip(dst.chunks_mut(STEP)).enumerate() {
            for (b, &x) in buf.iter_mut().zip(s) {
                *b = self.narrow_to_f32(x.to_u64());
            }
            let n = s.len();
            self.k
                .round_chunk(base + i * STEP, &buf[..n], &mut out[..n], draws);
            for (o, &r) in d.iter_mut().zip(&out[..n]) {
                *o = D::from_u64(f32_to_f64_bits(r));
            }
        }
    }
}

/// Exact float32 → float64 widening of a pattern; NaNs are bit-shifted
/// (the hardware conversion would quiet a signalling NaN).
#[inline(always)]
fn f32_to_f64_bits(b: u32) -> u64 {
    let w = b as u64;
    let nan = ((w & 0x8000_0000) << 32) | 0x7ff0_0000_0000_0000 | ((w & 0x7f_ffff) << 29);
    select64(
        b & 0x7fff_ffff > 0x7f80_0000,
        nan,
        (f32::from_bits(b) as f64).to_bits(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::random::seeded_addend;
    use crate::format::{builtins, float_builtin, Format};

    /// float64 inputs: ties, near ties (±1 float64 ulp), random patterns.
    fn f64_inputs(f: &FloatFormat) -> Vec<u64> {
        let fp64 = float_builtin("fp64");
        let keep = EncodeOptions::default();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut v = Vec::new();
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let c = x % f.max_code();
            let a = fp64.encode(f.unpack(c), &keep, 0);
            let b = fp64.encode(f.unpack(c + 1), &keep, 0);
            let mid = ((f64::from_bits(a) + f64::from_bits(b)) / 2.0).to_bits();
            let sign = (x >> 63) << 63;
            for m in [mid, mid + 1, mid - 1, a, a + 1, x] {
                v.push(m | sign);
            }
        }
        v.extend([
            0x7ff0_0000_0000_0001,
            0xfff8_0000_0000_1234,
            0x7ff0_0000_0000_0000,
            0x47ef_ffff_f000_0001,
            0x47f0_0000_0000_0001,
            0xc7f0_0000_0000_0001,
            0x7fef_ffff_ffff_ffff,
            0x1,
            0x3690_0000_0000_0001,
        ]);
        v
    }

    /// The float64 front gives the engine's bits (one rounding from float64,
    /// or through float32 where the profile says so) for encode and round.
    #[test]
    fn fp64_front_equals_the_engine() {
        let fp32 = float_builtin("fp32");
        let fp64 = float_builtin("fp64");
        let back = EncodeOptions {
            nan: NanPolicy::Preserve,
            ..Default::default()
        };
        let mut checked = 0;
        for b in builtins() {
            let Format::Float(f) = b.format else { continue };
            let input = f64_inputs(&f);
            for mode in RoundingMode::ALL {
                for (via_fp32, overflow) in [
                    (false, Overflow::FormatRule),
                    (true, Overflow::FormatRule),
                    (false, Overflow::Saturate),
                    (false, Overflow::Inf),
                    (false, Overflow::Nan),
                ] {
                    let opts = EncodeOptions {
                        rounding: mode,
                        seed: 5,
                        via_fp32,
                        overflow,
                        ..Default::default()
                    };
                    if opts.validate_for(&f).is_err() {
                        continue;
                    }
                    let Some(front) = Fp64Front::new(&f, &opts) else {
                        continue;
                    };
                    checked += 1;
                    let want: Vec<u64> = input
                        .iter()
                        .enumerate()
                        .map(|(i, &x)| {
                            let mut v = fp64.unpack(x);
                            if via_fp32 {
                                v = fp32.round_value(v, &EncodeOptions::nearest_even(), 0);
                            }
                            let r = if mode == RoundingMode::Stochastic {
                                seeded_addend(5, i as u64)
                            } else {
                                0
                            };
                            f.encode(v, &opts, r)
                        })
                        .collect();
                    let mut got = vec![0u64; input.len()];
                    front.convert_chunk(0, &input, &mut got, &opts.seeded());
                    assert_eq!(got, want, "{} {mode:?} via_fp32={via_fp32}", f.name);
                    let want_back: Vec<u64> = want
                        .iter()
                        .map(|&c| fp64.encode(f.unpack(c), &back, 0))
                        .collect();
                    front.round_chunk(0, &input, &mut got, &opts.seeded());
                    assert_eq!(
                        got, want_back,
                        "round {} {mode:?} via_fp32={via_fp32}",
                        f.name
                    );
                }
            }
        }
        assert!(checked >= 9 * 13, "only {checked} configurations");
    }
}
