//! The cluster harness end to end on a short workload
//! (`bench/workloads/smoke.json`: 2 nodes in network namespaces, 3 jobs,
//! the three strategies, a kill and a restart), so it cannot silently rot:
//! its JSON result must parse and keep its invariants. The thresholds of
//! the full report (near-data egress at most 1 % of ingest, 10x less CPU at
//! 20 jobs) need its rate and K; they are checked by the full run
//! (`bench/cluster`), not here. And the same harness against a running
//! cluster (two nodes on loopback): the nodes' own counters make the same
//! report.

use std::path::PathBuf;
use std::process::Command;

use epochd_bench::cluster::result::{RunResult, Strategy};

// The etcd the cluster tests start: one server on loopback, its own data dir.
#[path = "../../daemon/cluster/tests/all/etcd.rs"]
#[allow(dead_code)]
mod etcd;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn epochd() -> PathBuf {
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from);
    target.join("debug/epochd")
}

#[test]
fn the_harness_runs_three_strategies_and_a_fault_and_its_result_holds() {
    let out = tempfile::tempdir().unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_cluster"))
        .arg("--workload")
        .arg(root().join("bench/workloads/smoke.json"))
        .arg("--out")
        .arg(out.path())
        .arg("--epochd")
        .arg(epochd())
        .arg("--wasm-dir")
        .arg(root().join("wasm-jobs/out"))
        .status()
        .expect("the harness runs");
    let text = std::fs::read_to_string(out.path().join("result.json"))
        .unwrap_or_else(|e| panic!("no result.json (harness exited {status}): {e}"));
    let result: RunResult = serde_json::from_str(&text).expect("the result parses");

    // The three strategies, each with every node's bytes on both interfaces.
    let strategies: Vec<Strategy> = result.main.iter().map(|r| r.strategy).collect();
    assert_eq!(strategies, Strategy::ALL.to_vec());
    for run in &result.main {
        assert_eq!(run.per_node.len(), result.workload.nodes);
        for node in &run.per_node {
            assert!(
                node.client_rx_bytes > 0,
                "{:?} {}: no ingest counted",
                run.strategy,
                node.node
            );
            assert!(
                node.client_tx_bytes > 0,
                "{:?} {}: no egress counted",
                run.strategy,
                node.node
            );
            assert!(
                node.cluster_tx_bytes > 0,
                "{:?} {}: nothing between nodes",
                run.strategy,
                node.node
            );
            assert!(
                node.cpu_s > 0.0,
                "{:?} {}: no CPU in its cgroup",
                run.strategy,
                node.node
            );
        }
        // Every (job, epoch) of the window accounted for, and right.
        let i = &run.integrity;
        assert_eq!(
            i.expected,
            (run.jobs as u64) * run.epochs,
            "{:?}",
            run.strategy
        );
        assert_eq!(i.compared, i.expected, "{:?}: {i:?}", run.strategy);
        assert_eq!(
            (i.mismatches, i.missing, i.silently_short),
            (0, 0, 0),
            "{:?}: {i:?}",
            run.strategy
        );
        assert!(run.events > 0);
        assert!(
            run.per_epoch.decode_cpu_s > 0.0,
            "{:?}: no decode CPU",
            run.strategy
        );
    }
    // External processing ships the stored epoch out once per job; the
    // others ship results.
    let by = |s: Strategy| result.main.iter().find(|r| r.strategy == s).unwrap();
    let external = by(Strategy::External).per_epoch.egress_bytes;
    let near = by(Strategy::NearData).per_epoch.egress_bytes;
    assert!(
        external > 10.0 * near,
        "external {external} B vs near-data {near} B per epoch"
    );
    // The per-job decode decodes once per job.
    let decodes = |s: Strategy| {
        by(s)
            .per_node
            .iter()
            .map(|n| n.counters.decodes)
            .sum::<u64>()
    };
    assert!(
        decodes(Strategy::PerJobDecode) >= 2 * decodes(Strategy::NearData),
        "per-job {} vs near-data {} decodes",
        decodes(Strategy::PerJobDecode),
        decodes(Strategy::NearData)
    );

    // The kill: some epochs first partial (naming the node), then corrected;
    // every final result right.
    let timeline = result
        .timeline
        .as_ref()
        .expect("the smoke workload has a fault");
    let partial: Vec<_> = timeline
        .epochs
        .iter()
        .filter(|e| e.versions.first().is_some_and(|v| !v.complete))
        .collect();
    assert!(!partial.is_empty(), "no partial epoch around the kill");
    for e in &partial {
        assert!(
            e.versions[0].missing.iter().any(|m| m.starts_with("n1 ")),
            "{e:?}"
        );
        assert!(
            e.versions.last().unwrap().complete,
            "epoch {} never corrected",
            e.epoch
        );
    }
    assert!(timeline.epochs.iter().all(|e| e.final_matches));

    // The report and its plots were written from it.
    let report = std::fs::read_to_string(out.path().join("report.md")).unwrap();
    assert!(report.contains("COMPUTED, NOT MEASURED"));
    assert!(out.path().join("timeline.svg").is_file());
    // Every check but the thresholds of the full run holds.
    for check in &result.checks {
        if !check.name.contains("at most 1%") {
            assert!(check.ok, "{}: {}", check.name, check.detail);
        }
    }
}

