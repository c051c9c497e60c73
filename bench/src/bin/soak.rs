//! Soak: a real node (`epochd serve`, a child process) under steady load for a long
//! time, with the reference jobs and hostile ones (spinning, memory-bombing, trapping,
//! emitting near-maximal results) registered over the HTTP jobs API. Does anything
//! grow without bound (memory, descriptors, the daemon's database, the data
//! directory), do the reference jobs keep up, and does the `count` job count every
//! acknowledged event?
//!
//! `cargo run --release -p epochd-bench --bin soak -- --minutes 30 [--sample-secs 30]
//! [--rate 2000] [--resume-hostile-every-secs 60] [--dcs ams4,lhr4] [--retention-secs 300]`
//!
//! Build the node first: `cargo build --release -p epochd` (the jobs are built with
//! `wasm-jobs/build` when a module is missing). The node runs as `epochd serve
//! --no-auth --listen 127.0.0.1:0 --data <tmp>/data` with no jobs; the jobs are
//! submitted with `POST /v1/jobs`. This process sends the reference workload (two dcs
//! by default) at `--rate` events/s, samples the node every `--sample-secs` (one table
//! row each) and resumes the hostile jobs the daemon paused every
//! `--resume-hostile-every-secs`, so they keep failing all run long. At the end it
//! prints a summary and checks the `count` job's results against the acknowledged
//! events, per (epoch, dc); a mismatch exits with status 1. See docs/BENCHMARKS.md.

// The allocator epochd itself runs with (the node is its own process; this is for the
// load and the sampling).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use clap::Parser;
use epochd_bench::load::{self, now_ms, LoadOptions, LoadStats};
use epochd_bench::node::{self, Node};
use epochd_bench::procfs;
use epochd_bench::prom::Metrics;
use epochd_bench::stats::percentile;
use epochd_bench::{Align, Table};
use serde_json::{json, Value};
use tokio::sync::watch;

/// A long run of a real node under load, with hostile jobs: growth, delay, integrity.
#[derive(Debug, Parser)]
#[command(version, long_about = None)]
struct Args {
    /// How long to run the load, minutes (fractions allowed: 0.5 is 30 s).
    #[arg(long, default_value_t = 30.0)]
    minutes: f64,
    /// Seconds between two samples (table rows).
    #[arg(long, default_value_t = 30)]
    sample_secs: u64,
    /// Events per second.
    #[arg(long, default_value_t = 2000)]
    rate: u32,
    /// Seconds between two rounds of resuming the hostile jobs the daemon paused (0:
    /// never resume them).
    #[arg(long, default_value_t = 60)]
    resume_hostile_every_secs: u64,
    /// Data centers of the load, equally weighted.
    #[arg(long, value_delimiter = ',', default_value = "ams4,lhr4")]
    dcs: Vec<String>,
    /// Events per ingest request.
    #[arg(long, default_value_t = 500)]
    batch_events: usize,
    /// The `epochd` binary (default: target/release/epochd of this workspace).
    #[arg(long, env = "EPOCHD_BIN", default_value_os_t = node::default_epochd())]
    epochd: PathBuf,
    /// Where the jobs' `.wasm` files are (built by wasm-jobs/build).
    #[arg(long, default_value_os_t = epochd_bench::wasm_out_dir())]
    wasm_dir: PathBuf,
    /// Directory for the node's temporary data (default: the system's temp dir).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Pass `--no-cgroups` to the node.
    #[arg(long)]
    no_cgroups: bool,
    /// The node's retention of epochs and of results, seconds. Short by default, so
    /// that within a 30-minute run the data directory and the daemon's database reach
    /// the size where retention deletes as much as comes in: a size still rising at
    /// the end is then growth, not retention not yet reached.
    #[arg(long, default_value_t = 300)]
    retention_secs: u64,
}

/// The reference jobs: their delay is measured, `count` checks integrity.
const REFERENCE: [&str; 3] = ["count", "latency", "error-rate"];

/// `huge-result`'s maximum result size, and what it is told to emit: just under the
/// cap, so every run succeeds and stores ~64 KB per commit (the daemon's database
/// growth a misbehaving but legal job causes), and it is never paused for it.
const HUGE_MAX_RESULT_BYTES: u64 = 65_536;
const HUGE_RESULT_BYTES: u64 = HUGE_MAX_RESULT_BYTES - 64;

