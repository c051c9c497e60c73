//! The high-level ingest path: a batch of NDJSON or MessagePack events is
//! validated, appended to the write-ahead log and to the open epochs, and
//! synced; and the wait for a batch's commits.
//!
//! Guarantees: an `Ok` receipt means the accepted events are durable in the
//! log (and will be committed exactly once); a refused batch changes
//! nothing. A batch with an idempotency key is stored once within the
//! window: its repeat gets the first receipt, even across a restart.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::batch::{parse_batch, BatchRules, ClockRules, Format, ParsedBatch};
use crate::clock;
use crate::error::{EventRejection, StoreError};
use crate::idempotency::{encode_record_prefix, KeyRecord, KeyedRequest, Lookup, Outcome};
use crate::key::{epoch_dc_prefix, ManifestKey};
use crate::open_epochs::EpochDc;
use crate::wal::Lsn;

use super::{Inner, Store};

/// What an accepted ingest batch became.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestReceipt {
    /// Events accepted and durable (in the write-ahead log).
    pub accepted: usize,
    /// Events refused because they are older than retention: the first few.
    pub too_old: Vec<EventRejection>,
    /// Total refused as too old.
    pub too_old_total: usize,
    /// The batch's WAL record; `None` if nothing was accepted.
    pub lsn: Option<Lsn>,
    /// The (epoch, dc) the accepted events belong to.
    pub epochs: Vec<EpochDc>,
    /// True when this is the answer of an earlier batch with the same
    /// idempotency key: this request stored nothing.
    pub replayed: bool,
}

/// What [`Inner::append`] did.
enum Appended {
    /// Appended as record `lsn`, with its key's entry if it has one.
    Stored {
        lsn: Lsn,
        epochs: Vec<EpochDc>,
        key: Option<(Arc<str>, u64)>,
    },
    /// A concurrent request with the same key and body was stored first:
    /// its receipt.
    Repeat(IngestReceipt),
}

impl Store {
    /// High-level ingest: validates a batch and makes it durable in the
    /// write-ahead log. When this returns `Ok`, the accepted events survive a
    /// crash and will be committed exactly once. If any event is malformed or
    /// invalid, nothing is stored and every problem is reported.
    pub fn ingest(&self, body: &[u8], format: Format) -> Result<IngestReceipt, StoreError> {
        self.ingest_with_key(body, format, None)
    }

