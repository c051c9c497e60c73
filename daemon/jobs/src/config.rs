//! The runtime's configuration (one per process) and a run's limits (one per
//! job, from its manifest).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::JobError;

/// 1 MiB.
const MIB: usize = 1 << 20;
/// The largest wasm32 linear memory: 65536 pages of 64 KiB.
pub(crate) const WASM32_MAX_MEMORY: usize = 1 << 32;

/// How the job runtime is set up: one per process, read at start-up.
///
/// Deserialises from the daemon's config with unknown fields refused and
/// every field optional (its default below). [`RuntimeConfig::validate`]
/// checks the values; [`crate::Runtime::new`] calls it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeConfig {
    /// How often the ticker thread advances the engine's epoch, in
    /// milliseconds. Default `10`; 1..=1000.
    ///
    /// This is the deadline's granularity: a run is interrupted between
    /// `deadline` and `deadline + tick` after it starts. Smaller ticks give
    /// tighter deadlines for more wake-ups (each one is a few microseconds
    /// of one thread, whether jobs run or not). Epoch interruption itself
    /// costs the guest ~10% (a check at every loop head and call), against
    /// ~25% for fuel, which is why deadlines are wall-clock and not counted
    /// instructions: CPU shares are the cgroups' job.
    pub tick_ms: u64,
    /// The largest module accepted at submission, in bytes (binary, or text
    /// with the `wat` feature). Default 64 MiB (a Python or JavaScript
    /// job is a 12-20 MB component).
    pub max_module_bytes: usize,
    /// Use wasmtime's pooling instance allocator. Default `true`.
    ///
    /// Pooling reserves (virtual address space only) `max_concurrent_runs`
    /// slots of linear memory up front and reuses them, so a run's
    /// instantiation is a few microseconds instead of a few tens (fresh
    /// `mmap`s and page-table work per run); the measured numbers are in the
    /// crate docs. The price: at most `max_concurrent_runs` runs at once
    /// (more fail with [`crate::RunError::Busy`]) and ~4 GiB of address space
    /// per slot. If the engine cannot be built with the pool (address space
    /// limited by `ulimit -v`, say), the runtime falls back to on-demand
    /// allocation and logs a warning; [`crate::Runtime::pooling`] says which.
    pub pooling: bool,
    /// Pooling only: how many runs can be alive at once, across all modules
    /// (the pool's instance, memory and table slots). Default `256`; at least 1.
    /// Set it to at least the number of threads that call
    /// [`crate::JobModule::run`] (plus one for submissions).
    pub max_concurrent_runs: u32,
    /// The ceiling of any run's linear memory, in bytes. Default 4 GiB (all
    /// of wasm32); at least 64 KiB. A run's own cap
    /// ([`RunLimits::memory_bytes`]) is clamped to it.
    pub max_memory_bytes: usize,
    /// The most elements a module's table may have (function pointers, for
    /// indirect calls). Default `20000`, wasmtime's own default (a C# debug
    /// build has 10k+).
    pub max_table_elements: usize,
    /// The most bytes of native stack wasm code may use before it traps
    /// with a stack overflow. Default 512 KiB (wasmtime's); 64 KiB..=8 MiB.
    pub max_wasm_stack_bytes: usize,
    /// The deadline of the ABI check at submission (instantiate the module,
    /// call `epochd_abi_version`), in milliseconds. Default `1000`.
    pub check_deadline_ms: u64,
}

impl Default for RuntimeConfig {
    fn default() -> RuntimeConfig {
        RuntimeConfig {
            tick_ms: 10,
            max_module_bytes: 64 * MIB,
            pooling: true,
            max_concurrent_runs: 256,
            max_memory_bytes: WASM32_MAX_MEMORY,
            max_table_elements: 20_000,
            max_wasm_stack_bytes: 512 * 1024,
            check_deadline_ms: 1000,
        }
    }
}

