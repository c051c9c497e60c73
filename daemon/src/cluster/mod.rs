//! Cluster mode's jobs on this node (docs/CLUSTER.md, "Jobs in a
//! cluster"): submissions, pauses, resumes and deletions go to the
//! cluster's job registry in etcd, each taking effect from an epoch a
//! little ahead (`--cluster-job-lead-secs`), and one task applies the
//! registry to this node's jobs, fetching modules from the nodes that
//! hold them. A node alone never builds this.
//!
//! Why from an epoch ahead: every node hears of a change at its own time,
//! yet each processes epochs on its own; a change dated a few seconds
//! ahead reaches every node before its epochs are processed, and one heard
//! late is still applied to exactly the epochs it says (the fan-out asks
//! each job's cluster state at the commit's epoch; epochs already processed
//! are run again by the backfill machinery).

mod apply;
mod fetch;
mod modules;
mod ops;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use epochd_cluster::{ClusterError, JobRegistry, MembershipConfig, ModuleHolders};

pub use modules::ModuleStore;

use crate::pipeline::Daemon;
use crate::registry::{write_durably, RegistryError};

/// Why a cluster job operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterJobsError {
    /// The local registry refused (the same checks as a node alone).
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// etcd, or the cluster's registry, refused or did not answer.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// A file of the node's cluster state could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// No live holder gave the module.
    #[error("module {sha} could not be fetched: {reason}")]
    Fetch {
        /// The module's hash.
        sha: String,
        /// What each holder answered, or that there is none.
        reason: String,
    },
}

impl ClusterJobsError {
    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ClusterJobsError + '_ {
        move |source| ClusterJobsError::Io {
            path: path.to_owned(),
            source,
        }
    }
}

/// How this node takes part in the cluster's job registry.
#[derive(Debug, Clone)]
pub struct ClusterJobsConfig {
    /// etcd, the cluster and this node (as it joined).
    pub membership: MembershipConfig,
    /// How far ahead of now a change takes effect, seconds.
    pub lead_secs: u64,
    /// The token this node presents to fetch a module from another node
    /// (the nodes of a cluster share their read token); `None` without
    /// tokens.
    pub token: Option<String>,
}

/// The header a node sends with its requests to other nodes (its gateway
/// reading parts streams, a module fetch): its id. The node asked counts
/// what it serves as sent to a node, not to a client
/// (`epochd_http_response_bytes_total{peer}`).
pub const NODE_HEADER: &str = "x-epochd-node";

/// An HTTP client builder whose requests name this node in [`NODE_HEADER`].
pub fn node_client(node_id: &str) -> reqwest::ClientBuilder {
    let mut headers = reqwest::header::HeaderMap::new();
    // An id that is not a valid header value goes unnamed: its traffic
    // counts as a client's, and nothing else depends on it.
    if let Ok(value) = reqwest::header::HeaderValue::from_str(node_id) {
        headers.insert(NODE_HEADER, value);
    }
    reqwest::Client::builder().default_headers(headers)
}

/// The file, in the cluster folder, of the last applied revision.
const REVISION_FILE: &str = "jobs-revision.json";

/// This node's side of the cluster's job registry.
pub struct ClusterJobs {
    daemon: Arc<Daemon>,
    registry: JobRegistry,
    holders: ModuleHolders,
    modules: ModuleStore,
    cluster: String,
    node_id: String,
    lead_secs: u64,
    token: Option<String>,
    http: reqwest::Client,
    /// Bytes of modules fetched from other nodes.
    bytes_fetched: std::sync::atomic::AtomicU64,
    /// The folder of this node's cluster state: the modules, and the
    /// revision of the last applied change ([`REVISION_FILE`]).
    dir: PathBuf,
}

impl ClusterJobs {
    /// Connects to etcd and starts the task that applies the cluster's job
    /// registry to this node's jobs (it runs until the handle is aborted).
    pub async fn start(
        daemon: Arc<Daemon>,
        config: ClusterJobsConfig,
    ) -> Result<(Arc<ClusterJobs>, tokio::task::JoinHandle<()>), ClusterJobsError> {
        let ClusterJobsConfig {
            membership,
            lead_secs,
            token,
        } = config;
        let client = epochd_cluster::connect(&membership.endpoints).await?;
        let cluster = membership.cluster.clone();
        let dir = daemon.config().data_dir.join("cluster");
        let jobs = Arc::new(ClusterJobs {
            registry: JobRegistry::new(client.clone(), &cluster)?,
            holders: ModuleHolders::new(client, &cluster)?,
            modules: ModuleStore::open(dir.join("modules"))?,
            dir,
            daemon,
            cluster,
            node_id: membership.node.node_id.clone(),
            lead_secs,
            token,
            bytes_fetched: Default::default(),
            http: node_client(&membership.node.node_id)
                .timeout(std::time::Duration::from_secs(30))
                .build()
                .map_err(|e| ClusterJobsError::Fetch {
                    sha: String::new(),
                    reason: format!("no HTTP client: {e}"),
                })?,
        });
        let task = tokio::spawn(jobs.clone().apply_forever());
        Ok((jobs, task))
    }

    /// The modules this node holds.
    pub fn modules(&self) -> &ModuleStore {
        &self.modules
    }

    /// Bytes of modules this node fetched from other nodes so far.
    pub fn bytes_fetched(&self) -> u64 {
        self.bytes_fetched
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// This node's id in the cluster.
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// Whether the job `name` follows the cluster's registry here: it is
    /// one of the cluster's, or not registered on this node at all. A job
    /// of this node alone (from `--jobs-dir`, or submitted before the node
    /// joined) stays local, as on a node alone.
    pub fn manages(&self, name: &str) -> bool {
        self.daemon
            .registry()
            .get(name)
            .is_none_or(|job| job.is_cluster_job())
    }

    /// The epoch a change made now takes effect from.
    fn effective_epoch(&self) -> u64 {
        crate::clock::now_secs() + self.lead_secs
    }

    /// The revision after which the registry's changes are not applied
    /// yet (0: none applied), as kept in the data directory for this
    /// cluster.
    fn saved_revision(&self) -> i64 {
        let Ok(text) = std::fs::read_to_string(self.dir.join(REVISION_FILE)) else {
            return 0;
        };
        let saved: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        if saved["cluster"] != self.cluster.as_str() {
            return 0;
        }
        saved["revision"].as_i64().unwrap_or(0)
    }

    /// Keeps `revision` as the last applied one ([`write_durably`]: a crash
    /// leaves the old one, which only means applying again what is already
    /// applied).
    fn save_revision(&self, revision: i64) -> Result<(), ClusterJobsError> {
        let text = serde_json::json!({"cluster": self.cluster, "revision": revision}).to_string();
        write_durably(&self.dir, REVISION_FILE, text.as_bytes())
            .map_err(ClusterJobsError::io(&self.dir.join(REVISION_FILE)))
    }
}