/// Hostile jobs and their manifests. The others keep the defaults (1 s deadline,
/// 64 MiB memory): they fail the way a bad job would under the node's real limits.
fn hostile() -> Vec<(&'static str, Value)> {
    vec![
        ("spin", json!({"name": "spin"})),
        ("memory-bomb", json!({"name": "memory-bomb"})),
        (
            "huge-result",
            json!({"name": "huge-result", "max_result_bytes": HUGE_MAX_RESULT_BYTES,
                   "config": HUGE_RESULT_BYTES.to_string()}),
        ),
        ("trap", json!({"name": "trap"})),
    ]
}

/// Results older than this many seconds that have not come are counted missing (the
/// sample's delays then leave them out rather than wait forever).
const GIVE_UP_SECS: u64 = 120;

fn main() -> Result<()> {
    let args = Args::parse();
    ensure!(
        args.minutes > 0.0 && args.minutes.is_finite(),
        "--minutes must be more than 0, e.g. 0.5"
    );
    ensure!(args.sample_secs > 0, "--sample-secs must be at least 1");
    ensure!(
        args.rate > 0,
        "--rate must be at least 1: no events, no epochs"
    );
    ensure!(!args.dcs.is_empty(), "--dcs must name at least one dc");
    ensure!(
        args.retention_secs >= 2 * COUNT_AFTER_SECS + args.sample_secs,
        "--retention-secs must be at least {} (twice {COUNT_AFTER_SECS} s plus --sample-secs): \
         the count job's results are read {COUNT_AFTER_SECS} s after their epoch, at each sample",
        2 * COUNT_AFTER_SECS + args.sample_secs
    );
    ensure_modules(&args.wasm_dir)?;
    epochd_bench::run_async("soak", run(&args))
}

/// Every module the soak submits, built with `wasm-jobs/build` if one is missing
/// from the default directory.
fn ensure_modules(dir: &Path) -> Result<()> {
    let names: Vec<&str> = REFERENCE
        .into_iter()
        .chain(hostile().into_iter().map(|(n, _)| n))
        .collect();
    let missing = |d: &Path| names.iter().any(|n| !d.join(format!("{n}.wasm")).is_file());
    if !missing(dir) {
        return Ok(());
    }
    ensure!(
        *dir == epochd_bench::wasm_out_dir(),
        "a job module is missing from {}: build them with wasm-jobs/build",
        dir.display()
    );
    let build = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../wasm-jobs/build");
    eprintln!("building the job modules: {}", build.display());
    let status = std::process::Command::new(&build)
        .status()
        .with_context(|| format!("running {}", build.display()))?;
    ensure!(
        status.success() && !missing(dir),
        "{} failed",
        build.display()
    );
    Ok(())
}

/// The node's API, as the soak uses it.
struct Api {
    client: reqwest::Client,
    url: String,
}

impl Api {
    async fn get(&self, path: &str) -> Result<reqwest::Response> {
        Ok(self
            .client
            .get(format!("{}{path}", self.url))
            .send()
            .await?
            .error_for_status()?)
    }

    async fn metrics(&self) -> Result<Metrics> {
        Ok(Metrics::parse(&self.get("/metrics").await?.text().await?))
    }

