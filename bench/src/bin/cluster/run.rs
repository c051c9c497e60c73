//! One strategy run: on a fresh emulated cluster (or the real one given),
//! submit the jobs, subscribe, send the load, apply the faults, snapshot
//! every counter at the window's edges, then work out the figures, the
//! integrity and the timeline.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Result};
use epochd_bench::cluster::result::*;
use epochd_bench::cluster::workload::{Fault, WorkloadFile};
use epochd_store::clock::now_ms;

use crate::emulation::{Emulated, Spec};
use crate::external::{self, Costs};
use crate::integrity::{all_final, external_integrity, gateway_integrity};
use crate::load::{Load, Shared};
use crate::measure::{figures, percentiles, snapshot};
use crate::node_api::{delete_jobs, submit, wait_jobs, wait_members};
use crate::subscribe::{self, Seen};

/// What the run is.
pub struct RunSpec<'a> {
    /// Which strategy.
    pub strategy: Strategy,
    /// Nodes (a real cluster: all it has).
    pub nodes: usize,
    /// Jobs (K).
    pub jobs: usize,
    /// Subscribers per job.
    pub subscribers: usize,
    /// Seconds measured.
    pub seconds: u64,
    /// Faults (emulation only).
    pub faults: &'a [Fault],
}

/// What is shared by every run of the harness.
pub struct Context<'a> {
    pub workload: &'a WorkloadFile,
    pub epochd: &'a std::path::Path,
    pub wasm_dir: &'a std::path::Path,
    pub work: &'a std::path::Path,
    pub client: reqwest::Client,
    /// The bearer token of every request to a node.
    pub token: String,
    /// A real cluster's nodes (their client URLs); `None`: the emulation.
    pub real: Option<Vec<String>>,
    /// Runs so far: each gets its own directory and job names (two runs
    /// may have the same strategy, nodes and jobs).
    pub runs: std::sync::atomic::AtomicUsize,
}

/// A run's figures and what the report's plots need of it.
pub struct RunOutput {
    pub run: StrategyRun,
    pub latency_samples: Vec<f64>,
    pub timeline: Option<Timeline>,
    pub agreement: Vec<Agreement>,
}

