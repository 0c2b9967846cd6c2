//! Zero-copy access to 1-D contiguous NumPy arrays of unsigned words. The
//! Python layer hands over flat views; here we only pick the element type.

use numpy::{PyArray1, PyArrayMethods};
use pyo3::prelude::*;

use crate::errors::QFormatError;

/// Borrow `obj` as a read-only slice of `T` and call `f` with it.
pub fn with_slice<T: numpy::Element + Copy, R>(
    obj: &Bound<'_, PyAny>,
    f: impl FnOnce(&[T]) -> PyResult<R>,
) -> PyResult<R> {
    let arr = obj.cast::<PyArray1<T>>()?;
    let ro = arr.readonly();
    let s = ro
        .as_slice()
        .map_err(|_| QFormatError::new_err("internal: input is not contiguous"))?;
    f(s)
}

/// Borrow `obj` as a writable slice of `T` and call `f` with it.
pub fn with_slice_mut<T: numpy::Element + Copy, R>(
    obj: &Bound<'_, PyAny>,
    f: impl FnOnce(&mut [T]) -> PyResult<R>,
) -> PyResult<R> {
    let arr = obj.cast::<PyArray1<T>>()?;
    let mut rw = arr
        .try_readwrite()
        .map_err(|_| QFormatError::new_err("out= is not writeable or is in use"))?;
    let s = rw
        .as_slice_mut()
        .map_err(|_| QFormatError::new_err("internal: output is not contiguous"))?;
    f(s)
}

/// Word width in bytes of an unsigned array (1, 2, 4 or 8).
pub fn word_size(obj: &Bound<'_, PyAny>) -> PyResult<usize> {
    let itemsize: usize = obj.getattr("itemsize")?.extract()?;
    Ok(itemsize)
}

/// Call `$body` with `$s` bound to the read-only slice of `$obj`, whatever its word type.
#[macro_export]
macro_rules! dispatch_ro {
    ($obj:expr, $s:ident => $body:expr) => {
        match $crate::arrays::word_size($obj)? {
            1 => $crate::arrays::with_slice::<u8, _>($obj, |$s| $body),
            2 => $crate::arrays::with_slice::<u16, _>($obj, |$s| $body),
            4 => $crate::arrays::with_slice::<u32, _>($obj, |$s| $body),
            _ => $crate::arrays::with_slice::<u64, _>($obj, |$s| $body),
        }
    };
}

/// Same as [`dispatch_ro`] for a writable array.
#[macro_export]
macro_rules! dispatch_rw {
    ($obj:expr, $s:ident => $body:expr) => {
        match $crate::arrays::word_size($obj)? {
            1 => $crate::arrays::with_slice_mut::<u8, _>($obj, |$s| $body),
            2 => $crate::arrays::with_slice_mut::<u16, _>($obj, |$s| $body),
            4 => $crate::arrays::with_slice_mut::<u32, _>($obj, |$s| $body),
            _ => $crate::arrays::with_slice_mut::<u64, _>($obj, |$s| $body),
        }
    };
}
