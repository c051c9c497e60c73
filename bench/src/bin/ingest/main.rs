//! The high-level ingest path against its floor, zstd level 3 alone.
//!
//! `cargo run --release -p epochd-bench --bin ingest -- [--events N] [--rounds R]
//! [--format msgpack|ndjson|both]`
//!
//! The reference workload is generated and encoded first (not timed). Then, in every
//! round and in one process, side by side:
//! - `zstd-3`: the stream's MessagePack bytes compressed by the store's own
//!   `compress` at level 3, one thread, in pieces of the store's chunk target cut at
//!   event boundaries;
//! - `ingest`: a fresh store on a temp dir, timed from the first `Store::ingest` call
//!   until every epoch is committed and durable (`seal_all` after the last batch,
//!   then `wait_committed` on every receipt), for MessagePack and NDJSON bodies.
//!
//! The target is ingest at least half as fast as compression alone, on the
//! same MessagePack bytes. See docs/BENCHMARKS.md.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use clap::{Parser, ValueEnum};

use epochd_bench::stats::spread;
use epochd_bench::stopwatch::timed;
use epochd_bench::{cores, median, Align, EncodedStream, Stopwatch, StreamSpec, Table, MB};
use epochd_store::{
    compress, CommitListener, Format as StoreFormat, IngestReceipt, Store, StoreConfig, StoreError,
};
use epochd_workload::{Format, Workload, WorkloadConfig, WORKLOAD_VERSION};

/// The target: ingest at least this fraction of the speed of zstd-3 alone.
const TARGET: f64 = 0.5;

/// zstd level of the floor; the store's default.
const ZSTD_LEVEL: i32 = 3;

/// Measure the high-level ingest path side by side with zstd-3 compression alone.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Args {
    /// Events in the stream (reference workload, EVENTS.md).
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
    Ingest(Format),
}

/// One round of one ingest path.
#[derive(Debug, Clone, Copy)]
struct IngestRun {
    /// First ingest call to everything committed and durable.
    secs: f64,
    /// Of which inside `Store::ingest` calls (parse, WAL append and sync).
    in_calls: f64,
    /// Of which after the last batch: `seal_all` and the waits.
    drain: f64,
    /// MessagePack bytes the store accepted.
    accepted_bytes: u64,
    /// Compressed bytes stored in chunks.
    stored_bytes: u64,
    chunks: usize,
    commits: usize,
    supplementary: usize,
    /// Times the store answered "overloaded" and the batch was retried.
    retries: usize,
    /// Whether `wait_committed` returned for every receipt before every event was
    /// committed.
    early: bool,
}

/// Counts the events of durable commits, as reported to commit listeners.
#[derive(Debug, Clone, Default)]
struct CommitCounter(Arc<(Mutex<u64>, Condvar)>);

impl CommitCounter {
    fn listener(&self) -> CommitListener {
        let shared = Arc::clone(&self.0);
        Box::new(move |notices| {
            let (events, changed) = &*shared;
            let mut events = events.lock().unwrap_or_else(PoisonError::into_inner);
            *events += notices.iter().map(|n| n.events).sum::<u64>();
            changed.notify_all();
        })
    }

