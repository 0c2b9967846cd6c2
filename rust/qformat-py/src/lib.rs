//! `qformat._native`: the thin PyO3 layer over `qformat-core`. It converts
//! arrays (zero-copy, via `as_slice`), options and errors, holds the format
//! classes (`FloatFormat`, `IntFormat`) as frozen native objects,
//! releases the GIL around bulk work, and turns any Rust panic into a Python
//! exception. All numeric meaning lives in the core crate.

use pyo3::prelude::*;

mod arrays;
mod cpu;
mod errors;
mod exact;
mod floats;
mod formats;
mod gguf;
mod nvfp4;
mod quant;
mod specs;
mod stats;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::register(m)?;
    cpu::register(m)?;
    exact::register(m)?;
    floats::register(m)?;
    formats::register(m)?;
    gguf::register(m)?;
    nvfp4::register(m)?;
    quant::register(m)?;
    specs::register(m)?;
    stats::register(m)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
