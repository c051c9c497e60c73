//! The one task that applies the cluster's job registry to this node's
//! jobs: it watches the registry from the revision after the last one it
//! applied (kept in the data directory, so a restart resumes), and brings
//! each job here to what the cluster says: registered (its module fetched
//! from a holder), its history of states (which epochs it runs for), or
//! removed once deleted.
//!
//! A job that cannot be applied now (no holder answers, etcd away) is kept
//! and tried again with backoff, without holding back the others; the
//! revision is saved only once everything up to it is applied, so nothing
//! is skipped across a restart (the watch's first event lists every job
//! anyway).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use epochd_cluster::{ClusterJob, JobEvent, JobState};

use super::{ClusterJobs, ClusterJobsError};
use crate::registry::{Job, JobManifest, RegistryError};

/// The first wait before applying a job again; doubles up to [`MAX_RETRY`].
const FIRST_RETRY: Duration = Duration::from_millis(250);
/// The longest wait between tries.
const MAX_RETRY: Duration = Duration::from_secs(10);

/// How long after a deletion's epoch the job is removed from this node:
/// commits of the epochs before it may still come (the store seals an
/// epoch after its grace, a commit may be retried), and they still run it.
pub(super) const REMOVE_AFTER_SECS: u64 = 10;

/// Why a job was not applied.
enum NotApplied {
    /// It may pass (etcd, a holder away): try again.
    Retry(ClusterJobsError),
    /// It will not pass on this node (its manifest asks more than this
    /// node allows, a job of this node alone has its name): said once.
    Refused(String),
}

impl From<ClusterJobsError> for NotApplied {
    fn from(e: ClusterJobsError) -> NotApplied {
        NotApplied::Retry(e)
    }
}

impl From<RegistryError> for NotApplied {
    fn from(e: RegistryError) -> NotApplied {
        NotApplied::Retry(e.into())
    }
}

impl ClusterJobs {
    /// Watches the registry and applies it, until aborted.
    pub(super) async fn apply_forever(self: Arc<Self>) {
        let saved = self.saved_revision();
        let mut events = self.registry.watch(if saved > 0 { saved + 1 } else { 0 });
        let mut pending: BTreeMap<String, ClusterJob> = BTreeMap::new();
        let mut revision = None;
        let mut retry = FIRST_RETRY;
        loop {
            // Jobs not applied yet are tried again after `retry`, news or
            // not (`Some(None)`).
            let event = if pending.is_empty() {
                events.recv().await.map(Some)
            } else {
                tokio::select! {
                    event = events.recv() => event.map(Some),
                    () = tokio::time::sleep(retry) => {
                        retry = (retry * 2).min(MAX_RETRY);
                        Some(None)
                    }
                }
            };
            let Some(event) = event else {
                tracing::error!(
                    "the cluster's job registry watch ended: jobs are no longer applied"
                );
                return;
            };
            match event {
                Some(JobEvent::Resync { jobs, revision: r }) => {
                    // The whole set: what is not in it is gone.
                    pending = jobs.into_iter().map(|j| (j.name.clone(), j)).collect();
                    for job in self.daemon.registry().list() {
                        if job.is_cluster_job() && !pending.contains_key(&job.manifest.name) {
                            self.remove(&job).await;
                        }
                    }
                    revision = Some(r);
                    retry = FIRST_RETRY;
                }
                Some(JobEvent::Put { job, revision: r }) => {
                    pending.insert(job.name.clone(), job);
                    revision = Some(r);
                    retry = FIRST_RETRY;
                }
                Some(JobEvent::Removed { name, revision: r }) => {
                    pending.remove(&name);
                    if let Some(job) = self.daemon.registry().get(&name) {
                        if job.is_cluster_job() {
                            self.remove(&job).await;
                        }
                    }
                    revision = Some(r);
                }
                Some(JobEvent::Synced { .. }) | None => {}
            }
            let names: Vec<String> = pending.keys().cloned().collect();
            for name in names {
                let job = pending[&name].clone();
                match self.apply(&job).await {
                    Ok(()) => {
                        pending.remove(&name);
                    }
                    Err(NotApplied::Refused(why)) => {
                        tracing::warn!(job = %name, %why, "a cluster job is not applied on this node");
                        pending.remove(&name);
                    }
                    Err(NotApplied::Retry(e)) => {
                        tracing::warn!(job = %name, module = %job.module_sha256, error = %e,
                            retry_in_ms = retry.as_millis() as u64,
                            "a cluster job is not applied on this node yet: trying again");
                    }
                }
            }
            if pending.is_empty() {
                if let Some(r) = revision.take() {
                    if let Err(e) = self.save_revision(r) {
                        tracing::warn!(error = %e, "could not keep the revision of the cluster's jobs applied: a restart applies them again");
                    }
                }
            }
        }
    }

