//! `FloatFormat` and `IntFormat`: frozen native objects wrapping the core's
//! format structs. Python builds a format once (the core validates it) and
//! every call borrows it, so there is no tuple spec to re-check and no
//! second copy of the decoding rules or the integer limits in Python.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyTuple};
use qformat_core::format::{builtins, FloatFormat, Format, IntFormat, NanEncoding};
use qformat_core::Value;

use crate::errors::to_py;

/// An integer argument as Python code gives it (an `int` or a NumPy
/// integer, never a `bool`), checked against `lo..=hi` with the message
/// the argument's name makes clear.
fn int_arg(obj: &Bound<'_, PyAny>, label: &str, lo: i64, hi: i64) -> PyResult<i64> {
    if obj.is_instance_of::<PyBool>() || !obj.hasattr("__index__")? {
        let kind = obj.get_type().name()?;
        return Err(PyTypeError::new_err(format!(
            "{label} must be an int, not {kind}"
        )));
    }
    let v: Option<i64> = obj.call_method0("__index__")?.extract().ok();
    match v {
        Some(v) if (lo..=hi).contains(&v) => Ok(v),
        _ => Err(PyValueError::new_err(format!(
            "{label}={obj} is out of range"
        ))),
    }
}

/// A `nan=` layout name (`"ieee"`, `"fn"`, `"fnuz"`, `"none"`), parsed into
/// the core's enum where it enters.
pub struct NanEncodingArg(pub NanEncoding);

impl<'a, 'py> FromPyObject<'a, 'py> for NanEncodingArg {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        let Ok(name) = obj.extract::<String>() else {
            return Err(PyTypeError::new_err(
                "nan must be 'ieee', 'fn', 'fnuz' or 'none'",
            ));
        };
        Ok(NanEncodingArg(NanEncoding::parse(&name).map_err(to_py)?))
    }
}

/// A flag as Python code gives it: any object, read by its truth value
/// (`signed=1` and `signed=np.True_` mean True, as `bool(x)` does).
pub struct Truthy(pub bool);

impl<'a, 'py> FromPyObject<'a, 'py> for Truthy {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        Ok(Truthy(obj.is_truthy()?))
    }
}

/// The NumPy dtype `numpy.dtype(name)`.
fn numpy_dtype<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
    py.import("numpy")?.getattr("dtype")?.call1((name,))
}

/// The narrowest 8/16/32/64-bit word holding `bits`.
fn word_bits(bits: u32) -> u32 {
    [8, 16, 32, 64]
        .into_iter()
        .find(|w| bits <= *w)
        .unwrap_or(64)
}

/// A binary float format `[sign] exponent fraction` (ExMy). Equal (and
/// hashed) by layout: the name is not part of the value. `exp_bits=0` is
/// a sign-magnitude fixed-point grid (every non-zero code subnormal, as in
/// P3109's signed P = K formats); it needs `nan="fn"`, `"fnuz"` or `"none"`.
#[pyclass(frozen, eq, hash, name = "FloatFormat", module = "qformat")]
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PyFloatFormat {
    pub inner: FloatFormat,
}