    fn events(&self) -> u64 {
        *self.0 .0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until at least `target` events are committed; false on timeout.
    fn wait_for(&self, target: u64, timeout: Duration) -> bool {
        let (events, changed) = &*self.0;
        let guard = events.lock().unwrap_or_else(PoisonError::into_inner);
        let (guard, _) = changed
            .wait_timeout_while(guard, timeout, |events| *events < target)
            .unwrap_or_else(PoisonError::into_inner);
        *guard >= target
    }
}

fn accepted(receipts: &[IngestReceipt]) -> u64 {
    receipts.iter().map(|r| r.accepted as u64).sum()
}

fn main() -> Result<()> {
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
    eprintln!(
        "generated {} events over {} epochs from {} (workload v{WORKLOAD_VERSION}, MessagePack in {:.1} s): \
         {:.1} MB MessagePack ({:.0} B/event){}; {} bodies of {} events; {} zstd pieces",
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
        msgpack.events().div_ceil(args.batch_events),
        args.batch_events,
        pieces.len(),
    );
    let stream_of = |format: Format| match format {
        Format::MsgPack => &msgpack,
        Format::Ndjson => ndjson.as_ref().expect("generated when measured"),
    };

    let mut paths = vec![Measured::Zstd];
    paths.extend(formats.iter().map(|&f| Measured::Ingest(f)));
    let mut zstd_secs = Vec::new();
    let mut zstd_compressed = 0;
    let mut runs: Vec<Vec<IngestRun>> = vec![Vec::new(); formats.len()];
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
                    zstd_secs.push(secs);
                    zstd_compressed = compressed;
                    line += &format!(" zstd-3 {secs:.2} s;");
                }
                Measured::Ingest(format) => {
                    let stream = stream_of(format);
                    let run = ingest_once(&root, &spec, stream, args.batch_events, msgpack.len())
                        .with_context(|| {
                        format!("round {}, {} ingest", round + 1, name(format))
                    })?;
                    line += &format!(
                        " ingest {} {:.2} s (calls {:.2} s, drain {:.2} s);",
                        name(format),
                        run.secs,
                        run.in_calls,
                        run.drain
                    );
                    let i = formats.iter().position(|&f| f == format).expect("listed");
                    runs[i].push(run);
                }
            }
        }
        eprintln!("{}", line.trim_end_matches(';'));
    }

    report(&Report {
        args: &args,
        msgpack: &msgpack,
        ndjson: ndjson.as_ref(),
        pieces: pieces.len(),
        chunk_target,
        zstd_secs: &zstd_secs,
        zstd_compressed,
        formats: &formats,
        runs: &runs,
    });
    Ok(())
}

fn check_args(args: &Args) -> Result<()> {
    ensure!(args.events > 0, "--events must be at least 1");
    ensure!(args.rounds > 0, "--rounds must be at least 1");
    ensure!(args.batch_events > 0, "--batch-events must be at least 1");
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

fn name(format: Format) -> &'static str {
    match format {
        Format::MsgPack => "MessagePack",
        Format::Ndjson => "NDJSON",
    }
}

/// Compresses every piece with zstd-3, one thread. Returns seconds and compressed bytes.
fn zstd_floor(pieces: &[&[u8]]) -> (f64, usize) {
    let watch = Stopwatch::start();
    let mut compressed = 0;
    for piece in pieces {
        compressed += std::hint::black_box(compress(piece, ZSTD_LEVEL)).len();
    }
    (watch.secs(), compressed)
}