    /// Brings this node's job to what the cluster says of it.
    async fn apply(self: &Arc<Self>, wanted: &ClusterJob) -> Result<(), NotApplied> {
        let registry = self.daemon.registry().clone();
        let local = registry.get(&wanted.name);
        if local.as_ref().is_some_and(|j| !j.is_cluster_job()) {
            return Err(NotApplied::Refused(format!(
                "this node has a job of its own named {:?}: delete it here for the cluster's to run",
                wanted.name
            )));
        }
        if wanted.is_deleted() {
            if let Some(job) = local {
                self.set_cluster(&job, wanted).await?;
                self.remove_after_deletion(job, wanted);
            }
            return Ok(());
        }
        if let Some(job) = local {
            let old = job.cluster();
            if old.as_ref().map(|c| &c.module_sha256) == Some(&wanted.module_sha256) {
                if old.as_ref() != Some(wanted) {
                    self.set_cluster(&job, wanted).await?;
                    self.catch_up(job, old.as_ref(), wanted);
                }
                return Ok(());
            }
            // Deleted and submitted again with another module while this
            // node did not hear: the old one goes.
            self.remove(&job).await;
        }
        let wasm = self.module(&wanted.module_sha256).await?;
        let manifest: JobManifest = serde_json::from_value(wanted.manifest.clone())
            .map_err(|e| NotApplied::Refused(format!("its manifest is not one: {e}")))?;
        let (cluster_job, registry2) = (wanted.clone(), registry.clone());
        let installed = tokio::task::spawn_blocking(move || {
            let job = registry2.prepare(manifest, &wasm)?;
            job.with_cluster(cluster_job);
            registry2.install(job, &wasm)
        })
        .await
        .expect("registering a job does not panic");
        let job = match installed {
            Ok(job) => job,
            // Registered meanwhile (this node's own submission): next round
            // compares its states.
            Err(e @ RegistryError::Exists(_)) => return Err(e.into()),
            Err(e) => return Err(NotApplied::Refused(e.to_string())),
        };
        tracing::info!(job = %wanted.name, module = %wanted.module_sha256,
            from_epoch = wanted.changes.first().map_or(0, |c| c.from_epoch),
            "cluster job registered on this node");
        self.catch_up(job, None, wanted);
        Ok(())
    }

    async fn set_cluster(&self, job: &Arc<Job>, wanted: &ClusterJob) -> Result<(), NotApplied> {
        let (registry, job, wanted) = (self.daemon.registry().clone(), job.clone(), wanted.clone());
        tokio::task::spawn_blocking(move || registry.set_cluster(&job, wanted))
            .await
            .expect("updating a job does not panic")?;
        Ok(())
    }

    /// Runs the job on the commits this node processed before it heard
    /// that the job runs for their epochs: from the earliest change to
    /// `active` it did not know, if that epoch is already here.
    fn catch_up(&self, job: Arc<Job>, old: Option<&ClusterJob>, new: &ClusterJob) {
        let Some(from) = new
            .changes
            .iter()
            .filter(|c| c.state == JobState::Active)
            .filter(|c| old.is_none_or(|o| !o.changes.contains(c)))
            .map(|c| c.from_epoch)
            .min()
        else {
            return;
        };
        let to = crate::clock::now_secs().max(self.daemon.newest_epoch());
        if from > to {
            return;
        }
        tracing::info!(job = %new.name, from, to, "cluster job heard late: running it over the epochs already processed");
        self.daemon.start_backfill_over(job, from, to);
    }

    /// Removes the job once this node is past its deletion's epoch (see
    /// [`REMOVE_AFTER_SECS`]); its results stay until their retention.
    fn remove_after_deletion(self: &Arc<Self>, job: Arc<Job>, wanted: &ClusterJob) {
        let from = wanted.last_change().map_or(0, |c| c.from_epoch);
        let me = self.clone();
        tokio::spawn(async move {
            let at = from + REMOVE_AFTER_SECS;
            loop {
                let now = crate::clock::now_secs();
                if now >= at {
                    break;
                }
                tokio::time::sleep(Duration::from_secs(at - now)).await;
            }
            let current = me.daemon.registry().get(&job.manifest.name);
            if current.is_some_and(|c| Arc::ptr_eq(&c, &job))
                && job.cluster().is_some_and(|c| c.is_deleted())
            {
                me.remove(&job).await;
            }
        });
    }

    /// Removes a cluster job from this node.
    async fn remove(&self, job: &Arc<Job>) {
        let registry = self.daemon.registry().clone();
        let name = job.manifest.name.clone();
        let removed = tokio::task::spawn_blocking(move || registry.remove(&name))
            .await
            .expect("removing a job does not panic");
        match removed {
            Ok(()) | Err(RegistryError::NotFound(_)) => {
                tracing::info!(job = %job.manifest.name, "cluster job deleted: removed from this node");
            }
            Err(e) => {
                tracing::warn!(job = %job.manifest.name, error = %e, "could not remove a deleted cluster job")
            }
        }
    }
}
