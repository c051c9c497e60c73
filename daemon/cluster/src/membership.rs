//! A node's registration in the cluster, kept alive by one task.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use etcd_client::{Client, Compare, CompareOp, GetOptions, PutOptions, Txn, TxnOp};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::etcd::{FIRST_BACKOFF, MAX_BACKOFF};
use crate::keys::{node_key, nodes_prefix, valid_name};
use crate::ClusterError;

/// What a node registers: who it is and where its API answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// Its id in the cluster (`--node-id`).
    pub node_id: String,
    /// Its HTTP API.
    pub url: String,
    /// A random number drawn when the process started: tells this process
    /// from another one started with the same id.
    pub instance: u64,
}

/// How a node joins.
#[derive(Debug, Clone)]
pub struct MembershipConfig {
    /// etcd's client URLs.
    pub endpoints: Vec<String>,
    /// The cluster's name: its keys live under `/epochd/<cluster>/`.
    pub cluster: String,
    /// This node.
    pub node: NodeInfo,
    /// The lease's time to live. Default 10 s.
    pub ttl: Duration,
}

impl MembershipConfig {
    /// A config with the default lease; refuses names that cannot be keys.
    pub fn new(
        endpoints: Vec<String>,
        cluster: &str,
        node_id: &str,
        url: &str,
    ) -> Result<MembershipConfig, String> {
        for (what, name) in [("cluster name", cluster), ("node id", node_id)] {
            if !valid_name(name) {
                return Err(format!(
                    "the {what} {name:?} must be 1 to 64 letters, digits, '-', '_' or '.'"
                ));
            }
        }
        if endpoints.is_empty() {
            return Err("no etcd endpoint given: pass --cluster http://HOST:2379[,...]".into());
        }
        Ok(MembershipConfig {
            endpoints,
            cluster: cluster.to_owned(),
            node: NodeInfo {
                node_id: node_id.to_owned(),
                url: url.to_owned(),
                instance: instance_number(),
            },
            ttl: Duration::from_secs(10),
        })
    }

    fn key(&self) -> String {
        node_key(&self.cluster, &self.node.node_id)
    }
}

/// A random number: tells two processes started with one id apart.
fn instance_number() -> u64 {
    getrandom::u64().unwrap_or_else(|_| u64::from(std::process::id()))
}

/// Where the registration stands.
#[derive(Debug, Default)]
struct Shared {
    registered: AtomicBool,
    lease: AtomicI64,
    registrations: AtomicU64,
}

/// A snapshot of [`Membership`]'s state, for status pages and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MembershipStatus {
    /// Whether the node's key is in etcd under a live lease, as last seen.
    pub registered: bool,
    /// The lease it is under (0 before the first registration).
    pub lease: i64,
    /// Registrations so far: 1 after joining, one more each time the lease
    /// had to be granted again (etcd restarted, a network fault).
    pub registrations: u64,
}

