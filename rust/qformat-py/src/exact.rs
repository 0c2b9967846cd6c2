//! Exact queries: number text (or a rational) rounded into a float format
//! with the exactness / overflow / underflow flags, the exact decimal of a
//! stored pattern, and the shortest decimal that reads back to it. The
//! numerics are `qformat_core::text`; this file only converts arguments.

use numpy::{PyArray1, PyArrayMethods};
use pyo3::prelude::*;
use qformat_core::engine::encode::Outcome;
use qformat_core::engine::random::seeded_addend;
use qformat_core::format::{float_builtin, FloatFormat};
use qformat_core::policy::profile::Profile;
use qformat_core::policy::resolve::{self, CallerOptions};
use qformat_core::text::print;
use qformat_core::text::read::{self, Number};
use qformat_core::{EncodeOptions, Error, Value};
use rayon::prelude::*;

use crate::errors::{detached, to_py};
use crate::formats::FloatArg;
use crate::specs::{rounding_mode, ProfileArg};

/// Options for an exact query: a rounding mode (IEEE defaults otherwise).
fn query_options(rounding: &str, seed: Option<u64>) -> Result<EncodeOptions, Error> {
    Ok(EncodeOptions {
        rounding: rounding_mode(rounding, seed)?,
        seed: seed.unwrap_or(0),
        ..EncodeOptions::default()
    })
}

/// The MXCSR state of an exact query (`explain`): the caller's ftz=/daz=,
/// else what `profile` says its instruction does, else clear. The exact
/// value is read as a float64 source (as C reads a literal), so DAZ zeroes
/// values below float64's smallest normal.
#[derive(Clone, Copy, Default)]
pub struct Mxcsr {
    ftz: bool,
    daz: bool,
}

impl Mxcsr {
    fn resolve(
        profile: Option<&ProfileArg>,
        ftz: Option<bool>,
        daz: Option<bool>,
        fmt: &FloatFormat,
    ) -> Result<Self, Error> {
        let caller = CallerOptions {
            ftz,
            daz,
            ..Default::default()
        };
        let p = profile.map(|p| p.0).unwrap_or_else(Profile::ieee);
        let o = resolve::float_options(&p, &caller, &float_builtin("fp64"), fmt)?;
        Ok(Mxcsr {
            ftz: o.ftz,
            daz: o.daz,
        })
    }

    fn apply(self, opts: &mut EncodeOptions, v: Value) -> Value {
        opts.ftz = self.ftz;
        match v {
            Value::Finite { neg, exp, .. } if self.daz && exp < -1022 => Value::Zero { neg },
            v => v,
        }
    }
}

/// `(bits, exact, overflow, underflow)` of an outcome.
type OutcomeTuple = (u64, bool, bool, bool);

fn outcome_tuple(o: Outcome) -> OutcomeTuple {
    (o.bits, o.exact, o.overflow, o.underflow)
}

/// Reject a NaN for a format that cannot store one.
fn check_nan(fmt: &FloatFormat, v: &Value) -> Result<(), Error> {
    if matches!(v, Value::Nan { .. }) && fmt.nan == qformat_core::NanEncoding::None {
        return Err(Error::invalid(format!(
            "{} has no NaN, so nan cannot be stored in it",
            fmt.name
        )));
    }
    Ok(())
}

/// Read `text` exactly and round it into `fmt`.
#[pyfunction]
#[pyo3(signature = (text, fmt, rounding="nearest_even", seed=None, profile=None, ftz=None, daz=None))]
#[allow(clippy::too_many_arguments)]
fn read_encode(
    py: Python<'_>,
    text: &str,
    fmt: FloatArg,
    rounding: &str,
    seed: Option<u64>,
    profile: Option<ProfileArg>,
    ftz: Option<bool>,
    daz: Option<bool>,
) -> PyResult<OutcomeTuple> {
    let csr = Mxcsr::resolve(profile.as_ref(), ftz, daz, &fmt.0).map_err(to_py)?;
    encode_query(py, &fmt, rounding, seed, csr, |f| {
        let v = read::read(text)?;
        check_nan(f, &v)?;
        Ok(v)
    })
}

/// Round the rational `±num/den` (both given as hex digits) into `fmt`.
#[pyfunction]
#[pyo3(signature = (neg, num_hex, den_hex, fmt, rounding="nearest_even", seed=None, profile=None, ftz=None, daz=None))]
#[allow(clippy::too_many_arguments)]
fn ratio_encode(
    py: Python<'_>,
    neg: bool,
    num_hex: &str,
    den_hex: &str,
    fmt: FloatArg,
    rounding: &str,
    seed: Option<u64>,
    profile: Option<ProfileArg>,
    ftz: Option<bool>,
    daz: Option<bool>,
) -> PyResult<OutcomeTuple> {
    let csr = Mxcsr::resolve(profile.as_ref(), ftz, daz, &fmt.0).map_err(to_py)?;
    encode_query(py, &fmt, rounding, seed, csr, |_| {
        read::ratio_from_hex(neg, num_hex, den_hex)
    })
}

