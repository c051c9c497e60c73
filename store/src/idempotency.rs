//! Producer idempotency keys: a batch sent again with the same key (a retry
//! after a timeout or a 5xx) is stored once, and its repeat is answered
//! with the first answer.
//!
//! A key is remembered exactly when its batch is durable, because it travels
//! in the batch's own write-ahead log record (a prefix before the events,
//! see [`encode_record_prefix`]): whatever replay brings back of the batch,
//! it brings back with its key. Before the log segment holding a record is
//! deleted (its events are committed), the key is written to the sled tree
//! `idempotency` and the database flushed ([`Keys::persist_before`]), so it
//! outlives the log. Keys are forgotten after the window
//! (`StoreConfig::idempotency_window_secs`), and the oldest first once more
//! than `StoreConfig::max_idempotency_keys` are remembered.
//!
//! A key is scoped to the node, not to a token: two producers that send the
//! same key share it (use random keys, e.g. UUIDs).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::batch::{Format, ParsedBatch};
use crate::error::{EventError, EventRejection, StoreError};
use crate::open_epochs::EpochDc;
use crate::sled_util::delete_range;
use crate::wal::Lsn;

/// Longest accepted key, in bytes.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 128;

/// First byte of a write-ahead log record that carries a key. 0xc1 is the
/// one byte MessagePack never uses, and a record without a key starts with
/// an event (a map), so records written before keys existed read as before.
const RECORD_MARK: u8 = 0xc1;

/// Version of the key section of a record, and of the tree's values.
const FORMAT_VERSION: u8 = 1;

/// Checks a key: 1 to 128 printable ASCII characters (space to `~`).
pub fn validate_idempotency_key(key: &str) -> Result<(), StoreError> {
    let printable = key.bytes().all(|b| (0x20..=0x7e).contains(&b));
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_LEN || !printable {
        let shown: String = key.chars().take(MAX_IDEMPOTENCY_KEY_LEN + 8).collect();
        return Err(StoreError::BadIdempotencyKey(format!(
            "{shown:?} is not an idempotency key: use 1 to {MAX_IDEMPOTENCY_KEY_LEN} printable ASCII characters, e.g. a UUID"
        )));
    }
    Ok(())
}

/// A request's key and the hash of what it asks to store.
#[derive(Debug, Clone)]
pub struct KeyedRequest {
    /// The key.
    pub key: Arc<str>,
    /// xxh3-128 of the format and the body: a repeat must send the same bytes.
    pub body_hash: [u8; 16],
}

impl KeyedRequest {
    /// Checks `key` and hashes the request.
    pub fn new(key: &str, body: &[u8], format: Format) -> Result<KeyedRequest, StoreError> {
        validate_idempotency_key(key)?;
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        hasher.update(&[format as u8]);
        hasher.update(body);
        Ok(KeyedRequest {
            key: key.into(),
            body_hash: hasher.digest128().to_be_bytes(),
        })
    }
}

/// What a keyed batch was answered: enough to answer its repeats the same.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// Events accepted.
    pub accepted: u64,
    /// Events refused as older than retention.
    pub too_old_total: u64,
    /// The first of those: (position, reason).
    pub too_old: Vec<(u64, String)>,
    /// The (epoch, dc) the accepted events belong to, in the order of their
    /// first event (as the first answer listed its commits).
    pub epochs: Vec<EpochDc>,
}

impl Outcome {
    /// The outcome of a parsed batch about to be appended.
    pub fn of(batch: &ParsedBatch<'_>) -> Outcome {
        let mut epochs: Vec<EpochDc> = Vec::new();
        let mut seen: HashSet<(u64, &str)> = HashSet::new();
        for part in &batch.parts {
            for event in &part.events {
                let dc = batch.lanes[event.lane].dc.as_str();
                if seen.insert((event.epoch, dc)) {
                    epochs.push((event.epoch, dc.to_owned()));
                }
            }
        }
        Outcome {
            accepted: batch.event_count() as u64,
            too_old_total: batch.too_old_total as u64,
            too_old: batch
                .too_old
                .iter()
                .map(|r| (r.position as u64, too_old_reason(&r.error)))
                .collect(),
            epochs,
        }
    }

