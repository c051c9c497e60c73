//! The daemon's pipeline in process: a real store, real decoded epochs, the
//! real wasm jobs of wasm-jobs/ (built by `wasm-jobs/build`), real cgroups.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use epochd::pipeline::{Daemon, DaemonConfig, Processed, Source};
use epochd::registry::JobManifest;
use epochd::results::{Outcome, ResultRecord};
use epochd_hooks::CommitNotice;
use epochd_store::{Format, Store, StoreConfig};
use epochd_workload::{Format as WorkloadFormat, Workload, WorkloadConfig};
use serde_json::Value;

use crate::support::now;

/// The bytes of a job built by wasm-jobs/build.
pub fn wasm(name: &str) -> Vec<u8> {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../wasm-jobs/out/{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; build the jobs first with wasm-jobs/build (scripts/test does)",
            path.display()
        )
    })
}

/// A store and its daemon, in process, on a temp dir.
pub struct Node {
    pub _dir: tempfile::TempDir,
    pub store: Arc<Store>,
    pub daemon: Arc<Daemon>,
}

/// A node with `job_threads` job threads, with or without CPU caps.
pub fn node(job_threads: usize, cgroups: bool) -> Node {
    node_with(|config| {
        config.job_threads = job_threads;
        if !cgroups {
            config.cgroups = None;
        }
    })
}

/// A node whose daemon config `configure` changes from the defaults.
pub fn node_with(configure: impl FnOnce(&mut DaemonConfig)) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        Store::open(StoreConfig {
            grace_ms: 3_600_000,
            ..StoreConfig::new(dir.path().join("store"))
        })
        .unwrap(),
    );
    let mut config = DaemonConfig::new(dir.path().join("daemon"));
    configure(&mut config);
    let daemon = Arc::new(Daemon::open(config, Source::Local(store.clone())).unwrap());
    Node {
        _dir: dir,
        store,
        daemon,
    }
}

/// Ingests `count` events for each epoch, commits them, returns the notices.
pub fn commit_epochs(
    store: &Store,
    epochs: std::ops::Range<u64>,
    count: usize,
) -> Vec<CommitNotice> {
    let w = Workload::new(WorkloadConfig::default());
    for e in epochs {
        store
            .ingest(
                &w.encode_epoch(e, count, WorkloadFormat::MsgPack),
                Format::MsgPack,
            )
            .unwrap();
    }
    store.seal_all().unwrap();
    store.outbox().pending().map(Result::unwrap).collect()
}