impl RuntimeConfig {
    /// Checks every value (touches nothing outside the struct).
    pub fn validate(&self) -> Result<(), JobError> {
        let bad = |field: &'static str, reason: String| Err(JobError::Config { field, reason });
        if !(1..=1000).contains(&self.tick_ms) {
            return bad(
                "tick_ms",
                format!("{} ms: must be 1..=1000 (default 10)", self.tick_ms),
            );
        }
        if self.max_module_bytes == 0 {
            return bad("max_module_bytes", "0: must be at least 1".into());
        }
        if self.pooling && self.max_concurrent_runs == 0 {
            return bad(
                "max_concurrent_runs",
                "0: the pool needs at least one slot (or set pooling = false)".into(),
            );
        }
        if !(64 * 1024..=WASM32_MAX_MEMORY).contains(&self.max_memory_bytes) {
            return bad(
                "max_memory_bytes",
                format!(
                    "{}: must be 64 KiB..=4 GiB (one wasm page to all of wasm32)",
                    self.max_memory_bytes
                ),
            );
        }
        if !(64 * 1024..=8 * MIB).contains(&self.max_wasm_stack_bytes) {
            return bad(
                "max_wasm_stack_bytes",
                format!("{}: must be 64 KiB..=8 MiB", self.max_wasm_stack_bytes),
            );
        }
        if self.check_deadline_ms == 0 {
            return bad("check_deadline_ms", "0: must be at least 1".into());
        }
        Ok(())
    }

    /// The tick as a duration.
    pub fn tick(&self) -> Duration {
        Duration::from_millis(self.tick_ms)
    }
}

/// What one run may use: from the job's manifest, passed to every
/// [`crate::JobModule::run`] and [`crate::JobModule::merge`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunLimits {
    /// Wall-clock time of a run, from the start of instantiation to the
    /// return of its last entry point (`epochd_init` included). Default 1 s.
    ///
    /// Enforced by epoch interruption: the run is interrupted between
    /// `deadline` and `deadline + tick` after it starts, and fails with
    /// [`crate::RunError::DeadlineExceeded`]. A host call in progress
    /// finishes first (each copies at most what the guest asked for).
    pub deadline: Duration,
    /// The most bytes of linear memory the run may have, its initial memory
    /// included. Default 64 MiB. A `memory.grow` past it traps and the run
    /// fails with [`crate::RunError::OutOfMemory`] (as does a module whose
    /// initial memory is larger). Clamped to
    /// [`RuntimeConfig::max_memory_bytes`].
    pub memory_bytes: usize,
    /// The largest result `emit` accepts, in bytes. Default 1 MiB. A larger
    /// `emit` returns `TOO_LARGE` to the guest and the run fails with
    /// [`crate::RunError::ResultTooLarge`].
    pub max_result_bytes: usize,
    /// Seeds the run's `random_get` stream (WASI, ABI v1.1) together with
    /// the epoch and the dc, so that a job's runs are repeatable on every
    /// node and distinct between jobs. The daemon derives it from the job's
    /// name. Default 0.
    pub random_seed: u64,
}

impl Default for RunLimits {
    fn default() -> RunLimits {
        RunLimits {
            deadline: Duration::from_secs(1),
            memory_bytes: 64 * MIB,
            max_result_bytes: MIB,
            random_seed: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_are_refused_and_missing_ones_default() {
        let config: RuntimeConfig = serde_json::from_str(r#"{"tick_ms": 5}"#).unwrap();
        assert_eq!(config.tick_ms, 5);
        assert_eq!(config.max_module_bytes, 64 * MIB);
        let err = serde_json::from_str::<RuntimeConfig>(r#"{"tick": 5}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field `tick`"), "{err}");
    }

    #[test]
    fn defaults_validate_and_bad_values_name_their_field() {
        RuntimeConfig::default().validate().unwrap();
        let config = RuntimeConfig {
            tick_ms: 0,
            ..RuntimeConfig::default()
        };
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("tick_ms"), "{err}");
        let config = RuntimeConfig {
            max_memory_bytes: 10,
            ..RuntimeConfig::default()
        };
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("max_memory_bytes"), "{err}");
    }
}