/// This node's membership: registered while it lives, revoked by
/// [`Membership::leave`]; dropped without leaving (a crash), it lapses
/// when its lease expires.
pub struct Membership {
    config: MembershipConfig,
    client: Client,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Membership {
    /// Connects to etcd, registers the node, and keeps it registered in the
    /// background. Fails if etcd does not answer now, or if another running
    /// node holds the same id.
    pub async fn join(config: MembershipConfig) -> Result<Membership, ClusterError> {
        let client = connect(&config).await?;
        let shared = Arc::new(Shared::default());
        let lease = register(&mut client.clone(), &config).await?;
        shared.lease.store(lease, Ordering::Relaxed);
        shared.registered.store(true, Ordering::Relaxed);
        shared.registrations.store(1, Ordering::Relaxed);
        tracing::info!(cluster = %config.cluster, node = %config.node.node_id, lease, "joined the cluster");
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(keep(
            client.clone(),
            config.clone(),
            shared.clone(),
            stopped,
        ));
        Ok(Membership {
            config,
            client,
            shared,
            stop,
            task,
        })
    }

    /// What it joined with.
    pub fn config(&self) -> &MembershipConfig {
        &self.config
    }

    /// Where the registration stands.
    pub fn status(&self) -> MembershipStatus {
        MembershipStatus {
            registered: self.shared.registered.load(Ordering::Relaxed),
            lease: self.shared.lease.load(Ordering::Relaxed),
            registrations: self.shared.registrations.load(Ordering::Relaxed),
        }
    }

    /// The nodes registered in this node's cluster now.
    pub async fn members(&self) -> Result<Vec<NodeInfo>, ClusterError> {
        members(&mut self.client.clone(), &self.config).await
    }

    /// Leaves the cluster at once: the keep-alive stops and the lease is
    /// revoked, which deletes the node's key.
    pub async fn leave(self) -> Result<(), ClusterError> {
        let _ = self.stop.send(true);
        // Wait for the keep-alive task to stop, so it cannot register again.
        while !self.task.is_finished() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let lease = self.shared.lease.load(Ordering::Relaxed);
        self.client
            .clone()
            .lease_revoke(lease)
            .await
            .map_err(|e| etcd_error(&self.config, e))?;
        tracing::info!(cluster = %self.config.cluster, node = %self.config.node.node_id, "left the cluster");
        Ok(())
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        // Without `leave`, the lease lapses by itself.
        self.task.abort();
    }
}

fn etcd_error(config: &MembershipConfig, source: etcd_client::Error) -> ClusterError {
    ClusterError::Etcd {
        endpoints: config.endpoints.join(","),
        source,
    }
}

async fn connect(config: &MembershipConfig) -> Result<Client, ClusterError> {
    crate::etcd::connect(&config.endpoints).await
}

/// The nodes registered in `config`'s cluster.
async fn members(
    client: &mut Client,
    config: &MembershipConfig,
) -> Result<Vec<NodeInfo>, ClusterError> {
    read_members(client, &config.cluster)
        .await
        .map_err(|e| match e {
            ClusterError::EtcdRequest { source, .. } => etcd_error(config, source),
            other => other,
        })
}

/// The nodes registered in `cluster` now: the live members, as anyone with
/// an etcd client reads them (a relocator, the module fetcher). A node
/// whose lease expired is not among them.
pub async fn live_members(client: &Client, cluster: &str) -> Result<Vec<NodeInfo>, ClusterError> {
    read_members(&mut client.clone(), cluster).await
}

async fn read_members(client: &mut Client, cluster: &str) -> Result<Vec<NodeInfo>, ClusterError> {
    let prefix = nodes_prefix(cluster);
    let answer = client
        .get(prefix, Some(GetOptions::new().with_prefix()))
        .await
        .map_err(crate::etcd::failed(format!(
            "list the nodes of cluster {cluster:?}"
        )))?;
    answer
        .kvs()
        .iter()
        .map(|kv| {
            serde_json::from_slice(kv.value()).map_err(|e| ClusterError::Corrupt {
                key: String::from_utf8_lossy(kv.key()).into_owned(),
                reason: e.to_string(),
            })
        })
        .collect()
}

/// Grants a lease and puts the node's key under it, unless another
/// process holds the key. Returns the lease.
async fn register(client: &mut Client, config: &MembershipConfig) -> Result<i64, ClusterError> {
    let ttl = config.ttl.as_secs().max(1) as i64;
    let lease = client
        .lease_grant(ttl, None)
        .await
        .map_err(|e| etcd_error(config, e))?
        .id();
    let key = config.key();
    let value = serde_json::to_vec(&config.node).expect("a node's info serialises");
    let put = || {
        TxnOp::put(
            key.clone(),
            value.clone(),
            Some(PutOptions::new().with_lease(lease)),
        )
    };
    // Free, or held by this very process (an older lease of ours): take it.
    let free = Compare::create_revision(key.clone(), CompareOp::Equal, 0);
    let ours = Compare::value(key.clone(), CompareOp::Equal, value.clone());
    for condition in [free, ours] {
        let txn = Txn::new().when([condition]).and_then([put()]);
        let done = client.txn(txn).await.map_err(|e| etcd_error(config, e))?;
        if done.succeeded() {
            return Ok(lease);
        }
    }
    let _ = client.lease_revoke(lease).await;
    let holder = members(client, config)
        .await?
        .into_iter()
        .find(|n| n.node_id == config.node.node_id);
    Err(ClusterError::NodeIdInUse {
        cluster: config.cluster.clone(),
        node_id: config.node.node_id.clone(),
        url: holder.map_or_else(|| "an unknown address".into(), |n| n.url),
    })
}

/// Keeps the registration alive until told to stop: renews the lease
/// three times a TTL; when the stream breaks or the lease is gone,
/// registers again under a new lease, retrying with backoff.
async fn keep(
    client: Client,
    config: MembershipConfig,
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        let lease = shared.lease.load(Ordering::Relaxed);
        let why = tokio::select! {
            why = renew(client.clone(), lease, config.ttl / 3) => why,
            _ = stopped.changed() => return,
        };
        shared.registered.store(false, Ordering::Relaxed);
        tracing::warn!(cluster = %config.cluster, node = %config.node.node_id, lease, %why,
            "the cluster lease lapsed or its keep-alive broke: registering again");
        let mut registering = client.clone();
        loop {
            let attempt = tokio::select! {
                attempt = register(&mut registering, &config) => attempt,
                _ = stopped.changed() => return,
            };
            match attempt {
                Ok(lease) => {
                    shared.lease.store(lease, Ordering::Relaxed);
                    shared.registered.store(true, Ordering::Relaxed);
                    shared.registrations.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(cluster = %config.cluster, node = %config.node.node_id, lease, "registered again");
                    backoff = FIRST_BACKOFF;
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64,
                        "could not register in the cluster");
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        _ = stopped.changed() => return,
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }
}

/// Renews `lease` every `every` until that fails; says why it stopped.
async fn renew(mut client: Client, lease: i64, every: Duration) -> String {
    let (mut keeper, mut stream) = match client.lease_keep_alive(lease).await {
        Ok(pair) => pair,
        Err(e) => return format!("keep-alive not started: {e}"),
    };
    let every = every.max(Duration::from_millis(100));
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        if let Err(e) = keeper.keep_alive().await {
            return format!("keep-alive not sent: {e}");
        }
        let answer_within = every.max(Duration::from_secs(1));
        match tokio::time::timeout(answer_within, stream.message()).await {
            Ok(Ok(Some(answer))) if answer.ttl() > 0 => {}
            Ok(Ok(Some(_))) => return "the lease expired".into(),
            Ok(Ok(None)) => return "the keep-alive stream ended".into(),
            Ok(Err(e)) => return format!("the keep-alive stream failed: {e}"),
            Err(_) => return "no keep-alive answer in time".into(),
        }
    }
}
