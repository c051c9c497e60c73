//! Threads move in and out; only the calling thread moves; quotas are what was asked.

use std::fs;

use epochd_cgroups::CgroupVersion;

use crate::support::{current_tid, open, path_for, root_or_skip, thread_cgroups, tids_in};

/// The hierarchies a thread's placement must be checked in: v1 "cpu" and "cpuacct",
/// v2 "" (the unified hierarchy).
fn controllers(version: CgroupVersion) -> &'static [&'static str] {
    match version {
        CgroupVersion::V1 => &["cpu", "cpuacct"],
        _ => &[""],
    }
}

#[test]
fn a_thread_moves_in_and_out_repeatedly() {
    if !root_or_skip("a_thread_moves_in_and_out_repeatedly") {
        return;
    }
    let caps = open("inout", 1.5);
    let a = caps.job("a", 0.3).unwrap();
    let b = caps.job("b", 0.6).unwrap();
    let name = caps.name().to_string();
    let base = thread_cgroups();
    std::thread::scope(|s| {
        s.spawn(|| {
            let tid = current_tid();
            let check = |suffix: &str| {
                let now = thread_cgroups();
                for c in controllers(caps.version()) {
                    let path = path_for(&now, c);
                    assert!(
                        path.ends_with(&format!("/{name}/{suffix}")),
                        "in {c:?}: {path}, expected .../{name}/{suffix}"
                    );
                }
            };
            for _ in 0..200 {
                a.enter_current_thread().unwrap();
                check("job-a");
                b.enter_current_thread().unwrap();
                check("job-b");
                caps.enter_idle().unwrap();
                check("idle");
            }
            a.enter_current_thread().unwrap();
            for dir in a.paths() {
                assert!(
                    tids_in(dir).contains(&tid),
                    "{tid} not listed in {}",
                    dir.display()
                );
            }
            assert_eq!(a.threads().unwrap(), vec![tid]);
            caps.enter_idle().unwrap();
            assert!(a.threads().unwrap().is_empty());
        });
    });
    // The test's own thread never moved.
    assert_eq!(thread_cgroups(), base);
}

#[test]
fn only_the_calling_thread_moves() {
    if !root_or_skip("only_the_calling_thread_moves") {
        return;
    }
    let caps = open("onlyme", 1.5);
    let job = caps.job("solo", 0.5).unwrap();
    let before = thread_cgroups();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        s.spawn(|| {
            job.enter_current_thread().unwrap();
            tx.send(current_tid()).unwrap();
        });
    });
    let mover = rx.recv().unwrap();
    assert_eq!(
        thread_cgroups(),
        before,
        "the calling test thread was moved too"
    );
    assert!(!job.threads().unwrap().contains(&current_tid()));
    // The mover has exited, so the job is empty again. The kernel drops an
    // exited thread from the cgroup a moment after `join` returns (the join
    // wakes on the thread's tid futex, earlier in its exit): poll briefly.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while job.threads().unwrap().contains(&mover) {
        assert!(
            std::time::Instant::now() < deadline,
            "an exited thread stayed in its job cgroup"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

#[test]
fn quotas_are_cores_times_period_and_a_job_can_be_updated() {
    if !root_or_skip("quotas_are_cores_times_period_and_a_job_can_be_updated") {
        return;
    }
    let caps = open("quota", 1.5);
    assert_eq!(caps.parent_cores(), 1.5);
    let job = caps.job("q", 0.2).unwrap();
    assert_eq!(job.quota_us().unwrap(), (Some(20_000), 100_000));
    let job = caps.job("q", 0.75).unwrap();
    assert_eq!(job.quota_us().unwrap(), (Some(75_000), 100_000));
    assert_eq!(job.cores(), 0.75);
    let full = caps.job("q", 1.5).unwrap();
    assert_eq!(full.quota_us().unwrap(), (Some(150_000), 100_000));
    let parent = caps.paths()[0];
    match caps.version() {
        CgroupVersion::V1 => {
            let q = fs::read_to_string(parent.join("cpu.cfs_quota_us")).unwrap();
            assert_eq!(q.trim(), "150000");
            let idle = fs::read_to_string(parent.join("idle/cpu.cfs_quota_us")).unwrap();
            assert_eq!(idle.trim(), "-1", "idle has no quota of its own");
        }
        _ => {
            let q = fs::read_to_string(parent.join("cpu.max")).unwrap();
            assert_eq!(q.trim(), "150000 100000");
        }
    }
}