    /// Every job as the API shows it (`GET /v1/jobs`), by name; extra fields are
    /// kept, unknown ones ignored by the readers.
    async fn jobs(&self) -> Result<BTreeMap<String, Value>> {
        let list: Value = self.get("/v1/jobs").await?.json().await?;
        Ok(list["jobs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|j| Some((j["name"].as_str()?.to_owned(), j.clone())))
            .collect())
    }

    /// `GET /v1/jobs/{job}/results?from&to`: the epochs (at most 3600 a request).
    async fn results(&self, job: &str, from: u64, to: u64) -> Result<Vec<Value>> {
        let range: Value = self
            .get(&format!("/v1/jobs/{job}/results?from={from}&to={to}"))
            .await?
            .json()
            .await?;
        Ok(range["epochs"].as_array().cloned().unwrap_or_default())
    }

    /// `POST /v1/jobs`, multipart: the manifest and the module.
    async fn submit(&self, manifest: &Value, wasm: Vec<u8>) -> Result<()> {
        let form = reqwest::multipart::Form::new()
            .part(
                "manifest",
                reqwest::multipart::Part::text(manifest.to_string())
                    .mime_str("application/json")?,
            )
            .part(
                "wasm",
                reqwest::multipart::Part::bytes(wasm)
                    .file_name("job.wasm")
                    .mime_str("application/wasm")?,
            );
        let answer = self
            .client
            .post(format!("{}/v1/jobs", self.url))
            .multipart(form)
            .send()
            .await?;
        let status = answer.status();
        ensure!(
            status.is_success(),
            "submitting {manifest}: {status} {}",
            answer.text().await.unwrap_or_default()
        );
        Ok(())
    }

    async fn resume(&self, job: &str) -> Result<()> {
        self.client
            .post(format!("{}/v1/jobs/{job}/resume", self.url))
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }
}

/// Whether the API shows a job as paused (by the daemon or anyone).
fn is_paused(job: &Value) -> bool {
    job["state"] == "paused" || !job["paused_reason"].is_null()
}

/// Submits the reference jobs (default manifests) and the hostile ones.
async fn submit_jobs(api: &Api, wasm_dir: &Path) -> Result<()> {
    let all = REFERENCE
        .into_iter()
        .map(|n| (n, json!({ "name": n })))
        .chain(hostile());
    for (name, manifest) in all {
        let path = wasm_dir.join(format!("{name}.wasm"));
        let wasm = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        api.submit(&manifest, wasm).await?;
    }
    Ok(())
}

/// Resumes every hostile job that is paused; returns how many were.
async fn resume_hostile(api: &Api, resumes: &mut BTreeMap<String, u64>) -> Result<usize> {
    let jobs = api.jobs().await?;
    let mut n = 0;
    for (name, _) in hostile() {
        if jobs.get(name).is_some_and(is_paused) {
            api.resume(name).await?;
            *resumes.entry(name.to_owned()).or_default() += 1;
            n += 1;
        }
    }
    Ok(n)
}

/// One reference job's results, read as they are stored: the delay of each from the
/// end of its epoch's second to when it was stored (`stored_at_ms`).
struct Harvest {
    job: &'static str,
    /// The first epoch not read yet.
    next: u64,
    /// Delays, ms, of the whole run and since the last sample.
    all: Vec<f64>,
    interval: Vec<f64>,
    results: u64,
    errors: u64,
    /// (epoch, dc) that had acknowledged events and no result of this job within
    /// `GIVE_UP_SECS`.
    missing: u64,
}

impl Harvest {
    fn new(job: &'static str, from: u64) -> Harvest {
        Harvest {
            job,
            next: from,
            all: Vec::new(),
            interval: Vec::new(),
            results: 0,
            errors: 0,
            missing: 0,
        }
    }

    /// Reads the epochs from `next` up to `to`, in order, taking each one once it has
    /// a primary result (seq 0) from every dc the load sent events of in it, or once
    /// it is older than `give_up_before` (what did not come is missing).
    async fn read(
        &mut self,
        api: &Api,
        to: u64,
        give_up_before: u64,
        load: &LoadStats,
    ) -> Result<()> {
        if to < self.next {
            return Ok(());
        }
        let to = to.min(self.next + 3599);
        let epochs: HashMap<u64, Value> = api
            .results(self.job, self.next, to)
            .await?
            .into_iter()
            .filter_map(|e| Some((e["epoch"].as_u64()?, e)))
            .collect();
        while self.next <= to {
            let primary = epochs
                .get(&self.next)
                .map(primary_results)
                .unwrap_or_default();
            let expected = load.dcs_of(self.next);
            let complete = expected.iter().all(|dc| primary.contains_key(dc));
            if !complete && self.next >= give_up_before {
                break;
            }
            self.take(self.next, &primary);
            self.missing += expected
                .iter()
                .filter(|dc| !primary.contains_key(*dc))
                .count() as u64;
            self.next += 1;
        }
        Ok(())
    }

