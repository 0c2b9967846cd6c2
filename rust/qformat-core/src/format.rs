//! Number formats as data: a float format is a handful of fields, an integer
//! format two. Every conversion kernel is driven by these fields (the
//! ml_dtypes idea: one template, per-format traits), so a custom `ExMy`
//! format gets exactly the same treatment as a built-in one.

use crate::error::Error;

/// How (and whether) a float format encodes NaN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NanEncoding {
    /// IEEE 754: all-ones exponent with a non-zero fraction (sign and payload kept).
    Ieee,
    /// "finite" formats (OCP fp8 e4m3fn, e8m0fnu): only the all-ones pattern
    /// (with either sign) is NaN; the rest of the top binade is finite.
    Fn,
    /// "finite, unsigned zero" formats (fnuz): the negative-zero pattern is the one NaN.
    Fnuz,
    /// No NaN at all (fp6, fp4).
    None,
}

impl NanEncoding {
    /// Parse the API's spelling ("ieee" | "fn" | "fnuz" | "none").
    pub fn parse(s: &str) -> Result<Self, Error> {
        match s {
            "ieee" => Ok(Self::Ieee),
            "fn" => Ok(Self::Fn),
            "fnuz" => Ok(Self::Fnuz),
            "none" => Ok(Self::None),
            _ => Err(Error::invalid(format!(
                "nan encoding must be 'ieee', 'fn', 'fnuz' or 'none', not {s:?}"
            ))),
        }
    }

    /// The API's spelling of this encoding.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ieee => "ieee",
            Self::Fn => "fn",
            Self::Fnuz => "fnuz",
            Self::None => "none",
        }
    }
}

/// A binary floating-point format: `[sign] exponent fraction`.
///
/// Value of a finite pattern with biased exponent `b` and fraction `f`:
/// `(1 + f/2^m) * 2^(b - bias)` for `b >= 1` and `f/2^m * 2^(1 - bias)` for
/// `b == 0` (subnormal), except in formats without zero (`has_zero == false`,
/// e8m0fnu) where `b == 0` is an ordinary normal binade.
///
/// `exp_bits == 0` is the same rule with no exponent field: `b` is always 0,
/// so every non-zero code is subnormal and the format is one fixed-point
/// grid `f * 2^(1 - bias - m)` (P3109's signed P = K formats). Nothing in
/// the rule changes, which is why the encoder, the rounding modes and the
/// overflow projections need no special case: a value of `2^emin` or more
/// is simply past the largest code.
///
/// Two formats are equal (and hash alike) when their layouts are: the name
/// is a label, so every rule that compares formats compares layouts.
#[derive(Clone, Debug)]
pub struct FloatFormat {
    pub name: String,
    pub exp_bits: u32,
    pub man_bits: u32,
    pub bias: i32,
    pub signed: bool,
    pub has_inf: bool,
    pub nan: NanEncoding,
    /// False only for scale formats such as e8m0fnu whose zero pattern is 2^-bias.
    pub has_zero: bool,
}

impl FloatFormat {
    /// Every field but the name.
    fn layout(&self) -> (u32, u32, i32, bool, bool, NanEncoding, bool) {
        (
            self.exp_bits,
            self.man_bits,
            self.bias,
            self.signed,
            self.has_inf,
            self.nan,
            self.has_zero,
        )
    }
}

impl PartialEq for FloatFormat {
    fn eq(&self, other: &Self) -> bool {
        self.layout() == other.layout()
    }
}
impl Eq for FloatFormat {}
impl std::hash::Hash for FloatFormat {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.layout().hash(state)
    }
}

impl PartialEq for IntFormat {
    fn eq(&self, other: &Self) -> bool {
        (self.bits, self.signed) == (other.bits, other.signed)
    }
}
impl Eq for IntFormat {}
impl std::hash::Hash for IntFormat {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (self.bits, self.signed).hash(state)
    }
}

