//! The cluster benchmark harness (docs/BENCHMARKS.md, "Cluster: the three
//! strategies"): on one machine, etcd and N epochd nodes, each in its own
//! network namespace and cgroup, run a workload file three ways on the same
//! events — near-data (epochd), per-job decode on the nodes (the MapReduce
//! way) and external processing — and report Booking's part-3 table
//! measured, a computed table scaled to Booking's setting, a K sweep, the
//! latency by cluster size and a fault's timeline, as JSON, Markdown and
//! SVG plots. Exits 1 if an invariant failed.
//!
//! `bench/cluster` builds what it needs and runs this; `--report FILE`
//! renders a kept result again.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use clap::Parser;
use epochd_bench::cluster::result::*;
use epochd_bench::cluster::workload::WorkloadFile;
use epochd_bench::cluster::{plot, report};

mod checks;
mod emulation;
mod external;
mod faults;
mod integrity;
mod load;
mod measure;
mod node_api;
mod reference;
mod run;
mod subscribe;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(about = "The cluster benchmark: near-data vs per-job decode vs external, on N nodes")]
struct Args {
    /// The workload file (JSON; fields: bench/workloads/README.md).
    #[arg(long, default_value = "bench/workloads/reference.json")]
    workload: PathBuf,
    /// Where result.json, report.md and the plots go.
    #[arg(long, default_value = "bench/out/cluster")]
    out: PathBuf,
    /// The epochd binary.
    #[arg(long, env = "EPOCHD_BIN")]
    epochd: Option<PathBuf>,
    /// Where the job modules are (default wasm-jobs/out).
    #[arg(long)]
    wasm_dir: Option<PathBuf>,
    /// Render the report and plots of a kept result.json instead of running.
    #[arg(long)]
    report: Option<PathBuf>,
    /// A real cluster instead of the emulation: its nodes' API URLs,
    /// comma-separated (every node of the cluster). The harness reads the
    /// nodes' own counters from /metrics; faults and the latency runs by
    /// cluster size need the emulation and are skipped.
    #[arg(long, value_delimiter = ',')]
    nodes: Vec<String>,
    /// The real cluster's admin token (jobs, raw reads, metrics).
    #[arg(long, env = "EPOCHD_TOKEN")]
    token: Option<String>,
    /// The strategies to run (near-data, per-job-decode, external). Default:
    /// all three on the emulation; near-data and external on a real cluster
    /// (per-job decode needs its nodes started with --decode-per-job).
    #[arg(long, value_delimiter = ',')]
    strategies: Vec<String>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    if let Some(kept) = &args.report {
        let text =
            std::fs::read_to_string(kept).with_context(|| format!("reading {}", kept.display()))?;
        let result: RunResult = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a cluster harness result", kept.display()))?;
        write_outputs(&result, &args.out)?;
        return Ok(());
    }
    epochd_bench::run_async("cluster-bench", harness(args))
}

