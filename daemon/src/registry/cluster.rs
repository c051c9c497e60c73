//! A job's cluster state on this node (cluster mode, docs/CLUSTER.md,
//! "Jobs in a cluster"): the job as the cluster's registry has it, with
//! every change of its state from an epoch, so that the fan-out runs it on
//! exactly the epochs the cluster says, however late this node heard of a
//! change. A local pause (a job failing too often, or falling behind) is
//! apart from it and stays this node's own.

use epochd_cluster::{ClusterJob, JobState};

use super::{Job, Registry, RegistryError};

/// The stored form of a job's cluster state: its JSON (the registry's own
/// form, so that what etcd holds and what the node keeps read alike).
pub(super) fn encode(job: Option<&ClusterJob>) -> Option<String> {
    job.map(|j| serde_json::to_string(j).expect("a cluster job serialises"))
}

/// A stored cluster state back.
pub(super) fn decode(text: Option<&str>) -> Result<Option<ClusterJob>, RegistryError> {
    text.map(|t| {
        serde_json::from_str(t)
            .map_err(|e| RegistryError::Corrupt(format!("a job's cluster state: {e}")))
    })
    .transpose()
}

impl Job {
    /// The job as the cluster has it; `None` for a job of this node alone.
    pub fn cluster(&self) -> Option<ClusterJob> {
        self.cluster.read().clone()
    }

    /// Whether the job came from the cluster's registry (and so follows it).
    pub fn is_cluster_job(&self) -> bool {
        self.cluster.read().is_some()
    }

    /// Sets the job's cluster state before it is registered
    /// ([`Registry::install`] stores it).
    pub fn with_cluster(&self, job: ClusterJob) {
        *self.cluster.write() = Some(job);
    }

    /// Whether the cluster lets the job run on epoch `epoch`: its state
    /// there is active (always, for a job of this node alone).
    pub fn cluster_allows(&self, epoch: u64) -> bool {
        match &*self.cluster.read() {
            None => true,
            Some(job) => job.state_at(epoch) == Some(JobState::Active),
        }
    }

    /// Whether a run of the job on a commit of `epoch` is due: it is not
    /// paused here and the cluster lets it run then.
    pub fn runs_at(&self, epoch: u64) -> bool {
        self.paused().is_none() && self.cluster_allows(epoch)
    }
}

impl Registry {
    /// Replaces a registered job's cluster state, durably.
    pub fn set_cluster(&self, job: &Job, cluster: ClusterJob) -> Result<(), RegistryError> {
        *job.cluster.write() = Some(cluster);
        self.persist_pause(job)?;
        self.tree.flush()?;
        Ok(())
    }
}
