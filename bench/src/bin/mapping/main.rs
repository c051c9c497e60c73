//! How jobs read the shared epoch: host functions that copy the slices a job asks
//! for into its memory (ABI v1, what the daemon does), against mapping the sealed
//! memfd of the epoch into each instance's linear memory (zero-copy), side by side
//! in one run.
//!
//! `cargo run --release -p epochd-bench --bin mapping -- [--rounds N] [--instances 1,20]`
//!
//! The input is made first (not timed): one (epoch, dc) of the reference workload
//! (`epochd_bench::Commit`), decoded once (`epochd_decode::decode`) into a
//! `SharedEpoch`, and one `INT` column of it (`--column`, default
//! `tuning.wallclock`) whose values every path sums. Then, in every round, order
//! rotated, on this one thread, N instances one after another (each a fresh
//! instance, as the daemon runs every job of every commit), for each N of
//! `--instances`:
//! - `native`: a Rust loop over the values in the host's mapping (the floor);
//! - `host copy`: a WebAssembly job of ABI v1 run by the job runtime
//!   (`epochd_jobs`, pooling allocator: the daemon's configuration), copying the
//!   column with `column_i64` in 64 KiB slices into its memory and summing them;
//! - `host copy, on-demand`: the same on a runtime without the pooling allocator
//!   (what the mapping's allocator costs the host copy);
//! - `mapping`: an engine with the on-demand allocator and a memory creator that
//!   maps the memfd into the instance's memory when the host grows it
//!   (`memory.rs`); the guest sums the values in place, told where by the host.
//!
//! Every sum must equal the native one: the benchmark stops otherwise. See
//! docs/BENCHMARKS.md ("Reading the epoch: host copy or mapping").

// The allocator epochd itself runs with, tuned as it tunes it in main (see
// daemon/src/main.rs and daemon/src/alloc.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod column;
mod hostcopy;
mod mapping;
mod measure;
mod memory;
mod report;

use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use clap::Parser;

use epochd_bench::stats::ByPath;
use epochd_bench::stopwatch::timed;
use epochd_bench::{CommitArgs, MB};
use epochd_decode::SharedEpoch;
use epochd_jobs::RunLimits;
use epochd_workload::WORKLOAD_VERSION;

use crate::column::IntColumn;
use crate::hostcopy::HostCopy;
use crate::mapping::Mapping;
use crate::measure::PathSample;
pub use crate::memory::WASM_PAGE;
use crate::report::Report;

/// Measure two ways for WebAssembly jobs to read the shared epoch: host functions
/// copying slices (ABI v1) and mapping the epoch's memfd into each instance.
#[derive(Debug, Parser)]
#[command(version, long_about = None)]
pub struct Args {
    /// Rounds; the report shows medians.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// The numbers of instances to run one after another, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,20")]
    instances: Vec<usize>,
    /// The commit: `--events`, `--chunk-bytes`, `--level`.
    #[command(flatten)]
    commit: CommitArgs,
    /// The INT column every path sums.
    #[arg(long, default_value = "tuning.wallclock")]
    column: String,
}

/// The scan's loop, the same in both guests: the wrapping sum of `$n` i64 values
/// at `$p`.
pub const SUM_RANGE_WAT: &str = r#"(func $sum_range (param $p i32) (param $n i32) (result i64)
    (local $end i32) (local $s i64)
    (local.set $end (i32.add (local.get $p) (i32.shl (local.get $n) (i32.const 3))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $s (i64.add (local.get $s) (i64.load (local.get $p))))
        (local.set $p (i32.add (local.get $p) (i32.const 8)))
        (br $next)))
    (local.get $s))"#;

/// Every instance's memory cap and limits: the daemon's default manifest (64 MiB
/// of memory, 1 s deadline, 64 KiB of result).
const MEMORY_CAP: usize = 64 << 20;

fn limits() -> RunLimits {
    RunLimits {
        deadline: Duration::from_secs(1),
        memory_bytes: MEMORY_CAP,
        max_result_bytes: 64 << 10,
        random_seed: 0,
    }
}

/// How a path reads the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Way {
    /// A Rust loop over the host's mapping.
    Native,
    /// ABI v1 host functions, pooling allocator (the daemon).
    HostCopy,
    /// ABI v1 host functions, on-demand allocator.
    HostCopyOnDemand,
    /// The memfd mapped into the instance's memory, on-demand allocator.
    Mapping,
}

impl Way {
    /// Every way, in report order.
    pub const ALL: [Way; 4] = [
        Way::Native,
        Way::HostCopy,
        Way::HostCopyOnDemand,
        Way::Mapping,
    ];

    /// Its name in the report.
    pub fn name(self) -> &'static str {
        match self {
            Way::Native => "native (floor)",
            Way::HostCopy => "host copy (daemon: pooling)",
            Way::HostCopyOnDemand => "host copy, on-demand allocator",
            Way::Mapping => "mapping (on-demand allocator)",
        }
    }
}

/// What is timed: N instances of one way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Path {
    /// How.
    pub way: Way,
    /// How many instances, one after another.
    pub n: usize,
}

