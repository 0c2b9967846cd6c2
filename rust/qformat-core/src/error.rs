//! The one error type of the core. The binding maps each variant to a
//! Python exception (`ValueError` for everything a caller can fix).

use std::fmt;

/// Everything that can go wrong in the core, as data (never a panic).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// An option, format definition or argument that makes no sense.
    Invalid(String),
    /// A NaN met where the NaN policy says "error".
    NanInput { index: usize },
    /// A value out of range where the overflow policy says "error".
    Overflow { index: usize },
    /// Text that is not a number.
    Parse(String),
}

impl Error {
    /// Shorthand for [`Error::Invalid`].
    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::Invalid(msg.into())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Invalid(m) => write!(f, "{m}"),
            Error::NanInput { index } => write!(
                f,
                "NaN at flat index {index} and the nan policy is 'error' (pass nan=... to choose a result)"
            ),
            Error::Overflow { index } => write!(
                f,
                "value at flat index {index} is out of the format's range and overflow='error'"
            ),
            Error::Parse(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for Error {}