#[pymethods]
impl PyFloatFormat {
    /// Build and validate a format. `bias=None` is the IEEE bias
    /// `2**(exp_bits-1) - 1` (one more for `nan="fnuz"`; 0 for `exp_bits=0`).
    #[new]
    #[pyo3(signature = (exp_bits, man_bits, *, bias=None, signed=Truthy(true), inf=Truthy(true), nan=None, name=None, zero=Truthy(true)))]
    #[pyo3(
        text_signature = "(exp_bits, man_bits, *, bias=None, signed=True, inf=True, nan=None, name=None, zero=True)"
    )]
    #[allow(clippy::too_many_arguments)]
    fn new(
        exp_bits: &Bound<'_, PyAny>,
        man_bits: &Bound<'_, PyAny>,
        bias: Option<&Bound<'_, PyAny>>,
        signed: Truthy,
        inf: Truthy,
        nan: Option<NanEncodingArg>,
        name: Option<&str>,
        zero: Truthy,
    ) -> PyResult<Self> {
        let e = int_arg(exp_bits, "exp_bits", 0, 64)? as u32;
        let m = int_arg(man_bits, "man_bits", 0, 64)? as u32;
        let bias = match bias {
            Some(b) if !b.is_none() => {
                Some(int_arg(b, "bias", i32::MIN as i64, i32::MAX as i64)? as i32)
            }
            _ => None,
        };
        let nan = nan.map_or(NanEncoding::Ieee, |n| n.0);
        let inner =
            FloatFormat::new(name, e, m, bias, signed.0, inf.0, nan, zero.0).map_err(to_py)?;
        Ok(PyFloatFormat { inner })
    }

    /// `"float"`.
    #[getter]
    fn kind(&self) -> &'static str {
        "float"
    }
    /// The canonical or given name.
    #[getter]
    fn name(&self) -> &str {
        &self.inner.name
    }
    /// Exponent field width.
    #[getter]
    fn exp_bits(&self) -> u32 {
        self.inner.exp_bits
    }
    /// Fraction field width.
    #[getter]
    fn man_bits(&self) -> u32 {
        self.inner.man_bits
    }
    /// Exponent bias.
    #[getter]
    fn bias(&self) -> i32 {
        self.inner.bias
    }
    /// True when the format has a sign bit.
    #[getter]
    fn signed(&self) -> bool {
        self.inner.signed
    }
    /// True when the format encodes ±inf.
    #[getter]
    fn has_inf(&self) -> bool {
        self.inner.has_inf
    }
    /// Where NaNs are: "ieee", "fn", "fnuz" or "none".
    #[getter]
    fn nan(&self) -> &'static str {
        self.inner.nan.name()
    }
    /// False for scale formats (e8m0fnu) whose zero pattern means `2**-bias`.
    #[getter]
    fn has_zero(&self) -> bool {
        self.inner.has_zero
    }
    /// Total width in bits.
    #[getter]
    fn bits(&self) -> u32 {
        self.inner.bits()
    }
    /// Exponent of the smallest normal value.
    #[getter]
    fn emin(&self) -> i64 {
        self.inner.emin()
    }
    /// Exponent of the largest finite value.
    #[getter]
    fn emax(&self) -> i64 {
        self.inner.emax()
    }
    /// Magnitude code of the largest finite value.
    #[getter]
    fn max_code(&self) -> u64 {
        self.inner.max_code()
    }
    /// Magnitude code of +inf, or None.
    #[getter]
    fn inf_code(&self) -> Option<u64> {
        self.inner.inf_code()
    }
    /// The canonical NaN pattern, or None.
    #[getter]
    fn nan_code(&self) -> Option<u64> {
        self.inner.canonical_nan()
    }
    /// The sign bit's mask (0 for unsigned formats).
    #[getter]
    fn sign_bit(&self) -> u64 {
        self.inner.sign_bit()
    }
    /// The NumPy dtype that `encode` returns for this format.
    #[getter]
    fn storage_dtype<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        numpy_dtype(py, &format!("uint{}", word_bits(self.inner.bits())))
    }

    /// True when `bits` is a NaN pattern of this format.
    fn is_nan(&self, bits: u64) -> bool {
        self.inner.is_nan(bits)
    }

    /// Exact value of a bit pattern: a `fractions.Fraction`, or ±inf / nan
    /// as a float (the core's decoding, the one every conversion uses).
    fn value_of<'py>(&self, py: Python<'py>, bits: u64) -> PyResult<Bound<'py, PyAny>> {
        let fraction = py.import("fractions")?.getattr("Fraction")?;
        match self.inner.unpack(bits) {
            Value::Zero { .. } => fraction.call1((0,)),
            Value::Inf { neg } => {
                let inf = if neg {
                    f64::NEG_INFINITY
                } else {
                    f64::INFINITY
                };
                Ok(PyFloat::new(py, inf).into_any())
            }
            Value::Nan { .. } => Ok(PyFloat::new(py, f64::NAN).into_any()),
            Value::Finite { neg, sig, exp, .. } => {
                // |x| = sig * 2^(exp - 63), exactly.
                let p = exp - 63;
                let one = 1u8.into_pyobject(py)?;
                let sig = sig.into_pyobject(py)?;
                let v = if p >= 0 {
                    fraction.call1((sig.call_method1("__lshift__", (p,))?,))?
                } else {
                    fraction.call1((sig, one.call_method1("__lshift__", (-p,))?))?
                };
                if neg {
                    v.neg()
                } else {
                    Ok(v)
                }
            }
        }
    }

    fn __repr__(&self) -> String {
        let f = &self.inner;
        let mut extras = Vec::new();
        if f.nan != NanEncoding::Ieee {
            extras.push(format!("nan='{}'", f.nan.name()));
        }
        if !f.has_inf {
            extras.push("inf=False".to_string());
        }
        if !f.signed {
            extras.push("signed=False".to_string());
        }
        if !f.has_zero {
            extras.push("zero=False".to_string());
        }
        extras.push(format!("bias={}", f.bias));
        extras.push(format!("name='{}'", f.name));
        format!(
            "FloatFormat({}, {}, {})",
            f.exp_bits,
            f.man_bits,
            extras.join(", ")
        )
    }

    /// Pickling (by value): the constructor's arguments.
    fn __getnewargs_ex__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyTuple>, Bound<'py, PyDict>)> {
        let f = &self.inner;
        let kw = PyDict::new(py);
        kw.set_item("bias", f.bias)?;
        kw.set_item("signed", f.signed)?;
        kw.set_item("inf", f.has_inf)?;
        kw.set_item("nan", f.nan.name())?;
        kw.set_item("name", &f.name)?;
        kw.set_item("zero", f.has_zero)?;
        Ok((PyTuple::new(py, [f.exp_bits, f.man_bits])?, kw))
    }
}

