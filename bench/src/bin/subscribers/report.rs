//! The printed report: where the time goes between a commit and the last
//! subscriber, as Markdown tables ready for the docs, and the verdict.

use std::collections::BTreeMap;

use epochd_bench::stats::percentile;
use epochd_bench::{Align, Table, MB};

use crate::check::{Checks, Window};
use crate::subscriber::{Delivery, Record};
use epochd_bench::procfs::ProcCpu;

/// The issue's target: p99 of commit → last subscriber, ms.
pub const TARGET_P99_MS: f64 = 1000.0;

/// One (job, epoch) of the window, over every subscriber of the job.
struct EpochTimes {
    committed: f64,
    first_commit: f64,
    stored: f64,
    emitted: f64,
    first_received: f64,
    last_received: f64,
    epoch_end: f64,
}

fn times(epoch: u64, copies: &[&Delivery]) -> EpochTimes {
    let d = copies[0];
    let received = copies.iter().map(|c| c.received_ms);
    EpochTimes {
        committed: d.committed_ms as f64,
        first_commit: d.first_commit_ms as f64,
        stored: d.stored_ms as f64,
        emitted: d.emitted_ms as f64,
        first_received: received.clone().fold(f64::INFINITY, f64::min),
        last_received: received.fold(f64::NEG_INFINITY, f64::max),
        epoch_end: (epoch + 1) as f64 * 1000.0,
    }
}

/// What the run measured besides the streams.
pub struct Run<'a> {
    /// Subscribers asked for.
    pub subscribers: usize,
    /// Live subscribers the node counted (`epochd_daemon_subscribers`) in the window.
    pub node_subscribers: Option<f64>,
    /// The jobs.
    pub jobs: &'a [String],
    /// Demo events per second asked for.
    pub rate: u32,
    /// The measured epochs.
    pub window: Window,
    /// Seconds between the CPU and metric snapshots.
    pub seconds: f64,
    /// Events the node accepted between them.
    pub events: Option<f64>,
    /// Commits the node made between them.
    pub commits: Option<f64>,
    /// The node's CPU between them.
    pub node_cpu: ProcCpu,
    /// This process's CPU (the subscribers) between them.
    pub bench_cpu: ProcCpu,
    /// The node's resident memory at the end of the window and its peak, bytes.
    pub node_rss: (u64, u64),
    /// The stream settle time, when set on the command line.
    pub settle_ms: Option<u64>,
}

fn pct(values: &[f64], q: f64) -> String {
    percentile(values, q).map_or_else(|| "-".into(), |v| format!("{v:.0}"))
}

fn stage_row(t: &mut Table, name: &str, values: &[f64]) {
    t.row([
        name.to_owned(),
        values.len().to_string(),
        pct(values, 0.5),
        pct(values, 0.9),
        pct(values, 0.99),
        pct(values, 1.0),
    ]);
}

