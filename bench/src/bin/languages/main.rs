//! Languages: the same reference job written in each SDK language (Rust, C, Zig,
//! AssemblyScript, Go, Python, JavaScript, whatever `wasm-jobs/out/` holds), run by the job runtime on the
//! same decoded epoch, against a native Rust implementation of the job, side by side
//! in one run.
//!
//! `cargo run --release -p epochd-bench --bin languages -- [--rounds 5] [--events 100000]
//! [--runs 10]`
//!
//! The input is made first (not timed): one (epoch, dc) of the reference workload
//! (`epochd_bench::Commit`), decoded once (`epochd_decode::decode`) into a
//! `SharedEpoch`; every module of every reference job (`count`, `latency`,
//! `error-rate`): Rust's `wasm-jobs/out/<job>.wasm` and each `wasm-jobs/out/<lang>/<job>.wasm`
//! (build them with `wasm-jobs/build`), compiled once each on a runtime with the
//! daemon's configuration (pooling allocator). Then a warm-up (one run of each path,
//! not counted), whose results are checked: every module's result must equal the
//! native one (compared as JSON values; the benchmark stops otherwise). Then, in
//! every round, order rotated, on this one thread, each path `--runs` times:
//! - `native`: the job in Rust over the epoch's FlatBuffer in the host's mapping
//!   (`native.rs`), its result serialised to JSON;
//! - each module: `JobModule::run` as the daemon runs a job (fresh store and instance,
//!   the run, dropping the store), default `RunLimits` but a 10 s deadline.
//!
//! A round's figure of a path is the median of its runs; the report shows the median
//! over rounds and the min–max. "x native" is taken per round. Each module is compiled
//! once ("compile ms"), serialised to its artifact ("artifact KB") and loaded from it
//! ("reload ms", what a restarted daemon spends); the runs use the loaded module.
//! Targets (`report::target`): Rust and C within 2x of native, Go within 3x, any other
//! bare-module language within 5x (issues 5, 15); Python and JavaScript, whose runtime
//! is in the module, a count run under 100 ms per 100k events and a start-up under
//! 5 ms (issue 15). See docs/BENCHMARKS.md ("Languages").

// The allocator epochd itself runs with, tuned as it tunes it in main (see
// daemon/src/main.rs and daemon/src/alloc.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod modules;
mod report;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, ensure, Context, Result};
use clap::Parser;
use serde_json::Value;

use epochd_bench::cpu::thread_time;
use epochd_bench::stats::ByPath;
use epochd_bench::stopwatch::timed;
use epochd_bench::{median, CommitArgs, Stopwatch, MB};
use epochd_decode::SharedEpoch;
use epochd_jobs::{RunLimits, Runtime, RuntimeConfig};
use epochd_workload::WORKLOAD_VERSION;

use crate::modules::{Module, JOBS};
use crate::report::Report;

/// Measure the reference jobs written in each SDK language against a native Rust
/// implementation, on the same decoded epoch.
#[derive(Debug, Parser)]
#[command(version, long_about = None)]
pub struct Args {
    /// Rounds; the report shows medians.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Runs of each path per round; a round's figure is their median.
    #[arg(long, default_value_t = 10)]
    runs: usize,
    /// The commit: `--events`, `--chunk-bytes`, `--level`.
    #[command(flatten)]
    commit: CommitArgs,
    /// Where the modules are: `<dir>/<job>.wasm` (Rust) and `<dir>/<lang>/<job>.wasm`.
    #[arg(long, default_value_os_t = epochd_bench::wasm_out_dir())]
    wasm_dir: PathBuf,
    /// Only these jobs (repeat the flag for several); all of them by default. With
    /// `--lang`, this narrows a run down to one path to profile (the native floor of
    /// each job measured still runs).
    #[arg(long = "job", value_name = "JOB", value_parser = clap::builder::PossibleValuesParser::new(JOBS))]
    jobs: Vec<String>,
    /// Only these languages (`rust`, or a folder under `--wasm-dir`; repeatable); all
    /// of them by default.
    #[arg(long = "lang", value_name = "LANG")]
    langs: Vec<String>,
    /// Each run's wall-clock deadline, ms (generous: a slow language must not fail).
    #[arg(long, default_value_t = 10_000)]
    deadline_ms: u64,
}

/// One measured path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// The native Rust version of job `JOBS[i]`.
    Native(usize),
    /// Module `i` of the loaded ones.
    Wasm(usize),
}

/// One round of one path: medians of its runs, seconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    /// Wall time of a run (instantiation included, for modules).
    pub wall: f64,
    /// This thread's CPU time of a run.
    pub cpu: f64,
    /// Instantiation (modules only; 0 for native).
    pub instantiate: f64,
}

/// One run of a path: its result and (wall, cpu, instantiate) seconds.
fn run_once(
    path: Path,
    modules: &[Module],
    limits: &RunLimits,
    epoch: &SharedEpoch,
) -> Result<(Vec<u8>, Sample)> {
    let cpu0 = thread_time();
    let watch = Stopwatch::start();
    match path {
        Path::Native(job) => {
            let result = epochd_bench::native::run(JOBS[job], epoch)?;
            let wall = watch.secs();
            let cpu = (thread_time() - cpu0).as_secs_f64();
            Ok((
                result,
                Sample {
                    wall,
                    cpu,
                    instantiate: 0.0,
                },
            ))
        }
        Path::Wasm(i) => {
            let m = &modules[i];
            let report = m.module.run(limits, epoch, b"");
            let cpu = (thread_time() - cpu0).as_secs_f64();
            let result = report
                .outcome
                .map_err(|e| anyhow!("{} in {} failed: {e}", m.job, m.lang))?;
            Ok((
                result,
                Sample {
                    wall: report.wall.as_secs_f64(),
                    cpu,
                    instantiate: report.instantiate.as_secs_f64(),
                },
            ))
        }
    }
}

