//! The error a job returns.

use std::fmt;

/// Why a job's run (or merge) failed. The SDK reports it to the host with
/// `fail` (its [`Display`](fmt::Display) text is the recorded reason) and
/// returns non-zero.
#[derive(Debug)]
#[non_exhaustive]
pub enum JobError {
    /// A failure the job describes itself.
    Message(String),
    /// A result or an input could not be encoded or decoded as JSON.
    Json(serde_json::Error),
    /// The result was larger than the job's maximum result size (the
    /// manifest's limit); the host refused it.
    TooLarge {
        /// The result's length in bytes.
        len: usize,
    },
    /// The host answered a call with an error code the SDK did not expect
    /// there: a bug in the SDK or the host.
    Abi {
        /// The ABI function called.
        call: &'static str,
        /// The code it returned.
        code: i32,
    },
}

impl JobError {
    /// A failure with a message.
    pub fn msg(message: impl Into<String>) -> JobError {
        JobError::Message(message.into())
    }
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JobError::Message(m) => f.write_str(m),
            JobError::Json(e) => write!(f, "JSON: {e}"),
            JobError::TooLarge { len } => write!(
                f,
                "the result ({len} bytes) is larger than the job's maximum result size"
            ),
            JobError::Abi { call, code } => {
                let name = epochd_job_sys::ErrorCode::from_code(*code)
                    .map_or("an unknown code", epochd_job_sys::ErrorCode::name);
                write!(f, "the host answered `{call}` with {name} ({code})")
            }
        }
    }
}

impl std::error::Error for JobError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            JobError::Json(e) => Some(e),
            _ => None,
        }
    }
}

impl From<serde_json::Error> for JobError {
    fn from(e: serde_json::Error) -> JobError {
        JobError::Json(e)
    }
}

impl From<String> for JobError {
    fn from(m: String) -> JobError {
        JobError::Message(m)
    }
}

impl From<&str> for JobError {
    fn from(m: &str) -> JobError {
        JobError::Message(m.to_owned())
    }
}

impl From<std::str::Utf8Error> for JobError {
    fn from(e: std::str::Utf8Error) -> JobError {
        JobError::Message(format!("invalid UTF-8: {e}"))
    }
}

impl From<std::string::FromUtf8Error> for JobError {
    fn from(e: std::string::FromUtf8Error) -> JobError {
        JobError::Message(format!("invalid UTF-8: {e}"))
    }
}

/// Returns early from a job with a [`JobError::Message`] made like
/// `format!`.
///
/// ```
/// # fn f(rows: u32) -> Result<(), epochd_job::JobError> {
/// if rows == 0 {
///     epochd_job::bail!("no events in this epoch");
/// }
/// # Ok(()) }
/// ```
#[macro_export]
macro_rules! bail {
    ($($arg:tt)*) => {
        return ::core::result::Result::Err($crate::JobError::Message(::std::format!($($arg)*)).into())
    };
}
