//! Cluster mode's control plane on etcd: which nodes are in the cluster,
//! which jobs run from which epoch, who holds which job module, and which
//! node stores which data.
//!
//! Many epochd nodes form a cluster through an existing etcd (its v3 API),
//! not through a protocol of ours. This crate holds what a node (or a
//! relocator) does there; docs/CLUSTER.md is the contract, and every key is
//! built in one module, `keys.rs`, whose functions are re-exported here
//! ([`job_key`], [`placement_key`], ...).
//!
//! - **Membership** ([`Membership`]): a node registers under
//!   `/epochd/<cluster>/nodes/<node-id>` a key bound to a lease of its own,
//!   and keeps the lease alive from a background task; when the keep-alive
//!   stream breaks (etcd restarted, a network fault) or the lease is gone,
//!   it grants a new lease and registers again, retrying with backoff until
//!   etcd answers. A node that stops renewing (killed, cut off) drops out
//!   when its lease expires. Expiry is only a lower bound on noticing a
//!   failure (etcd extends every lease when its leader changes): whoever
//!   waits on a node keeps its own deadline too.
//! - **Job registry** ([`JobRegistry`]): one key per job, holding its
//!   module's hash, its manifest and its history of state changes, each
//!   taking effect from an epoch, so every node agrees which epochs a job
//!   runs for however late it hears of a change. A watch delivers changes
//!   in order, resumes after any break, falls back to a full listing when
//!   etcd compacted the history it needed, and says how fresh it is.
//! - **Module holders** ([`ModuleHolders`]): module bytes never go into
//!   etcd (its request size limit); a node stores a module by content hash
//!   and announces that it holds it, and others fetch it from a holder.
//! - **Placement** ([`PlacementTable`], [`Placement`], [`Relocator`]): the
//!   chunks of an epoch are spread over the nodes by a fixed hash of each
//!   chunk's key into [`RANGES`] ranges and a versioned table of range
//!   owners, each version taking effect from an epoch, so adding or
//!   removing a node never moves stored data.

mod etcd;
mod jobs;
mod jobs_watch;
mod keys;
mod membership;
mod modules;
mod placement;
mod placement_etcd;
mod relocator;
mod relocator_send;

pub use etcd::connect;
pub use jobs::{ClusterJob, JobChange, JobRegistry, JobState};
pub use jobs_watch::JobEvent;
pub use keys::{
    job_key, jobs_prefix, module_holder_key, module_prefix, modules_prefix, node_key, nodes_prefix,
    placement_key, valid_job_name, valid_name, valid_sha256,
};
pub use membership::{live_members, Membership, MembershipConfig, MembershipStatus, NodeInfo};
pub use modules::{check_module, sha256_hex, ModuleHolders};
pub use placement::{range_of, rebalance, Assignment, PlacementTable, RANGES};
pub use placement_etcd::Placement;
pub use relocator::{NodeCommit, PlacedChunk, PlacementReport, RelocatedChunk, Relocator};

