//! Library profiles: which rules reproduce another library's casts bit for
//! bit, per release.
//!
//! Like SoftFloat's per-platform `specialize.h`, a profile is one value
//! chosen once: a [`Profile`] names a [`Release`] (a range of a library's
//! versions whose casts behave alike) and each release fills in the same
//! small set of [`ReleaseRules`]. What stays the same across releases of a
//! library (torch's bf16 NaN pattern, ml_dtypes' signed NaNs) is written
//! once in that library's rule function. Rules match on a format's layout
//! (see [`FloatFormat`]'s `==`, which ignores the name), never on its name.
//!
//! The facts behind each rule were measured (docs/verification/findings.md)
//! and are re-checked by the test suite and `qformat verify`. How a profile
//! combines with the caller's own options is [`crate::policy`]'s job.

use std::fmt;

use crate::engine::int_cast::{IntCastOptions, IntNan, IntOverflow};
use crate::engine::options::{NanPolicy, Overflow};
use crate::engine::rounding::RoundingMode;
use crate::error::Error;
use crate::format::{float_layout, FloatFormat, IntFormat};

/// The libraries whose casts a profile can reproduce.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Library {
    /// IEEE 754 (and OCP/MX for the formats IEEE does not define): no quirks.
    Ieee,
    /// NumPy `astype`; ml_dtypes' types follow the installed ml_dtypes.
    Numpy,
    /// ml_dtypes array `astype`.
    MlDtypes,
    /// torch `Tensor.to(dtype)` on CPU.
    TorchCpu,
    /// torch `Tensor.to(dtype)` on CUDA.
    TorchCuda,
    /// x86 F16C `VCVTPS2PH` (float32 → float16; rounding from the
    /// immediate, or MXCSR.RC with imm bit 2).
    X86F16c,
    /// x86 SSE/SSE2 `CVTSD2SS`, `CVTSS2SD`, `CVT(T)SS2SI`, `CVT(T)SD2SI`
    /// under MXCSR (rounding, FTZ, DAZ).
    X86Sse,
    /// x86 AVX512_BF16 `VCVTNEPS2BF16` (float32 → bfloat16).
    X86Avx512Bf16,
    /// x86 AVX512_FP16 `VCVTPS2PHX`, `VCVTSD2SH` (float32/float64 → float16).
    X86Avx512Fp16,
    /// x86 AVX-NE-CONVERT: the VEX `VCVTNEPS2BF16` and the exact bf16/fp16 →
    /// float32 loads (`VCVTNEEPH2PS`, `VBCSTNEBF162PS`, …). Written from the
    /// documentation; no processor here has run it.
    X86AvxNeConvert,
    /// x86 AVX10.2 FP8 conversions (`VCVTPH2BF8[S]`, `VCVTPH2HF8[S]`,
    /// `VCVTHF82PH`). Written from the documentation; unverified.
    X86Avx10Fp8,
}

impl Library {
    /// Every library, in the order `qf.profiles()` lists them.
    pub const ALL: [Library; 11] = [
        Library::Ieee,
        Library::Numpy,
        Library::MlDtypes,
        Library::TorchCpu,
        Library::TorchCuda,
        Library::X86F16c,
        Library::X86Sse,
        Library::X86Avx512Bf16,
        Library::X86Avx512Fp16,
        Library::X86AvxNeConvert,
        Library::X86Avx10Fp8,
    ];

    /// Processor instructions rather than software: no versions ("any"),
    /// and the MXCSR state (ftz=/daz=) is an input.
    pub fn is_hardware(self) -> bool {
        matches!(
            self,
            Library::X86F16c
                | Library::X86Sse
                | Library::X86Avx512Bf16
                | Library::X86Avx512Fp16
                | Library::X86AvxNeConvert
                | Library::X86Avx10Fp8
        )
    }