pub async fn run(ctx: &Context<'_>, spec: RunSpec<'_>) -> Result<RunOutput> {
    let index = ctx.runs.fetch_add(1, Ordering::Relaxed);
    let label = format!(
        "{index}-{}-n{}-k{}",
        spec.strategy.name(),
        spec.nodes,
        spec.jobs
    );
    if let Some(urls) = &ctx.real {
        eprintln!("== {label}: on the real cluster of {} nodes", urls.len());
        if !spec.faults.is_empty() {
            bail!("faults need the emulation: the harness does not control a real cluster's nodes");
        }
        // Job names of their own, deleted after the run.
        let prefix = format!("bench{}-{index}-", now_ms() / 1000);
        let result = drive(ctx, &spec, urls, None, &prefix).await;
        let names: Vec<String> = (0..spec.jobs)
            .map(|i| format!("{prefix}{}", ctx.workload.job(i).0))
            .collect();
        if spec.strategy != Strategy::External {
            delete_jobs(&ctx.client, &urls[0], &ctx.token, &names).await?;
        }
        return result;
    }
    eprintln!("== {label}: starting {} nodes", spec.nodes);
    let dir = ctx.work.join(&label);
    std::fs::create_dir_all(&dir)?;
    let start = Spec {
        epochd: ctx.epochd.to_owned(),
        nodes: spec.nodes,
        decode_per_job: spec.strategy == Strategy::PerJobDecode,
        cpu_cores: ctx.workload.node_cpu_cores,
        dir,
        run: label,
    };
    let cluster = tokio::task::spawn_blocking(move || Emulated::start(&start)).await??;
    let urls: Vec<String> = cluster.nodes.iter().map(|n| n.url.clone()).collect();
    let cluster = Arc::new(Mutex::new(cluster));
    let result = drive(ctx, &spec, &urls, Some(&cluster), "").await;
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
    cluster: Option<&Arc<Mutex<Emulated>>>,
    prefix: &str,
) -> Result<RunOutput> {
    let client = &ctx.client;
    let token = ctx.token.as_str();
    wait_members(client, urls, token).await?;
    let jobs: Vec<(String, String)> = (0..spec.jobs)
        .map(|i| {
            let (name, kind) = ctx.workload.job(i);
            (format!("{prefix}{name}"), kind.to_owned())
        })
        .collect();
    if spec.strategy != Strategy::External {
        for (name, kind) in &jobs {
            let wasm = ctx.wasm_dir.join(format!("{kind}.wasm"));
            submit(client, &urls[0], token, name, &wasm).await?;
        }
        wait_jobs(client, urls, token, jobs.len()).await?;
    }
    // Jobs are effective from a few seconds ahead (--cluster-job-lead-secs):
    // the warm-up covers that.
    let warmup = ctx.workload.warmup.max(4);
    let start = now_ms() / 1000 + 1;
    let window = (start + warmup)..(start + warmup + spec.seconds);
    let faulted: Vec<usize> = spec.faults.iter().map(|f| f.node).collect();
    let watch_node = (0..urls.len()).find(|i| !faulted.contains(i)).unwrap_or(0);

    let seen: Seen = Arc::default();
    let mut tasks = tokio::task::JoinSet::new();
    if spec.strategy != Strategy::External {
        for (j, (name, _)) in jobs.iter().enumerate() {
            for s in 0..spec.subscribers.max(1) {
                let node = if spec.faults.is_empty() {
                    (j + s) % urls.len()
                } else {
                    watch_node
                };
                tasks.spawn(subscribe::follow(
                    client.clone(),
                    urls[node].clone(),
                    name.clone(),
                    s,
                    window.start,
                    token.to_owned(),
                    seen.clone(),
                ));
            }
        }
    }
    let alive: Arc<Vec<AtomicBool>> =
        Arc::new((0..urls.len()).map(|_| AtomicBool::new(true)).collect());
    let faults = cluster.map(|c| {
        tokio::spawn(crate::faults::apply_faults(
            spec.faults.to_vec(),
            start,
            c.clone(),
            alive.clone(),
        ))
    });
    let shared = Arc::new(Shared::default());
    let load = Load {
        urls: urls.to_vec(),
        alive: alive.clone(),
        rate: ctx.workload.rate,
        dcs: ctx.workload.dcs,
        seed: ctx.workload.seed,
        token: token.to_owned(),
    };
    // Snapshot A just before the window's first events.
    let snap_a = {
        let client = client.clone();
        let cluster = cluster.cloned();
        let urls = urls.to_vec();
        let token = token.to_owned();
        let at = window.start * 1000 - 200;
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(at.saturating_sub(now_ms()))).await;
            snapshot(&client, &urls, &token, cluster.as_ref()).await
        })
    };
    let consumers = (spec.strategy == Strategy::External).then(|| {
        let (ready_tx, ready) = tokio::sync::watch::channel(0u64);
        let watcher = external::announce_ready(
            client.clone(),
            urls.to_vec(),
            token.to_owned(),
            window.clone(),
            shared.clone(),
            ready_tx,
        );
        tasks.spawn(async move {
            // Its error shows as consumers that never finish; say it.
            if let Err(e) = watcher.await {
                eprintln!("   the readiness watcher stopped: {e:#}");
            }
        });
        spawn_consumers(client, urls, token, &jobs, window.clone(), ready)
    });
    load.run(client, start, window.end, window.clone(), &shared)
        .await;
    let snap_a = snap_a.await??;
    if let Some(faults) = faults {
        faults.await??;
    }

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
    let snap_b = snapshot(client, urls, token, cluster).await?;
    tasks.abort_all();

    let mut expected = std::mem::take(&mut *shared.expected.lock().unwrap());
    let (integrity, latency, timeline) = if spec.strategy == Strategy::External {
        external_integrity(&jobs, &mut expected, &answers, &window)
    } else {
        let seen = seen.lock().unwrap();
        gateway_integrity(&jobs, spec, &mut expected, &seen, &window)
    };
    let epochs = window.end - window.start;
    let ids: Vec<String> = match cluster {
        Some(c) => c
            .lock()
            .unwrap()
            .nodes
            .iter()
            .map(|n| n.id.clone())
            .collect(),
        None => urls.to_vec(),
    };
    let (per_node, per_epoch, agreement, saturation) = figures(
        spec,
        (&snap_a, &snap_b),
        &ids,
        cluster.is_some(),
        epochs,
        &costs,
    );
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
        latency_samples: latency,
        timeline: if spec.faults.is_empty() {
            None
        } else {
            timeline
        },
        agreement,
    })
}

/// Consumer tasks, one per job: each takes the window's epochs in order,
/// each once the cluster holds all of its events (`ready`).
#[allow(clippy::type_complexity)]
fn spawn_consumers(
    client: &reqwest::Client,
    urls: &[String],
    token: &str,
    jobs: &[(String, String)],
    window: std::ops::Range<u64>,
    ready: tokio::sync::watch::Receiver<u64>,
) -> Vec<(
    String,
    tokio::task::JoinHandle<Result<(BTreeMap<u64, external::Answer>, Costs)>>,
)> {
    jobs.iter()
        .map(|(name, kind)| {
            let client = client.clone();
            let urls = urls.to_vec();
            let kind = kind.clone();
            let window = window.clone();
            let token = token.to_owned();
            let mut ready = ready.clone();
            let handle = tokio::spawn(async move {
                let pool = external::one_thread_pool();
                let mut costs = Costs::default();
                let mut got = BTreeMap::new();
                for epoch in window {
                    ready
                        .wait_for(|r| *r >= epoch)
                        .await
                        .map_err(|_| anyhow::anyhow!("epoch {epoch} never became ready"))?;
                    let answer =
                        external::consume(&client, &urls, &token, &kind, epoch, &pool, &mut costs)
                            .await?;
                    got.insert(epoch, answer);
                }
                Ok((got, costs))
            });
            (name.clone(), handle)
        })
        .collect()
}
