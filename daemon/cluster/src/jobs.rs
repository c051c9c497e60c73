//! The cluster-wide job registry: one key per job under
//! `/epochd/<cluster>/jobs/<name>`, holding a [`ClusterJob`] as JSON.
//!
//! **Why a history of changes, each from an epoch.** Nodes hear of a change
//! at different times (a watch lags, a node restarts), yet each processes
//! epochs on its own. A change that said only "paused now" would leave
//! every node to apply it at whatever epoch it happened to be at, and their
//! results for one epoch would disagree. So a change says from which epoch
//! it takes effect, and the registry keeps every change: a node that hears
//! late still knows exactly which epochs the job ran for
//! ([`ClusterJob::state_at`]). Changes only ever go forward in epochs
//! ([`ClusterError::EpochBackwards`]), so an epoch a node already ran by the
//! last change is never decided otherwise afterwards.
//!
//! **Why deletion is a tombstone under a lease.** Deleting the key at once
//! would tell a lagging node only "gone", not from which epoch. So a
//! deletion is a last change (`deleted` from an epoch) and the key is put
//! again under a fresh lease (an hour by default): the tombstone tells
//! every node the epoch, then vanishes by itself. While it stands, a job of
//! the same name may be submitted again; it replaces the tombstone.
//!
//! Every write is a transaction comparing the key's revision with the one
//! read, retried a few times on a conflict: two nodes changing one job at
//! once never lose a change.

use std::time::Duration;

use etcd_client::{Client, Compare, CompareOp, GetOptions, PutOptions, Txn, TxnOp};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::etcd::{failed, CAS_ATTEMPTS};
use crate::jobs_watch::{self, JobEvent};
use crate::keys::{job_key, jobs_prefix, valid_job_name};
use crate::ClusterError;

/// A job as the cluster knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterJob {
    /// Its name (the key's last segment).
    pub name: String,
    /// The SHA-256 of its WebAssembly module, 64 lowercase hex digits: the
    /// module itself is fetched from a holder ([`crate::ModuleHolders`]).
    pub module_sha256: String,
    /// The job's manifest JSON as submitted (docs/API.md, "Jobs"); opaque
    /// here.
    pub manifest: serde_json::Value,
    /// Its state changes, in ascending `from_epoch` (equal epochs in the
    /// order they were made). The first is `active`, from the submission.
    pub changes: Vec<JobChange>,
}

/// One change of a job's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobChange {
    /// The first epoch the change applies to.
    pub from_epoch: u64,
    /// The state from that epoch on.
    pub state: JobState,
    /// Why, as the operator said (shown in status pages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The node that made the change.
    pub by_node: String,
}

/// A job's state over epochs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Runs on every epoch.
    Active,
    /// Runs on no epoch until resumed; keeps its state.
    Paused,
    /// Gone: runs on no epoch, and no change follows.
    Deleted,
}

impl ClusterJob {
    /// The job's state for `epoch`: the last change with `from_epoch <=
    /// epoch`; `None` before the first (the job did not exist yet).
    pub fn state_at(&self, epoch: u64) -> Option<JobState> {
        self.changes
            .iter()
            .rev()
            .find(|c| c.from_epoch <= epoch)
            .map(|c| c.state)
    }

    /// Its last change.
    pub fn last_change(&self) -> Option<&JobChange> {
        self.changes.last()
    }

    /// Whether its last change deleted it (the key is a tombstone).
    pub fn is_deleted(&self) -> bool {
        self.last_change()
            .is_some_and(|c| c.state == JobState::Deleted)
    }
}

/// The job registry of one cluster.
#[derive(Clone)]
pub struct JobRegistry {
    pub(crate) client: Client,
    pub(crate) cluster: String,
    tombstone_ttl: Duration,
    pub(crate) progress_every: Duration,
}

