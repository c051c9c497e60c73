//! Many instantiations of one module: all succeed, with the pooling
//! allocator and without. Prints the time per run (run with --nocapture);
//! asserts nothing about it.

use std::time::{Duration, Instant};

use epochd_jobs::{RunLimits, Runtime, RuntimeConfig};
use serde_json::json;

use crate::support::*;

const RUNS: u32 = 1000;

fn small_job() -> String {
    r#"(module
      (import "epochd" "rows" (func $rows (result i32)))
      (import "epochd" "emit" (func $emit (param i32 i32) (result i32)))
      (memory (export "memory") 17)
      (data (i32.const 1024) "some data segment to initialise")
      (func (export "epochd_abi_version") (result i32) (i32.const 1))
      (func (export "epochd_run") (result i32)
        (i32.store (i32.const 0) (call $rows))
        (drop (call $emit (i32.const 0) (i32.const 4)))
        (i32.const 0)))"#
        .into()
}

#[test]
fn many_instantiations() {
    let events: Vec<_> = (0..100).map(|i| json!({"type": "WEB", "n": i})).collect();
    let epoch = epoch_of(meta(1_700_000_000, "ams4", 0), &events);
    for pooling in [true, false] {
        let runtime = Runtime::new(RuntimeConfig {
            pooling,
            ..RuntimeConfig::default()
        })
        .unwrap();
        let job = runtime.compile(small_job().as_bytes()).unwrap();
        let limits = RunLimits::default();
        let mut instantiate = Duration::ZERO;
        let started = Instant::now();
        for i in 0..RUNS {
            let report = job.run(&limits, &epoch, b"");
            assert_eq!(report.outcome, Ok(100u32.to_le_bytes().to_vec()), "run {i}");
            instantiate += report.instantiate;
        }
        let total = started.elapsed();
        println!(
            "{} allocator (in use: pooling = {}): {RUNS} runs in {total:?}: {:?} per run, of \
             which instantiation {:?}",
            if pooling { "pooling" } else { "on-demand" },
            runtime.pooling(),
            total / RUNS,
            instantiate / RUNS,
        );
    }
}