/// The query behind [`read_encode`] and [`ratio_encode`], which differ only
/// in how the exact value is obtained (`value`, given the target format):
/// options first, then the value, then one rounding, all without the GIL.
fn encode_query(
    py: Python<'_>,
    fmt: &FloatArg,
    rounding: &str,
    seed: Option<u64>,
    csr: Mxcsr,
    value: impl FnOnce(&FloatFormat) -> Result<Value, Error> + Send,
) -> PyResult<OutcomeTuple> {
    let f = fmt.0.clone();
    detached(py, || {
        let mut opts = query_options(rounding, seed)?;
        let v = csr.apply(&mut opts, value(&f)?);
        Ok(outcome_tuple(f.encode_outcome(
            v,
            &opts,
            seeded_addend(opts.seed, 0),
        )))
    })
}

/// Read many newline-separated strings and round each into `fmt` (the
/// bulk path behind tests and tools). Element `i` of a stochastic rounding
/// uses draw `(seed, i)`, like `encode`.
#[pyfunction]
#[pyo3(signature = (text, fmt, rounding="nearest_even", seed=None))]
fn read_encode_many<'py>(
    py: Python<'py>,
    text: &str,
    fmt: FloatArg,
    rounding: &str,
    seed: Option<u64>,
) -> PyResult<Bound<'py, PyArray1<u64>>> {
    let f = fmt.0.clone();
    let bits = detached(py, || {
        let opts = query_options(rounding, seed)?;
        let lines: Vec<&str> = if text.is_empty() {
            Vec::new()
        } else {
            text.split('\n').collect()
        };
        lines
            .par_iter()
            .enumerate()
            .map(|(i, line)| {
                let v = read::read(line).map_err(|e| match e {
                    Error::Parse(m) => Error::Parse(format!("line {}: {m}", i + 1)),
                    other => other,
                })?;
                check_nan(&f, &v)?;
                Ok(f.encode(v, &opts, seeded_addend(opts.seed, i as u64)))
            })
            .collect::<Result<Vec<u64>, Error>>()
    })?;
    Ok(PyArray1::from_vec(py, bits))
}

/// Scan `text` without arithmetic: `(kind, neg, digits, radix, exp)` where
/// kind is "nan" | "inf" | "finite"; for finite numbers the value is
/// `±int(digits, radix) · (10 if radix == 10 else 2)^exp`, and `digits` is
/// None when digits were dropped (the exact value is then not available).
#[pyfunction]
fn scan_number(
    py: Python<'_>,
    text: &str,
) -> PyResult<(&'static str, bool, Option<String>, u32, i64)> {
    detached(py, || {
        Ok(match read::scan(text)? {
            Number::Nan { neg } => ("nan", neg, None, 10, 0),
            Number::Inf { neg } => ("inf", neg, None, 10, 0),
            Number::Finite {
                neg,
                radix,
                digits,
                exp,
                tail,
            } => {
                let ds = (!tail).then(|| {
                    let s: String = digits
                        .iter()
                        .map(|&d| char::from_digit(d as u32, radix).unwrap_or('0'))
                        .collect();
                    if s.is_empty() {
                        "0".to_string()
                    } else {
                        s
                    }
                });
                ("finite", neg, ds, radix, exp)
            }
        })
    })
}

/// Exact decimal expansion of the pattern `bits` of `fmt`.
#[pyfunction]
fn exact_decimal(py: Python<'_>, bits: u64, fmt: FloatArg) -> PyResult<String> {
    let f = fmt.0.clone();
    detached(py, || Ok(print::exact_decimal(&f, bits)))
}

/// Shortest decimal that reads back (nearest-even) to the pattern `bits`.
#[pyfunction]
fn shortest_decimal(py: Python<'_>, bits: u64, fmt: FloatArg) -> PyResult<String> {
    let f = fmt.0.clone();
    detached(py, || Ok(print::shortest_decimal(&f, bits)))
}

/// Shortest decimals of many patterns (a uint64 array), as a list of str.
#[pyfunction]
fn shortest_many(
    py: Python<'_>,
    bits: &Bound<'_, PyArray1<u64>>,
    fmt: FloatArg,
) -> PyResult<Vec<String>> {
    let f = fmt.0.clone();
    let ro = bits.readonly();
    let s = ro.as_slice()?;
    detached(py, || {
        Ok(s.par_iter()
            .map(|&b| print::shortest_decimal(&f, b))
            .collect())
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(read_encode, m)?)?;
    m.add_function(wrap_pyfunction!(ratio_encode, m)?)?;
    m.add_function(wrap_pyfunction!(read_encode_many, m)?)?;
    m.add_function(wrap_pyfunction!(scan_number, m)?)?;
    m.add_function(wrap_pyfunction!(exact_decimal, m)?)?;
    m.add_function(wrap_pyfunction!(shortest_decimal, m)?)?;
    m.add_function(wrap_pyfunction!(shortest_many, m)?)?;
    Ok(())
}