/// Ingests `stream` into a fresh store and times it until everything is committed.
fn ingest_once(
    root: &Path,
    spec: &StreamSpec,
    stream: &EncodedStream,
    batch_events: usize,
    msgpack_bytes: usize,
) -> Result<IngestRun> {
    let dir = tempfile::Builder::new()
        .prefix("epochd-bench-ingest-")
        .tempdir_in(root)
        .with_context(|| format!("creating a temp dir in {}", root.display()))?;
    let config = StoreConfig {
        grace_ms: 0,
        quiet_ms: 20,
        ..StoreConfig::new(dir.path())
    };
    let store = Store::open(config).context("opening the store")?;
    let committed = CommitCounter::default();
    store.on_commit(committed.listener());
    let format = match stream.format() {
        Format::MsgPack => StoreFormat::MsgPack,
        Format::Ndjson => StoreFormat::Ndjson,
    };
    let batches = stream.batches(batch_events);
    let mut receipts: Vec<IngestReceipt> = Vec::with_capacity(batches.len());
    let mut in_calls = Duration::ZERO;
    let mut retries = 0;

    let watch = Stopwatch::start();
    for body in batches {
        loop {
            let (result, took) = timed(|| store.ingest(body, format));
            in_calls += took;
            match result {
                Ok(receipt) => {
                    receipts.push(receipt);
                    break;
                }
                Err(StoreError::Overloaded { .. }) => {
                    retries += 1;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => return Err(e).context("ingest refused a batch"),
            }
        }
    }
    let drain = Stopwatch::start();
    store.seal_all().context("seal_all")?;
    for receipt in &receipts {
        store
            .wait_committed(receipt, Duration::from_secs(120))
            .context("waiting for a commit")?;
    }
    // `wait_committed` can return while an older part of the same (epoch, dc) is
    // still being committed by the sealer (see docs/BENCHMARKS.md), so the clock
    // stops only when the commit listener, called after each flush, has seen every
    // event.
    let early = committed.events() < accepted(&receipts);
    ensure!(
        committed.wait_for(accepted(&receipts), Duration::from_secs(120)),
        "only {} of {} events were committed after 120 s",
        committed.events(),
        accepted(&receipts)
    );
    let (secs, drain) = (watch.secs(), drain.secs());

    // Checks, not timed: everything accepted, committed once, nothing refused.
    let stats = store.stats();
    ensure!(
        stats.events_accepted == stream.events() as u64 && stats.events_too_old == 0,
        "the store accepted {} events and refused {} as too old, of {}",
        stats.events_accepted,
        stats.events_too_old,
        stream.events()
    );
    if stats.bytes_accepted != msgpack_bytes as u64 {
        eprintln!(
            "note: the store holds {} bytes of MessagePack for the {} body, the generator wrote {}",
            stats.bytes_accepted,
            name(stream.format()),
            msgpack_bytes
        );
    }
    let commits = store
        .commits(spec.first_epoch, spec.last_epoch(), None)
        .context("listing commits")?;
    let committed_events: u64 = commits.iter().map(|c| c.events).sum();
    if committed_events != stream.events() as u64 {
        bail!(
            "{committed_events} events committed, {} ingested",
            stream.events()
        );
    }
    let run = IngestRun {
        secs,
        in_calls: in_calls.as_secs_f64(),
        drain,
        accepted_bytes: stats.bytes_accepted,
        stored_bytes: commits.iter().map(|c| c.bytes).sum(),
        chunks: commits.iter().map(|c| c.chunks).sum(),
        commits: commits.len(),
        supplementary: commits.iter().filter(|c| c.seq > 0).count(),
        retries,
        early,
    };
    store.close().context("closing the store")?;
    drop(dir);
    Ok(run)
}

struct Report<'a> {
    args: &'a Args,
    msgpack: &'a EncodedStream,
    ndjson: Option<&'a EncodedStream>,
    pieces: usize,
    chunk_target: usize,
    zstd_secs: &'a [f64],
    zstd_compressed: usize,
    formats: &'a [Format],
    runs: &'a [Vec<IngestRun>],
}

fn med(values: &[f64]) -> f64 {
    median(values).unwrap_or(f64::NAN)
}

fn range(values: &[f64]) -> String {
    spread(values).map_or_else(String::new, |(lo, hi)| format!("{lo:.2}–{hi:.2}"))
}

