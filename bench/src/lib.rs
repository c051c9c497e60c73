//! Shared pieces of epochd's benchmarks: a pre-generated, pre-encoded stream of the
//! reference workload, one committed (epoch, dc) chunked as the store chunks it, a
//! stopwatch, medians and percentiles, per-thread CPU time, and a Markdown table
//! printer; and for the benchmarks that run a real node: the node process ([`node`]),
//! real-time load into it ([`load`]), what `/proc` says about it ([`procfs`]) and its
//! `/metrics` ([`prom`]).
//!
//! Every benchmark binary in this crate (`src/bin/*.rs`) follows the same rules, written
//! down in `docs/BENCHMARKS.md`:
//!
//! - Inputs are generated before anything is timed ([`stream`], [`commit`]).
//! - What is compared is measured side by side in one process, in every round, so a
//!   noisy machine slows both sides alike; ratios are taken per round.
//! - Several rounds; the reported figure is the median ([`stats::median`]).
//! - Results print as a Markdown table ([`table::Table`]) that can be pasted into the
//!   docs as is.

#![deny(missing_docs)]
// One reviewed exception: `native::in_place`, the native jobs' zero-copy view.
#![deny(unsafe_code)]

pub mod cluster;
pub mod commit;
pub mod cpu;
pub mod load;
pub mod native;
pub mod node;
pub mod procfs;
pub mod prom;
pub mod stats;
pub mod stopwatch;
pub mod stream;
pub mod table;

pub use commit::{Commit, CommitArgs};
pub use stats::median;
pub use stopwatch::Stopwatch;
pub use stream::{EncodedStream, StreamSpec};
pub use table::{Align, Table};

/// Logical cores this process may run on (1 if the system will not say).
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Bytes in a benchmark megabyte: MB here is 10^6 bytes, not MiB.
pub const MB: f64 = 1e6;

/// Where `wasm-jobs/build` puts the job modules: `<dir>/<job>.wasm` (Rust)
/// and `<dir>/<lang>/<job>.wasm`.
pub fn wasm_out_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../wasm-jobs/out")
}

/// Runs a benchmark's async body on a multi-threaded runtime named `name`, then exits
/// with status 1 if it returned `false` (a failed check), after letting the runtime's
/// tasks go.
pub fn run_async(
    name: &str,
    body: impl std::future::Future<Output = anyhow::Result<bool>>,
) -> anyhow::Result<()> {
    use anyhow::Context;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name(name)
        .build()
        .context("starting the tokio runtime")?;
    let ok = runtime.block_on(body)?;
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    if !ok {
        std::process::exit(1);
    }
    Ok(())
}
