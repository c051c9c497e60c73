//! Watching the job registry: one background task per watch, which turns
//! etcd's watch stream into [`JobEvent`]s, resumes it after any break, and
//! tells how fresh what it delivered is.
//!
//! **Ordering.** etcd numbers every change with a revision, and one watch
//! stream sends the changes of its key range in revision order, none
//! skipped. The task sends them on in that order, and keeps the last
//! revision it delivered; after a break (etcd restarted, a network fault,
//! the stream closed) it watches again from that revision + 1, so nothing
//! is lost or repeated. If etcd compacted that revision away meanwhile, the
//! history is gone: the task lists the whole registry instead and sends it
//! as a [`JobEvent::Resync`], after which it goes on from the listing's
//! revision.
//!
//! **Freshness.** A consumer that decides something for an epoch (whether
//! a job runs for it) must know it has heard of every change made before
//! then, not merely that no event came. Every `progress_every` the task
//! notes t0 (unix ms), makes a linearizable read of the registry (its
//! revision R0 covers every change committed before t0, whichever etcd
//! member answers), and sends a progress request on the watch stream; etcd
//! answers with the revision the stream has reached. When that is at least
//! R0 the task sends [`JobEvent::Synced`] with t0. It does not take etcd's
//! word alone: etcd 3.4.23 (Debian 12's, which the tests run) answers a
//! progress request ahead of events still queued for the stream, e.g.
//! while a watch that started in the past replays its history (etcd issue
//! 15220, fixed in later 3.4 and 3.5 releases; the test
//! `a_watch_catching_up_on_history_is_not_synced_before_it_caught_up`
//! fails on 3.4.23 without this check). So the task also holds the keys it
//! delivered, each at its revision, against the read at R0, unless it has
//! already delivered a change of revision R0 or later; if they differ, a
//! change is still on its way and it waits for the next round. The one
//! thing this cannot see on such an etcd is a key created and deleted
//! again, both between the last delivered change and R0, whose events are
//! still queued: they come, late, after the `Synced`. (epochd never does
//! that to a job within a round: a deletion leaves a tombstone that stands
//! for its TTL.)

use std::collections::BTreeMap;
use std::time::Duration;

use etcd_client::{Client, EventType, GetOptions, WatchOptions, WatchResponse};
use tokio::sync::mpsc;

use crate::etcd::{failed, now_ms, revision_unavailable, FIRST_BACKOFF, MAX_BACKOFF};
use crate::jobs::{decode, decode_all, ClusterJob, JobRegistry};
use crate::keys::jobs_prefix;
use crate::ClusterError;

/// How many events may wait for the consumer before the task waits too.
const CHANNEL: usize = 256;

/// What a registry watch delivers, in this order: a [`JobEvent::Resync`]
/// first; then changes in etcd's revision order (each key's in the order
/// they were made), each revision greater than the one before and than
/// the last `Resync`'s; a `Resync` again only when etcd compacted the
/// history the watch needed; and [`JobEvent::Synced`] between them, with
/// `as_of_ms` increasing.
#[derive(Debug, Clone, PartialEq)]
pub enum JobEvent {
    /// A job was submitted or changed (a deletion too: its tombstone's put).
    Put {
        /// The job as it is now.
        job: ClusterJob,
        /// The change's etcd revision.
        revision: i64,
    },
    /// The job's key vanished: its tombstone's lease expired, or someone
    /// deleted it.
    Removed {
        /// The job's name.
        name: String,
        /// The deletion's etcd revision.
        revision: i64,
    },
    /// Every job there is as of `revision`: replaces whatever the consumer
    /// held. The first event always; again when the watch had to start over
    /// because etcd compacted the revisions it needed.
    Resync {
        /// Every job (tombstones included), by name.
        jobs: Vec<ClusterJob>,
        /// The revision the list is the state at.
        revision: i64,
    },
    /// Every change committed in etcd before `as_of_ms` (unix ms) has been
    /// delivered (or is reflected in a `Resync` delivered before); on an
    /// etcd with issue 15220, but for a key created and deleted within the
    /// round (the module's doc says why).
    Synced {
        /// Unix milliseconds.
        as_of_ms: u64,
    },
}

/// Starts a watch of `registry` (see [`JobRegistry::watch`]).
pub(crate) fn spawn(registry: JobRegistry, from_revision: i64) -> mpsc::Receiver<JobEvent> {
    let (tx, rx) = mpsc::channel(CHANNEL);
    let task = Task {
        prefix: jobs_prefix(&registry.cluster),
        client: registry.client,
        cluster: registry.cluster,
        progress_every: registry.progress_every,
        tx,
        delivered: 0,
        view: BTreeMap::new(),
        last_synced: 0,
    };
    tokio::spawn(task.run(from_revision));
    rx
}