    /// The profile's name ("torch-cpu").
    pub fn name(self) -> &'static str {
        match self {
            Library::Ieee => "ieee",
            Library::Numpy => "numpy",
            Library::MlDtypes => "ml_dtypes",
            Library::TorchCpu => "torch-cpu",
            Library::TorchCuda => "torch-cuda",
            Library::X86F16c => "x86-f16c",
            Library::X86Sse => "x86-sse",
            Library::X86Avx512Bf16 => "x86-avx512bf16",
            Library::X86Avx512Fp16 => "x86-avx512fp16",
            Library::X86AvxNeConvert => "x86-avxneconvert",
            Library::X86Avx10Fp8 => "x86-avx10-fp8",
        }
    }

    /// The Python package whose installed version selects the release.
    pub fn package(self) -> Option<&'static str> {
        match self {
            Library::Ieee
            | Library::X86F16c
            | Library::X86Sse
            | Library::X86Avx512Bf16
            | Library::X86Avx512Fp16
            | Library::X86AvxNeConvert
            | Library::X86Avx10Fp8 => None,
            Library::Numpy => Some("numpy"),
            Library::MlDtypes => Some("ml_dtypes"),
            Library::TorchCpu | Library::TorchCuda => Some("torch"),
        }
    }

    /// What the profile reproduces, in words.
    pub fn describes(self) -> &'static str {
        match self {
            Library::Ieee => {
                "IEEE 754-2019 (OCP 8-bit FP and MX v1.0 for the formats IEEE does not define)"
            }
            Library::Numpy => "numpy astype (float16, integers); ml_dtypes' rules for its types",
            Library::MlDtypes => "ml_dtypes array astype",
            Library::TorchCpu => "torch Tensor.to(dtype) on CPU, contiguous tensors",
            Library::TorchCuda => "torch Tensor.to(dtype) on CUDA",
            Library::X86F16c => {
                "x86 F16C VCVTPS2PH (rounding from the immediate; MXCSR.FTZ ignored) and \
                 VCVTPH2PS (exact; DAZ ignored)"
            }
            Library::X86Sse => {
                "x86 SSE CVTSD2SS/CVTSS2SD/CVT(T)SS2SI/CVT(T)SD2SI (int32 and int64) under MXCSR"
            }
            Library::X86Avx512Bf16 => {
                "x86 AVX512_BF16 VCVTNEPS2BF16 (nearest even, DAZ and FTZ always)"
            }
            Library::X86Avx512Fp16 => {
                "x86 AVX512_FP16 VCVTPS2PHX/VCVTSD2SH under MXCSR, VCVTPH2PSX/VCVTSH2SS (exact) \
                 and VCVT(T)SH2SI"
            }
            Library::X86AvxNeConvert => {
                "x86 AVX-NE-CONVERT VCVTNEPS2BF16 (VEX; nearest even, DAZ and FTZ always) and \
                 the exact bf16/fp16 -> fp32 loads (MXCSR ignored)"
            }
            Library::X86Avx10Fp8 => {
                "x86 AVX10.2 VCVTPH2BF8/VCVTPH2HF8 (nearest even, MXCSR ignored; overflow=\
                 'saturate' for the S forms) and VCVTHF82PH"
            }
        }
    }

    fn parse(s: &str) -> Result<Self, Error> {
        Library::ALL
            .into_iter()
            .find(|l| l.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Library::ALL.iter().map(|l| l.name()).collect();
                Error::invalid(format!(
                    "unknown profile {s:?}; choose one of {} (optionally with @version, \
                     e.g. 'ml_dtypes@0.6')",
                    names.join(", ")
                ))
            })
    }
}

/// A release as `major.minor`: the libraries change cast rules at minor
/// releases, so patch levels, local tags (`+cpu`) and dev suffixes are ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
}

impl Version {
    /// `"2.15.0+cpu"`, `"0.7.0"`, `"0.6"` → `major.minor`.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let bad = || Error::invalid(format!("{s:?} is not a version such as 0.7 or 2.12.1"));
        let mut parts = s.trim().split(['.', '+']);
        let mut num = || -> Result<u32, Error> {
            let p = parts.next().ok_or_else(bad)?;
            let digits: String = p.chars().take_while(char::is_ascii_digit).collect();
            if digits.is_empty() || digits.len() > 6 {
                return Err(bad());
            }
            digits.parse().map_err(|_| bad())
        };
        Ok(Version {
            major: num()?,
            minor: num()?,
        })
    }

    const fn new(major: u32, minor: u32) -> Self {
        Version { major, minor }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// How a library casts floats into its own sub-byte integer types
/// (int1/int2/int4 and the unsigned ones).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubByteInts {
    /// The C cast: truncate, through int32, keep the low bits.
    CCast,
    /// Truncate; out-of-range values, NaN and ±inf become 0 (ml_dtypes ≥ 0.7).
    TruncateOrZero,
}