    fn take(&mut self, epoch: u64, primary: &BTreeMap<String, Value>) {
        for result in primary.values() {
            self.results += 1;
            if result["status"] != "ok" {
                self.errors += 1;
            }
            if let Some(stored) = result["stored_at_ms"].as_f64() {
                let delay = stored - ((epoch + 1) * 1000) as f64;
                self.all.push(delay);
                self.interval.push(delay);
            }
        }
    }
}

/// An epoch's primary results (seq 0), by dc.
fn primary_results(epoch: &Value) -> BTreeMap<String, Value> {
    epoch["results"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["seq"].as_u64() == Some(0))
        .filter_map(|r| Some((r["dc"].as_str()?.to_owned(), r.clone())))
        .collect()
}

/// One table row.
struct Sample {
    elapsed_s: u64,
    rss: u64,
    peak: u64,
    fds: u64,
    daemon_db: u64,
    data: u64,
    wal: u64,
    acked: u64,
    commits: Option<f64>,
    /// (runs, errors) per reference job, from `/metrics`.
    runs: Vec<(Option<f64>, Option<f64>)>,
    delay_p50: Option<f64>,
    delay_p99: Option<f64>,
    hostile_paused: Option<usize>,
    reference_paused: Vec<String>,
    load1: f64,
}

async fn sample(
    api: &Api,
    node: &Node,
    elapsed_s: u64,
    load: &LoadStats,
    harvests: &mut [Harvest],
) -> Result<Sample> {
    let (rss, peak) = procfs::memory(node.pid).context("reading the node's /proc status")?;
    let metrics = api.metrics().await.unwrap_or_default();
    let jobs = api.jobs().await.ok();
    let now_epoch = now_ms() / 1000;
    // Two seconds back: the last whole second's commits need the grace time and a run.
    for h in harvests.iter_mut() {
        // A passing failure of one read must not end a long run: the next sample
        // reads the same epochs again.
        let (to, give_up) = (
            now_epoch.saturating_sub(2),
            now_epoch.saturating_sub(GIVE_UP_SECS),
        );
        if let Err(e) = h.read(api, to, give_up, load).await {
            eprintln!("  note: reading {}'s results failed: {e:#}", h.job);
        }
    }
    let interval: Vec<f64> = harvests
        .iter_mut()
        .flat_map(|h| std::mem::take(&mut h.interval))
        .collect();
    Ok(Sample {
        elapsed_s,
        rss,
        peak,
        fds: procfs::open_fds(node.pid).unwrap_or(0) as u64,
        daemon_db: procfs::disk_usage(&node.data.join("daemon-db")),
        data: procfs::disk_usage(&node.data),
        wal: procfs::disk_usage(&node.data.join("wal")),
        acked: load.events_acked(),
        commits: metrics.get("epochd_store_commits_total"),
        runs: REFERENCE
            .iter()
            .map(|j| {
                (
                    metrics.labeled("epochd_job_runs_total", "job", j),
                    metrics.labeled("epochd_job_errors_total", "job", j),
                )
            })
            .collect(),
        delay_p50: percentile(&interval, 0.5),
        delay_p99: percentile(&interval, 0.99),
        hostile_paused: jobs.as_ref().map(|j| {
            hostile()
                .iter()
                .filter(|(n, _)| j.get(*n).is_some_and(is_paused))
                .count()
        }),
        reference_paused: jobs
            .iter()
            .flat_map(|j| {
                REFERENCE
                    .iter()
                    .filter(|n| j.get(**n).is_some_and(is_paused))
            })
            .map(|n| (*n).to_owned())
            .collect(),
        load1: procfs::loadavg().map_or(f64::NAN, |l| l[0]),
    })
}

/// The live table: a fixed header, one row printed per sample as it comes, so a long
/// run shows progress and its output is a Markdown table as it stands.
const COLUMNS: [(&str, usize); 16] = [
    ("elapsed", 7),
    ("RSS MB", 7),
    ("peak MB", 7),
    ("fds", 4),
    ("daemon-db MB", 7),
    ("data dir MB", 7),
    ("WAL MB", 6),
    ("events acked", 9),
    ("commits", 6),
    ("count runs", 8),
    ("latency runs", 8),
    ("error-rate runs", 8),
    ("delay p50 ms", 5),
    ("delay p99 ms", 5),
    ("hostile paused", 3),
    ("load 1m", 5),
];

fn print_header() {
    let names: Vec<String> = COLUMNS.iter().map(|(n, _)| (*n).to_owned()).collect();
    print_row(&names);
    let rule: Vec<String> = COLUMNS
        .iter()
        .map(|(n, w)| format!("{}:", "-".repeat(n.len().max(*w) + 1)))
        .collect();
    println!("|{}|", rule.join("|"));
}

fn print_row(cells: &[String]) {
    let padded: Vec<String> = cells
        .iter()
        .zip(COLUMNS)
        .map(|(c, (n, w))| format!(" {c:>width$} ", width = n.len().max(w)))
        .collect();
    println!("|{}|", padded.join("|"));
}

fn mb(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / epochd_bench::MB)
}

fn opt(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| "–".to_owned(), |v| format!("{v:.decimals$}"))
}

fn elapsed(secs: u64) -> String {
    format!("{}:{:02}", secs / 60, secs % 60)
}

fn runs_cell((runs, errors): (Option<f64>, Option<f64>)) -> String {
    match (runs, errors) {
        (Some(r), Some(e)) if e > 0.0 => format!("{r:.0} ({e:.0} err)"),
        (r, _) => opt(r, 0),
    }
}