async fn harness(args: Args) -> Result<bool> {
    let mut workload = WorkloadFile::read(&args.workload)?;
    let real = (!args.nodes.is_empty()).then(|| {
        args.nodes
            .iter()
            .map(|u| u.trim_end_matches('/').to_owned())
            .collect::<Vec<_>>()
    });
    let token = match (&real, &args.token) {
        (None, _) => emulation::TOKEN.to_owned(),
        (Some(_), Some(t)) => t.clone(),
        (Some(_), None) => {
            anyhow::bail!("a real cluster needs its admin token: --token TOKEN (or EPOCHD_TOKEN)")
        }
    };
    if let Some(urls) = &real {
        // The cluster is what it is: its size, no faults, no resizing.
        workload.nodes = urls.len();
        workload.faults.clear();
        workload.latency_nodes.clear();
    }
    let strategies = strategies(&args.strategies, real.is_some())?;
    let epochd = args.epochd.clone().unwrap_or_else(|| {
        let release = epochd_bench::node::default_epochd();
        if release.is_file() {
            release
        } else {
            release.with_file_name("../debug/epochd")
        }
    });
    let wasm_dir = args
        .wasm_dir
        .clone()
        .unwrap_or_else(epochd_bench::wasm_out_dir);
    let work = tempfile::Builder::new()
        .prefix("epochd-cluster-bench-")
        .tempdir()?;
    let ctx = run::Context {
        workload: &workload,
        epochd: &epochd,
        wasm_dir: &wasm_dir,
        work: work.path(),
        client: reqwest::Client::builder()
            .pool_idle_timeout(std::time::Duration::from_secs(5))
            .build()?,
        token,
        real: real.clone(),
        runs: Default::default(),
    };
    let load_before = epochd_bench::procfs::loadavg().unwrap_or_default();
    let started_at_ms = epochd_store::clock::now_ms();
    let mut main_runs = Vec::new();
    let mut agreement = Vec::new();
    for &strategy in &strategies {
        let out = run::run(
            &ctx,
            run::RunSpec {
                strategy,
                nodes: workload.nodes,
                jobs: workload.jobs,
                subscribers: workload.subscribers,
                seconds: workload.seconds,
                faults: &[],
            },
        )
        .await?;
        agreement.extend(out.agreement);
        main_runs.push(out.run);
    }
    let mut sweep = Vec::new();
    for &k in &workload.sweep_jobs {
        for &strategy in &strategies {
            let out = run::run(
                &ctx,
                run::RunSpec {
                    strategy,
                    nodes: workload.nodes,
                    jobs: k,
                    subscribers: 1,
                    seconds: workload.sweep_seconds,
                    faults: &[],
                },
            )
            .await?;
            sweep.push(out.run);
        }
    }
    let mut latency = Vec::new();
    for &n in &workload.latency_nodes {
        let out = run::run(
            &ctx,
            run::RunSpec {
                strategy: Strategy::NearData,
                nodes: n,
                jobs: workload.latency_jobs,
                subscribers: 1,
                seconds: workload.latency_seconds,
                faults: &[],
            },
        )
        .await?;
        latency.push(LatencyRun {
            nodes: n,
            latency_ms: out.run.latency_ms.clone(),
            samples_ms: out.latency_samples,
        });
    }
    let mut timeline = None;
    let mut timeline_run = None;
    if !workload.faults.is_empty() {
        let out = run::run(
            &ctx,
            run::RunSpec {
                strategy: Strategy::NearData,
                nodes: workload.nodes,
                jobs: workload.latency_jobs,
                subscribers: 1,
                seconds: workload.timeline_seconds,
                faults: &workload.faults,
            },
        )
        .await?;
        timeline = out.timeline;
        timeline_run = Some(out.run);
    }
    let mut result = RunResult {
        format: FORMAT,
        started_at_ms,
        machine: Machine {
            cores: epochd_bench::cores(),
            load_before,
            load_after: epochd_bench::procfs::loadavg().unwrap_or_default(),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
                .to_owned(),
            epochd_build: if real.is_some() {
                "the real cluster's own".into()
            } else {
                build_of(&epochd)
            },
        },
        mode: if real.is_some() {
            "real-cluster".into()
        } else {
            "namespaces".into()
        },
        workload: workload.clone(),
        main: main_runs,
        sweep,
        latency,
        timeline,
        agreement,
        checks: Vec::new(),
    };
    result.checks = checks::checks(&result, timeline_run.as_ref());
    write_outputs(&result, &args.out)?;
    let failed: Vec<&Check> = result.checks.iter().filter(|c| !c.ok).collect();
    for c in &result.checks {
        eprintln!(
            "{} {}: {}",
            if c.ok { "PASS" } else { "FAIL" },
            c.name,
            c.detail
        );
    }
    Ok(failed.is_empty())
}

/// The strategies asked for, in the report's order.
fn strategies(names: &[String], real: bool) -> Result<Vec<Strategy>> {
    if names.is_empty() {
        return Ok(if real {
            vec![Strategy::External, Strategy::NearData]
        } else {
            Strategy::ALL.to_vec()
        });
    }
    let mut out = Vec::new();
    for name in names {
        let Some(s) = Strategy::ALL.into_iter().find(|s| s.name() == name) else {
            anyhow::bail!(
                "--strategies: {name:?} is not a strategy (near-data, per-job-decode, external)"
            );
        };
        out.push(s);
    }
    Ok(Strategy::ALL
        .into_iter()
        .filter(|s| out.contains(s))
        .collect())
}

/// `release` or `debug`, from the binary's directory.
fn build_of(epochd: &Path) -> String {
    let dir = epochd.canonicalize().ok().and_then(|p| {
        p.parent()
            .and_then(|d| d.file_name())
            .map(|n| n.to_string_lossy().into_owned())
    });
    dir.unwrap_or_else(|| "unknown".into())
}

/// result.json, report.md and the plots under `out`.
fn write_outputs(result: &RunResult, out: &Path) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    std::fs::write(out.join("result.json"), serde_json::to_vec_pretty(result)?)?;
    let plots = plot::plots(result);
    let mut embedded = Vec::new();
    for p in &plots {
        std::fs::write(out.join(&p.file), &p.svg)?;
        embedded.push((p.title.clone(), p.file.clone()));
    }
    std::fs::write(out.join("report.md"), report::markdown(result, &embedded))?;
    eprintln!(
        "wrote {}/result.json, report.md and {} plots",
        out.display(),
        plots.len()
    );
    Ok(())
}