    /// The too-old events as the first answer listed them.
    pub fn too_old_rejections(&self) -> Vec<EventRejection> {
        self.too_old
            .iter()
            .map(|(position, reason)| EventRejection {
                position: *position as usize,
                error: EventError::TooOld(reason.clone()),
            })
            .collect()
    }
}

/// The text inside a too-old refusal, so [`Outcome::too_old_rejections`]
/// rebuilds the same message: the batch parser files every too-old event
/// as a `TooOld`.
fn too_old_reason(error: &EventError) -> String {
    match error {
        EventError::TooOld(reason) => reason.clone(),
        other => other.to_string(),
    }
}

/// A remembered key, as written in its batch's log record and in the tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// The key.
    pub key: String,
    /// When the batch was accepted, unix seconds: the window counts from it.
    pub created: u64,
    /// See [`KeyedRequest::body_hash`].
    pub body_hash: [u8; 16],
    /// The batch's log record (0 inside the record itself, where the LSN
    /// is the record's own).
    pub lsn: Lsn,
    /// Its answer.
    pub outcome: Outcome,
}

/// The key section written before a keyed batch's events in its log
/// record: `0xc1 | version | len: u32 BE | KeyRecord (MessagePack)`.
pub fn encode_record_prefix(record: &KeyRecord) -> Vec<u8> {
    let body = rmp_serde::to_vec(record).expect("a key record serializes");
    let mut out = Vec::with_capacity(6 + body.len());
    out.push(RECORD_MARK);
    out.push(FORMAT_VERSION);
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

/// Splits a log record's payload into its key (with `lsn` filled in), if
/// it has one, and its events.
pub fn split_record(payload: &[u8], lsn: Lsn) -> Result<(Option<KeyRecord>, &[u8]), StoreError> {
    if payload.first() != Some(&RECORD_MARK) {
        return Ok((None, payload));
    }
    let bad = |why: String| StoreError::Corrupt(format!("WAL record {lsn}: key section {why}"));
    let version = payload.get(1).copied().unwrap_or_default();
    if version != FORMAT_VERSION {
        return Err(bad(format!(
            "has version {version}; this store reads version {FORMAT_VERSION}"
        )));
    }
    let len = payload
        .get(2..6)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .ok_or_else(|| bad("is cut short".into()))?;
    let body = payload
        .get(6..6 + len)
        .ok_or_else(|| bad("is cut short".into()))?;
    let mut record: KeyRecord =
        rmp_serde::from_slice(body).map_err(|e| bad(format!("does not decode: {e}")))?;
    record.lsn = lsn;
    Ok((Some(record), &payload[6 + len..]))
}

/// What is known of a request's key.
#[derive(Debug)]
pub enum Lookup {
    /// Not remembered (never seen, expired or forgotten): store the batch.
    New,
    /// The same request was stored: answer as it was answered.
    Replay(Arc<KeyRecord>),
    /// The key was used for another body.
    Reused,
    /// The same key is being stored by a request not yet answered.
    InFlight,
}

struct Entry {
    /// Tells this entry from a later one of the same key in `order`.
    id: u64,
    record: Arc<KeyRecord>,
    /// Appended to the log, not yet synced.
    in_flight: bool,
    /// In the tree (flushed).
    persisted: bool,
}

#[derive(Default)]
struct Table {
    entries: HashMap<Arc<str>, Entry>,
    /// Keys in the order they were remembered: the oldest are forgotten
    /// first, past the window or past the cap.
    order: VecDeque<(u64, Arc<str>)>,
    next_id: u64,
    /// Tree keys of persisted entries forgotten past the cap, deleted at
    /// the next [`Keys::persist_before`].
    evicted: Vec<Vec<u8>>,
}

/// The remembered keys: every key in memory, for lookups on the ingest
/// path; the tree holds those whose log records may be gone.
pub struct Keys {
    tree: sled::Tree,
    window_secs: u64,
    max_keys: usize,
    table: Mutex<Table>,
}

/// The tree's key: `created: u64 BE ‖ key`, so expiry deletes a prefix.
fn tree_key(created: u64, key: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + key.len());
    out.extend_from_slice(&created.to_be_bytes());
    out.extend_from_slice(key.as_bytes());
    out
}