impl FloatFormat {
    /// Build and validate a float format. `bias=None` is the IEEE bias
    /// `2^(e-1) - 1`, plus one for fnuz formats. One argument per field.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        name: Option<&str>,
        exp_bits: u32,
        man_bits: u32,
        bias: Option<i32>,
        signed: bool,
        has_inf: bool,
        nan: NanEncoding,
        has_zero: bool,
    ) -> Result<Self, Error> {
        if exp_bits > 11 {
            return Err(Error::invalid(format!(
                "exp_bits must be between 0 and 11, got {exp_bits}"
            )));
        }
        if exp_bits == 0 && !has_zero {
            return Err(Error::invalid(
                "zero=False makes the all-zero exponent an ordinary binade; with exp_bits=0 \
                 there is no exponent field to hold it",
            ));
        }
        if man_bits > 52 {
            return Err(Error::invalid(format!(
                "man_bits must be between 0 and 52, got {man_bits}"
            )));
        }
        let bits = exp_bits + man_bits + signed as u32;
        if bits > 64 {
            return Err(Error::invalid(format!(
                "a format holds at most 64 bits, this one needs {bits}"
            )));
        }
        if bits < 2 {
            return Err(Error::invalid("a float format needs at least 2 bits"));
        }
        if has_inf && nan == NanEncoding::None {
            return Err(Error::invalid(
                "inf=True needs a NaN encoding: 'ieee' (all-ones exponent), or 'fn'/'fnuz' \
                 (P3109-style: ±inf at the top magnitude codes)",
            ));
        }
        if nan == NanEncoding::Ieee && man_bits == 0 {
            return Err(Error::invalid(
                "nan='ieee' needs at least one fraction bit to tell NaN from inf",
            ));
        }
        if nan == NanEncoding::Ieee && !has_inf {
            return Err(Error::invalid(
                "nan='ieee' reserves the all-ones exponent for inf and NaN: use inf=True, or nan='fn'",
            ));
        }
        if nan == NanEncoding::Fnuz && !signed {
            return Err(Error::invalid(
                "nan='fnuz' uses the negative-zero pattern, which needs a sign bit",
            ));
        }
        if nan == NanEncoding::Ieee && exp_bits < 2 {
            return Err(Error::invalid(format!(
                "nan='ieee' reserves the all-ones exponent for inf and NaN, which with \
                 {exp_bits} exponent bit(s) leaves no finite normal numbers: use nan='fn', \
                 'fnuz' or 'none'"
            )));
        }
        let default_bias = default_bias(exp_bits, nan);
        let bias = bias.unwrap_or(default_bias);
        if bias.unsigned_abs() > 1 << 20 {
            return Err(Error::invalid(format!("bias {bias} is out of range")));
        }
        let mut fmt = Self {
            name: name.unwrap_or_default().to_string(),
            exp_bits,
            man_bits,
            bias,
            signed,
            has_inf,
            nan,
            has_zero,
        };
        if fmt.max_code() == 0 {
            return Err(Error::invalid("this format has no non-zero finite value"));
        }
        // Values are decoded exactly into float64: every one must be finite
        // and non-zero there (2^-1074 ..< 2^1024).
        let lowest = fmt.emin() - if has_zero { man_bits as i64 } else { 0 };
        if fmt.emax() > 1023 || lowest < -1074 {
            return Err(Error::invalid(format!(
                "bias {bias} puts this format's values outside float64 (largest 2^{}, \
                 smallest 2^{lowest}; float64 holds 2^-1074 to 2^1023): choose a bias that keeps \
                 them in range",
                fmt.emax()
            )));
        }
        if name.is_none() {
            fmt.name = fmt.automatic_name(default_bias);
        }
        Ok(fmt)
    }

    /// The name of an unnamed format: a built-in's canonical name where the
    /// layout is a built-in's, else `[u]e<E>m<M>[fn|fnuz|fn_nonan][_b<bias>][_nozero]`,
    /// with the bias spelled out whenever the short form is a built-in's
    /// name or alias ("e4m3" is fp8_e4m3fn's alias, so the IEEE-style
    /// FloatFormat(4, 3) is "e4m3_b7"). Names therefore never collide.
    fn automatic_name(&self, default_bias: i32) -> String {
        if let Some(b) = table()
            .iter()
            .find(|b| b.format == Format::Float(self.clone()))
        {
            return b.name.to_string();
        }
        let nan = match self.nan {
            NanEncoding::Ieee => "",
            NanEncoding::Fn => "fn",
            NanEncoding::Fnuz => "fnuz",
            NanEncoding::None => "fn_nonan",
        };
        let zero = match (self.has_zero, self.has_inf && self.nan != NanEncoding::Ieee) {
            (true, false) => "",
            (true, true) => "_inf",
            (false, false) => "_nozero",
            (false, true) => "_inf_nozero",
        };
        let sign = if self.signed { "" } else { "u" };
        let (e, m, bias) = (self.exp_bits, self.man_bits, self.bias);
        let short = format!("{sign}e{e}m{m}{nan}");
        if bias == default_bias && !is_taken(&format!("{short}{zero}")) {
            format!("{short}{zero}")
        } else {
            format!("{short}_b{bias}{zero}")
        }
    }

    /// Total width in bits.
    pub fn bits(&self) -> u32 {
        self.exp_bits + self.man_bits + self.signed as u32
    }

    /// Mask of the magnitude (exponent and fraction) field.
    pub fn magnitude_mask(&self) -> u64 {
        low_mask(self.exp_bits + self.man_bits)
    }

    /// The sign bit, or 0 for unsigned formats.
    pub fn sign_bit(&self) -> u64 {
        if self.signed {
            1u64 << (self.exp_bits + self.man_bits)
        } else {
            0
        }
    }

    /// Largest finite magnitude code (exponent and fraction fields together).
    /// Magnitude codes are ordered like the values they encode.
    pub fn max_code(&self) -> u64 {
        match self.nan {
            NanEncoding::Ieee => (low_mask(self.exp_bits) << self.man_bits) - 1,
            // saturating: too few codes for NaN and inf leaves no finite value (rejected by `new`)
            _ => self.top_finite_or_inf().saturating_sub(self.has_inf as u64),
        }
    }

    /// Magnitude code of infinity, where the format has one: the all-ones
    /// exponent in IEEE formats; otherwise (P3109's extended formats) the
    /// largest magnitude code that is not NaN.
    pub fn inf_code(&self) -> Option<u64> {
        self.has_inf.then(|| match self.nan {
            NanEncoding::Ieee => low_mask(self.exp_bits) << self.man_bits,
            _ => self.top_finite_or_inf(),
        })
    }

    /// The largest magnitude code that is not NaN in a non-IEEE encoding.
    fn top_finite_or_inf(&self) -> u64 {
        let all = self.magnitude_mask();
        match self.nan {
            NanEncoding::Fn => all.saturating_sub(1),
            _ => all,
        }
    }

    /// Smallest biased exponent of a normal number: 1, or 0 without zero.
    pub fn min_normal_biased(&self) -> i64 {
        self.has_zero as i64
    }

    /// Unbiased exponent of the smallest normal binade.
    pub fn emin(&self) -> i64 {
        self.min_normal_biased() - self.bias as i64
    }

    /// Unbiased exponent of the largest finite binade.
    pub fn emax(&self) -> i64 {
        (self.max_code() >> self.man_bits) as i64 - self.bias as i64
    }

    /// The format's default (positive where possible) NaN pattern, if it has one.
    pub fn canonical_nan(&self) -> Option<u64> {
        match self.nan {
            NanEncoding::Ieee => {
                Some((low_mask(self.exp_bits) << self.man_bits) | (1u64 << (self.man_bits - 1)))
            }
            NanEncoding::Fn => Some(self.magnitude_mask()),
            NanEncoding::Fnuz => Some(self.sign_bit()),
            NanEncoding::None => None,
        }
    }

    /// True if `bits` is a NaN pattern of this format.
    pub fn is_nan(&self, bits: u64) -> bool {
        let mag = bits & self.magnitude_mask();
        match self.nan {
            NanEncoding::Ieee => mag > self.inf_code().unwrap_or(u64::MAX),
            NanEncoding::Fn => mag == self.magnitude_mask(),
            NanEncoding::Fnuz => {
                bits & (self.sign_bit() | self.magnitude_mask()) == self.sign_bit()
            }
            NanEncoding::None => false,
        }
    }

    /// True if the format can store a negative zero.
    pub fn has_negative_zero(&self) -> bool {
        self.signed && self.has_zero && self.nan != NanEncoding::Fnuz
    }
}

