//! What a run measures: every counter at the window's two edges (the
//! interfaces, cgroups and peak memory of emulated nodes; every node's own
//! `/metrics`), and the figures made of the two snapshots. On a real
//! cluster the nodes' own counters stand in for interfaces and cgroups.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use epochd_bench::cluster::netns::IfaceCounters;
use epochd_bench::cluster::result::*;
use epochd_bench::prom::Metrics;

use crate::emulation::Emulated;
use crate::external::Costs;
use crate::run::RunSpec;

/// Everything counted at one moment.
#[derive(Clone)]
pub struct Snapshot {
    iface: Vec<IfaceCounters>,
    /// etcd's bytes on the cluster bridge: (sent, received).
    etcd: (u64, u64),
    metrics: Vec<Metrics>,
    cpu: Vec<f64>,
    busy: (u64, u64),
    /// Peak RSS per node, bytes.
    peak_rss: Vec<u64>,
    /// CFS periods the nodes' caps throttled, all nodes.
    throttled: u64,
}

/// Every counter now; `cluster` is the emulation, `None` on a real cluster.
pub async fn snapshot(
    client: &reqwest::Client,
    urls: &[String],
    token: &str,
    cluster: Option<&Arc<Mutex<Emulated>>>,
) -> Result<Snapshot> {
    let mut metrics = Vec::new();
    for url in urls {
        let text = match client
            .get(format!("{url}/metrics"))
            .bearer_auth(token)
            .timeout(Duration::from_secs(5))
            .send()
            .await
        {
            Ok(a) => a.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        metrics.push(Metrics::parse(&text));
    }
    let Some(cluster) = cluster else {
        // A real cluster: what the nodes count themselves.
        let own: Vec<NodeCounters> = metrics.iter().map(counters).collect();
        return Ok(Snapshot {
            iface: own
                .iter()
                .map(|c| IfaceCounters {
                    client_tx: c.client_bytes_out,
                    client_rx: c.ingest_bytes_in,
                    cluster_tx: c.node_bytes_out,
                    cluster_rx: c.node_bytes_in,
                })
                .collect(),
            etcd: (0, 0),
            cpu: metrics
                .iter()
                .map(|m| m.get("epochd_process_cpu_seconds_total").unwrap_or(0.0))
                .collect(),
            peak_rss: metrics
                .iter()
                .map(|m| m.get("epochd_process_peak_resident_bytes").unwrap_or(0.0) as u64)
                .collect(),
            metrics,
            busy: (0, 0),
            throttled: 0,
        });
    };
    let c = cluster.lock().unwrap();
    let mut iface = Vec::new();
    let mut cpu = Vec::new();
    let mut peak_rss = Vec::new();
    for (i, node) in c.nodes.iter().enumerate() {
        iface.push(c.counters(i)?);
        cpu.push(node.cgroup.cpu_seconds().unwrap_or(0.0));
        peak_rss.push(node.earlier_peak_rss.max(node.peak_rss_now()));
    }
    let etcd = c.etcd_bytes();
    Ok(Snapshot {
        iface,
        etcd,
        metrics,
        cpu,
        busy: machine_busy(),
        peak_rss,
        throttled: c.nodes.iter().map(|n| n.cgroup.throttled_periods()).sum(),
    })
}

/// (busy, total) jiffies of the whole machine (`/proc/stat`).
fn machine_busy() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = text.lines().next() else {
        return (0, 0);
    };
    let f: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = f.iter().sum();
    let idle = f.get(3).copied().unwrap_or(0) + f.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

/// The node's own counters from a scrape.
fn counters(m: &Metrics) -> NodeCounters {
    let jobs: f64 = m.sum("epochd_job_cpu_seconds_total");
    NodeCounters {
        client_bytes_out: m
            .labeled("epochd_http_response_bytes_total", "peer", "client")
            .unwrap_or(0.0) as u64,
        ingest_bytes_in: m.get("epochd_store_bytes_accepted_total").unwrap_or(0.0) as u64,
        node_bytes_out: m
            .labeled("epochd_http_response_bytes_total", "peer", "node")
            .unwrap_or(0.0) as u64,
        node_bytes_in: (m.get("epochd_gateway_bytes_received_total").unwrap_or(0.0)
            + m.get("epochd_cluster_module_bytes_fetched_total")
                .unwrap_or(0.0)) as u64,
        decode_cpu_s: m
            .get("epochd_daemon_decode_cpu_seconds_total")
            .unwrap_or(0.0),
        job_cpu_s: jobs,
        decodes: m.get("epochd_daemon_commits_decoded_total").unwrap_or(0.0) as u64,
    }
}

fn diff(b: &NodeCounters, a: &NodeCounters) -> NodeCounters {
    NodeCounters {
        client_bytes_out: b.client_bytes_out.saturating_sub(a.client_bytes_out),
        ingest_bytes_in: b.ingest_bytes_in.saturating_sub(a.ingest_bytes_in),
        node_bytes_out: b.node_bytes_out.saturating_sub(a.node_bytes_out),
        node_bytes_in: b.node_bytes_in.saturating_sub(a.node_bytes_in),
        decode_cpu_s: (b.decode_cpu_s - a.decode_cpu_s).max(0.0),
        job_cpu_s: (b.job_cpu_s - a.job_cpu_s).max(0.0),
        decodes: b.decodes.saturating_sub(a.decodes),
    }
}

#[allow(clippy::type_complexity)]
pub fn figures(
    spec: &RunSpec<'_>,
    (a, b): (&Snapshot, &Snapshot),
    nodes: &[String],
    emulated: bool,
    epochs: u64,
    costs: &Costs,
) -> (Vec<NodeFigures>, PerEpoch, Vec<Agreement>, (bool, String)) {
    let mut per_node = Vec::new();
    let mut agreement = Vec::new();
    let mut total = PerEpoch::default();
    let ingest: u64 = (0..nodes.len())
        .map(|i| b.iface[i].since(&a.iface[i]).client_rx)
        .sum();
    let small = ingest / 100;
    for (i, id) in nodes.iter().enumerate() {
        let io = b.iface[i].since(&a.iface[i]);
        // A node killed in the window restarts its counters: its own
        // figures then cover its last life only.
        let own = diff(&counters(&b.metrics[i]), &counters(&a.metrics[i]));
        let f = NodeFigures {
            node: id.clone(),
            client_tx_bytes: io.client_tx,
            client_rx_bytes: io.client_rx,
            cluster_tx_bytes: io.cluster_tx,
            cluster_rx_bytes: io.cluster_rx,
            cpu_s: (b.cpu[i] - a.cpu[i]).max(0.0),
            peak_rss_bytes: b.peak_rss[i],
            counters: own.clone(),
        };
        total.ingest_bytes += io.client_rx as f64;
        total.egress_bytes += io.client_tx as f64;
        total.internal_bytes += io.cluster_tx as f64;
        total.decode_cpu_s += own.decode_cpu_s;
        total.job_cpu_s += own.job_cpu_s;
        total.node_cpu_s += f.cpu_s;
        // On a real cluster the counters are the figures: nothing to agree.
        if emulated && spec.faults.is_empty() {
            agreement.push(agree(
                spec.strategy,
                id,
                "egress",
                (own.client_bytes_out, io.client_tx),
                small,
            ));
        }
        per_node.push(f);
    }
    // etcd's answers to the nodes cross the cluster network too.
    let etcd_tx = b.etcd.0.saturating_sub(a.etcd.0);
    let etcd_rx = b.etcd.1.saturating_sub(a.etcd.1);
    total.internal_bytes += etcd_tx as f64;
    // Between nodes, the nodes' own counters see each byte twice (the
    // sender's out, the receiver's in), as the interfaces do (the sender's
    // tx, the receiver's rx); etcd's traffic the interfaces see once and the
    // counters not at all, so it is taken out. Per node it cannot be.
    if emulated && spec.faults.is_empty() {
        let counted: u64 = per_node
            .iter()
            .map(|n| n.counters.node_bytes_out + n.counters.node_bytes_in)
            .sum();
        let framed: u64 = per_node
            .iter()
            .map(|n| n.cluster_tx_bytes + n.cluster_rx_bytes)
            .sum::<u64>()
            .saturating_sub(etcd_tx + etcd_rx);
        agreement.push(agree(
            spec.strategy,
            "all",
            "between nodes",
            (counted, framed),
            small,
        ));
    }
    total.stored_bytes = a
        .metrics
        .iter()
        .zip(&b.metrics)
        .map(|(a, b)| {
            let stored = |m: &Metrics| m.get("epochd_store_bytes_stored_total").unwrap_or(0.0);
            (stored(b) - stored(a)).max(0.0)
        })
        .sum();
    total.decode_cpu_s += costs.decode_s;
    total.job_cpu_s += costs.job_s;
    total.consumer_cpu_s = costs.decode_s + costs.job_s;
    let n = epochs.max(1) as f64;
    for v in [
        &mut total.stored_bytes,
        &mut total.ingest_bytes,
        &mut total.egress_bytes,
        &mut total.internal_bytes,
        &mut total.decode_cpu_s,
        &mut total.job_cpu_s,
        &mut total.node_cpu_s,
        &mut total.consumer_cpu_s,
    ] {
        *v /= n;
    }
    total.total_cpu_s = total.decode_cpu_s + total.job_cpu_s;
    if !emulated {
        return (
            per_node,
            total,
            agreement,
            (
                false,
                "not judged on a real cluster: compare each node's CPU-s per second with its cores"
                    .into(),
            ),
        );
    }
    let busy = (b.busy.0 - a.busy.0) as f64 / (b.busy.1 - a.busy.1).max(1) as f64;
    let throttled = b.throttled.saturating_sub(a.throttled);
    let saturated = busy > 0.9 || throttled > 0;
    let why = format!(
        "machine {:.0}% busy over the window ({} cores){}",
        busy * 100.0,
        epochd_bench::cores(),
        if throttled > 0 {
            format!("; node caps throttled {throttled} periods")
        } else {
            String::new()
        }
    );
    (per_node, total, agreement, (saturated, why))
}

/// A node's counter (bodies) against its interfaces (frames): never more,
/// and at least half, where the bytes matter. Below `small` (1 % of the
/// window's ingest) the frames of small messages (a `closed` line every
/// second, in a segment of its own) outweigh their bodies and only the upper
/// bound is judged.
fn agree(
    strategy: Strategy,
    node: &str,
    what: &str,
    (counter, iface): (u64, u64),
    small: u64,
) -> Agreement {
    let ratio = if iface == 0 {
        1.0
    } else {
        counter as f64 / iface as f64
    };
    Agreement {
        strategy,
        node: node.to_owned(),
        what: what.to_owned(),
        counter_bytes: counter,
        interface_bytes: iface,
        ratio,
        ok: ratio <= 1.0 && (ratio >= 0.5 || iface < small),
    }
}

pub fn percentiles(samples: &[f64]) -> Percentiles {
    Percentiles {
        n: samples.len(),
        p50: epochd_bench::stats::percentile(samples, 0.50).unwrap_or(0.0),
        p99: epochd_bench::stats::percentile(samples, 0.99).unwrap_or(0.0),
    }
}