/// What differs between releases of one library: every release fills in
/// these same fields, and the rule functions below read nothing else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReleaseRules {
    /// float64 sources are rounded to float32 (nearest even) first.
    pub f64_via_f32: bool,
    /// Zero-less scale formats (e8m0) read a float32 subnormal's exponent
    /// field as if it were normal: (2^-127, 2^-126) becomes 2^-126.
    pub scale_f32_subnormal_ceil: bool,
    /// Overflow of the e4m3fn layout (torch: NaN before 2.12, then ±448).
    pub e4m3fn_overflow: Overflow,
    /// Float → the library's own sub-byte integer types.
    pub sub_byte_ints: SubByteInts,
}

const PLAIN: ReleaseRules = ReleaseRules {
    f64_via_f32: false,
    scale_f32_subnormal_ceil: false,
    e4m3fn_overflow: Overflow::FormatRule,
    sub_byte_ints: SubByteInts::CCast,
};

/// torch from 2.12 on, CPU and CUDA alike: float64 through float32, the e8m0
/// float32-subnormal rule, e4m3fn saturation (pytorch #178817).
const TORCH_2_12: ReleaseRules = ReleaseRules {
    f64_via_f32: true,
    scale_f32_subnormal_ceil: true,
    e4m3fn_overflow: Overflow::Saturate,
    ..PLAIN
};

/// A range of a library's releases whose casts follow one set of rules.
#[derive(Debug)]
pub struct Release {
    pub library: Library,
    /// First release of the range (inclusive).
    pub first: Version,
    /// Last release of the range (inclusive); `None` while it is the newest known.
    pub last: Option<Version>,
    /// The newest release whose behaviour is known (checked, or read in its
    /// source): an installed version beyond it is flagged as a guess.
    pub known_through: Version,
    /// Exact versions whose casts were compared with qformat bit for bit
    /// (`qformat verify`); empty where the rules come from the source or
    /// documentation only.
    pub checked_on: &'static [&'static str],
    /// Where the rules come from.
    pub source: &'static str,
    pub rules: ReleaseRules,
}

impl Release {
    /// True when the rules were compared with the real library.
    pub fn verified(&self) -> bool {
        !self.checked_on.is_empty()
    }

    /// `"0.5–0.6"`, `"2.12+"`, `"any"`.
    pub fn versions(&self) -> String {
        if self.library == Library::Ieee || self.library.is_hardware() {
            return "any".into();
        }
        match self.last {
            None => format!("{}+", self.first),
            Some(l) if l == self.first => format!("{l}"),
            Some(l) => format!("{}–{l}", self.first),
        }
    }

    fn contains(&self, v: Version) -> bool {
        v >= self.first
            && match self.last {
                Some(l) => v <= l,
                None => true,
            }
    }
}

