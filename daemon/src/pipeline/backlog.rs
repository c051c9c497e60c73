//! The commits received from the hook and not yet acknowledged, in the
//! order the workers take them: one entry per commit however often it is
//! delivered, retries first, and a ticket per attempt so that runs keep
//! commit order in every job's lane.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use epochd_hooks::{CommitNotice, Delivery};
use parking_lot::Mutex;
use tokio::sync::Semaphore;

use super::turnstile::{Ticket, Turnstile};

/// The pause before a commit that failed for a passing reason is tried
/// again; it doubles on each failure, up to [`MAX_RETRY_PAUSE`].
pub(super) const FIRST_RETRY_PAUSE: Duration = Duration::from_millis(200);
/// The longest pause between two tries of a commit.
pub(super) const MAX_RETRY_PAUSE: Duration = Duration::from_secs(30);

/// The commits received and not yet acknowledged, and the order in which
/// the workers take them.
pub(crate) struct Backlog {
    /// Each waiting commit's deliveries, by commit id. A commit delivered
    /// again while it waits (a new hook session resends everything not yet
    /// acknowledged) joins the delivery already here: it is processed once,
    /// then every delivery of it is acknowledged.
    deliveries: Mutex<HashMap<u64, Vec<Delivery>>>,
    /// Commits to try, in commit order; a retry goes first.
    queue: Mutex<VecDeque<Attempt>>,
    /// One permit per attempt in `queue`.
    queued: Semaphore,
    /// Keeps the runs of the commits taken in the order they were taken.
    turnstile: Turnstile,
}

/// One commit to try.
pub(super) struct Attempt {
    pub(super) notice: CommitNotice,
    /// How long to wait before the next try if this one fails.
    pub(super) pause: Duration,
}

impl Backlog {
    pub(crate) fn new() -> Backlog {
        Backlog {
            deliveries: Mutex::new(HashMap::new()),
            queue: Mutex::new(VecDeque::new()),
            queued: Semaphore::new(0),
            turnstile: Turnstile::default(),
        }
    }

    /// Takes a delivery; false when its commit was already waiting.
    pub(super) fn add(&self, delivery: Delivery) -> bool {
        let notice = delivery.notice().clone();
        match self.deliveries.lock().entry(notice.commit_id) {
            Entry::Occupied(mut e) => {
                e.get_mut().push(delivery);
                return false;
            }
            Entry::Vacant(e) => {
                e.insert(vec![delivery]);
            }
        }
        self.push(
            Attempt {
                notice,
                pause: FIRST_RETRY_PAUSE,
            },
            false,
        );
        true
    }

    pub(super) fn push(&self, attempt: Attempt, first: bool) {
        let mut queue = self.queue.lock();
        if first {
            queue.push_front(attempt);
        } else {
            queue.push_back(attempt);
        }
        self.queued.add_permits(1);
    }

    /// The next commit to try, with its ticket (its runs are queued after
    /// those of the commits taken before it); waits for one.
    pub(super) async fn next(&self) -> (Attempt, Ticket<'_>) {
        self.queued
            .acquire()
            .await
            .expect("the backlog's semaphore is never closed")
            .forget();
        let mut queue = self.queue.lock();
        let attempt = queue.pop_front().expect("one permit per queued attempt");
        (attempt, self.turnstile.ticket())
    }

    /// The deliveries of a commit that is done.
    pub(super) fn done(&self, commit_id: u64) -> Vec<Delivery> {
        self.deliveries
            .lock()
            .remove(&commit_id)
            .unwrap_or_default()
    }
}
