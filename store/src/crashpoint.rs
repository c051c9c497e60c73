//! Crash points for tests: `EPOCHD_CRASHPOINT=<name>` makes the process abort
//! at that point of a commit, as `kill -9` would, so tests can check what a
//! crash at the worst moment leaves behind. Unset, a crash point costs one
//! load of a cached value.
//!
//! Points: `after-chunks` (chunks written, manifest not), `after-commit`
//! (manifest and notice durable, nobody told yet).

use std::sync::OnceLock;

/// Aborts the process if `EPOCHD_CRASHPOINT` names `point`.
pub(crate) fn crash_point(point: &str) {
    static ARMED: OnceLock<Option<String>> = OnceLock::new();
    let armed = ARMED.get_or_init(|| std::env::var("EPOCHD_CRASHPOINT").ok());
    if armed.as_deref() == Some(point) {
        eprintln!("EPOCHD_CRASHPOINT={point}: aborting the process");
        std::process::abort();
    }
}
