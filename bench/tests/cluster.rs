//! The cluster harness end to end on a short workload
//! (`bench/workloads/smoke.json`: 2 nodes in network namespaces, 3 jobs,
//! the three strategies, a kill and a restart), so it cannot silently rot:
//! its JSON result must parse and keep its invariants. The thresholds of
//! the full report (near-data egress at most 1 % of ingest, 10x less CPU at
//! 20 jobs) need its rate and K; they are checked by the full run
//! (`bench/cluster`), not here.

use std::path::PathBuf;
use std::process::Command;

use epochd_bench::cluster::result::{RunResult, Strategy};

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
