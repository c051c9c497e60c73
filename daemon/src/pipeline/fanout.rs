//! One commit through the daemon: read it, decode it once, queue a run of
//! every matching job on the shared epoch in that job's lane (see
//! `lanes`), and acknowledge the notice once every run's record is stored
//! (see `completer`).

use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use epochd_decode::{DecodeError, EpochMeta};
use epochd_hooks::{CommitNotice, Delivery};
use epochd_jobs::ErrorKind;
use epochd_store::Manifest;
use futures_util::FutureExt;
use tokio::sync::oneshot;

use super::backlog::{Attempt, Backlog, MAX_RETRY_PAUSE};
use super::commit::{Commit, CommitRuns};
use super::error::ProcessError;
use super::lanes::Run;
use super::source::{CommitData, SourceError};
use super::turnstile::Ticket;
use super::Daemon;
use crate::clock::now_ms;
use crate::registry::Job;
use crate::results::{Outcome, ResultRecord};

/// What launching a commit gave.
pub(crate) enum Launched {
    /// Nothing to run, or nothing left to run: done now.
    Done(Processed),
    /// Runs were queued (or errors recorded); their records, once stored.
    Running(oneshot::Receiver<Vec<ResultRecord>>),
}

/// What became of one commit.
#[derive(Debug)]
pub enum Processed {
    /// Every matching job has a result or a recorded error.
    Done(Vec<ResultRecord>),
    /// The commit is no longer in the store (retention) or changed.
    Gone,
}

/// Why the chunks of a commit did not decode.
enum Undecodable {
    /// A chunk's bytes are wrong: it is named, and what is wrong said.
    Corrupt(String),
    /// The commit is valid but does not fit the decoded format.
    Other(String),
    /// A passing failure (no memory or descriptor for the shared memory).
    Passing(DecodeError),
}

/// Logs a notice as it arrives (in delivery order: commit order).
pub(crate) fn log_received(notice: &CommitNotice) {
    // Debug: a line per commit is a line per dc each second.
    tracing::debug!(
        commit_id = notice.commit_id,
        epoch = notice.epoch,
        dc = %notice.dc,
        seq = notice.seq,
        events = notice.events,
        chunks = notice.chunks,
        digest = %notice.manifest_digest,
        node = %notice.node,
        "commit received"
    );
}

