//! The high-level ingest path against its floor, zstd level 3 alone.
//!
//! `cargo run --release -p epochd-bench --bin ingest -- [--events N] [--rounds R]
//! [--format msgpack|ndjson|both] [--producers P] [--max-hold-ms MS] [--breakdown]`
//!
//! The reference workload is generated and encoded first (not timed). Then, in every
//! round and in one process, side by side:
//! - `zstd-3`: the stream's MessagePack bytes compressed by the store's own
//!   `compress` at level 3, one thread, in pieces of the store's chunk target cut at
//!   event boundaries;
//! - `ingest`: a fresh store on a temp dir, timed from the first `Store::ingest` call
//!   until every event is committed and durable (`seal_all` after the last batch,
//!   `wait_committed` on every receipt, and the commit listener's count), for
//!   MessagePack and NDJSON bodies;
//! - with `--breakdown`, the parts of an ingest on their own (see `breakdown.rs`).
//!
//! The target is ingest at least half as fast as compression alone, on the
//! same MessagePack bytes. See docs/BENCHMARKS.md.

// The allocator epochd itself runs with, tuned as it tunes it in main (see
// daemon/src/main.rs and daemon/src/alloc.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod breakdown;
mod report;
mod run;

use std::path::PathBuf;

use anyhow::{ensure, Context, Result};
use clap::{Parser, ValueEnum};

use epochd_bench::stopwatch::timed;
use epochd_bench::{EncodedStream, StreamSpec, MB};
use epochd_store::StoreConfig;
use epochd_workload::{Format, Workload, WorkloadConfig, WORKLOAD_VERSION};

use crate::report::{Report, Rounds};
use crate::run::{ingest_once, zstd_floor, Sealing};

/// Measure the high-level ingest path side by side with zstd-3 compression alone.
#[derive(Debug, Parser)]
#[command(version, long_about = None)]
pub struct Args {
    /// Events in the stream (reference workload, docs/WORKLOAD.md).
    #[arg(long, default_value_t = 400_000)]
    events: usize,
    /// Seconds (epochs) the events are spread over.
    #[arg(long, default_value_t = 20)]
    epochs: u64,
    /// Events per ingest request body.
    #[arg(long, default_value_t = 2_000)]
    batch_events: usize,
    /// Rounds; the report shows medians.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Which ingest bodies to measure.
    #[arg(long, value_enum, default_value_t = Formats::Both)]
    format: Formats,
    /// Threads sending bodies concurrently (as concurrent connections would); the
    /// reference figure is 1.
    #[arg(long, default_value_t = 1)]
    producers: usize,
    /// The store's `max_hold_ms` (default: the store's default): an epoch past its
    /// grace is sealed at the latest this long after its first event arrived.
    #[arg(long, default_value_t = StoreConfig::default().max_hold_ms)]
    max_hold_ms: u64,
    /// Also time the parts of an ingest on their own (scan, WAL I/O, ingest with
    /// sealing held off, then the commit of everything).
    #[arg(long)]
    breakdown: bool,
    /// How many seconds before now the first epoch is (the store refuses epochs older
    /// than its retention, 6 h, and seals an epoch only once its second is over).
    #[arg(long, default_value_t = 600)]
    start_secs_ago: u64,
    /// Directory for the stores' temp dirs (default: the system temp dir). Put it on
    /// the disk you want to measure: every ingest call syncs the write-ahead log.
    #[arg(long)]
    dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Formats {
    Msgpack,
    Ndjson,
    Both,
}

/// What is timed in a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Measured {
    Zstd,
    Ingest(Format, Sealing),
    Scan,
    WalIo,
}

/// Display name of a body format.
pub fn name(format: Format) -> &'static str {
    match format {
        Format::MsgPack => "MessagePack",
        Format::Ndjson => "NDJSON",
    }
}

