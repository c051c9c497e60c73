//! Decodes one 100k-event commit of the reference workload many times, on
//! one thread: a fixed loop to profile the decoder with `perf record`.
//!
//! `cargo run --release -p epochd-decode --example decode_loop -- [rounds]`

use std::collections::BTreeMap;
use std::time::Instant;

// As in the daemon: freed memory is reused instead of returned to the kernel
// and faulted in again for the next epoch.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use epochd_decode::{decode, EpochMeta};
use epochd_workload::{Workload, WorkloadConfig};

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20);
    // Chunked as the store chunks a commit: one lane per (type, subtype),
    // each cut into chunks of at most 4 MiB.
    let workload = Workload::new(WorkloadConfig::default());
    let mut lanes: BTreeMap<(&str, String), Vec<Vec<u8>>> = BTreeMap::new();
    for event in workload.epoch(1_700_000_000, 100_000) {
        let chunks = lanes
            .entry((event.kind().as_str(), event.subtype().to_string()))
            .or_default();
        if chunks.last().is_none_or(|c| c.len() > 4 << 20) {
            chunks.push(Vec::new());
        }
        event.write_msgpack(chunks.last_mut().expect("pushed above"));
    }
    let blobs: Vec<Vec<u8>> = lanes
        .into_values()
        .flatten()
        .map(|raw| epochd_codec::compress(&raw, 3))
        .collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    for round in 0..rounds {
        let meta = EpochMeta {
            epoch: 1_700_000_000,
            dc: "ams4".into(),
            seq: 0,
        };
        let start = Instant::now();
        let epoch = pool.install(|| decode(meta, &blobs)).unwrap();
        let secs = start.elapsed().as_secs_f64();
        println!(
            "round {round}: {:.3} s, {:.2} M events/s, {} bytes decoded",
            secs,
            100_000.0 / secs / 1e6,
            epoch.len()
        );
    }
}
