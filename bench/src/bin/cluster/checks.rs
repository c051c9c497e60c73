//! The invariants a run must keep (issue 14's "what it must show"), checked
//! on its result: near-data's egress share and CPU ratio, every result right
//! and accounted for, bytes counted on both interfaces, the counters in
//! agreement, and the fault's partial epochs corrected.

use epochd_bench::cluster::result::*;

fn check(name: &str, ok: bool, detail: String) -> Check {
    Check {
        name: name.into(),
        ok,
        detail,
    }
}

/// The run of strategy `s` among `runs`.
fn find(runs: &[StrategyRun], s: Strategy) -> Option<&StrategyRun> {
    runs.iter().find(|r| r.strategy == s)
}

/// The invariants of issue 14's "what it must show", on this result.
pub fn checks(result: &RunResult, timeline_run: Option<&StrategyRun>) -> Vec<Check> {
    let mut out = Vec::new();
    if let Some(near) = find(&result.main, Strategy::NearData) {
        let share = near.per_epoch.egress_bytes / near.per_epoch.ingest_bytes.max(1.0);
        out.push(check(
            "near-data egress is at most 1% of ingested bytes",
            share <= 0.01,
            format!(
                "{:.0} B out per epoch for {:.0} B in: {:.3}%",
                near.per_epoch.egress_bytes,
                near.per_epoch.ingest_bytes,
                share * 100.0
            ),
        ));
    }
    // At 20 jobs: the main run if it has 20, else the sweep's point.
    let at20 = |s: Strategy| {
        [&result.main, &result.sweep]
            .into_iter()
            .flatten()
            .find(|r| r.strategy == s && r.jobs == 20)
    };
    if let (Some(near), Some(per_job)) = (at20(Strategy::NearData), at20(Strategy::PerJobDecode)) {
        let ratio = per_job.per_epoch.total_cpu_s / near.per_epoch.total_cpu_s.max(1e-9);
        out.push(check(
            "near-data uses at least 10x less decode and job CPU than per-job decode at 20 jobs",
            ratio >= 10.0,
            format!(
                "{:.4} CPU-s per epoch against {:.4}: {ratio:.1}x",
                near.per_epoch.total_cpu_s, per_job.per_epoch.total_cpu_s
            ),
        ));
    }
    let all: Vec<&StrategyRun> = result
        .main
        .iter()
        .chain(&result.sweep)
        .chain(timeline_run)
        .collect();
    let mismatches: u64 = all
        .iter()
        .map(|r| r.integrity.mismatches + r.integrity.silently_short)
        .sum();
    let compared: u64 = all.iter().map(|r| r.integrity.compared).sum();
    out.push(check(
        "every merged result equals the independent computation (0 mismatches, none silently short)",
        mismatches == 0 && compared > 0,
        format!("{compared} results compared, {mismatches} wrong"),
    ));
    let unaccounted: Vec<String> = all
        .iter()
        .filter(|r| r.integrity.missing > 0 || r.integrity.compared != r.integrity.expected)
        .map(|r| {
            format!(
                "{} K={} missing {}",
                r.strategy.name(),
                r.jobs,
                r.integrity.missing
            )
        })
        .collect();
    out.push(check(
        "every epoch of every run is accounted for",
        unaccounted.is_empty(),
        if unaccounted.is_empty() {
            format!("{} runs", all.len())
        } else {
            unaccounted.join("; ")
        },
    ));
    let silent: Vec<String> = result
        .main
        .iter()
        .flat_map(|r| r.per_node.iter().map(move |n| (r, n)))
        .filter(|(_, n)| {
            n.client_tx_bytes == 0 || n.client_rx_bytes == 0 || n.cluster_tx_bytes == 0
        })
        .map(|(r, n)| format!("{} {}", r.strategy.name(), n.node))
        .collect();
    out.push(check(
        "bytes are counted on both interfaces of every node",
        silent.is_empty() && !result.main.is_empty(),
        if silent.is_empty() {
            "client and cluster interfaces of every node counted".into()
        } else {
            format!("no bytes on: {}", silent.join(", "))
        },
    ));
    if !result.agreement.is_empty() {
        let bad: Vec<String> = result
            .agreement
            .iter()
            .filter(|a| !a.ok)
            .map(|a| format!("{} {} {} {:.2}", a.strategy.name(), a.node, a.what, a.ratio))
            .collect();
        out.push(check(
            "the nodes' own byte counters agree with their interfaces",
            bad.is_empty(),
            if bad.is_empty() {
                format!("{} comparisons within tolerance", result.agreement.len())
            } else {
                bad.join("; ")
            },
        ));
    }
    if let Some(t) = &result.timeline {
        let partial = t
            .epochs
            .iter()
            .filter(|e| e.versions.first().is_some_and(|v| !v.complete))
            .count();
        let corrected = t
            .epochs
            .iter()
            .filter(|e| {
                e.versions.first().is_some_and(|v| !v.complete)
                    && e.versions.last().is_some_and(|v| v.complete)
            })
            .count();
        let right = t.epochs.iter().filter(|e| e.final_matches).count();
        out.push(check(
            "a kill and restart shows partial epochs, then their corrections",
            partial > 0 && corrected == partial && right == t.epochs.len(),
            format!(
                "{} epochs: {partial} first given partial, {corrected} corrected, {right} final results right",
                t.epochs.len()
            ),
        ));
    }
    out
}
