//! The generic float encoder: exact [`Value`] → bit pattern of any
//! [`FloatFormat`] under any [`EncodeOptions`]. This is the specification;
//! every fast path in `crate::fast` is tested equal to it.
//!
//! As in SoftFloat's round-and-pack, the routine that picks the code also
//! raises the flags ([`FloatFormat::encode_outcome`]): overflow is decided
//! once, where the rounded code is compared with the largest finite one,
//! and no caller repeats that decision.

use crate::engine::options::{EncodeOptions, NanPolicy, Overflow};
use crate::engine::rounding::{round_code, split, RoundingMode};
use crate::engine::value::Value;
use crate::format::{low_mask, FloatFormat, NanEncoding};

/// What rounding a value into a format did, beyond the bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub bits: u64,
    /// The stored value equals the input (NaN counts as exact when stored as NaN).
    pub exact: bool,
    /// A finite input whose rounded magnitude exceeds the largest finite value
    /// (rounded with an unbounded exponent range, in the given mode).
    pub overflow: bool,
    /// A non-zero finite input below the smallest normal that was not stored exactly.
    pub underflow: bool,
}

/// A pattern and the flags its rounding raised.
#[derive(Clone, Copy)]
struct Packed {
    bits: u64,
    /// The rounded magnitude exceeds the largest finite value.
    overflow: bool,
    /// The input lies below the smallest normal (tininess before rounding).
    tiny: bool,
}

impl Packed {
    /// A result that raised no flag.
    fn plain(bits: u64) -> Self {
        Packed {
            bits,
            overflow: false,
            tiny: false,
        }
    }
}

impl FloatFormat {
    /// Encode `v` into this format. `random` is the stochastic-rounding draw
    /// for this element (ignored by the other modes). A NaN under a policy
    /// that makes it an error must be rejected by the caller first; here it
    /// yields the canonical NaN (or 0 where the format has none).
    pub fn encode(&self, v: Value, opts: &EncodeOptions, random: u64) -> u64 {
        self.encode_packed(v, opts, random).bits
    }

    /// Encode `v` and report exactness and the IEEE overflow/underflow flags,
    /// the flags being those the rounding itself raised.
    pub fn encode_outcome(&self, v: Value, opts: &EncodeOptions, random: u64) -> Outcome {
        let Packed {
            bits,
            overflow,
            tiny,
        } = self.encode_packed(v, opts, random);
        let stored = self.unpack(bits);
        let exact = match (v, stored) {
            (Value::Nan { .. }, Value::Nan { .. }) => true,
            (Value::Zero { neg: a }, Value::Zero { neg: b }) => a == b || !self.has_negative_zero(),
            (Value::Finite { sticky: true, .. }, _) => false,
            _ => v == stored,
        };
        Outcome {
            bits,
            exact,
            overflow,
            underflow: tiny && !exact,
        }
    }

    /// [`FloatFormat::encode`] with the flags of the rounding.
    fn encode_packed(&self, v: Value, opts: &EncodeOptions, random: u64) -> Packed {
        let v = if opts.abs_input { v.abs() } else { v };
        let bits = match v {
            Value::Nan { neg, payload } => self.encode_nan(neg, payload, opts.nan),
            Value::Inf { neg } => {
                if !self.signed && neg {
                    return Packed::plain(self.nan_or_zero(neg, opts.nan));
                }
                let code = match opts.overflow {
                    Overflow::Saturate => self.max_code(),
                    Overflow::SaturateFinite if self.inf_code().is_none() => self.max_code(),
                    Overflow::Nan => return Packed::plain(self.overflow_nan(neg, opts.nan)),
                    _ => match self.inf_code() {
                        Some(inf) => inf,
                        None if self.nan != NanEncoding::None => {
                            return Packed::plain(self.overflow_nan(neg, opts.nan))
                        }
                        None => self.max_code(),
                    },
                };
                self.pack(neg, code)
            }
            Value::Zero { neg } => {
                if self.has_zero {
                    self.pack(neg, 0)
                } else if opts.zero_to_min {
                    0
                } else {
                    // No zero (e8m0fnu): zero is out of range, like a negative.
                    self.nan_or_zero(neg, opts.nan)
                }
            }
            Value::Finite {
                neg,
                sig,
                exp,
                sticky,
            } => {
                if !self.signed && neg {
                    return self.negative_in_unsigned(sig, exp, sticky, opts, random);
                }
                return self.encode_finite(neg, sig, exp, sticky, opts, random);
            }
        };
        Packed::plain(bits)
    }