fn print_sample(s: &Sample) {
    let mut cells = vec![
        elapsed(s.elapsed_s),
        mb(s.rss),
        mb(s.peak),
        s.fds.to_string(),
        mb(s.daemon_db),
        mb(s.data),
        mb(s.wal),
        s.acked.to_string(),
        opt(s.commits, 0),
    ];
    cells.extend(s.runs.iter().map(|r| runs_cell(*r)));
    cells.extend([
        opt(s.delay_p50, 0),
        opt(s.delay_p99, 0),
        s.hostile_paused
            .map_or_else(|| "–".to_owned(), |n| n.to_string()),
        format!("{:.2}", s.load1),
    ]);
    print_row(&cells);
    if !s.reference_paused.is_empty() {
        eprintln!(
            "  note: reference jobs paused at {}: {}",
            elapsed(s.elapsed_s),
            s.reference_paused.join(", ")
        );
    }
}

/// Times of the run, unix ms.
struct Plan {
    start_ms: u64,
    until_ms: u64,
    sample_ms: u64,
    resume_ms: Option<u64>,
}

impl Plan {
    fn new(args: &Args) -> Plan {
        // Whole seconds: every epoch of the run gets its full rate.
        let start_ms = now_ms().div_ceil(1000) * 1000 + 1000;
        Plan {
            start_ms,
            until_ms: start_ms + (args.minutes * 60_000.0).round().max(1000.0) as u64,
            sample_ms: args.sample_secs * 1000,
            resume_ms: (args.resume_hostile_every_secs > 0)
                .then_some(args.resume_hostile_every_secs * 1000),
        }
    }
}

async fn sleep_until_ms(unix_ms: u64) {
    let left = unix_ms.saturating_sub(now_ms());
    tokio::time::sleep(Duration::from_millis(left)).await;
}

/// Runs the load, sampling and resuming until the plan's end; returns the samples and
/// the resumes per hostile job.
async fn soak(
    api: &Api,
    node: &mut Node,
    plan: &Plan,
    load: &LoadStats,
    harvests: &mut [Harvest],
    counted: &mut Counted,
) -> Result<(Vec<Sample>, BTreeMap<String, u64>)> {
    let mut samples = Vec::new();
    let mut resumes = BTreeMap::new();
    let mut next_sample = plan.start_ms + plan.sample_ms;
    let mut next_resume = plan.resume_ms.map(|r| plan.start_ms + r);
    loop {
        let sample_at = next_sample.min(plan.until_ms);
        let wake = next_resume.map_or(sample_at, |r| r.min(sample_at));
        // Wake at least every second to notice a node that died.
        sleep_until_ms(wake.min(now_ms() + 1000)).await;
        node.check_alive()?;
        if now_ms() >= sample_at {
            let s = sample(
                api,
                node,
                (sample_at - plan.start_ms) / 1000,
                load,
                harvests,
            )
            .await?;
            print_sample(&s);
            samples.push(s);
            let settled = (now_ms() / 1000).saturating_sub(COUNT_AFTER_SECS);
            if let Err(e) = counted.read_to(api, settled).await {
                eprintln!("  note: reading count's results failed: {e:#}");
            }
            if sample_at >= plan.until_ms {
                return Ok((samples, resumes));
            }
            next_sample += plan.sample_ms;
        }
        // After the sample when both are due: a row shows how many jobs the daemon
        // paused, not a count just reset by this resume.
        if let Some(at) = next_resume.filter(|&at| now_ms() >= at) {
            if let Err(e) = resume_hostile(api, &mut resumes).await {
                eprintln!("  note: resuming the hostile jobs failed: {e:#}");
            }
            next_resume = Some(at + plan.resume_ms.unwrap_or(0));
        }
    }
}

