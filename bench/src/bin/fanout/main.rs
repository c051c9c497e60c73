//! Fan-out: one commit decoded once and read by N WebAssembly jobs (the epochd way),
//! against the same N jobs each decoding the commit itself (the MapReduce way), on
//! one thread, side by side in one run.
//!
//! `cargo run --release -p epochd-bench --bin fanout -- [--events N] [--rounds R]
//! [--jobs 1,20,260] [--mapreduce-max 20] [--mapreduce-all]`
//!
//! The input is made first (not timed): one (epoch, dc) of the reference workload,
//! chunked and compressed as the store does it (`epochd_bench::Commit`), and the three
//! reference jobs of `wasm-jobs/out/` (`count`, `latency`, `error-rate`; build them
//! with `wasm-jobs/build`), each compiled once. N jobs are a round-robin mix of the
//! three; every run is a fresh instance of its module (`JobModule::run`), as the
//! daemon runs them. Then, in every round, side by side, order rotated, on the one
//! thread of a one-thread rayon pool, after a warm-up that is not counted, each path
//! right after an untimed decode (so each starts with the allocator in the same state):
//! - `decode`: one decode (`epochd_decode::decode`: decompression, columns, FlatBuffer,
//!   sealed memfd) and dropping the epoch, three times in a row: the middle one (by
//!   CPU) is the round's "one decode";
//! - `epochd N`: one decode, N runs on the shared epoch, dropping it;
//! - `mapreduce N` (N up to `--mapreduce-max`, every N with `--mapreduce-all`): N times
//!   a decode of its own, one run, dropping it. For larger N the MapReduce figure is
//!   computed from the same round's parts, N x (one decode + the mean run), and marked
//!   so.
//!
//! The targets: the marginal CPU of one more job, (epochd N - one decode) / N,
//! at most 2% of one decode; at 20 jobs at least 10x less CPU than the MapReduce way.
//! Every run must succeed, and every instance of a job must give the same result.
//! See docs/BENCHMARKS.md.

// The allocator epochd itself runs with, tuned as it tunes it in main (see
// daemon/src/main.rs and daemon/src/alloc.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod jobs;
mod report;
mod run;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use clap::Parser;
use rayon::ThreadPoolBuilder;

use epochd_bench::stopwatch::timed;
use epochd_bench::{CommitArgs, MB};
use epochd_jobs::{RunLimits, Runtime, RuntimeConfig};
use epochd_workload::WORKLOAD_VERSION;

use crate::jobs::Expected;
use crate::report::{Report, Rounds};
use crate::run::Inputs;

/// Measure one decode fanned out to N WebAssembly jobs against the same jobs each
/// decoding the commit itself (MapReduce), on one thread.
#[derive(Debug, Parser)]
#[command(version, long_about = None)]
pub struct Args {
    /// The commit: `--events`, `--chunk-bytes`, `--level`.
    #[command(flatten)]
    commit: CommitArgs,
    /// Rounds; the report shows medians.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// The numbers of jobs to measure, comma-separated (a round-robin mix of count,
    /// latency, error-rate).
    #[arg(long, value_delimiter = ',', default_value = "1,20,260")]
    jobs: Vec<usize>,
    /// Measure the MapReduce way for N up to this; above it, compute it from the
    /// measured parts.
    #[arg(long, default_value_t = 20)]
    mapreduce_max: usize,
    /// Measure the MapReduce way for every N (260 jobs take about a minute a round).
    #[arg(long)]
    mapreduce_all: bool,
    /// Skip the untimed decode before each path: a path then starts with whatever the
    /// previous one left in the allocator (an experiment, see docs/BENCHMARKS.md).
    #[arg(long)]
    no_settle: bool,
    /// Where the reference jobs' `.wasm` files are (built by wasm-jobs/build).
    #[arg(long, default_value_os_t = epochd_bench::wasm_out_dir())]
    wasm_dir: PathBuf,
    /// Each run's wall-clock deadline, ms (the daemon's default manifest: 1000).
    #[arg(long, default_value_t = 1000)]
    deadline_ms: u64,
}

/// What is timed in a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measured {
    /// (a) One decode, and dropping it.
    Decode,
    /// (b) One decode + N runs on the shared epoch.
    Epochd(usize),
    /// (c) N x (decode + one run).
    MapReduce(usize),
}

impl Measured {
    /// Short name for the progress lines.
    fn short(self) -> String {
        match self {
            Measured::Decode => "decode".into(),
            Measured::Epochd(n) => format!("epochd {n}"),
            Measured::MapReduce(n) => format!("mapreduce {n}"),
        }
    }
}

/// Per run (the daemon's default manifest: 64 MiB of memory, 64 KiB of result).
fn limits(deadline_ms: u64) -> RunLimits {
    RunLimits {
        deadline: Duration::from_millis(deadline_ms),
        memory_bytes: 64 << 20,
        max_result_bytes: 64 << 10,
        random_seed: 0,
    }
}

