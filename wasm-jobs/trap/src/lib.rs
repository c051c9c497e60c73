//! Hostile job `trap`: fails on purpose, in the way its config names.
//!
//! - empty or `panic`: panics (on wasm32: `fail("job panicked at ...: trap:
//!   deliberate panic ...")`, then a trap);
//! - `unreachable`: executes `unreachable` straight away (a bare trap, no
//!   `fail` message);
//! - `error`: returns an error (`fail("trap: deliberate error ...")`, then
//!   `epochd_run` returns 1: no trap).
//!
//! Any other config is itself an error.

use epochd_job::{Epoch, JobError};

/// Fails as configured.
#[epochd_job::job]
pub fn run(epoch: &Epoch) -> Result<(), JobError> {
    let how = epochd_job::config_str()?;
    match how.trim() {
        "" | "panic" => panic!("trap: deliberate panic in epoch {}", epoch.epoch()),
        "unreachable" => unreachable_instruction(),
        "error" => epochd_job::bail!("trap: deliberate error in epoch {}", epoch.epoch()),
        other => epochd_job::bail!(
            "trap: unknown config {other:?} (expected panic, unreachable or error)"
        ),
    }
}

#[cfg(target_arch = "wasm32")]
fn unreachable_instruction() -> ! {
    core::arch::wasm32::unreachable()
}

#[cfg(not(target_arch = "wasm32"))]
fn unreachable_instruction() -> ! {
    panic!("trap: `unreachable` (a wasm trap on wasm32)")
}
