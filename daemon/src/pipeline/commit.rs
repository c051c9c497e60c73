//! One commit on its way through the lanes: which commit it is, and its
//! runs, done when every matching job has a stored record of it; the
//! decoded epoch's room in the decode budget is held until then.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use epochd_hooks::CommitNotice;
use epochd_store::ManifestKey;
use parking_lot::Mutex;
use tokio::sync::oneshot;

use super::budget::Reservation;
use crate::results::ResultRecord;

/// Which commit runs are on, and when it was made (0: not known, as for
/// a backfill's stored commits).
#[derive(Debug, Clone)]
pub(crate) struct Commit {
    pub(crate) key: ManifestKey,
    pub(crate) committed_at_ms: u64,
}

impl Commit {
    /// The commit a hook notice is about.
    pub(crate) fn of(notice: &CommitNotice) -> Commit {
        Commit {
            key: ManifestKey {
                epoch: notice.epoch,
                dc: notice.dc.clone(),
                seq: notice.seq,
            },
            committed_at_ms: notice.committed_at_ms,
        }
    }
}

/// One commit's runs over the lanes: done when each has its record.
pub(crate) struct CommitRuns {
    /// The commit.
    pub(crate) of: Commit,
    /// Whether its results go to live streams (a backfill's do not).
    pub(crate) live: bool,
    remaining: AtomicUsize,
    records: Mutex<Vec<ResultRecord>>,
    done: Mutex<Option<oneshot::Sender<Vec<ResultRecord>>>>,
    /// The decoded epoch's room in the decode budget, held until the last
    /// of its runs is done.
    _room: Option<Reservation>,
}

impl CommitRuns {
    /// A commit with `runs` runs to finish; the receiver gets their
    /// records once all are done.
    pub(crate) fn new(
        of: &Commit,
        live: bool,
        runs: usize,
        room: Option<Reservation>,
    ) -> (Arc<CommitRuns>, oneshot::Receiver<Vec<ResultRecord>>) {
        let (tx, rx) = oneshot::channel();
        let commit = Arc::new(CommitRuns {
            of: of.clone(),
            live,
            remaining: AtomicUsize::new(runs),
            records: Mutex::new(Vec::with_capacity(runs)),
            done: Mutex::new(Some(tx)),
            _room: room,
        });
        if runs == 0 {
            commit.send();
        }
        (commit, rx)
    }

    /// One run is done, with its (stored) record or none (its job was
    /// deleted meanwhile).
    pub(crate) fn finish(&self, record: Option<ResultRecord>) {
        if let Some(record) = record {
            self.records.lock().push(record);
        }
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.send();
        }
    }

    fn send(&self) {
        let records = std::mem::take(&mut *self.records.lock());
        if let Some(tx) = self.done.lock().take() {
            // The receiver may have stopped waiting (the daemon is stopping).
            let _ = tx.send(records);
        }
    }
}