/// Why a watch stream stopped.
enum Stop {
    /// The consumer dropped its receiver: the task ends.
    Closed,
    /// etcd compacted the revision the watch started from.
    Compacted(i64),
    /// The stream broke; whether it had been established.
    Broken(String, bool),
}

/// A freshness check under way: t0, and the registry as of R0.
struct Fence {
    t0: u64,
    revision: i64,
    /// Each key's mod revision as of `revision`.
    keys: BTreeMap<Vec<u8>, i64>,
}

struct Task {
    client: Client,
    cluster: String,
    prefix: String,
    progress_every: Duration,
    tx: mpsc::Sender<JobEvent>,
    /// Every change up to this revision has been delivered (as an event or
    /// inside a `Resync`).
    delivered: i64,
    /// The keys present as delivered, with their mod revisions: what the
    /// consumer holds, to hold against a read at a revision.
    view: BTreeMap<Vec<u8>, i64>,
    /// The last `Synced` sent.
    last_synced: u64,
}

impl Task {
    async fn run(mut self, from_revision: i64) {
        let mut at = (from_revision > 0).then(|| from_revision - 1);
        let mut resync = true;
        let mut backoff = FIRST_BACKOFF;
        loop {
            if resync {
                match self.resync(at).await {
                    Ok(true) => resync = false,
                    Ok(false) => return,
                    Err(e) => {
                        tracing::warn!(cluster = %self.cluster, error = %e,
                            retry_in_ms = backoff.as_millis() as u64, "could not list the jobs");
                        if !self.pause(&mut backoff).await {
                            return;
                        }
                        continue;
                    }
                }
            }
            match self.stream().await {
                Stop::Closed => return,
                Stop::Compacted(compacted) => {
                    tracing::warn!(cluster = %self.cluster, from = self.delivered + 1, compacted,
                        "etcd compacted the job history this watch needed: listing every job again");
                    (resync, at, backoff) = (true, None, FIRST_BACKOFF);
                }
                Stop::Broken(why, established) => {
                    if established {
                        backoff = FIRST_BACKOFF;
                    }
                    tracing::warn!(cluster = %self.cluster, %why, resume_from = self.delivered + 1,
                        retry_in_ms = backoff.as_millis() as u64, "the job watch broke: resuming");
                    if !self.pause(&mut backoff).await {
                        return;
                    }
                }
            }
        }
    }

    /// Waits `backoff` (doubling it for next time); false if the consumer
    /// left meanwhile.
    async fn pause(&self, backoff: &mut Duration) -> bool {
        let wait = *backoff;
        *backoff = (*backoff * 2).min(MAX_BACKOFF);
        tokio::select! {
            () = tokio::time::sleep(wait) => true,
            () = self.tx.closed() => false,
        }
    }

    /// Lists the registry as of `at` (or now, also when `at` is compacted
    /// away) and delivers it as a `Resync`; false if the consumer left.
    async fn resync(&mut self, at: Option<i64>) -> Result<bool, ClusterError> {
        let (kvs, revision) = match at {
            Some(0) => (Vec::new(), 0),
            Some(revision) => match self.read(Some(revision), false).await {
                Ok((kvs, _)) => (kvs, revision),
                Err(ClusterError::EtcdRequest { source, .. }) if revision_unavailable(&source) => {
                    self.read(None, false).await?
                }
                Err(e) => return Err(e),
            },
            None => self.read(None, false).await?,
        };
        self.view = kvs
            .iter()
            .map(|kv| (kv.key().to_vec(), kv.mod_revision()))
            .collect();
        self.delivered = revision;
        let jobs = decode_all(&kvs);
        Ok(self.send(JobEvent::Resync { jobs, revision }).await)
    }

    /// The registry's keys (and values unless `keys_only`) as of `at` or
    /// now, and the revision they are the state at.
    async fn read(
        &self,
        at: Option<i64>,
        keys_only: bool,
    ) -> Result<(Vec<etcd_client::KeyValue>, i64), ClusterError> {
        let mut options = GetOptions::new().with_prefix();
        if let Some(revision) = at {
            options = options.with_revision(revision);
        }
        if keys_only {
            options = options.with_keys_only();
        }
        let mut answer = self
            .client
            .clone()
            .get(self.prefix.clone(), Some(options))
            .await
            .map_err(failed(format!(
                "list the jobs of cluster {:?}",
                self.cluster
            )))?;
        let revision = at.unwrap_or_else(|| answer.header().map_or(0, |h| h.revision()));
        Ok((answer.take_kvs(), revision))
    }

