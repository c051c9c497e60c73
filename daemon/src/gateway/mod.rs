//! The gateway (docs/CLUSTER.md, "The gateway's contract"): every cluster
//! node runs one. It reads every live member's parts stream (`parts`,
//! `reader`), keeps each job's epochs' parts keyed (job, epoch, dc, node,
//! seq) (`board`), and emits each epoch merged with the job's own merge,
//! folded in (dc, node, seq) order: complete once every expected node has
//! closed it (`closure`), partial after a wait naming the missing nodes,
//! and again as a new version (a correction) when a part comes later.
//! Emitted versions are kept (`versions`) for range queries and streams.

mod board;
mod closure;
pub mod parts;
mod reader;
mod versions;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use epochd_cluster::MembershipConfig;
use epochd_store::Store;
use serde_json::json;
use tokio::sync::{mpsc, watch};

use self::board::{Board, Decision};
use self::closure::Closure;
use self::reader::{Input, Member};
use crate::pipeline::Daemon;
use crate::registry::Registry;
use crate::results::{merge_epoch, render, Outcome};

pub use board::NodeState;
pub use versions::{Version, Versions};

/// Added to a job's deadline to make the default wait for its last nodes.
pub const WAIT_MARGIN: Duration = Duration::from_secs(2);

/// At start, parts are read from this many epochs back (what the stored
/// versions already hold is recognised and not emitted again).
const START_LOOKBACK: u64 = 300;

/// Epochs kept in memory (their parts), behind the newest: a part of an
/// older epoch is ignored.
const KEEP_EPOCHS: u64 = 600;

/// How often membership is read from etcd.
const MEMBERSHIP_EVERY: Duration = Duration::from_secs(1);

/// Errors of the gateway's storage.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// The database failed.
    #[error("gateway database: {0}")]
    Db(#[from] sled::Error),
    /// A stored version does not decode.
    #[error("a stored gateway version does not decode: {0}")]
    Corrupt(String),
}

/// How the gateway behaves.
#[derive(Debug, Clone, Default)]
pub struct GatewayConfig {
    /// How long an epoch waits for its last nodes once one has closed it
    /// (`--gateway-wait-ms`); `None`: the job's deadline plus
    /// [`WAIT_MARGIN`].
    pub wait: Option<Duration>,
    /// The token to read other nodes' parts with (role read), if they
    /// need one.
    pub token: Option<String>,
}

/// The gateway's counters, for /metrics.
#[derive(Debug, Default)]
pub struct GatewayStats {
    /// Parts received from the nodes' streams (repeats included).
    pub parts: AtomicU64,
    /// Epochs first emitted complete.
    pub complete: AtomicU64,
    /// Epochs first emitted partial.
    pub partial: AtomicU64,
    /// Later versions of an epoch (corrections).
    pub corrections: AtomicU64,
    /// Milliseconds emitted epochs waited for their last node, summed.
    pub waited_ms: AtomicU64,
    /// Membership reads from etcd.
    pub etcd_round_trips: AtomicU64,
    /// Bytes read from other nodes' parts streams (this node's own not
    /// counted: it does not cross the network).
    pub bytes_from_nodes: AtomicU64,
}

impl GatewayStats {
    /// The counters in Prometheus text format.
    pub fn write_prometheus(&self, out: &mut String) {
        use std::fmt::Write;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let rows: [(&str, &str, &str, u64); 7] = [
            ("epochd_gateway_parts_total", "", "Parts (result records) the gateway received from the nodes' parts streams, repeats included.", get(&self.parts)),
            ("epochd_gateway_epochs_total", "complete=\"true\"", "Job epochs the gateway first emitted, by whether every expected node had closed them.", get(&self.complete)),
            ("epochd_gateway_epochs_total", "complete=\"false\"", "", get(&self.partial)),
            ("epochd_gateway_corrections_total", "", "Later versions of an emitted job epoch (a part or a closure came after it).", get(&self.corrections)),
            ("epochd_gateway_waited_ms", "", "Milliseconds emitted epochs waited for their last node, summed.", get(&self.waited_ms)),
            ("epochd_gateway_etcd_round_trips_total", "", "Membership reads the gateway made from etcd.", get(&self.etcd_round_trips)),
            ("epochd_gateway_bytes_received_total", "", "Bytes the gateway read from other nodes' parts streams.", get(&self.bytes_from_nodes)),
        ];
        for (name, labels, help, value) in rows {
            if !help.is_empty() {
                // Each only grows (waited_ms is a sum).
                let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            }
            if labels.is_empty() {
                let _ = writeln!(out, "{name} {value}");
            } else {
                let _ = writeln!(out, "{name}{{{labels}}} {value}");
            }
        }
    }
}