/// A two's-complement (signed) or unsigned binary integer format; equal
/// when the width and signedness are.
#[derive(Clone, Debug)]
pub struct IntFormat {
    pub name: String,
    pub bits: u32,
    pub signed: bool,
}

impl IntFormat {
    /// Build and validate an integer format of 2..=64 bits.
    pub fn new(name: Option<&str>, bits: u32, signed: bool) -> Result<Self, Error> {
        if !(1..=64).contains(&bits) {
            return Err(Error::invalid(format!(
                "integer formats have 1 to 64 bits, got {bits}"
            )));
        }
        let name = name
            .map(str::to_string)
            .unwrap_or_else(|| format!("{}int{bits}", if signed { "" } else { "u" }));
        Ok(Self { name, bits, signed })
    }

    /// Smallest representable integer.
    pub fn min(&self) -> i128 {
        if self.signed {
            -(1i128 << (self.bits - 1))
        } else {
            0
        }
    }

    /// Largest representable integer.
    pub fn max(&self) -> i128 {
        if self.signed {
            (1i128 << (self.bits - 1)) - 1
        } else {
            (1i128 << self.bits) - 1
        }
    }
}

/// Any supported format.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    Float(FloatFormat),
    Int(IntFormat),
}

impl Format {
    /// Canonical name.
    pub fn name(&self) -> &str {
        match self {
            Format::Float(f) => &f.name,
            Format::Int(f) => &f.name,
        }
    }
}

