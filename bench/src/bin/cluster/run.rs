//! One strategy run on a fresh emulated cluster: start it, submit the jobs,
//! subscribe, send the load, apply the faults, snapshot every counter at the
//! window's edges, then work out the figures, the integrity and the timeline.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{ensure, Context as _, Result};
use epochd_bench::cluster::netns::IfaceCounters;
use epochd_bench::cluster::result::*;
use epochd_bench::cluster::workload::{Fault, FaultKind, WorkloadFile};
use epochd_bench::prom::Metrics;
use epochd_store::clock::now_ms;

use crate::emulation::{Emulated, Spec, TOKEN};
use crate::external::{self, Costs};
use crate::load::{Load, Shared};
use crate::subscribe::{self, Seen};

/// What the run is.
pub struct RunSpec<'a> {
    pub strategy: Strategy,
    pub nodes: usize,
    pub jobs: usize,
    pub subscribers: usize,
    pub seconds: u64,
    pub faults: &'a [Fault],
}

/// What is shared by every run of the harness.
pub struct Context<'a> {
    pub workload: &'a WorkloadFile,
    pub epochd: &'a std::path::Path,
    pub wasm_dir: &'a std::path::Path,
    pub work: &'a std::path::Path,
    pub client: reqwest::Client,
    /// Runs so far: each gets its own directory (two runs may have the same
    /// strategy, nodes and jobs).
    pub runs: std::sync::atomic::AtomicUsize,
}

/// A run's figures and what the report's plots need of it.
pub struct RunOutput {
    pub run: StrategyRun,
    pub latency_samples: Vec<f64>,
    pub timeline: Option<Timeline>,
    pub agreement: Vec<Agreement>,
}

/// Everything counted at one moment.
#[derive(Clone)]
struct Snapshot {
    iface: Vec<IfaceCounters>,
    etcd_tx: u64,
    metrics: Vec<Metrics>,
    cpu: Vec<f64>,
    busy: (u64, u64),
}

pub async fn run(ctx: &Context<'_>, spec: RunSpec<'_>) -> Result<RunOutput> {
    let index = ctx.runs.fetch_add(1, Ordering::Relaxed);
    let label = format!(
        "{index}-{}-n{}-k{}",
        spec.strategy.name(),
        spec.nodes,
        spec.jobs
    );
    eprintln!("== {label}: starting {} nodes", spec.nodes);
    let dir = ctx.work.join(&label);
    std::fs::create_dir_all(&dir)?;
    let cluster = {
        let run_name = label.clone();
        let epochd = ctx.epochd.to_owned();
        let dir = dir.clone();
        let (nodes, per_job, cores) = (
            spec.nodes,
            spec.strategy == Strategy::PerJobDecode,
            ctx.workload.node_cpu_cores,
        );
        tokio::task::spawn_blocking(move || {
            Emulated::start(
                &Spec {
                    epochd: &epochd,
                    nodes,
                    decode_per_job: per_job,
                    cpu_cores: cores,
                    dir: &dir,
                },
                &run_name,
            )
        })
        .await??
    };
    let urls: Vec<String> = cluster.nodes.iter().map(|n| n.url.clone()).collect();
    let cluster = Arc::new(Mutex::new(cluster));
    let result = drive(ctx, &spec, &urls, &cluster).await;
    let cluster = Arc::into_inner(cluster).map(|m| m.into_inner().unwrap());
    if result.is_err() {
        if let Some(c) = &cluster {
            for n in &c.nodes {
                eprintln!("-- {} log:\n{}", n.id, n.log_tail(15));
            }
        }
    }
    drop(cluster);
    result
}