impl JobRegistry {
    /// The registry of `cluster`, through `client` (a clone of a connected
    /// client: [`crate::connect`]). Tombstones live an hour, and watches
    /// report their freshness every 500 ms; see the `with_` methods.
    pub fn new(client: Client, cluster: &str) -> Result<JobRegistry, ClusterError> {
        ClusterError::check_name("cluster name", cluster)?;
        Ok(JobRegistry {
            client,
            cluster: cluster.to_owned(),
            tombstone_ttl: Duration::from_secs(3600),
            progress_every: Duration::from_millis(500),
        })
    }

    /// How long a deleted job's tombstone stands before its key vanishes:
    /// longer than any node may lag, so each learns the epoch the deletion
    /// took effect from. At least 1 s (etcd may round a lease up to a few
    /// seconds).
    pub fn with_tombstone_ttl(mut self, ttl: Duration) -> JobRegistry {
        self.tombstone_ttl = ttl.max(Duration::from_secs(1));
        self
    }

    /// How often a watch asks etcd how far it has come, and so how often
    /// it sends [`JobEvent::Synced`]. At least 10 ms.
    pub fn with_progress_every(mut self, every: Duration) -> JobRegistry {
        self.progress_every = every.max(Duration::from_millis(10));
        self
    }

    /// Registers a new job, active from `from_epoch`. Refused with
    /// [`ClusterError::JobExists`] while a job of that name is registered
    /// and not deleted; a deleted one's tombstone is replaced (from an epoch
    /// no earlier than its deletion's, or [`ClusterError::EpochBackwards`]).
    pub async fn submit(
        &self,
        name: &str,
        module_sha256: &str,
        manifest: serde_json::Value,
        from_epoch: u64,
        by_node: &str,
    ) -> Result<ClusterJob, ClusterError> {
        check_job_name(name)?;
        ClusterError::check_sha(module_sha256)?;
        ClusterError::check_name("node id", by_node)?;
        let key = job_key(&self.cluster, name);
        let job = ClusterJob {
            name: name.to_owned(),
            module_sha256: module_sha256.to_owned(),
            manifest,
            changes: vec![JobChange {
                from_epoch,
                state: JobState::Active,
                reason: None,
                by_node: by_node.to_owned(),
            }],
        };
        let value = serde_json::to_vec(&job).expect("a job serialises");
        for _ in 0..CAS_ATTEMPTS {
            let condition = match self.read(&key).await? {
                None => Compare::create_revision(key.clone(), CompareOp::Equal, 0),
                Some((old, revision)) if old.is_deleted() => {
                    let last = old.last_change().map_or(0, |c| c.from_epoch);
                    if from_epoch < last {
                        return Err(ClusterError::EpochBackwards {
                            name: name.to_owned(),
                            from_epoch,
                            last,
                        });
                    }
                    Compare::mod_revision(key.clone(), CompareOp::Equal, revision)
                }
                Some(_) => {
                    return Err(ClusterError::JobExists {
                        name: name.to_owned(),
                    })
                }
            };
            // No lease: the new job is detached from the tombstone's.
            let txn = Txn::new().when([condition]).and_then([TxnOp::put(
                key.clone(),
                value.clone(),
                None,
            )]);
            if self.txn(txn, name).await? {
                tracing::info!(cluster = %self.cluster, job = name, from_epoch, by_node, "job submitted");
                return Ok(job);
            }
        }
        Err(ClusterError::Conflict {
            key,
            attempts: CAS_ATTEMPTS,
        })
    }