/// Every known release range, oldest first within each library.
pub static RELEASES: &[Release] = &[
    Release {
        library: Library::Ieee,
        first: Version::new(0, 0),
        last: None,
        known_through: Version::new(0, 0),
        checked_on: &["exact rational reference in the test suite"],
        source: "IEEE 754-2019 §4.3, §7; OCP 8-bit FP v1.0; OCP MX v1.0",
        rules: PLAIN,
    },
    Release {
        library: Library::Numpy,
        first: Version::new(1, 24),
        last: None,
        known_through: Version::new(2, 4),
        checked_on: &["numpy 2.4.6"],
        source: "measured (docs/verification/numpy.md)",
        rules: PLAIN,
    },
    Release {
        library: Library::MlDtypes,
        first: Version::new(0, 5),
        last: Some(Version::new(0, 6)),
        known_through: Version::new(0, 6),
        checked_on: &["ml_dtypes 0.6.0"],
        source: "measured (docs/verification/ml_dtypes.md)",
        rules: ReleaseRules {
            f64_via_f32: true,
            scale_f32_subnormal_ceil: true,
            ..PLAIN
        },
    },
    Release {
        library: Library::MlDtypes,
        first: Version::new(0, 7),
        last: None,
        known_through: Version::new(0, 7),
        checked_on: &["ml_dtypes 0.7.0"],
        source: "measured (docs/verification/ml_dtypes.md)",
        rules: ReleaseRules {
            sub_byte_ints: SubByteInts::TruncateOrZero,
            ..PLAIN
        },
    },
    Release {
        library: Library::TorchCpu,
        first: Version::new(2, 5),
        last: Some(Version::new(2, 11)),
        known_through: Version::new(2, 11),
        checked_on: &[],
        source: "c10 Float8_e4m3fn.h before pytorch #178817: overflow gives NaN",
        rules: ReleaseRules {
            f64_via_f32: true,
            scale_f32_subnormal_ceil: true,
            e4m3fn_overflow: Overflow::Nan,
            ..PLAIN
        },
    },
    Release {
        library: Library::TorchCpu,
        first: Version::new(2, 12),
        last: None,
        known_through: Version::new(2, 15),
        checked_on: &["torch 2.15.0 CPU (AVX2 and AVX512 kernels)"],
        source: "measured (docs/verification/torch-cpu.md)",
        rules: TORCH_2_12,
    },
    Release {
        library: Library::TorchCuda,
        first: Version::new(2, 12),
        last: None,
        known_through: Version::new(2, 15),
        checked_on: &[],
        source: "NVIDIA PTX cvt semantics (canonical NaN 0x7fff) and torch's shared c10 \
                 fp8 code; no GPU has run the sweep yet",
        rules: TORCH_2_12,
    },
    Release {
        library: Library::X86F16c,
        first: Version::new(0, 0),
        last: None,
        known_through: Version::new(0, 0),
        checked_on: &[X86_CHECKED_ON],
        source: "Intel SDM vol. 2C VCVTPS2PH, VCVTPH2PS; measured (docs/verification/cpu.md)",
        rules: PLAIN,
    },
    Release {
        library: Library::X86Sse,
        first: Version::new(0, 0),
        last: None,
        known_through: Version::new(0, 0),
        checked_on: &[X86_CHECKED_ON],
        source: "Intel SDM vol. 1 §10.2.3 (MXCSR), vol. 2A CVTSD2SS/CVTSS2SD/CVTSS2SI/\
                 CVTTSS2SI/CVTSD2SI/CVTTSD2SI; measured (docs/verification/cpu.md)",
        rules: PLAIN,
    },
    Release {
        library: Library::X86Avx512Bf16,
        first: Version::new(0, 0),
        last: None,
        known_through: Version::new(0, 0),
        checked_on: &[X86_CHECKED_ON],
        source: "Intel SDM vol. 2A VCVTNEPS2BF16 (convert_fp32_to_bfloat16); measured \
                 (docs/verification/cpu.md)",
        rules: PLAIN,
    },
    Release {
        library: Library::X86Avx512Fp16,
        first: Version::new(0, 0),
        last: None,
        known_through: Version::new(0, 0),
        checked_on: &[X86_CHECKED_ON],
        source: "Intel AVX512-FP16 architecture specification VCVTPS2PHX/VCVTSD2SH/VCVTPH2PSX/\
                 VCVTSH2SS/VCVTSH2SI/VCVTTSH2SI; measured (docs/verification/cpu.md)",
        rules: PLAIN,
    },
    Release {
        library: Library::X86AvxNeConvert,
        first: Version::new(0, 0),
        last: None,
        known_through: Version::new(0, 0),
        checked_on: &[],
        source: "Intel SDM vol. 2A/2C (Dec 2023+) VCVTNEPS2BF16 (VEX form: same \
                 convert_fp32_to_bfloat16 as the EVEX form: nearest even, input and output \
                 denormals flushed, MXCSR not consulted), VCVTNEEPH2PS/VCVTNEOPH2PS/\
                 VBCSTNESH2PS and VCVTNEEBF162PS/VCVTNEOBF162PS/VBCSTNEBF162PS (exact \
                 widening; fp16 denormal inputs converted normally, DAZ not consulted); \
                 no processor here has AVX-NE-CONVERT",
        rules: PLAIN,
    },
    Release {
        library: Library::X86Avx10Fp8,
        first: Version::new(0, 0),
        last: None,
        known_through: Version::new(0, 0),
        checked_on: &[],
        source: "Intel AVX10.2 Architecture Specification (doc. 361050), VCVTPH2BF8[S], \
                 VCVTPH2HF8[S], VCVTHF82PH: round to nearest even, MXCSR (RC, DAZ, FTZ) not \
                 consulted, fp16 denormals converted normally; BF8=E5M2: NaN quieted \
                 (payload kept), overflow and inf -> inf, or max (0x7b) for the S forms; \
                 HF8=E4M3 (OCP e4m3fn layout): NaN and inf -> NaN (0x7f), overflow -> NaN, \
                 or max (0x7e) for the S forms. Read through the Bochs emulator's \
                 implementation (cpu/avx/fp8.cc) and GCC's AVX10.2 tests (fp8-helper.h); \
                 no processor here has AVX10.2",
        rules: PLAIN,
    },
];

