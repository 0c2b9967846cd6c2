//! Profiles and options as they cross from Python: option strings parsed
//! into the core's enums and the native `Profile` object (the format
//! classes are in `formats`).

use pyo3::prelude::*;
use pyo3::types::PyDict;
use qformat_core::format::FloatFormat;
use qformat_core::policy::profile::{Profile, RELEASES};
use qformat_core::policy::resolve::{self, CallerOptions};
use qformat_core::RoundingMode;
use qformat_core::{EncodeOptions, NanPolicy, Overflow};

use crate::errors::to_py;

/// Every release range of every profile: what it reproduces, its versions,
/// where its rules come from and which exact versions they were checked on.
#[pyfunction]
fn profile_table(py: Python<'_>) -> PyResult<Vec<Bound<'_, PyDict>>> {
    RELEASES
        .iter()
        .map(|r| {
            let d = PyDict::new(py);
            d.set_item("name", r.library.name())?;
            d.set_item("library", r.library.describes())?;
            d.set_item("package", r.library.package())?;
            d.set_item("versions", r.versions())?;
            d.set_item("checked_on", r.checked_on.to_vec())?;
            d.set_item("verified", r.verified())?;
            d.set_item("source", r.source)?;
            Ok(d)
        })
        .collect()
}

/// A profile: one library release's rules, chosen once from a name such
/// as `"ml_dtypes"` (the installed release) or `"ml_dtypes@0.6"`.
#[pyclass(frozen, name = "Profile", module = "qformat")]
pub struct PyProfile {
    pub inner: Profile,
}

#[pymethods]
impl PyProfile {
    /// Parse `spec`; `installed` maps package names to installed versions.
    #[new]
    #[pyo3(signature = (spec, installed=None))]
    fn new(spec: &str, installed: Option<Vec<(String, String)>>) -> PyResult<Self> {
        let inner = Profile::parse(spec, &installed.unwrap_or_default()).map_err(to_py)?;
        Ok(PyProfile { inner })
    }

    /// `"ml_dtypes@0.7"`: the library and the version that chose the rules.
    #[getter]
    fn name(&self) -> String {
        self.inner.name()
    }

    /// The profile's library name (`"ml_dtypes"`).
    #[getter]
    fn library(&self) -> &'static str {
        self.inner.library().name()
    }

    /// The version asked for or installed, as `major.minor`, or None.
    #[getter]
    fn version(&self) -> Option<String> {
        self.inner.version.map(|v| v.to_string())
    }

    /// The release range whose rules apply (`"0.5–0.6"`, `"2.12+"`).
    #[getter]
    fn versions(&self) -> String {
        self.inner.release.versions()
    }

    /// The exact versions these rules were compared with bit for bit.
    #[getter]
    fn checked_on(&self) -> Vec<&'static str> {
        self.inner.release.checked_on.to_vec()
    }

    /// True when the rules were compared with the real library.
    #[getter]
    fn verified(&self) -> bool {
        self.inner.release.verified()
    }

    /// True when the installed version is outside every known range and
    /// the nearest known release stands in for it.
    #[getter]
    fn guessed(&self) -> bool {
        self.inner.guessed
    }

    fn __repr__(&self) -> String {
        format!(
            "Profile({:?}, rules of {} {}{})",
            self.inner.name(),
            self.inner.library().package().unwrap_or("ieee"),
            self.inner.release.versions(),
            if self.inner.guessed {
                ", installed version outside the known releases"
            } else {
                ""
            }
        )
    }
}

/// A `nan=` argument: a policy name or an exact bit pattern.
#[derive(FromPyObject)]
pub enum NanArg {
    Bits(u64),
    Name(String),
}

/// The rounding mode named `name`; stochastic rounding needs a seed so
/// that results are reproducible. Every option reader parses through here.
pub fn rounding_mode(name: &str, seed: Option<u64>) -> Result<RoundingMode, qformat_core::Error> {
    RoundingMode::parse(name)?.with_seed(seed)
}

/// A `profile` option: the native [`PyProfile`] built once in Python.
pub struct ProfileArg(pub Profile);

impl<'a, 'py> FromPyObject<'a, 'py> for ProfileArg {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        let p = obj.cast::<PyProfile>()?;
        Ok(ProfileArg(p.get().inner))
    }
}

/// Conversion options exactly as the Python API takes them (a dict);
/// `None` means "not given".
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
pub struct OptionArgs {
    pub rounding: Option<String>,
    pub subnormals: Option<bool>,
    pub overflow: Option<String>,
    pub nan: Option<NanArg>,
    pub profile: ProfileArg,
    pub seed: Option<u64>,
    pub sr_bits: Option<u32>,
    pub ftz: Option<bool>,
    pub daz: Option<bool>,
}

impl OptionArgs {
    /// The caller's options as enums (strings parsed here, at the boundary).
    /// `nan_value` is an integer target's NaN value, passed apart.
    pub fn caller(&self, nan_value: Option<i64>) -> PyResult<CallerOptions> {
        let nan = match &self.nan {
            Some(NanArg::Bits(b)) => Some(NanPolicy::Bits(*b)),
            Some(NanArg::Name(s)) => Some(NanPolicy::parse(s).map_err(to_py)?),
            None => None,
        };
        Ok(CallerOptions {
            rounding: self
                .rounding
                .as_deref()
                .map(RoundingMode::parse)
                .transpose()
                .map_err(to_py)?,
            subnormals: self.subnormals,
            overflow: self
                .overflow
                .as_deref()
                .map(Overflow::parse)
                .transpose()
                .map_err(to_py)?,
            nan,
            nan_value,
            seed: self.seed,
            sr_bits: self.sr_bits,
            random_bits: false,
            ftz: self.ftz,
            daz: self.daz,
        })
    }

    /// The options of converting `src` into `dst`: the caller's, then the profile's.
    pub fn resolve(&self, src: &FloatFormat, dst: &FloatFormat) -> PyResult<EncodeOptions> {
        self.resolve_with_bits(src, dst, false)
    }

    /// [`Self::resolve`], saying whether the caller gives its own random
    /// words (`random_bits=`), which stand in for the seed.
    pub fn resolve_with_bits(
        &self,
        src: &FloatFormat,
        dst: &FloatFormat,
        random_bits: bool,
    ) -> PyResult<EncodeOptions> {
        let caller = CallerOptions {
            random_bits,
            ..self.caller(None)?
        };
        resolve::float_options(&self.profile.0, &caller, src, dst).map_err(to_py)
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(profile_table, m)?)?;
    m.add_class::<PyProfile>()?;
    Ok(())
}
