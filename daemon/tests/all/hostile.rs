//! Thirty hostile jobs of every kind beside the reference jobs, for three
//! minutes of live traffic, on a real node with CPU caps: the reference
//! jobs' results stay within 2 s of their second's end (p99), every one of
//! them correct, and the node's memory within its budgets.
//!
//! The hostile jobs, six of each kind, all within what a manifest allows:
//! - `spin-long`: never returns, with a 60 s deadline and a whole core:
//!   falls behind at once and is paused for it within seconds;
//! - `spin`: never returns, 900 ms deadline: fails every run;
//! - `bomb`: grows its memory to its 64 MiB cap, then traps;
//! - `huge`: emits 65,000-byte results on every commit, more than the
//!   node's results rate allows;
//! - `trap`: traps at once.
//!
//! Paused jobs are resumed every 15 s, so they stay hostile for the whole
//! run. The store's grace is 0.5 s, so that the 2 s bound measures the
//! daemon: a commit is made about 0.5 s after its second ends.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use epochd_workload::{Format, Workload, WorkloadConfig};
use serde_json::{json, Value};

use crate::jobs::wasm;
use crate::support::*;

/// How long the traffic runs.
const RUN: Duration = Duration::from_secs(180);
/// Events per second, over the workload's four dcs.
const EVENTS_PER_SECOND: usize = 800;
/// The budgets the node is started with.
const DECODE_BUDGET: u64 = 256 << 20;
const RUN_MEMORY: u64 = 2 << 30;
/// What the node may use beyond its two budgets: the store, sled's caches,
/// compiled modules, the runtime's pool and the HTTP server.
const BASE_MEMORY: u64 = 512 << 20;
const REFERENCE: [&str; 3] = ["count", "error-rate", "latency"];

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

fn submit(url: &str, manifest: Value, module: &str) {
    let manifest = manifest.to_string();
    let form = reqwest::blocking::multipart::Form::new()
        .part(
            "manifest",
            reqwest::blocking::multipart::Part::bytes(manifest.into_bytes()),
        )
        .part(
            "wasm",
            reqwest::blocking::multipart::Part::bytes(wasm(module)),
        );
    let answer = client()
        .post(format!("{url}/v1/jobs"))
        .multipart(form)
        .send()
        .unwrap();
    let status = answer.status();
    assert_eq!(status, 201, "{module}: {}", answer.text().unwrap());
}

/// The hostile jobs: (name, manifest, module).
fn hostile() -> Vec<(String, Value, &'static str)> {
    let mut jobs = Vec::new();
    for i in 0..6 {
        let name = |kind: &str| format!("{kind}-{i}");
        jobs.push((
            name("spin-long"),
            json!({"name": name("spin-long"), "deadline_ms": 60_000, "cpu_share": 1.0}),
            "spin",
        ));
        jobs.push((
            name("spin"),
            json!({"name": name("spin"), "deadline_ms": 900, "cpu_share": 1.0}),
            "spin",
        ));
        jobs.push((
            name("bomb"),
            json!({"name": name("bomb"), "memory_mib": 64, "cpu_share": 1.0}),
            "memory-bomb",
        ));
        jobs.push((
            name("huge"),
            json!({"name": name("huge"), "config": "65000", "max_result_bytes": 65536}),
            "huge-result",
        ));
        jobs.push((name("trap"), json!({"name": name("trap")}), "trap"));
    }
    jobs
}

/// VmRSS of a process, bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Posts each second's events during that second, for [`RUN`]; returns the
/// events sent per epoch.
fn produce(url: &str) -> BTreeMap<u64, u64> {
    let w = Workload::new(WorkloadConfig::default());
    let client = client();
    let mut sent = BTreeMap::new();
    let end = Instant::now() + RUN;
    while Instant::now() < end {
        let epoch = now();
        let body = w.encode_epoch(epoch, EVENTS_PER_SECOND, Format::MsgPack);
        let answer = client
            .post(format!("{url}/v1/events"))
            .header("content-type", "application/msgpack")
            .body(body)
            .send()
            .unwrap();
        assert_eq!(answer.status(), 200, "{}", answer.text().unwrap());
        sent.insert(epoch, EVENTS_PER_SECOND as u64);
        // Sleep into the next second.
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_millis();
        std::thread::sleep(Duration::from_millis(u64::from(1000 - ms) + 10));
    }
    sent
}