    /// Appends a change to a job: `state` from `from_epoch` on. Refused with
    /// [`ClusterError::JobNotFound`] if the job is absent or deleted, and
    /// with [`ClusterError::EpochBackwards`] if `from_epoch` is before its
    /// last change's. A deletion re-puts the key under a fresh lease of the
    /// tombstone TTL, so it vanishes by itself later.
    pub async fn change(
        &self,
        name: &str,
        state: JobState,
        from_epoch: u64,
        reason: Option<String>,
        by_node: &str,
    ) -> Result<ClusterJob, ClusterError> {
        check_job_name(name)?;
        ClusterError::check_name("node id", by_node)?;
        let key = job_key(&self.cluster, name);
        let not_found = || ClusterError::JobNotFound {
            name: name.to_owned(),
        };
        for _ in 0..CAS_ATTEMPTS {
            let (mut job, revision) = self.read(&key).await?.ok_or_else(not_found)?;
            if job.is_deleted() {
                return Err(not_found());
            }
            let last = job.last_change().map_or(0, |c| c.from_epoch);
            if from_epoch < last {
                return Err(ClusterError::EpochBackwards {
                    name: name.to_owned(),
                    from_epoch,
                    last,
                });
            }
            job.changes.push(JobChange {
                from_epoch,
                state,
                reason: reason.clone(),
                by_node: by_node.to_owned(),
            });
            let lease = match state {
                JobState::Deleted => Some(self.grant_tombstone_lease(name).await?),
                _ => None,
            };
            let options = lease.map(|l| PutOptions::new().with_lease(l));
            let value = serde_json::to_vec(&job).expect("a job serialises");
            let txn = Txn::new()
                .when([Compare::mod_revision(
                    key.clone(),
                    CompareOp::Equal,
                    revision,
                )])
                .and_then([TxnOp::put(key.clone(), value, options)]);
            if self.txn(txn, name).await? {
                tracing::info!(cluster = %self.cluster, job = name, ?state, from_epoch, by_node, "job changed");
                return Ok(job);
            }
            if let Some(lease) = lease {
                // Unused; it would expire anyway, holding nothing.
                let _ = self.client.clone().lease_revoke(lease).await;
            }
        }
        Err(ClusterError::Conflict {
            key,
            attempts: CAS_ATTEMPTS,
        })
    }

    /// The job of that name, deleted ones (tombstones) included; `None` if
    /// there is no key.
    pub async fn get(&self, name: &str) -> Result<Option<ClusterJob>, ClusterError> {
        check_job_name(name)?;
        Ok(self
            .read(&job_key(&self.cluster, name))
            .await?
            .map(|(job, _)| job))
    }

    /// Every job (tombstones included), by name, and the etcd revision the
    /// list is the state at: watch from the revision after it
    /// ([`JobRegistry::watch`]) to miss nothing. Keys that hold something
    /// else than a job's JSON are left out, with a warning in the log.
    pub async fn list(&self) -> Result<(Vec<ClusterJob>, i64), ClusterError> {
        let answer = self
            .client
            .clone()
            .get(
                jobs_prefix(&self.cluster),
                Some(GetOptions::new().with_prefix()),
            )
            .await
            .map_err(failed(format!(
                "list the jobs of cluster {:?}",
                self.cluster
            )))?;
        let revision = answer.header().map_or(0, |h| h.revision());
        Ok((decode_all(answer.kvs()), revision))
    }

    /// Watches the registry from a background task: the first event is a
    /// [`JobEvent::Resync`] with every job as of revision `from_revision - 1`
    /// (`from_revision <= 0`: as of now; compacted away: as of now too, and
    /// the event says which revision), then every change after it, in
    /// order, with [`JobEvent::Synced`] every `progress_every`. The task
    /// ends when the receiver is dropped. See [`JobEvent`] for what is
    /// guaranteed.
    pub fn watch(&self, from_revision: i64) -> mpsc::Receiver<JobEvent> {
        jobs_watch::spawn(self.clone(), from_revision)
    }

    /// The job under `key` and its mod revision.
    async fn read(&self, key: &str) -> Result<Option<(ClusterJob, i64)>, ClusterError> {
        let answer = self
            .client
            .clone()
            .get(key, None)
            .await
            .map_err(failed(format!("read {key}")))?;
        let Some(kv) = answer.kvs().first() else {
            return Ok(None);
        };
        let job = decode(kv).map_err(|reason| ClusterError::Corrupt {
            key: key.to_owned(),
            reason,
        })?;
        Ok(Some((job, kv.mod_revision())))
    }