/// A two's-complement (`signed=True`) or unsigned integer format. Equal
/// (and hashed) by width and signedness.
#[pyclass(frozen, eq, hash, name = "IntFormat", module = "qformat")]
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PyIntFormat {
    pub inner: IntFormat,
}

#[pymethods]
impl PyIntFormat {
    /// Build and validate an integer format.
    #[new]
    #[pyo3(signature = (bits, *, signed=Truthy(true), name=None))]
    #[pyo3(text_signature = "(bits, *, signed=True, name=None)")]
    fn new(bits: &Bound<'_, PyAny>, signed: Truthy, name: Option<&str>) -> PyResult<Self> {
        let bits = int_arg(bits, "bits", 0, 1024)? as u32;
        let inner = IntFormat::new(name, bits, signed.0).map_err(to_py)?;
        Ok(PyIntFormat { inner })
    }

    /// `"int"`.
    #[getter]
    fn kind(&self) -> &'static str {
        "int"
    }
    /// The canonical or given name.
    #[getter]
    fn name(&self) -> &str {
        &self.inner.name
    }
    /// Width in bits.
    #[getter]
    fn bits(&self) -> u32 {
        self.inner.bits
    }
    /// True for two's complement.
    #[getter]
    fn signed(&self) -> bool {
        self.inner.signed
    }
    /// Smallest representable integer.
    #[getter]
    fn min(&self) -> i128 {
        self.inner.min()
    }
    /// Largest representable integer.
    #[getter]
    fn max(&self) -> i128 {
        self.inner.max()
    }
    /// The NumPy dtype that `encode` returns for this format.
    #[getter]
    fn storage_dtype<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let sign = if self.inner.signed { "" } else { "u" };
        numpy_dtype(py, &format!("{sign}int{}", word_bits(self.inner.bits)))
    }

    fn __repr__(&self) -> String {
        let signed = if self.inner.signed { "True" } else { "False" };
        format!(
            "IntFormat({}, signed={signed}, name='{}')",
            self.inner.bits, self.inner.name
        )
    }

    /// Pickling (by value): the constructor's arguments.
    fn __getnewargs_ex__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyTuple>, Bound<'py, PyDict>)> {
        let kw = PyDict::new(py);
        kw.set_item("signed", self.inner.signed)?;
        kw.set_item("name", &self.inner.name)?;
        Ok((PyTuple::new(py, [self.inner.bits])?, kw))
    }
}

/// A float format argument: the native object, borrowed from Python.
pub struct FloatArg(pub FloatFormat);

impl<'a, 'py> FromPyObject<'a, 'py> for FloatArg {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        Ok(FloatArg(obj.cast::<PyFloatFormat>()?.get().inner.clone()))
    }
}

/// An integer format argument: the native object, borrowed from Python.
pub struct IntArg(pub IntFormat);

impl<'a, 'py> FromPyObject<'a, 'py> for IntArg {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        Ok(IntArg(obj.cast::<PyIntFormat>()?.get().inner.clone()))
    }
}

/// The built-in table: a list of `(name, aliases, format)`.
#[pyfunction]
fn builtin_table(py: Python<'_>) -> PyResult<Vec<Bound<'_, PyTuple>>> {
    builtins()
        .into_iter()
        .map(|b| {
            let aliases: Vec<&str> = b.aliases.to_vec();
            let obj: Bound<'_, PyAny> = match b.format {
                Format::Float(inner) => Bound::new(py, PyFloatFormat { inner })?.into_any(),
                Format::Int(inner) => Bound::new(py, PyIntFormat { inner })?.into_any(),
            };
            PyTuple::new(
                py,
                [
                    b.name.into_pyobject(py)?.into_any(),
                    aliases.into_pyobject(py)?,
                    obj,
                ],
            )
        })
        .collect()
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyFloatFormat>()?;
    m.add_class::<PyIntFormat>()?;
    m.add_function(wrap_pyfunction!(builtin_table, m)?)?;
    Ok(())
}