    /// Follows one watch stream from `delivered + 1` until it stops.
    async fn stream(&mut self) -> Stop {
        let options = WatchOptions::new()
            .with_prefix()
            .with_start_revision(self.delivered + 1);
        let mut stream = match self
            .client
            .clone()
            .watch(self.prefix.clone(), Some(options))
            .await
        {
            Ok(stream) => stream,
            Err(e) => return Stop::Broken(format!("the watch did not start: {e}"), false),
        };
        let mut established = false;
        let mut fence: Option<Fence> = None;
        let mut tick = tokio::time::interval(self.progress_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = self.tx.closed() => return Stop::Closed,
                message = stream.message() => {
                    let answer = match message {
                        Ok(Some(answer)) => answer,
                        Ok(None) => return Stop::Broken("the stream ended".into(), established),
                        Err(e) => return Stop::Broken(e.to_string(), established),
                    };
                    if answer.compact_revision() > 0 {
                        return Stop::Compacted(answer.compact_revision());
                    }
                    if answer.canceled() {
                        let why = format!("etcd canceled the watch: {}", answer.cancel_reason());
                        return Stop::Broken(why, established);
                    }
                    if answer.created() {
                        established = true;
                    } else if !answer.events().is_empty() {
                        if !self.deliver(&answer).await {
                            return Stop::Closed;
                        }
                    } else if !self.progress(&answer, &mut fence).await {
                        return Stop::Closed;
                    }
                }
                _ = tick.tick(), if established => {
                    match self.fence().await {
                        Ok(f) => fence = Some(f),
                        Err(e) => {
                            tracing::debug!(error = %e, "no freshness check this round");
                            continue;
                        }
                    }
                    if let Err(e) = stream.request_progress().await {
                        return Stop::Broken(format!("progress request not sent: {e}"), established);
                    }
                }
            }
        }
    }

    /// Delivers one answer's events; false if the consumer left.
    async fn deliver(&mut self, answer: &WatchResponse) -> bool {
        for event in answer.events() {
            let Some(kv) = event.kv() else { continue };
            let revision = kv.mod_revision();
            let name = String::from_utf8_lossy(&kv.key()[self.prefix.len().min(kv.key().len())..])
                .into_owned();
            let sent = match event.event_type() {
                EventType::Put => {
                    self.view.insert(kv.key().to_vec(), revision);
                    match decode(kv) {
                        Ok(job) => self.send(JobEvent::Put { job, revision }).await,
                        Err(reason) => {
                            tracing::warn!(key = %String::from_utf8_lossy(kv.key()), %reason,
                                "a key among the jobs holds something epochd did not write: skipped");
                            true
                        }
                    }
                }
                EventType::Delete => {
                    self.view.remove(kv.key());
                    self.send(JobEvent::Removed { name, revision }).await
                }
            };
            self.delivered = self.delivered.max(revision);
            if !sent {
                return false;
            }
        }
        true
    }

    /// Notes t0 and reads the registry's keys, linearizably, as of now.
    async fn fence(&self) -> Result<Fence, ClusterError> {
        let t0 = now_ms();
        let (kvs, revision) = self.read(None, true).await?;
        let keys = kvs
            .iter()
            .map(|kv| (kv.key().to_vec(), kv.mod_revision()))
            .collect();
        Ok(Fence { t0, revision, keys })
    }

    /// A progress answer: sends `Synced` if the fence under way is passed
    /// (see the module's doc); false if the consumer left.
    async fn progress(&mut self, answer: &WatchResponse, fence: &mut Option<Fence>) -> bool {
        let reached = answer.header().map_or(0, |h| h.revision());
        let Some(f) = fence.as_ref() else {
            return true;
        };
        let passed = self.delivered >= f.revision || (reached >= f.revision && self.view == f.keys);
        if !passed || f.t0 <= self.last_synced {
            return true;
        }
        let as_of_ms = f.t0;
        *fence = None;
        self.last_synced = as_of_ms;
        self.send(JobEvent::Synced { as_of_ms }).await
    }

    /// Sends an event; false if the consumer left.
    async fn send(&self, event: JobEvent) -> bool {
        self.tx.send(event).await.is_ok()
    }
}
