//! Format specs and options as they cross from Python: plain tuples and
//! strings, validated by the core.

use pyo3::prelude::*;
use pyo3::types::PyDict;
use qformat_core::format::{builtins, FloatFormat, Format, IntFormat};
use qformat_core::options::{EncodeOptions, NanPolicy, Overflow};
use qformat_core::profile::{rule, PROFILES};
use qformat_core::{NanEncoding, RoundingMode};

use crate::errors::to_py;

/// `(name, exp_bits, man_bits, bias, signed, has_inf, nan, has_zero)`.
pub type FloatTuple = (String, u32, u32, i32, bool, bool, String, bool);

/// Rebuild (and re-validate) a float format from its tuple.
pub fn float_from_tuple(t: &FloatTuple) -> PyResult<FloatFormat> {
    let (name, e, m, bias, signed, inf, nan, zero) = t;
    let nan = NanEncoding::parse(nan).map_err(to_py)?;
    FloatFormat::new(Some(name), *e, *m, Some(*bias), *signed, *inf, nan, *zero).map_err(to_py)
}

fn float_tuple(f: &FloatFormat) -> FloatTuple {
    (
        f.name.clone(),
        f.exp_bits,
        f.man_bits,
        f.bias,
        f.signed,
        f.has_inf,
        f.nan.name().to_string(),
        f.has_zero,
    )
}

/// Validate a custom float format; returns its normalised tuple.
#[pyfunction]
#[pyo3(signature = (exp_bits, man_bits, bias, signed, inf, nan, zero, name))]
#[allow(clippy::too_many_arguments)]
fn float_format(
    exp_bits: u32,
    man_bits: u32,
    bias: Option<i32>,
    signed: bool,
    inf: bool,
    nan: &str,
    zero: bool,
    name: Option<&str>,
) -> PyResult<FloatTuple> {
    let nan = NanEncoding::parse(nan).map_err(to_py)?;
    let f =
        FloatFormat::new(name, exp_bits, man_bits, bias, signed, inf, nan, zero).map_err(to_py)?;
    Ok(float_tuple(&f))
}

/// Validate a custom integer format; returns `(name, bits, signed)`.
#[pyfunction]
#[pyo3(signature = (bits, signed, name))]
fn int_format(bits: u32, signed: bool, name: Option<&str>) -> PyResult<(String, u32, bool)> {
    let f = IntFormat::new(name, bits, signed).map_err(to_py)?;
    Ok((f.name, f.bits, f.signed))
}

/// `(max_code, inf_code, canonical_nan, sign_bit, emin, emax)`.
type FloatLimits = (u64, Option<u64>, Option<u64>, u64, i64, i64);

/// Key patterns of a float format: `(max_code, inf_code, canonical_nan,
/// sign_bit, emin, emax)`; codes are magnitudes, `None` where absent.
#[pyfunction]
fn float_limits(spec: FloatTuple) -> PyResult<FloatLimits> {
    let f = float_from_tuple(&spec)?;
    Ok((
        f.max_code(),
        f.inf_code(),
        f.canonical_nan(),
        f.sign_bit(),
        f.emin(),
        f.emax(),
    ))
}

/// The built-in table: a list of `(name, aliases, kind, spec_tuple)`.
#[pyfunction]
fn builtin_table(py: Python<'_>) -> PyResult<Vec<Py<PyAny>>> {
    builtins()
        .into_iter()
        .map(|b| {
            let aliases: Vec<&str> = b.aliases.to_vec();
            let obj = match b.format {
                Format::Float(f) => (b.name, aliases, "float", float_tuple(&f))
                    .into_pyobject(py)?
                    .into_any()
                    .unbind(),
                Format::Int(i) => (b.name, aliases, "int", (i.name, i.bits, i.signed))
                    .into_pyobject(py)?
                    .into_any()
                    .unbind(),
            };
            Ok(obj)
        })
        .collect()
}

/// Every profile with the library it mimics and what it was verified on.
#[pyfunction]
fn profile_table(py: Python<'_>) -> PyResult<Vec<Bound<'_, PyDict>>> {
    PROFILES
        .iter()
        .map(|p| {
            let d = PyDict::new(py);
            d.set_item("name", p.name)?;
            d.set_item("library", p.library)?;
            d.set_item("verified_on", p.verified_on)?;
            d.set_item("verified", p.verified)?;
            Ok(d)
        })
        .collect()
}

/// A `nan=` argument: a policy name or an exact bit pattern.
#[derive(FromPyObject)]
pub enum NanArg {
    Bits(u64),
    Name(String),
}

/// The rounding mode named `name`; stochastic rounding needs a seed so
/// that results are reproducible. Every option reader parses through here.
pub fn rounding_mode(name: &str, seed: Option<u64>) -> Result<RoundingMode, qformat_core::Error> {
    let mode = RoundingMode::parse(name)?;
    if mode == RoundingMode::Stochastic && seed.is_none() {
        return Err(qformat_core::Error::invalid(
            "rounding='stochastic' needs seed=<int> so that results are reproducible",
        ));
    }
    Ok(mode)
}

/// Conversion options exactly as the Python API takes them (a dict).
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
pub struct OptionArgs {
    pub rounding: String,
    pub subnormals: Option<bool>,
    pub overflow: Option<String>,
    pub nan: Option<NanArg>,
    pub profile: String,
    pub seed: Option<u64>,
}

impl OptionArgs {
    /// Merge the profile's rule for (src → dst) with the explicit options.
    pub fn resolve(&self, src: &FloatFormat, dst: &FloatFormat) -> PyResult<EncodeOptions> {
        let mut rounding = rounding_mode(&self.rounding, self.seed).map_err(to_py)?;
        let r = rule(&self.profile, src, dst).map_err(to_py)?;
        if rounding == RoundingMode::NearestEven {
            rounding = r.rounding.unwrap_or(rounding);
        }
        let overflow = match &self.overflow {
            Some(s) => Overflow::parse(s).map_err(to_py)?,
            None => r.overflow.unwrap_or(Overflow::FormatRule),
        };
        let nan = match &self.nan {
            Some(NanArg::Bits(b)) => NanPolicy::Bits(*b),
            Some(NanArg::Name(s)) => NanPolicy::parse(s).map_err(to_py)?,
            None => r.nan.unwrap_or(NanPolicy::Quiet),
        };
        let opts = EncodeOptions {
            rounding,
            subnormals: self.subnormals.or(r.subnormals).unwrap_or(true),
            overflow,
            nan,
            seed: self.seed.unwrap_or(0),
            via_fp32: r.via_fp32,
            abs_input: r.abs_input,
            zero_to_min: r.zero_to_min,
            f32_subnormal_ceil: r.f32_subnormal_ceil,
        };
        opts.validate_for(dst).map_err(to_py)?;
        Ok(opts)
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(float_format, m)?)?;
    m.add_function(wrap_pyfunction!(int_format, m)?)?;
    m.add_function(wrap_pyfunction!(builtin_table, m)?)?;
    m.add_function(wrap_pyfunction!(float_limits, m)?)?;
    m.add_function(wrap_pyfunction!(profile_table, m)?)?;
    Ok(())
}