/// The gateway of this node.
pub struct Gateway {
    node: String,
    closure: Closure,
    versions: Versions,
    stats: Arc<GatewayStats>,
    /// The nodes as the gateway's task last saw them.
    nodes: Arc<parking_lot::Mutex<Vec<NodeState>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Gateway {
    /// Starts the gateway of the node `membership` registers, with its
    /// store's closure and its daemon's jobs and database. It reads the
    /// members with an etcd client of its own.
    pub fn start(
        config: GatewayConfig,
        membership: &MembershipConfig,
        store: &Arc<Store>,
        daemon: &Arc<Daemon>,
    ) -> Result<Gateway, GatewayError> {
        let versions = Versions::open(daemon.results().db(), 4096)?;
        let stats = Arc::new(GatewayStats::default());
        let node = membership.node.node_id.clone();
        let nodes = Arc::default();
        let task = tokio::spawn(run(
            config,
            membership.clone(),
            daemon.clone(),
            versions.clone(),
            (stats.clone(), Arc::clone(&nodes)),
        ));
        Ok(Gateway {
            node,
            closure: Closure::start(store),
            versions,
            stats,
            nodes,
            task,
        })
    }

    /// This node's id.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// This node's closure and its changes (for its parts stream).
    pub fn closure(&self) -> watch::Receiver<u64> {
        self.closure.watch()
    }

    /// The emitted versions.
    pub fn versions(&self) -> &Versions {
        &self.versions
    }

    /// Its counters.
    pub fn stats(&self) -> &GatewayStats {
        &self.stats
    }

    /// Every node it knows of: registered now, or seen since it started.
    pub fn nodes(&self) -> Vec<NodeState> {
        self.nodes.lock().clone()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A member's reader task and what it was started for.
struct Reading {
    url: String,
    instance: u64,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Reading {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run(
    config: GatewayConfig,
    membership: MembershipConfig,
    daemon: Arc<Daemon>,
    versions: Versions,
    (stats, shown): (Arc<GatewayStats>, Arc<parking_lot::Mutex<Vec<NodeState>>>),
) {
    let start = crate::clock::now_secs().saturating_sub(START_LOOKBACK);
    let mut board = Board::new(start);
    let (tx, mut rx) = mpsc::channel::<Input>(4096);
    let client = crate::cluster::node_client(&membership.node.node_id)
        .connect_timeout(Duration::from_secs(2))
        .build()
        .expect("an HTTP client builds");
    let mut readers: HashMap<String, Reading> = HashMap::new();
    let mut members = tokio::time::interval(MEMBERSHIP_EVERY);
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    let mut last_ids: Vec<String> = Vec::new();
    let mut last_nodes: Vec<epochd_cluster::NodeInfo> = Vec::new();
    let mut sweep_at = Instant::now();
    let registry = daemon.registry().clone();
    let mut etcd = None;
    loop {
        tokio::select! {
            input = rx.recv() => {
                let Some(input) = input else { return };
                apply(&mut board, input);
                // Take what else is there before deciding.
                for _ in 0..4096 {
                    match rx.try_recv() {
                        Ok(input) => apply(&mut board, input),
                        Err(_) => break,
                    }
                }
            }
            _ = members.tick() => {
                let now = crate::clock::now_secs();
                stats.etcd_round_trips.fetch_add(1, Ordering::Relaxed);
                if etcd.is_none() {
                    etcd = epochd_cluster::connect(&membership.endpoints)
                        .await
                        .inspect_err(|e| tracing::warn!(error = %e, "the gateway could not reach etcd"))
                        .ok();
                }
                let read = match &etcd {
                    Some(client) => epochd_cluster::live_members(client, &membership.cluster).await,
                    None => Ok(last_nodes.clone()),
                };
                match read {
                    Ok(nodes) => {
                        last_ids = nodes.iter().map(|n| n.node_id.clone()).collect();
                        last_nodes = nodes.clone();
                        readers.retain(|id, _| {
                            let keep = last_ids.contains(id);
                            if !keep {
                                board.connected(id, false);
                            }
                            keep
                        });
                        for n in nodes {
                            let fresh = readers
                                .get(&n.node_id)
                                .is_none_or(|r| r.url != n.url || r.instance != n.instance);
                            if !fresh {
                                continue;
                            }
                            let from = board
                                .closed_of(&n.node_id)
                                .map_or(start, |c| c.saturating_sub(30) + 1);
                            tracing::info!(node = %n.node_id, url = %n.url, from, "the gateway reads a node's parts");
                            let task = tokio::spawn(reader::read(
                                Member {
                                    counted: n.node_id != membership.node.node_id,
                                    node: n.node_id.clone(),
                                    url: n.url.clone(),
                                    from,
                                },
                                client.clone(),
                                config.token.clone(),
                                tx.clone(),
                                stats.clone(),
                            ));
                            readers.insert(n.node_id, Reading { url: n.url, instance: n.instance, task });
                        }
                    }
                    // The last membership read stands while etcd is away.
                    Err(e) => tracing::warn!(error = %e, "the gateway could not read the cluster's members"),
                }
                board.members(now, &last_ids);
            }
            _ = tick.tick() => {}
        }
        let wait = |job: &str| {
            config.wait.unwrap_or_else(|| {
                registry.get(job).map_or(Duration::from_secs(1), |j| {
                    Duration::from_millis(j.manifest.deadline_ms)
                }) + WAIT_MARGIN
            })
        };
        for decision in board.decide(Instant::now(), wait) {
            emit(&mut board, &registry, &versions, &stats, decision);
        }
        *shown.lock() = board.node_states();
        if sweep_at.elapsed() >= Duration::from_secs(60) {
            sweep_at = Instant::now();
            board.forget_before(crate::clock::now_secs().saturating_sub(KEEP_EPOCHS));
            let (v, horizon) = (versions.clone(), daemon.results_horizon());
            tokio::task::spawn_blocking(move || {
                if let Err(e) = v.sweep_before(horizon) {
                    tracing::warn!(error = %e, "could not sweep old gateway versions");
                }
            });
        }
    }
}

fn apply(board: &mut Board, input: Input) {
    match input {
        Input::Part(node, record) => {
            board.part(&node, record);
        }
        Input::Closed(node, through) => board.closed(&node, through),
        Input::Connected(node, up) => board.connected(&node, up),
    }
}

/// What a version is made of: its parts (keys and answers) and whether it
/// is complete.
fn digest(d: &Decision) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(&[u8::from(d.complete)]);
    for (r, node) in d.records.iter().zip(&d.nodes) {
        for field in [r.dc.as_bytes(), node.as_bytes(), &r.seq.to_be_bytes()] {
            h.update(&(field.len() as u64).to_be_bytes());
            h.update(field);
        }
        match &r.outcome {
            Outcome::Ok { result } => {
                h.update(b"ok");
                h.update(&(result.len() as u64).to_be_bytes());
                h.update(result);
            }
            Outcome::Error { kind, message } => {
                h.update(b"error");
                h.update(kind.as_str().as_bytes());
                h.update(message.as_bytes());
            }
        }
    }
    h.digest()
}

/// Merges, renders, stores and publishes one decision, unless the stored
/// version already is it (a restarted gateway), or is complete and this
/// is not (a complete version is never followed by a partial one).
fn emit(
    board: &mut Board,
    registry: &Registry,
    versions: &Versions,
    stats: &GatewayStats,
    d: Decision,
) {
    let digest = digest(&d);
    let stored = match versions.get(&d.job, d.epoch) {
        Ok(stored) => stored,
        Err(e) => {
            tracing::error!(job = %d.job, epoch = d.epoch, error = %e, "could not read a gateway version");
            return;
        }
    };
    if let Some(s) = &stored {
        if s.digest == digest || (s.complete && !d.complete) {
            board.emitted(&d.job, d.epoch, s.version, s.complete);
            return;
        }
    }
    let version = stored.as_ref().map_or(1, |s| s.version + 1);
    let merged = registry
        .get(&d.job)
        .and_then(|job| merge_epoch(&job, d.epoch, &d.records));
    let object = render::epoch_json(&d.job, d.epoch, &d.records, merged);
    let missing: Vec<serde_json::Value> = d
        .missing
        .iter()
        .map(|(node, why)| json!({"node": node, "why": why.as_str()}))
        .collect();
    let object = render::with_field(&object, "missing", missing);
    let object = render::with_field(
        &object,
        "parts",
        json!({"received": d.received, "expected": d.expected, "nodes": d.nodes}),
    );
    let object = render::with_field(&object, "version", version);
    let object = render::with_field(&object, "complete", d.complete);
    // When this version left the gateway, as a node's stream says of its
    // epochs: what commit → merged result is measured against.
    let object = render::with_field(&object, "emitted_at_ms", crate::clock::now_ms());
    let v = Version {
        job: d.job.clone(),
        epoch: d.epoch,
        version,
        complete: d.complete,
        digest,
        json: object,
    };
    if let Err(e) = versions.put(v) {
        tracing::error!(job = %d.job, epoch = d.epoch, error = %e, "could not store a gateway version");
        return;
    }
    board.emitted(&d.job, d.epoch, version, d.complete);
    stats
        .waited_ms
        .fetch_add(d.waited.as_millis() as u64, Ordering::Relaxed);
    if version > 1 {
        stats.corrections.fetch_add(1, Ordering::Relaxed);
    } else if d.complete {
        stats.complete.fetch_add(1, Ordering::Relaxed);
    } else {
        stats.partial.fetch_add(1, Ordering::Relaxed);
    }
    if !d.complete {
        tracing::warn!(job = %d.job, epoch = d.epoch, version, previous = ?d.previous, missing = ?d.missing, "the gateway emitted a partial epoch");
    } else if version > 1 {
        tracing::info!(job = %d.job, epoch = d.epoch, version, previous = ?d.previous, "the gateway emitted a correction");
    }
}
