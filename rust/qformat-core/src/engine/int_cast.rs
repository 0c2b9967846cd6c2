//! Exact values → integer formats (int4 … int64, uint4 … uint64).
//!
//! Rounding to an integer is the float rounding with the binary point at
//! bit 0: [`round_to_integer`] splits the significand of the exact
//! [`Value`] there and asks the shared [`round_code`] which neighbour wins,
//! so integer and float targets cannot disagree about a tie. What happens
//! beyond the range (saturate / wrap / error) and to NaN is policy, applied
//! afterwards; library quirks (torch's cast through int32) are a small rule
//! ([`IntOverflow::Through`]) kept apart from the rounding.

use crate::engine::random::seeded_addend;
use crate::engine::rounding::{round_code, split, Remainder, RoundingMode};
use crate::engine::value::Value;
use crate::error::Error;
use crate::format::IntFormat;

/// An exactly rounded integer: sign and magnitude, where magnitudes of 2^64
/// and more keep only their value modulo 2^64 (`huge` set), which is all
/// that wrapping needs and enough to know the value is out of range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoundedInt {
    pub neg: bool,
    pub mag: u128,
    pub huge: bool,
}

impl RoundedInt {
    /// The value modulo 2^64 as two's-complement bits.
    #[inline]
    pub fn low64(&self) -> u64 {
        let m = self.mag as u64;
        if self.neg {
            m.wrapping_neg()
        } else {
            m
        }
    }

    /// The exact value, when it fits in an `i128` (always, unless `huge`).
    #[inline]
    pub fn as_i128(&self) -> Option<i128> {
        if self.huge {
            return None;
        }
        let m = self.mag as i128;
        Some(if self.neg { -m } else { m })
    }
}

/// Round a finite magnitude `sig/2^63 * 2^exp` to an integer. `random`
/// feeds stochastic rounding. Sticky bits beyond 2^64 are ignored (such
/// values are out of every integer format's range anyway).
#[inline]
pub fn round_to_integer(
    neg: bool,
    sig: u64,
    exp: i64,
    sticky: bool,
    mode: RoundingMode,
    random: u64,
) -> RoundedInt {
    if exp < 63 {
        // shift >= 1, so the kept part is below 2^63 and the increment cannot overflow.
        let (t, rem) = split(sig, (63 - exp) as u64, sticky);
        return RoundedInt {
            neg,
            mag: round_code(t, rem, neg, mode, random) as u128,
            huge: false,
        };
    }
    if exp == 63 {
        // Kept part is the whole significand: round on its parity bit only,
        // so that `t + 1` cannot overflow u64.
        let rem = Remainder { frac: 0, sticky };
        let low = round_code(sig & 1, rem, neg, mode, random) as u128;
        return RoundedInt {
            neg,
            mag: (sig & !1) as u128 + low,
            huge: false,
        };
    }
    let s = (exp - 63) as u32;
    // Only the value modulo 2^64 matters from here on (wrap); for shifts of
    // 64 and more that is 0.
    let mag = if s >= 64 { 0 } else { (sig as u128) << s };
    RoundedInt {
        neg,
        mag,
        huge: true,
    }
}

/// What an out-of-range result becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntOverflow {
    /// Clamp to [min, max] (±inf included).
    Saturate,
    /// Two's complement modulo 2^bits of the exact rounded integer.
    Wrap,
    /// Report [`Error::Overflow`].
    Error,
    /// The x86 / C cast quirk: convert to a signed `bits`-bit integer first
    /// (anything outside it, NaN and ±inf become its minimum), then keep the
    /// target's low bits. torch and NumPy cast float → int8/16/32 through
    /// int32 and → int64 through int64 this way (docs/verification/findings.md §1.9).
    Through { bits: u32 },
    /// Every out-of-range value (±inf included) becomes 0: ml_dtypes ≥ 0.7
    /// for its sub-byte integer types.
    Zero,
}

/// What a NaN becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntNan {
    Error,
    /// This integer (it must be in the format's range).
    Value(i64),
    /// Follow [`IntOverflow::Through`]'s rule (NaN is the intermediate minimum).
    Through,
}

/// Everything an integer conversion needs besides the format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IntCastOptions {
    pub rounding: RoundingMode,
    pub overflow: IntOverflow,
    pub nan: IntNan,
    pub seed: u64,
    /// x86 MXCSR.DAZ for float sources (CVTSS2SI and friends honour it): a
    /// subnormal input reads as ±0 before rounding, so `rounding="up"`
    /// turns the smallest positive subnormal into 0 instead of 1.
    pub daz: bool,
}

impl Default for IntCastOptions {
    fn default() -> Self {
        Self {
            rounding: RoundingMode::NearestEven,
            overflow: IntOverflow::Saturate,
            nan: IntNan::Error,
            seed: 0,
            daz: false,
        }
    }
}

