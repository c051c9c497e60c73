//! ABI v1.1: the sandboxed `wasi_snapshot_preview1` functions (sdk/ABI.md,
//! "WASI"), the reactor's `_initialize`, and what a run sees through them.

use epochd_jobs::{EntryPoint, LogLevel, RunError, RunLimits};
use serde_json::json;

use crate::support::*;

/// The WASI functions these tests call.
const WASI: &str = r#"
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock_time_get (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (import "wasi_snapshot_preview1" "path_open" (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_get" (func $fd_prestat_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "sock_accept" (func $sock_accept (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $environ_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_raise" (func $proc_raise (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "sched_yield" (func $sched_yield (result i32)))
"#;

const EPOCH: u64 = 1_700_000_000;

fn epoch_in(dc: &str) -> epochd_decode::SharedEpoch {
    epoch_of(meta(EPOCH, dc, 0), &[json!({"type": "WEB"})])
}

fn job(body: &str) -> epochd_jobs::JobModule {
    Job::new().imports(WASI).run(body).compile()
}

fn i64s(bytes: &[u8]) -> Vec<i64> {
    bytes
        .chunks_exact(8)
        .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

/// Where the tests' `fd_write` calls keep their iovec list.
const IOVEC: u32 = 0x1000;

#[test]
fn clocks_read_the_epoch_and_a_sleep_returns_at_once_moving_them() {
    // Realtime, monotonic, realtime again; sleep 5 s (a relative clock
    // subscription at 0x1000); realtime; the CPU-time clock.
    let job = job(r#"
        (drop (call $clock_time_get (i32.const 0) (i64.const 1) (i32.const 0)))
        (drop (call $clock_time_get (i32.const 1) (i64.const 1) (i32.const 8)))
        (drop (call $clock_time_get (i32.const 0) (i64.const 1) (i32.const 16)))
        (i64.store (i32.const 0x1000) (i64.const 42))          ;; userdata
        (i32.store8 (i32.const 0x1008) (i32.const 0))          ;; a clock
        (i32.store (i32.const 0x1010) (i32.const 1))           ;; monotonic
        (i64.store (i32.const 0x1018) (i64.const 5000000000))  ;; 5 s from now
        (i64.store (i32.const 40)
          (i64.extend_i32_s (call $poll_oneoff (i32.const 0x1000) (i32.const 0x2000) (i32.const 1) (i32.const 0x3000))))
        (i64.store (i32.const 48) (i64.load32_u (i32.const 0x3000)))  ;; events
        (i64.store (i32.const 56) (i64.load (i32.const 0x2000)))      ;; their userdata
        (drop (call $clock_time_get (i32.const 0) (i64.const 1) (i32.const 24)))
        (drop (call $clock_time_get (i32.const 2) (i64.const 1) (i32.const 32)))
        (i64.store (i32.const 64) (i64.extend_i32_s
          (call $clock_time_get (i32.const 9) (i64.const 1) (i32.const 72))))
        (drop (call $emit (i32.const 0) (i32.const 72)))
        (i32.const 0)"#);
    let start = (EPOCH * 1_000_000_000) as i64;
    let values = i64s(&run_ok(&job, &epoch_in("ams4"), b""));
    assert_eq!(
        values,
        [
            start,
            start,
            start,
            start + 5_000_000_000,
            5_000_000_000,
            0,  // poll_oneoff: success
            1,  // one event
            42, // the subscription's
            28, // an unknown clock: EINVAL
        ]
    );
    // The same in every run: nothing real was read.
    assert_eq!(i64s(&run_ok(&job, &epoch_in("ams4"), b"")), values);
}

/// At epoch 0 (where the submission check runs) the monotonic clock starts
/// at 1, and a sleep until an instant still ends at that instant.
#[test]
fn at_epoch_zero_the_monotonic_clock_starts_at_one_and_keeps_time() {
    // Monotonic; sleep until monotonic 5 (an absolute subscription at
    // 0x1000); monotonic again.
    let job = job(r#"
        (drop (call $clock_time_get (i32.const 1) (i64.const 1) (i32.const 0)))
        (i64.store (i32.const 0x1000) (i64.const 42))
        (i32.store8 (i32.const 0x1008) (i32.const 0))
        (i32.store (i32.const 0x1010) (i32.const 1))
        (i64.store (i32.const 0x1018) (i64.const 5))
        (i32.store16 (i32.const 0x1028) (i32.const 1))         ;; abstime
        (i64.store (i32.const 8)
          (i64.extend_i32_s (call $poll_oneoff (i32.const 0x1000) (i32.const 0x2000) (i32.const 1) (i32.const 0x3000))))
        (i64.store (i32.const 16) (i64.load32_u (i32.const 0x3000)))
        (drop (call $clock_time_get (i32.const 1) (i64.const 1) (i32.const 24)))
        (drop (call $emit (i32.const 0) (i32.const 32)))
        (i32.const 0)"#);
    let epoch_zero = epoch_of(meta(0, "ams4", 0), &[json!({"type": "WEB"})]);
    let values = i64s(&run_ok(&job, &epoch_zero, b""));
    assert_eq!(values, [1, 0, 1, 5]);
}

#[test]
fn a_poll_on_standard_input_is_ready_at_its_end_and_other_descriptors_are_bad() {
    // Three subscriptions at 0x1000: read fd 0, read fd 5, write fd 1.
    let job = job(r#"
        (i64.store (i32.const 0x1000) (i64.const 10))
        (i32.store8 (i32.const 0x1008) (i32.const 1))
        (i32.store (i32.const 0x1010) (i32.const 0))
        (i64.store (i32.const 0x1030) (i64.const 11))
        (i32.store8 (i32.const 0x1038) (i32.const 1))
        (i32.store (i32.const 0x1040) (i32.const 5))
        (i64.store (i32.const 0x1060) (i64.const 12))
        (i32.store8 (i32.const 0x1068) (i32.const 2))
        (i32.store (i32.const 0x1070) (i32.const 1))
        (i64.store (i32.const 0)
          (i64.extend_i32_s (call $poll_oneoff (i32.const 0x1000) (i32.const 0x2000) (i32.const 3) (i32.const 0x3000))))
        (i64.store (i32.const 8) (i64.load32_u (i32.const 0x3000)))
        ;; Per event: userdata, error, type, the hang-up flag.
        (i64.store (i32.const 16) (i64.load (i32.const 0x2000)))
        (i64.store (i32.const 24) (i64.load16_u (i32.const 0x2008)))
        (i64.store (i32.const 32) (i64.load8_u (i32.const 0x200a)))
        (i64.store (i32.const 40) (i64.load16_u (i32.const 0x2018)))
        (i64.store (i32.const 48) (i64.load (i32.const 0x2020)))
        (i64.store (i32.const 56) (i64.load16_u (i32.const 0x2028)))
        (i64.store (i32.const 64) (i64.load16_u (i32.const 0x2038)))
        (i64.store (i32.const 72) (i64.load (i32.const 0x2040)))
        (i64.store (i32.const 80) (i64.load16_u (i32.const 0x2048)))
        (i64.store (i32.const 88) (i64.load16_u (i32.const 0x2058)))
        (drop (call $emit (i32.const 0) (i32.const 96)))
        (i32.const 0)"#);
    assert_eq!(
        i64s(&run_ok(&job, &epoch_in("ams4"), b"")),
        [
            0, 3, // success, three events
            10, 0, 1, 1, // stdin: ready, a read, at its end
            11, 8, 0, // fd 5: EBADF
            12, 0, 0, // stdout: ready to write
        ]
    );
}

#[test]
fn random_bytes_depend_on_the_job_the_epoch_and_the_dc_only() {
    let job = job(r#"
        (drop (call $random_get (i32.const 0) (i32.const 64)))
        (drop (call $emit (i32.const 0) (i32.const 64)))
        (i32.const 0)"#);
    let seeded = |seed| RunLimits {
        random_seed: seed,
        ..RunLimits::default()
    };
    let draw = |seed, dc: &str, epoch: u64| {
        let e = epoch_of(meta(epoch, dc, 0), &[json!({"type": "WEB"})]);
        job.run(&seeded(seed), &e, b"").outcome.unwrap()
    };
    let a = draw(7, "ams4", EPOCH);
    assert_eq!(a.len(), 64);
    assert_eq!(a, draw(7, "ams4", EPOCH));
    assert_ne!(a, draw(8, "ams4", EPOCH));
    assert_ne!(a, draw(7, "lhr1", EPOCH));
    assert_ne!(a, draw(7, "ams4", EPOCH + 1));
    assert_ne!(a[..32], a[32..]);
}

#[test]
fn stdout_and_stderr_become_the_run_s_log_lines() {
    let mut job = Job::new().imports(WASI);
    let (hello, world, oops) = (
        job.string("hello\nwor"),
        job.string("ld\n"),
        job.string("oops"),
    );
    let body = format!(
        "(drop {})
         (drop {})
         (drop {})
         (i32.store (i32.const 0) {})
         (i32.store (i32.const 4) (i32.load (i32.const 0x1010)))
         (drop (call $emit (i32.const 0) (i32.const 8)))
         (i32.const 0)",
        fd_write(1, &hello, IOVEC),
        fd_write(1, &world, IOVEC),
        fd_write(2, &oops, IOVEC),
        fd_write(3, &oops, IOVEC),
    );
    let module = job.run(&body).compile();
    let report = module.run(&RunLimits::default(), &epoch_in("ams4"), b"");
    let result = report.outcome.unwrap();
    assert_eq!(&result[..4], &8i32.to_le_bytes(), "fd 3: EBADF");
    let lines: Vec<(LogLevel, &str)> = report
        .logs
        .iter()
        .map(|l| (l.level, l.message.as_str()))
        .collect();
    // The unfinished stderr line is logged when the run ends.
    assert_eq!(
        lines,
        [
            (LogLevel::Info, "hello"),
            (LogLevel::Info, "world"),
            (LogLevel::Warn, "oops"),
        ]
    );
}

/// A line longer than the log budget, written in pieces, is one log line
/// cut short: the rest of it is dropped, not logged as more lines.
#[test]
fn a_line_over_the_log_budget_written_in_pieces_is_logged_once_cut_short() {
    let mut job = Job::new().imports(WASI);
    let tail = job.string("\nlast\n");
    // Three writes of 12 KiB of 'x' (36 KiB, no newline), then "\nlast\n".
    let xs = "(i32.const 0x10000) (i32.const 12288)";
    let body = format!(
        "(memory.fill (i32.const 0x10000) (i32.const 120) (i32.const 12288))
         (drop {})
         (drop {})
         (drop {})
         (drop {})
         (i32.const 0)",
        fd_write(1, xs, IOVEC),
        fd_write(1, xs, IOVEC),
        fd_write(1, xs, IOVEC),
        fd_write(1, &tail, IOVEC),
    );
    let report = job
        .run(&body)
        .compile()
        .run(&RunLimits::default(), &epoch_in("ams4"), b"");
    report.outcome.unwrap();
    let lines: Vec<(LogLevel, usize)> = report
        .logs
        .iter()
        .map(|l| (l.level, l.message.len()))
        .collect();
    // One line, cut to the whole budget (16 KiB); "last" finds no room.
    assert_eq!(lines, [(LogLevel::Info, 16 * 1024)]);
    assert!(report.logs[0].message.bytes().all(|b| b == b'x'));
    assert_eq!(report.logs_dropped, 1, "only `last` is dropped");
}

#[test]
fn files_sockets_and_signals_get_error_codes_and_the_process_is_empty() {
    let mut job = Job::new().imports(WASI);
    let path = job.string("/etc/passwd");
    let body = format!(
        "(i32.store (i32.const 0) (call $path_open (i32.const 3) (i32.const 0) {path}
            (i32.const 0) (i64.const -1) (i64.const -1) (i32.const 0) (i32.const 0x100)))
         (i32.store (i32.const 4) (call $fd_prestat_get (i32.const 3) (i32.const 0x100)))
         (i32.store (i32.const 8) (call $sock_accept (i32.const 3) (i32.const 0) (i32.const 0x100)))
         (i32.store (i32.const 12) (call $proc_raise (i32.const 9)))
         (i32.store (i32.const 0x200) (i32.const -1))
         (i32.store (i32.const 0x204) (i32.const -1))
         (i32.store (i32.const 16) (call $args_sizes_get (i32.const 0x200) (i32.const 0x204)))
         (i32.store (i32.const 20) (i32.add (i32.load (i32.const 0x200)) (i32.load (i32.const 0x204))))
         (drop (call $environ_sizes_get (i32.const 0x200) (i32.const 0x204)))
         (i32.store (i32.const 24) (i32.add (i32.load (i32.const 0x200)) (i32.load (i32.const 0x204))))
         (i32.store (i32.const 0x208) (i32.const -1))
         (i32.store (i32.const 28) (call $fd_read (i32.const 0) (i32.const 0x300) (i32.const 0) (i32.const 0x208)))
         (i32.store (i32.const 32) (i32.load (i32.const 0x208)))
         (i32.store (i32.const 36) (call $fd_read (i32.const 5) (i32.const 0x300) (i32.const 0) (i32.const 0x208)))
         (i32.store (i32.const 40) (call $sched_yield))
         (drop (call $emit (i32.const 0) (i32.const 44)))
         (i32.const 0)"
    );
    let result = run_ok(&job.run(&body).compile(), &epoch_in("ams4"), b"");
    let codes: Vec<i32> = result
        .chunks_exact(4)
        .map(|b| i32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    // EBADF for every descriptor but 0-2, ENOSYS for signals; no
    // arguments, no environment, standard input at its end.
    assert_eq!(codes, [8, 8, 8, 52, 0, 0, 0, 0, 0, 8, 0]);
}

#[test]
fn proc_exit_ends_the_run_with_its_code() {
    let mut job = Job::new().imports(WASI);
    let (before, after) = (job.string("before"), job.string("after"));
    let module = job
        .run(&format!(
            "(drop (call $emit {before}))
             (drop (call $config_read (i32.const 0) (i32.const 4)))
             (call $proc_exit (i32.sub (i32.load8_u (i32.const 0)) (i32.const 48)))
             (drop (call $emit {after}))
             (i32.const 0)"
        ))
        .compile();
    let report = module.run(&RunLimits::default(), &epoch_in("ams4"), b"0");
    assert_eq!(report.outcome.unwrap(), b"before");
    let report = module.run(&RunLimits::default(), &epoch_in("ams4"), b"3");
    let err = report.outcome.unwrap_err();
    assert_eq!(
        err,
        RunError::Failed {
            entry: EntryPoint::Run,
            code: 3,
            message: "the job called proc_exit(3) before its run was done".into()
        }
    );
    assert_contains(
        &err.to_string(),
        "epochd_run returned 3: the job called proc_exit(3)",
    );
}

#[test]
fn a_reactor_is_initialized_first_in_every_run() {
    // `_initialize` counts itself; `epochd_init` refuses to run unless it
    // ran exactly once before it; `epochd_run` emits the count.
    let module = Job::new()
        .item(
            r#"(global $initialized (mut i32) (i32.const 0))
               (func (export "_initialize")
                 (global.set $initialized (i32.add (global.get $initialized) (i32.const 1))))
               (func (export "epochd_init") (result i32)
                 (i32.ne (global.get $initialized) (i32.const 1)))"#,
        )
        .run(
            "(i32.store (i32.const 0) (global.get $initialized))
             (drop (call $emit (i32.const 0) (i32.const 4)))
             (i32.const 0)",
        )
        .compile();
    assert!(module.has_initialize());
    for _ in 0..3 {
        assert_eq!(run_ok(&module, &epoch_in("ams4"), b""), 1i32.to_le_bytes());
    }
    // A trap in `_initialize` is that run's failure, named as such.
    let module = Job::new()
        .item(r#"(global $runs (mut i32) (i32.const 0))
                 (func (export "_initialize") (if (i32.gt_u (call $rows) (i32.const 0)) (then unreachable)))"#)
        .run("(i32.const 0)")
        .compile();
    let (err, _) = run_err(&module, &RunLimits::default(), &epoch_in("ams4"));
    assert!(
        matches!(
            err,
            RunError::Trap {
                entry: EntryPoint::Initialize,
                ..
            }
        ),
        "{err:?}"
    );
}

/// An `emit` in `_initialize` is accepted at submission (which keeps no
/// result and knows no maximum size), and in a run is that run's result
/// until `epochd_run` emits another.
#[test]
fn an_emit_in_initialize_is_accepted_at_submission_and_kept_in_a_run() {
    // `_initialize` emits one byte and traps unless that was accepted.
    let module = Job::new()
        .item(
            r#"(func (export "_initialize")
                 (i32.store8 (i32.const 0x2000) (i32.const 105))
                 (if (call $emit (i32.const 0x2000) (i32.const 1)) (then unreachable)))"#,
        )
        .run("(i32.const 0)")
        .compile();
    assert_eq!(run_ok(&module, &epoch_in("ams4"), b""), b"i");
}
