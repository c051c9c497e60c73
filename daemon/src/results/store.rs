//! Job results: one per (job, epoch, dc, seq), kept in the daemon's sled
//! database with their own retention, and published to in-process
//! subscribers as they are stored.
//!
//! A commit's notice is acknowledged only after its results are stored and
//! flushed, so a restart re-runs exactly the unfinished commits; re-running
//! overwrites a result under the same key, never adds a second one.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::Arc;

use epochd_store::sled_util::delete_range_with;
use parking_lot::Mutex;
use tokio::sync::broadcast;

use super::ResultRecord;

/// Errors of the results store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResultsError {
    /// The database failed.
    #[error("results database: {0}")]
    Db(#[from] sled::Error),
    /// A stored record does not decode.
    #[error("a stored result does not decode: {0}")]
    Corrupt(String),
}

/// The results of every job.
#[derive(Clone)]
pub struct Results {
    db: sled::Db,
    tree: sled::Tree,
    published: broadcast::Sender<Arc<ResultRecord>>,
    /// Bytes stored per job (encoded records), kept exact through puts,
    /// overwrites and sweeps: what the per-job stored-bytes quota counts.
    stored: Arc<Mutex<HashMap<String, u64>>>,
}

/// Keys start with the epoch, so retention deletes a prefix; a job's range
/// is one prefix scan per epoch.
fn key(job: &str, epoch: u64, dc: &str, seq: u32) -> Vec<u8> {
    let mut k = epoch_job_prefix(epoch, job);
    k.extend_from_slice(dc.as_bytes());
    k.push(0);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

fn epoch_job_prefix(epoch: u64, job: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(job.len() + 24);
    k.extend_from_slice(&epoch.to_be_bytes());
    k.extend_from_slice(job.as_bytes());
    k.push(0);
    k
}

impl Results {
    /// Opens the `results` tree of `db`. `buffer` bounds how many records a
    /// slow subscriber may lag behind before it misses some (it is told).
    ///
    /// Counts the bytes each job has stored (one pass over the results:
    /// their total is bounded by the per-job quota and retention).
    pub fn open(db: &sled::Db, buffer: usize) -> Result<Results, ResultsError> {
        let (published, _) = broadcast::channel(buffer.max(1));
        let tree = db.open_tree("results")?;
        let mut stored: HashMap<String, u64> = HashMap::new();
        for item in tree.iter() {
            let (k, v) = item?;
            if let Some(job) = job_of(&k) {
                *stored.entry(job.to_owned()).or_default() += v.len() as u64;
            }
        }
        Ok(Results {
            db: db.clone(),
            tree,
            published,
            stored: Arc::new(Mutex::new(stored)),
        })
    }

    /// The bytes a record takes in storage: what [`Results::put`] adds to
    /// its job's stored bytes.
    pub fn stored_size(record: &ResultRecord) -> Result<u64, ResultsError> {
        Ok(encode(record)?.len() as u64)
    }

    /// Stores (or overwrites) a result; it is durable after [`Results::flush`].
    pub fn put(&self, record: ResultRecord) -> Result<(), ResultsError> {
        let k = key(&record.job, record.epoch, &record.dc, record.seq);
        let v = encode(&record)?;
        let added = v.len() as u64;
        let old = self.tree.insert(k, v)?;
        {
            let mut stored = self.stored.lock();
            let total = stored.entry(record.job.clone()).or_default();
            *total = (*total + added).saturating_sub(old.map_or(0, |o| o.len() as u64));
        }
        let _ = self.published.send(Arc::new(record));
        Ok(())
    }

    /// Bytes of results stored for `job` (within retention).
    pub fn stored_bytes(&self, job: &str) -> u64 {
        self.stored.lock().get(job).copied().unwrap_or(0)
    }

    /// Bytes of results stored, per job.
    pub fn stored_bytes_by_job(&self) -> HashMap<String, u64> {
        self.stored.lock().clone()
    }

    /// Makes every stored result durable.
    pub fn flush(&self) -> Result<(), ResultsError> {
        self.db.flush()?;
        Ok(())
    }

    /// One result.
    pub fn get(
        &self,
        job: &str,
        epoch: u64,
        dc: &str,
        seq: u32,
    ) -> Result<Option<ResultRecord>, ResultsError> {
        self.tree
            .get(key(job, epoch, dc, seq))?
            .map(|v| decode(&v))
            .transpose()
    }

    /// A job's results for `from <= epoch <= to`, in (epoch, dc, seq) order.
    pub fn range(&self, job: &str, from: u64, to: u64) -> Result<Vec<ResultRecord>, ResultsError> {
        let mut out = Vec::new();
        for epoch in from..=to {
            for item in self.tree.scan_prefix(epoch_job_prefix(epoch, job)) {
                out.push(decode(&item?.1)?);
            }
        }
        Ok(out)
    }

    /// Up to `max` results of every job, in key order (epoch, job, dc,
    /// seq), from epoch `from`, or strictly after the key `after` (the
    /// second of what the last call returned): the cluster's parts stream
    /// catches up with it in pages, whatever the jobs.
    pub fn page(
        &self,
        from: u64,
        after: Option<&[u8]>,
        max: usize,
    ) -> Result<(Vec<ResultRecord>, Option<Vec<u8>>), ResultsError> {
        use std::ops::Bound;
        let lower = match after {
            Some(k) => Bound::Excluded(k.to_vec()),
            None => Bound::Included(from.to_be_bytes().to_vec()),
        };
        let mut out = Vec::new();
        let mut last = None;
        for item in self
            .tree
            .range::<Vec<u8>, _>((lower, Bound::Unbounded))
            .take(max)
        {
            let (k, v) = item?;
            out.push(decode(&v)?);
            last = Some(k.to_vec());
        }
        Ok((out, last))
    }

    /// The database the results are kept in (the gateway keeps its own
    /// tree there).
    pub fn db(&self) -> &sled::Db {
        &self.db
    }

    /// Results as they are stored, from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<ResultRecord>> {
        self.published.subscribe()
    }

    /// The newest epoch with a result, for each of `jobs` that has one
    /// among the newest `max_keys` results (a reverse scan: results are
    /// keyed by epoch first).
    pub fn newest_epochs(
        &self,
        jobs: &[String],
        max_keys: usize,
    ) -> Result<std::collections::HashMap<String, u64>, ResultsError> {
        let mut found = std::collections::HashMap::new();
        for item in self.tree.iter().rev().take(max_keys) {
            if found.len() == jobs.len() {
                break;
            }
            let (k, _) = item?;
            let (Some((epoch, _)), Some(job)) = (k.split_first_chunk::<8>(), job_of(&k)) else {
                continue;
            };
            if jobs.iter().any(|j| j == job) && !found.contains_key(job) {
                found.insert(job.to_owned(), u64::from_be_bytes(*epoch));
            }
        }
        Ok(found)
    }

    /// Deletes every result of an epoch before `epoch`, in small batches.
    pub fn sweep_before(&self, epoch: u64) -> Result<usize, ResultsError> {
        let end = epoch.to_be_bytes();
        let removed = delete_range_with(&self.tree, ..&end[..], 256, |items| {
            let mut stored = self.stored.lock();
            for (k, v) in items {
                if let Some(total) = job_of(k).and_then(|job| stored.get_mut(job)) {
                    *total = total.saturating_sub(v.len() as u64);
                }
            }
            stored.retain(|_, bytes| *bytes > 0);
            ControlFlow::Continue(())
        })?;
        Ok(removed as usize)
    }
}

