//! What the jobs API does in cluster mode: the same checks as a node
//! alone, then the change written to the cluster's registry from an epoch
//! ahead, and applied here at once (the other nodes apply it from their
//! watch).

use std::sync::Arc;

use epochd_cluster::{sha256_hex, ClusterError, ClusterJob, JobState};

use super::{ClusterJobs, ClusterJobsError};
use crate::registry::{Job, JobManifest, RegistryError};

impl ClusterJobs {
    /// Submits a job to the cluster: checked and compiled here exactly as
    /// on a node alone (a refusal changes nothing), its module kept by its
    /// SHA-256 and this node announced as a holder, then registered in etcd
    /// active from now + the lead, and registered here.
    pub async fn submit(
        &self,
        manifest: JobManifest,
        wasm: Vec<u8>,
    ) -> Result<Arc<Job>, ClusterJobsError> {
        if manifest.backfill.is_some() {
            // Every node runs a cluster job from one epoch on; a backfill
            // over each node's past epochs is not part of that contract yet.
            return Err(RegistryError::Manifest(
                "backfill is not available in cluster mode yet: a cluster job runs from its \
                 from_epoch on, on every node; submit it without `backfill`"
                    .into(),
            )
            .into());
        }
        let registry = self.daemon.registry().clone();
        let (job, wasm) = tokio::task::spawn_blocking(move || {
            registry.prepare(manifest, &wasm).map(|job| (job, wasm))
        })
        .await
        .expect("a submission's checks do not panic")?;
        let name = job.manifest.name.clone();
        let sha = sha256_hex(&wasm);
        let modules = self.modules.clone();
        let kept = wasm.clone();
        let stored_sha = sha.clone();
        tokio::task::spawn_blocking(move || modules.put(&stored_sha, &kept))
            .await
            .expect("storing a module does not panic")?;
        self.holders.announce(&sha, &self.node_id).await?;
        let manifest =
            serde_json::to_value(&job.manifest).expect("a job manifest serialises to JSON");
        let cluster_job = self
            .registry
            .submit(&name, &sha, manifest, self.effective_epoch(), &self.node_id)
            .await
            .map_err(|e| match e {
                // The same answer as a node alone gives for a name in use.
                ClusterError::JobExists { name } => RegistryError::Exists(name).into(),
                other => ClusterJobsError::from(other),
            })?;
        job.with_cluster(cluster_job);
        let registry = self.daemon.registry().clone();
        let installed = tokio::task::spawn_blocking(move || registry.install(job, &wasm))
            .await
            .expect("registering a job does not panic");
        match installed {
            Ok(job) => Ok(job),
            // The watch was quicker and registered it already.
            Err(RegistryError::Exists(_)) => self
                .daemon
                .registry()
                .get(&name)
                .ok_or_else(|| RegistryError::NotFound(name).into()),
            Err(e) => Err(e.into()),
        }
    }

    /// Changes a cluster job's state from now + the lead: `Paused`,
    /// `Active` (resume) or `Deleted`. A pause of a paused job or a resume
    /// of an active one writes nothing; a resume also clears a local
    /// pause (a job paused here for failing). Returns the job as the
    /// cluster has it, and this node's job if it has it.
    pub async fn change(
        &self,
        name: &str,
        state: JobState,
        reason: Option<String>,
    ) -> Result<(ClusterJob, Option<Arc<Job>>), ClusterJobsError> {
        let not_found = || ClusterJobsError::from(RegistryError::NotFound(name.to_owned()));
        let current = match self.registry.get(name).await {
            Ok(Some(job)) if !job.is_deleted() => job,
            Ok(_) | Err(ClusterError::BadName { .. }) => return Err(not_found()),
            Err(e) => return Err(e.into()),
        };
        let last = current.last_change().map_or(0, |c| c.from_epoch);
        let unchanged = current.last_change().is_some_and(|c| c.state == state);
        let cluster_job = if unchanged {
            current
        } else {
            let from_epoch = self.effective_epoch().max(last);
            match self
                .registry
                .change(name, state, from_epoch, reason, &self.node_id)
                .await
            {
                Ok(job) => job,
                Err(ClusterError::JobNotFound { .. }) => return Err(not_found()),
                Err(e) => return Err(e.into()),
            }
        };
        let local = self.daemon.registry().get(name);
        if let Some(job) = local.as_ref().filter(|j| j.is_cluster_job()) {
            let registry = self.daemon.registry().clone();
            let (job, cj) = (job.clone(), cluster_job.clone());
            tokio::task::spawn_blocking(move || {
                registry.set_cluster(&job, cj)?;
                if state == JobState::Active {
                    registry.resume(&job.manifest.name)?;
                }
                Ok::<_, RegistryError>(())
            })
            .await
            .expect("updating a job does not panic")?;
        }
        Ok((cluster_job, local))
    }
}
