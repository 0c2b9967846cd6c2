//! Library profiles: the option bundles that reproduce another library's
//! casts bit for bit. Like SoftFloat's per-platform specialisation folders,
//! every quirk lives here as data and the rounding core never knows about
//! any library. An explicit option from the caller overrides the profile's.
//!
//! The facts behind each rule were measured (docs/verification/findings.md)
//! and are re-checked by the test suite and `qformat verify`.

use crate::error::Error;
use crate::format::{FloatFormat, IntFormat};
use crate::int_cast::IntCastOptions;
use crate::options::{NanPolicy, Overflow};
use crate::rounding::RoundingMode;

/// Options a profile sets for one (source, target) pair; `None` leaves the
/// IEEE default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProfileRule {
    pub overflow: Option<Overflow>,
    pub nan: Option<NanPolicy>,
    pub subnormals: Option<bool>,
    /// Replaces nearest-even when the caller asked for the default rounding.
    pub rounding: Option<RoundingMode>,
    pub via_fp32: bool,
    pub abs_input: bool,
    pub zero_to_min: bool,
    pub f32_subnormal_ceil: bool,
}

/// A profile's name, what it reproduces, and the library version it was checked on.
pub struct ProfileInfo {
    pub name: &'static str,
    pub library: &'static str,
    pub verified_on: &'static str,
    pub verified: bool,
}

/// Every profile.
pub const PROFILES: &[ProfileInfo] = &[
    ProfileInfo {
        name: "ieee",
        library: "IEEE 754-2019 (OCP 8-bit FP and MX v1.0 for the formats IEEE does not define)",
        verified_on: "exact rational reference in the test suite",
        verified: true,
    },
    ProfileInfo {
        name: "numpy",
        library: "numpy astype (float16); ml_dtypes rules for the ml_dtypes types",
        verified_on: "numpy 2.4.6, ml_dtypes 0.6.0",
        verified: true,
    },
    ProfileInfo {
        name: "ml_dtypes",
        library: "ml_dtypes array astype",
        verified_on: "ml_dtypes 0.6.0",
        verified: true,
    },
    ProfileInfo {
        name: "torch-cpu",
        library: "torch Tensor.to(dtype) on CPU, contiguous tensors",
        verified_on: "torch 2.15.0 CPU (AVX2 and AVX512 kernels)",
        verified: true,
    },
    ProfileInfo {
        name: "torch-cuda",
        library: "torch Tensor.to(dtype) on CUDA",
        verified_on: "unverified: written from NVIDIA's PTX cvt semantics (canonical NaN 0x7fff) and torch's shared c10 fp8 code",
        verified: false,
    },
];

/// The rule `profile` applies when converting `src` into `dst`.
pub fn rule(profile: &str, src: &FloatFormat, dst: &FloatFormat) -> Result<ProfileRule, Error> {
    let from_f64 = src.bits() > 32;
    let r = match profile {
        "ieee" => ProfileRule::default(),
        "numpy" if dst.name == "fp16" => ProfileRule {
            nan: Some(NanPolicy::Preserve),
            ..Default::default()
        },
        "numpy" | "ml_dtypes" => ProfileRule {
            via_fp32: from_f64,
            ..ml_dtypes_rule(dst)
        },
        "torch-cpu" => ProfileRule {
            via_fp32: from_f64,
            ..torch_rule(src, dst, false)
        },
        "torch-cuda" => ProfileRule {
            via_fp32: from_f64,
            ..torch_rule(src, dst, true)
        },
        _ => {
            return Err(Error::invalid(format!(
                "unknown profile {profile:?}; choose one of {}",
                PROFILES
                    .iter()
                    .map(|p| p.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            )))
        }
    };
    Ok(r)
}

/// The integer-cast rule `profile` applies for `fmt`: IEEE-style rounding
/// with saturation, or the libraries' C casts (truncate, go through a
/// wider signed integer, keep the low bits).
pub fn int_rule(profile: &str, fmt: &IntFormat) -> Result<IntCastOptions, Error> {
    match profile {
        "ieee" => Ok(IntCastOptions::default()),
        "torch-cpu" | "torch-cuda" => Ok(IntCastOptions::c_cast(fmt, true)),
        "numpy" | "ml_dtypes" => Ok(IntCastOptions::c_cast(fmt, false)),
        _ => Err(Error::invalid(format!(
            "unknown profile {profile:?}; choose one of {}",
            PROFILES
                .iter()
                .map(|p| p.name)
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// ml_dtypes: NaNs become the signed default NaN; the e8m0 scale format
/// rounds ties away (and lifts float32 subnormals above 2^-127 to 2^-126); fp6/fp4 have no NaN and turn +NaN into −0, −NaN into +0.
fn ml_dtypes_rule(dst: &FloatFormat) -> ProfileRule {
    let mut r = ProfileRule {
        nan: Some(NanPolicy::SignedCanonical),
        ..Default::default()
    };
    match dst.name.as_str() {
        "fp8_e8m0fnu" => {
            r.rounding = Some(RoundingMode::NearestAway);
            r.f32_subnormal_ceil = true;
        }
        "fp6_e2m3fn" | "fp6_e3m2fn" | "fp4_e2m1fn" => {
            r.nan = Some(NanPolicy::PerSign {
                pos: dst.sign_bit(),
                neg: 0,
            })
        }
        _ => {}
    }
    r
}

/// torch: bf16 NaNs from the vectorised CPU kernel are all 0xffff (0x7fc0
/// from float16 sources); e4m3fn saturates, infinities included; e5m2 NaNs
/// are ±0x7f; e8m0 ignores the sign, rounds ties away, maps 0 to 2^-127 and
/// lifts float32 subnormals above 2^-127 to 2^-126.
/// On CUDA the PTX cvt instructions return the canonical NaN 0x7fff for
/// bf16 and fp16.
fn torch_rule(src: &FloatFormat, dst: &FloatFormat, cuda: bool) -> ProfileRule {
    let mut r = ProfileRule::default();
    match dst.name.as_str() {
        "bf16" if cuda => r.nan = Some(NanPolicy::Bits(0x7fff)),
        "fp16" if cuda => r.nan = Some(NanPolicy::Bits(0x7fff)),
        "bf16" if src.name == "fp16" => r.nan = Some(NanPolicy::Canonical),
        "bf16" => r.nan = Some(NanPolicy::Bits(0xffff)),
        "fp8_e4m3fn" => r.overflow = Some(Overflow::Saturate),
        "fp8_e5m2" => {
            r.nan = Some(NanPolicy::PerSign {
                pos: 0x7f,
                neg: 0xff,
            })
        }
        "fp8_e8m0fnu" => {
            r.rounding = Some(RoundingMode::NearestAway);
            r.abs_input = true;
            r.zero_to_min = true;
            r.f32_subnormal_ceil = true;
        }
        _ => {}
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::float_builtin;

    #[test]
    fn unknown_profile_is_an_error() {
        let f = float_builtin("fp32");
        assert!(rule("tensorflow", &f, &f).is_err());
    }

    #[test]
    fn torch_reads_float64_through_float32() {
        let f64f = float_builtin("fp64");
        let bf = float_builtin("bf16");
        assert!(rule("torch-cpu", &f64f, &bf).unwrap().via_fp32);
        assert!(!rule("ieee", &f64f, &bf).unwrap().via_fp32);
    }
}
