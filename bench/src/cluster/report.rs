//! The Markdown report of one cluster run, made from its [`RunResult`] alone (so a
//! kept result can be reported again): what ran, the checks, Booking's part-3 table as
//! measured, per node figures, the same figures scaled to Booking's cluster (computed,
//! and labelled so), the K sweep, latency by cluster size, a fault and its recovery,
//! the nodes' counters against the interfaces, and the plots.

use std::fmt::Write as _;

use super::result::{RunResult, Strategy, StrategyRun, Timeline};
use crate::table::{Align, Table};
use crate::MB;

// Booking's setting in part 3 of the article, which the measured figures are scaled to.
const B_NODES: f64 = 30.0;
const B_CPUS_PER_NODE: f64 = 10.0;
const B_JOBS: f64 = 20.0;
const B_EPOCH_BYTES: f64 = 70.0 * MB;
const B_REPLICAS: f64 = 3.0;
const B_RESULT_BYTES: f64 = 10e3;

// Writing to a String cannot fail, so the fmt::Result is dropped here, once.
macro_rules! line {
    ($out:expr) => { $out.push('\n') };
    ($out:expr, $($arg:tt)*) => {{ let _ = writeln!($out, $($arg)*); }};
}

/// The report, Markdown. `plots` are (title, file name relative to the report) pairs,
/// embedded at the end as images.
pub fn markdown(result: &RunResult, plots: &[(String, String)]) -> String {
    let mut out = String::new();
    header(&mut out, result);
    checks(&mut out, result);
    let main = main_runs(result);
    measured(&mut out, &main);
    per_node(&mut out, &main);
    scaled_section(&mut out, &main);
    sweep(&mut out, result);
    latency(&mut out, result);
    if let Some(timeline) = &result.timeline {
        fault(&mut out, timeline);
    }
    agreement(&mut out, result);
    if !plots.is_empty() {
        line!(out, "## Plots\n");
        for (title, file) in plots {
            line!(out, "![{}]({})\n", title.replace(['[', ']'], ""), file);
        }
    }
    out
}

/// The main run of each strategy, in the report's order (the first, should one repeat).
fn main_runs(result: &RunResult) -> Vec<&StrategyRun> {
    Strategy::ALL
        .iter()
        .filter_map(|&s| result.main.iter().find(|r| r.strategy == s))
        .collect()
}