/// The real-cluster mode: a cluster the harness did not start (etcd and two
/// `epochd serve --cluster` on loopback, with tokens), read through the
/// nodes' own counters; the same result, with every figure from /metrics.
#[test]
fn the_harness_drives_a_running_cluster_through_its_own_counters() {
    let etcd = etcd::Etcd::start();
    let token = "bench-test-admin-token-0123";
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = Vec::new();
    let mut urls = Vec::new();
    for i in 0..2 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let node = Command::new(epochd())
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--admin-token", token, "--cluster", &etcd.endpoint()])
            .args([
                "--cluster-name",
                "bench-test",
                "--node-id",
                &format!("r{i}"),
            ])
            .arg("--data")
            .arg(dir.path().join(format!("r{i}")))
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.path().join(format!("r{i}.log"))).unwrap())
            .spawn()
            .expect("epochd starts");
        nodes.push(Killed(node));
        urls.push(format!("http://127.0.0.1:{port}"));
    }
    let workload = dir.path().join("workload.json");
    std::fs::write(
        &workload,
        r#"{"rate": 2000, "dcs": 2, "jobs": 2, "seconds": 3, "warmup": 4,
            "sweep_jobs": [], "latency_nodes": [], "faults": []}"#,
    )
    .unwrap();
    let out = dir.path().join("out");
    let status = Command::new(env!("CARGO_BIN_EXE_cluster"))
        .arg("--workload")
        .arg(&workload)
        .arg("--out")
        .arg(&out)
        .arg("--nodes")
        .arg(urls.join(","))
        .arg("--token")
        .arg(token)
        .arg("--wasm-dir")
        .arg(root().join("wasm-jobs/out"))
        .status()
        .expect("the harness runs");
    let text = std::fs::read_to_string(out.join("result.json"))
        .unwrap_or_else(|e| panic!("no result.json (harness exited {status}): {e}"));
    let result: RunResult = serde_json::from_str(&text).unwrap();
    assert_eq!(result.mode, "real-cluster");
    let strategies: Vec<Strategy> = result.main.iter().map(|r| r.strategy).collect();
    assert_eq!(strategies, vec![Strategy::External, Strategy::NearData]);
    for run in &result.main {
        let i = &run.integrity;
        assert_eq!(i.compared, 2 * run.epochs, "{:?}: {i:?}", run.strategy);
        assert_eq!(
            (i.mismatches, i.missing),
            (0, 0),
            "{:?}: {i:?}",
            run.strategy
        );
        for node in &run.per_node {
            // From the node's own counters: ingest in, bodies out, its CPU.
            assert!(
                node.client_rx_bytes > 0 && node.client_tx_bytes > 0,
                "{node:?}"
            );
            assert!(node.cpu_s > 0.0 && node.peak_rss_bytes > 0, "{node:?}");
        }
    }
    let near = result
        .main
        .iter()
        .find(|r| r.strategy == Strategy::NearData)
        .unwrap();
    assert!(near.per_epoch.decode_cpu_s > 0.0);
    // Parts crossed between the nodes, and the nodes counted them.
    assert!(near.per_node.iter().all(|n| n.counters.node_bytes_in > 0));
    // Nothing to compare the counters with on a real cluster.
    assert!(result.agreement.is_empty());
    // The run's jobs are gone again (a deletion in a cluster takes effect
    // a few seconds ahead).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let jobs_left = || -> usize {
        runtime.block_on(async {
            let jobs: serde_json::Value = reqwest::Client::new()
                .get(format!("{}/v1/jobs", urls[0]))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            jobs["jobs"].as_array().map_or(0, Vec::len)
        })
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while jobs_left() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the run's jobs were not deleted"
        );
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    drop(nodes);
}

/// A child process killed when dropped.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