impl IntCastOptions {
    /// The C-cast rule of torch and NumPy on CPU for `fmt` (truncation,
    /// then the trip through a wider signed integer): targets narrower than
    /// 32 bits and int32 go through int32, 64-bit targets through int64.
    /// torch sends uint8 through int64 instead (`uint8_via_int64`; float64
    /// sources show it: -2999999883.0 → 117, the low byte of the int64),
    /// NumPy through int32 like the others (→ 0).
    pub fn c_cast(fmt: &IntFormat, uint8_via_int64: bool) -> Self {
        let bits = match (fmt.bits, fmt.signed) {
            (8, false) if uint8_via_int64 => 64,
            (b, s) if b < 32 || (b == 32 && s) => 32,
            _ => 64,
        };
        Self {
            rounding: RoundingMode::TowardZero,
            overflow: IntOverflow::Through { bits },
            nan: IntNan::Through,
            seed: 0,
            daz: false,
        }
    }

    /// Check the options against the format.
    pub fn validate_for(&self, fmt: &IntFormat) -> Result<(), Error> {
        if let IntNan::Value(v) = self.nan {
            if (v as i128) < fmt.min() || (v as i128) > fmt.max() {
                return Err(Error::invalid(format!(
                    "nan={v} is outside the range [{}, {}] of {}",
                    fmt.min(),
                    fmt.max(),
                    fmt.name
                )));
            }
        }
        if matches!(self.nan, IntNan::Through)
            && !matches!(self.overflow, IntOverflow::Through { .. })
        {
            return Err(Error::invalid(
                "internal: nan rule 'through' needs overflow rule 'through'",
            ));
        }
        Ok(())
    }
}

/// Keep the low `bits` bits of `x`, sign-extended for signed formats.
#[inline]
fn wrap_bits(x: u64, fmt: &IntFormat) -> i128 {
    let b = fmt.bits;
    if b == 64 {
        return if fmt.signed {
            x as i64 as i128
        } else {
            x as i128
        };
    }
    let low = x & ((1u64 << b) - 1);
    if fmt.signed && low >> (b - 1) == 1 {
        low as i128 - (1i128 << b)
    } else {
        low as i128
    }
}

/// The signed `bits`-bit minimum, as two's-complement bits.
#[inline]
pub(crate) fn through_sentinel(bits: u32) -> u64 {
    (1u64 << (bits - 1)).wrapping_neg()
}

/// Convert one exact value. `index` is the element's flat position (for
/// error messages and the stochastic draw).
pub fn cast_value(
    v: Value,
    fmt: &IntFormat,
    opts: &IntCastOptions,
    index: usize,
) -> Result<i128, Error> {
    let random = if opts.rounding == RoundingMode::Stochastic {
        seeded_addend(opts.seed, index as u64)
    } else {
        0
    };
    let r = match v {
        Value::Nan { .. } => {
            return match opts.nan {
                IntNan::Error => Err(Error::NanInput { index }),
                IntNan::Value(x) => Ok(x as i128),
                IntNan::Through => match opts.overflow {
                    IntOverflow::Through { bits } => Ok(wrap_bits(through_sentinel(bits), fmt)),
                    _ => Err(Error::NanInput { index }),
                },
            }
        }
        Value::Inf { neg } => return inf_result(neg, fmt, opts, index),
        Value::Zero { .. } => return Ok(0),
        Value::Finite {
            neg,
            sig,
            exp,
            sticky,
        } => round_to_integer(neg, sig, exp, sticky, opts.rounding, random),
    };
    apply_range(r, fmt, opts, index)
}

/// ±inf under each overflow policy.
fn inf_result(
    neg: bool,
    fmt: &IntFormat,
    opts: &IntCastOptions,
    index: usize,
) -> Result<i128, Error> {
    match opts.overflow {
        IntOverflow::Saturate => Ok(if neg { fmt.min() } else { fmt.max() }),
        IntOverflow::Error => Err(Error::Overflow { index }),
        IntOverflow::Through { bits } => Ok(wrap_bits(through_sentinel(bits), fmt)),
        IntOverflow::Zero => Ok(0),
        IntOverflow::Wrap => Err(Error::invalid(format!(
            "{}inf at flat index {index} has no value modulo 2^{} (overflow='wrap'); \
             use overflow='saturate' or remove infinities",
            if neg { "-" } else { "+" },
            fmt.bits
        ))),
    }
}

