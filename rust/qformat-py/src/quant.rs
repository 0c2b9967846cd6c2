//! Integer casts and quantization: flat contiguous arrays in, results
//! written in place, GIL released. All meaning lives in
//! `qformat_core::{fast::int, quant}`.

use numpy::{PyArray1, PyArrayMethods};
use pyo3::prelude::*;
use qformat_core::engine::int_cast::IntCastOptions;
use qformat_core::fast::int;
use qformat_core::fast::words::{Bits, IntWord};
use qformat_core::format::{float_builtin, FloatFormat, IntFormat};
use qformat_core::quant::dequantize::{dequantize, Elements};
use qformat_core::quant::{
    self, Arithmetic, FloatQuantOptions, Layout, ParamSpec, Pow2Rule, QuantOptions, RangeSource,
    ScaleRule, Scheme,
};
use qformat_core::{Error, RoundingMode};

use crate::arrays::{with_slice, with_slice_mut};
use crate::errors::{detached, to_py};
use crate::formats::{FloatArg, IntArg};
use crate::specs::{rounding_mode, OptionArgs};
use crate::{dispatch_ro, dispatch_rw};

fn invalid(msg: impl Into<String>) -> PyErr {
    to_py(Error::invalid(msg))
}

/// Integer-cast options from the `encode` option dict: resolved by the
/// core's policy layer (the caller's options, then the profile's rule).
fn int_options(
    o: &OptionArgs,
    nan_value: Option<i64>,
    fmt: &IntFormat,
    float_source: bool,
) -> PyResult<IntCastOptions> {
    let caller = o.caller(nan_value)?;
    qformat_core::policy::resolve::int_options(&o.profile.0, &caller, fmt, float_source)
        .map_err(to_py)
}

/// Cast float patterns (`src_fmt` given) or int64/uint64 integers to
/// integers of `fmt`: `encode` (no `out_fmt`) writes them as words of its
/// storage type, `round` (`out_fmt` given) as patterns of `out_fmt`.
#[pyfunction]
#[pyo3(signature = (src, src_fmt, out, fmt, opts, out_fmt=None, nan_value=None))]
#[allow(clippy::too_many_arguments)]
fn cast_to_int(
    py: Python<'_>,
    src: &Bound<'_, PyAny>,
    src_fmt: Option<FloatArg>,
    out: &Bound<'_, PyAny>,
    fmt: IntArg,
    opts: OptionArgs,
    out_fmt: Option<FloatArg>,
    nan_value: Option<i64>,
) -> PyResult<()> {
    let f = fmt.0.clone();
    let of = out_fmt.map(|a| a.0.clone());
    let o = int_options(&opts, nan_value, &f, src_fmt.is_some())?;
    match src_fmt {
        Some(t) => {
            let sf = t.0.clone();
            dispatch_ro!(src, s => dispatch_rw!(out, d => detached(py, || match &of {
                None => int::cast_float_slice(&sf, s, &f, d, &o),
                Some(of) => int::round_float_slice(&sf, s, &f, of, d, &o),
            })))
        }
        None => with_ints(
            src,
            |s| dispatch_rw!(out, d => detached(py, || cast_ints(s, &f, of.as_ref(), d, &o))),
            |s| dispatch_rw!(out, d => detached(py, || cast_ints(s, &f, of.as_ref(), d, &o))),
        ),
    }
}

/// [`cast_to_int`] of exact integers: their codes, or with `out_fmt` their
/// values as patterns of that float format.
fn cast_ints<I: IntWord, D: Bits>(
    s: &[I],
    f: &IntFormat,
    out_fmt: Option<&FloatFormat>,
    d: &mut [D],
    o: &IntCastOptions,
) -> Result<(), Error> {
    match out_fmt {
        None => int::cast_int_slice(s, f, d, o),
        Some(of) => int::round_int_slice(s, f, of, d, o),
    }
}

/// Call `signed` with an int64 array's slice, else `unsigned` with a uint64 one.
fn with_ints<R>(
    src: &Bound<'_, PyAny>,
    signed: impl FnOnce(&[i64]) -> PyResult<R>,
    unsigned: impl FnOnce(&[u64]) -> PyResult<R>,
) -> PyResult<R> {
    if let Ok(a) = src.cast::<PyArray1<i64>>() {
        let ro = a.readonly();
        signed(ro.as_slice()?)
    } else {
        with_slice::<u64, _>(src, unsigned)
    }
}

/// Call `$body` with `$x` bound to the float32 or float64 slice of `$obj`.
macro_rules! with_floats {
    ($obj:expr, $x:ident => $body:expr) => {
        if let Ok(a) = $obj.cast::<PyArray1<f32>>() {
            let ro = a.readonly();
            let $x = ro.as_slice()?;
            $body
        } else {
            let a = $obj.cast::<PyArray1<f64>>()?;
            let ro = a.readonly();
            let $x = ro.as_slice()?;
            $body
        }
    };
}

