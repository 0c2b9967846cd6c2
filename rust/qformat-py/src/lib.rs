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

/// Build rayon's global pool with workers that start at the IEEE default
/// floating-point environment: a new thread inherits its creator's MXCSR,
/// so a pool first used after `torch.set_flush_denormal(True)` would
/// otherwise flush subnormals in every chunk it converts. The pool size
/// still follows `RAYON_NUM_THREADS`. A pool that already exists (another
/// user of this copy of rayon got there first) is left as it is.
fn start_worker_pool() {
    let _ = rayon::ThreadPoolBuilder::new()
        .start_handler(|_| qformat_cpu::set_ieee_fp_env())
        .build_global();
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    start_worker_pool();
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
