//! Merging two results with the job's `epochd_merge`.

use epochd_jobs::{EntryPoint, ErrorCode, RunError, RunLimits};

use crate::support::*;

/// Merge = input 0, then input 1, then what the epoch functions say.
fn concat() -> epochd_jobs::JobModule {
    let mut job = Job::new();
    let n = job.string("n");
    job.item(r#"(global $init (mut i32) (i32.const 0))"#)
        .item(
            r#"(func (export "epochd_init") (result i32)
                 (global.set $init (i32.const 1))
                 ;; merge_input is not available in init
                 (i32.store (i32.const 0x100000) (call $merge_input (i32.const 0) (i32.const 0) (i32.const 0)))
                 (i32.const 0))"#,
        )
        .item(&format!(
            r#"(func (export "epochd_merge") (result i32) (local $a i32) (local $b i32) (local $at i32)
                 (local.set $a (call $merge_input (i32.const 0) (i32.const 0) (i32.const 0x10000)))
                 (local.set $b (call $merge_input (i32.const 1) (local.get $a) (i32.const 0x10000)))
                 (local.set $at (i32.add (local.get $a) (local.get $b)))
                 (i64.store (local.get $at) (call $epoch))
                 (i32.store offset=8 (local.get $at) (call $rows))
                 (i32.store offset=12 (local.get $at) (call $column {n} (i32.const 0)))
                 (i32.store offset=16 (local.get $at) (call $merge_input (i32.const 2) (i32.const 0) (i32.const 0)))
                 (i32.store offset=20 (local.get $at) (global.get $init))
                 (i32.store offset=24 (local.get $at) (i32.load (i32.const 0x100000)))
                 (i32.store offset=28 (local.get $at) (call $dc (i32.add (local.get $at) (i32.const 32)) (i32.const 3)))
                 (drop (call $emit (i32.const 0) (i32.add (local.get $at) (i32.const 35))))
                 (i32.const 0))"#
        ))
        .run("(i32.const 0)")
        .compile()
}

#[test]
fn merge_reads_both_inputs_and_the_merged_epoch() {
    let job = concat();
    assert!(job.has_merge());
    let report = job.merge(
        &RunLimits::default(),
        &meta(1_700_000_042, "all", 0),
        b"left,",
        b"right",
        b"",
    );
    let result = report.outcome.unwrap();
    let mut r = Reader::new(&result);
    assert_eq!(r.take(10), b"left,right");
    assert_eq!(r.i64(), 1_700_000_042);
    assert_eq!(r.i32(), 0, "rows is 0 in a merge");
    assert_eq!(
        r.i32(),
        ErrorCode::NotFound as i32,
        "no column exists in a merge"
    );
    assert_eq!(
        r.i32(),
        ErrorCode::OutOfRange as i32,
        "there are two inputs"
    );
    assert_eq!(r.i32(), 1, "epochd_init ran first");
    assert_eq!(
        r.i32(),
        ErrorCode::NotNow as i32,
        "merge_input is NOT_NOW in init"
    );
    assert_eq!(r.i32(), 3);
    assert_eq!(r.take(3), b"all");

    // The empty result is an input like any other.
    let result = job
        .merge(&RunLimits::default(), &meta(1, "x", 0), b"", b"abc", b"")
        .outcome
        .unwrap();
    assert_eq!(&result[..3], b"abc");
}

#[test]
fn a_module_without_merge_cannot_merge() {
    let job = Job::new().run("(i32.const 0)").compile();
    assert!(!job.has_merge());
    let report = job.merge(&RunLimits::default(), &meta(1, "x", 0), b"a", b"b", b"");
    assert_eq!(report.outcome, Err(RunError::NoMerge));
}

#[test]
fn a_failing_merge_is_reported_as_such() {
    let job = Job::new()
        .item(r#"(func (export "epochd_merge") (result i32) unreachable)"#)
        .run("(i32.const 0)")
        .compile();
    let report = job.merge(&RunLimits::default(), &meta(1, "x", 0), b"a", b"b", b"");
    assert!(
        matches!(
            report.outcome,
            Err(RunError::Trap {
                entry: EntryPoint::Merge,
                ..
            })
        ),
        "{:?}",
        report.outcome
    );
}