/// Call `$body` with `$x` the float32 or float64 slice of `$obj` and `$d`
/// the writable slice of `$out` of the same type (the fused passes write
/// in the input's float type).
macro_rules! with_float_io {
    ($obj:expr, $out:expr, $x:ident, $d:ident => $body:expr) => {
        if is_f32($obj) {
            with_slice::<f32, _>($obj, |$x| with_slice_mut::<f32, _>($out, |$d| $body))
        } else {
            with_slice::<f64, _>($obj, |$x| with_slice_mut::<f64, _>($out, |$d| $body))
        }
    };
}

/// How scales and zero points are chosen (a dict from Python).
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
struct ParamArgs {
    scheme: String,
    qmin: f64,
    qmax: f64,
    /// Round scales to this format …
    scale_format: Option<FloatArg>,
    /// … or make them OCP MX powers of two: `(emax_elem, frac_bits)`.
    pow2: Option<(i64, i64)>,
    /// How powers of two are chosen: `(rule, element man_bits, element max)`.
    scale_rule: (String, u32, f64),
    integer: bool,
    clip: Option<(f64, f64)>,
    percentile: Option<f64>,
    nan_ok: bool,
}

fn scheme(s: &str) -> PyResult<Scheme> {
    match s {
        "symmetric" => Ok(Scheme::Symmetric),
        "asymmetric" => Ok(Scheme::Asymmetric),
        _ => Err(invalid(format!(
            "scheme must be 'symmetric' or 'asymmetric', not {s:?}"
        ))),
    }
}

/// The power-of-two rule named as torchao's `ScaleCalculationMode`.
fn pow2_rule((name, man_bits, max): &(String, u32, f64)) -> PyResult<Pow2Rule> {
    match name.as_str() {
        "floor" => Ok(Pow2Rule::Floor),
        "ceil" => Ok(Pow2Rule::Ceil),
        "even" => Ok(Pow2Rule::Even {
            man_bits: *man_bits,
        }),
        "rceil" => Ok(Pow2Rule::RCeil { max: *max }),
        _ => Err(invalid(format!(
            "scale_rule must be 'floor', 'ceil', 'even' or 'rceil', not {name:?}"
        ))),
    }
}

impl ParamArgs {
    fn spec(&self, data: FloatFormat) -> PyResult<ParamSpec> {
        let rule = match (&self.pow2, &self.scale_format) {
            (Some((e, f)), _) => ScaleRule::Pow2 {
                emax_elem: *e,
                frac_bits: *f,
                rule: pow2_rule(&self.scale_rule)?,
            },
            (None, Some(t)) => ScaleRule::Round(t.0.clone()),
            (None, None) => ScaleRule::Round(data),
        };
        Ok(ParamSpec {
            scheme: scheme(&self.scheme)?,
            qmin: self.qmin,
            qmax: self.qmax,
            rule,
            integer: self.integer,
        })
    }

    fn source(&self) -> RangeSource {
        match (self.clip, self.percentile) {
            (Some((lo, hi)), _) => RangeSource::Clip(lo, hi),
            (None, Some(p)) => RangeSource::Percentile(p),
            _ => RangeSource::Extremes,
        }
    }
}

type ParamArrays<'py> = (Bound<'py, PyArray1<f64>>, Bound<'py, PyArray1<i64>>);

/// Scales (as float64) and zero points of `x` (flat, of `shape`).
#[pyfunction]
#[pyo3(signature = (x, shape, axis, group, spec))]
fn quant_params<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    shape: Vec<usize>,
    axis: Option<i64>,
    group: Option<usize>,
    spec: ParamArgs,
) -> PyResult<ParamArrays<'py>> {
    let l = Layout::new(&shape, axis, group).map_err(to_py)?;
    let src = spec.source();
    let (scales, zps) = with_floats!(x, xs => {
        let data = float_builtin(if is_f32(x) { "fp32" } else { "fp64" });
        let ps = spec.spec(data)?;
        detached(py, || quant::qparams(xs, &l, src, &ps, spec.nan_ok))?
    });
    Ok((PyArray1::from_vec(py, scales), PyArray1::from_vec(py, zps)))
}

fn is_f32(x: &Bound<'_, PyAny>) -> bool {
    x.cast::<PyArray1<f32>>().is_ok()
}

/// Options of the code pass (a dict from Python).
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
struct CodeArgs {
    rounding: String,
    seed: Option<u64>,
    arithmetic: String,
    qmin: i64,
    qmax: i64,
    nan: Option<i64>,
}

impl CodeArgs {
    fn rounding(&self) -> PyResult<RoundingMode> {
        rounding_mode(&self.rounding, self.seed).map_err(to_py)
    }

    fn int_options(&self) -> PyResult<QuantOptions> {
        let arithmetic = match self.arithmetic.as_str() {
            "exact" => Arithmetic::Exact,
            "torch" => Arithmetic::Torch,
            a => {
                return Err(invalid(format!(
                    "arithmetic must be 'exact' or 'torch', not {a:?}"
                )))
            }
        };
        Ok(QuantOptions {
            rounding: self.rounding()?,
            seed: self.seed.unwrap_or(0),
            arithmetic,
            qmin: self.qmin,
            qmax: self.qmax,
            nan: self.nan,
        })
    }

