//! The generic float encoder: exact [`Value`] → bit pattern of any
//! [`FloatFormat`] under any [`EncodeOptions`]. This is the specification;
//! every fast path in `crate::fast` is tested equal to it.

use crate::engine::options::{EncodeOptions, NanPolicy, Overflow};
use crate::engine::rounding::{round_code, split, RoundingMode};
use crate::engine::value::Value;
use crate::format::{low_mask, FloatFormat, NanEncoding};

impl FloatFormat {
    /// Encode `v` into this format. `random` is the stochastic-rounding draw
    /// for this element (ignored by the other modes). A NaN under a policy
    /// that makes it an error must be rejected by the caller first; here it
    /// yields the canonical NaN (or 0 where the format has none).
    pub fn encode(&self, v: Value, opts: &EncodeOptions, random: u64) -> u64 {
        let v = if opts.abs_input { v.abs() } else { v };
        match v {
            Value::Nan { neg, payload } => self.encode_nan(neg, payload, opts.nan),
            Value::Inf { neg } => {
                if !self.signed && neg {
                    return self.nan_or_zero(neg, opts.nan);
                }
                let code = match opts.overflow {
                    Overflow::Saturate => self.max_code(),
                    Overflow::SaturateFinite if self.inf_code().is_none() => self.max_code(),
                    Overflow::Nan => return self.overflow_nan(neg, opts.nan),
                    _ => match self.inf_code() {
                        Some(inf) => inf,
                        None if self.nan != NanEncoding::None => {
                            return self.overflow_nan(neg, opts.nan)
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
                self.encode_finite(neg, sig, exp, sticky, opts, random)
            }
        }
    }

    /// Round a finite non-zero magnitude and apply overflow/subnormal rules.
    fn encode_finite(
        &self,
        neg: bool,
        sig: u64,
        exp: i64,
        sticky: bool,
        opts: &EncodeOptions,
        random: u64,
    ) -> u64 {
        let m = self.man_bits as i64;
        let b = exp + self.bias as i64; // biased exponent of the input
        let min_b = self.min_normal_biased();
        if b > (self.max_code() >> self.man_bits) as i64 + 1 {
            return self.overflow(neg, opts);
        }
        if opts.f32_subnormal_ceil && !self.has_zero && exp == -127 && (sig << 1 != 0 || sticky) {
            return self.pack(neg, ((self.bias as i64 - 126) as u64) << self.man_bits);
        }
        if opts.ftz && self.has_zero && b < min_b {
            // x86 detects tininess after rounding: round to the full
            // precision as if the exponent were unbounded; only a carry
            // into the smallest normal escapes the flush.
            let (q, rem) = split(sig, (63 - m) as u64, sticky);
            let r = round_code(q, rem, neg, opts.rounding, random);
            if !(b == min_b - 1 && r >> (m + 1) != 0) {
                return self.pack(neg, 0);
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
            return 0;
        };
        if code > self.max_code() {
            return self.overflow(neg, opts);
        }
        if code < (1u64 << m) && !opts.subnormals && self.has_zero && code != 0 {
            return self.pack(neg, 0);
        }
        self.pack(neg, code)
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
        match policy {
            NanPolicy::Bits(b) => b,
            NanPolicy::PerSign { pos, neg: n } => {
                if neg {
                    n
                } else {
                    pos
                }
            }
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
        match policy {
            NanPolicy::Bits(b) => b,
            NanPolicy::PerSign { pos, neg: n } => {
                if neg {
                    n
                } else {
                    pos
                }
            }
            NanPolicy::Canonical | NanPolicy::Error => self.canonical_nan().unwrap_or(0),
            NanPolicy::SignedCanonical => self.signed_nan(neg),
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
    /// zero give +0, the rest are out of range (NaN, or 0 without NaN).
    fn negative_in_unsigned(
        &self,
        sig: u64,
        exp: i64,
        sticky: bool,
        opts: &EncodeOptions,
        random: u64,
    ) -> u64 {
        if self.has_zero
            && !opts.negative_is_nan
            && self.encode_finite(true, sig, exp, sticky, opts, random) == 0
        {
            0
        } else {
            self.nan_or_zero(true, opts.nan)
        }
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