    /// [`Store::ingest`] with a producer's idempotency key (1 to 128
    /// printable ASCII characters): a repeat of a stored batch with the
    /// same key and the same body, within `idempotency_window_secs`, is
    /// answered with the first receipt (`replayed: true`) and stores
    /// nothing. The same key with another body is
    /// [`StoreError::IdempotencyKeyReused`]; while the first is being
    /// stored, [`StoreError::IdempotencyKeyInFlight`]. The key is
    /// remembered exactly when the batch is durable (it is in the batch's
    /// WAL record): a refused batch, or one of which nothing was accepted,
    /// leaves no key, so its retry is stored.
    pub fn ingest_with_key(
        &self,
        body: &[u8],
        format: Format,
        key: Option<&str>,
    ) -> Result<IngestReceipt, StoreError> {
        let inner = &self.inner;
        let keyed = key
            .map(|key| KeyedRequest::new(key, body, format))
            .transpose()?;
        let now = clock::now_secs_f64();
        // A repeat stores nothing, so it is answered even while the store
        // refuses writes: its batch is durable all the same.
        if let Some(request) = &keyed {
            if let Some(receipt) = inner.repeat(request, now as u64)? {
                return Ok(receipt);
            }
        }
        inner.check_writable()?;
        let config = &inner.config;
        if body.len() > config.max_body_bytes {
            return Err(StoreError::BodyTooLarge {
                size: body.len(),
                limit: config.max_body_bytes,
            });
        }
        let rules = BatchRules {
            default_dc: config.default_dc.clone(),
            max_event_bytes: config.max_event_bytes,
            clock: Some(ClockRules::at(now, config)),
        };
        let batch = parse_batch(body, format, &rules).map_err(|r| {
            inner.stats.batches_refused.inc();
            StoreError::BadBatch {
                rejections: r.rejections,
                total: r.total,
            }
        })?;
        inner.stats.events_too_old.add(batch.too_old_total as u64);
        let mut receipt = IngestReceipt {
            accepted: batch.event_count(),
            too_old: batch.too_old.clone(),
            too_old_total: batch.too_old_total,
            lsn: None,
            epochs: Vec::new(),
            replayed: false,
        };
        if batch.event_count() == 0 {
            // Nothing to store, so no key to remember: a repeat is parsed
            // again and stores nothing again.
            return Ok(receipt);
        }
        let keyed = keyed.map(|request| {
            let record = KeyRecord {
                key: request.key.to_string(),
                created: now as u64,
                body_hash: request.body_hash,
                lsn: 0,
                outcome: Outcome::of(&batch),
            };
            (request, record)
        });
        let appended = inner
            .check_room(batch.byte_count() as u64)
            .and_then(|()| inner.append(&batch, keyed))
            .map_err(|e| inner.refusal(e))?;
        let (lsn, epochs, key) = match appended {
            Appended::Stored { lsn, epochs, key } => (lsn, epochs, key),
            // The same request, stored by a concurrent one meanwhile.
            Appended::Repeat(receipt) => return Ok(receipt),
        };
        receipt.lsn = Some(lsn);
        receipt.epochs = epochs;
        if let Err(e) = inner.wal.sync(lsn) {
            if let Some((key, id)) = &key {
                inner.keys.forget(key, *id);
            }
            // What the page cache held for this and earlier unsynced records
            // may be gone: nothing more may be acknowledged behind them.
            let e = inner.stop("syncing the write-ahead log", e);
            return Err(StoreError::DurabilityUnknown {
                detail: e.to_string(),
            });
        }
        if let Some((key, id)) = &key {
            inner.keys.finish(key, *id);
        }
        inner.stats.events_accepted.add(batch.event_count() as u64);
        inner.stats.bytes_accepted.add(batch.byte_count() as u64);
        Ok(receipt)
    }

    /// Waits until every event of `receipt` is in a durable commit and
    /// returns those commits.
    pub fn wait_committed(
        &self,
        receipt: &IngestReceipt,
        timeout: Duration,
    ) -> Result<Vec<ManifestKey>, StoreError> {
        let Some(lsn) = receipt.lsn else {
            return Ok(Vec::new());
        };
        let inner = &self.inner;
        let deadline = Instant::now() + timeout;
        let mut committed = inner.committed.lock();
        loop {
            let found: Option<Vec<ManifestKey>> = if lsn < inner.opened_lsn {
                inner.committed_before_open(&receipt.epochs, lsn)?
            } else {
                receipt
                    .epochs
                    .iter()
                    .map(|(epoch, dc)| {
                        let seqs = committed.get(&(*epoch, dc.clone()))?;
                        let (_, seq) = seqs.iter().find(|(covered, _)| *covered >= lsn)?;
                        Some(ManifestKey {
                            epoch: *epoch,
                            dc: dc.clone(),
                            seq: *seq,
                        })
                    })
                    .collect()
            };
            if let Some(keys) = found {
                return Ok(keys);
            }
            // A passing fault only delays the commit; a stop ends the wait.
            if inner.health.is_failed() {
                inner.health.check()?;
            }
            if inner.stopping.load(Ordering::Relaxed) {
                return Err(StoreError::Closed);
            }
            if inner
                .committed_cv
                .wait_until(&mut committed, deadline)
                .timed_out()
            {
                return Err(StoreError::CommitWaitTimeout(timeout));
            }
        }
    }
}