/// The bias a format gets when none is given: IEEE's `2^(e-1) - 1`, one
/// more for fnuz formats (whose negative-zero pattern is NaN, as in
/// fp8_e4m3fnuz). With no exponent field IEEE's formula would be -1/2,
/// which means nothing; 0 is the bias gfloat and the P3109 interim report
/// give signed P = K formats (`floor(2^(K-P-1))`), and it puts the grid's
/// quantum at `2^(1-m)`, so the magnitudes are `[0, 2)` like the subnormals
/// of a format whose smallest normal is 2.
fn default_bias(exp_bits: u32, nan: NanEncoding) -> i32 {
    match exp_bits {
        0 => 0,
        e => (1i32 << (e - 1)) - 1 + (nan == NanEncoding::Fnuz) as i32,
    }
}

/// `2^n - 1` for `n` in `0..=64`.
pub fn low_mask(n: u32) -> u64 {
    if n >= 64 {
        u64::MAX
    } else {
        (1u64 << n) - 1
    }
}

/// One row of the built-in table: canonical name, aliases, and the format.
pub struct Builtin {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub format: Format,
}

fn float(
    name: &str,
    e: u32,
    m: u32,
    bias: Option<i32>,
    signed: bool,
    inf: bool,
    nan: NanEncoding,
) -> Format {
    Format::Float(
        FloatFormat::new(Some(name), e, m, bias, signed, inf, nan, true)
            .expect("built-in formats are valid"),
    )
}

fn int(name: &str, bits: u32, signed: bool) -> Format {
    Format::Int(IntFormat::new(Some(name), bits, signed).expect("built-in formats are valid"))
}

