//! What can stop the pipeline: opening the daemon, and a commit that could
//! not be processed for now (it is tried again; what is the commit's own
//! fault, such as a corrupt chunk, is a recorded error instead, not one of
//! these).

use epochd_decode::DecodeError;
use epochd_jobs::JobError;

use super::source::SourceError;
use crate::registry::RegistryError;
use crate::results::ResultsError;

/// Why the daemon did not open.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// Its database (jobs and results) did not open.
    #[error("opening the daemon database in {path}: {source}")]
    Database {
        /// The data directory.
        path: String,
        /// sled's error.
        source: sled::Error,
    },
    /// The folder of compiled jobs could not be created.
    #[error(
        "creating the folder of compiled jobs {path}: {source}; check the data directory's \
         permissions and free space"
    )]
    CompiledDir {
        /// The folder.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The WebAssembly runtime did not start.
    #[error("starting the wasm runtime: {0}")]
    Runtime(#[from] JobError),
    /// The stored jobs could not be loaded.
    #[error("loading the stored jobs: {0}")]
    Registry(#[from] RegistryError),
    /// The results store did not open.
    #[error("opening the results: {0}")]
    Results(#[from] ResultsError),
}

/// Why a commit was not processed this time; it may pass (the store away,
/// no memory for the decoded epoch), so the commit is tried again.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProcessError {
    /// Its manifest or chunks could not be read.
    #[error("reading the commit: {0}")]
    Read(#[from] SourceError),
    /// Decoding failed for a reason that may pass (shared memory).
    #[error("decoding the commit: {0}")]
    Decode(#[from] DecodeError),
    /// A task of it ended abnormally (a bug).
    #[error("a task processing the commit failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// Processing it panicked (a bug); it is tried again like any failure.
    #[error("processing the commit panicked")]
    Panicked,
    /// The daemon is stopping: its runs will not finish.
    #[error("the daemon stopped before the commit's runs were done")]
    Stopped,
}

/// Why a backfill stopped before its end.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackfillError {
    /// The job was deleted (or deleted and submitted again) meanwhile.
    #[error("the job was deleted")]
    JobDeleted,
    /// The stored commits could not be listed.
    #[error("listing the stored commits: {0}")]
    List(SourceError),
    /// A commit could not be processed.
    #[error(transparent)]
    Process(#[from] ProcessError),
}
