//! float32 → float64: the one float conversion that never rounds, as a
//! branch-free bit formula (a fast path, like `fast::fp32`; the
//! conformance tests check it against the engine for every option set).
//!
//! Exactness makes every rounding mode, `subnormals` and FTZ irrelevant (a
//! float32 is never tiny or too large as a float64), so only what reads
//! the input (DAZ) or writes NaNs (the NaN policy) matters — and the
//! overflow rule, which also decides what an infinite input becomes
//! (`"nan"` and `"saturate"` replace it), so those rules take the engine.
//! `qformat verify --against cpu` sweeps `CVTSS2SD` under every MXCSR mode
//! through here.

use crate::engine::options::{EncodeOptions, NanPolicy, Overflow};

/// float32 patterns → float64 patterns under one option set.
#[derive(Clone, Copy, Debug)]
pub struct Fp32ToFp64 {
    daz: bool,
    /// NaNs get the quiet bit (the IEEE default) or keep their bits.
    quiet: bool,
}

impl Fp32ToFp64 {
    /// The widening for `opts`, or None where an option needs the engine
    /// (library input transforms, a NaN policy that picks a pattern).
    pub fn new(opts: &EncodeOptions) -> Option<Self> {
        let plain = !opts.via_fp32
            && !opts.abs_input
            && !opts.zero_to_min
            && !opts.f32_subnormal_ceil
            && !opts.negative_is_nan
            && matches!(
                opts.overflow,
                Overflow::FormatRule | Overflow::Inf | Overflow::SaturateFinite
            );
        let quiet = match opts.nan {
            NanPolicy::Quiet => true,
            NanPolicy::Preserve => false,
            _ => return None,
        };
        plain.then_some(Fp32ToFp64 {
            daz: opts.daz,
            quiet,
        })
    }

    /// One pattern. Subnormals become normals: a significand whose leading
    /// one is bit `p` is `2^(p-149)`, biased exponent `p + 874`.
    #[inline(always)]
    pub fn widen(&self, bits: u32) -> u64 {
        let sign = u64::from(bits >> 31) << 63;
        let exp = u64::from((bits >> 23) & 0xff);
        let man = u64::from(bits & 0x7f_ffff);
        let normal = ((exp + 896) << 52) | (man << 29);
        let p = 63 - u64::from(man.leading_zeros()).min(63);
        let sub = ((p + 874) << 52) | ((man << (52 - p.min(52))) & ((1 << 52) - 1));
        let special = (0x7ff << 52) | (man << 29) | (u64::from(self.quiet && man != 0) << 51);
        let mag = match exp {
            0 if man == 0 || self.daz => 0,
            0 => sub,
            0xff => special,
            _ => normal,
        };
        sign | mag
    }
}
