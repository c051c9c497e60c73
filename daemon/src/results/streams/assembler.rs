//! The assembler: one task that decides when each job's epoch is complete
//! on this node and publishes it, so every job's events leave in epoch
//! order (the rules are in the module docs of `streams`).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::{channel, Cache, Done, EventKind, Inner, StreamEvent, ACTIVE_DC_WINDOW};
use crate::clock::{beyond_clock, now_ms};
use crate::results::render;

/// Which dcs' primary commits of an epoch are done, for every job or for
/// one job.
struct EpochDcs {
    /// When the epoch was first heard of.
    first: Instant,
    /// The dcs whose primary commit every job is done with.
    all: HashSet<String>,
    /// The dcs whose primary commit one job is done with.
    by_job: HashMap<String, HashSet<String>>,
}

impl EpochDcs {
    fn done(&self, job: &str, dc: &str) -> bool {
        self.all.contains(dc) || self.by_job.get(job).is_some_and(|d| d.contains(dc))
    }
}

/// Decides when each epoch is sent, and sends it: one task, so every job's
/// events leave in epoch order.
pub(super) struct Assembler {
    inner: Arc<Inner>,
    /// When each dc first and last had a primary commit processed here.
    dcs: HashMap<String, (Instant, Instant)>,
    /// Epochs not yet sent for every job.
    epochs: BTreeMap<u64, EpochDcs>,
    /// Per job, the epochs with results waiting to be sent.
    pending: HashMap<String, BTreeSet<u64>>,
}

impl Assembler {
    pub(super) fn new(inner: Arc<Inner>) -> Assembler {
        Assembler {
            inner,
            dcs: HashMap::new(),
            epochs: BTreeMap::new(),
            pending: HashMap::new(),
        }
    }

    pub(super) async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Done>) {
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                done = rx.recv() => match done {
                    Some(done) => self.learn(done).await,
                    None => return,
                },
                _ = tick.tick() => {}
            }
            self.send_ready().await;
        }
    }

    /// Notes a job's stored result or a commit done; sends a late result at
    /// once.
    async fn learn(&mut self, done: Done) {
        let now = Instant::now();
        let commit = done.commit;
        if commit.seq == 0 {
            self.dcs
                .entry(commit.dc.clone())
                .and_modify(|(_, last)| *last = now)
                .or_insert((now, now));
        }
        let entry = self.epochs.entry(commit.epoch).or_insert_with(|| EpochDcs {
            first: now,
            all: HashSet::new(),
            by_job: HashMap::new(),
        });
        let Some(record) = done.record else {
            if commit.seq == 0 {
                entry.all.insert(commit.dc);
            }
            return;
        };
        if commit.seq == 0 {
            entry
                .by_job
                .entry(record.job.clone())
                .or_default()
                .insert(commit.dc);
        }
        let emitted = self
            .inner
            .channels
            .lock()
            .get(&record.job)
            .and_then(|c| c.emitted);
        if emitted.is_some_and(|e| record.epoch <= e) || beyond_clock(record.epoch) {
            let job = record.job.clone();
            let epoch = record.epoch;
            let data = Inner::render(&self.inner, &job, epoch, vec![record], Cache::Bypass).await;
            self.publish(&job, EventKind::Late, epoch, &data);
        } else {
            self.pending
                .entry(record.job)
                .or_default()
                .insert(record.epoch);
        }
    }

    /// Whether the job's epoch has waited long enough, or the job is done
    /// with the primary commit of the epoch of every dc it should hear
    /// from: the dcs known before the epoch's first commit and active
    /// recently. With none known (the first epoch after a start) only
    /// waiting tells.
    fn ready(&self, job: &str, epoch: u64, now: Instant) -> bool {
        let Some(dcs) = self.epochs.get(&epoch) else {
            return true;
        };
        if now.duration_since(dcs.first) >= self.inner.config.settle {
            return true;
        }
        let mut expected = self.dcs.iter().filter(|(_, (known, last))| {
            *known < dcs.first && now.duration_since(*last) <= ACTIVE_DC_WINDOW
        });
        let mut any = false;
        let all = expected.all(|(dc, _)| {
            any = true;
            dcs.done(job, dc)
        });
        any && all
    }

    /// Sends, per job, every ready epoch in order, stopping at the first
    /// that is not ready (a later epoch never overtakes an earlier one).
    async fn send_ready(&mut self) {
        let now = Instant::now();
        let jobs: Vec<String> = self.pending.keys().cloned().collect();
        for job in jobs {
            while let Some(&epoch) = self.pending.get(&job).and_then(|p| p.first()) {
                if !self.ready(&job, epoch, now) {
                    break;
                }
                self.pending.get_mut(&job).map(|p| p.remove(&epoch));
                let inner = self.inner.clone();
                let name = job.clone();
                let records =
                    tokio::task::spawn_blocking(move || inner.stored(&name, epoch, epoch))
                        .await
                        .expect("reading results does not panic");
                match records {
                    Ok(mut found) => {
                        let records = found.pop().map(|(_, r)| r).unwrap_or_default();
                        let data =
                            Inner::render(&self.inner, &job, epoch, records, Cache::Use).await;
                        self.publish(&job, EventKind::Epoch, epoch, &data);
                    }
                    Err(e) => {
                        tracing::error!(%job, epoch, error = %e, "results of an epoch could not be read for its stream; it is skipped (range queries still have it)");
                    }
                }
            }
        }
        self.pending.retain(|_, p| !p.is_empty());
        // Epochs every job is done with are forgotten.
        let oldest_pending = self
            .pending
            .values()
            .filter_map(|p| p.first())
            .min()
            .copied();
        let horizon = now.checked_sub(ACTIVE_DC_WINDOW);
        self.epochs.retain(|epoch, dcs| {
            oldest_pending.is_some_and(|o| *epoch >= o) || horizon.is_none_or(|h| dcs.first > h)
        });
    }

    fn publish(&self, job: &str, kind: EventKind, epoch: u64, data: &str) {
        let event = Arc::new(StreamEvent {
            kind,
            epoch,
            json: render::with_field(data, "emitted_at_ms", now_ms()),
        });
        let mut channels = self.inner.channels.lock();
        let channel = channel(&mut channels, job, self.inner.config.buffer);
        if kind == EventKind::Epoch {
            channel.emitted = Some(epoch);
        }
        // No subscriber is not an error.
        let _ = channel.tx.send(event);
    }
}