fn main() -> Result<()> {
    epochd_decode::alloc::tune();
    let mut args = Args::parse();
    ensure!(args.commit.events > 0, "--events must be at least 1");
    ensure!(args.rounds > 0, "--rounds must be at least 1");
    ensure!(
        !args.jobs.is_empty() && args.jobs.iter().all(|&n| n > 0),
        "--jobs must list numbers of jobs of at least 1, e.g. --jobs 1,20,260"
    );
    ensure!(
        args.commit.chunk_bytes >= 1024,
        "--chunk-bytes must be at least 1024"
    );
    args.jobs.sort_unstable();
    args.jobs.dedup();

    // Inputs, before anything is timed.
    let ((commit, blobs), took) = timed(|| {
        let commit = args.commit.generate();
        let blobs = commit.compress(args.commit.level);
        (commit, blobs)
    });
    let compressed: usize = blobs.iter().map(Vec::len).sum();
    let runtime = Runtime::new(RuntimeConfig::default()).context("starting the job runtime")?;
    let jobs = jobs::load(&args.wasm_dir, &runtime)?;
    let one = ThreadPoolBuilder::new()
        .num_threads(1)
        .thread_name(|i| format!("fanout-{i}"))
        .build()
        .context("starting a one-thread pool")?;
    let inputs = Inputs {
        meta: commit.meta(),
        blobs: &blobs,
        events: commit.events(),
        jobs: &jobs,
        limits: limits(args.deadline_ms),
    };
    let decoded_bytes = one
        .install(|| epochd_decode::decode(inputs.meta.clone(), &blobs))
        .context("decoding the commit once before the rounds")?
        .len();
    eprintln!(
        "generated and compressed one (epoch, dc) of {} events in {:.1} s (workload \
         v{WORKLOAD_VERSION}): {:.1} MB MessagePack in {} chunks, {:.1} MB compressed \
         (zstd-{}); decoded: {:.1} MB",
        commit.events(),
        took.as_secs_f64(),
        commit.len() as f64 / MB,
        blobs.len(),
        compressed as f64 / MB,
        args.commit.level,
        decoded_bytes as f64 / MB,
    );
    for job in &jobs {
        eprintln!(
            "compiled {} ({} bytes) once in {:.2} s",
            job.name, job.wasm_bytes, job.compile_secs
        );
    }

    let measured = |n: usize| args.mapreduce_all || n <= args.mapreduce_max;
    let mut paths = vec![Measured::Decode];
    paths.extend(args.jobs.iter().map(|&n| Measured::Epochd(n)));
    paths.extend(
        args.jobs
            .iter()
            .filter(|&&n| measured(n))
            .map(|&n| Measured::MapReduce(n)),
    );
    let mut rounds = Rounds::default();
    let mut expected = Expected::default();
    // Warm-up, not counted: the allocator's heap grown to a decode's size, every
    // job's first instances (pool slots, code pages) and the results to compare with.
    one.install(|| -> Result<()> {
        run::decode_alone(&inputs)?;
        let (_, outputs) = run::epochd(&inputs, 2 * jobs::NAMES.len())?;
        expected.check(outputs, inputs.events, &inputs.meta.dc)?;
        let (_, outputs) = run::mapreduce(&inputs, 1)?;
        expected.check(outputs, inputs.events, &inputs.meta.dc)
    })
    .context("warm-up")?;
    for round in 0..args.rounds {
        // Rotate the order so a slow spell of the machine does not always hit the
        // same path.
        let mut order = paths.clone();
        order.rotate_left(round % paths.len());
        let mut line = format!("round {}/{}:", round + 1, args.rounds);
        for path in order {
            // An untimed decode first, so that every path starts with the allocator in
            // the same state: mimalloc returns freed memory to the kernel ~10 ms after
            // it is freed, and a decode that finds it gone pays for fresh pages again
            // (docs/BENCHMARKS.md, "Fan-out").
            if !args.no_settle {
                one.install(|| run::decode_alone(&inputs))
                    .context("the decode before a path")?;
            }
            let sample = one
                .install(|| measure(path, &inputs, &mut expected))
                .with_context(|| format!("round {}, {}", round + 1, path.short()))?;
            line += &format!(" {} {:.3} CPU-s;", path.short(), sample.cpu);
            rounds.push(path, sample);
        }
        eprintln!("{}", line.trim_end_matches(';'));
    }

    Report {
        args: &args,
        commit: &commit,
        chunks: blobs.len(),
        compressed,
        decoded_bytes,
        jobs: &jobs,
        pooling: runtime.pooling(),
        rounds: &rounds,
        expected: &expected,
    }
    .print();
    Ok(())
}

/// Decodes per round for "one decode": the round's figure is the middle one.
pub const DECODES: usize = 3;

/// Times one path once, then checks (after the clock) that every run succeeded with
/// its job's result.
fn measure(path: Measured, inputs: &Inputs<'_>, expected: &mut Expected) -> Result<run::Sample> {
    let (sample, outputs) = match path {
        Measured::Decode => {
            // The middle one of a few: one decode is the yardstick of every ratio.
            let mut samples = (0..DECODES)
                .map(|_| run::decode_alone(inputs))
                .collect::<Result<Vec<_>>>()?;
            samples.sort_by(|a, b| a.cpu.total_cmp(&b.cpu));
            (samples.swap_remove(DECODES / 2), Vec::new())
        }
        Measured::Epochd(n) => run::epochd(inputs, n)?,
        Measured::MapReduce(n) => run::mapreduce(inputs, n)?,
    };
    expected.check(outputs, inputs.events, &inputs.meta.dc)?;
    Ok(sample)
}
