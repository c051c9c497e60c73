//! The three kinds of failure: the runtime cannot start ([`JobError`]), a
//! module is refused at submission ([`SubmitError`], the submitter's mistake:
//! HTTP 4xx), a run fails ([`RunError`], recorded as that job's result).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::imports::ImportProblem;

/// The runtime could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JobError {
    /// A [`crate::RuntimeConfig`] field has a value it cannot have.
    #[error("job runtime config: `{field}` is {reason}")]
    Config {
        /// The field's name.
        field: &'static str,
        /// What is wrong and what is allowed.
        reason: String,
    },
    /// wasmtime refused the engine configuration or the ABI definitions.
    #[error("job runtime: cannot build the wasm engine: {reason}")]
    Engine {
        /// wasmtime's message.
        reason: String,
    },
    /// The epoch ticker thread could not be started.
    #[error("job runtime: cannot start the epoch ticker thread: {0}")]
    Ticker(#[source] std::io::Error),
}

/// A module refused at submission: each variant says what is wrong and
/// what to do, for the submitter (map them all to HTTP 4xx; 413 for
/// [`SubmitError::TooLarge`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SubmitError {
    /// The bytes are not a WebAssembly module at all.
    #[error(
        "not a WebAssembly module: {found}; submit a core wasm module (binary `.wasm` starting \
         with \\0asm{text})",
        text = if cfg!(feature = "wat") { ", or WebAssembly text" } else { "" }
    )]
    NotWasm {
        /// What the bytes look like.
        found: String,
    },
    /// The module is larger than the runtime accepts.
    #[error(
        "module is {size} bytes, more than the {limit} accepted; strip debug info and custom \
         sections (e.g. `wasm-opt -O --strip-debug`, or `strip = true` in the Cargo profile)"
    )]
    TooLarge {
        /// The module's size in bytes.
        size: usize,
        /// [`crate::RuntimeConfig::max_module_bytes`].
        limit: usize,
    },
    /// wasmtime could not parse, validate or compile it (malformed binary,
    /// text with a syntax error, a component, or a wasm feature ABI v1 does
    /// not allow such as threads, 64-bit or several memories).
    #[error("invalid module: {reason}")]
    Invalid {
        /// What wasmtime said, or what this is instead of a core module.
        reason: String,
    },
    /// A required export is missing.
    #[error(
        "missing export `{name}`: ABI v1 requires {what}; export it (see sdk/ABI.md, \"What the \
         module exports\")"
    )]
    MissingExport {
        /// `memory`, `epochd_abi_version` or `epochd_run`.
        name: &'static str,
        /// What the export must be.
        what: &'static str,
    },
    /// An ABI export exists with another kind or signature.
    #[error("export `{name}` is {found}; ABI v1 requires {expected}")]
    WrongExport {
        /// The export's name.
        name: String,
        /// What ABI v1 requires, e.g. `(func (result i32))`.
        expected: String,
        /// What the module has.
        found: String,
    },
    /// Imports the module may not have (ABI v1.1 allows the functions of
    /// `epochd` and of `wasi_snapshot_preview1`): every one of them at once,
    /// with advice for the toolchain that built the module.
    #[error("{}", imports_message(problems, toolchain.as_deref(), advice))]
    Imports {
        /// Every refused import, in import order.
        problems: Vec<ImportProblem>,
        /// The toolchain, as the module's producers section names it.
        toolchain: Option<String>,
        /// What to do, for that toolchain's language.
        advice: String,
    },
    /// `epochd_abi_version` returned another version.
    #[error(
        "the module declares ABI version {found} (from `epochd_abi_version`); this daemon runs \
         ABI version {supported}: rebuild the job with an SDK for ABI v{supported}"
    )]
    AbiVersion {
        /// What `epochd_abi_version` returned.
        found: i32,
        /// [`crate::ABI_VERSION`].
        supported: i32,
    },
    /// Instantiating the module or calling `epochd_abi_version` failed (a
    /// trap or endless loop in the start function or in
    /// `epochd_abi_version`, an initial memory above the runtime's ceiling).
    #[error(
        "the ABI check failed: instantiating the module and calling `epochd_abi_version` gave: \
         {reason}"
    )]
    AbiCheck {
        /// What went wrong.
        reason: String,
    },
}

fn imports_message(problems: &[ImportProblem], toolchain: Option<&str>, advice: &str) -> String {
    let mut text = match problems.len() {
        1 => "1 import is not allowed".to_owned(),
        n => format!("{n} imports are not allowed"),
    };
    if let Some(toolchain) = toolchain {
        text.push_str(&format!(" (the module was built by {toolchain})"));
    }
    text.push(':');
    for problem in problems {
        text.push_str(&format!("\n  - {problem}"));
    }
    text.push('\n');
    text.push_str(advice);
    text
}

/// Which export a failure happened in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EntryPoint {
    /// Instantiation (the module's start function, data segments).
    Instantiate,
    /// `_initialize`, a WASI reactor's set-up (ABI v1.1), called first.
    Initialize,
    /// `epochd_init`.
    Init,
    /// `epochd_run`.
    Run,
    /// `epochd_merge`.
    Merge,
    /// `epochd_abi_version` (only at submission).
    AbiVersion,
    /// A component's `run` (the job world's export).
    ComponentRun,
    /// A component's `merge`.
    ComponentMerge,
}

