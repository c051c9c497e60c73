//! The store's errors. Client mistakes and internal failures are separate
//! variants so the HTTP layer can answer 4xx with the message, or 5xx with a
//! generic one while logging the detail.

use std::fmt;

use crate::health::Fault;
use crate::key::{ChunkKey, ManifestKey};

/// A name (dc, type, subtype, key) outside the accepted alphabet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// A data-center name that is not lowercase `[a-z][a-z0-9_-]*`, 1..=32 bytes.
    #[error("dc {0:?} is not a valid data-center name: use 1 to 32 lowercase letters, digits, '_' or '-', starting with a letter (e.g. \"ams4\")")]
    Dc(String),
    /// A type or subtype outside `[A-Za-z0-9_][A-Za-z0-9_.:-]*`, 1..=64 bytes.
    #[error("{field} {name:?} is not a valid name: use 1 to 64 ASCII letters, digits, '_', '.', ':' or '-', starting with a letter, digit or '_'")]
    Type {
        /// `type` or `subtype`.
        field: &'static str,
        /// The refused name.
        name: String,
    },
    /// A text chunk key that is not `epoch/dc/type/subtype/chunk`.
    #[error("{0:?} is not a chunk key: expected epoch/dc/type/subtype/chunk, with subtype '-' when the events have none (e.g. 1700000000/ams4/WEB/app/0)")]
    ChunkKey(String),
}

/// Why one event of a batch was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// The line is not valid JSON.
    #[error("malformed JSON: {0}")]
    Json(String),
    /// The bytes are not valid MessagePack.
    #[error("malformed MessagePack: {0}")]
    MsgPack(String),
    /// The event is not a map/object at the top level.
    #[error("an event must be a JSON object / MessagePack map, found {0}")]
    NotAMap(&'static str),
    /// No `timestamp` field.
    #[error("missing \"timestamp\" (unix seconds, integer or float)")]
    MissingTimestamp,
    /// `timestamp` is not a finite, non-negative number.
    #[error("\"timestamp\" must be a finite, non-negative number of unix seconds, found {0}")]
    BadTimestamp(String),
    /// `timestamp` lies further in the future than the store accepts.
    #[error("\"timestamp\" {timestamp} is {ahead_secs:.0} s in the future; at most {max_secs} s ahead is accepted (is the producer's clock right, and is it seconds, not milliseconds?)")]
    FutureTimestamp {
        /// The event's timestamp.
        timestamp: f64,
        /// How far ahead of the store's clock it is.
        ahead_secs: f64,
        /// The configured limit.
        max_secs: u64,
    },
    /// The event's epoch is older than the retention horizon: it would be
    /// deleted at once. In a batch it is counted and left out; as a
    /// low-level commit's epoch it refuses the commit.
    #[error("{0}")]
    TooOld(String),
    /// No `type` field, or not a string.
    #[error("missing \"type\" (a string such as \"WEB\")")]
    MissingType,
    /// `dc`, `type` or `subtype` present but not a string.
    #[error("\"{0}\" must be a string")]
    NotAString(&'static str),
    /// A field appears twice at the top level.
    #[error("field \"{0}\" appears twice")]
    DuplicateField(&'static str),
    /// A name outside the alphabet.
    #[error(transparent)]
    Name(#[from] NameError),
    /// Nesting deeper than the limit.
    #[error("nested deeper than {0} levels")]
    TooDeep(usize),
    /// One event larger than the limit.
    #[error("event of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Encoded size of the event.
        size: usize,
        /// The limit.
        limit: usize,
    },
}

/// One refused event, with where it was in the batch.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRejection {
    /// 1-based line number (NDJSON) or 1-based event index (MessagePack).
    pub position: usize,
    /// Why it was refused.
    pub error: EventError,
}

impl fmt::Display for EventRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "event {}: {}", self.position, self.error)
    }
}