/// Three significant digits, so columns of very different sizes read alike.
fn sig3(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// Bytes in 10^3 multiples (MB = [`MB`]), as the rest of the benchmarks count them.
pub(crate) fn fmt_bytes(b: f64) -> String {
    let a = b.abs();
    if a < 1e3 {
        format!("{b:.0} B")
    } else if a < MB {
        format!("{} kB", sig3(b / 1e3))
    } else if a < 1e9 {
        format!("{} MB", sig3(b / MB))
    } else {
        format!("{} GB", sig3(b / 1e9))
    }
}

/// CPU-seconds, in ms below a second so small costs keep their digits.
pub(crate) fn fmt_cpu(s: f64) -> String {
    let a = s.abs();
    if a == 0.0 {
        "0 s".into()
    } else if a < 1e-3 {
        format!("{} µs", sig3(s * 1e6))
    } else if a < 1.0 {
        format!("{} ms", sig3(s * 1e3))
    } else {
        format!("{} s", sig3(s))
    }
}

fn ms(v: f64) -> String {
    format!("{v:.1} ms")
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// Free text in a table cell: a `|` would end the cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// Unix ms as UTC `YYYY-MM-DD HH:MM` (the store clock's `utc`, to the minute).
pub(crate) fn utc(unix_ms: u64) -> String {
    // `YYYY-MM-DDTHH:MM:SSZ` cut to the minute, with a space.
    let full = epochd_store::clock::utc(unix_ms / 1000);
    format!("{} {}", &full[..10], &full[11..16])
}

fn header(out: &mut String, r: &RunResult) {
    let w = &r.workload;
    let load = |l: [f64; 3]| format!("{:.2} {:.2} {:.2}", l[0], l[1], l[2]);
    line!(
        out,
        "# epochd cluster benchmark, {} UTC\n",
        utc(r.started_at_ms)
    );
    line!(
        out,
        "- mode: `{}`; epochd build: `{}`",
        r.mode,
        r.machine.epochd_build
    );
    line!(
        out,
        "- workload: {} nodes, K = {} jobs ({}), {} events/s from {} dcs, {} s measured \
         after {} s of warm-up",
        w.nodes,
        w.jobs,
        w.job_mix.join(", "),
        w.rate,
        w.dcs,
        w.seconds,
        w.warmup
    );
    if let Some(cores) = w.node_cpu_cores {
        line!(out, "- each node capped at {cores} cores (cgroup)");
    }
    line!(
        out,
        "- machine: {} cores, kernel {}; load (1, 5, 15 min) {} before, {} after\n",
        r.machine.cores,
        r.machine.kernel,
        load(r.machine.load_before),
        load(r.machine.load_after)
    );
}

fn checks(out: &mut String, r: &RunResult) {
    line!(out, "## Checks\n");
    let failed = r.checks.iter().filter(|c| !c.ok).count();
    if failed == 0 {
        line!(out, "All {} checks passed.\n", r.checks.len());
    } else {
        line!(out, "**{failed} of {} checks FAILED.**\n", r.checks.len());
    }
    let mut t = Table::new([
        ("check", Align::Left),
        ("ok", Align::Left),
        ("detail", Align::Left),
    ]);
    for c in &r.checks {
        t.row([
            cell(&c.name),
            (if c.ok { "PASS" } else { "FAIL" }).into(),
            cell(&c.detail),
        ]);
    }
    line!(out, "{t}");
}

fn strategy_table(first: &str, runs: &[&StrategyRun]) -> Table {
    let columns = std::iter::once((first.to_string(), Align::Left)).chain(
        runs.iter()
            .map(|r| (r.strategy.title().to_string(), Align::Right)),
    );
    Table::new(columns)
}

fn measured(out: &mut String, main: &[&StrategyRun]) {
    line!(out, "## Booking's part-3 table, measured\n");
    if main.is_empty() {
        line!(out, "No main run in this result.\n");
        return;
    }
    line!(
        out,
        "Every figure is the whole cluster's cost of one epoch (one epoch = one second \
         of events), averaged over the run's window; all strategies ran on the same events.\n"
    );
    let near = main
        .iter()
        .find(|r| r.strategy == Strategy::NearData)
        .map(|r| r.per_epoch.total_cpu_s)
        .filter(|&t| t > 0.0);
    let mut t = strategy_table("per epoch", main);
    let row = |t: &mut Table, name: &str, f: &dyn Fn(&StrategyRun) -> String| {
        t.row(std::iter::once(name.to_string()).chain(main.iter().map(|r| f(r))));
    };
    row(&mut t, "window", &|r| {
        format!("{} nodes, K = {}, {} epochs", r.nodes, r.jobs, r.epochs)
    });
    row(&mut t, "ingested", &|r| fmt_bytes(r.per_epoch.ingest_bytes));
    row(&mut t, "stored (compressed)", &|r| {
        fmt_bytes(r.per_epoch.stored_bytes)
    });
    row(&mut t, "external bandwidth (egress)", &|r| {
        let p = &r.per_epoch;
        if p.ingest_bytes > 0.0 {
            let pct = 100.0 * p.egress_bytes / p.ingest_bytes;
            format!("{} ({}% of ingested)", fmt_bytes(p.egress_bytes), sig3(pct))
        } else {
            fmt_bytes(p.egress_bytes)
        }
    });
    row(&mut t, "internal bandwidth", &|r| {
        fmt_bytes(r.per_epoch.internal_bytes)
    });
    row(&mut t, "deserialisation CPU-s", &|r| {
        fmt_cpu(r.per_epoch.decode_cpu_s)
    });
    row(&mut t, "processing CPU-s", &|r| {
        fmt_cpu(r.per_epoch.job_cpu_s)
    });
    row(&mut t, "total CPU-s (nodes + consumers)", &|r| {
        let total = r.per_epoch.total_cpu_s;
        match near {
            Some(n) => format!("{} ({:.1}x near-data)", fmt_cpu(total), total / n),
            None => fmt_cpu(total),
        }
    });
    row(&mut t, "commit → result p50 / p99", &|r| {
        format!("{:.1} / {:.1} ms", r.latency_ms.p50, r.latency_ms.p99)
    });
    row(&mut t, "integrity: compared/expected", &|r| {
        let i = &r.integrity;
        let missing = if i.missing > 0 {
            format!(", {} missing", i.missing)
        } else {
            String::new()
        };
        format!(
            "{}/{}, {} mismatches{missing}",
            i.compared, i.expected, i.mismatches
        )
    });
    row(&mut t, "saturated", &|r| yes(r.saturated).into());
    line!(out, "{t}");
    let mut notes = String::new();
    for r in main {
        if !r.saturation.is_empty() {
            line!(
                notes,
                "- {} saturation: {}",
                r.strategy.name(),
                r.saturation
            );
        }
        for e in &r.integrity.examples {
            line!(notes, "- {} mismatch: {e}", r.strategy.name());
        }
    }
    if !notes.is_empty() {
        line!(out, "{notes}");
    }
}

fn per_node(out: &mut String, main: &[&StrategyRun]) {
    if main.is_empty() {
        return;
    }
    line!(out, "## Per node\n");
    line!(
        out,
        "Over each run's whole window, not per epoch; tx is what leaves the node. The \
         decode and job CPU-s are the node's own counters; node CPU-s covers every thread \
         (its cgroup on the emulation, its process on a real cluster, where the nodes' own \
         counters also stand in for the interfaces).\n"
    );
    for r in main {
        line!(
            out,
            "### {}: {} nodes, K = {}, {} epochs\n",
            r.strategy.title(),
            r.nodes,
            r.jobs,
            r.epochs
        );
        let mut t = Table::new(
            [
                "node",
                "client tx",
                "client rx",
                "cluster tx",
                "cluster rx",
                "node CPU-s",
                "decode CPU-s",
                "job CPU-s",
                "peak RSS",
            ]
            .map(|c| {
                (
                    c,
                    if c == "node" {
                        Align::Left
                    } else {
                        Align::Right
                    },
                )
            }),
        );
        for n in &r.per_node {
            t.row([
                n.node.clone(),
                fmt_bytes(n.client_tx_bytes as f64),
                fmt_bytes(n.client_rx_bytes as f64),
                fmt_bytes(n.cluster_tx_bytes as f64),
                fmt_bytes(n.cluster_rx_bytes as f64),
                fmt_cpu(n.cpu_s),
                fmt_cpu(n.counters.decode_cpu_s),
                fmt_cpu(n.counters.job_cpu_s),
                format!("{:.1} MiB", n.peak_rss_bytes as f64 / (1024.0 * 1024.0)),
            ]);
        }
        line!(out, "{t}");
    }
}

/// One strategy's measured per-epoch figures scaled to Booking's setting, per second.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Scaled {
    external: f64,
    external_per_node: f64,
    internal_per_node: f64,
    decode_cpu_s: f64,
    job_cpu_s: f64,
}

/// The formulas of the scaled section (its text spells them out; keep them in step).
/// `None` when the run stored nothing or ran no jobs, which would divide by zero.
fn scaled(r: &StrategyRun) -> Option<Scaled> {
    let p = &r.per_epoch;
    let (s, k) = (p.stored_bytes, r.jobs as f64);
    if s <= 0.0 || k <= 0.0 {
        return None;
    }
    let scale = B_EPOCH_BYTES / s;
    let job_cpu_s = p.job_cpu_s * scale * B_JOBS / k;
    // Results scale with the jobs, not with the epoch's size.
    let results = p.egress_bytes / k * B_JOBS;
    let internal = p.internal_bytes / k * B_JOBS;
    let (external, internal, decode_cpu_s) = match r.strategy {
        Strategy::External => (
            B_JOBS * B_EPOCH_BYTES * (p.egress_bytes / (k * s)),
            B_REPLICAS * B_JOBS * B_EPOCH_BYTES,
            p.decode_cpu_s * scale * B_JOBS / k,
        ),
        Strategy::PerJobDecode => (results, internal, p.decode_cpu_s * scale * B_JOBS / k),
        Strategy::NearData => (results, internal, p.decode_cpu_s * scale),
    };
    Some(Scaled {
        external,
        external_per_node: external / B_NODES,
        internal_per_node: internal / B_NODES,
        decode_cpu_s,
        job_cpu_s,
    })
}

/// Booking's own figures from part 3, per row of the scaled table.
fn booking(s: Strategy) -> [&'static str; 6] {
    match s {
        Strategy::External => [
            "1.5 GB/s (50 MB/s × 30)",
            "50 MB/s",
            "140 MB/s",
            "0 in the cluster (done by consumers)",
            "0",
            "0 in the cluster",
        ],
        Strategy::PerJobDecode => [
            "200 kB/s",
            "—",
            "a couple of MB/s",
            "100 s",
            "33% (0.33 s per second per CPU)",
            "0.2 s",
        ],
        Strategy::NearData => ["—"; 6],
    }
}

fn booking_name(s: Strategy) -> &'static str {
    match s {
        Strategy::External => "Booking: external processing",
        Strategy::PerJobDecode => "Booking: MapReduce",
        Strategy::NearData => "Booking: post-commit hooks",
    }
}