fn report(r: &Report<'_>) {
    let events = r.msgpack.events() as f64;
    let mp_mb = r.msgpack.len() as f64 / MB;
    let mut table = Table::new([
        ("path", Align::Left),
        ("events", Align::Right),
        ("input", Align::Left),
        ("input MB", Align::Right),
        ("MsgPack MB", Align::Right),
        ("s (median)", Align::Right),
        ("s (min–max)", Align::Right),
        ("k events/s", Align::Right),
        ("MsgPack MB/s", Align::Right),
        ("input MB/s", Align::Right),
        ("x zstd-3", Align::Right),
        ("≥ 0.5x", Align::Left),
    ]);
    let zstd = med(r.zstd_secs);
    table.row([
        "zstd-3 alone, 1 thread".to_string(),
        format!("{}", r.msgpack.events()),
        "MessagePack".into(),
        format!("{mp_mb:.1}"),
        format!("{mp_mb:.1}"),
        format!("{zstd:.2}"),
        range(r.zstd_secs),
        format!("{:.0}", events / zstd / 1e3),
        format!("{:.1}", mp_mb / zstd),
        format!("{:.1}", mp_mb / zstd),
        "1.00".into(),
        "(floor)".into(),
    ]);
    let mut verdicts = Vec::new();
    for (format, runs) in r.formats.iter().zip(r.runs) {
        let input = match format {
            Format::MsgPack => r.msgpack,
            Format::Ndjson => r.ndjson.expect("generated when measured"),
        };
        let in_mb = input.len() as f64 / MB;
        let secs: Vec<f64> = runs.iter().map(|run| run.secs).collect();
        // Per round: ingest speed / zstd-3 speed on the same bytes = zstd s / ingest s.
        let ratios: Vec<f64> = secs
            .iter()
            .zip(r.zstd_secs)
            .map(|(ingest, zstd)| zstd / ingest)
            .collect();
        let s = med(&secs);
        let ratio = med(&ratios);
        let verdict = if ratio >= TARGET { "PASS" } else { "MISS" };
        verdicts.push((*format, ratio, verdict));
        table.row([
            format!("ingest {}", name(*format)),
            format!("{}", input.events()),
            match format {
                Format::MsgPack => "MessagePack".to_string(),
                Format::Ndjson => "NDJSON".to_string(),
            },
            format!("{in_mb:.1}"),
            format!("{mp_mb:.1}"),
            format!("{s:.2}"),
            range(&secs),
            format!("{:.0}", events / s / 1e3),
            format!("{:.1}", mp_mb / s),
            format!("{:.1}", in_mb / s),
            format!("{ratio:.2}"),
            verdict.to_string(),
        ]);
    }

    println!();
    println!(
        "Ingest (high-level path) vs zstd-3 alone: {} events, {} epochs, bodies of {} events, \
         median of {} rounds, {} cores",
        r.msgpack.events(),
        r.args.epochs,
        r.args.batch_events,
        r.args.rounds,
        cores()
    );
    println!();
    print!("{table}");
    println!();
    println!(
        "- MB = 10^6 bytes. MsgPack MB/s is the MessagePack size of the events over the time, \
         whatever the body format; x zstd-3 is the median over rounds of (zstd-3 s / ingest s) \
         measured in the same round."
    );
    println!(
        "- zstd-3 alone: {} pieces of ≤ {} MiB cut at event boundaries, compression ratio {:.2} \
         ({:.1} MB -> {:.1} MB).",
        r.pieces,
        r.chunk_target >> 20,
        r.msgpack.len() as f64 / r.zstd_compressed as f64,
        mp_mb,
        r.zstd_compressed as f64 / MB
    );
    for (format, runs) in r.formats.iter().zip(r.runs) {
        let Some(last) = runs.last() else { continue };
        let calls: Vec<f64> = runs.iter().map(|run| run.in_calls).collect();
        let drains: Vec<f64> = runs.iter().map(|run| run.drain).collect();
        println!(
            "- ingest {}: compression ratio {:.2} ({:.1} MB -> {:.1} MB) in {} chunks \
             (average {:.0} KB raw) over {} commits ({} supplementary); time in ingest() calls \
             {:.2} s, drain after the last batch {:.2} s (medians){}.",
            name(*format),
            last.accepted_bytes as f64 / last.stored_bytes as f64,
            last.accepted_bytes as f64 / MB,
            last.stored_bytes as f64 / MB,
            last.chunks,
            last.accepted_bytes as f64 / last.chunks.max(1) as f64 / 1e3,
            last.commits,
            last.supplementary,
            med(&calls),
            med(&drains),
            match runs.iter().map(|run| run.retries).sum::<usize>() {
                0 => String::new(),
                n => format!(", {n} overloaded retries"),
            }
        );
        let early = runs.iter().filter(|run| run.early).count();
        if early > 0 {
            println!(
                "  - in {early} of {} rounds, wait_committed returned for every receipt before \
                 every event was committed (an older part of an (epoch, dc) was still being \
                 committed by the sealer); the time includes the wait for it.",
                runs.len()
            );
        }
    }
    for (format, ratio, verdict) in verdicts {
        println!(
            "{verdict}: ingest {} at {ratio:.2}x the speed of zstd-3 alone (target ≥ {TARGET}x)",
            name(format)
        );
    }
}
