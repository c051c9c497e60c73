//! The job's config: bytes given at submission, the same for every run.

use serde::de::DeserializeOwned;

use crate::host;
use crate::JobError;

/// The job's config bytes (empty when none was given).
pub fn config() -> Vec<u8> {
    let len = host::expect("config_len", host::config_len()) as usize;
    let mut buf = vec![0u8; len];
    if len > 0 {
        let got = host::expect("config_read", host::config_read(&mut buf)) as usize;
        buf.truncate(got.min(len));
    }
    buf
}

/// The job's config as UTF-8 text.
pub fn config_str() -> Result<String, JobError> {
    Ok(String::from_utf8(config())?)
}

/// The job's config parsed as JSON; `None` when it is empty.
pub fn config_json<T: DeserializeOwned>() -> Result<Option<T>, JobError> {
    let bytes = config();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| JobError::msg(format!("the job's config is not the JSON it expects: {e}")))
}