impl EntryPoint {
    /// The export's name, or "instantiation".
    pub const fn name(self) -> &'static str {
        match self {
            EntryPoint::Instantiate => "instantiation",
            EntryPoint::Initialize => "_initialize",
            EntryPoint::Init => "epochd_init",
            EntryPoint::Run => "epochd_run",
            EntryPoint::Merge => "epochd_merge",
            EntryPoint::AbiVersion => "epochd_abi_version",
            EntryPoint::ComponentRun => "run",
            EntryPoint::ComponentMerge => "merge",
        }
    }
}

impl fmt::Display for EntryPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why one run failed: recorded as the job's error for that (epoch, dc).
/// Nothing here affects other runs, other jobs or the process.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The guest trapped: `unreachable` (a Rust panic), an out-of-bounds
    /// access, a division by zero, a stack overflow, a host call with a
    /// pointer outside its memory...
    #[error("{entry} trapped: {message}{}", job_said(fail))]
    Trap {
        /// Where.
        entry: EntryPoint,
        /// The trap and its wasm backtrace.
        message: String,
        /// What the job passed to `fail` before trapping, if anything (an
        /// SDK's panic handler does this).
        fail: Option<String>,
    },
    /// The run took longer than its deadline and was interrupted.
    #[error("{entry} passed the deadline of {deadline:?} and was stopped")]
    DeadlineExceeded {
        /// Where.
        entry: EntryPoint,
        /// [`crate::RunLimits::deadline`].
        deadline: Duration,
    },
    /// The run was stopped by its caller
    /// ([`crate::JobModule::run_cancellable`]): the job was paused or
    /// removed while it ran.
    #[error("{entry} was stopped: the job was paused or removed while it ran")]
    Cancelled {
        /// Where.
        entry: EntryPoint,
    },
    /// The linear memory would have grown past the run's cap.
    #[error("{entry} asked for {requested} bytes of linear memory, more than the cap of {limit}")]
    OutOfMemory {
        /// Where.
        entry: EntryPoint,
        /// The size the memory would have had.
        requested: usize,
        /// The run's effective memory cap.
        limit: usize,
    },
    /// `emit` was called with more bytes than the job's maximum result size.
    #[error("result of {size} bytes is larger than the job's maximum result size of {limit}")]
    ResultTooLarge {
        /// The size `emit` was called with.
        size: usize,
        /// [`crate::RunLimits::max_result_bytes`].
        limit: usize,
    },
    /// An entry point returned non-zero.
    #[error("{entry} returned {code}: {}", if message.is_empty() { "(the job gave no reason: call `fail` before returning non-zero)" } else { message.as_str() })]
    Failed {
        /// Which entry point.
        entry: EntryPoint,
        /// What it returned.
        code: i32,
        /// What the job passed to `fail` ("" if nothing).
        message: String,
    },
    /// The module could not be instantiated (not the guest's doing).
    #[error("cannot instantiate the module: {message}")]
    Instantiate {
        /// wasmtime's message.
        message: String,
    },
    /// Every slot of the pooling allocator is in use: more concurrent runs
    /// than [`crate::RuntimeConfig::max_concurrent_runs`]. Retry later.
    #[error("too many concurrent runs (at most {limit}); retry, or raise max_concurrent_runs")]
    Busy {
        /// [`crate::RuntimeConfig::max_concurrent_runs`].
        limit: u32,
    },
    /// [`crate::JobModule::merge`] on a module that exports no `epochd_merge`.
    #[error("the module exports no `epochd_merge`: its results cannot be merged")]
    NoMerge,
}

fn job_said(fail: &Option<String>) -> String {
    match fail {
        Some(message) => format!(" (the job said: {message})"),
        None => String::new(),
    }
}

impl RunError {
    /// Its kind: what the result records, metrics and the API call it.
    pub fn kind(&self) -> ErrorKind {
        match self {
            RunError::Trap { .. } => ErrorKind::Trap,
            RunError::DeadlineExceeded { .. } => ErrorKind::Deadline,
            RunError::Cancelled { .. } => ErrorKind::Cancelled,
            RunError::OutOfMemory { .. } => ErrorKind::Memory,
            RunError::ResultTooLarge { .. } => ErrorKind::ResultSize,
            RunError::Failed { .. } => ErrorKind::Failed,
            RunError::Instantiate { .. } => ErrorKind::Instantiate,
            RunError::Busy { .. } => ErrorKind::Busy,
            RunError::NoMerge => ErrorKind::NoMerge,
        }
    }

    /// True when the job itself is at fault: [`ErrorKind::is_job_fault`].
    pub fn is_job_fault(&self) -> bool {
        self.kind().is_job_fault()
    }
}

