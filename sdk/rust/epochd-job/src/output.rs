//! What a job returns: its result bytes.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::JobError;

/// A job's result: bytes, JSON recommended (subscribers get them as is).
/// An empty output is an empty result.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Output {
    bytes: Vec<u8>,
}

impl Output {
    /// An empty result.
    pub fn empty() -> Output {
        Output::default()
    }

    /// A result of these bytes.
    pub fn bytes(bytes: impl Into<Vec<u8>>) -> Output {
        Output {
            bytes: bytes.into(),
        }
    }

    /// A result of `value` as compact JSON.
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<Output, JobError> {
        Ok(Output {
            bytes: serde_json::to_vec(value)?,
        })
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The bytes, owned.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether the result is empty.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

impl From<Vec<u8>> for Output {
    fn from(bytes: Vec<u8>) -> Output {
        Output { bytes }
    }
}

impl From<String> for Output {
    fn from(s: String) -> Output {
        Output {
            bytes: s.into_bytes(),
        }
    }
}

impl From<&str> for Output {
    fn from(s: &str) -> Output {
        Output::bytes(s.as_bytes())
    }
}

impl From<&[u8]> for Output {
    fn from(b: &[u8]) -> Output {
        Output::bytes(b)
    }
}

impl From<()> for Output {
    fn from((): ()) -> Output {
        Output::empty()
    }
}

/// A value to return as compact JSON: `Ok(Json(counts))`. As a merge input,
/// [`Json::parse`] reads one back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned> Json<T> {
    /// Parses a JSON result (e.g. a merge input).
    pub fn parse(bytes: &[u8]) -> Result<T, JobError> {
        Ok(serde_json::from_slice(bytes)?)
    }
}

/// What a job function may return in its `Ok`: turned into the result bytes.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a job's result",
    label = "not a result",
    note = "return one of: `Output`, `Json<T>` (T: Serialize), `Vec<u8>`, `&[u8]`, `String`, `&str`, `()` (empty)"
)]
pub trait IntoOutput {
    /// The result bytes.
    fn into_output(self) -> Result<Output, JobError>;
}

impl IntoOutput for Output {
    fn into_output(self) -> Result<Output, JobError> {
        Ok(self)
    }
}

impl<T: Serialize> IntoOutput for Json<T> {
    fn into_output(self) -> Result<Output, JobError> {
        Output::json(&self.0)
    }
}

impl IntoOutput for Vec<u8> {
    fn into_output(self) -> Result<Output, JobError> {
        Ok(self.into())
    }
}

impl IntoOutput for &[u8] {
    fn into_output(self) -> Result<Output, JobError> {
        Ok(self.into())
    }
}

impl IntoOutput for String {
    fn into_output(self) -> Result<Output, JobError> {
        Ok(self.into())
    }
}

impl IntoOutput for &str {
    fn into_output(self) -> Result<Output, JobError> {
        Ok(self.into())
    }
}

impl IntoOutput for () {
    fn into_output(self) -> Result<Output, JobError> {
        Ok(Output::empty())
    }
}

/// What a job or merge function returns: `Result<T, E>` with `T:`
/// [`IntoOutput`] and `E: Into<JobError>`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not what a job function returns",
    label = "a job function returns `Result<T, E>` here",
    note = "T is the result (`Output`, `Json<_>`, `Vec<u8>`, `String`, `&str` or `()`), E converts into `JobError`: e.g. `Result<Json<Counts>, JobError>`"
)]
pub trait JobResult {
    /// The result or the failure.
    fn into_job_result(self) -> Result<Output, JobError>;
}

impl<T: IntoOutput, E: Into<JobError>> JobResult for Result<T, E> {
    fn into_job_result(self) -> Result<Output, JobError> {
        self.map_err(Into::into)?.into_output()
    }
}