/// The processor the x86 profiles were swept on (`/proc/cpuinfo`).
const X86_CHECKED_ON: &str = "Intel(R) Xeon(R) Processor, family 6 model 207 (0xCF, Emerald \
                              Rapids; F16C, AVX512_BF16, AVX512_FP16)";

/// The release ranges of `library`, oldest first.
pub fn releases(library: Library) -> impl Iterator<Item = &'static Release> {
    RELEASES.iter().filter(move |r| r.library == library)
}

/// Installed versions of the libraries, by package name ("ml_dtypes" →
/// "0.7.0"), as detected by the caller (the Python layer).
pub type Installed<'a> = &'a [(String, String)];

/// One library release's rules, chosen once: `"ml_dtypes"` (the installed
/// release, or the newest known), `"ml_dtypes@0.6"` (that release).
#[derive(Clone, Copy, Debug)]
pub struct Profile {
    pub release: &'static Release,
    /// The version that chose the release: asked for, or installed.
    pub version: Option<Version>,
    /// The installed version lies outside every known range, so the
    /// nearest known release stands in for it (a warning for reports).
    pub guessed: bool,
    /// ml_dtypes' release, for the ml_dtypes types under the numpy profile.
    pub companion: Option<&'static Release>,
}

impl Profile {
    /// The IEEE profile (no library quirks).
    pub fn ieee() -> Self {
        Profile {
            release: &RELEASES[0],
            version: None,
            guessed: false,
            companion: None,
        }
    }

    /// Parse `"name"` or `"name@version"`. Without a version the installed
    /// one (from `installed`) chooses the release, or the newest known when
    /// the library is not installed. An explicit version must be known.
    pub fn parse(spec: &str, installed: Installed<'_>) -> Result<Self, Error> {
        let spec = spec.trim();
        let (name, asked) = match spec.split_once('@') {
            Some((n, v)) => (n, Some(Version::parse(v)?)),
            None => (spec, None),
        };
        let library = Library::parse(name)?;
        let mut p = match asked {
            Some(v) => Self::exact(library, v)?,
            None => Self::detected(library, installed)?,
        };
        if library == Library::Numpy {
            p.companion = Some(Self::detected(Library::MlDtypes, installed)?.release);
        }
        Ok(p)
    }

    /// The release containing `v`, which must be known.
    fn exact(library: Library, v: Version) -> Result<Self, Error> {
        if library == Library::Ieee || library.is_hardware() {
            return Err(Error::invalid(format!(
                "the {} profile has no versions",
                library.name()
            )));
        }
        let release = releases(library).find(|r| r.contains(v)).ok_or_else(|| {
            let known: Vec<_> = releases(library).map(Release::versions).collect();
            Error::invalid(format!(
                "{}@{v}: qformat knows the rules of {} {} only",
                library.name(),
                library.package().unwrap_or(""),
                known.join(", ")
            ))
        })?;
        Ok(Profile {
            release,
            version: Some(v),
            guessed: false,
            companion: None,
        })
    }

