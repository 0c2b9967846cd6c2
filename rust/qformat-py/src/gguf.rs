//! GGUF block types (`qformat_core::quant::gguf`): float32 values in,
//! block bytes out and back, GIL released.

use pyo3::prelude::*;
use qformat_core::quant::gguf::{self, GgufType};

use crate::arrays::{with_slice, with_slice_mut};
use crate::errors::{detached, to_py};

/// Quantize the flat float32 `x` into `out`, the blocks of type `name`.
#[pyfunction]
fn gguf_quantize(
    py: Python<'_>,
    x: &Bound<'_, PyAny>,
    name: &str,
    out: &Bound<'_, PyAny>,
) -> PyResult<()> {
    let t = GgufType::parse(name).map_err(to_py)?;
    with_slice::<f32, _>(x, |xs| {
        with_slice_mut::<u8, _>(out, |o| detached(py, || gguf::quantize(xs, t, o)))
    })
}

/// The float32 values of the blocks `data` of type `name`, into `out`.
#[pyfunction]
fn gguf_dequantize(
    py: Python<'_>,
    data: &Bound<'_, PyAny>,
    name: &str,
    out: &Bound<'_, PyAny>,
) -> PyResult<()> {
    let t = GgufType::parse(name).map_err(to_py)?;
    with_slice::<u8, _>(data, |bs| {
        with_slice_mut::<f32, _>(out, |o| detached(py, || gguf::dequantize(bs, t, o)))
    })
}

/// `(block size, bytes per block)` of type `name`.
#[pyfunction]
fn gguf_block_shape(name: &str) -> PyResult<(usize, usize)> {
    let t = GgufType::parse(name).map_err(to_py)?;
    Ok((t.block_size(), t.type_size()))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(gguf_quantize, m)?)?;
    m.add_function(wrap_pyfunction!(gguf_dequantize, m)?)?;
    m.add_function(wrap_pyfunction!(gguf_block_shape, m)?)?;
    Ok(())
}