/// Everything the paths work on, made before the clock starts.
struct Inputs {
    epoch: SharedEpoch,
    column: IntColumn,
    host_copy: HostCopy,
    host_copy_on_demand: HostCopy,
    mapping: Mapping,
}

impl Inputs {
    /// One instance of `way`; checks its sum against the native one.
    fn one(&self, way: Way) -> Result<measure::Instance> {
        let (instance, sum) = match way {
            Way::Native => column::native(&self.epoch, &self.column)?,
            Way::HostCopy => self.host_copy.run(&self.epoch)?,
            Way::HostCopyOnDemand => self.host_copy_on_demand.run(&self.epoch)?,
            Way::Mapping => self.mapping.run(&self.epoch, &self.column)?,
        };
        if sum != self.column.sum {
            bail!(
                "{}: summed {} of {} to {sum}, the native sum is {}",
                way.name(),
                self.column.count,
                self.column.path,
                self.column.sum
            );
        }
        Ok(instance)
    }

    /// N instances of `path.way`, one after another.
    fn measure(&self, path: Path) -> Result<PathSample> {
        measure::path(|instances| {
            for _ in 0..path.n {
                instances.push(self.one(path.way)?);
            }
            Ok(())
        })
    }
}

fn main() -> Result<()> {
    epochd_decode::alloc::tune();
    let mut args = Args::parse();
    ensure!(args.rounds > 0, "--rounds must be at least 1");
    ensure!(args.commit.events > 0, "--events must be at least 1");
    ensure!(
        !args.instances.is_empty() && args.instances.iter().all(|&n| n > 0),
        "--instances must list numbers of at least 1, e.g. --instances 1,20"
    );
    ensure!(
        args.commit.chunk_bytes >= 1024,
        "--chunk-bytes must be at least 1024"
    );
    args.instances.sort_unstable();
    args.instances.dedup();

    // Inputs, before anything is timed.
    let (commit, took) = timed(|| args.commit.generate());
    let blobs = commit.compress(args.commit.level);
    let meta = commit.meta();
    let epoch = epochd_decode::decode(meta, &blobs).context("decoding the commit")?;
    let column = IntColumn::find(&epoch, &args.column)?;
    eprintln!(
        "generated one (epoch, dc) of {} events in {:.1} s (workload v{WORKLOAD_VERSION}): \
         {:.1} MB MessagePack in {} chunks; decoded once: {:.1} MB. Column {} (INT): {} \
         values ({:.3} MB) at byte {} of the epoch, sum {}",
        commit.events(),
        took.as_secs_f64(),
        commit.len() as f64 / MB,
        blobs.len(),
        epoch.len() as f64 / MB,
        column.path,
        column.count,
        column.bytes() as f64 / MB,
        column.offset,
        column.sum,
    );
    ensure!(
        epoch.len().div_ceil(WASM_PAGE) * WASM_PAGE + WASM_PAGE <= MEMORY_CAP,
        "the decoded epoch ({} bytes) does not fit in the mapping guest's memory cap of {} \
         bytes (the daemon's default manifest): use fewer --events",
        epoch.len(),
        MEMORY_CAP
    );
    let inputs = Inputs {
        host_copy: HostCopy::new(true, &args.column, limits())?,
        host_copy_on_demand: HostCopy::new(false, &args.column, limits())?,
        mapping: Mapping::new(MEMORY_CAP)?,
        epoch,
        column,
    };
    inputs
        .mapping
        .check_private_writes(&inputs.epoch, &inputs.column)
        .context("checking that a guest's writes to the mapped epoch stay private")?;

    let mut paths = Vec::new();
    for &n in &args.instances {
        paths.extend(Way::ALL.iter().map(|&way| Path { way, n }));
    }
    // Warm-up, not counted: code pages, pool slots, the host's mapping of the
    // column, the allocators' first growth.
    for &way in &Way::ALL {
        for _ in 0..3 {
            inputs.one(way).context("warm-up")?;
        }
    }
    let mut rounds: ByPath<Path, PathSample> = ByPath::default();
    for round in 0..args.rounds {
        // Rotate the order so a slow spell of the machine does not always hit the
        // same path.
        let mut order = paths.clone();
        order.rotate_left(round % paths.len());
        let mut line = format!("round {}/{}:", round + 1, args.rounds);
        for path in order {
            let sample = inputs.measure(path).with_context(|| {
                format!("round {}, {} x {}", round + 1, path.n, path.way.name())
            })?;
            line += &format!(
                " {} x{} {:.0} µs CPU;",
                short(path.way),
                path.n,
                sample.mean(|i| i.cpu) * 1e6
            );
            rounds.push(path, sample);
        }
        eprintln!("{}", line.trim_end_matches(';'));
    }

    Report {
        args: &args,
        commit: &commit,
        epoch_bytes: inputs.epoch.len(),
        column: &inputs.column,
        rounds: &rounds,
    }
    .print();
    Ok(())
}

fn short(way: Way) -> &'static str {
    match way {
        Way::Native => "native",
        Way::HostCopy => "copy",
        Way::HostCopyOnDemand => "copy-od",
        Way::Mapping => "map",
    }
}
