//! The job runtime: WebAssembly jobs (ABI v1, `sdk/ABI.md`) run over a
//! decoded, shared epoch, each run isolated.
//!
//! One [`Runtime`] per process holds one wasmtime engine (cranelift, epoch
//! interruption driven by a ticker thread, the pooling allocator) and the
//! ABI's host functions. [`Runtime::compile`] compiles a submitted module
//! once and checks it against ABI v1, refusing it with a specific
//! [`SubmitError`]. [`JobModule::run`] then runs it over one
//! [`epochd_decode::SharedEpoch`] in a fresh instance, and
//! [`JobModule::merge`] combines two of its results.
//!
//! # The guarantee: a run is isolated
//! - Every run gets a fresh Store and instance: nothing a run does (memory,
//!   globals, handles, its result) is seen by any other run.
//! - A trap, the wall-clock deadline ([`RunLimits::deadline`], enforced to
//!   within one tick), linear memory beyond the cap
//!   ([`RunLimits::memory_bytes`]), a result over the limit
//!   ([`RunLimits::max_result_bytes`]) or a non-zero return becomes that
//!   run's [`RunError`] in its [`RunReport`]. None of them affects other
//!   runs of the same module, other modules, or the process;
//!   [`JobModule::run`] never panics and never returns early.
//! - A host function never panics, whatever the guest passes: a pointer
//!   outside its memory traps *the guest*.
//! - What a run costs the host outside the guest's own memory is bounded:
//!   its result (at most `max_result_bytes`), its logs (64 lines, 16 KiB),
//!   its `fail` message (4 KiB), its handle table (one entry per column or
//!   container of the epoch at most).
//!
//! CPU shares are not enforced here: the caller runs [`JobModule::run`] on
//! a thread placed in the job's cgroup.
//!
//! # What a run can see
//! Only what ABI v1 gives it: the epoch's metadata (epoch, dc, seq, rows),
//! its columns and containers, read through host functions that copy just
//! the requested slice from the sealed shared epoch into guest memory (the
//! epoch is never copied whole); the job's config bytes; in a merge, the two
//! results. No WASI: no files, network, clock or randomness. Its only output
//! is the bytes it `emit`s, its `fail` message and its log lines.
//!
//! # Instantiation cost
//! Measured on the 2-core development machine by the test
//! `many_instantiations` (1000 sequential runs of a small job with a data
//! segment and 17 pages of memory; run it with `--nocapture`):
//!
//! | allocator | instantiation | whole run (Store, instance, `epochd_run`, teardown) |
//! |---|---|---|
//! | pooling (default) | 1-2 us | 4-6 us |
//! | on demand | 9-12 us | 26-38 us |
//!
//! The pooling allocator reuses a warm slot (no `mmap`, the copy-on-write
//! data image already mapped, the first 64 KiB reset with a memset). Its
//! price: one ~4 GiB address-space reservation per
//! [`RuntimeConfig::max_concurrent_runs`] slot, up to 80 KiB of RSS kept per
//! slot ever used, and at most that many runs at once
//! ([`RunError::Busy`] beyond). The runtime falls back to on-demand
//! allocation when it cannot reserve the pool. Either way instantiation is
//! noise next to a job's own work (Booking measured ~10 ms per job-second).
//!
//! # Example
//! ```
//! use epochd_decode::{decode_raw, EpochMeta};
//! use epochd_jobs::{RunError, RunLimits, Runtime, RuntimeConfig};
//! use serde_json::json;
//!
//! // A decoded epoch of two events.
//! let events: Vec<u8> = [json!({"type": "WEB", "status": 200}), json!({"type": "WEB", "status": 500})]
//!     .iter()
//!     .flat_map(|e| rmp_serde::to_vec_named(e).unwrap())
//!     .collect();
//! let meta = EpochMeta { epoch: 1_700_000_000, dc: "ams4".into(), seq: 0 };
//! let epoch = decode_raw(meta, &[events]).unwrap();
//!
//! let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
//! // A job that emits the number of events (as a little-endian u32). Written
//! // in WebAssembly text here; real jobs are built with an SDK.
//! let count = runtime.compile(br#"(module
//!   (import "epochd" "rows" (func $rows (result i32)))
//!   (import "epochd" "emit" (func $emit (param i32 i32) (result i32)))
//!   (memory (export "memory") 1)
//!   (func (export "epochd_abi_version") (result i32) (i32.const 1))
//!   (func (export "epochd_run") (result i32)
//!     (i32.store (i32.const 0) (call $rows))
//!     (drop (call $emit (i32.const 0) (i32.const 4)))
//!     (i32.const 0)))"#).unwrap();
//! let report = count.run(&RunLimits::default(), &epoch, b"");
//! assert_eq!(report.outcome.unwrap(), 2u32.to_le_bytes());
//!
//! // A job that never returns is stopped at its deadline; nothing else is affected.
//! let spin = runtime.compile(br#"(module
//!   (memory (export "memory") 1)
//!   (func (export "epochd_abi_version") (result i32) (i32.const 1))
//!   (func (export "epochd_run") (result i32) (loop (br 0)) (i32.const 0)))"#).unwrap();
//! let limits = RunLimits { deadline: std::time::Duration::from_millis(50), ..RunLimits::default() };
//! let report = spin.run(&limits, &epoch, b"");
//! assert!(matches!(report.outcome, Err(RunError::DeadlineExceeded { .. })));
//! assert!(count.run(&limits, &epoch, b"").is_ok());
//! ```
#![deny(missing_docs)]

mod abi;
mod artifact;
mod component;
mod config;
mod engine;
mod epoch_read;
mod error;
mod host;
mod imports;
mod module;
mod preinit;
mod run;
mod state;
mod submit;
mod toolchain;
mod wasi;

pub use abi::{
    ErrorCode, ABI_VERSION, IMPORT_MODULE, MAX_FAIL_MESSAGE_BYTES, MAX_LOG_BYTES, MAX_LOG_LINES,
};
pub use artifact::ArtifactError;
pub use config::{RunLimits, RuntimeConfig};
pub use engine::Runtime;
pub use error::{EntryPoint, ErrorKind, JobError, RunError, SubmitError};
pub use imports::{ImportProblem, ImportReason};
pub use module::JobModule;
pub use run::{CancelToken, RunReport, CANCEL_CHECK_TICKS};
pub use state::{LogLevel, LogLine};
pub use wasi::WASI_MODULE;