    /// The release of the installed version (nearest known one, flagged,
    /// when it is outside every range), or the newest when none is installed.
    fn detected(library: Library, installed: Installed<'_>) -> Result<Self, Error> {
        let newest = releases(library)
            .last()
            .expect("every library has a release");
        let found = library
            .package()
            .and_then(|pkg| installed.iter().find(|(p, _)| p == pkg));
        let Some((_, text)) = found else {
            return Ok(Profile {
                release: newest,
                version: None,
                guessed: false,
                companion: None,
            });
        };
        let v = Version::parse(text)?;
        let inside = releases(library).find(|r| r.contains(v));
        let oldest = releases(library)
            .next()
            .expect("every library has a release");
        let release = inside.unwrap_or(if v < oldest.first { oldest } else { newest });
        Ok(Profile {
            release,
            version: Some(v),
            guessed: inside.is_none() || v > release.known_through,
            companion: None,
        })
    }

    pub fn library(&self) -> Library {
        self.release.library
    }

    /// `"ml_dtypes@0.7"`: the library and the version that chose the rules
    /// (the first of the release range when no version was given).
    pub fn name(&self) -> String {
        match self.library() {
            l if l == Library::Ieee || l.is_hardware() => l.name().into(),
            l => format!(
                "{}@{}",
                l.name(),
                self.version.unwrap_or(self.release.first)
            ),
        }
    }

    /// The rule this profile applies when converting `src` into `dst`.
    pub fn float_rule(&self, src: &FloatFormat, dst: &FloatFormat) -> ProfileRule {
        let rules = &self.release.rules;
        let mut r = match self.library() {
            Library::Ieee => ProfileRule::default(),
            Library::Numpy if *dst == *float_layout("fp16") => ProfileRule {
                nan: Some(NanPolicy::Preserve),
                ..Default::default()
            },
            Library::Numpy => {
                let md = self
                    .companion
                    .unwrap_or_else(|| releases(Library::MlDtypes).last().unwrap());
                return Profile {
                    release: md,
                    ..*self
                }
                .float_rule(src, dst);
            }
            Library::MlDtypes => ml_dtypes_rule(dst),
            Library::TorchCpu => torch_rule(src, dst, false, rules),
            Library::TorchCuda => torch_rule(src, dst, true, rules),
            l => x86_rule(l, src),
        };
        r.via_fp32 = rules.f64_via_f32 && *src == *float_layout("fp64");
        if is_scale_format(dst) {
            r.f32_subnormal_ceil = rules.scale_f32_subnormal_ceil;
        }
        r
    }

    /// The integer-cast rule for `fmt`; `float_source` tells float inputs
    /// (the libraries truncate them) from integer ones (they wrap).
    pub fn int_rule(&self, fmt: &IntFormat, float_source: bool) -> IntCastOptions {
        let c_cast = |uint8_via_int64| {
            if float_source {
                IntCastOptions::c_cast(fmt, uint8_via_int64)
            } else {
                IntCastOptions {
                    overflow: IntOverflow::Wrap,
                    ..IntCastOptions::default()
                }
            }
        };
        match self.library() {
            // CVTSS2SI/CVTSD2SI (int32 and, with REX.W, int64) and AVX512_FP16's
            // VCVTSH2SI: MXCSR rounding (nearest even unless the caller says
            // otherwise; the CVTT forms are rounding='toward_zero'); NaN, ±inf
            // and out-of-range give the "integer indefinite" (the minimum:
            // 0x80000000, 0x8000000000000000). MXCSR.DAZ is the caller's daz=.
            Library::X86Sse | Library::X86Avx512Fp16 if float_source => IntCastOptions {
                rounding: RoundingMode::NearestEven,
                ..IntCastOptions::c_cast(fmt, false)
            },
            Library::Ieee
            | Library::X86F16c
            | Library::X86Avx512Bf16
            | Library::X86Avx512Fp16
            | Library::X86AvxNeConvert
            | Library::X86Avx10Fp8 => IntCastOptions::default(),
            Library::X86Sse => c_cast(false),
            Library::TorchCpu | Library::TorchCuda => c_cast(true),
            Library::Numpy | Library::MlDtypes => {
                let sub_byte = fmt.bits < 8;
                // numpy's companion is the ml_dtypes release; ml_dtypes has none
                let md = self.companion.unwrap_or(self.release);
                if sub_byte && float_source && md.rules.sub_byte_ints == SubByteInts::TruncateOrZero
                {
                    IntCastOptions {
                        rounding: RoundingMode::TowardZero,
                        overflow: IntOverflow::Zero,
                        nan: IntNan::Value(0),
                        seed: 0,
                        daz: false,
                    }
                } else {
                    c_cast(false)
                }
            }
        }
    }
}

