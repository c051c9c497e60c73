//! Commit → merged result, three cluster nodes against one node, in one run
//! (docs/BENCHMARKS.md, "Cluster: commit → merged result").
//!
//! Starts a real etcd on loopback, three `epochd serve --cluster` nodes and one
//! node alone, registers the reference jobs on the lone node and (once, on the
//! first node) in the cluster, then each second sends the same events twice: all
//! of them to the lone node, and each one to a cluster node drawn at random, so
//! every dc's events of every second are split over the three. Two NDJSON
//! subscribers per job read the merged epochs: the lone node's stream and the
//! gateway's stream of complete epochs on the first cluster node. Per (job,
//! epoch) of the measured window, latency = when the epoch's line came out of the
//! socket − the latest commit among its parts (`committed_at_ms`); and the two
//! merged results must be equal (mismatches: exit status 1).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use clap::Parser;
use epochd_bench::node::{default_epochd, Node};
use epochd_bench::stats::percentile;
use epochd_bench::{Align, Table};
use epochd_store::clock::now_ms;
use epochd_workload::{Format, Workload, WorkloadConfig};
use serde_json::Value;

// The etcd the cluster tests start: one server on loopback, its own data dir.
#[path = "../../../../daemon/cluster/tests/all/etcd.rs"]
#[allow(dead_code)]
mod etcd;

const NODES: usize = 3;

#[derive(Parser, Debug)]
#[command(about = "Commit → merged result: 3 cluster nodes vs 1 node, side by side")]
struct Args {
    /// Events per second (each sent to both sides).
    #[arg(long, default_value_t = 2000)]
    rate: usize,
    /// Seconds measured, after the warm-up.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// Seconds of load before the window.
    #[arg(long, default_value_t = 5)]
    warmup: u64,
    /// Jobs (`NAME.wasm` of --wasm-dir).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "count,latency,error-rate"
    )]
    jobs: Vec<String>,
    /// The release epochd binary (default target/release/epochd).
    #[arg(long, env = "EPOCHD_BIN")]
    epochd: Option<PathBuf>,
    /// Where the job modules are (default wasm-jobs/out).
    #[arg(long)]
    wasm_dir: Option<PathBuf>,
}

/// One merged epoch as a subscriber got it; times in unix ms.
struct Arrival {
    /// When its line came out of the socket.
    received: u64,
    /// The latest commit among its parts.
    committed: u64,
    /// The latest `stored_at_ms` among its parts: when the last result was stored.
    stored: u64,
    /// When the node's stream (or the gateway) sent it.
    emitted: u64,
    merged: Value,
}

/// (side, job) → epoch → its first complete arrival.
type Seen = Arc<Mutex<BTreeMap<(usize, String), BTreeMap<u64, Arrival>>>>;

const SIDES: [&str; 2] = ["1 node", "3 nodes (gateway)"];

fn main() -> Result<()> {
    let args = Args::parse();
    epochd_bench::run_async("cluster-latency", run(args))
}

async fn run(args: Args) -> Result<bool> {
    let epochd = args.epochd.clone().unwrap_or_else(default_epochd);
    let wasm_dir = args
        .wasm_dir
        .clone()
        .unwrap_or_else(epochd_bench::wasm_out_dir);
    let root = std::env::temp_dir();
    let etcd = tokio::task::spawn_blocking(etcd::Etcd::start).await?;
    let lone = Node::start(&epochd, &root, "epochd-bench-lone-", &[])?;
    let mut cluster = Vec::new();
    for i in 0..NODES {
        let extra: Vec<OsString> = [
            "--cluster".to_owned(),
            etcd.endpoint(),
            "--cluster-name".into(),
            "bench".into(),
            "--node-id".into(),
            format!("n{i}"),
        ]
        .into_iter()
        .map(OsString::from)
        .collect();
        cluster.push(Node::start(
            &epochd,
            &root,
            "epochd-bench-cluster-",
            &extra,
        )?);
    }
    let client = reqwest::Client::new();
    wait_for_members(&client, &cluster).await?;
    for job in &args.jobs {
        let wasm = std::fs::read(wasm_dir.join(format!("{job}.wasm")))
            .with_context(|| format!("{job}.wasm: build the jobs first with wasm-jobs/build"))?;
        submit(&client, &lone.url, job, &wasm).await?;
        submit(&client, &cluster[0].url, job, &wasm).await?;
    }
    wait_for_jobs(&client, &cluster, &args.jobs).await?;

    let seen: Seen = Arc::default();
    let mut readers = tokio::task::JoinSet::new();
    for job in &args.jobs {
        let streams = [
            format!("{}/v1/jobs/{job}/results/stream?format=ndjson", lone.url),
            format!(
                "{}/v1/cluster/jobs/{job}/results/stream?format=ndjson&complete_only=true",
                cluster[0].url
            ),
        ];
        for (side, url) in streams.into_iter().enumerate() {
            readers.spawn(read_stream(
                client.clone(),
                url,
                side,
                job.clone(),
                seen.clone(),
            ));
        }
    }

    let load_before = epochd_bench::procfs::loadavg();
    let start = now_ms() / 1000 + 1;
    let window = (start + args.warmup)..(start + args.warmup + args.seconds);
    let cluster_urls: Vec<String> = cluster.iter().map(|n| n.url.clone()).collect();
    let (sent, split) = send_load(
        &client,
        &lone.url,
        &cluster_urls,
        args.rate,
        start,
        window.end,
    )
    .await?;
    // The window's last epochs: commit after the grace, then merge.
    let deadline = now_ms() + 30_000;
    while now_ms() < deadline && !all_seen(&seen, &args.jobs, &window) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let load_after = epochd_bench::procfs::loadavg();
    readers.abort_all();

    let ok = report(&seen, &args, &window, sent, &split, load_before, load_after);
    drop(cluster);
    drop(lone);
    drop(etcd);
    Ok(ok)
}