    fn float_options(&self) -> PyResult<FloatQuantOptions> {
        Ok(FloatQuantOptions {
            rounding: self.rounding()?,
            seed: self.seed.unwrap_or(0),
            nan: self.nan.map(|c| c as u64),
        })
    }
}

/// The integer code pass into `out`: codes (words of the format's storage
/// type) or, `fused`, the dequantized values in `x`'s own float type.
#[pyfunction]
#[pyo3(signature = (x, shape, axis, group, scales, zps, opts, out, fused))]
#[allow(clippy::too_many_arguments)]
fn quant_int(
    py: Python<'_>,
    x: &Bound<'_, PyAny>,
    shape: Vec<usize>,
    axis: Option<i64>,
    group: Option<usize>,
    scales: &Bound<'_, PyAny>,
    zps: &Bound<'_, PyAny>,
    opts: CodeArgs,
    out: &Bound<'_, PyAny>,
    fused: bool,
) -> PyResult<()> {
    let l = Layout::new(&shape, axis, group).map_err(to_py)?;
    let o = opts.int_options()?;
    with_slice::<f64, _>(scales, |s| {
        with_slice::<i64, _>(zps, |z| {
            if fused {
                with_float_io!(x, out, xs, d => detached(py, || quant::fake_quantize(xs, &l, s, z, &o, d)))
            } else {
                with_floats!(x, xs => dispatch_rw!(out, d => detached(py, || quant::quantize(xs, &l, s, z, &o, d))))
            }
        })
    })
}

/// The float-element code pass (block-scaled formats) into `out`: element
/// codes or, `fused`, the dequantized values in `x`'s own float type.
#[pyfunction]
#[pyo3(signature = (x, shape, axis, group, scales, elem, opts, out, fused))]
#[allow(clippy::too_many_arguments)]
fn quant_float(
    py: Python<'_>,
    x: &Bound<'_, PyAny>,
    shape: Vec<usize>,
    axis: Option<i64>,
    group: Option<usize>,
    scales: &Bound<'_, PyAny>,
    elem: FloatArg,
    opts: CodeArgs,
    out: &Bound<'_, PyAny>,
    fused: bool,
) -> PyResult<()> {
    let l = Layout::new(&shape, axis, group).map_err(to_py)?;
    let e = elem.0.clone();
    let o = opts.float_options()?;
    with_slice::<f64, _>(scales, |s| {
        if fused {
            with_float_io!(x, out, xs, d => detached(py, || quant::fake_quantize_float(xs, &l, s, &e, &o, d)))
        } else {
            with_floats!(x, xs => dispatch_rw!(out, d => detached(py, || quant::quantize_float(xs, &l, s, &e, &o, d))))
        }
    })
}

/// `out` (flat float32 or float64) = the values of `codes` (flat storage
/// words: float element codes of `elem`, or with `elem` None integer codes,
/// two's complement when `signed`) with the scales and zero points (empty:
/// all zero) of the layout `shape`/`axis`/`group`:
/// `QuantizedArray.dequantize`'s arithmetic (`quant::dequantize`).
#[pyfunction]
#[pyo3(signature = (codes, shape, axis, group, scales, zps, elem, signed, out))]
#[allow(clippy::too_many_arguments)]
fn dequantize_codes(
    py: Python<'_>,
    codes: &Bound<'_, PyAny>,
    shape: Vec<usize>,
    axis: Option<i64>,
    group: Option<usize>,
    scales: &Bound<'_, PyAny>,
    zps: &Bound<'_, PyAny>,
    elem: Option<FloatArg>,
    signed: bool,
    out: &Bound<'_, PyAny>,
) -> PyResult<()> {
    let l = Layout::new(&shape, axis, group).map_err(to_py)?;
    let elements = match &elem {
        Some(f) => Elements::Float(&f.0),
        None => Elements::Int { signed },
    };
    with_slice::<f64, _>(scales, |s| {
        with_slice::<i64, _>(zps, |z| {
            if is_f32(out) {
                with_slice_mut::<f32, _>(
                    out,
                    |o| dispatch_ro!(codes, c => detached(py, || dequantize(c, &l, s, z, elements, o))),
                )
            } else {
                with_slice_mut::<f64, _>(
                    out,
                    |o| dispatch_ro!(codes, c => detached(py, || dequantize(c, &l, s, z, elements, o))),
                )
            }
        })
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(dequantize_codes, m)?)?;
    m.add_function(wrap_pyfunction!(cast_to_int, m)?)?;
    m.add_function(wrap_pyfunction!(quant_params, m)?)?;
    m.add_function(wrap_pyfunction!(quant_int, m)?)?;
    m.add_function(wrap_pyfunction!(quant_float, m)?)?;
    Ok(())
}
