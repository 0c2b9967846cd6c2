//! Error statistics, GIL released: `error_stats(reference, approx)` over
//! two flat float32/float64 arrays; `encode_float_stats`, a float
//! conversion that returns them from its own pass; and `quant_error_stats`,
//! the statistics of a quantization taken from its codes.

use numpy::PyArray1;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use qformat_core::quant::Layout;
use qformat_core::stats::quantized::{quantized_stats, Elements};
use qformat_core::stats::{self, convert::encode_with_stats, ErrorStats};

use crate::arrays::with_slice;
use crate::errors::{detached, to_py, QFormatError};
use crate::formats::FloatArg;
use crate::specs::OptionArgs;
use crate::{dispatch_ro, dispatch_rw};

fn is_f32(x: &Bound<'_, PyAny>) -> bool {
    x.cast::<PyArray1<f32>>().is_ok()
}

/// Call `f` on `approx` read as f32 or f64 slices, given `reference` as `r`.
fn run<A: stats::StatFloat + numpy::Element>(
    py: Python<'_>,
    r: &[A],
    approx: &Bound<'_, PyAny>,
) -> PyResult<ErrorStats> {
    let check = |n: usize| {
        if n == r.len() {
            Ok(())
        } else {
            Err(QFormatError::new_err(format!(
                "error_stats: {} reference values but {n} approximations",
                r.len()
            )))
        }
    };
    if is_f32(approx) {
        with_slice::<f32, _>(approx, |a| {
            check(a.len())?;
            detached(py, || Ok(stats::error_stats(r, a)))
        })
    } else {
        with_slice::<f64, _>(approx, |a| {
            check(a.len())?;
            detached(py, || Ok(stats::error_stats(r, a)))
        })
    }
}

/// Sums of |approx - reference| over finite pairs and counts of non-finite
/// values, as a dict (see `qformat_core::stats::ErrorStats`).
#[pyfunction]
fn error_stats<'py>(
    py: Python<'py>,
    reference: &Bound<'py, PyAny>,
    approx: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyDict>> {
    let s = if is_f32(reference) {
        with_slice::<f32, _>(reference, |r| run(py, r, approx))?
    } else {
        with_slice::<f64, _>(reference, |r| run(py, r, approx))?
    };
    as_dict(py, &s)
}

/// Encode `src` (patterns of `src_fmt`) into `out` (patterns of `dst_fmt`),
/// the same bits as `encode_float`, and return the statistics of the
/// results against the inputs from the same pass (`error_stats`' keys plus
/// `amax`, `overflow` and `flushed`).
#[pyfunction]
fn encode_float_stats<'py>(
    py: Python<'py>,
    src: &Bound<'py, PyAny>,
    src_fmt: FloatArg,
    out: &Bound<'py, PyAny>,
    dst_fmt: FloatArg,
    opts: OptionArgs,
) -> PyResult<Bound<'py, PyDict>> {
    let sf = src_fmt.0.clone();
    let df = dst_fmt.0.clone();
    let o = opts.resolve_with_bits(&sf, &df, false)?;
    let s = dispatch_ro!(src, s => dispatch_rw!(out, d => detached(py, ||
        encode_with_stats(&sf, s, &df, d, &o))))?;
    as_dict(py, &s)
}

/// The statistics of a quantization of `x` (flat float32/float64, of
/// `shape`, scales along `axis` in groups of `group`) from its `codes`:
/// float element codes of `elem` times the scales, or with `elem` None
/// integer codes (two's complement when `signed`) as `(code - zp) * scale`
/// — the values the fused quantize-dequantize pass gives, without writing
/// them. `error_stats`' keys (overflow is never counted).
#[pyfunction]
#[pyo3(signature = (x, shape, axis, group, scales, zps, codes, elem, signed))]
#[allow(clippy::too_many_arguments)]
fn quant_error_stats<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    shape: Vec<usize>,
    axis: Option<i64>,
    group: Option<usize>,
    scales: &Bound<'py, PyAny>,
    zps: &Bound<'py, PyAny>,
    codes: &Bound<'py, PyAny>,
    elem: Option<FloatArg>,
    signed: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let l = Layout::new(&shape, axis, group).map_err(to_py)?;
    let elements = match &elem {
        Some(f) => Elements::Float(&f.0),
        None => Elements::Int { signed },
    };
    let s = with_slice::<f64, _>(scales, |s| {
        with_slice::<i64, _>(zps, |z| {
            if is_f32(x) {
                with_slice::<f32, _>(
                    x,
                    |xs| dispatch_ro!(codes, c => detached(py, || quantized_stats(xs, &l, s, z, c, elements))),
                )
            } else {
                with_slice::<f64, _>(
                    x,
                    |xs| dispatch_ro!(codes, c => detached(py, || quantized_stats(xs, &l, s, z, c, elements))),
                )
            }
        })
    })?;
    as_dict(py, &s)
}

/// The sums as a dict with the field names of [`ErrorStats`].
fn as_dict<'py>(py: Python<'py>, s: &ErrorStats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("n", s.n)?;
    d.set_item("finite", s.finite)?;
    d.set_item("max_abs", s.max_abs)?;
    d.set_item("sum_abs", s.sum_abs)?;
    d.set_item("noise", s.noise)?;
    d.set_item("signal", s.signal)?;
    d.set_item("nan_in", s.nan_in)?;
    d.set_item("inf_in", s.inf_in)?;
    d.set_item("nan_out", s.nan_out)?;
    d.set_item("inf_out", s.inf_out)?;
    d.set_item("amax", s.amax)?;
    d.set_item("overflow", s.overflow)?;
    d.set_item("flushed", s.flushed)?;
    Ok(d)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(error_stats, m)?)?;
    m.add_function(wrap_pyfunction!(encode_float_stats, m)?)?;
    m.add_function(wrap_pyfunction!(quant_error_stats, m)?)?;
    Ok(())
}
