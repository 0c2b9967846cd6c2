//! Core errors → a Python exception hierarchy rooted at `QFormatError`
//! (a `ValueError`), and the panic guard around every call into the core.

use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use qformat_core::Error;

create_exception!(
    _native,
    QFormatError,
    PyValueError,
    "Base of every qformat error (a ValueError)."
);
create_exception!(
    _native,
    NanInputError,
    QFormatError,
    "A NaN met a policy that forbids it."
);
create_exception!(
    _native,
    RangeError,
    QFormatError,
    "A value outside the format's range under overflow='error'."
);
create_exception!(
    _native,
    ParseError,
    QFormatError,
    "Text that is not a number."
);

/// Map a core error to its Python exception.
pub fn to_py(e: Error) -> PyErr {
    let msg = e.to_string();
    match e {
        Error::Invalid(_) => QFormatError::new_err(msg),
        Error::NanInput { .. } => NanInputError::new_err(msg),
        Error::Overflow { .. } => RangeError::new_err(msg),
        Error::Parse(_) => ParseError::new_err(msg),
    }
}

/// Run `f` without the GIL, under the IEEE default floating-point
/// environment, and with panics caught: a bug in the core surfaces as a
/// `QFormatError`, never as an aborted interpreter, and a caller that set
/// FTZ/DAZ or another rounding mode (`torch.set_flush_denormal(True)`, a
/// `-ffast-math` library) still gets the documented bits.
pub fn detached<T: Send, F>(py: Python<'_>, f: F) -> PyResult<T>
where
    F: FnOnce() -> Result<T, Error> + Send,
{
    let r = py.detach(|| {
        qformat_cpu::with_ieee_fp_env(|| std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)))
    });
    match r {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(to_py(e)),
        Err(p) => {
            let what = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown".into());
            Err(QFormatError::new_err(format!(
                "internal error in qformat (please report): {what}"
            )))
        }
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("QFormatError", py.get_type::<QFormatError>())?;
    m.add("NanInputError", py.get_type::<NanInputError>())?;
    m.add("RangeError", py.get_type::<RangeError>())?;
    m.add("ParseError", py.get_type::<ParseError>())?;
    Ok(())
}