/// The job a result's key is of (keys: epoch, job, 0, dc, 0, seq).
fn job_of(key: &[u8]) -> Option<&str> {
    let rest = key.get(8..)?;
    let end = rest.iter().position(|b| *b == 0)?;
    std::str::from_utf8(&rest[..end]).ok()
}

fn encode(record: &ResultRecord) -> Result<Vec<u8>, ResultsError> {
    rmp_serde::to_vec_named(record).map_err(|e| ResultsError::Corrupt(e.to_string()))
}

fn decode(bytes: &[u8]) -> Result<ResultRecord, ResultsError> {
    rmp_serde::from_slice(bytes).map_err(|e| ResultsError::Corrupt(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(job: &str, epoch: u64, dc: &str) -> ResultRecord {
        ResultRecord::ok_for_test(job, epoch, dc, b"{}")
    }

    #[test]
    fn results_are_kept_per_job_and_epoch_and_swept_by_age() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        let results = Results::open(&db, 16).unwrap();
        let mut live = results.subscribe();
        for epoch in [10, 20, 30] {
            results.put(record("count", epoch, "ams4")).unwrap();
            results.put(record("counter", epoch, "ams4")).unwrap();
        }
        results.put(record("count", 20, "ams4")).unwrap(); // overwrite, not a second one
        assert_eq!(live.try_recv().unwrap().epoch, 10);
        let count: Vec<u64> = results
            .range("count", 0, 100)
            .unwrap()
            .iter()
            .map(|r| r.epoch)
            .collect();
        assert_eq!(
            count,
            [10, 20, 30],
            "a job's range does not see another job with a longer name"
        );
        let one = Results::stored_size(&record("count", 10, "ams4")).unwrap();
        assert_eq!(
            results.stored_bytes("count"),
            3 * one,
            "an overwrite is not counted twice"
        );
        assert_eq!(results.sweep_before(25).unwrap(), 4);
        assert_eq!(results.range("count", 0, 100).unwrap().len(), 1);
        assert_eq!(results.stored_bytes("count"), one);
        let other = Results::stored_size(&record("counter", 10, "ams4")).unwrap();
        assert_eq!(results.stored_bytes("counter"), other);
        let reopened = Results::open(&db, 16).unwrap();
        assert_eq!(reopened.stored_bytes("count"), one, "counted again at open");
        assert!(results.get("count", 10, "ams4", 0).unwrap().is_none());
    }
}
