//! Hostile and broken jobs: each failure becomes that run's error, and
//! nothing else is affected.

use std::time::{Duration, Instant};

use epochd_jobs::{EntryPoint, RunError, RunLimits};
use serde_json::json;

use crate::support::*;

fn small_epoch() -> epochd_decode::SharedEpoch {
    let events: Vec<_> = (0..10).map(|i| json!({"type": "WEB", "n": i})).collect();
    epoch_of(meta(1_700_000_000, "ams4", 0), &events)
}

/// A job that behaves by its config: "trap", "loop", "oom", "fail",
/// anything else emits "ok".
fn moody() -> epochd_jobs::JobModule {
    let mut job = Job::new();
    let reason = job.string("asked to fail");
    let ok = job.string("ok");
    job.item(r#"(global $runs (mut i32) (i32.const 0))"#)
        .run(&format!(
            "(global.set $runs (i32.add (global.get $runs) (i32.const 1)))
             ;; every run is a fresh instance: the global is always 1
             (if (i32.ne (global.get $runs) (i32.const 1)) (then (return (i32.const 99))))
             (drop (call $config_read (i32.const 0) (i32.const 8)))
             (block $other
               (block $fail
                 (block $oom
                   (block $loop
                     (block $trap
                       (br_if $trap (i32.eq (i32.load (i32.const 0)) (i32.const 0x70617274)))
                       (br_if $loop (i32.eq (i32.load (i32.const 0)) (i32.const 0x706f6f6c)))
                       (br_if $oom (i32.eq (i32.load (i32.const 0)) (i32.const 0x006d6f6f)))
                       (br_if $fail (i32.eq (i32.load (i32.const 0)) (i32.const 0x6c696166)))
                       (br $other))
                     unreachable)
                   (loop $spin (br $spin)))
                 (loop $grow (br_if $grow (i32.ne (memory.grow (i32.const 16)) (i32.const -1)))))
               (call $fail {reason})
               (return (i32.const 3)))
             (drop (call $emit {ok}))
             (i32.const 0)"
        ))
        .compile()
}

fn limits(deadline_ms: u64) -> RunLimits {
    RunLimits {
        deadline: Duration::from_millis(deadline_ms),
        memory_bytes: 16 << 20,
        max_result_bytes: 1 << 20,
        random_seed: 0,
    }
}

#[test]
fn an_infinite_loop_is_stopped_at_its_deadline() {
    let job = moody();
    let deadline = Duration::from_millis(200);
    let tick = runtime().config().tick();
    let started = Instant::now();
    let report = job.run(&limits(200), &small_epoch(), b"loop");
    let took = started.elapsed();
    println!("deadline {deadline:?}, tick {tick:?}: stopped after {took:?}");
    assert_eq!(
        report.outcome,
        Err(RunError::DeadlineExceeded {
            entry: EntryPoint::Run,
            deadline
        })
    );
    assert!(took >= deadline, "stopped early: {took:?}");
    // deadline + tick, plus slack for a loaded 2-core machine.
    assert!(
        took < deadline + tick + Duration::from_millis(300),
        "{took:?}"
    );
    assert_contains(
        &report.outcome.unwrap_err().to_string(),
        "passed the deadline of 200ms",
    );
}

#[test]
fn a_cancelled_run_stops_long_before_its_deadline_and_a_cancellable_run_keeps_its_deadline() {
    let job = moody();
    let cancel = epochd_jobs::CancelToken::new();
    let flip = cancel.clone();
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        flip.cancel();
    });
    let started = Instant::now();
    let report = job.run_cancellable(&limits(60_000), &small_epoch(), b"loop", &cancel);
    let took = started.elapsed();
    canceller.join().unwrap();
    assert_eq!(
        report.outcome,
        Err(RunError::Cancelled {
            entry: EntryPoint::Run
        })
    );
    assert!(took < Duration::from_secs(30), "{took:?}");
    assert!(!report.outcome.unwrap_err().is_job_fault());
    // Not cancelled: the deadline still applies, in the same ticks.
    let report = job.run_cancellable(
        &limits(100),
        &small_epoch(),
        b"loop",
        &epochd_jobs::CancelToken::new(),
    );
    assert!(
        matches!(report.outcome, Err(RunError::DeadlineExceeded { .. })),
        "{:?}",
        report.outcome
    );
    assert!(
        report.wall >= Duration::from_millis(100),
        "{:?}",
        report.wall
    );
    // And a run that ends by itself is untouched by the token.
    let report = job.run_cancellable(
        &limits(1000),
        &small_epoch(),
        b"fine",
        &epochd_jobs::CancelToken::new(),
    );
    assert_eq!(report.outcome, Ok(b"ok".to_vec()));
}