/// Prints the report.
pub fn print(run: &Run<'_>, records: &[Record], checks: &Checks) {
    // Per job, per measured epoch: every subscriber's copy.
    let mut copies: BTreeMap<&str, BTreeMap<u64, Vec<&Delivery>>> = BTreeMap::new();
    for r in records {
        for d in r.deliveries.iter().filter(|d| run.window.contains(d.epoch)) {
            copies
                .entry(&r.job)
                .or_default()
                .entry(d.epoch)
                .or_default()
                .push(d);
        }
    }
    let per_job: BTreeMap<&str, Vec<EpochTimes>> = copies
        .iter()
        .map(|(job, epochs)| {
            let t = epochs.iter().map(|(&e, c)| times(e, c)).collect();
            (*job, t)
        })
        .collect();
    let all: Vec<&EpochTimes> = per_job.values().flatten().collect();
    let of = |f: &dyn Fn(&EpochTimes) -> f64| all.iter().map(|t| f(t)).collect::<Vec<f64>>();
    let target = of(&|t| t.last_received - t.committed);
    let each: Vec<f64> = records
        .iter()
        .flat_map(|r| &r.deliveries)
        .filter(|d| run.window.contains(d.epoch))
        .map(|d| d.received_ms - d.emitted_ms as f64)
        .collect();

    println!(
        "## Result delivery: {} SSE subscribers, {} jobs, {} measured epochs ({}..={}), \
         demo traffic {} events/s{}\n",
        run.subscribers,
        run.jobs.len(),
        run.window.to - run.window.from,
        run.window.from,
        run.window.to - 1,
        run.rate,
        run.settle_ms
            .map_or_else(String::new, |ms| format!(", --stream-settle-ms {ms}")),
    );

    println!(
        "Per (job, epoch) of the window, over every subscriber of the job; ms (unix wall \
         clock, node and subscribers on the same machine):\n"
    );
    let mut t = Table::new([
        ("stage", Align::Left),
        ("n", Align::Right),
        ("p50 ms", Align::Right),
        ("p90 ms", Align::Right),
        ("p99 ms", Align::Right),
        ("max ms", Align::Right),
    ]);
    stage_row(&mut t, "**commit → last subscriber** (target)", &target);
    stage_row(&mut t, "commit → emit", &of(&|t| t.emitted - t.committed));
    stage_row(
        &mut t,
        "· commit → results stored",
        &of(&|t| t.stored - t.committed),
    );
    stage_row(
        &mut t,
        "· results stored → emit",
        &of(&|t| t.emitted - t.stored),
    );
    stage_row(
        &mut t,
        "emit → first subscriber",
        &of(&|t| t.first_received - t.emitted),
    );
    stage_row(
        &mut t,
        "emit → last subscriber",
        &of(&|t| t.last_received - t.emitted),
    );
    stage_row(&mut t, "emit → a subscriber (each delivery)", &each);
    stage_row(
        &mut t,
        "first dc's commit → last dc's commit",
        &of(&|t| t.committed - t.first_commit),
    );
    stage_row(
        &mut t,
        "end of the second → commit",
        &of(&|t| t.committed - t.epoch_end),
    );
    stage_row(
        &mut t,
        "end of the second → last subscriber",
        &of(&|t| t.last_received - t.epoch_end),
    );
    println!("{t}");

    println!("Per job:\n");
    let mut t = Table::new([
        ("job", Align::Left),
        ("subscribers", Align::Right),
        ("epochs", Align::Right),
        ("no results", Align::Right),
        ("results / event", Align::Right),
        ("dcs / event", Align::Right),
        ("late events", Align::Right),
        ("reconnects", Align::Right),
        ("commit → last p50 ms", Align::Right),
        ("p99 ms", Align::Right),
        ("max ms", Align::Right),
    ]);
    for job in run.jobs {
        let Some(jc) = checks.jobs.get(job) else {
            t.row([job.as_str(), "0"]);
            continue;
        };
        let lat: Vec<f64> = per_job
            .get(job.as_str())
            .map(|ts| ts.iter().map(|t| t.last_received - t.committed).collect())
            .unwrap_or_default();
        let subs = records.iter().filter(|r| &r.job == job);
        let late: usize = subs.clone().map(|r| r.late.len()).sum();
        let reconnects: usize = subs.map(|r| r.reconnects).sum();
        let span = |(lo, hi): (usize, usize)| {
            if lo == hi {
                lo.to_string()
            } else {
                format!("{lo}–{hi}")
            }
        };
        t.row([
            job.clone(),
            jc.subscribers.to_string(),
            jc.epochs.len().to_string(),
            jc.empty.len().to_string(),
            span(jc.results),
            span(jc.dcs),
            late.to_string(),
            reconnects.to_string(),
            pct(&lat, 0.5),
            pct(&lat, 0.99),
            pct(&lat, 1.0),
        ]);
    }
    println!("{t}");

    let deliveries: usize = records.iter().map(|r| r.deliveries.len()).sum();
    let bytes: u64 = records.iter().map(|r| r.bytes).sum();
    let keep_alives: usize = records.iter().map(|r| r.keep_alives).sum();
    let errors: usize = records.iter().map(|r| r.errors.len()).sum();
    let ends: usize = records.iter().map(|r| r.ends.len()).sum();
    let per_sec =
        |v: Option<f64>| v.map_or_else(|| "-".into(), |v| format!("{:.0}", v / run.seconds));
    let cpu = |c: ProcCpu| {
        format!(
            "{:.2} CPU-s = {:.0}% of one core (user {:.2}, kernel {:.2})",
            c.total(),
            c.total() / run.seconds * 100.0,
            c.user,
            c.system
        )
    };
    println!("The run ({:.1} s between the snapshots):\n", run.seconds);
    let mut t = Table::new([("measure", Align::Left), ("value", Align::Left)]);
    t.row([
        "subscribers (connected / counted by the node)".to_owned(),
        format!(
            "{} / {}",
            run.subscribers,
            run.node_subscribers
                .map_or_else(|| "-".into(), |n| format!("{n:.0}"))
        ),
    ]);
    t.row([
        "epoch events delivered (all, warm-up and drain included)".to_owned(),
        format!(
            "{deliveries}; {:.1} MB of stream; {keep_alives} keep-alives; {ends} `end`; {errors} errors",
            bytes as f64 / MB
        ),
    ]);
    t.row([
        "events ingested / s (node's counter)".to_owned(),
        per_sec(run.events),
    ]);
    t.row([
        "commits / s (node's counter)".to_owned(),
        per_sec(run.commits),
    ]);
    t.row(["node CPU (/proc/PID/stat)".to_owned(), cpu(run.node_cpu)]);
    t.row([
        "node RSS at the end / peak".to_owned(),
        format!(
            "{:.0} MB / {:.0} MB",
            run.node_rss.0 as f64 / MB,
            run.node_rss.1 as f64 / MB
        ),
    ]);
    t.row([
        "subscribers' process CPU (this benchmark)".to_owned(),
        cpu(run.bench_cpu),
    ]);
    println!("{t}");

    let p99 = percentile(&target, 0.99).unwrap_or(f64::INFINITY);
    let ok = p99 < TARGET_P99_MS;
    let n = target.len();
    println!("```");
    println!(
        "{}: p99 of commit → last subscriber = {p99:.0} ms over {n} (job, epoch) pairs (target < \
         {TARGET_P99_MS:.0} ms); p50 {} ms, max {} ms{}",
        if ok { "PASS" } else { "MISS" },
        pct(&target, 0.5),
        pct(&target, 1.0),
        if n > 0 && n < 100 {
            " (fewer than 100 pairs: the nearest-rank p99 is the largest one)"
        } else {
            ""
        },
    );
    let checked = if checks.violations.is_empty() {
        "PASS".to_owned()
    } else {
        format!(
            "FAIL ({} violations, listed above)",
            checks.violations.len()
        )
    };
    println!(
        "{checked}: every subscriber received every epoch of its job once, in order, with no \
         gap, the same bytes as the other subscribers, over the whole window"
    );
    println!("```");
}