async fn drive(
    ctx: &Context<'_>,
    spec: &RunSpec<'_>,
    urls: &[String],
    cluster: &Arc<Mutex<Emulated>>,
) -> Result<RunOutput> {
    let client = &ctx.client;
    wait_members(client, urls).await?;
    let jobs: Vec<(String, String)> = (0..spec.jobs)
        .map(|i| {
            let (name, kind) = ctx.workload.job(i);
            (name, kind.to_owned())
        })
        .collect();
    if spec.strategy != Strategy::External {
        for (name, kind) in &jobs {
            submit(
                client,
                &urls[0],
                name,
                &ctx.wasm_dir.join(format!("{kind}.wasm")),
            )
            .await?;
        }
        wait_jobs(client, urls, jobs.len()).await?;
    }
    // Jobs are effective from a few seconds ahead (--cluster-job-lead-secs):
    // the warm-up covers that.
    let warmup = ctx.workload.warmup.max(4);
    let start = now_ms() / 1000 + 1;
    let window = (start + warmup)..(start + warmup + spec.seconds);
    let faulted: Vec<usize> = spec.faults.iter().map(|f| f.node).collect();
    let watch_node = (0..spec.nodes).find(|i| !faulted.contains(i)).unwrap_or(0);

    let seen: Seen = Arc::default();
    let mut tasks = tokio::task::JoinSet::new();
    if spec.strategy != Strategy::External {
        for (j, (name, _)) in jobs.iter().enumerate() {
            for s in 0..spec.subscribers.max(1) {
                let node = if spec.faults.is_empty() {
                    (j + s) % spec.nodes
                } else {
                    watch_node
                };
                tasks.spawn(subscribe::follow(
                    client.clone(),
                    urls[node].clone(),
                    name.clone(),
                    s,
                    window.start,
                    TOKEN.to_owned(),
                    seen.clone(),
                ));
            }
        }
    }
    let alive: Arc<Vec<AtomicBool>> =
        Arc::new((0..spec.nodes).map(|_| AtomicBool::new(true)).collect());
    let faults = tokio::spawn(apply_faults(
        spec.faults.to_vec(),
        start,
        cluster.clone(),
        alive.clone(),
    ));
    let shared = Arc::new(Shared::default());
    let load = Load {
        urls: urls.to_vec(),
        alive: alive.clone(),
        rate: ctx.workload.rate,
        dcs: ctx.workload.dcs,
        seed: ctx.workload.seed,
        token: TOKEN.to_owned(),
    };
    // Snapshot A just before the window's first events.
    let snap_a = {
        let client = client.clone();
        let cluster = cluster.clone();
        let urls = urls.to_vec();
        let at = window.start * 1000 - 200;
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(at.saturating_sub(now_ms()))).await;
            snapshot(&client, &urls, &cluster).await
        })
    };
    let consumers = (spec.strategy == Strategy::External)
        .then(|| spawn_consumers(client, urls, &jobs, window.clone(), ctx.workload));
    load.run(client, start, window.end, window.clone(), &shared)
        .await;
    let snap_a = snap_a.await??;
    faults.await??;

    // Wait for the window's answers: subscribers' complete versions, or the
    // consumers' last epoch.
    let mut answers = BTreeMap::new();
    let mut costs = Costs::default();
    let deadline = now_ms() + 90_000;
    if let Some(consumers) = consumers {
        for (job, handle) in consumers {
            let (got, c) = handle.await??;
            costs.decode_s += c.decode_s;
            costs.job_s += c.job_s;
            costs.bytes += c.bytes;
            answers.insert(job, got);
        }
    } else {
        while now_ms() < deadline && !all_final(&seen, &jobs, spec.subscribers.max(1), &window) {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        // A correction of a partial epoch comes once the node is back:
        // give the last versions a moment to land.
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    let snap_b = snapshot(client, urls, cluster).await?;
    tasks.abort_all();

    let expected = std::mem::take(&mut *shared.expected.lock().unwrap());
    let mut expected = expected;
    let (integrity, latency, timeline) = if spec.strategy == Strategy::External {
        external_integrity(&jobs, &mut expected, &answers, &window)
    } else {
        let seen = seen.lock().unwrap();
        gateway_integrity(&jobs, spec, &mut expected, &seen, &window)
    };
    let epochs = window.end - window.start;
    let (per_node, per_epoch, agreement, saturation) =
        figures(spec, &snap_a, &snap_b, cluster, epochs, &costs);
    let samples = latency.clone();
    let run = StrategyRun {
        strategy: spec.strategy,
        nodes: spec.nodes,
        jobs: spec.jobs,
        subscribers: if spec.strategy == Strategy::External {
            0
        } else {
            spec.subscribers.max(1)
        },
        first_epoch: window.start,
        epochs,
        events: shared.events.load(Ordering::Relaxed),
        per_node,
        per_epoch,
        latency_ms: percentiles(&latency),
        integrity,
        saturated: saturation.0,
        saturation: saturation.1,
    };
    eprintln!(
        "   {}: egress {:.0} B/epoch, internal {:.0} B/epoch, decode {:.4} s, jobs {:.4} s, \
         mismatches {}, missing {}",
        spec.strategy.name(),
        run.per_epoch.egress_bytes,
        run.per_epoch.internal_bytes,
        run.per_epoch.decode_cpu_s,
        run.per_epoch.job_cpu_s,
        run.integrity.mismatches,
        run.integrity.missing
    );
    let timeline = timeline.map(|mut t: Timeline| {
        t.faults = spec
            .faults
            .iter()
            .map(|f| FaultSeen {
                kind: f.kind.name().into(),
                node: format!("n{}", f.node),
                at_epoch: start + f.at,
                until_epoch: start + f.until,
            })
            .collect();
        t
    });
    Ok(RunOutput {
        run,
        latency_samples: samples,
        timeline: if spec.faults.is_empty() {
            None
        } else {
            timeline
        },
        agreement,
    })
}

/// Consumer tasks, one per job: each takes the window's epochs in order,
/// each once it is closed.
#[allow(clippy::type_complexity)]
fn spawn_consumers(
    client: &reqwest::Client,
    urls: &[String],
    jobs: &[(String, String)],
    window: std::ops::Range<u64>,
    workload: &WorkloadFile,
) -> Vec<(
    String,
    tokio::task::JoinHandle<Result<(BTreeMap<u64, external::Answer>, Costs)>>,
)> {
    let _ = workload;
    jobs.iter()
        .map(|(name, kind)| {
            let client = client.clone();
            let urls = urls.to_vec();
            let kind = kind.clone();
            let window = window.clone();
            let handle = tokio::spawn(async move {
                let pool = external::one_thread_pool();
                let mut costs = Costs::default();
                let mut got = BTreeMap::new();
                for epoch in window {
                    external::wait_closed(&client, &urls[0], TOKEN, epoch, urls.len()).await?;
                    let answer =
                        external::consume(&client, &urls, TOKEN, &kind, epoch, &pool, &mut costs)
                            .await?;
                    got.insert(epoch, answer);
                }
                Ok((got, costs))
            });
            (name.clone(), handle)
        })
        .collect()
}

async fn apply_faults(
    faults: Vec<Fault>,
    start: u64,
    cluster: Arc<Mutex<Emulated>>,
    alive: Arc<Vec<AtomicBool>>,
) -> Result<()> {
    // (time ms, fault, begins)
    let mut steps: Vec<(u64, Fault, bool)> = Vec::new();
    for f in faults {
        // Mid-second: the second's batches are acknowledged by then.
        steps.push(((start + f.at) * 1000 + 500, f.clone(), true));
        steps.push(((start + f.until) * 1000 + 500, f, false));
    }
    steps.sort_by_key(|s| s.0);
    for (at, fault, begins) in steps {
        tokio::time::sleep(Duration::from_millis(at.saturating_sub(now_ms()))).await;
        let cluster = cluster.clone();
        let alive = alive.clone();
        tokio::task::spawn_blocking(move || -> Result<()> {
            let mut c = cluster.lock().unwrap();
            match (fault.kind, begins) {
                (FaultKind::Kill, true) => {
                    alive[fault.node].store(false, Ordering::Relaxed);
                    c.nodes[fault.node].kill();
                    eprintln!("   fault: n{} killed (kill -9)", fault.node);
                }
                (FaultKind::Kill, false) => {
                    c.nodes[fault.node].restart()?;
                    alive[fault.node].store(true, Ordering::Relaxed);
                    eprintln!("   fault: n{} restarted on its data", fault.node);
                }
                (FaultKind::LinkDown, begins) => {
                    c.topology.set_cluster_link(fault.node, !begins)?;
                    eprintln!(
                        "   fault: n{} cluster link {}",
                        fault.node,
                        if begins { "down" } else { "up" }
                    );
                }
            }
            Ok(())
        })
        .await??;
    }
    Ok(())
}

async fn snapshot(
    client: &reqwest::Client,
    urls: &[String],
    cluster: &Arc<Mutex<Emulated>>,
) -> Result<Snapshot> {
    let mut metrics = Vec::new();
    for url in urls {
        let text = match client
            .get(format!("{url}/metrics"))
            .bearer_auth(TOKEN)
            .timeout(Duration::from_secs(5))
            .send()
            .await
        {
            Ok(a) => a.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        metrics.push(Metrics::parse(&text));
    }
    let c = cluster.lock().unwrap();
    let mut iface = Vec::new();
    let mut cpu = Vec::new();
    for (i, node) in c.nodes.iter().enumerate() {
        iface.push(c.counters(i)?);
        cpu.push(node.cgroup.cpu_seconds().unwrap_or(0.0));
    }
    let etcd_tx = c.etcd_tx_bytes();
    Ok(Snapshot {
        iface,
        etcd_tx,
        metrics,
        cpu,
        busy: machine_busy(),
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
fn figures(
    spec: &RunSpec<'_>,
    a: &Snapshot,
    b: &Snapshot,
    cluster: &Arc<Mutex<Emulated>>,
    epochs: u64,
    costs: &Costs,
) -> (Vec<NodeFigures>, PerEpoch, Vec<Agreement>, (bool, String)) {
    let c = cluster.lock().unwrap();
    let mut per_node = Vec::new();
    let mut agreement = Vec::new();
    let mut total = PerEpoch::default();
    for (i, node) in c.nodes.iter().enumerate() {
        let io = b.iface[i].since(&a.iface[i]);
        // A node killed in the window restarts its counters: its own
        // figures then cover its last life only.
        let own = diff(&counters(&b.metrics[i]), &counters(&a.metrics[i]));
        let f = NodeFigures {
            node: node.id.clone(),
            client_tx_bytes: io.client_tx,
            client_rx_bytes: io.client_rx,
            cluster_tx_bytes: io.cluster_tx,
            cluster_rx_bytes: io.cluster_rx,
            cpu_s: (b.cpu[i] - a.cpu[i]).max(0.0),
            peak_rss_bytes: node.earlier_peak_rss.max(node.peak_rss_now()),
            counters: own.clone(),
        };
        total.ingest_bytes += io.client_rx as f64;
        total.egress_bytes += io.client_tx as f64;
        total.internal_bytes += io.cluster_tx as f64;
        total.decode_cpu_s += own.decode_cpu_s;
        total.job_cpu_s += own.job_cpu_s;
        total.node_cpu_s += f.cpu_s;
        if spec.faults.is_empty() {
            agreement.push(agree(
                spec.strategy,
                &node.id,
                "egress",
                own.client_bytes_out,
                io.client_tx,
                0.5,
            ));
            agreement.push(agree(
                spec.strategy,
                &node.id,
                "internal",
                own.node_bytes_out + own.node_bytes_in,
                io.cluster_tx + io.cluster_rx,
                0.2,
            ));
        }
        per_node.push(f);
    }
    // etcd's answers to the nodes cross the cluster network too.
    total.internal_bytes += b.etcd_tx.saturating_sub(a.etcd_tx) as f64;
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
    let busy = (b.busy.0 - a.busy.0) as f64 / (b.busy.1 - a.busy.1).max(1) as f64;
    let throttled: u64 = c.nodes.iter().map(|n| n.cgroup.throttled_periods()).sum();
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

fn agree(
    strategy: Strategy,
    node: &str,
    what: &str,
    counter: u64,
    iface: u64,
    low: f64,
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
        ok: ratio <= 1.0 && (ratio >= low || iface < 64 * 1024),
    }
}

fn percentiles(samples: &[f64]) -> Percentiles {
    Percentiles {
        n: samples.len(),
        p50: epochd_bench::stats::percentile(samples, 0.50).unwrap_or(0.0),
        p99: epochd_bench::stats::percentile(samples, 0.99).unwrap_or(0.0),
    }
}

fn all_final(
    seen: &Seen,
    jobs: &[(String, String)],
    subs: usize,
    window: &std::ops::Range<u64>,
) -> bool {
    let seen = seen.lock().unwrap();
    jobs.iter().all(|(name, _)| {
        (0..subs).all(|s| {
            seen.get(&(name.clone(), s)).is_some_and(|epochs| {
                window.clone().all(|e| {
                    epochs
                        .get(&e)
                        .and_then(|v| v.last())
                        .is_some_and(|g| g.complete)
                })
            })
        })
    })
}

type Checked = (Integrity, Vec<f64>, Option<Timeline>);

fn gateway_integrity(
    jobs: &[(String, String)],
    spec: &RunSpec<'_>,
    expected: &mut BTreeMap<u64, crate::reference::Expected>,
    seen: &BTreeMap<(String, usize), BTreeMap<u64, Vec<subscribe::Got>>>,
    window: &std::ops::Range<u64>,
) -> Checked {
    let mut integrity = Integrity::default();
    let mut latency = Vec::new();
    let mut timeline = Timeline {
        faults: Vec::new(),
        job: jobs.first().map(|j| j.0.clone()).unwrap_or_default(),
        epochs: Vec::new(),
    };
    for (name, kind) in jobs {
        for s in 0..spec.subscribers.max(1) {
            let got = seen.get(&(name.clone(), s));
            for epoch in window.clone() {
                integrity.expected += 1;
                let versions = got.and_then(|g| g.get(&epoch)).cloned().unwrap_or_default();
                let Some(want) = expected.get_mut(&epoch) else {
                    integrity.missing += 1;
                    continue;
                };
                if versions.first().is_some_and(|v| !v.complete) {
                    integrity.partial += 1;
                    if versions.last().is_some_and(|v| v.complete) {
                        integrity.corrected += 1;
                    }
                }
                for v in &versions {
                    // A complete version must be right; a partial one must
                    // say who is missing.
                    if v.complete && want.check(kind, &v.merged).is_err() {
                        integrity.silently_short += 1;
                    }
                    if !v.complete && v.missing.is_empty() {
                        integrity.silently_short += 1;
                    }
                }
                match versions.iter().rev().find(|v| v.complete) {
                    None => integrity.missing += 1,
                    Some(last) => {
                        integrity.compared += 1;
                        if let Err(why) = want.check(kind, &last.merged) {
                            integrity.mismatches += 1;
                            if integrity.examples.len() < 5 {
                                integrity
                                    .examples
                                    .push(format!("{name} epoch {epoch}: {why}"));
                            }
                        }
                        let first = versions.iter().find(|v| v.complete).unwrap_or(last);
                        if versions.len() == 1 {
                            latency
                                .push(first.received_ms.saturating_sub(first.committed_ms) as f64);
                        }
                    }
                }
                if *name == timeline.job && s == 0 {
                    let final_matches = versions
                        .last()
                        .is_some_and(|v| v.complete && want.check(kind, &v.merged).is_ok());
                    timeline.epochs.push(TimelineEpoch {
                        epoch,
                        versions: versions
                            .iter()
                            .map(|v| VersionSeen {
                                version: v.version,
                                complete: v.complete,
                                after_ms: v.received_ms as i64 - ((epoch + 1) * 1000) as i64,
                                parts_received: v.parts.0,
                                parts_expected: v.parts.1,
                                missing: v.missing.clone(),
                            })
                            .collect(),
                        final_matches,
                    });
                }
            }
        }
    }
    latency.sort_by(f64::total_cmp);
    (integrity, latency, Some(timeline))
}

fn external_integrity(
    jobs: &[(String, String)],
    expected: &mut BTreeMap<u64, crate::reference::Expected>,
    answers: &BTreeMap<String, BTreeMap<u64, external::Answer>>,
    window: &std::ops::Range<u64>,
) -> Checked {
    let mut integrity = Integrity::default();
    let mut latency = Vec::new();
    for (name, kind) in jobs {
        for epoch in window.clone() {
            integrity.expected += 1;
            let (Some(want), Some(answer)) = (
                expected.get(&epoch),
                answers.get(name).and_then(|a| a.get(&epoch)),
            ) else {
                integrity.missing += 1;
                continue;
            };
            integrity.compared += 1;
            let verdict = answer
                .summary
                .as_ref()
                .map_err(Clone::clone)
                .and_then(|s| want.check_summary(kind, s));
            if let Err(why) = verdict {
                integrity.mismatches += 1;
                if integrity.examples.len() < 5 {
                    integrity
                        .examples
                        .push(format!("{name} epoch {epoch}: {why}"));
                }
            }
            latency.push(answer.done_ms.saturating_sub((epoch + 1) * 1000) as f64);
        }
    }
    latency.sort_by(f64::total_cmp);
    (integrity, latency, None)
}

async fn wait_members(client: &reqwest::Client, urls: &[String]) -> Result<()> {
    let deadline = now_ms() + 60_000;
    for url in urls {
        loop {
            let live = match client
                .get(format!("{url}/v1/cluster"))
                .bearer_auth(TOKEN)
                .send()
                .await
            {
                Ok(a) => a
                    .json::<serde_json::Value>()
                    .await
                    .ok()
                    .and_then(|v| {
                        v["nodes"]
                            .as_array()
                            .map(|n| n.iter().filter(|x| x["state"] == "live").count())
                    })
                    .unwrap_or(0),
                Err(_) => 0,
            };
            if live == urls.len() {
                break;
            }
            ensure!(
                now_ms() < deadline,
                "{url}: not every node joined within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(())
}

async fn submit(
    client: &reqwest::Client,
    url: &str,
    name: &str,
    wasm: &std::path::Path,
) -> Result<()> {
    let bytes = std::fs::read(wasm)
        .with_context(|| format!("{}: build the jobs first (wasm-jobs/build)", wasm.display()))?;
    let manifest = serde_json::json!({ "name": name }).to_string();
    let form = reqwest::multipart::Form::new()
        .text("manifest", manifest)
        .part("wasm", reqwest::multipart::Part::bytes(bytes));
    let answer = client
        .post(format!("{url}/v1/jobs"))
        .bearer_auth(TOKEN)
        .multipart(form)
        .send()
        .await?;
    ensure!(
        answer.status().is_success(),
        "job {name} refused: {}",
        answer.text().await?
    );
    Ok(())
}

async fn wait_jobs(client: &reqwest::Client, urls: &[String], jobs: usize) -> Result<()> {
    let deadline = now_ms() + 120_000;
    for url in urls {
        loop {
            let n = match client
                .get(format!("{url}/v1/jobs"))
                .bearer_auth(TOKEN)
                .send()
                .await
            {
                Ok(a) => a
                    .json::<serde_json::Value>()
                    .await
                    .ok()
                    .and_then(|v| v["jobs"].as_array().map(Vec::len))
                    .unwrap_or(0),
                Err(_) => 0,
            };
            if n >= jobs {
                break;
            }
            ensure!(
                now_ms() < deadline,
                "{url}: {n} of {jobs} jobs arrived within 120 s"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    Ok(())
}
