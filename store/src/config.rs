//! The store's configuration: every field with its default and unit.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::error::StoreError;
use crate::key::validate_dc;

/// How far ahead of the store's clock an event (or a low-level commit's
/// epoch) may be, by default: `StoreConfig::max_future_secs`.
pub const DEFAULT_MAX_FUTURE_SECS: u64 = 300;

/// How the store ingests, seals, commits and forgets.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// Directory holding the sled database (`db/`) and the write-ahead log
    /// (`wal/`). Default: `./epochd-data`.
    pub data_dir: PathBuf,
    /// Name of this node in hook notices. Default: the host name.
    pub node: String,
    /// dc of events that carry none. Default: `local`.
    pub default_dc: String,
    /// How long after an epoch's second has ended its events are still
    /// waited for before it is sealed and committed, in milliseconds.
    /// Later events go into a supplementary commit. Default: 1000.
    pub grace_ms: u64,
    /// An epoch past its grace is sealed once no event arrived for it for
    /// this long, in milliseconds, so a replay of old data at full speed
    /// commits each epoch once, not in slivers. Default: 200.
    pub quiet_ms: u64,
    /// An epoch past its grace is sealed at the latest this long after its
    /// first event arrived, even if events keep trickling in, in
    /// milliseconds. Default: 5000.
    pub max_hold_ms: u64,
    /// Target raw (MessagePack) size of a chunk, in bytes; chunks are cut at
    /// event boundaries once a lane reaches it. Default: 4 MiB.
    pub chunk_target_bytes: usize,
    /// zstd level of chunks. Default: 3.
    pub zstd_level: i32,
    /// Largest ingest request body, in bytes. Default: 64 MiB.
    pub max_body_bytes: usize,
    /// Largest single event, in bytes of MessagePack. Default: 1 MiB.
    pub max_event_bytes: usize,
    /// How far ahead of the store's clock a timestamp may be, in seconds.
    /// Default: 300.
    pub max_future_secs: u64,
    /// Epochs older than this are deleted, in seconds. Default: 21600 (6 h).
    pub retention_secs: u64,
    /// How often the retention sweeper runs, in milliseconds. Default: 30000.
    pub sweep_interval_ms: u64,
    /// Most bytes of accepted-but-unsealed events held in memory; past it,
    /// ingest answers "overloaded, retry" and the oldest epochs are sealed
    /// early. Default: 1 GiB.
    pub buffer_budget_bytes: usize,
    /// Size at which the write-ahead log starts a new segment, in bytes.
    /// Default: 64 MiB.
    pub wal_segment_bytes: u64,
    /// Epochs per chunk file: chunk bytes are appended to one file per
    /// bucket of this many seconds, which retention deletes whole. Default: 60.
    pub chunk_file_secs: u64,
    /// How often the sealer looks for epochs to seal, in milliseconds. Default: 20.
    pub seal_tick_ms: u64,
    /// Free disk space the store keeps for its commits and database: ingest
    /// (both paths) is refused with a "disk full" error once a write would
    /// leave less than this free under `data_dir`. Committing what is
    /// buffered writes compressed chunks and frees the write-ahead log, so
    /// the reserve lets a node near a full disk drain instead of failing in
    /// the middle of a commit. 0 turns the check off (a full disk is then
    /// met only by the write that fails). Default: 128 MiB.
    pub disk_reserve_bytes: u64,
    /// How long a producer's `Idempotency-Key` is remembered after its batch
    /// was accepted, in seconds: a repeat within it is answered with the
    /// first answer and stores nothing; after it, the key is new again.
    /// Default: 86400 (24 h).
    pub idempotency_window_secs: u64,
    /// Most idempotency keys remembered, all in memory (about 0.5 KB each
    /// with a UUID key and a batch over a few (epoch, dc), more with long
    /// keys or batches over many); past it the oldest are forgotten first,
    /// so a repeat of their batch would be stored again. Default: 1,000,000.
    pub max_idempotency_keys: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            data_dir: PathBuf::from("epochd-data"),
            node: default_node_name(),
            default_dc: "local".into(),
            grace_ms: 1000,
            quiet_ms: 200,
            max_hold_ms: 5000,
            chunk_target_bytes: 4 << 20,
            zstd_level: 3,
            max_body_bytes: 64 << 20,
            max_event_bytes: 1 << 20,
            max_future_secs: DEFAULT_MAX_FUTURE_SECS,
            retention_secs: 6 * 3600,
            sweep_interval_ms: 30_000,
            buffer_budget_bytes: 1 << 30,
            wal_segment_bytes: 64 << 20,
            chunk_file_secs: 60,
            seal_tick_ms: 20,
            disk_reserve_bytes: 128 << 20,
            idempotency_window_secs: 24 * 3600,
            max_idempotency_keys: 1_000_000,
        }
    }
}

fn default_node_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "node".into())
}

impl StoreConfig {
    /// A configuration with defaults, storing under `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> StoreConfig {
        StoreConfig {
            data_dir: data_dir.into(),
            ..StoreConfig::default()
        }
    }

    /// Checks the values without touching any file.
    pub fn validate(&self) -> Result<(), StoreError> {
        let bad = |what: String| Err(StoreError::Config(what));
        if let Err(e) = validate_dc(&self.default_dc) {
            return bad(format!("default_dc: {e}"));
        }
        if self.node.is_empty() {
            return bad("node must not be empty".into());
        }
        if !(1..=22).contains(&self.zstd_level) {
            return bad(format!("zstd_level {} is outside 1..=22", self.zstd_level));
        }
        if self.chunk_target_bytes < 1024 {
            return bad("chunk_target_bytes must be at least 1024".into());
        }
        if self.max_event_bytes > self.max_body_bytes {
            return bad("max_event_bytes must not exceed max_body_bytes".into());
        }
        if self.retention_secs < 60 && self.retention_secs * 1000 <= self.grace_ms {
            return bad("retention_secs must be longer than the grace".into());
        }
        if self.seal_tick_ms == 0 || self.sweep_interval_ms == 0 || self.chunk_file_secs == 0 {
            return bad(
                "seal_tick_ms, sweep_interval_ms and chunk_file_secs must be positive".into(),
            );
        }
        if self.idempotency_window_secs == 0 || self.max_idempotency_keys == 0 {
            return bad("idempotency_window_secs and max_idempotency_keys must be positive".into());
        }
        Ok(())
    }

    pub(crate) fn grace(&self) -> Duration {
        Duration::from_millis(self.grace_ms)
    }
    pub(crate) fn quiet(&self) -> Duration {
        Duration::from_millis(self.quiet_ms)
    }
    pub(crate) fn max_hold(&self) -> Duration {
        Duration::from_millis(self.max_hold_ms)
    }
}