fn scaled_section(out: &mut String, main: &[&StrategyRun]) {
    line!(
        out,
        "## Scaled to Booking's setting — COMPUTED, NOT MEASURED\n"
    );
    line!(
        out,
        "**Nothing in this section was measured.** It scales the measured per-epoch \
         figures above to the setting of Booking's part 3: {B_NODES} nodes of \
         {B_CPUS_PER_NODE} CPUs, {B_JOBS} jobs, a {} stored epoch each second, every fetch \
         reading {B_REPLICAS} replicas, results of about {}. Booking's own figures, from the \
         article, stand beside each column.\n",
        fmt_bytes(B_EPOCH_BYTES),
        fmt_bytes(B_RESULT_BYTES)
    );
    let runs: Vec<(&StrategyRun, Scaled)> = main
        .iter()
        .filter_map(|r| scaled(r).map(|s| (*r, s)))
        .collect();
    if runs.is_empty() {
        line!(
            out,
            "No main run stored bytes and ran jobs, so nothing can be scaled.\n"
        );
        return;
    }
    let cpus = B_NODES * B_CPUS_PER_NODE;
    let columns = std::iter::once(("per second".to_string(), Align::Left)).chain(
        runs.iter().flat_map(|(r, _)| {
            [
                (format!("{}, scaled", r.strategy.title()), Align::Right),
                (booking_name(r.strategy).to_string(), Align::Right),
            ]
        }),
    );
    let mut t = Table::new(columns);
    let names = [
        "external bandwidth, cluster",
        "external bandwidth per node",
        "internal bandwidth per node",
        "deserialisation CPU-s",
        "deserialisation, share of the cluster's 300 CPUs",
        "processing CPU-s",
    ];
    for (i, name) in names.iter().enumerate() {
        let cells = runs.iter().flat_map(|(r, s)| {
            let share = format!("{}%", sig3(100.0 * s.decode_cpu_s / cpus));
            let ours = match i {
                0 => format!("{}/s", fmt_bytes(s.external)),
                1 => format!("{}/s", fmt_bytes(s.external_per_node)),
                2 if r.strategy == Strategy::External => {
                    format!("{}/s (modelled)", fmt_bytes(s.internal_per_node))
                }
                2 => format!("{}/s", fmt_bytes(s.internal_per_node)),
                3 => fmt_cpu(s.decode_cpu_s),
                4 if r.strategy == Strategy::External => format!("{share} (on consumers)"),
                4 => share,
                _ => fmt_cpu(s.job_cpu_s),
            };
            [ours, booking(r.strategy)[i].to_string()]
        });
        t.row(std::iter::once(name.to_string()).chain(cells));
    }
    line!(out, "{t}");
    line!(
        out,
        "How it is computed. S is the measured stored bytes per epoch, K the run's jobs, \
         and E, I, D and J the measured per-epoch egress bytes, internal bytes, decode CPU-s \
         and job CPU-s; 70 MB / S scales an epoch's work to Booking's epoch, assuming it \
         grows in proportion to the stored bytes.\n\n\
         - external processing: external = 20 × 70 MB × E / (K × S) per second (every \
         consumer fetches the whole epoch, with the fetch overhead E / (K × S) measured), \
         per node ÷ 30; internal per node = 3 × 20 × 70 MB ÷ 30: 3 replicas read per fetch, \
         as Booking's Riak does; epochd's store has no replication, so this row is modelled; \
         deserialisation = D × (70 MB / S) × 20 / K; processing = J × (70 MB / S) × 20 / K. \
         Both run on the consumers, outside the cluster.\n\
         - per-job decode: external = E / K × 20 (results scale with jobs, not with the \
         epoch's size), per node ÷ 30; internal = I / K × 20, per node ÷ 30; \
         deserialisation = D × (70 MB / S) × 20 / K; processing = J × (70 MB / S) × 20 / K.\n\
         - near-data: external and internal as per-job decode; deserialisation = D × \
         (70 MB / S), once per epoch whatever the number of jobs; processing = J × \
         (70 MB / S) × 20 / K.\n\
         - share of the cluster's CPUs = deserialisation CPU-s per second ÷ (30 × 10).\n\n\
         The results leaving the cluster are the sizes epochd's reference jobs measured, \
         not Booking's 10 kB: 20 jobs × 10 kB would be 200 kB/s for the cluster, Booking's \
         MapReduce figure.\n"
    );
}