    /// Runs a conditional write; whether its condition held.
    async fn txn(&self, txn: Txn, name: &str) -> Result<bool, ClusterError> {
        let done = self
            .client
            .clone()
            .txn(txn)
            .await
            .map_err(failed(format!("write job {name:?}")))?;
        Ok(done.succeeded())
    }

    async fn grant_tombstone_lease(&self, name: &str) -> Result<i64, ClusterError> {
        let ttl = self.tombstone_ttl.as_secs().max(1) as i64;
        let granted = self
            .client
            .clone()
            .lease_grant(ttl, None)
            .await
            .map_err(failed(format!("grant the tombstone lease of job {name:?}")))?;
        Ok(granted.id())
    }
}

fn check_job_name(name: &str) -> Result<(), ClusterError> {
    if valid_job_name(name) {
        return Ok(());
    }
    Err(ClusterError::BadName {
        what: "job name",
        name: name.to_owned(),
        rule: "1 to 64 of a-z, 0-9, '_' or '-', starting with a letter or a digit",
    })
}

/// A job from its key's value; the reason if it is not one.
pub(crate) fn decode(kv: &etcd_client::KeyValue) -> Result<ClusterJob, String> {
    let job: ClusterJob = serde_json::from_slice(kv.value()).map_err(|e| e.to_string())?;
    let key = String::from_utf8_lossy(kv.key());
    if !key.ends_with(&format!("/{}", job.name)) {
        return Err(format!("it names job {:?}", job.name));
    }
    Ok(job)
}

/// The jobs among `kvs`, leaving out (with a warning) what is not one.
pub(crate) fn decode_all(kvs: &[etcd_client::KeyValue]) -> Vec<ClusterJob> {
    kvs.iter()
        .filter_map(|kv| match decode(kv) {
            Ok(job) => Some(job),
            Err(reason) => {
                tracing::warn!(key = %String::from_utf8_lossy(kv.key()), %reason,
                    "a key among the jobs holds something epochd did not write: left out");
                None
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(from_epoch: u64, state: JobState) -> JobChange {
        JobChange {
            from_epoch,
            state,
            reason: None,
            by_node: "n1".into(),
        }
    }

    fn job(changes: Vec<JobChange>) -> ClusterJob {
        ClusterJob {
            name: "count".into(),
            module_sha256: "0".repeat(64),
            manifest: serde_json::json!({"name": "count"}),
            changes,
        }
    }

    #[test]
    fn the_state_at_an_epoch_is_the_last_change_from_before_it() {
        let j = job(vec![
            change(100, JobState::Active),
            change(150, JobState::Paused),
            change(150, JobState::Active),
            change(200, JobState::Deleted),
        ]);
        assert_eq!(j.state_at(99), None, "before the submission");
        assert_eq!(j.state_at(100), Some(JobState::Active));
        assert_eq!(j.state_at(149), Some(JobState::Active));
        // Two changes from one epoch: the later one wins.
        assert_eq!(j.state_at(150), Some(JobState::Active));
        assert_eq!(j.state_at(199), Some(JobState::Active));
        assert_eq!(j.state_at(200), Some(JobState::Deleted));
        assert_eq!(j.state_at(u64::MAX), Some(JobState::Deleted));
        assert!(j.is_deleted());
        assert!(!job(vec![change(1, JobState::Paused)]).is_deleted());
    }

    #[test]
    fn states_are_written_in_snake_case() {
        let text = serde_json::to_value(change(7, JobState::Paused)).unwrap();
        assert_eq!(
            text,
            serde_json::json!({"from_epoch": 7, "state": "paused", "by_node": "n1"})
        );
        let back: JobChange = serde_json::from_value(serde_json::json!(
            {"from_epoch": 7, "state": "deleted", "reason": "gone", "by_node": "n2"}
        ))
        .unwrap();
        assert_eq!(back.state, JobState::Deleted);
        assert_eq!(back.reason.as_deref(), Some("gone"));
    }
}