/// Options a profile sets for one (source, target) pair; `None` leaves the
/// IEEE default. The caller's options win over every field (see
/// [`crate::policy`]), except the input transforms at the bottom, which
/// describe how the library reads its input rather than an option.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProfileRule {
    pub overflow: Option<Overflow>,
    pub nan: Option<NanPolicy>,
    /// Replaces nearest-even when the caller gives no rounding mode.
    pub rounding: Option<RoundingMode>,
    pub via_fp32: bool,
    pub abs_input: bool,
    pub zero_to_min: bool,
    pub f32_subnormal_ceil: bool,
    /// Unsigned formats: every negative input except −0 is out of range
    /// (NaN), even one that would round to zero.
    pub negative_is_nan: bool,
    /// Hardware profiles: FTZ/DAZ as the instruction applies them whatever
    /// MXCSR says (`None`: it follows MXCSR, i.e. the caller's ftz=/daz=).
    pub ftz: Option<bool>,
    pub daz: Option<bool>,
}

/// The e8m0 scale layout: zero-less, one value per power of two.
fn is_scale_format(f: &FloatFormat) -> bool {
    !f.has_zero && f.man_bits == 0
}

/// True when `f` has the layout of the built-in called `name`.
fn is(f: &FloatFormat, name: &str) -> bool {
    *f == *float_layout(name)
}

/// The x86 instructions (Intel SDM), as measured on the processor named in
/// the release (docs/verification/cpu.md). All of them quiet a NaN by
/// setting the quiet bit and keep the sign and the leading payload bits
/// (the engine's default), and overflow by the IEEE rule of the rounding
/// mode in force.
/// * F16C VCVTPS2PH ignores MXCSR.FTZ: tiny results stay subnormal halves.
///   It honours MXCSR.DAZ for its float32 inputs.
/// * AVX512_BF16 VCVTNEPS2BF16 ignores MXCSR: nearest even, float32
///   subnormal inputs read as ±0 (and its results are never subnormal).
/// * AVX512_FP16 conversions ignore MXCSR.FTZ for their float16 results
///   (float16 subnormals are always produced); they honour DAZ for
///   float32/float64 inputs.
/// * SSE follows MXCSR entirely (the caller's ftz=/daz=).
/// * AVX-NE-CONVERT (unverified): its VEX VCVTNEPS2BF16 is the AVX512_BF16
///   rule; its fp16/bf16 → float32 loads are exact and do not read DAZ.
/// * AVX10.2 FP8 (unverified): nearest even, MXCSR ignored (no DAZ, no
///   FTZ); overflow by the format's rule (E5M2: inf, E4M3: NaN) — the S
///   forms are `overflow="saturate"`.
fn x86_rule(library: Library, src: &FloatFormat) -> ProfileRule {
    let mut r = ProfileRule::default();
    let mxcsr_ignored = |r: &mut ProfileRule, flush: bool| {
        r.rounding = Some(RoundingMode::NearestEven);
        r.ftz = Some(flush);
        r.daz = Some(flush);
    };
    match library {
        Library::X86F16c | Library::X86Avx512Fp16 => r.ftz = Some(false),
        Library::X86Avx512Bf16 => mxcsr_ignored(&mut r, true),
        Library::X86AvxNeConvert => mxcsr_ignored(&mut r, is(src, "fp32")),
        Library::X86Avx10Fp8 => mxcsr_ignored(&mut r, false),
        _ => {}
    }
    r
}

/// ml_dtypes: NaNs become the signed default NaN; the e8m0 scale format
/// rounds ties away; formats without NaN (fp6, fp4) turn +NaN into −0 and
/// −NaN into +0; unsigned formats turn every negative input but −0 into NaN.
fn ml_dtypes_rule(dst: &FloatFormat) -> ProfileRule {
    let mut r = ProfileRule {
        nan: Some(NanPolicy::SignedCanonical),
        negative_is_nan: !dst.signed,
        ..Default::default()
    };
    if is_scale_format(dst) {
        r.rounding = Some(RoundingMode::NearestAway);
    } else if dst.canonical_nan().is_none() && dst.signed {
        r.nan = Some(NanPolicy::PerSign {
            pos: dst.sign_bit(),
            neg: 0,
        });
    }
    r
}

