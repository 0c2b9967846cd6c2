//! Conversion options: the policies for rounding, subnormals, overflow and
//! NaN. Profiles (see `profile.rs`) are nothing but bundles of these.

use crate::engine::rounding::RoundingMode;
use crate::error::Error;
use crate::format::{FloatFormat, NanEncoding};

/// What happens to a finite value beyond the largest finite one (and to ±inf).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Overflow {
    /// The format's rule: ±inf where it has them, else NaN, else ±max.
    /// Directed modes that round toward zero still give ±max (IEEE 754 §7.4).
    FormatRule,
    /// Overflow gives ±inf (P3109's OvfInf).
    Inf,
    /// ±max for finite values and infinities alike (P3109's SatFinite).
    Saturate,
    /// ±max for finite values; infinities stay infinite (P3109's SatPropagate).
    SaturateFinite,
    Nan,
    /// Integer targets: two's complement modulo 2^bits.
    Wrap,
    /// Integer targets: report an error.
    Error,
}

impl Overflow {
    /// Parse the API's spelling; `None` in Python is [`Overflow::FormatRule`].
    pub fn parse(s: &str) -> Result<Self, Error> {
        Ok(match s {
            "format" | "default" => Self::FormatRule,
            "inf" | "ovf_inf" => Self::Inf,
            "saturate" | "clamp" | "sat_finite" => Self::Saturate,
            "sat_propagate" => Self::SaturateFinite,
            "nan" => Self::Nan,
            "wrap" => Self::Wrap,
            "error" => Self::Error,
            _ => {
                return Err(Error::invalid(format!(
                    "unknown overflow policy {s:?}; choose None, 'inf', 'saturate', 'nan', \
                     'sat_finite', 'sat_propagate', 'ovf_inf' (floats) or 'saturate', 'wrap', \
                     'error' (integers)"
                )))
            }
        })
    }
}

/// What a NaN input becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NanPolicy {
    /// Quiet it, keeping the sign and the leading payload bits (IEEE 754 §6.2.3).
    Quiet,
    /// The format's positive default NaN.
    Canonical,
    /// The default NaN with the input's sign.
    SignedCanonical,
    /// Keep the sign and the leading payload bits without forcing the quiet
    /// bit (a plain bit shift, as numpy does); a payload that truncates to
    /// zero keeps its lowest bit set so the result is still a NaN.
    Preserve,
    /// Exactly this bit pattern.
    Bits(u64),
    /// One exact pattern for positive NaNs and one for negative NaNs.
    PerSign { pos: u64, neg: u64 },
    /// A NaN is an error.
    Error,
}

impl NanPolicy {
    /// The exact pattern the caller gave for a NaN of sign `neg` (`Bits`,
    /// `PerSign`), which wins over any rule of the format; None for the
    /// policies that derive one.
    pub fn given(self, neg: bool) -> Option<u64> {
        match self {
            Self::Bits(b) => Some(b),
            Self::PerSign { pos, neg: n } => Some(if neg { n } else { pos }),
            _ => None,
        }
    }

    /// Parse the string spellings (an int is passed as [`NanPolicy::Bits`]).
    pub fn parse(s: &str) -> Result<Self, Error> {
        Ok(match s {
            "quiet" => Self::Quiet,
            "preserve" => Self::Preserve,
            "canonical" => Self::Canonical,
            "signed_canonical" => Self::SignedCanonical,
            "error" => Self::Error,
            _ => {
                return Err(Error::invalid(format!(
                    "unknown nan policy {s:?}; choose None, 'canonical', 'signed_canonical', \
                     'error' or an int bit pattern"
                )))
            }
        })
    }
}

