//! Hostile job `huge-result`: emits a result of 10 MiB (10 485 760 bytes),
//! or of the byte count its config gives (decimal text). The result is a
//! valid JSON string (`"xxx..."`, quotes included in the size). Past the
//! job's maximum result size the host refuses it (`TOO_LARGE`): the SDK
//! reports `fail("the result (N bytes) is larger than ...")` and
//! `epochd_run` returns 1.

use epochd_job::{Epoch, JobError, Output};

/// The size emitted without a config.
pub const DEFAULT_SIZE: usize = 10 << 20;

/// Emits the huge result.
#[epochd_job::job]
pub fn run(_epoch: &Epoch) -> Result<Output, JobError> {
    let config = epochd_job::config_str()?;
    let size = match config.trim() {
        "" => DEFAULT_SIZE,
        n => n
            .parse::<usize>()
            .map_err(|e| JobError::msg(format!("huge-result: config {n:?}: {e}")))?,
    };
    let mut bytes = vec![b'x'; size.max(2)];
    bytes[0] = b'"';
    bytes[size.max(2) - 1] = b'"';
    Ok(Output::bytes(bytes))
}