/// Every built-in format with its aliases, in the order `formats()` lists them.
pub fn builtins() -> Vec<Builtin> {
    use NanEncoding as N;
    let mut e8m0 = FloatFormat::new(
        Some("fp8_e8m0fnu"),
        8,
        0,
        Some(127),
        false,
        false,
        N::Fn,
        true,
    )
    .expect("e8m0fnu is valid");
    e8m0.has_zero = false;
    vec![
        Builtin {
            name: "fp64",
            aliases: &["float64", "binary64", "double", "f64"],
            format: float("fp64", 11, 52, None, true, true, N::Ieee),
        },
        Builtin {
            name: "fp32",
            aliases: &["float32", "binary32", "single", "f32", "float"],
            format: float("fp32", 8, 23, None, true, true, N::Ieee),
        },
        Builtin {
            name: "tf32",
            aliases: &["tensorfloat32", "tensorfloat-32"],
            format: float("tf32", 8, 10, None, true, true, N::Ieee),
        },
        Builtin {
            name: "fp16",
            aliases: &["float16", "binary16", "half", "f16"],
            format: float("fp16", 5, 10, None, true, true, N::Ieee),
        },
        Builtin {
            name: "bf16",
            aliases: &["bfloat16", "brain_float16"],
            format: float("bf16", 8, 7, None, true, true, N::Ieee),
        },
        Builtin {
            name: "fp8_e4m3fn",
            aliases: &["e4m3fn", "float8_e4m3fn", "e4m3", "fp8_e4m3"],
            format: float("fp8_e4m3fn", 4, 3, None, true, false, N::Fn),
        },
        Builtin {
            name: "fp8_e4m3fnuz",
            aliases: &["float8_e4m3fnuz", "e4m3fnuz"],
            format: float("fp8_e4m3fnuz", 4, 3, None, true, false, N::Fnuz),
        },
        Builtin {
            name: "fp8_e5m2",
            aliases: &["e5m2", "float8_e5m2"],
            format: float("fp8_e5m2", 5, 2, None, true, true, N::Ieee),
        },
        Builtin {
            name: "fp8_e5m2fnuz",
            aliases: &["float8_e5m2fnuz", "e5m2fnuz"],
            format: float("fp8_e5m2fnuz", 5, 2, None, true, false, N::Fnuz),
        },
        Builtin {
            name: "fp8_e8m0fnu",
            aliases: &["e8m0", "float8_e8m0fnu", "e8m0fnu"],
            format: Format::Float(e8m0),
        },
        Builtin {
            name: "fp8_e5m3fnu",
            aliases: &["float8_e5m3fnu", "e5m3fnu"],
            format: float("fp8_e5m3fnu", 5, 3, Some(15), false, false, N::Fn),
        },
        Builtin {
            name: "fp8_e4m3_ieee",
            aliases: &["float8_e4m3"],
            format: float("fp8_e4m3_ieee", 4, 3, None, true, true, N::Ieee),
        },
        Builtin {
            name: "fp8_e3m4",
            aliases: &["float8_e3m4", "e3m4"],
            format: float("fp8_e3m4", 3, 4, None, true, true, N::Ieee),
        },
        Builtin {
            name: "fp8_e4m3b11fnuz",
            aliases: &["float8_e4m3b11fnuz", "e4m3b11fnuz"],
            format: float("fp8_e4m3b11fnuz", 4, 3, Some(11), true, false, N::Fnuz),
        },
        Builtin {
            name: "fp6_e2m3fn",
            aliases: &["float6_e2m3fn", "e2m3fn", "e2m3"],
            format: float("fp6_e2m3fn", 2, 3, None, true, false, N::None),
        },
        Builtin {
            name: "fp6_e3m2fn",
            aliases: &["float6_e3m2fn", "e3m2fn", "e3m2"],
            format: float("fp6_e3m2fn", 3, 2, None, true, false, N::None),
        },
        Builtin {
            name: "fp4_e2m1fn",
            aliases: &["e2m1", "float4_e2m1fn", "e2m1fn", "fp4"],
            format: float("fp4_e2m1fn", 2, 1, None, true, false, N::None),
        },
        Builtin {
            name: "int1",
            aliases: &[],
            format: int("int1", 1, true),
        },
        Builtin {
            name: "int2",
            aliases: &[],
            format: int("int2", 2, true),
        },
        Builtin {
            name: "int4",
            aliases: &[],
            format: int("int4", 4, true),
        },
        Builtin {
            name: "int8",
            aliases: &["i8"],
            format: int("int8", 8, true),
        },
        Builtin {
            name: "int16",
            aliases: &["i16"],
            format: int("int16", 16, true),
        },
        Builtin {
            name: "int32",
            aliases: &["i32"],
            format: int("int32", 32, true),
        },
        Builtin {
            name: "uint1",
            aliases: &[],
            format: int("uint1", 1, false),
        },
        Builtin {
            name: "uint2",
            aliases: &[],
            format: int("uint2", 2, false),
        },
        Builtin {
            name: "uint4",
            aliases: &[],
            format: int("uint4", 4, false),
        },
        Builtin {
            name: "uint8",
            aliases: &["u8"],
            format: int("uint8", 8, false),
        },
        Builtin {
            name: "uint16",
            aliases: &["u16"],
            format: int("uint16", 16, false),
        },
    ]
}