/// Everything a float conversion needs besides the formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EncodeOptions {
    pub rounding: RoundingMode,
    /// False flushes subnormal results to (signed) zero.
    pub subnormals: bool,
    pub overflow: Overflow,
    pub nan: NanPolicy,
    /// Seed of the counter-based generator behind stochastic rounding.
    pub seed: u64,
    /// How many random bits each stochastic decision adds to the discarded
    /// bits (1 to 64; 64, the default, is the exact probability). See
    /// `random.rs`.
    pub sr_bits: u32,
    /// Round float64 inputs to float32 (nearest even) first: a library quirk
    /// (torch and ml_dtypes array casts), never the default.
    pub via_fp32: bool,
    /// Convert |x| instead of x (torch's e8m0fnu ignores the sign).
    pub abs_input: bool,
    /// Zero-less formats (e8m0fnu): zero becomes the smallest value (torch)
    /// instead of NaN (the default, as in ml_dtypes).
    pub zero_to_min: bool,
    /// Zero-less formats: values in (2^-127, 2^-126) — the float32
    /// subnormals above 2^-127 — become 2^-126. torch and ml_dtypes read the
    /// float32 exponent field of such inputs as if it were normal.
    pub f32_subnormal_ceil: bool,
    /// Unsigned formats: a negative input that rounds to zero is out of
    /// range too (NaN), as in ml_dtypes; the default gives +0.
    pub negative_is_nan: bool,
    /// x86 MXCSR.FTZ: a result that is tiny *after* rounding (rounded to
    /// the target's precision with an unbounded exponent, as x86 detects
    /// tininess) becomes ±0 in every rounding mode. Unlike
    /// `subnormals: false`, a value just below the smallest normal that does
    /// not round up to it at full precision is flushed.
    pub ftz: bool,
    /// x86 MXCSR.DAZ: a subnormal input of the *source* format reads as ±0
    /// before rounding. The engine sees exact values, so the slice kernels
    /// (which know the source format) apply it; see [`EncodeOptions::daz_input`].
    pub daz: bool,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        Self {
            rounding: RoundingMode::NearestEven,
            subnormals: true,
            overflow: Overflow::FormatRule,
            nan: NanPolicy::Quiet,
            seed: 0,
            sr_bits: crate::engine::random::MAX_SR_BITS,
            via_fp32: false,
            abs_input: false,
            zero_to_min: false,
            f32_subnormal_ceil: false,
            negative_is_nan: false,
            ftz: false,
            daz: false,
        }
    }
}

impl EncodeOptions {
    /// `bits` of `src` as the engine should read it: ±0 when DAZ is on and
    /// `bits` is a subnormal of `src`, else the exact value.
    #[inline]
    pub fn daz_input(&self, src: &FloatFormat, bits: u64) -> crate::engine::value::Value {
        read_source(src, bits, self.daz)
    }

    /// Check the options make sense for `fmt` (e.g. overflow='inf' needs infinities).
    pub fn validate_for(&self, fmt: &FloatFormat) -> Result<(), Error> {
        crate::engine::random::check_sr_bits(self.sr_bits)?;
        match self.overflow {
            Overflow::Inf if !fmt.has_inf => {
                return Err(Error::invalid(format!(
                    "overflow='inf' but {} has no infinities",
                    fmt.name
                )))
            }
            Overflow::Nan if fmt.nan == NanEncoding::None => {
                return Err(Error::invalid(format!(
                    "overflow='nan' but {} has no NaN",
                    fmt.name
                )))
            }
            Overflow::Wrap | Overflow::Error => {
                return Err(Error::invalid(format!(
                    "overflow='wrap'/'error' apply to integer formats; {} is a float format \
                     (use None, 'inf', 'saturate' or 'nan')",
                    fmt.name
                )))
            }
            _ => {}
        }
        let fits = |b: u64| b <= fmt.sign_bit() | fmt.magnitude_mask();
        let ok = match self.nan {
            NanPolicy::Bits(b) => fits(b),
            NanPolicy::PerSign { pos, neg } => fits(pos) && fits(neg),
            _ => true,
        };
        if !ok {
            return Err(Error::invalid(format!(
                "the nan= bit pattern does not fit in the {} bits of {}",
                fmt.bits(),
                fmt.name
            )));
        }
        Ok(())
    }

    /// The seeded generator of these options, keeping `sr_bits` of each draw.
    pub fn seeded(&self) -> crate::engine::random::Seeded {
        crate::engine::random::Seeded {
            seed: self.seed,
            n: self.sr_bits,
        }
    }

    /// True when a NaN input must be reported rather than converted: the
    /// policy says so, or it asks for a NaN the format does not have.
    pub fn nan_is_error(&self, fmt: &FloatFormat) -> bool {
        match self.nan {
            NanPolicy::Error => true,
            NanPolicy::Bits(_) | NanPolicy::PerSign { .. } => false,
            _ => fmt.nan == NanEncoding::None,
        }
    }
}

/// `bits` of the float format `src` as an x86 instruction reads it: under
/// MXCSR.DAZ (`daz`) a subnormal of `src` is ±0 (the sign kept), else the
/// exact value. Float and integer targets share this one input rule.
#[inline]
pub fn read_source(src: &FloatFormat, bits: u64, daz: bool) -> crate::engine::value::Value {
    let mag = bits & src.magnitude_mask();
    if daz && src.has_zero && mag != 0 && mag >> src.man_bits == 0 {
        return crate::engine::value::Value::Zero {
            neg: bits & src.sign_bit() != 0,
        };
    }
    src.unpack(bits)
}