/// Why a manifest could not be committed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// The manifest names a chunk that was never stored.
    #[error("chunk {0} is not in the store: PUT every chunk before the manifest")]
    MissingChunk(ChunkKey),
    /// The stored chunk's size differs from the manifest's.
    #[error("chunk {key} has {actual} bytes but the manifest says {expected}")]
    SizeMismatch {
        /// The chunk.
        key: ChunkKey,
        /// Size in the manifest.
        expected: u64,
        /// Size in the store.
        actual: u64,
    },
    /// The stored chunk's checksum differs from the manifest's.
    #[error("chunk {key} has checksum {actual} but the manifest says {expected}: the chunk was damaged or the manifest is for other bytes")]
    ChecksumMismatch {
        /// The chunk.
        key: ChunkKey,
        /// Checksum in the manifest.
        expected: String,
        /// Checksum of the stored bytes.
        actual: String,
    },
    /// The chunk does not decode, or its events do not match its key or the manifest.
    #[error("chunk {key} is not a valid chunk: {reason}")]
    BadChunk {
        /// The chunk.
        key: ChunkKey,
        /// What is wrong with it.
        reason: String,
    },
    /// The manifest contradicts itself or its URL.
    #[error("manifest is inconsistent: {0}")]
    Inconsistent(String),
    /// A different manifest is already committed under this key.
    #[error("a different manifest is already committed as {0}; commits are immutable (use the next seq for a supplementary commit)")]
    Conflict(ManifestKey),
    /// The manifest's format version is not one this store reads.
    #[error("manifest version {found} is not supported; this store writes and reads version {supported}")]
    Version {
        /// The version in the manifest.
        found: u16,
        /// The version this store supports.
        supported: u16,
    },
}

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A batch had malformed or invalid events; nothing of it was stored.
    #[error("{} of the batch's events were refused and nothing was stored; first: {}", .total, .rejections.first().map(ToString::to_string).unwrap_or_default())]
    BadBatch {
        /// The first refused events (at most [`crate::MAX_REPORTED_REJECTIONS`]).
        rejections: Vec<EventRejection>,
        /// How many events were refused in total.
        total: usize,
    },
    /// The request body is larger than the configured limit.
    #[error(
        "body of {size} bytes exceeds the limit of {limit} bytes: split it into smaller batches"
    )]
    BodyTooLarge {
        /// Size of the body.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The store holds more unsealed data than its budget; retry later.
    #[error("the store is buffering {buffered} bytes of unsealed events, over its budget of {budget}: retry in a moment")]
    Overloaded {
        /// Bytes buffered now.
        buffered: usize,
        /// The budget.
        budget: usize,
    },
    /// A name in a request is invalid.
    #[error(transparent)]
    Name(#[from] NameError),
    /// A manifest was refused; nothing was committed.
    #[error(transparent)]
    Manifest(Box<ManifestError>),
    /// A chunk key already holds different bytes; chunks are immutable.
    #[error(
        "chunk {0} already holds different bytes; chunks are immutable (use another chunk number)"
    )]
    ChunkConflict(Box<ChunkKey>),
    /// A chunk blob that is not a zstd frame of MessagePack events.
    #[error("chunk {key} is not a valid chunk: {reason}")]
    BadChunk {
        /// The chunk.
        key: Box<ChunkKey>,
        /// What is wrong.
        reason: String,
    },
    /// Waiting for a commit took longer than allowed.
    #[error("the events were accepted and are durable, but their commit did not happen within {0:?}; they will be committed later")]
    CommitWaitTimeout(std::time::Duration),
    /// A configuration value is invalid.
    #[error("invalid store configuration: {0}")]
    Config(String),
    /// The store is shutting down.
    #[error("the store is shutting down")]
    Closed,
    /// The embedded database failed.
    #[error("database error: {0}")]
    Db(#[from] sled::Error),
    /// A file operation failed (write-ahead log, data directory).
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or directory.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Stored data that should be valid is not.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The disk under the data directory is full (or below the reserve the
    /// store keeps for its commits). Nothing of the request was stored.
    #[error("the disk under the data directory is full ({detail}); nothing of this request was stored: retry once space is freed (the store resumes by itself)")]
    DiskFull {
        /// What was found: free bytes and the reserve, or the failed write.
        detail: String,
    },
    /// A passing fault (no file descriptor left, an I/O error on a write)
    /// keeps the store from taking writes now; it resumes by itself.
    #[error("the store cannot take writes for now ({detail}); nothing of this request was stored: retry in a moment (the store resumes by itself)")]
    Unavailable {
        /// What failed.
        detail: String,
    },
    /// The store stopped after a fault it cannot get over alone (the
    /// database's own log failed, or a sync of the write-ahead log failed).
    #[error("the store stopped taking writes after a fault it cannot recover from while running ({reason}); restart it: the restart replays the write-ahead log and loses nothing acknowledged")]
    Failed {
        /// The fault.
        reason: String,
    },
    /// The batch was written to the write-ahead log but the sync that makes
    /// it durable failed: it may or may not be stored.
    #[error("the batch was written but could not be made durable ({detail}): it may or may not be stored. Retry it with the same Idempotency-Key once the store is back, so it is stored exactly once")]
    DurabilityUnknown {
        /// The failed sync.
        detail: String,
    },
    /// A low-level chunk or manifest of an epoch outside the clock's bounds
    /// (as an event's timestamp would be refused); nothing was stored.
    #[error("{subject} is refused, nothing was stored: {reason}")]
    EpochOutOfBounds {
        /// What was refused, e.g. "chunk 1733380000/ams4/WEB/-/0".
        subject: String,
        /// Why: [`EventError::FutureTimestamp`] or [`EventError::TooOld`].
        reason: EventError,
    },
    /// An idempotency key that is not 1 to 128 printable ASCII characters.
    #[error("{0}")]
    BadIdempotencyKey(String),
    /// The idempotency key was used, within the window, for a batch with
    /// another body. Nothing was stored.
    #[error("Idempotency-Key {key:?} was used for a different batch (another body) within the last {window_secs} s; nothing was stored: send a new batch with a new key, and a retry with its first body unchanged")]
    IdempotencyKeyReused {
        /// The key.
        key: String,
        /// How long keys are remembered.
        window_secs: u64,
    },
    /// A request with the same idempotency key is being stored and not yet
    /// answered. Nothing was stored by this one.
    #[error("a request with Idempotency-Key {key:?} is being stored right now; nothing was stored by this one: retry in a moment to get its answer")]
    IdempotencyKeyInFlight {
        /// The key.
        key: String,
    },
    /// A committed chunk's bytes are wrong: they fail their checksum, the
    /// bucket file ends before them, or the file is gone. Reading again
    /// gives the same answer, unlike an I/O error ([`StoreError::Io`]), which
    /// may pass.
    #[error("chunk {key} is corrupt: {reason}")]
    CorruptChunk {
        /// The chunk.
        key: Box<ChunkKey>,
        /// What is wrong, e.g. "checksum mismatch: expected ..., actual ...".
        reason: String,
    },
}

impl StoreError {
    /// True when the caller's input caused the error (HTTP 4xx), false when
    /// the store failed (HTTP 5xx).
    pub fn is_client_error(&self) -> bool {
        matches!(
            self,
            StoreError::BadBatch { .. }
                | StoreError::BodyTooLarge { .. }
                | StoreError::Name(_)
                | StoreError::Manifest(_)
                | StoreError::ChunkConflict(_)
                | StoreError::BadChunk { .. }
                | StoreError::EpochOutOfBounds { .. }
                | StoreError::BadIdempotencyKey(_)
                | StoreError::IdempotencyKeyReused { .. }
                | StoreError::IdempotencyKeyInFlight { .. }
        )
    }

    /// The passing fault behind this error, if it is one: a full disk, no
    /// file descriptor left, or an I/O error on one of the store's own
    /// files. `None` for everything else, the database's own I/O errors
    /// included (sled stops for good after one, until it is reopened).
    pub fn transient_fault(&self) -> Option<Fault> {
        match self {
            StoreError::Io { source, .. } => Fault::of(source),
            StoreError::DiskFull { .. } => Some(Fault::DiskFull),
            StoreError::Unavailable { .. } => Some(Fault::Io),
            _ => None,
        }
    }

    /// This error as a refusal of the passing fault behind it ([`StoreError::DiskFull`]
    /// or [`StoreError::Unavailable`]), so a producer is told what is wrong
    /// and that it may retry; any other error unchanged.
    pub fn as_refusal(self) -> StoreError {
        let StoreError::Io { source, .. } = &self else {
            return self;
        };
        match Fault::of(source) {
            Some(Fault::DiskFull) => StoreError::DiskFull {
                detail: self.to_string(),
            },
            Some(Fault::NoDescriptors | Fault::Io) => StoreError::Unavailable {
                detail: self.to_string(),
            },
            None => self,
        }
    }

    pub(crate) fn io(path: impl Into<std::path::PathBuf>, source: std::io::Error) -> StoreError {
        StoreError::Io {
            path: path.into(),
            source,
        }
    }
}

impl From<ManifestError> for StoreError {
    fn from(e: ManifestError) -> Self {
        StoreError::Manifest(Box::new(e))
    }
}

impl From<sled::transaction::TransactionError<StoreError>> for StoreError {
    fn from(e: sled::transaction::TransactionError<StoreError>) -> Self {
        match e {
            sled::transaction::TransactionError::Abort(e) => e,
            sled::transaction::TransactionError::Storage(e) => StoreError::Db(e),
        }
    }
}
