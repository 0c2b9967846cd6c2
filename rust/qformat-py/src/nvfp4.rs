//! NVFP4 (`qformat_core::quant::nvfp4`): float32 values in, e4m3 block
//! scales and packed e2m1 pairs out, GIL released.

use pyo3::prelude::*;
use qformat_core::quant::nvfp4;

use crate::arrays::{with_slice, with_slice_mut};
use crate::errors::detached;

/// The per-tensor scale of the flat float32 `x`: `amax / (448 * 6)`.
#[pyfunction]
fn nvfp4_tensor_scale(py: Python<'_>, x: &Bound<'_, PyAny>) -> PyResult<f32> {
    with_slice::<f32, _>(x, |xs| detached(py, || nvfp4::absmax(xs))).map(nvfp4::tensor_scale)
}

/// Block scale codes into `scales` and packed elements into `packed`.
#[pyfunction]
fn nvfp4_quantize(
    py: Python<'_>,
    x: &Bound<'_, PyAny>,
    tensor_scale: f32,
    scales: &Bound<'_, PyAny>,
    packed: &Bound<'_, PyAny>,
) -> PyResult<()> {
    with_slice::<f32, _>(x, |xs| {
        with_slice_mut::<u8, _>(scales, |ss| {
            with_slice_mut::<u8, _>(packed, |ps| {
                detached(py, || nvfp4::quantize(xs, tensor_scale, ss, ps))
            })
        })
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(nvfp4_tensor_scale, m)?)?;
    m.add_function(wrap_pyfunction!(nvfp4_quantize, m)?)?;
    Ok(())
}
