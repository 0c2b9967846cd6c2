//! Float conversions: encode, decode and round over flat word arrays.

use numpy::{PyArrayMethods, PyReadonlyArray1};
use pyo3::prelude::*;
use qformat_core::fast::slices::{
    decode_slice, encode_ints_slice, encode_slice, encode_slice_with_bits, round_slice,
    round_slice_with_bits,
};
use qformat_core::format::float_builtin;

use crate::arrays::with_slice;

use crate::errors::detached;
use crate::formats::FloatArg;
use crate::specs::OptionArgs;
use crate::{dispatch_ro, dispatch_rw};

/// Convert `src` (patterns of `src_fmt`) to `fmt`: `encode` writes the
/// patterns of `fmt` into `out`; `round` (`round_trip`) rounds to `fmt` and
/// back, writing patterns of `src_fmt`. `random`: the caller's
/// stochastic-rounding words (uint64, one per element), in place of the
/// seeded draw.
#[pyfunction]
#[pyo3(signature = (src, src_fmt, out, fmt, opts, round_trip, random=None))]
#[allow(clippy::too_many_arguments)]
fn convert_float(
    py: Python<'_>,
    src: &Bound<'_, PyAny>,
    src_fmt: FloatArg,
    out: &Bound<'_, PyAny>,
    fmt: FloatArg,
    opts: OptionArgs,
    round_trip: bool,
    random: Option<PyReadonlyArray1<'_, u64>>,
) -> PyResult<()> {
    let sf = src_fmt.0.clone();
    let f = fmt.0.clone();
    let o = opts.resolve_with_bits(&sf, &f, random.is_some())?;
    let bits = random.as_ref().map(|r| r.as_slice()).transpose()?;
    dispatch_ro!(src, s => dispatch_rw!(out, d => detached(py, || match (round_trip, bits) {
        (false, None) => encode_slice(&sf, s, &f, d, &o),
        (false, Some(r)) => encode_slice_with_bits(&sf, s, &f, d, &o, r),
        (true, None) => round_slice(&sf, s, &f, d, &o),
        (true, Some(r)) => round_slice_with_bits(&sf, s, &f, d, &o, r),
    })))
}

/// Encode exact integers (an int64 or uint64 array) into a float format.
#[pyfunction]
fn encode_int_source(
    py: Python<'_>,
    src: &Bound<'_, PyAny>,
    out: &Bound<'_, PyAny>,
    dst_fmt: FloatArg,
    opts: OptionArgs,
) -> PyResult<()> {
    let df = dst_fmt.0.clone();
    let fp64 = float_builtin("fp64");
    let o = opts.resolve(&fp64, &df)?;
    if let Ok(a) = src.cast::<numpy::PyArray1<i64>>() {
        let ro = a.readonly();
        let s = ro.as_slice()?;
        dispatch_rw!(out, d => detached(py, || encode_ints_slice(s, &df, d, &o)))
    } else {
        with_slice::<u64, _>(
            src,
            |s| dispatch_rw!(out, d => detached(py, || encode_ints_slice(s, &df, d, &o))),
        )
    }
}

/// Decode patterns of `fmt` into float64 (`wide=True`) or float32 words.
#[pyfunction]
fn decode_float(
    py: Python<'_>,
    src: &Bound<'_, PyAny>,
    fmt: FloatArg,
    out: &Bound<'_, PyAny>,
    wide: bool,
) -> PyResult<()> {
    let f = fmt.0.clone();
    let of = float_builtin(if wide { "fp64" } else { "fp32" });
    dispatch_ro!(src, s => dispatch_rw!(out, d => detached(py, || decode_slice(&f, s, &of, d))))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(convert_float, m)?)?;
    m.add_function(wrap_pyfunction!(encode_int_source, m)?)?;
    m.add_function(wrap_pyfunction!(decode_float, m)?)?;
    Ok(())
}
