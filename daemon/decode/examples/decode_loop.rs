//! Decodes one 100k-event commit of the reference workload many times, on
//! one thread: a fixed loop to profile the decoder with `perf record`.
//!
//! `cargo run --release -p epochd-decode --example decode_loop -- [rounds]`

use std::time::Instant;

// As in the daemon: freed memory is reused instead of returned to the kernel
// and faulted in again for the next epoch.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use epochd_decode::{decode, EpochMeta};
use epochd_workload::{Format, Workload, WorkloadConfig};

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20);
    let workload = Workload::new(WorkloadConfig::default());
    let msgpack = workload.encode_epoch(1_700_000_000, 100_000, Format::MsgPack);
    let events: Vec<&[u8]> = epochd_store::split_events(&msgpack)
        .map(Result::unwrap)
        .collect();
    let blobs: Vec<Vec<u8>> = events
        .chunks(6_000)
        .map(|c| epochd_store::compress(&c.concat(), 3))
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
