//! The one place where a profile's rules and the caller's own options
//! become the options of a conversion.
//!
//! The caller's options arrive as "given" or "not given" ([`CallerOptions`],
//! all `Option`s), so a default can never be mistaken for a choice: an
//! option the caller gives always wins, a profile fills in only what the
//! caller left open, and IEEE defaults fill in the rest.

use crate::engine::int_cast::{IntCastOptions, IntNan, IntOverflow};
use crate::engine::options::{EncodeOptions, NanPolicy, Overflow};
use crate::engine::rounding::RoundingMode;
use crate::error::Error;
use crate::format::{FloatFormat, IntFormat};
use crate::policy::profile::Profile;

/// The options a caller gave (`None`: not given).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallerOptions {
    pub rounding: Option<RoundingMode>,
    pub subnormals: Option<bool>,
    pub overflow: Option<Overflow>,
    /// Float targets: a NaN policy. Integer targets take only
    /// [`NanPolicy::Error`] here; a value goes in `nan_value`.
    pub nan: Option<NanPolicy>,
    /// Integer targets: the integer a NaN becomes.
    pub nan_value: Option<i64>,
    pub seed: Option<u64>,
    /// Stochastic rounding: how many random bits each decision uses.
    pub sr_bits: Option<u32>,
    /// Stochastic rounding: the caller supplies one random word per element
    /// (`random_bits=`) instead of a seed. Float targets only.
    pub random_bits: bool,
    /// x86 MXCSR.FTZ (float targets): tiny results become ±0.
    pub ftz: Option<bool>,
    /// x86 MXCSR.DAZ (float sources, float and integer targets): subnormal
    /// inputs read as ±0.
    pub daz: Option<bool>,
}

impl CallerOptions {
    /// The rounding mode given, checked: stochastic rounding needs a seed
    /// (or the caller's own random words) so that results are reproducible.
    fn checked_rounding(&self) -> Result<Option<RoundingMode>, Error> {
        if self.random_bits {
            if self.seed.is_some() {
                return Err(Error::invalid(
                    "give seed= or random_bits=, not both: random_bits= replaces the seeded draw",
                ));
            }
            return Ok(self.rounding);
        }
        self.rounding.map(|m| m.with_seed(self.seed)).transpose()
    }

    /// The stochastic-rounding bit count: the caller's, else all 64; an
    /// error where the options cannot use it.
    fn checked_sr_bits(&self, rounding: RoundingMode) -> Result<u32, Error> {
        let stochastic = rounding == RoundingMode::Stochastic;
        if !stochastic && (self.random_bits || self.sr_bits.is_some()) {
            return Err(Error::invalid(format!(
                "random_bits= and sr_bits= apply to rounding='stochastic' only, not {:?}",
                rounding.name()
            )));
        }
        let n = self.sr_bits.unwrap_or(crate::engine::random::MAX_SR_BITS);
        crate::engine::random::check_sr_bits(n)?;
        Ok(n)
    }
}

/// Options for converting `src` into the float format `dst` under `profile`.
pub fn float_options(
    profile: &Profile,
    caller: &CallerOptions,
    src: &FloatFormat,
    dst: &FloatFormat,
) -> Result<EncodeOptions, Error> {
    let rule = profile.float_rule(src, dst);
    let rounding = caller
        .checked_rounding()?
        .or(rule.rounding)
        .unwrap_or(RoundingMode::NearestEven);
    let opts = EncodeOptions {
        rounding,
        subnormals: caller.subnormals.unwrap_or(true),
        overflow: caller
            .overflow
            .or(rule.overflow)
            .unwrap_or(Overflow::FormatRule),
        nan: caller.nan.or(rule.nan).unwrap_or(NanPolicy::Quiet),
        seed: caller.seed.unwrap_or(0),
        sr_bits: caller.checked_sr_bits(rounding)?,
        via_fp32: rule.via_fp32,
        abs_input: rule.abs_input,
        zero_to_min: rule.zero_to_min,
        f32_subnormal_ceil: rule.f32_subnormal_ceil,
        negative_is_nan: rule.negative_is_nan,
        // The MXCSR state, as the caller gives it; a hardware profile
        // fills in what its instruction does regardless of MXCSR.
        ftz: caller.ftz.or(rule.ftz).unwrap_or(false),
        daz: caller.daz.or(rule.daz).unwrap_or(false),
    };
    if caller.nan_value.is_some() {
        return Err(Error::invalid(
            "an integer nan value applies to integer formats; float formats take a bit pattern",
        ));
    }
    opts.validate_for(dst)?;
    Ok(opts)
}