async fn wait_for_members(client: &reqwest::Client, nodes: &[Node]) -> Result<()> {
    let deadline = now_ms() + 30_000;
    for node in nodes {
        loop {
            let cluster: Value = client
                .get(format!("{}/v1/cluster", node.url))
                .send()
                .await?
                .json()
                .await?;
            if cluster["nodes"].as_array().map_or(0, Vec::len) == nodes.len() {
                break;
            }
            ensure!(
                now_ms() < deadline,
                "{}: not every node registered: {cluster}",
                node.url
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

async fn wait_for_jobs(client: &reqwest::Client, nodes: &[Node], jobs: &[String]) -> Result<()> {
    let deadline = now_ms() + 30_000;
    for node in nodes {
        for job in jobs {
            while !client
                .get(format!("{}/v1/jobs/{job}", node.url))
                .send()
                .await?
                .status()
                .is_success()
            {
                ensure!(
                    now_ms() < deadline,
                    "{}: job {job} did not arrive",
                    node.url
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    Ok(())
}

/// `POST /v1/jobs` of `wasm` as `name`, the default manifest.
async fn submit(client: &reqwest::Client, url: &str, name: &str, wasm: &[u8]) -> Result<()> {
    let manifest = serde_json::json!({ "name": name }).to_string();
    let form = reqwest::multipart::Form::new()
        .text("manifest", manifest)
        .part("wasm", reqwest::multipart::Part::bytes(wasm.to_vec()));
    let answer = client
        .post(format!("{url}/v1/jobs"))
        .multipart(form)
        .send()
        .await?;
    if !answer.status().is_success() {
        bail!("{url}: job {name} refused: {}", answer.text().await?);
    }
    Ok(())
}

/// Each second from `start` to `end`, the second's events to the lone node and,
/// each to one drawn at random, to the cluster nodes. Returns the events sent and
/// how many went to each cluster node.
async fn send_load(
    client: &reqwest::Client,
    lone: &str,
    cluster: &[String],
    rate: usize,
    start: u64,
    end: u64,
) -> Result<(u64, Vec<u64>)> {
    let workload = Workload::new(WorkloadConfig::default());
    let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
    let mut split = vec![0u64; cluster.len()];
    let mut sent = 0u64;
    for epoch in start..end {
        let wait = (epoch * 1000).saturating_sub(now_ms());
        tokio::time::sleep(Duration::from_millis(wait)).await;
        let mut all = Vec::new();
        let mut parts = vec![Vec::new(); cluster.len()];
        for event in workload.epoch(epoch, rate) {
            event.write(Format::MsgPack, &mut all);
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let to = (rng % cluster.len() as u64) as usize;
            event.write(Format::MsgPack, &mut parts[to]);
            split[to] += 1;
            sent += 1;
        }
        // The two sides get their events at the same moment.
        let mut posts = tokio::task::JoinSet::new();
        let targets =
            std::iter::once((lone.to_owned(), all)).chain(cluster.iter().cloned().zip(parts));
        for (url, body) in targets {
            posts.spawn(post(client.clone(), url, body));
        }
        while let Some(answer) = posts.join_next().await {
            answer??;
        }
    }
    Ok((sent, split))
}

async fn post(client: reqwest::Client, url: String, body: Vec<u8>) -> Result<()> {
    let answer = client
        .post(format!("{url}/v1/events"))
        .header("content-type", "application/msgpack")
        .body(body)
        .send()
        .await?;
    ensure!(
        answer.status().is_success(),
        "{url}: events refused: {}",
        answer.text().await?
    );
    Ok(())
}

/// Reads one NDJSON stream, recording each merged epoch as it arrives.
async fn read_stream(client: reqwest::Client, url: String, side: usize, job: String, seen: Seen) {
    loop {
        let Ok(mut answer) = client.get(&url).send().await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let mut partial = Vec::new();
        while let Ok(Some(chunk)) = answer.chunk().await {
            let received = now_ms();
            partial.extend_from_slice(&chunk);
            while let Some(nl) = partial.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = partial.drain(..=nl).collect();
                let Ok(event) = serde_json::from_slice::<Value>(&line) else {
                    continue;
                };
                let (Some(epoch), Some(committed)) =
                    (event["epoch"].as_u64(), event["committed_at_ms"].as_u64())
                else {
                    continue;
                };
                // The lone node's late lines and any incomplete version are not
                // the merged result this measures.
                if event["type"] == "late" || event["complete"] == false {
                    continue;
                }
                let stored = event["results"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|r| r["stored_at_ms"].as_u64())
                    .max()
                    .unwrap_or(committed);
                let emitted = event["emitted_at_ms"].as_u64().unwrap_or(received);
                let arrival = Arrival {
                    received,
                    committed,
                    stored,
                    emitted,
                    merged: event["merged"].clone(),
                };
                seen.lock()
                    .unwrap()
                    .entry((side, job.clone()))
                    .or_default()
                    .entry(epoch)
                    .or_insert(arrival);
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn all_seen(seen: &Seen, jobs: &[String], window: &std::ops::Range<u64>) -> bool {
    let seen = seen.lock().unwrap();
    (0..SIDES.len()).all(|side| {
        jobs.iter().all(|job| {
            seen.get(&(side, job.clone()))
                .is_some_and(|epochs| epochs.contains_key(&(window.end - 1)))
        })
    })
}

fn report(
    seen: &Seen,
    args: &Args,
    window: &std::ops::Range<u64>,
    sent: u64,
    split: &[u64],
    load_before: Option<[f64; 3]>,
    load_after: Option<[f64; 3]>,
) -> bool {
    let seen = seen.lock().unwrap();
    let mut ok = true;
    let mut latencies: Vec<Vec<f64>> = vec![Vec::new(); SIDES.len()];
    // Per side: commit → last result stored → emitted → received.
    let mut stages: Vec<[Vec<f64>; 3]> = vec![[Vec::new(), Vec::new(), Vec::new()]; SIDES.len()];
    let mut missing = vec![0usize; SIDES.len()];
    let mut mismatches = 0usize;
    for job in &args.jobs {
        for epoch in window.clone() {
            let mut merged = Vec::new();
            for side in 0..SIDES.len() {
                match seen.get(&(side, job.clone())).and_then(|e| e.get(&epoch)) {
                    Some(a) => {
                        latencies[side].push(a.received.saturating_sub(a.committed) as f64);
                        stages[side][0].push(a.stored.saturating_sub(a.committed) as f64);
                        stages[side][1].push(a.emitted.saturating_sub(a.stored) as f64);
                        stages[side][2].push(a.received.saturating_sub(a.emitted) as f64);
                        merged.push(&a.merged);
                    }
                    None => missing[side] += 1,
                }
            }
            if merged.len() == 2 && merged[0] != merged[1] {
                mismatches += 1;
                eprintln!(
                    "MISMATCH {job} epoch {epoch}:\n  1 node: {}\n  3 nodes: {}",
                    merged[0], merged[1]
                );
            }
        }
    }
    println!(
        "cluster latency: {} events/s for {} s (+{} s warm-up), jobs {}, {sent} events sent to \
         each side, split over the cluster {split:?}; load average {load_before:?} → {load_after:?}",
        args.rate,
        args.seconds,
        args.warmup,
        args.jobs.join(",")
    );
    let mut table = Table::new([
        ("commit → merged result", Align::Left),
        ("n", Align::Right),
        ("missing", Align::Right),
        ("p50 ms", Align::Right),
        ("p90 ms", Align::Right),
        ("p99 ms", Align::Right),
        ("max ms", Align::Right),
    ]);
    let p =
        |values: &[f64], q: f64| percentile(values, q).map_or("-".into(), |v| format!("{v:.0}"));
    for (side, name) in SIDES.iter().enumerate() {
        let rows = [
            (format!("**{name}**"), &latencies[side]),
            ("· commit → last result stored".to_owned(), &stages[side][0]),
            (
                "· last result stored → emitted".to_owned(),
                &stages[side][1],
            ),
            ("· emitted → subscriber".to_owned(), &stages[side][2]),
        ];
        for (label, values) in rows {
            table.row([
                label,
                values.len().to_string(),
                missing[side].to_string(),
                p(values, 0.5),
                p(values, 0.9),
                p(values, 0.99),
                p(values, 1.0),
            ]);
        }
    }
    print!("{table}");
    let ratio = |q: f64| match (percentile(&latencies[1], q), percentile(&latencies[0], q)) {
        (Some(c), Some(s)) if s > 0.0 => format!("{:.2}x", c / s),
        _ => "-".into(),
    };
    println!(
        "cluster / one node: p50 {}, p99 {}",
        ratio(0.5),
        ratio(0.99)
    );
    println!(
        "merged results compared: {} (job, epoch) pairs, mismatches: {mismatches}",
        latencies[1].len().min(latencies[0].len())
    );
    if mismatches > 0 || missing.iter().any(|&m| m > 0) {
        println!("FAILED: mismatches or epochs missing");
        ok = false;
    }
    ok
}
