//! Subscribers: a real node (`epochd serve`, a child process, with demo traffic)
//! and N concurrent SSE subscribers of its jobs' live results on loopback. Does
//! every subscriber receive every epoch, in order, and how long from an epoch's
//! commit to its last subscriber?
//!
//! `cargo run --release -p epochd-bench --bin subscribers -- [--subscribers 200]
//! [--seconds 30] [--rate 2000] [--jobs count,latency,error-rate]`
//!
//! Build the node and the jobs first: `cargo build --release -p epochd` and
//! `wasm-jobs/build`. The node runs as `epochd serve --no-auth --listen 127.0.0.1:0
//! --data <tmp> --jobs-dir <tmp with the jobs' .wasm> --demo-rate RATE`: the demo
//! traffic is generated inside the node (no third process on the machine). The
//! subscribers (round-robin over the jobs) read `GET /v1/jobs/{job}/results/stream`
//! with reqwest on this process's tokio runtime and parse SSE by hand; each records,
//! per `epoch` event, its receive time and the event's `committed_at_ms` and
//! `emitted_at_ms`. After a warm-up, the epochs of `--seconds` whole seconds are
//! measured; then the benchmark waits for them to arrive everywhere, stops, and
//! checks the streams against each other and against the node's storage (range
//! queries). A violation exits with status 1. See docs/BENCHMARKS.md.

// The allocator epochd itself runs with (the node is its own process; this is for
// the subscribers).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod check;
mod node;
mod report;
mod sse;
mod subscriber;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use clap::Parser;
use serde::Deserialize;
use tokio::sync::watch;

use crate::check::{Stored, Window};
use crate::node::NodeOptions;
use crate::subscriber::{now_ms, Progress, Record};
use epochd_bench::node::Node;
use epochd_bench::procfs::{self, ProcCpu};

/// N concurrent SSE subscribers of a real node's live results: completeness,
/// order, and commit → last subscriber latency.
#[derive(Debug, Parser)]
#[command(version, long_about = None)]
pub struct Args {
    /// Concurrent SSE subscribers, spread round-robin over the jobs.
    #[arg(long, default_value_t = 200)]
    subscribers: usize,
    /// Measured seconds (epochs), after the warm-up.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// Generated events per second (the node's `--demo-rate`).
    #[arg(long, default_value_t = 2000)]
    rate: u32,
    /// The jobs to register and subscribe to (NAME.wasm of --wasm-dir).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "count,latency,error-rate"
    )]
    jobs: Vec<String>,
    /// Least warm-up, seconds, after every subscriber has its first epoch (not
    /// measured).
    #[arg(long, default_value_t = 5)]
    warmup: u64,
    /// The `epochd` binary (default: target/release/epochd of this workspace).
    #[arg(long, env = "EPOCHD_BIN", default_value_os_t = epochd_bench::node::default_epochd())]
    epochd: PathBuf,
    /// Where the reference jobs' `.wasm` files are (built by wasm-jobs/build).
    #[arg(long, default_value_os_t = epochd_bench::wasm_out_dir())]
    wasm_dir: PathBuf,
    /// Directory for the node's temporary data (default: the system's temp dir).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Pass `--stream-settle-ms` to the node (default: the node's own, 2000).
    #[arg(long)]
    stream_settle_ms: Option<u64>,
    /// Pass `--no-cgroups` to the node (it runs uncapped anyway when it cannot set
    /// up cgroups, and says so in its log).
    #[arg(long)]
    no_cgroups: bool,
}

fn main() -> Result<()> {
    let args = Args::parse();
    ensure!(args.subscribers > 0, "--subscribers must be at least 1");
    ensure!(args.seconds > 0, "--seconds must be at least 1");
    ensure!(
        args.rate > 0,
        "--rate must be at least 1: no traffic, no epochs"
    );
    ensure!(
        !args.jobs.is_empty(),
        "--jobs must name at least one job, e.g. --jobs count,latency,error-rate"
    );
    epochd_bench::run_async("subscribers", run(&args))
}

/// Sleeps until the wall clock reads `unix_ms`.
async fn sleep_until_ms(unix_ms: f64) {
    let left = unix_ms - now_ms();
    if left > 0.0 {
        tokio::time::sleep(Duration::from_secs_f64(left / 1000.0)).await;
    }
}

