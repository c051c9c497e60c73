//! The harness's workload file (JSON): the event rate and mix, the cluster's
//! size, the jobs, the subscribers, how long, and the faults. Every field has a
//! default (the reference run of docs/BENCHMARKS.md), so a file names only what
//! it changes; an unknown field is refused, so a typo is not silently ignored.

use std::path::Path;

use anyhow::{ensure, Context, Result};
use serde::{Deserialize, Serialize};

/// A workload file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkloadFile {
    /// Events per second, all dcs together (the reference mix, docs/WORKLOAD.md).
    pub rate: usize,
    /// How many of the reference workload's dcs the events come from (1 to 4).
    pub dcs: usize,
    /// Cluster nodes (N) of the main run and the sweep.
    pub nodes: usize,
    /// Jobs (K) of the main run, drawn in turn from `job_mix`.
    pub jobs: usize,
    /// The reference jobs the K jobs cycle through (`count`, `latency`, `error-rate`).
    pub job_mix: Vec<String>,
    /// Subscribers per job reading merged results (main run).
    pub subscribers: usize,
    /// Seconds measured in the main run, after the warm-up.
    pub seconds: u64,
    /// Seconds of load before each measured window.
    pub warmup: u64,
    /// The K of the sweep (CPU-s per epoch against K); empty: no sweep.
    pub sweep_jobs: Vec<usize>,
    /// Seconds measured per sweep point.
    pub sweep_seconds: u64,
    /// Cluster sizes of the latency runs (near-data); empty: none.
    pub latency_nodes: Vec<usize>,
    /// Seconds measured per latency run.
    pub latency_seconds: u64,
    /// Jobs of the latency runs.
    pub latency_jobs: usize,
    /// Faults of the timeline run (near-data, N nodes); empty: no timeline.
    pub faults: Vec<Fault>,
    /// Seconds of the timeline run (faults are timed from its first epoch).
    pub timeline_seconds: u64,
    /// A CPU cap per node, in cores (cgroup `cpu.cfs_quota_us`); none: uncapped.
    pub node_cpu_cores: Option<f64>,
    /// Seed of the event stream.
    pub seed: u64,
}

impl Default for WorkloadFile {
    fn default() -> Self {
        WorkloadFile {
            rate: 20_000,
            dcs: 1,
            nodes: 3,
            jobs: 20,
            job_mix: ["count", "latency", "error-rate"]
                .map(String::from)
                .to_vec(),
            subscribers: 1,
            seconds: 20,
            warmup: 4,
            sweep_jobs: vec![1, 5, 20, 60, 260],
            sweep_seconds: 5,
            latency_nodes: vec![1, 2, 3, 4],
            latency_seconds: 15,
            latency_jobs: 3,
            faults: vec![Fault {
                kind: FaultKind::Kill,
                node: 1,
                at: 8,
                until: 16,
            }],
            timeline_seconds: 30,
            node_cpu_cores: None,
            seed: 42,
        }
    }
}

/// One scheduled fault.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// What happens.
    pub kind: FaultKind,
    /// To which node (0-based).
    pub node: usize,
    /// Seconds after the timeline's first epoch it begins.
    pub at: u64,
    /// Seconds after the first epoch it ends: the node restarts on its data, or its
    /// link comes back up.
    pub until: u64,
}

/// The kinds of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// `kill -9` of the node's process, then a restart on the same data.
    Kill,
    /// The node's cluster-facing link down, then up.
    LinkDown,
}

impl FaultKind {
    /// Its name in the file.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Kill => "kill",
            FaultKind::LinkDown => "link-down",
        }
    }
}

impl WorkloadFile {
    /// Reads and checks a workload file.
    pub fn read(path: &Path) -> Result<WorkloadFile> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the workload file {}", path.display()))?;
        let file: WorkloadFile = serde_json::from_str(&text).with_context(|| {
            format!(
                "{}: not a workload file (fields: bench/workloads/README.md)",
                path.display()
            )
        })?;
        file.check()
            .with_context(|| format!("{}: a bad workload", path.display()))?;
        Ok(file)
    }

    /// Checks the values against each other.
    pub fn check(&self) -> Result<()> {
        ensure!(self.rate > 0, "rate must be at least 1 event per second");
        ensure!((1..=4).contains(&self.dcs), "dcs must be 1 to 4");
        ensure!(
            (1..=16).contains(&self.nodes),
            "nodes must be 1 to 16 (each node is a process and a namespace)"
        );
        ensure!(self.jobs > 0, "jobs must be at least 1");
        ensure!(
            !self.job_mix.is_empty(),
            "job_mix must name at least one job"
        );
        for job in &self.job_mix {
            ensure!(
                ["count", "latency", "error-rate"].contains(&job.as_str()),
                "job_mix: {job:?} is not a reference job (count, latency, error-rate)"
            );
        }
        ensure!(self.seconds > 0, "seconds must be at least 1");
        ensure!(
            self.latency_nodes.iter().all(|&n| (1..=16).contains(&n)),
            "latency_nodes must be 1 to 16 each"
        );
        for fault in &self.faults {
            ensure!(
                fault.node < self.nodes,
                "a fault names node {} of {} (nodes are numbered from 0)",
                fault.node,
                self.nodes
            );
            ensure!(
                fault.at < fault.until && fault.until < self.timeline_seconds,
                "a fault must end after it begins and before the timeline ends \
                 (at {} until {}, timeline_seconds {})",
                fault.at,
                fault.until,
                self.timeline_seconds
            );
        }
        if let Some(cores) = self.node_cpu_cores {
            ensure!(
                cores.is_finite() && cores >= 0.01,
                "node_cpu_cores must be at least 0.01"
            );
        }
        Ok(())
    }

    /// The name of the `i`th job and the reference job it runs.
    pub fn job(&self, i: usize) -> (String, &str) {
        let kind = self.job_mix[i % self.job_mix.len()].as_str();
        (format!("{kind}-{i}"), kind)
    }
}
