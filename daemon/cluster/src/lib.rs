//! Cluster mode's control plane on etcd: which nodes are in the cluster.
//!
//! Many epochd nodes form a cluster through an existing etcd (its v3 API),
//! not through a protocol of ours. This crate holds what a node does there;
//! docs/CLUSTER.md is the contract. So far: membership. A node registers
//! under `/epochd/<cluster>/nodes/<node-id>` a key bound to a lease of its
//! own, and keeps the lease alive from a background task; when the
//! keep-alive stream breaks (etcd restarted, a network fault) or the lease
//! is gone, it grants a new lease and registers again, retrying with
//! backoff until etcd answers. A node that stops renewing (killed, cut off)
//! drops out when its lease expires. Expiry is only a lower bound on
//! noticing a failure (etcd extends every lease when its leader changes):
//! whoever waits on a node keeps its own deadline too.

mod keys;
mod membership;

pub use keys::{node_key, nodes_prefix};
pub use membership::{Membership, MembershipConfig, MembershipStatus, NodeInfo};

/// What went wrong talking to etcd, or in what it holds.
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
}