fn name(path: Path, modules: &[Module]) -> String {
    match path {
        Path::Native(j) => format!("{} native", JOBS[j]),
        Path::Wasm(i) => format!("{} {}", modules[i].job, modules[i].lang),
    }
}

fn parse(bytes: &[u8], what: &str) -> Result<Value> {
    serde_json::from_slice(bytes).with_context(|| {
        format!(
            "{what}'s result is not JSON: {}",
            String::from_utf8_lossy(bytes)
        )
    })
}

fn main() -> Result<()> {
    epochd_decode::alloc::tune();
    let args = Args::parse();
    ensure!(args.commit.events > 0, "--events must be at least 1");
    ensure!(args.rounds > 0, "--rounds must be at least 1");
    ensure!(args.runs > 0, "--runs must be at least 1");

    // Inputs, before anything is timed.
    let (epoch, took) = timed(|| -> Result<SharedEpoch> {
        let commit = args.commit.generate();
        let blobs = commit.compress(args.commit.level);
        let meta = commit.meta();
        epochd_decode::decode(meta, &blobs).context("decoding the commit")
    });
    let epoch = epoch?;
    ensure!(
        epoch.view().rows() as usize == args.commit.events,
        "the decoded epoch has {} rows for {} events",
        epoch.view().rows(),
        args.commit.events
    );
    eprintln!(
        "generated and decoded one (epoch, dc) of {} events in {:.1} s (workload \
         v{WORKLOAD_VERSION}): {:.1} MB decoded",
        args.commit.events,
        took.as_secs_f64(),
        epoch.len() as f64 / MB,
    );
    let runtime = Runtime::new(RuntimeConfig::default()).context("starting the job runtime")?;
    ensure!(
        runtime.pooling(),
        "the job runtime has no pooling allocator"
    );
    let jobs: Vec<usize> = (0..JOBS.len())
        .filter(|j| args.jobs.is_empty() || args.jobs.iter().any(|a| a == JOBS[*j]))
        .collect();
    let modules = modules::load(&args.wasm_dir, &runtime, &jobs, &args.langs)?;
    for m in &modules {
        eprintln!(
            "compiled {} in {} ({} bytes) in {:.0} ms",
            m.job,
            m.lang,
            m.bytes,
            m.compile_secs * 1e3
        );
    }
    let limits = RunLimits {
        deadline: Duration::from_millis(args.deadline_ms),
        ..RunLimits::default()
    };

    let mut paths: Vec<Path> = jobs.iter().copied().map(Path::Native).collect();
    paths.extend((0..modules.len()).map(Path::Wasm));

    // Warm-up, not counted: every path once, and the check of its result against the
    // native one (as JSON values) and of every later run against its first bytes.
    let mut expected: Vec<Vec<u8>> = Vec::with_capacity(paths.len());
    let mut byte_equal = Vec::with_capacity(modules.len());
    for &path in &paths {
        let (result, _) = run_once(path, &modules, &limits, &epoch)
            .with_context(|| format!("warm-up of {}", name(path, &modules)))?;
        if let Path::Wasm(i) = path {
            let job = JOBS
                .iter()
                .position(|j| *j == modules[i].job)
                .expect("a reference job");
            let native = &expected[jobs.iter().position(|j| *j == job).expect("measured")];
            let what = name(path, &modules);
            ensure!(
                parse(&result, &what)? == parse(native, "native")?,
                "{what} differs from the native result:\n  native: {}\n  {what}: {}",
                String::from_utf8_lossy(native),
                String::from_utf8_lossy(&result)
            );
            byte_equal.push(result == *native);
        }
        expected.push(result);
    }
    if jobs.first() == Some(&0) {
        let count: Value = parse(&expected[0], "native count")?;
        ensure!(
            count["events"].as_u64() == Some(args.commit.events as u64),
            "native count counted {:?} events of {}",
            count["events"],
            args.commit.events
        );
    }

    let mut rounds: ByPath<Path, Sample> = ByPath::default();
    for round in 0..args.rounds {
        let mut order = paths.clone();
        order.rotate_left(round % paths.len());
        for &path in &order {
            let mut runs = Vec::with_capacity(args.runs);
            for _ in 0..args.runs {
                let (result, sample) = run_once(path, &modules, &limits, &epoch)?;
                let k = paths.iter().position(|p| *p == path).expect("a path");
                ensure!(
                    result == expected[k],
                    "{} gave a result different from its first one",
                    name(path, &modules)
                );
                runs.push(sample);
            }
            let of = |f: fn(&Sample) -> f64| {
                median(&runs.iter().map(f).collect::<Vec<_>>()).unwrap_or(0.0)
            };
            rounds.push(
                path,
                Sample {
                    wall: of(|s| s.wall),
                    cpu: of(|s| s.cpu),
                    instantiate: of(|s| s.instantiate),
                },
            );
        }
        eprintln!("round {}/{} done", round + 1, args.rounds);
    }

    let report = Report {
        events: args.commit.events,
        rounds: args.rounds,
        runs: args.runs,
        modules: &modules,
        samples: &rounds,
        byte_equal: &byte_equal,
    };
    print!("{report}");
    Ok(())
}