/// After the load: waits (at most 60 s) for every reference job's results of every
/// epoch sent, then takes what came.
async fn drain(
    api: &Api,
    node: &mut Node,
    last: u64,
    load: &LoadStats,
    harvests: &mut [Harvest],
) -> Result<()> {
    let deadline = now_ms() + 60_000;
    while harvests.iter().any(|h| h.next <= last) && now_ms() < deadline {
        node.check_alive()?;
        for h in harvests.iter_mut() {
            h.read(api, last, 0, load).await?;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for h in harvests.iter_mut() {
        h.read(api, last, last + 1, load).await?;
    }
    Ok(())
}

/// Seconds after its end an epoch's `count` results are read for the integrity check:
/// late events' supplementary commits have come by then.
const COUNT_AFTER_SECS: u64 = 60;

/// What the `count` job counted, read as the run goes, epoch by epoch, before results
/// retention deletes them (a run is longer than the retention it is given).
struct Counted {
    /// The first epoch not read yet.
    next: u64,
    counts: BTreeMap<(u64, String), u64>,
    errors: u64,
}

impl Counted {
    fn new(from: u64) -> Counted {
        Counted {
            next: from,
            counts: BTreeMap::new(),
            errors: 0,
        }
    }

    /// Reads the epochs from `next` up to `to`; on failure nothing is taken and the
    /// next call reads them again.
    async fn read_to(&mut self, api: &Api, to: u64) -> Result<()> {
        if to < self.next {
            return Ok(());
        }
        let (counts, errors) = counted(api, self.next, to).await?;
        self.counts.extend(counts);
        self.errors += errors;
        self.next = to + 1;
        Ok(())
    }
}

/// What the `count` job counted, per (epoch, dc) (every seq, `ok` results), and how
/// many of its results in `from..=to` were errors.
async fn counted(api: &Api, from: u64, to: u64) -> Result<(BTreeMap<(u64, String), u64>, u64)> {
    let mut counts = BTreeMap::new();
    let mut errors = 0;
    let mut lo = from;
    while lo <= to {
        let hi = to.min(lo + 3599);
        for epoch in api.results("count", lo, hi).await? {
            let e = epoch["epoch"]
                .as_u64()
                .context("a result epoch without its number")?;
            for r in epoch["results"].as_array().into_iter().flatten() {
                let dc = r["dc"].as_str().unwrap_or_default().to_owned();
                match r["result"]["events"].as_u64() {
                    Some(n) if r["status"] == "ok" => *counts.entry((e, dc)).or_default() += n,
                    _ => errors += 1,
                }
            }
        }
        lo = hi + 1;
    }
    Ok((counts, errors))
}

/// The integrity check: acknowledged against counted, per (epoch, dc).
struct Integrity {
    acked: u64,
    counted: u64,
    mismatches: Vec<((u64, String), u64, u64)>,
    count_errors: u64,
}

impl Integrity {
    fn check(
        acked: &BTreeMap<(u64, String), u64>,
        counted: &BTreeMap<(u64, String), u64>,
        count_errors: u64,
    ) -> Integrity {
        let keys: std::collections::BTreeSet<_> = acked.keys().chain(counted.keys()).collect();
        let mismatches = keys
            .into_iter()
            .filter_map(|k| {
                let (a, c) = (
                    acked.get(k).copied().unwrap_or(0),
                    counted.get(k).copied().unwrap_or(0),
                );
                (a != c).then(|| (k.clone(), a, c))
            })
            .collect();
        Integrity {
            acked: acked.values().sum(),
            counted: counted.values().sum(),
            mismatches,
            count_errors,
        }
    }

    fn ok(&self) -> bool {
        self.mismatches.is_empty() && self.acked == self.counted
    }
}

/// bounded / GROWING: the last third's maximum is at most 1.25x the middle third's.
fn verdict(values: &[f64]) -> &'static str {
    let n = values.len();
    if n < 3 {
        return "too short";
    }
    let max = |s: &[f64]| s.iter().copied().fold(f64::MIN, f64::max);
    if max(&values[2 * n / 3..]) <= 1.25 * max(&values[n / 3..2 * n / 3]) {
        "bounded"
    } else {
        "GROWING"
    }
}

/// A metric of the growth table: its name, how to read it from a sample, decimals.
type GrowthMetric = (&'static str, fn(&Sample) -> f64, usize);

fn growth_table(samples: &[Sample]) -> Table {
    let mut t = Table::new([
        ("metric", Align::Left),
        ("min", Align::Right),
        ("max", Align::Right),
        ("last", Align::Right),
        ("middle third max", Align::Right),
        ("last third max", Align::Right),
        ("verdict", Align::Left),
    ]);
    let metrics: [GrowthMetric; 6] = [
        ("RSS MB", |s| s.rss as f64 / epochd_bench::MB, 1),
        (
            "peak RSS (VmHWM) MB",
            |s| s.peak as f64 / epochd_bench::MB,
            1,
        ),
        ("open fds", |s| s.fds as f64, 0),
        ("daemon db MB", |s| s.daemon_db as f64 / epochd_bench::MB, 1),
        ("data dir MB", |s| s.data as f64 / epochd_bench::MB, 1),
        ("WAL MB", |s| s.wal as f64 / epochd_bench::MB, 1),
    ];
    let n = samples.len();
    for (name, f, d) in metrics {
        let v: Vec<f64> = samples.iter().map(f).collect();
        let max = |s: &[f64]| s.iter().copied().fold(f64::NAN, f64::max);
        let min = v.iter().copied().fold(f64::NAN, f64::min);
        t.row([
            name.to_owned(),
            format!("{min:.d$}"),
            format!("{:.d$}", max(&v)),
            format!("{:.d$}", v.last().copied().unwrap_or(f64::NAN)),
            format!("{:.d$}", max(&v[n / 3..2 * n / 3])),
            format!("{:.d$}", max(&v[2 * n / 3..])),
            verdict(&v).to_owned(),
        ]);
    }
    t
}

fn delay_table(harvests: &[Harvest]) -> Table {
    let mut t = Table::new([
        ("job", Align::Left),
        ("results", Align::Right),
        ("errors", Align::Right),
        ("missing", Align::Right),
        ("delay p50 ms", Align::Right),
        ("delay p99 ms", Align::Right),
        ("delay max ms", Align::Right),
    ]);
    let row = |t: &mut Table, name: &str, d: &[f64], results: u64, errors: u64, missing: u64| {
        t.row([
            name.to_owned(),
            results.to_string(),
            errors.to_string(),
            missing.to_string(),
            opt(percentile(d, 0.5), 0),
            opt(percentile(d, 0.99), 0),
            opt(percentile(d, 1.0), 0),
        ]);
    };
    for h in harvests {
        row(&mut t, h.job, &h.all, h.results, h.errors, h.missing);
    }
    let all: Vec<f64> = harvests
        .iter()
        .flat_map(|h| h.all.iter().copied())
        .collect();
    let sum = |f: fn(&Harvest) -> u64| harvests.iter().map(f).sum::<u64>();
    row(
        &mut t,
        "all three",
        &all,
        sum(|h| h.results),
        sum(|h| h.errors),
        sum(|h| h.missing),
    );
    t
}

fn hostile_table(
    jobs: &BTreeMap<String, Value>,
    metrics: &Metrics,
    resumes: &BTreeMap<String, u64>,
) -> Table {
    let mut t = Table::new([
        ("hostile job", Align::Left),
        ("runs", Align::Right),
        ("errors", Align::Right),
        ("resumed", Align::Right),
        ("state at the end", Align::Left),
        ("last error / paused reason", Align::Left),
    ]);
    for (name, _) in hostile() {
        let job = jobs.get(name).cloned().unwrap_or(Value::Null);
        let why = job["paused_reason"]
            .as_str()
            .or(job["stats"]["last_error"].as_str())
            .unwrap_or("")
            .chars()
            .take(90)
            .collect::<String>();
        t.row([
            name.to_owned(),
            opt(metrics.labeled("epochd_job_runs_total", "job", name), 0),
            opt(metrics.labeled("epochd_job_errors_total", "job", name), 0),
            resumes.get(name).copied().unwrap_or(0).to_string(),
            job["state"].as_str().unwrap_or("?").to_owned(),
            why,
        ]);
    }
    t
}

fn loadavg_text(l: Option<[f64; 3]>) -> String {
    l.map_or_else(
        || "unknown".to_owned(),
        |[a, b, c]| format!("{a:.2} {b:.2} {c:.2}"),
    )
}

async fn run(args: &Args) -> Result<bool> {
    let load_at_start = procfs::loadavg();
    let root = args.dir.clone().unwrap_or_else(std::env::temp_dir);
    let retention = args.retention_secs.to_string();
    let mut extra: Vec<std::ffi::OsString> = vec![
        "--retention-secs".into(),
        retention.clone().into(),
        "--results-retention-secs".into(),
        retention.into(),
    ];
    if args.no_cgroups {
        extra.push("--no-cgroups".into());
    }
    let mut node = Node::start(&args.epochd, &root, "epochd-bench-soak-", &extra)?;
    eprintln!(
        "node {} (pid {}) started: {}",
        node.url,
        node.pid,
        args.epochd.display()
    );
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(60))
        .build()?;
    let api = Api {
        client: client.clone(),
        url: node.url.clone(),
    };
    submit_jobs(&api, &args.wasm_dir).await?;
    if node.log_count("CPU CAPS UNAVAILABLE", None) > 0 {
        eprintln!("note: the node runs without CPU caps (cgroups unavailable here; see its log)");
    }

    let plan = Plan::new(args);
    let stats = Arc::new(LoadStats::default());
    let (stop, stopped) = watch::channel(false);
    sleep_until_ms(plan.start_ms).await;
    let sender = tokio::spawn(load::run(
        client,
        LoadOptions {
            url: node.url.clone(),
            rate: args.rate,
            dcs: args.dcs.clone(),
            seed: 42,
            batch_events: args.batch_events,
            concurrency: 4,
        },
        plan.until_ms,
        stopped,
        stats.clone(),
    ));
    eprintln!(
        "soaking {} min: {} events/s over {}, a row every {} s",
        args.minutes,
        args.rate,
        args.dcs.join(","),
        args.sample_secs
    );
    println!();
    print_header();
    let first = plan.start_ms / 1000;
    let mut harvests: Vec<Harvest> = REFERENCE.iter().map(|j| Harvest::new(j, first)).collect();
    let mut counted = Counted::new(first);
    let soaked = soak(&api, &mut node, &plan, &stats, &mut harvests, &mut counted).await;
    stop.send_replace(true);
    sender.await.context("the load task panicked")??;
    let (samples, resumes) = soaked?;

    let acked = stats.acked();
    let last = acked.keys().map(|(e, _)| *e).max().unwrap_or(first);
    drain(&api, &mut node, last, &stats, &mut harvests).await?;
    counted.read_to(&api, last).await?;
    let integrity = Integrity::check(&acked, &counted.counts, counted.errors);
    let jobs = api.jobs().await?;
    let metrics = api.metrics().await?;
    match node.stop() {
        Ok(status) if status.success() => {}
        Ok(status) => eprintln!("note: the node exited with {status} on SIGTERM"),
        Err(e) => eprintln!("note: {e:#}"),
    }
    let load_at_end = procfs::loadavg();

    println!();
    println!("Growth (bounded: the last third's max is at most 1.25x the middle third's max):");
    println!();
    print!("{}", growth_table(&samples));
    println!();
    println!(
        "Reference jobs' delay, end of the epoch's second -> result stored (`stored_at_ms`), \
         primary results (seq 0), epochs {first}..={last}:"
    );
    println!();
    print!("{}", delay_table(&harvests));
    println!();
    print!("{}", hostile_table(&jobs, &metrics, &resumes));
    println!();
    print_integrity(&integrity, &stats, &metrics);
    println!(
        "machine: {} cores; load average (1/5/15 min) at start {}, at end {}",
        epochd_bench::cores(),
        loadavg_text(load_at_start),
        loadavg_text(load_at_end)
    );
    Ok(integrity.ok())
}

fn print_integrity(i: &Integrity, load: &LoadStats, metrics: &Metrics) {
    println!(
        "events acknowledged: {} (node's epochd_store_events_accepted_total: {}); refused or \
         failed: {} events in {} requests; seconds missed by the sender: {}",
        i.acked,
        opt(metrics.get("epochd_store_events_accepted_total"), 0),
        load.events_failed(),
        load.requests_failed(),
        load.seconds_missed()
    );
    if let Some(why) = load.last_failure() {
        println!("last failed request: {why}");
    }
    println!(
        "integrity: counted by `count`: {}; (epoch, dc) mismatches: {}; `count` errors: {} -> {}",
        i.counted,
        i.mismatches.len(),
        i.count_errors,
        if i.ok() { "OK" } else { "FAILED" }
    );
    for ((epoch, dc), a, c) in i.mismatches.iter().take(10) {
        println!("  mismatch: epoch {epoch} dc {dc}: acknowledged {a}, counted {c}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_is_judged_on_the_last_third_against_the_middle_third() {
        assert_eq!(verdict(&[1.0, 2.0]), "too short");
        // A start-up ramp in the first third does not count.
        assert_eq!(verdict(&[1.0, 1.0, 9.0, 10.0, 10.0, 12.0]), "bounded");
        assert_eq!(verdict(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]), "GROWING");
    }

    #[test]
    fn integrity_compares_every_epoch_and_dc() {
        let key = |e: u64, dc: &str| (e, dc.to_owned());
        let acked = BTreeMap::from([(key(1, "ams4"), 10), (key(1, "lhr4"), 5)]);
        let same = Integrity::check(&acked, &acked.clone(), 0);
        assert!(same.ok());
        // Same total, wrong place: still a failure.
        let moved = BTreeMap::from([(key(1, "ams4"), 15)]);
        let i = Integrity::check(&acked, &moved, 0);
        assert_eq!((i.acked, i.counted, i.mismatches.len()), (15, 15, 2));
        assert!(!i.ok());
    }
}