/// A metric of the node's `/metrics` (the first line of that name).
async fn metric(client: &reqwest::Client, url: &str, name: &str) -> Option<f64> {
    let text = client
        .get(format!("{url}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

#[derive(Deserialize)]
struct JobList {
    jobs: Vec<JobName>,
}

#[derive(Deserialize)]
struct JobName {
    name: String,
}

#[derive(Deserialize)]
struct Range {
    epochs: Vec<RangeEpoch>,
}

#[derive(Deserialize)]
struct RangeEpoch {
    epoch: u64,
    results: Vec<serde::de::IgnoredAny>,
}

/// Every stored epoch of `job` in `from..=to`, with its number of results.
async fn stored(
    client: &reqwest::Client,
    url: &str,
    job: &str,
    from: u64,
    to: u64,
) -> Result<Stored> {
    let mut out = Stored::new();
    let mut lo = from;
    while lo <= to {
        let hi = to.min(lo + 3599);
        let range: Range = client
            .get(format!("{url}/v1/jobs/{job}/results?from={lo}&to={hi}"))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        out.extend(range.epochs.into_iter().map(|e| (e.epoch, e.results.len())));
        lo = hi + 1;
    }
    Ok(out)
}

/// The node's CPU, this process's CPU and the node's counters at one moment.
struct Snapshot {
    at: Instant,
    node: ProcCpu,
    bench: ProcCpu,
    events: Option<f64>,
    commits: Option<f64>,
}

async fn snapshot(client: &reqwest::Client, node: &Node) -> Snapshot {
    let at = Instant::now();
    let node_cpu = ProcCpu::of(node.pid);
    let bench = ProcCpu::of(std::process::id());
    Snapshot {
        at,
        node: node_cpu,
        bench,
        events: metric(client, &node.url, "epochd_store_events_accepted_total").await,
        commits: metric(client, &node.url, "epochd_store_commits_total").await,
    }
}

/// Waits for `what` (checked every 100 ms) at most `secs`, failing early if the
/// node exits.
async fn wait_for(
    node: &mut Node,
    secs: u64,
    what: &str,
    mut done: impl FnMut() -> bool,
) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done() {
        if let Some(status) = node.exited() {
            bail!(
                "the node exited ({status}) while waiting for {what}; its log ends with:\n{}",
                node.log_tail(20)
            );
        }
        if Instant::now() > deadline {
            bail!(
                "timed out after {secs} s waiting for {what}; the node's log ends with:\n{}",
                node.log_tail(20)
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

async fn run(args: &Args) -> Result<bool> {
    let root = args.dir.clone().unwrap_or_else(std::env::temp_dir);
    let mut node = node::start(&NodeOptions {
        epochd: &args.epochd,
        wasm_dir: &args.wasm_dir,
        jobs: &args.jobs,
        root: &root,
        rate: args.rate,
        settle_ms: args.stream_settle_ms,
        no_cgroups: args.no_cgroups,
    })?;
    eprintln!(
        "node {} (pid {}) started: {} --demo-rate {}",
        node.url,
        node.pid,
        args.epochd.display(),
        args.rate
    );
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .build()?;

    // The jobs of --jobs-dir are registered before the node listens; check anyway.
    let list: JobList = client
        .get(format!("{}/v1/jobs", node.url))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await
        .context("listing the node's jobs")?;
    for job in &args.jobs {
        ensure!(
            list.jobs.iter().any(|j| &j.name == job),
            "the node did not register job {job}; its log ends with:\n{}",
            node.log_tail(20)
        );
    }
    if node.log_count("CPU CAPS UNAVAILABLE", None) > 0 {
        eprintln!("note: the node runs without CPU caps (cgroups unavailable here; see its log)");
    }

    // The subscribers.
    let n = args.subscribers;
    let progress = Arc::new(Progress::new(n));
    let (stop, stopped) = watch::channel(false);
    let started = Instant::now();
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            tokio::spawn(subscriber::run(
                client.clone(),
                node.url.clone(),
                args.jobs[i % args.jobs.len()].clone(),
                i,
                progress.clone(),
                stopped.clone(),
            ))
        })
        .collect();
    let p = progress.clone();
    wait_for(&mut node, 60, "every subscriber's stream to open", || {
        p.connected.load(std::sync::atomic::Ordering::Relaxed) == n
    })
    .await?;
    eprintln!(
        "{n} subscribers connected in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    wait_for(&mut node, 60, "every subscriber's first epoch", || {
        p.min_last_epoch() > 0
    })
    .await?;
    eprintln!(
        "every subscriber has its first epoch after {:.1} s; warming up {} s more",
        started.elapsed().as_secs_f64(),
        args.warmup
    );
    tokio::time::sleep(Duration::from_secs(args.warmup)).await;

    // The window: the epochs of the next `seconds` whole seconds. The counters are
    // read half a second into the first and past the last second (the demo traffic
    // ingests each second's batch as the second starts).
    let from = (now_ms() / 1000.0).ceil() as u64;
    let window = Window {
        from,
        to: from + args.seconds,
    };
    sleep_until_ms(from as f64 * 1000.0 + 500.0).await;
    let before = snapshot(&client, &node).await;
    eprintln!(
        "measuring epochs {}..={} ({} s)",
        window.from,
        window.to - 1,
        args.seconds
    );
    let mut second = 0;
    while second < args.seconds {
        let step = 10.min(args.seconds - second);
        second += step;
        sleep_until_ms((from + second) as f64 * 1000.0 + 500.0).await;
        if let Some(status) = node.exited() {
            bail!(
                "the node exited ({status}) during the run; its log ends with:\n{}",
                node.log_tail(20)
            );
        }
        eprintln!(
            "  +{second} s: every subscriber has epoch {} (now {})",
            p.min_last_epoch(),
            (now_ms() / 1000.0) as u64
        );
    }
    let after = snapshot(&client, &node).await;
    let node_rss = procfs::memory(node.pid).unwrap_or_default();
    let node_subscribers = metric(&client, &node.url, "epochd_daemon_subscribers").await;

    // Drain: the window's last epoch commits a second or more after it ends.
    let last = window.to - 1;
    let drained = wait_for(&mut node, 30, "the window's last epoch everywhere", || {
        p.min_last_epoch() >= last
    })
    .await;
    if let Err(e) = &drained {
        eprintln!("{e:#}");
    }
    stop.send_replace(true);
    let mut records: Vec<Record> = Vec::with_capacity(n);
    for task in tasks {
        records.push(task.await.context("a subscriber task panicked")?);
    }

    // What storage has, over every epoch any subscriber saw (and the window).
    let mut stored_by_job: HashMap<String, Stored> = HashMap::new();
    for job in &args.jobs {
        let seen = records
            .iter()
            .filter(|r| &r.job == job)
            .flat_map(|r| r.deliveries.iter().map(|d| d.epoch));
        let lo = seen.clone().min().unwrap_or(window.from).min(window.from);
        let hi = seen.max().unwrap_or(last).max(last);
        stored_by_job.insert(
            job.clone(),
            stored(&client, &node.url, job, lo, hi)
                .await
                .with_context(|| format!("reading {job}'s stored results"))?,
        );
    }
    let late_commits = node.log_count("commit received", Some("seq=0"));
    match node.stop() {
        Ok(status) if status.success() => {}
        Ok(status) => eprintln!("note: the node exited with {status} on SIGTERM"),
        Err(e) => eprintln!("note: {e:#}"),
    }

    let checks = check::check(&records, &stored_by_job, window);
    println!();
    for v in checks.violations.iter().take(30) {
        println!("VIOLATION: {v}");
    }
    if checks.violations.len() > 30 {
        println!("... and {} more violations", checks.violations.len() - 30);
    }
    for (job, jc) in &checks.jobs {
        if !jc.empty.is_empty() {
            println!(
                "note: {job}: {} measured epochs have no stored results (not sent, rightly): {:?}",
                jc.empty.len(),
                jc.empty
            );
        }
        for (epoch, sent, now) in &jc.partial {
            println!(
                "note: {job}: epoch {epoch} was sent with {sent} results; storage has {now} \
                 (the rest came as `late` events)"
            );
        }
    }
    if let Some(r) = records.first() {
        for (epoch, results) in &r.late {
            println!(
                "note: subscriber {} ({}): `late` event for epoch {epoch}{}: {results:?}",
                r.id,
                r.job,
                if window.contains(*epoch) {
                    " (measured)"
                } else {
                    ""
                }
            );
        }
    }
    for r in &records {
        for e in r.errors.iter().take(3) {
            println!("note: subscriber {} ({}): {e}", r.id, r.job);
        }
        for e in r.ends.iter().take(3) {
            println!("note: subscriber {} ({}): `end` event: {e}", r.id, r.job);
        }
    }
    if late_commits > 0 {
        println!(
            "note: the node received {late_commits} commits of late events (seq ≥ 1, its log)"
        );
    }
    if drained.is_err() {
        println!("note: the window's last epoch did not reach every subscriber within 30 s");
    }
    println!();
    report::print(
        &report::Run {
            subscribers: n,
            node_subscribers,
            jobs: &args.jobs,
            rate: args.rate,
            window,
            seconds: after.at.duration_since(before.at).as_secs_f64(),
            events: after.events.zip(before.events).map(|(a, b)| a - b),
            commits: after.commits.zip(before.commits).map(|(a, b)| a - b),
            node_cpu: after.node.since(before.node),
            bench_cpu: after.bench.since(before.bench),
            node_rss,
            settle_ms: args.stream_settle_ms,
        },
        &records,
        &checks,
    );
    Ok(checks.violations.is_empty())
}