impl Daemon {
    /// Takes one delivery from the hook: the commit now counts as received
    /// (the newest epoch, the commits waiting) and waits its turn.
    pub(crate) fn receive(&self, delivery: Delivery, backlog: &Backlog) {
        log_received(delivery.notice());
        let epoch = delivery.notice().epoch;
        if crate::clock::beyond_clock(epoch) {
            tracing::warn!(epoch, "a commit of an epoch past the clock: processed, but it does not move the newest epoch");
        } else {
            self.newest_epoch.fetch_max(epoch, Ordering::Relaxed);
        }
        if backlog.add(delivery) {
            self.stats.waiting.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// One of the `commits_in_flight` workers: takes the backlog's commits
    /// in order, reads and decodes each and hands its runs to the jobs'
    /// lanes, then takes the next one: it does not wait for the runs. A
    /// commit is acknowledged once every run has its record stored.
    ///
    /// A commit that cannot be read or decoded now (the store unreachable,
    /// no memory for the shared epoch) is tried again after a growing
    /// pause (up to 30 s): delayed, never skipped. It waits for its next
    /// try without holding the worker, so it does not hold back the commits
    /// behind it. A corrupt commit is not retried: it becomes recorded
    /// errors (see [`Daemon::process`]).
    pub(crate) async fn work(self: Arc<Self>, backlog: Arc<Backlog>) {
        loop {
            let (Attempt { notice, pause }, ticket) = backlog.next().await;
            self.stats.in_flight.fetch_add(1, Ordering::Relaxed);
            // A panic (a bug) must not take the worker with it: the commit
            // is tried again later like any other failure.
            let jobs = self.registry.list();
            let launched = AssertUnwindSafe(self.launch(&notice, jobs, true, Some(&ticket)))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| Err(ProcessError::Panicked));
            drop(ticket);
            match launched {
                Ok(Launched::Done(_)) => self.acknowledge(&notice, &backlog),
                Ok(Launched::Running(runs)) => {
                    let daemon = self.clone();
                    let backlog = backlog.clone();
                    tokio::spawn(async move {
                        // Only a daemon being dropped drops the sender.
                        if runs.await.is_ok() {
                            daemon.acknowledge(&notice, &backlog);
                        }
                    });
                }
                Err(e) => {
                    self.stats.in_flight.fetch_sub(1, Ordering::Relaxed);
                    tracing::error!(epoch = notice.epoch, dc = %notice.dc, seq = notice.seq, error = %format!("{e:#}"),
                        retry_in_ms = pause.as_millis() as u64, "commit not processed; trying again");
                    self.stats.retrying.fetch_add(1, Ordering::Relaxed);
                    let daemon = self.clone();
                    let backlog = backlog.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(pause).await;
                        daemon.stats.retrying.fetch_sub(1, Ordering::Relaxed);
                        let pause = (pause * 2).min(MAX_RETRY_PAUSE);
                        backlog.push(Attempt { notice, pause }, true);
                    });
                }
            }
        }
    }

    /// Every run of a commit has its record stored: acknowledges each of
    /// its deliveries and tells the streams.
    fn acknowledge(&self, notice: &CommitNotice, backlog: &Backlog) {
        for delivery in backlog.done(notice.commit_id) {
            delivery.ack();
        }
        self.stats.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.stats.waiting.fetch_sub(1, Ordering::Relaxed);
        self.streams.commit_done(&Commit::of(notice).key);
    }

    /// Reads, decodes and runs the jobs of one commit, and waits until
    /// their results are stored. A commit with a corrupt chunk (stored
    /// bytes that are wrong) is done too: each matching job gets a recorded
    /// error of kind `corrupt` naming the chunk. `Err` only for what may
    /// pass.
    pub async fn process(&self, notice: &CommitNotice) -> Result<Processed, ProcessError> {
        let jobs = self.registry.list();
        let launched = self.launch(notice, jobs, true, None).await?;
        launched.finished().await
    }

    /// Reads and decodes a commit and queues a run of each of `jobs` that
    /// is not paused and matches it; or records why it cannot run.
    async fn launch(
        &self,
        notice: &CommitNotice,
        jobs: Vec<Arc<Job>>,
        live: bool,
        ticket: Option<&Ticket<'_>>,
    ) -> Result<Launched, ProcessError> {
        if jobs.iter().all(|j| !j.runs_at(notice.epoch)) {
            // No job would run (paused, or not for this epoch in the
            // cluster): nothing to read.
            return Ok(Launched::Done(Processed::Done(Vec::new())));
        }
        let commit = Commit::of(notice);
        match self.source.read(notice).await {
            Ok(Some(data)) => self.launch_on(&commit, data, jobs, live, ticket).await,
            Ok(None) => {
                tracing::warn!(epoch = notice.epoch, dc = %notice.dc, seq = notice.seq,
                    "commit is gone from the store (retention?); nothing to run");
                Ok(Launched::Done(Processed::Gone))
            }
            Err(SourceError::Corrupt {
                manifest,
                chunk,
                reason,
            }) => {
                let jobs = matching(jobs, &manifest);
                let message = format!("chunk {chunk} is corrupt: {reason}");
                Ok(self.record_corrupt(&commit, jobs, &message, live))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Records a corrupt commit as an error of kind `corrupt` for each of
    /// `jobs`: reading it again would give the same bytes, so it is not
    /// retried.
    fn record_corrupt(
        &self,
        commit: &Commit,
        jobs: Vec<Arc<Job>>,
        message: &str,
        live: bool,
    ) -> Launched {
        let key = &commit.key;
        tracing::error!(epoch = key.epoch, dc = %key.dc, seq = key.seq, %message, jobs = jobs.len(),
            "commit is corrupt: recorded as an error of each matching job, not tried again");
        self.stats.corrupt.fetch_add(1, Ordering::Relaxed);
        self.record_errors(commit, jobs, ErrorKind::Corrupt, message, live)
    }

    /// Records the same error, not the jobs' fault, for each of `jobs`.
    fn record_errors(
        &self,
        commit: &Commit,
        jobs: Vec<Arc<Job>>,
        kind: ErrorKind,
        message: &str,
        live: bool,
    ) -> Launched {
        let (runs_of, runs) = CommitRuns::new(commit, live, jobs.len(), None);
        for job in &jobs {
            let record = error_record(job, commit, kind, message);
            self.lanes.finish(job, runs_of.clone(), Some(record), false);
        }
        Launched::Running(runs)
    }

    /// Decodes a commit already read and queues a run of each of `jobs`
    /// (those not paused whose manifest matches) in its lane, after the
    /// runs of the commits taken before it (`ticket`).
    pub(crate) async fn launch_on(
        &self,
        commit: &Commit,
        data: CommitData,
        jobs: Vec<Arc<Job>>,
        live: bool,
        ticket: Option<&Ticket<'_>>,
    ) -> Result<Launched, ProcessError> {
        let jobs = matching(jobs, &data.manifest);
        if jobs.is_empty() {
            return Ok(Launched::Done(Processed::Done(Vec::new())));
        }
        let raw_bytes: u64 = data.manifest.chunks.iter().map(|c| c.raw_bytes).sum();
        let room = self.budget.reserve(raw_bytes as usize).await;
        let meta = EpochMeta {
            epoch: commit.key.epoch,
            dc: commit.key.dc.clone(),
            seq: commit.key.seq,
        };
        // Once for all the jobs; once per job only when the benchmark
        // measures the MapReduce way (`DaemonConfig::decode_per_job`).
        let copies = if self.config.decode_per_job {
            jobs.len()
        } else {
            1
        };
        let started = Instant::now();
        let decoders = self.decoders.clone();
        // Each copy is a decode of its own, as each MapReduce job's is.
        let decoded: Result<Vec<_>, _> = tokio::task::spawn_blocking(move || {
            (0..copies)
                .map(|_| {
                    decoders.run(|| {
                        epochd_decode::decode(meta.clone(), &data.blobs)
                            .map_err(|e| undecodable(e, &data.manifest))
                    })
                })
                .collect()
        })
        .await?;
        self.stats
            .decode_us
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        self.stats
            .decoded
            .fetch_add(copies as u64, Ordering::Relaxed);
        match decoded {
            Ok(epochs) => {
                if let Some(ticket) = ticket {
                    ticket.turn().await;
                }
                let (runs_of, runs) = CommitRuns::new(commit, live, jobs.len(), Some(room));
                let queued_at = Instant::now();
                for (i, job) in jobs.iter().enumerate() {
                    let run = Run {
                        commit: runs_of.clone(),
                        epoch: epochs[i % epochs.len()].clone(),
                        queued_at,
                    };
                    self.lanes.push(job, run);
                }
                Ok(Launched::Running(runs))
            }
            Err(Undecodable::Corrupt(message)) => {
                Ok(self.record_corrupt(commit, jobs, &message, live))
            }
            Err(Undecodable::Other(message)) => {
                Ok(self.record_errors(commit, jobs, ErrorKind::Decode, &message, live))
            }
            Err(Undecodable::Passing(e)) => Err(ProcessError::Decode(e)),
        }
    }
}

impl Launched {
    /// Waits until the commit's records are stored.
    pub(crate) async fn finished(self) -> Result<Processed, ProcessError> {
        match self {
            Launched::Done(processed) => Ok(processed),
            Launched::Running(runs) => Ok(Processed::Done(
                runs.await.map_err(|_| ProcessError::Stopped)?,
            )),
        }
    }
}

/// The jobs of `jobs` that run on the commit's epoch (not paused, and
/// active then in the cluster, in cluster mode) and whose manifest matches
/// it.
fn matching(jobs: Vec<Arc<Job>>, manifest: &Manifest) -> Vec<Arc<Job>> {
    jobs.into_iter()
        .filter(|j| j.runs_at(manifest.epoch) && j.manifest.matches(manifest))
        .collect()
}

/// Why a commit's chunks did not decode. A chunk that is not a zstd frame
/// or whose events are not MessagePack maps is corrupt, and named by its
/// key (the decoder says which one it was).
fn undecodable(e: DecodeError, manifest: &Manifest) -> Undecodable {
    let key = |index: usize| {
        manifest.chunks.get(index).map_or_else(
            || format!("#{index}"),
            |entry| manifest.chunk_key(entry).to_string(),
        )
    };
    match e {
        DecodeError::Shared(_) => Undecodable::Passing(e),
        DecodeError::Chunk { index, reason } => Undecodable::Corrupt(format!(
            "chunk {} is corrupt: undecodable zstd: {reason}",
            key(index)
        )),
        DecodeError::MalformedChunk { index, reason } => Undecodable::Corrupt(format!(
            "chunk {} is corrupt: undecodable MessagePack: {reason}",
            key(index)
        )),
        DecodeError::Malformed(_) => {
            Undecodable::Corrupt(format!("the commit's chunks are corrupt: {e}"))
        }
        other => Undecodable::Other(format!("the commit could not be decoded: {other}")),
    }
}

/// A record of an error that is not the job's doing (its run never
/// started).
pub(crate) fn error_record(
    job: &Job,
    commit: &Commit,
    kind: ErrorKind,
    message: &str,
) -> ResultRecord {
    ResultRecord {
        job: job.manifest.name.clone(),
        epoch: commit.key.epoch,
        dc: commit.key.dc.clone(),
        seq: commit.key.seq,
        outcome: Outcome::Error {
            kind,
            message: message.to_owned(),
        },
        wall_us: 0,
        cpu_us: 0,
        stored_at_ms: now_ms(),
        committed_at_ms: 0,
        logs: Vec::new(),
        logs_dropped: 0,
    }
}

#[cfg(test)]
mod tests {
    use epochd_store::{Checksum, ChunkEntry, Manifest, MANIFEST_VERSION};

    use super::*;

    /// A commit of 1700000000/ams4/0 whose chunks are `blobs`, as WEB/app/0, WEB/app/1, ...
    fn commit(blobs: Vec<Vec<u8>>) -> CommitData {
        let chunks = blobs
            .iter()
            .enumerate()
            .map(|(i, b)| ChunkEntry {
                event_type: "WEB".into(),
                subtype: Some("app".into()),
                chunk: i as u32,
                bytes: b.len() as u64,
                raw_bytes: 0,
                events: 1,
                checksum: Checksum::of(b),
            })
            .collect();
        CommitData {
            manifest: Manifest {
                version: MANIFEST_VERSION,
                epoch: 1_700_000_000,
                dc: "ams4".into(),
                seq: 0,
                events: 2,
                chunks,
            },
            blobs,
        }
    }

    fn explain(blobs: Vec<Vec<u8>>) -> String {
        let data = commit(blobs);
        let meta = EpochMeta {
            epoch: 1_700_000_000,
            dc: "ams4".into(),
            seq: 0,
        };
        let e = epochd_decode::decode(meta, &data.blobs)
            .err()
            .expect("the commit does not decode");
        match undecodable(e, &data.manifest) {
            Undecodable::Corrupt(message) => message,
            Undecodable::Other(m) => panic!("not corrupt: {m}"),
            Undecodable::Passing(e) => panic!("a passing failure: {e}"),
        }
    }

    /// One valid event: `{"timestamp": 1700000000.5, "type": "WEB"}`.
    fn event() -> Vec<u8> {
        let mut raw = vec![0x82, 0xa9];
        raw.extend_from_slice(b"timestamp");
        raw.push(0xcb);
        raw.extend_from_slice(&1_700_000_000.5f64.to_be_bytes());
        raw.push(0xa4);
        raw.extend_from_slice(b"type");
        raw.push(0xa3);
        raw.extend_from_slice(b"WEB");
        raw
    }

    #[test]
    fn a_chunk_that_is_not_zstd_is_named_as_corrupt() {
        let good = epochd_store::compress(&event(), 3);
        let message = explain(vec![good, b"not a zstd frame at all".to_vec()]);
        assert!(
            message.starts_with("chunk 1700000000/ams4/WEB/app/1 is corrupt: undecodable zstd: "),
            "{message}"
        );
    }

    #[test]
    fn a_chunk_whose_events_are_not_messagepack_maps_is_named_as_corrupt() {
        let good = epochd_store::compress(&event(), 3);
        let bad = epochd_store::compress(&[0xc1, 0x00, 0x01], 3);
        let message = explain(vec![bad, good]);
        assert!(
            message.starts_with(
                "chunk 1700000000/ams4/WEB/app/0 is corrupt: undecodable MessagePack: "
            ),
            "{message}"
        );
    }
}
