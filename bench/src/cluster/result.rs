//! The JSON result of one run of the cluster harness (`bench/cluster`): what was
//! run, what each strategy cost per epoch and per node, how fast merged results
//! came, whether every one of them was right, and the timeline of a fault. The
//! Markdown report and the plots are made from this alone, so a result kept from
//! an earlier run can be reported again (`cluster --report result.json`).

use serde::{Deserialize, Serialize};

use super::workload::WorkloadFile;

/// Version of this format; bumped when a field changes meaning.
pub const FORMAT: u32 = 1;

/// One run of the harness.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResult {
    /// [`FORMAT`].
    pub format: u32,
    /// When the run started, unix ms.
    pub started_at_ms: u64,
    /// Where it ran.
    pub machine: Machine,
    /// `namespaces` (the emulation on one machine) or `real-cluster`.
    pub mode: String,
    /// The workload file, as read.
    pub workload: WorkloadFile,
    /// The three strategies at the workload's N nodes and K jobs, on the same events.
    pub main: Vec<StrategyRun>,
    /// The K sweep: each strategy at each of `workload.sweep_jobs` (CPU per epoch).
    pub sweep: Vec<StrategyRun>,
    /// Commit → merged result of near-data for each of `workload.latency_nodes`.
    pub latency: Vec<LatencyRun>,
    /// The fault schedule's run, epoch by epoch (near-data), when it has faults.
    pub timeline: Option<Timeline>,
    /// The nodes' own counters against the interfaces' (emulation only).
    pub agreement: Vec<Agreement>,
    /// Every invariant the harness checked; the run fails if one is not `ok`.
    pub checks: Vec<Check>,
}

/// The machine the harness ran on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Machine {
    /// Logical cores.
    pub cores: usize,
    /// Load averages (1, 5, 15 min) before and after the run.
    pub load_before: [f64; 3],
    /// See `load_before`.
    pub load_after: [f64; 3],
    /// `uname -r`.
    pub kernel: String,
    /// The epochd binary's profile (`release` or `debug`), from its path.
    pub epochd_build: String,
}

/// How the jobs' answers are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// epochd: each node decodes each commit once and runs every job on it; the
    /// gateway merges the nodes' parts; subscribers read merged results.
    NearData,
    /// The MapReduce way: each job decodes each commit itself, on the node that
    /// holds it (`epochd serve --decode-per-job`); results leave as in near-data.
    PerJobDecode,
    /// Each consumer (one per job) fetches every commit's raw chunks through the
    /// read API and decodes and computes outside the cluster.
    External,
}

impl Strategy {
    /// All three, in the report's order.
    pub const ALL: [Strategy; 3] = [
        Strategy::External,
        Strategy::PerJobDecode,
        Strategy::NearData,
    ];

    /// Its name in files and flags.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::NearData => "near-data",
            Strategy::PerJobDecode => "per-job-decode",
            Strategy::External => "external",
        }
    }

    /// Its name in the report, next to Booking's.
    pub fn title(self) -> &'static str {
        match self {
            Strategy::NearData => "near-data (epochd: decode once)",
            Strategy::PerJobDecode => "per-job decode (MapReduce)",
            Strategy::External => "external processing",
        }
    }
}

/// One strategy, N nodes, K jobs, over a window of epochs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StrategyRun {
    /// Which.
    pub strategy: Strategy,
    /// Cluster nodes.
    pub nodes: usize,
    /// Jobs (K): near-data and per-job decode run them on the nodes; external has one
    /// consumer per job.
    pub jobs: usize,
    /// Subscribers per job reading merged results (near-data, per-job decode).
    pub subscribers: usize,
    /// The measured window's first epoch.
    pub first_epoch: u64,
    /// Epochs in the window.
    pub epochs: u64,
    /// Events acknowledged by the cluster in the window.
    pub events: u64,
    /// Per node, over the window.
    pub per_node: Vec<NodeFigures>,
    /// The cluster's totals divided by `epochs`.
    pub per_epoch: PerEpoch,
    /// Commit → result in the subscriber's (or consumer's) hands, ms.
    pub latency_ms: Percentiles,
    /// Every result of the window against the independent computation.
    pub integrity: Integrity,
    /// Whether the machine's cores were the limit during the window (then wall-clock
    /// figures mean little; per-epoch bytes and CPU-s still hold).
    pub saturated: bool,
    /// Why it counts as saturated, or what was seen.
    pub saturation: String,
}

/// One node over a window. Interface bytes are seen from the node: `tx` leaves it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NodeFigures {
    /// Its id (`n0`, ...).
    pub node: String,
    /// Bytes the node sent on its client-facing interface (out of the cluster).
    pub client_tx_bytes: u64,
    /// Bytes the node received on its client-facing interface (ingest, requests).
    pub client_rx_bytes: u64,
    /// Bytes the node sent on its cluster-facing interface (other nodes, etcd).
    pub cluster_tx_bytes: u64,
    /// Bytes the node received on its cluster-facing interface.
    pub cluster_rx_bytes: u64,
    /// CPU-s of the node's cgroup (every thread, jobs included).
    pub cpu_s: f64,
    /// Peak resident memory, bytes.
    pub peak_rss_bytes: u64,
    /// What the node's own `/metrics` said over the same window.
    pub counters: NodeCounters,
}