impl Inner {
    /// The commits of a batch appended before this open (an idempotent
    /// repeat after a restart), from `commit_lsns`: per (epoch, dc), the
    /// first commit that covers `lsn`. `None` while one is not committed
    /// yet. An (epoch, dc) already deleted by retention is left out.
    fn committed_before_open(
        &self,
        epochs: &[EpochDc],
        lsn: Lsn,
    ) -> Result<Option<Vec<ManifestKey>>, StoreError> {
        let horizon = clock::now_secs().saturating_sub(self.config.retention_secs);
        let mut keys = Vec::with_capacity(epochs.len());
        for (epoch, dc) in epochs {
            let mut found = None;
            for item in self.commit_lsns.scan_prefix(epoch_dc_prefix(*epoch, dc)) {
                let (key, covered) = item?;
                let covered = covered.as_ref().try_into().map(u64::from_be_bytes);
                let key = ManifestKey::decode(&key);
                match (key, covered) {
                    (Some(key), Ok(covered)) if covered >= lsn => {
                        found = Some(key);
                        break;
                    }
                    (Some(_), Ok(_)) => {}
                    _ => {
                        return Err(StoreError::Corrupt(
                            "an entry of commit_lsns does not decode".into(),
                        ))
                    }
                }
            }
            match found {
                Some(key) => keys.push(key),
                None if *epoch < horizon => {}
                None => return Ok(None),
            }
        }
        Ok(Some(keys))
    }

    /// The answer to a repeat of a keyed request: its first receipt; an
    /// error when the key was used for another body or is being stored;
    /// `None` when the key is new.
    fn repeat(
        &self,
        request: &KeyedRequest,
        now: u64,
    ) -> Result<Option<IngestReceipt>, StoreError> {
        match self.keys.lookup(request, now) {
            Lookup::New => Ok(None),
            Lookup::Replay(record) => {
                self.stats.idempotent_replays.inc();
                let outcome = &record.outcome;
                Ok(Some(IngestReceipt {
                    accepted: outcome.accepted as usize,
                    too_old: outcome.too_old_rejections(),
                    too_old_total: outcome.too_old_total as usize,
                    lsn: Some(record.lsn),
                    epochs: outcome.epochs.clone(),
                    replayed: true,
                }))
            }
            Lookup::Reused => Err(StoreError::IdempotencyKeyReused {
                key: request.key.to_string(),
                window_secs: self.config.idempotency_window_secs,
            }),
            Lookup::InFlight => Err(StoreError::IdempotencyKeyInFlight {
                key: request.key.to_string(),
            }),
        }
    }

    /// Appends the batch to the WAL and to the open epochs under one lock, so
    /// the WAL order is the buffer order (replay marks rely on it). A keyed
    /// batch's key goes into its WAL record, and is looked up again and
    /// remembered under the same lock, so of two concurrent requests with
    /// one key only one is appended.
    fn append(
        &self,
        batch: &ParsedBatch<'_>,
        keyed: Option<(KeyedRequest, KeyRecord)>,
    ) -> Result<Appended, StoreError> {
        let prefix = keyed
            .as_ref()
            .map(|(_, record)| encode_record_prefix(record));
        let parts: Vec<&[u8]> = prefix
            .as_deref()
            .into_iter()
            .chain(batch.parts.iter().map(|p| &*p.data))
            .collect();
        let mut open = self.open.lock();
        if let Some((request, record)) = &keyed {
            if let Some(receipt) = self.repeat(request, record.created)? {
                return Ok(Appended::Repeat(receipt));
            }
        }
        if open.bytes() > self.config.buffer_budget_bytes {
            self.stats.batches_refused.inc();
            return Err(StoreError::Overloaded {
                buffered: open.bytes(),
                budget: self.config.buffer_budget_bytes,
            });
        }
        let lsn = self.wal.append(&parts)?;
        // Remembered under the open lock, so the sealer, which may commit
        // these events as soon as the lock is released, finds the key and
        // persists it before it frees the WAL record (see `commit_sealed`).
        let key = keyed.map(|(request, record)| {
            let id = self.keys.begin(KeyRecord { lsn, ..record });
            (request.key, id)
        });
        let epochs = open.insert(batch, lsn, self.config.chunk_target_bytes, |_, _| false);
        Ok(Appended::Stored { lsn, epochs, key })
    }
}