fn sweep(out: &mut String, r: &RunResult) {
    line!(out, "## CPU-s per epoch against K jobs\n");
    if r.sweep.is_empty() {
        line!(out, "No sweep in this run.\n");
        return;
    }
    let strategies: Vec<Strategy> = Strategy::ALL
        .into_iter()
        .filter(|s| r.sweep.iter().any(|run| run.strategy == *s))
        .collect();
    let mut ks: Vec<usize> = r.sweep.iter().map(|run| run.jobs).collect();
    ks.sort_unstable();
    ks.dedup();
    line!(
        out,
        "Whole-cluster CPU-s per epoch, total (deserialisation + processing), at each K.\n"
    );
    let columns = std::iter::once(("K".to_string(), Align::Right)).chain(
        strategies
            .iter()
            .map(|s| (s.title().to_string(), Align::Right)),
    );
    let mut t = Table::new(columns);
    for k in ks {
        let cells = strategies.iter().map(|&s| {
            match r
                .sweep
                .iter()
                .find(|run| run.strategy == s && run.jobs == k)
            {
                Some(run) => {
                    let p = &run.per_epoch;
                    let star = if run.saturated { "*" } else { "" };
                    format!(
                        "{} ({} + {}){star}",
                        fmt_cpu(p.total_cpu_s),
                        fmt_cpu(p.decode_cpu_s),
                        fmt_cpu(p.job_cpu_s)
                    )
                }
                None => "—".to_string(),
            }
        });
        t.row(std::iter::once(k.to_string()).chain(cells));
    }
    line!(out, "{t}");
    if r.sweep.iter().any(|run| run.saturated) {
        line!(
            out,
            "\\* saturated: the machine's cores were the limit during the window, so its \
             wall-clock figures mean little; its CPU-s per epoch still hold.\n"
        );
    }
}