    /// Round a finite non-zero magnitude and apply overflow/subnormal rules,
    /// raising the overflow flag where the rounded code passes the largest
    /// finite one (the same comparison that chooses the overflow result).
    fn encode_finite(
        &self,
        neg: bool,
        sig: u64,
        exp: i64,
        sticky: bool,
        opts: &EncodeOptions,
        random: u64,
    ) -> Packed {
        let m = self.man_bits as i64;
        let b = exp + self.bias as i64; // biased exponent of the input
        let min_b = self.min_normal_biased();
        let tiny = b < min_b;
        let flagged = |bits: u64, overflow: bool| Packed {
            bits,
            overflow,
            tiny,
        };
        if b > (self.max_code() >> self.man_bits) as i64 + 1 {
            return flagged(self.overflow(neg, opts), true);
        }
        if opts.f32_subnormal_ceil && !self.has_zero && exp == -127 && (sig << 1 != 0 || sticky) {
            let code = ((self.bias as i64 - 126) as u64) << self.man_bits;
            return flagged(self.pack(neg, code), false);
        }
        if opts.ftz && self.has_zero && b < min_b {
            // x86 detects tininess after rounding: round to the full
            // precision as if the exponent were unbounded; only a carry
            // into the smallest normal escapes the flush.
            let (q, rem) = split(sig, (63 - m) as u64, sticky);
            let r = round_code(q, rem, neg, opts.rounding, random);
            if !(b == min_b - 1 && r >> (m + 1) != 0) {
                return flagged(self.pack(neg, 0), false);
            }
        }
        let code = if b >= min_b {
            let (q, rem) = split(sig, (63 - m) as u64, sticky);
            // ((b - 1) << m) + q == (b << m) | fraction, and stays exact for
            // b == 0 in zero-less formats because q >= 2^m there.
            let t = (((b - 1) << m) + q as i64) as u64;
            round_code(t, rem, neg, opts.rounding, random)
        } else if self.has_zero {
            let shift = (63 - m + (min_b - b)) as u64;
            let (q, rem) = split(sig, shift, sticky);
            round_code(q, rem, neg, opts.rounding, random)
        } else {
            // Below the smallest value of a zero-less format: it is the
            // nearest representable value in every mode.
            return flagged(0, false);
        };
        if code > self.max_code() {
            return flagged(self.overflow(neg, opts), true);
        }
        if code < (1u64 << m) && !opts.subnormals && self.has_zero && code != 0 {
            return flagged(self.pack(neg, 0), false);
        }
        flagged(self.pack(neg, code), false)
    }

    /// Apply the sign, dropping it where the format has no negative zero.
    #[inline]
    pub(crate) fn pack(&self, neg: bool, code: u64) -> u64 {
        if neg && (code != 0 || self.has_negative_zero()) {
            code | self.sign_bit()
        } else {
            code
        }
    }

    /// The result of a finite value too large for the format.
    fn overflow(&self, neg: bool, opts: &EncodeOptions) -> u64 {
        match opts.overflow {
            Overflow::Saturate | Overflow::SaturateFinite => self.pack(neg, self.max_code()),
            Overflow::Nan => self.overflow_nan(neg, opts.nan),
            Overflow::Inf => self.pack(neg, self.inf_code().unwrap_or(self.max_code())),
            _ if opts.rounding.overflows_to_max(neg) => self.pack(neg, self.max_code()),
            _ => match self.inf_code() {
                Some(inf) => self.pack(neg, inf),
                None if self.nan != NanEncoding::None => self.overflow_nan(neg, opts.nan),
                None => self.pack(neg, self.max_code()),
            },
        }
    }

    /// NaN produced by overflow or an invalid operation (not a NaN input):
    /// the default NaN with the value's sign, or the exact bits asked for.
    fn overflow_nan(&self, neg: bool, policy: NanPolicy) -> u64 {
        if let Some(b) = policy.given(neg) {
            return b;
        }
        match policy {
            NanPolicy::Canonical => self.canonical_nan().unwrap_or(0),
            _ => self.signed_nan(neg),
        }
    }

    /// Default NaN carrying `neg` where the format can.
    fn signed_nan(&self, neg: bool) -> u64 {
        match self.canonical_nan() {
            Some(n) if self.nan != NanEncoding::Fnuz && neg => n | self.sign_bit(),
            Some(n) => n,
            None => 0,
        }
    }