/// Range policy for an exactly rounded integer.
#[inline]
fn apply_range(
    r: RoundedInt,
    fmt: &IntFormat,
    opts: &IntCastOptions,
    index: usize,
) -> Result<i128, Error> {
    let exact = r.as_i128();
    if let Some(x) = exact {
        if x >= fmt.min() && x <= fmt.max() {
            return Ok(x);
        }
    }
    match opts.overflow {
        IntOverflow::Saturate => Ok(if r.neg { fmt.min() } else { fmt.max() }),
        IntOverflow::Wrap => Ok(wrap_bits(r.low64(), fmt)),
        IntOverflow::Error => Err(Error::Overflow { index }),
        IntOverflow::Zero => Ok(0),
        IntOverflow::Through { bits } => {
            let lim = 1i128 << (bits - 1);
            let mid = match exact {
                Some(x) if x >= -lim && x < lim => x as u64,
                _ => through_sentinel(bits),
            };
            Ok(wrap_bits(mid, fmt))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(bits: u32, signed: bool) -> IntFormat {
        IntFormat::new(None, bits, signed).unwrap()
    }

    fn cast(x: f64, f: &IntFormat, o: &IntCastOptions) -> Result<i128, Error> {
        cast_value(Value::from_f64(x), f, o, 0)
    }

    #[test]
    fn rounding_modes() {
        let f = int(8, true);
        let mut o = IntCastOptions::default();
        assert_eq!(cast(2.5, &f, &o), Ok(2));
        assert_eq!(cast(3.5, &f, &o), Ok(4));
        assert_eq!(cast(-2.5, &f, &o), Ok(-2));
        o.rounding = RoundingMode::NearestAway;
        assert_eq!(cast(-2.5, &f, &o), Ok(-3));
        o.rounding = RoundingMode::Down;
        assert_eq!(cast(-2.1, &f, &o), Ok(-3));
        o.rounding = RoundingMode::Up;
        assert_eq!(cast(2.1, &f, &o), Ok(3));
        assert_eq!(cast(1e-300, &f, &o), Ok(1));
        o.rounding = RoundingMode::Odd;
        assert_eq!(cast(2.1, &f, &o), Ok(3));
        assert_eq!(cast(2.0, &f, &o), Ok(2));
    }

    #[test]
    fn overflow_policies() {
        let f = int(8, true);
        let mut o = IntCastOptions::default();
        assert_eq!(cast(300.0, &f, &o), Ok(127));
        assert_eq!(cast(-1e300, &f, &o), Ok(-128));
        assert_eq!(cast(f64::NEG_INFINITY, &f, &o), Ok(-128));
        o.overflow = IntOverflow::Wrap;
        assert_eq!(cast(300.0, &f, &o), Ok(44));
        assert_eq!(cast(-129.0, &f, &o), Ok(127));
        assert_eq!(cast(2f64.powi(70) + 2f64.powi(20), &f, &o), Ok(0));
        assert_eq!(
            cast(2f64.powi(63), &int(64, true), &o),
            Ok(i64::MIN as i128)
        );
        assert_eq!(cast(255.6, &int(8, false), &o), Ok(0));
        o.overflow = IntOverflow::Error;
        assert_eq!(cast(128.0, &f, &o), Err(Error::Overflow { index: 0 }));
        assert_eq!(cast(f64::NAN, &f, &o), Err(Error::NanInput { index: 0 }));
        o.nan = IntNan::Value(-1);
        assert_eq!(cast(f64::NAN, &f, &o), Ok(-1));
    }

    #[test]
    fn torch_rule_matches_findings() {
        let o8 = IntCastOptions::c_cast(&int(8, true), true);
        let u8f = int(8, false);
        let ou8 = IntCastOptions::c_cast(&u8f, true);
        for (x, i8v, u8v) in [
            (2.7, 2, 2),
            (-2.7, -2, 254),
            (200.0, -56, 200),
            (-129.0, 127, 127),
            (70000.0, 112, 112),
            (1e10, 0, 0),
            (-2999999883.0, 0, 117),
            (f64::NAN, 0, 0),
            (f64::INFINITY, 0, 0),
        ] {
            assert_eq!(cast(x, &int(8, true), &o8), Ok(i8v), "{x}");
            assert_eq!(cast(x, &u8f, &ou8), Ok(u8v), "{x}");
        }
        let i32f = int(32, true);
        assert_eq!(
            cast(1e10, &i32f, &IntCastOptions::c_cast(&i32f, true)),
            Ok(i32::MIN as i128)
        );
        let i64f = int(64, true);
        assert_eq!(
            cast(1e19, &i64f, &IntCastOptions::c_cast(&i64f, true)),
            Ok(i64::MIN as i128)
        );
        assert_eq!(
            cast(
                -32769.0,
                &int(16, true),
                &IntCastOptions::c_cast(&int(16, true), true)
            ),
            Ok(32767)
        );
    }

    #[test]
    fn exp63_and_beyond() {
        let f = int(64, false);
        let o = IntCastOptions::default();
        assert_eq!(cast(2f64.powi(63), &f, &o), Ok(1i128 << 63));
        assert_eq!(cast(2f64.powi(64), &f, &o), Ok(u64::MAX as i128));
        let r = round_to_integer(false, u64::MAX, 63, true, RoundingMode::Up, 0);
        assert_eq!(r.mag, 1u128 << 64);
    }
}
