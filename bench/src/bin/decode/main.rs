//! Decoding a commit once, against its floor (zstd decompression alone) and a generic
//! value-tree decode, per core.
//!
//! `cargo run --release -p epochd-bench --bin decode -- [--events N] [--rounds R]
//! [--threads T] [--value-tree rmpv|json|both] [--breakdown]`
//!
//! The input is made first (not timed): one (epoch, dc) of the reference workload,
//! chunked as the store chunks it (per (type, subtype) lane, at most the store's chunk
//! target of raw MessagePack per chunk, cut at event boundaries), each chunk compressed
//! with the store's own `compress` at zstd level 3. Then, in every round and in one
//! process, side by side, each on one thread:
//! - `decompress`: every blob decompressed by the store's `decompress` (the floor);
//! - `rmpv` / `json`: decompression, then every event read into a generic value tree
//!   (`rmpv::Value`, and `serde_json::Value` through rmp-serde), each dropped;
//! - `ours`: `epochd_decode::decode` of the blobs (decompression, columns, FlatBuffer,
//!   sealed memfd) in a one-thread rayon pool;
//! - with `--threads T`, `ours` again on a pool of T threads (all cores for 0);
//! - with `--breakdown`, the parts of `ours` on their own (see `run.rs`).
//!
//! The targets: our decode at least 0.5 M events/s per core, at most 3.5x the
//! decompression-only time, and a decoded epoch at most 1.2x its MessagePack size.
//! See docs/BENCHMARKS.md.

// The allocator epochd itself runs with, tuned as it tunes it in main (see
// daemon/src/main.rs and daemon/src/alloc.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod report;
mod run;

use anyhow::{ensure, Context, Result};
use clap::{Parser, ValueEnum};
use rayon::{ThreadPool, ThreadPoolBuilder};

use epochd_bench::stopwatch::timed;
use epochd_bench::{cores, CommitArgs, MB};
use epochd_workload::WORKLOAD_VERSION;

use crate::report::{Report, Rounds};
use crate::run::{on_pool, on_this_thread, Inputs, Sample};

/// Measure decoding one commit side by side with zstd decompression alone and a
/// generic value-tree decode, per core.
#[derive(Debug, Parser)]
#[command(version, long_about = None)]
pub struct Args {
    /// The commit: `--events`, `--chunk-bytes`, `--level`.
    #[command(flatten)]
    commit: CommitArgs,
    /// Rounds; the report shows medians.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Also decode on a pool of this many threads (0: one per core) and show it as an
    /// extra row.
    #[arg(long)]
    threads: Option<usize>,
    /// Which generic value trees to measure.
    #[arg(long, value_enum, default_value_t = Trees::Both)]
    value_tree: Trees,
    /// Also time the parts of our decode on their own (decompression keeping the raw
    /// chunks, a MessagePack walk, fresh pages, decode_raw, the sealed memfd alone).
    #[arg(long)]
    breakdown: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Trees {
    Rmpv,
    Json,
    Both,
}

/// What is timed in a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measured {
    /// zstd decompression alone (the floor).
    Decompress,
    /// Decompression + `rmpv::Value` per event.
    Rmpv,
    /// Decompression + `serde_json::Value` per event (rmp-serde).
    Json,
    /// `epochd_decode::decode`, one thread.
    Ours,
    /// `epochd_decode::decode`, `--threads` threads.
    OursParallel,
    /// Breakdown: decompression keeping every raw chunk.
    DecompressKept,
    /// Breakdown: walking every MessagePack value.
    Walk,
    /// Breakdown: first touch of fresh memory (page faults).
    Touch,
    /// Breakdown: `decode_raw` of the raw chunks, one thread.
    OursRaw,
    /// Breakdown: `SharedEpoch::new` of the FlatBuffer alone.
    Seal,
}

impl Measured {
    /// Short name for the progress lines.
    fn short(self) -> &'static str {
        match self {
            Measured::Decompress => "decompress",
            Measured::Rmpv => "rmpv",
            Measured::Json => "json",
            Measured::Ours => "ours",
            Measured::OursParallel => "ours-parallel",
            Measured::DecompressKept => "decompress-kept",
            Measured::Walk => "walk",
            Measured::Touch => "touch",
            Measured::OursRaw => "decode_raw",
            Measured::Seal => "seal",
        }
    }
}

/// The name prefix of the parallel pool's threads (their CPU is read from `/proc`).
const PARALLEL_PREFIX: &str = "decode-par-";