/// What went wrong talking to etcd, in what it holds, or in a request to
/// this crate. Each message says what was wrong and what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// etcd did not answer, or refused the request.
    #[error("etcd at {endpoints}: {source}")]
    Etcd {
        /// The endpoints tried.
        endpoints: String,
        /// The client's error.
        source: etcd_client::Error,
    },
    /// A request to etcd failed (etcd down, unreachable, or refusing).
    #[error(
        "etcd did not answer or refused the request to {what}: {source}; check that etcd is \
         running and reachable, then try again"
    )]
    EtcdRequest {
        /// What the request was for.
        what: String,
        /// The client's error.
        source: etcd_client::Error,
    },
    /// Another live node already holds this node id.
    #[error(
        "node id {node_id:?} is already registered in cluster {cluster:?} by a running node \
         (at {url}): give each node its own --node-id"
    )]
    NodeIdInUse {
        /// The cluster.
        cluster: String,
        /// The id asked for.
        node_id: String,
        /// The URL the other node registered.
        url: String,
    },
    /// A value under the cluster's keys is not what epochd writes there.
    #[error("{key} holds something epochd did not write: {reason}")]
    Corrupt {
        /// The key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// A name that cannot be part of a key.
    #[error("the {what} {name:?} is not valid: {rule}")]
    BadName {
        /// What the name is of (`cluster name`, `node id`, `job name`).
        what: &'static str,
        /// The name given.
        name: String,
        /// The rule it breaks.
        rule: &'static str,
    },
    /// A module hash that is not 64 lowercase hex digits.
    #[error(
        "{sha:?} is not a module hash: give the SHA-256 of the module's bytes as 64 lowercase \
         hex digits"
    )]
    BadModuleHash {
        /// What was given.
        sha: String,
    },
    /// Module bytes whose hash is not the one they were fetched or stored by.
    #[error(
        "the module's bytes hash to {actual}, not to {expected}: they are damaged or another \
         module; fetch them again from another holder"
    )]
    ModuleHashMismatch {
        /// The hash asked for.
        expected: String,
        /// The hash of the bytes.
        actual: String,
    },
    /// A job of that name is registered and not deleted.
    #[error(
        "a job named {name:?} is registered in the cluster: delete it first, or pick another name"
    )]
    JobExists {
        /// The job's name.
        name: String,
    },
    /// No job of that name is registered (or it is deleted).
    #[error("no job named {name:?} is registered in the cluster (never submitted, or deleted)")]
    JobNotFound {
        /// The job's name.
        name: String,
    },
    /// A job change from an epoch before the job's last change.
    #[error(
        "job {name:?}: a change cannot take effect from epoch {from_epoch}, before its last \
         change (from epoch {last}): nodes may have run epochs since then by that change; give \
         an epoch >= {last}"
    )]
    EpochBackwards {
        /// The job's name.
        name: String,
        /// The epoch asked for.
        from_epoch: u64,
        /// The epoch its last change took effect from.
        last: u64,
    },
    /// A read-modify-write kept losing to other writers.
    #[error(
        "{key} changed under {attempts} attempts in a row to update it (other writers at the \
         same time): try again"
    )]
    Conflict {
        /// The key.
        key: String,
        /// How many times it was tried.
        attempts: u32,
    },
    /// A compare-and-swap with a revision that is no longer the key's.
    #[error(
        "{key} is at revision {actual}, not {expected}: someone else changed it; load it again \
         and decide anew"
    )]
    Stale {
        /// The key.
        key: String,
        /// The revision the caller based its change on.
        expected: i64,
        /// The key's revision now (0: absent).
        actual: i64,
    },
    /// A placement needs at least one node.
    #[error("a placement needs at least one node: list the node ids that are to own ranges")]
    NoNodes,
    /// A new placement version that would not start after the newest one.
    #[error(
        "a new placement must take effect after the newest one (from epoch {newest}), not from \
         epoch {from_epoch}: data of epochs already placed never moves; give an epoch > {newest}, \
         ahead of what relocators send now"
    )]
    PlacementNotAfter {
        /// The epoch asked for.
        from_epoch: u64,
        /// The newest version's epoch.
        newest: u64,
    },
    /// No placement version covers an epoch.
    #[error(
        "no placement covers epoch {epoch} in cluster {cluster:?}: propose one taking effect \
         from an epoch <= {epoch}"
    )]
    NoPlacement {
        /// The cluster.
        cluster: String,
        /// The epoch.
        epoch: u64,
    },
    /// The owner of a range is not a live member: its chunks have nowhere to go.
    #[error(
        "node {node:?}, owner of range {range}, is not a live member of the cluster: start it \
         again, or propose a placement without it; nothing was sent"
    )]
    OwnerNotLive {
        /// The owner.
        node: String,
        /// The range.
        range: u32,
    },
    /// A chunk handed to the relocator that cannot be sent as it is.
    #[error("chunk {chunk}: {reason}; nothing was sent")]
    BadChunk {
        /// The chunk's key (`epoch/dc/type/subtype/chunk`).
        chunk: String,
        /// What is wrong.
        reason: String,
    },
    /// Part of a relocation did not commit; the rest did.
    #[error(
        "epoch {epoch} dc {dc} seq {seq} is committed on [{}] but not on: {}; place it again \
         (chunks and manifests already stored are accepted again as they are)",
        .committed.join(", "),
        .failed.join("; ")
    )]
    RelocationIncomplete {
        /// The epoch.
        epoch: u64,
        /// The data center.
        dc: String,
        /// The commit's sequence number.
        seq: u32,
        /// The nodes whose manifest committed.
        committed: Vec<String>,
        /// What failed, one line per node (`node: what`).
        failed: Vec<String>,
    },
}

impl ClusterError {
    /// A [`ClusterError::BadName`] for a cluster name or node id.
    pub(crate) fn check_name(what: &'static str, name: &str) -> Result<(), ClusterError> {
        if valid_name(name) {
            return Ok(());
        }
        Err(ClusterError::BadName {
            what,
            name: name.to_owned(),
            rule: "1 to 64 letters, digits, '-', '_' or '.'",
        })
    }

    /// A [`ClusterError::BadModuleHash`] unless `sha` is one.
    pub(crate) fn check_sha(sha: &str) -> Result<(), ClusterError> {
        if valid_sha256(sha) {
            return Ok(());
        }
        Err(ClusterError::BadModuleHash {
            sha: sha.to_owned(),
        })
    }
}