fn main() -> Result<()> {
    epochd_decode::alloc::tune();
    let args = Args::parse();
    check_args(&args)?;
    let formats: Vec<Format> = match args.format {
        Formats::Msgpack => vec![Format::MsgPack],
        Formats::Ndjson => vec![Format::Ndjson],
        Formats::Both => vec![Format::MsgPack, Format::Ndjson],
    };
    let root = args.dir.clone().unwrap_or_else(std::env::temp_dir);

    // Inputs, before anything is timed.
    let spec = StreamSpec::recent(args.events, args.epochs, args.start_secs_ago);
    let workload = Workload::new(WorkloadConfig::default());
    let (msgpack, took) = timed(|| EncodedStream::generate(&workload, &spec, Format::MsgPack));
    let ndjson = formats
        .contains(&Format::Ndjson)
        .then(|| EncodedStream::generate(&workload, &spec, Format::Ndjson));
    let chunk_target = StoreConfig::default().chunk_target_bytes;
    let pieces = msgpack.pieces(chunk_target);
    let bodies = msgpack.batches(args.batch_events);
    eprintln!(
        "generated {} events over {} epochs from {} (workload v{WORKLOAD_VERSION}, MessagePack \
         in {:.1} s): {:.1} MB MessagePack ({:.0} B/event){}; {} bodies of {} events; {} zstd \
         pieces",
        msgpack.events(),
        spec.epochs,
        spec.first_epoch,
        took.as_secs_f64(),
        msgpack.len() as f64 / MB,
        msgpack.len() as f64 / msgpack.events() as f64,
        ndjson.as_ref().map_or(String::new(), |s| format!(
            ", {:.1} MB NDJSON ({:.0} B/event)",
            s.len() as f64 / MB,
            s.len() as f64 / s.events() as f64
        )),
        bodies.len(),
        args.batch_events,
        pieces.len(),
    );
    let stream_of = |format: Format| match format {
        Format::MsgPack => &msgpack,
        Format::Ndjson => ndjson.as_ref().expect("generated when measured"),
    };

    let mut paths = vec![Measured::Zstd];
    paths.extend(formats.iter().map(|&f| Measured::Ingest(f, Sealing::Live)));
    if args.breakdown {
        paths.extend([Measured::Scan, Measured::WalIo]);
        paths.extend(formats.iter().map(|&f| Measured::Ingest(f, Sealing::Held)));
    }
    let mut rounds = Rounds::default();
    for round in 0..args.rounds {
        // Rotate the order so a slow spell of the machine does not always hit the
        // same path.
        let mut order = paths.clone();
        order.rotate_left(round % paths.len());
        let mut line = format!("round {}/{}:", round + 1, args.rounds);
        for path in order {
            match path {
                Measured::Zstd => {
                    let (secs, compressed) = zstd_floor(&pieces);
                    rounds.zstd.push(secs);
                    rounds.zstd_compressed = compressed;
                    line += &format!(" zstd-3 {secs:.2} s;");
                }
                Measured::Ingest(format, sealing) => {
                    let run = ingest_once(
                        &root,
                        &spec,
                        stream_of(format),
                        args.batch_events,
                        sealing,
                        args.producers,
                        args.max_hold_ms,
                    )
                    .with_context(|| {
                        format!("round {}, {} ingest ({sealing:?})", round + 1, name(format))
                    })?;
                    line += &format!(
                        " ingest {} {}{:.2} s (calls {:.2} s, drain {:.2} s);",
                        name(format),
                        if sealing == Sealing::Held {
                            "held "
                        } else {
                            ""
                        },
                        run.secs,
                        run.in_calls,
                        run.drain
                    );
                    rounds.push_ingest(format, sealing, run);
                }
                Measured::Scan => {
                    let secs = breakdown::scan_floor(&msgpack)?;
                    rounds.scan.push(secs);
                    line += &format!(" scan {secs:.2} s;");
                }
                Measured::WalIo => {
                    let secs = breakdown::wal_io_floor(&root, &bodies)?;
                    rounds.wal_io.push(secs);
                    line += &format!(" wal-io {secs:.2} s;");
                }
            }
        }
        eprintln!("{}", line.trim_end_matches(';'));
    }

    Report {
        args: &args,
        msgpack: &msgpack,
        ndjson: ndjson.as_ref(),
        pieces: pieces.len(),
        chunk_target,
        formats: &formats,
        rounds: &rounds,
    }
    .print();
    Ok(())
}

fn check_args(args: &Args) -> Result<()> {
    ensure!(args.events > 0, "--events must be at least 1");
    ensure!(args.rounds > 0, "--rounds must be at least 1");
    ensure!(args.batch_events > 0, "--batch-events must be at least 1");
    ensure!(args.producers > 0, "--producers must be at least 1");
    ensure!(
        args.epochs > 0 && args.epochs <= args.events as u64,
        "--epochs must be between 1 and --events"
    );
    ensure!(
        args.epochs <= args.start_secs_ago,
        "--epochs {} would reach past now with --start-secs-ago {}: the store seals an epoch \
         only once its second is over; raise --start-secs-ago",
        args.epochs,
        args.start_secs_ago
    );
    let retention = StoreConfig::default().retention_secs;
    ensure!(
        args.start_secs_ago + 3600 <= retention,
        "--start-secs-ago {} is too close to the store's retention ({retention} s): \
         its oldest epochs would be refused during the run",
        args.start_secs_ago
    );
    Ok(())
}
