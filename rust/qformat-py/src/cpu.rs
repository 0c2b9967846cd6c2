//! `qformat verify --against cpu`: the processor's own conversion
//! instructions (via the `qformat-cpu` crate) over flat word arrays.

use pyo3::create_exception;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use qformat_cpu::{convert, CpuError, Dst, Feature, Instruction, Mxcsr, Src};

use crate::arrays::{with_slice, with_slice_mut};
use crate::errors::QFormatError;

create_exception!(
    _native,
    CpuNotAvailableError,
    PyRuntimeError,
    "The processor lacks the instruction (or QFORMAT_CPU_DISABLE turned it off)."
);

fn cpu_err(e: CpuError) -> PyErr {
    match e {
        CpuError::NotAvailable { .. } => CpuNotAvailableError::new_err(e.to_string()),
        CpuError::Invalid(m) => QFormatError::new_err(m),
    }
}

/// Run `f` without the GIL, with panics caught (as `errors::detached` does
/// for the core).
fn detached_cpu<F>(py: Python<'_>, f: F) -> PyResult<()>
where
    F: FnOnce() -> Result<(), CpuError> + Send,
{
    match py.detach(|| std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))) {
        Ok(r) => r.map_err(cpu_err),
        Err(_) => Err(QFormatError::new_err(
            "internal error in qformat-cpu (please report)",
        )),
    }
}

/// Run the instruction `name` (imm for vcvtps2ph) over `src` into `out`
/// under MXCSR rounding `rc` (0–3), `ftz`, `daz`. Words are unsigned of the
/// instruction's widths: uint8 (FP8), uint16, uint32, uint64 (int64 results
/// as their two's-complement bits).
#[pyfunction]
#[pyo3(signature = (name, src, out, imm=0, rc=0, ftz=false, daz=false))]
#[allow(clippy::too_many_arguments)]
fn cpu_convert(
    py: Python<'_>,
    name: &str,
    src: &Bound<'_, PyAny>,
    out: &Bound<'_, PyAny>,
    imm: u8,
    rc: u8,
    ftz: bool,
    daz: bool,
) -> PyResult<()> {
    let instr = Instruction::parse(name, imm).map_err(cpu_err)?;
    if rc > 3 {
        return Err(QFormatError::new_err("rc is the MXCSR rounding field, 0–3"));
    }
    let csr = Mxcsr {
        rounding: rc,
        ftz,
        daz,
    };
    let (sw, dw) = instr.widths();
    macro_rules! go {
        ($st:ty, $sv:ident, $dt:ty, $dv:ident) => {
            with_slice::<$st, _>(src, |s| {
                with_slice_mut::<$dt, _>(out, |d| {
                    detached_cpu(py, || convert(instr, csr, Src::$sv(s), Dst::$dv(d)))
                })
            })
        };
    }
    match (sw, dw) {
        (8, 16) => go!(u8, W8, u16, W16),
        (16, 8) => go!(u16, W16, u8, W8),
        (16, 32) => go!(u16, W16, u32, W32),
        (32, 16) => go!(u32, W32, u16, W16),
        (32, 32) => go!(u32, W32, u32, W32),
        (32, 64) => go!(u32, W32, u64, W64),
        (64, 16) => go!(u64, W64, u16, W16),
        (64, 64) => go!(u64, W64, u64, W64),
        _ => go!(u64, W64, u32, W32),
    }
}

/// `(feature, available)` for every feature the instructions need, after
/// `QFORMAT_CPU_DISABLE`.
#[pyfunction]
fn cpu_features() -> Vec<(&'static str, bool)> {
    Feature::ALL
        .into_iter()
        .map(|f| (f.name(), f.available()))
        .collect()
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add(
        "CpuNotAvailableError",
        py.get_type::<CpuNotAvailableError>(),
    )?;
    m.add_function(wrap_pyfunction!(cpu_convert, m)?)?;
    m.add_function(wrap_pyfunction!(cpu_features, m)?)?;
    Ok(())
}