fn latency(out: &mut String, r: &RunResult) {
    line!(out, "## Commit → merged result by cluster size\n");
    if r.latency.is_empty() {
        line!(out, "No latency runs in this run.\n");
        return;
    }
    line!(out, "Near-data, every (job, epoch) of each run's window.\n");
    let mut t = Table::new([
        ("nodes", Align::Right),
        ("n", Align::Right),
        ("p50", Align::Right),
        ("p99", Align::Right),
    ]);
    for l in &r.latency {
        t.row([
            l.nodes.to_string(),
            l.latency_ms.n.to_string(),
            ms(l.latency_ms.p50),
            ms(l.latency_ms.p99),
        ]);
    }
    line!(out, "{t}");
}

fn fault(out: &mut String, tl: &Timeline) {
    line!(out, "## A fault and its recovery\n");
    let base = tl
        .epochs
        .iter()
        .map(|e| e.epoch)
        .min()
        .or_else(|| tl.faults.iter().map(|f| f.at_epoch).min())
        .unwrap_or(0);
    let off = |e: u64| format!("+{}", e.saturating_sub(base));
    line!(
        out,
        "Near-data, job `{}`; epochs are seconds after the first ({base}).\n",
        tl.job
    );
    for f in &tl.faults {
        line!(
            out,
            "- {} of {} from {} until {}",
            f.kind,
            f.node,
            off(f.at_epoch),
            off(f.until_epoch)
        );
    }
    line!(out);
    let mut t = Table::new([
        ("epoch", Align::Right),
        ("first version", Align::Left),
        ("later versions", Align::Left),
        ("final matches", Align::Left),
    ]);
    let (mut partial, mut corrected) = (0, 0);
    for e in &tl.epochs {
        let first_partial = e.versions.first().is_some_and(|v| !v.complete);
        partial += usize::from(first_partial);
        corrected += usize::from(first_partial && e.versions.iter().any(|v| v.complete));
        if e.versions.len() == 1 && !first_partial {
            continue;
        }
        let first = match e.versions.first() {
            None => "none came".to_string(),
            Some(v) if v.complete => format!("complete after {} ms", v.after_ms),
            Some(v) => format!(
                "PARTIAL {}/{} after {} ms, missing {}",
                v.parts_received,
                v.parts_expected,
                v.after_ms,
                v.missing.join(", ")
            ),
        };
        let later: Vec<String> = e
            .versions
            .iter()
            .skip(1)
            .map(|v| {
                let what = if v.complete { "complete" } else { "PARTIAL" };
                format!("v{} {what} after {} ms", v.version, v.after_ms)
            })
            .collect();
        t.row([
            off(e.epoch),
            cell(&first),
            later.join("; "),
            yes(e.final_matches).into(),
        ]);
    }
    line!(out, "{t}");
    line!(
        out,
        "{} epochs, {partial} first given partial, {corrected} corrected, \
         all final results match: {}\n",
        tl.epochs.len(),
        yes(tl.epochs.iter().all(|e| e.final_matches))
    );
}