/// Why a run left no result, from the runtime to the HTTP API: the kinds
/// of [`RunError`], and those the daemon records for a run that could not
/// happen or whose result it refused. Stored with each failed run, and
/// written (`snake_case`, e.g. `result_size`) in results, metrics and the
/// API; sdk/ABI.md lists them for job authors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The job trapped ([`RunError::Trap`]).
    Trap,
    /// It ran past its deadline ([`RunError::DeadlineExceeded`]).
    Deadline,
    /// It was stopped because it was paused or removed ([`RunError::Cancelled`]).
    Cancelled,
    /// Its memory would have grown past its cap ([`RunError::OutOfMemory`]).
    Memory,
    /// It emitted more than its maximum result size ([`RunError::ResultTooLarge`]).
    ResultSize,
    /// An entry point returned non-zero ([`RunError::Failed`]).
    Failed,
    /// The module could not be instantiated ([`RunError::Instantiate`]).
    Instantiate,
    /// No run slot was free ([`RunError::Busy`]).
    Busy,
    /// A merge was asked of a job without one ([`RunError::NoMerge`]).
    NoMerge,
    /// Its result was over the job's results rate, and not stored.
    ResultsRate,
    /// Its result was over the job's stored-results quota, and not stored.
    ResultsQuota,
    /// The commit's stored chunks are corrupt: no job ran on it.
    Corrupt,
    /// The commit's events could not be decoded: no job ran on it.
    Decode,
    /// The job was paused: this run did not happen.
    Skipped,
}

impl ErrorKind {
    /// Every kind, in declaration order.
    pub const ALL: [ErrorKind; 14] = [
        ErrorKind::Trap,
        ErrorKind::Deadline,
        ErrorKind::Cancelled,
        ErrorKind::Memory,
        ErrorKind::ResultSize,
        ErrorKind::Failed,
        ErrorKind::Instantiate,
        ErrorKind::Busy,
        ErrorKind::NoMerge,
        ErrorKind::ResultsRate,
        ErrorKind::ResultsQuota,
        ErrorKind::Corrupt,
        ErrorKind::Decode,
        ErrorKind::Skipped,
    ];

    /// The kind as written in results, metrics and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Trap => "trap",
            ErrorKind::Deadline => "deadline",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Memory => "memory",
            ErrorKind::ResultSize => "result_size",
            ErrorKind::Failed => "failed",
            ErrorKind::Instantiate => "instantiate",
            ErrorKind::Busy => "busy",
            ErrorKind::NoMerge => "no_merge",
            ErrorKind::ResultsRate => "results_rate",
            ErrorKind::ResultsQuota => "results_quota",
            ErrorKind::Corrupt => "corrupt",
            ErrorKind::Decode => "decode",
            ErrorKind::Skipped => "skipped",
        }
    }

    /// True when the job itself is at fault, so the failure counts toward
    /// pausing it. Not for what the runtime or the node caused (`busy`,
    /// `instantiate`, `no_merge`), a corrupt or undecodable commit (the
    /// data's, not the job's), or `cancelled` and `skipped`, whose cause was
    /// counted when the job was stopped or paused.
    pub fn is_job_fault(self) -> bool {
        !matches!(
            self,
            ErrorKind::Busy
                | ErrorKind::Instantiate
                | ErrorKind::NoMerge
                | ErrorKind::Cancelled
                | ErrorKind::Corrupt
                | ErrorKind::Decode
                | ErrorKind::Skipped
        )
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_is_written_as_its_name_and_read_back() {
        for kind in ErrorKind::ALL {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            assert_eq!(serde_json::from_str::<ErrorKind>(&json).unwrap(), kind);
            // Stored results are MessagePack (named fields): a kind is its
            // name there too, so records written when kinds were plain
            // strings still read.
            let packed = rmp_serde::to_vec_named(&kind).unwrap();
            assert_eq!(packed, rmp_serde::to_vec_named(kind.as_str()).unwrap());
            assert_eq!(rmp_serde::from_slice::<ErrorKind>(&packed).unwrap(), kind);
        }
    }

    #[test]
    fn a_run_error_is_the_jobs_fault_exactly_when_its_kind_is() {
        let entry = EntryPoint::Run;
        let errors = [
            RunError::Trap {
                entry,
                message: String::new(),
                fail: None,
            },
            RunError::DeadlineExceeded {
                entry,
                deadline: Duration::from_millis(5),
            },
            RunError::Cancelled { entry },
            RunError::OutOfMemory {
                entry,
                requested: 2,
                limit: 1,
            },
            RunError::ResultTooLarge { size: 2, limit: 1 },
            RunError::Failed {
                entry,
                code: 1,
                message: String::new(),
            },
            RunError::Instantiate {
                message: String::new(),
            },
            RunError::Busy { limit: 1 },
            RunError::NoMerge,
        ];
        let faults: Vec<&str> = errors
            .iter()
            .filter(|e| e.is_job_fault())
            .map(|e| e.kind().as_str())
            .collect();
        assert_eq!(
            faults,
            ["trap", "deadline", "memory", "result_size", "failed"]
        );
        for e in &errors {
            assert_eq!(e.is_job_fault(), e.kind().is_job_fault());
        }
    }
}