/// A node's own counters (its `/metrics`), differences over a window.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NodeCounters {
    /// Response body bytes served to clients (`epochd_http_response_bytes_total{peer="client"}`).
    pub client_bytes_out: u64,
    /// Request body bytes taken in on the ingest routes (`epochd_store_bytes_accepted_total`).
    pub ingest_bytes_in: u64,
    /// Response body bytes served to other nodes (`epochd_http_response_bytes_total{peer="node"}`).
    pub node_bytes_out: u64,
    /// Bytes read from other nodes (`epochd_cluster_bytes_received_total`).
    pub node_bytes_in: u64,
    /// CPU-s decoding commits (`epochd_daemon_decode_cpu_seconds_total`).
    pub decode_cpu_s: f64,
    /// CPU-s of job runs (`epochd_job_cpu_seconds_total`, every job).
    pub job_cpu_s: f64,
    /// Commits decoded (`epochd_daemon_commits_decoded_total`; per-job decode counts
    /// one per job).
    pub decodes: u64,
}

/// The whole cluster's cost of one epoch, averaged over the window.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PerEpoch {
    /// Bytes into the cluster from clients (client interfaces, received).
    pub ingest_bytes: f64,
    /// Bytes the store holds for the epoch (chunk bytes, compressed).
    pub stored_bytes: f64,
    /// Bytes out of the cluster to clients (client interfaces, sent): Booking's
    /// external bandwidth.
    pub egress_bytes: f64,
    /// Bytes between nodes (cluster interfaces, sent, etcd included): Booking's
    /// internal bandwidth.
    pub internal_bytes: f64,
    /// Decode CPU-s, wherever it ran (the nodes, or the external consumers).
    pub decode_cpu_s: f64,
    /// Job CPU-s, wherever it ran.
    pub job_cpu_s: f64,
    /// Everything the nodes' cgroups used.
    pub node_cpu_s: f64,
    /// What the external consumers used (external only; 0 otherwise).
    pub consumer_cpu_s: f64,
    /// Node and consumer CPU-s together: the strategy's whole CPU cost.
    pub total_cpu_s: f64,
}

/// Percentiles of a sample, ms.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Percentiles {
    /// Samples.
    pub n: usize,
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
}

/// The results of a window against an independent computation from the raw events.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Integrity {
    /// (job, epoch) results expected.
    pub expected: u64,
    /// Of those, received complete and compared.
    pub compared: u64,
    /// Compared and different: must be 0.
    pub mismatches: u64,
    /// Results that never came (complete): must be 0.
    pub missing: u64,
    /// (job, epoch) results first given partial (some node's part missing, and said so).
    pub partial: u64,
    /// Of those, later corrected to complete.
    pub corrected: u64,
    /// Versions marked complete whose value was short (must be 0: never silently short).
    pub silently_short: u64,
    /// A few mismatches, spelled out.
    pub examples: Vec<String>,
}

/// Near-data's commit → merged result at one cluster size.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LatencyRun {
    /// Nodes.
    pub nodes: usize,
    /// Every (job, epoch) latency of the window, ms, sorted.
    pub samples_ms: Vec<f64>,
    /// Their percentiles.
    pub latency_ms: Percentiles,
}

/// A fault and its recovery, epoch by epoch, as the gateway's subscribers saw it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Timeline {
    /// The faults, as scheduled, with the epochs they happened at.
    pub faults: Vec<FaultSeen>,
    /// The job followed.
    pub job: String,
    /// One entry per epoch of the run.
    pub epochs: Vec<TimelineEpoch>,
}

/// One fault as it happened.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FaultSeen {
    /// `kill` or `link-down`.
    pub kind: String,
    /// The node.
    pub node: String,
    /// The epoch (unix second) it began.
    pub at_epoch: u64,
    /// The epoch it ended (restart, link up).
    pub until_epoch: u64,
}

/// One epoch of the timeline.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TimelineEpoch {
    /// The epoch.
    pub epoch: u64,
    /// Each version the subscriber got, in order.
    pub versions: Vec<VersionSeen>,
    /// Whether the last version equals the independent computation.
    pub final_matches: bool,
}

/// One version of an epoch's merged result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VersionSeen {
    /// 1, 2, ...
    pub version: u64,
    /// Complete (every expected node's part) or partial.
    pub complete: bool,
    /// When it arrived, ms after the epoch's end.
    pub after_ms: i64,
    /// Parts received / expected.
    pub parts_received: u64,
    /// See `parts_received`.
    pub parts_expected: u64,
    /// The nodes named missing, with why (`n1 lease_gone`).
    pub missing: Vec<String>,
}

/// A node's own counter against what its interfaces counted over the same window.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Agreement {
    /// The strategy run.
    pub strategy: Strategy,
    /// The node.
    pub node: String,
    /// `egress` (client_bytes_out vs client_tx) or `internal` (node bytes in+out vs
    /// cluster tx+rx).
    pub what: String,
    /// The node's count (body bytes).
    pub counter_bytes: u64,
    /// The interfaces' count (frames: headers and acknowledgements included).
    pub interface_bytes: u64,
    /// counter / interface.
    pub ratio: f64,
    /// Within the documented tolerance.
    pub ok: bool,
}

/// One invariant.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Check {
    /// What is promised.
    pub name: String,
    /// Whether it held.
    pub ok: bool,
    /// The figures behind it.
    pub detail: String,
}
