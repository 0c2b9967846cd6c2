//! NVFP4 (`qformat_core::quant::nvfp4`): float32 values in, e4m3 block
//! scales and packed e2m1 pairs out, and their float32 values back;
//! DeepSeek-V3's FP8 blocks (`qformat_core::quant::fp8_block`): fp8 codes
//! and float32 block scales out, and their values back. GIL released.

use pyo3::prelude::*;
use qformat_core::quant::{fp8_block, nvfp4};

use crate::arrays::{with_slice, with_slice_mut};
use crate::errors::detached;

/// The per-tensor scale of the flat float32 `x`: `amax / (448 * 6)`.
#[pyfunction]
fn nvfp4_tensor_scale(py: Python<'_>, x: &Bound<'_, PyAny>) -> PyResult<f32> {
    with_slice::<f32, _>(x, |xs| {
        detached(py, || nvfp4::absmax(xs).map(nvfp4::tensor_scale))
    })
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

/// The float32 values of NVFP4 codes into `out` (torchao's dequantize).
#[pyfunction]
fn nvfp4_dequantize(
    py: Python<'_>,
    packed: &Bound<'_, PyAny>,
    scales: &Bound<'_, PyAny>,
    tensor_scale: f32,
    out: &Bound<'_, PyAny>,
) -> PyResult<()> {
    with_slice::<u8, _>(packed, |ps| {
        with_slice::<u8, _>(scales, |ss| {
            with_slice_mut::<f32, _>(out, |os| {
                detached(py, || nvfp4::dequantize(ps, ss, tensor_scale, os))
            })
        })
    })
}

/// DeepSeek-V3 FP8 blocks of the row-major `rows × cols` float32 `w`:
/// fp8_e4m3fn codes into `codes`, the block scales into `scales`.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn fp8_block_quantize(
    py: Python<'_>,
    w: &Bound<'_, PyAny>,
    rows: usize,
    cols: usize,
    pow2: bool,
    codes: &Bound<'_, PyAny>,
    scales: &Bound<'_, PyAny>,
) -> PyResult<()> {
    with_slice::<f32, _>(w, |ws| {
        with_slice_mut::<u8, _>(codes, |cs| {
            with_slice_mut::<f32, _>(scales, |ss| {
                detached(py, || fp8_block::quantize(ws, rows, cols, pow2, cs, ss))
            })
        })
    })
}

/// The float32 values of DeepSeek-V3 FP8 block codes into `out`.
#[pyfunction]
fn fp8_block_dequantize(
    py: Python<'_>,
    codes: &Bound<'_, PyAny>,
    rows: usize,
    cols: usize,
    scales: &Bound<'_, PyAny>,
    out: &Bound<'_, PyAny>,
) -> PyResult<()> {
    with_slice::<u8, _>(codes, |cs| {
        with_slice::<f32, _>(scales, |ss| {
            with_slice_mut::<f32, _>(out, |os| {
                detached(py, || fp8_block::dequantize(cs, rows, cols, ss, os))
            })
        })
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(fp8_block_quantize, m)?)?;
    m.add_function(wrap_pyfunction!(fp8_block_dequantize, m)?)?;
    m.add_function(wrap_pyfunction!(nvfp4_tensor_scale, m)?)?;
    m.add_function(wrap_pyfunction!(nvfp4_quantize, m)?)?;
    m.add_function(wrap_pyfunction!(nvfp4_dequantize, m)?)?;
    Ok(())
}