impl Keys {
    /// Opens the tree and loads the keys still inside the window at `now`.
    pub fn open(
        db: &sled::Db,
        window_secs: u64,
        max_keys: usize,
        now: u64,
    ) -> Result<Keys, StoreError> {
        let keys = Keys {
            tree: db.open_tree("idempotency")?,
            window_secs,
            max_keys,
            table: Mutex::new(Table::default()),
        };
        keys.delete_expired_from_tree(now)?;
        for item in keys.tree.iter() {
            let (_, value) = item?;
            let record = match value.split_first() {
                Some((&FORMAT_VERSION, body)) => rmp_serde::from_slice::<KeyRecord>(body).ok(),
                _ => None,
            }
            .ok_or_else(|| {
                StoreError::Corrupt("an entry of the idempotency tree does not decode".into())
            })?;
            let mut table = keys.table.lock();
            keys.remember(&mut table, record, false, true);
        }
        Ok(keys)
    }

    /// What is known of `request`'s key at `now`.
    pub fn lookup(&self, request: &KeyedRequest, now: u64) -> Lookup {
        let table = self.table.lock();
        match table.entries.get(&request.key) {
            Some(entry) if !self.expired(&entry.record, now) => {
                if entry.record.body_hash != request.body_hash {
                    Lookup::Reused
                } else if entry.in_flight {
                    Lookup::InFlight
                } else {
                    Lookup::Replay(Arc::clone(&entry.record))
                }
            }
            _ => Lookup::New,
        }
    }

    /// Remembers a batch just appended to the log as `record.lsn`, not yet
    /// synced; returns the id that [`Keys::finish`] and [`Keys::forget`] take.
    pub fn begin(&self, record: KeyRecord) -> u64 {
        let mut table = self.table.lock();
        self.remember(&mut table, record, true, false)
    }

    /// The batch is durable: repeats are now answered with it.
    pub fn finish(&self, key: &str, id: u64) {
        if let Some(entry) = self.table.lock().entries.get_mut(key) {
            if entry.id == id {
                entry.in_flight = false;
            }
        }
    }

    /// The batch's sync failed: whether it is stored is decided by the
    /// replay after the restart, which finds its key with it or not at all.
    pub fn forget(&self, key: &str, id: u64) {
        let mut table = self.table.lock();
        if table.entries.get(key).is_some_and(|e| e.id == id) {
            table.entries.remove(key);
        }
    }

    /// Remembers a key found in a log record at open (already known from
    /// the tree when its record was committed and persisted before).
    pub fn replayed(&self, record: KeyRecord, now: u64) {
        if self.expired(&record, now) {
            return;
        }
        let mut table = self.table.lock();
        if !table.entries.contains_key(record.key.as_str()) {
            self.remember(&mut table, record, false, false);
        }
    }

