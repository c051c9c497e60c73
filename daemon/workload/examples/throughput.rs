//! Prints how fast the generator makes and encodes events on this machine.
//!
//! `cargo run --release -p epochd-workload --example throughput [events]`

use std::time::Instant;

use epochd_workload::{Format, Workload, WorkloadConfig};

fn main() {
    let count: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse().expect("events: a positive integer"))
        .unwrap_or(1_000_000);

    let started = Instant::now();
    let workload = Workload::new(WorkloadConfig::default());
    println!("dictionaries built in {:?}", started.elapsed());

    let started = Instant::now();
    let web = workload
        .epoch(1_700_000_000, count)
        .filter(|e| e.status().is_some())
        .count();
    report("generate only", count, started);
    assert!(web > 0);

    for format in [Format::MsgPack, Format::Ndjson] {
        let started = Instant::now();
        let mut buf = Vec::with_capacity(4096);
        let mut total = 0;
        for e in workload.epoch(1_700_000_000, count) {
            buf.clear();
            e.write(format, &mut buf);
            total += buf.len();
        }
        report(
            &format!("generate + {format:?} into a reused buffer"),
            count,
            started,
        );
        assert!(total > 0);

        let started = Instant::now();
        let bytes = workload.encode_epoch(1_700_000_000, count, format);
        report(&format!("generate + {format:?}"), count, started);
        println!("  {:.1} B/event", bytes.len() as f64 / count as f64);
    }
}

fn report(what: &str, count: usize, started: Instant) {
    let secs = started.elapsed().as_secs_f64();
    println!("{what}: {:.0} k events/s", count as f64 / secs / 1e3);
}