/// Options for converting into the integer format `fmt` under `profile`;
/// `float_source` tells float inputs from integer ones (the libraries'
/// C casts truncate the former and wrap the latter).
pub fn int_options(
    profile: &Profile,
    caller: &CallerOptions,
    fmt: &IntFormat,
    float_source: bool,
) -> Result<IntCastOptions, Error> {
    let mut o = profile.int_rule(fmt, float_source);
    if caller.random_bits || caller.sr_bits.is_some() {
        return Err(Error::invalid(format!(
            "random_bits= and sr_bits= apply to float formats; {} is an integer format \
             (its stochastic rounding takes seed= and all 64 bits of each draw)",
            fmt.name
        )));
    }
    if let Some(mode) = caller.checked_rounding()? {
        o.rounding = mode;
    }
    o.seed = caller.seed.unwrap_or(0);
    if let Some(over) = caller.overflow {
        o.overflow = match over {
            Overflow::Saturate => IntOverflow::Saturate,
            Overflow::Wrap => IntOverflow::Wrap,
            Overflow::Error => IntOverflow::Error,
            _ => {
                return Err(Error::invalid(format!(
                    "overflow={over:?} does not apply to integer formats; choose 'saturate', \
                     'wrap' or 'error'"
                )))
            }
        };
        // The C cast's NaN rule belongs to its overflow rule, now replaced.
        if o.nan == IntNan::Through {
            o.nan = IntNan::Error;
        }
    }
    match (caller.nan, caller.nan_value) {
        (_, Some(v)) => o.nan = IntNan::Value(v),
        (Some(NanPolicy::Error), None) => o.nan = IntNan::Error,
        (None, None) => {}
        _ => {
            return Err(Error::invalid(
                "nan= for integer formats is 'error' or an int value",
            ))
        }
    }
    if caller.subnormals == Some(false) {
        return Err(Error::invalid("subnormals= applies to float formats only"));
    }
    if caller.ftz == Some(true) {
        return Err(Error::invalid(
            "ftz= applies to float targets: an integer result is never tiny (x86 CVT*2SI \
             ignore MXCSR.FTZ; docs/verification/cpu.md)",
        ));
    }
    if let Some(daz) = caller.daz {
        if daz && !float_source {
            return Err(Error::invalid(
                "daz= reads subnormal float inputs as zero; integer inputs have none",
            ));
        }
        o.daz = daz;
    }
    o.validate_for(fmt)?;
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{builtin, float_builtin, Format};

    fn int(name: &str) -> IntFormat {
        match builtin(name) {
            Some(Format::Int(f)) => f,
            _ => panic!("{name}"),
        }
    }

    #[test]
    fn a_given_rounding_mode_beats_the_profile() {
        let torch = Profile::parse("torch-cpu", &[]).unwrap();
        let (f32f, e8) = (float_builtin("fp32"), float_builtin("fp8_e8m0fnu"));
        let open = float_options(&torch, &CallerOptions::default(), &f32f, &e8).unwrap();
        assert_eq!(open.rounding, RoundingMode::NearestAway);
        let given = CallerOptions {
            rounding: Some(RoundingMode::NearestEven),
            ..Default::default()
        };
        let o = float_options(&torch, &given, &f32f, &e8).unwrap();
        assert_eq!(o.rounding, RoundingMode::NearestEven);
        let o = int_options(&torch, &given, &int("int8"), true).unwrap();
        assert_eq!(o.rounding, RoundingMode::NearestEven);
        let o = int_options(&torch, &CallerOptions::default(), &int("int8"), true).unwrap();
        assert_eq!(o.rounding, RoundingMode::TowardZero);
    }

    #[test]
    fn a_given_ftz_beats_the_profile() {
        let bf = Profile::parse("x86-avx512bf16", &[]).unwrap();
        let f32f = float_builtin("fp32");
        let b16 = float_builtin("bf16");
        let open = float_options(&bf, &CallerOptions::default(), &f32f, &b16).unwrap();
        assert!(open.daz && open.ftz, "the instruction always flushes");
        let given = CallerOptions {
            daz: Some(false),
            ..Default::default()
        };
        assert!(!float_options(&bf, &given, &f32f, &b16).unwrap().daz);
        let sse = Profile::parse("x86-sse", &[]).unwrap();
        let o = float_options(
            &sse,
            &CallerOptions::default(),
            &float_builtin("fp64"),
            &f32f,
        );
        assert!(!o.unwrap().ftz, "MXCSR defaults: FTZ and DAZ clear");
    }

    #[test]
    fn daz_reaches_integer_casts_of_float_sources_only() {
        let sse = Profile::parse("x86-sse", &[]).unwrap();
        let given = CallerOptions {
            daz: Some(true),
            ..Default::default()
        };
        let i32f = int("int32");
        assert!(
            !int_options(&sse, &CallerOptions::default(), &i32f, true)
                .unwrap()
                .daz
        );
        assert!(int_options(&sse, &given, &i32f, true).unwrap().daz);
        assert!(int_options(&sse, &given, &i32f, false).is_err());
        let ftz = CallerOptions {
            ftz: Some(true),
            ..Default::default()
        };
        assert!(int_options(&sse, &ftz, &i32f, true).is_err());
    }

    #[test]
    fn stochastic_needs_a_seed() {
        let c = CallerOptions {
            rounding: Some(RoundingMode::Stochastic),
            ..Default::default()
        };
        let f = float_builtin("bf16");
        assert!(float_options(&Profile::ieee(), &c, &float_builtin("fp32"), &f).is_err());
        assert!(int_options(&Profile::ieee(), &c, &int("int8"), true).is_err());
    }
}