/// The built-in table, built once.
fn table() -> &'static [Builtin] {
    static TABLE: std::sync::OnceLock<Vec<Builtin>> = std::sync::OnceLock::new();
    TABLE.get_or_init(builtins)
}

/// Look a built-in up by canonical name or alias (case-insensitive).
pub fn builtin(name: &str) -> Option<Format> {
    let key = name.trim().to_ascii_lowercase();
    table()
        .iter()
        .find(|b| b.name == key || b.aliases.contains(&key.as_str()))
        .map(|b| b.format.clone())
}

/// True when `name` is a built-in's name or alias.
fn is_taken(name: &str) -> bool {
    table()
        .iter()
        .any(|b| b.name == name || b.aliases.contains(&name))
}

/// The layout of the built-in float format `name`, for rules that compare
/// a format with a built-in (by layout: see `FloatFormat`'s `==`). Panics
/// on a typo (internal use only).
pub fn float_layout(name: &str) -> &'static FloatFormat {
    table()
        .iter()
        .find_map(|b| match &b.format {
            Format::Float(f) if b.name == name => Some(f),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no built-in float format {name}"))
}

/// Built-in float format by name; panics on a typo (internal use only).
pub fn float_builtin(name: &str) -> FloatFormat {
    match builtin(name) {
        Some(Format::Float(f)) => f,
        _ => panic!("no built-in float format {name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_codes() {
        let f32f = float_builtin("fp32");
        assert_eq!(f32f.max_code(), 0x7f7f_ffff);
        assert_eq!(f32f.inf_code(), Some(0x7f80_0000));
        assert_eq!(f32f.canonical_nan(), Some(0x7fc0_0000));
        let e4 = float_builtin("fp8_e4m3fn");
        assert_eq!(e4.max_code(), 0x7e);
        assert_eq!(e4.emax(), 8);
        let fnuz = float_builtin("fp8_e4m3fnuz");
        assert_eq!(fnuz.bias, 8);
        assert!(fnuz.is_nan(0x80));
        assert!(!fnuz.is_nan(0x00));
        let e8 = float_builtin("e8m0");
        assert_eq!(e8.max_code(), 0xfe);
        assert_eq!(e8.emin(), -127);
        assert_eq!(e8.emax(), 127);
        let fp4 = float_builtin("fp4_e2m1fn");
        assert_eq!(fp4.max_code(), 7);
        assert_eq!(fp4.bias, 1);
    }

    #[test]
    fn rejects_impossible_formats() {
        assert!(FloatFormat::new(None, 0, 3, None, true, true, NanEncoding::Ieee, true).is_err());
        assert!(FloatFormat::new(None, 0, 3, None, true, true, NanEncoding::Fn, false).is_err());
        assert!(FloatFormat::new(None, 0, 0, None, true, false, NanEncoding::None, true).is_err());
        assert!(FloatFormat::new(None, 0, 3, None, true, false, NanEncoding::None, true).is_ok());
        assert!(FloatFormat::new(None, 11, 53, None, true, true, NanEncoding::Ieee, true).is_err());
        assert!(FloatFormat::new(None, 4, 0, None, true, true, NanEncoding::Ieee, true).is_err());
        assert!(FloatFormat::new(None, 4, 3, None, true, true, NanEncoding::None, true).is_err());
        assert!(IntFormat::new(None, 65, true).is_err());
    }
}