pub async fn process_all(daemon: &Daemon, notices: &[CommitNotice]) -> Vec<ResultRecord> {
    let mut out = Vec::new();
    for n in notices {
        match daemon.process(n).await.unwrap() {
            Processed::Done(records) => out.extend(records),
            Processed::Gone => panic!("commit {n:?} is gone"),
        }
    }
    out
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The events of a commit as JSON values, read back from the store.
fn events_of(store: &Store, n: &CommitNotice) -> Vec<Value> {
    let key = epochd_store::ManifestKey {
        epoch: n.epoch,
        dc: n.dc.clone(),
        seq: n.seq,
    };
    let raw = store.commit_events(&key).unwrap().unwrap();
    epochd_store::split_events(&raw)
        .map(|e| rmp_serde::from_slice(e.unwrap()).unwrap())
        .collect()
}

fn result_json(r: &ResultRecord) -> Value {
    match &r.outcome {
        Outcome::Ok { result } => serde_json::from_slice(result).unwrap(),
        Outcome::Error { kind, message } => panic!(
            "{} failed on {}/{}: {kind}: {message}",
            r.job, r.epoch, r.dc
        ),
    }
}

/// Nearest-rank percentile of sorted values.
fn nearest_rank(sorted: &[u64], p: u64) -> u64 {
    let rank = (p as usize * sorted.len()).div_ceil(100).max(1);
    sorted[rank - 1]
}

#[test]
fn reference_jobs_match_a_native_computation_over_the_same_events() {
    let node = node(2, false);
    for name in ["count", "latency", "error-rate"] {
        node.daemon
            .registry()
            .submit(JobManifest::new(name), &wasm(name))
            .unwrap();
    }
    let first = now() - 300;
    let notices = commit_epochs(&node.store, first..first + 6, 3000);
    assert_eq!(notices.len(), 6 * 4, "6 epochs x 4 dcs");
    let records = runtime().block_on(process_all(&node.daemon, &notices));
    assert_eq!(records.len(), notices.len() * 3);
    for n in &notices {
        let events = events_of(&node.store, n);
        let result = |job: &str| {
            let r = records
                .iter()
                .find(|r| r.job == job && r.epoch == n.epoch && r.dc == n.dc)
                .unwrap_or_else(|| panic!("no {job} result for {}/{}", n.epoch, n.dc));
            result_json(r)
        };
        // count: events per (type, subtype).
        let mut counts: BTreeMap<(String, String), u64> = BTreeMap::new();
        for e in &events {
            let key = (
                e["type"].as_str().unwrap().to_owned(),
                e["subtype"].as_str().unwrap().to_owned(),
            );
            *counts.entry(key).or_default() += 1;
        }
        let got = result("count");
        assert_eq!(got["events"], events.len() as u64);
        let got_counts: BTreeMap<(String, String), u64> = got["counts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    (
                        c["type"].as_str().unwrap().to_owned(),
                        c["subtype"].as_str().unwrap().to_owned(),
                    ),
                    c["count"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(got_counts, counts, "count of {}/{}", n.epoch, n.dc);
        // error-rate: WEB events with tuning.status >= 500.
        let web: Vec<&Value> = events.iter().filter(|e| e["type"] == "WEB").collect();
        let errors = web
            .iter()
            .filter(|e| e["tuning"]["status"].as_u64().unwrap() >= 500)
            .count();
        let got = result("error-rate");
        assert_eq!(got["dcs"][&n.dc]["web"], web.len() as u64);
        assert_eq!(
            got["dcs"][&n.dc]["errors"], errors as u64,
            "error-rate of {}/{}",
            n.epoch, n.dc
        );
        // latency: nearest-rank percentiles of tuning.wallclock per subtype,
        // within the sketch's documented 1/128.
        let mut by_subtype: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for e in &web {
            by_subtype
                .entry(e["subtype"].as_str().unwrap().to_owned())
                .or_default()
                .push(e["tuning"]["wallclock"].as_u64().unwrap());
        }
        let got = result("latency");
        assert_eq!(got["subtypes"].as_object().unwrap().len(), by_subtype.len());
        for (subtype, mut values) in by_subtype {
            values.sort_unstable();
            for p in [50, 95, 99] {
                let exact = nearest_rank(&values, p);
                let job = got["subtypes"][&subtype][format!("p{p}")].as_u64().unwrap();
                let tolerance = exact / 128 + 1;
                assert!(
                    job.abs_diff(exact) <= tolerance,
                    "p{p} of {subtype} in {}/{}: job {job}, exact {exact}",
                    n.epoch,
                    n.dc
                );
            }
        }
    }
}

#[test]
fn hostile_jobs_get_recorded_errors_within_their_deadline_and_others_carry_on() {
    let node = node(2, false);
    node.daemon
        .registry()
        .submit(JobManifest::new("count"), &wasm("count"))
        .unwrap();
    let deadline_ms = 300;
    for name in ["spin", "memory-bomb", "trap", "huge-result"] {
        let manifest = JobManifest {
            deadline_ms,
            memory_mib: 16,
            max_result_bytes: 1 << 20,
            ..JobManifest::new(name)
        };
        node.daemon
            .registry()
            .submit(manifest, &wasm(name))
            .unwrap();
    }
    // One epoch, 4 dcs: 4 runs each, fewer than the 5 failures that pause a job.
    let first = now() - 200;
    let notices = commit_epochs(&node.store, first..first + 1, 500);
    let rss_before = rss_bytes();
    let records = runtime().block_on(process_all(&node.daemon, &notices));
    let kinds: BTreeMap<&str, Vec<&str>> = records.iter().fold(BTreeMap::new(), |mut m, r| {
        let kind = match &r.outcome {
            Outcome::Ok { .. } => "ok",
            Outcome::Error { kind, .. } => kind.as_str(),
        };
        m.entry(r.job.as_str()).or_default().push(kind);
        m
    });
    let n = notices.len();
    assert_eq!(
        kinds["count"],
        vec!["ok"; n],
        "the well-behaved job delivers every commit"
    );
    assert_eq!(kinds["spin"], vec!["deadline"; n]);
    assert_eq!(kinds["memory-bomb"], vec!["memory"; n]);
    assert_eq!(kinds["trap"], vec!["trap"; n]);
    assert_eq!(kinds["huge-result"], vec!["result_size"; n]);
    for r in records.iter().filter(|r| r.job == "spin") {
        assert!(
            r.wall_us <= (deadline_ms + 500) * 1000,
            "the spinning job ran {} us past a {deadline_ms} ms deadline",
            r.wall_us
        );
    }
    let growth = rss_bytes().saturating_sub(rss_before);
    assert!(growth < 256 << 20, "the daemon grew by {growth} bytes");
    // Stored and readable, with the reason.
    let stored = node
        .daemon
        .results()
        .get("trap", notices[0].epoch, &notices[0].dc, 0)
        .unwrap()
        .unwrap();
    assert!(matches!(stored.outcome, Outcome::Error { ref message, .. } if !message.is_empty()));
}

#[test]
fn a_job_failing_commit_after_commit_is_paused_and_reported() {
    let node = node(1, false);
    node.daemon
        .registry()
        .submit(JobManifest::new("trap"), &wasm("trap"))
        .unwrap();
    node.daemon
        .registry()
        .submit(JobManifest::new("count"), &wasm("count"))
        .unwrap();
    let first = now() - 200;
    let notices = commit_epochs(&node.store, first..first + 2, 100);
    assert_eq!(notices.len(), 8);
    let records = runtime().block_on(process_all(&node.daemon, &notices));
    let trap_runs = records.iter().filter(|r| r.job == "trap").count();
    assert_eq!(
        trap_runs, 5,
        "paused after 5 failures in a row, not retried forever"
    );
    let trap = node.daemon.registry().get("trap").unwrap();
    assert!(trap.paused().unwrap().contains("5 failed runs in a row"));
    assert_eq!(records.iter().filter(|r| r.job == "count").count(), 8);
}

#[test]
fn a_capped_busy_job_stays_under_its_share_while_another_job_delivers_every_epoch() {
    if !nix_is_root() {
        panic!("this test needs root for real cgroups (the test machines run as root)");
    }
    // The spinner, held to 0.2 core, takes about 10 s to reach its 5 s
    // deadline: the lanes must not pause it for falling behind first (a
    // race at the default 10 s that turned its record into `cancelled`).
    let node = node_with(|config| {
        config.job_threads = 2;
        config.lanes.pause_behind = Duration::from_secs(120);
    });
    let caps = node
        .daemon
        .registry()
        .caps()
        .expect("cgroups are available as root");
    let spin = JobManifest {
        cpu_share: 0.2,
        deadline_ms: 5000,
        ..JobManifest::new("spin")
    };
    node.daemon.registry().submit(spin, &wasm("spin")).unwrap();
    node.daemon
        .registry()
        .submit(JobManifest::new("count"), &wasm("count"))
        .unwrap();
    let first = now() - 200;
    let notices = commit_epochs(&node.store, first..first + 1, 1000);
    let spin_job = node.daemon.registry().get("spin").unwrap();
    let cgroup = spin_job.cgroup.as_ref().unwrap();
    let before = cgroup.cpu_usage().unwrap();
    let started = Instant::now();
    // One commit per dc, concurrently: the spinner holds one job thread for
    // its whole deadline; count runs on the other.
    let records = runtime().block_on(async {
        let tasks: Vec<_> = notices
            .iter()
            .take(1)
            .map(|n| {
                let d = node.daemon.clone();
                let n = n.clone();
                tokio::spawn(async move { d.process(&n).await.unwrap() })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            if let Processed::Done(r) = t.await.unwrap() {
                out.extend(r);
            }
        }
        out
    });
    let wall = started.elapsed();
    let used = cgroup.cpu_usage().unwrap() - before;
    let cores = used.as_secs_f64() / wall.as_secs_f64();
    eprintln!(
        "spin capped at 0.2 core used {used:?} over {wall:?}: {cores:.3} cores; parent cap {}",
        caps.parent_cores()
    );
    assert!(
        wall >= Duration::from_secs(4),
        "the spinner ran its whole deadline"
    );
    assert!(
        cores <= 0.25,
        "a job capped at 0.2 core used {cores:.3} cores"
    );
    assert!(records
        .iter()
        .any(|r| r.job == "count" && matches!(r.outcome, Outcome::Ok { .. })));
    assert!(
        records.iter().any(|r| r.job == "spin"
            && matches!(&r.outcome, Outcome::Error { kind, .. } if kind.as_str() == "deadline")),
        "{records:?}"
    );
}

fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb * 1024
}

#[test]
fn a_redelivered_commit_overwrites_its_results_never_duplicates_them() {
    let node = node(2, false);
    node.daemon
        .registry()
        .submit(JobManifest::new("count"), &wasm("count"))
        .unwrap();
    let first = now() - 200;
    let notices = commit_epochs(&node.store, first..first + 1, 200);
    let rt = runtime();
    let once = rt.block_on(process_all(&node.daemon, &notices));
    // The store delivers again what was not acknowledged (a daemon restart).
    let twice = rt.block_on(process_all(&node.daemon, &notices));
    let stored = node.daemon.results().range("count", first, first).unwrap();
    assert_eq!(
        stored.len(),
        notices.len(),
        "one result per (job, epoch, dc, seq)"
    );
    for (a, b) in once.iter().zip(&twice) {
        assert_eq!(
            a.outcome, b.outcome,
            "the same commit gives the same result"
        );
    }
}