fn main() -> Result<()> {
    epochd_decode::alloc::tune();
    let args = Args::parse();
    ensure!(args.commit.events > 0, "--events must be at least 1");
    ensure!(args.rounds > 0, "--rounds must be at least 1");
    ensure!(
        args.commit.chunk_bytes >= 1024,
        "--chunk-bytes must be at least 1024"
    );
    let threads = args.threads.map(|t| if t == 0 { cores() } else { t });

    // Inputs, before anything is timed.
    let ((commit, blobs), took) = timed(|| {
        let commit = args.commit.generate();
        let blobs = commit.compress(args.commit.level);
        (commit, blobs)
    });
    let raws = commit.raws();
    let meta = commit.meta();
    let one = pool(1, "decode-1-")?;
    let many = threads.map(|t| pool(t, PARALLEL_PREFIX)).transpose()?;
    let compressed: usize = blobs.iter().map(Vec::len).sum();
    let flatbuffer = one
        .install(|| epochd_decode::decode(meta.clone(), &blobs))
        .context("decoding the commit once before the rounds")?
        .bytes()
        .to_vec();
    let inputs = Inputs {
        meta,
        blobs: &blobs,
        raws: &raws,
        events: commit.events(),
        flatbuffer: &flatbuffer,
    };
    eprintln!(
        "generated and compressed one (epoch, dc) of {} events in {:.1} s (workload \
         v{WORKLOAD_VERSION}): {:.1} MB MessagePack ({:.0} B/event) in {} chunks of ≤ {} KiB \
         raw, {:.1} MB compressed (zstd-{}, {:.2}x); decoded: {:.1} MB",
        commit.events(),
        took.as_secs_f64(),
        commit.len() as f64 / MB,
        commit.len() as f64 / commit.events() as f64,
        blobs.len(),
        args.commit.chunk_bytes >> 10,
        compressed as f64 / MB,
        args.commit.level,
        commit.len() as f64 / compressed as f64,
        flatbuffer.len() as f64 / MB,
    );

    let mut paths = vec![Measured::Decompress];
    if args.value_tree != Trees::Json {
        paths.push(Measured::Rmpv);
    }
    if args.value_tree != Trees::Rmpv {
        paths.push(Measured::Json);
    }
    paths.push(Measured::Ours);
    if many.is_some() {
        paths.push(Measured::OursParallel);
    }
    if args.breakdown {
        paths.extend([
            Measured::DecompressKept,
            Measured::Walk,
            Measured::Touch,
            Measured::OursRaw,
            Measured::Seal,
        ]);
    }
    let mut rounds = Rounds::default();
    for round in 0..args.rounds {
        // Rotate the order so a slow spell of the machine does not always hit the
        // same path.
        let mut order = paths.clone();
        order.rotate_left(round % paths.len());
        let mut line = format!("round {}/{}:", round + 1, args.rounds);
        for path in order {
            let sample = measure(path, &inputs, &one, many.as_ref(), &mut rounds)
                .with_context(|| format!("round {}, {}", round + 1, path.short()))?;
            line += &format!(" {} {:.3} s;", path.short(), sample.secs);
            rounds.push(path, sample);
        }
        eprintln!("{}", line.trim_end_matches(';'));
    }

    Report {
        args: &args,
        threads,
        commit: &commit,
        compressed,
        chunks: blobs.len(),
        rounds: &rounds,
    }
    .print();
    Ok(())
}

/// A rayon pool of `threads` threads named `prefix` + index.
fn pool(threads: usize, prefix: &str) -> Result<ThreadPool> {
    let prefix = prefix.to_string();
    ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(move |i| format!("{prefix}{i}"))
        .build()
        .with_context(|| format!("starting a pool of {threads} threads"))
}

/// Times one path once. Everything but the parallel decode runs on the one thread of
/// `one` (our decode uses rayon: installed there, it stays on that thread).
fn measure(
    path: Measured,
    inputs: &Inputs<'_>,
    one: &ThreadPool,
    many: Option<&ThreadPool>,
    rounds: &mut Rounds,
) -> Result<Sample> {
    let on_one = |work: fn(&Inputs<'_>) -> Result<()>| {
        one.install(|| on_this_thread(|| work(inputs)))
            .map(|(sample, ())| sample)
    };
    match path {
        Measured::Decompress => on_one(run::decompress_only),
        Measured::Rmpv => on_one(run::rmpv_tree),
        Measured::Json => on_one(run::json_value_tree),
        Measured::DecompressKept => on_one(run::decompress_kept),
        Measured::Walk => on_one(run::walk),
        Measured::Touch => on_one(run::touch_fresh),
        Measured::Ours | Measured::OursRaw | Measured::Seal => {
            let work = match path {
                Measured::Ours => run::ours,
                Measured::OursRaw => run::ours_raw,
                _ => run::seal_only,
            };
            let (sample, epoch) = one.install(|| on_this_thread(|| work(inputs)))?;
            run::check(&epoch, inputs)?;
            rounds.decoded_bytes = epoch.len();
            Ok(sample)
        }
        Measured::OursParallel => {
            let many = many.context("--threads was not given")?;
            let (sample, epoch) =
                many.install(|| on_pool(PARALLEL_PREFIX, || run::ours(inputs)))?;
            run::check(&epoch, inputs)?;
            Ok(sample)
        }
    }
}