    /// Encode a NaN input.
    fn encode_nan(&self, neg: bool, payload: u64, policy: NanPolicy) -> u64 {
        if let Some(b) = policy.given(neg) {
            return b;
        }
        match policy {
            NanPolicy::Canonical | NanPolicy::Error => self.canonical_nan().unwrap_or(0),
            NanPolicy::Quiet | NanPolicy::Preserve => match self.nan {
                NanEncoding::Ieee => {
                    let m = self.man_bits;
                    let kept = (payload >> (64 - m)) & low_mask(m);
                    let forced = if policy == NanPolicy::Quiet {
                        1u64 << (m - 1)
                    } else {
                        (kept == 0) as u64
                    };
                    let mag = self.inf_code().unwrap_or(0) | kept | forced;
                    if neg {
                        mag | self.sign_bit()
                    } else {
                        mag
                    }
                }
                _ => self.signed_nan(neg),
            },
            // SignedCanonical (the given patterns returned above).
            _ => self.signed_nan(neg),
        }
    }

    /// A negative value (or -inf) in an unsigned format: NaN where the format
    /// has one, else 0.
    fn nan_or_zero(&self, neg: bool, policy: NanPolicy) -> u64 {
        if self.nan == NanEncoding::None {
            0
        } else {
            self.overflow_nan(neg, policy)
        }
    }

    /// A negative finite value in an unsigned format: values that round to
    /// zero give +0, the rest are out of range (NaN, or 0 without NaN). The
    /// flags are those of rounding the magnitude.
    fn negative_in_unsigned(
        &self,
        sig: u64,
        exp: i64,
        sticky: bool,
        opts: &EncodeOptions,
        random: u64,
    ) -> Packed {
        let rounded = self.encode_finite(true, sig, exp, sticky, opts, random);
        let bits = if self.has_zero && !opts.negative_is_nan && rounded.bits == 0 {
            0
        } else {
            self.nan_or_zero(true, opts.nan)
        };
        Packed { bits, ..rounded }
    }

    /// Round `v` in this format and return the result as a value (for
    /// composing conversions, e.g. `round` and the f64→f32→X quirk).
    pub fn round_value(&self, v: Value, opts: &EncodeOptions, random: u64) -> Value {
        self.unpack(self.encode(v, opts, random))
    }
}

impl EncodeOptions {
    /// Options for an exact widening or a plain IEEE nearest-even step.
    pub fn nearest_even() -> Self {
        EncodeOptions {
            rounding: RoundingMode::NearestEven,
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{builtins, float_builtin, Format};

    /// The overflow flag against its definition, computed without the
    /// flag's code: the magnitude, rounded in the same mode by a format of
    /// the same precision and float64's exponent range (which no input
    /// here leaves), exceeds the target's largest finite value. Inputs:
    /// quarter-ulp steps around the largest finite value, one float64 ulp
    /// either side of each, and far beyond; both signs; several draws.
    #[test]
    fn overflow_flag_is_the_rounding_past_the_largest_finite() {
        let fp64 = float_builtin("fp64");
        let keep = EncodeOptions::nearest_even();
        let mut checked = 0;
        for b in builtins() {
            let Format::Float(f) = b.format else { continue };
            if f.exp_bits >= 11 {
                continue;
            }
            let wide = FloatFormat {
                exp_bits: 11,
                bias: 1023,
                signed: true,
                has_inf: true,
                nan: NanEncoding::Ieee,
                has_zero: true,
                ..f.clone()
            };
            let max = f.unpack(f.max_code());
            let max_wide = wide.encode(max, &keep, 0);
            let mx = f64::from_bits(fp64.encode(max, &keep, 0));
            let quarter = mx * 2f64.powi(-(f.man_bits as i32)) / 8.0;
            let mut xs = vec![2.0 * mx, 1e300];
            for k in -7..=16 {
                let x = mx + k as f64 * quarter;
                xs.extend([
                    x,
                    f64::from_bits(x.to_bits() + 1),
                    f64::from_bits(x.to_bits() - 1),
                ]);
            }
            for mode in RoundingMode::ALL {
                for overflow in [Overflow::FormatRule, Overflow::Saturate] {
                    let opts = EncodeOptions {
                        rounding: mode,
                        overflow,
                        ..Default::default()
                    };
                    for random in [0, 1 << 63, u64::MAX] {
                        for &x in &xs {
                            for v in [Value::from_f64(x), Value::from_f64(-x)] {
                                let rounded = wide.encode(v, &opts, random) & !wide.sign_bit();
                                let want = rounded > max_wide;
                                let got = f.encode_outcome(v, &opts, random);
                                assert_eq!(got.overflow, want, "{} {x} {mode:?}", f.name);
                                assert_eq!(got.bits, f.encode(v, &opts, random));
                                checked += 1;
                            }
                        }
                    }
                }
            }
        }
        assert!(checked > 10_000, "{checked}");
    }
}
