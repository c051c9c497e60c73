//! The epoch-keyed event blob store of epochd, on sled.
//!
//! Events (schema-less maps with a `timestamp`, a `type`, an optional
//! `subtype` and `dc`) are stored per second ("epoch") and data center as
//! chunks of zstd-compressed MessagePack, each decodable on its own, under
//! keys that sort by time: `epoch / dc / type / subtype / chunk`. A manifest
//! per commit of (epoch, dc) lists the chunks with sizes, event counts and
//! checksums. **Writing the manifest is the commit**: it is written in one
//! sled transaction with a hook-outbox entry (see `epochd-hooks`), then the
//! database is flushed before anyone is told.
//!
//! # Two ingest paths
//! - [`Store::ingest`]: a batch of NDJSON or MessagePack events, any order.
//!   Accepted events are appended to a write-ahead log and synced before the
//!   call returns. They are grouped per (epoch, dc), and an epoch is sealed
//!   once its second plus the grace has passed and its events stopped
//!   arriving; then it is chunked, compressed and committed.
//! - [`Store::put_chunk`] then [`Store::put_manifest`], for relocators. The
//!   manifest is verified against the stored chunks (presence, size,
//!   checksum, event count, every event under the right key) and refused
//!   whole on any mismatch.
//!
//! # Guarantees
//! - An `Ok` from [`Store::ingest`] means the accepted events are on disk:
//!   a crash (`kill -9`, power loss) loses none of them, and after a restart
//!   they are committed exactly once (the log is replayed; per-(epoch, dc)
//!   marks written in the commit transaction skip what was committed).
//! - A commit reported by [`Store::put_manifest`], [`Store::seal_all`] or
//!   [`Store::wait_committed`] is durable, and so is its hook notice.
//! - A crash between the chunks and the manifest leaves no commit and no
//!   notice (the chunks stay invisible until retention deletes them).
//! - Late events (their epoch already committed) go into a supplementary
//!   commit of their epoch (`seq` 1, 2, ...). Events older than retention
//!   are refused and counted in the receipt. Nothing is dropped silently.
//! - A batch with any malformed or invalid event is refused whole, with
//!   every problem's position, and changes nothing.
//! - A batch sent with a producer's idempotency key
//!   ([`Store::ingest_with_key`]) is stored once: a repeat with the same key
//!   and body, within the window, is answered with the first receipt
//!   (`replayed`), across crashes, because the key is in the batch's own
//!   write-ahead log record.
//!
//! # Example
//! ```
//! use epochd_store::{Format, ManifestKey, Store, StoreConfig};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let store = Store::open(StoreConfig::new(dir.path()))?;
//! let now = epochd_store::clock::now_secs();
//! let line = format!(r#"{{"timestamp": {}.5, "type": "WEB", "dc": "ams4", "x": {{"y": 1}}}}"#, now - 10);
//! let receipt = store.ingest(line.as_bytes(), Format::Ndjson)?;
//! assert_eq!(receipt.accepted, 1);
//! let commits = store.wait_committed(&receipt, std::time::Duration::from_secs(10))?;
//! assert_eq!(commits, [ManifestKey { epoch: now - 10, dc: "ams4".into(), seq: 0 }]);
//! assert_eq!(store.manifest(&commits[0])?.unwrap().events, 1);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod batch;
mod blobfile;
mod chunk;
pub mod clock;
mod commit;
mod config;
mod crashpoint;
mod error;
// Reaches the crate-private batch parser for fuzz/ only; not an API.
#[doc(hidden)]
pub mod fuzzing;
mod health;
mod idempotency;
mod json;
mod key;
mod manifest;
mod msgpack;
mod open_epochs;
pub mod sled_util;
mod stats;
mod store;
mod upload;
mod wal;

pub use batch::{Format, MAX_REPORTED_REJECTIONS};
pub use chunk::{compress, decompress, split_events, Checksum, MAX_RAW_CHUNK_BYTES};
pub use commit::Committed;
pub use config::{StoreConfig, DEFAULT_MAX_FUTURE_SECS};
pub use error::{EventError, EventRejection, ManifestError, NameError, StoreError};
pub use health::{Fault, StoreHealth};
pub use idempotency::{validate_idempotency_key, MAX_IDEMPOTENCY_KEY_LEN};
pub use key::{validate_dc, validate_type, ChunkKey, ManifestKey, NO_SUBTYPE};
pub use manifest::{ChunkEntry, Manifest, MANIFEST_VERSION};
pub use msgpack::{scan_event, value_len, EventHeader, MAX_DEPTH};
pub use stats::StoreStatsSnapshot;
pub use store::{
    CommitListener, CommitSummary, DiskUsage, IngestReceipt, PutOutcome, Store, SweepReport,
};
pub use upload::Upload;
pub use wal::Lsn;