/// Resumes every paused hostile job every 15 s until `stop`; returns the
/// pause reasons seen.
fn keep_hostile(url: &str, stop: &AtomicBool) -> Vec<String> {
    let mut reasons = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        for _ in 0..15 {
            if stop.load(Ordering::Relaxed) {
                return reasons;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
        let jobs: Value = get_json(&format!("{url}/v1/jobs"));
        for job in jobs["jobs"].as_array().unwrap() {
            let name = job["name"].as_str().unwrap();
            if REFERENCE.contains(&name) {
                assert_eq!(job["state"], "running", "a reference job was paused: {job}");
                continue;
            }
            if job["state"] == "paused" {
                reasons.push(format!("{name}: {}", job["paused_reason"]));
                let answer = client()
                    .post(format!("{url}/v1/jobs/{name}/resume"))
                    .send()
                    .unwrap();
                assert_eq!(answer.status(), 200, "{}", answer.text().unwrap());
            }
        }
    }
    reasons
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

#[test]
fn reference_jobs_stay_on_time_and_correct_beside_thirty_hostile_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (decode, run_memory) = (DECODE_BUDGET.to_string(), RUN_MEMORY.to_string());
    let (proc, url) = Proc::node(
        &[
            "serve",
            "--data",
            data.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--grace-ms",
            "500",
            "--decode-budget-bytes",
            &decode,
            "--run-memory-bytes",
            &run_memory,
            "--job-results-bytes-per-sec",
            "65536",
        ],
        &dir.path().join("serve.log"),
    );
    for name in REFERENCE {
        submit(&url, json!({"name": name}), name);
    }
    for (_, manifest, module) in hostile() {
        submit(&url, manifest, module);
    }

    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (stop, peak, pid) = (stop.clone(), peak.clone(), proc.pid());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(rss(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    };
    let resumer = {
        let (stop, url) = (stop.clone(), url.clone());
        std::thread::spawn(move || keep_hostile(&url, &stop))
    };
    let sent = produce(&url);
    let (first, last) = (*sent.keys().next().unwrap(), *sent.keys().last().unwrap());
    wait_until(30, "the last epoch's count", || {
        let r: Value = get_json(&format!(
            "{url}/v1/jobs/count/results?from={last}&to={last}"
        ));
        r["epochs"].as_array().is_some_and(|e| !e.is_empty())
    });
    stop.store(true, Ordering::Relaxed);
    let reasons = resumer.join().unwrap();
    sampler.join().unwrap();

    // Every reference result is there, correct, and on time.
    let mut delays = Vec::new();
    for job in REFERENCE {
        let r: Value = get_json(&format!(
            "{url}/v1/jobs/{job}/results?from={first}&to={last}"
        ));
        let epochs = r["epochs"].as_array().unwrap();
        assert_eq!(epochs.len(), sent.len(), "{job}: an epoch is missing");
        for e in epochs {
            let epoch = e["epoch"].as_u64().unwrap();
            let second_end = (epoch as i64 + 1) * 1000;
            for record in e["results"].as_array().unwrap() {
                assert_eq!(record["status"], "ok", "{job} {epoch}: {record}");
                delays.push(record["stored_at_ms"].as_i64().unwrap() - second_end);
            }
            if job == "count" {
                assert_eq!(
                    e["merged"]["events"].as_u64(),
                    sent.get(&epoch).copied(),
                    "count of {epoch}: {e}"
                );
            }
        }
    }
    delays.sort_unstable();
    let (p50, p99, max) = (
        percentile(&delays, 0.5),
        percentile(&delays, 0.99),
        *delays.last().unwrap(),
    );
    println!(
        "{} reference results: from the second's end to stored p50 {p50} ms, p99 {p99} ms, max {max} ms",
        delays.len()
    );
    assert!(p99 <= 2000, "p99 {p99} ms (p50 {p50}, max {max})");

    // The hostile jobs were hostile, and were stopped for it.
    println!("pauses: {}", reasons.len());
    for r in &reasons {
        println!("  {}", r.lines().next().unwrap_or_default());
    }
    let behind = reasons
        .iter()
        .filter(|r| r.starts_with("spin-long") && r.contains("falling behind"))
        .count();
    assert!(
        behind >= 6,
        "every spin-long job is paused for falling behind: {reasons:?}"
    );
    for kind in ["spin-", "bomb", "trap"] {
        assert!(
            reasons
                .iter()
                .any(|r| r.starts_with(kind) && r.contains("failed runs in a row")),
            "{kind} jobs are paused for failing: {reasons:?}"
        );
    }
    let refused = metric(&url, "epochd_job_results_refused_total{job=\"huge-0\"}").unwrap_or(0.0);
    assert!(refused > 0.0, "the huge results past the rate were refused");
    let stored = metric(&url, "epochd_job_results_stored_bytes{job=\"huge-0\"}").unwrap();
    let allowed = 65536.0 * (RUN.as_secs_f64() + 60.0) + 65536.0 * 10.0;
    assert!(
        stored <= allowed,
        "huge-0 stored {stored} bytes, more than its rate allows ({allowed})"
    );

    // Memory stayed within the budgets.
    let peak = peak.load(Ordering::Relaxed);
    println!("peak RSS {} MiB", peak >> 20);
    assert!(
        peak <= DECODE_BUDGET + RUN_MEMORY + BASE_MEMORY,
        "peak RSS {} MiB",
        peak >> 20
    );
    proc.stop();
}