    /// Writes to the tree, and flushes, every key whose log record is
    /// before `keep_from` (the log is about to delete it), and deletes the
    /// entries forgotten past the cap. Keys written meanwhile stay in
    /// memory and in the log, and are written at the next call.
    pub fn persist_before(&self, db: &sled::Db, keep_from: Lsn) -> Result<usize, StoreError> {
        let (writes, evicted) = {
            let mut table = self.table.lock();
            let writes: Vec<(u64, Arc<KeyRecord>)> = table
                .entries
                .values()
                .filter(|e| !e.persisted && e.record.lsn < keep_from)
                .map(|e| (e.id, Arc::clone(&e.record)))
                .collect();
            (writes, std::mem::take(&mut table.evicted))
        };
        if writes.is_empty() && evicted.is_empty() {
            return Ok(0);
        }
        let mut batch = sled::Batch::default();
        for key in &evicted {
            batch.remove(key.as_slice());
        }
        for (_, record) in &writes {
            let mut value = vec![FORMAT_VERSION];
            value.extend(rmp_serde::to_vec(&**record).expect("a key record serializes"));
            batch.insert(tree_key(record.created, &record.key), value);
        }
        let written = self
            .tree
            .apply_batch(batch)
            .map_err(StoreError::from)
            .and_then(|()| db.flush().map(|_| ()).map_err(StoreError::from));
        if let Err(e) = written {
            // Tried again with the next commit; the log keeps the records.
            self.table.lock().evicted.extend(evicted);
            return Err(e);
        }
        let mut table = self.table.lock();
        for (id, record) in &writes {
            if let Some(entry) = table.entries.get_mut(record.key.as_str()) {
                if entry.id == *id {
                    entry.persisted = true;
                }
            }
        }
        Ok(writes.len())
    }

    /// Forgets the keys older than the window at `now`, in memory and in
    /// the tree. Returns how many were forgotten from memory.
    pub fn expire(&self, now: u64) -> Result<usize, StoreError> {
        let mut forgotten = 0;
        {
            let mut table = self.table.lock();
            while let Some((id, key)) = table.order.front().cloned() {
                match table.entries.get(&key) {
                    Some(entry) if entry.id == id => {
                        // An unsynced batch is never old; nor, in practice,
                        // one whose clock went back: stop at the first
                        // entry inside the window.
                        if entry.in_flight || !self.expired(&entry.record, now) {
                            break;
                        }
                        table.entries.remove(&key);
                        forgotten += 1;
                    }
                    // Replaced or forgotten already.
                    _ => {}
                }
                table.order.pop_front();
            }
        }
        self.delete_expired_from_tree(now)?;
        Ok(forgotten)
    }

    /// Keys remembered now.
    pub fn len(&self) -> usize {
        self.table.lock().entries.len()
    }

    fn expired(&self, record: &KeyRecord, now: u64) -> bool {
        record.created.saturating_add(self.window_secs) <= now
    }

    fn delete_expired_from_tree(&self, now: u64) -> Result<(), StoreError> {
        let cutoff = now.saturating_sub(self.window_secs).saturating_add(1);
        delete_range(&self.tree, ..cutoff.to_be_bytes(), 256)?;
        Ok(())
    }

    /// Adds (or replaces) an entry, then forgets the oldest past the cap.
    fn remember(
        &self,
        table: &mut Table,
        record: KeyRecord,
        in_flight: bool,
        persisted: bool,
    ) -> u64 {
        table.next_id += 1;
        let id = table.next_id;
        let key: Arc<str> = record.key.as_str().into();
        let old = table.entries.insert(
            Arc::clone(&key),
            Entry {
                id,
                record: Arc::new(record),
                in_flight,
                persisted,
            },
        );
        if let Some(old) = old.filter(|o| o.persisted) {
            table
                .evicted
                .push(tree_key(old.record.created, &old.record.key));
        }
        table.order.push_back((id, key));
        while table.entries.len() > self.max_keys {
            let Some((old_id, old_key)) = table.order.pop_front() else {
                break;
            };
            if table.entries.get(&old_key).is_some_and(|e| e.id == old_id) {
                if let Some(old) = table.entries.remove(&old_key) {
                    if old.persisted {
                        table
                            .evicted
                            .push(tree_key(old.record.created, &old.record.key));
                    }
                }
            }
        }
        // Stale positions (replaced keys) would otherwise pile up at the
        // back while the front is young.
        if table.order.len() > 2 * table.entries.len() + 1024 {
            let live: &HashMap<Arc<str>, Entry> = &table.entries;
            let kept: VecDeque<(u64, Arc<str>)> = table
                .order
                .iter()
                .filter(|(id, k)| live.get(k).is_some_and(|e| e.id == *id))
                .cloned()
                .collect();
            table.order = kept;
        }
        id
    }
}

#[cfg(test)]
mod tests;