#[test]
fn a_loop_in_init_is_stopped_too() {
    let job = Job::new()
        .item(r#"(func (export "epochd_init") (result i32) (loop (br 0)) (i32.const 0))"#)
        .run("(i32.const 0)")
        .compile();
    let (err, _) = run_err(&job, &limits(50), &small_epoch());
    assert!(
        matches!(
            err,
            RunError::DeadlineExceeded {
                entry: EntryPoint::Init,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn a_memory_bomb_is_out_of_memory() {
    let report = moody().run(&limits(5000), &small_epoch(), b"oom");
    match &report.outcome {
        Err(RunError::OutOfMemory {
            entry,
            requested,
            limit,
        }) => {
            assert_eq!(*entry, EntryPoint::Run);
            assert_eq!(*limit, 16 << 20);
            assert!(*requested > 16 << 20);
        }
        other => panic!("{other:?}"),
    }
    // One huge step is refused the same way.
    let job = Job::new()
        .run("(drop (memory.grow (i32.const 60000))) (i32.const 0)")
        .compile();
    let (err, _) = run_err(&job, &limits(5000), &small_epoch());
    assert!(matches!(err, RunError::OutOfMemory { .. }), "{err:?}");
    assert_contains(&err.to_string(), "more than the cap of 16777216");
}

#[test]
fn an_initial_memory_above_the_cap_fails_at_instantiation() {
    // Job's memory is 64 pages = 4 MiB.
    let job = Job::new().run("(i32.const 0)").compile();
    let small = RunLimits {
        memory_bytes: 1 << 20,
        ..limits(1000)
    };
    let (err, _) = run_err(&job, &small, &small_epoch());
    assert_eq!(
        err,
        RunError::OutOfMemory {
            entry: EntryPoint::Instantiate,
            requested: 4 << 20,
            limit: 1 << 20
        }
    );
}

#[test]
fn unreachable_is_a_trap() {
    let report = moody().run(&limits(1000), &small_epoch(), b"trap");
    match &report.outcome {
        Err(RunError::Trap {
            entry,
            message,
            fail,
        }) => {
            assert_eq!(*entry, EntryPoint::Run);
            assert_contains(message, "unreachable");
            assert_eq!(*fail, None);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_panic_message_passed_to_fail_comes_with_the_trap() {
    let mut job = Job::new();
    let panic = job.string("panicked at src/lib.rs:3:5: index out of bounds");
    let job = job
        .run(&format!("(call $fail {panic}) unreachable"))
        .compile();
    let (err, _) = run_err(&job, &limits(1000), &small_epoch());
    assert_contains(&err.to_string(), "the job said: panicked at src/lib.rs:3:5");
}

#[test]
fn stack_overflow_is_a_trap() {
    let job = Job::new()
        .item(r#"(func $down (param i32) (result i32) (call $down (i32.add (local.get 0) (i32.const 1))))"#)
        .run("(call $down (i32.const 0))")
        .compile();
    let (err, _) = run_err(&job, &limits(5000), &small_epoch());
    assert!(matches!(err, RunError::Trap { .. }), "{err:?}");
    assert_contains(&err.to_string(), "call stack exhausted");
}

#[test]
fn a_result_over_the_cap_fails_the_run() {
    // 10 MiB of memory (160 pages), emit all of it under a 1 MiB cap.
    let mut job = Job::new();
    let saw = job.string("emit said TOO_LARGE");
    let job = job
        .run(&format!(
            "(drop (memory.grow (i32.const 96)))
             (if (i32.eq (call $emit (i32.const 0) (i32.const 10485760)) (i32.const -5))
               (then (call $log (i32.const 1) {saw})))
             (i32.const 0)"
        ))
        .compile();
    let big = RunLimits {
        memory_bytes: 64 << 20,
        ..limits(5000)
    };
    let (err, report) = run_err(&job, &big, &small_epoch());
    assert_eq!(
        err,
        RunError::ResultTooLarge {
            size: 10 << 20,
            limit: 1 << 20
        }
    );
    assert_eq!(report.logs[0].message, "emit said TOO_LARGE");
}

#[test]
fn a_non_zero_return_with_a_message_is_failed() {
    let report = moody().run(&limits(1000), &small_epoch(), b"fail");
    assert_eq!(
        report.outcome,
        Err(RunError::Failed {
            entry: EntryPoint::Run,
            code: 3,
            message: "asked to fail".into()
        })
    );
    let job = Job::new().run("(i32.const 7)").compile();
    let (err, _) = run_err(&job, &limits(1000), &small_epoch());
    assert_contains(&err.to_string(), "epochd_run returned 7");
    assert_contains(&err.to_string(), "gave no reason");
    let job = Job::new()
        .item(r#"(func (export "epochd_init") (result i32) (i32.const 2))"#)
        .run("(i32.const 0)")
        .compile();
    let (err, _) = run_err(&job, &limits(1000), &small_epoch());
    assert!(
        matches!(
            err,
            RunError::Failed {
                entry: EntryPoint::Init,
                code: 2,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn a_failing_run_does_not_affect_the_next_one() {
    let job = moody();
    let epoch = small_epoch();
    for config in [&b"trap"[..], b"loop", b"oom", b"fail"] {
        let report = job.run(&limits(100), &epoch, config);
        assert!(!report.is_ok(), "{config:?}");
        // The same module, right after: a fresh instance that works.
        assert_eq!(
            job.run(&limits(1000), &epoch, b"").outcome,
            Ok(b"ok".to_vec())
        );
    }
}

#[test]
fn hostile_runs_beside_good_ones_on_many_threads() {
    let job = moody();
    let epoch = small_epoch();
    std::thread::scope(|s| {
        for t in 0..4 {
            let (job, epoch) = (job.clone(), epoch.clone());
            s.spawn(move || {
                for i in 0..25 {
                    let config: &[u8] = match (t + i) % 5 {
                        0 => b"trap",
                        1 => b"oom",
                        2 => b"fail",
                        3 => b"loop",
                        _ => b"",
                    };
                    let report = job.run(&limits(50), &epoch, config);
                    assert_eq!(
                        report.is_ok(),
                        config.is_empty(),
                        "{config:?}: {:?}",
                        report.outcome
                    );
                }
            });
        }
    });
}

#[test]
fn more_concurrent_runs_than_pool_slots_are_busy_not_broken() {
    let runtime = epochd_jobs::Runtime::new(epochd_jobs::RuntimeConfig {
        max_concurrent_runs: 2,
        ..epochd_jobs::RuntimeConfig::default()
    })
    .unwrap();
    if !runtime.pooling() {
        eprintln!("no pooling allocator on this machine: nothing to test");
        return;
    }
    let spin = runtime
        .compile(
            br#"(module (memory (export "memory") 1)
                 (func (export "epochd_abi_version") (result i32) (i32.const 1))
                 (func (export "epochd_run") (result i32) (loop (br 0)) (i32.const 0)))"#,
        )
        .unwrap();
    let epoch = small_epoch();
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| spin.run(&limits(600), &epoch, b""));
        }
        std::thread::sleep(Duration::from_millis(200));
        let report = spin.run(&limits(600), &epoch, b"");
        assert_eq!(report.outcome, Err(RunError::Busy { limit: 2 }));
        assert!(!report.outcome.unwrap_err().is_job_fault());
    });
    // Slots come back when runs end.
    let report = spin.run(&limits(10), &epoch, b"");
    assert!(matches!(
        report.outcome,
        Err(RunError::DeadlineExceeded { .. })
    ));
}
