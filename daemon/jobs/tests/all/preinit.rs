//! Pre-initialisation (daemon/jobs/src/preinit.rs): a binary reactor's
//! `_initialize` runs once, at submission, and every run starts from the
//! memory and globals it left, with the results of calling it in every run;
//! a reactor whose `_initialize` reads the run or prints is left as it is.

use epochd_jobs::{JobModule, LogLevel, RunLimits};
use serde_json::json;

use crate::components::{compile, limits, workload_epoch};
use crate::support::*;

const WASI: &str = r#"
  (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
"#;

/// `job` compiled from its binary form (text is never pre-initialised).
fn binary(job: &Job) -> JobModule {
    let wasm = wat::parse_str(job.wat()).unwrap();
    runtime().compile(&wasm).unwrap_or_else(|e| panic!("{e}"))
}

fn epoch() -> epochd_decode::SharedEpoch {
    epoch_of(meta(1_700_000_000, "ams4", 0), &[json!({"type": "WEB"})])
}

#[test]
fn a_reactor_starts_every_run_from_the_state_its_initialize_left() {
    // `_initialize` counts its calls, sets a 64-bit global, writes memory,
    // grows it by a page and writes at its new end, and draws random bytes;
    // the run reports all of it.
    let job = Job::new()
        .imports(WASI)
        .item(
            r#"(global $calls (mut i32) (i32.const 0))
               (global $big (mut i64) (i64.const 0))
               (func $end (result i32) (i32.sub (i32.mul (memory.size) (i32.const 65536)) (i32.const 4)))
               (func (export "_initialize")
                 (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
                 (global.set $big (i64.const 0x0123456789abcdef))
                 (i32.store (i32.const 0x2000) (i32.const 0x11223344))
                 (drop (memory.grow (i32.const 1)))
                 (i32.store (call $end) (i32.const 0x55667788))
                 (drop (call $random_get (i32.const 0x3000) (i32.const 8))))"#,
        )
        .run(
            "(i32.store (i32.const 0) (global.get $calls))
             (i64.store (i32.const 4) (global.get $big))
             (i32.store (i32.const 12) (i32.load (i32.const 0x2000)))
             (i32.store (i32.const 16) (i32.load (call $end)))
             (i32.store (i32.const 20) (memory.size))
             (i64.store (i32.const 24) (i64.load (i32.const 0x3000)))
             (drop (call $emit (i32.const 0) (i32.const 32)))
             (i32.const 0)",
        );
    let once = binary(&job);
    let every_run = job.compile();
    assert!(once.preinitialized() && !once.has_initialize(), "{once:?}");
    assert!(!every_run.preinitialized() && every_run.has_initialize());

    let first = run_ok(&once, &epoch(), b"");
    let mut want = Vec::new();
    want.extend_from_slice(&1i32.to_le_bytes());
    want.extend_from_slice(&0x0123456789abcdefi64.to_le_bytes());
    want.extend_from_slice(&0x11223344i32.to_le_bytes());
    want.extend_from_slice(&0x55667788i32.to_le_bytes());
    want.extend_from_slice(&65i32.to_le_bytes());
    assert_eq!(first[..24], want[..], "one call, its state, one more page");
    assert_eq!(run_ok(&every_run, &epoch(), b"")[..24], want[..]);
    // The random bytes were drawn once, at submission: the same in every
    // run (and not zero: the draw happened).
    assert_ne!(first[24..], [0; 8]);
    for _ in 0..3 {
        assert_eq!(run_ok(&once, &epoch(), b""), first);
    }
}

#[test]
fn a_reactor_whose_initialize_reads_the_run_or_prints_is_initialised_in_every_run() {
    // `_initialize` reads the config (an epochd function): each run must see
    // its own.
    let job = Job::new()
        .item(
            r#"(func (export "_initialize")
                 (drop (call $config_read (i32.const 0x2000) (i32.const 4))))"#,
        )
        .run(
            "(drop (call $emit (i32.const 0x2000) (i32.const 1)))
             (i32.const 0)",
        );
    let module = binary(&job);
    assert!(!module.preinitialized() && module.has_initialize());
    assert_eq!(run_ok(&module, &epoch(), b"7"), b"7");
    assert_eq!(run_ok(&module, &epoch(), b"8"), b"8");

    // `_initialize` prints: each run's log has the line.
    let mut job = Job::new().imports(WASI);
    let hello = job.string("hello from _initialize\n");
    let module = binary(
        &job.item(&format!(
            r#"(func (export "_initialize") (drop {}))"#,
            fd_write(1, &hello, 0x2000)
        ))
        .run("(i32.const 0)"),
    );
    assert!(!module.preinitialized());
    let report = module.run(&RunLimits::default(), &epoch(), b"");
    assert!(report.outcome.is_ok());
    assert_eq!(report.logs.len(), 1, "{:?}", report.logs);
    assert_eq!(report.logs[0].level, LogLevel::Info);
    assert_eq!(report.logs[0].message, "hello from _initialize");
}

#[test]
fn a_stock_go_job_is_pre_initialised_and_gives_the_rust_bytes() {
    let epochs = [workload_epoch(3000, "ams4"), workload_epoch(3000, "lhr1")];
    for job in ["count", "latency", "error-rate"] {
        let go = compile(&format!("go/{job}.wasm"));
        assert!(go.preinitialized(), "go/{job}: {go:?}");
        let rust = compile(&format!("{job}.wasm"));
        for epoch in &epochs {
            let want = rust.run(&limits(10_000), epoch, b"").outcome.unwrap();
            let got = go.run(&limits(10_000), epoch, b"");
            println!(
                "go/{job}: {:?} (instantiate {:?})",
                got.wall, got.instantiate
            );
            assert_eq!(
                String::from_utf8_lossy(&got.outcome.unwrap()),
                String::from_utf8_lossy(&want),
                "go/{job}"
            );
        }
    }
}