/// torch: bf16 NaNs from the vectorised CPU kernel are all 0xffff (0x7fc0
/// from float16 sources); e4m3fn overflow follows the release; e5m2 NaNs
/// are ±0x7f; e8m0 ignores the sign, rounds ties away and maps 0 to 2^-127.
/// On CUDA the PTX cvt instructions return the canonical NaN 0x7fff for
/// bf16 and fp16.
fn torch_rule(
    src: &FloatFormat,
    dst: &FloatFormat,
    cuda: bool,
    rules: &ReleaseRules,
) -> ProfileRule {
    let mut r = ProfileRule::default();
    if (is(dst, "bf16") || is(dst, "fp16")) && cuda {
        r.nan = Some(NanPolicy::Bits(0x7fff));
    } else if is(dst, "bf16") {
        r.nan = Some(if is(src, "fp16") {
            NanPolicy::Canonical
        } else {
            NanPolicy::Bits(0xffff)
        });
    } else if is(dst, "fp8_e4m3fn") {
        r.overflow = Some(rules.e4m3fn_overflow);
    } else if is(dst, "fp8_e5m2") {
        r.nan = Some(NanPolicy::PerSign {
            pos: 0x7f,
            neg: 0xff,
        });
    } else if is(dst, "fp8_e8m0fnu") {
        r.rounding = Some(RoundingMode::NearestAway);
        r.abs_input = true;
        r.zero_to_min = true;
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::float_builtin;

    fn installed(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn unknown_profile_is_an_error() {
        assert!(Profile::parse("tensorflow", &[]).is_err());
        assert!(Profile::parse("ml_dtypes@0.3", &[]).is_err());
        assert!(Profile::parse("ml_dtypes@x", &[]).is_err());
        assert!(Profile::parse("ieee@1.0", &[]).is_err());
    }

    #[test]
    fn versions_choose_releases() {
        let p = Profile::parse("ml_dtypes@0.6", &[]).unwrap();
        assert!(p.release.rules.f64_via_f32);
        assert_eq!(p.name(), "ml_dtypes@0.6");
        let p = Profile::parse("ml_dtypes", &installed(&[("ml_dtypes", "0.7.0")])).unwrap();
        assert!(!p.release.rules.f64_via_f32);
        assert!(!p.guessed);
        let p = Profile::parse("ml_dtypes", &installed(&[("ml_dtypes", "0.9.1")])).unwrap();
        assert!(p.guessed);
        assert_eq!(p.release.last, None);
        let p = Profile::parse("torch-cpu@2.11", &[]).unwrap();
        assert_eq!(p.release.rules.e4m3fn_overflow, Overflow::Nan);
        let p = Profile::parse("torch-cpu", &installed(&[("torch", "2.15.0+cpu")])).unwrap();
        assert_eq!(p.release.rules.e4m3fn_overflow, Overflow::Saturate);
        let none = Profile::parse("ml_dtypes", &[]).unwrap();
        assert_eq!(
            none.release.last, None,
            "newest known when none is installed"
        );
    }

    #[test]
    fn torch_reads_float64_through_float32() {
        let f64f = float_builtin("fp64");
        let bf = float_builtin("bf16");
        let torch = Profile::parse("torch-cpu", &[]).unwrap();
        assert!(torch.float_rule(&f64f, &bf).via_fp32);
        assert!(!Profile::ieee().float_rule(&f64f, &bf).via_fp32);
    }

    #[test]
    fn rules_follow_the_layout_not_the_name() {
        let torch = Profile::parse("torch-cpu", &[]).unwrap();
        let f32f = float_builtin("fp32");
        let renamed = FloatFormat {
            name: "my_bf16".into(),
            ..float_builtin("bf16")
        };
        assert_eq!(
            torch.float_rule(&f32f, &renamed),
            torch.float_rule(&f32f, &float_builtin("bf16"))
        );
    }
}