fn agreement(out: &mut String, r: &RunResult) {
    if r.agreement.is_empty() {
        return;
    }
    line!(out, "## Counters against interfaces\n");
    line!(
        out,
        "A node's own byte counters (bodies) against its interfaces' (frames, headers and \
         acknowledgements included), over the same window.\n"
    );
    let mut t = Table::new(
        [
            "strategy",
            "node",
            "what",
            "counter",
            "interface",
            "ratio",
            "ok",
        ]
        .map(|c| {
            (
                c,
                if ["counter", "interface", "ratio"].contains(&c) {
                    Align::Right
                } else {
                    Align::Left
                },
            )
        }),
    );
    for a in &r.agreement {
        t.row([
            a.strategy.name().to_string(),
            a.node.clone(),
            a.what.clone(),
            fmt_bytes(a.counter_bytes as f64),
            fmt_bytes(a.interface_bytes as f64),
            format!("{:.3}", a.ratio),
            yes(a.ok).into(),
        ]);
    }
    line!(out, "{t}");
}

/// A small result with every part filled, for this module's and the plots' tests.
#[cfg(test)]
pub(crate) fn sample() -> RunResult {
    use super::result::*;
    use super::workload::WorkloadFile;
    let run = |strategy, jobs: usize, decode_cpu_s: f64, egress: f64, saturated| StrategyRun {
        strategy,
        nodes: 3,
        jobs,
        subscribers: 1,
        first_epoch: 1000,
        epochs: 10,
        events: 200_000,
        per_node: vec![NodeFigures {
            node: "n0".into(),
            cpu_s: 1.5,
            peak_rss_bytes: 50 << 20,
            ..Default::default()
        }],
        per_epoch: PerEpoch {
            ingest_bytes: 2e6,
            stored_bytes: 7e5,
            egress_bytes: egress,
            internal_bytes: 3e4,
            decode_cpu_s,
            job_cpu_s: 0.002 * jobs as f64,
            total_cpu_s: decode_cpu_s + 0.002 * jobs as f64,
            ..Default::default()
        },
        latency_ms: Percentiles {
            n: 100,
            p50: 12.0,
            p99: 40.0,
        },
        integrity: Integrity {
            expected: 200,
            compared: 200,
            ..Default::default()
        },
        saturated,
        saturation: String::new(),
    };
    let mut sweep = Vec::new();
    for k in [1, 5, 20] {
        sweep.push(run(
            Strategy::External,
            k,
            0.01 * k as f64,
            7e5 * k as f64,
            k == 20,
        ));
        sweep.push(run(Strategy::PerJobDecode, k, 0.01 * k as f64, 1e3, false));
        sweep.push(run(Strategy::NearData, k, 0.01, 1e3, false));
    }
    let version = |version, complete, after_ms| VersionSeen {
        version,
        complete,
        after_ms,
        parts_received: if complete { 3 } else { 2 },
        parts_expected: 3,
        missing: if complete {
            vec![]
        } else {
            vec!["n1 lease_gone".into()]
        },
    };
    let epochs = (1000..1020)
        .map(|epoch| TimelineEpoch {
            epoch,
            versions: if (1006..1010).contains(&epoch) {
                vec![version(1, false, 150), version(2, true, 9000)]
            } else {
                vec![version(1, true, 120)]
            },
            final_matches: true,
        })
        .collect();
    RunResult {
        format: FORMAT,
        started_at_ms: 1_700_000_000_000,
        machine: Machine {
            cores: 16,
            load_before: [0.5, 0.4, 0.3],
            load_after: [3.0, 1.0, 0.5],
            kernel: "6.1.0".into(),
            epochd_build: "release".into(),
        },
        mode: "namespaces".into(),
        workload: WorkloadFile::default(),
        main: vec![
            run(Strategy::NearData, 20, 0.05, 3e4, false),
            run(Strategy::External, 20, 1.0, 1.5e7, false),
            run(Strategy::PerJobDecode, 20, 1.0, 3e4, false),
        ],
        sweep,
        latency: vec![
            LatencyRun {
                nodes: 1,
                samples_ms: vec![5.0, 6.0, 7.0, 9.0],
                latency_ms: Percentiles {
                    n: 4,
                    p50: 6.0,
                    p99: 9.0,
                },
            },
            LatencyRun {
                nodes: 3,
                samples_ms: vec![8.0, 9.0, 12.0],
                latency_ms: Percentiles {
                    n: 3,
                    p50: 9.0,
                    p99: 12.0,
                },
            },
        ],
        timeline: Some(Timeline {
            faults: vec![FaultSeen {
                kind: "kill".into(),
                node: "n1".into(),
                at_epoch: 1006,
                until_epoch: 1014,
            }],
            job: "count-0".into(),
            epochs,
        }),
        agreement: vec![Agreement {
            strategy: Strategy::NearData,
            node: "n0".into(),
            what: "egress".into(),
            counter_bytes: 980,
            interface_bytes: 1000,
            ratio: 0.98,
            ok: true,
        }],
        checks: vec![
            Check {
                name: "no mismatches".into(),
                ok: true,
                detail: "0 of 600".into(),
            },
            Check {
                name: "never silently short".into(),
                ok: false,
                detail: "2 | short".into(),
            },
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00");
        assert_eq!(utc(1_700_000_000_000), "2023-11-14 22:13");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00");
    }

    #[test]
    fn units_read() {
        assert_eq!(fmt_bytes(512.0), "512 B");
        assert_eq!(fmt_bytes(12_345.0), "12.3 kB");
        assert_eq!(fmt_bytes(70e6), "70.0 MB");
        assert_eq!(fmt_cpu(0.0123), "12.3 ms");
        assert_eq!(fmt_cpu(1.234), "1.23 s");
        assert_eq!(fmt_cpu(0.0), "0 s");
    }

    #[test]
    fn report_has_every_section_and_says_fail() {
        let plots = [("CPU <vs> K".to_string(), "cpu_vs_jobs.svg".to_string())];
        let md = markdown(&sample(), &plots);
        // Table cells are padded to their column's width; compare without the padding.
        let flat = md
            .split(' ')
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        for heading in [
            "## Checks",
            "## Booking's part-3 table, measured",
            "## Per node",
            "## Scaled to Booking's setting — COMPUTED, NOT MEASURED",
            "## CPU-s per epoch against K jobs",
            "## Commit → merged result by cluster size",
            "## A fault and its recovery",
            "## Counters against interfaces",
            "![CPU <vs> K](cpu_vs_jobs.svg)",
        ] {
            assert!(md.contains(heading), "{heading} missing from\n{md}");
        }
        assert!(
            flat.contains("| never silently short | FAIL | 2 \\| short |"),
            "{md}"
        );
        assert!(md.contains("**1 of 2 checks FAILED.**"));
        assert!(md.contains("2023-11-14 22:13 UTC"));
        // External's 1.04 s against near-data's 0.09 s.
        assert!(md.contains("(11.6x near-data)"), "{md}");
        // The K = 20 external sweep point was saturated.
        assert!(md.contains("+ 40.0 ms)*"), "{md}");
        assert!(md.contains(
            "20 epochs, 4 first given partial, 4 corrected, all final results match: yes"
        ));
        let six = "| +6 | PARTIAL 2/3 after 150 ms, missing n1 lease_gone | \
                   v2 complete after 9000 ms |";
        assert!(flat.contains(six), "{md}");
        assert!(!flat.contains("| +5 |"), "a plain epoch is not listed");
    }

    #[test]
    fn near_data_decodes_once_when_scaled() {
        let r = sample();
        let near = r
            .main
            .iter()
            .find(|r| r.strategy == Strategy::NearData)
            .unwrap();
        let s = scaled(near).unwrap();
        let want = near.per_epoch.decode_cpu_s * 70e6 / near.per_epoch.stored_bytes;
        assert!(
            (s.decode_cpu_s - want).abs() < 1e-12,
            "{} vs {want}",
            s.decode_cpu_s
        );
        // 0.05 CPU-s × (70 MB / 0.7 MB) = 5 s; per-job decode pays it per job.
        assert_eq!(fmt_cpu(want), "5.00 s");
        let per_job = r
            .main
            .iter()
            .find(|r| r.strategy == Strategy::PerJobDecode)
            .unwrap();
        assert!((scaled(per_job).unwrap().decode_cpu_s - 100.0).abs() < 1e-9);
        // External's modelled internal bandwidth is Booking's 140 MB/s per node.
        let ext = r
            .main
            .iter()
            .find(|r| r.strategy == Strategy::External)
            .unwrap();
        assert!((scaled(ext).unwrap().internal_per_node - 140e6).abs() < 1e-3);
        let md = markdown(&r, &[]);
        let section = &md[md.find("COMPUTED, NOT MEASURED").unwrap()..];
        let row = section
            .lines()
            .find(|l| l.starts_with("| deserialisation CPU-s"))
            .unwrap();
        assert!(row.contains(" 5.00 s "), "{row}");
        assert!(row.contains(" 100 s "), "{row}");
    }

    #[test]
    fn absent_strategies_have_no_columns() {
        let mut r = sample();
        r.main.retain(|r| r.strategy == Strategy::NearData);
        let md = markdown(&r, &[]);
        assert!(!md.contains("Booking: MapReduce"));
        assert!(md.contains("Booking: post-commit hooks"));
    }
}
